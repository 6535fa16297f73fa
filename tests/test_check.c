/* SPDX-License-Identifier: MIT */
/*
 * The invariant checkers of src/vfio/check.h (what the fuzz harnesses check after every input):
 * they pass on states the library builds, and each catches a state broken on purpose (a mapped
 * count, a TCE outside registered memory, an accounting slip, a hardware entry the guest view does
 * not allow, something left at teardown).
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <linux/vfio.h>

#include "fixture.h"
#include "harness.h"
#include "vfio/check.h"
#include "vfio/host_priv.h"
#include "vfio/prereg.h"

#define LIOBN 0x80000000u

static int check(struct tcemu_host *h, unsigned flags, char *why)
{
	return tcemu_host_check_invariants(h, flags, why, 512);
}

static long map(struct fx_vfio *f, uint64_t off, uint64_t iova, uint64_t len, uint32_t flags)
{
	struct vfio_iommu_type1_dma_map m = {
		.argsz = sizeof(m), .flags = flags, .vaddr = (uintptr_t)f->mem + off, .iova = iova, .size = len,
	};
	return tcemu_host_ioctl(f->h, f->c, VFIO_IOMMU_MAP_DMA, &m);
}

TEST(v2_state_passes_and_tears_down_to_zero)
{
	struct fx_vfio f;
	char why[512];

	CHECK_EQ(fx_vfio_v2(&f, fx_host_new(NULL), 0, 64), 0);
	CHECK_EQ(map(&f, 0, 0x10000, 16 * FX_PAGE, 3), 0);
	CHECK_EQ(map(&f, 8 * FX_PAGE, 0x100000, 8 * FX_PAGE, 1), 0);
	CHECK_EQ(check(f.h, TCEMU_CHECK_NO_GUEST, why), 0);
	/* not closed yet: the teardown check refuses */
	CHECK_EQ(check(f.h, TCEMU_CHECK_NO_GUEST | TCEMU_CHECK_TEARDOWN, why), -1);
	CHECK_CONTAINS(why, "after teardown");
	tcemu_host_close_all(f.h);
	CHECK_EQ(check(f.h, TCEMU_CHECK_NO_GUEST | TCEMU_CHECK_TEARDOWN, why), 0);
}

TEST(v1_state_passes)
{
	struct fx_vfio f;
	char why[512];
	uint8_t *mem = fx_pages(16);

	CHECK_EQ(fx_vfio_open(&f, 0, VFIO_SPAPR_TCE_IOMMU), 0);
	CHECK_EQ(tcemu_host_ioctl(f.h, f.c, VFIO_IOMMU_ENABLE, NULL), 0);
	f.mem = NULL;
	struct vfio_iommu_type1_dma_map m = {
		.argsz = sizeof(m), .flags = 3, .vaddr = (uintptr_t)mem, .iova = 0x4000, .size = 16 * FX_PAGE,
	};
	CHECK_EQ(tcemu_host_ioctl(f.h, f.c, VFIO_IOMMU_MAP_DMA, &m), 0);
	if (check(f.h, TCEMU_CHECK_NO_GUEST, why))
		HARNESS_FAIL("%s", why);
	tcemu_host_close_all(f.h);
	CHECK_EQ(check(f.h, TCEMU_CHECK_NO_GUEST | TCEMU_CHECK_TEARDOWN, why), 0);
}

/* A v2 container with one region of 64 pages registered, and its process. */
static struct mm *v2_mm(struct fx_vfio *f)
{
	struct mm *mm;

	CHECK_EQ(fx_vfio_v2(f, fx_host_new(NULL), 0, 64), 0);
	mm = host_mm_get(f->h, getpid(), false);
	CHECK(mm && mm->nregions == 1);
	return mm;
}

/* The check fails, saying what. */
static void caught(struct tcemu_host *h, const char *what)
{
	char why[512];

	CHECK_EQ(check(h, TCEMU_CHECK_NO_GUEST, why), -1);
	CHECK_CONTAINS(why, what);
}

