/*
 * engine.c: the decider's sample step, driven by snapshots, a Docker table
 * and a clock made up by each test. A table of single-sample cases checks
 * what one step publishes, asks of Docker and logs; sequences check what
 * the engine remembers between samples (acting, settling, retrying, a
 * reload undoing dry-run).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../../decider/decider.h"

#define N(a)		(sizeof(a) / sizeof((a)[0]))
#define SEC		1000000000ULL
#define MEM_TOTAL_KB	1000000ULL

/* A container of a test: its id is its letter repeated 64 times. */
struct tctr {
	char		 letter;
	const char	*name;		/* NULL: unknown to Docker */
	const char	*state;		/* Docker's, "running" if NULL */
	double		 mem_pct;	/* of MEM_TOTAL_KB, from its RSS */
	int		 nprocs;	/* 1 if 0 */
};

struct world {
	struct engine		 eng;
	struct engine_out	 out;
	struct kw_snapshot	 snap;
	struct docker_table	 table;
	struct engine_docker	 dv;
	uint64_t		 now;
	uint64_t		 cpu_ns;	/* per process, grows per step */
};

static void
cid(char letter, char *out)
{
	memset(out, letter, KW_CID_LEN - 1);
	out[KW_CID_LEN - 1] = '\0';
}

static void
test_policy(struct policy *p, enum action action, uint32_t low_min)
{
	policy_defaults(p);
	p->action = action;
	p->mem_threshold = 20.0;
	p->cpu_threshold = 90.0;
	p->classes[1].min_alive = low_min;	/* "low": everything else */
}

static void
world_init(struct world *w, const struct policy *p)
{
	memset(w, 0, sizeof(*w));
	engine_init(&w->eng, p, 60 * SEC, 3);
	engine_out_init(&w->out);
	kw_snapshot_init(&w->snap);
	docker_table_init(&w->table);
	w->dv.connected = 1;
	w->dv.table = &w->table;
	w->now = 1000 * SEC;
}

static void
world_free(struct world *w)
{
	engine_free(&w->eng);
	engine_out_free(&w->out);
	kw_snapshot_free(&w->snap);
	docker_table_free(&w->table);
}

/* Docker's table: exactly these containers (named ones only). */
static void
world_docker(struct world *w, const struct tctr *c, size_t n)
{
	struct docker_ctr dc;
	size_t i;

	w->table.gen++;
	for (i = 0; i < n; i++) {
		if (c[i].name == NULL)
			continue;
		memset(&dc, 0, sizeof(dc));
		cid(c[i].letter, dc.id);
		snprintf(dc.name, sizeof(dc.name), "%s", c[i].name);
		snprintf(dc.image, sizeof(dc.image), "%s_img", c[i].name);
		snprintf(dc.state, sizeof(dc.state), "%s",
		    c[i].state ? c[i].state : "running");
		assert_non_null(docker_table_upsert(&w->table, &dc));
	}
	docker_table_drop_older(&w->table, w->table.gen);
}

/* One step one second after the last, over these containers' processes. */
static int
world_step(struct world *w, const struct tctr *c, size_t n)
{
	struct kw_proc *p;
	int32_t pid = 100;
	size_t i;
	int k;

	kw_snapshot_clear(&w->snap);
	w->now += SEC;
	w->cpu_ns += SEC / 100;
	w->snap.ts_ns = w->now;
	w->snap.host.mem_total_kb = MEM_TOTAL_KB;
	w->snap.host.ncpu = 2;
	p = kw_snapshot_add(&w->snap);
	assert_non_null(p);
	p->pid = 1;
	snprintf(p->name, sizeof(p->name), "init");
	p->rss_kb = 1000;
	p->cpu_ns = w->cpu_ns;
	for (i = 0; i < n; i++)
		for (k = 0; k < (c[i].nprocs ? c[i].nprocs : 1); k++) {
			p = kw_snapshot_add(&w->snap);
			assert_non_null(p);
			p->pid = pid++;
			p->start_ns = (uint64_t)p->pid;
			snprintf(p->name, sizeof(p->name), "w%c%d",
			    c[i].letter, k);
			cid(c[i].letter, p->container_id);
			p->rss_kb = (uint64_t)(c[i].mem_pct / 100.0 *
			    (double)MEM_TOTAL_KB) / (uint64_t)(c[i].nprocs ?
			    c[i].nprocs : 1);
			p->cpu_ns = w->cpu_ns;
		}
	return engine_step(&w->eng, &w->snap, &w->dv, w->now, &w->out);
}

