/* SPDX-License-Identifier: MIT */
/* The device-model API (tcemu/devmodel.h) with a model of the test's own, through the VFIO fd API. */
#include <pthread.h>

#include "harness.h"
#include "virtio_driver.h"

#define BDF "0000:01:00.0"

struct toy {
	pthread_mutex_t lock;
	uint32_t regs[4];
	unsigned resets, freezes, thaws, cfg_writes;
	int msix_cap, vendor_cap;
};

static bool toy_destroyed;

static int toy_init(struct tcemu_model *m, const char *params)
{
	static const uint8_t msix[10] = { 3, 0, 1, 0, 0, 0, 1 | 0x80, 0, 0, 0 }; /* 4 vectors in BAR1 */
	static const uint8_t msix_w[10] = { 0, 0xc0 };
	static const uint8_t msi[8] = { 0 };
	static const uint8_t vend[6] = { 8, 1, 2, 3, 4, 5 };
	struct toy *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	if (params && strcmp(params, "fail") == 0) {
		free(t);
		return -EPERM;
	}
	pthread_mutex_init(&t->lock, NULL);
	t->msix_cap = tcemu_model_add_cap(m, 0x11, msix, sizeof(msix), msix_w);
	tcemu_model_add_cap(m, 0x05, msi, sizeof(msi), NULL);
	t->vendor_cap = tcemu_model_add_cap(m, 0x09, vend, sizeof(vend), NULL);
	tcemu_model_set_priv(m, t);
	toy_destroyed = false;
	return 0;
}

static int toy_rd(struct tcemu_model *m, unsigned bar, uint64_t off, void *buf, size_t len)
{
	struct toy *t = tcemu_model_priv(m);

	if (bar != 0 || off + len > sizeof(t->regs))
		return -EINVAL;
	pthread_mutex_lock(&t->lock);
	memcpy(buf, (uint8_t *)t->regs + off, len);
	pthread_mutex_unlock(&t->lock);
	return 0;
}

static int toy_wr(struct tcemu_model *m, unsigned bar, uint64_t off, const void *buf, size_t len)
{
	struct toy *t = tcemu_model_priv(m);

	if (bar != 0 || off + len > sizeof(t->regs))
		return -EINVAL;
	pthread_mutex_lock(&t->lock);
	memcpy((uint8_t *)t->regs + off, buf, len);
	pthread_mutex_unlock(&t->lock);
	if (off == 12) { /* register 3: 1 raises INTx, 0 lowers it, 0x100 + v signals MSI-X v */
		uint32_t v = t->regs[3];
		if (v >= 0x100)
			return tcemu_model_msix(m, v - 0x100);
		tcemu_model_intx(m, v == 1); /* the level is kept even before an eventfd exists */
	}
	return 0;
}

static void toy_cfg(struct tcemu_model *m, unsigned off, size_t len)
{
	(void)off;
	(void)len;
	((struct toy *)tcemu_model_priv(m))->cfg_writes++;
}

static void toy_reset(struct tcemu_model *m)
{
	struct toy *t = tcemu_model_priv(m);
	memset(t->regs, 0, sizeof(t->regs));
	t->resets++;
}

static void toy_eeh(struct tcemu_model *m, bool frozen)
{
	struct toy *t = tcemu_model_priv(m);
	if (frozen)
		t->freezes++;
	else
		t->thaws++;
}

static void toy_destroy(struct tcemu_model *m)
{
	struct toy *t = tcemu_model_priv(m);
	pthread_mutex_destroy(&t->lock);
	free(t);
	toy_destroyed = true;
}

static const struct tcemu_model_ops toy_ops = {
	.init = toy_init, .bar_read = toy_rd, .bar_write = toy_wr, .config_write = toy_cfg,
	.reset = toy_reset, .eeh = toy_eeh, .destroy = toy_destroy,
};

static const struct tcemu_model_type toy_type = {
	.name = "toy", .vendor = 0x1b36, .device = 0x00fe, .subsys_vendor = 0x1b36, .subsys_device = 7,
	.class_code = 0x088000, .revision = 3,
	.bar_size = { 16, 4096 }, .bar_flags = { 0, TCEMU_BAR_MMAP },
	.ops = &toy_ops,
};

struct fx {
	struct vd_host vh;
	struct vd d; /* only h, dev, intx_fd used */
	struct tcemu_model *m;
};

