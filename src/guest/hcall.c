/* SPDX-License-Identifier: MIT */
/*
 * The PAPR TCE hypercalls of a guest (H_PUT_TCE, H_PUT_TCE_INDIRECT, H_STUFF_TCE, H_GET_TCE) on
 * the fast (in-kernel, through guest/gate.c), slow (VMM: MAP/UNMAP on each linked container) and
 * combined paths: validation of TCEs and TCE lists, the guest view, and the call statistics. See
 * tcemu/guest.h and docs/guest.md.
 *
 * Locking: guest/guest_priv.h. A hypercall takes no guest lock, only its window's lock.
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/vfio.h>

#include <tcemu/guest.h>
#include <tcemu/host.h>
#include <tcemu/table.h>

#include "core/table_priv.h"
#include "guest/gate.h"
#include "guest/guest_priv.h"
#include "util/grace.h"

static inline void count(uint64_t *field, uint64_t n)
{
	__atomic_add_fetch(field, n, __ATOMIC_RELAXED);
}

/* A window's counter: one writer (the window's lock holder), readers load atomically. */
static inline void bump(uint64_t *field, uint64_t n)
{
	__atomic_store_n(field, *field + n, __ATOMIC_RELAXED);
}

static const struct win_list *win_snapshot(const struct tcemu_guest *g)
{
	return __atomic_load_n(&g->wins, __ATOMIC_ACQUIRE);
}

enum path { FAST, SLOW };

/* ioba inside the window, aligned, with count pages from it. */
static bool ioba_ok(const struct gwin *w, uint64_t ioba, uint64_t n)
{
	uint64_t first = ioba >> w->page_shift;

	return !(ioba & ((1ull << w->page_shift) - 1)) && first >= w->offset && first - w->offset < w->size &&
	       n <= w->size - (first - w->offset);
}

/* Hardware permission of a guest TCE: READ, and WRITE with READ (the host adds READ to WRITE). */
static uint64_t hw_perm(uint64_t tce)
{
	return (tce & TCEMU_TCE_WRITE) ? (TCEMU_TCE_READ | TCEMU_TCE_WRITE) : (tce & TCEMU_TCE_READ);
}

/* Entry k of a TCE list in guest memory, in host order: read once (the guest may be writing it). */
static inline uint64_t guest_tce(const uint64_t *list, uint64_t k)
{
	return be64toh(__atomic_load_n(&list[k], __ATOMIC_RELAXED));
}

/*
 * How many of list[0, max) continue first page by page: first, first + pg, ... (8 at a time,
 * their differences or-ed: one branch for eight). guest: list is in guest memory (guest_tce),
 * else a copy in host order.
 */
static inline __attribute__((always_inline)) uint64_t count_linear(const uint64_t *list, uint64_t max,
								      uint64_t first, uint64_t pg, bool guest)
{
	uint64_t k = 0;

	for (; k + 8 <= max; k += 8) {
		uint64_t diff = 0;

#pragma GCC unroll 8
		for (unsigned i = 0; i < 8; i++)
			diff |= (guest ? guest_tce(list, k + i) : list[k + i]) ^ (first + (k + i) * pg);
		if (diff)
			break;
	}
	while (k < max && (guest ? guest_tce(list, k) : list[k]) == first + k * pg)
		k++;
	return k;
}

/*
 * Validates n guest TCEs (host byte order) and cuts them into runs (struct guest_run): a run maps
 * guest pages that follow each other in one RAM range with the same permission bits, or clears.
 * A TCE is valid if its address bits are page aligned and, with permissions, inside RAM. Every
 * entry is checked before any is applied: H_PARAMETER, nothing done.
 */
static long tces_to_runs(const struct ram_map *m, const struct gwin *w, const uint64_t *tces, uint64_t n,
			 struct guest_run *runs, size_t *nruns)
{
	const uint64_t pg = 1ull << w->page_shift;
	const struct ram *r = NULL;
	size_t k = 0;

