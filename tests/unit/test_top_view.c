/*
 * kwarden-top's pure parts: excess and sorting, bars, number formats,
 * the model fed real stream messages and control replies, and the frame.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kwarden.h"
#include "../../run/top.h"

/* One stream message through the real encoder and envelope decoder. */
struct packed {
	msgpack_sbuffer sb;
	msgpack_unpacked res;
	struct kw_msg msg;
};

static void
pack_head(msgpack_packer *pk, const char *t, uint32_t nfields, uint64_t seq,
    uint64_t ts_ns)
{
	msgpack_pack_map(pk, 3 + nfields);
	kw_pack_kstr(pk, "t", t);
	kw_pack_ku64(pk, "seq", seq);
	kw_pack_ku64(pk, "ts", ts_ns);
}

static void
packed_decode(struct packed *p)
{
	char err[128];

	msgpack_unpacked_init(&p->res);
	assert_int_equal(msgpack_unpack_next(&p->res, p->sb.data, p->sb.size,
			     NULL),
	    MSGPACK_UNPACK_SUCCESS);
	assert_int_equal(kw_msg_decode(&p->res.data, &p->msg, err,
			     sizeof(err)),
	    0);
}

static void
packed_free(struct packed *p)
{
	msgpack_unpacked_destroy(&p->res);
	msgpack_sbuffer_destroy(&p->sb);
}

static void
feed_sys(struct top_model *m, uint64_t seq, uint64_t ts_ns, double cpu)
{
	struct kw_sys_rec r = { 24000000, 1000000, 6000000, 18000000, cpu,
		300 };
	msgpack_packer pk;
	struct packed p;
	char err[128];

	msgpack_sbuffer_init(&p.sb);
	msgpack_packer_init(&pk, &p.sb, msgpack_sbuffer_write);
	pack_head(&pk, "sys", KW_SYS_FIELDS, seq, ts_ns);
	kw_sys_pack(&pk, &r);
	packed_decode(&p);
	assert_int_equal(top_model_msg(m, &p.msg, err, sizeof(err)), 0);
	packed_free(&p);
}

static void
feed_ctr(struct top_model *m, uint64_t seq, const char *id, const char *name,
    const char *cls, double cpu, double mem)
{
	struct kw_container_rec r;
	msgpack_packer pk;
	struct packed p;
	char err[128];

	memset(&r, 0, sizeof(r));
	snprintf(r.container_id, sizeof(r.container_id), "%s", id);
	snprintf(r.name, sizeof(r.name), "%s", name);
	snprintf(r.image, sizeof(r.image), "img");
	snprintf(r.class_name, sizeof(r.class_name), "%s", cls);
	r.pid = 100;
	r.nprocs = 1;
	r.cpu_pct = cpu;
	r.mem_pct = mem;
	r.rss_kb = 2048;
	msgpack_sbuffer_init(&p.sb);
	msgpack_packer_init(&pk, &p.sb, msgpack_sbuffer_write);
	pack_head(&pk, "container", KW_CONTAINER_FIELDS, seq, 0);
	kw_container_pack(&pk, &r);
	packed_decode(&p);
	assert_int_equal(top_model_msg(m, &p.msg, err, sizeof(err)), 0);
	packed_free(&p);
}

static void
feed_deletion(struct top_model *m, uint64_t seq, uint64_t ts_ns,
    const char *name, const char *result)
{
	struct kw_deletion_rec r;
	msgpack_packer pk;
	struct packed p;
	char err[128];

	memset(&r, 0, sizeof(r));
	snprintf(r.name, sizeof(r.name), "%s", name);
	snprintf(r.class_name, sizeof(r.class_name), "high");
	snprintf(r.action, sizeof(r.action), "remove");
	snprintf(r.reason, sizeof(r.reason), "cpu 48.3%% > 20.0%%");
	snprintf(r.result, sizeof(r.result), "%s", result);
	msgpack_sbuffer_init(&p.sb);
	msgpack_packer_init(&pk, &p.sb, msgpack_sbuffer_write);
	pack_head(&pk, "deletion", kw_fields_count(&kw_deletion_schema, &r),
	    seq, ts_ns);
	kw_deletion_pack(&pk, &r);
	packed_decode(&p);
	assert_int_equal(top_model_msg(m, &p.msg, err, sizeof(err)), 0);
	packed_free(&p);
}

