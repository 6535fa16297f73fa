/* SPDX-License-Identifier: MIT */
/*
 * The topology file parser (the format is described in docs/topology.md).
 *
 * The text is cut into lines and each line into tokens. A statement is parsed completely into
 * local values and checked before it is appended, so the topology under construction is always
 * consistent and tcemu_topology_free() can release it at any point. Everything the parse needs
 * besides the topology itself (bitmaps of the numbers already used) lives in one heap-allocated
 * struct parser: concurrent parses share nothing.
 */
#include "core/topology.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/internal.h"

#define KIB 1024ull
#define MIB (1024ull * KIB)
#define GIB (1024ull * MIB)

#define GROUP_PENDING UINT32_MAX /* pe without group=: numbered once the whole text is parsed */
#define QUOTE_MAX 64             /* room for a token quoted in a message */
#define BITMAP_BYTES(bits) (((bits) + 7) / 8)

static const char default_text[] =
	"# tcemu embedded default topology.\n"
	"#\n"
	"# Two PCI host bridges: a POWER9 PHB4 (ioda3, PCI domain 0) with four PEs and a POWER8 PHB3\n"
	"# (ioda2, PCI domain 1) with two. Each PE is one IOMMU group holding one device:\n"
	"#   groups 0 and 1: two transitional virtio-net ports (1af4:1000) cabled to each other, for\n"
	"#     DPDK's net_virtio (testpmd) or a guest; ids and BARs come from the model;\n"
	"#   group 2: a transitional virtio-blk disk (1af4:1001) of 64M of memory;\n"
	"#   groups 3 to 5: the QEMU test device (1b36:0005, class 00ff00) with a 16K 64-bit\n"
	"#     register BAR (bar0, bar1 is its upper half) and a 1M 64-bit prefetchable BAR that\n"
	"#     clients may mmap (bar2, with bar3).\n"
	"# Both PHBs have the usual 2G default 32-bit DMA window; the system page size is 4K.\n"
	"page-size 4K\n"
	"phb 0 ioda3 dma32=2G       # POWER9 PHB4, PCI domain 0\n"
	"  pe 1 group=0\n"
	"    device 0000:01:00.0 model=virtio-net link=0000:02:00.0\n"
	"  pe 2 group=1\n"
	"    device 0000:02:00.0 model=virtio-net link=0000:01:00.0\n"
	"  pe 3 group=2\n"
	"    device 0000:03:00.0 model=virtio-blk size=64M\n"
	"  pe 4 group=3\n"
	"    device 0000:04:00.0 vendor=0x1b36 device=0x0005 class=0x00ff00 bar0=16K,mem64 bar2=1M,mem64,prefetch,mmap\n"
	"phb 1 ioda2 dma32=2G       # POWER8 PHB3, PCI domain 1\n"
	"  pe 1 group=4\n"
	"    device 0001:01:00.0 vendor=0x1b36 device=0x0005 class=0x00ff00 bar0=16K,mem64 bar2=1M,mem64,prefetch,mmap\n"
	"  pe 2 group=5\n"
	"    device 0001:02:00.0 vendor=0x1b36 device=0x0005 class=0x00ff00 bar0=16K,mem64 bar2=1M,mem64,prefetch,mmap\n";

/* A token: a run of characters other than space and tab, not NUL terminated. */
struct tok {
	const char *s;
	size_t len;
};

/* Where messages go. */
struct msg {
	char *buf;
	size_t len;
	const char *name;
};

struct parser {
	struct msg msg;
	unsigned line;           /* the line being parsed */
	const char *cur, *end;   /* what is left of it (comment removed) */
	struct tcemu_topology *t;
	size_t phb_cap;          /* capacity of t->phbs */
	size_t pe_cap;           /* capacity of the last phb's pes */
	size_t dev_cap;          /* capacity of the last pe's devices */
	unsigned page_size_line; /* 0: no page-size statement yet */
	unsigned memlock_line;   /* 0: no memlock statement yet */
	uint8_t phb_used[BITMAP_BYTES(65536)];
	uint8_t domain_used[BITMAP_BYTES(65536)];
	uint8_t group_used[BITMAP_BYTES(TCEMU_TOPO_MAX_GROUP + 1)];
	uint8_t pe_used[BITMAP_BYTES(TCEMU_PROFILE_MAX_PES)]; /* pe numbers of the last phb */
	uint8_t bdf_used[BITMAP_BYTES(65536)];  /* bus:dev.fn of the last phb's devices */
};

static bool bit_test(const uint8_t *map, uint32_t bit)
{
	return map[bit / 8] & (1u << (bit % 8));
}

static void bit_set(uint8_t *map, uint32_t bit)
{
	map[bit / 8] |= (uint8_t)(1u << (bit % 8));
}

static void bit_clear(uint8_t *map, uint32_t bit)
{
	map[bit / 8] &= (uint8_t)~(1u << (bit % 8));
}

__attribute__((format(printf, 4, 0))) static int vreport(const struct msg *m, unsigned line, int rc,
							  const char *fmt, va_list ap)
{
	int n;

	if (!m->buf || !m->len)
		return rc;
	if (line)
		n = snprintf(m->buf, m->len, "%s:%u: ", m->name, line);
	else
		n = snprintf(m->buf, m->len, "%s: ", m->name);
	if (n >= 0 && (size_t)n < m->len)
		vsnprintf(m->buf + n, m->len - (size_t)n, fmt, ap);
	return rc;
}

/* Writes "<name>:<line>: <problem>" ("<name>: <problem>" for line 0) and returns rc. */
__attribute__((format(printf, 4, 5))) static int report(const struct msg *m, unsigned line, int rc,
							 const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(m, line, rc, fmt, ap);
	va_end(ap);
	return rc;
}

