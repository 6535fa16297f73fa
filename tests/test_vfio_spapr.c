/* SPDX-License-Identifier: MIT */
/*
 * Conformance tests of the sPAPR TCE IOMMU backend (v1 and v2) against
 * ../shared/spec/vfio-spapr-abi.md: the generic ioctl rules (section 1), the mode rules
 * (section 3), every ioctl's checks in order (section 4), v1 against v2 (section 5),
 * pre-registration (section 6), the default window (section 7), window geometry, and the
 * differences from the kernel (section 10).
 *
 * Check-order tests violate two rules at once and assert that the earlier rule wins. When both
 * rules give the same errno, the test asserts a side effect that only the earlier rule leaves
 * (for example the default window still pending because the call stopped before building it).
 *
 * Only the calling process is involved: fork/EPERM, several groups, devices and EEH are tested
 * elsewhere.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/vfio.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <tcemu/host.h>
#include <tcemu/platform.h>
#include <tcemu/table.h>

#include "harness.h"

#define KiB (1ull << 10)
#define MiB (1ull << 20)
#define GiB (1ull << 30)
#define W1 0x0800000000000000ull /* slot 1 start, bit 59 */
#define TR 0x1ull                 /* TCE READ */
#define TW 0x2ull                 /* TCE WRITE */
#define V1 VFIO_SPAPR_TCE_IOMMU
#define V2 VFIO_SPAPR_TCE_v2_IOMMU
#define PGS_IODA3 ((1ull << 12) | (1ull << 16) | (1ull << 21) | (1ull << 30))
#define PGS_IODA2 ((1ull << 12) | (1ull << 16) | (1ull << 24) | (1ull << 28))
#define DEF_ACCT (8 * MiB) /* 2 GiB of 4 KiB pages, one level: 4 MiB table, twice */

/* ---- hosts: every host is destroyed at the end of its test or, if a check failed, at exit ---- */

static struct tcemu_host *live_hosts[256];

static void destroy_leftovers(void)
{
	for (size_t i = 0; i < 256; i++)
		if (live_hosts[i])
			tcemu_host_destroy(live_hosts[i]);
}

static struct tcemu_host_opts opts_default(void)
{
	struct tcemu_host_opts o;

	memset(&o, 0, sizeof(o));
	o.memlock_set = true;
	o.memlock = UINT64_MAX;
	return o;
}

static struct tcemu_host *host_new(const struct tcemu_host_opts *o)
{
	static bool registered;
	struct tcemu_host *h = NULL;

	if (!registered) {
		atexit(destroy_leftovers);
		registered = true;
	}
	if (tcemu_host_create(o, &h))
		return NULL;
	for (size_t i = 0; i < 256; i++)
		if (!live_hosts[i]) {
			live_hosts[i] = h;
			break;
		}
	return h;
}

static void host_done(struct tcemu_host *h)
{
	for (size_t i = 0; i < 256; i++)
		if (live_hosts[i] == h)
			live_hosts[i] = NULL;
	tcemu_host_destroy(h);
}

/* ---- fixture: one container with one group ---- */

struct fx {
	struct tcemu_host *h;
	int c, g;
};

/* Opens a container and group `group` in h, attaches the group and sets `type` (0: no type). */
static long fx_attach(struct tcemu_host *h, unsigned group, int type, struct fx *f)
{
	char path[32];
	long rc;

	f->h = h;
	f->c = f->g = -1;
	if (!h)
		return -ENOMEM;
	rc = tcemu_host_open(h, "/dev/vfio/vfio", O_RDWR, &f->c);
	if (rc)
		return rc;
	snprintf(path, sizeof(path), "/dev/vfio/%u", group);
	rc = tcemu_host_open(h, path, O_RDWR, &f->g);
	if (rc)
		return rc;
	rc = tcemu_host_ioctl(h, f->g, VFIO_GROUP_SET_CONTAINER, &f->c);
	if (rc)
		return rc;
	return type ? tcemu_host_ioctl(h, f->c, VFIO_SET_IOMMU, (void *)(uintptr_t)type) : 0;
}

static long fx_open_opts(struct fx *f, const struct tcemu_host_opts *o, unsigned group, int type)
{
	return fx_attach(host_new(o), group, type, f);
}

static long fx_open(struct fx *f, unsigned group, int type)
{
	struct tcemu_host_opts o = opts_default();

	return fx_open_opts(f, &o, group, type);
}

static long fx_open_limit(struct fx *f, uint64_t limit, unsigned group, int type)
{
	struct tcemu_host_opts o = opts_default();

	o.memlock = limit;
	return fx_open_opts(f, &o, group, type);
}

static long fx_open_topo(struct fx *f, const char *topo, unsigned group, int type)
{
	struct tcemu_host_opts o = opts_default();

	o.platform.topology_text = topo;
	return fx_open_opts(f, &o, group, type);
}

static void fx_close(struct fx *f)
{
	if (f->g >= 0)
		tcemu_host_close(f->h, f->g);
	if (f->c >= 0)
		tcemu_host_close(f->h, f->c);
	f->g = f->c = -1;
}

/* ---- ioctl wrappers ---- */

static long ioc(struct fx *f, unsigned long cmd, void *arg)
{
	return tcemu_host_ioctl(f->h, f->c, cmd, arg);
}

static long reg(struct fx *f, const void *va, uint64_t size)
{
	struct vfio_iommu_spapr_register_memory r = { sizeof(r), 0, (uintptr_t)va, size };

	return ioc(f, VFIO_IOMMU_SPAPR_REGISTER_MEMORY, &r);
}

static long unreg(struct fx *f, const void *va, uint64_t size)
{
	struct vfio_iommu_spapr_register_memory r = { sizeof(r), 0, (uintptr_t)va, size };

	return ioc(f, VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY, &r);
}

static long map(struct fx *f, const void *va, uint64_t iova, uint64_t size, uint32_t flags)
{
	struct vfio_iommu_type1_dma_map m = { sizeof(m), flags, (uintptr_t)va, iova, size };

	return ioc(f, VFIO_IOMMU_MAP_DMA, &m);
}

static long map_rw(struct fx *f, const void *va, uint64_t iova, uint64_t size)
{
	return map(f, va, iova, size, VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE);
}

static long unmap(struct fx *f, uint64_t iova, uint64_t size)
{
	struct vfio_iommu_type1_dma_unmap u = { sizeof(u), 0, iova, size };

	return ioc(f, VFIO_IOMMU_UNMAP_DMA, &u);
}

static long create(struct fx *f, uint32_t ps, uint64_t ws, uint32_t levels, uint64_t *start)
{
	struct vfio_iommu_spapr_tce_create cr;
	long rc;

	memset(&cr, 0, sizeof(cr));
	cr.argsz = sizeof(cr);
	cr.page_shift = ps;
	cr.window_size = ws;
	cr.levels = levels;
	cr.start_addr = 0xdeadbeef;
	rc = ioc(f, VFIO_IOMMU_SPAPR_TCE_CREATE, &cr);
	if (start)
		*start = cr.start_addr;
	return rc;
}

static long remove_win(struct fx *f, uint64_t start)
{
	struct vfio_iommu_spapr_tce_remove rm = { sizeof(rm), 0, start };

	return ioc(f, VFIO_IOMMU_SPAPR_TCE_REMOVE, &rm);
}

static long enable(struct fx *f)
{
	return ioc(f, VFIO_IOMMU_ENABLE, NULL);
}

/* ---- introspection wrappers ---- */

static struct tcemu_container_info cinfo(struct fx *f)
{
	struct tcemu_container_info ci;

	memset(&ci, 0xee, sizeof(ci));
	if (tcemu_host_container_info(f->h, f->c, &ci))
		memset(&ci, 0xee, sizeof(ci));
	return ci;
}

static uint64_t locked(struct tcemu_host *h)
{
	uint64_t l = UINT64_MAX;

	tcemu_host_locked(h, getpid(), &l, NULL);
	return l;
}

static ssize_t nregions(struct tcemu_host *h)
{
	return tcemu_host_regions(h, getpid(), NULL, 0);
}

/* The region starting at ua, or a zeroed one (size 0) if there is none. */
static struct tcemu_region_info region_at(struct tcemu_host *h, const void *ua)
{
	struct tcemu_region_info ri[32], none;
	ssize_t n = tcemu_host_regions(h, getpid(), ri, 32);

	memset(&none, 0, sizeof(none));
	for (ssize_t i = 0; i < n && i < 32; i++)
		if (ri[i].ua == (uintptr_t)ua)
			return ri[i];
	return none;
}

/* The entry at iova (0 when unset or on error); *ua gets its user address. */
static uint64_t tce_at(struct fx *f, uint64_t iova, uint64_t *ua)
{
	uint64_t tce = 0, u = 0;

	if (tcemu_host_container_entry(f->h, f->c, iova, &tce, &u))
		tce = u = 0;
	if (ua)
		*ua = u;
	return tce;
}

/*
 * After a call that failed once it had built the pending default window, the window is either
 * kept (present, charged) or put back (pending, not charged): never half of each.
 */
static bool default_window_consistent(struct fx *f, uint64_t other_locked)
{
	struct tcemu_container_info ci = cinfo(f);

	if (ci.windows[0].present)
		return !ci.windows[0].pending && ci.windows[0].valid_entries == 0 &&
		       locked(f->h) == other_locked + DEF_ACCT;
	return ci.windows[0].pending && locked(f->h) == other_locked;
}

static bool is_default_window(const struct tcemu_window_info *w, uint64_t size)
{
	return w->present && !w->pending && w->start == 0 && w->size == size && w->page_shift == 12 &&
	       w->levels == 1;
}

/* Nothing left charged, registered or mapped anywhere in the host. */
static bool host_is_clean(struct tcemu_host *h)
{
	struct tcemu_host_stats st;

	tcemu_host_stats(h, &st);
	return locked(h) == 0 && nregions(h) == 0 && st.locked_bytes == 0 && st.entries_mapped == 0 &&
	       st.regions_registered == 0;
}

/* ---- user memory ---- */