static int fx_open(struct fx *f)
{
	struct {
		struct vfio_irq_set s;
		int32_t fd;
	} irq = { { .argsz = sizeof(irq), .flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
		    .index = VFIO_PCI_INTX_IRQ_INDEX, .count = 1 } };
	long fd;

	memset(f, 0, sizeof(*f));
	if (vd_host_open(&f->vh) || tcemu_host_attach_model(f->vh.h, BDF, &toy_type, NULL) || vd_host_container(&f->vh))
		return -1;
	f->m = tcemu_host_model(f->vh.h, BDF);
	fd = tcemu_host_ioctl(f->vh.h, f->vh.g[0], VFIO_GROUP_GET_DEVICE_FD, (void *)BDF);
	if (!f->m || fd < 0)
		return -2;
	f->d.h = f->vh.h;
	f->d.dev = (int)fd;
	f->d.intx_fd = eventfd(0, EFD_NONBLOCK);
	for (int i = 0; i < 4; i++)
		f->d.msix_fd[i] = -1;
	irq.fd = f->d.intx_fd;
	return (int)tcemu_host_ioctl(f->vh.h, f->d.dev, VFIO_DEVICE_SET_IRQS, &irq);
}

static void fx_close(struct fx *f)
{
	tcemu_host_close(f->vh.h, f->d.dev);
	close(f->d.intx_fd);
	for (int i = 0; i < 4; i++)
		if (f->d.msix_fd[i] >= 0)
			close(f->d.msix_fd[i]);
	tcemu_host_destroy(f->vh.h);
}

TEST(config_space_has_the_models_identity_and_capabilities)
{
	struct fx f;
	struct toy *t;
	unsigned c;

	CHECK_EQ(fx_open(&f), 0);
	t = tcemu_model_priv(f.m);
	CHECK_EQ(vd_rd32(&f.d, VD_CFG(0), 4), 0x00fe1b36);
	CHECK_EQ(vd_rd32(&f.d, VD_CFG(8), 1), 3);
	CHECK_EQ(vd_rd32(&f.d, VD_CFG(0x2c), 4), 0x00071b36);
	CHECK(vd_rd32(&f.d, VD_CFG(6), 2) & 0x10);
	CHECK_EQ(vd_rd32(&f.d, VD_CFG(0x34), 1), 0x40);
	CHECK_EQ(t->msix_cap, 0x40);
	c = vd_find_cap(&f.d, 0x05, 0);
	CHECK(c > 0x40 && c % 4 == 0);
	CHECK_EQ(vd_find_cap(&f.d, 0x09, 0), (unsigned)t->vendor_cap);
	CHECK_EQ(vd_rd32(&f.d, VD_CFG(t->vendor_cap + 2), 4), 0x03020108);
	CHECK_EQ(vd_rd32(&f.d, VD_CFG(t->vendor_cap + 1), 1), 0); /* the last one */
	/* Only the masked bits of a capability are writable; the model hears about writes. */
	CHECK_EQ(vd_wr32(&f.d, VD_CFG(0x42), 2, 0xffff), 0);
	CHECK_EQ(vd_rd32(&f.d, VD_CFG(0x42), 2), 0xc003);
	CHECK(tcemu_model_msix_enabled(f.m));
	CHECK(t->cfg_writes >= 1);
	fx_close(&f);
}

TEST(irq_info_follows_the_capabilities)
{
	struct fx f;
	struct vfio_irq_info ii = { .argsz = sizeof(ii), .index = VFIO_PCI_MSIX_IRQ_INDEX };
	struct vfio_device_info di = { .argsz = sizeof(di) };

	CHECK_EQ(fx_open(&f), 0);
	CHECK_EQ(tcemu_host_ioctl(f.vh.h, f.d.dev, VFIO_DEVICE_GET_IRQ_INFO, &ii), 0);
	CHECK_EQ(ii.count, 4);
	ii.index = VFIO_PCI_MSI_IRQ_INDEX;
	CHECK_EQ(tcemu_host_ioctl(f.vh.h, f.d.dev, VFIO_DEVICE_GET_IRQ_INFO, &ii), 0);
	CHECK_EQ(ii.count, 1);
	ii.index = VFIO_PCI_ERR_IRQ_INDEX;
	CHECK_EQ(tcemu_host_ioctl(f.vh.h, f.d.dev, VFIO_DEVICE_GET_IRQ_INFO, &ii), -EINVAL);
	CHECK_EQ(tcemu_host_ioctl(f.vh.h, f.d.dev, VFIO_DEVICE_GET_INFO, &di), 0);
	fx_close(&f);
}

