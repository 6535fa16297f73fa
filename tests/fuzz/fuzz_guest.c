/* SPDX-License-Identifier: MIT */
/*
 * Fuzz harness: a guest's TCE hypercalls and DDW RTAS calls, as sequences, on two identical
 * set-ups side by side: one answers every hypercall with tcemu_guest_hcall (the fast path, then
 * the slow path when it is too hard), the other with tcemu_guest_hcall_slow only (the VMM).
 *
 * Each side is a v2 container on its own group (groups 0 and 1 of one POWER9 PHB) with the guest's
 * RAM registered, a guest with that RAM, and a guest PHB on the container (its default window
 * linked). Both sides share the process and its RAM, so their frames are the same and their
 * hardware tables must be equal entry for entry. The first byte picks the default window's page
 * sizes. A step is a hypercall (PUT, PUT_INDIRECT with a list written into guest RAM, STUFF, GET
 * on the default window, a DDW window, or any LIOBN, with good, misaligned or out-of-RAM TCEs)
 * or an RTAS call (query, create with any page and window shift, remove, reset), made on both
 * sides with the same arguments. Checked after every step: the same answers (return codes, RTAS
 * outputs, H_GET_TCE values), the same hardware entries over what the step touched, the same
 * valid entry counts; the guest invariants (no hardware entry beyond the view) on both sides and
 * the host invariants. At the end the guests go and everything must be back to zero.
 */
#include <endian.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <linux/vfio.h>

#include <tcemu/rtas.h>

#include "fuzz.h"
#include "vfio/check.h"

#define KiB 1024ull
#define MiB (1024 * KiB)
#define GiB (1024 * MiB)
#define RAM (64 * MiB)
#define LIST_GPA (48 * MiB) /* where TCE lists go (any gpa may be given too) */
#define BUID 0x800000020000000ull
#define CONFIG 0x0800u
#define DEF_LIOBN 0x80000000u
#define DDW_BASE 0x80000001u
#define MAX_STEPS 48
#define COMPARE_MAX 1024 /* hardware entries compared after a step, from its first page */

static const char topology[] =
	"phb 0 ioda3\n"
	"  pe 1 group=0\n"
	"    device 0000:01:00.0\n"
	"  pe 2 group=1\n"
	"    device 0000:02:00.0\n";

static uint8_t *ram;

struct side {
	int c, grp;
	struct tcemu_guest *g;
	struct tcemu_guest_phb *phb;
};

struct run {
	struct fz in;
	struct tcemu_host *h;
	struct side s[2]; /* 0: whole stack (fast first), 1: slow path only */
	unsigned n;       /* step number */
};

static void setup_side(struct run *r, struct side *sd, const char *group, uint32_t ram_shift)
{
	struct vfio_iommu_spapr_register_memory reg = { .argsz = sizeof(reg), .vaddr = (uintptr_t)ram, .size = RAM };
	struct tcemu_guest_phb_params p = {
		.buid = BUID,
		.config_addr = CONFIG,
		.default_liobn = DEF_LIOBN,
		.default_size = GiB,
		.max_ram = GiB,
		.ddw_liobn_base = DDW_BASE,
		.ram_page_shift = ram_shift,
	};
	int rc;

	if (tcemu_host_open(r->h, "/dev/vfio/vfio", 2, &sd->c) || tcemu_host_open(r->h, group, 2, &sd->grp) ||
	    tcemu_host_ioctl(r->h, sd->grp, VFIO_GROUP_SET_CONTAINER, &sd->c) ||
	    tcemu_host_ioctl(r->h, sd->c, VFIO_SET_IOMMU, (void *)VFIO_SPAPR_TCE_v2_IOMMU) ||
	    tcemu_host_ioctl(r->h, sd->c, VFIO_IOMMU_SPAPR_REGISTER_MEMORY, &reg) || tcemu_guest_create(r->h, &sd->g) ||
	    tcemu_guest_add_ram(sd->g, 0, RAM, ram))
		fz_fail("guest set-up");
	p.container_fd = sd->c;
	rc = tcemu_guest_phb_create(sd->g, &p, &sd->phb);
	if (rc)
		fz_fail("tcemu_guest_phb_create: %d", rc);
}

/* The LIOBN of a step: the default window, a DDW window, or any. */
static uint32_t pick_liobn(struct run *r)
{
	switch (fz_below(&r->in, 5)) {
	case 0:
	case 1:
		return DEF_LIOBN;
	case 2:
		return DDW_BASE;
	case 3:
		return DDW_BASE + 1;
	default:
		return fz_u32(&r->in);
	}
}

