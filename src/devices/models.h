/* SPDX-License-Identifier: MIT */
/*
 * Private: the built-in device model types (virtio_net.c, virtio_blk.c), found by name through
 * tcemu_model_builtin (model.c).
 */
#ifndef TCEMU_SRC_DEVICES_MODELS_H
#define TCEMU_SRC_DEVICES_MODELS_H

#include <tcemu/devmodel.h>

extern const struct tcemu_model_type tcemu_virtio_net_type;
extern const struct tcemu_model_type tcemu_virtio_blk_type;

struct tcemu_host;

/*
 * Attaches the models a host's topology gave (model=), in topology order: called once by
 * tcemu_host_create after its groups are built. 0, or the first attach's negative errno (logged).
 */
int host_attach_topology_models(struct tcemu_host *h);

#endif
