/* SPDX-License-Identifier: MIT */
/*
 * VFIO core conformance (vfio.h): the VFIO core (section 2 of vfio-spapr-abi.md), the owner rule
 * (section 3), pre-registered regions shared by two containers of one process, client defects and
 * statistics, and more of sections 3, 4 and 7.
 */
#include "vfio.h"

/* ---- Section 2: the VFIO core ---- */

TEST(api_version_is_0)
{
	struct tcemu_host *h = mkhost();
	CHECK(h);
	int c = open_container(h);
	CHECK(c >= 1000);
	CHECK_EQ(xioctl(h, c, VFIO_GET_API_VERSION, NULL), 0);
	CHECK_EQ(tcemu_host_fd_kind(h, c), TCEMU_FD_CONTAINER);
	tcemu_host_destroy(h);
}

TEST(check_extension_before_and_after_set_iommu)
{
	static const unsigned long ext[] = { 1, 2, 3, 5, 7, 8, 12345 };
	static const long before[] = { 0, 1, 0, 0, 1, 0, 0 };
	static const long after[] = { 0, 1, 0, 1, 1, 0, 0 };
	struct tcemu_host *h = mkhost();
	CHECK(h);
	int c = open_container(h), g = open_group(h, 0);
	CHECK(c >= 0 && g >= 0);
	for (unsigned i = 0; i < 7; i++)
		CHECK_EQ(IOC_VAL(h, c, VFIO_CHECK_EXTENSION, ext[i]), before[i]);
	CHECK_EQ(attach(h, g, c), 0);
	for (unsigned i = 0; i < 7; i++)
		CHECK_EQ(IOC_VAL(h, c, VFIO_CHECK_EXTENSION, ext[i]), before[i]);
	CHECK_EQ(IOC_VAL(h, c, VFIO_SET_IOMMU, VFIO_SPAPR_TCE_v2_IOMMU), 0);
	for (unsigned i = 0; i < 7; i++)
		CHECK_EQ(IOC_VAL(h, c, VFIO_CHECK_EXTENSION, ext[i]), after[i]);
	tcemu_host_destroy(h);
}

TEST(set_iommu_errors)
{
	struct tcemu_host *h = mkhost();
	CHECK(h);
	int c = open_container(h), g = open_group(h, 0);
	CHECK(c >= 0 && g >= 0);
	/* no group */
	CHECK_EQ(IOC_VAL(h, c, VFIO_SET_IOMMU, VFIO_SPAPR_TCE_v2_IOMMU), -EINVAL);
	CHECK_EQ(container_type(h, c), 0);
	CHECK_EQ(attach(h, g, c), 0);
	/* no backend for type 1 or 3 */
	CHECK_EQ(IOC_VAL(h, c, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU), -ENODEV);
	CHECK_EQ(IOC_VAL(h, c, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU), -ENODEV);
	CHECK_EQ(container_type(h, c), 0);
	CHECK_EQ(IOC_VAL(h, c, VFIO_SET_IOMMU, VFIO_SPAPR_TCE_v2_IOMMU), 0);
	CHECK_EQ(container_type(h, c), VFIO_SPAPR_TCE_v2_IOMMU);
	/* a type is already set */
	CHECK_EQ(IOC_VAL(h, c, VFIO_SET_IOMMU, VFIO_SPAPR_TCE_v2_IOMMU), -EINVAL);
	CHECK_EQ(IOC_VAL(h, c, VFIO_SET_IOMMU, VFIO_SPAPR_TCE_IOMMU), -EINVAL);
	CHECK_EQ(container_type(h, c), VFIO_SPAPR_TCE_v2_IOMMU);
	tcemu_host_destroy(h);
}

TEST(group_get_status)
{
	struct tcemu_host *h = mkhost();
	CHECK(h);
	int c = open_container(h), g = open_group(h, 0);
	CHECK(c >= 0 && g >= 0);
	CHECK_EQ(tcemu_host_fd_kind(h, g), TCEMU_FD_GROUP);
	struct vfio_group_status st = { .argsz = 7 };
	CHECK_EQ(xioctl(h, g, VFIO_GROUP_GET_STATUS, &st), -EINVAL);
	st.argsz = sizeof(st);
	CHECK_EQ(xioctl(h, g, VFIO_GROUP_GET_STATUS, &st), 0);
	CHECK_EQ(st.flags, VFIO_GROUP_FLAGS_VIABLE);
	CHECK_EQ(attach(h, g, c), 0);
	CHECK_EQ(group_flags(h, g), VFIO_GROUP_FLAGS_VIABLE | VFIO_GROUP_FLAGS_CONTAINER_SET);
	tcemu_host_destroy(h);
}

TEST(group_set_container_checks_in_order)
{
	struct tcemu_host *h = mkhost();
	CHECK(h);
	int c = open_container(h), c2 = open_container(h), g = open_group(h, 0), g1 = open_group(h, 1);
	CHECK(c >= 0 && c2 >= 0 && g >= 0 && g1 >= 0);
	int bad = 999999;
	/* EBADF comes first, even for a group that is already attached */
	CHECK_EQ(xioctl(h, g, VFIO_GROUP_SET_CONTAINER, &bad), -EBADF);
	CHECK_EQ(attach(h, g, c), 0);
	CHECK_EQ(xioctl(h, g, VFIO_GROUP_SET_CONTAINER, &bad), -EBADF);
	/* then EINVAL for an attached group, even with a non-container descriptor */
	CHECK_EQ(attach(h, g, c2), -EINVAL);
	CHECK_EQ(attach(h, g, g1), -EINVAL);
	/* then EBADFD for an open descriptor that is not a container */
	CHECK_EQ(attach(h, g1, g), -EBADFD);
	CHECK_EQ(-EBADFD, -77);
	int dn = open("/dev/null", O_RDWR);
	CHECK(dn >= 0);
	long r = attach(h, g1, dn);
	close(dn);
	CHECK_EQ(r, -EBADFD);
	CHECK_EQ(group_flags(h, g1), VFIO_GROUP_FLAGS_VIABLE);
	tcemu_host_destroy(h);
}

