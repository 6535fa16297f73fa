/* SPDX-License-Identifier: MIT */
/*
 * sPAPR TCE backend conformance (spapr.h): pre-registration (section 6 of vfio-spapr-abi.md):
 * region fields and page sizes, sharing between containers, overlaps, limits, faults, maps across
 * regions, unregistration.
 */
#include "spapr.h"
#include "vfio/check.h"

/* ======================= section 6: pre-registration ======================= */

TEST(prereg_region_fields)
{
	struct fx_vfio f;
	uint8_t *mem = umem(2 * MiB);
	struct tcemu_region_info ri;

	CHECK_EQ(fx_vfio_open(&f, 0, V2), 0);
	CHECK_EQ(reg(&f, mem, 2 * MiB), 0);
	ri = region_at(f.h, mem);
	CHECK_U64(ri.ua, (uintptr_t)mem);
	CHECK_U64(ri.size, 2 * MiB);
	CHECK_EQ(ri.page_shift, 12); /* 2 MiB aligned, but backed by 4 KiB pages */
	CHECK(ri.hpa != 0 && ri.hpa != ri.ua);
	CHECK_U64(ri.hpa & 4095, 0);
	CHECK_EQ(ri.users, 1);
	CHECK_EQ(ri.mapped, 0);
	CHECK_EQ(cinfo(&f).nregions, 1);
	fx_vfio_close(&f);
	fx_host_done(f.h);
}

/* On a 64 KiB-page system a normal page is 64 KiB: regions back 64 KiB IOMMU pages. */
TEST(prereg_page_shift_64k_system)
{
	struct tcemu_host_opts o = fx_host_opts();
	struct fx_vfio f;
	uint8_t *mem = umem(2 * MiB);
	struct tcemu_region_info ri;
	uint64_t ua = 0;

	o.platform.sys_page_shift = 16;
	CHECK_EQ(fx_open_opts(&f, &o, 0, V2), 0);
	CHECK_EQ(reg(&f, mem + 4096, 64 * KiB), -EINVAL); /* aligned to 4 KiB only */
	CHECK_EQ(reg(&f, mem, 64 * KiB + 4096), -EINVAL);
	CHECK_EQ(reg(&f, mem + 64 * KiB, 3 * 64 * KiB), 0);
	ri = region_at(f.h, mem + 64 * KiB);
	CHECK_EQ(ri.page_shift, 16);
	CHECK_EQ(reg(&f, mem + MiB, MiB), 0);
	ri = region_at(f.h, mem + MiB);
	CHECK_EQ(ri.page_shift, 16);
	CHECK_EQ(remove_win(&f, 0), 0);
	CHECK_EQ(create(&f, 16, GiB, 1, NULL), 0);
	CHECK_U64(locked(f.h), 3 * 64 * KiB + MiB + tcemu_table_accounted_size(16, GiB, 1, 16));
	CHECK_EQ(map_rw(&f, mem + MiB, 0, 128 * KiB), 0);
	CHECK_U64(tce_at(&f, 64 * KiB, &ua) & ~0xffffull, ri.hpa + 64 * KiB);
	CHECK_U64(ua, (uintptr_t)mem + MiB + 64 * KiB);
	CHECK_EQ(region_at(f.h, mem + MiB).mapped, 2);
	fx_vfio_close(&f);
	CHECK(host_is_clean(f.h));
	fx_host_done(f.h);
}

TEST(prereg_duplicate_in_one_container_ebusy)
{
	struct fx_vfio f;
	uint8_t *mem;

	CHECK_EQ(fx_v2_ready(&f, &mem), 0);
	CHECK_EQ(reg(&f, mem, MiB), -EBUSY);
	CHECK_EQ(region_at(f.h, mem).users, 1);
	CHECK_EQ(cinfo(&f).nregions, 1);
	CHECK_U64(locked(f.h), MiB);
	/* One unregister removes it: the EBUSY took no reference. */
	CHECK_EQ(unreg(&f, mem, MiB), 0);
	CHECK_EQ(nregions(f.h), 0);
	CHECK_EQ(unreg(&f, mem, MiB), -ENOENT);
	fx_vfio_close(&f);
	fx_host_done(f.h);
}

TEST(prereg_shared_between_containers_refcounted)
{
	struct tcemu_host *h = fx_host_new(&(struct tcemu_host_opts){ .memlock_set = true, .memlock = UINT64_MAX });
	struct fx_vfio a, b;
	uint8_t *mem = umem(MiB);
	struct tcemu_region_info ri;
	uint64_t tce_a, tce_b;

	CHECK_EQ(fx_vfio_attach(&a, h, 0, V2), 0);
	CHECK_EQ(fx_vfio_attach(&b, h, 1, V2), 0);
	CHECK_EQ(reg(&a, mem, MiB), 0);
	CHECK_EQ(reg(&b, mem, MiB), 0);
	ri = region_at(h, mem);
	CHECK_EQ(ri.users, 2);
	CHECK_EQ(nregions(h), 1);
	CHECK_U64(locked(h), MiB);
	CHECK_EQ(cinfo(&a).nregions, 1);
	CHECK_EQ(cinfo(&b).nregions, 1);
	/* Both map the same memory: same physical pages, mapped counts add up. */
	CHECK_EQ(map_rw(&a, mem, 0, 8192), 0);
	CHECK_EQ(map_rw(&b, mem, 0x100000, 4096), 0);
	tce_a = tce_at(&a, 0, NULL);
	tce_b = tce_at(&b, 0x100000, NULL);
	CHECK_U64(tce_a, tce_b);
	CHECK_U64(tce_a & ~0xfffull, ri.hpa);
	CHECK_EQ(region_at(h, mem).mapped, 3);
	CHECK_EQ(unmap(&a, 0, 8192), 0);
	/* b still maps into the region: any entry pointing into it makes UNREGISTER EBUSY. */
	CHECK_EQ(unreg(&a, mem, MiB), -EBUSY);
	CHECK_EQ(region_at(h, mem).users, 2);
	CHECK_EQ(unmap(&b, 0x100000, 4096), 0);
	CHECK_EQ(unreg(&a, mem, MiB), 0);
	CHECK_EQ(region_at(h, mem).users, 1);
	CHECK_EQ(cinfo(&a).nregions, 0);
	CHECK_U64(locked(h), MiB + 2 * DEF_ACCT);
	/* a gave its reference up; b still holds the region and maps from it. */
	CHECK_EQ(unreg(&a, mem, MiB), -ENOENT);
	CHECK_EQ(map_rw(&b, mem + 4096, 0x101000, 4096), 0);
	CHECK_EQ(unmap(&b, 0x100000, 8192), 0);
	CHECK_EQ(unreg(&b, mem, MiB), 0);
	CHECK_EQ(nregions(h), 0);
	CHECK_U64(locked(h), 2 * DEF_ACCT);
	fx_vfio_close(&a);
	fx_vfio_close(&b);
	CHECK(host_is_clean(h));
	fx_host_done(h);
}

