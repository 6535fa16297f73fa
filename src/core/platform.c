/* SPDX-License-Identifier: MIT */
/*
 * The POWER platform model: PHBs, PEs (= IOMMU groups), devices, window slots, ownership and
 * TCE invalidation.
 *
 * Locking (also in platform.h):
 * - The shape (PHBs, PEs, devices, profiles) is written once in tcemu_platform_create and is
 *   read-only afterwards: no lock.
 * - pe->lock protects pe->windows[], pe->owned, pe->bypass and the kill hook. It is a leaf lock
 *   for the platform: nothing else is taken under it except table-internal chunk locks (tables
 *   never call out), and the kill hook is called after it is dropped.
 * - pe->invalidations is an atomic counter.
 * In debug builds (util/lock.h) the helpers that need pe->lock assert it, a TCE kill asserts that
 * the caller does not hold it, and a PE's owned and bypass flags are checked to go together.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <tcemu/platform.h>

#include "util/internal.h"
#include "core/platform_priv.h"
#include "core/topology.h"

/* A profile's PEs per PHB: at most what the topology parser can number. */
#define MAX_PES(n) \
	((uint32_t)((n) + TCEMU_STATIC_CHECK((n) <= TCEMU_PROFILE_MAX_PES, "more PEs than the parser numbers")))

/*
 * Every generation's facts, in one table indexed by the profile: the platform checks windows
 * against it, the topology parser reads names and PE limits from it (through tcemu_profile_info).
 */
static const struct tcemu_profile_info profiles[TCEMU_PROFILE_LIMIT] = {
	[TCEMU_PROFILE_IODA1] = {
		.profile = TCEMU_PROFILE_IODA1,
		.name = "ioda1",
		.hardware = "P7IOC (POWER7)",
		.windows = 1,
		.pgsizes = 1ull << 12,
		.max_levels = 1,
		.max_pes = MAX_PES(128),
		.dynamic_windows = false,
		.multi_group = false,
	},
	[TCEMU_PROFILE_IODA2] = {
		.profile = TCEMU_PROFILE_IODA2,
		.name = "ioda2",
		.hardware = "PHB3 (POWER8)",
		.windows = 2,
		.pgsizes = (1ull << 12) | (1ull << 16) | (1ull << 24) | (1ull << 28),
		.max_levels = 5,
		.max_pes = MAX_PES(256),
		.dynamic_windows = true,
		.multi_group = true,
	},
	[TCEMU_PROFILE_IODA3] = {
		.profile = TCEMU_PROFILE_IODA3,
		.name = "ioda3",
		.hardware = "PHB4 (POWER9/10)",
		.windows = 2,
		.pgsizes = (1ull << 12) | (1ull << 16) | (1ull << 21) | (1ull << 30),
		.max_levels = 5,
		.max_pes = MAX_PES(512),
		.dynamic_windows = true,
		.multi_group = true,
	},
};

TCEMU_EXPORT const struct tcemu_profile_info *tcemu_profile_info(enum tcemu_profile p)
{
	if ((unsigned)p >= TCEMU_ARRAY_SIZE(profiles) || !profiles[p].name)
		return NULL; /* out of the table, or a hole in it (0) */
	TCEMU_ASSERT(profiles[p].profile == p && profiles[p].windows <= TCEMU_PE_WINDOWS);
	return &profiles[p];
}

TCEMU_EXPORT const char *tcemu_platform_default_topology(void)
{
	return tcemu_topology_default_text();
}

/* The host's own 32-bit window of a PE: start 0, 4 KiB pages, one level. */
static int host_default_table(const struct tcemu_pe *pe, struct tcemu_table **out)
{
	struct tcemu_table_params p = {
		.bus_offset = 0,
		.window_size = pe->phb->dma32_size,
		.page_shift = 12,
		.levels = 1,
		.sys_page_shift = pe->plat->sys_page_shift,
	};

	return tcemu_table_create(&p, out);
}

static void models_free(struct pe_model *models, size_t n)
{
	for (size_t i = 0; models && i < n; i++)
		free(models[i].params);
	free(models);
}

