/* SPDX-License-Identifier: MIT */
/* TCE table engine: geometry, accounting, exchange, sparse allocation, clear, translation. */
#include <errno.h>
#include <stdlib.h>

#include <tcemu/table.h>

#include "harness.h"

#define KiB (1ull << 10)
#define MiB (1ull << 20)
#define GiB (1ull << 30)

static struct tcemu_table *mk(uint64_t ws, uint32_t ps, uint32_t levels, uint32_t flags)
{
	struct tcemu_table_params p = { .window_size = ws, .page_shift = ps, .levels = levels, .flags = flags };
	struct tcemu_table *t = NULL;

	if (tcemu_table_create(&p, &t) != 0)
		return NULL;
	return t;
}

static int geo(uint64_t ws, uint32_t ps, uint32_t levels, uint32_t sys, struct tcemu_table_geometry *g)
{
	struct tcemu_table_params p = { .window_size = ws, .page_shift = ps, .levels = levels, .sys_page_shift = sys };
	return tcemu_table_geometry(&p, g);
}

/* Every case of the level and accounting formulas, with the figures worked out by hand. */
TEST(geometry_formulas)
{
	struct tcemu_table_geometry g;

	/* 2 GiB default window, 4K pages, 1 level: one 4 MiB level; charged twice. */
	CHECK_EQ(geo(2 * GiB, 12, 1, 12, &g), 0);
	CHECK_EQ(g.entries_shift, 19);
	CHECK_EQ(g.level_shift, 22);
	CHECK_EQ(g.entries, 1ull << 19);
	CHECK_U64(g.accounted_bytes, 8 * MiB);

	/* DPDK's 8 GiB window at 4K, 1 level. */
	CHECK_EQ(geo(8 * GiB, 12, 1, 12, &g), 0);
	CHECK_EQ(g.level_shift, 24);
	CHECK_U64(g.accounted_bytes, 32 * MiB);

	/* 2^40 at 4K, 4 levels: ceil(28/4)+3 = 10 < PAGE_SHIFT, so 4 KiB levels. */
	CHECK_EQ(geo(1ull << 40, 12, 4, 12, &g), 0);
	CHECK_EQ(g.entries_shift, 28);
	CHECK_EQ(g.level_shift, 12);
	CHECK_EQ(g.bits_per_level, 9);
	CHECK_U64(g.accounted_bytes, 2 * ((1ull << 31) + (1ull << 22) + (1ull << 13) + (1ull << 12)));

	/* 64K system pages: levels are at least 64 KiB, and so is the direct size. */
	CHECK_EQ(geo(1 * GiB, 16, 1, 16, &g), 0);
	CHECK_EQ(g.level_shift, 17);
	CHECK_U64(g.accounted_bytes, 256 * KiB);
	CHECK_EQ(geo(1 * MiB, 12, 1, 16, &g), 0);
	CHECK_EQ(g.level_shift, 16);
	CHECK_U64(g.accounted_bytes, 2 * 64 * KiB); /* 4K rounded up to the 64K direct size */

	/* Two levels of 4 KiB for 16 GiB at 64K pages. */
	CHECK_EQ(geo(16 * GiB, 16, 2, 12, &g), 0);
	CHECK_EQ(g.level_shift, 12);
	CHECK_U64(g.accounted_bytes, 2 * ((1ull << 21) + 4096));

	/* 16 MiB pages, 64 GiB, 64K system pages: level smaller than the direct size. */
	CHECK_EQ(geo(64 * GiB, 24, 1, 16, &g), 0);
	CHECK_EQ(g.level_shift, 16);
	CHECK_U64(g.accounted_bytes, 2 * 64 * KiB);

	/* A window of exactly one page. */
	CHECK_EQ(geo(4096, 12, 1, 12, &g), 0);
	CHECK_EQ(g.entries, 1);
	CHECK_U64(g.accounted_bytes, 2 * 4096);

	/* The accounting shortcut agrees, and says 0 for a bad geometry. */
	CHECK_U64(tcemu_table_accounted_size(12, 2 * GiB, 1, 12), 8 * MiB);
	CHECK_U64(tcemu_table_accounted_size(12, 3 * GiB, 1, 12), 0);
}

