/* SPDX-License-Identifier: MIT */
/*
 * Simulated host physical memory (see include/tcemu/memory.h for the contract).
 *
 * Model: simulated host-physical addresses are handed out from [hpa_base, hpa_limit) by one
 * bump pointer (next_hpa only grows, except that a reservation nobody used is given back, below),
 * in blocks. A block is a reserved range of addresses; runs (one per pin) are placed inside it,
 * never overlapping. A block takes new runs only while it is open: the first run of it that dies
 * (or its 1024th entry) closes it for good, so a frame inside a block is never handed out twice,
 * and neither is one outside (the bump pointer never comes back below a frame handed out). A run
 * is contiguous: the hpa of ua + k is run->start + k.
 *
 * Placement. tcemu_memory_pin (no hint) puts a run at the bump pointer, at the end of the block
 * there (which grows) when that block is open: ranges pinned one after the other get frames that
 * follow each other, as before blocks existed. A pin through memory_pin_near names nearby pinned
 * ranges of the same address space (pre-registration passes the regions just below and just
 * above): the run goes at the same distance from a hint's frames as its range is from the hint's
 * range, when that place is inside the hint's open block and free, or at the bump pointer or a
 * little above it (a new block starting at the bump pointer). Otherwise, when a hint's block is
 * open, it opens a new block with room on both sides, 256 times its size (at most 1 GiB) each,
 * for the ranges around it that come later. So regions registered in any order get, region after
 * region, frames that follow each other as their addresses do, and a MAP across them is a few
 * linear runs instead of one per region (10000 regions of 104 KiB in random order: about 30).
 * With no hint, or only hints in closed blocks, the run goes to the bump pointer with no room:
 * ranges come and go there (a block closes when one of its runs dies), and room would be wasted
 * at each turn.
 *
 * Space. The bump pointer never comes back, so the space is used up by what is handed out and
 * by room no run used. When a block at the top closes, its unused tail goes back to the bump
 * pointer. Room below a block's runs is lost when the block is freed; once such lost room
 * reaches 1/64 of the space, no new block gets room (pins still work, with fewer frames that
 * follow each other), so a register/unregister loop cannot use the space up faster than one
 * without blocks by more than that 1/64.
 *
 * Data structures (n = live runs):
 *  - Each run is an individually allocated struct run, pointing to its block.
 *  - Two levels of sorted index (struct sorted_index: parallel arrays starts[] and items[], kept
 *    apart so that the binary search only touches 8 bytes per entry): the memory's blocks by
 *    start (blocks are made at the bump pointer, so a new one is always appended) and each
 *    block's runs by start (a run placed beside another is inserted in the middle: at most 1024
 *    entries move). Removing an entry turns it into a tombstone (item NULL, start kept so the
 *    array stays sorted); trailing tombstones are popped at once and the arrays compacted when
 *    tombstones outnumber live entries (amortized O(1)). An open block has no tombstone. Lookups
 *    binary-search both levels: the only block (run) that can contain hpa is the entry with the
 *    greatest start <= hpa; if it is a tombstone, or hpa is past its end, none does. O(log n).
 *  - by_key: an open-addressing hash table (linear probing, power-of-two capacity) of
 *    {hash, run} slots keyed by (ua, size), for the exact re-pin lookup. It grows when the
 *    load (dead slots included) would exceed 1/2 and shrinks below 1/8. The same key may appear
 *    more than once: a re-pin with a larger alignment than the existing run's start satisfies
 *    creates a second run for the same range (at most one per alignment, so at most ~29 per key).
 *    Deletion is lazy: a run whose last reference goes stays in its slot, dead (refs == 0, freed
 *    with its slot), skipped by lookups, until dead slots outnumber live ones; then one sweep
 *    over the table removes them all (backward shift, in place). A slot's removal touches a
 *    random place of the table, which stops fitting the caches as regions grow (131072 regions:
 *    4 MiB): removing each at once made freeing a process's regions twice as costly per region
 *    at 131072 as at 16384; the sweep walks the table in order.
 *
 * Every structure that a pin needs to grow is grown before anything is changed, so a pin that
 * fails (-ENOMEM, -ENOSPC, -EINVAL) leaves the logical state exactly as it was. Every allocation
 * after creation asks the owner's hook first (core/memory_priv.h), so failure injection reaches
 * each of them.
 *
 * Locking: one mutex (m->lock, util/lock.h) protects every field of struct tcemu_memory and every
 * run, and is held for the whole of each public function except create/destroy (which own the
 * object exclusively) and tcemu_memory_page_shift (page_shift is immutable after create). No
 * callback or allocation failure path leaves it held; no other lock is ever taken under it. In
 * debug builds the index and hash helpers assert that it is held, and the counts that they stay
 * within their arrays and that a run's references are above 0 before an unpin.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tcemu/memory.h>

#include "core/memory_priv.h"
#include "util/alloc.h"
#include "util/lock.h"

#define DEFAULT_HPA_BASE 0x40000000ull /* 1 GiB */
#define DEFAULT_HPA_LIMIT (1ull << 50)
#define MAX_ALIGN_SHIFT 40u
#define KEY_MIN_CAP 16u  /* smallest hash table (power of two) */
#define INDEX_MIN_CAP 16u /* smallest sorted index */
#define BLOCK_MAX_ENTRIES 1024u /* a block with this many entries (live or dead) takes no more runs */
#define ROOM_SHIFT 8u /* a new block's room on each side of its first run: 256 times its size... */
#define ROOM_MAX (1ull << 30) /* ... at most 1 GiB */
#define WASTE_PART 64u /* no more room once the room wasted reaches this part of the space */

