/* SPDX-License-Identifier: MIT */
/*
 * Table engine throughput against the machine's limit.
 *
 * Reference: the fastest plain loop storing the same bytes a map stores (16 bytes per entry: the
 * big-endian entry and the user address) into two arrays of the same size (bench_ref_store in
 * bench.h: locals, unrolled four ways, its disassembly checked), measured in the same run, with
 * the same number of threads. The first benchmarks' loop (pointers reloaded after every store, not
 * unrolled) is printed for comparison only. Figures: entries per second, best of several rounds,
 * and the ratio to the reference. Goal for dense batches of 512: at least 0.5 in every
 * configuration (4 KiB and 64 KiB pages, one and two threads).
 *
 * Dense batches come in two forms: a linear run (tcemu_table_set_linear: the map of a physically
 * contiguous registered region) and an entry array (tcemu_table_set with 512 ready entries and
 * user addresses). A third line shows the array form with the caller computing fresh arrays for
 * every batch, which adds the producer's stores to the engine's.
 *
 * Sparse: clearing a whole 2^40-byte window (4 KiB pages, 4 levels) that holds 1000 scattered
 * mappings, against clearing the same 1000 entries one by one (goal: at most 4 times).
 *
 * Usage: [RUNS=n] bench_table [--quick]   (RUNS: a series of n runs, with min/median/max)
 */
#include <endian.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tcemu/table.h>

#include "bench.h"

#define BATCH 512

static uint64_t entries = 1u << 20; /* per round; 16 MiB of table data, beyond the caches */
static int rounds = 7;

#define now bench_now

enum mode { REF_STORE, REF_OLD, MAP_LINEAR, MAP_BATCH, MAP_BATCH_FILL, MAP_SINGLE, CLEAR_BATCH, CLEAR_SINGLE, NMODES };

struct job {
	enum mode mode;
	struct tcemu_table *t;
	uint64_t *ref_hw, *ref_ua; /* REF_STORE target */
	uint64_t first, count;     /* entry range of this thread */
	uint32_t page_shift;
	pthread_barrier_t *bar;
	double seconds;
};

static void run_range(struct job *j)
{
	const uint64_t ps = 1ull << j->page_shift;
	uint64_t tces[BATCH], uas[BATCH];

	switch (j->mode) {
	case REF_STORE:
		bench_ref_store(j->ref_hw + j->first, j->ref_ua + j->first, j->count, (0x40000000ull + j->first * ps) | 3,
				0x7f0000000000ull + j->first * ps, ps);
		break;
	case REF_OLD: {
		struct bench_old_ref old = { .hw = j->ref_hw, .ua = j->ref_ua };

		bench_old_store(&old, j->first, j->count, j->page_shift);
		break;
	}
	case MAP_LINEAR:
		for (uint64_t i = j->first; i < j->first + j->count; i += BATCH)
			if (tcemu_table_set_linear(j->t, i, BATCH, (0x40000000ull + i * ps) | 3, 0x7f0000000000ull + i * ps,
						   NULL, NULL))
				abort();
		break;
	case MAP_BATCH:
		/* ready entries: the engine's own cost (the same 512 pages mapped at every batch's iovas) */
		for (unsigned k = 0; k < BATCH; k++) {
			tces[k] = (0x40000000ull + k * ps) | 3;
			uas[k] = 0x7f0000000000ull + k * ps;
		}
		for (uint64_t i = j->first; i < j->first + j->count; i += BATCH)
			if (tcemu_table_set(j->t, i, BATCH, tces, uas, NULL, NULL))
				abort();
		break;
	case MAP_BATCH_FILL:
		/* the caller computes 512 fresh entries and user addresses per batch, then maps them */
		for (uint64_t i = j->first; i < j->first + j->count; i += BATCH) {
			for (unsigned k = 0; k < BATCH; k++) {
				tces[k] = (0x40000000ull + (i + k) * ps) | 3;
				uas[k] = 0x7f0000000000ull + (i + k) * ps;
			}
			if (tcemu_table_set(j->t, i, BATCH, tces, uas, NULL, NULL))
				abort();
		}
		break;
	case MAP_SINGLE:
		for (uint64_t i = j->first; i < j->first + j->count; i++) {
			uint64_t tce = (0x40000000ull + i * ps) | 3, ua = 0x7f0000000000ull + i * ps;
			if (tcemu_table_xchg(j->t, i, &tce, &ua))
				abort();
		}
		break;
	case CLEAR_BATCH:
		for (uint64_t i = j->first; i < j->first + j->count; i += BATCH)
			if (tcemu_table_clear(j->t, i, BATCH, NULL, NULL) != BATCH)
				abort();
		break;
	case CLEAR_SINGLE:
	case NMODES:
		for (uint64_t i = j->first; i < j->first + j->count; i++) {
			uint64_t tce = 0, ua = 0;
			if (tcemu_table_xchg(j->t, i, &tce, &ua) || !tce)
				abort();
		}
		break;
	}
}