static void pe_free(struct tcemu_pe *pe)
{
	if (!pe)
		return;
	free(pe->hook);
	while (pe->retired) {
		struct kill_hook *k = pe->retired;
		pe->retired = k->next;
		free(k);
	}
	for (unsigned s = 0; s < TCEMU_PE_WINDOWS; s++)
		tcemu_table_unref(pe->windows[s]);
	tcemu_mutex_destroy(&pe->lock);
	models_free(pe->models, pe->ndevices);
	free(pe->devices);
	free(pe);
}

/* The parameters of a topology device's model, in the model's own syntax. */
static int model_params(const struct tcemu_topo_device *td, char **out)
{
	int n = 0;

	*out = NULL;
	if (td->link[0])
		n = asprintf(out, "link=%s", td->link);
	else if (td->disk || td->disk_size || td->fault_file) {
		char base[600] = "";

		if (td->disk)
			snprintf(base, sizeof(base), "disk=%s", td->disk);
		else if (td->disk_size)
			snprintf(base, sizeof(base), "size=%llu", (unsigned long long)td->disk_size);
		n = asprintf(out, "%s%s%s%s", base, base[0] && td->fault_file ? "," : "",
			     td->fault_file ? "fault-file=" : "", td->fault_file ? td->fault_file : "");
	}
	if (n < 0) {
		*out = NULL;
		return -ENOMEM;
	}
	return 0;
}

static int pe_build(struct tcemu_platform *plat, struct tcemu_phb *phb, const struct tcemu_topo_pe *tp,
		    struct tcemu_pe **out)
{
	struct tcemu_pe *pe;
	int rc;

	pe = calloc(1, sizeof(*pe));
	if (!pe)
		return -ENOMEM;
	pe->plat = plat;
	pe->phb = phb;
	pe->pe_number = tp->pe_number;
	pe->group = tp->group;
	pe->bypass = true;
	pe->eeh_enabled = true;
	rc = tcemu_mutex_init(&pe->lock);
	if (rc)
		goto err_free_pe;
	pe->devices = calloc(tp->ndevices ? tp->ndevices : 1, sizeof(*pe->devices));
	if (!pe->devices) {
		rc = -ENOMEM;
		goto err_destroy_lock;
	}
	pe->models = calloc(tp->ndevices ? tp->ndevices : 1, sizeof(*pe->models));
	if (!pe->models) {
		rc = -ENOMEM;
		goto err_free_devices;
	}
	pe->ndevices = tp->ndevices;
	for (size_t d = 0; d < tp->ndevices; d++) {
		const struct tcemu_topo_device *td = &tp->devices[d];
		struct tcemu_device_info *di = &pe->devices[d];

		memcpy(di->bdf, td->bdf, sizeof(di->bdf));
		di->vendor = td->vendor;
		di->device = td->device;
		di->class_code = td->class_code;
		di->revision = td->revision;
		di->subsys_vendor = td->subsys_vendor;
		di->subsys_device = td->subsys_device;
		for (unsigned b = 0; b < 6; b++) {
			di->bar_size[b] = td->bars[b].size;
			di->bar_flags[b] = td->bars[b].flags;
		}
		di->rom_size = td->rom_size;
		pe->models[d].type = td->model;
		rc = model_params(td, &pe->models[d].params);
		if (rc)
			goto err_free_models;
	}
	rc = host_default_table(pe, &pe->windows[0]);
	if (rc)
		goto err_free_models;
	*out = pe;
	return 0;

err_free_models:
	models_free(pe->models, tp->ndevices);
err_free_devices:
	free(pe->devices);
err_destroy_lock:
	tcemu_mutex_destroy(&pe->lock);
err_free_pe:
	free(pe);
	return rc;
}

static void platform_free(struct tcemu_platform *p)
{
	for (size_t i = 0; i < p->npes; i++)
		pe_free(p->pes[i]);
	for (size_t i = 0; i < p->nphbs; i++)
		free(p->phbs[i].pes);
	free(p->pes);
	free(p->phbs);
	free(p);
}

