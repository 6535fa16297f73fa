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
#include <alloca.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <tcemu/host.h>
#include <tcemu/maps.h>
#include <tcemu/signals.h>

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
EXPORT int __fxstat(int ver, int fd, struct stat *st);
EXPORT int __fxstat64(int ver, int fd, struct stat64 *st);
EXPORT int __fxstatat(int ver, int dirfd, const char *path, struct stat *st, int flags);
EXPORT int __fxstatat64(int ver, int dirfd, const char *path, struct stat64 *st, int flags);
/* The fortified (_FORTIFY_SOURCE) versions, which glibc declares only in fortified builds. */
EXPORT ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen);
EXPORT ssize_t __pread_chk(int fd, void *buf, size_t len, off_t off, size_t buflen);
EXPORT ssize_t __pread64_chk(int fd, void *buf, size_t len, off64_t off, size_t buflen);
EXPORT ssize_t __readlink_chk(const char *path, char *buf, size_t len, size_t buflen);
EXPORT ssize_t __readlinkat_chk(int dirfd, const char *path, char *buf, size_t len, size_t buflen);
EXPORT char *__realpath_chk(const char *path, char *resolved, size_t resolvedlen);
extern void __chk_fail(void) __attribute__((noreturn));
EXPORT int __sigaction(int sig, const struct sigaction *act, struct sigaction *old);
EXPORT __sighandler_t bsd_signal(int sig, __sighandler_t handler);
EXPORT __sighandler_t __sysv_signal(int sig, __sighandler_t handler);

/* struct stat and struct stat64 are one layout here: one filler serves both. */
_Static_assert(sizeof(struct stat) == sizeof(struct stat64), "stat and stat64 differ");

#define MAX_FD (1 << 20)

static struct tcemu_host *host;
static pid_t creator;
static bool used; /* atomic: this process made an emulated descriptor (see "the summary") */
/*
 * Which descriptors are emulated, read without a lock on every read(), write(), close()... of the
 * program: set when a backing descriptor is made or adopted, cleared when the host releases it.
 * (Untouched pages of this array cost nothing.)
 */
static uint8_t emu_fd[MAX_FD];
/* The group number + 1 of a group descriptor (what fstat reports), 0 for the others. */
static uint32_t emu_group[MAX_FD];
/* The highest descriptor ever emulated: close_range and closefrom look no further. */
static int emu_top = -1;
static struct timespec started; /* the times stat reports for /dev/vfio nodes */

static void mark(int fd, uint8_t on)
{
	if (fd < 0 || fd >= MAX_FD)
		return;
	if (on) {
		int top = __atomic_load_n(&emu_top, __ATOMIC_RELAXED);
		while (fd > top && !__atomic_compare_exchange_n(&emu_top, &top, fd, false, __ATOMIC_RELAXED,
							       __ATOMIC_RELAXED))
			;
	} else {
		__atomic_store_n(&emu_group[fd], 0, __ATOMIC_RELAXED);
	}
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
REAL(int, munmap, void *, size_t)
REAL(void *, mremap, void *, size_t, size_t, int, ...)
REAL(int, mprotect, void *, size_t, int)
REAL(int, pkey_mprotect, void *, size_t, int, int)
REAL(void *, shmat, int, const void *, int)
REAL(int, shmdt, const void *)
REAL(long, syscall, long, ...)
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
REAL(int, faccessat, int, const char *, int, int)
REAL(ssize_t, __read_chk, int, void *, size_t, size_t)
REAL(ssize_t, __pread_chk, int, void *, size_t, off_t, size_t)
REAL(ssize_t, __pread64_chk, int, void *, size_t, off64_t, size_t)
REAL(ssize_t, readv, int, const struct iovec *, int)
REAL(ssize_t, writev, int, const struct iovec *, int)
REAL(ssize_t, preadv, int, const struct iovec *, int, off_t)
REAL(ssize_t, preadv64, int, const struct iovec *, int, off64_t)
REAL(ssize_t, pwritev, int, const struct iovec *, int, off_t)
REAL(ssize_t, pwritev64, int, const struct iovec *, int, off64_t)
REAL(ssize_t, preadv2, int, const struct iovec *, int, off_t, int)
REAL(ssize_t, preadv64v2, int, const struct iovec *, int, off64_t, int)
REAL(ssize_t, pwritev2, int, const struct iovec *, int, off_t, int)
REAL(ssize_t, pwritev64v2, int, const struct iovec *, int, off64_t, int)
REAL(int, close_range, unsigned, unsigned, int)
REAL(void, closefrom, int)
REAL(int, fstat, int, struct stat *)
REAL(int, fstat64, int, struct stat64 *)
REAL(int, __fxstat, int, int, struct stat *)
REAL(int, __fxstat64, int, int, struct stat64 *)
REAL(int, __fxstatat, int, int, const char *, struct stat *, int)
REAL(int, __fxstatat64, int, int, const char *, struct stat64 *, int)
REAL(int, statx, int, const char *, int, unsigned, struct statx *)
REAL(ssize_t, readlink, const char *, char *, size_t)
REAL(ssize_t, readlinkat, int, const char *, char *, size_t)
REAL(char *, realpath, const char *, char *)
REAL(char *, __realpath_chk, const char *, char *, size_t)
REAL(int, fsync, int)
REAL(int, fdatasync, int)
REAL(int, ftruncate, int, off_t)
REAL(int, ftruncate64, int, off64_t)
REAL(int, fallocate, int, int, off_t, off_t)
REAL(int, fallocate64, int, int, off64_t, off64_t)
REAL(ssize_t, copy_file_range, int, off64_t *, int, off64_t *, size_t, unsigned)
REAL(int, execve, const char *, char *const *, char *const *)
REAL(int, execv, const char *, char *const *)
REAL(int, execvp, const char *, char *const *)
REAL(int, execvpe, const char *, char *const *, char *const *)
REAL(int, fexecve, int, char *const *, char *const *)
REAL(int, execveat, int, const char *, char *const *, char *const *, int)
REAL(int, sigaction, int, const struct sigaction *, struct sigaction *)
REAL(int, pthread_sigmask, int, const sigset_t *, sigset_t *)
REAL(__sighandler_t, signal, int, __sighandler_t)
REAL(__sighandler_t, bsd_signal, int, __sighandler_t)
REAL(__sighandler_t, sysv_signal, int, __sighandler_t)
REAL(__sighandler_t, __sysv_signal, int, __sighandler_t)

static void signals_init(void);

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
	__atomic_store_n(&used, true, __ATOMIC_RELAXED);
	return fd;
}

