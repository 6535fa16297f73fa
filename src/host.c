/* SPDX-License-Identifier: MIT */
/*
 * The emulated host: descriptors, groups, processes, diagnostics, and the fd-level entry points.
 * Locking: see host_priv.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <unistd.h>

#include <tcemu/dma.h>
#include <tcemu/host.h>

#include "host_priv.h"
#include "platform_priv.h"

#define OWN_FD_BASE 1000
#define CAP_IPC_LOCK_BIT 14

/* ---- helpers for the other files ---- */

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

/* ---- the guest gate (host_priv.h) ---- */

void host_gate_close(struct tcemu_host *h)
{
	__atomic_add_fetch(&h->gate_closed, 1, __ATOMIC_SEQ_CST);
	pthread_mutex_lock(&h->glink_lock);
	for (struct guest_link *gl = h->glinks; gl; gl = gl->next) {
		/* a hypercall that set busy before seeing the gate closed finishes; none starts */
		for (unsigned spins = 0; __atomic_load_n(gl->lock, __ATOMIC_SEQ_CST) & GUEST_LOCK_FAST; spins++) {
			if (spins < 1000)
				tcemu_cpu_relax();
			else
				sched_yield();
		}
		container_guest_flush(gl);
	}
	pthread_mutex_unlock(&h->glink_lock);
}

void host_gate_open(struct tcemu_host *h)
{
	__atomic_sub_fetch(&h->gate_closed, 1, __ATOMIC_RELEASE);
}

void host_gate_flush(struct tcemu_host *h)
{
	host_gate_close(h);
	host_gate_open(h);
}

void host_glink_add(struct tcemu_host *h, struct guest_link *gl)
{
	pthread_mutex_lock(&h->glink_lock);
	gl->next = h->glinks;
	h->glinks = gl;
	gl->listed = true;
	pthread_mutex_unlock(&h->glink_lock);
}

void host_glink_del(struct tcemu_host *h, struct guest_link *gl)
{
	pthread_mutex_lock(&h->glink_lock);
	for (struct guest_link **p = &h->glinks; *p; p = &(*p)->next) {
		if (*p == gl) {
			*p = gl->next;
			break;
		}
	}
	gl->listed = false;
	/* Not busy (its window's mutex is held); under the list lock no closer changes the regions. */
	container_guest_flush(gl);
	pthread_mutex_unlock(&h->glink_lock);
}

