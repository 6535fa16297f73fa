/* SPDX-License-Identifier: MIT */
/*
 * Private: the invariants of a host (vfio/check.c) and of a guest (guest/check.c), for fuzz
 * harnesses and tests. Not exported from the shared library: programs that link the internal
 * archive (tests/, bench/, tests/fuzz/) call them. Each walks the whole state, so it is for the
 * end of a test step, not for a hot path.
 *
 * Locking: the caller makes sure no other thread calls into the host (or the guest) meanwhile;
 * the checkers still take the locks they read under, in the documented order (host->lock, then
 * container->lock shared, then mm->lock shared), after closing the guest gate so that what the
 * fast path keeps back is counted.
 */
#ifndef TCEMU_SRC_VFIO_CHECK_H
#define TCEMU_SRC_VFIO_CHECK_H

#include <stdbool.h>
#include <stddef.h>

#include <tcemu/guest.h>
#include <tcemu/host.h>

#include "util/internal.h"

enum {
	/* No guest view is charged to any process: locked memory must equal what the host charged. */
	TCEMU_CHECK_NO_GUEST = 1u << 0,
	/* The client has closed everything (tcemu_host_close_all): all accounting back to zero. */
	TCEMU_CHECK_TEARDOWN = 1u << 1,
};

/*
 * The host's invariants (flags: TCEMU_CHECK_*):
 *  - every valid TCE of a v2 container points into a region its owner process registered, at the
 *    frame the region pinned for that address; a v1 entry into a live pin of its address;
 *  - each region's mapped count is the number of entries pointing into it, and its users the
 *    containers that reference it; the regions are sorted, disjoint, pinned, and their index
 *    (ends) matches them;
 *  - the host's counters (entries mapped, regions registered, locked bytes) are the sums of the
 *    objects'; a process's locked bytes are what its regions, windows and v1 containers charge
 *    (at least that, or exactly with TCEMU_CHECK_NO_GUEST); the memory's pin references are the
 *    regions plus the v1 entries;
 *  - with TCEMU_CHECK_TEARDOWN: no container, no region, nothing locked, mapped or pinned, every
 *    PE owned by the host again and every group closed.
 * Returns 0, or -1 with the first broken invariant described in why (len bytes, may be 0).
 */
int tcemu_host_check_invariants(struct tcemu_host *h, unsigned flags, char *why, size_t len);

/*
 * The guest's invariants: its windows' views are consistent (chunk counts, page alignment), and
 * every valid hardware entry inside a linked guest window's range is what the guest's view entry
 * there translates to (guest RAM -> process address -> the owner's registered region), never more:
 * the device can reach nothing the guest did not map. Valid when the VMM maps nothing of its own
 * in the linked windows' ranges (the hypercalls, the slow path and the RTAS calls do).
 * Returns 0, or -1 with the reason in why.
 */
int tcemu_guest_check_invariants(struct tcemu_guest *g, char *why, size_t len);

/* The checkers' report: the first broken invariant is described in why (len bytes, may be 0). */
struct check_report {
	char *why;
	size_t len;
	bool broken;
};
/* Records a broken invariant (only the first one is described). Returns -1. */
int check_broken(struct check_report *r, const char *fmt, ...) TCEMU_PRINTF(2, 3);

#endif
