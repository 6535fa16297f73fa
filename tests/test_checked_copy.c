/* SPDX-License-Identifier: MIT */
/*
 * The checked argument copies (vfio/probe.c, util/fault.c): a bad pointer gives EFAULT and never
 * a crash, both with the fault-catching routine and the portable way (process_vm_readv/writev,
 * and a probe_range check where the kernel refuses those: a seccomp filter in a forked child);
 * whatever another thread does to the argument's page meanwhile; and SIGSEGV/SIGBUS stay the
 * program's: its own handler runs for its own faults (SA_SIGINFO, SA_ONSTACK, SA_RESETHAND), and
 * without one it dies as it would without tcemu (compared with a child that never copied).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/filter.h>
#include <linux/seccomp.h>

#include <tcemu/signals.h>

#include "spapr.h"
#include "util/fault.h"
#include "vfio/probe.h"

static struct tcemu_host *host(void)
{
	struct tcemu_host_opts o = fx_host_opts();
	struct tcemu_host *h;

	o.trusted_args = false;
	h = fx_host_new(&o);
	CHECK(h);
	return h;
}

/*
 * Three pages: readable+writable, PROT_NONE, unmapped. The unmapped one lies in the middle of a
 * 1 GiB hole, which the program's later small mappings (filled from a hole's top) do not reach.
 */
static uint8_t *bad_pages(void)
{
	uint8_t *res = mmap(NULL, 1ull << 30, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0), *p;

	CHECK(res != MAP_FAILED);
	p = res + (512ull << 20);
	CHECK(mmap(p, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == p);
	CHECK_EQ(munmap(res, (size_t)(p - res)), 0);
	CHECK_EQ(munmap(p + 8192, (1ull << 30) - (512ull << 20) - 8192), 0);
	return p;
}

/* The refusals and the copies that work, in both directions; 0 if all as expected. */
static int copies_checked(struct tcemu_host *h)
{
	uint8_t *p = bad_pages(), buf[64], ro_src[64];
	uint8_t *ro = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int bad = 0;

	if (ro == MAP_FAILED)
		return 1;
	memset(ro, 0x5a, 4096);
	mprotect(ro, 4096, PROT_READ);
	memset(ro_src, 1, sizeof(ro_src));
	bad |= (copy_from_client(h, buf, NULL, 8) != -EFAULT) << 0;
	bad |= (copy_from_client(h, buf, p + 4096, 8) != -EFAULT) << 1;     /* PROT_NONE */
	bad |= (copy_from_client(h, buf, p + 8192, 8) != -EFAULT) << 2;     /* unmapped */
	bad |= (copy_from_client(h, buf, p + 4096 - 8, 16) != -EFAULT) << 3; /* straddles into PROT_NONE */
	bad |= (copy_from_client(h, buf, (void *)(uintptr_t)-8, 16) != -EFAULT) << 4; /* wraps */
	bad |= (copy_from_client(h, buf, (void *)(uintptr_t)(1ull << 63), 8) != -EFAULT) << 5; /* not canonical */
	bad |= (copy_to_client(h, ro, ro_src, 8) != -EFAULT) << 6;          /* read-only */
	bad |= (copy_to_client(h, p + 8192 - 4, ro_src, 8) != -EFAULT) << 7; /* straddles */
	bad |= (copy_to_client(h, NULL, ro_src, 8) != -EFAULT) << 8;
	bad |= (ro[0] != 0x5a) << 9;
	/* What works: exact bytes, any length and alignment up to the end of the mapping. */
	for (size_t len = 1; len <= sizeof(buf); len += 7) {
		memset(buf, 0, sizeof(buf));
		memset(p + 4096 - sizeof(buf), 0xa5, sizeof(buf));
		bad |= (copy_from_client(h, buf, p + 4096 - len, len) != 0) << 10;
		bad |= (buf[0] != 0xa5 || buf[len - 1] != 0xa5 || (len < sizeof(buf) && buf[len] != 0)) << 11;
		bad |= (copy_to_client(h, p + 4096 - len, ro_src, len) != 0) << 12;
		bad |= (p[4096 - len] != 1 || p[4095] != 1) << 13;
		bad |= (copy_from_client(h, buf, ro, len) != 0 || buf[0] != 0x5a) << 14;
	}
	munmap(p, 8192);
	munmap(ro, 4096);
	return bad;
}

TEST(bad_pointers_efault_routine)
{
	struct tcemu_host *h = host();

	probe_use_fault_copy(true);
	CHECK_EQ(copies_checked(h), 0);
	fx_host_done(h);
}

TEST(bad_pointers_efault_portable)
{
	struct tcemu_host *h = host();

	probe_use_fault_copy(false);
	CHECK_EQ(copies_checked(h), 0);
	probe_use_fault_copy(true);
	fx_host_done(h);
}

/*
 * fault_copy itself, on each of its ways (bytes, 8-byte ends, 16-byte loop, rep movsb): every
 * length up to 600 at every misalignment of 0..15 copies exactly the bytes asked for; a copy
 * whose source or destination ends in an inaccessible page is -EFAULT on every way.
 */
TEST(fault_copy_exact_bytes_and_efault_on_every_way)
{
	static unsigned char src[640], dst[700];
	unsigned char *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	const size_t lens[] = { 1, 7, 8, 15, 16, 17, 100, 255, 256, 1500, 4000 };
	unsigned bad = 0;

	CHECK(fault_copy_ready());
	CHECK(p != MAP_FAILED);
	for (size_t i = 0; i < sizeof(src); i++)
		src[i] = (unsigned char)(i * 37 + 11);
	for (size_t len = 0; len <= 600; len++)
		for (size_t mis = 0; mis < 16; mis++) {
			memset(dst, 0xee, sizeof(dst));
			bad |= fault_copy(dst + 16 + mis, src + (15 - mis), len) != 0;
			bad |= memcmp(dst + 16 + mis, src + (15 - mis), len) != 0;
			for (size_t k = 0; k < sizeof(dst); k++)
				bad |= (k < 16 + mis || k >= 16 + mis + len) && dst[k] != 0xee;
		}
	CHECK_EQ(bad, 0);
	CHECK_EQ(mprotect(p + 4096, 4096, PROT_NONE), 0);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		unsigned char *end = p + 4096 + 1; /* one byte past the accessible page */
		static unsigned char big[4096];

		CHECK_EQ(fault_copy(end - lens[i], big, lens[i]), -EFAULT);
		CHECK_EQ(fault_copy(big, end - lens[i], lens[i]), -EFAULT);
		CHECK_EQ(fault_copy(big, end - 1 - lens[i], lens[i]), 0);
	}
	munmap(p, 8192);
}