TEST(attach_after_type_set_runs_backend_attach)
{
	struct tcemu_host *h = mkhost();
	CHECK(h);
	int c = open_container(h), g = open_group(h, 0), g1 = open_group(h, 1);
	CHECK(c >= 0 && g >= 0 && g1 >= 0);
	CHECK_EQ(attach(h, g, c), 0);
	CHECK_EQ(IOC_VAL(h, c, VFIO_SET_IOMMU, VFIO_SPAPR_TCE_v2_IOMMU), 0);
	CHECK_EQ(attach(h, g1, c), 0);
	CHECK_EQ(group_flags(h, g1), VFIO_GROUP_FLAGS_VIABLE | VFIO_GROUP_FLAGS_CONTAINER_SET);
	struct tcemu_container_info ci;
	CHECK_EQ(tcemu_host_container_info(h, c, &ci), 0);
	CHECK_EQ(ci.ngroups, 2);
	CHECK_EQ(ci.type, VFIO_SPAPR_TCE_v2_IOMMU);
	/* and the new group can get its device */
	int d = (int)xioctl(h, g1, VFIO_GROUP_GET_DEVICE_FD, (void *)"0000:02:00.0");
	CHECK(d >= 0);
	CHECK_EQ(tcemu_host_fd_kind(h, d), TCEMU_FD_DEVICE);
	tcemu_host_destroy(h);
}

TEST(group_unset_container)
{
	struct tcemu_host *h = mkhost();
	CHECK(h);
	int c = open_container(h), g = open_group(h, 0);
	CHECK(c >= 0 && g >= 0);
	CHECK_EQ(xioctl(h, g, VFIO_GROUP_UNSET_CONTAINER, NULL), -EINVAL);
	CHECK_EQ(attach(h, g, c), 0);
	CHECK_EQ(IOC_VAL(h, c, VFIO_SET_IOMMU, VFIO_SPAPR_TCE_v2_IOMMU), 0);
	int d = (int)xioctl(h, g, VFIO_GROUP_GET_DEVICE_FD, (void *)"0000:01:00.0");
	CHECK(d >= 0);
	CHECK_EQ(xioctl(h, g, VFIO_GROUP_UNSET_CONTAINER, NULL), -EBUSY);
	CHECK_EQ(group_flags(h, g), VFIO_GROUP_FLAGS_VIABLE | VFIO_GROUP_FLAGS_CONTAINER_SET);
	CHECK_EQ(tcemu_host_close(h, d), 0);
	CHECK_EQ(xioctl(h, g, VFIO_GROUP_UNSET_CONTAINER, NULL), 0);
	CHECK_EQ(group_flags(h, g), VFIO_GROUP_FLAGS_VIABLE);
	/* the last group left: the container is unset again */
	CHECK_EQ(container_type(h, c), 0);
	CHECK_EQ(xioctl(h, g, VFIO_GROUP_UNSET_CONTAINER, NULL), -EINVAL);
	tcemu_host_destroy(h);
}

TEST(group_get_device_fd)
{
	struct tcemu_host *h = mkhost();
	CHECK(h);
	int c = open_container(h), g = open_group(h, 0);
	CHECK(c >= 0 && g >= 0);
	/* not in a container */
	CHECK_EQ(xioctl(h, g, VFIO_GROUP_GET_DEVICE_FD, (void *)"0000:01:00.0"), -EINVAL);
	CHECK_EQ(attach(h, g, c), 0);
	/* in a container without a type */
	CHECK_EQ(xioctl(h, g, VFIO_GROUP_GET_DEVICE_FD, (void *)"0000:01:00.0"), -EINVAL);
	CHECK_EQ(IOC_VAL(h, c, VFIO_SET_IOMMU, VFIO_SPAPR_TCE_v2_IOMMU), 0);
	CHECK_EQ(xioctl(h, g, VFIO_GROUP_GET_DEVICE_FD, (void *)"0000:09:00.0"), -ENODEV);
	/* another group's device is not this group's */
	CHECK_EQ(xioctl(h, g, VFIO_GROUP_GET_DEVICE_FD, (void *)"0000:02:00.0"), -ENODEV);
	CHECK_EQ(xioctl(h, g, VFIO_GROUP_GET_DEVICE_FD, (void *)8), -EFAULT);
	long d = xioctl(h, g, VFIO_GROUP_GET_DEVICE_FD, (void *)"0000:01:00.0");
	CHECK(d >= 1000);
	CHECK_EQ(tcemu_host_fd_kind(h, (int)d), TCEMU_FD_DEVICE);
	tcemu_host_destroy(h);
}

TEST(open_group_paths)
{
	struct tcemu_host *h = mkhost();
	CHECK(h);
	int fd = -1;
	CHECK_EQ(tcemu_host_open(h, "/dev/vfio/99", O_RDWR, &fd), -ENOENT);
	CHECK_EQ(tcemu_host_open(h, "/dev/vfio/abc", O_RDWR, &fd), -ENOENT);
	CHECK_EQ(tcemu_host_open(h, "/dev/vfio/0", O_RDWR, &fd), 0);
	CHECK(fd >= 1000);
	int fd2 = -1;
	CHECK_EQ(tcemu_host_open(h, "/dev/vfio/0", O_RDWR, &fd2), -EBUSY);
	/* closed, it may be opened again */
	CHECK_EQ(tcemu_host_close(h, fd), 0);
	CHECK_EQ(tcemu_host_open(h, "/dev/vfio/0", O_RDWR, &fd2), 0);
	CHECK_EQ(tcemu_host_close(h, 123456), -EBADF);
	CHECK_EQ(tcemu_host_close(h, fd2), 0);
	CHECK_EQ(tcemu_host_close(h, fd2), -EBADF);
	tcemu_host_destroy(h);
}

