/* SPDX-License-Identifier: MIT */
/*
 * The DMA engine: device reads and writes at bus addresses, translated through each PE's TCE
 * tables and a per-PE translation cache into the process memory behind the simulated frames.
 *
 * Per-PE state (struct pe_dma, one cache-line aligned allocation per PE):
 * - A translation cache of CACHE_SETS x CACHE_WAYS entries (set associative), allocated at the
 *   PE's first miss (most PEs of a large topology never do DMA). A set is two cache lines: the
 *   ways' keys (tag and generation in one word: one compare a way) with the cold hpa, then the
 *   ua/len/perm that a hit uses (struct cache_set). An entry covers one
 *   IOMMU page of one window slot: tag = (index in the window << 1) | slot, the page's simulated
 *   host physical address, its permission bits, and the process address of the page with the
 *   number of bytes from the page start that are contiguous in one pinned run (`len`, 0 when the
 *   page start has no memory behind it). Bytes of the page beyond `len` are mapped on every
 *   access through tcemu_memory_hpa_to_ua (a page that spans two pins, or a frame partly pinned).
 *   Invalid TCEs are never cached.
 * - The geometry of each window slot as last seen on a miss (start, size, page shift), so that a
 *   hit needs no table and no PE lock.
 * - A generation `gen`: an entry or a slot geometry is valid only if it carries the current
 *   generation, so a full flush is gen++ (O(1)). Generations start at 1. An entry's key carries
 *   the generation's low 16 bits (never 0; a key of 0 is a dead entry); when they wrap the sets
 *   are cleared (cache_flush), so a key from 2^16 flushes ago never matches.
 * - `kseq`, bumped by every kill (full or ranged). A miss snapshots it before reading the table
 *   and fills the cache only if it has not moved, so a translation read before a kill is never
 *   cached after it.
 * - The counters of struct tcemu_dma_stats.
 * All of the above is protected by `lock`, a spin lock (internal.h) held for lookups, fills,
 * counter updates and fast-path copies (see below), never across a table walk or another lock.
 *
 * Kills (the PE's kill hook, set on every PE at create and removed at destroy): count 0, a slot
 * out of range or a range above KILL_RANGE_MAX entries flush the whole PE (gen++); a smaller
 * range drops exactly the entries of (slot, index .. index + count - 1). A window set, unset or
 * ownership change always arrives as a count-0 kill, which is what keeps the slot geometry right.
 *
 * Kill as a barrier: when tcemu_pe_tce_kill returns, no access is still using a translation it
 * removed, so the caller may unpin and unmap the memory. A short access whose pages all hit (at
 * most LOCKED_COPY_MAX bytes over at most FAST_PAGES pages: the fast path) does its lookups and
 * its copies in one critical section of `lock`, so a kill (which takes `lock`) comes entirely
 * before or after it: the hot path costs a single atomic operation, at the price of serialising
 * the short copies of one PE.
 * Every other access enters the current epoch parity (entered[epoch]++, under `lock` with its
 * first lookup) and leaves it (left[epoch]++, an atomic add) when its copy is done. A kill flips
 * the epoch under `lock` and waits until left[old] reaches entered[old]; kills of one PE are
 * serialised by kill_lock, so the previous kill already drained the other parity. Both counters
 * only grow. Accesses that start after the flip never delay a kill.
 *
 * Atomicity of an access: every page is translated (and its permission checked) before anything
 * is copied, into a list of segments; a fault therefore transfers nothing, and each page's bytes
 * come from one translation (old or new, never a mix) even if a kill runs concurrently.
 *
 * Scatter-gather (dma_access_sg, dma_priv.h): the pages of every element are resolved into one
 * segment list before anything is copied, under one in-flight epoch: all or nothing, like one
 * access.
 *
 * Identity mode (benchmark only, dma_priv.h): a bus address is the process address. Each PE keeps
 * a snapshot of the pinned process memory (sorted, merged ranges from memory_pinned_ranges) under
 * `lock`; an access whose bytes all lie in one range is copied under `lock` (so a kill is a barrier
 * as above), an access outside them refreshes the snapshot once (outside `lock`) and faults if it
 * is still outside. A kill drops the snapshot (memory is unpinned only after its TCEs are killed).
 *
 * Copies (both modes, every path) go through util/fault.c's fault_copy (its handler installed at
 * the first device copy; memcpy where there is no routine): a client may munmap
 * memory it registered or mapped (the pin keeps the frames, not the mapping), and the copy's
 * SIGSEGV/SIGBUS becomes -EFAULT instead of killing the process. The access is then a DMA fault
 * TCEMU_DMA_FAULT_GONE at the bus address of the segment that faulted, and the PE freezes like for
 * any fault; the bytes of the segments before it (and any of the faulting one) may have moved.
 * (Memory mapped again at the same address is reached silently: a process cannot tell.)
 *
 * Stopped state: eeh.c changes the EEH state without telling the engine (injected errors, resets,
 * unfreezes), so every access asks tcemu_pe_dma_stopped (one atomic load) before its lookups.
 *
 * Lock order: kill_lock (a util/lock.h mutex) -> lock. On a miss the spin lock is dropped before
 * tcemu_pe_window (PE mutex) and tcemu_memory_hpa_to_ua (memory mutex). The EEH freeze after a
 * fault is done outside the in-flight section, so a kill never waits for a thread that waits for
 * the PE mutex. In debug builds the cache helpers assert that the spin lock word is held (by
 * someone: a spin lock has no owner).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <tcemu/dma.h>
#include <tcemu/memory.h>
#include <tcemu/platform.h>
#include <tcemu/table.h>

#include "core/dma_priv.h"
#include "core/memory_priv.h"
#include "util/alloc.h"
#include "util/fault.h"
#include "util/internal.h"
#include "util/lock.h"

#define CACHE_WAYS 4u
#define CACHE_SET_BITS 10
#define CACHE_SETS (1u << CACHE_SET_BITS) /* 4096 entries: testpmd's 4096-mbuf pool stays warm */
#define KILL_RANGE_MAX 64u
#define SEGS_INLINE 16u
#define LOCKED_COPY_MAX 16384u /* fast-path copies up to this size run under the PE's lock */
#define FAST_PAGES 8u /* pages of a fast-path copy (one access, or all the elements of a scatter-gather) */

