/* SPDX-License-Identifier: MIT */
/*
 * A device model bound to a host's device file (device.c) and to the host's DMA engine (dma.c).
 * See include/tcemu/devmodel.h for the contract.
 *
 * Attaching (tcemu_host_attach_model, under host->lock): the model's init runs (it adds its
 * capabilities into m->vm), then a new device is built with tcemu_vdev_create_model from the
 * topology's device info with the model's ids and BARs, and replaces the old device in its group
 * (no device descriptor of the group may be open). device.c calls the hooks below: trapped BAR
 * accesses, config writes, reset, destroy.
 *
 * DMA goes through tcemu_dma_read/write on the device's PE only. A fault is described from the
 * engine's per-PE record (kind and bus address) and, for a permission fault, from the entry the
 * window's table holds there; the record is kept in the model and reported as a host defect.
 *
 * EEH: a freeze caused by the model's own DMA (a fault) is told to the model at once, inside the
 * failing tcemu_model_dma_* call (sync_eeh with try: skipped when eeh_lock is taken, i.e. a DMA
 * from inside the eeh callback). eeh.c tells nobody about other state changes (EEH_PE_OP
 * injections, unfreezes, resets, another device's fault on the PE), so those reach the model at
 * its next entry point (trapped access, config write, reset) or its next DMA, which fails on a
 * stopped PE: a changed freeze count or a stopped PE is a freeze, a PE that works again after a
 * freeze was told is a thaw.
 *
 * Context: tcemu_model_set_context formats into m->ctx (under m->lock); model_context (the
 * built-in models) keeps its format and arguments in a thread-local slot naming the model. A
 * fault uses the slot when it names the model (the thread's own DMA), else m->ctx; set_context
 * clears the thread's slot, so on one thread the later call wins.
 *
 * Locking: m->lock (a leaf) protects the context string and the fault record. m->eeh_lock
 * serialises the EEH delivery and is held across the model's eeh callback (taken only at entry
 * points, never under a model's own locks). The model's callbacks run with no tcemu lock held,
 * except init and destroy, which run under host->lock (they must not call tcemu_host_*).
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <tcemu/devmodel.h>
#include <tcemu/dma.h>
#include <tcemu/table.h>

#include "core/dma_priv.h"
#include "core/platform_priv.h"
#include "vfio/device.h"
#include "devices/models.h"
#include "vfio/group.h"
#include "vfio/host_priv.h"
#include "util/internal.h"

#define CFG_COMMAND 0x04
#define CMD_BUS_MASTER 0x4u
#define CFG_CAPS 0x40
#define CAP_MSI 0x05
#define CAP_MSIX 0x11
#define CAP_PCIE 0x10
#define MSIX_ENABLE 0x80u /* bit 15 of message control: bit 7 of its high byte */
#define MSIX_TABLE_SIZE_MASK 0x7ffu
#define SG_INLINE 16u /* scatter-gather elements without an allocation */

struct tcemu_model {
	const struct tcemu_model_type *type;
	void *priv;
	struct tcemu_host *host;
	struct tcemu_vdev *vdev; /* NULL during init */
	struct tcemu_pe *pe;
	struct tcemu_dma *dma;
	struct tcemu_logger log;
	char bdf[16];

	/* Built by init (tcemu_model_add_cap), then copied into the device. */
	bool in_init;
	struct tcemu_vdev_model vm;
	unsigned cap_end, last_cap, msix_cap;

	pthread_mutex_t lock; /* leaf: ctx, fault, faulted */
	char ctx[96];
	struct tcemu_model_fault fault;
	bool faulted;

	pthread_mutex_t eeh_lock;
	bool told_frozen;
	uint64_t freezes_seen;

	/* What the model's DMA moved (atomics: read without a lock by the summary, even in a signal). */
	uint64_t dma_bytes[2], dma_ops[2]; /* [0] read from memory, [1] written to memory */
};