TEST(trapped_bar_accesses_reach_the_model)
{
	struct fx f;
	struct vfio_region_info ri = { .argsz = sizeof(ri), .index = 0 };
	uint8_t b[16];

	CHECK_EQ(fx_open(&f), 0);
	CHECK_EQ(tcemu_host_ioctl(f.vh.h, f.d.dev, VFIO_DEVICE_GET_REGION_INFO, &ri), 0);
	CHECK_EQ(ri.size, 16);
	CHECK(!(ri.flags & VFIO_REGION_INFO_FLAG_MMAP));
	ri.index = 1;
	CHECK_EQ(tcemu_host_ioctl(f.vh.h, f.d.dev, VFIO_DEVICE_GET_REGION_INFO, &ri), 0);
	CHECK(ri.flags & VFIO_REGION_INFO_FLAG_MMAP);
	CHECK_EQ(vd_wr32(&f.d, VD_REGION(0) + 4, 4, 0x11223344), 0);
	CHECK_EQ(vd_rd32(&f.d, VD_REGION(0) + 5, 2), 0x2233);
	CHECK_EQ(vd_rd32(&f.d, VD_REGION(0) + 4, 1), 0x44);
	CHECK_EQ(((struct toy *)tcemu_model_priv(f.m))->regs[1], 0x11223344);
	/* The access is cut at the BAR's end; the model's errno comes back. */
	CHECK_EQ(tcemu_host_pread(f.vh.h, f.d.dev, b, 16, VD_REGION(0) + 8), 8);
	CHECK_EQ(tcemu_host_ioctl(f.vh.h, f.d.dev, VFIO_DEVICE_RESET, NULL), 0);
	CHECK_EQ(((struct toy *)tcemu_model_priv(f.m))->resets, 1);
	CHECK_EQ(vd_rd32(&f.d, VD_REGION(0) + 4, 4), 0);
	fx_close(&f);
}

TEST(intx_is_a_level_with_vfio_automask)
{
	struct fx f;

	CHECK_EQ(fx_open(&f), 0);
	CHECK_EQ(vd_wr32(&f.d, VD_REGION(0) + 12, 4, 1), 0); /* assert */
	CHECK_EQ(vd_efd_take(f.d.intx_fd), 1);
	CHECK_EQ(vd_wr32(&f.d, VD_REGION(0) + 12, 4, 1), 0); /* again, masked */
	CHECK_EQ(vd_efd_take(f.d.intx_fd), 0);
	CHECK_EQ(vd_intx_unmask(&f.d), 0);
	CHECK_EQ(vd_efd_take(f.d.intx_fd), 1); /* still asserted */
	CHECK_EQ(vd_wr32(&f.d, VD_REGION(0) + 12, 4, 0), 0); /* deassert */
	CHECK_EQ(vd_intx_unmask(&f.d), 0);
	CHECK_EQ(vd_efd_take(f.d.intx_fd), 0);
	/* A raise while masked is not lost: masked, raise, unmask -> signalled. */
	{
		struct vfio_irq_set s = { .argsz = sizeof(s), .flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_MASK,
					  .index = VFIO_PCI_INTX_IRQ_INDEX, .count = 1 };
		CHECK_EQ(tcemu_host_ioctl(f.vh.h, f.d.dev, VFIO_DEVICE_SET_IRQS, &s), 0);
	}
	CHECK_EQ(vd_wr32(&f.d, VD_REGION(0) + 12, 4, 1), 0);
	CHECK_EQ(vd_efd_take(f.d.intx_fd), 0);
	CHECK_EQ(vd_intx_unmask(&f.d), 0);
	CHECK_EQ(vd_efd_take(f.d.intx_fd), 1);
	fx_close(&f);
}

