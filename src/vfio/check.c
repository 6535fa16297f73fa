/* SPDX-License-Identifier: MIT */
/*
 * The host's invariants (vfio/check.h): a walk over every container's windows, every process's
 * regions and the host's counters, comparing what each object says with what the others imply.
 * For fuzz harnesses and tests; nothing here is on a path a client call takes.
 *
 * Locking: vfio/check.h. The gate is closed for the whole walk, then host->lock, each container's
 * lock shared, each process's lock shared.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tcemu/memory.h>
#include <tcemu/platform.h>
#include <tcemu/table.h>

#include "core/table_priv.h"
#include "guest/gate.h"
#include "vfio/check.h"
#include "vfio/container.h"
#include "vfio/group.h"
#include "vfio/host_priv.h"
#include "vfio/prereg.h"


struct checker {
	struct tcemu_host *h;
	unsigned flags;
	struct check_report rep;
	struct container **cs; /* every container, once */
	size_t ncs, cscap;
	struct mm **mms;       /* every process */
	size_t nmms, mmcap;
	/* the process being checked: its regions' entry counts and container references */
	struct mm *mm;
	uint64_t *mapped, *users; /* nmapped each */
	size_t nmapped;
	/* totals */
	uint64_t entries, v1_entries, regions, locked;
};

int check_broken(struct check_report *r, const char *fmt, ...)
{
	va_list ap;

	if (!r->broken && r->len) {
		va_start(ap, fmt);
		vsnprintf(r->why, r->len, fmt, ap);
		va_end(ap);
	}
	r->broken = true;
	return -1;
}

#define broken(k, ...) check_broken(&(k)->rep, __VA_ARGS__)

/* Appends p to the array *arr (n used, cap allocated); false: no memory. */
static bool push(void ***arr, size_t *n, size_t *cap, void *p)
{
	if (*n == *cap) {
		size_t ncap = *cap ? 2 * *cap : 8;
		void **more = realloc(*arr, ncap * sizeof(*more));

		if (!more)
			return false;
		*arr = more;
		*cap = ncap;
	}
	(*arr)[(*n)++] = p;
	return true;
}

static void add_container(struct checker *k, struct container *c)
{
	for (size_t i = 0; i < k->ncs; i++)
		if (k->cs[i] == c)
			return;
	if (!push((void ***)&k->cs, &k->ncs, &k->cscap, c))
		broken(k, "no memory for the check");
}

/* Every container: those behind a descriptor and those only attached groups keep. host->lock held. */
static void find_containers(struct checker *k)
{
	struct tcemu_host *h = k->h;

	for (size_t fd = 0; fd < h->fdcap; fd++) {
		struct file *f = h->fdtab[fd];

		if (f && f->kind == FILE_CONTAINER)
			add_container(k, f->container);
	}
	for (size_t i = 0; i < h->ngroups; i++) {
		struct group *g = &h->groups[i];

		if (g->container)
			add_container(k, g->container);
		/* a device descriptor keeps its group attached after the group's own file is closed */
		if (!g->open && !g->device_fds && g->container)
			broken(k, "group %u: no descriptor left, still attached to container %d", g->number,
			       g->container->first_fd);
	}
}

struct entry_walk {
	struct checker *k;
	struct container *c;
	int slot;
	uint32_t page_shift;
};

/* One valid entry of a container's window. mm->lock held shared when c is v2. */
static int check_entry(void *opaque, uint64_t index, uint64_t tce, uint64_t ua)
{
	struct entry_walk *w = opaque;
	struct checker *k = w->k;
	uint64_t page = 1ull << w->page_shift, hpa = tce & ~(page - 1) & ~(uint64_t)TCEMU_TCE_PERM_MASK;
	uint64_t back, avail;

	k->entries++;
	if (tce & (page - 1) & ~(uint64_t)TCEMU_TCE_PERM_MASK)
		return broken(k, "container %d window %d entry %llu: tce 0x%llx not page aligned", w->c->first_fd, w->slot,
			      (unsigned long long)index, (unsigned long long)tce);
	if (w->c->v2) {
		struct region *r = w->c->mm ? mm_find(w->c->mm, ua, page) : NULL;

		if (!r)
			return broken(k, "container %d window %d entry %llu (tce 0x%llx): ua 0x%llx is in no region of its process",
				      w->c->first_fd, w->slot, (unsigned long long)index, (unsigned long long)tce,
				      (unsigned long long)ua);
		const uint64_t rhpa = region_hot(w->c->mm, r)->hpa;

		if (rhpa + (ua - r->ua) != hpa)
			return broken(k, "container %d window %d entry %llu: hpa 0x%llx, its region pinned ua 0x%llx at 0x%llx",
				      w->c->first_fd, w->slot, (unsigned long long)index, (unsigned long long)hpa,
				      (unsigned long long)ua, (unsigned long long)(rhpa + (ua - r->ua)));
		if (w->c->mm == k->mm && (size_t)(r - k->mm->regions) < k->nmapped)
			k->mapped[r - k->mm->regions]++;
		return 0;
	}
	k->v1_entries++;
	/* v1 tables keep no user address: the frame must be a live pin */
	if (tcemu_memory_hpa_to_ua(k->h->mem, hpa, &back, &avail) || (ua && back != ua) || avail < page)
		return broken(k, "container %d (v1) window %d entry %llu: hpa 0x%llx is not pinned", w->c->first_fd,
			      w->slot, (unsigned long long)index, (unsigned long long)hpa);
	return 0;
}

