/* SPDX-License-Identifier: MIT */
/*
 * Simulated host physical memory (see include/tcemu/memory.h for the contract).
 *
 * Model: two bump allocators hand out runs of simulated host-physical addresses from
 * [hpa_base, hpa_limit): upward from hpa_base (next_hpa only grows) and, for a pin that says
 * which run holds the memory right after it (memory_pin_beside, used by pre-registration),
 * downward from hpa_limit (low only shrinks), never crossing. So frames are never handed out
 * twice while the object lives. A run is contiguous: the hpa of ua + k is run->start + k. Ranges
 * pinned in ascending address order get frames that follow each other from the upward pointer;
 * ranges pinned in descending order get them from the downward one (each placed right below the
 * one before), so a map across such regions is one linear run either way.
 *
 * Data structures (n = live runs):
 *  - Each run is an individually allocated struct run.
 *  - The hpa index, one per direction (the downward one sorted descending, so both append):
 *    two parallel arrays, starts[] (run start addresses, sorted) and runs[] (the
 *    run pointers), kept apart so the binary search only touches 8 bytes per entry. Because starts
 *    only grow, a new run is always appended. Unpinning the last reference turns the entry into a
 *    tombstone (runs[i] == NULL, starts[i] kept so the array stays sorted); trailing tombstones
 *    are popped at once, and the arrays are compacted when tombstones outnumber live entries
 *    (amortized O(1)). Lookups binary-search starts[]: the only run that can contain hpa is the
 *    entry with the greatest start <= hpa (runs never overlap); if that entry is a tombstone, no
 *    live run does.
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
#define HPA_MIN_CAP 16u  /* smallest hpa index */

/* An index of runs by start: live entries plus tombstones, in the order they were made. */
struct hpa_index {
	uint64_t *starts;  /* run start; kept for tombstones too */
	struct run **runs; /* NULL: tombstone */
	size_t len;        /* entries in use (live + tombstones) */
	size_t cap;        /* both arrays hold at least this many entries */
	size_t dead;       /* tombstones among the first len entries */
};

struct run {
	uint64_t ua;    /* process address of the run's first byte */
	uint64_t size;  /* bytes (system-page multiple, > 0) */
	uint64_t start; /* simulated hpa of ua */
	uint64_t refs;  /* pin references; the run is freed when this reaches 0 */
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
	uint64_t next_hpa; /* upward bump pointer: end of the last upward run ever made (or hpa_base) */
	uint64_t low;      /* downward bump pointer: start of the last downward run ever made (or hpa_limit) */

