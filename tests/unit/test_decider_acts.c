/*
 * acts.c: what the decider did to each container, by id, across
 * snapshots: in-flight calls and retries that outlive a missing sample,
 * outcomes unknown until Docker settles them, a stopped container that
 * starts again; the action ladder (sustain, escalation, throttle skipped
 * for memory) and the strikes and quarantine by identity (strikes.c),
 * each with the clock as an argument.
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

#define A      "aaaa"
#define B      "bbbb"
#define SEC    1000000000ULL
#define SETTLE (60 * SEC)

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
	acts_on_result(&e, DOCKER_ACT_UNKNOWN,
	    "unknown: Docker did not "
	    "answer within 10000 ms; waiting for Docker",
	    100 * SEC);
	assert_int_equal(e.state, ACT_UNKNOWN);
	assert_int_equal(acts_settle(&e, ACT_VIEW_NONE, 0, 500 * SEC, SETTLE,
			     result, sizeof(result)),
	    0);
	assert_int_equal(e.state, ACT_UNKNOWN);
	assert_int_equal(acts_settle(&e, ACT_VIEW_RUNNING, 0, 130 * SEC,
			     SETTLE, result, sizeof(result)),
	    0);
	assert_int_equal(e.state, ACT_UNKNOWN);
	assert_int_equal(acts_settle(&e, ACT_VIEW_GONE, 0, 131 * SEC, SETTLE,
			     result, sizeof(result)),
	    1);
	assert_int_equal(e.state, ACT_DONE);
	assert_non_null(strstr(result, "ok"));

	e.state = ACT_UNKNOWN;
	e.unknown_since_ns = 100 * SEC;
	assert_int_equal(acts_settle(&e, ACT_VIEW_STOPPED, 0, 101 * SEC,
			     SETTLE, result, sizeof(result)),
	    1);
	assert_int_equal(e.state, ACT_DONE);

	e.state = ACT_UNKNOWN;
	e.retry_ms = 0;
	assert_int_equal(acts_settle(&e, ACT_VIEW_RUNNING, 0, 161 * SEC,
			     SETTLE, result, sizeof(result)),
	    1);
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
			     result, sizeof(result)),
	    0);
	assert_int_equal(e.state, ACT_DONE);
	assert_int_equal(acts_settle(&e, ACT_VIEW_RUNNING, 3, 2, SETTLE,
			     result, sizeof(result)),
	    0);
	assert_int_equal(e.state, ACT_NONE);

	/* A removed container does not come back under the same id. */
	e.action = ACTION_REMOVE;
	e.state = ACT_DONE;
	assert_int_equal(acts_settle(&e, ACT_VIEW_RUNNING, 4, 3, SETTLE,
			     result, sizeof(result)),
	    0);
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

#define MS 1000000ULL

static struct policy_ladder
ladder(enum action a, enum action b, enum action c)
{
	struct policy_ladder l;

	memset(&l, 0, sizeof(l));
	l.step[l.n++] = a;
	if ((int)b >= 0)
		l.step[l.n++] = b;
	if ((int)c >= 0)
		l.step[l.n++] = c;
	return l;
}

#define NO ((enum action) - 1)

