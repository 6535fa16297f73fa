/* SPDX-License-Identifier: MIT */
/* Tests of the topology parser (src/topology.c, format in docs/topology.md). */
#include <errno.h>
#include <stdint.h>
#include <unistd.h>

#include "harness.h"
#include "core/topology.h"

#define PARSE(text, out, err) tcemu_topology_parse((text), strlen(text), "t", (out), (err), sizeof(err))

/* A minimal valid topology to build cases from. */
#define PHB0 "phb 0 ioda3\n"
#define PE1 "pe 1\n"
#define DEV0 "device 0000:01:00.0\n"
#define GOOD PHB0 PE1 DEV0

static const struct tcemu_topo_device *dev_of(const struct tcemu_topology *t, size_t phb, size_t pe)
{
	return &t->phbs[phb].pes[pe].devices[0];
}

TEST(default_text)
{
	static const uint32_t pe_numbers[2][4] = { { 1, 2, 3, 4 }, { 1, 2 } };
	struct tcemu_topology *t = NULL;
	char err[256];
	const char *text = tcemu_topology_default_text();
	uint32_t group = 0;

	CHECK(text != NULL);
	CHECK_EQ(tcemu_topology_parse(text, strlen(text), "default", &t, err, sizeof(err)), 0);
	CHECK_STR(err, "");
	CHECK_EQ(t->sys_page_shift, 12);
	CHECK(!t->memlock_set);
	CHECK_EQ(t->nphbs, 2);
	CHECK_EQ(t->phbs[0].index, 0);
	CHECK_EQ(t->phbs[0].domain, 0);
	CHECK_EQ(t->phbs[0].profile, TCEMU_PROFILE_IODA3);
	CHECK_U64(t->phbs[0].dma32_size, 2147483648ull);
	CHECK_EQ(t->phbs[0].npes, 4);
	CHECK_EQ(t->phbs[1].index, 1);
	CHECK_EQ(t->phbs[1].domain, 1);
	CHECK_EQ(t->phbs[1].profile, TCEMU_PROFILE_IODA2);
	CHECK_U64(t->phbs[1].dma32_size, 2147483648ull);
	CHECK_EQ(t->phbs[1].npes, 2);
	for (size_t i = 0; i < 2; i++) {
		for (size_t j = 0; j < t->phbs[i].npes; j++) {
			const struct tcemu_topo_pe *pe = &t->phbs[i].pes[j];
			const struct tcemu_topo_device *d = &pe->devices[0];
			char bdf[16];

			CHECK_EQ(pe->pe_number, pe_numbers[i][j]);
			CHECK_EQ(pe->group, group++);
			CHECK_EQ(pe->ndevices, 1);
			snprintf(bdf, sizeof(bdf), "%04zx:%02x:00.0", i, pe_numbers[i][j]);
			CHECK_STR(d->bdf, bdf);
			CHECK_U64(d->rom_size, 0);
			if (pe->group < 3) { /* groups 0-2: the models (checked below) */
				CHECK(d->model != NULL);
				continue;
			}
			CHECK(d->model == NULL);
			CHECK_EQ(d->vendor, 0x1b36);
			CHECK_EQ(d->device, 0x0005);
			CHECK_EQ(d->class_code, 0x00ff00);
			CHECK_EQ(d->subsys_vendor, 0x1b36);
			CHECK_EQ(d->subsys_device, 0);
			CHECK_U64(d->bars[0].size, 16384);
			CHECK_EQ(d->bars[0].flags, TCEMU_BAR_MEM64);
			CHECK_U64(d->bars[1].size, 0);
			CHECK_U64(d->bars[2].size, 1048576);
			CHECK_EQ(d->bars[2].flags, TCEMU_BAR_MEM64 | TCEMU_BAR_PREFETCH | TCEMU_BAR_MMAP);
			for (int b = 3; b < 6; b++)
				CHECK_U64(d->bars[b].size, 0);
		}
	}
	/* groups 0 and 1: virtio-net ports cabled to each other; group 2: a 64M virtio-blk memory disk */
	for (size_t j = 0; j < 3; j++) {
		const struct tcemu_topo_device *d = dev_of(t, 0, j);

		CHECK_STR(d->model->name, j < 2 ? "virtio-net" : "virtio-blk");
		CHECK_EQ(d->vendor, 0x1af4);
		CHECK_EQ(d->device, j < 2 ? 0x1000 : 0x1001);
		CHECK_EQ(d->class_code, j < 2 ? 0x020000 : 0x010000);
		CHECK_EQ(d->subsys_vendor, 0x1af4);
		CHECK_EQ(d->subsys_device, j < 2 ? 1 : 2);
		CHECK_EQ(d->bars[0].flags, TCEMU_BAR_IO);
		CHECK_U64(d->bars[0].size, j < 2 ? 64 : 128);
		CHECK_EQ(d->bars[1].flags, TCEMU_BAR_MMAP);
		CHECK_EQ(d->bars[4].flags, TCEMU_BAR_MEM64);
		CHECK(d->disk == NULL);
	}
	CHECK_STR(dev_of(t, 0, 0)->link, "0000:02:00.0");
	CHECK_STR(dev_of(t, 0, 1)->link, "0000:01:00.0");
	CHECK_U64(dev_of(t, 0, 2)->disk_size, 64ull << 20);
	tcemu_topology_free(t);
}

