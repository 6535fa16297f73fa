/* SPDX-License-Identifier: MIT */
/* The DMA engine: translation, page and pin splits, permissions, faults and EEH, cache, stats, threads. */
#include <errno.h>
#include <linux/vfio.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <tcemu/devmodel.h>
#include <tcemu/dma.h>
#include <tcemu/memory.h>
#include <tcemu/platform.h>
#include <tcemu/table.h>

#include "fixture.h"
#include "harness.h"

#define K4 4096ull
#define K64 65536ull
#define RW (TCEMU_TCE_READ | TCEMU_TCE_WRITE)

/* Page-aligned anonymous memory (aligned to align, a power of two >= 4K). */
static unsigned char *alloc_mem(size_t size, size_t align)
{
	size_t total = size + align;
	unsigned char *m = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uintptr_t a;

	if (m == MAP_FAILED)
		return NULL;
	a = ((uintptr_t)m + align - 1) & ~(uintptr_t)(align - 1);
	return (unsigned char *)a; /* leaked on purpose: tests are short */
}

static uint64_t pin(struct fx_dma *f, void *p, size_t size, uint32_t align_shift)
{
	uint64_t hpa = 0;

	if (tcemu_memory_pin(f->mem, (uint64_t)(uintptr_t)p, size, align_shift, &hpa))
		return 0;
	return hpa;
}

static void fill(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(i * 131 + seed * 7 + 1);
}

static struct tcemu_dma_stats stats(struct fx_dma *f)
{
	struct tcemu_dma_stats st;

	memset(&st, 0xff, sizeof(st));
	tcemu_dma_stats(f->dma, f->pe, &st);
	return st;
}

static bool all_bytes(const unsigned char *p, size_t n, unsigned char v)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return false;
	return true;
}

TEST(round_trip_4k_pages)
{
	struct fx_dma f;
	unsigned char *m, in[20000], out[20000];
	uint64_t hpa;

	CHECK(fx_dma_open(&f) == 0);
	m = alloc_mem(16 * K4, K4);
	CHECK(m);
	memset(m, 0, 16 * K4);
	hpa = pin(&f, m, 16 * K4, 0);
	CHECK(hpa);
	CHECK_EQ(tcemu_table_set_linear(f.t0, 4, 16, hpa | RW, 0, NULL, NULL), 0);
	tcemu_pe_tce_kill(f.pe, 0, 4, 16);

	/* bus 4 pages + 100: crosses 5 IOMMU page boundaries */
	fill(in, sizeof(in), 1);
	CHECK_EQ(tcemu_dma_write(f.dma, f.pe, 4 * K4 + 100, in, sizeof(in)), 0);
	CHECK(memcmp(m + 100, in, sizeof(in)) == 0);
	CHECK(all_bytes(m, 100, 0));
	CHECK(all_bytes(m + 100 + sizeof(in), 16 * K4 - 100 - sizeof(in), 0));
	memset(out, 0, sizeof(out));
	CHECK_EQ(tcemu_dma_read(f.dma, f.pe, 4 * K4 + 100, out, sizeof(out)), 0);
	CHECK(memcmp(in, out, sizeof(in)) == 0);
	/* small access inside a page, and one byte at the very end of the mapping */
	CHECK_EQ(tcemu_dma_read(f.dma, f.pe, 4 * K4 + 200, out, 3), 0);
	CHECK(memcmp(out, m + 200, 3) == 0);
	CHECK_EQ(tcemu_dma_write(f.dma, f.pe, 20 * K4 - 1, "Z", 1), 0);
	CHECK_EQ(m[16 * K4 - 1], 'Z');
	/* zero length: nothing */
	CHECK_EQ(tcemu_dma_read(f.dma, f.pe, 0, out, 0), 0);

	struct tcemu_dma_stats st = stats(&f);
	CHECK_U64(st.reads, 2);
	CHECK_U64(st.writes, 2);
	CHECK_U64(st.bytes_written, sizeof(in) + 1);
	CHECK_U64(st.bytes_read, sizeof(in) + 3);
	CHECK_U64(st.faults, 0);
	CHECK_EQ(st.last_fault, TCEMU_DMA_FAULT_NONE);
	CHECK_EQ(tcemu_pe_eeh_state(f.pe), TCEMU_EEH_NORMAL);
	fx_dma_close(&f);
}

TEST(access_spans_two_pins)
{
	struct fx_dma f;
	unsigned char *a, *b, in[3000], out[3000];
	uint64_t ha, hb;

	CHECK(fx_dma_open(&f) == 0);
	a = alloc_mem(K4, K4);
	b = alloc_mem(2 * K4, K4);
	CHECK(a && b);
	memset(a, 0, K4);
	memset(b, 0, 2 * K4);
	ha = pin(&f, a, K4, 0);
	hb = pin(&f, b, 2 * K4, 0);
	CHECK(ha && hb);
	/* bus pages 10, 11: frames of two different pins, in reverse frame order */
	uint64_t e10 = (hb + K4) | RW, e11 = ha | RW;
	CHECK_EQ(tcemu_table_xchg(f.t0, 10, &e10, NULL), 0);
	CHECK_EQ(tcemu_table_xchg(f.t0, 11, &e11, NULL), 0);
	tcemu_pe_tce_kill(f.pe, 0, 10, 2);

	fill(in, sizeof(in), 2);
	CHECK_EQ(tcemu_dma_write(f.dma, f.pe, 11 * K4 - 1000, in, sizeof(in)), 0);
	CHECK(memcmp(b + 2 * K4 - 1000, in, 1000) == 0);
	CHECK(memcmp(a, in + 1000, 2000) == 0);
	CHECK(all_bytes(b, 2 * K4 - 1000, 0));
	CHECK(all_bytes(a + 2000, K4 - 2000, 0));
	CHECK_EQ(tcemu_dma_read(f.dma, f.pe, 11 * K4 - 1000, out, sizeof(out)), 0);
	CHECK(memcmp(in, out, sizeof(in)) == 0);
	fx_dma_close(&f);
}

