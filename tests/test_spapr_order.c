/* SPDX-License-Identifier: MIT */
/*
 * sPAPR TCE backend conformance (spapr.h): every ioctl's checks in order (section 4 of
 * vfio-spapr-abi.md): each test violates two rules at once and asserts that the earlier rule wins.
 */
#include "spapr.h"

/* ======================= section 4: checks in order ======================= */

TEST(get_info_argsz_below_16_einval_untouched)
{
	struct fx_vfio f;
	uint8_t buf[32];

	CHECK_EQ(fx_vfio_open(&f, 0, V2), 0);
	memset(buf, 0x5a, sizeof(buf));
	*(uint32_t *)buf = 15;
	CHECK_EQ(ioc(&f, VFIO_IOMMU_SPAPR_TCE_GET_INFO, buf), -EINVAL);
	for (size_t i = 4; i < sizeof(buf); i++)
		CHECK_EQ(buf[i], 0x5a);
	fx_vfio_close(&f);
	fx_host_done(f.h);
}

TEST(map_order_eperm_before_argsz_and_pointer)
{
	struct fx_vfio f;
	uint8_t *mem = umem(MiB);
	struct vfio_iommu_type1_dma_map m = { 0, 0xff, (uintptr_t)mem, 0, 4096 };

	/* v2 before any registration, and v1 before ENABLE: not enabled. */
	for (int v = 0; v < 2; v++) {
		CHECK_EQ(fx_vfio_open(&f, 0, v ? V2 : V1), 0);
		CHECK_EQ(ioc(&f, VFIO_IOMMU_MAP_DMA, &m), -EPERM);
		CHECK_EQ(ioc(&f, VFIO_IOMMU_MAP_DMA, NULL), -EPERM);
		CHECK_EQ(map_rw(&f, mem, 0, 4096), -EPERM);
		CHECK(cinfo(&f).windows[0].pending);
		fx_vfio_close(&f);
		fx_host_done(f.h);
	}
}

TEST(map_order_argsz_and_flags_before_default_window)
{
	struct fx_vfio f;
	uint8_t *mem;
	struct vfio_iommu_type1_dma_map m;

	CHECK_EQ(fx_v2_ready(&f, &mem), 0);
	/* argsz too small and flags bad, iova outside every window: EINVAL, window not built. */
	m = (struct vfio_iommu_type1_dma_map){ 31, 8, (uintptr_t)mem, W1, 4096 };
	CHECK_EQ(ioc(&f, VFIO_IOMMU_MAP_DMA, &m), -EINVAL);
	CHECK(cinfo(&f).windows[0].pending);
	m.argsz = sizeof(m);
	CHECK_EQ(ioc(&f, VFIO_IOMMU_MAP_DMA, &m), -EINVAL);
	CHECK(cinfo(&f).windows[0].pending);
	CHECK(!cinfo(&f).windows[0].present);
	CHECK_U64(locked(f.h), MiB);
	fx_vfio_close(&f);
	fx_host_done(f.h);
}

TEST(map_order_default_window_before_enxio)
{
	struct fx_vfio f;
	uint8_t *mem;
	struct tcemu_container_info ci;

	CHECK_EQ(fx_v2_ready(&f, &mem), 0);
	CHECK_EQ(map_rw(&f, mem, W1, 4096), -ENXIO);
	CHECK(default_window_consistent(&f, MiB));
	CHECK_EQ(unmap(&f, W1, 4096), -ENXIO);
	CHECK(default_window_consistent(&f, MiB));
	/* A successful call builds it for good. */
	CHECK_EQ(map_rw(&f, mem, 0, 4096), 0);
	ci = cinfo(&f);
	CHECK(ci.windows[0].present);
	CHECK(!ci.windows[0].pending);
	CHECK_U64(locked(f.h), MiB + DEF_ACCT);
	fx_vfio_close(&f);
	fx_host_done(f.h);
}

