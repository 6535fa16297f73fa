/* SPDX-License-Identifier: MIT */
/* The platform model: default topology, profiles, window slots, ownership, invalidation. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <tcemu/platform.h>

#include "harness.h"

#define GiB (1ull << 30)

static struct tcemu_platform *mk_default(void)
{
	struct tcemu_platform_opts o = { 0 };
	struct tcemu_platform *p = NULL;

	if (tcemu_platform_create(&o, &p))
		return NULL;
	return p;
}

static struct tcemu_table *mk_table(uint64_t start, uint64_t ws, uint32_t ps, uint32_t levels)
{
	struct tcemu_table_params tp = { .bus_offset = start, .window_size = ws, .page_shift = ps, .levels = levels };
	struct tcemu_table *t = NULL;

	if (tcemu_table_create(&tp, &t))
		return NULL;
	return t;
}

static void remove_file(void *path)
{
	unlink(path);
}

TEST(default_topology_shape)
{
	struct tcemu_platform *p = mk_default();
	struct tcemu_phb_info hi;
	struct tcemu_pe_info pi;

	CHECK(p);
	CHECK_EQ(tcemu_platform_page_shift(p), 12);
	CHECK_EQ(tcemu_platform_phb_count(p), 2);
	CHECK_EQ(tcemu_platform_pe_count(p), 6);
	tcemu_phb_info(tcemu_platform_phb(p, 0), &hi);
	CHECK_EQ(hi.profile->profile, TCEMU_PROFILE_IODA3);
	CHECK_EQ(hi.npes, 4);
	CHECK_U64(hi.dma32_size, 2 * GiB);
	tcemu_phb_info(tcemu_platform_phb(p, 1), &hi);
	CHECK_EQ(hi.profile->profile, TCEMU_PROFILE_IODA2);
	CHECK_EQ(hi.npes, 2);
	CHECK_EQ(hi.domain, 1);
	/* groups 0..5, one device each, found by group and by BDF */
	for (uint32_t g = 0; g < 6; g++) {
		struct tcemu_pe *pe = tcemu_platform_pe_by_group(p, g);
		CHECK(pe);
		tcemu_pe_info(pe, &pi);
		CHECK_EQ(pi.group, g);
		CHECK_EQ(pi.ndevices, 1);
		CHECK(tcemu_platform_pe_by_bdf(p, tcemu_pe_device(pe, 0)->bdf) == pe);
	}
	CHECK(tcemu_platform_pe_by_group(p, 6) == NULL);
	CHECK(tcemu_platform_pe_by_bdf(p, "0000:01:00.0") == tcemu_platform_pe_by_group(p, 0));
	CHECK(tcemu_platform_pe_by_bdf(p, "0001:02:00.0") == tcemu_platform_pe_by_group(p, 5));
	CHECK(tcemu_platform_pe_by_bdf(p, "0000:09:00.0") == NULL);
	/* groups 0-2: the virtio models' ids and BARs; 3-5: the test device */
	const struct tcemu_device_info *di = tcemu_pe_device(tcemu_platform_pe_by_group(p, 0), 0);
	CHECK_EQ(di->vendor, 0x1af4);
	CHECK_EQ(di->device, 0x1000);
	CHECK_EQ(di->bar_flags[0], TCEMU_BAR_IO);
	di = tcemu_pe_device(tcemu_platform_pe_by_group(p, 2), 0);
	CHECK_EQ(di->device, 0x1001);
	di = tcemu_pe_device(tcemu_platform_pe_by_group(p, 3), 0);
	CHECK_EQ(di->vendor, 0x1b36);
	CHECK_EQ(di->device, 0x0005);
	CHECK(di->bar_size[0] > 0);
	CHECK(tcemu_pe_device(tcemu_platform_pe_by_group(p, 0), 1) == NULL);
	CHECK(tcemu_platform_phb(p, 2) == NULL);
	CHECK(tcemu_platform_pe(p, 6) == NULL);
	tcemu_platform_destroy(p);
}

