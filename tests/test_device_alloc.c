/* SPDX-License-Identifier: MIT */
/*
 * Failure injection (tcemu_host_fail_alloc) reaches the device models' allocations: every
 * allocation point of a virtio-blk read, a virtio-blk write and a virtio-net transmit (with the
 * peer's receive) is failed in turn until the operation completes without reaching the failure.
 * After each: the request failed as virtio allows (blk: IOERR, nothing of its data moved; net:
 * the packet dropped and counted, nothing of it written), the device still works (the next
 * request succeeds), and the host's invariants hold. The ASan build checks that nothing leaks.
 *
 * The chains are scattered (NSEG data descriptors, not adjacent) so that the DMA needs its
 * allocations: the model's scatter-gather vector (more than 16 elements) and the engine's
 * segment list (more than 16 segments).
 */
#include <stdio.h>
#include <stdlib.h>

#include "harness.h"
#include "vfio/check.h"
#include "virtio_driver.h"

#define NSEG 20u
#define SEG_LEN 512u
#define SEG_STRIDE 1024u

/* ---- virtio-blk ---- */

#define BLK_BDF "0000:01:00.0"
#define BLK_F (1u << 2 | 1u << 6 | 1u << 9) /* SEG_MAX, BLK_SIZE, FLUSH */
#define BLK_HDR_OFF 0x0
#define BLK_ST_OFF 0x800
#define BLK_DATA_OFF 0x10000
#define BLK_SECTOR_AT 16u

static void invariants(struct tcemu_host *h, unsigned long long n)
{
	char why[256];

	if (tcemu_host_check_invariants(h, 0, why, sizeof(why))) {
		HARNESS_FAIL("allocation %llu: %s", n, why);
		harness_abort_test();
	}
}

static uint8_t *blk_seg(struct vd *d, unsigned i)
{
	return vd_ptr(d, BLK_DATA_OFF + (uint64_t)i * SEG_STRIDE);
}

/* A read (type 0) or write (1) of NSEG sectors at BLK_SECTOR_AT, scattered. Status, or -1. */
static int blk_request(struct vd *d, uint32_t type, uint32_t *used_len)
{
	uint8_t *h = vd_ptr(d, BLK_HDR_OFF);
	uint64_t sector = BLK_SECTOR_AT;
	uint16_t dflags = (uint16_t)(1 | (type == 0 ? 2 : 0));
	uint32_t id;

	memcpy(h, &type, 4);
	memset(h + 4, 0, 4);
	memcpy(h + 8, &sector, 8);
	*vd_ptr(d, BLK_ST_OFF) = 0xff;
	vd_desc(d, 0, 0, vd_bus(d, BLK_HDR_OFF), 16, 1, 1);
	for (unsigned i = 0; i < NSEG; i++)
		vd_desc(d, 0, 1 + i, vd_bus(d, BLK_DATA_OFF + (uint64_t)i * SEG_STRIDE), SEG_LEN, dflags,
			(uint16_t)(2 + i));
	vd_desc(d, 0, 1 + NSEG, vd_bus(d, BLK_ST_OFF), 1, 2, 0);
	if (vd_kick(d, 0, 0) || vd_used(d, 0, &id, used_len) != 1 || id != 0)
		return -1;
	return *vd_ptr(d, BLK_ST_OFF);
}

static void blk_fill(struct vd *d, uint8_t seed)
{
	for (unsigned i = 0; i < NSEG; i++)
		for (unsigned j = 0; j < SEG_LEN; j++)
			blk_seg(d, i)[j] = (uint8_t)(seed + i * 7 + j);
}

static bool blk_holds(struct vd *d, uint8_t seed)
{
	for (unsigned i = 0; i < NSEG; i++)
		for (unsigned j = 0; j < SEG_LEN; j++)
			if (blk_seg(d, i)[j] != (uint8_t)(seed + i * 7 + j))
				return false;
	return true;
}

static unsigned long long blk_errors(struct tcemu_host *h)
{
	static char buf[65536];
	unsigned long long v[6];
	const char *p;

	tcemu_host_summary(h, buf, sizeof(buf));
	p = strstr(buf, BLK_BDF " virtio-blk: ");
	if (!p || sscanf(p + strlen(BLK_BDF " virtio-blk: "),
			 "%llu reads (%llu bytes), %llu writes (%llu bytes), %llu flushes, %llu errors", &v[0], &v[1],
			 &v[2], &v[3], &v[4], &v[5]) != 6)
		return ~0ull;
	return v[5];
}

