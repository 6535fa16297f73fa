/* SPDX-License-Identifier: MIT */
/*
 * An example device model built against the public headers only: a DMA "memcpy engine".
 *
 * BAR0 (32 bytes, 32-bit memory, trapped): 0x00 source bus address (64), 0x08 destination bus
 * address (64), 0x10 length (32), 0x14 doorbell (32: writing 1 starts the copy), 0x18 status
 * (32: 0 idle, 1 done, 2 DMA fault). The copy runs at the doorbell write, in the caller's
 * thread, through the IOMMU (tcemu_model_dma_read/write), then raises INTx.
 *
 * main() plays the client: it attaches the model to a device of an emulated host, maps memory
 * with VFIO, rings the doorbell through pwrite on the device descriptor and checks the copy and
 * a copy to an unmapped address (a fault: status 2, the PE frozen).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <linux/vfio.h>

#include <tcemu/devmodel.h>
#include <tcemu/host.h>

#define REG_SRC 0x00
#define REG_DST 0x08
#define REG_LEN 0x10
#define REG_DOORBELL 0x14
#define REG_STATUS 0x18
#define MAX_COPY (1u << 20)

struct engine {
	pthread_mutex_t lock;
	uint8_t regs[32];
	uint8_t *bounce;
};

static int engine_init(struct tcemu_model *m, const char *params)
{
	struct engine *e = calloc(1, sizeof(*e));

	(void)params;
	if (!e || !(e->bounce = malloc(MAX_COPY))) {
		free(e);
		return -ENOMEM;
	}
	pthread_mutex_init(&e->lock, NULL);
	tcemu_model_set_priv(m, e);
	return 0;
}

static int engine_read(struct tcemu_model *m, unsigned bar, uint64_t off, void *buf, size_t len)
{
	struct engine *e = tcemu_model_priv(m);

	(void)bar;
	pthread_mutex_lock(&e->lock);
	memcpy(buf, e->regs + off, len); /* off + len <= 32: the device file cuts at the BAR's end */
	pthread_mutex_unlock(&e->lock);
	return 0;
}

static int engine_write(struct tcemu_model *m, unsigned bar, uint64_t off, const void *buf, size_t len)
{
	struct engine *e = tcemu_model_priv(m);
	uint64_t src, dst;
	uint32_t n, status;

	(void)bar;
	pthread_mutex_lock(&e->lock);
	memcpy(e->regs + off, buf, len);
	if (off == REG_DOORBELL && e->regs[REG_DOORBELL] == 1) {
		memcpy(&src, e->regs + REG_SRC, 8);
		memcpy(&dst, e->regs + REG_DST, 8);
		memcpy(&n, e->regs + REG_LEN, 4);
		tcemu_model_set_context(m, "memcpy 0x%llx -> 0x%llx", (unsigned long long)src, (unsigned long long)dst);
		status = n <= MAX_COPY && tcemu_model_dma_read(m, src, e->bounce, n) == 0 &&
				 tcemu_model_dma_write(m, dst, e->bounce, n) == 0
			 ? 1 : 2;
		memcpy(e->regs + REG_STATUS, &status, 4);
		memset(e->regs + REG_DOORBELL, 0, 4);
		tcemu_model_intx(m, true);
	}
	pthread_mutex_unlock(&e->lock);
	return 0;
}

static void engine_reset(struct tcemu_model *m)
{
	struct engine *e = tcemu_model_priv(m);

	pthread_mutex_lock(&e->lock);
	for (size_t i = 0; i < sizeof(e->regs); i++)
		e->regs[i] = 0;
	pthread_mutex_unlock(&e->lock);
}

static void engine_destroy(struct tcemu_model *m)
{
	struct engine *e = tcemu_model_priv(m);

	pthread_mutex_destroy(&e->lock);
	free(e->bounce);
	free(e);
}

static const struct tcemu_model_ops engine_ops = {
	.init = engine_init,
	.bar_read = engine_read,
	.bar_write = engine_write,
	.reset = engine_reset,
	.destroy = engine_destroy,
};

