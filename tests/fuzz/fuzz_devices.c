/* SPDX-License-Identifier: MIT */
/*
 * Fuzz harness: the device models (src/devices/) driven by a hostile driver, through the VFIO fd
 * API only, as a DPDK process or a guest driver would.
 *
 * The first byte picks the device, alone in its host (group 0): a virtio-net port cabled to nothing
 * (it loops back to itself, so what it transmits comes back on its receive queue) or a 1 MiB
 * virtio-blk memory disk. The
 * driver's memory is one 1 MiB buffer (256 pages), registered with a v2 container; which of its
 * pages are mapped at bus 0x1000000 + page, and with which permission, is for the input to say,
 * and changes between requests. Steps: config space and BAR register reads and writes (legacy
 * BAR0, modern BAR4: features, status, queue set-up at any address, notifies), descriptors,
 * available ring entries and indexes, indirect tables and data written anywhere in the buffer
 * (chains, loops, lengths past the buffer, addresses out of the window), maps and unmaps of page
 * runs, device resets, EEH freezes, unfreezes and PE resets, MSI-X and INTx eventfds.
 *
 * The shadow of the allowed pages: before every step that can make the device move, each page of
 * the buffer is protected as the container's TCEs at that moment allow a device to use it
 * (no valid entry: PROT_NONE; read-only: PROT_READ; writable: read-write). A device access the
 * TCEs did not allow touches a protected page and crashes the fuzzer (a device read through a
 * write-only entry cannot be seen this way: the page must stay readable for the write). Checked
 * after every step too: each DMA fault the model recorded is one the IOMMU really had to refuse
 * (what it held at that bus address matches the container's entry), and the host invariants.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/vfio.h>

#include <tcemu/devmodel.h>
#include <tcemu/dma.h>

#include "fuzz.h"
#include "vfio/check.h"

#define PAGE 4096ull
#define NPAGES 256
#define IOVA 0x1000000ull
#define MAX_STEPS 96
#define REGION(i) ((uint64_t)(i) << 40)

/* One device per host: the other model would only cost its start (virtio-blk's 4 MiB bounce buffer). */
static const char *const topologies[] = {
	"phb 0 ioda3\n"
	"  pe 1 group=0\n"
	"    device 0000:01:00.0 model=virtio-net\n",
	"phb 0 ioda3\n"
	"  pe 1 group=0\n"
	"    device 0000:01:00.0 model=virtio-blk size=1M\n",
};
#define BDF "0000:01:00.0"

static uint8_t *mem;

struct run {
	struct fz in;
	struct tcemu_host *h;
	struct tcemu_model *m;
	int c, g, dev;
	unsigned n;
	int shadow[NPAGES]; /* the protection each page gets while the device may move */
	bool shadow_valid, shadowed;
	uint64_t faults;
	int efd[3];
};

/* What the TCEs allow the device on each page of the buffer, from the container's entries. */
static void shadow_compute(struct run *r)
{
	for (unsigned p = 0; p < NPAGES; p++) {
		uint64_t tce = 0, ua = 0;

		tcemu_host_container_entry(r->h, r->c, IOVA + p * PAGE, &tce, &ua);
		r->shadow[p] = PROT_NONE;
		if (!(tce & TCEMU_TCE_PERM_MASK))
			continue;
		if (ua != (uintptr_t)mem + p * PAGE)
			fz_fail("bus 0x%llx maps ua 0x%llx, the harness mapped page %u", (unsigned long long)(IOVA + p * PAGE),
				(unsigned long long)ua, p);
		r->shadow[p] = (tce & TCEMU_TCE_WRITE) ? PROT_READ | PROT_WRITE : PROT_READ;
	}
	r->shadow_valid = true;
}

