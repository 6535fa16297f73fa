/* SPDX-License-Identifier: MIT */
/*
 * Private: the parsed form of a topology file (see docs/topology.md for the format).
 *
 * A topology is plain data: no locks, owned by whoever parsed it, immutable afterwards. The
 * platform (platform.c) is built from it and keeps no pointer into it.
 */
#ifndef TCEMU_SRC_TOPOLOGY_H
#define TCEMU_SRC_TOPOLOGY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tcemu/devmodel.h>
#include <tcemu/platform.h>

#define TCEMU_TOPO_MAX_FILE (1u << 20) /* bytes */
#define TCEMU_TOPO_MAX_LINE 4096       /* bytes, newline excluded */
#define TCEMU_TOPO_MAX_GROUP 65535
#define TOPO_PLAIN_REVISION 0x01 /* the plain test device's revision ID */

struct tcemu_topo_bar {
	uint64_t size;  /* 0: BAR not implemented */
	uint32_t flags; /* TCEMU_BAR_* (platform.h) */
};

struct tcemu_topo_device {
	char bdf[16];       /* "DDDD:BB:DD.F", lower-case hex, NUL terminated */
	uint16_t vendor;    /* default 0x1b36 */
	uint16_t device;    /* default 0x0005 */
	uint32_t class_code; /* 24 bits, default 0x00ff00 */
	uint8_t revision;   /* revision ID: revision=, else the model's, else TOPO_PLAIN_REVISION */
	uint16_t subsys_vendor; /* default = vendor */
	uint16_t subsys_device; /* default 0 */
	struct tcemu_topo_bar bars[6];
	uint64_t rom_size;  /* 0: no ROM */
	unsigned line;      /* line of the "device" statement */
	/* model=: a built-in model type (tcemu_model_builtin), NULL for the plain device. */
	const struct tcemu_model_type *model;
	char link[16];      /* virtio-net: the cabled port ("": a loopback), made symmetric */
	bool link_given;    /* link= was on this line (not filled in from the other port) */
	char *disk;         /* virtio-blk: raw image path (owned), or NULL */
	uint64_t disk_size; /* virtio-blk: size of the memory disk; 0: the model's default (64M) */
	char *fault_file;   /* virtio-blk: the fault-file= debug control's path (owned), or NULL */
};

struct tcemu_topo_pe {
	uint32_t pe_number;
	uint32_t group; /* IOMMU group number, unique in the topology (auto-assigned when omitted) */
	size_t ndevices;
	struct tcemu_topo_device *devices;
	unsigned line;
};

struct tcemu_topo_phb {
	uint32_t index;
	uint32_t domain;  /* PCI domain of its devices; default = index */
	enum tcemu_profile profile;
	uint64_t dma32_size; /* default window size; default 2 GiB */
	size_t npes;
	struct tcemu_topo_pe *pes;
	unsigned line;
};

struct tcemu_topology {
	uint32_t sys_page_shift; /* 0: not given (platform default), else 12 or 16 */
	bool memlock_set;        /* a "memlock" statement was given */
	uint64_t memlock;        /* bytes; UINT64_MAX means unlimited */
	size_t nphbs;
	struct tcemu_topo_phb *phbs;
};

/*
 * Parses a topology from text (len bytes, need not be NUL terminated). name is used in error
 * messages ("<name>:<line>: <problem>"). On error returns -EINVAL (or -ENOMEM) and writes one
 * message into err (errlen bytes, always NUL terminated when errlen > 0); *out is untouched.
 */
int tcemu_topology_parse(const char *text, size_t len, const char *name, struct tcemu_topology **out, char *err,
			 size_t errlen);

/* Reads and parses a file. Errors opening/reading: "<path>: <strerror>" and the negative errno. */
int tcemu_topology_load(const char *path, struct tcemu_topology **out, char *err, size_t errlen);

void tcemu_topology_free(struct tcemu_topology *t);

/* The embedded default topology, as text in the same format. */
const char *tcemu_topology_default_text(void);

/*
 * The profiles: every generation's facts (name, windows, page sizes, levels, PEs per PHB, ...) are
 * one table in platform.c indexed by enum tcemu_profile, read with tcemu_profile_info() by the
 * platform and by this parser. Values from 0 to TCEMU_PROFILE_LIMIT - 1 may name a profile.
 */
#define TCEMU_PROFILE_LIMIT (TCEMU_PROFILE_IODA3 + 1)
#define TCEMU_PROFILE_MAX_PES 512 /* no profile has more PEs per PHB (the table checks it) */

/* Profile value -> name: "ioda1", "ioda2", "ioda3"; NULL for an unknown value. */
const char *tcemu_topology_profile_name(enum tcemu_profile p);

#endif
