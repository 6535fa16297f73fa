/* SPDX-License-Identifier: MIT */
/*
 * Transitional virtio over PCI (see virtio_pci.h).
 *
 * Registers are described as fields (offset, size, id) of two register blocks, the legacy one
 * in BAR0 and the modern common configuration in BAR4. An access of any size and alignment is
 * cut into the fields it covers: a read assembles the bytes of each field's current value, a
 * write merges its bytes into the field's current value and applies the result once per field
 * (so a 64-bit queue address written as two 32-bit halves works, as Linux writes it).
 */
#include <errno.h>
#include <string.h>

#include "devices/virtio_pci.h"
#include "util/internal.h"

#define CAP_VENDOR 0x09
#define CAP_MSIX 0x11
#define CFG_TYPE_COMMON 1
#define CFG_TYPE_NOTIFY 2
#define CFG_TYPE_ISR 3
#define CFG_TYPE_DEVICE 4

#define MODERN_COMMON 0x0000u
#define MODERN_COMMON_SIZE 0x38u
#define MODERN_ISR 0x1000u
#define MODERN_DEVICE 0x2000u
#define MODERN_NOTIFY 0x3000u
#define NOTIFY_MULTIPLIER 4u
#define MSIX_PBA 0x800u

#define LEGACY_CONFIG 20u
#define LEGACY_CONFIG_MSIX 24u

#define ISR_QUEUE 1u
#define ISR_CONFIG 2u

enum field_id {
	F_HOST_FEATURES, F_GUEST_FEATURES, F_QUEUE_PFN, F_QUEUE_SIZE, F_QUEUE_SEL, F_QUEUE_NOTIFY, F_STATUS, F_ISR,
	F_CONFIG_VECTOR, F_QUEUE_VECTOR,
	F_DFSEL, F_DF, F_GFSEL, F_GF, F_NUM_QUEUES, F_GENERATION, F_QUEUE_ENABLE, F_QUEUE_NOTIFY_OFF, F_QUEUE_DESC,
	F_QUEUE_DRIVER, F_QUEUE_DEVICE,
};

struct field {
	unsigned off, size;
	enum field_id id;
};

static const struct field legacy_fields[] = {
	{ 0, 4, F_HOST_FEATURES }, { 4, 4, F_GUEST_FEATURES }, { 8, 4, F_QUEUE_PFN }, { 12, 2, F_QUEUE_SIZE },
	{ 14, 2, F_QUEUE_SEL }, { 16, 2, F_QUEUE_NOTIFY }, { 18, 1, F_STATUS }, { 19, 1, F_ISR },
	{ 20, 2, F_CONFIG_VECTOR }, { 22, 2, F_QUEUE_VECTOR }, /* only while MSI-X is enabled */
};

static const struct field modern_fields[] = {
	{ 0, 4, F_DFSEL }, { 4, 4, F_DF }, { 8, 4, F_GFSEL }, { 12, 4, F_GF }, { 16, 2, F_CONFIG_VECTOR },
	{ 18, 2, F_NUM_QUEUES }, { 20, 1, F_STATUS }, { 21, 1, F_GENERATION }, { 22, 2, F_QUEUE_SEL },
	{ 24, 2, F_QUEUE_SIZE }, { 26, 2, F_QUEUE_VECTOR }, { 28, 2, F_QUEUE_ENABLE }, { 30, 2, F_QUEUE_NOTIFY_OFF },
	{ 32, 8, F_QUEUE_DESC }, { 40, 8, F_QUEUE_DRIVER }, { 48, 8, F_QUEUE_DEVICE },
};

static struct virtio_dev *V(struct tcemu_model *m)
{
	return tcemu_model_priv(m);
}

/* Everything offered on the legacy (32 bits) or the modern interface. */
static uint64_t offered(const struct virtio_dev *v, bool modern)
{
	uint64_t f = v->ops->features | VBIT(VIRTIO_F_RING_INDIRECT_DESC);

	return modern ? f | VBIT(VIRTIO_F_VERSION_1) | VBIT(VIRTIO_F_ACCESS_PLATFORM) : f & 0xffffffffull;
}