/*
 * A container's windows, groups and region references, counted into k->mapped and k->users when
 * its process is k->mm, and what it charged added to *charged. Takes its lock shared, then its
 * process's.
 */
static void check_container(struct checker *k, struct container *c, uint64_t *charged)
{
	tcemu_rwlock_rdlock(&c->lock);
	if (c->mm)
		tcemu_rwlock_rdlock(&c->mm->lock);
	if (c->type != 0 && c->type != VFIO_SPAPR_TCE_IOMMU && c->type != VFIO_SPAPR_TCE_v2_IOMMU)
		broken(k, "container %d: type %d", c->first_fd, c->type);
	if (c->v2 != (c->type == VFIO_SPAPR_TCE_v2_IOMMU))
		broken(k, "container %d: v2 %d with type %d", c->first_fd, c->v2, c->type);
	for (size_t i = 0; i < c->ngroups; i++)
		if (c->groups[i]->container != c)
			broken(k, "container %d: its group %u points elsewhere", c->first_fd, c->groups[i]->number);
	if (!c->v2 && c->nrefs)
		broken(k, "container %d: v1 with %zu region references", c->first_fd, c->nrefs);
	for (int s = 0; s < TCEMU_PE_WINDOWS; s++) {
		struct entry_walk w = { .k = k, .c = c, .slot = s };
		int rc;

		if (!c->windows[s].table) {
			if (c->windows[s].accounted)
				broken(k, "container %d: empty slot %d charged %llu", c->first_fd, s,
				       (unsigned long long)c->windows[s].accounted);
			continue;
		}
		w.page_shift = tcemu_table_params(c->windows[s].table)->page_shift;
		rc = table_walk_valid(c->windows[s].table, check_entry, &w);
		if (rc == -EUCLEAN)
			broken(k, "container %d window %d: a chunk's valid count is wrong", c->first_fd, s);
		if (c->v2)
			*charged += c->windows[s].accounted;
	}
	*charged += c->v1_locked;
	if (c->rfront + c->nrefs > c->rcap)
		broken(k, "container %d: %zu region references from slot %zu of %zu", c->first_fd, c->nrefs, c->rfront,
		       c->rcap);
	for (size_t i = 0; i < c->nrefs; i++) {
		struct region *r = c->mm ? mm_find(c->mm, c->refs[i].ua, c->refs[i].size) : NULL;

		if (i && c->refs[i - 1].ua >= c->refs[i].ua)
			broken(k, "container %d: region references out of order", c->first_fd);
		if (!r || r->ua != c->refs[i].ua || r->size != c->refs[i].size) {
			broken(k, "container %d: references region 0x%llx+0x%llx, which its process does not have",
			       c->first_fd, (unsigned long long)c->refs[i].ua, (unsigned long long)c->refs[i].size);
			continue;
		}
		if (c->mm == k->mm && (size_t)(r - c->mm->regions) < k->nmapped)
			k->users[r - c->mm->regions]++;
	}
	if (c->mm)
		tcemu_rwlock_unlock(&c->mm->lock);
	tcemu_rwlock_unlock(&c->lock);
}

