/* SPDX-License-Identifier: MIT */
/*
 * MAP_DMA and UNMAP_DMA through the fd-level VFIO API (sPAPR v2), against the machine's limit.
 *
 * Reference, measured in the same run: the best plain loop of bench_table (bench_ref_store in
 * bench.h: locals, unrolled four ways, its disassembly checked), storing 16 bytes per entry (entry
 * and user address) for the same number of entries into two arrays. The first benchmarks' loop
 * (pointers reloaded after every store, not unrolled) is printed for comparison only.
 *
 * Figures (entries per second and ratio to the reference):
 *  - MAP_DMA of 1 GiB of registered memory in one call and in 4 KiB calls, UNMAP_DMA of the same,
 *    at 4 KiB IOMMU pages (4 KiB host pages) and 64 KiB IOMMU pages (a 64 KiB-page host);
 *  - MAP_DMA of the same 1 GiB registered as 1 region, 100 regions and 10000 regions in address,
 *    reverse and random order, measured interleaved: one call over all, and single-page calls at
 *    random addresses (the region lookup alone);
 *  - the same one-call MAP through a model of Linux's algorithms (bench code written from the
 *    spec), in ns per entry.
 * Goals: one-call MAP at least 1/3 of the store loop; 10000 regions at least 80% of one region
 * (the 1 GiB mapped in one call, entries per second) in every registration order.
 *
 *  - with --sweep alone: one MAP_DMA of 1 MiB .. 16 GiB (x4 steps), ns per entry.
 *
 * Usage: [RUNS=n] bench_vfio [--quick] [--regions | --sweep]   (RUNS: a series of n runs, with
 *        min/median/max; --regions: the regions part alone; --sweep: the size sweep alone)
 */
#include <endian.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <linux/vfio.h>

#include <tcemu/host.h>

#include "bench.h"

static uint64_t bytes = 1ull << 30;
static int rounds = 5;

#define now bench_now

/* Keeps the best time of the measured rounds (round 0 warms up). */
static void keep_best(double *best, double t0, int round)
{
	double s = now() - t0;

	if (round && s < *best)
		*best = s;
}

static void die(const char *what, long rc)
{
	fprintf(stderr, "bench_vfio: %s failed: %ld\n", what, rc);
	exit(1);
}

struct fixture {
	struct tcemu_host *h;
	int c, g;
	uint8_t *mem;
};

static bool trusted; /* the caller vouches for its argument pointers (no checked copies) */

