/* SPDX-License-Identifier: MIT */
/*
 * The tests' own virtio driver, written from the virtio 1.x specification: it drives a device
 * through the VFIO fd API only (tcemu_host_open/ioctl/pread/pwrite), with its rings and buffers
 * in test memory that a v2 container maps (MAP_DMA) in the default window. Legacy interface
 * (BAR0) or modern one (vendor capabilities into BAR4). Split rings laid out as legacy wants
 * them (so both interfaces use the same addresses): queue q at vd_ring(q): descriptors, the
 * available ring after them, the used ring at the next 4 KiB boundary.
 */
#ifndef TCEMU_TESTS_VIRTIO_DRIVER_H
#define TCEMU_TESTS_VIRTIO_DRIVER_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/vfio.h>

#include <tcemu/devmodel.h>
#include <tcemu/host.h>

#define VD_MEM (4u << 20)           /* test memory per device */
#define VD_IOVA(d) (0x1000000ull * ((d) + 1)) /* bus address of device d's memory */
#define VD_QSIZE 256u
#define VD_REGION(i) ((uint64_t)(i) << 40)
#define VD_CFG(off) (VD_REGION(VFIO_PCI_CONFIG_REGION_INDEX) + (off))
#define VD_BUF_OFF (1u << 20)       /* buffers from 1 MiB */
#define VD_MODERN_COMMON 0x0000u
#define VD_MODERN_ISR 0x1000u
#define VD_MODERN_DEVICE 0x2000u
#define VD_MODERN_NOTIFY 0x3000u

struct vd_queue {
	uint16_t size, avail_idx, used_seen;
	uint32_t avail_off, used_off; /* from the ring's start: the legacy layout for size */
};

static inline void vd_layout(struct vd_queue *q)
{
	q->avail_off = 16u * q->size;
	q->used_off = (q->avail_off + 6 + 2u * q->size + 4095) & ~4095u;
}

struct vd {
	struct tcemu_host *h;
	int dev;
	uint8_t *mem;
	uint64_t iova;
	bool modern;
	unsigned nq;
	struct vd_queue q[4];
	int intx_fd, msix_fd[4];
};

/* A host, one v2 container with groups 0 and 1 (devices 0000:01:00.0 and 0000:02:00.0). */
struct vd_host {
	struct tcemu_host *h;
	int c, g[2];
};

/*
 * Plain test devices in groups 0 and 1 (0000:01:00.0, 0000:02:00.0): the tests attach their
 * models themselves (the embedded default has models there already).
 */
#define VD_TOPOLOGY                                                                                  \
	"phb 0 ioda3\n"                                                                              \
	"pe 1 group=0\n  device 0000:01:00.0 bar0=16K,mem64 bar2=1M,mem64,prefetch,mmap\n"          \
	"pe 2 group=1\n  device 0000:02:00.0 bar0=16K,mem64 bar2=1M,mem64,prefetch,mmap\n"

static inline int vd_host_open(struct vd_host *vh)
{
	struct tcemu_host_opts o = { .platform.topology_text = VD_TOPOLOGY, .memlock_set = true, .memlock = UINT64_MAX };

	memset(vh, 0, sizeof(*vh));
	return tcemu_host_create(&o, &vh->h);
}

/* After the models are attached: container, groups, IOMMU type. */
static inline int vd_host_container(struct vd_host *vh)
{
	if (tcemu_host_open(vh->h, "/dev/vfio/vfio", 2, &vh->c) || tcemu_host_open(vh->h, "/dev/vfio/0", 2, &vh->g[0]) ||
	    tcemu_host_open(vh->h, "/dev/vfio/1", 2, &vh->g[1]) ||
	    tcemu_host_ioctl(vh->h, vh->g[0], VFIO_GROUP_SET_CONTAINER, &vh->c) ||
	    tcemu_host_ioctl(vh->h, vh->g[1], VFIO_GROUP_SET_CONTAINER, &vh->c) ||
	    tcemu_host_ioctl(vh->h, vh->c, VFIO_SET_IOMMU, (void *)VFIO_SPAPR_TCE_v2_IOMMU))
		return -1;
	return 0;
}

