/* SPDX-License-Identifier: MIT */
/*
 * Private: the vfio-pci device model behind a device descriptor (VFIO_GROUP_GET_DEVICE_FD).
 *
 * A device has 9 regions (BAR0-5, ROM, config, VGA) and 5 IRQ indexes (INTx, MSI, MSI-X, ERR,
 * REQ), as vfio-pci reports them. Region index i lives at descriptor offset i << 40.
 * BARs and the ROM are backed by a memfd each (so a client may mmap a BAR that offers MMAP);
 * config space is a real PCI type-0 header built from the topology (vendor/device/class/subsystem
 * ids, BAR types and sizes, ROM size), with BAR sizing (write all ones, read the size mask) and
 * writable command, BARs, ROM BAR and interrupt line.
 *
 * The VFIO dispatch (vfio/ioctl.c) has already checked argsz >= the command's minimum size and copied
 * that many bytes in; each function below checks the rest of its command's rules and fills the
 * struct in place (the dispatcher copies it back).
 *
 * Locking: one mutex per device (a util/lock.h wrapper: taking it twice aborts in debug builds)
 * protects config space, IRQ state and BAR contents accessed through tcemu_vdev_rw. Leaf lock:
 * nothing else is taken under it.
 */
#ifndef TCEMU_SRC_DEVICE_H
#define TCEMU_SRC_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <linux/vfio.h>

#include <tcemu/common.h>
#include <tcemu/platform.h>

#define TCEMU_VDEV_REGIONS 9                /* VFIO_PCI_NUM_REGIONS */
#define TCEMU_VDEV_IRQS 5                   /* VFIO_PCI_NUM_IRQS */
#define TCEMU_VDEV_REGION_SHIFT 40
#define TCEMU_VDEV_CONFIG_SIZE 256
#define TCEMU_VDEV_MAX_VECTORS 32 /* eventfd slots per index (a model's MSI-X table size at most) */

struct tcemu_vdev;

/* Builds a device from its topology description. -ENOMEM, or the errno of memfd_create. */
int tcemu_vdev_create(const struct tcemu_device_info *info, const struct tcemu_logger *lg, struct tcemu_vdev **out);
/* Closes every eventfd the device holds and frees it. NULL is ok. */
void tcemu_vdev_destroy(struct tcemu_vdev *d);

const struct tcemu_device_info *tcemu_vdev_info(const struct tcemu_vdev *d);

/* VFIO_DEVICE_GET_INFO: flags PCI|RESET, num_regions 9, num_irqs 5. argsz is the caller's. */
int tcemu_vdev_get_info(struct tcemu_vdev *d, struct vfio_device_info *info);

/*
 * VFIO_DEVICE_GET_REGION_INFO: index >= 9: -EINVAL. offset = index << 40. BARs: size from the
 * topology (0 for absent BARs and for the upper half of a 64-bit BAR), flags READ|WRITE when
 * size > 0, plus MMAP when the topology says mmap. ROM: READ only (size 0 when absent).
 * Config: size 256, READ|WRITE. VGA: size 0, flags 0.
 */
int tcemu_vdev_get_region_info(struct tcemu_vdev *d, struct vfio_region_info *ri);

/*
 * VFIO_DEVICE_GET_IRQ_INFO: index >= 5: -EINVAL. INTx: count 1, EVENTFD|MASKABLE|AUTOMASKED;
 * MSI and MSI-X: the vectors of the capabilities (0 for the plain device, which has none; a
 * model's from tcemu_vdev_model), EVENTFD|NORESIZE; ERR: count 1, EVENTFD on a PCI Express device
 * (a model with pcie), else -EINVAL as vfio-pci; REQ: count 1, EVENTFD.
 */
int tcemu_vdev_get_irq_info(struct tcemu_vdev *d, struct vfio_irq_info *ii);

/*
 * VFIO_DEVICE_SET_IRQS, with vfio-pci's rules: hdr has argsz/flags/index/start/count; data points
 * at the argsz - sizeof(*hdr) bytes that follow it (datalen). -EINVAL for: index >= 5, flags
 * outside the data and action masks, not exactly one data type and one action type, count 0
 * with a data type other than NONE (except the "disable all" form: DATA_NONE|ACTION_TRIGGER
 * with count 0), start + count beyond the index's count (or overflow), datalen too small for
 * count (BOOL 1 byte each, EVENTFD 4 bytes each), MASK/UNMASK on anything but INTx.
 * EVENTFD with fd -1 unassigns; otherwise the fd is dup'ed and kept (-EBADF if it is not an
 * open descriptor) until replaced, unassigned or the device is destroyed (a reset keeps it).
 * TRIGGER with DATA_NONE or a true BOOL signals the eventfd of that vector now
 * (writes 1 to it); MASK/UNMASK set the INTx mask state.
 */