/* A format error at the current line: returns -EINVAL. */
__attribute__((format(printf, 2, 3))) static int fail(struct parser *ps, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(&ps->msg, ps->line, -EINVAL, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int nomem(struct parser *ps)
{
	return report(&ps->msg, 0, -ENOMEM, "out of memory");
}

/* The token, printable and shortened, for a message. buf has QUOTE_MAX bytes. */
static const char *quote(const struct tok *tk, char *buf)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	for (size_t i = 0; i < tk->len; i++) {
		unsigned char c = (unsigned char)tk->s[i];

		if (o + 4 + 3 + 1 > QUOTE_MAX) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (c >= 0x20 && c < 0x7f) {
			buf[o++] = (char)c;
		} else {
			buf[o++] = '\\';
			buf[o++] = 'x';
			buf[o++] = hex[c >> 4];
			buf[o++] = hex[c & 15];
		}
	}
	buf[o] = '\0';
	return buf;
}

static bool next_tok(struct parser *ps, struct tok *tk)
{
	const char *p = ps->cur;

	while (p < ps->end && (*p == ' ' || *p == '\t'))
		p++;
	tk->s = p;
	while (p < ps->end && *p != ' ' && *p != '\t')
		p++;
	tk->len = (size_t)(p - tk->s);
	ps->cur = p;
	return tk->len != 0;
}

static int ascii_lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static bool tok_is(const struct tok *tk, const char *word)
{
	return tk->len == strlen(word) && memcmp(tk->s, word, tk->len) == 0;
}

static bool tok_is_nocase(const struct tok *tk, const char *word)
{
	if (tk->len != strlen(word))
		return false;
	for (size_t i = 0; i < tk->len; i++)
		if (ascii_lower((unsigned char)tk->s[i]) != word[i])
			return false;
	return true;
}

static bool is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

static int digit_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Reads a number at the start of tk: decimal or 0x-hex, or (bare_hex) hex with or without 0x.
 * *used: how many characters it took. -EINVAL: no digits; -ERANGE: more than 64 bits.
 */
static int scan_number(const struct tok *tk, bool bare_hex, uint64_t *out, size_t *used)
{
	unsigned base = bare_hex ? 16 : 10;
	uint64_t v = 0;
	size_t i = 0;

	if (tk->len > 2 && tk->s[0] == '0' && (tk->s[1] == 'x' || tk->s[1] == 'X')) {
		base = 16;
		i = 2;
	}
	size_t first = i;
	for (; i < tk->len; i++) {
		int d = digit_value(tk->s[i]);

		if (d < 0 || (unsigned)d >= base)
			break;
		if (v > (UINT64_MAX - (unsigned)d) / base)
			return -ERANGE;
		v = v * base + (unsigned)d;
	}
	if (i == first)
		return -EINVAL;
	*out = v;
	*used = i;
	return 0;
}

/* A whole token as a number no larger than max (printed in hex in messages when hex). */
static int get_uint(struct parser *ps, const struct tok *tk, const char *what, bool hex, uint64_t max,
		    uint64_t *out)
{
	char q[QUOTE_MAX];
	uint64_t v;
	size_t used;
	int rc = scan_number(tk, hex, &v, &used);

	if (rc == -EINVAL || (!rc && used != tk->len))
		return fail(ps, "invalid %s '%s'", what, quote(tk, q));
	if (rc || v > max) {
		if (hex)
			return fail(ps, "%s '%s' out of range (max 0x%" PRIx64 ")", what, quote(tk, q), max);
		return fail(ps, "%s '%s' out of range (max %" PRIu64 ")", what, quote(tk, q), max);
	}
	*out = v;
	return 0;
}

/* A SIZE: a number with an optional K, M, G or T suffix (binary, case-insensitive). */
static int get_size(struct parser *ps, const struct tok *tk, const char *what, uint64_t *out)
{
	char q[QUOTE_MAX];
	unsigned shift = 0;
	uint64_t v;
	size_t used;
	int rc = scan_number(tk, false, &v, &used);

	if (!rc && used + 1 == tk->len) {
		switch (ascii_lower((unsigned char)tk->s[used])) {
		case 'k': shift = 10; break;
		case 'm': shift = 20; break;
		case 'g': shift = 30; break;
		case 't': shift = 40; break;
		default: rc = -EINVAL; break;
		}
	} else if (!rc && used != tk->len) {
		rc = -EINVAL;
	}
	if (rc == -EINVAL)
		return fail(ps, "invalid %s '%s'", what, quote(tk, q));
	if (rc || v > (UINT64_MAX >> shift))
		return fail(ps, "%s '%s' too large", what, quote(tk, q));
	*out = v << shift;
	return 0;
}

/*
 * Matches a "key=value" token against keys[] (at most 32). Reports unknown, repeated and
 * value-less keys, and a token without '=' that is no key at all as an extra positional token.
 */
static int get_key(struct parser *ps, const struct tok *tk, const char *stmt, const char *const *keys,
		   size_t nkeys, uint32_t *seen, size_t *idx, struct tok *val)
{
	const char *eq = memchr(tk->s, '=', tk->len);
	struct tok key = { tk->s, eq ? (size_t)(eq - tk->s) : tk->len };
	char q[QUOTE_MAX];

	for (size_t i = 0; i < nkeys; i++) {
		if (!tok_is(&key, keys[i]))
			continue;
		if (!eq || key.len + 1 == tk->len)
			return fail(ps, "missing value for '%s'", keys[i]);
		if (*seen & (1u << i))
			return fail(ps, "duplicate key '%s'", keys[i]);
		*seen |= 1u << i;
		*idx = i;
		val->s = eq + 1;
		val->len = tk->len - key.len - 1;
		return 0;
	}
	if (!eq)
		return fail(ps, "unexpected token '%s'", quote(tk, q));
	return fail(ps, "unknown %s key '%s'", stmt, quote(&key, q));
}

static int expect_end(struct parser *ps)
{
	struct tok tk;
	char q[QUOTE_MAX];

	if (next_tok(ps, &tk))
		return fail(ps, "unexpected token '%s'", quote(&tk, q));
	return 0;
}

/* Makes room for one more element after n in *arr; NULL (arr untouched) when out of memory. */
static void *grow(void *arr, size_t *cap, size_t n, size_t elem)
{
	void *p;
	size_t ncap;

	if (n < *cap)
		return arr;
	ncap = *cap ? *cap * 2 : 4;
	if (ncap > SIZE_MAX / elem)
		return NULL;
	p = realloc(arr, ncap * elem);
	if (p)
		*cap = ncap;
	return p;
}

static struct tcemu_topo_phb *last_phb(struct parser *ps)
{
	return ps->t->nphbs ? &ps->t->phbs[ps->t->nphbs - 1] : NULL;
}

static struct tcemu_topo_pe *last_pe(struct parser *ps)
{
	struct tcemu_topo_phb *phb = last_phb(ps);

	return phb && phb->npes ? &phb->pes[phb->npes - 1] : NULL;
}

/* The profile called tk (case-insensitive), or NULL. */
static const struct tcemu_profile_info *profile_named(const struct tok *tk)
{
	for (unsigned v = 0; v < TCEMU_PROFILE_LIMIT; v++) {
		const struct tcemu_profile_info *prof = tcemu_profile_info((enum tcemu_profile)v);

		if (prof && tok_is_nocase(tk, prof->name))
			return prof;
	}
	return NULL;
}

/* Called when a pe is complete (a new pe or phb starts, or the text ends). */
static int check_last_pe(struct parser *ps)
{
	struct tcemu_topo_pe *pe = last_pe(ps);

	if (pe && !pe->ndevices)
		return report(&ps->msg, pe->line, -EINVAL, "pe %" PRIu32 " has no device", pe->pe_number);
	return 0;
}

/* Bus, device and function of a checked "DDDD:BB:DD.F" as one 16-bit number. */
static uint32_t bdf_key(const char *bdf)
{
	uint32_t bus = (uint32_t)(digit_value(bdf[5]) << 4 | digit_value(bdf[6]));
	uint32_t dev = (uint32_t)(digit_value(bdf[8]) << 4 | digit_value(bdf[9]));

	return bus << 8 | dev << 3 | (uint32_t)digit_value(bdf[11]);
}

/* "DDDD:BB:DD.F" in hex, stored lower-case into dev->bdf; *domain is DDDD. */
static int get_bdf(struct parser *ps, const struct tok *tk, struct tcemu_topo_device *dev, uint32_t *domain)
{
	static const char shape[] = "hhhh:hh:hh.h";
	char q[QUOTE_MAX];
	uint32_t v[4] = { 0 };
	unsigned field = 0;

	if (tk->len != sizeof(shape) - 1)
		goto bad;
	for (size_t i = 0; i < tk->len; i++) {
		int d = digit_value(tk->s[i]);

		if (shape[i] != 'h' ? tk->s[i] != shape[i] : d < 0)
			goto bad;
		if (shape[i] != 'h')
			field++;
		else
			v[field] = v[field] << 4 | (uint32_t)d;
		dev->bdf[i] = (char)ascii_lower((unsigned char)tk->s[i]);
	}
	dev->bdf[tk->len] = '\0';
	if (v[2] > 0x1f)
		return fail(ps, "invalid BDF '%s': device number %02" PRIx32 " above 1f", quote(tk, q), v[2]);
	if (v[3] > 7)
		return fail(ps, "invalid BDF '%s': function number %" PRIx32 " above 7", quote(tk, q), v[3]);
	*domain = v[0];
	return 0;
bad:
	return fail(ps, "invalid BDF '%s' (expected DDDD:BB:DD.F in hex)", quote(tk, q));
}

static int parse_page_size(struct parser *ps)
{
	struct tok tk;
	char q[QUOTE_MAX];
	uint64_t v;
	int rc;

	if (ps->page_size_line)
		return fail(ps, "duplicate page-size (first given at line %u)", ps->page_size_line);
	if (ps->t->nphbs)
		return fail(ps, "page-size must come before the first phb");
	if (!next_tok(ps, &tk))
		return fail(ps, "missing value for page-size (expected 4K or 64K)");
	rc = get_size(ps, &tk, "page-size", &v);
	if (rc)
		return rc;
	if (v != 4 * KIB && v != 64 * KIB)
		return fail(ps, "unsupported page-size '%s' (expected 4K or 64K)", quote(&tk, q));
	rc = expect_end(ps);
	if (rc)
		return rc;
	ps->t->sys_page_shift = v == 4 * KIB ? 12 : 16;
	ps->page_size_line = ps->line;
	return 0;
}

static int parse_memlock(struct parser *ps)
{
	struct tok tk;
	uint64_t v = UINT64_MAX;
	int rc;

	if (ps->memlock_line)
		return fail(ps, "duplicate memlock (first given at line %u)", ps->memlock_line);
	if (!next_tok(ps, &tk))
		return fail(ps, "missing value for memlock (expected unlimited or a size)");
	if (!tok_is_nocase(&tk, "unlimited")) {
		rc = get_size(ps, &tk, "memlock size", &v);
		if (rc)
			return rc;
	}
	rc = expect_end(ps);
	if (rc)
		return rc;
	ps->t->memlock_set = true;
	ps->t->memlock = v;
	ps->memlock_line = ps->line;
	return 0;
}

static int parse_phb(struct parser *ps)
{
	static const char *const keys[] = { "domain", "dma32" };
	struct tcemu_topology *t = ps->t;
	struct tcemu_topo_phb *phb;
	const struct tcemu_profile_info *prof;
	struct tok tk, val;
	char q[QUOTE_MAX];
	uint64_t index, domain, dma32 = 2 * GIB;
	uint32_t seen = 0;
	size_t key = 0;
	int rc;

	rc = check_last_pe(ps);
	if (rc)
		return rc;
	if (!next_tok(ps, &tk))
		return fail(ps, "missing phb index");
	rc = get_uint(ps, &tk, "phb index", false, 65535, &index);
	if (rc)
		return rc;
	if (!next_tok(ps, &tk))
		return fail(ps, "missing profile for phb %" PRIu64 " (expected ioda1, ioda2 or ioda3)", index);
	prof = profile_named(&tk);
	if (!prof)
		return fail(ps, "unknown profile '%s' (expected ioda1, ioda2 or ioda3)", quote(&tk, q));
	domain = index;
	while (next_tok(ps, &tk)) {
		rc = get_key(ps, &tk, "phb", keys, 2, &seen, &key, &val);
		if (rc)
			return rc;
		if (key == 0) {
			rc = get_uint(ps, &val, "domain", false, 0xffff, &domain);
		} else {
			rc = get_size(ps, &val, "dma32 size", &dma32);
			if (!rc && (!is_pow2(dma32) || dma32 < MIB || dma32 > 4 * GIB))
				rc = fail(ps, "dma32 size '%s' must be a power of two from 1M to 4G",
					  quote(&val, q));
		}
		if (rc)
			return rc;
	}
	if (bit_test(ps->phb_used, (uint32_t)index)) {
		for (size_t i = 0; i < t->nphbs; i++)
			if (t->phbs[i].index == index)
				return fail(ps, "duplicate phb %" PRIu64 " (first defined at line %u)", index,
					    t->phbs[i].line);
	}
	if (bit_test(ps->domain_used, (uint32_t)domain)) {
		for (size_t i = 0; i < t->nphbs; i++)
			if (t->phbs[i].domain == domain)
				return fail(ps, "duplicate PCI domain %04" PRIx64 " (used by phb %" PRIu32
					    " at line %u)", domain, t->phbs[i].index, t->phbs[i].line);
	}

	phb = grow(t->phbs, &ps->phb_cap, t->nphbs, sizeof(*t->phbs));
	if (!phb)
		return nomem(ps);
	t->phbs = phb;
	/* The previous phb is complete: forget its pe numbers and device addresses. */
	phb = last_phb(ps);
	for (size_t i = 0; phb && i < phb->npes; i++)
		for (size_t j = 0; j < phb->pes[i].ndevices; j++)
			bit_clear(ps->bdf_used, bdf_key(phb->pes[i].devices[j].bdf));
	memset(ps->pe_used, 0, sizeof(ps->pe_used));
	ps->pe_cap = 0;
	ps->dev_cap = 0;

	phb = &t->phbs[t->nphbs++];
	*phb = (struct tcemu_topo_phb){
		.index = (uint32_t)index,
		.domain = (uint32_t)domain,
		.profile = prof->profile,
		.dma32_size = dma32,
		.line = ps->line,
	};
	bit_set(ps->phb_used, (uint32_t)index);
	bit_set(ps->domain_used, (uint32_t)domain);
	return 0;
}

static int parse_pe(struct parser *ps)
{
	static const char *const keys[] = { "group" };
	struct tcemu_topo_phb *phb = last_phb(ps);
	const struct tcemu_profile_info *prof;
	struct tcemu_topo_pe *pe;
	struct tok tk, val;
	char what[24];
	uint64_t number, group = GROUP_PENDING;
	uint32_t seen = 0;
	size_t key = 0;
	int rc;

	if (!phb)
		return fail(ps, "pe before any phb");
	rc = check_last_pe(ps);
	if (rc)
		return rc;
	if (!next_tok(ps, &tk))
		return fail(ps, "missing pe number");
	prof = tcemu_profile_info(phb->profile);
	TCEMU_ASSERT(prof); /* the phb's profile was found by name */
	snprintf(what, sizeof(what), "%s pe number", prof->name);
	rc = get_uint(ps, &tk, what, false, prof->max_pes - 1, &number);
	if (rc)
		return rc;
	TCEMU_ASSERT(number < TCEMU_PROFILE_MAX_PES); /* pe_used has a bit for it */
	while (next_tok(ps, &tk)) {
		rc = get_key(ps, &tk, "pe", keys, 1, &seen, &key, &val);
		if (rc)
			return rc;
		rc = get_uint(ps, &val, "group", false, TCEMU_TOPO_MAX_GROUP, &group);
		if (rc)
			return rc;
	}
	if (bit_test(ps->pe_used, (uint32_t)number)) {
		for (size_t i = 0; i < phb->npes; i++)
			if (phb->pes[i].pe_number == number)
				return fail(ps, "duplicate pe %" PRIu64 " in phb %" PRIu32 " (first defined at line %u)",
					    number, phb->index, phb->pes[i].line);
	}
	if (group != GROUP_PENDING && bit_test(ps->group_used, (uint32_t)group)) {
		for (size_t i = 0; i < ps->t->nphbs; i++)
			for (size_t j = 0; j < ps->t->phbs[i].npes; j++)
				if (ps->t->phbs[i].pes[j].group == group)
					return fail(ps, "duplicate group %" PRIu64 " (first used at line %u)", group,
						    ps->t->phbs[i].pes[j].line);
	}

	pe = grow(phb->pes, &ps->pe_cap, phb->npes, sizeof(*phb->pes));
	if (!pe)
		return nomem(ps);
	phb->pes = pe;
	ps->dev_cap = 0;
	pe = &phb->pes[phb->npes++];
	*pe = (struct tcemu_topo_pe){
		.pe_number = (uint32_t)number,
		.group = (uint32_t)group,
		.line = ps->line,
	};
	bit_set(ps->pe_used, (uint32_t)number);
	if (group != GROUP_PENDING)
		bit_set(ps->group_used, (uint32_t)group);
	return 0;
}

/* A BAR: SIZE[,mem32|,mem64|,io][,prefetch][,mmap]. */
static int get_bar(struct parser *ps, unsigned n, const struct tok *val, struct tcemu_topo_bar *bar)
{
	static const char *const types[] = { "mem32", "mem64", "io" };
	char what[24], q[QUOTE_MAX];
	const char *end = val->s + val->len;
	const char *comma = memchr(val->s, ',', val->len);
	struct tok part = { val->s, comma ? (size_t)(comma - val->s) : val->len };
	int type = -1; /* index in types[] */
	int rc;

	snprintf(what, sizeof(what), "bar%u size", n);
	rc = get_size(ps, &part, what, &bar->size);
	if (rc)
		return rc;
	bar->flags = 0;
	while (comma) {
		uint32_t flag = 0;
		int t = -1;

		part.s = comma + 1;
		comma = memchr(part.s, ',', (size_t)(end - part.s));
		part.len = (size_t)((comma ? comma : end) - part.s);
		for (int i = 0; i < 3; i++)
			if (tok_is(&part, types[i]))
				t = i;
		if (tok_is(&part, "prefetch"))
			flag = TCEMU_BAR_PREFETCH;
		else if (tok_is(&part, "mmap"))
			flag = TCEMU_BAR_MMAP;
		if (t < 0 && !flag)
			return fail(ps, "unknown bar%u flag '%s' (expected mem32, mem64, io, prefetch or mmap)", n,
				    quote(&part, q));
		if ((t >= 0 && t == type) || (bar->flags & flag))
			return fail(ps, "bar%u: repeated flag '%s'", n, quote(&part, q));
		if (t >= 0 && type >= 0)
			return fail(ps, "bar%u: '%s' conflicts with '%s'", n, types[t], types[type]);
		if (t >= 0)
			type = t;
		bar->flags |= flag;
	}
	quote(val, q);
	if (type == 2) {
		if (bar->flags & TCEMU_BAR_PREFETCH)
			return fail(ps, "bar%u: io cannot be combined with prefetch", n);
		if (!is_pow2(bar->size) || bar->size < 4 || bar->size > 256)
			return fail(ps, "bar%u '%s': io size must be a power of two from 4 to 256", n, q);
		bar->flags |= TCEMU_BAR_IO;
		return 0;
	}
	if (!is_pow2(bar->size) || bar->size < 16)
		return fail(ps, "bar%u '%s': size must be a power of two of at least 16", n, q);
	if (type == 1) {
		if (n == 5)
			return fail(ps, "bar5 cannot be mem64 (there is no bar6 for its upper half)");
		/* a device region lives at index << 40 of its descriptor (vfio/device.c) */
		if (bar->size > (1ull << 40))
			return fail(ps, "bar%u '%s': a mem64 bar cannot exceed 1T", n, q);
		bar->flags |= TCEMU_BAR_MEM64;
	} else if (bar->size > 2 * GIB) {
		return fail(ps, "bar%u '%s': a mem32 bar cannot exceed 2G (use mem64)", n, q);
	}
	return 0;
}

/* What a model's BAR n holds, for messages: "64,io", "16K,mem64", "4K,mmap"... buf has 48 bytes. */
static const char *model_bar(const struct tcemu_model_type *m, unsigned n, char *buf)
{
	static const char suffix[] = "KMGT";
	uint64_t size = m->bar_size[n];
	unsigned s = 0;
	uint32_t f = m->bar_flags[n];

	while (s < 4 && size >= 1024 && !(size % 1024)) {
		size /= 1024;
		s++;
	}
	snprintf(buf, 48, "%" PRIu64 "%.*s%s%s%s", size, s ? 1 : 0, s ? &suffix[s - 1] : "",
		 f & TCEMU_BAR_IO ? ",io" : f & TCEMU_BAR_MEM64 ? ",mem64" : "",
		 f & TCEMU_BAR_PREFETCH ? ",prefetch" : "", f & TCEMU_BAR_MMAP ? ",mmap" : "");
	return buf;
}

/* The slot the model uses for BAR n (its own, or the upper half of its 64-bit BAR n-1), or -1. */
static int model_bar_slot(const struct tcemu_model_type *m, unsigned n)
{
	if (m->bar_size[n])
		return (int)n;
	if (n && m->bar_size[n - 1] && (m->bar_flags[n - 1] & TCEMU_BAR_MEM64))
		return (int)n - 1;
	return -1;
}

/*
 * A device with model=: ids and class come from the model unless given, BARs from the model; a
 * given BAR may only fill a slot the model leaves free and must be mmap (plain memory: every BAR
 * without mmap traps to the model, which has no registers there). No ROM.
 */
static int apply_model(struct parser *ps, struct tcemu_topo_device *dev, uint32_t seen, unsigned k_vendor,
		       unsigned k_bar0, unsigned k_rom)
{
	const struct tcemu_model_type *m = dev->model;
	char b[48];

	if (!(seen & (1u << k_vendor)))
		dev->vendor = m->vendor;
	if (!(seen & (1u << (k_vendor + 1))))
		dev->device = m->device;
	if (!(seen & (1u << (k_vendor + 2))))
		dev->class_code = m->class_code;
	if (!(seen & (1u << (k_vendor + 3))))
		dev->subsys_vendor = m->subsys_vendor;
	if (!(seen & (1u << (k_vendor + 4))))
		dev->subsys_device = m->subsys_device;
	if (seen & (1u << k_rom))
		return fail(ps, "rom: a %s device has no ROM", m->name);
	for (unsigned n = 0; n < 6; n++) {
		const struct tcemu_topo_bar *bar = &dev->bars[n];
		int slot = model_bar_slot(m, n);

		if (!(seen & (1u << (k_bar0 + n))))
			continue;
		if (slot < 0 && (bar->flags & TCEMU_BAR_MEM64) && n < 5)
			slot = model_bar_slot(m, n + 1);
		if (slot >= 0)
			return fail(ps, "bar%u conflicts with the %s registers (bar%d=%s)", n, m->name, slot,
				    model_bar(m, (unsigned)slot, b));
		if (!(bar->flags & TCEMU_BAR_MMAP))
			return fail(ps, "bar%u: a BAR beside a model's must be mmap (it would trap to %s, "
				    "which has no registers there)", n, m->name);
	}
	for (unsigned n = 0; n < 6; n++)
		if (!(seen & (1u << (k_bar0 + n))))
			dev->bars[n] = (struct tcemu_topo_bar){ m->bar_size[n], m->bar_flags[n] };
	return 0;
}

static int parse_device(struct parser *ps)
{
	enum { K_VENDOR, K_DEVICE, K_CLASS, K_SVENDOR, K_SDEVICE, K_BAR0, K_ROM = K_BAR0 + 6, K_MODEL, K_LINK,
	       K_DISK, K_SIZE, K_REVISION, K_FAULT_FILE, NKEYS };
	static const char *const keys[NKEYS] = {
		"vendor", "device", "class", "subsys-vendor", "subsys-device",
		"bar0", "bar1", "bar2", "bar3", "bar4", "bar5", "rom", "model", "link", "disk", "size", "revision",
		"fault-file",
	};
	struct tcemu_topo_phb *phb = last_phb(ps);
	struct tcemu_topo_pe *pe = last_pe(ps);
	struct tcemu_topo_device dev = { .vendor = 0x1b36, .device = 0x0005, .class_code = 0x00ff00,
					 .revision = TOPO_PLAIN_REVISION };
	struct tcemu_topo_device *devs, peer;
	struct tok tk, val, disk = { NULL, 0 }, fault_file = { NULL, 0 };
	char q[QUOTE_MAX];
	uint64_t v;
	uint32_t seen = 0, domain = 0, peer_domain = 0;
	size_t key = 0;
	int rc;

	if (!pe)
		return fail(ps, "device before any pe");
	if (!next_tok(ps, &tk))
		return fail(ps, "missing BDF for device (expected DDDD:BB:DD.F)");
	rc = get_bdf(ps, &tk, &dev, &domain);
	if (rc)
		return rc;
	while (next_tok(ps, &tk)) {
		rc = get_key(ps, &tk, "device", keys, NKEYS, &seen, &key, &val);
		if (rc)
			return rc;
		switch (key) {
		case K_VENDOR:
		case K_DEVICE:
		case K_SVENDOR:
		case K_SDEVICE:
			rc = get_uint(ps, &val, keys[key], true, 0xffff, &v);
			if (key == K_VENDOR)
				dev.vendor = (uint16_t)v;
			else if (key == K_DEVICE)
				dev.device = (uint16_t)v;
			else if (key == K_SVENDOR)
				dev.subsys_vendor = (uint16_t)v;
			else
				dev.subsys_device = (uint16_t)v;
			break;
		case K_CLASS:
			rc = get_uint(ps, &val, "class", true, 0xffffff, &v);
			dev.class_code = (uint32_t)v;
			break;
		case K_REVISION:
			rc = get_uint(ps, &val, "revision", true, 0xff, &v);
			dev.revision = (uint8_t)v;
			break;
		case K_ROM:
			rc = get_size(ps, &val, "rom size", &dev.rom_size);
			if (!rc && (!is_pow2(dev.rom_size) || dev.rom_size < 2 * KIB || dev.rom_size > 2 * GIB))
				rc = fail(ps, "rom size '%s' must be a power of two from 2K to 2G", quote(&val, q));
			break;
		case K_MODEL:
			if (tok_is(&val, "virtio-net"))
				dev.model = tcemu_model_builtin("virtio-net");
			else if (tok_is(&val, "virtio-blk"))
				dev.model = tcemu_model_builtin("virtio-blk");
			if (!dev.model)
				rc = fail(ps, "unknown model '%s' (expected virtio-net or virtio-blk)", quote(&val, q));
			break;
		case K_LINK:
			rc = get_bdf(ps, &val, &peer, &peer_domain);
			memcpy(dev.link, peer.bdf, sizeof(dev.link));
			dev.link_given = true;
			break;
		case K_DISK:
			disk = val;
			if (memchr(val.s, ',', val.len) || val.len >= 512)
				rc = fail(ps, "disk '%s': a path of at most 511 bytes without ','", quote(&val, q));
			break;
		case K_FAULT_FILE:
			fault_file = val;
			if (memchr(val.s, ',', val.len) || val.len >= 256)
				rc = fail(ps, "fault-file '%s': a path of at most 255 bytes without ','", quote(&val, q));
			break;
		case K_SIZE:
			rc = get_size(ps, &val, "disk size", &dev.disk_size);
			if (!rc && (!dev.disk_size || dev.disk_size % 512 || dev.disk_size > (1ull << 44)))
				rc = fail(ps, "disk size '%s' must be a multiple of 512 from 512 to 16T", quote(&val, q));
			break;
		default:
			rc = get_bar(ps, (unsigned)(key - K_BAR0), &val, &dev.bars[key - K_BAR0]);
			break;
		}
		if (rc)
			return rc;
	}
	if (!dev.model && (seen & (1u << K_LINK | 1u << K_DISK | 1u << K_SIZE)))
		return fail(ps, "%s= needs a model (link= model=virtio-net; disk=, size= model=virtio-blk)",
			    keys[seen & (1u << K_LINK) ? K_LINK : seen & (1u << K_DISK) ? K_DISK : K_SIZE]);
	if (dev.model && strcmp(dev.model->name, "virtio-net") == 0 && (seen & (1u << K_DISK | 1u << K_SIZE)))
		return fail(ps, "%s= is for model=virtio-blk, not virtio-net", seen & (1u << K_DISK) ? "disk" : "size");
	if ((seen & (1u << K_FAULT_FILE)) && (!dev.model || strcmp(dev.model->name, "virtio-blk") != 0))
		return fail(ps, "fault-file= is for model=virtio-blk");
	if (dev.model && strcmp(dev.model->name, "virtio-blk") == 0 && (seen & (1u << K_LINK)))
		return fail(ps, "link= is for model=virtio-net, not virtio-blk");
	if ((seen & (1u << K_DISK)) && (seen & (1u << K_SIZE)))
		return fail(ps, "give disk= (an image file, its own size) or size= (a memory disk), not both");
	if (dev.link_given && strcmp(dev.link, dev.bdf) == 0)
		return fail(ps, "link=%s: a port cannot be cabled to itself (without link= it loops back)", dev.link);
	if (dev.model) {
		rc = apply_model(ps, &dev, seen, K_VENDOR, K_BAR0, K_ROM);
		if (rc)
			return rc;
		if (!(seen & (1u << K_REVISION)))
			dev.revision = dev.model->revision; /* transitional virtio: 0 */
	} else if (!(seen & (1u << K_SVENDOR))) {
		dev.subsys_vendor = dev.vendor;
	}
	for (unsigned n = 0; n < 5; n++)
		if ((dev.bars[n].flags & TCEMU_BAR_MEM64) && (seen & (1u << (K_BAR0 + n + 1))))
			return fail(ps, "bar%u cannot be given: it is the upper half of 64-bit bar%u", n + 1, n);
	if (domain != phb->domain)
		return fail(ps, "device %s is not in PCI domain %04" PRIx32 " of phb %" PRIu32, dev.bdf,
			    phb->domain, phb->index);
	if (bit_test(ps->bdf_used, bdf_key(dev.bdf))) {
		for (size_t i = 0; i < phb->npes; i++)
			for (size_t j = 0; j < phb->pes[i].ndevices; j++)
				if (strcmp(phb->pes[i].devices[j].bdf, dev.bdf) == 0)
					return fail(ps, "duplicate device %s (first defined at line %u)", dev.bdf,
						    phb->pes[i].devices[j].line);
	}

	devs = grow(pe->devices, &ps->dev_cap, pe->ndevices, sizeof(*pe->devices));
	if (!devs)
		return nomem(ps);
	pe->devices = devs;
	if (disk.len) {
		dev.disk = strndup(disk.s, disk.len);
		if (!dev.disk)
			return nomem(ps);
	}
	if (fault_file.len) {
		dev.fault_file = strndup(fault_file.s, fault_file.len);
		if (!dev.fault_file) {
			free(dev.disk);
			return nomem(ps);
		}
	}
	dev.line = ps->line;
	pe->devices[pe->ndevices++] = dev;
	bit_set(ps->bdf_used, bdf_key(dev.bdf));
	return 0;
}

/* The device at bdf anywhere in the topology, or NULL. */
static struct tcemu_topo_device *find_device(struct tcemu_topology *t, const char *bdf)
{
	for (size_t i = 0; i < t->nphbs; i++)
		for (size_t j = 0; j < t->phbs[i].npes; j++)
			for (size_t d = 0; d < t->phbs[i].pes[j].ndevices; d++)
				if (strcmp(t->phbs[i].pes[j].devices[d].bdf, bdf) == 0)
					return &t->phbs[i].pes[j].devices[d];
	return NULL;
}

/*
 * Cables (after the whole text): a link names another virtio-net device; the cable is made
 * symmetric (the named port gets link= back unless it names its own, which must then be this one).
 */
static int check_links(struct parser *ps)
{
	struct tcemu_topology *t = ps->t;

	for (size_t i = 0; i < t->nphbs; i++)
		for (size_t j = 0; j < t->phbs[i].npes; j++)
			for (size_t d = 0; d < t->phbs[i].pes[j].ndevices; d++) {
				struct tcemu_topo_device *a = &t->phbs[i].pes[j].devices[d], *b;

				if (!a->link_given)
					continue;
				b = find_device(t, a->link);
				if (!b)
					return report(&ps->msg, a->line, -EINVAL, "link=%s: no such device", a->link);
				if (b->model != a->model)
					return report(&ps->msg, a->line, -EINVAL,
						      "link=%s: not a virtio-net device (line %u)", a->link, b->line);
				if (b->link[0] && strcmp(b->link, a->bdf) != 0)
					return report(&ps->msg, a->line, -EINVAL,
						      "link=%s: that port is cabled to %s (line %u)", a->link, b->link,
						      b->line);
				memcpy(b->link, a->bdf, sizeof(b->link));
			}
	return 0;
}

static int parse_statement(struct parser *ps)
{
	struct tok kw;
	char q[QUOTE_MAX];

	if (!next_tok(ps, &kw))
		return 0;
	if (tok_is(&kw, "phb"))
		return parse_phb(ps);
	if (tok_is(&kw, "pe"))
		return parse_pe(ps);
	if (tok_is(&kw, "device"))
		return parse_device(ps);
	if (tok_is(&kw, "page-size"))
		return parse_page_size(ps);
	if (tok_is(&kw, "memlock"))
		return parse_memlock(ps);
	return fail(ps, "unknown statement '%s' (expected phb, pe, device, page-size or memlock)",
		    quote(&kw, q));
}

static int parse_lines(struct parser *ps, const char *text, size_t len)
{
	const char *p = text, *end = text + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end;
		const char *hash;
		int rc;

		ps->line++;
		if (eol > p && eol[-1] == '\r')
			eol--;
		if (eol - p > TCEMU_TOPO_MAX_LINE)
			return fail(ps, "line too long (%zu bytes, max %d)", (size_t)(eol - p), TCEMU_TOPO_MAX_LINE);
		/*
		 * No NUL, and no other control character but the tab: a carriage return inside a line, say,
		 * would end up inside a word, such as a disk path, and not survive the written-back form
		 * (found by fuzz_topology).
		 */
		for (const char *c = p; c < eol; c++) {
			if (*c == '\0')
				return fail(ps, "NUL byte in line");
			if ((unsigned char)*c < 0x20 && *c != '\t')
				return fail(ps, "control character 0x%02x in line", (unsigned char)*c);
		}
		hash = memchr(p, '#', (size_t)(eol - p));
		ps->cur = p;
		ps->end = hash ? hash : eol;
		rc = parse_statement(ps);
		if (rc)
			return rc;
		p = nl ? nl + 1 : end;
	}
	return 0;
}