static inline uint64_t vd_ring(unsigned q)
{
	return (uint64_t)q * 0x10000;
}

static inline int vd_rd(struct vd *d, uint64_t off, void *buf, size_t len)
{
	return tcemu_host_pread(d->h, d->dev, buf, len, off) == (ssize_t)len ? 0 : -1;
}

static inline int vd_wr(struct vd *d, uint64_t off, const void *buf, size_t len)
{
	return tcemu_host_pwrite(d->h, d->dev, buf, len, off) == (ssize_t)len ? 0 : -1;
}

static inline uint32_t vd_rd32(struct vd *d, uint64_t off, unsigned len)
{
	uint32_t v = 0;

	if (vd_rd(d, off, &v, len))
		return 0xdeadbeef;
	return v; /* little-endian host */
}

static inline int vd_wr32(struct vd *d, uint64_t off, unsigned len, uint32_t v)
{
	return vd_wr(d, off, &v, len);
}

/* Register offsets of the interface in use. */
static inline uint64_t vd_reg_status(struct vd *d)
{
	return d->modern ? VD_REGION(4) + VD_MODERN_COMMON + 20 : VD_REGION(0) + 18;
}

static inline uint64_t vd_reg_isr(struct vd *d)
{
	return d->modern ? VD_REGION(4) + VD_MODERN_ISR : VD_REGION(0) + 19;
}

/* Device configuration offset off (legacy: after the MSI-X vectors when MSI-X is enabled). */
static inline uint64_t vd_reg_config(struct vd *d, unsigned off, bool msix)
{
	return d->modern ? VD_REGION(4) + VD_MODERN_DEVICE + off : VD_REGION(0) + (msix ? 24 : 20) + off;
}

/*
 * Opens device bdf (a model attached) of group fd g, maps VD_MEM bytes of fresh memory at
 * VD_IOVA(index) read-write, sets up INTx (eventfd) and initialises the device through the
 * chosen interface with `features` accepted (modern: plus VERSION_1 and ACCESS_PLATFORM).
 * Returns 0, or the step that failed (negative).
 */
