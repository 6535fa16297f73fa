/* SPDX-License-Identifier: MIT */
/*
 * sPAPR TCE backend (spapr.h): many pre-registered regions and their teardown, and the memory
 * checks behind REGISTER (vfio/probe.c).
 *
 * - registrations and unregistrations of thousands of regions in random order against a model,
 *   then a container closed with regions left: every region and every byte goes back;
 * - 131072 one-page regions (DPDK's --no-huge -m 512) dropped by closing the container, alone and
 *   with a second container sharing part of them: the accounting returns to zero;
 * - the refusal of unmapped and read-only memory, through both ways probe_range has of asking
 *   (the PROCMAP_QUERY ioctl and the maps file), including mappings changed between calls, a
 *   forked child and a client that closed the probe's descriptor behind its back.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <tcemu/memory.h>

#include "spapr.h"
#include "vfio/probe.h"

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
	return *s;
}

static void shuffle(unsigned *a, unsigned n, uint64_t *seed)
{
	for (unsigned i = n - 1; i > 0; i--) {
		unsigned j = (unsigned)(xorshift(seed) % (i + 1)), t = a[i];

		a[i] = a[j], a[j] = t;
	}
}

static long open_unlimited(struct fx_vfio *f)
{
	struct tcemu_host_opts o = fx_host_opts();

	o.memlock_set = true;
	o.memlock = UINT64_MAX;
	return fx_open_opts(f, &o, 0, V2);
}

static uint64_t pins(struct tcemu_host *h)
{
	struct tcemu_memory_stats ms;

	tcemu_memory_stats(tcemu_host_memory(h), &ms);
	return ms.pins;
}

/*
 * Slots of 4 pages, each holding at most one region of 1 to 3 pages at a random offset: random
 * registers and unregisters (refused ones included), checked after every round against the model
 * through the host's region list and maps of the first and last page of each region.
 */
TEST(prereg_random_register_unregister_model)
{
	enum { SLOTS = 4096, SLOT_PAGES = 4, ROUNDS = 6 };
	static struct { uint32_t first, len; bool live; } slot[SLOTS];
	static unsigned order[SLOTS];
	struct tcemu_region_info *ri = calloc(SLOTS, sizeof(*ri));
	uint8_t *mem = umem(SLOTS * SLOT_PAGES * 4096ull);
	uint64_t seed = 0x2545f4914f6cdd1dull, bytes = 0;
	struct fx_vfio f;
	unsigned live = 0;

	CHECK(ri && mem);
	CHECK_EQ(open_unlimited(&f), 0); /* the default window is charged at the first map */
	for (unsigned i = 0; i < SLOTS; i++)
		order[i] = i;
	for (unsigned round = 0; round < ROUNDS; round++) {
		shuffle(order, SLOTS, &seed);
		for (unsigned i = 0; i < SLOTS; i++) {
			unsigned k = order[i];
			uint8_t *base = mem + k * SLOT_PAGES * 4096ull;

			if (slot[k].live && xorshift(&seed) % 2) {
				uint8_t *va = base + slot[k].first * 4096ull;

				/* A part of it, or a different size, is not the region. */
				CHECK_EQ(unreg(&f, va, slot[k].len * 4096ull + 4096), -ENOENT);
				CHECK_EQ(unreg(&f, va, slot[k].len * 4096ull), 0);
				slot[k].live = false;
				live--;
				bytes -= slot[k].len * 4096ull;
			} else if (!slot[k].live && xorshift(&seed) % 3) {
				slot[k].first = (uint32_t)(xorshift(&seed) % SLOT_PAGES);
				slot[k].len = 1 + (uint32_t)(xorshift(&seed) % (SLOT_PAGES - slot[k].first));
				CHECK_EQ(reg(&f, base + slot[k].first * 4096ull, slot[k].len * 4096ull), 0);
				slot[k].live = true;
				live++;
				bytes += slot[k].len * 4096ull;
			} else if (slot[k].live) {
				/* Overlapping a live region (or being it): refused, nothing changes. */
				bool same = slot[k].first == 0 && slot[k].len == SLOT_PAGES;

				CHECK_EQ(reg(&f, base, SLOT_PAGES * 4096ull), (same ? -EBUSY : -EINVAL));
			}
		}
		CHECK_EQ(nregions(f.h), (ssize_t)live);
		CHECK_U64(locked(f.h), bytes);
		CHECK_EQ(cinfo(&f).nregions, live);
		CHECK_EQ(tcemu_host_regions(f.h, getpid(), ri, SLOTS), (ssize_t)live);
		for (unsigned k = 0, r = 0; k < SLOTS; k++) {
			uint8_t *va = mem + (k * SLOT_PAGES + slot[k].first) * 4096ull;

			if (!slot[k].live)
				continue;
			CHECK_U64(ri[r].ua, (uintptr_t)va);
			CHECK_U64(ri[r].size, slot[k].len * 4096ull);
			r++;
		}
	}
	for (unsigned k = 0; k < SLOTS; k += 7) {
		uint8_t *va = mem + (k * SLOT_PAGES + slot[k].first) * 4096ull;
		uint8_t *last = va + (slot[k].len - 1) * 4096ull;

		if (!slot[k].live) {
			CHECK_EQ(map_rw(&f, va, 0, 4096), -EINVAL);
			continue;
		}
		CHECK_EQ(map_rw(&f, va, 0, 4096), 0);
		CHECK_EQ(map_rw(&f, last, 4096, 4096), 0);
		/* One page past its end: refused unless the next slot's region starts right there. */
		bool next = slot[k].first + slot[k].len == SLOT_PAGES && k + 1 < SLOTS && slot[k + 1].live &&
			    slot[k + 1].first == 0;

		CHECK_EQ(map_rw(&f, va, 8192, slot[k].len * 4096ull + 4096), (next ? 0 : -EINVAL));
		CHECK_EQ(unmap(&f, 0, 8192), 0);
	}
	/* Closing with regions left drops them all. */
	fx_vfio_close(&f);
	CHECK(host_is_clean(f.h));
	CHECK_U64(pins(f.h), 0);
	fx_host_done(f.h);
	free(ri);
}

