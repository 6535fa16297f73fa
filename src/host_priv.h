/* SPDX-License-Identifier: MIT */
/*
 * Private: the emulated host's VFIO state, shared by host.c (descriptors, groups, processes,
 * diagnostics), container.c (containers and the sPAPR backend), prereg.c (per-process memory
 * pre-registration and locked-memory accounting), vfio.c (the ioctl table) and probe.c.
 *
 * Locks, in the order they are taken (never the other way round):
 *   1. host->lock (mutex)        the descriptor table, group open/attach state, the container
 *                                list, stats and defects. Held only briefly:
 *                                an ioctl looks its file up and takes a file reference under it,
 *                                then drops it before doing the work (except group attach/detach
 *                                and release, which change the group/container graph under it).
 *   2. container->backend_lock   the backend's shape: its type, its groups, its owner once
 *      (rwlock)                  recorded. Every backend ioctl holds it shared from its first
 *                                check (type, owner, v1/v2, precheck) to the end of its handler,
 *                                so what it checked holds while it acts; SET_IOMMU, attaching or
 *                                detaching a group and the release take it exclusive (under
 *                                host->lock). A holder of it shared never takes host->lock.
 *   3. container->lock (rwlock)  type, owner, enabled, groups, windows, pending flag, the
 *                                container's region references. MAP/UNMAP take it shared (so
 *                                maps run in parallel, entries are protected by the tables' chunk
 *                                locks); everything that changes the container takes it exclusive
 *                                through container_wrlock, which first closes the guest gate.
 *   4. mm->lock (rwlock)         a process's regions and accounting. MAP takes it shared to find
 *                                regions and bump their mapped counts (atomics); REGISTER,
 *                                UNREGISTER and a MAP across regions take it exclusive through
 *                                mm_wrlock, which first closes the guest gate.
 *   5. pe->lock (platform.c)     window slots, ownership, EEH state.
 *   6. table chunk locks         entries.
 *   host->stats_lock (mutex) is a leaf taken for the defect list, under any of the above; the
 *   counters in host->stats are atomics. host->glink_lock (mutex) is a leaf too: the list of
 *   guest links, taken under any of the above (and while a guest window's lock is held).
 *   host->mms_lock (mutex) is a leaf: the process list (host_mm_get), under any of the above.
 *
 * The guest gate (host_gate_close/host_gate_open): the guest fast path (a hypercall on a window
 * linked to a container, container_guest_put) takes neither the container's lock nor its process's
 * lock while no exclusive holder of either exists anywhere in the host ("the gate is open"). It
 * announces itself when it takes its window's lock (GUEST_LOCK_FAST in the lock word, by a
 * sequentially consistent compare-and-swap), then checks the gate; whoever closes the gate counts
 * itself in host->gate_closed, waits until no linked window's lock word holds GUEST_LOCK_FAST,
 * then empties every link's cache (container_guest_flush). A busy hypercall never waits for any lock but the table chunk spin locks
 * and the kill hooks' own, so closing the gate is allowed with any lock held. A hypercall that finds
 * the gate closed takes the container and process locks shared, as a MAP does.
 */
#ifndef TCEMU_SRC_HOST_PRIV_H
#define TCEMU_SRC_HOST_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <linux/vfio.h>

#include <tcemu/host.h>
#include <tcemu/table.h>

#include "device.h"
#include "internal.h"

struct tcemu_host;
struct container;
struct group;
struct mm;

/*
 * A pre-registered region of process memory (v2). Stored inline in its process's sorted array, so
 * a pointer to one is valid only while mm->lock is held (the array moves on register/unregister).
 */
struct region {
	uint64_t ua, size;
	uint32_t page_shift; /* natural alignment of ua|size, capped at the backing page size */
	uint64_t hpa;        /* simulated physical address of ua (one contiguous pinned run) */
	uint64_t mapped;     /* atomic: IOMMU entries pointing into the region */
	uint32_t users;      /* containers referencing it (under mm->lock) */
	bool mlocked;
};

/* A process (the kernel's mm): its regions, sorted by ua, and its locked-memory accounting. */
struct mm {
	struct tcemu_host *host;
	pid_t pid;
	pthread_rwlock_t lock;
	struct region *regions;  /* sorted by ua, non-overlapping, inline */
	uint64_t *ends;          /* ends[i] = regions[i]->ua + size: the search key, kept contiguous;
	                            UINT64_MAX from nregions to cap */
	uint64_t *tops;          /* tops[b]: the last key of block b of ends[] (prereg.c) */
	size_t nregions, cap;    /* cap: a multiple of the block size */
	uint64_t locked;         /* bytes charged; under lock */
	uint64_t limit;          /* bytes; UINT64_MAX = unlimited */
	struct mm *next;         /* host->mms list, under host->lock */
};

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
	pthread_rwlock_t backend_lock; /* held across a backend ioctl: see the top */
	pthread_rwlock_t lock;
	int type;         /* 0, VFIO_SPAPR_TCE_IOMMU or VFIO_SPAPR_TCE_v2_IOMMU */
	bool v2;
	bool enabled;
	bool def_window_pending;
	uint64_t v1_locked; /* bytes charged by ENABLE (v1) */
	struct mm *mm;      /* the owner process, once recorded; set under lock exclusive, reset
	                       (release) with backend_lock exclusive too */
	struct group **groups;
	size_t ngroups, gcap;
	struct window windows[TCEMU_PE_WINDOWS];
	struct cref *refs;  /* v2: regions this container registered, sorted by ua (under lock) */
	size_t nrefs, rcap;
	unsigned users;     /* open descriptors + attached groups (under host->lock) */
	bool released;      /* backend state dropped (last group left) */
	int first_fd;       /* a descriptor number for messages */
};

