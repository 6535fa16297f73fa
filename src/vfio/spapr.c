/* SPDX-License-Identifier: MIT */
/*
 * The sPAPR TCE backend of a VFIO container (v1: VFIO_SPAPR_TCE_IOMMU, v2: VFIO_SPAPR_TCE_v2_IOMMU):
 * windows (the default one included), the backend's attach/release/detach of groups, the
 * prechecks, GET_INFO, ENABLE/DISABLE, MAP/UNMAP (v1 and v2), REGISTER/UNREGISTER, CREATE/REMOVE,
 * EEH, and the release of replaced entries (also used by the guest fast path, guest/gate.c). The
 * container itself is vfio/container.c.
 *
 * Every check runs in the order of the spec (../shared/spec/vfio-spapr-abi.md); the generic
 * argsz/flags checks are done by the ioctl table in ioctl.c, the rules the spec orders before them
 * by the prechecks here. Where the kernel has a defect, this file does the intended thing; each
 * such place says "difference:" and docs/differences-from-linux.md lists them.
 *
 * Locking: vfio/container.h (what container->lock protects, who holds it shared or exclusive);
 * vfio/host_priv.h (the order).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <tcemu/memory.h>

#include "core/table_priv.h"
#include "guest/gate.h"
#include "vfio/container.h"
#include "vfio/host_priv.h"
#include "vfio/prereg.h"
#include "vfio/probe.h"

#define BATCH 512
#define RUNS 256 /* linear runs per batch of a map across regions */

/* ---- windows ---- */

void release_entry(void *opaque, uint64_t index, uint64_t old_tce, uint64_t old_ua)
{
	struct release_ctx *rc = opaque;
	struct container *c = rc->c;

	(void)index;
	/* Under the container lock, or the guest fast path with its gate open (rc->gl). */
	TCEMU_ASSERT(rc->gl || tcemu_rwlock_held(&c->lock));
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

	TCEMU_ASSERT_RWLOCKED(&c->lock);
	if (c->v2 && c->mm)
		tcemu_rwlock_rdlock(&c->mm->lock);
	n = tcemu_table_clear(w->table, 0, tcemu_table_entries(w->table), release_entry, &rc);
	release_flush(&rc);
	if (c->v2 && c->mm)
		tcemu_rwlock_unlock(&c->mm->lock);
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

	CONTAINER_ASSERT_EXCLUSIVE(c);
	TCEMU_ASSERT(slot < TCEMU_PE_WINDOWS);
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

	CONTAINER_ASSERT_EXCLUSIVE(c);
	/* A free slot among the PEs' windows (the callers chose it within the profile's). */
	TCEMU_ASSERT(slot < TCEMU_PE_WINDOWS && !c->windows[slot].table);
	TCEMU_ASSERT(!has_groups(c) || slot < tcemu_pe_profile(c->groups[0]->pe)->windows);
	rc = tcemu_table_geometry(&p, &g);
	if (rc)
		return -EINVAL;
	/* v2 charges each table; v1 was charged the whole window at ENABLE. */
	charge = c->v2 && c->mm ? g.accounted_bytes : 0;
	rc = charge ? mm_account(h, c->mm, charge, true) : 0;
	if (rc)
		return rc;
	rc = table_create_hooked(&p, &h->hook, &t); /* its allocations can be failed */
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

	CONTAINER_ASSERT_EXCLUSIVE(c);
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
	tcemu_rwlock_rdlock(&c->lock);
	if (!c->def_window_pending)
		return 0;
	tcemu_rwlock_unlock(&c->lock);
	container_wrlock(c);
	if (c->def_window_pending) {
		rc = build_default_window(c);
		if (rc == 0)
			*built = c->windows[0].table;
	}
	container_wrunlock(c);
	if (rc)
		return rc;
	tcemu_rwlock_rdlock(&c->lock);
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

	CONTAINER_ASSERT_SHAPE_LOCKED(c);
	TCEMU_ASSERT(!g->attached_to_backend);
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
	TCEMU_ASSERT(c->ngroups < c->gcap);
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

	CONTAINER_ASSERT_SHAPE_LOCKED(c);
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
	__atomic_store_n(&c->mm, NULL, __ATOMIC_RELEASE); /* read without c->lock by vfio/ioctl.c */
	c->enabled = false;
	c->def_window_pending = false;
	c->type = 0;
	c->v2 = false;
}

