/* SPDX-License-Identifier: MIT */
/*
 * Safe access to client memory: the library runs inside the client process, and a bad pointer or
 * range from the client must give EFAULT, never a crash.
 *
 * - copy_from_client / copy_to_client copy ioctl arguments without a system call: with
 *   util/fault.c's routine, whose loads and stores may fault; its SIGSEGV/SIGBUS handler resumes
 *   a fault in the routine at its failure exit (EFAULT), as the kernel's exception table does for
 *   copy_from_user, and hands every other SIGSEGV/SIGBUS to the program's own disposition. Nothing
 *   is checked in advance and nothing is cached, so whatever the client does to its address space
 *   between two calls (or during one, from another thread) the copy either works or gives EFAULT.
 *   The handler is installed on the first checked copy (a host with trusted_args never copies
 *   checked and never installs it). Where there is no routine (architectures other than x86_64),
 *   the copy is process_vm_readv/writev on this process (one system call: the kernel checks the
 *   access), and where the kernel refuses those (EPERM under a seccomp profile, ENOSYS), the range
 *   must be found mapped with the needed access by probe_range before it is copied, else EFAULT:
 *   never a plain copy of an unchecked pointer (a client that unmaps the range between the check
 *   and the copy can still crash itself on that fallback, and only there).
 * - probe_range checks that a range is mapped with the needed access and finds the smallest
 *   backing page size over it (hugetlbfs mappings have their huge page size), without touching the
 *   memory: registering a sparse guest's RAM leaves it sparse. It asks the kernel about each
 *   mapping over the range with the PROCMAP_QUERY ioctl of /proc/self/maps (Linux 6.11): one
 *   system call per mapping, on a descriptor kept open (below). The kernel is asked afresh unless
 *   the range lies in a mapping that a layer reported created and no report has changed since
 *   (vfio/maps.c, tcemu/maps.h: the shim reports the program's mmap, munmap, mprotect...): then
 *   the first query's answer stands. Without reports every call asks, so a client that maps,
 *   unmaps or mprotects memory between two calls is seen exactly as a new read of the maps file
 *   would see it. Kernels without the ioctl get the old way: /proc/self/maps read and parsed on
 *   every call (nothing remembered).
 *   Checking a small registration by touching it (a write access that changes nothing, through
 *   the fault-catching routine) instead was measured and left out: it faults the pages in, as the
 *   kernel's pin does, and DPDK's `--no-huge -m 512` registration of 131072 untouched pages took
 *   4-5x longer that way than with one query each (a fault costs ~10 us on this VM, a query ~1.2).
 * - probe_pin faults a range in with the access needed (MADV_POPULATE_READ/WRITE), as pinning
 *   does: used by v1 maps, which pin page by page.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/uio.h>
#include <unistd.h>

#include "util/fault.h"
#include "vfio/host_priv.h"
#include "vfio/maps.h"
#include "vfio/probe.h"

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#define MADV_POPULATE_WRITE 23
#endif
#define HUGETLBFS_MAGIC_NUMBER 0x958458f6

static bool fault_copy_off; /* tests: the portable way even where the routine exists */

void probe_use_fault_copy(bool on)
{
	__atomic_store_n(&fault_copy_off, !on, __ATOMIC_RELAXED);
}

/*
 * The portable way: process_vm_readv/writev on this process, one system call. Where the kernel
 * refuses them (EPERM under a seccomp profile, ENOSYS), the client's range must be mapped with the
 * access the copy needs (probe_range) before it is copied; anything else is EFAULT.
 */
static int copy_portable(void *dst, const void *src, size_t len, bool to_client)
{
	const void *client = to_client ? dst : src;
	struct iovec local = { to_client ? (void *)src : dst, len }, remote = { (void *)client, len };
	uint32_t shift;
	ssize_t n;

	n = to_client ? process_vm_writev(tcemu_self_pid(), &local, 1, &remote, 1, 0)
		      : process_vm_readv(tcemu_self_pid(), &local, 1, &remote, 1, 0);
	if (n == (ssize_t)len)
		return 0;
	if (n >= 0 || (errno != ENOSYS && errno != EPERM))
		return -EFAULT;
	if (probe_range((uintptr_t)client, len, to_client, &shift) != 0)
		return -EFAULT;
	memcpy(dst, src, len);
	return 0;
}

/* Both directions: trusted, the fault-catching routine, or the portable way. */
static inline int copy_checked(struct tcemu_host *h, void *dst, const void *src, size_t len, bool to_client)
{
	const uintptr_t client = (uintptr_t)(to_client ? dst : src);

	if (len == 0)
		return 0;
	if (!client || client + len < client)
		return -EFAULT;
	if (h->trusted_args) {
		memcpy(dst, src, len);
		return 0;
	}
	if (TCEMU_LIKELY(fault_copy_ready()) && !__atomic_load_n(&fault_copy_off, __ATOMIC_RELAXED))
		return fault_copy(dst, src, len);
	return copy_portable(dst, src, len, to_client);
}