#define ID(c)                                                                 \
	c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c \
	    c c c c c c c c c c c c c c c c c c c c c c c c c c c c c

static void
excess__larger_of_the_two_overs(void **state)
{
	static const struct {
		double cpu, mem, cpu_thr, mem_thr, want;
	} cases[] = {
		{ 48.3, 1.0, 20, 20, 28.3 },
		{ 1.0, 35.0, 20, 20, 15.0 },
		{ 30.0, 50.0, 20, 20, 30.0 },
		{ 5.0, 2.0, 20, 10, -8.0 }, /* under both: the nearer */
		{ 0, 0, 0, 0, 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_float_equal(top_excess(cases[i].cpu, cases[i].mem,
				       cases[i].cpu_thr, cases[i].mem_thr),
		    cases[i].want, 1e-9);
}

static void
sort__by_each_column__order_and_ties(void **state)
{
	struct top_row rows[4];
	static const struct {
		const char *name, *cls, *state;
		double cpu, mem, excess;
	} in[] = {
		{ "b", "low", "running", 10, 5, -10 },
		{ "a", "high", "removed", 40, 1, 20 },
		{ "d", "high", "running", 10, 30, 10 },
		{ "c", "low", "running", 10, 5, -10 }, /* ties b */
	};
	static const struct {
		enum top_sort sort;
		int reverse;
		const char *want;
	} cases[] = {
		{ TOP_SORT_EXCESS, 0, "adbc" },
		{ TOP_SORT_EXCESS, 1, "cbda" },
		{ TOP_SORT_NAME, 0, "abcd" },
		{ TOP_SORT_NAME, 1, "dcba" },
		{ TOP_SORT_CLASS, 0, "adbc" },
		{ TOP_SORT_CPU, 0, "abcd" },
		{ TOP_SORT_MEM, 0, "dbca" },
		{ TOP_SORT_STATE, 0, "adbc" },
	};
	char got[5];
	size_t i, k;

	for (k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		memset(rows, 0, sizeof(rows));
		for (i = 0; i < 4; i++) {
			snprintf(rows[i].rec.name, sizeof(rows[i].rec.name),
			    "%s", in[i].name);
			snprintf(rows[i].rec.class_name,
			    sizeof(rows[i].rec.class_name), "%s", in[i].cls);
			snprintf(rows[i].state, sizeof(rows[i].state), "%s",
			    in[i].state);
			rows[i].rec.cpu_pct = in[i].cpu;
			rows[i].rec.mem_pct = in[i].mem;
			rows[i].excess = in[i].excess;
		}
		top_sort_rows(rows, 4, cases[k].sort, cases[k].reverse);
		for (i = 0; i < 4; i++)
			got[i] = rows[i].rec.name[0];
		got[4] = '\0';
		if (strcmp(got, cases[k].want) != 0)
			fail_msg("sort %s reverse %d: got %s, want %s",
			    top_sort_name(cases[k].sort), cases[k].reverse,
			    got, cases[k].want);
	}
}

static void
bar__against_threshold__fill_mark_and_overflow(void **state)
{
	static const struct {
		double value, threshold;
		const char *want;
	} cases[] = {
		{ 0, 20, "[     |    ]" },
		{ 4, 20, "[#    |    ]" },
		{ 20, 20, "[#####|    ]" },
		{ 21, 20, "[######    ]" },
		{ 40, 20, "[##########]" },
		{ 90, 20, "[#########>]" },
		{ 50, 0, "[#####     ]" }, /* no threshold: 0..100 */
		{ -3, 20, "[     |    ]" },
	};
	unsigned char role[12];
	char text[13];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(text, 0, sizeof(text));
		assert_int_equal(top_bar(text, role, 12, cases[i].value,
				     cases[i].threshold),
		    12);
		assert_string_equal(text, cases[i].want);
	}
	/* Fill past the threshold is drawn hot, below it ok. */
	top_bar(text, role, 12, 30, 20);
	assert_int_equal(role[1], TOP_ROLE_OK);
	assert_int_equal(role[5], TOP_ROLE_OK);
	assert_int_equal(role[6], TOP_ROLE_HOT);
	assert_int_equal(role[11], TOP_ROLE_DIM);
	assert_int_equal(top_bar(text, role, 2, 30, 20), 0);
}

static void
format__sizes_ages_and_hostile_text(void **state)
{
	static const struct {
		uint64_t kb;
		const char *want;
	} sizes[] = {
		{ 0, "0K" },
		{ 512, "512K" },
		{ 1023, "1023K" },
		{ 1536, "1.5M" },
		{ 24684084, "23.5G" },
		{ 150 * 1024, "150M" },
	};
	static const struct {
		double s;
		const char *want;
	} ages[] = {
		{ 0.44, "0.4s" },
		{ -1, "0.0s" },
		{ 12.7, "12s" },
		{ 185, "3m05s" },
		{ 7380, "2h03m" },
		{ 2 * 86400 + 7200, "2d02h" },
	};
	char buf[32];
	size_t i;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		top_fmt_kb(buf, sizeof(buf), sizes[i].kb);
		assert_string_equal(buf, sizes[i].want);
	}
	for (i = 0; i < sizeof(ages) / sizeof(ages[0]); i++) {
		top_fmt_age(buf, sizeof(buf), ages[i].s);
		assert_string_equal(buf, ages[i].want);
	}
	top_sanitize(buf, sizeof(buf), "a\x1b[2J\tb\xc3\xa9");
	assert_string_equal(buf, "a?[2J?b??");
	top_sanitize(buf, 4, "abcdef");
	assert_string_equal(buf, "abc");
}

