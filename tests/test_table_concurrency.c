/* SPDX-License-Identifier: MIT */
/*
 * Concurrency of the table engine (run under ThreadSanitizer in CI).
 *
 * Threads exchange, set and clear random entries of one multi-level table that starts empty, so
 * levels are allocated by racing threads. Every value any thread writes is unique and carries its
 * user address as a function of itself. Conservation must hold afterwards: each value written was
 * either handed back exactly once as an old entry (by an exchange, a set or a clear) or is in the
 * table at the end, and every entry seen came with its own user address. A lost level, a lost
 * update or a torn entry/user-address pair breaks it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include <tcemu/table.h>

#include "harness.h"

#define THREADS 4
#define OPS 40000
#define BITS 9 /* 4 KiB levels */

static const uint64_t window = 1ull << 34; /* 2^22 entries at 4K, 3 levels */
static const uint64_t hot = 1ull << 16;    /* entries the threads fight over */

struct log {
	uint64_t *vals;
	size_t n, cap;
	bool torn;
};

static void log_add(struct log *l, uint64_t v)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 4096;
		l->vals = realloc(l->vals, l->cap * sizeof(uint64_t));
		if (!l->vals)
			abort();
	}
	l->vals[l->n++] = v;
}

/* Unique value: thread, sequence. Entry = value << 12 | RW; user address = ~value << 12. */
static inline uint64_t mk_tce(uint64_t v)
{
	return (v << 12) | 3;
}
static inline uint64_t mk_ua(uint64_t v)
{
	return (~v & 0xffffffffffull) << 12;
}

static void returned(void *opaque, uint64_t index, uint64_t old_tce, uint64_t old_ua)
{
	struct log *l = opaque;
	uint64_t v = old_tce >> 12;

	(void)index;
	if (mk_ua(v) != old_ua || (old_tce & 3) != 3)
		l->torn = true;
	log_add(l, v);
}