/* The device may move: protect the buffer as the TCEs allow, in runs of equal protection. */
static void shadow_on(struct run *r)
{
	if (!r->shadow_valid)
		shadow_compute(r);
	if (r->shadowed)
		return;
	for (unsigned p = 0; p < NPAGES;) {
		unsigned q = p + 1;

		while (q < NPAGES && r->shadow[q] == r->shadow[p])
			q++;
		if (mprotect(mem + p * PAGE, (q - p) * PAGE, r->shadow[p]))
			fz_fail("mprotect");
		p = q;
	}
	r->shadowed = true;
}

/* The driver writes its memory. */
static void shadow_off(struct run *r)
{
	if (r->shadowed && mprotect(mem, NPAGES * PAGE, PROT_READ | PROT_WRITE))
		fz_fail("mprotect");
	r->shadowed = false;
}

/* A bus address: in the buffer (mostly), just around it, or anywhere. */
static uint64_t pick_bus(struct run *r)
{
	switch (fz_below(&r->in, 8)) {
	case 0:
		return fz_u64(&r->in);
	case 1:
		return IOVA - PAGE + fz_below(&r->in, (NPAGES + 2) * PAGE);
	default:
		return IOVA + fz_below(&r->in, NPAGES) * PAGE + (fz_below(&r->in, 4) ? 0 : fz_below(&r->in, PAGE));
	}
}

static void map_pages(struct run *r)
{
	uint64_t first = fz_below(&r->in, NPAGES), n = 1 + fz_below(&r->in, NPAGES - first);

	if (fz_below(&r->in, 3) == 0) {
		struct vfio_iommu_type1_dma_unmap u = { .argsz = sizeof(u), .iova = IOVA + first * PAGE, .size = n * PAGE };

		tcemu_host_ioctl(r->h, r->c, VFIO_IOMMU_UNMAP_DMA, &u);
	} else {
		struct vfio_iommu_type1_dma_map m = {
			.argsz = sizeof(m), .flags = 1 + (uint32_t)fz_below(&r->in, 3),
			.vaddr = (uintptr_t)mem + first * PAGE, .iova = IOVA + first * PAGE, .size = n * PAGE,
		};
		struct vfio_iommu_type1_dma_unmap u = { .argsz = sizeof(u), .iova = m.iova, .size = m.size };

		tcemu_host_ioctl(r->h, r->c, VFIO_IOMMU_UNMAP_DMA, &u); /* a map over a mapped entry is refused */
		tcemu_host_ioctl(r->h, r->c, VFIO_IOMMU_MAP_DMA, &m);
	}
	r->shadow_valid = false;
}

static void reg_access(struct run *r, uint64_t region, uint64_t span)
{
	uint64_t off = REGION(region) + fz_below(&r->in, span);
	size_t len = (size_t)1 << fz_below(&r->in, 4);
	uint8_t v[8];

	shadow_on(r);
	if (fz_below(&r->in, 3)) {
		fz_bytes(&r->in, v, len);
		tcemu_host_pwrite(r->h, r->dev, v, len, off);
	} else {
		tcemu_host_pread(r->h, r->dev, v, len, off);
	}
}

/* A 16-, 32- or 64-bit register write of the modern common configuration, or a legacy one. */
static void reg_write(struct run *r, uint64_t off, size_t len, uint64_t v)
{
	shadow_on(r);
	tcemu_host_pwrite(r->h, r->dev, &v, len, off);
}

/*
 * A queue set up as a driver does: legacy (one PFN, the legacy layout) or modern (three addresses,
 * a size, enable), rings at bus addresses from the input.
 */
