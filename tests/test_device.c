/* SPDX-License-Identifier: MIT */
/* Tests of the vfio-pci device model (src/device.c). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vfio/device.h"
#include "harness.h"

#define KiB (1ull << 10)
#define MiB (1ull << 20)
#define GiB (1ull << 30)
#define REGION(i) ((uint64_t)(i) << 40)
#define CFG(off) (REGION(VFIO_PCI_CONFIG_REGION_INDEX) + (off))
#define INTX VFIO_PCI_INTX_IRQ_INDEX
#define MSI VFIO_PCI_MSI_IRQ_INDEX
#define MSIX VFIO_PCI_MSIX_IRQ_INDEX
#define ERR VFIO_PCI_ERR_IRQ_INDEX
#define REQ VFIO_PCI_REQ_IRQ_INDEX
#define TRIG VFIO_IRQ_SET_ACTION_TRIGGER
#define D_NONE VFIO_IRQ_SET_DATA_NONE
#define D_BOOL VFIO_IRQ_SET_DATA_BOOL
#define D_EFD VFIO_IRQ_SET_DATA_EVENTFD

/*
 * Every BAR kind: bar0 16K mem64 (bar1 is its upper half), bar2 1M mem64 prefetch mmap (bar3),
 * bar4 256-byte io, bar5 4K mem32 mmap, a 64K ROM.
 */
static struct tcemu_device_info full_info(void)
{
	struct tcemu_device_info info = {
		.bdf = "0000:01:00.0",
		.vendor = 0x1b36,
		.device = 0x0005,
		.class_code = 0x0c0330, /* class 0c, subclass 03, prog-if 30 */
		.subsys_vendor = 0x1af4,
		.subsys_device = 0x1100,
		.bar_size = { 16 * KiB, 0, 1 * MiB, 0, 256, 4 * KiB },
		.bar_flags = { TCEMU_BAR_MEM64, 0, TCEMU_BAR_MEM64 | TCEMU_BAR_PREFETCH | TCEMU_BAR_MMAP, 0,
			       TCEMU_BAR_IO, TCEMU_BAR_MMAP },
		.rom_size = 64 * KiB,
		.revision = 0x01,
	};
	return info;
}

/* Absent BARs and no ROM: bar0 8G mem64 prefetch (bar1), bar2 16-byte mem32 prefetch. */
static struct tcemu_device_info sparse_info(void)
{
	struct tcemu_device_info info = {
		.bdf = "0001:02:03.4",
		.vendor = 0x10de,
		.device = 0x1db4,
		.class_code = 0x030200,
		.bar_size = { 8 * GiB, 0, 16 },
		.bar_flags = { TCEMU_BAR_MEM64 | TCEMU_BAR_PREFETCH, 0, TCEMU_BAR_PREFETCH },
	};
	return info;
}

static struct tcemu_vdev *mk(const struct tcemu_device_info *info)
{
	struct tcemu_vdev *d = NULL;
	if (tcemu_vdev_create(info, NULL, &d) != 0)
		return NULL;
	return d;
}

static struct tcemu_vdev *mk_full(void)
{
	struct tcemu_device_info info = full_info();
	return mk(&info);
}

/*
 * The full device with interrupt capabilities, as a binding says them (device.h): MSI (1 vector),
 * MSI-X (8), PCI Express (the ERR interrupt); no bar_rw, so its BARs stay plain memory.
 */
static struct tcemu_vdev *mk_irqs(void)
{
	struct tcemu_device_info info = full_info();
	struct tcemu_vdev_model mdl = { .msi_vectors = 1, .msix_vectors = 8, .pcie = true };
	struct tcemu_vdev *d = NULL;

	return tcemu_vdev_create_model(&info, NULL, &mdl, &d) == 0 ? d : NULL;
}