/* Anonymous memory of `size` bytes aligned to `align` (a power of two), never freed. */
static uint8_t *umem_aligned(uint64_t size, uint64_t align, int prot)
{
	uint8_t *p = mmap(NULL, size + align, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	return (uint8_t *)(((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1));
}

static uint8_t *umem(uint64_t size)
{
	return umem_aligned(size, 2 * MiB, PROT_READ | PROT_WRITE);
}

/* A v2 container on group 0 with 1 MiB registered at *mem (enabled, owner recorded). */
static long fx_v2_ready(struct fx *f, uint8_t **mem)
{
	long rc = fx_open(f, 0, V2);

	*mem = umem(MiB);
	if (rc || !*mem)
		return rc ? rc : -ENOMEM;
	return reg(f, *mem, MiB);
}

/* A v1 container on group 0, enabled. */
static long fx_v1_ready(struct fx *f)
{
	long rc = fx_open(f, 0, V1);

	return rc ? rc : enable(f);
}

/* ======================= section 1: generic rules ======================= */

struct sized_call {
	unsigned long cmd;
	uint32_t minsz;
};

static const struct sized_call v2_struct_calls[] = {
	{ VFIO_IOMMU_SPAPR_TCE_GET_INFO, 16 },   { VFIO_IOMMU_MAP_DMA, 32 },
	{ VFIO_IOMMU_UNMAP_DMA, 24 },            { VFIO_IOMMU_SPAPR_REGISTER_MEMORY, 24 },
	{ VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY, 24 }, { VFIO_IOMMU_SPAPR_TCE_CREATE, 40 },
	{ VFIO_IOMMU_SPAPR_TCE_REMOVE, 16 },     { VFIO_EEH_PE_OP, 12 },
};

/* Arguments that would succeed, for each struct command (argsz left to the caller). */
static void fill_valid(unsigned long cmd, void *buf, const uint8_t *mem, const uint8_t *other)
{
	memset(buf, 0, 64);
	if (cmd == VFIO_IOMMU_MAP_DMA)
		*(struct vfio_iommu_type1_dma_map *)buf = (struct vfio_iommu_type1_dma_map){
			0, VFIO_DMA_MAP_FLAG_READ, (uintptr_t)mem, 0, 4096 };
	else if (cmd == VFIO_IOMMU_UNMAP_DMA)
		*(struct vfio_iommu_type1_dma_unmap *)buf = (struct vfio_iommu_type1_dma_unmap){ 0, 0, 0, 4096 };
	else if (cmd == VFIO_IOMMU_SPAPR_REGISTER_MEMORY)
		*(struct vfio_iommu_spapr_register_memory *)buf =
			(struct vfio_iommu_spapr_register_memory){ 0, 0, (uintptr_t)other, MiB };
	else if (cmd == VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY)
		*(struct vfio_iommu_spapr_register_memory *)buf =
			(struct vfio_iommu_spapr_register_memory){ 0, 0, (uintptr_t)mem, MiB };
	else if (cmd == VFIO_IOMMU_SPAPR_TCE_CREATE)
		*(struct vfio_iommu_spapr_tce_create *)buf = (struct vfio_iommu_spapr_tce_create){
			.page_shift = 16, .window_size = GiB, .levels = 1 };
	else if (cmd == VFIO_IOMMU_SPAPR_TCE_REMOVE)
		*(struct vfio_iommu_spapr_tce_remove *)buf = (struct vfio_iommu_spapr_tce_remove){ 0, 0, 0 };
	else if (cmd == VFIO_EEH_PE_OP)
		*(struct vfio_eeh_pe_op *)buf = (struct vfio_eeh_pe_op){ .op = VFIO_EEH_PE_GET_STATE };
}

TEST(generic_argsz_below_minsz_einval)
{
	struct fx f;
	uint8_t *mem, *other = umem(MiB);
	uint64_t buf[8];

	CHECK_EQ(fx_v2_ready(&f, &mem), 0);
	for (size_t i = 0; i < sizeof(v2_struct_calls) / sizeof(v2_struct_calls[0]); i++) {
		const uint32_t sizes[] = { 0, 4, 8, v2_struct_calls[i].minsz - 1 };

		for (size_t k = 0; k < 4; k++) {
			fill_valid(v2_struct_calls[i].cmd, buf, mem, other);
			*(uint32_t *)buf = sizes[k];
			CHECK_EQ(ioc(&f, v2_struct_calls[i].cmd, buf), -EINVAL);
		}
	}
	/* Nothing happened: no region added or removed, no map, no window built or cancelled. */
	CHECK_EQ(nregions(f.h), 1);
	CHECK_EQ(cinfo(&f).nregions, 1);
	CHECK(cinfo(&f).windows[0].pending);
	CHECK(!cinfo(&f).windows[1].present);
	CHECK_EQ(region_at(f.h, mem).mapped, 0);
	fx_close(&f);
	host_done(f.h);
}

TEST(generic_argsz_exactly_minsz_accepted)
{
	struct fx f;
	uint8_t *mem, *other = umem(MiB);
	struct vfio_iommu_spapr_tce_info info;
	struct vfio_iommu_type1_dma_map m = { 32, VFIO_DMA_MAP_FLAG_READ, 0, 0, 4096 };
	struct vfio_iommu_type1_dma_unmap um = { 24, 0, 0, 4096 };
	struct vfio_iommu_spapr_register_memory r = { 24, 0, 0, MiB };
	struct vfio_iommu_spapr_tce_create cr;
	struct vfio_iommu_spapr_tce_remove rm = { 16, 0, W1 };
	struct vfio_eeh_pe_op eeh;

	CHECK_EQ(fx_v2_ready(&f, &mem), 0);
	memset(&info, 0, sizeof(info));
	info.argsz = 16;
	CHECK_EQ(ioc(&f, VFIO_IOMMU_SPAPR_TCE_GET_INFO, &info), 0);
	CHECK_U64(info.dma32_window_size, 2 * GiB);
	m.vaddr = (uintptr_t)mem;
	CHECK_EQ(ioc(&f, VFIO_IOMMU_MAP_DMA, &m), 0);
	CHECK_U64(tce_at(&f, 0, NULL) & 3, TR);
	CHECK_EQ(ioc(&f, VFIO_IOMMU_UNMAP_DMA, &um), 0);
	CHECK_U64(tce_at(&f, 0, NULL), 0);
	r.vaddr = (uintptr_t)other;
	CHECK_EQ(ioc(&f, VFIO_IOMMU_SPAPR_REGISTER_MEMORY, &r), 0);
	CHECK_EQ(nregions(f.h), 2);
	CHECK_EQ(ioc(&f, VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY, &r), 0);
	CHECK_EQ(nregions(f.h), 1);
	memset(&cr, 0, sizeof(cr));
	cr.argsz = 40;
	cr.page_shift = 16;
	cr.window_size = GiB;
	cr.levels = 1;
	CHECK_EQ(ioc(&f, VFIO_IOMMU_SPAPR_TCE_CREATE, &cr), 0);
	CHECK_U64(cr.start_addr, W1);
	CHECK_EQ(ioc(&f, VFIO_IOMMU_SPAPR_TCE_REMOVE, &rm), 0);
	CHECK(!cinfo(&f).windows[1].present);
	memset(&eeh, 0, sizeof(eeh));
	eeh.argsz = 12;
	eeh.op = VFIO_EEH_PE_GET_STATE;
	CHECK(ioc(&f, VFIO_EEH_PE_OP, &eeh) >= 0);
	fx_close(&f);
	host_done(f.h);
}

/* argsz above the struct: only the struct is read and written back, the rest is left alone. */
TEST(generic_argsz_larger_than_struct)
{
	struct fx f;
	uint8_t *mem;
	uint8_t buf[96];
	struct vfio_iommu_spapr_tce_info *info = (void *)buf;
	struct vfio_iommu_type1_dma_map m = { 4096, VFIO_DMA_MAP_FLAG_READ, 0, 0, 4096 };

	CHECK_EQ(fx_v2_ready(&f, &mem), 0);
	memset(buf, 0xab, sizeof(buf));
	info->argsz = sizeof(buf);
	info->flags = 0;
	CHECK_EQ(ioc(&f, VFIO_IOMMU_SPAPR_TCE_GET_INFO, buf), 0);
	CHECK_U64(info->ddw.pgsizes, PGS_IODA3);
	for (size_t i = 32; i < sizeof(buf); i++)
		CHECK_EQ(buf[i], 0xab);
	m.vaddr = (uintptr_t)mem;
	CHECK_EQ(ioc(&f, VFIO_IOMMU_MAP_DMA, &m), 0);
	CHECK(tce_at(&f, 0, NULL) != 0);
	fx_close(&f);
	host_done(f.h);
}

TEST(generic_unknown_flags_einval)
{
	struct fx f;
	uint8_t *mem, *other = umem(MiB);
	const uint32_t bad[] = { 1u << 2, 1u << 31 };
	uint64_t before = 0;

	CHECK_EQ(fx_v2_ready(&f, &mem), 0);
	CHECK_EQ(map_rw(&f, mem, 0, 4096), 0);
	before = tce_at(&f, 0, NULL);
	for (size_t i = 0; i < 2; i++) {
		struct vfio_iommu_type1_dma_map m = { sizeof(m), VFIO_DMA_MAP_FLAG_READ | bad[i], (uintptr_t)mem + 4096,
						     4096, 4096 };
		struct vfio_iommu_type1_dma_unmap um = { sizeof(um), bad[i] >> 2, 0, 4096 };
		struct vfio_iommu_spapr_register_memory r = { sizeof(r), bad[i] >> 2, (uintptr_t)other, MiB };
		struct vfio_iommu_spapr_register_memory ur = { sizeof(ur), bad[i] >> 2, (uintptr_t)mem, MiB };
		struct vfio_iommu_spapr_tce_create cr = { .argsz = sizeof(cr), .flags = bad[i] >> 2, .page_shift = 16,
							  .window_size = GiB, .levels = 1 };
		struct vfio_iommu_spapr_tce_remove rm = { sizeof(rm), bad[i] >> 2, 0 };
		struct vfio_eeh_pe_op eeh = { .argsz = sizeof(eeh), .flags = bad[i] >> 2, .op = VFIO_EEH_PE_GET_STATE };

		CHECK_EQ(ioc(&f, VFIO_IOMMU_MAP_DMA, &m), -EINVAL);
		CHECK_EQ(ioc(&f, VFIO_IOMMU_UNMAP_DMA, &um), -EINVAL);
		CHECK_EQ(ioc(&f, VFIO_IOMMU_SPAPR_REGISTER_MEMORY, &r), -EINVAL);
		CHECK_EQ(ioc(&f, VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY, &ur), -EINVAL);
		CHECK_EQ(ioc(&f, VFIO_IOMMU_SPAPR_TCE_CREATE, &cr), -EINVAL);
		CHECK_EQ(ioc(&f, VFIO_IOMMU_SPAPR_TCE_REMOVE, &rm), -EINVAL);
		CHECK_EQ(ioc(&f, VFIO_EEH_PE_OP, &eeh), -EINVAL);
	}
	/* None of them did anything. */
	CHECK_U64(tce_at(&f, 0, NULL), before);
	CHECK_U64(tce_at(&f, 4096, NULL), 0);
	CHECK_EQ(nregions(f.h), 1);
	CHECK_EQ(region_at(f.h, mem).mapped, 1);
	CHECK(cinfo(&f).windows[0].present);
	CHECK(!cinfo(&f).windows[1].present);
	fx_close(&f);
	host_done(f.h);
}

TEST(generic_unknown_command_enotty)
{
	struct fx f;
	uint8_t *mem;
	struct vfio_iommu_type1_dma_map m = { sizeof(m), VFIO_DMA_MAP_FLAG_READ, 0, 0, 4096 };
	const unsigned long cmds[] = {
		_IO(VFIO_TYPE, VFIO_BASE + 22),
		_IO(VFIO_TYPE, VFIO_BASE + 23),
		_IO(VFIO_TYPE, VFIO_BASE + 60),
		_IO(VFIO_TYPE + 1, VFIO_BASE + 13),   /* MAP_DMA's number, another type */
		_IOW(VFIO_TYPE, VFIO_BASE + 13, struct vfio_iommu_type1_dma_map), /* size encoded */
		_IOR(VFIO_TYPE, VFIO_BASE + 12, struct vfio_iommu_spapr_tce_info),
		VFIO_DEVICE_GET_INFO, /* device and group commands on a container */
		VFIO_DEVICE_RESET,
		VFIO_GROUP_GET_STATUS,
		0,
	};

	CHECK_EQ(fx_v2_ready(&f, &mem), 0);
	m.vaddr = (uintptr_t)mem;
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		CHECK_EQ(ioc(&f, cmds[i], &m), -ENOTTY);
	/* Backend commands on a group descriptor are unknown there. */
	CHECK_EQ(tcemu_host_ioctl(f.h, f.g, VFIO_IOMMU_MAP_DMA, &m), -ENOTTY);
	CHECK_EQ(tcemu_host_ioctl(f.h, f.g, VFIO_IOMMU_SPAPR_TCE_GET_INFO, &m), -ENOTTY);
	CHECK(!cinfo(&f).windows[0].present); /* no MAP ran */
	fx_close(&f);
	host_done(f.h);
}

TEST(generic_bad_pointer_efault)
{
	struct fx f;
	uint8_t *mem;
	uint8_t *page = umem_aligned(2 * 4096, 4096, PROT_READ | PROT_WRITE);
	const unsigned long cmds[] = {
		VFIO_IOMMU_SPAPR_TCE_GET_INFO, VFIO_IOMMU_MAP_DMA,         VFIO_IOMMU_UNMAP_DMA,
		VFIO_IOMMU_SPAPR_REGISTER_MEMORY, VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY, VFIO_IOMMU_SPAPR_TCE_CREATE,
		VFIO_IOMMU_SPAPR_TCE_REMOVE,   VFIO_EEH_PE_OP,
	};

	CHECK(page);
	CHECK_EQ(fx_v2_ready(&f, &mem), 0);
	/* A struct that starts 8 bytes before an inaccessible page. */
	CHECK_EQ(mprotect(page + 4096, 4096, PROT_NONE), 0);
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		uint32_t *tail = (uint32_t *)(page + 4096 - 8);

		tail[0] = 64; /* argsz */
		tail[1] = 0;
		CHECK_EQ(ioc(&f, cmds[i], NULL), -EFAULT);
		CHECK_EQ(ioc(&f, cmds[i], (void *)(uintptr_t)8), -EFAULT);
		CHECK_EQ(ioc(&f, cmds[i], page + 4096), -EFAULT);
		CHECK_EQ(ioc(&f, cmds[i], tail), -EFAULT);
	}
	/* Nothing changed: the window was not built, one region, no mapping. */
	CHECK(cinfo(&f).windows[0].pending);
	CHECK_EQ(nregions(f.h), 1);
	CHECK_EQ(region_at(f.h, mem).mapped, 0);
	fx_close(&f);
	host_done(f.h);
}

/* Output structs that cannot be written back: EFAULT. */
TEST(generic_unwritable_output_efault)
{
	struct fx f;
	uint8_t *mem;
	uint8_t *page = umem_aligned(4096, 4096, PROT_READ | PROT_WRITE);
	struct vfio_iommu_spapr_tce_info *info = (void *)page;
	struct vfio_iommu_spapr_tce_create *cr = (void *)(page + 256);

	CHECK(page);
	CHECK_EQ(fx_v2_ready(&f, &mem), 0);
	memset(page, 0, 4096);
	info->argsz = sizeof(*info);
	cr->argsz = sizeof(*cr);
	cr->page_shift = 16;
	cr->window_size = GiB;
	cr->levels = 1;
	CHECK_EQ(mprotect(page, 4096, PROT_READ), 0);
	CHECK_EQ(ioc(&f, VFIO_IOMMU_SPAPR_TCE_GET_INFO, info), -EFAULT);
	CHECK_EQ(ioc(&f, VFIO_IOMMU_SPAPR_TCE_CREATE, cr), -EFAULT);
	fx_close(&f);
	host_done(f.h);
}

TEST(generic_argsz_below_minsz_einval_v1)
{
	struct fx f;
	uint8_t *mem = umem(MiB);
	struct vfio_iommu_spapr_tce_info info = { .argsz = 15 };
	struct vfio_iommu_type1_dma_map m = { 31, VFIO_DMA_MAP_FLAG_READ, (uintptr_t)mem, 0, 4096 };
	struct vfio_iommu_type1_dma_unmap um = { 23, 0, 0, 4096 };
	struct vfio_eeh_pe_op eeh = { .argsz = 11, .op = VFIO_EEH_PE_GET_STATE };

	CHECK_EQ(fx_v1_ready(&f), 0);
	CHECK_EQ(ioc(&f, VFIO_IOMMU_SPAPR_TCE_GET_INFO, &info), -EINVAL);
	CHECK_EQ(ioc(&f, VFIO_IOMMU_MAP_DMA, &m), -EINVAL);
	CHECK_EQ(ioc(&f, VFIO_IOMMU_UNMAP_DMA, &um), -EINVAL);
	CHECK_EQ(ioc(&f, VFIO_EEH_PE_OP, &eeh), -EINVAL);
	CHECK(cinfo(&f).windows[0].pending);
	m.argsz = 32;
	CHECK_EQ(ioc(&f, VFIO_IOMMU_MAP_DMA, &m), 0);
	um.argsz = 24;
	CHECK_EQ(ioc(&f, VFIO_IOMMU_UNMAP_DMA, &um), 0);
	info.argsz = 16;
	CHECK_EQ(ioc(&f, VFIO_IOMMU_SPAPR_TCE_GET_INFO, &info), 0);
	fx_close(&f);
	host_done(f.h);
}

/* ======================= section 3: modes ======================= */

TEST(mode_backend_ioctls_before_set_iommu_einval)
{
	struct fx f;
	uint8_t *mem = umem(MiB);
	struct vfio_iommu_spapr_tce_info info = { .argsz = sizeof(info) };
	struct vfio_iommu_type1_dma_map m = { sizeof(m), VFIO_DMA_MAP_FLAG_READ, (uintptr_t)mem, 0, 4096 };
	struct vfio_iommu_type1_dma_unmap um = { sizeof(um), 0, 0, 4096 };
	struct vfio_iommu_spapr_register_memory r = { sizeof(r), 0, (uintptr_t)mem, MiB };
	struct vfio_iommu_spapr_tce_create cr = { .argsz = sizeof(cr), .page_shift = 16, .window_size = GiB,
						  .levels = 1 };
	struct vfio_iommu_spapr_tce_remove rm = { sizeof(rm), 0, 0 };
	struct vfio_eeh_pe_op eeh = { .argsz = sizeof(eeh), .op = VFIO_EEH_PE_GET_STATE };
	struct {
		unsigned long cmd;
		void *arg;
	} calls[] = {
		{ VFIO_IOMMU_SPAPR_TCE_GET_INFO, &info }, { VFIO_IOMMU_MAP_DMA, &m },
		{ VFIO_IOMMU_UNMAP_DMA, &um },            { VFIO_IOMMU_ENABLE, NULL },
		{ VFIO_IOMMU_DISABLE, NULL },             { VFIO_IOMMU_SPAPR_REGISTER_MEMORY, &r },
		{ VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY, &r }, { VFIO_IOMMU_SPAPR_TCE_CREATE, &cr },
		{ VFIO_IOMMU_SPAPR_TCE_REMOVE, &rm },     { VFIO_EEH_PE_OP, &eeh },
	};
	int lone;

	/* A group attached, no type yet; then a container with no group at all. */
	CHECK_EQ(fx_open(&f, 0, 0), 0);
	CHECK_EQ(tcemu_host_open(f.h, "/dev/vfio/vfio", O_RDWR, &lone), 0);
	for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
		CHECK_EQ(ioc(&f, calls[i].cmd, calls[i].arg), -EINVAL);
		CHECK_EQ(tcemu_host_ioctl(f.h, lone, calls[i].cmd, calls[i].arg), -EINVAL);
	}
	CHECK_EQ(nregions(f.h), 0);
	CHECK_U64(locked(f.h), 0);
	CHECK_EQ(cinfo(&f).type, 0);
	CHECK_EQ(cinfo(&f).owner, 0);
	/* The type can still be set afterwards. */
	CHECK_EQ(ioc(&f, VFIO_SET_IOMMU, (void *)(uintptr_t)V2), 0);
	CHECK_EQ(reg(&f, mem, MiB), 0);
	tcemu_host_close(f.h, lone);
	fx_close(&f);
	host_done(f.h);
}

