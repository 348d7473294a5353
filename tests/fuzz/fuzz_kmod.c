/*
 * Fuzz the kernel modules' JSON snapshot parser (strict JSON, or the
 * seed's with trailing commas) and check what it promises of an accepted
 * snapshot: valid pids, bounded strings, container ids of 64 hex digits.
 */
#include <string.h>

#include "../../reader/reader.h"
#include "fuzz.h"

static struct kw_snapshot snap;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	kw_log_init("fuzz_kmod", KW_LOG_ERROR);
	kw_snapshot_init(&snap);
	return 0;
}

static int
is_cid(const char *s)
{
	size_t n = strspn(s, "0123456789abcdef");

	return n == KW_CID_LEN - 1 && s[n] == '\0';
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kmod_info info;
	char err[256];
	size_t i;
	int r;

	err[0] = 'x';
	r = kmod_parse((const char *)data, size, &snap, &info, err,
	    sizeof(err));
	if (r == -1) {
		FUZZ_CHECK(err[0] != '\0');
		FUZZ_CHECK(snap.nprocs == 0);
	} else {
		FUZZ_CHECK(strcmp(snap.source, "kmod") == 0);
		FUZZ_CHECK(r == 0 || err[0] != '\0');
		FUZZ_CHECK(snap.host.ncpu > 0);
		FUZZ_CHECK(info.no_container_id <= snap.nprocs);
	}
	for (i = 0; i < snap.nprocs; i++) {
		const struct kw_proc *p = &snap.procs[i];

		FUZZ_CHECK(p->pid > 0 && p->ppid >= 0);
		FUZZ_CHECK(p->cmdline != NULL);
		FUZZ_CHECK(strlen(p->cmdline) < KW_CMDLINE_MAX);
		FUZZ_CHECK(
		    strnlen(p->name, sizeof(p->name)) < sizeof(p->name));
		FUZZ_CHECK(
		    p->container_id[0] == '\0' || is_cid(p->container_id));
	}
	kw_snapshot_clear(&snap);
	return 0;
}
