/* SPDX-License-Identifier: MIT */
/* The virtio-net model through the VFIO fd API, driven by the tests' own driver (virtio_driver.h). */
#include <inttypes.h>
#include <pthread.h>

#include "harness.h"
#include "virtio_driver.h"

#define A_BDF "0000:01:00.0"
#define B_BDF "0000:02:00.0"
#define NET_F (1u << 5 | 1u << 16 | 1u << 28) /* MAC, STATUS, INDIRECT_DESC */
#define TX_OFF 0x0
#define RX_OFF 0x10000
#define RX_BUF 2048u

struct pair {
	struct vd_host vh;
	struct vd a, b;
};

/* Two ports cabled (or, with loop, port A alone looping back), both set up through one interface. */
static int pair_open(struct pair *p, bool modern, bool loop)
{
	if (vd_host_open(&p->vh))
		return -100;
	if (tcemu_host_set_model(p->vh.h, A_BDF, "virtio-net", loop ? NULL : "link=" B_BDF) ||
	    (!loop && tcemu_host_set_model(p->vh.h, B_BDF, "virtio-net", "mac=52:54:00:aa:bb:cc")))
		return -101;
	if (vd_host_container(&p->vh))
		return -102;
	int rc = vd_open(&p->a, &p->vh, p->vh.g[0], A_BDF, 0, modern, 2, NET_F);
	if (rc || loop)
		return rc;
	return vd_open(&p->b, &p->vh, p->vh.g[1], B_BDF, 1, modern, 2, NET_F);
}

static void pair_close(struct pair *p, bool loop)
{
	vd_close(&p->a);
	if (!loop)
		vd_close(&p->b);
	tcemu_host_destroy(p->vh.h);
}

static unsigned hdr_len(struct vd *d)
{
	return d->modern ? 12 : 10;
}

static uint8_t pattern(unsigned len, unsigned i)
{
	return (uint8_t)(len * 7 + i * 13 + (i >> 8));
}

/* Posts one receive buffer (descriptor 0 of the rx queue). */
static int post_rx(struct vd *d)
{
	memset(vd_ptr(d, RX_OFF), 0xee, RX_BUF);
	vd_desc(d, 0, 0, vd_bus(d, RX_OFF), RX_BUF, 2 /* WRITE */, 0);
	return vd_kick(d, 0, 0);
}

/* Sends one packet of len bytes (header and frame in two descriptors). */
static int send_pkt(struct vd *d, unsigned len)
{
	uint8_t *h = vd_ptr(d, TX_OFF), *f = vd_ptr(d, TX_OFF + 64);

	memset(h, 0, 12);
	for (unsigned i = 0; i < len; i++)
		f[i] = pattern(len, i);
	vd_desc(d, 1, 0, vd_bus(d, TX_OFF), hdr_len(d), 1 /* NEXT */, 1);
	vd_desc(d, 1, 1, vd_bus(d, TX_OFF + 64), len, 0, 0);
	return vd_kick(d, 1, 0);
}

/* tx on `from`, rx on `to`, for every length 60..1514. */
static bool every_length(struct vd *from, struct vd *to)
{
	for (unsigned len = 60; len <= 1514; len++) {
		uint32_t id, ulen;
		const uint8_t *r = vd_ptr(to, RX_OFF);

		if (post_rx(to) || send_pkt(from, len))
			return false;
		if (vd_used(from, 1, &id, &ulen) != 1 || id != 0)
			return false;
		if (vd_used(to, 0, &id, &ulen) != 1 || id != 0 || ulen != hdr_len(to) + len) {
			fprintf(stderr, "  length %u: rx used len %u\n", len, ulen);
			return false;
		}
		if (hdr_len(to) == 12 && vd_get16(r + 10) != 1)
			return false;
		for (unsigned i = 0; i < len; i++)
			if (r[hdr_len(to) + i] != pattern(len, i))
				return false;
		if (r[hdr_len(to) + len] != 0xee) /* nothing written past the packet */
			return false;
	}
	return true;
}