TEST(slot1_64k_pages)
{
	struct fx_dma f;
	unsigned char *m, *in, *out;
	const size_t n = 100000;
	uint64_t hpa, bus = TCEMU_WINDOW1_START + 3 * K64;

	CHECK(fx_dma_open(&f) == 0);
	m = alloc_mem(4 * K64, K64);
	in = malloc(n);
	out = malloc(n);
	CHECK(m && in && out);
	memset(m, 0, 4 * K64);
	hpa = pin(&f, m, 4 * K64, 16);
	CHECK(hpa && (hpa & (K64 - 1)) == 0);
	CHECK_EQ(tcemu_table_set_linear(f.t1, 3, 4, hpa | RW, 0, NULL, NULL), 0);
	tcemu_pe_tce_kill(f.pe, 1, 3, 4);

	fill(in, n, 3);
	CHECK_EQ(tcemu_dma_write(f.dma, f.pe, bus + 5000, in, n), 0); /* crosses two 64K pages */
	CHECK(memcmp(m + 5000, in, n) == 0);
	CHECK(all_bytes(m, 5000, 0));
	CHECK_EQ(tcemu_dma_read(f.dma, f.pe, bus + 5000, out, n), 0);
	CHECK(memcmp(in, out, n) == 0);
	struct tcemu_dma_stats st = stats(&f);
	CHECK_U64(st.cache_misses, 2); /* pages 3 and 4, once each */
	CHECK_U64(st.cache_hits, 2);
	/* slot 0's window is distinct: the same offset there is not mapped */
	CHECK_EQ(tcemu_dma_read(f.dma, f.pe, 3 * K64 + 5000, out, 1), -EIO);
	CHECK_EQ(stats(&f).last_fault, TCEMU_DMA_FAULT_PERMISSION);
	free(in);
	free(out);
	fx_dma_close(&f);
}

/* A 64K IOMMU page whose frames belong to two pins (two halves of 32K in separate memory). */
TEST(iommu_page_spans_two_pins)
{
	struct fx_dma f;
	unsigned char *a, *b, in[40000], out[40000];
	struct tcemu_memory_stats ms;
	uint64_t ha, hb;

	CHECK(fx_dma_open(&f) == 0);
	a = alloc_mem(K64 / 2, K64);
	b = alloc_mem(K64 / 2, K64);
	CHECK(a && b);
	memset(a, 0, K64 / 2);
	memset(b, 0, K64 / 2);
	ha = pin(&f, a, K64 / 2, 16);
	tcemu_memory_stats(f.mem, &ms);
	hb = pin(&f, b, K64 / 2, 0);
	CHECK(ha && hb);
	if (hb != ha + K64 / 2) {
		fx_dma_close(&f);
		SKIP("frames not adjacent: 0x%llx 0x%llx", (unsigned long long)ha, (unsigned long long)hb);
	}
	CHECK_EQ(tcemu_table_set_linear(f.t1, 0, 1, ha | RW, 0, NULL, NULL), 0);
	tcemu_pe_tce_kill(f.pe, 1, 0, 1);
	fill(in, sizeof(in), 4);
	CHECK_EQ(tcemu_dma_write(f.dma, f.pe, TCEMU_WINDOW1_START + 10000, in, sizeof(in)), 0);
	CHECK(memcmp(a + 10000, in, K64 / 2 - 10000) == 0);
	CHECK(memcmp(b, in + (K64 / 2 - 10000), sizeof(in) - (K64 / 2 - 10000)) == 0);
	CHECK_EQ(tcemu_dma_read(f.dma, f.pe, TCEMU_WINDOW1_START + 10000, out, sizeof(out)), 0);
	CHECK(memcmp(in, out, sizeof(in)) == 0);
	/* twice, the second time from the cache (the second half is mapped on every access) */
	memset(out, 0, sizeof(out));
	CHECK_EQ(tcemu_dma_read(f.dma, f.pe, TCEMU_WINDOW1_START + 10000, out, sizeof(out)), 0);
	CHECK(memcmp(in, out, sizeof(in)) == 0);
	/* the second pin goes: the half behind it has no memory */
	CHECK_EQ(tcemu_memory_unpin(f.mem, hb), 0);
	memset(out, 0, sizeof(out));
	CHECK_EQ(tcemu_dma_read(f.dma, f.pe, TCEMU_WINDOW1_START + 10000, out, sizeof(out)), -EIO);
	CHECK(all_bytes(out, sizeof(out), 0));
	struct tcemu_dma_stats st = stats(&f);
	CHECK_EQ(st.last_fault, TCEMU_DMA_FAULT_NO_MEMORY);
	CHECK_U64(st.last_fault_bus, TCEMU_WINDOW1_START + K64 / 2);
	fx_dma_close(&f);
}

static void unfreeze(struct tcemu_pe *pe)
{
	tcemu_pe_eeh_op(pe, VFIO_EEH_PE_UNFREEZE_IO, 0, 0);
	tcemu_pe_eeh_op(pe, VFIO_EEH_PE_UNFREEZE_DMA, 0, 0);
}

