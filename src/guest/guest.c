/* SPDX-License-Identifier: MIT */
/*
 * The guest side: guest RAM, guest-view TCE windows (LIOBNs), links to v2 containers, and the
 * PAPR TCE hypercalls on the fast (in-kernel), slow (VMM) and combined paths. See tcemu/guest.h
 * and docs/guest.md (where tcemu follows LoPAR, KVM or QEMU).
 *
 * Locking: g->lock (rwlock) serializes the changes of the RAM map and of the window list (add_ram,
 * create/remove/link/unlink, exclusive) and the statistics readers (shared). Hypercalls do not
 * take it: the RAM map and the window list are published as immutable snapshots by an atomic
 * pointer, and a snapshot, like a removed window's struct, is kept until the guest is destroyed
 * (a hypercall may still be reading it). Each window has a lock (a spin lock that yields) that serializes hypercalls on it
 * (a guest's hcall is atomic to it) and protects its links, its view and its statistics; a
 * removed window is marked dead under it. Order: g->lock, then a window's lock, then (through
 * the container calls) the container and process locks of host_priv.h.
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/vfio.h>

#include <tcemu/guest.h>
#include <tcemu/table.h>

#include "guest/gate.h"
#include "vfio/host_priv.h"
#include "vfio/prereg.h"

#define GUEST_MIN_SHIFT 12
#define GUEST_MAX_SHIFT 34


struct ram {
	uint64_t gpa, size;
	uint8_t *hva;
};

/* Snapshots: immutable once published; replaced ones go on the guest's retired list. */
struct ram_map {
	struct ram_map *retired;
	size_t n;
	struct ram r[];
};

struct win_list {
	struct win_list *retired;
	size_t n;
	struct gwin *w[];
};

/* A link to a container: the fast path's view of it (host_priv.h), on the host's link list. */
struct link {
	struct guest_link gl;
	int fd;
	unsigned refs;
};

struct gwin {
	uint32_t liobn, page_shift;
	uint64_t offset, size; /* in guest pages */
	uint64_t start;        /* bus address of entry 0 */
	struct tcemu_table *view;
	struct table_slot view_slot; /* the view's leaf used last (under lock) */
	uint64_t charged;
	uint32_t lock;         /* GUEST_LOCK_* (host_priv.h): a spin lock that yields */
	bool dead;             /* removed (under lock) */
	struct link **links;
	size_t nlinks;
	struct tcemu_guest_stats stats; /* written under lock, read with atomic loads */
	struct gwin *retired;  /* removed windows, kept until the guest goes */
};

struct tcemu_guest {
	struct tcemu_host *h;
	struct mm *mm; /* charged for the guest views */
	pthread_rwlock_t lock;
	struct ram_map *ram;    /* published snapshot (atomic pointer) */
	struct win_list *wins;  /* published snapshot (atomic pointer) */
	struct win_list *old_lists;
	struct ram_map *old_maps;
	struct gwin *removed;
	struct tcemu_guest_stats stats; /* atomics: calls that found no window */
};

static inline void count(uint64_t *field, uint64_t n)
{
	__atomic_add_fetch(field, n, __ATOMIC_RELAXED);
}

/* A window's counter: one writer (the window's lock holder), readers load atomically. */
static inline void bump(uint64_t *field, uint64_t n)
{
	__atomic_store_n(field, *field + n, __ATOMIC_RELAXED);
}

static const struct ram_map *ram_snapshot(const struct tcemu_guest *g)
{
	return __atomic_load_n(&g->ram, __ATOMIC_ACQUIRE);
}

static const struct win_list *win_snapshot(const struct tcemu_guest *g)
{
	return __atomic_load_n(&g->wins, __ATOMIC_ACQUIRE);
}

/* ---- guest RAM ---- */

static const struct ram *ram_find(const struct ram_map *m, uint64_t gpa, uint64_t len)
{
	for (size_t i = 0; m && i < m->n; i++) {
		const struct ram *r = &m->r[i];

		if (gpa >= r->gpa && gpa - r->gpa < r->size && len <= r->size - (gpa - r->gpa))
			return r;
	}
	return NULL;
}