/* Entries sorted by start (see the top of the file): live ones and tombstones (item NULL). */
struct sorted_index {
	uint64_t *starts; /* entry start; kept for tombstones too */
	void **items;     /* struct block * or struct run *; NULL: tombstone */
	size_t len;       /* entries in use (live + tombstones) */
	size_t cap;       /* both arrays hold at least this many entries */
	size_t dead;      /* tombstones among the first len entries */
};

struct block {
	uint64_t start, end; /* the reserved simulated addresses [start, end) */
	uint64_t low, high;  /* start of the lowest run ever placed in it, end of the highest */
	bool closed;         /* a run of it died, or it is full: it takes no more runs */
	struct sorted_index runs; /* empty (len 0) once no run is live: the block is freed */
};

struct run {
	uint64_t ua;    /* process address of the run's first byte */
	uint64_t size;  /* bytes (system-page multiple, > 0) */
	uint64_t start; /* simulated hpa of ua */
	uint64_t refs;  /* pin references; the run dies when this reaches 0 */
	struct block *block; /* the block it lies in (meaningless once dead) */
};

/* A hash slot caches the key's hash, so probing and backward shifts need not touch the run. */
struct key_slot {
	uint64_t hash;   /* key_hash(run->ua, run->size) */
	struct run *run; /* NULL: empty */
};

struct tcemu_memory {
	struct tcemu_mutex lock;
	uint32_t page_shift; /* immutable after create */
	uint64_t hpa_base;
	uint64_t hpa_limit;
	uint64_t next_hpa; /* bump pointer: the end of the last block (or hpa_base) */
	struct sorted_index blocks; /* the live blocks, by start */
	struct block *spare; /* the last block freed, kept with its arrays for the next new one (or NULL) */
	uint64_t wasted;     /* room of freed blocks that no run ever used */

	struct tcemu_alloc_hook hook; /* asked before every allocation after creation (core/memory_priv.h) */

	struct key_slot *by_key; /* hash slots; run == NULL: empty */
	size_t key_cap;      /* power of two */
	size_t key_count;    /* slots in use, dead ones included */
	size_t key_dead;     /* slots holding a dead run (refs == 0) */

	/* statistics */
	uint64_t pins;
	uint64_t pinned_bytes;
	uint64_t references;
};

/* ---------------------------------------------------------------------------------------------
 * Hash table keyed by (ua, size)
 */

