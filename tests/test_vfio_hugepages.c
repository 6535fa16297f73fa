/* SPDX-License-Identifier: MIT */
/*
 * A region's page size comes from its alignment and from the real backing page size: memory from
 * hugetlbfs (here anonymous MAP_HUGETLB 2 MiB pages) may back 2 MiB IOMMU pages, ordinary 4 KiB
 * pages may not (EPERM: the check that closed a real hole in 2018). Needs free 2 MiB hugetlb pages:
 * as root the test reserves the few it needs itself and gives them back when it ends, passed or
 * failed (nr_hugepages as it found it); otherwise it is skipped.
 */
#include <errno.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <linux/mman.h>
#include <linux/vfio.h>

#include <tcemu/host.h>

#include "harness.h"

#define MiB (1ull << 20)
#define NR_HUGEPAGES "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"

static long read_long(const char *path)
{
	long v = -1;
	FILE *f = fopen(path, "r");

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static int write_long(const char *path, long v)
{
	FILE *f = fopen(path, "w");
	int rc;

	if (!f)
		return -1;
	rc = fprintf(f, "%ld\n", v) < 0;
	return fclose(f) || rc ? -1 : 0;
}

static long saved_nr_hugepages;

static void restore_nr_hugepages(void *arg)
{
	(void)arg;
	if (write_long(NR_HUGEPAGES, saved_nr_hugepages))
		HARNESS_FAIL("cannot restore %s to %ld", NR_HUGEPAGES, saved_nr_hugepages);
}

struct mapping {
	void *p;
	size_t len;
};

static void unmap_it(void *arg)
{
	struct mapping *m = arg;

	munmap(m->p, m->len);
}

static void *map_huge(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_HUGE_2MB, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

/* len bytes of 2 MiB hugetlb pages, unmapped when the test ends; reserves the pages if it must
 * (root only) and puts nr_hugepages back when the test ends. Skips the test if there are none. */
static void *huge_mem(struct mapping *m, size_t len)
{
	m->len = len;
	m->p = map_huge(len);
	if (!m->p) {
		long nr = read_long(NR_HUGEPAGES);
		if (geteuid() != 0)
			SKIP("no free 2 MiB hugetlb pages, and reserving them needs root");
		if (nr < 0)
			SKIP("no 2 MiB hugetlb pages on this machine (%s)", NR_HUGEPAGES);
		saved_nr_hugepages = nr;
		DEFER(restore_nr_hugepages, NULL);
		if (write_long(NR_HUGEPAGES, nr + (long)(len / (2 * MiB))))
			SKIP("cannot write %s", NR_HUGEPAGES);
		m->p = map_huge(len);
		if (!m->p)
			SKIP("cannot reserve %zu MiB of 2 MiB hugetlb pages", (size_t)(len / MiB));
	}
	DEFER(unmap_it, m); /* runs before the restore: the pages are free again by then */
	return m->p;
}

static void destroy_host(void *arg)
{
	tcemu_host_destroy(arg);
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
	static struct mapping m; /* static: its cleanup runs after the test function returns */
	uint8_t *mem = huge_mem(&m, 4 * MiB);
	struct tcemu_host *h = NULL;
	struct tcemu_region_info ri;
	int c, g;

	CHECK(mem != NULL);
	int rc = setup(&h, &c, &g);
	if (h)
		DEFER(destroy_host, h); /* the host unpins the pages before they are unmapped */
	CHECK_EQ(rc, 0);
	struct vfio_iommu_spapr_register_memory r = { .argsz = sizeof(r), .vaddr = (uintptr_t)mem, .size = 4 * MiB };
	CHECK_EQ(tcemu_host_ioctl(h, c, VFIO_IOMMU_SPAPR_REGISTER_MEMORY, &r), 0);
	CHECK_EQ(tcemu_host_regions(h, getpid(), &ri, 1), 1);
	CHECK_EQ(ri.page_shift, 21);
	CHECK_U64(ri.hpa & (2 * MiB - 1), 0); /* frames aligned to the huge page */
	struct vfio_iommu_type1_dma_map dm = { .argsz = sizeof(dm), .flags = 3, .vaddr = (uintptr_t)mem, .iova = 2 * MiB,
					       .size = 4 * MiB };
	CHECK_EQ(tcemu_host_ioctl(h, c, VFIO_IOMMU_MAP_DMA, &dm), 0);
	uint64_t tce, ua;
	CHECK_EQ(tcemu_host_container_entry(h, c, 4 * MiB + 5, &tce, &ua), 0);
	CHECK_U64(tce, (ri.hpa + 2 * MiB) | 3);
	CHECK_U64(ua, (uintptr_t)mem + 2 * MiB);
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
	struct rlimit rl;

	if (geteuid() != 0 && (getrlimit(RLIMIT_MEMLOCK, &rl) || rl.rlim_cur < 8 * MiB))
		SKIP("RLIMIT_MEMLOCK below 8 MiB and not root");
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
