/*
 * evidence.c: Docker's log stream cut into lines (multiplexed and raw,
 * cut anywhere, bounded), the inspect summary, the top processes of a
 * container and the JSON document, its size bound included.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "../../decider/decider.h"

/* One frame of Docker's multiplexed stream appended to buf at *len. */
static void
frame(char *buf, size_t *len, int stream, const char *s)
{
	size_t n = strlen(s);

	buf[(*len)++] = (char)stream;
	buf[(*len)++] = 0;
	buf[(*len)++] = 0;
	buf[(*len)++] = 0;
	buf[(*len)++] = (char)(n >> 24);
	buf[(*len)++] = (char)(n >> 16);
	buf[(*len)++] = (char)(n >> 8);
	buf[(*len)++] = (char)n;
	memcpy(buf + *len, s, n);
	*len += n;
}

static void
demux__frames__lines_with_their_stream(void **state)
{
	struct log_lines ll;
	char buf[256];
	size_t len = 0;

	frame(buf, &len, 1, "hello\n");
	frame(buf, &len, 2, "oops\r\n");
	frame(buf, &len, 1, "half ");
	frame(buf, &len, 2, "err two\n");
	frame(buf, &len, 1, "a line\nlast");
	assert_true(docker_logs_multiplexed(buf, len));
	log_lines_init(&ll, 4096, 100);
	assert_int_equal(docker_logs_demux(buf, len, 1, &ll), 0);
	assert_int_equal(ll.n, 5);
	assert_string_equal(ll.l[0].text, "hello");
	assert_int_equal(ll.l[0].stream, 1);
	assert_string_equal(ll.l[1].text, "oops");
	assert_int_equal(ll.l[1].stream, 2);
	assert_string_equal(ll.l[2].text, "err two");
	assert_string_equal(ll.l[3].text, "half a line");
	assert_int_equal(ll.l[3].stream, 1);
	assert_string_equal(ll.l[4].text, "last");
	assert_false(ll.cut);
	log_lines_free(&ll);
}

static void
demux__raw_tty__one_stream(void **state)
{
	struct log_lines ll;
	const char *s = "one\ntwo\n";

	assert_false(docker_logs_multiplexed(s, strlen(s)));
	log_lines_init(&ll, 4096, 100);
	assert_int_equal(docker_logs_demux(s, strlen(s), 0, &ll), 0);
	assert_int_equal(ll.n, 2);
	assert_int_equal(ll.l[1].stream, 0);
	assert_string_equal(ll.l[1].text, "two");
	log_lines_free(&ll);
}

static void
demux__over_bytes__newest_kept(void **state)
{
	struct log_lines ll;
	char buf[4096], line[32];
	size_t len = 0;
	int i;

	for (i = 0; i < 100; i++) {
		snprintf(line, sizeof(line), "line %03d\n", i);
		frame(buf, &len, 1, line);
	}
	/* "line NNN" is 8 bytes, 9 with its newline: 5 fit in 45. */
	log_lines_init(&ll, 45, 1000);
	assert_int_equal(docker_logs_demux(buf, len, 1, &ll), 0);
	assert_int_equal(ll.n, 5);
	assert_string_equal(ll.l[0].text, "line 095");
	assert_string_equal(ll.l[4].text, "line 099");
	assert_int_equal(ll.dropped, 95);
	assert_true(ll.bytes <= 45);
	log_lines_free(&ll);

	log_lines_init(&ll, 4096, 3);
	assert_int_equal(docker_logs_demux(buf, len, 1, &ll), 0);
	assert_int_equal(ll.n, 3);
	assert_string_equal(ll.l[0].text, "line 097");
	log_lines_free(&ll);
}

static void
demux__cut_anywhere__no_more_lines_than_whole(void **state)
{
	struct log_lines whole, part;
	char buf[256];
	size_t len = 0, cut;

	frame(buf, &len, 1, "first\n");
	frame(buf, &len, 2, "second\n");
	log_lines_init(&whole, 4096, 100);
	assert_int_equal(docker_logs_demux(buf, len, 1, &whole), 0);
	for (cut = 0; cut < len; cut++) {
		log_lines_init(&part, 4096, 100);
		assert_int_equal(docker_logs_demux(buf, cut, 1, &part), 0);
		assert_true(part.n <= whole.n);
		if (cut > 0 && cut != 14) /* 14: exactly the first frame */
			assert_true(part.cut);
		log_lines_free(&part);
	}
	log_lines_free(&whole);
}