TEST(every_option)
{
	static const char text[] =
		"page-size 64K\n"
		"memlock 512M\n"
		"phb 7 IODA1 domain=0x20 dma32=256M\n"
		"pe 127 group=9\n"
		"device 0020:0A:1F.7 vendor=8086 device=0x10FB class=0x020000 subsys-vendor=0x1028 "
		"subsys-device=1f0c bar0=32,io bar1=4K bar2=64K,mem64,prefetch,mmap bar4=2G,mem32,mmap "
		"bar5=256,io,mmap rom=64K\n"
		"device 0020:0a:00.1\n"
		"phb 65535 ioda2 domain=65535 dma32=4G\n"
		"pe 255\n"
		"device ffff:ff:00.0 bar4=1T,mem64\n";
	struct tcemu_topology *t = NULL;
	const struct tcemu_topo_device *d;
	char err[256];

	CHECK_EQ(PARSE(text, &t, err), 0);
	CHECK_EQ(t->sys_page_shift, 16);
	CHECK(t->memlock_set);
	CHECK_U64(t->memlock, 512ull << 20);
	CHECK_EQ(t->nphbs, 2);
	CHECK_EQ(t->phbs[0].index, 7);
	CHECK_EQ(t->phbs[0].domain, 0x20);
	CHECK_EQ(t->phbs[0].profile, TCEMU_PROFILE_IODA1);
	CHECK_U64(t->phbs[0].dma32_size, 256ull << 20);
	CHECK_EQ(t->phbs[0].line, 3);
	CHECK_EQ(t->phbs[0].npes, 1);
	CHECK_EQ(t->phbs[0].pes[0].pe_number, 127);
	CHECK_EQ(t->phbs[0].pes[0].group, 9);
	CHECK_EQ(t->phbs[0].pes[0].line, 4);
	CHECK_EQ(t->phbs[0].pes[0].ndevices, 2);
	d = &t->phbs[0].pes[0].devices[0];
	CHECK_STR(d->bdf, "0020:0a:1f.7");
	CHECK_EQ(d->line, 5);
	CHECK_EQ(d->vendor, 0x8086);
	CHECK_EQ(d->device, 0x10fb);
	CHECK_EQ(d->class_code, 0x020000);
	CHECK_EQ(d->subsys_vendor, 0x1028);
	CHECK_EQ(d->subsys_device, 0x1f0c);
	CHECK_U64(d->bars[0].size, 32);
	CHECK_EQ(d->bars[0].flags, TCEMU_BAR_IO);
	CHECK_U64(d->bars[1].size, 4096);
	CHECK_EQ(d->bars[1].flags, 0);
	CHECK_U64(d->bars[2].size, 65536);
	CHECK_EQ(d->bars[2].flags, TCEMU_BAR_MEM64 | TCEMU_BAR_PREFETCH | TCEMU_BAR_MMAP);
	CHECK_U64(d->bars[3].size, 0);
	CHECK_U64(d->bars[4].size, 2ull << 30);
	CHECK_EQ(d->bars[4].flags, TCEMU_BAR_MMAP);
	CHECK_U64(d->bars[5].size, 256);
	CHECK_EQ(d->bars[5].flags, TCEMU_BAR_IO | TCEMU_BAR_MMAP);
	CHECK_U64(d->rom_size, 65536);
	d = &t->phbs[0].pes[0].devices[1];
	CHECK_STR(d->bdf, "0020:0a:00.1");
	CHECK_EQ(d->line, 6);
	CHECK_EQ(t->phbs[1].index, 65535);
	CHECK_EQ(t->phbs[1].domain, 0xffff);
	CHECK_EQ(t->phbs[1].profile, TCEMU_PROFILE_IODA2);
	CHECK_U64(t->phbs[1].dma32_size, 4ull << 30);
	CHECK_EQ(t->phbs[1].pes[0].pe_number, 255);
	CHECK_EQ(t->phbs[1].pes[0].group, 0);
	d = dev_of(t, 1, 0);
	CHECK_STR(d->bdf, "ffff:ff:00.0");
	CHECK_U64(d->bars[4].size, 1ull << 40);
	CHECK_EQ(d->bars[4].flags, TCEMU_BAR_MEM64);
	tcemu_topology_free(t);
}

TEST(defaults)
{
	struct tcemu_topology *t = NULL;
	const struct tcemu_topo_device *d;
	char err[256];

	CHECK_EQ(PARSE("phb 3 ioda2\npe 0\ndevice 0003:00:00.0 vendor=abcd\n", &t, err), 0);
	CHECK_EQ(t->sys_page_shift, 0);
	CHECK(!t->memlock_set);
	CHECK_EQ(t->phbs[0].domain, 3);
	CHECK_U64(t->phbs[0].dma32_size, 2147483648ull);
	CHECK_EQ(t->phbs[0].pes[0].group, 0);
	d = dev_of(t, 0, 0);
	CHECK_EQ(d->vendor, 0xabcd);
	CHECK_EQ(d->device, 0x0005);
	CHECK_EQ(d->class_code, 0x00ff00);
	CHECK_EQ(d->subsys_vendor, 0xabcd); /* follows vendor */
	CHECK_EQ(d->subsys_device, 0);
	for (int b = 0; b < 6; b++) {
		CHECK_U64(d->bars[b].size, 0);
		CHECK_EQ(d->bars[b].flags, 0);
	}
	CHECK_U64(d->rom_size, 0);
	tcemu_topology_free(t);

	t = NULL;
	CHECK_EQ(PARSE(GOOD "memlock UNLIMITED\n", &t, err), 0);
	CHECK(t->memlock_set);
	CHECK_U64(t->memlock, UINT64_MAX);
	CHECK_EQ(dev_of(t, 0, 0)->subsys_vendor, 0x1b36);
	tcemu_topology_free(t);

	t = NULL;
	CHECK_EQ(PARSE("memlock 0\npage-size 0x1000\n" GOOD, &t, err), 0);
	CHECK(t->memlock_set);
	CHECK_U64(t->memlock, 0);
	CHECK_EQ(t->sys_page_shift, 12);
	tcemu_topology_free(t);
}

TEST(auto_groups)
{
	static const char text[] = PHB0
		"pe 1\n" DEV0
		"pe 2 group=1\n" "device 0000:02:00.0\n"
		"pe 3\n" "device 0000:03:00.0\n"
		"pe 4 group=0x3\n" "device 0000:04:00.0\n"
		"phb 1 ioda1\n"
		"pe 0\n" "device 0001:00:00.0\n"
		"pe 5 group=5\n" "device 0001:05:00.0\n"
		"pe 6\n" "device 0001:06:00.0\n"
		"pe 7 group=65535\n" "device 0001:07:00.0\n"
		"pe 8\n" "device 0001:08:00.0\n";
	static const uint32_t expect[2][5] = { { 0, 1, 2, 3 }, { 4, 5, 6, 65535, 7 } };
	struct tcemu_topology *t = NULL;
	char err[256];

	CHECK_EQ(PARSE(text, &t, err), 0);
	CHECK_EQ(t->phbs[0].npes, 4);
	CHECK_EQ(t->phbs[1].npes, 5);
	for (size_t i = 0; i < 2; i++)
		for (size_t j = 0; j < t->phbs[i].npes; j++)
			CHECK_EQ(t->phbs[i].pes[j].group, expect[i][j]);
	tcemu_topology_free(t);
}

