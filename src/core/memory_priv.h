/* SPDX-License-Identifier: MIT */
/*
 * Private: the simulated memory's entry point for its owner, beyond tcemu/memory.h. Defined in
 * core/memory.c.
 *
 * Locking: memory_set_alloc_hook is called once by the owner (the VFIO host, right after creating
 * the memory and before sharing it); the hook is then read under m->lock by every pin.
 */
#ifndef TCEMU_SRC_CORE_MEMORY_PRIV_H
#define TCEMU_SRC_CORE_MEMORY_PRIV_H

#include <tcemu/memory.h>

#include "util/alloc.h"

/* Every allocation made by pins and unpins from now on asks hook first (util/alloc.h); copied. */
void memory_set_alloc_hook(struct tcemu_memory *m, const struct tcemu_alloc_hook *hook);

#endif
