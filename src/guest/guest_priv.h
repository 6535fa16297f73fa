/* SPDX-License-Identifier: MIT */
/*
 * Private: the guest object (struct tcemu_guest), its RAM map, its windows (struct gwin) and their
 * links to containers, shared by guest/guest.c (the object, RAM, windows, links, statistics) and
 * guest/hcall.c (the hypercalls); guest/rtas.c uses guest_host() only.
 *
 * Locking: g->lock (rwlock) serializes the changes of the RAM map and of the window list (add_ram,
 * create/remove/link/unlink, exclusive) and the statistics readers (shared). Hypercalls do not
 * take it: the RAM map and the window list are published as immutable snapshots by an atomic
 * pointer, and every hypercall (and tcemu_guest_gpa_to_hva) reads them, and the windows found in
 * them, inside a grace-period read section (util/grace.h). A writer that replaces a snapshot or
 * removes a window unpublishes it under g->lock, drops every lock, waits for a grace period
 * (grace_wait: no hypercall can still see it) and frees it: memory follows the live windows, not
 * the churn. Each window has a lock (a spin lock that yields) that
 * serializes hypercalls on it (a guest's hcall is atomic to it) and protects its links, its view
 * and its statistics; a removed window is marked dead under it. g->stats are atomics.
 * Order: g->lock, then a window's lock, then (through the container calls) the container and
 * process locks of vfio/host_priv.h. The window's lock word is also the fast path's announcement
 * to the guest gate (guest/gate.h).
 */
#ifndef TCEMU_SRC_GUEST_GUEST_PRIV_H
#define TCEMU_SRC_GUEST_GUEST_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tcemu/guest.h>

#include "core/table_priv.h"
#include "guest/gate.h"
#include "util/internal.h"

struct tcemu_host;
struct mm;

struct ram {
	uint64_t gpa, size;
	uint8_t *hva;
};

/* Snapshots: immutable once published; a replaced one is freed after a grace period. */
struct ram_map {
	size_t n;
	struct ram r[];
};

struct win_list {
	size_t n;
	struct gwin *w[];
};

/* A link to a container: the fast path's view of it (guest/gate.h), on the host's link list. */
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
	uint32_t lock;         /* GUEST_LOCK_* (guest/gate.h): a spin lock that yields */
	bool dead;             /* removed (under lock) */
	struct link **links;
	size_t nlinks;
	struct tcemu_guest_stats stats; /* written under lock, read with atomic loads */
};

struct tcemu_guest {
	struct tcemu_host *h;
	struct mm *mm; /* charged for the guest views */
	pthread_rwlock_t lock;
	struct ram_map *ram;    /* published snapshot (atomic pointer) */
	struct win_list *wins;  /* published snapshot (atomic pointer) */
	struct tcemu_guest_stats stats;   /* atomics: calls that found no window */
	struct tcemu_guest_stats removed; /* the removed windows' statistics (under lock) */
	/* allocated and not yet freed (atomics, for the tests: memory follows the live objects) */
	uint64_t live_windows, live_snapshots;
};

static inline const struct ram_map *ram_snapshot(const struct tcemu_guest *g)
{
	return __atomic_load_n(&g->ram, __ATOMIC_ACQUIRE);
}

static inline const struct ram *ram_find(const struct ram_map *m, uint64_t gpa, uint64_t len)
{
	for (size_t i = 0; m && i < m->n; i++) {
		const struct ram *r = &m->r[i];

		if (gpa >= r->gpa && gpa - r->gpa < r->size && len <= r->size - (gpa - r->gpa))
			return r;
	}
	return NULL;
}

/*
 * A window's lock serializes its hypercalls, which are short, so it spins (then yields); a
 * fast-path hypercall takes it with GUEST_LOCK_FAST, its announcement to the guest gate.
 */
static inline void wlock(struct gwin *w, uint32_t how)
{
	tcemu_spin_lock_as(&w->lock, how);
}

static inline void wunlock(struct gwin *w)
{
	tcemu_spin_unlock(&w->lock);
}

/* The window of the list whose LIOBN is liobn, or NULL. */
static inline struct gwin *win_find(const struct win_list *l, uint32_t liobn)
{
	for (size_t i = 0; l && i < l->n; i++)
		if (l->w[i]->liobn == liobn)
			return l->w[i];
	return NULL;
}

/* The host a guest belongs to (guest.c; for rtas.c). */
struct tcemu_host *guest_host(struct tcemu_guest *g);

#endif