TEST(a_wrong_mapped_count_is_caught)
{
	struct fx_vfio f;
	char why[512];
	struct mm *mm = v2_mm(&f);

	CHECK_EQ(map(&f, 0, 0, 4 * FX_PAGE, 3), 0);
	mm->hot[0].mapped++;
	caught(f.h, "mapped count 5, 4 entries point into it");
	mm->hot[0].mapped--;
	CHECK_EQ(check(f.h, TCEMU_CHECK_NO_GUEST, why), 0);
}

/* The region index's gap counts and counts by page size (the O(1) check of a map across regions). */
TEST(a_wrong_gap_count_or_page_size_count_is_caught)
{
	struct fx_vfio f;
	char why[512];
	struct mm *mm = v2_mm(&f);
	struct vfio_iommu_spapr_register_memory r = { .argsz = sizeof(r), .vaddr = (uintptr_t)f.mem, .size = 64 * FX_PAGE };

	/* two regions that follow each other, for a gap count to be wrong against the one before */
	CHECK_EQ(tcemu_host_ioctl(f.h, f.c, VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY, &r), 0);
	r.size = 32 * FX_PAGE;
	CHECK_EQ(tcemu_host_ioctl(f.h, f.c, VFIO_IOMMU_SPAPR_REGISTER_MEMORY, &r), 0);
	r.vaddr += 32 * FX_PAGE;
	CHECK_EQ(tcemu_host_ioctl(f.h, f.c, VFIO_IOMMU_SPAPR_REGISTER_MEMORY, &r), 0);
	CHECK_EQ(check(f.h, TCEMU_CHECK_NO_GUEST, why), 0);
	mm->regions[1].gaps++;
	caught(f.h, "with 0 gap between");
	mm->regions[1].gaps--;
	mm->by_shift[mm->regions[0].page_shift]++;
	caught(f.h, "counted by page size");
	mm->by_shift[mm->regions[0].page_shift]--;
	CHECK_EQ(check(f.h, TCEMU_CHECK_NO_GUEST, why), 0);
}

/* The index's slots: the padding on both sides of the regions and the last key of each block. */
TEST(a_broken_index_slot_is_caught)
{
	struct fx_vfio f;
	char why[512];
	struct mm *mm = v2_mm(&f);
	const size_t used = mm->front + mm->nregions;

	CHECK(mm->front > 0 && used < mm->cap); /* room on both sides */
	mm_end_slots(mm)[mm->front - 1] = 1;
	caught(f.h, "outside the regions");
	mm_end_slots(mm)[mm->front - 1] = 0;
	mm_end_slots(mm)[used] = UINT64_MAX - 1; /* still above every address: lookups work */
	caught(f.h, "outside the regions");
	mm_end_slots(mm)[used] = UINT64_MAX;
	mm->tops[mm->front / MM_KEYS_PER_BLOCK]--;
	caught(f.h, "top is");
	mm->tops[mm->front / MM_KEYS_PER_BLOCK]++;
	CHECK_EQ(check(f.h, TCEMU_CHECK_NO_GUEST, why), 0);
}

TEST(an_accounting_slip_is_caught)
{
	struct fx_vfio f;
	char why[512];
	struct mm *mm = v2_mm(&f);

	mm->locked += 4096;
	caught(f.h, "bytes locked");
	/* a guest view may be charged too: without NO_GUEST, more than the host's charges is allowed */
	CHECK_EQ(check(f.h, 0, why), -1); /* the host's counter still disagrees */
	CHECK_CONTAINS(why, "locked bytes: the host counts");
	mm->locked -= 4096;
	CHECK_EQ(check(f.h, TCEMU_CHECK_NO_GUEST, why), 0);
}