bool virtio_has(const struct virtio_dev *v, unsigned bit)
{
	return (v->guest_features >> bit) & 1;
}

static struct vq *selected(struct virtio_dev *v)
{
	return v->qsel < v->ops->nqueues ? &v->q[v->qsel] : NULL;
}

struct vq *virtio_queue(struct virtio_dev *v, unsigned q)
{
	if (v->broken || q >= v->ops->nqueues || !v->q[q].ready)
		return NULL;
	return &v->q[q];
}

/* Raises ISR bits and the interrupt: MSI-X vector (when enabled) or INTx. Lock held. */
static void raise(struct virtio_dev *v, uint8_t isr, uint16_t vector)
{
	v->isr |= isr;
	if (tcemu_model_msix_enabled(v->m)) {
		if (vector != VQ_NO_VECTOR)
			tcemu_model_msix(v->m, vector);
	} else {
		tcemu_model_intx(v->m, true);
	}
}

void virtio_queue_irq(struct virtio_dev *v, struct vq *q)
{
	if (vq_wants_irq(v->m, q))
		raise(v, ISR_QUEUE, q->vector);
}

void virtio_fail(struct virtio_dev *v, const char *why)
{
	tcemu_model_log(v->m, TCEMU_LOG_WARN, "virtio: %s: device needs reset", why);
	v->broken = true;
	v->status |= VIRTIO_STATUS_NEEDS_RESET;
	if (v->status & VIRTIO_STATUS_DRIVER_OK)
		raise(v, ISR_CONFIG, v->msix_config);
}

void virtio_pop_error(struct virtio_dev *v, struct vq *q, int rc)
{
	char why[64];

	if (rc != -EPROTO)
		return; /* a DMA fault: the PE is frozen and the fault recorded */
	snprintf(why, sizeof(why), "malformed %s queue %u", q->name, q->index);
	virtio_fail(v, why);
}

/* Device reset: status 0 or VFIO_DEVICE_RESET. Lock held. */
static void device_reset(struct virtio_dev *v)
{
	v->guest_features = 0;
	v->dfsel = v->gfsel = 0;
	v->status = 0;
	v->isr = 0;
	v->qsel = 0;
	v->msix_config = VQ_NO_VECTOR;
	v->broken = false;
	v->generation++;
	for (unsigned i = 0; i < v->ops->nqueues; i++)
		vq_reset(&v->q[i], v->ops->queue_size);
	tcemu_model_intx(v->m, false);
	if (v->ops->reset)
		v->ops->reset(v);
}

/* A vector the MSI-X table has (nqueues + 1 entries), else NO_VECTOR (what the driver reads back). */
static uint16_t vector_ok(struct virtio_dev *v, uint64_t val)
{
	return val < v->ops->nqueues + 1 ? (uint16_t)val : VQ_NO_VECTOR;
}

/* A status write: 0 resets; FEATURES_OK only for an acceptable feature set. Lock held. */
static void write_status(struct virtio_dev *v, uint8_t val, bool modern)
{
	if (!val) {
		device_reset(v);
		return;
	}
	if ((val & VIRTIO_STATUS_FEATURES_OK) && !(v->status & VIRTIO_STATUS_FEATURES_OK)) {
		uint64_t need = VBIT(VIRTIO_F_VERSION_1) | VBIT(VIRTIO_F_ACCESS_PLATFORM);

		if (!modern || (v->guest_features & ~offered(v, true)) || (v->guest_features & need) != need) {
			tcemu_model_log(v->m, TCEMU_LOG_INFO, "virtio: FEATURES_OK refused for features 0x%llx",
					(unsigned long long)v->guest_features);
			val &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;
		}
	}
	v->status = (uint8_t)(val | (v->status & VIRTIO_STATUS_NEEDS_RESET));
}