/*
 * model_context's context: per thread, because a fault is recorded in the thread of the DMA that
 * the context describes (no lock on the hot path). m NULL: none.
 */
struct lazy_context {
	struct tcemu_model *m;
	const char *fmt, *s1, *s2;
	unsigned u1, u2;
};

static __thread struct lazy_context lazy_ctx;

/* ---- registry ---- */

TCEMU_EXPORT const struct tcemu_model_type *tcemu_model_builtin(const char *name)
{
	static const struct tcemu_model_type *const builtin[] = { &tcemu_virtio_net_type, &tcemu_virtio_blk_type };

	for (size_t i = 0; name && i < TCEMU_ARRAY_SIZE(builtin); i++)
		if (strcmp(builtin[i]->name, name) == 0)
			return builtin[i];
	return NULL;
}

/* ---- EEH and the device hooks ---- */

/*
 * Tells the model of a freeze or thaw it has not heard of. try: from a failed DMA, inside the
 * model's own code, perhaps inside its eeh callback: only if eeh_lock is free.
 */
static void sync_eeh(struct tcemu_model *m, bool try)
{
	uint64_t n;
	bool frozen;

	if (!m->type->ops->eeh)
		return;
	if (try) {
		if (pthread_mutex_trylock(&m->eeh_lock))
			return;
	} else {
		pthread_mutex_lock(&m->eeh_lock);
	}
	n = tcemu_pe_eeh_freezes(m->pe);
	frozen = tcemu_pe_dma_stopped(m->pe) || tcemu_pe_mmio_stopped(m->pe);
	if (!m->told_frozen && (frozen || n != m->freezes_seen)) {
		m->type->ops->eeh(m, true);
		m->told_frozen = true;
	}
	m->freezes_seen = n;
	if (m->told_frozen && !frozen) {
		m->type->ops->eeh(m, false);
		m->told_frozen = false;
	}
	pthread_mutex_unlock(&m->eeh_lock);
}

static ssize_t hook_bar_rw(void *arg, unsigned bar, void *buf, size_t len, uint64_t off, bool write)
{
	struct tcemu_model *m = arg;
	int rc;

	sync_eeh(m, false);
	rc = write ? m->type->ops->bar_write(m, bar, off, buf, len) : m->type->ops->bar_read(m, bar, off, buf, len);
	return rc ? rc : (ssize_t)len;
}

static void hook_cfg_written(void *arg, unsigned off, size_t len)
{
	struct tcemu_model *m = arg;

	sync_eeh(m, false);
	if (m->type->ops->config_write)
		m->type->ops->config_write(m, off, len);
}

static void hook_reset(void *arg)
{
	struct tcemu_model *m = arg;

	sync_eeh(m, false);
	if (m->type->ops->reset)
		m->type->ops->reset(m);
}

