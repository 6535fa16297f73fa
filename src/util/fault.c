/* SPDX-License-Identifier: MIT */
/*
 * Copies that may fault, without a system call: the way the kernel's copy_from_user works, in a
 * process.
 *
 * fault_copy is a small assembly routine (x86_64) whose loads and stores are the only
 * instructions that touch the other side's memory. A SIGSEGV/SIGBUS handler, installed once for
 * the process on the first checked copy, looks at the faulting instruction pointer (ucontext
 * REG_RIP): inside the routine, it moves it to the routine's failure exit, which returns -EFAULT,
 * and returns; the copy fails and the program never sees the signal. Nothing is done on the fast
 * path but the copy itself: no mask is saved, no jump buffer set, no system call made.
 *
 * Every other SIGSEGV/SIGBUS belongs to the program and reaches it as if tcemu were not there:
 * - the program's disposition is remembered here (read when the handler is installed, changed
 *   through tcemu_sigaction, which the LD_PRELOAD shim calls for the program's sigaction and
 *   signal), and the library's handler is installed with the program's flags (SA_ONSTACK,
 *   SA_NODEFER, SA_RESTART) and mask, so that the kernel delivers the signal on the stack and
 *   with the mask the program's own handler would get; the handler then calls the program's, with
 *   (sig, info, context) for SA_SIGINFO, and honours SA_RESETHAND itself;
 * - the default action: a fault the kernel raised (si_code > 0) puts SIG_DFL back and returns,
 *   so the instruction faults again and the process dies of it exactly as without tcemu (status,
 *   core dump); a signal sent by kill or raise is raised again with SIG_DFL in place;
 * - SIG_IGN: a sent signal is ignored; a fault is fatal (the kernel does not let a fault be
 *   ignored either);
 * - a thread that asked (tcemu_sigmask) to block SIGSEGV/SIGBUS keeps them unblocked for real,
 *   because a fault on a blocked signal kills the process, the library's copy included: the
 *   handler treats them as blocked for that thread. A fault of the program's own is fatal (as
 *   the kernel makes it); a sent signal is kept pending and raised when the thread unblocks it.
 *
 * Changes of the program's disposition are published without a lock for the handler: a ring of
 * RING entries per signal, written under fault_lock and made current with a release store; the
 * handler reads the current entry. (A handler that runs while RING further changes are made
 * could read a half-written entry; programs change these dispositions a handful of times.)
 *
 * Other architectures have no routine (fault_copy_ready() is false): the checked copy is then a
 * system call (vfio/probe.c).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <ucontext.h>

#include <tcemu/signals.h>

#include "util/fault.h"
#include "util/internal.h"

#if defined(__x86_64__)
#define HAVE_FAULT_COPY 1
/*
 * int tcemu_fault_copy(void *dst [rdi], const void *src [rsi], size_t len [rdx]): 0 in eax.
 * - len >= REP_MIN (256): one `rep movsb` (fast strings: the packet and page sized copies of
 *   device DMA);
 * - 16 <= len < 256: 16 bytes at a time (SSE), then the last 16 bytes, overlapping;
 * - 8 <= len < 16: the first and the last 8 bytes (overlapping);
 * - len < 8: byte by byte.
 * Bytes may be written out of order (the overlapping tails): after -EFAULT any of dst may have
 * been written. Every load and store of the caller's memory lies between tcemu_fault_copy and
 * tcemu_fault_copy_fixup, where a fault resumes: -EFAULT in eax. Only rax, rcx, xmm0 and the
 * arguments' registers change (all caller-saved); the direction flag is clear (the ABI's rule).
 */
__asm__(".text\n"
	".p2align 4\n"
	".globl tcemu_fault_copy\n"
	".hidden tcemu_fault_copy\n"
	".type tcemu_fault_copy, @function\n"
	"tcemu_fault_copy:\n"
	"	cmp $16, %rdx\n"
	"	jb 5f\n"
	"	cmp $256, %rdx\n"
	"	jae 7f\n"
	"	lea -16(%rsi,%rdx), %rcx\n" /* the last 16 bytes' source */
	"	sub %rsi, %rdi\n"            /* rdi: dst - src, so one pointer walks both */
	"1:	movdqu (%rsi), %xmm0\n"
	"	movdqu %xmm0, (%rsi,%rdi)\n"
	"	add $16, %rsi\n"
	"	cmp %rcx, %rsi\n"
	"	jb 1b\n"
	"	movdqu (%rcx), %xmm0\n"
	"	movdqu %xmm0, (%rcx,%rdi)\n"
	"	xor %eax, %eax\n"
	"	ret\n"
	"5:	cmp $8, %rdx\n"
	"	jb 2f\n"
	"	mov (%rsi), %rax\n"
	"	mov -8(%rsi,%rdx), %rcx\n"
	"	mov %rax, (%rdi)\n"
	"	mov %rcx, -8(%rdi,%rdx)\n"
	"	xor %eax, %eax\n"
	"	ret\n"
	"2:	test %rdx, %rdx\n"
	"	jz 4f\n"
	"3:	movzbl (%rsi), %ecx\n"
	"	movb %cl, (%rdi)\n"
	"	inc %rsi\n"
	"	inc %rdi\n"
	"	dec %rdx\n"
	"	jnz 3b\n"
	"4:	xor %eax, %eax\n"
	"	ret\n"
	"7:	mov %rdx, %rcx\n"
	"	rep movsb\n"
	"	xor %eax, %eax\n"
	"	ret\n"
	".globl tcemu_fault_copy_fixup\n"
	".hidden tcemu_fault_copy_fixup\n"
	"tcemu_fault_copy_fixup:\n"
	"	mov $-14, %eax\n" /* -EFAULT */
	"	ret\n"
	".size tcemu_fault_copy, . - tcemu_fault_copy\n");
