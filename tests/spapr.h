/* SPDX-License-Identifier: MIT */
/*
 * What the sPAPR TCE backend conformance programs (test_spapr_*.c) share: constants of
 * ../shared/spec/vfio-spapr-abi.md, ioctl wrappers on a struct fx_vfio (fixture.h: one container
 * with one group, on a host destroyed when the test ends) and introspection helpers. The tests
 * check the backend (v1 and v2) against the spec, one topic per program:
 *
 *   test_spapr_args.c      the generic ioctl rules (section 1) and the mode rules (section 3)
 *   test_spapr_order.c     every ioctl's checks in order (section 4)
 *   test_spapr_v1_v2.c     v1 against v2: enable, accounting, one group (section 5)
 *   test_spapr_prereg.c    pre-registration (section 6)
 *   test_spapr_windows.c   the default window (section 7), window geometry, create and remove
 *   test_spapr_map.c       map and unmap: entries, replacement; GET_INFO
 *   test_spapr_kernel.c    the differences from the kernel (section 10); everything returns to zero
 *   test_spapr_teardown.c  many regions, their teardown, the memory checks behind REGISTER
 *
 * Check-order tests violate two rules at once and assert that the earlier rule wins. When both
 * rules give the same errno, the test asserts a side effect that only the earlier rule leaves
 * (for example the default window still pending because the call stopped before building it).
 *
 * Only the calling process is involved: fork/EPERM, several groups, devices and EEH are tested
 * in test_vfio_core.c.
 */
#ifndef TCEMU_TESTS_SPAPR_H
#define TCEMU_TESTS_SPAPR_H

#include <errno.h>
#include <fcntl.h>
#include <linux/vfio.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <tcemu/host.h>
#include <tcemu/platform.h>
#include <tcemu/table.h>

#include "fixture.h"
#include "harness.h"

#define KiB (1ull << 10)
#define MiB (1ull << 20)
#define GiB (1ull << 30)
#define W1 0x0800000000000000ull /* slot 1 start, bit 59 */
#define TR 0x1ull                 /* TCE READ */
#define TW 0x2ull                 /* TCE WRITE */
#define V1 VFIO_SPAPR_TCE_IOMMU
#define V2 VFIO_SPAPR_TCE_v2_IOMMU
#define PGS_IODA3 ((1ull << 12) | (1ull << 16) | (1ull << 21) | (1ull << 30))
#define PGS_IODA2 ((1ull << 12) | (1ull << 16) | (1ull << 24) | (1ull << 28))
#define DEF_ACCT (8 * MiB) /* 2 GiB of 4 KiB pages, one level: 4 MiB table, twice */

/* fx_vfio_attach on a new host (fx_host_new) with options o, or fx_host_opts() with this locked
 * memory limit or this topology. */
long fx_open_opts(struct fx_vfio *f, const struct tcemu_host_opts *o, unsigned group, int type);
long fx_open_limit(struct fx_vfio *f, uint64_t limit, unsigned group, int type);
long fx_open_topo(struct fx_vfio *f, const char *topo, unsigned group, int type);
/* A v2 container on group 0 with 1 MiB registered at *mem (enabled, owner recorded). */
long fx_v2_ready(struct fx_vfio *f, uint8_t **mem);
/* A v1 container on group 0, enabled. */
long fx_v1_ready(struct fx_vfio *f);

/* ioctls on the container f->c; each returns the ioctl's result */
long ioc(struct fx_vfio *f, unsigned long cmd, void *arg);
long reg(struct fx_vfio *f, const void *va, uint64_t size);
long unreg(struct fx_vfio *f, const void *va, uint64_t size);
long map(struct fx_vfio *f, const void *va, uint64_t iova, uint64_t size, uint32_t flags);
long map_rw(struct fx_vfio *f, const void *va, uint64_t iova, uint64_t size);
long unmap(struct fx_vfio *f, uint64_t iova, uint64_t size);
/* TCE_CREATE (start_addr poisoned on input); *start gets the window's start */
long create(struct fx_vfio *f, uint32_t ps, uint64_t ws, uint32_t levels, uint64_t *start);
long remove_win(struct fx_vfio *f, uint64_t start);
long enable(struct fx_vfio *f);

/* introspection: the container's info (all 0xee on error), this process's locked bytes and regions */
struct tcemu_container_info cinfo(struct fx_vfio *f);
uint64_t locked(struct tcemu_host *h);
ssize_t nregions(struct tcemu_host *h);
/* The region starting at ua, or a zeroed one (size 0) if there is none. */
struct tcemu_region_info region_at(struct tcemu_host *h, const void *ua);
/* The entry at iova (0 when unset or on error); *ua gets its user address. */
uint64_t tce_at(struct fx_vfio *f, uint64_t iova, uint64_t *ua);
/*
 * After a call that failed once it had built the pending default window, the window is either
 * kept (present, charged) or put back (pending, not charged): never half of each.
 */
bool default_window_consistent(struct fx_vfio *f, uint64_t other_locked);
/* The boot-time default window: 4 KiB pages, one level, at 0, of this size. */
bool is_default_window(const struct tcemu_window_info *w, uint64_t size);
/* v1 has no table of user addresses: the user address behind the entry at iova (0: none). */
uint64_t v1_ua_of(struct fx_vfio *f, uint64_t iova);
/* Nothing left charged, registered or mapped anywhere in the host. */
bool host_is_clean(struct tcemu_host *h);

/* Anonymous read-write memory aligned to 2 MiB, never freed. */
uint8_t *umem(uint64_t size);

#endif
