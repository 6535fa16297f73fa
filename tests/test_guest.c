/* SPDX-License-Identifier: MIT */
/*
 * The guest side: windows, RAM, linking conditions, every hypercall rule and return code, fan-out,
 * H_TOO_HARD behaviour, invalidation per call, and the slow path producing the same hardware
 * tables as the fast path on random hypercall streams.
 */
#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/vfio.h>

#include <tcemu/guest.h>

#include "fixture.h"
#include "guest/gate.h"
#include "harness.h"

#define KiB (1ull << 10)
#define MiB (1ull << 20)
#define GiB (1ull << 30)
#define RAM FX_GUEST_RAM
#define LIOBN 0x80000001u

/* fx_guest_linked with this file's LIOBN; fx_sys_shift is the emulated host's page size (0: this machine's). */
static uint32_t fx_sys_shift;

static int fx_open(struct fx_guest *f, uint32_t hshift, uint32_t gshift)
{
	return fx_guest_linked(f, fx_sys_shift, hshift, gshift, LIOBN);
}

static long put(struct fx_guest *f, long (*fn)(struct tcemu_guest *, unsigned long, const uint64_t *, uint64_t *),
		uint64_t liobn, uint64_t ioba, uint64_t tce)
{
	uint64_t a[3] = { liobn, ioba, tce };
	return fn(f->g, TCEMU_H_PUT_TCE, a, NULL);
}

static uint64_t get(struct fx_guest *f, uint64_t ioba)
{
	uint64_t a[2] = { LIOBN, ioba }, tce = ~0ull;
	if (tcemu_guest_hcall(f->g, TCEMU_H_GET_TCE, a, &tce) != TCEMU_H_SUCCESS)
		return ~0ull;
	return tce;
}

static uint64_t hw(struct fx_guest *f, uint64_t iova, uint64_t *ua)
{
	uint64_t tce = ~0ull;
	tcemu_host_container_entry(f->h, f->c, iova, &tce, ua);
	return tce;
}

static uint64_t region_hpa(struct fx_guest *f)
{
	struct tcemu_region_info ri;
	return tcemu_host_regions(f->h, getpid(), &ri, 1) == 1 ? ri.hpa : 0;
}

TEST(window_creation_rules)
{
	struct fx_guest f;

	CHECK_EQ(fx_open(&f, 12, 12), 0);
	CHECK_EQ(tcemu_guest_create_window(f.g, 7, 12, 0, 0), -EINVAL);          /* size 0 */
	CHECK_EQ(tcemu_guest_create_window(f.g, 7, 11, 0, 16), -EINVAL);         /* page shift below 12 */
	CHECK_EQ(tcemu_guest_create_window(f.g, 7, 35, 0, 16), -EINVAL);         /* above 34 */
	CHECK_EQ(tcemu_guest_create_window(f.g, 7, 12, UINT64_MAX - 4, 16), -EINVAL); /* offset + size wraps */
	CHECK_EQ(tcemu_guest_create_window(f.g, 7, 30, 1ull << 40, 1), -EINVAL);  /* bus address overflows */
	CHECK_EQ(tcemu_guest_create_window(f.g, LIOBN, 12, 0, 16), -EBUSY);      /* duplicate LIOBN */
	CHECK_EQ(tcemu_guest_create_window(f.g, 7, 34, 0, 1), 0);                 /* 16 GiB pages */
	CHECK_EQ(tcemu_guest_remove_window(f.g, 7), 0);
	CHECK_EQ(tcemu_guest_remove_window(f.g, 7), -ENOENT);
	fx_guest_close(&f);
}

TEST(window_accounting_enomem)
{
	struct tcemu_host_opts o = { .memlock_set = true, .memlock = 64 * KiB };
	struct tcemu_host *h;
	struct tcemu_guest *g;
	uint64_t locked;

	CHECK_EQ(tcemu_host_create(&o, &h), 0);
	CHECK_EQ(tcemu_guest_create(h, &g), 0);
	CHECK_EQ(tcemu_guest_create_window(g, 1, 12, 0, 4096), 0); /* 32 KiB of TCEs */
	CHECK_EQ(tcemu_host_locked(h, getpid(), &locked, NULL), 0);
	CHECK_U64(locked, 32 * KiB);
	CHECK_EQ(tcemu_guest_create_window(g, 2, 12, 1 << 20, 8192), -ENOMEM); /* 64 KiB more: over */
	CHECK_EQ(tcemu_guest_create_window(g, 2, 12, 1 << 20, 4096), 0);
	tcemu_guest_destroy(g);
	CHECK_EQ(tcemu_host_locked(h, getpid(), &locked, NULL), 0);
	CHECK_U64(locked, 0);
	tcemu_host_destroy(h);
}

TEST(ram_rules)
{
	struct fx_guest f;

	CHECK_EQ(fx_open(&f, 12, 12), 0);
	CHECK_EQ(tcemu_guest_add_ram(f.g, RAM / 2, MiB, f.ram), -EINVAL);      /* overlaps */
	CHECK_EQ(tcemu_guest_add_ram(f.g, RAM + 100, MiB, f.ram), -EINVAL);    /* not aligned */
	CHECK_EQ(tcemu_guest_add_ram(f.g, RAM, 0, f.ram), -EINVAL);            /* empty */
	CHECK(tcemu_guest_gpa_to_hva(f.g, 4096, 8) == f.ram + 4096);
	CHECK(tcemu_guest_gpa_to_hva(f.g, RAM - 4, 8) == NULL);                  /* runs past RAM */
	fx_guest_close(&f);
}

TEST(link_conditions)
{
	struct fx_guest f;
	int c1, g1, nofd = 4321;
	struct vfio_iommu_spapr_tce_create cr2 = { .argsz = sizeof(cr2), .page_shift = 16, .window_size = 1ull << 36,
						   .levels = 2 };

	CHECK_EQ(fx_open(&f, 12, 16), 0);
	CHECK_EQ(tcemu_guest_link(f.g, 99, f.c), -ENOENT);
	CHECK_EQ(tcemu_guest_link(f.g, LIOBN, nofd), -EBADF);
	CHECK_EQ(tcemu_guest_link(f.g, LIOBN, f.grp), -EINVAL); /* not a container */
	/* a guest window larger than the host window */
	CHECK_EQ(tcemu_guest_create_window(f.g, 2, 16, 0, (2 * GiB) >> 16), 0);
	CHECK_EQ(tcemu_guest_link(f.g, 2, f.c), -EINVAL);
	/* not at the same bus start */
	CHECK_EQ(tcemu_guest_create_window(f.g, 3, 16, 1, 16), 0);
	CHECK_EQ(tcemu_guest_link(f.g, 3, f.c), -EINVAL);
	/* host page larger than the guest page: window 1 (64K pages) for a 4K guest window at 1 << 59 */
	CHECK_EQ(tcemu_host_ioctl(f.h, f.c, VFIO_IOMMU_SPAPR_TCE_CREATE, &cr2), 0);
	CHECK_U64(cr2.start_addr, 1ull << 59);
	CHECK_EQ(tcemu_guest_create_window(f.g, 4, 12, (1ull << 59) >> 12, 16), 0);
	CHECK_EQ(tcemu_guest_link(f.g, 4, f.c), -EINVAL);
	CHECK_EQ(tcemu_guest_create_window(f.g, 5, 16, (1ull << 59) >> 16, 16), 0);
	CHECK_EQ(tcemu_guest_link(f.g, 5, f.c), 0);
	/* a v1 container cannot be linked */
	CHECK_EQ(tcemu_host_open(f.h, "/dev/vfio/vfio", 2, &c1), 0);
	CHECK_EQ(tcemu_host_open(f.h, "/dev/vfio/1", 2, &g1), 0);
	CHECK_EQ(tcemu_host_ioctl(f.h, g1, VFIO_GROUP_SET_CONTAINER, &c1), 0);
	CHECK_EQ(tcemu_host_ioctl(f.h, c1, VFIO_SET_IOMMU, (void *)VFIO_SPAPR_TCE_IOMMU), 0);
	CHECK_EQ(tcemu_host_ioctl(f.h, c1, VFIO_IOMMU_ENABLE, NULL), 0);
	CHECK_EQ(tcemu_guest_create_window(f.g, 6, 12, 0, 16), 0);
	CHECK_EQ(tcemu_guest_link(f.g, 6, c1), -EINVAL);
	/* references: link twice, unlink twice, the third unlink finds nothing */
	CHECK_EQ(tcemu_guest_link(f.g, LIOBN, f.c), 0);
	CHECK_EQ(tcemu_guest_unlink(f.g, LIOBN, f.c), 0);
	CHECK_EQ(tcemu_guest_unlink(f.g, LIOBN, f.c), 0);
	CHECK_EQ(tcemu_guest_unlink(f.g, LIOBN, f.c), -ENOENT);
	fx_guest_close(&f);
}