TEST(close_container_while_group_attached)
{
	struct tcemu_host *h = mkhost();
	CHECK(h);
	int c = open_container(h), g = open_group(h, 0);
	CHECK(c >= 0 && g >= 0);
	CHECK_EQ(attach(h, g, c), 0);
	CHECK_EQ(IOC_VAL(h, c, VFIO_SET_IOMMU, VFIO_SPAPR_TCE_v2_IOMMU), 0);
	CHECK_EQ(tcemu_host_close(h, c), 0);
	CHECK_EQ(tcemu_host_fd_kind(h, c), TCEMU_FD_NONE);
	CHECK_EQ(xioctl(h, c, VFIO_GET_API_VERSION, NULL), -EBADF);
	/* the group still holds the container: status and device access still work */
	CHECK_EQ(group_flags(h, g), VFIO_GROUP_FLAGS_VIABLE | VFIO_GROUP_FLAGS_CONTAINER_SET);
	long d = xioctl(h, g, VFIO_GROUP_GET_DEVICE_FD, (void *)"0000:01:00.0");
	CHECK(d >= 0);
	CHECK_EQ(tcemu_host_close(h, (int)d), 0);
	CHECK_EQ(xioctl(h, g, VFIO_GROUP_UNSET_CONTAINER, NULL), 0);
	CHECK_EQ(group_flags(h, g), VFIO_GROUP_FLAGS_VIABLE);
	tcemu_host_destroy(h);
}

TEST(close_group_with_device_open_keeps_it_attached)
{
	struct tcemu_host *h = mkhost();
	CHECK(h);
	struct tcemu_pe *pe = tcemu_platform_pe_by_group(tcemu_host_platform(h), 0);
	CHECK(pe);
	int c = open_container(h), g = open_group(h, 0);
	CHECK(c >= 0 && g >= 0);
	CHECK(!tcemu_pe_is_owned(pe));
	CHECK_EQ(attach(h, g, c), 0);
	CHECK_EQ(IOC_VAL(h, c, VFIO_SET_IOMMU, VFIO_SPAPR_TCE_v2_IOMMU), 0);
	CHECK(tcemu_pe_is_owned(pe));
	long d = xioctl(h, g, VFIO_GROUP_GET_DEVICE_FD, (void *)"0000:01:00.0");
	CHECK(d >= 0);
	CHECK_EQ(tcemu_host_close(h, g), 0);
	CHECK_EQ(tcemu_host_fd_kind(h, g), TCEMU_FD_NONE);
	/* the device holds the group, the group holds the container */
	CHECK(tcemu_pe_is_owned(pe));
	struct tcemu_container_info ci;
	CHECK_EQ(tcemu_host_container_info(h, c, &ci), 0);
	CHECK_EQ(ci.ngroups, 1);
	CHECK_EQ(ci.type, VFIO_SPAPR_TCE_v2_IOMMU);
	struct vfio_device_info di = { .argsz = sizeof(di) };
	CHECK_EQ(xioctl(h, (int)d, VFIO_DEVICE_GET_INFO, &di), 0);
	CHECK_EQ(tcemu_host_close(h, (int)d), 0);
	CHECK(!tcemu_pe_is_owned(pe));
	CHECK_EQ(tcemu_host_container_info(h, c, &ci), 0);
	CHECK_EQ(ci.ngroups, 0);
	CHECK_EQ(ci.type, 0);
	int g2 = -1;
	CHECK_EQ(tcemu_host_open(h, "/dev/vfio/0", O_RDWR, &g2), 0);
	CHECK_EQ(group_flags(h, g2), VFIO_GROUP_FLAGS_VIABLE);
	tcemu_host_destroy(h);
}

/*
 * The device descriptor keeps the group's open file alive (the group is still attached, its PE
 * still owned), so the group is "already open": a second open is EBUSY until the device closes.
 */
TEST(reopen_group_held_by_device_is_ebusy)
{
	struct tcemu_host *h = mkhost();
	CHECK(h);
	int c = open_container(h), g = open_group(h, 0), g2 = -1;
	CHECK(c >= 0 && g >= 0);
	CHECK_EQ(attach(h, g, c), 0);
	CHECK_EQ(IOC_VAL(h, c, VFIO_SET_IOMMU, VFIO_SPAPR_TCE_v2_IOMMU), 0);
	long d = xioctl(h, g, VFIO_GROUP_GET_DEVICE_FD, (void *)"0000:01:00.0");
	CHECK(d >= 0);
	CHECK_EQ(tcemu_host_close(h, g), 0);
	long r = tcemu_host_open(h, "/dev/vfio/0", O_RDWR, &g2);
	if (r == 0) {
		/* what the second file sees, for the report */
		fprintf(stderr, "  reopen succeeded; status flags 0x%x\n", group_flags(h, g2));
		tcemu_host_close(h, g2);
	}
	tcemu_host_close(h, (int)d);
	tcemu_host_destroy(h);
	CHECK_EQ(r, -EBUSY);
}

TEST(dup_keeps_file_alive)
{
	struct tcemu_host *h = mkhost();
	CHECK(h);
	int c = open_container(h), g = open_group(h, 0);
	CHECK(c >= 0 && g >= 0);
	CHECK_EQ(attach(h, g, c), 0);
	int c2 = 5000;
	CHECK_EQ(tcemu_host_dup(h, c, c2), 0);
	CHECK_EQ(tcemu_host_dup(h, c, c2), -EBUSY);
	CHECK_EQ(tcemu_host_dup(h, 424242, 5001), -EBADF);
	CHECK_EQ(tcemu_host_close(h, c), 0);
	CHECK_EQ(tcemu_host_fd_kind(h, c2), TCEMU_FD_CONTAINER);
	/* the same container: SET_IOMMU through the duplicate sees the attached group */
	CHECK_EQ(IOC_VAL(h, c2, VFIO_SET_IOMMU, VFIO_SPAPR_TCE_v2_IOMMU), 0);
	CHECK_EQ(container_type(h, c2), VFIO_SPAPR_TCE_v2_IOMMU);
	/* a duplicated group descriptor */
	int g2 = 5002;
	CHECK_EQ(tcemu_host_dup(h, g, g2), 0);
	CHECK_EQ(tcemu_host_close(h, g), 0);
	CHECK_EQ(group_flags(h, g2), VFIO_GROUP_FLAGS_VIABLE | VFIO_GROUP_FLAGS_CONTAINER_SET);
	CHECK_EQ(tcemu_host_close(h, g2), 0);
	CHECK_EQ(tcemu_host_close(h, c2), 0);
	CHECK(!tcemu_host_is_fd(h, c2));
	tcemu_host_destroy(h);
}

