/* SPDX-License-Identifier: MIT */
/*
 * The guest fast path (the in-kernel fast path of the hypercalls of guest/hcall.c) on a linked
 * v2 container, and its gate: host_gate_close/open/flush and the host's list of guest links. The
 * protocol, its invariants and the locks are guest/gate.h's.
 *
 * A guest TCE is written one of two ways: container_guest_put1, the hot path (H_PUT_TCE, a stuff
 * of one: the cached window, region and leaf, one exchange), whose callees (mapped_add,
 * entries_add, guest_put_done, guest_kill) stay in this file or static inline in headers; and
 * guest_put, the general path (any list of runs, and put1's long way), which checks everything
 * before it writes anything.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>

#include <tcemu/guest.h>
#include <tcemu/table.h>

#include "core/platform_priv.h"
#include "core/table_priv.h"
#include "guest/gate.h"
#include "vfio/container.h"
#include "vfio/host_priv.h"
#include "vfio/prereg.h"

/* ---- the gate ---- */

void host_gate_close(struct tcemu_host *h)
{
	__atomic_add_fetch(&h->gate_closed, 1, __ATOMIC_SEQ_CST);
	tcemu_mutex_lock(&h->glink_lock);
	for (struct guest_link *gl = h->glinks; gl; gl = gl->next) {
		/* a hypercall that set busy before seeing the gate closed finishes; none starts */
		for (unsigned spins = 0; __atomic_load_n(gl->lock, __ATOMIC_SEQ_CST) & GUEST_LOCK_FAST; spins++) {
			if (spins < 1000)
				tcemu_cpu_relax();
			else
				sched_yield();
		}
		container_guest_flush(gl);
	}
	tcemu_mutex_unlock(&h->glink_lock);
}

void host_gate_open(struct tcemu_host *h)
{
	__atomic_sub_fetch(&h->gate_closed, 1, __ATOMIC_RELEASE);
}

void host_gate_flush(struct tcemu_host *h)
{
	host_gate_close(h);
	host_gate_open(h);
}

void host_glink_add(struct tcemu_host *h, struct guest_link *gl)
{
	TCEMU_ASSERT(__atomic_load_n(gl->lock, __ATOMIC_RELAXED) == GUEST_LOCK_HELD); /* its window's lock, not busy */
	tcemu_mutex_lock(&h->glink_lock);
	gl->next = h->glinks;
	h->glinks = gl;
	gl->listed = true;
	tcemu_mutex_unlock(&h->glink_lock);
}

void host_glink_del(struct tcemu_host *h, struct guest_link *gl)
{
	TCEMU_ASSERT(__atomic_load_n(gl->lock, __ATOMIC_RELAXED) == GUEST_LOCK_HELD); /* its window's lock, not busy */
	tcemu_mutex_lock(&h->glink_lock);
	for (struct guest_link **p = &h->glinks; *p; p = &(*p)->next) {
		if (*p == gl) {
			*p = gl->next;
			break;
		}
	}
	gl->listed = false;
	/* Not busy (its window's mutex is held); under the list lock no closer changes the regions. */
	container_guest_flush(gl);
	tcemu_mutex_unlock(&h->glink_lock);
}

/* ---- the fast path ---- */