/*
 * A container maps memory that only another container of the process registered (the regions
 * are the process's, as in the kernel), then the registering container goes. The region must
 * outlive it while entries map into it (it stays pinned and charged, a defect is reported), and
 * go with the last of them.
 */
TEST(prereg_region_kept_while_another_container_maps_it)
{
	struct tcemu_host *h = fx_host_new(&(struct tcemu_host_opts){ .memlock_set = true, .memlock = UINT64_MAX });
	struct fx_vfio a, b;
	uint8_t *mem = umem(MiB), *own = umem(MiB);
	uint64_t ua = 0;

	CHECK_EQ(fx_vfio_attach(&a, h, 0, V2), 0);
	CHECK_EQ(fx_vfio_attach(&b, h, 1, V2), 0);
	CHECK_EQ(reg(&a, mem, MiB), 0);
	CHECK_EQ(reg(&b, own, MiB), 0); /* b is enabled by a registration of its own */
	CHECK_EQ(map_rw(&b, mem, 0, 8192), 0);
	CHECK_EQ(region_at(h, mem).users, 1);
	CHECK_EQ(region_at(h, mem).mapped, 2);
	fx_vfio_close(&a); /* a's release drops its reference: b's entries still point into the region */
	CHECK_EQ(nregions(h), 2);
	CHECK_EQ(region_at(h, mem).users, 0);
	CHECK_EQ(region_at(h, mem).mapped, 2);
	CHECK(tce_at(&b, 0, &ua) & 3);
	CHECK_U64(ua, (uintptr_t)mem);
	CHECK(tcemu_host_defect_count(h) > 0);
	/* The region goes with the last container that could still map into it. */
	CHECK_EQ(unmap(&b, 0, 8192), 0);
	CHECK_EQ(unreg(&b, own, MiB), 0);
	fx_vfio_close(&b);
	CHECK_EQ(nregions(h), 0);
	CHECK_U64(locked(h), 0);
	CHECK(host_is_clean(h));
	fx_host_done(h);
}

TEST(prereg_overlap_einval_adjacent_ok)
{
	struct fx_vfio f;
	uint8_t *mem = umem(4 * MiB);

	CHECK_EQ(fx_vfio_open(&f, 0, V2), 0);
	CHECK_EQ(reg(&f, mem + MiB, MiB), 0);
	CHECK_EQ(reg(&f, mem + MiB, MiB / 2), -EINVAL);            /* same start, smaller */
	CHECK_EQ(reg(&f, mem + MiB, 2 * MiB), -EINVAL);            /* same start, larger */
	CHECK_EQ(reg(&f, mem + MiB + 4096, 4096), -EINVAL);        /* inside */
	CHECK_EQ(reg(&f, mem, 2 * MiB), -EINVAL);                  /* straddles the start */
	CHECK_EQ(reg(&f, mem + MiB + MiB / 2, MiB), -EINVAL);      /* straddles the end */
	CHECK_EQ(reg(&f, mem, 4 * MiB), -EINVAL);                  /* covers it */
	CHECK_EQ(nregions(f.h), 1);
	CHECK_EQ(reg(&f, mem, MiB), 0);                             /* adjacent below */
	CHECK_EQ(reg(&f, mem + 2 * MiB, MiB), 0);                   /* adjacent above */
	CHECK_EQ(nregions(f.h), 3);
	CHECK_U64(locked(f.h), 3 * MiB);
	fx_vfio_close(&f);
	CHECK(host_is_clean(f.h));
	fx_host_done(f.h);
}

TEST(prereg_enomem_over_limit)
{
	struct fx_vfio f;
	uint8_t *mem = umem(4 * MiB);

	CHECK_EQ(fx_open_limit(&f, 2 * MiB, 0, V2), 0);
	CHECK_EQ(reg(&f, mem, 3 * MiB), -ENOMEM);
	CHECK_EQ(reg(&f, mem, MiB), 0);
	CHECK_EQ(reg(&f, mem + MiB, MiB), 0); /* exactly at the limit */
	CHECK_EQ(reg(&f, mem + 2 * MiB, 4096), -ENOMEM);
	CHECK_EQ(nregions(f.h), 2);
	CHECK_U64(locked(f.h), 2 * MiB);
	CHECK_EQ(unreg(&f, mem, MiB), 0);
	CHECK_EQ(reg(&f, mem + 2 * MiB, MiB), 0);
	fx_vfio_close(&f);
	CHECK(host_is_clean(f.h));
	fx_host_done(f.h);
}

TEST(prereg_efault_unmapped_hole)
{
	struct fx_vfio f;
	uint8_t *mem = umem(2 * MiB);

	CHECK_EQ(fx_vfio_open(&f, 0, V2), 0);
	CHECK_EQ(munmap(mem + MiB, 4096), 0);
	CHECK_EQ(reg(&f, mem, 2 * MiB), -EFAULT);
	CHECK_EQ(reg(&f, mem + MiB, 4096), -EFAULT);
	CHECK_EQ(mprotect(mem + MiB / 2, 4096, PROT_NONE), 0);
	CHECK_EQ(reg(&f, mem, MiB), -EFAULT);
	CHECK_EQ(nregions(f.h), 0);
	CHECK_U64(locked(f.h), 0);
	CHECK(!cinfo(&f).enabled);
	CHECK_EQ(reg(&f, mem + MiB + 4096, MiB - 4096), 0);
	fx_vfio_close(&f);
	fx_host_done(f.h);
}

TEST(prereg_efault_readonly_memory)
{
	struct fx_vfio f;
	uint8_t *ro = fx_umem(MiB, MiB, PROT_READ);

	CHECK(ro);
	CHECK_EQ(fx_vfio_open(&f, 0, V2), 0);
	CHECK_EQ(reg(&f, ro, MiB), -EFAULT);
	CHECK_EQ(nregions(f.h), 0);
	CHECK_U64(locked(f.h), 0);
	CHECK(!cinfo(&f).enabled);
	fx_vfio_close(&f);
	fx_host_done(f.h);
}

