/* SPDX-License-Identifier: MIT */
/*
 * Client defects and device DMA faults (what the host keeps: host_defect, host_defect_unmap_nothing,
 * host_dma_fault) and the human-readable summary (tcemu_host_summary, tcemu_host_summary_signal).
 *
 * Defects are kept by kind, not one by one. A kind is what a message says apart from its numbers:
 * for host_defect its format string; an UNMAP_DMA that cleared nothing; a DMA fault of one device
 * in one direction on one IOMMU state. A kind keeps its count, its first occurrence's message and
 * its first few examples; the summary and tcemu_host_defect give one line per kind. Logging is
 * rate-limited per kind: the first DEFECT_WARN_FIRST occurrences at WARN, then one line saying
 * that more are counted and not logged, then (host_defects_final, from tcemu_host_close_all) one
 * line with the final count.
 *
 * An UNMAP_DMA that cleared nothing is legitimate (QEMU clears a guest's whole default window one
 * entry at a time at boot: 262144 calls for 1 GiB), so its kind is a note, not a defect: the
 * summary lists it under "notes", it is not counted in stats.defects, and it is logged at INFO.
 *
 * The summary is written by a formatter of its own (sb_printf: no vsnprintf, no allocation), so
 * that tcemu_host_summary_signal can run in a signal handler: it reads the counters directly and
 * lists the kinds only if their lock is free.
 *
 * Locking (vfio/host_priv.h): host->stats_lock, a leaf, protects the kinds (dkinds, ndkinds,
 * dkcap, dkinds_dropped); the counters are atomics. Nothing is logged under stats_lock.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tcemu/devmodel.h>
#include <tcemu/host.h>

#include "vfio/host_priv.h"
#include "devices/models.h"

#define DEFECT_EXAMPLES 3   /* examples an aggregated line shows */
#define DEFECT_WARN_FIRST 3 /* occurrences of a kind logged before the rest are only counted */

/* The parts of the summary a kind can belong to. */
enum part {
	PART_DEFECT, /* client defects */
	PART_FAULT,  /* device DMA faults */
	PART_NOTE,   /* legitimate but noteworthy client behaviour */
};

static const char *const part_title[] = { "client defects", "DMA faults", "notes" };

struct defect_kind {
	const void *tag;       /* host_defect's format string, or a kind's own tag */
	char sub[48];          /* what tells kinds of one tag apart (device, direction, IOMMU state) */
	enum part part;        /* the part of the summary it belongs to */
	char many[112];        /* aggregated kinds: what N of them are ("UNMAP_DMA calls cleared nothing") */
	const char *tail;      /* aggregated kinds: what follows the examples */
	uint64_t count;
	uint64_t final_logged; /* the count when the final count was last logged */
	char *first;           /* the first occurrence's message, as logged */
	/* aggregated kinds: the short forms of the first occurrences; plain kinds: the next messages */
	char *ex[DEFECT_EXAMPLES];
	unsigned nex;
};

/* ---- a bounded buffer and a formatter that is async-signal-safe ---- */

/* Appends to a bounded buffer, counting what would have been needed. */
struct sbuf {
	char *p;
	size_t len, used;
};

static void sb_put(struct sbuf *b, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++, b->used++)
		if (b->used + 1 < b->len)
			b->p[b->used] = s[i];
}

