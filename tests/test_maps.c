/* SPDX-License-Identifier: MIT */
/*
 * The record of the process's mappings (tcemu/maps.h, vfio/maps.c) behind probe_range: only
 * mappings reported created are remembered, as the kernel described them; a check inside one is
 * answered without a query; every reported change that overlaps it (or a report of "anything")
 * makes the next check ask again; a query's answer is not kept when a report came while it was in
 * flight; a forked child starts with nothing remembered (MADV_DONTFORK); and reporting from
 * several threads while others check never gives a wrong answer for a range that stays mapped.
 * (The shim's side, the interposed calls that report, is in test_shim.c.)
 */
#include <errno.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <tcemu/maps.h>

#include "harness.h"
#include "vfio/maps.h"
#include "vfio/probe.h"

#define PAGE 4096ull

static struct tcemu_maps_stats stats(void)
{
	struct tcemu_maps_stats s;

	tcemu_maps_stats(&s);
	return s;
}

/* probe_range of n pages at p; the kernel queries it made go to *asked. */
static int probe(const uint8_t *p, uint64_t n, bool write, uint64_t *asked)
{
	struct tcemu_maps_stats a = stats(), b;
	uint32_t shift = 0;
	int rc = probe_range((uintptr_t)p, n * PAGE, write, &shift);

	b = stats();
	*asked = b.asked - a.asked;
	if (rc == 0 && shift != 12)
		return -EIO;
	return rc;
}