static inline int vd_open(struct vd *d, struct vd_host *vh, int g, const char *bdf, unsigned index, bool modern,
			  unsigned nq, uint64_t features)
{
	struct vfio_iommu_type1_dma_map map = { .argsz = sizeof(map),
						.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE };
	struct {
		struct vfio_irq_set s;
		int32_t fd;
	} irq = { { .argsz = sizeof(irq), .flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
		    .index = VFIO_PCI_INTX_IRQ_INDEX, .count = 1 } };
	struct vfio_iommu_spapr_register_memory r = { .argsz = sizeof(r), .size = VD_MEM };
	long fd;

	memset(d, 0, sizeof(*d));
	d->h = vh->h;
	d->modern = modern;
	d->nq = nq;
	d->iova = VD_IOVA(index);
	d->mem = mmap(NULL, VD_MEM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (d->mem == MAP_FAILED)
		return -1;
	r.vaddr = (uintptr_t)d->mem;
	map.vaddr = (uintptr_t)d->mem;
	map.iova = d->iova;
	map.size = VD_MEM;
	if (tcemu_host_ioctl(vh->h, vh->c, VFIO_IOMMU_SPAPR_REGISTER_MEMORY, &r) ||
	    tcemu_host_ioctl(vh->h, vh->c, VFIO_IOMMU_MAP_DMA, &map))
		return -2;
	fd = tcemu_host_ioctl(vh->h, g, VFIO_GROUP_GET_DEVICE_FD, (void *)bdf);
	if (fd < 0)
		return -3;
	d->dev = (int)fd;
	d->intx_fd = eventfd(0, EFD_NONBLOCK);
	irq.fd = d->intx_fd;
	for (unsigned i = 0; i < 4; i++)
		d->msix_fd[i] = -1;
	if (tcemu_host_ioctl(vh->h, d->dev, VFIO_DEVICE_SET_IRQS, &irq))
		return -4;
	/* Memory and bus master on, as DPDK does. */
	if (vd_wr32(d, VD_CFG(4), 2, 0x6))
		return -5;
	if (vd_wr32(d, vd_reg_status(d), 1, 0) || vd_wr32(d, vd_reg_status(d), 1, 3))
		return -6;
	if (modern) {
		uint64_t f = features | (3ull << 32);
		uint64_t dev_f = 0;

		for (unsigned s = 0; s < 2; s++) {
			vd_wr32(d, VD_REGION(4) + 0, 4, s);
			dev_f |= (uint64_t)vd_rd32(d, VD_REGION(4) + 4, 4) << (32 * s);
		}
		if ((dev_f & f) != f)
			return -7;
		for (unsigned s = 0; s < 2; s++) {
			vd_wr32(d, VD_REGION(4) + 8, 4, s);
			vd_wr32(d, VD_REGION(4) + 12, 4, (uint32_t)(f >> (32 * s)));
		}
		vd_wr32(d, vd_reg_status(d), 1, 3 | 8);
		if (!(vd_rd32(d, vd_reg_status(d), 1) & 8))
			return -8;
		for (unsigned q = 0; q < nq; q++) {
			uint64_t base = d->iova + vd_ring(q);

			vd_wr32(d, VD_REGION(4) + 22, 2, q);
			d->q[q].size = (uint16_t)vd_rd32(d, VD_REGION(4) + 24, 2);
			if (d->q[q].size != VD_QSIZE && d->q[q].size != 128)
				return -9;
			vd_layout(&d->q[q]);
			/* 64-bit addresses as two 32-bit halves, as Linux writes them. */
			vd_wr32(d, VD_REGION(4) + 32, 4, (uint32_t)base);
			vd_wr32(d, VD_REGION(4) + 36, 4, (uint32_t)(base >> 32));
			vd_wr32(d, VD_REGION(4) + 40, 4, (uint32_t)(base + d->q[q].avail_off));
			vd_wr32(d, VD_REGION(4) + 44, 4, (uint32_t)((base + d->q[q].avail_off) >> 32));
			vd_wr32(d, VD_REGION(4) + 48, 4, (uint32_t)(base + d->q[q].used_off));
			vd_wr32(d, VD_REGION(4) + 52, 4, (uint32_t)((base + d->q[q].used_off) >> 32));
			vd_wr32(d, VD_REGION(4) + 28, 2, 1);
			if (vd_rd32(d, VD_REGION(4) + 28, 2) != 1)
				return -10;
		}
	} else {
		uint32_t hf = vd_rd32(d, VD_REGION(0) + 0, 4);

		if ((hf & features) != features)
			return -7;
		vd_wr32(d, VD_REGION(0) + 4, 4, (uint32_t)features);
		for (unsigned q = 0; q < nq; q++) {
			vd_wr32(d, VD_REGION(0) + 14, 2, q);
			d->q[q].size = (uint16_t)vd_rd32(d, VD_REGION(0) + 12, 2);
			if (!d->q[q].size)
				return -9;
			vd_layout(&d->q[q]);
			vd_wr32(d, VD_REGION(0) + 8, 4, (uint32_t)((d->iova + vd_ring(q)) >> 12));
		}
	}
	return vd_wr32(d, vd_reg_status(d), 1, vd_rd32(d, vd_reg_status(d), 1) | 4) ? -11 : 0;
}

static inline void vd_close(struct vd *d)
{
	if (d->dev > 0)
		tcemu_host_close(d->h, d->dev);
	close(d->intx_fd);
	for (unsigned i = 0; i < 4; i++)
		if (d->msix_fd[i] >= 0)
			close(d->msix_fd[i]);
	munmap(d->mem, VD_MEM);
}

static inline void vd_put16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, 2);
}

static inline uint16_t vd_get16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return v;
}

static inline uint32_t vd_get32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

