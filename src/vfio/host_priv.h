/* SPDX-License-Identifier: MIT */
/*
 * Private: the emulated host's VFIO state: struct tcemu_host (the host), struct file (an open file
 * description) and the host_* helpers every file of vfio/ uses. The other objects of the VFIO
 * host have their own headers: vfio/container.h (containers and the sPAPR backend),
 * vfio/prereg.h (processes and their pre-registered regions), vfio/group.h (groups),
 * vfio/probe.h (client memory); the guest gate is guest/gate.h's.
 *
 * Files: vfio/host.c (creation, options, stats, allocation, processes), vfio/fd.c (the
 * descriptor table and the fd-level entry points), vfio/group.c (groups), vfio/report.c (defects
 * and the summary), vfio/container.c and vfio/spapr.c (containers, the backend), vfio/prereg.c
 * (pre-registration and locked-memory accounting), vfio/ioctl.c (the ioctl table), vfio/probe.c.
 *
 * Locks of the VFIO host, in the order they are taken (never the other way round):
 *   1. host->lock (mutex)        the descriptor table, group open/attach state, the container
 *                                list, stats and defects. Held only briefly:
 *                                an ioctl looks its file up and takes a file reference under it,
 *                                then drops it before doing the work (except group attach/detach
 *                                and release, which change the group/container graph under it).
 *   2. container->backend_lock   the backend's shape (type, groups, owner once recorded): held
 *      (rwlock)                  shared by every backend ioctl from its first check to the end
 *                                of its handler, exclusive by SET_IOMMU, attach, detach and
 *                                release (under host->lock); see vfio/container.h. A holder of
 *                                it shared never takes host->lock.
 *   3. container->lock (rwlock)  type, owner, enabled, groups, windows, pending flag, the
 *                                container's region references (vfio/container.h).
 *   4. mm->lock (rwlock)         a process's regions and accounting (vfio/prereg.h).
 *   5. pe->lock (core/platform.c) window slots, ownership, EEH state.
 *   6. table chunk locks         entries.
 *   host->stats_lock (mutex) is a leaf taken for the defect list, under any of the above; the
 *   counters in host->stats are atomics. host->glink_lock (mutex) is a leaf too: the list of
 *   guest links, taken under any of the above (and while a guest window's lock is held).
 *   host->mms_lock (mutex) is a leaf: the process list (host_mm_get), under any of the above.
 *   host->trace_lock (mutex) is a leaf: the trace's run of similar calls (host_trace_call), taken
 *   only with --trace, after an ioctl's handler returned; the trace lines are logged under it, so
 *   that they come out in order.
 *   container->lock and mm->lock are taken exclusive only after closing the guest gate
 *   (guest/gate.h), which the guest fast path uses instead of taking them.
 * The locks are util/lock.h's wrappers: in debug builds these rules are asserted. Every function
 * documented "host->lock held" (or exclusive, or shared) checks that its caller holds it; an
 * ioctl and every backend handler check that host->lock is not held; the leaves are not taken
 * under one another (host_mm_get, host_defect); taking a lock the thread already holds aborts.
 * Release builds compile all of it out (the wrappers are the bare pthread calls).
 *
 * struct tcemu_host: host->lock protects fdtab, fdcap, next_own_fd, the groups' open/attach
 * state (vfio/group.h); host->mms_lock protects mms; host->glink_lock protects glinks; host->stats_lock protects dkinds,
 * ndkinds, dkcap, dkinds_dropped; stats, gate_closed, fail_nth and alloc_count are atomics; exit_recorded and at_exit are
 * written by tcemu_host_close_all without a lock; the rest is set at creation.
 * struct file: refs under host->lock; the rest is set when it is made.
 */
#ifndef TCEMU_SRC_HOST_PRIV_H
#define TCEMU_SRC_HOST_PRIV_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <linux/vfio.h>

#include <tcemu/host.h>
#include <tcemu/table.h>

#include "vfio/device.h"
#include "util/alloc.h"
#include "util/internal.h"
#include "util/lock.h"

struct tcemu_host;
struct container;
struct group;
struct mm;
struct guest_link;
struct defect_kind;
struct tcemu_model_fault;

enum file_kind { FILE_CONTAINER = TCEMU_FD_CONTAINER, FILE_GROUP = TCEMU_FD_GROUP, FILE_DEVICE = TCEMU_FD_DEVICE };

/* An open file description: what one or more descriptors (dup) refer to. */
struct file {
	enum file_kind kind;
	unsigned refs;  /* descriptors pointing here + ioctls in flight (under host->lock) */
	union {
		struct container *container;
		struct group *group;
		struct {
			struct group *group;
			struct tcemu_vdev *vdev;
		} device;
	};
};

struct tcemu_dma;

struct tcemu_host {
	struct tcemu_platform *plat;
	struct tcemu_memory *mem;
	struct tcemu_dma *dma; /* the device models' DMA engine (devices/model.c), NULL until one is attached */
	struct tcemu_logger lg;
	struct tcemu_host_ops ops;
	bool memlock_set;
	uint64_t memlock;
	bool real_mlock;
	bool eeh;
	bool trace;
	bool trusted_args;
	uint32_t page_shift; /* system page */