static void queue_setup(struct run *r)
{
	unsigned q = (unsigned)fz_below(&r->in, 3);
	uint64_t desc = pick_bus(r);

	if (fz_below(&r->in, 2)) {
		reg_write(r, REGION(0) + 14, 2, q);
		reg_write(r, REGION(0) + 8, 4, desc >> 12);
		return;
	}
	reg_write(r, REGION(4) + 22, 2, q);
	if (fz_below(&r->in, 4) == 0)
		reg_write(r, REGION(4) + 24, 2, fz_below(&r->in, 2) ? fz_u16(&r->in) : 1u << fz_below(&r->in, 9));
	reg_write(r, REGION(4) + 32, 8, desc);
	reg_write(r, REGION(4) + 40, 8, fz_below(&r->in, 2) ? desc + 16 * 256 : pick_bus(r));
	reg_write(r, REGION(4) + 48, 8, fz_below(&r->in, 2) ? ((desc + 16 * 256 + 6 + 2 * 256 + 4095) & ~4095ull) : pick_bus(r));
	reg_write(r, REGION(4) + 28, 2, fz_below(&r->in, 8) ? 1 : fz_u16(&r->in));
}

/* Driver initialisation: reset, ACK, DRIVER, features, FEATURES_OK, (queues later), DRIVER_OK. */
static void init_device(struct run *r)
{
	bool modern = fz_below(&r->in, 2);
	uint64_t feat = fz_below(&r->in, 4) ? (3ull << 32) | (1ull << 28) | fz_u32(&r->in) : fz_u64(&r->in);
	uint64_t status = modern ? REGION(4) + 20 : REGION(0) + 18;

	reg_write(r, REGION(7) + 4, 2, 0x6); /* memory and bus master */
	reg_write(r, status, 1, 0);
	reg_write(r, status, 1, 3);
	if (modern) {
		for (unsigned s = 0; s < 2; s++) {
			reg_write(r, REGION(4) + 8, 4, s);
			reg_write(r, REGION(4) + 12, 4, (uint32_t)(feat >> (32 * s)));
		}
		reg_write(r, status, 1, 0xb);
	} else {
		reg_write(r, REGION(0) + 4, 4, (uint32_t)feat);
	}
	for (unsigned n = (unsigned)fz_below(&r->in, 4); n; n--)
		queue_setup(r);
	reg_write(r, status, 1, modern ? 0xf : 0x7);
}

/* The driver writes descriptors, ring entries, indexes, tables or data into its memory. */
static void write_memory(struct run *r)
{
	uint64_t off = fz_below(&r->in, NPAGES * PAGE);
	uint8_t b[64];
	size_t len;

	shadow_off(r);
	switch (fz_below(&r->in, 4)) {
	case 0: { /* a descriptor: address, length, flags (NEXT 1, WRITE 2, INDIRECT 4), next */
		uint64_t bus = pick_bus(r);
		uint32_t dlen = fz_below(&r->in, 4) ? (uint32_t)fz_below(&r->in, 2 * PAGE) : fz_u32(&r->in);
		uint16_t flags = (uint16_t)fz_below(&r->in, 8), next = (uint16_t)fz_below(&r->in, 260);

		off &= ~15ull;
		len = 16;
		memcpy(b, &bus, 8);
		memcpy(b + 8, &dlen, 4);
		memcpy(b + 12, &flags, 2);
		memcpy(b + 14, &next, 2);
		break;
	}
	case 1: { /* a 16-bit ring word: an index or an entry */
		uint16_t v = fz_below(&r->in, 2) ? (uint16_t)fz_below(&r->in, 260) : fz_u16(&r->in);

		off &= ~1ull;
		len = 2;
		memcpy(b, &v, 2);
		break;
	}
	default:
		len = (size_t)fz_below(&r->in, sizeof(b) + 1);
		fz_bytes(&r->in, b, len);
		break;
	}
	if (off + len > NPAGES * PAGE)
		len = (size_t)(NPAGES * PAGE - off);
	memcpy(mem + off, b, len);
}

static void notify(struct run *r)
{
	unsigned q = (unsigned)fz_below(&r->in, 3);

	if (fz_below(&r->in, 2))
		reg_write(r, REGION(0) + 16, 2, q);
	else
		reg_write(r, REGION(4) + 0x3000 + 4 * q, 2, q);
}

