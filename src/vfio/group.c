/* SPDX-License-Identifier: MIT */
/*
 * IOMMU groups (/dev/vfio/N): the group ioctls, the group's open and attach state, and the groups
 * built with the host (one per PE, with its devices).
 *
 * Locking: vfio/group.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <tcemu/platform.h>

#include "core/platform_priv.h"
#include "guest/gate.h"
#include "vfio/container.h"
#include "vfio/group.h"
#include "vfio/host_priv.h"

struct group *group_by_number(struct tcemu_host *h, uint32_t n)
{
	for (size_t i = 0; i < h->ngroups; i++)
		if (h->groups[i].number == n)
			return &h->groups[i];
	return NULL;
}

/* Detaches g from its container. host->lock held. */
static void group_unset(struct tcemu_host *h, struct group *g)
{
	struct container *c = g->container;

	TCEMU_ASSERT_HELD(&h->lock);
	TCEMU_ASSERT(c != NULL);
	container_detach_group(c, g);
	g->container = NULL;
	container_put(h, c);
}

/* The group file and every device file of the group are gone: the group is closed. */
void group_maybe_close(struct tcemu_host *h, struct group *g)
{
	TCEMU_ASSERT_HELD(&h->lock);
	if (g->open || g->device_fds)
		return;
	if (g->container)
		group_unset(h, g);
}

long group_get_status(struct group *g, struct vfio_group_status *st)
{
	tcemu_mutex_lock(&g->host->lock);
	st->flags = VFIO_GROUP_FLAGS_VIABLE | (g->container ? VFIO_GROUP_FLAGS_CONTAINER_SET : 0);
	tcemu_mutex_unlock(&g->host->lock);
	return 0;
}

long group_set_container(struct group *g, int cfd)
{
	struct tcemu_host *h = g->host;
	struct file *cf;
	long rc;

	tcemu_mutex_lock(&h->lock);
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
	tcemu_mutex_unlock(&h->lock);
	return rc;
}

long group_unset_container(struct group *g)
{
	struct tcemu_host *h = g->host;
	long rc = 0;

	tcemu_mutex_lock(&h->lock);
	if (!g->container)
		rc = -EINVAL;
	else if (g->device_fds)
		rc = -EBUSY;
	else
		group_unset(h, g);
	tcemu_mutex_unlock(&h->lock);
	return rc;
}

long group_get_device_fd(struct group *g, const char *name)
{
	struct tcemu_host *h = g->host;
	struct file *f;
	int fd = -1;
	long rc;

	tcemu_mutex_lock(&h->lock);
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
	tcemu_mutex_unlock(&h->lock);
	return rc;
}

/* A PE's invalidation count is read: the kills the guest links keep go to their PEs first. */
static void host_sync_kills(void *opaque)
{
	host_gate_flush(opaque);
}

int groups_build(struct tcemu_host *h)
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

void groups_free(struct tcemu_host *h)
{
	for (size_t i = 0; i < h->ngroups; i++) {
		for (size_t d = 0; d < h->groups[i].ndevs; d++)
			tcemu_vdev_destroy(h->groups[i].devs[d]);
		free(h->groups[i].devs);
	}
	free(h->groups);
}
