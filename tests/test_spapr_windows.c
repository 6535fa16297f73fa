/* SPDX-License-Identifier: MIT */
/*
 * sPAPR TCE backend conformance (spapr.h): windows: the default window and what builds it (section
 * 7 of vfio-spapr-abi.md), the geometry rules of TCE_CREATE, two windows, TCE_REMOVE.
 */
#include "spapr.h"

/* ======================= section 7: the default window ======================= */

TEST(default_window_pending_after_attach)
{
	struct fx_vfio f;
	struct tcemu_container_info ci;

	for (int v = 0; v < 2; v++) {
		CHECK_EQ(fx_vfio_open(&f, 0, 0), 0);
		ci = cinfo(&f);
		CHECK(!ci.windows[0].pending); /* no backend yet */
		CHECK_EQ(ioc(&f, VFIO_SET_IOMMU, (void *)(uintptr_t)(v ? V2 : V1)), 0);
		ci = cinfo(&f);
		CHECK_EQ(ci.type, v ? V2 : V1);
		CHECK_EQ(ci.ngroups, 1);
		CHECK_EQ(ci.groups[0], 0);
		CHECK(ci.windows[0].pending);
		CHECK(!ci.windows[0].present);
		CHECK(!ci.windows[1].pending);
		CHECK(!ci.windows[1].present);
		CHECK_U64(locked(f.h), 0);
		fx_vfio_close(&f);
		fx_host_done(f.h);
	}
}

TEST(default_window_built_by_first_map)
{
	struct fx_vfio f;
	uint8_t *mem;
	struct tcemu_container_info ci;

	CHECK_EQ(fx_v2_ready(&f, &mem), 0);
	CHECK(cinfo(&f).windows[0].pending);
	CHECK_EQ(map_rw(&f, mem, 2 * GiB - 4096, 4096), 0); /* the last page of the 2 GiB window */
	ci = cinfo(&f);
	CHECK(is_default_window(&ci.windows[0], 2 * GiB));
	CHECK_EQ(ci.windows[0].valid_entries, 1);
	CHECK(!ci.windows[1].present);
	fx_vfio_close(&f);
	fx_host_done(f.h);
}

TEST(default_window_built_by_first_unmap)
{
	struct fx_vfio f;
	uint8_t *mem;
	struct tcemu_container_info ci;

	CHECK_EQ(fx_v2_ready(&f, &mem), 0);
	CHECK_EQ(unmap(&f, 0, 4096), 0);
	ci = cinfo(&f);
	CHECK(is_default_window(&ci.windows[0], 2 * GiB));
	CHECK_EQ(ci.windows[0].valid_entries, 0);
	fx_vfio_close(&f);
	fx_host_done(f.h);
}

TEST(default_window_built_by_create)
{
	struct fx_vfio f;
	struct tcemu_container_info ci;
	uint64_t start = 0;

	CHECK_EQ(fx_vfio_open(&f, 0, V2), 0);
	CHECK_EQ(create(&f, 16, 4 * GiB, 2, &start), 0);
	CHECK_U64(start, W1);
	ci = cinfo(&f);
	CHECK(is_default_window(&ci.windows[0], 2 * GiB));
	CHECK(ci.windows[1].present);
	CHECK_U64(ci.windows[1].start, W1);
	CHECK_U64(ci.windows[1].size, 4 * GiB);
	CHECK_EQ(ci.windows[1].page_shift, 16);
	CHECK_EQ(ci.windows[1].levels, 2);
	CHECK_U64(locked(f.h), DEF_ACCT + tcemu_table_accounted_size(16, 4 * GiB, 2, 12));
	fx_vfio_close(&f);
	CHECK(host_is_clean(f.h));
	fx_host_done(f.h);
}