static int
logged(const struct engine_out *o, const char *has)
{
	size_t i;

	for (i = 0; i < o->nlogs; i++)
		if (strstr(o->logs[i].text, has) != NULL)
			return 1;
	return 0;
}

static const struct engine_row *
row(const struct world *w, char letter)
{
	char id[KW_CID_LEN];
	size_t i;

	cid(letter, id);
	for (i = 0; i < w->eng.nrows; i++)
		if (strcmp(w->eng.rows[i].c.container_id, id) == 0)
			return &w->eng.rows[i];
	return NULL;
}

/* One sample from a fresh engine: what it publishes, asks and logs. */
struct scase {
	const char	*name;
	enum action	 action;
	int		 connected;
	int		 no_client;	/* no Docker client at all */
	uint32_t	 low_min;
	struct tctr	 ctrs[4];
	size_t		 nctrs;
	size_t		 want_intents;
	size_t		 want_deletions;
	size_t		 want_lookups;
	const char	*want_log;	/* substring of a log line, or NULL */
};

static const struct scase single[] = {
	{ "remove over memory: one intent", ACTION_REMOVE, 1, 0, 0,
	    { { 'a', "web", NULL, 50, 0 } }, 1, 1, 0, 0, "(class low): "
	    "remove: mem 50.0% > 20.0%" },
	{ "dry-run over memory: recorded at once", ACTION_DRY_RUN, 1, 0, 0,
	    { { 'a', "web", NULL, 50, 0 } }, 1, 0, 1, 0, "dry-run" },
	{ "dry-run without Docker: still recorded", ACTION_DRY_RUN, 0, 1, 0,
	    { { 'a', NULL, NULL, 50, 0 } }, 1, 0, 1, 0, NULL },
	{ "under the thresholds: nothing", ACTION_REMOVE, 1, 0, 0,
	    { { 'a', "web", NULL, 10, 0 } }, 1, 0, 0, 0, NULL },
	{ "Docker unreachable: held", ACTION_REMOVE, 0, 0, 0,
	    { { 'a', "web", NULL, 50, 0 } }, 1, 0, 0, 0, "Docker unreachable"
	},
	{ "no Docker client: held", ACTION_REMOVE, 0, 1, 0,
	    { { 'a', "web", NULL, 50, 0 } }, 1, 0, 0, 0, "Docker unreachable"
	},
	{ "unknown to Docker: looked up, held", ACTION_REMOVE, 1, 0, 0,
	    { { 'a', NULL, NULL, 50, 0 } }, 1, 0, 0, 1, "unknown to Docker" },
	{ "protected: skipped", ACTION_REMOVE, 1, 0, 0,
	    { { 'a', "grafana", NULL, 50, 0 } }, 1, 0, 0, 0,
	    "protected (matches \"grafana\")" },
	{ "class at min_alive: held", ACTION_REMOVE, 1, 0, 2,
	    { { 'a', "web", NULL, 50, 0 }, { 'b', "db", NULL, 5, 0 } }, 2, 0,
	    0, 0, "class low at min_alive (2 alive, min 2)" },
	{ "min_alive leaves room for one of two", ACTION_STOP, 1, 0, 1,
	    { { 'a', "web", NULL, 50, 0 }, { 'b', "db", NULL, 60, 0 } }, 2, 1,
	    0, 0, "skipped: class low at min_alive (1 alive, min 1)" },
	{ "memory summed over processes", ACTION_KILL, 1, 0, 0,
	    { { 'a', "web", NULL, 30, 6 } }, 1, 1, 0, 0, "mem 30.0% > 20.0%" },
};

