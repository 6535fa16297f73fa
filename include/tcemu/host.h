/* SPDX-License-Identifier: MIT */
/*
 * The emulated POWER host: a platform, its simulated physical memory and the Linux VFIO state,
 * behind an fd-level API that mirrors the kernel interface.
 *
 *   int fd;
 *   tcemu_host_open(h, "/dev/vfio/vfio", O_RDWR, &fd);        // a container
 *   long r = tcemu_host_ioctl(h, fd, VFIO_GET_API_VERSION, NULL);
 *
 * Every call returns what the kernel's system call would return on success (0, a count or a new
 * descriptor) or a negative errno; nothing here sets errno. Structs pointed to by ioctl arguments
 * are copied in and out safely: a bad pointer gives -EFAULT, never a crash (unless the host was
 * created with trusted_args).
 *
 * Descriptors are numbers in the client's descriptor space. By default the host hands out its own
 * numbers (from 1000 up); the LD_PRELOAD shim gives it real kernel descriptors instead through
 * tcemu_host_ops, so numbers never collide and a closed descriptor is a closed descriptor.
 *
 * "The process" (the kernel's mm: container owner, per-process pre-registration and locked-memory
 * accounting) is whatever tcemu_host_ops.caller_pid returns, getpid() by default: a forked child
 * is another process. User addresses always refer to this process's memory (the library runs in
 * the process it serves).
 *
 * Thread safety: every function may be called from any thread. See docs/architecture.md for the
 * locks and their order.
 */
#ifndef TCEMU_HOST_H
#define TCEMU_HOST_H

#include <stdbool.h>
#include <sys/types.h>

#include <tcemu/common.h>
#include <tcemu/memory.h>
#include <tcemu/platform.h>