/* ---- Section 3: the owner rule ---- */

TEST(owner_rule_v2_other_process_gets_eperm)
{
	struct fx_vfio f;
	CHECK_EQ(fx_v2(&f, 0, 16, true), 0);
	struct tcemu_host *h = f.h;
	pid_t a = getpid();
	struct tcemu_container_info ci;
	CHECK_EQ(tcemu_host_container_info(h, f.c, &ci), 0);
	CHECK_EQ(ci.owner, a);
	CHECK_EQ(map_dma(h, f.c, f.mem, 0, PAGE), 0);

	fake_pid = a + 1000;
	struct vfio_iommu_spapr_tce_info info = { .argsz = sizeof(info) };
	CHECK_EQ(xioctl(h, f.c, VFIO_IOMMU_SPAPR_TCE_GET_INFO, &info), -EPERM);
	CHECK_EQ(map_dma(h, f.c, f.mem, PAGE, PAGE), -EPERM);
	CHECK_EQ(unmap_dma(h, f.c, 0, PAGE), -EPERM);
	CHECK_EQ(reg_mem(h, f.c, f.mem, PAGE), -EPERM);
	CHECK_EQ(unreg_mem(h, f.c, f.mem, 16 * PAGE), -EPERM);
	CHECK_EQ(tce_create(h, f.c, 16, GiB, 1, NULL), -EPERM);
	CHECK_EQ(tce_remove(h, f.c, 0), -EPERM);
	struct vfio_eeh_pe_op op = { .argsz = sizeof(op), .op = VFIO_EEH_PE_GET_STATE };
	CHECK_EQ(xioctl(h, f.c, VFIO_EEH_PE_OP, &op), -EPERM);
	CHECK_EQ(IOC_VAL(h, f.c, VFIO_CHECK_EXTENSION, VFIO_SPAPR_TCE_v2_IOMMU), 1);
	/* nothing changed */
	uint64_t tce = 0, ua = 0;
	CHECK_EQ(tcemu_host_container_entry(h, f.c, 0, &tce, &ua), 0);
	CHECK(tce != 0);
	CHECK_U64(ua, (uintptr_t)f.mem);
	CHECK_EQ(tcemu_host_container_info(h, f.c, &ci), 0);
	CHECK_EQ(ci.owner, a);
	CHECK_EQ(ci.windows[1].present, false);

	fake_pid = a;
	CHECK_EQ(xioctl(h, f.c, VFIO_IOMMU_SPAPR_TCE_GET_INFO, &info), 0);
	CHECK_EQ(unmap_dma(h, f.c, 0, PAGE), 0);
	fx_vfio_destroy(&f);
}

TEST(owner_rule_v1_enable_records_owner)
{
	struct tcemu_host *h = mkhost_opts(NULL, true);
	CHECK(h);
	pid_t a = getpid();
	int c = open_container(h), g = open_group(h, 0);
	CHECK(c >= 0 && g >= 0);
	CHECK_EQ(attach(h, g, c), 0);
	CHECK_EQ(IOC_VAL(h, c, VFIO_SET_IOMMU, VFIO_SPAPR_TCE_IOMMU), 0);
	struct tcemu_container_info ci;
	CHECK_EQ(tcemu_host_container_info(h, c, &ci), 0);
	CHECK_EQ(ci.owner, 0);
	CHECK_EQ(ci.type, VFIO_SPAPR_TCE_IOMMU);
	struct vfio_iommu_spapr_tce_info info = { .argsz = sizeof(info) };
	CHECK_EQ(xioctl(h, c, VFIO_IOMMU_SPAPR_TCE_GET_INFO, &info), 0);
	CHECK_EQ(xioctl(h, c, VFIO_IOMMU_ENABLE, NULL), 0);
	CHECK_EQ(tcemu_host_container_info(h, c, &ci), 0);
	CHECK_EQ(ci.owner, a);
	CHECK(ci.enabled);
	fake_pid = a + 7;
	CHECK_EQ(xioctl(h, c, VFIO_IOMMU_SPAPR_TCE_GET_INFO, &info), -EPERM);
	CHECK_EQ(xioctl(h, c, VFIO_IOMMU_DISABLE, NULL), -EPERM);
	CHECK_EQ(xioctl(h, c, VFIO_IOMMU_ENABLE, NULL), -EPERM);
	CHECK_EQ(unmap_dma(h, c, info.dma32_window_start, PAGE), -EPERM);
	CHECK_EQ(IOC_VAL(h, c, VFIO_CHECK_EXTENSION, VFIO_SPAPR_TCE_IOMMU), 1);
	fake_pid = a;
	CHECK_EQ(xioctl(h, c, VFIO_IOMMU_DISABLE, NULL), 0);
	tcemu_host_destroy(h);
}

TEST(unregister_before_owner_is_eperm)
{
	struct fx_vfio f;
	CHECK_EQ(fx_v2(&f, 0, 0, false), 0);
	uint8_t *m = fx_pages(4);
	CHECK(m);
	CHECK_EQ(unreg_mem(f.h, f.c, m, 4 * PAGE), -EPERM);
	struct tcemu_container_info ci;
	CHECK_EQ(tcemu_host_container_info(f.h, f.c, &ci), 0);
	CHECK_EQ(ci.owner, 0);
	/* REGISTER records the owner; UNREGISTER then works */
	CHECK_EQ(reg_mem(f.h, f.c, m, 4 * PAGE), 0);
	CHECK_EQ(tcemu_host_container_info(f.h, f.c, &ci), 0);
	CHECK_EQ(ci.owner, getpid());
	CHECK_EQ(unreg_mem(f.h, f.c, m, 4 * PAGE), 0);
	fx_vfio_destroy(&f);
	munmap(m, 4 * PAGE);
}