static void sb_num(struct sbuf *b, unsigned long long v, unsigned base, bool neg)
{
	char tmp[24];
	size_t n = 0;

	do {
		tmp[sizeof(tmp) - ++n] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	if (neg)
		tmp[sizeof(tmp) - ++n] = '-';
	sb_put(b, tmp + sizeof(tmp) - n, n);
}

static void sb_end(struct sbuf *b)
{
	if (b->len)
		b->p[b->used < b->len ? b->used : b->len - 1] = '\0';
}

/*
 * printf for what the summary needs: %s, %c, %d, %u, %x with the length modifiers l, ll and z,
 * and %%. Nothing else (the compiler checks the calls against printf's rules).
 */
static void sb_printf(struct sbuf *b, const char *fmt, ...) TCEMU_PRINTF(2, 3);

static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	for (const char *p = fmt; *p; p++) {
		unsigned lng = 0;
		bool size = false;

		if (*p != '%') {
			size_t n = strcspn(p, "%");
			sb_put(b, p, n);
			p += n - 1;
			continue;
		}
		for (p++; *p == 'l' || *p == 'z'; p++) {
			lng += *p == 'l';
			size |= *p == 'z';
		}
		switch (*p) {
		case 's': {
			const char *s = va_arg(ap, const char *);
			s = s ? s : "(null)";
			sb_put(b, s, strlen(s));
			break;
		}
		case 'c': {
			char c = (char)va_arg(ap, int);
			sb_put(b, &c, 1);
			break;
		}
		case 'd': {
			long long v = size ? (long long)va_arg(ap, ssize_t) : lng > 1 ? va_arg(ap, long long)
								       : lng ? va_arg(ap, long) : va_arg(ap, int);
			sb_num(b, v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v, 10, v < 0);
			break;
		}
		case 'u':
		case 'x': {
			unsigned long long v = size ? va_arg(ap, size_t) : lng > 1 ? va_arg(ap, unsigned long long)
								     : lng ? va_arg(ap, unsigned long) : va_arg(ap, unsigned);
			sb_num(b, v, *p == 'x' ? 16 : 10, false);
			break;
		}
		case '%':
			sb_put(b, "%", 1);
			break;
		default: /* not used by this file */
			TCEMU_ASSERT(!"unsupported conversion");
			p--;
			break;
		}
	}
	va_end(ap);
}

/* bytes in the largest binary unit below 1024 of it, with one decimal ("96.0 MiB", "512 B"). */
static void sb_human(struct sbuf *b, uint64_t bytes)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	unsigned __int128 div = 1;
	unsigned long long tenths, rest;
	unsigned u = 0;

	while (bytes >= div * 1024 && u + 1 < TCEMU_ARRAY_SIZE(units)) {
		div *= 1024;
		u++;
	}
	if (!u) {
		sb_printf(b, "%llu B", (unsigned long long)bytes);
		return;
	}
	/* one decimal, the nearest value (ties to even, as printf's %.1f) */
	tenths = (unsigned long long)((unsigned __int128)bytes * 10 / div);
	rest = (unsigned long long)((unsigned __int128)bytes * 10 % div);
	if ((unsigned __int128)rest * 2 > div || ((unsigned __int128)rest * 2 == div && (tenths & 1)))
		tenths++;
	sb_printf(b, "%llu.%llu %s", tenths / 10, tenths % 10, units[u]);
}

/* ---- recording ---- */

/* The kind with this tag and sub, or NULL. stats_lock held. */
static struct defect_kind *kind_find(struct tcemu_host *h, const void *tag, const char *sub)
{
	for (size_t i = 0; i < h->ndkinds; i++)
		if (h->dkinds[i].tag == tag && strcmp(h->dkinds[i].sub, sub) == 0)
			return &h->dkinds[i];
	return NULL;
}

/* A new kind from proto, its first message msg. NULL: no room or no memory. stats_lock held. */
static struct defect_kind *kind_new(struct tcemu_host *h, const struct defect_kind *proto, const char *msg)
{
	struct defect_kind *k;

	if (h->ndkinds == h->dkcap) {
		size_t cap = h->dkcap ? 2 * h->dkcap : 8;
		struct defect_kind *n;

		if (h->ndkinds >= TCEMU_MAX_DEFECTS)
			return NULL;
		cap = cap > TCEMU_MAX_DEFECTS ? TCEMU_MAX_DEFECTS : cap;
		n = realloc(h->dkinds, cap * sizeof(*n));
		if (!n)
			return NULL;
		h->dkinds = n;
		h->dkcap = cap;
	}
	k = &h->dkinds[h->ndkinds];
	*k = *proto;
	k->first = strdup(msg);
	if (!k->first)
		return NULL;
	h->ndkinds++;
	return k;
}

/* What to call a kind in a log line: the aggregated noun, or the first message. */
static const char *kind_label(const struct defect_kind *k)
{
	return k->many[0] ? k->many : k->first;
}

/*
 * Counts one occurrence of the kind proto describes: msg is its full message, example its short
 * form (aggregated kinds). Logs it (rate-limited) with prefix.
 */
