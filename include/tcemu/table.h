/* SPDX-License-Identifier: MIT */
/*
 * TCE tables: the translation tables of one DMA window.
 *
 * Entries are in hardware format: 64 bits, stored big-endian, low bits READ (device may read
 * memory) and WRITE (device may write memory), bits above the IOMMU page offset hold the host
 * physical page address. The API takes and returns entries in host byte order; only the stored
 * table is big-endian, exactly as a PHB reads it.
 *
 * A table has 1 to 5 levels. Only the top level exists after creation; each lower level is
 * allocated when an entry below it is first set and installed with compare-and-swap (a racing
 * allocation loses and is freed). Clearing never allocates and skips absent subtrees and empty
 * chunks, so its cost follows what is mapped, not the size of the range.
 *
 * With TCEMU_TABLE_USERSPACE the table keeps, beside each entry, the user (process) address the
 * entry was made from, in the same shape and allocated on the same demand (the kernel's
 * it_userspace, used by the sPAPR v2 backend and guest acceleration).
 *
 * Thread safety: every function may be called concurrently on the same table. Updates (xchg, set,
 * set_linear, clear) are linearizable per entry; an entry and its user address always change
 * together. There is no table-wide lock: entries are grouped in chunks of 512 with a small lock
 * word each, so a batch pays one lock per 512 entries and writers of different chunks never meet.
 * Readers (get without user address, translate) take no lock at all. Release callbacks run after
 * the chunk lock is dropped and may call back into the table.
 */
#ifndef TCEMU_TABLE_H
#define TCEMU_TABLE_H

#include <tcemu/common.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TCEMU_TCE_READ 0x1ull
#define TCEMU_TCE_WRITE 0x2ull
#define TCEMU_TCE_PERM_MASK 0x3ull

#define TCEMU_TABLE_MAX_LEVELS 5

/* Table creation flags. */
#define TCEMU_TABLE_USERSPACE 0x1u /* keep the parallel table of user addresses */

struct tcemu_table_params {
	uint64_t bus_offset;     /* bus address of entry 0 (the window start), page aligned */
	uint64_t window_size;    /* bytes; a power of two, at least one IOMMU page */
	uint32_t page_shift;     /* IOMMU page shift, 12..40 */
	uint32_t levels;         /* 1..TCEMU_TABLE_MAX_LEVELS */
	uint32_t sys_page_shift; /* system page shift, 12 or 16 (0 means 12) */
	uint32_t flags;          /* TCEMU_TABLE_* */
};

struct tcemu_table_geometry {
	uint32_t entries_shift;   /* log2(window_size) - page_shift */
	uint32_t level_shift;     /* log2(bytes per level) */
	uint32_t bits_per_level;  /* level_shift - 3 */
	uint64_t entries;         /* number of entries in the window */
	uint64_t accounted_bytes; /* locked-memory charge: the kernel's get_table_size() */
};

/*
 * Validates params and computes the geometry. Returns -EINVAL when: levels is 0 or above 5,
 * window_size is not a power of two or smaller than a page, page_shift is outside 12..40,
 * sys_page_shift is not 12 or 16, bus_offset is not page aligned or the window wraps, flags are
 * unknown, or (level_shift - 3) * levels + page_shift >= 55.
 */
TCEMU_EXPORT int tcemu_table_geometry(const struct tcemu_table_params *p, struct tcemu_table_geometry *g);

/* The locked-memory charge of a window: the kernel's get_table_size(); 0 if the geometry is invalid. */
TCEMU_EXPORT uint64_t tcemu_table_accounted_size(uint32_t page_shift, uint64_t window_size, uint32_t levels,
						 uint32_t sys_page_shift);

struct tcemu_table;

/* Creates a table (reference count 1) with only its top level allocated. -EINVAL, -ENOMEM. */
TCEMU_EXPORT int tcemu_table_create(const struct tcemu_table_params *p, struct tcemu_table **out);
/* Takes a reference; returns t. */
TCEMU_EXPORT struct tcemu_table *tcemu_table_ref(struct tcemu_table *t);
/* Drops a reference; the last one frees every level. Entries still set are not released. NULL is ok. */
TCEMU_EXPORT void tcemu_table_unref(struct tcemu_table *t);