static const char policy_line[] =
    "{\"cpu_threshold\":20.0,\"mem_threshold\":30.0,\"window_ms\":5000,"
    "\"action\":\"remove\",\"acting_as\":\"remove\",\"ladder\":[\"stop\","
    "\"remove\"],\"protect\":[\"grafana\","
    "\"kwarden\"],\"classes\":[{\"name\":\"high\",\"match\":[\"high\"],"
    "\"min_alive\":2,\"alive\":2,\"running\":3},{\"name\":\"low\","
    "\"match\":[\"*\"],\"min_alive\":3,\"alive\":5,\"running\":5}]}";

/* Two samples; the table is the complete one, joined with `containers`. */
static void
model__samples_and_replies__joined_rows(void **state)
{
	struct top_model m;
	struct top_row *rows;
	char err[160];
	size_t n;

	top_model_init(&m);
	feed_sys(&m, 1, 1000, 10);
	feed_ctr(&m, 2, ID("a"), "web", "low", 5, 1);
	assert_int_equal(m.samples, 0); /* not complete yet */
	feed_sys(&m, 3, 2000, 60);	/* completes the first */
	assert_int_equal(m.samples, 1);
	assert_int_equal(m.cur.nctrs, 1);
	feed_ctr(&m, 4, ID("a"), "web", "low", 5, 1);
	feed_ctr(&m, 5, ID("b"), "hog", "high", 48.3, 2);
	feed_ctr(&m, 6, ID("c"), "fat", "high", 1, 35);
	top_model_commit(&m);
	assert_int_equal(m.samples, 2);
	assert_int_equal(m.cur.nctrs, 3);
	assert_float_equal(m.cur.sys.cpu_pct, 60, 1e-9);

	assert_int_equal(top_model_policy(&m, policy_line, err, sizeof(err)),
	    0);
	assert_true(m.policy.known);
	assert_string_equal(m.policy.protect, "grafana,kwarden");
	assert_string_equal(m.policy.extra, "ladder=[\"stop\",\"remove\"]");
	assert_int_equal(m.policy.nclasses, 2);
	assert_int_equal(m.policy.classes[0].running, 3);
	/* A field this build does not know shows up as it is. */
	assert_int_equal(
	    top_model_containers(&m,
		"{\"containers\":["
		"{\"container_id\":\"" ID(
		    "b") "\",\"name\":\"hog\",\"state\":"
			 "\"running\",\"hold_reason\":\"retry not due\",\"ladder_step\":2,"
			 "\"working_set_kb\":4096}]}",
		err, sizeof(err)),
	    0);

	rows = top_rows(&m, "", TOP_SORT_EXCESS, 0, &n);
	assert_non_null(rows);
	assert_int_equal(n, 3);
	assert_string_equal(rows[0].rec.name, "hog"); /* 28.3 over */
	assert_float_equal(rows[0].excess, 28.3, 1e-9);
	assert_string_equal(rows[0].state, "running");
	assert_string_equal(rows[0].extra,
	    "hold_reason=retry not due ladder_step=2");
	assert_int_equal(rows[0].ws_kb, 4096);
	assert_string_equal(rows[1].rec.name, "fat"); /* 5 over */
	assert_string_equal(rows[2].rec.name, "web");
	assert_string_equal(rows[2].state, ""); /* not in reply */
	free(rows);
	rows = top_rows(&m, "high", TOP_SORT_NAME, 0, &n);
	assert_int_equal(n, 2);
	assert_string_equal(rows[0].rec.name, "fat");
	free(rows);
	top_model_free(&m);
}

