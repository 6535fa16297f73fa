/* SPDX-License-Identifier: MIT */
/*
 * Dynamic DMA windows: the four DDW RTAS calls of a guest PHB holding one passed-through PE, as
 * QEMU's pseries machine answers them. Every guest window is a guest-view window (tcemu/guest.h)
 * over a host window of the device's v2 container, linked to it, so that the guest's TCE
 * hypercalls run on the fast path. Only public calls are used on the host and the guest, plus
 * guest_host() to find the guest's host.
 *
 * Bookkeeping: a PHB has one record per host window slot (0 at bus 0, 1 at TCEMU_WINDOW1_START),
 * filled by the windows it created. The slot of a window is the one the host picked, read back
 * from VFIO_IOMMU_SPAPR_TCE_CREATE's start_addr.
 *
 * Choices where docs/spec (papr-guest.md) is silent, QEMU-like unless said otherwise:
 *  - Largest block (query) is counted in 4 KiB TCEs, the smallest IOMMU page: max_ram rounded up
 *    to a power of two, >> 12. One output cell saturates at 0xffffffff; two cells are hi, lo.
 *    Create refuses (-3) a window of more 4 KiB TCEs than that, i.e. window_shift >
 *    log2(roundup_pow2(max_ram)), whatever its page size.
 *  - Windows available = min(ddw.max_dynamic_windows_supported, TCEMU_PE_WINDOWS) minus the
 *    container's windows present or pending (whoever made them).
 *  - Page-size mask: the host's ddw.pgsizes (GET_INFO) mapped to the LoPAR bits; host page sizes
 *    without a LoPAR bit (1 GiB on IODA3) are not offered. Migration mask: always 0.
 *  - Host page size of a created window: like QEMU's VFIO listener, the largest page size the host
 *    offers that is no larger than the guest window's page and no larger than the page backing
 *    guest RAM. The backing page is the smallest page_shift among the regions the container's
 *    owner process has pre-registered (the system page size if there are none yet). So a 64 KiB
 *    DDW over 4 KiB-backed RAM gets a 4 KiB host window and each guest TCE fans out to 16 host
 *    entries. The default window always uses 4 KiB host pages.
 *  - Host table levels: the smallest of 1..4 that TCE_CREATE accepts; a level count is retried
 *    with the next one on -EINVAL (geometry) or -ENOMEM (a deeper table is made of smaller
 *    allocations, though it charges slightly more locked memory); other errors are final.
 *  - Status of failures that are not parameter errors (host or guest refusing, no memory, a slot
 *    other than the one expected): -1, hardware error. -2 (busy) is never returned: calls on a
 *    PHB are serialized by its mutex instead.
 *  - LIOBNs: ddw_liobn_base + slot. ddw_liobn_base may equal default_liobn (QEMU reuses the
 *    default window's LIOBN for a DDW at bus 0: both can only be slot 0, never at the same time);
 *    ddw_liobn_base + 1 must differ from it.
 *  - Remove of a window whose entries are still valid (the guest did not clear it): allowed, the
 *    entries are cleared anyway (removing the guest window clears what its links mapped and
 *    TCE_REMOVE clears the rest of the host table). A failure after the guest window is gone
 *    still forgets the window and answers -1. If restoring the default window after removing the
 *    last DDW fails, the answer is -1 with no window left; reset (or a later remove-triggered
 *    restore) tries again.
 *  - Removing the default window when it is the last window leaves the PHB with no window (a
 *    Linux guest does this to place its DDW at bus 0); only removing the last *DDW* brings the
 *    default window back.
 *  - Reset removes every DDW and rebuilds the default window if it is gone; a default window
 *    still present is kept as it is, entries included (QEMU rebuilds it empty).
 *  - tcemu_guest_phb_create: the container must be v2 with at least one group and offer DDW
 *    (GET_INFO flags), else -EINVAL. If the container had a window 0 (pending or built), it is
 *    removed; if the PHB cannot then be built, a window of the same geometry is put back (a
 *    pending default comes back built: the pending state cannot be restored through the public
 *    interface) — the best that can be done.
 *  - tcemu_guest_phb_windows lists windows in slot order; out may be NULL to only count them.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/vfio.h>

#include <tcemu/rtas.h>

#include "guest/guest_priv.h"
#include "util/internal.h"
#include "vfio/host_priv.h"

#define RTAS_TCE_SHIFT 12 /* the smallest IOMMU page: the unit of the largest block */
#define RTAS_MAX_LEVELS 4