#ifdef __cplusplus
extern "C" {
#endif

struct tcemu_host;

struct tcemu_host_ops {
	/* A new descriptor number (>= 0) or a negative errno. NULL: the host's own numbers. */
	int (*fd_alloc)(void *opaque);
	/* A number from fd_alloc is no longer used by the host. */
	void (*fd_release)(void *opaque, int fd);
	/* The calling process. NULL: getpid(). */
	pid_t (*caller_pid)(void *opaque);
	void *opaque;
};

struct tcemu_host_opts {
	struct tcemu_platform_opts platform; /* topology, page size, logger, error buffer */
	struct tcemu_host_ops ops;
	/*
	 * Locked-memory limit per process, bytes. Unless set here or by the topology's "memlock",
	 * the real RLIMIT_MEMLOCK applies, unlimited for a process that has CAP_IPC_LOCK.
	 */
	bool memlock_set;
	uint64_t memlock; /* UINT64_MAX: unlimited */
	bool real_mlock;  /* also mlock() registered memory (off by default) */
	bool no_eeh;      /* the platform has no EEH: VFIO_EEH is not offered */
	bool trace;       /* log every call, decoded, at TCEMU_LOG_DEBUG (the logger's level must allow it) */
	/*
	 * The caller vouches for every ioctl argument pointer: copy with memcpy instead of the
	 * checked copy that turns a bad pointer into EFAULT (which installs a SIGSEGV/SIGBUS handler
	 * on first use: tcemu/signals.h). For VMMs that call the library directly; the LD_PRELOAD
	 * shim never sets it.
	 */
	bool trusted_args;
};

/* -EINVAL (with opts->platform.errbuf filled for topology errors), -ENOMEM, a file errno. */
TCEMU_EXPORT int tcemu_host_create(const struct tcemu_host_opts *opts, struct tcemu_host **out);
/* Closes every descriptor still open (reporting what was left behind) and frees everything. */
TCEMU_EXPORT void tcemu_host_destroy(struct tcemu_host *h);

TCEMU_EXPORT struct tcemu_platform *tcemu_host_platform(struct tcemu_host *h);
TCEMU_EXPORT struct tcemu_memory *tcemu_host_memory(struct tcemu_host *h);

/*
 * open(2) of an emulated path: "/dev/vfio/vfio" (a new container) or "/dev/vfio/N" (group N;
 * -ENOENT for no such group, -EBUSY if it is already open). Other paths: -ENOENT.
 */
TCEMU_EXPORT int tcemu_host_open(struct tcemu_host *h, const char *path, int flags, int *fd);
/* true if path names something tcemu emulates ("/dev/vfio" and below). */
TCEMU_EXPORT bool tcemu_host_owns_path(const char *path);
/* close(2): -EBADF for a descriptor the host does not know. The last descriptor of a file releases it. */
TCEMU_EXPORT int tcemu_host_close(struct tcemu_host *h, int fd);
/* Makes newfd another descriptor of fd's open file (dup). -EBADF, -EBUSY if newfd is in use. */
TCEMU_EXPORT int tcemu_host_dup(struct tcemu_host *h, int fd, int newfd);
TCEMU_EXPORT bool tcemu_host_is_fd(struct tcemu_host *h, int fd);
/* ioctl(2). -EBADF for an unknown descriptor, -ENOTTY for an unknown command. */
TCEMU_EXPORT long tcemu_host_ioctl(struct tcemu_host *h, int fd, unsigned long cmd, void *arg);
/* pread(2)/pwrite(2) on a device descriptor (regions at index << 40); -EINVAL on other descriptors. */
TCEMU_EXPORT ssize_t tcemu_host_pread(struct tcemu_host *h, int fd, void *buf, size_t len, uint64_t off);
TCEMU_EXPORT ssize_t tcemu_host_pwrite(struct tcemu_host *h, int fd, const void *buf, size_t len, uint64_t off);
/* For mmap(2) of a device region that offers MMAP: the memfd behind it. -EINVAL otherwise. */
TCEMU_EXPORT int tcemu_host_region_fd(struct tcemu_host *h, int fd, uint64_t offset, int *memfd);

/* ---- Introspection, for tools and tests ---- */

enum tcemu_fd_kind { TCEMU_FD_NONE = 0, TCEMU_FD_CONTAINER, TCEMU_FD_GROUP, TCEMU_FD_DEVICE };
TCEMU_EXPORT enum tcemu_fd_kind tcemu_host_fd_kind(struct tcemu_host *h, int fd);

struct tcemu_window_info {
	bool present;   /* a table is programmed */
	bool pending;   /* the default window, not built yet (slot 0 only) */
	uint64_t start; /* bus address */
	uint64_t size;
	uint32_t page_shift;
	uint32_t levels;
	uint64_t valid_entries;
	uint64_t accounted_bytes; /* charged to locked memory (v2) */
	uint64_t allocated_bytes;
};

#define TCEMU_MAX_GROUPS_REPORTED 16

struct tcemu_container_info {
	int type;         /* 0 (none yet), VFIO_SPAPR_TCE_IOMMU (2) or VFIO_SPAPR_TCE_v2_IOMMU (7) */
	bool enabled;     /* v1: ENABLE done; v2: memory registered once */
	pid_t owner;      /* the process recorded, 0 if none yet */
	size_t ngroups;
	uint32_t groups[TCEMU_MAX_GROUPS_REPORTED];
	struct tcemu_window_info windows[TCEMU_PE_WINDOWS];
	size_t nregions;  /* pre-registered regions this container references (v2) */
	uint64_t locked_bytes; /* what this container charged: v1 window or v2 regions + tables */
};

/* -EBADF, or -EINVAL if fd is not a container. */
TCEMU_EXPORT int tcemu_host_container_info(struct tcemu_host *h, int fd, struct tcemu_container_info *ci);
/* Reads the entry mapping bus address iova in a container's windows (host order) and its user address. */
TCEMU_EXPORT int tcemu_host_container_entry(struct tcemu_host *h, int fd, uint64_t iova, uint64_t *tce,
					    uint64_t *ua);

struct tcemu_region_info {
	uint64_t ua, size;
	uint32_t page_shift; /* largest IOMMU page the region may back */
	uint64_t hpa;        /* simulated physical address of ua */
	uint64_t mapped;     /* IOMMU entries pointing into it */
	uint32_t users;      /* containers holding a reference */
};

/* Fills up to max regions of process pid, sorted by address; returns how many it has in all. */
TCEMU_EXPORT ssize_t tcemu_host_regions(struct tcemu_host *h, pid_t pid, struct tcemu_region_info *out, size_t max);
/* Bytes process pid has charged against its locked-memory limit, and the limit (UINT64_MAX: none). */
TCEMU_EXPORT int tcemu_host_locked(struct tcemu_host *h, pid_t pid, uint64_t *locked, uint64_t *limit);

/* Counters over the host's life: calls per ioctl command (index = command number - VFIO_BASE). */
#define TCEMU_IOCTL_SLOTS 24
struct tcemu_host_stats {
	uint64_t ioctls[TCEMU_IOCTL_SLOTS];
	uint64_t ioctl_errors;
	uint64_t windows_created;
	uint64_t entries_mapped;      /* entries currently valid in all containers */
	uint64_t entries_mapped_peak;
	uint64_t regions_registered;  /* currently */
	uint64_t regions_peak;
	uint64_t locked_bytes;        /* currently, all processes */
	uint64_t locked_peak;
	uint64_t defects;             /* client defects found (see below) */
};

TCEMU_EXPORT void tcemu_host_stats(struct tcemu_host *h, struct tcemu_host_stats *st);
/* The name of an ioctl slot ("MAP_DMA", ...), or NULL. */
TCEMU_EXPORT const char *tcemu_ioctl_name(unsigned slot);

/*
 * Client defects: things a correct client does not do (an unregister refused because the memory
 * is still mapped, mappings or registrations left at release, ...), device DMA faults
 * (devmodel.h), and notes: legitimate but noteworthy behaviour (an UNMAP_DMA that clears
 * nothing: QEMU clears a guest's default window one entry at a time). Messages name the call that
 * caused them. They are kept by kind (what a message says apart from its numbers; a DMA fault's
 * kind is its device, direction and what the IOMMU held), in the order each kind first occurred:
 * a kind keeps its count, its first message and its first few examples. Each kind is logged for
 * its first 3 occurrences (defects and faults at TCEMU_LOG_WARN, notes at TCEMU_LOG_INFO), then
 * once to say that more are counted, not logged, and once with its final count at
 * tcemu_host_close_all. tcemu_host_stats' defects counts every occurrence of a defect or a fault
 * (not notes).
 */
/* The number of kinds (at most 1024 kinds are kept; occurrences of further kinds are only counted). */
TCEMU_EXPORT size_t tcemu_host_defect_count(struct tcemu_host *h);
/*
 * Copies kind i's line into buf (truncated to len, NUL terminated): the message itself for a kind
 * that occurred once; otherwise its count and first examples ("262144 UNMAP_DMA calls cleared
 * nothing (first at iova 0x0 size 0x1000 on container 3, ...): ..." or "FIRST MESSAGE (and N more
 * like it: ...)"). -ENOENT past the end.
 */
TCEMU_EXPORT int tcemu_host_defect(struct tcemu_host *h, size_t i, char *buf, size_t len);

/*
 * Closes every descriptor still open (devices, then groups, then containers), reporting each as a
 * client defect, after recording the state at that moment as the state "at exit" of the summary.
 * For the end of a client program; the host stays usable.
 */
TCEMU_EXPORT void tcemu_host_close_all(struct tcemu_host *h);

/*
 * A plain-text summary: calls by kind, windows created, entries mapped at peak and at exit,
 * regions registered, locked memory (after tcemu_host_close_all released what was left open,
 * also what remained then), then the client defects, the DMA faults and the notes, one line per
 * kind (as tcemu_host_defect gives it), each part with its count of occurrences, then the device
 * models' counters and what their DMA moved.
 * Writes at most len bytes (NUL terminated) and returns the length it needed, like snprintf.
 */
TCEMU_EXPORT size_t tcemu_host_summary(struct tcemu_host *h, char *buf, size_t len);
/*
 * tcemu_host_summary for a signal handler (async-signal-safe): allocates nothing and waits for no
 * lock. It reads the counters as they are (without settling a guest fast path's uncounted
 * entries) and lists the defects only if no thread is recording one at that moment.
 */
TCEMU_EXPORT size_t tcemu_host_summary_signal(struct tcemu_host *h, char *buf, size_t len);

/* ---- Test hooks ---- */

/*
 * Failure injection: the n-th allocation (1-based) made from now on by container, registration
 * and window code, the built-in device models and their DMA fails with -ENOMEM (docs/reliability.md
 * lists what is not reached); 0 turns it off. Returns how many allocations were counted
 * since the last call (they are counted only while injection is armed), so a test can loop over
 * every allocation point of an operation.
 */
TCEMU_EXPORT uint64_t tcemu_host_fail_alloc(struct tcemu_host *h, uint64_t nth);

#ifdef __cplusplus
}
#endif
#endif
