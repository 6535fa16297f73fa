/* SPDX-License-Identifier: MIT */
/*
 * Client defects kept by kind and the summary (src/vfio/report.c): aggregated lines with counts
 * and examples, rate-limited warnings, DMA faults named with device, address, direction, what the
 * IOMMU held and the model's context, the async-signal-safe summary. The exec side (wrappers,
 * signals) is tests/test_report.sh.
 */
#include <pthread.h>

#include "harness.h"
#include "fixture.h"
#include "vfio.h"
#include "dma_toy.h"

#include <tcemu/devmodel.h>

#define BDF "0000:01:00.0"

/* The WARN lines the host logged. */
static struct {
	pthread_mutex_t lock;
	unsigned n, unmap, totals; /* WARN lines and above, lines about UNMAP_DMA, final counts */
	unsigned notes;            /* INFO lines that are notes */
	char last[512];
	char first[512];
	char total[512];
	char note_first[512], note_last[512];
} logged = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void capture(void *opaque, enum tcemu_log_level level, const char *msg)
{
	bool note = level == TCEMU_LOG_INFO && (strncmp(msg, "note", 4) == 0 || strncmp(msg, "notes:", 6) == 0);

	(void)opaque;
	pthread_mutex_lock(&logged.lock);
	if (note) {
		if (!logged.notes++)
			snprintf(logged.note_first, sizeof(logged.note_first), "%s", msg);
		snprintf(logged.note_last, sizeof(logged.note_last), "%s", msg);
	} else if (level <= TCEMU_LOG_WARN) {
		if (!logged.n++)
			snprintf(logged.first, sizeof(logged.first), "%s", msg);
		snprintf(logged.last, sizeof(logged.last), "%s", msg);
	}
	logged.unmap += strstr(msg, "UNMAP_DMA") != NULL;
	if (strstr(msg, " in all ")) {
		logged.totals++;
		snprintf(logged.total, sizeof(logged.total), "%s", msg);
	}
	pthread_mutex_unlock(&logged.lock);
}

static struct tcemu_host *host_logged(void)
{
	struct tcemu_host_opts o = fx_host_opts();

	o.platform.logger = (struct tcemu_logger){ .fn = capture, .level = TCEMU_LOG_INFO };
	logged.n = logged.unmap = logged.totals = logged.notes = 0;
	return fx_host_new(&o);
}

static bool starts(const char *s, const char *prefix)
{
	if (strncmp(s, prefix, strlen(prefix)) == 0)
		return true;
	fprintf(stderr, "  \"%s\" does not start with \"%s\"\n", s, prefix);
	return false;
}

/* The host (made by host_logged) and the window's memory go. */
static void done(struct fx_vfio *f)
{
	fx_host_done(f->h);
	munmap(f->mem, f->mem_size);
}

static size_t summary(struct tcemu_host *h, char *buf, size_t len)
{
	return tcemu_host_summary(h, buf, len);
}

TEST(unmaps_of_nothing_are_one_aggregated_kind)
{
	struct fx_vfio f;
	struct tcemu_host_stats st;
	char line[1024], text[8192];

	CHECK_EQ(fx_vfio_v2(&f, host_logged(), 0, 4), 0);
	for (unsigned i = 0; i < 100000; i++)
		CHECK_EQ(unmap_dma(f.h, f.c, (uint64_t)(i % 1000) * FX_PAGE, FX_PAGE), 0);
	CHECK_EQ(tcemu_host_defect_count(f.h), 1);
	tcemu_host_stats(f.h, &st);
	CHECK_U64(st.defects, 0); /* legitimate (QEMU clears windows so): a note, not a defect */
	CHECK_EQ(tcemu_host_defect(f.h, 0, line, sizeof(line)), 0);
	CHECK(starts(line, "100000 UNMAP_DMA calls cleared nothing (first at iova 0x0 size 0x1000 on container "));
	CHECK_CONTAINS(line, ", iova 0x1000 size 0x1000 on container ");
	CHECK_CONTAINS(line, ", iova 0x2000 size 0x1000 on container ");
	CHECK_CONTAINS(line, ", ...): those ranges were never mapped");
	CHECK_EQ(tcemu_host_defect(f.h, 1, line, sizeof(line)), -ENOENT);
	/* no warning; at INFO the first three in full (the old wording), then one line for the rest */
	CHECK_EQ(logged.n, 0);
	CHECK_EQ(logged.notes, 4);
	CHECK_CONTAINS(logged.note_first, "note: UNMAP_DMA(iova=0x0, size=0x1000) on container ");
	CHECK_CONTAINS(logged.note_first, " cleared nothing: that range was never mapped");
	CHECK_CONTAINS(logged.note_last, "more of these are counted, not logged: UNMAP_DMA calls cleared nothing");
	summary(f.h, text, sizeof(text));
	CHECK_CONTAINS(text, "client defects: 0\n");
	CHECK_CONTAINS(text, "notes: 100000 in 1 kind (legitimate client behaviour worth knowing; not defects)\n"
			     "  1. 100000 UNMAP_DMA calls cleared nothing (first at");
	CHECK_CONTAINS(text, "DMA faults: 0\n");
	/* the final count, once, at INFO (the descriptors left open are defects of their own) */
	tcemu_host_close_all(f.h);
	CHECK_EQ(logged.unmap, 5);
	CHECK_EQ(logged.totals, 1);
	CHECK_STR(logged.total, "notes: 100000 in all UNMAP_DMA calls cleared nothing (99997 not logged)");
	CHECK_EQ(logged.notes, 5);
	tcemu_host_close_all(f.h);
	CHECK_EQ(logged.unmap, 5);
	CHECK_EQ(logged.totals, 1);
	done(&f);
}