/* End of text: the last pe must be complete, and pes without group= get the free numbers. */
static int finish(struct parser *ps)
{
	struct tcemu_topology *t = ps->t;
	uint32_t next = 0;
	int rc;

	rc = check_last_pe(ps);
	if (rc)
		return rc;
	if (!t->nphbs)
		return report(&ps->msg, 0, -EINVAL, "no phb defined");
	rc = check_links(ps);
	if (rc)
		return rc;
	for (size_t i = 0; i < t->nphbs; i++) {
		for (size_t j = 0; j < t->phbs[i].npes; j++) {
			struct tcemu_topo_pe *pe = &t->phbs[i].pes[j];

			if (pe->group != GROUP_PENDING)
				continue;
			while (next <= TCEMU_TOPO_MAX_GROUP && bit_test(ps->group_used, next))
				next++;
			if (next > TCEMU_TOPO_MAX_GROUP)
				return report(&ps->msg, pe->line, -EINVAL, "no free group number left for pe %" PRIu32,
					      pe->pe_number);
			pe->group = next;
			bit_set(ps->group_used, next);
		}
	}
	return 0;
}

int tcemu_topology_parse(const char *text, size_t len, const char *name, struct tcemu_topology **out, char *err,
			 size_t errlen)
{
	struct msg m = { err, errlen, name ? name : "topology" };
	struct parser *ps;
	int rc;

	if (err && errlen)
		err[0] = '\0';
	if (!out || (!text && len))
		return report(&m, 0, -EINVAL, "invalid arguments");
	if (len > TCEMU_TOPO_MAX_FILE)
		return report(&m, 0, -EINVAL, "text too large (%zu bytes, max %u)", len, TCEMU_TOPO_MAX_FILE);
	ps = calloc(1, sizeof(*ps));
	if (!ps)
		return report(&m, 0, -ENOMEM, "out of memory");
	ps->msg = m;
	ps->t = calloc(1, sizeof(*ps->t));
	if (!ps->t) {
		rc = nomem(ps);
		goto err_free_parser;
	}
	rc = len ? parse_lines(ps, text, len) : 0;
	if (rc)
		goto err_free_topology;
	rc = finish(ps);
	if (rc)
		goto err_free_topology;
	*out = ps->t;
	free(ps);
	return 0;

err_free_topology:
	tcemu_topology_free(ps->t);
err_free_parser:
	free(ps);
	return rc;
}