/* Writes descriptor i of queue q: bus address, length, flags, next. */
static inline void vd_desc(struct vd *d, unsigned q, unsigned i, uint64_t bus, uint32_t len, uint16_t flags,
			   uint16_t next)
{
	uint8_t *p = d->mem + vd_ring(q) + 16ull * i;

	memcpy(p, &bus, 8);
	memcpy(p + 8, &len, 4);
	memcpy(p + 12, &flags, 2);
	memcpy(p + 14, &next, 2);
}

/* Makes chain head available and notifies the queue. */
static inline int vd_kick(struct vd *d, unsigned q, uint16_t head)
{
	struct vd_queue *vq = &d->q[q];
	uint8_t *avail = d->mem + vd_ring(q) + vq->avail_off;

	vd_put16(avail + 4 + 2 * (vq->avail_idx % vq->size), head);
	vq->avail_idx++;
	__atomic_store_n((uint16_t *)(void *)(avail + 2), vq->avail_idx, __ATOMIC_RELEASE); /* entry, then index */
	if (d->modern)
		return vd_wr32(d, VD_REGION(4) + VD_MODERN_NOTIFY + 4 * q, 2, q);
	return vd_wr32(d, VD_REGION(0) + 16, 2, q);
}

/* The next used entry of queue q: 1 (id and len filled), 0 if none. */
static inline int vd_used(struct vd *d, unsigned q, uint32_t *id, uint32_t *len)
{
	struct vd_queue *vq = &d->q[q];
	uint8_t *used = d->mem + vd_ring(q) + vq->used_off;

	if (vd_get16(used + 2) == vq->used_seen)
		return 0;
	*id = vd_get32(used + 4 + 8 * (vq->used_seen % vq->size));
	*len = vd_get32(used + 8 + 8 * (vq->used_seen % vq->size));
	vq->used_seen++;
	return 1;
}

/* The bus address and process address of buffer byte off (from VD_BUF_OFF). */
static inline uint64_t vd_bus(struct vd *d, uint64_t off)
{
	return d->iova + VD_BUF_OFF + off;
}

static inline uint8_t *vd_ptr(struct vd *d, uint64_t off)
{
	return d->mem + VD_BUF_OFF + off;
}

/* The eventfd's counter (cleared), 0 if not signalled. */
static inline uint64_t vd_efd_take(int fd)
{
	uint64_t v = 0;

	if (read(fd, &v, sizeof(v)) != (ssize_t)sizeof(v))
		return 0;
	return v;
}

static inline int vd_intx_unmask(struct vd *d)
{
	struct vfio_irq_set s = { .argsz = sizeof(s), .flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_UNMASK,
				  .index = VFIO_PCI_INTX_IRQ_INDEX, .count = 1 };

	return (int)tcemu_host_ioctl(d->h, d->dev, VFIO_DEVICE_SET_IRQS, &s);
}

/* Finds the MSI-X capability's offset in config space (0: none). */
static inline unsigned vd_find_cap(struct vd *d, uint8_t id, unsigned from)
{
	unsigned p = from ? vd_rd32(d, VD_CFG(from + 1), 1) : vd_rd32(d, VD_CFG(0x34), 1);

	for (unsigned n = 0; p && n < 48; n++, p = vd_rd32(d, VD_CFG(p + 1), 1))
		if (vd_rd32(d, VD_CFG(p), 1) == id)
			return p;
	return 0;
}

/* Enables MSI-X with one eventfd per vector (n vectors) and returns 0. */
static inline int vd_msix_enable(struct vd *d, unsigned n)
{
	struct {
		struct vfio_irq_set s;
		int32_t fd[4];
	} irq = { { .argsz = sizeof(irq.s) + 4 * n, .flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
		    .index = VFIO_PCI_MSIX_IRQ_INDEX, .count = n } };
	unsigned cap = vd_find_cap(d, 0x11, 0);

	if (!cap)
		return -1;
	for (unsigned i = 0; i < n; i++)
		irq.fd[i] = d->msix_fd[i] = eventfd(0, EFD_NONBLOCK);
	if (tcemu_host_ioctl(d->h, d->dev, VFIO_DEVICE_SET_IRQS, &irq))
		return -2;
	return vd_wr32(d, VD_CFG(cap + 3), 1, 0x80);
}

#endif
