/*
 * policy.c: classes and decisions from tables of containers. Each case
 * lists the containers, the class each must get and the decisions in
 * order with their verdict and a piece of their reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../../decider/decider.h"

#define MAXC 16

struct cont {
	const char *name;
	const char *image;
	const char *label;
	double cpu_pct;
	double mem_pct;
	int acted;
	const char *want_class;
};

struct dec {
	const char *name; /* container name */
	enum policy_verdict verdict;
	const char *reason_has; /* substring of the reason */
};

struct pcase {
	const char *name;
	const struct cont *conts;
	size_t nconts;
	const struct dec *decs;
	size_t ndecs;
};

#define N(a) (sizeof(a) / sizeof((a)[0]))
/* A row of the table, not a block (not clang-formatted): */
/* clang-format off */
#define CASE(n, c, d)	{ n, c, N(c), d, N(d) }
/* clang-format on */

static void
run_case(const struct policy *p, const struct pcase *pc)
{
	struct policy_cand cand[MAXC];
	struct policy_decision dec[MAXC];
	size_t class_of[MAXC], i, taken = 0;
	struct policy_result res;
	const struct policy_decision *d;

	assert_true(pc->nconts <= MAXC);
	memset(cand, 0, sizeof(cand));
	for (i = 0; i < pc->nconts; i++) {
		cand[i].container_id = pc->conts[i].name;
		cand[i].name = pc->conts[i].name;
		cand[i].image = pc->conts[i].image ? pc->conts[i].image : "";
		cand[i].label_class =
		    pc->conts[i].label ? pc->conts[i].label : "";
		cand[i].cpu_pct = pc->conts[i].cpu_pct;
		cand[i].mem_pct = pc->conts[i].mem_pct;
		cand[i].acted = pc->conts[i].acted;
	}
	memset(&res, 0, sizeof(res));
	res.class_of = class_of;
	res.dec = dec;
	policy_decide(p, cand, pc->nconts, &res);

	for (i = 0; i < pc->nconts; i++)
		if (pc->conts[i].want_class != NULL &&
		    strcmp(policy_class_name(p, class_of[i]),
			pc->conts[i].want_class) != 0)
			fail_msg("%s: %s: class %s, want %s", pc->name,
			    pc->conts[i].name,
			    policy_class_name(p, class_of[i]),
			    pc->conts[i].want_class);
	if (res.ndec != pc->ndecs)
		fail_msg("%s: %zu decisions, want %zu", pc->name, res.ndec,
		    pc->ndecs);
	for (i = 0; i < pc->ndecs; i++) {
		d = &dec[i];
		if (strcmp(cand[d->cand].name, pc->decs[i].name) != 0 ||
		    d->verdict != pc->decs[i].verdict ||
		    strstr(d->reason, pc->decs[i].reason_has) == NULL)
			fail_msg("%s: decision %zu: %s %s \"%s\", want %s %s "
				 "\"%s\"",
			    pc->name, i, cand[d->cand].name,
			    policy_verdict_name(d->verdict), d->reason,
			    pc->decs[i].name,
			    policy_verdict_name(pc->decs[i].verdict),
			    pc->decs[i].reason_has);
		if (d->verdict == POLICY_TAKEN) {
			taken++;
			/* A taken decision's reason is its figures. */
			assert_string_equal(d->reason, d->over);
		}
	}
	assert_int_equal(res.taken, taken);
	assert_int_equal(res.skipped, res.ndec - taken);
}

static void
add_class(struct policy *p, const char *name, const char *m1, const char *m2,
    uint32_t min_alive)
{
	struct policy_class *c = &p->classes[p->nclasses++];

	snprintf(c->name, sizeof(c->name), "%s", name);
	if (m1 != NULL)
		snprintf(c->match[c->nmatch++], POLICY_PATTERN_LEN, "%s", m1);
	if (m2 != NULL)
		snprintf(c->match[c->nmatch++], POLICY_PATTERN_LEN, "%s", m2);
	c->wildcard =
	    (m1 && strcmp(m1, "*") == 0) || (m2 && strcmp(m2, "*") == 0);
	c->min_alive = min_alive;
}

