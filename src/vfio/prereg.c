/* SPDX-License-Identifier: MIT */
/*
 * Memory pre-registration (sPAPR v2) and locked-memory accounting, per process.
 *
 * A process (struct mm) has one list of regions, shared by all its containers, kept sorted by
 * address in an array: lookup is a search of a two-level index, O(log n) (the kernel walks a list).
 * The array sits in slots with room at both ends, and a region added or removed moves the shorter
 * side by one slot: O(1) in address order and in reverse, O(n) at worst (in the middle).
 * Regions never overlap; each counts the gaps between neighbours up to it, and the process counts
 * its regions by page size, so that a map across regions is checked in O(1) (mm_span_ok). Each
 * container that registered a region holds one reference (struct cref in the container, sorted the
 * same way); region_hot(mm, r)->mapped counts the IOMMU entries pointing into it.
 *
 * Locking: vfio/prereg.h (mm->lock, the regions' mapped counts, the caller's container->lock).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <tcemu/memory.h>

#include "guest/gate.h"
#include "vfio/container.h"
#include "vfio/host_priv.h"
#include "core/memory_priv.h"
#include "vfio/prereg.h"
#include "vfio/probe.h"

/*
 * The search: the keys' slots (mm_end_slots) are cut into blocks of MM_KEYS_PER_BLOCK keys (two
 * cache lines), and tops[b] is the last key of block b. A lookup searches tops[] (small: it stays in
 * the near caches), then counts the keys of one block below ua, which the compiler turns into
 * vector compares. Both steps are branchless. The slots before the first region hold 0 (below every address: counted, then
 * taken off), those after the last UINT64_MAX, to a whole block.
 */
/* Index of the first region whose end is above ua (the only candidate to contain ua). */
static size_t lower_bound(const struct mm *mm, uint64_t ua)
{
	const size_t used = mm->front + mm->nregions;
	const uint64_t *tops = mm->tops, *keys;
	size_t base = 0, n = (used + MM_KEYS_PER_BLOCK - 1) / MM_KEYS_PER_BLOCK, count = 0;

	if (mm->nregions == 0)
		return 0;
	while (n > 1) {
		size_t half = n / 2;

		base = tops[base + half] <= ua ? base + half : base;
		n -= half;
	}
	base += tops[base] <= ua;
	if (base * MM_KEYS_PER_BLOCK >= used)
		return mm->nregions;
	keys = &mm_end_slots(mm)[base * MM_KEYS_PER_BLOCK];
	for (unsigned k = 0; k < MM_KEYS_PER_BLOCK; k++)
		count += keys[k] <= ua;
	return base * MM_KEYS_PER_BLOCK + count - mm->front; /* the padding before front was counted */
}

/* Rebuilds tops[] for the blocks holding slots lo .. hi (those past the last region are unused). */
static void tops_update(struct mm *mm, size_t lo, size_t hi)
{
	const size_t used = mm->front + mm->nregions;

	TCEMU_ASSERT_WRLOCKED(&mm->lock);
	for (size_t b = lo / MM_KEYS_PER_BLOCK; b <= hi / MM_KEYS_PER_BLOCK && b * MM_KEYS_PER_BLOCK < used; b++)
		mm->tops[b] = mm_end_slots(mm)[tcemu_min_u64((b + 1) * MM_KEYS_PER_BLOCK, used) - 1];
}

/* Whether regions i - 1 and i leave a gap (0 < i < nregions). */
static inline uint32_t gap_before(const struct mm *mm, size_t i)
{
	return mm->ends[i - 1] != mm->regions[i].ua;
}

/*
 * The gap counts are relative: only a difference between two regions means anything (mm_span_ok),
 * and they may wrap. join: regions [0, j) and [j, nregions) are each counted right, but not against
 * each other (a region went or came at j): one side, the shorter, is shifted to fit the other.
 */
