/* SPDX-License-Identifier: MIT */
/*
 * Dynamic DMA windows: the boot default window, the four DDW RTAS calls and their statuses, the
 * host windows and links behind them, a pseries Linux guest's DDW flow (remove the default, DDW at
 * bus 0, direct map, clear, remove: the default comes back), reset, undo on failure and teardown.
 */
#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/vfio.h>

#include <tcemu/rtas.h>

#include "fixture.h"
#include "harness.h"

#define KiB (1ull << 10)
#define MiB (1ull << 20)
#define GiB (1ull << 30)
#define RAM FX_GUEST_RAM
#define BUID 0x800000020000000ull
#define CONFIG 0x0800u /* bus 0, devfn 8 */
#define DEF_LIOBN 0x80000000u
#define DDW_BASE 0x80000001u
#define W1 (1ull << 59)
#define LIST_GPA (RAM - 4 * KiB) /* where the TCE lists go */

#define QUERY "ibm,query-pe-dma-window"
#define CREATE "ibm,create-pe-dma-window"
#define REMOVE "ibm,remove-pe-dma-window"
#define RESET "ibm,reset-pe-dma-windows"

static struct tcemu_guest_phb_params fx_params(int c)
{
	return (struct tcemu_guest_phb_params){
		.buid = BUID,
		.config_addr = CONFIG,
		.default_liobn = DEF_LIOBN,
		.default_size = GiB,
		.max_ram = GiB,
		.ddw_liobn_base = DDW_BASE,
		.container_fd = c,
	};
}

/* fx_guest_ram (IODA3 groups: group 0 on the POWER9 PHB), with this file's PHB parameters in f->p. */
static int fx_setup(struct fx_guest *f)
{
	if (fx_guest_ram(f))
		return -1;
	f->p = fx_params(f->c);
	return 0;
}

/* fx_guest_phb with this file's PHB parameters. */
static int fx_open(struct fx_guest *f)
{
	struct tcemu_guest_phb_params p = fx_params(-1);

	return fx_guest_phb(f, &p);
}

/* ---- RTAS helpers ---- */

static int32_t query(struct fx_guest *f, uint32_t *out, unsigned nout)
{
	uint32_t in[3] = { CONFIG, (uint32_t)(BUID >> 32), (uint32_t)BUID };

	if (tcemu_rtas_call(f->phb, QUERY, in, 3, out, nout))
		return 99;
	return (int32_t)out[0];
}

static int32_t create_ids(struct fx_guest *f, uint32_t cfg, uint64_t buid, uint32_t ps, uint32_t ws, uint32_t *liobn,
			  uint64_t *start)
{
	uint32_t in[5] = { cfg, (uint32_t)(buid >> 32), (uint32_t)buid, ps, ws }, out[4] = { 7, 7, 7, 7 };

	if (tcemu_rtas_call(f->phb, CREATE, in, 5, out, 4))
		return 99;
	if (liobn)
		*liobn = out[1];
	if (start)
		*start = (uint64_t)out[2] << 32 | out[3];
	return (int32_t)out[0];
}

static int32_t create(struct fx_guest *f, uint32_t ps, uint32_t ws, uint32_t *liobn, uint64_t *start)
{
	return create_ids(f, CONFIG, BUID, ps, ws, liobn, start);
}

static int32_t remove_win(struct fx_guest *f, uint32_t liobn)
{
	uint32_t out[1] = { 7 };

	if (tcemu_rtas_call(f->phb, REMOVE, &liobn, 1, out, 1))
		return 99;
	return (int32_t)out[0];
}

static int32_t reset_ids(struct fx_guest *f, uint32_t cfg, uint64_t buid)
{
	uint32_t in[3] = { cfg, (uint32_t)(buid >> 32), (uint32_t)buid }, out[1] = { 7 };

	if (tcemu_rtas_call(f->phb, RESET, in, 3, out, 1))
		return 99;
	return (int32_t)out[0];
}

/* ---- hypercall helpers ---- */

static long put_tce(struct fx_guest *f, uint32_t liobn, uint64_t ioba, uint64_t tce)
{
	uint64_t a[3] = { liobn, ioba, tce };
	return tcemu_guest_hcall_fast(f->g, TCEMU_H_PUT_TCE, a, NULL);
}

static long stuff(struct fx_guest *f, uint32_t liobn, uint64_t ioba, uint64_t count)
{
	uint64_t a[4] = { liobn, ioba, 0, count };
	return tcemu_guest_hcall(f->g, TCEMU_H_STUFF_TCE, a, NULL);
}

/* The Linux guest's direct map: n TCEs from ioba, TCE i = gpa0 + i pages | RW, 512 per call, fast path. */
static long direct_map(struct fx_guest *f, uint32_t liobn, uint64_t ioba, uint32_t shift, uint64_t gpa0, uint64_t n)
{
	for (uint64_t done = 0; done < n; done += TCEMU_TCE_LIST_MAX) {
		uint64_t cnt = n - done < TCEMU_TCE_LIST_MAX ? n - done : TCEMU_TCE_LIST_MAX;
		for (uint64_t i = 0; i < cnt; i++) {
			uint64_t be = htobe64((gpa0 + ((done + i) << shift)) | 3);
			memcpy(f->ram + LIST_GPA + i * 8, &be, 8);
		}
		uint64_t a[4] = { liobn, ioba + (done << shift), LIST_GPA, cnt };
		long rc = tcemu_guest_hcall_fast(f->g, TCEMU_H_PUT_TCE_INDIRECT, a, NULL);
		if (rc != TCEMU_H_SUCCESS)
			return rc;
	}
	return TCEMU_H_SUCCESS;
}

