/* SPDX-License-Identifier: MIT */
/*
 * Private: processes (struct mm, the kernel's mm) and their pre-registered regions (struct
 * region), with the mm_* and region_* helpers; defined in vfio/prereg.c (host_mm_get, which finds
 * or makes a process, is vfio/host.c's).
 *
 * Locking (the order is vfio/host_priv.h's: after container->lock, before a PE's lock):
 * - mm->lock (rwlock) protects the region array and its parallel array mm->hot (same index, moved
 *   together), its index (the slots and front, ends, tops, nregions, cap, each region's gaps,
 *   by_shift), each region's users and the accounting (locked, limit). MAP takes it shared to
 *   find regions and bump their mapped counts (atomics); REGISTER, UNREGISTER and a MAP across
 *   regions take it exclusive through mm_wrlock, which first closes the guest gate (guest/gate.h).
 *   A region's frame (region_hot(mm, r)->hpa) is written (or moved) only under mm->lock
 *   exclusive, and read where the region itself may be (mm->lock held, or the guest gate open).
 * - region_hot(mm, r)->mapped changes by atomic adds under mm->lock held shared (a map inside one
 *   region, releases), by plain adds under it held exclusive (a map across regions), and is read under it
 *   held exclusive (UNREGISTER), so an unregister never races a map of the same memory. The guest
 *   fast path, gate open, counts into its link's cache instead (guest/gate.h).
 * - mm->next (the host's list) is under host->mms_lock; host and pid are set when it is made.
 * - The caller holds container->lock exclusive for register/unregister/drop (the container's crefs).
 * In debug builds these rules are asserted (util/lock.h): mm_find and the index updates check
 * mm->lock, register/unregister/drop check the container's lock exclusive (and the guest gate
 * closed), and a region's users stay above 0 until it is freed with no mapping left. mm_find_near,
 * also used by the guest fast path with the gate open, checks only that no other thread holds
 * mm->lock exclusive.
 */
#ifndef TCEMU_SRC_VFIO_PREREG_H
#define TCEMU_SRC_VFIO_PREREG_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/lock.h"

struct tcemu_host;
struct container;

/*
 * A pre-registered region of process memory (v2). Stored inline in its process's sorted array, so
 * a pointer to one is valid only while mm->lock is held (the array moves on register/unregister).
 */
struct region {
	uint64_t ua, size;
	uint32_t page_shift; /* natural alignment of ua|size, capped at the backing page size */
	uint32_t gaps;       /* gaps in the sorted array up to this region (under mm->lock): the
				regions from a to b leave none iff a->gaps == b->gaps */
	uint32_t users;      /* containers referencing it (under mm->lock) */
	bool mlocked;
};

/*
 * The two fields of a region that a MAP across regions reads and writes, kept apart from struct
 * region in an array parallel to mm->regions (mm->hot, moved with it): the walk of such a MAP
 * reads them and mm->ends only, 24 bytes a region instead of a 48-byte region's line share (the
 * walk is bound by memory traffic: the table's fill streams megabytes beside it).
 */
struct region_hot {
	uint64_t hpa;    /* simulated physical address of the region's ua (one contiguous pinned run) */
	uint64_t mapped; /* atomic: IOMMU entries pointing into the region */
};


/* The index's keys per block (two cache lines of the keys' slots): see prereg.c's lower_bound. */
#define MM_KEYS_PER_BLOCK 16

/*
 * A process (the kernel's mm): its regions, sorted by ua, and its locked-memory accounting.
 *
 * The three parallel arrays live in slots with room at both ends (a deque): region i is in slot
 * front + i, so a region added or removed moves the shorter side of the array by one slot, and
 * registering or unregistering in address order or in reverse costs O(1) moves, not O(n).
 */
struct mm {
	struct tcemu_host *host;
	pid_t pid;
	struct tcemu_rwlock lock;
	struct region *regions;  /* sorted by ua, non-overlapping, inline */
	uint64_t *ends;          /* ends[i] = regions[i]->ua + size, the search key; the slots before
	                            ends[0] hold 0, those after the last UINT64_MAX (padding) */
	struct region_hot *hot;  /* hot[i]: regions[i]'s frame and mapped count (region_hot) */
	uint64_t *tops;          /* tops[b]: the last key of block b of the keys' slots (prereg.c) */
	size_t front;            /* slots before regions[0], hot[0] and ends[0] (mm_slots) */
	size_t nregions, cap;    /* cap: slots, a multiple of the block size */
	size_t orphans;          /* regions no container references, kept while entries map into them */
	uint32_t by_shift[64];   /* regions by page_shift */
	uint64_t locked;         /* bytes charged; under lock */
	uint64_t limit;          /* bytes; UINT64_MAX = unlimited */
	struct mm *next;         /* host->mms list, under host->mms_lock */
};

/* The start of an array's slots: its view less the free slots before it (NULL until allocated). */
static inline void *mm_slots(void *view, size_t front, size_t elem)
{
	return view ? (char *)view - front * elem : NULL;
}
static inline uint64_t *mm_end_slots(const struct mm *mm)
{
	return mm_slots(mm->ends, mm->front, sizeof(*mm->ends));
}

/* r's frame and mapped count; r is one of mm's regions (same lock rules as r). */
static inline struct region_hot *region_hot(const struct mm *mm, const struct region *r)
{
	return &mm->hot[r - mm->regions];
}


/* prereg.c (container->lock held exclusive by the caller unless said otherwise) */
int mm_register(struct tcemu_host *h, struct mm *mm, struct container *c, uint64_t ua, uint64_t size);
int mm_unregister(struct tcemu_host *h, struct mm *mm, struct container *c, uint64_t ua, uint64_t size);
void mm_drop_container(struct tcemu_host *h, struct mm *mm, struct container *c);
/* The region containing [ua, ua + size), or NULL. mm->lock held (shared is enough). */
struct region *mm_find(struct mm *mm, uint64_t ua, uint64_t size);
/* mm->lock exclusive, after closing the guest gate. */
void mm_wrlock(struct mm *mm);
void mm_wrunlock(struct mm *mm);
/*
 * Like mm_find, trying first the region at index *hint, then the one after it (a walk over adjacent
 * regions is O(1) per region; SIZE_MAX: no hint); *hint gets the index of the region found.
 */
struct region *mm_find_near(struct mm *mm, size_t *hint, uint64_t ua, uint64_t size);
/*
 * Whether regions a .. b (a <= b, in the array) leave no gap and all have pages of at least 2^ps,
 * in O(1); false may also mean that some region of the process has smaller pages. mm->lock held.
 */
static inline bool mm_span_ok(const struct mm *mm, const struct region *a, const struct region *b, uint32_t ps)
{
	uint32_t smaller = 0;

	for (uint32_t s = 0; s < ps && s < 64; s++)
		smaller |= mm->by_shift[s];
	return a->gaps == b->gaps && !smaller;
}
/* Whether r (may be NULL) holds address ua; and all of [ua, ua + size). */
static inline bool region_has(const struct region *r, uint64_t ua)
{
	return r && ua - r->ua < r->size;
}
static inline bool region_holds(const struct region *r, uint64_t ua, uint64_t size)
{
	return region_has(r, ua) && size <= r->size - (ua - r->ua);
}
/* Charges (charge) or returns bytes against the process's limit: 0 or -ENOMEM. Takes mm->lock. */
int mm_account(struct tcemu_host *h, struct mm *mm, uint64_t bytes, bool charge);
void mm_free(struct tcemu_host *h, struct mm *mm);

#endif