/* A process's regions, its containers and its accounting. */
static void check_mm(struct checker *k, struct mm *mm)
{
	uint64_t charged = 0, bytes = 0;

	size_t n;

	/* the containers first (their locks come before the process's): count into the arrays */
	tcemu_rwlock_rdlock(&mm->lock);
	n = mm->nregions;
	tcemu_rwlock_unlock(&mm->lock);
	k->mm = mm;
	k->nmapped = n;
	k->mapped = calloc(n + 1, sizeof(uint64_t));
	k->users = calloc(n + 1, sizeof(uint64_t));
	if (!k->mapped || !k->users) {
		broken(k, "no memory for the check");
		goto out;
	}
	for (size_t i = 0; i < k->ncs; i++)
		if (k->cs[i]->mm == mm)
			check_container(k, k->cs[i], &charged);
	tcemu_rwlock_rdlock(&mm->lock);
	if (mm->nregions != n)
		broken(k, "process %d: its regions changed during the check", (int)mm->pid);
	uint32_t by_shift[64] = { 0 };
	for (size_t i = 0; i < mm->nregions; i++) {
		const struct region *r = &mm->regions[i];
		uint64_t ua, avail;

		/* the gap counts are relative: each region's, less the one before it, is 1 after a gap */
		const uint32_t gap = i && mm->regions[i - 1].ua + mm->regions[i - 1].size != r->ua;
		if (i && r->gaps - mm->regions[i - 1].gaps != gap)
			broken(k, "process %d region %zu: %u gaps counted before it, %u before region %zu, with %u gap between",
			       (int)mm->pid, i, r->gaps, mm->regions[i - 1].gaps, i - 1, gap);
		by_shift[r->page_shift & 63]++;

		if (!r->size || (r->ua | r->size) & ((1ull << k->h->page_shift) - 1))
			broken(k, "process %d region %zu: 0x%llx+0x%llx", (int)mm->pid, i, (unsigned long long)r->ua,
			       (unsigned long long)r->size);
		if (i && mm->regions[i - 1].ua + mm->regions[i - 1].size > r->ua)
			broken(k, "process %d: regions %zu and %zu overlap or are out of order", (int)mm->pid, i - 1, i);
		if (mm->ends[i] != r->ua + r->size)
			broken(k, "process %d: index key %zu is 0x%llx for a region ending at 0x%llx", (int)mm->pid, i,
			       (unsigned long long)mm->ends[i], (unsigned long long)(r->ua + r->size));
		if (tcemu_memory_hpa_to_ua(k->h->mem, mm->hot[i].hpa, &ua, &avail) || ua != r->ua || avail < r->size)
			broken(k, "process %d region 0x%llx+0x%llx: not pinned at 0x%llx", (int)mm->pid,
			       (unsigned long long)r->ua, (unsigned long long)r->size, (unsigned long long)mm->hot[i].hpa);
		bytes += r->size;
	}
	if (memcmp(by_shift, mm->by_shift, sizeof(by_shift)))
		broken(k, "process %d: its regions counted by page size differ from its regions", (int)mm->pid);
	/* the keys' slots: the padding on both sides of the regions, the last key of every block */
	const size_t used = mm->front + mm->nregions;
	const uint64_t *es = mm_end_slots(mm);
	if (used > mm->cap)
		broken(k, "process %d: %zu regions from slot %zu of %zu", (int)mm->pid, mm->nregions, mm->front, mm->cap);
	for (size_t i = 0; i < mm->cap && used <= mm->cap; i++)
		if ((i < mm->front && es[i] != 0) || (i >= used && es[i] != UINT64_MAX))
			broken(k, "process %d: index slot %zu outside the regions (slots %zu to %zu) is 0x%llx", (int)mm->pid, i,
			       mm->front, used, (unsigned long long)es[i]);
	for (size_t b = 0; b * MM_KEYS_PER_BLOCK < used && used <= mm->cap; b++) {
		const size_t end = (b + 1) * MM_KEYS_PER_BLOCK < used ? (b + 1) * MM_KEYS_PER_BLOCK : used;
		const uint64_t last = es[end - 1];
		if (mm->tops[b] != last)
			broken(k, "process %d: index block %zu's top is 0x%llx, its last key 0x%llx", (int)mm->pid, b,
			       (unsigned long long)mm->tops[b], (unsigned long long)last);
	}
	for (size_t i = 0; i < mm->nregions && i < n; i++) {
		const struct region *r = &mm->regions[i];
		uint64_t mapped = __atomic_load_n(&mm->hot[i].mapped, __ATOMIC_RELAXED);

		if (mapped != k->mapped[i])
			broken(k, "process %d region 0x%llx: mapped count %llu, %llu entries point into it", (int)mm->pid,
			       (unsigned long long)r->ua, (unsigned long long)mapped, (unsigned long long)k->mapped[i]);
		if (r->users != k->users[i])
			broken(k, "process %d region 0x%llx: %u users, %llu containers reference it", (int)mm->pid,
			       (unsigned long long)r->ua, r->users, (unsigned long long)k->users[i]);
	}
	charged += bytes;
	if ((k->flags & TCEMU_CHECK_NO_GUEST) ? mm->locked != charged : mm->locked < charged)
		broken(k, "process %d: %llu bytes locked, its regions and containers charged %llu", (int)mm->pid,
		       (unsigned long long)mm->locked, (unsigned long long)charged);
	if ((k->flags & TCEMU_CHECK_TEARDOWN) && (mm->nregions || ((k->flags & TCEMU_CHECK_NO_GUEST) && mm->locked)))
		broken(k, "process %d after teardown: %zu regions, %llu bytes locked", (int)mm->pid, mm->nregions,
		       (unsigned long long)mm->locked);
	k->regions += mm->nregions;
	k->locked += mm->locked;
	tcemu_rwlock_unlock(&mm->lock);
out:
	free(k->mapped);
	free(k->users);
	k->mapped = k->users = NULL;
	k->mm = NULL;
}