#define T      POLICY_TAKEN
#define S_ACT  POLICY_SKIP_ACTED
#define S_PROT POLICY_SKIP_PROTECTED
#define S_NONE POLICY_SKIP_NO_CLASS
#define S_MIN  POLICY_SKIP_MIN_ALIVE

/*
 * The seed's demo: five hogs, four "high" and Grafana, three idle "low".
 * High keeps 2 alive: exactly two high hogs go, Grafana is protected.
 */
static const struct cont seed_conts[] = {
	{ "high-cpu-1", "so1/high-cpu", NULL, 30.0, 1.0, 0, "high" },
	{ "high-cpu-2", "so1/high-cpu", NULL, 40.0, 1.0, 0, "high" },
	{ "high-mem-1", "so1/high-mem", NULL, 2.0, 50.0, 0, "high" },
	{ "high-cpu-3", "so1/high-cpu", NULL, 60.0, 1.0, 0, "high" },
	{ "grafana", "grafana/grafana:10", NULL, 90.0, 5.0, 0, "low" },
	{ "low-1", "so1/low", NULL, 0.0, 0.1, 0, "low" },
	{ "low-2", "so1/low", NULL, 0.0, 0.1, 0, "low" },
	{ "low-3", "so1/low", NULL, 0.0, 0.1, 0, "low" },
};
static const struct dec seed_decs[] = {
	{ "grafana", S_PROT, "protected (matches \"grafana\")" },
	{ "high-cpu-3", T, "cpu 60.0% > 20.0%" },
	{ "high-mem-1", T, "mem 50.0% > 20.0%" },
	{ "high-cpu-2", S_MIN, "class high at min_alive (2 alive, min 2)" },
	{ "high-cpu-1", S_MIN, "class high at min_alive" },
};

static void
policy__seed_defaults__two_high_taken_grafana_protected(void **state)
{
	static const struct pcase pc = CASE("seed", seed_conts, seed_decs);
	struct policy p;
	char err[128];

	policy_defaults(&p);
	assert_int_equal(policy_check(&p, err, sizeof(err)), 0);
	assert_float_equal(p.cpu_threshold, 20.0, 0);
	assert_float_equal(p.mem_threshold, 20.0, 0);
	assert_int_equal(p.window_ms, 5000);
	run_case(&p, &pc);
}

/* min_alive is counted per class. */
static const struct cont min_conts[] = {
	{ "low-a", "", NULL, 30.0, 0.0, 0, "low" },
	{ "low-b", "", NULL, 31.0, 0.0, 0, "low" },
	{ "low-c", "", NULL, 32.0, 0.0, 0, "low" },
	{ "low-d", "", NULL, 33.0, 0.0, 0, "low" },
	{ "high-a", "", NULL, 50.0, 0.0, 0, "high" },
	{ "high-b", "", NULL, 0.0, 0.0, 0, "high" },
	{ "high-c", "", NULL, 0.0, 0.0, 0, "high" },
};
static const struct dec min_decs[] = {
	{ "high-a", T, "cpu 50.0%" },
	{ "low-d", T, "cpu 33.0%" },
	{ "low-c", S_MIN, "class low at min_alive (3 alive, min 3)" },
	{ "low-b", S_MIN, "class low" },
	{ "low-a", S_MIN, "class low" },
};

static void
policy__class_at_min_alive__not_chosen(void **state)
{
	static const struct pcase pc = CASE("min", min_conts, min_decs);
	struct policy p;

	policy_defaults(&p);
	run_case(&p, &pc);
}

/* Protected by name or image, any case; plenty alive does not matter. */
static const struct cont prot_conts[] = {
	{ "dash", "GRAFANA/grafana", NULL, 99.0, 0.0, 0, "x" },
	{ "KWarden-tap", "busybox", NULL, 0.0, 90.0, 0, "x" },
	{ "hog", "busybox", NULL, 21.0, 0.0, 0, "x" },
	{ "idle", "busybox", NULL, 1.0, 0.0, 0, "x" },
};
static const struct dec prot_decs[] = {
	{ "dash", S_PROT, "\"grafana\"" },
	{ "KWarden-tap", S_PROT, "\"kwarden\"" },
	{ "hog", T, "cpu 21.0% > 20.0%" },
};

