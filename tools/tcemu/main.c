/* SPDX-License-Identifier: MIT */
/*
 * tcemu: the command line.
 *
 *   tcemu --help | --version
 *   tcemu topology [--page-size 4K|64K] [FILE]     print the platform a topology describes
 *   tcemu topology --print-default                  print the embedded default topology file
 *   tcemu run [--json FILE] [--no-progress] [SCENARIO]   the whole stack end to end
 *   tcemu exec [--topology FILE] [--trace] [--report FILE] -- PROGRAM [ARGS]
 *                                                   run a program against the emulated /dev/vfio
 *
 * Logs go to stderr; the level comes from --log LEVEL or the TCEMU_LOG environment variable
 * (error, warn, info, debug, trace; default warn).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tcemu/platform.h>

#include "cli.h"

static void log_stderr(void *opaque, enum tcemu_log_level level, const char *msg)
{
	(void)opaque;
	fprintf(stderr, "tcemu: %s: %s\n", tcemu_log_level_name(level), msg);
}

static struct tcemu_logger make_logger(const char *level_arg)
{
	struct tcemu_logger lg = { .fn = log_stderr, .level = TCEMU_LOG_WARN };
	const char *s = level_arg ? level_arg : getenv("TCEMU_LOG");
	enum tcemu_log_level lv;

	if (s && *s) {
		if (tcemu_log_level_parse(s, &lv) == 0)
			lg.level = lv;
		else
			fprintf(stderr, "tcemu: unknown log level '%s' (use error, warn, info, debug or trace)\n", s);
	}
	return lg;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: tcemu [--log LEVEL] COMMAND [ARGS]\n"
		"       tcemu --help | --version\n"
		"\n"
		"tcemu emulates the POWER (sPAPR) TCE IOMMU and its Linux VFIO interface in userspace.\n"
		"\n"
		"Commands:\n"
		"  run [--json FILE] [--no-progress] [SCENARIO]\n"
		"                       simulate a POWER9 host, a guest and a passed-through device end\n"
		"                       to end (DDW, hypercalls, DMA, EEH) and report each phase\n"
		"  topology [--page-size 4K|64K] [FILE]\n"
		"                       print the platform described by FILE (default: the embedded\n"
		"                       topology): PHBs, profiles, PEs (IOMMU groups), devices, windows\n"
		"  topology --print-default\n"
		"                       print the embedded default topology file\n"
		"  exec [--topology FILE] [--trace] [--report FILE] -- PROGRAM [ARGS]\n"
		"                       run an unmodified VFIO program against the emulated /dev/vfio\n"
		"                       (LD_PRELOAD shim, fake sysfs) and report what it did\n"
		"\n"
		"Options:\n"
		"  --log LEVEL          error, warn, info, debug or trace (also: TCEMU_LOG); default warn\n"
		"  -h, --help           this text\n"
		"  -V, --version        print the version\n"
		"\n"
		"Topology file format: docs/topology.md. Running programs: docs/exec.md.\n"
		"The main job: docs/run.md.\n"
		"Architecture: docs/architecture.md.\n");
}

const char *human_size(uint64_t bytes, char *buf, size_t len)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	unsigned u = 0;
	double v = (double)bytes;

	/* exact while the size divides evenly (16 KiB), one decimal beyond that (20.0 MiB) */
	while (u + 1 < sizeof(units) / sizeof(units[0]) && v >= 1024) {
		v /= 1024;
		u++;
	}
	if (v == (double)(uint64_t)v)
		snprintf(buf, len, "%llu %s", (unsigned long long)v, units[u]);
	else
		snprintf(buf, len, "%.1f %s", v, units[u]);
	return buf;
}

static void print_pgsizes(uint64_t mask)
{
	static const char *const suffix[] = { "", "K", "M", "G", "T" };
	bool first = true;

	for (unsigned s = 0; s < 64; s++) {
		if (!(mask & (1ull << s)))
			continue;
		printf("%s%llu%s", first ? "" : " ", (unsigned long long)(1ull << (s % 10)), suffix[s / 10]);
		first = false;
	}
}

static void print_window(struct tcemu_pe *pe, unsigned slot)
{
	struct tcemu_table *t = tcemu_pe_window(pe, slot);
	struct tcemu_table_info ti;
	char sz[32];

	if (!t)
		return;
	tcemu_table_info(t, &ti);
	char pg[32];

	printf("      window %u: bus 0x%llx..0x%llx (%s), %s pages, %u level%s, %llu valid entries\n", slot,
	       (unsigned long long)ti.params.bus_offset,
	       (unsigned long long)(ti.params.bus_offset + ti.params.window_size - 1),
	       human_size(ti.params.window_size, sz, sizeof(sz)), human_size(1ull << ti.params.page_shift, pg, sizeof(pg)),
	       ti.params.levels, ti.params.levels > 1 ? "s" : "", (unsigned long long)ti.valid_entries);
	tcemu_table_unref(t);
}

static void print_bar(uint64_t size, uint32_t flags, const char *name)
{
	char sz[32];

	if (!size)
		return;
	printf("  %s %s %s%s%s", name, human_size(size, sz, sizeof(sz)),
	       flags & TCEMU_BAR_IO ? "io" : flags & TCEMU_BAR_MEM64 ? "mem64" : "mem32",
	       flags & TCEMU_BAR_PREFETCH ? " prefetch" : "", flags & TCEMU_BAR_MMAP ? " mmap" : "");
}