/* Same pe numbers and bus numbers may repeat in another phb; limits just inside the range. */
TEST(limits_accepted)
{
	static const char text[] =
		"phb 0 ioda1\npe 127\ndevice 0000:00:1f.7 bar0=2G bar1=16 bar2=4,io rom=2K\n"
		"phb 1 ioda2 dma32=1M\npe 255\ndevice 0001:00:1f.7 bar4=8G,mem64\n"
		"phb 2 ioda3 dma32=0x100000000\npe 511\ndevice 0002:00:1f.7 bar0=1k,MEM64\n"
		"phb 3 ioda3 domain=99\npe 511\ndevice 0063:00:1f.7 vendor=0xffff device=ffff class=ffffff\n";
	struct tcemu_topology *t = NULL;
	char err[256];

	/* "MEM64" is not a flag (flags are lower-case) */
	CHECK_EQ(PARSE(text, &t, err), -EINVAL);
	CHECK_CONTAINS(err, "t:9: unknown bar0 flag 'MEM64'");
	CHECK(t == NULL);

	char fixed[sizeof(text)];
	memcpy(fixed, text, sizeof(text));
	memcpy(strstr(fixed, "MEM64"), "mem64", 5);
	CHECK_EQ(PARSE(fixed, &t, err), 0);
	CHECK_EQ(t->nphbs, 4);
	CHECK_U64(t->phbs[1].dma32_size, 1ull << 20);
	CHECK_U64(t->phbs[2].dma32_size, 4ull << 30);
	CHECK_EQ(t->phbs[3].domain, 99);
	CHECK_U64(dev_of(t, 0, 0)->bars[0].size, 2ull << 30);
	CHECK_U64(dev_of(t, 0, 0)->rom_size, 2048);
	CHECK_U64(dev_of(t, 2, 0)->bars[0].size, 1024);
	CHECK_EQ(dev_of(t, 3, 0)->class_code, 0xffffff);
	tcemu_topology_free(t);
}

struct error_case {
	const char *text;
	const char *prefix; /* "t:<line>: " or "t: " */
	const char *word;   /* a part of the message */
};

