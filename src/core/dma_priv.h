/* SPDX-License-Identifier: MIT */
/*
 * Private: the DMA engine's (dma.c) calls for the device models beyond the public tcemu/dma.h:
 * all-or-nothing scatter-gather and the benchmark-only identity mode. Locking as in dma.c.
 */
#ifndef TCEMU_SRC_CORE_DMA_PRIV_H
#define TCEMU_SRC_CORE_DMA_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tcemu/dma.h>

/* One element of a scatter-gather access: len bytes at bus address bus. */
struct dma_sg {
	uint64_t bus;
	size_t len;
};

/*
 * n elements read into buf one after another (write: buf's bytes scattered over them). Every
 * page of every element is translated and checked before any byte moves: a fault transfers
 * nothing, freezes the PE and returns -EIO (the engine's record names the faulting address), as
 * tcemu_dma_read/write do for one element. -EINVAL for bad arguments.
 */
int dma_access_sg(struct tcemu_dma *dma, struct tcemu_pe *pe, const struct dma_sg *sg, size_t n, void *buf,
		  bool write);

/*
 * Identity mode, for the testpmd benchmark only (bench/bench_testpmd.sh; the host turns it on
 * when `tcemu exec --bench-dma-identity` asked for it, model.c): translation is bypassed, a bus
 * address is the process address itself. It is still bounds-checked: every byte of an access
 * must lie in memory pinned in the simulated memory (registered or mapped), as known at the last
 * TCE kill or miss (a snapshot, refreshed then); anything else is a DMA fault as usual.
 * Set once, right after tcemu_dma_create, before any access.
 */
void dma_set_identity(struct tcemu_dma *dma);
bool dma_identity(const struct tcemu_dma *dma);

/*
 * The allocation hook (util/alloc.h) the engine asks before each allocation of an access (the
 * scatter-gather list's growth): the host's, so that tcemu_host_fail_alloc reaches it; an access
 * whose allocation is failed returns -ENOMEM, moves no byte and freezes nothing. NULL: none (the
 * default). Set once, right after tcemu_dma_create, before any access; hook must outlive the engine.
 */
struct tcemu_alloc_hook;
void dma_set_alloc_hook(struct tcemu_dma *dma, const struct tcemu_alloc_hook *hook);

#endif