static void
policy__protected__never_chosen(void **state)
{
	static const struct pcase pc = CASE("prot", prot_conts, prot_decs);
	struct policy p;

	policy_defaults(&p);
	p.nclasses = 0;
	add_class(&p, "x", "*", NULL, 0);
	run_case(&p, &pc);
}

/* Largest excess first, CPU and memory compared on points over. */
static const struct cont order_conts[] = {
	{ "a", "", NULL, 50.0, 0.0, 0, "any" },	 /* +30 cpu */
	{ "b", "", NULL, 0.0, 45.0, 0, "any" },	 /* +35 mem (thr 10) */
	{ "c", "", NULL, 25.0, 60.0, 0, "any" }, /* +50 mem */
	{ "d", "", NULL, 20.0, 10.0, 0, "any" }, /* at, not over */
	{ "e", "", NULL, 30.0, 0.0, 0, "any" },	 /* +10, tie with f */
	{ "f", "", NULL, 0.0, 20.0, 0, "any" },	 /* +10 */
};
static const struct dec order_decs[] = {
	{ "c", T, "mem 60.0% > 10.0%, cpu 25.0% > 20.0%" },
	{ "b", T, "mem 45.0% > 10.0%" },
	{ "a", T, "cpu 50.0% > 20.0%" },
	{ "e", T, "cpu 30.0% > 20.0%" },
	{ "f", T, "mem 20.0% > 10.0%" },
};

static void
policy__order__largest_excess_first(void **state)
{
	static const struct pcase pc = CASE("order", order_conts, order_decs);
	struct policy p;

	policy_defaults(&p);
	p.mem_threshold = 10.0;
	p.nclasses = 0;
	add_class(&p, "any", "*", NULL, 0);
	run_case(&p, &pc);
}

/* A label naming a known class wins; an unknown label is ignored. */
static const struct cont label_conts[] = {
	{ "high-cpu", "", "low", 0.0, 0.0, 0, "low" },
	{ "plain", "", "HIGH", 0.0, 0.0, 0, "high" },
	{ "mem-hog", "", "bogus", 0.0, 0.0, 0, "high" },
	{ "web", "nginx", "", 0.0, 0.0, 0, "low" },
	{ "x", "registry/CPU-burner", "", 0.0, 0.0, 0, "high" },
};
static const struct dec label_decs[0];

static void
policy__label__overrides_match(void **state)
{
	static const struct pcase pc = CASE("label", label_conts, label_decs);
	struct policy p;

	policy_defaults(&p);
	run_case(&p, &pc);
}

/*
 * Already acted on: skipped, and no longer counted alive (so the round
 * does what real removal would have done).
 */
static const struct cont acted_conts[] = {
	{ "high-1", "", NULL, 90.0, 0.0, 1, "high" },
	{ "high-2", "", NULL, 50.0, 0.0, 0, "high" },
	{ "high-3", "", NULL, 0.0, 0.0, 0, "high" },
};
static const struct dec acted_decs[] = {
	{ "high-1", S_ACT, "already being acted on" },
	{ "high-2", S_MIN, "class high at min_alive (2 alive, min 2)" },
};

static void
policy__already_acted__not_chosen_twice(void **state)
{
	static const struct pcase pc = CASE("acted", acted_conts, acted_decs);
	struct policy p;
	struct policy_cand cand[3];
	struct policy_decision dec[3];
	size_t class_of[3], i;
	struct policy_result res;

	policy_defaults(&p);
	run_case(&p, &pc);

	/*
	 * Round 1 (min_alive 1) takes high-1 and high-2; in round 2, with
	 * both flagged as acted on, neither is taken again.
	 */
	memset(cand, 0, sizeof(cand));
	for (i = 0; i < 3; i++) {
		cand[i].container_id = acted_conts[i].name;
		cand[i].name = acted_conts[i].name;
		cand[i].image = "";
		cand[i].label_class = "";
		cand[i].cpu_pct = acted_conts[i].cpu_pct;
		cand[i].mem_pct = 0.0;
		cand[i].acted = 0;
	}
	res.class_of = class_of;
	res.dec = dec;
	p.classes[0].min_alive = 1;
	policy_decide(&p, cand, 3, &res);
	assert_int_equal(res.taken, 2);
	assert_int_equal(res.alive[0], 3);
	for (i = 0; i < res.ndec; i++)
		if (dec[i].verdict == POLICY_TAKEN)
			cand[dec[i].cand].acted = 1;
	policy_decide(&p, cand, 3, &res);
	assert_int_equal(res.ndec, 2);
	assert_int_equal(res.taken, 0);
	assert_int_equal(res.skipped, 2);
	assert_int_equal(dec[0].verdict, POLICY_SKIP_ACTED);
	assert_int_equal(dec[1].verdict, POLICY_SKIP_ACTED);
	assert_int_equal(res.running[0], 3);
	assert_int_equal(res.alive[0], 1);
}

