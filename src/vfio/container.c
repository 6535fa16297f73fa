/* SPDX-License-Identifier: MIT */
/*
 * VFIO containers and the sPAPR TCE backend (v1: VFIO_SPAPR_TCE_IOMMU, v2: VFIO_SPAPR_TCE_v2_IOMMU).
 *
 * Every check runs in the order of the spec (../shared/spec/vfio-spapr-abi.md); the generic
 * argsz/flags checks are done by the ioctl table in vfio.c, the rules the spec orders before them
 * by the prechecks here. Where the kernel has a defect, this file does the intended thing; each
 * such place says "difference:" and docs/differences-from-linux.md lists them.
 *
 * Locking (see host_priv.h for the order): container->lock is a rwlock. MAP and UNMAP hold it
 * shared, so maps run in parallel; the tables' chunk locks order the entries. Building the pending
 * default window, creating and removing windows, attach, detach, register and unregister hold it
 * exclusive. v2 MAP also holds the owner mm's lock shared so no region can be unregistered under
 * it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <tcemu/guest.h>
#include <tcemu/memory.h>

#include "core/platform_priv.h"
#include "guest/gate.h"
#include "vfio/container.h"
#include "vfio/host_priv.h"
#include "vfio/probe.h"

#define BATCH 512

struct container *container_new(struct tcemu_host *h)
{
	struct container *c = host_alloc(h, sizeof(*c));

	if (!c)
		return NULL;
	c->host = h;
	if (pthread_rwlock_init(&c->lock, NULL)) {
		free(c);
		return NULL;
	}
	return c;
}

void container_wrlock(struct container *c)
{
	host_gate_close(c->host);
	pthread_rwlock_wrlock(&c->lock);
}

void container_wrunlock(struct container *c)
{
	pthread_rwlock_unlock(&c->lock);
	host_gate_open(c->host);
}

/* ---- windows ---- */

void release_entry(void *opaque, uint64_t index, uint64_t old_tce, uint64_t old_ua)
{
	struct release_ctx *rc = opaque;
	struct container *c = rc->c;

	(void)index;
	rc->released++;
	if (c->v2) {
		if (!region_has(rc->r, old_ua)) {
			release_flush(rc);
			/* Entries are released in index order: the next run is usually in the next region. */
			rc->r = c->mm ? mm_find_near(c->mm, &rc->hint, old_ua, 1ull << rc->page_shift) : NULL;
		}
		if (rc->r) /* always: regions with mappings cannot go */
			rc->pending++;
	} else {
		tcemu_memory_unpin(c->host->mem, old_tce & ~((1ull << rc->page_shift) - 1));
	}
}

/* Clears every entry of a window, releasing them. Caller holds the container lock. */
static uint64_t window_clear(struct container *c, unsigned slot)
{
	struct window *w = &c->windows[slot];
	struct release_ctx rc = { .c = c, .page_shift = tcemu_table_params(w->table)->page_shift };
	int64_t n;

	if (c->v2 && c->mm)
		pthread_rwlock_rdlock(&c->mm->lock);
	n = tcemu_table_clear(w->table, 0, tcemu_table_entries(w->table), release_entry, &rc);
	release_flush(&rc);
	if (c->v2 && c->mm)
		pthread_rwlock_unlock(&c->mm->lock);
	if (n > 0) {
		host_stat_add(c->host, &c->host->stats.entries_mapped, -n, NULL);
		kill_all(c, slot, 0, 0);
	}
	return n > 0 ? (uint64_t)n : 0;
}

/* Unsets a window on every group, frees it and returns its charge. Container lock exclusive. */
static void window_free(struct container *c, unsigned slot)
{
	struct window *w = &c->windows[slot];

	if (!w->table)
		return;
	window_clear(c, slot);
	for (size_t i = 0; i < c->ngroups; i++)
		tcemu_pe_unset_window(c->groups[i]->pe, slot);
	tcemu_table_unref(w->table);
	w->table = NULL;
	if (w->accounted && c->mm)
		mm_account(c->host, c->mm, w->accounted, false);
	w->accounted = 0;
}

/*
 * Builds a window in slot: geometry, locked-memory charge, table, programmed into every group.
 * Container lock exclusive. Nothing is left behind on failure.
 */
static int window_build(struct container *c, unsigned slot, uint64_t start, uint32_t page_shift, uint64_t size,
			uint32_t levels)
{
	struct tcemu_host *h = c->host;
	struct tcemu_table_params p = {
		.bus_offset = start,
		.window_size = size,
		.page_shift = page_shift,
		.levels = levels,
		.sys_page_shift = h->page_shift,
		.flags = c->v2 ? TCEMU_TABLE_USERSPACE : 0,
	};
	struct tcemu_table_geometry g;
	struct tcemu_table *t;
	uint64_t charge;
	size_t done = 0;
	int rc;

	rc = tcemu_table_geometry(&p, &g);
	if (rc)
		return -EINVAL;
	/* v2 charges each table; v1 was charged the whole window at ENABLE. */
	charge = c->v2 && c->mm ? g.accounted_bytes : 0;
	rc = charge ? mm_account(h, c->mm, charge, true) : 0;
	if (rc)
		return rc;
	if (!host_alloc_ok(h)) {
		rc = -ENOMEM;
		goto err_unaccount;
	}
	rc = tcemu_table_create(&p, &t);
	if (rc)
		goto err_unaccount;
	for (done = 0; done < c->ngroups; done++) {
		rc = tcemu_pe_set_window(c->groups[done]->pe, slot, t);
		if (rc)
			goto err_unset;
	}
	c->windows[slot].table = t;
	c->windows[slot].accounted = charge;
	host_stat_add(h, &h->stats.windows_created, 1, NULL);
	return 0;

err_unset:
	while (done-- > 0)
		tcemu_pe_unset_window(c->groups[done]->pe, slot);
	tcemu_table_unref(t);
err_unaccount:
	if (charge)
		mm_account(h, c->mm, charge, false);
	return rc;
}

/* The default window: slot 0, start 0, the first group's 32-bit size, 4 KiB pages, one level. */
static int build_default_window(struct container *c)
{
	struct tcemu_phb_info hi;
	int rc;

	if (!c->def_window_pending)
		return 0;
	if (!has_groups(c))
		return -ENXIO;
	tcemu_phb_info(tcemu_pe_phb(c->groups[0]->pe), &hi);
	rc = window_build(c, 0, 0, 12, hi.dma32_size, 1);
	if (rc == 0)
		c->def_window_pending = false;
	return rc;
}

/*
 * Takes the container lock shared, having built the pending default window first (which needs
 * it exclusive). Returns with the lock held shared on success, released on error. *built gets the
 * table this call built, so that a call failing later can undo it.
 */
