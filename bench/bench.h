/* SPDX-License-Identifier: MIT */
/*
 * Shared by the benchmarks: the clock, the reference store loop, and series of runs.
 *
 * A series: RUNS=n in the environment (default 1, at most BENCH_MAX_RUNS) makes a benchmark run
 * its whole measurement n times; each run prints its figures, and the end prints, for every goal
 * figure, its min/median/max over the runs and whether the goal held in every run.
 */
#ifndef TCEMU_BENCH_BENCH_H
#define TCEMU_BENCH_BENCH_H

#include <endian.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define BENCH_MAX_RUNS 100
#define BENCH_MAX_FIGURES 24

static inline double bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/*
 * The reference: the fastest plain loop of the stores a map makes (16 bytes per entry: the
 * big-endian entry tce + k * step and the user address u + k * step), with the pointers and
 * counters in locals (restrict: nothing is reloaded after a store, whatever -fno-strict-aliasing
 * says) and unrolled four ways like the engine's own fill. Checked by its disassembly (objdump -d
 * build/bench/bench_table, the release build): the unrolled body is eight stores (four of them
 * after a bswap), the additions of the addresses and one compare, with no load at all. Not
 * inlined, so every caller measures the same code.
 */
static __attribute__((noinline, unused)) void bench_ref_store(uint64_t *restrict hw, uint64_t *restrict ua, uint64_t n,
						      uint64_t tce, uint64_t u, uint64_t step)
{
	uint64_t i = 0;

	for (; i + 4 <= n; i += 4, tce += 4 * step, u += 4 * step) {
		hw[i] = htobe64(tce);
		ua[i] = u;
		hw[i + 1] = htobe64(tce + step);
		ua[i + 1] = u + step;
		hw[i + 2] = htobe64(tce + 2 * step);
		ua[i + 2] = u + 2 * step;
		hw[i + 3] = htobe64(tce + 3 * step);
		ua[i + 3] = u + 3 * step;
	}
	for (; i < n; i++, tce += step, u += step) {
		hw[i] = htobe64(tce);
		ua[i] = u;
	}
}

/*
 * The store loop of the first benchmarks, kept for comparison only: it indexes through pointers
 * it reloads after every store (-fno-strict-aliasing) and is not unrolled.
 */
struct bench_old_ref {
	uint64_t *hw, *ua;
};
static __attribute__((noinline, unused)) void bench_old_store(struct bench_old_ref *r, uint64_t first, uint64_t n,
						      uint32_t shift)
{
	for (uint64_t i = first; i < first + n; i++) {
		r->hw[i] = htobe64((0x40000000ull + (i << shift)) | 3);
		r->ua[i] = 0x7f0000000000ull + (i << shift);
	}
}

/* Runs in a series: RUNS from the environment. */
static inline int bench_runs(void)
{
	const char *s = getenv("RUNS");
	int n = s ? atoi(s) : 1;

	return n < 1 ? 1 : n > BENCH_MAX_RUNS ? BENCH_MAX_RUNS : n;
}

/* One goal figure over a series: its values, and its goal (at least or at most goal). */
struct bench_figure {
	const char *name;
	double goal;
	bool at_most;
	int n;
	double v[BENCH_MAX_RUNS];
};

static struct bench_figure bench_figures[BENCH_MAX_FIGURES];
static int bench_nfigures;

/* Records value for the figure called name (a string literal) in this run. */
static inline void bench_record(const char *name, double value, double goal, bool at_most)
{
	struct bench_figure *f = NULL;

	for (int i = 0; i < bench_nfigures; i++)
		if (bench_figures[i].name == name)
			f = &bench_figures[i];
	if (!f) {
		if (bench_nfigures == BENCH_MAX_FIGURES)
			return;
		f = &bench_figures[bench_nfigures++];
		*f = (struct bench_figure){ .name = name, .goal = goal, .at_most = at_most };
	}
	if (f->n < BENCH_MAX_RUNS)
		f->v[f->n++] = value;
}

static int bench_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Prints min/median/max of every recorded figure and whether its goal held in every run. */
static inline void bench_print_series(void)
{
	if (!bench_nfigures)
		return;
	printf("\nseries of %d run%s (min / median / max):\n", bench_figures[0].n, bench_figures[0].n > 1 ? "s" : "");
	for (int i = 0; i < bench_nfigures; i++) {
		struct bench_figure *f = &bench_figures[i];
		double s[BENCH_MAX_RUNS];
		bool held = true;

		for (int k = 0; k < f->n; k++) {
			s[k] = f->v[k];
			held &= f->at_most ? f->v[k] <= f->goal : f->v[k] >= f->goal;
		}
		qsort(s, (size_t)f->n, sizeof(s[0]), bench_cmp);
		double med = f->n % 2 ? s[f->n / 2] : (s[f->n / 2 - 1] + s[f->n / 2]) / 2;
		printf("  %-52s %7.2f %7.2f %7.2f  (goal %s %.2f: %s)\n", f->name, s[0], med, s[f->n - 1],
		       f->at_most ? "<=" : ">=", f->goal, held ? "held in every run" : "NOT held in every run");
	}
}

#endif