TEST(geometry_einval)
{
	struct tcemu_table_geometry g;
	struct tcemu_table_params p = { .window_size = GiB, .page_shift = 12, .levels = 1 };

	CHECK_EQ(geo(GiB, 12, 0, 12, &g), -EINVAL);      /* levels 0 */
	CHECK_EQ(geo(GiB, 12, 6, 12, &g), -EINVAL);      /* levels above 5 */
	CHECK_EQ(geo(3 * MiB, 12, 1, 12, &g), -EINVAL);  /* not a power of two */
	CHECK_EQ(geo(0, 12, 1, 12, &g), -EINVAL);        /* empty */
	CHECK_EQ(geo(4096, 16, 1, 12, &g), -EINVAL);     /* smaller than one page */
	CHECK_EQ(geo(GiB, 11, 1, 12, &g), -EINVAL);      /* page shift below 12 */
	CHECK_EQ(geo(1ull << 50, 41, 1, 12, &g), -EINVAL); /* page shift above 40 */
	CHECK_EQ(geo(GiB, 12, 1, 13, &g), -EINVAL);      /* system page shift not 12 or 16 */
	/* (level_shift - 3) * levels + page_shift >= 55 */
	CHECK_EQ(geo(1ull << 56, 12, 1, 12, &g), -EINVAL); /* 44 + 12 = 56 */
	CHECK_EQ(geo(1ull << 54, 12, 1, 12, &g), 0);       /* 42 + 12 = 54 */
	CHECK_EQ(geo(1ull << 60, 12, 2, 12, &g), -EINVAL); /* 24 * 2 + 12 = 60 */
	CHECK_EQ(geo(1ull << 40, 16, 4, 16, &g), -EINVAL); /* 13 * 4 + 16 = 68 */
	CHECK_EQ(geo(1ull << 40, 16, 3, 16, &g), -EINVAL); /* 13 * 3 + 16 = 55 */
	CHECK_EQ(geo(1ull << 40, 16, 2, 16, &g), 0);       /* 13 * 2 + 16 = 42 */
	/* Levels are at least 2^12 bytes, so 5 levels give >= 9 * 5 + 12 = 57: never valid. */
	for (uint32_t ps = 12; ps <= 40; ps++)
		for (uint32_t ws = ps; ws < 64; ws++)
			for (uint32_t sys = 12; sys <= 16; sys += 4)
				CHECK_EQ(geo(1ull << ws, ps, 5, sys, &g), -EINVAL);

	p.bus_offset = 4096 + 512; /* not page aligned */
	CHECK_EQ(tcemu_table_geometry(&p, &g), -EINVAL);
	p.bus_offset = (1ull << 63) + (1ull << 62); /* wraps */
	p.window_size = 1ull << 63;
	CHECK_EQ(tcemu_table_geometry(&p, &g), -EINVAL);
	p.bus_offset = 0;
	p.window_size = GiB;
	p.flags = 0x80;
	CHECK_EQ(tcemu_table_geometry(&p, &g), -EINVAL);
	CHECK_EQ(tcemu_table_geometry(NULL, &g), -EINVAL);
}

TEST(xchg_semantics)
{
	struct tcemu_table *t = mk(GiB, 12, 2, TCEMU_TABLE_USERSPACE);
	struct tcemu_table_info info;
	uint64_t tce, ua, got, gua;

	CHECK(t);
	/* 0 -> valid: old is 0 */
	tce = 0x123456000ull | TCEMU_TCE_READ;
	ua = 0x7f0000001000ull;
	CHECK_EQ(tcemu_table_xchg(t, 42, &tce, &ua), 0);
	CHECK_U64(tce, 0);
	CHECK_U64(ua, 0);
	CHECK_EQ(tcemu_table_get(t, 42, &got, &gua), 0);
	CHECK_U64(got, 0x123456000ull | TCEMU_TCE_READ);
	CHECK_U64(gua, 0x7f0000001000ull);
	/* valid -> valid (a PAPR replace): the old entry and its user address come back */
	tce = 0x999000ull | TCEMU_TCE_READ | TCEMU_TCE_WRITE;
	ua = 0x7f0000002000ull;
	CHECK_EQ(tcemu_table_xchg(t, 42, &tce, &ua), 0);
	CHECK_U64(tce, 0x123456000ull | TCEMU_TCE_READ);
	CHECK_U64(ua, 0x7f0000001000ull);
	tcemu_table_info(t, &info);
	CHECK_EQ(info.valid_entries, 1);
	/* valid -> 0: an entry without permission bits is a clear, stored as 0 */
	tce = 0xabc000ull;
	ua = 0x5000;
	CHECK_EQ(tcemu_table_xchg(t, 42, &tce, &ua), 0);
	CHECK_U64(tce, 0x999000ull | 3);
	CHECK_U64(ua, 0x7f0000002000ull);
	CHECK_EQ(tcemu_table_get(t, 42, &got, &gua), 0);
	CHECK_U64(got, 0);
	CHECK_U64(gua, 0);
	tcemu_table_info(t, &info);
	CHECK_EQ(info.valid_entries, 0);
	/* address bits below the page must be zero; the index must be in the window */
	tce = 0x1800ull | 1; /* bit 11 set: not 4K aligned */
	CHECK_EQ(tcemu_table_xchg(t, 1, &tce, NULL), -EINVAL);
	CHECK_EQ(tcemu_table_get(t, 1, &got, NULL), 0);
	CHECK_U64(got, 0);
	tcemu_table_unref(t);
}

