/* SPDX-License-Identifier: MIT */
/*
 * Private: the built-in device model types (virtio_net.c, virtio_blk.c), found by name through
 * tcemu_model_builtin (model.c).
 */
#ifndef TCEMU_SRC_DEVICES_MODELS_H
#define TCEMU_SRC_DEVICES_MODELS_H

#include <stdbool.h>
#include <stddef.h>

#include <tcemu/devmodel.h>

extern const struct tcemu_model_type tcemu_virtio_net_type;
extern const struct tcemu_model_type tcemu_virtio_blk_type;

struct tcemu_host;

/*
 * Attaches the models a host's topology gave (model=), in topology order: called once by
 * tcemu_host_create after its groups are built. 0, or the first attach's negative errno (logged).
 */
int host_attach_topology_models(struct tcemu_host *h);

/*
 * The built-in models' counters, one line per device ("devices:" first), for the host's summary;
 * returns the length written (0: no model has counters). Takes host->lock, then each model's lock
 * (in_signal: only tries them, and leaves out what it could not lock).
 */
size_t host_models_summary(struct tcemu_host *h, char *buf, size_t len, bool in_signal);

/*
 * tcemu_model_set_context for the built-in models' hot paths: the context is kept unformatted and
 * formatted (snprintf(fmt, s1, u1, s2, u2)) only when a fault is recorded, since formatting it for
 * every descriptor cost more than the DMA itself. Kept per thread without a lock: it names the
 * next DMA of the calling thread on model m. fmt is a string literal whose conversions take
 * the arguments in that order, %s %u %s %u, or a prefix of them; s1 and s2 must outlive the
 * model (literals, queue names).
 */
void model_context(struct tcemu_model *m, const char *fmt, const char *s1, unsigned u1, const char *s2, unsigned u2)
	__attribute__((format(printf, 2, 0)));

/*
 * malloc for the built-in models, through their host's failure injection (tcemu_host_fail_alloc):
 * NULL when out of memory or when the failure is injected. Any thread.
 */
void *model_malloc(struct tcemu_model *m, size_t size);

/*
 * virtio-net's counters as "tx N packets (N dropped), rx N packets (N dropped, N waiting)"
 * (virtio_net.c). -EBUSY (nothing written) when try and its lock is taken.
 */
int virtio_net_counters(struct tcemu_model *m, char *buf, size_t len, bool try);

/*
 * virtio-blk's counters as "N reads (N bytes), N writes (N bytes), N flushes, N errors"
 * (virtio_blk.c), the same way.
 */
int virtio_blk_counters(struct tcemu_model *m, char *buf, size_t len, bool try);

#endif