TEST(one_unmap_of_nothing_keeps_its_message)
{
	struct fx_vfio f;
	char line[512];

	CHECK_EQ(fx_vfio_v2(&f, host_logged(), 0, 4), 0);
	CHECK_EQ(unmap_dma(f.h, f.c, 0x40000, 4 * FX_PAGE), 0);
	CHECK_EQ(tcemu_host_defect_count(f.h), 1);
	CHECK_EQ(tcemu_host_defect(f.h, 0, line, sizeof(line)), 0);
	CHECK(starts(line, "UNMAP_DMA(iova=0x40000, size=0x4000) on container "));
	CHECK_CONTAINS(line, " cleared nothing: that range was never mapped");
	/* truncated like snprintf */
	CHECK_EQ(tcemu_host_defect(f.h, 0, line, 10), 0);
	CHECK_STR(line, "UNMAP_DMA");
	done(&f);
}

TEST(other_defects_of_one_kind_are_counted_with_examples)
{
	struct tcemu_host *h = host_logged();
	char line[1024];
	int c[5];

	CHECK(h);
	for (int i = 0; i < 5; i++)
		CHECK_EQ(tcemu_host_open(h, "/dev/vfio/vfio", 2, &c[i]), 0);
	tcemu_host_close_all(h);
	CHECK_EQ(tcemu_host_defect_count(h), 1);
	CHECK_EQ(tcemu_host_defect(h, 0, line, sizeof(line)), 0);
	char want[256];
	snprintf(want, sizeof(want), "descriptor %d (a container) was never closed (and 4 more like it: descriptor %d (a container) "
				     "was never closed; descriptor %d (a container) was never closed; descriptor %d (a container) "
				     "was never closed; ...)", c[0], c[1], c[2], c[3]);
	CHECK_STR(line, want);
	/* 3 logged, 1 "more of these", 1 final count */
	CHECK_EQ(logged.n, 5);
	CHECK_CONTAINS(logged.last, "client defects: 5 in all of descriptor ");
	CHECK_CONTAINS(logged.last, "(2 not logged)");
}

TEST(dma_faults_are_named_and_aggregated_by_kind)
{
	struct tcemu_host *h = host_logged();
	struct tcemu_model *m;
	struct fx_vfio f;
	uint8_t b[8] = { 0 };
	char text[8192], line[1024];
	size_t defects;

	CHECK(h);
	CHECK_EQ(tcemu_host_attach_model(h, BDF, &dma_toy_type, NULL), 0);
	CHECK((m = tcemu_host_model(h, BDF)) != NULL);
	CHECK_EQ(fx_vfio_v2(&f, h, 0, 4), 0);
	CHECK_EQ(map_dma(h, f.c, f.mem, 0x100000, FX_PAGE), 0);
	struct vfio_iommu_type1_dma_map ro = { .argsz = sizeof(ro), .flags = VFIO_DMA_MAP_FLAG_READ,
					       .vaddr = (uintptr_t)f.mem + FX_PAGE, .iova = 0x101000, .size = FX_PAGE };
	CHECK_EQ(xioctl(h, f.c, VFIO_IOMMU_MAP_DMA, &ro), 0);
	defects = tcemu_host_defect_count(h);
	for (unsigned i = 0; i < 4; i++) {
		tcemu_model_set_context(m, "rx queue 0 descriptor %u", i);
		CHECK_EQ(tcemu_model_dma_write(m, 0x101000 + 8 * i, b, sizeof(b)), -EIO);
		dma_toy_thaw(h, 0);
	}
	CHECK_EQ(tcemu_model_dma_read(m, 0x100000, b, sizeof(b)), 0); /* thawed, mapped: works */
	tcemu_model_set_context(m, "tx queue 1 descriptor 9");
	CHECK_EQ(tcemu_model_dma_read(m, 0x7000000, b, sizeof(b)), -EIO);
	CHECK_EQ(tcemu_model_dma_read(m, 0x100000, b, sizeof(b)), -EIO); /* frozen now */
	CHECK_EQ(tcemu_host_defect_count(h), defects + 3);
	CHECK_EQ(tcemu_host_defect(h, defects, line, sizeof(line)), 0);
	CHECK(starts(line, "4 DMA write faults of device 0000:01:00.0 (read-only entry) (first at 0x101000 (tce 0x"));
	CHECK_CONTAINS(line, ") in rx queue 0 descriptor 0, 0x101008 (tce 0x");
	CHECK_CONTAINS(line, ") in rx queue 0 descriptor 2, ...); each froze the PE");
	summary(h, text, sizeof(text));
	CHECK_CONTAINS(text, "DMA faults: 6 in 3 kinds (the IOMMU refused a device access; the PE froze)\n"
			     "  1. 4 DMA write faults of device 0000:01:00.0 (read-only entry) (first at 0x101000");
	CHECK_CONTAINS(text, "  2. device 0000:01:00.0: DMA read at 0x7000000 faulted: no entry (tce 0x0), tx queue 1 "
			     "descriptor 9; PE frozen\n");
	CHECK_CONTAINS(text, "  3. device 0000:01:00.0: DMA read at 0x100000 faulted: PE already frozen");
	CHECK_CONTAINS(text, "client defects: 0\n");
	/* logged: 3 + 1 of the first kind, 1 each of the others */
	CHECK_EQ(logged.n, 6);
	CHECK_CONTAINS(logged.first, "device 0000:01:00.0: DMA write at 0x101000 faulted: read-only entry");
	done(&f);
}