static int lock_shared_with_default_window(struct container *c, struct tcemu_table **built)
{
	int rc = 0;

	*built = NULL;
	pthread_rwlock_rdlock(&c->lock);
	if (!c->def_window_pending)
		return 0;
	pthread_rwlock_unlock(&c->lock);
	container_wrlock(c);
	if (c->def_window_pending) {
		rc = build_default_window(c);
		if (rc == 0)
			*built = c->windows[0].table;
	}
	container_wrunlock(c);
	if (rc)
		return rc;
	pthread_rwlock_rdlock(&c->lock);
	return 0;
}

/*
 * A call that built the default window and then failed puts it back to pending, unless another
 * call has started using it meanwhile: a failed call changes nothing.
 */
static void undo_default_window(struct container *c, struct tcemu_table *built)
{
	if (!built)
		return;
	container_wrlock(c);
	if (c->windows[0].table == built) {
		struct tcemu_table_info ti;

		tcemu_table_info(built, &ti);
		if (ti.valid_entries == 0) {
			window_free(c, 0);
			c->def_window_pending = true;
		}
	}
	container_wrunlock(c);
}

/* ---- groups ---- */

static const struct tcemu_profile_info *group_profile(const struct group *g)
{
	return tcemu_pe_profile(g->pe);
}

/*
 * The backend's attach: checks, ownership, existing windows programmed into the new group.
 * Container lock exclusive.
 */
