/* SPDX-License-Identifier: MIT */
/*
 * What the library may remember of the process's mappings.
 *
 * REGISTER_MEMORY (and a v1 MAP_DMA) must refuse with EFAULT a range that is not mapped with the
 * access it needs, as the kernel's pin does. The library asks the kernel (one PROCMAP_QUERY system
 * call on /proc/self/maps per mapping the range crosses) and, by default, remembers nothing: every
 * check asks again, so whatever the program did to its address space in between is seen.
 *
 * A layer that sees every change the program makes to its mappings (the LD_PRELOAD shim
 * interposes mmap, munmap, mremap, mprotect, pkey_mprotect, shmat, shmdt and syscall) reports them
 * here. Then a mapping the layer saw created is remembered as the kernel described it the first
 * time a check fell inside it, and later checks inside it are answered from memory, with no system
 * call, until a reported change overlaps it. Only mappings reported created are ever remembered:
 * memory that the C library maps and unmaps behind the program's back (malloc's large blocks, its
 * arenas, thread stacks) is always asked about afresh. A forked child starts with nothing
 * remembered. docs/architecture.md ("Checks of client ranges") says what this trusts.
 *
 * Thread-safe; the reports may come from any thread. A report that finds the record busy (another
 * thread, or a signal handler that interrupted a check) makes the library forget everything
 * instead of waiting.
 */
#ifndef TCEMU_MAPS_H
#define TCEMU_MAPS_H

#include <stddef.h>
#include <stdint.h>

#include <tcemu/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A mapping now covers [addr, addr + len): made by mmap or mremap (call after it succeeded).
 * Whatever was remembered over that range (a MAP_FIXED replaced it) is forgotten.
 */
TCEMU_EXPORT void tcemu_maps_created(void *addr, size_t len);

/*
 * [addr, addr + len) may have changed: unmapped, remapped, protected differently (call after the
 * change, whether or not it succeeded). len 0: anything may have changed.
 */
TCEMU_EXPORT void tcemu_maps_changed(void *addr, size_t len);

/* Checks of client ranges so far: asked of the kernel, and answered from memory. */
struct tcemu_maps_stats {
	uint64_t asked;
	uint64_t remembered;
};
TCEMU_EXPORT void tcemu_maps_stats(struct tcemu_maps_stats *st);

#ifdef __cplusplus
}
#endif
#endif