TEST(xchg_rejects_bad_entries)
{
	struct tcemu_table *t = mk(GiB, 16, 1, 0);
	uint64_t tce, got;

	CHECK(t);
	tce = 0x1000ull | TCEMU_TCE_READ; /* 4K aligned but not 64K aligned */
	CHECK_EQ(tcemu_table_xchg(t, 0, &tce, NULL), -EINVAL);
	CHECK_U64(tce, 0x1000ull | TCEMU_TCE_READ); /* untouched on error */
	CHECK_EQ(tcemu_table_get(t, 0, &got, NULL), 0);
	CHECK_U64(got, 0);
	tce = 0x10000ull | TCEMU_TCE_WRITE;
	CHECK_EQ(tcemu_table_xchg(t, GiB >> 16, &tce, NULL), -ERANGE);
	CHECK_EQ(tcemu_table_get(t, GiB >> 16, &got, NULL), -ERANGE);
	CHECK_EQ(tcemu_table_xchg(t, (GiB >> 16) - 1, &tce, NULL), 0);
	CHECK_EQ(tcemu_table_get(t, (GiB >> 16) - 1, &got, NULL), 0);
	CHECK_U64(got, 0x10000ull | TCEMU_TCE_WRITE);
	tcemu_table_unref(t);
}

/* The stored table is big-endian hardware format. */
TEST(entries_are_big_endian)
{
	struct tcemu_table *t = mk(MiB, 12, 1, 0);
	struct tcemu_table_info info;
	uint64_t tce = 0x0000000123456000ull | TCEMU_TCE_READ | TCEMU_TCE_WRITE;
	uint64_t hpa;

	CHECK(t);
	CHECK_EQ(tcemu_table_xchg(t, 7, &tce, NULL), 0);
	tcemu_table_info(t, &info);
	CHECK_EQ(info.levels_allocated, 1);
	/* translation reads it back through the big-endian store */
	CHECK_EQ(tcemu_table_translate(t, 7 * 4096 + 0x10, TCEMU_TCE_READ, &hpa, NULL), 0);
	CHECK_U64(hpa, 0x123456010ull);
	tcemu_table_unref(t);
}

struct collect {
	uint64_t n;
	uint64_t sum_index;
	uint64_t last_tce, last_ua;
};

static void collect_release(void *opaque, uint64_t index, uint64_t old_tce, uint64_t old_ua)
{
	struct collect *c = opaque;
	c->n++;
	c->sum_index += index;
	c->last_tce = old_tce;
	c->last_ua = old_ua;
}