int copy_from_client(struct tcemu_host *h, void *dst, const void *src, size_t len)
{
	return copy_checked(h, dst, src, len, false);
}

int copy_to_client(struct tcemu_host *h, void *dst, const void *src, size_t len)
{
	return copy_checked(h, dst, src, len, true);
}

/*
 * The page shift of a hugetlbfs mapping, or 0 for anything else: statfs() of the mapping's
 * /proc/self/map_files entry gives the backing file system and its page size in one call, for
 * hugetlbfs files, anonymous MAP_HUGETLB and MFD_HUGETLB memfds alike. Without map_files (an old
 * kernel or no permission), a file that still exists is asked directly.
 */
static uint32_t hugetlb_shift(uint64_t start, uint64_t end, const char *path)
{
	char mf[64];
	struct statfs sf;

	snprintf(mf, sizeof(mf), "/proc/self/map_files/%llx-%llx", (unsigned long long)start, (unsigned long long)end);
	if (statfs(mf, &sf) != 0 && (path[0] != '/' || statfs(path, &sf) != 0))
		return 0;
	if ((uint64_t)sf.f_type != HUGETLBFS_MAGIC_NUMBER || !TCEMU_IS_POW2((uint64_t)sf.f_bsize))
		return 0;
	return tcemu_log2_u64((uint64_t)sf.f_bsize);
}

/* The maps file way: reads and parses /proc/self/maps. */
static int probe_maps_file(uint64_t ua, uint64_t end, bool need_write, uint32_t sys, uint32_t *backing_shift)
{
	uint64_t covered = ua;
	uint32_t minshift = 63;
	char line[512];
	FILE *f;

	f = fopen("/proc/self/maps", "re");
	if (!f)
		return -EFAULT;
	while (covered < end && fgets(line, sizeof(line), f)) {
		unsigned long long s, e;
		char perms[8], path[256] = "";
		uint32_t shift = sys;

		if (sscanf(line, "%llx-%llx %7s %*s %*s %*s %255[^\n]", &s, &e, perms, path) < 3)
			continue;
		if (e <= covered)
			continue;
		if (s > covered)
			break; /* a hole */
		if (perms[0] != 'r' || (need_write && perms[1] != 'w'))
			break;
		/* Only mappings of a file can be hugetlbfs (anonymous MAP_HUGETLB shows as one). */
		if (path[0] == '/') {
			uint32_t hs = hugetlb_shift(s, e, path);
			if (hs)
				shift = hs;
		}
		if (shift < minshift)
			minshift = shift;
		covered = e;
	}
	fclose(f);
	if (covered < end)
		return -EFAULT;
	*backing_shift = minshift;
	return 0;
}

/*
 * The argument of PROCMAP_QUERY, as the kernel's ABI lays it out (uapi linux/fs.h; not in the
 * headers of every distribution yet): in, size..query_addr; out, the mapping covering query_addr.
 */
struct maps_query {
	uint64_t size, query_flags, query_addr;
	uint64_t vma_start, vma_end, vma_flags, vma_page_size, vma_offset, inode;
	uint32_t dev_major, dev_minor, vma_name_size, build_id_size;
	uint64_t vma_name_addr, build_id_addr;
};
_Static_assert(sizeof(struct maps_query) == 104, "the PROCMAP_QUERY argument is 104 bytes");
#define MAPS_QUERY _IOWR('f', 17, struct maps_query)
#define MAPS_VMA_READ 0x1
#define MAPS_VMA_WRITE 0x2

/*
 * The descriptor of /proc/self/maps that the queries use, opened on first use. "self" is resolved
 * at open, so the descriptor is tied to the process that opened it: maps_state packs that pid
 * (high half) with the descriptor (low half), 0 for none, and a forked child, whose pid differs,
 * opens its own. The client may close the descriptor behind our back (closefrom) and the number
 * may then name another file: the ioctl fails there (EBADF, ENOTTY) and the number is forgotten,
 * never closed, and a new descriptor is opened. maps_lock (a leaf) serializes the replacement;
 * the fast path is one atomic load.
 */
static uint64_t maps_state;
static dev_t maps_dev;
static ino_t maps_ino;
static pthread_mutex_t maps_lock = PTHREAD_MUTEX_INITIALIZER;
static int maps_query_missing; /* the kernel has no PROCMAP_QUERY: parse the file instead */

/* Whether fd is still the maps descriptor we opened (fstat: same file system and inode). */
static bool maps_fd_is_ours(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && st.st_dev == maps_dev && st.st_ino == maps_ino;
}

