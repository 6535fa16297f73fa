/* SPDX-License-Identifier: MIT */
/*
 * Fuzz harness: the VFIO interface as a client process sees it (tcemu_host_open, ioctl, pread,
 * pwrite, dup, close, region_fd), as sequences of calls built from the input.
 *
 * Each input is a program for a fresh host on the default topology without its virtio-blk disk
 * (fuzz_devices drives that; its 4 MiB bounce buffer costs milliseconds per host under ASan): 6
 * groups, a cabled virtio-net pair on groups 0-1, plain devices on groups 2-5, one with a ROM. A step picks a call, its descriptor among
 * those opened so far (or any number), and its argument: a struct built from the input with its
 * argsz and flags, placed in memory the checked copies must read (or a pointer to an unmapped page,
 * a PROT_NONE page, NULL, or a struct that runs into a PROT_NONE page). User addresses in the
 * structs point into registered memory, outside it, at unmapped or PROT_NONE pages, or nowhere,
 * aligned or not. A step may also change the calling process (caller_pid: what a fork does to
 * the kernel's view of the caller: another mm, another owner, other accounting).
 *
 * After every step the host's invariants are checked (vfio/check.h, exact accounting: no guest);
 * at the end everything is closed and must be back to zero.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/vfio.h>

#include "fuzz.h"
#include "vfio/check.h"

#define PAGE 4096ull
#define BUF_PAGES 64
#define MAX_FDS 16
#define MAX_STEPS 64

/* Client memory, made once: registered-size buffer, a PROT_NONE run, an unmapped run. */
static uint8_t *buf, *none, *gone;
/* Where argument structs live: the last bytes of the page before `none`, so a struct may straddle. */
static uint8_t *argpage;

static pid_t pids[3];
static pid_t cur_pid;

static pid_t caller(void *opaque)
{
	(void)opaque;
	return cur_pid;
}