/* A file mapped past its end: SIGBUS, not SIGSEGV. */
TEST(sigbus_past_end_of_file_efault)
{
	struct tcemu_host *h = host();
	int fd = memfd_create("tcemu-test", MFD_CLOEXEC);
	uint8_t buf[16], *p;

	CHECK(fd >= 0);
	CHECK_EQ(ftruncate(fd, 4096), 0);
	p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED);
	close(fd);
	CHECK_EQ(copy_from_client(h, buf, p + 4096, 8), -EFAULT);
	CHECK_EQ(copy_to_client(h, p + 4096 - 8, buf, 16), -EFAULT);
	CHECK_EQ(copy_from_client(h, buf, p + 4096 - 8, 8), 0);
	munmap(p, 8192);
	fx_host_done(h);
}

/* A seccomp filter that refuses process_vm_readv/writev with EPERM (a container runtime's default does). */
static int refuse_process_vm(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_process_vm_readv, 2, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_process_vm_writev, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
	};
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return -1;
	return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
}

/* In a child: what copies_checked finds with process_vm_* refused (status: its bits, 100 no filter, 101 not refused). */
static int seccomp_child(bool routine)
{
	pid_t pid = fork();
	int st;

	CHECK(pid >= 0);
	if (pid == 0) {
		struct tcemu_host_opts o = fx_host_opts();
		struct tcemu_host *h;
		struct iovec l = { &st, 4 }, r = { &st, 4 };

		if (refuse_process_vm() != 0)
			_exit(100);
		if (process_vm_readv(getpid(), &l, 1, &r, 1, 0) != -1 || errno != EPERM)
			_exit(101);
		o.trusted_args = false;
		if (tcemu_host_create(&o, &h) != 0)
			_exit(102);
		probe_use_fault_copy(routine);
		_exit(copies_checked(h) ? 1 : 0);
	}
	CHECK_EQ(waitpid(pid, &st, 0), pid);
	CHECK(WIFEXITED(st));
	return WEXITSTATUS(st);
}

TEST(process_vm_refused_still_efault)
{
	int rc = seccomp_child(false);

	if (rc == 100)
		SKIP("no seccomp filter here");
	CHECK_EQ(rc, 0);
	CHECK_EQ(seccomp_child(true), 0);
}

/* ---- another thread changes the argument's page while ioctls read and write it ---- */

struct churn {
	uint8_t *at;
	int memfd;
	int stop;
};