struct group {
	struct tcemu_host *host;
	struct tcemu_pe *pe;
	uint32_t number;
	bool open;
	struct container *container; /* under host->lock */
	unsigned device_fds;     /* open device descriptors (under host->lock) */
	bool attached_to_backend;  /* the backend took the PE's ownership */
	struct tcemu_vdev **devs;  /* one per device of the PE (created at host creation) */
	size_t ndevs;
};

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

	pthread_mutex_t lock;
	struct file **fdtab; /* indexed by descriptor number */
	size_t fdcap;
	int next_own_fd;
	struct group *groups; /* one per PE */
	size_t ngroups;
	pthread_mutex_t mms_lock; /* the process list (a leaf: see the top) */
	struct mm *mms;

	uint32_t gate_closed;          /* atomic: closers of the guest gate (see the top) */
	pthread_mutex_t glink_lock;    /* the guest link list */
	struct guest_link *glinks;

	pthread_mutex_t stats_lock; /* defects list */
	struct tcemu_host_stats stats; /* every field is an atomic counter */
	char **defects;
	size_t ndefects;
	bool exit_recorded;
	struct tcemu_host_stats at_exit; /* the state when tcemu_host_close_all ran */

	uint64_t fail_nth;    /* atomic: failure injection */
	uint64_t alloc_count; /* atomic */
};

#define TCEMU_MAX_DEFECTS 1024
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
void *host_realloc(struct tcemu_host *h, void *p, size_t size);
void host_defect(struct tcemu_host *h, const char *fmt, ...) TCEMU_PRINTF(2, 3);
void host_stat_add(struct tcemu_host *h, uint64_t *field, int64_t delta, uint64_t *peak);
void host_stat_peak(uint64_t *peak, uint64_t v); /* raises the atomic *peak to v */
/* The process pid's state (create: made if missing; NULL: none, or no memory). Takes host->mms_lock. */
struct mm *host_mm_get(struct tcemu_host *h, pid_t pid, bool create);
int host_new_fd(struct tcemu_host *h, struct file *f, int *fd);     /* host->lock held */

/* prereg.c (container->lock held exclusive by the caller unless said otherwise) */
int mm_register(struct tcemu_host *h, struct mm *mm, struct container *c, uint64_t ua, uint64_t size);
int mm_unregister(struct tcemu_host *h, struct mm *mm, struct container *c, uint64_t ua, uint64_t size);
void mm_drop_container(struct tcemu_host *h, struct mm *mm, struct container *c);
/* The region containing [ua, ua + size), or NULL. mm->lock held (shared is enough). */
struct region *mm_find(struct mm *mm, uint64_t ua, uint64_t size);
/* container->lock and mm->lock exclusive, each after closing the guest gate. */
void container_wrlock(struct container *c);
void container_wrunlock(struct container *c);
void mm_wrlock(struct mm *mm);
void mm_wrunlock(struct mm *mm);
/*
 * Like mm_find, trying first the region at index *hint, then the one after it (a walk over adjacent
 * regions is O(1) per region; SIZE_MAX: no hint); *hint gets the index of the region found.
 */
struct region *mm_find_near(struct mm *mm, size_t *hint, uint64_t ua, uint64_t size);
/* Whether r (may be NULL) holds address ua; and all of [ua, ua + size). */
static inline bool region_has(const struct region *r, uint64_t ua)
{
	return r && ua - r->ua < r->size;
}
static inline bool region_holds(const struct region *r, uint64_t ua, uint64_t size)
{
	return region_has(r, ua) && size <= r->size - (ua - r->ua);
}

/* The container's reference to r (container->lock held, shared is enough), or NULL. */
struct cref *container_cref(struct container *c, const struct region *r);
/* Charges (charge) or returns bytes against the process's limit: 0 or -ENOMEM. Takes mm->lock. */
int mm_account(struct tcemu_host *h, struct mm *mm, uint64_t bytes, bool charge);
void mm_free(struct tcemu_host *h, struct mm *mm);

/* probe.c */
int probe_range(uint64_t ua, uint64_t size, bool need_write, uint32_t *backing_shift);
int probe_pin(uint64_t ua, uint64_t size, bool need_write);
int copy_from_client(struct tcemu_host *h, void *dst, const void *src, size_t len);
int copy_to_client(struct tcemu_host *h, void *dst, const void *src, size_t len);