static void release_fd(void *opaque, int fd)
{
	(void)opaque;
	mark(fd, 0);
	get_close()(fd);
}

/*
 * ---- the summary (docs/exec.md "The summary") ----
 *
 * Written to $TCEMU_REPORT only by a process that used VFIO (made an emulated descriptor), once
 * per program image, appended with a header that says how the process ended: at exit (the
 * destructor), before an exec (the process's part; the new program appends its own), or from a
 * handler of a fatal signal (async-signal-safe: the buffer is allocated in advance, the summary
 * is tcemu_host_summary_signal, the file is written with open/write/close resolved at load; then
 * the signal is raised again with its default action). A wrapper (sh, timeout) that never touched
 * /dev/vfio writes nothing, so it cannot overwrite the program's summary with an empty one.
 */
static char report_path[PATH_MAX]; /* $TCEMU_REPORT, copied at load: a signal handler reads it */
static char prog_name[64];
static int reported;     /* atomic: this image's summary was written */
static bool exec_failed; /* the part was written before an exec that failed */
static char sigbuf[1 << 17]; /* the summary a signal handler writes */

static const struct {
	int sig;
	const char *name;
} fatal_signals[] = {
	{ SIGSEGV, "SIGSEGV" }, { SIGBUS, "SIGBUS" }, { SIGFPE, "SIGFPE" }, { SIGILL, "SIGILL" },
	{ SIGABRT, "SIGABRT" }, { SIGTERM, "SIGTERM" }, { SIGINT, "SIGINT" }, { SIGQUIT, "SIGQUIT" },
	{ SIGHUP, "SIGHUP" },
};

/* Appends s to buf[len] at *n (async-signal-safe). */
static void put(char *buf, size_t len, size_t *n, const char *s)
{
	size_t l = strlen(s);

	if (*n < len) {
		memcpy(buf + *n, s, l < len - *n ? l : len - *n);
		*n += l < len - *n ? l : len - *n;
	}
}

static void put_num(char *buf, size_t len, size_t *n, unsigned long v)
{
	char tmp[24];
	size_t i = sizeof(tmp) - 1;

	tmp[i] = '\0';
	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	put(buf, len, n, tmp + i);
}

/* "process PID (NAME) HOW[ DETAIL][ (SIGNAME)]:\n" into buf (async-signal-safe). */
static size_t report_header(char *buf, size_t len, const char *how, const char *detail, const char *signame)
{
	size_t n = 0;

	put(buf, len, &n, "process ");
	put_num(buf, len, &n, (unsigned long)getpid());
	put(buf, len, &n, " (");
	put(buf, len, &n, prog_name);
	put(buf, len, &n, ") ");
	put(buf, len, &n, how);
	if (detail) {
		put(buf, len, &n, " ");
		put(buf, len, &n, detail);
	}
	if (signame) {
		put(buf, len, &n, " (");
		put(buf, len, &n, signame);
		put(buf, len, &n, ")");
	}
	put(buf, len, &n, ":\n");
	return n;
}