struct phb_window {
	bool used;
	bool def;            /* the boot-time default window */
	uint32_t liobn;
	uint32_t page_shift; /* guest page */
	uint64_t start;      /* bus address */
	uint64_t size;       /* bytes */
};

struct tcemu_guest_phb {
	struct tcemu_guest *g;
	struct tcemu_host *h;
	struct tcemu_guest_phb_params p;
	pthread_mutex_t lock;      /* serializes RTAS calls and the records below */
	uint64_t host_pgsizes;     /* ddw.pgsizes of GET_INFO */
	uint32_t lopar_mask;       /* the page-size mask query reports */
	unsigned max_windows;      /* windows the host supports (at most TCEMU_PE_WINDOWS) */
	unsigned max_shift;        /* log2 of max_ram rounded up to a power of two */
	struct phb_window win[TCEMU_PE_WINDOWS];
};

static const struct {
	uint32_t shift, bit;
} lopar_pages[] = {
	{ 12, 0x1 }, { 16, 0x2 }, { 24, 0x4 }, { 25, 0x8 }, { 26, 0x10 },
	{ 27, 0x20 }, { 28, 0x40 }, { 34, 0x80 }, { 21, 0x100 },
};

static uint32_t lopar_bit(uint32_t shift)
{
	for (size_t i = 0; i < TCEMU_ARRAY_SIZE(lopar_pages); i++)
		if (lopar_pages[i].shift == shift)
			return lopar_pages[i].bit;
	return 0;
}

static uint32_t lopar_mask(uint64_t pgsizes)
{
	uint32_t mask = 0;

	for (size_t i = 0; i < TCEMU_ARRAY_SIZE(lopar_pages); i++)
		if (pgsizes & (1ull << lopar_pages[i].shift))
			mask |= lopar_pages[i].bit;
	return mask;
}

/* ---- host and guest windows ---- */

/* A host window (smallest levels that work); *start gets its bus address. */
static int host_window_create(struct tcemu_guest_phb *phb, uint32_t page_shift, uint64_t size, uint64_t *start)
{
	long rc = -EINVAL;

	for (uint32_t levels = 1; levels <= RTAS_MAX_LEVELS; levels++) {
		struct vfio_iommu_spapr_tce_create cr = {
			.argsz = sizeof(cr),
			.page_shift = page_shift,
			.window_size = size,
			.levels = levels,
		};

		rc = tcemu_host_ioctl(phb->h, phb->p.container_fd, VFIO_IOMMU_SPAPR_TCE_CREATE, &cr);
		if (rc == 0) {
			*start = cr.start_addr;
			return 0;
		}
		if (rc != -EINVAL && rc != -ENOMEM)
			break;
	}
	return (int)rc;
}

static int host_window_remove(struct tcemu_guest_phb *phb, uint64_t start)
{
	struct vfio_iommu_spapr_tce_remove rm = { .argsz = sizeof(rm), .start_addr = start };

	return (int)tcemu_host_ioctl(phb->h, phb->p.container_fd, VFIO_IOMMU_SPAPR_TCE_REMOVE, &rm);
}

static int slot_of(uint64_t start)
{
	if (start == 0)
		return 0;
	if (start == TCEMU_WINDOW1_START)
		return 1;
	return -1;
}

