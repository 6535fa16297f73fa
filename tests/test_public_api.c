/* SPDX-License-Identifier: MIT */
/*
 * Links against the shared library only, through the installed headers: every symbol used here
 * must be exported, and each public header must compile on its own (they are included first,
 * one at a time, in the other test programs' order of dependence).
 */
#include <tcemu/common.h>
#include <tcemu/memory.h>
#include <tcemu/platform.h>
#include <tcemu/table.h>

#include <errno.h>

#include "harness.h"

TEST(version_and_levels)
{
	enum tcemu_log_level lv;

	CHECK_STR(tcemu_version(), "0.1.0");
	CHECK_EQ(tcemu_log_level_parse("DEBUG", &lv), 0);
	CHECK_EQ(lv, TCEMU_LOG_DEBUG);
	CHECK_EQ(tcemu_log_level_parse("3", &lv), 0);
	CHECK_EQ(lv, TCEMU_LOG_DEBUG);
	CHECK_EQ(tcemu_log_level_parse("loud", &lv), -EINVAL);
	CHECK_STR(tcemu_log_level_name(TCEMU_LOG_TRACE), "trace");
}

static unsigned logged;
static void count_log(void *opaque, enum tcemu_log_level level, const char *msg)
{
	(void)opaque;
	(void)msg;
	if (level <= TCEMU_LOG_INFO)
		logged++;
}

TEST(whole_stack_through_the_shared_library)
{
	struct tcemu_platform_opts o = { .logger = { .fn = count_log, .level = TCEMU_LOG_INFO } };
	struct tcemu_platform *p = NULL;
	struct tcemu_memory_params mp = { 0 };
	struct tcemu_memory *m = NULL;
	struct tcemu_table_params tp = { .window_size = 1ull << 30, .page_shift = 12, .levels = 2,
					 .flags = TCEMU_TABLE_USERSPACE };
	struct tcemu_table *t = NULL;
	static char buf[8192] __attribute__((aligned(4096)));
	uint64_t hpa, bus_hpa, ua;

	CHECK_EQ(tcemu_platform_create(&o, &p), 0);
	CHECK(logged >= 1); /* the platform said what it built, through the callback only */
	CHECK_EQ(tcemu_memory_create(&mp, &m), 0);
	CHECK_EQ(tcemu_memory_pin(m, (uint64_t)(uintptr_t)buf, sizeof(buf), 0, &hpa), 0);
	CHECK_EQ(tcemu_table_create(&tp, &t), 0);
	CHECK_EQ(tcemu_table_set_linear(t, 16, 2, hpa | TCEMU_TCE_READ | TCEMU_TCE_WRITE, (uint64_t)(uintptr_t)buf,
					NULL, NULL), 0);
	struct tcemu_pe *pe = tcemu_platform_pe_by_group(p, 0);
	CHECK_EQ(tcemu_pe_take_ownership(pe), 0);
	CHECK_EQ(tcemu_pe_set_window(pe, 0, t), 0);
	tcemu_pe_tce_kill(pe, 0, 16, 2);
	/* bus address -> host physical -> process address: the second page, offset 0x10 */
	CHECK_EQ(tcemu_table_translate(t, 17 * 4096 + 0x10, TCEMU_TCE_WRITE, &bus_hpa, NULL), 0);
	CHECK_EQ(tcemu_memory_hpa_to_ua(m, bus_hpa, &ua, NULL), 0);
	CHECK_U64(ua, (uint64_t)(uintptr_t)buf + 4096 + 0x10);
	CHECK(hpa != (uint64_t)(uintptr_t)buf); /* TCEs hold simulated physical addresses */
	CHECK_EQ(tcemu_pe_release_ownership(pe), 0);
	tcemu_table_unref(t);
	CHECK_EQ(tcemu_memory_unpin(m, hpa), 0);
	tcemu_memory_destroy(m);
	tcemu_platform_destroy(p);
}

HARNESS_MAIN(T(version_and_levels), T(whole_stack_through_the_shared_library))