/* The ladder from one state, at one time: what it says. */
static void
acts__ladder_plan__table(void **state)
{
	static const struct {
		const char *name;
		enum action l0, l1, l2;
		size_t nsteps;
		int throttled;
		uint64_t over_since_s; /* before now; 0: not over */
		uint64_t step_s;       /* before now */
		int cpu_over, mem_over;
		uint64_t sustain_ms;
		enum ladder_kind want;
		enum action want_action;
		uint64_t want_wait_ms;
	} rows[] = {
		{ "sustain pending", ACTION_THROTTLE, ACTION_REMOVE, NO, 0, 0,
		    3, 0, 1, 0, 10000, LADDER_SUSTAIN, 0, 7000 },
		{ "sustain reached", ACTION_THROTTLE, ACTION_REMOVE, NO, 0, 0,
		    10, 0, 1, 0, 10000, LADDER_ACT, ACTION_THROTTLE, 0 },
		{ "sustain 0s: at once", ACTION_REMOVE, NO, NO, 0, 0, 0, 0, 1,
		    0, 0, LADDER_ACT, ACTION_REMOVE, 0 },
		{ "memory over skips throttle", ACTION_THROTTLE, ACTION_REMOVE,
		    NO, 0, 0, 1, 0, 0, 1, 0, LADDER_ACT, ACTION_REMOVE, 0 },
		{ "cpu and memory over skip throttle", ACTION_THROTTLE,
		    ACTION_STOP, NO, 0, 0, 1, 0, 1, 1, 0, LADDER_ACT,
		    ACTION_STOP, 0 },
		{ "throttle only, memory over: no step", ACTION_THROTTLE, NO,
		    NO, 0, 0, 1, 0, 0, 1, 0, LADDER_END, 0, 0 },
		{ "capped already: throttle skipped", ACTION_THROTTLE,
		    ACTION_KILL, NO, 0, 1, 1, 0, 1, 0, 0, LADDER_ACT,
		    ACTION_KILL, 0 },
		{ "throttled 10 s ago: escalation in 20 s", ACTION_THROTTLE,
		    ACTION_REMOVE, NO, 1, 1, 40, 10, 1, 0, 0, LADDER_ESCALATE,
		    ACTION_REMOVE, 20000 },
		{ "throttled 30 s ago, still over: next step", ACTION_THROTTLE,
		    ACTION_REMOVE, NO, 1, 1, 40, 30, 1, 0, 0, LADDER_ACT,
		    ACTION_REMOVE, 0 },
		{ "back over 5 s ago: escalation counts from then",
		    ACTION_THROTTLE, ACTION_REMOVE, NO, 1, 1, 5, 100, 1, 0, 0,
		    LADDER_ESCALATE, ACTION_REMOVE, 25000 },
		{ "escalation ignores sustain", ACTION_THROTTLE, ACTION_STOP,
		    ACTION_REMOVE, 2, 1, 100, 31, 1, 0, 60000, LADDER_ACT,
		    ACTION_REMOVE, 0 },
		{ "last step taken: end", ACTION_THROTTLE, NO, NO, 1, 1, 100,
		    100, 1, 0, 0, LADDER_END, 0, 0 },
	};
	struct policy_ladder l;
	struct ladder_plan pl;
	struct act_entry e;
	uint64_t now = 1000 * SEC;
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		print_message("case: %s\n", rows[i].name);
		l = ladder(rows[i].l0, rows[i].l1, rows[i].l2);
		memset(&e, 0, sizeof(e));
		e.nsteps = rows[i].nsteps;
		e.throttled = rows[i].throttled;
		e.over_since_ns = rows[i].over_since_s ?
		    now - rows[i].over_since_s * SEC :
		    0;
		if (rows[i].over_since_s == 0)
			acts_track_over(&e, 1, now);
		e.step_ns = rows[i].nsteps ? now - rows[i].step_s * SEC : 0;
		ladder_plan(&l, &e, rows[i].cpu_over, rows[i].mem_over,
		    rows[i].sustain_ms, 30000, now, &pl);
		assert_int_equal(pl.kind, rows[i].want);
		if (rows[i].want == LADDER_ACT ||
		    rows[i].want == LADDER_ESCALATE)
			assert_int_equal(pl.action, rows[i].want_action);
		assert_int_equal(pl.wait_ms, rows[i].want_wait_ms);
		if (rows[i].want != LADDER_ACT)
			assert_true(pl.why[0] != '\0');
	}
}

/* Sustain counts a run over without a break: one sample under ends it. */
static void
acts__sustain__one_sample_under_restarts(void **state)
{
	struct policy_ladder l = ladder(ACTION_REMOVE, NO, NO);
	struct ladder_plan pl;
	struct act_entry e;
	uint64_t now = 1000 * SEC;

	memset(&e, 0, sizeof(e));
	acts_track_over(&e, 1, now);
	acts_track_over(&e, 1, now + 4 * SEC);
	ladder_plan(&l, &e, 1, 0, 5000, 30000, now + 4 * SEC, &pl);
	assert_int_equal(pl.kind, LADDER_SUSTAIN);
	assert_int_equal(pl.wait_ms, 1000);
	acts_track_over(&e, 0, now + 5 * SEC);
	assert_int_equal(e.over_since_ns, 0);
	acts_track_over(&e, 1, now + 6 * SEC);
	ladder_plan(&l, &e, 1, 0, 5000, 30000, now + 10 * SEC, &pl);
	assert_int_equal(pl.kind, LADDER_SUSTAIN);
	assert_int_equal(pl.over_ms, 4000);
	ladder_plan(&l, &e, 1, 0, 5000, 30000, now + 11 * SEC, &pl);
	assert_int_equal(pl.kind, LADDER_ACT);
	acts_step_taken(&e, &pl, now + 11 * SEC);
	assert_int_equal(e.nsteps, 1);
}

