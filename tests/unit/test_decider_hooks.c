/*
 * hooks.c, the decisions: the rate's token bucket, the queue's cap, the
 * retry backoff, when to try again, and the KWARDEN_* environment.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../../decider/decider.h"

static void
bucket__burst_then_rate__refills_over_time(void **state)
{
	struct hook_bucket b;
	int i, taken = 0;

	memset(&b, 0, sizeof(b));
	/* 60 a minute (one a second), 3 at once. */
	for (i = 0; i < 5; i++)
		taken += hook_bucket_take(&b, 60, 3, 1000);
	assert_int_equal(taken, 3);
	assert_int_equal(hook_bucket_take(&b, 60, 3, 1500), 0);
	assert_int_equal(hook_bucket_take(&b, 60, 3, 2000), 1);
	assert_int_equal(hook_bucket_take(&b, 60, 3, 2000), 0);
	/* A long quiet time refills to the burst, no more. */
	for (i = 0, taken = 0; i < 10; i++)
		taken += hook_bucket_take(&b, 60, 3, 1000000);
	assert_int_equal(taken, 3);
}

static void
bucket__clock_backwards__no_tokens_made(void **state)
{
	struct hook_bucket b;

	memset(&b, 0, sizeof(b));
	assert_int_equal(hook_bucket_take(&b, 60, 1, 5000), 1);
	assert_int_equal(hook_bucket_take(&b, 60, 1, 1000), 0);
	assert_int_equal(hook_bucket_take(&b, 60, 1, 5500), 0);
	assert_int_equal(hook_bucket_take(&b, 60, 1, 6000), 1);
}

static void
admit__queue_full_first__then_rate(void **state)
{
	struct hook_bucket b;

	memset(&b, 0, sizeof(b));
	assert_int_equal(hook_admit(&b, 64, 64, 60, 1, 0), HOOK_DROP_QUEUE);
	/* A drop for the queue took no token. */
	assert_int_equal(hook_admit(&b, 0, 64, 60, 1, 0), HOOK_ADMIT);
	assert_int_equal(hook_admit(&b, 1, 64, 60, 1, 0), HOOK_DROP_RATE);
	assert_int_equal(hook_admit(&b, 1, 64, 60, 1, 1000), HOOK_ADMIT);
}

static void
backoff__doubles__capped(void **state)
{
	static const struct {
		unsigned attempt;
		uint64_t want;
	} t[] = {
		{ 1, 1000 },
		{ 2, 2000 },
		{ 3, 4000 },
		{ 4, 8000 },
		{ 6, 10000 },
		{ 100, 10000 },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		assert_int_equal(hook_backoff_ms(t[i].attempt, 1000, 10000),
		    t[i].want);
	assert_int_equal(hook_backoff_ms(1, 5000, 2000), 2000);
}

static void
next__table__ok_retry_failed(void **state)
{
	static const struct {
		int ok, retryable;
		unsigned attempt, retries;
		enum hook_next want;
	} t[] = {
		{ 1, 0, 1, 3, HOOK_NEXT_OK }, { 1, 1, 4, 3, HOOK_NEXT_OK },
		{ 0, 1, 1, 3, HOOK_NEXT_RETRY },
		{ 0, 1, 3, 3, HOOK_NEXT_RETRY },
		{ 0, 1, 4, 3, HOOK_NEXT_FAILED }, /* 1 + 3 done */
		{ 0, 0, 1, 3, HOOK_NEXT_FAILED }, /* a 4xx */
		{ 0, 1, 1, 0, HOOK_NEXT_FAILED }, /* no retries */
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		assert_int_equal(hook_next(t[i].ok, t[i].retryable,
				     t[i].attempt, t[i].retries),
		    t[i].want);
}

static void
http_retryable__5xx_408_429_and_transport(void **state)
{
	assert_true(hook_http_retryable(0));
	assert_true(hook_http_retryable(500));
	assert_true(hook_http_retryable(503));
	assert_true(hook_http_retryable(408));
	assert_true(hook_http_retryable(429));
	assert_false(hook_http_retryable(400));
	assert_false(hook_http_retryable(404));
	assert_false(hook_http_retryable(301));
}

static const char *
env_get(char **env, size_t n, const char *name)
{
	size_t i, len = strlen(name);

	for (i = 0; i < n; i++)
		if (strncmp(env[i], name, len) == 0 && env[i][len] == '=')
			return env[i] + len + 1;
	return NULL;
}

static void
env__facts__one_variable_each(void **state)
{
	struct kw_deletion_rec r;
	char buf[4096], *env[HOOK_ENV_MAX];
	size_t n;

	memset(&r, 0, sizeof(r));
	snprintf(r.container_id, sizeof(r.container_id), "%064d", 1);
	snprintf(r.name, sizeof(r.name), "web_1");
	snprintf(r.image, sizeof(r.image), "nginx:1");
	snprintf(r.class_name, sizeof(r.class_name), "low");
	snprintf(r.action, sizeof(r.action), "kill");
	snprintf(r.reason, sizeof(r.reason), "mem 30.0%% > 20.0%%");
	snprintf(r.result, sizeof(r.result), "ok");
	r.mem_pct = 30;
	n = hook_env(&r, 7, 2, buf, sizeof(buf), env, HOOK_ENV_MAX);
	assert_true(n >= 12);
	assert_string_equal(env_get(env, n, "KWARDEN_ACTION"), "kill");
	assert_string_equal(env_get(env, n, "KWARDEN_CONTAINER_ID"),
	    r.container_id);
	assert_string_equal(env_get(env, n, "KWARDEN_CONTAINER_NAME"),
	    "web_1");
	assert_string_equal(env_get(env, n, "KWARDEN_REASON"),
	    "mem 30.0% > 20.0%");
	assert_string_equal(env_get(env, n, "KWARDEN_OK"), "1");
	assert_string_equal(env_get(env, n, "KWARDEN_MEM_PCT"), "30.00");
	assert_string_equal(env_get(env, n, "KWARDEN_ACTION_ID"), "7");
	assert_string_equal(env_get(env, n, "KWARDEN_ATTEMPT"), "2");
	/* A buffer too small: fewer variables, never an overflow. */
	assert_true(hook_env(&r, 7, 2, buf, 40, env, HOOK_ENV_MAX) < n);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(bucket__burst_then_rate__refills_over_time),
		cmocka_unit_test(bucket__clock_backwards__no_tokens_made),
		cmocka_unit_test(admit__queue_full_first__then_rate),
		cmocka_unit_test(backoff__doubles__capped),
		cmocka_unit_test(next__table__ok_retry_failed),
		cmocka_unit_test(http_retryable__5xx_408_429_and_transport),
		cmocka_unit_test(env__facts__one_variable_each),
	};

	return cmocka_run_group_tests_name("decider_hooks", tests, NULL, NULL);
}