static void defect_add(struct tcemu_host *h, const struct defect_kind *proto, const char *prefix, const char *msg,
		       const char *example)
{
	enum tcemu_log_level level = proto->part == PART_NOTE ? TCEMU_LOG_INFO : TCEMU_LOG_WARN;
	struct defect_kind *k;
	uint64_t n = 0;
	char label[160] = "";

	if (proto->part != PART_NOTE)
		__atomic_add_fetch(&h->stats.defects, 1, __ATOMIC_RELAXED);
	/* A leaf: not under the other leaves (mms_lock, glink_lock). */
	TCEMU_ASSERT_NOT_HELD(&h->mms_lock);
	TCEMU_ASSERT_NOT_HELD(&h->glink_lock);
	tcemu_mutex_lock(&h->stats_lock);
	k = kind_find(h, proto->tag, proto->sub);
	if (!k)
		k = kind_new(h, proto, msg);
	if (k) {
		n = ++k->count;
		const char *keep = k->many[0] ? example : n > 1 ? msg : NULL;
		if (keep && k->nex < DEFECT_EXAMPLES) {
			k->ex[k->nex] = strdup(keep);
			if (k->ex[k->nex])
				k->nex++;
		}
		if (n == DEFECT_WARN_FIRST + 1)
			snprintf(label, sizeof(label), "%s", kind_label(k));
	} else {
		n = ++h->dkinds_dropped; /* not kept: rate-limited as one kind */
		if (n == DEFECT_WARN_FIRST + 1)
			snprintf(label, sizeof(label), "defects of further kinds (more than %d kinds)", TCEMU_MAX_DEFECTS);
	}
	tcemu_mutex_unlock(&h->stats_lock);
	if (n <= DEFECT_WARN_FIRST)
		tcemu_logf(&h->lg, level, "%s%s", prefix, msg);
	else if (n == DEFECT_WARN_FIRST + 1)
		tcemu_logf(&h->lg, level, "%smore of these are counted, not logged: %s (the total comes at exit)",
			   prefix, label);
}

/*
 * Counts one more occurrence of an existing kind that needs nothing more from it (its examples
 * kept, its logging past "more of these"), so that the caller can skip formatting its message:
 * QEMU's window clear is 262144 of them. false: the caller formats and calls defect_add.
 */
static bool kind_count_again(struct tcemu_host *h, const void *tag, const char *sub, enum part part)
{
	struct defect_kind *k;
	bool done = false;

	tcemu_mutex_lock(&h->stats_lock);
	k = kind_find(h, tag, sub);
	if (k && k->count > DEFECT_WARN_FIRST && k->nex >= DEFECT_EXAMPLES) {
		k->count++;
		done = true;
	}
	tcemu_mutex_unlock(&h->stats_lock);
	if (done && part != PART_NOTE)
		__atomic_add_fetch(&h->stats.defects, 1, __ATOMIC_RELAXED);
	return done;
}

void host_defect(struct tcemu_host *h, const char *fmt, ...)
{
	struct defect_kind proto = { .tag = fmt };
	char buf[512];
	va_list ap;

	if (kind_count_again(h, fmt, "", PART_DEFECT))
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	defect_add(h, &proto, "client defect: ", buf, NULL);
}

static const char unmap_nothing_tag[] = "unmap-nothing";

void host_defect_unmap_nothing(struct tcemu_host *h, uint64_t iova, uint64_t size, int container)
{
	struct defect_kind proto = {
		.tag = unmap_nothing_tag,
		.part = PART_NOTE,
		.many = "UNMAP_DMA calls cleared nothing",
		.tail = ": those ranges were never mapped (legitimate but wasteful when a client clears a whole "
			"window entry by entry, as QEMU does at boot)",
	};
	char msg[160], ex[80];

	if (kind_count_again(h, unmap_nothing_tag, "", PART_NOTE))
		return;
	snprintf(msg, sizeof(msg), "UNMAP_DMA(iova=0x%llx, size=0x%llx) on container %d cleared nothing: "
				   "that range was never mapped",
		 (unsigned long long)iova, (unsigned long long)size, container);
	snprintf(ex, sizeof(ex), "iova 0x%llx size 0x%llx on container %d", (unsigned long long)iova,
		 (unsigned long long)size, container);
	defect_add(h, &proto, "note: ", msg, ex);
}

static const char dma_fault_tag[] = "dma-fault";

