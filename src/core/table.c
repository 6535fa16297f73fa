/* SPDX-License-Identifier: MIT */
/*
 * TCE tables: multi-level, allocated on demand, big-endian entries in hardware format.
 *
 * Layout. Every level is an array of E = 2^bits 64-bit big-endian entries (bits = level_shift - 3).
 * An inner entry holds the address of the next level with READ|WRITE set as "valid" (tcemu keeps
 * the process address of the level there: table memory has no simulated physical address).
 * A leaf allocation is: hw[E] (the hardware entries), then ua[E] when the table keeps user
 * addresses, then one struct chunk per 512 entries (lock word, count of valid entries and a mask
 * of its 64 cache lines that may hold a valid entry). An inner level is its E entries followed by
 * one 64-bit mask per 512 entries, bit k set when line k (entries 8k..8k+7) may hold a next level.
 * For a one-level table the top level is that leaf.
 *
 * The masks let a clear skip what is empty: a sparse window costs what it holds, not its size.
 * They are hints kept as supersets: a bit is set before an entry under it can be seen and cleared
 * only by a clear that found its line empty (inner bits are never cleared: levels stay).
 *
 * Locking (see also table.h):
 * - Inner entries go from 0 to a level exactly once, by compare-and-swap; levels are freed only
 *   when the last reference to the table goes. So a walk needs no lock: acquire loads of inner
 *   entries see fully zeroed levels.
 * - Leaf entries and their user addresses change only under their chunk's spin lock, with
 *   relaxed atomic stores; lock-free readers (translate, get without ua) use relaxed loads and
 *   see either the old or the new entry. chunk.nvalid is written under the lock and read
 *   without it by clear() to skip empty chunks: a clear that skips a chunk another thread is
 *   filling is ordered before that fill.
 * - No other lock exists; release callbacks run with no lock held.
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <tcemu/table.h>

#include "core/table_priv.h"
#include "util/alloc.h"
#include "util/internal.h"

#define CHUNK_SHIFT 9u
#define CHUNK_ENTRIES (1u << CHUNK_SHIFT)
#define INNER_VALID (TCEMU_TCE_READ | TCEMU_TCE_WRITE)
#define MIN_PAGE_SHIFT 12u
#define MAX_PAGE_SHIFT 40u

#define LINE_ENTRIES 8u /* entries per 64-byte line: one bit of a chunk's or inner level's mask */

struct chunk {
	uint32_t lock;
	uint32_t nvalid;
	uint64_t lines; /* bit k: line k of the chunk may hold a valid entry (under lock) */
};
_Static_assert(_Alignof(struct chunk) <= _Alignof(uint64_t), "chunks follow a leaf's 64-bit words unpadded");
_Static_assert(CHUNK_ENTRIES / LINE_ENTRIES == 64, "one mask word per chunk");

struct tcemu_table {
	struct tcemu_table_params params;
	struct tcemu_table_geometry geo;
	uint32_t bits;        /* index bits per level */
	uint64_t level_mask;  /* E - 1 */
	uint64_t page_mask;   /* IOMMU page size - 1 */
	bool userspace;
	size_t leaf_bytes;
	size_t inner_bytes;
	uint64_t *top;
	uint64_t refs;            /* atomic */
	struct tcemu_alloc_hook hook; /* asked before every allocation (util/alloc.h) */
	uint64_t allocated_bytes; /* atomic */
	uint64_t levels_allocated; /* atomic */
};

/* An old entry handed back after an update. */
struct old_entry {
	uint64_t index, tce, ua;
};

