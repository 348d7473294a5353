/*
 * metrics.c: the Prometheus text exposition rendered from plain views
 * (hostile label values included), the counts by label, the listen
 * address and the result classes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include <cmocka.h>

#include "../../decider/decider.h"

static struct metrics_container
ctr(const char *id, const char *name, const char *image, const char *cls)
{
	struct metrics_container c;

	memset(&c, 0, sizeof(c));
	snprintf(c.id, sizeof(c.id), "%s", id);
	c.name = name;
	c.image = image;
	c.class_name = cls;
	c.cpu_ratio = 0.5;
	c.working_set_bytes = 1048576;
	return c;
}

static char *
render(const struct metrics_view *v)
{
	struct metrics_buf b;

	memset(&b, 0, sizeof(b));
	assert_int_equal(metrics_render(v, &b), 0);
	assert_non_null(b.p);
	assert_int_equal(strlen(b.p), b.len);
	return b.p;
}

static int
count(const char *hay, const char *needle)
{
	int n = 0;

	while ((hay = strstr(hay, needle)) != NULL) {
		n++;
		hay += strlen(needle);
	}
	return n;
}

/*
 * Every line is a comment (HELP, TYPE) or NAME[{LABELS}] VALUE: no raw
 * newline inside a label value, nothing but the format's escapes, and a
 * family's HELP and TYPE exactly once, before its samples.
 */
static void
check_lines(const char *text)
{
	char *copy = strdup(text), *line, *save = NULL, *p, *q;
	char seen[200][80];
	size_t nseen = 0, i;

	assert_non_null(copy);
	for (line = strtok_r(copy, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "# TYPE ", 7) == 0) {
			p = line + 7;
			q = strchr(p, ' ');
			assert_non_null(q);
			for (i = 0; i < nseen; i++)
				assert_false(strncmp(seen[i], p,
						 (size_t)(q - p)) == 0 &&
				    seen[i][q - p] == '\0');
			assert_true(nseen < 200);
			snprintf(seen[nseen++], sizeof(seen[0]), "%.*s",
			    (int)(q - p), p);
			continue;
		}
		if (line[0] == '#') {
			assert_int_equal(strncmp(line, "# HELP ", 7), 0);
			continue;
		}
		assert_int_equal(strncmp(line, "kwarden_", 8), 0);
		for (p = line; *p && *p != '{' && *p != ' '; p++)
			assert_true((*p >= 'a' && *p <= 'z') || *p == '_' ||
			    (*p >= '0' && *p <= '9'));
		if (*p == '{') {
			/* label="value" pairs, escapes only \\ \" \n */
			p++;
			while (*p != '}') {
				while (*p >= 'a' && *p <= 'z')
					p++;
				assert_int_equal(*p++, '=');
				assert_int_equal(*p++, '"');
				while (*p != '"') {
					assert_true(*p != '\0');
					if (*p == '\\') {
						p++;
						assert_non_null(
						    strchr("\\\"n", *p));
					}
					p++;
				}
				p++;
				if (*p == ',')
					p++;
				else
					assert_int_equal(*p, '}');
			}
			p++;
		}
		assert_int_equal(*p, ' ');
		/* the sample's family was typed before it */
		for (i = 0; i < nseen; i++)
			if (strncmp(line, seen[i], strlen(seen[i])) == 0)
				break;
		assert_true(i < nseen);
	}
	free(copy);
}

static void
render__hostile_names__escaped_and_utf8(void **state)
{
	struct metrics_container c[1];
	struct metrics_view v;
	char *text;

	memset(&v, 0, sizeof(v));
	v.version = "0.1.0";
	c[0] = ctr("0123456789ab", "a\"b\\c\nd} x=\"1\"",
	    "img\xff\xfe.\xc3\xa9", "lo\xe0\x80\xafw");
	v.containers = c;
	v.ncontainers = 1;
	text = render(&v);
	check_lines(text);
	assert_non_null(strstr(text,
	    "kwarden_container_cpu_ratio{"
	    "id=\"0123456789ab\",name=\"a\\\"b\\\\c\\nd} x=\\\"1\\\"\","
	    "image=\"img\xef\xbf\xbd\xef\xbf\xbd.\xc3\xa9\","
	    "class=\"lo\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdw\"} 0.5\n"));
	assert_non_null(strstr(text,
	    "kwarden_container_memory_working_set_"
	    "bytes{id=\"0123456789ab\""));
	free(text);
}