static void gaps_join(struct mm *mm, size_t j)
{
	struct region *r = mm->regions;
	const size_t n = mm->nregions;

	TCEMU_ASSERT_WRLOCKED(&mm->lock);
	if (j == 0 || j >= n)
		return;
	const uint32_t d = r[j - 1].gaps + gap_before(mm, j) - r[j].gaps;
	if (d == 0)
		return;
	if (j <= n - j)
		for (size_t k = 0; k < j; k++)
			r[k].gaps -= d;
	else
		for (size_t k = j; k < n; k++)
			r[k].gaps += d;
}

/* Counts every region's gaps again (after a compaction changed neighbours anywhere). */
static void gaps_recount(struct mm *mm)
{
	uint32_t g = 0;

	TCEMU_ASSERT_WRLOCKED(&mm->lock);
	for (size_t i = 0; i < mm->nregions; i++) {
		g += i && gap_before(mm, i);
		mm->regions[i].gaps = g;
	}
}

/*
 * Slots with room at both ends (a deque), for the region arrays and a container's references: n
 * elements of elem bytes from slot front of base. An element added or removed moves the shorter
 * side by one slot. Before one is added, a full end is made free again (slots_room).
 */

/* Whether n elements from slot front of cap have a free slot at both ends. */
static bool slots_have_room(size_t front, size_t n, size_t cap)
{
	return front > 0 && front + n < cap;
}

/*
 * The slots to move n elements to the middle of when an end is full: cap, doubled (min to start)
 * if less than a quarter of it is free. Each end then has at least an eighth of the slots free,
 * so the O(n) move is paid once per n / 8 insertions at one end at most.
 */
static size_t slots_room(size_t cap, size_t n, size_t min)
{
	return (cap - n) * 4 < cap || cap - n < 2 ? (cap ? cap * 2 : min) : cap;
}

/* Moves the n elements from slot front to the middle of cap slots; the new front. */
static size_t slots_centre(void *base, size_t elem, size_t front, size_t n, size_t cap)
{
	const size_t to = (cap - n) / 2;

	memmove((char *)base + to * elem, (char *)base + front * elem, n * elem);
	return to;
}

/* Opens index at (0 .. n) with a free slot at both ends, moving the shorter side; the new front. */
static size_t slots_open(void *base, size_t elem, size_t front, size_t n, size_t at)
{
	char *b = base;

	if (at < n - at) {
		memmove(b + (front - 1) * elem, b + front * elem, at * elem);
		return front - 1;
	}
	memmove(b + (front + at + 1) * elem, b + (front + at) * elem, (n - at) * elem);
	return front;
}

/* Closes index i (0 .. n - 1), moving the shorter side; the new front. */
static size_t slots_close(void *base, size_t elem, size_t front, size_t n, size_t i)
{
	char *b = base;

	if (i < n - 1 - i) {
		memmove(b + (front + 1) * elem, b + front * elem, i * elem);
		return front + 1;
	}
	memmove(b + (front + i) * elem, b + (front + i + 1) * elem, (n - 1 - i) * elem);
	return front;
}

/* The three arrays' views at slot front of their slots. */
static void regions_view(struct mm *mm, struct region *rs, struct region_hot *hs, uint64_t *es, size_t front)
{
	mm->front = front;
	mm->regions = rs + front;
	mm->hot = hs + front;
	mm->ends = es + front;
}

/*
 * Makes room for one more region: a free slot at both ends (slots_room). Every array is grown
 * before any is used at the new size, so a failed allocation leaves the index as it was.
 */
