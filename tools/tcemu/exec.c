/* SPDX-License-Identifier: MIT */
/*
 * tcemu exec [--topology FILE] [--trace] [--report FILE] [--bench-dma-identity] -- PROGRAM [ARGS]
 *
 * Runs an unmodified program against the emulated /dev/vfio: builds a fake sysfs for the topology
 * in a private temporary directory, exports its location, runs the program with
 * libtcemu-preload.so, returns its exit status, and prints the shim's summary (calls, windows,
 * mappings, regions, locked memory, client defects, DMA faults; one part per process that used
 * VFIO, saying how it ended) when it ends. See docs/exec.md.
 *
 * --bench-dma-identity (benchmark only, bench/bench_testpmd.sh): the device models' DMA bypasses
 * translation (bus address = process address, still checked against the pinned memory; see
 * src/core/dma_priv.h). It reaches the program's library as TCEMU_DMA_IDENTITY=benchmark, which
 * exec sets only with the flag and otherwise removes from the program's environment.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <tcemu/devmodel.h>
#include <tcemu/host.h>
#include <tcemu/platform.h>

#include "cli.h"

extern char **environ;

#ifndef TCEMU_PRELOAD_INSTALLED
#define TCEMU_PRELOAD_INSTALLED "/usr/local/lib/libtcemu-preload.so"
#endif

static int write_file(const char *dir, const char *name, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int write_file(const char *dir, const char *name, const char *fmt, ...)
{
	char path[PATH_MAX + 64];
	va_list ap;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "we");
	if (!f)
		return -errno;
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	return fclose(f) == 0 ? 0 : -errno;
}

static int mkdirs(const char *path)
{
	char buf[PATH_MAX];

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) != 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	return mkdir(buf, 0755) != 0 && errno != EEXIST ? -errno : 0;
}

/* The kernel's resource flags (include/linux/ioport.h), as sysfs `resource` shows them. */
#define IORESOURCE_IO 0x00000100u
#define IORESOURCE_MEM 0x00000200u
#define IORESOURCE_PREFETCH 0x00002000u
#define IORESOURCE_READONLY 0x00004000u
#define IORESOURCE_MEM_64 0x00100000u
#define RESOURCE_LINES 13 /* 6 BARs, the ROM, 6 SR-IOV BARs (always empty here) */

/* Bus-address cursors of one PHB, for the `resource` lines: each range naturally aligned. */
struct bus_space {
	uint64_t mem, io;
};

static uint64_t place(uint64_t *cursor, uint64_t size)
{
	uint64_t at = (*cursor + size - 1) & ~(size - 1);

	*cursor = at + size;
	return at;
}

/*
 * The `resource` file DPDK's PCI scan needs (one "0x%016llx 0x%016llx 0x%016llx" line per
 * resource: start, end, flags; lengths are the BARs'): without it the device fails the scan,
 * which aborts the whole PCI bus scan.
 */
static int write_resource(const char *dir, const struct tcemu_device_info *di, struct bus_space *bs)
{
	char path[PATH_MAX + 64];
	FILE *f;

	snprintf(path, sizeof(path), "%s/resource", dir);
	f = fopen(path, "we");
	if (!f)
		return -errno;
	for (unsigned n = 0; n < RESOURCE_LINES; n++) {
		uint64_t size = n < 6 ? di->bar_size[n] : n == 6 ? di->rom_size : 0, start = 0, flags = 0;
		uint32_t bf = n < 6 ? di->bar_flags[n] : 0;

		if (size && (bf & TCEMU_BAR_IO)) {
			start = place(&bs->io, size);
			flags = IORESOURCE_IO;
		} else if (size) {
			start = place(&bs->mem, size);
			flags = IORESOURCE_MEM | (bf & TCEMU_BAR_MEM64 ? IORESOURCE_MEM_64 : 0) |
				(bf & TCEMU_BAR_PREFETCH ? IORESOURCE_PREFETCH : 0) | (n == 6 ? IORESOURCE_READONLY : 0);
		}
		fprintf(f, "0x%016llx 0x%016llx 0x%016llx\n", (unsigned long long)start,
			(unsigned long long)(size ? start + size - 1 : 0), (unsigned long long)flags);
	}
	return fclose(f) == 0 ? 0 : -errno;
}