TEST(put_tce_fast_path_and_view)
{
	struct fx_guest f;
	uint64_t ua, hpa;

	CHECK_EQ(fx_open(&f, 12, 12), 0);
	hpa = region_hpa(&f);
	CHECK_EQ(put(&f, tcemu_guest_hcall_fast, LIOBN, 0x5000, 0x3000 | 3), TCEMU_H_SUCCESS);
	CHECK_U64(hw(&f, 0x5000, &ua), (hpa + 0x3000) | 3);
	CHECK_U64(ua, (uintptr_t)f.ram + 0x3000);
	CHECK_U64(get(&f, 0x5000), 0x3000 | 3);
	/* write-only guest TCE: the host adds READ; the view keeps what the guest wrote */
	CHECK_EQ(put(&f, tcemu_guest_hcall_fast, LIOBN, 0x6000, 0x4000 | TCEMU_TCE_WRITE), TCEMU_H_SUCCESS);
	CHECK_U64(hw(&f, 0x6000, NULL), (hpa + 0x4000) | 3);
	CHECK_U64(get(&f, 0x6000), 0x4000 | TCEMU_TCE_WRITE);
	/* read-only */
	CHECK_EQ(put(&f, tcemu_guest_hcall_fast, LIOBN, 0x7000, 0x4000 | TCEMU_TCE_READ), TCEMU_H_SUCCESS);
	CHECK_U64(hw(&f, 0x7000, NULL), (hpa + 0x4000) | TCEMU_TCE_READ);
	/* no permission bits: a clear */
	CHECK_EQ(put(&f, tcemu_guest_hcall_fast, LIOBN, 0x5000, 0x3000), TCEMU_H_SUCCESS);
	CHECK_U64(hw(&f, 0x5000, NULL), 0);
	CHECK_U64(get(&f, 0x5000), 0);
	struct tcemu_region_info ri;
	CHECK_EQ(tcemu_host_regions(f.h, getpid(), &ri, 1), 1);
	CHECK_EQ(ri.mapped, 2); /* 0x6000 and 0x7000 */
	fx_guest_close(&f);
}

/*
 * The fast path counts region references, host entries and PE invalidations in its link and
 * hands them over whenever someone looks (the guest gate): every reader sees exact figures, and
 * an unregister sees the guest's mappings.
 */
TEST(fast_path_counts_are_exact_when_read)
{
	struct vfio_iommu_spapr_register_memory r = { .argsz = sizeof(r) };
	struct tcemu_host_stats st0, st;
	struct tcemu_region_info ri;
	struct fx_guest f;

	CHECK_EQ(fx_open(&f, 12, 12), 0);
	struct tcemu_pe *pe = tcemu_platform_pe_by_group(tcemu_host_platform(f.h), 0);
	uint64_t kills = tcemu_pe_invalidations(pe);
	tcemu_host_stats(f.h, &st0);
	for (unsigned i = 0; i < 300; i++) /* more than the link keeps before it counts on its own */
		CHECK_EQ(put(&f, tcemu_guest_hcall_fast, LIOBN, i * 4096ull, (i * 4096ull) | 3), TCEMU_H_SUCCESS);
	CHECK_EQ(put(&f, tcemu_guest_hcall_fast, LIOBN, 0x1000, 0x1000 | 1), TCEMU_H_SUCCESS); /* a replacement */
	CHECK_EQ(put(&f, tcemu_guest_hcall_fast, LIOBN, 0x2000, 0), TCEMU_H_SUCCESS);          /* a clear */
	CHECK_EQ(tcemu_pe_invalidations(pe), kills + 302); /* once per call */
	CHECK_EQ(tcemu_host_regions(f.h, getpid(), &ri, 1), 1);
	CHECK_EQ(ri.mapped, 299);
	tcemu_host_stats(f.h, &st);
	CHECK_EQ(st.entries_mapped, st0.entries_mapped + 299);
	CHECK(st.entries_mapped_peak >= st0.entries_mapped + 300);
	/* the process's region is in use by the guest's mappings */
	r.vaddr = (uintptr_t)f.ram;
	r.size = RAM;
	CHECK_EQ(tcemu_host_ioctl(f.h, f.c, VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY, &r), -EBUSY);
	/* more calls after the gate closed and opened again, then a clear of everything */
	CHECK_EQ(put(&f, tcemu_guest_hcall_fast, LIOBN, 0x2000, 0x2000 | 3), TCEMU_H_SUCCESS);
	uint64_t a[4] = { LIOBN, 0, 0, 300 };
	CHECK_EQ(tcemu_guest_hcall_fast(f.g, TCEMU_H_STUFF_TCE, a, NULL), TCEMU_H_SUCCESS);
	CHECK_EQ(tcemu_pe_invalidations(pe), kills + 304);
	CHECK_EQ(tcemu_host_regions(f.h, getpid(), &ri, 1), 1);
	CHECK_EQ(ri.mapped, 0);
	tcemu_host_stats(f.h, &st);
	CHECK_EQ(st.entries_mapped, st0.entries_mapped);
	CHECK_EQ(tcemu_host_ioctl(f.h, f.c, VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY, &r), 0);
	/* without the region the fast path cannot translate: too hard, the entry stays clear */
	CHECK_EQ(put(&f, tcemu_guest_hcall_fast, LIOBN, 0x5000, 0x5000 | 3), TCEMU_H_TOO_HARD);
	CHECK_U64(hw(&f, 0x5000, NULL), 0);
	fx_guest_close(&f);
}

/* Counts a link keeps go to the container when the link goes. */
TEST(unlink_hands_over_the_counts)
{
	struct vfio_iommu_spapr_register_memory r = { .argsz = sizeof(r) };
	struct tcemu_region_info ri;
	struct fx_guest f;

	CHECK_EQ(fx_open(&f, 12, 12), 0);
	struct tcemu_pe *pe = tcemu_platform_pe_by_group(tcemu_host_platform(f.h), 0);
	uint64_t kills = tcemu_pe_invalidations(pe);
	for (unsigned i = 0; i < 5; i++)
		CHECK_EQ(put(&f, tcemu_guest_hcall_fast, LIOBN, i * 4096ull, (i * 4096ull) | 3), TCEMU_H_SUCCESS);
	CHECK_EQ(tcemu_guest_unlink(f.g, LIOBN, f.c), 0);
	CHECK_EQ(tcemu_pe_invalidations(pe), kills + 5);
	CHECK_EQ(tcemu_host_regions(f.h, getpid(), &ri, 1), 1);
	CHECK_EQ(ri.mapped, 5); /* the entries stay in the container (the VMM owns them now) */
	r.vaddr = (uintptr_t)f.ram;
	r.size = RAM;
	CHECK_EQ(tcemu_host_ioctl(f.h, f.c, VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY, &r), -EBUSY);
	struct vfio_iommu_type1_dma_unmap u = { .argsz = sizeof(u), .iova = 0, .size = 5 * 4096 };
	CHECK_EQ(tcemu_host_ioctl(f.h, f.c, VFIO_IOMMU_UNMAP_DMA, &u), 0);
	CHECK_EQ(tcemu_host_ioctl(f.h, f.c, VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY, &r), 0);
	fx_guest_close(&f);
}

TEST(put_tce_parameter_errors)
{
	struct fx_guest f;

	CHECK_EQ(fx_open(&f, 12, 16), 0);
	CHECK_EQ(put(&f, tcemu_guest_hcall, LIOBN, 0x1000, 0x10000 | 3), TCEMU_H_PARAMETER);  /* ioba not 64K aligned */
	CHECK_EQ(put(&f, tcemu_guest_hcall, LIOBN, GiB, 0x10000 | 3), TCEMU_H_PARAMETER);     /* past the window */
	CHECK_EQ(put(&f, tcemu_guest_hcall, LIOBN, 0, 0x11000 | 3), TCEMU_H_PARAMETER);      /* gpa not 64K aligned */
	CHECK_EQ(put(&f, tcemu_guest_hcall, LIOBN, 0, RAM | 3), TCEMU_H_PARAMETER);          /* gpa outside RAM */
	CHECK_EQ(put(&f, tcemu_guest_hcall, LIOBN, 0, (RAM - 0x10000) | 3), TCEMU_H_SUCCESS); /* the last page */
	CHECK_EQ(put(&f, tcemu_guest_hcall_fast, 0x1234, 0, 0x10000 | 3), TCEMU_H_TOO_HARD); /* unknown LIOBN */
	CHECK_EQ(put(&f, tcemu_guest_hcall, 0x1234, 0, 0x10000 | 3), TCEMU_H_PARAMETER);
	uint64_t a[2] = { LIOBN, 0 };
	CHECK_EQ(tcemu_guest_hcall(f.g, 0x999, a, NULL), TCEMU_H_FUNCTION);
	fx_guest_close(&f);
}

/* 64 KiB guest pages on a 4 KiB host window: one guest TCE is 16 host entries. */
TEST(fan_out_64k_guest_on_4k_host)
{
	struct fx_guest f;
	uint64_t hpa, ua;

	CHECK_EQ(fx_open(&f, 12, 16), 0);
	hpa = region_hpa(&f);
	CHECK_EQ(put(&f, tcemu_guest_hcall_fast, LIOBN, 0x30000, 0x50000 | 3), TCEMU_H_SUCCESS);
	for (uint64_t k = 0; k < 16; k++) {
		CHECK_U64(hw(&f, 0x30000 + k * 4096, &ua), (hpa + 0x50000 + k * 4096) | 3);
		CHECK_U64(ua, (uintptr_t)f.ram + 0x50000 + k * 4096);
	}
	CHECK_U64(hw(&f, 0x40000, NULL), 0);
	CHECK_U64(hw(&f, 0x2f000, NULL), 0);
	struct tcemu_container_info ci;
	CHECK_EQ(tcemu_host_container_info(f.h, f.c, &ci), 0);
	CHECK_EQ(ci.windows[0].valid_entries, 16);
	fx_guest_close(&f);
}