static int regions_reserve(struct tcemu_host *h, struct mm *mm)
{
	const size_t n = mm->nregions, f = mm->front;
	const size_t cap = slots_room(mm->cap, n, MM_KEYS_PER_BLOCK);
	struct region *rs = mm_slots(mm->regions, f, sizeof(*rs));
	struct region_hot *hs = mm_slots(mm->hot, f, sizeof(*hs));
	uint64_t *es = mm_end_slots(mm), *t;

	TCEMU_ASSERT_WRLOCKED(&mm->lock);
	TCEMU_ASSERT(f + n <= mm->cap && mm->cap % MM_KEYS_PER_BLOCK == 0);
	if (slots_have_room(f, n, mm->cap))
		return 0;
	if (cap != mm->cap) {
		/* each view follows its array at once: the index stays whole if a later one fails */
		if (!(rs = host_realloc(h, rs, cap * sizeof(*rs))))
			return -ENOMEM;
		mm->regions = rs + f;
		if (!(hs = host_realloc(h, hs, cap * sizeof(*hs))))
			return -ENOMEM;
		mm->hot = hs + f;
		if (!(es = host_realloc(h, es, cap * sizeof(*es))))
			return -ENOMEM;
		mm->ends = es + f;
		if (!(t = host_realloc(h, mm->tops, cap / MM_KEYS_PER_BLOCK * sizeof(*t))))
			return -ENOMEM;
		mm->tops = t;
	}
	const size_t to = slots_centre(rs, sizeof(*rs), f, n, cap);
	slots_centre(hs, sizeof(*hs), f, n, cap);
	slots_centre(es, sizeof(*es), f, n, cap);
	for (size_t i = 0; i < to; i++)
		es[i] = 0;
	for (size_t i = to + n; i < cap; i++)
		es[i] = UINT64_MAX;
	mm->cap = cap;
	regions_view(mm, rs, hs, es, to);
	tops_update(mm, 0, cap - 1);
	return 0;
}

/* Puts nr (frame hpa) at index at (regions_reserve made room). */
static void regions_insert(struct mm *mm, size_t at, const struct region *nr, uint64_t hpa)
{
	const size_t n = mm->nregions, f = mm->front;
	struct region *rs = mm_slots(mm->regions, f, sizeof(*rs));
	struct region_hot *hs = mm_slots(mm->hot, f, sizeof(*hs));
	uint64_t *es = mm_end_slots(mm);

	TCEMU_ASSERT_WRLOCKED(&mm->lock);
	TCEMU_ASSERT(at <= n && slots_have_room(f, n, mm->cap));
	const size_t to = slots_open(rs, sizeof(*rs), f, n, at);
	slots_open(hs, sizeof(*hs), f, n, at);
	slots_open(es, sizeof(*es), f, n, at);
	mm->nregions = n + 1;
	regions_view(mm, rs, hs, es, to);
	mm->regions[at] = *nr;
	mm->hot[at] = (struct region_hot){ .hpa = hpa };
	mm->ends[at] = nr->ua + nr->size;
	/* the slots that changed: the side that moved and the new one */
	tops_update(mm, to < f ? to : f + at, to < f ? to + at : f + n);
	/* its gap count against the side it joins, then that side against the other */
	if (at > 0) {
		mm->regions[at].gaps = mm->regions[at - 1].gaps + gap_before(mm, at);
		gaps_join(mm, at + 1);
	} else {
		mm->regions[0].gaps = n ? mm->regions[1].gaps - gap_before(mm, 1) : 0;
	}
}

/* Takes region i out of the index. */
static void regions_remove(struct mm *mm, size_t i)
{
	const size_t n = mm->nregions, f = mm->front;
	struct region *rs = mm_slots(mm->regions, f, sizeof(*rs));
	struct region_hot *hs = mm_slots(mm->hot, f, sizeof(*hs));
	uint64_t *es = mm_end_slots(mm);

	TCEMU_ASSERT_WRLOCKED(&mm->lock);
	TCEMU_ASSERT(i < n);
	const size_t to = slots_close(rs, sizeof(*rs), f, n, i);
	slots_close(hs, sizeof(*hs), f, n, i);
	slots_close(es, sizeof(*es), f, n, i);
	es[to > f ? f : f + n - 1] = to > f ? 0 : UINT64_MAX; /* the slot freed is padding now */
	mm->nregions = n - 1;
	regions_view(mm, rs, hs, es, to);
	tops_update(mm, to > f ? f : f + i, to > f ? f + i : f + n - 1);
	gaps_join(mm, i);
}

static struct region *mm_find_next(struct mm *mm, size_t *hint, uint64_t ua, uint64_t size)
{
	size_t i = *hint + 1;
	struct region *r;