static void
model__bad_replies__refused_with_reason(void **state)
{
	struct top_model m;
	char err[160];

	top_model_init(&m);
	assert_int_equal(top_model_policy(&m, "not json", err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "not JSON"));
	assert_int_equal(top_model_containers(&m, "[1,2]", err, sizeof(err)),
	    -1);
	assert_int_equal(top_model_containers(&m, "{\"containers\":3}", err,
			     sizeof(err)),
	    -1);
	assert_int_equal(top_model_status(&m, TOP_DECIDER,
			     "{\"error\":\"unknown command\"}", err,
			     sizeof(err)),
	    -1);
	assert_string_equal(err, "unknown command");
	assert_false(m.policy.known);
	top_model_free(&m);
}

/* A record without its fields is refused, naming one; the rest goes on. */
static void
model__malformed_record__refused_and_shown(void **state)
{
	struct top_model m;
	struct top_view v;
	struct top_screen s;
	msgpack_packer pk;
	struct packed p;
	char err[160];

	top_model_init(&m);
	feed_sys(&m, 1, 1000, 10);
	msgpack_sbuffer_init(&p.sb);
	msgpack_packer_init(&pk, &p.sb, msgpack_sbuffer_write);
	pack_head(&pk, "container", 1, 2, 0);
	kw_pack_kstr(&pk, "name", "half");
	packed_decode(&p);
	assert_int_equal(top_model_msg(&m, &p.msg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "container_id"));
	packed_free(&p);
	feed_ctr(&m, 3, ID("a"), "whole", "low", 1, 1);
	top_model_commit(&m);
	assert_int_equal(m.cur.nctrs, 1);
	m.bad_records = 1;
	snprintf(m.bad_record, sizeof(m.bad_record), "container seq 2: %s",
	    err);
	m.stream_lost = 3;
	memset(&v, 0, sizeof(v));
	memset(&s, 0, sizeof(s));
	v.width = 160;
	assert_int_equal(top_render(&m, &v, 2000, &s), 0);
	assert_non_null(strstr(s.lines[1].text, "(3 messages lost)"));
	assert_non_null(strstr(s.lines[2].text,
	    "1 record refused, the last: container seq 2: "));
	top_screen_free(&s);
	top_model_free(&m);
}