/* The window behind a LIOBN on side 0 (the sides have the same windows): start, page shift. */
static bool window_of(struct run *r, uint32_t liobn, uint64_t *start, uint32_t *shift, uint64_t *size)
{
	struct tcemu_guest_phb_window w[2];
	unsigned n = tcemu_guest_phb_windows(r->s[0].phb, w);

	for (unsigned i = 0; i < n; i++)
		if (w[i].liobn == liobn) {
			*start = w[i].start;
			*shift = w[i].page_shift;
			*size = w[i].size;
			return true;
		}
	*start = 0;
	*shift = 12;
	*size = GiB;
	return false;
}

/* A guest TCE: a RAM page with permissions, or beyond RAM, misaligned, or anything. */
static uint64_t pick_tce(struct run *r, uint32_t gshift)
{
	uint64_t gp = 1ull << gshift;

	switch (fz_below(&r->in, 8)) {
	case 0:
		return RAM | 3;
	case 1:
		return fz_below(&r->in, RAM / gp) * gp | 4096 | 3;
	case 2:
		return fz_u64(&r->in);
	default:
		return fz_below(&r->in, RAM / gp) * gp | fz_below(&r->in, 4);
	}
}

static void compare_entries(struct run *r, uint64_t bus, uint64_t count)
{
	struct tcemu_container_info a, b;

	for (uint64_t i = 0; i < count && i < COMPARE_MAX; i++) {
		uint64_t t[2] = { 0, 0 }, u[2] = { 0, 0 };

		for (int k = 0; k < 2; k++)
			tcemu_host_container_entry(r->h, r->s[k].c, bus + i * 4096, &t[k], &u[k]);
		if (t[0] != t[1] || u[0] != u[1])
			fz_fail("step %u: bus 0x%llx: fast+slow 0x%llx (ua 0x%llx), slow 0x%llx (ua 0x%llx)", r->n,
				(unsigned long long)(bus + i * 4096), (unsigned long long)t[0], (unsigned long long)u[0],
				(unsigned long long)t[1], (unsigned long long)u[1]);
	}
	if (tcemu_host_container_info(r->h, r->s[0].c, &a) || tcemu_host_container_info(r->h, r->s[1].c, &b))
		fz_fail("container info");
	for (int w = 0; w < TCEMU_PE_WINDOWS; w++)
		if (a.windows[w].present != b.windows[w].present ||
		    a.windows[w].valid_entries != b.windows[w].valid_entries || a.windows[w].start != b.windows[w].start ||
		    a.windows[w].size != b.windows[w].size || a.windows[w].page_shift != b.windows[w].page_shift)
			fz_fail("step %u: window %d differs: %llu entries at 0x%llx vs %llu at 0x%llx", r->n, w,
				(unsigned long long)a.windows[w].valid_entries, (unsigned long long)a.windows[w].start,
				(unsigned long long)b.windows[w].valid_entries, (unsigned long long)b.windows[w].start);
}

static void hcall(struct run *r)
{
	uint32_t liobn = pick_liobn(r), gshift;
	uint64_t start, size, a[4], ret[2] = { 0, 0 };
	unsigned long opc;
	long rc[2];
	uint64_t count = 1;

	window_of(r, liobn, &start, &gshift, &size);
	a[0] = liobn;
	a[1] = fz_below(&r->in, 8) ? start + (fz_below(&r->in, size >> gshift) << gshift) : fz_u64(&r->in);
	switch (fz_below(&r->in, 4)) {
	case 0:
		opc = TCEMU_H_PUT_TCE;
		a[2] = pick_tce(r, gshift);
		break;
	case 1: { /* a list in guest RAM: a direct map (perhaps with one entry off), or entry by entry */
		uint64_t n = fz_below(&r->in, 520), list = fz_below(&r->in, 16) ? LIST_GPA : fz_u64(&r->in);
		uint64_t first = pick_tce(r, gshift);
		bool direct = fz_below(&r->in, 2);

		for (uint64_t i = 0; i < n && i < 512; i++) {
			uint64_t v = direct ? first + (i << gshift) : pick_tce(r, gshift);

			((uint64_t *)(ram + LIST_GPA))[i] = htobe64(v);
		}
		if (direct && n && fz_below(&r->in, 4) == 0)
			((uint64_t *)(ram + LIST_GPA))[fz_below(&r->in, n < 512 ? n : 512)] ^= htobe64(fz_u64(&r->in));
		opc = TCEMU_H_PUT_TCE_INDIRECT;
		a[2] = list;
		a[3] = count = n;
		break;
	}
	case 2:
		opc = TCEMU_H_STUFF_TCE;
		a[2] = fz_below(&r->in, 8) ? 0 : fz_u64(&r->in);
		a[3] = count = fz_below(&r->in, 4) ? fz_below(&r->in, 1024) : fz_u64(&r->in);
		break;
	default:
		opc = TCEMU_H_GET_TCE;
		break;
	}
	rc[0] = tcemu_guest_hcall(r->s[0].g, opc, a, &ret[0]);
	rc[1] = tcemu_guest_hcall_slow(r->s[1].g, opc, a, &ret[1]);
	if (rc[0] != rc[1] || (opc == TCEMU_H_GET_TCE && rc[0] == TCEMU_H_SUCCESS && ret[0] != ret[1]))
		fz_fail("step %u: hcall 0x%lx liobn 0x%x ioba 0x%llx: fast+slow %ld (0x%llx), slow %ld (0x%llx)", r->n, opc,
			liobn, (unsigned long long)a[1], rc[0], (unsigned long long)ret[0], rc[1], (unsigned long long)ret[1]);
	if (rc[0] == TCEMU_H_TOO_HARD)
		fz_fail("step %u: the whole stack answered H_TOO_HARD", r->n);
	compare_entries(r, a[1] & ~4095ull, (count << gshift) >> 12);
}