/* The descriptor to query, other than stale (a number that just failed: forgotten); -1: none. */
static int maps_fd_get(int stale)
{
	const uint64_t pid = (uint64_t)tcemu_self_pid();
	uint64_t st = __atomic_load_n(&maps_state, __ATOMIC_ACQUIRE);
	struct stat sb;
	int fd;

	if (st >> 32 == pid && (int)(uint32_t)st != stale)
		return (int)(uint32_t)st;
	pthread_mutex_lock(&maps_lock);
	st = __atomic_load_n(&maps_state, __ATOMIC_RELAXED);
	if (st >> 32 == pid && (int)(uint32_t)st != stale)
		goto unlock;
	/* Inherited across fork: it shows the parent's mappings. Ours to close if still the same file. */
	if (st && st >> 32 != pid && maps_fd_is_ours((int)(uint32_t)st))
		close((int)(uint32_t)st);
	st = 0;
	fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	if (fd >= 0 && fstat(fd, &sb) == 0) {
		maps_dev = sb.st_dev;
		maps_ino = sb.st_ino;
		st = pid << 32 | (uint32_t)fd;
	} else if (fd >= 0) {
		close(fd);
	}
	__atomic_store_n(&maps_state, st, __ATOMIC_RELEASE);
unlock:
	pthread_mutex_unlock(&maps_lock);
	return st ? (int)(uint32_t)st : -1;
}

/* The query way: 0, -EFAULT, or -ENOTTY when it cannot answer (use the file). */
static int probe_query(uint64_t ua, uint64_t end, bool need_write, uint32_t sys, uint32_t *backing_shift,
		       struct maps_seen *seen)
{
	uint64_t covered = ua;
	uint32_t minshift = 63;
	unsigned answers = 0;
	bool fresh = false;
	int fd;

	seen->end = 0;

	if (__atomic_load_n(&maps_query_missing, __ATOMIC_RELAXED))
		return -ENOTTY;
	fd = maps_fd_get(-1);
	while (fd >= 0 && covered < end) {
		/* Only the fields up to the inode are exchanged (the ABI takes a shorter size). */
		struct maps_query q = { .size = offsetof(struct maps_query, dev_major), .query_addr = covered };
		uint32_t shift = sys;

		if (ioctl(fd, MAPS_QUERY, &q) != 0) {
			if (errno == ENOENT)
				return -EFAULT; /* no mapping covers it: a hole */
			if (errno != EBADF && errno != ENOTTY && errno != EINVAL)
				return -ENOTTY; /* a passing failure: read the file this time */
			if (fresh) {
				/* A descriptor we just opened: this kernel has no PROCMAP_QUERY. */
				__atomic_store_n(&maps_query_missing, 1, __ATOMIC_RELAXED);
				return -ENOTTY;
			}
			fd = maps_fd_get(fd);
			fresh = true;
			continue;
		}
		if (q.vma_start > covered || q.vma_end <= covered)
			return -ENOTTY; /* not an answer about this address */
		if (!(q.vma_flags & MAPS_VMA_READ) || (need_write && !(q.vma_flags & MAPS_VMA_WRITE)))
			return -EFAULT;
		/* The kernel's page size of the mapping: the huge page size of a hugetlb one. */
		if (TCEMU_IS_POW2(q.vma_page_size) && q.vma_page_size > (1ull << sys))
			shift = tcemu_log2_u64(q.vma_page_size);
		if (shift < minshift)
			minshift = shift;
		if (answers++ == 0)
			*seen = (struct maps_seen){ .start = q.vma_start, .end = q.vma_end,
						    .writable = (q.vma_flags & MAPS_VMA_WRITE) != 0, .shift = shift };
		covered = q.vma_end;
	}
	if (fd < 0)
		return -ENOTTY;
	if (answers != 1)
		seen->end = 0; /* only a range inside one mapping is remembered */
	*backing_shift = minshift;
	return 0;
}

static bool probe_query_off; /* tests: always read the file */

void probe_use_query(bool on)
{
	__atomic_store_n(&probe_query_off, !on, __ATOMIC_RELAXED);
}

int probe_range(uint64_t ua, uint64_t size, bool need_write, uint32_t *backing_shift)
{
	const uint64_t end = ua + size;
	uint32_t sys = tcemu_log2_u64((uint64_t)getpagesize());
	int rc = -ENOTTY;

	if (size == 0 || end < ua)
		return -EFAULT;
	if (!__atomic_load_n(&probe_query_off, __ATOMIC_RELAXED)) {
		struct maps_seen seen;
		uint64_t gen;

		if (maps_lookup(ua, end, need_write, backing_shift))
			return 0;
		gen = maps_generation();
		rc = probe_query(ua, end, need_write, sys, backing_shift, &seen);
		if (rc == 0 && seen.end)
			maps_learn(gen, ua, end, &seen);
	}
	if (rc == -ENOTTY)
		rc = probe_maps_file(ua, end, need_write, sys, backing_shift);
	return rc;
}

int probe_pin(uint64_t ua, uint64_t size, bool need_write)
{
	if (madvise((void *)(uintptr_t)ua, size, need_write ? MADV_POPULATE_WRITE : MADV_POPULATE_READ) == 0)
		return 0;
	if (errno == EINVAL && size) {
		/* A kernel without MADV_POPULATE_*: probe_range already checked the access. */
		uint32_t shift;
		return probe_range(ua, size, need_write, &shift);
	}
	return -EFAULT;
}
