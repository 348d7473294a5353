/*
 * Fuzz the parser of the kernel module's delta file (its header: "full",
 * "generation", "cap_hits"; its "exited" pids; the records as in the full
 * file) and the merge of the passes into the base the reader publishes.
 *
 * One input is several passes separated by NUL bytes (never part of a JSON
 * text): each is parsed as a delta pass, and each accepted without a
 * skipped entry is applied to the base, as kmod_delta_read does. Checks:
 * a refused pass leaves nothing behind and says why; an accepted one has
 * its exited pids positive and sorted; the base after a merge is sorted by
 * pid without duplicates, holds every record of the pass and none of the
 * pids it says exited.
 */
#include <string.h>

#include "../../reader/reader.h"
#include "fuzz.h"

#define MAX_PASSES 8

static struct kw_snapshot base, pass;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	kw_log_init("fuzz_kmod_delta", KW_LOG_ERROR);
	kw_snapshot_init(&base);
	kw_snapshot_init(&pass);
	return 0;
}

static int
has_pid(const struct kw_snapshot *s, int32_t pid)
{
	size_t lo = 0, hi = s->nprocs, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (s->procs[mid].pid == pid)
			return 1;
		if (s->procs[mid].pid < pid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

static void
one_pass(const char *buf, size_t len)
{
	struct kmod_info info;
	int32_t *listed = NULL;
	char err[256];
	size_t i, n;
	int r;

	err[0] = 'x';
	r = kmod_parse_delta(buf, len, &pass, &info, err, sizeof(err));
	if (r == -1) {
		FUZZ_CHECK(err[0] != '\0');
		FUZZ_CHECK(pass.nprocs == 0);
		FUZZ_CHECK(info.exited == NULL && info.nexited == 0);
		return;
	}
	FUZZ_CHECK(info.delta == 1);
	FUZZ_CHECK(strcmp(pass.source, "kmod") == 0);
	FUZZ_CHECK(r == 0 || err[0] != '\0');
	for (i = 0; i < info.nexited; i++) {
		FUZZ_CHECK(info.exited[i] > 0);
		FUZZ_CHECK(i == 0 || info.exited[i - 1] <= info.exited[i]);
	}
	for (i = 0; i < pass.nprocs; i++) {
		FUZZ_CHECK(pass.procs[i].pid > 0);
		FUZZ_CHECK(pass.procs[i].cmdline != NULL);
		FUZZ_CHECK(strlen(pass.procs[i].cmdline) < KW_CMDLINE_MAX);
	}
	/* The reader refuses a pass with skipped entries: so here. */
	if (r > 0)
		goto out;
	n = pass.nprocs;
	if (n > 0 && (listed = malloc(n * sizeof(*listed))) == NULL)
		goto out;
	for (i = 0; i < n; i++)
		listed[i] = pass.procs[i].pid;
	if (kmod_delta_apply(&base, &pass, &info, err, sizeof(err)) == -1) {
		FUZZ_CHECK(err[0] != '\0');
		/* A contradiction refuses the pass: the base starts over. */
		kw_snapshot_clear(&base);
		goto out;
	}
	for (i = 1; i < base.nprocs; i++)
		FUZZ_CHECK(base.procs[i - 1].pid < base.procs[i].pid);
	for (i = 0; i < n; i++)
		FUZZ_CHECK(has_pid(&base, listed[i]));
	for (i = 0; i < info.nexited; i++)
		FUZZ_CHECK(!has_pid(&base, info.exited[i]));
	if (info.full)
		FUZZ_CHECK(base.nprocs == n);
out:
	free(listed);
	kw_snapshot_clear(&pass);
	kmod_info_free(&info);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size, *nul;
	int k;

	for (k = 0; k < MAX_PASSES && p <= end; k++) {
		nul = memchr(p, '\0', (size_t)(end - p));
		one_pass(p, (size_t)((nul != NULL ? nul : end) - p));
		if (nul == NULL)
			break;
		p = nul + 1;
	}
	kw_snapshot_clear(&base);
	return 0;
}
