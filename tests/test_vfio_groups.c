/* SPDX-License-Identifier: MIT */
/*
 * VFIO core conformance (vfio.h): several groups per container (section 8 of vfio-spapr-abi.md):
 * one group per v1 container, mixed platforms, windows programmed into every group, late groups,
 * detaching.
 */
#include "vfio.h"

/* ---- Section 8: several groups per container ---- */

/* Whether a window is programmed in the PE's slot (drops the reference). */
static bool pe_has_window(struct tcemu_host *h, unsigned group, unsigned slot)
{
	struct tcemu_table *t = tcemu_pe_window(pe_of(h, group), slot);
	if (!t)
		return false;
	tcemu_table_unref(t);
	return true;
}

/* Whether the PE's slot holds table t (a reference the caller keeps, so the address is unique). */
static bool pe_table_is(struct tcemu_host *h, unsigned group, unsigned slot, const struct tcemu_table *t)
{
	struct tcemu_table *x = tcemu_pe_window(pe_of(h, group), slot);
	if (!x)
		return false;
	tcemu_table_unref(x);
	return x == t;
}

TEST(v1_container_takes_one_group)
{
	struct tcemu_host *h = mkhost();
	CHECK(h);
	int c = open_container(h), g0 = open_group(h, 0), g1 = open_group(h, 1);
	CHECK(c >= 0 && g0 >= 0 && g1 >= 0);
	CHECK_EQ(attach(h, g0, c), 0);
	CHECK_EQ(IOC_VAL(h, c, VFIO_SET_IOMMU, VFIO_SPAPR_TCE_IOMMU), 0);
	CHECK_EQ(attach(h, g1, c), -EBUSY);
	CHECK_EQ(group_flags(h, g1), VFIO_GROUP_FLAGS_VIABLE);
	CHECK(!tcemu_pe_is_owned(pe_of(h, 1)));
	struct tcemu_container_info ci;
	CHECK_EQ(tcemu_host_container_info(h, c, &ci), 0);
	CHECK_EQ(ci.ngroups, 1);
	tcemu_host_destroy(h);
}

TEST(v1_with_two_groups_before_set_iommu_fails)
{
	struct tcemu_host *h = mkhost();
	CHECK(h);
	int c = open_container(h), g0 = open_group(h, 0), g1 = open_group(h, 1);
	CHECK(c >= 0 && g0 >= 0 && g1 >= 0);
	CHECK_EQ(attach(h, g0, c), 0);
	CHECK_EQ(attach(h, g1, c), 0);
	CHECK_EQ(IOC_VAL(h, c, VFIO_SET_IOMMU, VFIO_SPAPR_TCE_IOMMU), -EBUSY);
	CHECK_EQ(container_type(h, c), 0);
	CHECK(!tcemu_pe_is_owned(pe_of(h, 0)));
	CHECK(!tcemu_pe_is_owned(pe_of(h, 1)));
	/* nothing kept: v2 still works afterwards */
	CHECK_EQ(IOC_VAL(h, c, VFIO_SET_IOMMU, VFIO_SPAPR_TCE_v2_IOMMU), 0);
	CHECK(tcemu_pe_is_owned(pe_of(h, 0)));
	CHECK(tcemu_pe_is_owned(pe_of(h, 1)));
	tcemu_host_destroy(h);
}