static void model_free(struct tcemu_model *m)
{
	if (lazy_ctx.m == m)
		lazy_ctx.m = NULL; /* (other threads' slots only compare the pointer; every DMA sets its own first) */
	pthread_mutex_destroy(&m->eeh_lock);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

static void hook_destroy(void *arg)
{
	struct tcemu_model *m = arg;

	if (m->type->ops->destroy)
		m->type->ops->destroy(m);
	model_free(m);
}

/* ---- attaching ---- */

static bool type_valid(const struct tcemu_model_type *t)
{
	bool traps = false;

	if (!t->name || !t->ops || !t->ops->init || t->class_code > 0xffffff)
		return false;
	for (unsigned n = 0; n < 6; n++)
		traps |= t->bar_size[n] && !(t->bar_flags[n] & TCEMU_BAR_MMAP);
	return !traps || (t->ops->bar_read && t->ops->bar_write);
}

/* The device info of a model: the topology's address, the model's ids, revision and BARs, no ROM. */
static void model_info(const struct tcemu_model_type *t, const char *bdf, struct tcemu_device_info *info)
{
	memset(info, 0, sizeof(*info));
	snprintf(info->bdf, sizeof(info->bdf), "%s", bdf);
	info->vendor = t->vendor;
	info->device = t->device;
	info->class_code = t->class_code;
	info->subsys_vendor = t->subsys_vendor;
	info->subsys_device = t->subsys_device;
	info->revision = t->revision;
	memcpy(info->bar_size, t->bar_size, sizeof(info->bar_size));
	memcpy(info->bar_flags, t->bar_flags, sizeof(info->bar_flags));
}

/*
 * Runs init and builds the device, with the ids and BARs of base (a topology's model= device,
 * whose ids may be overridden) or else of the type. host->lock held.
 */
static int model_build(struct tcemu_host *h, struct group *g, const char *bdf, const struct tcemu_model_type *t,
		       const char *params, const struct tcemu_device_info *base, struct tcemu_vdev **out)
{
	struct tcemu_device_info info;
	struct tcemu_model *m;
	int rc;

	m = host_alloc(h, sizeof(*m));
	if (!m)
		return -ENOMEM;
	rc = -pthread_mutex_init(&m->lock, NULL);
	if (rc)
		goto free_model;
	rc = -pthread_mutex_init(&m->eeh_lock, NULL);
	if (rc)
		goto destroy_lock;
	m->type = t;
	m->host = h;
	m->pe = g->pe;
	m->dma = h->dma;
	m->log = h->lg;
	snprintf(m->bdf, sizeof(m->bdf), "%s", bdf);
	m->freezes_seen = tcemu_pe_eeh_freezes(g->pe);
	m->cap_end = CFG_CAPS;
	m->vm.bar_rw = hook_bar_rw;
	m->vm.cfg_written = hook_cfg_written;
	m->vm.reset = hook_reset;
	m->vm.destroy = hook_destroy;
	m->vm.arg = m;

	m->in_init = true;
	rc = t->ops->init(m, params);
	m->in_init = false;
	if (rc)
		goto destroy_eeh_lock;
	if (base)
		info = *base;
	else
		model_info(t, bdf, &info);
	rc = tcemu_vdev_create_model(&info, &h->lg, &m->vm, out);
	if (rc)
		goto destroy_state;
	m->vdev = *out;
	tcemu_logf(&h->lg, TCEMU_LOG_INFO, "device %s: model %s attached", bdf, t->name);
	return 0;

destroy_state:
	if (t->ops->destroy)
		t->ops->destroy(m);
destroy_eeh_lock:
	pthread_mutex_destroy(&m->eeh_lock);
destroy_lock:
	pthread_mutex_destroy(&m->lock);
free_model:
	free(m);
	return rc;
}

/* The group and slot of the device named bdf. host->lock held. */
static struct group *find_device(struct tcemu_host *h, const char *bdf, size_t *slot)
{
	for (size_t i = 0; i < h->ngroups; i++)
		for (size_t d = 0; d < h->groups[i].ndevs; d++)
			if (strcasecmp(tcemu_vdev_info(h->groups[i].devs[d])->bdf, bdf) == 0) {
				*slot = d;
				return &h->groups[i];
			}
	return NULL;
}

/* tcemu_host_attach_model, with the device info of a topology's model= device (base) or none. */
static int attach(struct tcemu_host *h, const char *bdf, const struct tcemu_model_type *type, const char *params,
		  bool from_topology)
{
	struct tcemu_vdev *nv = NULL;
	struct group *g;
	size_t slot = 0;
	int rc;

	tcemu_mutex_lock(&h->lock);
	g = find_device(h, bdf, &slot);
	if (!g) {
		rc = -ENODEV;
		goto unlock;
	}
	if (g->device_fds) {
		rc = -EBUSY;
		goto unlock;
	}
	if (type && !h->dma) {
		const char *id = getenv("TCEMU_DMA_IDENTITY");

		rc = tcemu_dma_create(h->plat, h->mem, &h->dma);
		if (rc)
			goto unlock;
		dma_set_alloc_hook(h->dma, &h->hook);
		if (id && strcmp(id, "benchmark") == 0) { /* tcemu exec --bench-dma-identity only */
			dma_set_identity(h->dma);
			tcemu_logf(&h->lg, TCEMU_LOG_WARN,
				   "DMA translation bypassed (identity mode, TCEMU_DMA_IDENTITY=benchmark): for benchmarks only");
		}
	}
	if (type)
		rc = model_build(h, g, tcemu_vdev_info(g->devs[slot])->bdf, type, params,
				 from_topology ? tcemu_pe_device(g->pe, slot) : NULL, &nv);
	else
		rc = tcemu_vdev_create(tcemu_pe_device(g->pe, slot), &h->lg, &nv);
	if (rc)
		goto unlock;
	tcemu_vdev_destroy(g->devs[slot]);
	g->devs[slot] = nv;
unlock:
	tcemu_mutex_unlock(&h->lock);
	return rc;
}

TCEMU_EXPORT int tcemu_host_attach_model(struct tcemu_host *h, const char *bdf, const struct tcemu_model_type *type,
					 const char *params)
{
	if (!h || !bdf || (type && !type_valid(type)))
		return -EINVAL;
	return attach(h, bdf, type, params, false);
}

int host_attach_topology_models(struct tcemu_host *h)
{
	for (size_t i = 0; i < h->ngroups; i++) {
		struct tcemu_pe *pe = h->groups[i].pe;

		for (size_t d = 0; d < h->groups[i].ndevs; d++) {
			const struct pe_model *pm = pe_device_model(pe, d);
			const char *bdf = tcemu_pe_device(pe, d)->bdf;
			int rc;

			if (!pm->type)
				continue;
			rc = attach(h, bdf, pm->type, pm->params, true);
			if (rc) {
				tcemu_logf(&h->lg, TCEMU_LOG_ERROR, "device %s: model %s%s%s: %s", bdf, pm->type->name,
					   pm->params ? " " : "", pm->params ? pm->params : "", strerror(-rc));
				return rc;
			}
		}
	}
	return 0;
}

TCEMU_EXPORT int tcemu_host_set_model(struct tcemu_host *h, const char *bdf, const char *name, const char *params)
{
	const struct tcemu_model_type *t = NULL;

	if (name && strcmp(name, "plain") != 0) {
		t = tcemu_model_builtin(name);
		if (!t)
			return -ENOENT;
	}
	return tcemu_host_attach_model(h, bdf, t, params);
}

typedef int counters_fn(struct tcemu_model *m, char *buf, size_t len, bool try);

/* The built-in type's counters function, NULL for a type without counters. */
static counters_fn *model_counters(const struct tcemu_model_type *t)
{
	if (t == &tcemu_virtio_net_type)
		return virtio_net_counters;
	if (t == &tcemu_virtio_blk_type)
		return virtio_blk_counters;
	return NULL;
}

/* Appends to buf (len bytes, used so far), keeping it NUL terminated. */
static void put(char *buf, size_t len, size_t *used, const char *fmt, ...) TCEMU_PRINTF(4, 5);
static void put(char *buf, size_t len, size_t *used, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf + *used, len > *used ? len - *used : 0, fmt, ap);
	va_end(ap);
	if (n > 0)
		*used = *used + (size_t)n < len ? *used + (size_t)n : len ? len - 1 : 0;
}

