/* SPDX-License-Identifier: MIT */
/*
 * Window churn: a guest window created, linked, unlinked and removed over and over (a guest's DDW
 * on every reboot) while other threads issue hypercalls on a stable window and on the churned
 * LIOBN. Every answer is one a guest may get (success, or "no such window"), nothing crashes (run
 * under ASan and TSan in CI), and memory follows the live windows, not the churn: removed windows
 * and replaced snapshots are freed after their grace period (util/grace.h), counted by the
 * guest's live_windows/live_snapshots (a heap figure from mallinfo2 drifts by tens of KiB with
 * the threads' arenas, too much to tell a bounded heap from a slow leak in a short run).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include <tcemu/guest.h>

#include "fixture.h"
#include "guest/guest_priv.h"
#include "harness.h"

#define STABLE 0x100u
#define CHURNED 0x200u
#define CYCLES 2000u
#define PAGES (FX_GUEST_RAM >> 12)

struct caller {
	struct tcemu_guest *g;
	uint32_t liobn;
	atomic_bool *stop;
	unsigned long calls, ok, no_window;
	long unexpected; /* the first answer outside the expected set, 0: none */
};

static void *put_loop(void *arg)
{
	struct caller *c = arg;
	uint64_t i = 0;

	while (!atomic_load(c->stop)) {
		uint64_t page = (i * 7919) % PAGES;
		uint64_t args[3] = { c->liobn, page << 12, (page << 12) | 3 };
		long rc = tcemu_guest_hcall(c->g, TCEMU_H_PUT_TCE, args, NULL);

		if (rc == TCEMU_H_SUCCESS)
			c->ok++;
		else if (rc == TCEMU_H_PARAMETER && c->liobn == CHURNED)
			c->no_window++; /* the window is between a remove and a create */
		else if (!c->unexpected)
			c->unexpected = rc ? rc : 1;
		c->calls++;
		i++;
	}
	return NULL;
}

TEST(window_churn_frees_what_it_unpublishes)
{
	struct fx_guest f = { 0 };
	atomic_bool stop = false;
	struct caller stable, churned;
	pthread_t ts, tc;
	uint64_t windows_peak = 0;

	CHECK_EQ(fx_guest_linked(&f, 0, 12, 12, STABLE), 0);
	stable = (struct caller){ .g = f.g, .liobn = STABLE, .stop = &stop };
	churned = (struct caller){ .g = f.g, .liobn = CHURNED, .stop = &stop };
	CHECK_EQ(pthread_create(&ts, NULL, put_loop, &stable), 0);
	CHECK_EQ(pthread_create(&tc, NULL, put_loop, &churned), 0);
	for (unsigned n = 0; n < CYCLES; n++) {
		if (tcemu_guest_create_window(f.g, CHURNED, 12, 0, PAGES) != 0 ||
		    tcemu_guest_link(f.g, CHURNED, f.c) != 0 || tcemu_guest_unlink(f.g, CHURNED, f.c) != 0 ||
		    tcemu_guest_remove_window(f.g, CHURNED) != 0) {
			atomic_store(&stop, true);
			HARNESS_FAIL("cycle %u failed", n);
			break;
		}
		uint64_t live = __atomic_load_n(&f.g->live_windows, __ATOMIC_RELAXED);
		if (live > windows_peak)
			windows_peak = live;
	}
	atomic_store(&stop, true);
	pthread_join(ts, NULL);
	pthread_join(tc, NULL);
	CHECK_EQ(stable.unexpected, 0);
	CHECK_EQ(churned.unexpected, 0);
	CHECK(stable.ok > 0);
	CHECK(churned.calls > 0);
	/* What is left: the stable window, the RAM map and the window list; at most two windows lived. */
	CHECK_EQ(__atomic_load_n(&f.g->live_windows, __ATOMIC_RELAXED), 1);
	CHECK_EQ(__atomic_load_n(&f.g->live_snapshots, __ATOMIC_RELAXED), 2);
	CHECK(windows_peak <= 2);
	fx_guest_close(&f);
}

/* The snapshots of RAM added one range at a time: one live map, whatever the history. */
TEST(ram_map_snapshots_are_freed)
{
	struct fx_guest f = { 0 };
	static uint8_t extra[64][4096] __attribute__((aligned(4096)));

	CHECK_EQ(fx_guest_ram(&f), 0);
	for (unsigned i = 0; i < 64; i++)
		CHECK_EQ(tcemu_guest_add_ram(f.g, (1ull << 32) + i * 4096ull, 4096, extra[i]), 0);
	CHECK_EQ(__atomic_load_n(&f.g->live_snapshots, __ATOMIC_RELAXED), 1); /* no window list yet */
	CHECK(tcemu_guest_gpa_to_hva(f.g, (1ull << 32) + 63 * 4096ull, 4096) == extra[63]);
	fx_guest_close(&f);
}

HARNESS_MAIN(T(window_churn_frees_what_it_unpublishes), T(ram_map_snapshots_are_freed))
