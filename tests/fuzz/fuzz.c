/* SPDX-License-Identifier: MIT */
/* The fuzz harnesses' shared parts: see fuzz.h. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "vfio/check.h"

/* The next n (<= 8) bytes as a little-endian number. */
static uint64_t fz_uint(struct fz *f, size_t n)
{
	uint8_t b[8];
	uint64_t v = 0;

	fz_bytes(f, b, n);
	while (n--)
		v = v << 8 | b[n];
	return v;
}

uint8_t fz_u8(struct fz *f)
{
	return (uint8_t)fz_uint(f, 1);
}

uint16_t fz_u16(struct fz *f)
{
	return (uint16_t)fz_uint(f, 2);
}

uint32_t fz_u32(struct fz *f)
{
	return (uint32_t)fz_uint(f, 4);
}

uint64_t fz_u64(struct fz *f)
{
	return fz_uint(f, 8);
}

uint64_t fz_below(struct fz *f, uint64_t n)
{
	uint64_t v;

	if (n <= 1)
		return 0;
	if (n <= 0x100)
		v = fz_u8(f);
	else if (n <= 0x10000)
		v = fz_u16(f);
	else if (n <= 0x100000000ull)
		v = fz_u32(f);
	else
		v = fz_u64(f);
	return v % n;
}

void fz_bytes(struct fz *f, void *buf, size_t len)
{
	size_t k = len < f->n ? len : f->n;

	memcpy(buf, f->p, k);
	memset((uint8_t *)buf + k, 0, len - k);
	f->p += k;
	f->n -= k;
}

uint64_t fz_pow2(struct fz *f, unsigned lo, unsigned hi)
{
	return 1ull << (lo + fz_below(f, hi - lo + 1));
}

static void log_stderr(void *opaque, enum tcemu_log_level level, const char *msg)
{
	(void)opaque;
	fprintf(stderr, "[%s] %s\n", tcemu_log_level_name(level), msg);
}

struct tcemu_host_opts fz_host_opts(void)
{
	struct tcemu_host_opts o = { .memlock_set = true, .memlock = UINT64_MAX };

	if (getenv("FZ_TRACE")) {
		o.trace = true;
		o.platform.logger = (struct tcemu_logger){ .fn = log_stderr, .level = TCEMU_LOG_DEBUG };
	}
	return o;
}

struct tcemu_host *fz_host(const char *topology)
{
	struct tcemu_host_opts o = fz_host_opts();
	struct tcemu_host *h = NULL;
	char err[256];
	int rc;

	o.platform.topology_text = topology;
	o.platform.errbuf = err;
	o.platform.errlen = sizeof(err);
	rc = tcemu_host_create(&o, &h);
	if (rc)
		fz_fail("tcemu_host_create: %d (%s)", rc, err);
	return h;
}

void fz_fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("fuzz: invariant broken: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	abort();
}

void fz_check_host(struct tcemu_host *h, unsigned flags, const char *when)
{
	char why[512];

	if (tcemu_host_check_invariants(h, flags, why, sizeof(why)))
		fz_fail("host, %s: %s", when, why);
}

void fz_check_guest(struct tcemu_guest *g, const char *when)
{
	char why[512];

	if (tcemu_guest_check_invariants(g, why, sizeof(why)))
		fz_fail("guest, %s: %s", when, why);
}

void fz_teardown(struct tcemu_host *h, unsigned flags)
{
	tcemu_host_close_all(h);
	fz_check_host(h, flags | TCEMU_CHECK_TEARDOWN, "after closing everything");
	tcemu_host_destroy(h);
}

/*
 * Under ASan: a small quarantine. A host is made and freed for every input, and with the default
 * 256 MiB quarantine every input's allocations come from fresh pages (page faults and shadow
 * poisoning: 4 ms a host instead of 0.5 ms). 4 MiB still holds what the last input freed, so a use
 * after free within an input is caught. Ignored without ASan.
 */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "quarantine_size_mb=4";
}
