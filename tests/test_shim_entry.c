/* SPDX-License-Identifier: MIT */
/*
 * The shim's entry points beyond open/ioctl/pread/mmap, each on an emulated descriptor or path, as
 * Debian's QEMU 7.2 and DPDK 22.11 reach them (shim/README.md lists which program imports which):
 * the fortified reads (__pread64_chk is how QEMU reads config space), the vectored reads and
 * writes, close_range/closefrom, the stat family, access, readlink, realpath, and the calls a VFIO
 * file refuses. Run with LD_PRELOAD=libtcemu-preload.so (meson sets it).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/vfio.h>

#include <tcemu/preload.h>

#include "harness.h"

/* glibc's fortified entry points: declared by its headers only in fortified builds. */
ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen);
ssize_t __pread_chk(int fd, void *buf, size_t len, off_t off, size_t buflen);
ssize_t __pread64_chk(int fd, void *buf, size_t len, off64_t off, size_t buflen);
ssize_t __readlink_chk(const char *path, char *buf, size_t len, size_t buflen);
ssize_t __readlinkat_chk(int dirfd, const char *path, char *buf, size_t len, size_t buflen);
char *__realpath_chk(const char *path, char *resolved, size_t resolvedlen);
int __fxstat64(int ver, int fd, struct stat64 *st);
int __xstat64(int ver, const char *path, struct stat64 *st);
int __fxstat(int ver, int fd, struct stat *st);
int __fxstatat64(int ver, int dirfd, const char *path, struct stat64 *st, int flags);

/*
 * The plain names of the large-file pairs: this file is built with _FILE_OFFSET_BITS=64, which
 * sends preadv to preadv64 and so on; programs built without it call these.
 */
ssize_t plain_pread(int fd, void *buf, size_t len, off_t off) __asm__("pread");
ssize_t plain_preadv(int fd, const struct iovec *iov, int cnt, off_t off) __asm__("preadv");
ssize_t plain_pwritev(int fd, const struct iovec *iov, int cnt, off_t off) __asm__("pwritev");
ssize_t plain_preadv2(int fd, const struct iovec *iov, int cnt, off_t off, int flags) __asm__("preadv2");
ssize_t plain_pwritev2(int fd, const struct iovec *iov, int cnt, off_t off, int flags) __asm__("pwritev2");
int plain_ftruncate(int fd, off_t len) __asm__("ftruncate");
int plain_fallocate(int fd, int mode, off_t off, off_t len) __asm__("fallocate");
int plain_fstat(int fd, struct stat *st) __asm__("fstat");
int plain_stat(const char *path, struct stat *st) __asm__("stat");
int plain_fstatat(int dirfd, const char *path, struct stat *st, int flags) __asm__("fstatat");

#define CFG ((off_t)VFIO_PCI_CONFIG_REGION_INDEX << 40)
#define BAR2 ((off_t)VFIO_PCI_BAR2_REGION_INDEX << 40)

struct vfio {
	int c, g, d;
};

static struct vfio last; /* what the last vfio_open opened */

/* Container, group 3 in it (sPAPR v2), and the group's device 0000:04:00.0 (the default's first plain test device). */
static int vfio_open(struct vfio *v)
{
	/* what a failed test left open would keep the group busy for the next one */
	for (int i = 0; i < 3; i++) {
		int fd = i == 0 ? last.d : i == 1 ? last.g : last.c;

		if (tcemu_host_fd_kind(tcemu_preload_host(), fd) != TCEMU_FD_NONE)
			close(fd);
	}
	*v = (struct vfio){ -1, -1, -1 };
	v->c = open("/dev/vfio/vfio", O_RDWR);
	v->g = open("/dev/vfio/3", O_RDWR);
	last = *v;
	if (v->c < 0 || v->g < 0 || ioctl(v->g, VFIO_GROUP_SET_CONTAINER, &v->c) ||
	    ioctl(v->c, VFIO_SET_IOMMU, VFIO_SPAPR_TCE_v2_IOMMU))
		return -1;
	v->d = ioctl(v->g, VFIO_GROUP_GET_DEVICE_FD, "0000:04:00.0");
	last.d = v->d;
	return v->d < 0 ? -1 : 0;
}

static void vfio_close(struct vfio *v)
{
	close(v->d);
	close(v->g);
	close(v->c);
}