TEST(signal_summary_matches_and_sizes_like_snprintf)
{
	struct fx_vfio f;
	char a[4096], b[4096], small[16];
	size_t need;

	CHECK_EQ(fx_vfio_v2(&f, host_logged(), 0, 4), 0);
	CHECK_EQ(map_dma(f.h, f.c, f.mem, 0, 2 * FX_PAGE), 0);
	CHECK_EQ(unmap_dma(f.h, f.c, 0x100000, FX_PAGE), 0);
	need = summary(f.h, a, sizeof(a));
	CHECK(need > 0 && need < sizeof(a));
	CHECK_EQ(strlen(a), need);
	CHECK_EQ(tcemu_host_summary_signal(f.h, b, sizeof(b)), need);
	CHECK_STR(a, b);
	CHECK_CONTAINS(a, "VFIO calls: ");
	CHECK_CONTAINS(a, "MAP_DMA 1, UNMAP_DMA 1");
	CHECK_CONTAINS(a, "entries mapped: 2 at peak, 2 at exit\n");
	CHECK_CONTAINS(a, "locked memory: 4.0 MiB at peak, 4.0 MiB at exit\n");
	CHECK_CONTAINS(a, "client defects: 0\n");
	CHECK_CONTAINS(a, "notes: 1 (legitimate client behaviour worth knowing; not defects)\n"
			  "  1. UNMAP_DMA(iova=0x100000, size=0x1000)");
	CHECK_EQ(summary(f.h, NULL, 0), need);
	CHECK_EQ(summary(f.h, small, sizeof(small)), need);
	CHECK_EQ(strlen(small), sizeof(small) - 1);
	CHECK(strncmp(small, a, sizeof(small) - 1) == 0);
	done(&f);
}

/* A client that exits with everything open (QEMU does): the summary says what closing released. */
TEST(release_of_what_was_left_open_is_summarized)
{
	struct fx_vfio f;
	char text[8192];

	CHECK_EQ(fx_vfio_v2(&f, host_logged(), 0, 4), 0);
	CHECK_EQ(map_dma(f.h, f.c, f.mem, 0, 2 * FX_PAGE), 0);
	summary(f.h, text, sizeof(text));
	CHECK(strstr(text, "after closing") == NULL); /* still running */
	tcemu_host_close_all(f.h);
	summary(f.h, text, sizeof(text));
	CHECK_CONTAINS(text, "entries mapped: 2 at peak, 2 at exit\nregions registered: 1 at peak, 1 at exit\n"
			     "locked memory: 4.0 MiB at peak, 4.0 MiB at exit\n"
			     "after closing what was left open: 0 entries mapped, 0 regions registered, 0 B locked\n");
	CHECK_CONTAINS(text, "was never closed");
	done(&f);
}

HARNESS_MAIN(T(unmaps_of_nothing_are_one_aggregated_kind), T(release_of_what_was_left_open_is_summarized), T(one_unmap_of_nothing_keeps_its_message),
	     T(other_defects_of_one_kind_are_counted_with_examples), T(dma_faults_are_named_and_aggregated_by_kind),
	     T(signal_summary_matches_and_sizes_like_snprintf))