/* strerror without its shared buffer. */
static const char *error_string(int e, char *buf, size_t len)
{
#if defined(__GLIBC__) && defined(_GNU_SOURCE)
	return strerror_r(e, buf, len);
#else
	return strerror_r(e, buf, len) == 0 ? buf : "unknown error";
#endif
}

static int report_errno(const struct msg *m, int e)
{
	char buf[128];

	return report(m, 0, -e, "%s", error_string(e, buf, sizeof(buf)));
}

/* Reads all of fd into a new buffer; more than TCEMU_TOPO_MAX_FILE bytes is -EFBIG. */
static int read_all(const struct msg *m, int fd, char **bufp, size_t *lenp)
{
	char *buf = NULL, *nbuf;
	size_t len = 0, cap = 0;
	int rc;

	for (;;) {
		ssize_t n;

		if (len == cap) {
			size_t ncap = cap ? cap * 2 : 16384;

			if (ncap > TCEMU_TOPO_MAX_FILE + 1)
				ncap = TCEMU_TOPO_MAX_FILE + 1;
			nbuf = realloc(buf, ncap);
			if (!nbuf) {
				rc = report_errno(m, ENOMEM);
				goto err_free_buf;
			}
			buf = nbuf;
			cap = ncap;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = report_errno(m, errno);
			goto err_free_buf;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > TCEMU_TOPO_MAX_FILE) {
			rc = report(m, 0, -EFBIG, "file too large (more than %u bytes)", TCEMU_TOPO_MAX_FILE);
			goto err_free_buf;
		}
	}
	*bufp = buf;
	*lenp = len;
	return 0;

err_free_buf:
	free(buf);
	return rc;
}

