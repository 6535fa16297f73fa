/* SPDX-License-Identifier: MIT */
/*
 * The guest side: the guest object, guest RAM, guest-view TCE windows (LIOBNs), their links to v2
 * containers, and statistics. The PAPR TCE hypercalls on the fast (in-kernel), slow (VMM) and
 * combined paths are guest/hcall.c. See tcemu/guest.h and docs/guest.md (where tcemu follows
 * LoPAR, KVM or QEMU).
 *
 * Locking: guest/guest_priv.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <tcemu/guest.h>
#include <tcemu/table.h>

#include "guest/gate.h"
#include "guest/guest_priv.h"
#include "util/grace.h"
#include "vfio/host_priv.h"
#include "vfio/prereg.h"

#define GUEST_MIN_SHIFT 12
#define GUEST_MAX_SHIFT 34

/* ---- snapshots ---- */

static void *snapshot_alloc(struct tcemu_guest *g, size_t size)
{
	void *p = host_malloc(g->h, size);

	if (p)
		__atomic_add_fetch(&g->live_snapshots, 1, __ATOMIC_RELAXED);
	return p;
}

static void snapshot_free(struct tcemu_guest *g, void *p)
{
	if (p)
		__atomic_sub_fetch(&g->live_snapshots, 1, __ATOMIC_RELAXED);
	free(p);
}

/*
 * Frees what a change unpublished (a replaced snapshot, a removed window, NULL for none) once no
 * hypercall can still see it. No lock held: a hypercall inside its section may wait for any of
 * the guest's or the host's locks.
 */
static void retire(struct tcemu_guest *g, void *snapshot, struct gwin *w)
{
	if (!snapshot && !w)
		return;
	grace_wait();
	snapshot_free(g, snapshot);
	if (w) {
		__atomic_sub_fetch(&g->live_windows, 1, __ATOMIC_RELAXED);
		free(w);
	}
}

/* ---- guest RAM ---- */

TCEMU_EXPORT void *tcemu_guest_gpa_to_hva(struct tcemu_guest *g, uint64_t gpa, uint64_t len)
{
	const struct ram *r;
	void *hva;

	if (grace_read_enter())
		return NULL;
	r = ram_find(ram_snapshot(g), gpa, len ? len : 1);
	hva = r ? r->hva + (gpa - r->gpa) : NULL;
	grace_read_exit();
	return hva;
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
	n = snapshot_alloc(g, sizeof(*n) + (count + 1) * sizeof(n->r[0]));
	if (!n) {
		rc = -ENOMEM;
		goto out;
	}
	n->n = count + 1;
	if (count)
		memcpy(n->r, old->r, count * sizeof(n->r[0]));
	n->r[count] = (struct ram){ .gpa = gpa, .size = size, .hva = hva };
	__atomic_store_n(&g->ram, n, __ATOMIC_RELEASE);
	pthread_rwlock_unlock(&g->lock);
	retire(g, old, NULL);
	return 0;
out:
	pthread_rwlock_unlock(&g->lock);
	return rc;
}

/* ---- windows ---- */

/*
 * Publishes the window list with add added or drop dropped; *old gets the list it replaced, for
 * retire() once g->lock is dropped. g->lock exclusive. -ENOMEM (nothing changed).
 */
static int win_publish(struct tcemu_guest *g, struct gwin *add, struct gwin *drop, struct win_list **old)
{
	struct win_list *cur = g->wins, *n;
	size_t count = cur ? cur->n : 0, k = 0;

	n = snapshot_alloc(g, sizeof(*n) + (count + 1) * sizeof(n->w[0]));
	if (!n)
		return -ENOMEM;
	for (size_t i = 0; i < count; i++)
		if (cur->w[i] != drop)
			n->w[k++] = cur->w[i];
	if (add)
		n->w[k++] = add;
	n->n = k;
	__atomic_store_n(&g->wins, n, __ATOMIC_RELEASE);
	*old = cur;
	return 0;
}