TEST(msix_vectors_and_their_limits)
{
	struct fx f;

	CHECK_EQ(fx_open(&f), 0);
	CHECK_EQ(tcemu_model_msix(f.m, 0), -ENOENT); /* no eventfd yet */
	CHECK_EQ(vd_msix_enable(&f.d, 4), 0);
	CHECK_EQ(vd_wr32(&f.d, VD_REGION(0) + 12, 4, 0x102), 0);
	CHECK_EQ(vd_efd_take(f.d.msix_fd[2]), 1);
	CHECK_EQ(vd_efd_take(f.d.msix_fd[1]), 0);
	CHECK_EQ(tcemu_model_msix(f.m, 4), -EINVAL);
	fx_close(&f);
}

/* Registers the 8 KiB at mem and maps its first page read-write at 0x100000, its second read-only after it. */
static long map_rw_ro(struct fx *f, uint8_t *mem)
{
	struct vfio_iommu_spapr_register_memory r = { .argsz = sizeof(r), .vaddr = (uintptr_t)mem, .size = 8192 };
	struct vfio_iommu_type1_dma_map map = { .argsz = sizeof(map), .vaddr = (uintptr_t)mem, .iova = 0x100000,
						.size = 4096, .flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE };
	long rc = tcemu_host_ioctl(f->vh.h, f->vh.c, VFIO_IOMMU_SPAPR_REGISTER_MEMORY, &r);

	if (!rc)
		rc = tcemu_host_ioctl(f->vh.h, f->vh.c, VFIO_IOMMU_MAP_DMA, &map);
	map.vaddr += 4096;
	map.iova += 4096;
	map.flags = VFIO_DMA_MAP_FLAG_READ;
	return rc ? rc : tcemu_host_ioctl(f->vh.h, f->vh.c, VFIO_IOMMU_MAP_DMA, &map);
}

TEST(dma_only_through_the_iommu_with_named_faults)
{
	struct fx f;
	struct tcemu_model_fault flt;
	uint8_t *mem = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct tcemu_model_sg sg[2] = { { 0x100000, 8 }, { 0x100800, 8 } };
	uint8_t buf[16];

	CHECK(mem != MAP_FAILED);
	CHECK_EQ(fx_open(&f), 0);
	CHECK(tcemu_host_dma(f.vh.h) != NULL);
	CHECK_EQ(map_rw_ro(&f, mem), 0);
	CHECK_EQ(tcemu_model_dma_write(f.m, 0x100010, "hello", 5), 0);
	CHECK(memcmp(mem + 0x10, "hello", 5) == 0);
	memcpy(mem + 0x800, "world!!!", 8);
	CHECK_EQ(tcemu_model_dma_readv(f.m, sg, 2, buf, 16), 16);
	CHECK(memcmp(buf + 8, "world!!!", 8) == 0);
	CHECK_EQ(tcemu_model_dma_read(f.m, 0x101000, buf, 4), 0); /* read-only page: reads work */
	/* A write across into the read-only page: nothing written, named fault, PE frozen. */
	tcemu_model_set_context(f.m, "toy doorbell %d", 7);
	memset(mem + 0xff0, 0, 0x20);
	CHECK_EQ(((struct toy *)tcemu_model_priv(f.m))->freezes, 0);
	CHECK_EQ(tcemu_model_dma_write(f.m, 0x100ff8, "0123456789abcdef", 16), -EIO);
	/* the model heard of the freeze inside the failing call, not at its next entry point */
	CHECK_EQ(((struct toy *)tcemu_model_priv(f.m))->freezes, 1);
	CHECK_EQ(((struct toy *)tcemu_model_priv(f.m))->thaws, 0);
	CHECK_EQ(mem[0xff8], 0);
	CHECK_EQ(mem[0x1000], 0);
	CHECK_EQ(tcemu_model_last_fault(f.m, &flt), 0);
	CHECK_U64(flt.bus, 0x101000);
	CHECK_EQ(flt.held, TCEMU_FAULT_READ_ONLY);
	CHECK_STR(flt.context, "toy doorbell 7");
	CHECK_STR(flt.bdf, BDF);
	CHECK_CONTAINS(flt.message, "DMA write at 0x101000 faulted: read-only entry");
	CHECK(tcemu_model_frozen(f.m));
	CHECK_EQ(vd_rd32(&f.d, VD_REGION(0), 4), 0xffffffff);
	CHECK_EQ(tcemu_model_dma_read(f.m, 0x100000, buf, 4), -EIO);
	CHECK_EQ(tcemu_model_last_fault(f.m, &flt), 0);
	CHECK_EQ(flt.held, TCEMU_FAULT_FROZEN);
	/* Thaw: the model hears of the freeze and the thaw at its next access. */
	CHECK_EQ(tcemu_pe_eeh_op(tcemu_platform_pe(tcemu_host_platform(f.vh.h), 0), VFIO_EEH_PE_UNFREEZE_IO, 0, 0), 0);
	CHECK_EQ(tcemu_pe_eeh_op(tcemu_platform_pe(tcemu_host_platform(f.vh.h), 0), VFIO_EEH_PE_UNFREEZE_DMA, 0, 0), 0);
	CHECK_EQ(vd_rd32(&f.d, VD_REGION(0), 4), 0);
	CHECK_EQ(((struct toy *)tcemu_model_priv(f.m))->freezes, 1);
	CHECK_EQ(((struct toy *)tcemu_model_priv(f.m))->thaws, 1);
	CHECK_EQ(tcemu_model_dma_read(f.m, 0x50000000, buf, 4), -EIO);
	CHECK_EQ(tcemu_model_last_fault(f.m, &flt), 0);
	CHECK_EQ(flt.held, TCEMU_FAULT_NO_ENTRY);
	CHECK_STR(tcemu_model_fault_held_name(TCEMU_FAULT_NO_WINDOW), "no window");
	fx_close(&f);
	munmap(mem, 8192);
}

