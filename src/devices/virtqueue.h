/* SPDX-License-Identifier: MIT */
/*
 * Private: split virtqueues (virtio 1.x "Split Virtqueues"), read and written by a device model
 * only through tcemu_model_dma_* (the PE's IOMMU).
 *
 * Layout in driver memory (little-endian): the descriptor table (16 bytes each: addr, len,
 * flags, next), the available ring (flags, idx, ring[size], used_event) and the used ring (flags,
 * idx, {id, len}[size], avail_event). VIRTIO_F_RING_INDIRECT_DESC: a descriptor with the
 * INDIRECT flag points at a table of descriptors that makes up the chain.
 *
 * Hostile input gets a defined answer, never an access the TCEs do not allow: an available index
 * more than a ring ahead, a head or next index outside its table, a chain longer than its table
 * (a loop), an indirect descriptor inside an indirect table or with NEXT set or a length that is
 * not a whole number of descriptors, a readable descriptor after a writable one: vq_pop returns
 * -EPROTO and takes nothing (the device then needs a reset). A DMA fault returns -EIO.
 *
 * Locking: none here; the transport's lock protects a queue.
 */
#ifndef TCEMU_SRC_DEVICES_VIRTQUEUE_H
#define TCEMU_SRC_DEVICES_VIRTQUEUE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <tcemu/devmodel.h>

#define VQ_MAX_SIZE 256u
#define VQ_MAX_INDIRECT 1024u /* descriptors in one indirect table */
#define VQ_MAX_SEGS 1024u     /* segments in one chain */
#define VQ_NO_VECTOR 0xffffu

#define VRING_DESC_F_NEXT 1u
#define VRING_DESC_F_WRITE 2u
#define VRING_DESC_F_INDIRECT 4u
#define VRING_AVAIL_F_NO_INTERRUPT 1u

struct vq {
	const char *name;     /* "rx", "tx", "request": for fault contexts */
	unsigned index;
	uint16_t size;        /* entries: legacy fixed, modern as the driver wrote it */
	bool ready;
	uint64_t desc, avail, used;
	uint16_t last_avail;  /* the next available entry to take */
	uint16_t used_idx;    /* the next used index to publish */
	uint16_t vector;      /* MSI-X vector, VQ_NO_VECTOR: none */
};

/* A descriptor chain: readable segments first (nout), then writable ones (nin). */
struct vq_chain {
	uint16_t head;
	unsigned nout, nin;
	uint64_t out_len, in_len;
	struct tcemu_model_sg seg[VQ_MAX_SEGS];
};

static inline uint16_t vq_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t vq_le32(const uint8_t *p)
{
	return (uint32_t)vq_le16(p) | (uint32_t)vq_le16(p + 2) << 16;
}

static inline uint64_t vq_le64(const uint8_t *p)
{
	return (uint64_t)vq_le32(p) | (uint64_t)vq_le32(p + 4) << 32;
}

static inline void vq_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void vq_put32(uint8_t *p, uint32_t v)
{
	vq_put16(p, (uint16_t)v);
	vq_put16(p + 2, (uint16_t)(v >> 16));
}

static inline void vq_put64(uint8_t *p, uint64_t v)
{
	vq_put32(p, (uint32_t)v);
	vq_put32(p + 4, (uint32_t)(v >> 32));
}

/* Forgets the queue: not ready, size max, no addresses, no vector. */
void vq_reset(struct vq *q, uint16_t max);
/* A legacy queue at page frame pfn (ring address >> 12): descriptors, available ring, used ring at 4 KiB. */
void vq_legacy_layout(struct vq *q, uint32_t pfn);
/* Whether a modern driver's size is usable: a power of two, 1..max. */
bool vq_size_valid(uint16_t size, uint16_t max);

/* 1: a chain was taken into c; 0: nothing available; -EIO: a DMA fault; -EPROTO: a malformed ring. */
int vq_pop(struct tcemu_model *m, struct vq *q, bool indirect, struct vq_chain *c);
/* Publishes chain head as used with len bytes written. 0 or -EIO. */
int vq_push(struct tcemu_model *m, struct vq *q, uint16_t head, uint32_t len);
/* Whether the driver wants an interrupt now (no NO_INTERRUPT flag; false after a fault). */
bool vq_wants_irq(struct tcemu_model *m, struct vq *q);
/* Reads up to len bytes of the chain's readable part / writes len bytes into its writable part. */
ssize_t vq_chain_read(struct tcemu_model *m, const struct vq_chain *c, void *buf, size_t len);
ssize_t vq_chain_write(struct tcemu_model *m, const struct vq_chain *c, const void *buf, size_t len);

#endif