/* Windows the container has (present or pending), or a negative errno. */
static int host_windows_used(struct tcemu_guest_phb *phb)
{
	struct tcemu_container_info ci;
	int rc, n = 0;

	rc = tcemu_host_container_info(phb->h, phb->p.container_fd, &ci);
	if (rc)
		return rc;
	for (unsigned s = 0; s < TCEMU_PE_WINDOWS; s++)
		n += ci.windows[s].present || ci.windows[s].pending;
	return n;
}

/* The page backing guest RAM: the smallest page of the container owner's registered regions. */
static uint32_t backing_shift(struct tcemu_guest_phb *phb)
{
	uint32_t shift = tcemu_platform_page_shift(tcemu_host_platform(phb->h));
	struct tcemu_container_info ci;
	struct tcemu_region_info *ri;
	ssize_t n, got;

	if (tcemu_host_container_info(phb->h, phb->p.container_fd, &ci) || !ci.owner)
		return shift;
	n = tcemu_host_regions(phb->h, ci.owner, NULL, 0);
	if (n <= 0)
		return shift;
	ri = host_alloc(phb->h, (size_t)n * sizeof(*ri)); /* no memory: the fallback below, as for no region */
	if (!ri)
		return shift;
	got = tcemu_host_regions(phb->h, ci.owner, ri, (size_t)n);
	if (got > 0) {
		uint32_t min = 63;
		for (ssize_t i = 0; i < got && i < n; i++)
			if (ri[i].page_shift < min)
				min = ri[i].page_shift;
		shift = min;
	}
	free(ri);
	return shift;
}

/* The host page for a guest window of 2^gshift pages: 0 if the host has none small enough. */
static uint32_t host_page_shift(struct tcemu_guest_phb *phb, uint32_t gshift)
{
	uint32_t limit = tcemu_min_u64(gshift, backing_shift(phb));

	for (uint32_t s = limit + 1; s-- > 0;)
		if (s < 64 && (phb->host_pgsizes & (1ull << s)))
			return s;
	return 0;
}

/*
 * A window: host window (2^hshift pages, size bytes), guest window liobn over it (2^gshift
 * pages), linked. want_slot >= 0: the host must have placed it there. Records it in its slot.
 * Nothing is left on failure.
 */
static int window_add(struct tcemu_guest_phb *phb, uint32_t liobn_base, bool def, uint32_t gshift, uint32_t hshift,
		      uint64_t size, int want_slot, struct phb_window **out)
{
	uint64_t start = 0;
	uint32_t liobn;
	int rc, slot;

	rc = host_window_create(phb, hshift, size, &start);
	if (rc)
		return rc;
	slot = slot_of(start);
	if (slot < 0 || (want_slot >= 0 && slot != want_slot) || phb->win[slot].used) {
		rc = -EBUSY;
		goto remove_host;
	}
	liobn = def ? liobn_base : liobn_base + (uint32_t)slot;
	rc = tcemu_guest_create_window(phb->g, liobn, gshift, start >> gshift, size >> gshift);
	if (rc)
		goto remove_host;
	rc = tcemu_guest_link(phb->g, liobn, phb->p.container_fd);
	if (rc)
		goto remove_guest;
	phb->win[slot] = (struct phb_window){
		.used = true, .def = def, .liobn = liobn, .page_shift = gshift, .start = start, .size = size,
	};
	if (out)
		*out = &phb->win[slot];
	return 0;

remove_guest:
	tcemu_guest_remove_window(phb->g, liobn);
remove_host:
	host_window_remove(phb, start);
	return rc;
}

/* Removes a recorded window: the guest window (its link and what it mapped), then the host window. */
static int window_del(struct tcemu_guest_phb *phb, struct phb_window *w)
{
	int rc, rc2;

	rc = tcemu_guest_remove_window(phb->g, w->liobn);
	rc2 = host_window_remove(phb, w->start);
	memset(w, 0, sizeof(*w));
	return rc ? rc : rc2;
}

static int default_add(struct tcemu_guest_phb *phb)
{
	return window_add(phb, phb->p.default_liobn, true, 12, 12, phb->p.default_size, 0, NULL);
}

