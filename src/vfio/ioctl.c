/* SPDX-License-Identifier: MIT */
/*
 * The VFIO ioctl table. Every command is one row at its slot (command number - VFIO_BASE, written
 * by a macro of the command, never by hand): {name, descriptor kind, argument form, minimum and
 * maximum size, accepted input flags, mode, copy-out, payload, precheck, handler}. The row macros
 * check at compile time that the slot exists and that a struct argument fits the rules and the
 * argument buffer.
 * vfio_dispatch() is the one place that checks the command (ENOTTY), the backend's owner rule
 * (EPERM), the v1/v2 mode (ENOTTY), the argsz minimum (EINVAL) and the flags (EINVAL), copies the
 * argument in and out safely (EFAULT), counts and traces. Prechecks are the rules the spec orders
 * before the argsz check (for example MAP_DMA's EPERM when the container is not enabled).
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vfio/container.h"
#include "vfio/group.h"
#include "vfio/host_priv.h"
#include "vfio/probe.h"

/* A command's slot in the table and in the statistics: its number less VFIO_BASE. */
#define SLOT(cmd) ((unsigned)_IOC_NR(cmd) - VFIO_BASE)
#define OFFSETOFEND(type, field) (offsetof(type, field) + sizeof(((type *)0)->field))
#define FLAGS_ANY UINT32_MAX
#define MAX_ARGSZ (64u << 10) /* SET_IRQS with many eventfds at most */

enum arg_form {
	ARG_NONE,   /* no argument */
	ARG_VALUE,  /* the argument is a number */
	ARG_STRUCT, /* a struct starting with argsz and flags */
	ARG_INTPTR, /* a pointer to an int */
	ARG_STRING, /* a NUL-terminated string */
};

enum mode {
	CORE,    /* VFIO core: no backend rules */
	BACKEND, /* sPAPR backend, v1 and v2 */
	V1_ONLY,
	V2_ONLY,
};

struct call {
	struct tcemu_host *h;
	struct file *f;
	int fd;
	void *uarg;       /* the client's argument */
	union {
		unsigned long value;
		int intval;
		char str[64];
		struct {
			uint32_t argsz;
			uint32_t flags;
		} hdr;
		uint8_t buf[sizeof(struct vfio_iommu_spapr_tce_create) + sizeof(struct vfio_eeh_pe_op)];
	} in;
	void *data;        /* SET_IRQS payload (argsz bytes copied) */
	uint32_t out_len;  /* bytes of the struct copied back (0: none) */
};
/* The handlers read in.buf as the command's struct (64-bit fields), hdr as its first 8 bytes. */
_Static_assert(_Alignof(__typeof__(((struct call *)0)->in)) >= _Alignof(uint64_t), "in.buf holds 64-bit fields");
_Static_assert(sizeof(((struct call *)0)->in.hdr) == 8, "hdr is argsz and flags, unpadded");

typedef long (*handler_fn)(struct call *x);

struct ioctl_desc {
	const char *name;
	enum file_kind kind;
	enum arg_form form;
	uint32_t minsz;
	uint32_t maxsz;
	uint32_t flags_ok;
	enum mode mode;
	bool copy_out;
	bool payload;      /* data follows the struct, up to argsz (copied into call.data) */
	handler_fn precheck;
	handler_fn handler;
};

static struct container *C(struct call *x)
{
	return x->f->container;
}

/* ---- container: VFIO core ---- */

static long h_api_version(struct call *x)
{
	(void)x;
	return VFIO_API_VERSION;
}

static long h_check_extension(struct call *x)
{
	return container_check_extension(C(x), x->in.value);
}

static long h_set_iommu(struct call *x)
{
	long rc;

	tcemu_mutex_lock(&x->h->lock);
	rc = container_set_iommu(C(x), x->in.value);
	tcemu_mutex_unlock(&x->h->lock);
	return rc;
}

/* ---- container: sPAPR backend ---- */

