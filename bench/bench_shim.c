/* SPDX-License-Identifier: MIT */
/*
 * The LD_PRELOAD shim's overhead. Run under the shim (`tcemu exec -- bench_shim`, or meson's
 * benchmark, which sets LD_PRELOAD). The same DPDK-like sequence (per 4 KiB segment: REGISTER_MEMORY
 * and MAP_DMA; then UNMAP_DMA and UNREGISTER_MEMORY) is issued twice on the same emulated host:
 * through libc's ioctl() (interposed by the shim) and directly through tcemu_host_ioctl() (the
 * reference, measured in the same run). Both pay the same checked argument copies. Goal: the
 * shim's overhead below 10%.
 * Then the pairs a DPDK client repeats, through the shim, against two trivial system calls
 * (getppid) in the same run: MAP_DMA+UNMAP_DMA of one 4 KiB page and REGISTER+UNREGISTER of one
 * 4 KiB segment. Goal: each at most the two system calls (ratio <= 1), as in the kernel, where
 * each ioctl is one system call.
 *
 * Usage: bench_shim [--quick]
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <linux/vfio.h>

#include <tcemu/preload.h>

static unsigned segments = 16384; /* DPDK --no-huge -m 64 */
static int rounds = 5;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static struct tcemu_host *h;
static bool direct;

static long call(int fd, unsigned long cmd, void *arg)
{
	return direct ? tcemu_host_ioctl(h, fd, cmd, arg) : ioctl(fd, cmd, arg);
}

/* One pass: returns seconds, or a negative value on error. */
static double pass(int c, uint8_t *mem)
{
	double t0 = now();

	for (unsigned i = 0; i < segments; i++) {
		struct vfio_iommu_spapr_register_memory r = { .argsz = sizeof(r), .vaddr = (uintptr_t)mem + i * 4096ull,
							      .size = 4096 };
		struct vfio_iommu_type1_dma_map m = { .argsz = sizeof(m), .flags = 3, .vaddr = r.vaddr, .iova = r.vaddr,
						      .size = 4096 };
		if (call(c, VFIO_IOMMU_SPAPR_REGISTER_MEMORY, &r) || call(c, VFIO_IOMMU_MAP_DMA, &m))
			return -1;
	}
	for (unsigned i = 0; i < segments; i++) {
		struct vfio_iommu_spapr_register_memory r = { .argsz = sizeof(r), .vaddr = (uintptr_t)mem + i * 4096ull,
							      .size = 4096 };
		struct vfio_iommu_type1_dma_unmap u = { .argsz = sizeof(u), .iova = r.vaddr, .size = 4096 };
		if (call(c, VFIO_IOMMU_UNMAP_DMA, &u) || call(c, VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY, &r))
			return -1;
	}
	return now() - t0;
}

/* Best ns per iteration of what, over n iterations (getppid x2, or a pair of ioctls). */
static double best_ns(int what, int c, uint8_t *mem, unsigned n)
{
	struct vfio_iommu_spapr_register_memory r = { .argsz = sizeof(r), .vaddr = (uintptr_t)mem + 4096, .size = 4096 };
	struct vfio_iommu_type1_dma_map m = { .argsz = sizeof(m), .flags = 3, .vaddr = (uintptr_t)mem, .iova = 0,
					      .size = 4096 };
	struct vfio_iommu_type1_dma_unmap u = { .argsz = sizeof(u), .iova = 0, .size = 4096 };
	double best = 1e9;

	for (int k = 0; k < rounds + 1; k++) {
		double t0 = now();
		for (unsigned i = 0; i < n; i++) {
			if (what == 0) {
				syscall(SYS_getppid);
				syscall(SYS_getppid);
			} else if (what == 1) {
				if (ioctl(c, VFIO_IOMMU_MAP_DMA, &m) || ioctl(c, VFIO_IOMMU_UNMAP_DMA, &u))
					return -1;
			} else if (ioctl(c, VFIO_IOMMU_SPAPR_REGISTER_MEMORY, &r) ||
				   ioctl(c, VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY, &r)) {
				return -1;
			}
		}
		double s = (now() - t0) / n;
		if (k && s < best)
			best = s;
	}
	return best * 1e9;
}