/* A descriptor that is closed: EBADF from the kernel and unknown to the host. */
static bool closed(int fd)
{
	return fcntl(fd, F_GETFD) == -1 && errno == EBADF && ioctl(fd, VFIO_GET_API_VERSION) == -1 &&
	       errno == EBADF && tcemu_host_fd_kind(tcemu_preload_host(), fd) == TCEMU_FD_NONE;
}

TEST(runs_under_the_shim)
{
	CHECK(tcemu_preload_host && tcemu_preload_host());
}

TEST(fortified_reads_see_config_space)
{
	struct vfio v;
	uint8_t want[64], got[64], pin = 0, pin_chk = 0xff;

	CHECK_EQ(vfio_open(&v), 0);
	CHECK_EQ(plain_pread(v.d, want, sizeof(want), CFG), (ssize_t)sizeof(want));
	CHECK_EQ(want[0] | want[1] << 8, 0x1b36); /* the vendor id: real bytes, not the memfd's zeros */
	memset(got, 0, sizeof(got));
	CHECK_EQ(__pread64_chk(v.d, got, sizeof(got), CFG, sizeof(got)), (ssize_t)sizeof(got));
	CHECK(memcmp(got, want, sizeof(want)) == 0);
	memset(got, 0, sizeof(got));
	CHECK_EQ(__pread_chk(v.d, got, 16, CFG + 16, sizeof(got)), 16);
	CHECK(memcmp(got, want + 16, 16) == 0);
	/* QEMU's read of the interrupt pin (0x3d) that aborted realize */
	CHECK_EQ(pread64(v.d, &pin, 1, CFG + 0x3d), 1);
	CHECK_EQ(__pread64_chk(v.d, &pin_chk, 1, CFG + 0x3d, 1), 1);
	CHECK_EQ(pin_chk, pin);
	/* __read_chk at the file offset, which it advances */
	CHECK_EQ(lseek(v.d, CFG + 8, SEEK_SET), CFG + 8);
	memset(got, 0, sizeof(got));
	CHECK_EQ(__read_chk(v.d, got, 8, sizeof(got)), 8);
	CHECK(memcmp(got, want + 8, 8) == 0);
	CHECK_EQ(lseek(v.d, 0, SEEK_CUR), CFG + 16);
	/* errors as pread's: a negative offset, a region that does not exist, a container */
	CHECK_EQ(__pread64_chk(v.d, got, 4, -1, sizeof(got)), -1);
	CHECK_EQ(errno, EINVAL);
	CHECK_EQ(__pread64_chk(v.c, got, 4, 0, sizeof(got)), -1);
	CHECK_EQ(errno, EINVAL);
	vfio_close(&v);
}

TEST(fortified_reads_pass_other_files_through)
{
	char path[] = "/tmp/tcemu-entry-XXXXXX", buf[8] = "";
	int fd = mkstemp(path);

	CHECK(fd >= 0);
	unlink(path);
	CHECK_EQ(write(fd, "0123456789", 10), 10);
	CHECK_EQ(__pread64_chk(fd, buf, 4, 3, sizeof(buf)), 4);
	CHECK(memcmp(buf, "3456", 4) == 0);
	CHECK_EQ(__pread_chk(fd, buf, 2, 8, sizeof(buf)), 2);
	CHECK(memcmp(buf, "89", 2) == 0);
	CHECK_EQ(lseek(fd, 1, SEEK_SET), 1);
	CHECK_EQ(__read_chk(fd, buf, 3, sizeof(buf)), 3);
	CHECK(memcmp(buf, "123", 3) == 0);
	close(fd);
}

/* Child n makes the n-th fortified call with a length beyond its buffer; false past the last. */
static bool overflow_call(int n, int d)
{
	char small[8];

	switch (n) {
	case 0: __pread64_chk(d, small, 16, CFG, sizeof(small)); break;
	case 1: __pread_chk(d, small, 16, CFG, sizeof(small)); break;
	case 2: __read_chk(d, small, 9, sizeof(small)); break;
	case 3: __readlink_chk("/dev/vfio/0", small, 16, sizeof(small)); break;
	case 4: __readlinkat_chk(AT_FDCWD, "/dev/vfio/0", small, 16, sizeof(small)); break;
	case 5: __realpath_chk("/dev/vfio/0", small, sizeof(small)); break;
	default: return false;
	}
	return true;
}