	struct hpa_index up;   /* the runs of [hpa_base, next_hpa), by start ascending */
	struct hpa_index down; /* the runs of [low, hpa_limit), by start descending */

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
 * hpa index (sorted by start)
 */

/* Drops every tombstone of ix, keeping order. */
static void hpa_compact(struct tcemu_memory *m, struct hpa_index *ix)
{
	size_t w = 0;

	TCEMU_ASSERT_HELD(&m->lock);
	for (size_t i = 0; i < ix->len; i++) {
		if (ix->runs[i]) {
			ix->starts[w] = ix->starts[i];
			ix->runs[w] = ix->runs[i];
			w++;
		}
	}
	ix->len = w;
	ix->dead = 0;

	/*
	 * Give back memory when mostly empty. Failure to shrink is harmless: a block whose realloc
	 * failed keeps its old, larger size, so both arrays hold at least cap entries either way.
	 */
	if (ix->cap > HPA_MIN_CAP && ix->len * 4 < ix->cap) {
		size_t cap = ix->cap / 2;
		uint64_t *s = alloc_hook_ok(&m->hook) ? realloc(ix->starts, cap * sizeof(*s)) : NULL;
		if (s)
			ix->starts = s;
		struct run **r = alloc_hook_ok(&m->hook) ? realloc(ix->runs, cap * sizeof(*r)) : NULL;
		if (r)
			ix->runs = r;
		ix->cap = cap;
	}
}

/*
 * Makes room to append one entry to ix. A full array with at least a quarter tombstones is
 * compacted instead of grown (so each compaction frees enough slots to pay for itself);
 * compaction changes no lookup result.
 */
static int hpa_reserve_one(struct tcemu_memory *m, struct hpa_index *ix)
{
	TCEMU_ASSERT_HELD(&m->lock);
	TCEMU_ASSERT(ix->len <= ix->cap && ix->dead <= ix->len);
	if (ix->len < ix->cap)
		return 0;
	if (ix->dead && ix->dead >= ix->cap / 4) {
		hpa_compact(m, ix);
		if (ix->len < ix->cap)
			return 0;
	}
	size_t cap = ix->cap ? ix->cap * 2 : HPA_MIN_CAP;
	if (cap > SIZE_MAX / sizeof(uint64_t))
		return -ENOMEM;
	/* If only the first grows, it just stays bigger than cap says: no state changes. */
	uint64_t *s = alloc_hook_ok(&m->hook) ? realloc(ix->starts, cap * sizeof(*s)) : NULL;
	if (!s)
		return -ENOMEM;
	ix->starts = s;
	struct run **r = alloc_hook_ok(&m->hook) ? realloc(ix->runs, cap * sizeof(*r)) : NULL;
	if (!r)
		return -ENOMEM;
	ix->runs = r;
	ix->cap = cap;
	return 0;
}

/*
 * The index holding hpa (the downward one from low on) and the position of the live entry
 * containing it, or -1. O(log n): the only run that can contain hpa is the one with the greatest
 * start <= hpa (runs never overlap); if that entry is a tombstone, no live run does.
 */
static ptrdiff_t hpa_find(struct tcemu_memory *m, uint64_t hpa, struct hpa_index **which)
{
	const bool down = hpa >= m->low;
	struct hpa_index *ix = down ? &m->down : &m->up;
	size_t lo = 0, hi = ix->len, at;

	TCEMU_ASSERT_HELD(&m->lock);
	*which = ix;
	/* ascending: the first entry with start > hpa, the candidate before it; descending: the first with start <= hpa */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if ((ix->starts[mid] <= hpa) != down)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (down ? lo == ix->len : lo == 0)
		return -1;
	at = down ? lo : lo - 1;
	const struct run *r = ix->runs[at];
	if (!r || hpa - r->start >= r->size)
		return -1;
	return (ptrdiff_t)at;
}

/* Turns entry idx of ix into a tombstone; pops trailing tombstones and compacts when they dominate. */
static void hpa_remove(struct tcemu_memory *m, struct hpa_index *ix, size_t idx)
{
	TCEMU_ASSERT_HELD(&m->lock);
	TCEMU_ASSERT(idx < ix->len && ix->runs[idx] && ix->dead < ix->len);
	ix->runs[idx] = NULL;
	ix->dead++;
	while (ix->len && !ix->runs[ix->len - 1]) {
		ix->len--;
		ix->dead--;
	}
	if (ix->dead > ix->len - ix->dead)
		hpa_compact(m, ix);
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
	m->low = limit;
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
	free(m->up.runs);
	free(m->up.starts);
	free(m->down.runs);
	free(m->down.starts);
	free(m->by_key);
	tcemu_mutex_destroy(&m->lock);
	free(m);
}

TCEMU_EXPORT uint32_t tcemu_memory_page_shift(const struct tcemu_memory *m)
{
	/* Immutable after create: no lock needed. */
	return m ? m->page_shift : 0;
}

/*
 * A pin; right: the start of the run that holds the memory right after the range, or 0 (see
 * memory_pin_beside). Downward runs are made only when right is given.
 */
static int pin(struct tcemu_memory *m, uint64_t ua, uint64_t size, uint32_t align_shift, uint64_t right, uint64_t *hpa)
{
	if (!m || !hpa)
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
	tcemu_mutex_lock(&m->lock);

	struct run *r = key_find(m, ua, size, align_mask);
	if (r) {
		r->refs++;
		m->references++;
		*hpa = r->start;
		rc = 0;
		goto unlock;
	}

	/*
	 * Where the new run would go, and whether it fits: below the newest downward run when it
	 * holds the memory right after (its frames then follow this run's), else below the downward
	 * runs when other memory right after is pinned (a registration in descending order starts a
	 * stretch there), else above the upward runs. The two never cross.
	 */
	rc = -ENOSPC;
	uint64_t start;
	bool down = false;
	if (right && m->low - m->next_hpa >= size) {
		start = (m->low - size) & ~align_mask;
		down = start >= m->next_hpa;
	}
	if (!down) {
		if (m->next_hpa > UINT64_MAX - align_mask)
			goto unlock;
		start = (m->next_hpa + align_mask) & ~align_mask;
		if (start >= m->low || size > m->low - start)
			goto unlock;
	}
	struct hpa_index *ix = down ? &m->down : &m->up;

	/* Reserve everything first so nothing below can fail. */
	rc = -ENOMEM;
	r = alloc_hook_ok(&m->hook) ? malloc(sizeof(*r)) : NULL;
	if (!r)
		goto unlock;
	rc = key_reserve_one(m);
	if (rc)
		goto free_run;
	rc = hpa_reserve_one(m, ix);
	if (rc)
		goto free_run;

	TCEMU_ASSERT(ix->len < ix->cap && (m->key_count + 1) * 2 <= m->key_cap); /* reserved above */
	*r = (struct run){ .ua = ua, .size = size, .start = start, .refs = 1 };
	key_place(m->by_key, m->key_cap, key_hash(ua, size), r);
	m->key_count++;
	ix->starts[ix->len] = start;
	ix->runs[ix->len] = r;
	ix->len++;
	if (down)
		m->low = start;
	else
		m->next_hpa = start + size;
	m->pins++;
	m->pinned_bytes += size;
	m->references++;
	*hpa = start;
	tcemu_mutex_unlock(&m->lock);
	return 0;

free_run:
	free(r);
unlock:
	tcemu_mutex_unlock(&m->lock);
	return rc;
}

TCEMU_EXPORT int tcemu_memory_pin(struct tcemu_memory *m, uint64_t ua, uint64_t size, uint32_t align_shift,
				  uint64_t *hpa)
{
	return pin(m, ua, size, align_shift, 0, hpa);
}

int memory_pin_beside(struct tcemu_memory *m, uint64_t ua, uint64_t size, uint32_t align_shift, uint64_t right,
		      uint64_t *hpa)
{
	return pin(m, ua, size, align_shift, right, hpa);
}

TCEMU_EXPORT int tcemu_memory_unpin(struct tcemu_memory *m, uint64_t hpa)
{
	if (!m)
		return -EINVAL;

	int rc = -ENOENT;
	tcemu_mutex_lock(&m->lock);
	struct hpa_index *ix;
	ptrdiff_t idx = hpa_find(m, hpa, &ix);
	if (idx < 0)
		goto unlock;

	struct run *r = ix->runs[idx];
	TCEMU_ASSERT(r->refs > 0 && m->references > 0);
	m->references--;
	if (--r->refs == 0) {
		/* dead: out of the hpa index now, out of the key table (and freed) at the next sweep */
		hpa_remove(m, ix, (size_t)idx);
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
	tcemu_mutex_lock(&m->lock);
	struct hpa_index *ix;
	ptrdiff_t idx = hpa_find(m, hpa, &ix);
	if (idx >= 0) {
		const struct run *r = ix->runs[idx];
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
	size_t live = m->up.len - m->up.dead + m->down.len - m->down.dead;
	if (live) {
		r = malloc(live * sizeof(*r));
		if (!r) {
			tcemu_mutex_unlock(&m->lock);
			return -ENOMEM;
		}
		for (int d = 0; d < 2; d++) {
			const struct hpa_index *ix = d ? &m->down : &m->up;
			for (size_t i = 0; i < ix->len; i++)
				if (ix->runs[i])
					r[k++] = (struct memory_range){ ix->runs[i]->ua, ix->runs[i]->size };
		}
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
