/* SPDX-License-Identifier: MIT */
/*
 * sPAPR TCE backend conformance (spapr.h): map and unmap: the entries' bits and addresses (v1 and
 * v2), mapping over valid entries, and GET_INFO (with and without the DDW part).
 */
#include "spapr.h"

/* ======================= entries, replacement, GET_INFO ======================= */

TEST(map_entry_bits_and_addresses_v2)
{
	struct fx_vfio f;
	uint8_t *mem;
	struct tcemu_region_info ri;
	const struct {
		uint32_t flags;
		uint64_t bits;
	} dirs[] = {
		{ VFIO_DMA_MAP_FLAG_READ, TR },
		{ VFIO_DMA_MAP_FLAG_WRITE, TR | TW }, /* the host adds READ whenever WRITE is set */
		{ VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE, TR | TW },
	};

	CHECK_EQ(fx_v2_ready(&f, &mem), 0);
	ri = region_at(f.h, mem);
	for (unsigned d = 0; d < 3; d++) {
		uint64_t iova = 0x1000000 + d * 0x100000ull, va_off = d * 0x40000ull;

		CHECK_EQ(map(&f, mem + va_off, iova, 4 * 4096, dirs[d].flags), 0);
		for (unsigned i = 0; i < 4; i++) {
			uint64_t ua = 0, tce = tce_at(&f, iova + i * 4096ull, &ua);

			CHECK_U64(tce & 0xfff, dirs[d].bits);
			CHECK_U64(tce & ~0xfffull, ri.hpa + va_off + i * 4096ull);
			CHECK(tce >> 12 != ((uintptr_t)mem + va_off) >> 12);
			CHECK_U64(ua, (uintptr_t)mem + va_off + i * 4096ull);
		}
		CHECK_U64(tce_at(&f, iova + 4 * 4096, NULL), 0);
	}
	CHECK_EQ(region_at(f.h, mem).mapped, 12);
	fx_vfio_close(&f);
	fx_host_done(f.h);
}

TEST(map_entry_bits_and_addresses_v1)
{
	struct fx_vfio f;
	uint8_t *mem = umem(MiB);
	uint64_t tce;

	CHECK_EQ(fx_v1_ready(&f), 0);
	CHECK_EQ(map(&f, mem, 0x5000, 3 * 4096, VFIO_DMA_MAP_FLAG_READ), 0);
	CHECK_EQ(map(&f, mem + 3 * 4096, 0x8000, 4096, VFIO_DMA_MAP_FLAG_WRITE), 0);
	CHECK_EQ(map_rw(&f, mem + 4 * 4096, 0x9000, 4096), 0);
	for (unsigned i = 0; i < 3; i++) {
		tce = tce_at(&f, 0x5000 + i * 4096ull, NULL);
		CHECK_U64(tce & 0xfff, TR);
		CHECK(tce >> 12 != 0 && tce >> 12 != ((uintptr_t)mem + i * 4096ull) >> 12);
		CHECK_U64(v1_ua_of(&f, 0x5000 + i * 4096ull), (uintptr_t)mem + i * 4096ull);
	}
	CHECK_U64(tce_at(&f, 0x8000, NULL) & 0xfff, TR | TW); /* the host adds READ to WRITE */
	CHECK_U64(v1_ua_of(&f, 0x8000), (uintptr_t)mem + 3 * 4096);
	CHECK_U64(tce_at(&f, 0x9000, NULL) & 0xfff, TR | TW);
	CHECK_U64(v1_ua_of(&f, 0x9000), (uintptr_t)mem + 4 * 4096);
	CHECK_U64(tce_at(&f, 0x4000, NULL), 0);
	CHECK_U64(tce_at(&f, 0xa000, NULL), 0);
	fx_vfio_close(&f);
	fx_host_done(f.h);
}

