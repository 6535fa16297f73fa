/* SPDX-License-Identifier: MIT */
/*
 * DMA engine throughput against plain memcpy.
 *
 * A ring of NBUF 4 KiB buffers in pinned memory, mapped through a 4 KiB-page window of slot 0.
 * One round: for every buffer, a DMA write (device buffer -> memory) then a DMA read (memory ->
 * a second device buffer). The reference does the same two copies with memcpy on the same
 * buffers, in the same run. Figures: GB/s of copied bytes (best of several repetitions, the two
 * variants interleaved) and the ratio; goal: DMA with a warm cache at >= 0.80 of memcpy.
 * The cold-cache line kills the whole PE cache before every access (information only).
 *
 * Usage: bench_dma [--quick]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include <tcemu/dma.h>
#include <tcemu/memory.h>
#include <tcemu/platform.h>
#include <tcemu/table.h>

#include "bench.h"

#define NBUF 256u
#define BUFSZ 4096u

static void die(const char *what, int rc)
{
	fprintf(stderr, "bench_dma: %s: %d\n", what, rc);
	exit(1);
}

enum mode { MEMCPY, DMA_WARM, DMA_COLD };

static unsigned char *mem_region, *dev_out, *dev_in;
static struct tcemu_dma *dma;
static struct tcemu_pe *pe;

/* Returns seconds for `rounds` rounds. */
static double run(enum mode m, unsigned rounds)
{
	double t0 = bench_now();

	for (unsigned r = 0; r < rounds; r++) {
		for (unsigned i = 0; i < NBUF; i++) {
			unsigned char *mb = mem_region + (size_t)i * BUFSZ;
			unsigned char *ob = dev_out + (size_t)i * BUFSZ, *ib = dev_in + (size_t)i * BUFSZ;
			uint64_t bus = (uint64_t)i * BUFSZ;

			switch (m) {
			case MEMCPY:
				memcpy(mb, ob, BUFSZ);
				memcpy(ib, mb, BUFSZ);
				break;
			case DMA_WARM:
				if (tcemu_dma_write(dma, pe, bus, ob, BUFSZ) || tcemu_dma_read(dma, pe, bus, ib, BUFSZ))
					die("dma", -1);
				break;
			case DMA_COLD:
				tcemu_pe_tce_kill(pe, 0, 0, 0);
				if (tcemu_dma_write(dma, pe, bus, ob, BUFSZ))
					die("dma", -1);
				tcemu_pe_tce_kill(pe, 0, 0, 0);
				if (tcemu_dma_read(dma, pe, bus, ib, BUFSZ))
					die("dma", -1);
				break;
			}
		}
		__asm__ __volatile__("" ::: "memory");
	}
	return bench_now() - t0;
}

int main(int argc, char **argv)
{
	bool quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
	unsigned rounds = quick ? 50 : 200, reps = quick ? 9 : 41; /* short interleaved repetitions: best of, robust to noise */
	struct tcemu_platform_opts po = { 0 };
	struct tcemu_memory_params mp = { 0 };
	struct tcemu_platform *p;
	struct tcemu_memory *mem;
	struct tcemu_table *t;
	struct tcemu_table_params tp = { .bus_offset = 0, .window_size = 1ull << 30, .page_shift = 12, .levels = 1 };
	const size_t total = (size_t)NBUF * BUFSZ;
	uint64_t hpa;
	int rc;

	if ((rc = tcemu_platform_create(&po, &p)))
		die("platform", rc);
	if ((rc = tcemu_memory_create(&mp, &mem)))
		die("memory", rc);
	pe = tcemu_platform_pe(p, 0);
	if ((rc = tcemu_pe_take_ownership(pe)))
		die("ownership", rc);
	if ((rc = tcemu_table_create(&tp, &t)) || (rc = tcemu_pe_set_window(pe, 0, t)))
		die("window", rc);
	if ((rc = tcemu_dma_create(p, mem, &dma)))
		die("dma_create", rc);

	mem_region = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	dev_out = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	dev_in = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem_region == MAP_FAILED || dev_out == MAP_FAILED || dev_in == MAP_FAILED)
		die("mmap", -1);
	for (size_t i = 0; i < total; i++)
		dev_out[i] = (unsigned char)(i * 7 + 1);
	memset(mem_region, 0, total);
	memset(dev_in, 0, total);
	if ((rc = tcemu_memory_pin(mem, (uint64_t)(uintptr_t)mem_region, total, 0, &hpa)))
		die("pin", rc);
	if ((rc = tcemu_table_set_linear(t, 0, NBUF, hpa | TCEMU_TCE_READ | TCEMU_TCE_WRITE, 0, NULL, NULL)))
		die("set_linear", rc);
	tcemu_pe_tce_kill(pe, 0, 0, NBUF);

	/* Warm up both paths (and fill the cache). */
	run(MEMCPY, rounds / 10 + 1);
	run(DMA_WARM, rounds / 10 + 1);
	if (memcmp(dev_in, dev_out, total) != 0)
		die("data mismatch", -1);

	double best_ref = 1e9, best_dma = 1e9, best_cold = 1e9;
	unsigned cold_rounds = rounds / 10 + 1;
	for (unsigned k = 0; k < reps; k++) {
		double a = run(MEMCPY, rounds), b = run(DMA_WARM, rounds);
		best_ref = a < best_ref ? a : best_ref;
		best_dma = b < best_dma ? b : best_dma;
	}
	for (unsigned k = 0; k < 9; k++) {
		double c = run(DMA_COLD, cold_rounds);
		best_cold = c < best_cold ? c : best_cold;
	}

	struct tcemu_dma_stats st;
	tcemu_dma_stats(dma, pe, &st);
	double bytes = 2.0 * (double)total * rounds, cbytes = 2.0 * (double)total * cold_rounds;
	double ref_gbs = bytes / best_ref / 1e9, dma_gbs = bytes / best_dma / 1e9, cold_gbs = cbytes / best_cold / 1e9;
	double ratio = dma_gbs / ref_gbs;
	double per_access_ns = (best_dma - best_ref) / (2.0 * NBUF * rounds) * 1e9;

	printf("DMA write+read of %u x %u B buffers through 4 KiB IOMMU pages, %u rounds, best of %u\n", NBUF, BUFSZ,
	       rounds, reps);
	printf("  memcpy reference     %7.2f GB/s\n", ref_gbs);
	printf("  DMA, warm cache      %7.2f GB/s  ratio %.3f (goal >= 0.80: %s), overhead %.1f ns/access\n", dma_gbs,
	       ratio, ratio >= 0.80 ? "met" : "NOT met", per_access_ns);
	printf("  DMA, cold cache      %7.2f GB/s  ratio %.3f (kill before every access; information)\n", cold_gbs,
	       cold_gbs / ref_gbs);
	printf("  stats: hits %llu misses %llu invalidations %llu\n", (unsigned long long)st.cache_hits,
	       (unsigned long long)st.cache_misses, (unsigned long long)st.invalidations);

	tcemu_dma_destroy(dma);
	tcemu_pe_unset_window(pe, 0);
	tcemu_table_unref(t);
	tcemu_pe_release_ownership(pe);
	tcemu_memory_destroy(mem);
	tcemu_platform_destroy(p);
	munmap(mem_region, total);
	munmap(dev_out, total);
	munmap(dev_in, total);
	return 0;
}
