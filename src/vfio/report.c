/* SPDX-License-Identifier: MIT */
/*
 * Client defects (the list the host keeps, host_defect) and the human-readable summary
 * (tcemu_host_summary).
 *
 * Locking (vfio/host_priv.h): host->stats_lock, a leaf, protects the defect list; the counters
 * are atomics.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tcemu/host.h>

#include "vfio/host_priv.h"

void host_defect(struct tcemu_host *h, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	tcemu_logf(&h->lg, TCEMU_LOG_WARN, "client defect: %s", buf);
	__atomic_add_fetch(&h->stats.defects, 1, __ATOMIC_RELAXED);
	/* A leaf: not under the other leaves (mms_lock, glink_lock). */
	TCEMU_ASSERT_NOT_HELD(&h->mms_lock);
	TCEMU_ASSERT_NOT_HELD(&h->glink_lock);
	tcemu_mutex_lock(&h->stats_lock);
	TCEMU_ASSERT(h->ndefects <= TCEMU_MAX_DEFECTS);
	if (h->ndefects < TCEMU_MAX_DEFECTS) {
		char **n = realloc(h->defects, (h->ndefects + 1) * sizeof(*n));
		if (n) {
			h->defects = n;
			h->defects[h->ndefects] = strdup(buf);
			if (h->defects[h->ndefects])
				h->ndefects++;
		}
	}
	tcemu_mutex_unlock(&h->stats_lock);
}

static void human(char *buf, size_t len, uint64_t bytes)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)bytes;
	unsigned u = 0;

	while (v >= 1024 && u + 1 < TCEMU_ARRAY_SIZE(units)) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

/* Appends to a bounded buffer, counting what would have been needed. */
struct sbuf {
	char *p;
	size_t len, used;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...) TCEMU_PRINTF(2, 3);

static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	size_t room = b->used < b->len ? b->len - b->used : 0;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(room ? b->p + b->used : NULL, room, fmt, ap);
	va_end(ap);
	if (n > 0)
		b->used += (size_t)n;
}

TCEMU_EXPORT size_t tcemu_host_summary(struct tcemu_host *h, char *buf, size_t len)
{
	struct sbuf b = { .p = buf, .len = len };
	struct tcemu_host_stats now, *end = h->exit_recorded ? &h->at_exit : &now;
	char peak[32], left[32];
	uint64_t total = 0;
	bool first = true;

	if (len)
		buf[0] = '\0';
	tcemu_host_stats(h, &now);
	for (unsigned i = 0; i < TCEMU_IOCTL_SLOTS; i++)
		total += now.ioctls[i];
	sb_printf(&b, "VFIO calls: %llu ioctls, %llu refused", (unsigned long long)total,
		  (unsigned long long)now.ioctl_errors);
	for (unsigned i = 0; i < TCEMU_IOCTL_SLOTS; i++) {
		if (!now.ioctls[i])
			continue;
		sb_printf(&b, "%s%s %llu", first ? "\n  by kind: " : ", ", tcemu_ioctl_name(i),
			  (unsigned long long)now.ioctls[i]);
		first = false;
	}
	sb_printf(&b, "\nwindows created: %llu\n", (unsigned long long)now.windows_created);
	sb_printf(&b, "entries mapped: %llu at peak, %llu at exit\n", (unsigned long long)now.entries_mapped_peak,
		  (unsigned long long)end->entries_mapped);
	sb_printf(&b, "regions registered: %llu at peak, %llu at exit\n", (unsigned long long)now.regions_peak,
		  (unsigned long long)end->regions_registered);
	human(peak, sizeof(peak), now.locked_peak);
	human(left, sizeof(left), end->locked_bytes);
	sb_printf(&b, "locked memory: %s at peak, %s at exit\n", peak, left);
	tcemu_mutex_lock(&h->stats_lock);
	sb_printf(&b, "client defects: %llu\n", (unsigned long long)now.defects);
	for (size_t i = 0; i < h->ndefects; i++)
		sb_printf(&b, "  %zu. %s\n", i + 1, h->defects[i]);
	if (now.defects > h->ndefects)
		sb_printf(&b, "  (%llu more not kept)\n", (unsigned long long)(now.defects - h->ndefects));
	tcemu_mutex_unlock(&h->stats_lock);
	return b.used;
}

TCEMU_EXPORT size_t tcemu_host_defect_count(struct tcemu_host *h)
{
	return (size_t)__atomic_load_n(&h->stats.defects, __ATOMIC_RELAXED);
}

TCEMU_EXPORT int tcemu_host_defect(struct tcemu_host *h, size_t i, char *buf, size_t len)
{
	int rc = 0;

	tcemu_mutex_lock(&h->stats_lock);
	if (i >= h->ndefects)
		rc = -ENOENT;
	else if (len)
		snprintf(buf, len, "%s", h->defects[i]);
	tcemu_mutex_unlock(&h->stats_lock);
	return rc;
}