void host_dma_fault(struct tcemu_host *h, const struct tcemu_model_fault *f)
{
	struct defect_kind proto = { .tag = dma_fault_tag, .part = PART_FAULT, .tail = "; each froze the PE" };
	const char *held = tcemu_model_fault_held_name(f->held);
	const char *dir = f->write ? "write" : "read";
	char ex[160];

	snprintf(proto.sub, sizeof(proto.sub), "%s %s %d", f->bdf, dir, (int)f->held);
	if (kind_count_again(h, dma_fault_tag, proto.sub, PART_FAULT))
		return;
	snprintf(proto.many, sizeof(proto.many), "DMA %s faults of device %s (%s)", dir, f->bdf, held);
	snprintf(ex, sizeof(ex), "0x%llx (tce 0x%llx)%s%s", (unsigned long long)f->bus, (unsigned long long)f->tce,
		 f->context[0] ? " in " : "", f->context);
	defect_add(h, &proto, "", f->message, ex);
}

void host_defects_final(struct tcemu_host *h)
{
	struct {
		char label[160];
		uint64_t count;
		enum part part;
	} out[8];
	size_t nout;

	/* In rounds of a few, to log outside the lock. */
	do {
		nout = 0;
		tcemu_mutex_lock(&h->stats_lock);
		for (size_t i = 0; i < h->ndkinds && nout < TCEMU_ARRAY_SIZE(out); i++) {
			struct defect_kind *k = &h->dkinds[i];

			if (k->count <= DEFECT_WARN_FIRST || k->count == k->final_logged)
				continue;
			k->final_logged = k->count;
			out[nout].count = k->count;
			out[nout].part = k->part;
			snprintf(out[nout].label, sizeof(out[nout].label), "%s%s", k->many[0] ? "" : "of ", kind_label(k));
			nout++;
		}
		tcemu_mutex_unlock(&h->stats_lock);
		for (size_t i = 0; i < nout; i++)
			tcemu_logf(&h->lg, out[i].part == PART_NOTE ? TCEMU_LOG_INFO : TCEMU_LOG_WARN,
				   "%s: %llu in all %s (%llu not logged)", part_title[out[i].part],
				   (unsigned long long)out[i].count, out[i].label,
				   (unsigned long long)(out[i].count - DEFECT_WARN_FIRST));
	} while (nout == TCEMU_ARRAY_SIZE(out));
}

void host_defects_free(struct tcemu_host *h)
{
	for (size_t i = 0; i < h->ndkinds; i++) {
		free(h->dkinds[i].first);
		for (unsigned e = 0; e < h->dkinds[i].nex; e++)
			free(h->dkinds[i].ex[e]);
	}
	free(h->dkinds);
	h->dkinds = NULL;
	h->ndkinds = h->dkcap = 0;
}

/* ---- the trace: runs of similar calls ---- */

#define TRACE_RUN_SHOWN 3 /* calls of a run logged in full */

struct trace_run {
	int fd;
	const char *name; /* the command's name (a static string): NULL when no run is open */
	long rc;
	bool steps;       /* the words step (a struct); else the args must be equal */
	uint64_t w[4];    /* the last call's words; w[0] (argsz, flags) must be equal */
	uint64_t step[4];
	uint64_t n;       /* calls in the run */
	char args[192];   /* the last call's decoded argument */
};

static void trace_line(struct tcemu_host *h, int fd, const char *name, const char *args, long rc)
{
	tcemu_logf(&h->lg, TCEMU_LOG_DEBUG, "ioctl(%d, VFIO_%s, %s) = %ld%s%s", fd, name, args, rc, rc < 0 ? " " : "",
		   rc < 0 ? strerror((int)-rc) : "");
}

/* Logs what the open run held back, and closes it. trace_lock held. */
static void trace_run_end(struct tcemu_host *h, struct trace_run *r)
{
	bool same = !r->steps || !(r->step[1] | r->step[2] | r->step[3]);

	if (r->name && r->n > TRACE_RUN_SHOWN) {
		if (same)
			tcemu_logf(&h->lg, TCEMU_LOG_DEBUG, "ioctl(%d, VFIO_%s, ...) = %ld: %llu more calls like the last",
				   r->fd, r->name, r->rc, (unsigned long long)(r->n - TRACE_RUN_SHOWN));
		else
			tcemu_logf(&h->lg, TCEMU_LOG_DEBUG,
				   "ioctl(%d, VFIO_%s, ...) = %ld: %llu more calls like the last, the words stepping by 0x%llx, "
				   "0x%llx, 0x%llx each; the last was %s",
				   r->fd, r->name, r->rc, (unsigned long long)(r->n - TRACE_RUN_SHOWN),
				   (unsigned long long)r->step[1], (unsigned long long)r->step[2],
				   (unsigned long long)r->step[3], r->args);
	}
	r->name = NULL;
	r->n = 0;
}