/*
 * A held candidate (unknown to Docker, say) is skipped with the hold's
 * text and still counts alive, so another of its class is taken.
 */
static void
policy__held__skipped_with_reason_and_counted_alive(void **state)
{
	struct policy p;
	struct policy_cand cand[3];
	struct policy_decision dec[3];
	size_t class_of[3];
	struct policy_result res;
	static const char *const names[] = { "high-1", "high-2", "high-3" };
	size_t i;

	policy_defaults(&p);
	memset(cand, 0, sizeof(cand));
	for (i = 0; i < 3; i++) {
		cand[i].container_id = names[i];
		cand[i].name = names[i];
		cand[i].image = "";
		cand[i].label_class = "";
	}
	cand[0].cpu_pct = 90.0;
	cand[0].hold = "unknown to Docker";
	cand[1].cpu_pct = 50.0;
	memset(&res, 0, sizeof(res));
	res.class_of = class_of;
	res.dec = dec;
	policy_decide(&p, cand, 3, &res);
	assert_int_equal(res.ndec, 2);
	assert_int_equal(dec[0].cand, 0);
	assert_int_equal(dec[0].verdict, POLICY_SKIP_HOLD);
	assert_string_equal(dec[0].reason, "unknown to Docker");
	assert_string_equal(policy_verdict_name(dec[0].verdict), "held");
	assert_int_equal(dec[1].cand, 1);
	assert_int_equal(dec[1].verdict, POLICY_TAKEN);
	assert_int_equal(res.alive[0], 3);

	/* Just over: two decimals, never "20.0% > 20.0%". */
	cand[0].hold = NULL;
	cand[0].cpu_pct = 20.04;
	cand[1].cpu_pct = 0.0;
	p.cpu_threshold = 20.0;
	policy_decide(&p, cand, 3, &res);
	assert_int_equal(res.ndec, 1);
	assert_string_equal(dec[0].reason, "cpu 20.04% > 20.00%");
	cand[0].hold = "unknown to Docker";
	cand[0].cpu_pct = 90.0;

	/* Protected wins over held: the reason a person needs first. */
	cand[0].name = "grafana-high";
	policy_decide(&p, cand, 3, &res);
	assert_int_equal(dec[0].verdict, POLICY_SKIP_PROTECTED);
}

/*
 * A container Docker has not named (empty name, cand.unknown) is in class
 * none: it does not inflate the "*" class's alive count, so min_alive is
 * judged on the three low ones Docker knows, and it is held itself.
 */
static void
policy__unknown_to_docker__class_none_not_counted_alive(void **state)
{
	struct policy p;
	struct policy_cand cand[4];
	struct policy_decision dec[4];
	size_t class_of[4];
	struct policy_result res;
	static const char *const names[] = { "low-1", "low-2", "low-3", "" };
	size_t i;

	policy_defaults(&p); /* low: "*", min_alive 3 */
	memset(cand, 0, sizeof(cand));
	for (i = 0; i < 4; i++) {
		cand[i].container_id = names[i];
		cand[i].name = names[i];
		cand[i].image = "";
		cand[i].label_class = "";
	}
	cand[0].cpu_pct = 90.0;
	cand[3].cpu_pct = 95.0;
	cand[3].unknown = 1;
	cand[3].hold = "unknown to Docker";
	memset(&res, 0, sizeof(res));
	res.class_of = class_of;
	res.dec = dec;
	policy_decide(&p, cand, 4, &res);
	assert_string_equal(policy_class_name(&p, class_of[3]), "none");
	assert_string_equal(policy_class_name(&p, class_of[0]), "low");
	assert_int_equal(res.alive[1], 3);
	assert_int_equal(res.running[1], 3);
	assert_int_equal(res.ndec, 2);
	assert_int_equal(dec[0].cand, 3);
	assert_int_equal(dec[0].verdict, POLICY_SKIP_HOLD);
	assert_string_equal(dec[0].reason, "unknown to Docker");
	assert_int_equal(dec[1].cand, 0);
	assert_int_equal(dec[1].verdict, POLICY_SKIP_MIN_ALIVE);
	assert_int_equal(res.taken, 0);

	/* With no hold given, it still says why. */
	cand[3].hold = NULL;
	policy_decide(&p, cand, 4, &res);
	assert_int_equal(dec[0].verdict, POLICY_SKIP_HOLD);
	assert_string_equal(dec[0].reason, "unknown to Docker");
}

