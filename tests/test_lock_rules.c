/* SPDX-License-Identifier: MIT */
/*
 * The lock rules of the VFIO host and the core, as debug assertions: internal functions called
 * without the lock their header says they need (or with a lock they must not be called under, or
 * with a broken count) must abort with the assertion's message. Each case runs in a forked child
 * (death.h) on a v2 container made before the fork; a control runs the same call the right way in
 * a child and must survive, so that a death test cannot pass for the wrong reason.
 *
 * Debug builds only: with NDEBUG the assertions are compiled out, and every test is skipped with
 * the reason.
 */
#include <pthread.h>
#include <unistd.h>

#include <linux/vfio.h>

#include "core/platform_priv.h"
#include "death.h"
#include "fixture.h"
#include "harness.h"
#include "vfio/container.h"
#include "vfio/host_priv.h"
#include "vfio/prereg.h"

/* What the children work on: a v2 container with memory registered and a window (fx_vfio_v2). */
static struct fx_vfio fx;
static struct tcemu_host *H;
static struct container *C;

#ifdef NDEBUG
#define DEBUG_ONLY() SKIP("built with NDEBUG: the lock assertions are compiled out")
#else
#define DEBUG_ONLY() ((void)0)
#endif

static void put_container(void *c)
{
	host_container_put(H, c);
}

/* The fixture: fx on group 0, C its container (a reference held until the test ends). */
static void open_container(void)
{
	struct tcemu_host_opts o = fx_host_opts();

	CHECK_EQ(fx_vfio_v2(&fx, fx_host_new(&o), 0, 16), 0);
	H = fx.h;
	C = host_container_get(H, fx.c);
	CHECK(C != NULL);
	DEFER(put_container, C);
	CHECK(C->mm != NULL && C->mm->nregions == 1);
}

/*
 * A case: fn must die of the assertion want in file, function func; or, want NULL, run to its end
 * (a control: the same call made the right way).
 */
struct rule {
	void (*fn)(void);
	const char *name;
	const char *file, *func, *want;
};
#define DIES(fn, file, func, want) { fn, #fn, file, func, want }
#define SURVIVES(fn) { fn, #fn, NULL, NULL, NULL }

static void check_rules(const struct rule *rules, size_t n)
{
	char why[1400];

	DEBUG_ONLY();
	open_container();
	for (size_t i = 0; i < n; i++) {
		const struct rule *r = &rules[i];

		if (r->want && death(r->fn, r->file, r->func, r->want, why, sizeof(why)))
			HARNESS_FAIL("%s: %s", r->name, why);
		if (!r->want && (!death(r->fn, "", NULL, "", why, sizeof(why)) || !strstr(why, "(status 0x0)")))
			HARNESS_FAIL("%s did not run to its end: %s", r->name, why);
	}
}
#define CHECK_RULES(...)                                                                           \
	do {                                                                                       \
		static const struct rule rules_[] = { __VA_ARGS__ };                               \
		check_rules(rules_, sizeof(rules_) / sizeof(rules_[0]));                           \
	} while (0)

/* ---- host->lock ---- */

static void fd_file_unlocked(void)
{
	(void)fd_file(H, fx.c);
}

static void fd_file_locked(void)
{
	tcemu_mutex_lock(&H->lock);
	(void)fd_file(H, fx.c);
	tcemu_mutex_unlock(&H->lock);
}

static void container_put_unlocked(void)
{
	container_put(H, C);
}

static void detach_unlocked(void)
{
	container_detach_group(C, C->groups[0]);
}

/* A put with no user left: the count would wrap. */
static void container_put_unbalanced(void)
{
	tcemu_mutex_lock(&H->lock);
	C->users = 0;
	container_put(H, C);
}

TEST(host_lock_held)
{
	CHECK_RULES(DIES(fd_file_unlocked, "host_priv.h", "fd_file", "tcemu_mutex_held(&h->lock)"),
		    SURVIVES(fd_file_locked),
		    DIES(container_put_unlocked, "fd.c", "container_put", "tcemu_mutex_held(&h->lock)"),
		    DIES(detach_unlocked, "container.c", "container_detach_group",
			 "tcemu_mutex_held(&c->host->lock)"),
		    DIES(container_put_unbalanced, "fd.c", "container_put", "c->users > 0"));
}

/* ---- container->lock and the backend's rules ---- */

static void cref_unlocked(void)
{
	(void)container_cref(C, &C->mm->regions[0]);
}

static void cref_shared(void)
{
	tcemu_rwlock_rdlock(&C->lock);
	(void)container_cref(C, &C->mm->regions[0]);
	tcemu_rwlock_unlock(&C->lock);
}

/* mm_register needs the container's lock exclusive: shared is not enough. */
static void register_shared(void)
{
	tcemu_rwlock_rdlock(&C->lock);
	(void)mm_register(H, C->mm, C, (uintptr_t)fx.mem, FX_PAGE);
}

static void backend_release_unlocked(void)
{
	backend_release(C);
}

/* A backend handler outside a backend ioctl: backend_lock is not held. */
static void map_outside_ioctl(void)
{
	struct vfio_iommu_type1_dma_map m = { .argsz = sizeof(m) };

	(void)spapr_map(C, &m);
}

/* A backend handler under host->lock (an ioctl never holds it; a deadlock with SET_IOMMU). */
static void map_under_host_lock(void)
{
	struct vfio_iommu_type1_dma_map m = { .argsz = sizeof(m) };

	tcemu_mutex_lock(&H->lock);
	tcemu_rwlock_rdlock(&C->backend_lock);
	(void)spapr_map(C, &m);
}