/* The default window cannot be built (locked memory): that error comes before ENXIO. */
TEST(map_order_default_window_enomem_before_enxio)
{
	struct fx_vfio f;
	uint8_t *mem = umem(MiB);

	CHECK_EQ(fx_open_limit(&f, 2 * MiB, 0, V2), 0);
	CHECK_EQ(reg(&f, mem, MiB), 0);
	CHECK_EQ(map_rw(&f, mem, W1, 4096), -ENOMEM);
	CHECK_EQ(map_rw(&f, mem, 0, 4096), -ENOMEM);
	CHECK_EQ(unmap(&f, W1, 4096), -ENOMEM);
	CHECK(cinfo(&f).windows[0].pending);
	CHECK_U64(locked(f.h), MiB);
	fx_vfio_close(&f);
	fx_host_done(f.h);
}

TEST(map_order_enxio_before_alignment_and_direction)
{
	struct fx_vfio f;
	uint8_t *mem;

	CHECK_EQ(fx_v2_ready(&f, &mem), 0);
	CHECK_EQ(map(&f, mem + 1, W1 + 1, 0x801, 0), -ENXIO);
	CHECK_EQ(map(&f, mem, 3 * GiB, 4096, VFIO_DMA_MAP_FLAG_READ), -ENXIO);
	/* Inside the window, the same faults are EINVAL. */
	CHECK_EQ(map(&f, mem + 1, 1, 0x801, 0), -EINVAL);
	fx_vfio_close(&f);
	fx_host_done(f.h);
}

/* Size/vaddr alignment, direction and the window range come before the region checks. */
TEST(map_order_einval_checks_before_region_checks)
{
	struct fx_vfio f;
	uint8_t *mem, *unreg = umem(MiB);

	CHECK_EQ(fx_v2_ready(&f, &mem), 0);
	CHECK_EQ(remove_win(&f, 0), 0);
	CHECK_EQ(create(&f, 16, GiB, 1, NULL), 0); /* 64 KiB pages over 4 KiB-backed memory */
	CHECK_EQ(map_rw(&f, mem, 0, 64 * KiB), -EPERM);
	/* Each of these would also meet the page-size rule (EPERM): the EINVAL rule is earlier. */
	CHECK_EQ(map(&f, mem, 0, 64 * KiB, 0), -EINVAL);                   /* no direction */
	CHECK_EQ(map_rw(&f, mem, 0, 32 * KiB), -EINVAL);                   /* size not a page */
	CHECK_EQ(map_rw(&f, mem + 4096, 0, 64 * KiB), -EINVAL);            /* vaddr not aligned */
	CHECK_EQ(map_rw(&f, mem, 4096, 64 * KiB), -EINVAL);                /* iova not aligned */
	CHECK_EQ(map_rw(&f, mem, GiB - 64 * KiB, 128 * KiB), -EINVAL);     /* leaves the window */
	/* Unregistered memory: EINVAL, not the page-size EPERM. */
	CHECK_EQ(map_rw(&f, unreg, 0, 64 * KiB), -EINVAL);
	CHECK_U64(tce_at(&f, 0, NULL), 0);
	CHECK_EQ(region_at(f.h, mem).mapped, 0);
	fx_vfio_close(&f);
	fx_host_done(f.h);
}

TEST(unmap_order)
{
	struct fx_vfio f;
	uint8_t *mem = umem(MiB);
	struct vfio_iommu_type1_dma_unmap u;

	CHECK_EQ(fx_vfio_open(&f, 0, V2), 0);
	u = (struct vfio_iommu_type1_dma_unmap){ 0, 1, W1, 1 };
	CHECK_EQ(ioc(&f, VFIO_IOMMU_UNMAP_DMA, &u), -EPERM); /* not enabled beats argsz */
	CHECK_EQ(ioc(&f, VFIO_IOMMU_UNMAP_DMA, NULL), -EPERM);
	CHECK_EQ(reg(&f, mem, MiB), 0);
	u = (struct vfio_iommu_type1_dma_unmap){ 23, 1, W1, 1 };
	CHECK_EQ(ioc(&f, VFIO_IOMMU_UNMAP_DMA, &u), -EINVAL); /* argsz */
	CHECK(cinfo(&f).windows[0].pending);
	u.argsz = sizeof(u);
	CHECK_EQ(ioc(&f, VFIO_IOMMU_UNMAP_DMA, &u), -EINVAL); /* flags, before the window */
	CHECK(cinfo(&f).windows[0].pending);
	u.flags = 0;
	CHECK_EQ(ioc(&f, VFIO_IOMMU_UNMAP_DMA, &u), -ENXIO); /* window built, then ENXIO */
	CHECK(default_window_consistent(&f, MiB));
	CHECK_EQ(unmap(&f, 0, 1), -EINVAL);    /* size not aligned */
	CHECK_EQ(unmap(&f, 0, 4096), 0);       /* clearing an empty entry is fine */
	fx_vfio_close(&f);
	fx_host_done(f.h);
}

