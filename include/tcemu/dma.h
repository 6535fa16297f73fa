/* SPDX-License-Identifier: MIT */
/*
 * The DMA engine: a device behind a PE reads and writes bus addresses, translated through the
 * PE's TCE tables, into the process memory behind the simulated host physical addresses.
 *
 *   struct tcemu_dma *dma;
 *   tcemu_dma_create(platform, memory, &dma);
 *   tcemu_dma_write(dma, pe, bus_addr, data, len);   // device -> memory: needs WRITE in each TCE
 *   tcemu_dma_read(dma, pe, bus_addr, buf, len);     // memory -> device: needs READ
 *
 * Translation: bus address bit 59 selects the window (slot 0 or 1); the window's table gives the
 * host physical page and its permission; the simulated memory maps it back to process memory. An
 * access may cross IOMMU pages (and windows' ends): each page is translated on its own.
 *
 * Cache: each PE has a small translation cache (like a PHB's TCE cache), filled on a miss and
 * invalidated exactly by the TCE kill calls the PE receives (tcemu_pe_tce_kill: the engine
 * registers itself as every PE's kill hook). A TCE changed without a kill may still be used by the
 * device from the cache, as on hardware.
 *
 * Faults: an address outside every window (a TCE extent error), an entry without the needed
 * permission, or a frame with no memory behind it is a fault: nothing is transferred, the PE is
 * frozen (EEH: DMA and MMIO stopped, see tcemu_pe_eeh_*) and the call returns -EIO. While the PE's
 * DMA is stopped every access returns -EIO without freezing again. Recovery is the owner's: EEH
 * unfreeze or reset.
 *
 * Thread safety: any thread may do DMA on any PE; the caches are per PE with a lock each; kill
 * hooks may run concurrently with DMA (a kill during an access makes that access use either the
 * old or the new translation for each page, never a torn one).
 */
#ifndef TCEMU_DMA_H
#define TCEMU_DMA_H

#include <sys/types.h>

#include <tcemu/common.h>
#include <tcemu/memory.h>
#include <tcemu/platform.h>

#ifdef __cplusplus
extern "C" {
#endif

struct tcemu_dma;

/*
 * Creates an engine for every PE of platform p, translating host physical addresses through mem.
 * Installs itself as each PE's kill hook (a PE has one hook: one engine per platform).
 */
TCEMU_EXPORT int tcemu_dma_create(struct tcemu_platform *p, struct tcemu_memory *mem, struct tcemu_dma **out);
/* Removes the kill hooks and frees the engine. NULL is ok. */
TCEMU_EXPORT void tcemu_dma_destroy(struct tcemu_dma *dma);

/* Device reads len bytes of memory at bus address bus into buf. 0 or -EIO (a fault), -EINVAL. */
TCEMU_EXPORT int tcemu_dma_read(struct tcemu_dma *dma, struct tcemu_pe *pe, uint64_t bus, void *buf, size_t len);
/* Device writes len bytes from data to memory at bus address bus. 0 or -EIO (a fault), -EINVAL. */
TCEMU_EXPORT int tcemu_dma_write(struct tcemu_dma *dma, struct tcemu_pe *pe, uint64_t bus, const void *data,
				 size_t len);

enum tcemu_dma_fault_kind {
	TCEMU_DMA_FAULT_NONE = 0,
	TCEMU_DMA_FAULT_EXTENT,     /* no window contains the address */
	TCEMU_DMA_FAULT_PERMISSION, /* the entry is invalid or lacks READ/WRITE */
	TCEMU_DMA_FAULT_NO_MEMORY,  /* the frame has no pinned memory behind it */
	TCEMU_DMA_FAULT_STOPPED,    /* the PE's DMA is stopped (frozen, or in reset) */
	TCEMU_DMA_FAULT_GONE,       /* pinned memory the client unmapped: the copy faulted (no crash) */
};

struct tcemu_dma_stats {
	uint64_t reads, writes;      /* accesses */
	uint64_t bytes_read, bytes_written;
	uint64_t cache_hits, cache_misses;
	uint64_t invalidations;      /* kills the engine received for this PE */
	uint64_t faults;
	enum tcemu_dma_fault_kind last_fault;
	uint64_t last_fault_bus;     /* bus address of the last fault */
};

/* Per-PE counters. -EINVAL if the PE does not belong to the engine's platform. */
TCEMU_EXPORT int tcemu_dma_stats(struct tcemu_dma *dma, struct tcemu_pe *pe, struct tcemu_dma_stats *st);

#ifdef __cplusplus
}
#endif
#endif