	for (uint64_t i = 0, j; i < n; i = j) {
		uint64_t tce = tces[i], gpa = tce & ~TCEMU_TCE_PERM_MASK;

		if (!(tce & TCEMU_TCE_PERM_MASK)) {
			/* a run of clears (the view keeps no address bits: docs/guest.md) */
			for (j = i; j < n && !(tces[j] & TCEMU_TCE_PERM_MASK); j++)
				if (tces[j] & (pg - 1))
					return TCEMU_H_PARAMETER;
			runs[k++] = (struct guest_run){ .at = i, .n = j - i };
			continue;
		}
		if (gpa & (pg - 1))
			return TCEMU_H_PARAMETER;
		/* a list usually stays in one RAM range: try the previous one first */
		if (!r || gpa < r->gpa || gpa - r->gpa >= r->size || pg > r->size - (gpa - r->gpa))
			r = ram_find(m, gpa, pg);
		if (!r)
			return TCEMU_H_PARAMETER;
		/* the following TCEs that continue it: same bits, next page, still in this RAM range */
		if (i + 1 == n || tces[i + 1] != tce + pg)
			j = i + 1; /* a single (scattered pages) */
		else
			j = i + count_linear(&tces[i], tcemu_min_u64(n - i, (r->size - (gpa - r->gpa)) >> w->page_shift), tce, pg,
					     false);
		runs[k++] = (struct guest_run){ .at = i, .n = j - i, .ua = (uint64_t)(uintptr_t)(r->hva + (gpa - r->gpa)),
						.perm = hw_perm(tce), .tce = tce };
	}
	*nruns = k;
	return TCEMU_H_SUCCESS;
}

/*
 * The guest view: each run as one table call, or, for a list of several runs (tces: the list as
 * validated), the list in one call. Levels were reserved by view_reserve, so nothing here can fail.
 */
static void view_put(struct gwin *w, uint64_t ioba, const struct guest_run *runs, size_t nruns, const uint64_t *tces)
{
	const uint64_t base = (ioba - w->start) >> w->page_shift;
	const bool whole = tces && nruns > 1;
	uint64_t set = 0, n = 0;

	/* a TCE without permission bits is a clear: the view keeps no address bits (docs/guest.md) */
	if (whole)
		tcemu_table_set(w->view, base, runs_span(runs, nruns), tces, NULL, NULL, NULL);
	for (size_t i = 0; i < nruns; i++) {
		const struct guest_run *r = &runs[i];

		set += r->ua ? r->n : 0;
		n += r->n;
		if (whole)
			continue;
		if (r->n == 1) /* one entry: a plain store (every writer of the view holds the window's lock) */
			table_store_owned(w->view, base + r->at, r->ua ? r->tce : 0);
		else if (r->ua)
			tcemu_table_set_linear(w->view, base + r->at, r->n, r->tce, 0, NULL, NULL);
		else
			tcemu_table_clear(w->view, base + r->at, r->n, NULL, NULL);
	}
	bump(&w->stats.tces_set, set);
	bump(&w->stats.tces_cleared, n - set);
}

/*
 * Allocates the view levels the runs need (a run of clears needs none; a list of several runs,
 * written in one call, those of its whole span). -ENOMEM.
 */
static int view_reserve(struct gwin *w, uint64_t ioba, const struct guest_run *runs, size_t nruns, const uint64_t *tces)
{
	uint64_t base = (ioba - w->start) >> w->page_shift;

	if (tces && nruns > 1)
		return tcemu_table_reserve(w->view, base, runs_span(runs, nruns));
	for (size_t i = 0; i < nruns; i++) {
		int rc = runs[i].ua ? tcemu_table_reserve(w->view, base + runs[i].at, runs[i].n) : 0;
		if (rc)
			return rc;
	}
	return 0;
}

/* Fast: every linked table through the container fast path (one entry: update_one). Window lock held. */
static long apply_fast(struct gwin *w, uint64_t ioba, const struct guest_run *runs, size_t nruns)
{
	uint64_t failed;

	if (!w->nlinks)
		return TCEMU_H_TOO_HARD; /* an unlinked window belongs to the VMM */
	for (size_t l = 0; l < w->nlinks; l++)
		if (container_guest_put(&w->links[l]->gl, ioba, w->page_shift, runs, nruns, &failed))
			return TCEMU_H_TOO_HARD;
	return TCEMU_H_SUCCESS;
}