TEST(permissions)
{
	struct fx_dma f;
	unsigned char *m, buf[64];
	uint64_t hpa, e;

	CHECK(fx_dma_open(&f) == 0);
	m = alloc_mem(4 * K4, K4);
	CHECK(m);
	memset(m, 0x11, 4 * K4);
	hpa = pin(&f, m, 4 * K4, 0);
	CHECK(hpa);
	e = hpa | TCEMU_TCE_READ; /* page 0: read only */
	CHECK_EQ(tcemu_table_xchg(f.t0, 0, &e, NULL), 0);
	e = (hpa + K4) | TCEMU_TCE_WRITE; /* page 1: write only */
	CHECK_EQ(tcemu_table_xchg(f.t0, 1, &e, NULL), 0);
	e = (hpa + 2 * K4) | RW; /* page 2: both; page 3: invalid */
	CHECK_EQ(tcemu_table_xchg(f.t0, 2, &e, NULL), 0);
	tcemu_pe_tce_kill(f.pe, 0, 0, 0);

	CHECK_EQ(tcemu_dma_read(f.dma, f.pe, 8, buf, 8), 0);
	CHECK(all_bytes(buf, 8, 0x11));
	memset(buf, 0x22, sizeof(buf));
	CHECK_EQ(tcemu_dma_write(f.dma, f.pe, 8, buf, 8), -EIO); /* cached READ entry, write */
	CHECK_EQ(stats(&f).last_fault, TCEMU_DMA_FAULT_PERMISSION);
	CHECK_U64(stats(&f).last_fault_bus, 8);
	CHECK(all_bytes(m, K4, 0x11));
	unfreeze(f.pe);

	CHECK_EQ(tcemu_dma_write(f.dma, f.pe, K4 + 8, buf, 8), 0);
	CHECK(all_bytes(m + K4 + 8, 8, 0x22));
	CHECK_EQ(tcemu_dma_read(f.dma, f.pe, K4 + 8, buf, 8), -EIO);
	CHECK_EQ(stats(&f).last_fault, TCEMU_DMA_FAULT_PERMISSION);
	unfreeze(f.pe);

	CHECK_EQ(tcemu_dma_write(f.dma, f.pe, 2 * K4, buf, 8), 0);
	CHECK_EQ(tcemu_dma_read(f.dma, f.pe, 2 * K4, buf, 8), 0);
	/* an invalid entry: neither direction */
	CHECK_EQ(tcemu_dma_read(f.dma, f.pe, 3 * K4, buf, 8), -EIO);
	CHECK_EQ(stats(&f).last_fault, TCEMU_DMA_FAULT_PERMISSION);
	unfreeze(f.pe);
	CHECK_EQ(tcemu_dma_write(f.dma, f.pe, 3 * K4, buf, 8), -EIO);
	unfreeze(f.pe);
	/* a write across an RW page into a read-only one is refused as a whole */
	memset(buf, 0x33, sizeof(buf));
	e = (hpa + 3 * K4) | TCEMU_TCE_READ;
	CHECK_EQ(tcemu_table_xchg(f.t0, 3, &e, NULL), 0);
	tcemu_pe_tce_kill(f.pe, 0, 3, 1);
	CHECK_EQ(tcemu_dma_write(f.dma, f.pe, 3 * K4 - 16, buf, 32), -EIO);
	CHECK_U64(stats(&f).last_fault_bus, 3 * K4);
	CHECK(all_bytes(m + 3 * K4 - 16, 32, 0x11));
	CHECK_U64(stats(&f).faults, 5);
	fx_dma_close(&f);
}

TEST(extent_faults)
{
	struct fx_dma f;
	unsigned char *m, buf[16];
	uint64_t hpa;

	CHECK(fx_dma_open(&f) == 0);
	m = alloc_mem(K4, K4);
	CHECK(m);
	hpa = pin(&f, m, K4, 0);
	CHECK(hpa);
	/* the last page of slot 0's 1 GiB window is mapped */
	CHECK_EQ(tcemu_table_set_linear(f.t0, (1ull << 18) - 1, 1, hpa | RW, 0, NULL, NULL), 0);
	tcemu_pe_tce_kill(f.pe, 0, 0, 0);
	CHECK_EQ(tcemu_dma_read(f.dma, f.pe, (1ull << 30) - 16, buf, 16), 0);

	/* past the window's end (and an access running over it) */
	CHECK_EQ(tcemu_dma_read(f.dma, f.pe, 1ull << 30, buf, 4), -EIO);
	CHECK_EQ(stats(&f).last_fault, TCEMU_DMA_FAULT_EXTENT);
	CHECK_U64(stats(&f).last_fault_bus, 1ull << 30);
	unfreeze(f.pe);
	memset(m, 0x5a, K4);
	memset(buf, 0xa5, sizeof(buf));
	CHECK_EQ(tcemu_dma_write(f.dma, f.pe, (1ull << 30) - 8, buf, 16), -EIO);
	CHECK(all_bytes(m, K4, 0x5a));
	CHECK_EQ(stats(&f).last_fault, TCEMU_DMA_FAULT_EXTENT);
	unfreeze(f.pe);
	/* slot 1 past its 4 GiB, and above both slots */
	CHECK_EQ(tcemu_dma_read(f.dma, f.pe, TCEMU_WINDOW1_START + (1ull << 32), buf, 1), -EIO);
	CHECK_EQ(stats(&f).last_fault, TCEMU_DMA_FAULT_EXTENT);
	unfreeze(f.pe);
	CHECK_EQ(tcemu_dma_read(f.dma, f.pe, 1ull << 60, buf, 1), -EIO);
	CHECK_EQ(stats(&f).last_fault, TCEMU_DMA_FAULT_EXTENT);
	unfreeze(f.pe);
	/* an empty slot */
	CHECK_EQ(tcemu_pe_unset_window(f.pe, 1), 0);
	CHECK_EQ(tcemu_dma_read(f.dma, f.pe, TCEMU_WINDOW1_START, buf, 1), -EIO);
	CHECK_EQ(stats(&f).last_fault, TCEMU_DMA_FAULT_EXTENT);
	unfreeze(f.pe);
	/* unsetting a window drops its cached translations */
	CHECK_EQ(tcemu_dma_read(f.dma, f.pe, (1ull << 30) - 16, buf, 16), 0);
	CHECK_EQ(tcemu_pe_unset_window(f.pe, 0), 0);
	CHECK_EQ(tcemu_dma_read(f.dma, f.pe, (1ull << 30) - 16, buf, 16), -EIO);
	CHECK_EQ(stats(&f).last_fault, TCEMU_DMA_FAULT_EXTENT);
	CHECK_U64(stats(&f).faults, 6);
	fx_dma_close(&f);
}

