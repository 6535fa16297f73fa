/* SPDX-License-Identifier: MIT */
/*
 * Private: the guest fast path and its gate (guest/gate.c). The guest side (guest/guest.c owns the
 * links, guest/hcall.c calls the fast path) and the VFIO host (whose exclusive lockers close the
 * gate: container_wrlock, mm_wrlock) share it.
 *
 * The guest gate. The guest fast path (a hypercall on a window linked to a container,
 * container_guest_put) takes neither the container's lock nor its process's lock while no
 * exclusive holder of either exists anywhere in the host ("the gate is open"). Its invariants:
 *  1. Announce, then look. A fast-path hypercall announces itself when it takes its window's lock
 *     (GUEST_LOCK_FAST in the lock word, by a sequentially consistent compare-and-swap:
 *     tcemu_spin_lock_as, Dekker's pattern), then checks host->gate_closed. A hypercall that finds
 *     the gate closed stops announcing before it waits for a lock, then takes the container and
 *     process locks shared, as a MAP does.
 *  2. Close, wait, flush. Whoever closes the gate (host_gate_close) counts itself in
 *     host->gate_closed, waits until no linked window's lock word holds GUEST_LOCK_FAST, then
 *     empties every link's cache (container_guest_flush). container_wrlock and mm_wrlock close it
 *     before taking their lock exclusive; readers of the counts close it (or flush it:
 *     host_gate_flush) first too.
 *  3. No waiting while busy. A busy hypercall never waits for any lock but the table chunk spin
 *     locks and the kill hooks' own, so closing the gate is allowed with any lock held.
 *  4. The cache. A link's cache is written by a hypercall while busy with the gate open, or under
 *     host->glink_lock while not busy. While the gate is open, no one reads the counts a cache
 *     keeps back (regions' mapped counts, entries_mapped, PEs' kills) but a closer, who first
 *     empties every cache: so the fast path counts with plain adds into its cache.
 *  5. The container's groups change only after a closer flushed every link, with the gate closed
 *     until done, so a link that holds kills belongs to a container whose groups are not changing.
 *
 * Locking: host->glink_lock (mutex) protects the host's list of links (host->glinks, a link's next
 * and listed); it is a leaf, taken under any of the VFIO host's locks (vfio/host_priv.h) and while
 * a guest window's lock is held. A guest window's lock (guest/guest_priv.h) serializes the
 * hypercalls that use its links. Order: the window's lock, then (gate closed) container->lock,
 * then mm->lock.
 */
#ifndef TCEMU_SRC_GUEST_GATE_H
#define TCEMU_SRC_GUEST_GATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/table_priv.h"
#include "vfio/prereg.h"

struct tcemu_host;
struct container;

/*
 * A run of guest TCEs for the guest fast path: entries [at, at + n) of a call, guest pages that
 * follow each other in process memory (ua: the first one's address; 0: the run clears) with
 * hardware permission perm. tce (the hypercall's) is the first guest TCE of a run that maps.
 */
struct guest_run {
	uint64_t at, n;
	uint64_t ua, perm;
	uint64_t tce;
};

/* The entries a call's runs cover (they follow each other from entry 0). */
static inline uint64_t runs_span(const struct guest_run *runs, size_t nruns)
{
	return nruns ? runs[nruns - 1].at + runs[nruns - 1].n : 0;
}

/*
 * A guest window's link to a container, for the guest fast path. guest/guest.c owns it; its
 * window's lock serializes the hypercalls that use it; its cache follows invariant 4 above.
 */
#define GUEST_LOCK_HELD 1u /* a guest window's lock word: held */
#define GUEST_LOCK_FAST 2u /* held by a fast-path hypercall that may use the gate: busy */

struct guest_link {
	struct container *c;
	uint32_t *lock;           /* its window's lock word (atomic), GUEST_LOCK_FAST: busy */
	bool listed;              /* on host->glinks */
	struct guest_link *next;  /* host->glinks, under host->glink_lock */
	/* the cache: c's window found last (t NULL: none), and the leaf of t used last */
	struct tcemu_table *t;
	struct table_slot leaf;
	unsigned slot;
	uint32_t page_shift;
	uint64_t bus_offset, window_size;
	/* the region of the last translation, and entries counted to it here but not yet in it */
	struct region *r;
	size_t hint;              /* r's index (mm_find_near) */
	int64_t pending;
	/* entries mapped (host stats) but not yet counted there, and their highest value since */
	int64_t entries, entries_high;
	/* TCE kills made on every PE of the container and not yet counted there */
	uint64_t kills;
};

/*
 * Adds delta to r's mapped count (r: a region of mm, as gl's region is). With a guest link's
 * cache: a plain add to the cache when r is its region, else the cache is counted into its region
 * and moves to r (invariant 4). Used by the backend's releases (vfio/container.h) and the fast path.
 */
static inline void mapped_add(struct mm *mm, struct guest_link *gl, struct region *r, int64_t delta)
{
	if (!gl) {
		__atomic_add_fetch(&region_hot(mm, r)->mapped, (uint64_t)delta, __ATOMIC_RELAXED);
		return;
	}
	if (gl->r != r) {
		if (gl->r && gl->pending)
			__atomic_add_fetch(&region_hot(mm, gl->r)->mapped, (uint64_t)gl->pending, __ATOMIC_RELAXED);
		gl->r = r;
		gl->pending = 0;
	}
	gl->pending += delta;
}

/* The gate */
void host_gate_close(struct tcemu_host *h);
void host_gate_open(struct tcemu_host *h);
/* Closes and opens the gate: what the links keep back is counted where it belongs. */
void host_gate_flush(struct tcemu_host *h);
/* Puts gl on the host's list (gl->c set, the rest zero) / takes it off, counting its cache. */
void host_glink_add(struct tcemu_host *h, struct guest_link *gl);
void host_glink_del(struct tcemu_host *h, struct guest_link *gl);

/*
 * The fast path: writes the runs (together, the TCEs [0, total)) of 2^gshift-byte guest pages
 * from bus address bus into the window of gl's container containing it, fanning each guest page
 * out to host entries. Checks everything first: -EAGAIN ("too hard", *failed = the TCE that could
 * not be done, its host entries cleared) or -ENOMEM change nothing else. Invalidates once.
 */
int container_guest_put(struct guest_link *gl, uint64_t bus, uint32_t gshift, const struct guest_run *runs,
			size_t nruns, uint64_t *failed);
/*
 * container_guest_put of one TCE (ua: its process address, 0: a clear; perm: its hardware
 * permission), with a shorter way for the common case. bus is aligned to 2^gshift (the caller
 * checked; the long way checks it again).
 */
int container_guest_put1(struct guest_link *gl, uint64_t bus, uint32_t gshift, uint64_t ua, uint64_t perm);
/* Counts what gl's cache holds into its region and empties the cache. Gate closed or gl unused. */
void container_guest_flush(struct guest_link *gl);
/* Clears what maps [bus, bus + bytes) in the window containing bus (a guest window removed). */
void container_guest_clear(struct container *c, uint64_t bus, uint64_t bytes);
/* 0 if c is v2 and has a window at bus address start with a page <= 2^gshift and >= bytes long. */
int container_window_matches(struct container *c, uint64_t start, uint32_t gshift, uint64_t bytes);

#endif