size_t host_models_summary(struct tcemu_host *h, char *buf, size_t len, bool in_signal)
{
	uint64_t bytes[2] = { 0, 0 }, ops[2] = { 0, 0 };
	size_t used = 0;
	bool any = false;

	if (len)
		buf[0] = '\0';
	if (in_signal ? tcemu_mutex_trylock(&h->lock) != 0 : (tcemu_mutex_lock(&h->lock), false))
		return 0;
	for (size_t i = 0; i < h->ngroups; i++)
		for (size_t d = 0; d < h->groups[i].ndevs; d++) {
			const struct tcemu_vdev_model *vm = tcemu_vdev_model(h->groups[i].devs[d]);
			struct tcemu_model *m = vm && vm->bar_rw == hook_bar_rw ? vm->arg : NULL;
			counters_fn *counters = m ? model_counters(m->type) : NULL;
			char c[160];

			if (!m)
				continue;
			any = true;
			for (unsigned w = 0; w < 2; w++) {
				bytes[w] += __atomic_load_n(&m->dma_bytes[w], __ATOMIC_RELAXED);
				ops[w] += __atomic_load_n(&m->dma_ops[w], __ATOMIC_RELAXED);
			}
			if (!counters || counters(m, c, sizeof(c), in_signal))
				continue;
			put(buf, len, &used, "%s  %s %s: %s\n", used ? "" : "devices:\n", m->bdf, m->type->name, c);
		}
	tcemu_mutex_unlock(&h->lock);
	if (any)
		put(buf, len, &used, "device DMA: %llu bytes read from memory in %llu accesses, %llu bytes written to "
				     "memory in %llu accesses\n",
		    (unsigned long long)bytes[0], (unsigned long long)ops[0], (unsigned long long)bytes[1],
		    (unsigned long long)ops[1]);
	return used;
}

