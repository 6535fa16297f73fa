/* SPDX-License-Identifier: MIT */
/*
 * VFIO core conformance (vfio.h): the call sequences of DPDK and QEMU (clients.md) against the VFIO
 * core and the sPAPR TCE backend.
 */
#include "vfio.h"

/* ---- Client call sequences (clients.md) ---- */

TEST(client_dpdk_sequence)
{
	struct tcemu_host *h = mkhost();
	CHECK(h);
	int c = open_container(h);
	CHECK(c >= 0);
	CHECK_EQ(xioctl(h, c, VFIO_GET_API_VERSION, NULL), VFIO_API_VERSION);
	CHECK_EQ(IOC_VAL(h, c, VFIO_CHECK_EXTENSION, VFIO_TYPE1_IOMMU), 0);
	CHECK_EQ(IOC_VAL(h, c, VFIO_CHECK_EXTENSION, VFIO_SPAPR_TCE_v2_IOMMU), 1);
	CHECK_EQ(IOC_VAL(h, c, VFIO_CHECK_EXTENSION, VFIO_NOIOMMU_IOMMU), 0);
	int g = open_group(h, 0);
	CHECK(g >= 0);
	CHECK_EQ(group_flags(h, g) & VFIO_GROUP_FLAGS_VIABLE, VFIO_GROUP_FLAGS_VIABLE);
	CHECK_EQ(attach(h, g, c), 0);
	CHECK(IOC_VAL(h, c, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU) < 0);
	CHECK_EQ(IOC_VAL(h, c, VFIO_SET_IOMMU, VFIO_SPAPR_TCE_v2_IOMMU), 0);

	/* default container window setup: 8 GiB of 4 KiB pages */
	struct vfio_iommu_spapr_tce_info info = { .argsz = 32 };
	CHECK_EQ(xioctl(h, c, VFIO_IOMMU_SPAPR_TCE_GET_INFO, &info), 0);
	CHECK_EQ(info.flags & VFIO_IOMMU_SPAPR_INFO_DDW, VFIO_IOMMU_SPAPR_INFO_DDW);
	CHECK_EQ(info.ddw.levels, 5);
	CHECK(info.ddw.pgsizes & (1ull << 12));
	CHECK_EQ(tce_remove(h, c, info.dma32_window_start), 0);
	uint64_t start = 1;
	long r = -1;
	for (uint32_t lv = 1; lv <= info.ddw.levels && r != 0; lv++)
		r = tce_create(h, c, 12, 8 * GiB, lv, &start);
	CHECK_EQ(r, 0);
	CHECK_U64(start, 0);

	/* EAL memory: 16 segments of one page, REGISTER then MAP each, iova just above 4 GiB */
	const uint64_t eal_iova = 0x1000ef000ull;
	uint8_t *eal = fx_pages(16);
	CHECK(eal);
	for (unsigned i = 0; i < 16; i++) {
		CHECK_EQ(reg_mem(h, c, eal + i * PAGE, PAGE), 0);
		CHECK_EQ(map_dma(h, c, eal + i * PAGE, eal_iova + i * PAGE, PAGE), 0);
	}
	CHECK_EQ(tcemu_host_regions(h, getpid(), NULL, 0), 16);
	long d = xioctl(h, g, VFIO_GROUP_GET_DEVICE_FD, (void *)"0000:01:00.0");
	CHECK(d >= 0);
	struct vfio_device_info di = { .argsz = sizeof(di) };
	CHECK_EQ(xioctl(h, (int)d, VFIO_DEVICE_GET_INFO, &di), 0);

	/* rte_vfio_container_dma_map: REGISTER + MAP at a user iova */
	const uint64_t user_iova = 6 * GiB;
	uint8_t *user = fx_pages(4);
	CHECK(user);
	CHECK_EQ(reg_mem(h, c, user, 4 * PAGE), 0);
	CHECK_EQ(map_dma(h, c, user, user_iova, 4 * PAGE), 0);
	/* mapping the same memory twice fails (it is already registered) */
	CHECK(reg_mem(h, c, user, 4 * PAGE) < 0);

	/* rte_vfio_container_dma_unmap: the map struct, argsz 24, sent as UNMAP_DMA */
	struct vfio_iommu_type1_dma_map bad = { .argsz = 24, .flags = 0, .vaddr = 0, .iova = user_iova, .size = 4 * PAGE };
	size_t n0 = tcemu_host_defect_count(h);
	CHECK_EQ(xioctl(h, c, VFIO_IOMMU_UNMAP_DMA, &bad), 0);
	uint64_t tce = 1, ua = 1;
	/* the backend cleared [0, user_iova): the EAL's own mappings are gone ... */
	for (unsigned i = 0; i < 16; i++) {
		CHECK_EQ(tcemu_host_container_entry(h, c, eal_iova + i * PAGE, &tce, &ua), 0);
		CHECK_U64(tce, 0);
	}
	/* ... and the user mapping is still there */
	CHECK_EQ(tcemu_host_container_entry(h, c, user_iova, &tce, &ua), 0);
	CHECK(tce != 0);
	CHECK_U64(ua, (uintptr_t)user);
	CHECK_EQ(unreg_mem(h, c, user, 4 * PAGE), -EBUSY);
	CHECK(tcemu_host_defect_count(h) > n0);
	CHECK(defect_contains(h, n0, "UNREGISTER"));
	tcemu_host_destroy(h);
	munmap(eal, 16 * PAGE);
	munmap(user, 4 * PAGE);
}