	struct tcemu_mutex lock;
	struct file **fdtab; /* indexed by descriptor number */
	size_t fdcap;
	int next_own_fd;
	struct group *groups; /* one per PE */
	size_t ngroups;
	struct tcemu_mutex mms_lock; /* the process list (a leaf) */
	struct mm *mms;

	uint32_t gate_closed;          /* atomic: closers of the guest gate (guest/gate.h) */
	struct tcemu_mutex glink_lock;    /* the guest link list */
	struct guest_link *glinks;

	struct tcemu_mutex stats_lock; /* the defect kinds */
	struct tcemu_host_stats stats; /* every field is an atomic counter */
	struct defect_kind *dkinds; /* client defects and DMA faults by kind, in order of first occurrence (report.c) */
	size_t ndkinds, dkcap;
	uint64_t dkinds_dropped; /* occurrences of kinds beyond TCEMU_MAX_DEFECTS kinds */
	bool exit_recorded;
	struct tcemu_host_stats at_exit; /* the state when tcemu_host_close_all ran */

	struct tcemu_mutex trace_lock; /* the trace's current run of similar calls (report.c) */
	struct trace_run *trun;        /* NULL until the first traced call */

	uint64_t fail_nth;    /* atomic: failure injection */
	uint64_t alloc_count; /* atomic */
	struct tcemu_alloc_hook hook; /* host_alloc_ok as a hook, for the tables and memory it makes */
};

#define TCEMU_MAX_DEFECTS 1024 /* defect kinds kept */
#define TCEMU_MAX_FD (1 << 20)

/* host.c */
pid_t tcemu_self_pid(void); /* getpid(), cached, reset in a forked child */
pid_t host_caller(struct tcemu_host *h);
/* Counts an allocation point; false: inject a failure. Counted only while injection is armed (tests). */
static inline bool host_alloc_ok(struct tcemu_host *h)
{
	uint64_t nth = __atomic_load_n(&h->fail_nth, __ATOMIC_RELAXED);

	if (TCEMU_LIKELY(!nth))
		return true;
	return __atomic_add_fetch(&h->alloc_count, 1, __ATOMIC_RELAXED) != nth;
}
void *host_alloc(struct tcemu_host *h, size_t size);      /* calloc with failure injection */
void *host_malloc(struct tcemu_host *h, size_t size);     /* malloc with failure injection */
void *host_realloc(struct tcemu_host *h, void *p, size_t size);
void host_stat_add(struct tcemu_host *h, uint64_t *field, int64_t delta, uint64_t *peak);
void host_stat_peak(uint64_t *peak, uint64_t v); /* raises the atomic *peak to v */
/* The process pid's state (create: made if missing; NULL: none, or no memory). Takes host->mms_lock. */
struct mm *host_mm_get(struct tcemu_host *h, pid_t pid, bool create);

/* report.c: client defects, kept by kind (one kind per format string), logged rate-limited */
void host_defect(struct tcemu_host *h, const char *fmt, ...) TCEMU_PRINTF(2, 3);
/* An UNMAP_DMA of [iova, iova + size) on container that cleared nothing (one aggregated kind). */
void host_defect_unmap_nothing(struct tcemu_host *h, uint64_t iova, uint64_t size, int container);
/* A device DMA fault (devices/model.c): a kind per device, direction and what the IOMMU held. */
void host_dma_fault(struct tcemu_host *h, const struct tcemu_model_fault *f);
/*
 * The trace of one ioctl (h->trace): name is the command's, args its decoded argument. A run of
 * calls that differ only by constant steps of the stepping words (steps: true, w: the struct's
 * words 1 to 3; a whole window cleared entry by entry, a direct map in equal chunks) or not at all
 * is logged as its first 3 calls, then one line with how many more, the steps and the last call.
 * host_trace_flush ends the run now (before another trace line, at close_all). Takes trace_lock.
 */
void host_trace_call(struct tcemu_host *h, int fd, const char *name, const char *args, bool steps,
		     const uint64_t w[4], long rc);
void host_trace_flush(struct tcemu_host *h);
void host_trace_free(struct tcemu_host *h); /* tcemu_host_destroy */
/* Logs the final count of each kind whose occurrences were no longer logged (tcemu_host_close_all). */
void host_defects_final(struct tcemu_host *h);
void host_defects_free(struct tcemu_host *h); /* tcemu_host_destroy */

/* fd.c */
int host_new_fd(struct tcemu_host *h, struct file *f, int *fd);     /* host->lock held */
/* The file behind descriptor fd, or NULL. host->lock held. */
static inline struct file *fd_file(struct tcemu_host *h, int fd)
{
	TCEMU_ASSERT_HELD(&h->lock);
	return fd >= 0 && (size_t)fd < h->fdcap ? h->fdtab[fd] : NULL;
}
/* Drops one user of c (a descriptor or an attached group), freeing it with the last. host->lock held. */
void container_put(struct tcemu_host *h, struct container *c);
/* The container behind descriptor fd with a reference held; NULL: not a container. */
struct container *host_container_get(struct tcemu_host *h, int fd);
void host_container_put(struct tcemu_host *h, struct container *c);

/* ioctl.c */
long vfio_dispatch(struct tcemu_host *h, struct file *f, int fd, unsigned long cmd, void *arg);

#endif
