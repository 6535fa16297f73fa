/* SPDX-License-Identifier: MIT */
/* The virtio-blk model through the VFIO fd API, driven by the tests' own driver (virtio_driver.h). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>

#include "harness.h"
#include "virtio_driver.h"

#define BDF "0000:01:00.0"
#define BLK_F (1u << 2 | 1u << 6 | 1u << 9 | 1u << 28) /* SEG_MAX, BLK_SIZE, FLUSH, INDIRECT */
#define HDR_OFF 0x0
#define DATA_OFF 0x1000
#define ST_OFF 0x800

struct blk {
	struct vd_host vh;
	struct vd d;
	char path[64];
};

static int blk_open(struct blk *b, bool modern, const char *params)
{
	if (vd_host_open(&b->vh) || tcemu_host_set_model(b->vh.h, BDF, "virtio-blk", params) ||
	    vd_host_container(&b->vh))
		return -100;
	return vd_open(&b->d, &b->vh, b->vh.g[0], BDF, 0, modern, 1, BLK_F);
}

static void blk_close(struct blk *b)
{
	vd_close(&b->d);
	tcemu_host_destroy(b->vh.h);
}

/* One request: header, data (len bytes, device-writable for IN and GET_ID), status. Returns the status or -1. */
static int request(struct vd *d, uint32_t type, uint64_t sector, uint32_t len, uint32_t *used_len)
{
	uint8_t *h = vd_ptr(d, HDR_OFF);
	bool in = type == 0 || type == 8;
	uint32_t id;
	unsigned n = 0;

	memcpy(h, &type, 4);
	memset(h + 4, 0, 4);
	memcpy(h + 8, &sector, 8);
	*vd_ptr(d, ST_OFF) = 0xff;
	vd_desc(d, 0, n, vd_bus(d, HDR_OFF), 16, 1, (uint16_t)(n + 1));
	n++;
	if (len) {
		vd_desc(d, 0, n, vd_bus(d, DATA_OFF), len, (uint16_t)(1 | (in ? 2 : 0)), (uint16_t)(n + 1));
		n++;
	}
	vd_desc(d, 0, n, vd_bus(d, ST_OFF), 1, 2, 0);
	if (vd_kick(d, 0, 0) || vd_used(d, 0, &id, used_len) != 1 || id != 0)
		return -1;
	return *vd_ptr(d, ST_OFF);
}

TEST(config_capacity_and_identity)
{
	struct blk b;

	CHECK_EQ(blk_open(&b, false, "size=8M"), 0);
	CHECK_EQ(vd_rd32(&b.d, VD_CFG(2), 2), 0x1001);
	CHECK_EQ(vd_rd32(&b.d, VD_CFG(0x2e), 2), 2);
	CHECK_EQ(vd_rd32(&b.d, vd_reg_config(&b.d, 0, false), 4), (8u << 20) / 512);
	CHECK_EQ(vd_rd32(&b.d, vd_reg_config(&b.d, 4, false), 4), 0);
	CHECK_EQ(vd_rd32(&b.d, vd_reg_config(&b.d, 20, false), 4), 512);
	blk_close(&b);
}

static bool rw_roundtrip(struct vd *d)
{
	uint32_t ul;

	for (unsigned i = 0; i < 8192; i++)
		vd_ptr(d, DATA_OFF)[i] = (uint8_t)(i * 31 + 7);
	if (request(d, 1, 10, 8192, &ul) != 0 || ul != 1)
		return false;
	memset(vd_ptr(d, DATA_OFF), 0, 8192);
	if (request(d, 0, 10, 8192, &ul) != 0 || ul != 8193)
		return false;
	for (unsigned i = 0; i < 8192; i++)
		if (vd_ptr(d, DATA_OFF)[i] != (uint8_t)(i * 31 + 7))
			return false;
	return true;
}

