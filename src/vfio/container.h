/* SPDX-License-Identifier: MIT */
/*
 * Private: VFIO containers (struct container, with its windows and region references) and the
 * sPAPR TCE backend. vfio/container.c holds the VFIO core's container (new/free, groups,
 * SET_IOMMU, CHECK_EXTENSION, introspection); vfio/spapr.c the backend (windows, MAP/UNMAP,
 * REGISTER, CREATE/REMOVE, EEH, and the release of replaced entries); container_cref is
 * vfio/prereg.c's. The guest fast path on a container is guest/gate.h's.
 *
 * Locking (the order is vfio/host_priv.h's: host->lock, backend_lock, lock, then mm->lock):
 * - container->backend_lock (rwlock) keeps the backend's shape stable for a whole backend ioctl:
 *   vfio/ioctl.c holds it shared from the first check (a backend is set, the caller owns the
 *   container, v1 or v2, the precheck) to the end of the handler, so what was checked still holds
 *   when the handler acts. What changes the shape takes it exclusive, under host->lock:
 *   SET_IOMMU, attaching and detaching a group, and the release (which drops the type and the
 *   owner). So while it is held shared: type and v2 do not change, the groups stay, and an owner
 *   once recorded stays (recording one, NULL to a process, happens under lock exclusive). A
 *   holder of it shared never takes host->lock (host_mm_get takes the leaf host->mms_lock).
 * - container->lock (rwlock) protects type, v2, enabled, the owner (mm), groups, windows, the
 *   pending default window, v1_locked and the container's region references (refs). MAP and UNMAP
 *   hold it shared, so maps run in parallel; the tables' chunk locks order the entries. Building
 *   the pending default window, creating and removing windows, attach, detach, register and
 *   unregister hold it exclusive, through container_wrlock, which first closes the guest gate
 *   (guest/gate.h). v2 MAP also holds the owner mm's lock shared so no region can be
 *   unregistered under it.
 * - users and first_fd are under host->lock.
 * In debug builds these rules are asserted (util/lock.h): the functions below documented "host->lock
 * held" or "lock exclusive" check it on entry, the backend's ioctl code checks that it runs under
 * backend_lock held shared and without host->lock (CONTAINER_ASSERT_BACKEND_CALL), and what reads
 * the windows or the groups checks that no other thread holds container->lock exclusive.
 */
#ifndef TCEMU_SRC_VFIO_CONTAINER_H
#define TCEMU_SRC_VFIO_CONTAINER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <linux/vfio.h>

#include <tcemu/host.h>
#include <tcemu/platform.h>
#include <tcemu/table.h>

#include "guest/gate.h"
#include "util/lock.h"
#include "vfio/group.h"
#include "vfio/prereg.h"

struct tcemu_host;

/* A container's reference to a region it registered (found again by its address). */
struct cref {
	uint64_t ua, size;
};

struct window {
	struct tcemu_table *table; /* NULL: slot empty */
	uint64_t accounted;        /* bytes charged for it */
};

struct container {
	struct tcemu_host *host;
	struct tcemu_rwlock backend_lock; /* held across a backend ioctl: see the top */
	struct tcemu_rwlock lock;
	int type;         /* 0, VFIO_SPAPR_TCE_IOMMU or VFIO_SPAPR_TCE_v2_IOMMU */
	bool v2;
	bool enabled;
	bool def_window_pending;
	uint64_t v1_locked; /* bytes charged by ENABLE (v1) */
	struct mm *mm;      /* the owner process, once recorded (NULL again only at release) */
	struct group **groups;
	size_t ngroups, gcap;
	struct window windows[TCEMU_PE_WINDOWS];
	struct cref *refs;  /* v2: regions this container registered, sorted by ua (under lock), */
	size_t nrefs, rcap, rfront; /* in rcap slots from slot rfront (room at both ends: vfio/prereg.c) */
	unsigned users;     /* open descriptors + attached groups (under host->lock) */
	int first_fd;       /* a descriptor number for messages */
};

/*
 * The rules above as debug assertions (vfio/host_priv.h must be included where they are used):
 * container->lock exclusive, which an exclusive holder takes only with the guest gate closed.
 */
#define CONTAINER_ASSERT_EXCLUSIVE(c) \
	(TCEMU_ASSERT_WRLOCKED(&(c)->lock), TCEMU_ASSERT(__atomic_load_n(&(c)->host->gate_closed, __ATOMIC_RELAXED) != 0))
/* A change of the backend's shape: backend_lock and lock exclusive. */
#define CONTAINER_ASSERT_SHAPE_LOCKED(c) (TCEMU_ASSERT_WRLOCKED(&(c)->backend_lock), CONTAINER_ASSERT_EXCLUSIVE(c))
/*
 * A backend ioctl's code (the spapr_* functions vfio/ioctl.c calls): backend_lock held shared for
 * the whole call, and host->lock not held (a holder of backend_lock shared never takes it).
 */
