/* SPDX-License-Identifier: MIT */
/*
 * The test runner behind harness.h: TAP output, one forked process per test with a timeout,
 * cleanups that run when a check fails, skips with a reason.
 *
 * The runner's process stays single-threaded: it forks one child per test, waits for it with
 * SIGCHLD blocked (sigtimedwait, so a hang is noticed without polling) and reads the test's
 * outcome from a shared anonymous page. The child runs the test between setjmp and a longjmp that
 * a failed check, a skip or the end of the cleanups takes; it then exits through exit(), so the
 * sanitizers' exit-time checks (LeakSanitizer) still run once per test.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "harness.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define DEFAULT_TIMEOUT_S 120
#define MAX_CLEANUPS 64

enum outcome { OUTCOME_NONE, OUTCOME_PASS, OUTCOME_FAIL, OUTCOME_SKIP };

/* What a test hands back to the runner: in a MAP_SHARED page, so it outlives the test's process. */
struct result {
	int outcome;
	char reason[256];
};

bool harness_failed;

static struct result *result;
static struct {
	void (*fn)(void *);
	void *arg;
} cleanups[MAX_CLEANUPS];
static unsigned ncleanups;
static jmp_buf test_end;
static pthread_t test_thread;
static pid_t test_pid;
static bool in_test;

/* Prints text as TAP diagnostics: every line starts with "# ". */
static void diag(const char *prefix, const char *text)
{
	flockfile(stdout);
	for (const char *p = text;;) {
		const char *nl = strchr(p, '\n');
		int len = nl ? (int)(nl - p) : (int)strlen(p);
		printf("# %s%.*s\n", p == text ? prefix : "", len, p);
		if (!nl || !nl[1])
			break;
		p = nl + 1;
	}
	fflush(stdout);
	funlockfile(stdout);
}

