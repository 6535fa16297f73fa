/* SPDX-License-Identifier: MIT */
/*
 * The POWER platform model: PCI host bridges (PHBs) of the IODA1/2/3 generations, their
 * partitionable endpoints (PEs, each exactly one IOMMU group) and the devices in them.
 *
 * Each PE has two window slots (TVEs). Bus address bit 59 selects the slot: slot 0 below
 * 1 << 59, slot 1 at TCEMU_WINDOW1_START. A window is a reference to a tcemu_table; several PEs
 * may hold the same table (groups sharing a container's tables).
 *
 * A PE is owned either by the host (a default 32-bit window of its own and bypass on) or by an
 * external owner such as a VFIO container (take/release ownership).
 *
 * After every batch of TCE updates, the updater calls tcemu_pe_tce_kill() on each PE using the
 * table; the PE counts the invalidation and calls its invalidation hook (the DMA engine's
 * translation cache listens there).
 *
 * Thread safety: the platform's shape (PHBs, PEs, devices) is immutable after creation and may be
 * read from any thread. Window slots, ownership and the hook of one PE are protected by that PE's
 * mutex; the invalidation counter is atomic. tcemu_pe_tce_kill takes no lock: the hook is an
 * immutable object published atomically. Lock order: PE mutex before any table-internal lock (tables never call back into a PE).
 */
#ifndef TCEMU_PLATFORM_H
#define TCEMU_PLATFORM_H

#include <stdbool.h>

#include <tcemu/common.h>
#include <tcemu/table.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TCEMU_WINDOW1_START 0x0800000000000000ull /* bit 59 */
#define TCEMU_PE_WINDOWS 2

enum tcemu_profile {
	TCEMU_PROFILE_IODA1 = 1, /* P7IOC (POWER7): one fixed 32-bit window, 4K pages */
	TCEMU_PROFILE_IODA2 = 2, /* PHB3 (POWER8): 2 windows, 4K/64K/16M/256M, 5 levels */
	TCEMU_PROFILE_IODA3 = 3, /* PHB4 (POWER9/10): 2 windows, 4K/64K/2M/1G, 5 levels */
};

/* BAR flags (topology and device info). */
#define TCEMU_BAR_MEM64 0x1u    /* 64-bit memory BAR (occupies two BAR slots) */
#define TCEMU_BAR_IO 0x2u       /* I/O space BAR */
#define TCEMU_BAR_PREFETCH 0x4u /* prefetchable memory */
#define TCEMU_BAR_MMAP 0x8u     /* the region may be mmapped by a client */

struct tcemu_profile_info {
	enum tcemu_profile profile;
	const char *name;      /* "ioda1" ... */
	const char *hardware;  /* "P7IOC (POWER7)" ... */
	uint32_t windows;      /* window slots usable per PE: 1 or 2 */
	uint64_t pgsizes;      /* bit n set = page shift n supported */
	uint32_t max_levels;
	uint32_t max_pes;
	bool dynamic_windows;  /* windows can be created and removed (DDW) */
	bool multi_group;      /* several groups may share one container */
};

/* Returns the fixed properties of a profile, or NULL for an unknown value. */
TCEMU_EXPORT const struct tcemu_profile_info *tcemu_profile_info(enum tcemu_profile p);

struct tcemu_platform;
struct tcemu_phb;
struct tcemu_pe;

struct tcemu_platform_opts {
	const char *topology_path; /* a topology file; NULL: topology_text or the embedded default */
	const char *topology_text; /* topology given as text (used when topology_path is NULL) */
	uint32_t sys_page_shift;   /* 12 or 16 overrides the topology; 0: topology, else this machine's */
	struct tcemu_logger logger;
	char *errbuf;              /* where a parse error is described ("file:line: problem"); may be NULL */
	size_t errlen;
};

/*
 * Builds a platform. -EINVAL with a message in opts->errbuf for a bad topology, a negative errno
 * from opening or reading the file, -ENOMEM.
 */
