/* SPDX-License-Identifier: MIT */
/*
 * libtcemu-preload.so: makes /dev/vfio exist for an unmodified, dynamically linked program.
 *
 * A thin layer over tcemu/host.h: one tcemu_host for the process, created when the library is
 * loaded; every emulated descriptor is backed by a real memfd (so numbers never collide, and
 * close, dup, poll, lseek and fork behave); library results (a negative errno) become -1/errno.
 * Everything that is not an emulated path or descriptor goes straight to the next definition
 * (libc). The environment contract is in shim/README.md.
 */
/* Both open and open64 (and the other 64-bit names) are defined here: no header aliasing. */
#undef _FILE_OFFSET_BITS
#define _LARGEFILE64_SOURCE 1
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <tcemu/host.h>

#define EXPORT __attribute__((visibility("default")))

/* Interposed glibc entry points that its headers do not declare. */
EXPORT struct tcemu_host *tcemu_preload_host(void);
EXPORT int __open_2(const char *path, int flags);
EXPORT int __open64_2(const char *path, int flags);
EXPORT int __openat_2(int dirfd, const char *path, int flags);
EXPORT int __openat64_2(int dirfd, const char *path, int flags);
EXPORT int __xstat(int ver, const char *path, struct stat *st);
EXPORT int __xstat64(int ver, const char *path, struct stat64 *st);
EXPORT int __lxstat(int ver, const char *path, struct stat *st);
EXPORT int __lxstat64(int ver, const char *path, struct stat64 *st);
EXPORT int fcntl64(int fd, int cmd, ...);

#define MAX_FD (1 << 20)

static struct tcemu_host *host;
static pid_t creator;
/*
 * Which descriptors are emulated, read without a lock on every read(), write(), close()... of the
 * program: set when a backing descriptor is made or adopted, cleared when the host releases it.
 * (Untouched pages of this array cost nothing.)
 */
static uint8_t emu_fd[MAX_FD];

static void mark(int fd, uint8_t on)
{
	if (fd >= 0 && fd < MAX_FD)
		__atomic_store_n(&emu_fd[fd], on, __ATOMIC_RELEASE);
}
static __thread int open_cloexec = -1; /* O_CLOEXEC of the open being served, for fd_alloc */