TCEMU_EXPORT void *tcemu_guest_gpa_to_hva(struct tcemu_guest *g, uint64_t gpa, uint64_t len)
{
	const struct ram *r = ram_find(ram_snapshot(g), gpa, len ? len : 1);

	return r ? r->hva + (gpa - r->gpa) : NULL;
}

TCEMU_EXPORT int tcemu_guest_add_ram(struct tcemu_guest *g, uint64_t gpa, uint64_t size, void *hva)
{
	uint64_t pg = 1ull << g->h->page_shift;
	struct ram_map *old, *n;
	size_t count;
	int rc = 0;

	if (!hva || !size || ((gpa | size | (uintptr_t)hva) & (pg - 1)) || gpa + size < gpa)
		return -EINVAL;
	pthread_rwlock_wrlock(&g->lock);
	old = g->ram;
	count = old ? old->n : 0;
	for (size_t i = 0; i < count; i++) {
		if (gpa < old->r[i].gpa + old->r[i].size && old->r[i].gpa < gpa + size) {
			rc = -EINVAL;
			goto out;
		}
	}
	n = malloc(sizeof(*n) + (count + 1) * sizeof(n->r[0]));
	if (!n) {
		rc = -ENOMEM;
		goto out;
	}
	n->retired = NULL;
	n->n = count + 1;
	if (count)
		memcpy(n->r, old->r, count * sizeof(n->r[0]));
	n->r[count] = (struct ram){ .gpa = gpa, .size = size, .hva = hva };
	__atomic_store_n(&g->ram, n, __ATOMIC_RELEASE);
	if (old) {
		old->retired = g->old_maps;
		g->old_maps = old;
	}
out:
	pthread_rwlock_unlock(&g->lock);
	return rc;
}

/* ---- windows ---- */

/*
 * A window's lock serializes its hypercalls, which are short, so it spins (then yields); a
 * fast-path hypercall takes it with GUEST_LOCK_FAST, its announcement to the guest gate.
 */
static void wlock(struct gwin *w, uint32_t how)
{
	tcemu_spin_lock_as(&w->lock, how);
}

static void wunlock(struct gwin *w)
{
	tcemu_spin_unlock(&w->lock);
}

static struct gwin *win_find(const struct win_list *l, uint32_t liobn)
{
	for (size_t i = 0; l && i < l->n; i++)
		if (l->w[i]->liobn == liobn)
			return l->w[i];
	return NULL;
}