_Static_assert(EFAULT == 14, "the routine's failure exit returns -14");
int tcemu_fault_copy(void *dst, const void *src, size_t len);
extern const char tcemu_fault_copy_fixup[];

/* A fault inside the routine: resume at its failure exit. */
static bool fixup(void *ctx)
{
	ucontext_t *uc = ctx;
	uintptr_t ip = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];

	if (ip < (uintptr_t)tcemu_fault_copy || ip >= (uintptr_t)tcemu_fault_copy_fixup)
		return false;
	uc->uc_mcontext.gregs[REG_RIP] = (greg_t)(uintptr_t)tcemu_fault_copy_fixup;
	return true;
}
#else
#define HAVE_FAULT_COPY 0
static bool fixup(void *ctx)
{
	(void)ctx;
	return false;
}
#endif

#define RING 8u
#define RESET 0x100u /* in chain.cur: the current entry had SA_RESETHAND and was used: SIG_DFL */

static const int caught[2] = { SIGSEGV, SIGBUS };

struct chain {
	struct sigaction ring[RING]; /* the program's dispositions; ring[cur & (RING - 1)] is current */
	unsigned cur;                /* atomic */
};

static struct chain chains[2];
int fault_copy_state; /* atomic: 0 not installed, 1 installed, -1 cannot be */
static pthread_mutex_t fault_lock = PTHREAD_MUTEX_INITIALIZER;
static int (*real_act)(int, const struct sigaction *, struct sigaction *) = sigaction;
static int (*real_mask)(int, const sigset_t *, sigset_t *) = pthread_sigmask;
/* The calling thread's wish to block SIGSEGV (bit 0) or SIGBUS (bit 1), and what waits for it. */
static __thread __attribute__((tls_model("initial-exec"))) unsigned vblocked, vpending;

static int chain_index(int sig)
{
	return sig == SIGSEGV ? 0 : sig == SIGBUS ? 1 : -1;
}

static void to_default(int sig)
{
	struct sigaction d;

	memset(&d, 0, sizeof(d));
	d.sa_handler = SIG_DFL;
	real_act(sig, &d, NULL);
}

/* What the kernel would have done with a signal that is not the routine's fault. */
static void deliver(int i, int sig, siginfo_t *si, void *ctx)
{
	struct chain *c = &chains[i];
	unsigned cur = __atomic_load_n(&c->cur, __ATOMIC_ACQUIRE);
	const struct sigaction *a = &c->ring[cur & (RING - 1)];
	/* Raised by the kernel for an instruction (BUS_MCEERR_AO is a report, not a fault). */
	const bool fault = si->si_code > 0 && !(sig == SIGBUS && si->si_code == BUS_MCEERR_AO);
	const bool info = !(cur & RESET) && (a->sa_flags & SA_SIGINFO);
	void (*h)(int) = cur & RESET ? SIG_DFL : a->sa_handler;

	if (vblocked & (1u << i)) {
		if (fault) {
			to_default(sig); /* the kernel's rule: a fault on a blocked signal kills */
			return;
		}
		vpending |= 1u << i;
		return;
	}
	if (!info && (h == SIG_DFL || (h == SIG_IGN && fault))) {
		to_default(sig);
		if (!fault)
			raise(sig); /* blocked while this handler runs unless SA_NODEFER: pending until it returns */
		return; /* a fault: the instruction faults again, now with the default action */
	}
	if (!info && h == SIG_IGN)
		return;
	if (a->sa_flags & SA_RESETHAND)
		__atomic_compare_exchange_n(&c->cur, &cur, cur | RESET, false, __ATOMIC_RELEASE, __ATOMIC_RELAXED);
	if (info)
		a->sa_sigaction(sig, si, ctx);
	else
		h(sig);
}

static void on_fault(int sig, siginfo_t *si, void *ctx)
{
	int i = chain_index(sig), saved;

	if (si->si_code > 0 && fixup(ctx))
		return;
	saved = errno;
	if (i >= 0)
		deliver(i, sig, si, ctx);
	errno = saved;
}