int tcemu_vdev_set_irqs(struct tcemu_vdev *d, const struct vfio_irq_set *hdr, const void *data, size_t datalen);

/* Signals vector `vector` of IRQ index (from a device model or the DMA engine): 0, or -ENOENT if
 * no eventfd is set there, -EINVAL for a bad index/vector. A masked INTx is not signalled. */
int tcemu_vdev_raise_irq(struct tcemu_vdev *d, unsigned index, unsigned vector);

/* The eventfd (the device's dup) set for index/vector, or -1. For tests and reports. */
int tcemu_vdev_irq_fd(struct tcemu_vdev *d, unsigned index, unsigned vector);

/* VFIO_DEVICE_RESET: config space back to its power-on values, BAR contents zeroed, INTx unmasked. */
int tcemu_vdev_reset(struct tcemu_vdev *d);

/*
 * pread/pwrite on the device descriptor at offset off (region = off >> 40). Returns the number of
 * bytes transferred (the access is cut at the region's end), 0 at or past the end, -EINVAL for
 * a region that does not exist or has size 0, or a write to a read-only region (ROM).
 * Config space accesses of any size and alignment work byte-wise; BAR accesses copy the
 * backing memory.
 */
ssize_t tcemu_vdev_rw(struct tcemu_vdev *d, void *buf, size_t len, uint64_t off, bool write);

/* For mmap: the memfd backing region index (BAR with MMAP), or -EINVAL (no such region, no MMAP). */
int tcemu_vdev_region_fd(struct tcemu_vdev *d, unsigned index, int *fd);

/*
 * A device model's binding (src/devices/model.c builds it): what a modelled device changes in the
 * plain one. Config space bytes 0x40 and up come from cfg/wmask (the capability list, with
 * cap_ptr at 0x34 and the capability bit of the status register set when cap_ptr != 0); the
 * revision is the device info's, as for any device; GET_IRQ_INFO reports msi_vectors and msix_vectors (0 without the
 * capability) and refuses the ERR index unless pcie (a PCI Express capability). With bar_rw, BARs
 * without TCEMU_BAR_MMAP trap: every tcemu_vdev_rw on them calls bar_rw (its return value is the
 * access's); without it they are plain memory like the plain device's. cfg_written follows every config write, reset follows VFIO_DEVICE_RESET, destroy
 * runs in tcemu_vdev_destroy before the eventfds are closed. All hooks run without d->lock,
 * so they may call back into the device (IRQs, config reads).
 */
struct tcemu_vdev_model {
	uint8_t cap_ptr;
	uint8_t cfg[TCEMU_VDEV_CONFIG_SIZE];
	uint8_t wmask[TCEMU_VDEV_CONFIG_SIZE];
	uint32_t msi_vectors, msix_vectors; /* at most 1 and TCEMU_VDEV_MAX_VECTORS */
	bool pcie;                          /* a PCI Express capability: the ERR interrupt exists */
	ssize_t (*bar_rw)(void *arg, unsigned bar, void *buf, size_t len, uint64_t off, bool write);
	void (*cfg_written)(void *arg, unsigned off, size_t len);
	void (*reset)(void *arg);
	void (*destroy)(void *arg);
	void *arg;
};

/* tcemu_vdev_create for a modelled device (mdl is copied; mdl->destroy is not called on failure). */
int tcemu_vdev_create_model(const struct tcemu_device_info *info, const struct tcemu_logger *lg,
			    const struct tcemu_vdev_model *mdl, struct tcemu_vdev **out);

/* The binding of a modelled device, or NULL for a plain one. */
const struct tcemu_vdev_model *tcemu_vdev_model(const struct tcemu_vdev *d);

/*
 * The INTx line's level, for models (VFIO's level-triggered, automasked INTx): asserting an
 * unmasked line with an eventfd signals it and masks the line; a line asserted while masked is
 * signalled when the client unmasks it (SET_IRQS ACTION_UNMASK), as is a line still asserted at
 * an unmask. Deasserting only lowers the level. 0, or -ENOENT when asserting with no eventfd set
 * (the level is kept and signalled once one is set and unmasked).
 */
int tcemu_vdev_intx_level(struct tcemu_vdev *d, bool asserted);

#endif