static long p_groups(struct call *x)
{
	return spapr_need_groups(C(x));
}

static long p_enabled(struct call *x)
{
	return spapr_need_enabled(C(x));
}

static long p_record_owner(struct call *x)
{
	return spapr_record_owner(C(x), host_caller(x->h));
}

static long p_record_owner_groups(struct call *x)
{
	long rc = p_record_owner(x);
	return rc ? rc : p_groups(x);
}

static long p_owner_known(struct call *x)
{
	return spapr_need_owner(C(x));
}

static long h_get_info(struct call *x)
{
	return spapr_get_info(C(x), (struct vfio_iommu_spapr_tce_info *)x->in.buf, &x->out_len);
}

static long h_map(struct call *x)
{
	return spapr_map(C(x), (struct vfio_iommu_type1_dma_map *)x->in.buf);
}

static long h_unmap(struct call *x)
{
	return spapr_unmap(C(x), (struct vfio_iommu_type1_dma_unmap *)x->in.buf);
}

static long h_enable(struct call *x)
{
	return spapr_enable(C(x), host_caller(x->h));
}

static long h_disable(struct call *x)
{
	return spapr_disable(C(x));
}

static long h_register(struct call *x)
{
	return spapr_register(C(x), (struct vfio_iommu_spapr_register_memory *)x->in.buf);
}

static long h_unregister(struct call *x)
{
	return spapr_unregister(C(x), (struct vfio_iommu_spapr_register_memory *)x->in.buf);
}

static long h_create(struct call *x)
{
	return spapr_create(C(x), (struct vfio_iommu_spapr_tce_create *)x->in.buf);
}

static long h_remove(struct call *x)
{
	return spapr_remove(C(x), (struct vfio_iommu_spapr_tce_remove *)x->in.buf);
}

static long h_eeh(struct call *x)
{
	return spapr_eeh(C(x), (struct vfio_eeh_pe_op *)x->in.buf, x->in.hdr.argsz);
}

/* ---- group ---- */

static long h_group_status(struct call *x)
{
	return group_get_status(x->f->group, (struct vfio_group_status *)x->in.buf);
}

static long h_group_set(struct call *x)
{
	return group_set_container(x->f->group, x->in.intval);
}

static long h_group_unset(struct call *x)
{
	return group_unset_container(x->f->group);
}

static long h_group_device(struct call *x)
{
	return group_get_device_fd(x->f->group, x->in.str);
}

/* ---- device ---- */

static struct tcemu_vdev *D(struct call *x)
{
	return x->f->device.vdev;
}

static long h_dev_info(struct call *x)
{
	return tcemu_vdev_get_info(D(x), (struct vfio_device_info *)x->in.buf);
}

static long h_dev_region(struct call *x)
{
	return tcemu_vdev_get_region_info(D(x), (struct vfio_region_info *)x->in.buf);
}

static long h_dev_irq(struct call *x)
{
	return tcemu_vdev_get_irq_info(D(x), (struct vfio_irq_info *)x->in.buf);
}

static long h_dev_set_irqs(struct call *x)
{
	const struct vfio_irq_set *hdr = (const struct vfio_irq_set *)x->in.buf;

	return tcemu_vdev_set_irqs(D(x), hdr, x->data, x->data ? hdr->argsz - sizeof(*hdr) : 0);
}

static long h_dev_reset(struct call *x)
{
	return tcemu_vdev_reset(D(x));
}

/*
 * The table's rows, each at its command's slot and named after it: VFIO_ROW(GROUP_GET_STATUS, ...)
 * is VFIO_GROUP_GET_STATUS, IOMMU_ROW(MAP_DMA, ...) is VFIO_IOMMU_MAP_DMA. A row that does not
 * compile is a command that is not a plain VFIO _IO number or has no slot in the statistics.
 */