/*
 * Called for each old entry that held permission bits and was replaced or cleared, after the
 * update is visible, so the caller can release what it held (unpin the page, drop the region's
 * mapped count, mark the page dirty when the entry allowed WRITE).
 */
typedef void (*tcemu_tce_release_fn)(void *opaque, uint64_t index, uint64_t old_tce, uint64_t old_ua);

/*
 * Atomically exchanges entry `index`: *tce (and *ua, which may be NULL to store 0) go in, the old
 * values come out. An entry without permission bits is stored as 0 (a clear). Returns -ERANGE if
 * index is outside the window, -EINVAL if bits 2 to page_shift - 1 are not zero (in any entry,
 * with or without permission bits),
 * -ENOMEM if a level could not be allocated (nothing changed).
 */
TCEMU_EXPORT int tcemu_table_xchg(struct tcemu_table *t, uint64_t index, uint64_t *tce, uint64_t *ua);

/*
 * Sets count entries from index to tces[i] (and uas[i]; uas may be NULL). All entries are
 * validated and every level the range needs is allocated before anything is written, so an
 * error (-ERANGE, -EINVAL, -ENOMEM) writes nothing. Old valid entries go to release (may be NULL).
 */
TCEMU_EXPORT int tcemu_table_set(struct tcemu_table *t, uint64_t index, uint64_t count, const uint64_t *tces,
				 const uint64_t *uas, tcemu_tce_release_fn release, void *opaque);

/*
 * Sets count entries to first_tce + i * page_size (perm bits kept) and, with ua != 0, user
 * addresses ua + i * page_size: a physically contiguous run. Same rules as tcemu_table_set.
 */
TCEMU_EXPORT int tcemu_table_set_linear(struct tcemu_table *t, uint64_t index, uint64_t count, uint64_t first_tce,
					uint64_t ua, tcemu_tce_release_fn release, void *opaque);

/*
 * Allocates every level that entries [index, index + count) need, so that a following set of
 * that range cannot fail for lack of memory. -ERANGE, -ENOMEM (levels allocated so far stay:
 * empty levels change no translation).
 */
TCEMU_EXPORT int tcemu_table_reserve(struct tcemu_table *t, uint64_t index, uint64_t count);

/*
 * Clears count entries from index, handing each valid old entry to release. Never allocates.
 * Returns the number of entries that were valid (>= 0), or -ERANGE.
 */
TCEMU_EXPORT int64_t tcemu_table_clear(struct tcemu_table *t, uint64_t index, uint64_t count,
				       tcemu_tce_release_fn release, void *opaque);

/* Reads entry index (and its user address if ua != NULL; absent levels read as 0). -ERANGE. */
TCEMU_EXPORT int tcemu_table_get(struct tcemu_table *t, uint64_t index, uint64_t *tce, uint64_t *ua);

/*
 * Translates a bus address: *hpa = page address from the entry + offset in the page.
 * need_perm is a mask of TCEMU_TCE_READ/WRITE that the entry must all have.
 * -ERANGE: the address is outside the window (a TCE extent error);
 * -EACCES: the entry lacks a needed permission (including an invalid entry).
 * *perm (may be NULL) receives the entry's permission bits in both cases that read an entry.
 */
TCEMU_EXPORT int tcemu_table_translate(struct tcemu_table *t, uint64_t bus_addr, unsigned need_perm, uint64_t *hpa,
				       unsigned *perm);

struct tcemu_table_info {
	struct tcemu_table_params params;
	struct tcemu_table_geometry geometry;
	uint64_t allocated_bytes; /* bytes really allocated: levels, user-address arrays, chunk locks */
	uint64_t levels_allocated; /* level arrays allocated, the top included */
	uint64_t valid_entries;    /* entries holding permission bits (counted over allocated chunks) */
};

/* Everything below; valid_entries is counted over the allocated chunks (not for hot paths). */
TCEMU_EXPORT void tcemu_table_info(struct tcemu_table *t, struct tcemu_table_info *info);
/* The table's parameters (constant for its life), O(1). */
TCEMU_EXPORT const struct tcemu_table_params *tcemu_table_params(const struct tcemu_table *t);
/* Number of entries in the window, O(1). */
TCEMU_EXPORT uint64_t tcemu_table_entries(const struct tcemu_table *t);

#ifdef __cplusplus
}
#endif
#endif