static const struct error_case error_cases[] = {
	/* statements */
	{ "bridge 0\n", "t:1: ", "unknown statement 'bridge'" },
	{ "PHB 0 ioda3\n", "t:1: ", "unknown statement 'PHB'" },
	{ "", "t: ", "no phb defined" },
	{ "# nothing\n\n   \n", "t: ", "no phb defined" },
	/* page-size and memlock */
	{ "page-size 4K\npage-size 4K\n" GOOD, "t:2: ", "duplicate page-size (first given at line 1)" },
	{ GOOD "page-size 4K\n", "t:4: ", "page-size must come before" },
	{ "page-size 8K\n" GOOD, "t:1: ", "unsupported page-size '8K'" },
	{ "page-size\n" GOOD, "t:1: ", "missing value for page-size" },
	{ "page-size 4K 64K\n" GOOD, "t:1: ", "unexpected token '64K'" },
	{ "page-size 4Q\n" GOOD, "t:1: ", "invalid page-size '4Q'" },
	{ "memlock 1G\n" GOOD "memlock 2G\n", "t:5: ", "duplicate memlock (first given at line 1)" },
	{ "memlock lots\n" GOOD, "t:1: ", "invalid memlock size 'lots'" },
	{ "memlock\n" GOOD, "t:1: ", "missing value for memlock" },
	{ "memlock 1G 2G\n" GOOD, "t:1: ", "unexpected token '2G'" },
	{ "memlock 16777216T\n" GOOD, "t:1: ", "memlock size '16777216T' too large" },
	{ "memlock 18446744073709551616\n" GOOD, "t:1: ", "too large" },
	/* phb */
	{ "phb\n", "t:1: ", "missing phb index" },
	{ "phb 0\n", "t:1: ", "missing profile" },
	{ "phb 0 ioda4\n", "t:1: ", "unknown profile 'ioda4' (expected ioda1, ioda2 or ioda3)" },
	{ "phb x ioda3\n", "t:1: ", "invalid phb index 'x'" },
	{ "phb -1 ioda3\n", "t:1: ", "invalid phb index '-1'" },
	{ "phb 0x ioda3\n", "t:1: ", "invalid phb index '0x'" },
	{ "phb 65536 ioda3\n", "t:1: ", "phb index '65536' out of range" },
	{ GOOD "phb 0 ioda2\n", "t:4: ", "duplicate phb 0 (first defined at line 1)" },
	{ "phb 0 ioda3 domain=1\npe 1\ndevice 0001:01:00.0\nphb 1 ioda2\n", "t:4: ", "duplicate PCI domain 0001" },
	{ GOOD "phb 1 ioda2 domain=0\n", "t:4: ", "duplicate PCI domain 0000" },
	{ "phb 0 ioda3 domain=0x10000\n", "t:1: ", "domain '0x10000' out of range" },
	{ "phb 0 ioda3 dma32=3M\n", "t:1: ", "dma32 size '3M' must be a power of two" },
	{ "phb 0 ioda3 dma32=512K\n", "t:1: ", "dma32 size '512K'" },
	{ "phb 0 ioda3 dma32=8G\n", "t:1: ", "dma32 size '8G'" },
	{ "phb 0 ioda3 dma32=0\n", "t:1: ", "dma32 size '0'" },
	{ "phb 0 ioda3 dma32=2X\n", "t:1: ", "invalid dma32 size '2X'" },
	{ "phb 0 ioda3 dma32=2GG\n", "t:1: ", "invalid dma32 size '2GG'" },
	{ "phb 0 ioda3 dma32=0x10000000000000000\n", "t:1: ", "too large" },
	{ "phb 0 ioda3 foo=1\n", "t:1: ", "unknown phb key 'foo'" },
	{ "phb 0 ioda3 domain\n", "t:1: ", "missing value for 'domain'" },
	{ "phb 0 ioda3 dma32=\n", "t:1: ", "missing value for 'dma32'" },
	{ "phb 0 ioda3 domain=1 domain=1\n", "t:1: ", "duplicate key 'domain'" },
	{ "phb 0 ioda3 extra\n", "t:1: ", "unexpected token 'extra'" },
	/* pe */
	{ "pe 1\n", "t:1: ", "pe before any phb" },
	{ PHB0 "pe\n", "t:2: ", "missing pe number" },
	{ "phb 0 ioda1\npe 128\n", "t:2: ", "ioda1 pe number '128' out of range (max 127)" },
	{ "phb 0 ioda2\npe 256\n", "t:2: ", "ioda2 pe number '256' out of range (max 255)" },
	{ "phb 0 ioda3\npe 512\n", "t:2: ", "ioda3 pe number '512' out of range (max 511)" },
	{ "phb 0 ioda3\npe 99999999999999999999\n", "t:2: ", "out of range" },
	{ GOOD "pe 1\n", "t:4: ", "duplicate pe 1 in phb 0 (first defined at line 2)" },
	{ PHB0 "pe 1 group=65536\n", "t:2: ", "group '65536' out of range (max 65535)" },
	{ PHB0 "pe 1 group=5\n" DEV0 "pe 2 group=5\n", "t:4: ", "duplicate group 5 (first used at line 2)" },
	{ PHB0 "pe 1 group\n", "t:2: ", "missing value for 'group'" },
	{ PHB0 "pe 1 group=1 group=2\n", "t:2: ", "duplicate key 'group'" },
	{ PHB0 "pe 1 grp=1\n", "t:2: ", "unknown pe key 'grp'" },
	{ PHB0 "pe 1 2\n", "t:2: ", "unexpected token '2'" },
	{ PHB0 "pe 1\npe 2\n" DEV0, "t:2: ", "pe 1 has no device" },
	{ PHB0 "pe 1\nphb 1 ioda2\n", "t:2: ", "pe 1 has no device" },
	{ GOOD "pe 2\n", "t:4: ", "pe 2 has no device" },
	/* device */
	{ PHB0 DEV0, "t:2: ", "device before any pe" },
	{ GOOD "phb 1 ioda2\ndevice 0001:01:00.0\n", "t:5: ", "device before any pe" },
	{ PHB0 PE1 "device\n", "t:3: ", "missing BDF" },
	{ PHB0 PE1 "device 0000:01:00.0 model=virtio-blk disk=32\r  \n", "t:3: ", "control character 0x0d in line" },
	{ PHB0 PE1 "device 0000:01:00.0\f\n", "t:3: ", "control character 0x0c in line" },
	{ PHB0 PE1 "device 0000:01:00\n", "t:3: ", "invalid BDF '0000:01:00'" },
	{ PHB0 PE1 "device 000:01:00.0\n", "t:3: ", "invalid BDF '000:01:00.0'" },
	{ PHB0 PE1 "device 0000:0g:00.0\n", "t:3: ", "invalid BDF '0000:0g:00.0'" },
	{ PHB0 PE1 "device 0000-01:00.0\n", "t:3: ", "invalid BDF" },
	{ PHB0 PE1 "device 0000:01:20.0\n", "t:3: ", "device number 20 above 1f" },
	{ PHB0 PE1 "device 0000:01:00.8\n", "t:3: ", "function number 8 above 7" },
	{ PHB0 PE1 "device 0001:01:00.0\n", "t:3: ", "device 0001:01:00.0 is not in PCI domain 0000" },
	{ GOOD "pe 2\n" DEV0, "t:5: ", "duplicate device 0000:01:00.0 (first defined at line 3)" },
	{ PHB0 PE1 "device 0000:0a:00.0\ndevice 0000:0A:00.0\n", "t:4: ", "duplicate device 0000:0a:00.0" },
	{ PHB0 PE1 "device 0000:01:00.0 0000:02:00.0\n", "t:3: ", "unexpected token '0000:02:00.0'" },
	{ PHB0 PE1 "device 0000:01:00.0 vendor=0x10000\n", "t:3: ", "vendor '0x10000' out of range (max 0xffff)" },
	{ PHB0 PE1 "device 0000:01:00.0 device=12345\n", "t:3: ", "device '12345' out of range" },
	{ PHB0 PE1 "device 0000:01:00.0 subsys-vendor=1ffff\n", "t:3: ", "subsys-vendor '1ffff'" },
	{ PHB0 PE1 "device 0000:01:00.0 subsys-device=0x1ffff\n", "t:3: ", "subsys-device '0x1ffff'" },
	{ PHB0 PE1 "device 0000:01:00.0 class=0x1000000\n", "t:3: ", "class '0x1000000' out of range (max 0xffffff)" },
	{ PHB0 PE1 "device 0000:01:00.0 vendor=xyz\n", "t:3: ", "invalid vendor 'xyz'" },
	{ PHB0 PE1 "device 0000:01:00.0 vendor=0x\n", "t:3: ", "invalid vendor '0x'" },
	{ PHB0 PE1 "device 0000:01:00.0 vendor=1 vendor=2\n", "t:3: ", "duplicate key 'vendor'" },
	{ PHB0 PE1 "device 0000:01:00.0 vendor\n", "t:3: ", "missing value for 'vendor'" },
	{ PHB0 PE1 "device 0000:01:00.0 colour=red\n", "t:3: ", "unknown device key 'colour'" },
	{ PHB0 PE1 "device 0000:01:00.0 bar6=16K\n", "t:3: ", "unknown device key 'bar6'" },
	/* BARs */
	{ PHB0 PE1 "device 0000:01:00.0 bar0=3K\n", "t:3: ", "bar0 '3K': size must be a power of two" },
	{ PHB0 PE1 "device 0000:01:00.0 bar0=0\n", "t:3: ", "bar0 '0': size must be a power of two" },
	{ PHB0 PE1 "device 0000:01:00.0 bar1=8\n", "t:3: ", "bar1 '8': size must be a power of two of at least 16" },
	{ PHB0 PE1 "device 0000:01:00.0 bar2=2,io\n", "t:3: ", "bar2 '2,io': io size" },
	{ PHB0 PE1 "device 0000:01:00.0 bar2=512,io\n", "t:3: ", "bar2 '512,io': io size" },
	{ PHB0 PE1 "device 0000:01:00.0 bar2=24,io\n", "t:3: ", "io size must be a power of two" },
	{ PHB0 PE1 "device 0000:01:00.0 bar3=4G\n", "t:3: ", "a mem32 bar cannot exceed 2G" },
	{ PHB0 PE1 "device 0000:01:00.0 bar3=4G,mem32\n", "t:3: ", "a mem32 bar cannot exceed 2G" },
	{ PHB0 PE1 "device 0000:01:00.0 bar5=16K,mem64\n", "t:3: ", "bar5 cannot be mem64" },
	{ PHB0 PE1 "device 0000:01:00.0 bar0=16K,mem64 bar1=4K\n", "t:3: ", "bar1 cannot be given: it is the upper half of 64-bit bar0" },
	{ PHB0 PE1 "device 0000:01:00.0 bar4=4K bar3=16K,mem64\n", "t:3: ", "bar4 cannot be given: it is the upper half of 64-bit bar3" },
	{ PHB0 PE1 "device 0000:01:00.0 bar0=16,io,prefetch\n", "t:3: ", "bar0: io cannot be combined with prefetch" },
	{ PHB0 PE1 "device 0000:01:00.0 bar0=16,prefetch,io\n", "t:3: ", "io cannot be combined with prefetch" },
	{ PHB0 PE1 "device 0000:01:00.0 bar0=16,io,mem64\n", "t:3: ", "bar0: 'mem64' conflicts with 'io'" },
	{ PHB0 PE1 "device 0000:01:00.0 bar0=16,mem64,io\n", "t:3: ", "bar0: 'io' conflicts with 'mem64'" },
	{ PHB0 PE1 "device 0000:01:00.0 bar0=16,mem32,mem32\n", "t:3: ", "bar0: repeated flag 'mem32'" },
	{ PHB0 PE1 "device 0000:01:00.0 bar0=16K,mmap,mmap\n", "t:3: ", "bar0: repeated flag 'mmap'" },
	{ PHB0 PE1 "device 0000:01:00.0 bar0=16K,fast\n", "t:3: ", "unknown bar0 flag 'fast'" },
	{ PHB0 PE1 "device 0000:01:00.0 bar0=16K,\n", "t:3: ", "unknown bar0 flag ''" },
	{ PHB0 PE1 "device 0000:01:00.0 bar0=,mem64\n", "t:3: ", "invalid bar0 size ''" },
	{ PHB0 PE1 "device 0000:01:00.0 bar0=16Z\n", "t:3: ", "invalid bar0 size '16Z'" },
	{ PHB0 PE1 "device 0000:01:00.0 bar0=16777216T,mem64\n", "t:3: ", "bar0 size '16777216T' too large" },
	{ PHB0 PE1 "device 0000:01:00.0 bar0=16K bar0=16K\n", "t:3: ", "duplicate key 'bar0'" },
	{ PHB0 PE1 "device 0000:01:00.0 rom=1K\n", "t:3: ", "rom size '1K' must be a power of two from 2K to 2G" },
	/* found by fuzz_topology: accepted, then no host could be built on them */
	{ PHB0 PE1 "device 0000:01:00.0 rom=4G\n", "t:3: ", "rom size '4G' must be a power of two from 2K to 2G" },
	{ PHB0 PE1 "device 0000:01:00.0 bar0=2T,mem64\n", "t:3: ", "bar0 '2T,mem64': a mem64 bar cannot exceed 1T" },
	{ PHB0 PE1 "device 0000:01:00.0 rom=3K\n", "t:3: ", "rom size '3K'" },
	{ PHB0 PE1 "device 0000:01:00.0 rom=\n", "t:3: ", "missing value for 'rom'" },
	/* models */
#define NET1 "device 0000:01:00.0 model=virtio-net"
#define PE2 "pe 2\n"
	{ PHB0 PE1 "device 0000:01:00.0 model=virtio-gpu\n", "t:3: ", "unknown model 'virtio-gpu' (expected virtio-net or virtio-blk)" },
	{ PHB0 PE1 "device 0000:01:00.0 revision=0x100\n", "t:3: ", "revision '0x100' out of range (max 0xff)" },
	{ PHB0 PE1 NET1 " revision=x\n", "t:3: ", "invalid revision 'x'" },
	{ PHB0 PE1 "device 0000:01:00.0 model=Virtio-net\n", "t:3: ", "unknown model 'Virtio-net'" },
	{ PHB0 PE1 "device 0000:01:00.0 model=\n", "t:3: ", "missing value for 'model'" },
	{ PHB0 PE1 "device 0000:01:00.0 link=0000:02:00.0\n", "t:3: ", "link= needs a model" },
	{ PHB0 PE1 "device 0000:01:00.0 disk=/tmp/x\n", "t:3: ", "disk= needs a model" },
	{ PHB0 PE1 "device 0000:01:00.0 size=64M\n", "t:3: ", "size= needs a model" },
	{ PHB0 PE1 NET1 " disk=/tmp/x\n", "t:3: ", "disk= is for model=virtio-blk, not virtio-net" },
	{ PHB0 PE1 NET1 " size=1M\n", "t:3: ", "size= is for model=virtio-blk, not virtio-net" },
	{ PHB0 PE1 "device 0000:01:00.0 model=virtio-blk link=0000:02:00.0\n", "t:3: ", "link= is for model=virtio-net, not virtio-blk" },
	{ PHB0 PE1 "device 0000:01:00.0 model=virtio-blk disk=/tmp/x size=1M\n", "t:3: ", "give disk= (an image file, its own size) or size= (a memory disk), not both" },
	{ PHB0 PE1 "device 0000:01:00.0 model=virtio-blk size=1000\n", "t:3: ", "disk size '1000' must be a multiple of 512 from 512 to 16T" },
	{ PHB0 PE1 "device 0000:01:00.0 model=virtio-blk size=0\n", "t:3: ", "disk size '0' must be" },
	{ PHB0 PE1 "device 0000:01:00.0 model=virtio-blk size=32T\n", "t:3: ", "disk size '32T' must be" },
	{ PHB0 PE1 "device 0000:01:00.0 model=virtio-blk disk=/a,b\n", "t:3: ", "disk '/a,b': a path of at most 511 bytes without ','" },
	{ PHB0 PE1 "device 0000:01:00.0 model=virtio-blk fault-file=/a,b\n", "t:3: ", "fault-file '/a,b': a path of at most 255 bytes without ','" },
	{ PHB0 PE1 NET1 " fault-file=/tmp/f\n", "t:3: ", "fault-file= is for model=virtio-blk" },
	{ PHB0 PE1 "device 0000:01:00.0 fault-file=/tmp/f\n", "t:3: ", "fault-file= is for model=virtio-blk" },
	{ PHB0 PE1 NET1 " link=0000:01:00.0\n", "t:3: ", "link=0000:01:00.0: a port cannot be cabled to itself" },
	{ PHB0 PE1 NET1 " link=0000:01:00\n", "t:3: ", "invalid BDF '0000:01:00'" },
	{ PHB0 PE1 NET1 " link=0000:02:00.0\n", "t:3: ", "link=0000:02:00.0: no such device" },
	{ PHB0 PE1 NET1 " link=0000:02:00.0\n" PE2 "device 0000:02:00.0\n", "t:3: ", "link=0000:02:00.0: not a virtio-net device (line 5)" },
	{ PHB0 PE1 NET1 " link=0000:02:00.0\n" PE2 "device 0000:02:00.0 model=virtio-blk\n", "t:3: ", "not a virtio-net device (line 5)" },
	{ PHB0 PE1 NET1 " link=0000:02:00.0\n" PE2 "device 0000:02:00.0 model=virtio-net link=0000:03:00.0\n"
	  "pe 3\ndevice 0000:03:00.0 model=virtio-net\n", "t:3: ", "link=0000:02:00.0: that port is cabled to 0000:03:00.0 (line 5)" },
	{ PHB0 PE1 NET1 " link=0000:02:00.0\n" PE2 "device 0000:02:00.0 model=virtio-net\n"
	  "pe 3\ndevice 0000:03:00.0 model=virtio-net link=0000:02:00.0\n", "t:7: ", "link=0000:02:00.0: that port is cabled to 0000:01:00.0 (line 5)" },
	{ PHB0 PE1 NET1 " bar0=64,io\n", "t:3: ", "bar0 conflicts with the virtio-net registers (bar0=64,io)" },
	{ PHB0 PE1 NET1 " bar1=4K,mmap\n", "t:3: ", "bar1 conflicts with the virtio-net registers (bar1=4K,mmap)" },
	{ PHB0 PE1 NET1 " bar5=16\n", "t:3: ", "bar5 conflicts with the virtio-net registers (bar4=16K,mem64)" },
	{ PHB0 PE1 NET1 " bar3=16K,mem64,mmap\n", "t:3: ", "bar3 conflicts with the virtio-net registers (bar4=16K,mem64)" },
	{ PHB0 PE1 NET1 " bar2=16K\n", "t:3: ", "bar2: a BAR beside a model's must be mmap" },
	{ PHB0 PE1 NET1 " rom=2K\n", "t:3: ", "rom: a virtio-net device has no ROM" },
	/* the line of the error with comments, blank lines and CRLF around */
	{ "# c\r\n\r\n" PHB0 "  pe 1 # c\r\n\tdevice 0000:01:00.0 rom=5\r\n", "t:5: ", "rom size '5'" },
	{ GOOD "phb 1 ioda3\r\r\n", "t:4: ", "control character 0x0d in line" },
};