TEST(mode_v1_only_ioctls_on_v2_enotty)
{
	struct fx f;
	uint8_t *mem;

	CHECK_EQ(fx_open(&f, 0, V2), 0);
	CHECK_EQ(ioc(&f, VFIO_IOMMU_ENABLE, NULL), -ENOTTY);
	CHECK_EQ(ioc(&f, VFIO_IOMMU_DISABLE, NULL), -ENOTTY);
	mem = umem(MiB);
	CHECK_EQ(reg(&f, mem, MiB), 0);
	CHECK_EQ(ioc(&f, VFIO_IOMMU_ENABLE, NULL), -ENOTTY);
	CHECK_EQ(ioc(&f, VFIO_IOMMU_DISABLE, NULL), -ENOTTY);
	/* DISABLE did not disable: v2 stays enabled. */
	CHECK(cinfo(&f).enabled);
	CHECK_EQ(map_rw(&f, mem, 0, 4096), 0);
	CHECK_U64(locked(f.h), MiB + DEF_ACCT);
	fx_close(&f);
	host_done(f.h);
}

TEST(mode_v2_only_ioctls_on_v1_enotty)
{
	struct fx f;
	uint8_t *mem = umem(MiB);
	struct vfio_iommu_spapr_register_memory r = { sizeof(r), 0, (uintptr_t)mem, MiB };
	struct vfio_iommu_spapr_tce_create cr = { .argsz = sizeof(cr), .page_shift = 12, .window_size = GiB,
						  .levels = 1 };
	struct vfio_iommu_spapr_tce_remove rm = { sizeof(rm), 0, 0 };

	for (int enabled = 0; enabled < 2; enabled++) {
		CHECK_EQ(fx_open(&f, 0, V1), 0);
		if (enabled)
			CHECK_EQ(enable(&f), 0);
		CHECK_EQ(ioc(&f, VFIO_IOMMU_SPAPR_REGISTER_MEMORY, &r), -ENOTTY);
		CHECK_EQ(ioc(&f, VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY, &r), -ENOTTY);
		CHECK_EQ(ioc(&f, VFIO_IOMMU_SPAPR_TCE_CREATE, &cr), -ENOTTY);
		CHECK_EQ(ioc(&f, VFIO_IOMMU_SPAPR_TCE_REMOVE, &rm), -ENOTTY);
		/* ENOTTY comes before the argument is even read. */
		CHECK_EQ(ioc(&f, VFIO_IOMMU_SPAPR_REGISTER_MEMORY, NULL), -ENOTTY);
		CHECK_EQ(ioc(&f, VFIO_IOMMU_SPAPR_TCE_CREATE, NULL), -ENOTTY);
		/* Nothing registered, no window created, the default one still pending. */
		CHECK_EQ(nregions(f.h), 0);
		CHECK(cinfo(&f).windows[0].pending);
		CHECK(!cinfo(&f).windows[1].present);
		fx_close(&f);
		host_done(f.h);
	}
}

TEST(mode_v1_only_on_v2_enotty_before_argument)
{
	struct fx f;
	uint8_t *mem;

	CHECK_EQ(fx_v2_ready(&f, &mem), 0);
	/* A v2 container: v2-only commands with argsz too small are EINVAL, v1-only are ENOTTY. */
	struct vfio_iommu_spapr_tce_remove rm = { 8, 0, 0 };
	CHECK_EQ(ioc(&f, VFIO_IOMMU_SPAPR_TCE_REMOVE, &rm), -EINVAL);
	CHECK_EQ(ioc(&f, VFIO_IOMMU_ENABLE, (void *)(uintptr_t)1), -ENOTTY);
	CHECK(cinfo(&f).windows[0].pending);
	fx_close(&f);
	host_done(f.h);
}

/* ======================= section 4: checks in order ======================= */

TEST(get_info_argsz_below_16_einval_untouched)
{
	struct fx f;
	uint8_t buf[32];

	CHECK_EQ(fx_open(&f, 0, V2), 0);
	memset(buf, 0x5a, sizeof(buf));
	*(uint32_t *)buf = 15;
	CHECK_EQ(ioc(&f, VFIO_IOMMU_SPAPR_TCE_GET_INFO, buf), -EINVAL);
	for (size_t i = 4; i < sizeof(buf); i++)
		CHECK_EQ(buf[i], 0x5a);
	fx_close(&f);
	host_done(f.h);
}

TEST(map_order_eperm_before_argsz_and_pointer)
{
	struct fx f;
	uint8_t *mem = umem(MiB);
	struct vfio_iommu_type1_dma_map m = { 0, 0xff, (uintptr_t)mem, 0, 4096 };

	/* v2 before any registration, and v1 before ENABLE: not enabled. */
	for (int v = 0; v < 2; v++) {
		CHECK_EQ(fx_open(&f, 0, v ? V2 : V1), 0);
		CHECK_EQ(ioc(&f, VFIO_IOMMU_MAP_DMA, &m), -EPERM);
		CHECK_EQ(ioc(&f, VFIO_IOMMU_MAP_DMA, NULL), -EPERM);
		CHECK_EQ(map_rw(&f, mem, 0, 4096), -EPERM);
		CHECK(cinfo(&f).windows[0].pending);
		fx_close(&f);
		host_done(f.h);
	}
}

TEST(map_order_argsz_and_flags_before_default_window)
{
	struct fx f;
	uint8_t *mem;
	struct vfio_iommu_type1_dma_map m;

	CHECK_EQ(fx_v2_ready(&f, &mem), 0);
	/* argsz too small and flags bad, iova outside every window: EINVAL, window not built. */
	m = (struct vfio_iommu_type1_dma_map){ 31, 8, (uintptr_t)mem, W1, 4096 };
	CHECK_EQ(ioc(&f, VFIO_IOMMU_MAP_DMA, &m), -EINVAL);
	CHECK(cinfo(&f).windows[0].pending);
	m.argsz = sizeof(m);
	CHECK_EQ(ioc(&f, VFIO_IOMMU_MAP_DMA, &m), -EINVAL);
	CHECK(cinfo(&f).windows[0].pending);
	CHECK(!cinfo(&f).windows[0].present);
	CHECK_U64(locked(f.h), MiB);
	fx_close(&f);
	host_done(f.h);
}

TEST(map_order_default_window_before_enxio)
{
	struct fx f;
	uint8_t *mem;
	struct tcemu_container_info ci;

	CHECK_EQ(fx_v2_ready(&f, &mem), 0);
	CHECK_EQ(map_rw(&f, mem, W1, 4096), -ENXIO);
	CHECK(default_window_consistent(&f, MiB));
	CHECK_EQ(unmap(&f, W1, 4096), -ENXIO);
	CHECK(default_window_consistent(&f, MiB));
	/* A successful call builds it for good. */
	CHECK_EQ(map_rw(&f, mem, 0, 4096), 0);
	ci = cinfo(&f);
	CHECK(ci.windows[0].present);
	CHECK(!ci.windows[0].pending);
	CHECK_U64(locked(f.h), MiB + DEF_ACCT);
	fx_close(&f);
	host_done(f.h);
}

/* The default window cannot be built (locked memory): that error comes before ENXIO. */
TEST(map_order_default_window_enomem_before_enxio)
{
	struct fx f;
	uint8_t *mem = umem(MiB);

	CHECK_EQ(fx_open_limit(&f, 2 * MiB, 0, V2), 0);
	CHECK_EQ(reg(&f, mem, MiB), 0);
	CHECK_EQ(map_rw(&f, mem, W1, 4096), -ENOMEM);
	CHECK_EQ(map_rw(&f, mem, 0, 4096), -ENOMEM);
	CHECK_EQ(unmap(&f, W1, 4096), -ENOMEM);
	CHECK(cinfo(&f).windows[0].pending);
	CHECK_U64(locked(f.h), MiB);
	fx_close(&f);
	host_done(f.h);
}

TEST(map_order_enxio_before_alignment_and_direction)
{
	struct fx f;
	uint8_t *mem;

	CHECK_EQ(fx_v2_ready(&f, &mem), 0);
	CHECK_EQ(map(&f, mem + 1, W1 + 1, 0x801, 0), -ENXIO);
	CHECK_EQ(map(&f, mem, 3 * GiB, 4096, VFIO_DMA_MAP_FLAG_READ), -ENXIO);
	/* Inside the window, the same faults are EINVAL. */
	CHECK_EQ(map(&f, mem + 1, 1, 0x801, 0), -EINVAL);
	fx_close(&f);
	host_done(f.h);
}

/* Size/vaddr alignment, direction and the window range come before the region checks. */
TEST(map_order_einval_checks_before_region_checks)
{
	struct fx f;
	uint8_t *mem, *unreg = umem(MiB);

	CHECK_EQ(fx_v2_ready(&f, &mem), 0);
	CHECK_EQ(remove_win(&f, 0), 0);
	CHECK_EQ(create(&f, 16, GiB, 1, NULL), 0); /* 64 KiB pages over 4 KiB-backed memory */
	CHECK_EQ(map_rw(&f, mem, 0, 64 * KiB), -EPERM);
	/* Each of these would also meet the page-size rule (EPERM): the EINVAL rule is earlier. */
	CHECK_EQ(map(&f, mem, 0, 64 * KiB, 0), -EINVAL);                   /* no direction */
	CHECK_EQ(map_rw(&f, mem, 0, 32 * KiB), -EINVAL);                   /* size not a page */
	CHECK_EQ(map_rw(&f, mem + 4096, 0, 64 * KiB), -EINVAL);            /* vaddr not aligned */
	CHECK_EQ(map_rw(&f, mem, 4096, 64 * KiB), -EINVAL);                /* iova not aligned */
	CHECK_EQ(map_rw(&f, mem, GiB - 64 * KiB, 128 * KiB), -EINVAL);     /* leaves the window */
	/* Unregistered memory: EINVAL, not the page-size EPERM. */
	CHECK_EQ(map_rw(&f, unreg, 0, 64 * KiB), -EINVAL);
	CHECK_U64(tce_at(&f, 0, NULL), 0);
	CHECK_EQ(region_at(f.h, mem).mapped, 0);
	fx_close(&f);
	host_done(f.h);
}

TEST(unmap_order)
{
	struct fx f;
	uint8_t *mem = umem(MiB);
	struct vfio_iommu_type1_dma_unmap u;

	CHECK_EQ(fx_open(&f, 0, V2), 0);
	u = (struct vfio_iommu_type1_dma_unmap){ 0, 1, W1, 1 };
	CHECK_EQ(ioc(&f, VFIO_IOMMU_UNMAP_DMA, &u), -EPERM); /* not enabled beats argsz */
	CHECK_EQ(ioc(&f, VFIO_IOMMU_UNMAP_DMA, NULL), -EPERM);
	CHECK_EQ(reg(&f, mem, MiB), 0);
	u = (struct vfio_iommu_type1_dma_unmap){ 23, 1, W1, 1 };
	CHECK_EQ(ioc(&f, VFIO_IOMMU_UNMAP_DMA, &u), -EINVAL); /* argsz */
	CHECK(cinfo(&f).windows[0].pending);
	u.argsz = sizeof(u);
	CHECK_EQ(ioc(&f, VFIO_IOMMU_UNMAP_DMA, &u), -EINVAL); /* flags, before the window */
	CHECK(cinfo(&f).windows[0].pending);
	u.flags = 0;
	CHECK_EQ(ioc(&f, VFIO_IOMMU_UNMAP_DMA, &u), -ENXIO); /* window built, then ENXIO */
	CHECK(default_window_consistent(&f, MiB));
	CHECK_EQ(unmap(&f, 0, 1), -EINVAL);    /* size not aligned */
	CHECK_EQ(unmap(&f, 0, 4096), 0);       /* clearing an empty entry is fine */
	fx_close(&f);
	host_done(f.h);
}

TEST(enable_order_ebusy_before_enomem)
{
	struct fx f;

	CHECK_EQ(fx_open_limit(&f, 2 * GiB, 0, V1), 0);
	CHECK_EQ(enable(&f), 0);
	CHECK_U64(locked(f.h), 2 * GiB);
	/* Already enabled, and charging again would exceed the limit: EBUSY. */
	CHECK_EQ(enable(&f), -EBUSY);
	CHECK_U64(locked(f.h), 2 * GiB);
	fx_close(&f);
	CHECK(host_is_clean(f.h));
	host_done(f.h);
}

TEST(enable_enomem_over_limit)
{
	struct fx f;
	uint8_t *mem = umem(MiB);

	CHECK_EQ(fx_open_limit(&f, 2 * GiB - 4096, 0, V1), 0);
	CHECK_EQ(enable(&f), -ENOMEM);
	CHECK(!cinfo(&f).enabled);
	CHECK_U64(locked(f.h), 0);
	CHECK_EQ(map_rw(&f, mem, 0, 4096), -EPERM);
	fx_close(&f);
	host_done(f.h);
}