void host_defect(struct tcemu_host *h, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	tcemu_logf(&h->lg, TCEMU_LOG_WARN, "client defect: %s", buf);
	__atomic_add_fetch(&h->stats.defects, 1, __ATOMIC_RELAXED);
	pthread_mutex_lock(&h->stats_lock);
	if (h->ndefects < TCEMU_MAX_DEFECTS) {
		char **n = realloc(h->defects, (h->ndefects + 1) * sizeof(*n));
		if (n) {
			h->defects = n;
			h->defects[h->ndefects] = strdup(buf);
			if (h->defects[h->ndefects])
				h->ndefects++;
		}
	}
	pthread_mutex_unlock(&h->stats_lock);
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

	pthread_mutex_lock(&h->mms_lock);
	for (mm = h->mms; mm; mm = mm->next)
		if (mm->pid == pid)
			goto out;
	if (!create)
		goto out;
	mm = host_alloc(h, sizeof(*mm));
	if (!mm)
		goto out;
	if (pthread_rwlock_init(&mm->lock, NULL)) {
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
	pthread_mutex_unlock(&h->mms_lock);
	return mm;
}

/* Makes the descriptor table hold descriptor fd. host->lock held. */
static int fdtab_reserve(struct tcemu_host *h, int fd)
{
	size_t cap = h->fdcap ? h->fdcap : 64;
	struct file **n;

	if ((size_t)fd < h->fdcap)
		return 0;
	while (cap <= (size_t)fd)
		cap *= 2;
	n = host_realloc(h, h->fdtab, cap * sizeof(*n));
	if (!n)
		return -ENOMEM;
	memset(n + h->fdcap, 0, (cap - h->fdcap) * sizeof(*n));
	h->fdtab = n;
	h->fdcap = cap;
	return 0;
}

int host_new_fd(struct tcemu_host *h, struct file *f, int *out)
{
	int fd = h->ops.fd_alloc ? h->ops.fd_alloc(h->ops.opaque) : h->next_own_fd++;
	int rc;

	if (fd < 0)
		return fd;
	rc = fd >= TCEMU_MAX_FD ? -EMFILE : fdtab_reserve(h, fd);
	if (!rc && h->fdtab[fd])
		rc = -ENOMEM; /* the allocator handed out a number still in use */
	if (rc) {
		if (h->ops.fd_release)
			h->ops.fd_release(h->ops.opaque, fd);
		return rc;
	}
	h->fdtab[fd] = f;
	f->refs++;
	*out = fd;
	return 0;
}

static struct file *fd_file(struct tcemu_host *h, int fd)
{
	return fd >= 0 && (size_t)fd < h->fdcap ? h->fdtab[fd] : NULL;
}

/* ---- groups ---- */

static struct group *group_by_number(struct tcemu_host *h, uint32_t n)
{
	for (size_t i = 0; i < h->ngroups; i++)
		if (h->groups[i].number == n)
			return &h->groups[i];
	return NULL;
}

static void container_put(struct tcemu_host *h, struct container *c)
{
	(void)h;
	if (--c->users == 0)
		container_free(c);
}

struct container *host_container_get(struct tcemu_host *h, int fd)
{
	struct container *c = NULL;
	struct file *f;

	pthread_mutex_lock(&h->lock);
	f = fd_file(h, fd);
	if (f && f->kind == FILE_CONTAINER) {
		c = f->container;
		c->users++;
	}
	pthread_mutex_unlock(&h->lock);
	return c;
}

void host_container_put(struct tcemu_host *h, struct container *c)
{
	pthread_mutex_lock(&h->lock);
	container_put(h, c);
	pthread_mutex_unlock(&h->lock);
}

/* Detaches g from its container. host->lock held. */
static void group_unset(struct tcemu_host *h, struct group *g)
{
	struct container *c = g->container;

	container_detach_group(c, g);
	g->container = NULL;
	container_put(h, c);
}

/* The group file and every device file of the group are gone: the group is closed. */
static void group_maybe_close(struct tcemu_host *h, struct group *g)
{
	if (g->open || g->device_fds)
		return;
	if (g->container)
		group_unset(h, g);
}

static void file_release(struct tcemu_host *h, struct file *f)
{
	switch (f->kind) {
	case FILE_CONTAINER:
		container_put(h, f->container);
		break;
	case FILE_GROUP:
		f->group->open = false;
		group_maybe_close(h, f->group);
		break;
	case FILE_DEVICE:
		f->device.group->device_fds--;
		group_maybe_close(h, f->device.group);
		break;
	}
	free(f);
}

static void file_put(struct tcemu_host *h, struct file *f)
{
	if (--f->refs == 0)
		file_release(h, f);
}

long group_get_status(struct group *g, struct vfio_group_status *st)
{
	pthread_mutex_lock(&g->host->lock);
	st->flags = VFIO_GROUP_FLAGS_VIABLE | (g->container ? VFIO_GROUP_FLAGS_CONTAINER_SET : 0);
	pthread_mutex_unlock(&g->host->lock);
	return 0;
}

long group_set_container(struct group *g, int cfd)
{
	struct tcemu_host *h = g->host;
	struct file *cf;
	long rc;

	pthread_mutex_lock(&h->lock);
	cf = fd_file(h, cfd);
	if (!cf && fcntl(cfd, F_GETFD) < 0) {
		rc = -EBADF;
		goto out;
	}
	if (g->container) {
		rc = -EINVAL;
		goto out;
	}
	if (!cf || cf->kind != FILE_CONTAINER) {
		rc = -EBADFD; /* open, but not a container (EINVAL before Linux 6.2) */
		goto out;
	}
	rc = container_attach_group(cf->container, g);
	if (rc)
		goto out;
	g->container = cf->container;
	cf->container->users++;
	if (cf->container->first_fd == 0)
		cf->container->first_fd = cfd;
out:
	pthread_mutex_unlock(&h->lock);
	return rc;
}

long group_unset_container(struct group *g)
{
	struct tcemu_host *h = g->host;
	long rc = 0;

	pthread_mutex_lock(&h->lock);
	if (!g->container)
		rc = -EINVAL;
	else if (g->device_fds)
		rc = -EBUSY;
	else
		group_unset(h, g);
	pthread_mutex_unlock(&h->lock);
	return rc;
}

long group_get_device_fd(struct group *g, const char *name)
{
	struct tcemu_host *h = g->host;
	struct file *f;
	int fd = -1;
	long rc;

	pthread_mutex_lock(&h->lock);
	if (!g->container || !g->container->type) {
		rc = -EINVAL;
		goto out;
	}
	rc = -ENODEV;
	for (size_t i = 0; i < g->ndevs; i++) {
		if (strcasecmp(tcemu_vdev_info(g->devs[i])->bdf, name) != 0)
			continue;
		f = host_alloc(h, sizeof(*f));
		if (!f) {
			rc = -ENOMEM;
			goto out;
		}
		f->kind = FILE_DEVICE;
		f->device.group = g;
		f->device.vdev = g->devs[i];
		rc = host_new_fd(h, f, &fd);
		if (rc) {
			free(f);
			goto out;
		}
		g->device_fds++;
		rc = fd;
		break;
	}
out:
	pthread_mutex_unlock(&h->lock);
	return rc;
}

/* ---- public entry points ---- */

TCEMU_EXPORT bool tcemu_host_owns_path(const char *path)
{
	return path && (strcmp(path, "/dev/vfio") == 0 || strncmp(path, "/dev/vfio/", 10) == 0);
}

TCEMU_EXPORT int tcemu_host_open(struct tcemu_host *h, const char *path, int flags, int *fd)
{
	struct file *f;
	struct group *g = NULL;
	int rc;

	(void)flags;
	if (!path || !fd)
		return -EINVAL;
	if (strcmp(path, "/dev/vfio/vfio") != 0) {
		const char *p = path + 10;
		char *end;
		unsigned long n;

		if (strncmp(path, "/dev/vfio/", 10) != 0 || *p < '0' || *p > '9')
			return -ENOENT;
		n = strtoul(p, &end, 10);
		if (*end || n > UINT32_MAX)
			return -ENOENT;
		g = group_by_number(h, (uint32_t)n);
		if (!g)
			return -ENOENT;
	}
	f = host_alloc(h, sizeof(*f));
	if (!f)
		return -ENOMEM;
	pthread_mutex_lock(&h->lock);
	if (g) {
		/* Busy while open, or while a previous open is still in use (a device holds it attached). */
		if (g->open || g->container) {
			rc = -EBUSY;
			goto err_unlock;
		}
		f->kind = FILE_GROUP;
		f->group = g;
	} else {
		f->kind = FILE_CONTAINER;
		f->container = container_new(h);
		if (!f->container) {
			rc = -ENOMEM;
			goto err_unlock;
		}
	}
	rc = host_new_fd(h, f, fd);
	if (rc) {
		if (!g)
			container_free(f->container);
		goto err_unlock;
	}
	if (g) {
		g->open = true;
	} else {
		f->container->users = 1;
		f->container->first_fd = *fd;
	}
	pthread_mutex_unlock(&h->lock);
	if (h->trace)
		tcemu_logf(&h->lg, TCEMU_LOG_DEBUG, "open(\"%s\") = %d", path, *fd);
	return 0;

err_unlock:
	pthread_mutex_unlock(&h->lock);
	free(f);
	return rc;
}

TCEMU_EXPORT int tcemu_host_close(struct tcemu_host *h, int fd)
{
	struct file *f;

	pthread_mutex_lock(&h->lock);
	f = fd_file(h, fd);
	if (!f) {
		pthread_mutex_unlock(&h->lock);
		return -EBADF;
	}
	h->fdtab[fd] = NULL;
	file_put(h, f);
	pthread_mutex_unlock(&h->lock);
	if (h->ops.fd_release)
		h->ops.fd_release(h->ops.opaque, fd);
	if (h->trace)
		tcemu_logf(&h->lg, TCEMU_LOG_DEBUG, "close(%d) = 0", fd);
	return 0;
}

TCEMU_EXPORT int tcemu_host_dup(struct tcemu_host *h, int fd, int newfd)
{
	struct file *f;
	int rc = 0;

	if (newfd < 0 || newfd >= TCEMU_MAX_FD)
		return -EBADF;
	pthread_mutex_lock(&h->lock);
	f = fd_file(h, fd);
	if (!f)
		rc = -EBADF;
	else if (fd_file(h, newfd))
		rc = -EBUSY;
	else
		rc = fdtab_reserve(h, newfd);
	if (rc == 0) {
		h->fdtab[newfd] = f;
		f->refs++;
	}
	pthread_mutex_unlock(&h->lock);
	return rc;
}

TCEMU_EXPORT bool tcemu_host_is_fd(struct tcemu_host *h, int fd)
{
	bool r;

	pthread_mutex_lock(&h->lock);
	r = fd_file(h, fd) != NULL;
	pthread_mutex_unlock(&h->lock);
	return r;
}

TCEMU_EXPORT enum tcemu_fd_kind tcemu_host_fd_kind(struct tcemu_host *h, int fd)
{
	struct file *f;
	enum tcemu_fd_kind k;

	pthread_mutex_lock(&h->lock);
	f = fd_file(h, fd);
	k = f ? (enum tcemu_fd_kind)f->kind : TCEMU_FD_NONE;
	pthread_mutex_unlock(&h->lock);
	return k;
}

/* Looks fd up and takes a reference for the duration of a call. */
static struct file *file_get(struct tcemu_host *h, int fd)
{
	struct file *f;

	pthread_mutex_lock(&h->lock);
	f = fd_file(h, fd);
	if (f)
		f->refs++;
	pthread_mutex_unlock(&h->lock);
	return f;
}

static void file_unget(struct tcemu_host *h, struct file *f)
{
	pthread_mutex_lock(&h->lock);
	file_put(h, f);
	pthread_mutex_unlock(&h->lock);
}

TCEMU_EXPORT long tcemu_host_ioctl(struct tcemu_host *h, int fd, unsigned long cmd, void *arg)
{
	struct file *f = file_get(h, fd);
	long rc;

	if (!f)
		return -EBADF;
	rc = vfio_dispatch(h, f, fd, cmd, arg);
	file_unget(h, f);
	return rc;
}

static ssize_t device_rw(struct tcemu_host *h, int fd, void *buf, size_t len, uint64_t off, bool write)
{
	struct file *f = file_get(h, fd);
	ssize_t rc;

	if (!f)
		return -EBADF;
	if (f->kind != FILE_DEVICE)
		rc = -EINVAL;
	else if (tcemu_pe_mmio_stopped(f->device.group->pe) && (off >> TCEMU_VDEV_REGION_SHIFT) != VFIO_PCI_CONFIG_REGION_INDEX) {
		/* A frozen PE: MMIO reads return all ones, writes are dropped. */
		if (!write)
			memset(buf, 0xff, len);
		rc = (ssize_t)len;
	} else
		rc = tcemu_vdev_rw(f->device.vdev, buf, len, off, write);
	file_unget(h, f);
	return rc;
}

TCEMU_EXPORT ssize_t tcemu_host_pread(struct tcemu_host *h, int fd, void *buf, size_t len, uint64_t off)
{
	return device_rw(h, fd, buf, len, off, false);
}

TCEMU_EXPORT ssize_t tcemu_host_pwrite(struct tcemu_host *h, int fd, const void *buf, size_t len, uint64_t off)
{
	return device_rw(h, fd, (void *)buf, len, off, true);
}

TCEMU_EXPORT int tcemu_host_region_fd(struct tcemu_host *h, int fd, uint64_t offset, int *memfd)
{
	struct file *f = file_get(h, fd);
	int rc;

	if (!f)
		return -EBADF;
	rc = f->kind == FILE_DEVICE
		     ? tcemu_vdev_region_fd(f->device.vdev, (unsigned)(offset >> TCEMU_VDEV_REGION_SHIFT), memfd)
		     : -EINVAL;
	file_unget(h, f);
	return rc;
}

/* ---- creation ---- */

/* A PE's invalidation count is read: the kills the guest links keep go to their PEs first. */
static void host_sync_kills(void *opaque)
{
	host_gate_flush(opaque);
}

static int groups_build(struct tcemu_host *h)
{
	size_t n = tcemu_platform_pe_count(h->plat);
	int rc;

	h->groups = calloc(n ? n : 1, sizeof(*h->groups));
	if (!h->groups)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct group *g = &h->groups[i];
		struct tcemu_pe_info pi;

		g->host = h;
		g->pe = tcemu_platform_pe(h->plat, i);
		g->pe->sync_kills = host_sync_kills;
		g->pe->sync_opaque = h;
		tcemu_pe_info(g->pe, &pi);
		g->number = pi.group;
		g->devs = calloc(pi.ndevices ? pi.ndevices : 1, sizeof(*g->devs));
		if (!g->devs)
			return -ENOMEM;
		h->ngroups = i + 1;
		for (size_t d = 0; d < pi.ndevices; d++) {
			rc = tcemu_vdev_create(tcemu_pe_device(g->pe, d), &h->lg, &g->devs[d]);
			if (rc)
				return rc;
			g->ndevs = d + 1;
		}
	}
	return 0;
}

