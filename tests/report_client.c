/* SPDX-License-Identifier: MIT */
/*
 * A VFIO client for the exec summary's tests (test_report.sh), run under tcemu exec: it uses only
 * libc calls on /dev/vfio, except that `fault` attaches a device model to the shim's host
 * (tcemu_preload_host) and makes it DMA, as a device would.
 *
 *   report_client unmap N        N UNMAP_DMA of a never-mapped page each (as QEMU's window clear)
 *   report_client die SIGNAME    set up, then SIGSEGV (a null write), SIGABRT (abort) or kill(self)
 *   report_client exec PROG ...  set up, map one page, then execvp(PROG, ...)
 *   report_client fault          a model at 0000:01:00.0 faults: a write through a read-only
 *                                entry, three reads of no entry, one read outside every window
 *   report_client none           touches no VFIO file
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/vfio.h>

#include <tcemu/devmodel.h>
#include <tcemu/preload.h>

#include "dma_toy.h"

#define PAGE 4096ull
#define BDF "0000:01:00.0"

static int c = -1, g = -1;
static uint8_t *mem;

static int die(const char *what)
{
	fprintf(stderr, "report_client: %s: %s\n", what, strerror(errno));
	return 1;
}

/* Container, group 0, v2, 64 KiB registered; the default window (1 GiB at 0) stays. */
static int setup(void)
{
	struct vfio_iommu_spapr_register_memory reg = { .argsz = sizeof(reg), .size = 16 * PAGE };

	mem = mmap(NULL, 16 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	c = open("/dev/vfio/vfio", O_RDWR);
	g = open("/dev/vfio/0", O_RDWR | O_CLOEXEC);
	reg.vaddr = (uintptr_t)mem;
	if (mem == MAP_FAILED || c < 0 || g < 0 || ioctl(g, VFIO_GROUP_SET_CONTAINER, &c) ||
	    ioctl(c, VFIO_SET_IOMMU, VFIO_SPAPR_TCE_v2_IOMMU) || ioctl(c, VFIO_IOMMU_SPAPR_REGISTER_MEMORY, &reg))
		return -1;
	return 0;
}

static int map(uint64_t iova, uint32_t flags)
{
	struct vfio_iommu_type1_dma_map m = { .argsz = sizeof(m), .flags = flags, .vaddr = (uintptr_t)mem,
					      .iova = iova, .size = PAGE };
	return ioctl(c, VFIO_IOMMU_MAP_DMA, &m);
}

static void teardown(void)
{
	struct vfio_iommu_spapr_register_memory reg = { .argsz = sizeof(reg), .vaddr = (uintptr_t)mem,
							.size = 16 * PAGE };
	ioctl(c, VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY, &reg);
	close(g);
	close(c);
}

static int fault(void)
{
	struct tcemu_host *h = tcemu_preload_host ? tcemu_preload_host() : NULL;
	struct tcemu_model *m;
	uint8_t buf[8] = { 0 };

	if (!h) {
		fprintf(stderr, "report_client: not under the shim\n");
		return 1;
	}
	if (tcemu_host_attach_model(h, BDF, &dma_toy_type, NULL) || !(m = tcemu_host_model(h, BDF)))
		return die("attach");
	if (setup() || map(0x100000, VFIO_DMA_MAP_FLAG_READ))
		return die("setup");
	tcemu_model_set_context(m, "tx queue 0 descriptor 5");
	if (tcemu_model_dma_write(m, 0x100000, buf, sizeof(buf)) != -EIO)
		return die("a write through a read-only entry did not fault");
	for (unsigned i = 0; i < 3; i++) {
		dma_toy_thaw(h, 0);
		tcemu_model_set_context(m, "rx queue 0 descriptor %u", i);
		if (tcemu_model_dma_read(m, 0x5000000 + i * PAGE, buf, sizeof(buf)) != -EIO)
			return die("a read of no entry did not fault");
	}
	dma_toy_thaw(h, 0);
	tcemu_model_set_context(m, "%s", "");
	if (tcemu_model_dma_read(m, 0x4000000000000ull, buf, sizeof(buf)) != -EIO)
		return die("a read outside the windows did not fault");
	return 0;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";

	if (strcmp(mode, "none") == 0)
		return 0;
	if (strcmp(mode, "fault") == 0)
		return fault();
	if (setup())
		return die("setup");
	if (strcmp(mode, "unmap") == 0 && argc > 2) {
		unsigned long n = strtoul(argv[2], NULL, 0);

		for (unsigned long i = 0; i < n; i++) {
			struct vfio_iommu_type1_dma_unmap u = { .argsz = sizeof(u), .iova = (i % 65536) * PAGE,
								.size = PAGE };
			if (ioctl(c, VFIO_IOMMU_UNMAP_DMA, &u))
				return die("UNMAP_DMA");
		}
		teardown();
		return 0;
	}
	if (strcmp(mode, "die") == 0 && argc > 2) {
		if (strcmp(argv[2], "SEGV") == 0) {
			volatile int *volatile nowhere = NULL; /* a real fault, not raise() */
			*nowhere = 1;
		}
		if (strcmp(argv[2], "ABRT") == 0)
			abort();
		kill(getpid(), strcmp(argv[2], "INT") == 0 ? SIGINT : SIGTERM);
		pause();
		return 1;
	}
	if (strcmp(mode, "exec") == 0 && argc > 2) {
		if (map(0x200000, VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE))
			return die("MAP_DMA");
		execvp(argv[2], argv + 2);
		return die(argv[2]);
	}
	fprintf(stderr, "usage: report_client unmap N | die SEGV|ABRT|TERM|INT | exec PROG ... | fault | none\n");
	return 2;
}
