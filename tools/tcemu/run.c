/* SPDX-License-Identifier: MIT */
/*
 * tcemu run [--json FILE] [--no-progress] [SCENARIO]: the whole stack end to end.
 *
 * An emulated POWER9 host, a guest with sparse RAM, and a passed-through device. tcemu plays the
 * VMM: it registers the guest's RAM with the device's v2 container, gives the guest a PHB with a
 * default DMA window linked to the container, and runs the guest's DMA life:
 *   boot      DDW query/create with the largest page size, direct map of all RAM with
 *             H_PUT_TCE_INDIRECT (512 TCEs a call), as a Linux guest does; checked by device reads
 *   stream    per buffer on the default window: H_PUT_TCE, device DMA write and read with the data
 *             checked end to end, H_STUFF_TCE
 *   fault     a DMA through a cleared entry freezes the PE; EEH (GET_STATE, unfreeze) recovers it
 *   teardown  everything unmapped, removed, unregistered, closed; accounting back to zero
 * and reports each phase (text, and JSON with --json). Scenario file format: docs/run.md.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <endian.h>
#include <linux/vfio.h>

#include <tcemu/devmodel.h>
#include <tcemu/dma.h>
#include <tcemu/guest.h>
#include <tcemu/host.h>
#include <tcemu/rtas.h>

#include "cli.h"

#define MiB (1ull << 20)
#define GiB (1ull << 30)
#define DEFAULT_LIOBN 0x80000000u
#define DDW_LIOBN_BASE 0x80000100u
#define GUEST_BUID 0x800000020000000ull

struct scenario {
	uint64_t ram;            /* guest RAM */
	uint64_t buffers;        /* stream phase: buffers */
	uint64_t buffer_size;    /* bytes per buffer, at most 4 KiB (one default-window page) */
	uint64_t default_window; /* the default window's size */
	uint32_t group;          /* the passed-through device's IOMMU group */
	uint64_t seed;
	char topology[PATH_MAX]; /* empty: the embedded default */
	char name[PATH_MAX];
};

static const struct scenario default_scenario = {
	.ram = 4 * GiB,
	.buffers = 100000,
	.buffer_size = 4096,
	.default_window = GiB,
	.group = 0,
	.seed = 1,
	.name = "<default>",
};

/* ---- scenario files: "key = value" lines, '#' comments ---- */

static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s)
		return -1;
	switch (*end) {
	case 'K': case 'k': v <<= 10, end++; break;
	case 'M': case 'm': v <<= 20, end++; break;
	case 'G': case 'g': v <<= 30, end++; break;
	case 'T': case 't': v <<= 40, end++; break;
	default: break;
	}
	if (*end)
		return -1;
	*out = v;
	return 0;
}

static int load_scenario(const char *path, struct scenario *sc, char *err, size_t errlen) __attribute__((noinline));
static int load_scenario(const char *path, struct scenario *sc, char *err, size_t errlen)
{
	char line[1024];
	unsigned n = 0;
	FILE *f = fopen(path, "re");

	*sc = default_scenario;
	snprintf(sc->name, sizeof(sc->name), "%s", path);
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		char key[64], val[256];
		uint64_t v = 0;

		n++;
		char *hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		if (sscanf(line, " %63[a-z-] = %255s", key, val) != 2) {
			if (strspn(line, " \t\r\n") == strlen(line))
				continue;
			snprintf(err, errlen, "%.256s:%u: expected 'key = value'", path, n);
			goto fail;
		}
		if (strcmp(key, "topology") == 0) {
			snprintf(sc->topology, sizeof(sc->topology), "%s", val);
			continue;
		}
		if (parse_size(val, &v)) {
			snprintf(err, errlen, "%.256s:%u: '%.64s' is not a number or size", path, n, val);
			goto fail;
		}
		if (strcmp(key, "ram") == 0 && v >= 64 * MiB && !(v & (v - 1)) && v <= (1ull << 40))
			sc->ram = v;
		else if (strcmp(key, "buffers") == 0 && v <= 100000000)
			sc->buffers = v;
		else if (strcmp(key, "buffer-size") == 0 && v >= 1 && v <= 4096)
			sc->buffer_size = v;
		else if (strcmp(key, "default-window") == 0 && v >= 64 * MiB && !(v & (v - 1)) && v <= 4 * GiB)
			sc->default_window = v;
		else if (strcmp(key, "group") == 0 && v < 65536)
			sc->group = (uint32_t)v;
		else if (strcmp(key, "seed") == 0)
			sc->seed = v;
		else {
			snprintf(err, errlen, "%.256s:%u: '%.63s = %.64s': unknown key or value out of range (see docs/run.md)",
				 path, n, key, val);
			goto fail;
		}
	}
	fclose(f);
	if (sc->default_window > sc->ram) {
		snprintf(err, errlen, "%s: default-window is larger than ram", path);
		return -1;
	}
	return 0;