static void *thread_main(void *arg)
{
	struct job *j = arg;
	double t0;

	pthread_barrier_wait(j->bar);
	t0 = now();
	run_range(j);
	j->seconds = now() - t0;
	return NULL;
}

/* Runs one pass of mode over all entries with nthreads threads on disjoint halves; returns seconds. */
static double pass(enum mode mode, struct tcemu_table *t, uint64_t *hw, uint64_t *ua, uint32_t ps, int nthreads)
{
	struct job jobs[2];
	pthread_t th[2];
	pthread_barrier_t bar;
	double worst = 0;

	pthread_barrier_init(&bar, NULL, (unsigned)nthreads);
	for (int i = 0; i < nthreads; i++) {
		jobs[i] = (struct job){ .mode = mode, .t = t, .ref_hw = hw, .ref_ua = ua, .page_shift = ps,
					.first = entries / (uint64_t)nthreads * (uint64_t)i,
					.count = entries / (uint64_t)nthreads, .bar = &bar };
		if (pthread_create(&th[i], NULL, thread_main, &jobs[i]))
			abort();
	}
	for (int i = 0; i < nthreads; i++) {
		pthread_join(th[i], NULL);
		if (jobs[i].seconds > worst)
			worst = jobs[i].seconds;
	}
	pthread_barrier_destroy(&bar);
	return worst;
}

static void bench_page_size(uint32_t ps, int nthreads)
{
	struct tcemu_table_params p = { .window_size = entries << ps, .page_shift = ps, .levels = 1,
					.flags = TCEMU_TABLE_USERSPACE };
	struct tcemu_table *t;
	uint64_t *hw = calloc(entries, 8), *ua = calloc(entries, 8);
	double best[NMODES];

	for (int m = 0; m < NMODES; m++)
		best[m] = 1e9;
	if (!hw || !ua || tcemu_table_create(&p, &t))
		abort();
	/* warm up: fault every page of the table and of the reference arrays in */
	pass(REF_STORE, t, hw, ua, ps, nthreads);
	pass(MAP_BATCH, t, hw, ua, ps, nthreads);
	pass(CLEAR_BATCH, t, hw, ua, ps, nthreads);
	for (int r = 0; r < rounds; r++) {
		/* each map pass fills the empty table, the clear pass after it empties it again */
		static const enum mode order[] = { REF_STORE, REF_OLD, MAP_LINEAR, CLEAR_BATCH, MAP_BATCH, CLEAR_BATCH,
						   MAP_BATCH_FILL, CLEAR_SINGLE, MAP_SINGLE, CLEAR_BATCH };
		for (unsigned o = 0; o < sizeof(order) / sizeof(order[0]); o++) {
			double s = pass(order[o], t, hw, ua, ps, nthreads);
			if (s < best[order[o]])
				best[order[o]] = s;
		}
	}
	double ref = (double)entries / best[REF_STORE];
	static const char *names[] = { "store loop (reference)", "  old store loop (comparison)", "map, 512 linear run", "map, 512 entry array",
				       "  same, caller fills arrays",
				       "map, single entries", "clear, batches of 512", "clear, single entries" };
	printf("\n%s pages, %d thread%s, %llu entries (%llu MiB of entries + user addresses):\n",
	       ps == 12 ? "4 KiB" : "64 KiB", nthreads, nthreads > 1 ? "s on disjoint ranges" : "",
	       (unsigned long long)entries, (unsigned long long)(entries * 16 >> 20));
	/* the goal figures of a series, one name per configuration */
	static const char *goal_names[2][2][2] = {
		{ { "4K pages, 1 thread: 512 entry array / store loop", "4K pages, 1 thread: 512 linear run / store loop" },
		  { "4K pages, 2 threads: 512 entry array / store loop", "4K pages, 2 threads: 512 linear run / store loop" } },
		{ { "64K pages, 1 thread: 512 entry array / store loop", "64K pages, 1 thread: 512 linear run / store loop" },
		  { "64K pages, 2 threads: 512 entry array / store loop", "64K pages, 2 threads: 512 linear run / store loop" } },
	};
	bench_record(goal_names[ps == 16][nthreads > 1][0], best[REF_STORE] / best[MAP_BATCH], 0.5, false);
	bench_record(goal_names[ps == 16][nthreads > 1][1], best[REF_STORE] / best[MAP_LINEAR], 0.5, false);
	for (int m = 0; m < NMODES; m++) {
		double rate = (double)entries / best[m];
		printf("  %-30s %8.1f M entries/s  %5.1f ns/entry  ratio %.2f%s\n", names[m], rate / 1e6,
		       best[m] / (double)entries * 1e9, rate / ref,
		       m == MAP_BATCH || m == MAP_LINEAR ? (rate / ref >= 0.5 ? "  (goal >= 0.50: met)" : "  (goal >= 0.50: NOT met)")
				      : "");
	}
	tcemu_table_unref(t);
	free(hw);
	free(ua);
}