TEST(prereg_iommu_page_larger_than_region_page_eperm)
{
	struct fx_vfio f;
	uint8_t *mem;
	uint64_t start = 1;

	CHECK_EQ(fx_v2_ready(&f, &mem), 0);
	CHECK_EQ(remove_win(&f, 0), 0);
	CHECK_EQ(create(&f, 16, GiB, 1, &start), 0);
	CHECK_U64(start, 0);
	CHECK_EQ(region_at(f.h, mem).page_shift, 12);
	CHECK_EQ(map_rw(&f, mem, 0, 64 * KiB), -EPERM);
	CHECK_EQ(map(&f, mem, 0, MiB, VFIO_DMA_MAP_FLAG_READ), -EPERM);
	CHECK_U64(tce_at(&f, 0, NULL), 0);
	CHECK_EQ(region_at(f.h, mem).mapped, 0);
	CHECK_EQ(cinfo(&f).windows[0].valid_entries, 0);
	/* A 4 KiB window over the same memory is fine. */
	CHECK_EQ(create(&f, 12, GiB, 1, &start), 0);
	CHECK_U64(start, W1);
	CHECK_EQ(map_rw(&f, mem, W1, 64 * KiB), 0);
	CHECK_EQ(region_at(f.h, mem).mapped, 16);
	fx_vfio_close(&f);
	fx_host_done(f.h);
}

TEST(prereg_map_spanning_adjacent_regions)
{
	struct fx_vfio f;
	uint8_t *mem = umem(2 * MiB);
	struct tcemu_region_info ra, rb;
	uint64_t ua;

	CHECK_EQ(fx_vfio_open(&f, 0, V2), 0);
	CHECK_EQ(reg(&f, mem, MiB), 0);
	CHECK_EQ(reg(&f, mem + MiB, MiB), 0);
	/* Last 4 pages of the first region and first 4 of the second. */
	CHECK_EQ(map_rw(&f, mem + MiB - 4 * 4096, 0x40000000, 8 * 4096), 0);
	ra = region_at(f.h, mem);
	rb = region_at(f.h, mem + MiB);
	CHECK_EQ(ra.mapped, 4);
	CHECK_EQ(rb.mapped, 4);
	for (unsigned i = 0; i < 8; i++) {
		uint64_t tce = tce_at(&f, 0x40000000 + i * 4096ull, &ua);
		uint64_t want = i < 4 ? ra.hpa + MiB - (4 - i) * 4096ull : rb.hpa + (i - 4) * 4096ull;

		CHECK_U64(tce, want | TR | TW);
		CHECK_U64(ua, (uintptr_t)mem + MiB - 4 * 4096 + i * 4096ull);
	}
	CHECK_EQ(unreg(&f, mem, MiB), -EBUSY);
	CHECK_EQ(unmap(&f, 0x40000000, 4 * 4096), 0);
	CHECK_EQ(unreg(&f, mem, MiB), 0);
	CHECK_EQ(region_at(f.h, mem + MiB).mapped, 4);
	fx_vfio_close(&f);
	CHECK(host_is_clean(f.h));
	fx_host_done(f.h);
}

/*
 * A map over many regions whose frames are not contiguous (one table run per contiguous group),
 * and the failures in a later region leave everything unchanged.
 */
TEST(prereg_map_spanning_many_regions_runs_and_failures)
{
	struct fx_vfio f;
	uint8_t *mem = umem(8 * MiB);
	struct tcemu_region_info ri[4];
	uint64_t ua;

	CHECK_EQ(fx_vfio_open(&f, 0, V2), 0);
	/*
	 * A, B, C and D in address order would get frames that follow each other. A region at 7 MiB
	 * registered and unregistered after each one lands in the same block of frames (the nearest
	 * region's) and closes it: the next region gets a block of its own.
	 */
	for (unsigned i = 0; i < 4; i++) {
		CHECK_EQ(reg(&f, mem + i * MiB, MiB), 0);
		CHECK_EQ(reg(&f, mem + 7 * MiB, MiB), 0);
		CHECK_EQ(unreg(&f, mem + 7 * MiB, MiB), 0);
	}
	for (unsigned i = 0; i < 4; i++)
		ri[i] = region_at(f.h, mem + i * MiB);
	CHECK(ri[1].hpa != ri[0].hpa + MiB);
	CHECK(ri[2].hpa != ri[1].hpa + MiB);
	CHECK(ri[3].hpa != ri[2].hpa + MiB);
	/* Two pages of A, all of B and C, two pages of D. */
	CHECK_EQ(map_rw(&f, mem + MiB - 2 * 4096, 0x40000000, 2 * MiB + 4 * 4096), 0);
	CHECK_EQ(region_at(f.h, mem).mapped, 2);
	CHECK_EQ(region_at(f.h, mem + MiB).mapped, 256);
	CHECK_EQ(region_at(f.h, mem + 2 * MiB).mapped, 256);
	CHECK_EQ(region_at(f.h, mem + 3 * MiB).mapped, 2);
	for (uint64_t i = 0; i < 512 + 4; i++) {
		uint64_t off = MiB - 2 * 4096 + i * 4096, tce = tce_at(&f, 0x40000000 + i * 4096, &ua);

		CHECK_U64(tce, (ri[off / MiB].hpa + off % MiB) | TR | TW);
		CHECK_U64(ua, (uintptr_t)mem + off);
	}
	CHECK_EQ(cinfo(&f).windows[0].valid_entries, 516);
	/* A gap after D (E registered one MiB further): EINVAL, nothing written or counted. */
	CHECK_EQ(reg(&f, mem + 5 * MiB, MiB), 0);
	CHECK_EQ(map_rw(&f, mem + 2 * MiB, 0x50000000, 4 * MiB), -EINVAL);
	/* 64 KiB IOMMU pages over E (4 KiB pages) and past it: EPERM from the first region. */
	uint64_t start = 1;
	CHECK_EQ(create(&f, 16, GiB, 1, &start), 0);
	CHECK_EQ(map_rw(&f, mem + 5 * MiB, start, 2 * MiB), -EPERM);
	CHECK_EQ(cinfo(&f).windows[0].valid_entries, 516);
	CHECK_EQ(cinfo(&f).windows[1].valid_entries, 0);
	CHECK_EQ(region_at(f.h, mem + 2 * MiB).mapped, 256);
	CHECK_EQ(region_at(f.h, mem + 3 * MiB).mapped, 2);
	CHECK_EQ(region_at(f.h, mem + 5 * MiB).mapped, 0);
	CHECK_U64(tce_at(&f, 0x50000000, NULL), 0);
	CHECK_U64(tce_at(&f, start, NULL), 0);
	/* Remapping over existing entries replaces them: the counts move, they do not grow. */
	CHECK_EQ(map_rw(&f, mem + MiB - 2 * 4096, 0x40000000, 2 * MiB + 4 * 4096), 0);
	CHECK_EQ(region_at(f.h, mem + MiB).mapped, 256);
	CHECK_EQ(region_at(f.h, mem + 3 * MiB).mapped, 2);
	CHECK_EQ(map_rw(&f, mem + 2 * MiB, 0x40000000, 2 * MiB), 0);
	CHECK_EQ(region_at(f.h, mem).mapped, 0);
	/* Entries 512-515 still hold C's last two pages and D's first two. */
	CHECK_EQ(region_at(f.h, mem + MiB).mapped, 0);
	CHECK_EQ(region_at(f.h, mem + 2 * MiB).mapped, 256 + 2);
	CHECK_EQ(region_at(f.h, mem + 3 * MiB).mapped, 256 + 2);
	CHECK_EQ(cinfo(&f).windows[0].valid_entries, 516);
	CHECK_EQ(unmap(&f, 0x40000000, 2 * MiB + 4 * 4096), 0);
	for (unsigned i = 0; i < 7; i++)
		CHECK_EQ(region_at(f.h, mem + i * MiB).mapped, 0);
	fx_vfio_close(&f);
	CHECK(host_is_clean(f.h));
	fx_host_done(f.h);
}