static void
demux__not_a_frame__refused_lines_before_kept(void **state)
{
	struct log_lines ll;
	char buf[256];
	size_t len = 0;

	frame(buf, &len, 1, "good\n");
	memcpy(buf + len, "garbage!garbage!", 16);
	len += 16;
	log_lines_init(&ll, 4096, 100);
	assert_int_equal(docker_logs_demux(buf, len, 1, &ll), -2);
	assert_true(ll.bad);
	assert_int_equal(ll.n, 1);
	assert_string_equal(ll.l[0].text, "good");
	log_lines_free(&ll);
}

static void
demux__long_line__cut_to_budget(void **state)
{
	struct log_lines ll;
	char big[300];

	memset(big, 'x', sizeof(big));
	log_lines_init(&ll, 64, 100);
	assert_int_equal(docker_logs_demux(big, sizeof(big), 0, &ll), 0);
	assert_int_equal(ll.n, 1);
	assert_true(ll.l[0].len < 64);
	assert_true(ll.cut);
	log_lines_free(&ll);
}

static void
utf8_clean__invalid_bytes__replaced(void **state)
{
	const char in[] =
	    "ok \xc3\xa9 \xff bad \xe2\x82 \xed\xa0\x80 \xc0\xaf "
	    "\0.";
	char out[sizeof(in)];
	size_t n;

	n = evidence_utf8_clean(in, sizeof(in) - 1, out);
	out[n] = '\0';
	/* é kept; 0xff, a cut sequence, a surrogate, an overlong: '?'. */
	assert_string_equal(out, "ok \xc3\xa9 ? bad ?? ??? ?? ?.");
}

static const char inspect_body[] =
    "{\"Id\":\"abc\",\"Name\":\"/web_1\",\"Image\":\"sha256:1234\","
    "\"Created\":\"2026-12-01T10:00:00Z\",\"RestartCount\":3,"
    "\"State\":{\"Status\":\"running\",\"OOMKilled\":false,"
    "\"StartedAt\":\"2026-12-01T10:00:01Z\"},"
    "\"Config\":{\"Image\":\"nginx:1\",\"Tty\":false,"
    "\"Env\":[\"SECRET=hunter2\"],"
    "\"Labels\":{\"com.docker.compose.service\":\"web\",\"n\":7}},"
    "\"HostConfig\":{\"NanoCpus\":500000000,\"Memory\":268435456,"
    "\"MemorySwap\":-1,\"CpuShares\":0,\"PidsLimit\":100,"
    "\"RestartPolicy\":{\"Name\":\"always\",\"MaximumRetryCount\":0}}}";

static void
inspect__summary__limits_labels_no_env(void **state)
{
	struct evidence_inspect *in = calloc(1, sizeof(*in));
	char err[128];

	assert_int_equal(evidence_parse_inspect(inspect_body,
			     strlen(inspect_body), in, err, sizeof(err)),
	    0);
	assert_string_equal(in->name, "web_1");
	assert_string_equal(in->image, "nginx:1");
	assert_string_equal(in->image_id, "sha256:1234");
	assert_string_equal(in->status, "running");
	assert_string_equal(in->restart_policy, "always");
	assert_int_equal(in->restart_count, 3);
	assert_int_equal(in->nano_cpus, 500000000);
	assert_int_equal(in->memory, 268435456);
	assert_int_equal(in->memory_swap, -1);
	assert_int_equal(in->pids_limit, 100);
	assert_false(in->tty);
	/* Only string labels. */
	assert_int_equal(in->nlabels, 1);
	assert_string_equal(in->labels[0].key, "com.docker.compose.service");
	assert_string_equal(in->labels[0].value, "web");
	free(in);
}

static void
inspect__not_json__error(void **state)
{
	struct evidence_inspect *in = calloc(1, sizeof(*in));
	char err[128];

	assert_int_equal(evidence_parse_inspect("{\"Id\":", 6, in, err,
			     sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "inspect"));
	assert_int_equal(evidence_parse_inspect("[1]", 3, in, err,
			     sizeof(err)),
	    -1);
	free(in);
}