/* Clears [bus, bus + bytes) of the window containing bus, clipped to it: one call, one kill. */
void container_guest_clear(struct container *c, uint64_t bus, uint64_t bytes)
{
	struct release_ctx rctx = { .c = c };
	const struct tcemu_table_params *tp;
	uint64_t index, count;
	int64_t n;
	int slot;

	tcemu_rwlock_rdlock(&c->lock);
	slot = c->v2 && c->mm ? find_window(c, bus) : -1;
	if (slot < 0)
		goto out;
	tp = tcemu_table_params(c->windows[slot].table);
	rctx.page_shift = tp->page_shift;
	index = (bus - tp->bus_offset) >> tp->page_shift;
	count = tcemu_min_u64(bytes, tp->window_size - (bus - tp->bus_offset)) >> tp->page_shift;
	tcemu_rwlock_rdlock(&c->mm->lock);
	n = tcemu_table_clear(c->windows[slot].table, index, count, release_entry, &rctx);
	release_flush(&rctx);
	tcemu_rwlock_unlock(&c->mm->lock);
	if (n > 0) {
		host_stat_add(c->host, &c->host->stats.entries_mapped, -n, NULL);
		kill_all(c, (unsigned)slot, index, count);
	}
out:
	tcemu_rwlock_unlock(&c->lock);
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
static inline void entries_add(struct tcemu_host *h, struct guest_link *gl, int64_t delta)
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
	TCEMU_ASSERT(__atomic_load_n(&gl->c->host->gate_closed, __ATOMIC_RELAXED) ||
		     !(__atomic_load_n(gl->lock, __ATOMIC_RELAXED) & GUEST_LOCK_FAST)); /* gate closed or gl unused */
	/* A link that holds kills belongs to a container whose groups are not changing (gate.h, 5). */
	if (gl->kills) {
		for (size_t i = 0; i < gl->c->ngroups; i++)
			pe_add_invalidations(gl->c->groups[i]->pe, gl->kills);
		gl->kills = 0;
	}
	if (gl->r && gl->pending)
		__atomic_add_fetch(&region_hot(gl->c->mm, gl->r)->mapped, (uint64_t)gl->pending, __ATOMIC_RELAXED);
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

/* The region holding the page of process address ua (2^shift bytes): r if it does, else looked up. */
static inline struct region *region_of(struct mm *mm, struct region *r, size_t *hint, uint64_t ua, uint32_t shift)
{
	if (region_holds(r, ua, 1ull << shift))
		return r;
	return mm_find_near(mm, hint, ua, 1ull << shift);
}

/*
 * The piece of a mapping run from its guest page k: sets *r to the registered region of mm holding
 * that page (the region used last, *r, is tried first) and returns how many pages from k it holds.
 * 0: no region qualifies (none, or its page is smaller than the host page, 2^hshift): too hard.
 * (The caller passes mm and hshift as locals: with -fno-strict-aliasing, the gathering stores
 * would make the compiler load them again from the link for every page.)
 */
static inline uint64_t run_piece(struct mm *mm, size_t *hint, uint32_t hshift, const struct guest_run *run, uint64_t k,
				 uint32_t gshift, struct region **r)
{
	const uint64_t ua = run->ua + (k << gshift);

	*r = region_of(mm, *r, hint, ua, gshift);
	if (!*r || (*r)->page_shift < hshift)
		return 0;
	return tcemu_min_u64(run->n - k, ((*r)->ua + (*r)->size - ua) >> gshift);
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
 * The end of every guest put (both ways): delta entries more are mapped (added less released), and
 * the call's host entries [index, index + count) are invalidated, once per call; through gl's
 * cache (NULL: at once).
 */
static inline __attribute__((always_inline)) void guest_put_done(struct guest_link *w, struct guest_link *gl,
								 int64_t delta, uint64_t index, uint64_t count)
{
	if (delta)
		entries_add(w->c->host, gl, delta);
	guest_kill(w, gl, index, count);
}

/*
 * The pages a call maps, counted per region after it is written: for up to 4 regions (a call
 * rarely spans more), else every run is walked again (recount).
 */
struct put_counts {
	struct {
		struct region *r;
		uint64_t entries;
	} by[4];
	unsigned n;
	bool recount;
};

static inline void put_count(struct put_counts *pc, struct region *r, uint64_t entries)
{
	unsigned x = 0;

	while (x < pc->n && pc->by[x].r != r)
		x++;
	if (x < pc->n)
		pc->by[x].entries += entries;
	else if (pc->n < 4)
		pc->by[pc->n++] = (typeof(pc->by[0])){ r, entries };
	else
		pc->recount = true;
}

static void put_count_apply(struct guest_link *w, struct guest_link *gl, const struct put_counts *pc, uint32_t gshift,
			    const struct guest_run *runs, size_t nruns)
{
	const uint64_t fan = 1ull << (gshift - w->page_shift);
	struct mm *mm = w->c->mm;
	struct region *r = NULL;

	if (!pc->recount) {
		for (unsigned x = 0; x < pc->n; x++)
			mapped_add(mm, gl, pc->by[x].r, (int64_t)pc->by[x].entries);
		return;
	}
	for (size_t i = 0; i < nruns; i++)
		for (uint64_t k = 0, pages; runs[i].ua && k < runs[i].n; k += pages) {
			pages = run_piece(mm, &w->hint, w->page_shift, &runs[i], k, gshift, &r); /* checked: not 0 */
			mapped_add(mm, gl, r, (int64_t)(pages * fan));
		}
}

/*
 * container_guest_put's work, on the window w describes (its cache, or a copy found under the
 * container lock), counting through gl's cache (NULL: atomics): every guest page is checked
 * first, then the call is written one of two ways:
 *  - gathered: a list of several runs (often every TCE a run of its own: scattered pages) of
 *    guest pages of the host's page size: the entries are gathered into arrays while checked and
 *    written by one table call, as a batch map is;
 *  - linear (anything else: one run, as a direct-map list or a stuff, or guest pages fanned out to
 *    several host entries): one reservation of the call's entries, then one table call per run
 *    and region.
 */
static int guest_put(struct guest_link *w, struct guest_link *gl, uint64_t bus, uint32_t gshift,
		     const struct guest_run *runs, size_t nruns, uint64_t *failed)
{
	struct container *c = w->c;
	struct release_ctx rctx = { .c = c, .page_shift = w->page_shift, .hint = w->hint, .gl = gl };
	struct tcemu_table *t = w->t;
	const uint64_t n = runs_span(runs, nruns);
	uint64_t tces[TCEMU_TCE_LIST_MAX], uas[TCEMU_TCE_LIST_MAX];
	struct put_counts pc = { .n = 0 };
	struct region *r = w->r; /* usually the region used last */
	struct mm *mm = c->mm;
	const uint32_t hshift = w->page_shift;
	uint64_t fan, index, set = 0;
	bool gather;
	int rc = 0;

	TCEMU_ASSERT(!gl || (gl == w && (__atomic_load_n(gl->lock, __ATOMIC_RELAXED) & GUEST_LOCK_FAST)));
	if (w->page_shift > gshift || (bus & ((1ull << gshift) - 1)) ||
	    n > (w->window_size - (bus - w->bus_offset)) >> gshift)
		return -EAGAIN;
	fan = 1ull << (gshift - w->page_shift);
	index = (bus - w->bus_offset) >> w->page_shift;
	gather = fan == 1 && nruns > 1 && n <= TCEMU_TCE_LIST_MAX;
	/* Check every page (and gather the entries); nothing is written or counted yet. */
	for (size_t i = 0; i < nruns; i++) {
		const struct guest_run *run = &runs[i];

		if (!run->ua) {
			if (gather) {
				memset(&tces[run->at], 0, run->n * sizeof(tces[0]));
				memset(&uas[run->at], 0, run->n * sizeof(uas[0]));
			}
			continue;
		}
		for (uint64_t k = 0, pages; k < run->n; k += pages) {
			pages = run_piece(mm, &w->hint, hshift, run, k, gshift, &r);
			if (!pages) {
				/* too hard: the host entries of this TCE are cleared, nothing else changes */
				*failed = run->at + k;
				tcemu_table_clear(t, index + *failed * fan, fan, release_entry, &rctx);
				set = 0; /* nothing gathered is written */
				rc = -EAGAIN;
				goto done;
			}
			if (gather) {
				const uint64_t ua = run->ua + (k << gshift);
				const uint64_t e = (region_hot(mm, r)->hpa + (ua - r->ua)) | run->perm;

				for (uint64_t j = 0; j < pages; j++) {
					tces[run->at + k + j] = e + (j << gshift);
					uas[run->at + k + j] = ua + (j << gshift);
				}
			}
			put_count(&pc, r, pages * fan);
		}
		set += run->n * fan;
	}
	if (set && !host_alloc_ok(c->host))
		return -ENOMEM;
	if (gather) {
		/* every entry of [0, n) was gathered (the runs cover it), which gcc cannot follow */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
		rc = tcemu_table_set(t, index, n, tces, uas, release_entry, &rctx);
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
		if (rc)
			return rc; /* no memory for a level: nothing changed */
	} else {
		rc = set ? tcemu_table_reserve(t, index, n * fan) : 0;
		if (rc)
			return rc; /* nothing changed */
		for (size_t i = 0; i < nruns; i++) {
			const struct guest_run *run = &runs[i];

			if (!run->ua) {
				tcemu_table_clear(t, index + run->at * fan, run->n * fan, release_entry, &rctx);
				continue;
			}
			for (uint64_t k = 0, pages; k < run->n; k += pages) {
				const uint64_t ua = run->ua + (k << gshift);

				pages = run_piece(mm, &w->hint, hshift, run, k, gshift, &r);
				tcemu_table_set_linear(t, index + (run->at + k) * fan, pages * fan,
						       (region_hot(mm, r)->hpa + (ua - r->ua)) | run->perm, ua, release_entry,
						       &rctx);
			}
		}
	}
	put_count_apply(w, gl, &pc, gshift, runs, nruns);
done:
	release_flush(&rctx);
	guest_put_done(w, gl, (int64_t)set - (int64_t)rctx.released, index, n * fan);
	return rc;
}

int container_guest_put(struct guest_link *gl, uint64_t bus, uint32_t gshift, const struct guest_run *runs,
			size_t nruns, uint64_t *failed)
{
	struct container *c = gl->c;
	struct guest_link w;
	int rc;

	TCEMU_ASSERT(__atomic_load_n(gl->lock, __ATOMIC_RELAXED) & GUEST_LOCK_HELD); /* its window's lock */
	*failed = 0;
	/* The gate, invariant 1 (gate.h): announced when it took its window's lock (FAST), now it looks. */
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
	tcemu_rwlock_rdlock(&c->lock);
	rc = guest_window(&w, bus);
	if (!rc) {
		tcemu_rwlock_rdlock(&c->mm->lock);
		rc = guest_put(&w, NULL, bus, gshift, runs, nruns, failed);
		tcemu_rwlock_unlock(&c->mm->lock);
	}
	tcemu_rwlock_unlock(&c->lock);
	return rc;
}

/* container_guest_put1's long way: container_guest_put of its one TCE (out of line: the short way saves its frame). */
static __attribute__((noinline)) int guest_put1_long(struct guest_link *gl, uint64_t bus, uint32_t gshift, uint64_t ua,
						     uint64_t perm)
{
	const struct guest_run run = { .n = 1, .ua = ua, .perm = perm };
	uint64_t failed;

	return container_guest_put(gl, bus, gshift, &run, 1, &failed);
}

int container_guest_put1(struct guest_link *gl, uint64_t bus, uint32_t gshift, uint64_t ua, uint64_t perm)
{
	struct container *c = gl->c;
	const bool added = ua != 0;
	struct region *r;
	uint64_t index, tce = 0;

	TCEMU_ASSERT(__atomic_load_n(gl->lock, __ATOMIC_RELAXED) & GUEST_LOCK_HELD); /* its window's lock */
	TCEMU_ASSERT(!(bus & ((1ull << gshift) - 1))); /* the caller checked (guest_put checks it again) */
	/*
	 * The common case: the gate open (see container_guest_put; only then may the cache be read),
	 * the cached window, the guest page the host page, the region used last, no failure
	 * injection. Anything else: the long way.
	 */
	if (!(__atomic_load_n(gl->lock, __ATOMIC_RELAXED) & GUEST_LOCK_FAST) ||
	    __atomic_load_n(&c->host->gate_closed, __ATOMIC_SEQ_CST))
		return guest_put1_long(gl, bus, gshift, ua, perm);
	r = gl->r; /* the cache: read only once the gate is found open (a closer may be flushing it) */
	if (!gl->t || bus - gl->bus_offset >= gl->window_size || gl->page_shift != gshift ||
	    (added && (!region_holds(r, ua, 1ull << gshift) || r->page_shift < gshift)) ||
	    __atomic_load_n(&c->host->fail_nth, __ATOMIC_RELAXED))
		return guest_put1_long(gl, bus, gshift, ua, perm);
	index = (bus - gl->bus_offset) >> gshift;
	if (table_slot_find(gl->t, index, added, &gl->leaf))
		return -ENOMEM; /* nothing changed */
	if (added)
		tce = (region_hot(c->mm, r)->hpa + (ua - r->ua)) | perm;
	if (gl->leaf.leaf)
		table_slot_xchg(gl->t, &gl->leaf, &tce, &ua); /* tce, ua: the old entry (tce 0: none) */
	if (added)
		mapped_add(c->mm, gl, r, 1);
	if (tce) {
		/* the old entry's region: usually the one just used */
		size_t hint = gl->hint;
		struct region *o = region_has(r, ua) ? r : mm_find_near(c->mm, &hint, ua, 1ull << gshift);

		if (o) /* always: regions with mappings cannot go */
			mapped_add(c->mm, gl, o, -1);
	}
	guest_put_done(gl, gl, (int64_t)added - (tce != 0), index, 1);
	return 0;
}

int container_window_matches(struct container *c, uint64_t start, uint32_t gshift, uint64_t bytes)
{
	int rc = -EINVAL;

	tcemu_rwlock_rdlock(&c->lock);
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
	tcemu_rwlock_unlock(&c->lock);
	return rc;
}