/* Nothing over a threshold: no decisions at all. */
static const struct cont quiet_conts[] = {
	{ "high-1", "", NULL, 20.0, 20.0, 0, "high" },
	{ "low-1", "", NULL, 19.9, 0.0, 0, "low" },
	{ "grafana", "", NULL, 0.0, 0.0, 0, "low" },
};
static const struct dec quiet_decs[0];

static void
policy__nothing_over_threshold__no_decisions(void **state)
{
	static const struct pcase pc = CASE("quiet", quiet_conts, quiet_decs);
	struct policy p;

	policy_defaults(&p);
	run_case(&p, &pc);
}

/* Every class at its minimum: every hog skipped, each with its reason. */
static const struct cont allmin_conts[] = {
	{ "high-1", "", NULL, 40.0, 0.0, 0, "high" },
	{ "high-2", "", NULL, 0.0, 30.0, 0, "high" },
	{ "low-1", "", NULL, 90.0, 0.0, 0, "low" },
	{ "low-2", "", NULL, 0.0, 0.0, 0, "low" },
	{ "low-3", "", NULL, 0.0, 0.0, 0, "low" },
};
static const struct dec allmin_decs[] = {
	{ "low-1", S_MIN, "class low at min_alive (3 alive, min 3)" },
	{ "high-1", S_MIN, "class high at min_alive (2 alive, min 2)" },
	{ "high-2", S_MIN, "class high at min_alive (2 alive, min 2)" },
};

static void
policy__all_classes_at_min__all_skipped_with_reasons(void **state)
{
	static const struct pcase pc =
	    CASE("allmin", allmin_conts, allmin_decs);
	struct policy p;

	policy_defaults(&p);
	run_case(&p, &pc);
}

/* Without a "*" class, an unmatched container is class none: never acted. */
static const struct cont none_conts[] = {
	{ "web", "nginx", NULL, 80.0, 0.0, 0, "none" },
	{ "db", "postgres", NULL, 70.0, 0.0, 0, "db" },
};
static const struct dec none_decs[] = {
	{ "web", S_NONE, "no class" },
	{ "db", T, "cpu 70.0% > 20.0%" },
};

static void
policy__no_matching_class__class_none_never_acted(void **state)
{
	static const struct pcase pc = CASE("none", none_conts, none_decs);
	struct policy p;

	policy_defaults(&p);
	p.nclasses = 0;
	add_class(&p, "db", "postgres", "mysql", 0);
	run_case(&p, &pc);
}

/* "*" classes are tried last, whatever their place; the last "*" is the
 * fallback. */
static const struct cont wild_conts[] = {
	{ "batch-job", "", NULL, 0.0, 0.0, 0, "batch" },
	{ "web", "", NULL, 0.0, 0.0, 0, "rest" },
	{ "cpu-hog", "", NULL, 0.0, 0.0, 0, "high" },
	{ "WEB-CPU", "", NULL, 0.0, 0.0, 0, "high" },
};
static const struct dec wild_decs[0];

static void
policy__wildcard_classes__tried_last(void **state)
{
	static const struct pcase pc = CASE("wild", wild_conts, wild_decs);
	struct policy p;

	policy_defaults(&p);
	p.nclasses = 0;
	add_class(&p, "batch", "*", "batch", 0);
	add_class(&p, "high", "cpu", NULL, 0);
	add_class(&p, "rest", "*", NULL, 0);
	run_case(&p, &pc);
}

