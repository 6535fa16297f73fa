/* SPDX-License-Identifier: MIT */
/*
 * Fuzz harness: the topology parser (src/core/topology.c) on text typed by hand.
 *
 * The input is the text. A refused text must come with a one-line message naming the text
 * ("fuzz:LINE: ..."). An accepted one must describe a platform the rest of tcemu can build:
 * unique PHB indexes, domains, group numbers and addresses, PE numbers below the profile's count,
 * devices in their PHB's domain, power-of-two BARs, symmetric cables to virtio-net ports. Then the
 * round trip: the parsed topology written back as text (every value explicit) parses to the same
 * topology, which writes the same text. Last, a host is built on it (unless it names a disk image:
 * a fuzzer must not open files, or is too big to build quickly) and its invariants checked.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tcemu/devmodel.h>

#include "core/topology.h"
#include "fuzz.h"
#include "vfio/check.h"

#define MAX_BUILT_PES 64
#define MAX_BUILT_DISK (64ull << 20)

struct out {
	char *buf;
	size_t len, cap;
};

__attribute__((format(printf, 2, 3))) static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
		va_end(ap);
		if (n < 0)
			fz_fail("vsnprintf");
		if ((size_t)n < o->cap - o->len)
			break;
		o->cap = (o->cap + (size_t)n + 1) * 2;
		o->buf = realloc(o->buf, o->cap);
		if (!o->buf)
			fz_fail("out of memory");
	}
	o->len += (size_t)n;
}

/* The slots a model's own BARs take (the upper half of a 64-bit one too). */
static unsigned model_slots(const struct tcemu_model_type *m)
{
	unsigned used = 0;

	for (unsigned n = 0; m && n < 6; n++)
		if (m->bar_size[n]) {
			used |= 1u << n;
			if (m->bar_flags[n] & TCEMU_BAR_MEM64)
				used |= 1u << (n + 1);
		}
	return used;
}

/* The topology as text, every value explicit. */
static char *write_topology(const struct tcemu_topology *t)
{
	static const char *profiles[] = { [TCEMU_PROFILE_IODA1] = "ioda1", [TCEMU_PROFILE_IODA2] = "ioda2",
					  [TCEMU_PROFILE_IODA3] = "ioda3" };
	struct out o = { .buf = malloc(256), .cap = 256 };

	if (!o.buf)
		fz_fail("out of memory");
	put(&o, "# written back\n");
	if (t->sys_page_shift)
		put(&o, "page-size %s\n", t->sys_page_shift == 16 ? "64K" : "4K");
	if (t->memlock_set) {
		if (t->memlock == UINT64_MAX)
			put(&o, "memlock unlimited\n");
		else
			put(&o, "memlock %llu\n", (unsigned long long)t->memlock);
	}
	for (size_t i = 0; i < t->nphbs; i++) {
		const struct tcemu_topo_phb *phb = &t->phbs[i];

		put(&o, "phb %u %s domain=0x%x dma32=%llu\n", phb->index, profiles[phb->profile], phb->domain,
		    (unsigned long long)phb->dma32_size);
		for (size_t j = 0; j < phb->npes; j++) {
			const struct tcemu_topo_pe *pe = &phb->pes[j];

			put(&o, "  pe %u group=%u\n", pe->pe_number, pe->group);
			for (size_t k = 0; k < pe->ndevices; k++) {
				const struct tcemu_topo_device *d = &pe->devices[k];
				unsigned taken = model_slots(d->model);

				put(&o, "    device %s vendor=%x device=%x class=%x subsys-vendor=%x subsys-device=%x", d->bdf,
				    d->vendor, d->device, d->class_code, d->subsys_vendor, d->subsys_device);
				for (unsigned n = 0; n < 6; n++) {
					const struct tcemu_topo_bar *b = &d->bars[n];

					if (!b->size || (taken & (1u << n)))
						continue;
					put(&o, " bar%u=%llu,%s%s%s", n, (unsigned long long)b->size,
					    b->flags & TCEMU_BAR_IO ? "io" : b->flags & TCEMU_BAR_MEM64 ? "mem64" : "mem32",
					    b->flags & TCEMU_BAR_PREFETCH ? ",prefetch" : "", b->flags & TCEMU_BAR_MMAP ? ",mmap" : "");
				}
				if (d->rom_size)
					put(&o, " rom=%llu", (unsigned long long)d->rom_size);
				if (d->model)
					put(&o, " model=%s", d->model->name);
				if (d->link[0])
					put(&o, " link=%s", d->link);
				if (d->disk)
					put(&o, " disk=%s", d->disk);
				if (d->disk_size)
					put(&o, " size=%llu", (unsigned long long)d->disk_size);
				put(&o, "\n");
			}
		}
	}
	return o.buf;
}

static const struct tcemu_topo_device *device_named(const struct tcemu_topology *t, const char *bdf)
{
	for (size_t i = 0; i < t->nphbs; i++)
		for (size_t j = 0; j < t->phbs[i].npes; j++)
			for (size_t k = 0; k < t->phbs[i].pes[j].ndevices; k++)
				if (!strcmp(t->phbs[i].pes[j].devices[k].bdf, bdf))
					return &t->phbs[i].pes[j].devices[k];
	return NULL;
}

