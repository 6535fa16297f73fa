/* SPDX-License-Identifier: MIT */
/*
 * Threads mapping and unmapping disjoint and overlapping ranges of one v2 container (run under
 * ThreadSanitizer in CI). Afterwards every valid entry must agree with its user address (the
 * entry's frame is the frame the registered region gives that address), and each region's mapped
 * count must equal the number of entries pointing into it. Then everything unmaps, unregisters
 * and the locked memory returns to the tables' charge alone.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/vfio.h>

#include <tcemu/host.h>

#include "harness.h"

#define THREADS 4
#define OPS 20000
#define REGIONS 4
#define REGION_PAGES 256
#define PAGE 4096ull
#define WINDOW (1ull << 30)
#define HOT (REGIONS * REGION_PAGES * 2) /* iova pages the threads share */

struct ctx {
	struct tcemu_host *h;
	int c;
	uint8_t *mem;
	unsigned id;
	int unexpected;
};

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void *worker(void *arg)
{
	struct ctx *x = arg;
	uint64_t seed = 0x2545f4914f6cdd1dull * (x->id + 1);

	for (unsigned op = 0; op < OPS; op++) {
		uint64_t r = rnd(&seed);
		unsigned npages = 1 + (unsigned)(r % 64);
		/* thread-private iovas above HOT, or the shared range below it */
		uint64_t base = (r & 2) ? HOT + x->id * 4096ull : 0;
		uint64_t span = (r & 2) ? 4096 : HOT;
		uint64_t iova = (base + (r >> 8) % (span - npages)) * PAGE;
		/* any registered memory, possibly across two adjacent regions */
		uint64_t vpage = (r >> 24) % (REGIONS * REGION_PAGES - npages);
		long rc;

		if (r & 1) {
			struct vfio_iommu_type1_dma_map m = {
				.argsz = sizeof(m),
				.flags = VFIO_DMA_MAP_FLAG_READ | ((r & 4) ? VFIO_DMA_MAP_FLAG_WRITE : 0),
				.vaddr = (uintptr_t)x->mem + vpage * PAGE,
				.iova = iova,
				.size = npages * PAGE,
			};
			rc = tcemu_host_ioctl(x->h, x->c, VFIO_IOMMU_MAP_DMA, &m);
		} else {
			struct vfio_iommu_type1_dma_unmap u = { .argsz = sizeof(u), .iova = iova, .size = npages * PAGE };
			rc = tcemu_host_ioctl(x->h, x->c, VFIO_IOMMU_UNMAP_DMA, &u);
		}
		if (rc != 0)
			x->unexpected++;
	}
	return NULL;
}