/* Sweeps a read (write false) or a write: returns the number of allocation points failed. */
static unsigned long long blk_sweep(bool write)
{
	struct vd_host vh;
	struct vd d;
	unsigned long long n, counted, errors = 0;
	uint32_t ul;
	uint8_t seed = 1;

	CHECK_EQ(vd_host_open(&vh), 0);
	CHECK_EQ(tcemu_host_set_model(vh.h, BLK_BDF, "virtio-blk", "size=1M"), 0);
	CHECK_EQ(vd_host_container(&vh), 0);
	CHECK_EQ(vd_open(&d, &vh, vh.g[0], BLK_BDF, 0, true, 1, BLK_F), 0);
	blk_fill(&d, seed);
	CHECK_EQ(blk_request(&d, 1, &ul), 0); /* the disk holds seed */
	for (n = 1;; n++) {
		int st;

		if (write)
			blk_fill(&d, (uint8_t)(seed + 1));
		else
			memset(blk_seg(&d, 0), 0xee, (size_t)NSEG * SEG_STRIDE);
		tcemu_host_fail_alloc(vh.h, n);
		st = blk_request(&d, write ? 1 : 0, &ul);
		counted = tcemu_host_fail_alloc(vh.h, 0);
		if (counted < n) { /* done without reaching the failure */
			CHECK_EQ(st, 0);
			CHECK_EQ(ul, write ? 1u : NSEG * SEG_LEN + 1);
			if (!write)
				CHECK(blk_holds(&d, seed));
			break;
		}
		CHECK_EQ(st, 1); /* IOERR */
		CHECK_EQ(ul, 1); /* the status byte only */
		CHECK_U64(blk_errors(vh.h), ++errors);
		if (!write)
			for (unsigned i = 0; i < NSEG; i++)
				for (unsigned j = 0; j < SEG_LEN; j++)
					CHECK_EQ(blk_seg(&d, i)[j], 0xee); /* nothing of the data written */
		/* The disk still holds seed (a failed write wrote nothing), and a read works. */
		memset(blk_seg(&d, 0), 0, (size_t)NSEG * SEG_STRIDE);
		CHECK_EQ(blk_request(&d, 0, &ul), 0);
		CHECK(blk_holds(&d, seed));
		invariants(vh.h, n);
	}
	if (write) { /* the last write went through */
		memset(blk_seg(&d, 0), 0, (size_t)NSEG * SEG_STRIDE);
		CHECK_EQ(blk_request(&d, 0, &ul), 0);
		CHECK(blk_holds(&d, (uint8_t)(seed + 1)));
	}
	invariants(vh.h, n);
	vd_close(&d);
	tcemu_host_destroy(vh.h);
	return n - 1;
}

TEST(virtio_blk_read_every_allocation)
{
	unsigned long long points = blk_sweep(false);

	fprintf(stderr, "# virtio-blk read: %llu allocation points\n", points);
	CHECK(points >= 2); /* the scatter-gather vector, the segment list */
}

TEST(virtio_blk_write_every_allocation)
{
	unsigned long long points = blk_sweep(true);

	fprintf(stderr, "# virtio-blk write: %llu allocation points\n", points);
	CHECK(points >= 3); /* the header's and the data's vectors, the segment list */
}

/* ---- virtio-net ---- */

#define A_BDF "0000:01:00.0"
#define B_BDF "0000:02:00.0"
#define NET_F (1u << 5 | 1u << 16) /* MAC, STATUS */
#define TX_HDR_OFF 0x0
#define TX_OFF 0x10000
#define RX_OFF 0x40000
#define NET_SEG 64u  /* frame bytes per transmit descriptor */
#define RX_SEG 66u   /* bytes per receive descriptor: the packet spans 20 of them */
#define FRAME (NSEG * NET_SEG)

struct net_counts {
	unsigned long long tx, tx_dropped, rx, rx_dropped;
};

static bool net_counts(struct tcemu_host *h, const char *bdf, struct net_counts *c)
{
	static char buf[65536];
	char key[64];
	const char *p;

	tcemu_host_summary(h, buf, sizeof(buf));
	snprintf(key, sizeof(key), "%s virtio-net: ", bdf);
	p = strstr(buf, key);
	return p && sscanf(p + strlen(key), "tx %llu packets (%llu dropped), rx %llu packets (%llu dropped", &c->tx,
			   &c->tx_dropped, &c->rx, &c->rx_dropped) == 4;
}

/* Posts one receive chain of NSEG scattered device-writable descriptors on d. */
static int net_post_rx(struct vd *d)
{
	memset(vd_ptr(d, RX_OFF), 0xee, (size_t)NSEG * 2 * RX_SEG);
	for (unsigned i = 0; i < NSEG; i++)
		vd_desc(d, 0, i, vd_bus(d, RX_OFF + (uint64_t)i * 2 * RX_SEG), RX_SEG,
			(uint16_t)(2 | (i + 1 < NSEG ? 1 : 0)), (uint16_t)(i + 1));
	return vd_kick(d, 0, 0);
}

static bool net_rx_untouched(struct vd *d)
{
	for (size_t i = 0; i < (size_t)NSEG * 2 * RX_SEG; i++)
		if (vd_ptr(d, RX_OFF)[i] != 0xee)
			return false;
	return true;
}