TCEMU_EXPORT struct tcemu_model *tcemu_host_model(struct tcemu_host *h, const char *bdf)
{
	struct tcemu_model *m = NULL;
	const struct tcemu_vdev_model *vm;
	struct group *g;
	size_t slot = 0;

	if (!h || !bdf)
		return NULL;
	tcemu_mutex_lock(&h->lock);
	g = find_device(h, bdf, &slot);
	vm = g ? tcemu_vdev_model(g->devs[slot]) : NULL;
	if (vm && vm->bar_rw == hook_bar_rw)
		m = vm->arg;
	tcemu_mutex_unlock(&h->lock);
	return m;
}

TCEMU_EXPORT struct tcemu_dma *tcemu_host_dma(struct tcemu_host *h)
{
	struct tcemu_dma *dma;

	tcemu_mutex_lock(&h->lock);
	dma = h->dma;
	tcemu_mutex_unlock(&h->lock);
	return dma;
}

/* ---- accessors ---- */

TCEMU_EXPORT void tcemu_model_set_priv(struct tcemu_model *m, void *priv)
{
	m->priv = priv;
}

TCEMU_EXPORT void *tcemu_model_priv(const struct tcemu_model *m)
{
	return m->priv;
}

TCEMU_EXPORT const struct tcemu_model_type *tcemu_model_type_of(const struct tcemu_model *m)
{
	return m->type;
}

TCEMU_EXPORT const char *tcemu_model_bdf(const struct tcemu_model *m)
{
	return m->bdf;
}

TCEMU_EXPORT struct tcemu_host *tcemu_model_host(const struct tcemu_model *m)
{
	return m->host;
}

void *model_malloc(struct tcemu_model *m, size_t size)
{
	return host_malloc(m->host, size);
}