/* Clears a whole window the Linux way: H_STUFF_TCE(0), 512 at a time. */
static long clear_window(struct fx_guest *f, uint32_t liobn, uint64_t start, uint32_t shift, uint64_t bytes)
{
	uint64_t n = bytes >> shift;

	for (uint64_t i = 0; i < n; i += TCEMU_TCE_LIST_MAX) {
		long rc = stuff(f, liobn, start + (i << shift), n - i < TCEMU_TCE_LIST_MAX ? n - i : TCEMU_TCE_LIST_MAX);
		if (rc != TCEMU_H_SUCCESS)
			return rc;
	}
	return TCEMU_H_SUCCESS;
}

static uint64_t region_hpa(struct fx_guest *f)
{
	struct tcemu_region_info ri;
	return tcemu_host_regions(f->h, getpid(), &ri, 1) == 1 ? ri.hpa : 0;
}

static uint64_t locked(struct fx_guest *f)
{
	uint64_t l = ~0ull;
	tcemu_host_locked(f->h, getpid(), &l, NULL);
	return l;
}

/* Everything observable about the windows: PHB records, container windows, locked memory. */
struct snap {
	unsigned n;
	struct tcemu_guest_phb_window w[TCEMU_PE_WINDOWS];
	struct tcemu_container_info ci;
	uint64_t locked;
};

static void take(struct fx_guest *f, struct snap *s)
{
	memset(s, 0, sizeof(*s));
	s->n = tcemu_guest_phb_windows(f->phb, s->w);
	tcemu_host_container_info(f->h, f->c, &s->ci);
	s->locked = locked(f);
}

static bool same(const struct snap *a, const struct snap *b)
{
	if (a->n != b->n || memcmp(a->w, b->w, sizeof(a->w)) || a->locked != b->locked)
		return false;
	for (unsigned s = 0; s < TCEMU_PE_WINDOWS; s++) {
		const struct tcemu_window_info *x = &a->ci.windows[s], *y = &b->ci.windows[s];
		if (x->present != y->present || x->pending != y->pending || x->start != y->start || x->size != y->size ||
		    x->page_shift != y->page_shift || x->valid_entries != y->valid_entries)
			return false;
	}
	return true;
}

/* The default window is the only window: guest record, host window 0, linked (H_PUT_TCE on the fast path). */
static int default_only(struct fx_guest *f)
{
	struct tcemu_guest_phb_window w[TCEMU_PE_WINDOWS];
	struct tcemu_container_info ci;
	uint64_t tce = 0, ua = 0;

	if (tcemu_guest_phb_windows(f->phb, w) != 1 || w[0].liobn != DEF_LIOBN || w[0].page_shift != 12 ||
	    w[0].start != 0 || w[0].size != GiB || !w[0].default_window)
		return 1;
	if (tcemu_host_container_info(f->h, f->c, &ci) || !ci.windows[0].present || ci.windows[0].start != 0 ||
	    ci.windows[0].size != GiB || ci.windows[0].page_shift != 12 || ci.windows[1].present)
		return 2;
	if (put_tce(f, DEF_LIOBN, 0x5000, 0x3000 | 3) != TCEMU_H_SUCCESS)
		return 3;
	if (tcemu_host_container_entry(f->h, f->c, 0x5000, &tce, &ua) || ua != (uintptr_t)(f->ram + 0x3000) ||
	    tce != ((region_hpa(f) + 0x3000) | 3))
		return 4;
	if (put_tce(f, DEF_LIOBN, 0x5000, 0) != TCEMU_H_SUCCESS)
		return 5;
	if (tcemu_host_container_info(f->h, f->c, &ci) || ci.windows[0].valid_entries != 0)
		return 6;
	return 0;
}

/* ---- tests ---- */

TEST(boot_default_window)
{
	struct fx_guest f;
	struct tcemu_container_info ci;
	uint64_t tce = 0, ua = 0, a[2] = { DEF_LIOBN, 0x7000 }, got = 0;

	CHECK_EQ(fx_open(&f), 0);
	CHECK_EQ(tcemu_host_container_info(f.h, f.c, &ci), 0);
	CHECK(ci.windows[0].present);
	CHECK(!ci.windows[0].pending);
	CHECK_U64(ci.windows[0].start, 0);
	CHECK_U64(ci.windows[0].size, GiB);
	CHECK_EQ(ci.windows[0].page_shift, 12);
	CHECK_EQ(ci.windows[0].levels, 1);
	CHECK(!ci.windows[1].present);
	CHECK_EQ(default_only(&f), 0);
	/* the mapping lands in the host table and in the guest view */
	CHECK_EQ(put_tce(&f, DEF_LIOBN, 0x7000, 0x9000 | 1), TCEMU_H_SUCCESS);
	CHECK_EQ(tcemu_host_container_entry(f.h, f.c, 0x7000, &tce, &ua), 0);
	CHECK(ua == (uintptr_t)(f.ram + 0x9000));
	CHECK_U64(tce, (region_hpa(&f) + 0x9000) | 1);
	CHECK_EQ(tcemu_guest_hcall(f.g, TCEMU_H_GET_TCE, a, &got), TCEMU_H_SUCCESS);
	CHECK_U64(got, 0x9000 | 1);
	fx_guest_close(&f);
}

