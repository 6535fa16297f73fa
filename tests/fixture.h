/* SPDX-License-Identifier: MIT */
/*
 * The named fixtures the test programs share (fixture.c). A fixture is a struct that the test
 * keeps on its stack, an open function that fills it and returns 0 or the first error (a test
 * checks it with CHECK_EQ(..., 0)), and a close function. Every descriptor field is -1 when the
 * fixture did not open it.
 *
 * Hosts
 *   fx_host_opts()          host options with an unlimited locked-memory limit
 *   fx_host_new(o)          a host (NULL on error); destroyed when the test ends unless the test
 *                           destroyed it first with fx_host_done(h)
 *
 * struct fx_vfio: a VFIO container and one group, on a host
 *   fx_vfio_attach(f, h, group, type)
 *                           container c and group g (/dev/vfio/<group>) opened on h, g attached
 *                           to c, then VFIO_SET_IOMMU(type) unless type is 0
 *   fx_vfio_open(f, group, type)
 *                           the same on a new host with fx_host_opts() (fx_host_new)
 *   fx_vfio_window(f, npages)
 *                           on a v2 container: npages 4 KiB pages of memory (mem, filled with 0x5a)
 *                           registered, the default window removed and a 1 GiB window of 4 KiB
 *                           pages, one level, created at bus address 0
 *   fx_vfio_v2(f, h, group, npages)
 *                           "the usual v2 container": fx_vfio_attach(v2), then fx_vfio_window
 *                           when npages is not 0
 *   fx_vfio_close(f)        closes g and c; the host stays
 *   fx_vfio_destroy(f)      destroys the host (closing everything) and unmaps mem
 *
 * struct fx_guest: a guest whose RAM (FX_GUEST_RAM bytes at guest physical 0) is registered with
 * a v2 container on group 0 of its host
 *   fx_v2_container(h, path, page_shift, window, &c, &g, ram, reg)
 *                           a v2 container with group `path` attached, the default window
 *                           replaced by `window` bytes of 2^page_shift pages (two levels) at 0,
 *                           and FX_GUEST_RAM bytes at ram registered if reg
 *   fx_guest_ram(f)         host (default options), v2 container on group 0 with its default
 *                           window, RAM registered, a guest with the RAM at 0
 *   fx_guest_linked(f, sys_shift, hshift, gshift, liobn)
 *                           host with system pages of 2^sys_shift (0: this machine's), the
 *                           container of fx_v2_container (1 GiB of 2^hshift pages), a guest with
 *                           the RAM and a guest window `liobn` of 2^gshift pages over 1 GiB at 0,
 *                           linked to the container (the hypercall fast path)
 *   fx_guest_phb(f, params) fx_guest_ram, then a guest PHB made with *params (its container_fd
 *                           set to c); the params used are kept in f->p
 *   fx_guest_close(f)       destroys the PHB, the guest and the host; unmaps the RAM
 *
 * struct fx_dma: the DMA engine below the VFIO layer
 *   fx_dma_open(f)          a platform (default topology), memory of 4 KiB system pages, a DMA
 *                           engine, PE 0 owned, with a 1 GiB window of 4 KiB pages (two levels)
 *                           in slot 0 and a 4 GiB window of 64 KiB pages (one level) in slot 1
 *   fx_dma_close(f)
 *
 * Memory
 *   fx_pages(n)             n 4 KiB pages filled with 0x5a (NULL on error), never freed
 *   fx_umem(size, align, prot)
 *                           anonymous memory aligned to align (a power of two), never freed
 */
#ifndef TCEMU_TESTS_FIXTURE_H
#define TCEMU_TESTS_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tcemu/dma.h>
#include <tcemu/guest.h>
#include <tcemu/host.h>
#include <tcemu/memory.h>
#include <tcemu/platform.h>
#include <tcemu/rtas.h>
#include <tcemu/table.h>

#define FX_PAGE 4096ull
#define FX_GUEST_RAM (64ull << 20)

struct tcemu_host_opts fx_host_opts(void);
struct tcemu_host *fx_host_new(const struct tcemu_host_opts *o);
void fx_host_done(struct tcemu_host *h);

struct fx_vfio {
	struct tcemu_host *h;
	int c, g;       /* the container and the group attached to it */
	uint8_t *mem;   /* fx_vfio_window's memory, mem_size bytes */
	size_t mem_size;
};

long fx_vfio_attach(struct fx_vfio *f, struct tcemu_host *h, unsigned group, int type);
long fx_vfio_open(struct fx_vfio *f, unsigned group, int type);
long fx_vfio_window(struct fx_vfio *f, size_t npages);
long fx_vfio_v2(struct fx_vfio *f, struct tcemu_host *h, unsigned group, size_t npages);
void fx_vfio_close(struct fx_vfio *f);
void fx_vfio_destroy(struct fx_vfio *f);

struct fx_guest {
	struct tcemu_host *h;
	struct tcemu_guest *g;
	int c, grp;                      /* the v2 container and group 0 */
	uint8_t *ram;                    /* FX_GUEST_RAM bytes */
	struct tcemu_guest_phb *phb;     /* fx_guest_phb only */
	struct tcemu_guest_phb_params p; /* fx_guest_phb only */
};

int fx_v2_container(struct tcemu_host *h, const char *group, uint32_t page_shift, uint64_t window, int *c, int *g,
		    uint8_t *ram, bool reg);
int fx_guest_ram(struct fx_guest *f);
int fx_guest_linked(struct fx_guest *f, uint32_t sys_shift, uint32_t hshift, uint32_t gshift, uint64_t liobn);
int fx_guest_phb(struct fx_guest *f, const struct tcemu_guest_phb_params *params);
void fx_guest_close(struct fx_guest *f);

struct fx_dma {
	struct tcemu_platform *p;
	struct tcemu_memory *mem;
	struct tcemu_dma *dma;
	struct tcemu_pe *pe;
	struct tcemu_table *t0, *t1;
};

int fx_dma_open(struct fx_dma *f);
void fx_dma_close(struct fx_dma *f);

uint8_t *fx_pages(size_t n);
uint8_t *fx_umem(uint64_t size, uint64_t align, int prot);

#endif