static void
add_proc(struct kw_snapshot *s, int32_t pid, const char *name, const char *cid,
    uint64_t rss_kb)
{
	struct kw_proc *p = kw_snapshot_add(s);

	assert_non_null(p);
	p->pid = pid;
	p->rss_kb = rss_kb;
	p->state = 'R';
	snprintf(p->name, sizeof(p->name), "%s", name);
	snprintf(p->container_id, sizeof(p->container_id), "%s", cid);
	assert_int_equal(kw_proc_set_cmdline(p, name, strlen(name)), 0);
}

static void
top_procs__container_only__busiest_first(void **state)
{
	struct kw_snapshot s;
	struct evidence_proc out[2];
	double cpu[5] = { 90, 10, 30, 50, 30 };
	size_t n;

	kw_snapshot_init(&s);
	s.host.mem_total_kb = 1000;
	add_proc(&s, 1, "host", "", 10);
	add_proc(&s, 2, "idle", "c1", 10);
	add_proc(&s, 3, "small", "c1", 10);
	add_proc(&s, 4, "busy", "c1", 10);
	add_proc(&s, 5, "big", "c1", 500);
	n = evidence_top_procs(&s, cpu, "c1", out, 2);
	assert_int_equal(n, 2);
	assert_string_equal(out[0].name, "busy");
	/* 30 % each: the bigger RSS first. */
	assert_string_equal(out[1].name, "big");
	assert_true(out[1].mem_pct > 49.9 && out[1].mem_pct < 50.1);
	assert_int_equal(evidence_top_procs(&s, cpu, "nope", out, 2), 0);
	kw_snapshot_free(&s);
}

static void
fill_rec(struct kw_deletion_rec *r)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->container_id, sizeof(r->container_id), "%064d", 7);
	snprintf(r->name, sizeof(r->name), "web_1");
	snprintf(r->image, sizeof(r->image), "nginx:1");
	snprintf(r->class_name, sizeof(r->class_name), "low");
	snprintf(r->action, sizeof(r->action), "stop");
	snprintf(r->reason, sizeof(r->reason), "cpu 48.3%% > 20.0%%");
	r->cpu_pct = 48.3;
}

static void
build__every_part__in_the_document(void **state)
{
	struct kw_deletion_rec rec;
	struct kw_container_rec ctr;
	struct evidence_proc p = { .pid = 42,
		.name = "nginx",
		.cmdline = "nginx -g daemon off;",
		.state = 'R',
		.cpu_pct = 48 };
	struct evidence_inspect *ins = calloc(1, sizeof(*ins));
	struct evidence_in in;
	struct log_lines ll;
	json_t *o;
	char err[128], *s;
	const char raw[] = "bad \xff byte\n";

	fill_rec(&rec);
	memset(&ctr, 0, sizeof(ctr));
	ctr.cpu_pct = 48.3;
	ctr.working_set_kb = 1234;
	assert_int_equal(evidence_parse_inspect(inspect_body,
			     strlen(inspect_body), ins, err, sizeof(err)),
	    0);
	log_lines_init(&ll, 4096, 10);
	assert_int_equal(docker_logs_demux(raw, sizeof(raw) - 1, 0, &ll), 0);
	memset(&in, 0, sizeof(in));
	in.rec = &rec;
	in.ts_ns = 1764200000500000000ULL;
	in.ctr = &ctr;
	in.procs = &p;
	in.nprocs = 1;
	in.inspect = ins;
	in.logs = &ll;
	in.capture_ms = 12;
	s = evidence_build(&in, KW_EVIDENCE_MAX);
	assert_non_null(s);
	o = json_loads(s, 0, NULL);
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "action")),
	    "stop");
	assert_string_equal(json_string_value(json_object_get(o, "name")),
	    "web_1");
	assert_int_equal(json_integer_value(
			     json_object_get(json_object_get(o, "figures"),
				 "working_set_kb")),
	    1234);
	assert_int_equal(json_integer_value(
			     json_object_get(json_array_get(json_object_get(o,
								"top"),
						 0),
				 "pid")),
	    42);
	assert_string_equal(json_string_value(json_object_get(
				json_array_get(json_object_get(o, "logs"), 0),
				"text")),
	    "bad ? byte");
	assert_int_equal(json_integer_value(
			     json_object_get(json_object_get(json_object_get(o,
								 "inspect"),
						 "limits"),
				 "memory")),
	    268435456);
	assert_string_equal(json_string_value(json_object_get(
				json_object_get(json_object_get(o, "inspect"),
				    "restart_policy"),
				"name")),
	    "always");
	assert_null(strstr(s, "hunter2"));
	assert_true(json_is_false(json_object_get(o, "timed_out")));
	json_decref(o);
	free(s);
	log_lines_free(&ll);
	free(ins);
}

