/* SPDX-License-Identifier: MIT */
/*
 * A minimal test runner in the style of libuv's: each test is a function; CHECK* macros record a
 * failure (with file, line and the values) and return from the test. harness_main() runs the
 * tests named on the command line (substring match) or all of them, prints one line per test and
 * closes with "N passed, N failed"; the exit status is 1 if anything failed.
 */
#ifndef TCEMU_TESTS_HARNESS_H
#define TCEMU_TESTS_HARNESS_H

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct harness_test {
	const char *name;
	void (*fn)(void);
};

extern bool harness_failed;

#define TEST(name) static void test_##name(void)
#define T(name) { #name, test_##name }

#define HARNESS_FAIL(...)                                                                          \
	do {                                                                                       \
		fprintf(stderr, "  %s:%d: ", __FILE__, __LINE__);                                  \
		fprintf(stderr, __VA_ARGS__);                                                      \
		fputc('\n', stderr);                                                               \
		harness_failed = true;                                                             \
	} while (0)

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			HARNESS_FAIL("check failed: %s", #cond);                                   \
			return;                                                                    \
		}                                                                                  \
	} while (0)

#define CHECK_EQ(a, b)                                                                             \
	do {                                                                                       \
		long long ha_ = (long long)(a), hb_ = (long long)(b);                              \
		if (ha_ != hb_) {                                                                  \
			HARNESS_FAIL("%s == %s: %lld (0x%llx) != %lld (0x%llx)", #a, #b, ha_,      \
				     (unsigned long long)ha_, hb_, (unsigned long long)hb_);       \
			return;                                                                    \
		}                                                                                  \
	} while (0)

#define CHECK_U64(a, b)                                                                            \
	do {                                                                                       \
		uint64_t ha_ = (uint64_t)(a), hb_ = (uint64_t)(b);                                 \
		if (ha_ != hb_) {                                                                  \
			HARNESS_FAIL("%s == %s: 0x%" PRIx64 " != 0x%" PRIx64, #a, #b, ha_, hb_);   \
			return;                                                                    \
		}                                                                                  \
	} while (0)

#define CHECK_STR(a, b)                                                                            \
	do {                                                                                       \
		const char *ha_ = (a), *hb_ = (b);                                                 \
		if (!ha_ || !hb_ || strcmp(ha_, hb_) != 0) {                                       \
			HARNESS_FAIL("%s == %s: \"%s\" != \"%s\"", #a, #b, ha_ ? ha_ : "(null)",   \
				     hb_ ? hb_ : "(null)");                                        \
			return;                                                                    \
		}                                                                                  \
	} while (0)

#define CHECK_CONTAINS(hay, needle)                                                                \
	do {                                                                                       \
		const char *ha_ = (hay), *hb_ = (needle);                                          \
		if (!ha_ || !strstr(ha_, hb_)) {                                                   \
			HARNESS_FAIL("\"%s\" does not contain \"%s\"", ha_ ? ha_ : "(null)", hb_);  \
			return;                                                                    \
		}                                                                                  \
	} while (0)

#define HARNESS_MAIN(...)                                                                          \
	bool harness_failed;                                                                       \
	int main(int argc, char **argv)                                                            \
	{                                                                                          \
		static const struct harness_test tests_[] = { __VA_ARGS__ };                       \
		return harness_main(tests_, sizeof(tests_) / sizeof(tests_[0]), argc, argv);       \
	}

static inline int harness_main(const struct harness_test *tests, size_t n, int argc, char **argv)
{
	unsigned passed = 0, failed = 0;
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (size_t i = 0; i < n; i++) {
		bool selected = argc < 2;
		for (int a = 1; a < argc; a++)
			selected |= strstr(tests[i].name, argv[a]) != NULL;
		if (!selected)
			continue;
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		harness_failed = false;
		fflush(stderr);
		tests[i].fn();
		clock_gettime(CLOCK_MONOTONIC, &t1);
		double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
		fflush(stderr);
		if (harness_failed) {
			failed++;
			printf("FAIL %s (%.1f ms)\n", tests[i].name, ms);
		} else {
			passed++;
			printf("ok   %s (%.1f ms)\n", tests[i].name, ms);
		}
	}
	printf("%u passed, %u failed\n", passed, failed);
	return failed ? 1 : 0;
}

#endif