static uint64_t field_get(struct virtio_dev *v, enum field_id id, bool modern)
{
	struct vq *q = selected(v);

	switch (id) {
	case F_HOST_FEATURES:
		return offered(v, false);
	case F_GUEST_FEATURES:
		return v->guest_features & 0xffffffffull;
	case F_QUEUE_PFN:
		return q && q->ready ? q->desc >> 12 : 0;
	case F_QUEUE_SIZE:
		return q ? (modern ? q->size : v->ops->queue_size) : 0;
	case F_QUEUE_SEL:
		return v->qsel;
	case F_QUEUE_NOTIFY:
		return 0;
	case F_STATUS:
		return v->status;
	case F_ISR:
		return v->isr; /* read clears: done by the caller once */
	case F_CONFIG_VECTOR:
		return v->msix_config;
	case F_QUEUE_VECTOR:
		return q ? q->vector : VQ_NO_VECTOR;
	case F_DFSEL:
		return v->dfsel;
	case F_DF:
		return v->dfsel < 2 ? (offered(v, true) >> (32 * v->dfsel)) & 0xffffffffull : 0;
	case F_GFSEL:
		return v->gfsel;
	case F_GF:
		return v->gfsel < 2 ? (v->guest_features >> (32 * v->gfsel)) & 0xffffffffull : 0;
	case F_NUM_QUEUES:
		return v->ops->nqueues;
	case F_GENERATION:
		return v->generation;
	case F_QUEUE_ENABLE:
		return q && q->ready;
	case F_QUEUE_NOTIFY_OFF:
		return q ? v->qsel : 0;
	case F_QUEUE_DESC:
		return q ? q->desc : 0;
	case F_QUEUE_DRIVER:
		return q ? q->avail : 0;
	case F_QUEUE_DEVICE:
		return q ? q->used : 0;
	}
	return 0;
}

/* Applies a field write. Returns the queue to notify, or -1. Lock held. */
static int field_set(struct virtio_dev *v, enum field_id id, uint64_t val, bool modern)
{
	struct vq *q = selected(v);

	switch (id) {
	case F_GUEST_FEATURES:
		v->guest_features = val & offered(v, false);
		break;
	case F_QUEUE_PFN:
		if (q) {
			q->size = v->ops->queue_size;
			vq_legacy_layout(q, (uint32_t)val);
		}
		break;
	case F_QUEUE_SIZE:
		if (q && modern && !q->ready)
			q->size = (uint16_t)val;
		break;
	case F_QUEUE_SEL:
		v->qsel = (uint16_t)val;
		break;
	case F_QUEUE_NOTIFY:
		return val < v->ops->nqueues ? (int)val : -1;
	case F_STATUS:
		write_status(v, (uint8_t)val, modern);
		break;
	case F_CONFIG_VECTOR:
		v->msix_config = vector_ok(v, val);
		break;
	case F_QUEUE_VECTOR:
		if (q)
			q->vector = vector_ok(v, val);
		break;
	case F_DFSEL:
		v->dfsel = (uint32_t)val;
		break;
	case F_GFSEL:
		v->gfsel = (uint32_t)val;
		break;
	case F_GF:
		if (v->gfsel < 2) {
			uint64_t mask = 0xffffffffull << (32 * v->gfsel);

			v->guest_features = (v->guest_features & ~mask) | ((val << (32 * v->gfsel)) & mask);
		}
		break;
	case F_QUEUE_ENABLE:
		if (!q || !(val & 1) || q->ready)
			break;
		if (!vq_size_valid(q->size, v->ops->queue_size)) {
			virtio_fail(v, "queue size not a power of two up to the maximum");
			break;
		}
		q->last_avail = q->used_idx = 0;
		q->ready = true;
		break;
	case F_QUEUE_DESC:
	case F_QUEUE_DRIVER:
	case F_QUEUE_DEVICE:
		if (q && !q->ready)
			*(id == F_QUEUE_DESC ? &q->desc : id == F_QUEUE_DRIVER ? &q->avail : &q->used) = val;
		break;
	default:
		break; /* read-only */
	}
	return -1;
}