static void
engine__single_sample__table(void **state)
{
	const struct scase *c;
	struct policy p;
	struct world w;
	size_t i, j;

	for (i = 0; i < N(single); i++) {
		c = &single[i];
		test_policy(&p, c->action, c->low_min);
		world_init(&w, &p);
		w.dv.connected = c->connected;
		if (c->no_client)
			w.dv.table = NULL;
		world_docker(&w, c->ctrs, c->nctrs);
		assert_int_equal(world_step(&w, c->ctrs, c->nctrs), 0);
		print_message("case: %s\n", c->name);
		assert_int_equal(w.out.nintents, c->want_intents);
		assert_int_equal(w.out.ndeletions, c->want_deletions);
		assert_int_equal(w.out.nlookups, c->want_lookups);
		assert_int_equal(w.out.ncontainers, c->nctrs);
		assert_true(w.out.has_sys);
		assert_int_equal(w.out.sys.nprocs, w.snap.nprocs);
		if (c->want_log != NULL && !logged(&w.out, c->want_log)) {
			for (j = 0; j < w.out.nlogs; j++)
				print_message("log: %s\n", w.out.logs[j].text);
			fail_msg("no log line has \"%s\"", c->want_log);
		}
		for (j = 0; j < w.out.nintents; j++) {
			assert_int_equal(w.out.intents[j].action, c->action);
			assert_string_equal(w.out.intents[j].rec.action,
			    action_name(c->action));
			assert_string_equal(w.out.intents[j].rec.result, "");
		}
		for (j = 0; j < w.out.ndeletions; j++)
			assert_string_equal(w.out.deletions[j].result, "ok");
		world_free(&w);
	}
}

/* Taken once: while the call is out, and after, it is not taken again. */
static void
engine__action_in_flight__not_taken_twice(void **state)
{
	static const struct tctr c[] = { { 'a', "web", NULL, 50, 0 } };
	char id[KW_CID_LEN];
	struct policy p;
	struct world w;

	test_policy(&p, ACTION_REMOVE, 0);
	world_init(&w, &p);
	world_docker(&w, c, N(c));
	assert_int_equal(world_step(&w, c, N(c)), 0);
	assert_int_equal(w.out.nintents, 1);
	assert_int_equal(row(&w, 'a')->act->state, ACT_IN_FLIGHT);
	assert_string_equal(engine_row_state(row(&w, 'a'), 1, (char[64]){0},
	    64), "remove in flight");

	assert_int_equal(world_step(&w, c, N(c)), 0);
	assert_int_equal(w.out.nintents, 0);
	assert_int_equal(w.eng.taken, 1);

	cid('a', id);
	engine_action_done(&w.eng, id, DOCKER_ACT_OK, "ok", w.now);
	assert_int_equal(row(&w, 'a')->act->state, ACT_DONE);
	assert_int_equal(world_step(&w, c, N(c)), 0);
	assert_int_equal(w.out.nintents, 0);
	world_free(&w);
}

/* A failed call is retried after its backoff (1 s, then 2 s), not before. */
static void
engine__failed_action__retried_after_backoff(void **state)
{
	static const struct tctr c[] = { { 'a', "web", NULL, 50, 0 } };
	char id[KW_CID_LEN];
	struct policy p;
	struct world w;

	test_policy(&p, ACTION_REMOVE, 0);
	world_init(&w, &p);
	world_docker(&w, c, N(c));
	cid('a', id);
	assert_int_equal(world_step(&w, c, N(c)), 0);
	assert_int_equal(w.out.nintents, 1);
	engine_action_done(&w.eng, id, DOCKER_ACT_FAILED, "conflict",
	    w.now + SEC / 2);

	/* 1 s after a failure at +0.5 s: not yet. */
	assert_int_equal(world_step(&w, c, N(c)), 0);
	assert_int_equal(w.out.nintents, 0);
	assert_true(logged(&w.out, "retry in 1 s after: conflict"));
	assert_int_equal(world_step(&w, c, N(c)), 0);
	assert_int_equal(w.out.nintents, 1);
	engine_action_done(&w.eng, id, DOCKER_ACT_FAILED, "conflict", w.now);
	assert_int_equal(world_step(&w, c, N(c)), 0);
	assert_int_equal(w.out.nintents, 0);
	assert_int_equal(world_step(&w, c, N(c)), 0);
	assert_int_equal(w.out.nintents, 1);
	world_free(&w);
}