/* The device's files: what DPDK's PCI scan (drivers/bus/pci/linux/pci.c) and QEMU read. */
static int write_device(struct tcemu_host *h, const char *dir, const struct tcemu_device_info *di,
			struct bus_space *bs)
{
	uint8_t rev = di->revision; /* the topology's revision=, else the model's, else the plain device's */
	int rc;

	(void)h;
	if ((rc = write_file(dir, "vendor", "0x%04x\n", di->vendor)) ||
	    (rc = write_file(dir, "device", "0x%04x\n", di->device)) ||
	    (rc = write_file(dir, "class", "0x%06x\n", di->class_code)) ||
	    (rc = write_file(dir, "subsystem_vendor", "0x%04x\n", di->subsys_vendor)) ||
	    (rc = write_file(dir, "subsystem_device", "0x%04x\n", di->subsys_device)) ||
	    (rc = write_file(dir, "revision", "0x%02x\n", rev)) ||
	    (rc = write_file(dir, "sriov_numvfs", "0\n")) || (rc = write_file(dir, "numa_node", "-1\n")))
		return rc;
	return write_resource(dir, di, bs);
}

/*
 * The fake sysfs, shaped like the real one where VFIO programs look:
 *   bus/pci/devices/<BDF>/{vendor,device,class,subsystem_vendor,subsystem_device,revision,
 *                          resource,sriov_numvfs,numa_node}
 *   bus/pci/devices/<BDF>/iommu_group -> ../../../../kernel/iommu_groups/<N>
 *   bus/pci/devices/<BDF>/driver -> ../../../../bus/pci/drivers/vfio-pci
 *   kernel/iommu_groups/<N>/devices/<BDF> -> ../../../../bus/pci/devices/<BDF>
 *   module/vfio, module/vfio_pci, bus/pci/drivers/vfio-pci
 * Bus addresses in `resource`: each PHB's memory BARs from 0x600000000000 + domain << 36, its
 * I/O BARs from 0x1000 + domain << 16, in topology order, naturally aligned.
 */
int build_sysfs(struct tcemu_host *h, const char *root)
{
	/* room for the longest directory plus the longest name added to it */
	char dir[PATH_MAX], link[PATH_MAX + 64], target[PATH_MAX];
	struct tcemu_platform *p = tcemu_host_platform(h);
	int rc;

	static const char *const dirs[] = { "module/vfio", "module/vfio_pci", "bus/pci/drivers/vfio-pci",
					    "bus/pci/devices", "kernel/iommu_groups" };
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(dir, sizeof(dir), "%s/%s", root, dirs[i]);
		if ((rc = mkdirs(dir)))
			return rc;
	}
	for (size_t x = 0; x < tcemu_platform_phb_count(p); x++) {
		struct tcemu_phb *phb = tcemu_platform_phb(p, x);
		struct tcemu_phb_info hi;

		tcemu_phb_info(phb, &hi);
		struct bus_space bs = { 0x600000000000ull + ((uint64_t)hi.domain << 36), 0x1000 + ((uint64_t)hi.domain << 16) };

		for (size_t i = 0; i < hi.npes; i++) {
			struct tcemu_pe *pe = tcemu_phb_pe(phb, i);
			uint32_t group = tcemu_pe_group(pe);
			struct tcemu_pe_info pi;

			tcemu_pe_info(pe, &pi);
			snprintf(dir, sizeof(dir), "%s/kernel/iommu_groups/%u/devices", root, group);
			if ((rc = mkdirs(dir)))
				return rc;
			for (size_t d = 0; d < pi.ndevices; d++) {
				const struct tcemu_device_info *di = tcemu_pe_device(pe, d);

				snprintf(dir, sizeof(dir), "%s/bus/pci/devices/%s", root, di->bdf);
				if ((rc = mkdirs(dir)) || (rc = write_device(h, dir, di, &bs)))
					return rc;
				snprintf(link, sizeof(link), "%s/iommu_group", dir);
				snprintf(target, sizeof(target), "../../../../kernel/iommu_groups/%u", group);
				if (symlink(target, link) != 0)
					return -errno;
				snprintf(link, sizeof(link), "%s/driver", dir);
				if (symlink("../../../../bus/pci/drivers/vfio-pci", link) != 0)
					return -errno;
				snprintf(link, sizeof(link), "%s/kernel/iommu_groups/%u/devices/%s", root, group,
					 di->bdf);
				snprintf(target, sizeof(target), "../../../../bus/pci/devices/%s", di->bdf);
				if (symlink(target, link) != 0)
					return -errno;
			}
		}
	}
	return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