void backend_detach(struct container *c, struct group *g)
{
	size_t i;

	CONTAINER_ASSERT_SHAPE_LOCKED(c);
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
	TCEMU_ASSERT(g->attached_to_backend);
	g->attached_to_backend = false;
}

/* ---- the sPAPR backend ---- */

/* Records the calling process as the owner (v1 ENABLE; v2 REGISTER, TCE_CREATE, TCE_REMOVE). */
int spapr_record_owner(struct container *c, pid_t caller)
{
	struct mm *mm;
	int rc = 0;

	CONTAINER_ASSERT_BACKEND_CALL(c);
	mm = host_mm_get(c->host, caller, true);
	if (!mm)
		return -ENOMEM;
	container_wrlock(c);
	if (!c->mm)
		__atomic_store_n(&c->mm, mm, __ATOMIC_RELEASE); /* read without c->lock by vfio/ioctl.c */
	else if (c->mm != mm)
		rc = -EPERM;
	container_wrunlock(c);
	return rc;
}

int spapr_need_groups(struct container *c)
{
	int rc;

	CONTAINER_ASSERT_BACKEND_CALL(c);
	tcemu_rwlock_rdlock(&c->lock);
	rc = has_groups(c) ? 0 : -ENXIO;
	tcemu_rwlock_unlock(&c->lock);
	return rc;
}

int spapr_need_enabled(struct container *c)
{
	int rc;

	CONTAINER_ASSERT_BACKEND_CALL(c);
	tcemu_rwlock_rdlock(&c->lock);
	rc = c->enabled ? 0 : -EPERM;
	tcemu_rwlock_unlock(&c->lock);
	return rc;
}

int spapr_need_owner(struct container *c)
{
	int rc;

	CONTAINER_ASSERT_BACKEND_CALL(c);
	tcemu_rwlock_rdlock(&c->lock);
	rc = c->mm ? 0 : -EPERM;
	tcemu_rwlock_unlock(&c->lock);
	return rc;
}

