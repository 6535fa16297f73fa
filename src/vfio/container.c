/* SPDX-License-Identifier: MIT */
/*
 * VFIO containers, the VFIO core's side: a container's life (new/free), its groups (attach,
 * detach), SET_IOMMU and CHECK_EXTENSION, and the introspection of tcemu_host_container_info and
 * tcemu_host_container_entry. The sPAPR TCE backend behind a container with a type is
 * vfio/spapr.c; the guest fast path on a container is guest/gate.c.
 *
 * Where the core and the backend meet: once SET_IOMMU has set a type, attaching, detaching and
 * freeing go through the backend (backend_attach, backend_detach, backend_release, in spapr.c),
 * and SET_IOMMU attaches every group to it. Those functions stay here, as the VFIO core's
 * container operations, and call into the backend.
 *
 * Locking: vfio/container.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "guest/gate.h"
#include "vfio/container.h"
#include "vfio/host_priv.h"

struct container *container_new(struct tcemu_host *h)
{
	struct container *c = host_alloc(h, sizeof(*c));

	if (!c)
		return NULL;
	c->host = h;
	if (tcemu_rwlock_init(&c->backend_lock))
		goto err_free;
	if (tcemu_rwlock_init(&c->lock))
		goto err_destroy_backend_lock;
	return c;

err_destroy_backend_lock:
	tcemu_rwlock_destroy(&c->backend_lock);
err_free:
	free(c);
	return NULL;
}

/* For a change of the backend's shape: backend_lock and lock exclusive (see container.h). */
static void shape_lock(struct container *c)
{
	tcemu_rwlock_wrlock(&c->backend_lock);
	container_wrlock(c);
}

static void shape_unlock(struct container *c)
{
	CONTAINER_ASSERT_SHAPE_LOCKED(c);
	container_wrunlock(c);
	tcemu_rwlock_unlock(&c->backend_lock);
}

void container_wrlock(struct container *c)
{
	host_gate_close(c->host);
	tcemu_rwlock_wrlock(&c->lock);
}

void container_wrunlock(struct container *c)
{
	CONTAINER_ASSERT_EXCLUSIVE(c);
	tcemu_rwlock_unlock(&c->lock);
	host_gate_open(c->host);
}

int container_attach_group(struct container *c, struct group *g)
{
	int rc = 0;

	TCEMU_ASSERT_HELD(&c->host->lock);
	shape_lock(c);
	if (c->type)
		rc = backend_attach(c, g);
	else if (c->ngroups == c->gcap) {
		size_t cap = c->gcap ? c->gcap * 2 : 4;
		struct group **n = host_realloc(c->host, c->groups, cap * sizeof(*n));
		if (!n)
			rc = -ENOMEM;
		else {
			c->groups = n;
			c->gcap = cap;
		}
	}
	if (rc == 0 && !c->type) {
		TCEMU_ASSERT(c->ngroups < c->gcap);
		c->groups[c->ngroups++] = g;
	}
	shape_unlock(c);
	return rc;
}

void container_detach_group(struct container *c, struct group *g)
{
	TCEMU_ASSERT_HELD(&c->host->lock);
	shape_lock(c);
	if (c->type) {
		backend_detach(c, g);
	} else {
		for (size_t i = 0; i < c->ngroups; i++) {
			if (c->groups[i] == g) {
				memmove(&c->groups[i], &c->groups[i + 1], (c->ngroups - i - 1) * sizeof(*c->groups));
				c->ngroups--;
				break;
			}
		}
	}
	shape_unlock(c);
}

void container_free(struct container *c)
{
	TCEMU_ASSERT_HELD(&c->host->lock);
	TCEMU_ASSERT(c->users == 0);
	shape_lock(c);
	if (c->type)
		backend_release(c);
	/* Nothing is left that holds memory or a PE. */
	TCEMU_ASSERT(!c->type && !c->mm && !c->ngroups && c->nrefs == 0 && !c->v1_locked);
	for (unsigned s = 0; s < TCEMU_PE_WINDOWS; s++)
		TCEMU_ASSERT(!c->windows[s].table);
	shape_unlock(c);
	tcemu_rwlock_destroy(&c->lock);
	tcemu_rwlock_destroy(&c->backend_lock);
	free(c->groups);
	free(mm_slots(c->refs, c->rfront, sizeof(*c->refs)));
	free(c);
}