/*
 * A throttle that worked leaves the container running and capped; a
 * step that failed is tried again, not skipped; one with no answer is
 * retried (the update is idempotent).
 */
static void
acts__throttle_result__capped_or_retried(void **state)
{
	struct act_entry e;

	memset(&e, 0, sizeof(e));
	e.action = ACTION_THROTTLE;
	e.state = ACT_IN_FLIGHT;
	e.nsteps = 1;
	acts_on_result(&e, DOCKER_ACT_OK, "ok", 5 * SEC);
	assert_int_equal(e.state, ACT_NONE);
	assert_true(e.throttled);
	assert_int_equal(e.nsteps, 1);

	memset(&e, 0, sizeof(e));
	e.action = ACTION_THROTTLE;
	e.state = ACT_IN_FLIGHT;
	e.nsteps = 1;
	acts_on_result(&e, DOCKER_ACT_UNKNOWN, "unknown: timeout", 5 * SEC);
	assert_int_equal(e.state, ACT_NONE);
	assert_false(e.throttled);
	assert_int_equal(e.nsteps, 0);
	assert_true(e.retry_mono_ns > 5 * SEC);

	memset(&e, 0, sizeof(e));
	e.action = ACTION_REMOVE;
	e.state = ACT_IN_FLIGHT;
	e.nsteps = 2;
	acts_on_result(&e, DOCKER_ACT_FAILED, "conflict", 5 * SEC);
	assert_int_equal(e.nsteps, 1);

	memset(&e, 0, sizeof(e));
	e.action = ACTION_RELEASE;
	e.state = ACT_IN_FLIGHT;
	e.throttled = 1;
	acts_on_result(&e, DOCKER_ACT_OK, "ok", 5 * SEC);
	assert_int_equal(e.state, ACT_NONE);
	assert_false(e.throttled);
}

static void
ident__labels__compose_then_swarm_then_name(void **state)
{
	char id[IDENT_LEN];

	ident_of("shop", "web", "svc", "shop-web-1", id, sizeof(id));
	assert_string_equal(id, "compose:shop/web");
	ident_of("shop", "", "svc", "shop-web-1", id, sizeof(id));
	assert_string_equal(id, "swarm:svc");
	ident_of("", "web", "", "x", id, sizeof(id));
	assert_string_equal(id, "name:x");
	ident_of(NULL, NULL, NULL, "", id, sizeof(id));
	assert_string_equal(id, "");
}

#define HOUR 3600