void remove_tree(const char *root)
{
	nftw(root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* The preload library: $TCEMU_PRELOAD, beside the build tree's tcemu, or the installed one. */
static int find_preload(char *out, size_t len)
{
	const char *env = getenv("TCEMU_PRELOAD");
	char exe[PATH_MAX];
	ssize_t n;

	if (env && *env) {
		snprintf(out, len, "%s", env);
		return access(out, R_OK) == 0 ? 0 : -errno;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		snprintf(out, len, "%s/../../shim/libtcemu-preload.so", dirname(exe));
		if (access(out, R_OK) == 0)
			return 0;
	}
	snprintf(out, len, "%s", TCEMU_PRELOAD_INSTALLED);
	return access(out, R_OK) == 0 ? 0 : -ENOENT;
}

static void set_env(const char *name, const char *value)
{
	if (setenv(name, value, 1) != 0) {
		perror("tcemu exec: setenv");
		exit(EXIT_USAGE);
	}
}

static void usage_exec(FILE *f)
{
	fprintf(f, "Usage: tcemu exec [--topology FILE] [--trace] [--report FILE] -- PROGRAM [ARGS]\n"
		   "Runs PROGRAM against an emulated /dev/vfio and reports what it did (docs/exec.md).\n"
		   "(--bench-dma-identity: benchmarks only, device DMA without translation; docs/devices.md)\n");
}

int cmd_exec(int argc, char **argv, struct tcemu_logger lg)
{
	static const struct option opts[] = {
		{ "topology", required_argument, NULL, 't' },
		{ "trace", no_argument, NULL, 'T' },
		{ "report", required_argument, NULL, 'r' },
		{ "bench-dma-identity", no_argument, NULL, 'I' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *topology = NULL, *report_out = NULL;
	char preload[PATH_MAX], tmp[] = "/tmp/tcemu-exec-XXXXXX", sysfs[64], devices[128];
	char report[64], topo_abs[PATH_MAX], err[512] = "", ld[2 * PATH_MAX + 2];
	struct tcemu_host_opts ho = { .platform = { .logger = lg, .errbuf = err, .errlen = sizeof(err) } };
	struct tcemu_host *h;
	bool trace = false, identity = false;
	int c, rc, status = 0, result;
	pid_t pid;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			topology = optarg;
			break;
		case 'T':
			trace = true;
			break;
		case 'r':
			report_out = optarg;
			break;
		case 'I':
			identity = true;
			break;
		case 'h':
			usage_exec(stdout);
			return 0;
		default:
			usage_exec(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage_exec(stderr);
		return EXIT_USAGE;
	}
	if (topology && !realpath(topology, topo_abs)) {
		fprintf(stderr, "tcemu exec: %s: %s\n", topology, strerror(errno));
		return 1;
	}
	/*
	 * Build the host here (topology and models), so a bad file or a model that cannot start is
	 * reported before the program starts; the sysfs files come from it.
	 */
	ho.platform.topology_path = topology ? topo_abs : NULL;
	rc = tcemu_host_create(&ho, &h);
	if (rc) {
		fprintf(stderr, "tcemu exec: %s\n", err[0] ? err : strerror(-rc));
		return 1;
	}
	if ((rc = find_preload(preload, sizeof(preload)))) {
		fprintf(stderr, "tcemu exec: libtcemu-preload.so not found (set TCEMU_PRELOAD): %s\n", strerror(-rc));
		tcemu_host_destroy(h);
		return 1;
	}
	if (!mkdtemp(tmp)) {
		perror("tcemu exec: mkdtemp");
		tcemu_host_destroy(h);
		return 1;
	}
	snprintf(sysfs, sizeof(sysfs), "%s/sys", tmp);
	snprintf(devices, sizeof(devices), "%s/bus/pci/devices", sysfs);
	snprintf(report, sizeof(report), "%s/report.txt", tmp);
	rc = build_sysfs(h, sysfs);
	tcemu_host_destroy(h);
	if (rc) {
		fprintf(stderr, "tcemu exec: cannot build the fake sysfs in %s: %s\n", sysfs, strerror(-rc));
		remove_tree(tmp);
		return 1;
	}

	if (identity)
		set_env("TCEMU_DMA_IDENTITY", "benchmark");
	else
		unsetenv("TCEMU_DMA_IDENTITY");
	const char *old = getenv("LD_PRELOAD");
	snprintf(ld, sizeof(ld), "%s%s%s", preload, old && *old ? " " : "", old && *old ? old : "");
	set_env("LD_PRELOAD", ld);
	set_env("TCEMU_SYSFS", sysfs);
	set_env("TCEMU_SYSFS_PCI_DEVICES", devices);
	set_env("SYSFS_PCI_DEVICES", devices);
	set_env("TCEMU_REPORT", report);
	if (topology)
		set_env("TCEMU_TOPOLOGY", topo_abs);
	if (trace)
		set_env("TCEMU_TRACE", "1");

	/*
	 * The terminal's ^C goes to the program; tcemu waits for it to finish and reports. The program
	 * gets the default actions back (an ignored signal would stay ignored across the spawn).
	 */
	posix_spawnattr_t sa;
	sigset_t dfl;
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGINT);
	sigaddset(&dfl, SIGQUIT);
	posix_spawnattr_init(&sa);
	posix_spawnattr_setsigdefault(&sa, &dfl);
	posix_spawnattr_setflags(&sa, POSIX_SPAWN_SETSIGDEF);
	rc = posix_spawnp(&pid, argv[optind], NULL, &sa, argv + optind, environ);
	posix_spawnattr_destroy(&sa);
	if (rc) {
		fprintf(stderr, "tcemu exec: %s: %s\n", argv[optind], strerror(rc));
		remove_tree(tmp);
		return 127;
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	result = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);

	/*
	 * The summary the shim left, to stderr and to --report FILE: one part per process that used
	 * VFIO (a process that exec'd wrote its part before the exec), each with how it ended.
	 */
	FILE *in = fopen(report, "re"), *out = report_out ? fopen(report_out, "we") : NULL;
	char line[4096];
	if (report_out && !out)
		fprintf(stderr, "tcemu exec: %s: %s\n", report_out, strerror(errno));
	fprintf(stderr, "\n== tcemu exec: %s %s %d ==\n", argv[optind],
		WIFEXITED(status) ? "exited with status" : "was killed by signal",
		WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	if (out)
		fprintf(out, "program: %s\nstatus: %d\n", argv[optind], result);
	if (in) {
		while (fgets(line, sizeof(line), in)) {
			fputs(line, stderr);
			if (out)
				fputs(line, out);
		}
		fclose(in);
	} else {
		const char *why = "no process opened /dev/vfio (or the one that did ended without running its exit "
				  "handlers or a signal handler: SIGKILL, _exit)";
		fprintf(stderr, "no summary: %s\n", why);
		if (out)
			fprintf(out, "no summary: %s\n", why);
	}
	if (out)
		fclose(out);
	remove_tree(tmp);
	return result;
}
