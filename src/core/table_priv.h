/* SPDX-License-Identifier: MIT */
/*
 * Private: the table's entry points for writers that bring their own serialization (the guest
 * views of guest/guest.c, guest/hcall.c), for the guest fast path (guest/gate.c), for the host's
 * failure injection (table_create_hooked) and for checkers (table_walk_valid), beyond
 * tcemu/table.h. Defined in core/table.c.
 *
 * Locking: as tcemu/table.h and the top of core/table.c say. The table has no table-wide lock;
 * entries change under their chunk's spin lock, except through table_store_owned and
 * table_owned_store, whose caller serializes every writer of the table with a lock of its own
 * (a guest window's lock). Finding a slot takes no lock.
 */
#ifndef TCEMU_SRC_CORE_TABLE_PRIV_H
#define TCEMU_SRC_CORE_TABLE_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tcemu/table.h>

struct tcemu_table;
struct tcemu_alloc_hook;

/*
 * tcemu_table_create whose allocations (the table, every level, at creation and later) ask hook
 * first (util/alloc.h): the VFIO host's tables and the guest views, so that failure injection
 * reaches them. hook is copied.
 */
int table_create_hooked(const struct tcemu_table_params *p, const struct tcemu_alloc_hook *hook,
			struct tcemu_table **out);

/* One linear run of a table_set_runs: count entries, the k-th being tce + k pages (tce with its permission bits). */
struct table_run {
	uint64_t tce, count;
};
/*
 * tcemu_table_set_linear of several runs of valid entries one after the other from index, as one
 * call: count entries, the user address of entry k being ua + k pages (ua 0: none). A chunk is
 * locked once whatever the number of runs in it. The runs are the caller's to get right (a map
 * across regions builds them from checked regions) and are asserted in debug builds: each with
 * permission bits, page-aligned addresses that do not wrap and a count above 0, the counts adding
 * up to count. 0, -ERANGE or -ENOMEM (nothing changed).
 */
int table_set_runs(struct tcemu_table *t, uint64_t index, uint64_t count, uint64_t ua, const struct table_run *runs,
		   size_t nruns, tcemu_tce_release_fn release, void *opaque);
/*
 * For a table whose writers the caller serializes with a lock of its own (a guest view):
 * stores one entry (no permission bits: a clear) without the chunk lock, allocating its levels.
 * Lock-free readers see the old or the new entry. 0, -ERANGE, -EINVAL (address bits below the
 * page) or -ENOMEM (nothing changed).
 */
int table_store_owned(struct tcemu_table *t, uint64_t index, uint64_t tce);
/*
 * The same in two steps: find (alloc: allocating) the entry's place, store there later. Finding
 * is safe with concurrent writers of any kind. A slot kept from an earlier call on the same table
 * is a cache: an entry in the same leaf needs no walk (start with leaf NULL).
 */
struct table_slot {
	uint64_t *leaf;  /* NULL: below an absent level (only a clear may be stored) */
	uint64_t first;  /* the leaf's first entry */
	uint64_t count;  /* entries of the table in the leaf */
	uint64_t pos;
	uint64_t *ua;    /* the leaf's user addresses (NULL: none), found with it */
	void *chunks;    /* the leaf's chunks (core/table.c), found with it */
};
/*
 * A hint that entries [index, index + count) will soon be written: fetches their lines (in the
 * first leaf they fall in) for writing. Changes nothing; an absent leaf is skipped.
 */
void table_prefetch_write(struct tcemu_table *t, uint64_t index, uint64_t count);
int table_slot_walk(struct tcemu_table *t, uint64_t index, bool alloc, struct table_slot *slot);
static inline int table_slot_find(struct tcemu_table *t, uint64_t index, bool alloc, struct table_slot *slot)
{
	if (slot->leaf && index - slot->first < slot->count) {
		slot->pos = index - slot->first; /* the same leaf as last time: levels stay with the table */
		return 0;
	}
	return table_slot_walk(t, index, alloc, slot);
}
/* tce's address bits are page aligned (the caller checked). */
void table_owned_store(struct tcemu_table *t, const struct table_slot *slot, uint64_t tce);
/*
 * tcemu_table_xchg at a slot found by table_slot_find (leaf not NULL), under the chunk lock as
 * usual (any writer may share the table); tce and ua valid (the caller checked).
 */
void table_slot_xchg(struct tcemu_table *t, const struct table_slot *slot, uint64_t *tce, uint64_t *ua);

/*
 * For checkers (vfio/check.c, guest/check.c), not concurrent with writers: calls fn for every
 * valid entry in index order, with its user address (0 without one). Skips absent subtrees and
 * chunks whose count of valid entries is 0; -EUCLEAN when a chunk's count differs from its valid
 * entries. Stops at the first non-zero return of fn and returns it.
 */
typedef int (*table_walk_fn)(void *opaque, uint64_t index, uint64_t tce, uint64_t ua);
int table_walk_valid(struct tcemu_table *t, table_walk_fn fn, void *opaque);

#endif