TEST(mode_specific_ioctls_enotty)
{
	struct fx_vfio f;
	CHECK_EQ(fx_v2(&f, 0, 0, false), 0);
	CHECK_EQ(xioctl(f.h, f.c, VFIO_IOMMU_ENABLE, NULL), -ENOTTY);
	CHECK_EQ(xioctl(f.h, f.c, VFIO_IOMMU_DISABLE, NULL), -ENOTTY);
	CHECK_EQ(xioctl(f.h, f.c, _IO(VFIO_TYPE, VFIO_BASE + 23), NULL), -ENOTTY);
	fx_vfio_destroy(&f);
	struct tcemu_host *h = mkhost();
	CHECK(h);
	int c = open_container(h), g = open_group(h, 0);
	CHECK_EQ(attach(h, g, c), 0);
	CHECK_EQ(IOC_VAL(h, c, VFIO_SET_IOMMU, VFIO_SPAPR_TCE_IOMMU), 0);
	uint8_t *m = fx_pages(1);
	CHECK(m);
	CHECK_EQ(reg_mem(h, c, m, PAGE), -ENOTTY);
	CHECK_EQ(unreg_mem(h, c, m, PAGE), -ENOTTY);
	CHECK_EQ(tce_create(h, c, 12, GiB, 1, NULL), -ENOTTY);
	CHECK_EQ(tce_remove(h, c, 0), -ENOTTY);
	tcemu_host_destroy(h);
	munmap(m, PAGE);
}

/* Kills and reaps a child the test forked (its pid in the pointer) if a check failed first. */
static void reap_child(void *pid)
{
	kill((pid_t)(intptr_t)pid, SIGKILL);
	waitpid((pid_t)(intptr_t)pid, NULL, 0);
}

TEST(forked_child_is_another_process)
{
	struct fx_vfio f;
	CHECK_EQ(fx_v2(&f, 0, 4, false), 0);
	fflush(NULL);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid > 0)
		DEFER(reap_child, (void *)(intptr_t)pid);
	if (pid == 0) {
		long r = map_dma(f.h, f.c, f.mem, 0, PAGE);
		struct vfio_iommu_spapr_tce_info info = { .argsz = sizeof(info) };
		long r2 = xioctl(f.h, f.c, VFIO_IOMMU_SPAPR_TCE_GET_INFO, &info);
		long r3 = IOC_VAL(f.h, f.c, VFIO_CHECK_EXTENSION, VFIO_SPAPR_TCE_v2_IOMMU);
		_exit(r == -EPERM && r2 == -EPERM && r3 == 1 ? 0 : 1);
	}
	int st = 0;
	CHECK_EQ(waitpid(pid, &st, 0), pid);
	harness_undefer(reap_child, (void *)(intptr_t)pid); /* reaped: the pid may be reused */
	CHECK(WIFEXITED(st));
	CHECK_EQ(WEXITSTATUS(st), 0);
	/* the parent is still the owner */
	CHECK_EQ(map_dma(f.h, f.c, f.mem, 0, PAGE), 0);
	CHECK_EQ(unmap_dma(f.h, f.c, 0, PAGE), 0);
	fx_vfio_destroy(&f);
}

/* ---- Pre-registered regions shared by two containers of one process ---- */

/* A v2 container holding group gn, default window removed, 1 GiB 4K window at 0; no memory. */
static int container_v2(struct tcemu_host *h, unsigned gn, int *c, int *g)
{
	*c = open_container(h);
	*g = open_group(h, gn);
	if (*c < 0 || *g < 0 || attach(h, *g, *c) != 0)
		return -1;
	if (IOC_VAL(h, *c, VFIO_SET_IOMMU, VFIO_SPAPR_TCE_v2_IOMMU) != 0)
		return -2;
	if (tce_remove(h, *c, 0) != 0)
		return -3;
	uint64_t start = 1;
	if (tce_create(h, *c, 12, GiB, 1, &start) != 0 || start != 0)
		return -4;
	return 0;
}

TEST(shared_region_two_containers)
{
	struct tcemu_host *h = mkhost();
	CHECK(h);
	pid_t me = getpid();
	int ca, ga, cb, gb;
	CHECK_EQ(container_v2(h, 0, &ca, &ga), 0);
	CHECK_EQ(container_v2(h, 1, &cb, &gb), 0);
	uint8_t *m = fx_pages(8);
	CHECK(m);
	CHECK_EQ(reg_mem(h, ca, m, 8 * PAGE), 0);
	CHECK_EQ(reg_mem(h, cb, m, 8 * PAGE), 0);
	struct tcemu_region_info ri[2];
	CHECK_EQ(tcemu_host_regions(h, me, ri, 2), 1);
	CHECK_U64(ri[0].ua, (uintptr_t)m);
	CHECK_U64(ri[0].size, 8 * PAGE);
	CHECK_EQ(ri[0].users, 2);
	/* registering the same range twice in one container is EBUSY */
	CHECK_EQ(reg_mem(h, ca, m, 8 * PAGE), -EBUSY);
	CHECK_EQ(map_dma(h, ca, m, 0, 8 * PAGE), 0);
	CHECK_EQ(map_dma(h, cb, m, 0x100000, 8 * PAGE), 0);
	CHECK_EQ(tcemu_host_regions(h, me, ri, 2), 1);
	CHECK_U64(ri[0].mapped, 16);
	/* A still maps it */
	CHECK_EQ(unreg_mem(h, ca, m, 8 * PAGE), -EBUSY);
	CHECK_EQ(tcemu_host_regions(h, me, ri, 2), 1);
	CHECK_EQ(ri[0].users, 2);
	CHECK_EQ(unmap_dma(h, ca, 0, 8 * PAGE), 0);
	/*
	 * Section 4: "any IOMMU entry still maps into the region: EBUSY": B's entries count too,
	 * even though A no longer maps it.
	 */
	CHECK_EQ(unreg_mem(h, ca, m, 8 * PAGE), -EBUSY);
	CHECK_EQ(unmap_dma(h, cb, 0x100000, 8 * PAGE), 0);
	/* nothing maps into it: A lets go, the region stays while B holds it */
	CHECK_EQ(unreg_mem(h, ca, m, 8 * PAGE), 0);
	CHECK_EQ(unreg_mem(h, ca, m, 8 * PAGE), -ENOENT);
	CHECK_EQ(tcemu_host_regions(h, me, ri, 2), 1);
	CHECK_EQ(ri[0].users, 1);
	CHECK_U64(ri[0].mapped, 0);
	/* B still maps through it */
	CHECK_EQ(map_dma(h, cb, m, 0x100000, 8 * PAGE), 0);
	uint64_t tce = 0, ua = 0;
	CHECK_EQ(tcemu_host_container_entry(h, cb, 0x100000, &tce, &ua), 0);
	CHECK(tce != 0);
	CHECK_U64(ua, (uintptr_t)m);
	CHECK(locked_now(h, me) > 0);
	CHECK_EQ(tcemu_host_close(h, ga), 0);
	CHECK_EQ(tcemu_host_close(h, ca), 0);
	CHECK_EQ(tcemu_host_close(h, gb), 0);
	CHECK_EQ(tcemu_host_close(h, cb), 0);
	CHECK_U64(locked_now(h, me), 0);
	CHECK_EQ(tcemu_host_regions(h, me, NULL, 0), 0);
	tcemu_host_destroy(h);
	munmap(m, 8 * PAGE);
}