/*
 * Regions registered in descending address order get frames that follow each other (all but the
 * first one pinned), as regions registered in ascending order do: a map across them is one or two
 * linear runs, with every entry right;
 * unregistered and registered again, they get new frames (never handed out before).
 */
TEST(prereg_descending_registration_contiguous_frames)
{
	enum { N = 8 };
	struct fx_vfio f;
	uint8_t *mem = umem(N * MiB);
	struct tcemu_region_info ri[N];
	uint64_t ua, top = 0;

	CHECK_EQ(fx_vfio_open(&f, 0, V2), 0);
	for (int round = 0; round < 2; round++) {
		for (int i = N - 1; i >= 0; i--)
			CHECK_EQ(reg(&f, mem + i * MiB, MiB), 0);
		for (int i = 0; i < N; i++)
			ri[i] = region_at(f.h, mem + i * MiB);
		/* the first one pinned (the top one) had no neighbour: the others follow each other */
		for (int i = 0; i + 2 < N; i++)
			CHECK_U64(ri[i + 1].hpa, ri[i].hpa + MiB);
		CHECK(ri[N - 1].hpa != ri[N - 2].hpa + MiB);
		for (int i = 0; round && i < N; i++)
			CHECK(ri[i].hpa >= top); /* new frames, above every one handed out before */
		for (int i = 0; i < N; i++)
			top = ri[i].hpa + MiB > top ? ri[i].hpa + MiB : top;
		CHECK_EQ(map_rw(&f, mem, 0x40000000, N * MiB), 0);
		for (uint64_t k = 0; k < N * 256; k += 37) {
			CHECK_U64(tce_at(&f, 0x40000000 + k * 4096, &ua), (ri[k / 256].hpa + (k % 256) * 4096) | TR | TW);
			CHECK_U64(ua, (uintptr_t)mem + k * 4096);
		}
		CHECK_EQ(unmap(&f, 0x40000000, N * MiB), 0);
		for (int i = 0; i < N; i++)
			CHECK_EQ(unreg(&f, mem + i * MiB, MiB), 0);
	}
	fx_vfio_close(&f);
	CHECK(host_is_clean(f.h));
	fx_host_done(f.h);
}

/*
 * The region index against a model: 512 slots of 32 pages, each holding a region of random start
 * and length or nothing, registered in random order, a third unregistered again. Every page of the
 * memory is then looked up through a one-page MAP: it succeeds exactly inside a region, with that
 * region's frame.
 */
/* Shuffles a[0, n) in place (Fisher-Yates, xorshift64 from *seed, which it advances). */
static void shuffle(unsigned *a, unsigned n, uint64_t *seed)
{
	for (unsigned i = n - 1; n > 1 && i > 0; i--) {
		*seed ^= *seed << 13, *seed ^= *seed >> 7, *seed ^= *seed << 17;
		unsigned j = (unsigned)(*seed % (i + 1)), t = a[i];
		a[i] = a[j], a[j] = t;
	}
}

TEST(prereg_lookup_matches_model)
{
	enum { SLOTS = 512, SLOT_PAGES = 32 };
	static struct { uint32_t first, len; bool live; } slot[SLOTS];
	static unsigned order[SLOTS];
	struct tcemu_region_info *ri = calloc(SLOTS, sizeof(*ri));
	uint8_t *mem = umem(SLOTS * SLOT_PAGES * 4096ull);
	uint64_t seed = 0x9e3779b97f4a7c15ull, tce, ua;
	struct fx_vfio f;

	CHECK(ri && mem);
	CHECK_EQ(fx_vfio_open(&f, 0, V2), 0);
	for (unsigned i = 0; i < SLOTS; i++) {
		seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
		slot[i].first = (uint32_t)(seed % SLOT_PAGES);
		slot[i].len = 1 + (uint32_t)((seed >> 8) % (SLOT_PAGES - slot[i].first));
		slot[i].live = (seed >> 20) % 8 != 0;
		order[i] = i;
	}
	shuffle(order, SLOTS, &seed);
	for (unsigned i = 0; i < SLOTS; i++) {
		unsigned k = order[i];
		if (slot[k].live)
			CHECK_EQ(reg(&f, mem + (k * SLOT_PAGES + slot[k].first) * 4096ull, slot[k].len * 4096ull), 0);
	}
	for (unsigned i = 0; i < SLOTS; i += 3) {
		unsigned k = order[i];
		if (slot[k].live) {
			CHECK_EQ(unreg(&f, mem + (k * SLOT_PAGES + slot[k].first) * 4096ull, slot[k].len * 4096ull), 0);
			slot[k].live = false;
		}
	}
	ssize_t n = tcemu_host_regions(f.h, getpid(), ri, SLOTS);
	unsigned live = 0;
	for (unsigned k = 0; k < SLOTS; k++)
		live += slot[k].live;
	CHECK_EQ(n, (ssize_t)live);
	for (unsigned k = 0, r = 0; k < SLOTS; k++) {
		for (unsigned p = 0; p < SLOT_PAGES; p++) {
			uint8_t *va = mem + (k * SLOT_PAGES + p) * 4096ull;
			bool inside = slot[k].live && p >= slot[k].first && p < slot[k].first + slot[k].len;

			CHECK_EQ(map_rw(&f, va, 0, 4096), inside ? 0 : -EINVAL);
			if (!inside)
				continue;
			tce = tce_at(&f, 0, &ua);
			CHECK_U64(ua, (uintptr_t)va);
			CHECK_U64(tce, (ri[r].hpa + (uint64_t)(uintptr_t)va - ri[r].ua) | TR | TW);
			CHECK_EQ(unmap(&f, 0, 4096), 0);
		}
		r += slot[k].live;
	}
	fx_vfio_close(&f);
	CHECK(host_is_clean(f.h));
	fx_host_done(f.h);
	free(ri);
}

