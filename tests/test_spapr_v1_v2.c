/* SPDX-License-Identifier: MIT */
/*
 * sPAPR TCE backend conformance (spapr.h): v1 against v2 (section 5 of vfio-spapr-abi.md): ENABLE
 * and its accounting, v1 pinning per page, v2 charges for registration and tables, one group per v1
 * container.
 */
#include "spapr.h"

/* ======================= section 5: v1 against v2 ======================= */

TEST(v1_enable_charges_whole_default_window)
{
	struct fx_vfio f;
	struct tcemu_container_info ci;

	CHECK_EQ(fx_vfio_open(&f, 0, V1), 0);
	CHECK_U64(locked(f.h), 0);
	CHECK(!cinfo(&f).enabled);
	CHECK_EQ(ioc(&f, VFIO_IOMMU_DISABLE, NULL), 0); /* not enabled: nothing to return */
	CHECK_U64(locked(f.h), 0);
	CHECK_EQ(enable(&f), 0);
	CHECK_U64(locked(f.h), 2 * GiB);
	ci = cinfo(&f);
	CHECK(ci.enabled);
	CHECK_EQ(ci.owner, getpid());
	CHECK_U64(ci.locked_bytes, 2 * GiB);
	/* The default window is still only pending: ENABLE does not build it. */
	CHECK(ci.windows[0].pending);
	CHECK(!ci.windows[0].present);
	CHECK_EQ(ioc(&f, VFIO_IOMMU_DISABLE, NULL), 0);
	CHECK_U64(locked(f.h), 0);
	CHECK(!cinfo(&f).enabled);
	fx_vfio_close(&f);
	fx_host_done(f.h);
}

TEST(v1_enable_charges_custom_dma32)
{
	static const char topo[] = "phb 0 ioda3 dma32=1G\n pe 1 group=7\n  device 0000:01:00.0\n";
	struct fx_vfio f;

	CHECK_EQ(fx_open_topo(&f, topo, 7, V1), 0);
	CHECK_EQ(enable(&f), 0);
	CHECK_U64(locked(f.h), GiB);
	fx_vfio_close(&f);
	CHECK_U64(locked(f.h), 0);
	fx_host_done(f.h);
}

TEST(v1_disable_unaccounts_keeps_mappings)
{
	struct fx_vfio f;
	uint8_t *mem = umem(MiB);
	uint64_t base, ua = 0, tce;

	CHECK_EQ(fx_v1_ready(&f), 0);
	CHECK_EQ(map_rw(&f, mem, 0x10000, 2 * 4096), 0);
	uint64_t tce2 = tce_at(&f, 0x11000, NULL);
	CHECK(tce2 != 0);
	base = locked(f.h);
	CHECK_EQ(ioc(&f, VFIO_IOMMU_DISABLE, NULL), 0);
	CHECK_U64(locked(f.h), base - 2 * GiB);
	tce = tce_at(&f, 0x10000, &ua);
	CHECK_U64(tce & 3, TR | TW);
	CHECK_EQ(tcemu_memory_hpa_to_ua(tcemu_host_memory(f.h), tce & ~0xfffull, &ua, NULL), 0);
	CHECK_U64(ua, (uintptr_t)mem);
	CHECK_EQ(cinfo(&f).windows[0].valid_entries, 2);
	/* Disabled: MAP and UNMAP are refused, DISABLE again is fine. */
	CHECK_EQ(map_rw(&f, mem, 0x20000, 4096), -EPERM);
	CHECK_EQ(unmap(&f, 0x10000, 4096), -EPERM);
	CHECK_EQ(ioc(&f, VFIO_IOMMU_DISABLE, NULL), 0);
	CHECK_U64(locked(f.h), base - 2 * GiB);
	/* Enable again: charged again, mappings still there. */
	CHECK_EQ(enable(&f), 0);
	CHECK_U64(locked(f.h), base);
	CHECK_U64(tce_at(&f, 0x11000, NULL), tce2);
	CHECK_U64(tce_at(&f, 0x10000, NULL), tce);
	CHECK_EQ(unmap(&f, 0x10000, 2 * 4096), 0);
	CHECK_EQ(cinfo(&f).windows[0].valid_entries, 0);
	fx_vfio_close(&f);
	CHECK(host_is_clean(f.h));
	fx_host_done(f.h);
}