/* What an accepted topology promises; counts its PEs and whether it names a disk image. */
static void check_topology(const struct tcemu_topology *t, size_t *npes, bool *disk, uint64_t *disk_bytes)
{
	*npes = 0;
	*disk = false;
	*disk_bytes = 0;
	if (t->sys_page_shift && t->sys_page_shift != 12 && t->sys_page_shift != 16)
		fz_fail("page shift %u", t->sys_page_shift);
	for (size_t i = 0; i < t->nphbs; i++) {
		const struct tcemu_topo_phb *phb = &t->phbs[i];
		const struct tcemu_profile_info *pi = tcemu_profile_info(phb->profile);

		if (!pi)
			fz_fail("phb %u: profile %d", phb->index, (int)phb->profile);
		if (phb->dma32_size < (1u << 20) || phb->dma32_size > (4ull << 30) ||
		    (phb->dma32_size & (phb->dma32_size - 1)))
			fz_fail("phb %u: dma32 %llu", phb->index, (unsigned long long)phb->dma32_size);
		for (size_t i2 = 0; i2 < i; i2++)
			if (t->phbs[i2].index == phb->index || t->phbs[i2].domain == phb->domain)
				fz_fail("phbs %zu and %zu share an index or a domain", i2, i);
		for (size_t j = 0; j < phb->npes; j++) {
			const struct tcemu_topo_pe *pe = &phb->pes[j];

			(*npes)++;
			if (pe->pe_number >= pi->max_pes || !pe->ndevices)
				fz_fail("phb %u pe %u: number or no device", phb->index, pe->pe_number);
			for (size_t j2 = 0; j2 < j; j2++)
				if (phb->pes[j2].pe_number == pe->pe_number)
					fz_fail("phb %u: pe %u twice", phb->index, pe->pe_number);
			for (size_t i2 = 0; i2 <= i; i2++)
				for (size_t j2 = 0; j2 < (i2 == i ? j : t->phbs[i2].npes); j2++)
					if (t->phbs[i2].pes[j2].group == pe->group)
						fz_fail("group %u twice", pe->group);
			for (size_t k = 0; k < pe->ndevices; k++) {
				const struct tcemu_topo_device *d = &pe->devices[k];
				unsigned dom, bus, dev, fn;
				char canon[16];

				if (memchr(d->bdf, '\0', sizeof(d->bdf)) == NULL ||
				    sscanf(d->bdf, "%4x:%2x:%2x.%1x", &dom, &bus, &dev, &fn) != 4 || dom != phb->domain ||
				    dev > 0x1f || fn > 7)
					fz_fail("device '%.16s' in domain %x", d->bdf, phb->domain);
				snprintf(canon, sizeof(canon), "%04x:%02x:%02x.%x", dom, bus, dev, fn);
				if (strcmp(canon, d->bdf) || device_named(t, d->bdf) != d)
					fz_fail("device %s: not canonical or not unique", d->bdf);
				for (unsigned n = 0; n < 6; n++)
					if (d->bars[n].size & (d->bars[n].size - 1))
						fz_fail("device %s bar%u: size %llu", d->bdf, n, (unsigned long long)d->bars[n].size);
				if (d->link[0]) {
					const struct tcemu_topo_device *peer = device_named(t, d->link);

					if (!peer || peer == d || !d->model || peer->model != d->model ||
					    strcmp(peer->link, d->bdf))
						fz_fail("device %s: link %s is not a cable between two virtio-net ports", d->bdf,
							d->link);
				}
				if (d->disk)
					*disk = true;
				*disk_bytes += d->disk_size ? d->disk_size : (d->model ? (64ull << 20) : 0);
			}
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tcemu_topology *t = NULL, *t2 = NULL;
	char err[512], *text, *text2;
	size_t npes;
	bool disk;
	uint64_t disk_bytes;
	int rc;

	memset(err, 0x7f, sizeof(err));
	rc = tcemu_topology_parse((const char *)data, size, "fuzz", &t, err, sizeof(err));
	if (rc) {
		if (t)
			fz_fail("a refused topology was returned");
		if (!memchr(err, '\0', sizeof(err)) || strncmp(err, "fuzz", 4) || strchr(err, '\n'))
			fz_fail("refused (%d) without a one-line message naming the text: '%.100s'", rc, err);
		return 0;
	}
	check_topology(t, &npes, &disk, &disk_bytes);
	text = write_topology(t);
	rc = tcemu_topology_parse(text, strlen(text), "written", &t2, err, sizeof(err));
	if (rc)
		fz_fail("the topology written back is refused: %s\n%s", err, text);
	text2 = write_topology(t2);
	if (strcmp(text, text2))
		fz_fail("the round trip changed the topology:\n%s---\n%s", text, text2);
	free(text2);
	tcemu_topology_free(t2);
	tcemu_topology_free(t);
	if (!disk && npes <= MAX_BUILT_PES && disk_bytes <= MAX_BUILT_DISK) {
		struct tcemu_host_opts o = { .memlock_set = true, .memlock = UINT64_MAX };
		struct tcemu_host *h;

		o.platform.topology_text = text;
		rc = tcemu_host_create(&o, &h);
		if (rc)
			fz_fail("no host on an accepted topology: %d\n%s", rc, text);
		fz_check_host(h, TCEMU_CHECK_NO_GUEST, "after creation");
		fz_teardown(h, TCEMU_CHECK_NO_GUEST);
	}
	free(text);
	return 0;
}