/*
 * The index keeps its regions in slots with room at both ends and moves the shorter side: register
 * and unregister one-page regions (three in a row, then a gap) in every pairing of five orders
 * (address, reverse, random, alternate ends, middle out), with the invariant checker
 * after every call (the sort, the keys, the padding and block tops of the slots, the gap counts
 * against each region's neighbour, the containers' references), and a map across a run of three and
 * across a gap in between.
 */
static unsigned order_at(unsigned how, unsigned k, unsigned n, const unsigned *shuffled)
{
	switch (how) {
	case 0: return k;
	case 1: return n - 1 - k;
	case 2: return shuffled[k];
	case 3: return k % 2 ? n - 1 - k / 2 : k / 2;                   /* alternate ends */
	default: return k % 2 ? n / 2 + (k - 1) / 2 : n / 2 - 1 - k / 2; /* middle out */
	}
}

TEST(prereg_index_any_order_checked)
{
	enum { N = 240, ORDERS = 5 };
	static unsigned shuffled[N];
	uint8_t *mem = umem((N + N / 3) * 4096ull);
	uint64_t seed = 0x2545f4914f6cdd1dull;
	char why[512];
	struct fx_vfio f;

	CHECK(mem);
	for (unsigned k = 0; k < N; k++)
		shuffled[k] = k;
	shuffle(shuffled, N, &seed);
	for (unsigned how = 0; how < ORDERS; how++) {
		/* every order_at is a permutation of 0 .. N - 1 */
		static bool seen[N];
		memset(seen, 0, sizeof(seen));
		for (unsigned k = 0; k < N; k++) {
			unsigned i = order_at(how, k, N, shuffled);
			CHECK(i < N && !seen[i]);
			seen[i] = true;
		}
	}
	CHECK_EQ(fx_vfio_open(&f, 0, V2), 0);
	for (unsigned in = 0; in < ORDERS; in++) {
		for (unsigned out = 0; out < ORDERS; out++) {
			for (unsigned k = 0; k < N; k++) {
				unsigned i = order_at(in, k, N, shuffled);
				CHECK_EQ(reg(&f, mem + (i + i / 3) * 4096ull, 4096), 0);
				CHECK_EQ(tcemu_host_check_invariants(f.h, TCEMU_CHECK_NO_GUEST, why, sizeof(why)), 0);
			}
			CHECK_EQ(nregions(f.h), N);
			/* slots 3..5 are pages 4..6, one run; slots 5 and 6 (pages 6 and 8) have a gap between */
			CHECK_EQ(map_rw(&f, mem + 4 * 4096ull, 0, 3 * 4096), 0);
			CHECK_EQ(unmap(&f, 0, 3 * 4096), 0);
			CHECK_EQ(map_rw(&f, mem + 6 * 4096ull, 0, 3 * 4096), -EINVAL);
			for (unsigned k = 0; k < N; k++) {
				unsigned i = order_at(out, k, N, shuffled);
				CHECK_EQ(unreg(&f, mem + (i + i / 3) * 4096ull, 4096), 0);
				CHECK_EQ(tcemu_host_check_invariants(f.h, TCEMU_CHECK_NO_GUEST, why, sizeof(why)), 0);
			}
			CHECK_EQ(nregions(f.h), 0);
		}
	}
	fx_vfio_close(&f);
	CHECK(host_is_clean(f.h));
	fx_host_done(f.h);
}

TEST(prereg_map_unregistered_memory_einval)
{
	struct fx_vfio f;
	uint8_t *mem, *other = umem(MiB);

	CHECK_EQ(fx_v2_ready(&f, &mem), 0);
	CHECK_EQ(map_rw(&f, other, 0, 4096), -EINVAL);
	/* Starts in the region, runs past its end: all or nothing. */
	CHECK_EQ(map_rw(&f, mem + MiB - 8 * 4096, 0x2000000, 16 * 4096), -EINVAL);
	for (unsigned i = 0; i < 16; i++)
		CHECK_U64(tce_at(&f, 0x2000000 + i * 4096ull, NULL), 0);
	/* Starts before the region. */
	CHECK_EQ(map_rw(&f, mem - 4096, 0x3000000, 2 * 4096), -EINVAL);
	CHECK_U64(tce_at(&f, 0x3001000, NULL), 0);
	CHECK_EQ(region_at(f.h, mem).mapped, 0);
	CHECK_EQ(cinfo(&f).windows[0].valid_entries, 0);
	fx_vfio_close(&f);
	fx_host_done(f.h);
}