TEST(identity_config_space_and_irq_info)
{
	struct pair p;
	struct vfio_region_info ri = { .argsz = sizeof(ri) };
	struct vfio_irq_info ii = { .argsz = sizeof(ii) };
	unsigned types = 0;

	CHECK_EQ(pair_open(&p, false, false), 0);
	CHECK_EQ(vd_rd32(&p.a, VD_CFG(0), 2), 0x1af4);
	CHECK_EQ(vd_rd32(&p.a, VD_CFG(2), 2), 0x1000);
	CHECK_EQ(vd_rd32(&p.a, VD_CFG(8), 1), 0); /* revision 0: transitional */
	CHECK_EQ(vd_rd32(&p.a, VD_CFG(9), 4) & 0xffffff, 0x020000);
	CHECK_EQ(vd_rd32(&p.a, VD_CFG(0x2e), 2), 1);
	CHECK(vd_rd32(&p.a, VD_CFG(6), 2) & 0x10);
	for (unsigned c = vd_find_cap(&p.a, 0x09, 0); c; c = vd_find_cap(&p.a, 0x09, c)) {
		CHECK_EQ(vd_rd32(&p.a, VD_CFG(c + 4), 1), 4); /* BAR4 */
		types |= 1u << vd_rd32(&p.a, VD_CFG(c + 3), 1);
	}
	CHECK_EQ(types, 0x1e); /* common, notify, ISR, device */
	CHECK(vd_find_cap(&p.a, 0x11, 0));
	ri.index = 0;
	CHECK_EQ(tcemu_host_ioctl(p.vh.h, p.a.dev, VFIO_DEVICE_GET_REGION_INFO, &ri), 0);
	CHECK_EQ(ri.size, 64);
	CHECK(!(ri.flags & VFIO_REGION_INFO_FLAG_MMAP));
	ri.index = 4;
	CHECK_EQ(tcemu_host_ioctl(p.vh.h, p.a.dev, VFIO_DEVICE_GET_REGION_INFO, &ri), 0);
	CHECK(!(ri.flags & VFIO_REGION_INFO_FLAG_MMAP));
	ii.index = VFIO_PCI_MSI_IRQ_INDEX;
	CHECK_EQ(tcemu_host_ioctl(p.vh.h, p.a.dev, VFIO_DEVICE_GET_IRQ_INFO, &ii), 0);
	CHECK_EQ(ii.count, 0);
	ii.index = VFIO_PCI_MSIX_IRQ_INDEX;
	CHECK_EQ(tcemu_host_ioctl(p.vh.h, p.a.dev, VFIO_DEVICE_GET_IRQ_INFO, &ii), 0);
	CHECK_EQ(ii.count, 3);
	ii.index = VFIO_PCI_ERR_IRQ_INDEX;
	CHECK_EQ(tcemu_host_ioctl(p.vh.h, p.a.dev, VFIO_DEVICE_GET_IRQ_INFO, &ii), -EINVAL);
	/* MAC and link status in the device configuration. */
	CHECK_EQ(vd_rd32(&p.b, vd_reg_config(&p.b, 0, false), 4), 0xaa005452);
	CHECK_EQ(vd_rd32(&p.b, vd_reg_config(&p.b, 6, false), 2), 1);
	/* Legacy host features: no VERSION_1 / ACCESS_PLATFORM (32 bits), INDIRECT offered. */
	CHECK_EQ(vd_rd32(&p.a, VD_REGION(0), 4), NET_F);
	pair_close(&p, false);
}

TEST(legacy_every_length_both_directions)
{
	struct pair p;

	CHECK_EQ(pair_open(&p, false, false), 0);
	CHECK(every_length(&p.a, &p.b));
	CHECK(every_length(&p.b, &p.a));
	pair_close(&p, false);
}

TEST(modern_every_length_both_directions)
{
	struct pair p;

	CHECK_EQ(pair_open(&p, true, false), 0);
	CHECK(every_length(&p.a, &p.b));
	CHECK(every_length(&p.b, &p.a));
	pair_close(&p, false);
}

TEST(loopback_port_receives_its_own_packets)
{
	struct pair p;

	CHECK_EQ(pair_open(&p, true, true), 0);
	CHECK(every_length(&p.a, &p.a));
	pair_close(&p, true);
}

