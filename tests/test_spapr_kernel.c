/* SPDX-License-Identifier: MIT */
/*
 * sPAPR TCE backend conformance (spapr.h): the differences from the kernel (section 10 of vfio-
 * spapr-abi.md): misaligned and out-of-window ranges, rollback of failed and racing maps, partial
 * registration; and everything returning to zero on close.
 */
#include "spapr.h"

/* ======================= section 10: differences from the kernel ======================= */

TEST(diff_misaligned_iova_einval_not_positive)
{
	struct fx_vfio f;
	uint8_t *mem;

	CHECK_EQ(fx_v2_ready(&f, &mem), 0);
	CHECK_EQ(map_rw(&f, mem, 0x10800, 4096), -EINVAL);
	CHECK_EQ(map_rw(&f, mem, 0x10001, 4096), -EINVAL);
	CHECK_EQ(map_rw(&f, mem, 0x10000, 4096), 0);
	CHECK_EQ(unmap(&f, 0x10800, 4096), -EINVAL);
	CHECK_EQ(unmap(&f, 0x0f001, 4096), -EINVAL);
	CHECK(tce_at(&f, 0x10000, NULL) != 0);
	CHECK_U64(tce_at(&f, 0x11000, NULL), 0);
	CHECK_EQ(region_at(f.h, mem).mapped, 1);
	/* v1 as well. */
	struct fx_vfio g;
	CHECK_EQ(fx_v1_ready(&g), 0);
	CHECK_EQ(map_rw(&g, mem, 0x10800, 4096), -EINVAL);
	CHECK_EQ(unmap(&g, 0x10800, 4096), -EINVAL);
	CHECK_EQ(cinfo(&g).windows[0].valid_entries, 0);
	fx_vfio_close(&g);
	fx_host_done(g.h);
	fx_vfio_close(&f);
	fx_host_done(f.h);
}

TEST(diff_range_leaving_window_einval)
{
	struct fx_vfio f;
	uint8_t *mem;

	CHECK_EQ(fx_v2_ready(&f, &mem), 0);
	/* Starts on the last page of the 2 GiB window, runs one page past it. */
	CHECK_EQ(map_rw(&f, mem, 2 * GiB - 4096, 2 * 4096), -EINVAL);
	CHECK_U64(tce_at(&f, 2 * GiB - 4096, NULL), 0);
	CHECK_EQ(map_rw(&f, mem, 2 * GiB - 4096, UINT64_MAX & ~0xfffull), -EINVAL);
	CHECK_EQ(map_rw(&f, mem, 2 * GiB - 4096, 4096), 0);
	CHECK_EQ(unmap(&f, 2 * GiB - 4096, 2 * 4096), -EINVAL);
	CHECK(tce_at(&f, 2 * GiB - 4096, NULL) != 0);
	CHECK_EQ(unmap(&f, 0, 2 * GiB + 4096), -EINVAL);
	CHECK(tce_at(&f, 2 * GiB - 4096, NULL) != 0);
	CHECK_EQ(region_at(f.h, mem).mapped, 1);
	/* A second window: a range from its last page must not wrap into anything else. */
	CHECK_EQ(create(&f, 12, GiB, 1, NULL), 0);
	CHECK_EQ(map_rw(&f, mem, W1 + GiB - 4096, 2 * 4096), -EINVAL);
	CHECK_EQ(cinfo(&f).windows[1].valid_entries, 0);
	CHECK_EQ(unmap(&f, 2 * GiB - 4096, 4096), 0);
	fx_vfio_close(&f);
	fx_host_done(f.h);
}

TEST(diff_unregister_mapped_ebusy_nothing_changes)
{
	struct fx_vfio f;
	uint8_t *mem;
	uint64_t tce, lk, ua = 0;
	size_t defects;

	CHECK_EQ(fx_v2_ready(&f, &mem), 0);
	CHECK_EQ(map_rw(&f, mem, 0, 4 * 4096), 0);
	tce = tce_at(&f, 0, NULL);
	lk = locked(f.h);
	defects = tcemu_host_defect_count(f.h);
	CHECK_EQ(unreg(&f, mem, MiB), -EBUSY);
	CHECK_EQ(tcemu_host_defect_count(f.h), defects + 1);
	CHECK_EQ(nregions(f.h), 1);
	CHECK_EQ(region_at(f.h, mem).mapped, 4);
	CHECK_EQ(region_at(f.h, mem).users, 1);
	CHECK_EQ(cinfo(&f).nregions, 1);
	CHECK_U64(tce_at(&f, 0, &ua), tce);
	CHECK_U64(ua, (uintptr_t)mem);
	CHECK_U64(locked(f.h), lk);
	/* Still usable: map more from it. */
	CHECK_EQ(map_rw(&f, mem + 0x10000, 0x10000, 4096), 0);
	CHECK_EQ(region_at(f.h, mem).mapped, 5);
	fx_vfio_close(&f);
	CHECK(host_is_clean(f.h));
	fx_host_done(f.h);
}

