/* SPDX-License-Identifier: MIT */
/*
 * virtio-net (virtio 1.x "Network Device"), transitional: 1af4:1000, subsystem 1af4:0001,
 * class 0x020000. Queues: 0 receive, 1 transmit. Features: VIRTIO_NET_F_MAC, VIRTIO_NET_F_STATUS.
 * Configuration: mac[6], status (LINK_UP while the port has a peer).
 *
 * Parameters (comma or space separated key=value): mac=xx:xx:xx:xx:xx:xx (default
 * 02:00:00:BB:DD:F from the address), link=DDDD:BB:DD.F (the cabled port, on the same host).
 * Without link a port is cabled to the port that names it, else loops back to itself.
 *
 * Every packet carries a virtio_net_hdr: 12 bytes with VIRTIO_F_VERSION_1 (or MRG_RXBUF, not
 * offered), 10 for a legacy driver. A transmit kick, synchronously in the caller's thread, takes
 * every available transmit chain (header + packet, up to NET_MAX_FRAME bytes; a longer or
 * shorter one is dropped and counted) and delivers the packets to the peer's receive queue: one
 * chain per packet (header + frame must fit its writable part, else the packet is dropped and
 * the buffer returned empty). Packets that find no receive buffer wait in the peer's backlog
 * (NET_BACKLOG packets, then dropped and counted) until its driver adds buffers and kicks.
 * Out of memory (a packet's buffer, or a DMA that needed an allocation: the host's failure
 * injection reaches both), the packet is dropped and counted and its chain returned as used
 * (a receive buffer empty); nothing of it is written.
 *
 * Locking: a port's state (backlog, counters) is under its transport lock v.lock. cable_lock (a
 * process-wide rwlock) protects the list of ports and their peer pointers: transmit holds it
 * shared while it delivers to the peer (taking the peer's v.lock after dropping its own), attach
 * and destroy take it exclusive. Order: cable_lock -> v.lock; never two v.locks at once.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/models.h"
#include "devices/virtio_pci.h"
#include "util/internal.h"

#define VIRTIO_NET_F_MAC 5
#define VIRTIO_NET_F_MRG_RXBUF 15
#define VIRTIO_NET_F_STATUS 16
#define VIRTIO_NET_S_LINK_UP 1u
#define NET_RX 0
#define NET_TX 1
#define NET_QUEUE_SIZE 256
#define NET_HDR_MAX 12u
#define NET_MAX_FRAME 65550u
#define NET_BACKLOG 64u
#define NET_BATCH 32u
#define NET_CONFIG_SIZE 8u

struct pkt {
	uint32_t len;       /* frame bytes, after the header room */
	uint8_t *buf;       /* NET_HDR_MAX bytes of header room, then the frame */
};

struct net_port {
	struct virtio_dev v; /* first: the model's priv */
	struct tcemu_host *host;
	char bdf[16], link[16];
	uint8_t mac[6];
	struct net_port *peer, *next; /* cable_lock */
	uint32_t link_up;             /* atomic: peer != NULL */
	struct vq_chain *chain;       /* the chain being processed (v.lock) */
	struct pkt backlog[NET_BACKLOG];
	unsigned bl_head, bl_count;   /* v.lock */
	uint64_t tx_packets, rx_packets, tx_dropped, rx_dropped; /* v.lock */
};

static pthread_rwlock_t cable_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct net_port *ports; /* cable_lock */

static const char *const net_queue_names[] = { "rx", "tx" };

static unsigned hdr_len(const struct virtio_dev *v)
{
	return virtio_has(v, VIRTIO_F_VERSION_1) || virtio_has(v, VIRTIO_NET_F_MRG_RXBUF) ? 12u : 10u;
}

static void net_config_read(struct virtio_dev *v, unsigned off, uint8_t *buf, unsigned len)
{
	struct net_port *p = (struct net_port *)v;
	uint8_t c[NET_CONFIG_SIZE];

	memcpy(c, p->mac, 6);
	vq_put16(c + 6, __atomic_load_n(&p->link_up, __ATOMIC_ACQUIRE) ? VIRTIO_NET_S_LINK_UP : 0);
	memcpy(buf, c + off, len);
}

static void backlog_drop_all(struct net_port *p)
{
	while (p->bl_count) {
		free(p->backlog[p->bl_head].buf);
		p->bl_head = (p->bl_head + 1) % NET_BACKLOG;
		p->bl_count--;
	}
}

static void net_reset(struct virtio_dev *v)
{
	backlog_drop_all((struct net_port *)v);
}

/*
 * Moves backlog packets into receive buffers while there are some. Returns whether any chain was
 * used (an interrupt is due). p->v.lock held.
 */