static void
escape__each_case__as_the_format_says(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "plain", "plain" }, { "", "" }, { "q\"", "q\\\"" },
		{ "b\\", "b\\\\" }, { "n\n", "n\\n" },
		{ "tab\tcr\r", "tab\tcr\r" }, /* legal as they are */
		{ "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80",
		    "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80" },
		{ "\x80", "\xef\xbf\xbd" }, /* lone continuation */
		{ "\xc3", "\xef\xbf\xbd" }, /* cut short */
		{ "\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd" }, /* overlong */
		{ "\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
		/* surrogate */
		{ "\xf4\x90\x80\x80",
		    "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
		    "\xef\xbf\xbd" }, /* past U+10FFFF */
	};
	struct metrics_buf b;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&b, 0, sizeof(b));
		metrics_escape_label(&b, cases[i].in);
		assert_false(b.oom);
		assert_string_equal(b.p != NULL ? b.p : "", cases[i].out);
		metrics_buf_free(&b);
	}
}

/* The view is the last sample: a container not in it has no series. */
static void
render__container_gone__its_series_gone(void **state)
{
	struct metrics_container c[2];
	struct metrics_view v;
	char *text;

	memset(&v, 0, sizeof(v));
	v.version = "0.1.0";
	c[0] = ctr("aaaaaaaaaaaa", "kwp-one", "img", "low");
	c[1] = ctr("bbbbbbbbbbbb", "kwp-two", "img", "high");
	c[1].throttled = 1;
	c[1].strikes = 2;
	v.containers = c;
	v.ncontainers = 2;
	text = render(&v);
	assert_non_null(strstr(text,
	    "\nkwarden_container_throttled{id="
	    "\"bbbbbbbbbbbb\",name=\"kwp-two\",image=\"img\",class=\"high\"} "
	    "1\n"));
	assert_non_null(strstr(text,
	    "\nkwarden_container_strikes{id="
	    "\"bbbbbbbbbbbb\",name=\"kwp-two\",image=\"img\",class=\"high\"} "
	    "2\n"));
	assert_int_equal(count(text, "id=\"bbbbbbbbbbbb\""), 13);
	free(text);
	v.ncontainers = 1;
	text = render(&v);
	check_lines(text);
	assert_int_equal(count(text, "id=\"bbbbbbbbbbbb\""), 0);
	assert_int_equal(count(text, "id=\"aaaaaaaaaaaa\""), 13);
	/* the families stay, typed, with no samples */
	assert_non_null(strstr(text,
	    "# TYPE kwarden_container_cpu_ratio "
	    "gauge\n"));
	free(text);
}

static void
render__scalars_and_counts__values_and_types(void **state)
{
	struct metrics_counts actions, skips, hooks;
	struct metrics_view v;
	const char *hk[2] = { "webhook", "retried" };
	const char *a[3] = { "remove", "low", "ok" };
	const char *f[3] = { "remove", "low", "failed" };
	const char *s[1] = { "min-alive" };
	char *text;

	memset(&v, 0, sizeof(v));
	memset(&actions, 0, sizeof(actions));
	memset(&skips, 0, sizeof(skips));
	memset(&hooks, 0, sizeof(hooks));
	assert_int_equal(metrics_counts_add(&hooks, hk, 2, 4), 0);
	assert_int_equal(metrics_counts_add(&actions, a, 3, 1), 0);
	assert_int_equal(metrics_counts_add(&actions, f, 3, 1), 0);
	assert_int_equal(metrics_counts_add(&actions, a, 3, 2), 0);
	assert_int_equal(metrics_counts_add(&skips, s, 1, 5), 0);
	assert_int_equal(actions.n, 2);
	v.version = "1.2\"3";
	v.host_cpu_ratio = 0.25;
	v.host_memory_total_bytes = 25769803776.0;
	v.snapshot_age_seconds = NAN;
	v.stream_seq = 9007199254740993.0; /* past 2^53: as a double */
	v.docker_connected = 1;
	v.stream_ring_acked_bytes = 1048321;
	v.stream_ring_trimmed = 12336;
	v.actions = &actions;
	v.skips = &skips;
	v.hooks = &hooks;
	text = render(&v);
	check_lines(text);
	assert_non_null(strstr(text,
	    "kwarden_build_info{version=\"1.2\\\"3\"} "
	    "1\n"));
	assert_non_null(strstr(text, "\nkwarden_host_cpu_ratio 0.25\n"));
	assert_non_null(strstr(text,
	    "\nkwarden_host_memory_total_bytes "
	    "25769803776\n"));
	assert_non_null(strstr(text, "\nkwarden_snapshot_age_seconds NaN\n"));
	assert_non_null(strstr(text,
	    "\n# TYPE kwarden_stream_ring_acked_bytes gauge\n"
	    "kwarden_stream_ring_acked_bytes 1048321\n"));
	assert_non_null(strstr(text,
	    "\n# TYPE kwarden_stream_ring_trimmed_messages_total counter\n"
	    "kwarden_stream_ring_trimmed_messages_total 12336\n"));
	assert_non_null(strstr(text, "\nkwarden_docker_connected 1\n"));
	assert_non_null(
	    strstr(text, "# TYPE kwarden_actions_total counter\n"));
	assert_non_null(strstr(text,
	    "\nkwarden_actions_total{action=\"remove\","
	    "class=\"low\",result=\"ok\"} 3\n"));
	assert_non_null(strstr(text,
	    "\nkwarden_actions_total{action=\"remove\","
	    "class=\"low\",result=\"failed\"} 1\n"));
	assert_non_null(strstr(text,
	    "\nkwarden_skips_total{reason="
	    "\"min-alive\"} 5\n"));
	assert_non_null(strstr(text,
	    "\nkwarden_hook_deliveries_total{kind="
	    "\"webhook\",outcome=\"retried\"} 4\n"));
	/* counters end in _total, and only they */
	assert_non_null(strstr(text,
	    "# TYPE kwarden_snapshots_total "
	    "counter\n"));
	assert_int_equal(count(text, "_total gauge\n"), 0);
	free(text);
	metrics_counts_free(&actions);
	metrics_counts_free(&skips);
	metrics_counts_free(&hooks);
}