static inline uint64_t ld(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static inline void st(uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}

static inline uint64_t level_entries(const struct tcemu_table *t)
{
	return t->level_mask + 1;
}

static inline uint64_t *leaf_ua(const struct tcemu_table *t, uint64_t *leaf)
{
	return t->userspace ? leaf + level_entries(t) : NULL;
}

static inline struct chunk *leaf_chunks(const struct tcemu_table *t, uint64_t *leaf)
{
	return (struct chunk *)(leaf + level_entries(t) * (t->userspace ? 2 : 1));
}

/* An inner level's line masks, one word per 512 entries, after its entries. */
static inline uint64_t *inner_masks(const struct tcemu_table *t, uint64_t *level)
{
	return level + level_entries(t);
}

/* The bits of lines [pos / 8, (pos + n - 1) / 8] of a 512-entry chunk (pos: offset in the chunk). */
static inline uint64_t line_bits(uint64_t pos, uint64_t n)
{
	uint64_t a = pos / LINE_ENTRIES, b = (pos + n - 1) / LINE_ENTRIES;

	return (~0ull >> (63 - b)) & (~0ull << a);
}

uint64_t tcemu_table_accounted_size(uint32_t page_shift, uint64_t window_size, uint32_t levels,
				    uint32_t sys_page_shift)
{
	struct tcemu_table_params p = {
		.window_size = window_size,
		.page_shift = page_shift,
		.levels = levels,
		.sys_page_shift = sys_page_shift,
	};
	struct tcemu_table_geometry g;

	return tcemu_table_geometry(&p, &g) == 0 ? g.accounted_bytes : 0;
}

/* The kernel's get_table_size(): hardware levels rounded to the direct table size, twice. */
static uint64_t accounted_bytes(uint32_t entries_shift, uint32_t levels, uint32_t sys_page_shift)
{
	uint32_t per_level = (entries_shift + levels - 1) / levels;
	uint64_t direct = tcemu_max_u64(1ull << sys_page_shift, 1ull << (per_level + 3));
	uint64_t size = tcemu_max_u64(4096, 1ull << (entries_shift + 3));
	uint64_t bytes = 0;

	for (uint32_t l = 0; l < levels; l++) {
		bytes += TCEMU_ALIGN_UP(size, direct);
		size = tcemu_max_u64(direct, size / direct * 8);
	}
	return 2 * bytes;
}

TCEMU_EXPORT int tcemu_table_geometry(const struct tcemu_table_params *p, struct tcemu_table_geometry *g)
{
	uint32_t sys, entries_shift, level_shift;

	if (!p || !g)
		return -EINVAL;
	if (p->flags & ~TCEMU_TABLE_USERSPACE)
		return -EINVAL;
	sys = p->sys_page_shift ? p->sys_page_shift : 12;
	if (sys != 12 && sys != 16)
		return -EINVAL;
	if (p->page_shift < MIN_PAGE_SHIFT || p->page_shift > MAX_PAGE_SHIFT)
		return -EINVAL;
	if (p->levels < 1 || p->levels > TCEMU_TABLE_MAX_LEVELS)
		return -EINVAL;
	if (!TCEMU_IS_POW2(p->window_size) || p->window_size < (1ull << p->page_shift))
		return -EINVAL;
	if (p->bus_offset & ((1ull << p->page_shift) - 1))
		return -EINVAL;
	if (p->bus_offset + (p->window_size - 1) < p->bus_offset)
		return -EINVAL;

	entries_shift = tcemu_log2_u64(p->window_size) - p->page_shift;
	level_shift = (uint32_t)tcemu_max_u64(sys, (entries_shift + p->levels - 1) / p->levels + 3);
	if ((level_shift - 3) * p->levels + p->page_shift >= 55)
		return -EINVAL;

	g->entries_shift = entries_shift;
	g->level_shift = level_shift;
	g->bits_per_level = level_shift - 3;
	g->entries = 1ull << entries_shift;
	g->accounted_bytes = accounted_bytes(entries_shift, p->levels, sys);
	return 0;
}

/*
 * A level of BIG_LEVEL bytes or more is mapped on its own: fresh zero pages, so a big one-level
 * table (a PE's default 32-bit window) costs only the pages it touches. calloc would not do:
 * once a large block has been freed, glibc raises its mmap threshold and serves the next ones
 * from the heap, zeroing them whole (megabytes per window, most of a host's creation time).
 */
#define BIG_LEVEL (128u << 10)

static uint64_t *level_alloc(struct tcemu_table *t, bool leaf)
{
	size_t bytes = leaf ? t->leaf_bytes : t->inner_bytes;
	uint64_t *l;

	if (!alloc_hook_ok(&t->hook))
		return NULL;
	if (bytes >= BIG_LEVEL) {
		l = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (l == MAP_FAILED)
			return NULL;
	} else {
		l = calloc(1, bytes);
		if (!l)
			return NULL;
	}
	__atomic_add_fetch(&t->allocated_bytes, bytes, __ATOMIC_RELAXED);
	__atomic_add_fetch(&t->levels_allocated, 1, __ATOMIC_RELAXED);
	return l;
}

static void level_release(uint64_t *l, size_t bytes)
{
	if (bytes >= BIG_LEVEL)
		munmap(l, bytes);
	else
		free(l);
}

static void level_free(struct tcemu_table *t, uint64_t *l, bool leaf)
{
	size_t bytes = leaf ? t->leaf_bytes : t->inner_bytes;

	__atomic_sub_fetch(&t->allocated_bytes, bytes, __ATOMIC_RELAXED);
	__atomic_sub_fetch(&t->levels_allocated, 1, __ATOMIC_RELAXED);
	level_release(l, bytes);
}

_Static_assert(sizeof(void *) <= sizeof(uint64_t), "an inner entry holds a level's address");
_Static_assert(INNER_VALID < _Alignof(max_align_t), "the valid bits are below a calloc'd level's alignment");
static inline uint64_t *inner_target(uint64_t raw)
{
	return (uint64_t *)(uintptr_t)(be64toh(raw) & ~INNER_VALID);
}

/*
 * Returns the leaf holding entry index, allocating missing levels when alloc is set. NULL when a
 * level is absent (alloc unset) or cannot be allocated (*err = -ENOMEM).
 */
static uint64_t *walk(struct tcemu_table *t, uint64_t index, bool alloc, int *err)
{
	uint64_t *level = t->top;

	for (uint32_t l = t->params.levels - 1; l > 0; l--) {
		uint64_t *slot = &level[(index >> (t->bits * l)) & t->level_mask];
		uint64_t raw = __atomic_load_n(slot, __ATOMIC_ACQUIRE);

		if (!raw) {
			uint64_t *fresh, want;

			if (!alloc)
				return NULL;
			fresh = level_alloc(t, l == 1);
			if (!fresh) {
				*err = -ENOMEM;
				return NULL;
			}
			/* The bit first: whoever sees the next level (the winner's) sees the bit. */
			uint64_t pos = (uint64_t)(slot - level);
			__atomic_fetch_or(&inner_masks(t, level)[pos / CHUNK_ENTRIES],
					  1ull << (pos % CHUNK_ENTRIES / LINE_ENTRIES), __ATOMIC_RELEASE);
			want = htobe64((uint64_t)(uintptr_t)fresh | INNER_VALID);
			if (__atomic_compare_exchange_n(slot, &raw, want, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
				raw = want;
			else
				level_free(t, fresh, l == 1); /* lost the race: raw holds the winner */
		}
		level = inner_target(raw);
	}
	return level;
}

TCEMU_EXPORT int tcemu_table_create(const struct tcemu_table_params *p, struct tcemu_table **out)
{
	static const struct tcemu_alloc_hook none;

	return table_create_hooked(p, &none, out);
}

int table_create_hooked(const struct tcemu_table_params *p, const struct tcemu_alloc_hook *hook,
			struct tcemu_table **out)
{
	struct tcemu_table *t;
	uint64_t e;
	int rc;

	if (!out)
		return -EINVAL;
	t = alloc_hook_ok(hook) ? calloc(1, sizeof(*t)) : NULL;
	if (!t)
		return -ENOMEM;
	rc = tcemu_table_geometry(p, &t->geo);
	if (rc)
		goto err_free_table;
	t->params = *p;
	t->hook = *hook;
	if (!t->params.sys_page_shift)
		t->params.sys_page_shift = 12;
	t->bits = t->geo.bits_per_level;
	t->level_mask = (1ull << t->bits) - 1;
	t->page_mask = (1ull << p->page_shift) - 1;
	t->userspace = p->flags & TCEMU_TABLE_USERSPACE;
	e = level_entries(t);
	t->inner_bytes = e * sizeof(uint64_t) + (e >> CHUNK_SHIFT) * sizeof(uint64_t);
	/* level_shift >= 12, so a leaf holds a whole number of chunks. */
	t->leaf_bytes = e * sizeof(uint64_t) * (t->userspace ? 2 : 1) + (e >> CHUNK_SHIFT) * sizeof(struct chunk);
	t->refs = 1;
	t->top = level_alloc(t, p->levels == 1);
	if (!t->top) {
		rc = -ENOMEM;
		goto err_free_table;
	}
	*out = t;
	return 0;

err_free_table:
	free(t);
	return rc;
}

TCEMU_EXPORT struct tcemu_table *tcemu_table_ref(struct tcemu_table *t)
{
	__atomic_add_fetch(&t->refs, 1, __ATOMIC_RELAXED);
	return t;
}

static void free_levels(struct tcemu_table *t, uint64_t *level, uint32_t height)
{
	if (height > 0) {
		for (uint64_t i = 0; i <= t->level_mask; i++) {
			uint64_t raw = ld(&level[i]);

			if (raw)
				free_levels(t, inner_target(raw), height - 1);
		}
	}
	level_release(level, height > 0 ? t->inner_bytes : t->leaf_bytes);
}

TCEMU_EXPORT void tcemu_table_unref(struct tcemu_table *t)
{
	if (!t || __atomic_sub_fetch(&t->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	free_levels(t, t->top, t->params.levels - 1);
	free(t);
}

static void release_all(const struct old_entry *olds, unsigned n, tcemu_tce_release_fn release, void *opaque)
{
	if (!release)
		return;
	for (unsigned i = 0; i < n; i++)
		release(opaque, olds[i].index, olds[i].tce, olds[i].ua);
}

/*
 * Where the new entries come from: arrays, a linear run (first + k * step), or a list of linear
 * runs with linear user addresses (table_set_runs). A single always-inline writer is instantiated
 * once per source kind.
 */
enum source_kind { SRC_ARRAYS, SRC_LINEAR, SRC_RUNS };

struct source {
	const uint64_t *tces, *uas;
	uint64_t first_tce, first_ua, step; /* first_ua: also the runs' (entry k: first_ua + k * step) */
	bool all_valid; /* arrays: every entry has permission bits (found while validating) */
	const struct table_run *run, *run_end; /* runs: the run of the next entry to write, the end ... */
	uint64_t run_off;            /* ... and how far into it that entry is */
};

/*
 * hw[0, n) = first, first + step, ... in big-endian, four at a time (pointers bumped: few registers).
 * The odd entry and the odd pair go first, so that a short run (a map across small regions) pays
 * two tests for its rest instead of a loop whose trip count changes from run to run.
 */
static inline __attribute__((always_inline)) void fill_linear(uint64_t *hw, uint32_t n, uint64_t tce, uint64_t step)
{
	uint64_t *const stop = hw + n;

	if (n & 1) {
		st(hw, htobe64(tce));
		hw++, tce += step;
	}
	if (n & 2) {
		st(&hw[0], htobe64(tce));
		st(&hw[1], htobe64(tce + step));
		hw += 2, tce += 2 * step;
	}
	for (; hw < stop; hw += 4, tce += 4 * step) {
		st(&hw[0], htobe64(tce));
		st(&hw[1], htobe64(tce + step));
		st(&hw[2], htobe64(tce + 2 * step));
		st(&hw[3], htobe64(tce + 3 * step));
	}
}

/* fill_linear of hw, with ua[0, n) = u, u + ustep, ... alongside. */
static inline __attribute__((always_inline)) void fill_linear2(uint64_t *hw, uint64_t *ua, uint32_t n, uint64_t tce,
							       uint64_t u, uint64_t step, uint64_t ustep)
{
	uint64_t *const stop = hw + n;

	if (n & 1) {
		st(hw, htobe64(tce));
		st(ua, u);
		hw++, ua++, tce += step, u += ustep;
	}
	if (n & 2) {
		st(&hw[0], htobe64(tce));
		st(&ua[0], u);
		st(&hw[1], htobe64(tce + step));
		st(&ua[1], u + ustep);
		hw += 2, ua += 2, tce += 2 * step, u += 2 * ustep;
	}
	for (; hw < stop; hw += 4, ua += 4, tce += 4 * step, u += 4 * ustep) {
		st(&hw[0], htobe64(tce));
		st(&ua[0], u);
		st(&hw[1], htobe64(tce + step));
		st(&ua[1], u + ustep);
		st(&hw[2], htobe64(tce + 2 * step));
		st(&ua[2], u + 2 * ustep);
		st(&hw[3], htobe64(tce + 3 * step));
		st(&ua[3], u + 3 * ustep);
	}
}

/*
 * An empty piece from runs: n entries at hw, and their user addresses at ua (with_ua: the table
 * keeps them; linear_ua: they are not 0, and step apart like the entries), from src->run at
 * src->run_off on (entry k0 of the call), which it advances. One linear fill per run the piece
 * crosses (every entry of a run is valid: table_priv.h). Instantiated once per kind of user
 * address: with one step for both, the fill needs fewer registers.
 */
static inline __attribute__((always_inline)) void fill_runs(uint64_t *hw, uint64_t *ua, const bool with_ua,
							     const bool linear_ua, uint32_t n, struct source *src,
							     uint64_t k0)
{
	const struct table_run *r = src->run;
	const uint64_t step = src->step; /* in locals: the entries' stores could alias src */
	const uint64_t ustep = linear_ua ? step : 0;
	uint64_t *const stop = hw + n;
	uint64_t u = linear_ua ? src->first_ua + k0 * step : 0;
	uint64_t tce = r->tce + src->run_off * step, left = r->count - src->run_off;
	uint32_t m;

	/* The runs that end inside the piece... */
	while (left < (uint64_t)(stop - hw)) {
		m = (uint32_t)left;
		if (with_ua)
			fill_linear2(hw, ua, m, tce, u, step, ustep);
		else
			fill_linear(hw, m, tce, step);
		hw += m;
		if (with_ua)
			ua += m;
		u += m * ustep;
		r++;
		tce = r->tce;
		left = r->count;
	}
	/* ... and the one that ends with it or goes on into the next piece. */
	m = (uint32_t)(stop - hw);
	if (with_ua)
		fill_linear2(hw, ua, m, tce, u, step, ustep);
	else
		fill_linear(hw, m, tce, step);
	src->run_off = m == left ? 0 : r->count - left + m;
	src->run = m == left ? r + 1 : r;
}

/* What one locked piece of a chunk changed. */
struct piece_result {
	int32_t delta;  /* change of the chunk's valid count */
	bool any;       /* an entry was made valid: the piece's lines get their bits */
	unsigned nold;  /* old entries noted */
};

/*
 * Writes n entries at hw/ua (index: the first one's) from src (entry k0 of it onwards; a linear
 * src when linear), under the chunk lock the caller holds; empty: the chunk held no valid entry
 * when locked. Old entries go to olds from res->nold on.
 */
static inline __attribute__((always_inline)) void
write_locked(uint64_t *hw, uint64_t *ua, uint64_t index, uint32_t n, const struct source *src, uint64_t k0,
	     bool linear, bool empty, struct old_entry *olds, struct piece_result *res)
{
	unsigned no = res->nold;
	int32_t delta = 0;

	if (empty) {
		/* An empty chunk (the common case of a fresh map): no old entry to hand back. */
		if (linear) {
			uint64_t tce = src->first_tce + k0 * src->step;
			uint64_t ustep = src->first_ua ? src->step : 0, u = src->first_ua ? src->first_ua + k0 * src->step : 0;

			if (!(tce & TCEMU_TCE_PERM_MASK))
				return; /* clearing an empty chunk */
			if (ua)
				fill_linear2(hw, ua, n, tce, u, src->step, ustep);
			else
				fill_linear(hw, n, tce, src->step);
			res->delta += (int32_t)n;
			res->any = true;
			return;
		}
		const uint64_t *restrict tces = src->tces + k0;
		const uint64_t *restrict uas = src->uas ? src->uas + k0 : NULL;
		uint32_t nv = 0;

		if (ua && uas && src->all_valid) {
			/* the usual map: a straight copy, unrolled like the linear fill */
			uint32_t i = 0;

			for (; i + 4 <= n; i += 4) {
				st(&hw[i], htobe64(tces[i]));
				st(&ua[i], uas[i]);
				st(&hw[i + 1], htobe64(tces[i + 1]));
				st(&ua[i + 1], uas[i + 1]);
				st(&hw[i + 2], htobe64(tces[i + 2]));
				st(&ua[i + 2], uas[i + 2]);
				st(&hw[i + 3], htobe64(tces[i + 3]));
				st(&ua[i + 3], uas[i + 3]);
			}
			for (; i < n; i++) {
				st(&hw[i], htobe64(tces[i]));
				st(&ua[i], uas[i]);
			}
			nv = n;
		} else if (ua && uas) {
			for (uint32_t i = 0; i < n; i++) {
				uint64_t tce = tces[i], valid = -(uint64_t)((tce & TCEMU_TCE_PERM_MASK) != 0);

				st(&hw[i], htobe64(tce & valid));
				st(&ua[i], uas[i] & valid);
				nv += (uint32_t)(valid & 1);
			}
		} else {
			for (uint32_t i = 0; i < n; i++) {
				uint64_t tce = tces[i], valid = -(uint64_t)((tce & TCEMU_TCE_PERM_MASK) != 0);

				st(&hw[i], htobe64(tce & valid));
				if (ua)
					st(&ua[i], 0);
				nv += (uint32_t)(valid & 1);
			}
		}
		res->delta += (int32_t)nv;
		res->any |= nv != 0;
		return;
	}
	for (uint32_t i = 0; i < n; i++) {
		uint64_t k = k0 + i;
		uint64_t tce = linear ? src->first_tce + k * src->step : src->tces[k];
		uint64_t nua = 0, oua = 0;
		uint64_t old = ld(&hw[i]);

		if (!(tce & TCEMU_TCE_PERM_MASK))
			tce = 0;
		else
			res->any = true;
		if (tce && ua)
			nua = linear ? (src->first_ua ? src->first_ua + k * src->step : 0) : (src->uas ? src->uas[k] : 0);
		st(&hw[i], htobe64(tce));
		if (ua) {
			oua = ld(&ua[i]);
			st(&ua[i], nua);
		}
		if (old) {
			olds[no].index = index + i;
			olds[no].tce = be64toh(old);
			olds[no].ua = oua;
			no++;
		}
		delta += (tce != 0) - (old != 0);
	}
	res->delta += delta;
	res->nold = no;
}

/*
 * write_locked of a piece at pos in its chunk some of whose lines busy may hold valid entries:
 * only the entries from the first busy line to the last are checked for old entries; those
 * before and after hold none (a line whose bit is clear holds no valid entry) and take the fill
 * of an empty piece. Out of line: most pieces touch no busy line (write_split).
 */
static __attribute__((noinline)) void write_busy(uint64_t *hw, uint64_t *ua, uint64_t index, uint32_t pos, uint32_t n,
						 const struct source *src, uint64_t k0, bool linear, uint64_t busy,
						 struct old_entry *olds, struct piece_result *res)
{
	const uint32_t first = (uint32_t)__builtin_ctzll(busy) * LINE_ENTRIES;
	const uint32_t last = (uint32_t)(64 - __builtin_clzll(busy)) * LINE_ENTRIES; /* past the last busy line */
	const uint32_t cut[4] = { 0, first > pos ? first - pos : 0, last - pos < n ? last - pos : n, n };

	for (unsigned s = 0; s < 3; s++) /* empty, checked, empty */
		if (cut[s + 1] > cut[s])
			write_locked(hw + cut[s], ua ? ua + cut[s] : NULL, index + cut[s], cut[s + 1] - cut[s], src,
				     k0 + cut[s], linear, s != 1, olds, res);
}

/*
 * write_locked of a piece at pos in its chunk whose lines lines (the chunk's mask) may hold valid
 * entries. A map that resumes in a line half written by the call before it (a map across
 * regions, a run at a time) checks that line alone, not the rest of the chunk (bench_vfio
 * --regions, reverse order: 4400 instructions per break when the whole piece was checked).
 */
static inline __attribute__((always_inline)) void
write_split(uint64_t *hw, uint64_t *ua, uint64_t index, uint32_t pos, uint32_t n, const struct source *src,
	    uint64_t k0, bool linear, uint64_t lines, struct old_entry *olds, struct piece_result *res)
{
	const uint64_t mine = line_bits(pos, n), busy = lines & mine;

	/* nothing worth a split: a piece of a line at most (one entry), a fresh map, or a rewrite */
	if (n <= LINE_ENTRIES || busy == 0 || busy == mine)
		write_locked(hw, ua, index, n, src, k0, linear, busy == 0, olds, res);
	else
		write_busy(hw, ua, index, pos, n, src, k0, linear, busy, olds, res);
}

/*
 * Writes entries [index, index + n) of one chunk of leaf from src (entry k0 of it onwards; for
 * runs, from src->run at src->run_off, which it advances) under the chunk's lock. *nold: the old
 * entries noted in olds.
 */
static inline __attribute__((always_inline)) void
write_chunk(struct tcemu_table *t, uint64_t *leaf, uint64_t index, uint32_t n, struct source *src, uint64_t k0,
	    enum source_kind kind, struct old_entry *olds, unsigned *nold)
{
	uint64_t pos = index & t->level_mask;
	uint64_t *hw = leaf + pos;
	uint64_t *ua = t->userspace ? leaf_ua(t, leaf) + pos : NULL;
	struct chunk *c = &leaf_chunks(t, leaf)[pos >> CHUNK_SHIFT];
	struct piece_result res = { 0 };
	uint64_t lines;

	tcemu_spin_lock(&c->lock);
	/*
	 * A piece is empty (no old entry to hand back) when the chunk holds no valid entry, and so are
	 * its entries in lines whose bit is clear (write_split): a map that resumes in a chunk half
	 * written by the call before it (a map across regions, RUNS at a time) takes the fast fill for
	 * the rest of the chunk.
	 */
	lines = c->nvalid ? c->lines : 0;
	pos &= CHUNK_ENTRIES - 1;
	if (kind == SRC_RUNS && !lines) {
		/* The usual map across regions: an empty piece, a fill per run, no old entry to note. */
		if (ua && src->first_ua)
			fill_runs(hw, ua, true, true, n, src, k0);
		else if (ua)
			fill_runs(hw, ua, true, false, n, src, k0);
		else
			fill_runs(hw, NULL, false, false, n, src, k0);
		res.delta = (int32_t)n;
		res.any = true;
	} else if (kind == SRC_RUNS) {
		/* one linear piece per run the chunk's entries cross, all under this one lock */
		for (uint32_t done = 0; done < n;) {
			const struct table_run *r = src->run;
			uint32_t m = (uint32_t)tcemu_min_u64(n - done, r->count - src->run_off);
			const uint64_t off = src->run_off, skip = k0 + done - off; /* the run's first entry in the call */
			struct source one = { .first_tce = r->tce, .step = src->step,
					      .first_ua = src->first_ua ? src->first_ua + skip * src->step : 0 };

			write_split(hw + done, ua ? ua + done : NULL, index + done, (uint32_t)pos + done, m, &one, off,
				    true, lines, olds, &res);
			done += m;
			src->run_off += m;
			if (src->run_off == r->count) {
				src->run++;
				src->run_off = 0;
			}
		}
	} else {
		write_split(hw, ua, index, (uint32_t)pos, n, src, k0, kind == SRC_LINEAR, lines, olds, &res);
	}
	if (res.any)
		c->lines |= line_bits(pos, n);
	if (res.delta)
		__atomic_store_n(&c->nvalid, (uint32_t)((int32_t)c->nvalid + res.delta), __ATOMIC_RELAXED);
	tcemu_spin_unlock(&c->lock);
	*nold = res.nold;
}

TCEMU_EXPORT int tcemu_table_reserve(struct tcemu_table *t, uint64_t index, uint64_t count)
{
	uint64_t leaf_span = level_entries(t);
	int err = 0;

	if (index >= t->geo.entries || count > t->geo.entries - index)
		return -ERANGE;
	for (uint64_t i = index & ~t->level_mask; i < index + count; i += leaf_span)
		if (!walk(t, i < index ? index : i, true, &err))
			return err;
	return 0;
}

/* Entries in [index, index + count) stop at a chunk boundary: the length of the next piece. */
static inline uint32_t piece_len(uint64_t index, uint64_t left)
{
	uint64_t room = CHUNK_ENTRIES - (index & (CHUNK_ENTRIES - 1));

	return (uint32_t)tcemu_min_u64(room, left);
}

/*
 * The first pass over an array of entries: the or of all (its bits below the page must be clear)
 * and, in *valid, the and of every entry | entry >> 1 (bit 0: every entry has a permission bit).
 */
static inline __attribute__((always_inline)) uint64_t scan_body(const uint64_t *restrict tces, uint64_t count,
								 uint64_t *valid)
{
	uint64_t bad = 0, all = ~0ull;

	for (uint64_t k = 0; k < count; k++) {
		bad |= tces[k];
		all &= tces[k] | (tces[k] >> 1);
	}
	*valid = all;
	return bad;
}

#if defined(__x86_64__)
/*
 * On x86_64 the pass is also compiled for AVX2 (four entries a vector instead of two: it is a third
 * of a 512-entry batch's instructions; bench_table's array batch 0.71-0.77 -> 0.87-0.94 of the
 * store loop) and chosen at the first call when the processor has it. A plain check, not an ifunc:
 * a resolver runs before the sanitizers' runtimes are set up.
 */
__attribute__((target("avx2"))) static uint64_t scan_avx2(const uint64_t *restrict tces, uint64_t count,
							  uint64_t *valid)
{
	return scan_body(tces, count, valid);
}

static uint64_t scan_array(const uint64_t *restrict tces, uint64_t count, uint64_t *valid)
{
	static int avx2 = -1; /* not known yet */
	int has = __atomic_load_n(&avx2, __ATOMIC_RELAXED);

	if (has < 0) {
		has = __builtin_cpu_supports("avx2") ? 1 : 0;
		__atomic_store_n(&avx2, has, __ATOMIC_RELAXED);
	}
	return has ? scan_avx2(tces, count, valid) : scan_body(tces, count, valid);
}
#else
#define scan_array scan_body
#endif

static inline __attribute__((always_inline)) int
set_common(struct tcemu_table *t, uint64_t index, uint64_t count, struct source *src, enum source_kind kind,
	   tcemu_tce_release_fn release, void *opaque)
{
	struct old_entry olds[CHUNK_ENTRIES];
	uint64_t done, leaf_span = level_entries(t);
	int err = 0;

	if (index >= t->geo.entries || count > t->geo.entries - index)
		return -ERANGE;
	if (count == 0)
		return 0;

	/* Pass 1: validate every entry, allocate every level; nothing visible changes yet. */
	if (kind == SRC_RUNS) {
		uint64_t sum = 0;

		/* The caller's to get right (table_priv.h): checked in debug builds. */
		for (const struct table_run *r = src->run; r < src->run_end; r++) {
			TCEMU_ASSERT((r->tce & TCEMU_TCE_PERM_MASK) && !(r->tce & t->page_mask & ~TCEMU_TCE_PERM_MASK));
			TCEMU_ASSERT(r->count && r->tce + (r->count - 1) * src->step >= r->tce);
			sum += r->count;
		}
		TCEMU_ASSERT(sum == count);
		(void)sum;
	} else if (kind == SRC_LINEAR) {
		if (src->first_tce & t->page_mask & ~TCEMU_TCE_PERM_MASK)
			return -EINVAL;
		if ((src->first_tce & TCEMU_TCE_PERM_MASK) && src->first_tce + (count - 1) * src->step < src->first_tce)
			return -EINVAL; /* the run of addresses wraps */
	} else {
		uint64_t valid;

		if (scan_array(src->tces, count, &valid) & t->page_mask & ~TCEMU_TCE_PERM_MASK)
			return -EINVAL;
		src->all_valid = valid & 1;
	}
	err = tcemu_table_reserve(t, index, count);
	if (err)
		return err;

	/* Pass 2: write, one chunk lock at a time. */
	for (done = 0; done < count;) {
		uint64_t at = index + done;
		uint64_t *leaf = walk(t, at, false, &err);
		uint64_t leaf_left = leaf_span - (at & t->level_mask);
		uint64_t stop = done + tcemu_min_u64(leaf_left, count - done);

		while (done < stop) {
			uint32_t n = piece_len(index + done, stop - done);
			unsigned nold;

			write_chunk(t, leaf, index + done, n, src, done, kind, olds, &nold);
			release_all(olds, nold, release, opaque);
			done += n;
		}
	}
	return 0;
}

TCEMU_EXPORT int tcemu_table_set(struct tcemu_table *t, uint64_t index, uint64_t count, const uint64_t *tces,
				 const uint64_t *uas, tcemu_tce_release_fn release, void *opaque)
{
	struct source src = { .tces = tces, .uas = uas };

	if (!tces && count)
		return -EINVAL;
	return set_common(t, index, count, &src, SRC_ARRAYS, release, opaque);
}

TCEMU_EXPORT int tcemu_table_set_linear(struct tcemu_table *t, uint64_t index, uint64_t count, uint64_t first_tce,
					uint64_t ua, tcemu_tce_release_fn release, void *opaque)
{
	struct source src = { .first_tce = first_tce, .first_ua = ua, .step = t->page_mask + 1 };

	return set_common(t, index, count, &src, SRC_LINEAR, release, opaque);
}

int table_set_runs(struct tcemu_table *t, uint64_t index, uint64_t count, uint64_t ua, const struct table_run *runs,
		   size_t nruns, tcemu_tce_release_fn release, void *opaque)
{
	struct source src = { .first_ua = ua, .run = runs, .run_end = runs + nruns, .step = t->page_mask + 1 };

	if (!runs && nruns)
		return -EINVAL;
	return set_common(t, index, count, &src, SRC_RUNS, release, opaque);
}

TCEMU_EXPORT int tcemu_table_xchg(struct tcemu_table *t, uint64_t index, uint64_t *tce, uint64_t *ua)
{
	uint64_t zero = 0;
	struct source src = { .tces = tce, .uas = ua ? ua : &zero };
	struct old_entry old = { 0 };
	uint64_t *leaf;
	unsigned nold;
	int err = 0;

	if (!tce)
		return -EINVAL;
	if (index >= t->geo.entries)
		return -ERANGE;
	if (*tce & t->page_mask & ~TCEMU_TCE_PERM_MASK)
		return -EINVAL;
	/* Clearing an entry below an absent level changes nothing and allocates nothing. */
	leaf = walk(t, index, (*tce & TCEMU_TCE_PERM_MASK) != 0, &err);
	if (!leaf) {
		if (err)
			return err;
		*tce = 0;
		if (ua)
			*ua = 0;
		return 0;
	}
	write_chunk(t, leaf, index, 1, &src, 0, SRC_ARRAYS, &old, &nold);
	*tce = old.tce;
	if (ua)
		*ua = old.ua;
	return 0;
}

void table_prefetch_write(struct tcemu_table *t, uint64_t index, uint64_t count)
{
	uint64_t *leaf, pos, n;
	int err = 0;

	if (index >= t->geo.entries || !(leaf = walk(t, index, false, &err)))
		return;
	pos = index & t->level_mask;
	n = tcemu_min_u64(count, t->level_mask + 1 - pos);
	for (uint64_t k = 0; k < n; k += LINE_ENTRIES)
		__builtin_prefetch(&leaf[pos + k], 1);
}

int table_slot_walk(struct tcemu_table *t, uint64_t index, bool alloc, struct table_slot *slot)
{
	int err = 0;

	if (index >= t->geo.entries)
		return -ERANGE;
	slot->pos = index & t->level_mask;
	slot->leaf = walk(t, index, alloc, &err);
	slot->ua = slot->leaf ? leaf_ua(t, slot->leaf) : NULL;
	slot->chunks = slot->leaf ? leaf_chunks(t, slot->leaf) : NULL;
	slot->first = index & ~t->level_mask;
	slot->count = tcemu_min_u64(t->level_mask + 1, t->geo.entries - slot->first);
	return err;
}

/*
 * The one-entry writers below (the guest's hot pair: one exchange, one view store a hypercall)
 * are leaf functions with a small frame: the slot brings the leaf's user addresses and chunks,
 * a single entry's line is one bit, and the exchange's contended lock is taken out of line.
 */
static inline uint64_t line_bit(uint64_t pos) /* line_bits(pos, 1), pos an entry's position in its leaf */
{
	return 1ull << ((pos & (CHUNK_ENTRIES - 1)) / LINE_ENTRIES);
}

static inline struct chunk *slot_chunk(const struct table_slot *slot)
{
	return &((struct chunk *)slot->chunks)[slot->pos >> CHUNK_SHIFT];
}

void table_owned_store(struct tcemu_table *t, const struct table_slot *slot, uint64_t tce)
{
	const bool valid = (tce & TCEMU_TCE_PERM_MASK) != 0;
	uint64_t *leaf = slot->leaf, pos = slot->pos, old;

	(void)t;
	if (!leaf)
		return; /* a clear below an absent level */
	struct chunk *c = slot_chunk(slot);

	old = ld(&leaf[pos]);
	if (valid)
		c->lines |= line_bit(pos);
	st(&leaf[pos], valid ? htobe64(tce) : 0);
	if (slot->ua)
		st(&slot->ua[pos], 0);
	if (valid != (old != 0)) {
		__atomic_store_n(&c->nvalid, c->nvalid + (valid ? 1 : -1), __ATOMIC_RELAXED);
	}
}

/* table_slot_xchg with the chunk lock taken by the caller (locked) or here (waiting for it). */
static inline __attribute__((always_inline)) void slot_xchg(const struct table_slot *slot, uint64_t *tce,
							    uint64_t *ua, bool locked)
{
	uint64_t *leaf = slot->leaf, pos = slot->pos;
	uint64_t *uap = slot->ua ? slot->ua + pos : NULL;
	struct chunk *c = slot_chunk(slot);
	uint64_t nt = (*tce & TCEMU_TCE_PERM_MASK) ? *tce : 0, nu = nt ? *ua : 0, old, oua = 0;

	if (!locked)
		tcemu_spin_lock(&c->lock);
	old = be64toh(ld(&leaf[pos]));
	st(&leaf[pos], htobe64(nt));
	if (uap) {
		oua = ld(uap);
		st(uap, nu);
	}
	if (nt)
		c->lines |= line_bit(pos);
	if ((nt != 0) != (old != 0))
		__atomic_store_n(&c->nvalid, c->nvalid + (nt ? 1 : -1), __ATOMIC_RELAXED);
	tcemu_spin_unlock(&c->lock);
	*tce = old;
	*ua = oua;
}

static __attribute__((noinline, cold)) void slot_xchg_wait(const struct table_slot *slot, uint64_t *tce, uint64_t *ua)
{
	slot_xchg(slot, tce, ua, false);
}

void table_slot_xchg(struct tcemu_table *t, const struct table_slot *slot, uint64_t *tce, uint64_t *ua)
{
	(void)t;
	if (TCEMU_UNLIKELY(__atomic_exchange_n(&slot_chunk(slot)->lock, 1u, __ATOMIC_ACQUIRE)))
		slot_xchg_wait(slot, tce, ua); /* contended: a tail call */
	else
		slot_xchg(slot, tce, ua, true);
}

int table_store_owned(struct tcemu_table *t, uint64_t index, uint64_t tce)
{
	struct table_slot slot = { .leaf = NULL };
	int rc;

	if (tce & t->page_mask & ~TCEMU_TCE_PERM_MASK)
		return -EINVAL;
	rc = table_slot_find(t, index, (tce & TCEMU_TCE_PERM_MASK) != 0, &slot);
	if (!rc)
		table_owned_store(t, &slot, tce);
	return rc;
}

/*
 * Clears entries [lo, hi) of a leaf (positions in the leaf; one chunk c, locked) at lines whose
 * bit is set, noting the old entries in olds (index of position 0: base). Clears the bits of the
 * lines it leaves empty. Returns the number cleared.
 */
static unsigned clear_lines(struct tcemu_table *t, uint64_t *leaf, struct chunk *c, uint64_t base, uint64_t lo,
			    uint64_t hi, bool note, struct old_entry *olds)
{
	const uint64_t cfirst = lo & ~(uint64_t)(CHUNK_ENTRIES - 1);
	uint64_t *uas = leaf_ua(t, leaf), m = c->lines & line_bits(lo - cfirst, hi - lo);
	unsigned no = 0;

	while (m) {
		const uint64_t lp = cfirst + (uint64_t)__builtin_ctzll(m) * LINE_ENTRIES;
		const uint64_t a = tcemu_max_u64(lo, lp), z = tcemu_min_u64(hi, lp + LINE_ENTRIES);
		uint64_t rest = 0;

		m &= m - 1;
		for (uint64_t e = a; e < z; e++) {
			uint64_t old = ld(&leaf[e]);

			if (!old)
				continue;
			st(&leaf[e], 0);
			if (note) {
				olds[no].index = base + e;
				olds[no].tce = be64toh(old);
				olds[no].ua = uas ? ld(&uas[e]) : 0;
			}
			if (uas)
				st(&uas[e], 0);
			no++;
		}
		if (a != lp || z != lp + LINE_ENTRIES) /* part of the line: the rest may hold entries */
			for (uint64_t e = lp; e < lp + LINE_ENTRIES; e++)
				rest |= e < a || e >= z ? ld(&leaf[e]) : 0;
		if (!rest)
			c->lines &= ~line_bits(lp - cfirst, 1);
	}
	return no;
}

/*
 * Clears [first, last] below a level whose entry 0 is entry `base` and which is `height` above the
 * leaves. Visits only chunks with valid entries and, in them and in inner levels, only the lines
 * whose mask bit is set.
 */
static int64_t clear_level(struct tcemu_table *t, uint64_t *level, uint32_t height, uint64_t base, uint64_t first,
			   uint64_t last, tcemu_tce_release_fn release, void *opaque)
{
	int64_t cleared = 0;

	if (height == 0) {
		struct old_entry olds[CHUNK_ENTRIES];
		struct chunk *chunks = leaf_chunks(t, level);

		for (uint64_t i = first; i <= last;) {
			uint64_t pos = i - base;
			uint32_t n = piece_len(i, last - i + 1);
			struct chunk *c = &chunks[pos >> CHUNK_SHIFT];
			unsigned no;

			if (__atomic_load_n(&c->nvalid, __ATOMIC_RELAXED) == 0) {
				i += n;
				continue;
			}
			tcemu_spin_lock(&c->lock);
			no = clear_lines(t, level, c, base, pos, pos + n, release != NULL, olds);
			if (no)
				__atomic_store_n(&c->nvalid, c->nvalid - no, __ATOMIC_RELAXED);
			if (!c->nvalid)
				c->lines = 0;
			tcemu_spin_unlock(&c->lock);
			release_all(olds, no, release, opaque);
			cleared += no;
			i += n;
		}
		return cleared;
	}

	const uint32_t shift = t->bits * height;
	const uint64_t s0 = (first - base) >> shift, s1 = (last - base) >> shift;
	const uint64_t *masks = inner_masks(t, level);

	for (uint64_t w = s0 / CHUNK_ENTRIES; w <= s1 / CHUNK_ENTRIES; w++) {
		const uint64_t wfirst = w * CHUNK_ENTRIES, lo = tcemu_max_u64(s0, wfirst);
		const uint64_t hi = tcemu_min_u64(s1, wfirst + CHUNK_ENTRIES - 1);
		uint64_t m = __atomic_load_n(&masks[w], __ATOMIC_ACQUIRE) & line_bits(lo - wfirst, hi - lo + 1);

		for (; m; m &= m - 1) {
			const uint64_t lp = wfirst + (uint64_t)__builtin_ctzll(m) * LINE_ENTRIES;

			for (uint64_t s = tcemu_max_u64(lo, lp); s <= tcemu_min_u64(hi, lp + LINE_ENTRIES - 1); s++) {
				uint64_t raw = __atomic_load_n(&level[s], __ATOMIC_ACQUIRE);
				uint64_t sub = base + (s << shift);
				uint64_t sub_last = sub + ((1ull << shift) - 1);

				if (!raw)
					continue; /* absent subtree: nothing mapped there */
				cleared += clear_level(t, inner_target(raw), height - 1, sub, tcemu_max_u64(first, sub),
						       tcemu_min_u64(last, sub_last), release, opaque);
			}
		}
	}
	return cleared;
}

TCEMU_EXPORT int64_t tcemu_table_clear(struct tcemu_table *t, uint64_t index, uint64_t count,
				       tcemu_tce_release_fn release, void *opaque)
{
	if (index >= t->geo.entries || count > t->geo.entries - index)
		return -ERANGE;
	if (count == 0)
		return 0;
	return clear_level(t, t->top, t->params.levels - 1, 0, index, index + count - 1, release, opaque);
}

TCEMU_EXPORT int tcemu_table_get(struct tcemu_table *t, uint64_t index, uint64_t *tce, uint64_t *ua)
{
	uint64_t *leaf;
	uint64_t pos;
	int err = 0;

	if (index >= t->geo.entries)
		return -ERANGE;
	leaf = walk(t, index, false, &err);
	if (!leaf) {
		if (tce)
			*tce = 0;
		if (ua)
			*ua = 0;
		return 0;
	}
	pos = index & t->level_mask;
	if (ua && t->userspace) {
		/* The pair is read under the chunk lock so it is one consistent snapshot. */
		struct chunk *c = &leaf_chunks(t, leaf)[pos >> CHUNK_SHIFT];

		tcemu_spin_lock(&c->lock);
		if (tce)
			*tce = be64toh(ld(&leaf[pos]));
		*ua = ld(&leaf_ua(t, leaf)[pos]);
		tcemu_spin_unlock(&c->lock);
		return 0;
	}
	if (tce)
		*tce = be64toh(ld(&leaf[pos]));
	if (ua)
		*ua = 0;
	return 0;
}

TCEMU_EXPORT int tcemu_table_translate(struct tcemu_table *t, uint64_t bus_addr, unsigned need_perm, uint64_t *hpa,
				       unsigned *perm)
{
	uint64_t off = bus_addr - t->params.bus_offset;
	uint64_t *leaf, e = 0;
	unsigned have;
	int err = 0;

	if (bus_addr < t->params.bus_offset || off >= t->params.window_size)
		return -ERANGE;
	leaf = walk(t, off >> t->params.page_shift, false, &err);
	if (leaf)
		e = be64toh(ld(&leaf[(off >> t->params.page_shift) & t->level_mask]));
	have = (unsigned)(e & TCEMU_TCE_PERM_MASK);
	if (perm)
		*perm = have;
	if (!have || (have & need_perm) != need_perm)
		return -EACCES;
	if (hpa)
		*hpa = (e & ~t->page_mask) | (off & t->page_mask);
	return 0;
}

/* Sums the valid-entry counts of every chunk below a level (introspection only: not a hot path). */
static uint64_t count_valid(struct tcemu_table *t, uint64_t *level, uint32_t height)
{
	uint64_t n = 0;

	if (height == 0) {
		struct chunk *c = leaf_chunks(t, level);

		for (uint64_t i = 0; i < (level_entries(t) >> CHUNK_SHIFT); i++)
			n += __atomic_load_n(&c[i].nvalid, __ATOMIC_RELAXED);
		return n;
	}
	for (uint64_t i = 0; i <= t->level_mask; i++) {
		uint64_t raw = __atomic_load_n(&level[i], __ATOMIC_ACQUIRE);

		if (raw)
			n += count_valid(t, inner_target(raw), height - 1);
	}
	return n;
}

TCEMU_EXPORT void tcemu_table_info(struct tcemu_table *t, struct tcemu_table_info *info)
{
	memset(info, 0, sizeof(*info));
	info->params = t->params;
	info->geometry = t->geo;
	info->allocated_bytes = __atomic_load_n(&t->allocated_bytes, __ATOMIC_RELAXED);
	info->levels_allocated = __atomic_load_n(&t->levels_allocated, __ATOMIC_RELAXED);
	info->valid_entries = count_valid(t, t->top, t->params.levels - 1);
}

TCEMU_EXPORT const struct tcemu_table_params *tcemu_table_params(const struct tcemu_table *t)
{
	return &t->params;
}

TCEMU_EXPORT uint64_t tcemu_table_entries(const struct tcemu_table *t)
{
	return t->geo.entries;
}

/* table_walk_valid below a level whose entry 0 is entry `base` and which is `height` above the leaves. */
static int walk_valid_level(struct tcemu_table *t, uint64_t *level, uint32_t height, uint64_t base,
			    table_walk_fn fn, void *opaque)
{
	uint64_t n = tcemu_min_u64(level_entries(t), t->geo.entries - base);

	if (height == 0) {
		struct chunk *chunks = leaf_chunks(t, level);
		uint64_t *uas = leaf_ua(t, level);

		for (uint64_t c0 = 0; c0 < n; c0 += CHUNK_ENTRIES) {
			uint64_t end = tcemu_min_u64(n, c0 + CHUNK_ENTRIES), counted = 0;
			uint32_t nvalid = __atomic_load_n(&chunks[c0 >> CHUNK_SHIFT].nvalid, __ATOMIC_RELAXED);

			if (nvalid == 0)
				continue;
			for (uint64_t i = c0; i < end; i++) {
				uint64_t raw = ld(&level[i]);
				int rc;

				if (!raw)
					continue;
				counted++;
				rc = fn(opaque, base + i, be64toh(raw), uas ? ld(&uas[i]) : 0);
				if (rc)
					return rc;
			}
			if (counted != nvalid)
				return -EUCLEAN; /* the chunk's count does not match its entries */
		}
		return 0;
	}
	for (uint64_t s = 0; s < n && (s << (t->bits * height)) < t->geo.entries - base; s++) {
		uint64_t raw = __atomic_load_n(&level[s], __ATOMIC_ACQUIRE);
		int rc;

		if (!raw)
			continue;
		rc = walk_valid_level(t, inner_target(raw), height - 1, base + (s << (t->bits * height)), fn, opaque);
		if (rc)
			return rc;
	}
	return 0;
}

int table_walk_valid(struct tcemu_table *t, table_walk_fn fn, void *opaque)
{
	return walk_valid_level(t, t->top, t->params.levels - 1, 0, fn, opaque);
}