/* ---- Client defects and statistics ---- */

TEST(defect_unmap_of_nothing)
{
	struct fx_vfio f;
	CHECK_EQ(fx_v2(&f, 0, 4, false), 0);
	size_t n0 = tcemu_host_defect_count(f.h);
	struct tcemu_host_stats st;
	tcemu_host_stats(f.h, &st);
	uint64_t d0 = st.defects;
	CHECK_EQ(unmap_dma(f.h, f.c, 0x40000, 4 * PAGE), 0);
	CHECK_EQ(tcemu_host_defect_count(f.h), n0 + 1);
	char buf[512];
	CHECK_EQ(tcemu_host_defect(f.h, n0, buf, sizeof(buf)), 0);
	CHECK_CONTAINS(buf, "UNMAP_DMA");
	CHECK_EQ(tcemu_host_defect(f.h, n0 + 1, buf, sizeof(buf)), -ENOENT);
	tcemu_host_stats(f.h, &st);
	CHECK_U64(st.defects, d0); /* kept as a kind, but a note: legitimate, not a defect */
	/* a real unmap is no defect */
	CHECK_EQ(map_dma(f.h, f.c, f.mem, 0, PAGE), 0);
	CHECK_EQ(unmap_dma(f.h, f.c, 0, PAGE), 0);
	CHECK_EQ(tcemu_host_defect_count(f.h), n0 + 1);
	fx_vfio_destroy(&f);
}

TEST(defect_unregister_refused)
{
	struct fx_vfio f;
	CHECK_EQ(fx_v2(&f, 0, 4, false), 0);
	CHECK_EQ(map_dma(f.h, f.c, f.mem, 0, PAGE), 0);
	size_t n0 = tcemu_host_defect_count(f.h);
	CHECK_EQ(unreg_mem(f.h, f.c, f.mem, 4 * PAGE), -EBUSY);
	CHECK(tcemu_host_defect_count(f.h) > n0);
	CHECK(defect_contains(f.h, n0, "UNREGISTER"));
	/* nothing changed */
	struct tcemu_region_info ri;
	CHECK_EQ(tcemu_host_regions(f.h, getpid(), &ri, 1), 1);
	CHECK_EQ(ri.users, 1);
	CHECK_U64(ri.mapped, 1);
	fx_vfio_destroy(&f);
}

TEST(defect_close_with_entries_mapped)
{
	struct fx_vfio f;
	CHECK_EQ(fx_v2(&f, 0, 4, false), 0);
	CHECK_EQ(map_dma(f.h, f.c, f.mem, 0, 2 * PAGE), 0);
	size_t n0 = tcemu_host_defect_count(f.h);
	CHECK_EQ(tcemu_host_close(f.h, f.g), 0);
	CHECK_EQ(tcemu_host_close(f.h, f.c), 0);
	CHECK(tcemu_host_defect_count(f.h) > n0);
	CHECK(defect_contains(f.h, n0, "still mapped"));
	CHECK_U64(locked_now(f.h, getpid()), 0);
	fx_vfio_destroy(&f);
}

TEST(stats_count_ioctls)
{
	struct fx_vfio f;
	CHECK_EQ(fx_v2(&f, 0, 4, false), 0);
	CHECK_STR(tcemu_ioctl_name(13), "MAP_DMA");
	CHECK_STR(tcemu_ioctl_name(14), "UNMAP_DMA");
	CHECK(tcemu_ioctl_name(TCEMU_IOCTL_SLOTS) == NULL);
	struct tcemu_host_stats a, b;
	tcemu_host_stats(f.h, &a);
	CHECK_EQ(map_dma(f.h, f.c, f.mem, 0, PAGE), 0);
	CHECK_EQ(map_dma(f.h, f.c, f.mem, PAGE, PAGE), 0);
	CHECK_EQ(map_dma(f.h, f.c, f.mem, 3ull << 40, PAGE), -ENXIO);         /* no window there */
	CHECK_EQ(map_dma(f.h, f.c, f.mem, GiB - PAGE, 2 * PAGE), -EINVAL); /* leaves the window */
	tcemu_host_stats(f.h, &b);
	CHECK_U64(b.ioctls[13] - a.ioctls[13], 4);
	CHECK_U64(b.ioctl_errors - a.ioctl_errors, 2);
	CHECK_U64(b.entries_mapped - a.entries_mapped, 2);
	CHECK_U64(b.ioctls[14], a.ioctls[14]);
	fx_vfio_destroy(&f);
}

struct logbuf {
	char text[16384];
	size_t len;
};
static void log_collect(void *opaque, enum tcemu_log_level level, const char *msg)
{
	struct logbuf *lb = opaque;
	(void)level;
	int n = snprintf(lb->text + lb->len, sizeof(lb->text) - lb->len, "%s\n", msg);
	if (n > 0 && lb->len + (size_t)n < sizeof(lb->text))
		lb->len += (size_t)n;
}