static void *churn_page(void *arg)
{
	struct churn *c = arg;

	while (!__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE)) {
		munmap(c->at, 4096);
		sched_yield();
		if (mmap(c->at, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, c->memfd, 0) != c->at)
			abort();
		mprotect(c->at, 4096, PROT_READ);
		mprotect(c->at, 4096, PROT_NONE);
		sched_yield();
		mprotect(c->at, 4096, PROT_READ | PROT_WRITE);
	}
	return NULL;
}

TEST(argument_page_unmapped_and_remapped_meanwhile)
{
	struct fx_vfio f;
	uint8_t *mem;
	struct churn c = { .memfd = memfd_create("tcemu-arg", MFD_CLOEXEC) };
	struct harness_threads ts = { .stop = &c.stop };
	struct vfio_iommu_spapr_tce_info info = { .argsz = sizeof(info) };
	struct vfio_iommu_type1_dma_map m = { .argsz = sizeof(m), .flags = 3, .size = 4096 };
	struct vfio_iommu_type1_dma_unmap u = { .argsz = sizeof(u), .size = 4096 };
	unsigned ok = 0, efault = 0;

	CHECK(c.memfd >= 0);
	CHECK_EQ(ftruncate(c.memfd, 4096), 0);
	CHECK_EQ(fx_v2_ready(&f, &mem), 0);
	m.vaddr = (uintptr_t)mem;
	m.iova = u.iova = cinfo(&f).windows[0].start;
	c.at = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, c.memfd, 0);
	CHECK(c.at != MAP_FAILED);
	/* The page's file keeps the arguments: GET_INFO (in and out), MAP_DMA, UNMAP_DMA. */
	memcpy(c.at, &info, sizeof(info));
	memcpy(c.at + 512, &m, sizeof(m));
	memcpy(c.at + 1024, &u, sizeof(u));
	harness_thread_start(&ts, churn_page, &c);
	for (unsigned i = 0; i < 5000; i++) {
		long r1 = ioc(&f, VFIO_IOMMU_SPAPR_TCE_GET_INFO, c.at);
		long r2 = ioc(&f, VFIO_IOMMU_MAP_DMA, c.at + 512);
		long r3 = ioc(&f, VFIO_IOMMU_UNMAP_DMA, c.at + 1024);

		if ((r1 && r1 != -EFAULT) || (r2 && r2 != -EFAULT && r2 != -EBUSY) || (r3 && r3 != -EFAULT))
			HARNESS_FAIL("call %u: GET_INFO %ld, MAP_DMA %ld, UNMAP_DMA %ld", i, r1, r2, r3);
		ok += !r1, efault += r1 == -EFAULT;
		if (harness_failed)
			break;
	}
	harness_threads_join(&ts);
	CHECK(!harness_failed);
	/* How often each outcome came depends on the scheduling: shown, not checked. */
	printf("# %u calls worked, %u gave EFAULT\n", ok, efault);
	mprotect(c.at, 4096, PROT_READ | PROT_WRITE);
	CHECK_EQ(ioc(&f, VFIO_IOMMU_SPAPR_TCE_GET_INFO, c.at), 0);
	CHECK_EQ(unmap(&f, cinfo(&f).windows[0].start, 4096), 0);
	fx_vfio_close(&f);
	fx_host_done(f.h);
}

/* ---- the program's own SIGSEGV/SIGBUS ---- */

static sigjmp_buf jump;
static volatile sig_atomic_t seen_sig, seen_code, seen_onstack;
static void *volatile seen_addr;
static uint8_t altstack[1 << 16];

static void own_handler(int sig, siginfo_t *si, void *ctx)
{
	uint8_t here;

	(void)ctx;
	seen_sig = sig;
	seen_code = si->si_code;
	seen_addr = si->si_addr;
	seen_onstack = &here >= altstack && &here < altstack + sizeof(altstack);
	siglongjmp(jump, 1);
}

/* Faults in the program's own code, at p: returns 1 if its handler ran (and jumped back). */
static int own_fault(volatile uint8_t *p)
{
	seen_sig = 0;
	if (sigsetjmp(jump, 1) == 0) {
		*p = 1;
		return 0;
	}
	return seen_sig != 0;
}

/* A checked copy, so that the library's handler is installed. */
static void install_by_copy(struct tcemu_host *h)
{
	uint8_t b;

	CHECK_EQ(copy_from_client(h, &b, (void *)(uintptr_t)8, 1), -EFAULT);
}

