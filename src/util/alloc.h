/* SPDX-License-Identifier: MIT */
/*
 * Private: an allocation hook, so that the objects below the VFIO host (tables, simulated memory)
 * can have their allocations failed on purpose like the host's own (tcemu_host_fail_alloc). An
 * object made by the host gets the host's hook; one made through the public API has none. Every
 * allocation of such an object asks the hook first: false means "fail this one" (-ENOMEM, with
 * the object left as it was, as for a real allocation failure).
 *
 * Locking: the hook is set once, before the object is shared, and never changes; ok() must be
 * callable from any thread (the host's counts with atomics).
 */
#ifndef TCEMU_SRC_UTIL_ALLOC_H
#define TCEMU_SRC_UTIL_ALLOC_H

#include <stdbool.h>
#include <stddef.h>

#include "util/internal.h"

struct tcemu_alloc_hook {
	bool (*ok)(void *opaque); /* NULL: never fail */
	void *opaque;
};

static inline bool alloc_hook_ok(const struct tcemu_alloc_hook *hook)
{
	return TCEMU_LIKELY(!hook->ok) || hook->ok(hook->opaque);
}

#endif