/* Scatter-gather is all or nothing: a list whose third element faults transfers nothing at all. */
TEST(scatter_gather_all_or_nothing)
{
	struct fx f;
	struct tcemu_model_fault flt;
	uint8_t *mem = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	/* two writable elements, then one in the read-only page, then a writable one */
	const struct tcemu_model_sg sg[4] = { { 0x100000, 8 }, { 0x100100, 8 }, { 0x101000, 8 }, { 0x100200, 8 } };
	const struct tcemu_model_sg sg_ro[3] = { { 0x100000, 8 }, { 0x100100, 8 }, { 0x102000, 8 } }; /* no entry */
	uint8_t buf[32], zero[32] = { 0 };

	CHECK(mem != MAP_FAILED);
	CHECK_EQ(fx_open(&f), 0);
	CHECK_EQ(map_rw_ro(&f, mem), 0);
	/* a scatter whose third element is read-only: the first two are not written either */
	tcemu_model_set_context(f.m, "toy sg write");
	CHECK_EQ(tcemu_model_dma_writev(f.m, sg, 4, "AAAAAAAABBBBBBBBCCCCCCCCDDDDDDDD", 32), -EIO);
	CHECK(memcmp(mem, zero, 8) == 0);
	CHECK(memcmp(mem + 0x100, zero, 8) == 0);
	CHECK(memcmp(mem + 0x200, zero, 8) == 0);
	CHECK(memcmp(mem + 0x1000, zero, 8) == 0);
	CHECK_EQ(tcemu_model_last_fault(f.m, &flt), 0);
	CHECK_U64(flt.bus, 0x101000);
	CHECK_EQ(flt.held, TCEMU_FAULT_READ_ONLY);
	CHECK(flt.write);
	CHECK_STR(flt.context, "toy sg write");
	CHECK(tcemu_model_frozen(f.m));
	CHECK_EQ(tcemu_pe_eeh_op(tcemu_platform_pe(tcemu_host_platform(f.vh.h), 0), VFIO_EEH_PE_UNFREEZE_IO, 0, 0), 0);
	CHECK_EQ(tcemu_pe_eeh_op(tcemu_platform_pe(tcemu_host_platform(f.vh.h), 0), VFIO_EEH_PE_UNFREEZE_DMA, 0, 0), 0);
	/* a gather whose third element has no entry: the buffer is left untouched */
	memset(mem, 0x5a, 0x300);
	memset(buf, 0xee, sizeof(buf));
	CHECK_EQ(tcemu_model_dma_readv(f.m, sg_ro, 3, buf, 24), -EIO);
	for (unsigned i = 0; i < sizeof(buf); i++)
		CHECK_EQ(buf[i], 0xee);
	CHECK_EQ(tcemu_model_last_fault(f.m, &flt), 0);
	CHECK_U64(flt.bus, 0x102000);
	CHECK_EQ(flt.held, TCEMU_FAULT_NO_ENTRY);
	CHECK(!flt.write);
	CHECK_EQ(tcemu_pe_eeh_op(tcemu_platform_pe(tcemu_host_platform(f.vh.h), 0), VFIO_EEH_PE_UNFREEZE_IO, 0, 0), 0);
	CHECK_EQ(tcemu_pe_eeh_op(tcemu_platform_pe(tcemu_host_platform(f.vh.h), 0), VFIO_EEH_PE_UNFREEZE_DMA, 0, 0), 0);
	/* the good elements still work, cut at len: 8 + 8 + 4 bytes */
	CHECK_EQ(tcemu_model_dma_writev(f.m, sg_ro, 3, "AAAAAAAABBBBBBBBCCCC", 20), -EIO); /* third: no entry */
	CHECK_EQ(tcemu_pe_eeh_op(tcemu_platform_pe(tcemu_host_platform(f.vh.h), 0), VFIO_EEH_PE_UNFREEZE_IO, 0, 0), 0);
	CHECK_EQ(tcemu_pe_eeh_op(tcemu_platform_pe(tcemu_host_platform(f.vh.h), 0), VFIO_EEH_PE_UNFREEZE_DMA, 0, 0), 0);
	CHECK_EQ(mem[0], 0x5a);
	CHECK_EQ(tcemu_model_dma_writev(f.m, sg_ro, 3, "AAAAAAAABBBBBBBB", 16), 16); /* the third is not reached */
	CHECK(memcmp(mem, "AAAAAAAA", 8) == 0);
	CHECK(memcmp(mem + 0x100, "BBBBBBBB", 8) == 0);
	CHECK_EQ(tcemu_model_dma_readv(f.m, sg, 4, buf, 16), 16);
	CHECK(memcmp(buf, "AAAAAAAABBBBBBBB", 16) == 0);
	CHECK(!tcemu_model_frozen(f.m));
	fx_close(&f);
	munmap(mem, 8192);
}

