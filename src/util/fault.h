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

extern int fault_copy_state; /* fault.c: 0 not installed, 1 installed, -1 cannot be (atomic) */
bool fault_copy_install(void);

/*
 * Whether fault_copy can be used: installs the handler on the first call (a few system calls,
 * once); false on an architecture without the routine or if the handler cannot be installed.
 * Afterwards one atomic load, inline (device DMA asks at every copy).
 */
static inline bool fault_copy_ready(void)
{
	int s = __atomic_load_n(&fault_copy_state, __ATOMIC_ACQUIRE);

	return __builtin_expect(s != 0, 1) ? s > 0 : fault_copy_install();
}
/*
 * Copies len bytes (not overlapping): 0, or -EFAULT if a load or a store faulted (any of dst may
 * have been written then). Packet-sized copies cost about what memcpy does (a `rep movsb` from
 * 256 bytes).
 */
int fault_copy(void *dst, const void *src, size_t len);

#endif
