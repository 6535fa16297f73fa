/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk (virtio 1.x "Block Device"), transitional: 1af4:1001, subsystem 1af4:0002, class
 * 0x010000. One request queue. Features: VIRTIO_BLK_F_SEG_MAX, VIRTIO_BLK_F_BLK_SIZE,
 * VIRTIO_BLK_F_FLUSH. Configuration: capacity (512-byte sectors), size_max 0, seg_max,
 * geometry 0, blk_size 512.
 *
 * Parameters: disk=PATH (a raw image, opened read-write; created or extended to size= when
 * given), size=N[K|M|G] (default 64M; anonymous memory without disk=). The capacity is the size
 * rounded down to whole sectors.
 *
 * Debug control, fault-file=PATH: at each register read (a BAR read, never a request: no request
 * is lost) the device looks for PATH; if it exists, the device removes it and makes one DMA read
 * at FAULT_BUS, where no window is: a DMA fault that freezes the PE, as a device gone wrong would.
 * A test injects a fault into a running client at a moment of its choosing by creating the file
 * (tests/test_qemu_guest.sh: the guest's EEH recovery under QEMU).
 *
 * Requests (synchronously at the queue's kick, in the caller's thread): a 16-byte header (type,
 * reserved, sector) in the readable part, data, and a status byte, the last byte of the writable
 * part. IN (0) reads sectors into the writable data, OUT (1) writes the readable data with
 * pwrite (a file) or memcpy, FLUSH (4) fdatasyncs the file, GET_ID (8) writes up to 20 bytes of
 * id. A request beyond the capacity, with a data length not a multiple of 512, longer than
 * BLK_MAX_DATA, or whose I/O fails completes with IOERR; an unknown type with UNSUPP; a chain
 * with no header or no status byte is malformed (the device needs reset). A request whose DMA
 * needed an allocation that failed (-ENOMEM: many segments; the host's failure injection reaches
 * it) completes with IOERR too, having moved nothing: the disk is not written, no data byte of
 * the chain is (the engine's scatter-gather is all-or-nothing), only the status byte.
 *
 * Locking: the transport lock v.lock covers the whole request processing.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "devices/models.h"
#include "devices/virtio_pci.h"
#include "util/internal.h"

#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH 9
#define BLK_T_IN 0u
#define BLK_T_OUT 1u
#define BLK_T_FLUSH 4u
#define BLK_T_GET_ID 8u
#define BLK_S_OK 0u
#define BLK_S_IOERR 1u
#define BLK_S_UNSUPP 2u
#define BLK_SECTOR 512u
#define BLK_HDR 16u
#define BLK_ID_BYTES 20u
#define BLK_SEG_MAX 128u
#define BLK_MAX_DATA (4u << 20)
#define BLK_DEFAULT_SIZE (64ull << 20)
#define BLK_CONFIG_SIZE 32u
#define BLK_QUEUE_SIZE 128
#define FAULT_BUS 0x4000000000000ull /* in the first slot's range, beyond any window */

struct blk_dev {
	struct virtio_dev v; /* first: the model's priv */
	int fd;              /* the image, -1: anonymous memory */
	uint8_t *mem;        /* anonymous memory, NULL with a file */
	uint64_t size;       /* bytes, whole sectors */
	char id[BLK_ID_BYTES];
	uint8_t *bounce;     /* BLK_HDR + BLK_MAX_DATA bytes (v.lock) */
	struct vq_chain *chain; /* the request being processed (v.lock) */
	uint64_t reads, writes, flushes, errors;
	uint64_t bytes_read, bytes_written; /* of the disk, by IN and OUT requests */
	char fault_file[256];                /* the fault-file= debug control, "" without */
};

static const char *const blk_queue_names[] = { "request" };

static void blk_config_read(struct virtio_dev *v, unsigned off, uint8_t *buf, unsigned len)
{
	struct blk_dev *b = (struct blk_dev *)v;
	uint8_t c[BLK_CONFIG_SIZE] = { 0 };

	vq_put64(c, b->size / BLK_SECTOR);
	vq_put32(c + 12, BLK_SEG_MAX);
	vq_put32(c + 20, BLK_SECTOR);
	memcpy(buf, c + off, len);
}

/* Reads or writes len bytes of the disk at pos (checked against the size by the caller). */
static int disk_io(struct blk_dev *b, uint8_t *buf, size_t len, uint64_t pos, bool write)
{
	size_t done = 0;

	if (b->mem) {
		if (write)
			memcpy(b->mem + pos, buf, len);
		else
			memcpy(buf, b->mem + pos, len);
		return 0;
	}
	while (done < len) {
		ssize_t n = write ? pwrite(b->fd, buf + done, len - done, (off_t)(pos + done))
				  : pread(b->fd, buf + done, len - done, (off_t)(pos + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		done += (size_t)n;
	}
	return 0;
}

/* Writes the status byte: the last byte of the writable part. */
static int put_status(struct blk_dev *b, const struct vq_chain *c, uint8_t st)
{
	for (unsigned i = c->nout + c->nin; i-- > c->nout;)
		if (c->seg[i].len) {
			model_context(b->v.m, "%s queue %u %srequest %u status", "request", 0, "", c->head);
			return tcemu_model_dma_write(b->v.m, c->seg[i].bus + c->seg[i].len - 1, &st, 1);
		}
	return -EPROTO;
}

/*
 * Executes one request. Returns the bytes written into the chain (data + status), -EIO for a DMA
 * fault, -EPROTO for a malformed chain. A DMA whose allocation failed (-ENOMEM) makes it IOERR.
 * v.lock held.
 */
static int64_t blk_request(struct blk_dev *b, const struct vq_chain *c)
{
	struct tcemu_model *m = b->v.m;
	uint64_t out_data, in_data, pos, len = 0;
	uint32_t type;
	uint8_t st = BLK_S_OK;
	ssize_t n;

	if (c->out_len < BLK_HDR || c->in_len < 1)
		return -EPROTO;
	out_data = c->out_len - BLK_HDR;
	in_data = c->in_len - 1;
	model_context(m, "%s queue %u %srequest %u header", "request", 0, "", c->head);
	n = vq_chain_read(m, c, b->bounce, BLK_HDR);
	if (n == -ENOMEM) {
		st = BLK_S_IOERR;
		goto status;
	}
	if (n < 0)
		return n;
	type = vq_le32(b->bounce);
	pos = vq_le64(b->bounce + 8) * BLK_SECTOR;
	switch (type) {
	case BLK_T_IN:
	case BLK_T_OUT:
		len = type == BLK_T_IN ? in_data : out_data;
		if (len % BLK_SECTOR || len > BLK_MAX_DATA || vq_le64(b->bounce + 8) > b->size / BLK_SECTOR ||
		    len > b->size - pos) {
			st = BLK_S_IOERR;
			len = 0;
			break;
		}
		model_context(m, "%s queue %u %srequest %u data", "request", 0, "", c->head);
		if (type == BLK_T_OUT) {
			n = vq_chain_read(m, c, b->bounce, BLK_HDR + len);
			if (n == -ENOMEM) {
				st = BLK_S_IOERR;
				len = 0;
				break;
			}
			if (n < 0)
				return n;
			st = disk_io(b, b->bounce + BLK_HDR, len, pos, true) ? BLK_S_IOERR : BLK_S_OK;
			b->writes++;
			b->bytes_written += st == BLK_S_OK ? len : 0;
			len = 0;
		} else {
			if (disk_io(b, b->bounce, len, pos, false)) {
				st = BLK_S_IOERR;
				len = 0;
				break;
			}
			n = vq_chain_write(m, c, b->bounce, len);
			if (n == -ENOMEM) {
				st = BLK_S_IOERR;
				len = 0;
				break;
			}
			if (n < 0)
				return n;
			b->reads++;
			b->bytes_read += len;
		}
		break;
	case BLK_T_FLUSH:
		if (b->fd >= 0 && fdatasync(b->fd))
			st = BLK_S_IOERR;
		b->flushes++;
		break;
	case BLK_T_GET_ID:
		len = tcemu_min_u64(in_data, BLK_ID_BYTES);
		model_context(m, "%s queue %u %srequest %u id", "request", 0, "", c->head);
		n = vq_chain_write(m, c, b->id, len);
		if (n == -ENOMEM) {
			st = BLK_S_IOERR;
			len = 0;
			break;
		}
		if (n < 0)
			return n;
		break;
	default:
		st = BLK_S_UNSUPP;
		break;
	}
status:
	if (st != BLK_S_OK)
		b->errors++;
	n = put_status(b, c, st);
	return n < 0 ? n : (int64_t)len + 1;
}

static void blk_notify(struct virtio_dev *v, unsigned qi)
{
	struct blk_dev *b = (struct blk_dev *)v;
	struct vq_chain *c = b->chain;
	bool used = false;
	struct vq *q;

	pthread_mutex_lock(&v->lock);
	q = virtio_queue(v, qi);
	while (q) {
		int64_t r;
		int rc = vq_pop(v->m, q, virtio_has(v, VIRTIO_F_RING_INDIRECT_DESC), c);

		if (rc <= 0) {
			if (rc < 0)
				virtio_pop_error(v, q, rc);
			break;
		}
		r = blk_request(b, c);
		if (r == -EPROTO) {
			virtio_fail(v, "malformed block request");
			break;
		}
		if (r < 0 || vq_push(v->m, q, c->head, (uint32_t)r))
			break; /* a DMA fault: the PE is frozen */
		used = true;
	}
	if (used)
		virtio_queue_irq(v, q);
	pthread_mutex_unlock(&v->lock);
}

static int parse_size(const char *s, size_t len, uint64_t *out)
{
	char tmp[32], *end;
	unsigned long long v;

	if (!len || len >= sizeof(tmp))
		return -EINVAL;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	errno = 0;
	v = strtoull(tmp, &end, 0);
	if (errno || end == tmp)
		return -EINVAL;
	switch (*end) {
	case 'K': case 'k': v <<= 10; end++; break;
	case 'M': case 'm': v <<= 20; end++; break;
	case 'G': case 'g': v <<= 30; end++; break;
	default: break;
	}
	if (*end || v < BLK_SECTOR || v > (1ull << 44))
		return -EINVAL;
	*out = v & ~(uint64_t)(BLK_SECTOR - 1);
	return 0;
}

static int blk_backing(struct blk_dev *b, const char *params)
{
	const char *s = params;
	char path[512] = "";
	uint64_t size = 0;
	struct stat sb;

	while (s && *s) {
		size_t len = strcspn(s, ", ");

		if (len > 11 && strncmp(s, "fault-file=", 11) == 0) {
			if (len - 11 >= sizeof(b->fault_file))
				return -EINVAL;
			memcpy(b->fault_file, s + 11, len - 11);
			b->fault_file[len - 11] = '\0';
		} else if (len > 5 && strncmp(s, "disk=", 5) == 0 && len - 5 < sizeof(path)) {
			memcpy(path, s + 5, len - 5);
			path[len - 5] = '\0';
		} else if (len > 5 && strncmp(s, "size=", 5) == 0) {
			if (parse_size(s + 5, len - 5, &size))
				return -EINVAL;
		} else if (len) {
			return -EINVAL;
		}
		s += len;
		s += strspn(s, ", ");
	}
	if (!path[0]) {
		b->size = size ? size : BLK_DEFAULT_SIZE;
		b->mem = mmap(NULL, b->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (b->mem == MAP_FAILED) {
			b->mem = NULL;
			return -errno;
		}
		return 0;
	}
	b->fd = open(path, O_RDWR | O_CLOEXEC | (size ? O_CREAT : 0), 0644);
	if (b->fd < 0)
		return -errno;
	if (fstat(b->fd, &sb) || (size && (uint64_t)sb.st_size < size && ftruncate(b->fd, (off_t)size))) {
		int rc = -errno;

		close(b->fd);
		b->fd = -1;
		return rc;
	}
	b->size = (size ? tcemu_max_u64(size, (uint64_t)sb.st_size) : (uint64_t)sb.st_size) &
		  ~(uint64_t)(BLK_SECTOR - 1);
	return 0;
}

static void blk_free(struct blk_dev *b)
{
	if (b->mem)
		munmap(b->mem, b->size);
	if (b->fd >= 0)
		close(b->fd);
	free(b->chain);
	free(b->bounce);
	free(b);
}

static const struct virtio_dev_ops blk_vops = {
	.type = 2,
	.features = VBIT(VIRTIO_BLK_F_SEG_MAX) | VBIT(VIRTIO_BLK_F_BLK_SIZE) | VBIT(VIRTIO_BLK_F_FLUSH),
	.nqueues = 1,
	.queue_names = blk_queue_names,
	.queue_size = BLK_QUEUE_SIZE,
	.config_size = BLK_CONFIG_SIZE,
	.config_read = blk_config_read,
	.notify = blk_notify,
};

static int blk_init(struct tcemu_model *m, const char *params)
{
	struct blk_dev *b = model_malloc(m, sizeof(*b));
	int rc;

	if (!b)
		return -ENOMEM;
	memset(b, 0, sizeof(*b));
	b->fd = -1;
	b->bounce = model_malloc(m, BLK_HDR + BLK_MAX_DATA);
	b->chain = model_malloc(m, sizeof(*b->chain));
	if (!b->bounce || !b->chain) {
		rc = -ENOMEM;
		goto free_dev;
	}
	rc = blk_backing(b, params);
	if (rc)
		goto free_dev;
	snprintf(b->id, sizeof(b->id), "tcemu-%.13s", tcemu_model_bdf(m));
	rc = virtio_pci_init(&b->v, m, &blk_vops);
	if (rc)
		goto free_dev;
	tcemu_model_set_priv(m, b);
	return 0;

free_dev:
	blk_free(b);
	return rc;
}

static void blk_destroy(struct tcemu_model *m)
{
	struct blk_dev *b = tcemu_model_priv(m);

	virtio_pci_fini(&b->v);
	blk_free(b);
}

/* The fault-file debug control (see the top of the file). */
static void blk_fault_file(struct blk_dev *b)
{
	uint8_t byte;

	if (access(b->fault_file, F_OK) != 0 || unlink(b->fault_file) != 0)
		return; /* absent, or another thread took it */
	tcemu_model_log(b->v.m, TCEMU_LOG_WARN, "fault-file %s: injecting a DMA fault at 0x%llx", b->fault_file,
			(unsigned long long)FAULT_BUS);
	tcemu_model_set_context(b->v.m, "injected by the fault-file debug control");
	(void)tcemu_model_dma_read(b->v.m, FAULT_BUS, &byte, 1); /* faults: the PE freezes */
}

static int blk_bar_read(struct tcemu_model *m, unsigned bar, uint64_t off, void *buf, size_t len)
{
	struct blk_dev *b = tcemu_model_priv(m);

	if (b->fault_file[0])
		blk_fault_file(b);
	return virtio_pci_bar_read(m, bar, off, buf, len);
}

int virtio_blk_counters(struct tcemu_model *m, char *buf, size_t len, bool try)
{
	struct blk_dev *b = tcemu_model_priv(m);

	if (try ? pthread_mutex_trylock(&b->v.lock) != 0 : pthread_mutex_lock(&b->v.lock) != 0)
		return -EBUSY;
	snprintf(buf, len, "%llu reads (%llu bytes), %llu writes (%llu bytes), %llu flushes, %llu errors",
		 (unsigned long long)b->reads, (unsigned long long)b->bytes_read, (unsigned long long)b->writes,
		 (unsigned long long)b->bytes_written, (unsigned long long)b->flushes, (unsigned long long)b->errors);
	pthread_mutex_unlock(&b->v.lock);
	return 0;
}

static const struct tcemu_model_ops blk_ops = {
	.init = blk_init,
	.bar_read = blk_bar_read,
	.bar_write = virtio_pci_bar_write,
	.reset = virtio_pci_reset,
	.eeh = virtio_pci_eeh,
	.destroy = blk_destroy,
};

const struct tcemu_model_type tcemu_virtio_blk_type = {
	.name = "virtio-blk",
	.vendor = VIRTIO_VENDOR,
	.device = 0x1001,
	.subsys_vendor = VIRTIO_VENDOR,
	.subsys_device = 2,
	.class_code = 0x010000,
	.revision = 0,
	VIRTIO_TYPE_BARS(128),
	.ops = &blk_ops,
};