/*
 * An unknown outcome counts as gone for min_alive and is settled from
 * Docker's table: gone is "ok", with a second row.
 */
static void
engine__unknown_outcome__settled_when_gone(void **state)
{
	static const struct tctr c[] = { { 'a', "web", NULL, 50, 0 },
	    { 'b', "db", NULL, 50, 0 } };
	char id[KW_CID_LEN];
	struct policy p;
	struct world w;

	test_policy(&p, ACTION_REMOVE, 1);
	world_init(&w, &p);
	world_docker(&w, c, N(c));
	cid('a', id);
	assert_int_equal(world_step(&w, c, N(c)), 0);
	assert_int_equal(w.out.nintents, 1);
	assert_memory_equal(w.out.intents[0].rec.container_id, id, 64);
	assert_true(logged(&w.out, "min_alive (1 alive, min 1)"));
	engine_action_done(&w.eng, id, DOCKER_ACT_UNKNOWN, "unknown: timeout",
	    w.now);

	/* Still there and unsettled: it counts as gone, b stays held. */
	assert_int_equal(world_step(&w, c, N(c)), 0);
	assert_int_equal(w.out.nintents, 0);
	assert_int_equal(w.out.ndeletions, 0);
	assert_int_equal(w.eng.alive[1], 1);

	/* Docker no longer has it: settled, one row. */
	world_docker(&w, &c[1], 1);
	assert_int_equal(world_step(&w, c, N(c)), 0);
	assert_int_equal(w.out.ndeletions, 1);
	assert_string_equal(w.out.deletions[0].action, "remove");
	assert_string_equal(w.out.deletions[0].name, "web");
	assert_non_null(strstr(w.out.deletions[0].result, "ok: settled"));
	assert_int_equal(row(&w, 'a')->act->state, ACT_DONE);
	assert_int_equal(world_step(&w, c, N(c)), 0);
	assert_int_equal(w.out.ndeletions, 0);
	world_free(&w);
}

/* Still running settle_ns after an unanswered call: failed, retried. */
static void
engine__unknown_outcome__still_running__retried(void **state)
{
	static const struct tctr c[] = { { 'a', "web", NULL, 50, 0 } };
	char id[KW_CID_LEN];
	struct policy p;
	struct world w;
	int i;

	test_policy(&p, ACTION_REMOVE, 0);
	world_init(&w, &p);
	w.eng.settle_ns = 3 * SEC;
	world_docker(&w, c, N(c));
	cid('a', id);
	assert_int_equal(world_step(&w, c, N(c)), 0);
	engine_action_done(&w.eng, id, DOCKER_ACT_UNKNOWN, "unknown", w.now);
	for (i = 0; i < 2; i++) {
		assert_int_equal(world_step(&w, c, N(c)), 0);
		assert_int_equal(w.out.ndeletions, 0);
	}
	assert_int_equal(world_step(&w, c, N(c)), 0);
	assert_int_equal(w.out.ndeletions, 1);
	assert_non_null(strstr(w.out.deletions[0].result, "failed: still "
	    "running 3 s"));
	assert_int_equal(row(&w, 'a')->act->state, ACT_NONE);
	world_free(&w);
}

/* A stopped container that starts again is running: acted on again. */
static void
engine__stopped_then_started_again__acted_again(void **state)
{
	static const struct tctr c[] = { { 'a', "web", NULL, 50, 0 } };
	char id[KW_CID_LEN];
	struct docker_ctr *dc;
	struct policy p;
	struct world w;

	test_policy(&p, ACTION_STOP, 0);
	world_init(&w, &p);
	world_docker(&w, c, N(c));
	cid('a', id);
	assert_int_equal(world_step(&w, c, N(c)), 0);
	assert_int_equal(w.out.nintents, 1);
	engine_action_done(&w.eng, id, DOCKER_ACT_OK, "ok", w.now);
	assert_int_equal(world_step(&w, c, N(c)), 0);
	assert_int_equal(w.out.nintents, 0);

	dc = docker_table_find(&w.table, id);
	dc->starts++;
	assert_int_equal(world_step(&w, c, N(c)), 0);
	assert_true(logged(&w.out, "started again after stop"));
	assert_int_equal(w.out.nintents, 1);
	world_free(&w);
}