/* Equal page sizes: one host entry per guest TCE (64K pages need a 64K-page host to back them). */
TEST(equal_page_sizes_one_entry)
{
	struct fx_guest f;

	fx_sys_shift = 16;
	int rc = fx_open(&f, 16, 16);
	fx_sys_shift = 0;
	CHECK_EQ(rc, 0);
	CHECK_EQ(put(&f, tcemu_guest_hcall_fast, LIOBN, 0x30000, 0x50000 | 3), TCEMU_H_SUCCESS);
	struct tcemu_container_info ci;
	CHECK_EQ(tcemu_host_container_info(f.h, f.c, &ci), 0);
	CHECK_EQ(ci.windows[0].valid_entries, 1);
	CHECK_U64(hw(&f, 0x30000, NULL), (region_hpa(&f) + 0x50000) | 3);
	fx_guest_close(&f);
}

/* A 64K host window over memory backed by 4K pages: the fast path cannot, the VMM cannot either. */
TEST(host_page_larger_than_backing_is_too_hard)
{
	struct fx_guest f;

	CHECK_EQ(fx_open(&f, 16, 16), 0);
	CHECK_EQ(put(&f, tcemu_guest_hcall_fast, LIOBN, 0x30000, 0x50000 | 3), TCEMU_H_TOO_HARD);
	CHECK_EQ(put(&f, tcemu_guest_hcall, LIOBN, 0x30000, 0x50000 | 3), TCEMU_H_HARDWARE);
	CHECK_U64(hw(&f, 0x30000, NULL), 0);
	fx_guest_close(&f);
}

/* Writes a big-endian TCE list into guest RAM at gpa. */
static void tce_list(struct fx_guest *f, uint64_t gpa, const uint64_t *tces, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		uint64_t be = htobe64(tces[i]);
		memcpy(f->ram + gpa + i * 8, &be, 8);
	}
}

TEST(put_tce_indirect_rules)
{
	struct fx_guest f;
	uint64_t tces[512], a[4], hpa;
	const uint64_t list = 32 * MiB;

	CHECK_EQ(fx_open(&f, 12, 12), 0);
	hpa = region_hpa(&f);
	for (unsigned i = 0; i < 512; i++)
		tces[i] = ((uint64_t)i * 4096) | 3;
	tce_list(&f, list, tces, 512);
	a[0] = LIOBN, a[1] = 0x100000, a[2] = list, a[3] = 513;
	CHECK_EQ(tcemu_guest_hcall(f.g, TCEMU_H_PUT_TCE_INDIRECT, a, NULL), TCEMU_H_PARAMETER); /* > 512 */
	a[3] = 512, a[2] = list + 8;
	CHECK_EQ(tcemu_guest_hcall(f.g, TCEMU_H_PUT_TCE_INDIRECT, a, NULL), TCEMU_H_PARAMETER); /* list not 4K aligned */
	a[2] = RAM;
	CHECK_EQ(tcemu_guest_hcall(f.g, TCEMU_H_PUT_TCE_INDIRECT, a, NULL), TCEMU_H_PARAMETER); /* list outside RAM */
	a[2] = list, a[1] = GiB - 511 * 4096ull;
	CHECK_EQ(tcemu_guest_hcall(f.g, TCEMU_H_PUT_TCE_INDIRECT, a, NULL), TCEMU_H_PARAMETER); /* runs past the end */
	/* one bad entry (the 300th points outside RAM): nothing is applied */
	tces[300] = RAM | 3;
	tce_list(&f, list, tces, 512);
	a[1] = 0x100000;
	CHECK_EQ(tcemu_guest_hcall(f.g, TCEMU_H_PUT_TCE_INDIRECT, a, NULL), TCEMU_H_PARAMETER);
	CHECK_U64(hw(&f, 0x100000, NULL), 0);
	CHECK_U64(get(&f, 0x100000), 0);
	/* all good: 512 entries, one call, one invalidation of the PE */
	tces[300] = (300ull * 4096) | 3;
	tce_list(&f, list, tces, 512);
	struct tcemu_pe *pe = tcemu_platform_pe_by_group(tcemu_host_platform(f.h), 0);
	uint64_t kills = tcemu_pe_invalidations(pe);
	CHECK_EQ(tcemu_guest_hcall_fast(f.g, TCEMU_H_PUT_TCE_INDIRECT, a, NULL), TCEMU_H_SUCCESS);
	CHECK_EQ(tcemu_pe_invalidations(pe), kills + 1);
	for (unsigned i = 0; i < 512; i += 73) {
		CHECK_U64(hw(&f, 0x100000 + i * 4096ull, NULL), (hpa + i * 4096ull) | 3);
		CHECK_U64(get(&f, 0x100000 + i * 4096ull), tces[i]);
	}
	/* count 0: nothing */
	a[3] = 0;
	CHECK_EQ(tcemu_guest_hcall(f.g, TCEMU_H_PUT_TCE_INDIRECT, a, NULL), TCEMU_H_SUCCESS);
	fx_guest_close(&f);
}

/*
 * Lists that are a direct map but for one entry (the fast path's one-run check reads each entry
 * once and, at the odd one, falls back to the copy): an odd last entry is applied as it is; a
 * middle entry with address bits below the page, or a run that goes past the end of RAM, fails
 * the whole call with nothing written, in the hardware or the view.
 */
TEST(indirect_nearly_linear_lists)
{
	struct fx_guest f;
	uint64_t tces[512], a[4], hpa;
	const uint64_t list = 32 * MiB, ioba = 0x200000;

	CHECK_EQ(fx_open(&f, 12, 12), 0);
	hpa = region_hpa(&f);
	a[0] = LIOBN, a[1] = ioba, a[2] = list, a[3] = 512;
	/* linear but for the last entry: another page, read-only */
	for (unsigned i = 0; i < 512; i++)
		tces[i] = ((uint64_t)i * 4096) | 3;
	tces[511] = (5000ull * 4096) | 1;
	tce_list(&f, list, tces, 512);
	CHECK_EQ(tcemu_guest_hcall_fast(f.g, TCEMU_H_PUT_TCE_INDIRECT, a, NULL), TCEMU_H_SUCCESS);
	CHECK_U64(hw(&f, ioba, NULL), hpa | 3);
	CHECK_U64(hw(&f, ioba + 510 * 4096ull, NULL), (hpa + 510 * 4096ull) | 3);
	CHECK_U64(hw(&f, ioba + 511 * 4096ull, NULL), (hpa + 5000 * 4096ull) | 1);
	CHECK_U64(get(&f, ioba + 510 * 4096ull), tces[510]);
	CHECK_U64(get(&f, ioba + 511 * 4096ull), tces[511]);
	/* a middle entry with an address bit below the page: nothing written */
	a[1] = ioba + 512 * 4096ull;
	for (unsigned i = 0; i < 512; i++)
		tces[i] = ((uint64_t)i * 4096) | 3;
	tces[200] |= 0x800;
	tce_list(&f, list, tces, 512);
	CHECK_EQ(tcemu_guest_hcall_fast(f.g, TCEMU_H_PUT_TCE_INDIRECT, a, NULL), TCEMU_H_PARAMETER);
	for (unsigned i = 0; i < 512; i += 199) {
		CHECK_U64(hw(&f, a[1] + i * 4096ull, NULL), 0);
		CHECK_U64(get(&f, a[1] + i * 4096ull), 0);
	}
	/* page after page, but the last 56 pages past the end of RAM: nothing written */
	for (unsigned i = 0; i < 512; i++)
		tces[i] = (RAM - 456 * 4096ull + i * 4096ull) | 3;
	tce_list(&f, list, tces, 512);
	CHECK_EQ(tcemu_guest_hcall_fast(f.g, TCEMU_H_PUT_TCE_INDIRECT, a, NULL), TCEMU_H_PARAMETER);
	CHECK_EQ(tcemu_guest_hcall_slow(f.g, TCEMU_H_PUT_TCE_INDIRECT, a, NULL), TCEMU_H_PARAMETER);
	for (unsigned i = 0; i < 512; i += 73) {
		CHECK_U64(hw(&f, a[1] + i * 4096ull, NULL), 0);
		CHECK_U64(get(&f, a[1] + i * 4096ull), 0);
	}
	/* the same list up to the end of RAM: applied whole */
	a[3] = 456;
	CHECK_EQ(tcemu_guest_hcall_fast(f.g, TCEMU_H_PUT_TCE_INDIRECT, a, NULL), TCEMU_H_SUCCESS);
	CHECK_U64(hw(&f, a[1] + 455 * 4096ull, NULL), (hpa + RAM - 4096) | 3);
	CHECK_U64(get(&f, a[1] + 455 * 4096ull), tces[455]);
	CHECK_U64(hw(&f, a[1] + 456 * 4096ull, NULL), 0);
	fx_guest_close(&f);
}