static void rtas(struct run *r)
{
	static const char *const names[] = { "ibm,query-pe-dma-window", "ibm,create-pe-dma-window",
					     "ibm,remove-pe-dma-window", "ibm,reset-pe-dma-windows" };
	unsigned which = (unsigned)fz_below(&r->in, 4);
	uint32_t in[5] = { CONFIG, (uint32_t)(BUID >> 32), (uint32_t)BUID }, out[2][6];
	unsigned nin = 3, nout = 4;
	int rc[2];

	memset(out, 0, sizeof(out));
	if (fz_below(&r->in, 8) == 0)
		in[(unsigned)fz_below(&r->in, 3)] ^= fz_u32(&r->in); /* a wrong address or BUID */
	switch (which) {
	case 0:
		nout = fz_below(&r->in, 2) ? 5 : 6;
		break;
	case 1:
		in[3] = fz_below(&r->in, 4) ? 12 + 4 * (uint32_t)fz_below(&r->in, 5) : fz_u32(&r->in);
		in[4] = fz_below(&r->in, 4) ? 20 + (uint32_t)fz_below(&r->in, 28) : fz_u32(&r->in);
		nin = 5;
		break;
	case 2:
		in[0] = pick_liobn(r);
		nin = 1;
		nout = 1;
		break;
	default:
		nout = 1;
		break;
	}
	if (fz_below(&r->in, 16) == 0)
		nout = (unsigned)fz_below(&r->in, 7); /* a wrong number of outputs */
	for (int k = 0; k < 2; k++)
		rc[k] = tcemu_rtas_call(r->s[k].phb, names[which], in, nin, out[k], nout);
	if (rc[0] != rc[1] || memcmp(out[0], out[1], sizeof(out[0])))
		fz_fail("step %u: %s: %d (status %d) vs %d (status %d)", r->n, names[which], rc[0], (int)out[0][0], rc[1],
			(int)out[1][0]);
	compare_entries(r, 0, 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t ram_shifts[] = { 0, 16, 24 };
	struct run r = { .in = { data, size } };
	struct tcemu_host_opts o = fz_host_opts();
	uint32_t ram_shift;
	char when[64];
	int rc;

	if (!ram) {
		ram = mmap(NULL, RAM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (ram == MAP_FAILED)
			fz_fail("mmap");
	}
	/* the page backing guest RAM as the PHB is told: decides the host windows' IOMMU pages */
	ram_shift = ram_shifts[fz_below(&r.in, 3)];
	o.platform.topology_text = topology;
	rc = tcemu_host_create(&o, &r.h);
	if (rc)
		fz_fail("tcemu_host_create: %d", rc);
	setup_side(&r, &r.s[0], "/dev/vfio/0", ram_shift);
	setup_side(&r, &r.s[1], "/dev/vfio/1", ram_shift);
	for (r.n = 0; r.n < MAX_STEPS && fz_more(&r.in); r.n++) {
		if (fz_below(&r.in, 5))
			hcall(&r);
		else
			rtas(&r);
		snprintf(when, sizeof(when), "after step %u", r.n);
		for (int k = 0; k < 2; k++)
			fz_check_guest(r.s[k].g, when);
		fz_check_host(r.h, 0, when);
	}
	for (int k = 0; k < 2; k++) {
		tcemu_guest_phb_destroy(r.s[k].phb);
		tcemu_guest_destroy(r.s[k].g);
	}
	fz_teardown(r.h, TCEMU_CHECK_NO_GUEST);
	return 0;
}