/* Whether this call continues the open run (and then takes it in). trace_lock held. */
static bool trace_run_take(struct trace_run *r, int fd, const char *name, const char *args, bool steps,
			   const uint64_t w[4], long rc)
{
	uint64_t step[4] = { 0 };

	if (!r->name || r->fd != fd || r->name != name || r->rc != rc || r->steps != steps)
		return false;
	if (steps) {
		if (w[0] != r->w[0])
			return false;
		for (unsigned i = 1; i < 4; i++)
			step[i] = w[i] - r->w[i];
		if (r->n > 1 && memcmp(step, r->step, sizeof(step)) != 0)
			return false;
		memcpy(r->step, step, sizeof(step));
	} else if (strcmp(args, r->args) != 0) {
		return false;
	}
	return true;
}

void host_trace_call(struct tcemu_host *h, int fd, const char *name, const char *args, bool steps,
		     const uint64_t w[4], long rc)
{
	struct trace_run *r;

	tcemu_mutex_lock(&h->trace_lock);
	if (!h->trun)
		h->trun = calloc(1, sizeof(*h->trun));
	r = h->trun;
	if (!r) { /* no memory: every call in full */
		trace_line(h, fd, name, args, rc);
		goto unlock;
	}
	if (!trace_run_take(r, fd, name, args, steps, w, rc)) {
		trace_run_end(h, r);
		r->fd = fd;
		r->name = name;
		r->rc = rc;
		r->steps = steps;
		memset(r->step, 0, sizeof(r->step));
	}
	memcpy(r->w, w, sizeof(r->w));
	snprintf(r->args, sizeof(r->args), "%s", args);
	if (++r->n <= TRACE_RUN_SHOWN)
		trace_line(h, fd, name, args, rc);
unlock:
	tcemu_mutex_unlock(&h->trace_lock);
}

void host_trace_flush(struct tcemu_host *h)
{
	tcemu_mutex_lock(&h->trace_lock);
	if (h->trun)
		trace_run_end(h, h->trun);
	tcemu_mutex_unlock(&h->trace_lock);
}

void host_trace_free(struct tcemu_host *h)
{
	free(h->trun);
	h->trun = NULL;
}

/* ---- the summary ---- */

/* A kind in one line: its message if it happened once, else its count and first examples. */
static void kind_line(struct sbuf *b, const struct defect_kind *k)
{
	if (k->count == 1) {
		sb_printf(b, "%s", k->first);
		return;
	}
	if (k->many[0]) {
		sb_printf(b, "%llu %s (first at ", (unsigned long long)k->count, k->many);
		for (unsigned e = 0; e < k->nex; e++)
			sb_printf(b, "%s%s", e ? ", " : "", k->ex[e]);
		sb_printf(b, "%s)%s", k->count > k->nex ? ", ..." : "", k->tail ? k->tail : "");
		return;
	}
	sb_printf(b, "%s (and %llu more like it", k->first, (unsigned long long)(k->count - 1));
	for (unsigned e = 0; e < k->nex; e++)
		sb_printf(b, "%s%s", e ? "; " : ": ", k->ex[e]);
	sb_printf(b, "%s)", k->count - 1 > k->nex ? "; ..." : "");
}

/* The kinds of one part (faults or not), numbered; the count of their occurrences first. */
static void kinds_part(struct sbuf *b, struct tcemu_host *h, enum part part, const char *note)
{
	uint64_t n = 0;
	size_t nk = 0, i, num = 0;

	for (i = 0; i < h->ndkinds; i++) {
		if (h->dkinds[i].part == part) {
			n += h->dkinds[i].count;
			nk++;
		}
	}
	if (part == PART_NOTE && !n)
		return; /* a part of its own only when there is something to note */
	sb_printf(b, "%s: %llu", part_title[part], (unsigned long long)n);
	if (n > nk)
		sb_printf(b, " in %zu kind%s", nk, nk == 1 ? "" : "s");
	sb_printf(b, "%s\n", n ? note : "");
	for (i = 0; i < h->ndkinds; i++) {
		if (h->dkinds[i].part != part)
			continue;
		sb_printf(b, "  %zu. ", ++num);
		kind_line(b, &h->dkinds[i]);
		sb_printf(b, "\n");
	}
}

