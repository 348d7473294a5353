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

#define N(a)	     (sizeof(a) / sizeof((a)[0]))
#define SEC	     1000000000ULL
#define MEM_TOTAL_KB 1000000ULL

/* A container of a test: its id is its letter repeated 64 times. */
struct tctr {
	char letter;
	const char *name;    /* NULL: unknown to Docker */
	const char *state;   /* Docker's, "running" if NULL */
	double mem_pct;	     /* of MEM_TOTAL_KB, from its RSS */
	int nprocs;	     /* 1 if 0 */
	double cpu_pct;	     /* of the machine, on top */
	const char *service; /* compose service of project "shop" */
};

struct world {
	struct engine eng;
	struct engine_out out;
	struct kw_snapshot snap;
	struct docker_table table;
	struct engine_docker dv;
	uint64_t now;
	uint64_t cpu_ns;       /* per process, grows per step */
	uint64_t cpu_acc[128]; /* per process, by letter */
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
	p->ladder.step[0] = action;
	p->ladder.n = 1;
	p->mem_threshold = 20.0;
	p->cpu_threshold = 90.0;
	p->classes[1].min_alive = low_min; /* "low": everything else */
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
		if (c[i].service != NULL) {
			snprintf(dc.compose_project,
			    sizeof(dc.compose_project), "shop");
			snprintf(dc.compose_service,
			    sizeof(dc.compose_service), "%s", c[i].service);
		}
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
		w->cpu_acc[(unsigned char)c[i].letter & 127] +=
		    (uint64_t)(c[i].cpu_pct / 100.0 * 2.0 * (double)SEC /
			(c[i].nprocs ? c[i].nprocs : 1));
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
					(double)MEM_TOTAL_KB) /
			    (uint64_t)(c[i].nprocs ? c[i].nprocs : 1);
			p->cpu_ns = w->cpu_ns +
			    w->cpu_acc[(unsigned char)c[i].letter & 127];
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
	const char *name;
	enum action action;
	int connected;
	int no_client; /* no Docker client at all */
	uint32_t low_min;
	struct tctr ctrs[4];
	size_t nctrs;
	size_t want_intents;
	size_t want_deletions;
	size_t want_lookups;
	const char *want_log; /* substring of a log line, or NULL */
};

static const struct scase single[] = {
	{ "remove over memory: one intent", ACTION_REMOVE, 1, 0, 0,
	    { { 'a', "web", NULL, 50, 0, 0, NULL } }, 1, 1, 0, 0,
	    "(class low): "
	    "remove: mem 50.0% > 20.0%" },
	{ "dry-run over memory: recorded at once", ACTION_DRY_RUN, 1, 0, 0,
	    { { 'a', "web", NULL, 50, 0, 0, NULL } }, 1, 0, 1, 0, "dry-run" },
	{ "dry-run without Docker: still recorded", ACTION_DRY_RUN, 0, 1, 0,
	    { { 'a', NULL, NULL, 50, 0, 0, NULL } }, 1, 0, 1, 0, NULL },
	{ "under the thresholds: nothing", ACTION_REMOVE, 1, 0, 0,
	    { { 'a', "web", NULL, 10, 0, 0, NULL } }, 1, 0, 0, 0, NULL },
	{ "Docker unreachable: held", ACTION_REMOVE, 0, 0, 0,
	    { { 'a', "web", NULL, 50, 0, 0, NULL } }, 1, 0, 0, 0,
	    "Docker unreachable" },
	{ "no Docker client: held", ACTION_REMOVE, 0, 1, 0,
	    { { 'a', "web", NULL, 50, 0, 0, NULL } }, 1, 0, 0, 0,
	    "Docker unreachable" },
	{ "unknown to Docker: looked up, held", ACTION_REMOVE, 1, 0, 0,
	    { { 'a', NULL, NULL, 50, 0, 0, NULL } }, 1, 0, 0, 1,
	    "unknown to Docker" },
	{ "protected: skipped", ACTION_REMOVE, 1, 0, 0,
	    { { 'a', "grafana", NULL, 50, 0, 0, NULL } }, 1, 0, 0, 0,
	    "protected (matches \"grafana\")" },
	{ "class at min_alive: held", ACTION_REMOVE, 1, 0, 2,
	    { { 'a', "web", NULL, 50, 0, 0, NULL },
		{ 'b', "db", NULL, 5, 0, 0, NULL } },
	    2, 0, 0, 0, "class low at min_alive (2 alive, min 2)" },
	{ "min_alive leaves room for one of two", ACTION_STOP, 1, 0, 1,
	    { { 'a', "web", NULL, 50, 0, 0, NULL },
		{ 'b', "db", NULL, 60, 0, 0, NULL } },
	    2, 1, 0, 0, "skipped: class low at min_alive (1 alive, min 1)" },
	{ "memory summed over processes", ACTION_KILL, 1, 0, 0,
	    { { 'a', "web", NULL, 30, 6, 0, NULL } }, 1, 1, 0, 0,
	    "mem 30.0% > 20.0%" },
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
	static const struct tctr c[] = { { 'a', "web", NULL, 50, 0, 0,
	    NULL } };
	char id[KW_CID_LEN];
	struct policy p;
	struct world w;

	test_policy(&p, ACTION_REMOVE, 0);
	world_init(&w, &p);
	world_docker(&w, c, N(c));
	assert_int_equal(world_step(&w, c, N(c)), 0);
	assert_int_equal(w.out.nintents, 1);
	assert_int_equal(row(&w, 'a')->act->state, ACT_IN_FLIGHT);
	assert_string_equal(engine_row_state(row(&w, 'a'), 1, (char[64]){ 0 },
				64),
	    "remove in flight");

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
	static const struct tctr c[] = { { 'a', "web", NULL, 50, 0, 0,
	    NULL } };
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
	static const struct tctr c[] = { { 'a', "web", NULL, 50, 0, 0, NULL },
		{ 'b', "db", NULL, 50, 0, 0, NULL } };
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
	static const struct tctr c[] = { { 'a', "web", NULL, 50, 0, 0,
	    NULL } };
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
	assert_non_null(strstr(w.out.deletions[0].result,
	    "failed: still "
	    "running 3 s"));
	assert_int_equal(row(&w, 'a')->act->state, ACT_NONE);
	world_free(&w);
}

