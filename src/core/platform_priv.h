/* SPDX-License-Identifier: MIT */
/*
 * Private: the platform's structures, shared by platform.c and eeh.c.
 * Locking: see platform.c's top comment; pe->lock (a util/lock.h mutex) also protects the EEH
 * fields. In debug builds the rules are asserted: the helpers that need pe->lock check that the
 * caller holds it, and a kill hook is never called with it held (it is a leaf).
 */
#ifndef TCEMU_SRC_PLATFORM_PRIV_H
#define TCEMU_SRC_PLATFORM_PRIV_H

#include <stdbool.h>
#include <stdint.h>

#include <tcemu/platform.h>

#include "util/lock.h"

struct tcemu_model_type;

/* The model the topology put on a device (model=): attached by the host that is built on it. */
struct pe_model {
	const struct tcemu_model_type *type; /* NULL: the plain device */
	char *params;                        /* the model's parameters ("link=...", "disk=..."), or NULL */
};

/* A kill hook is immutable once published; replacing it publishes a new one. */
struct kill_hook {
	tcemu_tce_kill_fn fn;
	void *opaque;
	struct kill_hook *next; /* on the retired list */
};

struct tcemu_pe {
	struct tcemu_platform *plat;
	struct tcemu_phb *phb;
	uint32_t pe_number;
	uint32_t group;
	size_t ndevices;
	struct tcemu_device_info *devices;
	struct pe_model *models; /* one per device */

	struct tcemu_mutex lock;
	struct tcemu_table *windows[TCEMU_PE_WINDOWS];
	bool owned;  /* by an external owner (a VFIO container) */
	bool bypass; /* host-owned: 64-bit bypass window on */
	struct kill_hook *hook;    /* atomic: read without the lock by every TCE kill */
	struct kill_hook *retired; /* replaced hooks, freed with the PE (a kill may still use one) */
	uint64_t invalidations; /* atomic */
	/* Set by the owner (a host) before use: counts into invalidations what it kept elsewhere. */
	void (*sync_kills)(void *opaque);
	void *sync_opaque;
	/* EEH (eeh.c), under lock */
	bool eeh_enabled;
	bool mmio_frozen, dma_frozen;
	bool in_reset;
	uint64_t eeh_freezes; /* times the PE was frozen */
	uint32_t dma_stop;    /* atomic mirror of dma_frozen || in_reset, read without the lock */
};

struct tcemu_phb {
	struct tcemu_platform *plat;
	uint32_t index;
	uint32_t domain;
	const struct tcemu_profile_info *profile;
	uint64_t dma32_size;
	size_t npes;
	struct tcemu_pe **pes; /* points into plat->pes */
};

struct tcemu_platform {
	uint32_t sys_page_shift;
	bool memlock_set;
	uint64_t memlock;
	struct tcemu_logger logger;
	size_t nphbs;
	struct tcemu_phb *phbs;
	size_t npes;
	struct tcemu_pe **pes;
};

/* A TCE kill counted by the caller (pe_add_invalidations later): calls the kill hook only. */
static inline void pe_tce_kill_uncounted(struct tcemu_pe *pe, unsigned slot, uint64_t index, uint64_t count)
{
	struct kill_hook *k = __atomic_load_n(&pe->hook, __ATOMIC_ACQUIRE);

	TCEMU_ASSERT_NOT_HELD(&pe->lock); /* hooks run with the PE's lock dropped */
	if (k)
		k->fn(k->opaque, pe, slot, index, count);
}
void pe_add_invalidations(struct tcemu_pe *pe, uint64_t n);

/* The model of device i of pe (type NULL: none). Immutable after creation. */
static inline const struct pe_model *pe_device_model(const struct tcemu_pe *pe, size_t i)
{
	return &pe->models[i];
}

#endif