/* No containers at all (only host processes): nothing to decide. */
/* Small figures keep their digits: no reason reads "0.0% > 0.0%". */
static const struct cont small_conts[] = {
	{ "tiny", "busybox", NULL, 0.0, 0.0153, 0, "x" },
};
static const struct dec small_decs[] = {
	{ "tiny", T, "mem 0.0153% > 0.001%" },
};

static void
policy__small_figures__reason_keeps_digits(void **state)
{
	static const struct pcase pc = CASE("small", small_conts, small_decs);
	struct policy p;

	(void)state;
	policy_defaults(&p);
	p.nclasses = 0;
	p.mem_threshold = 0.001;
	add_class(&p, "x", "*", NULL, 0);
	run_case(&p, &pc);
}

static void
policy__no_containers__no_decisions(void **state)
{
	struct policy p;
	struct policy_result res;

	policy_defaults(&p);
	memset(&res, 0, sizeof(res));
	res.taken = res.skipped = res.ndec = 7;
	policy_decide(&p, NULL, 0, &res);
	assert_int_equal(res.ndec, 0);
	assert_int_equal(res.taken, 0);
	assert_int_equal(res.skipped, 0);
	assert_int_equal(res.alive[0], 0);
}

/* Every action has a name that parses back to it; others do not parse. */
static void
action__names__round_trip(void **state)
{
	static const enum action all[] = { ACTION_REMOVE, ACTION_STOP,
		ACTION_KILL, ACTION_DRY_RUN, ACTION_THROTTLE };
	enum action a;
	size_t i;

	for (i = 0; i < N(all); i++) {
		assert_non_null(action_name(all[i]));
		assert_int_equal(action_parse(action_name(all[i]), &a), 0);
		assert_int_equal(a, all[i]);
	}
	assert_int_equal(action_parse("nuke", &a), -1);
	assert_int_equal(action_parse("", &a), -1);
	assert_int_equal(action_parse("Remove", &a), -1);
	assert_null(action_name((enum action)99));
	/* The decider's own actions are named, never asked for. */
	assert_string_equal(action_name(ACTION_QUARANTINE), "quarantine");
	assert_int_equal(action_parse("quarantine", &a), -1);
	assert_int_equal(action_parse("release", &a), -1);
}

/* policy_check rejects what the policy cannot mean. */
static void
policy__check__rejects_bad_policy(void **state)
{
	static const struct {
		double cpu, mem;
		uint64_t window_ms;
		const char *action;
		const char *class2;
		const char *err_has;
	} rows[] = {
		{ 20, 20, 5000, "remove", NULL, NULL },
		{ 20, 20, 5000, "dry-run", NULL, NULL },
		{ -1, 20, 5000, "remove", NULL, "cpu_threshold" },
		{ 20, 101, 5000, "remove", NULL, "mem_threshold" },
		{ 20, 20, 0, "remove", NULL, "window" },
		{ 20, 20, 5000, "nuke", NULL, "not an action" },
		{ 20, 20, 5000, "kill", "none", "reserved" },
		{ 20, 20, 5000, "stop", "HIGH", "defined twice" },
	};
	struct policy p;
	char err[160];
	size_t i;
	int rc;

	for (i = 0; i < N(rows); i++) {
		policy_defaults(&p);
		p.cpu_threshold = rows[i].cpu;
		p.mem_threshold = rows[i].mem;
		p.window_ms = rows[i].window_ms;
		if (action_parse(rows[i].action, &p.action) == -1)
			p.action = (enum action)99;
		if (rows[i].class2 != NULL)
			add_class(&p, rows[i].class2, "x", NULL, 1);
		err[0] = '\0';
		rc = policy_check(&p, err, sizeof(err));
		if (rows[i].err_has == NULL)
			assert_int_equal(rc, 0);
		else {
			assert_int_equal(rc, -1);
			if (strstr(err, rows[i].err_has) == NULL)
				fail_msg("row %zu: \"%s\" lacks \"%s\"", i,
				    err, rows[i].err_has);
		}
	}
}