TEST(query_values)
{
	struct fx_guest f;
	uint32_t o[6];

	CHECK_EQ(fx_open(&f), 0);
	/* 5 outputs: 1 window free (the default holds slot 0), 1 GiB of 4K TCEs, 4K|64K|2M, no migration */
	memset(o, 0xff, sizeof(o));
	CHECK_EQ(query(&f, o, 5), 0);
	CHECK_EQ(o[1], 1);
	CHECK_EQ(o[2], GiB >> 12);
	CHECK_EQ(o[3], 0x103);
	CHECK_EQ(o[4], 0);
	/* 6 outputs: the largest block in two cells */
	memset(o, 0xff, sizeof(o));
	CHECK_EQ(query(&f, o, 6), 0);
	CHECK_EQ(o[1], 1);
	CHECK_EQ(o[2], 0);
	CHECK_EQ(o[3], GiB >> 12);
	CHECK_EQ(o[4], 0x103);
	CHECK_EQ(o[5], 0);
	/* mismatched BUID (either half) or config_addr */
	uint32_t bad[3][3] = {
		{ CONFIG, (uint32_t)(BUID >> 32) + 1, (uint32_t)BUID },
		{ CONFIG, (uint32_t)(BUID >> 32), (uint32_t)BUID + 1 },
		{ CONFIG + 0x100, (uint32_t)(BUID >> 32), (uint32_t)BUID },
	};
	for (int i = 0; i < 3; i++) {
		CHECK_EQ(tcemu_rtas_call(f.phb, QUERY, bad[i], 3, o, 5), 0);
		CHECK_EQ((int32_t)o[0], TCEMU_RTAS_PARAMETER_ERROR);
		CHECK_EQ(tcemu_rtas_call(f.phb, QUERY, bad[i], 3, o, 6), 0);
		CHECK_EQ((int32_t)o[0], TCEMU_RTAS_PARAMETER_ERROR);
	}
	/* after the default window is removed, both slots are free */
	CHECK_EQ(remove_win(&f, DEF_LIOBN), 0);
	CHECK_EQ(query(&f, o, 5), 0);
	CHECK_EQ(o[1], 2);
	fx_guest_close(&f);
}

TEST(query_largest_block_rounding_and_saturation)
{
	struct fx_guest f;
	uint32_t o[6];

	CHECK_EQ(fx_setup(&f), 0);
	/* not a power of two: rounded up (3 GiB -> 4 GiB of 4K TCEs) */
	f.p.max_ram = 3 * GiB;
	CHECK_EQ(tcemu_guest_phb_create(f.g, &f.p, &f.phb), 0);
	CHECK_EQ(query(&f, o, 5), 0);
	CHECK_EQ(o[2], (4 * GiB) >> 12);
	CHECK_EQ(create(&f, 12, 33, NULL, NULL), TCEMU_RTAS_PARAMETER_ERROR); /* 8 GiB: more than offered */
	tcemu_guest_phb_destroy(f.phb);
	/* 2^50 bytes: 2^38 TCEs, saturated in one cell, exact in two */
	f.p.max_ram = 1ull << 50;
	CHECK_EQ(tcemu_guest_phb_create(f.g, &f.p, &f.phb), 0);
	CHECK_EQ(query(&f, o, 5), 0);
	CHECK_U64(o[2], 0xffffffffu);
	CHECK_EQ(query(&f, o, 6), 0);
	CHECK_U64(o[2], 1u << 6);
	CHECK_U64(o[3], 0);
	fx_guest_close(&f);
}

TEST(create_ddw_at_window1)
{
	struct fx_guest f;
	struct snap s;
	struct tcemu_guest_phb_window w[TCEMU_PE_WINDOWS];
	uint32_t liobn = 0, o[6];
	uint64_t start = 0, tce, ua, hpa;

	CHECK_EQ(fx_open(&f), 0);
	hpa = region_hpa(&f);
	CHECK_EQ(create(&f, 16, 30, &liobn, &start), 0);
	CHECK_EQ(liobn, DDW_BASE + 1);
	CHECK_U64(start, W1);
	CHECK_EQ(tcemu_guest_phb_windows(f.phb, w), 2);
	CHECK_EQ(w[1].liobn, DDW_BASE + 1);
	CHECK_EQ(w[1].page_shift, 16);
	CHECK_U64(w[1].start, W1);
	CHECK_U64(w[1].size, GiB);
	CHECK_EQ(w[1].default_window, 0);
	take(&f, &s);
	CHECK(s.ci.windows[1].present);
	CHECK_U64(s.ci.windows[1].start, W1);
	CHECK_U64(s.ci.windows[1].size, GiB);
	/* RAM is backed by 4K pages: a 4K host window, each 64K guest TCE fans out to 16 entries */
	CHECK_EQ(s.ci.windows[1].page_shift, 12);
	CHECK_EQ(query(&f, o, 5), 0);
	CHECK_EQ(o[1], 0);
	/* linked: the boot direct map (512 64K pages) in one H_PUT_TCE_INDIRECT on the fast path */
	struct tcemu_guest_stats st0, st1;
	tcemu_guest_stats(f.g, &st0);
	CHECK_EQ(direct_map(&f, liobn, W1, 16, 0, 512), TCEMU_H_SUCCESS);
	tcemu_guest_stats(f.g, &st1);
	CHECK_EQ(st1.fast - st0.fast, 1);
	CHECK_EQ(tcemu_host_container_info(f.h, f.c, &s.ci), 0);
	CHECK_EQ(s.ci.windows[1].valid_entries, 512 * 16);
	for (uint64_t i = 0; i < 512; i += 37)
		for (uint64_t j = 0; j < 16; j += 5) {
			uint64_t off = (i << 16) + (j << 12);
			CHECK_EQ(tcemu_host_container_entry(f.h, f.c, W1 + off, &tce, &ua), 0);
			CHECK(ua == (uintptr_t)(f.ram + off));
			CHECK_U64(tce, (hpa + off) | 3);
		}
	CHECK_EQ(tcemu_host_container_entry(f.h, f.c, W1 + (512ull << 16), &tce, &ua), 0);
	CHECK_U64(tce, 0);
	/* no free slot: hardware error, nothing created */
	take(&f, &s);
	struct snap s2;
	CHECK_EQ(create(&f, 16, 30, &liobn, &start), TCEMU_RTAS_HARDWARE_ERROR);
	CHECK_EQ(liobn, 0);
	CHECK_U64(start, 0);
	CHECK_EQ(create(&f, 12, 20, NULL, NULL), TCEMU_RTAS_HARDWARE_ERROR);
	take(&f, &s2);
	CHECK(same(&s, &s2));
	fx_guest_close(&f);
}

