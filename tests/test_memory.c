/* SPDX-License-Identifier: MIT */
/* Tests for the simulated host physical memory (src/memory.c). */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include <tcemu/memory.h>

#include "core/memory_priv.h"
#include "harness.h"

#define KiB (1ull << 10)
#define MiB (1ull << 20)
#define GiB (1ull << 30)
#define BASE 0x40000000ull

static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static uint64_t rng(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}


static struct tcemu_memory *mk(uint32_t shift, uint64_t base, uint64_t limit)
{
	struct tcemu_memory_params p = { .sys_page_shift = shift, .hpa_base = base, .hpa_limit = limit };
	struct tcemu_memory *m = NULL;
	if (tcemu_memory_create(&p, &m) != 0)
		return NULL;
	return m;
}

static int stats_eq(struct tcemu_memory *m, uint64_t pins, uint64_t bytes, uint64_t refs, uint64_t next)
{
	struct tcemu_memory_stats st;
	tcemu_memory_stats(m, &st);
	return st.pins == pins && st.pinned_bytes == bytes && st.references == refs && st.next_hpa == next;
}

TEST(create_validation)
{
	struct tcemu_memory *m = (struct tcemu_memory *)&rng_state; /* must stay untouched */
	struct tcemu_memory *const sentinel = m;
	struct tcemu_memory_params p = { .sys_page_shift = 12 };

	CHECK_EQ(tcemu_memory_create(NULL, &m), -EINVAL);
	CHECK_EQ(tcemu_memory_create(&p, NULL), -EINVAL);
	static const uint32_t bad_shifts[] = { 1, 11, 13, 14, 15, 17, 21, 24, 64 };
	for (size_t i = 0; i < sizeof(bad_shifts) / sizeof(bad_shifts[0]); i++) {
		p = (struct tcemu_memory_params){ .sys_page_shift = bad_shifts[i] };
		CHECK_EQ(tcemu_memory_create(&p, &m), -EINVAL);
	}
	/* base not page aligned */
	p = (struct tcemu_memory_params){ .sys_page_shift = 12, .hpa_base = BASE + 0x800 };
	CHECK_EQ(tcemu_memory_create(&p, &m), -EINVAL);
	p = (struct tcemu_memory_params){ .sys_page_shift = 16, .hpa_base = BASE + 0x1000 };
	CHECK_EQ(tcemu_memory_create(&p, &m), -EINVAL);
	/* limit <= base, explicit or against the 1 GiB default base */
	p = (struct tcemu_memory_params){ .sys_page_shift = 12, .hpa_base = 2 * GiB, .hpa_limit = 2 * GiB };
	CHECK_EQ(tcemu_memory_create(&p, &m), -EINVAL);
	p = (struct tcemu_memory_params){ .sys_page_shift = 12, .hpa_base = 2 * GiB, .hpa_limit = GiB };
	CHECK_EQ(tcemu_memory_create(&p, &m), -EINVAL);
	p = (struct tcemu_memory_params){ .sys_page_shift = 12, .hpa_limit = GiB };
	CHECK_EQ(tcemu_memory_create(&p, &m), -EINVAL);
	p = (struct tcemu_memory_params){ .sys_page_shift = 12, .hpa_limit = 512 * MiB };
	CHECK_EQ(tcemu_memory_create(&p, &m), -EINVAL);
	/* base above the default limit */
	p = (struct tcemu_memory_params){ .sys_page_shift = 12, .hpa_base = 1ull << 51 };
	CHECK_EQ(tcemu_memory_create(&p, &m), -EINVAL);
	CHECK(m == sentinel);

	/* defaults */
	p = (struct tcemu_memory_params){ 0 };
	long ps = sysconf(_SC_PAGESIZE);
	if (ps == 4096 || ps == 65536) {
		CHECK_EQ(tcemu_memory_create(&p, &m), 0);
		CHECK_U64(1ull << tcemu_memory_page_shift(m), (uint64_t)ps);
		CHECK(stats_eq(m, 0, 0, 0, BASE));
		tcemu_memory_destroy(m);
	}
	/* explicit base/limit, unaligned limit is fine */
	p = (struct tcemu_memory_params){ .sys_page_shift = 12, .hpa_base = 0x1000, .hpa_limit = 0x1801 };
	CHECK_EQ(tcemu_memory_create(&p, &m), 0);
	CHECK_EQ(tcemu_memory_page_shift(m), 12);
	CHECK(stats_eq(m, 0, 0, 0, 0x1000));
	tcemu_memory_destroy(m);
	tcemu_memory_destroy(NULL);
}

