/* SPDX-License-Identifier: MIT */
/* The helpers of spapr.h. */
#include "spapr.h"

/* ---- fixtures: fx_vfio_attach on a new host (fx_host_new) ---- */

long fx_open_opts(struct fx_vfio *f, const struct tcemu_host_opts *o, unsigned group, int type)
{
	return fx_vfio_attach(f, fx_host_new(o), group, type);
}

long fx_open_limit(struct fx_vfio *f, uint64_t limit, unsigned group, int type)
{
	struct tcemu_host_opts o = fx_host_opts();

	o.memlock = limit;
	return fx_open_opts(f, &o, group, type);
}

long fx_open_topo(struct fx_vfio *f, const char *topo, unsigned group, int type)
{
	struct tcemu_host_opts o = fx_host_opts();

	o.platform.topology_text = topo;
	return fx_open_opts(f, &o, group, type);
}

/* ---- ioctl wrappers ---- */

long ioc(struct fx_vfio *f, unsigned long cmd, void *arg)
{
	return tcemu_host_ioctl(f->h, f->c, cmd, arg);
}

long reg(struct fx_vfio *f, const void *va, uint64_t size)
{
	struct vfio_iommu_spapr_register_memory r = { sizeof(r), 0, (uintptr_t)va, size };

	return ioc(f, VFIO_IOMMU_SPAPR_REGISTER_MEMORY, &r);
}

long unreg(struct fx_vfio *f, const void *va, uint64_t size)
{
	struct vfio_iommu_spapr_register_memory r = { sizeof(r), 0, (uintptr_t)va, size };

	return ioc(f, VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY, &r);
}

long map(struct fx_vfio *f, const void *va, uint64_t iova, uint64_t size, uint32_t flags)
{
	struct vfio_iommu_type1_dma_map m = { sizeof(m), flags, (uintptr_t)va, iova, size };

	return ioc(f, VFIO_IOMMU_MAP_DMA, &m);
}

long map_rw(struct fx_vfio *f, const void *va, uint64_t iova, uint64_t size)
{
	return map(f, va, iova, size, VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE);
}

long unmap(struct fx_vfio *f, uint64_t iova, uint64_t size)
{
	struct vfio_iommu_type1_dma_unmap u = { sizeof(u), 0, iova, size };

	return ioc(f, VFIO_IOMMU_UNMAP_DMA, &u);
}

long create(struct fx_vfio *f, uint32_t ps, uint64_t ws, uint32_t levels, uint64_t *start)
{
	struct vfio_iommu_spapr_tce_create cr;
	long rc;

	memset(&cr, 0, sizeof(cr));
	cr.argsz = sizeof(cr);
	cr.page_shift = ps;
	cr.window_size = ws;
	cr.levels = levels;
	cr.start_addr = 0xdeadbeef;
	rc = ioc(f, VFIO_IOMMU_SPAPR_TCE_CREATE, &cr);
	if (start)
		*start = cr.start_addr;
	return rc;
}

long remove_win(struct fx_vfio *f, uint64_t start)
{
	struct vfio_iommu_spapr_tce_remove rm = { sizeof(rm), 0, start };

	return ioc(f, VFIO_IOMMU_SPAPR_TCE_REMOVE, &rm);
}

long enable(struct fx_vfio *f)
{
	return ioc(f, VFIO_IOMMU_ENABLE, NULL);
}

/* ---- introspection wrappers ---- */

struct tcemu_container_info cinfo(struct fx_vfio *f)
{
	struct tcemu_container_info ci;

	memset(&ci, 0xee, sizeof(ci));
	if (tcemu_host_container_info(f->h, f->c, &ci))
		memset(&ci, 0xee, sizeof(ci));
	return ci;
}

uint64_t locked(struct tcemu_host *h)
{
	uint64_t l = UINT64_MAX;

	tcemu_host_locked(h, getpid(), &l, NULL);
	return l;
}

ssize_t nregions(struct tcemu_host *h)
{
	return tcemu_host_regions(h, getpid(), NULL, 0);
}

/* The region starting at ua, or a zeroed one (size 0) if there is none. */
struct tcemu_region_info region_at(struct tcemu_host *h, const void *ua)
{
	struct tcemu_region_info ri[32], none;
	ssize_t n = tcemu_host_regions(h, getpid(), ri, 32);

	memset(&none, 0, sizeof(none));
	for (ssize_t i = 0; i < n && i < 32; i++)
		if (ri[i].ua == (uintptr_t)ua)
			return ri[i];
	return none;
}

/* The entry at iova (0 when unset or on error); *ua gets its user address. */
uint64_t tce_at(struct fx_vfio *f, uint64_t iova, uint64_t *ua)
{
	uint64_t tce = 0, u = 0;

	if (tcemu_host_container_entry(f->h, f->c, iova, &tce, &u))
		tce = u = 0;
	if (ua)
		*ua = u;
	return tce;
}

/*
 * After a call that failed once it had built the pending default window, the window is either
 * kept (present, charged) or put back (pending, not charged): never half of each.
 */
bool default_window_consistent(struct fx_vfio *f, uint64_t other_locked)
{
	struct tcemu_container_info ci = cinfo(f);

	if (ci.windows[0].present)
		return !ci.windows[0].pending && ci.windows[0].valid_entries == 0 &&
		       locked(f->h) == other_locked + DEF_ACCT;
	return ci.windows[0].pending && locked(f->h) == other_locked;
}

bool is_default_window(const struct tcemu_window_info *w, uint64_t size)
{
	return w->present && !w->pending && w->start == 0 && w->size == size && w->page_shift == 12 &&
	       w->levels == 1;
}

/* Nothing left charged, registered or mapped anywhere in the host. */
bool host_is_clean(struct tcemu_host *h)
{
	struct tcemu_host_stats st;

	tcemu_host_stats(h, &st);
	return locked(h) == 0 && nregions(h) == 0 && st.locked_bytes == 0 && st.entries_mapped == 0 &&
	       st.regions_registered == 0;
}

/* v1 has no table of user addresses: the physical address maps back to the user page. */
uint64_t v1_ua_of(struct fx_vfio *f, uint64_t iova)
{
	uint64_t ua = 0, tce = tce_at(f, iova, NULL);

	if (!tce || tcemu_memory_hpa_to_ua(tcemu_host_memory(f->h), tce & ~0xfffull, &ua, NULL))
		return 0;
	return ua;
}

/* ---- user memory ---- */

uint8_t *umem(uint64_t size)
{
	return fx_umem(size, 2 * MiB, PROT_READ | PROT_WRITE);
}

/* A v2 container on group 0 with 1 MiB registered at *mem (enabled, owner recorded). */
long fx_v2_ready(struct fx_vfio *f, uint8_t **mem)
{
	long rc = fx_vfio_open(f, 0, V2);

	*mem = umem(MiB);
	if (rc || !*mem)
		return rc ? rc : -ENOMEM;
	return reg(f, *mem, MiB);
}

/* A v1 container on group 0, enabled. */
long fx_v1_ready(struct fx_vfio *f)
{
	long rc = fx_vfio_open(f, 0, V1);

	return rc ? rc : enable(f);
}

