/* SPDX-License-Identifier: MIT */
/*
 * Private: a mutex and a read-write lock that know who holds them in debug builds, so that a
 * function that must be called with a lock held can say so with TCEMU_ASSERT_HELD(m) (mutex),
 * TCEMU_ASSERT_WRLOCKED(l) or TCEMU_ASSERT_RWLOCKED(l) (rwlock), one that must not with
 * TCEMU_ASSERT_NOT_HELD(m), one that reads without the lock while its writers are kept out another
 * way with TCEMU_ASSERT_NO_OTHER_WRITER(l), and a thread that takes a lock it already holds aborts
 * instead of deadlocking. The VFIO host's and the core's locks use them (vfio/host_priv.h).
 *
 * Release builds (NDEBUG) compile the bookkeeping out: the structs are the bare pthread objects and
 * every wrapper is the pthread call, nothing more.
 *
 * Debug bookkeeping:
 * - A mutex records its owner thread (pthread_self() as a uintptr_t, 0 when free) just after it is
 *   taken and clears it just before it is released. Only the owner writes the field; others may
 *   read it at any time, so it is accessed atomically (relaxed: a thread only needs to see its own
 *   writes to know whether it is the owner).
 * - A rwlock records the writer thread the same way, and counts its readers (atomically). A reader
 *   count cannot say which threads read, so TCEMU_ASSERT_RWLOCKED proves "this thread holds it
 *   exclusive, or someone holds it shared": the caller's own read lock is the normal reason.
 *
 * These wrappers take no other lock and call nothing: they add no edge to any lock order.
 */
#ifndef TCEMU_SRC_LOCK_H
#define TCEMU_SRC_LOCK_H

#include <errno.h>
#include <pthread.h>
#include <stdint.h>

#include "util/internal.h"

_Static_assert(sizeof(pthread_t) <= sizeof(uintptr_t), "a thread id must fit the debug owner field");

struct tcemu_mutex {
	pthread_mutex_t m;
#ifndef NDEBUG
	uintptr_t owner; /* atomic; 0: not held */
#endif
};

struct tcemu_rwlock {
	pthread_rwlock_t l;
#ifndef NDEBUG
	uintptr_t writer; /* atomic; 0: not held exclusive */
	uint32_t readers; /* atomic; threads holding it shared */
#endif
};

#ifdef NDEBUG
_Static_assert(sizeof(struct tcemu_mutex) == sizeof(pthread_mutex_t), "release: a bare mutex");
_Static_assert(sizeof(struct tcemu_rwlock) == sizeof(pthread_rwlock_t), "release: a bare rwlock");
#endif

/*
 * The debug queries behind the assertions: for assertions only. In release builds they are never
 * evaluated (an assertion only type-checks its condition), so there they are stubs.
 */
#ifndef NDEBUG
static inline uintptr_t tcemu_thread_self(void)
{
	return (uintptr_t)pthread_self();
}

static inline bool tcemu_mutex_held(const struct tcemu_mutex *m)
{
	return __atomic_load_n(&m->owner, __ATOMIC_RELAXED) == tcemu_thread_self();
}

static inline bool tcemu_mutex_idle(const struct tcemu_mutex *m)
{
	return __atomic_load_n(&m->owner, __ATOMIC_RELAXED) == 0;
}

static inline bool tcemu_rwlock_wrheld(const struct tcemu_rwlock *l)
{
	return __atomic_load_n(&l->writer, __ATOMIC_RELAXED) == tcemu_thread_self();
}

static inline bool tcemu_rwlock_held(const struct tcemu_rwlock *l)
{
	return tcemu_rwlock_wrheld(l) || __atomic_load_n(&l->readers, __ATOMIC_RELAXED) != 0;
}

static inline bool tcemu_rwlock_idle(const struct tcemu_rwlock *l)
{
	return __atomic_load_n(&l->writer, __ATOMIC_RELAXED) == 0 && __atomic_load_n(&l->readers, __ATOMIC_RELAXED) == 0;
}

static inline bool tcemu_rwlock_no_other_writer(const struct tcemu_rwlock *l)
{
	uintptr_t w = __atomic_load_n(&l->writer, __ATOMIC_RELAXED);

	return w == 0 || w == tcemu_thread_self();
}

/* Records the calling thread as a lock's holder, or that nobody holds it exclusive. */
#define TCEMU_HOLDER_SET(field) __atomic_store_n(&(field), tcemu_thread_self(), __ATOMIC_RELAXED)
#define TCEMU_HOLDER_CLEAR(field) __atomic_store_n(&(field), 0, __ATOMIC_RELAXED)
#else
#define TCEMU_HOLDER_SET(field) ((void)0)
#define TCEMU_HOLDER_CLEAR(field) ((void)0)
static inline bool tcemu_mutex_held(const struct tcemu_mutex *m) { (void)m; return true; }
static inline bool tcemu_mutex_idle(const struct tcemu_mutex *m) { (void)m; return true; }
static inline bool tcemu_rwlock_wrheld(const struct tcemu_rwlock *l) { (void)l; return true; }
static inline bool tcemu_rwlock_held(const struct tcemu_rwlock *l) { (void)l; return true; }
static inline bool tcemu_rwlock_idle(const struct tcemu_rwlock *l) { (void)l; return true; }
static inline bool tcemu_rwlock_no_other_writer(const struct tcemu_rwlock *l) { (void)l; return true; }
#endif