/* quarantine_after strikes within the window quarantine; older ones expire. */
static void
strikes__within_window__quarantined_on_the_last(void **state)
{
	struct strike_table t;
	struct strike_entry *s;
	uint64_t now = 1700000000;

	strikes_init(&t);
	assert_int_equal(strikes_add(&t, "compose:p/web", "p-web-1", now, HOUR,
			     3),
	    0);
	/* Out of the window by the time of the next ones. */
	assert_int_equal(strikes_add(&t, "compose:p/web", "p-web-2",
			     now + HOUR, HOUR, 3),
	    0);
	assert_int_equal(strikes_add(&t, "compose:p/web", "p-web-3",
			     now + HOUR + 10, HOUR, 3),
	    0);
	assert_non_null(s = strikes_find(&t, "compose:p/web"));
	assert_int_equal(strikes_count(s, now + HOUR + 10, HOUR), 2);
	assert_false(s->quarantined);
	assert_int_equal(strikes_add(&t, "compose:p/web", "p-web-4",
			     now + HOUR + 20, HOUR, 3),
	    1);
	assert_non_null(s = strikes_find(&t, "compose:p/web"));
	assert_true(s->quarantined);
	assert_int_equal(s->quarantined_s, now + HOUR + 20);
	assert_string_equal(s->name, "p-web-4");
	/* Another identity is its own. */
	assert_int_equal(strikes_add(&t, "name:db", "db", now + HOUR + 20,
			     HOUR, 3),
	    0);
	/* quarantine_after 0: never. */
	assert_int_equal(strikes_add(&t, "name:db", "db", now + HOUR + 21,
			     HOUR, 0),
	    0);
	assert_int_equal(strikes_add(&t, "name:db", "db", now + HOUR + 22,
			     HOUR, 0),
	    0);
	assert_false(strikes_find(&t, "name:db")->quarantined);

	/* Found by container and name too; released, it is forgotten. */
	snprintf(s->applied_id, sizeof(s->applied_id), "abcdef");
	assert_ptr_equal(strikes_lookup(&t, "abc"), s);
	assert_ptr_equal(strikes_lookup(&t, "p-web-4"), s);
	assert_int_equal(strikes_release(&t, "compose:p/web"), 0);
	assert_null(strikes_find(&t, "compose:p/web"));
	assert_int_equal(strikes_release(&t, "compose:p/web"), -1);

	/* Pruning keeps what is in the window or quarantined. */
	assert_int_equal(strikes_prune(&t, now + 3 * HOUR, HOUR), 1);
	assert_int_equal(t.n, 0);
	strikes_free(&t);
}

/* The file's text round-trips; a bad one is refused, the table kept. */
static void
strikes__format_parse__round_trip_and_hostile(void **state)
{
	static const char *const bad[] = {
		"",
		"{",
		"[]",
		"{\"version\":2,\"identities\":[]}",
		"{\"version\":1,\"identities\":{}}",
		"{\"version\":1,\"identities\":[{\"identity\":\"x\"}]}",
		"{\"version\":1,\"identities\":[{\"identity\":\"x\",\"name\":"
		"\"x\",\"strikes\":[\"soon\"],\"quarantined\":false,"
		"\"quarantined_ts\":0,\"applied_id\":\"\"}]}",
		"{\"version\":1,\"identities\":[{\"identity\":\"x\",\"name\":"
		"\"x\",\"strikes\":[-5],\"quarantined\":false,"
		"\"quarantined_ts\":0,\"applied_id\":\"\"}]}",
		"{\"version\":1,\"identities\":[{\"identity\":\"\",\"name\":"
		"\"x\",\"strikes\":[],\"quarantined\":false,"
		"\"quarantined_ts\":0,\"applied_id\":\"\"}]}",
		"{\"version\":1,\"version\":1,\"identities\":[]}",
	};
	struct strike_table t, u;
	struct strike_entry *s;
	char err[256], *text;
	size_t i;

	strikes_init(&t);
	strikes_init(&u);
	assert_int_equal(strikes_add(&t, "compose:p/web", "p-web-1", 100, HOUR,
			     2),
	    0);
	assert_int_equal(strikes_add(&t, "compose:p/web", "p-web-2", 200, HOUR,
			     2),
	    1);
	snprintf(t.e[0].applied_id, sizeof(t.e[0].applied_id), "%s", A);
	assert_int_equal(strikes_add(&t, "name:\"odd\\\n", "odd", 300, HOUR,
			     2),
	    0);
	assert_non_null(text = strikes_format(&t));
	assert_int_equal(strikes_parse(&u, text, strlen(text), err,
			     sizeof(err)),
	    0);
	free(text);
	assert_int_equal(u.n, 2);
	assert_non_null(s = strikes_find(&u, "compose:p/web"));
	assert_true(s->quarantined);
	assert_int_equal(s->quarantined_s, 200);
	assert_int_equal(s->nstrikes, 2);
	assert_int_equal(s->strike_s[1], 200);
	assert_string_equal(s->applied_id, A);
	assert_non_null(s = strikes_find(&u, "name:\"odd\\\n"));
	assert_int_equal(s->nstrikes, 1);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(strikes_parse(&u, bad[i], strlen(bad[i]), err,
				     sizeof(err)),
		    -1);
		assert_true(err[0] != '\0');
		assert_int_equal(u.n, 2);
	}
	strikes_free(&t);
	strikes_free(&u);
}

