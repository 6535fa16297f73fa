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

/*
 * tcemu_memory_pin for a range whose caller knows its neighbour: right is the simulated address
 * of the run holding the memory right after [ua, ua + size) (the caller's next region starts
 * at ua + size), or 0. With right, the new run is placed below the downward runs, so that a range
 * pinned just below the newest of them gets the frames right below its frames: ranges pinned in
 * descending address order get frames that follow each other, as ranges pinned in ascending
 * order do above. Frames are still never handed out twice.
 */
int memory_pin_beside(struct tcemu_memory *m, uint64_t ua, uint64_t size, uint32_t align_shift, uint64_t right,
		      uint64_t *hpa);

/* Every allocation made by pins and unpins from now on asks hook first (util/alloc.h); copied. */
void memory_set_alloc_hook(struct tcemu_memory *m, const struct tcemu_alloc_hook *hook);

#endif