/* A class's own thresholds judge "over" for its containers only. */
static const struct cont cls_conts[] = {
	{ "batch-1", "", NULL, 40.0, 0.0, 0, "batch" }, /* under 50 */
	{ "batch-2", "", NULL, 60.0, 0.0, 0, "batch" }, /* over 50 */
	{ "web-1", "", NULL, 40.0, 0.0, 0, "web" },	/* over 20 */
	{ "web-2", "", NULL, 0.0, 15.0, 0, "web" },	/* over mem 10 */
};
static const struct dec cls_decs[] = {
	{ "web-1", T, "cpu 40.0% > 20.0%" },
	{ "batch-2", T, "cpu 60.0% > 50.0%" },
	{ "web-2", T, "mem 15.0% > 10.0%" },
};

static void
policy__class_thresholds__override_the_policy(void **state)
{
	static const struct pcase pc = CASE("cls", cls_conts, cls_decs);
	struct policy p;

	policy_defaults(&p);
	p.nclasses = 0;
	add_class(&p, "batch", "batch", NULL, 0);
	p.classes[0].has_cpu_threshold = 1;
	p.classes[0].cpu_threshold = 50.0;
	add_class(&p, "web", "*", NULL, 0);
	p.classes[1].has_mem_threshold = 1;
	p.classes[1].mem_threshold = 10.0;
	assert_float_equal(policy_cpu_threshold(&p, 0), 50.0, 0);
	assert_float_equal(policy_cpu_threshold(&p, 1), 20.0, 0);
	assert_float_equal(policy_cpu_threshold(&p, POLICY_CLASS_NONE), 20.0,
	    0);
	assert_float_equal(policy_mem_threshold(&p, 1), 10.0, 0);
	run_case(&p, &pc);
}

/* A class's ladder and sustain, else the policy's; throttle_to's default. */
static void
policy__class_ladder_and_sustain__override_the_policy(void **state)
{
	struct policy p;
	char err[160];

	policy_defaults(&p);
	p.sustain_ms = 10000;
	assert_int_equal(ladder_parse("throttle", &p.classes[0].ladder,
			     "class.high.action", err, sizeof(err)),
	    0);
	p.classes[0].has_ladder = 1;
	p.classes[1].has_sustain = 1;
	p.classes[1].sustain_ms = 0;
	assert_int_equal(policy_ladder_of(&p, 0)->n, 1);
	assert_int_equal(policy_ladder_of(&p, 0)->step[0], ACTION_THROTTLE);
	assert_int_equal(policy_ladder_of(&p, 1)->step[0], ACTION_REMOVE);
	assert_int_equal(policy_sustain_ms(&p, 0), 10000);
	assert_int_equal(policy_sustain_ms(&p, 1), 0);
	p.cpu_threshold = 30.0;
	assert_float_equal(policy_throttle_pct(&p, 0), 30.0, 0);
	p.throttle_to = 5.0;
	assert_float_equal(policy_throttle_pct(&p, 0), 5.0, 0);
}

/* policy.action: one step, a ladder, or dry-run alone. */
static void
ladder__parse__table(void **state)
{
	static const struct {
		const char *text;
		size_t n;
		enum action first, last;
		const char *err_has;
		const char *formatted;
	} rows[] = {
		{ "remove", 1, ACTION_REMOVE, ACTION_REMOVE, NULL, "remove" },
		{ "throttle,remove", 2, ACTION_THROTTLE, ACTION_REMOVE, NULL,
		    "throttle,remove" },
		{ " throttle , stop ,kill, remove ", 4, ACTION_THROTTLE,
		    ACTION_REMOVE, NULL, "throttle,stop,kill,remove" },
		{ "dry-run", 1, ACTION_DRY_RUN, ACTION_DRY_RUN, NULL,
		    "dry-run" },
		{ "stop, stop", 0, 0, 0, "step \"stop\" twice", NULL },
		{ "throttle, dry-run", 0, 0, 0, "dry-run goes alone", NULL },
		{ "nuke", 0, 0, 0, "\"nuke\" is not one of", NULL },
		{ "quarantine", 0, 0, 0, "is not one of", NULL },
		{ "", 0, 0, 0, "no step", NULL },
		{ ",,", 0, 0, 0, "no step", NULL },
	};
	struct policy_ladder l;
	char err[160], buf[64];
	size_t i;
	int rc;

	for (i = 0; i < N(rows); i++) {
		err[0] = '\0';
		rc = ladder_parse(rows[i].text, &l, "policy.action", err,
		    sizeof(err));
		if (rows[i].err_has != NULL) {
			assert_int_equal(rc, -1);
			if (strstr(err, rows[i].err_has) == NULL ||
			    strncmp(err, "policy.action: ", 15) != 0)
				fail_msg("\"%s\": \"%s\" lacks \"%s\"",
				    rows[i].text, err, rows[i].err_has);
			continue;
		}
		assert_int_equal(rc, 0);
		assert_int_equal(l.n, rows[i].n);
		assert_int_equal(l.step[0], rows[i].first);
		assert_int_equal(l.step[l.n - 1], rows[i].last);
		ladder_format(&l, buf, sizeof(buf));
		assert_string_equal(buf, rows[i].formatted);
	}
}