TEST(fault_freezes_and_recovery)
{
	struct fx_dma f;
	unsigned char *m, buf[2 * 4096];
	uint64_t hpa, freezes;

	CHECK(fx_dma_open(&f) == 0);
	m = alloc_mem(2 * K4, K4);
	CHECK(m);
	memset(m, 0x44, 2 * K4);
	hpa = pin(&f, m, 2 * K4, 0);
	CHECK(hpa);
	CHECK_EQ(tcemu_table_set_linear(f.t0, 0, 1, hpa | RW, 0, NULL, NULL), 0); /* page 1 not mapped */
	tcemu_pe_tce_kill(f.pe, 0, 0, 1);

	/* a read over pages 0 and 1: page 1 faults; nothing reaches the buffer */
	memset(buf, 0x99, sizeof(buf));
	CHECK_EQ(tcemu_dma_read(f.dma, f.pe, 0, buf, sizeof(buf)), -EIO);
	CHECK(all_bytes(buf, sizeof(buf), 0x99));
	CHECK_EQ(tcemu_pe_eeh_state(f.pe), TCEMU_EEH_STOPPED);
	CHECK(tcemu_pe_dma_stopped(f.pe));
	freezes = tcemu_pe_eeh_freezes(f.pe);
	CHECK_U64(freezes, 1);
	struct tcemu_dma_stats st = stats(&f);
	CHECK_EQ(st.last_fault, TCEMU_DMA_FAULT_PERMISSION);
	CHECK_U64(st.last_fault_bus, K4);
	CHECK_U64(st.bytes_read, 0);

	/* stopped: even a good access fails, with STOPPED, and does not freeze again */
	CHECK_EQ(tcemu_dma_write(f.dma, f.pe, 0, buf, 16), -EIO);
	CHECK(all_bytes(m, 2 * K4, 0x44));
	CHECK_EQ(stats(&f).last_fault, TCEMU_DMA_FAULT_STOPPED);
	CHECK_U64(stats(&f).last_fault_bus, 0);
	CHECK_U64(tcemu_pe_eeh_freezes(f.pe), freezes);

	/* UNFREEZE_IO alone leaves DMA stopped */
	tcemu_pe_eeh_op(f.pe, VFIO_EEH_PE_UNFREEZE_IO, 0, 0);
	CHECK_EQ(tcemu_pe_eeh_state(f.pe), TCEMU_EEH_STOPPED_DMA);
	CHECK_EQ(tcemu_dma_read(f.dma, f.pe, 0, buf, 16), -EIO);
	CHECK_EQ(stats(&f).last_fault, TCEMU_DMA_FAULT_STOPPED);
	tcemu_pe_eeh_op(f.pe, VFIO_EEH_PE_UNFREEZE_DMA, 0, 0);
	CHECK_EQ(tcemu_pe_eeh_state(f.pe), TCEMU_EEH_NORMAL);
	CHECK_EQ(tcemu_dma_read(f.dma, f.pe, 0, buf, 16), 0);
	CHECK(all_bytes(buf, 16, 0x44));

	/* a write fault, then recovery by reset */
	memset(buf, 0x77, sizeof(buf));
	CHECK_EQ(tcemu_dma_write(f.dma, f.pe, 100, buf, K4), -EIO);
	CHECK(all_bytes(m, 2 * K4, 0x44));
	CHECK_EQ(tcemu_pe_eeh_state(f.pe), TCEMU_EEH_STOPPED);
	CHECK_U64(tcemu_pe_eeh_freezes(f.pe), freezes + 1);
	CHECK_EQ(tcemu_pe_eeh_op(f.pe, VFIO_EEH_PE_RESET_HOT, 0, 0), 0);
	CHECK_EQ(tcemu_dma_write(f.dma, f.pe, 0, buf, 16), -EIO); /* in reset */
	CHECK_EQ(stats(&f).last_fault, TCEMU_DMA_FAULT_STOPPED);
	CHECK_EQ(tcemu_pe_eeh_op(f.pe, VFIO_EEH_PE_RESET_DEACTIVATE, 0, 0), 0);
	CHECK_EQ(tcemu_pe_eeh_state(f.pe), TCEMU_EEH_NORMAL);
	CHECK_EQ(tcemu_dma_write(f.dma, f.pe, 0, buf, 16), 0);
	CHECK(all_bytes(m, 16, 0x77));

	/* an injected error stops DMA too (the engine asks the PE on every access) */
	CHECK_EQ(tcemu_pe_eeh_op(f.pe, VFIO_EEH_PE_INJECT_ERR, 0, 0), 0);
	CHECK_EQ(tcemu_dma_read(f.dma, f.pe, 0, buf, 16), -EIO);
	CHECK_EQ(stats(&f).last_fault, TCEMU_DMA_FAULT_STOPPED);
	unfreeze(f.pe);
	CHECK_EQ(tcemu_dma_read(f.dma, f.pe, 0, buf, 16), 0);
	CHECK_U64(stats(&f).faults, 6);
	fx_dma_close(&f);
}

TEST(no_memory_fault)
{
	struct fx_dma f;
	unsigned char *m, buf[16];
	uint64_t hpa, e;

	CHECK(fx_dma_open(&f) == 0);
	m = alloc_mem(K4, K4);
	CHECK(m);
	hpa = pin(&f, m, K4, 0);
	CHECK(hpa);
	e = (hpa + (1ull << 40)) | RW; /* a frame nobody pinned */
	CHECK_EQ(tcemu_table_xchg(f.t0, 7, &e, NULL), 0);
	tcemu_pe_tce_kill(f.pe, 0, 7, 1);
	CHECK_EQ(tcemu_dma_read(f.dma, f.pe, 7 * K4 + 5, buf, 4), -EIO);
	CHECK_EQ(stats(&f).last_fault, TCEMU_DMA_FAULT_NO_MEMORY);
	CHECK_U64(stats(&f).last_fault_bus, 7 * K4 + 5);
	CHECK_EQ(tcemu_pe_eeh_state(f.pe), TCEMU_EEH_STOPPED);
	fx_dma_close(&f);
}

