/* SPDX-License-Identifier: MIT */
/*
 * A plain C VFIO client run under libtcemu-preload.so (meson sets LD_PRELOAD): the program uses
 * only libc calls on /dev/vfio paths, as a real client does, and looks at the result through
 * tcemu_preload_host().
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/vfio.h>

#include <tcemu/maps.h>
#include <tcemu/preload.h>

#include "harness.h"

#define PAGE 4096ull
#define MiB (1ull << 20)

struct client {
	int c, g;
	uint8_t *mem;
};

/* The DPDK-like set-up through libc: container, group, v2, an 8 GiB window at 0, 4 MiB registered. */
static int client_open(struct client *x)
{
	struct vfio_group_status st = { .argsz = sizeof(st) };
	struct vfio_iommu_spapr_tce_remove rm = { .argsz = sizeof(rm) };
	struct vfio_iommu_spapr_tce_create cr = { .argsz = sizeof(cr), .page_shift = 12, .window_size = 1ull << 33,
						  .levels = 1 };
	struct vfio_iommu_spapr_register_memory reg = { .argsz = sizeof(reg), .size = 4 * MiB };

	x->mem = mmap(NULL, 4 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	x->c = open("/dev/vfio/vfio", O_RDWR);
	x->g = open("/dev/vfio/3", O_RDWR | O_CLOEXEC); /* the default's first plain test device */
	reg.vaddr = (uintptr_t)x->mem;
	if (x->mem == MAP_FAILED || x->c < 0 || x->g < 0 || ioctl(x->g, VFIO_GROUP_GET_STATUS, &st) ||
	    !(st.flags & VFIO_GROUP_FLAGS_VIABLE) || ioctl(x->g, VFIO_GROUP_SET_CONTAINER, &x->c) ||
	    ioctl(x->c, VFIO_SET_IOMMU, VFIO_SPAPR_TCE_v2_IOMMU) || ioctl(x->c, VFIO_IOMMU_SPAPR_TCE_REMOVE, &rm) ||
	    ioctl(x->c, VFIO_IOMMU_SPAPR_TCE_CREATE, &cr) || ioctl(x->c, VFIO_IOMMU_SPAPR_REGISTER_MEMORY, &reg))
		return -1;
	return 0;
}

static void client_close(struct client *x)
{
	close(x->g);
	close(x->c);
	munmap(x->mem, 4 * MiB);
}

static int map(int c, uint8_t *va, uint64_t iova, uint64_t len)
{
	struct vfio_iommu_type1_dma_map m = { .argsz = sizeof(m), .flags = 3, .vaddr = (uintptr_t)va, .iova = iova,
					      .size = len };
	return ioctl(c, VFIO_IOMMU_MAP_DMA, &m);
}

static int unmap(int c, uint64_t iova, uint64_t len)
{
	struct vfio_iommu_type1_dma_unmap u = { .argsz = sizeof(u), .iova = iova, .size = len };
	return ioctl(c, VFIO_IOMMU_UNMAP_DMA, &u);
}

TEST(runs_under_the_shim)
{
	CHECK(tcemu_preload_host && tcemu_preload_host());
}

TEST(descriptors_are_real_and_distinct)
{
	int c = open("/dev/vfio/vfio", O_RDWR);
	int g = openat(AT_FDCWD, "/dev/vfio/1", O_RDWR);
	int n = open("/dev/null", O_RDONLY);

	CHECK(c >= 0 && g >= 0 && n >= 0);
	CHECK(c != g && g != n && c != n);
	CHECK(fcntl(c, F_GETFD) >= 0); /* a real kernel descriptor */
	CHECK_EQ(ioctl(c, VFIO_GET_API_VERSION), VFIO_API_VERSION);
	CHECK_EQ(ioctl(c, VFIO_CHECK_EXTENSION, VFIO_SPAPR_TCE_v2_IOMMU), 1);
	CHECK_EQ(ioctl(c, VFIO_CHECK_EXTENSION, VFIO_TYPE1_IOMMU), 0);
	CHECK_EQ(tcemu_host_fd_kind(tcemu_preload_host(), g), TCEMU_FD_GROUP);
	CHECK_EQ(open64("/dev/vfio/1", O_RDWR), -1);
	CHECK_EQ(errno, EBUSY);
	CHECK_EQ(open("/dev/vfio/99", O_RDWR), -1);
	CHECK_EQ(errno, ENOENT);
	CHECK_EQ(close(g), 0);
	CHECK_EQ(tcemu_host_fd_kind(tcemu_preload_host(), g), TCEMU_FD_NONE);
	CHECK_EQ(fcntl(g, F_GETFD), -1); /* the backing descriptor is gone too */
	CHECK_EQ(close(c), 0);
	CHECK_EQ(close(n), 0);
	CHECK_EQ(ioctl(c, VFIO_GET_API_VERSION), -1);
	CHECK_EQ(errno, EBADF);
}

TEST(map_through_ioctl_lands_in_the_table)
{
	struct client x;
	uint64_t tce, ua;

	CHECK_EQ(client_open(&x), 0);
	CHECK_EQ(map(x.c, x.mem + PAGE, 0x200000, 2 * PAGE), 0);
	CHECK_EQ(tcemu_host_container_entry(tcemu_preload_host(), x.c, 0x201000, &tce, &ua), 0);
	CHECK_U64(ua, (uintptr_t)x.mem + 2 * PAGE);
	CHECK_EQ(tce & 3, 3);
	CHECK_EQ(unmap(x.c, 0x200000, 2 * PAGE), 0);
	/* errors come back as -1/errno */
	CHECK_EQ(map(x.c, x.mem + 1, 0, PAGE), -1);
	CHECK_EQ(errno, EINVAL);
	CHECK_EQ(ioctl(x.c, VFIO_IOMMU_SPAPR_TCE_GET_INFO, (void *)8), -1);
	CHECK_EQ(errno, EFAULT);
	client_close(&x);
}

TEST(device_regions_pread_read_mmap)
{
	struct client x;
	struct vfio_region_info ri = { .argsz = sizeof(ri), .index = VFIO_PCI_BAR2_REGION_INDEX };
	uint16_t ids[2];
	uint8_t pattern[64], back[64];

	CHECK_EQ(client_open(&x), 0);
	int d = ioctl(x.g, VFIO_GROUP_GET_DEVICE_FD, "0000:04:00.0");
	CHECK(d >= 0);
	CHECK(fcntl(d, F_GETFD) & FD_CLOEXEC);
	const uint64_t cfg = (uint64_t)VFIO_PCI_CONFIG_REGION_INDEX << 40;
	CHECK_EQ(pread(d, ids, 4, (off_t)cfg), 4);
	CHECK_EQ(ids[0], 0x1b36);
	CHECK_EQ(ids[1], 0x0005);
	CHECK_EQ(pread64(d, ids, 2, (off64_t)cfg + 2), 2);
	CHECK_EQ(ids[0], 0x0005);
	/* read() at the descriptor's offset */
	CHECK_EQ(lseek(d, (off_t)cfg, SEEK_SET), (off_t)cfg);
	CHECK_EQ(read(d, ids, 2), 2);
	CHECK_EQ(ids[0], 0x1b36);
	CHECK_EQ(read(d, ids, 2), 2);
	CHECK_EQ(ids[0], 0x0005);
	/* BAR2 offers MMAP: what pwrite puts in, the mapping shows */
	CHECK_EQ(ioctl(d, VFIO_DEVICE_GET_REGION_INFO, &ri), 0);
	CHECK(ri.flags & VFIO_REGION_INFO_FLAG_MMAP);
	for (unsigned i = 0; i < sizeof(pattern); i++)
		pattern[i] = (uint8_t)(i * 7 + 1);
	CHECK_EQ(pwrite(d, pattern, sizeof(pattern), (off_t)ri.offset + 128), (ssize_t)sizeof(pattern));
	uint8_t *bar = mmap(NULL, (size_t)ri.size, PROT_READ | PROT_WRITE, MAP_SHARED, d, (off_t)ri.offset);
	CHECK(bar != MAP_FAILED);
	CHECK(memcmp(bar + 128, pattern, sizeof(pattern)) == 0);
	bar[4096] = 0x5a;
	CHECK_EQ(pread(d, back, 1, (off_t)ri.offset + 4096), 1);
	CHECK_EQ(back[0], 0x5a);
	munmap(bar, (size_t)ri.size);
	/* BAR0 traps accesses: no mmap */
	CHECK(mmap(NULL, 4096, PROT_READ, MAP_SHARED, d, 0) == MAP_FAILED);
	CHECK_EQ(errno, EINVAL);
	CHECK_EQ(close(d), 0);
	client_close(&x);
}

TEST(dup_dup2_dup3_fcntl_share_the_file)
{
	struct client x;
	int spare = open("/dev/null", O_RDONLY);

	CHECK_EQ(client_open(&x), 0);
	int a = dup(x.c);
	int b = fcntl(x.c, F_DUPFD_CLOEXEC, 100);
	CHECK(a >= 0 && b >= 100 && b < 200);
	CHECK(fcntl(b, F_GETFD) & FD_CLOEXEC);
	CHECK_EQ(dup2(x.c, spare), spare); /* over a plain descriptor */
	int e = dup3(x.c, 200, O_CLOEXEC); /* 200: free (b took the lowest free number from 100) */
	CHECK_EQ(e, 200);
	CHECK(fcntl(e, F_GETFD) & FD_CLOEXEC);
	close(x.c); /* the file lives on in its copies */
	CHECK_EQ(map(a, x.mem, 0, PAGE), 0);
	CHECK_EQ(map(b, x.mem + PAGE, PAGE, PAGE), 0);
	CHECK_EQ(unmap(spare, 0, 2 * PAGE), 0);
	CHECK_EQ(ioctl(e, VFIO_GET_API_VERSION), 0);
	CHECK_EQ(tcemu_host_fd_kind(tcemu_preload_host(), spare), TCEMU_FD_CONTAINER);
	/* dup2 of a plain descriptor over an emulated one closes the emulated one */
	int n = open("/dev/null", O_RDONLY);
	CHECK_EQ(dup2(n, e), e);
	CHECK_EQ(tcemu_host_fd_kind(tcemu_preload_host(), e), TCEMU_FD_NONE);
	CHECK_EQ(ioctl(e, VFIO_GET_API_VERSION), -1); /* now /dev/null: ENOTTY from the kernel */
	CHECK_EQ(errno, ENOTTY);
	close(n);
	close(e);
	close(a);
	close(b);
	close(x.g);
	close(spare);
	munmap(x.mem, 4 * MiB);
}

/* Kills and reaps a child the test forked (its pid in the pointer) if a check failed first. */
static void reap_child(void *pid)
{
	kill((pid_t)(intptr_t)pid, SIGKILL);
	waitpid((pid_t)(intptr_t)pid, NULL, 0);
}

TEST(forked_child_is_another_process)
{
	struct client x;
	pid_t pid;
	int status = 0;

	CHECK_EQ(client_open(&x), 0); /* registration recorded this process as the owner */
	pid = fork();
	CHECK(pid >= 0);
	if (pid > 0)
		DEFER(reap_child, (void *)(intptr_t)pid);
	if (pid == 0) {
		/* the child has the descriptors, but not the container */
		int r1 = map(x.c, x.mem, 0, PAGE), e1 = errno;
		int r2 = ioctl(x.c, VFIO_CHECK_EXTENSION, VFIO_SPAPR_TCE_v2_IOMMU);
		_exit(r1 == -1 && e1 == EPERM && r2 == 1 ? 0 : 1);
	}
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	harness_undefer(reap_child, (void *)(intptr_t)pid); /* reaped: the pid may be reused */
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK_EQ(map(x.c, x.mem, 0, PAGE), 0); /* the parent still owns it */
	CHECK_EQ(unmap(x.c, 0, PAGE), 0);
	client_close(&x);
}

struct th {
	int c;
	uint8_t *mem;
	unsigned id;
	int errors;
};

static void *mapper(void *arg)
{
	struct th *t = arg;

	for (unsigned i = 0; i < 500; i++) {
		uint64_t iova = ((uint64_t)t->id << 24) + (i % 64) * PAGE;
		if (map(t->c, t->mem + (i % 64) * PAGE, iova, PAGE) || unmap(t->c, iova, PAGE))
			t->errors++;
	}
	return NULL;
}

TEST(threads_share_the_container)
{
	struct client x;
	struct th t[4];
	struct harness_threads th = { 0 };

	CHECK_EQ(client_open(&x), 0);
	for (unsigned i = 0; i < 4; i++) {
		t[i] = (struct th){ .c = x.c, .mem = x.mem, .id = i + 1 };
		harness_thread_start(&th, mapper, &t[i]);
	}
	harness_threads_join(&th);
	for (unsigned i = 0; i < 4; i++)
		CHECK_EQ(t[i].errors, 0);
	client_close(&x);
}

TEST(irq_eventfd_and_poll)
{
	struct client x;
	uint8_t buf[sizeof(struct vfio_irq_set) + sizeof(int32_t)];
	struct vfio_irq_set *set = (struct vfio_irq_set *)buf;
	int efd = eventfd(0, EFD_NONBLOCK);
	uint64_t v = 0;

	CHECK(efd >= 0);
	CHECK_EQ(client_open(&x), 0);
	int d = ioctl(x.g, VFIO_GROUP_GET_DEVICE_FD, "0000:04:00.0");
	CHECK(d >= 0);
	*set = (struct vfio_irq_set){ .argsz = sizeof(buf), .flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
				      .index = VFIO_PCI_INTX_IRQ_INDEX, .start = 0, .count = 1 };
	memcpy(set->data, &efd, sizeof(int32_t));
	CHECK_EQ(ioctl(d, VFIO_DEVICE_SET_IRQS, set), 0);
	*set = (struct vfio_irq_set){ .argsz = sizeof(*set), .flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
				      .index = VFIO_PCI_INTX_IRQ_INDEX, .start = 0, .count = 1 };
	CHECK_EQ(ioctl(d, VFIO_DEVICE_SET_IRQS, set), 0);
	struct pollfd p[2] = { { .fd = efd, .events = POLLIN }, { .fd = d, .events = POLLIN } };
	CHECK(poll(p, 2, 1000) >= 1); /* poll works on the emulated descriptor too */
	CHECK(p[0].revents & POLLIN);
	CHECK_EQ(read(efd, &v, sizeof(v)), 8);
	CHECK_U64(v, 1);
	close(d);
	client_close(&x);
	close(efd);
}

TEST(other_files_are_untouched)
{
	char path[] = "/tmp/tcemu-shim-XXXXXX", buf[16] = "";
	int fd = mkstemp(path), p[2], avail = -1;
	struct stat st;

	CHECK(fd >= 0);
	CHECK_EQ(write(fd, "hello tcemu", 11), 11);
	CHECK_EQ(pread(fd, buf, 5, 6), 5);
	CHECK(memcmp(buf, "tcemu", 5) == 0);
	int d = dup(fd);
	CHECK_EQ(lseek(d, 0, SEEK_SET), 0);
	CHECK_EQ(read(d, buf, 5), 5);
	CHECK(memcmp(buf, "hello", 5) == 0);
	CHECK_EQ(fstat(fd, &st), 0);
	CHECK_EQ(st.st_size, 11);
	CHECK_EQ(stat(path, &st), 0);
	close(d);
	close(fd);
	unlink(path);
	CHECK_EQ(stat(path, &st), -1);
	CHECK_EQ(errno, ENOENT);
	CHECK_EQ(pipe(p), 0);
	CHECK_EQ(write(p[1], "abc", 3), 3);
	CHECK_EQ(ioctl(p[0], FIONREAD, &avail), 0); /* real ioctls pass through */
	CHECK_EQ(avail, 3);
	close(p[0]);
	close(p[1]);
	/* the VFIO modules look loaded; their neighbours do not */
	CHECK_EQ(stat("/sys/module/vfio", &st), 0);
	CHECK(S_ISDIR(st.st_mode));
	CHECK_EQ(stat("/sys/module/vfio_pci", &st), 0);
	CHECK_EQ(access("/sys/module/vfio", F_OK), 0);
	CHECK_EQ(stat("/sys/module/vfio_nonexistent_tcemu", &st), -1);
}

/* ---- SIGSEGV and SIGBUS stay the program's (the checked copies' handler is the library's) ---- */

static sigjmp_buf own_jump;
static volatile sig_atomic_t own_runs;
static void *volatile own_addr;

static void own_segv(int sig, siginfo_t *si, void *ctx)
{
	(void)sig, (void)ctx;
	own_runs++;
	own_addr = si->si_addr;
	siglongjmp(own_jump, 1);
}

/* MAP_DMA with its argument at bad: -1/EFAULT. */
static int map_efault(struct client *x, void *bad)
{
	(void)x;
	return ioctl(x->c, VFIO_IOMMU_MAP_DMA, bad) == -1 && errno == EFAULT;
}

TEST(own_sigsegv_handler_kept_and_reported)
{
	struct client x;
	struct sigaction sa = { .sa_sigaction = own_segv, .sa_flags = SA_SIGINFO }, old;
	uint8_t *none = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	sigset_t set, cur;

	struct sigaction before;

	CHECK(none != MAP_FAILED);
	CHECK_EQ(sigaction(SIGSEGV, NULL, &before), 0); /* SIG_DFL, or a sanitizer's */
	CHECK_EQ(client_open(&x), 0);
	CHECK(map_efault(&x, none)); /* the library's handler is in place now */
	CHECK_EQ(sigaction(SIGSEGV, &sa, &old), 0);
	CHECK(old.sa_handler == before.sa_handler);
	CHECK_EQ(sigaction(SIGSEGV, NULL, &old), 0);
	CHECK(old.sa_sigaction == own_segv);
	/* A bad argument: EFAULT, the program's handler not called. */
	CHECK(map_efault(&x, none));
	CHECK(map_efault(&x, (void *)(uintptr_t)16));
	CHECK_EQ(own_runs, 0);
	/* The program's own fault: its handler. */
	if (sigsetjmp(own_jump, 1) == 0)
		*(volatile uint8_t *)none = 1;
	CHECK_EQ(own_runs, 1);
	CHECK(own_addr == none);
	/* signal() reports the handler it replaces, and so does the next sigaction. */
	CHECK((void *)signal(SIGSEGV, SIG_DFL) == (void *)own_segv);
	CHECK_EQ(sigaction(SIGSEGV, NULL, &old), 0);
	CHECK(old.sa_handler == SIG_DFL);
	/* SIGSEGV blocked by the program: still EFAULT, and reported blocked. */
	sigemptyset(&set);
	sigaddset(&set, SIGSEGV);
	CHECK_EQ(sigprocmask(SIG_BLOCK, &set, NULL), 0);
	CHECK(map_efault(&x, none));
	CHECK_EQ(pthread_sigmask(SIG_SETMASK, NULL, &cur), 0);
	CHECK_EQ(sigismember(&cur, SIGSEGV), 1);
	CHECK_EQ(sigprocmask(SIG_UNBLOCK, &set, &cur), 0);
	CHECK_EQ(sigismember(&cur, SIGSEGV), 1);
	client_close(&x);
	munmap(none, 4096);
}

/* A child that faults without a handler dies the same whether it used VFIO (and its copies faulted) or not. */
static int fault_status(bool use_vfio)
{
	pid_t pid = fork();
	int st;

	CHECK(pid >= 0);
	if (pid == 0) {
		struct client x;
		struct rlimit no_core = { 0, 0 };
		uint8_t *none = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		setrlimit(RLIMIT_CORE, &no_core);
		if (use_vfio && (client_open(&x) || !map_efault(&x, none)))
			_exit(90);
		*(volatile uint8_t *)none = 1;
		_exit(0);
	}
	CHECK_EQ(waitpid(pid, &st, 0), pid);
	return st;
}

TEST(default_sigsegv_death_kept)
{
	int without = fault_status(false), with = fault_status(true);

	CHECK_EQ(with, without);
	CHECK(!(WIFEXITED(with) && WEXITSTATUS(with) == 0));
}

static int reg(int c, const void *va, uint64_t len, unsigned long cmd)
{
	struct vfio_iommu_spapr_register_memory r = { .argsz = sizeof(r), .vaddr = (uintptr_t)va, .size = len };
	return ioctl(c, cmd, &r);
}
#define REG(c, va, len) reg(c, va, len, VFIO_IOMMU_SPAPR_REGISTER_MEMORY)
#define UNREG(c, va, len) reg(c, va, len, VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY)

/* REGISTER's EFAULT with errno, 1 if so. */
static int reg_efault(int c, const void *va, uint64_t len)
{
	return REG(c, va, len) == -1 && errno == EFAULT;
}

/*
 * Four pages the program maps, then registers and unregisters twice in the first: the first
 * REGISTER asks the kernel, the second is answered from what the shim's report let the library
 * remember.
 */
static uint8_t *remembered(int c)
{
	uint8_t *m = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct tcemu_maps_stats a, b;

	CHECK(m != MAP_FAILED);
	tcemu_maps_stats(&a);
	for (int i = 0; i < 2; i++) {
		CHECK_EQ(REG(c, m, PAGE), 0);
		CHECK_EQ(UNREG(c, m, PAGE), 0);
	}
	tcemu_maps_stats(&b);
	CHECK_U64(b.asked - a.asked, 1);
	CHECK_U64(b.remembered - a.remembered, 1);
	return m;
}

/*
 * The shim reports the program's mapping changes (tcemu/maps.h): registrations inside memory the
 * program mapped stop asking the kernel after the first, and whatever the program then does to
 * that memory (munmap, mprotect, MAP_FIXED over it, mremap, the same calls through syscall(2)) is
 * seen by the next REGISTER. Memory that glibc maps and unmaps itself (a large malloc block) is
 * never remembered: freed, it is refused.
 */
TEST(registration_sees_every_mapping_change)
{
	struct client x;
	uint8_t *m, *big, *page;

	CHECK_EQ(client_open(&x), 0);
	m = remembered(x.c);
	CHECK_EQ(munmap(m + PAGE, PAGE), 0);
	CHECK(reg_efault(x.c, m + PAGE, PAGE));
	CHECK_EQ(munmap(m, 4 * PAGE), 0);
	m = remembered(x.c);
	CHECK_EQ(mprotect(m + PAGE, PAGE, PROT_READ), 0);
	CHECK(reg_efault(x.c, m + PAGE, PAGE));
	CHECK_EQ(munmap(m, 4 * PAGE), 0);
	m = remembered(x.c);
	CHECK(mmap(m + PAGE, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == m + PAGE);
	CHECK(reg_efault(x.c, m + PAGE, PAGE));
	CHECK_EQ(munmap(m, 4 * PAGE), 0);
	m = remembered(x.c);
	CHECK(mremap(m, 4 * PAGE, PAGE, 0) == m);
	CHECK(reg_efault(x.c, m + PAGE, PAGE));
	CHECK_EQ(munmap(m, PAGE), 0);
	m = remembered(x.c); /* moved away: the old place is gone, the new one works */
	uint8_t *to = mmap(NULL, 4 * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(to != MAP_FAILED);
	CHECK(mremap(m, 4 * PAGE, 4 * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, to) == to);
	CHECK(reg_efault(x.c, m, PAGE));
	CHECK_EQ(REG(x.c, to + PAGE, PAGE), 0);
	CHECK_EQ(UNREG(x.c, to + PAGE, PAGE), 0);
	CHECK_EQ(munmap(to, 4 * PAGE), 0);
	m = remembered(x.c);
	CHECK_EQ(syscall(SYS_munmap, m + PAGE, PAGE), 0);
	CHECK(reg_efault(x.c, m + PAGE, PAGE));
	CHECK_EQ(munmap(m, 4 * PAGE), 0);
	m = remembered(x.c);
	CHECK_EQ(syscall(SYS_mprotect, m + PAGE, PAGE, PROT_NONE), 0);
	CHECK(reg_efault(x.c, m + PAGE, PAGE));
	CHECK_EQ(munmap(m, 4 * PAGE), 0);

	/*
	 * 64 MiB: above glibc's largest mmap threshold, so a block of its own, which free() unmaps
	 * behind the shim's back. (A sanitizer's allocator may keep it mapped: then REGISTER must
	 * still work. Either way it must agree with the kernel, asked with msync.)
	 */
	big = malloc(64 * MiB);
	CHECK(big);
	page = (uint8_t *)(((uintptr_t)big + PAGE) & ~(PAGE - 1));
	for (int i = 0; i < 2; i++) {
		CHECK_EQ(REG(x.c, page, PAGE), 0);
		CHECK_EQ(UNREG(x.c, page, PAGE), 0);
	}
	free(big);
	if (msync(page, PAGE, MS_ASYNC) != 0 && errno == ENOMEM) {
		CHECK(reg_efault(x.c, page, PAGE));
	} else {
		CHECK_EQ(REG(x.c, page, PAGE), 0);
		CHECK_EQ(UNREG(x.c, page, PAGE), 0);
	}
	client_close(&x);
}

HARNESS_MAIN(T(runs_under_the_shim), T(descriptors_are_real_and_distinct), T(map_through_ioctl_lands_in_the_table),
	     T(device_regions_pread_read_mmap), T(dup_dup2_dup3_fcntl_share_the_file), T(forked_child_is_another_process),
	     T(threads_share_the_container), T(irq_eventfd_and_poll), T(other_files_are_untouched), T(own_sigsegv_handler_kept_and_reported),
	     T(default_sigsegv_death_kept), T(registration_sees_every_mapping_change))