/* Appends len bytes to the report in one write where the kernel allows (async-signal-safe). */
static void report_append(const char *buf, size_t len)
{
	int fd = get_open()(report_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);

	if (fd < 0)
		return;
	while (len) {
		ssize_t w = get_write()(fd, buf, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		buf += w;
		len -= (size_t)w;
	}
	get_close()(fd);
}

/* Writes this process's part once (not async-signal-safe: at exit and before an exec). */
static void report_write(const char *how, const char *detail, const char *signame)
{
	size_t head, need, len;
	char *buf;

	if (!report_path[0] || __atomic_exchange_n(&reported, 1, __ATOMIC_ACQ_REL))
		return;
	len = 4096 + (detail ? strlen(detail) : 0);
	need = tcemu_host_summary(host, NULL, 0) + 1;
	buf = malloc(len + need);
	if (!buf)
		return;
	head = report_header(buf, len, how, detail, signame);
	need = tcemu_host_summary(host, buf + head, need);
	report_append(buf, head + need);
	free(buf);
}

static void on_fatal_signal(int sig)
{
	int saved = errno;

	if (host && __atomic_load_n(&used, __ATOMIC_RELAXED) && getpid() == creator &&
	    !__atomic_exchange_n(&reported, 1, __ATOMIC_ACQ_REL)) {
		const char *name = "?";
		char num[16];
		size_t n = 0, head;

		for (size_t i = 0; i < sizeof(fatal_signals) / sizeof(fatal_signals[0]); i++)
			if (fatal_signals[i].sig == sig)
				name = fatal_signals[i].name;
		put_num(num, sizeof(num) - 1, &n, (unsigned long)sig);
		num[n] = '\0';
		head = report_header(sigbuf, sizeof(sigbuf), "was killed by signal", num, name);
		n = tcemu_host_summary_signal(host, sigbuf + head, sizeof(sigbuf) - head);
		if (n >= sizeof(sigbuf) - head) /* cut: end with a newline */
			n = sizeof(sigbuf) - head - 1, sigbuf[head + n - 1] = '\n';
		report_append(sigbuf, head + n);
	}
	/* The handler was reset to the default (SA_RESETHAND): the signal ends the process as it would have. */
	raise(sig);
	errno = saved;
}

/* Catches the fatal signals the program has not set itself (it can still set them afterwards). */
static void report_prepare(void)
{
	const char *report = getenv("TCEMU_REPORT");
	const char *name = program_invocation_short_name;
	struct sigaction sa = { .sa_handler = on_fatal_signal, .sa_flags = SA_RESETHAND | SA_RESTART };

	if (!report || !*report || strlen(report) >= sizeof(report_path))
		return;
	snprintf(report_path, sizeof(report_path), "%s", report);
	snprintf(prog_name, sizeof(prog_name), "%s", name && *name ? name : "?");
	get_open(), get_write(), get_close(); /* resolved now: dlsym is no call for a signal handler */
	for (size_t i = 0; i < sizeof(fatal_signals) / sizeof(fatal_signals[0]); i++) {
		struct sigaction old;

		if (sigaction(fatal_signals[i].sig, NULL, &old) == 0 && !(old.sa_flags & SA_SIGINFO) &&
		    old.sa_handler == SIG_DFL)
			sigaction(fatal_signals[i].sig, &sa, NULL);
	}
}

/* Before this process becomes another program: its part of the summary, which the exec would lose. */
static void before_exec(const char *what)
{
	if (!host || !__atomic_load_n(&used, __ATOMIC_RELAXED) || getpid() != creator)
		return;
	report_write("exec'd", what ? what : "(a descriptor)", NULL);
	/* the part was written; the program after the exec appends its own */
}

/* An exec that came back: this image keeps running, its summary at exit includes the part above. */
static int after_failed_exec(int rc)
{
	int e = errno;

	if (__atomic_load_n(&reported, __ATOMIC_RELAXED) && getpid() == creator && __atomic_load_n(&used, __ATOMIC_RELAXED)) {
		exec_failed = true;
		__atomic_store_n(&reported, 0, __ATOMIC_RELEASE);
	}
	errno = e;
	return rc;
}

__attribute__((constructor)) static void shim_init(void)
{
	struct tcemu_host_opts o = { 0 };
	const char *topo = getenv("TCEMU_TOPOLOGY"), *lvl = getenv("TCEMU_LOG"), *trace = getenv("TCEMU_TRACE");
	const char *ml = getenv("TCEMU_MEMLOCK");
	char err[512] = "";
	int rc;

	signals_init();
	creator = getpid();
	clock_gettime(CLOCK_REALTIME, &started);
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
		return;
	}
	report_prepare();
}

__attribute__((destructor)) static void shim_fini(void)
{
	if (!host || getpid() != creator || !__atomic_load_n(&used, __ATOMIC_RELAXED))
		return; /* a wrapper or a forked child writes nothing */
	tcemu_host_close_all(host);
	report_write(exec_failed ? "exited (after a failed exec: this includes the part written before it)" : "exited",
		     NULL, NULL);
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

/* ---- the /dev/vfio nodes, as stat, access, readlink and realpath see them ---- */

enum node { NODE_DIR = 1, NODE_CONTAINER, NODE_GROUP, NODE_DEVICE };

#define VFIO_GROUP_MAJOR 242u /* dynamic on Linux (alloc_chrdev_region); a usual value */

/*
 * The node an owned path names ("/dev/vfio", "/dev/vfio/vfio", "/dev/vfio/N" for an existing
 * group N, as the kernel's devtmpfs spells them) and the group number; -ENOENT or -ENOTDIR.
 */
static int path_node(const char *path, uint32_t *group)
{
	const char *p = path + 9; /* past "/dev/vfio" */
	unsigned long n = 0;
	size_t len;
	int node;

	while (*p == '/')
		p++;
	if (!*p)
		return NODE_DIR;
	len = strcspn(p, "/");
	if (len == 4 && strncmp(p, "vfio", 4) == 0) {
		node = NODE_CONTAINER;
	} else {
		if (len == 0 || len > 10 || (p[0] == '0' && len > 1) || strspn(p, "0123456789") < len)
			return -ENOENT;
		n = strtoul(p, NULL, 10);
		if (!host || n > UINT32_MAX || !tcemu_platform_pe_by_group(tcemu_host_platform(host), (uint32_t)n))
			return -ENOENT;
		node = NODE_GROUP;
	}
	*group = (uint32_t)n;
	return p[len] ? -ENOTDIR : node; /* "/dev/vfio/0/": not a directory */
}

/* What the kernel's stat reports: devtmpfs character devices, and one anonymous inode for devices. */
static void node_stat(int node, uint32_t group, struct stat64 *st)
{
	static const struct {
		mode_t mode;
		unsigned major, minor;
	} nodes[] = {
		[NODE_DIR] = { S_IFDIR | 0755, 0, 0 },
		[NODE_CONTAINER] = { S_IFCHR | 0666, 10, 196 }, /* the misc device VFIO_MINOR */
		[NODE_GROUP] = { S_IFCHR | 0600, VFIO_GROUP_MAJOR, 0 },
		[NODE_DEVICE] = { 0600, 0, 0 },                 /* anon_inode: no file type bits */
	};

	memset(st, 0, sizeof(*st));
	st->st_dev = node == NODE_DEVICE ? makedev(0, 14) : makedev(0, 5);
	st->st_ino = node == NODE_GROUP ? 16 + (ino64_t)group : (ino64_t)node;
	st->st_mode = nodes[node].mode;
	st->st_nlink = node == NODE_DIR ? 2 : 1;
	st->st_rdev = makedev(nodes[node].major, node == NODE_GROUP ? group : nodes[node].minor);
	st->st_blksize = 4096;
	st->st_atim = st->st_mtim = st->st_ctim = started;
}

/*
 * The stat of what (dirfd, path, flags) names when it is emulated: 0 and *st filled, a negative
 * errno, or 1 when it is not emulated (the caller asks libc).
 */
static int emu_stat(int dirfd, const char *path, int flags, struct stat64 *st)
{
	uint32_t group = 0;
	int node;

	if (path && !*path && (flags & AT_EMPTY_PATH) && emulated(dirfd)) {
		enum tcemu_fd_kind kind = tcemu_host_fd_kind(host, dirfd);

		group = __atomic_load_n(&emu_group[dirfd], __ATOMIC_RELAXED);
		node = kind == TCEMU_FD_CONTAINER ? NODE_CONTAINER : kind == TCEMU_FD_DEVICE ? NODE_DEVICE : NODE_GROUP;
		node_stat(node, group ? group - 1 : 0, st);
		return 0;
	}
	if (!owned_path(path))
		return 1;
	node = path_node(path, &group);
	if (node < 0)
		return node;
	node_stat(node, group, st);
	return 0;
}

static int emu_open(const char *path, int flags)
{
	uint32_t group;
	int fd, rc;

	if (!host)
		return fail(-ENOENT);
	open_cloexec = (flags & O_CLOEXEC) != 0;
	rc = tcemu_host_open(host, path, flags, &fd);
	open_cloexec = -1;
	if (rc)
		return fail(rc);
	if (fd >= 0 && fd < MAX_FD && path_node(path, &group) == NODE_GROUP)
		__atomic_store_n(&emu_group[fd], group + 1, __ATOMIC_RELAXED);
	return fd;
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

/*
 * ---- SIGSEGV and SIGBUS: the library's handler stays first (tcemu/signals.h) ----
 *
 * The checked argument copies fault on a bad pointer and a handler of the library turns that
 * into EFAULT; every other SIGSEGV/SIGBUS goes to the program's own disposition. So the program's
 * sigaction and signal for these two signals record its handler in the library instead of
 * replacing the library's (sigaction(SIGSEGV, NULL, &old) reports the program's own back), and
 * its sigprocmask and pthread_sigmask never block them for real (a fault on a blocked signal
 * kills the process): the library treats them as blocked for that thread. Other signals go to
 * libc untouched.
 */
static void signals_init(void)
{
	static bool done; /* idempotent: another library's constructor may come first */

	if (!__atomic_load_n(&done, __ATOMIC_ACQUIRE)) {
		tcemu_signals_use(get_sigaction(), get_pthread_sigmask());
		__atomic_store_n(&done, true, __ATOMIC_RELEASE);
	}
}

static bool caught(int sig)
{
	return sig == SIGSEGV || sig == SIGBUS;
}

EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	int rc;

	if (!caught(sig))
		return get_sigaction()(sig, act, old);
	signals_init();
	rc = tcemu_sigaction(sig, act, old);
	return rc ? fail(rc) : 0;
}

EXPORT int __sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	return sigaction(sig, act, old);
}