TEST(client_qemu_sequence)
{
	struct tcemu_host *h = mkhost();
	CHECK(h);
	int g = open_group(h, 0);
	CHECK(g >= 0);
	CHECK_EQ(group_flags(h, g) & VFIO_GROUP_FLAGS_VIABLE, VFIO_GROUP_FLAGS_VIABLE);
	int c = open_container(h);
	CHECK(c >= 0);
	CHECK_EQ(xioctl(h, c, VFIO_GET_API_VERSION, NULL), VFIO_API_VERSION);
	CHECK_EQ(IOC_VAL(h, c, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU), 0);
	CHECK_EQ(IOC_VAL(h, c, VFIO_CHECK_EXTENSION, VFIO_TYPE1_IOMMU), 0);
	CHECK_EQ(IOC_VAL(h, c, VFIO_CHECK_EXTENSION, VFIO_SPAPR_TCE_v2_IOMMU), 1);
	CHECK_EQ(attach(h, g, c), 0);
	CHECK_EQ(IOC_VAL(h, c, VFIO_SET_IOMMU, VFIO_SPAPR_TCE_v2_IOMMU), 0);

	uint8_t *ram = fx_pages(64);
	CHECK(ram);
	CHECK_EQ(reg_mem(h, c, ram, 64 * PAGE), 0);
	struct vfio_iommu_spapr_tce_info info = { .argsz = sizeof(info) };
	CHECK_EQ(xioctl(h, c, VFIO_IOMMU_SPAPR_TCE_GET_INFO, &info), 0);
	CHECK(info.ddw.pgsizes & (1ull << 12));
	CHECK_EQ(tce_remove(h, c, info.dma32_window_start), 0);

	/* machine reset: a 2^40 window of 4 KiB pages, levels++ until it works */
	uint32_t lv = 1;
	uint64_t start = 1;
	long r;
	long first_err = 0;
	while ((r = tce_create(h, c, 12, 1ull << 40, lv, &start)) != 0 && lv <= info.ddw.levels) {
		if (!first_err)
			first_err = r;
		lv++;
	}
	CHECK_EQ(r, 0);
	CHECK_U64(start, 0);
	if (lv > 1)
		CHECK_EQ(first_err, -EINVAL);
	struct tcemu_container_info ci;
	CHECK_EQ(tcemu_host_container_info(h, c, &ci), 0);
	CHECK(ci.windows[0].present);
	CHECK_EQ(ci.windows[0].levels, lv);
	CHECK_U64(ci.windows[0].size, 1ull << 40);
	/* the first level that worked is the first valid one: one level fewer is refused */
	if (lv > 1) {
		uint64_t s2;
		CHECK_EQ(tce_create(h, c, 12, 1ull << 40, lv - 1, &s2), -EINVAL);
	}

	/* EEH_PE_OP(ENABLE) at PHB reset, the container has exactly one group */
	CHECK_EQ(eeh(h, c, VFIO_EEH_PE_ENABLE), 0);

	/* H_PUT_TCE: MAP one page, then a valid-to-valid overwrite */
	const uint64_t iova = 0x5000;
	CHECK_EQ(map_dma(h, c, ram, iova, PAGE), 0);
	CHECK_EQ(map_dma(h, c, ram + 7 * PAGE, iova, PAGE), 0);
	uint64_t tce = 0, ua = 0;
	CHECK_EQ(tcemu_host_container_entry(h, c, iova, &tce, &ua), 0);
	CHECK(tce != 0);
	CHECK_U64(ua, (uintptr_t)ram + 7 * PAGE);
	struct tcemu_region_info ri;
	CHECK_EQ(tcemu_host_regions(h, getpid(), &ri, 1), 1);
	CHECK_U64(ri.mapped, 1);
	CHECK_EQ(map_dma(h, c, ram + PAGE, (1ull << 40) - PAGE, PAGE), 0);
	CHECK_EQ(tcemu_host_regions(h, getpid(), &ri, 1), 1);
	CHECK_U64(ri.mapped, 2);

	/* window removal: one UNMAP over the whole window, then REMOVE */
	CHECK_EQ(unmap_dma(h, c, 0, 1ull << 40), 0);
	CHECK_EQ(tcemu_host_regions(h, getpid(), &ri, 1), 1);
	CHECK_U64(ri.mapped, 0);
	CHECK_EQ(tce_remove(h, c, 0), 0);
	CHECK_EQ(tcemu_host_container_info(h, c, &ci), 0);
	CHECK(!ci.windows[0].present);
	CHECK_EQ(unreg_mem(h, c, ram, 64 * PAGE), 0);
	tcemu_host_destroy(h);
	munmap(ram, 64 * PAGE);
}

HARNESS_MAIN(T(client_dpdk_sequence), T(client_qemu_sequence))