TEST(set_and_clear_ranges)
{
	struct tcemu_table *t = mk(64 * MiB, 12, 2, TCEMU_TABLE_USERSPACE);
	uint64_t tces[1500], uas[1500], got, gua;
	struct collect c = { 0 };
	struct tcemu_table_info info;

	CHECK(t);
	for (unsigned i = 0; i < 1500; i++) {
		tces[i] = ((0x40000000ull + i * 4096ull)) | TCEMU_TCE_READ;
		uas[i] = 0x7f0000000000ull + i * 4096ull;
	}
	/* crosses chunk (512) and leaf boundaries: starts at 300 */
	CHECK_EQ(tcemu_table_set(t, 300, 1500, tces, uas, collect_release, &c), 0);
	CHECK_EQ(c.n, 0);
	tcemu_table_info(t, &info);
	CHECK_EQ(info.valid_entries, 1500);
	CHECK_EQ(tcemu_table_get(t, 300 + 1499, &got, &gua), 0);
	CHECK_U64(got, tces[1499]);
	CHECK_U64(gua, uas[1499]);
	/* replacing hands every old entry back */
	CHECK_EQ(tcemu_table_set_linear(t, 1000, 100, 0x80000000ull | 3, 0x10000000ull, collect_release, &c), 0);
	CHECK_EQ(c.n, 100);
	CHECK_EQ(tcemu_table_get(t, 1099, &got, &gua), 0);
	CHECK_U64(got, (0x80000000ull + 99 * 4096) | 3);
	CHECK_U64(gua, 0x10000000ull + 99 * 4096);
	CHECK_U64(c.last_tce, tces[1099 - 300]);
	CHECK_U64(c.last_ua, uas[1099 - 300]);
	/* a bad entry anywhere in the batch: nothing is written */
	tces[700] |= 0x800;
	c.n = 0;
	CHECK_EQ(tcemu_table_set(t, 0, 1500, tces, uas, collect_release, &c), -EINVAL);
	CHECK_EQ(c.n, 0);
	CHECK_EQ(tcemu_table_get(t, 0, &got, NULL), 0);
	CHECK_U64(got, 0);
	CHECK_EQ(tcemu_table_set(t, (64 * MiB >> 12) - 10, 11, tces, uas, NULL, NULL), -ERANGE);
	CHECK_EQ(tcemu_table_set_linear(t, 0, 2, 0x1000ull | 0x800 | 1, 0, NULL, NULL), -EINVAL);
	/* clear everything: exactly the valid entries come back, once each */
	c = (struct collect){ 0 };
	CHECK_EQ(tcemu_table_clear(t, 0, 64 * MiB >> 12, collect_release, &c), 1500);
	CHECK_EQ(c.n, 1500);
	tcemu_table_info(t, &info);
	CHECK_EQ(info.valid_entries, 0);
	CHECK_EQ(tcemu_table_clear(t, 0, 64 * MiB >> 12, collect_release, &c), 0);
	CHECK_EQ(tcemu_table_clear(t, 1, 64 * MiB >> 12, NULL, NULL), -ERANGE);
	tcemu_table_unref(t);
}

/*
 * An array whose entries are not all valid (an address without permission bits is a clear, as in
 * a TCE list): each such entry is written as 0 with user address 0, wherever it is in the batch and
 * however long the batch (the first pass over the array tells whether the plain copy may be used).
 */
TEST(set_arrays_with_entries_without_permission)
{
	static const unsigned lengths[] = { 1, 2, 3, 5, 8, 17, 512, 700 };
	uint64_t tces[700], uas[700], got, gua;
	struct tcemu_table_info info;

	for (unsigned l = 0; l < sizeof(lengths) / sizeof(lengths[0]); l++) {
		const unsigned n = lengths[l];

		for (unsigned hole = 0; hole < n; hole += (n > 20 ? 97 : 1)) {
			struct tcemu_table *t = mk(64 * MiB, 12, 1, TCEMU_TABLE_USERSPACE);

			CHECK(t);
			for (unsigned i = 0; i < n; i++) {
				tces[i] = (0x40000000ull + i * 4096ull) | (i == hole ? 0 : TCEMU_TCE_WRITE);
				uas[i] = 0x7f0000000000ull + i * 4096ull;
			}
			CHECK_EQ(tcemu_table_set(t, 100, n, tces, uas, NULL, NULL), 0);
			for (unsigned i = 0; i < n; i++) {
				CHECK_EQ(tcemu_table_get(t, 100 + i, &got, &gua), 0);
				CHECK_U64(got, i == hole ? 0 : tces[i]);
				CHECK_U64(gua, i == hole ? 0 : uas[i]);
			}
			tcemu_table_info(t, &info);
			CHECK_EQ(info.valid_entries, n - 1);
			tcemu_table_unref(t);
		}
	}
}