/* signal() as glibc defines it (BSD: SA_RESTART, the signal blocked in its handler), or System V's. */
static __sighandler_t set_handler(int sig, __sighandler_t handler, bool sysv)
{
	struct sigaction act, old;

	if (handler == SIG_ERR) {
		errno = EINVAL;
		return SIG_ERR;
	}
	memset(&act, 0, sizeof(act));
	act.sa_handler = handler;
	sigemptyset(&act.sa_mask);
	if (sysv) {
		act.sa_flags = SA_RESETHAND | SA_NODEFER;
	} else {
		sigaddset(&act.sa_mask, sig);
		act.sa_flags = SA_RESTART;
	}
	return sigaction(sig, &act, &old) == 0 ? old.sa_handler : SIG_ERR;
}

#define SIGNAL_FN(name, sysv)                                                                      \
	EXPORT __sighandler_t name(int sig, __sighandler_t handler)                                \
	{                                                                                          \
		return caught(sig) ? set_handler(sig, handler, sysv) : get_##name()(sig, handler); \
	}

SIGNAL_FN(signal, false)
SIGNAL_FN(bsd_signal, false)
SIGNAL_FN(sysv_signal, true)
SIGNAL_FN(__sysv_signal, true)

EXPORT int pthread_sigmask(int how, const sigset_t *set, sigset_t *old)
{
	signals_init();
	return -tcemu_sigmask(how, set, old);
}

