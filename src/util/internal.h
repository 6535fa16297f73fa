/* SPDX-License-Identifier: MIT */
/* Private helpers shared by the library's source files. */
#ifndef TCEMU_SRC_INTERNAL_H
#define TCEMU_SRC_INTERNAL_H

#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <tcemu/common.h>

#define TCEMU_LIKELY(x) __builtin_expect(!!(x), 1)
#define TCEMU_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define TCEMU_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define TCEMU_ALIGN_UP(x, a) (((x) + (a) - 1) & ~((__typeof__(x))(a) - 1))
#define TCEMU_IS_POW2(x) ((x) != 0 && ((x) & ((x) - 1)) == 0)
#define TCEMU_PRINTF(f, a) __attribute__((format(printf, f, a)))
/*
 * 0, as a constant expression of type size_t that does not compile unless cond (an integer
 * constant expression) holds: for checks inside initializers and row macros, where a
 * _Static_assert declaration cannot go.
 */
#define TCEMU_STATIC_CHECK(cond, msg) (0 * sizeof(struct { _Static_assert(cond, msg); int check_; }))

/*
 * Debug assertions. TCEMU_ASSERT(cond) checks an invariant of the library's own code (never a
 * caller's input: that is an errno). When cond is false it writes "file:line: func: assertion
 * 'cond' failed" to stderr and aborts: a broken invariant is a crash, not a message, so this is
 * the one place the library writes anything itself. With NDEBUG (release builds: meson's
 * b_ndebug=if-release) it compiles to nothing: cond is type-checked but never evaluated (0 &&
 * cond), so it must have no side effects.
 */
#ifdef NDEBUG
#define TCEMU_ASSERT(cond) ((void)(0 && (cond)))
#else
#define TCEMU_ASSERT(cond) \
	(TCEMU_LIKELY(cond) ? (void)0 : tcemu_assert_fail(#cond, __FILE__, __LINE__, __func__))
#endif

__attribute__((noreturn, cold, noinline, unused)) static void tcemu_assert_fail(const char *cond, const char *file,
										  int line, const char *func)
{
	fprintf(stderr, "%s:%d: %s: assertion '%s' failed\n", file, line, func, cond);
	fflush(stderr);
	abort();
}

static inline unsigned tcemu_log2_u64(uint64_t x)
{
	return 63u - (unsigned)__builtin_clzll(x);
}

static inline uint64_t tcemu_max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

static inline uint64_t tcemu_min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static inline void tcemu_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

/*
 * A test-and-test-and-set spin lock for short critical sections that never block (a table chunk
 * update). Spins politely, then yields the CPU so that an over-subscribed machine makes progress.
 */
static inline void tcemu_spin_lock(uint32_t *l)
{
	unsigned spins = 0;
	while (__atomic_exchange_n(l, 1u, __ATOMIC_ACQUIRE)) {
		while (__atomic_load_n(l, __ATOMIC_RELAXED)) {
			if (++spins < 64)
				tcemu_cpu_relax();
			else
				sched_yield();
		}
	}
}

/*
 * tcemu_spin_lock storing value (non-zero) in the free lock word with a sequentially consistent
 * compare-and-swap, so that the holder can announce something in it and then read another flag
 * (Dekker's pattern: see the guest gate in guest/gate.h). The holder may change the word's other
 * bits; tcemu_spin_unlock frees it.
 */
static inline void tcemu_spin_lock_as(uint32_t *l, uint32_t value)
{
	unsigned spins = 0;
	uint32_t free_word = 0;

	while (!__atomic_compare_exchange_n(l, &free_word, value, false, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) {
		free_word = 0;
		while (__atomic_load_n(l, __ATOMIC_RELAXED)) {
			if (++spins < 64)
				tcemu_cpu_relax();
			else
				sched_yield();
		}
	}
}

static inline void tcemu_spin_unlock(uint32_t *l)
{
	__atomic_store_n(l, 0u, __ATOMIC_RELEASE);
}

/* Formats and delivers one message if the logger accepts the level. */
void tcemu_logf(const struct tcemu_logger *lg, enum tcemu_log_level level, const char *fmt, ...) TCEMU_PRINTF(3, 4);

static inline bool tcemu_log_enabled(const struct tcemu_logger *lg, enum tcemu_log_level level)
{
	return lg && lg->fn && level <= lg->level;
}

#endif