TEST(create_parameter_errors_leave_nothing)
{
	struct fx_guest f;
	struct snap s0, s1;
	uint32_t liobn;

	CHECK_EQ(fx_open(&f), 0);
	take(&f, &s0);
	CHECK_EQ(create(&f, 24, 30, NULL, NULL), TCEMU_RTAS_PARAMETER_ERROR); /* 16M: not on IODA3 */
	CHECK_EQ(create(&f, 30, 30, NULL, NULL), TCEMU_RTAS_PARAMETER_ERROR); /* 1G: host has it, no LoPAR bit */
	CHECK_EQ(create(&f, 13, 30, NULL, NULL), TCEMU_RTAS_PARAMETER_ERROR); /* not a page size */
	CHECK_EQ(create(&f, 200, 30, NULL, NULL), TCEMU_RTAS_PARAMETER_ERROR);
	CHECK_EQ(create(&f, 16, 15, NULL, NULL), TCEMU_RTAS_PARAMETER_ERROR); /* window_shift < page_shift */
	CHECK_EQ(create(&f, 21, 20, NULL, NULL), TCEMU_RTAS_PARAMETER_ERROR);
	CHECK_EQ(create(&f, 16, 31, NULL, NULL), TCEMU_RTAS_PARAMETER_ERROR); /* 2^19 4K TCEs > 2^18 offered */
	CHECK_EQ(create(&f, 12, 64, NULL, NULL), TCEMU_RTAS_PARAMETER_ERROR);
	CHECK_EQ(create(&f, 12, 0xffffffffu, NULL, NULL), TCEMU_RTAS_PARAMETER_ERROR);
	CHECK_EQ(create_ids(&f, CONFIG, BUID + 1, 16, 30, NULL, NULL), TCEMU_RTAS_PARAMETER_ERROR);
	CHECK_EQ(create_ids(&f, CONFIG, BUID ^ (1ull << 40), 16, 30, NULL, NULL), TCEMU_RTAS_PARAMETER_ERROR);
	CHECK_EQ(create_ids(&f, 0, BUID, 16, 30, NULL, NULL), TCEMU_RTAS_PARAMETER_ERROR);
	take(&f, &s1);
	CHECK(same(&s0, &s1));
	CHECK_EQ(default_only(&f), 0);
	/* the limits themselves are fine: the whole offered block, and window_shift == page_shift */
	CHECK_EQ(create(&f, 21, 30, &liobn, NULL), 0);
	CHECK_EQ(remove_win(&f, liobn), 0);
	CHECK_EQ(create(&f, 16, 16, &liobn, NULL), 0);
	CHECK_EQ(remove_win(&f, liobn), 0);
	take(&f, &s1);
	CHECK(same(&s0, &s1));
	fx_guest_close(&f);
}

/*
 * Every host allocation point of a create failing in turn: the call either succeeds (a failed
 * table allocation is retried with one more level) or fails with -1 leaving nothing.
 */
TEST(create_allocation_failures_leave_nothing)
{
	struct fx_guest f;
	struct snap s0, s1;
	uint32_t liobn;

	CHECK_EQ(fx_open(&f), 0);
	take(&f, &s0);
	for (uint64_t nth = 1; nth < 64; nth++) {
		tcemu_host_fail_alloc(f.h, nth);
		int32_t st = create(&f, 16, 30, &liobn, NULL);
		tcemu_host_fail_alloc(f.h, 0);
		if (st == 0)
			CHECK_EQ(remove_win(&f, liobn), 0);
		else
			CHECK_EQ(st, TCEMU_RTAS_HARDWARE_ERROR);
		take(&f, &s1);
		CHECK(same(&s0, &s1));
	}
	CHECK_EQ(default_only(&f), 0);
	fx_guest_close(&f);
}

/* The guest refusing the window (its LIOBN taken behind the PHB's back): -1, the host window is gone. */
TEST(create_guest_failure_leaves_nothing)
{
	struct fx_guest f;
	struct snap s0, s1;

	CHECK_EQ(fx_open(&f), 0);
	CHECK_EQ(tcemu_guest_create_window(f.g, DDW_BASE + 1, 12, 1 << 20, 16), 0);
	take(&f, &s0);
	CHECK_EQ(create(&f, 16, 30, NULL, NULL), TCEMU_RTAS_HARDWARE_ERROR);
	take(&f, &s1);
	CHECK(same(&s0, &s1));
	CHECK_EQ(tcemu_guest_remove_window(f.g, DDW_BASE + 1), 0);
	CHECK_EQ(create(&f, 16, 30, NULL, NULL), 0);
	fx_guest_close(&f);
}