static int real_page_shift(uint32_t *shift)
{
	long sz = sysconf(_SC_PAGESIZE);

	if (sz == 4096)
		*shift = 12;
	else if (sz == 65536)
		*shift = 16;
	else
		return -EINVAL;
	return 0;
}

static int build(const struct tcemu_topology *topo, const struct tcemu_platform_opts *opts, struct tcemu_platform **out,
		 char *err, size_t errlen)
{
	struct tcemu_platform *p;
	size_t total = 0, at = 0;
	int rc;

	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->logger = opts->logger;
	p->memlock_set = topo->memlock_set;
	p->memlock = topo->memlock;
	if (opts->sys_page_shift) {
		if (opts->sys_page_shift != 12 && opts->sys_page_shift != 16) {
			snprintf(err, errlen, "system page shift %u: must be 12 (4K) or 16 (64K)", opts->sys_page_shift);
			rc = -EINVAL;
			goto err_free;
		}
		p->sys_page_shift = opts->sys_page_shift;
	} else if (topo->sys_page_shift) {
		p->sys_page_shift = topo->sys_page_shift;
	} else {
		rc = real_page_shift(&p->sys_page_shift);
		if (rc) {
			snprintf(err, errlen, "this machine's page size is neither 4K nor 64K: give page-size");
			goto err_free;
		}
	}

	for (size_t i = 0; i < topo->nphbs; i++)
		total += topo->phbs[i].npes;
	p->phbs = calloc(topo->nphbs ? topo->nphbs : 1, sizeof(*p->phbs));
	p->pes = calloc(total ? total : 1, sizeof(*p->pes));
	if (!p->phbs || !p->pes) {
		rc = -ENOMEM;
		goto err_free;
	}
	p->nphbs = topo->nphbs;
	for (size_t i = 0; i < topo->nphbs; i++) {
		const struct tcemu_topo_phb *tp = &topo->phbs[i];
		struct tcemu_phb *phb = &p->phbs[i];

		phb->plat = p;
		phb->index = tp->index;
		phb->domain = tp->domain;
		phb->profile = tcemu_profile_info(tp->profile);
		phb->dma32_size = tp->dma32_size;
		phb->pes = calloc(tp->npes ? tp->npes : 1, sizeof(*phb->pes));
		if (!phb->profile || !phb->pes) {
			rc = phb->profile ? -ENOMEM : -EINVAL;
			goto err_free;
		}
		for (size_t e = 0; e < tp->npes; e++) {
			rc = pe_build(p, phb, &tp->pes[e], &p->pes[at]);
			if (rc)
				goto err_free;
			phb->pes[e] = p->pes[at++];
			phb->npes++;
			p->npes++;
		}
	}
	TCEMU_ASSERT(p->npes == total); /* every PE has its place in p->pes */
	*out = p;
	return 0;

err_free:
	platform_free(p);
	return rc;
}

TCEMU_EXPORT int tcemu_platform_create(const struct tcemu_platform_opts *opts, struct tcemu_platform **out)
{
	static const struct tcemu_platform_opts defaults;
	struct tcemu_topology *topo = NULL;
	char dummy[8];
	char *err;
	size_t errlen;
	int rc;

	if (!out)
		return -EINVAL;
	if (!opts)
		opts = &defaults;
	err = opts->errbuf ? opts->errbuf : dummy;
	errlen = opts->errbuf ? opts->errlen : sizeof(dummy);
	if (errlen)
		err[0] = '\0';

	if (opts->topology_path) {
		rc = tcemu_topology_load(opts->topology_path, &topo, err, errlen);
	} else {
		const char *text = opts->topology_text ? opts->topology_text : tcemu_topology_default_text();
		rc = tcemu_topology_parse(text, strlen(text), opts->topology_text ? "<topology>" : "<default>", &topo,
					  err, errlen);
	}
	if (rc)
		return rc;
	rc = build(topo, opts, out, err, errlen);
	if (rc == 0)
		tcemu_logf(&opts->logger, TCEMU_LOG_INFO, "platform: %zu PHB(s), %zu PE(s), %u KiB system pages",
			   (*out)->nphbs, (*out)->npes, (1u << (*out)->sys_page_shift) >> 10);
	tcemu_topology_free(topo);
	return rc;
}

