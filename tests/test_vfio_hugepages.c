/* SPDX-License-Identifier: MIT */
/*
 * A region's page size comes from its alignment and from the real backing page size: memory from
 * hugetlbfs (here anonymous MAP_HUGETLB 2 MiB pages) may back 2 MiB IOMMU pages, ordinary 4 KiB
 * pages may not (EPERM: the check that closed a real hole in 2018). Needs hugetlb pages: as root
 * the test reserves a few itself (/proc/sys/vm/nr_hugepages).
 */
#include <errno.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/vfio.h>

#include <tcemu/host.h>

#include "harness.h"

#define MiB (1ull << 20)

static void *huge_mem(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);

	if (p == MAP_FAILED && geteuid() == 0) {
		FILE *f = fopen("/proc/sys/vm/nr_hugepages", "w");
		if (f) {
			fprintf(f, "16\n");
			fclose(f);
		}
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	}
	return p == MAP_FAILED ? NULL : p;
}

static int setup(struct tcemu_host **h, int *c, int *g)
{
	struct vfio_iommu_spapr_tce_remove rm = { .argsz = sizeof(rm) };
	struct vfio_iommu_spapr_tce_create cr = { .argsz = sizeof(cr), .page_shift = 21, .window_size = 1ull << 32, .levels = 1 };

	if (tcemu_host_create(NULL, h) || tcemu_host_open(*h, "/dev/vfio/vfio", 2, c) ||
	    tcemu_host_open(*h, "/dev/vfio/0", 2, g) || tcemu_host_ioctl(*h, *g, VFIO_GROUP_SET_CONTAINER, c) ||
	    tcemu_host_ioctl(*h, *c, VFIO_SET_IOMMU, (void *)VFIO_SPAPR_TCE_v2_IOMMU) ||
	    tcemu_host_ioctl(*h, *c, VFIO_IOMMU_SPAPR_TCE_REMOVE, &rm))
		return -1;
	return (int)tcemu_host_ioctl(*h, *c, VFIO_IOMMU_SPAPR_TCE_CREATE, &cr); /* 2 MiB pages: IODA3 */
}

TEST(hugetlb_region_backs_2m_iommu_pages)
{
	uint8_t *mem = huge_mem(4 * MiB);
	struct tcemu_host *h;
	struct tcemu_region_info ri;
	int c, g;

	CHECK(mem != NULL); /* hugetlb pages must be available (root reserves them) */
	CHECK_EQ(setup(&h, &c, &g), 0);
	struct vfio_iommu_spapr_register_memory r = { .argsz = sizeof(r), .vaddr = (uintptr_t)mem, .size = 4 * MiB };
	CHECK_EQ(tcemu_host_ioctl(h, c, VFIO_IOMMU_SPAPR_REGISTER_MEMORY, &r), 0);
	CHECK_EQ(tcemu_host_regions(h, getpid(), &ri, 1), 1);
	CHECK_EQ(ri.page_shift, 21);
	CHECK_U64(ri.hpa & (2 * MiB - 1), 0); /* frames aligned to the huge page */
	struct vfio_iommu_type1_dma_map m = { .argsz = sizeof(m), .flags = 3, .vaddr = (uintptr_t)mem, .iova = 2 * MiB,
					      .size = 4 * MiB };
	CHECK_EQ(tcemu_host_ioctl(h, c, VFIO_IOMMU_MAP_DMA, &m), 0);
	uint64_t tce, ua;
	CHECK_EQ(tcemu_host_container_entry(h, c, 4 * MiB + 5, &tce, &ua), 0);
	CHECK_U64(tce, (ri.hpa + 2 * MiB) | 3);
	CHECK_U64(ua, (uintptr_t)mem + 2 * MiB);
	tcemu_host_destroy(h);
	munmap(mem, 4 * MiB);
}

TEST(small_pages_cannot_back_2m_iommu_pages)
{
	uint8_t *raw = mmap(NULL, 8 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint8_t *mem = (uint8_t *)(((uintptr_t)raw + 2 * MiB - 1) & ~(uintptr_t)(2 * MiB - 1));
	struct tcemu_host *h;
	struct tcemu_region_info ri;
	int c, g;

	CHECK(raw != MAP_FAILED);
	CHECK_EQ(setup(&h, &c, &g), 0);
	struct vfio_iommu_spapr_register_memory r = { .argsz = sizeof(r), .vaddr = (uintptr_t)mem, .size = 4 * MiB };
	CHECK_EQ(tcemu_host_ioctl(h, c, VFIO_IOMMU_SPAPR_REGISTER_MEMORY, &r), 0);
	CHECK_EQ(tcemu_host_regions(h, getpid(), &ri, 1), 1);
	CHECK_EQ(ri.page_shift, 12); /* 2 MiB aligned, but backed by 4 KiB pages */
	struct vfio_iommu_type1_dma_map m = { .argsz = sizeof(m), .flags = 3, .vaddr = (uintptr_t)mem, .iova = 0,
					      .size = 2 * MiB };
	CHECK_EQ(tcemu_host_ioctl(h, c, VFIO_IOMMU_MAP_DMA, &m), -EPERM);
	struct tcemu_container_info ci;
	CHECK_EQ(tcemu_host_container_info(h, c, &ci), 0);
	CHECK_EQ(ci.windows[0].valid_entries, 0);
	tcemu_host_destroy(h);
	munmap(raw, 8 * MiB);
}

/* VmLck of this process, in KiB, from /proc/self/status. */
static long vm_locked_kb(void)
{
	char line[128];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmLck: %ld kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb;
}

/* With real_mlock, registration mlock()s the memory and unregistration unlocks it. */
TEST(real_mlock_locks_registered_memory)
{
	struct tcemu_host_opts o = { .real_mlock = true };
	uint8_t *mem = mmap(NULL, 4 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct tcemu_host *h;
	int c, g;

	CHECK(mem != MAP_FAILED);
	CHECK_EQ(tcemu_host_create(&o, &h), 0);
	CHECK_EQ(tcemu_host_open(h, "/dev/vfio/vfio", 2, &c), 0);
	CHECK_EQ(tcemu_host_open(h, "/dev/vfio/0", 2, &g), 0);
	CHECK_EQ(tcemu_host_ioctl(h, g, VFIO_GROUP_SET_CONTAINER, &c), 0);
	CHECK_EQ(tcemu_host_ioctl(h, c, VFIO_SET_IOMMU, (void *)VFIO_SPAPR_TCE_v2_IOMMU), 0);
	long before = vm_locked_kb();
	struct vfio_iommu_spapr_register_memory r = { .argsz = sizeof(r), .vaddr = (uintptr_t)mem, .size = 4 * MiB };
	CHECK_EQ(tcemu_host_ioctl(h, c, VFIO_IOMMU_SPAPR_REGISTER_MEMORY, &r), 0);
	CHECK_EQ(vm_locked_kb(), before + 4096);
	CHECK_EQ(tcemu_host_ioctl(h, c, VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY, &r), 0);
	CHECK_EQ(vm_locked_kb(), before);
	tcemu_host_destroy(h);
	munmap(mem, 4 * MiB);
}

HARNESS_MAIN(T(hugetlb_region_backs_2m_iommu_pages), T(small_pages_cannot_back_2m_iommu_pages),
	     T(real_mlock_locks_registered_memory))