/* Reload from dry-run to remove: what dry-run "did" is done for real. */
static void
engine__reload_dry_run_to_remove__acts_for_real(void **state)
{
	static const struct tctr c[] = { { 'a', "web", NULL, 50, 0 } };
	struct policy p;
	struct world w;

	test_policy(&p, ACTION_DRY_RUN, 0);
	world_init(&w, &p);
	world_docker(&w, c, N(c));
	assert_int_equal(world_step(&w, c, N(c)), 0);
	assert_int_equal(w.out.ndeletions, 1);
	assert_string_equal(w.out.deletions[0].action, "dry-run");
	assert_int_equal(w.eng.dry_runs, 1);
	assert_int_equal(world_step(&w, c, N(c)), 0);
	assert_int_equal(w.out.ndeletions, 0);

	/* Dry-run to dry-run keeps it done. */
	engine_set_policy(&w.eng, &p);
	assert_int_equal(world_step(&w, c, N(c)), 0);
	assert_int_equal(w.out.ndeletions, 0);

	p.action = ACTION_REMOVE;
	engine_set_policy(&w.eng, &p);
	assert_int_equal(row(&w, 'a')->act->state, ACT_NONE);
	assert_int_equal(world_step(&w, c, N(c)), 0);
	assert_int_equal(w.out.nintents, 1);
	assert_int_equal(w.out.intents[0].action, ACTION_REMOVE);
	world_free(&w);
}

/* Skips are logged when they change, and "back under" once. */
static void
engine__skip_logged_once__back_under_logged(void **state)
{
	static const struct tctr over[] = { { 'a', "grafana", NULL, 50, 0 } };
	static const struct tctr under[] = { { 'a', "grafana", NULL, 5, 0 } };
	struct policy p;
	struct world w;

	test_policy(&p, ACTION_REMOVE, 0);
	world_init(&w, &p);
	world_docker(&w, over, N(over));
	assert_int_equal(world_step(&w, over, N(over)), 0);
	assert_true(logged(&w.out, "skipped: protected"));
	assert_int_equal(world_step(&w, over, N(over)), 0);
	assert_false(logged(&w.out, "skipped"));
	assert_int_equal(world_step(&w, under, N(under)), 0);
	assert_true(logged(&w.out, "back under the thresholds"));
	assert_int_equal(world_step(&w, under, N(under)), 0);
	assert_int_equal(w.out.nlogs, 0);
	world_free(&w);
}

/* CPU: no figure from one sample, the rate from two. */
static void
engine__cpu_from_two_samples(void **state)
{
	static const struct tctr c[] = { { 'a', "web", NULL, 1, 0 } };
	struct policy p;
	struct world w;

	test_policy(&p, ACTION_REMOVE, 0);
	world_init(&w, &p);
	world_docker(&w, c, N(c));
	assert_int_equal(world_step(&w, c, N(c)), 0);
	assert_true(w.out.containers[0].cpu_pct == 0.0);
	assert_int_equal(world_step(&w, c, N(c)), 0);
	/* 10 ms of CPU per second on 2 CPUs: 0.5 % of the machine. */
	assert_true(w.out.containers[0].cpu_pct > 0.49 &&
	    w.out.containers[0].cpu_pct < 0.51);
	assert_true(w.out.sys.cpu_pct > 0.99 && w.out.sys.cpu_pct < 1.01);
	world_free(&w);
}

