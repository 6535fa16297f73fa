/* SPDX-License-Identifier: MIT */
/*
 * The guest fast path (the in-kernel fast path of the hypercalls of guest/hcall.c) on a linked
 * v2 container, and its gate: host_gate_close/open/flush and the host's list of guest links. The
 * protocol, its invariants and the locks are guest/gate.h's.
 *
 * The hot path is container_guest_put1 (H_PUT_TCE), with its callees guest_one_done, mapped_add,
 * entries_add and guest_kill: they stay in this file or static inline in headers.
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
	tcemu_mutex_lock(&h->glink_lock);
	gl->next = h->glinks;
	h->glinks = gl;
	gl->listed = true;
	tcemu_mutex_unlock(&h->glink_lock);
}

void host_glink_del(struct tcemu_host *h, struct guest_link *gl)
{
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
	/* A link that holds kills belongs to a container whose groups are not changing (gate.h, 5). */
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