TEST(default_window_remove_zero_cancels)
{
	struct fx_vfio f;
	uint8_t *mem;
	struct tcemu_container_info ci;
	uint64_t start = 1;

	CHECK_EQ(fx_v2_ready(&f, &mem), 0);
	CHECK_EQ(remove_win(&f, 0), 0);
	ci = cinfo(&f);
	CHECK(!ci.windows[0].pending);
	CHECK(!ci.windows[0].present);
	CHECK_U64(locked(f.h), MiB); /* nothing was charged for it */
	/* Nothing comes back: MAP and UNMAP find no window. */
	CHECK_EQ(map_rw(&f, mem, 0, 4096), -ENXIO);
	CHECK_EQ(unmap(&f, 0, 4096), -ENXIO);
	CHECK(!cinfo(&f).windows[0].present);
	/* GET_INFO still describes the group's default window. */
	struct vfio_iommu_spapr_tce_info info = { .argsz = sizeof(info) };
	CHECK_EQ(ioc(&f, VFIO_IOMMU_SPAPR_TCE_GET_INFO, &info), 0);
	CHECK_U64(info.dma32_window_size, 2 * GiB);
	/* CREATE gets slot 0 with the requested geometry. */
	CHECK_EQ(create(&f, 12, 8 * GiB, 2, &start), 0);
	CHECK_U64(start, 0);
	ci = cinfo(&f);
	CHECK(ci.windows[0].present);
	CHECK_U64(ci.windows[0].size, 8 * GiB);
	CHECK_EQ(ci.windows[0].levels, 2);
	CHECK_EQ(map_rw(&f, mem, 4 * GiB, 4096), 0);
	fx_vfio_close(&f);
	CHECK(host_is_clean(f.h));
	fx_host_done(f.h);
}

TEST(default_window_v1_built_by_map)
{
	struct fx_vfio f;
	uint8_t *mem = umem(MiB);
	struct tcemu_container_info ci;

	CHECK_EQ(fx_v1_ready(&f), 0);
	CHECK(cinfo(&f).windows[0].pending);
	CHECK_EQ(map(&f, mem, 0x7fff0000, 4096, VFIO_DMA_MAP_FLAG_READ), 0);
	ci = cinfo(&f);
	CHECK(is_default_window(&ci.windows[0], 2 * GiB));
	CHECK_EQ(ci.windows[0].valid_entries, 1);
	CHECK_EQ(map_rw(&f, mem, 2 * GiB, 4096), -ENXIO);
	fx_vfio_close(&f);
	CHECK(host_is_clean(f.h));
	fx_host_done(f.h);
}

TEST(default_window_ioda2_and_custom_dma32)
{
	static const char topo[] = "phb 0 ioda3 dma32=256M\n pe 1 group=3\n  device 0000:01:00.0\n";
	struct fx_vfio f;
	uint8_t *mem = umem(MiB);
	struct tcemu_container_info ci;

	CHECK_EQ(fx_vfio_open(&f, 4, V2), 0); /* IODA2 */
	CHECK_EQ(reg(&f, mem, MiB), 0);
	CHECK_EQ(map_rw(&f, mem, 0, 4096), 0);
	ci = cinfo(&f);
	CHECK(is_default_window(&ci.windows[0], 2 * GiB));
	fx_vfio_close(&f);
	fx_host_done(f.h);

	CHECK_EQ(fx_open_topo(&f, topo, 3, V2), 0);
	CHECK_EQ(reg(&f, mem, MiB), 0);
	CHECK_EQ(map_rw(&f, mem, 256 * MiB - 4096, 4096), 0);
	CHECK_EQ(map_rw(&f, mem, 256 * MiB, 4096), -ENXIO);
	ci = cinfo(&f);
	CHECK(is_default_window(&ci.windows[0], 256 * MiB));
	CHECK_U64(ci.windows[0].accounted_bytes, tcemu_table_accounted_size(12, 256 * MiB, 1, 12));
	fx_vfio_close(&f);
	fx_host_done(f.h);
}

/* ======================= window geometry ======================= */