/* A locked-memory limit too small for the DDW's tables: -1 and nothing left. */
TEST(create_over_memlock_leaves_nothing)
{
	struct fx_guest f;
	struct snap s0, s1;
	struct tcemu_host_opts o = { .memlock_set = true };

	CHECK_EQ(fx_setup(&f), 0);
	tcemu_guest_destroy(f.g);
	tcemu_host_destroy(f.h);
	/* room for the RAM, the default window (4 MiB of host table with its address cache, 2 MiB of guest view), a little more */
	o.memlock = RAM + 6 * MiB + 512 * KiB;
	struct vfio_iommu_spapr_register_memory r = { .argsz = sizeof(r), .vaddr = (uintptr_t)f.ram, .size = RAM };
	CHECK_EQ(tcemu_host_create(&o, &f.h), 0);
	CHECK_EQ(tcemu_host_open(f.h, "/dev/vfio/vfio", 2, &f.c), 0);
	CHECK_EQ(tcemu_host_open(f.h, "/dev/vfio/0", 2, &f.grp), 0);
	CHECK_EQ(tcemu_host_ioctl(f.h, f.grp, VFIO_GROUP_SET_CONTAINER, &f.c), 0);
	CHECK_EQ(tcemu_host_ioctl(f.h, f.c, VFIO_SET_IOMMU, (void *)VFIO_SPAPR_TCE_v2_IOMMU), 0);
	CHECK_EQ(tcemu_host_ioctl(f.h, f.c, VFIO_IOMMU_SPAPR_REGISTER_MEMORY, &r), 0);
	CHECK_EQ(tcemu_guest_create(f.h, &f.g), 0);
	CHECK_EQ(tcemu_guest_add_ram(f.g, 0, RAM, f.ram), 0);
	f.p = fx_params(f.c);
	CHECK_EQ(tcemu_guest_phb_create(f.g, &f.p, &f.phb), 0);
	take(&f, &s0);
	CHECK_EQ(create(&f, 16, 30, NULL, NULL), TCEMU_RTAS_HARDWARE_ERROR); /* 4K host table: 2 MiB */
	take(&f, &s1);
	CHECK(same(&s0, &s1));
	CHECK_EQ(create(&f, 16, 26, NULL, NULL), 0); /* 64 MiB: 128 KiB of host table, 8 KiB of guest view */
	fx_guest_close(&f);
}

/* The pseries Linux guest: remove the default, DDW at bus 0, direct map, clear, remove: the default is back. */
TEST(linux_guest_flow)
{
	struct fx_guest f;
	struct snap s0, s1;
	struct tcemu_container_info ci;
	struct tcemu_guest_phb_window w[TCEMU_PE_WINDOWS];
	uint32_t o[6], liobn = 0, page = 0;
	uint64_t start = ~0ull, tce, ua, hpa;

	CHECK_EQ(fx_open(&f), 0);
	hpa = region_hpa(&f);
	take(&f, &s0);
	/* query (a guest takes the largest offered page: 2M here; this one takes 64K) */
	CHECK_EQ(query(&f, o, 6), 0);
	CHECK_EQ(o[4], 0x103);
	page = 16;
	CHECK_EQ(remove_win(&f, DEF_LIOBN), 0);
	CHECK_EQ(tcemu_guest_phb_windows(f.phb, w), 0);
	CHECK_EQ(tcemu_host_container_info(f.h, f.c, &ci), 0);
	CHECK(!ci.windows[0].present && !ci.windows[0].pending && !ci.windows[1].present);
	CHECK_EQ(create(&f, page, 30, &liobn, &start), 0);
	CHECK_U64(start, 0);
	CHECK_EQ(liobn, DDW_BASE);
	CHECK_EQ(tcemu_guest_phb_windows(f.phb, w), 1);
	CHECK_EQ(w[0].default_window, 0);
	/* direct-map all RAM: 1024 64K TCEs = 2 calls */
	CHECK_EQ(direct_map(&f, liobn, 0, page, 0, RAM >> page), TCEMU_H_SUCCESS);
	CHECK_EQ(tcemu_host_container_info(f.h, f.c, &ci), 0);
	CHECK_EQ(ci.windows[0].valid_entries, RAM >> 12);
	CHECK_EQ(tcemu_host_container_entry(f.h, f.c, RAM - 4 * KiB, &tce, &ua), 0);
	CHECK(ua == (uintptr_t)(f.ram + RAM - 4 * KiB));
	CHECK_U64(tce, (hpa + RAM - 4 * KiB) | 3);
	/* teardown: H_STUFF_TCE(0) over the window, then remove */
	CHECK_EQ(clear_window(&f, liobn, 0, page, GiB), TCEMU_H_SUCCESS);
	CHECK_EQ(tcemu_host_container_info(f.h, f.c, &ci), 0);
	CHECK_EQ(ci.windows[0].valid_entries, 0);
	CHECK_EQ(remove_win(&f, liobn), 0);
	/* the default window is back: same liobn, place, size, host window recreated and linked */
	CHECK_EQ(default_only(&f), 0);
	take(&f, &s1);
	CHECK(same(&s0, &s1));
	CHECK_EQ(remove_win(&f, liobn), TCEMU_RTAS_PARAMETER_ERROR); /* gone */
	fx_guest_close(&f);
}

