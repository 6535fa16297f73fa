/* SPDX-License-Identifier: MIT */
/*
 * DPDK 22.11's EAL start, timed by phase, for bench_dpdk.sh.
 *
 * Run alone it is the reference: rte_eal_init and rte_eal_cleanup with no VFIO (no /dev/vfio, so
 * EAL leaves VFIO off). Run under `tcemu exec` it also sets up the emulated device, which makes DPDK
 * build its sPAPR v2 container and REGISTER + MAP every memseg, and releases it again. It prints
 * one line:
 *
 *   phases: eal <s> setup <s> register <s> <n> map <s> <n> teardown <s>
 *
 * eal: rte_eal_init; setup: rte_vfio_setup_device (0 alone), which holds register (the time in and
 * the number of SPAPR_REGISTER_MEMORY ioctls) and map (MAP_DMA); teardown: rte_vfio_release_device,
 * rte_eal_cleanup and the close of the container DPDK leaves open (22.11 never closes it): its
 * release clears the window and drops every region. The ioctls are timed by an
 * ioctl() of this program's own, which DPDK's libraries bind to before the shim's: it reads the
 * clock around the next ioctl() (two vDSO clock reads per call, tens of ns against microseconds).
 *
 * Usage: bench_eal <EAL args>
 */
#include <dlfcn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <linux/vfio.h>

#include <rte_eal.h>
#include <rte_vfio.h>

#include <tcemu/preload.h>

#define DEV_BDF "0000:01:00.0"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double reg_s, map_s;
static unsigned long reg_n, map_n;

int ioctl(int fd, unsigned long request, ...)
{
	static int (*next)(int, unsigned long, ...);
	va_list ap;
	void *arg;
	double t0;
	int rc;

	va_start(ap, request);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (!next)
		next = (int (*)(int, unsigned long, ...))dlsym(RTLD_NEXT, "ioctl");
	if (request != VFIO_IOMMU_SPAPR_REGISTER_MEMORY && request != VFIO_IOMMU_MAP_DMA)
		return next(fd, request, arg);
	t0 = now();
	rc = next(fd, request, arg);
	if (request == VFIO_IOMMU_MAP_DMA) {
		map_s += now() - t0;
		map_n++;
	} else {
		reg_s += now() - t0;
		reg_n++;
	}
	return rc;
}

int main(int argc, char **argv)
{
	bool emulated = tcemu_preload_host && tcemu_preload_host();
	const char *sysfs = getenv("TCEMU_SYSFS_PCI_DEVICES");
	double t0, eal, setup = 0, teardown;
	struct vfio_device_info info = { .argsz = sizeof(info) };
	int devfd = -1;

	t0 = now();
	if (rte_eal_init(argc, argv) < 0) {
		fprintf(stderr, "bench_eal: rte_eal_init failed\n");
		return 1;
	}
	eal = now() - t0;
	if (emulated) {
		if (!sysfs) {
			fprintf(stderr, "bench_eal: TCEMU_SYSFS_PCI_DEVICES is not set: run it with tcemu exec\n");
			return 1;
		}
		t0 = now();
		if (rte_vfio_setup_device(sysfs, DEV_BDF, &devfd, &info) != 0) {
			fprintf(stderr, "bench_eal: rte_vfio_setup_device failed\n");
			return 1;
		}
		setup = now() - t0;
	}
	t0 = now();
	if (emulated && rte_vfio_release_device(sysfs, DEV_BDF, devfd) != 0) {
		fprintf(stderr, "bench_eal: rte_vfio_release_device failed\n");
		return 1;
	}
	if (rte_eal_cleanup() != 0) {
		fprintf(stderr, "bench_eal: rte_eal_cleanup failed\n");
		return 1;
	}
	for (int fd = 0; emulated && fd < 1024; fd++)
		if (tcemu_host_fd_kind(tcemu_preload_host(), fd) == TCEMU_FD_CONTAINER)
			close(fd);
	teardown = now() - t0;
	printf("phases: eal %.6f setup %.6f register %.6f %lu map %.6f %lu teardown %.6f\n", eal, setup, reg_s, reg_n,
	       map_s, map_n, teardown);
	return 0;
}