TEST(parallel_maps_keep_entries_and_counts_consistent)
{
	struct tcemu_host_opts o = { 0 };
	struct tcemu_host *h = NULL;
	struct ctx ctx[THREADS];
	struct harness_threads th = { 0 };
	struct vfio_iommu_spapr_tce_remove rm = { .argsz = sizeof(rm) };
	struct vfio_iommu_spapr_tce_create cr = { .argsz = sizeof(cr), .page_shift = 12, .window_size = WINDOW, .levels = 2 };
	struct tcemu_region_info regs[REGIONS];
	uint64_t counted[REGIONS] = { 0 };
	uint8_t *mem;
	int c, g;

	CHECK_EQ(tcemu_host_create(&o, &h), 0);
	CHECK_EQ(tcemu_host_open(h, "/dev/vfio/vfio", 2, &c), 0);
	CHECK_EQ(tcemu_host_open(h, "/dev/vfio/0", 2, &g), 0);
	CHECK_EQ(tcemu_host_ioctl(h, g, VFIO_GROUP_SET_CONTAINER, &c), 0);
	CHECK_EQ(tcemu_host_ioctl(h, c, VFIO_SET_IOMMU, (void *)VFIO_SPAPR_TCE_v2_IOMMU), 0);
	CHECK_EQ(tcemu_host_ioctl(h, c, VFIO_IOMMU_SPAPR_TCE_REMOVE, &rm), 0);
	CHECK_EQ(tcemu_host_ioctl(h, c, VFIO_IOMMU_SPAPR_TCE_CREATE, &cr), 0);
	mem = mmap(NULL, REGIONS * REGION_PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(mem != MAP_FAILED);
	for (unsigned i = 0; i < REGIONS; i++) {
		struct vfio_iommu_spapr_register_memory r = {
			.argsz = sizeof(r), .vaddr = (uintptr_t)mem + i * REGION_PAGES * PAGE, .size = REGION_PAGES * PAGE,
		};
		CHECK_EQ(tcemu_host_ioctl(h, c, VFIO_IOMMU_SPAPR_REGISTER_MEMORY, &r), 0);
	}

	for (unsigned i = 0; i < THREADS; i++) {
		ctx[i] = (struct ctx){ .h = h, .c = c, .mem = mem, .id = i };
		harness_thread_start(&th, worker, &ctx[i]);
	}
	harness_threads_join(&th);
	for (unsigned i = 0; i < THREADS; i++)
		CHECK_EQ(ctx[i].unexpected, 0);

	/* Every entry agrees with its user address; count entries per region. */
	CHECK_EQ(tcemu_host_regions(h, getpid(), regs, REGIONS), REGIONS);
	uint64_t valid = 0;
	for (uint64_t p = 0; p < HOT + THREADS * 4096ull; p++) {
		uint64_t tce, ua;
		CHECK_EQ(tcemu_host_container_entry(h, c, p * PAGE, &tce, &ua), 0);
		if (!tce) {
			CHECK_U64(ua, 0);
			continue;
		}
		valid++;
		CHECK(tce & TCEMU_TCE_READ);
		unsigned ri = (unsigned)((ua - (uintptr_t)mem) / (REGION_PAGES * PAGE));
		CHECK(ua >= (uintptr_t)mem && ri < REGIONS);
		CHECK_U64(tce & ~0xfffull, regs[ri].hpa + (ua - regs[ri].ua));
		counted[ri]++;
	}
	for (unsigned i = 0; i < REGIONS; i++)
		CHECK_U64(regs[i].mapped, counted[i]);
	struct tcemu_container_info ci;
	CHECK_EQ(tcemu_host_container_info(h, c, &ci), 0);
	CHECK_U64(ci.windows[0].valid_entries, valid);

	/* Unmap all, unregister all: only the table's charge is left. */
	struct vfio_iommu_type1_dma_unmap u = { .argsz = sizeof(u), .iova = 0, .size = WINDOW };
	CHECK_EQ(tcemu_host_ioctl(h, c, VFIO_IOMMU_UNMAP_DMA, &u), 0);
	for (unsigned i = 0; i < REGIONS; i++) {
		struct vfio_iommu_spapr_register_memory r = {
			.argsz = sizeof(r), .vaddr = (uintptr_t)mem + i * REGION_PAGES * PAGE, .size = REGION_PAGES * PAGE,
		};
		CHECK_EQ(tcemu_host_ioctl(h, c, VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY, &r), 0);
	}
	uint64_t locked;
	CHECK_EQ(tcemu_host_locked(h, getpid(), &locked, NULL), 0);
	CHECK_U64(locked, tcemu_table_accounted_size(12, WINDOW, 2, 12));
	CHECK_EQ(tcemu_host_close(h, g), 0);
	CHECK_EQ(tcemu_host_close(h, c), 0);
	CHECK_EQ(tcemu_host_locked(h, getpid(), &locked, NULL), 0);
	CHECK_U64(locked, 0);
	tcemu_host_destroy(h);
	munmap(mem, REGIONS * REGION_PAGES * PAGE);
}

/* Registration and unregistration race with maps of other regions. */
struct reg_ctx {
	struct tcemu_host *h;
	int c;
	uint8_t *mem;
	int errors;
};

static void *registrar(void *arg)
{
	struct reg_ctx *x = arg;

	for (int i = 0; i < 300; i++) {
		struct vfio_iommu_spapr_register_memory r = {
			.argsz = sizeof(r), .vaddr = (uintptr_t)x->mem + (64 + (unsigned)(i % 8)) * 16 * PAGE, .size = 16 * PAGE,
		};
		if (tcemu_host_ioctl(x->h, x->c, VFIO_IOMMU_SPAPR_REGISTER_MEMORY, &r) != 0)
			x->errors++;
		if (tcemu_host_ioctl(x->h, x->c, VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY, &r) != 0)
			x->errors++;
	}
	return NULL;
}

static void *mapper(void *arg)
{
	struct reg_ctx *x = arg;

	for (int i = 0; i < 2000; i++) {
		struct vfio_iommu_type1_dma_map m = {
			.argsz = sizeof(m), .flags = 3, .vaddr = (uintptr_t)x->mem + (unsigned)(i % 64) * 16 * PAGE,
			.iova = (uint64_t)(i % 128) * 16 * PAGE, .size = 16 * PAGE,
		};
		struct vfio_iommu_type1_dma_unmap u = { .argsz = sizeof(u), .iova = m.iova, .size = m.size };
		if (tcemu_host_ioctl(x->h, x->c, VFIO_IOMMU_MAP_DMA, &m) != 0 ||
		    tcemu_host_ioctl(x->h, x->c, VFIO_IOMMU_UNMAP_DMA, &u) != 0)
			x->errors++;
	}
	return NULL;
}

TEST(register_races_map)
{
	struct tcemu_host *h = NULL;
	struct vfio_iommu_spapr_tce_remove rm = { .argsz = sizeof(rm) };
	struct vfio_iommu_spapr_tce_create cr = { .argsz = sizeof(cr), .page_shift = 12, .window_size = WINDOW, .levels = 1 };
	uint8_t *mem = mmap(NULL, 128 * 16 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct reg_ctx x;
	struct harness_threads th = { 0 };
	int c, g;

	CHECK(mem != MAP_FAILED);
	CHECK_EQ(tcemu_host_create(NULL, &h), 0);
	CHECK_EQ(tcemu_host_open(h, "/dev/vfio/vfio", 2, &c), 0);
	CHECK_EQ(tcemu_host_open(h, "/dev/vfio/4", 2, &g), 0);
	CHECK_EQ(tcemu_host_ioctl(h, g, VFIO_GROUP_SET_CONTAINER, &c), 0);
	CHECK_EQ(tcemu_host_ioctl(h, c, VFIO_SET_IOMMU, (void *)VFIO_SPAPR_TCE_v2_IOMMU), 0);
	CHECK_EQ(tcemu_host_ioctl(h, c, VFIO_IOMMU_SPAPR_TCE_REMOVE, &rm), 0);
	CHECK_EQ(tcemu_host_ioctl(h, c, VFIO_IOMMU_SPAPR_TCE_CREATE, &cr), 0);
	struct vfio_iommu_spapr_register_memory r = { .argsz = sizeof(r), .vaddr = (uintptr_t)mem, .size = 64 * 16 * PAGE };
	CHECK_EQ(tcemu_host_ioctl(h, c, VFIO_IOMMU_SPAPR_REGISTER_MEMORY, &r), 0);
	x = (struct reg_ctx){ .h = h, .c = c, .mem = mem };
	struct reg_ctx y = x;
	harness_thread_start(&th, registrar, &x);
	harness_thread_start(&th, mapper, &y);
	harness_threads_join(&th);
	CHECK_EQ(x.errors, 0);
	CHECK_EQ(y.errors, 0);
	CHECK_EQ(tcemu_host_ioctl(h, c, VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY, &r), 0);
	tcemu_host_destroy(h); /* closes what is left */
	munmap(mem, 128 * 16 * PAGE);
}

HARNESS_MAIN(T(parallel_maps_keep_entries_and_counts_consistent), T(register_races_map))