/* Slow: what a VMM does, one MAP_DMA or UNMAP_DMA per guest TCE on each linked container. */
static long apply_slow(struct tcemu_guest *g, struct gwin *w, uint64_t ioba, const struct guest_run *runs,
		       size_t nruns)
{
	const uint64_t pg = 1ull << w->page_shift;
	long rc = TCEMU_H_SUCCESS;

	for (size_t l = 0; l < w->nlinks; l++) {
		for (size_t i = 0; i < nruns; i++) {
			const struct guest_run *run = &runs[i];

			for (uint64_t k = 0; k < run->n; k++) {
				uint64_t bus = ioba + ((run->at + k) << w->page_shift);
				long r;

				if (run->ua) {
					struct vfio_iommu_type1_dma_map m = {
						.argsz = sizeof(m),
						.flags = ((run->perm & TCEMU_TCE_READ) ? VFIO_DMA_MAP_FLAG_READ : 0) |
							 ((run->perm & TCEMU_TCE_WRITE) ? VFIO_DMA_MAP_FLAG_WRITE : 0),
						.vaddr = run->ua + k * pg,
						.iova = bus,
						.size = pg,
					};
					r = tcemu_host_ioctl(g->h, w->links[l]->fd, VFIO_IOMMU_MAP_DMA, &m);
				} else {
					struct vfio_iommu_type1_dma_unmap u = { .argsz = sizeof(u), .iova = bus, .size = pg };
					r = tcemu_host_ioctl(g->h, w->links[l]->fd, VFIO_IOMMU_UNMAP_DMA, &u);
				}
				if (r < 0)
					rc = TCEMU_H_HARDWARE;
			}
		}
	}
	return rc;
}

/*
 * update() of one validated entry (H_PUT_TCE, a stuff of one, a list of one): tce the guest TCE
 * (0: a clear), ua its process address (0: a clear) and perm its hardware permission. Inlined
 * into its callers with path known, and without the runs: the hot pair (an H_PUT_TCE and a stuff
 * of one) pays no layer between the window's checks and the container's put1, whose own checks
 * it does not repeat. The view's place is found once, before anything changes.
 */
static inline __attribute__((always_inline)) long update_one(struct tcemu_guest *g, struct gwin *w, enum path path,
							     uint64_t ioba, uint64_t tce, uint64_t ua, uint64_t perm)
{
	if (table_slot_find(w->view, (ioba - w->start) >> w->page_shift, tce != 0, &w->view_slot))
		return TCEMU_H_HARDWARE; /* no memory for the view: nothing changed */
	if (path == FAST) {
		if (!w->nlinks)
			return TCEMU_H_TOO_HARD; /* an unlinked window belongs to the VMM */
		for (size_t l = 0; l < w->nlinks; l++)
			if (container_guest_put1(&w->links[l]->gl, ioba, w->page_shift, ua, perm))
				return TCEMU_H_TOO_HARD;
	}
	table_owned_store(w->view, &w->view_slot, tce);
	bump(tce ? &w->stats.tces_set : &w->stats.tces_cleared, 1);
	if (path == SLOW) {
		const struct guest_run run = { .n = 1, .ua = ua, .perm = perm, .tce = tce };

		return apply_slow(g, w, ioba, &run, 1);
	}
	return TCEMU_H_SUCCESS;
}

/*
 * One update of validated TCEs at ioba: on the fast path, the hardware first, then the view; on
 * the slow path, the view first (the VMM's own table), then MAP/UNMAP. tces: an INDIRECT list as
 * validated (host order), or NULL.
 */
static long update(struct tcemu_guest *g, struct gwin *w, enum path path, uint64_t ioba, const struct guest_run *runs,
		   size_t nruns, const uint64_t *tces)
{
	long rc;

	if (nruns == 1 && runs[0].n == 1)
		return update_one(g, w, path, ioba, runs[0].ua ? runs[0].tce : 0, runs[0].ua, runs[0].perm);
	if (view_reserve(w, ioba, runs, nruns, tces))
		return TCEMU_H_HARDWARE; /* no memory for the view: nothing changed */
	if (path == FAST) {
		/* the view is written after the hardware: its lines are fetched meanwhile (not for a clear) */
		if (nruns > 1 || runs[0].ua)
			table_prefetch_write(w->view, (ioba - w->start) >> w->page_shift, runs_span(runs, nruns));
		rc = apply_fast(w, ioba, runs, nruns);
		if (rc == TCEMU_H_SUCCESS)
			view_put(w, ioba, runs, nruns, tces);
		return rc;
	}
	view_put(w, ioba, runs, nruns, tces);
	return apply_slow(g, w, ioba, runs, nruns);
}

/*
 * tces_to_runs of one TCE, without the runs: its address bits page aligned (a clear's included)
 * and, with permission bits, its page inside RAM.
 */