/* Little-endian config read/write of 1..4 bytes; a failed access yields 0xdeadbeef. */
static uint32_t cfg_rd(struct tcemu_vdev *d, unsigned off, unsigned len)
{
	uint8_t b[4] = { 0 };
	if (tcemu_vdev_rw(d, b, len, CFG(off), false) != (ssize_t)len)
		return 0xdeadbeef;
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static ssize_t cfg_wr(struct tcemu_vdev *d, unsigned off, unsigned len, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
	return tcemu_vdev_rw(d, b, len, CFG(off), true);
}

static int set_irqs(struct tcemu_vdev *d, uint32_t flags, uint32_t index, uint32_t start, uint32_t count,
		    const void *data, size_t datalen)
{
	struct vfio_irq_set hdr = {
		.argsz = (uint32_t)(sizeof(hdr) + datalen), .flags = flags, .index = index, .start = start, .count = count,
	};
	return tcemu_vdev_set_irqs(d, &hdr, data, datalen);
}

static int set_efds(struct tcemu_vdev *d, uint32_t index, uint32_t start, uint32_t count, const int32_t *fds)
{
	return set_irqs(d, D_EFD | TRIG, index, start, count, fds, count * sizeof(int32_t));
}

/* The eventfd's counter (reads and clears it), or 0 if it was not signalled. */
static uint64_t efd_take(int fd)
{
	uint64_t v = 0;
	if (read(fd, &v, sizeof(v)) != (ssize_t)sizeof(v))
		return 0;
	return v;
}

static bool fd_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

static bool fd_closed(int fd)
{
	return fcntl(fd, F_GETFD) == -1 && errno == EBADF;
}

TEST(create_validation)
{
	struct tcemu_vdev *const sentinel = (struct tcemu_vdev *)&harness_failed;
	struct tcemu_vdev *d = sentinel;
	struct tcemu_device_info info;

	CHECK_EQ(tcemu_vdev_create(NULL, NULL, &d), -EINVAL);
	info = full_info();
	CHECK_EQ(tcemu_vdev_create(&info, NULL, NULL), -EINVAL);
	info.bar_size[5] = 3 * KiB; /* not a power of two */
	CHECK_EQ(tcemu_vdev_create(&info, NULL, &d), -EINVAL);
	info = full_info();
	info.bar_size[5] = 8; /* memory below 16 bytes */
	CHECK_EQ(tcemu_vdev_create(&info, NULL, &d), -EINVAL);
	info = full_info();
	info.bar_flags[5] = TCEMU_BAR_MEM64; /* no bar6 for the upper half */
	CHECK_EQ(tcemu_vdev_create(&info, NULL, &d), -EINVAL);
	info = full_info();
	info.bar_size[1] = 4 * KiB; /* the upper half of bar0 */
	CHECK_EQ(tcemu_vdev_create(&info, NULL, &d), -EINVAL);
	info = full_info();
	info.bar_flags[4] |= TCEMU_BAR_PREFETCH;
	CHECK_EQ(tcemu_vdev_create(&info, NULL, &d), -EINVAL);
	info = full_info();
	info.bar_size[5] = 4 * GiB; /* mem32 */
	CHECK_EQ(tcemu_vdev_create(&info, NULL, &d), -EINVAL);
	info = full_info();
	info.bar_size[0] = 2ull << 40; /* beyond the 1 TiB region slot */
	CHECK_EQ(tcemu_vdev_create(&info, NULL, &d), -EINVAL);
	info = full_info();
	info.rom_size = 1 * KiB;
	CHECK_EQ(tcemu_vdev_create(&info, NULL, &d), -EINVAL);
	info = full_info();
	info.class_code = 0x1000000;
	CHECK_EQ(tcemu_vdev_create(&info, NULL, &d), -EINVAL);
	CHECK(d == sentinel);
	tcemu_vdev_destroy(NULL);

	info = full_info();
	CHECK_EQ(tcemu_vdev_create(&info, NULL, &d), 0);
	info.vendor = 0; /* the device keeps its own copy */
	CHECK_EQ(tcemu_vdev_info(d)->vendor, 0x1b36);
	CHECK_STR(tcemu_vdev_info(d)->bdf, "0000:01:00.0");
	CHECK_U64(tcemu_vdev_info(d)->bar_size[2], 1 * MiB);
	tcemu_vdev_destroy(d);
}

TEST(get_info)
{
	struct tcemu_vdev *d = mk_full();
	struct vfio_device_info di;

	CHECK(d);
	memset(&di, 0xa5, sizeof(di));
	di.argsz = sizeof(di);
	CHECK_EQ(tcemu_vdev_get_info(d, &di), 0);
	CHECK_EQ(di.argsz, sizeof(di));
	CHECK_EQ(di.flags, VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET);
	CHECK_EQ(di.num_regions, 9);
	CHECK_EQ(di.num_irqs, 5);
	CHECK_EQ(di.cap_offset, 0);
	tcemu_vdev_destroy(d);
}

TEST(region_info)
{
	static const uint32_t RW = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
	static const uint32_t MM = VFIO_REGION_INFO_FLAG_MMAP;
	static const uint64_t full_size[9] = { 16 * KiB, 0, 1 * MiB, 0, 256, 4 * KiB, 64 * KiB, 256, 0 };
	static const uint32_t full_flags[9] = { RW, 0, RW | MM, 0, RW, RW | MM, VFIO_REGION_INFO_FLAG_READ, RW, 0 };
	static const uint64_t sparse_size[9] = { 8 * GiB, 0, 16, 0, 0, 0, 0, 256, 0 };
	static const uint32_t sparse_flags[9] = { RW, 0, RW, 0, 0, 0, 0, RW, 0 };
	struct tcemu_device_info si = sparse_info();
	struct tcemu_vdev *d = mk_full(), *s = mk(&si);
	struct vfio_region_info ri;

	CHECK(d && s);
	for (uint32_t i = 0; i < 9; i++) {
		memset(&ri, 0xa5, sizeof(ri));
		ri.argsz = sizeof(ri);
		ri.index = i;
		CHECK_EQ(tcemu_vdev_get_region_info(d, &ri), 0);
		CHECK_EQ(ri.argsz, sizeof(ri));
		CHECK_EQ(ri.index, i);
		CHECK_EQ(ri.cap_offset, 0);
		CHECK_U64(ri.offset, (uint64_t)i << 40);
		CHECK_U64(ri.size, full_size[i]);
		CHECK_EQ(ri.flags, full_flags[i]);

		ri.index = i;
		CHECK_EQ(tcemu_vdev_get_region_info(s, &ri), 0);
		CHECK_U64(ri.offset, (uint64_t)i << 40);
		CHECK_U64(ri.size, sparse_size[i]);
		CHECK_EQ(ri.flags, sparse_flags[i]);
	}
	ri.index = 9;
	CHECK_EQ(tcemu_vdev_get_region_info(d, &ri), -EINVAL);
	ri.index = UINT32_MAX;
	CHECK_EQ(tcemu_vdev_get_region_info(d, &ri), -EINVAL);
	tcemu_vdev_destroy(d);
	tcemu_vdev_destroy(s);
}

/* GET_IRQ_INFO of one device: want[i] the count of index i, or -1 where it is refused. */
static void irq_info_is(struct tcemu_vdev *d, const int want[5])
{
	static const uint32_t flags[5] = {
		VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_MASKABLE | VFIO_IRQ_INFO_AUTOMASKED,
		VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE,
		VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE,
		VFIO_IRQ_INFO_EVENTFD,
		VFIO_IRQ_INFO_EVENTFD,
	};
	struct vfio_irq_info ii;

	CHECK(d);
	for (uint32_t i = 0; i < 5; i++) {
		ii = (struct vfio_irq_info){ .argsz = sizeof(ii), .index = i, .flags = 0xffff, .count = 99 };
		if (want[i] < 0) {
			CHECK_EQ(tcemu_vdev_get_irq_info(d, &ii), -EINVAL);
			continue;
		}
		CHECK_EQ(tcemu_vdev_get_irq_info(d, &ii), 0);
		CHECK_EQ(ii.argsz, sizeof(ii));
		CHECK_EQ(ii.index, i);
		CHECK_EQ(ii.count, (uint32_t)want[i]);
		CHECK_EQ(ii.flags, flags[i]);
	}
	ii.index = 5;
	CHECK_EQ(tcemu_vdev_get_irq_info(d, &ii), -EINVAL);
}

/* The counts follow the capabilities, as vfio-pci's: the plain device has none. */
TEST(irq_info)
{
	static const int plain[5] = { 1, 0, 0, -1, 1 }, caps[5] = { 1, 1, 8, 1, 1 };
	struct tcemu_vdev *d = mk_full(), *c = mk_irqs();
	int32_t fd = eventfd(0, EFD_CLOEXEC);

	irq_info_is(d, plain);
	irq_info_is(c, caps);
	/* what GET_IRQ_INFO says is what SET_IRQS accepts */
	CHECK_EQ(set_efds(d, MSI, 0, 1, &fd), -EINVAL);
	CHECK_EQ(set_efds(d, MSIX, 0, 1, &fd), -EINVAL);
	CHECK_EQ(set_efds(d, ERR, 0, 1, &fd), -EINVAL);
	CHECK_EQ(set_efds(d, INTX, 0, 1, &fd), 0);
	CHECK_EQ(set_efds(c, MSIX, 7, 1, &fd), 0);
	tcemu_vdev_destroy(d);
	tcemu_vdev_destroy(c);
	close(fd);
}

TEST(config_header)
{
	struct tcemu_vdev *d = mk_full();
	uint8_t all[256];

	CHECK(d);
	CHECK_EQ(cfg_rd(d, 0x00, 2), 0x1b36);
	CHECK_EQ(cfg_rd(d, 0x02, 2), 0x0005);
	CHECK_EQ(cfg_rd(d, 0x00, 4), 0x00051b36);
	CHECK_EQ(cfg_rd(d, 0x04, 2), 0);      /* command */
	CHECK_EQ(cfg_rd(d, 0x06, 2), 0);      /* status: no capabilities list */
	CHECK_EQ(cfg_rd(d, 0x08, 1), 0x01);   /* revision */
	CHECK_EQ(cfg_rd(d, 0x09, 1), 0x30);   /* prog-if */
	CHECK_EQ(cfg_rd(d, 0x0a, 1), 0x03);   /* subclass */
	CHECK_EQ(cfg_rd(d, 0x0b, 1), 0x0c);   /* class */
	CHECK_EQ(cfg_rd(d, 0x08, 4), 0x0c033001);
	CHECK_EQ(cfg_rd(d, 0x0c, 4), 0);      /* cache line, latency, header type 0, BIST */
	CHECK_EQ(cfg_rd(d, 0x2c, 2), 0x1af4);
	CHECK_EQ(cfg_rd(d, 0x2e, 2), 0x1100);
	CHECK_EQ(cfg_rd(d, 0x30, 4), 0);      /* ROM BAR: address 0, disabled */
	CHECK_EQ(cfg_rd(d, 0x34, 1), 0);      /* capabilities pointer */
	CHECK_EQ(cfg_rd(d, 0x3c, 1), 0);      /* interrupt line */
	CHECK_EQ(cfg_rd(d, 0x3d, 1), 1);      /* interrupt pin INTA */
	CHECK_EQ(cfg_rd(d, 0x3e, 2), 0);
	CHECK_EQ(tcemu_vdev_rw(d, all, sizeof(all), CFG(0), false), 256);
	for (unsigned i = 0x40; i < 256; i++)
		CHECK_EQ(all[i], 0);
	for (unsigned i = 0x28; i < 0x2c; i++) /* CardBus CIS */
		CHECK_EQ(all[i], 0);
	tcemu_vdev_destroy(d);
}

TEST(config_bar_types)
{
	struct tcemu_device_info si = sparse_info();
	struct tcemu_vdev *d = mk_full(), *s = mk(&si);

	CHECK(d && s);
	CHECK_EQ(cfg_rd(d, 0x10, 4), 0x4);  /* mem64 */
	CHECK_EQ(cfg_rd(d, 0x14, 4), 0);    /* its upper half */
	CHECK_EQ(cfg_rd(d, 0x18, 4), 0xc);  /* mem64 prefetch */
	CHECK_EQ(cfg_rd(d, 0x1c, 4), 0);
	CHECK_EQ(cfg_rd(d, 0x20, 4), 0x1);  /* io */
	CHECK_EQ(cfg_rd(d, 0x24, 4), 0x0);  /* mem32 */
	CHECK_EQ(cfg_rd(s, 0x10, 4), 0xc);
	CHECK_EQ(cfg_rd(s, 0x18, 4), 0x8);  /* mem32 prefetch */
	CHECK_EQ(cfg_rd(s, 0x20, 4), 0);    /* absent */
	CHECK_EQ(cfg_rd(s, 0x0a, 2), 0x0302);
	tcemu_vdev_destroy(d);
	tcemu_vdev_destroy(s);
}

TEST(config_bar_sizing)
{
	struct tcemu_device_info si = sparse_info();
	struct tcemu_vdev *d = mk_full(), *s = mk(&si);

	CHECK(d && s);
	/* 32-bit 4K BAR */
	CHECK_EQ(cfg_wr(d, 0x24, 4, 0xffffffff), 4);
	CHECK_U64(cfg_rd(d, 0x24, 4), 0xfffff000);
	CHECK_EQ(cfg_wr(d, 0x24, 4, 0x12345678), 4);
	CHECK_U64(cfg_rd(d, 0x24, 4), 0x12345000);
	/* 64-bit 16K BAR: both halves */
	CHECK_EQ(cfg_wr(d, 0x10, 4, 0xffffffff), 4);
	CHECK_EQ(cfg_wr(d, 0x14, 4, 0xffffffff), 4);
	CHECK_U64(cfg_rd(d, 0x10, 4), 0xffffc004);
	CHECK_U64(cfg_rd(d, 0x14, 4), 0xffffffff);
	CHECK_EQ(cfg_wr(d, 0x10, 4, 0x80000000), 4);
	CHECK_EQ(cfg_wr(d, 0x14, 4, 0x00000123), 4);
	CHECK_U64(cfg_rd(d, 0x10, 4), 0x80000004);
	CHECK_U64(cfg_rd(d, 0x14, 4), 0x123);
	/* 64-bit prefetchable 1M BAR */
	CHECK_EQ(cfg_wr(d, 0x18, 4, 0xffffffff), 4);
	CHECK_EQ(cfg_wr(d, 0x1c, 4, 0xffffffff), 4);
	CHECK_U64(cfg_rd(d, 0x18, 4), 0xfff0000c);
	CHECK_U64(cfg_rd(d, 0x1c, 4), 0xffffffff);
	/* 64-bit 8G BAR: the size mask reaches into the upper dword */
	CHECK_EQ(cfg_wr(s, 0x10, 4, 0xffffffff), 4);
	CHECK_EQ(cfg_wr(s, 0x14, 4, 0xffffffff), 4);
	CHECK_U64(cfg_rd(s, 0x10, 4), 0x0000000c);
	CHECK_U64(cfg_rd(s, 0x14, 4), 0xfffffffe);
	/* 256-byte IO BAR */
	CHECK_EQ(cfg_wr(d, 0x20, 4, 0xffffffff), 4);
	CHECK_U64(cfg_rd(d, 0x20, 4), 0xffffff01);
	/* 16-byte mem32 BAR */
	CHECK_EQ(cfg_wr(s, 0x18, 4, 0xffffffff), 4);
	CHECK_U64(cfg_rd(s, 0x18, 4), 0xfffffff8);
	/* ROM BAR: 64K, enable bit writable */
	CHECK_EQ(cfg_wr(d, 0x30, 4, 0xffffffff), 4);
	CHECK_U64(cfg_rd(d, 0x30, 4), 0xffff0001);
	CHECK_EQ(cfg_wr(d, 0x30, 4, 0xfffffffe), 4);
	CHECK_U64(cfg_rd(d, 0x30, 4), 0xffff0000);
	/* Absent BARs and ROM read 0 and ignore writes */
	for (unsigned off = 0x20; off <= 0x24; off += 4) {
		CHECK_EQ(cfg_wr(s, off, 4, 0xffffffff), 4);
		CHECK_EQ(cfg_rd(s, off, 4), 0);
	}
	CHECK_EQ(cfg_wr(s, 0x30, 4, 0xffffffff), 4);
	CHECK_EQ(cfg_rd(s, 0x30, 4), 0);
	tcemu_vdev_destroy(d);
	tcemu_vdev_destroy(s);
}

TEST(config_write_masks)
{
	struct tcemu_vdev *d = mk_full();
	uint8_t before[256], after[256];

	CHECK(d);
	CHECK_EQ(cfg_wr(d, 0x04, 2, 0xffff), 2);
	CHECK_EQ(cfg_rd(d, 0x04, 2), 0x0547);
	CHECK_EQ(cfg_wr(d, 0x04, 4, 0xffffffff), 4); /* status bits are not writable */
	CHECK_U64(cfg_rd(d, 0x04, 4), 0x00000547);
	CHECK_EQ(cfg_wr(d, 0x04, 2, 0x0002), 2);
	CHECK_EQ(cfg_rd(d, 0x04, 2), 0x0002);
	CHECK_EQ(cfg_wr(d, 0x3c, 1, 0xab), 1);
	CHECK_EQ(cfg_rd(d, 0x3c, 1), 0xab);
	CHECK_EQ(cfg_wr(d, 0x3c, 4, 0xffffffff), 4); /* pin, min_gnt, max_lat are read-only */
	CHECK_U64(cfg_rd(d, 0x3c, 4), 0x000001ff);

	/* Writing ones everywhere else changes nothing. */
	CHECK_EQ(tcemu_vdev_rw(d, before, sizeof(before), CFG(0), false), 256);
	memset(after, 0xff, sizeof(after));
	for (unsigned off = 0; off < 256; off++) {
		if (off == 0x04 || off == 0x05 || (off >= 0x10 && off < 0x28) || (off >= 0x30 && off < 0x34) ||
		    off == 0x3c)
			continue;
		CHECK_EQ(tcemu_vdev_rw(d, after, 1, CFG(off), true), 1);
	}
	CHECK_EQ(tcemu_vdev_rw(d, after, sizeof(after), CFG(0), false), 256);
	CHECK(memcmp(before, after, sizeof(before)) == 0);
	tcemu_vdev_destroy(d);
}

TEST(config_unaligned)
{
	struct tcemu_vdev *d = mk_full();
	uint8_t buf[16];

	CHECK(d);
	CHECK_EQ(cfg_rd(d, 0x01, 3), 0x00051b); /* vendor high byte, device */
	CHECK_EQ(cfg_rd(d, 0x03, 2), 0x0000);
	CHECK_EQ(cfg_rd(d, 0x09, 3), 0x0c0330);
	CHECK_EQ(cfg_rd(d, 0x0b, 2), 0x000c);
	CHECK_EQ(cfg_rd(d, 0x3b, 3), 0x010000); /* 0x3b reserved, line 0, pin 1 */
	CHECK_EQ(cfg_rd(d, 0x2d, 3), 0x11001a);
	/* A write across command and status updates only the writable bits. */
	CHECK_EQ(cfg_wr(d, 0x05, 2, 0xffff), 2);
	CHECK_U64(cfg_rd(d, 0x04, 4), 0x00000500);
	/* BAR sizing with byte writes */
	for (unsigned off = 0x24; off < 0x28; off++)
		CHECK_EQ(cfg_wr(d, off, 1, 0xff), 1);
	CHECK_U64(cfg_rd(d, 0x24, 4), 0xfffff000);
	CHECK_EQ(cfg_wr(d, 0x25, 2, 0x0000), 2);
	CHECK_U64(cfg_rd(d, 0x24, 4), 0xff000000);
	/* Cut at the end of config space; nothing past it. */
	memset(buf, 0xee, sizeof(buf));
	CHECK_EQ(tcemu_vdev_rw(d, buf, 8, CFG(0xfe), false), 2);
	CHECK_EQ(buf[0], 0);
	CHECK_EQ(buf[1], 0);
	CHECK_EQ(buf[2], 0xee);
	CHECK_EQ(tcemu_vdev_rw(d, buf, 8, CFG(0x3a), false), 8);
	CHECK_EQ(buf[2], 0x00);
	CHECK_EQ(buf[3], 0x01);
	CHECK_EQ(tcemu_vdev_rw(d, buf, 4, CFG(0xff), true), 1);
	CHECK_EQ(tcemu_vdev_rw(d, buf, 4, CFG(0x100), false), 0);
	CHECK_EQ(tcemu_vdev_rw(d, buf, 4, CFG(0x100), true), 0);
	CHECK_EQ(tcemu_vdev_rw(d, buf, 4, CFG(0xffffff), false), 0);
	CHECK_EQ(tcemu_vdev_rw(d, buf, 0, CFG(0), false), 0);
	tcemu_vdev_destroy(d);
}

TEST(bar_rw_and_mmap)
{
	struct tcemu_vdev *d = mk_full();
	uint8_t pat[64], got[64];
	const uint64_t bar2 = REGION(2);
	uint8_t *map;
	int fd = -1;

	CHECK(d);
	for (unsigned i = 0; i < sizeof(pat); i++)
		pat[i] = (uint8_t)(i * 7 + 3);
	CHECK_EQ(tcemu_vdev_region_fd(d, 2, &fd), 0);
	CHECK(fd >= 0);
	map = mmap(NULL, 1 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(map != MAP_FAILED);
	/* rw -> mmap */
	CHECK_EQ(tcemu_vdev_rw(d, pat, sizeof(pat), bar2 + 0x1001, true), 64);
	CHECK(memcmp(map + 0x1001, pat, sizeof(pat)) == 0);
	CHECK_EQ(map[0x1000], 0);
	CHECK_EQ(map[0x1001 + 64], 0);
	/* mmap -> rw */
	memcpy(map + MiB - 32, pat, 32);
	CHECK_EQ(tcemu_vdev_rw(d, got, sizeof(got), bar2 + MiB - 32, false), 32); /* cut at the end */
	CHECK(memcmp(got, pat, 32) == 0);
	CHECK_EQ(tcemu_vdev_rw(d, got, sizeof(got), bar2 + MiB, false), 0);
	CHECK_EQ(tcemu_vdev_rw(d, got, sizeof(got), bar2 + MiB, true), 0);
	munmap(map, 1 * MiB);

	/* bar5 (mem32, mmap) also has an fd; bar0 (no mmap) works through rw only */
	CHECK_EQ(tcemu_vdev_region_fd(d, 5, &fd), 0);
	CHECK_EQ(tcemu_vdev_rw(d, pat, 16, REGION(0) + 16 * KiB - 16, true), 16);
	CHECK_EQ(tcemu_vdev_rw(d, got, 16, REGION(0) + 16 * KiB - 16, false), 16);
	CHECK(memcmp(got, pat, 16) == 0);
	CHECK_EQ(tcemu_vdev_rw(d, pat, 4, REGION(4) + 252, true), 4); /* io BAR */
	CHECK_EQ(tcemu_vdev_rw(d, got, 8, REGION(4) + 252, false), 4);
	CHECK(memcmp(got, pat, 4) == 0);

	/* Regions without an fd or without contents */
	for (unsigned i = 0; i < 12; i++) {
		if (i == 2 || i == 5)
			continue;
		fd = 12345;
		CHECK_EQ(tcemu_vdev_region_fd(d, i, &fd), -EINVAL);
		CHECK_EQ(fd, 12345);
	}
	CHECK_EQ(tcemu_vdev_rw(d, got, 4, REGION(1), false), -EINVAL); /* upper half of bar0 */
	CHECK_EQ(tcemu_vdev_rw(d, got, 4, REGION(3), true), -EINVAL);
	CHECK_EQ(tcemu_vdev_rw(d, got, 4, REGION(8), false), -EINVAL); /* VGA */
	CHECK_EQ(tcemu_vdev_rw(d, got, 4, REGION(9), false), -EINVAL);
	CHECK_EQ(tcemu_vdev_rw(d, got, 4, UINT64_MAX, false), -EINVAL);
	tcemu_vdev_destroy(d);
}

TEST(rom_read_only)
{
	struct tcemu_device_info si = sparse_info();
	struct tcemu_vdev *d = mk_full(), *s = mk(&si);
	uint8_t buf[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	const uint64_t rom = REGION(VFIO_PCI_ROM_REGION_INDEX);

	CHECK(d && s);
	CHECK_EQ(tcemu_vdev_rw(d, buf, 4, rom, true), -EINVAL);
	CHECK_EQ(tcemu_vdev_rw(d, buf, 4, rom, false), 4);
	CHECK_EQ(buf[0], 0x55);
	CHECK_EQ(buf[1], 0xaa);
	CHECK_EQ(buf[2], 0);
	CHECK_EQ(buf[3], 0);
	CHECK_EQ(tcemu_vdev_rw(d, buf, 8, rom + 64 * KiB - 2, false), 2);
	CHECK_EQ(tcemu_vdev_rw(d, buf, 8, rom + 64 * KiB, false), 0);
	CHECK_EQ(tcemu_vdev_rw(s, buf, 4, rom, false), -EINVAL); /* no ROM */
	tcemu_vdev_destroy(d);
	tcemu_vdev_destroy(s);
}

TEST(set_irqs_einval)
{
	struct tcemu_vdev *d = mk_irqs();
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int32_t fds[9];
	uint8_t bools[9] = { 1, 1, 1, 1, 1, 1, 1, 1, 1 };

	CHECK(d && efd >= 0);
	for (unsigned i = 0; i < 9; i++)
		fds[i] = efd;
	/* index */
	CHECK_EQ(set_efds(d, 5, 0, 1, fds), -EINVAL);
	CHECK_EQ(set_irqs(d, D_NONE | TRIG, 5, 0, 0, NULL, 0), -EINVAL);
	/* flags outside the masks */
	CHECK_EQ(set_irqs(d, D_NONE | TRIG | (1u << 6), INTX, 0, 1, NULL, 0), -EINVAL);
	CHECK_EQ(set_irqs(d, D_NONE | TRIG | (1u << 31), INTX, 0, 1, NULL, 0), -EINVAL);
	/* not exactly one data type and one action */
	CHECK_EQ(set_irqs(d, TRIG, INTX, 0, 1, NULL, 0), -EINVAL);
	CHECK_EQ(set_irqs(d, D_NONE | D_BOOL | TRIG, INTX, 0, 1, bools, 1), -EINVAL);
	CHECK_EQ(set_irqs(d, D_BOOL | D_EFD | TRIG, INTX, 0, 1, fds, 4), -EINVAL);
	CHECK_EQ(set_irqs(d, D_NONE, INTX, 0, 1, NULL, 0), -EINVAL);
	CHECK_EQ(set_irqs(d, D_NONE | VFIO_IRQ_SET_ACTION_MASK | VFIO_IRQ_SET_ACTION_UNMASK, INTX, 0, 1, NULL, 0),
		 -EINVAL);
	CHECK_EQ(set_irqs(d, D_NONE | VFIO_IRQ_SET_ACTION_MASK | TRIG, INTX, 0, 1, NULL, 0), -EINVAL);
	/* count 0 with data */
	CHECK_EQ(set_irqs(d, D_BOOL | TRIG, MSIX, 0, 0, bools, 1), -EINVAL);
	CHECK_EQ(set_irqs(d, D_EFD | TRIG, MSIX, 0, 0, fds, 4), -EINVAL);
	CHECK_EQ(set_irqs(d, D_EFD | TRIG, ERR, 0, 0, fds, 4), -EINVAL);
	/* start + count beyond the index, and overflow */
	CHECK_EQ(set_efds(d, INTX, 0, 2, fds), -EINVAL);
	CHECK_EQ(set_efds(d, INTX, 1, 1, fds), -EINVAL);
	CHECK_EQ(set_efds(d, MSI, 0, 2, fds), -EINVAL);
	CHECK_EQ(set_efds(d, MSIX, 0, 9, fds), -EINVAL);
	CHECK_EQ(set_efds(d, MSIX, 7, 2, fds), -EINVAL);
	CHECK_EQ(set_irqs(d, D_BOOL | TRIG, MSIX, UINT32_MAX, 2, bools, 2), -EINVAL);
	CHECK_EQ(set_irqs(d, D_NONE | TRIG, MSIX, 1, UINT32_MAX, NULL, 0), -EINVAL);
	CHECK_EQ(set_irqs(d, D_NONE | TRIG, MSIX, 9, 0, NULL, 0), -EINVAL);
	CHECK_EQ(set_irqs(d, D_NONE | TRIG, REQ, 1, 1, NULL, 0), -EINVAL);
	/* data too short for count */
	CHECK_EQ(set_irqs(d, D_BOOL | TRIG, MSIX, 0, 2, bools, 1), -EINVAL);
	CHECK_EQ(set_irqs(d, D_BOOL | TRIG, INTX, 0, 1, bools, 0), -EINVAL);
	CHECK_EQ(set_irqs(d, D_EFD | TRIG, MSIX, 0, 2, fds, 7), -EINVAL);
	CHECK_EQ(set_irqs(d, D_EFD | TRIG, INTX, 0, 1, fds, 3), -EINVAL);
	/* MASK/UNMASK: INTx only, start 0, count 1, no eventfd */
	CHECK_EQ(set_irqs(d, D_NONE | VFIO_IRQ_SET_ACTION_MASK, MSI, 0, 1, NULL, 0), -EINVAL);
	CHECK_EQ(set_irqs(d, D_NONE | VFIO_IRQ_SET_ACTION_UNMASK, MSIX, 0, 1, NULL, 0), -EINVAL);
	CHECK_EQ(set_irqs(d, D_BOOL | VFIO_IRQ_SET_ACTION_MASK, ERR, 0, 1, bools, 1), -EINVAL);
	CHECK_EQ(set_irqs(d, D_NONE | VFIO_IRQ_SET_ACTION_MASK, INTX, 0, 0, NULL, 0), -EINVAL);
	CHECK_EQ(set_irqs(d, D_NONE | VFIO_IRQ_SET_ACTION_UNMASK, INTX, 0, 0, NULL, 0), -EINVAL);
	CHECK_EQ(set_irqs(d, D_EFD | VFIO_IRQ_SET_ACTION_UNMASK, INTX, 0, 1, fds, 4), -EINVAL);
	/* a negative fd other than -1 */
	fds[1] = -2;
	CHECK_EQ(set_efds(d, MSIX, 0, 2, fds), -EINVAL);
	/* nothing was assigned by any of the failures */
	for (unsigned i = 0; i < 5; i++)
		for (unsigned v = 0; v < 8; v++)
			CHECK_EQ(tcemu_vdev_irq_fd(d, i, v), -1);
	tcemu_vdev_destroy(d);
	close(efd);
}

TEST(set_irqs_ebadf)
{
	struct tcemu_vdev *d = mk_irqs();
	int efd = eventfd(0, EFD_CLOEXEC);
	/* A closed number well above the lowest free one, so no dup made meanwhile can reuse it. */
	int dead = fcntl(efd, F_DUPFD_CLOEXEC, 1000);
	int32_t fds[2];

	CHECK(d && efd >= 0 && dead >= 1000);
	close(dead);
	fds[0] = dead;
	CHECK_EQ(set_efds(d, INTX, 0, 1, fds), -EBADF);
	fds[0] = efd;
	fds[1] = dead; /* the whole block fails: vector 0 stays unassigned */
	CHECK_EQ(set_efds(d, MSIX, 0, 2, fds), -EBADF);
	CHECK_EQ(tcemu_vdev_irq_fd(d, MSIX, 0), -1);
	CHECK_EQ(tcemu_vdev_irq_fd(d, MSIX, 1), -1);
	fds[0] = 1 << 20; /* far above any open descriptor */
	CHECK_EQ(set_efds(d, ERR, 0, 1, fds), -EBADF);
	CHECK_EQ(tcemu_vdev_irq_fd(d, ERR, 0), -1);
	tcemu_vdev_destroy(d);
	close(efd);
}

TEST(eventfd_assign_trigger)
{
	struct tcemu_vdev *d = mk_full();
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int efd2 = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int32_t fds[1] = { efd }, unset[1] = { -1 };
	uint8_t yes = 1, no = 0;
	int dup1, dup2;

	CHECK(d && efd >= 0 && efd2 >= 0);
	CHECK_EQ(set_efds(d, INTX, 0, 1, fds), 0);
	dup1 = tcemu_vdev_irq_fd(d, INTX, 0);
	CHECK(dup1 >= 0 && dup1 != efd);
	CHECK(fcntl(dup1, F_GETFD) & FD_CLOEXEC);
	CHECK_EQ(efd_take(efd), 0);
	/* loopback triggers */
	CHECK_EQ(set_irqs(d, D_NONE | TRIG, INTX, 0, 1, NULL, 0), 0);
	CHECK_EQ(efd_take(efd), 1);
	CHECK_EQ(set_irqs(d, D_BOOL | TRIG, INTX, 0, 1, &yes, 1), 0);
	CHECK_EQ(efd_take(efd), 1);
	CHECK_EQ(set_irqs(d, D_BOOL | TRIG, INTX, 0, 1, &no, 1), 0);
	CHECK_EQ(efd_take(efd), 0);
	/* the device signals through its dup, which shares the counter */
	CHECK_EQ(tcemu_vdev_raise_irq(d, INTX, 0), 0);
	CHECK_EQ(efd_take(efd), 1);
	/* replacing closes the old dup */
	fds[0] = efd2;
	CHECK_EQ(set_efds(d, INTX, 0, 1, fds), 0);
	dup2 = tcemu_vdev_irq_fd(d, INTX, 0);
	CHECK(dup2 >= 0);
	if (dup2 != dup1)
		CHECK(fd_closed(dup1));
	CHECK_EQ(set_irqs(d, D_NONE | TRIG, INTX, 0, 1, NULL, 0), 0);
	CHECK_EQ(efd_take(efd), 0);
	CHECK_EQ(efd_take(efd2), 1);
	/* unassign with -1 */
	CHECK_EQ(set_efds(d, INTX, 0, 1, unset), 0);
	CHECK_EQ(tcemu_vdev_irq_fd(d, INTX, 0), -1);
	CHECK(fd_closed(dup2));
	CHECK_EQ(tcemu_vdev_raise_irq(d, INTX, 0), -ENOENT);
	CHECK_EQ(set_irqs(d, D_NONE | TRIG, INTX, 0, 1, NULL, 0), 0); /* nothing to signal */
	CHECK(fd_open(efd) && fd_open(efd2));
	tcemu_vdev_destroy(d);
	close(efd);
	close(efd2);
}

TEST(msix_block)
{
	struct tcemu_vdev *d = mk_irqs();
	int efd[8];
	int32_t fds[8], unset[2] = { -1, -1 };
	uint8_t bools[3] = { 1, 0, 1 };

	CHECK(d);
	for (unsigned i = 0; i < 8; i++) {
		efd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		CHECK(efd[i] >= 0);
		fds[i] = efd[i];
	}
	CHECK_EQ(set_efds(d, MSIX, 0, 8, fds), 0);
	for (unsigned i = 0; i < 8; i++)
		CHECK(tcemu_vdev_irq_fd(d, MSIX, i) >= 0);
	CHECK_EQ(set_irqs(d, D_BOOL | TRIG, MSIX, 2, 3, bools, 3), 0);
	for (unsigned i = 0; i < 8; i++)
		CHECK_EQ(efd_take(efd[i]), i == 2 || i == 4);
	CHECK_EQ(set_irqs(d, D_NONE | TRIG, MSIX, 6, 2, NULL, 0), 0);
	for (unsigned i = 0; i < 8; i++)
		CHECK_EQ(efd_take(efd[i]), i >= 6);
	for (unsigned i = 0; i < 8; i++) {
		CHECK_EQ(tcemu_vdev_raise_irq(d, MSIX, i), 0);
		CHECK_EQ(tcemu_vdev_raise_irq(d, MSIX, i), 0); /* MSI-X is not masked */
		CHECK_EQ(efd_take(efd[i]), 2);
	}
	/* unassign a sub-range */
	CHECK_EQ(set_efds(d, MSIX, 3, 2, unset), 0);
	for (unsigned i = 0; i < 8; i++)
		CHECK_EQ(tcemu_vdev_irq_fd(d, MSIX, i) < 0, i == 3 || i == 4);
	CHECK_EQ(tcemu_vdev_raise_irq(d, MSIX, 3), -ENOENT);
	CHECK_EQ(tcemu_vdev_raise_irq(d, MSIX, 5), 0);
	CHECK_EQ(efd_take(efd[5]), 1);
	/* MSI: one vector */
	CHECK_EQ(set_efds(d, MSI, 0, 1, fds), 0);
	CHECK_EQ(tcemu_vdev_raise_irq(d, MSI, 0), 0);
	CHECK_EQ(efd_take(efd[0]), 1);
	tcemu_vdev_destroy(d);
	for (unsigned i = 0; i < 8; i++)
		close(efd[i]);
}

TEST(disable_all)
{
	struct tcemu_vdev *d = mk_irqs();
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int32_t fds[8];
	int dups[8];

	CHECK(d && efd >= 0);
	for (unsigned i = 0; i < 8; i++)
		fds[i] = efd;
	CHECK_EQ(set_efds(d, MSIX, 0, 8, fds), 0);
	CHECK_EQ(set_efds(d, INTX, 0, 1, fds), 0);
	CHECK_EQ(set_efds(d, MSI, 0, 1, fds), 0);
	CHECK_EQ(set_efds(d, ERR, 0, 1, fds), 0);
	CHECK_EQ(set_efds(d, REQ, 0, 1, fds), 0);
	for (unsigned i = 0; i < 8; i++)
		dups[i] = tcemu_vdev_irq_fd(d, MSIX, i);
	CHECK_EQ(set_irqs(d, D_NONE | TRIG, MSIX, 0, 0, NULL, 0), 0);
	for (unsigned i = 0; i < 8; i++) {
		CHECK_EQ(tcemu_vdev_irq_fd(d, MSIX, i), -1);
		CHECK(fd_closed(dups[i]));
	}
	CHECK(tcemu_vdev_irq_fd(d, INTX, 0) >= 0); /* other indexes keep theirs */
	CHECK_EQ(set_irqs(d, D_NONE | TRIG, INTX, 0, 0, NULL, 0), 0);
	CHECK_EQ(tcemu_vdev_irq_fd(d, INTX, 0), -1);
	CHECK_EQ(set_irqs(d, D_NONE | TRIG, MSI, 0, 0, NULL, 0), 0);
	CHECK_EQ(tcemu_vdev_irq_fd(d, MSI, 0), -1);
	CHECK_EQ(set_irqs(d, D_NONE | TRIG, ERR, 0, 0, NULL, 0), 0);
	CHECK_EQ(tcemu_vdev_irq_fd(d, ERR, 0), -1);
	CHECK(tcemu_vdev_irq_fd(d, REQ, 0) >= 0);
	CHECK_EQ(set_irqs(d, D_NONE | TRIG, MSIX, 0, 0, NULL, 0), 0); /* already disabled: fine */
	CHECK_EQ(efd_take(efd), 0); /* disabling signals nothing */
	tcemu_vdev_destroy(d);
	close(efd);
}

TEST(intx_mask)
{
	struct tcemu_vdev *d = mk_full();
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int32_t fds[1] = { efd };
	uint8_t yes = 1, no = 0;
	const uint32_t MASK = D_NONE | VFIO_IRQ_SET_ACTION_MASK, UNMASK = D_NONE | VFIO_IRQ_SET_ACTION_UNMASK;

	CHECK(d && efd >= 0);
	CHECK_EQ(tcemu_vdev_raise_irq(d, INTX, 0), -ENOENT);
	CHECK_EQ(set_efds(d, INTX, 0, 1, fds), 0);
	/* automasked: one signal, then masked until unmasked */
	CHECK_EQ(tcemu_vdev_raise_irq(d, INTX, 0), 0);
	CHECK_EQ(tcemu_vdev_raise_irq(d, INTX, 0), -EAGAIN);
	CHECK_EQ(efd_take(efd), 1);
	CHECK_EQ(set_irqs(d, UNMASK, INTX, 0, 1, NULL, 0), 0);
	CHECK_EQ(tcemu_vdev_raise_irq(d, INTX, 0), 0);
	CHECK_EQ(efd_take(efd), 1);
	CHECK_EQ(set_irqs(d, UNMASK, INTX, 0, 1, NULL, 0), 0);
	/* explicit mask */
	CHECK_EQ(set_irqs(d, MASK, INTX, 0, 1, NULL, 0), 0);
	CHECK_EQ(tcemu_vdev_raise_irq(d, INTX, 0), -EAGAIN);
	CHECK_EQ(efd_take(efd), 0);
	/* the loopback trigger ignores the mask */
	CHECK_EQ(set_irqs(d, D_NONE | TRIG, INTX, 0, 1, NULL, 0), 0);
	CHECK_EQ(efd_take(efd), 1);
	/* BOOL false leaves the state alone; true acts */
	CHECK_EQ(set_irqs(d, D_BOOL | VFIO_IRQ_SET_ACTION_UNMASK, INTX, 0, 1, &no, 1), 0);
	CHECK_EQ(tcemu_vdev_raise_irq(d, INTX, 0), -EAGAIN);
	CHECK_EQ(set_irqs(d, D_BOOL | VFIO_IRQ_SET_ACTION_UNMASK, INTX, 0, 1, &yes, 1), 0);
	CHECK_EQ(set_irqs(d, D_BOOL | VFIO_IRQ_SET_ACTION_MASK, INTX, 0, 1, &no, 1), 0);
	CHECK_EQ(tcemu_vdev_raise_irq(d, INTX, 0), 0);
	CHECK_EQ(efd_take(efd), 1);
	CHECK_EQ(set_irqs(d, D_BOOL | VFIO_IRQ_SET_ACTION_UNMASK, INTX, 0, 1, &yes, 1), 0);
	CHECK_EQ(set_irqs(d, D_BOOL | VFIO_IRQ_SET_ACTION_MASK, INTX, 0, 1, &yes, 1), 0);
	CHECK_EQ(tcemu_vdev_raise_irq(d, INTX, 0), -EAGAIN);
	/* masking is allowed without an eventfd; raising then says -ENOENT */
	CHECK_EQ(set_irqs(d, D_NONE | TRIG, INTX, 0, 0, NULL, 0), 0);
	CHECK_EQ(set_irqs(d, UNMASK, INTX, 0, 1, NULL, 0), 0);
	CHECK_EQ(tcemu_vdev_raise_irq(d, INTX, 0), -ENOENT);
	tcemu_vdev_destroy(d);
	close(efd);
}

TEST(raise_errors)
{
	struct tcemu_vdev *d = mk_irqs();

	CHECK(d);
	CHECK_EQ(tcemu_vdev_raise_irq(d, 5, 0), -EINVAL);
	CHECK_EQ(tcemu_vdev_raise_irq(d, INTX, 1), -EINVAL);
	CHECK_EQ(tcemu_vdev_raise_irq(d, MSI, 1), -EINVAL);
	CHECK_EQ(tcemu_vdev_raise_irq(d, MSIX, 8), -EINVAL);
	CHECK_EQ(tcemu_vdev_raise_irq(d, ERR, 1), -EINVAL);
	for (unsigned i = 0; i < 5; i++)
		CHECK_EQ(tcemu_vdev_raise_irq(d, i, 0), -ENOENT);
	CHECK_EQ(tcemu_vdev_irq_fd(d, 5, 0), -1);
	CHECK_EQ(tcemu_vdev_irq_fd(d, MSIX, 8), -1);
	tcemu_vdev_destroy(d);
}

TEST(reset)
{
	struct tcemu_vdev *d = mk_irqs();
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int32_t fds[1] = { efd };
	uint8_t power_on[256], now[256], pat[32], got[32];
	uint8_t *map;
	int fd, dup;

	CHECK(d && efd >= 0);
	memset(pat, 0x5a, sizeof(pat));
	CHECK_EQ(tcemu_vdev_rw(d, power_on, sizeof(power_on), CFG(0), false), 256);
	CHECK_EQ(set_efds(d, INTX, 0, 1, fds), 0);
	CHECK_EQ(set_efds(d, MSIX, 7, 1, fds), 0);
	dup = tcemu_vdev_irq_fd(d, INTX, 0);
	CHECK_EQ(set_irqs(d, D_NONE | VFIO_IRQ_SET_ACTION_MASK, INTX, 0, 1, NULL, 0), 0);
	CHECK_EQ(cfg_wr(d, 0x04, 2, 0x0006), 2);
	for (unsigned off = 0x10; off < 0x28; off += 4)
		CHECK_EQ(cfg_wr(d, off, 4, 0xffffffff), 4);
	CHECK_EQ(cfg_wr(d, 0x30, 4, 0xffffffff), 4);
	CHECK_EQ(cfg_wr(d, 0x3c, 1, 0x2a), 1);
	CHECK_EQ(tcemu_vdev_rw(d, now, sizeof(now), CFG(0), false), 256);
	CHECK(memcmp(now, power_on, sizeof(now)) != 0);
	for (unsigned b = 0; b < 6; b++)
		if (b != 1 && b != 3)
			CHECK_EQ(tcemu_vdev_rw(d, pat, sizeof(pat), REGION(b), true), 32);
	CHECK_EQ(tcemu_vdev_region_fd(d, 2, &fd), 0);
	map = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(map != MAP_FAILED);
	CHECK_EQ(map[0], 0x5a);

	CHECK_EQ(tcemu_vdev_reset(d), 0);
	CHECK_EQ(tcemu_vdev_rw(d, now, sizeof(now), CFG(0), false), 256);
	CHECK(memcmp(now, power_on, sizeof(now)) == 0);
	CHECK_EQ(cfg_rd(d, 0x04, 2), 0);
	CHECK_EQ(cfg_rd(d, 0x10, 4), 0x4);
	CHECK_EQ(cfg_rd(d, 0x30, 4), 0);
	CHECK_EQ(cfg_rd(d, 0x3c, 1), 0);
	for (unsigned b = 0; b < 6; b++) {
		if (b == 1 || b == 3)
			continue;
		memset(got, 0xee, sizeof(got));
		CHECK_EQ(tcemu_vdev_rw(d, got, sizeof(got), REGION(b), false), 32);
		for (unsigned i = 0; i < sizeof(got); i++)
			CHECK_EQ(got[i], 0);
	}
	CHECK_EQ(map[0], 0); /* a client mapping sees the zeroes too */
	map[1] = 7;          /* and stays usable */
	CHECK_EQ(tcemu_vdev_rw(d, got, 2, REGION(2), false), 2);
	CHECK_EQ(got[1], 7);
	munmap(map, 4096);
	CHECK_EQ(tcemu_vdev_rw(d, got, 2, REGION(VFIO_PCI_ROM_REGION_INDEX), false), 2);
	CHECK_EQ(got[0], 0x55);
	CHECK_EQ(got[1], 0xaa);
	/* eventfds kept, INTx unmasked */
	CHECK_EQ(tcemu_vdev_irq_fd(d, INTX, 0), dup);
	CHECK(tcemu_vdev_irq_fd(d, MSIX, 7) >= 0);
	CHECK_EQ(tcemu_vdev_raise_irq(d, INTX, 0), 0);
	CHECK_EQ(efd_take(efd), 1);
	/* the config space still works after a reset */
	CHECK_EQ(cfg_wr(d, 0x24, 4, 0xffffffff), 4);
	CHECK_U64(cfg_rd(d, 0x24, 4), 0xfffff000);
	tcemu_vdev_destroy(d);
	close(efd);
}

TEST(destroy_closes_fds)
{
	struct tcemu_vdev *d = mk_irqs();
	int efd = eventfd(0, EFD_CLOEXEC);
	int32_t fds[8];
	int dups[12], n = 0, bar_fd;

	CHECK(d && efd >= 0);
	for (unsigned i = 0; i < 8; i++)
		fds[i] = efd;
	CHECK_EQ(set_efds(d, INTX, 0, 1, fds), 0);
	CHECK_EQ(set_efds(d, MSIX, 0, 8, fds), 0);
	CHECK_EQ(set_efds(d, REQ, 0, 1, fds), 0);
	dups[n++] = tcemu_vdev_irq_fd(d, INTX, 0);
	for (unsigned i = 0; i < 8; i++)
		dups[n++] = tcemu_vdev_irq_fd(d, MSIX, i);
	dups[n++] = tcemu_vdev_irq_fd(d, REQ, 0);
	CHECK_EQ(tcemu_vdev_region_fd(d, 5, &bar_fd), 0);
	dups[n++] = bar_fd;
	for (int i = 0; i < n; i++)
		CHECK(dups[i] >= 0 && fd_open(dups[i]));
	tcemu_vdev_destroy(d);
	for (int i = 0; i < n; i++)
		CHECK(fd_closed(dups[i]));
	CHECK(fd_open(efd)); /* the caller's own descriptor is untouched */
	close(efd);
}

struct hammer {
	struct tcemu_vdev *d;
	int efd;
	unsigned id;
};

static void *hammer_thread(void *arg)
{
	struct hammer *h = arg;
	int32_t fd[1] = { h->efd };
	uint8_t b[8];

	for (unsigned i = 0; i < 2000; i++) {
		uint32_t v = i * 0x01010101u;
		cfg_wr(h->d, 0x3c, 1, v);
		cfg_rd(h->d, 0x08, 4);
		set_efds(h->d, MSIX, h->id, 1, fd);
		tcemu_vdev_raise_irq(h->d, MSIX, h->id);
		tcemu_vdev_rw(h->d, b, sizeof(b), REGION(2) + 8 * h->id, true);
		if (i % 500 == 0)
			tcemu_vdev_reset(h->d);
	}
	return NULL;
}

TEST(concurrent_use)
{
	struct tcemu_vdev *d = mk_irqs();
	struct hammer h[4];
	struct harness_threads t = { 0 };
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	CHECK(d && efd >= 0);
	for (unsigned i = 0; i < 4; i++) {
		h[i] = (struct hammer){ d, efd, i };
		harness_thread_start(&t, hammer_thread, &h[i]);
	}
	harness_threads_join(&t);
	CHECK_EQ(efd_take(efd), 8000);
	for (unsigned i = 0; i < 4; i++)
		CHECK(tcemu_vdev_irq_fd(d, MSIX, i) >= 0);
	CHECK_EQ(cfg_rd(d, 0x00, 4), 0x00051b36);
	tcemu_vdev_destroy(d);
	close(efd);
}

HARNESS_MAIN(T(create_validation), T(get_info), T(region_info), T(irq_info), T(config_header),
	     T(config_bar_types), T(config_bar_sizing), T(config_write_masks), T(config_unaligned),
	     T(bar_rw_and_mmap), T(rom_read_only), T(set_irqs_einval), T(set_irqs_ebadf),
	     T(eventfd_assign_trigger), T(msix_block), T(disable_all), T(intx_mask), T(raise_errors),
	     T(reset), T(destroy_closes_fds), T(concurrent_use))
