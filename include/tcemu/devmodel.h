/* SPDX-License-Identifier: MIT */
/*
 * Device models: emulated PCI functions behind a host's VFIO device descriptors, whose registers
 * are code and whose DMA goes through the PE's IOMMU (TCE windows), never around it.
 *
 *   static const struct tcemu_model_ops ops = { .init = my_init, .bar_read = my_rd, .bar_write = my_wr };
 *   static const struct tcemu_model_type type = {
 *       .name = "memcpy", .vendor = 0x1b36, .device = 0x00ff, .class_code = 0x088000,
 *       .bar_size = { 4096 }, .bar_flags = { 0 },          // BAR0: 4 KiB, 32-bit, traps
 *       .ops = &ops,
 *   };
 *   tcemu_host_attach_model(host, "0000:01:00.0", &type, "param=1");
 *
 * A model replaces the device at that address (built from the topology) with one that has the
 * model's identity and BARs. The client then opens the group and gets the device descriptor as
 * usual: config space reads come from tcemu's config space (the model's ids, revision and
 * capabilities, with the write masks, BAR sizing and command register of the plain device);
 * pread/pwrite on a BAR without TCEMU_BAR_MMAP calls the model's bar_read/bar_write with the
 * offset and size of the access, synchronously in the caller's thread (I/O BARs and trapped
 * memory BARs alike). A BAR with TCEMU_BAR_MMAP is plain memory the client may map: the model
 * never sees its accesses, so registers never go there.
 *
 * Built-in models (tcemu_host_set_model by name): "virtio-net" and "virtio-blk" (transitional
 * virtio over PCI, see docs/devices.md) and "plain" (tcemu's default device without a model).
 *
 * DMA: tcemu_model_dma_read/write translate every bus address through the PE's windows and TCEs
 * with the direction's permission (tcemu/dma.h). A fault transfers nothing, freezes the PE (EEH:
 * MMIO reads then return all ones, DMA stops) and returns -EIO; it is recorded (tcemu_model_last_fault:
 * device, bus address, direction, what the IOMMU held there and the context string the model set
 * last), logged at TCEMU_LOG_WARN and reported as a client defect of the host.
 *
 * Interrupts: INTx is a level (tcemu_model_intx) with VFIO's automasked semantics; MSI-X vectors
 * are the eventfds the client gave with VFIO_DEVICE_SET_IRQS (the client emulates the MSI-X table;
 * the device only signals). GET_IRQ_INFO reports the vector counts of the model's MSI and MSI-X
 * capabilities (0 without one) and an ERR interrupt only with a PCI Express capability.
 *
 * Threads and locks: callbacks run in the thread of the client call that caused them (pread,
 * pwrite, ioctl) and may run concurrently for concurrent calls: a model locks its own state. The
 * tcemu_model_* functions may be called from any callback and from any thread while the model is
 * attached; they never call back into the model.
 */
#ifndef TCEMU_DEVMODEL_H
#define TCEMU_DEVMODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tcemu/common.h>
#include <tcemu/host.h>
#include <tcemu/platform.h>