static const struct tcemu_model_type engine_type = {
	.name = "memcpy-engine",
	.vendor = 0x1b36,
	.device = 0x00ff,
	.subsys_vendor = 0x1b36,
	.class_code = 0x088000, /* system peripheral, other */
	.bar_size = { 32 },
	.ops = &engine_ops,
};

/* ---- the client ---- */

#define BDF "0000:01:00.0"
#define BAR0 ((uint64_t)VFIO_PCI_BAR0_REGION_INDEX << 40)

static unsigned passed, failed;

#define EXPECT(cond)                                                                               \
	do {                                                                                       \
		if (cond) {                                                                        \
			passed++;                                                                  \
		} else {                                                                           \
			failed++;                                                                  \
			fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #cond);                   \
		}                                                                                  \
	} while (0)

static uint32_t copy(struct tcemu_host *h, int dev, uint64_t src, uint64_t dst, uint32_t len)
{
	uint32_t one = 1, status = 0;

	tcemu_host_pwrite(h, dev, &src, 8, BAR0 + REG_SRC);
	tcemu_host_pwrite(h, dev, &dst, 8, BAR0 + REG_DST);
	tcemu_host_pwrite(h, dev, &len, 4, BAR0 + REG_LEN);
	tcemu_host_pwrite(h, dev, &one, 4, BAR0 + REG_DOORBELL);
	tcemu_host_pread(h, dev, &status, 4, BAR0 + REG_STATUS);
	return status;
}

int main(void)
{
	struct tcemu_host_opts o = { .memlock_set = true, .memlock = UINT64_MAX };
	struct tcemu_host *h;
	struct tcemu_model_fault f;
	uint8_t *mem = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct vfio_iommu_spapr_register_memory r = { .argsz = sizeof(r), .vaddr = (uintptr_t)mem, .size = 1 << 20 };
	struct vfio_iommu_type1_dma_map map = { .argsz = sizeof(map), .vaddr = (uintptr_t)mem, .iova = 0x200000,
						.size = 1 << 20,
						.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE };
	int c = -1, g = -1; /* EXPECT goes on after a failure: a descriptor that was not opened is -1 */
	long dev;

	if (mem == MAP_FAILED || tcemu_host_create(&o, &h))
		return 1;
	EXPECT(tcemu_host_attach_model(h, BDF, &engine_type, NULL) == 0);
	EXPECT(tcemu_host_open(h, "/dev/vfio/vfio", 2, &c) == 0 && tcemu_host_open(h, "/dev/vfio/0", 2, &g) == 0);
	EXPECT(tcemu_host_ioctl(h, g, VFIO_GROUP_SET_CONTAINER, &c) == 0);
	EXPECT(tcemu_host_ioctl(h, c, VFIO_SET_IOMMU, (void *)VFIO_SPAPR_TCE_v2_IOMMU) == 0);
	EXPECT(tcemu_host_ioctl(h, c, VFIO_IOMMU_SPAPR_REGISTER_MEMORY, &r) == 0);
	EXPECT(tcemu_host_ioctl(h, c, VFIO_IOMMU_MAP_DMA, &map) == 0);
	dev = tcemu_host_ioctl(h, g, VFIO_GROUP_GET_DEVICE_FD, (void *)BDF);
	EXPECT(dev >= 0);
	for (unsigned i = 0; i < 4096; i++)
		mem[i] = (uint8_t)(i * 5);
	EXPECT(copy(h, (int)dev, 0x200000, 0x280000, 4096) == 1);
	EXPECT(memcmp(mem, mem + 0x80000, 4096) == 0);
	/* To an address never mapped: a fault, nothing copied, the PE frozen. */
	EXPECT(copy(h, (int)dev, 0x200000, 0x400000, 16) == 0xffffffff); /* the status read is frozen MMIO */
	EXPECT(tcemu_model_last_fault(tcemu_host_model(h, BDF), &f) == 0);
	EXPECT(f.held == TCEMU_FAULT_NO_ENTRY && f.write && f.bus == 0x400000);
	printf("%s\n", f.message);
	tcemu_host_close(h, (int)dev);
	tcemu_host_destroy(h);
	munmap(mem, 1 << 20);
	printf("%u passed, %u failed\n", passed, failed);
	return failed ? 1 : 0;
}
