/* SPDX-License-Identifier: MIT */
/*
 * The fuzz harnesses' shared parts (fuzz.c): reading an input as a stream of choices, hosts made
 * for one input, and the invariant checks that abort like a crash.
 *
 * Every harness is one file, fuzz_<surface>.c, defining LLVMFuzzerTestOneInput. Built with
 * -Dfuzz=true (clang) it links libFuzzer; in every other build it links replay.c, a main that runs
 * the harness on the files of its corpus and regression directories (the make check test
 * fuzz_<surface>): every input that ever broke something stays a test.
 *
 * An input is read front to back: each step takes what it needs (fz_u8, fz_u64, fz_pick...); past
 * the end every read gives 0, so any input is a valid program and a short one a short program.
 */
#ifndef TCEMU_TESTS_FUZZ_H
#define TCEMU_TESTS_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tcemu/guest.h>
#include <tcemu/host.h>

struct fz {
	const uint8_t *p;
	size_t n;
};

static inline bool fz_more(const struct fz *f)
{
	return f->n > 0;
}

uint8_t fz_u8(struct fz *f);
uint16_t fz_u16(struct fz *f);
uint32_t fz_u32(struct fz *f);
uint64_t fz_u64(struct fz *f);
/* A number below n (n > 0), from as few bytes as it needs. */
uint64_t fz_below(struct fz *f, uint64_t n);
/* Fills buf with the next len bytes (zeroes past the end). */
void fz_bytes(struct fz *f, void *buf, size_t len);
/* A power of two 2^s with lo <= s <= hi. */
uint64_t fz_pow2(struct fz *f, unsigned lo, unsigned hi);

/*
 * Options for a harness's host: an unlimited locked-memory limit, a silent logger, or with FZ_TRACE
 * set in the environment every call decoded on stderr (to see what an input does).
 */
struct tcemu_host_opts fz_host_opts(void);
/* A host with an unlimited locked-memory limit and a silent logger; topology text NULL: the default. */
struct tcemu_host *fz_host(const char *topology);

/*
 * The invariants (src/vfio/check.h): a broken one is printed with what the harness was doing and
 * aborts. fz_teardown closes everything the input left open (tcemu_host_close_all), checks that
 * everything went back to zero, and destroys the host.
 */
void fz_check_host(struct tcemu_host *h, unsigned flags, const char *when);
void fz_check_guest(struct tcemu_guest *g, const char *when);
void fz_teardown(struct tcemu_host *h, unsigned flags);
/* Aborts with a message (an invariant of the harness's own). */
void fz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