static uint8_t *map_pages(uint64_t n)
{
	uint8_t *p = mmap(NULL, n * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	CHECK(p != MAP_FAILED);
	return p;
}

TEST(only_reported_mappings_are_remembered)
{
	uint8_t *p = map_pages(8);
	uint64_t asked;

	/* not reported: every check asks */
	CHECK_EQ(probe(p, 1, true, &asked), 0);
	CHECK_U64(asked, 1);
	CHECK_EQ(probe(p, 1, true, &asked), 0);
	CHECK_U64(asked, 1);
	/* reported: the first check asks, the next ones inside it do not */
	tcemu_maps_created(p, 8 * PAGE);
	CHECK_EQ(probe(p + PAGE, 2, true, &asked), 0);
	CHECK_U64(asked, 1);
	CHECK_EQ(probe(p, 8, true, &asked), 0);
	CHECK_U64(asked, 0);
	CHECK_EQ(probe(p + 7 * PAGE, 1, false, &asked), 0);
	CHECK_U64(asked, 0);
	/* past its end: asked (and refused if nothing is there) */
	(void)probe(p + 7 * PAGE, 2, false, &asked);
	CHECK_U64(asked, 1);
	munmap(p, 8 * PAGE);
	tcemu_maps_changed(p, 8 * PAGE);
	CHECK_EQ(probe(p, 1, true, &asked), -EFAULT);
	CHECK_U64(asked, 1);
	/* a remembered read-only mapping passes a read check and still refuses a writable one */
	uint8_t *r = mmap(NULL, 2 * PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(r != MAP_FAILED);
	tcemu_maps_created(r, 2 * PAGE);
	CHECK_EQ(probe(r, 1, false, &asked), 0);
	CHECK_EQ(probe(r + PAGE, 1, false, &asked), 0);
	CHECK_U64(asked, 0);
	CHECK_EQ(probe(r, 2, true, &asked), -EFAULT);
	tcemu_maps_changed(r, 2 * PAGE);
	munmap(r, 2 * PAGE);
}

TEST(a_change_makes_the_next_check_ask)
{
	uint8_t *p = map_pages(8);
	uint64_t asked;

	tcemu_maps_created(p, 8 * PAGE);
	CHECK_EQ(probe(p, 8, true, &asked), 0);
	/* read-only: a writable check is refused, a read check passes */
	CHECK_EQ(mprotect(p + 2 * PAGE, PAGE, PROT_READ), 0);
	tcemu_maps_changed(p + 2 * PAGE, PAGE);
	CHECK_EQ(probe(p + 2 * PAGE, 1, true, &asked), -EFAULT);
	CHECK_U64(asked, 1);
	CHECK_EQ(probe(p + 2 * PAGE, 1, false, &asked), 0);
	/* the dropped mapping is not remembered again: its pages ask every time */
	CHECK_EQ(probe(p, 1, true, &asked), 0);
	CHECK_U64(asked, 1);
	CHECK_EQ(probe(p, 1, true, &asked), 0);
	CHECK_U64(asked, 1);
	/* a change elsewhere leaves another remembered mapping alone */
	uint8_t *q = map_pages(4);
	tcemu_maps_created(q, 4 * PAGE);
	CHECK_EQ(probe(q, 1, true, &asked), 0);
	CHECK_U64(asked, 1);
	tcemu_maps_changed(p, 8 * PAGE);
	CHECK_EQ(probe(q + PAGE, 3, true, &asked), 0);
	CHECK_U64(asked, 0);
	/* "anything may have changed" drops it */
	tcemu_maps_changed(NULL, 0);
	CHECK_EQ(probe(q, 1, true, &asked), 0);
	CHECK_U64(asked, 1);
	/* unmapped and reported: refused */
	CHECK_EQ(munmap(q, 4 * PAGE), 0);
	tcemu_maps_changed(q, 4 * PAGE);
	CHECK_EQ(probe(q + PAGE, 1, false, &asked), -EFAULT);
	munmap(p, 8 * PAGE);
}

TEST(an_answer_older_than_a_report_is_not_kept)
{
	uint8_t *p = map_pages(4);
	struct maps_seen seen = { .start = (uintptr_t)p, .end = (uintptr_t)p + 4 * PAGE, .writable = true, .shift = 12 };
	uint32_t shift;
	uint64_t gen, asked;

	tcemu_maps_created(p, 4 * PAGE);
	gen = maps_generation();
	tcemu_maps_changed(p + 8 * PAGE, PAGE); /* any report, even one elsewhere, while "querying" */
	maps_learn(gen, (uintptr_t)p, (uintptr_t)p + PAGE, &seen);
	CHECK(!maps_lookup((uintptr_t)p, (uintptr_t)p + PAGE, true, &shift));
	/* the same answer at the current generation is kept */
	maps_learn(maps_generation(), (uintptr_t)p, (uintptr_t)p + PAGE, &seen);
	CHECK(maps_lookup((uintptr_t)p, (uintptr_t)p + 4 * PAGE, true, &shift));
	CHECK_EQ(shift, 12);
	/* an answer for a range outside every reported mapping is not kept */
	maps_learn(maps_generation(), (uintptr_t)p + 3 * PAGE, (uintptr_t)p + 5 * PAGE, &seen);
	(void)probe(p + 3 * PAGE, 2, false, &asked);
	CHECK_U64(asked, 1);
	tcemu_maps_changed(p, 4 * PAGE);
	munmap(p, 4 * PAGE);
}

TEST(a_forked_child_remembers_nothing)
{
	uint8_t *p = map_pages(4);
	uint64_t asked;
	int status;
	pid_t pid;

	CHECK_EQ(madvise(p, 4 * PAGE, MADV_DONTFORK), 0);
	tcemu_maps_created(p, 4 * PAGE);
	CHECK_EQ(probe(p, 4, true, &asked), 0);
	CHECK_EQ(probe(p, 4, true, &asked), 0);
	CHECK_U64(asked, 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		/* not mapped in the child: the parent's record must not say otherwise */
		_exit(probe(p, 1, false, &asked) == -EFAULT && asked == 1 ? 0 : 1);
	}
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK_EQ(probe(p, 4, true, &asked), 0); /* the parent's record is intact */
	CHECK_U64(asked, 0);
	tcemu_maps_changed(p, 4 * PAGE);
	munmap(p, 4 * PAGE);
}

TEST(more_mappings_than_slots)
{
	enum { N = 40 };
	uint8_t *p[N];
	uint64_t asked;

	for (int i = 0; i < N; i++) {
		p[i] = map_pages(1);
		tcemu_maps_created(p[i], PAGE);
		CHECK_EQ(probe(p[i], 1, true, &asked), 0);
	}
	/* the most recent ones are remembered; every one answers right */
	CHECK_EQ(probe(p[N - 1], 1, true, &asked), 0);
	CHECK_U64(asked, 0);
	for (int i = 0; i < N; i++)
		CHECK_EQ(probe(p[i], 1, true, &asked), 0);
	for (int i = 0; i < N; i++) {
		CHECK_EQ(munmap(p[i], PAGE), 0);
		tcemu_maps_changed(p[i], PAGE);
		CHECK_EQ(probe(p[i], 1, false, &asked), -EFAULT);
	}
}

/*
 * Threads: one keeps a mapping it never changes and checks it; another maps, checks, unmaps and
 * reports in a loop. The stable mapping is never refused, and an unmapped one is refused once its
 * unmapping has been reported.
 */
struct churn {
	uint8_t *stable;
	int stop;
	int errors;
};

static void *checker(void *arg)
{
	struct churn *c = arg;
	uint64_t asked;

	while (!__atomic_load_n(&c->stop, __ATOMIC_RELAXED))
		if (probe(c->stable, 4, true, &asked) != 0)
			__atomic_add_fetch(&c->errors, 1, __ATOMIC_RELAXED);
	return NULL;
}

static void *churner(void *arg)
{
	struct churn *c = arg;
	uint64_t asked;

	for (int i = 0; i < 2000; i++) {
		uint8_t *p = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED)
			break;
		tcemu_maps_created(p, 2 * PAGE);
		if (probe(p, 2, true, &asked) != 0)
			__atomic_add_fetch(&c->errors, 1, __ATOMIC_RELAXED);
		munmap(p + PAGE, PAGE);
		tcemu_maps_changed(p + PAGE, PAGE);
		if (probe(p, 2, false, &asked) != -EFAULT)
			__atomic_add_fetch(&c->errors, 1, __ATOMIC_RELAXED);
		munmap(p, PAGE);
		tcemu_maps_changed(p, PAGE);
	}
	__atomic_store_n(&c->stop, 1, __ATOMIC_RELAXED);
	return NULL;
}

TEST(reports_and_checks_from_several_threads)
{
	struct churn c = { .stable = map_pages(4) };
	pthread_t a, b;

	tcemu_maps_created(c.stable, 4 * PAGE);
	CHECK_EQ(pthread_create(&a, NULL, checker, &c), 0);
	CHECK_EQ(pthread_create(&b, NULL, churner, &c), 0);
	pthread_join(b, NULL);
	pthread_join(a, NULL);
	CHECK_EQ(c.errors, 0);
	tcemu_maps_changed(c.stable, 4 * PAGE);
	munmap(c.stable, 4 * PAGE);
}

HARNESS_MAIN(T(only_reported_mappings_are_remembered), T(a_change_makes_the_next_check_ask),
	     T(an_answer_older_than_a_report_is_not_kept), T(a_forked_child_remembers_nothing),
	     T(more_mappings_than_slots), T(reports_and_checks_from_several_threads))
