/*
 * Fuzz the procfs parsers on one file's content: /proc/<pid>/stat, statm,
 * status, cmdline, /proc/meminfo and /proc/stat. The buffer is not
 * NUL-terminated, as the parsers promise to cope with.
 */
#include <string.h>

#include "../../reader/reader.h"
#include "fuzz.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	kw_log_init("fuzz_procfs", KW_LOG_ERROR);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct procfs_stat st;
	struct procfs_statm sm;
	struct procfs_status ss;
	struct kw_host h;
	char *copy;
	size_t n;

	if (procfs_parse_stat(buf, size, &st) == 0) {
		FUZZ_CHECK(strlen(st.comm) < sizeof(st.comm));
		FUZZ_CHECK(st.pid >= 0 && st.ppid >= 0);
		(void)procfs_ticks_to_ns(st.utime + st.stime, 100);
		(void)procfs_ticks_to_ns(st.starttime, 300);
	}
	(void)procfs_parse_statm(buf, size, &sm);
	if (procfs_parse_status(buf, size, &ss) == 0)
		FUZZ_CHECK(ss.has_uid);
	if (procfs_parse_meminfo(buf, size, &h) == 0)
		FUZZ_CHECK(h.mem_used_kb <= h.mem_total_kb);
	(void)procfs_count_cpus(buf, size);

	/* cmdline is cleaned in place in a buffer one byte longer. */
	if ((copy = malloc(size + 1)) == NULL)
		return 0;
	memcpy(copy, buf, size);
	n = procfs_cmdline_clean(copy, size);
	FUZZ_CHECK(n <= size && n < KW_CMDLINE_MAX);
	FUZZ_CHECK(strlen(copy) == n);
	FUZZ_CHECK(memchr(copy, '\n', n) == NULL);
	free(copy);
	return 0;
}