TEST(diff_v1_pins_with_direction_access)
{
	struct fx_vfio f;
	uint8_t *ro = fx_umem(64 * KiB, 64 * KiB, PROT_READ);
	uint64_t ua = 0;

	CHECK(ro);
	CHECK_EQ(fx_v1_ready(&f), 0);
	/* Read-only memory for a device that reads it: fine. */
	CHECK_EQ(map(&f, ro, 0x100000, 4 * 4096, VFIO_DMA_MAP_FLAG_READ), 0);
	CHECK_U64(tce_at(&f, 0x100000, &ua) & 3, TR);
	CHECK_U64(v1_ua_of(&f, 0x100000), (uintptr_t)ro);
	CHECK_EQ(cinfo(&f).windows[0].valid_entries, 4);
	/* The device would write it: refused, nothing mapped. */
	CHECK_EQ(map(&f, ro + 4 * 4096, 0x200000, 2 * 4096, VFIO_DMA_MAP_FLAG_WRITE), -EFAULT);
	CHECK_EQ(map_rw(&f, ro + 4 * 4096, 0x200000, 2 * 4096), -EFAULT);
	CHECK_U64(tce_at(&f, 0x200000, NULL), 0);
	CHECK_EQ(cinfo(&f).windows[0].valid_entries, 4);
	fx_vfio_close(&f);
	CHECK(host_is_clean(f.h));
	fx_host_done(f.h);
}

/* A v2 MAP that fails part way leaves nothing of itself behind (deterministic case). */
TEST(diff_v2_map_failure_rolls_back)
{
	struct fx_vfio f;
	uint8_t *mem = umem(2 * MiB);

	CHECK_EQ(fx_vfio_open(&f, 0, V2), 0);
	CHECK_EQ(reg(&f, mem, MiB), 0);
	CHECK_EQ(reg(&f, mem + MiB, MiB), 0);
	CHECK_EQ(unreg(&f, mem + MiB, MiB), 0); /* torn down */
	CHECK_EQ(map_rw(&f, mem + MiB - 16 * 4096, 0x100000, 32 * 4096), -EINVAL);
	for (unsigned i = 0; i < 32; i++)
		CHECK_U64(tce_at(&f, 0x100000 + i * 4096ull, NULL), 0);
	CHECK_EQ(region_at(f.h, mem).mapped, 0);
	CHECK_EQ(cinfo(&f).windows[0].valid_entries, 0);
	fx_vfio_close(&f);
	CHECK(host_is_clean(f.h));
	fx_host_done(f.h);
}

struct race {
	struct fx_vfio *f;
	uint8_t *b;
	int stop;
	long bad;
	long cycles;
};

static void *race_toggler(void *arg)
{
	struct race *r = arg;

	while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
		long rc = reg(r->f, r->b, MiB);

		if (rc) {
			__atomic_add_fetch(&r->bad, 1, __ATOMIC_RELAXED);
			break;
		}
		while ((rc = unreg(r->f, r->b, MiB)) == -EBUSY)
			;
		if (rc) {
			__atomic_add_fetch(&r->bad, 1, __ATOMIC_RELAXED);
			break;
		}
		r->cycles++;
	}
	return NULL;
}