/* Without a receive buffer packets wait in the backlog and arrive when the driver posts one. */
TEST(backlog_delivers_on_rx_kick)
{
	struct pair p;
	uint32_t id, len;

	CHECK_EQ(pair_open(&p, false, false), 0);
	CHECK_EQ(send_pkt(&p.a, 100), 0);
	CHECK_EQ(vd_used(&p.a, 1, &id, &len), 1);
	CHECK_EQ(vd_used(&p.b, 0, &id, &len), 0);
	CHECK_EQ(post_rx(&p.b), 0);
	CHECK_EQ(vd_used(&p.b, 0, &id, &len), 1);
	CHECK_EQ(len, 10 + 100);
	CHECK_EQ(vd_ptr(&p.b, RX_OFF)[10 + 99], pattern(100, 99));
	pair_close(&p, false);
}

TEST(intx_level_automask_unmask_and_isr)
{
	struct pair p;
	uint32_t id, len;

	CHECK_EQ(pair_open(&p, false, false), 0);
	CHECK_EQ(vd_efd_take(p.b.intx_fd), 0);
	CHECK_EQ(post_rx(&p.b), 0);
	CHECK_EQ(send_pkt(&p.a, 64), 0);
	CHECK_EQ(vd_used(&p.b, 0, &id, &len), 1);
	CHECK_EQ(vd_efd_take(p.b.intx_fd), 1); /* asserted, signalled, masked */
	CHECK_EQ(post_rx(&p.b), 0);
	CHECK_EQ(send_pkt(&p.a, 64), 0);
	CHECK_EQ(vd_efd_take(p.b.intx_fd), 0); /* masked: not signalled, not lost */
	CHECK_EQ(vd_intx_unmask(&p.b), 0);
	CHECK_EQ(vd_efd_take(p.b.intx_fd), 1); /* still asserted: signalled again at unmask */
	CHECK_EQ(vd_rd32(&p.b, vd_reg_isr(&p.b), 1), 1); /* queue interrupt; read clears and deasserts */
	CHECK_EQ(vd_rd32(&p.b, vd_reg_isr(&p.b), 1), 0);
	CHECK_EQ(vd_intx_unmask(&p.b), 0);
	CHECK_EQ(vd_efd_take(p.b.intx_fd), 0);
	pair_close(&p, false);
}

TEST(msix_vectors_signal_their_eventfds)
{
	struct pair p;
	uint32_t id, len;

	CHECK_EQ(pair_open(&p, true, false), 0);
	CHECK_EQ(vd_msix_enable(&p.b, 3), 0);
	CHECK_EQ(vd_msix_enable(&p.a, 3), 0);
	for (unsigned q = 0; q < 2; q++) { /* rx -> vector 1, tx -> vector 2 */
		vd_wr32(&p.b, VD_REGION(4) + 22, 2, q);
		vd_wr32(&p.b, VD_REGION(4) + 26, 2, q + 1);
		CHECK_EQ(vd_rd32(&p.b, VD_REGION(4) + 26, 2), q + 1);
		vd_wr32(&p.a, VD_REGION(4) + 22, 2, q);
		vd_wr32(&p.a, VD_REGION(4) + 26, 2, q + 1);
	}
	vd_wr32(&p.b, VD_REGION(4) + 26, 2, 7); /* beyond the table: reads back NO_VECTOR */
	CHECK_EQ(vd_rd32(&p.b, VD_REGION(4) + 26, 2), 0xffff);
	vd_wr32(&p.b, VD_REGION(4) + 26, 2, 2);
	CHECK_EQ(post_rx(&p.b), 0);
	CHECK_EQ(send_pkt(&p.a, 200), 0);
	CHECK_EQ(vd_used(&p.b, 0, &id, &len), 1);
	CHECK_EQ(vd_efd_take(p.b.msix_fd[1]), 1);
	CHECK_EQ(vd_efd_take(p.a.msix_fd[2]), 1); /* tx completion */
	CHECK_EQ(vd_efd_take(p.b.msix_fd[0]), 0);
	CHECK_EQ(vd_efd_take(p.b.intx_fd), 0);
	pair_close(&p, false);
}