/* Two DDWs (default removed): removing one keeps the other; removing the last brings the default back. */
TEST(two_ddws_and_restore)
{
	struct fx_guest f;
	uint32_t l0, l1, o[5];
	uint64_t s0, s1;
	struct tcemu_guest_phb_window w[TCEMU_PE_WINDOWS];

	CHECK_EQ(fx_open(&f), 0);
	CHECK_EQ(remove_win(&f, DEF_LIOBN), 0);
	CHECK_EQ(create(&f, 16, 28, &l0, &s0), 0);
	CHECK_EQ(create(&f, 12, 20, &l1, &s1), 0);
	CHECK_EQ(l0, DDW_BASE);
	CHECK_U64(s0, 0);
	CHECK_EQ(l1, DDW_BASE + 1);
	CHECK_U64(s1, W1);
	CHECK_EQ(query(&f, o, 5), 0);
	CHECK_EQ(o[1], 0);
	CHECK_EQ(remove_win(&f, l0), 0);
	CHECK_EQ(tcemu_guest_phb_windows(f.phb, w), 1);
	CHECK_EQ(w[0].liobn, l1);
	/* the slot at bus 0 is free again: a new DDW goes there */
	CHECK_EQ(create(&f, 16, 28, &l0, &s0), 0);
	CHECK_U64(s0, 0);
	CHECK_EQ(remove_win(&f, l1), 0);
	CHECK_EQ(remove_win(&f, l0), 0);
	CHECK_EQ(default_only(&f), 0);
	/* removing the default while a DDW exists, then the DDW: the default is back too */
	CHECK_EQ(create(&f, 16, 28, &l1, &s1), 0);
	CHECK_U64(s1, W1);
	CHECK_EQ(remove_win(&f, DEF_LIOBN), 0);
	CHECK_EQ(remove_win(&f, l1), 0);
	CHECK_EQ(default_only(&f), 0);
	fx_guest_close(&f);
}

/* A window still holding entries may be removed: they are cleared (hardware, accounting). */
TEST(remove_uncleared_window)
{
	struct fx_guest f;
	struct tcemu_container_info ci;
	struct tcemu_region_info ri;
	uint32_t liobn;
	uint64_t start;

	CHECK_EQ(fx_open(&f), 0);
	CHECK_EQ(create(&f, 16, 30, &liobn, &start), 0);
	CHECK_EQ(direct_map(&f, liobn, start, 16, 0, 1000), TCEMU_H_SUCCESS);
	CHECK_EQ(tcemu_host_regions(f.h, getpid(), &ri, 1), 1);
	CHECK_U64(ri.mapped, 1000 * 16);
	CHECK_EQ(remove_win(&f, liobn), 0);
	CHECK_EQ(tcemu_host_regions(f.h, getpid(), &ri, 1), 1);
	CHECK_U64(ri.mapped, 0);
	CHECK_EQ(tcemu_host_container_info(f.h, f.c, &ci), 0);
	CHECK(!ci.windows[1].present);
	CHECK_EQ(default_only(&f), 0);
	/* the default window itself, with an entry left in it */
	CHECK_EQ(put_tce(&f, DEF_LIOBN, 0, 0x1000 | 3), TCEMU_H_SUCCESS);
	CHECK_EQ(remove_win(&f, DEF_LIOBN), 0);
	CHECK_EQ(tcemu_host_regions(f.h, getpid(), &ri, 1), 1);
	CHECK_U64(ri.mapped, 0);
	CHECK_EQ(tcemu_guest_phb_windows(f.phb, NULL), 0);
	fx_guest_close(&f);
}

TEST(reset_restores_default)
{
	struct fx_guest f;
	struct snap s0, s1;
	uint32_t liobn, l2;

	CHECK_EQ(fx_open(&f), 0);
	take(&f, &s0);
	/* default kept, DDW at 1<<59 removed */
	CHECK_EQ(create(&f, 16, 30, &liobn, NULL), 0);
	CHECK_EQ(reset_ids(&f, CONFIG, BUID + 1), TCEMU_RTAS_PARAMETER_ERROR);
	CHECK_EQ(reset_ids(&f, CONFIG ^ 0x100, BUID), TCEMU_RTAS_PARAMETER_ERROR);
	CHECK_EQ(tcemu_guest_phb_windows(f.phb, NULL), 2);
	CHECK_EQ(reset_ids(&f, CONFIG, BUID), 0);
	take(&f, &s1);
	CHECK(same(&s0, &s1));
	CHECK_EQ(default_only(&f), 0);
	/* default removed, two DDWs: both go, the default is rebuilt */
	CHECK_EQ(remove_win(&f, DEF_LIOBN), 0);
	CHECK_EQ(create(&f, 16, 30, &liobn, NULL), 0);
	CHECK_EQ(create(&f, 21, 30, &l2, NULL), 0);
	CHECK_EQ(direct_map(&f, liobn, 0, 16, 0, 100), TCEMU_H_SUCCESS);
	CHECK_EQ(reset_ids(&f, CONFIG, BUID), 0);
	take(&f, &s1);
	CHECK(same(&s0, &s1));
	CHECK_EQ(default_only(&f), 0);
	/* default removed, nothing else: reset brings it back */
	CHECK_EQ(remove_win(&f, DEF_LIOBN), 0);
	CHECK_EQ(reset_ids(&f, CONFIG, BUID), 0);
	CHECK_EQ(default_only(&f), 0);
	/* nothing to do */
	CHECK_EQ(reset_ids(&f, CONFIG, BUID), 0);
	take(&f, &s1);
	CHECK(same(&s0, &s1));
	fx_guest_close(&f);
}