TEST(mixed_platforms_set_iommu_fails_and_keeps_nothing)
{
	struct tcemu_host *h = mkhost_opts(TOPO_MIXED, false);
	CHECK(h);
	int c = open_container(h), g0 = open_group(h, 0), g1 = open_group(h, 1);
	CHECK(c >= 0 && g0 >= 0 && g1 >= 0);
	CHECK_EQ(attach(h, g0, c), 0);
	CHECK_EQ(attach(h, g1, c), 0);
	long r = IOC_VAL(h, c, VFIO_SET_IOMMU, VFIO_SPAPR_TCE_v2_IOMMU);
	CHECK(r == -EINVAL || r == -EPERM);
	CHECK_EQ(container_type(h, c), 0);
	CHECK(!tcemu_pe_is_owned(pe_of(h, 0)));
	CHECK(!tcemu_pe_is_owned(pe_of(h, 1)));
	CHECK_EQ(IOC_VAL(h, c, VFIO_CHECK_EXTENSION, VFIO_EEH), 0);
	CHECK_EQ(xioctl(h, g1, VFIO_GROUP_GET_DEVICE_FD, (void *)"0001:00:01.0"), -EINVAL);
	/* the ioda3 group alone takes v2 */
	CHECK_EQ(xioctl(h, g0, VFIO_GROUP_UNSET_CONTAINER, NULL), 0);
	CHECK_EQ(IOC_VAL(h, c, VFIO_SET_IOMMU, VFIO_SPAPR_TCE_v2_IOMMU), 0);
	CHECK(tcemu_pe_is_owned(pe_of(h, 1)));
	/* attaching the ioda1 group now: a different table implementation, EPERM */
	CHECK_EQ(attach(h, g0, c), -EPERM);
	CHECK(!tcemu_pe_is_owned(pe_of(h, 0)));
	CHECK_EQ(group_flags(h, g0), VFIO_GROUP_FLAGS_VIABLE);
	tcemu_host_destroy(h);
}

TEST(v2_needs_dynamic_windows)
{
	struct tcemu_host *h = mkhost_opts(TOPO_MIXED, false);
	CHECK(h);
	int c = open_container(h), g0 = open_group(h, 0);
	CHECK(c >= 0 && g0 >= 0);
	CHECK_EQ(attach(h, g0, c), 0);
	CHECK_EQ(IOC_VAL(h, c, VFIO_SET_IOMMU, VFIO_SPAPR_TCE_v2_IOMMU), -EINVAL);
	CHECK_EQ(container_type(h, c), 0);
	CHECK(!tcemu_pe_is_owned(pe_of(h, 0)));
	/* v1 is fine on it */
	CHECK_EQ(IOC_VAL(h, c, VFIO_SET_IOMMU, VFIO_SPAPR_TCE_IOMMU), 0);
	CHECK_EQ(container_type(h, c), VFIO_SPAPR_TCE_IOMMU);
	tcemu_host_destroy(h);
}

TEST(v2_windows_are_programmed_into_every_group)
{
	struct fx_vfio f;
	int g1;
	CHECK_EQ(two_groups(&f, &g1), 0);
	struct tcemu_table *t0 = tcemu_pe_window(pe_of(f.h, 0), 0), *t1 = tcemu_pe_window(pe_of(f.h, 1), 0);
	bool same = t0 && t1 && t0 == t1;
	if (t0)
		tcemu_table_unref(t0);
	if (t1)
		tcemu_table_unref(t1);
	CHECK(same);
	uint64_t start = 0;
	CHECK_EQ(tce_create(f.h, f.c, 16, GiB, 1, &start), 0);
	CHECK_U64(start, 1ull << 59);
	CHECK(pe_has_window(f.h, 0, 1));
	CHECK(pe_has_window(f.h, 1, 1));
	CHECK_EQ(tce_remove(f.h, f.c, start), 0);
	CHECK(!pe_has_window(f.h, 0, 1));
	CHECK(!pe_has_window(f.h, 1, 1));
	fx_vfio_destroy(&f);
}

