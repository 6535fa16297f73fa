/* SPDX-License-Identifier: MIT */
/* The shared fixtures of fixture.h. */
#include "fixture.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/vfio.h>

#include "harness.h"
#include "vfio/check.h"

#define GiB (1ull << 30)

/* ---- hosts ---- */

struct tcemu_host_opts fx_host_opts(void)
{
	struct tcemu_host_opts o;

	memset(&o, 0, sizeof(o));
	o.memlock_set = true;
	o.memlock = UINT64_MAX;
	return o;
}

/*
 * Destroys a host. In debug builds (the sanitizer builds of CI) every fixture host is first closed
 * and checked (vfio/check.h): accounting back to zero, every TCE gone, every PE back with the
 * host. A broken invariant fails the test.
 */
static void host_destroy_checked(struct tcemu_host *h)
{
#ifndef NDEBUG
	char why[512];

	if (h) {
		tcemu_host_close_all(h);
		if (tcemu_host_check_invariants(h, TCEMU_CHECK_TEARDOWN, why, sizeof(why)))
			HARNESS_FAIL("host invariants at teardown: %s", why);
	}
#endif
	tcemu_host_destroy(h);
}

static void destroy_host(void *h)
{
	host_destroy_checked(h);
}

struct tcemu_host *fx_host_new(const struct tcemu_host_opts *o)
{
	struct tcemu_host *h = NULL;

	if (tcemu_host_create(o, &h))
		return NULL;
	DEFER(destroy_host, h);
	return h;
}

void fx_host_done(struct tcemu_host *h)
{
	harness_undefer(destroy_host, h);
	host_destroy_checked(h);
}

/* ---- VFIO container and group ---- */

long fx_vfio_attach(struct fx_vfio *f, struct tcemu_host *h, unsigned group, int type)
{
	char path[32];
	long rc;

	memset(f, 0, sizeof(*f));
	f->h = h;
	f->c = f->g = -1;
	if (!h)
		return -ENOMEM;
	rc = tcemu_host_open(h, "/dev/vfio/vfio", O_RDWR, &f->c);
	if (rc)
		return rc;
	snprintf(path, sizeof(path), "/dev/vfio/%u", group);
	rc = tcemu_host_open(h, path, O_RDWR, &f->g);
	if (rc)
		return rc;
	rc = tcemu_host_ioctl(h, f->g, VFIO_GROUP_SET_CONTAINER, &f->c);
	if (rc)
		return rc;
	return type ? tcemu_host_ioctl(h, f->c, VFIO_SET_IOMMU, (void *)(uintptr_t)type) : 0;
}

long fx_vfio_open(struct fx_vfio *f, unsigned group, int type)
{
	struct tcemu_host_opts o = fx_host_opts();

	return fx_vfio_attach(f, fx_host_new(&o), group, type);
}

long fx_vfio_window(struct fx_vfio *f, size_t npages)
{
	struct vfio_iommu_spapr_register_memory r = { .argsz = sizeof(r) };
	struct vfio_iommu_spapr_tce_info info = { .argsz = sizeof(info) };
	struct vfio_iommu_spapr_tce_remove rm = { .argsz = sizeof(rm) };
	struct vfio_iommu_spapr_tce_create cr = {
		.argsz = sizeof(cr), .page_shift = 12, .window_size = GiB, .levels = 1,
	};
	long rc;

	f->mem = fx_pages(npages);
	if (!f->mem)
		return -ENOMEM;
	f->mem_size = npages * FX_PAGE;
	r.vaddr = (uintptr_t)f->mem;
	r.size = f->mem_size;
	rc = tcemu_host_ioctl(f->h, f->c, VFIO_IOMMU_SPAPR_REGISTER_MEMORY, &r);
	if (!rc)
		rc = tcemu_host_ioctl(f->h, f->c, VFIO_IOMMU_SPAPR_TCE_GET_INFO, &info);
	if (!rc) {
		rm.start_addr = info.dma32_window_start;
		rc = tcemu_host_ioctl(f->h, f->c, VFIO_IOMMU_SPAPR_TCE_REMOVE, &rm);
	}
	if (!rc)
		rc = tcemu_host_ioctl(f->h, f->c, VFIO_IOMMU_SPAPR_TCE_CREATE, &cr);
	if (!rc && cr.start_addr != 0)
		rc = -ERANGE;
	return rc;
}

