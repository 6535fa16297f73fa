/* SPDX-License-Identifier: MIT */
/*
 * The test runner: each test is a function, TEST(name) { ... }, listed with T(name) in
 * HARNESS_MAIN(...). The runner (harness.c) speaks TAP on stdout, for meson's `protocol : 'tap'`:
 *
 *     TAP version 13
 *     1..3
 *     ok 1 - first
 *     # test_x.c:42: a == b: 1 (0x1) != 2 (0x2)
 *     not ok 2 - second
 *     ok 3 - third # SKIP not root
 *     # 1 passed, 1 failed, 1 skipped
 *
 * The closing comment line (", N skipped" only when a test was skipped) is what tests/summary.sh
 * adds up; it is a TAP comment so that meson does not flag it as an unknown line. The exit status
 * is 1 if a test failed, 0 otherwise; with HARNESS_TAP_STATUS=1 (set by tests/meson.build) it is 0
 * when the TAP stream is complete, so meson reports failed tests as FAIL and keeps ERROR for a
 * runner that broke.
 *
 * Each test runs in its own forked process, so a failed check, a crash (the signal is named) or a
 * hang (a per-test timeout: 120 s, HARNESS_TIMEOUT=seconds overrides it, 0 disables it) fails
 * that test only and no state leaks from one test into the next. The parent never starts a
 * thread. HARNESS_NOFORK=1 runs the tests in the runner's process instead (for gdb; a crash then
 * ends the run). Arguments select the tests whose name contains one of them; --list prints the
 * names.
 *
 * Checks: CHECK(cond), CHECK_EQ (signed), CHECK_U64, CHECK_STR, CHECK_CONTAINS. A failed check
 * prints its details as a TAP diagnostic, runs the test's cleanups and ends the test as failed; it
 * may be used in any function the test calls. In another thread of the test, it marks the test
 * failed and ends that thread (pthread_exit). HARNESS_FAIL(fmt, ...) records a failure and goes
 * on. SKIP(fmt, ...) ends the test as skipped, with the reason.
 *
 * Cleanups: DEFER(fn, arg) registers fn(arg) (fn takes a void *). The cleanups of a test run last
 * registered first, when the test returns, fails a check or skips: in the failing check's stack
 * frame, so a cleanup may join threads that use the test's local variables. Use them for what
 * outlives the process (host settings, files, child processes) and for threads. A cleanup runs
 * after the test function has returned too: its argument must not point into the test's stack,
 * unless the test cancels it (harness_undefer) before it returns.
 *
 * Threads: struct harness_threads ts = { .stop = &flag }; harness_thread_start(&ts, fn, arg)
 * starts a thread (a failed start fails the test); harness_threads_join(&ts) sets *stop (if
 * given) and joins them. If the test ends before it joins them (a failed check), a cleanup does
 * the same, in the failing check's frame, while the threads' arguments still exist.
 */
#ifndef TCEMU_TESTS_HARNESS_H
#define TCEMU_TESTS_HARNESS_H

#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct harness_test {
	const char *name;
	void (*fn)(void);
};

/* Set when the current test has failed (read it, never clear it). */
extern bool harness_failed;

#define TEST(name) static void test_##name(void)
#define T(name) { #name, test_##name }

/* Records a failure of the current test, prints it as a TAP diagnostic and returns. */
void harness_fail_at(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Runs the cleanups and ends the current test as failed (another thread: ends the thread). */
_Noreturn void harness_abort_test(void);
/* Runs the cleanups and ends the current test as skipped, with the reason. */
_Noreturn void harness_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Registers fn(arg) to run when the current test ends (last registered runs first). */
void harness_defer(void (*fn)(void *), void *arg);
/* Cancels the last registration of fn(arg), without running it (the test released it itself). */
void harness_undefer(void (*fn)(void *), void *arg);

#define HARNESS_MAX_THREADS 64
struct harness_threads {
	int *stop; /* set to 1 (release order) before the join, if not NULL */
	unsigned n;
	pthread_t id[HARNESS_MAX_THREADS];
};
/* Starts fn(arg) in a thread of t; the first start registers the cleanup that joins them. */
void harness_thread_start(struct harness_threads *t, void *(*fn)(void *), void *arg);
/* Sets *t->stop and joins the threads of t; cancels the cleanup. */
void harness_threads_join(struct harness_threads *t);

int harness_main(const struct harness_test *tests, size_t n, int argc, char **argv);

#define HARNESS_FAIL(...) harness_fail_at(__FILE__, __LINE__, __VA_ARGS__)
#define SKIP(...) harness_skip(__VA_ARGS__)
#define DEFER(fn, arg) harness_defer((fn), (arg))

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			HARNESS_FAIL("check failed: %s", #cond);                                   \
			harness_abort_test();                                                      \
		}                                                                                  \
	} while (0)

#define CHECK_EQ(a, b)                                                                             \
	do {                                                                                       \
		long long ha_ = (long long)(a), hb_ = (long long)(b);                              \
		if (ha_ != hb_) {                                                                  \
			HARNESS_FAIL("%s == %s: %lld (0x%llx) != %lld (0x%llx)", #a, #b, ha_,      \
				     (unsigned long long)ha_, hb_, (unsigned long long)hb_);       \
			harness_abort_test();                                                      \
		}                                                                                  \
	} while (0)

#define CHECK_U64(a, b)                                                                            \
	do {                                                                                       \
		uint64_t ha_ = (uint64_t)(a), hb_ = (uint64_t)(b);                                 \
		if (ha_ != hb_) {                                                                  \
			HARNESS_FAIL("%s == %s: 0x%" PRIx64 " != 0x%" PRIx64, #a, #b, ha_, hb_);   \
			harness_abort_test();                                                      \
		}                                                                                  \
	} while (0)

#define CHECK_STR(a, b)                                                                            \
	do {                                                                                       \
		const char *ha_ = (a), *hb_ = (b);                                                 \
		if (!ha_ || !hb_ || strcmp(ha_, hb_) != 0) {                                       \
			HARNESS_FAIL("%s == %s: \"%s\" != \"%s\"", #a, #b, ha_ ? ha_ : "(null)",   \
				     hb_ ? hb_ : "(null)");                                        \
			harness_abort_test();                                                      \
		}                                                                                  \
	} while (0)

#define CHECK_CONTAINS(hay, needle)                                                                \
	do {                                                                                       \
		const char *ha_ = (hay), *hb_ = (needle);                                          \
		if (!ha_ || !strstr(ha_, hb_)) {                                                   \
			HARNESS_FAIL("\"%s\" does not contain \"%s\"", ha_ ? ha_ : "(null)", hb_);  \
			harness_abort_test();                                                      \
		}                                                                                  \
	} while (0)

#define HARNESS_MAIN(...)                                                                          \
	int main(int argc, char **argv)                                                            \
	{                                                                                          \
		static const struct harness_test tests_[] = { __VA_ARGS__ };                       \
		return harness_main(tests_, sizeof(tests_) / sizeof(tests_[0]), argc, argv);       \
	}

#endif