static void map_as_ioctl(void)
{
	struct vfio_iommu_type1_dma_map m = {
		.argsz = sizeof(m), .flags = VFIO_DMA_MAP_FLAG_READ, .vaddr = (uintptr_t)fx.mem, .size = FX_PAGE,
	};

	tcemu_rwlock_rdlock(&C->backend_lock);
	if (spapr_map(C, &m) != 0)
		_exit(3); /* not a SIGABRT: the control fails */
	tcemu_rwlock_unlock(&C->backend_lock);
}

TEST(container_lock_held)
{
	CHECK_RULES(DIES(cref_unlocked, "prereg.c", "container_cref", "tcemu_rwlock_held(&c->lock)"),
		    SURVIVES(cref_shared),
		    DIES(register_shared, "prereg.c", "mm_register", "tcemu_rwlock_wrheld(&(c)->lock)"),
		    DIES(backend_release_unlocked, "spapr.c", "backend_release",
			 "tcemu_rwlock_wrheld(&(c)->backend_lock)"));
}

TEST(backend_call_rules)
{
	CHECK_RULES(DIES(map_outside_ioctl, "spapr.c", "spapr_map", "tcemu_rwlock_held(&(c)->backend_lock)"),
		    DIES(map_under_host_lock, "spapr.c", "spapr_map", "!tcemu_mutex_held(&(c)->host->lock)"),
		    SURVIVES(map_as_ioctl));
}

/* ---- mm->lock and the leaves ---- */

static void mm_find_unlocked(void)
{
	(void)mm_find(C->mm, (uintptr_t)fx.mem, FX_PAGE);
}

static void mm_find_shared(void)
{
	tcemu_rwlock_rdlock(&C->mm->lock);
	if (!mm_find(C->mm, (uintptr_t)fx.mem, FX_PAGE))
		_exit(3);
	tcemu_rwlock_unlock(&C->mm->lock);
}

/* host_mm_get takes the leaf mms_lock: never under another leaf. */
static void mm_get_under_stats_lock(void)
{
	tcemu_mutex_lock(&H->stats_lock);
	(void)host_mm_get(H, getpid(), false);
}

static void mm_get_under_mms_lock(void)
{
	tcemu_mutex_lock(&H->mms_lock);
	(void)host_mm_get(H, getpid(), false);
}

static int holder_ready;

/* Holds the container's lock exclusive (as a REGISTER would) until the process dies. */
static void *hold_exclusive(void *arg)
{
	(void)arg;
	container_wrlock(C);
	__atomic_store_n(&holder_ready, 1, __ATOMIC_RELEASE);
	for (;;)
		pause();
	return NULL;
}

/* find_window without the lock while another thread holds it exclusive: a race, caught. */
static void find_window_racing_a_writer(void)
{
	pthread_t t;

	if (pthread_create(&t, NULL, hold_exclusive, NULL))
		_exit(3);
	while (!__atomic_load_n(&holder_ready, __ATOMIC_ACQUIRE))
		usleep(100);
	(void)find_window(C, 0);
}

/* The same lock-free read with no exclusive holder (the guest fast path, gate open) is allowed. */
static void find_window_no_writer(void)
{
	if (find_window(C, 0) != 0)
		_exit(3);
}

TEST(mm_lock_and_leaves)
{
	CHECK_RULES(DIES(mm_find_unlocked, "prereg.c", "mm_find", "tcemu_rwlock_held(&mm->lock)"),
		    SURVIVES(mm_find_shared),
		    DIES(mm_get_under_stats_lock, "host.c", "host_mm_get", "!tcemu_mutex_held(&h->stats_lock)"),
		    DIES(mm_get_under_mms_lock, "host.c", "host_mm_get", "!tcemu_mutex_held(&h->mms_lock)"),
		    DIES(find_window_racing_a_writer, "container.h", "find_window",
			 "tcemu_rwlock_no_other_writer(&c->lock)"),
		    SURVIVES(find_window_no_writer));
}

/* ---- the core: a PE's lock is a leaf, its kill hooks run without it ---- */

static struct tcemu_pe *pe0(void)
{
	return C->groups[0]->pe;
}

static void kill_under_pe_lock(void)
{
	tcemu_mutex_lock(&pe0()->lock);
	tcemu_pe_tce_kill(pe0(), 0, 0, 1);
}

static void kill_without_pe_lock(void)
{
	tcemu_pe_tce_kill(pe0(), 0, 0, 1);
}

static void eeh_op_under_pe_lock(void)
{
	tcemu_mutex_lock(&pe0()->lock);
	(void)tcemu_pe_eeh_op(pe0(), VFIO_EEH_PE_GET_STATE, 0, 0); /* would deadlock: caught first */
}

TEST(pe_lock_is_a_leaf)
{
	CHECK_RULES(DIES(kill_under_pe_lock, "platform.c", "tcemu_pe_tce_kill", "!tcemu_mutex_held(&pe->lock)"),
		    SURVIVES(kill_without_pe_lock),
		    DIES(eeh_op_under_pe_lock, "lock.h", "tcemu_mutex_lock", "!tcemu_mutex_held(m)"));
}

HARNESS_MAIN(T(host_lock_held), T(container_lock_held), T(backend_call_rules), T(mm_lock_and_leaves),
	     T(pe_lock_is_a_leaf))