long fx_vfio_v2(struct fx_vfio *f, struct tcemu_host *h, unsigned group, size_t npages)
{
	long rc = fx_vfio_attach(f, h, group, VFIO_SPAPR_TCE_v2_IOMMU);

	return rc || !npages ? rc : fx_vfio_window(f, npages);
}

void fx_vfio_close(struct fx_vfio *f)
{
	if (f->g >= 0)
		tcemu_host_close(f->h, f->g);
	if (f->c >= 0)
		tcemu_host_close(f->h, f->c);
	f->g = f->c = -1;
}

void fx_vfio_destroy(struct fx_vfio *f)
{
	host_destroy_checked(f->h);
	if (f->mem)
		munmap(f->mem, f->mem_size);
	f->h = NULL;
	f->mem = NULL;
}

/* ---- guests ---- */

int fx_v2_container(struct tcemu_host *h, const char *group, uint32_t page_shift, uint64_t window, int *c, int *g,
		    uint8_t *ram, bool reg)
{
	struct vfio_iommu_spapr_tce_remove rm = { .argsz = sizeof(rm) };
	struct vfio_iommu_spapr_tce_create cr = { .argsz = sizeof(cr), .page_shift = page_shift, .window_size = window,
						  .levels = 2 };
	struct vfio_iommu_spapr_register_memory r = { .argsz = sizeof(r), .vaddr = (uintptr_t)ram, .size = FX_GUEST_RAM };

	if (tcemu_host_open(h, "/dev/vfio/vfio", 2, c) || tcemu_host_open(h, group, 2, g) ||
	    tcemu_host_ioctl(h, *g, VFIO_GROUP_SET_CONTAINER, c) ||
	    tcemu_host_ioctl(h, *c, VFIO_SET_IOMMU, (void *)VFIO_SPAPR_TCE_v2_IOMMU) ||
	    tcemu_host_ioctl(h, *c, VFIO_IOMMU_SPAPR_TCE_REMOVE, &rm) ||
	    tcemu_host_ioctl(h, *c, VFIO_IOMMU_SPAPR_TCE_CREATE, &cr))
		return -1;
	return reg ? (int)tcemu_host_ioctl(h, *c, VFIO_IOMMU_SPAPR_REGISTER_MEMORY, &r) : 0;
}