TEST(prereg_unregister_enoent)
{
	struct tcemu_host *h = fx_host_new(&(struct tcemu_host_opts){ .memlock_set = true, .memlock = UINT64_MAX });
	struct fx_vfio a, b;
	uint8_t *mem = umem(2 * MiB);

	CHECK_EQ(fx_vfio_attach(&a, h, 0, V2), 0);
	CHECK_EQ(fx_vfio_attach(&b, h, 1, V2), 0);
	CHECK_EQ(reg(&a, mem, MiB), 0);
	CHECK_EQ(reg(&b, mem + MiB, 4096), 0);
	CHECK_EQ(unreg(&a, mem, MiB + 4096), -ENOENT);
	CHECK_EQ(unreg(&a, mem + 4096, MiB - 4096), -ENOENT);
	CHECK_EQ(unreg(&a, mem, 4096), -ENOENT);
	CHECK_EQ(unreg(&a, mem + MiB, 4096), -ENOENT); /* b's region, not a's */
	CHECK_EQ(unreg(&b, mem, MiB), -ENOENT);        /* a's region, not b's */
	CHECK_EQ(nregions(h), 2);
	CHECK_EQ(unreg(&a, mem, MiB), 0);
	CHECK_EQ(unreg(&b, mem + MiB, 4096), 0);
	fx_vfio_close(&a);
	fx_vfio_close(&b);
	CHECK(host_is_clean(h));
	fx_host_done(h);
}

TEST(prereg_unregister_ebusy_while_mapped)
{
	struct fx_vfio f;
	uint8_t *mem;

	CHECK_EQ(fx_v2_ready(&f, &mem), 0);
	CHECK_EQ(map_rw(&f, mem + 0x80000, 0x10000, 4096), 0);
	CHECK_EQ(unreg(&f, mem, MiB), -EBUSY);
	CHECK_EQ(unmap(&f, 0x10000, 4096), 0);
	CHECK_EQ(unreg(&f, mem, MiB), 0);
	CHECK_EQ(nregions(f.h), 0);
	fx_vfio_close(&f);
	CHECK(host_is_clean(f.h));
	fx_host_done(f.h);
}

/* "any IOMMU entry still maps into the region: EBUSY" - also one another container made. */
TEST(prereg_unregister_ebusy_when_shared_region_mapped_elsewhere)
{
	struct tcemu_host *h = fx_host_new(&(struct tcemu_host_opts){ .memlock_set = true, .memlock = UINT64_MAX });
	struct fx_vfio a, b;
	uint8_t *mem = umem(MiB);

	CHECK_EQ(fx_vfio_attach(&a, h, 0, V2), 0);
	CHECK_EQ(fx_vfio_attach(&b, h, 1, V2), 0);
	CHECK_EQ(reg(&a, mem, MiB), 0);
	CHECK_EQ(reg(&b, mem, MiB), 0);
	CHECK_EQ(map_rw(&b, mem, 0, 4096), 0);
	CHECK_EQ(unreg(&a, mem, MiB), -EBUSY);
	CHECK_EQ(region_at(h, mem).users, 2);
	CHECK_EQ(unmap(&b, 0, 4096), 0);
	CHECK_EQ(unreg(&a, mem, MiB), 0);
	fx_vfio_close(&a);
	fx_vfio_close(&b);
	CHECK(host_is_clean(h));
	fx_host_done(h);
}

TEST(prereg_mapped_counts)
{
	struct fx_vfio f;
	uint8_t *mem;

	CHECK_EQ(fx_v2_ready(&f, &mem), 0);
	CHECK_EQ(map_rw(&f, mem, 0x100000, 64 * 4096), 0);
	CHECK_EQ(region_at(f.h, mem).mapped, 64);
	CHECK_EQ(cinfo(&f).windows[0].valid_entries, 64);
	CHECK_EQ(unmap(&f, 0x100000 + 8 * 4096, 16 * 4096), 0);
	CHECK_EQ(region_at(f.h, mem).mapped, 48);
	/* Unmapping again, and a range that covers empty entries, changes only what was mapped. */
	CHECK_EQ(unmap(&f, 0x100000 + 8 * 4096, 16 * 4096), 0);
	CHECK_EQ(region_at(f.h, mem).mapped, 48);
	CHECK_EQ(unmap(&f, 0, 0x100000 + 32 * 4096), 0);
	CHECK_EQ(region_at(f.h, mem).mapped, 32);
	CHECK_EQ(cinfo(&f).windows[0].valid_entries, 32);
	CHECK_EQ(unmap(&f, 0, 2 * GiB), 0);
	CHECK_EQ(region_at(f.h, mem).mapped, 0);
	CHECK_EQ(cinfo(&f).windows[0].valid_entries, 0);
	fx_vfio_close(&f);
	fx_host_done(f.h);
}

/*
 * One MAP over 300 regions of 3 pages (runs that start and end inside chunks, more runs than the
 * map hands the table at a time) registered in address, reverse and shuffled order: every entry
 * holds its page's frame and user address and every region counts its 3 pages, whatever the order.
 */
TEST(prereg_map_over_regions_any_registration_order)
{
	const unsigned n = 300;
	const uint64_t len = 3 * 4096;

	for (unsigned order = 0; order < 3; order++) {
		struct fx_vfio f;
		uint8_t *mem = umem(n * len);
		unsigned perm[300];
		uint64_t ua;

		for (unsigned i = 0; i < n; i++)
			perm[i] = order == 0 ? i : order == 1 ? n - 1 - i : (i * 113) % n; /* 113 is prime to 300 */
		CHECK_EQ(fx_vfio_open(&f, 0, V2), 0);
		for (unsigned i = 0; i < n; i++)
			CHECK_EQ(reg(&f, mem + perm[i] * len, len), 0);
		CHECK_EQ(map_rw(&f, mem, 0x40000000, n * len), 0);
		static struct tcemu_region_info all[300];
		CHECK_EQ(tcemu_host_regions(f.h, getpid(), all, n), (ssize_t)n);
		for (unsigned i = 0; i < n; i++) {
			struct tcemu_region_info ri = { 0 };

			for (unsigned j = 0; j < n; j++)
				if (all[j].ua == (uintptr_t)(mem + i * len))
					ri = all[j];

			CHECK_EQ(ri.mapped, 3);
			for (unsigned k = 0; k < 3; k++) {
				uint64_t tce = tce_at(&f, 0x40000000 + i * len + k * 4096, &ua);

				CHECK_U64(tce, (ri.hpa + k * 4096) | TR | TW);
				CHECK_U64(ua, (uintptr_t)(mem + i * len + k * 4096));
			}
		}
		CHECK_EQ(cinfo(&f).windows[0].valid_entries, 3 * n);
		CHECK_EQ(unmap(&f, 0x40000000, n * len), 0);
		CHECK_EQ(tcemu_host_regions(f.h, getpid(), all, n), (ssize_t)n);
		for (unsigned j = 0; j < n; j++)
			CHECK_EQ(all[j].mapped, 0);
		fx_vfio_close(&f);
		CHECK(host_is_clean(f.h));
		fx_host_done(f.h);
	}
}