TCEMU_EXPORT void tcemu_platform_destroy(struct tcemu_platform *p)
{
	if (p)
		platform_free(p);
}

TCEMU_EXPORT uint32_t tcemu_platform_page_shift(const struct tcemu_platform *p)
{
	return p->sys_page_shift;
}

TCEMU_EXPORT bool tcemu_platform_memlock(const struct tcemu_platform *p, uint64_t *bytes)
{
	if (p->memlock_set && bytes)
		*bytes = p->memlock;
	return p->memlock_set;
}

TCEMU_EXPORT const struct tcemu_logger *tcemu_platform_logger(const struct tcemu_platform *p)
{
	return &p->logger;
}

TCEMU_EXPORT size_t tcemu_platform_phb_count(const struct tcemu_platform *p)
{
	return p->nphbs;
}

TCEMU_EXPORT struct tcemu_phb *tcemu_platform_phb(const struct tcemu_platform *p, size_t i)
{
	return i < p->nphbs ? &p->phbs[i] : NULL;
}

TCEMU_EXPORT size_t tcemu_platform_pe_count(const struct tcemu_platform *p)
{
	return p->npes;
}

TCEMU_EXPORT struct tcemu_pe *tcemu_platform_pe(const struct tcemu_platform *p, size_t i)
{
	return i < p->npes ? p->pes[i] : NULL;
}

TCEMU_EXPORT struct tcemu_pe *tcemu_platform_pe_by_group(const struct tcemu_platform *p, uint32_t group)
{
	for (size_t i = 0; i < p->npes; i++)
		if (p->pes[i]->group == group)
			return p->pes[i];
	return NULL;
}

TCEMU_EXPORT struct tcemu_pe *tcemu_platform_pe_by_bdf(const struct tcemu_platform *p, const char *bdf)
{
	if (!bdf)
		return NULL;
	for (size_t i = 0; i < p->npes; i++)
		for (size_t d = 0; d < p->pes[i]->ndevices; d++)
			if (strcasecmp(p->pes[i]->devices[d].bdf, bdf) == 0)
				return p->pes[i];
	return NULL;
}

TCEMU_EXPORT void tcemu_phb_info(const struct tcemu_phb *phb, struct tcemu_phb_info *info)
{
	info->index = phb->index;
	info->domain = phb->domain;
	info->profile = phb->profile;
	info->dma32_size = phb->dma32_size;
	info->npes = phb->npes;
}

TCEMU_EXPORT struct tcemu_pe *tcemu_phb_pe(const struct tcemu_phb *phb, size_t i)
{
	return i < phb->npes ? phb->pes[i] : NULL;
}

TCEMU_EXPORT void tcemu_pe_info(const struct tcemu_pe *pe, struct tcemu_pe_info *info)
{
	info->group = pe->group;
	info->pe_number = pe->pe_number;
	info->phb = pe->phb;
	info->ndevices = pe->ndevices;
}

TCEMU_EXPORT const struct tcemu_device_info *tcemu_pe_device(const struct tcemu_pe *pe, size_t i)
{
	return i < pe->ndevices ? &pe->devices[i] : NULL;
}

TCEMU_EXPORT struct tcemu_phb *tcemu_pe_phb(const struct tcemu_pe *pe)
{
	return pe->phb;
}

TCEMU_EXPORT const struct tcemu_profile_info *tcemu_pe_profile(const struct tcemu_pe *pe)
{
	return pe->phb->profile;
}

TCEMU_EXPORT uint32_t tcemu_pe_group(const struct tcemu_pe *pe)
{
	return pe->group;
}

TCEMU_EXPORT int tcemu_window_slot(uint64_t bus_addr)
{
	if (bus_addr < TCEMU_WINDOW1_START)
		return 0;
	if (bus_addr < 2 * TCEMU_WINDOW1_START)
		return 1;
	return -ERANGE;
}

/* owned and bypass go together: a PE is host-owned with its bypass window, or owned without. Lock held. */
static inline void pe_assert_ownership(const struct tcemu_pe *pe)
{
	TCEMU_ASSERT_HELD(&pe->lock);
	TCEMU_ASSERT(pe->owned != pe->bypass);
}