/* v1 pins page by page as it maps; mapping charges nothing beyond ENABLE's window. */
TEST(v1_map_pins_per_page_without_charge)
{
	struct fx_vfio f;
	uint8_t *mem = umem(MiB);
	struct tcemu_memory_stats ms0, ms1;
	uint64_t base;

	CHECK_EQ(fx_v1_ready(&f), 0);
	CHECK_EQ(map_rw(&f, mem, 0, 4096), 0); /* builds the default window */
	base = locked(f.h);
	tcemu_memory_stats(tcemu_host_memory(f.h), &ms0);
	CHECK_EQ(map_rw(&f, mem + 64 * KiB, 64 * KiB, 16 * 4096), 0);
	tcemu_memory_stats(tcemu_host_memory(f.h), &ms1);
	CHECK_U64(locked(f.h), base);
	CHECK_U64(ms1.pins - ms0.pins, 16);
	CHECK_U64(ms1.pinned_bytes - ms0.pinned_bytes, 16 * 4096);
	CHECK_EQ(unmap(&f, 64 * KiB, 16 * 4096), 0);
	tcemu_memory_stats(tcemu_host_memory(f.h), &ms1);
	CHECK_U64(ms1.pins, ms0.pins);
	fx_vfio_close(&f);
	tcemu_memory_stats(tcemu_host_memory(f.h), &ms1);
	CHECK_U64(ms1.pins, 0);
	CHECK(host_is_clean(f.h));
	fx_host_done(f.h);
}

TEST(v2_register_charges_region_map_charges_nothing)
{
	struct fx_vfio f;
	uint8_t *mem = umem(4 * MiB);

	CHECK_EQ(fx_vfio_open(&f, 0, V2), 0);
	CHECK_EQ(reg(&f, mem, MiB), 0);
	CHECK_U64(locked(f.h), MiB);
	CHECK_EQ(reg(&f, mem + 2 * MiB, 2 * MiB), 0);
	CHECK_U64(locked(f.h), 3 * MiB);
	CHECK_U64(cinfo(&f).locked_bytes, 3 * MiB);
	CHECK_EQ(map_rw(&f, mem, 0, MiB), 0);
	CHECK_U64(locked(f.h), 3 * MiB + DEF_ACCT);
	CHECK_EQ(map_rw(&f, mem + 2 * MiB, MiB, 2 * MiB), 0);
	CHECK_U64(locked(f.h), 3 * MiB + DEF_ACCT);
	CHECK_EQ(unmap(&f, MiB, 2 * MiB), 0);
	CHECK_EQ(unreg(&f, mem + 2 * MiB, 2 * MiB), 0);
	CHECK_U64(locked(f.h), MiB + DEF_ACCT);
	fx_vfio_close(&f);
	CHECK(host_is_clean(f.h));
	fx_host_done(f.h);
}

TEST(v2_create_charges_exact_table_size)
{
	struct fx_vfio f;
	const uint64_t a1 = tcemu_table_accounted_size(16, GiB, 2, 12);
	const uint64_t a2 = tcemu_table_accounted_size(21, 64 * GiB, 3, 12);
	struct tcemu_container_info ci;

	CHECK_U64(a1, 2 * (128 * KiB + 4 * KiB)); /* cross-check of the helper itself */
	CHECK_U64(tcemu_table_accounted_size(12, 2 * GiB, 1, 12), DEF_ACCT);
	CHECK(a2 > 0);
	CHECK_EQ(fx_vfio_open(&f, 0, V2), 0);
	CHECK_EQ(remove_win(&f, 0), 0);
	CHECK_U64(locked(f.h), 0);
	CHECK_EQ(create(&f, 16, GiB, 2, NULL), 0);
	CHECK_U64(locked(f.h), a1);
	CHECK_EQ(create(&f, 21, 64 * GiB, 3, NULL), 0);
	CHECK_U64(locked(f.h), a1 + a2);
	ci = cinfo(&f);
	CHECK_U64(ci.windows[0].accounted_bytes, a1);
	CHECK_U64(ci.windows[1].accounted_bytes, a2);
	CHECK_U64(ci.locked_bytes, a1 + a2);
	CHECK_EQ(remove_win(&f, 0), 0);
	CHECK_U64(locked(f.h), a2);
	CHECK_EQ(remove_win(&f, W1), 0);
	CHECK_U64(locked(f.h), 0);
	fx_vfio_close(&f);
	fx_host_done(f.h);
}

TEST(v2_default_window_charged_when_built)
{
	struct fx_vfio f;
	uint8_t *mem;

	CHECK_EQ(fx_v2_ready(&f, &mem), 0);
	CHECK_U64(locked(f.h), MiB);
	CHECK_EQ(map_rw(&f, mem, 0, 4096), 0);
	CHECK_U64(locked(f.h), MiB + DEF_ACCT);
	CHECK_U64(cinfo(&f).windows[0].accounted_bytes, DEF_ACCT);
	CHECK_EQ(unmap(&f, 0, 4096), 0);
	CHECK_EQ(remove_win(&f, 0), 0);
	CHECK_U64(locked(f.h), MiB);
	fx_vfio_close(&f);
	CHECK(host_is_clean(f.h));
	fx_host_done(f.h);
}