TEST(register_order_generic_and_alignment)
{
	struct fx f;
	uint8_t *mem = umem(2 * MiB);
	struct vfio_iommu_spapr_register_memory r;

	CHECK_EQ(fx_open(&f, 0, V2), 0);
	r = (struct vfio_iommu_spapr_register_memory){ 23, 1, (uintptr_t)mem + 1, 0 };
	CHECK_EQ(ioc(&f, VFIO_IOMMU_SPAPR_REGISTER_MEMORY, &r), -EINVAL);
	r.argsz = sizeof(r);
	CHECK_EQ(ioc(&f, VFIO_IOMMU_SPAPR_REGISTER_MEMORY, &r), -EINVAL);
	CHECK_EQ(reg(&f, mem + 2048, MiB), -EINVAL);
	CHECK_EQ(reg(&f, mem, MiB + 2048), -EINVAL);
	CHECK_EQ(reg(&f, mem, 0), -EINVAL);
	CHECK_EQ(reg(&f, (void *)(uintptr_t)(0ull - 16 * 4096), 32 * 4096), -EINVAL); /* wraps */
	/* Misaligned, and also unmapped memory / over no limit: EINVAL wins over EFAULT. */
	CHECK_EQ(reg(&f, (void *)(uintptr_t)0x1001, 4096), -EINVAL);
	CHECK_EQ(nregions(f.h), 0);
	CHECK_U64(locked(f.h), 0);
	CHECK(!cinfo(&f).enabled);
	fx_close(&f);
	host_done(f.h);
}

TEST(register_order_ebusy_before_enomem_and_efault)
{
	struct fx f;
	uint8_t *mem = umem(2 * MiB);

	CHECK_EQ(fx_open_limit(&f, MiB, 0, V2), 0);
	CHECK_EQ(reg(&f, mem, MiB), 0);
	CHECK_EQ(reg(&f, mem, MiB), -EBUSY); /* the limit is reached too */
	CHECK_EQ(munmap(mem, MiB), 0);
	CHECK_EQ(reg(&f, mem, MiB), -EBUSY); /* and now the memory is gone too */
	CHECK_EQ(region_at(f.h, mem).users, 1);
	CHECK_U64(locked(f.h), MiB);
	fx_close(&f);
	CHECK(host_is_clean(f.h));
	host_done(f.h);
}

TEST(register_order_shared_before_enomem_and_efault)
{
	struct tcemu_host_opts o = opts_default();
	struct fx a, b;
	uint8_t *mem = umem(MiB);
	struct tcemu_host *h;

	o.memlock = MiB;
	h = host_new(&o);
	CHECK_EQ(fx_attach(h, 0, V2, &a), 0);
	CHECK_EQ(fx_attach(h, 1, V2, &b), 0);
	CHECK_EQ(reg(&a, mem, MiB), 0);
	CHECK_EQ(munmap(mem, MiB), 0);
	/* At the limit and no longer mapped, but the exact region exists: shared. */
	CHECK_EQ(reg(&b, mem, MiB), 0);
	CHECK_EQ(region_at(h, mem).users, 2);
	CHECK_U64(locked(h), MiB);
	CHECK_EQ(nregions(h), 1);
	CHECK(cinfo(&b).enabled);
	fx_close(&a);
	fx_close(&b);
	CHECK(host_is_clean(h));
	host_done(h);
}

TEST(register_order_overlap_before_enomem_and_efault)
{
	struct fx f;
	uint8_t *mem = umem(4 * MiB);

	CHECK_EQ(fx_open_limit(&f, 3 * MiB / 2, 0, V2), 0);
	CHECK_EQ(reg(&f, mem + MiB, MiB), 0);
	/* Overlapping, over the limit, and partly unmapped: EINVAL. */
	CHECK_EQ(munmap(mem + 3 * MiB, MiB), 0);
	CHECK_EQ(reg(&f, mem, 4 * MiB), -EINVAL);
	CHECK_EQ(reg(&f, mem + MiB, 2 * MiB), -EINVAL);
	CHECK_EQ(nregions(f.h), 1);
	CHECK_U64(locked(f.h), MiB);
	fx_close(&f);
	host_done(f.h);
}

TEST(register_order_enomem_before_efault)
{
	struct fx f;
	uint8_t *mem = umem(2 * MiB);

	CHECK_EQ(fx_open_limit(&f, MiB, 0, V2), 0);
	CHECK_EQ(munmap(mem, 2 * MiB), 0);
	CHECK_EQ(reg(&f, mem, 2 * MiB), -ENOMEM);
	CHECK_EQ(reg(&f, mem, MiB), -EFAULT); /* within the limit: now the memory is the problem */
	CHECK_EQ(nregions(f.h), 0);
	CHECK_U64(locked(f.h), 0);
	CHECK(!cinfo(&f).enabled);
	fx_close(&f);
	host_done(f.h);
}

TEST(unregister_order)
{
	struct fx f;
	uint8_t *mem = umem(MiB);
	struct vfio_iommu_spapr_register_memory r = { 0, 1, (uintptr_t)mem + 1, 3 };

	CHECK_EQ(fx_open(&f, 0, V2), 0);
	/* No process recorded yet: EPERM beats argsz, flags and alignment. */
	CHECK_EQ(ioc(&f, VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY, &r), -EPERM);
	CHECK_EQ(ioc(&f, VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY, NULL), -EPERM);
	CHECK_EQ(unreg(&f, mem, MiB), -EPERM);
	CHECK_EQ(reg(&f, mem, MiB), 0);
	CHECK_EQ(map_rw(&f, mem, 0, 4096), 0);
	r.argsz = 23;
	CHECK_EQ(ioc(&f, VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY, &r), -EINVAL);
	r.argsz = sizeof(r);
	CHECK_EQ(ioc(&f, VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY, &r), -EINVAL);
	/* Misaligned and not registered: EINVAL before ENOENT. */
	CHECK_EQ(unreg(&f, mem + 8, MiB), -EINVAL);
	CHECK_EQ(unreg(&f, mem, MiB - 8), -EINVAL);
	/* Not this exact region but mapped: ENOENT before EBUSY. */
	CHECK_EQ(unreg(&f, mem, MiB / 2), -ENOENT);
	CHECK_EQ(unreg(&f, mem, MiB), -EBUSY);
	CHECK_EQ(nregions(f.h), 1);
	fx_close(&f);
	host_done(f.h);
}

/* After TCE_REMOVE records the process, UNREGISTER gets past the EPERM rule. */
TEST(unregister_after_remove_records_process_enoent)
{
	struct fx f;
	uint8_t *mem = umem(MiB);

	CHECK_EQ(fx_open(&f, 0, V2), 0);
	CHECK_EQ(unreg(&f, mem, MiB), -EPERM);
	CHECK_EQ(remove_win(&f, 0), 0);
	CHECK_EQ(cinfo(&f).owner, getpid());
	CHECK_EQ(unreg(&f, mem, MiB), -ENOENT);
	fx_close(&f);
	host_done(f.h);
}

TEST(create_order_argsz_flags_before_default_window)
{
	struct fx f;
	struct vfio_iommu_spapr_tce_create cr = { .argsz = 39, .flags = 1, .page_shift = 16, .window_size = GiB,
						  .levels = 1 };

	CHECK_EQ(fx_open(&f, 0, V2), 0);
	CHECK_EQ(ioc(&f, VFIO_IOMMU_SPAPR_TCE_CREATE, &cr), -EINVAL);
	CHECK(cinfo(&f).windows[0].pending);
	cr.argsz = sizeof(cr);
	CHECK_EQ(ioc(&f, VFIO_IOMMU_SPAPR_TCE_CREATE, &cr), -EINVAL);
	CHECK(cinfo(&f).windows[0].pending);
	CHECK(!cinfo(&f).windows[1].present);
	CHECK_U64(locked(f.h), 0);
	fx_close(&f);
	host_done(f.h);
}

TEST(create_order_default_window_before_geometry)
{
	struct fx f;
	struct tcemu_container_info ci;

	CHECK_EQ(fx_open(&f, 0, V2), 0);
	CHECK_EQ(create(&f, 13, GiB, 1, NULL), -EINVAL); /* page size not offered */
	CHECK(default_window_consistent(&f, 0));
	CHECK_EQ(create(&f, 12, GiB, 5, NULL), -EINVAL); /* geometry */
	CHECK(default_window_consistent(&f, 0));
	ci = cinfo(&f);
	CHECK(!ci.windows[1].present);
	/* The default window is still the first one, whatever the failed calls did. */
	CHECK_EQ(create(&f, 16, GiB, 1, NULL), 0);
	ci = cinfo(&f);
	CHECK(is_default_window(&ci.windows[0], 2 * GiB));
	CHECK_U64(ci.windows[1].start, W1);
	fx_close(&f);
	CHECK(host_is_clean(f.h));
	host_done(f.h);
}

TEST(create_order_default_window_enomem_before_geometry)
{
	struct fx f;

	CHECK_EQ(fx_open_limit(&f, 4 * MiB, 0, V2), 0);
	CHECK_EQ(create(&f, 13, GiB, 0, NULL), -ENOMEM);
	CHECK(cinfo(&f).windows[0].pending);
	CHECK_U64(locked(f.h), 0);
	fx_close(&f);
	host_done(f.h);
}

TEST(create_order_enospc_before_geometry)
{
	struct fx f;
	uint64_t start = 0;

	CHECK_EQ(fx_open(&f, 0, V2), 0);
	CHECK_EQ(create(&f, 16, GiB, 1, &start), 0);
	CHECK_U64(start, W1);
	CHECK_EQ(create(&f, 13, GiB, 1, NULL), -ENOSPC);
	CHECK_EQ(create(&f, 16, 3 * GiB, 0, NULL), -ENOSPC);
	CHECK_EQ(create(&f, 16, GiB, 1, NULL), -ENOSPC);
	fx_close(&f);
	host_done(f.h);
}

TEST(create_order_pgsize_and_geometry_before_enomem)
{
	struct fx f;

	CHECK_EQ(fx_open_limit(&f, 64 * KiB, 0, V2), 0);
	CHECK_EQ(remove_win(&f, 0), 0);
	CHECK_EQ(create(&f, 24, 64 * GiB, 1, NULL), -EINVAL); /* IODA3 has no 16M pages */
	CHECK_EQ(create(&f, 12, 64 * GiB, 0, NULL), -EINVAL);
	CHECK_EQ(create(&f, 12, 64 * GiB, 6, NULL), -EINVAL);
	CHECK_EQ(create(&f, 12, 48 * GiB, 2, NULL), -EINVAL);
	CHECK_EQ(create(&f, 12, 64 * GiB, 5, NULL), -EINVAL); /* (12-3)*5+12 >= 55 */
	CHECK_EQ(create(&f, 12, 64 * GiB, 2, NULL), -ENOMEM);
	CHECK_U64(locked(f.h), 0);
	CHECK(!cinfo(&f).windows[0].present);
	CHECK(!cinfo(&f).windows[1].present);
	fx_close(&f);
	host_done(f.h);
}

TEST(remove_order)
{
	struct fx f;
	struct vfio_iommu_spapr_tce_remove rm = { 15, 1, 0 };

	CHECK_EQ(fx_open(&f, 0, V2), 0);
	CHECK_EQ(ioc(&f, VFIO_IOMMU_SPAPR_TCE_REMOVE, &rm), -EINVAL);
	CHECK(cinfo(&f).windows[0].pending);
	rm.argsz = sizeof(rm);
	CHECK_EQ(ioc(&f, VFIO_IOMMU_SPAPR_TCE_REMOVE, &rm), -EINVAL);
	CHECK(cinfo(&f).windows[0].pending);
	/* Pending and not 0: looked up as a window, none. Still pending. */
	CHECK_EQ(remove_win(&f, W1), -EINVAL);
	CHECK_EQ(remove_win(&f, 4096), -EINVAL);
	CHECK(cinfo(&f).windows[0].pending);
	CHECK_EQ(remove_win(&f, 0), 0);
	CHECK(!cinfo(&f).windows[0].pending);
	CHECK(!cinfo(&f).windows[0].present);
	CHECK_EQ(remove_win(&f, 0), -EINVAL); /* nothing left to cancel or remove */
	fx_close(&f);
	host_done(f.h);
}

/* ======================= section 5: v1 against v2 ======================= */

TEST(v1_enable_charges_whole_default_window)
{
	struct fx f;
	struct tcemu_container_info ci;

	CHECK_EQ(fx_open(&f, 0, V1), 0);
	CHECK_U64(locked(f.h), 0);
	CHECK(!cinfo(&f).enabled);
	CHECK_EQ(ioc(&f, VFIO_IOMMU_DISABLE, NULL), 0); /* not enabled: nothing to return */
	CHECK_U64(locked(f.h), 0);
	CHECK_EQ(enable(&f), 0);
	CHECK_U64(locked(f.h), 2 * GiB);
	ci = cinfo(&f);
	CHECK(ci.enabled);
	CHECK_EQ(ci.owner, getpid());
	CHECK_U64(ci.locked_bytes, 2 * GiB);
	/* The default window is still only pending: ENABLE does not build it. */
	CHECK(ci.windows[0].pending);
	CHECK(!ci.windows[0].present);
	CHECK_EQ(ioc(&f, VFIO_IOMMU_DISABLE, NULL), 0);
	CHECK_U64(locked(f.h), 0);
	CHECK(!cinfo(&f).enabled);
	fx_close(&f);
	host_done(f.h);
}

TEST(v1_enable_charges_custom_dma32)
{
	static const char topo[] = "phb 0 ioda3 dma32=1G\n pe 1 group=7\n  device 0000:01:00.0\n";
	struct fx f;

	CHECK_EQ(fx_open_topo(&f, topo, 7, V1), 0);
	CHECK_EQ(enable(&f), 0);
	CHECK_U64(locked(f.h), GiB);
	fx_close(&f);
	CHECK_U64(locked(f.h), 0);
	host_done(f.h);
}