/* One cached translation, as looked up and filled (stored split over a cache_set). */
struct cache_entry {
	uint64_t tag; /* (index << 1) | slot: below 2^48 (index < 2^47: a window offset < 2^59) */
	uint64_t hpa; /* page address */
	uint64_t ua;  /* process address of the page start (when len > 0) */
	uint32_t len; /* contiguous bytes behind ua from the page start, <= page size */
	uint32_t perm;
};

/* What a hit needs of an entry besides its key. */
struct cache_hot {
	uint64_t ua;
	uint32_t len, perm;
};

/*
 * One set, two cache lines: a lookup reads the first (the ways' keys, one compare each) and the
 * hot half of the way that hit in the second. key = tag | (generation mod 2^16) << 48, 0: dead.
 */
struct cache_set {
	uint64_t key[CACHE_WAYS];
	uint64_t hpa[CACHE_WAYS];
	struct cache_hot hot[CACHE_WAYS];
} __attribute__((aligned(64)));
_Static_assert(sizeof(struct cache_set) == 128, "a set is two cache lines");
#define KEY_GEN_SHIFT 48

struct slot_geo {
	uint64_t gen; /* valid iff == pe_dma.gen */
	uint64_t start, size;
	uint32_t shift;
};

struct pe_dma {
	uint32_t lock; /* spin lock: everything below except left[] and kill_lock */
	uint32_t epoch;
	uint32_t victim;
	uint64_t gen;
	uint64_t keygen; /* (gen mod 2^16) << KEY_GEN_SHIFT: never 0 (cache_flush) */
	uint64_t kseq;
	struct slot_geo geo[TCEMU_PE_WINDOWS];
	struct tcemu_dma_stats st;
	struct tcemu_pe *pe;
	struct tcemu_dma *dma;
	uint64_t entered[2]; /* accesses that entered each epoch parity: written under lock */
	uint64_t left[2];    /* accesses that left it: atomic, no lock */
	struct tcemu_mutex kill_lock;
	struct memory_range *id_ranges; /* identity mode: the snapshot (lock), NULL: none */
	size_t id_n;
	struct cache_set *cache; /* CACHE_SETS sets, allocated at the first fill (lock) */
};

struct tcemu_dma {
	struct tcemu_platform *plat;
	struct tcemu_memory *mem;
	size_t npes;
	struct pe_dma **pes;   /* in platform order */
	size_t hash_mask;
	struct pe_dma **hash;  /* open addressing by PE pointer */
	bool identity;         /* benchmark only: bus address = process address (dma_priv.h) */
	const struct tcemu_alloc_hook *hook; /* the host's (dma_set_alloc_hook), or none */
};

static const struct tcemu_alloc_hook no_hook;

struct seg {
	uint8_t *ua;
	size_t len;
};

struct seg_list {
	struct seg *v;
	size_t n, cap;
	struct seg inl[SEGS_INLINE];
};

static inline size_t pe_hash(const struct tcemu_pe *pe, size_t mask)
{
	uint64_t h = (uint64_t)(uintptr_t)pe * 0x9e3779b97f4a7c15ull;
	return (size_t)(h >> 32) & mask;
}

static inline struct pe_dma *pe_state(const struct tcemu_dma *dma, const struct tcemu_pe *pe)
{
	for (size_t i = pe_hash(pe, dma->hash_mask);; i = (i + 1) & dma->hash_mask) {
		struct pe_dma *s = dma->hash[i];
		if (!s || s->pe == pe)
			return s;
	}
}

