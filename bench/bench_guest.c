/* SPDX-License-Identifier: MIT */
/*
 * Guest TCE hypercalls on the fast path (a window linked to a v2 container, 4 KiB pages), against
 * the table engine measured in the same run:
 *  - H_PUT_TCE_INDIRECT, 512 TCEs a call, direct-mapping 256 MiB of guest RAM, in TCEs per second,
 *    against the best plain loop of the same stores (plain_indirect: the guest writes each list,
 *    then the container's entries and user addresses and the guest view's entries, 24 bytes a TCE)
 *    (goal: >= 1/2); for comparison, tcemu_table_set of 512-entry batches on one table of the same
 *    shape (16 bytes a TCE: the reference until the round that made it faster, docs/performance.md);
 *  - for information, the same with scattered pages (each TCE of a list maps a page far from the
 *    one before, as for a scatter-gather list: every TCE is a run of its own), against
 *    tcemu_table_set of the same entries;
 *  - an H_PUT_TCE + H_STUFF_TCE(count 1) pair, the cost of one streaming DMA buffer, against two
 *    single-entry tcemu_table_xchg calls (map and clear) (goal: at most 3 times).
 *
 * Each figure is the best of 20 rounds, the subject and its reference measured in turn in each
 * round, so a noisy neighbour slows both alike.
 *
 * Usage: [RUNS=n] bench_guest [--quick]   (RUNS: a series of n runs, with min/median/max)
 */
#include <endian.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <linux/vfio.h>

#include <tcemu/guest.h>
#include <tcemu/table.h>

#include "bench.h"

#define MiB (1ull << 20)
#define GiB (1ull << 30)
#define LIOBN 0x80000000u

static uint64_t ram_size = 256 * MiB;
static int rounds = 20; /* best of: the machine may be shared (each round takes a few ms) */

#define now bench_now

static void die(const char *what)
{
	fprintf(stderr, "bench_guest: %s failed\n", what);
	exit(1);
}

static void run(void);

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--quick") == 0) {
		ram_size = 32 * MiB;
		rounds = 1;
	}
	for (int r = 0, runs = bench_runs(); r < runs; r++) {
		if (runs > 1)
			printf("\n--- run %d of %d\n", r + 1, runs);
		run();
	}
	bench_print_series();
	return 0;
}

/*
 * The best plain loop of a direct-map H_PUT_TCE_INDIRECT's stores: from the guest's list
 * (big-endian), each TCE's hardware entry (frame | permission bits, big-endian) and user address into
 * two arrays, and the TCE itself into a third (the guest's view): the 24 bytes a TCE the hypercall
 * writes, with locals, unrolled four ways like bench_ref_store, and no check. n: a multiple of 4.
 */
static __attribute__((noinline)) void plain_indirect(const uint64_t *restrict list, uint64_t n, uint64_t *restrict hw,
						     uint64_t *restrict ua, uint64_t *restrict view, uint64_t hpa0,
						     uint64_t ua0)
{
	for (uint64_t k = 0; k < n; k += 4) {
		const uint64_t b0 = list[k], b1 = list[k + 1], b2 = list[k + 2], b3 = list[k + 3];
		const uint64_t t0 = be64toh(b0), t1 = be64toh(b1), t2 = be64toh(b2), t3 = be64toh(b3);

		hw[k] = htobe64((hpa0 + (t0 & ~4095ull)) | (t0 & 3));
		ua[k] = ua0 + (t0 & ~4095ull);
		view[k] = b0;
		hw[k + 1] = htobe64((hpa0 + (t1 & ~4095ull)) | (t1 & 3));
		ua[k + 1] = ua0 + (t1 & ~4095ull);
		view[k + 1] = b1;
		hw[k + 2] = htobe64((hpa0 + (t2 & ~4095ull)) | (t2 & 3));
		ua[k + 2] = ua0 + (t2 & ~4095ull);
		view[k + 2] = b2;
		hw[k + 3] = htobe64((hpa0 + (t3 & ~4095ull)) | (t3 & 3));
		ua[k + 3] = ua0 + (t3 & ~4095ull);
		view[k + 3] = b3;
	}
}