TEST(attach_rules_and_plain_device_back)
{
	struct vd_host vh;
	struct vfio_irq_info ii = { .argsz = sizeof(ii), .index = VFIO_PCI_MSIX_IRQ_INDEX };
	long fd;

	CHECK_EQ(vd_host_open(&vh), 0);
	CHECK(tcemu_host_dma(vh.h) == NULL);
	CHECK_EQ(tcemu_host_set_model(vh.h, BDF, "no-such-model", NULL), -ENOENT);
	CHECK_EQ(tcemu_host_set_model(vh.h, "0000:7f:00.0", "virtio-net", NULL), -ENODEV);
	CHECK_EQ(tcemu_host_attach_model(vh.h, BDF, &toy_type, "fail"), -EPERM);
	CHECK(tcemu_host_model(vh.h, BDF) == NULL);
	CHECK_EQ(tcemu_host_set_model(vh.h, BDF, "virtio-net", "bogus=1"), -EINVAL);
	CHECK_EQ(tcemu_host_attach_model(vh.h, BDF, &toy_type, NULL), 0);
	CHECK(tcemu_host_model(vh.h, BDF) != NULL);
	CHECK(tcemu_model_builtin("virtio-blk") != NULL);
	CHECK(tcemu_model_builtin("plain") == NULL);
	CHECK_EQ(vd_host_container(&vh), 0);
	fd = tcemu_host_ioctl(vh.h, vh.g[0], VFIO_GROUP_GET_DEVICE_FD, (void *)BDF);
	CHECK(fd >= 0);
	CHECK_EQ(tcemu_host_set_model(vh.h, BDF, "plain", NULL), -EBUSY);
	CHECK_EQ(tcemu_host_close(vh.h, (int)fd), 0);
	CHECK(!toy_destroyed);
	CHECK_EQ(tcemu_host_set_model(vh.h, BDF, "plain", NULL), 0);
	CHECK(toy_destroyed);
	CHECK(tcemu_host_model(vh.h, BDF) == NULL);
	fd = tcemu_host_ioctl(vh.h, vh.g[0], VFIO_GROUP_GET_DEVICE_FD, (void *)BDF);
	CHECK(fd >= 0);
	CHECK_EQ(tcemu_host_ioctl(vh.h, (int)fd, VFIO_DEVICE_GET_IRQ_INFO, &ii), 0);
	CHECK_EQ(ii.count, 0); /* the plain device: no MSI-X capability, so no vectors */
	ii.index = VFIO_PCI_ERR_IRQ_INDEX;
	CHECK_EQ(tcemu_host_ioctl(vh.h, (int)fd, VFIO_DEVICE_GET_IRQ_INFO, &ii), -EINVAL); /* not PCI Express */
	tcemu_host_destroy(vh.h);
}