/*
 * The set of a tag: the page index folded onto CACHE_SET_BITS bits (consecutive pages take
 * consecutive sets), the slot in the top bit. (The old mix, index ^ index << 7 ^ index >> 7,
 * repeated its low 3 bits in bits 7-9: over 1024 sets a run of pages used only 128 of them.)
 */
static inline unsigned set_of(uint64_t tag)
{
	uint64_t i = tag >> 1;

	return (unsigned)(i ^ (i >> CACHE_SET_BITS) ^ (i >> (2 * CACHE_SET_BITS)) ^ ((tag & 1) << (CACHE_SET_BITS - 1))) &
	       (CACHE_SETS - 1);
}

/* The way of set that holds a valid entry for tag, or -1 (also when there is no cache). Lock held. */
static inline int cache_find(const struct pe_dma *s, uint64_t tag, struct cache_set **set)
{
	const uint64_t key = tag | s->keygen;
	struct cache_set *c;

	TCEMU_ASSERT(__atomic_load_n(&s->lock, __ATOMIC_RELAXED) != 0); /* held (by someone: a spin lock) */
	if (TCEMU_UNLIKELY(!s->cache))
		return -1;
	c = &s->cache[set_of(tag)];
	*set = c;
	for (int w = 0; w < (int)CACHE_WAYS; w++)
		if (c->key[w] == key)
			return w;
	return -1;
}

/* Inserts or replaces the entry for tag (nothing before the cache exists). Lock held. */
static void cache_fill(struct pe_dma *s, const struct cache_entry *e)
{
	struct cache_set *set;
	unsigned w;

	TCEMU_ASSERT(__atomic_load_n(&s->lock, __ATOMIC_RELAXED) != 0); /* held (by someone: a spin lock) */
	if (!s->cache || e->tag >> KEY_GEN_SHIFT)
		return;
	set = &s->cache[set_of(e->tag)];
	for (w = 0; w < CACHE_WAYS; w++)
		if ((set->key[w] & ~((1ull << KEY_GEN_SHIFT) - 1)) != s->keygen ||
		    (set->key[w] & ((1ull << KEY_GEN_SHIFT) - 1)) == e->tag)
			break;
	if (w == CACHE_WAYS)
		w = s->victim++ & (CACHE_WAYS - 1);
	set->key[w] = e->tag | s->keygen;
	set->hpa[w] = e->hpa;
	set->hot[w] = (struct cache_hot){ e->ua, e->len, e->perm };
}

/*
 * Invalidates every entry and slot geometry: gen++ (O(1)); when the generation's 16 bits of the
 * keys wrap, the sets are cleared too (once every 65535 flushes), so an old key never matches.
 * Lock held.
 */
static void cache_flush(struct pe_dma *s)
{
	s->gen++;
	if ((s->gen & 0xffff) == 0) {
		if (s->cache)
			memset(s->cache, 0, CACHE_SETS * sizeof(*s->cache));
		s->gen++;
	}
	s->keygen = (s->gen & 0xffff) << KEY_GEN_SHIFT;
}