TEST(map_over_valid_entry_replaces_v2)
{
	struct fx_vfio f;
	uint8_t *mem = umem(2 * MiB);
	struct tcemu_region_info rb;
	uint64_t ua = 0;

	CHECK_EQ(fx_vfio_open(&f, 0, V2), 0);
	CHECK_EQ(reg(&f, mem, MiB), 0);
	CHECK_EQ(reg(&f, mem + MiB, MiB), 0);
	CHECK_EQ(map_rw(&f, mem, 0x10000, 4 * 4096), 0);
	/* Overwrite the middle two with pages of the other region, read-only. */
	CHECK_EQ(map(&f, mem + MiB + 0x8000, 0x11000, 2 * 4096, VFIO_DMA_MAP_FLAG_READ), 0);
	rb = region_at(f.h, mem + MiB);
	CHECK_EQ(region_at(f.h, mem).mapped, 2);
	CHECK_EQ(rb.mapped, 2);
	CHECK_EQ(cinfo(&f).windows[0].valid_entries, 4);
	CHECK_U64(tce_at(&f, 0x11000, &ua), (rb.hpa + 0x8000) | TR);
	CHECK_U64(ua, (uintptr_t)mem + MiB + 0x8000);
	/* The same entries once more from the same pages: counts unchanged. */
	CHECK_EQ(map(&f, mem + MiB + 0x8000, 0x11000, 2 * 4096, VFIO_DMA_MAP_FLAG_READ), 0);
	CHECK_EQ(region_at(f.h, mem + MiB).mapped, 2);
	/* Everything over the first region now: the second is free to go. */
	CHECK_EQ(map_rw(&f, mem, 0x10000, 4 * 4096), 0);
	CHECK_EQ(region_at(f.h, mem).mapped, 4);
	CHECK_EQ(region_at(f.h, mem + MiB).mapped, 0);
	CHECK_EQ(unreg(&f, mem + MiB, MiB), 0);
	CHECK_EQ(unmap(&f, 0x10000, 4 * 4096), 0);
	CHECK_EQ(unreg(&f, mem, MiB), 0);
	fx_vfio_close(&f);
	CHECK(host_is_clean(f.h));
	fx_host_done(f.h);
}

TEST(map_over_valid_entry_replaces_v1)
{
	struct fx_vfio f;
	uint8_t *mem = umem(MiB);
	struct tcemu_memory_stats ms0, ms1;
	uint64_t ua = 0, tce;

	CHECK_EQ(fx_v1_ready(&f), 0);
	CHECK_EQ(map_rw(&f, mem, 0x10000, 4096), 0);
	tcemu_memory_stats(tcemu_host_memory(f.h), &ms0);
	CHECK_EQ(map(&f, mem + 0x20000, 0x10000, 4096, VFIO_DMA_MAP_FLAG_READ), 0);
	tcemu_memory_stats(tcemu_host_memory(f.h), &ms1);
	CHECK_U64(ms1.pins, ms0.pins); /* one pinned, one released */
	tce = tce_at(&f, 0x10000, &ua);
	CHECK_U64(tce & 0xfff, TR);
	CHECK_U64(v1_ua_of(&f, 0x10000), (uintptr_t)mem + 0x20000);
	CHECK_EQ(cinfo(&f).windows[0].valid_entries, 1);
	fx_vfio_close(&f);
	tcemu_memory_stats(tcemu_host_memory(f.h), &ms1);
	CHECK_U64(ms1.pins, 0);
	fx_host_done(f.h);
}

TEST(get_info_v2_ioda3_ddw)
{
	struct fx_vfio f;
	struct vfio_iommu_spapr_tce_info info;

	CHECK_EQ(fx_vfio_open(&f, 0, V2), 0);
	memset(&info, 0xcc, sizeof(info));
	info.argsz = sizeof(info);
	info.flags = 0;
	CHECK_EQ(ioc(&f, VFIO_IOMMU_SPAPR_TCE_GET_INFO, &info), 0);
	CHECK_EQ(info.argsz, 32);
	CHECK_EQ(info.flags, VFIO_IOMMU_SPAPR_INFO_DDW);
	CHECK_EQ(info.dma32_window_start, 0);
	CHECK_U64(info.dma32_window_size, 2 * GiB);
	CHECK_U64(info.ddw.pgsizes, PGS_IODA3);
	CHECK_EQ(info.ddw.max_dynamic_windows_supported, 2);
	CHECK_EQ(info.ddw.levels, 5);
	CHECK(cinfo(&f).windows[0].pending); /* GET_INFO builds nothing */
	fx_vfio_close(&f);
	fx_host_done(f.h);
}