static void
model__status__health_and_lag(void **state)
{
	struct top_model m;
	char err[160];

	top_model_init(&m);
	assert_int_equal(
	    top_model_status(&m, TOP_DECIDER,
		"{\"daemon\":"
		"\"decider\",\"uptime_s\":65.5,\"errors\":2,\"last_error\":\"x\","
		"\"samples\":60,\"last_snapshot_age_s\":0.25,\"reader\":{"
		"\"connected\":true,\"last_seq\":58},\"pub\":{\"seq\":900,"
		"\"acked_seq\":880},\"docker\":{\"state\":\"unreachable\","
		"\"last_error\":\"no socket\"}}",
		err, sizeof(err)),
	    0);
	assert_true(m.health[TOP_DECIDER].reachable);
	assert_int_equal(m.health[TOP_DECIDER].in_seq, 58);
	assert_int_equal(m.health[TOP_DECIDER].pub_seq, 900);
	assert_int_equal(m.health[TOP_DECIDER].acked_seq, 880);
	assert_string_equal(m.health[TOP_DECIDER].docker_state, "unreachable");
	top_model_unreachable(&m, TOP_RECORDER, "recorder.ctl: refused");
	assert_false(m.health[TOP_RECORDER].reachable);
	assert_true(m.health_known[TOP_RECORDER]);
	top_model_free(&m);
}

static void
explain__unknown_command__not_supported(void **state)
{
	char out[512];

	top_explain_text("web",
	    "{\"error\":\"unknown command\",\"command\":"
	    "\"explain\",\"hint\":\"try help\"}",
	    out, sizeof(out));
	assert_string_equal(out, "explain web: not supported by this decider");
	top_explain_text("web", "{\"error\":\"no such container\"}", out,
	    sizeof(out));
	assert_string_equal(out, "explain web: no such container");
	top_explain_text("web", "{\"name\":\"web\",\"why\":\"under\"}", out,
	    sizeof(out));
	assert_string_equal(out,
	    "explain web:\n{\n  \"name\": \"web\",\n"
	    "  \"why\": \"under\"\n}");
	top_explain_text("web", "garbage", out, sizeof(out));
	assert_non_null(strstr(out, "not JSON"));
}

static int
frame_has(const struct top_screen *s, const char *needle)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (strstr(s->lines[i].text, needle) != NULL)
			return (int)i + 1;
	return 0;
}