TEST(v1_disable_unaccounts_keeps_mappings)
{
	struct fx f;
	uint8_t *mem = umem(MiB);
	uint64_t base, ua = 0, tce;

	CHECK_EQ(fx_v1_ready(&f), 0);
	CHECK_EQ(map_rw(&f, mem, 0x10000, 2 * 4096), 0);
	uint64_t tce2 = tce_at(&f, 0x11000, NULL);
	CHECK(tce2 != 0);
	base = locked(f.h);
	CHECK_EQ(ioc(&f, VFIO_IOMMU_DISABLE, NULL), 0);
	CHECK_U64(locked(f.h), base - 2 * GiB);
	tce = tce_at(&f, 0x10000, &ua);
	CHECK_U64(tce & 3, TR | TW);
	CHECK_EQ(tcemu_memory_hpa_to_ua(tcemu_host_memory(f.h), tce & ~0xfffull, &ua, NULL), 0);
	CHECK_U64(ua, (uintptr_t)mem);
	CHECK_EQ(cinfo(&f).windows[0].valid_entries, 2);
	/* Disabled: MAP and UNMAP are refused, DISABLE again is fine. */
	CHECK_EQ(map_rw(&f, mem, 0x20000, 4096), -EPERM);
	CHECK_EQ(unmap(&f, 0x10000, 4096), -EPERM);
	CHECK_EQ(ioc(&f, VFIO_IOMMU_DISABLE, NULL), 0);
	CHECK_U64(locked(f.h), base - 2 * GiB);
	/* Enable again: charged again, mappings still there. */
	CHECK_EQ(enable(&f), 0);
	CHECK_U64(locked(f.h), base);
	CHECK_U64(tce_at(&f, 0x11000, NULL), tce2);
	CHECK_U64(tce_at(&f, 0x10000, NULL), tce);
	CHECK_EQ(unmap(&f, 0x10000, 2 * 4096), 0);
	CHECK_EQ(cinfo(&f).windows[0].valid_entries, 0);
	fx_close(&f);
	CHECK(host_is_clean(f.h));
	host_done(f.h);
}

/* v1 pins page by page as it maps; mapping charges nothing beyond ENABLE's window. */
TEST(v1_map_pins_per_page_without_charge)
{
	struct fx f;
	uint8_t *mem = umem(MiB);
	struct tcemu_memory_stats ms0, ms1;
	uint64_t base;

	CHECK_EQ(fx_v1_ready(&f), 0);
	CHECK_EQ(map_rw(&f, mem, 0, 4096), 0); /* builds the default window */
	base = locked(f.h);
	tcemu_memory_stats(tcemu_host_memory(f.h), &ms0);
	CHECK_EQ(map_rw(&f, mem + 64 * KiB, 64 * KiB, 16 * 4096), 0);
	tcemu_memory_stats(tcemu_host_memory(f.h), &ms1);
	CHECK_U64(locked(f.h), base);
	CHECK_U64(ms1.pins - ms0.pins, 16);
	CHECK_U64(ms1.pinned_bytes - ms0.pinned_bytes, 16 * 4096);
	CHECK_EQ(unmap(&f, 64 * KiB, 16 * 4096), 0);
	tcemu_memory_stats(tcemu_host_memory(f.h), &ms1);
	CHECK_U64(ms1.pins, ms0.pins);
	fx_close(&f);
	tcemu_memory_stats(tcemu_host_memory(f.h), &ms1);
	CHECK_U64(ms1.pins, 0);
	CHECK(host_is_clean(f.h));
	host_done(f.h);
}

TEST(v2_register_charges_region_map_charges_nothing)
{
	struct fx f;
	uint8_t *mem = umem(4 * MiB);

	CHECK_EQ(fx_open(&f, 0, V2), 0);
	CHECK_EQ(reg(&f, mem, MiB), 0);
	CHECK_U64(locked(f.h), MiB);
	CHECK_EQ(reg(&f, mem + 2 * MiB, 2 * MiB), 0);
	CHECK_U64(locked(f.h), 3 * MiB);
	CHECK_U64(cinfo(&f).locked_bytes, 3 * MiB);
	CHECK_EQ(map_rw(&f, mem, 0, MiB), 0);
	CHECK_U64(locked(f.h), 3 * MiB + DEF_ACCT);
	CHECK_EQ(map_rw(&f, mem + 2 * MiB, MiB, 2 * MiB), 0);
	CHECK_U64(locked(f.h), 3 * MiB + DEF_ACCT);
	CHECK_EQ(unmap(&f, MiB, 2 * MiB), 0);
	CHECK_EQ(unreg(&f, mem + 2 * MiB, 2 * MiB), 0);
	CHECK_U64(locked(f.h), MiB + DEF_ACCT);
	fx_close(&f);
	CHECK(host_is_clean(f.h));
	host_done(f.h);
}

TEST(v2_create_charges_exact_table_size)
{
	struct fx f;
	const uint64_t a1 = tcemu_table_accounted_size(16, GiB, 2, 12);
	const uint64_t a2 = tcemu_table_accounted_size(21, 64 * GiB, 3, 12);
	struct tcemu_container_info ci;

	CHECK_U64(a1, 2 * (128 * KiB + 4 * KiB)); /* cross-check of the helper itself */
	CHECK_U64(tcemu_table_accounted_size(12, 2 * GiB, 1, 12), DEF_ACCT);
	CHECK(a2 > 0);
	CHECK_EQ(fx_open(&f, 0, V2), 0);
	CHECK_EQ(remove_win(&f, 0), 0);
	CHECK_U64(locked(f.h), 0);
	CHECK_EQ(create(&f, 16, GiB, 2, NULL), 0);
	CHECK_U64(locked(f.h), a1);
	CHECK_EQ(create(&f, 21, 64 * GiB, 3, NULL), 0);
	CHECK_U64(locked(f.h), a1 + a2);
	ci = cinfo(&f);
	CHECK_U64(ci.windows[0].accounted_bytes, a1);
	CHECK_U64(ci.windows[1].accounted_bytes, a2);
	CHECK_U64(ci.locked_bytes, a1 + a2);
	CHECK_EQ(remove_win(&f, 0), 0);
	CHECK_U64(locked(f.h), a2);
	CHECK_EQ(remove_win(&f, W1), 0);
	CHECK_U64(locked(f.h), 0);
	fx_close(&f);
	host_done(f.h);
}

TEST(v2_default_window_charged_when_built)
{
	struct fx f;
	uint8_t *mem;

	CHECK_EQ(fx_v2_ready(&f, &mem), 0);
	CHECK_U64(locked(f.h), MiB);
	CHECK_EQ(map_rw(&f, mem, 0, 4096), 0);
	CHECK_U64(locked(f.h), MiB + DEF_ACCT);
	CHECK_U64(cinfo(&f).windows[0].accounted_bytes, DEF_ACCT);
	CHECK_EQ(unmap(&f, 0, 4096), 0);
	CHECK_EQ(remove_win(&f, 0), 0);
	CHECK_U64(locked(f.h), MiB);
	fx_close(&f);
	CHECK(host_is_clean(f.h));
	host_done(f.h);
}

TEST(v2_create_enomem_keeps_nothing)
{
	struct fx f;
	uint8_t *mem = umem(MiB);

	CHECK_EQ(fx_open_limit(&f, 2 * MiB, 0, V2), 0);
	CHECK_EQ(reg(&f, mem, MiB), 0);
	CHECK_EQ(remove_win(&f, 0), 0);
	CHECK_EQ(create(&f, 12, 2 * GiB, 1, NULL), -ENOMEM); /* 8 MiB */
	CHECK(!cinfo(&f).windows[0].present);
	CHECK_U64(locked(f.h), MiB);
	CHECK_EQ(create(&f, 16, GiB, 2, NULL), 0); /* 264 KiB fits */
	CHECK_U64(locked(f.h), MiB + tcemu_table_accounted_size(16, GiB, 2, 12));
	fx_close(&f);
	CHECK(host_is_clean(f.h));
	host_done(f.h);
}

/* v2 has no ENABLE: the first registration enables, for good. */
TEST(v2_first_register_enables_never_unset)
{
	struct fx f;
	uint8_t *mem = umem(MiB);

	CHECK_EQ(fx_open(&f, 0, V2), 0);
	CHECK(!cinfo(&f).enabled);
	CHECK_EQ(map_rw(&f, mem, 0, 4096), -EPERM);
	CHECK_EQ(reg(&f, mem, MiB), 0);
	CHECK(cinfo(&f).enabled);
	CHECK_EQ(cinfo(&f).owner, getpid());
	CHECK_EQ(unreg(&f, mem, MiB), 0);
	CHECK(cinfo(&f).enabled);
	/* Still enabled: MAP gets to the region check (EINVAL), not EPERM. */
	CHECK_EQ(map_rw(&f, mem, 0, 4096), -EINVAL);
	CHECK_EQ(unmap(&f, 0, 4096), 0);
	fx_close(&f);
	CHECK(host_is_clean(f.h));
	host_done(f.h);
}

/* A failed registration does not enable. */
TEST(v2_failed_register_does_not_enable)
{
	struct fx f;
	uint8_t *mem = umem(MiB);

	CHECK_EQ(fx_open(&f, 0, V2), 0);
	CHECK_EQ(reg(&f, mem, 0), -EINVAL);
	CHECK_EQ(munmap(mem, MiB), 0);
	CHECK_EQ(reg(&f, mem, MiB), -EFAULT);
	CHECK(!cinfo(&f).enabled);
	CHECK_EQ(map_rw(&f, mem, 0, 4096), -EPERM);
	fx_close(&f);
	host_done(f.h);
}

TEST(v1_one_group_per_container)
{
	struct fx f;
	int g1, c;

	CHECK_EQ(fx_open(&f, 0, V1), 0);
	CHECK_EQ(tcemu_host_open(f.h, "/dev/vfio/1", O_RDWR, &g1), 0);
	c = f.c;
	CHECK_EQ(tcemu_host_ioctl(f.h, g1, VFIO_GROUP_SET_CONTAINER, &c), -EBUSY);
	CHECK_EQ(cinfo(&f).ngroups, 1);
	tcemu_host_close(f.h, g1);
	fx_close(&f);
	host_done(f.h);
}

TEST(v2_requires_dynamic_windows_ioda1_einval)
{
	static const char topo[] = "phb 0 ioda1 dma32=1G\n pe 1 group=0\n  device 0000:01:00.0\n";
	struct fx f;
	struct vfio_iommu_spapr_tce_info info;

	CHECK_EQ(fx_open_topo(&f, topo, 0, 0), 0);
	CHECK_EQ(ioc(&f, VFIO_SET_IOMMU, (void *)(uintptr_t)V2), -EINVAL);
	CHECK_EQ(cinfo(&f).type, 0);
	/* Nothing kept: v1 can still be set. */
	CHECK_EQ(ioc(&f, VFIO_SET_IOMMU, (void *)(uintptr_t)V1), 0);
	memset(&info, 0x77, sizeof(info));
	info.argsz = sizeof(info);
	CHECK_EQ(ioc(&f, VFIO_IOMMU_SPAPR_TCE_GET_INFO, &info), 0);
	CHECK_EQ(info.flags, 0);
	CHECK_EQ(info.dma32_window_start, 0);
	CHECK_U64(info.dma32_window_size, GiB);
	CHECK_EQ(enable(&f), 0);
	CHECK_U64(locked(f.h), GiB);
	fx_close(&f);
	host_done(f.h);
}

/* ======================= section 6: pre-registration ======================= */

TEST(prereg_region_fields)
{
	struct fx f;
	uint8_t *mem = umem(2 * MiB);
	struct tcemu_region_info ri;

	CHECK_EQ(fx_open(&f, 0, V2), 0);
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
	fx_close(&f);
	host_done(f.h);
}

/* On a 64 KiB-page system a normal page is 64 KiB: regions back 64 KiB IOMMU pages. */
TEST(prereg_page_shift_64k_system)
{
	struct tcemu_host_opts o = opts_default();
	struct fx f;
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
	fx_close(&f);
	CHECK(host_is_clean(f.h));
	host_done(f.h);
}

TEST(prereg_duplicate_in_one_container_ebusy)
{
	struct fx f;
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
	fx_close(&f);
	host_done(f.h);
}

TEST(prereg_shared_between_containers_refcounted)
{
	struct tcemu_host *h = host_new(&(struct tcemu_host_opts){ .memlock_set = true, .memlock = UINT64_MAX });
	struct fx a, b;
	uint8_t *mem = umem(MiB);
	struct tcemu_region_info ri;
	uint64_t tce_a, tce_b;

	CHECK_EQ(fx_attach(h, 0, V2, &a), 0);
	CHECK_EQ(fx_attach(h, 1, V2, &b), 0);
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
	fx_close(&a);
	fx_close(&b);
	CHECK(host_is_clean(h));
	host_done(h);
}

TEST(prereg_overlap_einval_adjacent_ok)
{
	struct fx f;
	uint8_t *mem = umem(4 * MiB);

	CHECK_EQ(fx_open(&f, 0, V2), 0);
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
	fx_close(&f);
	CHECK(host_is_clean(f.h));
	host_done(f.h);
}

TEST(prereg_enomem_over_limit)
{
	struct fx f;
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
	fx_close(&f);
	CHECK(host_is_clean(f.h));
	host_done(f.h);
}

TEST(prereg_efault_unmapped_hole)
{
	struct fx f;
	uint8_t *mem = umem(2 * MiB);

	CHECK_EQ(fx_open(&f, 0, V2), 0);
	CHECK_EQ(munmap(mem + MiB, 4096), 0);
	CHECK_EQ(reg(&f, mem, 2 * MiB), -EFAULT);
	CHECK_EQ(reg(&f, mem + MiB, 4096), -EFAULT);
	CHECK_EQ(mprotect(mem + MiB / 2, 4096, PROT_NONE), 0);
	CHECK_EQ(reg(&f, mem, MiB), -EFAULT);
	CHECK_EQ(nregions(f.h), 0);
	CHECK_U64(locked(f.h), 0);
	CHECK(!cinfo(&f).enabled);
	CHECK_EQ(reg(&f, mem + MiB + 4096, MiB - 4096), 0);
	fx_close(&f);
	host_done(f.h);
}

TEST(prereg_efault_readonly_memory)
{
	struct fx f;
	uint8_t *ro = umem_aligned(MiB, MiB, PROT_READ);

	CHECK(ro);
	CHECK_EQ(fx_open(&f, 0, V2), 0);
	CHECK_EQ(reg(&f, ro, MiB), -EFAULT);
	CHECK_EQ(nregions(f.h), 0);
	CHECK_U64(locked(f.h), 0);
	CHECK(!cinfo(&f).enabled);
	fx_close(&f);
	host_done(f.h);
}

TEST(prereg_iommu_page_larger_than_region_page_eperm)
{
	struct fx f;
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
	fx_close(&f);
	host_done(f.h);
}

TEST(prereg_map_spanning_adjacent_regions)
{
	struct fx f;
	uint8_t *mem = umem(2 * MiB);
	struct tcemu_region_info ra, rb;
	uint64_t ua;

	CHECK_EQ(fx_open(&f, 0, V2), 0);
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
	fx_close(&f);
	CHECK(host_is_clean(f.h));
	host_done(f.h);
}