static void eeh(struct run *r)
{
	static const uint32_t ops[] = { VFIO_EEH_PE_INJECT_ERR, VFIO_EEH_PE_UNFREEZE_IO, VFIO_EEH_PE_UNFREEZE_DMA,
					VFIO_EEH_PE_RESET_HOT, VFIO_EEH_PE_RESET_DEACTIVATE, VFIO_EEH_PE_CONFIGURE,
					VFIO_EEH_PE_GET_STATE, VFIO_EEH_PE_ENABLE };
	struct vfio_eeh_pe_op op = { .argsz = sizeof(op), .op = ops[fz_below(&r->in, TCEMU_ARRAY_SIZE(ops))] };

	op.err.type = (uint32_t)fz_below(&r->in, 2);
	op.err.func = (uint32_t)fz_below(&r->in, 8);
	shadow_on(r);
	tcemu_host_ioctl(r->h, r->c, VFIO_EEH_PE_OP, &op);
}

static void irqs(struct run *r)
{
	uint8_t a[sizeof(struct vfio_irq_set) + 3 * sizeof(int32_t)];
	struct vfio_irq_set *set = (struct vfio_irq_set *)a;
	int32_t fds[3];

	memset(a, 0, sizeof(a));
	set->index = fz_below(&r->in, 2) ? VFIO_PCI_MSIX_IRQ_INDEX : VFIO_PCI_INTX_IRQ_INDEX;
	set->count = set->index == VFIO_PCI_INTX_IRQ_INDEX ? 1 : 1 + (uint32_t)fz_below(&r->in, 3);
	set->flags = fz_below(&r->in, 4) ? VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER
					   : VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_UNMASK;
	set->argsz = (uint32_t)(sizeof(*set) + 4 * set->count);
	for (unsigned i = 0; i < 3; i++)
		fds[i] = r->efd[i];
	memcpy(a + sizeof(*set), fds, sizeof(fds));
	shadow_on(r);
	tcemu_host_ioctl(r->h, r->dev, VFIO_DEVICE_SET_IRQS, a);
}

/* Every fault the model recorded since the last step is one the IOMMU had to refuse. */
static void check_faults(struct run *r)
{
	struct tcemu_model_fault f;
	uint64_t tce = 0, ua = 0;
	struct tcemu_container_info ci;
	bool in_window = false, ok;

	if (tcemu_model_last_fault(r->m, &f) || f.count == r->faults)
		return;
	r->faults = f.count;
	if (tcemu_host_container_info(r->h, r->c, &ci))
		fz_fail("container info");
	for (int w = 0; w < TCEMU_PE_WINDOWS; w++)
		if (ci.windows[w].present && f.bus - ci.windows[w].start < ci.windows[w].size)
			in_window = true;
	tcemu_host_container_entry(r->h, r->c, f.bus, &tce, &ua);
	switch (f.held) {
	case TCEMU_FAULT_NO_WINDOW:
		ok = !in_window;
		break;
	case TCEMU_FAULT_NO_ENTRY:
		ok = in_window && !(tce & TCEMU_TCE_PERM_MASK);
		break;
	case TCEMU_FAULT_READ_ONLY:
		ok = f.write && (tce & TCEMU_TCE_PERM_MASK) == TCEMU_TCE_READ;
		break;
	case TCEMU_FAULT_WRITE_ONLY:
		ok = !f.write && (tce & TCEMU_TCE_PERM_MASK) == TCEMU_TCE_WRITE;
		break;
	default: /* no memory, PE frozen: nothing to compare here */
		ok = true;
		break;
	}
	if (!ok)
		fz_fail("step %u: a fault the IOMMU did not have to make: %s (entry 0x%llx, %s window)", r->n, f.message,
			(unsigned long long)tce, in_window ? "in a" : "in no");
}

