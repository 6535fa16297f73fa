/* SPDX-License-Identifier: MIT */
/*
 * The DPDK 22.11 client: a real EAL (rte_eal_init) driving the emulated /dev/vfio through
 * libtcemu-preload.so (run it with `tcemu exec -- dpdk_client <EAL args>`), inspected through
 * tcemu_preload_host().
 *
 * What it checks: rte_vfio_setup_device on the emulated group, the sPAPR v2 default container DPDK
 * builds (one window at bus 0, 4 KiB pages, sized to the next power of two above the highest iova
 * EAL maps, one entry and one pre-registered region per memseg, iova == vaddr), a user DMA map
 * and DPDK's rte_vfio_container_dma_unmap defect (the map struct sent as UNMAP_DMA: the backend
 * clears [0, iova) and the unregister of the user range is refused), which tcemu must record as a
 * client defect.
 *
 * Usage: dpdk_client <EAL args>, e.g.
 *   --no-huge -m 64 --no-pci --no-shconf -l 0 --iova-mode=va --no-telemetry
 * The device is 0000:01:00.0 under $TCEMU_SYSFS_PCI_DEVICES. Prints one line per check and closes
 * with "N passed, N failed"; exit status 0 only if everything passed.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/vfio.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_memory.h>
#include <rte_vfio.h>

#include <tcemu/host.h>
#include <tcemu/preload.h>

#include "client_check.h"

#define DEV_BDF "0000:01:00.0"
#define USER_LEN (2ull << 20)

static uint64_t pow2_ceil(uint64_t v)
{
	uint64_t p = 1;

	while (p < v)
		p <<= 1;
	return p;
}

/* ---- memseg walks ---- */

struct seg_stats {
	uint64_t count;
	uint64_t max_end;      /* max(iova + len) over the memsegs */
	uint64_t min_iova;
	uint64_t page_len;     /* the length of every memseg, 0 if they differ */
	uint64_t msl_max_end;  /* max(base_va + len) over the memseg lists holding them */
	uint64_t not_va;       /* memsegs whose iova != vaddr */
	uint64_t external;
};

static int seg_stats_fn(const struct rte_memseg_list *msl, const struct rte_memseg *ms, void *arg)
{
	struct seg_stats *s = arg;
	uint64_t end = ms->iova + ms->len;
	uint64_t msl_end = (uint64_t)(uintptr_t)msl->base_va + msl->len;

	if (msl->external) {
		s->external++;
		return 0;
	}
	if (s->count == 0) {
		s->page_len = ms->len;
		s->min_iova = ms->iova;
	} else if (s->page_len != ms->len) {
		s->page_len = 0;
	}
	if (ms->iova < s->min_iova)
		s->min_iova = ms->iova;
	s->count++;
	if (end > s->max_end)
		s->max_end = end;
	if (msl_end > s->msl_max_end)
		s->msl_max_end = msl_end;
	if (ms->iova != (uint64_t)(uintptr_t)ms->addr)
		s->not_va++;
	return 0;
}

/* Every memseg's entries: valid (want_valid) with ua == vaddr and R|W, or all invalid. */
struct seg_entries {
	struct tcemu_host *h;
	int cfd;
	bool want_valid;
	uint64_t good, bad, errors;
	uint64_t first_bad_iova;
	uint64_t first_bad_tce, first_bad_ua;
	int first_err;
};

static int seg_entries_fn(const struct rte_memseg_list *msl, const struct rte_memseg *ms, void *arg)
{
	struct seg_entries *e = arg;

	if (msl->external)
		return 0;
	for (uint64_t off = 0; off < ms->len; off += 4096) {
		uint64_t tce = 0, ua = 0, iova = ms->iova + off;
		int rc = tcemu_host_container_entry(e->h, e->cfd, iova, &tce, &ua);
		bool ok;

		if (rc < 0) {
			if (!e->errors++)
				e->first_err = rc, e->first_bad_iova = iova;
			continue;
		}
		if (e->want_valid)
			ok = (tce & 3) == 3 && ua == (uint64_t)(uintptr_t)ms->addr + off &&
			     ms->iova == (uint64_t)(uintptr_t)ms->addr;
		else
			ok = (tce & 3) == 0;
		if (ok) {
			e->good++;
		} else if (!e->bad++) {
			e->first_bad_iova = iova;
			e->first_bad_tce = tce;
			e->first_bad_ua = ua;
		}
	}
	return 0;
}

