/* SPDX-License-Identifier: MIT */
/*
 * Check-then-act races between a backend ioctl and a change of the container's shape.
 *
 * The dispatcher checks a backend ioctl's rules (a backend is set, the caller owns the container,
 * v1 or v2, the precheck) and the handler then acts on what was checked. If another thread
 * detaches the container's last group in between, the backend's state (its type, its owner
 * process, its groups) is dropped under the handler's feet. Each test here runs one thread looping
 * a backend ioctl against one that keeps resetting the container: GROUP_UNSET_CONTAINER (the last
 * group: the backend is released), GROUP_SET_CONTAINER, SET_IOMMU.
 *
 * Against the code before the fix (each check and its action under separate locks): the REGISTER
 * and MAP races crashed within a second (SIGSEGV on the NULL owner in mm_register and map_v2);
 * with a 20 us sleep injected between the dispatcher's checks, the precheck and the handler, the
 * CREATE race left a v2 window charged to nobody, the ENABLE race crashed, and another process's
 * MAP_DMA succeeded. With the same sleeps injected into the fixed code, every test passes. Now
 * every call returns 0 or the errno the spec gives for the state it found, and the accounting
 * returns to zero.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <linux/vfio.h>

#include <tcemu/host.h>

#include "harness.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define PAGE 4096ull
#define MEM_PAGES 64
#define RUN_NS 800000000ll   /* each race runs this long ... */
#define MAX_ROUNDS 200000u   /* ... or this many resets, whichever comes first */

struct race {
	struct tcemu_host *h;
	int c, g;
	unsigned long type; /* what SET_IOMMU sets after each reset */
	bool flip;          /* alternate v2 and v1 instead */
	pid_t as_pid;       /* the resetting "process" (caller_pid tests), 0: this one */
	bool then_register; /* the resetter registers mem after each reset (it becomes the owner) */
	uint8_t *mem;
	atomic_bool stop;
	unsigned long actions, resets;
	long unexpected_rc; /* the first return code outside the expected set (0: none) */
	const char *unexpected_what;
};

static long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000l + ts.tv_nsec;
}

/* Leaves the container set up for a moment, so that the other thread can look at the state. */
static void pause_briefly(unsigned long round)
{
	long until = now_ns() + (long)(round % 8) * 2000;

	while (now_ns() < until)
		;
}

static void unexpected(struct race *r, const char *what, long rc)
{
	if (!r->unexpected_rc) {
		r->unexpected_rc = rc ? rc : 1;
		r->unexpected_what = what;
	}
}

/* Two "processes" in one: the host asks this thread's pid (map_by_another_process...). */
static __thread pid_t thread_pid;

/*
 * Detaches the container's only group (the backend goes) and sets it up again: SET_IOMMU with
 * r->type (alternating with v1 if r->flip), then REGISTER_MEMORY if r->then_register.
 */
static void *resetter(void *arg)
{
	struct race *r = arg;
	long deadline = now_ns() + RUN_NS;
	struct vfio_iommu_spapr_register_memory reg = {
		.argsz = sizeof(reg), .vaddr = (uintptr_t)r->mem, .size = MEM_PAGES * PAGE,
	};

	thread_pid = r->as_pid;
	while (r->resets < MAX_ROUNDS && now_ns() < deadline) {
		unsigned long type = r->flip && (r->resets & 1) ? VFIO_SPAPR_TCE_IOMMU : r->type;
		long rc = tcemu_host_ioctl(r->h, r->g, VFIO_GROUP_UNSET_CONTAINER, NULL);
		if (rc)
			unexpected(r, "UNSET_CONTAINER", rc);
		rc = tcemu_host_ioctl(r->h, r->g, VFIO_GROUP_SET_CONTAINER, &r->c);
		if (rc)
			unexpected(r, "SET_CONTAINER", rc);
		rc = tcemu_host_ioctl(r->h, r->c, VFIO_SET_IOMMU, (void *)type);
		if (rc)
			unexpected(r, "SET_IOMMU", rc);
		if (r->then_register) {
			rc = tcemu_host_ioctl(r->h, r->c, VFIO_IOMMU_SPAPR_REGISTER_MEMORY, &reg);
			if (rc)
				unexpected(r, "REGISTER_MEMORY by the owner", rc);
		}
		pause_briefly(r->resets);
		r->resets++;
	}
	atomic_store(&r->stop, true);
	return NULL;
}