enum { MANY = 131072 };

/* 131072 one-page regions (DPDK --no-huge -m 512), dropped by closing the container. */
TEST(prereg_teardown_128k_regions)
{
	uint8_t *mem = umem(MANY * 4096ull);
	struct tcemu_host_stats st;
	struct fx_vfio f;
	unsigned failed = 0;

	CHECK(mem);
	CHECK_EQ(open_unlimited(&f), 0);
	for (unsigned i = 0; i < MANY; i++)
		failed += reg(&f, mem + i * 4096ull, 4096) != 0;
	CHECK_EQ(failed, 0);
	CHECK_EQ(nregions(f.h), MANY);
	CHECK_U64(locked(f.h), MANY * 4096ull);
	CHECK_U64(pins(f.h), MANY);
	tcemu_host_stats(f.h, &st);
	CHECK_U64(st.regions_registered, MANY);
	fx_vfio_close(&f);
	CHECK(host_is_clean(f.h));
	CHECK_U64(pins(f.h), 0);
	tcemu_host_stats(f.h, &st);
	CHECK_U64(st.regions_peak, MANY);
	fx_host_done(f.h);
}

/*
 * Two containers of one process: a registers every page, b every third page (shared with a) and
 * pages of its own. Closing a leaves exactly b's regions, usable; closing b leaves nothing.
 */
TEST(prereg_teardown_shared_regions)
{
	enum { N = 16384 };
	struct tcemu_host *h = fx_host_new(&(struct tcemu_host_opts){ .memlock_set = true, .memlock = UINT64_MAX });
	uint8_t *mem = umem(2 * N * 4096ull);
	struct tcemu_region_info *ri = calloc(2 * N, sizeof(*ri));
	struct fx_vfio a, b;
	unsigned nb = 0;

	CHECK(mem && ri);
	CHECK_EQ(fx_vfio_attach(&a, h, 0, V2), 0);
	CHECK_EQ(fx_vfio_attach(&b, h, 1, V2), 0);
	for (unsigned i = 0; i < N; i++)
		CHECK_EQ(reg(&a, mem + i * 4096ull, 4096), 0);
	for (unsigned i = 0; i < 2 * N; i += 3, nb++)
		CHECK_EQ(reg(&b, mem + i * 4096ull, 4096), 0);
	CHECK_EQ(nregions(h), N + (ssize_t)(nb - (N + 2) / 3));
	fx_vfio_close(&a);
	CHECK_EQ(nregions(h), nb);
	CHECK_U64(locked(h), nb * 4096ull);
	CHECK_EQ(cinfo(&b).nregions, nb);
	CHECK_EQ(tcemu_host_regions(h, getpid(), ri, 2 * N), nb);
	for (unsigned r = 0; r < nb; r++) {
		CHECK_U64(ri[r].ua, (uintptr_t)mem + r * 3 * 4096ull);
		CHECK_U64(ri[r].size, 4096);
		CHECK_EQ(ri[r].users, 1);
	}
	for (unsigned i = 0; i < 2 * N; i += 37) {
		CHECK_EQ(map_rw(&b, mem + i * 4096ull, 0, 4096), (i % 3 == 0 ? 0 : -EINVAL));
		CHECK_EQ(unmap(&b, 0, 4096), 0);
	}
	fx_vfio_close(&b);
	CHECK(host_is_clean(h));
	CHECK_U64(pins(h), 0);
	fx_host_done(h);
	free(ri);
}