/* host.c: group ioctls */
long group_get_status(struct group *g, struct vfio_group_status *st);
long group_set_container(struct group *g, int container_fd);
long group_unset_container(struct group *g);
long group_get_device_fd(struct group *g, const char *name);

/* container.c (host->lock held where said) */
struct container *container_new(struct tcemu_host *h);
void container_free(struct container *c);                          /* host->lock held */
int container_attach_group(struct container *c, struct group *g);  /* host->lock held */
void container_detach_group(struct container *c, struct group *g); /* host->lock held */
long container_check_extension(struct container *c, unsigned long ext);
long container_set_iommu(struct container *c, unsigned long type); /* host->lock held */
void container_info(struct container *c, struct tcemu_container_info *ci);
int container_entry(struct container *c, uint64_t iova, uint64_t *tce, uint64_t *ua);
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
 * A run of guest TCEs for the guest fast path: entries [at, at + n) of a call, guest pages that
 * follow each other in process memory (ua: the first one's address; 0: the run clears) with
 * hardware permission perm. tce (guest.c's) is the first guest TCE of a run that maps.
 */
struct guest_run {
	uint64_t at, n;
	uint64_t ua, perm;
	uint64_t tce;
};

/* The entries a call's runs cover (they follow each other from entry 0). */
static inline uint64_t runs_span(const struct guest_run *runs, size_t nruns)
{
	return nruns ? runs[nruns - 1].at + runs[nruns - 1].n : 0;
}

/*
 * A guest window's link to a container, for the guest fast path (see the guest gate at the top).
 * guest.c owns it; its window's lock serializes the hypercalls that use it. The cache is written
 * by a hypercall while busy with the gate open, or under host->glink_lock while not busy.
 */
#define GUEST_LOCK_HELD 1u /* a guest window's lock word: held */
#define GUEST_LOCK_FAST 2u /* held by a fast-path hypercall that may use the gate: busy */

struct guest_link {
	struct container *c;
	uint32_t *lock;           /* its window's lock word (atomic), GUEST_LOCK_FAST: busy */
	bool listed;              /* on host->glinks */
	struct guest_link *next;  /* host->glinks, under host->glink_lock */
	/* the cache: c's window found last (t NULL: none), and the leaf of t used last */
	struct tcemu_table *t;
	struct table_slot leaf;
	unsigned slot;
	uint32_t page_shift;
	uint64_t bus_offset, window_size;
	/* the region of the last translation, and entries counted to it here but not yet in it */
	struct region *r;
	size_t hint;              /* r's index (mm_find_near) */
	int64_t pending;
	/* entries mapped (host stats) but not yet counted there, and their highest value since */
	int64_t entries, entries_high;
	/* TCE kills made on every PE of the container and not yet counted there */
	uint64_t kills;
};

/* host.c: the guest gate */
void host_gate_close(struct tcemu_host *h);
void host_gate_open(struct tcemu_host *h);
/* Closes and opens the gate: what the links keep back is counted where it belongs. */
void host_gate_flush(struct tcemu_host *h);
/* Puts gl on the host's list (gl->c set, the rest zero) / takes it off, counting its cache. */
void host_glink_add(struct tcemu_host *h, struct guest_link *gl);
void host_glink_del(struct tcemu_host *h, struct guest_link *gl);

/*
 * Guest fast path (container.c): writes the runs (together, the TCEs [0, total)) of 2^gshift-byte
 * guest pages from bus address bus into the window of gl's container containing it, fanning each
 * guest page out to host entries. Checks everything first: -EAGAIN ("too hard", *failed = the TCE
 * that could not be done, its host entries cleared) or -ENOMEM change nothing else. Invalidates once.
 */
int container_guest_put(struct guest_link *gl, uint64_t bus, uint32_t gshift, const struct guest_run *runs,
			size_t nruns, uint64_t *failed);
/*
 * container_guest_put of one TCE (ua: its process address, 0: a clear; perm: its hardware
 * permission), with a shorter way for the common case.
 */
int container_guest_put1(struct guest_link *gl, uint64_t bus, uint32_t gshift, uint64_t ua, uint64_t perm);
/* Counts what gl's cache holds into its region and empties the cache. Gate closed or gl unused. */
void container_guest_flush(struct guest_link *gl);
/* Clears what maps [bus, bus + bytes) in the window containing bus (a guest window removed). */
void container_guest_clear(struct container *c, uint64_t bus, uint64_t bytes);
/* 0 if c is v2 and has a window at bus address start with a page <= 2^gshift and >= bytes long. */
int container_window_matches(struct container *c, uint64_t start, uint32_t gshift, uint64_t bytes);
/* The container behind descriptor fd with a reference held (host.c); NULL: not a container. */
struct container *host_container_get(struct tcemu_host *h, int fd);
void host_container_put(struct tcemu_host *h, struct container *c);

/* guest.c */
struct tcemu_guest;
struct tcemu_host *guest_host(struct tcemu_guest *g);

/* vfio.c */
long vfio_dispatch(struct tcemu_host *h, struct file *f, int fd, unsigned long cmd, void *arg);

#endif
