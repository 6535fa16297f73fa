/* SPDX-License-Identifier: MIT */
/*
 * Devices against the VMM, the IOMMU and EEH, in threads (run under ThreadSanitizer in CI): a
 * device model's DMA (tcemu_model_dma_read/write, what the virtio models do for every ring and
 * buffer access) while the VMM unmaps and maps its memory, while the PE is frozen, unfrozen and
 * reset, and while a guest's hypercalls change the TCEs and the device is reset.
 *
 * What must hold: every DMA either completes or faults (-EIO, the PE frozen), never anything
 * else; after UNMAP_DMA returns, the device touches that page no more (the VMM thread protects
 * each page it unmapped PROT_NONE until it maps it again: a late access would crash the test);
 * after the run the host's and the guest's invariants hold (vfio/check.h), and recovery works.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <linux/vfio.h>

#include <tcemu/devmodel.h>
#include <tcemu/guest.h>
#include <tcemu/host.h>

#include "harness.h"
#include "vfio/check.h"

#define PAGE 4096ull
#define NPAGES 64
#define IOVA 0x1000000ull
#define LIOBN 0x80000000u
#define RUN_NS 500000000ll /* each race runs this long ... */
#define MAX_ROUNDS 1000000u /* ... or this many rounds of its controller, whichever comes first */
#define BDF "0000:01:00.0"

static const char topology[] =
	"phb 0 ioda3\n"
	"  pe 1 group=0\n"
	"    device " BDF " model=virtio-net\n";

struct race {
	struct tcemu_host *h;
	struct tcemu_model *m;
	struct tcemu_guest *g;
	int c, grp, dev;
	uint64_t bus;   /* the device's memory starts here */
	uint8_t *mem;
	atomic_int stop;
	atomic_ulong ok, faults;
	atomic_long unexpected; /* the first DMA result that is neither 0 nor -EIO */
	unsigned long rounds;
};

static long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000l + ts.tv_nsec;
}

static uint64_t next(uint64_t *seed)
{
	*seed ^= *seed << 13, *seed ^= *seed >> 7, *seed ^= *seed << 17;
	return *seed;
}

static long eeh(struct race *r, uint32_t op)
{
	struct vfio_eeh_pe_op o = { .argsz = sizeof(o), .op = op };

	return tcemu_host_ioctl(r->h, r->c, VFIO_EEH_PE_OP, &o);
}

static void thaw(struct race *r)
{
	eeh(r, VFIO_EEH_PE_UNFREEZE_IO);
	eeh(r, VFIO_EEH_PE_UNFREEZE_DMA);
}

static long map(struct race *r, uint64_t page, uint32_t flags)
{
	struct vfio_iommu_type1_dma_map m = {
		.argsz = sizeof(m), .flags = flags, .vaddr = (uintptr_t)r->mem + page * PAGE,
		.iova = IOVA + page * PAGE, .size = PAGE,
	};
	return tcemu_host_ioctl(r->h, r->c, VFIO_IOMMU_MAP_DMA, &m);
}

static long unmap(struct race *r, uint64_t page)
{
	struct vfio_iommu_type1_dma_unmap u = { .argsz = sizeof(u), .iova = IOVA + page * PAGE, .size = PAGE };

	return tcemu_host_ioctl(r->h, r->c, VFIO_IOMMU_UNMAP_DMA, &u);
}