/* 2^40 bytes at 4 KiB pages: 2^28 entries. The largest valid level count at 4K system pages is 4. */
TEST(sparse_allocation)
{
	const uint64_t ws = 1ull << 40, entries = ws >> 12;
	struct tcemu_table *t = mk(ws, 12, 4, TCEMU_TABLE_USERSPACE);
	struct tcemu_table_info info;
	struct collect c = { 0 };
	uint64_t expect_sum = 0, top_bytes, leaf_bytes;

	CHECK(t);
	tcemu_table_info(t, &info);
	CHECK_EQ(info.levels_allocated, 1);  /* the top level only */
	CHECK_EQ(info.allocated_bytes, 4096 + 8); /* entries, one line mask */
	top_bytes = info.allocated_bytes;

	/* one map allocates exactly one path: 2 inner levels and one leaf */
	uint64_t tce = 0x40000000ull | 1, ua = 0x10000;
	CHECK_EQ(tcemu_table_xchg(t, 123456789, &tce, &ua), 0);
	tcemu_table_info(t, &info);
	CHECK_EQ(info.levels_allocated, 4);
	leaf_bytes = 4096 * 2 + 16; /* entries, user addresses, one chunk (lock, count, line mask) */
	CHECK_U64(info.allocated_bytes, top_bytes + 2 * (4096 + 8) + leaf_bytes);
	/* clearing where nothing is allocated allocates nothing */
	tce = 0;
	CHECK_EQ(tcemu_table_xchg(t, 5, &tce, NULL), 0);
	tcemu_table_info(t, &info);
	CHECK_EQ(info.levels_allocated, 4);

	/* 1000 scattered maps, then clear the whole window */
	srand(7);
	for (int i = 0; i < 1000; i++) {
		uint64_t idx = (((uint64_t)rand() << 31) ^ (uint64_t)rand()) % entries;
		uint64_t e = ((idx + 1) << 12) | TCEMU_TCE_READ;
		uint64_t u = idx << 12;
		CHECK_EQ(tcemu_table_xchg(t, idx, &e, &u), 0);
		if (e == 0)
			expect_sum += idx; /* a repeat of a random index replaces its own entry */
	}
	expect_sum += 123456789;
	tcemu_table_info(t, &info);
	uint64_t valid = info.valid_entries, levels = info.levels_allocated, bytes = info.allocated_bytes;
	CHECK(levels > 4 && levels < 4 + 3 * 1000);
	CHECK_EQ(tcemu_table_clear(t, 0, entries, collect_release, &c), (int64_t)valid);
	CHECK_EQ(c.n, valid);
	CHECK_U64(c.sum_index, expect_sum);
	tcemu_table_info(t, &info);
	CHECK_EQ(info.valid_entries, 0);
	CHECK_EQ(info.levels_allocated, levels); /* clearing allocates nothing (and frees no level) */
	CHECK_U64(info.allocated_bytes, bytes);
	tcemu_table_unref(t);
}

TEST(translate_and_permissions)
{
	struct tcemu_table_params p = {
		.bus_offset = 0x0800000000000000ull, .window_size = 1ull << 32, .page_shift = 16, .levels = 2,
	};
	struct tcemu_table *t = NULL;
	uint64_t hpa = 0, tce;
	unsigned perm = 9;

	CHECK_EQ(tcemu_table_create(&p, &t), 0);
	tce = 0x2000000000ull | TCEMU_TCE_READ; /* read-only: the device may read memory */
	CHECK_EQ(tcemu_table_xchg(t, 3, &tce, NULL), 0);
	tce = 0x3000000000ull | TCEMU_TCE_WRITE; /* write-only */
	CHECK_EQ(tcemu_table_xchg(t, 4, &tce, NULL), 0);
	tce = 0x4000000000ull | 3;
	CHECK_EQ(tcemu_table_xchg(t, 5, &tce, NULL), 0);

	uint64_t b = p.bus_offset;
	CHECK_EQ(tcemu_table_translate(t, b + 3 * 65536 + 0x1234, TCEMU_TCE_READ, &hpa, &perm), 0);
	CHECK_U64(hpa, 0x2000001234ull);
	CHECK_EQ(perm, TCEMU_TCE_READ);
	CHECK_EQ(tcemu_table_translate(t, b + 3 * 65536, TCEMU_TCE_WRITE, &hpa, &perm), -EACCES);
	CHECK_EQ(tcemu_table_translate(t, b + 4 * 65536 + 65535, TCEMU_TCE_WRITE, &hpa, NULL), 0);
	CHECK_U64(hpa, 0x300000ffffull);
	CHECK_EQ(tcemu_table_translate(t, b + 4 * 65536, TCEMU_TCE_READ, &hpa, &perm), -EACCES);
	CHECK_EQ(perm, TCEMU_TCE_WRITE);
	CHECK_EQ(tcemu_table_translate(t, b + 5 * 65536 + 8, TCEMU_TCE_READ | TCEMU_TCE_WRITE, &hpa, NULL), 0);
	CHECK_U64(hpa, 0x4000000008ull);
	/* an invalid entry, in an allocated leaf and below an absent level */
	CHECK_EQ(tcemu_table_translate(t, b + 6 * 65536, 0, &hpa, &perm), -EACCES);
	CHECK_EQ(perm, 0);
	CHECK_EQ(tcemu_table_translate(t, b + (1ull << 31), TCEMU_TCE_READ, &hpa, NULL), -EACCES);
	/* outside the window: below its start and past its end (a TCE extent error) */
	CHECK_EQ(tcemu_table_translate(t, b - 1, TCEMU_TCE_READ, &hpa, NULL), -ERANGE);
	CHECK_EQ(tcemu_table_translate(t, 0, TCEMU_TCE_READ, &hpa, NULL), -ERANGE);
	CHECK_EQ(tcemu_table_translate(t, b + (1ull << 32), TCEMU_TCE_READ, &hpa, NULL), -ERANGE);
	tcemu_table_unref(t);
}

