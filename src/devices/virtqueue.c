/* SPDX-License-Identifier: MIT */
/* Split virtqueues through the IOMMU (see virtqueue.h). */
#include <errno.h>

#include "devices/models.h"
#include "devices/virtqueue.h"
#include "util/internal.h"

#define DESC_SIZE 16u
#define LEGACY_ALIGN 4096u

void vq_reset(struct vq *q, uint16_t max)
{
	q->size = max;
	q->ready = false;
	q->desc = q->avail = q->used = 0;
	q->last_avail = q->used_idx = 0;
	q->vector = VQ_NO_VECTOR;
}

void vq_legacy_layout(struct vq *q, uint32_t pfn)
{
	q->desc = (uint64_t)pfn << 12;
	q->avail = q->desc + (uint64_t)DESC_SIZE * q->size;
	q->used = TCEMU_ALIGN_UP(q->avail + 6 + 2ull * q->size, (uint64_t)LEGACY_ALIGN);
	q->last_avail = q->used_idx = 0;
	q->ready = pfn != 0;
}

bool vq_size_valid(uint16_t size, uint16_t max)
{
	return TCEMU_IS_POW2(size) && size <= max;
}

/* Reads descriptor i of the table at table. */
static int read_desc(struct tcemu_model *m, struct vq *q, uint64_t table, uint32_t i, bool indirect, uint64_t *addr,
		     uint32_t *len, uint16_t *flags, uint16_t *next)
{
	uint8_t d[DESC_SIZE];
	int rc;

	model_context(m, "%s queue %u %sdescriptor %u", q->name, q->index, indirect ? "indirect " : "", i);
	rc = tcemu_model_dma_read(m, table + (uint64_t)DESC_SIZE * i, d, sizeof(d));
	if (rc)
		return rc;
	*addr = vq_le64(d);
	*len = vq_le32(d + 8);
	*flags = vq_le16(d + 12);
	*next = vq_le16(d + 14);
	return 0;
}

int vq_pop(struct tcemu_model *m, struct vq *q, bool indirect_ok, struct vq_chain *c)
{
	uint64_t table = q->desc, addr;
	uint32_t tsize = q->size, count = 0, len, i;
	uint16_t idx, head, flags, next;
	bool in_indirect = false;
	uint8_t b[2];
	int rc;

	if (!q->ready)
		return 0;
	model_context(m, "%s queue %u available index", q->name, q->index, "", 0);
	rc = tcemu_model_dma_read(m, q->avail + 2, b, 2);
	if (rc)
		return rc;
	idx = vq_le16(b);
	if (idx == q->last_avail)
		return 0;
	if ((uint16_t)(idx - q->last_avail) > q->size)
		return -EPROTO;
	model_context(m, "%s queue %u %savailable entry %u", q->name, q->index, "", q->last_avail % q->size);
	rc = tcemu_model_dma_read(m, q->avail + 4 + 2ull * (q->last_avail % q->size), b, 2);
	if (rc)
		return rc;
	head = vq_le16(b);
	if (head >= q->size)
		return -EPROTO;
	c->head = head;
	c->nout = c->nin = 0;
	c->out_len = c->in_len = 0;
	for (i = head;;) {
		if (++count > tsize)
			return -EPROTO; /* a loop */
		rc = read_desc(m, q, table, i, in_indirect, &addr, &len, &flags, &next);
		if (rc)
			return rc;
		if (flags & VRING_DESC_F_INDIRECT) {
			if (!indirect_ok || in_indirect || (flags & VRING_DESC_F_NEXT) || !len || len % DESC_SIZE ||
			    len / DESC_SIZE > VQ_MAX_INDIRECT)
				return -EPROTO;
			table = addr;
			tsize = len / DESC_SIZE;
			count = 0;
			in_indirect = true;
			i = 0;
			continue;
		}
		if (c->nout + c->nin == VQ_MAX_SEGS)
			return -EPROTO;
		if (flags & VRING_DESC_F_WRITE) {
			c->in_len += len;
			c->nin++;
		} else {
			if (c->nin)
				return -EPROTO; /* readable after writable */
			c->out_len += len;
			c->nout++;
		}
		c->seg[c->nout + c->nin - 1] = (struct tcemu_model_sg){ .bus = addr, .len = len };
		if (!(flags & VRING_DESC_F_NEXT))
			break;
		i = next;
		if (i >= tsize)
			return -EPROTO;
	}
	q->last_avail++;
	return 1;
}

int vq_push(struct tcemu_model *m, struct vq *q, uint16_t head, uint32_t len)
{
	uint8_t e[8], b[2];
	int rc;

	vq_put32(e, head);
	vq_put32(e + 4, len);
	model_context(m, "%s queue %u %sused entry %u", q->name, q->index, "", q->used_idx % q->size);
	rc = tcemu_model_dma_write(m, q->used + 4 + 8ull * (q->used_idx % q->size), e, sizeof(e));
	if (rc)
		return rc;
	q->used_idx++;
	vq_put16(b, q->used_idx); /* after the entry: each DMA completes (under the engine's lock) in order */
	model_context(m, "%s queue %u used index", q->name, q->index, "", 0);
	return tcemu_model_dma_write(m, q->used + 2, b, 2);
}

bool vq_wants_irq(struct tcemu_model *m, struct vq *q)
{
	uint8_t b[2];

	model_context(m, "%s queue %u available flags", q->name, q->index, "", 0);
	if (tcemu_model_dma_read(m, q->avail, b, 2))
		return false;
	return !(vq_le16(b) & VRING_AVAIL_F_NO_INTERRUPT);
}

ssize_t vq_chain_read(struct tcemu_model *m, const struct vq_chain *c, void *buf, size_t len)
{
	return tcemu_model_dma_readv(m, c->seg, c->nout, buf, len);
}

ssize_t vq_chain_write(struct tcemu_model *m, const struct vq_chain *c, const void *buf, size_t len)
{
	return tcemu_model_dma_writev(m, c->seg + c->nout, c->nin, buf, len);
}