/*
 * A hold from the ladder is skipped with its own verdict (sustain,
 * escalation, quarantine), after protect, and still counts as alive.
 */
static void
policy__ladder_hold__own_verdict_counted_alive(void **state)
{
	struct policy_cand cand[3];
	struct policy_decision dec[3];
	size_t class_of[3];
	struct policy_result res;
	struct policy p;

	policy_defaults(&p);
	p.nclasses = 0;
	add_class(&p, "x", "*", NULL, 2);
	memset(cand, 0, sizeof(cand));
	cand[0].name = "sus";
	cand[0].cpu_pct = 90.0;
	cand[0].hold = "sustain: over for 2.0 s of 10.0 s";
	cand[0].hold_verdict = POLICY_SKIP_SUSTAIN;
	cand[1].name = "q";
	cand[1].cpu_pct = 80.0;
	cand[1].hold = "quarantined: name:q";
	cand[1].hold_verdict = POLICY_SKIP_QUARANTINED;
	cand[2].name = "hog";
	cand[2].cpu_pct = 70.0;
	for (size_t i = 0; i < 3; i++) {
		cand[i].image = "";
		cand[i].label_class = "";
	}
	memset(&res, 0, sizeof(res));
	res.class_of = class_of;
	res.dec = dec;
	policy_decide(&p, cand, 3, &res);
	assert_int_equal(res.ndec, 3);
	assert_int_equal(dec[0].verdict, POLICY_SKIP_SUSTAIN);
	assert_string_equal(policy_verdict_name(dec[0].verdict),
	    "sustain-pending");
	assert_non_null(strstr(dec[0].reason, "sustain: over for 2.0 s"));
	assert_int_equal(dec[1].verdict, POLICY_SKIP_QUARANTINED);
	assert_string_equal(policy_verdict_name(dec[1].verdict),
	    "quarantined");
	/* Three alive, min 2: the hog may go. */
	assert_int_equal(dec[2].verdict, POLICY_TAKEN);
	assert_int_equal(res.alive[0], 3);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    policy__seed_defaults__two_high_taken_grafana_protected),
		cmocka_unit_test(policy__class_at_min_alive__not_chosen),
		cmocka_unit_test(policy__protected__never_chosen),
		cmocka_unit_test(policy__order__largest_excess_first),
		cmocka_unit_test(policy__label__overrides_match),
		cmocka_unit_test(policy__already_acted__not_chosen_twice),
		cmocka_unit_test(
		    policy__held__skipped_with_reason_and_counted_alive),
		cmocka_unit_test(
		    policy__unknown_to_docker__class_none_not_counted_alive),
		cmocka_unit_test(policy__nothing_over_threshold__no_decisions),
		cmocka_unit_test(
		    policy__all_classes_at_min__all_skipped_with_reasons),
		cmocka_unit_test(
		    policy__no_matching_class__class_none_never_acted),
		cmocka_unit_test(policy__wildcard_classes__tried_last),
		cmocka_unit_test(policy__no_containers__no_decisions),
		cmocka_unit_test(policy__small_figures__reason_keeps_digits),
		cmocka_unit_test(policy__check__rejects_bad_policy),
		cmocka_unit_test(action__names__round_trip),
		cmocka_unit_test(
		    policy__class_thresholds__override_the_policy),
		cmocka_unit_test(
		    policy__class_ladder_and_sustain__override_the_policy),
		cmocka_unit_test(ladder__parse__table),
		cmocka_unit_test(
		    policy__ladder_hold__own_verdict_counted_alive),
	};

	return cmocka_run_group_tests_name("decider_policy", tests, NULL,
	    NULL);
}