/* A table without the user-address array reads user addresses as 0 and stores none. */
TEST(no_userspace_table)
{
	struct tcemu_table *t = mk(MiB, 12, 1, 0);
	struct tcemu_table_info info;
	uint64_t tce = 0x5000 | 1, ua = 0xdead000, got_ua = 1;

	CHECK(t);
	tcemu_table_info(t, &info);
	CHECK_EQ(info.allocated_bytes, 4096 + 16); /* entries, one chunk (lock, count, line mask) */
	CHECK_EQ(tcemu_table_xchg(t, 1, &tce, &ua), 0);
	CHECK_EQ(tcemu_table_get(t, 1, NULL, &got_ua), 0);
	CHECK_U64(got_ua, 0);
	tcemu_table_unref(t);
}

/*
 * A linear run of every length 1..21 at offsets around a chunk boundary (512 entries), in a table
 * with and one without user addresses: every entry of the run is exactly first + k pages, its
 * neighbours stay empty, and the count of valid entries follows.
 */
TEST(set_linear_every_length_and_offset)
{
	static const uint64_t starts[] = { 0, 1, 2, 3, 509, 510, 511, 1021 };

	for (int withua = 0; withua < 2; withua++) {
		struct tcemu_table *t = mk(16 * MiB, 12, 2, withua ? TCEMU_TABLE_USERSPACE : 0);
		struct tcemu_table_info info;

		CHECK(t);
		for (unsigned s = 0; s < sizeof(starts) / sizeof(starts[0]); s++) {
			for (uint64_t n = 1; n <= 21; n++) {
				const uint64_t at = starts[s] + 1, first = 0x40000000ull + n * MiB, ua0 = 0x7f0000000000ull + s * GiB;
				uint64_t got, gua;

				CHECK_EQ(tcemu_table_set_linear(t, at, n, first | TCEMU_TCE_READ, withua ? ua0 : 0, NULL, NULL), 0);
				tcemu_table_info(t, &info);
				CHECK_EQ(info.valid_entries, n);
				for (uint64_t k = 0; k < n; k++) {
					CHECK_EQ(tcemu_table_get(t, at + k, &got, withua ? &gua : NULL), 0);
					CHECK_U64(got, (first + k * 4096) | TCEMU_TCE_READ);
					if (withua)
						CHECK_U64(gua, ua0 + k * 4096);
				}
				CHECK_EQ(tcemu_table_get(t, at - 1, &got, NULL), 0);
				CHECK_U64(got, 0);
				CHECK_EQ(tcemu_table_get(t, at + n, &got, NULL), 0);
				CHECK_U64(got, 0);
				CHECK_EQ(tcemu_table_clear(t, 0, 4096, NULL, NULL), (int64_t)n);
			}
		}
		tcemu_table_unref(t);
	}
}

/* Counts the entries a clear hands back and checks each against the model (then forgets it). */
struct model {
	uint64_t tce[8 * 2048];
	unsigned released, wrong;
};