/* The refusals, asked both ways; mappings changed between calls are seen. */
static void refusals(bool query)
{
	uint8_t *mem = umem(4 * MiB), *ro = fx_umem(MiB, MiB, PROT_READ);
	uint32_t shift = 0;
	struct fx_vfio f;

	probe_use_query(query);
	CHECK(mem && ro);
	CHECK_EQ(fx_vfio_open(&f, 0, V2), 0);
	CHECK_EQ(reg(&f, ro, MiB), -EFAULT);
	CHECK_EQ(reg(&f, ro, 4096), -EFAULT);
	CHECK_EQ(probe_range((uintptr_t)ro, MiB, false, &shift), 0); /* readable: fine for a read */
	CHECK_EQ(shift, 12);
	/* Three mappings with the same access (the middle one executable too): one region. */
	CHECK_EQ(mprotect(mem + MiB, 4096, PROT_READ | PROT_WRITE | PROT_EXEC), 0);
	CHECK_EQ(reg(&f, mem, 2 * MiB), 0);
	CHECK_EQ(unreg(&f, mem, 2 * MiB), 0);
	/* Made read-only after an unregister: refused from then on. */
	CHECK_EQ(mprotect(mem + MiB + 8192, 4096, PROT_READ), 0);
	CHECK_EQ(reg(&f, mem, 2 * MiB), -EFAULT);
	CHECK_EQ(reg(&f, mem + MiB + 8192, 4096), -EFAULT);
	CHECK_EQ(mprotect(mem + MiB + 8192, 4096, PROT_READ | PROT_WRITE), 0);
	CHECK_EQ(reg(&f, mem + MiB + 8192, 4096), 0);
	CHECK_EQ(unreg(&f, mem + MiB + 8192, 4096), 0);
	/* Unmapped, in the middle and at either end; then mapped again at the same place. */
	CHECK_EQ(munmap(mem + 3 * MiB, 4096), 0);
	CHECK_EQ(reg(&f, mem + 2 * MiB, 2 * MiB), -EFAULT);
	CHECK_EQ(reg(&f, mem + 3 * MiB, 4096), -EFAULT);
	CHECK_EQ(reg(&f, mem + 3 * MiB - 4096, 8192), -EFAULT);
	CHECK_EQ(reg(&f, mem + 3 * MiB, 8192), -EFAULT);
	CHECK_EQ(nregions(f.h), 0);
	CHECK_U64(locked(f.h), 0);
	CHECK(mmap(mem + 3 * MiB, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) ==
	      mem + 3 * MiB);
	CHECK_EQ(reg(&f, mem + 2 * MiB, 2 * MiB), 0);
	CHECK_EQ(nregions(f.h), 1);
	/* PROT_NONE is mapped but not accessible. */
	CHECK_EQ(mprotect(mem + 8192, 4096, PROT_NONE), 0);
	CHECK_EQ(reg(&f, mem, 16384), -EFAULT);
	CHECK_EQ(probe_range((uintptr_t)mem + 8192, 4096, false, &shift), -EFAULT);
	/* Wrapping or empty ranges. */
	CHECK_EQ(probe_range(UINT64_MAX - 4095, 8192, false, &shift), -EFAULT);
	CHECK_EQ(probe_range((uintptr_t)mem, 0, false, &shift), -EFAULT);
	fx_vfio_close(&f);
	CHECK(host_is_clean(f.h));
	fx_host_done(f.h);
	probe_use_query(true);
}

TEST(probe_refusals_query)
{
	refusals(true);
}

TEST(probe_refusals_maps_file)
{
	refusals(false);
}