/* The counters as they are, without settling the guest fast path's (which takes locks). */
static void stats_raw(struct tcemu_host *h, struct tcemu_host_stats *st)
{
	const uint64_t *src = (const uint64_t *)&h->stats;
	uint64_t *dst = (uint64_t *)st;

	for (size_t i = 0; i < sizeof(*st) / sizeof(uint64_t); i++)
		dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}

static size_t summary(struct tcemu_host *h, char *buf, size_t len, bool in_signal)
{
	struct sbuf b = { .p = buf, .len = len };
	struct tcemu_host_stats now, *end = h->exit_recorded ? &h->at_exit : &now;
	uint64_t total = 0, kept = 0;
	bool first = true;

	if (in_signal)
		stats_raw(h, &now);
	else
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
	sb_printf(&b, "locked memory: ");
	sb_human(&b, now.locked_peak);
	sb_printf(&b, " at peak, ");
	sb_human(&b, end->locked_bytes);
	sb_printf(&b, " at exit\n");
	if (h->exit_recorded && (end->entries_mapped || end->regions_registered || end->locked_bytes)) {
		/* what closing the descriptors left open released (the kernel's close at process exit) */
		sb_printf(&b, "after closing what was left open: %llu entries mapped, %llu regions registered, ",
			  (unsigned long long)now.entries_mapped, (unsigned long long)now.regions_registered);
		sb_human(&b, now.locked_bytes);
		sb_printf(&b, " locked\n");
	}
	if (in_signal ? tcemu_mutex_trylock(&h->stats_lock) != 0 : (tcemu_mutex_lock(&h->stats_lock), false)) {
		sb_printf(&b, "client defects: %llu (the list was being written when the signal came: not shown)\n",
			  (unsigned long long)now.defects);
		sb_end(&b);
		return b.used;
	}
	kinds_part(&b, h, PART_DEFECT, "");
	kinds_part(&b, h, PART_FAULT, " (the IOMMU refused a device access; the PE froze)");
	kinds_part(&b, h, PART_NOTE, " (legitimate client behaviour worth knowing; not defects)");
	for (size_t i = 0; i < h->ndkinds; i++)
		if (h->dkinds[i].part != PART_NOTE)
			kept += h->dkinds[i].count;
	if (now.defects > kept)
		sb_printf(&b, "  (%llu more of further kinds not kept)\n", (unsigned long long)(now.defects - kept));
	tcemu_mutex_unlock(&h->stats_lock);
	{ /* the device models' own counters (devices/model.c; only trylocks in a signal handler) */
		char dev[2048];

		if (host_models_summary(h, dev, sizeof(dev), in_signal))
			sb_printf(&b, "%s", dev);
	}
	sb_end(&b);
	return b.used;
}

TCEMU_EXPORT size_t tcemu_host_summary(struct tcemu_host *h, char *buf, size_t len)
{
	return summary(h, buf, len, false);
}

TCEMU_EXPORT size_t tcemu_host_summary_signal(struct tcemu_host *h, char *buf, size_t len)
{
	return summary(h, buf, len, true);
}

TCEMU_EXPORT size_t tcemu_host_defect_count(struct tcemu_host *h)
{
	size_t n;

	tcemu_mutex_lock(&h->stats_lock);
	n = h->ndkinds;
	tcemu_mutex_unlock(&h->stats_lock);
	return n;
}

TCEMU_EXPORT int tcemu_host_defect(struct tcemu_host *h, size_t i, char *buf, size_t len)
{
	struct sbuf b = { .p = buf, .len = len };
	int rc = 0;

	tcemu_mutex_lock(&h->stats_lock);
	if (i >= h->ndkinds)
		rc = -ENOENT;
	else
		kind_line(&b, &h->dkinds[i]);
	tcemu_mutex_unlock(&h->stats_lock);
	sb_end(&b);
	return rc;
}