TCEMU_EXPORT void tcemu_model_log(struct tcemu_model *m, enum tcemu_log_level level, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (!m->log.fn || level > m->log.level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	tcemu_logf(&m->log, level, "device %s: %s", m->bdf, msg);
}

/* ---- config space ---- */

TCEMU_EXPORT int tcemu_model_add_cap(struct tcemu_model *m, uint8_t id, const void *body, size_t len,
				     const void *wmask)
{
	unsigned off = TCEMU_ALIGN_UP(m->cap_end, 4u);

	if (!m->in_init || (len && !body) || len > TCEMU_VDEV_CONFIG_SIZE - CFG_CAPS - 2)
		return -EINVAL;
	if (off + 2 + len > TCEMU_VDEV_CONFIG_SIZE)
		return -ENOSPC;
	if (id == CAP_MSIX) {
		uint32_t n;

		if (m->msix_cap || len < 10)
			return -EINVAL;
		n = (((const uint8_t *)body)[0] | (uint32_t)((const uint8_t *)body)[1] << 8) & MSIX_TABLE_SIZE_MASK;
		if (n + 1 > TCEMU_VDEV_MAX_VECTORS)
			return -EINVAL;
		m->vm.msix_vectors = n + 1;
		m->msix_cap = off;
	} else if (id == CAP_MSI) {
		m->vm.msi_vectors = 1;
	} else if (id == CAP_PCIE) {
		m->vm.pcie = true; /* vfio-pci offers the ERR interrupt on PCI Express devices */
	}
	m->vm.cfg[off] = id;
	m->vm.cfg[off + 1] = 0;
	if (len)
		memcpy(m->vm.cfg + off + 2, body, len);
	if (wmask && len)
		memcpy(m->vm.wmask + off + 2, wmask, len);
	if (m->last_cap)
		m->vm.cfg[m->last_cap + 1] = (uint8_t)off;
	else
		m->vm.cap_ptr = (uint8_t)off;
	m->last_cap = off;
	m->cap_end = off + 2 + (unsigned)len;
	return (int)off;
}

TCEMU_EXPORT int tcemu_model_config_read(struct tcemu_model *m, unsigned off, void *buf, size_t len)
{
	uint64_t at = ((uint64_t)VFIO_PCI_CONFIG_REGION_INDEX << TCEMU_VDEV_REGION_SHIFT) + off;

	if (!m->vdev || off > TCEMU_VDEV_CONFIG_SIZE || len > TCEMU_VDEV_CONFIG_SIZE - off)
		return -EINVAL;
	return tcemu_vdev_rw(m->vdev, buf, len, at, false) == (ssize_t)len ? 0 : -EINVAL;
}

TCEMU_EXPORT bool tcemu_model_msix_enabled(struct tcemu_model *m)
{
	uint8_t hi = 0;

	return m->msix_cap && tcemu_model_config_read(m, m->msix_cap + 3, &hi, 1) == 0 && (hi & MSIX_ENABLE);
}

TCEMU_EXPORT bool tcemu_model_bus_master(struct tcemu_model *m)
{
	uint8_t cmd = 0;

	return tcemu_model_config_read(m, CFG_COMMAND, &cmd, 1) == 0 && (cmd & CMD_BUS_MASTER);
}

/* ---- interrupts ---- */

TCEMU_EXPORT int tcemu_model_intx(struct tcemu_model *m, bool asserted)
{
	return m->vdev ? tcemu_vdev_intx_level(m->vdev, asserted) : -EINVAL;
}

TCEMU_EXPORT int tcemu_model_msix(struct tcemu_model *m, unsigned vector)
{
	if (!m->vdev || vector >= m->vm.msix_vectors)
		return -EINVAL;
	return tcemu_vdev_raise_irq(m->vdev, VFIO_PCI_MSIX_IRQ_INDEX, vector);
}

/* ---- DMA ---- */

TCEMU_EXPORT void tcemu_model_set_context(struct tcemu_model *m, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&m->lock);
	va_start(ap, fmt);
	vsnprintf(m->ctx, sizeof(m->ctx), fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&m->lock);
	if (lazy_ctx.m == m)
		lazy_ctx.m = NULL; /* the thread's later context wins */
}

void model_context(struct tcemu_model *m, const char *fmt, const char *s1, unsigned u1, const char *s2, unsigned u2)
{
	lazy_ctx = (struct lazy_context){ m, fmt, s1, s2, u1, u2 };
}