/*
 * An access of [off, off + len) to a block of fields. Bytes outside every field read 0 and are
 * ignored on write. Returns the queue a write notified, or -1. Lock held.
 */
static int fields_rw(struct virtio_dev *v, const struct field *fs, size_t nf, unsigned off, uint8_t *buf, size_t len,
		     bool write, bool modern)
{
	int notify = -1;

	if (!write)
		memset(buf, 0, len);
	for (size_t i = 0; i < nf; i++) {
		const struct field *f = &fs[i];
		unsigned lo = f->off > off ? f->off : off;
		unsigned hi = f->off + f->size < off + len ? f->off + f->size : (unsigned)(off + len);
		uint64_t val;

		if (lo >= hi)
			continue;
		val = field_get(v, f->id, modern);
		for (unsigned b = lo; b < hi; b++) {
			unsigned shift = 8 * (b - f->off);

			if (write)
				val = (val & ~(0xffull << shift)) | (uint64_t)buf[b - off] << shift;
			else
				buf[b - off] = (uint8_t)(val >> shift);
		}
		if (write) {
			int n = field_set(v, f->id, val, modern);

			if (n >= 0)
				notify = n;
		} else if (f->id == F_ISR) {
			v->isr = 0; /* read clears, and ends the INTx */
			tcemu_model_intx(v->m, false);
		}
	}
	return notify;
}

/* Device configuration [off, off + len) of config_size bytes: reads, writes ignored. Lock held. */
static void config_rw(struct virtio_dev *v, unsigned off, uint8_t *buf, size_t len, bool write)
{
	if (write)
		return;
	memset(buf, 0, len);
	if (off < v->ops->config_size)
		v->ops->config_read(v, off, buf, (unsigned)tcemu_min_u64(len, v->ops->config_size - off));
}

static int bar_access(struct tcemu_model *m, unsigned bar, uint64_t off, uint8_t *buf, size_t len, bool write)
{
	struct virtio_dev *v = V(m);
	int notify = -1;

	pthread_mutex_lock(&v->lock);
	if (bar == VIRTIO_BAR_LEGACY) {
		unsigned cfg = tcemu_model_msix_enabled(m) ? LEGACY_CONFIG_MSIX : LEGACY_CONFIG;
		size_t nf = cfg == LEGACY_CONFIG_MSIX ? TCEMU_ARRAY_SIZE(legacy_fields) : TCEMU_ARRAY_SIZE(legacy_fields) - 2;

		if (off < cfg) {
			size_t n = (size_t)tcemu_min_u64(len, cfg - off);

			notify = fields_rw(v, legacy_fields, nf, (unsigned)off, buf, n, write, false);
			if (n < len)
				config_rw(v, 0, buf + n, len - n, write);
		} else {
			config_rw(v, (unsigned)(off - cfg), buf, len, write);
		}
	} else if (bar == VIRTIO_BAR_MODERN) {
		if (off < MODERN_COMMON + MODERN_COMMON_SIZE)
			notify = fields_rw(v, modern_fields, TCEMU_ARRAY_SIZE(modern_fields), (unsigned)off, buf,
					   (size_t)tcemu_min_u64(len, MODERN_COMMON_SIZE - off), write, true);
		else if (off >= MODERN_ISR && off < MODERN_ISR + 4 && !write) {
			memset(buf, 0, len);
			if (off == MODERN_ISR) {
				buf[0] = v->isr;
				v->isr = 0;
				tcemu_model_intx(m, false);
			}
		} else if (off >= MODERN_DEVICE && off < MODERN_NOTIFY)
			config_rw(v, (unsigned)(off - MODERN_DEVICE), buf, len, write);
		else if (off >= MODERN_NOTIFY && write && (off - MODERN_NOTIFY) / NOTIFY_MULTIPLIER < v->ops->nqueues)
			notify = (int)((off - MODERN_NOTIFY) / NOTIFY_MULTIPLIER);
		else if (!write)
			memset(buf, 0, len);
	} else if (!write) {
		memset(buf, 0, len);
	}
	pthread_mutex_unlock(&v->lock);
	if (notify >= 0)
		v->ops->notify(v, (unsigned)notify);
	return 0;
}

