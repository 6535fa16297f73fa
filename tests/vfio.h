/* SPDX-License-Identifier: MIT */
/*
 * What the VFIO core conformance programs share (docs/spec: vfio-spapr-abi.md sections 2, 3, 8
 * and 9, clients.md): hosts, descriptors and ioctl wrappers taking (host, fd), and the usual v2
 * container (fx_v2, on fixture.h's fx_vfio_v2). Every expectation is the spec's; where the
 * implementation differs the test fails and says so.
 *
 *   test_vfio_core.c      the VFIO core (section 2), the owner rule (section 3), pre-registered
 *                         regions shared by two containers, defects and statistics, more of
 *                         sections 3, 4 and 7
 *   test_vfio_groups.c    several groups per container (section 8)
 *   test_vfio_eeh.c       EEH_PE_OP (section 9) and device descriptors
 *   test_vfio_clients.c   the call sequences of DPDK and QEMU (clients.md)
 */
#ifndef TCEMU_TESTS_VFIO_H
#define TCEMU_TESTS_VFIO_H

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

/* the caller pid that hosts made with mkhost_opts(..., true) see */
static pid_t fake_pid;
static inline pid_t get_fake_pid(void *opaque)
{
	(void)opaque;
	return fake_pid;
}

static const char *const TOPO_MIXED = "phb 0 ioda1\n pe 1\n  device 0000:00:01.0\nphb 1 ioda3\n pe 1\n  device 0001:00:01.0\n";

/* A host with the default topology (or topo), optionally with a switchable caller pid. */
static inline struct tcemu_host *mkhost_opts(const char *topo, bool pidcb)
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
static inline struct tcemu_host *mkhost(void)
{
	return mkhost_opts(NULL, false);
}

static inline long xioctl(struct tcemu_host *h, int fd, unsigned long cmd, void *arg)
{
	return tcemu_host_ioctl(h, fd, cmd, arg);
}
#define IOC_VAL(h, fd, cmd, v) tcemu_host_ioctl((h), (fd), (cmd), (void *)(uintptr_t)(v))

static inline int open_container(struct tcemu_host *h)
{
	int c = -1;
	if (tcemu_host_open(h, "/dev/vfio/vfio", O_RDWR, &c) != 0)
		return -1;
	return c;
}
static inline int open_group(struct tcemu_host *h, unsigned n)
{
	char path[32];
	int g = -1;
	snprintf(path, sizeof(path), "/dev/vfio/%u", n);
	if (tcemu_host_open(h, path, O_RDWR, &g) != 0)
		return -1;
	return g;
}
/* Attaches group g to container c. */
static inline long attach(struct tcemu_host *h, int g, int c)
{
	return xioctl(h, g, VFIO_GROUP_SET_CONTAINER, &c);
}

static inline long tce_remove(struct tcemu_host *h, int c, uint64_t start)
{
	struct vfio_iommu_spapr_tce_remove rm = { .argsz = sizeof(rm), .start_addr = start };
	return xioctl(h, c, VFIO_IOMMU_SPAPR_TCE_REMOVE, &rm);
}
/* Creates a window; returns the ioctl's result, the start in *start. */
static inline long tce_create(struct tcemu_host *h, int c, uint32_t shift, uint64_t size, uint32_t levels, uint64_t *start)
{
	struct vfio_iommu_spapr_tce_create cr = {
		.argsz = sizeof(cr), .page_shift = shift, .window_size = size, .levels = levels,
	};
	long r = xioctl(h, c, VFIO_IOMMU_SPAPR_TCE_CREATE, &cr);
	if (start)
		*start = cr.start_addr;
	return r;
}
static inline long reg_mem(struct tcemu_host *h, int c, const void *va, uint64_t size)
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
static inline uint32_t group_flags(struct tcemu_host *h, int g)
{
	struct vfio_group_status st = { .argsz = sizeof(st) };
	if (xioctl(h, g, VFIO_GROUP_GET_STATUS, &st) != 0)
		return 0xdeadbeef;
	return st.flags;
}
static inline int container_type(struct tcemu_host *h, int c)
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
static inline int fx_v2(struct fx_vfio *f, unsigned gn, size_t npages, bool pidcb)
{
	struct tcemu_host *h = mkhost_opts(NULL, pidcb);

	if (!h) {
		memset(f, 0, sizeof(*f));
		return -1;
	}
	return (int)fx_vfio_v2(f, h, gn, npages);
}

/* fx_v2 on group 3 and a descriptor of its device (the default's first plain test device) in *d. */
static inline int fx_dev(struct fx_vfio *f, int *d)
{
	int r = fx_v2(f, 3, 0, false);
	if (r)
		return r;
	*d = (int)xioctl(f->h, f->g, VFIO_GROUP_GET_DEVICE_FD, (void *)"0000:04:00.0");
	return *d >= 0 ? 0 : -10;
}

/* VFIO_EEH_PE_OP(op) and VFIO_EEH_PE_INJECT_ERR on container c. */
static inline long eeh(struct tcemu_host *h, int c, uint32_t op)
{
	struct vfio_eeh_pe_op o = { .argsz = sizeof(o), .op = op };
	return xioctl(h, c, VFIO_EEH_PE_OP, &o);
}

static inline long eeh_inject(struct tcemu_host *h, int c, uint32_t argsz, uint32_t type, uint32_t func)
{
	struct vfio_eeh_pe_op o = { .argsz = argsz, .op = VFIO_EEH_PE_INJECT_ERR };
	o.err.type = type;
	o.err.func = func;
	return xioctl(h, c, VFIO_EEH_PE_OP, &o);
}

/* A defect recorded since number `from` contains needle. */
static inline bool defect_contains(struct tcemu_host *h, size_t from, const char *needle)
{
	char buf[512];
	for (size_t i = from; i < tcemu_host_defect_count(h); i++)
		if (tcemu_host_defect(h, i, buf, sizeof(buf)) == 0 && strstr(buf, needle))
			return true;
	return false;
}

/* The PE of IOMMU group `group`. */
static inline struct tcemu_pe *pe_of(struct tcemu_host *h, unsigned group)
{
	return tcemu_platform_pe_by_group(tcemu_host_platform(h), group);
}

/* Container with groups 0 and 1 on v2, mem registered, default removed, 1 GiB window at 0. */
static inline int two_groups(struct fx_vfio *f, int *g1)
{
	if (fx_v2(f, 0, 0, false) != 0)
		return -1;
	*g1 = open_group(f->h, 1);
	if (*g1 < 0 || attach(f->h, *g1, f->c) != 0)
		return -2;
	return fx_vfio_window(f, 16) ? -3 : 0;
}

#endif