TCEMU_EXPORT const char *tcemu_model_fault_held_name(enum tcemu_model_fault_held held)
{
	switch (held) {
	case TCEMU_FAULT_NO_WINDOW:
		return "no window";
	case TCEMU_FAULT_NO_ENTRY:
		return "no entry";
	case TCEMU_FAULT_READ_ONLY:
		return "read-only entry";
	case TCEMU_FAULT_WRITE_ONLY:
		return "write-only entry";
	case TCEMU_FAULT_NO_MEMORY:
		return "entry without memory";
	case TCEMU_FAULT_FROZEN:
		return "PE already frozen";
	case TCEMU_FAULT_MEMORY_GONE:
		return "memory gone: the client unmapped it";
	}
	return "unknown";
}

/* What the window's table holds at bus, for a permission fault. */
static enum tcemu_model_fault_held entry_held(struct tcemu_pe *pe, uint64_t bus, bool write, uint64_t *tce)
{
	int slot = tcemu_window_slot(bus);
	struct tcemu_table *t = slot < 0 ? NULL : tcemu_pe_window(pe, (unsigned)slot);
	const struct tcemu_table_params *p;
	enum tcemu_model_fault_held held = TCEMU_FAULT_NO_WINDOW;

	if (!t)
		return held;
	p = tcemu_table_params(t);
	if (bus - p->bus_offset < p->window_size &&
	    tcemu_table_get(t, (bus - p->bus_offset) >> p->page_shift, tce, NULL) == 0) {
		uint64_t perm = *tce & TCEMU_TCE_PERM_MASK;

		if (!perm)
			held = TCEMU_FAULT_NO_ENTRY;
		else if (write && !(perm & TCEMU_TCE_WRITE))
			held = TCEMU_FAULT_READ_ONLY;
		else if (!write && !(perm & TCEMU_TCE_READ))
			held = TCEMU_FAULT_WRITE_ONLY;
		else
			held = TCEMU_FAULT_NO_ENTRY; /* changed since (the fault used what was there then) */
	}
	tcemu_table_unref(t);
	return held;
}

static void record_fault(struct tcemu_model *m, uint64_t bus, size_t len, bool write)
{
	struct tcemu_model_fault f = { .write = write, .bus = bus };
	struct tcemu_dma_stats st;

	if (tcemu_dma_stats(m->dma, m->pe, &st) == 0) {
		if (st.last_fault_bus - bus < len)
			f.bus = st.last_fault_bus;
		switch (st.last_fault) {
		case TCEMU_DMA_FAULT_PERMISSION:
			f.held = entry_held(m->pe, f.bus, write, &f.tce);
			break;
		case TCEMU_DMA_FAULT_NO_MEMORY:
			f.held = TCEMU_FAULT_NO_MEMORY;
			break;
		case TCEMU_DMA_FAULT_STOPPED:
			f.held = TCEMU_FAULT_FROZEN;
			break;
		case TCEMU_DMA_FAULT_GONE:
			f.held = TCEMU_FAULT_MEMORY_GONE;
			break;
		default:
			f.held = TCEMU_FAULT_NO_WINDOW;
			break;
		}
	}
	snprintf(f.bdf, sizeof(f.bdf), "%s", m->bdf);
	pthread_mutex_lock(&m->lock);
	if (lazy_ctx.m == m) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral" /* model_context's callers' literals, checked there */
		snprintf(f.context, sizeof(f.context), lazy_ctx.fmt, lazy_ctx.s1, lazy_ctx.u1, lazy_ctx.s2, lazy_ctx.u2);
#pragma GCC diagnostic pop
	} else
		snprintf(f.context, sizeof(f.context), "%s", m->ctx);
	f.count = m->fault.count + 1;
	snprintf(f.message, sizeof(f.message), "device %s: DMA %s at 0x%llx faulted: %s (tce 0x%llx)%s%s; PE frozen",
		 f.bdf, write ? "write" : "read", (unsigned long long)f.bus, tcemu_model_fault_held_name(f.held),
		 (unsigned long long)f.tce, f.context[0] ? ", " : "", f.context);
	m->fault = f;
	m->faulted = true;
	pthread_mutex_unlock(&m->lock);
	host_dma_fault(m->host, &f); /* logged there, rate-limited per kind */
}