/* Creates and removes one window in slot 0 (the default window is cancelled first). */
static long try_window(struct fx_vfio *f, uint32_t ps, uint64_t ws, uint32_t levels)
{
	uint64_t start = 1;
	long rc = create(f, ps, ws, levels, &start);

	if (rc == 0) {
		if (start != 0)
			return -1000;
		rc = remove_win(f, 0);
	}
	return rc;
}

TEST(geometry_levels_zero_and_six_einval)
{
	struct fx_vfio f;

	CHECK_EQ(fx_vfio_open(&f, 0, V2), 0);
	CHECK_EQ(remove_win(&f, 0), 0);
	CHECK_EQ(try_window(&f, 16, GiB, 0), -EINVAL);
	CHECK_EQ(try_window(&f, 16, GiB, 6), -EINVAL);
	CHECK_EQ(try_window(&f, 16, GiB, 100), -EINVAL);
	CHECK_EQ(try_window(&f, 16, GiB, UINT32_MAX), -EINVAL);
	for (uint32_t l = 1; l <= 4; l++)
		CHECK_EQ(try_window(&f, 16, GiB, l), 0);
	CHECK_U64(locked(f.h), 0);
	fx_vfio_close(&f);
	fx_host_done(f.h);
}

TEST(geometry_window_size_power_of_two)
{
	struct fx_vfio f;

	CHECK_EQ(fx_vfio_open(&f, 0, V2), 0);
	CHECK_EQ(remove_win(&f, 0), 0);
	CHECK_EQ(try_window(&f, 12, 3 * GiB, 1), -EINVAL);
	CHECK_EQ(try_window(&f, 12, GiB + 4096, 1), -EINVAL);
	CHECK_EQ(try_window(&f, 12, 0, 1), -EINVAL);
	CHECK_EQ(try_window(&f, 16, 4096, 1), -EINVAL); /* smaller than one page */
	CHECK_EQ(try_window(&f, 12, UINT64_MAX, 1), -EINVAL);
	CHECK_EQ(try_window(&f, 12, 1ull << 63, 4), -EINVAL);
	CHECK_EQ(try_window(&f, 12, 4096, 1), 0);
	CHECK_EQ(try_window(&f, 12, GiB, 1), 0);
	CHECK(!cinfo(&f).windows[0].present);
	CHECK_U64(locked(f.h), 0);
	fx_vfio_close(&f);
	fx_host_done(f.h);
}

TEST(geometry_page_sizes_ioda3)
{
	struct fx_vfio f;
	struct vfio_iommu_spapr_tce_info info = { .argsz = sizeof(info) };

	CHECK_EQ(fx_vfio_open(&f, 0, V2), 0);
	CHECK_EQ(ioc(&f, VFIO_IOMMU_SPAPR_TCE_GET_INFO, &info), 0);
	CHECK_EQ(remove_win(&f, 0), 0);
	for (uint32_t ps = 0; ps < 64; ps++) {
		long want = (info.ddw.pgsizes >> ps) & 1 ? 0 : -EINVAL;

		CHECK_EQ(try_window(&f, ps, 1ull << 40, 2), want);
	}
	CHECK_U64(info.ddw.pgsizes, PGS_IODA3);
	CHECK_EQ(try_window(&f, 24, 1ull << 40, 2), -EINVAL);
	CHECK_EQ(try_window(&f, 28, 1ull << 40, 2), -EINVAL);
	CHECK_EQ(try_window(&f, 64, 1ull << 40, 2), -EINVAL);
	CHECK_EQ(try_window(&f, 0xffffffffu, 1ull << 40, 2), -EINVAL);
	fx_vfio_close(&f);
	fx_host_done(f.h);
}

