/* SPDX-License-Identifier: MIT */
/*
 * Private: transitional virtio over PCI (virtio 1.x "Virtio Over PCI Bus" with its legacy
 * interface), shared by virtio_net.c and virtio_blk.c.
 *
 * BARs (the same for every device):
 *   BAR0  I/O, legacy registers (what DPDK's legacy path and legacy drivers use): host features,
 *         guest features, queue PFN, queue size, queue select, queue notify, status, ISR (read
 *         clears), the two MSI-X vectors while MSI-X is enabled, then the device configuration at
 *         20 (24 with MSI-X). Traps.
 *   BAR1  4 KiB memory, the MSI-X table (0) and PBA (0x800), emulated by the client: plain, mmap.
 *   BAR4  16 KiB 64-bit memory, the modern structures, found through vendor capabilities:
 *         common configuration at 0, ISR at 0x1000, device configuration at 0x2000, notify at
 *         0x3000 (queue q at 0x3000 + 4 q). Traps (never mmap: registers).
 * PCI revision 0, vendor 0x1af4, transitional device ids, subsystem device = virtio type.
 *
 * Features: the device's own, VIRTIO_F_RING_INDIRECT_DESC, and on the modern interface only
 * VIRTIO_F_VERSION_1 and VIRTIO_F_ACCESS_PLATFORM. FEATURES_OK is refused (the bit does not stay
 * set) for bits not offered, or without VERSION_1 and ACCESS_PLATFORM: the device sits behind an
 * IOMMU and can use nothing but bus addresses. Writing status 0 (or VFIO_DEVICE_RESET) resets the
 * device: features, queues (forgotten), ISR, INTx. A malformed ring sets DEVICE_NEEDS_RESET,
 * stops the device's queues and raises a configuration interrupt.
 *
 * Locking: v->lock protects everything in struct virtio_dev and the device's queue state; it is
 * taken by the register handlers and by the device's notify handler. A notify handler is called
 * with no lock held (so a device may take another device's lock after dropping its own). Lock
 * order: v->lock -> the device file's lock (interrupts) -> the DMA engine's locks.
 */
#ifndef TCEMU_SRC_DEVICES_VIRTIO_PCI_H
#define TCEMU_SRC_DEVICES_VIRTIO_PCI_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <tcemu/devmodel.h>

#include "devices/virtqueue.h"

#define VIRTIO_VENDOR 0x1af4
#define VIRTIO_MAX_QUEUES 4

#define VIRTIO_F_NOTIFY_ON_EMPTY 24
#define VIRTIO_F_ANY_LAYOUT 27
#define VIRTIO_F_RING_INDIRECT_DESC 28
#define VIRTIO_F_RING_EVENT_IDX 29
#define VIRTIO_F_VERSION_1 32
#define VIRTIO_F_ACCESS_PLATFORM 33
#define VBIT(n) (1ull << (n))

#define VIRTIO_STATUS_ACKNOWLEDGE 1u
#define VIRTIO_STATUS_DRIVER 2u
#define VIRTIO_STATUS_DRIVER_OK 4u
#define VIRTIO_STATUS_FEATURES_OK 8u
#define VIRTIO_STATUS_NEEDS_RESET 0x40u
#define VIRTIO_STATUS_FAILED 0x80u

#define VIRTIO_BAR_LEGACY 0
#define VIRTIO_BAR_MSIX 1
#define VIRTIO_BAR_MODERN 4
#define VIRTIO_MODERN_SIZE 0x4000u
#define VIRTIO_MSIX_BAR_SIZE 0x1000u

/* The BARs of a virtio model type, with a legacy I/O BAR of io_size bytes. */
#define VIRTIO_TYPE_BARS(io_size)                                                                   \
	.bar_size = { (io_size), VIRTIO_MSIX_BAR_SIZE, 0, 0, VIRTIO_MODERN_SIZE, 0 },               \
	.bar_flags = { TCEMU_BAR_IO, TCEMU_BAR_MMAP, 0, 0, TCEMU_BAR_MEM64, 0 }

struct virtio_dev;

struct virtio_dev_ops {
	uint32_t type;         /* virtio device type: 1 net, 2 block */
	uint64_t features;     /* the device's own feature bits (offered on both interfaces) */
	unsigned nqueues;
	const char *const *queue_names;
	uint16_t queue_size;   /* the largest (a power of two, at most VQ_MAX_SIZE) */
	unsigned config_size;  /* bytes of device configuration */
	/* Device configuration bytes [off, off + len) (v->lock held). */
	void (*config_read)(struct virtio_dev *v, unsigned off, uint8_t *buf, unsigned len);
	/* Queue q was notified (no lock held). */
	void (*notify)(struct virtio_dev *v, unsigned q);
	/* The device was reset: forget its own state (v->lock held). */
	void (*reset)(struct virtio_dev *v);
};

struct virtio_dev {
	pthread_mutex_t lock;
	struct tcemu_model *m;
	const struct virtio_dev_ops *ops;
	uint64_t guest_features; /* what the driver accepted */
	uint32_t dfsel, gfsel;
	uint8_t status, isr, generation;
	uint16_t qsel, msix_config;
	bool broken;             /* DEVICE_NEEDS_RESET set: queues stopped */
	struct vq q[VIRTIO_MAX_QUEUES];
};

/* From the model's init: sets up v (the first member of the device's state, set as priv) and adds the capabilities. */
int virtio_pci_init(struct virtio_dev *v, struct tcemu_model *m, const struct virtio_dev_ops *ops);
/* From the model's destroy. */
void virtio_pci_fini(struct virtio_dev *v);

/* The model callbacks every virtio device uses (priv is the struct virtio_dev). */
int virtio_pci_bar_read(struct tcemu_model *m, unsigned bar, uint64_t off, void *buf, size_t len);
int virtio_pci_bar_write(struct tcemu_model *m, unsigned bar, uint64_t off, const void *buf, size_t len);
void virtio_pci_reset(struct tcemu_model *m);
void virtio_pci_eeh(struct tcemu_model *m, bool frozen);

/* With v->lock held: */
/* Whether feature bit n was negotiated. */
bool virtio_has(const struct virtio_dev *v, unsigned bit);
/* A queue the driver set up, on a device that works (not broken), or NULL. */
struct vq *virtio_queue(struct virtio_dev *v, unsigned q);
/* The queue's interrupt (unless the driver suppressed it): ISR bit 0, its MSI-X vector or INTx. */
void virtio_queue_irq(struct virtio_dev *v, struct vq *q);
/* A malformed ring or chain: DEVICE_NEEDS_RESET, queues stopped, configuration interrupt. */
void virtio_fail(struct virtio_dev *v, const char *why);
/* Handles vq_pop's error (-EPROTO: virtio_fail; -EIO: the PE froze, nothing more to do). */
void virtio_pop_error(struct virtio_dev *v, struct vq *q, int rc);

#endif
