/*
 * Fuzz the Docker event stream as docker.c reads it: bytes arrive in
 * pieces (chunking from the input), docker_stream_next cuts objects out,
 * each is parsed and applied to the table. The objects found must be the
 * same however the bytes were cut.
 */
#include <string.h>

#include "kwarden.h"
#include "../../decider/decider.h"
#include "fuzz.h"

struct cut {
	size_t off; /* in the stream */
	long len;   /* -1: not an object there, the end */
};

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	kw_log_init("fuzz_docker_stream", KW_LOG_ERROR);
	return 0;
}

/*
 * docker.c's events_feed, fed piece by piece: returns how many cuts (at
 * most one per two bytes), the last may be an error.
 */
static size_t
run(const char *data, size_t size, uint8_t max, uint8_t seed, struct cut *cuts)
{
	struct fuzz_chunks ch;
	struct docker_table t;
	struct docker_event ev;
	char *buf, err[256];
	size_t len = 0, base = 0, pos = 0, used, start, ncut = 0;
	long n;

	if ((buf = malloc(size + 1)) == NULL)
		abort();
	docker_table_init(&t);
	fuzz_chunks_init(&ch, max, seed);
	while (pos < size) {
		n = (long)fuzz_chunks_next(&ch, size - pos);
		memcpy(buf + len, data + pos, (size_t)n);
		len += (size_t)n;
		pos += (size_t)n;
		buf[len] = '\0';
		for (used = 0;;) {
			n = docker_stream_next(buf + used, len - used, &start);
			FUZZ_CHECK(start <= len - used);
			if (n == 0) {
				used += start;
				break;
			}
			FUZZ_CHECK(ncut < size / 2 + 1);
			cuts[ncut].off = base + used + start;
			cuts[ncut++].len = n;
			if (n < 0)
				goto out;
			FUZZ_CHECK((size_t)n <= len - used - start);
			FUZZ_CHECK(buf[used + start] == '{');
			if (docker_parse_event(buf + used + start, (size_t)n,
				&ev, err, sizeof(err)) == 0)
				(void)docker_table_apply_event(&t, &ev);
			used += start + (size_t)n;
		}
		memmove(buf, buf + used, len - used);
		len -= used;
		base += used;
	}
out:
	docker_table_free(&t);
	free(buf);
	return ncut;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cut *a, *b;
	size_t na, nb;

	if (size < 2)
		return 0;
	a = calloc(size / 2 + 1, sizeof(*a));
	b = calloc(size / 2 + 1, sizeof(*b));
	if (a == NULL || b == NULL)
		abort();
	na = run((const char *)data + 2, size - 2, data[0], data[1], a);
	nb = run((const char *)data + 2, size - 2, 0, 0, b);
	FUZZ_CHECK(na == nb);
	FUZZ_CHECK(memcmp(a, b, na * sizeof(a[0])) == 0);
	free(a);
	free(b);
	return 0;
}
