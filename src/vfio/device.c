/* SPDX-License-Identifier: MIT */
/*
 * The vfio-pci view of one emulated PCI function (see device.h for the contract).
 *
 * Model:
 *  - Config space is three 256-byte arrays: the current values, the power-on values (restored
 *    by a reset) and a per-byte write mask. Every access goes byte by byte through the mask, so
 *    any size and alignment works and BAR sizing falls out of the masks: a BAR's writable bits
 *    are its address bits ~(size - 1) (over both dwords of a 64-bit BAR), the type bits are
 *    read-only, so writing all ones reads back the size mask with the type bits.
 *  - BARs 0-5 and the ROM (region slots 0-6) are each backed by a memfd that is mapped
 *    MAP_SHARED into this process; tcemu_vdev_rw copies to or from that mapping, and a client
 *    that mmaps the memfd (tcemu_vdev_region_fd) sees the same bytes. The ROM holds zeroes
 *    after the 0x55 0xAA signature and is mapped read-only.
 *  - IRQs: one dup'ed eventfd (or -1) per vector of each index, plus the INTx mask state.
 *    INTx is advertised AUTOMASKED, so tcemu_vdev_raise_irq masks INTx when it signals it; the
 *    client unmasks it (SET_IRQS ACTION_UNMASK) once it has handled the interrupt. A raise while
 *    INTx is masked is dropped and returns -EAGAIN. The SET_IRQS TRIGGER loopback is a test
 *    hook and signals regardless of the mask, without masking.
 *  - IRQ counts follow the capabilities, as vfio-pci's do: the plain device has none (MSI and
 *    MSI-X 0, ERR refused: not PCI Express); INTx and REQ always have one vector.
 *  - A modelled device (tcemu_vdev_create_model, device.h) adds the model's capability list and
 *    IRQ counts (its revision is in its device info, like the plain device's); its BARs without MMAP trap to the model (when it has bar_rw), and a model drives INTx as a
 *    level (intx_asserted): signalled when asserted and unmasked, again at an unmask while still
 *    asserted, never lost while masked.
 *
 * Locking: d->lock protects cfg[], intx_masked, intx_asserted, irq_fd[][] and the BAR contents accessed through
 * tcemu_vdev_rw and reset. Everything else (info, region sizes and flags, memfds, mappings, the
 * power-on config and write masks) is immutable between create and destroy.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vfio/device.h"
#include "util/internal.h"
#include "util/lock.h"

#define NBARS 6
#define NBACKED 7 /* BAR0-5 and the ROM */
#define ROM_SLOT VFIO_PCI_ROM_REGION_INDEX
#define REGION_MASK ((1ull << TCEMU_VDEV_REGION_SHIFT) - 1)
#define MAX_BAR_SIZE (1ull << TCEMU_VDEV_REGION_SHIFT) /* a region must fit its 1 TiB slot */

/* Config space offsets (type-0 header). */
#define CFG_VENDOR 0x00
#define CFG_DEVICE 0x02
#define CFG_COMMAND 0x04
#define CFG_REVISION 0x08
#define CFG_CLASS 0x09 /* prog-if, subclass, class */
#define CFG_HEADER_TYPE 0x0e
#define CFG_BAR0 0x10
#define CFG_SUBSYS_VENDOR 0x2c
#define CFG_SUBSYS_ID 0x2e
#define CFG_ROM 0x30
#define CFG_INT_LINE 0x3c
#define CFG_INT_PIN 0x3d

#define CMD_WRITABLE 0x0547u /* IO, memory, bus master, parity, SERR, INTx disable */
#define BAR_IO_SPACE 0x1u
#define BAR_MEM_TYPE_64 0x4u
#define BAR_MEM_PREFETCH 0x8u
#define ROM_ENABLE 0x1u
#define ROM_ADDR_MASK 0xfffff800u

struct backing {
	int fd;            /* memfd, -1 when the region is empty */
	uint8_t *mem;      /* its mapping, NULL when empty */
	uint64_t size;     /* region size; 0 for an absent BAR or the upper half of a 64-bit BAR */
	uint32_t flags;    /* VFIO_REGION_INFO_FLAG_* */
};

