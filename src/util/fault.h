/* SPDX-License-Identifier: MIT */
/*
 * Private: copies that may fault (util/fault.c). fault_copy copies with a routine whose faults a
 * SIGSEGV/SIGBUS handler turns into -EFAULT; everything else about those signals stays the
 * program's (tcemu/signals.h). Locking: fault.c's fault_lock, a leaf, serializes the installation
 * of the handler and every change of the program's SIGSEGV/SIGBUS disposition through
 * tcemu_sigaction; the handler and fault_copy take no lock.
 */
#ifndef TCEMU_SRC_UTIL_FAULT_H
#define TCEMU_SRC_UTIL_FAULT_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Whether fault_copy can be used: installs the handler on the first call (a few system calls,
 * once); false on an architecture without the routine or if the handler cannot be installed.
 * Afterwards one atomic load.
 */
bool fault_copy_ready(void);
/*
 * Copies len bytes (not overlapping): 0, or -EFAULT if a load or a store faulted (any of dst may
 * have been written then). Packet-sized copies cost about what memcpy does (a `rep movsb` from
 * 256 bytes).
 */
int fault_copy(void *dst, const void *src, size_t len);

#endif