static inline long h_put_tce(struct gwin *w, enum path path, const struct ram_map *m, struct tcemu_guest *g,
			     const uint64_t *a)
{
	const uint64_t pg = 1ull << w->page_shift, tce = a[2], gpa = tce & ~TCEMU_TCE_PERM_MASK;
	const struct ram *r;

	if (!ioba_ok(w, a[1], 1) || (gpa & (pg - 1)))
		return TCEMU_H_PARAMETER;
	if (!(tce & TCEMU_TCE_PERM_MASK))
		return update_one(g, w, path, a[1], 0, 0, 0);
	r = ram_find(m, gpa, pg);
	if (!r)
		return TCEMU_H_PARAMETER;
	return update_one(g, w, path, a[1], tce, (uint64_t)(uintptr_t)(r->hva + (gpa - r->gpa)), hw_perm(tce));
}

/*
 * A list whose TCEs map page after page of one RAM range with the same bits (a direct map, as
 * Linux guests write) is one run. This checks it while reading the list once, without a copy:
 * each entry is read once, so the run describes what was read even if the guest writes the list
 * meanwhile. false: the list is not such a run (or is invalid); then nothing was decided.
 */
static bool list_one_run(const struct ram_map *m, const struct gwin *w, const uint64_t *list, uint64_t n,
			 struct guest_run *run)
{
	const uint64_t pg = 1ull << w->page_shift;
	const uint64_t first = guest_tce(list, 0), gpa = first & ~TCEMU_TCE_PERM_MASK;
	const struct ram *r;

	if (!(first & TCEMU_TCE_PERM_MASK) || (gpa & (pg - 1)) || !(r = ram_find(m, gpa, n << w->page_shift)))
		return false;
	/* 4 KiB pages (the usual guest) with the step a constant: each entry's TCE one lea from the first */
	if ((pg == 4096 ? count_linear(list, n, first, 4096, true) : count_linear(list, n, first, pg, true)) != n)
		return false;
	*run = (struct guest_run){ .at = 0, .n = n, .ua = (uint64_t)(uintptr_t)(r->hva + (gpa - r->gpa)),
				   .perm = hw_perm(first), .tce = first };
	return true;
}

/* Out of line: its lists (tens of KiB of stack) stay out of the frame of the other calls. */
static __attribute__((noinline)) long h_put_tce_indirect(struct gwin *w, enum path path, const struct ram_map *m,
							 struct tcemu_guest *g, const uint64_t *a)
{
	uint64_t tces[TCEMU_TCE_LIST_MAX], n = a[3];
	struct guest_run runs[TCEMU_TCE_LIST_MAX];
	size_t nruns = 0;
	const struct ram *r;
	long rc;

	if (n > TCEMU_TCE_LIST_MAX || (a[2] & 4095))
		return TCEMU_H_PARAMETER;
	if (!ioba_ok(w, a[1], n))
		return TCEMU_H_PARAMETER;
	if (n == 0)
		return TCEMU_H_SUCCESS;
	r = ram_find(m, a[2], n * 8);
	if (!r)
		return TCEMU_H_PARAMETER;
	const uint64_t *list = (const uint64_t *)(r->hva + (a[2] - r->gpa));
	if (n > 1 && list_one_run(m, w, list, n, &runs[0]))
		return update(g, w, path, a[1], runs, 1, NULL);
	/* Copy the list first (the guest must not change it while it is validated), in host order. */
	for (uint64_t k = 0; k < n; k++)
		tces[k] = guest_tce(list, k);
	rc = tces_to_runs(m, w, tces, n, runs, &nruns);
	if (rc)
		return rc; /* all entries are validated before any is applied */
	return update(g, w, path, a[1], runs, nruns, tces);
}

static inline long h_stuff_tce(struct gwin *w, enum path path, struct tcemu_guest *g, const uint64_t *a)
{
	/* KVM's rule: stuffing is for clearing; a value with permission bits is refused. */
	if (a[2] & TCEMU_TCE_PERM_MASK)
		return TCEMU_H_PARAMETER;
	if (!ioba_ok(w, a[1], a[3]))
		return TCEMU_H_PARAMETER;
	if (a[3] == 0)
		return TCEMU_H_SUCCESS;
	if (a[3] == 1) /* a stuff of one (a streaming buffer's unmap): the short way */
		return update_one(g, w, path, a[1], 0, 0, 0);
	/* The whole range in one run of zeros: one clear per table, one invalidation. */
	const struct guest_run run = { .n = a[3] };

	return update(g, w, path, a[1], &run, 1, NULL);
}

static long h_get_tce(struct gwin *w, const uint64_t *a, uint64_t *ret)
{
	uint64_t tce = 0;

	if (!ioba_ok(w, a[1], 1))
		return TCEMU_H_PARAMETER;
	tcemu_table_get(w->view, (a[1] - w->start) >> w->page_shift, &tce, NULL);
	if (ret)
		*ret = tce;
	return TCEMU_H_SUCCESS;
}

