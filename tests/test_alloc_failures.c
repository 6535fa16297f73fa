/* SPDX-License-Identifier: MIT */
/*
 * Failure injection through the guest side: every allocation a guest operation makes (the
 * host's, the tables' levels, the simulated memory's, the guest's own: windows, links, snapshots,
 * views) fails in turn (tcemu_host_fail_alloc), and each failure must leave the state exactly as
 * it was: hardware entries and guest view entries over the call's range, windows, regions and
 * their mapped counts, locked memory, the host's counters, and the host and guest invariants
 * (vfio/check.h). The loop ends when the operation succeeds without reaching the injected
 * allocation, so every allocation point has failed once. (Register, map, window creation and
 * attach: test_vfio_failures.c; the DDW RTAS create: test_rtas.c.)
 */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <linux/vfio.h>

#include "fixture.h"
#include "harness.h"
#include "vfio/check.h"

#define LIOBN 0x80000000u
#define LIOBN2 0x80000007u
#define MiB (1024 * 1024ull)
#define LIST_GPA (40 * MiB)
#define RANGE 512 /* entries compared from the call's first bus address */

struct snapshot {
	uint64_t hw[RANGE], view[RANGE];
	struct tcemu_container_info ci;
	struct tcemu_region_info regs[4];
	ssize_t nregs;
	uint64_t locked;
	struct tcemu_host_stats st;
	struct tcemu_memory_stats ms;
	uint64_t windows2; /* whether LIOBN2 exists (H_GET_TCE answers) */
};

static void snap(struct fx_guest *f, uint64_t ioba, struct snapshot *s)
{
	memset(s, 0, sizeof(*s));
	for (unsigned i = 0; i < RANGE; i++) {
		uint64_t a[2] = { LIOBN, ioba + i * FX_PAGE }, ua;

		tcemu_host_container_entry(f->h, f->c, ioba + i * FX_PAGE, &s->hw[i], &ua);
		tcemu_guest_hcall(f->g, TCEMU_H_GET_TCE, a, &s->view[i]);
	}
	tcemu_host_container_info(f->h, f->c, &s->ci);
	for (int w = 0; w < TCEMU_PE_WINDOWS; w++)
		s->ci.windows[w].allocated_bytes = 0; /* empty levels may stay: they translate nothing */
	s->nregs = tcemu_host_regions(f->h, getpid(), s->regs, 4);
	tcemu_host_locked(f->h, getpid(), &s->locked, NULL);
	tcemu_host_stats(f->h, &s->st);
	memset(s->st.ioctls, 0, sizeof(s->st.ioctls)); /* calls are counted, failed or not */
	s->st.ioctl_errors = s->st.defects = 0;
	s->st.entries_mapped_peak = s->st.locked_peak = s->st.regions_peak = 0;
	tcemu_memory_stats(tcemu_host_memory(f->h), &s->ms);
	s->ms.next_hpa = 0;
	uint64_t a[2] = { LIOBN2, 0 }, v;
	s->windows2 = tcemu_guest_hcall_fast(f->g, TCEMU_H_GET_TCE, a, &v) == TCEMU_H_SUCCESS;
}

/* An operation: returns 0 on success, 1 on a clean failure (ENOMEM, H_HARDWARE), -1 otherwise. */
typedef int (*op_fn)(struct fx_guest *f);

static int hc(long rc)
{
	return rc == TCEMU_H_SUCCESS ? 0 : rc == TCEMU_H_HARDWARE ? 1 : -1;
}

/* A fresh region of the window: new view and hardware leaves. */
#define FRESH 0x20000000ull

static int op_put_tce(struct fx_guest *f)
{
	uint64_t a[3] = { LIOBN, FRESH, 0x5000 | 3 };

	return hc(tcemu_guest_hcall(f->g, TCEMU_H_PUT_TCE, a, NULL));
}

static int op_put_tce_slow(struct fx_guest *f)
{
	uint64_t a[3] = { LIOBN, FRESH, 0x5000 | 1 };

	return hc(tcemu_guest_hcall_slow(f->g, TCEMU_H_PUT_TCE, a, NULL));
}

/* A scattered list of 512 TCEs (every entry a run of its own) across a leaf boundary. */
static int op_put_indirect(struct fx_guest *f)
{
	uint64_t *list = (uint64_t *)(f->ram + LIST_GPA);
	uint64_t a[4] = { LIOBN, FRESH - 256 * FX_PAGE, LIST_GPA, 512 };

	for (unsigned i = 0; i < 512; i++)
		list[i] = htobe64(((i * 7919ull) % 4096) * FX_PAGE | (1 + i % 3));
	return hc(tcemu_guest_hcall(f->g, TCEMU_H_PUT_TCE_INDIRECT, a, NULL));
}

