/* SPDX-License-Identifier: MIT */
/*
 * The guest side: guest RAM, guest-view TCE windows (LIOBNs), links to v2 containers, and the
 * PAPR TCE hypercalls on the fast (in-kernel), slow (VMM) and combined paths. See tcemu/guest.h
 * and docs/guest.md (where tcemu follows LoPAR, KVM or QEMU).
 *
 * Locking: g->lock (rwlock) protects the RAM map and the window list: hypercalls take it shared,
 * add_ram/create/remove/link exclusive. Each window has a mutex that serializes hypercalls on it
 * (a guest's hcall is atomic to it) and protects its links. Order: g->lock, then a window's mutex,
 * then (through the container calls) the container and process locks of host_priv.h.
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/vfio.h>

#include <tcemu/guest.h>
#include <tcemu/table.h>

#include "host_priv.h"

#define GUEST_MIN_SHIFT 12
#define GUEST_MAX_SHIFT 34

static const uint64_t zeros[TCEMU_TCE_LIST_MAX]; /* a list of cleared TCEs */

struct ram {
	uint64_t gpa, size;
	uint8_t *hva;
};

struct link {
	struct container *c;
	int fd;
	unsigned refs;
};

struct gwin {
	uint32_t liobn, page_shift;
	uint64_t offset, size; /* in guest pages */
	uint64_t start;        /* bus address of entry 0 */
	struct tcemu_table *view;
	uint64_t charged;
	pthread_mutex_t lock;
	struct link *links;
	size_t nlinks;
};

struct tcemu_guest {
	struct tcemu_host *h;
	struct mm *mm; /* charged for the guest views */
	pthread_rwlock_t lock;
	struct ram *ram;
	size_t nram;
	struct gwin **wins;
	size_t nwins;
	struct tcemu_guest_stats stats; /* atomics */
};

static void count(uint64_t *field, uint64_t n)
{
	__atomic_add_fetch(field, n, __ATOMIC_RELAXED);
}

/* ---- guest RAM ---- */

static const struct ram *ram_find(const struct tcemu_guest *g, uint64_t gpa, uint64_t len)
{
	for (size_t i = 0; i < g->nram; i++) {
		const struct ram *r = &g->ram[i];

		if (gpa >= r->gpa && gpa - r->gpa < r->size && len <= r->size - (gpa - r->gpa))
			return r;
	}
	return NULL;
}

TCEMU_EXPORT void *tcemu_guest_gpa_to_hva(struct tcemu_guest *g, uint64_t gpa, uint64_t len)
{
	const struct ram *r;
	void *p = NULL;

	pthread_rwlock_rdlock(&g->lock);
	r = ram_find(g, gpa, len ? len : 1);
	if (r)
		p = r->hva + (gpa - r->gpa);
	pthread_rwlock_unlock(&g->lock);
	return p;
}

TCEMU_EXPORT int tcemu_guest_add_ram(struct tcemu_guest *g, uint64_t gpa, uint64_t size, void *hva)
{
	uint64_t pg = 1ull << g->h->page_shift;
	struct ram *n;
	int rc = 0;

	if (!hva || !size || ((gpa | size | (uintptr_t)hva) & (pg - 1)) || gpa + size < gpa)
		return -EINVAL;
	pthread_rwlock_wrlock(&g->lock);
	for (size_t i = 0; i < g->nram; i++) {
		if (gpa < g->ram[i].gpa + g->ram[i].size && g->ram[i].gpa < gpa + size) {
			rc = -EINVAL;
			goto out;
		}
	}
	n = realloc(g->ram, (g->nram + 1) * sizeof(*n));
	if (!n) {
		rc = -ENOMEM;
		goto out;
	}
	g->ram = n;
	g->ram[g->nram++] = (struct ram){ .gpa = gpa, .size = size, .hva = hva };
out:
	pthread_rwlock_unlock(&g->lock);
	return rc;
}

/* ---- windows ---- */

static struct gwin *win_find(const struct tcemu_guest *g, uint32_t liobn)
{
	for (size_t i = 0; i < g->nwins; i++)
		if (g->wins[i]->liobn == liobn)
			return g->wins[i];
	return NULL;
}

