/*
 * conf.c: the decider's settings from the config: the state files beside
 * the database, evidence and hooks from [hooks], the cgroup parents, and
 * the policy as the line logged at start and on reload.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../decider/decider.h"

static struct kw_conf *
conf_with(const char *const (*kv)[3], size_t n)
{
	struct kw_conf *conf;
	char err[512];
	size_t i;

	assert_non_null(conf = kw_conf_load(NULL, err, sizeof(err)));
	for (i = 0; i < n; i++)
		assert_int_equal(kw_conf_set(conf, kv[i][0], kv[i][1],
				     kv[i][2], "-o", err, sizeof(err)),
		    0);
	return conf;
}

static void
conf__state_paths__beside_the_database(void **state)
{
	static const char *const kv[][3] = {
		{ "paths", "database", "/srv/kw/db/kwarden.db" },
	};
	struct kw_conf *conf;
	char strikes[4096], acts[4096];

	(void)state;
	conf = conf_with(kv, 1);
	decider_state_paths(conf, strikes, sizeof(strikes), acts,
	    sizeof(acts));
	assert_string_equal(strikes, "/srv/kw/db/decider-strikes.json");
	assert_string_equal(acts, "/srv/kw/db/decider-acts.json");
	kw_conf_free(conf);
}

static void
conf__hooks__keys_and_defaults(void **state)
{
	static const char *const kv[][3] = {
		{ "hooks", "exec", "/usr/local/bin/on-action" },
		{ "hooks", "retries", "5" },
		{ "hooks", "backoff", "2s" },
		{ "hooks", "evidence_keep", "7" },
		{ "hooks", "evidence_log_bytes", "1K" },
	};
	struct evidence_conf ec;
	struct hooks_conf hc;
	struct kw_conf *conf;

	(void)state;
	conf = conf_with(kv, sizeof(kv) / sizeof(kv[0]));
	decider_hooks_conf(conf, &hc);
	assert_string_equal(hc.exec, "/usr/local/bin/on-action");
	assert_string_equal(hc.webhook, "");
	assert_int_equal(hc.retries, 5);
	assert_int_equal(hc.backoff_ms, 2000);
	assert_int_equal(hc.burst, 10);
	assert_true(hc.backoff_max_ms >= hc.backoff_ms);
	decider_evidence_conf(conf, &ec);
	assert_int_equal(ec.keep, 7);
	assert_int_equal(ec.log_bytes, 1024);
	assert_true(ec.timeout_ms > 0);
	kw_conf_free(conf);
}

static void
conf__cgroup_parents__listed(void **state)
{
	static const char *const kv[][3] = {
		{ "decider", "cgroup_parents", "/docker, /kubepods" },
	};
	struct kw_conf *conf;
	struct decider *dz;

	(void)state;
	assert_non_null(dz = calloc(1, sizeof(*dz)));
	conf = conf_with(kv, 1);
	decider_parents_from_conf(dz, conf);
	assert_int_equal(dz->nparents, 2);
	assert_string_equal(dz->parents[0], "/docker");
	assert_string_equal(dz->parents[1], "/kubepods");
	kw_conf_free(conf);
	free(dz);
}

static void
conf__policy_line__thresholds_ladder_classes(void **state)
{
	static const char *const kv[][3] = {
		{ "policy", "cpu_threshold", "20" },
		{ "policy", "action", "throttle, remove" },
		{ "class.web", "match", "web" },
		{ "class.web", "min_alive", "2" },
	};
	struct kw_conf *conf;
	struct policy p;
	char err[512], line[1024];

	(void)state;
	conf = conf_with(kv, sizeof(kv) / sizeof(kv[0]));
	assert_int_equal(policy_from_conf(conf, &p, err, sizeof(err)), 0);
	policy_describe(&p, line, sizeof(line));
	assert_non_null(strstr(line, "policy: cpu > 20.0%, mem ("));
	assert_non_null(strstr(line, ", action throttle,remove, "));
	assert_non_null(strstr(line, ", classes: "));
	assert_non_null(strstr(line, "web (min 2)"));
	kw_conf_free(conf);

	conf = conf_with(kv, 1);
	assert_int_equal(policy_from_conf(conf, &p, err, sizeof(err)), 0);
	policy_describe(&p, line, sizeof(line));
	assert_non_null(strstr(line, ", classes: "));
	assert_null(strstr(line, "web (min"));
	p.nclasses = 0;
	policy_describe(&p, line, sizeof(line));
	assert_non_null(strstr(line, ", classes: none"));
	kw_conf_free(conf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(conf__state_paths__beside_the_database),
		cmocka_unit_test(conf__hooks__keys_and_defaults),
		cmocka_unit_test(conf__cgroup_parents__listed),
		cmocka_unit_test(conf__policy_line__thresholds_ladder_classes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