TEST(geometry_page_sizes_ioda2)
{
	struct fx_vfio f;

	CHECK_EQ(fx_vfio_open(&f, 4, V2), 0);
	CHECK_EQ(remove_win(&f, 0), 0);
	CHECK_EQ(try_window(&f, 12, 1ull << 40, 2), 0);
	CHECK_EQ(try_window(&f, 16, 1ull << 40, 2), 0);
	CHECK_EQ(try_window(&f, 24, 1ull << 40, 2), 0);
	CHECK_EQ(try_window(&f, 28, 1ull << 40, 2), 0);
	CHECK_EQ(try_window(&f, 21, 1ull << 40, 2), -EINVAL);
	CHECK_EQ(try_window(&f, 30, 1ull << 40, 2), -EINVAL);
	CHECK_EQ(try_window(&f, 13, 1ull << 40, 2), -EINVAL);
	fx_vfio_close(&f);
	fx_host_done(f.h);
}

/* (level_shift - 3) * levels + page_shift < 55, level_shift = max(12, ceil(entries_shift/levels) + 3). */
TEST(geometry_level_shift_rule)
{
	struct fx_vfio f;

	CHECK_EQ(fx_vfio_open(&f, 0, V2), 0);
	CHECK_EQ(remove_win(&f, 0), 0);
	/* 4K pages: 4 levels give 9*4+12 = 48; 5 levels 9*5+12 = 57 whatever the size. */
	CHECK_EQ(try_window(&f, 12, 2 * GiB, 4), 0);
	CHECK_EQ(try_window(&f, 12, 2 * GiB, 5), -EINVAL);
	CHECK_EQ(try_window(&f, 12, 4096, 5), -EINVAL);
	/* 64K pages, 3 levels: 2^52 gives 12*3+16 = 52; 2^53 gives 13*3+16 = 55. */
	CHECK_EQ(try_window(&f, 16, 1ull << 52, 3), 0);
	CHECK_EQ(try_window(&f, 16, 1ull << 53, 3), -EINVAL);
	/* 1G pages, 2 levels: 2^54 gives 12*2+30 = 54; 2^55 gives 13*2+30 = 56. */
	CHECK_EQ(try_window(&f, 30, 1ull << 54, 2), 0);
	CHECK_EQ(try_window(&f, 30, 1ull << 55, 2), -EINVAL);
	/* 2M pages, 1 level: 2^55 gives 34+21 = 55. */
	CHECK_EQ(try_window(&f, 21, 1ull << 55, 1), -EINVAL);
	CHECK_U64(locked(f.h), 0);
	fx_vfio_close(&f);
	fx_host_done(f.h);
}

TEST(geometry_two_windows_then_enospc)
{
	struct fx_vfio f;
	uint64_t s0 = 1, s1 = 0, s2 = 0;
	struct tcemu_container_info ci;

	CHECK_EQ(fx_vfio_open(&f, 0, V2), 0);
	CHECK_EQ(remove_win(&f, 0), 0);
	CHECK_EQ(create(&f, 16, 16 * GiB, 1, &s0), 0);
	CHECK_EQ(create(&f, 21, 1ull << 40, 2, &s1), 0);
	CHECK_U64(s0, 0);
	CHECK_U64(s1, W1);
	CHECK_EQ(create(&f, 12, GiB, 1, &s2), -ENOSPC);
	ci = cinfo(&f);
	CHECK_U64(ci.windows[0].start, 0);
	CHECK_EQ(ci.windows[0].page_shift, 16);
	CHECK_U64(ci.windows[1].start, W1);
	CHECK_EQ(ci.windows[1].page_shift, 21);
	/* Free slot 1 only: the next window takes slot 1 again. */
	CHECK_EQ(remove_win(&f, W1), 0);
	CHECK_EQ(create(&f, 12, GiB, 1, &s2), 0);
	CHECK_U64(s2, W1);
	CHECK_U64(locked(f.h), tcemu_table_accounted_size(16, 16 * GiB, 1, 12) +
				       tcemu_table_accounted_size(12, GiB, 1, 12));
	fx_vfio_close(&f);
	CHECK(host_is_clean(f.h));
	fx_host_done(f.h);
}