EXPORT int sigprocmask(int how, const sigset_t *set, sigset_t *old)
{
	int rc;

	signals_init();
	rc = tcemu_sigmask(how, set, old);
	return rc ? fail(rc) : 0;
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

/* ---- close_range, closefrom: the emulated files in the range close first ---- */

static void close_emulated(unsigned first, unsigned last)
{
	int top = __atomic_load_n(&emu_top, __ATOMIC_RELAXED);

	for (unsigned fd = first; fd <= last && (int)fd <= top && fd < MAX_FD; fd++)
		if (emulated((int)fd))
			tcemu_host_close(host, (int)fd);
}

/*
 * CLOSE_RANGE_CLOEXEC only marks the backing descriptors; bad arguments are left to the kernel
 * (EINVAL, nothing closed). CLOSE_RANGE_UNSHARE closes them as without it (the emulated files
 * belong to the process, not to one descriptor table).
 */
EXPORT int close_range(unsigned first, unsigned last, int flags)
{
	if (first <= last && !(flags & ~(CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC)) && !(flags & CLOSE_RANGE_CLOEXEC))
		close_emulated(first, last);
	return get_close_range()(first, last, flags);
}

EXPORT void closefrom(int lowfd)
{
	close_emulated(lowfd < 0 ? 0 : (unsigned)lowfd, ~0u);
	get_closefrom()(lowfd);
}

/* ---- reads and writes: device regions at index << 40 ---- */

#define MAX_RW_COUNT (INT_MAX & ~4095) /* the most one read or write moves, as in the kernel */
#define AT_FILE_POS (-1)               /* off: at the descriptor's offset (kept by the backing memfd) */
/* An offset the program gave: a negative one is EINVAL, never the file offset. */
#define GIVEN(off) ((off) < 0 ? INT64_MIN : (off64_t)(off))

/*
 * Every read and write of an emulated descriptor: the vector in order, at off or at the file
 * offset, as the kernel loops over a file without read_iter: it stops at the first short transfer,
 * and an error after some bytes returns the bytes.
 */
static ssize_t emu_rw(int fd, const struct iovec *iov, int cnt, off64_t off, bool write)
{
	off64_t at = off == AT_FILE_POS ? lseek64(fd, 0, SEEK_CUR) : off;
	size_t done = 0;

	if (cnt < 0 || cnt > IOV_MAX)
		return fail(-EINVAL);
	for (int i = 0; i < cnt; i++)
		if (iov[i].iov_len > SSIZE_MAX)
			return fail(-EINVAL);
	if (at < 0)
		return off == AT_FILE_POS ? -1 : fail(-EINVAL);
	for (int i = 0; i < cnt && done < MAX_RW_COUNT; i++) {
		size_t len = iov[i].iov_len < MAX_RW_COUNT - done ? iov[i].iov_len : MAX_RW_COUNT - done;
		uint64_t pos = (uint64_t)at + done;
		ssize_t n;

		if (!len)
			continue;
		n = write ? tcemu_host_pwrite(host, fd, iov[i].iov_base, len, pos)
			  : tcemu_host_pread(host, fd, iov[i].iov_base, len, pos);
		if (n < 0) {
			if (done)
				break;
			return fail(n);
		}
		done += (size_t)n;
		if ((size_t)n < len)
			break;
	}
	if (off == AT_FILE_POS && done)
		lseek64(fd, at + (off64_t)done, SEEK_SET);
	return (ssize_t)done;
}

/* One buffer: read, write, pread, pwrite and their fortified versions. */
static ssize_t emu_rw1(int fd, void *buf, size_t len, off64_t off, bool write)
{
	struct iovec v = { .iov_base = buf, .iov_len = len };

	return emu_rw(fd, &v, 1, off, write);
}

EXPORT ssize_t pread(int fd, void *buf, size_t len, off_t off)
{
	return emulated(fd) ? emu_rw1(fd, buf, len, GIVEN(off), false) : get_pread()(fd, buf, len, off);
}

EXPORT ssize_t pread64(int fd, void *buf, size_t len, off64_t off)
{
	return emulated(fd) ? emu_rw1(fd, buf, len, GIVEN(off), false) : get_pread64()(fd, buf, len, off);
}

EXPORT ssize_t pwrite(int fd, const void *buf, size_t len, off_t off)
{
	return emulated(fd) ? emu_rw1(fd, (void *)buf, len, GIVEN(off), true)
			    : get_pwrite()(fd, buf, len, off);
}

EXPORT ssize_t pwrite64(int fd, const void *buf, size_t len, off64_t off)
{
	return emulated(fd) ? emu_rw1(fd, (void *)buf, len, GIVEN(off), true)
			    : get_pwrite64()(fd, buf, len, off);
}

EXPORT ssize_t read(int fd, void *buf, size_t len)
{
	return emulated(fd) ? emu_rw1(fd, buf, len, AT_FILE_POS, false) : get_read()(fd, buf, len);
}

EXPORT ssize_t write(int fd, const void *buf, size_t len)
{
	return emulated(fd) ? emu_rw1(fd, (void *)buf, len, AT_FILE_POS, true) : get_write()(fd, buf, len);
}

/*
 * The fortified versions (glibc's, with _FORTIFY_SOURCE, when the compiler knows the buffer's
 * size): a length beyond the buffer aborts the program, as glibc does; then as read or pread.
 */
static void check_len(size_t len, size_t buflen)
{
	if (len > buflen)
		__chk_fail();
}

EXPORT ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen)
{
	check_len(len, buflen);
	return emulated(fd) ? emu_rw1(fd, buf, len, AT_FILE_POS, false) : get___read_chk()(fd, buf, len, buflen);
}

EXPORT ssize_t __pread_chk(int fd, void *buf, size_t len, off_t off, size_t buflen)
{
	check_len(len, buflen);
	return emulated(fd) ? emu_rw1(fd, buf, len, GIVEN(off), false)
			    : get___pread_chk()(fd, buf, len, off, buflen);
}

EXPORT ssize_t __pread64_chk(int fd, void *buf, size_t len, off64_t off, size_t buflen)
{
	check_len(len, buflen);
	return emulated(fd) ? emu_rw1(fd, buf, len, GIVEN(off), false)
			    : get___pread64_chk()(fd, buf, len, off, buflen);
}

/* ---- vectored reads and writes ---- */

EXPORT ssize_t readv(int fd, const struct iovec *iov, int cnt)
{
	return emulated(fd) ? emu_rw(fd, iov, cnt, AT_FILE_POS, false) : get_readv()(fd, iov, cnt);
}

EXPORT ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
	return emulated(fd) ? emu_rw(fd, iov, cnt, AT_FILE_POS, true) : get_writev()(fd, iov, cnt);
}

EXPORT ssize_t preadv(int fd, const struct iovec *iov, int cnt, off_t off)
{
	return emulated(fd) ? emu_rw(fd, iov, cnt, GIVEN(off), false) : get_preadv()(fd, iov, cnt, off);
}

EXPORT ssize_t preadv64(int fd, const struct iovec *iov, int cnt, off64_t off)
{
	return emulated(fd) ? emu_rw(fd, iov, cnt, GIVEN(off), false) : get_preadv64()(fd, iov, cnt, off);
}

EXPORT ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
	return emulated(fd) ? emu_rw(fd, iov, cnt, GIVEN(off), true) : get_pwritev()(fd, iov, cnt, off);
}

EXPORT ssize_t pwritev64(int fd, const struct iovec *iov, int cnt, off64_t off)
{
	return emulated(fd) ? emu_rw(fd, iov, cnt, GIVEN(off), true) : get_pwritev64()(fd, iov, cnt, off);
}