/*
 * Counts a call's outcome in st: a window's (shared false: its lock is held, plain stores) or the
 * guest's (shared true: atomics). first: the call's first path, which counts the call.
 */
static inline void tally(struct tcemu_guest_stats *st, bool shared, enum path path, long rc, bool first)
{
	uint64_t *outcome = rc == TCEMU_H_TOO_HARD ? &st->too_hard
			    : rc != TCEMU_H_SUCCESS  ? &st->errors
			    : path == FAST           ? &st->fast
						     : &st->slow;

	if (shared) {
		if (first)
			count(&st->hcalls, 1);
		count(outcome, 1);
	} else {
		if (first)
			bump(&st->hcalls, 1);
		bump(outcome, 1);
	}
}

/*
 * One hypercall on one path; first: the call's first path (it counts the call). The caller is
 * inside a grace-period read section: the snapshots and the window found in them stay (util/grace.h).
 */
static inline __attribute__((always_inline)) long hcall_in_section(struct tcemu_guest *g, enum path path,
								    unsigned long op, const uint64_t *a, uint64_t *ret,
								    bool first)
{
	struct gwin *w = NULL;
	long rc;

	if (op != TCEMU_H_PUT_TCE && op != TCEMU_H_PUT_TCE_INDIRECT && op != TCEMU_H_STUFF_TCE && op != TCEMU_H_GET_TCE) {
		rc = TCEMU_H_FUNCTION;
		goto no_window;
	}
	if (!a) {
		rc = TCEMU_H_PARAMETER;
		goto no_window;
	}
	if (a[0] <= UINT32_MAX)
		w = win_find(win_snapshot(g), (uint32_t)a[0]);
	if (w) {
		wlock(w, path == FAST ? GUEST_LOCK_HELD | GUEST_LOCK_FAST : GUEST_LOCK_HELD);
		if (w->dead) {
			wunlock(w);
			w = NULL;
		}
	}
	if (!w) {
		/* the fast path does not know every window; the VMM does */
		rc = path == FAST ? TCEMU_H_TOO_HARD : TCEMU_H_PARAMETER;
		goto no_window;
	}
	switch (op) {
	case TCEMU_H_PUT_TCE:
		rc = h_put_tce(w, path, ram_snapshot(g), g, a);
		break;
	case TCEMU_H_PUT_TCE_INDIRECT:
		rc = h_put_tce_indirect(w, path, ram_snapshot(g), g, a);
		break;
	case TCEMU_H_STUFF_TCE:
		rc = h_stuff_tce(w, path, g, a);
		break;
	default:
		rc = path == FAST && !w->nlinks ? TCEMU_H_TOO_HARD : h_get_tce(w, a, ret);
		break;
	}
	tally(&w->stats, false, path, rc, first);
	wunlock(w);
	return rc;

no_window:
	tally(&g->stats, true, path, rc, first);
	return rc;
}

/* Inlined into each entry point: path and first are constants there (the hot pair's layers). */
static inline __attribute__((always_inline)) long hcall(struct tcemu_guest *g, enum path path, unsigned long op,
							const uint64_t *a, uint64_t *ret, bool first)
{
	long rc;

	if (TCEMU_UNLIKELY(grace_read_enter())) {
		/* this thread's first section and no memory for its slot */
		tally(&g->stats, true, path, TCEMU_H_HARDWARE, first);
		return TCEMU_H_HARDWARE;
	}
	rc = hcall_in_section(g, path, op, a, ret, first);
	grace_read_exit();
	return rc;
}

TCEMU_EXPORT long tcemu_guest_hcall_fast(struct tcemu_guest *g, unsigned long opcode, const uint64_t *args, uint64_t *ret)
{
	return hcall(g, FAST, opcode, args, ret, true);
}

TCEMU_EXPORT long tcemu_guest_hcall_slow(struct tcemu_guest *g, unsigned long opcode, const uint64_t *args, uint64_t *ret)
{
	return hcall(g, SLOW, opcode, args, ret, true);
}

TCEMU_EXPORT long tcemu_guest_hcall(struct tcemu_guest *g, unsigned long opcode, const uint64_t *args, uint64_t *ret)
{
	long rc = hcall(g, FAST, opcode, args, ret, true);

	return rc == TCEMU_H_TOO_HARD ? hcall(g, SLOW, opcode, args, ret, false) : rc;
}