/* Sends one FRAME-byte packet (seed) from d: the header, then NSEG scattered pieces. */
static int net_send(struct vd *d, uint8_t seed)
{
	memset(vd_ptr(d, TX_HDR_OFF), 0, 12);
	vd_desc(d, 1, 0, vd_bus(d, TX_HDR_OFF), 12, 1, 1);
	for (unsigned i = 0; i < NSEG; i++) {
		for (unsigned j = 0; j < NET_SEG; j++)
			vd_ptr(d, TX_OFF + (uint64_t)i * 2 * NET_SEG)[j] = (uint8_t)(seed + i * NET_SEG + j);
		vd_desc(d, 1, 1 + i, vd_bus(d, TX_OFF + (uint64_t)i * 2 * NET_SEG), NET_SEG,
			(uint16_t)(i + 1 < NSEG ? 1 : 0), (uint16_t)(2 + i));
	}
	return vd_kick(d, 1, 0);
}

/* The packet seed arrived in d's receive chain (after the 12-byte header). */
static bool net_received(struct vd *d, uint8_t seed)
{
	for (unsigned k = 0; k < FRAME; k++) {
		unsigned at = 12 + k;

		if (vd_ptr(d, RX_OFF + (uint64_t)(at / RX_SEG) * 2 * RX_SEG)[at % RX_SEG] != (uint8_t)(seed + k))
			return false;
	}
	return true;
}

TEST(virtio_net_transmit_every_allocation)
{
	struct vd_host vh;
	struct vd a, b;
	struct net_counts ca, cb, ca0, cb0;
	unsigned long long n, counted, tx_drops = 0, rx_drops = 0;
	uint32_t id, ul;

	CHECK_EQ(vd_host_open(&vh), 0);
	CHECK_EQ(tcemu_host_set_model(vh.h, A_BDF, "virtio-net", "link=" B_BDF), 0);
	CHECK_EQ(tcemu_host_set_model(vh.h, B_BDF, "virtio-net", NULL), 0);
	CHECK_EQ(vd_host_container(&vh), 0);
	CHECK_EQ(vd_open(&a, &vh, vh.g[0], A_BDF, 0, true, 2, NET_F), 0);
	CHECK_EQ(vd_open(&b, &vh, vh.g[1], B_BDF, 1, true, 2, NET_F), 0);
	CHECK_EQ(net_post_rx(&b), 0);
	for (n = 1;; n++) {
		uint8_t seed = (uint8_t)(n * 3);

		CHECK(net_counts(vh.h, A_BDF, &ca0) && net_counts(vh.h, B_BDF, &cb0));
		tcemu_host_fail_alloc(vh.h, n);
		CHECK_EQ(net_send(&a, seed), 0);
		counted = tcemu_host_fail_alloc(vh.h, 0);
		CHECK(vd_used(&a, 1, &id, &ul) == 1 && id == 0 && ul == 0); /* the chain is returned in any case */
		CHECK(net_counts(vh.h, A_BDF, &ca) && net_counts(vh.h, B_BDF, &cb));
		if (counted < n) { /* done without reaching the failure */
			CHECK(vd_used(&b, 0, &id, &ul) == 1 && id == 0 && ul == 12 + FRAME);
			CHECK(net_received(&b, seed));
			CHECK_U64(ca.tx, ca0.tx + 1);
			CHECK_U64(cb.rx, cb0.rx + 1);
			break;
		}
		if (ca.tx_dropped == ca0.tx_dropped + 1) { /* failed on the transmit side */
			tx_drops++;
			CHECK_U64(ca.tx, ca0.tx);
			CHECK_U64(cb.rx, cb0.rx);
			CHECK_EQ(vd_used(&b, 0, &id, &ul), 0); /* the receive buffer still waits */
		} else { /* on the receive side: the buffer returned empty */
			rx_drops++;
			CHECK_U64(ca.tx, ca0.tx + 1);
			CHECK_U64(cb.rx_dropped, cb0.rx_dropped + 1);
			CHECK_U64(cb.rx, cb0.rx);
			CHECK(vd_used(&b, 0, &id, &ul) == 1 && id == 0 && ul == 0);
			CHECK(net_rx_untouched(&b));
			CHECK_EQ(net_post_rx(&b), 0);
		}
		CHECK(net_rx_untouched(&b));
		/* The port still works: the next packet arrives. */
		CHECK_EQ(net_send(&a, (uint8_t)(seed + 1)), 0);
		CHECK(vd_used(&a, 1, &id, &ul) == 1 && id == 0);
		CHECK(vd_used(&b, 0, &id, &ul) == 1 && id == 0 && ul == 12 + FRAME);
		CHECK(net_received(&b, (uint8_t)(seed + 1)));
		CHECK_EQ(net_post_rx(&b), 0);
		invariants(vh.h, n);
	}
	fprintf(stderr, "# virtio-net transmit: %llu allocation points (%llu transmit, %llu receive)\n", n - 1,
		tx_drops, rx_drops);
	CHECK(tx_drops >= 3); /* the packet's buffer, the scatter-gather vector, the segment list */
	CHECK(rx_drops >= 2); /* the receive chain's vector and segment list */
	invariants(vh.h, n);
	vd_close(&a);
	vd_close(&b);
	tcemu_host_destroy(vh.h);
}

HARNESS_MAIN(T(virtio_blk_read_every_allocation), T(virtio_blk_write_every_allocation),
	     T(virtio_net_transmit_every_allocation))