#define CONTAINER_ASSERT_BACKEND_CALL(c) \
	(TCEMU_ASSERT_RWLOCKED(&(c)->backend_lock), TCEMU_ASSERT_NOT_HELD(&(c)->host->lock))

/* container.c (host->lock held where said) */
struct container *container_new(struct tcemu_host *h);
void container_free(struct container *c);                          /* host->lock held */
int container_attach_group(struct container *c, struct group *g);  /* host->lock held */
void container_detach_group(struct container *c, struct group *g); /* host->lock held */
long container_check_extension(struct container *c, unsigned long ext);
long container_set_iommu(struct container *c, unsigned long type); /* host->lock held */
void container_info(struct container *c, struct tcemu_container_info *ci);
int container_entry(struct container *c, uint64_t iova, uint64_t *tce, uint64_t *ua);
/* container->lock exclusive, after closing the guest gate. */
void container_wrlock(struct container *c);
void container_wrunlock(struct container *c);

/* prereg.c: the container's reference to r (container->lock held, shared is enough), or NULL. */
struct cref *container_cref(struct container *c, const struct region *r);

static inline bool has_groups(const struct container *c)
{
	return c->ngroups > 0;
}

/*
 * The window (slot) whose range contains bus address iova, or -1. container->lock held, or the
 * guest fast path with the gate open (guest/gate.h): either way nobody else holds it exclusive.
 */
static inline int find_window(const struct container *c, uint64_t iova)
{
	TCEMU_ASSERT_NO_OTHER_WRITER(&c->lock);
	for (int s = 0; s < TCEMU_PE_WINDOWS; s++) {
		const struct tcemu_table_params *tp;

		if (!c->windows[s].table)
			continue;
		tp = tcemu_table_params(c->windows[s].table);
		if (iova >= tp->bus_offset && iova - tp->bus_offset < tp->window_size)
			return s;
	}
	return -1;
}

/* Invalidates entries [index, index + count) of window slot on every group's PE. As find_window. */
static inline void kill_all(struct container *c, unsigned slot, uint64_t index, uint64_t count)
{
	TCEMU_ASSERT_NO_OTHER_WRITER(&c->lock);
	TCEMU_ASSERT(slot < TCEMU_PE_WINDOWS);
	for (size_t i = 0; i < c->ngroups; i++)
		tcemu_pe_tce_kill(c->groups[i]->pe, slot, index, count);
}

/* spapr.c: the sPAPR backend */
/* The backend's attach (checks, ownership, windows) and detach of a group. Lock exclusive. */
int backend_attach(struct container *c, struct group *g);
void backend_detach(struct container *c, struct group *g);
/* Drops everything the backend holds: windows, v1 accounting, regions, the owner. Lock exclusive. */
void backend_release(struct container *c);
int spapr_record_owner(struct container *c, pid_t caller);
int spapr_need_groups(struct container *c);
int spapr_need_enabled(struct container *c);
int spapr_need_owner(struct container *c);
long spapr_get_info(struct container *c, struct vfio_iommu_spapr_tce_info *info, uint32_t *out_len);
long spapr_map(struct container *c, const struct vfio_iommu_type1_dma_map *m);
long spapr_unmap(struct container *c, const struct vfio_iommu_type1_dma_unmap *u);
long spapr_enable(struct container *c, pid_t caller);
long spapr_disable(struct container *c);
long spapr_register(struct container *c, const struct vfio_iommu_spapr_register_memory *r);
long spapr_unregister(struct container *c, const struct vfio_iommu_spapr_register_memory *r);
long spapr_create(struct container *c, struct vfio_iommu_spapr_tce_create *cr);
long spapr_remove(struct container *c, const struct vfio_iommu_spapr_tce_remove *rm);
long spapr_eeh(struct container *c, const struct vfio_eeh_pe_op *op, uint32_t argsz);

/*
 * Release of replaced or cleared entries (spapr.c, also used by the guest fast path). v2: drop
 * the region's mapped count (runs of entries from one region are counted locally and flushed
 * once); v1: unpin the page.
 */
struct release_ctx {
	struct container *c;
	uint32_t page_shift;
	uint64_t released;
	struct region *r;  /* v2: the region of the run being released */
	uint64_t pending;  /* entries of r released but not yet subtracted */
	size_t hint;       /* v2: mm_find_near's hint: the next run is usually in this or the next region */
	struct guest_link *gl; /* the guest fast path with its gate open: count through its cache */
};

/* The table release callback: opaque is a struct release_ctx. */
void release_entry(void *opaque, uint64_t index, uint64_t old_tce, uint64_t old_ua);

/* Subtracts what rc counted locally from its region. */
static inline void release_flush(struct release_ctx *rc)
{
	if (rc->r && rc->pending)
		mapped_add(rc->c->mm, rc->gl, rc->r, -(int64_t)rc->pending);
	rc->pending = 0;
}

#endif