/* The pairs against two trivial system calls, same run (mem's first page is registered for MAP_DMA). */
static void pairs(int c, uint8_t *mem)
{
	struct vfio_iommu_spapr_register_memory r = { .argsz = sizeof(r), .vaddr = (uintptr_t)mem, .size = 4096 };
	unsigned n = segments * 20;
	double sys, mapun, regun;

	if (ioctl(c, VFIO_IOMMU_SPAPR_REGISTER_MEMORY, &r)) {
		perror("bench_shim: REGISTER");
		return;
	}
	sys = best_ns(0, c, mem, n);
	mapun = best_ns(1, c, mem, n);
	regun = best_ns(2, c, mem, n);
	printf("\npairs through ioctl() (best of %d rounds of %u), against two trivial system calls:\n", rounds, n);
	printf("  %-44s %8.0f ns  (reference)\n", "two getppid() system calls", sys);
	printf("  %-44s %8.0f ns  ratio %.2f  (goal <= 1.00: %s)\n", "MAP_DMA+UNMAP_DMA, one 4 KiB page", mapun,
	       mapun / sys, mapun >= 0 && mapun <= sys ? "met" : "NOT met");
	printf("  %-44s %8.0f ns  ratio %.2f  (goal <= 1.00: %s)\n", "REGISTER+UNREGISTER, one 4 KiB segment", regun,
	       regun / sys, regun >= 0 && regun <= sys ? "met" : "NOT met");
	ioctl(c, VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY, &r);
}

int main(int argc, char **argv)
{
	struct vfio_iommu_spapr_tce_remove rm = { .argsz = sizeof(rm) };
	struct vfio_iommu_spapr_tce_create cr = { .argsz = sizeof(cr), .page_shift = 12, .window_size = 1ull << 47,
						  .levels = 3 };
	double best[2] = { 1e9, 1e9 };
	uint8_t *mem;
	int c, g;

	if (argc > 1 && strcmp(argv[1], "--quick") == 0) {
		segments = 1024;
		rounds = 1;
	}
	h = tcemu_preload_host ? tcemu_preload_host() : NULL;
	if (!h) {
		fprintf(stderr, "bench_shim: run it under the shim: tcemu exec -- %s\n", argv[0]);
		return 1;
	}
	mem = mmap(NULL, segments * 4096ull, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	c = open("/dev/vfio/vfio", O_RDWR);
	g = open("/dev/vfio/0", O_RDWR);
	if (mem == MAP_FAILED || c < 0 || g < 0 || ioctl(g, VFIO_GROUP_SET_CONTAINER, &c) ||
	    ioctl(c, VFIO_SET_IOMMU, VFIO_SPAPR_TCE_v2_IOMMU) || ioctl(c, VFIO_IOMMU_SPAPR_TCE_REMOVE, &rm) ||
	    ioctl(c, VFIO_IOMMU_SPAPR_TCE_CREATE, &cr)) {
		perror("bench_shim: set-up");
		return 1;
	}
	for (int r = 0; r < rounds + 1; r++) {
		for (int d = 0; d < 2; d++) {
			direct = d;
			double s = pass(c, mem);
			if (s < 0) {
				fprintf(stderr, "bench_shim: a call failed\n");
				return 1;
			}
			if (r && s < best[d])
				best[d] = s;
		}
	}
	double calls = 4.0 * segments;
	printf("tcemu %s shim overhead: %u segments, %.0f ioctls a pass (REGISTER, MAP, UNMAP, UNREGISTER)\n",
	       tcemu_version(), segments, calls);
	printf("  %-44s %8.2f M ioctls/s  %6.0f ns each\n", "tcemu_host_ioctl, direct (reference)",
	       calls / best[1] / 1e6, best[1] / calls * 1e9);
	printf("  %-44s %8.2f M ioctls/s  %6.0f ns each\n", "ioctl() through libtcemu-preload.so",
	       calls / best[0] / 1e6, best[0] / calls * 1e9);
	double over = best[0] / best[1] - 1;
	printf("  %-44s %7.1f %%  (goal < 10%%: %s)\n", "shim overhead", over * 100, over < 0.10 ? "met" : "NOT met");
	pairs(c, mem);
	close(g);
	close(c);
	return 0;
}
