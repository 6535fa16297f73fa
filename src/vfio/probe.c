/* SPDX-License-Identifier: MIT */
/*
 * Safe access to client memory: the library runs inside the client process, and a bad pointer or
 * range from the client must give EFAULT, never a crash.
 *
 * - copy_from_client / copy_to_client copy ioctl arguments with process_vm_readv/writev on this
 *   process: the kernel checks the access and reports EFAULT instead of faulting us.
 * - probe_range checks, from /proc/self/maps, that a range is mapped with the needed access and
 *   finds the smallest backing page size over it (hugetlbfs mappings have their huge page size),
 *   without touching the memory: registering a sparse guest's RAM leaves it sparse.
 * - probe_pin faults a range in with the access needed (MADV_POPULATE_READ/WRITE), as pinning
 *   does: used by v1 maps, which pin page by page.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/statfs.h>
#include <sys/uio.h>
#include <unistd.h>

#include "vfio/host_priv.h"
#include "vfio/probe.h"

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#define MADV_POPULATE_WRITE 23
#endif
#define HUGETLBFS_MAGIC_NUMBER 0x958458f6

int copy_from_client(struct tcemu_host *h, void *dst, const void *src, size_t len)
{
	struct iovec local = { dst, len }, remote = { (void *)src, len };
	ssize_t n;

	if (len == 0)
		return 0;
	if (!src)
		return -EFAULT;
	if (h->trusted_args) {
		memcpy(dst, src, len);
		return 0;
	}
	n = process_vm_readv(tcemu_self_pid(), &local, 1, &remote, 1, 0);
	if (n == (ssize_t)len)
		return 0;
	if (n < 0 && (errno == ENOSYS || errno == EPERM)) {
		memcpy(dst, src, len); /* no safe copy available: trust the pointer */
		return 0;
	}
	return -EFAULT;
}

int copy_to_client(struct tcemu_host *h, void *dst, const void *src, size_t len)
{
	struct iovec local = { (void *)src, len }, remote = { dst, len };
	ssize_t n;

	if (len == 0)
		return 0;
	if (!dst)
		return -EFAULT;
	if (h->trusted_args) {
		memcpy(dst, src, len);
		return 0;
	}
	n = process_vm_writev(tcemu_self_pid(), &local, 1, &remote, 1, 0);
	if (n == (ssize_t)len)
		return 0;
	if (n < 0 && (errno == ENOSYS || errno == EPERM)) {
		memcpy(dst, src, len);
		return 0;
	}
	return -EFAULT;
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

int probe_range(uint64_t ua, uint64_t size, bool need_write, uint32_t *backing_shift)
{
	const uint64_t end = ua + size;
	uint64_t covered = ua;
	uint32_t minshift = 63, sys = tcemu_log2_u64((uint64_t)sysconf(_SC_PAGESIZE));
	char line[512];
	FILE *f;

	if (size == 0 || end < ua)
		return -EFAULT;
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