TEST(remove_unknown_and_bad_calls)
{
	struct fx_guest f;
	struct snap s0, s1;
	uint32_t in[5] = { CONFIG, (uint32_t)(BUID >> 32), (uint32_t)BUID, 16, 30 }, o[7];

	CHECK_EQ(fx_open(&f), 0);
	take(&f, &s0);
	CHECK_EQ(remove_win(&f, 0x1234), TCEMU_RTAS_PARAMETER_ERROR);
	CHECK_EQ(remove_win(&f, DDW_BASE), TCEMU_RTAS_PARAMETER_ERROR);
	CHECK_EQ(remove_win(&f, DDW_BASE + 1), TCEMU_RTAS_PARAMETER_ERROR);
	CHECK_EQ(tcemu_rtas_call(f.phb, "ibm,query-pe-dma-windows", in, 3, o, 5), -EINVAL);
	CHECK_EQ(tcemu_rtas_call(f.phb, "ibm,get-config-addr-info2", in, 3, o, 5), -EINVAL);
	CHECK_EQ(tcemu_rtas_call(f.phb, "", in, 3, o, 5), -EINVAL);
	CHECK_EQ(tcemu_rtas_call(f.phb, NULL, in, 3, o, 5), -EINVAL);
	CHECK_EQ(tcemu_rtas_call(NULL, QUERY, in, 3, o, 5), -EINVAL);
	CHECK_EQ(tcemu_rtas_call(f.phb, QUERY, in, 3, o, 4), -EINVAL);
	CHECK_EQ(tcemu_rtas_call(f.phb, QUERY, in, 3, o, 7), -EINVAL);
	CHECK_EQ(tcemu_rtas_call(f.phb, QUERY, in, 2, o, 5), -EINVAL);
	CHECK_EQ(tcemu_rtas_call(f.phb, QUERY, in, 3, NULL, 5), -EINVAL);
	CHECK_EQ(tcemu_rtas_call(f.phb, CREATE, in, 4, o, 4), -EINVAL);
	CHECK_EQ(tcemu_rtas_call(f.phb, CREATE, in, 5, o, 3), -EINVAL);
	CHECK_EQ(tcemu_rtas_call(f.phb, CREATE, in, 5, o, 5), -EINVAL);
	CHECK_EQ(tcemu_rtas_call(f.phb, CREATE, NULL, 5, o, 4), -EINVAL);
	CHECK_EQ(tcemu_rtas_call(f.phb, REMOVE, in, 2, o, 1), -EINVAL);
	CHECK_EQ(tcemu_rtas_call(f.phb, REMOVE, in, 1, o, 2), -EINVAL);
	CHECK_EQ(tcemu_rtas_call(f.phb, REMOVE, in, 0, o, 1), -EINVAL);
	CHECK_EQ(tcemu_rtas_call(f.phb, RESET, in, 3, o, 2), -EINVAL);
	CHECK_EQ(tcemu_rtas_call(f.phb, RESET, in, 1, o, 1), -EINVAL);
	take(&f, &s1);
	CHECK(same(&s0, &s1));
	fx_guest_close(&f);
}

TEST(destroy_leaves_nothing)
{
	struct fx_guest f;
	struct tcemu_container_info ci;
	struct tcemu_region_info ri;
	uint32_t liobn;

	CHECK_EQ(fx_open(&f), 0);
	CHECK_EQ(create(&f, 16, 30, &liobn, NULL), 0);
	CHECK_EQ(direct_map(&f, liobn, W1, 16, 0, 700), TCEMU_H_SUCCESS);
	CHECK_EQ(put_tce(&f, DEF_LIOBN, 0x10000, 0x2000 | 3), TCEMU_H_SUCCESS);
	tcemu_guest_phb_destroy(f.phb);
	f.phb = NULL;
	CHECK_EQ(tcemu_host_container_info(f.h, f.c, &ci), 0);
	for (unsigned s = 0; s < TCEMU_PE_WINDOWS; s++)
		CHECK(!ci.windows[s].present && !ci.windows[s].pending);
	CHECK_U64(locked(&f), RAM); /* just the registered region */
	CHECK_EQ(tcemu_host_regions(f.h, getpid(), &ri, 1), 1);
	CHECK_U64(ri.mapped, 0);
	/* the guest windows are gone too: a new PHB can take the same LIOBNs */
	CHECK_EQ(tcemu_guest_phb_create(f.g, &f.p, &f.phb), 0);
	CHECK_EQ(default_only(&f), 0);
	tcemu_guest_phb_destroy(NULL);
	fx_guest_close(&f);
}