/* The topology's model= keyword attaches through the same path, with the topology's ids. */
TEST(topology_models_are_attached_at_host_creation)
{
	static const char topo[] = "phb 0 ioda3\n"
				   "pe 1 group=0\n device 0000:01:00.0 model=virtio-net link=0000:02:00.0 device=0x1041\n"
				   "pe 2 group=1\n device 0000:02:00.0 model=virtio-net\n"
				   "pe 3 group=2\n device 0000:03:00.0 model=virtio-blk size=1M\n"
				   "pe 4 group=3\n device 0000:04:00.0 revision=0x07\n"
				   "pe 5 group=4\n device 0000:05:00.0 model=virtio-net revision=0x01\n";
	struct tcemu_host_opts o = { .platform.topology_text = topo };
	struct tcemu_host *h = NULL;
	struct tcemu_model *m;
	uint8_t cfg[12] = { 0 };
	char path[] = "/tmp/tcemu-devmodel-XXXXXX", text[256];

	CHECK_EQ(tcemu_host_create(&o, &h), 0);
	CHECK(tcemu_host_dma(h) != NULL);
	m = tcemu_host_model(h, "0000:01:00.0");
	CHECK(m != NULL);
	CHECK_STR(tcemu_model_type_of(m)->name, "virtio-net");
	CHECK_EQ(tcemu_model_config_read(m, 0, cfg, sizeof(cfg)), 0);
	CHECK_EQ(cfg[0] | cfg[1] << 8, 0x1af4);
	CHECK_EQ(cfg[2] | cfg[3] << 8, 0x1041); /* the topology's device= */
	CHECK_EQ(cfg[8], 0);                    /* the model's revision */
	CHECK_EQ(cfg[9] | cfg[10] << 8 | cfg[11] << 16, 0x020000);
	CHECK(tcemu_host_model(h, "0000:02:00.0") != NULL);
	m = tcemu_host_model(h, "0000:03:00.0");
	CHECK(m != NULL);
	CHECK_STR(tcemu_model_type_of(m)->name, "virtio-blk");
	CHECK(tcemu_host_model(h, "0000:04:00.0") == NULL);
	/* revision=: in the device info and in config space, for a model and for the plain device */
	m = tcemu_host_model(h, "0000:05:00.0");
	CHECK(m != NULL);
	CHECK_EQ(tcemu_model_config_read(m, 0, cfg, sizeof(cfg)), 0);
	CHECK_EQ(cfg[8], 0x01);
	CHECK_EQ(tcemu_pe_device(tcemu_platform_pe_by_group(tcemu_host_platform(h), 4), 0)->revision, 0x01);
	CHECK_EQ(tcemu_pe_device(tcemu_platform_pe_by_group(tcemu_host_platform(h), 3), 0)->revision, 0x07);
	CHECK_EQ(tcemu_pe_device(tcemu_platform_pe_by_group(tcemu_host_platform(h), 0), 0)->revision, 0);
	tcemu_host_destroy(h);

	/* an image that cannot be opened fails the host (the model's errno) */
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	close(fd);
	unlink(path);
	snprintf(text, sizeof(text), "phb 0 ioda3\npe 1\n device 0000:01:00.0 model=virtio-blk disk=%s\n", path);
	o.platform.topology_text = text;
	h = NULL;
	CHECK_EQ(tcemu_host_create(&o, &h), -ENOENT);
	CHECK(h == NULL);
}

HARNESS_MAIN(T(config_space_has_the_models_identity_and_capabilities), T(irq_info_follows_the_capabilities),
	     T(trapped_bar_accesses_reach_the_model), T(intx_is_a_level_with_vfio_automask),
	     T(msix_vectors_and_their_limits), T(dma_only_through_the_iommu_with_named_faults),
	     T(scatter_gather_all_or_nothing),
	     T(attach_rules_and_plain_device_back), T(topology_models_are_attached_at_host_creation))