TEST(status_zero_and_vfio_reset_forget_the_queues)
{
	struct pair p;
	uint32_t id, len;

	CHECK_EQ(pair_open(&p, false, false), 0);
	vd_wr32(&p.a, VD_REGION(0) + 14, 2, 1);
	CHECK(vd_rd32(&p.a, VD_REGION(0) + 8, 4) != 0);
	CHECK_EQ(vd_wr32(&p.a, vd_reg_status(&p.a), 1, 0), 0);
	CHECK_EQ(vd_rd32(&p.a, VD_REGION(0) + 8, 4), 0);
	CHECK_EQ(vd_rd32(&p.a, VD_REGION(0) + 4, 4), 0);
	CHECK_EQ(send_pkt(&p.a, 80), 0); /* queue forgotten: nothing is taken */
	CHECK_EQ(vd_used(&p.a, 1, &id, &len), 0);
	vd_wr32(&p.b, VD_REGION(0) + 14, 2, 0);
	CHECK(vd_rd32(&p.b, VD_REGION(0) + 8, 4) != 0);
	CHECK_EQ(tcemu_host_ioctl(p.vh.h, p.b.dev, VFIO_DEVICE_RESET, NULL), 0);
	CHECK_EQ(vd_rd32(&p.b, VD_REGION(0) + 8, 4), 0);
	CHECK_EQ(vd_rd32(&p.b, vd_reg_status(&p.b), 1), 0);
	pair_close(&p, false);
}

static bool needs_reset(struct vd *d)
{
	return (vd_rd32(d, vd_reg_status(d), 1) & 0x40) != 0;
}

TEST(hostile_chain_loop_needs_reset)
{
	struct pair p;
	uint32_t id, len;

	CHECK_EQ(pair_open(&p, false, false), 0);
	vd_desc(&p.a, 1, 0, vd_bus(&p.a, TX_OFF), 10, 1, 1);
	vd_desc(&p.a, 1, 1, vd_bus(&p.a, TX_OFF), 10, 1, 0); /* 0 -> 1 -> 0 ... */
	CHECK_EQ(vd_kick(&p.a, 1, 0), 0);
	CHECK(needs_reset(&p.a));
	CHECK_EQ(vd_used(&p.a, 1, &id, &len), 0);
	CHECK_EQ(vd_rd32(&p.a, vd_reg_isr(&p.a), 1), 2); /* configuration change */
	/* A reset makes it usable again. */
	CHECK_EQ(vd_wr32(&p.a, vd_reg_status(&p.a), 1, 0), 0);
	CHECK(!needs_reset(&p.a));
	pair_close(&p, false);
}

TEST(hostile_indirect_in_indirect_and_bad_heads)
{
	struct pair p;
	uint8_t *tbl;

	CHECK_EQ(pair_open(&p, true, false), 0);
	tbl = vd_ptr(&p.a, 0x8000);
	memset(tbl, 0, 64);
	{
		uint64_t bus = vd_bus(&p.a, 0x8000);
		uint32_t l = 32;
		uint16_t fl = 4; /* INDIRECT inside the indirect table */
		memcpy(tbl, &bus, 8);
		memcpy(tbl + 8, &l, 4);
		memcpy(tbl + 12, &fl, 2);
	}
	vd_desc(&p.a, 1, 0, vd_bus(&p.a, 0x8000), 32, 4, 0);
	CHECK_EQ(vd_kick(&p.a, 1, 0), 0);
	CHECK(needs_reset(&p.a));
	pair_close(&p, false);

	CHECK_EQ(pair_open(&p, true, false), 0);
	CHECK_EQ(vd_kick(&p.a, 1, 300), 0); /* head beyond the queue */
	CHECK(needs_reset(&p.a));
	pair_close(&p, false);

	CHECK_EQ(pair_open(&p, true, false), 0);
	vd_desc(&p.a, 1, 0, vd_bus(&p.a, 0x8000), 33, 4, 0); /* not whole descriptors */
	CHECK_EQ(vd_kick(&p.a, 1, 0), 0);
	CHECK(needs_reset(&p.a));
	pair_close(&p, false);
}