TEST(pin_validation)
{
	struct tcemu_memory *m = mk(12, 0, 0);
	CHECK(m);
	uint64_t hpa = 0x1234;

	CHECK_EQ(tcemu_memory_pin(NULL, 0x10000, 0x1000, 0, &hpa), -EINVAL);
	CHECK_EQ(tcemu_memory_pin(m, 0x10000, 0x1000, 0, NULL), -EINVAL);
	CHECK_EQ(tcemu_memory_pin(m, 0x10000, 0, 0, &hpa), -EINVAL);         /* size 0 */
	CHECK_EQ(tcemu_memory_pin(m, 0x10800, 0x1000, 0, &hpa), -EINVAL);    /* ua unaligned */
	CHECK_EQ(tcemu_memory_pin(m, 0x10001, 0x1000, 0, &hpa), -EINVAL);
	CHECK_EQ(tcemu_memory_pin(m, 0x10000, 0x800, 0, &hpa), -EINVAL);     /* size unaligned */
	CHECK_EQ(tcemu_memory_pin(m, 0x10000, 0x1001, 0, &hpa), -EINVAL);
	CHECK_EQ(tcemu_memory_pin(m, UINT64_MAX - 0xfff, 0x2000, 0, &hpa), -EINVAL); /* wraps */
	CHECK_EQ(tcemu_memory_pin(m, 0x2000, UINT64_MAX - 0xfff, 0, &hpa), -EINVAL); /* wraps */
	CHECK_EQ(tcemu_memory_pin(m, 0x10000, 0x1000, 11, &hpa), -EINVAL);  /* below page shift */
	CHECK_EQ(tcemu_memory_pin(m, 0x10000, 0x1000, 1, &hpa), -EINVAL);
	CHECK_EQ(tcemu_memory_pin(m, 0, 0x1000, 41, &hpa), -EINVAL);        /* above 40 */
	CHECK_EQ(tcemu_memory_pin(m, 0, 0x1000, 64, &hpa), -EINVAL);
	CHECK_EQ(tcemu_memory_pin(m, 0x1000, 0x1000, 16, &hpa), -EINVAL);   /* ua not aligned to 64K */
	CHECK_EQ(tcemu_memory_pin(m, 0x10000, 0x1000, 21, &hpa), -EINVAL);  /* ua not aligned to 2M */
	CHECK_EQ(tcemu_memory_pin(m, 1ull << 39, 0x1000, 40, &hpa), -EINVAL);
	CHECK_U64(hpa, 0x1234);
	CHECK(stats_eq(m, 0, 0, 0, BASE));

	/* boundary cases that are valid */
	CHECK_EQ(tcemu_memory_pin(m, UINT64_MAX - 0xfff, 0x1000, 0, &hpa), 0); /* ends at 2^64 */
	CHECK_U64(hpa, BASE);
	CHECK_EQ(tcemu_memory_pin(m, 0, 0x1000, 40, &hpa), 0);
	CHECK_U64(hpa, 1ull << 40);
	CHECK_EQ(tcemu_memory_pin(m, 1ull << 40, 0x1000, 40, &hpa), 0);
	CHECK_U64(hpa, 2ull << 40);

	/* other entry points */
	uint64_t ua;
	CHECK_EQ(tcemu_memory_unpin(NULL, BASE), -EINVAL);
	CHECK_EQ(tcemu_memory_hpa_to_ua(NULL, BASE, &ua, NULL), -EINVAL);
	CHECK_EQ(tcemu_memory_hpa_to_ua(m, BASE, NULL, NULL), -EINVAL);
	struct tcemu_memory_stats st = { .pins = 7 };
	tcemu_memory_stats(NULL, &st);
	CHECK_U64(st.pins, 0);
	tcemu_memory_stats(m, NULL);
	CHECK_EQ(tcemu_memory_page_shift(NULL), 0);
	tcemu_memory_destroy(m); /* drops the pins still held */
}

TEST(alignment)
{
	static const uint32_t shifts[] = { 12, 16, 21, 24, 30 };
	struct tcemu_memory *m = mk(12, 0x1000, 0);
	CHECK(m);
	uint64_t ua = 1ull << 40, hpa;
	for (size_t i = 0; i < sizeof(shifts) / sizeof(shifts[0]); i++) {
		uint64_t a = 1ull << shifts[i];
		/* make the bump pointer unaligned first */
		CHECK_EQ(tcemu_memory_pin(m, 0x1000 * (i + 1), 0x1000, 12, &hpa), 0);
		struct tcemu_memory_stats st;
		tcemu_memory_stats(m, &st);
		CHECK_U64(st.next_hpa & 0xfff, 0);
		CHECK(shifts[i] == 12 || (st.next_hpa & (a - 1)) != 0); /* the alignment has work to do */
		uint64_t expect = (st.next_hpa + a - 1) & ~(a - 1);
		CHECK_EQ(tcemu_memory_pin(m, ua, 3 * 0x1000, shifts[i], &hpa), 0);
		CHECK_U64(hpa, expect);
		CHECK_U64(hpa & (a - 1), 0);
		tcemu_memory_stats(m, &st);
		CHECK_U64(st.next_hpa, hpa + 3 * 0x1000); /* the next run starts right after, unaligned */
		uint64_t back;
		CHECK_EQ(tcemu_memory_hpa_to_ua(m, hpa + 0x1234, &back, NULL), 0);
		CHECK_U64(back, ua + 0x1234);
		ua += 1ull << 30;
	}
	/* align_shift 0 means the page shift */
	CHECK_EQ(tcemu_memory_pin(m, 0x100000, 0x1000, 0, &hpa), 0);
	CHECK_U64(hpa & 0xfff, 0);
	tcemu_memory_destroy(m);
}

TEST(contiguity_round_trip)
{
	struct tcemu_memory *m = mk(12, 0, 0);
	CHECK(m);
	const uint64_t ua0 = 0x7f0000000000ull, size = 16 * 0x1000;
	uint64_t hpa, ua, avail;
	CHECK_EQ(tcemu_memory_pin(m, ua0, size, 0, &hpa), 0);
	CHECK_U64(hpa, BASE);
	for (uint64_t k = 0; k < size; k += 0x1000 - 3) {
		CHECK_EQ(tcemu_memory_hpa_to_ua(m, hpa + k, &ua, &avail), 0);
		CHECK_U64(ua, ua0 + k);
		CHECK_U64(avail, size - k);
	}
	/* last byte of the run, and one past it */
	CHECK_EQ(tcemu_memory_hpa_to_ua(m, hpa + size - 1, &ua, &avail), 0);
	CHECK_U64(ua, ua0 + size - 1);
	CHECK_U64(avail, 1);
	CHECK_EQ(tcemu_memory_hpa_to_ua(m, hpa + size, &ua, &avail), -ENOENT);
	CHECK_EQ(tcemu_memory_hpa_to_ua(m, hpa - 1, &ua, &avail), -ENOENT);
	CHECK_EQ(tcemu_memory_hpa_to_ua(m, 0, &ua, NULL), -ENOENT);
	CHECK_EQ(tcemu_memory_hpa_to_ua(m, UINT64_MAX, &ua, NULL), -ENOENT);
	/* avail may be NULL */
	CHECK_EQ(tcemu_memory_hpa_to_ua(m, hpa + 5, &ua, NULL), 0);
	CHECK_U64(ua, ua0 + 5);

	/* a second, adjacent run; the boundary byte belongs to it */
	uint64_t hpa2;
	CHECK_EQ(tcemu_memory_pin(m, 0x10000, 0x2000, 0, &hpa2), 0);
	CHECK_U64(hpa2, hpa + size);
	CHECK_EQ(tcemu_memory_hpa_to_ua(m, hpa + size, &ua, &avail), 0);
	CHECK_U64(ua, 0x10000);
	CHECK_U64(avail, 0x2000);
	CHECK_EQ(tcemu_memory_hpa_to_ua(m, hpa2 + 0x2000, &ua, &avail), -ENOENT);
	tcemu_memory_destroy(m);
}

