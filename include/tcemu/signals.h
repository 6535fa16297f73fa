/* SPDX-License-Identifier: MIT */
/*
 * SIGSEGV and SIGBUS next to tcemu's checked argument copies.
 *
 * A host created without trusted_args copies ioctl arguments with a routine whose loads and stores
 * may fault: a SIGSEGV/SIGBUS handler that the library installs on the first checked copy resumes
 * such a fault at the routine's failure exit (EFAULT). Every other SIGSEGV/SIGBUS is the
 * program's: it reaches the handler the program set, or the default action, as if tcemu were not
 * there (docs/architecture.md, "Checked argument copies").
 *
 * A program that changes SIGSEGV or SIGBUS itself after that (sigaction, signal) would replace
 * the library's handler: it calls tcemu_sigaction instead, which records the program's handler,
 * keeps the library's first and chains to it. The LD_PRELOAD shim interposes sigaction, signal,
 * sigprocmask and pthread_sigmask and does so for unmodified programs.
 */
#ifndef TCEMU_SIGNALS_H
#define TCEMU_SIGNALS_H

#include <signal.h>

#include <tcemu/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * For a layer that interposes sigaction and pthread_sigmask (the shim): the functions the library
 * must call to reach the kernel's (its own definitions would call back into the layer). Call it
 * before anything else of the library, from one thread. NULL leaves a function as it was.
 */
TCEMU_EXPORT void tcemu_signals_use(int (*real_sigaction)(int, const struct sigaction *, struct sigaction *),
				    int (*real_sigmask)(int, const sigset_t *, sigset_t *));

/*
 * sigaction(2) with SIGSEGV and SIGBUS kept behind the library's handler: *old is the program's
 * own disposition, act becomes it. Other signals, and these two before the library's handler is
 * installed, go to sigaction unchanged. 0 or a negative errno.
 */
TCEMU_EXPORT int tcemu_sigaction(int sig, const struct sigaction *act, struct sigaction *old);

/*
 * pthread_sigmask(3) that never really blocks SIGSEGV or SIGBUS in the calling thread once the
 * library's handler is installed (a fault on a blocked signal kills the process, the checked copy
 * included). The thread's wish is remembered and reported back in *old; the handler treats the
 * signals as blocked: a fault of the program's own is fatal (as the kernel makes it), a signal
 * sent to the thread waits until the thread unblocks it. 0 or a negative errno.
 */
TCEMU_EXPORT int tcemu_sigmask(int how, const sigset_t *set, sigset_t *old);

#ifdef __cplusplus
}
#endif
#endif
