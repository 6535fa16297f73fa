/* SPDX-License-Identifier: MIT */
/*
 * tcemu: common definitions shared by every public header.
 *
 * Error convention: every function that can fail returns 0 (or a non-negative count) on success
 * and a negative errno on failure. Constructors return their object through an out-parameter:
 *     struct tcemu_table *t;
 *     int rc = tcemu_table_create(&params, &t);   // rc < 0: t is untouched
 * Lookups that return a borrowed pointer return NULL when nothing matches; they never fail otherwise.
 * Nothing in the library prints: diagnostics go through a tcemu_log_fn (see below).
 */
#ifndef TCEMU_COMMON_H
#define TCEMU_COMMON_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(TCEMU_BUILDING_LIBRARY)
#define TCEMU_EXPORT __attribute__((visibility("default")))
#else
#define TCEMU_EXPORT
#endif

#define TCEMU_VERSION_MAJOR 0
#define TCEMU_VERSION_MINOR 1
#define TCEMU_VERSION_PATCH 0

/* The library's version as "MAJOR.MINOR.PATCH". */
TCEMU_EXPORT const char *tcemu_version(void);

enum tcemu_log_level {
	TCEMU_LOG_ERROR = 0,
	TCEMU_LOG_WARN = 1,
	TCEMU_LOG_INFO = 2,
	TCEMU_LOG_DEBUG = 3,
	TCEMU_LOG_TRACE = 4,
};

/*
 * A log sink. Called with a complete message (no trailing newline). May be called from any thread
 * that uses the object that logs; the sink must be thread-safe. Messages above the configured
 * level are not formatted at all.
 */
typedef void (*tcemu_log_fn)(void *opaque, enum tcemu_log_level level, const char *msg);

struct tcemu_logger {
	tcemu_log_fn fn;            /* NULL: discard everything */
	void *opaque;
	enum tcemu_log_level level; /* messages with level <= this are delivered */
};

/* "error", "warn", "info", "debug", "trace". */
TCEMU_EXPORT const char *tcemu_log_level_name(enum tcemu_log_level level);
/* Parses a level name (case-insensitive) or digit; returns 0 or -EINVAL. */
TCEMU_EXPORT int tcemu_log_level_parse(const char *s, enum tcemu_log_level *out);

#ifdef __cplusplus
}
#endif
#endif