static void bench_sparse(void)
{
	struct tcemu_table_params p = { .window_size = 1ull << 40, .page_shift = 12, .levels = 4,
					.flags = TCEMU_TABLE_USERSPACE };
	uint64_t idx[1000], seed = 12345;
	double whole = 1e9, singles = 1e9;
	struct tcemu_table *t;

	if (tcemu_table_create(&p, &t))
		abort();
	for (int i = 0; i < 1000; i++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		idx[i] = (seed >> 20) % (1ull << 28);
	}
	for (int r = 0; r < rounds; r++) {
		double t0;
		for (int i = 0; i < 1000; i++) {
			uint64_t tce = ((idx[i] + 1) << 12) | 3, ua = idx[i] << 12;
			tcemu_table_xchg(t, idx[i], &tce, &ua);
		}
		t0 = now();
		tcemu_table_clear(t, 0, 1ull << 28, NULL, NULL);
		double s = now() - t0;
		whole = s < whole ? s : whole;
		for (int i = 0; i < 1000; i++) {
			uint64_t tce = ((idx[i] + 1) << 12) | 3, ua = idx[i] << 12;
			tcemu_table_xchg(t, idx[i], &tce, &ua);
		}
		t0 = now();
		for (int i = 0; i < 1000; i++)
			tcemu_table_clear(t, idx[i], 1, NULL, NULL);
		s = now() - t0;
		singles = s < singles ? s : singles;
	}
	printf("\nsparse: 2^40-byte window, 4 KiB pages, 4 levels (2^28 entries), 1000 scattered mappings:\n");
	printf("  clear the whole window   %9.1f us\n", whole * 1e6);
	printf("  clear the 1000 entries   %9.1f us (reference)\n", singles * 1e6);
	printf("  ratio whole/singles      %9.2f  (goal <= 4: %s; a full walk of 2^28 entries would take ~%.0f ms)\n",
	       whole / singles, whole / singles <= 4 ? "met" : "NOT met", (double)(1ull << 28) * 0.3e-9 * 1e3);
	bench_record("sparse clear of the window / the 1000 entries", whole / singles, 4, true);
	tcemu_table_unref(t);
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--quick") == 0) {
		entries = 1u << 16;
		rounds = 2;
	}
	printf("tcemu %s table benchmark\n", tcemu_version());
	for (int run = 0, runs = bench_runs(); run < runs; run++) {
		if (runs > 1)
			printf("\n--- run %d of %d\n", run + 1, runs);
		bench_page_size(12, 1);
		bench_page_size(16, 1);
		bench_page_size(12, 2);
		bench_page_size(16, 2);
		bench_sparse();
	}
	bench_print_series();
	return 0;
}