static void
build__missing_parts__null_with_errors(void **state)
{
	struct kw_deletion_rec rec;
	struct evidence_in in;
	json_t *o;
	char *s;

	fill_rec(&rec);
	memset(&in, 0, sizeof(in));
	in.rec = &rec;
	in.inspect_error = "no answer within 2000 ms";
	in.logs_error = "Docker is not connected";
	in.timed_out = 1;
	s = evidence_build(&in, KW_EVIDENCE_MAX);
	o = json_loads(s, 0, NULL);
	assert_non_null(o);
	assert_true(json_is_null(json_object_get(o, "inspect")));
	assert_true(json_is_null(json_object_get(o, "logs")));
	assert_true(json_is_null(json_object_get(o, "figures")));
	assert_string_equal(json_string_value(
				json_object_get(o, "inspect_error")),
	    "no answer within 2000 ms");
	assert_true(json_is_true(json_object_get(o, "timed_out")));
	json_decref(o);
	free(s);
}

static void
build__over_max__oldest_logs_go_then_cut(void **state)
{
	struct kw_deletion_rec rec;
	struct evidence_in in;
	struct log_lines ll;
	char line[128];
	json_t *o, *logs;
	size_t i, full;
	char *s;

	fill_rec(&rec);
	log_lines_init(&ll, 1 << 20, 1000);
	for (i = 0; i < 200; i++) {
		snprintf(line, sizeof(line), "%03zu %s\n", i,
		    "some text that makes each line long enough");
		assert_int_equal(docker_logs_demux(line, strlen(line), 0, &ll),
		    0);
	}
	memset(&in, 0, sizeof(in));
	in.rec = &rec;
	in.logs = &ll;
	s = evidence_build(&in, KW_EVIDENCE_MAX);
	full = strlen(s);
	free(s);
	s = evidence_build(&in, full / 2);
	assert_true(strlen(s) <= full / 2);
	o = json_loads(s, 0, NULL);
	logs = json_object_get(o, "logs");
	assert_true(json_array_size(logs) > 0 && json_array_size(logs) < 200);
	/* The newest line stays. */
	assert_string_equal(json_string_value(
				json_object_get(json_array_get(logs,
						    json_array_size(logs) - 1),
				    "text")),
	    "199 some text that makes each line long enough");
	json_decref(o);
	free(s);
	/* Smaller than anything but the facts: cut. */
	s = evidence_build(&in, 10);
	o = json_loads(s, 0, NULL);
	assert_true(json_is_true(json_object_get(o, "cut")));
	assert_int_equal(json_array_size(json_object_get(o, "logs")), 0);
	json_decref(o);
	free(s);
	log_lines_free(&ll);
}

static void
with_result__adds_result__bad_input_still_json(void **state)
{
	json_t *o;
	char *s;

	s = evidence_with_result("{\"name\":\"a\"}", "ok");
	o = json_loads(s, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(o, "result")),
	    "ok");
	assert_string_equal(json_string_value(json_object_get(o, "name")),
	    "a");
	json_decref(o);
	free(s);
	s = evidence_with_result("not json", "failed: \xff");
	o = json_loads(s, 0, NULL);
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "result")),
	    "failed: ?");
	json_decref(o);
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(demux__frames__lines_with_their_stream),
		cmocka_unit_test(demux__raw_tty__one_stream),
		cmocka_unit_test(demux__over_bytes__newest_kept),
		cmocka_unit_test(
		    demux__cut_anywhere__no_more_lines_than_whole),
		cmocka_unit_test(
		    demux__not_a_frame__refused_lines_before_kept),
		cmocka_unit_test(demux__long_line__cut_to_budget),
		cmocka_unit_test(utf8_clean__invalid_bytes__replaced),
		cmocka_unit_test(inspect__summary__limits_labels_no_env),
		cmocka_unit_test(inspect__not_json__error),
		cmocka_unit_test(top_procs__container_only__busiest_first),
		cmocka_unit_test(build__every_part__in_the_document),
		cmocka_unit_test(build__missing_parts__null_with_errors),
		cmocka_unit_test(build__over_max__oldest_logs_go_then_cut),
		cmocka_unit_test(
		    with_result__adds_result__bad_input_still_json),
	};

	return cmocka_run_group_tests_name("decider_evidence", tests, NULL,
	    NULL);
}