/* Counts an invalidation and returns the hook to call once the lock is dropped (or never taken). */
static void kill_locked(struct tcemu_pe *pe, tcemu_tce_kill_fn *fn, void **opaque)
{
	struct kill_hook *k = __atomic_load_n(&pe->hook, __ATOMIC_ACQUIRE);

	__atomic_add_fetch(&pe->invalidations, 1, __ATOMIC_RELAXED);
	*fn = k ? k->fn : NULL;
	*opaque = k ? k->opaque : NULL;
}

/* Checks that table t may be programmed into slot of pe (geometry against profile and slot). */
static int window_fits(const struct tcemu_pe *pe, unsigned slot, struct tcemu_table *t)
{
	const struct tcemu_profile_info *prof = pe->phb->profile;
	const struct tcemu_table_params *tp = tcemu_table_params(t);
	uint64_t start, end;

	if (slot >= prof->windows)
		return -EINVAL;
	if (!(prof->pgsizes & (1ull << tp->page_shift)) || tp->levels > prof->max_levels)
		return -EINVAL;
	start = tp->bus_offset;
	end = start + tp->window_size; /* no wrap: the table checked it */
	if (slot == 0 && end > TCEMU_WINDOW1_START)
		return -EINVAL;
	if (slot == 1 && (start != TCEMU_WINDOW1_START || end > 2 * TCEMU_WINDOW1_START))
		return -EINVAL;
	/* IODA1 has one fixed 32-bit window. */
	if (!prof->dynamic_windows && (start != 0 || tp->window_size != pe->phb->dma32_size))
		return -EINVAL;
	return 0;
}

TCEMU_EXPORT int tcemu_pe_set_window(struct tcemu_pe *pe, unsigned slot, struct tcemu_table *t)
{
	tcemu_tce_kill_fn fn = NULL;
	void *opaque = NULL;
	int rc;

	if (!t)
		return -EINVAL;
	rc = window_fits(pe, slot, t);
	if (rc)
		return rc;
	TCEMU_ASSERT(slot < pe->phb->profile->windows && slot < TCEMU_PE_WINDOWS); /* window_fits checked it */
	tcemu_mutex_lock(&pe->lock);
	pe_assert_ownership(pe);
	if (pe->windows[slot]) {
		rc = -EBUSY;
	} else {
		pe->windows[slot] = tcemu_table_ref(t);
		kill_locked(pe, &fn, &opaque);
	}
	tcemu_mutex_unlock(&pe->lock);
	if (fn)
		fn(opaque, pe, slot, 0, 0);
	return rc;
}

TCEMU_EXPORT int tcemu_pe_unset_window(struct tcemu_pe *pe, unsigned slot)
{
	struct tcemu_table *old = NULL;
	tcemu_tce_kill_fn fn = NULL;
	void *opaque = NULL;
	int rc = 0;

	if (slot >= TCEMU_PE_WINDOWS)
		return -EINVAL;
	tcemu_mutex_lock(&pe->lock);
	old = pe->windows[slot];
	pe->windows[slot] = NULL;
	if (old)
		kill_locked(pe, &fn, &opaque);
	else
		rc = -ENOENT;
	tcemu_mutex_unlock(&pe->lock);
	if (fn)
		fn(opaque, pe, slot, 0, 0);
	tcemu_table_unref(old);
	return rc;
}

TCEMU_EXPORT struct tcemu_table *tcemu_pe_window(struct tcemu_pe *pe, unsigned slot)
{
	struct tcemu_table *t = NULL;

	if (slot >= TCEMU_PE_WINDOWS)
		return NULL;
	tcemu_mutex_lock(&pe->lock);
	if (pe->windows[slot])
		t = tcemu_table_ref(pe->windows[slot]);
	tcemu_mutex_unlock(&pe->lock);
	return t;
}

