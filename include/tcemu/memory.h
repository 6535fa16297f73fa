/* SPDX-License-Identifier: MIT */
/*
 * Simulated host physical memory.
 *
 * TCEs must hold host physical addresses, never the process's virtual addresses. tcemu simulates
 * the host's physical address space: pinning a range of process memory assigns it a run of
 * simulated host-physical frames, contiguous and aligned to the requested alignment (so a range
 * backed by 16 MiB pages gets 16 MiB aligned frames), and every frame maps back to the process
 * memory behind it, which is how an emulated device performs DMA.
 *
 * Pinning the same range (same start and size) again while it is pinned returns the same frames
 * and takes a reference, as pinning the same pages twice does on a real host. Different ranges get
 * different frames, even if they overlap (documented in docs/architecture.md).
 * Frames are never reused while the object lives: a stale TCE that points to unpinned frames
 * translates to nothing instead of aliasing new memory.
 *
 * Thread safety: all functions may be called concurrently; one internal mutex.
 */
#ifndef TCEMU_MEMORY_H
#define TCEMU_MEMORY_H

#include <tcemu/common.h>

#ifdef __cplusplus
extern "C" {
#endif

struct tcemu_memory;

struct tcemu_memory_params {
	uint32_t sys_page_shift; /* 12 or 16; 0 means the real page size of this machine */
	uint64_t hpa_base;       /* first simulated physical address; 0 means 1 GiB */
	uint64_t hpa_limit;      /* end of the simulated physical space; 0 means 1 << 50 */
};

/* -EINVAL (bad page shift, base not page aligned, limit <= base), -ENOMEM. */
TCEMU_EXPORT int tcemu_memory_create(const struct tcemu_memory_params *p, struct tcemu_memory **out);
/* Frees everything; pins still held are dropped. NULL is ok. */
TCEMU_EXPORT void tcemu_memory_destroy(struct tcemu_memory *m);

TCEMU_EXPORT uint32_t tcemu_memory_page_shift(const struct tcemu_memory *m);

/*
 * Pins [ua, ua + size) and returns in *hpa the simulated physical address of ua.
 * ua and size must be system-page aligned, size > 0, no wrap: else -EINVAL.
 * align_shift (>= the system page shift, <= 40; 0 means the system page shift) is the alignment of
 * the frames; ua must be aligned to it too (-EINVAL). -ENOSPC when the simulated space is full.
 * This does not touch or check the process memory itself.
 */
TCEMU_EXPORT int tcemu_memory_pin(struct tcemu_memory *m, uint64_t ua, uint64_t size, uint32_t align_shift,
				  uint64_t *hpa);

/*
 * Drops one reference of the pin that contains hpa (any address inside it); the last reference
 * frees the run. -ENOENT if no pin contains hpa.
 */
TCEMU_EXPORT int tcemu_memory_unpin(struct tcemu_memory *m, uint64_t hpa);

/*
 * Maps a simulated physical address back to the process address behind it. *avail (may be NULL)
 * gets the bytes from hpa to the end of its pin. -ENOENT if no live pin contains hpa.
 */
TCEMU_EXPORT int tcemu_memory_hpa_to_ua(struct tcemu_memory *m, uint64_t hpa, uint64_t *ua, uint64_t *avail);

struct tcemu_memory_stats {
	uint64_t pins;         /* live pins (runs) */
	uint64_t pinned_bytes; /* bytes in live pins, each run counted once */
	uint64_t references;   /* sum of pin references */
	uint64_t next_hpa;     /* where the next run would start (before alignment) */
};

TCEMU_EXPORT void tcemu_memory_stats(struct tcemu_memory *m, struct tcemu_memory_stats *st);

#ifdef __cplusplus
}
#endif
#endif