TCEMU_EXPORT int tcemu_platform_create(const struct tcemu_platform_opts *opts, struct tcemu_platform **out);
TCEMU_EXPORT void tcemu_platform_destroy(struct tcemu_platform *p);

/* The embedded default topology, as text. */
TCEMU_EXPORT const char *tcemu_platform_default_topology(void);

TCEMU_EXPORT uint32_t tcemu_platform_page_shift(const struct tcemu_platform *p);
/* The topology's memlock override: true and *bytes (UINT64_MAX = unlimited) if it set one. */
TCEMU_EXPORT bool tcemu_platform_memlock(const struct tcemu_platform *p, uint64_t *bytes);
TCEMU_EXPORT const struct tcemu_logger *tcemu_platform_logger(const struct tcemu_platform *p);

TCEMU_EXPORT size_t tcemu_platform_phb_count(const struct tcemu_platform *p);
TCEMU_EXPORT struct tcemu_phb *tcemu_platform_phb(const struct tcemu_platform *p, size_t i);
/* All PEs of all PHBs, in topology order. */
TCEMU_EXPORT size_t tcemu_platform_pe_count(const struct tcemu_platform *p);
TCEMU_EXPORT struct tcemu_pe *tcemu_platform_pe(const struct tcemu_platform *p, size_t i);
TCEMU_EXPORT struct tcemu_pe *tcemu_platform_pe_by_group(const struct tcemu_platform *p, uint32_t group);
/* The PE holding the device named "DDDD:BB:DD.F" (case-insensitive), or NULL. */
TCEMU_EXPORT struct tcemu_pe *tcemu_platform_pe_by_bdf(const struct tcemu_platform *p, const char *bdf);

struct tcemu_phb_info {
	uint32_t index;
	uint32_t domain;
	const struct tcemu_profile_info *profile;
	uint64_t dma32_size; /* default window size (start 0, 4 KiB pages) */
	size_t npes;
};

TCEMU_EXPORT void tcemu_phb_info(const struct tcemu_phb *phb, struct tcemu_phb_info *info);
TCEMU_EXPORT struct tcemu_pe *tcemu_phb_pe(const struct tcemu_phb *phb, size_t i);

struct tcemu_device_info {
	char bdf[16];
	uint16_t vendor, device;
	uint32_t class_code;
	uint16_t subsys_vendor, subsys_device;
	uint64_t bar_size[6];
	uint32_t bar_flags[6];
	uint64_t rom_size;
	uint8_t revision; /* PCI revision ID: the topology's revision=, else the model's, else 0x01 */
};

struct tcemu_pe_info {
	uint32_t group;
	uint32_t pe_number;
	struct tcemu_phb *phb;
	size_t ndevices;
};

TCEMU_EXPORT void tcemu_pe_info(const struct tcemu_pe *pe, struct tcemu_pe_info *info);
TCEMU_EXPORT const struct tcemu_device_info *tcemu_pe_device(const struct tcemu_pe *pe, size_t i);
TCEMU_EXPORT struct tcemu_phb *tcemu_pe_phb(const struct tcemu_pe *pe);
TCEMU_EXPORT const struct tcemu_profile_info *tcemu_pe_profile(const struct tcemu_pe *pe);
TCEMU_EXPORT uint32_t tcemu_pe_group(const struct tcemu_pe *pe);

/*
 * Window slot of a bus address: 0 below 1 << 59, 1 from 1 << 59 up to 1 << 60, -ERANGE above.
 */
TCEMU_EXPORT int tcemu_window_slot(uint64_t bus_addr);

/*
 * Programs table t into slot (takes a reference). -EINVAL: slot out of range for the profile,
 * page size not supported, too many levels, the table's bus offset not in the slot (slot 1 must
 * start at 1 << 59), or the window running past the slot; -EBUSY: slot already set.
 */
TCEMU_EXPORT int tcemu_pe_set_window(struct tcemu_pe *pe, unsigned slot, struct tcemu_table *t);
/* Unsets a slot (drops the reference) and invalidates the PE. -ENOENT if the slot is empty. */
TCEMU_EXPORT int tcemu_pe_unset_window(struct tcemu_pe *pe, unsigned slot);
/* A new reference to the table in slot, or NULL. The caller unrefs it. */
TCEMU_EXPORT struct tcemu_table *tcemu_pe_window(struct tcemu_pe *pe, unsigned slot);