static void
render__once_and_screen__rows_sections_selection(void **state)
{
	struct top_model m;
	struct top_view v;
	struct top_screen s;
	char err[160], name[128];
	int hog, web, hostile;
	size_t i;

	top_model_init(&m);
	feed_sys(&m, 1, 1000000000ULL, 10);
	feed_ctr(&m, 2, ID("a"), "web", "low", 5, 1);
	feed_ctr(&m, 3, ID("b"), "hog", "high", 48.3, 2);
	feed_ctr(&m, 4, ID("d"), "evil\x1b[2J", "low", 1, 1);
	top_model_commit(&m);
	feed_deletion(&m, 5, 1000000000ULL, "gone", "ok");
	assert_int_equal(top_model_policy(&m, policy_line, err, sizeof(err)),
	    0);

	memset(&s, 0, sizeof(s));
	memset(&v, 0, sizeof(v));
	v.width = 120;
	assert_int_equal(top_render(&m, &v, 3500000000ULL, &s), 0);
	assert_true(frame_has(&s, "sample 2.5s ago"));
	assert_true(frame_has(&s, "cpu > 20.0%  mem > 30.0%"));
	assert_true(
	    frame_has(&s, "protect grafana,kwarden  ladder=[\"stop\","));
	assert_true(frame_has(&s, "high 2/3 alive, min 2 (at min)"));
	hog = frame_has(&s, "hog ");
	web = frame_has(&s, "web ");
	hostile = frame_has(&s, "evil?[2J");
	assert_true(hog && web && hostile);
	assert_true(hog < web && web < hostile); /* by excess */
	assert_true(frame_has(&s, "+28.3"));
	assert_true(frame_has(&s, "remove  ok"));
	for (i = 0; i < s.n; i++) {
		assert_null(strchr(s.lines[i].text, '\x1b'));
		assert_true(s.lines[i].len <= 120);
	}

	/* A screen of 24 lines: exactly 24, selection clamped and named. */
	v.height = 24;
	v.selected = 99;
	assert_int_equal(top_render(&m, &v, 3500000000ULL, &s), 0);
	assert_int_equal(s.n, 24);
	assert_int_equal(v.selected, 2);
	snprintf(name, sizeof(name), "%s", v.selected_name);
	assert_string_equal(name, "evil\x1b[2J");
	assert_true(frame_has(&s, "e explain"));
	/* Filtered to a class. */
	snprintf(v.filter, sizeof(v.filter), "high");
	assert_int_equal(top_render(&m, &v, 3500000000ULL, &s), 0);
	assert_false(frame_has(&s, "web "));
	assert_true(frame_has(&s, "filter: high"));
	/* The explain pane takes the bottom. */
	v.explain = "explain hog: not supported by this decider";
	assert_int_equal(top_render(&m, &v, 3500000000ULL, &s), 0);
	assert_true(frame_has(&s, "not supported by this decider"));
	assert_false(frame_has(&s, "LAST ACTIONS"));
	/* Every height: exactly that many lines, the keys last. */
	v.explain = NULL;
	v.filter[0] = '\0';
	feed_sys(&m, 10, 1000000000ULL, 10);
	for (i = 0; i < 40; i++)
		feed_ctr(&m, 11 + i, ID("e"), "more", "low", 1, 1);
	top_model_commit(&m);
	top_model_unreachable(&m, TOP_RECORDER, "recorder.ctl: refused");
	for (v.height = 4; v.height < 70; v.height++) {
		assert_int_equal(top_render(&m, &v, 3500000000ULL, &s), 0);
		if (s.n != (size_t)v.height)
			fail_msg("height %d: %zu lines", v.height, s.n);
		assert_non_null(strstr(s.lines[s.n - 1].text, "q quit"));
	}
	/* No containers: the line that says so counts too. */
	feed_sys(&m, 60, 1000000000ULL, 10);
	top_model_commit(&m);
	for (v.height = 4; v.height < 70; v.height++) {
		assert_int_equal(top_render(&m, &v, 3500000000ULL, &s), 0);
		if (s.n != (size_t)v.height)
			fail_msg("no containers, height %d: %zu lines",
			    v.height, s.n);
		assert_true(frame_has(&s, "no containers") || v.height < 12);
	}
	/* Too small a screen still renders, no wider than it. */
	v.height = 5;
	v.width = 10;
	assert_int_equal(top_render(&m, &v, 3500000000ULL, &s), 0);
	for (i = 0; i < s.n; i++)
		assert_true(s.lines[i].len <= 40);
	top_screen_free(&s);
	top_model_free(&m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(excess__larger_of_the_two_overs),
		cmocka_unit_test(sort__by_each_column__order_and_ties),
		cmocka_unit_test(
		    bar__against_threshold__fill_mark_and_overflow),
		cmocka_unit_test(format__sizes_ages_and_hostile_text),
		cmocka_unit_test(model__samples_and_replies__joined_rows),
		cmocka_unit_test(model__bad_replies__refused_with_reason),
		cmocka_unit_test(model__malformed_record__refused_and_shown),
		cmocka_unit_test(model__status__health_and_lag),
		cmocka_unit_test(explain__unknown_command__not_supported),
		cmocka_unit_test(
		    render__once_and_screen__rows_sections_selection),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