TEST(fortified_overflow_aborts_as_glibc)
{
	struct vfio v;

	CHECK_EQ(vfio_open(&v), 0);
	for (int n = 0;; n++) {
		int status = 0;
		pid_t pid = fork();

		CHECK(pid >= 0);
		if (pid == 0) {
			int null = open("/dev/null", O_WRONLY);

			dup2(null, STDERR_FILENO); /* glibc's "buffer overflow detected" */
			_exit(overflow_call(n, v.d) ? 0 : 100);
		}
		CHECK_EQ(waitpid(pid, &status, 0), pid);
		if (WIFEXITED(status) && WEXITSTATUS(status) == 100)
			break;
		if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT)
			HARNESS_FAIL("fortified call %d with an overflowing length was not stopped (status 0x%x)", n,
				     status);
		CHECK(!harness_failed);
	}
	vfio_close(&v);
}

TEST(vectored_reads_match_pread)
{
	struct vfio v;
	uint8_t want[64], a[2], b[6], c[56];
	struct iovec iov[3] = { { a, sizeof(a) }, { b, sizeof(b) }, { c, sizeof(c) } };
	volatile int negative = -1;

	CHECK_EQ(vfio_open(&v), 0);
	CHECK_EQ(pread(v.d, want, sizeof(want), CFG), (ssize_t)sizeof(want));
#define SAME_AS_WANT(off)                                                                          \
	do {                                                                                       \
		CHECK(memcmp(a, want + (off), 2) == 0);                                            \
		CHECK(memcmp(b, want + (off) + 2, 6) == 0);                                        \
		CHECK(memcmp(c, want + (off) + 8, 56 - (off)) == 0);                               \
		memset(a, 0, 2), memset(b, 0, 6), memset(c, 0, 56);                                \
	} while (0)
	CHECK_EQ(plain_preadv(v.d, iov, 3, CFG), 64);
	SAME_AS_WANT(0);
	CHECK_EQ(preadv64(v.d, iov, 3, CFG), 64);
	SAME_AS_WANT(0);
	CHECK_EQ(plain_preadv2(v.d, iov, 3, CFG, 0), 64);
	SAME_AS_WANT(0);
	CHECK_EQ(preadv64v2(v.d, iov, 3, CFG, RWF_HIPRI), 64);
	SAME_AS_WANT(0);
	/* readv and preadv2(-1) read at the file offset and move it */
	CHECK_EQ(lseek(v.d, CFG, SEEK_SET), CFG);
	CHECK_EQ(readv(v.d, iov, 2), 8);
	CHECK_EQ(preadv2(v.d, iov + 2, 1, -1, 0), 56);
	SAME_AS_WANT(0);
	CHECK_EQ(lseek(v.d, 0, SEEK_CUR), CFG + 64);
	/* config space is 256 bytes: a vector across its end stops short, as the kernel's loop does */
	CHECK_EQ(preadv(v.d, iov, 3, CFG + 256 - 4), 4);
	/* what the kernel refuses */
	CHECK_EQ(preadv(v.d, iov, negative, CFG), -1);
	CHECK_EQ(errno, EINVAL);
	CHECK_EQ(preadv(v.d, iov, 3, -4096), -1);
	CHECK_EQ(errno, EINVAL);
	CHECK_EQ(preadv2(v.d, iov, 3, CFG, RWF_NOWAIT), -1);
	CHECK_EQ(errno, EOPNOTSUPP);
	CHECK_EQ(preadv(v.c, iov, 3, 0), -1); /* a container has no read */
	CHECK_EQ(errno, EINVAL);
#undef SAME_AS_WANT
	vfio_close(&v);
}