static void check_counters(struct checker *k)
{
	struct tcemu_host *h = k->h;
	struct tcemu_memory_stats ms;
	uint64_t entries = __atomic_load_n(&h->stats.entries_mapped, __ATOMIC_RELAXED);
	uint64_t regions = __atomic_load_n(&h->stats.regions_registered, __ATOMIC_RELAXED);
	uint64_t locked = __atomic_load_n(&h->stats.locked_bytes, __ATOMIC_RELAXED);

	if (entries != k->entries)
		broken(k, "entries mapped: the host counts %llu, the tables hold %llu", (unsigned long long)entries,
		       (unsigned long long)k->entries);
	if (regions != k->regions)
		broken(k, "regions registered: the host counts %llu, the processes hold %llu", (unsigned long long)regions,
		       (unsigned long long)k->regions);
	if (locked != k->locked)
		broken(k, "locked bytes: the host counts %llu, the processes %llu", (unsigned long long)locked,
		       (unsigned long long)k->locked);
	tcemu_memory_stats(h->mem, &ms);
	if (ms.references != k->regions + k->v1_entries)
		broken(k, "memory: %llu pin references for %llu regions and %llu v1 entries",
		       (unsigned long long)ms.references, (unsigned long long)k->regions,
		       (unsigned long long)k->v1_entries);
	if (!(k->flags & TCEMU_CHECK_TEARDOWN))
		return;
	if (k->ncs)
		broken(k, "after teardown: %zu containers left", k->ncs);
	if (entries || regions || ms.pins || ((k->flags & TCEMU_CHECK_NO_GUEST) && locked))
		broken(k, "after teardown: %llu entries, %llu regions, %llu pins, %llu bytes locked",
		       (unsigned long long)entries, (unsigned long long)regions, (unsigned long long)ms.pins,
		       (unsigned long long)locked);
	for (size_t i = 0; i < h->ngroups; i++)
		if (h->groups[i].open || h->groups[i].device_fds || tcemu_pe_is_owned(h->groups[i].pe))
			broken(k, "after teardown: group %u %s", h->groups[i].number,
			       h->groups[i].open || h->groups[i].device_fds ? "still open" : "still owns its PE");
}

int tcemu_host_check_invariants(struct tcemu_host *h, unsigned flags, char *why, size_t len)
{
	struct checker *k = calloc(1, sizeof(*k));
	int rc;

	if (!k) {
		if (len)
			snprintf(why, len, "no memory for the check");
		return -1;
	}
	*k = (struct checker){ .h = h, .flags = flags, .rep = { .why = why, .len = len } };
	if (len)
		why[0] = '\0';
	host_gate_close(h); /* what the guest fast path keeps back goes into the counts */
	tcemu_mutex_lock(&h->lock);
	find_containers(k);
	/* the process list is a leaf lock: copy it, then check each process without it */
	tcemu_mutex_lock(&h->mms_lock);
	for (struct mm *mm = h->mms; mm; mm = mm->next)
		if (!push((void ***)&k->mms, &k->nmms, &k->mmcap, mm))
			broken(k, "no memory for the check");
	tcemu_mutex_unlock(&h->mms_lock);
	for (size_t i = 0; i < k->nmms; i++)
		check_mm(k, k->mms[i]);
	/* the containers of no process (v1 before ENABLE, v2 before the first registration) */
	for (size_t i = 0; i < k->ncs; i++) {
		uint64_t charged = 0;

		if (!k->cs[i]->mm)
			check_container(k, k->cs[i], &charged);
		if (!k->cs[i]->mm && charged)
			broken(k, "container %d: no owner, %llu bytes charged", k->cs[i]->first_fd,
			       (unsigned long long)charged);
	}
	check_counters(k);
	tcemu_mutex_unlock(&h->lock);
	host_gate_open(h);
	rc = k->rep.broken ? -1 : 0;
	free(k->cs);
	free(k->mms);
	free(k);
	return rc;
}