fail:
	fclose(f);
	return -1;
}

/* ---- the run ---- */

struct phase {
	const char *name;
	bool passed;
	char note[256];
	double seconds;
	uint64_t hcalls, dmas, tces, host_entries;
	uint64_t table_bytes, locked_bytes, invalidations, faults;
};

struct run {
	struct scenario sc;
	struct tcemu_host *h;
	struct tcemu_dma *dma;
	bool own_dma; /* created here (no model in the topology), not the host's */
	struct tcemu_guest *g;
	struct tcemu_guest_phb *phb;
	struct tcemu_pe *pe;
	int c, grp;
	uint8_t *ram;
	bool progress;
	struct phase ph[4];
	unsigned nph;
	uint64_t kills0, faults0;
	uint32_t ddw_liobn, ddw_shift;
	uint64_t ddw_start;
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void progress(struct run *r, const char *phase, uint64_t done, uint64_t total)
{
	static int last = -1;
	int pct = total ? (int)(done * 100 / total) : 100, bar = pct / 4;

	if (!r->progress || pct == last)
		return;
	last = pct;
	fprintf(stderr, "\r  %-9s [%.*s%.*s] %3d%%", phase, bar, "#########################", 25 - bar,
		"                         ", pct);
	if (pct == 100) {
		fputc('\n', stderr);
		last = -1;
	}
}

static struct phase *phase_begin(struct run *r, const char *name)
{
	struct phase *p = &r->ph[r->nph++];
	struct tcemu_dma_stats ds;