static void groups_free(struct tcemu_host *h)
{
	for (size_t i = 0; i < h->ngroups; i++) {
		for (size_t d = 0; d < h->groups[i].ndevs; d++)
			tcemu_vdev_destroy(h->groups[i].devs[d]);
		free(h->groups[i].devs);
	}
	free(h->groups);
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
	rc = -pthread_mutex_init(&h->lock, NULL);
	if (rc)
		goto err_destroy_memory;
	rc = -pthread_mutex_init(&h->stats_lock, NULL);
	if (rc)
		goto err_destroy_lock;
	rc = -pthread_mutex_init(&h->glink_lock, NULL);
	if (rc)
		goto err_destroy_stats_lock;
	rc = -pthread_mutex_init(&h->mms_lock, NULL);
	if (rc)
		goto err_destroy_glink_lock;
	rc = groups_build(h);
	if (rc)
		goto err_free_groups;
	*out = h;
	return 0;

err_free_groups:
	groups_free(h);
	pthread_mutex_destroy(&h->mms_lock);
err_destroy_glink_lock:
	pthread_mutex_destroy(&h->glink_lock);
err_destroy_stats_lock:
	pthread_mutex_destroy(&h->stats_lock);
err_destroy_lock:
	pthread_mutex_destroy(&h->lock);
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
	tcemu_host_stats(h, &h->at_exit);
	h->exit_recorded = true;
	/* Close what the client left open: devices first, then groups, then containers. */
	for (int pass = FILE_DEVICE; pass >= FILE_CONTAINER; pass--) {
		for (size_t fd = 0; fd < h->fdcap; fd++) {
			struct file *f;

			pthread_mutex_lock(&h->lock);
			f = fd < h->fdcap ? h->fdtab[fd] : NULL;
			pthread_mutex_unlock(&h->lock);
			if (f && (int)f->kind == pass) {
				host_defect(h, "descriptor %zu (%s) was never closed", fd,
					    pass == FILE_DEVICE ? "a device" : pass == FILE_GROUP ? "a group" : "a container");
				tcemu_host_close(h, (int)fd);
			}
		}
	}
}