static void step(struct run *r)
{
	switch (fz_below(&r->in, 16)) {
	case 0:
		init_device(r);
		break;
	case 1:
		queue_setup(r);
		break;
	case 2:
	case 3:
	case 4:
		write_memory(r);
		break;
	case 5:
	case 6:
		notify(r);
		break;
	case 7:
		reg_access(r, 0, 64);
		break;
	case 8:
		reg_access(r, 4, 0x4000);
		break;
	case 9:
		reg_access(r, 7, 256); /* config space */
		break;
	case 10:
		map_pages(r);
		break;
	case 11:
		shadow_on(r);
		tcemu_host_ioctl(r->h, r->dev, VFIO_DEVICE_RESET, NULL);
		break;
	case 12:
		eeh(r);
		break;
	case 13:
		irqs(r);
		break;
	default: /* a request in one go: a chain at a ring entry, made available and notified */
		write_memory(r);
		write_memory(r);
		notify(r);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run r = { .in = { data, size } };
	struct tcemu_host_opts o = fz_host_opts();
	struct vfio_iommu_spapr_register_memory reg = { .argsz = sizeof(reg), .size = NPAGES * PAGE };
	unsigned which = (unsigned)fz_below(&r.in, 2);
	char when[64];
	long rc;

	if (!mem) {
		mem = mmap(NULL, NPAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (mem == MAP_FAILED)
			fz_fail("mmap");
	}
	memset(mem, 0, NPAGES * PAGE);
	o.platform.topology_text = topologies[which];
	rc = tcemu_host_create(&o, &r.h);
	if (rc)
		fz_fail("tcemu_host_create: %ld", rc);
	r.m = tcemu_host_model(r.h, BDF);
	reg.vaddr = (uintptr_t)mem;
	if (!r.m || tcemu_host_open(r.h, "/dev/vfio/vfio", 2, &r.c) ||
	    tcemu_host_open(r.h, "/dev/vfio/0", 2, &r.g) ||
	    tcemu_host_ioctl(r.h, r.g, VFIO_GROUP_SET_CONTAINER, &r.c) ||
	    tcemu_host_ioctl(r.h, r.c, VFIO_SET_IOMMU, (void *)VFIO_SPAPR_TCE_v2_IOMMU) ||
	    tcemu_host_ioctl(r.h, r.c, VFIO_IOMMU_SPAPR_REGISTER_MEMORY, &reg))
		fz_fail("set-up");
	rc = tcemu_host_ioctl(r.h, r.g, VFIO_GROUP_GET_DEVICE_FD, BDF);
	if (rc < 0)
		fz_fail("GET_DEVICE_FD: %ld", rc);
	r.dev = (int)rc;
	for (int i = 0; i < 3; i++)
		r.efd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	for (r.n = 0; r.n < MAX_STEPS && fz_more(&r.in); r.n++) {
		step(&r);
		shadow_off(&r);
		check_faults(&r);
		snprintf(when, sizeof(when), "after step %u", r.n);
		fz_check_host(r.h, TCEMU_CHECK_NO_GUEST, when);
	}
	if (getenv("FZ_TRACE")) {
		struct tcemu_dma_stats st = { 0 };
		struct tcemu_model_fault f;

		tcemu_dma_stats(tcemu_host_dma(r.h), tcemu_platform_pe_by_group(tcemu_host_platform(r.h), 0), &st);
		fprintf(stderr, "dma: %llu reads (%llu bytes), %llu writes (%llu bytes), %llu faults%s%s\n",
			(unsigned long long)st.reads, (unsigned long long)st.bytes_read, (unsigned long long)st.writes,
			(unsigned long long)st.bytes_written, (unsigned long long)st.faults,
			tcemu_model_last_fault(r.m, &f) ? "" : ": ", tcemu_model_last_fault(r.m, &f) ? "" : f.message);
	}
	for (int i = 0; i < 3; i++)
		close(r.efd[i]);
	fz_teardown(r.h, TCEMU_CHECK_NO_GUEST);
	return 0;
}