/* Top K by CPU then by memory, no process twice. */
static void
engine__top_processes__cpu_then_memory_no_duplicates(void **state)
{
	static const struct tctr c[] = { { 'a', "web", NULL, 12, 4 },
	    { 'b', "db", NULL, 2, 2 } };
	struct policy p;
	struct world w;
	size_t i, j;

	test_policy(&p, ACTION_DRY_RUN, 0);
	world_init(&w, &p);
	world_docker(&w, c, N(c));
	assert_int_equal(world_step(&w, c, N(c)), 0);
	/* 7 processes, k = 3: 3 by CPU (all equal: lowest pids), then up to
	 * 3 by memory not already sent. */
	assert_true(w.out.nprocs >= 3 && w.out.nprocs <= 6);
	for (i = 0; i < w.out.nprocs; i++)
		for (j = i + 1; j < w.out.nprocs; j++)
			assert_int_not_equal(w.out.procs[i].pid,
			    w.out.procs[j].pid);
	assert_int_equal(w.out.procs[0].pid, 1);
	/* The memory pass sends web's processes (3 % each). */
	assert_true(w.out.procs[w.out.nprocs - 1].rss_kb == 30000);
	world_free(&w);
}

/* A container that leaves and Docker forgot is forgotten too. */
static void
engine__gone_container__forgotten_after_absence(void **state)
{
	static const struct tctr c[] = { { 'a', "web", NULL, 50, 0 } };
	char id[KW_CID_LEN];
	struct policy p;
	struct world w;
	int i;

	test_policy(&p, ACTION_REMOVE, 0);
	world_init(&w, &p);
	world_docker(&w, c, N(c));
	cid('a', id);
	assert_int_equal(world_step(&w, c, N(c)), 0);
	engine_action_done(&w.eng, id, DOCKER_ACT_OK, "ok", w.now);
	world_docker(&w, NULL, 0);
	for (i = 0; i < ACTS_ABSENT_SAMPLES; i++) {
		assert_non_null(acts_find(&w.eng.acts, id));
		assert_int_equal(world_step(&w, NULL, 0), 0);
	}
	assert_true(logged(&w.out, "is gone (after remove)"));
	assert_null(acts_find(&w.eng.acts, id));
	world_free(&w);
}

/* engine_find: exact name first, then an id prefix. */
static void
engine__find__by_name_or_id_prefix(void **state)
{
	static const struct tctr c[] = { { 'a', "web", NULL, 1, 0 },
	    { 'b', "aaaa", NULL, 1, 0 } };
	struct policy p;
	struct world w;

	test_policy(&p, ACTION_REMOVE, 0);
	world_init(&w, &p);
	world_docker(&w, c, N(c));
	assert_int_equal(world_step(&w, c, N(c)), 0);
	assert_ptr_equal(engine_find(&w.eng, "web"), row(&w, 'a'));
	assert_ptr_equal(engine_find(&w.eng, "aaaa"), row(&w, 'b'));
	assert_ptr_equal(engine_find(&w.eng, "aaa"), row(&w, 'a'));
	assert_ptr_equal(engine_find(&w.eng, "bbbbbbbbbbbb"), row(&w, 'b'));
	assert_null(engine_find(&w.eng, "c"));
	assert_null(engine_find(&w.eng, ""));
	world_free(&w);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(engine__single_sample__table),
		cmocka_unit_test(engine__action_in_flight__not_taken_twice),
		cmocka_unit_test(engine__failed_action__retried_after_backoff),
		cmocka_unit_test(engine__unknown_outcome__settled_when_gone),
		cmocka_unit_test(
		    engine__unknown_outcome__still_running__retried),
		cmocka_unit_test(
		    engine__stopped_then_started_again__acted_again),
		cmocka_unit_test(
		    engine__reload_dry_run_to_remove__acts_for_real),
		cmocka_unit_test(engine__skip_logged_once__back_under_logged),
		cmocka_unit_test(engine__cpu_from_two_samples),
		cmocka_unit_test(
		    engine__top_processes__cpu_then_memory_no_duplicates),
		cmocka_unit_test(
		    engine__gone_container__forgotten_after_absence),
		cmocka_unit_test(engine__find__by_name_or_id_prefix),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