static bool rx_drain(struct net_port *p)
{
	struct virtio_dev *v = &p->v;
	struct vq *q = virtio_queue(v, NET_RX);
	struct vq_chain *c = p->chain;
	bool used = false;

	if (!q || !p->bl_count)
		return false;
	while (p->bl_count) {
		struct pkt *k = &p->backlog[p->bl_head];
		unsigned hl = hdr_len(v);
		uint32_t wrote = 0;
		int rc = vq_pop(v->m, q, virtio_has(v, VIRTIO_F_RING_INDIRECT_DESC), c);

		if (rc <= 0) {
			if (rc < 0)
				virtio_pop_error(v, q, rc);
			break;
		}
		if (c->nout || c->in_len < hl + k->len) {
			p->rx_dropped++; /* a buffer too small for the packet (no MRG_RXBUF) */
		} else {
			uint8_t *h = k->buf + NET_HDR_MAX - hl;
			ssize_t n;

			memset(h, 0, hl);
			if (hl == 12)
				vq_put16(h + 10, 1); /* num_buffers */
			model_context(v->m, "%s queue %u %sbuffer %u", "rx", NET_RX, "", c->head);
			n = vq_chain_write(v->m, c, h, hl + k->len);
			if (n == -ENOMEM) {
				p->rx_dropped++; /* nothing written: the buffer goes back empty */
			} else if (n < 0) {
				break; /* a fault: the PE is frozen, the packet stays */
			} else {
				wrote = hl + k->len;
				p->rx_packets++;
			}
		}
		free(k->buf);
		p->bl_head = (p->bl_head + 1) % NET_BACKLOG;
		p->bl_count--;
		if (vq_push(v->m, q, c->head, wrote))
			break;
		used = true;
	}
	return used;
}

/* Queues packets for port p's receive side and delivers what its buffers take. Takes p->v.lock. */
static void rx_deliver(struct net_port *p, struct pkt *pk, unsigned n)
{
	pthread_mutex_lock(&p->v.lock);
	for (unsigned i = 0; i < n; i++) {
		if (p->bl_count == NET_BACKLOG) {
			p->rx_dropped++;
			free(pk[i].buf);
			continue;
		}
		p->backlog[(p->bl_head + p->bl_count) % NET_BACKLOG] = pk[i];
		p->bl_count++;
	}
	if (rx_drain(p))
		virtio_queue_irq(&p->v, &p->v.q[NET_RX]);
	pthread_mutex_unlock(&p->v.lock);
}

/*
 * Takes up to NET_BATCH packets from the transmit queue into pk. Returns how many, and whether
 * more may be waiting in *more. p->v.lock held.
 */
static unsigned tx_collect(struct net_port *p, struct pkt *pk, struct vq_chain *c, bool *more)
{
	struct virtio_dev *v = &p->v;
	struct vq *q = virtio_queue(v, NET_TX);
	unsigned n = 0, hl = hdr_len(v);
	bool used = false;

	*more = false;
	while (q && n < NET_BATCH) {
		int rc = vq_pop(v->m, q, virtio_has(v, VIRTIO_F_RING_INDIRECT_DESC), c);

		if (rc <= 0) {
			if (rc < 0)
				virtio_pop_error(v, q, rc);
			break;
		}
		if (c->nin || c->out_len < hl || c->out_len - hl > NET_MAX_FRAME) {
			p->tx_dropped++;
		} else {
			uint32_t len = (uint32_t)(c->out_len - hl);
			uint8_t *buf = model_malloc(v->m, NET_HDR_MAX + len);
			ssize_t r = 0;

			model_context(v->m, "%s queue %u %sbuffer %u", "tx", NET_TX, "", c->head);
			if (buf)
				r = vq_chain_read(v->m, c, buf + NET_HDR_MAX - hl, hl + len);
			if (!buf || r == -ENOMEM) {
				free(buf);
				p->tx_dropped++;
			} else if (r < 0) {
				free(buf);
				break; /* a fault: the PE is frozen */
			} else {
				pk[n++] = (struct pkt){ .len = len, .buf = buf };
				p->tx_packets++;
			}
		}
		if (vq_push(v->m, q, c->head, 0))
			break;
		used = true;
		*more = n == NET_BATCH;
	}
	if (used)
		virtio_queue_irq(v, q);
	return n;
}

static void net_notify(struct virtio_dev *v, unsigned qi)
{
	struct net_port *p = (struct net_port *)v;
	struct pkt pk[NET_BATCH];
	bool more = true;

	if (qi == NET_RX) {
		pthread_mutex_lock(&v->lock);
		if (rx_drain(p))
			virtio_queue_irq(v, &v->q[NET_RX]);
		pthread_mutex_unlock(&v->lock);
		return;
	}
	while (more) {
		unsigned n;

		pthread_mutex_lock(&v->lock);
		n = tx_collect(p, pk, p->chain, &more);
		pthread_mutex_unlock(&v->lock);
		if (!n)
			continue;
		pthread_rwlock_rdlock(&cable_lock);
		if (p->peer) {
			rx_deliver(p->peer, pk, n);
		} else {
			for (unsigned i = 0; i < n; i++)
				free(pk[i].buf);
		}
		pthread_rwlock_unlock(&cable_lock);
	}
}

