/* SPDX-License-Identifier: MIT */
/*
 * Private: IOMMU groups (struct group, /dev/vfio/N), one per PE, made with the host; their ioctls
 * and their life, defined in vfio/group.c.
 *
 * Locking (the order is vfio/host_priv.h's): host->lock protects open, container and device_fds
 * (the group's open and attach state); attached_to_backend is written under the container's lock
 * held exclusive; host, pe, number, devs and ndevs are set when the host is made. In debug builds
 * the functions documented "host->lock held" assert it, and the backend's attach and detach assert
 * the container's lock exclusive when they write attached_to_backend.
 */
#ifndef TCEMU_SRC_VFIO_GROUP_H
#define TCEMU_SRC_VFIO_GROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/vfio.h>

struct tcemu_host;
struct tcemu_pe;
struct tcemu_vdev;
struct container;

struct group {
	struct tcemu_host *host;
	struct tcemu_pe *pe;
	uint32_t number;
	bool open;
	struct container *container; /* under host->lock */
	unsigned device_fds;     /* open device descriptors (under host->lock) */
	bool attached_to_backend;  /* the backend took the PE's ownership */
	struct tcemu_vdev **devs;  /* one per device of the PE (created at host creation) */
	size_t ndevs;
};

/* group ioctls */
long group_get_status(struct group *g, struct vfio_group_status *st);
long group_set_container(struct group *g, int container_fd);
long group_unset_container(struct group *g);
long group_get_device_fd(struct group *g, const char *name);

/* The group numbered n, or NULL. */
struct group *group_by_number(struct tcemu_host *h, uint32_t n);
/* The group file and every device file of the group are gone: the group is closed. host->lock held. */
void group_maybe_close(struct tcemu_host *h, struct group *g);
/* One group per PE, with its devices, at host creation; groups_free undoes what was built. */
int groups_build(struct tcemu_host *h);
void groups_free(struct tcemu_host *h);

#endif