static uint64_t model_index(unsigned k)
{
	return (uint64_t)(k / 2048) * (1ull << 25) + (k % 2048) + ((k / 2048) % 3) * 1000; /* 8 spread groups */
}

static int model_slot(uint64_t index)
{
	for (unsigned g = 0; g < 8; g++) {
		uint64_t first = model_index(g * 2048);
		if (index >= first && index - first < 2048)
			return (int)(g * 2048 + (index - first));
	}
	return -1;
}

static void model_release(void *opaque, uint64_t index, uint64_t tce, uint64_t ua)
{
	struct model *m = opaque;
	int k = model_slot(index);

	(void)ua;
	m->released++;
	if (k < 0 || m->tce[k] != tce)
		m->wrong++;
	else
		m->tce[k] = 0;
}

/*
 * Clears skip empty lines, chunks and subtrees (line masks): random maps, single clears and range
 * clears of every alignment on a sparse 4-level table, against a model, end with a whole-window
 * clear that must find exactly what is left, and the table must read empty afterwards.
 */
TEST(clear_skips_only_empty_lines)
{
	struct tcemu_table *t = mk(1ull << 40, 12, 4, TCEMU_TABLE_USERSPACE);
	static struct model m;
	uint64_t seed = 99;

	CHECK(t);
	for (int op = 0; op < 20000; op++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		unsigned k = (unsigned)(seed >> 33) % (8 * 2048), kind = (unsigned)(seed >> 20) % 4;
		unsigned n = 1 + (unsigned)(seed >> 8) % 40;
		uint64_t idx = model_index(k);

		if (k % 2048 + n > 2048)
			n = 2048 - k % 2048;
		if (kind == 0 || kind == 1) {
			uint64_t first = ((uint64_t)op << 12) | TCEMU_TCE_READ;
			CHECK_EQ(tcemu_table_set_linear(t, idx, n, first, 0, model_release, &m), 0);
			for (unsigned i = 0; i < n; i++)
				m.tce[k + i] = first + ((uint64_t)i << 12);
		} else if (kind == 2) {
			uint64_t tce = 0;
			CHECK_EQ(tcemu_table_xchg(t, idx, &tce, NULL), 0);
			CHECK_U64(tce, m.tce[k]);
			m.tce[k] = 0;
		} else {
			unsigned before = m.released, expect = 0;
			for (unsigned i = 0; i < n; i++)
				expect += m.tce[k + i] != 0;
			CHECK_EQ(tcemu_table_clear(t, idx, n, model_release, &m), (int64_t)expect);
			CHECK_EQ(m.released - before, expect);
		}
	}
	unsigned left = 0;
	for (unsigned k = 0; k < 8 * 2048; k++)
		left += m.tce[k] != 0;
	m.released = 0;
	CHECK_EQ(tcemu_table_clear(t, 0, tcemu_table_entries(t), model_release, &m), (int64_t)left);
	CHECK_EQ(m.released, left);
	CHECK_EQ(m.wrong, 0);
	for (unsigned k = 0; k < 8 * 2048; k++) {
		uint64_t got = 1;
		CHECK_EQ(tcemu_table_get(t, model_index(k), &got, NULL), 0);
		CHECK_U64(got, 0);
	}
	CHECK_EQ(tcemu_table_clear(t, 0, tcemu_table_entries(t), NULL, NULL), 0);
	tcemu_table_unref(t);
}

TEST(references)
{
	struct tcemu_table *t = mk(MiB, 12, 1, 0);

	CHECK(t);
	CHECK(tcemu_table_ref(t) == t);
	tcemu_table_unref(t);
	uint64_t tce = 0x1000 | 1;
	CHECK_EQ(tcemu_table_xchg(t, 0, &tce, NULL), 0); /* still alive after one unref */
	tcemu_table_unref(t);
	tcemu_table_unref(NULL);
}

HARNESS_MAIN(T(geometry_formulas), T(geometry_einval), T(xchg_semantics), T(xchg_rejects_bad_entries),
	     T(entries_are_big_endian), T(set_and_clear_ranges), T(set_arrays_with_entries_without_permission), T(sparse_allocation), T(translate_and_permissions),
	     T(no_userspace_table), T(set_linear_every_length_and_offset), T(clear_skips_only_empty_lines),
	     T(references))
