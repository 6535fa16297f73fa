/* SPDX-License-Identifier: MIT */
/*
 * A device model that does nothing but DMA when its user says so (tests of DMA faults and their
 * reports: test_report.c, report_client.c): one 16-byte trapped BAR that reads 0 and ignores
 * writes. dma_toy_thaw(h, group) unfreezes the group's PE after a fault.
 */
#ifndef TCEMU_TESTS_DMA_TOY_H
#define TCEMU_TESTS_DMA_TOY_H

#include <string.h>

#include <linux/vfio.h>

#include <tcemu/devmodel.h>
#include <tcemu/platform.h>

static int dma_toy_init(struct tcemu_model *m, const char *params)
{
	(void)m;
	(void)params;
	return 0;
}

static int dma_toy_read(struct tcemu_model *m, unsigned bar, uint64_t off, void *buf, size_t len)
{
	(void)m;
	(void)bar;
	(void)off;
	memset(buf, 0, len);
	return 0;
}

static int dma_toy_write(struct tcemu_model *m, unsigned bar, uint64_t off, const void *buf, size_t len)
{
	(void)m;
	(void)bar;
	(void)off;
	(void)buf;
	(void)len;
	return 0;
}

static const struct tcemu_model_ops dma_toy_ops = { .init = dma_toy_init, .bar_read = dma_toy_read,
						    .bar_write = dma_toy_write };
static const struct tcemu_model_type dma_toy_type = {
	.name = "dma-toy", .vendor = 0x1b36, .device = 0x00fe, .class_code = 0x088000, .bar_size = { 16 },
	.ops = &dma_toy_ops,
};

static inline void dma_toy_thaw(struct tcemu_host *h, uint32_t group)
{
	struct tcemu_pe *pe = tcemu_platform_pe_by_group(tcemu_host_platform(h), group);

	tcemu_pe_eeh_op(pe, VFIO_EEH_PE_UNFREEZE_IO, 0, 0);
	tcemu_pe_eeh_op(pe, VFIO_EEH_PE_UNFREEZE_DMA, 0, 0);
}

#endif