TEST(vectored_writes_land_in_the_region)
{
	struct vfio v;
	uint8_t x[3] = { 1, 2, 3 }, y[5] = { 4, 5, 6, 7, 8 }, back[8];
	struct iovec iov[2] = { { x, sizeof(x) }, { y, sizeof(y) } };
	const uint8_t want[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	static const off_t at[] = { 0x100, 0x200, 0x300, 0x400, 0x500 };

	CHECK_EQ(vfio_open(&v), 0);
	CHECK_EQ(plain_pwritev(v.d, iov, 2, BAR2 + at[0]), 8);
	CHECK_EQ(pwritev64(v.d, iov, 2, BAR2 + at[1]), 8);
	CHECK_EQ(plain_pwritev2(v.d, iov, 2, BAR2 + at[2], 0), 8);
	CHECK_EQ(pwritev64v2(v.d, iov, 2, BAR2 + at[3], 0), 8);
	CHECK_EQ(lseek(v.d, BAR2 + at[4], SEEK_SET), BAR2 + at[4]);
	CHECK_EQ(writev(v.d, iov, 2), 8);
	CHECK_EQ(lseek(v.d, 0, SEEK_CUR), BAR2 + at[4] + 8);
	for (unsigned i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		memset(back, 0, sizeof(back));
		CHECK_EQ(pread(v.d, back, sizeof(back), BAR2 + at[i]), 8);
		CHECK(memcmp(back, want, 8) == 0);
	}
	CHECK_EQ(pwritev2(v.d, iov, 2, BAR2, RWF_APPEND), -1);
	CHECK_EQ(errno, EOPNOTSUPP);
	CHECK_EQ(pwritev(v.g, iov, 2, 0), -1); /* a group has no write */
	CHECK_EQ(errno, EINVAL);
	vfio_close(&v);
}

TEST(close_range_closes_emulated_files)
{
	struct vfio v;
	int lo, hi, n;

	CHECK_EQ(vfio_open(&v), 0);
	n = open("/dev/null", O_RDONLY);
	CHECK(n >= 0);
	lo = hi = n;
	for (int i = 0; i < 3; i++) {
		int fd = i == 0 ? v.c : i == 1 ? v.g : v.d;

		lo = fd < lo ? fd : lo;
		hi = fd > hi ? fd : hi;
	}
	/* bad flags: the kernel's EINVAL, nothing closed */
	CHECK_EQ(close_range((unsigned)lo, (unsigned)hi, 1 << 30), -1);
	CHECK_EQ(errno, EINVAL);
	/* CLOSE_RANGE_CLOEXEC only marks them */
	CHECK_EQ(close_range((unsigned)lo, (unsigned)hi, CLOSE_RANGE_CLOEXEC), 0);
	CHECK(fcntl(v.d, F_GETFD) & FD_CLOEXEC);
	CHECK_EQ(ioctl(v.c, VFIO_GET_API_VERSION), VFIO_API_VERSION);
	CHECK_EQ(close_range((unsigned)lo, (unsigned)hi, 0), 0);
	CHECK(closed(v.c));
	CHECK(closed(v.g));
	CHECK(closed(v.d));
	CHECK(closed(n));
	/* the host let the group go: it opens again (EBUSY while still held) */
	CHECK_EQ(vfio_open(&v), 0);
	CHECK_EQ(close_range((unsigned)lo, ~0u, CLOSE_RANGE_UNSHARE), 0);
	CHECK(closed(v.c) && closed(v.g) && closed(v.d));
	CHECK_EQ(vfio_open(&v), 0);
	vfio_close(&v);
}

TEST(closefrom_closes_emulated_files)
{
	struct vfio v;
	int c, g, d;

	CHECK_EQ(vfio_open(&v), 0);
	c = fcntl(v.c, F_DUPFD, 700);
	g = fcntl(v.g, F_DUPFD, 700);
	d = fcntl(v.d, F_DUPFD, 700);
	CHECK(c >= 700 && g >= 700 && d >= 700);
	vfio_close(&v); /* the files live on in the copies */
	CHECK_EQ(ioctl(c, VFIO_GET_API_VERSION), VFIO_API_VERSION);
	closefrom(700);
	CHECK(closed(c) && closed(g) && closed(d));
	CHECK_EQ(vfio_open(&v), 0);
	vfio_close(&v);
}

TEST(stat_reports_character_devices)
{
	struct vfio v;
	struct stat st, pst;
	struct stat64 st64;
	struct statx sx;

	CHECK_EQ(vfio_open(&v), 0);
	/* the container is the misc device 10:196, and the same file as its path */
	CHECK_EQ(plain_fstat(v.c, &st), 0);
	CHECK(S_ISCHR(st.st_mode));
	CHECK_EQ(major(st.st_rdev), 10);
	CHECK_EQ(minor(st.st_rdev), 196);
	CHECK_EQ(plain_stat("/dev/vfio/vfio", &pst), 0);
	CHECK(pst.st_dev == st.st_dev && pst.st_ino == st.st_ino && pst.st_rdev == st.st_rdev);
	/* a group is a character device, the same as /dev/vfio/3 (its group) through every entry point */
	CHECK_EQ(fstat64(v.g, &st64), 0);
	CHECK(S_ISCHR(st64.st_mode));
	CHECK_EQ(stat("/dev/vfio/3", &pst), 0);
	CHECK(pst.st_ino == st64.st_ino && pst.st_rdev == st64.st_rdev && pst.st_mode == st64.st_mode);
	CHECK(pst.st_rdev != st.st_rdev);
	memset(&st64, 0, sizeof(st64));
	CHECK_EQ(__fxstat64(1, v.g, &st64), 0);
	CHECK(st64.st_rdev == pst.st_rdev);
	memset(&st, 0, sizeof(st));
	CHECK_EQ(plain_fstatat(v.g, "", &st, AT_EMPTY_PATH), 0);
	CHECK(st.st_rdev == pst.st_rdev);
	CHECK_EQ(statx(v.g, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &sx), 0);
	CHECK(S_ISCHR(sx.stx_mode));
	CHECK_EQ(makedev(sx.stx_rdev_major, sx.stx_rdev_minor), pst.st_rdev);
	CHECK_EQ(statx(AT_FDCWD, "/dev/vfio/vfio", 0, STATX_BASIC_STATS, &sx), 0);
	CHECK_EQ(sx.stx_rdev_minor, 196);
	/* another group is another device */
	CHECK_EQ(fstatat(AT_FDCWD, "/dev/vfio/1", &st, 0), 0);
	CHECK(S_ISCHR(st.st_mode) && st.st_rdev != pst.st_rdev);
	CHECK_EQ(lstat("/dev/vfio/1", &st), 0);
	CHECK(S_ISCHR(st.st_mode));
	CHECK_EQ(__xstat64(1, "/dev/vfio/vfio", &st64), 0);
	CHECK(S_ISCHR(st64.st_mode));
	CHECK_EQ(__fxstatat64(1, AT_FDCWD, "/dev/vfio/3", &st64, 0), 0);
	CHECK(st64.st_rdev == pst.st_rdev);
	CHECK_EQ(__fxstat(1, v.c, &st), 0);
	CHECK_EQ(minor(st.st_rdev), 196);
	/* a device descriptor is an anonymous inode: neither a character device nor a regular file */
	CHECK_EQ(fstat(v.d, &st), 0);
	CHECK(!S_ISCHR(st.st_mode) && !S_ISREG(st.st_mode));
	CHECK_EQ(st.st_mode & 0777, 0600);
	CHECK_EQ(st.st_size, 0);
	/* the directory, and what does not exist */
	CHECK_EQ(stat("/dev/vfio", &st), 0);
	CHECK(S_ISDIR(st.st_mode));
	CHECK_EQ(stat("/dev/vfio/99", &st), -1);
	CHECK_EQ(errno, ENOENT);
	CHECK_EQ(stat("/dev/vfio/0/", &st), -1);
	CHECK_EQ(errno, ENOTDIR);
	CHECK_EQ(stat64("/dev/vfio/01", &st64), -1);
	CHECK_EQ(errno, ENOENT);
	vfio_close(&v);
	/* a closed descriptor is the kernel's EBADF again */
	CHECK_EQ(fstat(v.c, &st), -1);
	CHECK_EQ(errno, EBADF);
}

TEST(access_readlink_realpath_on_vfio_paths)
{
	char buf[PATH_MAX], link[] = "/tmp/tcemu-entry-link-XXXXXX";
	char *r;

	CHECK_EQ(access("/dev/vfio/vfio", R_OK | W_OK), 0);
	CHECK_EQ(faccessat(AT_FDCWD, "/dev/vfio/0", R_OK | W_OK, 0), 0);
	CHECK_EQ(faccessat(AT_FDCWD, "/dev/vfio/0", F_OK, AT_EACCESS), 0);
	CHECK_EQ(faccessat(AT_FDCWD, "/dev/vfio", X_OK, 0), 0);
	if (getuid() == 0) { /* a character device without execute bits: not even root may execute it */
		CHECK_EQ(access("/dev/vfio/0", X_OK), -1);
		CHECK_EQ(errno, EACCES);
	}
	CHECK_EQ(faccessat(AT_FDCWD, "/dev/vfio/77", F_OK, 0), -1);
	CHECK_EQ(errno, ENOENT);
	CHECK_EQ(faccessat(AT_FDCWD, "/sys/module/vfio", F_OK, 0), 0); /* the fake sysfs, as access */
	/* readlink: they exist and are not links */
	CHECK_EQ(readlink("/dev/vfio/0", buf, sizeof(buf)), -1);
	CHECK_EQ(errno, EINVAL);
	CHECK_EQ(readlinkat(AT_FDCWD, "/dev/vfio/vfio", buf, sizeof(buf)), -1);
	CHECK_EQ(errno, EINVAL);
	CHECK_EQ(__readlink_chk("/dev/vfio/77", buf, sizeof(buf), sizeof(buf)), -1);
	CHECK_EQ(errno, ENOENT);
	/* realpath: the canonical name */
	r = realpath("/dev/vfio//0", NULL);
	CHECK_STR(r, "/dev/vfio/0");
	free(r);
	CHECK_STR(realpath("/dev/vfio/vfio", buf), "/dev/vfio/vfio");
	CHECK_STR(__realpath_chk("/dev/vfio/1", buf, sizeof(buf)), "/dev/vfio/1");
	CHECK(realpath("/dev/vfio/77", buf) == NULL);
	CHECK_EQ(errno, ENOENT);
	/* real links pass through */
	CHECK(mkdtemp(link) != NULL);
	CHECK_EQ(rmdir(link), 0);
	CHECK_EQ(symlink("/dev/vfio/0", link), 0);
	memset(buf, 0, sizeof(buf));
	CHECK_EQ(__readlinkat_chk(AT_FDCWD, link, buf, sizeof(buf), sizeof(buf)), 11);
	CHECK_STR(buf, "/dev/vfio/0");
	unlink(link);
}

TEST(calls_a_vfio_file_refuses)
{
	struct vfio v;
	char path[] = "/tmp/tcemu-entry-XXXXXX";
	int f = mkstemp(path);

	CHECK(f >= 0);
	unlink(path);
	CHECK_EQ(vfio_open(&v), 0);
	CHECK_EQ(fsync(v.d), -1);
	CHECK_EQ(errno, EINVAL);
	CHECK_EQ(fdatasync(v.c), -1);
	CHECK_EQ(errno, EINVAL);
	CHECK_EQ(plain_ftruncate(v.d, 4096), -1);
	CHECK_EQ(errno, EINVAL);
	CHECK_EQ(ftruncate64(v.g, 4096), -1);
	CHECK_EQ(errno, EINVAL);
	CHECK_EQ(plain_fallocate(v.d, 0, 0, 4096), -1);
	CHECK_EQ(errno, ENODEV);
	CHECK_EQ(fallocate64(v.c, 0, 0, 4096), -1);
	CHECK_EQ(errno, ENODEV);
	CHECK_EQ(copy_file_range(v.d, NULL, f, NULL, 16, 0), -1);
	CHECK_EQ(errno, EINVAL);
	CHECK_EQ(copy_file_range(f, NULL, v.d, NULL, 16, 0), -1);
	CHECK_EQ(errno, EINVAL);
	/* the same calls on a regular file go to the kernel */
	CHECK_EQ(ftruncate(f, 4096), 0);
	CHECK_EQ(fsync(f), 0);
	CHECK_EQ(lseek(f, 0, SEEK_END), 4096);
	/* epoll is not interposed: the memfd behind a VFIO descriptor refuses it as a VFIO file does */
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN };
	CHECK(ep >= 0);
	CHECK_EQ(epoll_ctl(ep, EPOLL_CTL_ADD, v.d, &ev), -1);
	CHECK_EQ(errno, EPERM);
	close(ep);
	close(f);
	vfio_close(&v);
}

HARNESS_MAIN(T(runs_under_the_shim), T(fortified_reads_see_config_space), T(fortified_reads_pass_other_files_through),
	     T(fortified_overflow_aborts_as_glibc), T(vectored_reads_match_pread), T(vectored_writes_land_in_the_region),
	     T(close_range_closes_emulated_files), T(closefrom_closes_emulated_files), T(stat_reports_character_devices),
	     T(access_readlink_realpath_on_vfio_paths), T(calls_a_vfio_file_refuses))
