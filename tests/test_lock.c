/* SPDX-License-Identifier: MIT */
/*
 * The debug assertion and the lock wrappers (src/lock.h). The wrappers must lock in every build;
 * in a debug build they must also know their holder, and a failed assertion must abort with its
 * file, line and condition: the death tests run it in a forked child and read what it wrote. With
 * NDEBUG an assertion must vanish (its condition not even evaluated) and the death tests are
 * skipped with a message.
 */
#include <errno.h>
#include <pthread.h>
#include <unistd.h>

#include "death.h"
#include "harness.h"
#include "util/lock.h"

#define THREADS 4
#define ROUNDS 20000

/* ---- locking works in every build ---- */

struct counted {
	struct tcemu_mutex m;
	struct tcemu_rwlock l;
	uint64_t value;  /* under m, or under l exclusive */
	uint64_t torn;   /* a reader saw an odd value under l shared */
};

static void *add_under_mutex(void *arg)
{
	struct counted *c = arg;

	for (int i = 0; i < ROUNDS; i++) {
		tcemu_mutex_lock(&c->m);
		c->value++;
		tcemu_mutex_unlock(&c->m);
	}
	return NULL;
}

/* A writer leaves the value odd inside its section; readers must never see that. */
static void *write_and_read(void *arg)
{
	struct counted *c = arg;

	for (int i = 0; i < ROUNDS; i++) {
		if (i % 4 == 0) {
			tcemu_rwlock_wrlock(&c->l);
			c->value++;
			c->value++;
			tcemu_rwlock_unlock(&c->l);
		} else {
			tcemu_rwlock_rdlock(&c->l);
			if (c->value & 1)
				__atomic_add_fetch(&c->torn, 1, __ATOMIC_RELAXED);
			tcemu_rwlock_unlock(&c->l);
		}
	}
	return NULL;
}

static void run_threads(void *(*fn)(void *), struct counted *c)
{
	pthread_t t[THREADS];

	for (int i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, fn, c);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
}

TEST(mutex_excludes)
{
	struct counted c = { .value = 0 };

	CHECK_EQ(tcemu_mutex_init(&c.m), 0);
	run_threads(add_under_mutex, &c);
	CHECK_U64(c.value, (uint64_t)THREADS * ROUNDS);
	/* Held by this thread: another cannot take it. */
	tcemu_mutex_lock(&c.m);
	CHECK_EQ(pthread_mutex_trylock(&c.m.m), EBUSY);
	tcemu_mutex_unlock(&c.m);
	CHECK_EQ(pthread_mutex_trylock(&c.m.m), 0);
	pthread_mutex_unlock(&c.m.m);
	tcemu_mutex_destroy(&c.m);
}

TEST(rwlock_excludes)
{
	struct counted c = { .value = 0 };

	CHECK_EQ(tcemu_rwlock_init(&c.l), 0);
	run_threads(write_and_read, &c);
	CHECK_U64(c.value, (uint64_t)THREADS * (ROUNDS / 4) * 2);
	CHECK_U64(c.torn, 0);
	/* Shared: another reader may come in, a writer may not. */
	tcemu_rwlock_rdlock(&c.l);
	CHECK_EQ(pthread_rwlock_tryrdlock(&c.l.l), 0);
	pthread_rwlock_unlock(&c.l.l);
	CHECK_EQ(pthread_rwlock_trywrlock(&c.l.l), EBUSY);
	tcemu_rwlock_unlock(&c.l);
	tcemu_rwlock_wrlock(&c.l);
	CHECK_EQ(pthread_rwlock_tryrdlock(&c.l.l), EBUSY);
	tcemu_rwlock_unlock(&c.l);
	tcemu_rwlock_destroy(&c.l);
}

#ifdef NDEBUG

/* Release: a false assertion does nothing and its condition is not evaluated. */
TEST(release_assert_vanishes)
{
	int evaluated = 0;

	TCEMU_ASSERT(++evaluated == 100);
	TCEMU_ASSERT(1 + 1 == 3);
	CHECK_EQ(evaluated, 0);
}

