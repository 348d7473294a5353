/*
 * Fuzz the Docker log stream as the evidence reads it: the first byte
 * chooses multiplexed or raw and the bounds, the rest is the body of GET
 * /containers/{id}/logs. The lines kept stay within the bounds, and the
 * evidence document built from them is JSON that parses back.
 */
#include <string.h>

#include <jansson.h>

#include "kwarden.h"
#include "../../decider/decider.h"
#include "fuzz.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	kw_log_init("fuzz_docker_logs", KW_LOG_ERROR);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kw_deletion_rec rec;
	struct evidence_in in;
	struct log_lines ll;
	size_t max_bytes, max_lines, i, sum = 0;
	int multiplexed, rc;
	json_t *o;
	char *s;

	if (size < 1)
		return 0;
	multiplexed = data[0] & 1;
	max_bytes = (size_t)((data[0] >> 1) & 7) * 37; /* 0 .. 259 */
	max_lines = (size_t)(data[0] >> 4);	       /* 0 .. 15 */
	log_lines_init(&ll, max_bytes, max_lines);
	rc = docker_logs_demux((const char *)data + 1, size - 1, multiplexed,
	    &ll);
	FUZZ_CHECK(rc == 0 || rc == -2);
	FUZZ_CHECK(rc == 0 || ll.bad);
	FUZZ_CHECK(ll.n <= max_lines);
	for (i = 0; i < ll.n; i++) {
		FUZZ_CHECK(ll.l[i].stream >= 0 && ll.l[i].stream <= 2);
		FUZZ_CHECK(ll.l[i].text[ll.l[i].len] == '\0');
		sum += ll.l[i].len + 1;
	}
	FUZZ_CHECK(sum == ll.bytes);
	FUZZ_CHECK(ll.bytes <= max_bytes);

	memset(&rec, 0, sizeof(rec));
	memset(&in, 0, sizeof(in));
	in.rec = &rec;
	in.logs = &ll;
	s = evidence_build(&in, 4096);
	FUZZ_CHECK(s != NULL && strlen(s) <= 4096);
	o = json_loads(s, 0, NULL);
	FUZZ_CHECK(o != NULL && json_is_object(o));
	FUZZ_CHECK(json_array_size(json_object_get(o, "logs")) <= ll.n);
	json_decref(o);
	free(s);
	log_lines_free(&ll);
	return 0;
}