static void
counts__long_label__cut_and_still_one_entry(void **state)
{
	struct metrics_counts t;
	char longv[200];
	const char *l[1] = { longv };

	memset(&t, 0, sizeof(t));
	memset(longv, 'x', sizeof(longv) - 1);
	longv[sizeof(longv) - 1] = '\0';
	assert_int_equal(metrics_counts_add(&t, l, 1, 1), 0);
	assert_int_equal(metrics_counts_add(&t, l, 1, 1), 0);
	assert_int_equal(t.n, 1);
	assert_int_equal(t.c[0].value, 2);
	assert_int_equal(strlen(t.c[0].label[0]), METRICS_LABEL_LEN - 1);
	metrics_counts_free(&t);
}

static void
parse_listen__table(void **state)
{
	static const struct {
		const char *in;
		int rc;
		const char *host;
		uint16_t port;
	} cases[] = {
		{ "127.0.0.1:9877", 0, "127.0.0.1", 9877 },
		{ "0.0.0.0:1", 0, "0.0.0.0", 1 },
		{ "localhost:65535", 0, "localhost", 65535 },
		{ "[::1]:9877", 0, "::1", 9877 },
		{ "[fe80::1%eth0]:80", 0, "fe80::1%eth0", 80 },
		{ "::1:9877", -1, NULL, 0 }, /* v6 needs [] */
		{ "127.0.0.1", -1, NULL, 0 },
		{ "127.0.0.1:", -1, NULL, 0 },
		{ ":9877", -1, NULL, 0 },
		{ "127.0.0.1:0", -1, NULL, 0 },
		{ "127.0.0.1:65536", -1, NULL, 0 },
		{ "127.0.0.1:-1", -1, NULL, 0 },
		{ "127.0.0.1:12ab", -1, NULL, 0 },
		{ "[::1]9877", -1, NULL, 0 },
		{ "[::1", -1, NULL, 0 },
	};
	char host[64], err[160];
	uint16_t port;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		port = 0;
		assert_int_equal(metrics_parse_listen(cases[i].in, host,
				     sizeof(host), &port, err, sizeof(err)),
		    cases[i].rc);
		if (cases[i].rc == 0) {
			assert_string_equal(host, cases[i].host);
			assert_int_equal(port, cases[i].port);
		} else
			assert_non_null(strstr(err, cases[i].in));
	}
}

static void
result_class__table(void **state)
{
	assert_string_equal(metrics_result_class("ok"), "ok");
	assert_string_equal(metrics_result_class("ok: gone"), "ok");
	assert_string_equal(metrics_result_class("unknown: timed out; "
						 "waiting for Docker"),
	    "unknown");
	assert_string_equal(metrics_result_class("unknown: cancelled at "
						 "shutdown"),
	    "cancelled");
	assert_string_equal(metrics_result_class("No such container"),
	    "failed");
	assert_string_equal(metrics_result_class(""), "failed");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(render__hostile_names__escaped_and_utf8),
		cmocka_unit_test(escape__each_case__as_the_format_says),
		cmocka_unit_test(render__container_gone__its_series_gone),
		cmocka_unit_test(render__scalars_and_counts__values_and_types),
		cmocka_unit_test(counts__long_label__cut_and_still_one_entry),
		cmocka_unit_test(parse_listen__table),
		cmocka_unit_test(result_class__table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