/*
 * The view table: from the window's start, its size rounded up to a power of two; the fewest
 * levels that keep a level at 64 KiB or less (so a huge sparse window allocates little).
 */
static int view_create(struct tcemu_host *h, uint64_t start, uint32_t shift, uint64_t pages, uint32_t sys,
		       struct tcemu_table **out)
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
	return table_create_hooked(&p, &h->hook, out); /* the host's failure injection reaches it */
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
	struct win_list *old;
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
		g->mm = host_mm_get(g->h, host_caller(g->h), true);
		if (!g->mm) {
			rc = -ENOMEM;
			goto err_unlock;
		}
	}
	charge = size * 8; /* one 64-bit TCE per page, as KVM charges its guest views */
	rc = mm_account(g->h, g->mm, charge, true);
	if (rc)
		goto err_unlock;
	w = host_alloc(g->h, sizeof(*w));
	if (!w) {
		rc = -ENOMEM;
		goto err_unaccount;
	}
	__atomic_add_fetch(&g->live_windows, 1, __ATOMIC_RELAXED);
	w->liobn = liobn;
	w->page_shift = page_shift;
	w->offset = offset;
	w->size = size;
	w->start = offset << page_shift;
	w->charged = charge;
	rc = view_create(g->h, w->start, page_shift, size, g->h->page_shift, &w->view);
	if (rc)
		goto err_free;
	rc = win_publish(g, w, NULL, &old);
	if (rc)
		goto err_destroy;
	pthread_rwlock_unlock(&g->lock);
	retire(g, old, NULL);
	return 0;

err_destroy:
	tcemu_table_unref(w->view);
err_free:
	__atomic_sub_fetch(&g->live_windows, 1, __ATOMIC_RELAXED);
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

_Static_assert(sizeof(struct tcemu_guest_stats) % sizeof(uint64_t) == 0, "guest stats are summed as uint64_t words");
_Static_assert(_Alignof(struct tcemu_guest_stats) == _Alignof(uint64_t), "guest stats are uint64_t counters");
static void stats_add(struct tcemu_guest_stats *to, const struct tcemu_guest_stats *from)
{
	const uint64_t *src = (const uint64_t *)from;
	uint64_t *dst = (uint64_t *)to;

	for (size_t i = 0; i < sizeof(*to) / sizeof(uint64_t); i++)
		dst[i] += __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}

TCEMU_EXPORT int tcemu_guest_remove_window(struct tcemu_guest *g, uint32_t liobn)
{
	struct win_list *old;
	struct gwin *w;
	int rc;

	pthread_rwlock_wrlock(&g->lock);
	w = win_find(g->wins, liobn);
	rc = w ? win_publish(g, NULL, w, &old) : -ENOENT;
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
	/* Nothing writes a dead window's statistics: they join the removed windows' (under g->lock). */
	stats_add(&g->removed, &w->stats);
	pthread_rwlock_unlock(&g->lock);
	retire(g, old, w);
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
	struct link **n = host_realloc(g->h, w->links, (w->nlinks + 1) * sizeof(*n)), *l = host_alloc(g->h, sizeof(*l));
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

TCEMU_EXPORT void tcemu_guest_stats(struct tcemu_guest *g, struct tcemu_guest_stats *st)
{
	memset(st, 0, sizeof(*st));
	pthread_rwlock_rdlock(&g->lock);
	stats_add(st, &g->stats);
	for (size_t i = 0; g->wins && i < g->wins->n; i++)
		stats_add(st, &g->wins->w[i]->stats);
	stats_add(st, &g->removed);
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
	g = host_alloc(h, sizeof(*g));
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
	/* The guest goes: nobody may call into it any more, so no hypercall can see these. */
	snapshot_free(g, g->wins);
	snapshot_free(g, g->ram);
	TCEMU_ASSERT(g->live_windows == 0 && g->live_snapshots == 0);
	pthread_rwlock_destroy(&g->lock);
	free(g);
}