/* The library's handler, with the flags and mask of a program's action. */
static void mirror(const struct sigaction *prog, struct sigaction *ours)
{
	memset(ours, 0, sizeof(*ours));
	ours->sa_sigaction = on_fault;
	ours->sa_mask = prog->sa_mask;
	ours->sa_flags = (prog->sa_flags & (SA_ONSTACK | SA_NODEFER | SA_RESTART)) | SA_SIGINFO;
}

/* Reads the program's dispositions and puts the handler in front of them (fault_lock held). */
static int install(void)
{
	size_t i;

	for (i = 0; i < TCEMU_ARRAY_SIZE(caught); i++) {
		struct sigaction ours;

		if (real_act(caught[i], NULL, &chains[i].ring[0]) != 0)
			goto err_restore;
		__atomic_store_n(&chains[i].cur, 0, __ATOMIC_RELEASE);
		mirror(&chains[i].ring[0], &ours);
		if (real_act(caught[i], &ours, NULL) != 0)
			goto err_restore;
	}
	return 0;
err_restore:
	while (i-- > 0)
		real_act(caught[i], &chains[i].ring[0], NULL);
	return -1;
}

bool fault_copy_install(void)
{
	int s;

	if (!HAVE_FAULT_COPY) {
		__atomic_store_n(&fault_copy_state, -1, __ATOMIC_RELEASE);
		return false;
	}
	pthread_mutex_lock(&fault_lock);
	s = __atomic_load_n(&fault_copy_state, __ATOMIC_RELAXED);
	if (!s) {
		s = install() == 0 ? 1 : -1;
		__atomic_store_n(&fault_copy_state, s, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&fault_lock);
	return s > 0;
}

int fault_copy(void *dst, const void *src, size_t len)
{
#if HAVE_FAULT_COPY
	return tcemu_fault_copy(dst, src, len);
#else
	(void)dst, (void)src, (void)len;
	return -EFAULT;
#endif
}

TCEMU_EXPORT void tcemu_signals_use(int (*act)(int, const struct sigaction *, struct sigaction *),
				    int (*mask)(int, const sigset_t *, sigset_t *))
{
	if (act)
		real_act = act;
	if (mask)
		real_mask = mask;
}

TCEMU_EXPORT int tcemu_sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	int i = chain_index(sig), rc = 0;
	struct chain *c;
	unsigned cur;

	if (i < 0)
		return real_act(sig, act, old) == 0 ? 0 : -errno;
	pthread_mutex_lock(&fault_lock);
	if (__atomic_load_n(&fault_copy_state, __ATOMIC_RELAXED) <= 0) {
		rc = real_act(sig, act, old) == 0 ? 0 : -errno;
		goto unlock;
	}
	c = &chains[i];
	cur = __atomic_load_n(&c->cur, __ATOMIC_ACQUIRE);
	if (old) {
		*old = c->ring[cur & (RING - 1)];
		if (cur & RESET) {
			memset(old, 0, sizeof(*old));
			old->sa_handler = SIG_DFL;
		}
	}
	if (act) {
		unsigned next = ((cur & (RING - 1)) + 1) & (RING - 1);
		struct sigaction ours;

		c->ring[next] = *act;
		mirror(act, &ours);
		if (real_act(sig, &ours, NULL) != 0) {
			rc = -errno;
			goto unlock;
		}
		__atomic_store_n(&c->cur, next, __ATOMIC_RELEASE);
	}
unlock:
	pthread_mutex_unlock(&fault_lock);
	return rc;
}

TCEMU_EXPORT int tcemu_sigmask(int how, const sigset_t *set, sigset_t *old)
{
	unsigned want = vblocked, was = vblocked, raise_now;
	sigset_t s;
	int rc;

	if (__atomic_load_n(&fault_copy_state, __ATOMIC_ACQUIRE) <= 0 || !set) {
		rc = real_mask(how, set, old);
		goto report;
	}
	if (how != SIG_BLOCK && how != SIG_UNBLOCK && how != SIG_SETMASK)
		return -EINVAL;
	s = *set;
	for (unsigned i = 0; i < TCEMU_ARRAY_SIZE(caught); i++) {
		bool in = sigismember(set, caught[i]) == 1;

		if (how == SIG_SETMASK || in)
			want = how == SIG_UNBLOCK ? want & ~(1u << i) : in ? want | 1u << i : want & ~(1u << i);
		if (how != SIG_UNBLOCK)
			sigdelset(&s, caught[i]); /* never blocked for real */
	}
	rc = real_mask(how, &s, old);
	if (rc)
		return -rc;
	vblocked = want;
	raise_now = vpending & ~want;
	vpending &= want;
	for (unsigned i = 0; i < TCEMU_ARRAY_SIZE(caught); i++)
		if (raise_now & (1u << i))
			raise(caught[i]);
report:
	if (rc)
		return -rc;
	for (unsigned i = 0; old && i < TCEMU_ARRAY_SIZE(caught); i++)
		if (was & (1u << i))
			sigaddset(old, caught[i]);
	return 0;
}