/* Concurrently with the second region being registered and torn down, MAP is all or nothing. */
TEST(diff_v2_map_meeting_teardown_rolls_back)
{
	struct fx_vfio f;
	uint8_t *mem = umem(2 * MiB);
	struct race r = { .f = &f, .b = mem + MiB };
	struct harness_threads t = { .stop = &r.stop };
	long ok = 0, failed = 0, broken = 0;

	CHECK_EQ(fx_vfio_open(&f, 0, V2), 0);
	CHECK_EQ(reg(&f, mem, MiB), 0);
	harness_thread_start(&t, race_toggler, &r);
	for (int it = 0; it < 1500; it++) {
		long rc = map_rw(&f, mem + MiB - 8 * 4096, 0x100000, 16 * 4096);
		unsigned set = 0;

		for (unsigned i = 0; i < 16; i++)
			set += tce_at(&f, 0x100000 + i * 4096ull, NULL) != 0;
		if (rc == 0 && set == 16 && unmap(&f, 0x100000, 16 * 4096) == 0)
			ok++;
		else if (rc == -EINVAL && set == 0)
			failed++;
		else
			broken++;
	}
	harness_threads_join(&t); /* sets r.stop */
	if (getenv("TEST_VERBOSE"))
		fprintf(stderr, "  race: %ld mapped, %ld refused, %ld toggles\n", ok, failed, r.cycles);
	CHECK_EQ(broken, 0);
	CHECK_EQ(r.bad, 0);
	CHECK_EQ(ok + failed, 1500);
	CHECK_EQ(region_at(f.h, mem).mapped, 0);
	fx_vfio_close(&f);
	CHECK(host_is_clean(f.h));
	fx_host_done(f.h);
}

TEST(diff_register_partly_inaccessible_efault_nothing_kept)
{
	struct fx_vfio f;
	uint8_t *mem = umem(4 * MiB);
	struct tcemu_host_stats st;
	struct tcemu_memory_stats ms;

	CHECK_EQ(fx_vfio_open(&f, 0, V2), 0);
	CHECK_EQ(munmap(mem + 3 * MiB, 4096), 0);   /* a hole near the end */
	CHECK_EQ(reg(&f, mem, 4 * MiB), -EFAULT);
	CHECK_EQ(mprotect(mem + 4096, 4096, PROT_READ), 0); /* read-only page near the start */
	CHECK_EQ(reg(&f, mem, 2 * MiB), -EFAULT);
	CHECK_EQ(nregions(f.h), 0);
	CHECK_U64(locked(f.h), 0);
	CHECK_EQ(cinfo(&f).nregions, 0);
	CHECK(!cinfo(&f).enabled);
	tcemu_host_stats(f.h, &st);
	CHECK_U64(st.regions_registered, 0);
	CHECK_U64(st.locked_bytes, 0);
	tcemu_memory_stats(tcemu_host_memory(f.h), &ms);
	CHECK_U64(ms.pins, 0);
	/* The accessible part alone registers. */
	CHECK_EQ(reg(&f, mem + 2 * MiB, MiB), 0);
	fx_vfio_close(&f);
	fx_host_done(f.h);
}

TEST(diff_detach_one_group_keeps_other_groups_mappings)
{
	struct fx_vfio f;
	uint8_t *mem;
	int g1, c;
	uint64_t tce, ua = 0;
	struct tcemu_container_info ci;

	CHECK_EQ(fx_vfio_open(&f, 0, V2), 0);
	CHECK_EQ(tcemu_host_open(f.h, "/dev/vfio/1", O_RDWR, &g1), 0);
	c = f.c;
	CHECK_EQ(tcemu_host_ioctl(f.h, g1, VFIO_GROUP_SET_CONTAINER, &c), 0);
	CHECK_EQ(cinfo(&f).ngroups, 2);
	mem = umem(MiB);
	CHECK_EQ(reg(&f, mem, MiB), 0);
	CHECK_EQ(map_rw(&f, mem, 0x10000, 8 * 4096), 0);
	tce = tce_at(&f, 0x10000, NULL);
	CHECK_EQ(tcemu_host_ioctl(f.h, g1, VFIO_GROUP_UNSET_CONTAINER, NULL), 0);
	ci = cinfo(&f);
	CHECK_EQ(ci.ngroups, 1);
	CHECK_EQ(ci.groups[0], 0);
	CHECK_EQ(ci.windows[0].valid_entries, 8);
	CHECK_U64(tce_at(&f, 0x10000, &ua), tce);
	CHECK_U64(ua, (uintptr_t)mem);
	CHECK_EQ(region_at(f.h, mem).mapped, 8);
	/* The remaining group's table is still in use. */
	CHECK_EQ(map_rw(&f, mem + 8 * 4096, 0x20000, 4096), 0);
	CHECK_EQ(region_at(f.h, mem).mapped, 9);
	tcemu_host_close(f.h, g1);
	fx_vfio_close(&f);
	CHECK(host_is_clean(f.h));
	fx_host_done(f.h);
}

/* ======================= everything returns to zero ======================= */

