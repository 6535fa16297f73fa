/* SPDX-License-Identifier: MIT */
/*
 * sPAPR TCE backend conformance (spapr.h): the generic ioctl rules (section 1 of vfio-spapr-abi.md:
 * argsz, flags, unknown commands, bad pointers) and the mode rules (section 3: what works before
 * SET_IOMMU, v1-only and v2-only ioctls).
 */
#include "spapr.h"

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
	struct fx_vfio f;
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
	fx_vfio_close(&f);
	fx_host_done(f.h);
}

TEST(generic_argsz_exactly_minsz_accepted)
{
	struct fx_vfio f;
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
	fx_vfio_close(&f);
	fx_host_done(f.h);
}

/* argsz above the struct: only the struct is read and written back, the rest is left alone. */
TEST(generic_argsz_larger_than_struct)
{
	struct fx_vfio f;
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
	fx_vfio_close(&f);
	fx_host_done(f.h);
}

TEST(generic_unknown_flags_einval)
{
	struct fx_vfio f;
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
	fx_vfio_close(&f);
	fx_host_done(f.h);
}

TEST(generic_unknown_command_enotty)
{
	struct fx_vfio f;
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
	fx_vfio_close(&f);
	fx_host_done(f.h);
}

TEST(generic_bad_pointer_efault)
{
	struct fx_vfio f;
	uint8_t *mem;
	uint8_t *page = fx_umem(2 * 4096, 4096, PROT_READ | PROT_WRITE);
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
	fx_vfio_close(&f);
	fx_host_done(f.h);
}

/* Output structs that cannot be written back: EFAULT. */
TEST(generic_unwritable_output_efault)
{
	struct fx_vfio f;
	uint8_t *mem;
	uint8_t *page = fx_umem(4096, 4096, PROT_READ | PROT_WRITE);
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
	fx_vfio_close(&f);
	fx_host_done(f.h);
}

TEST(generic_argsz_below_minsz_einval_v1)
{
	struct fx_vfio f;
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
	fx_vfio_close(&f);
	fx_host_done(f.h);
}

/* ======================= section 3: modes ======================= */

TEST(mode_backend_ioctls_before_set_iommu_einval)
{
	struct fx_vfio f;
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
	CHECK_EQ(fx_vfio_open(&f, 0, 0), 0);
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
	fx_vfio_close(&f);
	fx_host_done(f.h);
}

TEST(mode_v1_only_ioctls_on_v2_enotty)
{
	struct fx_vfio f;
	uint8_t *mem;

	CHECK_EQ(fx_vfio_open(&f, 0, V2), 0);
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
	fx_vfio_close(&f);
	fx_host_done(f.h);
}

TEST(mode_v2_only_ioctls_on_v1_enotty)
{
	struct fx_vfio f;
	uint8_t *mem = umem(MiB);
	struct vfio_iommu_spapr_register_memory r = { sizeof(r), 0, (uintptr_t)mem, MiB };
	struct vfio_iommu_spapr_tce_create cr = { .argsz = sizeof(cr), .page_shift = 12, .window_size = GiB,
						  .levels = 1 };
	struct vfio_iommu_spapr_tce_remove rm = { sizeof(rm), 0, 0 };

	for (int enabled = 0; enabled < 2; enabled++) {
		CHECK_EQ(fx_vfio_open(&f, 0, V1), 0);
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
		fx_vfio_close(&f);
		fx_host_done(f.h);
	}
}

TEST(mode_v1_only_on_v2_enotty_before_argument)
{
	struct fx_vfio f;
	uint8_t *mem;

	CHECK_EQ(fx_v2_ready(&f, &mem), 0);
	/* A v2 container: v2-only commands with argsz too small are EINVAL, v1-only are ENOTTY. */
	struct vfio_iommu_spapr_tce_remove rm = { 8, 0, 0 };
	CHECK_EQ(ioc(&f, VFIO_IOMMU_SPAPR_TCE_REMOVE, &rm), -EINVAL);
	CHECK_EQ(ioc(&f, VFIO_IOMMU_ENABLE, (void *)(uintptr_t)1), -ENOTTY);
	CHECK(cinfo(&f).windows[0].pending);
	fx_vfio_close(&f);
	fx_host_done(f.h);
}

HARNESS_MAIN(T(generic_argsz_below_minsz_einval), T(generic_argsz_exactly_minsz_accepted),
	     T(generic_argsz_larger_than_struct), T(generic_argsz_below_minsz_einval_v1),
	     T(generic_unknown_flags_einval), T(generic_unknown_command_enotty), T(generic_bad_pointer_efault),
	     T(generic_unwritable_output_efault), T(mode_backend_ioctls_before_set_iommu_einval),
	     T(mode_v1_only_ioctls_on_v2_enotty), T(mode_v2_only_ioctls_on_v1_enotty),
	     T(mode_v1_only_on_v2_enotty_before_argument))