TEST(stuff_tce_rules)
{
	struct fx_guest f;
	uint64_t tces[512], a[4];

	CHECK_EQ(fx_open(&f, 12, 12), 0);
	for (unsigned i = 0; i < 512; i++)
		tces[i] = ((uint64_t)i * 4096) | 3;
	tce_list(&f, 32 * MiB, tces, 512);
	for (unsigned k = 0; k < 3; k++) {
		a[0] = LIOBN, a[1] = k * 512 * 4096ull, a[2] = 32 * MiB, a[3] = 512;
		CHECK_EQ(tcemu_guest_hcall(f.g, TCEMU_H_PUT_TCE_INDIRECT, a, NULL), TCEMU_H_SUCCESS);
	}
	a[0] = LIOBN, a[1] = 0, a[2] = 0x1000 | 3, a[3] = 4;
	CHECK_EQ(tcemu_guest_hcall(f.g, TCEMU_H_STUFF_TCE, a, NULL), TCEMU_H_PARAMETER); /* permission bits */
	a[2] = 0, a[1] = GiB - 4096, a[3] = 2;
	CHECK_EQ(tcemu_guest_hcall(f.g, TCEMU_H_STUFF_TCE, a, NULL), TCEMU_H_PARAMETER); /* past the end */
	a[1] = 4096, a[3] = 1000; /* more than 512 at once: accepted (KVM, QEMU) */
	CHECK_EQ(tcemu_guest_hcall_fast(f.g, TCEMU_H_STUFF_TCE, a, NULL), TCEMU_H_SUCCESS);
	CHECK(hw(&f, 0, NULL) != 0);
	CHECK_U64(hw(&f, 4096, NULL), 0);
	CHECK_U64(hw(&f, 1000 * 4096ull, NULL), 0);
	CHECK(hw(&f, 1001 * 4096ull, NULL) != 0);
	CHECK_U64(get(&f, 500 * 4096ull), 0);
	struct tcemu_container_info ci;
	CHECK_EQ(tcemu_host_container_info(f.h, f.c, &ci), 0);
	CHECK_EQ(ci.windows[0].valid_entries, 1536 - 1000);
	fx_guest_close(&f);
}