static void human(char *buf, size_t len, uint64_t bytes)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)bytes;
	unsigned u = 0;

	while (v >= 1024 && u + 1 < TCEMU_ARRAY_SIZE(units)) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

/* Appends to a bounded buffer, counting what would have been needed. */
struct sbuf {
	char *p;
	size_t len, used;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...) TCEMU_PRINTF(2, 3);
static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	size_t room = b->used < b->len ? b->len - b->used : 0;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(room ? b->p + b->used : NULL, room, fmt, ap);
	va_end(ap);
	if (n > 0)
		b->used += (size_t)n;
}

TCEMU_EXPORT size_t tcemu_host_summary(struct tcemu_host *h, char *buf, size_t len)
{
	struct sbuf b = { .p = buf, .len = len };
	struct tcemu_host_stats now, *end = h->exit_recorded ? &h->at_exit : &now;
	char peak[32], left[32];
	uint64_t total = 0;
	bool first = true;

	if (len)
		buf[0] = '\0';
	tcemu_host_stats(h, &now);
	for (unsigned i = 0; i < TCEMU_IOCTL_SLOTS; i++)
		total += now.ioctls[i];
	sb_printf(&b, "VFIO calls: %llu ioctls, %llu refused", (unsigned long long)total,
		  (unsigned long long)now.ioctl_errors);
	for (unsigned i = 0; i < TCEMU_IOCTL_SLOTS; i++) {
		if (!now.ioctls[i])
			continue;
		sb_printf(&b, "%s%s %llu", first ? "\n  by kind: " : ", ", tcemu_ioctl_name(i),
			  (unsigned long long)now.ioctls[i]);
		first = false;
	}
	sb_printf(&b, "\nwindows created: %llu\n", (unsigned long long)now.windows_created);
	sb_printf(&b, "entries mapped: %llu at peak, %llu at exit\n", (unsigned long long)now.entries_mapped_peak,
		  (unsigned long long)end->entries_mapped);
	sb_printf(&b, "regions registered: %llu at peak, %llu at exit\n", (unsigned long long)now.regions_peak,
		  (unsigned long long)end->regions_registered);
	human(peak, sizeof(peak), now.locked_peak);
	human(left, sizeof(left), end->locked_bytes);
	sb_printf(&b, "locked memory: %s at peak, %s at exit\n", peak, left);
	pthread_mutex_lock(&h->stats_lock);
	sb_printf(&b, "client defects: %llu\n", (unsigned long long)now.defects);
	for (size_t i = 0; i < h->ndefects; i++)
		sb_printf(&b, "  %zu. %s\n", i + 1, h->defects[i]);
	if (now.defects > h->ndefects)
		sb_printf(&b, "  (%llu more not kept)\n", (unsigned long long)(now.defects - h->ndefects));
	pthread_mutex_unlock(&h->stats_lock);
	return b.used;
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
	for (size_t i = 0; i < h->ndefects; i++)
		free(h->defects[i]);
	free(h->defects);
	free(h->fdtab);
	pthread_mutex_destroy(&h->mms_lock);
	pthread_mutex_destroy(&h->glink_lock);
	pthread_mutex_destroy(&h->stats_lock);
	pthread_mutex_destroy(&h->lock);
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

/* ---- introspection ---- */

TCEMU_EXPORT int tcemu_host_container_info(struct tcemu_host *h, int fd, struct tcemu_container_info *ci)
{
	struct file *f = file_get(h, fd);
	int rc = 0;

	if (!f)
		return -EBADF;
	if (f->kind != FILE_CONTAINER)
		rc = -EINVAL;
	else
		container_info(f->container, ci);
	file_unget(h, f);
	return rc;
}

TCEMU_EXPORT int tcemu_host_container_entry(struct tcemu_host *h, int fd, uint64_t iova, uint64_t *tce, uint64_t *ua)
{
	struct file *f = file_get(h, fd);
	int rc;

	if (!f)
		return -EBADF;
	rc = f->kind == FILE_CONTAINER ? container_entry(f->container, iova, tce, ua) : -EINVAL;
	file_unget(h, f);
	return rc;
}

TCEMU_EXPORT ssize_t tcemu_host_regions(struct tcemu_host *h, pid_t pid, struct tcemu_region_info *out, size_t max)
{
	struct mm *mm;
	ssize_t n;

	mm = host_mm_get(h, pid, false);
	if (!mm)
		return 0;
	host_gate_close(h); /* the guest fast path's uncounted entries go into the counts */
	pthread_rwlock_rdlock(&mm->lock);
	n = (ssize_t)mm->nregions;
	for (size_t i = 0; i < mm->nregions && i < max; i++) {
		const struct region *r = &mm->regions[i];

		out[i] = (struct tcemu_region_info){
			.ua = r->ua,
			.size = r->size,
			.page_shift = r->page_shift,
			.hpa = r->hpa,
			.mapped = __atomic_load_n(&r->mapped, __ATOMIC_RELAXED),
			.users = r->users,
		};
	}
	pthread_rwlock_unlock(&mm->lock);
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
	pthread_rwlock_rdlock(&mm->lock);
	if (locked)
		*locked = mm->locked;
	if (limit)
		*limit = mm->limit;
	pthread_rwlock_unlock(&mm->lock);
	return 0;
}

_Static_assert(sizeof(struct tcemu_host_stats) % sizeof(uint64_t) == 0, "host stats are read as uint64_t words");
_Static_assert(_Alignof(struct tcemu_host_stats) == _Alignof(uint64_t), "host stats are uint64_t counters");
TCEMU_EXPORT void tcemu_host_stats(struct tcemu_host *h, struct tcemu_host_stats *st)
{
	const uint64_t *src = (const uint64_t *)&h->stats;
	uint64_t *dst = (uint64_t *)st;

	/* The guest fast path's uncounted entries go in first (host_priv.h: the gate). */
	host_gate_flush(h);
	/* The counters are independent atomics: read each one atomically. */
	for (size_t i = 0; i < sizeof(*st) / sizeof(uint64_t); i++)
		dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}

TCEMU_EXPORT size_t tcemu_host_defect_count(struct tcemu_host *h)
{
	return (size_t)__atomic_load_n(&h->stats.defects, __ATOMIC_RELAXED);
}

TCEMU_EXPORT int tcemu_host_defect(struct tcemu_host *h, size_t i, char *buf, size_t len)
{
	int rc = 0;

	pthread_mutex_lock(&h->stats_lock);
	if (i >= h->ndefects)
		rc = -ENOENT;
	else if (len)
		snprintf(buf, len, "%s", h->defects[i]);
	pthread_mutex_unlock(&h->stats_lock);
	return rc;
}

TCEMU_EXPORT uint64_t tcemu_host_fail_alloc(struct tcemu_host *h, uint64_t nth)
{
	uint64_t counted = __atomic_exchange_n(&h->alloc_count, 0, __ATOMIC_RELAXED);

	__atomic_store_n(&h->fail_nth, nth, __ATOMIC_RELAXED);
	return counted;
}
