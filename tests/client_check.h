/* SPDX-License-Identifier: MIT */
/*
 * The checks of the tests' standalone client programs (dpdk_client.c, dpdk_ethdev_client.c), which
 * run under `tcemu exec` without the harness: one "ok: ..." or "FAIL: ..." line per check, then
 * client_finish()'s closing "N passed, N failed" (exit status 0 only if nothing failed).
 * Single-threaded use.
 */
#ifndef TCEMU_TESTS_CLIENT_CHECK_H
#define TCEMU_TESTS_CLIENT_CHECK_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

static unsigned client_passed, client_failed;

/* Records one check; prints it; returns cond so a caller can skip what depends on it. */
static bool check(bool cond, const char *fmt, ...) __attribute__((format(printf, 2, 3), unused));
static bool check(bool cond, const char *fmt, ...)
{
	va_list ap;

	printf("%s: ", cond ? "ok" : "FAIL");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	if (cond)
		client_passed++;
	else
		client_failed++;
	return cond;
}

/* The closing line; the exit status for main. */
static inline int client_finish(void)
{
	printf("%u passed, %u failed\n", client_passed, client_failed);
	fflush(stdout);
	return client_failed ? 1 : 0;
}

#endif
