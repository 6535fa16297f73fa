/* SPDX-License-Identifier: MIT */
/*
 * The guest's invariants (vfio/check.h): its views against the hardware tables of the containers
 * its windows are linked to. For fuzz harnesses and tests.
 *
 * Locking: the caller keeps every other thread out of the guest and its host; each window is
 * still taken as a hypercall takes it (its lock, then a linked container's lock shared, then its
 * process's lock shared).
 */
#include <errno.h>
#include <stdio.h>

#include <tcemu/table.h>

#include "core/table_priv.h"
#include "guest/guest_priv.h"
#include "vfio/check.h"
#include "vfio/container.h"
#include "vfio/host_priv.h"
#include "vfio/prereg.h"

struct gcheck {
	const struct gwin *w;
	const struct ram_map *ram;
	struct container *c;
	uint64_t hpage;      /* the host window's page */
	uint64_t bus_offset; /* and its start */
	struct check_report rep;
};

#define gbroken(k, ...) check_broken(&(k)->rep, __VA_ARGS__)

/* A view entry: page aligned. */
static int check_view_entry(void *opaque, uint64_t index, uint64_t tce, uint64_t ua)
{
	struct gcheck *k = opaque;
	uint64_t gp = 1ull << k->w->page_shift;

	(void)ua;
	if (tce & (gp - 1) & ~(uint64_t)TCEMU_TCE_PERM_MASK)
		return gbroken(k, "liobn 0x%x view entry %llu: 0x%llx not page aligned", k->w->liobn,
			       (unsigned long long)index, (unsigned long long)tce);
	return 0;
}

/* A valid hardware entry of a linked container: inside the guest window, it is what the view allows. */
static int check_hw_entry(void *opaque, uint64_t index, uint64_t tce, uint64_t ua)
{
	struct gcheck *k = opaque;
	const struct gwin *w = k->w;
	struct container *c = k->c;
	uint64_t bus = k->bus_offset + index * k->hpage, gp = 1ull << w->page_shift;
	uint64_t v = 0, gpa, want_ua, want;
	const struct ram *r;
	struct region *reg;

	if (bus < w->start || bus - w->start >= w->size << w->page_shift)
		return 0; /* outside the guest window: not the guest's */
	tcemu_table_get(w->view, (bus - w->start) >> w->page_shift, &v, NULL);
	if (!(v & TCEMU_TCE_PERM_MASK))
		return gbroken(k, "liobn 0x%x bus 0x%llx: hardware entry 0x%llx where the guest view has none",
			       w->liobn, (unsigned long long)bus, (unsigned long long)tce);
	gpa = (v & ~(gp - 1)) + ((bus - w->start) & (gp - 1));
	r = ram_find(k->ram, gpa, k->hpage);
	want_ua = r ? (uint64_t)(uintptr_t)r->hva + (gpa - r->gpa) : 0;
	reg = want_ua && c->mm ? mm_find(c->mm, want_ua, k->hpage) : NULL;
	if (!reg)
		return gbroken(k, "liobn 0x%x bus 0x%llx: hardware entry 0x%llx for guest TCE 0x%llx, whose memory is "
			       "not registered RAM", w->liobn, (unsigned long long)bus, (unsigned long long)tce,
			       (unsigned long long)v);
	want = (region_hot(c->mm, reg)->hpa + (want_ua - reg->ua)) |
	       ((v & TCEMU_TCE_WRITE) ? TCEMU_TCE_READ | TCEMU_TCE_WRITE : TCEMU_TCE_READ);
	if (tce != want || ua != want_ua)
		return gbroken(k, "liobn 0x%x bus 0x%llx: hardware entry 0x%llx (ua 0x%llx), the guest TCE 0x%llx means "
			       "0x%llx (ua 0x%llx)", w->liobn, (unsigned long long)bus, (unsigned long long)tce,
			       (unsigned long long)ua, (unsigned long long)v, (unsigned long long)want,
			       (unsigned long long)want_ua);
	return 0;
}

int tcemu_guest_check_invariants(struct tcemu_guest *g, char *why, size_t len)
{
	const struct win_list *wl = __atomic_load_n(&g->wins, __ATOMIC_ACQUIRE);
	struct gcheck k = { .ram = ram_snapshot(g), .rep = { .why = why, .len = len } };

	if (len)
		why[0] = '\0';
	for (size_t i = 0; wl && i < wl->n; i++) {
		struct gwin *w = wl->w[i];

		k.w = w;
		wlock(w, GUEST_LOCK_HELD);
		if (w->dead || !w->view) {
			wunlock(w);
			continue;
		}
		if (table_walk_valid(w->view, check_view_entry, &k) == -EUCLEAN)
			gbroken(&k, "liobn 0x%x: a view chunk's valid count is wrong", w->liobn);
		for (size_t l = 0; l < w->nlinks; l++) {
			struct container *c = w->links[l]->gl.c;
			int slot;

			k.c = c;
			tcemu_rwlock_rdlock(&c->lock);
			if (c->mm)
				tcemu_rwlock_rdlock(&c->mm->lock);
			slot = find_window(c, w->start);
			if (slot >= 0) {
				const struct tcemu_table_params *tp = tcemu_table_params(c->windows[slot].table);

				k.hpage = 1ull << tp->page_shift;
				k.bus_offset = tp->bus_offset;
				if (table_walk_valid(c->windows[slot].table, check_hw_entry, &k) == -EUCLEAN)
					gbroken(&k, "liobn 0x%x: a hardware chunk's valid count is wrong", w->liobn);
			}
			if (c->mm)
				tcemu_rwlock_unlock(&c->mm->lock);
			tcemu_rwlock_unlock(&c->lock);
		}
		wunlock(w);
	}
	return k.rep.broken ? -1 : 0;
}