static bool default_present(const struct tcemu_guest_phb *phb)
{
	for (unsigned s = 0; s < TCEMU_PE_WINDOWS; s++)
		if (phb->win[s].used && phb->win[s].def)
			return true;
	return false;
}

static unsigned windows_count(const struct tcemu_guest_phb *phb)
{
	unsigned n = 0;

	for (unsigned s = 0; s < TCEMU_PE_WINDOWS; s++)
		n += phb->win[s].used;
	return n;
}

/* ---- the RTAS calls (phb->lock held) ---- */

static bool ids_match(const struct tcemu_guest_phb *phb, const uint32_t *in)
{
	return in[0] == phb->p.config_addr && (((uint64_t)in[1] << 32) | in[2]) == phb->p.buid;
}

static void rtas_query(struct tcemu_guest_phb *phb, const uint32_t *in, uint32_t *out, unsigned nout)
{
	uint64_t blocks = 1ull << (phb->max_shift - RTAS_TCE_SHIFT);
	unsigned i = 1;
	int used;

	memset(out, 0, nout * sizeof(*out));
	if (!ids_match(phb, in)) {
		out[0] = (uint32_t)TCEMU_RTAS_PARAMETER_ERROR;
		return;
	}
	used = host_windows_used(phb);
	if (used < 0) {
		out[0] = (uint32_t)TCEMU_RTAS_HARDWARE_ERROR;
		return;
	}
	out[0] = TCEMU_RTAS_SUCCESS;
	out[i++] = (unsigned)used < phb->max_windows ? phb->max_windows - (unsigned)used : 0;
	if (nout == 6) {
		out[i++] = (uint32_t)(blocks >> 32);
		out[i++] = (uint32_t)blocks;
	} else {
		out[i++] = blocks > UINT32_MAX ? UINT32_MAX : (uint32_t)blocks;
	}
	out[i++] = phb->lopar_mask;
	out[i] = 0; /* migration */
}

static int32_t rtas_create(struct tcemu_guest_phb *phb, const uint32_t *in, uint32_t *out)
{
	uint32_t page_shift = in[3], window_shift = in[4], hshift;
	struct phb_window *w;
	int used;

	if (!ids_match(phb, in))
		return TCEMU_RTAS_PARAMETER_ERROR;
	if (page_shift >= 64 || !(lopar_bit(page_shift) & phb->lopar_mask))
		return TCEMU_RTAS_PARAMETER_ERROR;
	if (window_shift < page_shift || window_shift > phb->max_shift)
		return TCEMU_RTAS_PARAMETER_ERROR;
	used = host_windows_used(phb);
	if (used < 0 || (unsigned)used >= phb->max_windows)
		return TCEMU_RTAS_HARDWARE_ERROR;
	hshift = host_page_shift(phb, page_shift);
	if (!hshift)
		return TCEMU_RTAS_HARDWARE_ERROR;
	if (window_add(phb, phb->p.ddw_liobn_base, false, page_shift, hshift, 1ull << window_shift, -1, &w))
		return TCEMU_RTAS_HARDWARE_ERROR;
	out[1] = w->liobn;
	out[2] = (uint32_t)(w->start >> 32);
	out[3] = (uint32_t)w->start;
	return TCEMU_RTAS_SUCCESS;
}

static int32_t rtas_remove(struct tcemu_guest_phb *phb, uint32_t liobn)
{
	struct phb_window *w = NULL;
	int32_t status = TCEMU_RTAS_SUCCESS;
	bool was_default;

	for (unsigned s = 0; s < TCEMU_PE_WINDOWS; s++)
		if (phb->win[s].used && phb->win[s].liobn == liobn)
			w = &phb->win[s];
	if (!w)
		return TCEMU_RTAS_PARAMETER_ERROR;
	was_default = w->def;
	if (window_del(phb, w))
		status = TCEMU_RTAS_HARDWARE_ERROR;
	if (!was_default && windows_count(phb) == 0 && default_add(phb))
		status = TCEMU_RTAS_HARDWARE_ERROR;
	return status;
}

