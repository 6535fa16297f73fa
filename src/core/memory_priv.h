/* SPDX-License-Identifier: MIT */
/*
 * Private: what the library's other objects ask the simulated memory (memory.c) beyond the public
 * tcemu/memory.h. Locking: each call takes the memory's mutex (a leaf) for its duration; call it
 * with no spin lock held. memory_set_alloc_hook is the exception: the owner (the VFIO host) calls
 * it once, right after creating the memory and before sharing it; the hook is then read under the
 * mutex by every pin and unpin.
 */
#ifndef TCEMU_SRC_CORE_MEMORY_PRIV_H
#define TCEMU_SRC_CORE_MEMORY_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include <tcemu/memory.h>

#include "util/alloc.h"

/* A range of process memory: [ua, ua + size). */
struct memory_range {
	uint64_t ua, size;
};

/*
 * The process memory behind every live pin, as ranges sorted by address with overlapping and
 * adjacent pins merged (a snapshot: later pins and unpins do not change it). *out is malloc'ed
 * (NULL when *n is 0); the caller frees it. 0 or -ENOMEM. O(n log n) in the live pins: for the DMA
 * engine's benchmark-only identity mode (dma.c), not for a hot path.
 */
int memory_pinned_ranges(struct tcemu_memory *m, struct memory_range **out, size_t *n);

/* A pinned range of the caller's address space near a new one: ua's frame is hpa. */
struct memory_hint {
	uint64_t ua, hpa;
};

/*
 * tcemu_memory_pin for a range whose caller knows pinned ranges near it in the same address
 * space (pre-registration passes the regions just below and just above, the nearer first):
 * the new run goes, when it can, as far from a hint's frames as the range is from the hint's
 * range (the first hint that allows it wins), so that ranges pinned in any order get frames that
 * follow each other as their addresses do; else, when a hint's block is still open, in a new
 * block with room around it for the ranges that come later; else (no hint, or every hint's block
 * closed) where tcemu_memory_pin would put it (core/memory.c). A hint that names no live pin is
 * ignored. Frames are still never handed out twice; the same range pinned again still gets the
 * same run.
 */
int memory_pin_near(struct tcemu_memory *m, uint64_t ua, uint64_t size, uint32_t align_shift,
		    const struct memory_hint *hints, unsigned nhints, uint64_t *hpa);

/* Every allocation made by pins and unpins from now on asks hook first (util/alloc.h); copied. */
void memory_set_alloc_hook(struct tcemu_memory *m, const struct tcemu_alloc_hook *hook);

#endif