/* Recomputes every port's peer on host h. cable_lock held exclusive. */
static void recable(struct tcemu_host *h)
{
	for (struct net_port *p = ports; p; p = p->next) {
		struct net_port *peer = NULL;

		if (p->host != h)
			continue;
		for (struct net_port *o = ports; o && !peer; o = o->next)
			if (o->host == h && (p->link[0] ? strcasecmp(o->bdf, p->link) == 0 && o != p
							: o != p && strcasecmp(o->link, p->bdf) == 0))
				peer = o;
		if (!peer && !p->link[0])
			peer = p; /* loopback */
		p->peer = peer;
		__atomic_store_n(&p->link_up, peer != NULL, __ATOMIC_RELEASE);
	}
}

static int parse_mac(const char *s, size_t len, uint8_t mac[6])
{
	unsigned b[6];
	char tmp[18];

	if (len != 17)
		return -EINVAL;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	if (sscanf(tmp, "%2x:%2x:%2x:%2x:%2x:%2x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) != 6)
		return -EINVAL;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	return 0;
}

static int net_params(struct net_port *p, const char *params)
{
	const char *s = params;

	while (s && *s) {
		size_t len = strcspn(s, ", ");

		if (len > 4 && strncmp(s, "mac=", 4) == 0) {
			if (parse_mac(s + 4, len - 4, p->mac))
				return -EINVAL;
		} else if (len > 5 && strncmp(s, "link=", 5) == 0 && len - 5 < sizeof(p->link)) {
			memcpy(p->link, s + 5, len - 5);
			p->link[len - 5] = '\0';
		} else if (len) {
			return -EINVAL;
		}
		s += len;
		s += strspn(s, ", ");
	}
	return 0;
}

static const struct virtio_dev_ops net_vops = {
	.type = 1,
	.features = VBIT(VIRTIO_NET_F_MAC) | VBIT(VIRTIO_NET_F_STATUS),
	.nqueues = 2,
	.queue_names = net_queue_names,
	.queue_size = NET_QUEUE_SIZE,
	.config_size = NET_CONFIG_SIZE,
	.config_read = net_config_read,
	.notify = net_notify,
	.reset = net_reset,
};

static int net_init(struct tcemu_model *m, const char *params)
{
	struct net_port *p = model_malloc(m, sizeof(*p));
	unsigned dom, bus, dev, fn;
	int rc;

	if (!p)
		return -ENOMEM;
	memset(p, 0, sizeof(*p));
	p->chain = model_malloc(m, sizeof(*p->chain));
	if (!p->chain) {
		rc = -ENOMEM;
		goto free_port;
	}
	p->host = tcemu_model_host(m);
	snprintf(p->bdf, sizeof(p->bdf), "%s", tcemu_model_bdf(m));
	if (sscanf(p->bdf, "%x:%x:%x.%x", &dom, &bus, &dev, &fn) == 4)
		memcpy(p->mac, (uint8_t[6]){ 0x02, 0x00, (uint8_t)dom, (uint8_t)bus, (uint8_t)dev, (uint8_t)fn }, 6);
	rc = net_params(p, params);
	if (rc)
		goto free_port;
	rc = virtio_pci_init(&p->v, m, &net_vops);
	if (rc)
		goto free_port;
	tcemu_model_set_priv(m, p);
	pthread_rwlock_wrlock(&cable_lock);
	p->next = ports;
	ports = p;
	recable(p->host);
	pthread_rwlock_unlock(&cable_lock);
	return 0;

free_port:
	free(p->chain);
	free(p);
	return rc;
}

static void net_destroy(struct tcemu_model *m)
{
	struct net_port *p = tcemu_model_priv(m);

	pthread_rwlock_wrlock(&cable_lock);
	for (struct net_port **pp = &ports; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	recable(p->host);
	pthread_rwlock_unlock(&cable_lock);
	backlog_drop_all(p);
	virtio_pci_fini(&p->v);
	free(p->chain);
	free(p);
}

int virtio_net_counters(struct tcemu_model *m, char *buf, size_t len, bool try)
{
	struct net_port *p = tcemu_model_priv(m);

	if (try ? pthread_mutex_trylock(&p->v.lock) != 0 : pthread_mutex_lock(&p->v.lock) != 0)
		return -EBUSY;
	snprintf(buf, len, "tx %llu packets (%llu dropped), rx %llu packets (%llu dropped, %u waiting)",
		 (unsigned long long)p->tx_packets, (unsigned long long)p->tx_dropped,
		 (unsigned long long)p->rx_packets, (unsigned long long)p->rx_dropped, p->bl_count);
	pthread_mutex_unlock(&p->v.lock);
	return 0;
}

static const struct tcemu_model_ops net_ops = {
	.init = net_init,
	.bar_read = virtio_pci_bar_read,
	.bar_write = virtio_pci_bar_write,
	.reset = virtio_pci_reset,
	.eeh = virtio_pci_eeh,
	.destroy = net_destroy,
};

const struct tcemu_model_type tcemu_virtio_net_type = {
	.name = "virtio-net",
	.vendor = VIRTIO_VENDOR,
	.device = 0x1000,
	.subsys_vendor = VIRTIO_VENDOR,
	.subsys_device = 1,
	.class_code = 0x020000,
	.revision = 0,
	VIRTIO_TYPE_BARS(64),
	.ops = &net_ops,
};