/* A v2 container on `group` with two regions, a second window and mappings in both windows. */
static long busy_v2(struct tcemu_host *h, unsigned group, uint8_t *mem, struct fx_vfio *f)
{
	long rc = fx_vfio_attach(f, h, group, V2);

	rc = rc ? rc : reg(f, mem, MiB);
	rc = rc ? rc : reg(f, mem + MiB, MiB);
	rc = rc ? rc : create(f, 12, 16 * GiB, 2, NULL);
	rc = rc ? rc : map_rw(f, mem, 0x10000, 64 * 4096);
	return rc ? rc : map_rw(f, mem + MiB, W1 + 0x1000000, MiB);
}

TEST(cleanup_everything_returns_to_zero_on_close)
{
	struct tcemu_host *h = fx_host_new(&(struct tcemu_host_opts){ .memlock_set = true, .memlock = UINT64_MAX });
	uint8_t *mem = umem(2 * MiB), *v1mem = umem(MiB);
	struct fx_vfio a, b, c;
	struct tcemu_host_stats st;
	struct tcemu_memory_stats ms;

	/* Two v2 containers sharing a region, and a v1 container. */
	CHECK_EQ(busy_v2(h, 0, mem, &a), 0);
	CHECK_EQ(fx_vfio_attach(&b, h, 1, V2), 0);
	CHECK_EQ(reg(&b, mem, MiB), 0);
	CHECK_EQ(map_rw(&b, mem, 0, MiB), 0);
	CHECK_EQ(fx_vfio_attach(&c, h, 4, V1), 0);
	CHECK_EQ(enable(&c), 0);
	CHECK_EQ(map_rw(&c, v1mem, 0, MiB), 0);
	tcemu_host_stats(h, &st);
	CHECK_U64(st.entries_mapped, 64 + 256 + 256 + 256);
	CHECK(locked(h) > 2 * GiB + 2 * MiB);
	CHECK_EQ(nregions(h), 2);
	CHECK_EQ(region_at(h, mem).users, 2);
	CHECK_EQ(region_at(h, mem).mapped, 64 + 256);

	/* a: container first (its group still holds it), then the group. */
	tcemu_host_close(h, a.c);
	tcemu_host_close(h, a.g);
	CHECK_EQ(region_at(h, mem).users, 1);
	CHECK_EQ(region_at(h, mem).mapped, 256);
	CHECK_EQ(nregions(h), 1);
	/* b: group first. */
	tcemu_host_close(h, b.g);
	tcemu_host_close(h, b.c);
	CHECK_EQ(nregions(h), 0);
	tcemu_host_close(h, c.g);
	tcemu_host_close(h, c.c);
	CHECK(host_is_clean(h));
	tcemu_memory_stats(tcemu_host_memory(h), &ms);
	CHECK_U64(ms.pins, 0);
	CHECK_U64(ms.pinned_bytes, 0);
	fx_host_done(h);
}

/* Descriptors left open are released by destroy (checked by the sanitizers), and a fresh host
 * from the same process starts at zero. */
TEST(cleanup_after_unset_container)
{
	struct fx_vfio f;
	uint8_t *mem;

	CHECK_EQ(fx_v2_ready(&f, &mem), 0);
	CHECK_EQ(create(&f, 12, GiB, 1, NULL), 0);
	CHECK_EQ(map_rw(&f, mem, W1, MiB), 0);
	CHECK_EQ(tcemu_host_ioctl(f.h, f.g, VFIO_GROUP_UNSET_CONTAINER, NULL), 0);
	/* Last group gone: backend released, everything returned, container unset again. */
	CHECK(host_is_clean(f.h));
	CHECK_EQ(cinfo(&f).type, 0);
	CHECK_EQ(cinfo(&f).nregions, 0);
	CHECK(!cinfo(&f).windows[0].present && !cinfo(&f).windows[1].present);
	fx_vfio_close(&f);
	fx_host_done(f.h);
}

HARNESS_MAIN(T(diff_misaligned_iova_einval_not_positive), T(diff_range_leaving_window_einval),
	     T(diff_unregister_mapped_ebusy_nothing_changes), T(diff_v1_pins_with_direction_access),
	     T(diff_v2_map_failure_rolls_back), T(diff_v2_map_meeting_teardown_rolls_back),
	     T(diff_register_partly_inaccessible_efault_nothing_kept),
	     T(diff_detach_one_group_keeps_other_groups_mappings), T(cleanup_everything_returns_to_zero_on_close),
	     T(cleanup_after_unset_container))
