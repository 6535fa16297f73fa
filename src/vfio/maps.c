/* SPDX-License-Identifier: MIT */
/*
 * The record of the process's mappings (tcemu/maps.h): mappings a layer reported created, each
 * with what the kernel said of it the first time a check fell inside it.
 *
 * Model: KNOWN slots. A created report takes a free slot, or the one used least recently (a
 * counter stamps each use). A slot holds the reported range [start, end) and, once a kernel query
 * answered for a range inside it, the part of it that query's mapping covers [vstart, vend), with
 * its access and page shift: a check that falls inside [vstart, vend) with the access it had is
 * answered from the slot. A changed report drops every slot it overlaps (len 0: all of them).
 * The kernel's mapping may extend past the reported range (merged with a neighbour) or be only a
 * part of it (split by mlock or madvise, which change no access): only the intersection is kept.
 *
 * Reports never wait: one that finds the lock busy bumps the generation and sets `forget`, and the
 * next holder of the lock forgets every slot first. So a report from a signal handler that
 * interrupted a check, or racing another thread, costs the record, never a deadlock. Checks and
 * learning never wait either (a busy lock: the kernel is asked); and so a fork that copied the
 * lock held (another thread was inside) leaves the child with a record it never uses, never a
 * hang. A child starts with nothing remembered (the record belongs to a pid): its mappings are the
 * parent's except those marked MADV_DONTFORK, which nobody reports.
 *
 * A query's answer is kept only if no report came between the generation read before the query
 * and the learning (maps_learn compares them under the lock), so an unmapping reported while the
 * query was in flight is never papered over.
 *
 * Locking: `lock` (a leaf) guards the slots, `clock`, `pid`; `gen`, `forget` and the counters are
 * atomics, written without it.
 */
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include <tcemu/maps.h>

#include "util/internal.h"
#include "vfio/host_priv.h"
#include "vfio/maps.h"

#define KNOWN 16u

struct known {
	uint64_t start, end;   /* reported created; end == 0: a free slot */
	uint64_t vstart, vend; /* the part a kernel query described; vend == 0: none yet */
	uint64_t used;         /* stamp of the last use */
	uint32_t shift;
	bool writable;
};

static struct {
	pthread_mutex_t lock;
	uint64_t gen;     /* atomic: bumped by every report */
	uint32_t forget;  /* atomic: a report found the lock busy */
	uint64_t clock;   /* the last stamp handed out */
	pid_t pid;        /* whose mappings the slots describe */
	struct known k[KNOWN];
	uint64_t asked, remembered; /* atomic statistics */
} rec = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* With the lock: forgets everything when a report asked to, or when this is a forked child. */
static void settle(void)
{
	const pid_t pid = tcemu_self_pid();

	if ((__atomic_load_n(&rec.forget, __ATOMIC_RELAXED) && __atomic_exchange_n(&rec.forget, 0, __ATOMIC_ACQUIRE)) ||
	    rec.pid != pid) {
		memset(rec.k, 0, sizeof(rec.k));
		rec.pid = pid;
	}
}

/* With the lock: drops the slots that overlap [a, b) (all for b == a == 0). */
static void drop(uint64_t a, uint64_t b)
{
	for (unsigned i = 0; i < KNOWN; i++) {
		struct known *k = &rec.k[i];

		if (k->end && (b == 0 || (k->start < b && a < k->end)))
			*k = (struct known){ 0 };
	}
}

/* Takes the lock for a report, or (busy) tells the next holder to forget everything. */
static bool report_lock(void)
{
	__atomic_add_fetch(&rec.gen, 1, __ATOMIC_RELEASE);
	if (pthread_mutex_trylock(&rec.lock) == 0) {
		settle();
		return true;
	}
	__atomic_store_n(&rec.forget, 1, __ATOMIC_RELEASE);
	return false;
}

TCEMU_EXPORT void tcemu_maps_changed(void *addr, size_t len)
{
	const uint64_t a = (uint64_t)(uintptr_t)addr;

	if (!report_lock())
		return;
	/* A range that wraps is taken as everything. */
	drop(len && a + len > a ? a : 0, len && a + len > a ? a + len : 0);
	pthread_mutex_unlock(&rec.lock);
}

TCEMU_EXPORT void tcemu_maps_created(void *addr, size_t len)
{
	const uint64_t a = (uint64_t)(uintptr_t)addr;
	struct known *victim = &rec.k[0];

	if (len == 0 || a + len <= a || !report_lock())
		return;
	drop(a, a + len); /* what it replaced (MAP_FIXED) */
	for (unsigned i = 0; i < KNOWN; i++) {
		struct known *k = &rec.k[i];

		if (!k->end) {
			victim = k;
			break;
		}
		if (k->used < victim->used)
			victim = k;
	}
	*victim = (struct known){ .start = a, .end = a + len, .used = ++rec.clock };
	pthread_mutex_unlock(&rec.lock);
}

TCEMU_EXPORT void tcemu_maps_stats(struct tcemu_maps_stats *st)
{
	if (!st)
		return;
	st->asked = __atomic_load_n(&rec.asked, __ATOMIC_RELAXED);
	st->remembered = __atomic_load_n(&rec.remembered, __ATOMIC_RELAXED);
}

bool maps_lookup(uint64_t ua, uint64_t end, bool need_write, uint32_t *shift)
{
	bool hit = false;

	if (pthread_mutex_trylock(&rec.lock) == 0) {
		settle();
		for (unsigned i = 0; i < KNOWN; i++) {
			struct known *k = &rec.k[i];

			if (k->vstart <= ua && end <= k->vend && (k->writable || !need_write)) {
				k->used = ++rec.clock;
				*shift = k->shift;
				hit = true;
				break;
			}
		}
		pthread_mutex_unlock(&rec.lock);
	}
	__atomic_add_fetch(hit ? &rec.remembered : &rec.asked, 1, __ATOMIC_RELAXED);
	return hit;
}

uint64_t maps_generation(void)
{
	return __atomic_load_n(&rec.gen, __ATOMIC_ACQUIRE);
}

void maps_learn(uint64_t gen, uint64_t ua, uint64_t end, const struct maps_seen *seen)
{
	if (seen->start > ua || end > seen->end || pthread_mutex_trylock(&rec.lock) != 0)
		return;
	settle();
	if (__atomic_load_n(&rec.gen, __ATOMIC_ACQUIRE) == gen) {
		for (unsigned i = 0; i < KNOWN; i++) {
			struct known *k = &rec.k[i];

			if (k->end && k->start <= ua && end <= k->end) {
				k->vstart = seen->start > k->start ? seen->start : k->start;
				k->vend = seen->end < k->end ? seen->end : k->end;
				k->writable = seen->writable;
				k->shift = seen->shift;
				k->used = ++rec.clock;
				break;
			}
		}
	}
	pthread_mutex_unlock(&rec.lock);
}