int backend_attach(struct container *c, struct group *g)
{
	const struct tcemu_profile_info *prof = group_profile(g);
	size_t done = 0;
	int rc;

	for (size_t i = 0; i < c->ngroups; i++)
		if (c->groups[i] == g)
			return -EBUSY;
	/* v1: one group per container. */
	if (!c->v2 && has_groups(c))
		return -EBUSY;
	/* Groups must share the table implementation: IODA1 cannot mix with IODA2/3. */
	if (has_groups(c) && group_profile(c->groups[0])->dynamic_windows != prof->dynamic_windows)
		return -EPERM;
	if (c->v2 && !prof->dynamic_windows)
		return -EINVAL;
	if (c->ngroups == c->gcap) {
		size_t cap = c->gcap ? c->gcap * 2 : 4;
		struct group **n = host_realloc(c->host, c->groups, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		c->groups = n;
		c->gcap = cap;
	}
	rc = tcemu_pe_take_ownership(g->pe);
	if (rc)
		return rc;
	for (done = 0; done < TCEMU_PE_WINDOWS; done++) {
		if (!c->windows[done].table)
			continue;
		rc = tcemu_pe_set_window(g->pe, (unsigned)done, c->windows[done].table);
		if (rc)
			goto err_unset;
	}
	if (!has_groups(c) && !c->windows[0].table)
		c->def_window_pending = true;
	c->groups[c->ngroups++] = g;
	g->attached_to_backend = true;
	return 0;

err_unset:
	while (done-- > 0)
		if (c->windows[done].table)
			tcemu_pe_unset_window(g->pe, (unsigned)done);
	tcemu_pe_release_ownership(g->pe);
	return rc;
}

/* Drops everything the backend holds: windows, v1 accounting, regions, the owner. Lock exclusive. */
void backend_release(struct container *c)
{
	struct tcemu_host *h = c->host;

	for (unsigned s = 0; s < TCEMU_PE_WINDOWS; s++) {
		if (c->windows[s].table) {
			struct tcemu_table_info ti;

			tcemu_table_info(c->windows[s].table, &ti);
			if (ti.valid_entries)
				host_defect(h, "container %d released with %llu entries still mapped in window %u "
					       "(bus 0x%llx): the client never unmapped them",
					    c->first_fd, (unsigned long long)ti.valid_entries, s,
					    (unsigned long long)ti.params.bus_offset);
			if (s > 0 || !c->def_window_pending)
				host_defect(h, "container %d released with window %u (bus 0x%llx) not removed",
					    c->first_fd, s, (unsigned long long)ti.params.bus_offset);
		}
		window_free(c, s);
	}
	if (c->v1_locked && c->mm) {
		mm_account(h, c->mm, c->v1_locked, false);
		c->v1_locked = 0;
	}
	if (c->mm) {
		if (c->nrefs)
			host_defect(h, "container %d released with %zu registered region(s) never unregistered",
				    c->first_fd, c->nrefs);
		mm_drop_container(h, c->mm, c);
	}
	c->mm = NULL;
	c->enabled = false;
	c->def_window_pending = false;
	c->type = 0;
	c->v2 = false;
}

void backend_detach(struct container *c, struct group *g)
{
	size_t i;

	for (i = 0; i < c->ngroups && c->groups[i] != g; i++)
		;
	if (i == c->ngroups)
		return;
	/*
	 * difference: the kernel clears the container's tables when any group detaches, taking the
	 * mappings of the groups that stay; tcemu clears them only when the last group leaves.
	 */
	if (c->ngroups == 1) {
		backend_release(c);
	} else {
		for (unsigned s = 0; s < TCEMU_PE_WINDOWS; s++)
			if (c->windows[s].table)
				tcemu_pe_unset_window(g->pe, s);
	}
	memmove(&c->groups[i], &c->groups[i + 1], (c->ngroups - i - 1) * sizeof(*c->groups));
	c->ngroups--;
	tcemu_pe_release_ownership(g->pe);
	g->attached_to_backend = false;
}

int container_attach_group(struct container *c, struct group *g)
{
	int rc = 0;

	container_wrlock(c);
	if (c->type)
		rc = backend_attach(c, g);
	else if (c->ngroups == c->gcap) {
		size_t cap = c->gcap ? c->gcap * 2 : 4;
		struct group **n = host_realloc(c->host, c->groups, cap * sizeof(*n));
		if (!n)
			rc = -ENOMEM;
		else {
			c->groups = n;
			c->gcap = cap;
		}
	}
	if (rc == 0 && !c->type)
		c->groups[c->ngroups++] = g;
	container_wrunlock(c);
	return rc;
}

void container_detach_group(struct container *c, struct group *g)
{
	container_wrlock(c);
	if (c->type) {
		backend_detach(c, g);
	} else {
		for (size_t i = 0; i < c->ngroups; i++) {
			if (c->groups[i] == g) {
				memmove(&c->groups[i], &c->groups[i + 1], (c->ngroups - i - 1) * sizeof(*c->groups));
				c->ngroups--;
				break;
			}
		}
	}
	container_wrunlock(c);
}

void container_free(struct container *c)
{
	container_wrlock(c);
	if (c->type)
		backend_release(c);
	container_wrunlock(c);
	pthread_rwlock_destroy(&c->lock);
	free(c->groups);
	free(c->refs);
	free(c);
}

/* ---- the VFIO core's container ioctls ---- */

long container_check_extension(struct container *c, unsigned long ext)
{
	long r;

	pthread_rwlock_rdlock(&c->lock);
	if (!c->type)
		r = ext == VFIO_SPAPR_TCE_IOMMU || ext == VFIO_SPAPR_TCE_v2_IOMMU;
	else
		r = ext == VFIO_SPAPR_TCE_IOMMU || ext == VFIO_SPAPR_TCE_v2_IOMMU ||
		    (ext == VFIO_EEH && c->host->eeh);
	pthread_rwlock_unlock(&c->lock);
	return r;
}

long container_set_iommu(struct container *c, unsigned long type)
{
	size_t done;
	long rc = 0;

	container_wrlock(c);
	if (!has_groups(c) || c->type) {
		rc = -EINVAL;
		goto out;
	}
	if (type != VFIO_SPAPR_TCE_IOMMU && type != VFIO_SPAPR_TCE_v2_IOMMU) {
		rc = -ENODEV;
		goto out;
	}
	/* Attach every group to the backend; on an error nothing is kept. */
	struct group **pending = c->groups;
	size_t n = c->ngroups;
	c->groups = NULL;
	c->ngroups = c->gcap = 0;
	c->type = (int)type;
	c->v2 = type == VFIO_SPAPR_TCE_v2_IOMMU;
	for (done = 0; done < n; done++) {
		rc = backend_attach(c, pending[done]);
		if (rc)
			break;
	}
	if (rc) {
		while (c->ngroups)
			backend_detach(c, c->groups[c->ngroups - 1]);
		free(c->groups);
		c->groups = pending;
		c->ngroups = c->gcap = n;
		c->type = 0;
		c->v2 = false;
		c->def_window_pending = false;
	} else {
		free(pending);
	}
out:
	container_wrunlock(c);
	return rc;
}

/* ---- the sPAPR backend ---- */

/* Records the calling process as the owner (v1 ENABLE; v2 REGISTER, TCE_CREATE, TCE_REMOVE). */
int spapr_record_owner(struct container *c, pid_t caller)
{
	struct mm *mm;
	int rc = 0;

	pthread_mutex_lock(&c->host->lock);
	mm = host_mm_get(c->host, caller, true);
	pthread_mutex_unlock(&c->host->lock);
	if (!mm)
		return -ENOMEM;
	container_wrlock(c);
	if (!c->mm)
		c->mm = mm;
	else if (c->mm != mm)
		rc = -EPERM;
	container_wrunlock(c);
	return rc;
}

int spapr_need_groups(struct container *c)
{
	int rc;

	pthread_rwlock_rdlock(&c->lock);
	rc = has_groups(c) ? 0 : -ENXIO;
	pthread_rwlock_unlock(&c->lock);
	return rc;
}

int spapr_need_enabled(struct container *c)
{
	int rc;

	pthread_rwlock_rdlock(&c->lock);
	rc = c->enabled ? 0 : -EPERM;
	pthread_rwlock_unlock(&c->lock);
	return rc;
}

int spapr_need_owner(struct container *c)
{
	int rc;

	pthread_rwlock_rdlock(&c->lock);
	rc = c->mm ? 0 : -EPERM;
	pthread_rwlock_unlock(&c->lock);
	return rc;
}

long spapr_get_info(struct container *c, struct vfio_iommu_spapr_tce_info *info, uint32_t *out_len)
{
	const struct tcemu_profile_info *prof;
	struct tcemu_phb_info hi;

	pthread_rwlock_rdlock(&c->lock);
	if (!has_groups(c)) {
		pthread_rwlock_unlock(&c->lock);
		return -ENXIO;
	}
	tcemu_phb_info(tcemu_pe_phb(c->groups[0]->pe), &hi);
	prof = hi.profile;
	info->dma32_window_start = 0;
	info->dma32_window_size = (uint32_t)hi.dma32_size;
	info->flags = 0;
	memset(&info->ddw, 0, sizeof(info->ddw));
	if (c->v2 && prof->dynamic_windows) {
		info->flags = VFIO_IOMMU_SPAPR_INFO_DDW;
		info->ddw.pgsizes = prof->pgsizes;
		info->ddw.max_dynamic_windows_supported = prof->windows;
		info->ddw.levels = prof->max_levels;
	}
	pthread_rwlock_unlock(&c->lock);
	if (info->argsz >= sizeof(*info))
		*out_len = sizeof(*info);
	return 0;
}

long spapr_enable(struct container *c, pid_t caller)
{
	struct tcemu_phb_info hi;
	long rc;

	pthread_rwlock_rdlock(&c->lock);
	rc = c->enabled ? -EBUSY : 0;
	pthread_rwlock_unlock(&c->lock);
	if (rc)
		return rc;
	rc = spapr_record_owner(c, caller);
	if (rc)
		return rc;
	container_wrlock(c);
	if (c->enabled) {
		rc = -EBUSY;
		goto out;
	}
	if (!has_groups(c)) {
		rc = -ENODEV;
		goto out;
	}
	tcemu_phb_info(tcemu_pe_phb(c->groups[0]->pe), &hi);
	if (!hi.dma32_size) {
		rc = -EPERM;
		goto out;
	}
	/* v1 charges the whole default window, in system pages. */
	rc = mm_account(c->host, c->mm, hi.dma32_size, true);
	if (rc)
		goto out;
	c->v1_locked = hi.dma32_size;
	c->enabled = true;
out:
	container_wrunlock(c);
	return rc;
}

long spapr_disable(struct container *c)
{
	container_wrlock(c);
	if (c->enabled) {
		c->enabled = false;
		if (c->v1_locked && c->mm)
			mm_account(c->host, c->mm, c->v1_locked, false);
		c->v1_locked = 0;
	}
	container_wrunlock(c);
	return 0;
}

/*
 * v2 map: every IOMMU page must lie in one registered region whose page is at least the IOMMU
 * page. Nothing is written unless everything can be.
 *
 * A map inside one region (the common case: DPDK and QEMU register what they map) holds the
 * process lock shared and counts with one atomic add. A map crossing regions takes the process
 * lock exclusive: then the mapped counts are plain adds, and the regions it crosses, which follow
 * each other in the sorted array, are walked twice (check, then count) in index order, O(1) each.
 * An atomic add per region would cost more than the table writes of a small region.
 */
static long map_v2(struct container *c, struct tcemu_table *t, uint32_t ps, uint64_t index, uint64_t npages,
		   uint64_t vaddr, uint64_t perm, unsigned slot)
{
	struct tcemu_host *h = c->host;
	struct mm *mm = c->mm;
	struct release_ctx rctx = { .c = c, .page_shift = ps };
	const uint64_t end = vaddr + (npages << ps);
	size_t first, last;
	bool exclusive = false;
	struct region *r;
	long rc = 0;

	pthread_rwlock_rdlock(&mm->lock);
	r = mm_find(mm, vaddr, 1ull << ps);
	if (r && end - r->ua <= r->size) {
		if (r->page_shift < ps) {
			rc = -EPERM; /* the IOMMU page may never exceed the pinned page */
			goto out;
		}
		rc = host_alloc_ok(h) ? tcemu_table_reserve(t, index, npages) : -ENOMEM;
		if (rc)
			goto out;
		__atomic_add_fetch(&r->mapped, npages, __ATOMIC_RELAXED);
		tcemu_table_set_linear(t, index, npages, (r->hpa + (vaddr - r->ua)) | perm, vaddr, release_entry, &rctx);
		goto done;
	}
	if (!r) {
		rc = -EINVAL;
		goto out;
	}
	pthread_rwlock_unlock(&mm->lock);
	mm_wrlock(mm);
	exclusive = true;
	/* Check: regions without a gap from vaddr to end, each with a large enough page. */
	r = mm_find(mm, vaddr, 1ull << ps);
	if (!r) {
		rc = -EINVAL;
		goto out;
	}
	first = last = (size_t)(r - mm->regions);
	for (;;) {
		r = &mm->regions[last];
		if (r->page_shift < ps) {
			rc = -EPERM;
			goto out;
		}
		if (end - r->ua <= r->size)
			break;
		/* The next IOMMU page starts at this region's end: in the next region or nowhere. */
		const struct region *next = last + 1 < mm->nregions ? &mm->regions[last + 1] : NULL;
		if (!next || next->ua != r->ua + r->size || (next->size >> ps) == 0) {
			rc = -EINVAL;
			goto out;
		}
		last++;
	}
	rc = host_alloc_ok(h) ? tcemu_table_reserve(t, index, npages) : -ENOMEM;
	if (rc)
		goto out;
	/*
	 * From here on nothing can fail. One table call per run of regions whose frames follow each
	 * other (pinned one after another); each region counts its pages as the run passes it.
	 */
	r = &mm->regions[first];
	for (uint64_t ua = vaddr, at = index; ua < end; r++) {
		const uint64_t start = ua, hpa = r->hpa + (ua - r->ua);

		for (;;) {
			uint64_t stop = tcemu_min_u64(end, r->ua + r->size);

			r->mapped += (stop - ua) >> ps;
			ua = stop;
			if (ua == end || r[1].hpa != r->hpa + r->size)
				break;
			r++; /* the next region starts at ua (checked above) */
		}
		tcemu_table_set_linear(t, at, (ua - start) >> ps, hpa | perm, start, release_entry, &rctx);
		at += (ua - start) >> ps;
	}
done:
	release_flush(&rctx);
	host_stat_add(h, &h->stats.entries_mapped, (int64_t)(npages - rctx.released), &h->stats.entries_mapped_peak);
	kill_all(c, slot, index, npages);
out:
	if (exclusive)
		mm_wrunlock(mm);
	else
		pthread_rwlock_unlock(&mm->lock);
	return rc;
}

static long map_v1(struct container *c, struct tcemu_table *t, uint32_t ps, uint64_t index, uint64_t npages,
		   uint64_t vaddr, uint64_t perm, unsigned slot)
{
	struct tcemu_host *h = c->host;
	const uint64_t pg = 1ull << ps;
	struct release_ctx rctx = { .c = c, .page_shift = ps };
	uint64_t tces[BATCH];
	uint32_t backing;
	uint64_t pinned = 0;
	long rc;

	/*
	 * difference: the kernel's v1 always pins writable, so read-only memory cannot be mapped for a
	 * device to read; tcemu pins with the access the direction needs.
	 */
	rc = probe_range(vaddr, npages * pg, perm & TCEMU_TCE_WRITE, &backing);
	if (rc)
		return rc;
	if (backing < h->page_shift)
		backing = h->page_shift; /* an emulated 64K-page host backs memory with 64K pages */
	if (backing < ps)
		return -EPERM;
	rc = probe_pin(vaddr, npages * pg, perm & TCEMU_TCE_WRITE);
	if (rc)
		return rc;
	if (!host_alloc_ok(h))
		return -ENOMEM;
	rc = tcemu_table_reserve(t, index, npages);
	if (rc)
		return rc;
	/* Pin everything first, so a failure changes nothing. */
	uint64_t *hpas = host_alloc(h, npages * sizeof(uint64_t));
	if (!hpas)
		return -ENOMEM;
	for (pinned = 0; pinned < npages; pinned++) {
		rc = host_alloc_ok(h) ? tcemu_memory_pin(h->mem, vaddr + pinned * pg, pg, ps, &hpas[pinned]) : -ENOMEM;
		if (rc)
			goto err_unpin;
	}
	for (uint64_t done = 0; done < npages;) {
		uint64_t n = tcemu_min_u64(BATCH, npages - done);

		for (uint64_t k = 0; k < n; k++)
			tces[k] = hpas[done + k] | perm;
		tcemu_table_set(t, index + done, n, tces, NULL, release_entry, &rctx);
		done += n;
	}
	free(hpas);
	host_stat_add(h, &h->stats.entries_mapped, (int64_t)(npages - rctx.released), &h->stats.entries_mapped_peak);
	kill_all(c, slot, index, npages);
	return 0;

err_unpin:
	while (pinned-- > 0)
		tcemu_memory_unpin(h->mem, hpas[pinned]);
	free(hpas);
	return rc;
}

long spapr_map(struct container *c, const struct vfio_iommu_type1_dma_map *m)
{
	const struct tcemu_table_params *tp;
	struct tcemu_table *t, *built;
	uint64_t perm, pg, index;
	long rc;
	int slot;

	rc = lock_shared_with_default_window(c, &built);
	if (rc)
		return rc;
	slot = find_window(c, m->iova);
	if (slot < 0) {
		rc = -ENXIO;
		goto out;
	}
	t = c->windows[slot].table;
	tp = tcemu_table_params(t);
	pg = 1ull << tp->page_shift;
	if ((m->size & (pg - 1)) || (m->vaddr & (pg - 1))) {
		rc = -EINVAL;
		goto out;
	}
	if (!(m->flags & (VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE))) {
		rc = -EINVAL;
		goto out;
	}
	/* The stored entry: READ for a device read, READ|WRITE as soon as the device may write. */
	perm = TCEMU_TCE_READ | ((m->flags & VFIO_DMA_MAP_FLAG_WRITE) ? TCEMU_TCE_WRITE : 0);
	/*
	 * difference: the kernel returns +1 for a misaligned iova and checks only the first entry
	 * against the window's end; tcemu returns EINVAL for both, and for a wrapping vaddr range.
	 */
	if ((m->iova & (pg - 1)) || m->size > tp->window_size - (m->iova - tp->bus_offset) ||
	    m->vaddr + m->size < m->vaddr) {
		rc = -EINVAL;
		goto out;
	}
	if (m->size == 0)
		goto out;
	index = (m->iova - tp->bus_offset) >> tp->page_shift;
	if (c->v2)
		rc = map_v2(c, t, tp->page_shift, index, m->size >> tp->page_shift, m->vaddr, perm, (unsigned)slot);
	else
		rc = map_v1(c, t, tp->page_shift, index, m->size >> tp->page_shift, m->vaddr, perm, (unsigned)slot);
out:
	pthread_rwlock_unlock(&c->lock);
	if (rc)
		undo_default_window(c, built);
	return rc;
}

long spapr_unmap(struct container *c, const struct vfio_iommu_type1_dma_unmap *u)
{
	struct tcemu_host *h = c->host;
	const struct tcemu_table_params *tp;
	struct release_ctx rctx = { .c = c };
	struct tcemu_table *built;
	uint64_t pg, index;
	int64_t n;
	long rc;
	int slot;

	rc = lock_shared_with_default_window(c, &built);
	if (rc)
		return rc;
	slot = find_window(c, u->iova);
	if (slot < 0) {
		rc = -ENXIO;
		goto out;
	}
	tp = tcemu_table_params(c->windows[slot].table);
	pg = 1ull << tp->page_shift;
	if (u->size & (pg - 1)) {
		rc = -EINVAL;
		goto out;
	}
	/* difference: misaligned or out-of-window ranges are EINVAL (the kernel: +1, or past the end). */
	if ((u->iova & (pg - 1)) || u->size > tp->window_size - (u->iova - tp->bus_offset)) {
		rc = -EINVAL;
		goto out;
	}
	rctx.page_shift = tp->page_shift;
	index = (u->iova - tp->bus_offset) >> tp->page_shift;
	if (c->v2 && c->mm)
		pthread_rwlock_rdlock(&c->mm->lock);
	n = tcemu_table_clear(c->windows[slot].table, index, u->size >> tp->page_shift, release_entry, &rctx);
	release_flush(&rctx);
	if (c->v2 && c->mm)
		pthread_rwlock_unlock(&c->mm->lock);
	if (u->iova == 0 && u->size && u->size < tp->window_size) {
		/*
		 * DPDK's rte_vfio_container_dma_unmap sends the map struct as UNMAP_DMA: the backend
		 * reads iova from the map's vaddr (0) and size from its iova. The sign: a range from 0
		 * that ends exactly where a mapping begins.
		 */
		uint64_t next = 0;
		tcemu_table_get(c->windows[slot].table, u->size >> tp->page_shift, &next, NULL);
		if (next & TCEMU_TCE_PERM_MASK)
			host_defect(h, "UNMAP_DMA(iova=0x0, size=0x%llx) on container %d ends exactly where the "
				       "mapping at iova 0x%llx begins: the map struct sent as an unmap, DPDK's "
				       "rte_vfio_container_dma_unmap defect (it cleared %lld entries of [0, 0x%llx) and "
				       "left the mapping it meant to remove)",
				    (unsigned long long)u->size, c->first_fd, (unsigned long long)u->size,
				    (long long)(n > 0 ? n : 0), (unsigned long long)u->size);
	}
	if (n > 0) {
		host_stat_add(h, &h->stats.entries_mapped, -n, NULL);
		kill_all(c, (unsigned)slot, index, u->size >> tp->page_shift);
	} else if (u->size) {
		host_defect(h, "UNMAP_DMA(iova=0x%llx, size=0x%llx) on container %d cleared nothing: "
			       "that range was never mapped",
			    (unsigned long long)u->iova, (unsigned long long)u->size, c->first_fd);
	}
out:
	pthread_rwlock_unlock(&c->lock);
	if (rc)
		undo_default_window(c, built);
	return rc;
}

long spapr_register(struct container *c, const struct vfio_iommu_spapr_register_memory *r)
{
	long rc;

	container_wrlock(c);
	rc = mm_register(c->host, c->mm, c, r->vaddr, r->size);
	if (rc == 0)
		c->enabled = true; /* v2: the first registration enables, for good */
	container_wrunlock(c);
	return rc;
}

long spapr_unregister(struct container *c, const struct vfio_iommu_spapr_register_memory *r)
{
	long rc;

	container_wrlock(c);
	rc = mm_unregister(c->host, c->mm, c, r->vaddr, r->size);
	container_wrunlock(c);
	return rc;
}

long spapr_create(struct container *c, struct vfio_iommu_spapr_tce_create *cr)
{
	const struct tcemu_profile_info *prof;
	bool built_default = false;
	unsigned slot;
	long rc;

	container_wrlock(c);
	if (!has_groups(c)) {
		rc = -ENXIO;
		goto out;
	}
	built_default = c->def_window_pending;
	rc = build_default_window(c);
	if (rc)
		goto out;
	for (slot = 0; slot < TCEMU_PE_WINDOWS && c->windows[slot].table; slot++)
		;
	prof = group_profile(c->groups[0]);
	if (slot >= prof->windows) {
		rc = -ENOSPC;
		goto out;
	}
	if (cr->page_shift >= 64 || !(prof->pgsizes & (1ull << cr->page_shift))) {
		rc = -EINVAL;
		goto out;
	}
	if (cr->levels == 0 || cr->levels > prof->max_levels || !TCEMU_IS_POW2(cr->window_size)) {
		rc = -EINVAL;
		goto out;
	}
	rc = window_build(c, slot, slot == 0 ? 0 : TCEMU_WINDOW1_START, cr->page_shift, cr->window_size, cr->levels);
	if (rc == 0)
		cr->start_addr = slot == 0 ? 0 : TCEMU_WINDOW1_START;
out:
	if (rc && built_default && c->windows[0].table) {
		/* a failed call changes nothing: the default window it built goes back to pending */
		window_free(c, 0);
		c->def_window_pending = true;
	}
	container_wrunlock(c);
	return rc;
}

long spapr_remove(struct container *c, const struct vfio_iommu_spapr_tce_remove *rm)
{
	long rc = 0;
	int slot;

	container_wrlock(c);
	if (!has_groups(c)) {
		rc = -ENXIO;
		goto out;
	}
	if (c->def_window_pending && rm->start_addr == 0) {
		c->def_window_pending = false;
		goto out;
	}
	slot = find_window(c, rm->start_addr);
	if (slot < 0) {
		rc = -EINVAL;
		goto out;
	}
	window_free(c, (unsigned)slot);
out:
	container_wrunlock(c);
	return rc;
}

long spapr_eeh(struct container *c, const struct vfio_eeh_pe_op *op, uint32_t argsz)
{
	long rc = 0;

	if (op->op == VFIO_EEH_PE_INJECT_ERR && argsz < sizeof(*op))
		return -EINVAL;
	pthread_rwlock_rdlock(&c->lock);
	for (size_t i = 0; i < c->ngroups && rc == 0; i++)
		rc = tcemu_pe_eeh_op(c->groups[i]->pe, op->op, op->err.type, op->err.func);
	pthread_rwlock_unlock(&c->lock);
	return rc;
}

/* ---- introspection ---- */

void container_info(struct container *c, struct tcemu_container_info *ci)
{
	memset(ci, 0, sizeof(*ci));
	pthread_rwlock_rdlock(&c->lock);
	ci->type = c->type;
	ci->enabled = c->enabled;
	ci->owner = c->mm ? c->mm->pid : 0;
	ci->ngroups = c->ngroups;
	for (size_t i = 0; i < c->ngroups && i < TCEMU_MAX_GROUPS_REPORTED; i++)
		ci->groups[i] = c->groups[i]->number;
	for (unsigned s = 0; s < TCEMU_PE_WINDOWS; s++) {
		struct tcemu_window_info *w = &ci->windows[s];
		struct tcemu_table_info ti;

		if (!c->windows[s].table) {
			w->pending = s == 0 && c->def_window_pending;
			continue;
		}
		tcemu_table_info(c->windows[s].table, &ti);
		w->present = true;
		w->start = ti.params.bus_offset;
		w->size = ti.params.window_size;
		w->page_shift = ti.params.page_shift;
		w->levels = ti.params.levels;
		w->valid_entries = ti.valid_entries;
		w->accounted_bytes = c->windows[s].accounted;
		w->allocated_bytes = ti.allocated_bytes;
		ci->locked_bytes += c->windows[s].accounted;
	}
	ci->nregions = c->nrefs;
	for (size_t i = 0; i < c->nrefs; i++)
		ci->locked_bytes += c->refs[i].size;
	ci->locked_bytes += c->v1_locked;
	pthread_rwlock_unlock(&c->lock);
}

int container_entry(struct container *c, uint64_t iova, uint64_t *tce, uint64_t *ua)
{
	const struct tcemu_table_params *tp;
	int slot, rc;

	pthread_rwlock_rdlock(&c->lock);
	slot = find_window(c, iova);
	if (slot < 0) {
		pthread_rwlock_unlock(&c->lock);
		return -ENXIO;
	}
	tp = tcemu_table_params(c->windows[slot].table);
	rc = tcemu_table_get(c->windows[slot].table, (iova - tp->bus_offset) >> tp->page_shift, tce, ua);
	pthread_rwlock_unlock(&c->lock);
	return rc;
}

/* ---- guest acceleration (the in-kernel fast path of guest.c) ---- */

/* Clears [bus, bus + bytes) of the window containing bus, clipped to it: one call, one kill. */
void container_guest_clear(struct container *c, uint64_t bus, uint64_t bytes)
{
	struct release_ctx rctx = { .c = c };
	const struct tcemu_table_params *tp;
	uint64_t index, count;
	int64_t n;
	int slot;

	pthread_rwlock_rdlock(&c->lock);
	slot = c->v2 && c->mm ? find_window(c, bus) : -1;
	if (slot < 0)
		goto out;
	tp = tcemu_table_params(c->windows[slot].table);
	rctx.page_shift = tp->page_shift;
	index = (bus - tp->bus_offset) >> tp->page_shift;
	count = tcemu_min_u64(bytes, tp->window_size - (bus - tp->bus_offset)) >> tp->page_shift;
	pthread_rwlock_rdlock(&c->mm->lock);
	n = tcemu_table_clear(c->windows[slot].table, index, count, release_entry, &rctx);
	release_flush(&rctx);
	pthread_rwlock_unlock(&c->mm->lock);
	if (n > 0) {
		host_stat_add(c->host, &c->host->stats.entries_mapped, -n, NULL);
		kill_all(c, (unsigned)slot, index, count);
	}
out:
	pthread_rwlock_unlock(&c->lock);
}

/*
 * Counts a link's entries into the host's entries_mapped, and its highest value since the last
 * count into the peak (exact when no other change came in between; the peak of concurrent
 * changes is a sample anyway).
 */
static void entries_flush(struct guest_link *gl)
{
	struct tcemu_host *h = gl->c->host;
	uint64_t v;

	if (!gl->entries && !gl->entries_high)
		return;
	v = __atomic_add_fetch(&h->stats.entries_mapped, (uint64_t)gl->entries, __ATOMIC_RELAXED);
	host_stat_peak(&h->stats.entries_mapped_peak, v - (uint64_t)gl->entries + (uint64_t)gl->entries_high);
	gl->entries = gl->entries_high = 0;
}

/* Adds delta to the host's entries_mapped: through gl (the fast path, gate open) or at once. */
static void entries_add(struct tcemu_host *h, struct guest_link *gl, int64_t delta)
{
	if (!gl) {
		host_stat_add(h, &h->stats.entries_mapped, delta, &h->stats.entries_mapped_peak);
		return;
	}
	gl->entries += delta;
	if (gl->entries > gl->entries_high)
		gl->entries_high = gl->entries;
	if (gl->entries > 256 || gl->entries < -256)
		entries_flush(gl);
}

void container_guest_flush(struct guest_link *gl)
{
	/*
	 * The container's groups change only after a closer flushed every link, with the gate closed
	 * until done, so a link that holds kills belongs to a container whose groups are not changing.
	 */
	if (gl->kills) {
		for (size_t i = 0; i < gl->c->ngroups; i++)
			pe_add_invalidations(gl->c->groups[i]->pe, gl->kills);
		gl->kills = 0;
	}
	if (gl->r && gl->pending)
		__atomic_add_fetch(&gl->r->mapped, (uint64_t)gl->pending, __ATOMIC_RELAXED);
	gl->r = NULL;
	gl->pending = 0;
	gl->t = NULL;
	gl->leaf.leaf = NULL;
	entries_flush(gl);
}

/* Finds the window of gl's container containing bus and keeps it in gl: 0 or -EAGAIN. */
static int guest_window(struct guest_link *gl, uint64_t bus)
{
	struct container *c = gl->c;
	const struct tcemu_table_params *tp;
	int slot = c->v2 && c->mm ? find_window(c, bus) : -1;

	if (slot < 0)
		return -EAGAIN;
	gl->t = c->windows[slot].table;
	gl->slot = (unsigned)slot;
	tp = tcemu_table_params(gl->t);
	gl->page_shift = tp->page_shift;
	gl->bus_offset = tp->bus_offset;
	gl->window_size = tp->window_size;
	return 0;
}

/*
 * Maps the guest pages of one run region by region (t non-NULL), or only checks them (t NULL).
 * Every page must lie in one registered region whose page is at least the host page. Returns how
 * many pages from the run's start qualify (run->n: all).
 */
static uint64_t guest_run_pieces(struct guest_link *w, const struct guest_run *run, uint32_t gshift,
				 struct tcemu_table *t, uint64_t index, struct release_ctx *rctx)
{
	const uint64_t fan = 1ull << (gshift - w->page_shift);
	struct mm *mm = w->c->mm;
	uint64_t done = 0;

	while (done < run->n) {
		uint64_t ua = run->ua + (done << gshift);
		struct region *r = mm_find_near(mm, &w->hint, ua, 1ull << gshift);
		uint64_t k;

		if (!r || r->page_shift < w->page_shift)
			return done;
		k = tcemu_min_u64(run->n - done, (r->ua + r->size - ua) >> gshift);
		if (t) {
			mapped_add(rctx->gl, r, (int64_t)(k * fan));
			tcemu_table_set_linear(t, index + (run->at + done) * fan, k * fan, (r->hpa + (ua - r->ua)) | run->perm, ua,
					       release_entry, rctx);
		}
		done += k;
	}
	return done;
}

/* The region holding the page of process address ua (2^shift bytes): r if it does, else looked up. */
static inline struct region *region_of(struct mm *mm, struct region *r, size_t *hint, uint64_t ua, uint32_t shift)
{
	if (region_holds(r, ua, 1ull << shift))
		return r;
	return mm_find_near(mm, hint, ua, 1ull << shift);
}

/* The invalidation of a guest call, counted through gl's cache (NULL: at once). */
static inline void guest_kill(struct guest_link *w, struct guest_link *gl, uint64_t index, uint64_t count)
{
	struct container *c = w->c;

	if (!gl) {
		kill_all(c, w->slot, index, count);
		return;
	}
	for (size_t i = 0; i < c->ngroups; i++)
		pe_tce_kill_uncounted(c->groups[i]->pe, w->slot, index, count);
	gl->kills++;
}

/*
 * The end of a one-entry guest put at index: counts the new entry in r if added, releases the old
 * one (old_tce 0: none; r, if any, is tried first) through gl's cache (NULL: atomics), invalidates.
 */
static inline __attribute__((always_inline)) void
guest_one_done(struct guest_link *w, struct guest_link *gl, struct region *r, bool added, uint64_t index, uint64_t old_tce,
	       uint64_t old_ua)
{
	struct container *c = w->c;
	int64_t delta = 0;

	if (added) {
		mapped_add(gl, r, 1);
		delta++;
	}
	if (old_tce) {
		/* the old entry's region: usually the one just used */
		size_t hint = w->hint;
		struct region *o = region_has(r, old_ua) ? r : mm_find_near(c->mm, &hint, old_ua, 1ull << w->page_shift);

		if (o) /* always: regions with mappings cannot go */
			mapped_add(gl, o, -1);
		delta--;
	}
	if (delta)
		entries_add(c->host, gl, delta);
	guest_kill(w, gl, index, 1);
}

/* guest_put of a single entry of the host's page size (H_PUT_TCE, a stuff of one): an exchange. */
static int guest_put_one(struct guest_link *w, struct guest_link *gl, uint64_t index, uint32_t gshift,
			 const struct guest_run *run)
{
	struct container *c = w->c;
	uint64_t tce = 0, ua = run->ua;
	struct region *r = NULL;
	int rc = 0;

	if (ua) {
		r = region_of(c->mm, w->r, &w->hint, ua, gshift); /* usually the region used last */
		if (!r || r->page_shift < w->page_shift) {
			r = NULL;
			ua = 0; /* too hard: the entry is cleared */
			rc = -EAGAIN;
		} else if (!host_alloc_ok(c->host)) {
			return -ENOMEM;
		} else {
			tce = (r->hpa + (ua - r->ua)) | run->perm;
		}
	}
	if (tcemu_table_xchg(w->t, index, &tce, &ua))
		return -ENOMEM; /* nothing changed */
	guest_one_done(w, gl, r, r != NULL, index, tce, ua);
	return rc;
}

/*
 * guest_put of several runs (a list of scattered guest pages) of n <= TCEMU_TCE_LIST_MAX guest
 * pages of the host's page size: the entries are gathered into arrays and written by one table
 * call, as a batch map is, instead of one call per run.
 */
static int guest_put_runs(struct guest_link *w, struct guest_link *gl, uint64_t index, const struct guest_run *runs,
			  size_t nruns, uint64_t n, uint64_t *failed)
{
	struct container *c = w->c;
	struct release_ctx rctx = { .c = c, .page_shift = w->page_shift, .hint = w->hint, .gl = gl };
	const uint32_t ps = w->page_shift;
	uint64_t tces[TCEMU_TCE_LIST_MAX], uas[TCEMU_TCE_LIST_MAX], set = 0;
	struct region *r = gl ? gl->r : NULL;
	struct {
		struct region *r;
		uint64_t pages;
	} counts[4]; /* the pages to count per region, for up to 4 regions (a list rarely has more) */
	unsigned ncounts = 0;
	bool recount = false;
	int rc = 0;

	/* Check every page and gather the entries; nothing is written or counted yet. */
	for (size_t i = 0; i < nruns; i++) {
		const struct guest_run *run = &runs[i];

		if (!run->ua) {
			memset(&tces[run->at], 0, run->n * sizeof(tces[0]));
			memset(&uas[run->at], 0, run->n * sizeof(uas[0]));
			continue;
		}
		for (uint64_t k = 0, pages; k < run->n; k += pages) {
			const uint64_t ua = run->ua + (k << ps);
			unsigned x = 0;

			r = region_of(c->mm, r, &w->hint, ua, ps);
			if (!r || r->page_shift < ps) {
				/* too hard: the host entry of this TCE is cleared, nothing else changes */
				*failed = run->at + k;
				tcemu_table_clear(w->t, index + *failed, 1, release_entry, &rctx);
				set = 0; /* none of the gathered entries is written */
				rc = -EAGAIN;
				goto flush;
			}
			pages = tcemu_min_u64(run->n - k, (r->ua + r->size - ua) >> ps);
			for (uint64_t j = 0, e = (r->hpa + (ua - r->ua)) | run->perm; j < pages; j++) {
				tces[run->at + k + j] = e + (j << ps);
				uas[run->at + k + j] = ua + (j << ps);
			}
			while (x < ncounts && counts[x].r != r)
				x++;
			if (x < ncounts)
				counts[x].pages += pages;
			else if (ncounts < 4)
				counts[ncounts++] = (typeof(counts[0])){ r, pages };
			else
				recount = true;
		}
		set += run->n;
	}
	if (!host_alloc_ok(c->host))
		return -ENOMEM;
	rc = tcemu_table_set(w->t, index, n, tces, uas, release_entry, &rctx);
	if (rc)
		return rc; /* no memory for a level: nothing changed */
	if (!recount) {
		for (unsigned x = 0; x < ncounts; x++)
			mapped_add(gl, counts[x].r, (int64_t)counts[x].pages);
	} else {
		/* more regions than counted: count every run's pages again, region by region */
		for (size_t i = 0; i < nruns; i++) {
			for (uint64_t k = 0, pages; runs[i].ua && k < runs[i].n; k += pages) {
				const uint64_t ua = runs[i].ua + (k << ps);

				r = region_of(c->mm, r, &w->hint, ua, ps);
				pages = tcemu_min_u64(runs[i].n - k, (r->ua + r->size - ua) >> ps);
				mapped_add(gl, r, (int64_t)pages);
			}
		}
	}
flush:
	release_flush(&rctx);
	if (set != rctx.released)
		entries_add(c->host, gl, (int64_t)set - (int64_t)rctx.released);
	guest_kill(w, gl, index, n); /* once per call */
	return rc;
}

/*
 * container_guest_put's work, on the window w describes (its cache, or a copy found under the
 * container lock), counting through gl's cache (NULL: atomics).
 */
static int guest_put(struct guest_link *w, struct guest_link *gl, uint64_t bus, uint32_t gshift,
		     const struct guest_run *runs, size_t nruns, uint64_t *failed)
{
	struct container *c = w->c;
	struct tcemu_host *h = c->host;
	struct release_ctx rctx = { .c = c, .page_shift = w->page_shift, .hint = w->hint, .gl = gl };
	struct tcemu_table *t = w->t;
	const uint64_t n = runs_span(runs, nruns);
	uint64_t fan, index, set = 0;
	int rc = 0;

	if (w->page_shift > gshift || (bus & ((1ull << gshift) - 1)) ||
	    n > (w->window_size - (bus - w->bus_offset)) >> gshift)
		return -EAGAIN;
	fan = 1ull << (gshift - w->page_shift);
	index = (bus - w->bus_offset) >> w->page_shift;
	if (n == 1 && fan == 1)
		return guest_put_one(w, gl, index, gshift, &runs[0]);
	if (fan == 1 && nruns > 1 && n <= TCEMU_TCE_LIST_MAX)
		return guest_put_runs(w, gl, index, runs, nruns, n, failed);
	for (size_t i = 0; i < nruns; i++) {
		uint64_t ok;

		if (!runs[i].ua)
			continue;
		ok = guest_run_pieces(w, &runs[i], gshift, NULL, 0, NULL);
		if (ok < runs[i].n) {
			/* too hard: the host entries of this TCE are cleared, nothing else changes */
			*failed = runs[i].at + ok;
			tcemu_table_clear(t, index + *failed * fan, fan, release_entry, &rctx);
			rc = -EAGAIN;
			goto flush;
		}
	}
	rc = host_alloc_ok(h) ? tcemu_table_reserve(t, index, n * fan) : -ENOMEM;
	if (rc)
		return rc;
	for (size_t i = 0; i < nruns; i++) {
		if (runs[i].ua) {
			guest_run_pieces(w, &runs[i], gshift, t, index, &rctx);
			set += runs[i].n * fan;
		} else {
			tcemu_table_clear(t, index + runs[i].at * fan, runs[i].n * fan, release_entry, &rctx);
		}
	}
flush:
	release_flush(&rctx);
	if (set != rctx.released)
		entries_add(h, gl, (int64_t)set - (int64_t)rctx.released);
	guest_kill(w, gl, index, n * fan); /* once per call */
	return rc;
}

int container_guest_put(struct guest_link *gl, uint64_t bus, uint32_t gshift, const struct guest_run *runs,
			size_t nruns, uint64_t *failed)
{
	struct container *c = gl->c;
	struct guest_link w;
	int rc;

	*failed = 0;
	/*
	 * The gate (host_priv.h): the caller announced itself when it took its window's lock (FAST),
	 * now it looks. A caller that finds the gate closed stops announcing before it waits for a lock.
	 */
	if (__atomic_load_n(gl->lock, __ATOMIC_RELAXED) & GUEST_LOCK_FAST) {
		if (TCEMU_LIKELY(!__atomic_load_n(&c->host->gate_closed, __ATOMIC_SEQ_CST))) {
			if (gl->t && bus - gl->bus_offset < gl->window_size)
				return guest_put(gl, gl, bus, gshift, runs, nruns, failed);
			return guest_window(gl, bus) ?: guest_put(gl, gl, bus, gshift, runs, nruns, failed);
		}
		__atomic_store_n(gl->lock, GUEST_LOCK_HELD, __ATOMIC_RELEASE);
	}
	/* The gate is closed: as a MAP does, under the container and process locks held shared. */
	w = (struct guest_link){ .c = c, .hint = SIZE_MAX };
	pthread_rwlock_rdlock(&c->lock);
	rc = guest_window(&w, bus);
	if (!rc) {
		pthread_rwlock_rdlock(&c->mm->lock);
		rc = guest_put(&w, NULL, bus, gshift, runs, nruns, failed);
		pthread_rwlock_unlock(&c->mm->lock);
	}
	pthread_rwlock_unlock(&c->lock);
	return rc;
}

int container_guest_put1(struct guest_link *gl, uint64_t bus, uint32_t gshift, uint64_t ua, uint64_t perm)
{
	struct container *c = gl->c;
	struct guest_run run = { .n = 1, .ua = ua, .perm = perm };
	const bool added = ua != 0;
	struct region *r;
	uint64_t failed, index, tce = 0;

	/*
	 * The common case: the gate open (see container_guest_put; only then may the cache be read),
	 * the cached window, the guest page the host page, the region used last, no failure
	 * injection. Anything else: the long way.
	 */
	if (!(__atomic_load_n(gl->lock, __ATOMIC_RELAXED) & GUEST_LOCK_FAST) ||
	    __atomic_load_n(&c->host->gate_closed, __ATOMIC_SEQ_CST))
		goto long_way;
	r = gl->r;
	if (!gl->t || bus - gl->bus_offset >= gl->window_size || gl->page_shift != gshift ||
	    (bus & ((1ull << gshift) - 1)) ||
	    (ua && (!region_holds(r, ua, 1ull << gshift) || r->page_shift < gshift)) ||
	    __atomic_load_n(&c->host->fail_nth, __ATOMIC_RELAXED))
		goto long_way;
	index = (bus - gl->bus_offset) >> gshift;
	if (table_slot_find(gl->t, index, added, &gl->leaf))
		return -ENOMEM; /* nothing changed */
	if (added)
		tce = (r->hpa + (ua - r->ua)) | perm;
	if (gl->leaf.leaf)
		table_slot_xchg(gl->t, &gl->leaf, &tce, &ua);
	guest_one_done(gl, gl, r, added, index, tce, ua);
	return 0;

long_way:
	return container_guest_put(gl, bus, gshift, &run, 1, &failed);
}

int container_window_matches(struct container *c, uint64_t start, uint32_t gshift, uint64_t bytes)
{
	int rc = -EINVAL;

	pthread_rwlock_rdlock(&c->lock);
	if (c->v2) {
		for (unsigned s = 0; s < TCEMU_PE_WINDOWS; s++) {
			const struct tcemu_table_params *tp;

			if (!c->windows[s].table)
				continue;
			tp = tcemu_table_params(c->windows[s].table);
			if (tp->bus_offset == start && tp->page_shift <= gshift && tp->window_size >= bytes)
				rc = 0;
		}
	}
	pthread_rwlock_unlock(&c->lock);
	return rc;
}