struct worker {
	struct tcemu_table *t;
	unsigned id;
	struct log written, olds;
	int errors;
};

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void *work(void *arg)
{
	struct worker *w = arg;
	uint64_t seed = 0x9e3779b97f4a7c15ull * (w->id + 1), seq = 1;
	uint64_t tces[64], uas[64];

	for (unsigned op = 0; op < OPS; op++) {
		uint64_t r = rnd(&seed);
		/* mostly the hot range; sometimes anywhere, to race level allocation everywhere */
		uint64_t idx = (r & 1) ? (r >> 8) % hot : (r >> 8) % (window >> 12);
		unsigned kind = (unsigned)(r >> 3) % 8;

		if (kind < 5) { /* exchange in a value */
			uint64_t v = ((uint64_t)w->id << 32) | seq++;
			uint64_t tce = mk_tce(v), ua = mk_ua(v);
			if (tcemu_table_xchg(w->t, idx, &tce, &ua) != 0) {
				w->errors++;
				continue;
			}
			log_add(&w->written, v);
			if (tce)
				returned(&w->olds, idx, tce, ua);
		} else if (kind < 6) { /* exchange in a clear */
			uint64_t tce = 0, ua = 0;
			if (tcemu_table_xchg(w->t, idx, &tce, &ua) != 0) {
				w->errors++;
				continue;
			}
			if (tce)
				returned(&w->olds, idx, tce, ua);
		} else if (kind < 7) { /* a batch over a chunk boundary */
			unsigned n = 1 + (unsigned)((r >> 20) % 64);
			if (idx + n > window >> 12)
				idx = (window >> 12) - n;
			for (unsigned k = 0; k < n; k++) {
				uint64_t v = ((uint64_t)w->id << 32) | seq++;
				tces[k] = mk_tce(v);
				uas[k] = mk_ua(v);
			}
			if (tcemu_table_set(w->t, idx, n, tces, uas, returned, &w->olds) != 0) {
				w->errors++;
				continue;
			}
			for (unsigned k = 0; k < n; k++)
				log_add(&w->written, tces[k] >> 12);
		} else { /* clear a range */
			unsigned n = 1 + (unsigned)((r >> 20) % 2048);
			if (idx + n > window >> 12)
				idx = (window >> 12) - n;
			if (tcemu_table_clear(w->t, idx, n, returned, &w->olds) < 0)
				w->errors++;
		}
	}
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

struct final {
	struct log vals;
	uint64_t *idx;
	size_t nidx, capidx;
};

TEST(racing_exchanges_conserve_every_value)
{
	struct tcemu_table_params p = { .window_size = window, .page_shift = 12, .levels = 3,
					.flags = TCEMU_TABLE_USERSPACE };
	struct tcemu_table *t = NULL;
	struct worker w[THREADS] = { 0 };
	struct harness_threads th = { 0 };
	struct log all_written = { 0 }, all_out = { 0 };
	struct tcemu_table_info info;
	int64_t left;

	CHECK_EQ(tcemu_table_create(&p, &t), 0);
	for (unsigned i = 0; i < THREADS; i++) {
		w[i].t = t;
		w[i].id = i + 1;
		harness_thread_start(&th, work, &w[i]);
	}
	harness_threads_join(&th);

	tcemu_table_info(t, &info);
	uint64_t valid_before = info.valid_entries;
	/* The final contents leave the table through a clear: they join the handed-back values. */
	left = tcemu_table_clear(t, 0, window >> 12, returned, &all_out);
	CHECK_EQ(left, (int64_t)valid_before);
	for (unsigned i = 0; i < THREADS; i++) {
		CHECK_EQ(w[i].errors, 0);
		CHECK(!w[i].olds.torn);
		for (size_t k = 0; k < w[i].written.n; k++)
			log_add(&all_written, w[i].written.vals[k]);
		for (size_t k = 0; k < w[i].olds.n; k++)
			log_add(&all_out, w[i].olds.vals[k]);
		free(w[i].written.vals);
		free(w[i].olds.vals);
	}
	CHECK(!all_out.torn);
	CHECK_EQ(all_out.n, all_written.n);
	qsort(all_written.vals, all_written.n, sizeof(uint64_t), cmp_u64);
	qsort(all_out.vals, all_out.n, sizeof(uint64_t), cmp_u64);
	for (size_t k = 0; k < all_written.n; k++) {
		if (all_written.vals[k] != all_out.vals[k]) {
			HARNESS_FAIL("value %zu: written 0x%llx, came back 0x%llx", k,
				     (unsigned long long)all_written.vals[k], (unsigned long long)all_out.vals[k]);
			break;
		}
	}
	tcemu_table_info(t, &info);
	CHECK_EQ(info.valid_entries, 0);
	free(all_written.vals);
	free(all_out.vals);
	tcemu_table_unref(t);
}

/* Racing first writes below the same absent levels: exactly one level per path survives. */
struct racer {
	struct tcemu_table *t;
	unsigned id;
	pthread_barrier_t *bar;
};

static void *race_paths(void *arg)
{
	struct racer *r = arg;

	pthread_barrier_wait(r->bar);
	for (uint64_t leaf = 0; leaf < 256; leaf++) {
		/* every thread writes its own entry of the same leaves, spread across inner levels */
		uint64_t idx = (leaf << (2 * BITS - 3)) + r->id;
		uint64_t tce = ((idx + 1) << 12) | 1, ua = 0;
		tcemu_table_xchg(r->t, idx, &tce, &ua);
	}
	return NULL;
}

TEST(racing_level_allocation_keeps_one_level_per_path)
{
	struct tcemu_table_params p = { .window_size = 1ull << 39, .page_shift = 12, .levels = 3 };
	struct tcemu_table *t = NULL;
	struct racer r[THREADS];
	struct harness_threads th = { 0 };
	pthread_barrier_t bar;
	struct tcemu_table_info info;

	CHECK_EQ(tcemu_table_create(&p, &t), 0); /* 2^27 entries: 3 levels of 512 */
	pthread_barrier_init(&bar, NULL, THREADS);
	for (unsigned i = 0; i < THREADS; i++) {
		r[i] = (struct racer){ .t = t, .id = i, .bar = &bar };
		harness_thread_start(&th, race_paths, &r[i]);
	}
	harness_threads_join(&th);
	pthread_barrier_destroy(&bar);

	tcemu_table_info(t, &info);
	CHECK_EQ(info.valid_entries, 256 * THREADS);
	/* leaves: idx >> 9 distinct = 256 (step 2^15 entries = 64 leaves apart); inner: idx >> 18 = 32 */
	CHECK_EQ(info.levels_allocated, 1 + 32 + 256);
	for (uint64_t leaf = 0; leaf < 256; leaf++) {
		for (unsigned i = 0; i < THREADS; i++) {
			uint64_t idx = (leaf << (2 * BITS - 3)) + i, tce;
			CHECK_EQ(tcemu_table_get(t, idx, &tce, NULL), 0);
			CHECK_U64(tce, ((idx + 1) << 12) | 1);
		}
	}
	tcemu_table_unref(t);
}

HARNESS_MAIN(T(racing_exchanges_conserve_every_value), T(racing_level_allocation_keeps_one_level_per_path))