/*
 * The v2 calls: offset -1 means the file offset. A VFIO file has no read_iter, and for such a file
 * the kernel refuses every flag but RWF_HIPRI with EOPNOTSUPP.
 */
static ssize_t emu_rw2(int fd, const struct iovec *iov, int cnt, off64_t off, int flags, bool write)
{
	if (flags & ~RWF_HIPRI)
		return fail(-EOPNOTSUPP);
	return emu_rw(fd, iov, cnt, off == -1 ? AT_FILE_POS : GIVEN(off), write);
}

EXPORT ssize_t preadv2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
	return emulated(fd) ? emu_rw2(fd, iov, cnt, off, flags, false) : get_preadv2()(fd, iov, cnt, off, flags);
}

EXPORT ssize_t preadv64v2(int fd, const struct iovec *iov, int cnt, off64_t off, int flags)
{
	return emulated(fd) ? emu_rw2(fd, iov, cnt, off, flags, false) : get_preadv64v2()(fd, iov, cnt, off, flags);
}

EXPORT ssize_t pwritev2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
	return emulated(fd) ? emu_rw2(fd, iov, cnt, off, flags, true) : get_pwritev2()(fd, iov, cnt, off, flags);
}

EXPORT ssize_t pwritev64v2(int fd, const struct iovec *iov, int cnt, off64_t off, int flags)
{
	return emulated(fd) ? emu_rw2(fd, iov, cnt, off, flags, true) : get_pwritev64v2()(fd, iov, cnt, off, flags);
}

/* ---- calls a VFIO file does not support: refused as the kernel refuses them ---- */

#define REFUSED(ret, name, err, params, ...)                                                       \
	EXPORT ret name params                                                                     \
	{                                                                                          \
		return emulated(fd) ? fail(-(err)) : get_##name()(__VA_ARGS__);                    \
	}

REFUSED(int, fsync, EINVAL, (int fd), fd)                 /* no fsync operation */
REFUSED(int, fdatasync, EINVAL, (int fd), fd)
REFUSED(int, ftruncate, EINVAL, (int fd, off_t len), fd, len) /* not a regular file */
REFUSED(int, ftruncate64, EINVAL, (int fd, off64_t len), fd, len)
REFUSED(int, fallocate, ENODEV, (int fd, int mode, off_t off, off_t len), fd, mode, off, len)
REFUSED(int, fallocate64, ENODEV, (int fd, int mode, off64_t off, off64_t len), fd, mode, off, len)

/* Both ends must be regular files. */
EXPORT ssize_t copy_file_range(int in, off64_t *in_off, int out, off64_t *out_off, size_t len, unsigned flags)
{
	if (emulated(in) || emulated(out))
		return fail(-EINVAL);
	return get_copy_file_range()(in, in_off, out, out_off, len, flags);
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

/*
 * Every change of the program's mappings is reported to the library (tcemu/maps.h), which then
 * answers REGISTER_MEMORY's "is it mapped, writable, with which page size" for memory the program
 * mapped itself from what the kernel said the first time, without a system call. The C library's
 * own mappings (malloc, thread stacks) are made and unmade behind these functions, never reported
 * created, and so never remembered. errno is the call's.
 */
static void *mapped(void *ret, void *addr, size_t len, int flags)
{
	const int e = errno;

	if (ret != MAP_FAILED)
		tcemu_maps_created(ret, len); /* drops what it replaced */
	else if (flags & MAP_FIXED)
		tcemu_maps_changed(addr, len); /* a failed MAP_FIXED may have unmapped the range */
	errno = e;
	return ret;
}

static int changed(int rc, const void *addr, size_t len)
{
	const int e = errno;

	tcemu_maps_changed((void *)addr, len);
	errno = e;
	return rc;
}

EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	if (!(flags & MAP_ANONYMOUS) && emulated(fd))
		return mapped(emu_mmap(addr, len, prot, flags, fd, (uint64_t)off), addr, len, flags);
	return mapped(get_mmap()(addr, len, prot, flags, fd, off), addr, len, flags);
}

EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off64_t off)
{
	if (!(flags & MAP_ANONYMOUS) && emulated(fd))
		return mapped(emu_mmap(addr, len, prot, flags, fd, (uint64_t)off), addr, len, flags);
	return mapped(get_mmap64()(addr, len, prot, flags, fd, off), addr, len, flags);
}

EXPORT int munmap(void *addr, size_t len)
{
	return changed(get_munmap()(addr, len), addr, len);
}

EXPORT int mprotect(void *addr, size_t len, int prot)
{
	return changed(get_mprotect()(addr, len, prot), addr, len);
}

EXPORT int pkey_mprotect(void *addr, size_t len, int prot, int pkey)
{
	return changed(get_pkey_mprotect()(addr, len, prot, pkey), addr, len);
}

EXPORT void *mremap(void *old, size_t old_len, size_t new_len, int flags, ...)
{
	void *want = NULL, *ret;
	va_list ap;
	int e;

	if (flags & MREMAP_FIXED) {
		va_start(ap, flags);
		want = va_arg(ap, void *);
		va_end(ap);
	}
	ret = get_mremap()(old, old_len, new_len, flags, want);
	e = errno;
	tcemu_maps_changed(old, old_len);
	if (ret != MAP_FAILED)
		tcemu_maps_created(ret, new_len); /* drops what a fixed target replaced */
	else if (flags & MREMAP_FIXED)
		tcemu_maps_changed(want, new_len);
	errno = e;
	return ret;
}

/* Their size is the segment's: anything may have changed. */
EXPORT void *shmat(int id, const void *addr, int flags)
{
	void *ret = get_shmat()(id, addr, flags);

	changed(0, NULL, 0);
	return ret;
}

EXPORT int shmdt(const void *addr)
{
	return changed(get_shmdt()(addr), NULL, 0);
}

