/* SPDX-License-Identifier: MIT */
/* Grace periods for lock-free readers: see grace.h. */
#include <linux/membarrier.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util/grace.h"

__thread struct grace_slot *grace_self __attribute__((tls_model("initial-exec")));
int grace_reader_fence = 1; /* until membarrier is known to work, readers fence */

static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER;
static struct grace_slot *slots;  /* the list; grows, never shrinks */
static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_key_t exit_key;
static bool membarrier_ok; /* set by setup(), then under slots_lock */

static void slot_release(void *arg)
{
	struct grace_slot *s = arg;

	pthread_mutex_lock(&slots_lock);
	s->used = false;
	pthread_mutex_unlock(&slots_lock);
}

static void fork_prepare(void)
{
	pthread_mutex_lock(&slots_lock);
}

static void fork_parent(void)
{
	pthread_mutex_unlock(&slots_lock);
}

/* The child has one thread: the others' slots are free, and none of them is inside a section. */
static void fork_child(void)
{
	for (struct grace_slot *s = slots; s; s = s->next) {
		if (s == grace_self)
			continue;
		s->seq += s->seq & 1;
		s->used = false;
	}
	pthread_mutex_unlock(&slots_lock);
}

static void setup(void)
{
	(void)pthread_key_create(&exit_key, slot_release);
	(void)pthread_atfork(fork_prepare, fork_parent, fork_child);
	/* Registration is required before the expedited command may be used in this process. */
	if (syscall(__NR_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0) {
		membarrier_ok = true;
		__atomic_store_n(&grace_reader_fence, 0, __ATOMIC_SEQ_CST);
	}
}

struct grace_slot *grace_slot_attach(void)
{
	struct grace_slot *s;

	pthread_once(&once, setup);
	pthread_mutex_lock(&slots_lock);
	for (s = slots; s && s->used; s = s->next)
		;
	if (!s) {
		s = aligned_alloc(_Alignof(struct grace_slot), sizeof(*s));
		if (!s)
			goto out;
		*s = (struct grace_slot){ .next = slots };
		__atomic_store_n(&slots, s, __ATOMIC_RELEASE);
	}
	s->used = true;
	grace_self = s;
	/* The key's value is what the destructor gets at thread exit; a failure only keeps the slot. */
	(void)pthread_setspecific(exit_key, s);
out:
	pthread_mutex_unlock(&slots_lock);
	return s;
}

/*
 * Makes every thread of the process that is running now execute a full memory barrier. If the
 * kernel refuses the barrier after having registered it (a seccomp filter installed since),
 * readers fence for themselves from then on; sections begun before they learnt it had their
 * announcement in a store buffer at most, which drains long before the millisecond waited here.
 */
static void barrier_all(void)
{
	if (membarrier_ok && syscall(__NR_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) != 0) {
		membarrier_ok = false;
		__atomic_store_n(&grace_reader_fence, 1, __ATOMIC_SEQ_CST);
		usleep(1000);
	}
	grace_full_fence();
}

void grace_wait(void)
{
	TCEMU_ASSERT(!grace_in_section());
	pthread_once(&once, setup);
	pthread_mutex_lock(&slots_lock);
	barrier_all();
	for (struct grace_slot *s = slots; s; s = s->next) {
		uint64_t seq = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
		unsigned spins = 0;

		if (!(seq & 1))
			continue;
		while (__atomic_load_n(&s->seq, __ATOMIC_ACQUIRE) == seq) {
			if (++spins < 64)
				tcemu_cpu_relax();
			else
				sched_yield();
		}
	}
	pthread_mutex_unlock(&slots_lock);
}