/* A host with the virtio-net model, a v2 container on its group, NPAGES registered. */
static int race_open(struct race *r)
{
	struct tcemu_host_opts o = { .memlock_set = true, .memlock = UINT64_MAX };
	struct vfio_iommu_spapr_register_memory reg = { .argsz = sizeof(reg), .size = NPAGES * PAGE };
	long fd;

	memset(r, 0, sizeof(*r));
	o.platform.topology_text = topology;
	r->mem = mmap(NULL, NPAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (r->mem == MAP_FAILED || tcemu_host_create(&o, &r->h))
		return -1;
	r->m = tcemu_host_model(r->h, BDF);
	reg.vaddr = (uintptr_t)r->mem;
	r->bus = IOVA;
	if (!r->m || tcemu_host_open(r->h, "/dev/vfio/vfio", 2, &r->c) ||
	    tcemu_host_open(r->h, "/dev/vfio/0", 2, &r->grp) ||
	    tcemu_host_ioctl(r->h, r->grp, VFIO_GROUP_SET_CONTAINER, &r->c) ||
	    tcemu_host_ioctl(r->h, r->c, VFIO_SET_IOMMU, (void *)VFIO_SPAPR_TCE_v2_IOMMU) ||
	    tcemu_host_ioctl(r->h, r->c, VFIO_IOMMU_SPAPR_REGISTER_MEMORY, &reg))
		return -1;
	fd = tcemu_host_ioctl(r->h, r->grp, VFIO_GROUP_GET_DEVICE_FD, BDF);
	if (fd < 0)
		return -1;
	r->dev = (int)fd;
	return 0;
}

static void race_close(struct race *r)
{
	char why[512];

	if (tcemu_host_check_invariants(r->h, r->g ? 0 : TCEMU_CHECK_NO_GUEST, why, sizeof(why)))
		HARNESS_FAIL("host invariants after the run: %s", why);
	if (r->g && tcemu_guest_check_invariants(r->g, why, sizeof(why)))
		HARNESS_FAIL("guest invariants after the run: %s", why);
	tcemu_guest_destroy(r->g);
	tcemu_host_close_all(r->h);
	if (tcemu_host_check_invariants(r->h, TCEMU_CHECK_NO_GUEST | TCEMU_CHECK_TEARDOWN, why, sizeof(why)))
		HARNESS_FAIL("host invariants at teardown: %s", why);
	tcemu_host_destroy(r->h);
	munmap(r->mem, NPAGES * PAGE);
}

/* The device: DMA writes and reads of up to two pages at random places of its memory. */
static void *device(void *arg)
{
	struct race *r = arg;
	uint64_t seed = 0x9e3779b97f4a7c15ull ^ (uintptr_t)&seed;
	uint8_t buf[2 * PAGE];

	memset(buf, 0xa5, sizeof(buf));
	while (!atomic_load(&r->stop)) {
		uint64_t rnd = next(&seed), bus = r->bus + (rnd % (NPAGES * PAGE - 512));
		size_t len = 1 + (size_t)((rnd >> 32) % 512);
		int rc = (rnd >> 60) & 1 ? tcemu_model_dma_write(r->m, bus, buf, len) : tcemu_model_dma_read(r->m, bus, buf, len);

		if (rc == 0) {
			atomic_fetch_add(&r->ok, 1);
		} else if (rc == -EIO) {
			atomic_fetch_add(&r->faults, 1);
			sched_yield(); /* frozen until the controller thaws it */
		} else {
			long none = 0;

			atomic_compare_exchange_strong(&r->unexpected, &none, rc);
		}
	}
	return NULL;
}

static void race_run(struct race *r, void (*controller)(struct race *, uint64_t *))
{
	struct harness_threads th = { .stop = (int *)&r->stop };
	uint64_t seed = 12345;
	long end = now_ns() + RUN_NS;

	harness_thread_start(&th, device, r);
	for (r->rounds = 0; r->rounds < MAX_ROUNDS && now_ns() < end; r->rounds++)
		controller(r, &seed);
	harness_threads_join(&th);
	if (atomic_load(&r->unexpected))
		HARNESS_FAIL("a DMA returned %ld", (long)atomic_load(&r->unexpected));
}

/* The VMM unmaps a page, protects it, unprotects it and maps it again; thaws the PE when frozen. */
static void vmm_unmaps(struct race *r, uint64_t *seed)
{
	uint64_t p = next(seed) % NPAGES;

	if (unmap(r, p) != 0)
		HARNESS_FAIL("UNMAP_DMA of page %llu", (unsigned long long)p);
	/* from here the device must not touch the page: any access would crash */
	if (mprotect(r->mem + p * PAGE, PAGE, PROT_NONE))
		HARNESS_FAIL("mprotect");
	sched_yield();
	if (mprotect(r->mem + p * PAGE, PAGE, PROT_READ | PROT_WRITE) || map(r, p, 3) != 0)
		HARNESS_FAIL("map back page %llu", (unsigned long long)p);
	if (tcemu_model_frozen(r->m))
		thaw(r);
}

TEST(dma_while_the_vmm_unmaps)
{
	struct race r;

	CHECK_EQ(race_open(&r), 0);
	for (uint64_t p = 0; p < NPAGES; p++)
		CHECK_EQ(map(&r, p, 3), 0);
	race_run(&r, vmm_unmaps);
	CHECK(atomic_load(&r.ok) > 0);
	race_close(&r);
}

/* EEH: freezes (an injected error), thaws, PE resets, in a random order. */
static void eeh_storm(struct race *r, uint64_t *seed)
{
	static const uint32_t ops[] = { VFIO_EEH_PE_INJECT_ERR, VFIO_EEH_PE_UNFREEZE_IO, VFIO_EEH_PE_UNFREEZE_DMA,
					VFIO_EEH_PE_RESET_HOT, VFIO_EEH_PE_RESET_DEACTIVATE, VFIO_EEH_PE_CONFIGURE };
	struct vfio_eeh_pe_op o = { .argsz = sizeof(o), .op = ops[next(seed) % 6] };

	tcemu_host_ioctl(r->h, r->c, VFIO_EEH_PE_OP, &o);
	if (next(seed) % 4 == 0)
		thaw(r);
}

TEST(eeh_freeze_during_dma)
{
	struct race r;
	uint8_t b[64];

	CHECK_EQ(race_open(&r), 0);
	for (uint64_t p = 0; p < NPAGES; p++)
		CHECK_EQ(map(&r, p, 3), 0);
	race_run(&r, eeh_storm);
	CHECK(atomic_load(&r.faults) > 0);
	/* recovery: out of reset, thawed, the device works again */
	eeh(&r, VFIO_EEH_PE_RESET_DEACTIVATE);
	eeh(&r, VFIO_EEH_PE_CONFIGURE);
	thaw(&r);
	CHECK(!tcemu_model_frozen(r.m));
	CHECK_EQ(tcemu_model_dma_write(r.m, IOVA, b, sizeof(b)), 0);
	race_close(&r);
}

/*
 * A guest maps and clears its pages with hypercalls (the fast path into the container) while the
 * device is reset through VFIO and re-enabled, and its DMA faults and is thawed.
 */
static void guest_and_resets(struct race *r, uint64_t *seed)
{
	uint64_t rnd = next(seed), ioba = (rnd % NPAGES) * PAGE;
	uint64_t a[4] = { LIOBN, ioba, ((rnd >> 8) % NPAGES) * PAGE | ((rnd >> 40) % 4) };
	uint16_t cmd = 0x6;

	switch ((rnd >> 20) % 8) {
	case 0:
		tcemu_host_ioctl(r->h, r->dev, VFIO_DEVICE_RESET, NULL);
		tcemu_host_pwrite(r->h, r->dev, &cmd, 2, ((uint64_t)VFIO_PCI_CONFIG_REGION_INDEX << 40) + 4);
		break;
	case 1:
		a[3] = 1 + (rnd >> 48) % NPAGES;
		if (a[1] / PAGE + a[3] > NPAGES)
			a[3] = NPAGES - a[1] / PAGE;
		a[2] = 0;
		tcemu_guest_hcall(r->g, TCEMU_H_STUFF_TCE, a, NULL);
		break;
	default:
		if (tcemu_guest_hcall(r->g, TCEMU_H_PUT_TCE, a, NULL) != TCEMU_H_SUCCESS)
			HARNESS_FAIL("H_PUT_TCE 0x%llx at 0x%llx", (unsigned long long)a[2], (unsigned long long)ioba);
		break;
	}
	if (tcemu_model_frozen(r->m))
		thaw(r);
}

TEST(hypercalls_during_device_resets)
{
	struct race r;
	struct vfio_iommu_spapr_tce_remove rm = { .argsz = sizeof(rm) };
	struct vfio_iommu_spapr_tce_create cr = {
		.argsz = sizeof(cr), .page_shift = 12, .window_size = 1ull << 30, .levels = 2,
	};
	char why[512];

	CHECK_EQ(race_open(&r), 0);
	r.bus = 0; /* the guest's window: its RAM (the device's memory) at guest physical 0 */
	CHECK_EQ(tcemu_host_ioctl(r.h, r.c, VFIO_IOMMU_SPAPR_TCE_REMOVE, &rm), 0);
	CHECK_EQ(tcemu_host_ioctl(r.h, r.c, VFIO_IOMMU_SPAPR_TCE_CREATE, &cr), 0);
	CHECK_EQ(tcemu_guest_create(r.h, &r.g), 0);
	CHECK_EQ(tcemu_guest_add_ram(r.g, 0, NPAGES * PAGE, r.mem), 0);
	CHECK_EQ(tcemu_guest_create_window(r.g, LIOBN, 12, 0, (1ull << 30) >> 12), 0);
	CHECK_EQ(tcemu_guest_link(r.g, LIOBN, r.c), 0);
	race_run(&r, guest_and_resets);
	if (atomic_load(&r.ok) == 0)
		HARNESS_FAIL("no DMA completed: %lu faults in %lu rounds", atomic_load(&r.faults), r.rounds);
	if (tcemu_guest_check_invariants(r.g, why, sizeof(why)))
		HARNESS_FAIL("%s", why);
	race_close(&r);
}

HARNESS_MAIN(T(dma_while_the_vmm_unmaps), T(eeh_freeze_during_dma), T(hypercalls_during_device_resets))