TCEMU_EXPORT int tcemu_pe_take_ownership(struct tcemu_pe *pe)
{
	struct tcemu_table *host = NULL;
	tcemu_tce_kill_fn fn = NULL;
	void *opaque = NULL;
	int rc = 0;

	tcemu_mutex_lock(&pe->lock);
	pe_assert_ownership(pe);
	if (pe->owned) {
		rc = -EBUSY;
	} else {
		pe->owned = true;
		pe->bypass = false;
		host = pe->windows[0]; /* the host's default table goes; slot 1 is never host-used */
		pe->windows[0] = NULL;
		kill_locked(pe, &fn, &opaque);
	}
	tcemu_mutex_unlock(&pe->lock);
	if (fn)
		fn(opaque, pe, 0, 0, 0);
	tcemu_table_unref(host);
	return rc;
}

TCEMU_EXPORT int tcemu_pe_release_ownership(struct tcemu_pe *pe)
{
	struct tcemu_table *host, *left[TCEMU_PE_WINDOWS];
	tcemu_tce_kill_fn fn = NULL;
	void *opaque = NULL;
	int rc;

	/* Allocate first, so that a failure changes nothing. */
	rc = host_default_table(pe, &host);
	if (rc)
		return rc;
	tcemu_mutex_lock(&pe->lock);
	if (!pe->owned) {
		tcemu_mutex_unlock(&pe->lock);
		tcemu_table_unref(host);
		return -EINVAL;
	}
	for (unsigned s = 0; s < TCEMU_PE_WINDOWS; s++) {
		left[s] = pe->windows[s];
		pe->windows[s] = NULL;
	}
	pe->windows[0] = host;
	pe->owned = false;
	pe->bypass = true;
	pe_assert_ownership(pe);
	kill_locked(pe, &fn, &opaque);
	tcemu_mutex_unlock(&pe->lock);
	if (fn)
		fn(opaque, pe, 0, 0, 0);
	for (unsigned s = 0; s < TCEMU_PE_WINDOWS; s++)
		tcemu_table_unref(left[s]);
	return 0;
}

TCEMU_EXPORT bool tcemu_pe_is_owned(struct tcemu_pe *pe)
{
	bool owned;

	tcemu_mutex_lock(&pe->lock);
	pe_assert_ownership(pe);
	owned = pe->owned;
	tcemu_mutex_unlock(&pe->lock);
	return owned;
}

TCEMU_EXPORT bool tcemu_pe_bypass(struct tcemu_pe *pe)
{
	bool bypass;

	tcemu_mutex_lock(&pe->lock);
	bypass = pe->bypass;
	tcemu_mutex_unlock(&pe->lock);
	return bypass;
}

TCEMU_EXPORT void tcemu_pe_tce_kill(struct tcemu_pe *pe, unsigned slot, uint64_t index, uint64_t count)
{
	tcemu_tce_kill_fn fn;
	void *opaque;

	TCEMU_ASSERT_NOT_HELD(&pe->lock); /* a leaf: the hook runs with it dropped */
	kill_locked(pe, &fn, &opaque); /* no lock needed: the hook is published atomically */
	if (fn)
		fn(opaque, pe, slot, index, count);
}

TCEMU_EXPORT int tcemu_pe_set_kill_hook(struct tcemu_pe *pe, tcemu_tce_kill_fn fn, void *opaque)
{
	struct kill_hook *k = NULL, *old;

	if (fn) {
		k = malloc(sizeof(*k));
		if (!k)
			return -ENOMEM;
		*k = (struct kill_hook){ .fn = fn, .opaque = opaque };
	}
	tcemu_mutex_lock(&pe->lock);
	old = __atomic_exchange_n(&pe->hook, k, __ATOMIC_ACQ_REL);
	if (old) {
		old->next = pe->retired;
		pe->retired = old;
	}
	tcemu_mutex_unlock(&pe->lock);
	return 0;
}

void pe_add_invalidations(struct tcemu_pe *pe, uint64_t n)
{
	__atomic_add_fetch(&pe->invalidations, n, __ATOMIC_RELAXED);
}

TCEMU_EXPORT uint64_t tcemu_pe_invalidations(const struct tcemu_pe *pe)
{
	if (pe->sync_kills)
		pe->sync_kills(pe->sync_opaque);
	return __atomic_load_n(&pe->invalidations, __ATOMIC_RELAXED);
}