/*
 * Checks one MAP from iova over pages [p0, p1) of regions laid out one after the other (off[i]: the
 * first page of region i, n regions): every entry holds its page's frame and user address, every
 * region counts exactly its pages in the map, and a mapped region refuses UNREGISTER.
 */
static void check_map_over(struct fx_vfio *f, uint8_t *mem, const uint32_t *off, unsigned n, uint64_t iova, uint32_t p0,
			   uint32_t p1)
{
	static struct tcemu_region_info ri[512];
	uint64_t ua;

	CHECK(n <= 512);
	CHECK_EQ(tcemu_host_regions(f->h, getpid(), ri, n), (ssize_t)n);
	for (unsigned i = 0; i < n; i++) {
		uint32_t lo = off[i] > p0 ? off[i] : p0, hi = off[i + 1] < p1 ? off[i + 1] : p1;

		CHECK_U64(ri[i].ua, (uintptr_t)(mem + off[i] * 4096ull));
		CHECK_EQ(ri[i].mapped, hi > lo ? hi - lo : 0);
		for (uint32_t p = lo; p < hi; p++) {
			uint64_t tce = tce_at(f, iova + (p - p0) * 4096ull, &ua);

			CHECK_U64(tce, (ri[i].hpa + (p - off[i]) * 4096ull) | TR | TW);
			CHECK_U64(ua, (uintptr_t)(mem + p * 4096ull));
		}
		if (hi > lo)
			CHECK_EQ(unreg(f, mem + off[i] * 4096ull, (off[i + 1] - off[i]) * 4096ull), -EBUSY);
	}
	CHECK_EQ(cinfo(f).windows[0].valid_entries, p1 - p0);
	CHECK_EQ(tcemu_host_regions(f->h, getpid(), ri, n), (ssize_t)n); /* nothing unregistered */
}

/*
 * A map across regions whose frames make long runs (several regions each, through the table's
 * linear fill) and short ones between them (filled as a list): regions A, B, C of 2048 pages
 * registered in address order (one run of 6144 entries), then D (4 pages), E (5120) and F (3),
 * each after a region registered and unregistered further on has closed the block of frames of
 * the one before (so each starts a run of its own). Every entry and count is right over the
 * whole range, over a part that starts and ends inside long runs, and over the whole range again
 * on top of it (entries replaced, counts moved, not grown); UNMAP leaves every count at 0.
 */
TEST(prereg_map_over_regions_long_and_short_runs)
{
	static const uint32_t off[7] = { 0, 2048, 4096, 6144, 6148, 11268, 11271 };
	struct fx_vfio f;
	uint8_t *mem = umem(48 * MiB);
	struct tcemu_region_info ri[6];
	const uint64_t iova = 0x40000000 + 3 * 4096;

	CHECK_EQ(fx_vfio_open(&f, 0, V2), 0);
	for (unsigned i = 0; i < 6; i++) {
		CHECK_EQ(reg(&f, mem + off[i] * 4096ull, (off[i + 1] - off[i]) * 4096ull), 0);
		if (i >= 2) { /* close the block of the frames just handed out */
			CHECK_EQ(reg(&f, mem + 46 * MiB, MiB), 0);
			CHECK_EQ(unreg(&f, mem + 46 * MiB, MiB), 0);
		}
	}
	CHECK_EQ(tcemu_host_regions(f.h, getpid(), ri, 6), 6);
	CHECK_U64(ri[1].hpa, ri[0].hpa + 2048 * 4096ull);
	CHECK_U64(ri[2].hpa, ri[1].hpa + 2048 * 4096ull);
	for (unsigned i = 3; i < 6; i++)
		CHECK(ri[i].hpa != ri[i - 1].hpa + (off[i] - off[i - 1]) * 4096ull);
	CHECK_EQ(map_rw(&f, mem, iova, off[6] * 4096ull), 0);
	check_map_over(&f, mem, off, 6, iova, 0, off[6]);
	CHECK_EQ(unmap(&f, iova, off[6] * 4096ull), 0);
	CHECK_EQ(map_rw(&f, mem + 1000 * 4096ull, iova + 1000 * 4096ull, 9000 * 4096ull), 0);
	check_map_over(&f, mem, off, 6, iova + 1000 * 4096ull, 1000, 10000);
	CHECK_EQ(map_rw(&f, mem, iova, off[6] * 4096ull), 0); /* over the entries of the map before */
	check_map_over(&f, mem, off, 6, iova, 0, off[6]);
	CHECK_EQ(unmap(&f, iova, off[6] * 4096ull), 0);
	CHECK_EQ(tcemu_host_regions(f.h, getpid(), ri, 6), 6);
	for (unsigned i = 0; i < 6; i++)
		CHECK_EQ(ri[i].mapped, 0);
	CHECK_EQ(cinfo(&f).windows[0].valid_entries, 0);
	fx_vfio_close(&f);
	CHECK(host_is_clean(f.h));
	fx_host_done(f.h);
}

/*
 * 400 regions of 1 to 7 pages (runs of every length modulo 4, many in a chunk, some across chunk
 * ends) registered in address, reverse and shuffled order. One MAP from inside the fourth region
 * to inside the last but two, over a range where single pages were mapped before (chunks that are
 * not empty: their entries are replaced, the counts move): every entry and count is right, mapped
 * regions refuse UNREGISTER. Then a region in the middle unregistered: the same MAP fails with
 * EINVAL and changes nothing; registered again (new frames): the MAP is right again.
 */