static void setup(struct fixture *f, uint32_t sys_shift, uint32_t iommu_shift)
{
	struct tcemu_host_opts o = { .platform.sys_page_shift = sys_shift, .trusted_args = trusted };
	struct vfio_iommu_spapr_tce_remove rm = { .argsz = sizeof(rm) };
	struct vfio_iommu_spapr_tce_create cr = {
		.argsz = sizeof(cr), .page_shift = iommu_shift, .window_size = bytes, .levels = 1,
	};
	long rc;

	if ((rc = tcemu_host_create(&o, &f->h)))
		die("host", rc);
	if ((rc = tcemu_host_open(f->h, "/dev/vfio/vfio", 2, &f->c)) || (rc = tcemu_host_open(f->h, "/dev/vfio/0", 2, &f->g)))
		die("open", rc);
	if ((rc = tcemu_host_ioctl(f->h, f->g, VFIO_GROUP_SET_CONTAINER, &f->c)) ||
	    (rc = tcemu_host_ioctl(f->h, f->c, VFIO_SET_IOMMU, (void *)VFIO_SPAPR_TCE_v2_IOMMU)) ||
	    (rc = tcemu_host_ioctl(f->h, f->c, VFIO_IOMMU_SPAPR_TCE_REMOVE, &rm)) ||
	    (rc = tcemu_host_ioctl(f->h, f->c, VFIO_IOMMU_SPAPR_TCE_CREATE, &cr)))
		die("container setup", rc);
	/* 1 GiB of address space; registration does not touch it, the tables never read it. */
	f->mem = mmap(NULL, bytes + (1u << 16), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (f->mem == MAP_FAILED)
		die("mmap", -1);
	f->mem = (uint8_t *)(((uintptr_t)f->mem + 0xffff) & ~(uintptr_t)0xffff);
}

static void teardown(struct fixture *f)
{
	tcemu_host_close(f->h, f->g);
	tcemu_host_close(f->h, f->c);
	tcemu_host_destroy(f->h);
}

static void reg(struct fixture *f, uint64_t off, uint64_t len, unsigned long cmd)
{
	struct vfio_iommu_spapr_register_memory r = { .argsz = sizeof(r), .vaddr = (uintptr_t)f->mem + off, .size = len };
	long rc = tcemu_host_ioctl(f->h, f->c, cmd, &r);
	if (rc)
		die("register", rc);
}

static void map(struct fixture *f, uint64_t off, uint64_t len)
{
	struct vfio_iommu_type1_dma_map m = {
		.argsz = sizeof(m), .flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = (uintptr_t)f->mem + off, .iova = off, .size = len,
	};
	long rc = tcemu_host_ioctl(f->h, f->c, VFIO_IOMMU_MAP_DMA, &m);
	if (rc)
		die("map", rc);
}

static void unmap(struct fixture *f, uint64_t off, uint64_t len)
{
	struct vfio_iommu_type1_dma_unmap u = { .argsz = sizeof(u), .iova = off, .size = len };
	long rc = tcemu_host_ioctl(f->h, f->c, VFIO_IOMMU_UNMAP_DMA, &u);
	if (rc)
		die("unmap", rc);
}

/* The reference: the best store loop over the same number of entries; *old: the old loop's rate. */
static double store_loop(uint64_t entries, uint32_t shift, double *old)
{
	struct bench_old_ref o = { .hw = calloc(entries, 8), .ua = calloc(entries, 8) };
	double best = 1e9, best_old = 1e9;

	if (!o.hw || !o.ua)
		die("calloc", -1);
	for (int r = 0; r < rounds + 1; r++) {
		double t0 = now();
		bench_ref_store(o.hw, o.ua, entries, 0x40000000ull | 3, 0x7f0000000000ull, 1ull << shift);
		keep_best(&best, t0, r);
		t0 = now();
		bench_old_store(&o, 0, entries, shift);
		keep_best(&best_old, t0, r);
	}
	free(o.hw);
	free(o.ua);
	if (old)
		*old = (double)entries / best_old;
	return (double)entries / best;
}

static void line(const char *what, double rate, double ref, double goal)
{
	printf("  %-40s %8.1f M entries/s  ratio %.2f", what, rate / 1e6, rate / ref);
	if (goal > 0)
		printf("  (goal >= %.2f: %s)", goal, rate / ref >= goal ? "met" : "NOT met");
	printf("\n");
}

static void bench_pages(uint32_t sys_shift, uint32_t shift)
{
	struct fixture f;
	uint64_t entries = bytes >> shift;
	double one = 1e9, small = 1e9, un_one = 1e9, un_small = 1e9;

	setup(&f, sys_shift, shift);
	reg(&f, 0, bytes, VFIO_IOMMU_SPAPR_REGISTER_MEMORY);
	double old, ref = store_loop(entries, shift, &old);
	for (int r = 0; r < rounds + 1; r++) {
		double t0 = now();
		map(&f, 0, bytes);
		keep_best(&one, t0, r);
		t0 = now();
		unmap(&f, 0, bytes);
		keep_best(&un_one, t0, r);
		t0 = now();
		for (uint64_t off = 0; off < bytes; off += 1ull << shift)
			map(&f, off, 1ull << shift);
		keep_best(&small, t0, r);
		t0 = now();
		for (uint64_t off = 0; off < bytes; off += 1ull << shift)
			unmap(&f, off, 1ull << shift);
		keep_best(&un_small, t0, r);
	}
	printf("\n%u KiB IOMMU pages (%u KiB host pages), 1 GiB = %llu entries:\n", (1u << shift) >> 10,
	       (1u << sys_shift) >> 10, (unsigned long long)entries);
	line("store loop (reference)", ref, ref, 0);
	line("  old store loop (comparison)", old, ref, 0);
	line("MAP_DMA, one call", (double)entries / one, ref, 1.0 / 3);
	static const char *goal_names[2][2] = { { "4K pages, checked args: one-call MAP / store loop",
						  "4K pages, trusted args: one-call MAP / store loop" },
						{ "64K pages: one-call MAP / store loop", "64K pages: one-call MAP / store loop" } };
	bench_record(goal_names[shift == 16][trusted], (double)entries / one / ref, 1.0 / 3, false);
	line("MAP_DMA, one call per IOMMU page", (double)entries / small, ref, 0);
	line("UNMAP_DMA, one call", (double)entries / un_one, ref, 0);
	line("UNMAP_DMA, one call per IOMMU page", (double)entries / un_small, ref, 0);
	printf("  %-40s %8.0f ns per call%s\n", "MAP_DMA of one page", small / (double)entries * 1e9,
	       trusted ? " (trusted_args)" : " (checked argument copies)");
	reg(&f, 0, bytes, VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY);
	teardown(&f);
}

/*
 * 1 GiB registered as 1 region, 100 regions in address order and 10000 regions in address, reverse
 * and random order, each on a host of its own, all set up first and then measured in turn in every
 * round (interleaved: a noisy neighbour slows them alike). Per configuration: one MAP_DMA spanning
 * all regions (entries per second), and single-page MAP_DMA calls at scattered addresses (calls
 * per second: the cost of finding the region behind an address).
 */
enum order { ADDRESS, REVERSE, RANDOM };
struct regions_case {
	const char *what;
	unsigned count;
	enum order order;
	struct fixture f;
	uint64_t len, total;
	double span, pages; /* best seconds */
};
#define NCASES 5

static void regions_setup(struct regions_case *rc)
{
	unsigned *at = malloc(rc->count * sizeof(*at));
	uint64_t seed = 0x9e3779b97f4a7c15ull;

	if (!at)
		die("malloc", -1);
	rc->len = (bytes / rc->count) & ~0xfffull;
	rc->total = rc->len * rc->count;
	for (unsigned k = 0; k < rc->count; k++)
		at[k] = rc->order == REVERSE ? rc->count - 1 - k : k;
	for (unsigned k = rc->count; rc->order == RANDOM && k > 1; k--) {
		seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
		unsigned j = (unsigned)(seed % k), x = at[k - 1];
		at[k - 1] = at[j];
		at[j] = x;
	}
	trusted = true; /* the per-call checked copies would hide the lookup cost */
	setup(&rc->f, 12, 12);
	trusted = false;
	for (unsigned k = 0; k < rc->count; k++)
		reg(&rc->f, at[k] * rc->len, rc->len, VFIO_IOMMU_SPAPR_REGISTER_MEMORY);
	free(at);
	rc->span = rc->pages = 1e9;
}

/* One MAP over all the regions, timed, then unmapped (about 0.1 ms each). */
static void regions_span(struct regions_case *rc, int r)
{
	double t0 = now();

	map(&rc->f, 0, rc->total);
	keep_best(&rc->span, t0, r);
	unmap(&rc->f, 0, bytes);
}

/* Single-page MAPs at random addresses, timed, then unmapped. */
static void regions_pages(struct regions_case *rc, int r)
{
	const unsigned ncalls = 50000;
	uint64_t seed = 88172645463325252ull;
	double t0 = now();

	for (unsigned k = 0; k < ncalls; k++) {
		seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
		map(&rc->f, (seed % (rc->total >> 12)) << 12, 4096);
	}
	keep_best(&rc->pages, t0, r);
	unmap(&rc->f, 0, bytes);
}

static void regions_teardown(struct regions_case *rc)
{
	for (unsigned k = 0; k < rc->count; k++)
		reg(&rc->f, k * rc->len, rc->len, VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY);
	teardown(&rc->f);
}

/*
 * A model of Linux's own algorithms for the same MAP, written from the spec (docs of the sPAPR
 * ABI: one list of regions per process, each with its array of page frames and a mapped count):
 * for every IOMMU page, a walk of the region list (newest first, as regions are added at its head)
 * to the region holding the page, its frame from the region's array, the region's mapped count
 * raised by compare-and-swap (increment unless zero), and the entry and its user address written
 * by an atomic exchange each. Cost per entry, best of the rounds.
 */
struct lregion {
	uint64_t ua, size;
	uint64_t *hpas;  /* one frame per 4 KiB page */
	uint64_t mapped; /* atomic; 1 + mappings, as a used region */
	struct lregion *next;
};

static double linux_model(unsigned count, enum order order, uint64_t first_page, uint64_t npages)
{
	const uint64_t len = (bytes / count) & ~0xfffull, entries = bytes >> 12;
	struct lregion *head = NULL, *regs = calloc(count, sizeof(*regs));
	uint64_t *hw = calloc(entries, 8), *uat = calloc(entries, 8), *frames = malloc(entries * 8);
	uint64_t base = 0x7f0000000000ull;
	double best = 1e9;

	if (first_page + npages > (len * count) >> 12)
		npages = ((len * count) >> 12) - first_page; /* the regions cover less than 1 GiB */
	if (!regs || !hw || !uat || !frames)
		die("calloc", -1);
	for (uint64_t p = 0; p < entries; p++)
		frames[p] = 0x40000000ull + (((p * 7919) % entries) << 12); /* pinned pages, anywhere */
	for (unsigned k = 0; k < count; k++) {
		unsigned i = order == REVERSE ? count - 1 - k : k;
		regs[i] = (struct lregion){ .ua = base + i * len, .size = len, .hpas = frames + i * (len >> 12), .mapped = 1,
					    .next = head };
		head = &regs[i];
	}
	for (int r = 0; r < rounds + 1; r++) {
		double t0 = now();
		for (uint64_t p = first_page; p < first_page + npages; p++) {
			uint64_t ua = base + (p << 12);
			struct lregion *lr = head;

			while (lr && !(ua - lr->ua < lr->size && 4096 <= lr->size - (ua - lr->ua)))
				lr = lr->next;
			if (!lr)
				die("model lookup", -1);
			uint64_t hpa = lr->hpas[(ua - lr->ua) >> 12], m = __atomic_load_n(&lr->mapped, __ATOMIC_RELAXED);
			do {
				if (!m)
					die("model region gone", -1);
			} while (!__atomic_compare_exchange_n(&lr->mapped, &m, m + 1, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED));
			uint64_t old = __atomic_exchange_n(&hw[p], htobe64(hpa | 3), __ATOMIC_ACQ_REL);
			__atomic_exchange_n(&uat[p], ua, __ATOMIC_ACQ_REL);
			if (old)
				die("model: entry in use", -1);
		}
		keep_best(&best, t0, r);
		for (uint64_t p = first_page; p < first_page + npages; p++) /* unmap: not timed */
			hw[p] = uat[p] = 0;
	}
	free(regs);
	free(hw);
	free(uat);
	free(frames);
	return best / (double)npages * 1e9;
}

static void bench_regions(double ref)
{
	static struct regions_case cases[NCASES] = {
		{ "1 region", 1, ADDRESS },
		{ "100 regions, address order", 100, ADDRESS },
		{ "10000 regions, address order", 10000, ADDRESS },
		{ "10000 regions, reverse order", 10000, REVERSE },
		{ "10000 regions, random order", 10000, RANDOM },
	};
	static const char *goal_names[NCASES] = {
		NULL, NULL, "10000 regions address order / 1 region, one MAP", "10000 regions reverse order / 1 region, one MAP",
		"10000 regions random order / 1 region, one MAP",
	};

	for (int i = 0; i < NCASES; i++)
		regions_setup(&cases[i]);
	/*
	 * The MAPs of the cases in turn, one each, many times: the best of each comes from the same
	 * stretch of time (a noisy neighbour's slow spell lasts milliseconds: it must slow them alike).
	 */
	for (int r = 0; r < 16 * rounds + 1; r++)
		for (int i = 0; i < NCASES; i++)
			regions_span(&cases[i], r);
	for (int r = 0; r < 2 * rounds + 1; r++)
		for (int i = 0; i < NCASES; i++)
			regions_pages(&cases[i], r);
	for (int i = 0; i < NCASES; i++)
		regions_teardown(&cases[i]);

	printf("\n1 GiB at 4 KiB pages registered as N regions (trusted_args), measured interleaved:\n");
	line("store loop (reference)", ref, ref, 0);
	const double one = (double)(cases[0].total >> 12) / cases[0].span;
	for (int i = 0; i < NCASES; i++) {
		char what[96];
		double rate = (double)(cases[i].total >> 12) / cases[i].span;

		snprintf(what, sizeof(what), "%s, one MAP over all", cases[i].what);
		line(what, rate, ref, 0);
		if (goal_names[i]) {
			printf("  %-40s %8.2f  (goal >= 0.80: %s)\n", "  / 1 region, one MAP", rate / one,
			       rate / one >= 0.8 ? "met" : "NOT met");
			bench_record(goal_names[i], rate / one, 0.8, false);
		}
	}
	for (int i = 0; i < NCASES; i++) {
		char what[96];

		snprintf(what, sizeof(what), "%s, single-page MAPs at random", cases[i].what);
		printf("  %-40s %8.2f M calls/s\n", what, 50000 / cases[i].pages / 1e6);
	}

	/* The same MAP through a model of Linux's algorithms, against tcemu's, in ns per entry. */
	const uint64_t entries = bytes >> 12, slice = entries / 16;
	double m1 = linux_model(1, ADDRESS, 0, entries), m100 = linux_model(100, ADDRESS, 0, entries);
	double m10k = linux_model(10000, REVERSE, entries / 2, slice);
	printf("\nthe same MAP through a model of Linux's algorithms (region list walk per page, per-page\n"
	       "compare-and-swap count, per-entry exchange), ns per entry:\n");
	printf("  %-40s %8.2f ns  (tcemu %.2f ns: %.1fx)\n", "1 region", m1, cases[0].span / (double)entries * 1e9,
	       m1 / (cases[0].span / (double)entries * 1e9));
	printf("  %-40s %8.2f ns  (tcemu %.2f ns: %.1fx)\n", "100 regions", m100, cases[1].span / (double)entries * 1e9,
	       m100 / (cases[1].span / (double)entries * 1e9));
	printf("  %-40s %8.2f ns  (tcemu %.2f ns: %.1fx; model over 1/16 of the range)\n", "10000 regions", m10k,
	       cases[3].span / (double)entries * 1e9, m10k / (cases[3].span / (double)entries * 1e9));
}

/*
 * How the cost grows with the mapping's size: one MAP_DMA of 1 MiB .. 16 GiB of one region at 4 KiB
 * pages (sparse memory: MAP_NORESERVE, nothing but the table is touched; 16 GiB = 4M entries, 32 MiB
 * of entries and 32 MiB of user addresses), ns per entry, best of the rounds.
 */
static void bench_sweep(void)
{
	const uint64_t saved = bytes, max = 16ull << 30;
	struct fixture f;

	bytes = max;
	trusted = true;
	setup(&f, 12, 12);
	trusted = false;
	reg(&f, 0, max, VFIO_IOMMU_SPAPR_REGISTER_MEMORY);
	printf("\none MAP_DMA of N bytes at 4 KiB pages, one region (trusted_args), ns per entry (best of %d):\n", rounds);
	for (uint64_t len = 1ull << 20; len <= max; len <<= 2) {
		double best = 1e9;

		for (int r = 0; r < rounds + 1; r++) {
			double t0 = now();
			map(&f, 0, len);
			keep_best(&best, t0, r);
			unmap(&f, 0, len);
		}
		printf("  %8llu MiB  %8llu entries  %6.2f ns per entry\n", (unsigned long long)(len >> 20),
		       (unsigned long long)(len >> 12), best / (double)(len >> 12) * 1e9);
	}
	reg(&f, 0, max, VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY);
	teardown(&f);
	bytes = saved;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--quick") == 0) {
		bytes = 64ull << 20;
		rounds = 1;
	}
	bool regions_only = argc > 1 && strcmp(argv[argc - 1], "--regions") == 0;
	bool sweep_only = argc > 1 && strcmp(argv[argc - 1], "--sweep") == 0;

	printf("tcemu %s VFIO map benchmark (sPAPR v2)\n", tcemu_version());
	for (int run = 0, runs = bench_runs(); run < runs; run++) {
		if (runs > 1)
			printf("\n--- run %d of %d\n", run + 1, runs);
		if (sweep_only) {
			bench_sweep();
			continue;
		}
		if (regions_only) {
			bench_regions(store_loop(bytes >> 12, 12, NULL));
			continue;
		}
		bench_pages(12, 12);
		bench_pages(16, 16);
		/* The per-call cost without the checked copies (a VMM calling the library directly). */
		trusted = true;
		bench_pages(12, 12);
		trusted = false;
		bench_regions(store_loop(bytes >> 12, 12, NULL));
	}
	bench_print_series();
	return 0;
}