/* model=: ids, class and BARs from the model unless given; cables made symmetric. */
TEST(models)
{
	static const char text[] = PHB0
		"pe 1\n device 0000:01:00.0 model=virtio-net link=0000:02:00.0 device=0x1041 bar2=1M,mem64,mmap\n"
		"pe 2\n device 0000:02:00.0 model=virtio-net\n"
		"pe 3\n device 0000:03:00.0 model=virtio-net\n"
		"pe 4\n device 0000:04:00.0 model=virtio-blk disk=/var/tmp/disk.img\n"
		"pe 5\n device 0000:05:00.0 model=virtio-blk size=1G\n"
		"pe 6\n device 0000:06:00.0 model=virtio-blk\n"
		"pe 7\n device 0000:07:00.0 model=virtio-blk revision=0x2\n"
		"pe 8\n device 0000:08:00.0 revision=ff\n"
		"pe 9\n device 0000:09:00.0\n"
		"pe 10\n device 0000:0a:00.0 model=virtio-blk disk=/var/tmp/disk.img fault-file=/tmp/fault\n";
	struct tcemu_topology *t = NULL;
	const struct tcemu_topo_device *d;
	char err[256];

	CHECK_EQ(PARSE(text, &t, err), 0);
	d = dev_of(t, 0, 0);
	CHECK_STR(d->model->name, "virtio-net");
	CHECK_EQ(d->vendor, 0x1af4);
	CHECK_EQ(d->device, 0x1041); /* given */
	CHECK_EQ(d->subsys_vendor, 0x1af4);
	CHECK_EQ(d->subsys_device, 1);
	CHECK_EQ(d->class_code, 0x020000);
	CHECK_U64(d->bars[0].size, 64);
	CHECK_EQ(d->bars[0].flags, TCEMU_BAR_IO);
	CHECK_U64(d->bars[1].size, 4096);
	CHECK_EQ(d->bars[1].flags, TCEMU_BAR_MMAP);
	CHECK_U64(d->bars[2].size, 1 << 20); /* a free slot, mmap */
	CHECK_U64(d->bars[4].size, 16384);
	CHECK_EQ(d->bars[4].flags, TCEMU_BAR_MEM64);
	CHECK_STR(d->link, "0000:02:00.0");
	CHECK(d->link_given);
	d = dev_of(t, 0, 1);
	CHECK_STR(d->link, "0000:01:00.0"); /* made symmetric */
	CHECK(!d->link_given);
	CHECK_EQ(d->device, 0x1000);
	CHECK_STR(dev_of(t, 0, 2)->link, ""); /* loopback */
	d = dev_of(t, 0, 3);
	CHECK_STR(d->model->name, "virtio-blk");
	CHECK_EQ(d->device, 0x1001);
	CHECK_EQ(d->class_code, 0x010000);
	CHECK_STR(d->disk, "/var/tmp/disk.img");
	CHECK_U64(d->disk_size, 0);
	CHECK_U64(dev_of(t, 0, 4)->disk_size, 1ull << 30);
	CHECK(dev_of(t, 0, 5)->disk == NULL);
	CHECK_U64(dev_of(t, 0, 5)->disk_size, 0);
	/* the revision follows the model (transitional virtio: 0) unless given; the plain device's is 1 */
	CHECK_EQ(dev_of(t, 0, 0)->revision, 0);
	CHECK_EQ(dev_of(t, 0, 3)->revision, 0);
	CHECK_EQ(dev_of(t, 0, 6)->revision, 2);
	CHECK_EQ(dev_of(t, 0, 7)->revision, 0xff);
	CHECK_EQ(dev_of(t, 0, 8)->revision, 1);
	CHECK(dev_of(t, 0, 5)->fault_file == NULL);
	CHECK_STR(dev_of(t, 0, 9)->fault_file, "/tmp/fault"); /* the debug control (docs/devices.md) */
	CHECK_STR(dev_of(t, 0, 9)->disk, "/var/tmp/disk.img");
	tcemu_topology_free(t);

	/* both sides naming each other is fine; so is a cable across PHBs */
	static const char both[] = PHB0 "pe 1\n device 0000:01:00.0 model=virtio-net link=0001:00:00.0\n"
		"phb 1 ioda2\npe 0\n device 0001:00:00.0 model=virtio-net link=0000:01:00.0\n";
	CHECK_EQ(PARSE(both, &t, err), 0);
	CHECK_STR(dev_of(t, 1, 0)->link, "0000:01:00.0");
	tcemu_topology_free(t);
}