static void check_own_handler_runs(struct tcemu_host *h, uint8_t *p)
{
	uint8_t buf[8];

	CHECK_EQ(own_fault(p + 4096), 1);
	CHECK_EQ(seen_sig, SIGSEGV);
	CHECK_EQ(seen_code, SEGV_ACCERR);
	CHECK(seen_addr == p + 4096);
	/* The copies' faults never reach it. */
	seen_sig = 0;
	CHECK_EQ(copy_from_client(h, buf, p + 4096, 8), -EFAULT);
	CHECK_EQ(copy_from_client(h, buf, p + 8192, 8), -EFAULT);
	CHECK_EQ(seen_sig, 0);
}

TEST(own_handler_set_before_the_first_copy_still_runs)
{
	struct tcemu_host *h = host();
	uint8_t *p = bad_pages();
	struct sigaction sa = { .sa_sigaction = own_handler, .sa_flags = SA_SIGINFO }, old;

	CHECK_EQ(sigaction(SIGSEGV, &sa, NULL), 0);
	install_by_copy(h);
	check_own_handler_runs(h, p);
	/* The program's own disposition is reported back through tcemu_sigaction. */
	CHECK_EQ(tcemu_sigaction(SIGSEGV, NULL, &old), 0);
	CHECK(old.sa_sigaction == own_handler);
	fx_host_done(h);
}

TEST(own_handler_set_after_through_tcemu_sigaction_runs_on_its_stack)
{
	struct tcemu_host *h = host();
	uint8_t *p = bad_pages();
	stack_t ss = { .ss_sp = altstack, .ss_size = sizeof(altstack) };
	struct sigaction sa = { .sa_sigaction = own_handler, .sa_flags = SA_SIGINFO | SA_ONSTACK }, old;

	struct sigaction before;

	CHECK_EQ(sigaction(SIGSEGV, NULL, &before), 0); /* SIG_DFL, or a sanitizer's */
	install_by_copy(h);
	CHECK_EQ(sigaltstack(&ss, NULL), 0);
	CHECK_EQ(tcemu_sigaction(SIGSEGV, &sa, &old), 0);
	CHECK(old.sa_handler == before.sa_handler);
	check_own_handler_runs(h, p);
	CHECK_EQ(seen_onstack, 1);
	CHECK_EQ(tcemu_sigaction(SIGSEGV, NULL, &old), 0);
	CHECK(old.sa_sigaction == own_handler && (old.sa_flags & SA_ONSTACK));
	fx_host_done(h);
}

/* ---- dying as without tcemu: the same status from a child that copied and one that did not ---- */

enum death_how { FAULT, RAISE, IGNORED_FAULT, IGNORED_RAISE, RESETHAND_TWICE, BLOCKED_FAULT, BLOCKED_RAISE };

static void once_handler(int sig)
{
	(void)sig;
	seen_sig = sig;
	siglongjmp(jump, 1);
}

/* The child's life: 0 from _exit(0) means it survived. */
static void child_life(enum death_how how, bool with_tcemu, int sig)
{
	struct rlimit no_core = { 0, 0 };
	uint8_t *p = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct sigaction sa = { .sa_handler = SIG_IGN };
	sigset_t set;
	int (*act)(int, const struct sigaction *, struct sigaction *) = with_tcemu ? tcemu_sigaction : sigaction;

	setrlimit(RLIMIT_CORE, &no_core);
	if (with_tcemu) {
		struct tcemu_host_opts o = fx_host_opts();
		struct tcemu_host *h;
		uint8_t b;

		o.trusted_args = false;
		if (tcemu_host_create(&o, &h) != 0 || copy_from_client(h, &b, p, 1) != -EFAULT)
			_exit(90);
	}
	sigemptyset(&set);
	sigaddset(&set, sig);
	switch (how) {
	case FAULT:
		break;
	case RAISE:
		raise(sig);
		_exit(0);
	case IGNORED_FAULT:
		act(sig, &sa, NULL);
		break;
	case IGNORED_RAISE:
		act(sig, &sa, NULL);
		raise(sig);
		_exit(0);
	case RESETHAND_TWICE:
		sa.sa_handler = once_handler;
		sa.sa_flags = SA_RESETHAND | SA_NODEFER;
		act(sig, &sa, NULL);
		if (sigsetjmp(jump, 1) == 0)
			raise(sig);
		if (seen_sig != sig)
			_exit(91);
		raise(sig);
		_exit(0);
	case BLOCKED_FAULT:
		if (with_tcemu ? tcemu_sigmask(SIG_BLOCK, &set, NULL) : sigprocmask(SIG_BLOCK, &set, NULL))
			_exit(92);
		break;
	case BLOCKED_RAISE:
		if (with_tcemu ? tcemu_sigmask(SIG_BLOCK, &set, NULL) : sigprocmask(SIG_BLOCK, &set, NULL))
			_exit(92);
		raise(sig);
		if (with_tcemu ? tcemu_sigmask(SIG_UNBLOCK, &set, NULL) : sigprocmask(SIG_UNBLOCK, &set, NULL))
			_exit(93);
		_exit(0);
	}
	if (sig == SIGBUS) {
		int fd = memfd_create("tcemu-bus", 0);
		uint8_t *q = fd >= 0 ? mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0) : MAP_FAILED;

		if (q == MAP_FAILED)
			_exit(94);
		(void)*(volatile uint8_t *)q; /* past the end of an empty file */
	} else {
		*(volatile uint8_t *)p = 1;
	}
	_exit(0);
}

