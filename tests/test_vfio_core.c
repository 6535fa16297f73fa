/* SPDX-License-Identifier: MIT */
/*
 * Conformance of the VFIO core and the sPAPR TCE backend to docs/spec (vfio-spapr-abi.md sections
 * 2, 3, 8, 9), device fds, shared pre-registered regions, defect reporting and the call sequences
 * of DPDK and QEMU (clients.md). Every expectation is the spec's; where the implementation differs
 * the test fails and says so.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/vfio.h>

#include <tcemu/host.h>
#include <tcemu/platform.h>
#include <tcemu/table.h>

#include "fixture.h"
#include "harness.h"

#define PAGE 4096ull
#define GiB (1ull << 30)

/* ---- fixture ---- */

static pid_t fake_pid;
static pid_t get_fake_pid(void *opaque)
{
	(void)opaque;
	return fake_pid;
}

static const char *const TOPO_MIXED = "phb 0 ioda1\n pe 1\n  device 0000:00:01.0\nphb 1 ioda3\n pe 1\n  device 0001:00:01.0\n";

/* A host with the default topology (or topo), optionally with a switchable caller pid. */
static struct tcemu_host *mkhost_opts(const char *topo, bool pidcb)
{
	struct tcemu_host_opts o = { 0 };
	struct tcemu_host *h = NULL;
	o.platform.topology_text = topo;
	if (pidcb) {
		fake_pid = getpid();
		o.ops.caller_pid = get_fake_pid;
	}
	if (tcemu_host_create(&o, &h) != 0)
		return NULL;
	return h;
}
static struct tcemu_host *mkhost(void)
{
	return mkhost_opts(NULL, false);
}

static long xioctl(struct tcemu_host *h, int fd, unsigned long cmd, void *arg)
{
	return tcemu_host_ioctl(h, fd, cmd, arg);
}
#define IOC_VAL(h, fd, cmd, v) tcemu_host_ioctl((h), (fd), (cmd), (void *)(uintptr_t)(v))

static int open_container(struct tcemu_host *h)
{
	int c = -1;
	if (tcemu_host_open(h, "/dev/vfio/vfio", O_RDWR, &c) != 0)
		return -1;
	return c;
}
static int open_group(struct tcemu_host *h, unsigned n)
{
	char path[32];
	int g = -1;
	snprintf(path, sizeof(path), "/dev/vfio/%u", n);
	if (tcemu_host_open(h, path, O_RDWR, &g) != 0)
		return -1;
	return g;
}
/* Attaches group g to container c. */
static long attach(struct tcemu_host *h, int g, int c)
{
	return xioctl(h, g, VFIO_GROUP_SET_CONTAINER, &c);
}

static long tce_remove(struct tcemu_host *h, int c, uint64_t start)
{
	struct vfio_iommu_spapr_tce_remove rm = { .argsz = sizeof(rm), .start_addr = start };
	return xioctl(h, c, VFIO_IOMMU_SPAPR_TCE_REMOVE, &rm);
}
/* Creates a window; returns the ioctl's result, the start in *start. */
static long tce_create(struct tcemu_host *h, int c, uint32_t shift, uint64_t size, uint32_t levels, uint64_t *start)
{
	struct vfio_iommu_spapr_tce_create cr = {
		.argsz = sizeof(cr), .page_shift = shift, .window_size = size, .levels = levels,
	};
	long r = xioctl(h, c, VFIO_IOMMU_SPAPR_TCE_CREATE, &cr);
	if (start)
		*start = cr.start_addr;
	return r;
}
static long reg_mem(struct tcemu_host *h, int c, const void *va, uint64_t size)
{
	struct vfio_iommu_spapr_register_memory r = { .argsz = sizeof(r), .vaddr = (uintptr_t)va, .size = size };
	return xioctl(h, c, VFIO_IOMMU_SPAPR_REGISTER_MEMORY, &r);
}
static inline long unreg_mem(struct tcemu_host *h, int c, const void *va, uint64_t size)
{
	struct vfio_iommu_spapr_register_memory r = { .argsz = sizeof(r), .vaddr = (uintptr_t)va, .size = size };
	return xioctl(h, c, VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY, &r);
}
static inline long map_dma(struct tcemu_host *h, int c, const void *va, uint64_t iova, uint64_t size)
{
	struct vfio_iommu_type1_dma_map m = {
		.argsz = sizeof(m), .flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = (uintptr_t)va, .iova = iova, .size = size,
	};
	return xioctl(h, c, VFIO_IOMMU_MAP_DMA, &m);
}
static inline long unmap_dma(struct tcemu_host *h, int c, uint64_t iova, uint64_t size)
{
	struct vfio_iommu_type1_dma_unmap u = { .argsz = sizeof(u), .iova = iova, .size = size };
	return xioctl(h, c, VFIO_IOMMU_UNMAP_DMA, &u);
}
static uint32_t group_flags(struct tcemu_host *h, int g)
{
	struct vfio_group_status st = { .argsz = sizeof(st) };
	if (xioctl(h, g, VFIO_GROUP_GET_STATUS, &st) != 0)
		return 0xdeadbeef;
	return st.flags;
}
static int container_type(struct tcemu_host *h, int c)
{
	struct tcemu_container_info ci;
	if (tcemu_host_container_info(h, c, &ci) != 0)
		return -1;
	return ci.type;
}
static inline uint64_t locked_now(struct tcemu_host *h, pid_t pid)
{
	uint64_t l = 0, lim = 0;
	if (tcemu_host_locked(h, pid, &l, &lim) != 0)
		return UINT64_MAX;
	return l;
}
/* fx_vfio_v2 on a host of mkhost_opts(NULL, pidcb): group gn attached, SET_IOMMU(v2) and, with
 * npages, the memory registered and a 1 GiB 4K window at 0 in place of the default one. */