TEST(v2_map_invalidates_every_group)
{
	struct fx_vfio f;
	int g1;
	CHECK_EQ(two_groups(&f, &g1), 0);
	uint64_t i0 = tcemu_pe_invalidations(pe_of(f.h, 0)), i1 = tcemu_pe_invalidations(pe_of(f.h, 1));
	CHECK_EQ(map_dma(f.h, f.c, f.mem, 0x10000, 4 * PAGE), 0);
	CHECK(tcemu_pe_invalidations(pe_of(f.h, 0)) > i0);
	CHECK(tcemu_pe_invalidations(pe_of(f.h, 1)) > i1);
	i0 = tcemu_pe_invalidations(pe_of(f.h, 0));
	i1 = tcemu_pe_invalidations(pe_of(f.h, 1));
	CHECK_EQ(unmap_dma(f.h, f.c, 0x10000, 4 * PAGE), 0);
	CHECK(tcemu_pe_invalidations(pe_of(f.h, 0)) > i0);
	CHECK(tcemu_pe_invalidations(pe_of(f.h, 1)) > i1);
	fx_vfio_destroy(&f);
}

TEST(v2_late_group_gets_existing_windows)
{
	struct fx_vfio f;
	int g1;
	CHECK_EQ(two_groups(&f, &g1), 0);
	uint64_t start = 0;
	CHECK_EQ(tce_create(f.h, f.c, 16, GiB, 1, &start), 0);
	CHECK_EQ(map_dma(f.h, f.c, f.mem, 0, PAGE), 0);
	struct tcemu_table *t0 = tcemu_pe_window(pe_of(f.h, 0), 0);
	CHECK(t0);
	/* before: the host's own default window (or none), not the container's */
	bool before0 = pe_table_is(f.h, 2, 0, t0), before1 = pe_has_window(f.h, 2, 1);
	int g2 = open_group(f.h, 2);
	long r = attach(f.h, g2, f.c);
	bool owned = tcemu_pe_is_owned(pe_of(f.h, 2));
	bool after0 = pe_table_is(f.h, 2, 0, t0), after1 = pe_has_window(f.h, 2, 1);
	tcemu_table_unref(t0);
	CHECK(!before0 && !before1);
	CHECK_EQ(r, 0);
	CHECK(owned);
	CHECK(after0);
	CHECK(after1);
	/* maps after the attach invalidate the new group too */
	uint64_t i2 = tcemu_pe_invalidations(pe_of(f.h, 2));
	CHECK_EQ(map_dma(f.h, f.c, f.mem + PAGE, PAGE, PAGE), 0);
	CHECK(tcemu_pe_invalidations(pe_of(f.h, 2)) > i2);
	fx_vfio_destroy(&f);
}

TEST(v2_detach_one_group_keeps_mappings)
{
	struct fx_vfio f;
	int g1;
	CHECK_EQ(two_groups(&f, &g1), 0);
	CHECK_EQ(map_dma(f.h, f.c, f.mem, 0x2000, 2 * PAGE), 0);
	uint64_t s1 = 0;
	CHECK_EQ(tce_create(f.h, f.c, 16, GiB, 1, &s1), 0);
	CHECK(pe_has_window(f.h, 1, 1));
	struct tcemu_table *t0 = tcemu_pe_window(pe_of(f.h, 0), 0);
	CHECK(t0);
	CHECK(pe_table_is(f.h, 1, 0, t0));
	long r = xioctl(f.h, g1, VFIO_GROUP_UNSET_CONTAINER, NULL);
	bool still0 = pe_table_is(f.h, 1, 0, t0), still1 = pe_has_window(f.h, 1, 1);
	bool kept0 = pe_table_is(f.h, 0, 0, t0);
	tcemu_table_unref(t0);
	CHECK_EQ(r, 0);
	CHECK(!still0 && !still1);
	CHECK(kept0);
	uint64_t tce = 0, ua = 0;
	CHECK_EQ(tcemu_host_container_entry(f.h, f.c, 0x3000, &tce, &ua), 0);
	CHECK(tce != 0);
	CHECK_U64(ua, (uintptr_t)f.mem + PAGE);
	CHECK(!tcemu_pe_is_owned(pe_of(f.h, 1)));
	CHECK(pe_has_window(f.h, 0, 1));
	CHECK(tcemu_pe_is_owned(pe_of(f.h, 0)));
	struct tcemu_container_info ci;
	CHECK_EQ(tcemu_host_container_info(f.h, f.c, &ci), 0);
	CHECK_EQ(ci.ngroups, 1);
	CHECK_EQ(ci.type, VFIO_SPAPR_TCE_v2_IOMMU);
	CHECK_U64(ci.windows[0].valid_entries, 2);
	/* the detached group's later maps no longer invalidate it */
	uint64_t i1 = tcemu_pe_invalidations(pe_of(f.h, 1));
	CHECK_EQ(unmap_dma(f.h, f.c, 0x2000, 2 * PAGE), 0);
	CHECK_U64(tcemu_pe_invalidations(pe_of(f.h, 1)), i1);
	fx_vfio_destroy(&f);
}