/*
 * A client that pinned memory and then unmapped it (legal: the pin keeps the frames, not the
 * mapping): every way of copying (the cached fast path in both directions, the slow path of a
 * long access, a fresh miss) ends in a DMA fault named "memory gone", at the right bus address,
 * with the PE frozen, and the process goes on.
 */
TEST(memory_gone_after_munmap_faults_never_crashes)
{
	struct fx_dma f;
	unsigned char *m, *big = malloc(5 * K4), buf[64];
	uint64_t hpa;

	CHECK(big);
	CHECK(fx_dma_open(&f) == 0);
	m = alloc_mem(8 * K4, K4);
	CHECK(m);
	fill(m, 8 * K4, 3);
	hpa = pin(&f, m, 8 * K4, 0);
	CHECK(hpa);
	CHECK_EQ(tcemu_table_set_linear(f.t0, 0, 8, hpa | RW, 0, NULL, NULL), 0);
	for (int i = 0; i < 2; i++) /* a miss, then the cached fast path */
		CHECK_EQ(tcemu_dma_read(f.dma, f.pe, 100, buf, 16), 0);
	CHECK_EQ(memcmp(buf, m + 100, 16), 0);
	CHECK_EQ(tcemu_dma_write(f.dma, f.pe, K4 + 8, buf, 16), 0);
	CHECK_EQ(munmap(m, 8 * K4), 0);

	CHECK_EQ(tcemu_dma_read(f.dma, f.pe, 100, buf, 16), -EIO); /* fast path, device read */
	CHECK_EQ(stats(&f).last_fault, TCEMU_DMA_FAULT_GONE);
	CHECK_U64(stats(&f).last_fault_bus, 100);
	CHECK_EQ(tcemu_pe_eeh_state(f.pe), TCEMU_EEH_STOPPED);
	unfreeze(f.pe);
	CHECK_EQ(tcemu_dma_write(f.dma, f.pe, K4 + 8, buf, 16), -EIO); /* fast path, device write */
	CHECK_EQ(stats(&f).last_fault, TCEMU_DMA_FAULT_GONE);
	CHECK_U64(stats(&f).last_fault_bus, K4 + 8);
	CHECK_EQ(tcemu_pe_eeh_state(f.pe), TCEMU_EEH_STOPPED);
	unfreeze(f.pe);
	CHECK_EQ(tcemu_dma_read(f.dma, f.pe, 2 * K4, big, 5 * K4), -EIO); /* slow path (> the locked copy) */
	CHECK_EQ(stats(&f).last_fault, TCEMU_DMA_FAULT_GONE);
	CHECK_U64(stats(&f).last_fault_bus, 2 * K4);
	CHECK_EQ(tcemu_pe_eeh_state(f.pe), TCEMU_EEH_STOPPED);
	unfreeze(f.pe);
	tcemu_pe_tce_kill(f.pe, 0, 0, 0);
	CHECK_EQ(tcemu_dma_write(f.dma, f.pe, 7 * K4 + 1, buf, 8), -EIO); /* a miss: translated, then gone */
	CHECK_EQ(stats(&f).last_fault, TCEMU_DMA_FAULT_GONE);
	CHECK_U64(stats(&f).last_fault_bus, 7 * K4 + 1);
	CHECK_EQ(tcemu_pe_eeh_state(f.pe), TCEMU_EEH_STOPPED);
	CHECK_U64(stats(&f).faults, 4);
	CHECK(strcmp(tcemu_model_fault_held_name(TCEMU_FAULT_MEMORY_GONE), "memory gone: the client unmapped it") == 0);
	fx_dma_close(&f);
	free(big);
}

/* Two pinned pages, one of 'A' bytes at *a (frame *ha), one of 'B' bytes at *b (frame *hb). */
static bool pages_ab(struct fx_dma *f, unsigned char **a, unsigned char **b, uint64_t *ha, uint64_t *hb)
{
	*a = alloc_mem(K4, K4);
	*b = alloc_mem(K4, K4);
	if (!*a || !*b)
		return false;
	memset(*a, 'A', K4);
	memset(*b, 'B', K4);
	*ha = pin(f, *a, K4, 0);
	*hb = pin(f, *b, K4, 0);
	return *ha && *hb;
}

/*
 * The cache's keys carry the generation modulo 2^16: across 2^16 full kills (the wrap) an entry
 * cached before them and never touched since must still be gone, and entries cached just before
 * the wrap too. Every full kill of a PE with a cached entry stays a barrier.
 */
TEST(no_stale_entry_across_generation_wrap)
{
	struct fx_dma f;
	unsigned char *a, *b, buf[8];
	uint64_t ha, hb, e;

	CHECK(fx_dma_open(&f) == 0);
	CHECK(pages_ab(&f, &a, &b, &ha, &hb));
	e = ha | RW;
	CHECK_EQ(tcemu_table_xchg(f.t0, 4, &e, NULL), 0);
	for (unsigned round = 0; round < 2; round++) {
		uint64_t n = round ? 65536 : 65535; /* round 0: the keys' generation (65535 values) back where it was */

		e = ha | RW;
		CHECK_EQ(tcemu_table_xchg(f.t0, 3, &e, NULL), 0);
		tcemu_pe_tce_kill(f.pe, 0, 0, 0);
		CHECK_EQ(tcemu_dma_read(f.dma, f.pe, 3 * K4, buf, 8), 0); /* cached: A */
		CHECK(all_bytes(buf, 8, 'A'));
		e = hb | RW; /* no kill yet: A is still served */
		CHECK_EQ(tcemu_table_xchg(f.t0, 3, &e, NULL), 0);
		for (uint64_t i = 0; i < n; i++)
			tcemu_pe_tce_kill(f.pe, 0, 0, 0);
		/* another page first: its miss makes the slot's geometry current again */
		CHECK_EQ(tcemu_dma_read(f.dma, f.pe, 4 * K4, buf, 8), 0);
		CHECK(all_bytes(buf, 8, 'A'));
		CHECK_EQ(tcemu_dma_read(f.dma, f.pe, 3 * K4, buf, 8), 0);
		CHECK(all_bytes(buf, 8, 'B'));
		for (uint64_t i = 0; i < 65536 * 2; i++) { /* cached, then one kill, every generation twice over */
			if ((i & 1023) == 0)
				CHECK_EQ(tcemu_dma_read(f.dma, f.pe, 3 * K4, buf, 8), 0);
			tcemu_pe_tce_kill(f.pe, 0, 0, 0);
		}
		e = ha | RW;
		CHECK_EQ(tcemu_table_xchg(f.t0, 3, &e, NULL), 0);
		tcemu_pe_tce_kill(f.pe, 0, 0, 0);
		CHECK_EQ(tcemu_dma_read(f.dma, f.pe, 3 * K4, buf, 8), 0);
		CHECK(all_bytes(buf, 8, 'A'));
	}
	fx_dma_close(&f);
}