/*
 * An action whose call is out is written down and read back by the next
 * decider as an outcome Docker settles: not failed while its own deadline
 * runs, settled by Docker's table, never a second call; a throttle (an
 * idempotent update) and an ended call are not written; a bad file is an
 * error.
 */
static void
acts__pending_file__round_trip(void **state)
{
	static const char id[] = "0123456789abcdef0123456789abcdef"
				 "0123456789abcdef0123456789abcdef";
	static const char id2[] = "fedcba9876543210fedcba9876543210"
				  "fedcba9876543210fedcba9876543210";
	struct act_table t, u;
	struct act_entry *e;
	char *text, res[200], err[256];
	const char *bad;

	acts_init(&t);
	assert_non_null(e = acts_get(&t, id));
	e->state = ACT_IN_FLIGHT;
	e->action = ACTION_STOP;
	e->nsteps = 2;
	e->starts_at_act = 3;
	snprintf(e->name, sizeof(e->name), "web_1");
	snprintf(e->act_class, sizeof(e->act_class), "low");
	assert_non_null(e = acts_get(&t, id2));
	e->state = ACT_IN_FLIGHT;
	e->action = ACTION_THROTTLE;
	assert_non_null(text = acts_format_pending(&t));
	assert_non_null(strstr(text, id));
	assert_null(strstr(text, id2));

	acts_init(&u);
	assert_int_equal(acts_load_pending(&u, text, strlen(text), 100 * SEC,
			     20 * SEC, err, sizeof(err)),
	    1);
	assert_non_null(e = acts_find(&u, id));
	assert_int_equal(e->state, ACT_UNKNOWN);
	assert_int_equal(e->action, ACTION_STOP);
	assert_int_equal(e->nsteps, 2);
	assert_int_equal(e->starts_at_act, 3);
	assert_string_equal(e->name, "web_1");
	assert_string_equal(e->act_class, "low");
	/* Still running inside the stop's own time and the settle time. */
	assert_int_equal(acts_settle(e, ACT_VIEW_RUNNING, 3, 110 * SEC, SETTLE,
			     res, sizeof(res)),
	    0);
	assert_int_equal(acts_settle(e, ACT_VIEW_RUNNING, 3, 150 * SEC, SETTLE,
			     res, sizeof(res)),
	    0);
	assert_int_equal(acts_settle(e, ACT_VIEW_STOPPED, 3, 151 * SEC, SETTLE,
			     res, sizeof(res)),
	    1);
	assert_int_equal(e->state, ACT_DONE);
	free(text);
	assert_non_null(text = acts_format_pending(&u));
	assert_string_equal(text, "{\"version\":1,\"pending\":[]}");
	free(text);
	acts_free(&u);
	acts_free(&t);

	acts_init(&u);
	bad = "{\"version\":2,\"pending\":[]}";
	assert_int_equal(acts_load_pending(&u, bad, strlen(bad), 0, 0, err,
			     sizeof(err)),
	    -1);
	bad = "{\"version\":1,\"pending\":[{\"id\":\"x\",\"action\":"
	      "\"stop\"}]}";
	assert_int_equal(acts_load_pending(&u, bad, strlen(bad), 0, 0, err,
			     sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "no container id"));
	assert_int_equal(u.n, 0);
	acts_free(&u);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    acts__missing_from_a_snapshot__in_flight_kept),
		cmocka_unit_test(
		    acts__retry_backoff__survives_a_missing_sample),
		cmocka_unit_test(acts__docker_still_has_it__kept),
		cmocka_unit_test(
		    acts__unknown_outcome__counted_gone_until_docker_settles),
		cmocka_unit_test(acts__stopped_then_started__running_again),
		cmocka_unit_test(table__start_events__counted),
		cmocka_unit_test(acts__ladder_plan__table),
		cmocka_unit_test(acts__sustain__one_sample_under_restarts),
		cmocka_unit_test(acts__throttle_result__capped_or_retried),
		cmocka_unit_test(ident__labels__compose_then_swarm_then_name),
		cmocka_unit_test(
		    strikes__within_window__quarantined_on_the_last),
		cmocka_unit_test(
		    strikes__format_parse__round_trip_and_hostile),
		cmocka_unit_test(acts__pending_file__round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