TEST(repin_references)
{
	struct tcemu_memory *m = mk(12, 0, 0);
	CHECK(m);
	uint64_t a, b, c, d, ua;
	CHECK_EQ(tcemu_memory_pin(m, 0x200000, 0x4000, 0, &a), 0);
	CHECK_EQ(tcemu_memory_pin(m, 0x200000, 0x4000, 0, &b), 0);
	CHECK_U64(a, b);
	CHECK_EQ(tcemu_memory_pin(m, 0x200000, 0x4000, 12, &b), 0);
	CHECK_U64(a, b);
	CHECK(stats_eq(m, 1, 0x4000, 3, BASE + 0x4000));

	/* same start, other size; overlapping: different frames */
	CHECK_EQ(tcemu_memory_pin(m, 0x200000, 0x2000, 0, &c), 0);
	CHECK(c != a);
	CHECK_EQ(tcemu_memory_pin(m, 0x201000, 0x4000, 0, &d), 0);
	CHECK(d != a && d != c);
	CHECK(stats_eq(m, 3, 0xa000, 5, BASE + 0xa000));

	/* references drop one at a time */
	CHECK_EQ(tcemu_memory_unpin(m, a), 0);
	CHECK_EQ(tcemu_memory_unpin(m, a), 0);
	CHECK_EQ(tcemu_memory_hpa_to_ua(m, a, &ua, NULL), 0);
	CHECK(stats_eq(m, 3, 0xa000, 3, BASE + 0xa000));
	CHECK_EQ(tcemu_memory_unpin(m, a), 0);
	CHECK_EQ(tcemu_memory_hpa_to_ua(m, a, &ua, NULL), -ENOENT);
	CHECK_EQ(tcemu_memory_unpin(m, a), -ENOENT);
	CHECK(stats_eq(m, 2, 0x6000, 2, BASE + 0xa000));
	/* the others are untouched */
	CHECK_EQ(tcemu_memory_hpa_to_ua(m, c, &ua, NULL), 0);
	CHECK_U64(ua, 0x200000);
	CHECK_EQ(tcemu_memory_hpa_to_ua(m, d, &ua, NULL), 0);
	CHECK_U64(ua, 0x201000);
	tcemu_memory_destroy(m);
}

TEST(repin_other_alignment)
{
	struct tcemu_memory *m = mk(12, 0, 0);
	CHECK(m);
	uint64_t filler, a, b, c, e, ua;
	/* BASE is 1 GiB aligned; push the bump pointer off 2 MiB alignment */
	CHECK_EQ(tcemu_memory_pin(m, 0x1000, 0x1000, 0, &filler), 0);
	CHECK_EQ(tcemu_memory_pin(m, GiB, 2 * MiB, 12, &a), 0);
	CHECK_U64(a, BASE + 0x1000);
	/* a is not 2 MiB aligned: a 2 MiB re-pin of the same range needs a new run */
	CHECK_EQ(tcemu_memory_pin(m, GiB, 2 * MiB, 21, &b), 0);
	CHECK(b != a);
	CHECK_U64(b & (2 * MiB - 1), 0);
	CHECK(stats_eq(m, 3, 0x1000 + 4 * MiB, 3, b + 2 * MiB));
	/* both runs translate back to the same range */
	CHECK_EQ(tcemu_memory_hpa_to_ua(m, a + 0x10, &ua, NULL), 0);
	CHECK_U64(ua, GiB + 0x10);
	CHECK_EQ(tcemu_memory_hpa_to_ua(m, b + 0x10, &ua, NULL), 0);
	CHECK_U64(ua, GiB + 0x10);
	/* a 4K re-pin reuses the oldest run that fits; a 2M or 64K one the aligned run */
	CHECK_EQ(tcemu_memory_pin(m, GiB, 2 * MiB, 12, &c), 0);
	CHECK_U64(c, a);
	CHECK_EQ(tcemu_memory_pin(m, GiB, 2 * MiB, 21, &c), 0);
	CHECK_U64(c, b);
	CHECK_EQ(tcemu_memory_pin(m, GiB, 2 * MiB, 16, &c), 0);
	CHECK_U64(c, b);
	CHECK(stats_eq(m, 3, 0x1000 + 4 * MiB, 6, b + 2 * MiB));
	/* a run aligned to more than asked for is reused */
	CHECK_EQ(tcemu_memory_unpin(m, a), 0);
	CHECK_EQ(tcemu_memory_unpin(m, a + 5), 0);
	CHECK_EQ(tcemu_memory_hpa_to_ua(m, a, &ua, NULL), -ENOENT);
	CHECK_EQ(tcemu_memory_pin(m, GiB, 2 * MiB, 12, &c), 0);
	CHECK_U64(c, b);
	/* b = BASE + 4 MiB is 4 MiB aligned too, but not 1 GiB aligned */
	CHECK_U64(b, BASE + 4 * MiB);
	CHECK_EQ(tcemu_memory_pin(m, GiB, 2 * MiB, 22, &e), 0);
	CHECK_U64(e, b);
	CHECK_EQ(tcemu_memory_pin(m, GiB, 2 * MiB, 30, &e), 0);
	CHECK_U64(e, BASE + GiB);
	CHECK(stats_eq(m, 3, 0x1000 + 4 * MiB, 7, BASE + GiB + 2 * MiB));
	/* unpinning the 1 GiB run leaves b with its references */
	CHECK_EQ(tcemu_memory_unpin(m, e), 0);
	CHECK_EQ(tcemu_memory_pin(m, GiB, 2 * MiB, 21, &c), 0);
	CHECK_U64(c, b);
	CHECK(stats_eq(m, 2, 0x1000 + 2 * MiB, 7, BASE + GiB + 2 * MiB));
	tcemu_memory_destroy(m);
}

TEST(unpin_interior_and_unknown)
{
	struct tcemu_memory *m = mk(12, 0, 0);
	CHECK(m);
	uint64_t a, b, ua;
	CHECK_EQ(tcemu_memory_pin(m, 0x100000, 0x10000, 0, &a), 0);
	CHECK_EQ(tcemu_memory_pin(m, 0x400000, 0x1000, 21, &b), 0); /* leaves a gap before b */
	CHECK(b > a + 0x10000);
	CHECK_EQ(tcemu_memory_unpin(m, a + 0x10000), -ENOENT); /* in the gap */
	CHECK_EQ(tcemu_memory_unpin(m, b - 1), -ENOENT);
	CHECK_EQ(tcemu_memory_unpin(m, b + 0x1000), -ENOENT);  /* past the end */
	CHECK_EQ(tcemu_memory_unpin(m, a - 1), -ENOENT);       /* below the base */
	CHECK_EQ(tcemu_memory_unpin(m, 0), -ENOENT);
	CHECK_EQ(tcemu_memory_unpin(m, UINT64_MAX), -ENOENT);
	CHECK(stats_eq(m, 2, 0x11000, 2, b + 0x1000));

	CHECK_EQ(tcemu_memory_unpin(m, a + 0xfffF), 0); /* the last byte */
	CHECK_EQ(tcemu_memory_hpa_to_ua(m, a, &ua, NULL), -ENOENT);
	CHECK_EQ(tcemu_memory_unpin(m, a), -ENOENT);
	CHECK_EQ(tcemu_memory_unpin(m, b + 0x7ff), 0);
	CHECK_EQ(tcemu_memory_unpin(m, b), -ENOENT);
	CHECK(stats_eq(m, 0, 0, 0, b + 0x1000));
	tcemu_memory_destroy(m);
}