TEST(trace_logs_decoded_calls)
{
	static struct logbuf lb;
	struct tcemu_host_opts o = { 0 };
	struct tcemu_host *h = NULL;
	memset(&lb, 0, sizeof(lb));
	o.trace = true;
	o.platform.logger = (struct tcemu_logger){ log_collect, &lb, TCEMU_LOG_DEBUG };
	CHECK_EQ(tcemu_host_create(&o, &h), 0);
	int c, g;
	CHECK_EQ(container_v2(h, 0, &c, &g), 0);
	uint8_t *m = fx_pages(1);
	CHECK(m);
	CHECK_EQ(reg_mem(h, c, m, PAGE), 0);
	CHECK_EQ(map_dma(h, c, m, 0x7000, PAGE), 0);
	tcemu_host_destroy(h);
	munmap(m, PAGE);
	CHECK_CONTAINS(lb.text, "VFIO_MAP_DMA");
	CHECK_CONTAINS(lb.text, "0x7000");
}

static unsigned count_of(const char *text, const char *what)
{
	unsigned n = 0;

	for (const char *p = strstr(text, what); p; p = strstr(p + 1, what))
		n++;
	return n;
}

/* A window cleared entry by entry (QEMU at boot) is 3 trace lines and one that counts the rest. */
TEST(trace_collapses_runs_of_similar_calls)
{
	static struct logbuf lb;
	struct tcemu_host_opts o = { 0 };
	struct tcemu_host *h = NULL;
	struct vfio_iommu_spapr_tce_info info = { .argsz = sizeof(info) };
	int c, g;
	uint8_t *m = fx_pages(1);
	const char *run, *map;

	CHECK(m);
	memset(&lb, 0, sizeof(lb));
	o.trace = true;
	o.platform.logger = (struct tcemu_logger){ log_collect, &lb, TCEMU_LOG_DEBUG };
	CHECK_EQ(tcemu_host_create(&o, &h), 0);
	CHECK_EQ(container_v2(h, 0, &c, &g), 0);
	CHECK_EQ(reg_mem(h, c, m, PAGE), 0);
	for (unsigned i = 0; i < 1000; i++)
		CHECK_EQ(unmap_dma(h, c, (uint64_t)i * PAGE, PAGE), 0);
	CHECK_EQ(map_dma(h, c, m, 0x7000, PAGE), 0);
	for (unsigned i = 0; i < 10; i++)
		CHECK_EQ(xioctl(h, c, VFIO_IOMMU_SPAPR_TCE_GET_INFO, &info), 0);
	CHECK_EQ(unmap_dma(h, c, 0x7000, PAGE), 0);
	tcemu_host_destroy(h);
	munmap(m, PAGE);
	CHECK_EQ(count_of(lb.text, "VFIO_UNMAP_DMA, {argsz="), 4); /* 3 of the run, then the last one */
	run = strstr(lb.text, "VFIO_UNMAP_DMA, ...) = 0: 997 more calls like the last, the words stepping by 0x1000, "
			      "0x0, 0x0 each; the last was {argsz=24, flags=0x0, 0x3e7000, 0x1000, 0x0}\n");
	map = strstr(lb.text, "VFIO_MAP_DMA, {argsz=");
	CHECK(run && map && run < map); /* in order: the run ends when another call comes */
	CHECK_EQ(count_of(lb.text, "VFIO_SPAPR_TCE_GET_INFO, {argsz="), 3);
	CHECK_CONTAINS(lb.text, "VFIO_SPAPR_TCE_GET_INFO, ...) = 0: 7 more calls like the last\n");
}

/* ---- More of sections 3, 4 and 7 ---- */

TEST(owner_recorded_by_create_and_remove)
{
	struct fx_vfio f;
	CHECK_EQ(fx_v2(&f, 0, 0, true), 0);
	pid_t a = getpid();
	struct tcemu_container_info ci;
	/* nothing recorded yet: another process may still query */
	fake_pid = a + 3;
	struct vfio_iommu_spapr_tce_info info = { .argsz = sizeof(info) };
	CHECK_EQ(xioctl(f.h, f.c, VFIO_IOMMU_SPAPR_TCE_GET_INFO, &info), 0);
	CHECK_EQ(tcemu_host_container_info(f.h, f.c, &ci), 0);
	CHECK_EQ(ci.owner, 0);
	fake_pid = a;
	CHECK_EQ(tce_remove(f.h, f.c, 0), 0);
	CHECK_EQ(tcemu_host_container_info(f.h, f.c, &ci), 0);
	CHECK_EQ(ci.owner, a);
	fake_pid = a + 3;
	CHECK_EQ(tce_create(f.h, f.c, 12, GiB, 1, NULL), -EPERM);
	fake_pid = a;
	uint64_t start = 1;
	CHECK_EQ(tce_create(f.h, f.c, 12, GiB, 1, &start), 0);
	CHECK_U64(start, 0);
	fx_vfio_destroy(&f);

	/* CREATE alone records it too */
	CHECK_EQ(fx_v2(&f, 0, 0, true), 0);
	fake_pid = a + 5;
	CHECK_EQ(tce_create(f.h, f.c, 16, GiB, 1, &start), 0);
	CHECK_EQ(tcemu_host_container_info(f.h, f.c, &ci), 0);
	CHECK_EQ(ci.owner, a + 5);
	fake_pid = a;
	CHECK_EQ(xioctl(f.h, f.c, VFIO_IOMMU_SPAPR_TCE_GET_INFO, &info), -EPERM);
	fx_vfio_destroy(&f);
}

TEST(v2_map_before_register_is_eperm)
{
	struct fx_vfio f;
	CHECK_EQ(fx_v2(&f, 0, 0, false), 0);
	uint8_t *m = fx_pages(1);
	CHECK(m);
	CHECK_EQ(map_dma(f.h, f.c, m, 0, PAGE), -EPERM);
	CHECK_EQ(unmap_dma(f.h, f.c, 0, PAGE), -EPERM);
	fx_vfio_destroy(&f);
	munmap(m, PAGE);
}