long spapr_get_info(struct container *c, struct vfio_iommu_spapr_tce_info *info, uint32_t *out_len)
{
	const struct tcemu_profile_info *prof;
	struct tcemu_phb_info hi;

	CONTAINER_ASSERT_BACKEND_CALL(c);
	tcemu_rwlock_rdlock(&c->lock);
	if (!has_groups(c)) {
		tcemu_rwlock_unlock(&c->lock);
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
	tcemu_rwlock_unlock(&c->lock);
	if (info->argsz >= sizeof(*info))
		*out_len = sizeof(*info);
	return 0;
}

long spapr_enable(struct container *c, pid_t caller)
{
	struct tcemu_phb_info hi;
	long rc;

	CONTAINER_ASSERT_BACKEND_CALL(c);
	tcemu_rwlock_rdlock(&c->lock);
	rc = c->enabled ? -EBUSY : 0;
	tcemu_rwlock_unlock(&c->lock);
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
	CONTAINER_ASSERT_BACKEND_CALL(c);
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
 * Writes the runs of a map across regions from entry at (user address ua) on: a long run (frames
 * that follow each other across many regions) through the table's linear fill on its own, whose
 * loop runs faster than the fill of a list of runs (bench_vfio --regions: 1 region 2700-2800 M
 * entries per second, 100 regions whose frames follow each other, one run filled as a list,
 * 2380-2430); the short runs between them as lists, so that a chunk is locked once for all the
 * small regions it holds.
 */
static void map_runs(struct tcemu_table *t, uint64_t at, uint64_t ua, uint32_t ps, const struct table_run *runs,
		     size_t n, struct release_ctx *rctx)
{
	const uint64_t long_run = 4096;
	size_t k = 0;

	while (k < n) {
		if (runs[k].count >= long_run) {
			tcemu_table_set_linear(t, at, runs[k].count, runs[k].tce, ua, release_entry, rctx);
			at += runs[k].count;
			ua += runs[k].count << ps;
			k++;
			continue;
		}
		size_t j = k;
		uint64_t entries = 0;

		for (; j < n && runs[j].count < long_run; j++)
			entries += runs[j].count;
		table_set_runs(t, at, entries, ua, &runs[k], j - k, release_entry, rctx);
		at += entries;
		ua += entries << ps;
		k = j;
	}
}

/*
 * v2 map: every IOMMU page must lie in one registered region whose page is at least the IOMMU
 * page. Nothing is written unless everything can be.
 *
 * A map inside one region (the common case: DPDK and QEMU register what they map) holds the
 * process lock shared and counts with one atomic add. A map crossing regions takes the process
 * lock exclusive: then the mapped counts are plain adds. Its check is O(1) (the index's gap
 * counts and its regions counted by page size, vfio/prereg.h), and the regions it crosses, which
 * follow each other in the sorted array, are walked once in index order for the runs and the
 * counts, O(1) each: whatever their order of registration, a region costs its share of the walk
 * and one linear fill (its frames are a run of their own unless they follow the previous region's).
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

	TCEMU_ASSERT_RWLOCKED(&c->lock);
	TCEMU_ASSERT(c->v2 && mm != NULL);
	tcemu_rwlock_rdlock(&mm->lock);
	r = mm_find(mm, vaddr, 1ull << ps);
	if (r && end - r->ua <= r->size) {
		if (r->page_shift < ps) {
			rc = -EPERM; /* the IOMMU page may never exceed the pinned page */
			goto out;
		}
		rc = host_alloc_ok(h) ? tcemu_table_reserve(t, index, npages) : -ENOMEM;
		if (rc)
			goto out;
		struct region_hot *const rh = region_hot(mm, r);

		__atomic_add_fetch(&rh->mapped, npages, __ATOMIC_RELAXED);
		tcemu_table_set_linear(t, index, npages, (rh->hpa + (vaddr - r->ua)) | perm, vaddr, release_entry, &rctx);
		goto done;
	}
	if (!r) {
		rc = -EINVAL;
		goto out;
	}
	tcemu_rwlock_unlock(&mm->lock);
	mm_wrlock(mm);
	exclusive = true;
	/*
	 * Check: regions without a gap from vaddr to end, each with a large enough page. The region of
	 * the last page is found as the first one is; the index tells in O(1) that the regions between
	 * leave no gap and no region has smaller pages (the usual case); else the ordered walk below
	 * finds the error the first bad region gives. (A page at least the IOMMU page, ua and size
	 * aligned to it: no region in between can be shorter than an IOMMU page.)
	 */
	r = mm_find(mm, vaddr, 1ull << ps);
	const struct region *rl = mm_find(mm, end - (1ull << ps), 1ull << ps);
	if (!r) {
		rc = -EINVAL;
		goto out;
	}
	first = (size_t)(r - mm->regions);
	if (rl && mm_span_ok(mm, r, rl, ps)) {
		last = (size_t)(rl - mm->regions);
		goto checked;
	}
	for (last = first;; last++) {
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
	}
checked:
	rc = host_alloc_ok(h) ? tcemu_table_reserve(t, index, npages) : -ENOMEM;
	if (rc)
		goto out;
	/*
	 * From here on nothing can fail. One linear run per stretch of regions whose frames follow
	 * each other (memory_pin_near places them so, whatever the order of registration); each
	 * region counts its pages as the walk passes it (whole: the first and the last region give
	 * back the pages before vaddr and from end on, once). The runs go to the table RUNS at a time
	 * through map_runs, with the user addresses (linear across the regions, which leave no gap).
	 * The walk reads only the regions' frames and counts (mm->hot) and their ends (mm->ends),
	 * never struct region: region i starts where region i - 1 ends.
	 */
	struct region_hot *const hot = mm->hot;
	const uint64_t *const ends = mm->ends;
	const uint64_t head = (vaddr - mm->regions[first].ua) >> ps, tail = (ends[last] - end) >> ps;
	size_t i = first;

	hot[first].mapped -= head;
	hot[last].mapped -= tail;
	for (uint64_t batch = 0, at = index, ua = vaddr; i <= last; batch++) {
		const uint64_t from = i == first ? mm->regions[first].ua : ends[i - 1]; /* the batch's first byte */
		struct table_run runs[RUNS];
		/* the run: its first frame and byte; next: the frame that would continue it; start: region i's */
		uint64_t run_hpa = hot[i].hpa, run_from = from, next = run_hpa, start = from, entries;
		size_t n = 0;

		for (; i <= last; i++) {
			const uint64_t e = ends[i];

			if (hot[i].hpa != next) { /* frames that do not follow the run's */
				if (n == RUNS - 1)
					break; /* the list is full with the run */
				runs[n++] = (struct table_run){ .tce = run_hpa | perm, .count = (start - run_from) >> ps };
				run_hpa = next = hot[i].hpa;
				run_from = start;
			}
			next += e - start;
			hot[i].mapped += (e - start) >> ps;
			start = e;
		}
		runs[n++] = (struct table_run){ .tce = run_hpa | perm, .count = (start - run_from) >> ps };
		entries = (ends[i - 1] - from) >> ps; /* no gap */
		if (batch == 0) {
			runs[0].tce += head << ps;
			runs[0].count -= head;
			entries -= head;
		}
		if (i > last) {
			runs[n - 1].count -= tail;
			entries -= tail;
		}
		map_runs(t, at, ua, ps, runs, n, &rctx);
		at += entries;
		ua += entries << ps;
	}