static uint64_t mix64(uint64_t x)
{
	/* A 64-bit finalizer (xor-shift-multiply); spreads page-aligned keys over all bits. */
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

static uint64_t key_hash(uint64_t ua, uint64_t size)
{
	return mix64(ua ^ mix64(size + 0x9e3779b97f4a7c15ull));
}

/* Inserts (hash, r) into slots (capacity cap, known to have a free slot). */
static void key_place(struct key_slot *slots, size_t cap, uint64_t hash, struct run *r)
{
	size_t i = (size_t)hash & (cap - 1);
	while (slots[i].run)
		i = (i + 1) & (cap - 1);
	slots[i] = (struct key_slot){ .hash = hash, .run = r };
}

/* Rebuilds the table with new_cap slots. -ENOMEM leaves the table as it was. */
static int key_resize(struct tcemu_memory *m, size_t new_cap)
{
	TCEMU_ASSERT_HELD(&m->lock);
	TCEMU_ASSERT(TCEMU_IS_POW2(new_cap) && (m->key_count - m->key_dead) * 2 <= new_cap);
	struct key_slot *slots = alloc_hook_ok(&m->hook) ? calloc(new_cap, sizeof(*slots)) : NULL;
	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < m->key_cap; i++) {
		struct run *r = m->by_key[i].run;

		if (r && r->refs)
			key_place(slots, new_cap, m->by_key[i].hash, r);
		else if (r)
			free(r); /* dead: its slot goes with it */
	}
	free(m->by_key);
	m->by_key = slots;
	m->key_cap = new_cap;
	m->key_count -= m->key_dead;
	m->key_dead = 0;
	return 0;
}

static void key_sweep(struct tcemu_memory *m);

/* Makes room for one more key (load stays <= 1/2 after the insertion). */
static int key_reserve_one(struct tcemu_memory *m)
{
	TCEMU_ASSERT_HELD(&m->lock);
	if ((m->key_count + 1) * 2 <= m->key_cap)
		return 0;
	if (m->key_dead) {
		key_sweep(m); /* room from the dead first */
		if ((m->key_count + 1) * 2 <= m->key_cap)
			return 0;
	}
	if (m->key_cap > SIZE_MAX / 2 / sizeof(struct key_slot))
		return -ENOMEM;
	return key_resize(m, m->key_cap * 2);
}

/*
 * The live run for exactly (ua, size) whose start is aligned to align_mask + 1; when several
 * qualify, the one with the lowest start (the oldest). NULL if none.
 */
static struct run *key_find(const struct tcemu_memory *m, uint64_t ua, uint64_t size, uint64_t align_mask)
{
	uint64_t hash = key_hash(ua, size);
	size_t mask = m->key_cap - 1;
	struct run *best = NULL;

	TCEMU_ASSERT_HELD(&m->lock);
	TCEMU_ASSERT(m->key_count < m->key_cap); /* a free slot ends every probe */
	for (size_t i = (size_t)hash & mask; m->by_key[i].run; i = (i + 1) & mask) {
		struct run *r = m->by_key[i].run;
		if (m->by_key[i].hash != hash || !r->refs || r->ua != ua || r->size != size || (r->start & align_mask))
			continue;
		if (!best || r->start < best->start)
			best = r;
	}
	return best;
}

/* Empties slot i with backward-shift deletion: later members of its cluster move back. */
static void key_delete_at(struct tcemu_memory *m, size_t i)
{
	size_t mask = m->key_cap - 1;

	TCEMU_ASSERT_HELD(&m->lock);
	TCEMU_ASSERT(m->key_count > 0 && m->by_key[i].run);
	/* Pull back every later member of the cluster whose home is not in (i, j]. */
	for (size_t j = (i + 1) & mask; m->by_key[j].run; j = (j + 1) & mask) {
		size_t home = (size_t)m->by_key[j].hash & mask;
		/* distance from its home to j vs. from the hole to j, both mod cap */
		if (((j - home) & mask) >= ((j - i) & mask)) {
			m->by_key[i] = m->by_key[j];
			i = j;
		}
	}
	m->by_key[i] = (struct key_slot){ 0 };
	m->key_count--;
}

/*
 * Frees every dead run and empties its slot, in one pass in slot order. The pass starts after an
 * empty slot, so no cluster wraps around its start; a deletion pulls later members of the
 * cluster back to the slot just emptied or after it, and that slot is looked at again, so every
 * member is seen. Then shrinks a sparse table (a failure to shrink is harmless).
 */
static void key_sweep(struct tcemu_memory *m)
{
	size_t mask = m->key_cap - 1, s = 0;

	TCEMU_ASSERT_HELD(&m->lock);
	while (m->by_key[s].run)
		s++; /* load <= 1/2: there is an empty slot */
	for (size_t n = 1; n < m->key_cap && m->key_dead; n++) {
		size_t i = (s + n) & mask;
		struct run *r;

		while ((r = m->by_key[i].run) && !r->refs) {
			key_delete_at(m, i);
			m->key_dead--;
			free(r);
		}
	}
	TCEMU_ASSERT(m->key_dead == 0);
	size_t cap = m->key_cap;
	while (cap > KEY_MIN_CAP && m->key_count * 8 < cap)
		cap /= 2;
	if (cap != m->key_cap)
		(void)key_resize(m, cap);
}