TEST(pending_default_window_built_by_first_map)
{
	struct fx_vfio f;
	CHECK_EQ(fx_v2(&f, 0, 0, false), 0);
	uint8_t *m = fx_pages(2);
	CHECK(m);
	struct tcemu_container_info ci;
	CHECK_EQ(tcemu_host_container_info(f.h, f.c, &ci), 0);
	CHECK(ci.windows[0].pending);
	CHECK(!ci.windows[0].present);
	CHECK_EQ(reg_mem(f.h, f.c, m, 2 * PAGE), 0);
	struct vfio_iommu_spapr_tce_info info = { .argsz = sizeof(info) };
	CHECK_EQ(xioctl(f.h, f.c, VFIO_IOMMU_SPAPR_TCE_GET_INFO, &info), 0);
	CHECK(info.dma32_window_size > 0);
	CHECK_EQ(map_dma(f.h, f.c, m, info.dma32_window_start, PAGE), 0);
	CHECK_EQ(tcemu_host_container_info(f.h, f.c, &ci), 0);
	CHECK(!ci.windows[0].pending);
	CHECK(ci.windows[0].present);
	CHECK_U64(ci.windows[0].start, info.dma32_window_start);
	CHECK_U64(ci.windows[0].size, info.dma32_window_size);
	CHECK_EQ(ci.windows[0].page_shift, 12);
	/* the built window is removed like any other */
	CHECK_EQ(unmap_dma(f.h, f.c, info.dma32_window_start, PAGE), 0);
	CHECK_EQ(tce_remove(f.h, f.c, info.dma32_window_start + PAGE), 0);
	CHECK_EQ(tcemu_host_container_info(f.h, f.c, &ci), 0);
	CHECK(!ci.windows[0].present);
	CHECK_EQ(tce_remove(f.h, f.c, 0), -EINVAL);
	fx_vfio_destroy(&f);
	munmap(m, 2 * PAGE);
}

TEST(v1_enable_twice_is_ebusy)
{
	struct tcemu_host *h = mkhost();
	CHECK(h);
	int c = open_container(h), g = open_group(h, 0);
	CHECK_EQ(attach(h, g, c), 0);
	CHECK_EQ(IOC_VAL(h, c, VFIO_SET_IOMMU, VFIO_SPAPR_TCE_IOMMU), 0);
	uint8_t *m = fx_pages(1);
	CHECK(m);
	struct vfio_iommu_spapr_tce_info info = { .argsz = sizeof(info) };
	CHECK_EQ(xioctl(h, c, VFIO_IOMMU_SPAPR_TCE_GET_INFO, &info), 0);
	CHECK_EQ(map_dma(h, c, m, info.dma32_window_start, PAGE), -EPERM);
	CHECK_EQ(xioctl(h, c, VFIO_IOMMU_ENABLE, NULL), 0);
	CHECK_EQ(xioctl(h, c, VFIO_IOMMU_ENABLE, NULL), -EBUSY);
	CHECK_EQ(map_dma(h, c, m, info.dma32_window_start, PAGE), 0);
	CHECK_EQ(xioctl(h, c, VFIO_IOMMU_DISABLE, NULL), 0);
	/* mappings stay after DISABLE */
	uint64_t tce = 0, ua = 0;
	CHECK_EQ(tcemu_host_container_entry(h, c, info.dma32_window_start, &tce, &ua), 0);
	CHECK(tce != 0);
	tcemu_host_destroy(h);
	munmap(m, PAGE);
}

TEST(unknown_ioctl_and_wrong_descriptor_kinds)
{
	struct fx_vfio f;
	int d;
	CHECK_EQ(fx_dev(&f, &d), 0);
	CHECK_EQ(xioctl(f.h, f.c, _IO(VFIO_TYPE, VFIO_BASE + 40), NULL), -ENOTTY);
	CHECK_EQ(xioctl(f.h, f.g, _IO(VFIO_TYPE, VFIO_BASE + 40), NULL), -ENOTTY);
	CHECK_EQ(xioctl(f.h, d, _IO(VFIO_TYPE, VFIO_BASE + 40), NULL), -ENOTTY);
	/* a group command on a container, a container command on a device */
	struct vfio_group_status st = { .argsz = sizeof(st) };
	CHECK_EQ(xioctl(f.h, f.c, VFIO_GROUP_GET_STATUS, &st), -ENOTTY);
	CHECK_EQ(xioctl(f.h, d, VFIO_GET_API_VERSION, NULL), -ENOTTY);
	CHECK_EQ(xioctl(f.h, 777777, VFIO_GET_API_VERSION, NULL), -EBADF);
	fx_vfio_destroy(&f);
}

HARNESS_MAIN(T(api_version_is_0), T(check_extension_before_and_after_set_iommu), T(set_iommu_errors),
	     T(group_get_status), T(group_set_container_checks_in_order),
	     T(attach_after_type_set_runs_backend_attach), T(group_unset_container), T(group_get_device_fd),
	     T(open_group_paths), T(close_container_while_group_attached),
	     T(close_group_with_device_open_keeps_it_attached), T(reopen_group_held_by_device_is_ebusy),
	     T(dup_keeps_file_alive), T(owner_rule_v2_other_process_gets_eperm),
	     T(owner_rule_v1_enable_records_owner), T(unregister_before_owner_is_eperm),
	     T(mode_specific_ioctls_enotty), T(forked_child_is_another_process), T(shared_region_two_containers),
	     T(defect_unmap_of_nothing), T(defect_unregister_refused), T(defect_close_with_entries_mapped),
	     T(stats_count_ioctls), T(trace_logs_decoded_calls), T(trace_collapses_runs_of_similar_calls), T(owner_recorded_by_create_and_remove),
	     T(v2_map_before_register_is_eperm), T(pending_default_window_built_by_first_map),
	     T(v1_enable_twice_is_ebusy), T(unknown_ioctl_and_wrong_descriptor_kinds))