TEST(stale_cache_until_kill)
{
	struct fx_dma f;
	unsigned char *a, *b, buf[K4];
	uint64_t ha, hb, e;

	CHECK(fx_dma_open(&f) == 0);
	CHECK(pages_ab(&f, &a, &b, &ha, &hb));
	e = ha | RW;
	CHECK_EQ(tcemu_table_xchg(f.t0, 5, &e, NULL), 0);
	tcemu_pe_tce_kill(f.pe, 0, 5, 1);
	struct tcemu_dma_stats st0 = stats(&f);
	CHECK_U64(st0.invalidations, 4); /* take ownership, two windows set, this kill */

	CHECK_EQ(tcemu_dma_read(f.dma, f.pe, 5 * K4, buf, K4), 0);
	CHECK(all_bytes(buf, K4, 'A'));
	/* change the TCE without a kill: the device still uses the cached page A */
	e = hb | RW;
	CHECK_EQ(tcemu_table_xchg(f.t0, 5, &e, NULL), 0);
	CHECK_EQ(tcemu_dma_read(f.dma, f.pe, 5 * K4, buf, K4), 0);
	CHECK(all_bytes(buf, K4, 'A'));
	/* a kill of another index or of the other slot changes nothing */
	tcemu_pe_tce_kill(f.pe, 0, 6, 10);
	tcemu_pe_tce_kill(f.pe, 1, 5, 1);
	CHECK_EQ(tcemu_dma_read(f.dma, f.pe, 5 * K4, buf, K4), 0);
	CHECK(all_bytes(buf, K4, 'A'));
	/* a ranged kill covering it */
	tcemu_pe_tce_kill(f.pe, 0, 4, 2);
	CHECK_EQ(tcemu_dma_read(f.dma, f.pe, 5 * K4, buf, K4), 0);
	CHECK(all_bytes(buf, K4, 'B'));
	/* back to A, full kill */
	e = ha | RW;
	CHECK_EQ(tcemu_table_xchg(f.t0, 5, &e, NULL), 0);
	CHECK_EQ(tcemu_dma_write(f.dma, f.pe, 5 * K4, "bb", 2), 0); /* still B, cached */
	CHECK_EQ(b[0], 'b');
	tcemu_pe_tce_kill(f.pe, 0, 0, 0);
	CHECK_EQ(tcemu_dma_write(f.dma, f.pe, 5 * K4, "aa", 2), 0);
	CHECK_EQ(a[0], 'a');
	CHECK_EQ(b[1], 'b');
	/* a cleared entry stays usable from the cache until the kill, then faults */
	CHECK_EQ(tcemu_table_clear(f.t0, 5, 1, NULL, NULL), 1);
	CHECK_EQ(tcemu_dma_read(f.dma, f.pe, 5 * K4, buf, 2), 0);
	tcemu_pe_tce_kill(f.pe, 0, 5, 1);
	CHECK_EQ(tcemu_dma_read(f.dma, f.pe, 5 * K4, buf, 2), -EIO);

	struct tcemu_dma_stats st = stats(&f);
	CHECK_U64(st.invalidations, 9);
	CHECK_U64(st.reads, 6);
	CHECK_U64(st.writes, 2);
	/* misses: first read, after kill(4,2), the write after the full kill, the read after the last kill */
	CHECK_U64(st.cache_misses, 4);
	CHECK_U64(st.cache_hits, 4);
	CHECK_U64(st.bytes_read, 4 * K4 + 2);
	CHECK_U64(st.bytes_written, 4);
	CHECK_U64(st.faults, 1);
	CHECK_U64(tcemu_pe_invalidations(f.pe), st.invalidations); /* the engine saw every kill */
	fx_dma_close(&f);
}

TEST(stats_counts)
{
	struct fx_dma f;
	unsigned char *m, buf[3 * 4096];
	uint64_t hpa;

	CHECK(fx_dma_open(&f) == 0);
	m = alloc_mem(8 * K4, K4);
	CHECK(m);
	hpa = pin(&f, m, 8 * K4, 0);
	CHECK(hpa);
	CHECK_EQ(tcemu_table_set_linear(f.t0, 0, 8, hpa | RW, 0, NULL, NULL), 0);
	tcemu_pe_tce_kill(f.pe, 0, 0, 8);
	struct tcemu_dma_stats st = stats(&f);
	CHECK_U64(st.cache_hits, 0);
	CHECK_U64(st.cache_misses, 0);

	CHECK_EQ(tcemu_dma_read(f.dma, f.pe, 100, buf, 3 * K4), 0); /* pages 0..3: 4 misses */
	CHECK_EQ(tcemu_dma_write(f.dma, f.pe, 0, buf, sizeof(buf)), 0); /* 3 hits */
	for (int i = 0; i < 10; i++)
		CHECK_EQ(tcemu_dma_read(f.dma, f.pe, 2 * K4 + 8, buf, 64), 0); /* 10 hits */
	st = stats(&f);
	CHECK_U64(st.cache_misses, 4);
	CHECK_U64(st.cache_hits, 13);
	CHECK_U64(st.reads, 11);
	CHECK_U64(st.writes, 1);
	CHECK_U64(st.bytes_read, 3 * K4 + 640);
	CHECK_U64(st.bytes_written, 3 * K4);
	CHECK_U64(st.invalidations, 4);
	CHECK_U64(st.faults, 0);

	/* other PEs have their own counters; a PE of another platform is refused */
	struct tcemu_dma_stats o;
	CHECK_EQ(tcemu_dma_stats(f.dma, tcemu_platform_pe(f.p, 1), &o), 0);
	CHECK_U64(o.reads, 0);
	CHECK_U64(o.cache_misses, 0);
	struct fx_dma g;
	CHECK(fx_dma_open(&g) == 0);
	CHECK_EQ(tcemu_dma_stats(f.dma, g.pe, &o), -EINVAL);
	CHECK_EQ(tcemu_dma_read(f.dma, g.pe, 0, buf, 1), -EINVAL);
	fx_dma_close(&g);
	fx_dma_close(&f);
}

