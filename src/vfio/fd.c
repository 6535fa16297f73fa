/* SPDX-License-Identifier: MIT */
/*
 * The host's descriptor table: open, dup, close, the files behind descriptors and their
 * references, and the fd-level entry points (ioctl, pread/pwrite, region_fd, the container
 * introspection calls).
 *
 * Locking (vfio/host_priv.h): host->lock protects the table and the files' references. A call
 * looks its file up and takes a reference under it, then drops it before doing the work.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <tcemu/host.h>
#include <tcemu/platform.h>

#include "vfio/container.h"
#include "vfio/group.h"
#include "vfio/host_priv.h"

/* Makes the descriptor table hold descriptor fd. host->lock held. */
static int fdtab_reserve(struct tcemu_host *h, int fd)
{
	size_t cap = h->fdcap ? h->fdcap : 64;
	struct file **n;

	TCEMU_ASSERT_HELD(&h->lock);
	TCEMU_ASSERT(fd >= 0 && fd < TCEMU_MAX_FD);
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
	int fd;
	int rc;

	TCEMU_ASSERT_HELD(&h->lock);
	fd = h->ops.fd_alloc ? h->ops.fd_alloc(h->ops.opaque) : h->next_own_fd++;
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

void container_put(struct tcemu_host *h, struct container *c)
{
	TCEMU_ASSERT_HELD(&h->lock);
	TCEMU_ASSERT(c->host == h);
	TCEMU_ASSERT(c->users > 0); /* a put without its get */
	if (--c->users == 0)
		container_free(c);
}

struct container *host_container_get(struct tcemu_host *h, int fd)
{
	struct container *c = NULL;
	struct file *f;

	tcemu_mutex_lock(&h->lock);
	f = fd_file(h, fd);
	if (f && f->kind == FILE_CONTAINER) {
		c = f->container;
		c->users++;
	}
	tcemu_mutex_unlock(&h->lock);
	return c;
}

void host_container_put(struct tcemu_host *h, struct container *c)
{
	tcemu_mutex_lock(&h->lock);
	container_put(h, c);
	tcemu_mutex_unlock(&h->lock);
}

/* The last reference to f is gone. host->lock held. */
static void file_release(struct tcemu_host *h, struct file *f)
{
	TCEMU_ASSERT_HELD(&h->lock);
	TCEMU_ASSERT(f->refs == 0);
	switch (f->kind) {
	case FILE_CONTAINER:
		container_put(h, f->container);
		break;
	case FILE_GROUP:
		TCEMU_ASSERT(f->group->open);
		f->group->open = false;
		group_maybe_close(h, f->group);
		break;
	case FILE_DEVICE:
		TCEMU_ASSERT(f->device.group->device_fds > 0);
		f->device.group->device_fds--;
		group_maybe_close(h, f->device.group);
		break;
	}
	free(f);
}

/* Drops one reference to f (a descriptor or a call in flight). host->lock held. */
static void file_put(struct tcemu_host *h, struct file *f)
{
	TCEMU_ASSERT_HELD(&h->lock);
	TCEMU_ASSERT(f->refs > 0); /* a put without its get */
	if (--f->refs == 0)
		file_release(h, f);
}

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
	tcemu_mutex_lock(&h->lock);
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
	tcemu_mutex_unlock(&h->lock);
	if (h->trace) {
		host_trace_flush(h);
		tcemu_logf(&h->lg, TCEMU_LOG_DEBUG, "open(\"%s\") = %d", path, *fd);
	}
	return 0;

err_unlock:
	tcemu_mutex_unlock(&h->lock);
	free(f);
	return rc;
}

TCEMU_EXPORT int tcemu_host_close(struct tcemu_host *h, int fd)
{
	struct file *f;

	tcemu_mutex_lock(&h->lock);
	f = fd_file(h, fd);
	if (!f) {
		tcemu_mutex_unlock(&h->lock);
		return -EBADF;
	}
	h->fdtab[fd] = NULL;
	file_put(h, f);
	tcemu_mutex_unlock(&h->lock);
	if (h->ops.fd_release)
		h->ops.fd_release(h->ops.opaque, fd);
	if (h->trace) {
		host_trace_flush(h);
		tcemu_logf(&h->lg, TCEMU_LOG_DEBUG, "close(%d) = 0", fd);
	}
	return 0;
}

TCEMU_EXPORT int tcemu_host_dup(struct tcemu_host *h, int fd, int newfd)
{
	struct file *f;
	int rc = 0;

	if (newfd < 0 || newfd >= TCEMU_MAX_FD)
		return -EBADF;
	tcemu_mutex_lock(&h->lock);
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
	tcemu_mutex_unlock(&h->lock);
	return rc;
}

TCEMU_EXPORT bool tcemu_host_is_fd(struct tcemu_host *h, int fd)
{
	bool r;

	tcemu_mutex_lock(&h->lock);
	r = fd_file(h, fd) != NULL;
	tcemu_mutex_unlock(&h->lock);
	return r;
}

TCEMU_EXPORT enum tcemu_fd_kind tcemu_host_fd_kind(struct tcemu_host *h, int fd)
{
	struct file *f;
	enum tcemu_fd_kind k;

	tcemu_mutex_lock(&h->lock);
	f = fd_file(h, fd);
	k = f ? (enum tcemu_fd_kind)f->kind : TCEMU_FD_NONE;
	tcemu_mutex_unlock(&h->lock);
	return k;
}

/* Looks fd up and takes a reference for the duration of a call. */
static struct file *file_get(struct tcemu_host *h, int fd)
{
	struct file *f;

	tcemu_mutex_lock(&h->lock);
	f = fd_file(h, fd);
	if (f)
		f->refs++;
	tcemu_mutex_unlock(&h->lock);
	return f;
}

static void file_unget(struct tcemu_host *h, struct file *f)
{
	tcemu_mutex_lock(&h->lock);
	file_put(h, f);
	tcemu_mutex_unlock(&h->lock);
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
