/*
 * acts.c: what the decider did to each container, by id, across
 * snapshots: in-flight calls and retries that outlive a missing sample,
 * outcomes unknown until Docker settles them, a stopped container that
 * starts again.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../../decider/decider.h"

#define A	"aaaa"
#define B	"bbbb"
#define SEC	1000000000ULL
#define SETTLE	(60 * SEC)

static int known_result;
static int gone_calls;

static int
known(void *arg, const char *id)
{
	return known_result;
}

static void
gone(void *arg, const struct act_entry *e)
{
	gone_calls++;
}

/* One sample holding the ids given, then the sweep the decider does. */
static void
sample(struct act_table *t, const char *id1, const char *id2)
{
	t->gen++;
	if (id1 != NULL)
		assert_non_null(acts_get(t, id1));
	if (id2 != NULL)
		assert_non_null(acts_get(t, id2));
	acts_sweep(t, known, gone, NULL);
}

/*
 * A container missing from a snapshot (its processes between samples, or
 * a sample skipped for memory) keeps its call in flight: the answer finds
 * its entry, and it still counts as acted on when it is back.
 */
static void
acts__missing_from_a_snapshot__in_flight_kept(void **state)
{
	struct act_table t;
	struct act_entry *e;
	int i;

	acts_init(&t);
	known_result = 0;
	gone_calls = 0;
	sample(&t, A, B);
	e = acts_find(&t, A);
	e->state = ACT_IN_FLIGHT;
	e->action = ACTION_REMOVE;
	for (i = 0; i < 10; i++)
		sample(&t, B, NULL);
	assert_non_null(e = acts_find(&t, A));
	assert_int_equal(e->state, ACT_IN_FLIGHT);
	acts_on_result(e, DOCKER_ACT_OK, "ok", 5 * SEC);
	assert_int_equal(e->state, ACT_DONE);
	/* Ended, absent long enough, Docker no longer has it: forgotten. */
	sample(&t, B, NULL);
	assert_null(acts_find(&t, A));
	assert_int_equal(gone_calls, 1);
	assert_non_null(acts_find(&t, B));
	acts_free(&t);
}

/* A failed call's backoff survives a sample without the container. */
static void
acts__retry_backoff__survives_a_missing_sample(void **state)
{
	struct act_table t;
	struct act_entry *e;

	acts_init(&t);
	known_result = 0;
	sample(&t, A, NULL);
	e = acts_find(&t, A);
	e->state = ACT_IN_FLIGHT;
	acts_on_result(e, DOCKER_ACT_FAILED, "No such container", 10 * SEC);
	assert_int_equal(e->state, ACT_NONE);
	assert_int_equal(e->retry_ms, 1000);
	assert_true(e->retry_mono_ns == 11 * SEC);
	sample(&t, NULL, NULL);
	sample(&t, A, NULL);
	e = acts_find(&t, A);
	assert_int_equal(e->retry_ms, 1000);
	e->state = ACT_IN_FLIGHT;
	acts_on_result(e, DOCKER_ACT_FAILED, "again", 20 * SEC);
	assert_int_equal(e->retry_ms, 2000);
	assert_string_equal(e->last_error, "again");
	acts_free(&t);
}

/* Gone long enough but still in Docker's table (stopped): kept. */
static void
acts__docker_still_has_it__kept(void **state)
{
	struct act_table t;
	struct act_entry *e;
	int i;

	acts_init(&t);
	known_result = 1;
	sample(&t, A, NULL);
	e = acts_find(&t, A);
	e->state = ACT_DONE;
	for (i = 0; i < 5; i++)
		sample(&t, NULL, NULL);
	assert_non_null(acts_find(&t, A));
	known_result = 0;
	sample(&t, NULL, NULL);
	assert_null(acts_find(&t, A));
	acts_free(&t);
}

/*
 * Sent, then no answer: dockerd may still remove it. It stays counted as
 * gone (not ACT_NONE) until Docker's table settles it: gone or stopped is
 * done, with a result saying so; still running a minute on is a failure,
 * retried. With Docker away nothing is settled.
 */