struct tcemu_vdev {
	struct tcemu_mutex lock;
	struct tcemu_device_info info;
	struct tcemu_logger log;
	struct backing regions[NBACKED];
	uint8_t cfg[TCEMU_VDEV_CONFIG_SIZE];       /* current values (locked) */
	uint8_t cfg_init[TCEMU_VDEV_CONFIG_SIZE];  /* power-on values */
	uint8_t cfg_wmask[TCEMU_VDEV_CONFIG_SIZE]; /* writable bits per byte */
	int irq_fd[TCEMU_VDEV_IRQS][TCEMU_VDEV_MAX_VECTORS]; /* dup'ed eventfds, -1: none (locked) */
	bool intx_masked;                                    /* (locked) */
	bool intx_asserted;                                  /* a model's INTx level (locked) */
	uint32_t irq_count[TCEMU_VDEV_IRQS];                 /* vectors per index */
	bool has_model;
	struct tcemu_vdev_model model;                       /* valid when has_model */
};

/*
 * The plain device has no capabilities: no MSI, no MSI-X, not PCI Express (no ERR), as vfio-pci
 * derives the counts from the capabilities. INTx and REQ always exist.
 */
static const uint32_t plain_irq_count[TCEMU_VDEV_IRQS] = {
	[VFIO_PCI_INTX_IRQ_INDEX] = 1,
	[VFIO_PCI_REQ_IRQ_INDEX] = 1,
};