static void print_platform(struct tcemu_platform *p, const char *source)
{
	char sz[32];

	printf("tcemu platform from %s: %zu PHB%s, %zu PE%s (IOMMU groups), system page size %u KiB\n", source,
	       tcemu_platform_phb_count(p), tcemu_platform_phb_count(p) == 1 ? "" : "s", tcemu_platform_pe_count(p),
	       tcemu_platform_pe_count(p) == 1 ? "" : "s", (1u << tcemu_platform_page_shift(p)) >> 10);
	uint64_t memlock;
	if (tcemu_platform_memlock(p, &memlock))
		printf("locked-memory limit: %s (set by the topology)\n",
		       memlock == UINT64_MAX ? "unlimited" : human_size(memlock, sz, sizeof(sz)));
	for (size_t i = 0; i < tcemu_platform_phb_count(p); i++) {
		struct tcemu_phb *phb = tcemu_platform_phb(p, i);
		struct tcemu_phb_info hi;

		tcemu_phb_info(phb, &hi);
		printf("\nPHB %u: %s, %s, PCI domain %04x\n", hi.index, hi.profile->name, hi.profile->hardware, hi.domain);
		printf("  windows per PE: %u (slot 0 from 0x0%s), IOMMU page sizes: ", hi.profile->windows,
		       hi.profile->windows > 1 ? ", slot 1 from 0x800000000000000" : "");
		print_pgsizes(hi.profile->pgsizes);
		printf(", levels up to %u\n", hi.profile->max_levels);
		printf("  dynamic windows: %s, groups per container: %s, default 32-bit window: %s at 0x0, 4 KiB pages\n",
		       hi.profile->dynamic_windows ? "yes" : "no", hi.profile->multi_group ? "several" : "one",
		       human_size(hi.dma32_size, sz, sizeof(sz)));
		for (size_t e = 0; e < hi.npes; e++) {
			struct tcemu_pe *pe = tcemu_phb_pe(phb, e);
			struct tcemu_pe_info pi;

			tcemu_pe_info(pe, &pi);
			printf("  PE %u = IOMMU group %u (/dev/vfio/%u), owner: %s, bypass %s, %llu invalidations\n",
			       pi.pe_number, pi.group, pi.group, tcemu_pe_is_owned(pe) ? "external" : "host",
			       tcemu_pe_bypass(pe) ? "on" : "off", (unsigned long long)tcemu_pe_invalidations(pe));
			for (unsigned s = 0; s < TCEMU_PE_WINDOWS; s++)
				print_window(pe, s);
			for (size_t d = 0; d < pi.ndevices; d++) {
				const struct tcemu_device_info *di = tcemu_pe_device(pe, d);
				char name[8];

				printf("    %s  %04x:%04x  class %06x", di->bdf, di->vendor, di->device, di->class_code);
				for (unsigned b = 0; b < 6; b++) {
					snprintf(name, sizeof(name), "BAR%u", b);
					print_bar(di->bar_size[b], di->bar_flags[b], name);
				}
				if (di->rom_size)
					print_bar(di->rom_size, 0, "ROM");
				printf("\n");
			}
		}
	}
}

static int cmd_topology(int argc, char **argv, struct tcemu_logger lg)
{
	static const struct option opts[] = {
		{ "page-size", required_argument, NULL, 'p' },
		{ "print-default", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct tcemu_platform_opts po = { .logger = lg };
	struct tcemu_platform *p;
	char err[512];
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (strcmp(optarg, "4K") == 0 || strcmp(optarg, "4k") == 0)
				po.sys_page_shift = 12;
			else if (strcmp(optarg, "64K") == 0 || strcmp(optarg, "64k") == 0)
				po.sys_page_shift = 16;
			else {
				fprintf(stderr, "tcemu topology: --page-size takes 4K or 64K, not '%s'\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'd':
			fputs(tcemu_platform_default_topology(), stdout);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			return EXIT_USAGE;
		}
	}
	if (argc - optind > 1) {
		fprintf(stderr, "tcemu topology: one topology file at most\n");
		return EXIT_USAGE;
	}
	po.topology_path = optind < argc ? argv[optind] : NULL;
	po.errbuf = err;
	po.errlen = sizeof(err);
	rc = tcemu_platform_create(&po, &p);
	if (rc) {
		fprintf(stderr, "tcemu: %s\n", err[0] ? err : strerror(-rc));
		return 1;
	}
	print_platform(p, po.topology_path ? po.topology_path : "the embedded default topology");
	tcemu_platform_destroy(p);
	return 0;
}

int main(int argc, char **argv)
{
	const char *log_level = NULL;
	int i = 1;

	while (i < argc && argv[i][0] == '-') {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "--version") == 0 || strcmp(argv[i], "-V") == 0) {
			printf("tcemu %s\n", tcemu_version());
			return 0;
		} else if (strcmp(argv[i], "--log") == 0 && i + 1 < argc) {
			log_level = argv[i + 1];
			i += 2;
		} else {
			fprintf(stderr, "tcemu: unknown option '%s'\n", argv[i]);
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	struct tcemu_logger lg = make_logger(log_level);
	if (strcmp(argv[i], "topology") == 0)
		return cmd_topology(argc - i, argv + i, lg);
	if (strcmp(argv[i], "exec") == 0)
		return cmd_exec(argc - i, argv + i, lg);
	if (strcmp(argv[i], "run") == 0)
		return cmd_run(argc - i, argv + i, lg);
	fprintf(stderr, "tcemu: unknown command '%s'\n", argv[i]);
	usage(stderr);
	return EXIT_USAGE;
}
