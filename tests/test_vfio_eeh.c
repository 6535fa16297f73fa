/* SPDX-License-Identifier: MIT */
/*
 * VFIO core conformance (vfio.h): EEH_PE_OP (section 9 of vfio-spapr-abi.md): argument checks, the
 * state machine, injection freezing every group; and device descriptors (info, regions, config and
 * BAR access, interrupt eventfds, BARs reading all ones while the PE is frozen).
 */
#include "vfio.h"

/* ---- Section 9: EEH_PE_OP ---- */

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

#define REG_OFF(i) ((uint64_t)(i) << 40)

/* ---- Devices ---- */

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
	CHECK_EQ(ii.count, 0); /* the plain device has no MSI-X capability */
	ii.index = VFIO_PCI_INTX_IRQ_INDEX;
	CHECK_EQ(xioctl(f.h, d, VFIO_DEVICE_GET_IRQ_INFO, &ii), 0);
	CHECK_EQ(ii.count, 1);
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

TEST(device_intx_eventfd_trigger)
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
		    .index = VFIO_PCI_INTX_IRQ_INDEX, .start = 0, .count = 1 }, efd };
	long r = xioctl(f.h, d, VFIO_DEVICE_SET_IRQS, &set);
	uint64_t cnt = 0;
	bool early = read(efd, &cnt, 8) == 8;
	struct vfio_irq_set fire = { .argsz = sizeof(fire), .flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
				     .index = VFIO_PCI_INTX_IRQ_INDEX, .start = 0, .count = 1 };
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

HARNESS_MAIN(T(eeh_pe_op_argument_checks), T(eeh_pe_op_state_machine), T(eeh_inject_freezes_every_group),
	     T(no_eeh_platform_does_not_offer_vfio_eeh), T(device_info_and_regions), T(device_config_and_bar_access),
	     T(device_intx_eventfd_trigger), T(device_bar_reads_ff_while_frozen))