TEST(enable_order_ebusy_before_enomem)
{
	struct fx_vfio f;

	CHECK_EQ(fx_open_limit(&f, 2 * GiB, 0, V1), 0);
	CHECK_EQ(enable(&f), 0);
	CHECK_U64(locked(f.h), 2 * GiB);
	/* Already enabled, and charging again would exceed the limit: EBUSY. */
	CHECK_EQ(enable(&f), -EBUSY);
	CHECK_U64(locked(f.h), 2 * GiB);
	fx_vfio_close(&f);
	CHECK(host_is_clean(f.h));
	fx_host_done(f.h);
}

TEST(enable_enomem_over_limit)
{
	struct fx_vfio f;
	uint8_t *mem = umem(MiB);

	CHECK_EQ(fx_open_limit(&f, 2 * GiB - 4096, 0, V1), 0);
	CHECK_EQ(enable(&f), -ENOMEM);
	CHECK(!cinfo(&f).enabled);
	CHECK_U64(locked(f.h), 0);
	CHECK_EQ(map_rw(&f, mem, 0, 4096), -EPERM);
	fx_vfio_close(&f);
	fx_host_done(f.h);
}

TEST(register_order_generic_and_alignment)
{
	struct fx_vfio f;
	uint8_t *mem = umem(2 * MiB);
	struct vfio_iommu_spapr_register_memory r;

	CHECK_EQ(fx_vfio_open(&f, 0, V2), 0);
	r = (struct vfio_iommu_spapr_register_memory){ 23, 1, (uintptr_t)mem + 1, 0 };
	CHECK_EQ(ioc(&f, VFIO_IOMMU_SPAPR_REGISTER_MEMORY, &r), -EINVAL);
	r.argsz = sizeof(r);
	CHECK_EQ(ioc(&f, VFIO_IOMMU_SPAPR_REGISTER_MEMORY, &r), -EINVAL);
	CHECK_EQ(reg(&f, mem + 2048, MiB), -EINVAL);
	CHECK_EQ(reg(&f, mem, MiB + 2048), -EINVAL);
	CHECK_EQ(reg(&f, mem, 0), -EINVAL);
	CHECK_EQ(reg(&f, (void *)(uintptr_t)(0ull - 16 * 4096), 32 * 4096), -EINVAL); /* wraps */
	/* Misaligned, and also unmapped memory / over no limit: EINVAL wins over EFAULT. */
	CHECK_EQ(reg(&f, (void *)(uintptr_t)0x1001, 4096), -EINVAL);
	CHECK_EQ(nregions(f.h), 0);
	CHECK_U64(locked(f.h), 0);
	CHECK(!cinfo(&f).enabled);
	fx_vfio_close(&f);
	fx_host_done(f.h);
}

TEST(register_order_ebusy_before_enomem_and_efault)
{
	struct fx_vfio f;
	uint8_t *mem = umem(2 * MiB);

	CHECK_EQ(fx_open_limit(&f, MiB, 0, V2), 0);
	CHECK_EQ(reg(&f, mem, MiB), 0);
	CHECK_EQ(reg(&f, mem, MiB), -EBUSY); /* the limit is reached too */
	CHECK_EQ(munmap(mem, MiB), 0);
	CHECK_EQ(reg(&f, mem, MiB), -EBUSY); /* and now the memory is gone too */
	CHECK_EQ(region_at(f.h, mem).users, 1);
	CHECK_U64(locked(f.h), MiB);
	fx_vfio_close(&f);
	CHECK(host_is_clean(f.h));
	fx_host_done(f.h);
}