static void check_seg_entries(struct tcemu_host *h, int cfd, bool want_valid, uint64_t expect, const char *what)
{
	struct seg_entries e = { .h = h, .cfd = cfd, .want_valid = want_valid };

	rte_memseg_walk(seg_entries_fn, &e);
	if (e.errors)
		printf("  first entry read error: iova 0x%" PRIx64 ": %s\n", e.first_bad_iova, strerror(-e.first_err));
	if (e.bad)
		printf("  first wrong entry: iova 0x%" PRIx64 " tce 0x%" PRIx64 " ua 0x%" PRIx64 "\n",
		       e.first_bad_iova, e.first_bad_tce, e.first_bad_ua);
	check(e.good == expect && !e.bad && !e.errors,
	      "%s: %" PRIu64 " of %" PRIu64 " EAL memseg pages as expected (%" PRIu64 " wrong, %" PRIu64
	      " unreadable)",
	      what, e.good, expect, e.bad, e.errors);
}

/* The entries of [iova, iova + len): how many map ua == va + offset with R|W, how many are invalid. */
static void range_entries(struct tcemu_host *h, int cfd, uint64_t iova, uint64_t va, uint64_t len, uint64_t *good,
			  uint64_t *invalid)
{
	*good = *invalid = 0;
	for (uint64_t off = 0; off < len; off += 4096) {
		uint64_t tce = 0, ua = 0;

		if (tcemu_host_container_entry(h, cfd, iova + off, &tce, &ua) < 0)
			continue;
		if ((tce & 3) == 3 && ua == va + off)
			(*good)++;
		else if ((tce & 3) == 0)
			(*invalid)++;
	}
}

static int find_container(struct tcemu_host *h, int *count)
{
	int found = -1;

	*count = 0;
	for (int fd = 0; fd < 1024; fd++) {
		if (tcemu_host_fd_kind(h, fd) == TCEMU_FD_CONTAINER) {
			if (found < 0)
				found = fd;
			(*count)++;
		}
	}
	return found;
}

static uint64_t window_entries(struct tcemu_host *h, int cfd)
{
	struct tcemu_container_info ci;

	if (tcemu_host_container_info(h, cfd, &ci) < 0)
		return UINT64_MAX;
	return ci.windows[0].valid_entries;
}

