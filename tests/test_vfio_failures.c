/* SPDX-License-Identifier: MIT */
/*
 * Failure injection: every allocation made by map, register, window creation and attach is made
 * to fail in turn (tcemu_host_fail_alloc), and each failure must leave the state exactly as it was
 * before the call: container info, windows and their entries, regions and their counts, locked
 * memory, pinned memory. The loop ends when an operation succeeds without reaching the injected
 * allocation, so every allocation point of the operation has been failed once.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/vfio.h>

#include <tcemu/host.h>

#include "fixture.h"
#include "harness.h"

#define PAGE 4096ull
#define MAXREG 8

static bool attach_four; /* setup attaches groups 0-3, so attaching group 4 grows the group array */

/* The groups that setup opens besides group 0: more[i] is /dev/vfio/<i + 1> (-1: not opened). */
struct more_groups {
	int g[5];
};
static struct more_groups more;

struct snapshot {
	struct tcemu_container_info ci;
	struct tcemu_region_info regs[MAXREG];
	ssize_t nregs;
	uint64_t locked;
	struct tcemu_memory_stats ms;
	uint64_t entries[64];
};

static void snap(struct fx_vfio *f, struct snapshot *s)
{
	memset(s, 0, sizeof(*s));
	tcemu_host_container_info(f->h, f->c, &s->ci);
	/* allocated bytes may grow by empty levels on a failed map: they change no translation */
	for (int w = 0; w < 2; w++)
		s->ci.windows[w].allocated_bytes = 0;
	s->nregs = tcemu_host_regions(f->h, getpid(), s->regs, MAXREG);
	tcemu_host_locked(f->h, getpid(), &s->locked, NULL);
	tcemu_memory_stats(tcemu_host_memory(f->h), &s->ms);
	s->ms.next_hpa = 0; /* the bump pointer may move: frames are never reused anyway */
	for (int i = 0; i < 64; i++) {
		uint64_t ua;
		tcemu_host_container_entry(f->h, f->c, (uint64_t)i * 16 * PAGE, &s->entries[i], &ua);
	}
}

static int same(const struct snapshot *a, const struct snapshot *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}

static int reg(struct fx_vfio *f, uint64_t off, uint64_t len)
{
	struct vfio_iommu_spapr_register_memory r = { .argsz = sizeof(r), .vaddr = (uintptr_t)f->mem + off, .size = len };
	return (int)tcemu_host_ioctl(f->h, f->c, VFIO_IOMMU_SPAPR_REGISTER_MEMORY, &r);
}

static int map(struct fx_vfio *f, uint64_t off, uint64_t iova, uint64_t len)
{
	struct vfio_iommu_type1_dma_map m = {
		.argsz = sizeof(m), .flags = 3, .vaddr = (uintptr_t)f->mem + off, .iova = iova, .size = len,
	};
	return (int)tcemu_host_ioctl(f->h, f->c, VFIO_IOMMU_MAP_DMA, &m);
}

/* A v2 container on group 0 (fx_vfio_attach; group 1 opened), 3 regions registered, some entries
 * mapped; with attach_four, groups 1-3 attached too and 4-5 opened. */