TEST(profiles)
{
	const struct tcemu_profile_info *a = tcemu_profile_info(TCEMU_PROFILE_IODA1);
	const struct tcemu_profile_info *b = tcemu_profile_info(TCEMU_PROFILE_IODA2);
	const struct tcemu_profile_info *c = tcemu_profile_info(TCEMU_PROFILE_IODA3);

	CHECK(a && b && c);
	CHECK_EQ(a->windows, 1);
	CHECK_U64(a->pgsizes, 1ull << 12);
	CHECK(!a->dynamic_windows && !a->multi_group);
	CHECK_EQ(b->windows, 2);
	CHECK_U64(b->pgsizes, (1ull << 12) | (1ull << 16) | (1ull << 24) | (1ull << 28));
	CHECK_EQ(b->max_levels, 5);
	CHECK(b->dynamic_windows && b->multi_group);
	CHECK_U64(c->pgsizes, (1ull << 12) | (1ull << 16) | (1ull << 21) | (1ull << 30));
	CHECK_EQ(c->max_pes, 512);
	CHECK(tcemu_profile_info((enum tcemu_profile)9) == NULL);
}

TEST(window_slot_by_bit_59)
{
	CHECK_EQ(tcemu_window_slot(0), 0);
	CHECK_EQ(tcemu_window_slot(TCEMU_WINDOW1_START - 1), 0);
	CHECK_EQ(tcemu_window_slot(TCEMU_WINDOW1_START), 1);
	CHECK_EQ(tcemu_window_slot(0x0fffffffffffffffull), 1);
	CHECK_EQ(tcemu_window_slot(0x1000000000000000ull), -ERANGE);
}

/* Host ownership at start: a default 32-bit window and bypass; taking it drops both. */
TEST(ownership)
{
	struct tcemu_platform *p = mk_default();
	struct tcemu_pe *pe;
	struct tcemu_table *t;
	struct tcemu_table_info ti;

	CHECK(p);
	pe = tcemu_platform_pe_by_group(p, 2);
	CHECK(!tcemu_pe_is_owned(pe));
	CHECK(tcemu_pe_bypass(pe));
	t = tcemu_pe_window(pe, 0);
	CHECK(t);
	tcemu_table_info(t, &ti);
	CHECK_U64(ti.params.bus_offset, 0);
	CHECK_U64(ti.params.window_size, 2 * GiB);
	CHECK_EQ(ti.params.page_shift, 12);
	tcemu_table_unref(t);
	CHECK(tcemu_pe_window(pe, 1) == NULL);

	CHECK_EQ(tcemu_pe_release_ownership(pe), -EINVAL); /* not owned */
	CHECK_EQ(tcemu_pe_take_ownership(pe), 0);
	CHECK(tcemu_pe_is_owned(pe));
	CHECK(!tcemu_pe_bypass(pe));
	CHECK(tcemu_pe_window(pe, 0) == NULL);
	CHECK_EQ(tcemu_pe_take_ownership(pe), -EBUSY);

	/* the owner programs a window; release drops it and restores the host's default */
	t = mk_table(TCEMU_WINDOW1_START, 1ull << 40, 16, 3);
	CHECK(t);
	CHECK_EQ(tcemu_pe_set_window(pe, 1, t), 0);
	tcemu_table_unref(t); /* the PE holds its own reference */
	CHECK_EQ(tcemu_pe_release_ownership(pe), 0);
	CHECK(!tcemu_pe_is_owned(pe));
	CHECK(tcemu_pe_bypass(pe));
	CHECK(tcemu_pe_window(pe, 1) == NULL);
	t = tcemu_pe_window(pe, 0);
	CHECK(t);
	tcemu_table_info(t, &ti);
	CHECK_U64(ti.params.window_size, 2 * GiB);
	tcemu_table_unref(t);
	tcemu_platform_destroy(p);
}