TEST(holder_checks_and_death_tests)
{
	SKIP("built with NDEBUG: assertions and holder tracking are compiled out (the debug builds run them)");
}

HARNESS_MAIN(T(mutex_excludes), T(rwlock_excludes), T(release_assert_vanishes), T(holder_checks_and_death_tests))

#else

/* ---- the holder is known (debug builds) ---- */

struct holder {
	struct tcemu_mutex m;
	struct tcemu_rwlock l;
	bool shared;        /* take l shared rather than m */
	int ready, done;    /* atomic handshake */
	bool saw_held;      /* what the holder thread saw */
};

/* Takes the lock, tells the main thread, waits for it to finish looking, releases. */
static void *hold(void *arg)
{
	struct holder *h = arg;

	if (h->shared)
		tcemu_rwlock_rdlock(&h->l);
	else
		tcemu_mutex_lock(&h->m);
	h->saw_held = h->shared ? tcemu_rwlock_held(&h->l) : tcemu_mutex_held(&h->m);
	__atomic_store_n(&h->ready, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&h->done, __ATOMIC_ACQUIRE))
		usleep(100);
	if (h->shared)
		tcemu_rwlock_unlock(&h->l);
	else
		tcemu_mutex_unlock(&h->m);
	return NULL;
}

static void start_holder(struct holder *h, pthread_t *t)
{
	pthread_create(t, NULL, hold, h);
	while (!__atomic_load_n(&h->ready, __ATOMIC_ACQUIRE))
		usleep(100);
}