TEST(get_info_v2_ioda2_ddw)
{
	struct fx_vfio f;
	struct vfio_iommu_spapr_tce_info info;

	CHECK_EQ(fx_vfio_open(&f, 5, V2), 0);
	memset(&info, 0xcc, sizeof(info));
	info.argsz = sizeof(info);
	CHECK_EQ(ioc(&f, VFIO_IOMMU_SPAPR_TCE_GET_INFO, &info), 0);
	CHECK_EQ(info.flags, VFIO_IOMMU_SPAPR_INFO_DDW);
	CHECK_EQ(info.dma32_window_start, 0);
	CHECK_U64(info.dma32_window_size, 2 * GiB);
	CHECK_U64(info.ddw.pgsizes, PGS_IODA2);
	CHECK_EQ(info.ddw.max_dynamic_windows_supported, 2);
	CHECK_EQ(info.ddw.levels, 5);
	fx_vfio_close(&f);
	fx_host_done(f.h);
}

TEST(get_info_ddw_copied_only_when_argsz_at_least_32)
{
	struct fx_vfio f;
	const uint32_t sizes[] = { 16, 20, 24, 31 };

	CHECK_EQ(fx_vfio_open(&f, 0, V2), 0);
	for (size_t i = 0; i < 4; i++) {
		uint8_t buf[40];
		struct vfio_iommu_spapr_tce_info *info = (void *)buf;

		memset(buf, 0x5a, sizeof(buf));
		info->argsz = sizes[i];
		info->flags = 0;
		CHECK_EQ(ioc(&f, VFIO_IOMMU_SPAPR_TCE_GET_INFO, buf), 0);
		CHECK_EQ(info->flags, VFIO_IOMMU_SPAPR_INFO_DDW);
		CHECK_U64(info->dma32_window_size, 2 * GiB);
		for (size_t k = 16; k < sizeof(buf); k++)
			CHECK_EQ(buf[k], 0x5a);
	}
	fx_vfio_close(&f);
	fx_host_done(f.h);
}

TEST(get_info_v1_flags_zero)
{
	struct fx_vfio f;
	uint8_t buf[32];
	struct vfio_iommu_spapr_tce_info *info = (void *)buf;

	for (unsigned g = 0; g <= 4; g += 4) {
		CHECK_EQ(fx_vfio_open(&f, g, V1), 0);
		memset(buf, 0x5a, sizeof(buf));
		info->argsz = 24;
		info->flags = 0xffff;
		CHECK_EQ(ioc(&f, VFIO_IOMMU_SPAPR_TCE_GET_INFO, buf), 0);
		CHECK_EQ(info->flags, 0);
		CHECK_EQ(info->dma32_window_start, 0);
		CHECK_U64(info->dma32_window_size, 2 * GiB);
		for (size_t k = 16; k < sizeof(buf); k++)
			CHECK_EQ(buf[k], 0x5a);
		fx_vfio_close(&f);
		fx_host_done(f.h);
	}
}

HARNESS_MAIN(T(map_entry_bits_and_addresses_v2), T(map_entry_bits_and_addresses_v1),
	     T(map_over_valid_entry_replaces_v2), T(map_over_valid_entry_replaces_v1), T(get_info_v2_ioda3_ddw),
	     T(get_info_v2_ioda2_ddw), T(get_info_ddw_copied_only_when_argsz_at_least_32), T(get_info_v1_flags_zero))