TEST(set_window_rules)
{
	struct tcemu_platform *p = mk_default();
	struct tcemu_pe *p9, *p8;
	struct tcemu_table *t;

	CHECK(p);
	p9 = tcemu_platform_pe_by_group(p, 0); /* IODA3 */
	p8 = tcemu_platform_pe_by_group(p, 4); /* IODA2 */
	CHECK_EQ(tcemu_pe_take_ownership(p9), 0);
	CHECK_EQ(tcemu_pe_take_ownership(p8), 0);

	/* page size must be the profile's: 2M on IODA3 but not on IODA2, 16M the other way round */
	t = mk_table(0, 1ull << 36, 21, 1);
	CHECK(t);
	CHECK_EQ(tcemu_pe_set_window(p8, 0, t), -EINVAL);
	CHECK_EQ(tcemu_pe_set_window(p9, 0, t), 0);
	CHECK_EQ(tcemu_pe_set_window(p9, 0, t), -EBUSY);
	tcemu_table_unref(t);
	t = mk_table(0, 1ull << 36, 24, 1);
	CHECK_EQ(tcemu_pe_set_window(p9, 1, t), -EINVAL); /* 16M on IODA3, and wrong start for slot 1 */
	CHECK_EQ(tcemu_pe_set_window(p8, 0, t), 0);
	tcemu_table_unref(t);

	/* slot 1 must start at 1 << 59; slot 0 must end by 1 << 59 */
	t = mk_table(0, 1ull << 30, 12, 1);
	CHECK_EQ(tcemu_pe_set_window(p9, 1, t), -EINVAL);
	tcemu_table_unref(t);
	t = mk_table(TCEMU_WINDOW1_START, 1ull << 30, 12, 1);
	CHECK_EQ(tcemu_pe_set_window(p9, 1, t), 0);
	CHECK_EQ(tcemu_pe_set_window(p9, 2, t), -EINVAL);
	tcemu_table_unref(t);
	t = mk_table(TCEMU_WINDOW1_START - (1ull << 30), 1ull << 31, 12, 2);
	CHECK(t);
	CHECK_EQ(tcemu_pe_set_window(p8, 1, t), -EINVAL);
	tcemu_table_unref(t);

	/* unset: empty slot is ENOENT; unset then set again works */
	CHECK_EQ(tcemu_pe_unset_window(p9, 1), 0);
	CHECK_EQ(tcemu_pe_unset_window(p9, 1), -ENOENT);
	CHECK_EQ(tcemu_pe_unset_window(p9, 7), -EINVAL);
	t = mk_table(TCEMU_WINDOW1_START, 1ull << 40, 16, 2);
	CHECK_EQ(tcemu_pe_set_window(p9, 1, t), 0);
	tcemu_table_unref(t);
	tcemu_platform_destroy(p); /* frees the windows still set */
}

TEST(ioda1_has_one_fixed_window)
{
	static const char topo[] = "phb 0 ioda1 dma32=1G\n pe 3\n  device 0000:00:01.0\n";
	struct tcemu_platform_opts o = { .topology_text = topo };
	struct tcemu_platform *p = NULL;
	struct tcemu_pe *pe;
	struct tcemu_table *t;

	CHECK_EQ(tcemu_platform_create(&o, &p), 0);
	pe = tcemu_platform_pe(p, 0);
	CHECK_EQ(tcemu_pe_group(pe), 0);
	CHECK_EQ(tcemu_pe_take_ownership(pe), 0);
	t = mk_table(0, 2 * GiB, 12, 1); /* not the 32-bit window's size */
	CHECK_EQ(tcemu_pe_set_window(pe, 0, t), -EINVAL);
	tcemu_table_unref(t);
	t = mk_table(TCEMU_WINDOW1_START, 1 * GiB, 12, 1);
	CHECK_EQ(tcemu_pe_set_window(pe, 1, t), -EINVAL); /* one window only */
	tcemu_table_unref(t);
	t = mk_table(0, 1 * GiB, 12, 1);
	CHECK_EQ(tcemu_pe_set_window(pe, 0, t), 0);
	tcemu_table_unref(t);
	tcemu_platform_destroy(p);
}

struct kills {
	unsigned n;
	unsigned slot;
	uint64_t index, count;
	struct tcemu_pe *pe;
};

static void on_kill(void *opaque, struct tcemu_pe *pe, unsigned slot, uint64_t index, uint64_t count)
{
	struct kills *k = opaque;
	k->n++;
	k->pe = pe;
	k->slot = slot;
	k->index = index;
	k->count = count;
}

TEST(invalidation_hook_and_counter)
{
	struct tcemu_platform *p = mk_default();
	struct tcemu_pe *pe;
	struct kills k = { 0 };
	uint64_t before;

	CHECK(p);
	pe = tcemu_platform_pe_by_group(p, 1);
	before = tcemu_pe_invalidations(pe);
	tcemu_pe_set_kill_hook(pe, on_kill, &k);
	tcemu_pe_tce_kill(pe, 1, 100, 512);
	CHECK_EQ(k.n, 1);
	CHECK(k.pe == pe);
	CHECK_EQ(k.slot, 1);
	CHECK_EQ(k.index, 100);
	CHECK_EQ(k.count, 512);
	CHECK_EQ(tcemu_pe_invalidations(pe), before + 1);
	/* ownership changes and window changes invalidate the whole PE (count 0) */
	CHECK_EQ(tcemu_pe_take_ownership(pe), 0);
	CHECK_EQ(k.n, 2);
	CHECK_EQ(k.count, 0);
	CHECK_EQ(tcemu_pe_release_ownership(pe), 0);
	CHECK_EQ(k.n, 3);
	CHECK_EQ(tcemu_pe_invalidations(pe), before + 3);
	tcemu_pe_set_kill_hook(pe, NULL, NULL);
	tcemu_pe_tce_kill(pe, 0, 0, 1);
	CHECK_EQ(k.n, 3);
	CHECK_EQ(tcemu_pe_invalidations(pe), before + 4);
	tcemu_platform_destroy(p);
}

