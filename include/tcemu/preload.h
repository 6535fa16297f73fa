/* SPDX-License-Identifier: MIT */
/*
 * For programs running under libtcemu-preload.so (tcemu exec): the emulated host of the process,
 * to inspect it with the tcemu/host.h API (containers, entries, regions, stats, defects).
 * Declared weak: NULL when the program does not run under the shim.
 */
#ifndef TCEMU_PRELOAD_H
#define TCEMU_PRELOAD_H

#include <tcemu/host.h>

#ifdef __cplusplus
extern "C" {
#endif

__attribute__((weak)) struct tcemu_host *tcemu_preload_host(void);

#ifdef __cplusplus
}
#endif
#endif