TEST(invalid_arguments)
{
	struct fx_dma f;
	unsigned char buf[16];

	CHECK(fx_dma_open(&f) == 0);
	CHECK_EQ(tcemu_dma_read(NULL, f.pe, 0, buf, 1), -EINVAL);
	CHECK_EQ(tcemu_dma_read(f.dma, NULL, 0, buf, 1), -EINVAL);
	CHECK_EQ(tcemu_dma_read(f.dma, f.pe, 0, NULL, 1), -EINVAL);
	CHECK_EQ(tcemu_dma_write(f.dma, f.pe, 0, NULL, 1), -EINVAL);
	CHECK_EQ(tcemu_dma_write(f.dma, f.pe, UINT64_MAX - 3, buf, 8), -EINVAL); /* wraps */
	CHECK_EQ(tcemu_dma_stats(f.dma, f.pe, NULL), -EINVAL);
	CHECK_EQ(tcemu_dma_create(NULL, f.mem, &(struct tcemu_dma *){ NULL }), -EINVAL);
	CHECK_EQ(tcemu_pe_eeh_state(f.pe), TCEMU_EEH_NORMAL);
	CHECK_U64(stats(&f).faults, 0);
	tcemu_dma_destroy(NULL);
	fx_dma_close(&f);
}

TEST(other_pe_and_destroy)
{
	struct fx_dma f;
	unsigned char *m, buf[16];
	uint64_t hpa;
	struct tcemu_pe *pe4;
	struct tcemu_table *t;
	struct tcemu_table_params tp = { .bus_offset = 0, .window_size = 1ull << 24, .page_shift = 12, .levels = 1 };

	CHECK(fx_dma_open(&f) == 0);
	/* PE 4 sits on the IODA2 PHB */
	pe4 = tcemu_platform_pe(f.p, 4);
	CHECK_EQ(tcemu_pe_take_ownership(pe4), 0);
	CHECK_EQ(tcemu_table_create(&tp, &t), 0);
	CHECK_EQ(tcemu_pe_set_window(pe4, 0, t), 0);
	m = alloc_mem(K4, K4);
	CHECK(m);
	memset(m, 'q', K4);
	hpa = pin(&f, m, K4, 0);
	CHECK_EQ(tcemu_table_set_linear(t, 1, 1, hpa | TCEMU_TCE_READ, 0, NULL, NULL), 0);
	tcemu_pe_tce_kill(pe4, 0, 1, 1);
	CHECK_EQ(tcemu_dma_read(f.dma, pe4, K4 + 1, buf, 8), 0);
	CHECK(all_bytes(buf, 8, 'q'));
	/* a fault on PE 4 freezes PE 4 only */
	CHECK_EQ(tcemu_dma_write(f.dma, pe4, K4, buf, 8), -EIO);
	CHECK_EQ(tcemu_pe_eeh_state(pe4), TCEMU_EEH_STOPPED);
	CHECK_EQ(tcemu_pe_eeh_state(f.pe), TCEMU_EEH_NORMAL);
	/* after destroy the hooks are gone: kills still work */
	tcemu_dma_destroy(f.dma);
	f.dma = NULL;
	tcemu_pe_tce_kill(pe4, 0, 0, 0);
	tcemu_pe_tce_kill(f.pe, 0, 0, 0);
	CHECK_EQ(tcemu_pe_release_ownership(pe4), 0);
	tcemu_table_unref(t);
	fx_dma_close(&f);
}

/*
 * Concurrency: readers DMA 1-page and 4-page accesses over NPAGES pages of slot 0 while a mutator flips
 * each page's TCE between two backing pages (every byte of page i of set A is 'a' + i % 16, of set
 * B 'A' + i % 16) and kills. Each page of every read must be entirely one of the two. Once a
 * kill returns the page mapped before is overwritten with '#' (restored before it is mapped
 * again): a reader that saw it would mean the kill did not wait for the accesses using it.
 * A writer thread meanwhile does DMA writes to a page of its own and reads them back.
 */
#define NPAGES 32
#define NREADERS 3

struct conc {
	struct fx_dma *f;
	unsigned char *wmem;
	int stop;          /* accessed atomically */
	int bad;           /* accessed atomically */
	uint64_t reads;
	unsigned seed;
};

static void *conc_reader(void *arg)
{
	struct conc *c = arg;
	unsigned char *buf = malloc(4 * K4);
	unsigned seed = __atomic_fetch_add(&c->seed, 1, __ATOMIC_RELAXED) * 7919 + 1;

	if (!buf)
		return NULL;

	while (!__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE)) {
		seed = seed * 1103515245 + 12345;
		unsigned first = (seed >> 8) % (NPAGES - 3), np = (seed >> 20) & 1 ? 4 : 1; /* slow, fast path */
		if (tcemu_dma_read(c->f->dma, c->f->pe, first * K4, buf, np * K4)) {
			__atomic_store_n(&c->bad, 1, __ATOMIC_RELAXED);
			break;
		}
		for (unsigned p = 0; p < np; p++) {
			unsigned char v = buf[p * K4], lo = (unsigned char)('a' + (first + p) % 16);
			if ((v != lo && v != lo - 32) || !all_bytes(buf + p * K4, K4, v))
				__atomic_store_n(&c->bad, 2, __ATOMIC_RELAXED);
		}
		__atomic_add_fetch(&c->reads, 1, __ATOMIC_RELAXED);
	}
	free(buf);
	return NULL;
}