/* Enters the current epoch. Lock held: entered[] only changes under the lock (no atomic RMW). */
static inline unsigned inflight_enter(struct pe_dma *s)
{
	unsigned ep = s->epoch;

	TCEMU_ASSERT(__atomic_load_n(&s->lock, __ATOMIC_RELAXED) != 0);
	__atomic_store_n(&s->entered[ep], __atomic_load_n(&s->entered[ep], __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
	return ep;
}

/* Leaves epoch ep, after the last use of its translations. Lock not held. */
static inline void inflight_exit(struct pe_dma *s, unsigned ep)
{
	__atomic_add_fetch(&s->left[ep], 1, __ATOMIC_RELEASE);
}

static void dma_kill(void *opaque, struct tcemu_pe *pe, unsigned slot, uint64_t index, uint64_t count)
{
	struct pe_dma *s = opaque;
	struct memory_range *ranges;
	unsigned old, spins = 0;
	uint64_t target;

	TCEMU_ASSERT(pe == s->pe);
	tcemu_mutex_lock(&s->kill_lock);
	tcemu_spin_lock(&s->lock);
	s->kseq++;
	s->st.invalidations++;
	if (count == 0 || count > KILL_RANGE_MAX || slot >= TCEMU_PE_WINDOWS) {
		cache_flush(s);
	} else {
		for (uint64_t i = index; i - index < count; i++) {
			struct cache_set *set;
			int w = cache_find(s, (i << 1) | slot, &set);

			if (w >= 0)
				set->key[w] = 0;
		}
	}
	ranges = s->id_ranges;
	s->id_ranges = NULL;
	s->id_n = 0;
	old = s->epoch;
	s->epoch = old ^ 1u;
	target = s->entered[old]; /* final: nobody enters `old` until the next kill flips back */
	tcemu_spin_unlock(&s->lock);
	free(ranges); /* identity accesses use it only under the lock */
	/* Wait for the accesses that may still use a translation from before the kill. */
	while (__atomic_load_n(&s->left[old], __ATOMIC_ACQUIRE) != target) {
		if (++spins < 64)
			tcemu_cpu_relax();
		else
			sched_yield();
	}
	tcemu_mutex_unlock(&s->kill_lock);
}

static void pe_dma_free(struct pe_dma *s)
{
	if (!s)
		return;
	tcemu_mutex_destroy(&s->kill_lock);
	free(s->id_ranges);
	free(s->cache);
	free(s);
}

TCEMU_EXPORT int tcemu_dma_create(struct tcemu_platform *p, struct tcemu_memory *mem, struct tcemu_dma **out)
{
	struct tcemu_dma *dma;
	size_t hsize = 4;

	if (!p || !mem || !out)
		return -EINVAL;
	dma = calloc(1, sizeof(*dma));
	if (!dma)
		return -ENOMEM;
	dma->plat = p;
	dma->mem = mem;
	dma->hook = &no_hook;
	dma->npes = tcemu_platform_pe_count(p);
	while (hsize < 2 * dma->npes)
		hsize *= 2;
	dma->hash_mask = hsize - 1;
	dma->pes = calloc(dma->npes ? dma->npes : 1, sizeof(*dma->pes));
	dma->hash = calloc(hsize, sizeof(*dma->hash));
	if (!dma->pes || !dma->hash)
		goto err;
	for (size_t i = 0; i < dma->npes; i++) {
		struct pe_dma *s;
		void *mem_s;

		if (posix_memalign(&mem_s, 64, sizeof(*s)))
			goto err;
		s = memset(mem_s, 0, sizeof(*s));
		if (tcemu_mutex_init(&s->kill_lock)) {
			free(s);
			goto err;
		}
		s->gen = 1;
		s->keygen = 1ull << KEY_GEN_SHIFT;
		s->pe = tcemu_platform_pe(p, i);
		s->dma = dma;
		dma->pes[i] = s;
		size_t h = pe_hash(s->pe, dma->hash_mask);
		while (dma->hash[h])
			h = (h + 1) & dma->hash_mask;
		dma->hash[h] = s;
	}
	for (size_t i = 0; i < dma->npes; i++)
		tcemu_pe_set_kill_hook(dma->pes[i]->pe, dma_kill, dma->pes[i]);
	*out = dma;
	return 0;

err:
	for (size_t i = 0; dma->pes && i < dma->npes; i++)
		pe_dma_free(dma->pes[i]);
	free(dma->pes);
	free(dma->hash);
	free(dma);
	return -ENOMEM;
}

TCEMU_EXPORT void tcemu_dma_destroy(struct tcemu_dma *dma)
{
	if (!dma)
		return;
	for (size_t i = 0; i < dma->npes; i++)
		tcemu_pe_set_kill_hook(dma->pes[i]->pe, NULL, NULL);
	for (size_t i = 0; i < dma->npes; i++)
		pe_dma_free(dma->pes[i]);
	free(dma->pes);
	free(dma->hash);
	free(dma);
}

static int seg_push(const struct tcemu_dma *dma, struct seg_list *l, uint8_t *ua, size_t len)
{
	if (l->n && l->v[l->n - 1].ua + l->v[l->n - 1].len == ua) {
		l->v[l->n - 1].len += len;
		return 0;
	}
	if (l->n == l->cap) {
		size_t cap = l->cap * 2;
		struct seg *v;

		if (!alloc_hook_ok(dma->hook))
			return -ENOMEM;
		v = l->v == l->inl ? malloc(cap * sizeof(*v)) : realloc(l->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		if (l->v == l->inl)
			memcpy(v, l->inl, sizeof(l->inl));
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n].ua = ua;
	l->v[l->n].len = len;
	l->n++;
	return 0;
}

/*
 * Copies len bytes between the client's memory at ua and buf: 0, or -EFAULT when the client's
 * memory is gone (unmapped after it was pinned: the pin keeps the frame, not the mapping).
 */
static inline int copy_seg(uint8_t *ua, uint8_t *buf, size_t len, bool write)
{
	if (TCEMU_UNLIKELY(!fault_copy_ready())) { /* installs the handler at the first copy; no routine here */
		memcpy(write ? ua : buf, write ? buf : ua, len);
		return 0;
	}
	return write ? fault_copy(ua, buf, len) : fault_copy(buf, ua, len);
}

/* The bus address of byte `at` of the concatenated elements (at < their total). */
static uint64_t sg_bus_at(const struct dma_sg *sg, size_t n, size_t at)
{
	size_t i = 0;

	while (i + 1 < n && at >= sg[i].len)
		at -= sg[i++].len;
	return sg[i].bus + at;
}

/* A cache: CACHE_SETS sets, every key 0 (dead), cache-line aligned. NULL when out of memory. */
static struct cache_set *cache_alloc(void)
{
	struct cache_set *c = aligned_alloc(64, CACHE_SETS * sizeof(*c));

	return c ? memset(c, 0, CACHE_SETS * sizeof(*c)) : NULL;
}

/*
 * Looks up (or, on a miss, translates and caches) the page of slot holding bus. On success *e is
 * a copy of the entry and *geo the slot's geometry. Returns 0 or the fault kind. Lock not held.
 */
static enum tcemu_dma_fault_kind page_lookup(struct tcemu_dma *dma, struct pe_dma *s, unsigned slot, uint64_t bus,
					     unsigned need, struct cache_entry *e, struct slot_geo *geo)
{
	struct cache_set *fresh = NULL;
	struct tcemu_table *t;
	const struct tcemu_table_params *tp;
	uint64_t kseq, hpa, ua, avail, psize;
	unsigned perm = 0;
	int rc;

	tcemu_spin_lock(&s->lock);
	if (s->geo[slot].gen == s->gen && bus - s->geo[slot].start < s->geo[slot].size) {
		const struct slot_geo *g = &s->geo[slot];
		uint64_t tag = (((bus - g->start) >> g->shift) << 1) | slot;
		struct cache_set *set;
		int w = cache_find(s, tag, &set);

		if (w >= 0) {
			*e = (struct cache_entry){ tag, set->hpa[w], set->hot[w].ua, set->hot[w].len, set->hot[w].perm };
			*geo = *g;
			s->st.cache_hits++;
			tcemu_spin_unlock(&s->lock);
			return TCEMU_DMA_FAULT_NONE;
		}
	}
	s->st.cache_misses++;
	kseq = s->kseq;
	tcemu_spin_unlock(&s->lock);

	t = tcemu_pe_window(s->pe, slot);
	if (!t)
		return TCEMU_DMA_FAULT_EXTENT;
	tp = tcemu_table_params(t);
	geo->start = tp->bus_offset;
	geo->size = tp->window_size;
	geo->shift = tp->page_shift;
	psize = 1ull << tp->page_shift;
	rc = tcemu_table_translate(t, bus & ~(psize - 1), need, &hpa, &perm);
	tcemu_table_unref(t);
	if (rc == -ERANGE)
		return TCEMU_DMA_FAULT_EXTENT;
	if (rc)
		return TCEMU_DMA_FAULT_PERMISSION;

	if (TCEMU_UNLIKELY(!__atomic_load_n(&s->cache, __ATOMIC_RELAXED))) /* a racy peek: checked under the lock */
		fresh = cache_alloc();
	e->tag = (((bus - geo->start) >> geo->shift) << 1) | slot;
	e->hpa = hpa;
	e->perm = perm;
	if (tcemu_memory_hpa_to_ua(dma->mem, hpa, &ua, &avail) == 0) {
		e->ua = ua;
		e->len = (uint32_t)tcemu_min_u64(tcemu_min_u64(avail, psize), UINT32_MAX); /* more: slow path */
	} else {
		e->ua = 0;
		e->len = 0;
	}

	tcemu_spin_lock(&s->lock);
	if (fresh && !s->cache) {
		__atomic_store_n(&s->cache, fresh, __ATOMIC_RELAXED); /* the peek above reads it unlocked */
		fresh = NULL;
	}
	if (s->kseq == kseq) {
		s->geo[slot] = *geo;
		s->geo[slot].gen = s->gen;
		cache_fill(s, e);
	}
	tcemu_spin_unlock(&s->lock);
	free(fresh); /* another thread installed one first */
	return TCEMU_DMA_FAULT_NONE;
}

/*
 * Translates every page of [bus, bus + len) into segments. Returns 0 or the fault kind with the
 * faulting bus address in *fbus; -ENOMEM goes to *err.
 */
static enum tcemu_dma_fault_kind build_segs(struct tcemu_dma *dma, struct pe_dma *s, uint64_t bus, size_t len,
					    unsigned need, struct seg_list *l, uint64_t *fbus, int *err)
{
	uint64_t pos = bus;
	size_t left = len;

	while (left) {
		struct cache_entry e;
		struct slot_geo g;
		enum tcemu_dma_fault_kind k;
		int slot = tcemu_window_slot(pos);
		uint64_t pgoff, n, first;

		*fbus = pos;
		if (slot < 0)
			return TCEMU_DMA_FAULT_EXTENT;
		k = page_lookup(dma, s, (unsigned)slot, pos, need, &e, &g);
		if (k)
			return k;
		if ((e.perm & need) != need)
			return TCEMU_DMA_FAULT_PERMISSION; /* a cached entry used for the other direction */
		pgoff = (pos - g.start) & ((1ull << g.shift) - 1);
		n = tcemu_min_u64(left, (1ull << g.shift) - pgoff);
		first = pgoff < e.len ? tcemu_min_u64(n, e.len - pgoff) : 0;
		if (first && (*err = seg_push(dma, l, (uint8_t *)(uintptr_t)(e.ua + pgoff), first)))
			return TCEMU_DMA_FAULT_NONE;
		/* The rest of the page lies in another pinned run (or in none). */
		for (uint64_t o = pgoff + first; o < pgoff + n;) {
			uint64_t ua, avail, c;

			*fbus = pos + (o - pgoff);
			if (tcemu_memory_hpa_to_ua(dma->mem, e.hpa + o, &ua, &avail))
				return TCEMU_DMA_FAULT_NO_MEMORY;
			c = tcemu_min_u64(avail, pgoff + n - o);
			if ((*err = seg_push(dma, l, (uint8_t *)(uintptr_t)ua, c)))
				return TCEMU_DMA_FAULT_NONE;
			o += c;
		}
		pos += n;
		left -= n;
	}
	return TCEMU_DMA_FAULT_NONE;
}

static void record_fault(struct pe_dma *s, enum tcemu_dma_fault_kind k, uint64_t bus)
{
	s->st.faults++;
	s->st.last_fault = k;
	s->st.last_fault_bus = bus;
}

/* Counts n accesses of len bytes in all, or a fault at fbus. Lock held. */
static void count_access(struct pe_dma *s, size_t n, size_t len, bool write, enum tcemu_dma_fault_kind k,
			 uint64_t fbus)
{
	if (write)
		s->st.writes += n;
	else
		s->st.reads += n;
	if (k)
		record_fault(s, k, fbus);
	else if (write)
		s->st.bytes_written += len;
	else
		s->st.bytes_read += len;
}

/* The bytes of [ua, ua + len) lie in one range of the identity snapshot. Lock held. */
static bool id_covers(const struct pe_dma *s, uint64_t ua, size_t len)
{
	size_t lo = 0, hi = s->id_n;

	while (lo < hi) { /* the first range that starts above ua */
		size_t mid = lo + (hi - lo) / 2;

		if (s->id_ranges[mid].ua <= ua)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo && ua - s->id_ranges[lo - 1].ua < s->id_ranges[lo - 1].size &&
	       len <= s->id_ranges[lo - 1].size - (ua - s->id_ranges[lo - 1].ua);
}

/* Every element inside the snapshot; *fbus: the first one that is not. Lock held. */
static bool id_covers_all(const struct pe_dma *s, const struct dma_sg *sg, size_t n, uint64_t *fbus)
{
	for (size_t i = 0; i < n; i++)
		if (sg[i].len && !id_covers(s, sg[i].bus, sg[i].len)) {
			*fbus = sg[i].bus;
			return false;
		}
	return true;
}

/*
 * Identity mode: bus addresses are process addresses, checked against the pinned memory and
 * copied under the PE's lock. One refresh of the snapshot when something is not covered.
 */
static int identity_access(struct tcemu_dma *dma, struct pe_dma *s, const struct dma_sg *sg, size_t n,
			   uint8_t *buf, size_t total, bool write)
{
	struct memory_range *old = NULL;
	enum tcemu_dma_fault_kind k = TCEMU_DMA_FAULT_NONE;
	uint64_t fbus = sg[0].bus;
	bool ok;

	tcemu_spin_lock(&s->lock);
	ok = id_covers_all(s, sg, n, &fbus);
	for (int tries = 0; !ok && tries < 4; tries++) {
		uint64_t kseq = s->kseq;
		struct memory_range *r = NULL;
		size_t nr = 0;
		int rc;

		tcemu_spin_unlock(&s->lock);
		free(old);
		old = NULL;
		rc = memory_pinned_ranges(dma->mem, &r, &nr);
		if (rc)
			return rc;
		tcemu_spin_lock(&s->lock);
		if (s->kseq != kseq) { /* a kill since: the snapshot may hold memory unpinned after it */
			old = r;
			continue;
		}
		old = s->id_ranges;
		s->id_ranges = r;
		s->id_n = nr;
		ok = id_covers_all(s, sg, n, &fbus);
	}
	if (ok) {
		size_t done = 0;

		for (size_t i = 0; i < n && !k; done += sg[i].len, i++)
			if (copy_seg((uint8_t *)(uintptr_t)sg[i].bus, buf + done, sg[i].len, write)) {
				k = TCEMU_DMA_FAULT_GONE;
				fbus = sg[i].bus;
			}
	} else {
		k = TCEMU_DMA_FAULT_EXTENT;
	}
	count_access(s, n, total, write, k, fbus);
	tcemu_spin_unlock(&s->lock);
	free(old);
	if (k) {
		tcemu_pe_eeh_freeze(s->pe, false);
		return -EIO;
	}
	return 0;
}

/*
 * The translated path of n elements: every page of every element resolved before anything is
 * copied. The caller entered epoch ep (inflight_enter); this leaves it.
 */
static int translated_access(struct tcemu_dma *dma, struct pe_dma *s, const struct dma_sg *sg, size_t n,
			     uint8_t *buf, size_t total, bool write, unsigned ep)
{
	const unsigned need = write ? TCEMU_TCE_WRITE : TCEMU_TCE_READ;
	enum tcemu_dma_fault_kind k = TCEMU_DMA_FAULT_NONE;
	struct seg_list l;
	uint64_t fbus = sg[0].bus;
	int err = 0;

	l.v = l.inl;
	l.n = 0;
	l.cap = SEGS_INLINE;
	for (size_t i = 0; i < n && !k && !err; i++)
		if (sg[i].len)
			k = build_segs(dma, s, sg[i].bus, sg[i].len, need, &l, &fbus, &err);
	if (!k && !err) {
		size_t done = 0;

		for (size_t i = 0; i < l.n && !k; done += l.v[i].len, i++)
			if (copy_seg(l.v[i].ua, buf + done, l.v[i].len, write)) {
				k = TCEMU_DMA_FAULT_GONE;
				fbus = sg_bus_at(sg, n, done);
			}
	}
	inflight_exit(s, ep);
	if (l.v != l.inl)
		free(l.v);
	if (err)
		return err;

	tcemu_spin_lock(&s->lock);
	count_access(s, n, total, write, k, fbus);
	tcemu_spin_unlock(&s->lock);
	if (k) {
		tcemu_pe_eeh_freeze(s->pe, false);
		return -EIO;
	}
	return 0;
}

/* A stopped PE: every access fails, counted as a fault at bus. */
static int stopped_access(struct pe_dma *s, size_t n, bool write, uint64_t bus)
{
	tcemu_spin_lock(&s->lock);
	count_access(s, n, 0, write, TCEMU_DMA_FAULT_STOPPED, bus);
	tcemu_spin_unlock(&s->lock);
	return -EIO;
}

/*
 * The fast path's lookups: appends the pages of [bus, bus + len) to seg (*np used, FAST_PAGES at
 * most) if every one is cached with the permission and its bytes in the entry's pinned run.
 * false (seg's new entries meaningless) on anything else. Lock held.
 */
static bool fast_segs(const struct pe_dma *s, uint64_t bus, size_t len, unsigned need, struct seg *seg,
		      unsigned *np)
{
	const unsigned slot = (unsigned)(bus >> 59);
	const struct slot_geo *g;
	const struct cache_set *sets = s->cache;
	uint64_t off, end, pmask, page;
	unsigned shift, k = *np;

	TCEMU_ASSERT(__atomic_load_n(&s->lock, __ATOMIC_RELAXED) != 0); /* held (by someone: a spin lock) */
	if (slot >= TCEMU_PE_WINDOWS || TCEMU_UNLIKELY(!sets))
		return false;
	g = &s->geo[slot];
	off = bus - g->start;
	if (g->gen != s->gen || off >= g->size || len > g->size - off)
		return false;
	shift = g->shift;
	pmask = (1ull << shift) - 1;
	end = off + len;
	for (page = off >> shift; off < end; page++) {
		const uint64_t tag = (page << 1) | slot, key = tag | s->keygen;
		const uint64_t pgoff = off & pmask, n = tcemu_min_u64(end - off, pmask + 1 - pgoff);
		const struct cache_set *c = &sets[set_of(tag)];
		const struct cache_hot *h;
		unsigned w;

		for (w = 0; w < CACHE_WAYS && c->key[w] != key; w++)
			;
		if (w == CACHE_WAYS || k == FAST_PAGES)
			return false;
		h = &c->hot[w];
		if ((h->perm & need) != need || pgoff + n > h->len)
			return false;
		seg[k++] = (struct seg){ (uint8_t *)(uintptr_t)(h->ua + pgoff), (size_t)n };
		off += n;
	}
	*np = k;
	return true;
}

/*
 * The fast path's copies and counters: np pages found by fast_segs for the n elements of sg. 0, or
 * -EIO when the client's memory is gone (counted as a fault: the caller freezes the PE once it
 * has dropped the lock). Lock held.
 */
static int fast_copy(struct pe_dma *s, const struct seg *seg, unsigned np,
		     const struct dma_sg *sg, size_t n, uint8_t *buf, size_t len, bool write)
{
	size_t at = 0;

	s->st.cache_hits += np;
	for (unsigned i = 0; i < np; at += seg[i].len, i++)
		if (TCEMU_UNLIKELY(copy_seg(seg[i].ua, buf + at, seg[i].len, write))) {
			count_access(s, n, len, write, TCEMU_DMA_FAULT_GONE, sg_bus_at(sg, n, at));
			return -EIO;
		}
	count_access(s, n, len, write, TCEMU_DMA_FAULT_NONE, 0);
	return 0;
}

/* The end of a fast path (lock held): unlocks, and freezes the PE after a fault. */
static int fast_done(struct pe_dma *s, int rc)
{
	tcemu_spin_unlock(&s->lock);
	if (TCEMU_UNLIKELY(rc))
		tcemu_pe_eeh_freeze(s->pe, false);
	return rc;
}

static int dma_access(struct tcemu_dma *dma, struct tcemu_pe *pe, uint64_t bus, uint8_t *buf, size_t len, bool write)
{
	const unsigned need = write ? TCEMU_TCE_WRITE : TCEMU_TCE_READ;
	const struct dma_sg one = { bus, len };
	struct seg seg[FAST_PAGES];
	struct pe_dma *s;
	unsigned ep, np = 0;

	if (!dma || !pe || (!buf && len))
		return -EINVAL;
	if (len && bus + (len - 1) < bus)
		return -EINVAL;
	s = pe_state(dma, pe);
	if (!s)
		return -EINVAL;
	if (!len)
		return 0;

	if (TCEMU_UNLIKELY(tcemu_pe_dma_stopped(pe)))
		return stopped_access(s, 1, write, bus);
	if (TCEMU_UNLIKELY(dma->identity))
		return identity_access(dma, s, &one, 1, buf, len, write);

	/*
	 * Fast path: every page of a short access cached with its pinned run (an mbuf's data often
	 * crosses a page boundary): copied under the PE's lock, which makes it atomic against kills
	 * at the price of one lock.
	 */
	tcemu_spin_lock(&s->lock);
	if (TCEMU_LIKELY(len <= LOCKED_COPY_MAX && fast_segs(s, bus, len, need, seg, &np)))
		return fast_done(s, fast_copy(s, seg, np, &one, 1, buf, len, write));
	ep = inflight_enter(s);
	tcemu_spin_unlock(&s->lock);

	/* Slow path: page by page, every page resolved before anything is copied. */
	return translated_access(dma, s, &one, 1, buf, len, write, ep);
}

int dma_access_sg(struct tcemu_dma *dma, struct tcemu_pe *pe, const struct dma_sg *sg, size_t n, void *buf,
		  bool write)
{
	struct pe_dma *s;
	size_t total = 0;
	unsigned ep;

	if (!dma || !pe || (n && !sg))
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (sg[i].len && (sg[i].bus + (sg[i].len - 1) < sg[i].bus || total + sg[i].len < total))
			return -EINVAL;
		total += sg[i].len;
	}
	if (total && !buf)
		return -EINVAL;
	if (n == 1)
		return dma_access(dma, pe, sg[0].bus, buf, sg[0].len, write); /* checks the PE itself */
	s = pe_state(dma, pe);
	if (!s)
		return -EINVAL;
	if (!total)
		return 0;

	if (TCEMU_UNLIKELY(tcemu_pe_dma_stopped(pe)))
		return stopped_access(s, n, write, sg[0].bus);
	if (TCEMU_UNLIKELY(dma->identity))
		return identity_access(dma, s, sg, n, buf, total, write);
	tcemu_spin_lock(&s->lock);
	if (total <= LOCKED_COPY_MAX) { /* the fast path, for every element at once (as dma_access) */
		const unsigned need = write ? TCEMU_TCE_WRITE : TCEMU_TCE_READ;
		struct seg seg[FAST_PAGES];
		unsigned np = 0;
		size_t i = 0;

		while (i < n && fast_segs(s, sg[i].bus, sg[i].len, need, seg, &np))
			i++;
		if (i == n)
			return fast_done(s, fast_copy(s, seg, np, sg, n, buf, total, write));
	}
	ep = inflight_enter(s);
	tcemu_spin_unlock(&s->lock);
	return translated_access(dma, s, sg, n, buf, total, write, ep);
}

void dma_set_identity(struct tcemu_dma *dma)
{
	dma->identity = true;
}

void dma_set_alloc_hook(struct tcemu_dma *dma, const struct tcemu_alloc_hook *hook)
{
	dma->hook = hook ? hook : &no_hook;
}

bool dma_identity(const struct tcemu_dma *dma)
{
	return dma->identity;
}

TCEMU_EXPORT int tcemu_dma_read(struct tcemu_dma *dma, struct tcemu_pe *pe, uint64_t bus, void *buf, size_t len)
{
	return dma_access(dma, pe, bus, buf, len, false);
}

TCEMU_EXPORT int tcemu_dma_write(struct tcemu_dma *dma, struct tcemu_pe *pe, uint64_t bus, const void *data,
				 size_t len)
{
	return dma_access(dma, pe, bus, (uint8_t *)(uintptr_t)data, len, true);
}

TCEMU_EXPORT int tcemu_dma_stats(struct tcemu_dma *dma, struct tcemu_pe *pe, struct tcemu_dma_stats *st)
{
	struct pe_dma *s;

	if (!dma || !pe || !st)
		return -EINVAL;
	s = pe_state(dma, pe);
	if (!s)
		return -EINVAL;
	tcemu_spin_lock(&s->lock);
	*st = s->st;
	tcemu_spin_unlock(&s->lock);
	return 0;
}