/* The next definition of a libc function, looked up once. */
#define REAL(ret, name, ...)                                                                       \
	static ret (*real_##name)(__VA_ARGS__);                                                   \
	static ret (*get_##name(void))(__VA_ARGS__)                                                \
	{                                                                                          \
		if (!real_##name)                                                                  \
			real_##name = (ret(*)(__VA_ARGS__))dlsym(RTLD_NEXT, #name);                \
		return real_##name;                                                                \
	}

REAL(int, open, const char *, int, ...)
REAL(int, open64, const char *, int, ...)
REAL(int, openat, int, const char *, int, ...)
REAL(int, openat64, int, const char *, int, ...)
REAL(int, __open_2, const char *, int)
REAL(int, __open64_2, const char *, int)
REAL(int, __openat_2, int, const char *, int)
REAL(int, __openat64_2, int, const char *, int)
REAL(int, close, int)
REAL(int, ioctl, int, unsigned long, ...)
REAL(ssize_t, pread, int, void *, size_t, off_t)
REAL(ssize_t, pread64, int, void *, size_t, off64_t)
REAL(ssize_t, pwrite, int, const void *, size_t, off_t)
REAL(ssize_t, pwrite64, int, const void *, size_t, off64_t)
REAL(ssize_t, read, int, void *, size_t)
REAL(ssize_t, write, int, const void *, size_t)
REAL(void *, mmap, void *, size_t, int, int, int, off_t)
REAL(void *, mmap64, void *, size_t, int, int, int, off64_t)
REAL(int, dup, int)
REAL(int, dup2, int, int)
REAL(int, dup3, int, int, int)
REAL(int, fcntl, int, int, ...)
REAL(int, fcntl64, int, int, ...)
REAL(int, stat, const char *, struct stat *)
REAL(int, stat64, const char *, struct stat64 *)
REAL(int, lstat, const char *, struct stat *)
REAL(int, lstat64, const char *, struct stat64 *)
REAL(int, fstatat, int, const char *, struct stat *, int)
REAL(int, fstatat64, int, const char *, struct stat64 *, int)
REAL(int, __xstat, int, const char *, struct stat *)
REAL(int, __xstat64, int, const char *, struct stat64 *)
REAL(int, __lxstat, int, const char *, struct stat *)
REAL(int, __lxstat64, int, const char *, struct stat64 *)
REAL(int, access, const char *, int)

static int fail(long rc)
{
	errno = (int)-rc;
	return -1;
}

/* ---- the host ---- */

static void log_stderr(void *opaque, enum tcemu_log_level level, const char *msg)
{
	(void)opaque;
	fprintf(stderr, "tcemu: %s: %s\n", tcemu_log_level_name(level), msg);
}

/* A memfd per emulated descriptor: a real, unique descriptor that supports lseek, dup and poll. */
static int backing_fd(void *opaque)
{
	int fd = memfd_create("tcemu-vfio", open_cloexec == 0 ? 0 : MFD_CLOEXEC);

	(void)opaque;
	if (fd < 0)
		return -errno;
	mark(fd, 1);
	return fd;
}

static void release_fd(void *opaque, int fd)
{
	(void)opaque;
	mark(fd, 0);
	get_close()(fd);
}

__attribute__((constructor)) static void shim_init(void)
{
	struct tcemu_host_opts o = { 0 };
	const char *topo = getenv("TCEMU_TOPOLOGY"), *lvl = getenv("TCEMU_LOG"), *trace = getenv("TCEMU_TRACE");
	const char *ml = getenv("TCEMU_MEMLOCK");
	char err[512] = "";
	int rc;

	creator = getpid();
	o.platform.logger = (struct tcemu_logger){ .fn = log_stderr, .level = TCEMU_LOG_WARN };
	if (lvl && *lvl && tcemu_log_level_parse(lvl, &o.platform.logger.level) != 0)
		fprintf(stderr, "tcemu: TCEMU_LOG=%s: unknown level, using warn\n", lvl);
	if (trace && strcmp(trace, "1") == 0) {
		o.trace = true;
		if (o.platform.logger.level < TCEMU_LOG_DEBUG)
			o.platform.logger.level = TCEMU_LOG_DEBUG;
	}
	if (ml && *ml) {
		o.memlock_set = true;
		o.memlock = strcmp(ml, "unlimited") == 0 ? UINT64_MAX : strtoull(ml, NULL, 0);
	}
	o.platform.topology_path = topo && *topo ? topo : NULL;
	o.platform.errbuf = err;
	o.platform.errlen = sizeof(err);
	o.ops = (struct tcemu_host_ops){ .fd_alloc = backing_fd, .fd_release = release_fd };
	rc = tcemu_host_create(&o, &host);
	if (rc) {
		fprintf(stderr, "tcemu: cannot start the emulated host: %s\n", err[0] ? err : strerror(-rc));
		host = NULL;
	}
}

__attribute__((destructor)) static void shim_fini(void)
{
	const char *report = getenv("TCEMU_REPORT");
	size_t need;
	char *buf;
	FILE *f;

	if (!host || getpid() != creator)
		return;
	tcemu_host_close_all(host);
	if (!report || !*report)
		return;
	need = tcemu_host_summary(host, NULL, 0) + 1;
	buf = malloc(need);
	if (!buf)
		return;
	tcemu_host_summary(host, buf, need);
	f = fopen(report, "we");
	if (f) {
		fputs(buf, f);
		fclose(f);
	}
	free(buf);
}

/* For tests and tools running under the shim: the emulated host of this process. */
EXPORT struct tcemu_host *tcemu_preload_host(void)
{
	return host;
}

static bool emulated(int fd)
{
	return fd >= 0 && fd < MAX_FD && __atomic_load_n(&emu_fd[fd], __ATOMIC_ACQUIRE);
}

static bool owned_path(const char *path)
{
	return path && tcemu_host_owns_path(path);
}

static int emu_open(const char *path, int flags)
{
	int fd, rc;

	if (!host)
		return fail(-ENOENT);
	open_cloexec = (flags & O_CLOEXEC) != 0;
	rc = tcemu_host_open(host, path, flags, &fd);
	open_cloexec = -1;
	return rc ? fail(rc) : fd;
}

static mode_t mode_arg(int flags, va_list ap)
{
	return (flags & (O_CREAT | O_TMPFILE)) ? (mode_t)va_arg(ap, int) : 0;
}

/* The one pointer argument after last in a variadic ioctl or fcntl (read whether used or not). */
#define VA_PTR(last)                                        \
	({                                                  \
		va_list ap_;                                \
		va_start(ap_, last);                        \
		void *arg_ = va_arg(ap_, void *);           \
		va_end(ap_);                                \
		arg_;                                       \
	})

/* The optional mode argument of a variadic open-family function whose last named one is flags. */
#define OPEN_MODE(flags)                                    \
	({                                                  \
		va_list ap_;                                \
		va_start(ap_, flags);                       \
		mode_t mode_ = mode_arg(flags, ap_);        \
		va_end(ap_);                                \
		mode_;                                      \
	})

/* ---- open ---- */

EXPORT int open(const char *path, int flags, ...)
{
	if (owned_path(path))
		return emu_open(path, flags);
	return get_open()(path, flags, OPEN_MODE(flags));
}

EXPORT int open64(const char *path, int flags, ...)
{
	if (owned_path(path))
		return emu_open(path, flags);
	return get_open64()(path, flags, OPEN_MODE(flags));
}

EXPORT int openat(int dirfd, const char *path, int flags, ...)
{
	if (owned_path(path))
		return emu_open(path, flags);
	return get_openat()(dirfd, path, flags, OPEN_MODE(flags));
}

EXPORT int openat64(int dirfd, const char *path, int flags, ...)
{
	if (owned_path(path))
		return emu_open(path, flags);
	return get_openat64()(dirfd, path, flags, OPEN_MODE(flags));
}

EXPORT int __open_2(const char *path, int flags)
{
	return owned_path(path) ? emu_open(path, flags) : get___open_2()(path, flags);
}

EXPORT int __open64_2(const char *path, int flags)
{
	return owned_path(path) ? emu_open(path, flags) : get___open64_2()(path, flags);
}

EXPORT int __openat_2(int dirfd, const char *path, int flags)
{
	return owned_path(path) ? emu_open(path, flags) : get___openat_2()(dirfd, path, flags);
}

EXPORT int __openat64_2(int dirfd, const char *path, int flags)
{
	return owned_path(path) ? emu_open(path, flags) : get___openat64_2()(dirfd, path, flags);
}

/* ---- close, ioctl ---- */

EXPORT int close(int fd)
{
	if (emulated(fd)) {
		int rc = tcemu_host_close(host, fd); /* closes the backing memfd too */
		return rc ? fail(rc) : 0;
	}
	return get_close()(fd);
}

EXPORT int ioctl(int fd, unsigned long request, ...)
{
	void *arg = VA_PTR(request);

	if (emulated(fd)) {
		long rc = tcemu_host_ioctl(host, fd, request, arg);
		return rc < 0 ? fail(rc) : (int)rc;
	}
	return get_ioctl()(fd, request, arg);
}

/* ---- reads and writes: device regions at index << 40 ---- */

static ssize_t emu_rw(int fd, void *buf, size_t len, uint64_t off, bool write)
{
	ssize_t rc = write ? tcemu_host_pwrite(host, fd, buf, len, off) : tcemu_host_pread(host, fd, buf, len, off);
	return rc < 0 ? fail(rc) : rc;
}

EXPORT ssize_t pread(int fd, void *buf, size_t len, off_t off)
{
	return emulated(fd) ? emu_rw(fd, buf, len, (uint64_t)off, false) : get_pread()(fd, buf, len, off);
}

EXPORT ssize_t pread64(int fd, void *buf, size_t len, off64_t off)
{
	return emulated(fd) ? emu_rw(fd, buf, len, (uint64_t)off, false) : get_pread64()(fd, buf, len, off);
}

EXPORT ssize_t pwrite(int fd, const void *buf, size_t len, off_t off)
{
	return emulated(fd) ? emu_rw(fd, (void *)buf, len, (uint64_t)off, true) : get_pwrite()(fd, buf, len, off);
}

EXPORT ssize_t pwrite64(int fd, const void *buf, size_t len, off64_t off)
{
	return emulated(fd) ? emu_rw(fd, (void *)buf, len, (uint64_t)off, true) : get_pwrite64()(fd, buf, len, off);
}

/* read/write at the descriptor's offset, which the backing memfd keeps (lseek works natively). */
static ssize_t emu_stream(int fd, void *buf, size_t len, bool write)
{
	off_t at = lseek(fd, 0, SEEK_CUR);
	ssize_t n;

	if (at < 0)
		return -1;
	n = emu_rw(fd, buf, len, (uint64_t)at, write);
	if (n > 0)
		lseek(fd, at + n, SEEK_SET);
	return n;
}

EXPORT ssize_t read(int fd, void *buf, size_t len)
{
	return emulated(fd) ? emu_stream(fd, buf, len, false) : get_read()(fd, buf, len);
}

EXPORT ssize_t write(int fd, const void *buf, size_t len)
{
	return emulated(fd) ? emu_stream(fd, (void *)buf, len, true) : get_write()(fd, buf, len);
}

/* ---- mmap of device regions that offer MMAP ---- */

static void *emu_mmap(void *addr, size_t len, int prot, int flags, int fd, uint64_t off)
{
	int memfd, rc = tcemu_host_region_fd(host, fd, off, &memfd);

	if (rc) {
		errno = -rc;
		return MAP_FAILED;
	}
	return get_mmap()(addr, len, prot, flags, memfd, (off_t)(off & ((1ull << 40) - 1)));
}

EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	if (!(flags & MAP_ANONYMOUS) && emulated(fd))
		return emu_mmap(addr, len, prot, flags, fd, (uint64_t)off);
	return get_mmap()(addr, len, prot, flags, fd, off);
}

EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off64_t off)
{
	if (!(flags & MAP_ANONYMOUS) && emulated(fd))
		return emu_mmap(addr, len, prot, flags, fd, (uint64_t)off);
	return get_mmap64()(addr, len, prot, flags, fd, off);
}

/* ---- duplication: the real dup of the memfd gives the number, the host shares the file ---- */

static int adopt(int oldfd, int newfd)
{
	int rc;

	if (newfd < 0)
		return newfd;
	rc = tcemu_host_dup(host, oldfd, newfd);
	if (rc) {
		get_close()(newfd);
		return fail(rc);
	}
	mark(newfd, 1);
	return newfd;
}

/* dup2/dup3 over an emulated descriptor close it first, as the kernel does. */
static void drop_target(int oldfd, int newfd)
{
	if (newfd != oldfd && emulated(newfd))
		tcemu_host_close(host, newfd);
}

EXPORT int dup(int fd)
{
	return emulated(fd) ? adopt(fd, get_dup()(fd)) : get_dup()(fd);
}

EXPORT int dup2(int oldfd, int newfd)
{
	if (oldfd == newfd)
		return get_dup2()(oldfd, newfd);
	drop_target(oldfd, newfd);
	return emulated(oldfd) ? adopt(oldfd, get_dup2()(oldfd, newfd)) : get_dup2()(oldfd, newfd);
}

EXPORT int dup3(int oldfd, int newfd, int flags)
{
	if (oldfd != newfd)
		drop_target(oldfd, newfd);
	return emulated(oldfd) && oldfd != newfd ? adopt(oldfd, get_dup3()(oldfd, newfd, flags))
						 : get_dup3()(oldfd, newfd, flags);
}

/* fcntl through real: a duplicate of an emulated descriptor is emulated too. */
static int fcntl_via(int (*real)(int, int, ...), int fd, int cmd, void *arg)
{
	if ((cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) && emulated(fd))
		return adopt(fd, real(fd, cmd, arg));
	return real(fd, cmd, arg);
}

EXPORT int fcntl(int fd, int cmd, ...)
{
	return fcntl_via(get_fcntl(), fd, cmd, VA_PTR(cmd));
}

/* What programs built with _FILE_OFFSET_BITS=64 call for fcntl (glibc 2.28 and later). */
EXPORT int fcntl64(int fd, int cmd, ...)
{
	return fcntl_via(get_fcntl64(), fd, cmd, VA_PTR(cmd));
}

/* ---- /sys/module/vfio and /sys/module/vfio_pci exist ---- */

/* The fake sysfs path behind /sys/module/vfio*, or NULL when path is something else. */
static const char *module_path(const char *path, char *buf, size_t len)
{
	const char *root = getenv("TCEMU_SYSFS");

	if (!path || strncmp(path, "/sys/module/vfio", 16) != 0)
		return NULL;
	if (strcmp(path + 16, "") != 0 && strcmp(path + 16, "/") != 0 && strcmp(path + 16, "_pci") != 0 &&
	    strcmp(path + 16, "_pci/") != 0)
		return NULL;
	if (!root || !*root)
		return "/"; /* no fake tree: answer as a directory that exists */
	snprintf(buf, len, "%s/module/vfio%s", root, path[16] == '_' ? "_pci" : "");
	return buf;
}

#define STAT_WRAPPER(name, stype)                                                                  \
	EXPORT int name(const char *path, struct stype *st)                                        \
	{                                                                                          \
		char buf[4096];                                                                    \
		const char *p = module_path(path, buf, sizeof(buf));                               \
		return get_##name()(p ? p : path, st);                                             \
	}

STAT_WRAPPER(stat, stat)
STAT_WRAPPER(stat64, stat64)
STAT_WRAPPER(lstat, stat)
STAT_WRAPPER(lstat64, stat64)

EXPORT int fstatat(int dirfd, const char *path, struct stat *st, int flags)
{
	char buf[4096];
	const char *p = module_path(path, buf, sizeof(buf));
	return get_fstatat()(dirfd, p ? p : path, st, flags);
}

EXPORT int fstatat64(int dirfd, const char *path, struct stat64 *st, int flags)
{
	char buf[4096];
	const char *p = module_path(path, buf, sizeof(buf));
	return get_fstatat64()(dirfd, p ? p : path, st, flags);
}

/* The old stat ABI (a version argument first), for programs built against older glibc. */
#define XSTAT_WRAPPER(name, stype)                                                                 \
	EXPORT int name(int ver, const char *path, struct stype *st)                               \
	{                                                                                          \
		char buf[4096];                                                                    \
		const char *p = module_path(path, buf, sizeof(buf));                               \
		return get_##name()(ver, p ? p : path, st);                                        \
	}

XSTAT_WRAPPER(__xstat, stat)
XSTAT_WRAPPER(__xstat64, stat64)
XSTAT_WRAPPER(__lxstat, stat)
XSTAT_WRAPPER(__lxstat64, stat64)

EXPORT int access(const char *path, int mode)
{
	char buf[4096];
	const char *p = module_path(path, buf, sizeof(buf));
	return get_access()(p ? p : path, mode);
}