TEST(frames_never_reused)
{
	struct tcemu_memory *m = mk(12, 0, 0);
	CHECK(m);
	uint64_t prev_end = BASE, hpa, ua;
	for (int i = 0; i < 100; i++) {
		CHECK_EQ(tcemu_memory_pin(m, 0x100000, 0x3000, 0, &hpa), 0);
		CHECK(hpa >= prev_end);
		CHECK_EQ(tcemu_memory_unpin(m, hpa), 0);
		CHECK_EQ(tcemu_memory_hpa_to_ua(m, hpa, &ua, NULL), -ENOENT);
		prev_end = hpa + 0x3000;
		CHECK(stats_eq(m, 0, 0, 0, prev_end));
	}
	/* the stale address stays dead even after more pins */
	uint64_t stale = hpa;
	CHECK_EQ(tcemu_memory_pin(m, 0x100000, 0x3000, 0, &hpa), 0);
	CHECK(hpa != stale);
	CHECK_EQ(tcemu_memory_hpa_to_ua(m, stale, &ua, NULL), -ENOENT);
	tcemu_memory_destroy(m);
}

TEST(enospc)
{
	struct tcemu_memory *m = mk(12, BASE, BASE + 0x10000);
	CHECK(m);
	uint64_t a, b, hpa = 0x1234;
	CHECK_EQ(tcemu_memory_pin(m, 0x100000, 0x11000, 0, &hpa), -ENOSPC); /* bigger than everything */
	CHECK_EQ(tcemu_memory_pin(m, 0x100000, 0x8000, 0, &a), 0);
	CHECK_EQ(tcemu_memory_pin(m, 0x200000, 0x9000, 0, &hpa), -ENOSPC);
	CHECK_EQ(tcemu_memory_pin(m, 0x200000, 0x1000, 16, &hpa), -ENOSPC); /* fits only unaligned */
	CHECK_U64(hpa, 0x1234);
	CHECK(stats_eq(m, 1, 0x8000, 1, BASE + 0x8000));
	/* a re-pin needs no space */
	CHECK_EQ(tcemu_memory_pin(m, 0x100000, 0x8000, 0, &hpa), 0);
	CHECK_U64(hpa, a);
	/* exactly filling up works */
	CHECK_EQ(tcemu_memory_pin(m, 0x200000, 0x8000, 0, &b), 0);
	CHECK_U64(b, BASE + 0x8000);
	CHECK_EQ(tcemu_memory_pin(m, 0x300000, 0x1000, 0, &hpa), -ENOSPC);
	/* unpinning does not give space back (frames are never reused) */
	CHECK_EQ(tcemu_memory_unpin(m, b), 0);
	CHECK_EQ(tcemu_memory_pin(m, 0x200000, 0x8000, 0, &hpa), -ENOSPC);
	CHECK(stats_eq(m, 1, 0x8000, 2, BASE + 0x10000));

	/* alignment that would overflow 64 bits */
	tcemu_memory_destroy(m);
	m = mk(12, UINT64_MAX - 0xffffffull, UINT64_MAX);
	CHECK(m);
	CHECK_EQ(tcemu_memory_pin(m, 1ull << 30, 0x1000, 30, &hpa), -ENOSPC);
	CHECK_EQ(tcemu_memory_pin(m, 1ull << 30, 0x1000, 0, &hpa), 0);
	CHECK_U64(hpa, UINT64_MAX - 0xffffffull);
	CHECK_EQ(tcemu_memory_hpa_to_ua(m, hpa + 0xfff, &a, &b), 0);
	CHECK_U64(a, (1ull << 30) + 0xfff);
	CHECK_U64(b, 1);
	tcemu_memory_destroy(m);
}

TEST(stats)
{
	struct tcemu_memory *m = mk(12, 0, 0);
	CHECK(m);
	struct tcemu_memory_stats st;
	tcemu_memory_stats(m, &st);
	CHECK_U64(st.pins, 0);
	CHECK_U64(st.pinned_bytes, 0);
	CHECK_U64(st.references, 0);
	CHECK_U64(st.next_hpa, BASE);
	uint64_t a, b;
	CHECK_EQ(tcemu_memory_pin(m, 0x1000, 0x1000, 0, &a), 0);
	CHECK_EQ(tcemu_memory_pin(m, 0x1000, 0x1000, 0, &a), 0);
	CHECK_EQ(tcemu_memory_pin(m, 0x1000000, 0x5000, 24, &b), 0);
	tcemu_memory_stats(m, &st);
	CHECK_U64(st.pins, 2);
	CHECK_U64(st.pinned_bytes, 0x6000);
	CHECK_U64(st.references, 3);
	CHECK_U64(st.next_hpa, BASE + 0x1000000 + 0x5000);
	CHECK_EQ(tcemu_memory_unpin(m, b), 0);
	CHECK_EQ(tcemu_memory_unpin(m, a), 0);
	tcemu_memory_stats(m, &st);
	CHECK_U64(st.pins, 1);
	CHECK_U64(st.pinned_bytes, 0x1000);
	CHECK_U64(st.references, 1);
	CHECK_U64(st.next_hpa, BASE + 0x1000000 + 0x5000);
	tcemu_memory_destroy(m);
}

