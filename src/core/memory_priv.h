/* SPDX-License-Identifier: MIT */
/*
 * Private: what the library's other objects ask the simulated memory (memory.c) beyond the public
 * tcemu/memory.h. Locking: each call takes the memory's mutex (a leaf) for its duration; call it
 * with no spin lock held.
 */
#ifndef TCEMU_SRC_CORE_MEMORY_PRIV_H
#define TCEMU_SRC_CORE_MEMORY_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include <tcemu/memory.h>

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

#endif