/*
 * A map over many regions: pinned out of order, so their frames are not all contiguous (one table
 * run per contiguous group), and the failures in a later region leave everything unchanged.
 */
TEST(prereg_map_spanning_many_regions_runs_and_failures)
{
	struct fx f;
	uint8_t *mem = umem(8 * MiB);
	static const unsigned order[4] = { 1, 0, 2, 3 }; /* B pinned first: A->B and B->C are not contiguous */
	struct tcemu_region_info ri[4];
	uint64_t ua;

	CHECK_EQ(fx_open(&f, 0, V2), 0);
	for (unsigned i = 0; i < 4; i++)
		CHECK_EQ(reg(&f, mem + order[i] * MiB, MiB), 0);
	for (unsigned i = 0; i < 4; i++)
		ri[i] = region_at(f.h, mem + i * MiB);
	CHECK(ri[1].hpa != ri[0].hpa + MiB);
	CHECK(ri[2].hpa != ri[1].hpa + MiB);
	CHECK_U64(ri[3].hpa, ri[2].hpa + MiB);
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
	fx_close(&f);
	CHECK(host_is_clean(f.h));
	host_done(f.h);
}

/*
 * The region index against a model: 512 slots of 32 pages, each holding a region of random start
 * and length or nothing, registered in random order, a third unregistered again. Every page of the
 * memory is then looked up through a one-page MAP: it succeeds exactly inside a region, with that
 * region's frame.
 */
TEST(prereg_lookup_matches_model)
{
	enum { SLOTS = 512, SLOT_PAGES = 32 };
	static struct { uint32_t first, len; bool live; } slot[SLOTS];
	static unsigned order[SLOTS];
	struct tcemu_region_info *ri = calloc(SLOTS, sizeof(*ri));
	uint8_t *mem = umem(SLOTS * SLOT_PAGES * 4096ull);
	uint64_t seed = 0x9e3779b97f4a7c15ull, tce, ua;
	struct fx f;

	CHECK(ri && mem);
	CHECK_EQ(fx_open(&f, 0, V2), 0);
	for (unsigned i = 0; i < SLOTS; i++) {
		seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
		slot[i].first = (uint32_t)(seed % SLOT_PAGES);
		slot[i].len = 1 + (uint32_t)((seed >> 8) % (SLOT_PAGES - slot[i].first));
		slot[i].live = (seed >> 20) % 8 != 0;
		order[i] = i;
	}
	for (unsigned i = SLOTS - 1; i > 0; i--) {
		seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
		unsigned j = (unsigned)(seed % (i + 1)), t = order[i];
		order[i] = order[j], order[j] = t;
	}
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
	fx_close(&f);
	CHECK(host_is_clean(f.h));
	host_done(f.h);
	free(ri);
}

TEST(prereg_map_unregistered_memory_einval)
{
	struct fx f;
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
	fx_close(&f);
	host_done(f.h);
}

TEST(prereg_unregister_enoent)
{
	struct tcemu_host *h = host_new(&(struct tcemu_host_opts){ .memlock_set = true, .memlock = UINT64_MAX });
	struct fx a, b;
	uint8_t *mem = umem(2 * MiB);

	CHECK_EQ(fx_attach(h, 0, V2, &a), 0);
	CHECK_EQ(fx_attach(h, 1, V2, &b), 0);
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
	fx_close(&a);
	fx_close(&b);
	CHECK(host_is_clean(h));
	host_done(h);
}

TEST(prereg_unregister_ebusy_while_mapped)
{
	struct fx f;
	uint8_t *mem;

	CHECK_EQ(fx_v2_ready(&f, &mem), 0);
	CHECK_EQ(map_rw(&f, mem + 0x80000, 0x10000, 4096), 0);
	CHECK_EQ(unreg(&f, mem, MiB), -EBUSY);
	CHECK_EQ(unmap(&f, 0x10000, 4096), 0);
	CHECK_EQ(unreg(&f, mem, MiB), 0);
	CHECK_EQ(nregions(f.h), 0);
	fx_close(&f);
	CHECK(host_is_clean(f.h));
	host_done(f.h);
}

/* "any IOMMU entry still maps into the region: EBUSY" - also one another container made. */
TEST(prereg_unregister_ebusy_when_shared_region_mapped_elsewhere)
{
	struct tcemu_host *h = host_new(&(struct tcemu_host_opts){ .memlock_set = true, .memlock = UINT64_MAX });
	struct fx a, b;
	uint8_t *mem = umem(MiB);

	CHECK_EQ(fx_attach(h, 0, V2, &a), 0);
	CHECK_EQ(fx_attach(h, 1, V2, &b), 0);
	CHECK_EQ(reg(&a, mem, MiB), 0);
	CHECK_EQ(reg(&b, mem, MiB), 0);
	CHECK_EQ(map_rw(&b, mem, 0, 4096), 0);
	CHECK_EQ(unreg(&a, mem, MiB), -EBUSY);
	CHECK_EQ(region_at(h, mem).users, 2);
	CHECK_EQ(unmap(&b, 0, 4096), 0);
	CHECK_EQ(unreg(&a, mem, MiB), 0);
	fx_close(&a);
	fx_close(&b);
	CHECK(host_is_clean(h));
	host_done(h);
}

TEST(prereg_mapped_counts)
{
	struct fx f;
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
	fx_close(&f);
	host_done(f.h);
}

/* ======================= section 7: the default window ======================= */

TEST(default_window_pending_after_attach)
{
	struct fx f;
	struct tcemu_container_info ci;

	for (int v = 0; v < 2; v++) {
		CHECK_EQ(fx_open(&f, 0, 0), 0);
		ci = cinfo(&f);
		CHECK(!ci.windows[0].pending); /* no backend yet */
		CHECK_EQ(ioc(&f, VFIO_SET_IOMMU, (void *)(uintptr_t)(v ? V2 : V1)), 0);
		ci = cinfo(&f);
		CHECK_EQ(ci.type, v ? V2 : V1);
		CHECK_EQ(ci.ngroups, 1);
		CHECK_EQ(ci.groups[0], 0);
		CHECK(ci.windows[0].pending);
		CHECK(!ci.windows[0].present);
		CHECK(!ci.windows[1].pending);
		CHECK(!ci.windows[1].present);
		CHECK_U64(locked(f.h), 0);
		fx_close(&f);
		host_done(f.h);
	}
}

TEST(default_window_built_by_first_map)
{
	struct fx f;
	uint8_t *mem;
	struct tcemu_container_info ci;

	CHECK_EQ(fx_v2_ready(&f, &mem), 0);
	CHECK(cinfo(&f).windows[0].pending);
	CHECK_EQ(map_rw(&f, mem, 2 * GiB - 4096, 4096), 0); /* the last page of the 2 GiB window */
	ci = cinfo(&f);
	CHECK(is_default_window(&ci.windows[0], 2 * GiB));
	CHECK_EQ(ci.windows[0].valid_entries, 1);
	CHECK(!ci.windows[1].present);
	fx_close(&f);
	host_done(f.h);
}

TEST(default_window_built_by_first_unmap)
{
	struct fx f;
	uint8_t *mem;
	struct tcemu_container_info ci;

	CHECK_EQ(fx_v2_ready(&f, &mem), 0);
	CHECK_EQ(unmap(&f, 0, 4096), 0);
	ci = cinfo(&f);
	CHECK(is_default_window(&ci.windows[0], 2 * GiB));
	CHECK_EQ(ci.windows[0].valid_entries, 0);
	fx_close(&f);
	host_done(f.h);
}

TEST(default_window_built_by_create)
{
	struct fx f;
	struct tcemu_container_info ci;
	uint64_t start = 0;

	CHECK_EQ(fx_open(&f, 0, V2), 0);
	CHECK_EQ(create(&f, 16, 4 * GiB, 2, &start), 0);
	CHECK_U64(start, W1);
	ci = cinfo(&f);
	CHECK(is_default_window(&ci.windows[0], 2 * GiB));
	CHECK(ci.windows[1].present);
	CHECK_U64(ci.windows[1].start, W1);
	CHECK_U64(ci.windows[1].size, 4 * GiB);
	CHECK_EQ(ci.windows[1].page_shift, 16);
	CHECK_EQ(ci.windows[1].levels, 2);
	CHECK_U64(locked(f.h), DEF_ACCT + tcemu_table_accounted_size(16, 4 * GiB, 2, 12));
	fx_close(&f);
	CHECK(host_is_clean(f.h));
	host_done(f.h);
}

TEST(default_window_remove_zero_cancels)
{
	struct fx f;
	uint8_t *mem;
	struct tcemu_container_info ci;
	uint64_t start = 1;

	CHECK_EQ(fx_v2_ready(&f, &mem), 0);
	CHECK_EQ(remove_win(&f, 0), 0);
	ci = cinfo(&f);
	CHECK(!ci.windows[0].pending);
	CHECK(!ci.windows[0].present);
	CHECK_U64(locked(f.h), MiB); /* nothing was charged for it */
	/* Nothing comes back: MAP and UNMAP find no window. */
	CHECK_EQ(map_rw(&f, mem, 0, 4096), -ENXIO);
	CHECK_EQ(unmap(&f, 0, 4096), -ENXIO);
	CHECK(!cinfo(&f).windows[0].present);
	/* GET_INFO still describes the group's default window. */
	struct vfio_iommu_spapr_tce_info info = { .argsz = sizeof(info) };
	CHECK_EQ(ioc(&f, VFIO_IOMMU_SPAPR_TCE_GET_INFO, &info), 0);
	CHECK_U64(info.dma32_window_size, 2 * GiB);
	/* CREATE gets slot 0 with the requested geometry. */
	CHECK_EQ(create(&f, 12, 8 * GiB, 2, &start), 0);
	CHECK_U64(start, 0);
	ci = cinfo(&f);
	CHECK(ci.windows[0].present);
	CHECK_U64(ci.windows[0].size, 8 * GiB);
	CHECK_EQ(ci.windows[0].levels, 2);
	CHECK_EQ(map_rw(&f, mem, 4 * GiB, 4096), 0);
	fx_close(&f);
	CHECK(host_is_clean(f.h));
	host_done(f.h);
}

TEST(default_window_v1_built_by_map)
{
	struct fx f;
	uint8_t *mem = umem(MiB);
	struct tcemu_container_info ci;

	CHECK_EQ(fx_v1_ready(&f), 0);
	CHECK(cinfo(&f).windows[0].pending);
	CHECK_EQ(map(&f, mem, 0x7fff0000, 4096, VFIO_DMA_MAP_FLAG_READ), 0);
	ci = cinfo(&f);
	CHECK(is_default_window(&ci.windows[0], 2 * GiB));
	CHECK_EQ(ci.windows[0].valid_entries, 1);
	CHECK_EQ(map_rw(&f, mem, 2 * GiB, 4096), -ENXIO);
	fx_close(&f);
	CHECK(host_is_clean(f.h));
	host_done(f.h);
}

TEST(default_window_ioda2_and_custom_dma32)
{
	static const char topo[] = "phb 0 ioda3 dma32=256M\n pe 1 group=3\n  device 0000:01:00.0\n";
	struct fx f;
	uint8_t *mem = umem(MiB);
	struct tcemu_container_info ci;

	CHECK_EQ(fx_open(&f, 4, V2), 0); /* IODA2 */
	CHECK_EQ(reg(&f, mem, MiB), 0);
	CHECK_EQ(map_rw(&f, mem, 0, 4096), 0);
	ci = cinfo(&f);
	CHECK(is_default_window(&ci.windows[0], 2 * GiB));
	fx_close(&f);
	host_done(f.h);

	CHECK_EQ(fx_open_topo(&f, topo, 3, V2), 0);
	CHECK_EQ(reg(&f, mem, MiB), 0);
	CHECK_EQ(map_rw(&f, mem, 256 * MiB - 4096, 4096), 0);
	CHECK_EQ(map_rw(&f, mem, 256 * MiB, 4096), -ENXIO);
	ci = cinfo(&f);
	CHECK(is_default_window(&ci.windows[0], 256 * MiB));
	CHECK_U64(ci.windows[0].accounted_bytes, tcemu_table_accounted_size(12, 256 * MiB, 1, 12));
	fx_close(&f);
	host_done(f.h);
}

/* ======================= window geometry ======================= */

/* Creates and removes one window in slot 0 (the default window is cancelled first). */
static long try_window(struct fx *f, uint32_t ps, uint64_t ws, uint32_t levels)
{
	uint64_t start = 1;
	long rc = create(f, ps, ws, levels, &start);

	if (rc == 0) {
		if (start != 0)
			return -1000;
		rc = remove_win(f, 0);
	}
	return rc;
}

TEST(geometry_levels_zero_and_six_einval)
{
	struct fx f;

	CHECK_EQ(fx_open(&f, 0, V2), 0);
	CHECK_EQ(remove_win(&f, 0), 0);
	CHECK_EQ(try_window(&f, 16, GiB, 0), -EINVAL);
	CHECK_EQ(try_window(&f, 16, GiB, 6), -EINVAL);
	CHECK_EQ(try_window(&f, 16, GiB, 100), -EINVAL);
	CHECK_EQ(try_window(&f, 16, GiB, UINT32_MAX), -EINVAL);
	for (uint32_t l = 1; l <= 4; l++)
		CHECK_EQ(try_window(&f, 16, GiB, l), 0);
	CHECK_U64(locked(f.h), 0);
	fx_close(&f);
	host_done(f.h);
}

TEST(geometry_window_size_power_of_two)
{
	struct fx f;

	CHECK_EQ(fx_open(&f, 0, V2), 0);
	CHECK_EQ(remove_win(&f, 0), 0);
	CHECK_EQ(try_window(&f, 12, 3 * GiB, 1), -EINVAL);
	CHECK_EQ(try_window(&f, 12, GiB + 4096, 1), -EINVAL);
	CHECK_EQ(try_window(&f, 12, 0, 1), -EINVAL);
	CHECK_EQ(try_window(&f, 16, 4096, 1), -EINVAL); /* smaller than one page */
	CHECK_EQ(try_window(&f, 12, UINT64_MAX, 1), -EINVAL);
	CHECK_EQ(try_window(&f, 12, 1ull << 63, 4), -EINVAL);
	CHECK_EQ(try_window(&f, 12, 4096, 1), 0);
	CHECK_EQ(try_window(&f, 12, GiB, 1), 0);
	CHECK(!cinfo(&f).windows[0].present);
	CHECK_U64(locked(f.h), 0);
	fx_close(&f);
	host_done(f.h);
}