static int status_of(enum death_how how, bool with_tcemu, int sig)
{
	pid_t pid = fork();
	int st;

	CHECK(pid >= 0);
	if (pid == 0)
		child_life(how, with_tcemu, sig);
	CHECK_EQ(waitpid(pid, &st, 0), pid);
	return st;
}

TEST(death_as_without_tcemu)
{
	static const char *const names[] = { "fault", "raise", "ignored fault", "ignored raise",
					     "SA_RESETHAND twice", "blocked fault", "blocked raise" };
	static const int sigs[] = { SIGSEGV, SIGBUS };

	for (unsigned s = 0; s < 2; s++) {
		for (unsigned how = FAULT; how <= BLOCKED_RAISE; how++) {
			int without = status_of(how, false, sigs[s]), with = status_of(how, true, sigs[s]);

			if (with != without)
				HARNESS_FAIL("%s %s: status 0x%x with tcemu, 0x%x without", strsignal(sigs[s]),
					     names[how], with, without);
		}
	}
	/* The plain cases are deaths by the signal here (not an instrumented build's report). */
	CHECK(!WIFEXITED(status_of(FAULT, false, SIGSEGV)) || WEXITSTATUS(status_of(FAULT, false, SIGSEGV)) != 0);
}

/* A thread that blocked SIGSEGV and SIGBUS still gets EFAULT, and sees them blocked. */
TEST(blocked_sigsegv_still_efault)
{
	struct tcemu_host *h = host();
	uint8_t *p = bad_pages(), buf[8];
	sigset_t set, old;

	install_by_copy(h);
	sigemptyset(&set);
	sigaddset(&set, SIGSEGV);
	sigaddset(&set, SIGBUS);
	CHECK_EQ(tcemu_sigmask(SIG_BLOCK, &set, NULL), 0);
	CHECK_EQ(copy_from_client(h, buf, p + 4096, 8), -EFAULT);
	CHECK_EQ(tcemu_sigmask(SIG_SETMASK, NULL, &old), 0);
	CHECK_EQ(sigismember(&old, SIGSEGV), 1);
	CHECK_EQ(sigismember(&old, SIGBUS), 1);
	CHECK_EQ(pthread_sigmask(SIG_SETMASK, NULL, &old), 0);
	CHECK_EQ(sigismember(&old, SIGSEGV), 0); /* not for real */
	CHECK_EQ(tcemu_sigmask(SIG_UNBLOCK, &set, &old), 0);
	CHECK_EQ(sigismember(&old, SIGSEGV), 1);
	CHECK_EQ(tcemu_sigmask(SIG_SETMASK, NULL, &old), 0);
	CHECK_EQ(sigismember(&old, SIGSEGV), 0);
	fx_host_done(h);
}

/* REGISTER of memory that is not mapped (or not writable): EFAULT, nothing registered. */
TEST(register_unmapped_efault)
{
	struct fx_vfio f;
	uint8_t *mem, *p = bad_pages();

	CHECK_EQ(fx_v2_ready(&f, &mem), 0);
	CHECK_EQ(reg(&f, p + 4096, 4096), -EFAULT);
	CHECK_EQ(reg(&f, p + 8192, 4096), -EFAULT);
	CHECK_EQ(reg(&f, p, 3 * 4096), -EFAULT);
	CHECK_EQ(nregions(f.h), 1);
	fx_vfio_close(&f);
	fx_host_done(f.h);
}

HARNESS_MAIN(T(bad_pointers_efault_routine), T(bad_pointers_efault_portable), T(fault_copy_exact_bytes_and_efault_on_every_way),
	     T(sigbus_past_end_of_file_efault),
	     T(process_vm_refused_still_efault), T(argument_page_unmapped_and_remapped_meanwhile),
	     T(own_handler_set_before_the_first_copy_still_runs),
	     T(own_handler_set_after_through_tcemu_sigaction_runs_on_its_stack), T(death_as_without_tcemu),
	     T(blocked_sigsegv_still_efault), T(register_unmapped_efault))
