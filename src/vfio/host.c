/* SPDX-License-Identifier: MIT */
/*
 * The emulated host: creation and destruction (with its options), the processes (host_mm_get and
 * their locked-memory limit), statistics and the per-process introspection, the allocator with
 * failure injection, and the caller's pid. The descriptor table is vfio/fd.c, groups
 * vfio/group.c, defects and the summary vfio/report.c.
 *
 * Locking: vfio/host_priv.h.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <tcemu/dma.h>
#include <tcemu/host.h>
#include <tcemu/memory.h>
#include <tcemu/platform.h>

#include "core/memory_priv.h"
#include "guest/gate.h"
#include "vfio/group.h"
#include "vfio/host_priv.h"
#include "devices/models.h"
#include "vfio/prereg.h"

#define OWN_FD_BASE 1000
#define CAP_IPC_LOCK_BIT 14

/* getpid() is a system call in current glibc: cache it, and forget it in a forked child. */
static pid_t cached_pid;

static pthread_once_t pid_once = PTHREAD_ONCE_INIT;

static void forget_pid(void)
{
	__atomic_store_n(&cached_pid, 0, __ATOMIC_RELAXED);
}

static void register_fork_handler(void)
{
	pthread_atfork(NULL, NULL, forget_pid);
}

pid_t tcemu_self_pid(void)
{
	pid_t p = __atomic_load_n(&cached_pid, __ATOMIC_RELAXED);

	if (!p) {
		pthread_once(&pid_once, register_fork_handler);
		p = getpid();
		__atomic_store_n(&cached_pid, p, __ATOMIC_RELAXED);
	}
	return p;
}

pid_t host_caller(struct tcemu_host *h)
{
	return h->ops.caller_pid ? h->ops.caller_pid(h->ops.opaque) : tcemu_self_pid();
}

void *host_alloc(struct tcemu_host *h, size_t size)
{
	return host_alloc_ok(h) ? calloc(1, size) : NULL;
}

void *host_malloc(struct tcemu_host *h, size_t size)
{
	return host_alloc_ok(h) ? malloc(size) : NULL;
}

/* host_alloc_ok for the objects below the host (util/alloc.h). */
static bool hook_ok(void *opaque)
{
	return host_alloc_ok(opaque);
}

void *host_realloc(struct tcemu_host *h, void *p, size_t size)
{
	return host_alloc_ok(h) ? realloc(p, size) : NULL;
}

void host_stat_add(struct tcemu_host *h, uint64_t *field, int64_t delta, uint64_t *peak)
{
	uint64_t v = __atomic_add_fetch(field, (uint64_t)delta, __ATOMIC_RELAXED);

	(void)h;
	if (peak)
		host_stat_peak(peak, v);
}

