/* SPDX-License-Identifier: MIT */
/*
 * Private: safe access to client memory (vfio/probe.c): checks and pins of process ranges, and
 * copies of ioctl arguments that give EFAULT instead of a crash (util/fault.c's routine: no system
 * call; the portable way: one). The checks and pins are system calls on this process, except a
 * check answered from the record of remembered mappings (vfio/maps.h). probe.c's one lock,
 * maps_lock, is a leaf that guards the replacement of the descriptor probe_range queries; the
 * record's lock is another leaf, never held together with it.
 */
#ifndef TCEMU_SRC_VFIO_PROBE_H
#define TCEMU_SRC_VFIO_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tcemu_host;

int probe_range(uint64_t ua, uint64_t size, bool need_write, uint32_t *backing_shift);
/* Tests: false makes probe_range read /proc/self/maps instead of querying the kernel (the old way). */
void probe_use_query(bool on);
int probe_pin(uint64_t ua, uint64_t size, bool need_write);
/*
 * Tests: false makes the checked copies take the portable way (process_vm_readv/writev, and where
 * they are refused a probe_range check first) even where the fault-catching routine exists.
 */
void probe_use_fault_copy(bool on);
int copy_from_client(struct tcemu_host *h, void *dst, const void *src, size_t len);
int copy_to_client(struct tcemu_host *h, void *dst, const void *src, size_t len);

#endif