	memset(p, 0, sizeof(*p));
	p->name = name;
	p->passed = true;
	p->seconds = now();
	r->kills0 = tcemu_pe_invalidations(r->pe);
	tcemu_dma_stats(r->dma, r->pe, &ds);
	r->faults0 = ds.faults;
	return p;
}

static void phase_end(struct run *r, struct phase *p)
{
	struct tcemu_container_info ci;
	struct tcemu_dma_stats ds;

	p->seconds = now() - p->seconds;
	p->invalidations = tcemu_pe_invalidations(r->pe) - r->kills0;
	tcemu_dma_stats(r->dma, r->pe, &ds);
	p->faults = ds.faults - r->faults0;
	if (r->c >= 0 && tcemu_host_container_info(r->h, r->c, &ci) == 0)
		for (unsigned s = 0; s < TCEMU_PE_WINDOWS; s++)
			p->table_bytes += ci.windows[s].allocated_bytes;
	tcemu_host_locked(r->h, getpid(), &p->locked_bytes, NULL);
	progress(r, p->name, 1, 1);
}

#define FAIL(p, ...)                                                                               \
	do {                                                                                       \
		(p)->passed = false;                                                               \
		snprintf((p)->note, sizeof((p)->note), __VA_ARGS__);                              \
	} while (0)

static long hcall(struct run *r, struct phase *p, unsigned long op, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3)
{
	uint64_t a[4] = { a0, a1, a2, a3 };
	p->hcalls++;
	return tcemu_guest_hcall(r->g, op, a, NULL);
}

static uint32_t mask_to_shift(uint32_t bit)
{
	static const struct { uint32_t bit, shift; } map[] = {
		{ 0x1, 12 }, { 0x2, 16 }, { 0x4, 24 }, { 0x8, 25 }, { 0x10, 26 }, { 0x20, 27 }, { 0x40, 28 },
		{ 0x80, 34 }, { 0x100, 21 },
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (map[i].bit == bit)
			return map[i].shift;
	return 0;
}

/* Boot: DDW with the largest page size, all RAM direct-mapped with H_PUT_TCE_INDIRECT. */
static void phase_boot(struct run *r)
{
	struct phase *p = phase_begin(r, "boot");
	const uint32_t buid_hi = (uint32_t)(GUEST_BUID >> 32), buid_lo = (uint32_t)GUEST_BUID;
	uint32_t in[5] = { 1u << 8, buid_hi, buid_lo }, out[6] = { 0 }, shift = 0, wshift;
	uint64_t list_gpa = r->sc.ram - 4096, tces, seed = r->sc.seed;

	if (tcemu_rtas_call(r->phb, "ibm,query-pe-dma-window", in, 3, out, 6) || out[0] != 0) {
		FAIL(p, "ibm,query-pe-dma-window failed (status %d)", (int)out[0]);
		goto out;
	}
	for (uint32_t bit = 1; bit <= 0x100; bit <<= 1) {
		uint32_t s = (out[4] & bit) ? mask_to_shift(bit) : 0;
		if (s > shift)
			shift = s; /* the largest offered page size */
	}
	for (wshift = shift; (1ull << wshift) < r->sc.ram; wshift++)
		;
	in[3] = shift;
	in[4] = wshift;
	if (tcemu_rtas_call(r->phb, "ibm,create-pe-dma-window", in, 5, out, 4) || out[0] != 0) {
		FAIL(p, "ibm,create-pe-dma-window(page shift %u, window shift %u) failed (status %d)", shift, wshift,
		     (int)out[0]);
		goto out;
	}
	r->ddw_liobn = out[1];
	r->ddw_start = (uint64_t)out[2] << 32 | out[3];
	r->ddw_shift = shift;
	/* Direct map: TCE i = guest physical i << shift, read/write, 512 per call. */
	tces = r->sc.ram >> shift;
	for (uint64_t i = 0; i < tces && p->passed; i += TCEMU_TCE_LIST_MAX) {
		uint64_t n = tces - i < TCEMU_TCE_LIST_MAX ? tces - i : TCEMU_TCE_LIST_MAX;
		uint64_t *list = (uint64_t *)(r->ram + list_gpa);
		for (uint64_t k = 0; k < n; k++)
			list[k] = htobe64(((i + k) << shift) | TCEMU_TCE_READ | TCEMU_TCE_WRITE);
		long rc = hcall(r, p, TCEMU_H_PUT_TCE_INDIRECT, r->ddw_liobn, r->ddw_start + (i << shift), list_gpa, n);
		if (rc != TCEMU_H_SUCCESS)
			FAIL(p, "H_PUT_TCE_INDIRECT at TCE %" PRIu64 ": %ld", i, rc);
		p->tces += n;
		progress(r, "boot", i + n, tces);
	}
	struct tcemu_container_info ci;
	if (p->passed && tcemu_host_container_info(r->h, r->c, &ci) == 0)
		for (unsigned s = 0; s < TCEMU_PE_WINDOWS; s++)
			if (ci.windows[s].present && ci.windows[s].start == r->ddw_start)
				p->host_entries = ci.windows[s].valid_entries;
	/* The device reads RAM through the direct map at random places: the bytes must be the RAM's. */
	for (unsigned k = 0; k < 64 && p->passed; k++) {
		uint8_t buf[256];
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		uint64_t gpa = (seed >> 16) % (r->sc.ram - 4096 - sizeof(buf));
		memset(r->ram + gpa, (int)(k + 1), sizeof(buf));
		p->dmas++;
		if (tcemu_dma_read(r->dma, r->pe, r->ddw_start + gpa, buf, sizeof(buf)) != 0 ||
		    memcmp(buf, r->ram + gpa, sizeof(buf)) != 0)
			FAIL(p, "a device read through the direct map at guest physical 0x%" PRIx64 " is wrong", gpa);
	}
out:
	phase_end(r, p);
}

/* Streaming on the default window: map, DMA both ways with the data checked, unmap. */
static void phase_stream(struct run *r)
{
	struct phase *p = phase_begin(r, "stream");
	const uint64_t ring = 1024, len = r->sc.buffer_size, window_pages = r->sc.default_window >> 12;
	uint8_t out[4096], in[4096];
	uint64_t x = r->sc.seed;

	for (uint64_t i = 0; i < r->sc.buffers && p->passed; i++) {
		uint64_t gpa = 16 * MiB + (i % ring) * 4096, ioba = ((i * 7919) % window_pages) << 12;
		long rc = hcall(r, p, TCEMU_H_PUT_TCE, DEFAULT_LIOBN, ioba, gpa | TCEMU_TCE_READ | TCEMU_TCE_WRITE, 0);
		if (rc != TCEMU_H_SUCCESS) {
			FAIL(p, "H_PUT_TCE buffer %" PRIu64 ": %ld", i, rc);
			break;
		}
		p->tces++;
		for (uint64_t k = 0; k < len; k += 8) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			memcpy(out + k, &x, len - k < 8 ? len - k : 8);
		}
		/* device -> guest memory: the guest sees exactly the bytes; guest memory -> device */
		p->dmas += 2;
		if (tcemu_dma_write(r->dma, r->pe, ioba, out, len) != 0 || memcmp(r->ram + gpa, out, len) != 0 ||
		    tcemu_dma_read(r->dma, r->pe, ioba, in, len) != 0 || memcmp(in, out, len) != 0) {
			FAIL(p, "buffer %" PRIu64 ": data differs end to end (ioba 0x%" PRIx64 ")", i, ioba);
			break;
		}
		rc = hcall(r, p, TCEMU_H_STUFF_TCE, DEFAULT_LIOBN, ioba, 0, 1);
		if (rc != TCEMU_H_SUCCESS)
			FAIL(p, "H_STUFF_TCE buffer %" PRIu64 ": %ld", i, rc);
		if ((i & 1023) == 0)
			progress(r, "stream", i, r->sc.buffers);
	}
	phase_end(r, p);
}

static long eeh(struct run *r, uint32_t op)
{
	struct vfio_eeh_pe_op o = { .argsz = sizeof(o), .op = op };
	return tcemu_host_ioctl(r->h, r->c, VFIO_EEH_PE_OP, &o);
}

/* A DMA through a cleared entry freezes the PE; EEH recovers it. */
static void phase_fault(struct run *r)
{
	struct phase *p = phase_begin(r, "fault");
	const uint64_t ioba = 0x100000, gpa = 24 * MiB;
	uint8_t data[64] = { 0x5a };
	long st;

	hcall(r, p, TCEMU_H_PUT_TCE, DEFAULT_LIOBN, ioba, gpa | 3, 0);
	hcall(r, p, TCEMU_H_STUFF_TCE, DEFAULT_LIOBN, ioba, 0, 1);
	memset(r->ram + gpa, 0, sizeof(data));
	p->dmas++;
	if (tcemu_dma_write(r->dma, r->pe, ioba, data, sizeof(data)) != -EIO) {
		FAIL(p, "a DMA through a cleared entry did not fault");
		goto out;
	}
	if (r->ram[gpa] != 0)
		FAIL(p, "the faulting DMA reached memory");
	if ((st = eeh(r, VFIO_EEH_PE_GET_STATE)) != VFIO_EEH_PE_STATE_STOPPED)
		FAIL(p, "EEH state after the fault: %ld, expected STOPPED (2)", st);
	/* frozen: even a good mapping does not DMA */
	hcall(r, p, TCEMU_H_PUT_TCE, DEFAULT_LIOBN, ioba, gpa | 3, 0);
	p->dmas++;
	if (tcemu_dma_write(r->dma, r->pe, ioba, data, sizeof(data)) != -EIO)
		FAIL(p, "a frozen PE still does DMA");
	/* recovery, as a guest's EEH handler asks for it */
	if (eeh(r, VFIO_EEH_PE_UNFREEZE_IO) || eeh(r, VFIO_EEH_PE_UNFREEZE_DMA))
		FAIL(p, "EEH unfreeze failed");
	if ((st = eeh(r, VFIO_EEH_PE_GET_STATE)) != VFIO_EEH_PE_STATE_NORMAL)
		FAIL(p, "EEH state after recovery: %ld, expected NORMAL (0)", st);
	p->dmas++;
	if (tcemu_dma_write(r->dma, r->pe, ioba, data, sizeof(data)) != 0 || r->ram[gpa] != 0x5a)
		FAIL(p, "DMA does not work after recovery");
	hcall(r, p, TCEMU_H_STUFF_TCE, DEFAULT_LIOBN, ioba, 0, 1);
out:
	phase_end(r, p);
}

/* Teardown: unmap, remove, unregister, close; accounting back to zero. */
static void phase_teardown(struct run *r)
{
	struct phase *p = phase_begin(r, "teardown");
	struct vfio_iommu_spapr_register_memory reg = { .argsz = sizeof(reg), .vaddr = (uintptr_t)r->ram,
							.size = r->sc.ram };
	uint32_t in[1] = { r->ddw_liobn }, out[1] = { 0 };
	struct tcemu_host_stats st;
	uint64_t locked = 1;

	if (r->ddw_liobn) {
		long rc = hcall(r, p, TCEMU_H_STUFF_TCE, r->ddw_liobn, r->ddw_start, 0, r->sc.ram >> r->ddw_shift);
		if (rc != TCEMU_H_SUCCESS)
			FAIL(p, "H_STUFF_TCE over the DDW: %ld", rc);
		p->tces += r->sc.ram >> r->ddw_shift;
		if (tcemu_rtas_call(r->phb, "ibm,remove-pe-dma-window", in, 1, out, 1) || out[0] != 0)
			FAIL(p, "ibm,remove-pe-dma-window: status %d", (int)out[0]);
	}
	tcemu_guest_phb_destroy(r->phb);
	r->phb = NULL;
	tcemu_guest_destroy(r->g);
	r->g = NULL;
	if (tcemu_host_ioctl(r->h, r->c, VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY, &reg) != 0)
		FAIL(p, "UNREGISTER_MEMORY of the guest RAM refused");
	tcemu_host_close(r->h, r->grp);
	tcemu_host_close(r->h, r->c);
	r->c = r->grp = -1;
	tcemu_host_locked(r->h, getpid(), &locked, NULL);
	tcemu_host_stats(r->h, &st);
	if (locked || st.entries_mapped || st.regions_registered)
		FAIL(p, "left behind: %" PRIu64 " bytes locked, %" PRIu64 " entries, %" PRIu64 " regions", locked,
		     st.entries_mapped, st.regions_registered);
	if (tcemu_host_defect_count(r->h))
		FAIL(p, "the VMM side made %zu client defect(s)", tcemu_host_defect_count(r->h));
	phase_end(r, p);
}

static int setup(struct run *r, char *err, size_t errlen)
{
	struct tcemu_host_opts o = { .memlock_set = true, .memlock = UINT64_MAX, .trusted_args = true };
	char path[32];
	struct vfio_iommu_spapr_register_memory reg = { .argsz = sizeof(reg), .size = r->sc.ram };
	int rc;

	o.platform.topology_path = r->sc.topology[0] ? r->sc.topology : NULL;
	o.platform.errbuf = err;
	o.platform.errlen = errlen;
	if ((rc = tcemu_host_create(&o, &r->h)))
		return rc;
	r->pe = tcemu_platform_pe_by_group(tcemu_host_platform(r->h), r->sc.group);
	if (!r->pe || !tcemu_pe_profile(r->pe)->dynamic_windows) {
		snprintf(err, errlen, "group %u: no such IOMMU group with dynamic windows in the topology", r->sc.group);
		return -EINVAL;
	}
	/*
	 * The host's DMA engine when the topology has models (a PE has one kill hook: a second engine
	 * would take it from the first, whose cached translations would then outlive their TCEs),
	 * else one of our own.
	 */
	r->dma = tcemu_host_dma(r->h);
	if (!r->dma) {
		if ((rc = tcemu_dma_create(tcemu_host_platform(r->h), tcemu_host_memory(r->h), &r->dma)))
			return rc;
		r->own_dma = true;
	}
	/* the guest's RAM: reserved, not committed; only what DMA touches becomes real */
	r->ram = mmap(NULL, r->sc.ram, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (r->ram == MAP_FAILED) {
		snprintf(err, errlen, "cannot reserve %" PRIu64 " bytes of guest RAM: %s", r->sc.ram, strerror(errno));
		return -ENOMEM;
	}
	snprintf(path, sizeof(path), "/dev/vfio/%u", r->sc.group);
	reg.vaddr = (uintptr_t)r->ram;
	if ((rc = tcemu_host_open(r->h, "/dev/vfio/vfio", 2, &r->c)) || (rc = tcemu_host_open(r->h, path, 2, &r->grp)) ||
	    (rc = (int)tcemu_host_ioctl(r->h, r->grp, VFIO_GROUP_SET_CONTAINER, &r->c)) ||
	    (rc = (int)tcemu_host_ioctl(r->h, r->c, VFIO_SET_IOMMU, (void *)VFIO_SPAPR_TCE_v2_IOMMU)) ||
	    (rc = (int)tcemu_host_ioctl(r->h, r->c, VFIO_IOMMU_SPAPR_REGISTER_MEMORY, &reg))) {
		snprintf(err, errlen, "VMM set-up of the container failed: %s", strerror(-rc));
		return rc;
	}
	if ((rc = tcemu_guest_create(r->h, &r->g)) || (rc = tcemu_guest_add_ram(r->g, 0, r->sc.ram, r->ram))) {
		snprintf(err, errlen, "guest set-up failed: %s", strerror(-rc));
		return rc;
	}
	struct tcemu_guest_phb_params pp = {
		.buid = GUEST_BUID,
		.config_addr = 1u << 8,
		.default_liobn = DEFAULT_LIOBN,
		.default_size = r->sc.default_window,
		.max_ram = r->sc.ram,
		.ddw_liobn_base = DDW_LIOBN_BASE,
		.container_fd = r->c,
		.ram_page_shift = tcemu_platform_page_shift(tcemu_host_platform(r->h)),
	};
	if ((rc = tcemu_guest_phb_create(r->g, &pp, &r->phb))) {
		snprintf(err, errlen, "guest PHB set-up failed: %s", strerror(-rc));
		return rc;
	}
	return 0;
}

static void teardown(struct run *r)
{
	tcemu_guest_phb_destroy(r->phb);
	tcemu_guest_destroy(r->g);
	if (r->own_dma)
		tcemu_dma_destroy(r->dma);
	tcemu_host_destroy(r->h);
	if (r->ram && r->ram != MAP_FAILED)
		munmap(r->ram, r->sc.ram);
}

static void report_text(struct run *r, FILE *f)
{
	char tb[32], lb[32];

	fprintf(f, "\ntcemu run: %s\n", r->sc.name);
	fprintf(f, "  host: POWER9 (IODA3) PHB, device in IOMMU group %u; guest RAM %" PRIu64 " MiB (sparse); "
		   "default window %" PRIu64 " MiB at 0",
		r->sc.group, r->sc.ram >> 20, r->sc.default_window >> 20);
	if (r->ddw_liobn)
		fprintf(f, "; DDW 0x%x: %u KiB pages at 0x%" PRIx64, r->ddw_liobn, (1u << r->ddw_shift) >> 10, r->ddw_start);
	fprintf(f, "\n\n  %-9s %-6s %9s %8s %10s %10s %9s %12s %10s %10s %7s\n", "phase", "result", "hcalls", "DMAs",
		"guest TCEs", "host TCEs", "time", "ops/s", "tables", "locked", "kills");
	for (unsigned i = 0; i < r->nph; i++) {
		const struct phase *p = &r->ph[i];
		double ops = (double)(p->hcalls + p->dmas);
		human_size(p->table_bytes, tb, sizeof(tb));
		human_size(p->locked_bytes, lb, sizeof(lb));
		fprintf(f, "  %-9s %-6s %9" PRIu64 " %8" PRIu64 " %10" PRIu64 " %10" PRIu64 " %8.3fs %12.0f %10s %10s %7" PRIu64
			   "%s\n",
			p->name, p->passed ? "pass" : "FAIL", p->hcalls, p->dmas, p->tces, p->host_entries, p->seconds,
			p->seconds > 0 ? ops / p->seconds : 0, tb, lb, p->invalidations, p->faults ? "" : "");
		if (p->faults)
			fprintf(f, "  %-9s        DMA faults: %" PRIu64 " (the PE froze and was recovered)\n", "", p->faults);
		if (!p->passed)
			fprintf(f, "  %-9s        %s\n", "", p->note);
	}
}

static void report_json(struct run *r, FILE *f)
{
	fprintf(f, "{\n  \"scenario\": \"%s\",\n  \"ram\": %" PRIu64 ",\n  \"default_window\": %" PRIu64
		   ",\n  \"group\": %u,\n  \"ddw\": {\"liobn\": %u, \"page_shift\": %u, \"start\": %" PRIu64 "},\n"
		   "  \"phases\": [\n",
		r->sc.name, r->sc.ram, r->sc.default_window, r->sc.group, r->ddw_liobn, r->ddw_shift, r->ddw_start);
	for (unsigned i = 0; i < r->nph; i++) {
		const struct phase *p = &r->ph[i];
		fprintf(f,
			"    {\"name\": \"%s\", \"passed\": %s, \"note\": \"%s\", \"seconds\": %.6f, \"hcalls\": %" PRIu64
			", \"dmas\": %" PRIu64 ", \"guest_tces\": %" PRIu64 ", \"host_tces\": %" PRIu64
			", \"ops_per_second\": %.0f, \"table_bytes\": %" PRIu64 ", \"locked_bytes\": %" PRIu64
			", \"invalidations\": %" PRIu64 ", \"faults\": %" PRIu64 "}%s\n",
			p->name, p->passed ? "true" : "false", p->note, p->seconds, p->hcalls, p->dmas, p->tces,
			p->host_entries, p->seconds > 0 ? (double)(p->hcalls + p->dmas) / p->seconds : 0, p->table_bytes,
			p->locked_bytes, p->invalidations, p->faults, i + 1 < r->nph ? "," : "");
	}
	bool ok = true;
	for (unsigned i = 0; i < r->nph; i++)
		ok &= r->ph[i].passed;
	fprintf(f, "  ],\n  \"passed\": %s\n}\n", ok ? "true" : "false");
}

int cmd_run(int argc, char **argv, struct tcemu_logger lg)
{
	static const struct option opts[] = {
		{ "json", required_argument, NULL, 'j' },
		{ "no-progress", no_argument, NULL, 'n' },
		{ "print-default", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct run r = { .c = -1, .grp = -1 };
	const char *json = NULL;
	char err[1024] = "";
	bool ok = true;
	int c;

	(void)lg;
	r.progress = isatty(STDERR_FILENO);
	optind = 1;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = optarg;
			break;
		case 'n':
			r.progress = false;
			break;
		case 'd':
			printf("# tcemu run scenario (the embedded default)\nram = 4G\nbuffers = 100000\nbuffer-size = 4096\n"
			       "default-window = 1G\ngroup = 0\nseed = 1\n# topology = my.topo\n");
			return 0;
		case 'h':
			printf("Usage: tcemu run [--json FILE] [--no-progress] [--print-default] [SCENARIO]\n");
			return 0;
		default:
			return EXIT_USAGE;
		}
	}
	if (argc - optind > 1) {
		fprintf(stderr, "tcemu run: one scenario file at most\n");
		return EXIT_USAGE;
	}
	r.sc = default_scenario;
	if (optind < argc && load_scenario(argv[optind], &r.sc, err, sizeof(err))) {
		fprintf(stderr, "tcemu run: %s\n", err);
		return 1;
	}
	if (setup(&r, err, sizeof(err))) {
		fprintf(stderr, "tcemu run: %s\n", err[0] ? err : "set-up failed");
		teardown(&r);
		return 1;
	}
	if (r.progress)
		fprintf(stderr, "tcemu run: %s\n", r.sc.name);
	phase_boot(&r);
	phase_stream(&r);
	phase_fault(&r);
	phase_teardown(&r);
	report_text(&r, stdout);
	for (unsigned i = 0; i < r.nph; i++)
		ok &= r.ph[i].passed;
	printf("\n%s\n", ok ? "scenario passed" : "scenario FAILED");
	if (json) {
		FILE *f = fopen(json, "we");
		if (!f) {
			fprintf(stderr, "tcemu run: %s: %s\n", json, strerror(errno));
			ok = false;
		} else {
			report_json(&r, f);
			fclose(f);
		}
	}
	teardown(&r);
	return ok ? 0 : 1;
}
