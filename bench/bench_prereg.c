/* SPDX-License-Identifier: MIT */
/*
 * Pre-registration (sPAPR v2) through the fd-level VFIO API: the cost of REGISTER+UNREGISTER and
 * the teardown of many regions.
 *
 * Figures, each with its ratio to a reference measured in the same run:
 *  - REGISTER+UNREGISTER of one 4 KiB segment, against two trivial system calls (getppid), all
 *    measured in turn in every round: the library called directly (trusted_args) by a program that
 *    reports its mappings (include/tcemu/maps.h, as the shim does), through the checked argument
 *    copies a shim client gets, and, for information, directly with nothing reported (then every
 *    REGISTER asks the kernel: one PROCMAP_QUERY system call, about the reference's two). Goal:
 *    the direct call of a reporting program costs at most the two system calls (ratio <= 1).
 *  - 16K, 64K and 128K one-page regions registered (DPDK --no-huge registers one per 4 KiB page),
 *    then the container closed: the time of each, and per region. Goal: the per-region teardown
 *    cost stays flat (128K against 16K at most 1.5).
 *  - The same regions unregistered one by one, in address order and in reverse order. Goal: the
 *    per-region cost stays flat (128K against 16K at most 1.5): each UNREGISTER moves O(1) of the
 *    index (the shorter side of its slots), not the regions after it.
 *
 * Usage: bench_prereg [--quick]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <linux/vfio.h>

#include <tcemu/host.h>
#include <tcemu/maps.h>

#include "bench.h"

static int rounds = 5;

static void die(const char *what, long rc)
{
	fprintf(stderr, "bench_prereg: %s failed: %ld\n", what, rc);
	exit(1);
}

struct fixture {
	struct tcemu_host *h;
	int c, g;
};

static void setup(struct fixture *f, bool trusted)
{
	struct tcemu_host_opts o = { .memlock_set = true, .memlock = UINT64_MAX, .trusted_args = trusted };
	long rc;

	if ((rc = tcemu_host_create(&o, &f->h)))
		die("host", rc);
	if ((rc = tcemu_host_open(f->h, "/dev/vfio/vfio", 2, &f->c)) || (rc = tcemu_host_open(f->h, "/dev/vfio/0", 2, &f->g)))
		die("open", rc);
	if ((rc = tcemu_host_ioctl(f->h, f->g, VFIO_GROUP_SET_CONTAINER, &f->c)) ||
	    (rc = tcemu_host_ioctl(f->h, f->c, VFIO_SET_IOMMU, (void *)VFIO_SPAPR_TCE_v2_IOMMU)))
		die("container setup", rc);
}

/* Closes the group and the container: the container's release drops its regions. */
static void close_container(struct fixture *f)
{
	tcemu_host_close(f->h, f->g);
	tcemu_host_close(f->h, f->c);
}

static long reg(struct fixture *f, const uint8_t *va, uint64_t len, unsigned long cmd)
{
	struct vfio_iommu_spapr_register_memory r = { .argsz = sizeof(r), .vaddr = (uintptr_t)va, .size = len };

	return tcemu_host_ioctl(f->h, f->c, cmd, &r);
}

/* Seconds per getppid() (the reference), one round. */
static double syscall_round(unsigned n)
{
	double t0 = bench_now();

	for (unsigned i = 0; i < n; i++)
		syscall(SYS_getppid);
	return (bench_now() - t0) / n;
}

/* Seconds per REGISTER+UNREGISTER pair of one page, one round. */
static double pair_round(struct fixture *f, uint8_t *page, unsigned n)
{
	double t0 = bench_now();

	for (unsigned i = 0; i < n; i++) {
		long rc = reg(f, page, 4096, VFIO_IOMMU_SPAPR_REGISTER_MEMORY);
		if (rc == 0)
			rc = reg(f, page, 4096, VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY);
		if (rc)
			die("register/unregister", rc);
	}
	return (bench_now() - t0) / n;
}

enum pair_kind { ASKED, REPORTED, CHECKED, NKINDS };

/*
 * ns per getppid() and per REGISTER+UNREGISTER pair of each kind, best of the rounds, all measured
 * in turn in every round (a noisy neighbour slows them alike): direct calls with the mapping not
 * reported (the library asks the kernel at every REGISTER: one PROCMAP_QUERY system call) and
 * reported (include/tcemu/maps.h: a VMM that tells the library of its mappings, as the shim does
 * for a program), and checked argument copies with the mapping reported (a shim client).
 */
static void pairs_ns(uint8_t *mem, size_t len, unsigned n, double *sys, double best[NKINDS])
{
	struct fixture f[NKINDS];

	setup(&f[ASKED], true);
	setup(&f[REPORTED], true);
	setup(&f[CHECKED], false);
	*sys = 1e9;
	for (int k = 0; k < NKINDS; k++)
		best[k] = 1e9;
	for (int r = 0; r < rounds + 1; r++) {
		double s = syscall_round(n);

		if (r && s < *sys)
			*sys = s;
		for (int k = 0; k < NKINDS; k++) {
			if (k == ASKED)
				tcemu_maps_changed(mem, len); /* forgotten: asked again */
			else
				tcemu_maps_created(mem, len);
			s = pair_round(&f[k], mem, n);
			if (r && s < best[k])
				best[k] = s;
		}
	}
	tcemu_maps_changed(mem, len);
	for (int k = 0; k < NKINDS; k++) {
		close_container(&f[k]);
		tcemu_host_destroy(f[k].h);
		best[k] *= 1e9;
	}
	*sys *= 1e9;
}