/* ---- the VFIO core's container ioctls ---- */

long container_check_extension(struct container *c, unsigned long ext)
{
	long r;

	tcemu_rwlock_rdlock(&c->lock);
	if (!c->type)
		r = ext == VFIO_SPAPR_TCE_IOMMU || ext == VFIO_SPAPR_TCE_v2_IOMMU;
	else
		r = ext == VFIO_SPAPR_TCE_IOMMU || ext == VFIO_SPAPR_TCE_v2_IOMMU ||
		    (ext == VFIO_EEH && c->host->eeh);
	tcemu_rwlock_unlock(&c->lock);
	return r;
}

long container_set_iommu(struct container *c, unsigned long type)
{
	size_t done;
	long rc = 0;

	TCEMU_ASSERT_HELD(&c->host->lock);
	shape_lock(c);
	if (!has_groups(c) || c->type) {
		rc = -EINVAL;
		goto out;
	}
	if (type != VFIO_SPAPR_TCE_IOMMU && type != VFIO_SPAPR_TCE_v2_IOMMU) {
		rc = -ENODEV;
		goto out;
	}
	/* Attach every group to the backend; on an error nothing is kept. */
	struct group **pending = c->groups;
	size_t n = c->ngroups;
	c->groups = NULL;
	c->ngroups = c->gcap = 0;
	c->type = (int)type;
	c->v2 = type == VFIO_SPAPR_TCE_v2_IOMMU;
	for (done = 0; done < n; done++) {
		rc = backend_attach(c, pending[done]);
		if (rc)
			break;
	}
	if (rc) {
		while (c->ngroups)
			backend_detach(c, c->groups[c->ngroups - 1]);
		free(c->groups);
		c->groups = pending;
		c->ngroups = c->gcap = n;
		c->type = 0;
		c->v2 = false;
		c->def_window_pending = false;
	} else {
		free(pending);
	}
out:
	shape_unlock(c);
	return rc;
}

/* ---- introspection ---- */

void container_info(struct container *c, struct tcemu_container_info *ci)
{
	memset(ci, 0, sizeof(*ci));
	tcemu_rwlock_rdlock(&c->lock);
	ci->type = c->type;
	ci->enabled = c->enabled;
	ci->owner = c->mm ? c->mm->pid : 0;
	ci->ngroups = c->ngroups;
	for (size_t i = 0; i < c->ngroups && i < TCEMU_MAX_GROUPS_REPORTED; i++)
		ci->groups[i] = c->groups[i]->number;
	for (unsigned s = 0; s < TCEMU_PE_WINDOWS; s++) {
		struct tcemu_window_info *w = &ci->windows[s];
		struct tcemu_table_info ti;

		if (!c->windows[s].table) {
			w->pending = s == 0 && c->def_window_pending;
			continue;
		}
		tcemu_table_info(c->windows[s].table, &ti);
		w->present = true;
		w->start = ti.params.bus_offset;
		w->size = ti.params.window_size;
		w->page_shift = ti.params.page_shift;
		w->levels = ti.params.levels;
		w->valid_entries = ti.valid_entries;
		w->accounted_bytes = c->windows[s].accounted;
		w->allocated_bytes = ti.allocated_bytes;
		ci->locked_bytes += c->windows[s].accounted;
	}
	ci->nregions = c->nrefs;
	for (size_t i = 0; i < c->nrefs; i++)
		ci->locked_bytes += c->refs[i].size;
	ci->locked_bytes += c->v1_locked;
	tcemu_rwlock_unlock(&c->lock);
}

int container_entry(struct container *c, uint64_t iova, uint64_t *tce, uint64_t *ua)
{
	const struct tcemu_table_params *tp;
	int slot, rc;

	tcemu_rwlock_rdlock(&c->lock);
	slot = find_window(c, iova);
	if (slot < 0) {
		tcemu_rwlock_unlock(&c->lock);
		return -ENXIO;
	}
	tp = tcemu_table_params(c->windows[slot].table);
	rc = tcemu_table_get(c->windows[slot].table, (iova - tp->bus_offset) >> tp->page_shift, tce, ua);
	tcemu_rwlock_unlock(&c->lock);
	return rc;
}
