/* SPDX-License-Identifier: MIT */
/*
 * Memory pre-registration (sPAPR v2) and locked-memory accounting, per process.
 *
 * A process (struct mm) has one list of regions, shared by all its containers, kept sorted by
 * address in an array: lookup is a search of a two-level index, O(log n) (the kernel walks a list).
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
 * The search: ends[] is cut into blocks of KEYS_PER_BLOCK keys (two cache lines), and tops[b] is
 * the last key of block b. A lookup searches tops[] (small: it stays in the near caches), then
 * counts the keys of one block below ua, which the compiler turns into vector compares. Both steps
 * are branchless. ends[] is padded with UINT64_MAX to a whole block.
 */
#define KEYS_PER_BLOCK 16

/* Index of the first region whose end is above ua (the only candidate to contain ua). */
static size_t lower_bound(const struct mm *mm, uint64_t ua)
{
	const uint64_t *tops = mm->tops, *keys;
	size_t base = 0, n = (mm->nregions + KEYS_PER_BLOCK - 1) / KEYS_PER_BLOCK, count = 0;

	if (n == 0)
		return 0;
	while (n > 1) {
		size_t half = n / 2;

		base = tops[base + half] <= ua ? base + half : base;
		n -= half;
	}
	base += tops[base] <= ua;
	if (base * KEYS_PER_BLOCK >= mm->nregions)
		return mm->nregions;
	keys = &mm->ends[base * KEYS_PER_BLOCK];
	for (unsigned k = 0; k < KEYS_PER_BLOCK; k++)
		count += keys[k] <= ua;
	return base * KEYS_PER_BLOCK + count;
}

/* Rebuilds tops[] from the block holding region `from` on. */
static void tops_update(struct mm *mm, size_t from)
{
	size_t nblocks = (mm->nregions + KEYS_PER_BLOCK - 1) / KEYS_PER_BLOCK;

	TCEMU_ASSERT_WRLOCKED(&mm->lock);
	for (size_t b = from / KEYS_PER_BLOCK; b < nblocks; b++)
		mm->tops[b] = mm->ends[tcemu_min_u64((b + 1) * KEYS_PER_BLOCK, mm->nregions) - 1];
}

/*
 * Recounts the gaps of regions `from` on (every region before it is right). After an insertion or
 * a removal at from, every region after from has the neighbour before it that it had, so all their
 * counts are off by one same amount: once one of them is right, the rest are. whole: a compaction
 * changed neighbours anywhere, every count is redone.
 */
static void gaps_update(struct mm *mm, size_t from, bool whole)
{
	struct region *r = mm->regions;
	uint32_t g = from ? r[from - 1].gaps : 0;

	TCEMU_ASSERT_WRLOCKED(&mm->lock);
	for (size_t i = from; i < mm->nregions; i++) {
		g += i && r[i - 1].ua + r[i - 1].size != r[i].ua;
		if (!whole && i > from && r[i].gaps == g)
			break;
		r[i].gaps = g;
	}
}

/*
 * Makes room for one more region. Every array is grown before any is used at the new size, so a
 * failed allocation leaves the index as it was.
 */
static int regions_reserve(struct tcemu_host *h, struct mm *mm)
{
	size_t cap = mm->cap ? mm->cap * 2 : KEYS_PER_BLOCK;
	struct region *r;
	struct region_hot *hot;
	uint64_t *e, *t;

	TCEMU_ASSERT_WRLOCKED(&mm->lock);
	TCEMU_ASSERT(mm->nregions <= mm->cap && mm->cap % KEYS_PER_BLOCK == 0);
	if (mm->nregions < mm->cap)
		return 0;
	r = host_realloc(h, mm->regions, cap * sizeof(*r));
	if (!r)
		return -ENOMEM;
	mm->regions = r;
	hot = host_realloc(h, mm->hot, cap * sizeof(*hot));
	if (!hot)
		return -ENOMEM;
	mm->hot = hot;
	e = host_realloc(h, mm->ends, cap * sizeof(*e));
	if (!e)
		return -ENOMEM;
	mm->ends = e;
	t = host_realloc(h, mm->tops, cap / KEYS_PER_BLOCK * sizeof(*t));
	if (!t)
		return -ENOMEM;
	mm->tops = t;
	for (size_t i = mm->cap; i < cap; i++)
		mm->ends[i] = UINT64_MAX; /* the padding of the last block */
	mm->cap = cap;
	return 0;
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

/* Makes room for one more cref in c. */
static int cref_reserve(struct tcemu_host *h, struct container *c)
{
	CONTAINER_ASSERT_EXCLUSIVE(c);
	TCEMU_ASSERT(c->nrefs <= c->rcap);
	if (c->nrefs < c->rcap)
		return 0;
	size_t cap = c->rcap ? c->rcap * 2 : 16;
	struct cref *n = host_realloc(h, c->refs, cap * sizeof(*n));
	if (!n)
		return -ENOMEM;
	c->refs = n;
	c->rcap = cap;
	return 0;
}

static void cref_insert(struct container *c, struct region *r)
{
	size_t i = cref_lower_bound(c, r->ua);

	CONTAINER_ASSERT_EXCLUSIVE(c);
	TCEMU_ASSERT(c->nrefs < c->rcap); /* cref_reserve made room */
	memmove(&c->refs[i + 1], &c->refs[i], (c->nrefs - i) * sizeof(*c->refs));
	c->refs[i] = (struct cref){ .ua = r->ua, .size = r->size };
	c->nrefs++;
}

static void cref_remove(struct container *c, struct cref *cr)
{
	size_t i = (size_t)(cr - c->refs);

	CONTAINER_ASSERT_EXCLUSIVE(c);
	TCEMU_ASSERT(cr >= c->refs && i < c->nrefs);
	memmove(&c->refs[i], &c->refs[i + 1], (c->nrefs - i - 1) * sizeof(*c->refs));
	c->nrefs--;
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
	memmove(&mm->regions[i], &mm->regions[i + 1], (mm->nregions - i - 1) * sizeof(*mm->regions));
	memmove(&mm->hot[i], &mm->hot[i + 1], (mm->nregions - i - 1) * sizeof(*mm->hot));
	memmove(&mm->ends[i], &mm->ends[i + 1], (mm->nregions - i - 1) * sizeof(*mm->ends));
	mm->nregions--;
	mm->ends[mm->nregions] = UINT64_MAX;
	tops_update(mm, i);
	gaps_update(mm, i, false);
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
	memmove(&mm->regions[at + 1], &mm->regions[at], (mm->nregions - at) * sizeof(*mm->regions));
	memmove(&mm->hot[at + 1], &mm->hot[at], (mm->nregions - at) * sizeof(*mm->hot));
	memmove(&mm->ends[at + 1], &mm->ends[at], (mm->nregions - at) * sizeof(*mm->ends));
	mm->regions[at] = nr;
	mm->hot[at] = (struct region_hot){ .hpa = hpa };
	mm->ends[at] = ua + size;
	mm->nregions++;
	tops_update(mm, at);
	gaps_update(mm, at, false);
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
	tops_update(mm, first);
	gaps_update(mm, first, true);
	c->nrefs = 0;
	mm_wrunlock(mm);
	if (nfreed)
		regions_freed_stats(h, freed_bytes, nfreed);
}

void mm_free(struct tcemu_host *h, struct mm *mm)
{
	(void)h;
	free(mm->regions);
	free(mm->hot);
	free(mm->ends);
	free(mm->tops);
	tcemu_rwlock_destroy(&mm->lock);
	free(mm);
}
