/* SPDX-License-Identifier: MIT */
/*
 * EEH: freezing and recovering a PE. The state lives in struct tcemu_pe under pe->lock.
 *
 * States: NORMAL (MMIO and DMA work), STOPPED (both frozen), STOPPED_DMA (only DMA frozen),
 * RESET (a hot or fundamental reset is asserted), UNAVAIL (EEH disabled on the PE).
 * Recovery: UNFREEZE_IO then UNFREEZE_DMA, or RESET_HOT/FUNDAMENTAL then RESET_DEACTIVATE
 * (which thaws both) then CONFIGURE.
 */
#include <errno.h>
#include <linux/vfio.h>

#include "util/internal.h"
#include "core/platform_priv.h"

#define EEH_ERR_TYPE_MAX 1 /* 32-bit and 64-bit error types */
#define EEH_ERR_FUNC_MAX 23

/* Publishes whether DMA is stopped, for lock-free readers (the DMA engine's hot path). Lock held. */
static void publish(struct tcemu_pe *pe)
{
	TCEMU_ASSERT_HELD(&pe->lock);
	__atomic_store_n(&pe->dma_stop, (uint32_t)(pe->dma_frozen || pe->in_reset), __ATOMIC_RELEASE);
}

/* The EEH state. Lock held. */
static enum tcemu_eeh_state state_locked(const struct tcemu_pe *pe)
{
	TCEMU_ASSERT_HELD(&pe->lock);
	if (!pe->eeh_enabled)
		return TCEMU_EEH_UNAVAIL;
	if (pe->in_reset)
		return TCEMU_EEH_RESET;
	if (pe->mmio_frozen)
		return TCEMU_EEH_STOPPED; /* MMIO stopped: reported as stopped whatever DMA does */
	if (pe->dma_frozen)
		return TCEMU_EEH_STOPPED_DMA;
	return TCEMU_EEH_NORMAL;
}

TCEMU_EXPORT void tcemu_pe_eeh_freeze(struct tcemu_pe *pe, bool dma_only)
{
	tcemu_mutex_lock(&pe->lock);
	if (!pe->dma_frozen || (!dma_only && !pe->mmio_frozen))
		pe->eeh_freezes++;
	pe->dma_frozen = true;
	if (!dma_only)
		pe->mmio_frozen = true;
	publish(pe);
	tcemu_mutex_unlock(&pe->lock);
}

TCEMU_EXPORT enum tcemu_eeh_state tcemu_pe_eeh_state(struct tcemu_pe *pe)
{
	enum tcemu_eeh_state s;

	tcemu_mutex_lock(&pe->lock);
	s = state_locked(pe);
	tcemu_mutex_unlock(&pe->lock);
	return s;
}

TCEMU_EXPORT bool tcemu_pe_dma_stopped(struct tcemu_pe *pe)
{
	return __atomic_load_n(&pe->dma_stop, __ATOMIC_ACQUIRE) != 0;
}

TCEMU_EXPORT bool tcemu_pe_mmio_stopped(struct tcemu_pe *pe)
{
	bool r;

	tcemu_mutex_lock(&pe->lock);
	r = pe->mmio_frozen || pe->in_reset;
	tcemu_mutex_unlock(&pe->lock);
	return r;
}

TCEMU_EXPORT uint64_t tcemu_pe_eeh_freezes(struct tcemu_pe *pe)
{
	uint64_t n;

	tcemu_mutex_lock(&pe->lock);
	n = pe->eeh_freezes;
	tcemu_mutex_unlock(&pe->lock);
	return n;
}

TCEMU_EXPORT int tcemu_pe_eeh_op(struct tcemu_pe *pe, uint32_t op, uint32_t err_type, uint32_t err_func)
{
	int rc = 0;

	tcemu_mutex_lock(&pe->lock);
	switch (op) {
	case VFIO_EEH_PE_DISABLE:
		pe->eeh_enabled = false;
		break;
	case VFIO_EEH_PE_ENABLE:
		pe->eeh_enabled = true;
		break;
	case VFIO_EEH_PE_UNFREEZE_IO:
		pe->mmio_frozen = false;
		break;
	case VFIO_EEH_PE_UNFREEZE_DMA:
		pe->dma_frozen = false;
		break;
	case VFIO_EEH_PE_GET_STATE:
		rc = (int)state_locked(pe);
		break;
	case VFIO_EEH_PE_RESET_DEACTIVATE:
		pe->in_reset = false;
		pe->mmio_frozen = false;
		pe->dma_frozen = false;
		break;
	case VFIO_EEH_PE_RESET_HOT:
	case VFIO_EEH_PE_RESET_FUNDAMENTAL:
		pe->in_reset = true;
		break;
	case VFIO_EEH_PE_CONFIGURE:
		break; /* bridges and BARs are restored by the emulation itself */
	case VFIO_EEH_PE_INJECT_ERR:
		if (err_type > EEH_ERR_TYPE_MAX || err_func > EEH_ERR_FUNC_MAX) {
			rc = -EINVAL;
			break;
		}
		if (!pe->mmio_frozen || !pe->dma_frozen)
			pe->eeh_freezes++;
		pe->mmio_frozen = true;
		pe->dma_frozen = true;
		break;
	default:
		rc = -EINVAL;
		break;
	}
	publish(pe);
	tcemu_mutex_unlock(&pe->lock);
	return rc;
}
