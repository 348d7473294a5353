/*
 * What every daemon shares: directories made with their mode whatever the
 * umask, the limits read from the config, and the counters of limit hits
 * in `status`.
 */
#include <sys/stat.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <jansson.h>

#include "kwarden.h"

static void
mkdir_p__any_umask__exact_mode_for_what_it_makes(void **state)
{
	char top[64], deep[128];
	struct stat st;
	mode_t old;

	(void)state;
	snprintf(top, sizeof(top), "/tmp/kw-mkdir-XXXXXX");
	assert_non_null(mkdtemp(top));
	chmod(top, 0711);
	snprintf(deep, sizeof(deep), "%s/a/b", top);
	old = umask(077);
	assert_int_equal(kw_mkdir_p(deep, 0750), 0);
	umask(old);
	assert_int_equal(stat(deep, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0750);
	snprintf(deep, sizeof(deep), "%s/a", top);
	assert_int_equal(stat(deep, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0750);
	/* What was there is left as it was. */
	assert_int_equal(stat(top, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0711);
	old = umask(0);
	snprintf(deep, sizeof(deep), "%s/c", top);
	assert_int_equal(kw_mkdir_p(deep, 0750), 0);
	umask(old);
	assert_int_equal(stat(deep, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0750);
	rmdir(deep);
	snprintf(deep, sizeof(deep), "%s/a/b", top);
	rmdir(deep);
	snprintf(deep, sizeof(deep), "%s/a", top);
	rmdir(deep);
	rmdir(top);
}

static void
limits__from_config__every_key(void **state)
{
	struct kw_conf *conf;
	struct kw_limits l;
	char err[512];

	(void)state;
	conf = kw_conf_load(NULL, err, sizeof(err));
	assert_non_null(conf);
	assert_int_equal(kw_conf_set(conf, "limits", "stream_clients", "3",
			     "-o", err, sizeof(err)),
	    0);
	assert_int_equal(kw_conf_set(conf, "limits", "ctl_idle_timeout", "2s",
			     "-o", err, sizeof(err)),
	    0);
	kw_limits_from_conf(conf, &l);
	assert_int_equal(l.stream_clients, 3);
	assert_int_equal(l.ctl_idle_ms, 2000);
	assert_int_equal(l.stream_replays, 10);
	assert_int_equal(l.replay_interval_ms, 60000);
	assert_int_equal(l.ctl_clients, 64);
	assert_int_equal(l.ctl_reply_bytes, 1 << 20);
	kw_conf_free(conf);
}

static void
limit_hit__flood__counted_every_time_logged_once(void **state)
{
	struct kw_daemon d;
	json_t *o;
	uint64_t before, errors;
	int i;

	(void)state;
	before = kw_limit_count(KW_HIT_CTL_IDLE);
	errors = kw_log_error_count();
	for (i = 0; i < 1000; i++)
		kw_limit_hit(KW_HIT_CTL_IDLE, "t.ctl: idle client closed");
	assert_int_equal(kw_limit_count(KW_HIT_CTL_IDLE), before + 1000);
	/* One line (and one warning) for the thousand. */
	assert_true(kw_log_error_count() - errors <= 1);
	memset(&d, 0, sizeof(d));
	d.name = "test";
	d.start_mono_ns = kw_mono_ns();
	o = kw_daemon_status(&d);
	assert_int_equal(json_integer_value(
			     json_object_get(json_object_get(o, "limits"),
				 "ctl_idle_closed")),
	    before + 1000);
	assert_non_null(json_object_get(json_object_get(o, "limits"),
	    "stream_clients_refused"));
	json_decref(o);
}

/* Every figure of the structs is in the JSON, under its own name. */
static void
stats_json__every_field__by_name(void **state)
{
	struct kw_pub_stats ps;
	struct kw_sub_stats ss;
	json_t *o;

	(void)state;
	memset(&ps, 0, sizeof(ps));
	ps.epoch = 7;
	ps.seq = 42;
	ps.acked_seq = 40;
	ps.clients_bad = 3;
	ps.queued_bytes = 99;
	o = kw_pub_stats_json(&ps);
	assert_non_null(o);
	assert_int_equal(json_integer_value(json_object_get(o, "epoch")), 7);
	assert_int_equal(json_integer_value(json_object_get(o, "seq")), 42);
	assert_int_equal(json_integer_value(json_object_get(o, "acked_seq")),
	    40);
	assert_int_equal(json_integer_value(json_object_get(o, "clients_bad")),
	    3);
	assert_int_equal(json_integer_value(
			     json_object_get(o, "queued_bytes")),
	    99);
	json_decref(o);

	memset(&ss, 0, sizeof(ss));
	ss.connected = 1;
	ss.last_seq = 11;
	ss.restarts_clean = 2;
	ss.restarts_lossy = 1;
	snprintf(ss.last_error, sizeof(ss.last_error), "gone");
	o = kw_sub_stats_json(&ss, "decider");
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "stream")),
	    "decider");
	assert_true(json_is_true(json_object_get(o, "connected")));
	assert_int_equal(json_integer_value(json_object_get(o, "last_seq")),
	    11);
	assert_int_equal(json_integer_value(
			     json_object_get(o, "restarts_clean")),
	    2);
	assert_int_equal(json_integer_value(
			     json_object_get(o, "restarts_lossy")),
	    1);
	assert_string_equal(json_string_value(
				json_object_get(o, "last_error")),
	    "gone");
	json_decref(o);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    mkdir_p__any_umask__exact_mode_for_what_it_makes),
		cmocka_unit_test(limits__from_config__every_key),
		cmocka_unit_test(stats_json__every_field__by_name),
		cmocka_unit_test(
		    limit_hit__flood__counted_every_time_logged_once),
	};

	kw_log_init("test", KW_LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
