/* SPDX-License-Identifier: MIT */
/* Version and logging. The library never prints: messages go to the logger's callback. */
#include <errno.h>
#include <stdio.h>
#include <strings.h>

#include "util/internal.h"

#define TCEMU_STR2(x) #x
#define TCEMU_STR(x) TCEMU_STR2(x)

TCEMU_EXPORT const char *tcemu_version(void)
{
	return TCEMU_STR(TCEMU_VERSION_MAJOR) "." TCEMU_STR(TCEMU_VERSION_MINOR) "." TCEMU_STR(TCEMU_VERSION_PATCH);
}

static const char *const level_names[] = { "error", "warn", "info", "debug", "trace" };

TCEMU_EXPORT const char *tcemu_log_level_name(enum tcemu_log_level level)
{
	if ((unsigned)level >= TCEMU_ARRAY_SIZE(level_names))
		return "unknown";
	return level_names[level];
}

TCEMU_EXPORT int tcemu_log_level_parse(const char *s, enum tcemu_log_level *out)
{
	if (!s || !out)
		return -EINVAL;
	if (s[0] >= '0' && s[0] <= '4' && s[1] == '\0') {
		*out = (enum tcemu_log_level)(s[0] - '0');
		return 0;
	}
	for (unsigned i = 0; i < TCEMU_ARRAY_SIZE(level_names); i++) {
		if (strcasecmp(s, level_names[i]) == 0) {
			*out = (enum tcemu_log_level)i;
			return 0;
		}
	}
	if (strcasecmp(s, "warning") == 0) {
		*out = TCEMU_LOG_WARN;
		return 0;
	}
	return -EINVAL;
}

void tcemu_logf(const struct tcemu_logger *lg, enum tcemu_log_level level, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	if (!tcemu_log_enabled(lg, level))
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	lg->fn(lg->opaque, level, buf);
}