static int32_t rtas_reset(struct tcemu_guest_phb *phb, const uint32_t *in)
{
	int32_t status = TCEMU_RTAS_SUCCESS;

	if (!ids_match(phb, in))
		return TCEMU_RTAS_PARAMETER_ERROR;
	for (unsigned s = 0; s < TCEMU_PE_WINDOWS; s++)
		if (phb->win[s].used && !phb->win[s].def && window_del(phb, &phb->win[s]))
			status = TCEMU_RTAS_HARDWARE_ERROR;
	if (!default_present(phb) && default_add(phb))
		status = TCEMU_RTAS_HARDWARE_ERROR;
	return status;
}

TCEMU_EXPORT int tcemu_rtas_call(struct tcemu_guest_phb *phb, const char *name, const uint32_t *in, unsigned nin,
				 uint32_t *out, unsigned nout)
{
	enum { QUERY, CREATE, REMOVE, RESET } call;

	if (!phb || !name || !in || !out)
		return -EINVAL;
	if (strcmp(name, "ibm,query-pe-dma-window") == 0 && nin == 3 && (nout == 5 || nout == 6))
		call = QUERY;
	else if (strcmp(name, "ibm,create-pe-dma-window") == 0 && nin == 5 && nout == 4)
		call = CREATE;
	else if (strcmp(name, "ibm,remove-pe-dma-window") == 0 && nin == 1 && nout == 1)
		call = REMOVE;
	else if (strcmp(name, "ibm,reset-pe-dma-windows") == 0 && nin == 3 && nout == 1)
		call = RESET;
	else
		return -EINVAL;

	pthread_mutex_lock(&phb->lock);
	switch (call) {
	case QUERY:
		rtas_query(phb, in, out, nout);
		break;
	case CREATE:
		memset(out, 0, nout * sizeof(*out));
		out[0] = (uint32_t)rtas_create(phb, in, out);
		break;
	case REMOVE:
		out[0] = (uint32_t)rtas_remove(phb, in[0]);
		break;
	case RESET:
		out[0] = (uint32_t)rtas_reset(phb, in);
		break;
	}
	pthread_mutex_unlock(&phb->lock);
	return 0;
}

TCEMU_EXPORT unsigned tcemu_guest_phb_windows(struct tcemu_guest_phb *phb, struct tcemu_guest_phb_window *out)
{
	unsigned n = 0;

	if (!phb)
		return 0;
	pthread_mutex_lock(&phb->lock);
	for (unsigned s = 0; s < TCEMU_PE_WINDOWS; s++) {
		const struct phb_window *w = &phb->win[s];
		if (!w->used)
			continue;
		if (out)
			out[n] = (struct tcemu_guest_phb_window){
				.liobn = w->liobn, .page_shift = w->page_shift, .start = w->start, .size = w->size,
				.default_window = w->def,
			};
		n++;
	}
	pthread_mutex_unlock(&phb->lock);
	return n;
}

/* ---- life ---- */

static int params_check(const struct tcemu_guest_phb_params *p)
{
	if (!TCEMU_IS_POW2(p->default_size) || p->default_size < (1ull << 12) || p->default_size > TCEMU_WINDOW1_START)
		return -EINVAL;
	if (p->max_ram < (1ull << RTAS_TCE_SHIFT) || p->max_ram > (1ull << 63))
		return -EINVAL;
	if (p->ddw_liobn_base == UINT32_MAX || p->default_liobn == p->ddw_liobn_base + 1)
		return -EINVAL;
	return 0;
}

/* What window 0 of the container was before the PHB took it over. */
struct old_window0 {
	bool had;
	uint32_t page_shift, levels;
	uint64_t size;
};

