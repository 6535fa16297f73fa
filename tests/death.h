/* SPDX-License-Identifier: MIT */
/*
 * Death tests for debug assertions (TCEMU_ASSERT, util/internal.h): run a function in a forked
 * child with its stderr captured, and check that the child died of SIGABRT after writing the
 * assertion's message, "<file>:<line>: <func>: assertion '<cond>' failed". The test runner
 * (harness.c) already runs each test in its own process; this is a second fork inside it, so the
 * test goes on after the child died. The child inherits the test's memory (fixtures made before the
 * call); it must not start from a state a failed check could leave half done.
 */
#ifndef TCEMU_TESTS_DEATH_H
#define TCEMU_TESTS_DEATH_H

#include <stddef.h>

#include "harness.h"

/*
 * Runs fn in a child; the child must abort, writing "file:" (a file name ending the path),
 * "func: " before the message when func is not NULL, and the condition text want. Returns NULL if
 * it did, else what went wrong, written into why.
 */
const char *death(void (*fn)(void), const char *file, const char *func, const char *want, char *why, size_t whylen);

/* Fails the current test unless fn dies of the assertion want in file (and function func). */
#define CHECK_DIES_IN(fn, file, func, want)                                                        \
	do {                                                                                       \
		char why_[1400];                                                                   \
		if (death((fn), (file), (func), (want), why_, sizeof(why_))) {                     \
			HARNESS_FAIL("%s: %s", #fn, why_);                                         \
			harness_abort_test();                                                      \
		}                                                                                  \
	} while (0)
#define CHECK_DIES(fn, file, want) CHECK_DIES_IN(fn, file, NULL, want)

#endif