done:
	release_flush(&rctx);
	host_stat_add(h, &h->stats.entries_mapped, (int64_t)(npages - rctx.released), &h->stats.entries_mapped_peak);
	kill_all(c, slot, index, npages);
out:
	if (exclusive)
		mm_wrunlock(mm);
	else
		tcemu_rwlock_unlock(&mm->lock);
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

	TCEMU_ASSERT_RWLOCKED(&c->lock);
	TCEMU_ASSERT(!c->v2);
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

	CONTAINER_ASSERT_BACKEND_CALL(c);
	rc = lock_shared_with_default_window(c, &built);
	if (rc)
		return rc;
	/* The precheck saw it enabled; a v1 DISABLE since then (under the lock exclusive) wins. */
	if (!c->enabled) {
		rc = -EPERM;
		goto out;
	}
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
	tcemu_rwlock_unlock(&c->lock);
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

	CONTAINER_ASSERT_BACKEND_CALL(c);
	rc = lock_shared_with_default_window(c, &built);
	if (rc)
		return rc;
	if (!c->enabled) { /* as in spapr_map */
		rc = -EPERM;
		goto out;
	}
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
		tcemu_rwlock_rdlock(&c->mm->lock);
	n = tcemu_table_clear(c->windows[slot].table, index, u->size >> tp->page_shift, release_entry, &rctx);
	release_flush(&rctx);
	if (c->v2 && c->mm)
		tcemu_rwlock_unlock(&c->mm->lock);
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
		host_defect_unmap_nothing(h, u->iova, u->size, c->first_fd);
	}
out:
	tcemu_rwlock_unlock(&c->lock);
	if (rc)
		undo_default_window(c, built);
	return rc;
}

long spapr_register(struct container *c, const struct vfio_iommu_spapr_register_memory *r)
{
	long rc;

	CONTAINER_ASSERT_BACKEND_CALL(c);
	container_wrlock(c);
	TCEMU_ASSERT(c->mm != NULL); /* recorded by the precheck; it stays while backend_lock is held */
	rc = mm_register(c->host, c->mm, c, r->vaddr, r->size);
	if (rc == 0)
		c->enabled = true; /* v2: the first registration enables, for good */
	container_wrunlock(c);
	return rc;
}

long spapr_unregister(struct container *c, const struct vfio_iommu_spapr_register_memory *r)
{
	long rc;

	CONTAINER_ASSERT_BACKEND_CALL(c);
	container_wrlock(c);
	TCEMU_ASSERT(c->mm != NULL); /* as in spapr_register */
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

	CONTAINER_ASSERT_BACKEND_CALL(c);
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

	CONTAINER_ASSERT_BACKEND_CALL(c);
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

	CONTAINER_ASSERT_BACKEND_CALL(c);
	if (op->op == VFIO_EEH_PE_INJECT_ERR && argsz < sizeof(*op))
		return -EINVAL;
	tcemu_rwlock_rdlock(&c->lock);
	for (size_t i = 0; i < c->ngroups && rc == 0; i++)
		rc = tcemu_pe_eeh_op(c->groups[i]->pe, op->op, op->err.type, op->err.func);
	tcemu_rwlock_unlock(&c->lock);
	return rc;
}