static int setup(struct fx_vfio *f, int type, bool keep_default)
{
	struct tcemu_host *h = NULL;

	memset(&more, 0xff, sizeof(more));
	if (tcemu_host_create(NULL, &h) || fx_vfio_attach(f, h, 0, type))
		return -1;
	f->mem = mmap(NULL, 1 << 22, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	f->mem_size = 1 << 22;
	if (f->mem == MAP_FAILED || tcemu_host_open(f->h, "/dev/vfio/1", 2, &more.g[0]))
		return -1;
	if (type == VFIO_SPAPR_TCE_IOMMU)
		return (int)tcemu_host_ioctl(f->h, f->c, VFIO_IOMMU_ENABLE, NULL);
	if (attach_four) {
		char path[32];
		for (int i = 1; i < 5; i++) {
			snprintf(path, sizeof(path), "/dev/vfio/%d", i + 1);
			if (tcemu_host_open(f->h, path, 2, &more.g[i]))
				return -1;
			if (i < 3 && tcemu_host_ioctl(f->h, more.g[i], VFIO_GROUP_SET_CONTAINER, &f->c))
				return -1;
		}
		if (tcemu_host_ioctl(f->h, more.g[0], VFIO_GROUP_SET_CONTAINER, &f->c))
			return -1;
	}
	if (!keep_default) {
		struct vfio_iommu_spapr_tce_remove rm = { .argsz = sizeof(rm) };
		struct vfio_iommu_spapr_tce_create cr = { .argsz = sizeof(cr), .page_shift = 12, .window_size = 1 << 30, .levels = 3 };
		if (tcemu_host_ioctl(f->h, f->c, VFIO_IOMMU_SPAPR_TCE_REMOVE, &rm) ||
		    tcemu_host_ioctl(f->h, f->c, VFIO_IOMMU_SPAPR_TCE_CREATE, &cr))
			return -1;
	}
	if (reg(f, 0, 64 * PAGE) || reg(f, 64 * PAGE, 64 * PAGE) || reg(f, 128 * PAGE, 64 * PAGE))
		return -1;
	if (!keep_default && map(f, 0, 0, 32 * PAGE))
		return -1;
	return 0;
}

typedef int (*op_fn)(struct fx_vfio *f);

/* Fails allocation 1, 2, ... of op until it succeeds untouched; checks each failure changed nothing. */
static int inject(op_fn op, int type, bool keep_default, unsigned *failures)
{
	*failures = 0;
	for (uint64_t n = 1; n < 1000; n++) {
		struct fx_vfio f;
		struct snapshot before, after;
		int rc;

		if (setup(&f, type, keep_default))
			return -1;
		snap(&f, &before);
		tcemu_host_fail_alloc(f.h, n);
		rc = op(&f);
		uint64_t counted = tcemu_host_fail_alloc(f.h, 0);
		if (rc == -ENOMEM) {
			(*failures)++;
			snap(&f, &after);
			if (!same(&before, &after)) {
				fprintf(stderr, "  allocation %llu: state changed by a failed call\n", (unsigned long long)n);
				fx_vfio_destroy(&f);
				return -2;
			}
		} else if (rc != 0) {
			fprintf(stderr, "  allocation %llu: unexpected %d\n", (unsigned long long)n, rc);
			fx_vfio_destroy(&f);
			return -3;
		}
		fx_vfio_destroy(&f);
		if (rc == 0 && counted < n)
			return 0; /* every allocation point has failed once */
	}
	return -4;
}

/* MAP over three regions, replacing valid entries. */
static int op_map_v2(struct fx_vfio *f)
{
	return map(f, 16 * PAGE, 0, 160 * PAGE);
}

static int op_register(struct fx_vfio *f)
{
	return reg(f, 512 * PAGE, 64 * PAGE);
}

static int op_create(struct fx_vfio *f)
{
	struct vfio_iommu_spapr_tce_create cr = { .argsz = sizeof(cr), .page_shift = 16, .window_size = 1ull << 36, .levels = 2 };
	return (int)tcemu_host_ioctl(f->h, f->c, VFIO_IOMMU_SPAPR_TCE_CREATE, &cr);
}

/* The first MAP builds the pending default window. */
static int op_map_default(struct fx_vfio *f)
{
	return map(f, 0, 0x10000, 8 * PAGE);
}

static int op_map_v1(struct fx_vfio *f)
{
	return map(f, 0, 0x100000, 40 * PAGE);
}

/* Groups 0-3 attached: attaching group 4 (on the IODA2 PHB) grows the container's group array. */
static int op_attach(struct fx_vfio *f)
{
	return (int)tcemu_host_ioctl(f->h, more.g[3], VFIO_GROUP_SET_CONTAINER, &f->c);
}

#define INJECT_TEST(name, op, type, keep)                                                          \
	TEST(name)                                                                                 \
	{                                                                                          \
		unsigned failures;                                                                 \
		CHECK_EQ(inject(op, type, keep, &failures), 0);                                    \
		CHECK(failures >= 1); /* the operation does allocate: the test reached it */       \
	}

INJECT_TEST(map_v2_over_three_regions, op_map_v2, VFIO_SPAPR_TCE_v2_IOMMU, false)
INJECT_TEST(register_memory, op_register, VFIO_SPAPR_TCE_v2_IOMMU, false)
INJECT_TEST(tce_create, op_create, VFIO_SPAPR_TCE_v2_IOMMU, false)
INJECT_TEST(map_builds_default_window, op_map_default, VFIO_SPAPR_TCE_v2_IOMMU, true)
INJECT_TEST(map_v1_pins, op_map_v1, VFIO_SPAPR_TCE_IOMMU, false)
TEST(attach_fifth_group)
{
	unsigned failures;

	attach_four = true;
	int rc = inject(op_attach, VFIO_SPAPR_TCE_v2_IOMMU, false, &failures);
	attach_four = false;
	CHECK_EQ(rc, 0);
	CHECK(failures >= 1);
}

HARNESS_MAIN(T(map_v2_over_three_regions), T(register_memory), T(tce_create), T(map_builds_default_window),
	     T(map_v1_pins), T(attach_fifth_group))