TEST(geometry_page_sizes_ioda3)
{
	struct fx f;
	struct vfio_iommu_spapr_tce_info info = { .argsz = sizeof(info) };

	CHECK_EQ(fx_open(&f, 0, V2), 0);
	CHECK_EQ(ioc(&f, VFIO_IOMMU_SPAPR_TCE_GET_INFO, &info), 0);
	CHECK_EQ(remove_win(&f, 0), 0);
	for (uint32_t ps = 0; ps < 64; ps++) {
		long want = (info.ddw.pgsizes >> ps) & 1 ? 0 : -EINVAL;

		CHECK_EQ(try_window(&f, ps, 1ull << 40, 2), want);
	}
	CHECK_U64(info.ddw.pgsizes, PGS_IODA3);
	CHECK_EQ(try_window(&f, 24, 1ull << 40, 2), -EINVAL);
	CHECK_EQ(try_window(&f, 28, 1ull << 40, 2), -EINVAL);
	CHECK_EQ(try_window(&f, 64, 1ull << 40, 2), -EINVAL);
	CHECK_EQ(try_window(&f, 0xffffffffu, 1ull << 40, 2), -EINVAL);
	fx_close(&f);
	host_done(f.h);
}

TEST(geometry_page_sizes_ioda2)
{
	struct fx f;

	CHECK_EQ(fx_open(&f, 4, V2), 0);
	CHECK_EQ(remove_win(&f, 0), 0);
	CHECK_EQ(try_window(&f, 12, 1ull << 40, 2), 0);
	CHECK_EQ(try_window(&f, 16, 1ull << 40, 2), 0);
	CHECK_EQ(try_window(&f, 24, 1ull << 40, 2), 0);
	CHECK_EQ(try_window(&f, 28, 1ull << 40, 2), 0);
	CHECK_EQ(try_window(&f, 21, 1ull << 40, 2), -EINVAL);
	CHECK_EQ(try_window(&f, 30, 1ull << 40, 2), -EINVAL);
	CHECK_EQ(try_window(&f, 13, 1ull << 40, 2), -EINVAL);
	fx_close(&f);
	host_done(f.h);
}

/* (level_shift - 3) * levels + page_shift < 55, level_shift = max(12, ceil(entries_shift/levels) + 3). */
TEST(geometry_level_shift_rule)
{
	struct fx f;

	CHECK_EQ(fx_open(&f, 0, V2), 0);
	CHECK_EQ(remove_win(&f, 0), 0);
	/* 4K pages: 4 levels give 9*4+12 = 48; 5 levels 9*5+12 = 57 whatever the size. */
	CHECK_EQ(try_window(&f, 12, 2 * GiB, 4), 0);
	CHECK_EQ(try_window(&f, 12, 2 * GiB, 5), -EINVAL);
	CHECK_EQ(try_window(&f, 12, 4096, 5), -EINVAL);
	/* 64K pages, 3 levels: 2^52 gives 12*3+16 = 52; 2^53 gives 13*3+16 = 55. */
	CHECK_EQ(try_window(&f, 16, 1ull << 52, 3), 0);
	CHECK_EQ(try_window(&f, 16, 1ull << 53, 3), -EINVAL);
	/* 1G pages, 2 levels: 2^54 gives 12*2+30 = 54; 2^55 gives 13*2+30 = 56. */
	CHECK_EQ(try_window(&f, 30, 1ull << 54, 2), 0);
	CHECK_EQ(try_window(&f, 30, 1ull << 55, 2), -EINVAL);
	/* 2M pages, 1 level: 2^55 gives 34+21 = 55. */
	CHECK_EQ(try_window(&f, 21, 1ull << 55, 1), -EINVAL);
	CHECK_U64(locked(f.h), 0);
	fx_close(&f);
	host_done(f.h);
}

TEST(geometry_two_windows_then_enospc)
{
	struct fx f;
	uint64_t s0 = 1, s1 = 0, s2 = 0;
	struct tcemu_container_info ci;

	CHECK_EQ(fx_open(&f, 0, V2), 0);
	CHECK_EQ(remove_win(&f, 0), 0);
	CHECK_EQ(create(&f, 16, 16 * GiB, 1, &s0), 0);
	CHECK_EQ(create(&f, 21, 1ull << 40, 2, &s1), 0);
	CHECK_U64(s0, 0);
	CHECK_U64(s1, W1);
	CHECK_EQ(create(&f, 12, GiB, 1, &s2), -ENOSPC);
	ci = cinfo(&f);
	CHECK_U64(ci.windows[0].start, 0);
	CHECK_EQ(ci.windows[0].page_shift, 16);
	CHECK_U64(ci.windows[1].start, W1);
	CHECK_EQ(ci.windows[1].page_shift, 21);
	/* Free slot 1 only: the next window takes slot 1 again. */
	CHECK_EQ(remove_win(&f, W1), 0);
	CHECK_EQ(create(&f, 12, GiB, 1, &s2), 0);
	CHECK_U64(s2, W1);
	CHECK_U64(locked(f.h), tcemu_table_accounted_size(16, 16 * GiB, 1, 12) +
				       tcemu_table_accounted_size(12, GiB, 1, 12));
	fx_close(&f);
	CHECK(host_is_clean(f.h));
	host_done(f.h);
}

TEST(remove_address_inside_window)
{
	struct fx f;
	uint8_t *mem;
	uint64_t base;

	CHECK_EQ(fx_v2_ready(&f, &mem), 0);
	CHECK_EQ(create(&f, 12, 4 * GiB, 2, NULL), 0); /* slot 1; default built in slot 0 */
	CHECK_EQ(map_rw(&f, mem, W1 + 0x10000000, 16 * 4096), 0);
	CHECK_EQ(region_at(f.h, mem).mapped, 16);
	base = locked(f.h);
	/* An address past the end of every window: EINVAL. */
	CHECK_EQ(remove_win(&f, W1 + 4 * GiB), -EINVAL);
	CHECK_EQ(remove_win(&f, 2 * GiB), -EINVAL);
	/* Inside window 1, not its start. */
	CHECK_EQ(remove_win(&f, W1 + 0x10000000 + 4096), 0);
	CHECK(!cinfo(&f).windows[1].present);
	CHECK(cinfo(&f).windows[0].present);
	CHECK_U64(locked(f.h), base - tcemu_table_accounted_size(12, 4 * GiB, 2, 12));
	CHECK_EQ(region_at(f.h, mem).mapped, 0);
	CHECK_EQ(map_rw(&f, mem, W1, 4096), -ENXIO);
	CHECK_EQ(unreg(&f, mem, MiB), 0);
	/* Inside window 0: the last byte. */
	CHECK_EQ(remove_win(&f, 2 * GiB - 1), 0);
	CHECK(!cinfo(&f).windows[0].present);
	CHECK_U64(locked(f.h), 0);
	fx_close(&f);
	host_done(f.h);
}