TEST(page_64k)
{
	struct tcemu_memory *m = mk(16, 0, 0);
	CHECK(m);
	CHECK_EQ(tcemu_memory_page_shift(m), 16);
	uint64_t hpa, ua, avail;
	CHECK_EQ(tcemu_memory_pin(m, 0x11000, 0x10000, 0, &hpa), -EINVAL); /* 4K aligned only */
	CHECK_EQ(tcemu_memory_pin(m, 0x10000, 0x1000, 0, &hpa), -EINVAL);
	CHECK_EQ(tcemu_memory_pin(m, 0x10000, 0x11000, 0, &hpa), -EINVAL);
	CHECK_EQ(tcemu_memory_pin(m, 0x10000, 0x10000, 12, &hpa), -EINVAL); /* below page shift */
	CHECK_EQ(tcemu_memory_pin(m, 0x10000, 0x10000, 15, &hpa), -EINVAL);
	CHECK(stats_eq(m, 0, 0, 0, BASE));
	CHECK_EQ(tcemu_memory_pin(m, 0x10000, 0x30000, 0, &hpa), 0);
	CHECK_U64(hpa, BASE);
	CHECK_EQ(tcemu_memory_hpa_to_ua(m, hpa + 0x2ffff, &ua, &avail), 0);
	CHECK_U64(ua, 0x3ffff);
	CHECK_U64(avail, 1);
	CHECK_EQ(tcemu_memory_pin(m, 0x1000000, 0x10000, 24, &hpa), 0);
	CHECK_U64(hpa, BASE + 0x1000000);
	CHECK_EQ(tcemu_memory_pin(m, 0x100000, 0x10000, 0, &hpa), 0);
	CHECK_U64(hpa, BASE + 0x1010000);
	tcemu_memory_destroy(m);

	/* base must be 64K aligned in this mode */
	struct tcemu_memory_params p = { .sys_page_shift = 16, .hpa_base = 0x41000 };
	CHECK_EQ(tcemu_memory_create(&p, &m), -EINVAL);
	p.hpa_base = 0x40000;
	CHECK_EQ(tcemu_memory_create(&p, &m), 0);
	tcemu_memory_destroy(m);
}

/* Random pins and unpins checked against a plain model: exercises hash deletion and compaction. */
#define CHURN_SLOTS 512
TEST(churn_against_model)
{
	struct tcemu_memory *m = mk(12, 0, 0);
	CHECK(m);
	struct {
		uint64_t ua, size, hpa, refs;
	} model[CHURN_SLOTS] = { { 0 } };
	/* few distinct ua and size values, so keys share ua or size and collide often */
	for (int step = 0; step < 200000; step++) {
		size_t i = (size_t)(rng() % CHURN_SLOTS);
		uint64_t ua = (uint64_t)(i % 64) << 24;
		uint64_t size = ((uint64_t)(i / 64) + 1) << 12;
		uint64_t hpa, got_ua, avail;
		if (model[i].refs && rng() % 2) {
			uint64_t off = rng() % model[i].size;
			CHECK_EQ(tcemu_memory_unpin(m, model[i].hpa + off), 0);
			model[i].refs--;
			if (!model[i].refs)
				CHECK_EQ(tcemu_memory_hpa_to_ua(m, model[i].hpa + off, &got_ua, NULL), -ENOENT);
		} else {
			CHECK_EQ(tcemu_memory_pin(m, ua, size, 0, &hpa), 0);
			if (model[i].refs)
				CHECK_U64(hpa, model[i].hpa); /* the live run, not a dead one of the same key */
			else if (model[i].size)
				CHECK(hpa >= model[i].hpa + model[i].size); /* a new frame: never handed out before */
			model[i] = (typeof(model[i])){ ua, size, hpa, model[i].refs + 1 };
		}
		if (step % 997 == 0) {
			uint64_t pins = 0, bytes = 0, refs = 0;
			for (size_t j = 0; j < CHURN_SLOTS; j++) {
				if (!model[j].refs)
					continue;
				pins++;
				bytes += model[j].size;
				refs += model[j].refs;
				uint64_t off = rng() % model[j].size;
				CHECK_EQ(tcemu_memory_hpa_to_ua(m, model[j].hpa + off, &got_ua, &avail), 0);
				CHECK_U64(got_ua, model[j].ua + off);
				CHECK_U64(avail, model[j].size - off);
			}
			struct tcemu_memory_stats st;
			tcemu_memory_stats(m, &st);
			CHECK_U64(st.pins, pins);
			CHECK_U64(st.pinned_bytes, bytes);
			CHECK_U64(st.references, refs);
		}
	}
	tcemu_memory_destroy(m);
}