/* The same calls made through syscall(2): anything may have changed. */
EXPORT long syscall(long nr, ...)
{
	long a[6], ret;
	va_list ap;

	va_start(ap, nr);
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	ret = get_syscall()(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
	switch (nr) {
	case SYS_mmap:
	case SYS_munmap:
	case SYS_mremap:
	case SYS_mprotect:
	case SYS_pkey_mprotect:
	case SYS_shmat:
	case SYS_shmdt:
	case SYS_remap_file_pages:
		changed(0, NULL, 0);
		break;
	default:
		break;
	}
	return ret;
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
	__atomic_store_n(&emu_group[newfd], __atomic_load_n(&emu_group[oldfd], __ATOMIC_RELAXED), __ATOMIC_RELAXED);
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

/*
 * The stat family: an emulated descriptor or /dev/vfio path answers as the kernel's would
 * (emu_stat); /sys/module/vfio* is looked up in the fake sysfs; the rest goes to libc. One
 * definition per entry point: params, then the real call's arguments (path is p there).
 */
#define STAT_FN(name, dirfd_, flags_, params, ...)                                                 \
	EXPORT int name params                                                                     \
	{                                                                                          \
		char buf[4096];                                                                    \
		const char *p;                                                                     \
		int rc = emu_stat(dirfd_, path, flags_, (struct stat64 *)st);                      \
		if (rc <= 0)                                                                       \
			return rc ? fail(rc) : 0;                                                  \
		p = module_path(path, buf, sizeof(buf));                                           \
		p = p ? p : path;                                                                  \
		return get_##name()(__VA_ARGS__);                                                  \
	}

STAT_FN(stat, AT_FDCWD, 0, (const char *path, struct stat *st), p, st)
STAT_FN(stat64, AT_FDCWD, 0, (const char *path, struct stat64 *st), p, st)
STAT_FN(lstat, AT_FDCWD, 0, (const char *path, struct stat *st), p, st)
STAT_FN(lstat64, AT_FDCWD, 0, (const char *path, struct stat64 *st), p, st)
STAT_FN(fstatat, dirfd, flags, (int dirfd, const char *path, struct stat *st, int flags), dirfd, p, st, flags)
STAT_FN(fstatat64, dirfd, flags, (int dirfd, const char *path, struct stat64 *st, int flags), dirfd, p, st, flags)
/* The old stat ABI (a version argument first), for programs built against glibc before 2.33. */
STAT_FN(__xstat, AT_FDCWD, 0, (int ver, const char *path, struct stat *st), ver, p, st)
STAT_FN(__xstat64, AT_FDCWD, 0, (int ver, const char *path, struct stat64 *st), ver, p, st)
STAT_FN(__lxstat, AT_FDCWD, 0, (int ver, const char *path, struct stat *st), ver, p, st)
STAT_FN(__lxstat64, AT_FDCWD, 0, (int ver, const char *path, struct stat64 *st), ver, p, st)
STAT_FN(__fxstatat, dirfd, flags, (int ver, int dirfd, const char *path, struct stat *st, int flags), ver, dirfd, p,
	st, flags)
STAT_FN(__fxstatat64, dirfd, flags, (int ver, int dirfd, const char *path, struct stat64 *st, int flags), ver,
	dirfd, p, st, flags)

/* fstat: the descriptor as an empty path relative to itself. */
#define FSTAT_FN(name, params, ...)                                                                \
	EXPORT int name params                                                                     \
	{                                                                                          \
		return emu_stat(fd, "", AT_EMPTY_PATH, (struct stat64 *)st) == 0 ? 0 : get_##name()(__VA_ARGS__); \
	}

FSTAT_FN(fstat, (int fd, struct stat *st), fd, st)
FSTAT_FN(fstat64, (int fd, struct stat64 *st), fd, st)
FSTAT_FN(__fxstat, (int ver, int fd, struct stat *st), ver, fd, st)
FSTAT_FN(__fxstat64, (int ver, int fd, struct stat64 *st), ver, fd, st)

static void to_statx(const struct stat64 *st, struct statx *sx)
{
	memset(sx, 0, sizeof(*sx));
	sx->stx_mask = STATX_BASIC_STATS;
	sx->stx_blksize = (uint32_t)st->st_blksize;
	sx->stx_nlink = (uint32_t)st->st_nlink;
	sx->stx_uid = st->st_uid;
	sx->stx_gid = st->st_gid;
	sx->stx_mode = (uint16_t)st->st_mode;
	sx->stx_ino = st->st_ino;
	sx->stx_atime = (struct statx_timestamp){ .tv_sec = st->st_atim.tv_sec, .tv_nsec = (uint32_t)st->st_atim.tv_nsec };
	sx->stx_ctime = sx->stx_mtime = sx->stx_btime = sx->stx_atime;
	sx->stx_rdev_major = major(st->st_rdev);
	sx->stx_rdev_minor = minor(st->st_rdev);
	sx->stx_dev_major = major(st->st_dev);
	sx->stx_dev_minor = minor(st->st_dev);
}

EXPORT int statx(int dirfd, const char *path, int flags, unsigned mask, struct statx *sx)
{
	struct stat64 st;
	char buf[4096];
	const char *p;
	int rc = emu_stat(dirfd, path, flags, &st);

	if (rc == 0)
		to_statx(&st, sx);
	if (rc <= 0)
		return rc ? fail(rc) : 0;
	p = module_path(path, buf, sizeof(buf));
	return get_statx()(dirfd, p ? p : path, flags, mask, sx);
}

/* ---- access: /dev/vfio nodes by their modes, /sys/module/vfio* in the fake sysfs ---- */

/* 0, -EACCES, -ENOENT or -ENOTDIR, or 1 when path is not emulated. */
static int emu_access(const char *path, int mode, bool effective)
{
	struct stat64 st;
	int rc = emu_stat(AT_FDCWD, path, 0, &st);
	unsigned allowed;

	if (rc)
		return rc;
	if ((effective ? geteuid() : getuid()) == 0) /* root: everything but executing a non-executable */
		allowed = S_ISDIR(st.st_mode) || (st.st_mode & 0111) ? 7 : 6;
	else
		allowed = st.st_mode & 7; /* the nodes belong to root */
	return (unsigned)mode & 7 & ~allowed ? -EACCES : 0;
}

EXPORT int access(const char *path, int mode)
{
	char buf[4096];
	const char *p = module_path(path, buf, sizeof(buf));
	int rc = emu_access(path, mode, false);

	if (rc <= 0)
		return rc ? fail(rc) : 0;
	return get_access()(p ? p : path, mode);
}

EXPORT int faccessat(int dirfd, const char *path, int mode, int flags)
{
	char buf[4096];
	const char *p = module_path(path, buf, sizeof(buf));
	int rc = emu_access(path, mode, flags & AT_EACCESS);

	if (rc <= 0)
		return rc ? fail(rc) : 0;
	return get_faccessat()(dirfd, p ? p : path, mode, flags);
}

/* ---- readlink, realpath: the /dev/vfio nodes exist and none is a symbolic link ---- */

/* -EINVAL (not a link) for an emulated node, its errno for another owned path, 1 otherwise. */
static int emu_readlink(const char *path)
{
	uint32_t group;
	int node;

	if (!owned_path(path))
		return 1;
	node = path_node(path, &group);
	return node < 0 ? node : -EINVAL;
}

#define READLINK_FN(name, params, ...)                                                             \
	EXPORT ssize_t name params                                                                 \
	{                                                                                          \
		int rc = emu_readlink(path);                                                       \
		return rc <= 0 ? fail(rc) : get_##name()(__VA_ARGS__);                            \
	}

READLINK_FN(readlink, (const char *path, char *buf, size_t len), path, buf, len)
READLINK_FN(readlinkat, (int dirfd, const char *path, char *buf, size_t len), dirfd, path, buf, len)

EXPORT ssize_t __readlink_chk(const char *path, char *buf, size_t len, size_t buflen)
{
	check_len(len, buflen);
	return readlink(path, buf, len);
}

EXPORT ssize_t __readlinkat_chk(int dirfd, const char *path, char *buf, size_t len, size_t buflen)
{
	check_len(len, buflen);
	return readlinkat(dirfd, path, buf, len);
}

/* An emulated node's canonical name (libc's realpath would not find it), or NULL and errno. */
static char *emu_realpath(const char *path, char *resolved)
{
	uint32_t group;
	int node = path_node(path, &group);
	char name[32];

	if (node < 0) {
		errno = -node;
		return NULL;
	}
	snprintf(name, sizeof(name), node == NODE_GROUP ? "/dev/vfio/%u" : node == NODE_DIR ? "/dev/vfio" : "/dev/vfio/vfio",
		 group);
	return resolved ? strcpy(resolved, name) : strdup(name);
}

EXPORT char *realpath(const char *path, char *resolved)
{
	return owned_path(path) ? emu_realpath(path, resolved) : get_realpath()(path, resolved);
}

/* glibc's: the buffer must hold PATH_MAX bytes. */
EXPORT char *__realpath_chk(const char *path, char *resolved, size_t resolvedlen)
{
	if (resolvedlen < PATH_MAX)
		__chk_fail();
	return owned_path(path) ? emu_realpath(path, resolved) : get___realpath_chk()(path, resolved, resolvedlen);
}

/* ---- exec: the process's part of the summary first (see "the summary" above) ---- */

EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
	before_exec(path);
	return after_failed_exec(get_execve()(path, argv, envp));
}

EXPORT int execv(const char *path, char *const argv[])
{
	before_exec(path);
	return after_failed_exec(get_execv()(path, argv));
}

EXPORT int execvp(const char *file, char *const argv[])
{
	before_exec(file);
	return after_failed_exec(get_execvp()(file, argv));
}

EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
	before_exec(file);
	return after_failed_exec(get_execvpe()(file, argv, envp));
}

EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
	before_exec(NULL);
	return after_failed_exec(get_fexecve()(fd, argv, envp));
}

EXPORT int execveat(int dirfd, const char *path, char *const argv[], char *const envp[], int flags)
{
	if (!get_execveat())
		return fail(-ENOSYS);
	before_exec(path);
	return after_failed_exec(get_execveat()(dirfd, path, argv, envp, flags));
}

/* The list forms: their arguments as a vector, then the vector forms above. */
#define ARGV_FROM_LIST(first, argv, ap, after)                                                     \
	size_t n_ = 1;                                                                             \
	va_start(ap, first);                                                                       \
	while (va_arg(ap, const char *))                                                           \
		n_++;                                                                              \
	va_end(ap);                                                                                \
	const char **argv = alloca((n_ + 1) * sizeof(*argv)); /* no malloc: execle is async-signal-safe */ \
	va_start(ap, first);                                                                       \
	argv[0] = first;                                                                           \
	for (size_t i_ = 1; i_ <= n_; i_++)                                                        \
		argv[i_] = i_ < n_ ? va_arg(ap, const char *) : NULL;                              \
	(void)va_arg(ap, const char *);                                                            \
	after;                                                                                     \
	va_end(ap)

EXPORT int execl(const char *path, const char *arg, ...)
{
	va_list ap;
	ARGV_FROM_LIST(arg, argv, ap, (void)0);
	return execv(path, (char *const *)argv);
}

EXPORT int execlp(const char *file, const char *arg, ...)
{
	va_list ap;
	ARGV_FROM_LIST(arg, argv, ap, (void)0);
	return execvp(file, (char *const *)argv);
}

EXPORT int execle(const char *path, const char *arg, ...)
{
	char *const *envp;
	va_list ap;
	ARGV_FROM_LIST(arg, argv, ap, envp = va_arg(ap, char *const *));
	return execve(path, (char *const *)argv, envp);
}