TEST(register_order_shared_before_enomem_and_efault)
{
	struct tcemu_host_opts o = fx_host_opts();
	struct fx_vfio a, b;
	uint8_t *mem = umem(MiB);
	struct tcemu_host *h;

	o.memlock = MiB;
	h = fx_host_new(&o);
	CHECK_EQ(fx_vfio_attach(&a, h, 0, V2), 0);
	CHECK_EQ(fx_vfio_attach(&b, h, 1, V2), 0);
	CHECK_EQ(reg(&a, mem, MiB), 0);
	CHECK_EQ(munmap(mem, MiB), 0);
	/* At the limit and no longer mapped, but the exact region exists: shared. */
	CHECK_EQ(reg(&b, mem, MiB), 0);
	CHECK_EQ(region_at(h, mem).users, 2);
	CHECK_U64(locked(h), MiB);
	CHECK_EQ(nregions(h), 1);
	CHECK(cinfo(&b).enabled);
	fx_vfio_close(&a);
	fx_vfio_close(&b);
	CHECK(host_is_clean(h));
	fx_host_done(h);
}

TEST(register_order_overlap_before_enomem_and_efault)
{
	struct fx_vfio f;
	uint8_t *mem = umem(4 * MiB);

	CHECK_EQ(fx_open_limit(&f, 3 * MiB / 2, 0, V2), 0);
	CHECK_EQ(reg(&f, mem + MiB, MiB), 0);
	/* Overlapping, over the limit, and partly unmapped: EINVAL. */
	CHECK_EQ(munmap(mem + 3 * MiB, MiB), 0);
	CHECK_EQ(reg(&f, mem, 4 * MiB), -EINVAL);
	CHECK_EQ(reg(&f, mem + MiB, 2 * MiB), -EINVAL);
	CHECK_EQ(nregions(f.h), 1);
	CHECK_U64(locked(f.h), MiB);
	fx_vfio_close(&f);
	fx_host_done(f.h);
}

TEST(register_order_enomem_before_efault)
{
	struct fx_vfio f;
	uint8_t *mem = umem(2 * MiB);

	CHECK_EQ(fx_open_limit(&f, MiB, 0, V2), 0);
	CHECK_EQ(munmap(mem, 2 * MiB), 0);
	CHECK_EQ(reg(&f, mem, 2 * MiB), -ENOMEM);
	CHECK_EQ(reg(&f, mem, MiB), -EFAULT); /* within the limit: now the memory is the problem */
	CHECK_EQ(nregions(f.h), 0);
	CHECK_U64(locked(f.h), 0);
	CHECK(!cinfo(&f).enabled);
	fx_vfio_close(&f);
	fx_host_done(f.h);
}

TEST(unregister_order)
{
	struct fx_vfio f;
	uint8_t *mem = umem(MiB);
	struct vfio_iommu_spapr_register_memory r = { 0, 1, (uintptr_t)mem + 1, 3 };

	CHECK_EQ(fx_vfio_open(&f, 0, V2), 0);
	/* No process recorded yet: EPERM beats argsz, flags and alignment. */
	CHECK_EQ(ioc(&f, VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY, &r), -EPERM);
	CHECK_EQ(ioc(&f, VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY, NULL), -EPERM);
	CHECK_EQ(unreg(&f, mem, MiB), -EPERM);
	CHECK_EQ(reg(&f, mem, MiB), 0);
	CHECK_EQ(map_rw(&f, mem, 0, 4096), 0);
	r.argsz = 23;
	CHECK_EQ(ioc(&f, VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY, &r), -EINVAL);
	r.argsz = sizeof(r);
	CHECK_EQ(ioc(&f, VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY, &r), -EINVAL);
	/* Misaligned and not registered: EINVAL before ENOENT. */
	CHECK_EQ(unreg(&f, mem + 8, MiB), -EINVAL);
	CHECK_EQ(unreg(&f, mem, MiB - 8), -EINVAL);
	/* Not this exact region but mapped: ENOENT before EBUSY. */
	CHECK_EQ(unreg(&f, mem, MiB / 2), -ENOENT);
	CHECK_EQ(unreg(&f, mem, MiB), -EBUSY);
	CHECK_EQ(nregions(f.h), 1);
	fx_vfio_close(&f);
	fx_host_done(f.h);
}