TEST(errors)
{
	for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
		const struct error_case *c = &error_cases[i];
		struct tcemu_topology *t = (struct tcemu_topology *)(uintptr_t)0x1234;
		char err[256];
		int rc = PARSE(c->text, &t, err);

		if (rc != -EINVAL || strncmp(err, c->prefix, strlen(c->prefix)) != 0 || !strstr(err, c->word) ||
		    t != (struct tcemu_topology *)(uintptr_t)0x1234)
			HARNESS_FAIL("case %zu: rc %d, message \"%s\", expected -EINVAL and \"%s...%s\"", i, rc, err,
				     c->prefix, c->word);
	}
}

/* The messages quoted in the documentation, in full. */
TEST(exact_messages)
{
	struct tcemu_topology *t = NULL;
	char err[256];

	CHECK_EQ(tcemu_topology_parse("\n\n\n\n\n\nphb 0 ioda4\n", 18, "topo.txt", &t, err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "topo.txt:7: unknown profile 'ioda4' (expected ioda1, ioda2 or ioda3)");
	static const char dup[] = PHB0 "pe 1 group=5\n" "pe 2 group=5\n";
	CHECK_EQ(tcemu_topology_parse(dup, strlen(dup), "topo.txt", &t, err, sizeof(err)), -EINVAL);
	/* the pe on line 2 has no device: that is reported first */
	CHECK_STR(err, "topo.txt:2: pe 1 has no device");
	static const char dup2[] = PHB0 "pe 1 group=5\n" DEV0 "pe 2 group=5\n";
	CHECK_EQ(tcemu_topology_parse(dup2, strlen(dup2), "topo.txt", &t, err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "topo.txt:4: duplicate group 5 (first used at line 2)");
	static const char early[] = "memlock 1G\n" PHB0 "\n" DEV0;
	CHECK_EQ(tcemu_topology_parse(early, strlen(early), "x", &t, err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "x:4: device before any pe");
	CHECK_EQ(tcemu_topology_parse("", 0, "x", &t, err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "x: no phb defined");
	CHECK(t == NULL);
}

TEST(crlf_and_comments)
{
	static const char text[] =
		"# a topology written on another system\r\n"
		"\r\n"
		"page-size 64K\t# system pages\r\n"
		"  \t \r\n"
		"phb 2 ioda2 domain=5#no space before the comment\r\n"
		"\tpe 3   group=7   # indented with a tab\r\n"
		"\t\tdevice 0005:00:01.0\t  bar0=64K,mem64,mmap\r\n"
		"#\r\n"
		"device 0005:00:02.0 vendor=0x1af4";  /* last line without newline */
	struct tcemu_topology *t = NULL;
	char err[256];

	CHECK_EQ(PARSE(text, &t, err), 0);
	CHECK_EQ(t->sys_page_shift, 16);
	CHECK_EQ(t->nphbs, 1);
	CHECK_EQ(t->phbs[0].index, 2);
	CHECK_EQ(t->phbs[0].domain, 5);
	CHECK_EQ(t->phbs[0].line, 5);
	CHECK_EQ(t->phbs[0].pes[0].pe_number, 3);
	CHECK_EQ(t->phbs[0].pes[0].group, 7);
	CHECK_EQ(t->phbs[0].pes[0].ndevices, 2);
	CHECK_STR(t->phbs[0].pes[0].devices[0].bdf, "0005:00:01.0");
	CHECK_EQ(t->phbs[0].pes[0].devices[0].bars[0].flags, TCEMU_BAR_MEM64 | TCEMU_BAR_MMAP);
	CHECK_EQ(t->phbs[0].pes[0].devices[1].vendor, 0x1af4);
	CHECK_EQ(t->phbs[0].pes[0].devices[1].line, 9);
	tcemu_topology_free(t);
}

TEST(nul_byte)
{
	static const char text[] = GOOD "# a comment\0 with a NUL\n";
	struct tcemu_topology *t = NULL;
	char err[256];

	CHECK_EQ(tcemu_topology_parse(text, sizeof(text) - 1, "t", &t, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "t:4: ");
	CHECK_CONTAINS(err, "NUL");
	CHECK(t == NULL);
	/* The terminating NUL counted in len is an error too. */
	CHECK_EQ(tcemu_topology_parse(GOOD, sizeof(GOOD), "t", &t, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "t:4: NUL");
	CHECK(t == NULL);
}

TEST(long_line)
{
	size_t len = strlen(GOOD) + TCEMU_TOPO_MAX_LINE + 2;
	char *text = malloc(len + 1);
	struct tcemu_topology *t = NULL;
	char err[256];

	CHECK(text != NULL);
	/* Exactly TCEMU_TOPO_MAX_LINE bytes (a comment), then a CR that does not count. */
	strcpy(text, GOOD);
	memset(text + strlen(GOOD), '#', TCEMU_TOPO_MAX_LINE);
	memcpy(text + len - 2, "\r\n", 3);
	CHECK_EQ(tcemu_topology_parse(text, len, "t", &t, err, sizeof(err)), 0);
	tcemu_topology_free(t);
	t = NULL;
	/* One more byte is too long. */
	text[len - 2] = '#';
	CHECK_EQ(tcemu_topology_parse(text, len, "t", &t, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "t:4: line too long");
	CHECK(t == NULL);
	free(text);
}

TEST(text_too_large)
{
	size_t len = TCEMU_TOPO_MAX_FILE + 1;
	char *text = malloc(len);
	struct tcemu_topology *t = NULL;
	char err[256];

	CHECK(text != NULL);
	memset(text, '\n', len);
	memcpy(text, GOOD, strlen(GOOD));
	CHECK_EQ(tcemu_topology_parse(text, len, "t", &t, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "t: text too large");
	CHECK(t == NULL);
	/* One byte less is fine (blank lines). */
	CHECK_EQ(tcemu_topology_parse(text, len - 1, "t", &t, err, sizeof(err)), 0);
	tcemu_topology_free(t);
	free(text);
}

/* The text need not be NUL terminated: parse a copy with nothing after it (ASan watches). */
TEST(unterminated_text)
{
	const char *def = tcemu_topology_default_text();
	size_t len = strlen(def);
	char *copy = malloc(len);
	struct tcemu_topology *t = NULL;
	char err[256];

	CHECK(copy != NULL);
	memcpy(copy, def, len);
	CHECK_EQ(tcemu_topology_parse(copy, len, "t", &t, err, sizeof(err)), 0);
	CHECK_EQ(t->nphbs, 2);
	tcemu_topology_free(t);
	/* Cut in the middle of the last token ("...,mmap\n" -> "...,mm"). */
	t = NULL;
	int rc = tcemu_topology_parse(copy, len - 3, "t", &t, err, sizeof(err));
	free(copy);
	CHECK_EQ(rc, -EINVAL);
	CHECK_CONTAINS(err, "t:26: unknown bar2 flag 'mm'");
}

TEST(error_buffer)
{
	struct tcemu_topology *t = NULL;
	char small[8];

	CHECK_EQ(tcemu_topology_parse("bogus", 5, "name", &t, NULL, 0), -EINVAL);
	CHECK_EQ(tcemu_topology_parse("bogus", 5, "name", &t, small, 0), -EINVAL);
	memset(small, 'x', sizeof(small));
	CHECK_EQ(tcemu_topology_parse("bogus", 5, "name", &t, small, sizeof(small)), -EINVAL);
	CHECK_STR(small, "name:1:");
	memset(small, 'x', sizeof(small));
	CHECK_EQ(tcemu_topology_parse("bogus", 5, "n", &t, small, sizeof(small)), -EINVAL);
	CHECK_STR(small, "n:1: un");
	/* A long, unprintable token is shortened and escaped. */
	char text[300], err[256];
	memset(text, 'z', sizeof(text));
	memcpy(text, "phb 0 \x7f", 7);
	CHECK_EQ(tcemu_topology_parse(text, sizeof(text), "t", &t, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "t:1: unknown profile '\\x7fzzz");
	CHECK_CONTAINS(err, "zzz...' (expected");
	CHECK(strlen(err) < 150);
	CHECK(t == NULL);
	/* Without a name. */
	CHECK_EQ(tcemu_topology_parse("phb", 3, NULL, &t, err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "topology:1: missing phb index");
	CHECK_EQ(tcemu_topology_parse(NULL, 0, "t", &t, err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "t: no phb defined");
	CHECK(t == NULL);
}

static int write_file(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	if (!f)
		return -1;
	if (fwrite(data, 1, len, f) != len) {
		fclose(f);
		return -1;
	}
	return fclose(f);
}

TEST(load)
{
	char dir[] = "/tmp/test_topology.XXXXXX";
	char path[64], missing[64], err[256];
	struct tcemu_topology *t = NULL;
	const char *def = tcemu_topology_default_text();
	char *big;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/topo.txt", dir);
	snprintf(missing, sizeof(missing), "%s/missing.txt", dir);

	/* missing file */
	CHECK_EQ(tcemu_topology_load(missing, &t, err, sizeof(err)), -ENOENT);
	CHECK_CONTAINS(err, missing);
	CHECK_CONTAINS(err, ": No such file or directory");
	CHECK(t == NULL);

	/* a directory */
	CHECK_EQ(tcemu_topology_load(dir, &t, err, sizeof(err)), -EISDIR);
	CHECK(strncmp(err, dir, strlen(dir)) == 0);
	CHECK(t == NULL);

	/* a good file */
	CHECK_EQ(write_file(path, def, strlen(def)), 0);
	CHECK_EQ(tcemu_topology_load(path, &t, err, sizeof(err)), 0);
	CHECK_EQ(t->nphbs, 2);
	CHECK_EQ(t->phbs[1].pes[1].group, 5);
	tcemu_topology_free(t);
	t = NULL;

	/* a bad file: messages name the path */
	CHECK_EQ(write_file(path, GOOD "pe 2\n", strlen(GOOD "pe 2\n")), 0);
	CHECK_EQ(tcemu_topology_load(path, &t, err, sizeof(err)), -EINVAL);
	CHECK(strncmp(err, path, strlen(path)) == 0);
	CHECK_CONTAINS(err, ":4: pe 2 has no device");
	CHECK(t == NULL);

	/* too large */
	big = malloc(TCEMU_TOPO_MAX_FILE + 1);
	CHECK(big != NULL);
	memset(big, '\n', TCEMU_TOPO_MAX_FILE + 1);
	memcpy(big, GOOD, strlen(GOOD));
	CHECK_EQ(write_file(path, big, TCEMU_TOPO_MAX_FILE + 1), 0);
	CHECK_EQ(tcemu_topology_load(path, &t, err, sizeof(err)), -EFBIG);
	CHECK(strncmp(err, path, strlen(path)) == 0);
	CHECK_CONTAINS(err, "too large");
	CHECK(t == NULL);
	/* exactly the limit */
	CHECK_EQ(write_file(path, big, TCEMU_TOPO_MAX_FILE), 0);
	CHECK_EQ(tcemu_topology_load(path, &t, err, sizeof(err)), 0);
	tcemu_topology_free(t);
	free(big);

	CHECK_EQ(unlink(path), 0);
	CHECK_EQ(rmdir(dir), 0);
}

TEST(profile_names)
{
	CHECK_STR(tcemu_topology_profile_name(TCEMU_PROFILE_IODA1), "ioda1");
	CHECK_STR(tcemu_topology_profile_name(TCEMU_PROFILE_IODA2), "ioda2");
	CHECK_STR(tcemu_topology_profile_name(TCEMU_PROFILE_IODA3), "ioda3");
	CHECK(tcemu_topology_profile_name((enum tcemu_profile)0) == NULL);
	CHECK(tcemu_topology_profile_name((enum tcemu_profile)4) == NULL);
}

/* Random damage to the default text: never a crash or a leak, only 0 or -EINVAL. */
TEST(robustness)
{
	static const char alphabet[] = " \t\r\n#=,.:0123456789abcdefxKMGTgpehbdviocmr\0\xff";
	const char *def = tcemu_topology_default_text();
	size_t deflen = strlen(def);
	char *buf = malloc(deflen + 64);
	uint64_t x = 0x9e3779b97f4a7c15ull;
	unsigned ok = 0;

	CHECK(buf != NULL);
	for (int iter = 0; iter < 20000; iter++) {
		struct tcemu_topology *t = NULL;
		char err[128];
		size_t len = deflen;
		int nmut, rc;

		memcpy(buf, def, deflen);
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		nmut = 1 + (int)(x % 4);
		for (int m = 0; m < nmut; m++) {
			size_t pos;

			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			pos = (size_t)(x >> 8) % (len ? len : 1);
			switch (x % 5) {
			case 0: /* any byte */
				if (len)
					buf[pos] = (char)(x >> 40);
				break;
			case 1: /* a byte that means something to the parser */
				if (len)
					buf[pos] = alphabet[(x >> 40) % (sizeof(alphabet) - 1)];
				break;
			case 2: /* truncate */
				len = pos;
				break;
			case 3: /* delete one byte */
				if (len) {
					memmove(buf + pos, buf + pos + 1, len - pos - 1);
					len--;
				}
				break;
			default: /* duplicate one byte */
				if (len && len < deflen + 63) {
					memmove(buf + pos + 1, buf + pos, len - pos);
					len++;
				}
				break;
			}
		}
		rc = tcemu_topology_parse(buf, len, "fuzz", &t, err, sizeof(err));
		if (rc != 0 && rc != -EINVAL) {
			free(buf);
			HARNESS_FAIL("iteration %d: rc %d (%s)", iter, rc, err);
			return;
		}
		if (rc == 0) {
			CHECK(t != NULL && t->nphbs > 0);
			ok++;
			tcemu_topology_free(t);
		} else {
			CHECK(t == NULL);
			CHECK(strncmp(err, "fuzz:", 5) == 0);
		}
	}
	free(buf);
	/* Some mutations are harmless (inside comments, spacing), so both outcomes occur. */
	CHECK(ok > 0 && ok < 20000);
}

HARNESS_MAIN(T(default_text), T(every_option), T(defaults), T(auto_groups), T(limits_accepted), T(models), T(errors),
	     T(exact_messages), T(crlf_and_comments), T(nul_byte), T(long_line), T(text_too_large),
	     T(unterminated_text), T(error_buffer), T(load), T(profile_names), T(robustness))