TEST(v2_create_enomem_keeps_nothing)
{
	struct fx_vfio f;
	uint8_t *mem = umem(MiB);

	CHECK_EQ(fx_open_limit(&f, 2 * MiB, 0, V2), 0);
	CHECK_EQ(reg(&f, mem, MiB), 0);
	CHECK_EQ(remove_win(&f, 0), 0);
	CHECK_EQ(create(&f, 12, 2 * GiB, 1, NULL), -ENOMEM); /* 8 MiB */
	CHECK(!cinfo(&f).windows[0].present);
	CHECK_U64(locked(f.h), MiB);
	CHECK_EQ(create(&f, 16, GiB, 2, NULL), 0); /* 264 KiB fits */
	CHECK_U64(locked(f.h), MiB + tcemu_table_accounted_size(16, GiB, 2, 12));
	fx_vfio_close(&f);
	CHECK(host_is_clean(f.h));
	fx_host_done(f.h);
}

/* v2 has no ENABLE: the first registration enables, for good. */
TEST(v2_first_register_enables_never_unset)
{
	struct fx_vfio f;
	uint8_t *mem = umem(MiB);

	CHECK_EQ(fx_vfio_open(&f, 0, V2), 0);
	CHECK(!cinfo(&f).enabled);
	CHECK_EQ(map_rw(&f, mem, 0, 4096), -EPERM);
	CHECK_EQ(reg(&f, mem, MiB), 0);
	CHECK(cinfo(&f).enabled);
	CHECK_EQ(cinfo(&f).owner, getpid());
	CHECK_EQ(unreg(&f, mem, MiB), 0);
	CHECK(cinfo(&f).enabled);
	/* Still enabled: MAP gets to the region check (EINVAL), not EPERM. */
	CHECK_EQ(map_rw(&f, mem, 0, 4096), -EINVAL);
	CHECK_EQ(unmap(&f, 0, 4096), 0);
	fx_vfio_close(&f);
	CHECK(host_is_clean(f.h));
	fx_host_done(f.h);
}

/* A failed registration does not enable. */
TEST(v2_failed_register_does_not_enable)
{
	struct fx_vfio f;
	uint8_t *mem = umem(MiB);

	CHECK_EQ(fx_vfio_open(&f, 0, V2), 0);
	CHECK_EQ(reg(&f, mem, 0), -EINVAL);
	CHECK_EQ(munmap(mem, MiB), 0);
	CHECK_EQ(reg(&f, mem, MiB), -EFAULT);
	CHECK(!cinfo(&f).enabled);
	CHECK_EQ(map_rw(&f, mem, 0, 4096), -EPERM);
	fx_vfio_close(&f);
	fx_host_done(f.h);
}

TEST(v1_one_group_per_container)
{
	struct fx_vfio f;
	int g1, c;

	CHECK_EQ(fx_vfio_open(&f, 0, V1), 0);
	CHECK_EQ(tcemu_host_open(f.h, "/dev/vfio/1", O_RDWR, &g1), 0);
	c = f.c;
	CHECK_EQ(tcemu_host_ioctl(f.h, g1, VFIO_GROUP_SET_CONTAINER, &c), -EBUSY);
	CHECK_EQ(cinfo(&f).ngroups, 1);
	tcemu_host_close(f.h, g1);
	fx_vfio_close(&f);
	fx_host_done(f.h);
}

TEST(v2_requires_dynamic_windows_ioda1_einval)
{
	static const char topo[] = "phb 0 ioda1 dma32=1G\n pe 1 group=0\n  device 0000:01:00.0\n";
	struct fx_vfio f;
	struct vfio_iommu_spapr_tce_info info;

	CHECK_EQ(fx_open_topo(&f, topo, 0, 0), 0);
	CHECK_EQ(ioc(&f, VFIO_SET_IOMMU, (void *)(uintptr_t)V2), -EINVAL);
	CHECK_EQ(cinfo(&f).type, 0);
	/* Nothing kept: v1 can still be set. */
	CHECK_EQ(ioc(&f, VFIO_SET_IOMMU, (void *)(uintptr_t)V1), 0);
	memset(&info, 0x77, sizeof(info));
	info.argsz = sizeof(info);
	CHECK_EQ(ioc(&f, VFIO_IOMMU_SPAPR_TCE_GET_INFO, &info), 0);
	CHECK_EQ(info.flags, 0);
	CHECK_EQ(info.dma32_window_start, 0);
	CHECK_U64(info.dma32_window_size, GiB);
	CHECK_EQ(enable(&f), 0);
	CHECK_U64(locked(f.h), GiB);
	fx_vfio_close(&f);
	fx_host_done(f.h);
}

HARNESS_MAIN(T(v1_enable_charges_whole_default_window), T(v1_enable_charges_custom_dma32),
	     T(v1_disable_unaccounts_keeps_mappings), T(v1_map_pins_per_page_without_charge),
	     T(v2_register_charges_region_map_charges_nothing), T(v2_create_charges_exact_table_size),
	     T(v2_default_window_charged_when_built), T(v2_create_enomem_keeps_nothing),
	     T(v2_first_register_enables_never_unset), T(v2_failed_register_does_not_enable),
	     T(v1_one_group_per_container), T(v2_requires_dynamic_windows_ioda1_einval))