static void
acts__unknown_outcome__counted_gone_until_docker_settles(void **state)
{
	struct act_entry e;
	char result[200];

	memset(&e, 0, sizeof(e));
	e.state = ACT_IN_FLIGHT;
	e.action = ACTION_REMOVE;
	acts_on_result(&e, DOCKER_ACT_UNKNOWN, "unknown: Docker did not "
	    "answer within 10000 ms; waiting for Docker", 100 * SEC);
	assert_int_equal(e.state, ACT_UNKNOWN);
	assert_int_equal(acts_settle(&e, ACT_VIEW_NONE, 0, 500 * SEC, SETTLE,
	    result, sizeof(result)), 0);
	assert_int_equal(e.state, ACT_UNKNOWN);
	assert_int_equal(acts_settle(&e, ACT_VIEW_RUNNING, 0, 130 * SEC,
	    SETTLE, result, sizeof(result)), 0);
	assert_int_equal(e.state, ACT_UNKNOWN);
	assert_int_equal(acts_settle(&e, ACT_VIEW_GONE, 0, 131 * SEC, SETTLE,
	    result, sizeof(result)), 1);
	assert_int_equal(e.state, ACT_DONE);
	assert_non_null(strstr(result, "ok"));

	e.state = ACT_UNKNOWN;
	e.unknown_since_ns = 100 * SEC;
	assert_int_equal(acts_settle(&e, ACT_VIEW_STOPPED, 0, 101 * SEC,
	    SETTLE, result, sizeof(result)), 1);
	assert_int_equal(e.state, ACT_DONE);

	e.state = ACT_UNKNOWN;
	e.retry_ms = 0;
	assert_int_equal(acts_settle(&e, ACT_VIEW_RUNNING, 0, 161 * SEC,
	    SETTLE, result, sizeof(result)), 1);
	assert_int_equal(e.state, ACT_NONE);
	assert_non_null(strstr(result, "failed"));
	assert_true(e.retry_mono_ns > 161 * SEC);

	/* Cancelled at shutdown changes nothing. */
	e.state = ACT_IN_FLIGHT;
	acts_on_result(&e, DOCKER_ACT_CANCELLED, "cancelled", 170 * SEC);
	assert_int_equal(e.state, ACT_IN_FLIGHT);
}

/* Stopped or killed, then started again (a start event): running. */
static void
acts__stopped_then_started__running_again(void **state)
{
	struct act_entry e;
	char result[200];

	memset(&e, 0, sizeof(e));
	e.action = ACTION_STOP;
	e.state = ACT_DONE;
	e.starts_at_act = 2;
	/* Its die not seen yet: still running, no new start: done. */
	assert_int_equal(acts_settle(&e, ACT_VIEW_RUNNING, 2, 1, SETTLE,
	    result, sizeof(result)), 0);
	assert_int_equal(e.state, ACT_DONE);
	assert_int_equal(acts_settle(&e, ACT_VIEW_RUNNING, 3, 2, SETTLE,
	    result, sizeof(result)), 0);
	assert_int_equal(e.state, ACT_NONE);

	/* A removed container does not come back under the same id. */
	e.action = ACTION_REMOVE;
	e.state = ACT_DONE;
	assert_int_equal(acts_settle(&e, ACT_VIEW_RUNNING, 4, 3, SETTLE,
	    result, sizeof(result)), 0);
	assert_int_equal(e.state, ACT_DONE);
}

/* Docker's table counts start events, and a list does not reset them. */
static void
table__start_events__counted(void **state)
{
	struct docker_table t;
	struct docker_event ev;
	struct docker_ctr c, *e;
	static const char *const actions[] = { "start", "die", "start" };
	size_t i;

	docker_table_init(&t);
	memset(&c, 0, sizeof(c));
	snprintf(c.id, sizeof(c.id), "%s", A);
	snprintf(c.name, sizeof(c.name), "x");
	assert_non_null(docker_table_upsert(&t, &c));
	for (i = 0; i < 3; i++) {
		memset(&ev, 0, sizeof(ev));
		snprintf(ev.type, sizeof(ev.type), "container");
		snprintf(ev.action, sizeof(ev.action), "%s", actions[i]);
		snprintf(ev.c.id, sizeof(ev.c.id), "%s", A);
		docker_table_apply_event(&t, &ev);
	}
	assert_non_null(e = docker_table_find(&t, A));
	assert_int_equal(e->starts, 2);
	assert_string_equal(e->state, "running");
	assert_non_null(docker_table_upsert(&t, &c));
	assert_int_equal(docker_table_find(&t, A)->starts, 2);
	docker_table_free(&t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(acts__missing_from_a_snapshot__in_flight_kept),
		cmocka_unit_test(
		    acts__retry_backoff__survives_a_missing_sample),
		cmocka_unit_test(acts__docker_still_has_it__kept),
		cmocka_unit_test(
		    acts__unknown_outcome__counted_gone_until_docker_settles),
		cmocka_unit_test(acts__stopped_then_started__running_again),
		cmocka_unit_test(table__start_events__counted),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