/* A stopped container that starts again is running: acted on again. */
static void
engine__stopped_then_started_again__acted_again(void **state)
{
	static const struct tctr c[] = { { 'a', "web", NULL, 50, 0, 0,
	    NULL } };
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
	static const struct tctr c[] = { { 'a', "web", NULL, 50, 0, 0,
	    NULL } };
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
	p.ladder.step[0] = ACTION_REMOVE;
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
	static const struct tctr over[] = { { 'a', "grafana", NULL, 50, 0, 0,
	    NULL } };
	static const struct tctr under[] = { { 'a', "grafana", NULL, 5, 0, 0,
	    NULL } };
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
	static const struct tctr c[] = { { 'a', "web", NULL, 1, 0, 0, NULL } };
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
	static const struct tctr c[] = { { 'a', "web", NULL, 12, 4, 0, NULL },
		{ 'b', "db", NULL, 2, 2, 0, NULL } };
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
	static const struct tctr c[] = { { 'a', "web", NULL, 50, 0, 0,
	    NULL } };
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
	static const struct tctr c[] = { { 'a', "web", NULL, 1, 0, 0, NULL },
		{ 'b', "aaaa", NULL, 1, 0, 0, NULL } };
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

/* The intent of the last step for letter, or NULL. */
static const struct engine_intent *
intent_for(const struct world *w, char letter)
{
	char id[KW_CID_LEN];
	size_t i;

	cid(letter, id);
	for (i = 0; i < w->out.nintents; i++)
		if (strcmp(w->out.intents[i].rec.container_id, id) == 0)
			return &w->out.intents[i];
	return NULL;
}

static enum policy_verdict
verdict_of(const struct world *w, char letter)
{
	const struct engine_row *r = row(w, letter);

	assert_non_null(r);
	assert_non_null(r->dec);
	return r->dec->verdict;
}

/*
 * sustain: held (sustain-pending, counted alive) until over that long;
 * the decisions table gets a row when the verdict changes, not each
 * sample.
 */
static void
engine__sustain__held_then_taken(void **state)
{
	static const struct tctr c[] = { { 'a', "web", NULL, 50, 0, 0,
	    NULL } };
	struct policy p;
	struct world w;
	int i;

	test_policy(&p, ACTION_REMOVE, 0);
	p.sustain_ms = 3000;
	world_init(&w, &p);
	world_docker(&w, c, N(c));
	for (i = 0; i < 3; i++) {
		assert_int_equal(world_step(&w, c, N(c)), 0);
		assert_int_equal(w.out.nintents, 0);
		assert_int_equal(verdict_of(&w, 'a'), POLICY_SKIP_SUSTAIN);
		assert_int_equal(w.out.ndecisions, i == 0 ? 1 : 0);
	}
	assert_string_equal(w.out.decisions[0].verdict, "sustain-pending");
	assert_non_null(strstr(row(&w, 'a')->dec->reason,
	    "sustain: over for 2.0 s of 3.0 s"));
	assert_int_equal(world_step(&w, c, N(c)), 0);
	assert_int_equal(w.out.nintents, 1);
	assert_int_equal(w.out.intents[0].action, ACTION_REMOVE);
	assert_int_equal(w.out.intents[0].rec.step, 1);
	assert_int_equal(w.out.ndecisions, 1);
	assert_string_equal(w.out.decisions[0].verdict, "taken");
	assert_string_equal(w.out.decisions[0].action, "remove");
	world_free(&w);
}

/*
 * throttle,remove: a CPU hog is capped at throttle_to (NanoCpus of the
 * whole machine), then removed escalate_after later if still over; one
 * the cap keeps under is never removed.
 */
static void
engine__throttle_then_remove__escalates_only_if_still_over(void **state)
{
	static const struct tctr hog[] = { { 'a', "web", NULL, 1, 0, 50,
					       NULL },
		{ 'b', "api", NULL, 1, 0, 50, NULL } };
	static const struct tctr capped[] = { { 'a', "web", NULL, 1, 0, 50,
						  NULL },
		{ 'b', "api", NULL, 1, 0, 5, NULL } };
	const struct engine_intent *in;
	char ida[KW_CID_LEN], idb[KW_CID_LEN];
	struct policy p;
	struct world w;
	int i, removed_at = -1;

	test_policy(&p, ACTION_THROTTLE, 0);
	p.cpu_threshold = 20.0;
	p.throttle_to = 10.0;
	p.ladder.step[1] = ACTION_REMOVE;
	p.ladder.n = 2;
	p.escalate_after_ms = 30000;
	world_init(&w, &p);
	world_docker(&w, hog, N(hog));
	cid('a', ida);
	cid('b', idb);
	assert_int_equal(world_step(&w, hog, N(hog)), 0);
	assert_int_equal(world_step(&w, hog, N(hog)), 0);
	assert_int_equal(w.out.nintents, 2);
	assert_non_null(in = intent_for(&w, 'a'));
	assert_int_equal(in->action, ACTION_THROTTLE);
	assert_int_equal(in->nano_cpus, 200000000ULL); /* 10% of 2 */
	assert_string_equal(in->rec.action, "throttle");
	assert_int_equal(in->rec.step, 1);
	assert_int_equal(in->rec.strikes, 0);
	assert_non_null(strstr(in->rec.reason, "cap at 10.0%"));
	engine_action_done(&w.eng, ida, DOCKER_ACT_OK, "ok", w.now);
	engine_action_done(&w.eng, idb, DOCKER_ACT_OK, "ok", w.now);
	assert_true(row(&w, 'a')->act->throttled);

	for (i = 0; i < 60; i++) {
		assert_int_equal(world_step(&w, capped, N(capped)), 0);
		assert_null(intent_for(&w, 'b'));
		if ((in = intent_for(&w, 'a')) != NULL) {
			assert_int_equal(in->action, ACTION_REMOVE);
			assert_int_equal(in->rec.step, 2);
			removed_at = i;
			break;
		}
		assert_int_equal(verdict_of(&w, 'a'), POLICY_SKIP_ESCALATE);
	}
	/* 30 s after the cap: the 29th or 30th sample after it. */
	assert_true(removed_at >= 28 && removed_at <= 30);
	for (i = 0; i < 60; i++) {
		assert_int_equal(world_step(&w, capped, N(capped)), 0);
		assert_null(intent_for(&w, 'b'));
	}
	assert_null(row(&w, 'b')->dec);
	world_free(&w);
}

/* Over in memory: a cap frees none, so the ladder starts past throttle. */
static void
engine__memory_over__skips_throttle(void **state)
{
	static const struct tctr c[] = { { 'a', "web", NULL, 50, 0, 0,
	    NULL } };
	struct policy p;
	struct world w;

	test_policy(&p, ACTION_THROTTLE, 0);
	p.ladder.step[1] = ACTION_REMOVE;
	p.ladder.n = 2;
	world_init(&w, &p);
	world_docker(&w, c, N(c));
	assert_int_equal(world_step(&w, c, N(c)), 0);
	assert_int_equal(w.out.nintents, 1);
	assert_int_equal(w.out.intents[0].action, ACTION_REMOVE);
	assert_int_equal(w.out.intents[0].rec.step, 2);

	/* A class that is only throttled: nothing to do for memory. */
	test_policy(&p, ACTION_REMOVE, 0);
	assert_int_equal(ladder_parse("throttle", &p.classes[1].ladder, "x",
			     NULL, 0),
	    0);
	p.classes[1].has_ladder = 1;
	world_free(&w);
	world_init(&w, &p);
	world_docker(&w, c, N(c));
	assert_int_equal(world_step(&w, c, N(c)), 0);
	assert_int_equal(w.out.nintents, 0);
	assert_int_equal(verdict_of(&w, 'a'), POLICY_SKIP_LADDER_END);
	world_free(&w);
}

/* One step of a world whose only container is c (the others are gone). */
static void
only(struct world *w, const struct tctr *c)
{
	world_docker(w, c, 1);
	assert_int_equal(world_step(w, c, 1), 0);
}

/*
 * A compose service recreated after each removal: quarantine_after
 * removals, then its next container is quarantined (not removed), then
 * nothing more until released.
 */
static void
engine__respawning_service__quarantined_after_strikes(void **state)
{
	static const struct tctr gen[] = {
		{ 'a', "shop-web-1", NULL, 50, 0, 0, "web" },
		{ 'b', "shop-web-1", NULL, 50, 0, 0, "web" },
		{ 'c', "shop-web-3", NULL, 1, 0, 0, "web" },
		{ 'd', "shop-web-2", NULL, 50, 0, 0, "web" },
	};
	const struct engine_intent *in;
	char id[KW_CID_LEN], msg[256];
	struct engine_intent cap;
	struct policy p;
	struct world w;
	int i, has_cap;

	test_policy(&p, ACTION_REMOVE, 0);
	p.quarantine_after = 2;
	p.quarantine_window_ms = 3600000;
	world_init(&w, &p);
	for (i = 0; i < 2; i++) {
		only(&w, &gen[i]);
		assert_non_null(in = intent_for(&w, gen[i].letter));
		assert_int_equal(in->action, ACTION_REMOVE);
		assert_string_equal(in->rec.identity, "compose:shop/web");
		assert_int_equal(in->rec.strikes, i + 1);
		assert_true(w.out.strikes_changed);
		cid(gen[i].letter, id);
		engine_action_done(&w.eng, id, DOCKER_ACT_OK, "ok", w.now);
	}
	assert_true(logged(&w.out, "compose:shop/web: quarantined after 2"));
	assert_true(
	    strikes_find(&w.eng.strikes, "compose:shop/web")->quarantined);

	/* Under the thresholds, still quarantined: stop + restart "no". */
	only(&w, &gen[2]);
	assert_non_null(in = intent_for(&w, 'c'));
	assert_int_equal(in->action, ACTION_QUARANTINE);
	assert_string_equal(in->rec.action, "quarantine");
	assert_int_equal(w.eng.quarantines, 1);
	cid('c', id);
	assert_string_equal(strikes_find(&w.eng.strikes, "compose:shop/web")
				->applied_id,
	    id);
	/* Found by the quarantined container's name once it is gone. */
	assert_ptr_equal(strikes_lookup(&w.eng.strikes, "shop-web-3"),
	    strikes_find(&w.eng.strikes, "compose:shop/web"));
	engine_action_done(&w.eng, id, DOCKER_ACT_OK, "ok", w.now);
	assert_string_equal(row(&w, 'c')->act->state == ACT_DONE ? "done" :
								   "not",
	    "done");

	/* Its identity is left alone from now on. */
	for (i = 0; i < 3; i++) {
		only(&w, &gen[3]);
		assert_int_equal(w.out.nintents, 0);
		assert_int_equal(verdict_of(&w, 'd'), POLICY_SKIP_QUARANTINED);
	}
	assert_int_equal(engine_release(&w.eng, "compose:shop/web", w.now,
			     &cap, &has_cap, msg, sizeof(msg)),
	    0);
	assert_false(has_cap);
	assert_non_null(strstr(msg, "quarantine of compose:shop/web lifted"));
	assert_null(strikes_find(&w.eng.strikes, "compose:shop/web"));
	only(&w, &gen[3]);
	assert_non_null(in = intent_for(&w, 'd'));
	assert_int_equal(in->action, ACTION_REMOVE);
	assert_int_equal(in->rec.strikes, 1);
	world_free(&w);
}

/* release lifts a cap: an update to the whole machine; nothing: an error. */
static void
engine__release__lifts_a_cap(void **state)
{
	static const struct tctr c[] = { { 'a', "web", NULL, 1, 0, 50,
	    NULL } };
	struct engine_intent cap;
	char id[KW_CID_LEN], msg[256];
	struct policy p;
	struct world w;
	int has_cap, i;

	test_policy(&p, ACTION_THROTTLE, 0);
	p.cpu_threshold = 20.0;
	world_init(&w, &p);
	world_docker(&w, c, N(c));
	cid('a', id);
	assert_int_equal(engine_release(&w.eng, "web", w.now, &cap, &has_cap,
			     msg, sizeof(msg)),
	    -1);
	assert_int_equal(world_step(&w, c, N(c)), 0);
	assert_int_equal(engine_release(&w.eng, "web", w.now, &cap, &has_cap,
			     msg, sizeof(msg)),
	    -1);
	assert_string_equal(msg, "not capped and not quarantined");
	assert_int_equal(world_step(&w, c, N(c)), 0);
	assert_int_equal(w.out.nintents, 1);
	assert_int_equal(w.out.intents[0].nano_cpus, 400000000ULL);
	engine_action_done(&w.eng, id, DOCKER_ACT_OK, "ok", w.now);
	assert_int_equal(world_step(&w, c, N(c)), 0);
	assert_int_equal(verdict_of(&w, 'a'), POLICY_SKIP_LADDER_END);
	assert_int_equal(engine_release(&w.eng, "web", w.now, &cap, &has_cap,
			     msg, sizeof(msg)),
	    0);
	assert_true(has_cap);
	assert_int_equal(cap.action, ACTION_RELEASE);
	assert_int_equal(cap.nano_cpus, 2000000000ULL);
	assert_string_equal(cap.rec.action, "release");
	engine_action_done(&w.eng, id, DOCKER_ACT_OK, "ok", w.now);
	assert_false(row(&w, 'a')->act->throttled);
	/* Left alone escalate_after, then capped again if still over. */
	assert_int_equal(world_step(&w, c, N(c)), 0);
	assert_int_equal(w.out.nintents, 0);
	assert_non_null(strstr(row(&w, 'a')->dec->reason,
	    "released on "
	    "decider.ctl"));
	for (i = 0; i < 40 && w.out.nintents == 0; i++)
		assert_int_equal(world_step(&w, c, N(c)), 0);
	/* escalate_after (30 s) after the release, not before. */
	assert_true(i >= 28 && i <= 31);
	assert_int_equal(w.out.nintents, 1);
	assert_int_equal(w.out.intents[0].action, ACTION_THROTTLE);
	assert_int_equal(engine_release(&w.eng, "nosuch", w.now, &cap,
			     &has_cap, msg, sizeof(msg)),
	    -1);
	world_free(&w);
}

/*
 * The replay's ground: the container records one engine publishes, fed
 * to a second engine (engine_step_recs), give the same intents, records
 * and decisions, sample by sample, through sustain, the ladder, a
 * container unknown to Docker, min_alive, strikes and a quarantine. Each
 * call succeeds at once in both; a container removed, stopped or
 * quarantined leaves the samples.
 */
static void
engine__recorded_rows__replayed_the_same(void **state)
{
	static const struct tctr all[] = {
		{ 'a', "web", NULL, 1, 0, 95, NULL },
		{ 'b', "shop-db-1", NULL, 50, 0, 0, "db" },
		{ 'c', NULL, NULL, 50, 0, 0, NULL },
		{ 'd', "idle", NULL, 1, 0, 0, NULL },
		{ 'e', "shop-db-2", NULL, 50, 0, 0, "db" },
		{ 'f', "shop-db-3", NULL, 1, 0, 0, "db" },
	};
	static const int from[] = { 0, 0, 0, 0, 8, 14 };
	struct kw_container_rec recs[N(all)];
	const struct engine_intent *ia, *ib;
	struct tctr cur[N(all)];
	struct engine_out ob;
	struct engine b;
	struct policy p;
	struct world w;
	int gone[N(all)] = { 0 }, seen[ACTION_RELEASE + 1] = { 0 };
	size_t i, k, n;
	int s;

	(void)state;
	test_policy(&p, ACTION_THROTTLE, 1);
	p.ladder.step[1] = ACTION_REMOVE;
	p.ladder.n = 2;
	p.sustain_ms = 2000;
	p.escalate_after_ms = 3000;
	p.quarantine_after = 2;
	p.quarantine_window_ms = 3600000;
	world_init(&w, &p);
	engine_init(&b, &p, 60 * SEC, 0);
	engine_out_init(&ob);
	for (s = 0; s < 24; s++) {
		for (i = n = 0; i < N(all); i++)
			if (s >= from[i] && !gone[i])
				cur[n++] = all[i];
		world_docker(&w, cur, n);
		assert_int_equal(world_step(&w, cur, n), 0);
		assert_true(w.out.ncontainers <= N(recs));
		memcpy(recs, w.out.containers,
		    w.out.ncontainers * sizeof(*recs));
		assert_int_equal(engine_step_recs(&b, recs, w.out.ncontainers,
				     w.dv.connected, w.snap.ts_ns, w.now, &ob),
		    0);
		assert_int_equal(ob.nintents, w.out.nintents);
		assert_int_equal(ob.ndeletions, w.out.ndeletions);
		assert_int_equal(ob.ndecisions, w.out.ndecisions);
		assert_int_equal(ob.ncontainers, w.out.ncontainers);
		for (k = 0; k < ob.ncontainers; k++)
			assert_string_equal(ob.containers[k].class_name,
			    w.out.containers[k].class_name);
		for (k = 0; k < ob.ndecisions; k++) {
			assert_string_equal(ob.decisions[k].container_id,
			    w.out.decisions[k].container_id);
			assert_string_equal(ob.decisions[k].verdict,
			    w.out.decisions[k].verdict);
			assert_string_equal(ob.decisions[k].reason,
			    w.out.decisions[k].reason);
		}
		for (k = 0; k < w.out.nintents; k++) {
			ia = &w.out.intents[k];
			ib = &ob.intents[k];
			assert_int_equal(ib->action, ia->action);
			assert_string_equal(ib->rec.container_id,
			    ia->rec.container_id);
			assert_int_equal(ib->rec.step, ia->rec.step);
			assert_int_equal(ib->rec.strikes, ia->rec.strikes);
			assert_string_equal(ib->rec.identity,
			    ia->rec.identity);
			assert_string_equal(ib->rec.reason, ia->rec.reason);
			seen[ia->action]++;
			engine_action_done(&w.eng, ia->rec.container_id,
			    DOCKER_ACT_OK, "ok", w.now);
			engine_action_done(&b, ib->rec.container_id,
			    DOCKER_ACT_OK, "ok", w.now);
			if (ia->action == ACTION_THROTTLE)
				continue;
			for (i = 0; i < N(all); i++)
				if ((char)ia->rec.container_id[0] ==
				    all[i].letter)
					gone[i] = 1;
		}
	}
	/* It went through every kind of step on the way. */
	assert_int_equal(seen[ACTION_THROTTLE], 1);   /* web */
	assert_int_equal(seen[ACTION_REMOVE], 3);     /* web, db-1, db-2 */
	assert_int_equal(seen[ACTION_QUARANTINE], 1); /* db-3 */
	assert_true(gone[0] && gone[1] && !gone[2] && !gone[3]);
	engine_free(&b);
	engine_out_free(&ob);
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
		cmocka_unit_test(engine__sustain__held_then_taken),
		cmocka_unit_test(
		    engine__throttle_then_remove__escalates_only_if_still_over),
		cmocka_unit_test(engine__memory_over__skips_throttle),
		cmocka_unit_test(
		    engine__respawning_service__quarantined_after_strikes),
		cmocka_unit_test(engine__release__lifts_a_cap),
		cmocka_unit_test(engine__recorded_rows__replayed_the_same),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