int virtio_pci_bar_read(struct tcemu_model *m, unsigned bar, uint64_t off, void *buf, size_t len)
{
	return bar_access(m, bar, off, buf, len, false);
}

int virtio_pci_bar_write(struct tcemu_model *m, unsigned bar, uint64_t off, const void *buf, size_t len)
{
	return bar_access(m, bar, off, (uint8_t *)(uintptr_t)buf, len, true);
}

void virtio_pci_reset(struct tcemu_model *m)
{
	struct virtio_dev *v = V(m);

	pthread_mutex_lock(&v->lock);
	device_reset(v);
	pthread_mutex_unlock(&v->lock);
}

void virtio_pci_eeh(struct tcemu_model *m, bool frozen)
{
	tcemu_model_log(m, TCEMU_LOG_INFO, "virtio: PE %s", frozen ? "frozen: DMA stopped" : "thawed");
}

/* A virtio vendor capability pointing into the modern BAR (body: after id and next). */
static int add_vcap(struct tcemu_model *m, uint8_t type, uint32_t off, uint32_t len, bool notify)
{
	uint8_t b[18] = { 0 };

	b[0] = notify ? 20 : 16; /* cap_len, id and next included */
	b[1] = type;
	b[2] = VIRTIO_BAR_MODERN;
	vq_put32(b + 6, off);
	vq_put32(b + 10, len);
	if (notify)
		vq_put32(b + 14, NOTIFY_MULTIPLIER);
	return tcemu_model_add_cap(m, CAP_VENDOR, b, notify ? 18 : 14, NULL);
}

int virtio_pci_init(struct virtio_dev *v, struct tcemu_model *m, const struct virtio_dev_ops *ops)
{
	uint8_t msix[10] = { 0 }, msix_w[10] = { 0 };
	int rc;

	if (ops->nqueues > VIRTIO_MAX_QUEUES || ops->queue_size > VQ_MAX_SIZE)
		return -EINVAL;
	v->m = m;
	v->ops = ops;
	for (unsigned i = 0; i < ops->nqueues; i++) {
		v->q[i].name = ops->queue_names[i];
		v->q[i].index = i;
		vq_reset(&v->q[i], ops->queue_size);
	}
	v->msix_config = VQ_NO_VECTOR;
	/* MSI-X: nqueues + 1 vectors, table at BAR1 + 0, PBA at BAR1 + 0x800; enable and mask writable. */
	vq_put16(msix, (uint16_t)ops->nqueues);
	vq_put32(msix + 2, 0 | VIRTIO_BAR_MSIX);
	vq_put32(msix + 6, MSIX_PBA | VIRTIO_BAR_MSIX);
	msix_w[1] = 0xc0;
	rc = tcemu_model_add_cap(m, CAP_MSIX, msix, sizeof(msix), msix_w);
	if (rc < 0)
		return rc;
	if ((rc = add_vcap(m, CFG_TYPE_COMMON, MODERN_COMMON, MODERN_COMMON_SIZE, false)) < 0 ||
	    (rc = add_vcap(m, CFG_TYPE_NOTIFY, MODERN_NOTIFY, NOTIFY_MULTIPLIER * ops->nqueues, true)) < 0 ||
	    (rc = add_vcap(m, CFG_TYPE_ISR, MODERN_ISR, 4, false)) < 0 ||
	    (rc = add_vcap(m, CFG_TYPE_DEVICE, MODERN_DEVICE, ops->config_size, false)) < 0)
		return rc;
	return -pthread_mutex_init(&v->lock, NULL);
}

void virtio_pci_fini(struct virtio_dev *v)
{
	pthread_mutex_destroy(&v->lock);
}