static void init_memory(void)
{
	uint8_t *m;

	if (buf)
		return;
	m = mmap(NULL, (BUF_PAGES + 2 + 16 + 16) * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		fz_fail("mmap");
	buf = m;
	argpage = m + (BUF_PAGES + 1) * PAGE; /* two pages after buf: the arguments */
	none = m + (BUF_PAGES + 2) * PAGE;
	gone = none + 16 * PAGE;
	if (mprotect(none, 16 * PAGE, PROT_NONE) || munmap(gone, 16 * PAGE))
		fz_fail("mprotect/munmap");
	pids[0] = getpid();
	pids[1] = 424242;
	pids[2] = 434343;
}

struct state {
	struct fz in;
	struct tcemu_host *h;
	int fds[MAX_FDS];
	unsigned nfds;
};

/* A descriptor: one opened so far, or sometimes any number. */
static int pick_fd(struct state *s)
{
	unsigned k = (unsigned)fz_below(&s->in, s->nfds + 2);

	if (k < s->nfds)
		return s->fds[k];
	return k == s->nfds ? (int)fz_u16(&s->in) : -1;
}

static void keep_fd(struct state *s, long fd)
{
	if (fd >= 0 && s->nfds < MAX_FDS)
		s->fds[s->nfds++] = (int)fd;
}

/* A user address: inside the buffer (page or byte), at PROT_NONE or unmapped pages, small, any. */
static uint64_t pick_ua(struct state *s)
{
	switch (fz_below(&s->in, 7)) {
	case 0:
	case 1:
		return (uintptr_t)buf + fz_below(&s->in, BUF_PAGES) * PAGE;
	case 2:
		return (uintptr_t)buf + fz_below(&s->in, BUF_PAGES * PAGE);
	case 3:
		return (uintptr_t)none + fz_below(&s->in, 16) * PAGE;
	case 4:
		return (uintptr_t)gone + fz_below(&s->in, 16) * PAGE;
	case 5:
		return fz_below(&s->in, 0x10000);
	default:
		return fz_u64(&s->in);
	}
}

/* A size: whole pages (mostly), or anything. */
static uint64_t pick_size(struct state *s)
{
	switch (fz_below(&s->in, 6)) {
	case 0:
	case 1:
	case 2:
		return (1 + fz_below(&s->in, BUF_PAGES)) * PAGE;
	case 3:
		return fz_u32(&s->in);
	case 4:
		return 0;
	default:
		return fz_u64(&s->in);
	}
}

/* A bus address: in the default window, in slot 1, or anything. */
static uint64_t pick_iova(struct state *s)
{
	switch (fz_below(&s->in, 4)) {
	case 0:
	case 1:
		return fz_below(&s->in, 1024) * PAGE;
	case 2:
		return 0x0800000000000000ull + fz_below(&s->in, 1024) * PAGE;
	default:
		return fz_u64(&s->in);
	}
}

/* argsz: the struct's, a little less or more, or anything. */
static uint32_t pick_argsz(struct state *s, uint32_t real)
{
	switch (fz_below(&s->in, 8)) {
	case 0:
		return real - 1 - (uint32_t)fz_below(&s->in, real);
	case 1:
		return real + (uint32_t)fz_below(&s->in, 64);
	case 2:
		return fz_u32(&s->in);
	default:
		return real;
	}
}

/* Where the argument struct of len bytes goes: its copy at the argument page, or a bad pointer. */
static void *place(struct state *s, const void *arg, size_t len)
{
	uint8_t *at;

	switch (fz_below(&s->in, 12)) {
	case 0:
		return NULL;
	case 1:
		return none;
	case 2:
		return gone;
	case 3: /* runs into the PROT_NONE page */
		at = none - (len > 1 ? 1 + fz_below(&s->in, len - 1) : 1);
		break;
	default:
		at = none - len - fz_below(&s->in, 64);
		break;
	}
	memcpy(at, arg, (size_t)(none - at) < len ? (size_t)(none - at) : len);
	return at;
}

static long call(struct state *s, int fd, unsigned long cmd, const void *arg, size_t len)
{
	return tcemu_host_ioctl(s->h, fd, cmd, place(s, arg, len));
}

static const char topology[] =
	"phb 0 ioda3\n"
	"  pe 1 group=0\n"
	"    device 0000:01:00.0 model=virtio-net link=0000:02:00.0\n"
	"  pe 2 group=1\n"
	"    device 0000:02:00.0 model=virtio-net\n"
	"  pe 3 group=2\n"
	"    device 0000:03:00.0 bar0=256,io bar1=16K rom=64K\n"
	"  pe 4 group=3\n"
	"    device 0000:04:00.0 bar0=16K,mem64 bar2=1M,mem64,prefetch,mmap\n"
	"phb 1 ioda2 dma32=1G\n"
	"  pe 1 group=4\n"
	"    device 0001:01:00.0 bar0=16K,mem64 bar2=1M,mem64,prefetch,mmap\n"
	"  pe 2 group=5\n"
	"    device 0001:02:00.0 bar0=16K,mem64 bar2=1M,mem64,prefetch,mmap\n";

static const char *const paths[] = {
	"/dev/vfio/vfio", "/dev/vfio/0", "/dev/vfio/1", "/dev/vfio/2", "/dev/vfio/3", "/dev/vfio/4", "/dev/vfio/5",
	"/dev/vfio/6", "/dev/vfio/", "/dev/vfio", "/dev/vfio/00", "/dev/vfio/-1", "/dev/vfio/vfio/", "/dev/null",
};
static const char *const bdfs[] = {
	"0000:01:00.0", "0000:02:00.0", "0000:03:00.0", "0000:04:00.0", "0001:01:00.0", "0001:02:00.0", "0000:01:00.1",
	"0000:01:00.0 ", "", "0000:1:0.0", "0000:01:00.0\n",
};

static void step_memory(struct state *s, int fd, unsigned what)
{
	if (what == 0 || what == 1) { /* register / unregister */
		struct vfio_iommu_spapr_register_memory r = { .argsz = sizeof(r) };

		r.argsz = pick_argsz(s, sizeof(r));
		r.flags = fz_below(&s->in, 4) ? 0 : fz_u32(&s->in);
		r.vaddr = pick_ua(s);
		r.size = pick_size(s);
		call(s, fd, what ? VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY : VFIO_IOMMU_SPAPR_REGISTER_MEMORY, &r, sizeof(r));
	} else if (what == 2) { /* map */
		struct vfio_iommu_type1_dma_map m = { .argsz = sizeof(m) };

		m.argsz = pick_argsz(s, sizeof(m));
		m.flags = fz_below(&s->in, 8) ? 1 + (uint32_t)fz_below(&s->in, 3) : fz_u32(&s->in);
		m.vaddr = pick_ua(s);
		m.iova = pick_iova(s);
		m.size = pick_size(s);
		call(s, fd, VFIO_IOMMU_MAP_DMA, &m, sizeof(m));
	} else { /* unmap */
		struct vfio_iommu_type1_dma_unmap u = { .argsz = sizeof(u) };

		u.argsz = pick_argsz(s, sizeof(u));
		u.flags = fz_below(&s->in, 8) ? 0 : fz_u32(&s->in);
		u.iova = pick_iova(s);
		u.size = fz_below(&s->in, 4) ? pick_size(s) : fz_u64(&s->in);
		call(s, fd, VFIO_IOMMU_UNMAP_DMA, &u, sizeof(u));
	}
}

static void step_window(struct state *s, int fd, unsigned what)
{
	if (what == 0) {
		struct vfio_iommu_spapr_tce_create cr = { .argsz = sizeof(cr) };

		cr.argsz = pick_argsz(s, sizeof(cr));
		cr.flags = fz_below(&s->in, 8) ? 0 : fz_u32(&s->in);
		cr.page_shift = fz_below(&s->in, 4) ? 12 + 4 * (uint32_t)fz_below(&s->in, 5) : fz_u32(&s->in);
		cr.window_size = fz_below(&s->in, 4) ? fz_pow2(&s->in, 12, 48) : fz_u64(&s->in);
		cr.levels = (uint32_t)fz_below(&s->in, 7);
		call(s, fd, VFIO_IOMMU_SPAPR_TCE_CREATE, &cr, sizeof(cr));
	} else if (what == 1) {
		struct vfio_iommu_spapr_tce_remove rm = { .argsz = sizeof(rm) };

		rm.argsz = pick_argsz(s, sizeof(rm));
		rm.flags = fz_below(&s->in, 8) ? 0 : fz_u32(&s->in);
		rm.start_addr = fz_below(&s->in, 3) ? (fz_below(&s->in, 2) ? 0x0800000000000000ull : 0) : fz_u64(&s->in);
		call(s, fd, VFIO_IOMMU_SPAPR_TCE_REMOVE, &rm, sizeof(rm));
	} else if (what == 2) {
		struct vfio_iommu_spapr_tce_info info = { .argsz = sizeof(info) };

		info.argsz = pick_argsz(s, sizeof(info));
		call(s, fd, VFIO_IOMMU_SPAPR_TCE_GET_INFO, &info, sizeof(info));
	} else {
		struct vfio_eeh_pe_op op = { .argsz = sizeof(op) };

		op.argsz = pick_argsz(s, sizeof(op));
		op.flags = fz_below(&s->in, 8) ? 0 : fz_u32(&s->in);
		op.op = (uint32_t)fz_below(&s->in, 12);
		fz_bytes(&s->in, &op.err, sizeof(op.err));
		call(s, fd, VFIO_EEH_PE_OP, &op, sizeof(op));
	}
}

static void step_device(struct state *s, int fd, unsigned what)
{
	uint8_t io[512];

	switch (what) {
	case 0: {
		struct vfio_device_info di = { .argsz = sizeof(di) };

		di.argsz = pick_argsz(s, sizeof(di));
		call(s, fd, VFIO_DEVICE_GET_INFO, &di, sizeof(di));
		break;
	}
	case 1: {
		struct vfio_region_info ri = { .argsz = sizeof(ri) };

		ri.argsz = pick_argsz(s, sizeof(ri));
		ri.index = (uint32_t)fz_below(&s->in, 12);
		call(s, fd, VFIO_DEVICE_GET_REGION_INFO, &ri, sizeof(ri));
		break;
	}
	case 2: {
		struct vfio_irq_info ii = { .argsz = sizeof(ii) };

		ii.argsz = pick_argsz(s, sizeof(ii));
		ii.index = (uint32_t)fz_below(&s->in, 7);
		call(s, fd, VFIO_DEVICE_GET_IRQ_INFO, &ii, sizeof(ii));
		break;
	}
	case 3: { /* SET_IRQS with eventfds, bools or nothing */
		uint8_t a[sizeof(struct vfio_irq_set) + 8 * sizeof(int32_t)];
		struct vfio_irq_set *set = (struct vfio_irq_set *)a;
		int32_t data[8];
		int efd = -1;

		memset(a, 0, sizeof(a));
		set->index = (uint32_t)fz_below(&s->in, 6);
		set->start = (uint32_t)fz_below(&s->in, 4);
		set->count = (uint32_t)fz_below(&s->in, 5);
		set->flags = (uint32_t)(1u << fz_below(&s->in, 3)) | (uint32_t)(1u << (3 + fz_below(&s->in, 3)));
		if (!fz_below(&s->in, 8))
			set->flags = fz_u32(&s->in);
		if (set->flags & VFIO_IRQ_SET_DATA_EVENTFD) {
			efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
			for (unsigned i = 0; i < 8; i++)
				data[i] = fz_below(&s->in, 3) ? efd : -1;
		} else {
			fz_bytes(&s->in, data, sizeof(data));
		}
		memcpy(a + sizeof(*set), data, sizeof(data));
		set->argsz = pick_argsz(s, (uint32_t)(sizeof(*set) + 4 * set->count));
		call(s, fd, VFIO_DEVICE_SET_IRQS, a, sizeof(a));
		if (efd >= 0)
			close(efd); /* the device keeps its own duplicate */
		break;
	}
	case 4:
		tcemu_host_ioctl(s->h, fd, VFIO_DEVICE_RESET, NULL);
		break;
	default: { /* pread / pwrite of a region */
		uint64_t off = (fz_below(&s->in, 10) << 40) + (fz_below(&s->in, 2) ? fz_below(&s->in, 0x4000) : fz_u32(&s->in));
		size_t len = (size_t)fz_below(&s->in, sizeof(io) + 1);

		if (what == 5) {
			fz_bytes(&s->in, io, len);
			tcemu_host_pwrite(s->h, fd, io, len, off);
		} else {
			tcemu_host_pread(s->h, fd, io, len, off);
		}
		break;
	}
	}
}

static void step(struct state *s)
{
	unsigned what = (unsigned)fz_below(&s->in, 24);
	int fd = pick_fd(s), fd2;
	long rc;

	switch (what) {
	case 0: /* open */
		if (tcemu_host_open(s->h, paths[fz_below(&s->in, TCEMU_ARRAY_SIZE(paths))], 2, &fd2) == 0)
			keep_fd(s, fd2);
		break;
	case 1:
		if (tcemu_host_close(s->h, fd) == 0)
			for (unsigned i = 0; i < s->nfds; i++)
				if (s->fds[i] == fd)
					s->fds[i] = s->fds[--s->nfds];
		break;
	case 2: /* dup to a number near the host's own */
		fd2 = 1000 + (int)fz_below(&s->in, 40);
		if (tcemu_host_dup(s->h, fd, fd2) == 0)
			keep_fd(s, fd2);
		break;
	case 3: /* the calling process changes (a fork, as the kernel sees the caller) */
		cur_pid = pids[fz_below(&s->in, 3)];
		break;
	case 4:
		fd2 = pick_fd(s);
		call(s, fd, VFIO_GROUP_SET_CONTAINER, &fd2, sizeof(fd2));
		break;
	case 5:
		tcemu_host_ioctl(s->h, fd, VFIO_GROUP_UNSET_CONTAINER, NULL);
		break;
	case 6: {
		struct vfio_group_status st = { .argsz = sizeof(st) };

		st.argsz = pick_argsz(s, sizeof(st));
		call(s, fd, VFIO_GROUP_GET_STATUS, &st, sizeof(st));
		break;
	}
	case 7: {
		const char *name = bdfs[fz_below(&s->in, TCEMU_ARRAY_SIZE(bdfs))];

		rc = call(s, fd, VFIO_GROUP_GET_DEVICE_FD, name, strlen(name) + 1);
		keep_fd(s, rc);
		break;
	}
	case 8: {
		static const unsigned long types[] = { 7, 2, 1, 3, 8, 0, 9 };

		tcemu_host_ioctl(s->h, fd, VFIO_SET_IOMMU,
				 (void *)(fz_below(&s->in, 8) ? types[fz_below(&s->in, 7)] : fz_u64(&s->in)));
		break;
	}
	case 9:
		tcemu_host_ioctl(s->h, fd, VFIO_CHECK_EXTENSION, (void *)(uintptr_t)fz_below(&s->in, 12));
		break;
	case 10:
		tcemu_host_ioctl(s->h, fd, fz_below(&s->in, 2) ? VFIO_IOMMU_ENABLE : VFIO_IOMMU_DISABLE, NULL);
		break;
	case 11:
	case 12:
	case 13:
	case 14:
		step_memory(s, fd, what - 11);
		break;
	case 15:
	case 16:
	case 17:
		step_window(s, fd, what - 15);
		break;
	case 18: { /* any command number near VFIO's, with raw argument bytes */
		uint8_t raw[64];

		fz_bytes(&s->in, raw, sizeof(raw));
		call(s, fd, _IO(VFIO_TYPE, VFIO_BASE + fz_below(&s->in, 30)), raw, sizeof(raw));
		break;
	}
	case 19: {
		int memfd;

		tcemu_host_region_fd(s->h, fd, fz_below(&s->in, 8) << 40, &memfd);
		break;
	}
	default:
		step_device(s, fd, what - 20 + (unsigned)fz_below(&s->in, 2) * 4);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tcemu_host_opts o = fz_host_opts();
	struct state s = { .in = { data, size } };
	char when[64];
	int rc;

	init_memory();
	cur_pid = pids[0];
	o.ops.caller_pid = caller;
	o.platform.topology_text = topology;
	rc = tcemu_host_create(&o, &s.h);
	if (rc)
		fz_fail("tcemu_host_create: %d", rc);
	for (unsigned n = 0; n < MAX_STEPS && fz_more(&s.in); n++) {
		step(&s);
		snprintf(when, sizeof(when), "after step %u", n);
		fz_check_host(s.h, TCEMU_CHECK_NO_GUEST, when);
	}
	fz_teardown(s.h, TCEMU_CHECK_NO_GUEST);
	return 0;
}