TEST(anonymous_read_write_flush_get_id_legacy_and_modern)
{
	struct blk b;
	uint32_t ul;

	for (int modern = 0; modern < 2; modern++) {
		CHECK_EQ(blk_open(&b, modern, NULL), 0);
		CHECK_EQ(vd_rd32(&b.d, vd_reg_config(&b.d, 0, false), 4), (64u << 20) / 512);
		CHECK(rw_roundtrip(&b.d));
		CHECK_EQ(request(&b.d, 4, 0, 0, &ul), 0);
		CHECK_EQ(request(&b.d, 8, 0, 20, &ul), 0);
		CHECK_EQ(ul, 21);
		CHECK(memcmp(vd_ptr(&b.d, DATA_OFF), "tcemu-", 6) == 0);
		CHECK_EQ(request(&b.d, 99, 0, 0, &ul), 2); /* UNSUPP */
		blk_close(&b);
	}
}

TEST(file_backed_writes_reach_the_file)
{
	struct blk b;
	char params[96], buf[4096];
	uint32_t ul;
	int fd;

	snprintf(b.path, sizeof(b.path), "/tmp/tcemu-blk-%d.img", (int)getpid());
	snprintf(params, sizeof(params), "disk=%s,size=1M", b.path);
	CHECK_EQ(blk_open(&b, true, params), 0);
	CHECK(rw_roundtrip(&b.d));
	memset(vd_ptr(&b.d, DATA_OFF), 0xab, 4096);
	CHECK_EQ(request(&b.d, 1, 2047 - 7, 4096, &ul), 0); /* the last 8 sectors */
	CHECK_EQ(request(&b.d, 4, 0, 0, &ul), 0);
	fd = open(b.path, O_RDONLY);
	CHECK(fd >= 0);
	CHECK_EQ(pread(fd, buf, 4096, (2047 - 7) * 512ll), 4096);
	CHECK_EQ((uint8_t)buf[0], 0xab);
	CHECK_EQ((uint8_t)buf[4095], 0xab);
	CHECK_EQ(pread(fd, buf, 1, 10 * 512), 1);
	CHECK_EQ((uint8_t)buf[0], 7);
	close(fd);
	/* Beyond the capacity, or not whole sectors: IOERR. */
	CHECK_EQ(request(&b.d, 0, 2047, 1024, &ul), 1);
	CHECK_EQ(request(&b.d, 1, 0, 100, &ul), 1);
	CHECK_EQ(request(&b.d, 0, ~0ull / 2, 512, &ul), 1);
	blk_close(&b);
	unlink(b.path);
}

TEST(malformed_request_needs_reset)
{
	struct blk b;

	CHECK_EQ(blk_open(&b, false, "size=1M"), 0);
	vd_desc(&b.d, 0, 0, vd_bus(&b.d, HDR_OFF), 8, 0, 0); /* a header too short, no status */
	CHECK_EQ(vd_kick(&b.d, 0, 0), 0);
	CHECK(vd_rd32(&b.d, vd_reg_status(&b.d), 1) & 0x40);
	blk_close(&b);
}

TEST(unmapped_data_buffer_faults)
{
	struct blk b;
	struct tcemu_model_fault f;
	uint32_t type = 0, ul;
	uint64_t sector = 0;

	CHECK_EQ(blk_open(&b, true, "size=1M"), 0);
	memcpy(vd_ptr(&b.d, HDR_OFF), &type, 4);
	memcpy(vd_ptr(&b.d, HDR_OFF + 8), &sector, 8);
	vd_desc(&b.d, 0, 0, vd_bus(&b.d, HDR_OFF), 16, 1, 1);
	vd_desc(&b.d, 0, 1, 0x9000000, 512, 3, 2);
	vd_desc(&b.d, 0, 2, vd_bus(&b.d, ST_OFF), 1, 2, 0);
	CHECK_EQ(vd_kick(&b.d, 0, 0), 0);
	CHECK_EQ(vd_used(&b.d, 0, &type, &ul), 0);
	CHECK_EQ(tcemu_model_last_fault(tcemu_host_model(b.vh.h, BDF), &f), 0);
	CHECK_EQ(f.held, TCEMU_FAULT_NO_ENTRY);
	CHECK_STR(f.context, "request queue 0 request 0 data");
	CHECK_EQ(vd_rd32(&b.d, VD_REGION(4), 4), 0xffffffff);
	blk_close(&b);
}