TEST(hostile_queue_size_not_power_of_two)
{
	struct pair p;

	CHECK_EQ(pair_open(&p, true, false), 0);
	CHECK_EQ(vd_wr32(&p.a, vd_reg_status(&p.a), 1, 0), 0);
	vd_wr32(&p.a, VD_REGION(4) + 22, 2, 0);
	vd_wr32(&p.a, VD_REGION(4) + 24, 2, 100);
	vd_wr32(&p.a, VD_REGION(4) + 28, 2, 1);
	CHECK_EQ(vd_rd32(&p.a, VD_REGION(4) + 28, 2), 0);
	CHECK(needs_reset(&p.a));
	pair_close(&p, false);
}

/* Modern FEATURES_OK is refused without ACCESS_PLATFORM. */
TEST(features_ok_needs_access_platform)
{
	struct pair p;

	CHECK_EQ(pair_open(&p, true, false), 0);
	vd_wr32(&p.a, vd_reg_status(&p.a), 1, 0);
	vd_wr32(&p.a, vd_reg_status(&p.a), 1, 3);
	vd_wr32(&p.a, VD_REGION(4) + 8, 4, 1);
	vd_wr32(&p.a, VD_REGION(4) + 12, 4, 1); /* VERSION_1 only */
	vd_wr32(&p.a, vd_reg_status(&p.a), 1, 3 | 8);
	CHECK_EQ(vd_rd32(&p.a, vd_reg_status(&p.a), 1), 3);
	vd_wr32(&p.a, VD_REGION(4) + 12, 4, 3);
	vd_wr32(&p.a, vd_reg_status(&p.a), 1, 3 | 8);
	CHECK_EQ(vd_rd32(&p.a, vd_reg_status(&p.a), 1), 3 | 8);
	pair_close(&p, false);
}

/* A buffer that was never mapped: a named fault, a frozen PE (MMIO all ones), no memory touched. */
TEST(unmapped_buffer_faults_and_freezes)
{
	struct pair p;
	struct tcemu_model_fault f;
	struct tcemu_model *m;
	uint32_t id, len;

	CHECK_EQ(pair_open(&p, false, false), 0);
	m = tcemu_host_model(p.vh.h, B_BDF);
	CHECK(m != NULL);
	CHECK_EQ(tcemu_model_last_fault(m, &f), -ENOENT);
	memset(p.b.mem + VD_MEM - 4096, 0x5a, 4096);
	vd_desc(&p.b, 0, 0, 0x7000000, RX_BUF, 2, 0); /* in the window, never mapped */
	CHECK_EQ(vd_kick(&p.b, 0, 0), 0);
	CHECK_EQ(send_pkt(&p.a, 300), 0);
	CHECK_EQ(vd_used(&p.b, 0, &id, &len), 0);
	CHECK_EQ(tcemu_model_last_fault(m, &f), 0);
	CHECK_STR(f.bdf, B_BDF);
	CHECK_U64(f.bus, 0x7000000);
	CHECK(f.write);
	CHECK_EQ(f.held, TCEMU_FAULT_NO_ENTRY);
	CHECK_STR(f.context, "rx queue 0 buffer 0");
	CHECK_CONTAINS(f.message, "no entry");
	CHECK(tcemu_model_frozen(m));
	CHECK_EQ(vd_rd32(&p.b, VD_REGION(0) + 0, 4), 0xffffffff); /* MMIO frozen */
	for (unsigned i = 0; i < 4096; i++)
		CHECK_EQ(p.b.mem[VD_MEM - 4096 + i], 0x5a);
	CHECK(tcemu_host_defect_count(p.vh.h) >= 1);
	pair_close(&p, false);
}

