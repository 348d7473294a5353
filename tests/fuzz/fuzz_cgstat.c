/*
 * Fuzz the parsers of a container's cgroup files (reader/cgstat.c) on one
 * file's content: a single value (memory.current, memory.max), flat
 * "key value" files (cpu.stat, memory.stat, memory.events), PSI files.
 * The buffer is not NUL-terminated, as the parsers promise to cope with.
 */
#include <string.h>

#include "kwarden.h"
#include "../../reader/reader.h"
#include "fuzz.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	kw_log_init("fuzz_cgstat", KW_LOG_ERROR);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const keys[] = { "usage_usec", "nr_throttled",
		"throttled_usec", "oom_kill", "inactive_file", "anon",
		"file" };
	const char *buf = (const char *)data;
	struct kw_cgroup_stat st;
	double some, full;
	uint64_t v, usage = 0;
	size_t i;
	int is_max, has_full;

	if (cgstat_parse_value(buf, size, &v, &is_max) == 0) {
		FUZZ_CHECK(!is_max || v == 0);
		usage = v;
	}
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		(void)cgstat_parse_kv(buf, size, keys[i], &v);
	if (cgstat_parse_psi(buf, size, &some, &full, &has_full) == 0) {
		FUZZ_CHECK(some >= 0.0 && some <= 100.0);
		FUZZ_CHECK(full >= 0.0 && full <= 100.0);
		FUZZ_CHECK(has_full || full == 0.0);
	}
	for (i = 0; i < 2; i++) {
		memset(&st, 0, sizeof(st));
		(void)cgstat_memory_from_stat(buf, size, (int)i, usage, &st);
		FUZZ_CHECK(st.mem_usage_bytes == usage);
		FUZZ_CHECK(st.mem_working_set_bytes <= usage);
	}
	return 0;
}