/* ---------------------------------------------------------------------------------------------
 * Sorted indexes (blocks by start, and each block's runs by start)
 */

/* Drops every tombstone of ix, keeping order. */
static void index_compact(struct tcemu_memory *m, struct sorted_index *ix)
{
	size_t w = 0;

	TCEMU_ASSERT_HELD(&m->lock);
	for (size_t i = 0; i < ix->len; i++) {
		if (ix->items[i]) {
			ix->starts[w] = ix->starts[i];
			ix->items[w] = ix->items[i];
			w++;
		}
	}
	ix->len = w;
	ix->dead = 0;

	/*
	 * Give back memory when mostly empty. Failure to shrink is harmless: a block whose realloc
	 * failed keeps its old, larger size, so both arrays hold at least cap entries either way.
	 */
	if (ix->cap > INDEX_MIN_CAP && ix->len * 4 < ix->cap) {
		size_t cap = ix->cap / 2;
		uint64_t *s = alloc_hook_ok(&m->hook) ? realloc(ix->starts, cap * sizeof(*s)) : NULL;
		if (s)
			ix->starts = s;
		void **it = alloc_hook_ok(&m->hook) ? realloc(ix->items, cap * sizeof(*it)) : NULL;
		if (it)
			ix->items = it;
		ix->cap = cap;
	}
}

/*
 * Makes room to add one entry to ix. A full array with at least a quarter tombstones is
 * compacted instead of grown (so each compaction frees enough slots to pay for itself);
 * compaction changes no lookup result.
 */
static int index_reserve_one(struct tcemu_memory *m, struct sorted_index *ix)
{
	TCEMU_ASSERT_HELD(&m->lock);
	TCEMU_ASSERT(ix->len <= ix->cap && ix->dead <= ix->len);
	if (ix->len < ix->cap)
		return 0;
	if (ix->dead && ix->dead >= ix->cap / 4) {
		index_compact(m, ix);
		if (ix->len < ix->cap)
			return 0;
	}
	size_t cap = ix->cap ? ix->cap * 2 : INDEX_MIN_CAP;
	if (cap > SIZE_MAX / sizeof(uint64_t))
		return -ENOMEM;
	/* If only the first grows, it just stays bigger than cap says: no state changes. */
	uint64_t *s = alloc_hook_ok(&m->hook) ? realloc(ix->starts, cap * sizeof(*s)) : NULL;
	if (!s)
		return -ENOMEM;
	ix->starts = s;
	void **it = alloc_hook_ok(&m->hook) ? realloc(ix->items, cap * sizeof(*it)) : NULL;
	if (!it)
		return -ENOMEM;
	ix->items = it;
	ix->cap = cap;
	return 0;
}