TEST(phb_create_rules)
{
	struct fx_guest f;
	struct tcemu_guest_phb *phb = NULL;
	struct tcemu_guest_phb_params p;
	struct tcemu_container_info ci;
	int c1, g1;

	CHECK_EQ(fx_setup(&f), 0);
	p = f.p;
	CHECK_EQ(tcemu_guest_phb_create(NULL, &p, &phb), -EINVAL);
	CHECK_EQ(tcemu_guest_phb_create(f.g, NULL, &phb), -EINVAL);
	CHECK_EQ(tcemu_guest_phb_create(f.g, &p, NULL), -EINVAL);
	p.default_size = GiB + 4096;
	CHECK_EQ(tcemu_guest_phb_create(f.g, &p, &phb), -EINVAL);
	p.default_size = 2048;
	CHECK_EQ(tcemu_guest_phb_create(f.g, &p, &phb), -EINVAL);
	p = f.p;
	p.max_ram = 0;
	CHECK_EQ(tcemu_guest_phb_create(f.g, &p, &phb), -EINVAL);
	p = f.p;
	p.ddw_liobn_base = DEF_LIOBN - 1; /* base + 1 is the default LIOBN */
	CHECK_EQ(tcemu_guest_phb_create(f.g, &p, &phb), -EINVAL);
	p = f.p;
	p.container_fd = 4321;
	CHECK_EQ(tcemu_guest_phb_create(f.g, &p, &phb), -EBADF);
	p.container_fd = f.grp;
	CHECK_EQ(tcemu_guest_phb_create(f.g, &p, &phb), -EINVAL);
	/* a v1 container */
	CHECK_EQ(tcemu_host_open(f.h, "/dev/vfio/vfio", 2, &c1), 0);
	CHECK_EQ(tcemu_host_open(f.h, "/dev/vfio/1", 2, &g1), 0);
	CHECK_EQ(tcemu_host_ioctl(f.h, g1, VFIO_GROUP_SET_CONTAINER, &c1), 0);
	CHECK_EQ(tcemu_host_ioctl(f.h, c1, VFIO_SET_IOMMU, (void *)VFIO_SPAPR_TCE_IOMMU), 0);
	p.container_fd = c1;
	CHECK_EQ(tcemu_guest_phb_create(f.g, &p, &phb), -EINVAL);
	CHECK(phb == NULL);
	/* the default LIOBN is taken in the guest: -EBUSY, window 0 put back (built) */
	CHECK_EQ(tcemu_guest_create_window(f.g, DEF_LIOBN, 12, 1 << 20, 16), 0);
	CHECK_EQ(tcemu_guest_phb_create(f.g, &f.p, &phb), -EBUSY);
	CHECK_EQ(tcemu_host_container_info(f.h, f.c, &ci), 0);
	CHECK(ci.windows[0].present || ci.windows[0].pending);
	CHECK(!ci.windows[1].present);
	CHECK_EQ(tcemu_guest_remove_window(f.g, DEF_LIOBN), 0);
	/* QEMU-like numbering: a DDW at bus 0 may reuse the default window's LIOBN */
	p = f.p;
	p.ddw_liobn_base = DEF_LIOBN;
	CHECK_EQ(tcemu_guest_phb_create(f.g, &p, &f.phb), 0);
	CHECK_EQ(default_only(&f), 0);
	uint32_t liobn;
	uint64_t start;
	CHECK_EQ(create(&f, 16, 30, &liobn, &start), 0);
	CHECK_EQ(liobn, DEF_LIOBN + 1);
	CHECK_EQ(remove_win(&f, DEF_LIOBN), 0);
	CHECK_EQ(create(&f, 16, 30, &liobn, &start), 0);
	CHECK_EQ(liobn, DEF_LIOBN);
	CHECK_U64(start, 0);
	CHECK_EQ(remove_win(&f, DEF_LIOBN + 1), 0);
	CHECK_EQ(remove_win(&f, DEF_LIOBN), 0); /* the last DDW: the default comes back */
	CHECK_EQ(default_only(&f), 0);
	fx_guest_close(&f);
}

/* Concurrent RTAS calls on one PHB are serialized: the records and the container always agree. */
struct race {
	struct fx_guest *f;
	int bad;
};

static void *race_thread(void *arg)
{
	struct race *r = arg;
	uint32_t o[6], liobn;

	for (int i = 0; i < 50; i++) {
		int32_t st = create(r->f, 16, 28, &liobn, NULL);
		if (st == 0) {
			if (remove_win(r->f, liobn) != 0)
				r->bad++;
		} else if (st != TCEMU_RTAS_HARDWARE_ERROR) {
			r->bad++;
		}
		if (query(r->f, o, 5) != 0 || o[1] > 1)
			r->bad++;
	}
	return NULL;
}

TEST(concurrent_calls)
{
	struct fx_guest f;
	struct harness_threads t = { 0 };
	struct race r[4];

	CHECK_EQ(fx_open(&f), 0);
	for (int i = 0; i < 4; i++) {
		r[i] = (struct race){ .f = &f };
		harness_thread_start(&t, race_thread, &r[i]);
	}
	harness_threads_join(&t);
	for (int i = 0; i < 4; i++)
		CHECK_EQ(r[i].bad, 0);
	CHECK_EQ(default_only(&f), 0);
	fx_guest_close(&f);
}

HARNESS_MAIN(T(boot_default_window), T(query_values), T(query_largest_block_rounding_and_saturation),
	     T(create_ddw_at_window1), T(create_parameter_errors_leave_nothing),
	     T(create_allocation_failures_leave_nothing), T(create_guest_failure_leaves_nothing),
	     T(create_over_memlock_leaves_nothing), T(linux_guest_flow),
	     T(two_ddws_and_restore), T(remove_uncleared_window), T(reset_restores_default),
	     T(remove_unknown_and_bad_calls), T(destroy_leaves_nothing), T(phb_create_rules), T(concurrent_calls))