void harness_fail_at(const char *file, int line, const char *fmt, ...)
{
	char prefix[256], msg[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(prefix, sizeof(prefix), "%s:%d: ", file, line);
	__atomic_store_n(&harness_failed, true, __ATOMIC_RELAXED);
	diag(prefix, msg);
}

/* Runs the registered cleanups, last first; each is taken off before it runs, so a cleanup that
 * fails a check (and comes back here through harness_abort_test) is not run twice. */
static void run_cleanups(void)
{
	while (ncleanups) {
		ncleanups--;
		cleanups[ncleanups].fn(cleanups[ncleanups].arg);
	}
}

/* Leaves the test: from its own thread, through the cleanups to the runner; from a process the
 * test forked, by exiting it; from another thread of the test, by ending that thread. */
static _Noreturn void end_test(enum outcome how)
{
	fflush(stdout);
	if (!in_test)
		exit(1);
	if (getpid() != test_pid)
		_exit(1);
	if (!pthread_equal(pthread_self(), test_thread))
		pthread_exit(NULL);
	run_cleanups();
	longjmp(test_end, (int)how);
}

void harness_abort_test(void)
{
	end_test(OUTCOME_FAIL);
}

void harness_skip(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(result->reason, sizeof(result->reason), fmt, ap);
	va_end(ap);
	for (char *p = result->reason; *p; p++)
		if (*p == '\n' || *p == '#')
			*p = ' ';
	if (in_test && (getpid() != test_pid || !pthread_equal(pthread_self(), test_thread))) {
		HARNESS_FAIL("SKIP outside the test's thread: %s", result->reason);
		end_test(OUTCOME_FAIL);
	}
	end_test(OUTCOME_SKIP);
}

void harness_defer(void (*fn)(void *), void *arg)
{
	if (ncleanups == MAX_CLEANUPS) {
		HARNESS_FAIL("more than %d cleanups", MAX_CLEANUPS);
		fn(arg);
		end_test(OUTCOME_FAIL);
	}
	cleanups[ncleanups].fn = fn;
	cleanups[ncleanups].arg = arg;
	ncleanups++;
}

void harness_undefer(void (*fn)(void *), void *arg)
{
	for (unsigned i = ncleanups; i-- > 0;)
		if (cleanups[i].fn == fn && cleanups[i].arg == arg) {
			memmove(&cleanups[i], &cleanups[i + 1], (ncleanups - i - 1) * sizeof(cleanups[0]));
			ncleanups--;
			return;
		}
}

static void join_threads(void *arg)
{
	struct harness_threads *t = arg;

	if (t->stop)
		__atomic_store_n(t->stop, 1, __ATOMIC_RELEASE);
	while (t->n) {
		int rc = pthread_join(t->id[--t->n], NULL);
		if (rc)
			HARNESS_FAIL("pthread_join: %s", strerror(rc));
	}
}

void harness_thread_start(struct harness_threads *t, void *(*fn)(void *), void *arg)
{
	int rc;

	if (t->n == HARNESS_MAX_THREADS) {
		HARNESS_FAIL("more than %d threads", HARNESS_MAX_THREADS);
		harness_abort_test();
	}
	if (t->n == 0)
		harness_defer(join_threads, t);
	rc = pthread_create(&t->id[t->n], NULL, fn, arg);
	if (rc) {
		HARNESS_FAIL("pthread_create: %s", strerror(rc));
		harness_abort_test();
	}
	t->n++;
}

void harness_threads_join(struct harness_threads *t)
{
	harness_undefer(join_threads, t);
	join_threads(t);
}

/* Runs one test in this process and records its outcome in *result. */
static void run_here(const struct harness_test *t)
{
	ncleanups = 0;
	harness_failed = false;
	result->outcome = OUTCOME_NONE;
	result->reason[0] = '\0';
	test_thread = pthread_self();
	test_pid = getpid();
	in_test = true;
	switch (setjmp(test_end)) {
	case 0:
		t->fn();
		run_cleanups();
		result->outcome = OUTCOME_PASS;
		break;
	case OUTCOME_SKIP:
		result->outcome = OUTCOME_SKIP;
		break;
	default:
		result->outcome = OUTCOME_FAIL;
		break;
	}
	in_test = false;
	if (harness_failed)
		result->outcome = OUTCOME_FAIL;
	fflush(stdout);
	fflush(stderr);
}

/* Waits for the test's process; kills it after timeout_s seconds (0: no limit). SIGCHLD is blocked. */
static void wait_test(pid_t pid, unsigned timeout_s, int *status, bool *timed_out)
{
	struct timespec now, deadline;
	sigset_t chld;

	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += timeout_s;
	*timed_out = false;
	for (;;) {
		pid_t r = waitpid(pid, status, timeout_s ? WNOHANG : 0);
		if (r == pid)
			return;
		if (r < 0 && errno != EINTR) {
			*status = 0xff00; /* exit status 255: cannot happen to a child of ours */
			return;
		}
		if (!timeout_s)
			continue;
		clock_gettime(CLOCK_MONOTONIC, &now);
		struct timespec left = { deadline.tv_sec - now.tv_sec, deadline.tv_nsec - now.tv_nsec };
		if (left.tv_nsec < 0) {
			left.tv_nsec += 1000000000L;
			left.tv_sec--;
		}
		if (left.tv_sec < 0) {
			kill(pid, SIGKILL);
			while (waitpid(pid, status, 0) < 0 && errno == EINTR)
				;
			*timed_out = true;
			return;
		}
		sigtimedwait(&chld, NULL, &left);
	}
}

/* Runs one test in a child process; returns its outcome and prints why a test died. */
static enum outcome run_forked(const struct harness_test *t, unsigned timeout_s, const sigset_t *mask)
{
	pid_t parent = getpid(), pid;
	bool timed_out;
	int st;

	fflush(stdout);
	fflush(stderr);
	result->outcome = OUTCOME_NONE;
	pid = fork();
	if (pid < 0) {
		printf("# %s: fork: %s\n", t->name, strerror(errno));
		return OUTCOME_FAIL;
	}
	if (pid == 0) {
		sigprocmask(SIG_SETMASK, mask, NULL);
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* the runner killed (meson's timeout): so is the test */
		if (getppid() != parent)
			_exit(1);
		run_here(t);
		exit(0);
	}
	wait_test(pid, timeout_s, &st, &timed_out);
	if (timed_out) {
		printf("# %s: timed out after %u s (HARNESS_TIMEOUT)\n", t->name, timeout_s);
		return OUTCOME_FAIL;
	}
	if (WIFSIGNALED(st)) {
		const char *abbrev = sigabbrev_np(WTERMSIG(st));
		printf("# %s: killed by signal SIG%s (%s)\n", t->name, abbrev ? abbrev : "?", strsignal(WTERMSIG(st)));
		return OUTCOME_FAIL;
	}
	if (WEXITSTATUS(st) != 0) {
		printf("# %s: the test's process exited with status %d %s\n", t->name, WEXITSTATUS(st),
		       result->outcome == OUTCOME_NONE ? "before the test ended"
						       : "after the test ended (a sanitizer's exit-time report?)");
		return OUTCOME_FAIL;
	}
	if (result->outcome == OUTCOME_NONE) {
		printf("# %s: the test's process exited before the test ended\n", t->name);
		return OUTCOME_FAIL;
	}
	return (enum outcome)result->outcome;
}

static bool env_flag(const char *name)
{
	const char *v = getenv(name);
	return v && *v && strcmp(v, "0") != 0;
}

int harness_main(const struct harness_test *tests, size_t n, int argc, char **argv)
{
	unsigned passed = 0, failed = 0, skipped = 0, nsel = 0, timeout_s = DEFAULT_TIMEOUT_S, num = 0;
	bool list = false, any_name = false, nofork = env_flag("HARNESS_NOFORK"), tap_status = env_flag("HARNESS_TAP_STATUS");
	const char *tv = getenv("HARNESS_TIMEOUT");
	sigset_t chld, mask;
	bool *sel;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int a = 1; a < argc; a++) {
		if (strcmp(argv[a], "--list") == 0) {
			list = true;
		} else if (argv[a][0] == '-') {
			fprintf(stderr, "usage: %s [--list] [NAME-SUBSTRING...]\n"
					"  HARNESS_NOFORK=1: run in this process; HARNESS_TIMEOUT=s: per-test limit (0: none)\n"
					"  HARNESS_TAP_STATUS=1: exit 0 when the failures are in the TAP output\n",
				argv[0]);
			return 2;
		} else {
			any_name = true;
		}
	}
	if (tv && *tv)
		timeout_s = (unsigned)strtoul(tv, NULL, 10);
	sel = calloc(n ? n : 1, sizeof(*sel));
	if (!sel)
		return 2;
	for (size_t i = 0; i < n; i++) {
		sel[i] = !any_name;
		for (int a = 1; a < argc; a++)
			if (argv[a][0] != '-' && strstr(tests[i].name, argv[a]))
				sel[i] = true;
		nsel += sel[i];
	}
	if (list) {
		for (size_t i = 0; i < n; i++)
			if (sel[i])
				printf("%s\n", tests[i].name);
		free(sel);
		return 0;
	}

	result = mmap(NULL, sizeof(*result), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (result == MAP_FAILED) {
		perror("mmap");
		free(sel);
		return 2;
	}
	signal(SIGCHLD, SIG_DFL); /* an inherited SIG_IGN would reap the tests behind our back */
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, &mask);

	printf("TAP version 13\n1..%u\n", nsel);
	for (size_t i = 0; i < n; i++) {
		struct timespec t0, t1;
		enum outcome o;

		if (!sel[i])
			continue;
		num++;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		if (nofork) {
			run_here(&tests[i]);
			o = (enum outcome)result->outcome;
		} else {
			o = run_forked(&tests[i], timeout_s, &mask);
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
		if (s >= 1.0)
			printf("# %s took %.1f s\n", tests[i].name, s);
		if (o == OUTCOME_PASS) {
			passed++;
			printf("ok %u - %s\n", num, tests[i].name);
		} else if (o == OUTCOME_SKIP) {
			skipped++;
			printf("ok %u - %s # SKIP %s\n", num, tests[i].name, result->reason);
		} else {
			failed++;
			printf("not ok %u - %s\n", num, tests[i].name);
		}
	}
	if (skipped)
		printf("# %u passed, %u failed, %u skipped\n", passed, failed, skipped);
	else
		printf("# %u passed, %u failed\n", passed, failed);
	sigprocmask(SIG_SETMASK, &mask, NULL);
	munmap(result, sizeof(*result));
	free(sel);
	return failed && !tap_status ? 1 : 0;
}
