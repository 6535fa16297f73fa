/* SPDX-License-Identifier: MIT */
/*
 * Grace periods (src/util/grace.h): a writer that unpublishes an object and waits may free it
 * while readers keep loading the published pointer, and no reader ever sees a freed object.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/grace.h"

#include "harness.h"

#define MAGIC 0x600dcafe5eedull
#define SWAPS 4000
#define MIN_SECTIONS 20000ul /* per reader, while the writer swaps */
#define READERS 2

struct obj {
	uint64_t magic;
	uint64_t serial;
};

static struct obj *published;
static atomic_bool stop;

struct reader {
	atomic_ulong sections;
	unsigned long bad;
	uint64_t last_serial;
	unsigned long went_back;
};

static void *reader_loop(void *arg)
{
	struct reader *r = arg;

	while (!atomic_load(&stop)) {
		if (grace_read_enter())
			continue;
		struct obj *o = __atomic_load_n(&published, __ATOMIC_ACQUIRE);
		/* Read the object twice over a short while: a writer must not free it meanwhile. */
		uint64_t m1 = __atomic_load_n(&o->magic, __ATOMIC_RELAXED);
		for (int i = 0; i < 16; i++)
			tcemu_cpu_relax();
		uint64_t m2 = __atomic_load_n(&o->magic, __ATOMIC_RELAXED);
		uint64_t serial = o->serial;
		grace_read_exit();
		if (m1 != MAGIC || m2 != MAGIC)
			r->bad++;
		if (serial < r->last_serial)
			r->went_back++;
		r->last_serial = serial;
		atomic_fetch_add_explicit(&r->sections, 1, memory_order_relaxed);
	}
	return NULL;
}

static bool readers_done(struct reader *rd)
{
	for (int i = 0; i < READERS; i++)
		if (atomic_load_explicit(&rd[i].sections, memory_order_relaxed) < MIN_SECTIONS)
			return false;
	return true;
}

TEST(readers_never_see_a_freed_object)
{
	struct reader rd[READERS] = { { 0 } };
	pthread_t th[READERS];
	struct obj *first = malloc(sizeof(*first));

	CHECK(first != NULL);
	*first = (struct obj){ .magic = MAGIC, .serial = 0 };
	__atomic_store_n(&published, first, __ATOMIC_RELEASE);
	atomic_store(&stop, false);
	for (int i = 0; i < READERS; i++)
		CHECK_EQ(pthread_create(&th[i], NULL, reader_loop, &rd[i]), 0);
	for (uint64_t n = 1; n <= SWAPS || !readers_done(rd); n++) {
		struct obj *next = malloc(sizeof(*next)), *old = published;

		if (!next)
			break;
		*next = (struct obj){ .magic = MAGIC, .serial = n };
		__atomic_store_n(&published, next, __ATOMIC_RELEASE);
		grace_wait();
		/* No reader can hold old now: poison it (a reader that still did would see it), free it. */
		__atomic_store_n(&old->magic, 0xdeadull, __ATOMIC_RELAXED);
		free(old);
	}
	atomic_store(&stop, true);
	for (int i = 0; i < READERS; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < READERS; i++) {
		CHECK_EQ(rd[i].bad, 0);
		CHECK_EQ(rd[i].went_back, 0);
		CHECK(atomic_load(&rd[i].sections) >= MIN_SECTIONS);
	}
	free(published);
}

struct holder {
	atomic_int state; /* 1: inside its section, 2: asked to leave, 3: left */
};

static void *hold_section(void *arg)
{
	struct holder *h = arg;

	if (grace_read_enter())
		return NULL;
	atomic_store(&h->state, 1);
	while (atomic_load(&h->state) != 2)
		sched_yield();
	usleep(20000);
	atomic_store(&h->state, 3);
	grace_read_exit();
	return NULL;
}

static void *waiter(void *arg)
{
	atomic_int *done = arg;

	grace_wait();
	atomic_store(done, 1);
	return NULL;
}

TEST(a_grace_period_waits_for_a_section_begun_before_it)
{
	struct holder h = { 0 };
	atomic_int done = 0;
	pthread_t a, b;

	CHECK_EQ(pthread_create(&a, NULL, hold_section, &h), 0);
	while (atomic_load(&h.state) != 1)
		sched_yield();
	CHECK_EQ(pthread_create(&b, NULL, waiter, &done), 0);
	usleep(20000);
	CHECK_EQ(atomic_load(&done), 0); /* still waiting: the section is open */
	atomic_store(&h.state, 2);
	pthread_join(b, NULL);
	CHECK_EQ(atomic_load(&h.state), 3); /* it returned only after the section ended */
	pthread_join(a, NULL);
}

static void *one_section(void *arg)
{
	(void)arg;
	if (grace_read_enter() == 0)
		grace_read_exit();
	return NULL;
}

TEST(a_grace_period_does_not_wait_for_idle_or_exited_threads)
{
	pthread_t a;
	struct timespec t0, t1;

	/* A thread that read once and exited leaves its slot free, outside any section. */
	CHECK_EQ(pthread_create(&a, NULL, one_section, NULL), 0);
	pthread_join(a, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < 100; i++)
		grace_wait();
	clock_gettime(CLOCK_MONOTONIC, &t1);
	CHECK((t1.tv_sec - t0.tv_sec) < 2);
}

static void *enter_and_stay(void *arg)
{
	atomic_int *in = arg;

	if (grace_read_enter() == 0)
		atomic_store(in, 1);
	while (atomic_load(in) != 2)
		sched_yield();
	grace_read_exit();
	return NULL;
}

TEST(a_forked_child_does_not_wait_for_the_parents_threads)
{
	atomic_int in = 0;
	pthread_t a;
	pid_t pid;
	int status = 0;

	CHECK_EQ(pthread_create(&a, NULL, enter_and_stay, &in), 0);
	while (atomic_load(&in) != 1)
		sched_yield();
	pid = fork();
	if (pid == 0) {
		alarm(10); /* a hang is a failure, not a stuck test */
		grace_wait();
		_exit(0);
	}
	atomic_store(&in, 2);
	pthread_join(a, NULL);
	CHECK(pid > 0);
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

HARNESS_MAIN(T(readers_never_see_a_freed_object), T(a_grace_period_waits_for_a_section_begun_before_it),
	     T(a_grace_period_does_not_wait_for_idle_or_exited_threads),
	     T(a_forked_child_does_not_wait_for_the_parents_threads))