/* Guest RAM that is not registered with the container: too hard for the fast path. */
TEST(too_hard_clears_the_entry_and_keeps_the_view)
{
	struct fx_guest f;
	uint8_t *extra = mmap(NULL, 4 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	CHECK(extra != MAP_FAILED);
	CHECK_EQ(fx_open(&f, 12, 12), 0);
	CHECK_EQ(tcemu_guest_add_ram(f.g, GiB, 4 * MiB, extra), 0); /* RAM, but not registered */
	CHECK_EQ(put(&f, tcemu_guest_hcall_fast, LIOBN, 0x8000, 0x2000 | 3), TCEMU_H_SUCCESS);
	CHECK(hw(&f, 0x8000, NULL) != 0);
	CHECK_EQ(put(&f, tcemu_guest_hcall_fast, LIOBN, 0x8000, GiB | 3), TCEMU_H_TOO_HARD);
	CHECK_U64(hw(&f, 0x8000, NULL), 0);         /* the hardware entry is cleared */
	CHECK_U64(get(&f, 0x8000), 0x2000 | 3);     /* the guest view is unchanged */
	/* the whole stack: the VMM cannot map unregistered memory either */
	CHECK_EQ(put(&f, tcemu_guest_hcall, LIOBN, 0x8000, GiB | 3), TCEMU_H_HARDWARE);
	struct tcemu_guest_stats st;
	tcemu_guest_stats(f.g, &st);
	CHECK(st.too_hard >= 2);
	fx_guest_close(&f);
	munmap(extra, 4 * MiB);
}

/* An unlinked window is the VMM's: the fast path says too hard, the whole stack succeeds. */
TEST(unlinked_window_goes_to_the_vmm)
{
	struct fx_guest f;

	CHECK_EQ(fx_open(&f, 12, 12), 0);
	CHECK_EQ(tcemu_guest_create_window(f.g, 9, 12, 0x10000000 >> 12, 256), 0);
	CHECK_EQ(put(&f, tcemu_guest_hcall_fast, 9, 0x10000000, 0x1000 | 3), TCEMU_H_TOO_HARD);
	CHECK_EQ(put(&f, tcemu_guest_hcall, 9, 0x10000000, 0x1000 | 3), TCEMU_H_SUCCESS);
	uint64_t a[2] = { 9, 0x10000000 }, tce = 0;
	CHECK_EQ(tcemu_guest_hcall_slow(f.g, TCEMU_H_GET_TCE, a, &tce), TCEMU_H_SUCCESS);
	CHECK_U64(tce, 0x1000 | 3);
	fx_guest_close(&f);
}

/* Removing a window clears what it mapped; unregistering then works. */
TEST(remove_window_clears_hardware)
{
	struct fx_guest f;
	struct vfio_iommu_spapr_register_memory r;

	CHECK_EQ(fx_open(&f, 12, 12), 0);
	r = (struct vfio_iommu_spapr_register_memory){ .argsz = sizeof(r), .vaddr = (uintptr_t)f.ram, .size = RAM };
	CHECK_EQ(put(&f, tcemu_guest_hcall, LIOBN, 0x9000, 0x9000 | 3), TCEMU_H_SUCCESS);
	CHECK_EQ(tcemu_host_ioctl(f.h, f.c, VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY, &r), -EBUSY);
	CHECK_EQ(tcemu_guest_remove_window(f.g, LIOBN), 0);
	CHECK_U64(hw(&f, 0x9000, NULL), 0);
	CHECK_EQ(tcemu_host_ioctl(f.h, f.c, VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY, &r), 0);
	fx_guest_close(&f);
}

/* The host frame behind process address ua, from the registered regions. */
static uint64_t frame_of(struct tcemu_host *h, uint64_t ua)
{
	struct tcemu_region_info ri[16];
	ssize_t n = tcemu_host_regions(h, getpid(), ri, 16);

	for (ssize_t i = 0; i < n && i < 16; i++)
		if (ua >= ri[i].ua && ua - ri[i].ua < ri[i].size)
			return ri[i].hpa + (ua - ri[i].ua);
	return ~0ull;
}

/*
 * A host and a v2 container (window 0: 1 GiB at 0, 4 KiB pages) with the 1 MiB blocks of mem
 * registered as n regions, block order[0] first (pinned out of order: frames not contiguous).
 */
static int host_with_regions(struct tcemu_host **h, int *c, int *grp, uint8_t *mem, const unsigned *order, unsigned n)
{
	if (tcemu_host_create(&(struct tcemu_host_opts){ 0 }, h) || fx_v2_container(*h, "/dev/vfio/0", 12, GiB, c, grp, NULL, false))
		return -1;
	for (unsigned i = 0; i < n; i++) {
		struct vfio_iommu_spapr_register_memory r = { .argsz = sizeof(r), .vaddr = (uintptr_t)mem + order[i] * MiB, .size = MiB };
		if (tcemu_host_ioctl(*h, *c, VFIO_IOMMU_SPAPR_REGISTER_MEMORY, &r))
			return -1;
	}
	return 0;
}

/*
 * One H_PUT_TCE_INDIRECT whose list crosses from one RAM range into another (contiguous guest
 * addresses, unrelated process memory), walks over regions pinned out of order, jumps back to an
 * earlier region, holds clears with address bits and changes permission mid-way: the fast path
 * does it all (no H_TOO_HARD), every host entry has its region's frame, the view the guest TCEs.
 */
TEST(indirect_list_across_ram_ranges_and_regions)
{
	struct tcemu_host *h;
	struct tcemu_guest *g;
	int c, grp;
	uint8_t *a = mmap(NULL, 4 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint8_t *b = mmap(NULL, 2 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	static const unsigned order[4] = { 2, 0, 3, 1 };
	uint64_t tces[512], args[4], ua;
	const uint64_t list = 5 * MiB, ioba = 0x200000;

	CHECK(a != MAP_FAILED && b != MAP_FAILED);
	CHECK_EQ(host_with_regions(&h, &c, &grp, a, order, 4), 0);
	struct vfio_iommu_spapr_register_memory rb = { .argsz = sizeof(rb), .vaddr = (uintptr_t)b, .size = 2 * MiB };
	CHECK_EQ(tcemu_host_ioctl(h, c, VFIO_IOMMU_SPAPR_REGISTER_MEMORY, &rb), 0);
	CHECK_EQ(tcemu_guest_create(h, &g), 0);
	CHECK_EQ(tcemu_guest_add_ram(g, 0, 4 * MiB, a), 0);
	CHECK_EQ(tcemu_guest_add_ram(g, 4 * MiB, 2 * MiB, b), 0);
	CHECK_EQ(tcemu_guest_create_window(g, LIOBN, 12, 0, GiB >> 12), 0);
	CHECK_EQ(tcemu_guest_link(g, LIOBN, c), 0);
	for (unsigned i = 0; i < 512; i++) {
		if (i < 300)
			tces[i] = (3 * MiB + 512 * KiB + i * 4096ull) | 3; /* regions 3 and 1's successor, then RAM b */
		else if (i < 350)
			tces[i] = ((i - 300) * 4096ull) | 3; /* back to the first region */
		else if (i < 400)
			tces[i] = (3 * MiB + (i - 350) * 4096ull) | 3; /* and forward, skipping two */
		else if (i < 450)
			tces[i] = 0x5000; /* clears with address bits: the view reads 0 (docs/guest.md) */
		else
			tces[i] = (2 * MiB - 31 * 4096ull + (i - 450) * 4096ull) | (i < 480 ? 3 : 1); /* a region edge, then read-only */
	}
	for (unsigned i = 0; i < 512; i++) {
		uint64_t be = htobe64(tces[i]);
		memcpy(b + (list - 4 * MiB) + i * 8, &be, 8);
	}
	args[0] = LIOBN, args[1] = ioba, args[2] = list, args[3] = 512;
	CHECK_EQ(tcemu_guest_hcall_fast(g, TCEMU_H_PUT_TCE_INDIRECT, args, NULL), TCEMU_H_SUCCESS);
	for (unsigned i = 0; i < 512; i++) {
		uint64_t gpa = tces[i] & ~3ull, want_ua = 0, want = 0, view = ~0ull, tce = ~0ull;
		uint64_t get[2] = { LIOBN, ioba + i * 4096ull };

		if (tces[i] & 3) {
			want_ua = gpa < 4 * MiB ? (uintptr_t)a + gpa : (uintptr_t)b + gpa - 4 * MiB;
			want = frame_of(h, want_ua) | ((tces[i] & 2) ? 3 : 1);
		}
		CHECK_EQ(tcemu_host_container_entry(h, c, ioba + i * 4096ull, &tce, &ua), 0);
		CHECK_U64(tce, want);
		CHECK_U64(ua, want_ua);
		CHECK_EQ(tcemu_guest_hcall(g, TCEMU_H_GET_TCE, get, &view), TCEMU_H_SUCCESS);
		CHECK_U64(view, (tces[i] & 3) ? tces[i] : 0);
	}
	args[2] = 0, args[3] = 512;
	CHECK_EQ(tcemu_guest_hcall_fast(g, TCEMU_H_STUFF_TCE, args, NULL), TCEMU_H_SUCCESS);
	tcemu_guest_destroy(g);
	tcemu_host_destroy(h);
	munmap(a, 4 * MiB);
	munmap(b, 2 * MiB);
}

/*
 * Lists that map guest pages one after the other (a direct map) of every length, exact or with
 * one entry off at the start, the middle or the end (the next page skipped, another permission,
 * a clear): every host entry and every view entry is what that entry asks for. A direct map that
 * runs past the end of RAM is refused whole.
 */
TEST(indirect_direct_map_lists_and_near_misses)
{
	static const unsigned lens[] = { 2, 3, 4, 5, 8, 9, 13, 511, 512 };
	struct fx_guest f;
	uint64_t tces[512], a[4], hpa;
	const uint64_t list = 40 * MiB, base = 8 * MiB, ioba = 0x400000;

	CHECK_EQ(fx_open(&f, 12, 12), 0);
	hpa = region_hpa(&f);
	for (unsigned l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
		const unsigned n = lens[l], at[4] = { n, 1, n / 2, n - 1 }; /* n: nothing off */

		for (unsigned p = 0; p < 4; p++) {
			for (unsigned kind = 0; kind < (p ? 3u : 1u); kind++) {
				for (unsigned i = 0; i < n; i++)
					tces[i] = (base + i * 4096ull) | 3;
				if (at[p] < n)
					tces[at[p]] = kind == 0 ? tces[at[p]] + 4096 : kind == 1 ? (tces[at[p]] & ~3ull) | 1 : 0;
				tce_list(&f, list, tces, n);
				a[0] = LIOBN, a[1] = ioba, a[2] = list, a[3] = n;
				CHECK_EQ(tcemu_guest_hcall_fast(f.g, TCEMU_H_PUT_TCE_INDIRECT, a, NULL), TCEMU_H_SUCCESS);
				for (unsigned i = 0; i < n; i++) {
					uint64_t bus = ioba + i * 4096ull, want = 0, ua = 1;

					if (tces[i] & 3)
						want = (hpa + (tces[i] & ~3ull)) | ((tces[i] & 2) ? 3 : 1);
					CHECK_U64(hw(&f, bus, &ua), want);
					CHECK_U64(ua, want ? (uintptr_t)f.ram + (tces[i] & ~3ull) : 0);
					CHECK_U64(get(&f, bus), tces[i]);
				}
				CHECK_U64(hw(&f, ioba + n * 4096ull, NULL), 0);
				a[2] = 0, a[3] = n;
				CHECK_EQ(tcemu_guest_hcall_fast(f.g, TCEMU_H_STUFF_TCE, a, NULL), TCEMU_H_SUCCESS);
			}
		}
	}
	/* the last two pages of RAM and two beyond */
	for (unsigned i = 0; i < 4; i++)
		tces[i] = (RAM - 2 * 4096ull + i * 4096ull) | 3;
	tce_list(&f, list, tces, 4);
	a[0] = LIOBN, a[1] = ioba, a[2] = list, a[3] = 4;
	CHECK_EQ(tcemu_guest_hcall(f.g, TCEMU_H_PUT_TCE_INDIRECT, a, NULL), TCEMU_H_PARAMETER);
	CHECK_U64(hw(&f, ioba, NULL), 0);
	CHECK_U64(get(&f, ioba), 0);
	fx_guest_close(&f);
}

/* Entries of region blk (1 MiB blocks of the RAM at a) that the scattered list l sets. */
static void check_region_counts(struct tcemu_host *h, const uint8_t *a, const uint64_t *want)
{
	struct tcemu_region_info ri[16];
	ssize_t n = tcemu_host_regions(h, getpid(), ri, 16);

	CHECK_EQ(n, 6);
	for (ssize_t i = 0; i < n && i < 16; i++) {
		uint64_t blk = (ri[i].ua - (uintptr_t)a) / MiB;
		CHECK(blk < 6);
		if (blk < 6)
			CHECK_U64(ri[i].mapped, want[blk]);
	}
}

/*
 * INDIRECT lists of scattered guest pages (every entry its own run: a guest mapping a
 * scatter-gather list) over RAM registered as six regions pinned out of order: every host entry,
 * user address and view entry is right, and each region's count of mappings is exact, for a list
 * over more regions than the fast path counts at once, over fewer, and over mappings it replaces.
 * An entry the fast path cannot translate makes the call too hard: that entry's host entry is
 * cleared, the view and every other entry and count stay as they were.
 */
TEST(indirect_scattered_lists_count_exactly)
{
	struct tcemu_host *h;
	struct tcemu_guest *g;
	int c, grp;
	uint8_t *a = mmap(NULL, 6 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint8_t *x = mmap(NULL, MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	static const unsigned order[6] = { 4, 1, 5, 0, 3, 2 };
	const uint64_t ioba = 0x300000, list = 5 * MiB + 512 * KiB;
	uint64_t tces[512], args[4], want[6] = { 0 };
	struct tcemu_host_stats st0, st;

	CHECK(a != MAP_FAILED && x != MAP_FAILED);
	CHECK_EQ(host_with_regions(&h, &c, &grp, a, order, 6), 0);
	CHECK_EQ(tcemu_guest_create(h, &g), 0);
	CHECK_EQ(tcemu_guest_add_ram(g, 0, 6 * MiB, a), 0);
	CHECK_EQ(tcemu_guest_add_ram(g, 8 * MiB, MiB, x), 0); /* RAM the container does not know */
	CHECK_EQ(tcemu_guest_create_window(g, LIOBN, 12, 0, GiB >> 12), 0);
	CHECK_EQ(tcemu_guest_link(g, LIOBN, c), 0);
	tcemu_host_stats(h, &st0);
	/* three lists: all six regions, the first two only, then all six again over the second */
	for (unsigned pass = 0; pass < 3; pass++) {
		const unsigned pages = pass == 1 ? 512 : 1280, step = pass == 2 ? 101 : 37;
		uint64_t sets = 0;

		memset(want, 0, sizeof(want));
		for (unsigned i = 0; i < 512; i++) {
			uint64_t gpa = ((i * step + pass) % pages) * 4096ull;
			tces[i] = i % 50 == 7 ? 0 : gpa | (1 + (i + pass) % 3);
			if (tces[i]) {
				want[gpa / MiB]++;
				sets++;
			}
		}
		for (unsigned i = 0; i < 512; i++) {
			uint64_t be = htobe64(tces[i]);
			memcpy(a + list + i * 8, &be, 8);
		}
		args[0] = LIOBN, args[1] = ioba, args[2] = list, args[3] = 512;
		CHECK_EQ(tcemu_guest_hcall_fast(g, TCEMU_H_PUT_TCE_INDIRECT, args, NULL), TCEMU_H_SUCCESS);
		for (unsigned i = 0; i < 512; i++) {
			uint64_t gpa = tces[i] & ~3ull, want_ua = tces[i] ? (uintptr_t)a + gpa : 0, tce = ~0ull, ua = ~0ull, view = ~0ull;
			uint64_t get[2] = { LIOBN, ioba + i * 4096ull };

			CHECK_EQ(tcemu_host_container_entry(h, c, ioba + i * 4096ull, &tce, &ua), 0);
			CHECK_U64(tce, tces[i] ? frame_of(h, want_ua) | ((tces[i] & 2) ? 3 : 1) : 0);
			CHECK_U64(ua, want_ua);
			CHECK_EQ(tcemu_guest_hcall(g, TCEMU_H_GET_TCE, get, &view), TCEMU_H_SUCCESS);
			CHECK_U64(view, tces[i]);
		}
		check_region_counts(h, a, want);
		tcemu_host_stats(h, &st);
		CHECK_EQ(st.entries_mapped, st0.entries_mapped + sets);
	}
	/* entry 200 in RAM no region holds: too hard; only its host entry changes (cleared) */
	uint64_t before[512], old200 = tces[200], view200 = ~0ull;
	for (unsigned i = 0; i < 512; i++)
		CHECK_EQ(tcemu_host_container_entry(h, c, ioba + i * 4096ull, &before[i], NULL), 0);
	for (unsigned i = 0; i < 512; i++) {
		uint64_t be = htobe64(i == 200 ? (8 * MiB) | 3 : ((i * 13) % 1280) * 4096ull | 3);
		memcpy(a + list + i * 8, &be, 8);
	}
	CHECK_EQ(tcemu_guest_hcall_fast(g, TCEMU_H_PUT_TCE_INDIRECT, args, NULL), TCEMU_H_TOO_HARD);
	for (unsigned i = 0; i < 512; i++) {
		uint64_t tce = ~0ull;
		CHECK_EQ(tcemu_host_container_entry(h, c, ioba + i * 4096ull, &tce, NULL), 0);
		CHECK_U64(tce, i == 200 ? 0 : before[i]);
	}
	uint64_t get200[2] = { LIOBN, ioba + 200 * 4096ull };
	CHECK_EQ(tcemu_guest_hcall(g, TCEMU_H_GET_TCE, get200, &view200), TCEMU_H_SUCCESS);
	CHECK_U64(view200, old200);
	if (old200)
		want[(old200 & ~3ull) / MiB]--;
	check_region_counts(h, a, want);
	/* clear all: every count back to zero */
	args[2] = 0, args[3] = 512;
	CHECK_EQ(tcemu_guest_hcall_fast(g, TCEMU_H_STUFF_TCE, args, NULL), TCEMU_H_SUCCESS);
	memset(want, 0, sizeof(want));
	check_region_counts(h, a, want);
	tcemu_host_stats(h, &st);
	CHECK_EQ(st.entries_mapped, st0.entries_mapped);
	tcemu_guest_destroy(g);
	tcemu_host_destroy(h);
	munmap(a, 6 * MiB);
	munmap(x, MiB);
}

/*
 * Every way guest_put writes (guest/gate.c), with the gate open (counts kept in the link) and held
 * closed (the container and process locks, counts at once), on 4 KiB guest pages (fan-out 1) and
 * 64 KiB ones (fan-out 16) over a 4 KiB host: a direct-map list over 12 regions pinned out of
 * order (one linear run: more regions than are counted at once), a scattered list (gathered for
 * fan-out 1, runs for 16), a stuff, single TCEs in another region than the last (H_PUT_TCE's long
 * way) and a list whose second run is in unregistered RAM (too hard in the middle: that TCE's host
 * entries cleared, nothing else changed). After each call every host entry, user address and
 * region count follows from the guest view, and entries_mapped is their sum.
 */
static void paths_case(uint32_t gshift, bool closed)
{
	struct tcemu_host *h;
	struct tcemu_guest *g;
	int c, grp;
	uint8_t *a = mmap(NULL, 4 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint8_t *x = mmap(NULL, MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	static const unsigned order[12] = { 7, 2, 11, 0, 5, 9, 3, 10, 1, 6, 8, 4 };
	const uint64_t pg = 1ull << gshift, fan = pg >> 12, list = 3 * MiB + 512 * KiB;
	const uint64_t span = 64 * MiB, npages = span >> gshift; /* the part of the window checked */
	const unsigned n = 3 * MiB / pg < 512 ? (unsigned)(3 * MiB / pg) : 512;
	uint64_t tces[512], args[4];

	CHECK(a != MAP_FAILED && x != MAP_FAILED);
	CHECK_EQ(tcemu_host_create(&(struct tcemu_host_opts){ 0 }, &h), 0);
	CHECK_EQ(fx_v2_container(h, "/dev/vfio/0", 12, GiB, &c, &grp, NULL, false), 0);
	for (unsigned i = 0; i <= 12; i++) {
		/* 12 regions of 256 KiB for the first 3 MiB, out of order, then one of 1 MiB */
		uint64_t off = i < 12 ? order[i] * 256 * KiB : 3 * MiB, size = i < 12 ? 256 * KiB : MiB;
		struct vfio_iommu_spapr_register_memory r = { .argsz = sizeof(r), .vaddr = (uintptr_t)a + off, .size = size };
		CHECK_EQ(tcemu_host_ioctl(h, c, VFIO_IOMMU_SPAPR_REGISTER_MEMORY, &r), 0);
	}
	CHECK_EQ(tcemu_guest_create(h, &g), 0);
	CHECK_EQ(tcemu_guest_add_ram(g, 0, 4 * MiB, a), 0);
	CHECK_EQ(tcemu_guest_add_ram(g, 8 * MiB, MiB, x), 0); /* not registered */
	CHECK_EQ(tcemu_guest_create_window(g, LIOBN, gshift, 0, GiB >> gshift), 0);
	CHECK_EQ(tcemu_guest_link(g, LIOBN, c), 0);
	if (closed)
		host_gate_close(h);

	/* the host entries and counts that the view (and *cleared, whose host entries were cleared) implies */
#define CHECK_TABLES(cleared)                                                                              \
	do {                                                                                               \
		struct tcemu_region_info ri[16];                                                           \
		uint64_t want[16] = { 0 }, total = 0;                                                      \
		ssize_t nr = tcemu_host_regions(h, getpid(), ri, 16);                                      \
		CHECK_EQ(nr, 13);                                                                          \
		for (uint64_t p = 0; p < npages; p++) {                                                    \
			uint64_t ga[2] = { LIOBN, p << gshift }, view = ~0ull;                             \
			CHECK_EQ(tcemu_guest_hcall_slow(g, TCEMU_H_GET_TCE, ga, &view), TCEMU_H_SUCCESS); \
			for (uint64_t k = 0; k < fan; k++) {                                               \
				uint64_t tce = ~0ull, ua = ~0ull, want_ua = 0, want_tce = 0;               \
				if ((view & 3) && p != (cleared)) {                                        \
					want_ua = (uintptr_t)a + (view & ~3ull) + k * 4096;                \
					want_tce = frame_of(h, want_ua) | ((view & 2) ? 3 : 1);            \
					for (ssize_t q = 0; q < nr && q < 16; q++)                         \
						if (want_ua - ri[q].ua < ri[q].size)                       \
							want[q]++;                                         \
					total++;                                                           \
				}                                                                          \
				CHECK_EQ(tcemu_host_container_entry(h, c, (p << gshift) + k * 4096, &tce, &ua), 0); \
				CHECK_U64(tce, want_tce);                                                  \
				CHECK_U64(ua, want_ua);                                                    \
			}                                                                                  \
		}                                                                                          \
		for (ssize_t q = 0; q < nr && q < 16; q++)                                                 \
			CHECK_U64(ri[q].mapped, want[q]);                                                  \
		struct tcemu_host_stats hs;                                                                \
		tcemu_host_stats(h, &hs);                                                                  \
		CHECK_U64(hs.entries_mapped, total);                                                       \
	} while (0)

	/* a direct map of 3 MiB (one run over 12 regions) */
	for (unsigned i = 0; i < n; i++)
		tces[i] = (i * pg) | 3;
	for (unsigned i = 0; i < n; i++) {
		uint64_t be = htobe64(tces[i]);
		memcpy(a + list + i * 8, &be, 8);
	}
	args[0] = LIOBN, args[1] = 0, args[2] = list, args[3] = n;
	CHECK_EQ(tcemu_guest_hcall_fast(g, TCEMU_H_PUT_TCE_INDIRECT, args, NULL), TCEMU_H_SUCCESS);
	CHECK_TABLES(~0ull);
	/* a scattered list over the same RAM, some clears, some read-only, over part of the map */
	for (unsigned i = 0; i < n; i++)
		tces[i] = i % 9 == 4 ? 0 : (((i * 37 + 5) % n) * pg) | (1 + i % 3);
	for (unsigned i = 0; i < n; i++) {
		uint64_t be = htobe64(tces[i]);
		memcpy(a + list + i * 8, &be, 8);
	}
	args[1] = (n / 3) * pg;
	CHECK_EQ(tcemu_guest_hcall_fast(g, TCEMU_H_PUT_TCE_INDIRECT, args, NULL), TCEMU_H_SUCCESS);
	CHECK_TABLES(~0ull);
	/* a stuff across both */
	args[1] = (n / 2) * pg, args[2] = 0, args[3] = n / 2;
	CHECK_EQ(tcemu_guest_hcall_fast(g, TCEMU_H_STUFF_TCE, args, NULL), TCEMU_H_SUCCESS);
	CHECK_TABLES(~0ull);
	/* single TCEs, each in another region than the one before */
	for (unsigned i = 0; i < 24; i++) {
		args[1] = (n + i) * pg, args[2] = (((i * 5) % 12) * 256 * KiB + (i % 4) * pg) | 3;
		CHECK_EQ(tcemu_guest_hcall_fast(g, TCEMU_H_PUT_TCE, args, NULL), TCEMU_H_SUCCESS);
	}
	CHECK_TABLES(~0ull);
	/* too hard in the middle: entries 0-3 map (a run), 4 is in unregistered RAM, 5-7 map again */
	for (unsigned i = 0; i < 8; i++)
		tces[i] = i == 4 ? (8 * MiB) | 3 : ((i + 40) * pg % (3 * MiB)) | 3;
	for (unsigned i = 0; i < 8; i++) {
		uint64_t be = htobe64(tces[i]);
		memcpy(a + list + i * 8, &be, 8);
	}
	args[1] = 4 * pg, args[2] = list, args[3] = 8; /* over entries the direct map set */
	CHECK_EQ(tcemu_guest_hcall_fast(g, TCEMU_H_PUT_TCE_INDIRECT, args, NULL), TCEMU_H_TOO_HARD);
	CHECK_TABLES(8);
#undef CHECK_TABLES
	/* the whole window cleared: nothing left counted */
	args[1] = 0, args[2] = 0, args[3] = GiB >> gshift;
	CHECK_EQ(tcemu_guest_hcall_fast(g, TCEMU_H_STUFF_TCE, args, NULL), TCEMU_H_SUCCESS);
	struct tcemu_host_stats hs;
	tcemu_host_stats(h, &hs);
	CHECK_U64(hs.entries_mapped, 0);
	if (closed)
		host_gate_open(h);
	tcemu_guest_destroy(g);
	tcemu_host_destroy(h);
	munmap(a, 4 * MiB);
	munmap(x, MiB);
}

TEST(put_ways_gate_open_4k)
{
	paths_case(12, false);
}

TEST(put_ways_gate_closed_4k)
{
	paths_case(12, true);
}

TEST(put_ways_gate_open_64k_on_4k)
{
	paths_case(16, false);
}

TEST(put_ways_gate_closed_64k_on_4k)
{
	paths_case(16, true);
}

/* A removed window: calls that name it go to the VMM (fast) or fail (slow); its counts stay. */
TEST(removed_window_calls_and_statistics)
{
	struct fx_guest f;
	struct tcemu_guest_stats st;

	CHECK_EQ(fx_open(&f, 12, 12), 0);
	CHECK_EQ(put(&f, tcemu_guest_hcall_fast, LIOBN, 0x3000, 0x3000 | 3), TCEMU_H_SUCCESS);
	CHECK_EQ(put(&f, tcemu_guest_hcall_fast, LIOBN, 0x3001, 0x3000 | 3), TCEMU_H_PARAMETER);
	CHECK_EQ(tcemu_guest_remove_window(f.g, LIOBN), 0);
	CHECK_EQ(tcemu_guest_remove_window(f.g, LIOBN), -ENOENT);
	CHECK_EQ(put(&f, tcemu_guest_hcall_fast, LIOBN, 0x3000, 0x3000 | 3), TCEMU_H_TOO_HARD);
	CHECK_EQ(put(&f, tcemu_guest_hcall_slow, LIOBN, 0x3000, 0x3000 | 3), TCEMU_H_PARAMETER);
	tcemu_guest_stats(f.g, &st);
	CHECK_U64(st.hcalls, 4);
	CHECK_U64(st.fast, 1);
	CHECK_U64(st.tces_set, 1);
	CHECK_U64(st.errors, 2);
	CHECK_U64(st.too_hard, 1);
	/* The LIOBN can be made again, and works. */
	CHECK_EQ(tcemu_guest_create_window(f.g, LIOBN, 12, 0, GiB >> 12), 0);
	CHECK_EQ(tcemu_guest_link(f.g, LIOBN, f.c), 0);
	CHECK_EQ(put(&f, tcemu_guest_hcall_fast, LIOBN, 0x3000, 0x3000 | 3), TCEMU_H_SUCCESS);
	CHECK_U64(get(&f, 0x3000), 0x3000 | 3);
	tcemu_guest_stats(f.g, &st);
	CHECK_U64(st.hcalls, 6);
	CHECK_U64(st.fast, 3);
	fx_guest_close(&f);
}

/*
 * The fast path (tcemu_guest_hcall, falling back to the slow path) and the slow path alone must
 * leave identical hardware tables, guest views and return codes, over random hypercall streams.
 * Two containers of one process share the registered RAM, so their frames are the same.
 */
static void random_equivalence(uint32_t hshift, uint32_t gshift)
{
	struct fx_guest f;
	struct tcemu_guest *slow;
	int c2, g2;
	uint64_t seed = 0x1234567 + hshift * 7 + gshift;
	const uint64_t gp = 1ull << gshift, pages = 4096, list = 48 * MiB;
	unsigned mismatches = 0;

	if (fx_open(&f, hshift, gshift) || fx_v2_container(f.h, "/dev/vfio/1", hshift, GiB, &c2, &g2, f.ram, true) ||
	    tcemu_guest_create(f.h, &slow) || tcemu_guest_add_ram(slow, 0, RAM, f.ram) ||
	    tcemu_guest_create_window(slow, LIOBN, gshift, 0, GiB >> gshift) || tcemu_guest_link(slow, LIOBN, c2)) {
		HARNESS_FAIL("set-up failed");
		return;
	}
	for (unsigned op = 0; op < 3000; op++) {
		uint64_t a[4], r1, r2, rnd[4];
		for (int k = 0; k < 4; k++) {
			seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
			rnd[k] = seed;
		}
		unsigned kind = (unsigned)(rnd[0] % 8);
		uint64_t ioba = (rnd[1] % pages) * gp;
		/* mostly valid guest TCEs, sometimes clears, out-of-RAM or misaligned ones */
		uint64_t gpa = (rnd[2] % (list / gp)) * gp;
		uint64_t tce = gpa | (rnd[3] % 4);
		if (rnd[3] % 17 == 0)
			tce = RAM | 3;
		if (rnd[3] % 23 == 0 && gshift > 12)
			tce |= 4096;
		unsigned long opc;
		a[0] = LIOBN, a[1] = ioba;
		if (kind < 4) {
			opc = TCEMU_H_PUT_TCE, a[2] = tce;
		} else if (kind < 6) {
			unsigned n = 1 + (unsigned)(rnd[3] % 512);
			uint64_t tces[512];
			if (kind == 5) {
				/* a direct map, as Linux guests write, sometimes with one entry off */
				for (unsigned i = 0; i < n; i++)
					tces[i] = (gpa + i * gp) | (1 + rnd[2] % 3);
				if (rnd[1] % 3 == 0)
					tces[rnd[2] % n] ^= (rnd[1] % 2) ? gp : 2;
			} else {
				for (unsigned i = 0; i < n; i++)
					tces[i] = ((gpa + i * gp) % (list - gp)) | ((rnd[2] >> (i % 63)) & 3);
			}
			tce_list(&f, list, tces, n);
			opc = TCEMU_H_PUT_TCE_INDIRECT, a[2] = list, a[3] = n;
		} else {
			opc = TCEMU_H_STUFF_TCE, a[2] = 0, a[3] = 1 + rnd[3] % 700;
		}
		r1 = (uint64_t)tcemu_guest_hcall(f.g, opc, a, NULL);
		r2 = (uint64_t)tcemu_guest_hcall_slow(slow, opc, a, NULL);
		if (r1 != r2 && mismatches++ < 5)
			HARNESS_FAIL("op %u (hcall 0x%lx): fast+fallback %ld, slow %ld", op, opc, (long)r1, (long)r2);
	}
	/* every host entry and every guest view entry */
	uint64_t hentries = GiB >> hshift;
	for (uint64_t i = 0; i < hentries && mismatches < 5; i += (hentries > 65536 ? 7 : 1)) {
		uint64_t t1 = 0, u1 = 0, t2 = 0, u2 = 0;
		tcemu_host_container_entry(f.h, f.c, i << hshift, &t1, &u1);
		tcemu_host_container_entry(f.h, c2, i << hshift, &t2, &u2);
		if (t1 != t2 || u1 != u2) {
			mismatches++;
			HARNESS_FAIL("host entry %llu: fast 0x%llx/0x%llx, slow 0x%llx/0x%llx", (unsigned long long)i,
				     (unsigned long long)t1, (unsigned long long)u1, (unsigned long long)t2, (unsigned long long)u2);
		}
	}
	for (uint64_t p = 0; p < pages && mismatches < 5; p++) {
		uint64_t a[2] = { LIOBN, p * gp }, v1 = 1, v2 = 2;
		tcemu_guest_hcall(f.g, TCEMU_H_GET_TCE, a, &v1);
		tcemu_guest_hcall(slow, TCEMU_H_GET_TCE, a, &v2);
		if (v1 != v2) {
			mismatches++;
			HARNESS_FAIL("view entry %llu: 0x%llx vs 0x%llx", (unsigned long long)p, (unsigned long long)v1,
				     (unsigned long long)v2);
		}
	}
	struct tcemu_guest_stats st;
	tcemu_guest_stats(f.g, &st);
	if (st.fast == 0)
		HARNESS_FAIL("the fast path never completed a call");
	tcemu_guest_destroy(slow);
	fx_guest_close(&f);
}

TEST(slow_and_fast_paths_make_the_same_tables_4k)
{
	random_equivalence(12, 12);
}

TEST(slow_and_fast_paths_make_the_same_tables_64k_on_4k)
{
	random_equivalence(12, 16);
}

struct flipper {
	uint64_t *list; /* in guest RAM, big-endian */
	int stop;
	unsigned long rounds;
};

/* Direct map A (read-write at 8 MiB) or B (read-only at 16 MiB), entry i. */
static uint64_t map_a(unsigned i)
{
	return (8 * MiB + i * 4096ull) | 3;
}

static uint64_t map_b(unsigned i)
{
	return (16 * MiB + i * 4096ull) | 1;
}

/* The guest rewrites its list while the hypercall reads it: all A, all B, or single entries. */
static void *flip_list(void *arg)
{
	struct flipper *fl = arg;
	uint64_t seed = 99;

	while (!__atomic_load_n(&fl->stop, __ATOMIC_ACQUIRE)) {
		seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
		unsigned how = (unsigned)(seed % 4);
		for (unsigned i = 0; i < 512; i++) {
			uint64_t v = how == 0 ? map_a(i) : how == 1 ? map_b(i) : ((seed >> (i % 61)) & 1) ? map_a(i) : map_b(i);
			if (how < 2 || i == seed % 512)
				__atomic_store_n(&fl->list[i], htobe64(v), __ATOMIC_RELAXED);
		}
		fl->rounds++;
	}
	return NULL;
}

/*
 * A guest that rewrites its TCE list during H_PUT_TCE_INDIRECT calls: whatever each call read,
 * every entry's hardware entry matches its view entry (one reading of the entry was validated and
 * applied to both), and the view holds one of the values the guest wrote.
 */
TEST(indirect_list_rewritten_during_the_call)
{
	struct fx_guest f;
	struct flipper fl;
	struct harness_threads th = { .stop = &fl.stop };
	const uint64_t list = 40 * MiB, ioba = 0x800000;
	uint64_t hpa, a[4];
	unsigned bad = 0;

	CHECK_EQ(fx_open(&f, 12, 12), 0);
	hpa = region_hpa(&f);
	fl = (struct flipper){ .list = (uint64_t *)(f.ram + list) };
	for (unsigned i = 0; i < 512; i++)
		fl.list[i] = htobe64(map_a(i));
	harness_thread_start(&th, flip_list, &fl);
	for (unsigned call = 0; call < 300 && bad < 5; call++) {
		a[0] = LIOBN, a[1] = ioba, a[2] = list, a[3] = 512;
		if (tcemu_guest_hcall(f.g, TCEMU_H_PUT_TCE_INDIRECT, a, NULL) != TCEMU_H_SUCCESS) {
			HARNESS_FAIL("call %u failed", call);
			bad++;
		}
		for (unsigned i = 0; i < 512 && bad < 5; i++) {
			uint64_t v = get(&f, ioba + i * 4096ull), t = hw(&f, ioba + i * 4096ull, NULL);
			uint64_t want = (hpa + (v & ~3ull)) | ((v & 2) ? 3 : 1);
			if ((v != map_a(i) && v != map_b(i)) || t != want) {
				HARNESS_FAIL("call %u entry %u: view 0x%llx, hardware 0x%llx", call, i, (unsigned long long)v,
					     (unsigned long long)t);
				bad++;
			}
		}
	}
	harness_threads_join(&th); /* sets fl.stop */
	CHECK(fl.rounds > 0);
	fx_guest_close(&f);
}

struct th {
	struct tcemu_guest *g;
	uint32_t liobn;
	uint64_t base;
	int errors;
};

static void *hcaller(void *arg)
{
	struct th *t = arg;

	for (unsigned i = 0; i < 2000; i++) {
		uint64_t a[4] = { t->liobn, t->base + (i % 256) * 4096ull, ((i % 512) * 4096ull) | 3, 1 };
		if (tcemu_guest_hcall(t->g, TCEMU_H_PUT_TCE, a, NULL) != TCEMU_H_SUCCESS)
			t->errors++;
		a[2] = 0;
		if (tcemu_guest_hcall(t->g, TCEMU_H_STUFF_TCE, a, NULL) != TCEMU_H_SUCCESS)
			t->errors++;
	}
	return NULL;
}

/* Hypercalls from several vCPUs on two LIOBNs of one guest, and on one LIOBN (TSan in CI). */
TEST(concurrent_hypercalls)
{
	struct fx_guest f;
	struct th t[4];
	struct harness_threads th = { 0 };

	CHECK_EQ(fx_open(&f, 12, 12), 0);
	for (unsigned i = 0; i < 4; i++) {
		t[i] = (struct th){ .g = f.g, .liobn = LIOBN, .base = i * MiB };
		harness_thread_start(&th, hcaller, &t[i]);
	}
	harness_threads_join(&th);
	for (unsigned i = 0; i < 4; i++)
		CHECK_EQ(t[i].errors, 0);
	struct tcemu_container_info ci;
	CHECK_EQ(tcemu_host_container_info(f.h, f.c, &ci), 0);
	CHECK_EQ(ci.windows[0].valid_entries, 0);
	struct tcemu_region_info ri;
	CHECK_EQ(tcemu_host_regions(f.h, getpid(), &ri, 1), 1);
	CHECK_EQ(ri.mapped, 0);
	fx_guest_close(&f);
}

struct vmm {
	struct fx_guest *f;
	int c2; /* a second container of the process: its registrations move the same region array */
	uint8_t *other;
	int errors;
	volatile bool stop;
};

/* The VMM meanwhile: registers and unregisters other memory through a second container (the
 * process's region array moves), maps across two regions on the first one (the process lock
 * exclusive), makes and removes a second window there. */
static void *vmm_churn(void *arg)
{
	struct vmm *v = arg;
	struct tcemu_host *h = v->f->h;
	int c = v->f->c;

	for (unsigned i = 0; i < 200 && !v->stop; i++) {
		struct vfio_iommu_spapr_register_memory r1 = { .argsz = sizeof(r1), .vaddr = (uintptr_t)v->other, .size = MiB };
		struct vfio_iommu_spapr_register_memory r2 = { .argsz = sizeof(r2), .vaddr = (uintptr_t)v->other + MiB, .size = MiB };
		struct vfio_iommu_type1_dma_map m = { .argsz = sizeof(m), .flags = VFIO_DMA_MAP_FLAG_READ,
						      .vaddr = (uintptr_t)v->other + MiB - 8192, .iova = 512 * MiB, .size = 16384 };
		struct vfio_iommu_type1_dma_unmap u = { .argsz = sizeof(u), .iova = 512 * MiB, .size = 16384 };
		struct vfio_iommu_spapr_tce_create cr = { .argsz = sizeof(cr), .page_shift = 16, .window_size = GiB, .levels = 1 };
		struct vfio_iommu_spapr_tce_remove rm = { .argsz = sizeof(rm) };

		if (tcemu_host_ioctl(h, v->c2, VFIO_IOMMU_SPAPR_REGISTER_MEMORY, &r1) ||
		    tcemu_host_ioctl(h, v->c2, VFIO_IOMMU_SPAPR_REGISTER_MEMORY, &r2) ||
		    tcemu_host_ioctl(h, c, VFIO_IOMMU_MAP_DMA, &m) || tcemu_host_ioctl(h, c, VFIO_IOMMU_UNMAP_DMA, &u) ||
		    tcemu_host_ioctl(h, c, VFIO_IOMMU_SPAPR_TCE_CREATE, &cr))
			v->errors++;
		rm.start_addr = cr.start_addr;
		if (tcemu_host_ioctl(h, c, VFIO_IOMMU_SPAPR_TCE_REMOVE, &rm) ||
		    tcemu_host_ioctl(h, v->c2, VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY, &r2) ||
		    tcemu_host_ioctl(h, v->c2, VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY, &r1))
			v->errors++;
	}
	return NULL;
}

/* Hypercalls while the VMM changes the container and the process's regions (TSan in CI). */
TEST(hypercalls_while_the_vmm_changes_the_container)
{
	struct fx_guest f;
	struct th t[2];
	struct harness_threads th = { 0 };
	struct vmm v = { .f = &f };

	int g2;

	CHECK_EQ(fx_open(&f, 12, 12), 0);
	CHECK_EQ(fx_v2_container(f.h, "/dev/vfio/1", 12, GiB, &v.c2, &g2, NULL, false), 0);
	v.other = mmap(NULL, 2 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(v.other != MAP_FAILED);
	harness_thread_start(&th, vmm_churn, &v);
	for (unsigned i = 0; i < 2; i++) {
		t[i] = (struct th){ .g = f.g, .liobn = LIOBN, .base = i * MiB };
		harness_thread_start(&th, hcaller, &t[i]);
	}
	harness_threads_join(&th);
	for (unsigned i = 0; i < 2; i++)
		CHECK_EQ(t[i].errors, 0);
	CHECK_EQ(v.errors, 0);
	struct tcemu_container_info ci;
	CHECK_EQ(tcemu_host_container_info(f.h, f.c, &ci), 0);
	CHECK_EQ(ci.windows[0].valid_entries, 0);
	struct tcemu_region_info ri[2];
	CHECK_EQ(tcemu_host_regions(f.h, getpid(), ri, 2), 1);
	CHECK_EQ(ri[0].mapped, 0);
	fx_guest_close(&f);
	munmap(v.other, 2 * MiB);
}

HARNESS_MAIN(T(window_creation_rules), T(window_accounting_enomem), T(ram_rules), T(link_conditions),
	     T(put_tce_fast_path_and_view), T(fast_path_counts_are_exact_when_read), T(unlink_hands_over_the_counts),
	     T(put_tce_parameter_errors), T(fan_out_64k_guest_on_4k_host),
	     T(equal_page_sizes_one_entry), T(host_page_larger_than_backing_is_too_hard), T(put_tce_indirect_rules), T(indirect_nearly_linear_lists),
	     T(stuff_tce_rules),
	     T(too_hard_clears_the_entry_and_keeps_the_view), T(unlinked_window_goes_to_the_vmm),
	     T(remove_window_clears_hardware), T(slow_and_fast_paths_make_the_same_tables_4k),
	     T(slow_and_fast_paths_make_the_same_tables_64k_on_4k), T(concurrent_hypercalls),
	     T(indirect_list_across_ram_ranges_and_regions), T(indirect_direct_map_lists_and_near_misses), T(indirect_list_rewritten_during_the_call), T(indirect_scattered_lists_count_exactly), T(removed_window_calls_and_statistics),
	     T(hypercalls_while_the_vmm_changes_the_container), T(put_ways_gate_open_4k), T(put_ways_gate_closed_4k),
	     T(put_ways_gate_open_64k_on_4k), T(put_ways_gate_closed_64k_on_4k))