/* The position of the entry with the greatest start <= x (live or a tombstone), or -1. */
static ptrdiff_t index_floor(const struct sorted_index *ix, uint64_t x)
{
	size_t lo = 0, hi = ix->len;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (ix->starts[mid] <= x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (ptrdiff_t)lo - 1;
}

/* Puts (start, item) at position at, after the entries before it (room reserved, order kept). */
static void index_insert(struct sorted_index *ix, size_t at, uint64_t start, void *item)
{
	TCEMU_ASSERT(ix->len < ix->cap && at <= ix->len);
	TCEMU_ASSERT((at == 0 || ix->starts[at - 1] < start) && (at == ix->len || start < ix->starts[at]));
	memmove(&ix->starts[at + 1], &ix->starts[at], (ix->len - at) * sizeof(*ix->starts));
	memmove(&ix->items[at + 1], &ix->items[at], (ix->len - at) * sizeof(*ix->items));
	ix->starts[at] = start;
	ix->items[at] = item;
	ix->len++;
}

/* Turns entry idx of ix into a tombstone; pops trailing tombstones and compacts when they dominate. */
static void index_remove(struct tcemu_memory *m, struct sorted_index *ix, size_t idx)
{
	TCEMU_ASSERT_HELD(&m->lock);
	TCEMU_ASSERT(idx < ix->len && ix->items[idx] && ix->dead < ix->len);
	ix->items[idx] = NULL;
	ix->dead++;
	while (ix->len && !ix->items[ix->len - 1]) {
		ix->len--;
		ix->dead--;
	}
	if (ix->dead > ix->len - ix->dead)
		index_compact(m, ix);
}

/* The live run containing hpa, with its position in its block's index and its block's in the memory's; or NULL. */
static struct run *run_find(struct tcemu_memory *m, uint64_t hpa, size_t *block_at, size_t *run_at)
{
	TCEMU_ASSERT_HELD(&m->lock);
	ptrdiff_t i = index_floor(&m->blocks, hpa);
	if (i < 0)
		return NULL;
	struct block *b = m->blocks.items[i];
	if (!b || hpa >= b->end)
		return NULL;
	ptrdiff_t j = index_floor(&b->runs, hpa);
	if (j < 0)
		return NULL;
	struct run *r = b->runs.items[j];
	if (!r || hpa - r->start >= r->size)
		return NULL;
	*block_at = (size_t)i;
	*run_at = (size_t)j;
	return r;
}

/* Closes b for good; a block at the top gives its unused tail back to the bump pointer. */
static void block_close(struct tcemu_memory *m, struct block *b)
{
	TCEMU_ASSERT_HELD(&m->lock);
	b->closed = true;
	if (b->end == m->next_hpa) {
		b->end = b->high;
		m->next_hpa = b->high;
	}
}

static void block_destroy(struct block *b)
{
	if (b) {
		free(b->runs.starts);
		free(b->runs.items);
		free(b);
	}
}

/*
 * Takes b (no live run left, entry at of the memory's index) out of the index; keeps it, emptied,
 * as the spare for the next new block (so a register/unregister loop allocates nothing), or
 * frees it when there is one.
 */
static void block_free(struct tcemu_memory *m, struct block *b, size_t at)
{
	TCEMU_ASSERT_HELD(&m->lock);
	TCEMU_ASSERT(b->runs.len == 0 && m->blocks.items[at] == b);
	index_remove(m, &m->blocks, at);
	m->wasted += (b->low - b->start) + (b->end - b->high);
	if (m->spare) {
		block_destroy(b);
		return;
	}
	m->spare = b; /* its runs index is empty: tombstones at the end are popped */
}

/* ---------------------------------------------------------------------------------------------
 * Placement
 */

/* Where a new run goes: in block b at entry position at (b NULL: in a new block [bstart, bend)). */
struct place {
	struct block *b;
	size_t at;
	uint64_t start;       /* the run's first frame */
	uint64_t bstart, bend; /* a new block's reservation */
};

/* The room a new block keeps on each side of its first run, of a pin of size bytes. */
static uint64_t room_for(uint64_t size)
{
	return size > (ROOM_MAX >> ROOM_SHIFT) ? ROOM_MAX : size << ROOM_SHIFT;
}

/*
 * Whether [start, start + size) can go in open block b: inside it (or, with grow, at its end
 * when b is at the top), free, b not full. Sets pl. An open block has no tombstone, and its
 * runs never overlap, so only the run with the greatest start below the range's end can overlap.
 */
static bool place_in(const struct tcemu_memory *m, struct block *b, uint64_t start, uint64_t size, bool grow,
		     struct place *pl)
{
	if (b->closed || b->runs.len >= BLOCK_MAX_ENTRIES || start < b->start)
		return false;
	if (start >= b->end || size > b->end - start) {
		/* past its end: only a block at the top grows, and only while the space lasts */
		if (!grow || b->end != m->next_hpa || start < b->end || start > m->hpa_limit ||
		    size > m->hpa_limit - start)
			return false;
	}
	ptrdiff_t j = index_floor(&b->runs, start + size - 1);
	if (j >= 0) {
		const struct run *r = b->runs.items[j];
		if (r->start + r->size > start)
			return false;
	}
	*pl = (struct place){ .b = b, .at = (size_t)(j + 1), .start = start };
	return true;
}

/* A new block from the bump pointer, with lead bytes before the run and room after it; false if it does not fit. */
static bool place_new(const struct tcemu_memory *m, uint64_t start, uint64_t size, uint64_t room, struct place *pl)
{
	if (start > m->hpa_limit || size > m->hpa_limit - start || room > m->hpa_limit - start - size)
		return false;
	*pl = (struct place){ .start = start, .bstart = m->next_hpa, .bend = start + size + room };
	return true;
}

/* At the bump pointer top (aligned): at the end of the top block when it is open, else a block of its own. */
static int place_bump(const struct tcemu_memory *m, uint64_t top, uint64_t size, struct place *pl)
{
	struct block *b = m->blocks.len ? m->blocks.items[m->blocks.len - 1] : NULL;

	if (b && place_in(m, b, top, size, true, pl))
		return 0;
	return place_new(m, top, size, 0, pl) ? 0 : -ENOSPC;
}

/*
 * Chooses where a new run of [ua, ua + size) goes (see the top of the file); -ENOSPC when the
 * space is full. Changes nothing.
 */
static int place_choose(struct tcemu_memory *m, uint64_t ua, uint64_t size, uint64_t align_mask,
			const struct memory_hint *hints, unsigned nhints, bool near, struct place *pl)
{
	TCEMU_ASSERT_HELD(&m->lock);
	if (m->next_hpa > UINT64_MAX - align_mask)
		return -ENOSPC;
	const uint64_t top = (m->next_hpa + align_mask) & ~align_mask;
	const uint64_t room = room_for(size);

	if (!near)
		return place_bump(m, top, size, pl);
	bool open_near = false; /* a hint's block is open, but the place it gives is out of it */
	for (unsigned k = 0; k < nhints; k++) {
		size_t bi, ri;
		const struct run *h = run_find(m, hints[k].hpa, &bi, &ri);
		uint64_t start;

		if (!h)
			continue;
		open_near |= !h->block->closed;
		/* as far from the hint's frame as ua is from the hint's address */
		if (ua >= hints[k].ua) {
			if (ua - hints[k].ua > UINT64_MAX - hints[k].hpa)
				continue;
			start = hints[k].hpa + (ua - hints[k].ua);
		} else {
			if (hints[k].ua - ua > hints[k].hpa)
				continue;
			start = hints[k].hpa - (hints[k].ua - ua);
		}
		if (start & align_mask)
			continue;
		if (place_in(m, h->block, start, size, false, pl))
			return 0;
		/* at or a little above the bump pointer: a new block begins there */
		if (start >= top && start - top <= room && place_new(m, start, size, room, pl))
			return 0;
	}
	/*
	 * A block of its own, with room on both sides for the ranges around it, when a neighbour's
	 * block is open (with none, or only closed ones, ranges come and go here: the room would be
	 * wasted at each turn) and the room wasted so far stays within budget; else, or if the room
	 * does not fit, at the bump pointer.
	 */
	if (open_near && m->wasted < (m->hpa_limit - m->hpa_base) / WASTE_PART && room <= UINT64_MAX - align_mask - top &&
	    place_new(m, (top + room + align_mask) & ~align_mask, size, room, pl))
		return 0;
	return place_bump(m, top, size, pl);
}

/* ---------------------------------------------------------------------------------------------
 * Public functions
 */

static int system_page_shift(uint32_t *shift)
{
	long ps = sysconf(_SC_PAGESIZE);
	if (ps <= 0 || (ps & (ps - 1)))
		return -EINVAL;
	*shift = (uint32_t)__builtin_ctzl((unsigned long)ps);
	return 0;
}

TCEMU_EXPORT int tcemu_memory_create(const struct tcemu_memory_params *p, struct tcemu_memory **out)
{
	if (!p || !out)
		return -EINVAL;

	uint32_t shift = p->sys_page_shift;
	if (shift == 0 && system_page_shift(&shift) < 0)
		return -EINVAL;
	if (shift != 12 && shift != 16)
		return -EINVAL;
	uint64_t base = p->hpa_base ? p->hpa_base : DEFAULT_HPA_BASE;
	uint64_t limit = p->hpa_limit ? p->hpa_limit : DEFAULT_HPA_LIMIT;
	if ((base & ((1ull << shift) - 1)) || limit <= base)
		return -EINVAL;

	struct tcemu_memory *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	int rc = -ENOMEM;
	m->by_key = calloc(KEY_MIN_CAP, sizeof(*m->by_key));
	if (!m->by_key)
		goto free_m;
	m->key_cap = KEY_MIN_CAP;
	rc = tcemu_mutex_init(&m->lock);
	if (rc)
		goto free_by_key;

	m->page_shift = shift;
	m->hpa_base = base;
	m->hpa_limit = limit;
	m->next_hpa = base;
	*out = m;
	return 0;

free_by_key:
	free(m->by_key);
free_m:
	free(m);
	return rc;
}

void memory_set_alloc_hook(struct tcemu_memory *m, const struct tcemu_alloc_hook *hook)
{
	m->hook = *hook;
}

TCEMU_EXPORT void tcemu_memory_destroy(struct tcemu_memory *m)
{
	if (!m)
		return;
	/* every run, live or dead, has its key slot */
	for (size_t i = 0; i < m->key_cap; i++)
		free(m->by_key[i].run);
	for (size_t i = 0; i < m->blocks.len; i++)
		block_destroy(m->blocks.items[i]);
	block_destroy(m->spare);
	free(m->blocks.items);
	free(m->blocks.starts);
	free(m->by_key);
	tcemu_mutex_destroy(&m->lock);
	free(m);
}

TCEMU_EXPORT uint32_t tcemu_memory_page_shift(const struct tcemu_memory *m)
{
	/* Immutable after create: no lock needed. */
	return m ? m->page_shift : 0;
}

/* A pin; near: placed as memory_pin_near says (else at the bump pointer). */
static int pin(struct tcemu_memory *m, uint64_t ua, uint64_t size, uint32_t align_shift,
	       const struct memory_hint *hints, unsigned nhints, bool near, uint64_t *hpa)
{
	if (!m || !hpa || (nhints && !hints))
		return -EINVAL;
	uint64_t page_mask = (1ull << m->page_shift) - 1;
	/* The last byte must not wrap; a range ending exactly at 2^64 is fine. */
	if (size == 0 || (ua & page_mask) || (size & page_mask) || size - 1 > UINT64_MAX - ua)
		return -EINVAL;
	if (align_shift == 0)
		align_shift = m->page_shift;
	if (align_shift < m->page_shift || align_shift > MAX_ALIGN_SHIFT)
		return -EINVAL;
	uint64_t align_mask = (1ull << align_shift) - 1;
	if (ua & align_mask)
		return -EINVAL;

	int rc;
	struct place pl;
	struct block *nb = NULL;
	tcemu_mutex_lock(&m->lock);

	struct run *r = key_find(m, ua, size, align_mask);
	if (r) {
		r->refs++;
		m->references++;
		*hpa = r->start;
		rc = 0;
		goto unlock;
	}
	rc = place_choose(m, ua, size, align_mask, hints, nhints, near, &pl);
	if (rc)
		goto unlock;

	/* Reserve everything first so nothing below can fail. */
	rc = -ENOMEM;
	r = alloc_hook_ok(&m->hook) ? malloc(sizeof(*r)) : NULL;
	if (!r)
		goto unlock;
	rc = key_reserve_one(m);
	if (rc)
		goto free_run;
	if (!pl.b) {
		rc = -ENOMEM;
		nb = m->spare ? m->spare : alloc_hook_ok(&m->hook) ? calloc(1, sizeof(*nb)) : NULL;
		if (!nb)
			goto free_run;
		m->spare = NULL;
		rc = index_reserve_one(m, &nb->runs);
		if (rc)
			goto free_block;
		rc = index_reserve_one(m, &m->blocks);
		if (rc)
			goto free_block;
	} else {
		rc = index_reserve_one(m, &pl.b->runs);
		if (rc)
			goto free_run;
	}

	TCEMU_ASSERT((m->key_count + 1) * 2 <= m->key_cap); /* reserved above */
	if (nb) {
		*nb = (struct block){ .start = pl.bstart, .end = pl.bend, .low = pl.start, .high = pl.start, .runs = nb->runs };
		TCEMU_ASSERT(!m->blocks.len || m->blocks.starts[m->blocks.len - 1] < nb->start);
		index_insert(&m->blocks, m->blocks.len, nb->start, nb);
		m->next_hpa = nb->end;
		pl.b = nb;
	}
	struct block *b = pl.b;
	*r = (struct run){ .ua = ua, .size = size, .start = pl.start, .refs = 1, .block = b };
	key_place(m->by_key, m->key_cap, key_hash(ua, size), r);
	m->key_count++;
	index_insert(&b->runs, pl.at, pl.start, r);
	if (pl.start + size > b->end) { /* grown at the top */
		b->end = pl.start + size;
		m->next_hpa = b->end;
	}
	if (pl.start + size > b->high)
		b->high = pl.start + size;
	if (pl.start < b->low)
		b->low = pl.start;
	if (b->runs.len >= BLOCK_MAX_ENTRIES)
		block_close(m, b);
	m->pins++;
	m->pinned_bytes += size;
	m->references++;
	*hpa = pl.start;
	tcemu_mutex_unlock(&m->lock);
	return 0;

free_block:
	m->spare = nb; /* empty, with whatever arrays it got */
free_run:
	free(r);
unlock:
	tcemu_mutex_unlock(&m->lock);
	return rc;
}

TCEMU_EXPORT int tcemu_memory_pin(struct tcemu_memory *m, uint64_t ua, uint64_t size, uint32_t align_shift,
				  uint64_t *hpa)
{
	return pin(m, ua, size, align_shift, NULL, 0, false, hpa);
}

int memory_pin_near(struct tcemu_memory *m, uint64_t ua, uint64_t size, uint32_t align_shift,
		    const struct memory_hint *hints, unsigned nhints, uint64_t *hpa)
{
	return pin(m, ua, size, align_shift, hints, nhints, true, hpa);
}

TCEMU_EXPORT int tcemu_memory_unpin(struct tcemu_memory *m, uint64_t hpa)
{
	if (!m)
		return -EINVAL;

	int rc = -ENOENT;
	size_t bi, ri;
	tcemu_mutex_lock(&m->lock);
	struct run *r = run_find(m, hpa, &bi, &ri);
	if (!r)
		goto unlock;

	TCEMU_ASSERT(r->refs > 0 && m->references > 0);
	m->references--;
	if (--r->refs == 0) {
		/* dead: out of its block now (which closes), out of the key table (and freed) at the next sweep */
		struct block *b = r->block;
		index_remove(m, &b->runs, ri);
		if (!b->closed)
			block_close(m, b);
		if (b->runs.len == 0) /* trailing tombstones are popped: no live run left */
			block_free(m, b, bi);
		m->pins--;
		m->pinned_bytes -= r->size;
		if (++m->key_dead * 2 > m->key_count)
			key_sweep(m);
	}
	rc = 0;

unlock:
	tcemu_mutex_unlock(&m->lock);
	return rc;
}

TCEMU_EXPORT int tcemu_memory_hpa_to_ua(struct tcemu_memory *m, uint64_t hpa, uint64_t *ua, uint64_t *avail)
{
	if (!m || !ua)
		return -EINVAL;

	int rc = -ENOENT;
	size_t bi, ri;
	tcemu_mutex_lock(&m->lock);
	const struct run *r = run_find(m, hpa, &bi, &ri);
	if (r) {
		*ua = r->ua + (hpa - r->start);
		if (avail)
			*avail = r->size - (hpa - r->start);
		rc = 0;
	}
	tcemu_mutex_unlock(&m->lock);
	return rc;
}

TCEMU_EXPORT void tcemu_memory_stats(struct tcemu_memory *m, struct tcemu_memory_stats *st)
{
	if (!st)
		return;
	memset(st, 0, sizeof(*st));
	if (!m)
		return;
	tcemu_mutex_lock(&m->lock);
	st->pins = m->pins;
	st->pinned_bytes = m->pinned_bytes;
	st->references = m->references;
	st->next_hpa = m->next_hpa;
	tcemu_mutex_unlock(&m->lock);
}

static int range_cmp(const void *a, const void *b)
{
	const struct memory_range *x = a, *y = b;

	return x->ua < y->ua ? -1 : x->ua > y->ua;
}

int memory_pinned_ranges(struct tcemu_memory *m, struct memory_range **out, size_t *n)
{
	struct memory_range *r = NULL;
	size_t k = 0;

	*out = NULL;
	*n = 0;
	tcemu_mutex_lock(&m->lock);
	if (m->pins) {
		r = malloc(m->pins * sizeof(*r));
		if (!r) {
			tcemu_mutex_unlock(&m->lock);
			return -ENOMEM;
		}
		for (size_t i = 0; i < m->blocks.len; i++) {
			const struct block *b = m->blocks.items[i];
			for (size_t j = 0; b && j < b->runs.len; j++) {
				const struct run *run = b->runs.items[j];
				if (run)
					r[k++] = (struct memory_range){ run->ua, run->size };
			}
		}
		TCEMU_ASSERT(k == m->pins);
	}
	tcemu_mutex_unlock(&m->lock);
	if (!k)
		return 0;
	qsort(r, k, sizeof(*r), range_cmp);
	size_t w = 0;
	for (size_t i = 1; i < k; i++) {
		if (r[i].ua <= r[w].ua + r[w].size) {
			uint64_t end = r[i].ua + r[i].size;
			if (end > r[w].ua + r[w].size)
				r[w].size = end - r[w].ua;
		} else {
			r[++w] = r[i];
		}
	}
	*out = r;
	*n = w + 1;
	return 0;
}