void host_stat_peak(uint64_t *peak, uint64_t v)
{
	uint64_t p = __atomic_load_n(peak, __ATOMIC_RELAXED);

	while (v > p && !__atomic_compare_exchange_n(peak, &p, v, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

/* Whether the process may lock memory without limit (CAP_IPC_LOCK in its effective set). */
static bool has_ipc_lock(void)
{
	char line[256];
	bool r = false;
	FILE *f = fopen("/proc/self/status", "re");

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long caps;

		if (sscanf(line, "CapEff: %llx", &caps) == 1) {
			r = (caps >> CAP_IPC_LOCK_BIT) & 1;
			break;
		}
	}
	fclose(f);
	return r;
}

static uint64_t default_limit(struct tcemu_host *h)
{
	struct rlimit rl;

	if (h->memlock_set)
		return h->memlock;
	if (has_ipc_lock())
		return UINT64_MAX;
	if (getrlimit(RLIMIT_MEMLOCK, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
		return UINT64_MAX;
	return rl.rlim_cur;
}

struct mm *host_mm_get(struct tcemu_host *h, pid_t pid, bool create)
{
	struct mm *mm;

	/* A leaf: not under itself nor under the other leaves (stats_lock, glink_lock). */
	TCEMU_ASSERT_NOT_HELD(&h->mms_lock);
	TCEMU_ASSERT_NOT_HELD(&h->stats_lock);
	TCEMU_ASSERT_NOT_HELD(&h->glink_lock);
	tcemu_mutex_lock(&h->mms_lock);
	for (mm = h->mms; mm; mm = mm->next)
		if (mm->pid == pid)
			goto out;
	if (!create)
		goto out;
	mm = host_alloc(h, sizeof(*mm));
	if (!mm)
		goto out;
	if (tcemu_rwlock_init(&mm->lock)) {
		free(mm);
		mm = NULL;
		goto out;
	}
	mm->host = h;
	mm->pid = pid;
	mm->limit = default_limit(h);
	mm->next = h->mms;
	h->mms = mm;
out:
	tcemu_mutex_unlock(&h->mms_lock);
	return mm;
}

TCEMU_EXPORT int tcemu_host_create(const struct tcemu_host_opts *opts, struct tcemu_host **out)
{
	static const struct tcemu_host_opts defaults;
	struct tcemu_memory_params mp = { 0 };
	struct tcemu_host *h;
	uint64_t ml;
	int rc;

	if (!out)
		return -EINVAL;
	if (!opts)
		opts = &defaults;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->lg = opts->platform.logger;
	h->ops = opts->ops;
	h->real_mlock = opts->real_mlock;
	h->eeh = !opts->no_eeh;
	h->trace = opts->trace;
	h->trusted_args = opts->trusted_args;
	h->next_own_fd = OWN_FD_BASE;
	h->hook = (struct tcemu_alloc_hook){ .ok = hook_ok, .opaque = h };
	rc = tcemu_platform_create(&opts->platform, &h->plat);
	if (rc)
		goto err_free_host;
	h->page_shift = tcemu_platform_page_shift(h->plat);
	if (opts->memlock_set) {
		h->memlock_set = true;
		h->memlock = opts->memlock;
	} else if (tcemu_platform_memlock(h->plat, &ml)) {
		h->memlock_set = true;
		h->memlock = ml;
	}
	mp.sys_page_shift = h->page_shift;
	rc = tcemu_memory_create(&mp, &h->mem);
	if (rc)
		goto err_destroy_platform;
	memory_set_alloc_hook(h->mem, &h->hook);
	rc = tcemu_mutex_init(&h->lock);
	if (rc)
		goto err_destroy_memory;
	rc = tcemu_mutex_init(&h->stats_lock);
	if (rc)
		goto err_destroy_lock;
	rc = tcemu_mutex_init(&h->glink_lock);
	if (rc)
		goto err_destroy_stats_lock;
	rc = tcemu_mutex_init(&h->mms_lock);
	if (rc)
		goto err_destroy_glink_lock;
	rc = tcemu_mutex_init(&h->trace_lock);
	if (rc)
		goto err_destroy_mms_lock;
	rc = groups_build(h);
	if (rc)
		goto err_free_groups;
	rc = host_attach_topology_models(h);
	if (rc)
		goto err_free_groups;
	*out = h;
	return 0;

err_free_groups:
	groups_free(h);
	tcemu_dma_destroy(h->dma); /* after the models that used it */
	tcemu_mutex_destroy(&h->trace_lock);
err_destroy_mms_lock:
	tcemu_mutex_destroy(&h->mms_lock);
err_destroy_glink_lock:
	tcemu_mutex_destroy(&h->glink_lock);
err_destroy_stats_lock:
	tcemu_mutex_destroy(&h->stats_lock);
err_destroy_lock:
	tcemu_mutex_destroy(&h->lock);
err_destroy_memory:
	tcemu_memory_destroy(h->mem);
err_destroy_platform:
	tcemu_platform_destroy(h->plat);
err_free_host:
	free(h);
	return rc;
}

TCEMU_EXPORT void tcemu_host_close_all(struct tcemu_host *h)
{
	if (h->trace)
		host_trace_flush(h);
	tcemu_host_stats(h, &h->at_exit);
	h->exit_recorded = true;
	/* Close what the client left open: devices first, then groups, then containers. */
	for (int pass = FILE_DEVICE; pass >= FILE_CONTAINER; pass--) {
		for (size_t fd = 0; fd < h->fdcap; fd++) {
			struct file *f;

			tcemu_mutex_lock(&h->lock);
			f = fd < h->fdcap ? h->fdtab[fd] : NULL;
			tcemu_mutex_unlock(&h->lock);
			if (f && (int)f->kind == pass) {
				host_defect(h, "descriptor %zu (%s) was never closed", fd,
					    pass == FILE_DEVICE ? "a device" : pass == FILE_GROUP ? "a group" : "a container");
				tcemu_host_close(h, (int)fd);
			}
		}
	}
	host_defects_final(h);
}

TCEMU_EXPORT void tcemu_host_destroy(struct tcemu_host *h)
{
	if (!h)
		return;
	tcemu_host_close_all(h);
	while (h->mms) {
		struct mm *mm = h->mms;
		h->mms = mm->next;
		mm_free(h, mm);
	}
	groups_free(h);
	tcemu_dma_destroy(h->dma); /* after the models that used it */
	host_defects_free(h);
	host_trace_free(h);
	free(h->fdtab);
	tcemu_mutex_destroy(&h->trace_lock);
	tcemu_mutex_destroy(&h->mms_lock);
	tcemu_mutex_destroy(&h->glink_lock);
	tcemu_mutex_destroy(&h->stats_lock);
	tcemu_mutex_destroy(&h->lock);
	tcemu_memory_destroy(h->mem);
	tcemu_platform_destroy(h->plat);
	free(h);
}

TCEMU_EXPORT struct tcemu_platform *tcemu_host_platform(struct tcemu_host *h)
{
	return h->plat;
}

TCEMU_EXPORT struct tcemu_memory *tcemu_host_memory(struct tcemu_host *h)
{
	return h->mem;
}

TCEMU_EXPORT ssize_t tcemu_host_regions(struct tcemu_host *h, pid_t pid, struct tcemu_region_info *out, size_t max)
{
	struct mm *mm;
	ssize_t n;

	mm = host_mm_get(h, pid, false);
	if (!mm)
		return 0;
	host_gate_close(h); /* the guest fast path's uncounted entries go into the counts */
	tcemu_rwlock_rdlock(&mm->lock);
	n = (ssize_t)mm->nregions;
	for (size_t i = 0; i < mm->nregions && i < max; i++) {
		const struct region *r = &mm->regions[i];

		out[i] = (struct tcemu_region_info){
			.ua = r->ua,
			.size = r->size,
			.page_shift = r->page_shift,
			.hpa = mm->hot[i].hpa,
			.mapped = __atomic_load_n(&mm->hot[i].mapped, __ATOMIC_RELAXED),
			.users = r->users,
		};
	}
	tcemu_rwlock_unlock(&mm->lock);
	host_gate_open(h);
	return n;
}

TCEMU_EXPORT int tcemu_host_locked(struct tcemu_host *h, pid_t pid, uint64_t *locked, uint64_t *limit)
{
	struct mm *mm;

	mm = host_mm_get(h, pid, false);
	if (!mm) {
		if (locked)
			*locked = 0;
		if (limit)
			*limit = default_limit(h);
		return 0;
	}
	tcemu_rwlock_rdlock(&mm->lock);
	if (locked)
		*locked = mm->locked;
	if (limit)
		*limit = mm->limit;
	tcemu_rwlock_unlock(&mm->lock);
	return 0;
}

_Static_assert(sizeof(struct tcemu_host_stats) % sizeof(uint64_t) == 0, "host stats are read as uint64_t words");
_Static_assert(_Alignof(struct tcemu_host_stats) == _Alignof(uint64_t), "host stats are uint64_t counters");
TCEMU_EXPORT void tcemu_host_stats(struct tcemu_host *h, struct tcemu_host_stats *st)
{
	const uint64_t *src = (const uint64_t *)&h->stats;
	uint64_t *dst = (uint64_t *)st;

	/* The guest fast path's uncounted entries go in first (guest/gate.h). */
	host_gate_flush(h);
	/* The counters are independent atomics: read each one atomically. */
	for (size_t i = 0; i < sizeof(*st) / sizeof(uint64_t); i++)
		dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}

TCEMU_EXPORT uint64_t tcemu_host_fail_alloc(struct tcemu_host *h, uint64_t nth)
{
	uint64_t counted = __atomic_exchange_n(&h->alloc_count, 0, __ATOMIC_RELAXED);

	__atomic_store_n(&h->fail_nth, nth, __ATOMIC_RELAXED);
	return counted;
}