/* Publishes the window list with add added or drop dropped. g->lock exclusive. -ENOMEM. */
static int win_publish(struct tcemu_guest *g, struct gwin *add, struct gwin *drop)
{
	struct win_list *old = g->wins, *n;
	size_t count = old ? old->n : 0, k = 0;

	n = malloc(sizeof(*n) + (count + 1) * sizeof(n->w[0]));
	if (!n)
		return -ENOMEM;
	n->retired = NULL;
	for (size_t i = 0; i < count; i++)
		if (old->w[i] != drop)
			n->w[k++] = old->w[i];
	if (add)
		n->w[k++] = add;
	n->n = k;
	__atomic_store_n(&g->wins, n, __ATOMIC_RELEASE);
	if (old) {
		old->retired = g->old_lists;
		g->old_lists = old;
	}
	return 0;
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

/* Takes a link off the host's list and frees it with its container reference. Window lock held. */
static void link_free(struct tcemu_guest *g, struct link *l)
{
	host_glink_del(g->h, &l->gl);
	host_container_put(g->h, l->gl.c);
	free(l);
}

/* Drops what a window holds (links, view, charge); the struct stays for late readers. */
static void win_release(struct tcemu_guest *g, struct gwin *w)
{
	for (size_t i = 0; i < w->nlinks; i++)
		link_free(g, w->links[i]);
	free(w->links);
	w->links = NULL;
	w->nlinks = 0;
	tcemu_table_unref(w->view);
	w->view = NULL;
	if (w->charged && g->mm)
		mm_account(g->h, g->mm, w->charged, false);
	w->charged = 0;
}

TCEMU_EXPORT int tcemu_guest_create_window(struct tcemu_guest *g, uint32_t liobn, uint32_t page_shift,
					   uint64_t offset, uint64_t size)
{
	struct gwin *w = NULL;
	uint64_t charge;
	int rc;

	if (!size || page_shift < GUEST_MIN_SHIFT || page_shift > GUEST_MAX_SHIFT || offset + size < offset ||
	    ((offset + size) >> (64 - page_shift)) != 0)
		return -EINVAL;
	pthread_rwlock_wrlock(&g->lock);
	if (win_find(g->wins, liobn)) {
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
	if (!w) {
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
		goto err_free;
	rc = win_publish(g, w, NULL);
	if (rc)
		goto err_destroy;
	pthread_rwlock_unlock(&g->lock);
	return 0;

err_destroy:
	tcemu_table_unref(w->view);
err_free:
	free(w);
err_unaccount:
	mm_account(g->h, g->mm, charge, false);
err_unlock:
	pthread_rwlock_unlock(&g->lock);
	return rc;
}

/* Clears what the fast path mapped through w's links (the whole window). Window lock held. */
static void win_clear_links(struct gwin *w)
{
	for (size_t l = 0; l < w->nlinks; l++)
		container_guest_clear(w->links[l]->gl.c, w->start, w->size << w->page_shift);
}

TCEMU_EXPORT int tcemu_guest_remove_window(struct tcemu_guest *g, uint32_t liobn)
{
	struct gwin *w;
	int rc;

	pthread_rwlock_wrlock(&g->lock);
	w = win_find(g->wins, liobn);
	rc = w ? win_publish(g, NULL, w) : -ENOENT;
	if (rc) {
		pthread_rwlock_unlock(&g->lock);
		return rc;
	}
	/* Hypercalls that found w before it left the list see it dead once they hold its lock. */
	wlock(w, GUEST_LOCK_HELD);
	w->dead = true;
	win_clear_links(w);
	win_release(g, w);
	wunlock(w);
	w->retired = g->removed;
	g->removed = w;
	pthread_rwlock_unlock(&g->lock);
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
	w = win_find(g->wins, liobn);
	if (!w) {
		rc = -ENOENT;
		goto out;
	}
	rc = container_window_matches(c, w->start, w->page_shift, w->size << w->page_shift);
	if (rc)
		goto out;
	wlock(w, GUEST_LOCK_HELD);
	for (size_t i = 0; i < w->nlinks; i++) {
		if (w->links[i]->gl.c == c) {
			w->links[i]->refs++;
			wunlock(w);
			goto out; /* the container reference taken above stays with the link */
		}
	}
	struct link **n = realloc(w->links, (w->nlinks + 1) * sizeof(*n)), *l = calloc(1, sizeof(*l));
	if (n)
		w->links = n;
	if (!n || !l) {
		free(l);
		rc = -ENOMEM;
	} else {
		*l = (struct link){ .gl = { .c = c, .lock = &w->lock, .hint = SIZE_MAX }, .fd = container_fd, .refs = 1 };
		host_glink_add(g->h, &l->gl);
		w->links[w->nlinks++] = l;
		c = NULL; /* owned by the link */
	}
	wunlock(w);
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
	w = win_find(g->wins, liobn);
	if (w) {
		wlock(w, GUEST_LOCK_HELD);
		for (size_t i = 0; i < w->nlinks; i++) {
			struct link *l = w->links[i];

			if (l->gl.c != c)
				continue;
			rc = 0;
			if (--l->refs == 0) {
				w->links[i] = w->links[--w->nlinks];
				link_free(g, l); /* puts the link's first container reference */
			} else {
				drop = c; /* each further link reference held one container reference */
			}
			break;
		}
		wunlock(w);
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

/* Hardware permission of a guest TCE: READ, and WRITE with READ (the host adds READ to WRITE). */
static uint64_t hw_perm(uint64_t tce)
{
	return (tce & TCEMU_TCE_WRITE) ? (TCEMU_TCE_READ | TCEMU_TCE_WRITE) : (tce & TCEMU_TCE_READ);
}

/* How many of tces[0, max) continue first page by page: first, first + pg, ... (8 at a time). */
static uint64_t count_linear(const uint64_t *tces, uint64_t max, uint64_t first, uint64_t pg)
{
	uint64_t k = 0;

	for (; k + 8 <= max; k += 8) {
		uint64_t diff = 0;

		for (unsigned i = 0; i < 8; i++)
			diff |= tces[k + i] ^ (first + (k + i) * pg);
		if (diff)
			break;
	}
	while (k < max && tces[k] == first + k * pg)
		k++;
	return k;
}

/*
 * Validates n guest TCEs (host byte order) and cuts them into runs (struct guest_run): a run maps
 * guest pages that follow each other in one RAM range with the same permission bits, or clears.
 * A TCE is valid if its address bits are page aligned and, with permissions, inside RAM. Every
 * entry is checked before any is applied: H_PARAMETER, nothing done.
 */
static long tces_to_runs(const struct ram_map *m, const struct gwin *w, const uint64_t *tces, uint64_t n,
			 struct guest_run *runs, size_t *nruns)
{
	const uint64_t pg = 1ull << w->page_shift;
	const struct ram *r = NULL;
	size_t k = 0;

	for (uint64_t i = 0, j; i < n; i = j) {
		uint64_t tce = tces[i], gpa = tce & ~TCEMU_TCE_PERM_MASK;

		if (!(tce & TCEMU_TCE_PERM_MASK)) {
			/* a run of clears (the view keeps no address bits: docs/guest.md) */
			for (j = i; j < n && !(tces[j] & TCEMU_TCE_PERM_MASK); j++)
				if (tces[j] & (pg - 1))
					return TCEMU_H_PARAMETER;
			runs[k++] = (struct guest_run){ .at = i, .n = j - i };
			continue;
		}
		if (gpa & (pg - 1))
			return TCEMU_H_PARAMETER;
		/* a list usually stays in one RAM range: try the previous one first */
		if (!r || gpa < r->gpa || gpa - r->gpa >= r->size || pg > r->size - (gpa - r->gpa))
			r = ram_find(m, gpa, pg);
		if (!r)
			return TCEMU_H_PARAMETER;
		/* the following TCEs that continue it: same bits, next page, still in this RAM range */
		if (i + 1 == n || tces[i + 1] != tce + pg)
			j = i + 1; /* a single (scattered pages) */
		else
			j = i + count_linear(&tces[i], tcemu_min_u64(n - i, (r->size - (gpa - r->gpa)) >> w->page_shift), tce, pg);
		runs[k++] = (struct guest_run){ .at = i, .n = j - i, .ua = (uint64_t)(uintptr_t)(r->hva + (gpa - r->gpa)),
						.perm = hw_perm(tce), .tce = tce };
	}
	*nruns = k;
	return TCEMU_H_SUCCESS;
}

/*
 * The guest view: each run as one table call, or, for a list of several runs (tces: the list as
 * validated), the list in one call. Levels were reserved by view_reserve, so nothing here can fail.
 */
static void view_put(struct gwin *w, uint64_t ioba, const struct guest_run *runs, size_t nruns, const uint64_t *tces)
{
	const uint64_t base = (ioba - w->start) >> w->page_shift;
	const bool whole = tces && nruns > 1;
	uint64_t set = 0, n = 0;

	/* a TCE without permission bits is a clear: the view keeps no address bits (docs/guest.md) */
	if (whole)
		tcemu_table_set(w->view, base, runs_span(runs, nruns), tces, NULL, NULL, NULL);
	for (size_t i = 0; i < nruns; i++) {
		const struct guest_run *r = &runs[i];

		set += r->ua ? r->n : 0;
		n += r->n;
		if (whole)
			continue;
		if (r->n == 1) /* one entry: a plain store (every writer of the view holds the window's lock) */
			table_store_owned(w->view, base + r->at, r->ua ? r->tce : 0);
		else if (r->ua)
			tcemu_table_set_linear(w->view, base + r->at, r->n, r->tce, 0, NULL, NULL);
		else
			tcemu_table_clear(w->view, base + r->at, r->n, NULL, NULL);
	}
	bump(&w->stats.tces_set, set);
	bump(&w->stats.tces_cleared, n - set);
}

/*
 * Allocates the view levels the runs need (a run of clears needs none; a list of several runs,
 * written in one call, those of its whole span). -ENOMEM.
 */
static int view_reserve(struct gwin *w, uint64_t ioba, const struct guest_run *runs, size_t nruns, const uint64_t *tces)
{
	uint64_t base = (ioba - w->start) >> w->page_shift;

	if (tces && nruns > 1)
		return tcemu_table_reserve(w->view, base, runs_span(runs, nruns));
	for (size_t i = 0; i < nruns; i++) {
		int rc = runs[i].ua ? tcemu_table_reserve(w->view, base + runs[i].at, runs[i].n) : 0;
		if (rc)
			return rc;
	}
	return 0;
}

/* Fast: every linked table through the container fast path. Window lock held. */
static long apply_fast(struct gwin *w, uint64_t ioba, const struct guest_run *runs, size_t nruns)
{
	uint64_t failed;

	if (!w->nlinks)
		return TCEMU_H_TOO_HARD; /* an unlinked window belongs to the VMM */
	for (size_t l = 0; l < w->nlinks; l++) {
		struct guest_link *gl = &w->links[l]->gl;
		int rc = nruns == 1 && runs[0].n == 1 /* H_PUT_TCE, a stuff of one: the short way */
				 ? container_guest_put1(gl, ioba, w->page_shift, runs[0].ua, runs[0].perm)
				 : container_guest_put(gl, ioba, w->page_shift, runs, nruns, &failed);
		if (rc)
			return TCEMU_H_TOO_HARD;
	}
	return TCEMU_H_SUCCESS;
}

/* Slow: what a VMM does, one MAP_DMA or UNMAP_DMA per guest TCE on each linked container. */
static long apply_slow(struct tcemu_guest *g, struct gwin *w, uint64_t ioba, const struct guest_run *runs,
		       size_t nruns)
{
	const uint64_t pg = 1ull << w->page_shift;
	long rc = TCEMU_H_SUCCESS;

	for (size_t l = 0; l < w->nlinks; l++) {
		for (size_t i = 0; i < nruns; i++) {
			const struct guest_run *run = &runs[i];

			for (uint64_t k = 0; k < run->n; k++) {
				uint64_t bus = ioba + ((run->at + k) << w->page_shift);
				long r;

				if (run->ua) {
					struct vfio_iommu_type1_dma_map m = {
						.argsz = sizeof(m),
						.flags = ((run->perm & TCEMU_TCE_READ) ? VFIO_DMA_MAP_FLAG_READ : 0) |
							 ((run->perm & TCEMU_TCE_WRITE) ? VFIO_DMA_MAP_FLAG_WRITE : 0),
						.vaddr = run->ua + k * pg,
						.iova = bus,
						.size = pg,
					};
					r = tcemu_host_ioctl(g->h, w->links[l]->fd, VFIO_IOMMU_MAP_DMA, &m);
				} else {
					struct vfio_iommu_type1_dma_unmap u = { .argsz = sizeof(u), .iova = bus, .size = pg };
					r = tcemu_host_ioctl(g->h, w->links[l]->fd, VFIO_IOMMU_UNMAP_DMA, &u);
				}
				if (r < 0)
					rc = TCEMU_H_HARDWARE;
			}
		}
	}
	return rc;
}

/*
 * One update of validated TCEs at ioba: on the fast path, the hardware first, then the view; on
 * the slow path, the view first (the VMM's own table), then MAP/UNMAP. tces: an INDIRECT list as
 * validated (host order), or NULL.
 */
static long update(struct tcemu_guest *g, struct gwin *w, enum path path, uint64_t ioba, const struct guest_run *runs,
		   size_t nruns, const uint64_t *tces)
{
	long rc;

	if (nruns == 1 && runs[0].n == 1) {
		/* one entry (H_PUT_TCE, a stuff of one): find its place in the view once */
		uint64_t tce = runs[0].ua ? runs[0].tce : 0;

		if (table_slot_find(w->view, (ioba - w->start) >> w->page_shift, tce != 0, &w->view_slot))
			return TCEMU_H_HARDWARE; /* no memory for the view: nothing changed */
		if (path == FAST && (rc = apply_fast(w, ioba, runs, nruns)) != TCEMU_H_SUCCESS)
			return rc;
		table_owned_store(w->view, &w->view_slot, tce);
		bump(tce ? &w->stats.tces_set : &w->stats.tces_cleared, 1);
		return path == FAST ? TCEMU_H_SUCCESS : apply_slow(g, w, ioba, runs, nruns);
	}
	if (view_reserve(w, ioba, runs, nruns, tces))
		return TCEMU_H_HARDWARE; /* no memory for the view: nothing changed */
	if (path == FAST) {
		/* the view is written after the hardware: its lines are fetched meanwhile (not for a clear) */
		if (nruns > 1 || runs[0].ua)
			table_prefetch_write(w->view, (ioba - w->start) >> w->page_shift, runs_span(runs, nruns));
		rc = apply_fast(w, ioba, runs, nruns);
		if (rc == TCEMU_H_SUCCESS)
			view_put(w, ioba, runs, nruns, tces);
		return rc;
	}
	view_put(w, ioba, runs, nruns, tces);
	return apply_slow(g, w, ioba, runs, nruns);
}

static long h_put_tce(struct gwin *w, enum path path, const struct ram_map *m, struct tcemu_guest *g,
		      const uint64_t *a)
{
	struct guest_run run;
	size_t nruns = 0;
	long rc;

	if (!ioba_ok(w, a[1], 1))
		return TCEMU_H_PARAMETER;
	rc = tces_to_runs(m, w, &a[2], 1, &run, &nruns);
	if (rc)
		return rc;
	return update(g, w, path, a[1], &run, nruns, NULL);
}

/* Entry k of a TCE list in guest memory, in host order: read once (the guest may be writing it). */
static inline uint64_t guest_tce(const uint64_t *list, uint64_t k)
{
	return be64toh(__atomic_load_n(&list[k], __ATOMIC_RELAXED));
}

/*
 * A list whose TCEs map page after page of one RAM range with the same bits (a direct map, as
 * Linux guests write) is one run. This checks it while reading the list once, without a copy:
 * each entry is read once, so the run describes what was read even if the guest writes the list
 * meanwhile. false: the list is not such a run (or is invalid); then nothing was decided.
 */
static bool list_one_run(const struct ram_map *m, const struct gwin *w, const uint64_t *list, uint64_t n,
			 struct guest_run *run)
{
	const uint64_t pg = 1ull << w->page_shift;
	const uint64_t first = guest_tce(list, 0), gpa = first & ~TCEMU_TCE_PERM_MASK;
	const struct ram *r;
	uint64_t k = 1, expect = first + pg;

	if (!(first & TCEMU_TCE_PERM_MASK) || (gpa & (pg - 1)) || !(r = ram_find(m, gpa, n << w->page_shift)))
		return false;
	for (; k + 4 <= n; k += 4, expect += 4 * pg)
		if ((guest_tce(list, k) ^ expect) | (guest_tce(list, k + 1) ^ (expect + pg)) |
		    (guest_tce(list, k + 2) ^ (expect + 2 * pg)) | (guest_tce(list, k + 3) ^ (expect + 3 * pg)))
			return false;
	for (; k < n; k++, expect += pg)
		if (guest_tce(list, k) != expect)
			return false;
	*run = (struct guest_run){ .at = 0, .n = n, .ua = (uint64_t)(uintptr_t)(r->hva + (gpa - r->gpa)),
				   .perm = hw_perm(first), .tce = first };
	return true;
}

static long h_put_tce_indirect(struct gwin *w, enum path path, const struct ram_map *m, struct tcemu_guest *g,
			       const uint64_t *a)
{
	uint64_t tces[TCEMU_TCE_LIST_MAX], n = a[3];
	struct guest_run runs[TCEMU_TCE_LIST_MAX];
	size_t nruns = 0;
	const struct ram *r;
	long rc;

	if (n > TCEMU_TCE_LIST_MAX || (a[2] & 4095))
		return TCEMU_H_PARAMETER;
	if (!ioba_ok(w, a[1], n))
		return TCEMU_H_PARAMETER;
	if (n == 0)
		return TCEMU_H_SUCCESS;
	r = ram_find(m, a[2], n * 8);
	if (!r)
		return TCEMU_H_PARAMETER;
	const uint64_t *list = (const uint64_t *)(r->hva + (a[2] - r->gpa));
	if (n > 1 && list_one_run(m, w, list, n, &runs[0]))
		return update(g, w, path, a[1], runs, 1, NULL);
	/* Copy the list first (the guest must not change it while it is validated), in host order. */
	for (uint64_t k = 0; k < n; k++)
		tces[k] = guest_tce(list, k);
	rc = tces_to_runs(m, w, tces, n, runs, &nruns);
	if (rc)
		return rc; /* all entries are validated before any is applied */
	return update(g, w, path, a[1], runs, nruns, tces);
}

static long h_stuff_tce(struct gwin *w, enum path path, struct tcemu_guest *g, const uint64_t *a)
{
	struct guest_run run = { .n = a[3] };

	/* KVM's rule: stuffing is for clearing; a value with permission bits is refused. */
	if (a[2] & TCEMU_TCE_PERM_MASK)
		return TCEMU_H_PARAMETER;
	if (!ioba_ok(w, a[1], a[3]))
		return TCEMU_H_PARAMETER;
	if (a[3] == 0)
		return TCEMU_H_SUCCESS;
	/* The whole range in one run of zeros: one clear per table, one invalidation. */
	return update(g, w, path, a[1], &run, 1, NULL);
}

static long h_get_tce(struct gwin *w, const uint64_t *a, uint64_t *ret)
{
	uint64_t tce = 0;

	if (!ioba_ok(w, a[1], 1))
		return TCEMU_H_PARAMETER;
	tcemu_table_get(w->view, (a[1] - w->start) >> w->page_shift, &tce, NULL);
	if (ret)
		*ret = tce;
	return TCEMU_H_SUCCESS;
}

/*
 * Counts a call's outcome in st: a window's (shared false: its lock is held, plain stores) or the
 * guest's (shared true: atomics). first: the call's first path, which counts the call.
 */
static inline void tally(struct tcemu_guest_stats *st, bool shared, enum path path, long rc, bool first)
{
	uint64_t *outcome = rc == TCEMU_H_TOO_HARD ? &st->too_hard
			    : rc != TCEMU_H_SUCCESS  ? &st->errors
			    : path == FAST           ? &st->fast
						     : &st->slow;

	if (shared) {
		if (first)
			count(&st->hcalls, 1);
		count(outcome, 1);
	} else {
		if (first)
			bump(&st->hcalls, 1);
		bump(outcome, 1);
	}
}

/* One hypercall on one path; first: the call's first path (it counts the call). */
static long hcall(struct tcemu_guest *g, enum path path, unsigned long op, const uint64_t *a, uint64_t *ret, bool first)
{
	struct gwin *w = NULL;
	long rc;

	if (op != TCEMU_H_PUT_TCE && op != TCEMU_H_PUT_TCE_INDIRECT && op != TCEMU_H_STUFF_TCE && op != TCEMU_H_GET_TCE) {
		rc = TCEMU_H_FUNCTION;
		goto no_window;
	}
	if (!a) {
		rc = TCEMU_H_PARAMETER;
		goto no_window;
	}
	if (a[0] <= UINT32_MAX)
		w = win_find(win_snapshot(g), (uint32_t)a[0]);
	if (w) {
		wlock(w, path == FAST ? GUEST_LOCK_HELD | GUEST_LOCK_FAST : GUEST_LOCK_HELD);
		if (w->dead) {
			wunlock(w);
			w = NULL;
		}
	}
	if (!w) {
		/* the fast path does not know every window; the VMM does */
		rc = path == FAST ? TCEMU_H_TOO_HARD : TCEMU_H_PARAMETER;
		goto no_window;
	}
	switch (op) {
	case TCEMU_H_PUT_TCE:
		rc = h_put_tce(w, path, ram_snapshot(g), g, a);
		break;
	case TCEMU_H_PUT_TCE_INDIRECT:
		rc = h_put_tce_indirect(w, path, ram_snapshot(g), g, a);
		break;
	case TCEMU_H_STUFF_TCE:
		rc = h_stuff_tce(w, path, g, a);
		break;
	default:
		rc = path == FAST && !w->nlinks ? TCEMU_H_TOO_HARD : h_get_tce(w, a, ret);
		break;
	}
	tally(&w->stats, false, path, rc, first);
	wunlock(w);
	return rc;

no_window:
	tally(&g->stats, true, path, rc, first);
	return rc;
}

TCEMU_EXPORT long tcemu_guest_hcall_fast(struct tcemu_guest *g, unsigned long opcode, const uint64_t *args, uint64_t *ret)
{
	return hcall(g, FAST, opcode, args, ret, true);
}

TCEMU_EXPORT long tcemu_guest_hcall_slow(struct tcemu_guest *g, unsigned long opcode, const uint64_t *args, uint64_t *ret)
{
	return hcall(g, SLOW, opcode, args, ret, true);
}

TCEMU_EXPORT long tcemu_guest_hcall(struct tcemu_guest *g, unsigned long opcode, const uint64_t *args, uint64_t *ret)
{
	long rc = hcall(g, FAST, opcode, args, ret, true);

	return rc == TCEMU_H_TOO_HARD ? hcall(g, SLOW, opcode, args, ret, false) : rc;
}

static void stats_add(struct tcemu_guest_stats *to, const struct tcemu_guest_stats *from)
{
	const uint64_t *src = (const uint64_t *)from;
	uint64_t *dst = (uint64_t *)to;

	for (size_t i = 0; i < sizeof(*to) / sizeof(uint64_t); i++)
		dst[i] += __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}

TCEMU_EXPORT void tcemu_guest_stats(struct tcemu_guest *g, struct tcemu_guest_stats *st)
{
	memset(st, 0, sizeof(*st));
	pthread_rwlock_rdlock(&g->lock);
	stats_add(st, &g->stats);
	for (size_t i = 0; g->wins && i < g->wins->n; i++)
		stats_add(st, &g->wins->w[i]->stats);
	for (const struct gwin *w = g->removed; w; w = w->retired)
		stats_add(st, &w->stats);
	pthread_rwlock_unlock(&g->lock);
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
	while (g->wins && g->wins->n)
		tcemu_guest_remove_window(g, g->wins->w[0]->liobn);
	free(g->wins);
	free(g->ram);
	for (struct win_list *l = g->old_lists, *next; l; l = next) {
		next = l->retired;
		free(l);
	}
	for (struct ram_map *m = g->old_maps, *next; m; m = next) {
		next = m->retired;
		free(m);
	}
	for (struct gwin *w = g->removed, *next; w; w = next) {
		next = w->retired;
		free(w);
	}
	pthread_rwlock_destroy(&g->lock);
	free(g);
}