static int fx_v2(struct fx_vfio *f, unsigned gn, size_t npages, bool pidcb)
{
	struct tcemu_host *h = mkhost_opts(NULL, pidcb);

	if (!h) {
		memset(f, 0, sizeof(*f));
		return -1;
	}
	return (int)fx_vfio_v2(f, h, gn, npages);
}

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

/* ---- Section 8: several groups per container ---- */

static struct tcemu_pe *pe_of(struct tcemu_host *h, unsigned group)
{
	return tcemu_platform_pe_by_group(tcemu_host_platform(h), group);
}
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

/* Container with groups 0 and 1 on v2, mem registered, default removed, 1 GiB window at 0. */
static int two_groups(struct fx_vfio *f, int *g1)
{
	if (fx_v2(f, 0, 0, false) != 0)
		return -1;
	*g1 = open_group(f->h, 1);
	if (*g1 < 0 || attach(f->h, *g1, f->c) != 0)
		return -2;
	return fx_vfio_window(f, 16) ? -3 : 0;
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

/* ---- Section 9: EEH_PE_OP ---- */

static long eeh(struct tcemu_host *h, int c, uint32_t op)
{
	struct vfio_eeh_pe_op o = { .argsz = sizeof(o), .op = op };
	return xioctl(h, c, VFIO_EEH_PE_OP, &o);
}
static long eeh_inject(struct tcemu_host *h, int c, uint32_t argsz, uint32_t type, uint32_t func)
{
	struct vfio_eeh_pe_op o = { .argsz = argsz, .op = VFIO_EEH_PE_INJECT_ERR };
	o.err.type = type;
	o.err.func = func;
	return xioctl(h, c, VFIO_EEH_PE_OP, &o);
}

TEST(eeh_pe_op_argument_checks)
{
	struct fx_vfio f;
	CHECK_EQ(fx_v2(&f, 0, 0, false), 0);
	struct vfio_eeh_pe_op o = { .argsz = 11, .op = VFIO_EEH_PE_GET_STATE };
	CHECK_EQ(xioctl(f.h, f.c, VFIO_EEH_PE_OP, &o), -EINVAL);
	o.argsz = 12;
	CHECK_EQ(xioctl(f.h, f.c, VFIO_EEH_PE_OP, &o), VFIO_EEH_PE_STATE_NORMAL);
	o.argsz = sizeof(o);
	o.flags = 1;
	CHECK_EQ(xioctl(f.h, f.c, VFIO_EEH_PE_OP, &o), -EINVAL);
	CHECK_EQ(eeh(f.h, f.c, 99), -EINVAL);
	CHECK_EQ(eeh_inject(f.h, f.c, 24, 0, 0), -EINVAL);
	CHECK_EQ(eeh_inject(f.h, f.c, 39, 0, 0), -EINVAL);
	CHECK_EQ(eeh_inject(f.h, f.c, 40, 7, 0), -EINVAL);
	/* none of these froze the PE */
	CHECK_EQ(eeh(f.h, f.c, VFIO_EEH_PE_GET_STATE), VFIO_EEH_PE_STATE_NORMAL);
	CHECK_EQ(tcemu_pe_eeh_state(pe_of(f.h, 0)), TCEMU_EEH_NORMAL);
	CHECK_EQ(xioctl(f.h, f.c, VFIO_EEH_PE_OP, (void *)8), -EFAULT);
	fx_vfio_destroy(&f);
}

TEST(eeh_pe_op_state_machine)
{
	struct fx_vfio f;
	CHECK_EQ(fx_v2(&f, 0, 0, false), 0);
	struct tcemu_host *h = f.h;
	int c = f.c;
	CHECK_EQ(eeh(h, c, VFIO_EEH_PE_GET_STATE), VFIO_EEH_PE_STATE_NORMAL);
	CHECK_EQ(eeh_inject(h, c, 40, 0, 0), 0);
	CHECK_EQ(eeh(h, c, VFIO_EEH_PE_GET_STATE), VFIO_EEH_PE_STATE_STOPPED);
	CHECK_EQ(tcemu_pe_eeh_state(pe_of(h, 0)), TCEMU_EEH_STOPPED);
	CHECK_EQ(eeh(h, c, VFIO_EEH_PE_UNFREEZE_IO), 0);
	CHECK_EQ(eeh(h, c, VFIO_EEH_PE_GET_STATE), VFIO_EEH_PE_STATE_STOPPED_DMA);
	CHECK_EQ(eeh(h, c, VFIO_EEH_PE_UNFREEZE_DMA), 0);
	CHECK_EQ(eeh(h, c, VFIO_EEH_PE_GET_STATE), VFIO_EEH_PE_STATE_NORMAL);
	CHECK_EQ(eeh(h, c, VFIO_EEH_PE_RESET_HOT), 0);
	CHECK_EQ(eeh(h, c, VFIO_EEH_PE_GET_STATE), VFIO_EEH_PE_STATE_RESET);
	CHECK_EQ(eeh(h, c, VFIO_EEH_PE_RESET_DEACTIVATE), 0);
	CHECK_EQ(eeh(h, c, VFIO_EEH_PE_GET_STATE), VFIO_EEH_PE_STATE_NORMAL);
	CHECK_EQ(eeh(h, c, VFIO_EEH_PE_CONFIGURE), 0);
	CHECK_EQ(eeh(h, c, VFIO_EEH_PE_DISABLE), 0);
	CHECK_EQ(eeh(h, c, VFIO_EEH_PE_GET_STATE), VFIO_EEH_PE_STATE_UNAVAIL);
	CHECK_EQ(eeh(h, c, VFIO_EEH_PE_ENABLE), 0);
	CHECK_EQ(eeh(h, c, VFIO_EEH_PE_GET_STATE), VFIO_EEH_PE_STATE_NORMAL);
	/* a DMA-only injection (type 1) */
	CHECK_EQ(eeh_inject(h, c, 40, 1, 0), 0);
	CHECK(eeh(h, c, VFIO_EEH_PE_GET_STATE) != VFIO_EEH_PE_STATE_NORMAL);
	fx_vfio_destroy(&f);
}

TEST(eeh_inject_freezes_every_group)
{
	struct fx_vfio f;
	int g1;
	CHECK_EQ(two_groups(&f, &g1), 0);
	CHECK_EQ(eeh_inject(f.h, f.c, 40, 0, 0), 0);
	CHECK_EQ(tcemu_pe_eeh_state(pe_of(f.h, 0)), TCEMU_EEH_STOPPED);
	CHECK_EQ(tcemu_pe_eeh_state(pe_of(f.h, 1)), TCEMU_EEH_STOPPED);
	CHECK_EQ(tcemu_pe_eeh_state(pe_of(f.h, 2)), TCEMU_EEH_NORMAL);
	CHECK_EQ(eeh(f.h, f.c, VFIO_EEH_PE_UNFREEZE_IO), 0);
	CHECK_EQ(eeh(f.h, f.c, VFIO_EEH_PE_UNFREEZE_DMA), 0);
	CHECK_EQ(tcemu_pe_eeh_state(pe_of(f.h, 0)), TCEMU_EEH_NORMAL);
	CHECK_EQ(tcemu_pe_eeh_state(pe_of(f.h, 1)), TCEMU_EEH_NORMAL);
	fx_vfio_destroy(&f);
}

TEST(no_eeh_platform_does_not_offer_vfio_eeh)
{
	struct tcemu_host_opts o = { 0 };
	struct tcemu_host *h = NULL;
	o.no_eeh = true;
	CHECK_EQ(tcemu_host_create(&o, &h), 0);
	int c = open_container(h), g = open_group(h, 0);
	CHECK_EQ(attach(h, g, c), 0);
	CHECK_EQ(IOC_VAL(h, c, VFIO_SET_IOMMU, VFIO_SPAPR_TCE_v2_IOMMU), 0);
	CHECK_EQ(IOC_VAL(h, c, VFIO_CHECK_EXTENSION, VFIO_EEH), 0);
	CHECK_EQ(IOC_VAL(h, c, VFIO_CHECK_EXTENSION, VFIO_SPAPR_TCE_v2_IOMMU), 1);
	tcemu_host_destroy(h);
}

/* ---- Devices ---- */

static int fx_dev(struct fx_vfio *f, int *d)
{
	int r = fx_v2(f, 0, 0, false);
	if (r)
		return r;
	*d = (int)xioctl(f->h, f->g, VFIO_GROUP_GET_DEVICE_FD, (void *)"0000:01:00.0");
	return *d >= 0 ? 0 : -10;
}
#define REG_OFF(i) ((uint64_t)(i) << 40)

TEST(device_info_and_regions)
{
	struct fx_vfio f;
	int d;
	CHECK_EQ(fx_dev(&f, &d), 0);
	struct vfio_device_info di = { .argsz = sizeof(di) };
	CHECK_EQ(xioctl(f.h, d, VFIO_DEVICE_GET_INFO, &di), 0);
	CHECK_EQ(di.flags & (VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET),
		 VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET);
	CHECK_EQ(di.num_regions, 9);
	CHECK_EQ(di.num_irqs, 5);
	for (unsigned i = 0; i < 9; i++) {
		struct vfio_region_info ri = { .argsz = sizeof(ri), .index = i };
		CHECK_EQ(xioctl(f.h, d, VFIO_DEVICE_GET_REGION_INFO, &ri), 0);
		CHECK_U64(ri.offset, REG_OFF(i));
		if (i == 0) {
			CHECK_U64(ri.size, 16384);
			CHECK(ri.flags & VFIO_REGION_INFO_FLAG_READ);
			CHECK(ri.flags & VFIO_REGION_INFO_FLAG_WRITE);
		}
		if (i == 2) {
			CHECK_U64(ri.size, 1 << 20);
			CHECK(ri.flags & VFIO_REGION_INFO_FLAG_MMAP);
		}
		if (i == VFIO_PCI_CONFIG_REGION_INDEX)
			CHECK(ri.size >= 256);
	}
	struct vfio_irq_info ii = { .argsz = sizeof(ii), .index = VFIO_PCI_MSIX_IRQ_INDEX };
	CHECK_EQ(xioctl(f.h, d, VFIO_DEVICE_GET_IRQ_INFO, &ii), 0);
	CHECK(ii.flags & VFIO_IRQ_INFO_EVENTFD);
	CHECK(ii.count >= 1);
	CHECK_EQ(xioctl(f.h, d, VFIO_DEVICE_RESET, NULL), 0);
	fx_vfio_destroy(&f);
}

TEST(device_config_and_bar_access)
{
	struct fx_vfio f;
	int d;
	CHECK_EQ(fx_dev(&f, &d), 0);
	uint16_t id[2] = { 0, 0 };
	CHECK_EQ(tcemu_host_pread(f.h, d, id, 4, REG_OFF(VFIO_PCI_CONFIG_REGION_INDEX)), 4);
	CHECK_EQ(id[0], 0x1b36);
	CHECK_EQ(id[1], 0x0005);
	uint32_t v = 0xcafef00d, back = 0;
	CHECK_EQ(tcemu_host_pwrite(f.h, d, &v, 4, REG_OFF(0) + 0x100), 4);
	CHECK_EQ(tcemu_host_pread(f.h, d, &back, 4, REG_OFF(0) + 0x100), 4);
	CHECK_U64(back, 0xcafef00d);
	/* BAR2 through its memfd sees what pwrite wrote */
	static const char msg[] = "tcemu-bar2";
	CHECK_EQ(tcemu_host_pwrite(f.h, d, msg, sizeof(msg), REG_OFF(2) + 0x2000), (long)sizeof(msg));
	int mfd = -1;
	CHECK_EQ(tcemu_host_region_fd(f.h, d, REG_OFF(2), &mfd), 0);
	CHECK(mfd >= 0);
	int nofd = -1;
	CHECK_EQ(tcemu_host_region_fd(f.h, d, REG_OFF(0), &nofd), -EINVAL);
	CHECK_EQ(tcemu_host_region_fd(f.h, d, REG_OFF(2), &mfd), 0);
	uint8_t *m = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	CHECK(m != MAP_FAILED);
	bool same = memcmp(m + 0x2000, msg, sizeof(msg)) == 0;
	/* and the other way round */
	m[0x3000] = 0xa5;
	uint8_t b = 0;
	long r = tcemu_host_pread(f.h, d, &b, 1, REG_OFF(2) + 0x3000);
	munmap(m, 1 << 20);
	CHECK(same);
	CHECK_EQ(r, 1);
	CHECK_EQ(b, 0xa5);
	/* not a device */
	CHECK_EQ(tcemu_host_pread(f.h, f.c, &b, 1, 0), -EINVAL);
	CHECK_EQ(tcemu_host_pwrite(f.h, f.g, &b, 1, 0), -EINVAL);
	CHECK_EQ(tcemu_host_region_fd(f.h, f.c, REG_OFF(2), &mfd), -EINVAL);
	fx_vfio_destroy(&f);
}

TEST(device_msix_eventfd_trigger)
{
	struct fx_vfio f;
	int d;
	CHECK_EQ(fx_dev(&f, &d), 0);
	int efd = eventfd(0, EFD_NONBLOCK);
	CHECK(efd >= 0);
	struct {
		struct vfio_irq_set s;
		int32_t fd;
	} set = { { .argsz = sizeof(set), .flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
		    .index = VFIO_PCI_MSIX_IRQ_INDEX, .start = 0, .count = 1 }, efd };
	long r = xioctl(f.h, d, VFIO_DEVICE_SET_IRQS, &set);
	uint64_t cnt = 0;
	bool early = read(efd, &cnt, 8) == 8;
	struct vfio_irq_set fire = { .argsz = sizeof(fire), .flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
				     .index = VFIO_PCI_MSIX_IRQ_INDEX, .start = 0, .count = 1 };
	long r2 = xioctl(f.h, d, VFIO_DEVICE_SET_IRQS, &fire);
	struct pollfd pfd = { .fd = efd, .events = POLLIN };
	int pr = poll(&pfd, 1, 1000);
	ssize_t n = read(efd, &cnt, 8);
	close(efd);
	CHECK_EQ(r, 0);
	CHECK(!early);
	CHECK_EQ(r2, 0);
	CHECK_EQ(pr, 1);
	CHECK_EQ(n, 8);
	CHECK_U64(cnt, 1);
	fx_vfio_destroy(&f);
}

TEST(device_bar_reads_ff_while_frozen)
{
	struct fx_vfio f;
	int d;
	CHECK_EQ(fx_dev(&f, &d), 0);
	uint32_t v = 0x12345678, back = 0;
	CHECK_EQ(tcemu_host_pwrite(f.h, d, &v, 4, REG_OFF(0)), 4);
	CHECK_EQ(eeh_inject(f.h, f.c, 40, 0, 0), 0);
	CHECK_EQ(tcemu_host_pread(f.h, d, &back, 4, REG_OFF(0)), 4);
	CHECK_U64(back, 0xffffffff);
	uint16_t vid = 0;
	CHECK_EQ(tcemu_host_pread(f.h, d, &vid, 2, REG_OFF(VFIO_PCI_CONFIG_REGION_INDEX)), 2);
	CHECK_EQ(vid, 0x1b36);
	CHECK_EQ(eeh(f.h, f.c, VFIO_EEH_PE_UNFREEZE_IO), 0);
	CHECK_EQ(tcemu_host_pread(f.h, d, &back, 4, REG_OFF(0)), 4);
	CHECK_U64(back, 0x12345678);
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

static bool defect_contains(struct tcemu_host *h, size_t from, const char *needle)
{
	char buf[512];
	for (size_t i = from; i < tcemu_host_defect_count(h); i++)
		if (tcemu_host_defect(h, i, buf, sizeof(buf)) == 0 && strstr(buf, needle))
			return true;
	return false;
}

TEST(defect_unmap_of_nothing)
{
	struct fx_vfio f;
	CHECK_EQ(fx_v2(&f, 0, 4, false), 0);
	size_t n0 = tcemu_host_defect_count(f.h);
	CHECK_EQ(unmap_dma(f.h, f.c, 0x40000, 4 * PAGE), 0);
	CHECK_EQ(tcemu_host_defect_count(f.h), n0 + 1);
	char buf[512];
	CHECK_EQ(tcemu_host_defect(f.h, n0, buf, sizeof(buf)), 0);
	CHECK_CONTAINS(buf, "UNMAP_DMA");
	CHECK_EQ(tcemu_host_defect(f.h, n0 + 1, buf, sizeof(buf)), -ENOENT);
	struct tcemu_host_stats st;
	tcemu_host_stats(f.h, &st);
	CHECK_U64(st.defects, n0 + 1);
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

/* ---- Client call sequences (clients.md) ---- */

TEST(client_dpdk_sequence)
{
	struct tcemu_host *h = mkhost();
	CHECK(h);
	int c = open_container(h);
	CHECK(c >= 0);
	CHECK_EQ(xioctl(h, c, VFIO_GET_API_VERSION, NULL), VFIO_API_VERSION);
	CHECK_EQ(IOC_VAL(h, c, VFIO_CHECK_EXTENSION, VFIO_TYPE1_IOMMU), 0);
	CHECK_EQ(IOC_VAL(h, c, VFIO_CHECK_EXTENSION, VFIO_SPAPR_TCE_v2_IOMMU), 1);
	CHECK_EQ(IOC_VAL(h, c, VFIO_CHECK_EXTENSION, VFIO_NOIOMMU_IOMMU), 0);
	int g = open_group(h, 0);
	CHECK(g >= 0);
	CHECK_EQ(group_flags(h, g) & VFIO_GROUP_FLAGS_VIABLE, VFIO_GROUP_FLAGS_VIABLE);
	CHECK_EQ(attach(h, g, c), 0);
	CHECK(IOC_VAL(h, c, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU) < 0);
	CHECK_EQ(IOC_VAL(h, c, VFIO_SET_IOMMU, VFIO_SPAPR_TCE_v2_IOMMU), 0);

	/* default container window setup: 8 GiB of 4 KiB pages */
	struct vfio_iommu_spapr_tce_info info = { .argsz = 32 };
	CHECK_EQ(xioctl(h, c, VFIO_IOMMU_SPAPR_TCE_GET_INFO, &info), 0);
	CHECK_EQ(info.flags & VFIO_IOMMU_SPAPR_INFO_DDW, VFIO_IOMMU_SPAPR_INFO_DDW);
	CHECK_EQ(info.ddw.levels, 5);
	CHECK(info.ddw.pgsizes & (1ull << 12));
	CHECK_EQ(tce_remove(h, c, info.dma32_window_start), 0);
	uint64_t start = 1;
	long r = -1;
	for (uint32_t lv = 1; lv <= info.ddw.levels && r != 0; lv++)
		r = tce_create(h, c, 12, 8 * GiB, lv, &start);
	CHECK_EQ(r, 0);
	CHECK_U64(start, 0);

	/* EAL memory: 16 segments of one page, REGISTER then MAP each, iova just above 4 GiB */
	const uint64_t eal_iova = 0x1000ef000ull;
	uint8_t *eal = fx_pages(16);
	CHECK(eal);
	for (unsigned i = 0; i < 16; i++) {
		CHECK_EQ(reg_mem(h, c, eal + i * PAGE, PAGE), 0);
		CHECK_EQ(map_dma(h, c, eal + i * PAGE, eal_iova + i * PAGE, PAGE), 0);
	}
	CHECK_EQ(tcemu_host_regions(h, getpid(), NULL, 0), 16);
	long d = xioctl(h, g, VFIO_GROUP_GET_DEVICE_FD, (void *)"0000:01:00.0");
	CHECK(d >= 0);
	struct vfio_device_info di = { .argsz = sizeof(di) };
	CHECK_EQ(xioctl(h, (int)d, VFIO_DEVICE_GET_INFO, &di), 0);

	/* rte_vfio_container_dma_map: REGISTER + MAP at a user iova */
	const uint64_t user_iova = 6 * GiB;
	uint8_t *user = fx_pages(4);
	CHECK(user);
	CHECK_EQ(reg_mem(h, c, user, 4 * PAGE), 0);
	CHECK_EQ(map_dma(h, c, user, user_iova, 4 * PAGE), 0);
	/* mapping the same memory twice fails (it is already registered) */
	CHECK(reg_mem(h, c, user, 4 * PAGE) < 0);

	/* rte_vfio_container_dma_unmap: the map struct, argsz 24, sent as UNMAP_DMA */
	struct vfio_iommu_type1_dma_map bad = { .argsz = 24, .flags = 0, .vaddr = 0, .iova = user_iova, .size = 4 * PAGE };
	size_t n0 = tcemu_host_defect_count(h);
	CHECK_EQ(xioctl(h, c, VFIO_IOMMU_UNMAP_DMA, &bad), 0);
	uint64_t tce = 1, ua = 1;
	/* the backend cleared [0, user_iova): the EAL's own mappings are gone ... */
	for (unsigned i = 0; i < 16; i++) {
		CHECK_EQ(tcemu_host_container_entry(h, c, eal_iova + i * PAGE, &tce, &ua), 0);
		CHECK_U64(tce, 0);
	}
	/* ... and the user mapping is still there */
	CHECK_EQ(tcemu_host_container_entry(h, c, user_iova, &tce, &ua), 0);
	CHECK(tce != 0);
	CHECK_U64(ua, (uintptr_t)user);
	CHECK_EQ(unreg_mem(h, c, user, 4 * PAGE), -EBUSY);
	CHECK(tcemu_host_defect_count(h) > n0);
	CHECK(defect_contains(h, n0, "UNREGISTER"));
	tcemu_host_destroy(h);
	munmap(eal, 16 * PAGE);
	munmap(user, 4 * PAGE);
}

TEST(client_qemu_sequence)
{
	struct tcemu_host *h = mkhost();
	CHECK(h);
	int g = open_group(h, 0);
	CHECK(g >= 0);
	CHECK_EQ(group_flags(h, g) & VFIO_GROUP_FLAGS_VIABLE, VFIO_GROUP_FLAGS_VIABLE);
	int c = open_container(h);
	CHECK(c >= 0);
	CHECK_EQ(xioctl(h, c, VFIO_GET_API_VERSION, NULL), VFIO_API_VERSION);
	CHECK_EQ(IOC_VAL(h, c, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU), 0);
	CHECK_EQ(IOC_VAL(h, c, VFIO_CHECK_EXTENSION, VFIO_TYPE1_IOMMU), 0);
	CHECK_EQ(IOC_VAL(h, c, VFIO_CHECK_EXTENSION, VFIO_SPAPR_TCE_v2_IOMMU), 1);
	CHECK_EQ(attach(h, g, c), 0);
	CHECK_EQ(IOC_VAL(h, c, VFIO_SET_IOMMU, VFIO_SPAPR_TCE_v2_IOMMU), 0);

	uint8_t *ram = fx_pages(64);
	CHECK(ram);
	CHECK_EQ(reg_mem(h, c, ram, 64 * PAGE), 0);
	struct vfio_iommu_spapr_tce_info info = { .argsz = sizeof(info) };
	CHECK_EQ(xioctl(h, c, VFIO_IOMMU_SPAPR_TCE_GET_INFO, &info), 0);
	CHECK(info.ddw.pgsizes & (1ull << 12));
	CHECK_EQ(tce_remove(h, c, info.dma32_window_start), 0);

	/* machine reset: a 2^40 window of 4 KiB pages, levels++ until it works */
	uint32_t lv = 1;
	uint64_t start = 1;
	long r;
	long first_err = 0;
	while ((r = tce_create(h, c, 12, 1ull << 40, lv, &start)) != 0 && lv <= info.ddw.levels) {
		if (!first_err)
			first_err = r;
		lv++;
	}
	CHECK_EQ(r, 0);
	CHECK_U64(start, 0);
	if (lv > 1)
		CHECK_EQ(first_err, -EINVAL);
	struct tcemu_container_info ci;
	CHECK_EQ(tcemu_host_container_info(h, c, &ci), 0);
	CHECK(ci.windows[0].present);
	CHECK_EQ(ci.windows[0].levels, lv);
	CHECK_U64(ci.windows[0].size, 1ull << 40);
	/* the first level that worked is the first valid one: one level fewer is refused */
	if (lv > 1) {
		uint64_t s2;
		CHECK_EQ(tce_create(h, c, 12, 1ull << 40, lv - 1, &s2), -EINVAL);
	}

	/* EEH_PE_OP(ENABLE) at PHB reset, the container has exactly one group */
	CHECK_EQ(eeh(h, c, VFIO_EEH_PE_ENABLE), 0);

	/* H_PUT_TCE: MAP one page, then a valid-to-valid overwrite */
	const uint64_t iova = 0x5000;
	CHECK_EQ(map_dma(h, c, ram, iova, PAGE), 0);
	CHECK_EQ(map_dma(h, c, ram + 7 * PAGE, iova, PAGE), 0);
	uint64_t tce = 0, ua = 0;
	CHECK_EQ(tcemu_host_container_entry(h, c, iova, &tce, &ua), 0);
	CHECK(tce != 0);
	CHECK_U64(ua, (uintptr_t)ram + 7 * PAGE);
	struct tcemu_region_info ri;
	CHECK_EQ(tcemu_host_regions(h, getpid(), &ri, 1), 1);
	CHECK_U64(ri.mapped, 1);
	CHECK_EQ(map_dma(h, c, ram + PAGE, (1ull << 40) - PAGE, PAGE), 0);
	CHECK_EQ(tcemu_host_regions(h, getpid(), &ri, 1), 1);
	CHECK_U64(ri.mapped, 2);

	/* window removal: one UNMAP over the whole window, then REMOVE */
	CHECK_EQ(unmap_dma(h, c, 0, 1ull << 40), 0);
	CHECK_EQ(tcemu_host_regions(h, getpid(), &ri, 1), 1);
	CHECK_U64(ri.mapped, 0);
	CHECK_EQ(tce_remove(h, c, 0), 0);
	CHECK_EQ(tcemu_host_container_info(h, c, &ci), 0);
	CHECK(!ci.windows[0].present);
	CHECK_EQ(unreg_mem(h, c, ram, 64 * PAGE), 0);
	tcemu_host_destroy(h);
	munmap(ram, 64 * PAGE);
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
	     T(close_group_with_device_open_keeps_it_attached), T(reopen_group_held_by_device_is_ebusy), T(dup_keeps_file_alive),
	     T(owner_rule_v2_other_process_gets_eperm), T(owner_rule_v1_enable_records_owner),
	     T(unregister_before_owner_is_eperm), T(mode_specific_ioctls_enotty), T(forked_child_is_another_process),
	     T(v1_container_takes_one_group), T(v1_with_two_groups_before_set_iommu_fails),
	     T(mixed_platforms_set_iommu_fails_and_keeps_nothing), T(v2_needs_dynamic_windows),
	     T(v2_windows_are_programmed_into_every_group), T(v2_map_invalidates_every_group),
	     T(v2_late_group_gets_existing_windows), T(v2_detach_one_group_keeps_mappings),
	     T(v2_last_group_leaving_unsets_container),
	     T(eeh_pe_op_argument_checks), T(eeh_pe_op_state_machine), T(eeh_inject_freezes_every_group),
	     T(no_eeh_platform_does_not_offer_vfio_eeh), T(device_info_and_regions), T(device_config_and_bar_access),
	     T(device_msix_eventfd_trigger), T(device_bar_reads_ff_while_frozen),
	     T(shared_region_two_containers), T(defect_unmap_of_nothing), T(defect_unregister_refused),
	     T(defect_close_with_entries_mapped), T(stats_count_ioctls), T(trace_logs_decoded_calls),
	     T(client_dpdk_sequence), T(client_qemu_sequence),
	     T(owner_recorded_by_create_and_remove), T(v2_map_before_register_is_eperm),
	     T(pending_default_window_built_by_first_map), T(v1_enable_twice_is_ebusy),
	     T(unknown_ioctl_and_wrong_descriptor_kinds))