#define ROW_AT(cmd, row_name, ...)                                                                          \
	[SLOT(cmd) + TCEMU_STATIC_CHECK(SLOT(cmd) < TCEMU_IOCTL_SLOTS, #cmd " has a slot") +                \
	 TCEMU_STATIC_CHECK((cmd) == _IO(VFIO_TYPE, VFIO_BASE + SLOT(cmd)), #cmd " is a VFIO _IO command")] = \
		{ .name = row_name, __VA_ARGS__ }
#define VFIO_ROW(n, ...) ROW_AT(VFIO_##n, #n, __VA_ARGS__)
#define IOMMU_ROW(n, ...) ROW_AT(VFIO_IOMMU_##n, #n, __VA_ARGS__)

/*
 * A struct argument of type: the argsz minimum is the end of field last, the most copied in is the
 * whole struct. The dispatcher reads argsz and flags at offsets 0 and 4 and copies maxsz bytes
 * into call.in.buf; each is checked here at compile time.
 */
#define STRUCT_ARG(type, last)                                                                              \
	.form = ARG_STRUCT,                                                                                 \
	.minsz = (uint32_t)(OFFSETOFEND(type, last) +                                                       \
			    TCEMU_STATIC_CHECK(offsetof(type, argsz) == 0 && offsetof(type, flags) == 4,       \
					       #type " starts with argsz and flags") +                         \
			    TCEMU_STATIC_CHECK(OFFSETOFEND(type, last) >= sizeof(((struct call *)0)->in.hdr),  \
					       "minsz covers argsz and flags") +                               \
			    TCEMU_STATIC_CHECK(OFFSETOFEND(type, last) <= sizeof(type), "minsz <= maxsz")),   \
	.maxsz = (uint32_t)(sizeof(type) + TCEMU_STATIC_CHECK(sizeof(type) <= sizeof(((struct call *)0)->in.buf), \
							      #type " fits call.in.buf"))

static const struct ioctl_desc table[TCEMU_IOCTL_SLOTS] = {
	/* container: VFIO core */
	VFIO_ROW(GET_API_VERSION, .kind = FILE_CONTAINER, .form = ARG_NONE, .mode = CORE, .handler = h_api_version),
	VFIO_ROW(CHECK_EXTENSION, .kind = FILE_CONTAINER, .form = ARG_VALUE, .mode = CORE,
		 .handler = h_check_extension),
	VFIO_ROW(SET_IOMMU, .kind = FILE_CONTAINER, .form = ARG_VALUE, .mode = CORE, .handler = h_set_iommu),
	/* group */
	VFIO_ROW(GROUP_GET_STATUS, .kind = FILE_GROUP, STRUCT_ARG(struct vfio_group_status, flags),
		 .flags_ok = FLAGS_ANY, .mode = CORE, .copy_out = true, .handler = h_group_status),
	VFIO_ROW(GROUP_SET_CONTAINER, .kind = FILE_GROUP, .form = ARG_INTPTR, .mode = CORE, .handler = h_group_set),
	VFIO_ROW(GROUP_UNSET_CONTAINER, .kind = FILE_GROUP, .form = ARG_NONE, .mode = CORE, .handler = h_group_unset),
	VFIO_ROW(GROUP_GET_DEVICE_FD, .kind = FILE_GROUP, .form = ARG_STRING, .mode = CORE, .handler = h_group_device),
	/* device */
	VFIO_ROW(DEVICE_GET_INFO, .kind = FILE_DEVICE, STRUCT_ARG(struct vfio_device_info, num_irqs),
		 .flags_ok = FLAGS_ANY, .mode = CORE, .copy_out = true, .handler = h_dev_info),
	VFIO_ROW(DEVICE_GET_REGION_INFO, .kind = FILE_DEVICE, STRUCT_ARG(struct vfio_region_info, offset),
		 .flags_ok = FLAGS_ANY, .mode = CORE, .copy_out = true, .handler = h_dev_region),
	VFIO_ROW(DEVICE_GET_IRQ_INFO, .kind = FILE_DEVICE, STRUCT_ARG(struct vfio_irq_info, count),
		 .flags_ok = FLAGS_ANY, .mode = CORE, .copy_out = true, .handler = h_dev_irq),
	VFIO_ROW(DEVICE_SET_IRQS, .kind = FILE_DEVICE, STRUCT_ARG(struct vfio_irq_set, count), .flags_ok = FLAGS_ANY,
		 .mode = CORE, .payload = true, .handler = h_dev_set_irqs),
	VFIO_ROW(DEVICE_RESET, .kind = FILE_DEVICE, .form = ARG_NONE, .mode = CORE, .handler = h_dev_reset),
	/* container: sPAPR backend */
	IOMMU_ROW(SPAPR_TCE_GET_INFO, .kind = FILE_CONTAINER,
		  STRUCT_ARG(struct vfio_iommu_spapr_tce_info, dma32_window_size), .flags_ok = FLAGS_ANY,
		  .mode = BACKEND, .copy_out = true, .precheck = p_groups, .handler = h_get_info),
	IOMMU_ROW(MAP_DMA, .kind = FILE_CONTAINER, STRUCT_ARG(struct vfio_iommu_type1_dma_map, size),
		  .flags_ok = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE, .mode = BACKEND, .precheck = p_enabled,
		  .handler = h_map),
	IOMMU_ROW(UNMAP_DMA, .kind = FILE_CONTAINER, STRUCT_ARG(struct vfio_iommu_type1_dma_unmap, size),
		  .flags_ok = 0, .mode = BACKEND, .precheck = p_enabled, .handler = h_unmap),
	IOMMU_ROW(ENABLE, .kind = FILE_CONTAINER, .form = ARG_NONE, .mode = V1_ONLY, .handler = h_enable),
	IOMMU_ROW(DISABLE, .kind = FILE_CONTAINER, .form = ARG_NONE, .mode = V1_ONLY, .handler = h_disable),
	IOMMU_ROW(SPAPR_REGISTER_MEMORY, .kind = FILE_CONTAINER,
		  STRUCT_ARG(struct vfio_iommu_spapr_register_memory, size), .flags_ok = 0, .mode = V2_ONLY,
		  .precheck = p_record_owner, .handler = h_register),
	IOMMU_ROW(SPAPR_UNREGISTER_MEMORY, .kind = FILE_CONTAINER,
		  STRUCT_ARG(struct vfio_iommu_spapr_register_memory, size), .flags_ok = 0, .mode = V2_ONLY,
		  .precheck = p_owner_known, .handler = h_unregister),
	IOMMU_ROW(SPAPR_TCE_CREATE, .kind = FILE_CONTAINER, STRUCT_ARG(struct vfio_iommu_spapr_tce_create, start_addr),
		  .flags_ok = 0, .mode = V2_ONLY, .copy_out = true, .precheck = p_record_owner_groups,
		  .handler = h_create),
	IOMMU_ROW(SPAPR_TCE_REMOVE, .kind = FILE_CONTAINER, STRUCT_ARG(struct vfio_iommu_spapr_tce_remove, start_addr),
		  .flags_ok = 0, .mode = V2_ONLY, .precheck = p_record_owner_groups, .handler = h_remove),
	VFIO_ROW(EEH_PE_OP, .kind = FILE_CONTAINER, STRUCT_ARG(struct vfio_eeh_pe_op, op), .flags_ok = 0,
		 .mode = BACKEND, .handler = h_eeh),
};
_Static_assert(TCEMU_ARRAY_SIZE(table) == TCEMU_ARRAY_SIZE(((struct tcemu_host_stats *)0)->ioctls),
	       "a row's slot is its counter's index in the host stats");

/* A row the dispatcher may run: named, and a struct row's sizes fit the rules and call.in.buf. */
static inline bool row_sound(const struct ioctl_desc *d)
{
	const struct call *x = NULL;

	return d->name && (d->form != ARG_STRUCT || (sizeof(x->in.hdr) <= d->minsz && d->minsz <= d->maxsz &&
						     d->maxsz <= sizeof(x->in.buf)));
}

TCEMU_EXPORT const char *tcemu_ioctl_name(unsigned slot)
{
	return slot < TCEMU_IOCTL_SLOTS ? table[slot].name : NULL;
}

/* Formats the decoded call for the trace. */
static void trace_call(struct tcemu_host *h, int fd, const struct ioctl_desc *d, const struct call *x, long rc)
{
	char args[192] = "";
	const uint64_t *q = (const uint64_t *)x->in.buf;
	uint64_t w[4] = { 0 };
	_Static_assert(sizeof(x->in.buf) >= 4 * sizeof(uint64_t), "the trace shows words 1 to 3 of a struct");

	switch (d->form) {
	case ARG_VALUE:
		snprintf(args, sizeof(args), "%lu", x->in.value);
		break;
	case ARG_INTPTR:
		snprintf(args, sizeof(args), "&%d", x->in.intval);
		break;
	case ARG_STRING:
		snprintf(args, sizeof(args), "\"%s\"", x->in.str);
		break;
	case ARG_STRUCT:
		snprintf(args, sizeof(args), "{argsz=%u, flags=0x%x, 0x%llx, 0x%llx, 0x%llx}", x->in.hdr.argsz,
			 x->in.hdr.flags, (unsigned long long)q[1], (unsigned long long)q[2], (unsigned long long)q[3]);
		memcpy(w, q, sizeof(w));
		break;
	case ARG_NONE:
		break;
	}
	host_trace_call(h, fd, d->name, args, d->form == ARG_STRUCT, w, rc);
}

/* The container's owner process, 0 if none yet (it can be recorded by another thread any time). */
static pid_t owner_of(struct container *c)
{
	/* Recorded once under c->lock (a release store), reset only with backend_lock exclusive. */
	const struct mm *mm = __atomic_load_n(&c->mm, __ATOMIC_ACQUIRE);

	return mm ? mm->pid : 0;
}

/*
 * The backend's rules, checked with c->backend_lock held shared (by run(), until the handler
 * returns): the type and the groups cannot change, and an owner once recorded stays.
 */
static long backend_check(struct tcemu_host *h, struct container *c, const struct ioctl_desc *d)
{
	pid_t owner;
	int type;

	TCEMU_ASSERT_RWLOCKED(&c->backend_lock);
	type = c->type; /* written only with backend_lock exclusive */
	owner = owner_of(c);
	/* Backend commands need a backend: the VFIO core answers EINVAL without one. */
	if (!type)
		return -EINVAL;
	/* One process may not manipulate another's container. */
	if (owner && owner != host_caller(h))
		return -EPERM;
	if ((d->mode == V1_ONLY && type != VFIO_SPAPR_TCE_IOMMU) || (d->mode == V2_ONLY && type != VFIO_SPAPR_TCE_v2_IOMMU))
		return -ENOTTY;
	return 0;
}

/* The precheck, the argument copies and the handler (a backend's rules already hold). */
static long run_checked(struct tcemu_host *h, struct file *f, const struct ioctl_desc *d, struct call *x)
{
	long rc;

	if (d->precheck) {
		rc = d->precheck(x);
		if (rc)
			return rc;
	}
	/*
	 * The owner may have been recorded since backend_check looked, by another process's call
	 * (a precheck of this one records it at the latest): check again, now that it cannot change.
	 */
	if (d->mode != CORE) {
		pid_t owner = owner_of(f->container);

		if (owner && owner != host_caller(h))
			return -EPERM;
	}
	switch (d->form) {
	case ARG_NONE:
		break;
	case ARG_VALUE:
		x->in.value = (unsigned long)(uintptr_t)x->uarg;
		break;
	case ARG_INTPTR:
		if (copy_from_client(h, &x->in.intval, x->uarg, sizeof(int)))
			return -EFAULT;
		break;
	case ARG_STRING: {
		/* Copy byte by byte up to the NUL: the string may end just before unmapped memory. */
		size_t i;
		for (i = 0; i < sizeof(x->in.str); i++) {
			/* (an integer sum: the client's pointer may be NULL, and NULL + i is undefined in C) */
			if (copy_from_client(h, &x->in.str[i], (const void *)((uintptr_t)x->uarg + i), 1))
				return -EFAULT;
			if (!x->in.str[i])
				break;
		}
		if (i == sizeof(x->in.str))
			return -ENODEV; /* longer than any device name */
		break;
	}
	case ARG_STRUCT:
		if (copy_from_client(h, x->in.buf, x->uarg, d->minsz))
			return -EFAULT;
		if (x->in.hdr.argsz < d->minsz)
			return -EINVAL;
		if (d->flags_ok != FLAGS_ANY && (x->in.hdr.flags & ~d->flags_ok))
			return -EINVAL;
		/* Optional tail fields the client gave (GET_INFO's ddw, EEH's err). */
		if (x->in.hdr.argsz > d->minsz && d->maxsz > d->minsz) {
			uint32_t more = (x->in.hdr.argsz < d->maxsz ? x->in.hdr.argsz : d->maxsz) - d->minsz;
			if (copy_from_client(h, x->in.buf + d->minsz, (const uint8_t *)x->uarg + d->minsz, more))
				return -EFAULT;
		}
		if (d->payload && x->in.hdr.argsz > d->maxsz) {
			uint32_t n = x->in.hdr.argsz - d->maxsz;
			if (x->in.hdr.argsz > MAX_ARGSZ)
				return -EINVAL;
			x->data = host_malloc(h, n);
			if (!x->data)
				return -ENOMEM;
			if (copy_from_client(h, x->data, (const uint8_t *)x->uarg + d->maxsz, n))
				return -EFAULT;
		}
		x->out_len = d->copy_out ? d->minsz : 0;
		break;
	}
	rc = d->handler(x);
	if (rc >= 0 && x->out_len && copy_to_client(h, x->uarg, x->in.buf, x->out_len))
		rc = -EFAULT;
	return rc;
}

static long run(struct tcemu_host *h, struct file *f, const struct ioctl_desc *d, struct call *x)
{
	struct container *c;
	long rc;

	/* An ioctl runs without host->lock: a handler that needs it takes it (SET_IOMMU, groups). */
	TCEMU_ASSERT_NOT_HELD(&h->lock);
	if (d->mode == CORE)
		return run_checked(h, f, d, x);
	c = f->container;
	tcemu_rwlock_rdlock(&c->backend_lock);
	rc = backend_check(h, c, d);
	if (rc == 0)
		rc = run_checked(h, f, d, x);
	tcemu_rwlock_unlock(&c->backend_lock);
	return rc;
}

long vfio_dispatch(struct tcemu_host *h, struct file *f, int fd, unsigned long cmd, void *arg)
{
	const struct ioctl_desc *d = NULL;
	struct call x = { .h = h, .f = f, .fd = fd, .uarg = arg };
	unsigned slot = SLOT(cmd);
	long rc;

	if (slot < TCEMU_IOCTL_SLOTS && cmd == _IO(VFIO_TYPE, VFIO_BASE + slot) && table[slot].handler &&
	    table[slot].kind == f->kind)
		d = &table[slot];
	if (!d) {
		host_stat_add(h, &h->stats.ioctl_errors, 1, NULL);
		if (h->trace)
			tcemu_logf(&h->lg, TCEMU_LOG_DEBUG, "ioctl(%d, 0x%lx) = -25 unknown command", fd, cmd);
		return -ENOTTY;
	}
	TCEMU_ASSERT(row_sound(d));
	rc = run(h, f, d, &x);
	free(x.data);
	host_stat_add(h, &h->stats.ioctls[slot], 1, NULL);
	if (rc < 0)
		host_stat_add(h, &h->stats.ioctl_errors, 1, NULL);
	if (h->trace)
		trace_call(h, fd, d, &x, rc);
	return rc;
}