TEST(page_size_and_memlock_from_topology)
{
	static const char topo[] = "page-size 64K\nmemlock 256M\nphb 0 ioda2\npe 0\ndevice 0000:00:02.0\n";
	struct tcemu_platform_opts o = { .topology_text = topo };
	struct tcemu_platform *p = NULL;
	struct tcemu_table *t;
	struct tcemu_table_info ti;
	uint64_t ml = 0;

	CHECK_EQ(tcemu_platform_create(&o, &p), 0);
	CHECK_EQ(tcemu_platform_page_shift(p), 16);
	CHECK(tcemu_platform_memlock(p, &ml));
	CHECK_U64(ml, 256ull << 20);
	t = tcemu_pe_window(tcemu_platform_pe(p, 0), 0);
	tcemu_table_info(t, &ti);
	CHECK_EQ(ti.params.sys_page_shift, 16);
	CHECK_EQ(ti.geometry.level_shift, 22);
	tcemu_table_unref(t);
	tcemu_platform_destroy(p);

	/* the option overrides the file; a bad value is refused with a message */
	o.sys_page_shift = 12;
	CHECK_EQ(tcemu_platform_create(&o, &p), 0);
	CHECK_EQ(tcemu_platform_page_shift(p), 12);
	tcemu_platform_destroy(p);
	char err[256];
	o.sys_page_shift = 13;
	o.errbuf = err;
	o.errlen = sizeof(err);
	CHECK_EQ(tcemu_platform_create(&o, &p), -EINVAL);
	CHECK_CONTAINS(err, "page");

	struct tcemu_platform *d = mk_default();
	CHECK(d);
	CHECK(!tcemu_platform_memlock(d, &ml));
	tcemu_platform_destroy(d);
}

TEST(bad_topology_is_reported_with_line)
{
	char err[256];
	struct tcemu_platform_opts o = { .topology_text = "phb 0 ioda3\n  pe 1\n  device nonsense\n", .errbuf = err,
					 .errlen = sizeof(err) };
	struct tcemu_platform *p = (struct tcemu_platform *)0x1;

	CHECK_EQ(tcemu_platform_create(&o, &p), -EINVAL);
	CHECK(p == (struct tcemu_platform *)0x1);
	CHECK_CONTAINS(err, "<topology>:3:");

	o.topology_text = NULL;
	o.topology_path = "/nonexistent/topo.txt";
	CHECK_EQ(tcemu_platform_create(&o, &p), -ENOENT);
	CHECK_CONTAINS(err, "/nonexistent/topo.txt");

	/* a real file: errors name the file */
	static char path[32];

	snprintf(path, sizeof(path), "/tmp/tcemu-topo-XXXXXX"); /* static: the cleanup runs after this function returns */
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	DEFER(remove_file, path); /* also when a check fails before the unlink below */
	static const char bad[] = "# a comment\nphb 0 ioda4\n";
	CHECK_EQ(write(fd, bad, sizeof(bad) - 1), (long)sizeof(bad) - 1);
	close(fd);
	o.topology_path = path;
	CHECK_EQ(tcemu_platform_create(&o, &p), -EINVAL);
	harness_undefer(remove_file, path);
	unlink(path);
	char want[64];
	snprintf(want, sizeof(want), "%s:2:", path);
	CHECK_CONTAINS(err, want);
	CHECK_CONTAINS(err, "ioda4");
}

HARNESS_MAIN(T(default_topology_shape), T(profiles), T(window_slot_by_bit_59), T(ownership), T(set_window_rules),
	     T(ioda1_has_one_fixed_window), T(invalidation_hook_and_counter), T(page_size_and_memlock_from_topology),
	     T(bad_topology_is_reported_with_line))