static int race_setup(struct race *r, unsigned long type)
{
	struct tcemu_host_opts o = { 0 };

	*r = (struct race){ .type = type };
	if (tcemu_host_create(&o, &r->h))
		return -1;
	if (tcemu_host_open(r->h, "/dev/vfio/vfio", 2, &r->c) || tcemu_host_open(r->h, "/dev/vfio/0", 2, &r->g))
		return -1;
	if (tcemu_host_ioctl(r->h, r->g, VFIO_GROUP_SET_CONTAINER, &r->c) ||
	    tcemu_host_ioctl(r->h, r->c, VFIO_SET_IOMMU, (void *)type))
		return -1;
	r->mem = mmap(NULL, MEM_PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return r->mem == MAP_FAILED ? -1 : 0;
}

/* Runs actor against the resetter, then closes everything: nothing may stay charged or mapped. */
static void race_run(struct race *r, void *(*actor)(void *))
{
	pthread_t a, b;
	struct tcemu_host_stats st;

	CHECK_EQ(pthread_create(&a, NULL, actor, r), 0);
	CHECK_EQ(pthread_create(&b, NULL, resetter, r), 0);
	pthread_join(b, NULL);
	pthread_join(a, NULL);
	if (r->unexpected_rc)
		HARNESS_FAIL("%s returned %ld", r->unexpected_what, r->unexpected_rc);
	CHECK(r->resets > 0);
	CHECK(r->actions > 0);
	tcemu_host_close_all(r->h);
	tcemu_host_stats(r->h, &st);
	CHECK_U64(st.locked_bytes, 0);
	CHECK_U64(st.regions_registered, 0);
	CHECK_U64(st.entries_mapped, 0);
	tcemu_host_destroy(r->h);
	munmap(r->mem, MEM_PAGES * PAGE);
	r->h = NULL;
}

/*
 * A backend ioctl during a reset finds one of these states: no backend (EINVAL), the backend of
 * the new SET_IOMMU without an owner yet (EPERM where the call needs one), without the default
 * window's groups (ENXIO), or a state where the call's own precondition is not met (EBUSY,
 * ENOENT: registered twice / not registered; ENODEV...). Anything else is a bug.
 */
static bool rc_in(long rc, const long *ok, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (rc == ok[i])
			return true;
	return false;
}

static void *registrar(void *arg)
{
	static const long ok[] = { 0, -EINVAL, -EPERM, -EBUSY, -ENOENT };
	struct race *r = arg;
	struct vfio_iommu_spapr_register_memory reg = {
		.argsz = sizeof(reg), .vaddr = (uintptr_t)r->mem, .size = MEM_PAGES * PAGE,
	};

	while (!atomic_load(&r->stop)) {
		long rc = tcemu_host_ioctl(r->h, r->c, VFIO_IOMMU_SPAPR_REGISTER_MEMORY, &reg);
		if (!rc_in(rc, ok, ARRAY_LEN(ok)))
			unexpected(r, "REGISTER_MEMORY", rc);
		rc = tcemu_host_ioctl(r->h, r->c, VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY, &reg);
		if (!rc_in(rc, ok, ARRAY_LEN(ok)))
			unexpected(r, "UNREGISTER_MEMORY", rc);
		r->actions++;
	}
	return NULL;
}

/* The reviewer's crash: REGISTER/UNREGISTER while the last group leaves and comes back. */
TEST(register_while_last_group_detaches)
{
	struct race r;

	CHECK_EQ(race_setup(&r, VFIO_SPAPR_TCE_v2_IOMMU), 0);
	race_run(&r, registrar);
}

static void *mapper(void *arg)
{
	static const long ok[] = { 0, -EINVAL, -EPERM, -EBUSY, -ENXIO, -ENOENT };
	struct race *r = arg;
	struct vfio_iommu_spapr_register_memory reg = {
		.argsz = sizeof(reg), .vaddr = (uintptr_t)r->mem, .size = MEM_PAGES * PAGE,
	};
	struct vfio_iommu_type1_dma_map m = {
		.argsz = sizeof(m), .flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = (uintptr_t)r->mem, .iova = 0, .size = MEM_PAGES * PAGE,
	};
	struct vfio_iommu_type1_dma_unmap u = { .argsz = sizeof(u), .iova = 0, .size = MEM_PAGES * PAGE };

	while (!atomic_load(&r->stop)) {
		long rc = tcemu_host_ioctl(r->h, r->c, VFIO_IOMMU_SPAPR_REGISTER_MEMORY, &reg);
		if (!rc_in(rc, ok, ARRAY_LEN(ok)))
			unexpected(r, "REGISTER_MEMORY", rc);
		rc = tcemu_host_ioctl(r->h, r->c, VFIO_IOMMU_MAP_DMA, &m);
		if (!rc_in(rc, ok, ARRAY_LEN(ok)))
			unexpected(r, "MAP_DMA", rc);
		rc = tcemu_host_ioctl(r->h, r->c, VFIO_IOMMU_UNMAP_DMA, &u);
		if (!rc_in(rc, ok, ARRAY_LEN(ok)))
			unexpected(r, "UNMAP_DMA", rc);
		r->actions++;
	}
	return NULL;
}

/* MAP_DMA checks "enabled", then the last group leaves (the owner goes) before it maps. */
TEST(map_while_last_group_detaches)
{
	struct race r;

	CHECK_EQ(race_setup(&r, VFIO_SPAPR_TCE_v2_IOMMU), 0);
	race_run(&r, mapper);
}

static void *window_maker(void *arg)
{
	static const long ok[] = { 0, -EINVAL, -EPERM, -EBUSY, -ENXIO, -ENOSPC };
	struct race *r = arg;

	while (!atomic_load(&r->stop)) {
		struct vfio_iommu_spapr_tce_create cr = {
			.argsz = sizeof(cr), .page_shift = 12, .window_size = 1ull << 30, .levels = 1,
		};
		struct vfio_iommu_spapr_tce_remove rm = { .argsz = sizeof(rm) };
		struct tcemu_container_info ci;
		long rc = tcemu_host_ioctl(r->h, r->c, VFIO_IOMMU_SPAPR_TCE_CREATE, &cr);

		if (!rc_in(rc, ok, ARRAY_LEN(ok)))
			unexpected(r, "TCE_CREATE", rc);
		/* A v2 table is charged to the owner's locked memory: never a window without a charge. */
		if (rc == 0 && tcemu_host_container_info(r->h, r->c, &ci) == 0 && ci.type == VFIO_SPAPR_TCE_v2_IOMMU)
			for (unsigned s = 0; s < TCEMU_PE_WINDOWS; s++)
				if (ci.windows[s].present && !ci.windows[s].accounted_bytes)
					unexpected(r, "TCE_CREATE made a window charged to nobody", -EINVAL);
		rm.start_addr = rc == 0 ? cr.start_addr : 1ull << 59;
		rc = tcemu_host_ioctl(r->h, r->c, VFIO_IOMMU_SPAPR_TCE_REMOVE, &rm);
		if (!rc_in(rc, ok, ARRAY_LEN(ok)))
			unexpected(r, "TCE_REMOVE", rc);
		r->actions++;
	}
	return NULL;
}

/* TCE_CREATE records the owner and checks the groups, then charges the owner for the table. */
TEST(create_window_while_last_group_detaches)
{
	struct race r;

	CHECK_EQ(race_setup(&r, VFIO_SPAPR_TCE_v2_IOMMU), 0);
	race_run(&r, window_maker);
}

/* The resetter alternates the container between v1 and v2. */
static void *enabler(void *arg)
{
	static const long ok[] = { 0, -EINVAL, -ENOTTY, -EBUSY, -ENODEV, -EPERM };
	struct race *r = arg;

	while (!atomic_load(&r->stop)) {
		struct tcemu_container_info ci;
		long rc = tcemu_host_ioctl(r->h, r->c, VFIO_IOMMU_ENABLE, NULL);

		if (!rc_in(rc, ok, ARRAY_LEN(ok)))
			unexpected(r, "ENABLE", rc);
		/* A v2 container is never enabled by ENABLE (only by a registration, which never runs here). */
		if (tcemu_host_container_info(r->h, r->c, &ci) == 0 && ci.type == VFIO_SPAPR_TCE_v2_IOMMU && ci.enabled)
			unexpected(r, "ENABLE enabled a v2 container", -EINVAL);
		rc = tcemu_host_ioctl(r->h, r->c, VFIO_IOMMU_DISABLE, NULL);
		if (!rc_in(rc, ok, ARRAY_LEN(ok)))
			unexpected(r, "DISABLE", rc);
		r->actions++;
	}
	return NULL;
}

/* ENABLE is a v1 command: one checked as v1 must not act on the v2 backend set meanwhile. */
TEST(v1_enable_while_container_becomes_v2)
{
	struct race r;
	pthread_t a, b;
	struct tcemu_host_stats st;

	CHECK_EQ(race_setup(&r, VFIO_SPAPR_TCE_IOMMU), 0);
	r.type = VFIO_SPAPR_TCE_v2_IOMMU;
	r.flip = true;
	CHECK_EQ(pthread_create(&a, NULL, enabler, &r), 0);
	CHECK_EQ(pthread_create(&b, NULL, resetter, &r), 0);
	pthread_join(b, NULL);
	pthread_join(a, NULL);
	if (r.unexpected_rc)
		HARNESS_FAIL("%s returned %ld", r.unexpected_what, r.unexpected_rc);
	CHECK(r.resets > 0 && r.actions > 0);
	tcemu_host_close_all(r.h);
	tcemu_host_stats(r.h, &st);
	CHECK_U64(st.locked_bytes, 0);
	tcemu_host_destroy(r.h);
	munmap(r.mem, MEM_PAGES * PAGE);
}

static pid_t caller_pid(void *opaque)
{
	(void)opaque;
	return thread_pid;
}

/* Process 2000 never owns the container: none of its maps may succeed. */
static void *intruder(void *arg)
{
	static const long ok[] = { -EINVAL, -EPERM };
	struct race *r = arg;
	struct vfio_iommu_type1_dma_map m = {
		.argsz = sizeof(m), .flags = VFIO_DMA_MAP_FLAG_READ,
		.vaddr = (uintptr_t)r->mem, .iova = 0, .size = PAGE,
	};

	thread_pid = 2000;
	while (!atomic_load(&r->stop)) {
		long rc = tcemu_host_ioctl(r->h, r->c, VFIO_IOMMU_MAP_DMA, &m);
		if (!rc_in(rc, ok, ARRAY_LEN(ok)))
			unexpected(r, rc ? "MAP_DMA by another process" : "MAP_DMA by another process succeeded", rc);
		r->actions++;
	}
	return NULL;
}

/*
 * MAP_DMA from a process that does not own the container: the owner check passed while the
 * container had no owner yet, then the owner registered (the container is enabled) before the map.
 */
TEST(map_by_another_process_while_the_owner_registers)
{
	struct tcemu_host_opts o = { .ops = { .caller_pid = caller_pid } };
	struct race r = { .type = VFIO_SPAPR_TCE_v2_IOMMU, .as_pid = 1000, .then_register = true };
	pthread_t a, b;
	struct tcemu_host_stats st;

	thread_pid = 1000;
	CHECK_EQ(tcemu_host_create(&o, &r.h), 0);
	CHECK_EQ(tcemu_host_open(r.h, "/dev/vfio/vfio", 2, &r.c), 0);
	CHECK_EQ(tcemu_host_open(r.h, "/dev/vfio/0", 2, &r.g), 0);
	CHECK_EQ(tcemu_host_ioctl(r.h, r.g, VFIO_GROUP_SET_CONTAINER, &r.c), 0);
	r.mem = mmap(NULL, MEM_PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(r.mem != MAP_FAILED);
	CHECK_EQ(pthread_create(&a, NULL, resetter, &r), 0);
	CHECK_EQ(pthread_create(&b, NULL, intruder, &r), 0);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	if (r.unexpected_rc)
		HARNESS_FAIL("%s returned %ld", r.unexpected_what, r.unexpected_rc);
	CHECK(r.resets > 0 && r.actions > 0);
	tcemu_host_close_all(r.h);
	tcemu_host_stats(r.h, &st);
	CHECK_U64(st.locked_bytes, 0);
	CHECK_U64(st.entries_mapped, 0);
	tcemu_host_destroy(r.h);
	munmap(r.mem, MEM_PAGES * PAGE);
}

HARNESS_MAIN(T(map_by_another_process_while_the_owner_registers), T(register_while_last_group_detaches), T(map_while_last_group_detaches),
	     T(create_window_while_last_group_detaches), T(v1_enable_while_container_becomes_v2))