#ifdef __cplusplus
extern "C" {
#endif

struct tcemu_model;

struct tcemu_model_ops {
	/*
	 * Required. Called once at attach, before anything else: parse params (may be NULL), add
	 * capabilities (tcemu_model_add_cap works only here) and set the private state. 0 or a
	 * negative errno, which fails the attach (destroy is then not called).
	 */
	int (*init)(struct tcemu_model *m, const char *params);
	/*
	 * A trapped BAR access: len bytes (1 to the rest of the BAR) at offset off of BAR bar, bytes in
	 * bus order (little-endian registers). Return 0, or a negative errno that the client's
	 * pread/pwrite returns. A read must fill all of buf.
	 */
	int (*bar_read)(struct tcemu_model *m, unsigned bar, uint64_t off, void *buf, size_t len);
	int (*bar_write)(struct tcemu_model *m, unsigned bar, uint64_t off, const void *buf, size_t len);
	/* Optional: after the client wrote len bytes of config space at off (the masks applied). */
	void (*config_write)(struct tcemu_model *m, unsigned off, size_t len);
	/* Optional: VFIO_DEVICE_RESET (config space, INTx and plain BARs are reset before the call). */
	void (*reset)(struct tcemu_model *m);
	/*
	 * Optional: the PE froze (true) or thawed (false). A freeze caused by the model's own DMA
	 * fault is delivered at once, inside the failing tcemu_model_dma_* call (which may run under
	 * the model's own locks: the callback must not take them). Other changes (EEH injections,
	 * unfreezes, resets, another device's fault) are delivered before the model's next trapped
	 * access, config write, reset or failed DMA; a freeze followed by a thaw between two of those
	 * is delivered as both.
	 */
	void (*eeh)(struct tcemu_model *m, bool frozen);
	/* Optional: the device goes away (host destroyed, or another model attached): free state. */
	void (*destroy)(struct tcemu_model *m);
};

struct tcemu_model_type {
	const char *name;
	uint16_t vendor, device;
	uint16_t subsys_vendor, subsys_device;
	uint32_t class_code; /* 24 bits: class, subclass, prog-if */
	uint8_t revision;
	/*
	 * BARs as in a topology: power-of-two sizes, TCEMU_BAR_IO (4 bytes to 2 GiB), 32-bit memory
	 * (16 bytes to 2 GiB), TCEMU_BAR_MEM64 (the next slot is its upper half and stays 0),
	 * TCEMU_BAR_PREFETCH, TCEMU_BAR_MMAP (plain memory: never traps). No ROM.
	 */
	uint64_t bar_size[6];
	uint32_t bar_flags[6];
	const struct tcemu_model_ops *ops;
};

/* The built-in model types: "virtio-net", "virtio-blk". NULL for other names (and for "plain"). */
TCEMU_EXPORT const struct tcemu_model_type *tcemu_model_builtin(const char *name);

/*
 * Attaches a model to the device at bdf (type NULL: back to the plain device of the topology).
 * The previous device (and its model) is destroyed. -ENODEV: no such device; -EBUSY: a device
 * descriptor of its group is open; -EINVAL: a bad type (BARs, missing init or bar callbacks);
 * the errno of init; -ENOMEM. The first model of a host creates the host's DMA engine
 * (tcemu_dma_create on its platform and memory); it lives until the host is destroyed.
 */
TCEMU_EXPORT int tcemu_host_attach_model(struct tcemu_host *h, const char *bdf, const struct tcemu_model_type *type,
					 const char *params);
/* tcemu_host_attach_model with a built-in type by name ("plain" or NULL: no model). -ENOENT: unknown name. */
TCEMU_EXPORT int tcemu_host_set_model(struct tcemu_host *h, const char *bdf, const char *name, const char *params);
/* The model attached at bdf, or NULL. Valid until the device is replaced or the host destroyed. */
TCEMU_EXPORT struct tcemu_model *tcemu_host_model(struct tcemu_host *h, const char *bdf);
/* The host's DMA engine, NULL until a model was attached. */
TCEMU_EXPORT struct tcemu_dma *tcemu_host_dma(struct tcemu_host *h);

/* ---- for the model's own code ---- */

TCEMU_EXPORT void tcemu_model_set_priv(struct tcemu_model *m, void *priv);
TCEMU_EXPORT void *tcemu_model_priv(const struct tcemu_model *m);
TCEMU_EXPORT const struct tcemu_model_type *tcemu_model_type_of(const struct tcemu_model *m);
TCEMU_EXPORT const char *tcemu_model_bdf(const struct tcemu_model *m); /* "DDDD:BB:DD.F" */
TCEMU_EXPORT struct tcemu_host *tcemu_model_host(const struct tcemu_model *m);
/* Logs through the host's logger, prefixed with the device's address. */
TCEMU_EXPORT void tcemu_model_log(struct tcemu_model *m, enum tcemu_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Only from init: adds a capability with id and body (the bytes after the id and next pointer,
 * len bytes) to config space, 4-byte aligned from 0x40; next pointers, the capabilities pointer
 * (0x34) and the status register's capability bit are built. wmask (len bytes, may be NULL: read
 * only) gives the bits the client may write. An MSI-X capability (id 0x11) sets the MSI-X vector
 * count from its table size, an MSI one (0x05) one MSI vector, a PCI Express one (0x10) the ERR
 * interrupt (GET_IRQ_INFO refuses it otherwise). Returns the capability's offset,
 * -ENOSPC when config space is full, -EINVAL (bad length, called outside init, a second MSI-X).
 */
TCEMU_EXPORT int tcemu_model_add_cap(struct tcemu_model *m, uint8_t id, const void *body, size_t len,
				     const void *wmask);
/* Reads config space (current values). 0 or -EINVAL (past 256 bytes). */
TCEMU_EXPORT int tcemu_model_config_read(struct tcemu_model *m, unsigned off, void *buf, size_t len);
/* Whether the client enabled MSI-X in the capability (message control bit 15). */
TCEMU_EXPORT bool tcemu_model_msix_enabled(struct tcemu_model *m);
/* Whether bus mastering is enabled in the command register (a model may still DMA without it). */
TCEMU_EXPORT bool tcemu_model_bus_master(struct tcemu_model *m);

/* The INTx level (see the top). 0, -ENOENT when asserting with no eventfd set (the level is kept). */
TCEMU_EXPORT int tcemu_model_intx(struct tcemu_model *m, bool asserted);
/* Signals MSI-X vector v's eventfd. 0, -ENOENT: no eventfd there, -EINVAL: v beyond the table. */
TCEMU_EXPORT int tcemu_model_msix(struct tcemu_model *m, unsigned vector);

/* ---- DMA, only through the PE's IOMMU ---- */

/* The context named in a fault record ("rx queue 0 descriptor 17"), until set again. */
TCEMU_EXPORT void tcemu_model_set_context(struct tcemu_model *m, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Device reads len bytes at bus into buf. 0, -EIO (a fault: nothing read, PE frozen), -EINVAL. */
TCEMU_EXPORT int tcemu_model_dma_read(struct tcemu_model *m, uint64_t bus, void *buf, size_t len);
/* Device writes len bytes to bus. 0, -EIO (a fault: nothing written, PE frozen), -EINVAL. */
TCEMU_EXPORT int tcemu_model_dma_write(struct tcemu_model *m, uint64_t bus, const void *data, size_t len);

/* A scatter-gather element: len bytes at bus address bus. */
struct tcemu_model_sg {
	uint64_t bus;
	uint32_t len;
};

/*
 * Gathers the bytes of n elements, in order, into buf (at most len bytes: the elements are read
 * up to that) / scatters len bytes of data over them. All or nothing: every element is translated
 * and checked before any byte moves, so a fault in any element transfers nothing at all (and is
 * recorded and freezes the PE as for one access). Returns the number of bytes transferred, or
 * -EIO, -EINVAL, -ENOMEM.
 */
TCEMU_EXPORT ssize_t tcemu_model_dma_readv(struct tcemu_model *m, const struct tcemu_model_sg *sg, size_t n,
					   void *buf, size_t len);
TCEMU_EXPORT ssize_t tcemu_model_dma_writev(struct tcemu_model *m, const struct tcemu_model_sg *sg, size_t n,
					    const void *data, size_t len);

/* What the IOMMU held at a faulting bus address. */
enum tcemu_model_fault_held {
	TCEMU_FAULT_NO_WINDOW = 1, /* no window contains the address */
	TCEMU_FAULT_NO_ENTRY,      /* a window, but its entry is invalid */
	TCEMU_FAULT_READ_ONLY,     /* a device write through a read-only entry */
	TCEMU_FAULT_WRITE_ONLY,    /* a device read through a write-only entry */
	TCEMU_FAULT_NO_MEMORY,     /* a valid entry whose frame has no memory behind it */
	TCEMU_FAULT_FROZEN,        /* the PE's DMA was already stopped (EEH) */
	TCEMU_FAULT_MEMORY_GONE,   /* pinned memory the client unmapped since (the copy faulted) */
};

struct tcemu_model_fault {
	char bdf[16];
	uint64_t bus;          /* the faulting bus address (may be inside a longer access) */
	bool write;            /* device write (to memory) or read */
	enum tcemu_model_fault_held held;
	uint64_t tce;          /* the entry read there (0 when none) */
	char context[96];      /* the model's context at the time */
	char message[256];     /* all of the above in one line, as logged */
	uint64_t count;        /* faults of this model so far */
};

/* The last fault of this model: 0, or -ENOENT if it never faulted. */
TCEMU_EXPORT int tcemu_model_last_fault(struct tcemu_model *m, struct tcemu_model_fault *f);
/* A name for a held value ("no window", "no entry", "read-only entry", ...). */
TCEMU_EXPORT const char *tcemu_model_fault_held_name(enum tcemu_model_fault_held held);
/* Whether the PE's DMA is stopped now (frozen or in reset). */
TCEMU_EXPORT bool tcemu_model_frozen(struct tcemu_model *m);

#ifdef __cplusplus
}
#endif
#endif