/* An entry written behind the backend's back, to memory the process never registered. */
TEST(an_entry_outside_registered_memory_is_caught)
{
	struct fx_vfio f;
	struct tcemu_container_info ci;
	char why[512];
	uint64_t tce, ua;

	CHECK_EQ(fx_vfio_v2(&f, fx_host_new(NULL), 0, 64), 0);
	CHECK_EQ(map(&f, 0, 0, FX_PAGE, 3), 0);
	CHECK_EQ(tcemu_host_container_info(f.h, f.c, &ci), 0);
	CHECK_EQ(tcemu_host_container_entry(f.h, f.c, 0, &tce, &ua), 0);
	/* find the window's table through the group's PE (a reference), move entry 0 one page past the region */
	struct tcemu_table *t = tcemu_pe_window(tcemu_platform_pe_by_group(tcemu_host_platform(f.h), 0), 0);
	CHECK(t != NULL);
	uint64_t bad = tce + 64 * FX_PAGE, bad_ua = ua + 64 * FX_PAGE;
	CHECK_EQ(tcemu_table_xchg(t, 0, &bad, &bad_ua), 0);
	CHECK_EQ(check(f.h, TCEMU_CHECK_NO_GUEST, why), -1);
	CHECK_CONTAINS(why, "is in no region of its process");
	CHECK_EQ(tcemu_table_xchg(t, 0, &bad, &bad_ua), 0); /* put it back */
	tcemu_table_unref(t);
	CHECK_EQ(check(f.h, TCEMU_CHECK_NO_GUEST, why), 0);
}

TEST(guest_views_and_hardware_agree)
{
	struct fx_guest f;
	char why[512];
	uint64_t a[4] = { LIOBN, 0x5000, 0x3000 | 3 };

	CHECK_EQ(fx_guest_linked(&f, 0, 12, 12, LIOBN), 0);
	CHECK_EQ(tcemu_guest_hcall(f.g, TCEMU_H_PUT_TCE, a, NULL), TCEMU_H_SUCCESS);
	a[1] = 0x6000, a[2] = 0x4000 | TCEMU_TCE_WRITE;
	CHECK_EQ(tcemu_guest_hcall(f.g, TCEMU_H_PUT_TCE, a, NULL), TCEMU_H_SUCCESS);
	CHECK_EQ(tcemu_guest_check_invariants(f.g, why, sizeof(why)), 0);
	CHECK_EQ(check(f.h, 0, why), 0);
	/* the VMM maps a page the guest view does not have: the device could reach it */
	struct vfio_iommu_type1_dma_map m = {
		.argsz = sizeof(m), .flags = 3, .vaddr = (uintptr_t)f.ram + 0x9000, .iova = 0x9000, .size = FX_PAGE,
	};
	CHECK_EQ(tcemu_host_ioctl(f.h, f.c, VFIO_IOMMU_MAP_DMA, &m), 0);
	CHECK_EQ(tcemu_guest_check_invariants(f.g, why, sizeof(why)), -1);
	CHECK_CONTAINS(why, "where the guest view has none");
	CHECK_EQ(check(f.h, 0, why), 0); /* the host itself is consistent */
	/* the VMM maps another page where the guest view points elsewhere */
	struct vfio_iommu_type1_dma_unmap u = { .argsz = sizeof(u), .iova = 0x9000, .size = FX_PAGE };
	CHECK_EQ(tcemu_host_ioctl(f.h, f.c, VFIO_IOMMU_UNMAP_DMA, &u), 0);
	m.iova = 0x5000;
	CHECK_EQ(tcemu_host_ioctl(f.h, f.c, VFIO_IOMMU_MAP_DMA, &m), 0);
	CHECK_EQ(tcemu_guest_check_invariants(f.g, why, sizeof(why)), -1);
	CHECK_CONTAINS(why, "the guest TCE 0x3003 means");
	fx_guest_close(&f);
}

HARNESS_MAIN(T(v2_state_passes_and_tears_down_to_zero), T(v1_state_passes), T(a_wrong_mapped_count_is_caught),
	     T(a_wrong_gap_count_or_page_size_count_is_caught), T(a_broken_index_slot_is_caught), T(an_accounting_slip_is_caught), T(an_entry_outside_registered_memory_is_caught),
	     T(guest_views_and_hardware_agree))
