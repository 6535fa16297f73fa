/* SPDX-License-Identifier: MIT */
/*
 * The guest side: a PAPR guest's DMA windows (LIOBNs) and its TCE hypercalls, accelerated by
 * linking guest windows to the windows of sPAPR v2 VFIO containers, as KVM does.
 *
 * A guest has a memory map (guest physical ranges backed by process memory, which the VMM has
 * registered with its v2 containers) and guest-view windows {liobn, page_shift, offset, size}: the
 * guest's own TCE tables, holding raw guest TCEs (guest physical address | permissions).
 *
 * Hypercalls run on one of three paths:
 *  - fast: the in-kernel acceleration. On a window linked to containers it validates the call,
 *    translates guest physical -> process address -> host physical through the registered region,
 *    writes 2^(guest page shift - host page shift) hardware entries per guest TCE in every linked
 *    table, invalidates once per call and updates the guest view last. What it cannot do returns
 *    TCEMU_H_TOO_HARD (never seen by a guest) with the hardware entries of the failing TCE cleared
 *    and the guest view unchanged; an unknown or unlinked LIOBN is TCEMU_H_TOO_HARD too.
 *  - slow: what a VMM does without acceleration (QEMU under TCG): update the guest view, then
 *    MAP_DMA/UNMAP_DMA on each linked container. It produces exactly the same hardware tables.
 *  - tcemu_guest_hcall: the fast path, falling back to the slow path on TCEMU_H_TOO_HARD, as KVM
 *    returns to the VMM. This is what a guest sees.
 * docs/guest.md lists where tcemu follows LoPAR, KVM or QEMU when they differ.
 *
 * Thread safety: hypercalls on different LIOBNs run in parallel; calls on one LIOBN are serialized
 * by that window's lock (as a vCPU's hcall is atomic to the guest). Window creation, removal and
 * linking take the guest's lock; hypercalls do not (they read published snapshots, and what a
 * hypercall may still read is kept until tcemu_guest_destroy: docs/guest.md). On the fast path a
 * hypercall takes no container or process lock either while none is held exclusive (the guest
 * gate: docs/architecture.md). Destroy a guest before its host.
 */
#ifndef TCEMU_GUEST_H
#define TCEMU_GUEST_H

#include <tcemu/common.h>
#include <tcemu/host.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Hypercall opcodes. */
#define TCEMU_H_GET_TCE 0x1C
#define TCEMU_H_PUT_TCE 0x20
#define TCEMU_H_STUFF_TCE 0x138
#define TCEMU_H_PUT_TCE_INDIRECT 0x13C

/* Return codes. */
#define TCEMU_H_SUCCESS 0
#define TCEMU_H_PARTIAL 5
#define TCEMU_H_HARDWARE (-1)
#define TCEMU_H_FUNCTION (-2)
#define TCEMU_H_PARAMETER (-4)
#define TCEMU_H_NOT_ENOUGH_RESOURCES (-44)
#define TCEMU_H_RESCINDED (-46)
#define TCEMU_H_P4 (-57)
#define TCEMU_H_TOO_HARD 9999 /* fast path only: "let the VMM do it" */

#define TCEMU_TCE_LIST_MAX 512 /* H_PUT_TCE_INDIRECT entries per call */

struct tcemu_guest;

/* A guest of host h. -ENOMEM. */
TCEMU_EXPORT int tcemu_guest_create(struct tcemu_host *h, struct tcemu_guest **out);
/* Unlinks and removes every window (clearing what the fast path mapped) and frees the guest. */
TCEMU_EXPORT void tcemu_guest_destroy(struct tcemu_guest *g);

/*
 * Guest RAM: [gpa, gpa + size) is backed by process memory at hva. Page aligned (system page),
 * size > 0, no overlap with other RAM: else -EINVAL.
 */
TCEMU_EXPORT int tcemu_guest_add_ram(struct tcemu_guest *g, uint64_t gpa, uint64_t size, void *hva);
/* The process address behind guest physical address gpa, with len bytes from there all RAM; NULL if not. */
TCEMU_EXPORT void *tcemu_guest_gpa_to_hva(struct tcemu_guest *g, uint64_t gpa, uint64_t len);

/*
 * A guest-view window (KVM_CREATE_SPAPR_TCE_64): bus addresses [offset << page_shift,
 * (offset + size) << page_shift). -EINVAL: size 0, page_shift outside 12..34, or the window
 * overflows 64 bits; -EBUSY: the LIOBN exists; -ENOMEM: its table cannot be charged to locked memory.
 * The guest view allocates its levels on demand and is charged (8 bytes per TCE, in system pages)
 * to the calling process's locked memory.
 */
TCEMU_EXPORT int tcemu_guest_create_window(struct tcemu_guest *g, uint32_t liobn, uint32_t page_shift,
					   uint64_t offset, uint64_t size);
/* Removes a window: its links go, the hardware entries it mapped are cleared. -ENOENT. */
TCEMU_EXPORT int tcemu_guest_remove_window(struct tcemu_guest *g, uint32_t liobn);

/*
 * Links a window to the container behind descriptor container_fd (KVM_DEV_VFIO_GROUP_SET_SPAPR_TCE):
 * allowed only for a v2 container with a window at the same bus start, a page size no larger
 * than the guest's, and a size no smaller than the guest window's: else -EINVAL (-EBADF, -ENOENT
 * for an unknown LIOBN). Linking again the same pair takes another reference.
 */
TCEMU_EXPORT int tcemu_guest_link(struct tcemu_guest *g, uint32_t liobn, int container_fd);
/* Drops one reference of a link. -ENOENT if there is none. */
TCEMU_EXPORT int tcemu_guest_unlink(struct tcemu_guest *g, uint32_t liobn, int container_fd);

/*
 * Hypercalls. args: H_PUT_TCE {liobn, ioba, tce}; H_PUT_TCE_INDIRECT {liobn, ioba, tce_list
 * (guest physical, 4 KiB aligned, big-endian u64s), count}; H_STUFF_TCE {liobn, ioba, value,
 * count}; H_GET_TCE {liobn, ioba} with the TCE in *ret. Returns a TCEMU_H_* code; an unknown
 * opcode is TCEMU_H_FUNCTION.
 */
TCEMU_EXPORT long tcemu_guest_hcall(struct tcemu_guest *g, unsigned long opcode, const uint64_t *args, uint64_t *ret);
TCEMU_EXPORT long tcemu_guest_hcall_fast(struct tcemu_guest *g, unsigned long opcode, const uint64_t *args,
					 uint64_t *ret);
TCEMU_EXPORT long tcemu_guest_hcall_slow(struct tcemu_guest *g, unsigned long opcode, const uint64_t *args,
					 uint64_t *ret);

struct tcemu_guest_stats {
	uint64_t hcalls;        /* through any path */
	uint64_t fast;          /* completed on the fast path */
	uint64_t too_hard;      /* fast path answers TCEMU_H_TOO_HARD */
	uint64_t slow;          /* completed on the slow path */
	uint64_t tces_set;      /* guest TCEs written (valid), cleared */
	uint64_t tces_cleared;
	uint64_t errors;        /* answers other than H_SUCCESS / H_TOO_HARD */
};

TCEMU_EXPORT void tcemu_guest_stats(struct tcemu_guest *g, struct tcemu_guest_stats *st);

#ifdef __cplusplus
}
#endif
#endif
