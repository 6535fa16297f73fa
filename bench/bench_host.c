/* SPDX-License-Identifier: MIT */
/*
 * Creating and destroying a host, against creating and reaping a process.
 *
 * A fuzzer wants a fresh host for every input (tests/fuzz/): the state an input leaves must not
 * leak into the next. This measures tcemu_host_create + tcemu_host_destroy on the embedded default
 * topology (6 PEs, 6 devices, two virtio-net ports and a 64 MiB virtio-blk disk), then the same
 * followed by the set-up a fuzz harness does (a v2 container with a group attached, closed again),
 * and on a one-PE topology. The same-run reference is fork() + _exit(0) in the child + waitpid()
 * in the parent: what isolating an input in a process of its own would cost instead (the
 * fork-per-input mode of fuzzers). Figures: microseconds per cycle (best of several rounds) and
 * the ratio to the reference. Goal: the default host in at most 100 us, and below the reference.
 *
 * Usage: bench_host [--quick]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/vfio.h>

#include <tcemu/host.h>

#include "bench.h"

static const char one_pe[] =
	"phb 0 ioda3\n"
	"  pe 0\n"
	"    device 0000:01:00.0\n";

static void die(const char *what, long rc)
{
	fprintf(stderr, "bench_host: %s: %ld\n", what, rc);
	exit(1);
}

enum mode { FORK, HOST_DEFAULT, HOST_CONTAINER, HOST_ONE_PE, NMODES };

static struct tcemu_host *create(const char *text)
{
	struct tcemu_host_opts o = { .memlock_set = true, .memlock = UINT64_MAX };
	struct tcemu_host *h;
	int rc;

	o.platform.topology_text = text;
	rc = tcemu_host_create(&o, &h);
	if (rc)
		die("tcemu_host_create", rc);
	return h;
}

static void one(enum mode m)
{
	struct tcemu_host *h;
	int c, g;
	long rc;
	pid_t pid;

	switch (m) {
	case FORK:
		pid = fork();
		if (pid < 0)
			die("fork", -1);
		if (pid == 0)
			_exit(0);
		if (waitpid(pid, NULL, 0) != pid)
			die("waitpid", -1);
		break;
	case HOST_DEFAULT:
	case HOST_ONE_PE:
		tcemu_host_destroy(create(m == HOST_ONE_PE ? one_pe : NULL));
		break;
	case HOST_CONTAINER:
		h = create(NULL);
		if ((rc = tcemu_host_open(h, "/dev/vfio/vfio", 2, &c)) || (rc = tcemu_host_open(h, "/dev/vfio/0", 2, &g)) ||
		    (rc = tcemu_host_ioctl(h, g, VFIO_GROUP_SET_CONTAINER, &c)) ||
		    (rc = tcemu_host_ioctl(h, c, VFIO_SET_IOMMU, (void *)VFIO_SPAPR_TCE_v2_IOMMU)))
			die("container", rc);
		tcemu_host_close(h, g);
		tcemu_host_close(h, c);
		tcemu_host_destroy(h);
		break;
	case NMODES:
		break;
	}
}

int main(int argc, char **argv)
{
	static const char *names[NMODES] = {
		"fork + waitpid (reference)", "host, default topology", "  + v2 container, group", "host, one PE",
	};
	bool quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
	unsigned iters = quick ? 200 : 2000, rounds = quick ? 3 : 7;
	double best[NMODES];

	for (int m = 0; m < NMODES; m++) {
		best[m] = 1e9;
		one((enum mode)m); /* warm up */
	}
	/* the variants interleaved, best of several rounds */
	for (unsigned r = 0; r < rounds; r++) {
		for (int m = 0; m < NMODES; m++) {
			double t0 = bench_now();

			for (unsigned i = 0; i < iters; i++)
				one((enum mode)m);
			double us = (bench_now() - t0) / iters * 1e6;
			if (us < best[m])
				best[m] = us;
		}
	}
	printf("bench_host: create + destroy, %u cycles x %u rounds (best)\n", iters, rounds);
	for (int m = 0; m < NMODES; m++)
		printf("  %-28s %8.1f us  ratio %.2f%s\n", names[m], best[m], best[m] / best[FORK],
		       m == HOST_DEFAULT ? (best[m] <= 100.0 ? "  (goal <= 100 us: met)" : "  (goal <= 100 us: NOT met)")
					 : "");
	return 0;
}
