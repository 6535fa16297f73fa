/* SPDX-License-Identifier: MIT */
/*
 * Dynamic DMA windows (DDW): the RTAS calls a PAPR guest makes on a guest PHB that holds a
 * passed-through device, as QEMU's pseries machine answers them, with every guest window created
 * here backed by a host window on the device's v2 container and linked to it (tcemu/guest.h).
 *
 *   ibm,query-pe-dma-window  in: config_addr, BUID hi, BUID lo
 *                            out: status, windows available, largest block in TCEs (1 cell, or 2
 *                                 cells hi/lo with 6 outputs), page-size mask, migration mask
 *   ibm,create-pe-dma-window in: config_addr, BUID hi, BUID lo, page_shift, window_shift
 *                            out: status, liobn, start hi, start lo
 *   ibm,remove-pe-dma-window in: liobn                                      out: status
 *   ibm,reset-pe-dma-windows in: config_addr, BUID hi, BUID lo              out: status
 *
 * Status: 0 success, -1 hardware error, -2 busy, -3 parameter error. Nothing is created on a
 * non-zero status. Page-size mask bits: 4K 0x1, 64K 0x2, 16M 0x4, 32M 0x8, 64M 0x10, 128M 0x20,
 * 256M 0x40, 16G 0x80, 2M 0x100 (page sizes the host offers that have no bit are not offered).
 */
#ifndef TCEMU_RTAS_H
#define TCEMU_RTAS_H

#include <tcemu/guest.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TCEMU_RTAS_SUCCESS 0
#define TCEMU_RTAS_HARDWARE_ERROR (-1)
#define TCEMU_RTAS_BUSY (-2)
#define TCEMU_RTAS_PARAMETER_ERROR (-3)

struct tcemu_guest_phb;

struct tcemu_guest_phb_params {
	uint64_t buid;            /* the guest PHB's BUID, e.g. 0x800000020000000 */
	uint32_t config_addr;     /* the device: bus << 16 | devfn << 8 */
	uint32_t default_liobn;   /* the default window's LIOBN, e.g. 0x80000000 */
	uint64_t default_size;    /* the default window: bus 0, 4 KiB pages, this many bytes (1 GiB) */
	uint64_t max_ram;         /* the guest's largest RAM address: bounds the largest block */
	uint32_t ddw_liobn_base;  /* LIOBNs of created windows: base, base + 1 */
	int container_fd;         /* the v2 container of the device's group (type set, group attached) */
	/*
	 * The page size backing guest RAM (0: the system page). A host window's IOMMU page is the
	 * largest page size the host offers that is no larger than min(guest page, RAM page), as
	 * QEMU chooses: each guest TCE then fans out to several host entries.
	 */
	uint32_t ram_page_shift;
};

/*
 * A guest PHB on guest g. Builds the boot-time default window: the container's own default (or
 * whatever window 0 it has) is removed, a host window of default_size at bus 0 with 4 KiB pages
 * is created, the guest window default_liobn is created over it and linked. -EINVAL for bad
 * parameters, or the errno of the container or guest call that failed (nothing is left).
 */
TCEMU_EXPORT int tcemu_guest_phb_create(struct tcemu_guest *g, const struct tcemu_guest_phb_params *p,
					struct tcemu_guest_phb **out);
/* Removes every window this PHB made (guest and host) and frees it. NULL is ok. */
TCEMU_EXPORT void tcemu_guest_phb_destroy(struct tcemu_guest_phb *phb);

/*
 * One RTAS call by name ("ibm,query-pe-dma-window", ...). Returns 0 when the call was made (its
 * status is out[0]), -EINVAL for an unknown name or a wrong number of inputs/outputs (query: 5
 * or 6 outputs).
 */
TCEMU_EXPORT int tcemu_rtas_call(struct tcemu_guest_phb *phb, const char *name, const uint32_t *in, unsigned nin,
				 uint32_t *out, unsigned nout);

struct tcemu_guest_phb_window {
	uint32_t liobn;
	uint32_t page_shift;
	uint64_t start, size; /* bus address and bytes */
	int default_window;   /* 1 for the boot-time default window */
};

/* The PHB's current windows (at most 2); returns how many. */
TCEMU_EXPORT unsigned tcemu_guest_phb_windows(struct tcemu_guest_phb *phb, struct tcemu_guest_phb_window *out);

#ifdef __cplusplus
}
#endif
#endif