/* The summary's devices section: the disk's counters and what the models' DMA moved. */
TEST(summary_counts_requests_and_dma_bytes)
{
	unsigned long long rd = 0, rn = 0, wr = 0, wn = 0;
	struct blk b;
	char text[8192];
	const char *dma;
	uint32_t ul;

	CHECK_EQ(blk_open(&b, true, "size=1M"), 0);
	CHECK(rw_roundtrip(&b.d));
	CHECK_EQ(request(&b.d, 4, 0, 0, &ul), 0);
	CHECK_EQ(request(&b.d, 0, 4096, 512, &ul), 1); /* beyond the capacity: an error, no bytes */
	CHECK(tcemu_host_summary(b.vh.h, text, sizeof(text)) < sizeof(text));
	CHECK_CONTAINS(text, "devices:\n  " BDF " virtio-blk: 1 reads (8192 bytes), 1 writes (8192 bytes), 1 flushes, "
			     "1 errors\n");
	dma = strstr(text, "device DMA: ");
	CHECK(dma != NULL);
	CHECK_EQ(sscanf(dma, "device DMA: %llu bytes read from memory in %llu accesses, %llu bytes written to memory in "
			     "%llu accesses", &rd, &rn, &wr, &wn), 4);
	/* at least the OUT data and the headers read, the IN data and the status bytes written */
	CHECK(rd >= 8192 + 4 * 16 && rn >= 4);
	CHECK(wr >= 8192 + 4 && wn >= 4);
	blk_close(&b);
}

/* The fault-file debug control: a register read with the file present faults once and freezes the PE. */
TEST(fault_file_injects_one_dma_fault_at_a_register_read)
{
	struct blk b;
	struct tcemu_model_fault f;
	char path[64], params[96];
	uint32_t ul;
	int fd;

	snprintf(path, sizeof(path), "/tmp/tcemu-blk-fault-%d", (int)getpid());
	snprintf(params, sizeof(params), "size=1M,fault-file=%s", path);
	unlink(path);
	CHECK_EQ(blk_open(&b, true, params), 0);
	CHECK(rw_roundtrip(&b.d)); /* no file: nothing happens */
	CHECK_EQ(tcemu_model_last_fault(tcemu_host_model(b.vh.h, BDF), &f), -ENOENT);
	fd = open(path, O_CREAT | O_WRONLY, 0644);
	CHECK(fd >= 0);
	close(fd);
	CHECK(vd_rd32(&b.d, vd_reg_status(&b.d), 1) != 0xff); /* the read that injects is answered */
	CHECK_EQ(access(path, F_OK), -1);                     /* consumed */
	CHECK_EQ(tcemu_model_last_fault(tcemu_host_model(b.vh.h, BDF), &f), 0);
	CHECK_EQ(f.held, TCEMU_FAULT_NO_WINDOW);
	CHECK_U64(f.bus, 0x4000000000000ull);
	CHECK_STR(f.context, "injected by the fault-file debug control");
	CHECK_EQ(vd_rd32(&b.d, VD_REGION(4), 4), 0xffffffff); /* the PE is frozen: MMIO reads all ones */
	CHECK_EQ(request(&b.d, 0, 0, 512, &ul), -1);          /* and DMA stops */
	blk_close(&b);
	unlink(path);
}

HARNESS_MAIN(T(config_capacity_and_identity), T(fault_file_injects_one_dma_fault_at_a_register_read), T(anonymous_read_write_flush_get_id_legacy_and_modern),
	     T(file_backed_writes_reach_the_file), T(malformed_request_needs_reset), T(unmapped_data_buffer_faults),
	     T(summary_counts_requests_and_dma_bytes))