static int guest_ram_map(struct fx_guest *f)
{
	memset(f, 0, sizeof(*f));
	f->c = f->grp = -1;
	f->ram = mmap(NULL, FX_GUEST_RAM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (f->ram == MAP_FAILED) {
		f->ram = NULL;
		return -1;
	}
	return 0;
}

int fx_guest_ram(struct fx_guest *f)
{
	struct vfio_iommu_spapr_register_memory r = { .argsz = sizeof(r), .size = FX_GUEST_RAM };

	if (guest_ram_map(f))
		return -1;
	r.vaddr = (uintptr_t)f->ram;
	if (tcemu_host_create(NULL, &f->h) || tcemu_host_open(f->h, "/dev/vfio/vfio", 2, &f->c) ||
	    tcemu_host_open(f->h, "/dev/vfio/0", 2, &f->grp) ||
	    tcemu_host_ioctl(f->h, f->grp, VFIO_GROUP_SET_CONTAINER, &f->c) ||
	    tcemu_host_ioctl(f->h, f->c, VFIO_SET_IOMMU, (void *)VFIO_SPAPR_TCE_v2_IOMMU) ||
	    tcemu_host_ioctl(f->h, f->c, VFIO_IOMMU_SPAPR_REGISTER_MEMORY, &r) || tcemu_guest_create(f->h, &f->g) ||
	    tcemu_guest_add_ram(f->g, 0, FX_GUEST_RAM, f->ram))
		return -1;
	return 0;
}

int fx_guest_linked(struct fx_guest *f, uint32_t sys_shift, uint32_t hshift, uint32_t gshift, uint64_t liobn)
{
	struct tcemu_host_opts o = { .platform.sys_page_shift = sys_shift };

	if (guest_ram_map(f) || tcemu_host_create(&o, &f->h) ||
	    fx_v2_container(f->h, "/dev/vfio/0", hshift, GiB, &f->c, &f->grp, f->ram, true) ||
	    tcemu_guest_create(f->h, &f->g) || tcemu_guest_add_ram(f->g, 0, FX_GUEST_RAM, f->ram) ||
	    tcemu_guest_create_window(f->g, liobn, gshift, 0, GiB >> gshift) || tcemu_guest_link(f->g, liobn, f->c))
		return -1;
	return 0;
}

int fx_guest_phb(struct fx_guest *f, const struct tcemu_guest_phb_params *params)
{
	if (fx_guest_ram(f))
		return -1;
	f->p = *params;
	f->p.container_fd = f->c;
	return tcemu_guest_phb_create(f->g, &f->p, &f->phb);
}

void fx_guest_close(struct fx_guest *f)
{
	tcemu_guest_phb_destroy(f->phb);
	tcemu_guest_destroy(f->g);
	host_destroy_checked(f->h);
	if (f->ram)
		munmap(f->ram, FX_GUEST_RAM);
	f->phb = NULL;
	f->g = NULL;
	f->h = NULL;
	f->ram = NULL;
}

/* ---- DMA engine ---- */

int fx_dma_open(struct fx_dma *f)
{
	struct tcemu_platform_opts po = { 0 };
	struct tcemu_memory_params mp = { .sys_page_shift = 12 };
	struct tcemu_table_params tp0 = { .bus_offset = 0, .window_size = 1ull << 30, .page_shift = 12, .levels = 2 };
	struct tcemu_table_params tp1 = {
		.bus_offset = TCEMU_WINDOW1_START, .window_size = 1ull << 32, .page_shift = 16, .levels = 1
	};

	memset(f, 0, sizeof(*f));
	if (tcemu_platform_create(&po, &f->p) || tcemu_memory_create(&mp, &f->mem))
		return -1;
	f->pe = tcemu_platform_pe(f->p, 0);
	if (tcemu_dma_create(f->p, f->mem, &f->dma) || tcemu_pe_take_ownership(f->pe))
		return -1;
	if (tcemu_table_create(&tp0, &f->t0) || tcemu_table_create(&tp1, &f->t1))
		return -1;
	if (tcemu_pe_set_window(f->pe, 0, f->t0) || tcemu_pe_set_window(f->pe, 1, f->t1))
		return -1;
	return 0;
}

void fx_dma_close(struct fx_dma *f)
{
	tcemu_dma_destroy(f->dma);
	if (f->pe && tcemu_pe_is_owned(f->pe))
		tcemu_pe_release_ownership(f->pe); /* unsets the windows */
	tcemu_table_unref(f->t0);
	tcemu_table_unref(f->t1);
	tcemu_memory_destroy(f->mem);
	tcemu_platform_destroy(f->p);
}

/* ---- memory ---- */

uint8_t *fx_pages(size_t n)
{
	void *p = mmap(NULL, n * FX_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	memset(p, 0x5a, n * FX_PAGE);
	return p;
}

uint8_t *fx_umem(uint64_t size, uint64_t align, int prot)
{
	uint8_t *p = mmap(NULL, size + align, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	return (uint8_t *)(((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1));
}
