/* SPDX-License-Identifier: MIT */
/*
 * Grace periods: when an object that lock-free readers may still hold can be freed.
 *
 * A reader brackets its use of published objects with grace_read_enter() and grace_read_exit();
 * it must not sleep or call grace_wait() in between (sections are short: one hypercall). A writer
 * that unpublishes an object (swaps the pointer that readers load, or takes it out of a
 * published list) calls grace_wait() before freeing it: grace_wait() returns once every read
 * section that had begun when it was called has ended, so no reader can still see the object.
 *
 * Each thread that reads owns a slot with a sequence number, odd inside a section. The reader's
 * side is two plain stores and no atomic read-modify-write: the writer makes every running thread
 * of the process execute a full barrier (membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)) between
 * unpublishing and reading the slots, so a reader either had its odd number visible, or loads
 * the published pointer after the unpublish. Where membarrier is refused (an old kernel, a
 * seccomp profile), readers issue the full fence themselves after announcing a section.
 *
 * Slots live on one process-wide list, never freed: a thread's slot is released at its exit and
 * reused by the next thread that reads, so memory follows the number of concurrent threads.
 * grace_wait() takes the list's mutex; readers take no lock. Writers must not hold a lock that a
 * reader inside its section may wait for (the callers drop theirs before waiting).
 */
#ifndef TCEMU_SRC_UTIL_GRACE_H
#define TCEMU_SRC_UTIL_GRACE_H

#include <stdbool.h>
#include <stdint.h>

#include "util/internal.h"

struct grace_slot {
	uint64_t seq;               /* odd: inside a section; written by the owner thread only */
	bool used;                  /* owned by a live thread (under the list's mutex) */
	struct grace_slot *next;    /* the process-wide list (immutable once linked) */
} __attribute__((aligned(64)));

extern __thread struct grace_slot *grace_self __attribute__((tls_model("initial-exec")));
extern int grace_reader_fence; /* non-zero: membarrier is unavailable, readers fence themselves */

/* A full memory barrier (TSan does not model fences: gcc warns, hence the pragma). */
static inline void grace_full_fence(void)
{
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wtsan"
#endif
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
}

/* The calling thread's slot, allocated and linked on its first section. NULL: out of memory. */
struct grace_slot *grace_slot_attach(void);

/*
 * Begins a read section. 0, or -ENOMEM on a thread's first section if its slot cannot be
 * allocated (then the section has not begun: the caller fails its call).
 */
static inline int grace_read_enter(void)
{
	struct grace_slot *s = grace_self;

	if (TCEMU_UNLIKELY(!s)) {
		s = grace_slot_attach();
		if (!s)
			return -ENOMEM;
	}
	TCEMU_ASSERT(!(s->seq & 1)); /* sections do not nest */
	__atomic_store_n(&s->seq, s->seq + 1, __ATOMIC_RELEASE);
	if (TCEMU_UNLIKELY(__atomic_load_n(&grace_reader_fence, __ATOMIC_RELAXED)))
		grace_full_fence();
	else
		__atomic_signal_fence(__ATOMIC_SEQ_CST); /* the compiler keeps the loads after the store */
	return 0;
}

/* Ends the read section begun by grace_read_enter() on this thread. */
static inline void grace_read_exit(void)
{
	struct grace_slot *s = grace_self;

	TCEMU_ASSERT(s && (s->seq & 1));
	__atomic_store_n(&s->seq, s->seq + 1, __ATOMIC_RELEASE);
}

/* Whether the calling thread is inside a read section (for assertions). */
static inline bool grace_in_section(void)
{
	return grace_self && (grace_self->seq & 1);
}

/*
 * Returns when every read section that had begun before the call has ended. Must not be called
 * inside a read section. May sleep (it yields while a reader finishes).
 */
void grace_wait(void);

#endif