	if (*hint == SIZE_MAX || i >= mm->nregions || ua < mm->regions[i].ua || ua - mm->regions[i].ua >= mm->regions[i].size) {
		i = lower_bound(mm, ua);
		if (i == mm->nregions)
			return NULL;
	}
	r = &mm->regions[i];
	if (ua < r->ua || size > r->size - (ua - r->ua))
		return NULL;
	*hint = i;
	return r;
}

/* mm->lock held, or the guest fast path with the gate open: nobody else holds it exclusive. */
struct region *mm_find_near(struct mm *mm, size_t *hint, uint64_t ua, uint64_t size)
{
	size_t i = *hint;

	TCEMU_ASSERT_NO_OTHER_WRITER(&mm->lock);
	if (i < mm->nregions && ua >= mm->regions[i].ua && size <= mm->regions[i].size &&
	    ua - mm->regions[i].ua <= mm->regions[i].size - size)
		return &mm->regions[i];
	return mm_find_next(mm, hint, ua, size);
}

struct region *mm_find(struct mm *mm, uint64_t ua, uint64_t size)
{
	size_t hint = SIZE_MAX;

	TCEMU_ASSERT_RWLOCKED(&mm->lock);
	return mm_find_next(mm, &hint, ua, size);
}

void mm_wrlock(struct mm *mm)
{
	host_gate_close(mm->host);
	tcemu_rwlock_wrlock(&mm->lock);
}

void mm_wrunlock(struct mm *mm)
{
	TCEMU_ASSERT_WRLOCKED(&mm->lock);
	TCEMU_ASSERT(__atomic_load_n(&mm->host->gate_closed, __ATOMIC_RELAXED) != 0);
	tcemu_rwlock_unlock(&mm->lock);
	host_gate_open(mm->host);
}