TEST(read_only_and_out_of_window_buffers_fault_by_name)
{
	struct pair p;
	struct tcemu_model_fault f;
	struct tcemu_model *m;
	uint8_t *ro;
	struct vfio_iommu_type1_dma_map map = { .argsz = sizeof(map), .flags = VFIO_DMA_MAP_FLAG_READ,
						.iova = 0x8000000, .size = 4096 };
	struct vfio_iommu_spapr_register_memory r = { .argsz = sizeof(r), .size = 4096 };

	CHECK_EQ(pair_open(&p, true, false), 0);
	ro = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(ro != MAP_FAILED);
	memset(ro, 0x33, 4096);
	r.vaddr = map.vaddr = (uintptr_t)ro;
	CHECK_EQ(tcemu_host_ioctl(p.vh.h, p.vh.c, VFIO_IOMMU_SPAPR_REGISTER_MEMORY, &r), 0);
	CHECK_EQ(tcemu_host_ioctl(p.vh.h, p.vh.c, VFIO_IOMMU_MAP_DMA, &map), 0);
	m = tcemu_host_model(p.vh.h, B_BDF);
	vd_desc(&p.b, 0, 0, 0x8000000, RX_BUF < 4096 ? RX_BUF : 4096, 2, 0);
	CHECK_EQ(vd_kick(&p.b, 0, 0), 0);
	CHECK_EQ(send_pkt(&p.a, 500), 0);
	CHECK_EQ(tcemu_model_last_fault(m, &f), 0);
	CHECK_EQ(f.held, TCEMU_FAULT_READ_ONLY);
	CHECK(ro[0] == 0x33 && ro[4095] == 0x33);
	pair_close(&p, false);

	CHECK_EQ(pair_open(&p, true, false), 0);
	m = tcemu_host_model(p.vh.h, A_BDF);
	vd_desc(&p.a, 1, 0, 0x0400000000000000ull, 100, 0, 0); /* no window there */
	CHECK_EQ(vd_kick(&p.a, 1, 0), 0);
	CHECK_EQ(tcemu_model_last_fault(m, &f), 0);
	CHECK_EQ(f.held, TCEMU_FAULT_NO_WINDOW);
	CHECK(!f.write);
	CHECK_STR(f.context, "tx queue 1 buffer 0");
	pair_close(&p, false);
	munmap(ro, 4096);
}

struct dir {
	struct vd *from, *to;
	bool ok;
};

static void *dir_thread(void *arg)
{
	struct dir *d = arg;

	d->ok = true;
	for (unsigned round = 0; round < 20 && d->ok; round++)
		for (unsigned len = 60; len <= 1514 && d->ok; len += 97) {
			uint32_t id, ulen;

			d->ok = post_rx(d->to) == 0 && send_pkt(d->from, len) == 0 && vd_used(d->from, 1, &id, &ulen) == 1 &&
				vd_used(d->to, 0, &id, &ulen) == 1 && ulen == hdr_len(d->to) + len &&
				vd_ptr(d->to, RX_OFF)[hdr_len(d->to) + len - 1] == pattern(len, len - 1);
		}
	return NULL;
}

/* Both ports transmit at once from two threads: each delivers into the other (no deadlock, no loss). */
TEST(concurrent_transmit_both_ways)
{
	struct pair p;
	struct dir ab, ba;
	pthread_t t1, t2;

	CHECK_EQ(pair_open(&p, true, false), 0);
	ab = (struct dir){ .from = &p.a, .to = &p.b };
	ba = (struct dir){ .from = &p.b, .to = &p.a };
	CHECK_EQ(pthread_create(&t1, NULL, dir_thread, &ab), 0);
	CHECK_EQ(pthread_create(&t2, NULL, dir_thread, &ba), 0);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	CHECK(ab.ok);
	CHECK(ba.ok);
	pair_close(&p, false);
}

HARNESS_MAIN(T(concurrent_transmit_both_ways), T(identity_config_space_and_irq_info), T(legacy_every_length_both_directions),
	     T(modern_every_length_both_directions), T(loopback_port_receives_its_own_packets),
	     T(backlog_delivers_on_rx_kick), T(intx_level_automask_unmask_and_isr), T(msix_vectors_signal_their_eventfds),
	     T(status_zero_and_vfio_reset_forget_the_queues), T(hostile_chain_loop_needs_reset),
	     T(hostile_indirect_in_indirect_and_bad_heads), T(hostile_queue_size_not_power_of_two),
	     T(features_ok_needs_access_platform), T(unmapped_buffer_faults_and_freezes),
	     T(read_only_and_out_of_window_buffers_fault_by_name))