/* The calling thread holds mutex m. */
#define TCEMU_ASSERT_HELD(m) TCEMU_ASSERT(tcemu_mutex_held(m))
/* The calling thread does not hold mutex m (it is about to take it, or calls out). */
#define TCEMU_ASSERT_NOT_HELD(m) TCEMU_ASSERT(!tcemu_mutex_held(m))
/* The calling thread holds rwlock l exclusive. */
#define TCEMU_ASSERT_WRLOCKED(l) TCEMU_ASSERT(tcemu_rwlock_wrheld(l))
/* rwlock l is held: exclusive by the calling thread, or shared (by someone: see above). */
#define TCEMU_ASSERT_RWLOCKED(l) TCEMU_ASSERT(tcemu_rwlock_held(l))
/*
 * No other thread holds rwlock l exclusive, so what it protects is not being written: for code
 * that may read without l because its writers are kept out another way (the guest gate: an
 * exclusive holder of a container's or a process's lock first waits for the lock-free readers,
 * guest/gate.h). Weaker than TCEMU_ASSERT_RWLOCKED: it fails only when the race happens.
 */
#define TCEMU_ASSERT_NO_OTHER_WRITER(l) TCEMU_ASSERT(tcemu_rwlock_no_other_writer(l))

/* 0 or a negative errno. */
static inline int tcemu_mutex_init(struct tcemu_mutex *m)
{
	TCEMU_HOLDER_CLEAR(m->owner);
	return -pthread_mutex_init(&m->m, NULL);
}

static inline void tcemu_mutex_destroy(struct tcemu_mutex *m)
{
	TCEMU_ASSERT(tcemu_mutex_idle(m));
	pthread_mutex_destroy(&m->m);
}

static inline void tcemu_mutex_lock(struct tcemu_mutex *m)
{
	TCEMU_ASSERT_NOT_HELD(m); /* would deadlock */
	pthread_mutex_lock(&m->m);
	TCEMU_HOLDER_SET(m->owner);
}

/* 0, or -EBUSY when anyone holds it (the caller included: for a signal handler's try). */
static inline int tcemu_mutex_trylock(struct tcemu_mutex *m)
{
	if (pthread_mutex_trylock(&m->m) != 0)
		return -EBUSY;
	TCEMU_HOLDER_SET(m->owner);
	return 0;
}

static inline void tcemu_mutex_unlock(struct tcemu_mutex *m)
{
	TCEMU_ASSERT_HELD(m);
	TCEMU_HOLDER_CLEAR(m->owner);
	pthread_mutex_unlock(&m->m);
}

/* 0 or a negative errno. */
static inline int tcemu_rwlock_init(struct tcemu_rwlock *l)
{
	TCEMU_HOLDER_CLEAR(l->writer);
#ifndef NDEBUG
	l->readers = 0;
#endif
	return -pthread_rwlock_init(&l->l, NULL);
}

static inline void tcemu_rwlock_destroy(struct tcemu_rwlock *l)
{
	TCEMU_ASSERT(tcemu_rwlock_idle(l));
	pthread_rwlock_destroy(&l->l);
}

static inline void tcemu_rwlock_rdlock(struct tcemu_rwlock *l)
{
	TCEMU_ASSERT(!tcemu_rwlock_wrheld(l)); /* would deadlock */
	pthread_rwlock_rdlock(&l->l);
#ifndef NDEBUG
	__atomic_add_fetch(&l->readers, 1, __ATOMIC_RELAXED);
#endif
}

static inline void tcemu_rwlock_wrlock(struct tcemu_rwlock *l)
{
	TCEMU_ASSERT(!tcemu_rwlock_wrheld(l)); /* would deadlock */
	pthread_rwlock_wrlock(&l->l);
	TCEMU_HOLDER_SET(l->writer);
}

/* Releases l, held shared or exclusive by the calling thread. */
static inline void tcemu_rwlock_unlock(struct tcemu_rwlock *l)
{
#ifndef NDEBUG
	if (tcemu_rwlock_wrheld(l)) {
		TCEMU_HOLDER_CLEAR(l->writer);
	} else {
		uint32_t before = __atomic_fetch_sub(&l->readers, 1, __ATOMIC_RELAXED);
		TCEMU_ASSERT(before != 0); /* not held at all */
	}
#endif
	pthread_rwlock_unlock(&l->l);
}

#endif