static void stop_holder(struct holder *h, pthread_t t)
{
	__atomic_store_n(&h->done, 1, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
}

TEST(mutex_knows_owner)
{
	struct holder h = { .shared = false };
	pthread_t t;
	bool mine;

	CHECK_EQ(tcemu_mutex_init(&h.m), 0);
	CHECK(!tcemu_mutex_held(&h.m));
	tcemu_mutex_lock(&h.m);
	CHECK(tcemu_mutex_held(&h.m));
	TCEMU_ASSERT_HELD(&h.m);
	tcemu_mutex_unlock(&h.m);
	CHECK(!tcemu_mutex_held(&h.m));
	TCEMU_ASSERT_NOT_HELD(&h.m);
	/* Held by another thread: it knows, this one does not hold it. */
	start_holder(&h, &t);
	mine = tcemu_mutex_held(&h.m);
	stop_holder(&h, t);
	CHECK(h.saw_held);
	CHECK(!mine);
	CHECK(tcemu_mutex_idle(&h.m));
	tcemu_mutex_destroy(&h.m);
}

TEST(rwlock_knows_holders)
{
	struct holder h = { .shared = true };
	pthread_t t;
	bool wr, any;

	CHECK_EQ(tcemu_rwlock_init(&h.l), 0);
	CHECK(!tcemu_rwlock_held(&h.l) && !tcemu_rwlock_wrheld(&h.l));
	tcemu_rwlock_wrlock(&h.l);
	CHECK(tcemu_rwlock_wrheld(&h.l) && tcemu_rwlock_held(&h.l));
	TCEMU_ASSERT_WRLOCKED(&h.l);
	TCEMU_ASSERT_RWLOCKED(&h.l);
	tcemu_rwlock_unlock(&h.l);
	CHECK(tcemu_rwlock_idle(&h.l));
	/* Shared twice by this thread: held, not exclusive; both unlocks count down. */
	tcemu_rwlock_rdlock(&h.l);
	tcemu_rwlock_rdlock(&h.l);
	CHECK(tcemu_rwlock_held(&h.l) && !tcemu_rwlock_wrheld(&h.l));
	TCEMU_ASSERT_RWLOCKED(&h.l);
	tcemu_rwlock_unlock(&h.l);
	CHECK(tcemu_rwlock_held(&h.l));
	tcemu_rwlock_unlock(&h.l);
	CHECK(tcemu_rwlock_idle(&h.l));
	/* Shared by another thread. */
	start_holder(&h, &t);
	wr = tcemu_rwlock_wrheld(&h.l);
	any = tcemu_rwlock_held(&h.l);
	stop_holder(&h, t);
	CHECK(h.saw_held);
	CHECK(!wr && any);
	CHECK(tcemu_rwlock_idle(&h.l));
	tcemu_rwlock_destroy(&h.l);
}

/* ---- death tests: each runs in a forked child that must abort with the right message ---- */

static void false_assert(void)
{
	int two = 2;
	TCEMU_ASSERT(two + 1 == 4);
}

static void true_assert(void)
{
	int two = 2;
	TCEMU_ASSERT(two + 2 == 4);
}

static void held_but_free(void)
{
	static struct tcemu_mutex m;
	tcemu_mutex_init(&m);
	TCEMU_ASSERT_HELD(&m);
}

static void held_by_other(void)
{
	static struct holder h;
	pthread_t t;

	tcemu_mutex_init(&h.m);
	start_holder(&h, &t); /* never stopped: the child dies first */
	TCEMU_ASSERT_HELD(&h.m);
}

static void lock_twice(void)
{
	static struct tcemu_mutex m;
	tcemu_mutex_init(&m);
	tcemu_mutex_lock(&m);
	tcemu_mutex_lock(&m); /* a plain mutex would hang here */
}

static void unlock_free_mutex(void)
{
	static struct tcemu_mutex m;
	tcemu_mutex_init(&m);
	tcemu_mutex_unlock(&m);
}

static void wrlocked_but_shared(void)
{
	static struct tcemu_rwlock l;
	tcemu_rwlock_init(&l);
	tcemu_rwlock_rdlock(&l);
	TCEMU_ASSERT_WRLOCKED(&l);
}

static void rwlocked_but_free(void)
{
	static struct tcemu_rwlock l;
	tcemu_rwlock_init(&l);
	tcemu_rwlock_wrlock(&l);
	tcemu_rwlock_unlock(&l);
	TCEMU_ASSERT_RWLOCKED(&l);
}

static void wrlock_twice(void)
{
	static struct tcemu_rwlock l;
	tcemu_rwlock_init(&l);
	tcemu_rwlock_wrlock(&l);
	tcemu_rwlock_wrlock(&l);
}

static void unlock_free_rwlock(void)
{
	static struct tcemu_rwlock l;
	tcemu_rwlock_init(&l);
	tcemu_rwlock_unlock(&l);
}

TEST(assert_aborts_with_message)
{
	char why[1400];

	CHECK_DIES(false_assert, "test_lock.c", "two + 1 == 4");
	/* The death test can fail: a true assertion survives. */
	CHECK(death(true_assert, "test_lock.c", NULL, "two + 2 == 4", why, sizeof(why)) != NULL);
	CHECK_CONTAINS(why, "did not abort");
}

TEST(mutex_misuse_aborts)
{
	CHECK_DIES(held_but_free, "test_lock.c", "tcemu_mutex_held(&m)");
	CHECK_DIES(held_by_other, "test_lock.c", "tcemu_mutex_held(&h.m)");
	CHECK_DIES(lock_twice, "lock.h", "!tcemu_mutex_held(m)");
	CHECK_DIES(unlock_free_mutex, "lock.h", "tcemu_mutex_held(m)");
}

TEST(rwlock_misuse_aborts)
{
	CHECK_DIES(wrlocked_but_shared, "test_lock.c", "tcemu_rwlock_wrheld(&l)");
	CHECK_DIES(rwlocked_but_free, "test_lock.c", "tcemu_rwlock_held(&l)");
	CHECK_DIES(wrlock_twice, "lock.h", "!tcemu_rwlock_wrheld(l)");
	CHECK_DIES(unlock_free_rwlock, "lock.h", "before != 0");
}

HARNESS_MAIN(T(mutex_excludes), T(rwlock_excludes), T(mutex_knows_owner), T(rwlock_knows_holders),
	     T(assert_aborts_with_message), T(mutex_misuse_aborts), T(rwlock_misuse_aborts))

#endif