TEST(v2_last_group_leaving_unsets_container)
{
	static const unsigned long ext[] = { 1, 2, 3, 5, 7, 8, 12345 };
	static const long before[] = { 0, 1, 0, 0, 1, 0, 0 };
	struct fx_vfio f;
	int g1;
	CHECK_EQ(two_groups(&f, &g1), 0);
	CHECK_EQ(map_dma(f.h, f.c, f.mem, 0, 4 * PAGE), 0);
	CHECK(locked_now(f.h, getpid()) > 0);
	CHECK_EQ(tcemu_host_regions(f.h, getpid(), NULL, 0), 1);
	struct tcemu_table *t0 = tcemu_pe_window(pe_of(f.h, 0), 0);
	CHECK(t0);
	long r1 = xioctl(f.h, g1, VFIO_GROUP_UNSET_CONTAINER, NULL);
	long r0 = xioctl(f.h, f.g, VFIO_GROUP_UNSET_CONTAINER, NULL);
	bool still = pe_table_is(f.h, 0, 0, t0) || pe_table_is(f.h, 1, 0, t0);
	tcemu_table_unref(t0);
	CHECK_EQ(r1, 0);
	CHECK_EQ(r0, 0);
	CHECK(!still);
	CHECK_EQ(container_type(f.h, f.c), 0);
	for (unsigned i = 0; i < 7; i++)
		CHECK_EQ(IOC_VAL(f.h, f.c, VFIO_CHECK_EXTENSION, ext[i]), before[i]);
	CHECK_U64(locked_now(f.h, getpid()), 0);
	CHECK_EQ(tcemu_host_regions(f.h, getpid(), NULL, 0), 0);
	struct tcemu_container_info ci;
	CHECK_EQ(tcemu_host_container_info(f.h, f.c, &ci), 0);
	CHECK_EQ(ci.ngroups, 0);
	CHECK_EQ(ci.nregions, 0);
	CHECK_EQ(ci.owner, 0);
	CHECK(!ci.windows[0].present);
	CHECK(!tcemu_pe_is_owned(pe_of(f.h, 0)));
	/* the container can be used again, now as v1 */
	CHECK_EQ(attach(f.h, f.g, f.c), 0);
	CHECK_EQ(IOC_VAL(f.h, f.c, VFIO_SET_IOMMU, VFIO_SPAPR_TCE_IOMMU), 0);
	CHECK_EQ(xioctl(f.h, f.c, VFIO_IOMMU_ENABLE, NULL), 0);
	fx_vfio_destroy(&f);
}

HARNESS_MAIN(T(v1_container_takes_one_group), T(v1_with_two_groups_before_set_iommu_fails),
	     T(mixed_platforms_set_iommu_fails_and_keeps_nothing), T(v2_needs_dynamic_windows),
	     T(v2_windows_are_programmed_into_every_group), T(v2_map_invalidates_every_group),
	     T(v2_late_group_gets_existing_windows), T(v2_detach_one_group_keeps_mappings),
	     T(v2_last_group_leaving_unsets_container))