/* n one-page regions registered in address order, then the container closed: best seconds of each. */
static void many(uint8_t *mem, unsigned n, double *reg_s, double *close_s)
{
	*reg_s = *close_s = 1e9;
	for (int r = 0; r < (rounds > 1 ? 3 : 1); r++) {
		struct fixture f;
		struct tcemu_host_stats st;

		setup(&f, true);
		double t0 = bench_now();
		for (unsigned i = 0; i < n; i++) {
			long rc = reg(&f, mem + i * 4096ull, 4096, VFIO_IOMMU_SPAPR_REGISTER_MEMORY);
			if (rc)
				die("register", rc);
		}
		double t1 = bench_now();
		close_container(&f);
		double t2 = bench_now();
		tcemu_host_stats(f.h, &st);
		if (st.regions_registered || st.locked_bytes)
			die("teardown left regions", (long)st.regions_registered);
		tcemu_host_destroy(f.h);
		if (t1 - t0 < *reg_s)
			*reg_s = t1 - t0;
		if (t2 - t1 < *close_s)
			*close_s = t2 - t1;
	}
}

/*
 * n one-page regions registered in address order, then unregistered one by one in address order
 * (reverse: in reverse order): best seconds of the unregistering.
 */
static double one_by_one(uint8_t *mem, unsigned n, bool reverse)
{
	double best = 1e9;

	for (int r = 0; r < (rounds > 1 ? 3 : 1); r++) {
		struct fixture f;

		setup(&f, true);
		for (unsigned i = 0; i < n; i++)
			if (reg(&f, mem + i * 4096ull, 4096, VFIO_IOMMU_SPAPR_REGISTER_MEMORY))
				die("register", -1);
		double t0 = bench_now();
		for (unsigned k = 0; k < n; k++) {
			unsigned i = reverse ? n - 1 - k : k;
			if (reg(&f, mem + i * 4096ull, 4096, VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY))
				die("unregister", -1);
		}
		double s = bench_now() - t0;
		close_container(&f);
		tcemu_host_destroy(f.h);
		if (s < best)
			best = s;
	}
	return best;
}

int main(int argc, char **argv)
{
	static const unsigned counts[] = { 16384, 65536, 131072 };
	unsigned ncalls = 200000, ncounts = 3;
	double sys, pair[NKINDS], reg_s[3], close_s[3];
	uint8_t *mem;

	if (argc > 1 && strcmp(argv[1], "--quick") == 0) {
		ncalls = 20000;
		rounds = 1;
		ncounts = 2;
	}
	printf("tcemu %s pre-registration benchmark (sPAPR v2)\n", tcemu_version());
	mem = mmap(NULL, counts[2] * 4096ull, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (mem == MAP_FAILED)
		die("mmap", -1);

	pairs_ns(mem, counts[2] * 4096ull, ncalls, &sys, pair);
	printf("\nREGISTER+UNREGISTER of one 4 KiB segment (best of %d rounds of %u, interleaved):\n", rounds, ncalls);
	printf("  %-48s %8.0f ns  (reference)\n", "two trivial system calls (getppid)", 2 * sys);
	printf("  %-48s %8.0f ns  ratio %.2f  (goal <= 1.00: %s)\n", "direct (trusted_args), mapping reported",
	       pair[REPORTED], pair[REPORTED] / (2 * sys), pair[REPORTED] <= 2 * sys ? "met" : "NOT met");
	printf("  %-48s %8.0f ns  ratio %.2f\n", "checked argument copies, mapping reported", pair[CHECKED],
	       pair[CHECKED] / (2 * sys));
	printf("  %-48s %8.0f ns  ratio %.2f  (information)\n", "direct, not reported (one system call each)",
	       pair[ASKED], pair[ASKED] / (2 * sys));

	printf("\nN one-page regions registered in address order, then the container closed:\n");
	for (unsigned i = 0; i < ncounts; i++) {
		many(mem, counts[i], &reg_s[i], &close_s[i]);
		printf("  %6u regions: register %7.3f s (%5.0f ns each), teardown %7.4f s (%6.1f ns per region)\n",
		       counts[i], reg_s[i], reg_s[i] / counts[i] * 1e9, close_s[i], close_s[i] / counts[i] * 1e9);
	}
	double flat = (close_s[ncounts - 1] / counts[ncounts - 1]) / (close_s[0] / counts[0]);
	printf("  %-44s %.2f  (goal <= 1.50: %s)\n", "teardown per region, largest / 16K", flat,
	       flat <= 1.5 ? "met" : "NOT met");

	printf("\nN one-page regions unregistered one by one (registered in address order):\n");
	tcemu_maps_created(mem, counts[2] * 4096ull); /* the registrations ask the kernel nothing */
	for (int reverse = 0; reverse < 2; reverse++) {
		const char *how = reverse ? "reverse order" : "address order";
		const unsigned big = counts[ncounts - 1];
		double small_s = one_by_one(mem, counts[0], reverse), big_s = one_by_one(mem, big, reverse);
		double ratio = (big_s / big) / (small_s / counts[0]);
		char what[64];

		printf("  %-14s %6u regions %6.1f ns each, %6u regions %6.1f ns each\n", how, counts[0],
		       small_s / counts[0] * 1e9, big, big_s / big * 1e9);
		snprintf(what, sizeof(what), "unregister per region, %s, largest / 16K", how);
		printf("  %-52s %.2f  (goal <= 1.50: %s)\n", what, ratio, ratio <= 1.5 ? "met" : "NOT met");
	}
	tcemu_maps_changed(mem, counts[2] * 4096ull);
	munmap(mem, counts[2] * 4096ull);
	return 0;
}