int tcemu_topology_load(const char *path, struct tcemu_topology **out, char *err, size_t errlen)
{
	struct msg m = { err, errlen, path ? path : "(null)" };
	char *buf = NULL;
	size_t len = 0;
	int fd, rc;

	if (err && errlen)
		err[0] = '\0';
	if (!path || !out)
		return report(&m, 0, -EINVAL, "invalid arguments");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return report_errno(&m, errno);
	rc = read_all(&m, fd, &buf, &len);
	close(fd);
	if (rc)
		return rc;
	rc = tcemu_topology_parse(buf, len, path, out, err, errlen);
	free(buf);
	return rc;
}

void tcemu_topology_free(struct tcemu_topology *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nphbs; i++) {
		for (size_t j = 0; j < t->phbs[i].npes; j++) {
			for (size_t d = 0; d < t->phbs[i].pes[j].ndevices; d++) {
				free(t->phbs[i].pes[j].devices[d].disk);
				free(t->phbs[i].pes[j].devices[d].fault_file);
			}
			free(t->phbs[i].pes[j].devices);
		}
		free(t->phbs[i].pes);
	}
	free(t->phbs);
	free(t);
}

const char *tcemu_topology_default_text(void)
{
	return default_text;
}

const char *tcemu_topology_profile_name(enum tcemu_profile p)
{
	const struct tcemu_profile_info *prof = tcemu_profile_info(p);

	return prof ? prof->name : NULL;
}