TEST(prereg_map_over_regions_of_every_length_any_order_and_holes)
{
	enum { N = 400 };
	static uint32_t off[N + 1];
	static unsigned at[N];
	uint64_t seed = 0x2545f4914f6cdd1dull;

	for (unsigned i = 0; i < N; i++)
		off[i + 1] = off[i] + 1 + (i * 5) % 7;
	for (unsigned order = 0; order < 3; order++) {
		struct fx_vfio f;
		uint8_t *mem = umem(off[N] * 4096ull);
		const uint32_t p0 = off[3] + 1, p1 = off[N - 2] - 1, mid = N / 2;
		const uint64_t iova = 0x40000000 + 8 * 4096; /* runs and chunks out of step */

		for (unsigned i = 0; i < N; i++)
			at[i] = order == 1 ? N - 1 - i : i;
		for (unsigned i = N - 1; order == 2 && i > 0; i--) {
			seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
			unsigned j = (unsigned)(seed % (i + 1)), x = at[i];
			at[i] = at[j], at[j] = x;
		}
		CHECK_EQ(fx_vfio_open(&f, 0, V2), 0);
		for (unsigned i = 0; i < N; i++)
			CHECK_EQ(reg(&f, mem + off[at[i]] * 4096ull, (off[at[i] + 1] - off[at[i]]) * 4096ull), 0);
		/* Single pages first, some of them where the big MAP will put other pages. */
		for (uint32_t p = p0; p < p1; p += 97)
			CHECK_EQ(map_rw(&f, mem + (p + (p % 3 == 0)) * 4096ull, iova + (p - p0) * 4096ull, 4096), 0);
		CHECK_EQ(map_rw(&f, mem + p0 * 4096ull, iova, (p1 - p0) * 4096ull), 0);
		check_map_over(&f, mem, off, N, iova, p0, p1);
		CHECK_EQ(unmap(&f, iova, (p1 - p0) * 4096ull), 0);
		check_map_over(&f, mem, off, N, iova, 0, 0);

		/* A hole: EINVAL, nothing written or counted; filled again: right again. */
		CHECK_EQ(unreg(&f, mem + off[mid] * 4096ull, (off[mid + 1] - off[mid]) * 4096ull), 0);
		CHECK_EQ(map_rw(&f, mem + p0 * 4096ull, iova, (p1 - p0) * 4096ull), -EINVAL);
		CHECK_EQ(cinfo(&f).windows[0].valid_entries, 0);
		CHECK_EQ(region_at(f.h, mem + off[mid - 1] * 4096ull).mapped, 0);
		CHECK_EQ(reg(&f, mem + off[mid] * 4096ull, (off[mid + 1] - off[mid]) * 4096ull), 0);
		CHECK_EQ(map_rw(&f, mem + p0 * 4096ull, iova, (p1 - p0) * 4096ull), 0);
		check_map_over(&f, mem, off, N, iova, p0, p1);
		CHECK_EQ(unmap(&f, iova, (p1 - p0) * 4096ull), 0);
		for (unsigned i = 0; i < N; i++)
			CHECK_EQ(unreg(&f, mem + off[i] * 4096ull, (off[i + 1] - off[i]) * 4096ull), 0);
		fx_vfio_close(&f);
		CHECK(host_is_clean(f.h));
		fx_host_done(f.h);
	}
}

/*
 * Two containers of one process register regions in one row; when one closes, its regions go at
 * once (the index is compacted). Here they leave a gap where there was none, join two gaps into one,
 * and leave a gap again: a MAP of the other container across any of its regions that now leave a
 * gap fails with EINVAL and changes nothing, one across regions still adjacent succeeds.
 */
TEST(prereg_map_over_regions_after_a_container_dropped_its_own)
{
	struct tcemu_host *h = fx_host_new(&(struct tcemu_host_opts){ .memlock_set = true, .memlock = UINT64_MAX });
	/* pages of b's regions and a's (a: 2-3, 7-8, 14-15; 6 and 9 are nobody's) */
	static const struct { unsigned first, pages; bool a; } row[] = {
		{ 0, 2, false }, { 2, 2, true }, { 4, 2, false }, { 7, 2, true }, { 10, 2, false },
		{ 12, 2, false }, { 14, 2, true }, { 16, 2, false },
	};
	struct fx_vfio a, b;
	uint8_t *mem = umem(32 * 4096);

	CHECK_EQ(fx_vfio_attach(&a, h, 0, V2), 0);
	CHECK_EQ(fx_vfio_attach(&b, h, 1, V2), 0);
	for (unsigned i = 0; i < sizeof(row) / sizeof(row[0]); i++)
		CHECK_EQ(reg(row[i].a ? &a : &b, mem + row[i].first * 4096ull, row[i].pages * 4096ull), 0);
	CHECK_EQ(map_rw(&b, mem + 10 * 4096, 0, 8 * 4096), 0);
	CHECK_EQ(unmap(&b, 0, 8 * 4096), 0);
	fx_vfio_close(&a);
	CHECK_EQ(nregions(h), 5);
	CHECK_EQ(map_rw(&b, mem + 4096, 0, 4 * 4096), -EINVAL);      /* across 2-3 */
	CHECK_EQ(map_rw(&b, mem + 5 * 4096, 0, 6 * 4096), -EINVAL);  /* across 6-9 */
	CHECK_EQ(map_rw(&b, mem + 13 * 4096, 0, 4 * 4096), -EINVAL); /* across 14-15 */
	CHECK_EQ(cinfo(&b).windows[0].valid_entries, 0);
	CHECK_EQ(map_rw(&b, mem + 11 * 4096, 0, 2 * 4096), 0);
	CHECK_EQ(region_at(h, mem + 10 * 4096).mapped, 1);
	CHECK_EQ(region_at(h, mem + 12 * 4096).mapped, 1);
	CHECK_EQ(unmap(&b, 0, 2 * 4096), 0);
	fx_vfio_close(&b);
	CHECK(host_is_clean(h));
	fx_host_done(h);
}

HARNESS_MAIN(T(prereg_region_fields), T(prereg_page_shift_64k_system),
	     T(prereg_duplicate_in_one_container_ebusy), T(prereg_shared_between_containers_refcounted),
	     T(prereg_overlap_einval_adjacent_ok), T(prereg_enomem_over_limit), T(prereg_efault_unmapped_hole),
	     T(prereg_efault_readonly_memory), T(prereg_iommu_page_larger_than_region_page_eperm),
	     T(prereg_map_spanning_adjacent_regions), T(prereg_map_spanning_many_regions_runs_and_failures), T(prereg_descending_registration_contiguous_frames),
	     T(prereg_lookup_matches_model), T(prereg_index_any_order_checked), T(prereg_map_unregistered_memory_einval), T(prereg_unregister_enoent),
	     T(prereg_unregister_ebusy_while_mapped), T(prereg_unregister_ebusy_when_shared_region_mapped_elsewhere),
	     T(prereg_mapped_counts), T(prereg_region_kept_while_another_container_maps_it),
	     T(prereg_map_over_regions_any_registration_order),
	     T(prereg_map_over_regions_of_every_length_any_order_and_holes), T(prereg_map_over_regions_long_and_short_runs),
	     T(prereg_map_over_regions_after_a_container_dropped_its_own))