/* What a successful access moved, for the summary (a scatter-gather list is one access). */
static void count_dma(struct tcemu_model *m, bool write, size_t len)
{
	__atomic_add_fetch(&m->dma_bytes[write], len, __ATOMIC_RELAXED);
	__atomic_add_fetch(&m->dma_ops[write], 1, __ATOMIC_RELAXED);
}

static int model_dma(struct tcemu_model *m, uint64_t bus, void *buf, size_t len, bool write)
{
	int rc;

	if (!m->dma)
		return -EINVAL;
	rc = write ? tcemu_dma_write(m->dma, m->pe, bus, buf, len) : tcemu_dma_read(m->dma, m->pe, bus, buf, len);
	if (rc == -EIO) {
		record_fault(m, bus, len, write);
		sync_eeh(m, true); /* the freeze reaches the model now, not at its next entry point */
	}
	if (rc == 0)
		count_dma(m, write, len);
	return rc;
}

TCEMU_EXPORT int tcemu_model_dma_read(struct tcemu_model *m, uint64_t bus, void *buf, size_t len)
{
	return model_dma(m, bus, buf, len, false);
}

TCEMU_EXPORT int tcemu_model_dma_write(struct tcemu_model *m, uint64_t bus, const void *data, size_t len)
{
	return model_dma(m, bus, (void *)(uintptr_t)data, len, true);
}

/*
 * Scatter-gather: the elements up to len bytes, as one all-or-nothing access of the engine (every
 * element translated and checked before any byte moves).
 */
static ssize_t model_dmav(struct tcemu_model *m, const struct tcemu_model_sg *sg, size_t n, uint8_t *buf, size_t len,
			  bool write)
{
	struct dma_sg inl[SG_INLINE], *v = inl;
	size_t done = 0, k = 0;
	int rc;

	if ((n && !sg) || (len && !buf))
		return -EINVAL;
	if (!m->dma)
		return -EINVAL;
	if (n > SG_INLINE) {
		v = host_malloc(m->host, n * sizeof(*v));
		if (!v)
			return -ENOMEM;
	}
	for (size_t i = 0; i < n && done < len; i++) {
		size_t c = (size_t)tcemu_min_u64(sg[i].len, len - done);

		v[k++] = (struct dma_sg){ sg[i].bus, c };
		done += c;
	}
	rc = dma_access_sg(m->dma, m->pe, v, k, buf, write);
	if (rc == -EIO) {
		record_fault(m, 0, SIZE_MAX, write); /* the address: the engine's record */
		sync_eeh(m, true);
	}
	if (rc == 0)
		count_dma(m, write, done);
	if (v != inl)
		free(v);
	return rc ? rc : (ssize_t)done;
}

TCEMU_EXPORT ssize_t tcemu_model_dma_readv(struct tcemu_model *m, const struct tcemu_model_sg *sg, size_t n,
					   void *buf, size_t len)
{
	return model_dmav(m, sg, n, buf, len, false);
}

TCEMU_EXPORT ssize_t tcemu_model_dma_writev(struct tcemu_model *m, const struct tcemu_model_sg *sg, size_t n,
					    const void *data, size_t len)
{
	return model_dmav(m, sg, n, (uint8_t *)(uintptr_t)data, len, true);
}

TCEMU_EXPORT int tcemu_model_last_fault(struct tcemu_model *m, struct tcemu_model_fault *f)
{
	int rc = -ENOENT;

	pthread_mutex_lock(&m->lock);
	if (m->faulted) {
		*f = m->fault;
		rc = 0;
	}
	pthread_mutex_unlock(&m->lock);
	return rc;
}

TCEMU_EXPORT bool tcemu_model_frozen(struct tcemu_model *m)
{
	return tcemu_pe_dma_stopped(m->pe);
}