static void put16(uint8_t *p, unsigned off, uint16_t v)
{
	p[off] = (uint8_t)v;
	p[off + 1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, unsigned off, uint32_t v)
{
	put16(p, off, (uint16_t)v);
	put16(p, off + 2, (uint16_t)(v >> 16));
}

/*
 * Checks what the topology parser guarantees, so that the header can represent the device:
 * power-of-two sizes (io >= 4, memory >= 16, ROM >= 2K), 32-bit BARs and the ROM below 4 GiB,
 * every region within its 1 TiB slot, a 64-bit BAR not in slot 5 and its upper half empty.
 */
static bool info_valid(const struct tcemu_device_info *info)
{
	for (unsigned n = 0; n < NBARS; n++) {
		uint64_t size = info->bar_size[n];
		uint32_t fl = info->bar_flags[n];

		if (!size)
			continue;
		if (!TCEMU_IS_POW2(size) || size > MAX_BAR_SIZE)
			return false;
		if (fl & TCEMU_BAR_IO) {
			if ((fl & (TCEMU_BAR_MEM64 | TCEMU_BAR_PREFETCH)) || size < 4 || size > (1ull << 31))
				return false;
		} else if (fl & TCEMU_BAR_MEM64) {
			if (size < 16 || n == NBARS - 1 || info->bar_size[n + 1])
				return false;
			n++; /* skip the upper half */
		} else if (size < 16 || size > (1ull << 31)) {
			return false;
		}
	}
	if (info->rom_size && (!TCEMU_IS_POW2(info->rom_size) || info->rom_size < 2048 ||
			       info->rom_size > (1ull << 31)))
		return false;
	return info->class_code <= 0xffffff;
}

#define CFG_STATUS 0x06
#define CFG_CAP_PTR 0x34
#define CFG_CAPS 0x40
#define STATUS_CAP_LIST 0x10u

/* A model's capability list (bytes 0x40 and up) and its pointer. */
static void model_config(struct tcemu_vdev *d)
{
	const struct tcemu_vdev_model *m = &d->model;

	memcpy(d->cfg_init + CFG_CAPS, m->cfg + CFG_CAPS, TCEMU_VDEV_CONFIG_SIZE - CFG_CAPS);
	memcpy(d->cfg_wmask + CFG_CAPS, m->wmask + CFG_CAPS, TCEMU_VDEV_CONFIG_SIZE - CFG_CAPS);
	if (m->cap_ptr) {
		d->cfg_init[CFG_CAP_PTR] = m->cap_ptr;
		d->cfg_init[CFG_STATUS] |= STATUS_CAP_LIST;
	}
}

/* Power-on config space and write masks. */
static void build_config(struct tcemu_vdev *d)
{
	const struct tcemu_device_info *info = &d->info;
	uint8_t *c = d->cfg_init, *w = d->cfg_wmask;

	put16(c, CFG_VENDOR, info->vendor);
	put16(c, CFG_DEVICE, info->device);
	put16(w, CFG_COMMAND, CMD_WRITABLE);
	c[CFG_REVISION] = info->revision;
	c[CFG_CLASS] = (uint8_t)info->class_code;
	c[CFG_CLASS + 1] = (uint8_t)(info->class_code >> 8);
	c[CFG_CLASS + 2] = (uint8_t)(info->class_code >> 16);
	c[CFG_HEADER_TYPE] = 0x00;
	for (unsigned n = 0; n < NBARS; n++) {
		uint64_t size = info->bar_size[n];
		uint32_t fl = info->bar_flags[n];
		unsigned off = CFG_BAR0 + 4 * n;

		if (!size)
			continue;
		if (fl & TCEMU_BAR_IO) {
			put32(c, off, BAR_IO_SPACE);
			put32(w, off, (uint32_t)~(size - 1) & ~3u);
			continue;
		}
		put32(c, off, ((fl & TCEMU_BAR_MEM64) ? BAR_MEM_TYPE_64 : 0) |
				      ((fl & TCEMU_BAR_PREFETCH) ? BAR_MEM_PREFETCH : 0));
		put32(w, off, (uint32_t)~(size - 1) & ~0xfu);
		if (fl & TCEMU_BAR_MEM64) {
			put32(w, off + 4, (uint32_t)(~(size - 1) >> 32));
			n++;
		}
	}
	put16(c, CFG_SUBSYS_VENDOR, info->subsys_vendor);
	put16(c, CFG_SUBSYS_ID, info->subsys_device);
	if (info->rom_size)
		put32(w, CFG_ROM, ((uint32_t)~(info->rom_size - 1) & ROM_ADDR_MASK) | ROM_ENABLE);
	w[CFG_INT_LINE] = 0xff;
	c[CFG_INT_PIN] = 0x01; /* INTA */
	if (d->has_model)
		model_config(d);
	memcpy(d->cfg, d->cfg_init, sizeof(d->cfg));
}

/* Creates, sizes and maps the memfd of region slot i. */
static int backing_open(struct tcemu_vdev *d, unsigned i, uint64_t size)
{
	static const uint8_t rom_sig[2] = { 0x55, 0xaa };
	struct backing *b = &d->regions[i];
	bool rom = i == ROM_SLOT;
	char name[48];
	int rc;

	if (rom)
		snprintf(name, sizeof(name), "tcemu:%.15s:rom", d->info.bdf);
	else
		snprintf(name, sizeof(name), "tcemu:%.15s:bar%u", d->info.bdf, i);
	b->fd = memfd_create(name, MFD_CLOEXEC);
	if (b->fd < 0)
		return -errno;
	if (ftruncate(b->fd, (off_t)size) != 0)
		goto close_fd;
	if (rom && pwrite(b->fd, rom_sig, sizeof(rom_sig), 0) != (ssize_t)sizeof(rom_sig))
		goto close_fd; /* a fresh memfd takes both bytes or fails with errno set */
	b->mem = mmap(NULL, (size_t)size, rom ? PROT_READ : PROT_READ | PROT_WRITE, MAP_SHARED, b->fd, 0);
	if (b->mem == MAP_FAILED)
		goto close_fd;
	b->size = size;
	return 0;

close_fd:
	rc = -errno;
	close(b->fd);
	b->fd = -1;
	b->mem = NULL;
	return rc;
}

static void backing_close(struct backing *b)
{
	if (b->mem)
		munmap(b->mem, (size_t)b->size);
	if (b->fd >= 0)
		close(b->fd);
}

int tcemu_vdev_create(const struct tcemu_device_info *info, const struct tcemu_logger *lg, struct tcemu_vdev **out)
{
	return tcemu_vdev_create_model(info, lg, NULL, out);
}

int tcemu_vdev_create_model(const struct tcemu_device_info *info, const struct tcemu_logger *lg,
			    const struct tcemu_vdev_model *mdl, struct tcemu_vdev **out)
{
	struct tcemu_vdev *d;
	unsigned i;
	int rc;

	if (!info || !out || !info_valid(info))
		return -EINVAL;
	if (mdl && (mdl->msi_vectors > 1 || mdl->msix_vectors > TCEMU_VDEV_MAX_VECTORS))
		return -EINVAL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	memcpy(d->irq_count, plain_irq_count, sizeof(d->irq_count));
	if (mdl) {
		d->has_model = true;
		d->model = *mdl;
		d->irq_count[VFIO_PCI_MSI_IRQ_INDEX] = mdl->msi_vectors;
		d->irq_count[VFIO_PCI_MSIX_IRQ_INDEX] = mdl->msix_vectors;
		d->irq_count[VFIO_PCI_ERR_IRQ_INDEX] = mdl->pcie ? 1 : 0; /* vfio-pci: PCI Express devices only */
	}
	d->info = *info;
	d->info.bdf[sizeof(d->info.bdf) - 1] = '\0';
	if (lg)
		d->log = *lg;
	for (i = 0; i < NBACKED; i++)
		d->regions[i].fd = -1;
	for (i = 0; i < TCEMU_VDEV_IRQS; i++)
		for (unsigned v = 0; v < TCEMU_VDEV_MAX_VECTORS; v++)
			d->irq_fd[i][v] = -1;
	rc = tcemu_mutex_init(&d->lock);
	if (rc)
		goto free_dev;
	for (i = 0; i < NBACKED; i++) {
		uint64_t size = i == ROM_SLOT ? info->rom_size : info->bar_size[i];

		if (!size)
			continue;
		rc = backing_open(d, i, size);
		if (rc)
			goto close_regions;
		d->regions[i].flags = VFIO_REGION_INFO_FLAG_READ;
		if (i != ROM_SLOT) {
			d->regions[i].flags |= VFIO_REGION_INFO_FLAG_WRITE;
			if (info->bar_flags[i] & TCEMU_BAR_MMAP)
				d->regions[i].flags |= VFIO_REGION_INFO_FLAG_MMAP;
		}
	}
	build_config(d);
	tcemu_logf(&d->log, TCEMU_LOG_DEBUG, "device %s: %04x:%04x class %06x created", d->info.bdf,
		   info->vendor, info->device, info->class_code);
	*out = d;
	return 0;

close_regions:
	while (i-- > 0)
		backing_close(&d->regions[i]);
	tcemu_mutex_destroy(&d->lock);
free_dev:
	free(d);
	return rc;
}

void tcemu_vdev_destroy(struct tcemu_vdev *d)
{
	if (!d)
		return;
	if (d->has_model && d->model.destroy)
		d->model.destroy(d->model.arg);
	for (unsigned i = 0; i < TCEMU_VDEV_IRQS; i++)
		for (unsigned v = 0; v < TCEMU_VDEV_MAX_VECTORS; v++)
			if (d->irq_fd[i][v] >= 0)
				close(d->irq_fd[i][v]);
	for (unsigned i = 0; i < NBACKED; i++)
		backing_close(&d->regions[i]);
	tcemu_mutex_destroy(&d->lock);
	free(d);
}

const struct tcemu_vdev_model *tcemu_vdev_model(const struct tcemu_vdev *d)
{
	return d->has_model ? &d->model : NULL;
}

const struct tcemu_device_info *tcemu_vdev_info(const struct tcemu_vdev *d)
{
	return &d->info;
}

int tcemu_vdev_get_info(struct tcemu_vdev *d, struct vfio_device_info *info)
{
	(void)d;
	info->flags = VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET;
	info->num_regions = TCEMU_VDEV_REGIONS;
	info->num_irqs = TCEMU_VDEV_IRQS;
	info->cap_offset = 0;
	return 0;
}

int tcemu_vdev_get_region_info(struct tcemu_vdev *d, struct vfio_region_info *ri)
{
	if (ri->index >= TCEMU_VDEV_REGIONS)
		return -EINVAL;
	ri->cap_offset = 0;
	ri->offset = (uint64_t)ri->index << TCEMU_VDEV_REGION_SHIFT;
	if (ri->index < NBACKED) {
		ri->size = d->regions[ri->index].size;
		ri->flags = d->regions[ri->index].flags;
	} else if (ri->index == VFIO_PCI_CONFIG_REGION_INDEX) {
		ri->size = TCEMU_VDEV_CONFIG_SIZE;
		ri->flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
	} else { /* VGA */
		ri->size = 0;
		ri->flags = 0;
	}
	return 0;
}

int tcemu_vdev_get_irq_info(struct tcemu_vdev *d, struct vfio_irq_info *ii)
{
	if (ii->index >= TCEMU_VDEV_IRQS)
		return -EINVAL;
	if (ii->index == VFIO_PCI_ERR_IRQ_INDEX && !d->irq_count[ii->index])
		return -EINVAL; /* vfio-pci offers ERR on PCI Express devices only */
	ii->count = d->irq_count[ii->index];
	switch (ii->index) {
	case VFIO_PCI_INTX_IRQ_INDEX:
		ii->flags = VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_MASKABLE | VFIO_IRQ_INFO_AUTOMASKED;
		break;
	case VFIO_PCI_MSI_IRQ_INDEX:
	case VFIO_PCI_MSIX_IRQ_INDEX:
		ii->flags = VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE;
		break;
	default:
		ii->flags = VFIO_IRQ_INFO_EVENTFD;
		break;
	}
	return 0;
}

/*
 * Adds 1 to an eventfd. A full counter (EAGAIN on a non-blocking eventfd) still means "pending".
 * The descriptor is not checked to be an eventfd; the client owns that choice.
 */
static int signal_fd(int fd)
{
	const uint64_t one = 1;

	for (;;) {
		if (write(fd, &one, sizeof(one)) == (ssize_t)sizeof(one))
			return 0;
		if (errno == EAGAIN)
			return 0;
		if (errno != EINTR)
			return -errno;
	}
}

/* A model's asserted INTx, unmasked, with an eventfd: signal it and mask the line. Lock held. */
static int intx_update(struct tcemu_vdev *d)
{
	int fd = d->irq_fd[VFIO_PCI_INTX_IRQ_INDEX][0];
	int rc;

	TCEMU_ASSERT_HELD(&d->lock);
	if (!d->intx_asserted || d->intx_masked)
		return 0;
	if (fd < 0)
		return -ENOENT;
	rc = signal_fd(fd);
	if (!rc)
		d->intx_masked = true;
	return rc;
}

static bool one_bit(uint32_t x)
{
	return x != 0 && (x & (x - 1)) == 0;
}

/* The TRIGGER action with DATA_EVENTFD: dup every new fd first, so a failure changes nothing. */
static int assign_eventfds(struct tcemu_vdev *d, const struct vfio_irq_set *hdr, const void *data)
{
	int fds[TCEMU_VDEV_MAX_VECTORS];
	uint32_t i;
	int rc = 0;

	for (i = 0; i < hdr->count; i++) {
		int32_t fd;

		memcpy(&fd, (const uint8_t *)data + 4 * i, sizeof(fd));
		if (fd < -1) {
			rc = -EINVAL;
			goto close_dups;
		}
		fds[i] = fd == -1 ? -1 : fcntl(fd, F_DUPFD_CLOEXEC, 0);
		if (fd != -1 && fds[i] < 0) {
			rc = -errno;
			goto close_dups;
		}
	}
	tcemu_mutex_lock(&d->lock);
	for (i = 0; i < hdr->count; i++) {
		int *slot = &d->irq_fd[hdr->index][hdr->start + i];

		if (*slot >= 0)
			close(*slot);
		*slot = fds[i];
	}
	if (hdr->index == VFIO_PCI_INTX_IRQ_INDEX)
		intx_update(d); /* a level raised before the eventfd came */
	tcemu_mutex_unlock(&d->lock);
	return 0;

close_dups:
	while (i-- > 0)
		if (fds[i] >= 0)
			close(fds[i]);
	return rc;
}

int tcemu_vdev_set_irqs(struct tcemu_vdev *d, const struct vfio_irq_set *hdr, const void *data, size_t datalen)
{
	uint32_t dtype = hdr->flags & VFIO_IRQ_SET_DATA_TYPE_MASK;
	uint32_t action = hdr->flags & VFIO_IRQ_SET_ACTION_TYPE_MASK;
	uint64_t elem;
	int rc = 0;

	if (hdr->index >= TCEMU_VDEV_IRQS || (hdr->flags & ~(dtype | action)) || !one_bit(dtype) ||
	    !one_bit(action))
		return -EINVAL;
	if ((uint64_t)hdr->start + hdr->count > d->irq_count[hdr->index])
		return -EINVAL;
	if (hdr->count == 0 && dtype != VFIO_IRQ_SET_DATA_NONE)
		return -EINVAL;
	elem = dtype == VFIO_IRQ_SET_DATA_BOOL ? 1 : dtype == VFIO_IRQ_SET_DATA_EVENTFD ? 4 : 0;
	if (elem * hdr->count > datalen)
		return -EINVAL;
	if (action != VFIO_IRQ_SET_ACTION_TRIGGER) {
		/* No unmask-by-eventfd (irqfd) support: MASK/UNMASK take NONE or BOOL. */
		if (hdr->index != VFIO_PCI_INTX_IRQ_INDEX || hdr->start != 0 || hdr->count != 1 ||
		    dtype == VFIO_IRQ_SET_DATA_EVENTFD)
			return -EINVAL;
		if (dtype == VFIO_IRQ_SET_DATA_BOOL && !*(const uint8_t *)data)
			return 0;
		tcemu_mutex_lock(&d->lock);
		d->intx_masked = action == VFIO_IRQ_SET_ACTION_MASK;
		intx_update(d);
		tcemu_mutex_unlock(&d->lock);
		return 0;
	}
	if (dtype == VFIO_IRQ_SET_DATA_EVENTFD)
		return assign_eventfds(d, hdr, data);

	tcemu_mutex_lock(&d->lock);
	if (hdr->count == 0) { /* disable: unassign every vector of the index */
		for (uint32_t v = 0; v < d->irq_count[hdr->index]; v++) {
			if (d->irq_fd[hdr->index][v] >= 0)
				close(d->irq_fd[hdr->index][v]);
			d->irq_fd[hdr->index][v] = -1;
		}
	}
	/* Loopback: signal each vector that has an eventfd (and, for BOOL, a true flag). */
	for (uint32_t i = 0; i < hdr->count && !rc; i++) {
		int fd = d->irq_fd[hdr->index][hdr->start + i];

		if (fd >= 0 && (dtype == VFIO_IRQ_SET_DATA_NONE || ((const uint8_t *)data)[i]))
			rc = signal_fd(fd);
	}
	tcemu_mutex_unlock(&d->lock);
	return rc;
}

/* INTx is automasked: a signalled INTx stays masked until the client unmasks it. While it is
 * masked a raise is dropped and returns -EAGAIN (the caller may raise again later). */
int tcemu_vdev_raise_irq(struct tcemu_vdev *d, unsigned index, unsigned vector)
{
	int fd, rc;

	if (index >= TCEMU_VDEV_IRQS || vector >= d->irq_count[index])
		return -EINVAL;
	tcemu_mutex_lock(&d->lock);
	fd = d->irq_fd[index][vector];
	if (fd < 0) {
		rc = -ENOENT;
	} else if (index == VFIO_PCI_INTX_IRQ_INDEX && d->intx_masked) {
		rc = -EAGAIN;
	} else {
		rc = signal_fd(fd);
		if (!rc && index == VFIO_PCI_INTX_IRQ_INDEX)
			d->intx_masked = true;
	}
	tcemu_mutex_unlock(&d->lock);
	return rc;
}

int tcemu_vdev_intx_level(struct tcemu_vdev *d, bool asserted)
{
	int rc;

	tcemu_mutex_lock(&d->lock);
	d->intx_asserted = asserted;
	rc = intx_update(d);
	tcemu_mutex_unlock(&d->lock);
	return rc;
}

int tcemu_vdev_irq_fd(struct tcemu_vdev *d, unsigned index, unsigned vector)
{
	int fd;

	if (index >= TCEMU_VDEV_IRQS || vector >= d->irq_count[index])
		return -1;
	tcemu_mutex_lock(&d->lock);
	fd = d->irq_fd[index][vector];
	tcemu_mutex_unlock(&d->lock);
	return fd;
}

int tcemu_vdev_reset(struct tcemu_vdev *d)
{
	tcemu_mutex_lock(&d->lock);
	memcpy(d->cfg, d->cfg_init, sizeof(d->cfg));
	for (unsigned i = 0; i < NBARS; i++) {
		struct backing *b = &d->regions[i];

		/* Punching a hole zeroes the memfd and frees its pages; memset is the fallback. */
		if (b->mem && fallocate(b->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, (off_t)b->size))
			memset(b->mem, 0, (size_t)b->size);
	}
	d->intx_masked = false;
	d->intx_asserted = false;
	tcemu_mutex_unlock(&d->lock);
	if (d->has_model && d->model.reset)
		d->model.reset(d->model.arg);
	tcemu_logf(&d->log, TCEMU_LOG_DEBUG, "device %s: reset", d->info.bdf);
	return 0;
}

ssize_t tcemu_vdev_rw(struct tcemu_vdev *d, void *buf, size_t len, uint64_t off, bool write)
{
	uint64_t region = off >> TCEMU_VDEV_REGION_SHIFT, roff = off & REGION_MASK, size;
	uint8_t *p = buf;

	if (region == VFIO_PCI_CONFIG_REGION_INDEX)
		size = TCEMU_VDEV_CONFIG_SIZE;
	else if (region < NBACKED)
		size = d->regions[region].size;
	else
		return -EINVAL; /* VGA (size 0) or no such region */
	if (!size)
		return -EINVAL;
	if (write && region == ROM_SLOT) {
		tcemu_logf(&d->log, TCEMU_LOG_DEBUG, "device %s: write to the read-only ROM ignored", d->info.bdf);
		return -EINVAL;
	}
	if (roff >= size)
		return 0;
	len = (size_t)tcemu_min_u64(len, size - roff);
	if (d->has_model && d->model.bar_rw && region < NBARS && !(d->regions[region].flags & VFIO_REGION_INFO_FLAG_MMAP))
		return d->model.bar_rw(d->model.arg, (unsigned)region, buf, len, roff, write); /* traps */

	tcemu_mutex_lock(&d->lock);
	if (region == VFIO_PCI_CONFIG_REGION_INDEX) {
		for (size_t i = 0; i < len; i++) {
			size_t o = (size_t)roff + i;

			if (write)
				d->cfg[o] = (uint8_t)((d->cfg[o] & ~d->cfg_wmask[o]) | (p[i] & d->cfg_wmask[o]));
			else
				p[i] = d->cfg[o];
		}
	} else if (write) {
		memcpy(d->regions[region].mem + roff, p, len);
	} else {
		memcpy(p, d->regions[region].mem + roff, len);
	}
	tcemu_mutex_unlock(&d->lock);
	if (write && region == VFIO_PCI_CONFIG_REGION_INDEX && d->has_model && d->model.cfg_written)
		d->model.cfg_written(d->model.arg, (unsigned)roff, len);
	return (ssize_t)len;
}

int tcemu_vdev_region_fd(struct tcemu_vdev *d, unsigned index, int *fd)
{
	if (index >= NBARS || !(d->regions[index].flags & VFIO_REGION_INFO_FLAG_MMAP))
		return -EINVAL;
	*fd = d->regions[index].fd;
	return 0;
}