static size_t cref_lower_bound(const struct container *c, uint64_t ua)
{
	size_t lo = 0, hi = c->nrefs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (c->refs[mid].ua < ua)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct cref *container_cref(struct container *c, const struct region *r)
{
	size_t i;

	TCEMU_ASSERT_RWLOCKED(&c->lock);
	i = cref_lower_bound(c, r->ua);

	return i < c->nrefs && c->refs[i].ua == r->ua ? &c->refs[i] : NULL;
}

int mm_account(struct tcemu_host *h, struct mm *mm, uint64_t bytes, bool charge)
{
	/* The kernel counts system pages: round up to one. */
	uint64_t pg = 1ull << h->page_shift;
	uint64_t amount = (bytes + pg - 1) & ~(pg - 1);
	int rc = 0;

	mm_wrlock(mm);
	if (charge) {
		if (mm->limit != UINT64_MAX && (amount > mm->limit || mm->locked > mm->limit - amount))
			rc = -ENOMEM;
		else
			mm->locked += amount;
	} else {
		mm->locked -= tcemu_min_u64(amount, mm->locked);
	}
	mm_wrunlock(mm);
	if (rc == 0)
		host_stat_add(h, &h->stats.locked_bytes, charge ? (int64_t)amount : -(int64_t)amount, &h->stats.locked_peak);
	return rc;
}

/* Makes room for one more cref in c: a free slot at both ends (slots_room). */
static int cref_reserve(struct tcemu_host *h, struct container *c)
{
	const size_t n = c->nrefs, cap = slots_room(c->rcap, n, 16);
	struct cref *slots = mm_slots(c->refs, c->rfront, sizeof(*slots));

	CONTAINER_ASSERT_EXCLUSIVE(c);
	TCEMU_ASSERT(c->rfront + n <= c->rcap);
	if (slots_have_room(c->rfront, n, c->rcap))
		return 0;
	if (cap != c->rcap) {
		if (!(slots = host_realloc(h, slots, cap * sizeof(*slots))))
			return -ENOMEM;
	}
	c->rfront = slots_centre(slots, sizeof(*slots), c->rfront, n, cap);
	c->rcap = cap;
	c->refs = slots + c->rfront;
	return 0;
}

/* Adds r's reference (cref_reserve made room). */
static void cref_insert(struct container *c, struct region *r)
{
	const size_t i = cref_lower_bound(c, r->ua), n = c->nrefs;
	struct cref *slots = mm_slots(c->refs, c->rfront, sizeof(*slots));

	CONTAINER_ASSERT_EXCLUSIVE(c);
	TCEMU_ASSERT(slots_have_room(c->rfront, n, c->rcap));
	c->rfront = slots_open(slots, sizeof(*slots), c->rfront, n, i);
	c->refs = slots + c->rfront;
	c->refs[i] = (struct cref){ .ua = r->ua, .size = r->size };
	c->nrefs = n + 1;
}

/* Drops a reference. */
static void cref_remove(struct container *c, struct cref *cr)
{
	const size_t i = (size_t)(cr - c->refs), n = c->nrefs;
	struct cref *slots = mm_slots(c->refs, c->rfront, sizeof(*slots));

	CONTAINER_ASSERT_EXCLUSIVE(c);
	TCEMU_ASSERT(cr >= c->refs && i < n);
	c->rfront = slots_close(slots, sizeof(*slots), c->rfront, n, i);
	c->refs = slots + c->rfront;
	c->nrefs = n - 1;
}

/*
 * mlock/munlock through the system call: sanitizer runtimes replace the libc functions with no-ops,
 * and the real_mlock option promises really locked memory.
 */
static int real_mlock(uint64_t ua, uint64_t size)
{
	return (int)syscall(SYS_mlock, (void *)(uintptr_t)ua, (size_t)size);
}

static void real_munlock(uint64_t ua, uint64_t size)
{
	syscall(SYS_munlock, (void *)(uintptr_t)ua, (size_t)size);
}

/*
 * Gives back what a region nobody uses holds: unpins it, unlocks it, returns its charge to the
 * process. Leaves it in the index and the host's statistics to the caller. mm->lock held exclusive.
 */
static void region_release(struct tcemu_host *h, struct mm *mm, const struct region *r)
{
	uint64_t pg = 1ull << h->page_shift;

	TCEMU_ASSERT_WRLOCKED(&mm->lock);
	TCEMU_ASSERT(r >= mm->regions && (size_t)(r - mm->regions) < mm->nregions);
	/* Nobody uses it: no container references it, no IOMMU entry points into it. */
	TCEMU_ASSERT(r->users == 0 && __atomic_load_n(&region_hot(mm, r)->mapped, __ATOMIC_RELAXED) == 0);
	tcemu_memory_unpin(h->mem, region_hot(mm, r)->hpa);
	mm->by_shift[r->page_shift]--;
	if (r->mlocked)
		real_munlock(r->ua, r->size);
	mm->locked -= tcemu_min_u64(mm->locked, (r->size + pg - 1) & ~(pg - 1));
}

/* The host's statistics after n regions of bytes in all were freed. */
static void regions_freed_stats(struct tcemu_host *h, uint64_t bytes, uint64_t n)
{
	host_stat_add(h, &h->stats.locked_bytes, -(int64_t)bytes, NULL);
	host_stat_add(h, &h->stats.regions_registered, -(int64_t)n, NULL);
}

/* Frees one region nobody uses and closes its slot in the index. mm->lock held exclusive. */
static void region_free(struct tcemu_host *h, struct mm *mm, struct region *r)
{
	size_t i = (size_t)(r - mm->regions);
	uint64_t size = r->size;

	region_release(h, mm, r);
	regions_remove(mm, i);
	regions_freed_stats(h, size, 1);
}

int mm_register(struct tcemu_host *h, struct mm *mm, struct container *c, uint64_t ua, uint64_t size)
{
	const uint64_t pg = 1ull << h->page_shift;
	struct region *r;
	uint32_t backing, natural;
	uint64_t hpa;
	size_t at;
	int rc;

	CONTAINER_ASSERT_EXCLUSIVE(c);
	TCEMU_ASSERT(c->mm == mm);
	if ((ua & (pg - 1)) || (size & (pg - 1)) || size == 0 || ua + size < ua)
		return -EINVAL;
	rc = cref_reserve(h, c);
	if (rc)
		return rc;
	mm_wrlock(mm);
	at = lower_bound(mm, ua);
	if (at < mm->nregions && mm->regions[at].ua == ua && mm->regions[at].size == size) {
		/* The exact region exists: EBUSY in this container, shared with another one. */
		r = &mm->regions[at];
		if (container_cref(c, r)) {
			rc = -EBUSY;
			goto out;
		}
		TCEMU_ASSERT(r->users < UINT32_MAX);
		if (r->users++ == 0)
			mm->orphans--; /* an orphan (mm_drop_container) has a container again */
		cref_insert(c, r);
		goto out;
	}
	/* Overlapping a different region. */
	if (at < mm->nregions && mm->regions[at].ua < ua + size) {
		rc = -EINVAL;
		goto out;
	}
	/* Over the locked-memory limit. */
	if (mm->limit != UINT64_MAX && (size > mm->limit || mm->locked > mm->limit - size)) {
		rc = -ENOMEM;
		goto out;
	}
	/*
	 * difference: the kernel returns a positive page count when part of the memory cannot be
	 * pinned; tcemu refuses the whole region with EFAULT and keeps nothing.
	 */
	rc = probe_range(ua, size, true, &backing);
	if (rc)
		goto out;
	/* An emulated 64K-page host backs ordinary memory with 64K pages. */
	backing = backing > h->page_shift ? backing : h->page_shift;
	natural = (uint32_t)__builtin_ctzll(ua | size);
	rc = regions_reserve(h, mm);
	if (rc)
		goto out;
	struct region nr = {
		.ua = ua,
		.size = size,
		.page_shift = natural < backing ? natural : backing,
		.users = 1,
	};
	/* the regions just below and above, the nearer first: frames that follow each other as addresses do */
	struct memory_hint near[2];
	unsigned nnear = 0;
	if (at > 0)
		near[nnear++] = (struct memory_hint){ mm->regions[at - 1].ua, mm->hot[at - 1].hpa };
	if (at < mm->nregions) {
		near[nnear++] = (struct memory_hint){ mm->regions[at].ua, mm->hot[at].hpa };
		if (nnear == 2 && mm->regions[at].ua - (ua + size) < ua - mm->ends[at - 1]) {
			near[1] = near[0];
			near[0] = (struct memory_hint){ mm->regions[at].ua, mm->hot[at].hpa };
		}
	}
	rc = host_alloc_ok(h) ? memory_pin_near(h->mem, ua, size, nr.page_shift, near, nnear, &hpa) : -ENOMEM;
	if (rc)
		goto out;
	if (h->real_mlock) {
		if (real_mlock(ua, size) != 0) {
			rc = errno == EPERM ? -EPERM : -ENOMEM;
			tcemu_memory_unpin(h->mem, hpa);
			goto out;
		}
		nr.mlocked = true;
	}
	regions_insert(mm, at, &nr, hpa);
	mm->by_shift[nr.page_shift]++;
	mm->locked += size;
	cref_insert(c, &mm->regions[at]);
	host_stat_add(h, &h->stats.locked_bytes, (int64_t)size, &h->stats.locked_peak);
	host_stat_add(h, &h->stats.regions_registered, 1, &h->stats.regions_peak);
out:
	mm_wrunlock(mm);
	return rc;
}

int mm_unregister(struct tcemu_host *h, struct mm *mm, struct container *c, uint64_t ua, uint64_t size)
{
	const uint64_t pg = 1ull << h->page_shift;
	struct region *r;
	struct cref *cr;
	int rc = 0;

	CONTAINER_ASSERT_EXCLUSIVE(c);
	TCEMU_ASSERT(c->mm == mm);
	if ((ua & (pg - 1)) || (size & (pg - 1)))
		return -EINVAL;
	mm_wrlock(mm);
	r = mm_find(mm, ua, size);
	cr = r && r->ua == ua && r->size == size ? container_cref(c, r) : NULL;
	if (!cr) {
		rc = -ENOENT;
		goto out;
	}
	/*
	 * difference: a kernel that returned 0 here orphaned the region while entries still pointed
	 * into it; tcemu refuses with EBUSY while any IOMMU entry maps into the region, and changes
	 * nothing.
	 */
	if (__atomic_load_n(&region_hot(mm, r)->mapped, __ATOMIC_RELAXED)) {
		rc = -EBUSY;
		host_defect(h, "SPAPR_UNREGISTER_MEMORY(vaddr=0x%llx, size=0x%llx) refused with EBUSY: "
			       "%llu IOMMU entries still map into the region",
			    (unsigned long long)ua, (unsigned long long)size,
			    (unsigned long long)__atomic_load_n(&region_hot(mm, r)->mapped, __ATOMIC_RELAXED));
		goto out;
	}
	cref_remove(c, cr);
	TCEMU_ASSERT(r->users > 0); /* this container's reference, at least */
	if (--r->users == 0)
		region_free(h, mm, r);
out:
	mm_wrunlock(mm);
	return rc;
}

/*
 * Drops every reference of c in one pass: c->refs and the region array are both sorted by address,
 * so a merge of the two finds each referenced region, and the regions that stay are compacted in
 * place behind it (O(regions from the first one c references) instead of a search and a move of
 * the array's tail per region).
 *
 * A region whose last reference goes while another container of the process still maps into it
 * (a process's regions serve all its containers, as in the kernel) stays, pinned and charged, as
 * an orphan (users 0); the pass of a later release frees every orphan nothing maps into any more
 * (it then starts at the first region).
 */
void mm_drop_container(struct tcemu_host *h, struct mm *mm, struct container *c)
{
	uint64_t freed_bytes = 0, nfreed = 0;
	size_t first, i, w, k = 0;

	CONTAINER_ASSERT_EXCLUSIVE(c);
	TCEMU_ASSERT(c->mm == mm);
	if (c->nrefs == 0 && mm->orphans == 0)
		return;
	mm_wrlock(mm);
	first = i = w = mm->orphans || c->nrefs == 0 ? 0 : lower_bound(mm, c->refs[0].ua);
	for (; i < mm->nregions; i++) {
		struct region *r = &mm->regions[i];
		uint64_t mapped;

		/* A reference always names a live region: none is skipped here. */
		while (k < c->nrefs && c->refs[k].ua < r->ua)
			k++;
		if (k < c->nrefs && c->refs[k].ua == r->ua && c->refs[k].size == r->size) {
			k++;
			TCEMU_ASSERT(r->users > 0); /* a container's reference keeps its region */
			if (--r->users == 0) {
				mm->orphans++; /* until freed below, or kept as an orphan */
				if (__atomic_load_n(&mm->hot[i].mapped, __ATOMIC_RELAXED))
					host_defect(h, "container %d released the region at 0x%llx (0x%llx bytes) it registered "
						       "while IOMMU entries of another container still map into it: the region "
						       "stays pinned until they go",
						    c->first_fd, (unsigned long long)r->ua, (unsigned long long)r->size);
			}
		}
		mapped = __atomic_load_n(&mm->hot[i].mapped, __ATOMIC_RELAXED);
		if (r->users == 0 && mapped == 0) {
			region_release(h, mm, r);
			mm->orphans--;
			freed_bytes += r->size;
			nfreed++;
			continue;
		}
		if (w != i) {
			mm->regions[w] = *r;
			mm->hot[w] = mm->hot[i];
			mm->ends[w] = mm->ends[i];
		}
		w++;
	}
	TCEMU_ASSERT(k == c->nrefs);
	for (i = w; i < mm->nregions; i++)
		mm->ends[i] = UINT64_MAX;
	mm->nregions = w;
	tops_update(mm, mm->front + first, mm->front + w);
	gaps_recount(mm);
	c->nrefs = 0;
	mm_wrunlock(mm);
	if (nfreed)
		regions_freed_stats(h, freed_bytes, nfreed);
}

void mm_free(struct tcemu_host *h, struct mm *mm)
{
	(void)h;
	free(mm_slots(mm->regions, mm->front, sizeof(*mm->regions)));
	free(mm_slots(mm->hot, mm->front, sizeof(*mm->hot)));
	free(mm_end_slots(mm));
	free(mm->tops);
	tcemu_rwlock_destroy(&mm->lock);
	free(mm);
}