/* After TCE_REMOVE records the process, UNREGISTER gets past the EPERM rule. */
TEST(unregister_after_remove_records_process_enoent)
{
	struct fx_vfio f;
	uint8_t *mem = umem(MiB);

	CHECK_EQ(fx_vfio_open(&f, 0, V2), 0);
	CHECK_EQ(unreg(&f, mem, MiB), -EPERM);
	CHECK_EQ(remove_win(&f, 0), 0);
	CHECK_EQ(cinfo(&f).owner, getpid());
	CHECK_EQ(unreg(&f, mem, MiB), -ENOENT);
	fx_vfio_close(&f);
	fx_host_done(f.h);
}

TEST(create_order_argsz_flags_before_default_window)
{
	struct fx_vfio f;
	struct vfio_iommu_spapr_tce_create cr = { .argsz = 39, .flags = 1, .page_shift = 16, .window_size = GiB,
						  .levels = 1 };

	CHECK_EQ(fx_vfio_open(&f, 0, V2), 0);
	CHECK_EQ(ioc(&f, VFIO_IOMMU_SPAPR_TCE_CREATE, &cr), -EINVAL);
	CHECK(cinfo(&f).windows[0].pending);
	cr.argsz = sizeof(cr);
	CHECK_EQ(ioc(&f, VFIO_IOMMU_SPAPR_TCE_CREATE, &cr), -EINVAL);
	CHECK(cinfo(&f).windows[0].pending);
	CHECK(!cinfo(&f).windows[1].present);
	CHECK_U64(locked(f.h), 0);
	fx_vfio_close(&f);
	fx_host_done(f.h);
}

TEST(create_order_default_window_before_geometry)
{
	struct fx_vfio f;
	struct tcemu_container_info ci;

	CHECK_EQ(fx_vfio_open(&f, 0, V2), 0);
	CHECK_EQ(create(&f, 13, GiB, 1, NULL), -EINVAL); /* page size not offered */
	CHECK(default_window_consistent(&f, 0));
	CHECK_EQ(create(&f, 12, GiB, 5, NULL), -EINVAL); /* geometry */
	CHECK(default_window_consistent(&f, 0));
	ci = cinfo(&f);
	CHECK(!ci.windows[1].present);
	/* The default window is still the first one, whatever the failed calls did. */
	CHECK_EQ(create(&f, 16, GiB, 1, NULL), 0);
	ci = cinfo(&f);
	CHECK(is_default_window(&ci.windows[0], 2 * GiB));
	CHECK_U64(ci.windows[1].start, W1);
	fx_vfio_close(&f);
	CHECK(host_is_clean(f.h));
	fx_host_done(f.h);
}

TEST(create_order_default_window_enomem_before_geometry)
{
	struct fx_vfio f;

	CHECK_EQ(fx_open_limit(&f, 4 * MiB, 0, V2), 0);
	CHECK_EQ(create(&f, 13, GiB, 0, NULL), -ENOMEM);
	CHECK(cinfo(&f).windows[0].pending);
	CHECK_U64(locked(f.h), 0);
	fx_vfio_close(&f);
	fx_host_done(f.h);
}

