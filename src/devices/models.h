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

#endif