int main(int argc, char **argv)
{
	struct vfio_device_info info;
	struct tcemu_container_info ci;
	struct seg_stats ss = { 0 };
	struct tcemu_host *h;
	const char *sysfs;
	int ret, devfd = -1, cfd, ncont;
	bool dev_ok;

	setvbuf(stdout, NULL, _IOLBF, 0);
	h = tcemu_preload_host ? tcemu_preload_host() : NULL;
	if (!check(h != NULL, "running under libtcemu-preload.so (tcemu_preload_host() != NULL)")) {
		fprintf(stderr, "dpdk_client: not running under the tcemu shim: run it with `tcemu exec -- %s ...`\n",
			argv[0]);
		return client_finish();
	}
	sysfs = getenv("TCEMU_SYSFS_PCI_DEVICES");
	if (!check(sysfs && *sysfs, "TCEMU_SYSFS_PCI_DEVICES is set (%s)", sysfs ? sysfs : "unset")) {
		fprintf(stderr, "dpdk_client: TCEMU_SYSFS_PCI_DEVICES is not set: run it with `tcemu exec`\n");
		return client_finish();
	}

	ret = rte_eal_init(argc, argv);
	if (!check(ret >= 0, "rte_eal_init: %d (%s)", ret, ret < 0 ? rte_strerror(rte_errno) : "ok"))
		return client_finish();
	check(rte_vfio_is_enabled("vfio") == 1, "EAL found VFIO (rte_vfio_is_enabled(\"vfio\"))");

	/* ---- the device: group, container, v2, default window, EAL memory mapped ---- */
	memset(&info, 0, sizeof(info));
	info.argsz = sizeof(info); /* DPDK passes the caller's struct to DEVICE_GET_INFO as is */
	ret = rte_vfio_setup_device(sysfs, DEV_BDF, &devfd, &info);
	dev_ok = check(ret == 0 && devfd >= 0, "rte_vfio_setup_device(%s, " DEV_BDF "): %d, device fd %d", sysfs, ret,
		       devfd);
	if (!dev_ok) {
		rte_eal_cleanup();
		return client_finish();
	}
	check(info.num_regions >= 8, "device: num_regions %u >= 8", info.num_regions);
	check(info.num_irqs >= 3, "device: num_irqs %u >= 3", info.num_irqs);
	check(tcemu_host_fd_kind(h, devfd) == TCEMU_FD_DEVICE, "fd %d is an emulated device", devfd);

	cfd = find_container(h, &ncont);
	if (!check(cfd >= 0 && ncont == 1, "exactly one emulated container (DPDK's default): %d found, fd %d", ncont,
		   cfd))
		goto release;

	rte_memseg_walk(seg_stats_fn, &ss);
	printf("memsegs: %" PRIu64 "\n", ss.count);
	printf("  memseg iova range [0x%" PRIx64 ", 0x%" PRIx64 "), segment length 0x%" PRIx64
	       ", memseg lists end at 0x%" PRIx64 ", %" PRIu64 " external\n",
	       ss.min_iova, ss.max_end, ss.page_len, ss.msl_max_end, ss.external);
	check(ss.count > 0, "EAL has memsegs (%" PRIu64 ")", ss.count);
	check(ss.page_len == 4096, "every memseg is 4 KiB (--no-huge): length 0x%" PRIx64, ss.page_len);
	check(ss.not_va == 0, "iova == vaddr for every memseg (VA mode): %" PRIu64 " differ", ss.not_va);

	memset(&ci, 0, sizeof(ci));
	ret = tcemu_host_container_info(h, cfd, &ci);
	if (!check(ret == 0, "tcemu_host_container_info(fd %d): %d", cfd, ret))
		goto release;
	check(ci.type == VFIO_SPAPR_TCE_v2_IOMMU, "container type %d == 7 (sPAPR TCE v2)", ci.type);
	check(ci.owner == getpid(), "container owner %d == this process %d", (int)ci.owner, (int)getpid());
	check(ci.ngroups == 1, "container has 1 group (%zu)", ci.ngroups);
	{
		const struct tcemu_window_info *w = &ci.windows[0];
		uint64_t want_size = pow2_ceil(ss.max_end);

		printf("window 0: present %d start 0x%" PRIx64 " size 0x%" PRIx64 " page_shift %u levels %u valid %" PRIu64
		       " accounted 0x%" PRIx64 " allocated 0x%" PRIx64 "\n",
		       w->present, w->start, w->size, w->page_shift, w->levels, w->valid_entries, w->accounted_bytes,
		       w->allocated_bytes);
		check(w->present, "window 0 present");
		check(w->start == 0, "window 0 starts at bus 0 (0x%" PRIx64 ")", w->start);
		check(w->page_shift == 12, "window 0 page_shift %u == 12 (4 KiB with --no-huge)", w->page_shift);
		check(w->size == want_size,
		      "window 0 size 0x%" PRIx64 " == next power of two above the highest EAL iova 0x%" PRIx64
		      " (0x%" PRIx64 ")",
		      w->size, ss.max_end, want_size);
		check(w->levels >= 1, "window 0 levels: %u (what DPDK's 1..ddw.levels loop ended with)", w->levels);
		check(w->valid_entries == ss.count, "window 0 valid entries %" PRIu64 " == memsegs %" PRIu64,
		      w->valid_entries, ss.count);
		check(!ci.windows[1].present, "window 1 absent");
	}
	check_seg_entries(h, cfd, true, ss.count, "entries after EAL setup (ua == vaddr, R|W, iova == vaddr)");
	{
		ssize_t nreg = tcemu_host_regions(h, getpid(), NULL, 0);

		check(nreg >= 0 && (uint64_t)nreg == ss.count,
		      "pre-registered regions %zd == memsegs %" PRIu64 " (DPDK registers each)", nreg, ss.count);
		check(ci.nregions == ss.count, "container references %zu regions == memsegs %" PRIu64, ci.nregions,
		      ss.count);
	}

	/* ---- a user map, mapped twice, then DPDK's defective unmap ---- */
	{
		uint64_t wsize = ci.windows[0].size;
		uint64_t iova = (wsize - (4ull << 20)) & ~((2ull << 20) - 1);
		uint64_t good, invalid, before, after;
		void *mem = mmap(NULL, USER_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		uint64_t va = (uint64_t)(uintptr_t)mem;
		size_t ndef0, ndef;
		bool named = false;

		if (!check(mem != MAP_FAILED, "mmap %llu bytes for a user map", (unsigned long long)USER_LEN))
			goto release;
		memset(mem, 0x5a, USER_LEN);
		if (!check(wsize > (4ull << 20) && iova >= ss.max_end && iova + USER_LEN <= wsize,
			   "user iova 0x%" PRIx64 " lies in the window [0, 0x%" PRIx64 ") above every memseg (end 0x%" PRIx64
			   ")",
			   iova, wsize, ss.max_end)) {
			munmap(mem, USER_LEN);
			goto release;
		}
		before = window_entries(h, cfd);
		ret = rte_vfio_container_dma_map(RTE_VFIO_DEFAULT_CONTAINER_FD, va, iova, USER_LEN);
		check(ret == 0, "rte_vfio_container_dma_map(va 0x%" PRIx64 ", iova 0x%" PRIx64 ", 0x%llx): %d", va, iova,
		      (unsigned long long)USER_LEN, ret);
		range_entries(h, cfd, iova, va, USER_LEN, &good, &invalid);
		check(good == USER_LEN / 4096, "user map: %" PRIu64 " of %llu entries at iova map ua == va, R|W", good,
		      USER_LEN / 4096);
		after = window_entries(h, cfd);
		check(after == before + USER_LEN / 4096, "window 0 valid entries %" PRIu64 " -> %" PRIu64 " (+%llu)", before,
		      after, USER_LEN / 4096);
		{
			ssize_t nreg = tcemu_host_regions(h, getpid(), NULL, 0);

			check(nreg >= 0 && (uint64_t)nreg == ss.count + 1, "regions after the user map: %zd == memsegs + 1",
			      nreg);
		}

		ret = rte_vfio_container_dma_map(RTE_VFIO_DEFAULT_CONTAINER_FD, va, iova, USER_LEN);
		check(ret < 0, "mapping the same memory again fails: %d", ret);
		range_entries(h, cfd, iova, va, USER_LEN, &good, &invalid);
		check(good == USER_LEN / 4096, "user map intact after the refused second map (%" PRIu64 " entries)", good);

		ndef0 = tcemu_host_defect_count(h);
		ret = rte_vfio_container_dma_unmap(RTE_VFIO_DEFAULT_CONTAINER_FD, va, iova, USER_LEN);
		/*
		 * DPDK 22.11 sends UNMAP_DMA with the map struct: the backend reads iova 0 and size = iova,
		 * clears [0, iova) (all of EAL's memory) and keeps the user mapping; UNREGISTER of the user
		 * range is then refused (EBUSY) and DPDK reports a failure.
		 */
		check(ret < 0, "rte_vfio_container_dma_unmap fails (the unregister is refused: still mapped): %d", ret);
		range_entries(h, cfd, iova, va, USER_LEN, &good, &invalid);
		check(good == USER_LEN / 4096,
		      "DPDK defect: the user mapping at iova 0x%" PRIx64 " is STILL mapped after the unmap (%" PRIu64
		      " of %llu entries)",
		      iova, good, USER_LEN / 4096);
		check_seg_entries(h, cfd, false, ss.count,
				  "DPDK defect: the bogus UNMAP_DMA(0, iova) cleared the EAL memsegs below iova");
		after = window_entries(h, cfd);
		check(after == USER_LEN / 4096,
		      "window 0 valid entries now %" PRIu64 " == the user map's %llu (EAL's %" PRIu64 " dropped)", after,
		      USER_LEN / 4096, ss.count);
		{
			ssize_t nreg = tcemu_host_regions(h, getpid(), NULL, 0);

			check(nreg >= 0 && (uint64_t)nreg == ss.count + 1,
			      "the user region is still registered (unregister refused): %zd regions", nreg);
		}
		ndef = tcemu_host_defect_count(h);
		check(ndef > ndef0 && ndef > 0, "defects recorded: %zu (%zu before the unmap)", ndef, ndef0);
		for (size_t i = 0; i < ndef; i++) {
			char msg[1024];

			if (tcemu_host_defect(h, i, msg, sizeof(msg)) < 0)
				break;
			if (i >= ndef0)
				printf("  defect %zu: %s\n", i, msg);
			if (strstr(msg, "rte_vfio_container_dma_unmap"))
				named = true;
		}
		check(named, "a defect message names rte_vfio_container_dma_unmap");
		/* The memory stays mapped by the device: do not unmap it from the process. */
	}

release:
	ret = rte_vfio_release_device(sysfs, DEV_BDF, devfd);
	check(ret == 0, "rte_vfio_release_device: %d", ret);
	ret = rte_eal_cleanup();
	check(ret == 0, "rte_eal_cleanup: %d", ret);
	return client_finish();
}