TEST(remove_address_inside_window)
{
	struct fx_vfio f;
	uint8_t *mem;
	uint64_t base;

	CHECK_EQ(fx_v2_ready(&f, &mem), 0);
	CHECK_EQ(create(&f, 12, 4 * GiB, 2, NULL), 0); /* slot 1; default built in slot 0 */
	CHECK_EQ(map_rw(&f, mem, W1 + 0x10000000, 16 * 4096), 0);
	CHECK_EQ(region_at(f.h, mem).mapped, 16);
	base = locked(f.h);
	/* An address past the end of every window: EINVAL. */
	CHECK_EQ(remove_win(&f, W1 + 4 * GiB), -EINVAL);
	CHECK_EQ(remove_win(&f, 2 * GiB), -EINVAL);
	/* Inside window 1, not its start. */
	CHECK_EQ(remove_win(&f, W1 + 0x10000000 + 4096), 0);
	CHECK(!cinfo(&f).windows[1].present);
	CHECK(cinfo(&f).windows[0].present);
	CHECK_U64(locked(f.h), base - tcemu_table_accounted_size(12, 4 * GiB, 2, 12));
	CHECK_EQ(region_at(f.h, mem).mapped, 0);
	CHECK_EQ(map_rw(&f, mem, W1, 4096), -ENXIO);
	CHECK_EQ(unreg(&f, mem, MiB), 0);
	/* Inside window 0: the last byte. */
	CHECK_EQ(remove_win(&f, 2 * GiB - 1), 0);
	CHECK(!cinfo(&f).windows[0].present);
	CHECK_U64(locked(f.h), 0);
	fx_vfio_close(&f);
	fx_host_done(f.h);
}

/* Clearing skips absent levels: a sparse 2^36-entry window unmaps in what is mapped. */
TEST(unmap_sparse_multilevel_window_skips_absent_levels)
{
	struct fx_vfio f;
	uint8_t *mem;
	struct tcemu_container_info ci;
	uint64_t alloc;
	struct timespec t0, t1;

	CHECK_EQ(fx_v2_ready(&f, &mem), 0);
	CHECK_EQ(create(&f, 12, 1ull << 48, 4, NULL), 0);
	CHECK_EQ(map_rw(&f, mem, W1 + (1ull << 47), 4096), 0);
	CHECK_EQ(map_rw(&f, mem + 4096, W1 + (1ull << 48) - 4096, 4096), 0);
	ci = cinfo(&f);
	CHECK_EQ(ci.windows[1].valid_entries, 2);
	alloc = ci.windows[1].allocated_bytes;
	CHECK(alloc > 0 && alloc < MiB);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_EQ(unmap(&f, W1, 1ull << 48), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	CHECK((t1.tv_sec - t0.tv_sec) < 2);
	ci = cinfo(&f);
	CHECK_EQ(ci.windows[1].valid_entries, 0);
	CHECK(ci.windows[1].allocated_bytes <= alloc); /* clearing never allocates */
	CHECK_EQ(region_at(f.h, mem).mapped, 0);
	CHECK_EQ(remove_win(&f, W1), 0);
	fx_vfio_close(&f);
	CHECK(host_is_clean(f.h));
	fx_host_done(f.h);
}

HARNESS_MAIN(T(default_window_pending_after_attach), T(default_window_built_by_first_map),
	     T(default_window_built_by_first_unmap), T(default_window_built_by_create),
	     T(default_window_remove_zero_cancels), T(default_window_v1_built_by_map),
	     T(default_window_ioda2_and_custom_dma32), T(geometry_levels_zero_and_six_einval),
	     T(geometry_window_size_power_of_two), T(geometry_page_sizes_ioda3), T(geometry_page_sizes_ioda2),
	     T(geometry_level_shift_rule), T(geometry_two_windows_then_enospc), T(remove_address_inside_window),
	     T(unmap_sparse_multilevel_window_skips_absent_levels))