/* A direct map of 512 pages (one run). */
static int op_put_indirect_direct(struct fx_guest *f)
{
	uint64_t *list = (uint64_t *)(f->ram + LIST_GPA);
	uint64_t a[4] = { LIOBN, FRESH, LIST_GPA, 512 };

	for (unsigned i = 0; i < 512; i++)
		list[i] = htobe64((i + 64) * FX_PAGE | 3);
	return hc(tcemu_guest_hcall(f->g, TCEMU_H_PUT_TCE_INDIRECT, a, NULL));
}

/* A second guest window over the same container window, linked. */
static int op_window_and_link(struct fx_guest *f)
{
	int rc = tcemu_guest_create_window(f->g, LIOBN2, 12, 0, 1 << 16);

	if (rc)
		return rc == -ENOMEM ? 1 : -1;
	rc = tcemu_guest_link(f->g, LIOBN2, f->c);
	if (rc) {
		tcemu_guest_remove_window(f->g, LIOBN2);
		return rc == -ENOMEM ? 1 : -1;
	}
	return 0;
}

/*
 * premap: an entry mapped before the call (it is not the first of its kind); any_view: the call may
 * leave its guest view entries written when it fails (the slow path writes its view first, then
 * maps, as QEMU does: a failed map is H_HARDWARE with the view kept).
 */
static int sweep(op_fn op, uint64_t ioba, bool premap, bool any_view, unsigned *failures)
{
	*failures = 0;
	for (uint64_t n = 1; n < 2000; n++) {
		struct fx_guest f;
		struct snapshot before, after;
		char why[512];
		int rc;

		if (fx_guest_linked(&f, 0, 12, 12, LIOBN))
			return -1;
		uint64_t a[3] = { LIOBN, 0x3000, 0x3000 | 3 };
		if (premap && tcemu_guest_hcall(f.g, TCEMU_H_PUT_TCE, a, NULL) != TCEMU_H_SUCCESS)
			return -1;
		snap(&f, ioba, &before);
		tcemu_host_fail_alloc(f.h, n);
		rc = op(&f);
		uint64_t counted = tcemu_host_fail_alloc(f.h, 0);
		if (rc < 0) {
			fprintf(stderr, "  allocation %llu: the call failed otherwise than cleanly\n", (unsigned long long)n);
			fx_guest_close(&f);
			return -3;
		}
		if (rc == 1) {
			(*failures)++;
			snap(&f, ioba, &after);
			if (any_view)
				memcpy(after.view, before.view, sizeof(after.view));
			if (memcmp(&before, &after, sizeof(before))) {
				fprintf(stderr, "  allocation %llu: state changed by a failed call\n", (unsigned long long)n);
				fx_guest_close(&f);
				return -2;
			}
		}
		if (tcemu_host_check_invariants(f.h, 0, why, sizeof(why)) ||
		    tcemu_guest_check_invariants(f.g, why, sizeof(why))) {
			fprintf(stderr, "  allocation %llu: %s\n", (unsigned long long)n, why);
			fx_guest_close(&f);
			return -4;
		}
		fx_guest_close(&f);
		if (rc == 0 && counted < n)
			return 0; /* every allocation point has failed once */
	}
	return -5;
}

#define SWEEP_TEST(name, op, ioba, premap, any_view)                                                \
	TEST(name)                                                                                 \
	{                                                                                          \
		unsigned failures;                                                                 \
		CHECK_EQ(sweep(op, ioba, premap, any_view, &failures), 0);                         \
		fprintf(stderr, "# %u allocation points failed\n", failures);                  \
		CHECK(failures >= 1); /* the operation does allocate: the sweep reached it */      \
	}

SWEEP_TEST(put_tce_fast_path, op_put_tce, FRESH, true, false)
SWEEP_TEST(put_tce_slow_path, op_put_tce_slow, FRESH, true, true)
SWEEP_TEST(put_tce_indirect_scattered, op_put_indirect, FRESH - 256 * FX_PAGE, true, false)
SWEEP_TEST(put_tce_indirect_direct_map, op_put_indirect_direct, FRESH, true, false)
/* (nothing mapped: the second window shares the container window, and would see LIOBN's entry) */
SWEEP_TEST(guest_window_and_link, op_window_and_link, 0, false, false)

HARNESS_MAIN(T(put_tce_fast_path), T(put_tce_slow_path), T(put_tce_indirect_scattered),
	     T(put_tce_indirect_direct_map), T(guest_window_and_link))