TEST(create_order_enospc_before_geometry)
{
	struct fx_vfio f;
	uint64_t start = 0;

	CHECK_EQ(fx_vfio_open(&f, 0, V2), 0);
	CHECK_EQ(create(&f, 16, GiB, 1, &start), 0);
	CHECK_U64(start, W1);
	CHECK_EQ(create(&f, 13, GiB, 1, NULL), -ENOSPC);
	CHECK_EQ(create(&f, 16, 3 * GiB, 0, NULL), -ENOSPC);
	CHECK_EQ(create(&f, 16, GiB, 1, NULL), -ENOSPC);
	fx_vfio_close(&f);
	fx_host_done(f.h);
}

TEST(create_order_pgsize_and_geometry_before_enomem)
{
	struct fx_vfio f;

	CHECK_EQ(fx_open_limit(&f, 64 * KiB, 0, V2), 0);
	CHECK_EQ(remove_win(&f, 0), 0);
	CHECK_EQ(create(&f, 24, 64 * GiB, 1, NULL), -EINVAL); /* IODA3 has no 16M pages */
	CHECK_EQ(create(&f, 12, 64 * GiB, 0, NULL), -EINVAL);
	CHECK_EQ(create(&f, 12, 64 * GiB, 6, NULL), -EINVAL);
	CHECK_EQ(create(&f, 12, 48 * GiB, 2, NULL), -EINVAL);
	CHECK_EQ(create(&f, 12, 64 * GiB, 5, NULL), -EINVAL); /* (12-3)*5+12 >= 55 */
	CHECK_EQ(create(&f, 12, 64 * GiB, 2, NULL), -ENOMEM);
	CHECK_U64(locked(f.h), 0);
	CHECK(!cinfo(&f).windows[0].present);
	CHECK(!cinfo(&f).windows[1].present);
	fx_vfio_close(&f);
	fx_host_done(f.h);
}

TEST(remove_order)
{
	struct fx_vfio f;
	struct vfio_iommu_spapr_tce_remove rm = { 15, 1, 0 };

	CHECK_EQ(fx_vfio_open(&f, 0, V2), 0);
	CHECK_EQ(ioc(&f, VFIO_IOMMU_SPAPR_TCE_REMOVE, &rm), -EINVAL);
	CHECK(cinfo(&f).windows[0].pending);
	rm.argsz = sizeof(rm);
	CHECK_EQ(ioc(&f, VFIO_IOMMU_SPAPR_TCE_REMOVE, &rm), -EINVAL);
	CHECK(cinfo(&f).windows[0].pending);
	/* Pending and not 0: looked up as a window, none. Still pending. */
	CHECK_EQ(remove_win(&f, W1), -EINVAL);
	CHECK_EQ(remove_win(&f, 4096), -EINVAL);
	CHECK(cinfo(&f).windows[0].pending);
	CHECK_EQ(remove_win(&f, 0), 0);
	CHECK(!cinfo(&f).windows[0].pending);
	CHECK(!cinfo(&f).windows[0].present);
	CHECK_EQ(remove_win(&f, 0), -EINVAL); /* nothing left to cancel or remove */
	fx_vfio_close(&f);
	fx_host_done(f.h);
}

HARNESS_MAIN(T(get_info_argsz_below_16_einval_untouched), T(map_order_eperm_before_argsz_and_pointer),
	     T(map_order_argsz_and_flags_before_default_window), T(map_order_default_window_before_enxio),
	     T(map_order_default_window_enomem_before_enxio), T(map_order_enxio_before_alignment_and_direction),
	     T(map_order_einval_checks_before_region_checks), T(unmap_order), T(enable_order_ebusy_before_enomem),
	     T(enable_enomem_over_limit), T(register_order_generic_and_alignment),
	     T(register_order_ebusy_before_enomem_and_efault), T(register_order_shared_before_enomem_and_efault),
	     T(register_order_overlap_before_enomem_and_efault), T(register_order_enomem_before_efault),
	     T(unregister_order), T(unregister_after_remove_records_process_enoent),
	     T(create_order_argsz_flags_before_default_window), T(create_order_default_window_before_geometry),
	     T(create_order_default_window_enomem_before_geometry), T(create_order_enospc_before_geometry),
	     T(create_order_pgsize_and_geometry_before_enomem), T(remove_order))