static void *conc_writer(void *arg)
{
	struct conc *c = arg;
	unsigned char in[256], out[256];
	unsigned k = 0;

	while (!__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE)) {
		memset(in, (int)(k++ & 0xff), sizeof(in));
		if (tcemu_dma_write(c->f->dma, c->f->pe, (NPAGES + 1) * K4 + 64, in, sizeof(in)) ||
		    tcemu_dma_read(c->f->dma, c->f->pe, (NPAGES + 1) * K4 + 64, out, sizeof(out)) ||
		    memcmp(in, out, sizeof(in)) != 0) {
			__atomic_store_n(&c->bad, 3, __ATOMIC_RELAXED);
			break;
		}
	}
	return NULL;
}

TEST(concurrent_dma_and_kills)
{
	struct fx_dma f;
	struct conc c = { 0 };
	unsigned char *pa, *pb;
	uint64_t ha, hb, hw;
	struct harness_threads th = { .stop = &c.stop };

	CHECK(fx_dma_open(&f) == 0);
	c.f = &f;
	pa = alloc_mem(NPAGES * K4, K4);
	pb = alloc_mem(NPAGES * K4, K4);
	c.wmem = alloc_mem(K4, K4);
	CHECK(pa && pb && c.wmem);
	for (unsigned i = 0; i < NPAGES; i++) {
		memset(pa + i * K4, 'a' + i % 16, K4);
		memset(pb + i * K4, 'A' + i % 16, K4);
	}
	ha = pin(&f, pa, NPAGES * K4, 0);
	hb = pin(&f, pb, NPAGES * K4, 0);
	hw = pin(&f, c.wmem, K4, 0);
	CHECK(ha && hb && hw);
	CHECK_EQ(tcemu_table_set_linear(f.t0, 0, NPAGES, ha | TCEMU_TCE_READ, 0, NULL, NULL), 0);
	CHECK_EQ(tcemu_table_set_linear(f.t0, NPAGES + 1, 1, hw | RW, 0, NULL, NULL), 0);
	tcemu_pe_tce_kill(f.pe, 0, 0, 0);

	for (unsigned i = 0; i < NREADERS; i++)
		harness_thread_start(&th, conc_reader, &c);
	harness_thread_start(&th, conc_writer, &c);

	/* at least 4000 flips and 3000 reads (ASan or TSan slow the threads down differently) */
	unsigned rnd = 12345, it;
	unsigned char cur[NPAGES] = { 0 }; /* 0: page i maps set A, 1: set B */
	for (it = 0; it < 4000 || (__atomic_load_n(&c.reads, __ATOMIC_RELAXED) < 3000 && it < 2000000); it++) {
		rnd = rnd * 1103515245 + 12345;
		unsigned i = (rnd >> 8) % NPAGES, kind = (rnd >> 20) % 4, to = (rnd >> 4) & 1;
		unsigned char *page_to = (to ? pb : pa) + i * K4, *page_from = (cur[i] ? pb : pa) + i * K4;
		uint64_t e = ((to ? hb : ha) + i * K4) | TCEMU_TCE_READ;

		/* the target page has not been mapped since a kill: nobody reads it, restore it */
		if (to != cur[i])
			memset(page_to, (to ? 'A' : 'a') + i % 16, K4);
		if (tcemu_table_xchg(f.t0, i, &e, NULL))
			break;
		if (kind == 0)
			tcemu_pe_tce_kill(f.pe, 0, 0, 0);
		else if (kind == 1)
			tcemu_pe_tce_kill(f.pe, 0, i, 1);
		else if (kind == 2)
			tcemu_pe_tce_kill(f.pe, 0, i > 2 ? i - 2 : 0, 5);
		else
			tcemu_pe_tce_kill(f.pe, 0, 0, NPAGES); /* large range: whole flush */
		/* the kill returned: no access uses the old page any more (a reader would see '#') */
		if (to != cur[i])
			memset(page_from, '#', K4);
		cur[i] = (unsigned char)to;
		if (it % 64 == 0)
			sched_yield();
	}
	harness_threads_join(&th); /* sets c.stop */
	CHECK_EQ(__atomic_load_n(&c.bad, __ATOMIC_RELAXED), 0);
	CHECK(c.reads >= 3000);
	struct tcemu_dma_stats st = stats(&f);
	CHECK_U64(st.faults, 0);
	CHECK_U64(st.invalidations, 4 + it);
	CHECK_EQ(tcemu_pe_eeh_state(f.pe), TCEMU_EEH_NORMAL);

	/* after the last kill every page reads as its current TCE says */
	for (unsigned i = 0; i < NPAGES; i++) {
		uint64_t e, hpa;
		unsigned char v;
		CHECK_EQ(tcemu_table_get(f.t0, i, &e, NULL), 0);
		hpa = e & ~(K4 - 1);
		CHECK_EQ(tcemu_dma_read(f.dma, f.pe, i * K4 + 17, &v, 1), 0);
		CHECK_EQ(v, (hpa >= hb && hpa < hb + NPAGES * K4 ? 'A' : 'a') + i % 16);
	}
	printf("# %llu reads checked\n", (unsigned long long)c.reads); /* a TAP comment */
	fx_dma_close(&f);
}

HARNESS_MAIN(T(round_trip_4k_pages), T(access_spans_two_pins), T(slot1_64k_pages), T(iommu_page_spans_two_pins),
	     T(permissions), T(extent_faults), T(fault_freezes_and_recovery), T(no_memory_fault),
	     T(memory_gone_after_munmap_faults_never_crashes), T(no_stale_entry_across_generation_wrap),
	     T(stale_cache_until_kill), T(stats_counts), T(invalid_arguments), T(other_pe_and_destroy),
	     T(concurrent_dma_and_kills))
