/* SPDX-License-Identifier: MIT */
/*
 * Private: the record of the process's mappings behind tcemu/maps.h (vfio/maps.c), used by
 * probe_range. One process-wide record; its lock (maps.c's `lock`, a mutex) is a leaf: nothing is
 * called under it. Reports never wait for it (a busy lock makes the next check forget everything).
 */
#ifndef TCEMU_SRC_VFIO_MAPS_H
#define TCEMU_SRC_VFIO_MAPS_H

#include <stdbool.h>
#include <stdint.h>

/* What one kernel query said about the mapping covering a range. */
struct maps_seen {
	uint64_t start, end; /* the mapping */
	bool writable;
	uint32_t shift; /* its page shift (at least the system page's) */
};

/*
 * Whether [ua, end) lies in a remembered mapping with the access: then *shift is its page shift.
 * Counts the check as remembered (true) or asked (false).
 */
bool maps_lookup(uint64_t ua, uint64_t end, bool need_write, uint32_t *shift);
/* The record's generation, read before a kernel query whose answer maps_learn may keep. */
uint64_t maps_generation(void);
/*
 * Remembers what a query made at generation gen said of the mapping covering [ua, end), if nothing
 * was reported since and [ua, end) lies in one mapping reported created.
 */
void maps_learn(uint64_t gen, uint64_t ua, uint64_t end, const struct maps_seen *seen);

#endif