/* One whole measurement, on a host, guest and reference table of its own. */
static void run(void)
{
	/*
	 * Group 0 holds a plain device, as in the default topology before device models: the figures
	 * measure the hypercall path. With a model on the PE (today's default: virtio-net on group 0)
	 * every invalidation also reaches the DMA engine's translation cache, which a device needs.
	 */
	static const char plain[] = "phb 0 ioda3 dma32=2G\n  pe 1 group=0\n    device 0000:01:00.0 vendor=0x1b36 "
				    "device=0x0005 class=0x00ff00 bar0=16K,mem64 bar2=1M,mem64,prefetch,mmap\n";
	struct tcemu_host_opts o = { .trusted_args = true, .platform.topology_text = plain };
	struct vfio_iommu_spapr_tce_remove rm = { .argsz = sizeof(rm) };
	struct vfio_iommu_spapr_tce_create cr = { .argsz = sizeof(cr), .page_shift = 12, .window_size = GiB, .levels = 1 };
	struct tcemu_host *h;
	struct tcemu_guest *g;
	uint8_t *ram;
	int c, grp;

	const uint64_t tces = ram_size >> 12, list_gpa = ram_size; /* the list lives after the mapped RAM */
	ram = mmap(NULL, ram_size + MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct vfio_iommu_spapr_register_memory reg = { .argsz = sizeof(reg), .vaddr = (uintptr_t)ram,
							.size = ram_size + MiB };
	if (ram == MAP_FAILED || tcemu_host_create(&o, &h) || tcemu_host_open(h, "/dev/vfio/vfio", 2, &c) ||
	    tcemu_host_open(h, "/dev/vfio/0", 2, &grp) || tcemu_host_ioctl(h, grp, VFIO_GROUP_SET_CONTAINER, &c) ||
	    tcemu_host_ioctl(h, c, VFIO_SET_IOMMU, (void *)VFIO_SPAPR_TCE_v2_IOMMU) ||
	    tcemu_host_ioctl(h, c, VFIO_IOMMU_SPAPR_TCE_REMOVE, &rm) || tcemu_host_ioctl(h, c, VFIO_IOMMU_SPAPR_TCE_CREATE, &cr) ||
	    tcemu_host_ioctl(h, c, VFIO_IOMMU_SPAPR_REGISTER_MEMORY, &reg) || tcemu_guest_create(h, &g) ||
	    tcemu_guest_add_ram(g, 0, ram_size + MiB, ram) || tcemu_guest_create_window(g, LIOBN, 12, 0, GiB >> 12) ||
	    tcemu_guest_link(g, LIOBN, c))
		die("set-up");

	/* The reference table: same shape as the container's window, with user addresses. */
	struct tcemu_table_params tp = { .window_size = GiB, .page_shift = 12, .levels = 1, .flags = TCEMU_TABLE_USERSPACE };
	struct tcemu_table *t;
	if (tcemu_table_create(&tp, &t))
		die("table");

	/* page aligned, as the tables' levels are (a list entry and a store 4 KiB apart stall a load) */
	uint64_t *phw = aligned_alloc(4096, tces * 8), *pua = aligned_alloc(4096, tces * 8);
	uint64_t *pview = aligned_alloc(4096, tces * 8);
	if (!phw || !pua || !pview)
		die("aligned_alloc");
	double best_ind = 1e9, best_tab = 1e9, best_pair = 1e9, best_xchg = 1e9, best_sind = 1e9, best_stab = 1e9;
	double best_plain = 1e9;
	uint64_t *list = (uint64_t *)(ram + list_gpa), tce_buf[512], ua_buf[512];
	const unsigned pairs = 100000;
	for (int r = 0; r < rounds + 1; r++) {
		/* H_PUT_TCE_INDIRECT: the guest writes each list, then calls */
		double t0 = now();
		for (uint64_t i = 0; i < tces; i += 512) {
			for (unsigned k = 0; k < 512; k++)
				list[k] = htobe64(((i + k) << 12) | 3);
			uint64_t a[4] = { LIOBN, i << 12, list_gpa, 512 };
			if (tcemu_guest_hcall_fast(g, TCEMU_H_PUT_TCE_INDIRECT, a, NULL) != TCEMU_H_SUCCESS)
				die("H_PUT_TCE_INDIRECT");
		}
		double s = now() - t0;
		if (r && s < best_ind)
			best_ind = s;
		uint64_t a[4] = { LIOBN, 0, 0, tces };
		if (tcemu_guest_hcall_fast(g, TCEMU_H_STUFF_TCE, a, NULL) != TCEMU_H_SUCCESS)
			die("H_STUFF_TCE");

		/* the reference: the guest writes each list, then the plain loop of the hypercall's stores */
		t0 = now();
		for (uint64_t i = 0; i < tces; i += 512) {
			for (unsigned k = 0; k < 512; k++)
				list[k] = htobe64(((i + k) << 12) | 3);
			plain_indirect(list, 512, phw + i, pua + i, pview + i, 0x40000000ull, (uintptr_t)ram);
		}
		s = now() - t0;
		if (r && s < best_plain)
			best_plain = s;

		/* for comparison: the same entries (host physical and user address) through tcemu_table_set */
		t0 = now();
		for (uint64_t i = 0; i < tces; i += 512) {
			for (unsigned k = 0; k < 512; k++) {
				tce_buf[k] = (0x40000000ull + ((i + k) << 12)) | 3;
				ua_buf[k] = (uintptr_t)ram + ((i + k) << 12);
			}
			tcemu_table_set(t, i, 512, tce_buf, ua_buf, NULL, NULL);
		}
		s = now() - t0;
		if (r && s < best_tab)
			best_tab = s;
		tcemu_table_clear(t, 0, tces, NULL, NULL);

		/* scattered pages: page k of the mapping is (k * 7919) mod tces (7919 is prime) */
		t0 = now();
		for (uint64_t i = 0, p = 0; i < tces; i += 512) {
			for (unsigned k = 0; k < 512; k++, p = p + 7919 >= tces ? p + 7919 - tces : p + 7919)
				list[k] = htobe64((p << 12) | 3);
			uint64_t sa[4] = { LIOBN, i << 12, list_gpa, 512 };
			if (tcemu_guest_hcall_fast(g, TCEMU_H_PUT_TCE_INDIRECT, sa, NULL) != TCEMU_H_SUCCESS)
				die("H_PUT_TCE_INDIRECT, scattered");
		}
		s = now() - t0;
		if (r && s < best_sind)
			best_sind = s;
		if (tcemu_guest_hcall_fast(g, TCEMU_H_STUFF_TCE, a, NULL) != TCEMU_H_SUCCESS)
			die("H_STUFF_TCE");
		t0 = now();
		for (uint64_t i = 0, p = 0; i < tces; i += 512) {
			for (unsigned k = 0; k < 512; k++, p = p + 7919 >= tces ? p + 7919 - tces : p + 7919) {
				tce_buf[k] = (0x40000000ull + (p << 12)) | 3;
				ua_buf[k] = (uintptr_t)ram + (p << 12);
			}
			tcemu_table_set(t, i, 512, tce_buf, ua_buf, NULL, NULL);
		}
		s = now() - t0;
		if (r && s < best_stab)
			best_stab = s;
		tcemu_table_clear(t, 0, tces, NULL, NULL);

		/* the streaming pair */
		t0 = now();
		for (unsigned i = 0; i < pairs; i++) {
			uint64_t ioba = (uint64_t)(i % 4096) << 12;
			uint64_t p[3] = { LIOBN, ioba, ((uint64_t)(i % 1024) << 12) | 3 }, st[4] = { LIOBN, ioba, 0, 1 };
			if (tcemu_guest_hcall_fast(g, TCEMU_H_PUT_TCE, p, NULL) != TCEMU_H_SUCCESS ||
			    tcemu_guest_hcall_fast(g, TCEMU_H_STUFF_TCE, st, NULL) != TCEMU_H_SUCCESS)
				die("pair");
		}
		s = now() - t0;
		if (r && s < best_pair)
			best_pair = s;
		t0 = now();
		for (unsigned i = 0; i < pairs; i++) {
			uint64_t idx = i % 4096, e = (0x40000000ull + ((uint64_t)(i % 1024) << 12)) | 3, u = idx << 12, z = 0;
			tcemu_table_xchg(t, idx, &e, &u);
			tcemu_table_xchg(t, idx, &z, NULL);
		}
		s = now() - t0;
		if (r && s < best_xchg)
			best_xchg = s;
	}
	double ind = (double)tces / best_ind, tab = (double)tces / best_tab;
	double pair = best_pair / pairs * 1e9, xchg = best_xchg / pairs * 1e9;
	printf("tcemu %s guest hypercall benchmark (fast path, 4 KiB pages, %llu MiB direct map)\n", tcemu_version(),
	       (unsigned long long)(ram_size >> 20));
	const double loop = (double)tces / best_plain;
	printf("  %-46s %8.1f M TCEs/s\n", "plain loop of the same stores (reference)", loop / 1e6);
	printf("  %-46s %8.1f M TCEs/s  ratio %.2f  (goal >= 0.50: %s)\n", "H_PUT_TCE_INDIRECT, 512 a call", ind / 1e6,
	       ind / loop, ind / loop >= 0.5 ? "met" : "NOT met");
	printf("  %-46s %8.1f M TCEs/s  ratio %.2f  (comparison)\n", "  tcemu_table_set, 512 a batch, one table", tab / 1e6,
	       ind / tab);
	double sind = (double)tces / best_sind, stab = (double)tces / best_stab;
	printf("  %-46s %8.1f M TCEs/s\n", "tcemu_table_set, scattered pages (reference)", stab / 1e6);
	printf("  %-46s %8.1f M TCEs/s  ratio %.2f  (information)\n", "H_PUT_TCE_INDIRECT, scattered pages", sind / 1e6,
	       sind / stab);
	printf("  %-46s %8.0f ns\n", "two tcemu_table_xchg, map and clear (reference)", xchg);
	printf("  %-46s %8.0f ns  ratio %.2f  (goal <= 3: %s)\n", "H_PUT_TCE + H_STUFF_TCE pair", pair, pair / xchg,
	       pair / xchg <= 3 ? "met" : "NOT met");
	bench_record("H_PUT_TCE_INDIRECT / plain loop", ind / loop, 0.5, false);
	bench_record("H_PUT_TCE + H_STUFF_TCE / two xchg", pair / xchg, 3, true);
	free(phw);
	free(pua);
	free(pview);
	tcemu_table_unref(t);
	tcemu_guest_destroy(g);
	tcemu_host_destroy(h);
	munmap(ram, ram_size + MiB);
}