#define SCALE_N 200000
TEST(scale_200k)
{
	struct tcemu_memory *m = mk(12, 0, 0);
	CHECK(m);
	uint64_t *hpa = malloc(SCALE_N * sizeof(*hpa));
	uint32_t *order = malloc(SCALE_N * sizeof(*order));
	CHECK(hpa && order);

	for (uint32_t i = 0; i < SCALE_N; i++) {
		uint64_t ua = (uint64_t)i << 16; /* distinct ranges */
		uint64_t size = (uint64_t)(1 + i % 4) << 12;
		if (tcemu_memory_pin(m, ua, size, 0, &hpa[i]) != 0)
			break;
		order[i] = i;
	}
	struct tcemu_memory_stats st;
	tcemu_memory_stats(m, &st);
	CHECK_U64(st.pins, SCALE_N);
	CHECK_U64(st.references, SCALE_N);

	/* every re-pin finds its run; every run maps back */
	for (uint32_t i = 0; i < SCALE_N; i += 7) {
		uint64_t again, ua;
		CHECK_EQ(tcemu_memory_pin(m, (uint64_t)i << 16, (uint64_t)(1 + i % 4) << 12, 0, &again), 0);
		CHECK_U64(again, hpa[i]);
		CHECK_EQ(tcemu_memory_unpin(m, again), 0);
		CHECK_EQ(tcemu_memory_hpa_to_ua(m, hpa[i] + 0x123, &ua, NULL), 0);
		CHECK_U64(ua, ((uint64_t)i << 16) + 0x123);
	}

	for (uint32_t i = SCALE_N - 1; i > 0; i--) {
		uint32_t j = (uint32_t)(rng() % (i + 1));
		uint32_t t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	for (uint32_t k = 0; k < SCALE_N; k++) {
		uint32_t i = order[k];
		CHECK_EQ(tcemu_memory_unpin(m, hpa[i] + 0xfff), 0);
		if (k % 101 == 0) {
			uint64_t ua;
			CHECK_EQ(tcemu_memory_hpa_to_ua(m, hpa[i], &ua, NULL), -ENOENT);
			if (k + 1 < SCALE_N) {
				uint32_t live = order[k + 1];
				CHECK_EQ(tcemu_memory_hpa_to_ua(m, hpa[live], &ua, NULL), 0);
				CHECK_U64(ua, (uint64_t)live << 16);
			}
		}
	}
	tcemu_memory_stats(m, &st);
	CHECK(stats_eq(m, 0, 0, 0, st.next_hpa));
	CHECK(st.next_hpa > BASE + (uint64_t)SCALE_N * 0x1000);
	free(hpa);
	free(order);
	tcemu_memory_destroy(m);
	/* Its speed is measured in bench/, not asserted here. */
}

/* 4 threads pin/unpin their own ranges and translate addresses published by the others. */
#define NTHREADS 4
#define THREAD_SLOTS 64
#define THREAD_ITERS 20000

struct thread_ctx {
	struct tcemu_memory *m;
	unsigned id;
	_Atomic uint64_t published[THREAD_SLOTS]; /* hpa of a pinned slot, or 0 */
	int errors;
};

static struct thread_ctx thread_ctx[NTHREADS];

static uint64_t thread_ua(unsigned id, unsigned slot)
{
	return ((uint64_t)(id + 1) << 36) | ((uint64_t)slot << 20);
}

static void *thread_main(void *arg)
{
	struct thread_ctx *c = arg;
	uint64_t seed = 0x9e3779b97f4a7c15ull * (c->id + 1);
	uint64_t mine[THREAD_SLOTS] = { 0 };
	for (int it = 0; it < THREAD_ITERS; it++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		unsigned slot = (unsigned)(seed >> 33) % THREAD_SLOTS;
		uint64_t size = (uint64_t)(1 + slot % 8) << 12;
		if (mine[slot]) {
			atomic_store(&c->published[slot], 0);
			if (tcemu_memory_unpin(c->m, mine[slot] + size - 1) != 0)
				c->errors++;
			mine[slot] = 0;
		} else {
			uint64_t hpa;
			if (tcemu_memory_pin(c->m, thread_ua(c->id, slot), size, 0, &hpa) != 0) {
				c->errors++;
				continue;
			}
			mine[slot] = hpa;
			atomic_store(&c->published[slot], hpa);
		}
		/* look up another thread's address: either still pinned (and maps into its range), or gone */
		unsigned other = (c->id + 1 + (unsigned)(seed >> 20) % (NTHREADS - 1)) % NTHREADS;
		unsigned oslot = (unsigned)(seed >> 40) % THREAD_SLOTS;
		uint64_t h = atomic_load(&thread_ctx[other].published[oslot]);
		if (h) {
			uint64_t ua, avail;
			int rc = tcemu_memory_hpa_to_ua(c->m, h + 0x10, &ua, &avail);
			if (rc == 0 && ua != thread_ua(other, oslot) + 0x10)
				c->errors++;
			else if (rc != 0 && rc != -ENOENT)
				c->errors++;
		}
		if (it % 256 == 0) {
			struct tcemu_memory_stats st;
			tcemu_memory_stats(c->m, &st);
			if (st.pins > NTHREADS * THREAD_SLOTS)
				c->errors++;
		}
	}
	for (unsigned s = 0; s < THREAD_SLOTS; s++)
		if (mine[s] && tcemu_memory_unpin(c->m, mine[s]) != 0)
			c->errors++;
	return NULL;
}

TEST(threads)
{
	struct tcemu_memory *m = mk(12, 0, 0);
	CHECK(m);
	struct harness_threads th = { 0 };
	for (unsigned i = 0; i < NTHREADS; i++) {
		thread_ctx[i].m = m;
		thread_ctx[i].id = i;
		thread_ctx[i].errors = 0;
		for (unsigned s = 0; s < THREAD_SLOTS; s++)
			atomic_init(&thread_ctx[i].published[s], 0);
	}
	for (unsigned i = 0; i < NTHREADS; i++)
		harness_thread_start(&th, thread_main, &thread_ctx[i]);
	harness_threads_join(&th); /* a failed join fails the test */
	for (unsigned i = 0; i < NTHREADS; i++)
		CHECK_EQ(thread_ctx[i].errors, 0);
	struct tcemu_memory_stats st;
	tcemu_memory_stats(m, &st);
	CHECK_U64(st.pins, 0);
	CHECK_U64(st.pinned_bytes, 0);
	CHECK_U64(st.references, 0);
	tcemu_memory_destroy(m);
}

/* A pin of [ua, ua + size) with one hint (hint_hpa 0: none). */
static int pin_near1(struct tcemu_memory *m, uint64_t ua, uint64_t size, uint64_t hint_ua, uint64_t hint_hpa, uint64_t *hpa)
{
	struct memory_hint h = { hint_ua, hint_hpa };

	return memory_pin_near(m, ua, size, 0, &h, hint_hpa ? 1 : 0, hpa);
}

/*
 * memory_pin_near: a pin hinted by a run of an open block goes as far from its frames as its range
 * is from the hint's range, inside that block or at the bump pointer; when that place is taken or
 * out of reach it gets a block of its own with room on both sides (256 times its size) for the
 * ranges around it. With no hint, or only hints in closed blocks (a block closes for good when one
 * of its runs dies: its frames are never handed out again), it goes to the bump pointer as
 * tcemu_memory_pin does. A closing block at the top gives back its unused tail.
 */
TEST(near_pins)
{
	const uint64_t P = 4096, U = 0x1000000;
	struct tcemu_memory *m = mk(12, 0, 0);
	struct memory_range *ranges;
	uint64_t a, b, c, d, e, x, y, ua, avail;
	size_t n;

	CHECK(m);
	/* no hint that names a live pin: at the bump pointer */
	CHECK_EQ(pin_near1(m, U, 2 * P, 0x5000000, 12345, &a), 0);
	CHECK_U64(a, BASE);
	/* above it: at the bump pointer, a new block with room after it */
	CHECK_EQ(pin_near1(m, U + 2 * P, P, U, a, &b), 0);
	CHECK_U64(b, a + 2 * P);
	CHECK(stats_eq(m, 2, 3 * P, 2, b + P + 256 * P));
	/* below it, out of a's block: a block of its own, 3 * 256 pages of room on both sides */
	CHECK_EQ(pin_near1(m, U - 3 * P, 3 * P, U, a, &c), 0);
	CHECK_U64(c, b + P + 256 * P + 768 * P);
	CHECK(stats_eq(m, 3, 6 * P, 3, c + 3 * P + 768 * P));
	/* the ranges around go beside, with the gaps their ranges have */
	CHECK_EQ(pin_near1(m, U - 10 * P, P, U - 3 * P, c, &d), 0);
	CHECK_U64(d, c - 7 * P);
	CHECK_EQ(pin_near1(m, U + 10 * P, P, U + 2 * P, b, &e), 0);
	CHECK_U64(e, a + 10 * P);
	CHECK_EQ(tcemu_memory_hpa_to_ua(m, c + 100, &ua, &avail), 0);
	CHECK_U64(ua, U - 3 * P + 100);
	CHECK_U64(avail, 3 * P - 100);
	CHECK_EQ(tcemu_memory_hpa_to_ua(m, b + P, &ua, NULL), -ENOENT); /* the gap is no run */
	/* the same range again: the same run, whatever the hint says */
	CHECK_EQ(pin_near1(m, U - 3 * P, 3 * P, U + 10 * P, e, &x), 0);
	CHECK_U64(x, c);
	/* a range whose place is taken (another address space's overlapping range): a new block */
	CHECK_EQ(pin_near1(m, U + P, 2 * P, U, a, &x), 0);
	CHECK_U64(x, c + 3 * P + 768 * P + 512 * P);
	CHECK(stats_eq(m, 6, 10 * P, 7, x + 2 * P + 512 * P));
	CHECK_EQ(memory_pinned_ranges(m, &ranges, &n), 0);
	CHECK_EQ(n, 3); /* d; [U - 3P, U + 3P) merged from c, a, x and b; e */
	CHECK_U64(ranges[0].ua, U - 10 * P);
	CHECK_U64(ranges[1].ua, U - 3 * P);
	CHECK_U64(ranges[1].size, 6 * P);
	CHECK_U64(ranges[2].ua, U + 10 * P);
	free(ranges);
	/* without hints: at the bump pointer, past the room */
	CHECK_EQ(tcemu_memory_pin(m, 0x9000000, P, 0, &y), 0);
	CHECK_U64(y, x + 2 * P + 512 * P);
	CHECK_EQ(pin_near1(m, 0xa000000, P, 0, 0, &y), 0);
	CHECK_U64(y, x + 2 * P + 512 * P + P);

	/* one run of b's block dies: the block closes, so its free frames are never handed out */
	CHECK_EQ(tcemu_memory_unpin(m, b), 0);
	CHECK_EQ(tcemu_memory_hpa_to_ua(m, b, &ua, NULL), -ENOENT);
	CHECK_EQ(pin_near1(m, U + 2 * P, P, U + 10 * P, e, &x), 0); /* b's range again: at the bump pointer */
	CHECK_U64(x, y + P);
	CHECK_EQ(pin_near1(m, U + 3 * P, P, U + 2 * P, x, &b), 0); /* beside the new one */
	CHECK_U64(b, x + P);
	CHECK_EQ(tcemu_memory_hpa_to_ua(m, e, &ua, NULL), 0); /* the closed block's live runs stay */
	CHECK_U64(ua, U + 10 * P);
	/* a closing block at the top gives back its unused tail: the bump pointer ends at its last run */
	CHECK_EQ(tcemu_memory_unpin(m, b), 0);
	struct tcemu_memory_stats st;
	tcemu_memory_stats(m, &st);
	CHECK_U64(st.next_hpa, b + P);
	tcemu_memory_destroy(m);

	/* a small space: no room when the room does not fit, then ENOSPC */
	m = mk(12, BASE, BASE + 600 * P);
	CHECK(m);
	CHECK_EQ(pin_near1(m, 0x100000, P, 0x5000000, 12345, &a), 0);
	CHECK_U64(a, BASE);
	CHECK_EQ(pin_near1(m, 0x100000 - P, P, 0x100000, a, &b), 0);
	CHECK_U64(b, BASE + 257 * P);
	CHECK_EQ(pin_near1(m, 0x100000 - 2 * P, P, 0x100000 - P, b, &c), 0);
	CHECK_U64(c, b - P);
	CHECK_EQ(pin_near1(m, 0x900000, 2 * P, 0x100000, a, &d), 0); /* its room does not fit */
	CHECK_U64(d, BASE + 514 * P);
	CHECK_EQ(tcemu_memory_pin(m, 0x200000, 84 * P, 0, &e), 0);
	CHECK_U64(e, BASE + 516 * P);
	CHECK_EQ(pin_near1(m, 0xa00000, P, 0x100000, a, &x), -ENOSPC);
	CHECK_EQ(tcemu_memory_pin(m, 0xa00000, P, 0, &x), -ENOSPC);
	tcemu_memory_destroy(m);
}

/*
 * A range pinned and unpinned in a loop beside a pinned neighbour whose block is open, its place
 * out of that block: the first turn opens a block with room that nothing uses; once the room so
 * wasted reaches 1/64 of the space, no more room is given, so the loop uses the space a page at a
 * time (without the limit, this 64 MiB space would be full after 63 turns).
 */
TEST(near_pins_room_budget)
{
	const uint64_t P = 4096;
	struct tcemu_memory *m = mk(12, BASE, BASE + 64 * MiB);
	struct tcemu_memory_stats st;
	uint64_t n, x;

	CHECK(m);
	CHECK_EQ(tcemu_memory_pin(m, 0x100000, P, 0, &n), 0);
	for (int turn = 0; turn < 10000; turn++) {
		CHECK_EQ(pin_near1(m, 0x100000 + GiB, P, 0x100000, n, &x), 0); /* its place is past the space */
		CHECK_U64(x, turn ? BASE + 2 * P + MiB + (uint64_t)(turn - 1) * P : BASE + P + MiB);
		CHECK_EQ(tcemu_memory_unpin(m, x), 0);
	}
	tcemu_memory_stats(m, &st);
	CHECK_U64(st.next_hpa, BASE + 2 * P + MiB + 9999 * P);
	tcemu_memory_destroy(m);
}

/* The number of places where the frames of consecutive ranges (size bytes each) do not follow each other. */
static unsigned frame_breaks(const uint64_t *hpa, unsigned n, uint64_t size)
{
	unsigned breaks = 0;

	for (unsigned i = 0; i + 1 < n; i++)
		breaks += hpa[i + 1] != hpa[i] + size;
	return breaks;
}

/*
 * 2000 adjacent ranges pinned in address, reverse and random order, each hinted with its nearest
 * pinned neighbours below and above (the nearer first), as pre-registration does: the frames
 * follow each other but for a few breaks (in reverse order, one after the first range, which
 * had no neighbour, then one every 256 ranges),
 * and every page maps back to its address.
 */
TEST(near_pins_any_order)
{
	enum { N = 2000 };
	const uint64_t S = 3 * 4096, UA = 0x10000000;
	static uint64_t hpa[N];
	static unsigned order[N];
	static const unsigned most[3] = { 0, (N + 255) / 256 + 1, 16 };

	for (int o = 0; o < 3; o++) {
		struct tcemu_memory *m = mk(12, 0, 0);
		CHECK(m);
		for (unsigned i = 0; i < N; i++)
			order[i] = o == 1 ? N - 1 - i : i;
		for (unsigned i = N - 1; o == 2 && i > 0; i--) {
			unsigned j = (unsigned)(rng() % (i + 1)), t = order[i];
			order[i] = order[j];
			order[j] = t;
		}
		memset(hpa, 0, sizeof(hpa));
		for (unsigned k = 0; k < N; k++) {
			unsigned i = order[k], nh = 0;
			struct memory_hint h[2];
			int lo = (int)i - 1, hi = (int)i + 1;
			while (lo >= 0 && !hpa[lo])
				lo--;
			while (hi < N && !hpa[hi])
				hi++;
			if (lo >= 0)
				h[nh++] = (struct memory_hint){ UA + (uint64_t)lo * S, hpa[lo] };
			if (hi < N) {
				h[nh++] = (struct memory_hint){ UA + (uint64_t)hi * S, hpa[hi] };
				if (nh == 2 && hi - (int)i < (int)i - lo) {
					struct memory_hint t = h[0];
					h[0] = h[1];
					h[1] = t;
				}
			}
			CHECK_EQ(memory_pin_near(m, UA + i * S, S, 0, h, nh, &hpa[i]), 0);
		}
		unsigned breaks = frame_breaks(hpa, N, S);
		CHECK(breaks <= most[o]);
		for (unsigned i = 0; i < N; i++) {
			uint64_t ua, off = (rng() % 3) * 4096 + 17;
			CHECK_EQ(tcemu_memory_hpa_to_ua(m, hpa[i] + off, &ua, NULL), 0);
			CHECK_U64(ua, UA + i * S + off);
		}
		struct tcemu_memory_stats st;
		tcemu_memory_stats(m, &st);
		CHECK_U64(st.pins, N);
		CHECK_U64(st.pinned_bytes, N * S);
		for (unsigned i = 0; i < N; i++)
			CHECK_EQ(tcemu_memory_unpin(m, hpa[order[i]]), 0);
		uint64_t ua;
		CHECK_EQ(tcemu_memory_hpa_to_ua(m, hpa[N / 2], &ua, NULL), -ENOENT);
		tcemu_memory_stats(m, &st);
		CHECK_U64(st.pins, 0);
		CHECK_U64(st.references, 0);
		tcemu_memory_destroy(m);
	}
}

/*
 * Hinted pins and unpins of two address spaces over the same addresses, against a model: a new
 * run's frames were never handed out before (a bitmap of every frame ever given), the same range
 * pinned by both shares one run, every live run maps back, and the statistics agree.
 */
TEST(near_pins_against_model)
{
	enum { SLOTS = 256, SPACES = 2 };
	const uint64_t P = 4096, PAGES = 1ull << 28, UA = 0x100000000ull;
	struct tcemu_memory *m = mk(12, BASE, BASE + PAGES * P);
	uint64_t *given = calloc(PAGES / 64, sizeof(*given));
	static struct {
		uint64_t ua, size, hpa; /* size 0: free slot */
	} sp[SPACES][SLOTS];

	CHECK(m && given);
	memset(sp, 0, sizeof(sp));
	for (int step = 0; step < 50000; step++) {
		unsigned s = (unsigned)(rng() % SPACES), i = (unsigned)(rng() % SLOTS);
		if (sp[s][i].size) {
			CHECK_EQ(tcemu_memory_unpin(m, sp[s][i].hpa + rng() % sp[s][i].size), 0);
			sp[s][i].size = 0;
			continue;
		}
		/* a range inside slot i (8 pages), its nearest live neighbours in the same space as hints */
		uint64_t first = rng() % 8, len = 1 + rng() % (8 - first), hpa;
		uint64_t ua = UA + (i * 8 + first) * P, size = len * P;
		struct memory_hint h[2];
		unsigned nh = 0;
		for (int j = (int)i - 1; j >= 0 && !nh; j--)
			if (sp[s][j].size)
				h[nh++] = (struct memory_hint){ sp[s][j].ua, sp[s][j].hpa };
		for (unsigned j = i + 1; j < SLOTS; j++)
			if (sp[s][j].size) {
				h[nh++] = (struct memory_hint){ sp[s][j].ua, sp[s][j].hpa };
				break;
			}
		CHECK_EQ(memory_pin_near(m, ua, size, 0, h, nh, &hpa), 0);
		bool shared = false;
		for (unsigned t = 0; t < SPACES; t++)
			if (t != s && sp[t][i].size && sp[t][i].ua == ua && sp[t][i].size == size) {
				CHECK_U64(hpa, sp[t][i].hpa); /* the same range: the same run */
				shared = true;
			}
		CHECK(hpa >= BASE && (hpa - BASE) / P + len <= PAGES);
		for (uint64_t k = (hpa - BASE) / P; !shared && k < (hpa - BASE) / P + len; k++) {
			CHECK(!(given[k / 64] >> (k % 64) & 1)); /* never handed out before */
			given[k / 64] |= 1ull << (k % 64);
		}
		sp[s][i] = (typeof(sp[s][i])){ ua, size, hpa };
		if (step % 1009 == 0) {
			uint64_t refs = 0, got;
			for (unsigned t = 0; t < SPACES; t++)
				for (unsigned j = 0; j < SLOTS; j++) {
					if (!sp[t][j].size)
						continue;
					refs++;
					uint64_t off = rng() % sp[t][j].size;
					CHECK_EQ(tcemu_memory_hpa_to_ua(m, sp[t][j].hpa + off, &got, NULL), 0);
					CHECK_U64(got, sp[t][j].ua + off);
				}
			struct tcemu_memory_stats st;
			tcemu_memory_stats(m, &st);
			CHECK_U64(st.references, refs);
		}
	}
	free(given);
	tcemu_memory_destroy(m);
}

HARNESS_MAIN(T(create_validation), T(pin_validation), T(alignment), T(contiguity_round_trip),
	     T(repin_references), T(repin_other_alignment), T(unpin_interior_and_unknown),
	     T(frames_never_reused), T(enospc), T(stats), T(page_64k), T(churn_against_model),
	     T(scale_200k), T(threads), T(near_pins), T(near_pins_room_budget), T(near_pins_any_order),
	     T(near_pins_against_model))