/* Both ways give the same answers over a range of mixed mappings. */
TEST(probe_query_matches_maps_file)
{
	uint8_t *mem = umem(64 * 4096);
	uint64_t seed = 0x853c49e6748fea9bull;

	CHECK(mem);
	for (unsigned i = 0; i < 64; i++) {
		uint64_t r = xorshift(&seed) % 8;

		if (r == 0)
			CHECK_EQ(munmap(mem + i * 4096ull, 4096), 0);
		else if (r == 1)
			CHECK_EQ(mprotect(mem + i * 4096ull, 4096, PROT_READ), 0);
		else if (r == 2)
			CHECK_EQ(mprotect(mem + i * 4096ull, 4096, PROT_NONE), 0);
	}
	for (unsigned a = 0; a < 64; a++) {
		for (unsigned n = 1; a + n <= 64; n += 1 + n / 4) {
			for (int w = 0; w < 2; w++) {
				uint32_t s1 = 0, s2 = 0;
				int r1, r2;

				probe_use_query(true);
				r1 = probe_range((uintptr_t)mem + a * 4096ull, n * 4096ull, w, &s1);
				probe_use_query(false);
				r2 = probe_range((uintptr_t)mem + a * 4096ull, n * 4096ull, w, &s2);
				CHECK_EQ(r1, r2);
				if (r1 == 0)
					CHECK_EQ(s1, s2);
			}
		}
	}
	probe_use_query(true);
}

/* A forked child has its own mappings: the probe must not answer with the parent's. */
TEST(probe_after_fork)
{
	uint8_t *mem = umem(MiB);
	uint32_t shift;
	pid_t pid;
	int status = -1;

	CHECK(mem);
	CHECK_EQ(probe_range((uintptr_t)mem, MiB, true, &shift), 0); /* the parent's descriptor is open */
	pid = fork();
	if (pid == 0) {
		int bad = 0;
		uint8_t *mine;

		/* Unmapped in the child only, then mapped in the child only. */
		bad |= munmap(mem, 4096) != 0;
		bad |= probe_range((uintptr_t)mem, 4096, false, &shift) != -EFAULT;
		bad |= probe_range((uintptr_t)mem + 4096, 4096, true, &shift) != 0;
		mine = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		bad |= mine == MAP_FAILED || probe_range((uintptr_t)mine, 4096, true, &shift) != 0;
		_exit(bad);
	}
	CHECK(pid > 0);
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* The parent still sees its own mappings. */
	CHECK_EQ(probe_range((uintptr_t)mem, 4096, true, &shift), 0);
}

/* The descriptor numbers that name this process's maps file. */
static unsigned maps_fds(int *out, unsigned max)
{
	char want[64], path[300], got[64];
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	unsigned n = 0;

	snprintf(want, sizeof(want), "/proc/%d/maps", (int)getpid());
	while (d && (e = readdir(d))) {
		ssize_t len;

		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		len = readlink(path, got, sizeof(got) - 1);
		if (len <= 0)
			continue;
		got[len] = 0;
		if (strcmp(got, want) == 0 && n < max)
			out[n++] = atoi(e->d_name);
	}
	if (d)
		closedir(d);
	return n;
}

/* A client that closes the probe's descriptor and reuses its number: answers stay right. */
TEST(probe_descriptor_closed_by_client)
{
	uint8_t *mem = umem(MiB);
	uint32_t shift;
	int fds[8], null;
	unsigned n;

	CHECK(mem);
	probe_use_query(true);
	CHECK_EQ(probe_range((uintptr_t)mem, MiB, true, &shift), 0);
	n = maps_fds(fds, 8);
	if (n == 0) {
		printf("# no maps descriptor kept (no PROCMAP_QUERY on this kernel): nothing to close\n");
		return;
	}
	CHECK_EQ(n, 1);
	CHECK_EQ(close(fds[0]), 0);
	CHECK_EQ(probe_range((uintptr_t)mem, MiB, true, &shift), 0);
	CHECK_EQ(munmap(mem + 4096, 4096), 0);
	CHECK_EQ(probe_range((uintptr_t)mem, MiB, true, &shift), -EFAULT);
	/* The number now names another file: the probe must neither use it nor close it. */
	n = maps_fds(fds, 8);
	CHECK_EQ(n, 1);
	CHECK_EQ(close(fds[0]), 0);
	null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	CHECK_EQ(null, fds[0]);
	CHECK_EQ(probe_range((uintptr_t)mem, 4096, true, &shift), 0);
	CHECK_EQ(probe_range((uintptr_t)mem + 4096, 4096, true, &shift), -EFAULT);
	CHECK(fcntl(null, F_GETFD) >= 0);
	close(null);
}

HARNESS_MAIN(T(prereg_random_register_unregister_model), T(prereg_teardown_128k_regions),
	     T(prereg_teardown_shared_regions), T(probe_refusals_query), T(probe_refusals_maps_file),
	     T(probe_query_matches_maps_file), T(probe_after_fork), T(probe_descriptor_closed_by_client))