/*
 * Ownership. take: -EBUSY unless the host owns the PE; drops the host's default window and turns
 * bypass off. release: -EINVAL unless externally owned; unsets any window left, then restores the
 * host's default window and bypass.
 */
TCEMU_EXPORT int tcemu_pe_take_ownership(struct tcemu_pe *pe);
TCEMU_EXPORT int tcemu_pe_release_ownership(struct tcemu_pe *pe);
TCEMU_EXPORT bool tcemu_pe_is_owned(struct tcemu_pe *pe); /* externally owned */
TCEMU_EXPORT bool tcemu_pe_bypass(struct tcemu_pe *pe);

/*
 * TCE invalidation ("TCE kill"): must be called after every batch of updates to a table the PE
 * uses. Counts it and calls the hook with (slot, first index, count). count 0 means "whole PE".
 */
typedef void (*tcemu_tce_kill_fn)(void *opaque, struct tcemu_pe *pe, unsigned slot, uint64_t index, uint64_t count);
TCEMU_EXPORT void tcemu_pe_tce_kill(struct tcemu_pe *pe, unsigned slot, uint64_t index, uint64_t count);
/*
 * Sets (fn NULL: removes) the PE's hook. -ENOMEM. A kill running concurrently may still call the old
 * one. A hook must not call tcemu_pe_invalidations (on a host's PE, that waits for hypercalls in
 * flight, one of which may be the hook's caller).
 */
TCEMU_EXPORT int tcemu_pe_set_kill_hook(struct tcemu_pe *pe, tcemu_tce_kill_fn fn, void *opaque);
/* Kills so far. On a host's PE this includes those the guest fast path keeps back (it counts them first). */
TCEMU_EXPORT uint64_t tcemu_pe_invalidations(const struct tcemu_pe *pe);

/*
 * EEH (eeh.c): a PE freezes on an error (a DMA through an invalid entry, an injected error): MMIO
 * and DMA stop until the owner unfreezes or resets it. States use the VFIO values.
 */
enum tcemu_eeh_state {
	TCEMU_EEH_NORMAL = 0,      /* VFIO_EEH_PE_STATE_NORMAL */
	TCEMU_EEH_RESET = 1,       /* reset asserted */
	TCEMU_EEH_STOPPED = 2,     /* MMIO and DMA stopped */
	TCEMU_EEH_STOPPED_DMA = 4, /* DMA stopped, MMIO works */
	TCEMU_EEH_UNAVAIL = 5,     /* EEH disabled on the PE */
};

/* Freezes the PE (both MMIO and DMA, or DMA only). Counted; a frozen PE stays frozen. */
TCEMU_EXPORT void tcemu_pe_eeh_freeze(struct tcemu_pe *pe, bool dma_only);
TCEMU_EXPORT enum tcemu_eeh_state tcemu_pe_eeh_state(struct tcemu_pe *pe);
TCEMU_EXPORT bool tcemu_pe_dma_stopped(struct tcemu_pe *pe);
TCEMU_EXPORT bool tcemu_pe_mmio_stopped(struct tcemu_pe *pe);
TCEMU_EXPORT uint64_t tcemu_pe_eeh_freezes(struct tcemu_pe *pe);
/*
 * One VFIO_EEH_PE_OP operation (VFIO_EEH_PE_DISABLE ... VFIO_EEH_PE_INJECT_ERR). Returns 0, the
 * state for GET_STATE, or -EINVAL for an unknown op or a bad injection (type not 0 or 1, func
 * above 23). err_* are used by INJECT_ERR only.
 */
TCEMU_EXPORT int tcemu_pe_eeh_op(struct tcemu_pe *pe, uint32_t op, uint32_t err_type, uint32_t err_func);

#ifdef __cplusplus
}
#endif
#endif