/*
 * The view table: from the window's start, its size rounded up to a power of two; the fewest
 * levels that keep a level at 64 KiB or less (so a huge sparse window allocates little).
 */
static int view_create(uint64_t start, uint32_t shift, uint64_t pages, uint32_t sys, struct tcemu_table **out)
{
	struct tcemu_table_params p = { .bus_offset = start, .page_shift = shift, .sys_page_shift = sys };
	struct tcemu_table_geometry geo;
	uint32_t best = 0;
	uint64_t span = 1;

	while (span < pages)
		span <<= 1;
	if (span > (UINT64_MAX >> shift))
		return -EINVAL;
	p.window_size = span << shift;
	for (uint32_t levels = 1; levels <= 4; levels++) {
		p.levels = levels;
		if (tcemu_table_geometry(&p, &geo) != 0)
			continue;
		best = levels;
		if (geo.level_shift <= 16)
			break;
	}
	if (!best)
		return -EINVAL;
	p.levels = best;
	return tcemu_table_create(&p, out);
}

static void win_free(struct tcemu_guest *g, struct gwin *w)
{
	for (size_t i = 0; i < w->nlinks; i++)
		host_container_put(g->h, w->links[i].c);
	free(w->links);
	tcemu_table_unref(w->view);
	if (w->charged && g->mm)
		mm_account(g->h, g->mm, w->charged, false);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

TCEMU_EXPORT int tcemu_guest_create_window(struct tcemu_guest *g, uint32_t liobn, uint32_t page_shift,
					   uint64_t offset, uint64_t size)
{
	struct gwin *w = NULL, **n;
	uint64_t charge;
	int rc;

	if (!size || page_shift < GUEST_MIN_SHIFT || page_shift > GUEST_MAX_SHIFT || offset + size < offset ||
	    ((offset + size) >> (64 - page_shift)) != 0)
		return -EINVAL;
	pthread_rwlock_wrlock(&g->lock);
	if (win_find(g, liobn)) {
		rc = -EBUSY;
		goto err_unlock;
	}
	if (!g->mm) {
		pthread_mutex_lock(&g->h->lock);
		g->mm = host_mm_get(g->h, host_caller(g->h), true);
		pthread_mutex_unlock(&g->h->lock);
		if (!g->mm) {
			rc = -ENOMEM;
			goto err_unlock;
		}
	}
	charge = size * 8; /* one 64-bit TCE per page, as KVM charges its guest views */
	rc = mm_account(g->h, g->mm, charge, true);
	if (rc)
		goto err_unlock;
	w = calloc(1, sizeof(*w));
	n = realloc(g->wins, (g->nwins + 1) * sizeof(*n));
	if (n)
		g->wins = n;
	if (!w || !n) {
		rc = -ENOMEM;
		goto err_unaccount;
	}
	w->liobn = liobn;
	w->page_shift = page_shift;
	w->offset = offset;
	w->size = size;
	w->start = offset << page_shift;
	w->charged = charge;
	rc = view_create(w->start, page_shift, size, g->h->page_shift, &w->view);
	if (rc)
		goto err_unaccount;
	pthread_mutex_init(&w->lock, NULL);
	g->wins[g->nwins++] = w;
	pthread_rwlock_unlock(&g->lock);
	return 0;

err_unaccount:
	free(w);
	mm_account(g->h, g->mm, charge, false);
err_unlock:
	pthread_rwlock_unlock(&g->lock);
	return rc;
}

/* Clears what the fast path mapped through w's links (the whole window). Window lock held. */
static void win_clear_links(struct gwin *w)
{
	for (size_t l = 0; l < w->nlinks; l++)
		container_guest_clear(w->links[l].c, w->start, w->size << w->page_shift);
}

TCEMU_EXPORT int tcemu_guest_remove_window(struct tcemu_guest *g, uint32_t liobn)
{
	struct gwin *w;

	pthread_rwlock_wrlock(&g->lock);
	w = win_find(g, liobn);
	if (!w) {
		pthread_rwlock_unlock(&g->lock);
		return -ENOENT;
	}
	for (size_t i = 0; i < g->nwins; i++) {
		if (g->wins[i] == w) {
			g->wins[i] = g->wins[--g->nwins];
			break;
		}
	}
	pthread_rwlock_unlock(&g->lock);
	pthread_mutex_lock(&w->lock);
	win_clear_links(w);
	pthread_mutex_unlock(&w->lock);
	win_free(g, w);
	return 0;
}

TCEMU_EXPORT int tcemu_guest_link(struct tcemu_guest *g, uint32_t liobn, int container_fd)
{
	struct container *c;
	struct gwin *w;
	int rc = 0;

	c = host_container_get(g->h, container_fd);
	if (!c)
		return tcemu_host_is_fd(g->h, container_fd) ? -EINVAL : -EBADF;
	pthread_rwlock_wrlock(&g->lock);
	w = win_find(g, liobn);
	if (!w) {
		rc = -ENOENT;
		goto out;
	}
	rc = container_window_matches(c, w->start, w->page_shift, w->size << w->page_shift);
	if (rc)
		goto out;
	pthread_mutex_lock(&w->lock);
	for (size_t i = 0; i < w->nlinks; i++) {
		if (w->links[i].c == c) {
			w->links[i].refs++;
			pthread_mutex_unlock(&w->lock);
			goto out; /* the container reference taken above stays with the link */
		}
	}
	struct link *n = realloc(w->links, (w->nlinks + 1) * sizeof(*n));
	if (!n) {
		rc = -ENOMEM;
	} else {
		w->links = n;
		w->links[w->nlinks++] = (struct link){ .c = c, .fd = container_fd, .refs = 1 };
		c = NULL; /* owned by the link */
	}
	pthread_mutex_unlock(&w->lock);
out:
	pthread_rwlock_unlock(&g->lock);
	if (rc && c)
		host_container_put(g->h, c);
	return rc;
}

TCEMU_EXPORT int tcemu_guest_unlink(struct tcemu_guest *g, uint32_t liobn, int container_fd)
{
	struct container *c = host_container_get(g->h, container_fd), *drop = NULL;
	struct gwin *w;
	int rc = -ENOENT;

	if (!c)
		return -EBADF;
	pthread_rwlock_rdlock(&g->lock);
	w = win_find(g, liobn);
	if (w) {
		pthread_mutex_lock(&w->lock);
		for (size_t i = 0; i < w->nlinks; i++) {
			if (w->links[i].c != c)
				continue;
			rc = 0;
			if (--w->links[i].refs == 0) {
				drop = c;
				w->links[i] = w->links[--w->nlinks];
			} else {
				drop = c; /* each link reference held one container reference */
			}
			break;
		}
		pthread_mutex_unlock(&w->lock);
	}
	pthread_rwlock_unlock(&g->lock);
	host_container_put(g->h, c);
	if (drop)
		host_container_put(g->h, drop);
	return rc;
}

/* ---- hypercalls ---- */

enum path { FAST, SLOW };

/* ioba inside the window, aligned, with count pages from it. */
static bool ioba_ok(const struct gwin *w, uint64_t ioba, uint64_t n)
{
	uint64_t first = ioba >> w->page_shift;

	return !(ioba & ((1ull << w->page_shift) - 1)) && first >= w->offset && first - w->offset < w->size &&
	       n <= w->size - (first - w->offset);
}

/* A guest TCE is valid if its address bits are page aligned and, with permissions, inside RAM. */
static long tce_check(struct tcemu_guest *g, const struct gwin *w, uint64_t tce, uint64_t *ua,
		      const struct ram **hint)
{
	uint64_t gpa = tce & ~TCEMU_TCE_PERM_MASK, len = 1ull << w->page_shift;
	const struct ram *r = *hint;

	*ua = 0;
	if (gpa & (len - 1) & ~TCEMU_TCE_PERM_MASK)
		return TCEMU_H_PARAMETER;
	if (!(tce & TCEMU_TCE_PERM_MASK))
		return TCEMU_H_SUCCESS;
	/* a list usually stays in one RAM range: try the previous one first */
	if (!r || gpa < r->gpa || gpa - r->gpa >= r->size || len > r->size - (gpa - r->gpa))
		r = *hint = ram_find(g, gpa, len);
	if (!r)
		return TCEMU_H_PARAMETER;
	*ua = (uint64_t)(uintptr_t)(r->hva + (gpa - r->gpa));
	return TCEMU_H_SUCCESS;
}

/* Hardware permission of a guest TCE: READ, and WRITE with READ (the host adds READ to WRITE). */
static uint64_t hw_perm(uint64_t tce)
{
	return (tce & TCEMU_TCE_WRITE) ? (TCEMU_TCE_READ | TCEMU_TCE_WRITE) : (tce & TCEMU_TCE_READ);
}

/* The guest view, written last. */
static void view_put(struct tcemu_guest *g, struct gwin *w, uint64_t ioba, uint64_t n, const uint64_t *tces)
{
	uint64_t base = (ioba >> w->page_shift) - (tcemu_table_params(w->view)->bus_offset >> w->page_shift);
	uint64_t set = 0;

	/* One batch: the view's levels were checked when the window was made; an allocation failure
	 * here could only come from a new level, and then entry by entry is the fallback. */
	if (tcemu_table_set(w->view, base, n, tces, NULL, NULL, NULL) != 0) {
		for (uint64_t i = 0; i < n; i++) {
			uint64_t t = tces[i];
			tcemu_table_xchg(w->view, base + i, &t, NULL);
		}
	}
	for (uint64_t i = 0; i < n; i++)
		set += (tces[i] & TCEMU_TCE_PERM_MASK) != 0;
	count(&g->stats.tces_set, set);
	count(&g->stats.tces_cleared, n - set);
}

/* Fast: every linked table through the container fast path. Window lock held. */
static long apply_fast(struct gwin *w, uint64_t ioba, uint64_t n, const uint64_t *uas, const uint64_t *perms)
{
	uint64_t failed;

	if (!w->nlinks)
		return TCEMU_H_TOO_HARD; /* an unlinked window belongs to the VMM */
	for (size_t l = 0; l < w->nlinks; l++) {
		int rc = container_guest_put(w->links[l].c, ioba, w->page_shift, n, uas, perms, &failed);
		if (rc)
			return TCEMU_H_TOO_HARD;
	}
	return TCEMU_H_SUCCESS;
}

/* Slow: what a VMM does, one MAP_DMA or UNMAP_DMA per guest TCE on each linked container. */
static long apply_slow(struct tcemu_guest *g, struct gwin *w, uint64_t ioba, uint64_t n, const uint64_t *uas,
		       const uint64_t *perms)
{
	long rc = TCEMU_H_SUCCESS;

	for (size_t l = 0; l < w->nlinks; l++) {
		for (uint64_t i = 0; i < n; i++) {
			uint64_t bus = ioba + (i << w->page_shift);
			long r;

			if (uas[i]) {
				struct vfio_iommu_type1_dma_map m = {
					.argsz = sizeof(m),
					.flags = ((perms[i] & TCEMU_TCE_READ) ? VFIO_DMA_MAP_FLAG_READ : 0) |
						 ((perms[i] & TCEMU_TCE_WRITE) ? VFIO_DMA_MAP_FLAG_WRITE : 0),
					.vaddr = uas[i],
					.iova = bus,
					.size = 1ull << w->page_shift,
				};
				r = tcemu_host_ioctl(g->h, w->links[l].fd, VFIO_IOMMU_MAP_DMA, &m);
			} else {
				struct vfio_iommu_type1_dma_unmap u = { .argsz = sizeof(u), .iova = bus,
									.size = 1ull << w->page_shift };
				r = tcemu_host_ioctl(g->h, w->links[l].fd, VFIO_IOMMU_UNMAP_DMA, &u);
			}
			if (r < 0)
				rc = TCEMU_H_HARDWARE;
		}
	}
	return rc;
}

/*
 * One update of n guest TCEs at ioba (already validated): on the fast path, the hardware first,
 * then the view; on the slow path, the view first (the VMM's own table), then MAP/UNMAP.
 */
static long update(struct tcemu_guest *g, struct gwin *w, enum path path, uint64_t ioba, uint64_t n,
		   const uint64_t *tces, const uint64_t *uas)
{
	uint64_t perms[TCEMU_TCE_LIST_MAX];
	long rc;

	for (uint64_t i = 0; i < n; i++)
		perms[i] = hw_perm(tces[i]);
	if (path == FAST) {
		rc = apply_fast(w, ioba, n, uas, perms);
		if (rc == TCEMU_H_SUCCESS)
			view_put(g, w, ioba, n, tces);
		return rc;
	}
	view_put(g, w, ioba, n, tces);
	return apply_slow(g, w, ioba, n, uas, perms);
}

static long h_put_tce(struct tcemu_guest *g, struct gwin *w, enum path path, const uint64_t *a)
{
	uint64_t ua, tce = a[2];
	long rc;

	const struct ram *hint = NULL;

	if (!ioba_ok(w, a[1], 1))
		return TCEMU_H_PARAMETER;
	rc = tce_check(g, w, tce, &ua, &hint);
	if (rc)
		return rc;
	return update(g, w, path, a[1], 1, &tce, &ua);
}

static long h_put_tce_indirect(struct tcemu_guest *g, struct gwin *w, enum path path, const uint64_t *a)
{
	uint64_t tces[TCEMU_TCE_LIST_MAX], uas[TCEMU_TCE_LIST_MAX], n = a[3];
	const struct ram *r;
	long rc;

	if (n > TCEMU_TCE_LIST_MAX || (a[2] & 4095))
		return TCEMU_H_PARAMETER;
	if (!ioba_ok(w, a[1], n))
		return TCEMU_H_PARAMETER;
	if (n == 0)
		return TCEMU_H_SUCCESS;
	r = ram_find(g, a[2], n * 8);
	if (!r)
		return TCEMU_H_PARAMETER;
	/* Copy the list first: the guest must not change it while it is validated. */
	memcpy(tces, r->hva + (a[2] - r->gpa), n * 8);
	const struct ram *hint = NULL;
	for (uint64_t i = 0; i < n; i++) {
		tces[i] = be64toh(tces[i]);
		rc = tce_check(g, w, tces[i], &uas[i], &hint);
		if (rc)
			return rc; /* all entries are validated before any is applied */
	}
	return update(g, w, path, a[1], n, tces, uas);
}

static long h_stuff_tce(struct tcemu_guest *g, struct gwin *w, enum path path, const uint64_t *a)
{
	uint64_t n = a[3];
	long rc = TCEMU_H_SUCCESS;

	/* KVM's rule: stuffing is for clearing; a value with permission bits is refused. */
	if (a[2] & TCEMU_TCE_PERM_MASK)
		return TCEMU_H_PARAMETER;
	if (!ioba_ok(w, a[1], n))
		return TCEMU_H_PARAMETER;
	for (uint64_t done = 0; done < n && rc == TCEMU_H_SUCCESS; done += TCEMU_TCE_LIST_MAX) {
		uint64_t k = tcemu_min_u64(TCEMU_TCE_LIST_MAX, n - done);
		rc = update(g, w, path, a[1] + (done << w->page_shift), k, zeros, zeros);
	}
	return rc;
}

static long h_get_tce(struct gwin *w, const uint64_t *a, uint64_t *ret)
{
	uint64_t tce = 0;

	if (!ioba_ok(w, a[1], 1))
		return TCEMU_H_PARAMETER;
	tcemu_table_get(w->view, (a[1] - tcemu_table_params(w->view)->bus_offset) >> w->page_shift, &tce, NULL);
	if (ret)
		*ret = tce;
	return TCEMU_H_SUCCESS;
}

static long hcall(struct tcemu_guest *g, enum path path, unsigned long op, const uint64_t *a, uint64_t *ret)
{
	struct gwin *w;
	long rc;

	if (op != TCEMU_H_PUT_TCE && op != TCEMU_H_PUT_TCE_INDIRECT && op != TCEMU_H_STUFF_TCE && op != TCEMU_H_GET_TCE)
		return TCEMU_H_FUNCTION;
	if (!a)
		return TCEMU_H_PARAMETER;
	pthread_rwlock_rdlock(&g->lock);
	w = win_find(g, (uint32_t)a[0]);
	if (!w || a[0] > UINT32_MAX) {
		pthread_rwlock_unlock(&g->lock);
		/* the fast path does not know every window; the VMM does */
		return path == FAST ? TCEMU_H_TOO_HARD : TCEMU_H_PARAMETER;
	}
	pthread_mutex_lock(&w->lock);
	switch (op) {
	case TCEMU_H_PUT_TCE:
		rc = h_put_tce(g, w, path, a);
		break;
	case TCEMU_H_PUT_TCE_INDIRECT:
		rc = h_put_tce_indirect(g, w, path, a);
		break;
	case TCEMU_H_STUFF_TCE:
		rc = h_stuff_tce(g, w, path, a);
		break;
	default:
		rc = path == FAST && !w->nlinks ? TCEMU_H_TOO_HARD : h_get_tce(w, a, ret);
		break;
	}
	pthread_mutex_unlock(&w->lock);
	pthread_rwlock_unlock(&g->lock);
	return rc;
}

static void tally(struct tcemu_guest *g, enum path path, long rc)
{
	if (rc == TCEMU_H_TOO_HARD)
		count(&g->stats.too_hard, 1);
	else if (rc != TCEMU_H_SUCCESS)
		count(&g->stats.errors, 1);
	else
		count(path == FAST ? &g->stats.fast : &g->stats.slow, 1);
}

TCEMU_EXPORT long tcemu_guest_hcall_fast(struct tcemu_guest *g, unsigned long opcode, const uint64_t *args, uint64_t *ret)
{
	long rc = hcall(g, FAST, opcode, args, ret);

	count(&g->stats.hcalls, 1);
	tally(g, FAST, rc);
	return rc;
}

TCEMU_EXPORT long tcemu_guest_hcall_slow(struct tcemu_guest *g, unsigned long opcode, const uint64_t *args, uint64_t *ret)
{
	long rc = hcall(g, SLOW, opcode, args, ret);

	count(&g->stats.hcalls, 1);
	tally(g, SLOW, rc);
	return rc;
}

TCEMU_EXPORT long tcemu_guest_hcall(struct tcemu_guest *g, unsigned long opcode, const uint64_t *args, uint64_t *ret)
{
	long rc = hcall(g, FAST, opcode, args, ret);

	count(&g->stats.hcalls, 1);
	tally(g, FAST, rc);
	if (rc != TCEMU_H_TOO_HARD)
		return rc;
	rc = hcall(g, SLOW, opcode, args, ret);
	tally(g, SLOW, rc);
	return rc;
}

TCEMU_EXPORT void tcemu_guest_stats(struct tcemu_guest *g, struct tcemu_guest_stats *st)
{
	const uint64_t *src = (const uint64_t *)&g->stats;
	uint64_t *dst = (uint64_t *)st;

	for (size_t i = 0; i < sizeof(*st) / sizeof(uint64_t); i++)
		dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}

/* The host a guest belongs to (for rtas.c). */
struct tcemu_host *guest_host(struct tcemu_guest *g)
{
	return g->h;
}

/* ---- life ---- */

TCEMU_EXPORT int tcemu_guest_create(struct tcemu_host *h, struct tcemu_guest **out)
{
	struct tcemu_guest *g;

	if (!h || !out)
		return -EINVAL;
	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->h = h;
	if (pthread_rwlock_init(&g->lock, NULL)) {
		free(g);
		return -ENOMEM;
	}
	*out = g;
	return 0;
}

TCEMU_EXPORT void tcemu_guest_destroy(struct tcemu_guest *g)
{
	if (!g)
		return;
	while (g->nwins)
		tcemu_guest_remove_window(g, g->wins[0]->liobn);
	free(g->wins);
	free(g->ram);
	pthread_rwlock_destroy(&g->lock);
	free(g);
}