static int take_window0(struct tcemu_guest_phb *phb, const struct tcemu_container_info *ci, uint32_t dma32_size,
			struct old_window0 *old)
{
	const struct tcemu_window_info *w0 = &ci->windows[0];

	memset(old, 0, sizeof(*old));
	if (!w0->present && !w0->pending)
		return 0;
	old->had = true;
	old->page_shift = w0->present ? w0->page_shift : 12;
	old->size = w0->present ? w0->size : dma32_size;
	old->levels = w0->present ? w0->levels : 1;
	return host_window_remove(phb, 0);
}

static void give_back_window0(struct tcemu_guest_phb *phb, const struct old_window0 *old)
{
	struct vfio_iommu_spapr_tce_create cr = {
		.argsz = sizeof(cr), .page_shift = old->page_shift, .window_size = old->size, .levels = old->levels,
	};

	if (old->had)
		tcemu_host_ioctl(phb->h, phb->p.container_fd, VFIO_IOMMU_SPAPR_TCE_CREATE, &cr);
}

TCEMU_EXPORT int tcemu_guest_phb_create(struct tcemu_guest *g, const struct tcemu_guest_phb_params *p,
					struct tcemu_guest_phb **out)
{
	struct vfio_iommu_spapr_tce_info info = { .argsz = sizeof(info) };
	struct tcemu_container_info ci;
	struct tcemu_guest_phb *phb;
	struct old_window0 old;
	long lrc;
	int rc;

	if (!g || !p || !out)
		return -EINVAL;
	rc = params_check(p);
	if (rc)
		return rc;
	phb = host_alloc(guest_host(g), sizeof(*phb));
	if (!phb)
		return -ENOMEM;
	phb->g = g;
	phb->h = guest_host(g);
	phb->p = *p;
	if (pthread_mutex_init(&phb->lock, NULL)) {
		rc = -ENOMEM;
		goto free_phb;
	}
	rc = tcemu_host_container_info(phb->h, p->container_fd, &ci);
	if (rc)
		goto destroy_lock;
	if (ci.type != VFIO_SPAPR_TCE_v2_IOMMU || ci.ngroups == 0) {
		rc = -EINVAL;
		goto destroy_lock;
	}
	lrc = tcemu_host_ioctl(phb->h, p->container_fd, VFIO_IOMMU_SPAPR_TCE_GET_INFO, &info);
	if (lrc) {
		rc = (int)lrc;
		goto destroy_lock;
	}
	if (!(info.flags & VFIO_IOMMU_SPAPR_INFO_DDW) || !(info.ddw.pgsizes & (1ull << 12))) {
		rc = -EINVAL;
		goto destroy_lock;
	}
	phb->host_pgsizes = info.ddw.pgsizes;
	phb->lopar_mask = lopar_mask(info.ddw.pgsizes);
	phb->max_windows = (unsigned)tcemu_min_u64(info.ddw.max_dynamic_windows_supported, TCEMU_PE_WINDOWS);
	phb->max_shift = tcemu_log2_u64(p->max_ram);
	if (!TCEMU_IS_POW2(p->max_ram))
		phb->max_shift++;

	rc = take_window0(phb, &ci, info.dma32_window_size, &old);
	if (rc)
		goto destroy_lock;
	rc = default_add(phb);
	if (rc)
		goto restore_window0;
	*out = phb;
	return 0;

restore_window0:
	give_back_window0(phb, &old);
destroy_lock:
	pthread_mutex_destroy(&phb->lock);
free_phb:
	free(phb);
	return rc;
}

TCEMU_EXPORT void tcemu_guest_phb_destroy(struct tcemu_guest_phb *phb)
{
	if (!phb)
		return;
	pthread_mutex_lock(&phb->lock);
	for (unsigned s = 0; s < TCEMU_PE_WINDOWS; s++)
		if (phb->win[s].used)
			window_del(phb, &phb->win[s]);
	pthread_mutex_unlock(&phb->lock);
	pthread_mutex_destroy(&phb->lock);
	free(phb);
}