/* Clearing skips absent levels: a sparse 2^36-entry window unmaps in what is mapped. */
TEST(unmap_sparse_multilevel_window_skips_absent_levels)
{
	struct fx f;
	uint8_t *mem;
	struct tcemu_container_info ci;
	uint64_t alloc;
	struct timespec t0, t1;

	CHECK_EQ(fx_v2_ready(&f, &mem), 0);
	CHECK_EQ(create(&f, 12, 1ull << 48, 4, NULL), 0);
	CHECK_EQ(map_rw(&f, mem, W1 + (1ull << 47), 4096), 0);
	CHECK_EQ(map_rw(&f, mem + 4096, W1 + (1ull << 48) - 4096, 4096), 0);
	ci = cinfo(&f);
	CHECK_EQ(ci.windows[1].valid_entries, 2);
	alloc = ci.windows[1].allocated_bytes;
	CHECK(alloc > 0 && alloc < MiB);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_EQ(unmap(&f, W1, 1ull << 48), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	CHECK((t1.tv_sec - t0.tv_sec) < 2);
	ci = cinfo(&f);
	CHECK_EQ(ci.windows[1].valid_entries, 0);
	CHECK(ci.windows[1].allocated_bytes <= alloc); /* clearing never allocates */
	CHECK_EQ(region_at(f.h, mem).mapped, 0);
	CHECK_EQ(remove_win(&f, W1), 0);
	fx_close(&f);
	CHECK(host_is_clean(f.h));
	host_done(f.h);
}

/* ======================= entries, replacement, GET_INFO ======================= */

TEST(map_entry_bits_and_addresses_v2)
{
	struct fx f;
	uint8_t *mem;
	struct tcemu_region_info ri;
	const struct {
		uint32_t flags;
		uint64_t bits;
	} dirs[] = {
		{ VFIO_DMA_MAP_FLAG_READ, TR },
		{ VFIO_DMA_MAP_FLAG_WRITE, TR | TW }, /* the host adds READ whenever WRITE is set */
		{ VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE, TR | TW },
	};

	CHECK_EQ(fx_v2_ready(&f, &mem), 0);
	ri = region_at(f.h, mem);
	for (unsigned d = 0; d < 3; d++) {
		uint64_t iova = 0x1000000 + d * 0x100000ull, va_off = d * 0x40000ull;

		CHECK_EQ(map(&f, mem + va_off, iova, 4 * 4096, dirs[d].flags), 0);
		for (unsigned i = 0; i < 4; i++) {
			uint64_t ua = 0, tce = tce_at(&f, iova + i * 4096ull, &ua);

			CHECK_U64(tce & 0xfff, dirs[d].bits);
			CHECK_U64(tce & ~0xfffull, ri.hpa + va_off + i * 4096ull);
			CHECK(tce >> 12 != ((uintptr_t)mem + va_off) >> 12);
			CHECK_U64(ua, (uintptr_t)mem + va_off + i * 4096ull);
		}
		CHECK_U64(tce_at(&f, iova + 4 * 4096, NULL), 0);
	}
	CHECK_EQ(region_at(f.h, mem).mapped, 12);
	fx_close(&f);
	host_done(f.h);
}

/* v1 has no table of user addresses: the physical address maps back to the user page. */
static uint64_t v1_ua_of(struct fx *f, uint64_t iova)
{
	uint64_t ua = 0, tce = tce_at(f, iova, NULL);

	if (!tce || tcemu_memory_hpa_to_ua(tcemu_host_memory(f->h), tce & ~0xfffull, &ua, NULL))
		return 0;
	return ua;
}

TEST(map_entry_bits_and_addresses_v1)
{
	struct fx f;
	uint8_t *mem = umem(MiB);
	uint64_t tce;

	CHECK_EQ(fx_v1_ready(&f), 0);
	CHECK_EQ(map(&f, mem, 0x5000, 3 * 4096, VFIO_DMA_MAP_FLAG_READ), 0);
	CHECK_EQ(map(&f, mem + 3 * 4096, 0x8000, 4096, VFIO_DMA_MAP_FLAG_WRITE), 0);
	CHECK_EQ(map_rw(&f, mem + 4 * 4096, 0x9000, 4096), 0);
	for (unsigned i = 0; i < 3; i++) {
		tce = tce_at(&f, 0x5000 + i * 4096ull, NULL);
		CHECK_U64(tce & 0xfff, TR);
		CHECK(tce >> 12 != 0 && tce >> 12 != ((uintptr_t)mem + i * 4096ull) >> 12);
		CHECK_U64(v1_ua_of(&f, 0x5000 + i * 4096ull), (uintptr_t)mem + i * 4096ull);
	}
	CHECK_U64(tce_at(&f, 0x8000, NULL) & 0xfff, TR | TW); /* the host adds READ to WRITE */
	CHECK_U64(v1_ua_of(&f, 0x8000), (uintptr_t)mem + 3 * 4096);
	CHECK_U64(tce_at(&f, 0x9000, NULL) & 0xfff, TR | TW);
	CHECK_U64(v1_ua_of(&f, 0x9000), (uintptr_t)mem + 4 * 4096);
	CHECK_U64(tce_at(&f, 0x4000, NULL), 0);
	CHECK_U64(tce_at(&f, 0xa000, NULL), 0);
	fx_close(&f);
	host_done(f.h);
}

TEST(map_over_valid_entry_replaces_v2)
{
	struct fx f;
	uint8_t *mem = umem(2 * MiB);
	struct tcemu_region_info rb;
	uint64_t ua = 0;

	CHECK_EQ(fx_open(&f, 0, V2), 0);
	CHECK_EQ(reg(&f, mem, MiB), 0);
	CHECK_EQ(reg(&f, mem + MiB, MiB), 0);
	CHECK_EQ(map_rw(&f, mem, 0x10000, 4 * 4096), 0);
	/* Overwrite the middle two with pages of the other region, read-only. */
	CHECK_EQ(map(&f, mem + MiB + 0x8000, 0x11000, 2 * 4096, VFIO_DMA_MAP_FLAG_READ), 0);
	rb = region_at(f.h, mem + MiB);
	CHECK_EQ(region_at(f.h, mem).mapped, 2);
	CHECK_EQ(rb.mapped, 2);
	CHECK_EQ(cinfo(&f).windows[0].valid_entries, 4);
	CHECK_U64(tce_at(&f, 0x11000, &ua), (rb.hpa + 0x8000) | TR);
	CHECK_U64(ua, (uintptr_t)mem + MiB + 0x8000);
	/* The same entries once more from the same pages: counts unchanged. */
	CHECK_EQ(map(&f, mem + MiB + 0x8000, 0x11000, 2 * 4096, VFIO_DMA_MAP_FLAG_READ), 0);
	CHECK_EQ(region_at(f.h, mem + MiB).mapped, 2);
	/* Everything over the first region now: the second is free to go. */
	CHECK_EQ(map_rw(&f, mem, 0x10000, 4 * 4096), 0);
	CHECK_EQ(region_at(f.h, mem).mapped, 4);
	CHECK_EQ(region_at(f.h, mem + MiB).mapped, 0);
	CHECK_EQ(unreg(&f, mem + MiB, MiB), 0);
	CHECK_EQ(unmap(&f, 0x10000, 4 * 4096), 0);
	CHECK_EQ(unreg(&f, mem, MiB), 0);
	fx_close(&f);
	CHECK(host_is_clean(f.h));
	host_done(f.h);
}

TEST(map_over_valid_entry_replaces_v1)
{
	struct fx f;
	uint8_t *mem = umem(MiB);
	struct tcemu_memory_stats ms0, ms1;
	uint64_t ua = 0, tce;

	CHECK_EQ(fx_v1_ready(&f), 0);
	CHECK_EQ(map_rw(&f, mem, 0x10000, 4096), 0);
	tcemu_memory_stats(tcemu_host_memory(f.h), &ms0);
	CHECK_EQ(map(&f, mem + 0x20000, 0x10000, 4096, VFIO_DMA_MAP_FLAG_READ), 0);
	tcemu_memory_stats(tcemu_host_memory(f.h), &ms1);
	CHECK_U64(ms1.pins, ms0.pins); /* one pinned, one released */
	tce = tce_at(&f, 0x10000, &ua);
	CHECK_U64(tce & 0xfff, TR);
	CHECK_U64(v1_ua_of(&f, 0x10000), (uintptr_t)mem + 0x20000);
	CHECK_EQ(cinfo(&f).windows[0].valid_entries, 1);
	fx_close(&f);
	tcemu_memory_stats(tcemu_host_memory(f.h), &ms1);
	CHECK_U64(ms1.pins, 0);
	host_done(f.h);
}

TEST(get_info_v2_ioda3_ddw)
{
	struct fx f;
	struct vfio_iommu_spapr_tce_info info;

	CHECK_EQ(fx_open(&f, 0, V2), 0);
	memset(&info, 0xcc, sizeof(info));
	info.argsz = sizeof(info);
	info.flags = 0;
	CHECK_EQ(ioc(&f, VFIO_IOMMU_SPAPR_TCE_GET_INFO, &info), 0);
	CHECK_EQ(info.argsz, 32);
	CHECK_EQ(info.flags, VFIO_IOMMU_SPAPR_INFO_DDW);
	CHECK_EQ(info.dma32_window_start, 0);
	CHECK_U64(info.dma32_window_size, 2 * GiB);
	CHECK_U64(info.ddw.pgsizes, PGS_IODA3);
	CHECK_EQ(info.ddw.max_dynamic_windows_supported, 2);
	CHECK_EQ(info.ddw.levels, 5);
	CHECK(cinfo(&f).windows[0].pending); /* GET_INFO builds nothing */
	fx_close(&f);
	host_done(f.h);
}

TEST(get_info_v2_ioda2_ddw)
{
	struct fx f;
	struct vfio_iommu_spapr_tce_info info;

	CHECK_EQ(fx_open(&f, 5, V2), 0);
	memset(&info, 0xcc, sizeof(info));
	info.argsz = sizeof(info);
	CHECK_EQ(ioc(&f, VFIO_IOMMU_SPAPR_TCE_GET_INFO, &info), 0);
	CHECK_EQ(info.flags, VFIO_IOMMU_SPAPR_INFO_DDW);
	CHECK_EQ(info.dma32_window_start, 0);
	CHECK_U64(info.dma32_window_size, 2 * GiB);
	CHECK_U64(info.ddw.pgsizes, PGS_IODA2);
	CHECK_EQ(info.ddw.max_dynamic_windows_supported, 2);
	CHECK_EQ(info.ddw.levels, 5);
	fx_close(&f);
	host_done(f.h);
}

TEST(get_info_ddw_copied_only_when_argsz_at_least_32)
{
	struct fx f;
	const uint32_t sizes[] = { 16, 20, 24, 31 };

	CHECK_EQ(fx_open(&f, 0, V2), 0);
	for (size_t i = 0; i < 4; i++) {
		uint8_t buf[40];
		struct vfio_iommu_spapr_tce_info *info = (void *)buf;

		memset(buf, 0x5a, sizeof(buf));
		info->argsz = sizes[i];
		info->flags = 0;
		CHECK_EQ(ioc(&f, VFIO_IOMMU_SPAPR_TCE_GET_INFO, buf), 0);
		CHECK_EQ(info->flags, VFIO_IOMMU_SPAPR_INFO_DDW);
		CHECK_U64(info->dma32_window_size, 2 * GiB);
		for (size_t k = 16; k < sizeof(buf); k++)
			CHECK_EQ(buf[k], 0x5a);
	}
	fx_close(&f);
	host_done(f.h);
}

TEST(get_info_v1_flags_zero)
{
	struct fx f;
	uint8_t buf[32];
	struct vfio_iommu_spapr_tce_info *info = (void *)buf;

	for (unsigned g = 0; g <= 4; g += 4) {
		CHECK_EQ(fx_open(&f, g, V1), 0);
		memset(buf, 0x5a, sizeof(buf));
		info->argsz = 24;
		info->flags = 0xffff;
		CHECK_EQ(ioc(&f, VFIO_IOMMU_SPAPR_TCE_GET_INFO, buf), 0);
		CHECK_EQ(info->flags, 0);
		CHECK_EQ(info->dma32_window_start, 0);
		CHECK_U64(info->dma32_window_size, 2 * GiB);
		for (size_t k = 16; k < sizeof(buf); k++)
			CHECK_EQ(buf[k], 0x5a);
		fx_close(&f);
		host_done(f.h);
	}
}

/* ======================= section 10: differences from the kernel ======================= */

TEST(diff_misaligned_iova_einval_not_positive)
{
	struct fx f;
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
	struct fx g;
	CHECK_EQ(fx_v1_ready(&g), 0);
	CHECK_EQ(map_rw(&g, mem, 0x10800, 4096), -EINVAL);
	CHECK_EQ(unmap(&g, 0x10800, 4096), -EINVAL);
	CHECK_EQ(cinfo(&g).windows[0].valid_entries, 0);
	fx_close(&g);
	host_done(g.h);
	fx_close(&f);
	host_done(f.h);
}

TEST(diff_range_leaving_window_einval)
{
	struct fx f;
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
	fx_close(&f);
	host_done(f.h);
}

TEST(diff_unregister_mapped_ebusy_nothing_changes)
{
	struct fx f;
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
	fx_close(&f);
	CHECK(host_is_clean(f.h));
	host_done(f.h);
}

TEST(diff_v1_pins_with_direction_access)
{
	struct fx f;
	uint8_t *ro = umem_aligned(64 * KiB, 64 * KiB, PROT_READ);
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
	fx_close(&f);
	CHECK(host_is_clean(f.h));
	host_done(f.h);
}

/* A v2 MAP that fails part way leaves nothing of itself behind (deterministic case). */
TEST(diff_v2_map_failure_rolls_back)
{
	struct fx f;
	uint8_t *mem = umem(2 * MiB);

	CHECK_EQ(fx_open(&f, 0, V2), 0);
	CHECK_EQ(reg(&f, mem, MiB), 0);
	CHECK_EQ(reg(&f, mem + MiB, MiB), 0);
	CHECK_EQ(unreg(&f, mem + MiB, MiB), 0); /* torn down */
	CHECK_EQ(map_rw(&f, mem + MiB - 16 * 4096, 0x100000, 32 * 4096), -EINVAL);
	for (unsigned i = 0; i < 32; i++)
		CHECK_U64(tce_at(&f, 0x100000 + i * 4096ull, NULL), 0);
	CHECK_EQ(region_at(f.h, mem).mapped, 0);
	CHECK_EQ(cinfo(&f).windows[0].valid_entries, 0);
	fx_close(&f);
	CHECK(host_is_clean(f.h));
	host_done(f.h);
}

struct race {
	struct fx *f;
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
	struct fx f;
	uint8_t *mem = umem(2 * MiB);
	struct race r = { .f = &f, .b = mem + MiB };
	struct harness_threads t = { .stop = &r.stop };
	long ok = 0, failed = 0, broken = 0;

	CHECK_EQ(fx_open(&f, 0, V2), 0);
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
	fx_close(&f);
	CHECK(host_is_clean(f.h));
	host_done(f.h);
}

TEST(diff_register_partly_inaccessible_efault_nothing_kept)
{
	struct fx f;
	uint8_t *mem = umem(4 * MiB);
	struct tcemu_host_stats st;
	struct tcemu_memory_stats ms;

	CHECK_EQ(fx_open(&f, 0, V2), 0);
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
	fx_close(&f);
	host_done(f.h);
}

TEST(diff_detach_one_group_keeps_other_groups_mappings)
{
	struct fx f;
	uint8_t *mem;
	int g1, c;
	uint64_t tce, ua = 0;
	struct tcemu_container_info ci;

	CHECK_EQ(fx_open(&f, 0, V2), 0);
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
	fx_close(&f);
	CHECK(host_is_clean(f.h));
	host_done(f.h);
}

/* ======================= everything returns to zero ======================= */

/* A v2 container on `group` with two regions, a second window and mappings in both windows. */
static long busy_v2(struct tcemu_host *h, unsigned group, uint8_t *mem, struct fx *f)
{
	long rc = fx_attach(h, group, V2, f);

	rc = rc ? rc : reg(f, mem, MiB);
	rc = rc ? rc : reg(f, mem + MiB, MiB);
	rc = rc ? rc : create(f, 12, 16 * GiB, 2, NULL);
	rc = rc ? rc : map_rw(f, mem, 0x10000, 64 * 4096);
	return rc ? rc : map_rw(f, mem + MiB, W1 + 0x1000000, MiB);
}

TEST(cleanup_everything_returns_to_zero_on_close)
{
	struct tcemu_host *h = host_new(&(struct tcemu_host_opts){ .memlock_set = true, .memlock = UINT64_MAX });
	uint8_t *mem = umem(2 * MiB), *v1mem = umem(MiB);
	struct fx a, b, c;
	struct tcemu_host_stats st;
	struct tcemu_memory_stats ms;

	/* Two v2 containers sharing a region, and a v1 container. */
	CHECK_EQ(busy_v2(h, 0, mem, &a), 0);
	CHECK_EQ(fx_attach(h, 1, V2, &b), 0);
	CHECK_EQ(reg(&b, mem, MiB), 0);
	CHECK_EQ(map_rw(&b, mem, 0, MiB), 0);
	CHECK_EQ(fx_attach(h, 4, V1, &c), 0);
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
	host_done(h);
}

/* Descriptors left open are released by destroy (checked by the sanitizers), and a fresh host
 * from the same process starts at zero. */
TEST(cleanup_after_unset_container)
{
	struct fx f;
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
	fx_close(&f);
	host_done(f.h);
}

HARNESS_MAIN(T(generic_argsz_below_minsz_einval), T(generic_argsz_exactly_minsz_accepted),
	     T(generic_argsz_larger_than_struct), T(generic_argsz_below_minsz_einval_v1), T(generic_unknown_flags_einval), T(generic_unknown_command_enotty),
	     T(generic_bad_pointer_efault), T(generic_unwritable_output_efault),
	     T(mode_backend_ioctls_before_set_iommu_einval), T(mode_v1_only_ioctls_on_v2_enotty),
	     T(mode_v2_only_ioctls_on_v1_enotty), T(mode_v1_only_on_v2_enotty_before_argument),
	     T(get_info_argsz_below_16_einval_untouched), T(map_order_eperm_before_argsz_and_pointer),
	     T(map_order_argsz_and_flags_before_default_window), T(map_order_default_window_before_enxio),
	     T(map_order_default_window_enomem_before_enxio), T(map_order_enxio_before_alignment_and_direction),
	     T(map_order_einval_checks_before_region_checks), T(unmap_order), T(enable_order_ebusy_before_enomem),
	     T(enable_enomem_over_limit), T(register_order_generic_and_alignment),
	     T(register_order_ebusy_before_enomem_and_efault), T(register_order_shared_before_enomem_and_efault),
	     T(register_order_overlap_before_enomem_and_efault), T(register_order_enomem_before_efault),
	     T(unregister_order), T(unregister_after_remove_records_process_enoent),
	     T(create_order_argsz_flags_before_default_window), T(create_order_default_window_before_geometry),
	     T(create_order_default_window_enomem_before_geometry), T(create_order_enospc_before_geometry),
	     T(create_order_pgsize_and_geometry_before_enomem), T(remove_order),
	     T(v1_enable_charges_whole_default_window), T(v1_enable_charges_custom_dma32),
	     T(v1_disable_unaccounts_keeps_mappings), T(v1_map_pins_per_page_without_charge),
	     T(v2_register_charges_region_map_charges_nothing), T(v2_create_charges_exact_table_size),
	     T(v2_default_window_charged_when_built), T(v2_create_enomem_keeps_nothing),
	     T(v2_first_register_enables_never_unset), T(v2_failed_register_does_not_enable),
	     T(v1_one_group_per_container), T(v2_requires_dynamic_windows_ioda1_einval), T(prereg_region_fields),
	     T(prereg_page_shift_64k_system), T(prereg_duplicate_in_one_container_ebusy),
	     T(prereg_shared_between_containers_refcounted), T(prereg_overlap_einval_adjacent_ok),
	     T(prereg_enomem_over_limit), T(prereg_efault_unmapped_hole), T(prereg_efault_readonly_memory),
	     T(prereg_iommu_page_larger_than_region_page_eperm), T(prereg_map_spanning_adjacent_regions),
	     T(prereg_map_spanning_many_regions_runs_and_failures), T(prereg_lookup_matches_model),
	     T(prereg_map_unregistered_memory_einval), T(prereg_unregister_enoent),
	     T(prereg_unregister_ebusy_while_mapped), T(prereg_unregister_ebusy_when_shared_region_mapped_elsewhere),
	     T(prereg_mapped_counts), T(default_window_pending_after_attach), T(default_window_built_by_first_map),
	     T(default_window_built_by_first_unmap), T(default_window_built_by_create),
	     T(default_window_remove_zero_cancels), T(default_window_v1_built_by_map),
	     T(default_window_ioda2_and_custom_dma32), T(geometry_levels_zero_and_six_einval),
	     T(geometry_window_size_power_of_two), T(geometry_page_sizes_ioda3), T(geometry_page_sizes_ioda2),
	     T(geometry_level_shift_rule), T(geometry_two_windows_then_enospc), T(remove_address_inside_window), T(unmap_sparse_multilevel_window_skips_absent_levels),
	     T(map_entry_bits_and_addresses_v2), T(map_entry_bits_and_addresses_v1),
	     T(map_over_valid_entry_replaces_v2), T(map_over_valid_entry_replaces_v1), T(get_info_v2_ioda3_ddw),
	     T(get_info_v2_ioda2_ddw), T(get_info_ddw_copied_only_when_argsz_at_least_32), T(get_info_v1_flags_zero),
	     T(diff_misaligned_iova_einval_not_positive), T(diff_range_leaving_window_einval),
	     T(diff_unregister_mapped_ebusy_nothing_changes), T(diff_v1_pins_with_direction_access),
	     T(diff_v2_map_failure_rolls_back), T(diff_v2_map_meeting_teardown_rolls_back),
	     T(diff_register_partly_inaccessible_efault_nothing_kept),
	     T(diff_detach_one_group_keeps_other_groups_mappings), T(cleanup_everything_returns_to_zero_on_close),
	     T(cleanup_after_unset_container))
