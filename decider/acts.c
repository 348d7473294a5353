/*
 * What the decider did to each container, by id, across snapshots: the
 * call in flight, an outcome still unknown, the retry backoff, and where
 * it is on the action ladder. Pure: the clock and what Docker says come
 * in as arguments.
 *
 * Decisions written down here:
 * - sustain counts from the first sample over in a run without a break;
 *   one sample under ends the run;
 * - the next step is due escalate_after after the last step, and after
 *   the start of the current run over (a container that went under and
 *   came back gets the full escalate_after again): "still over";
 * - throttle is a step for CPU: skipped when memory is over (a cap does
 *   not free memory), when only memory is over, and when a cap is on;
 * - a throttle that succeeded leaves the container running (ACT_NONE,
 *   throttled); one with no answer is retried like a failure (the update
 *   is idempotent).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "decider.h"

#define RETRY_MIN_MS 1000  /* after a failed action ... */
#define RETRY_MAX_MS 60000 /* ... doubling up to this */

void
acts_init(struct act_table *t)
{
	memset(t, 0, sizeof(*t));
}

void
acts_free(struct act_table *t)
{
	free(t->e);
	memset(t, 0, sizeof(*t));
}

/* Index of id, or where it would go. */
static size_t
acts_pos(const struct act_table *t, const char *id, int *found)
{
	size_t lo = 0, hi = t->n, mid;
	int c;

	*found = 0;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = strcmp(t->e[mid].container_id, id);
		if (c == 0) {
			*found = 1;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct act_entry *
acts_find(const struct act_table *t, const char *id)
{
	size_t i;
	int found;

	i = acts_pos(t, id, &found);
	return found ? &t->e[i] : NULL;
}

struct act_entry *
acts_get(struct act_table *t, const char *id)
{
	struct act_entry *ne;
	size_t i, cap;
	int found;

	i = acts_pos(t, id, &found);
	if (!found) {
		if (t->n == t->cap) {
			cap = t->cap ? t->cap * 2 : 32;
			if ((ne = realloc(t->e, cap * sizeof(*ne))) == NULL)
				return NULL;
			t->e = ne;
			t->cap = cap;
		}
		memmove(&t->e[i + 1], &t->e[i], (t->n - i) * sizeof(*ne));
		t->n++;
		memset(&t->e[i], 0, sizeof(t->e[i]));
		snprintf(t->e[i].container_id, sizeof(t->e[i].container_id),
		    "%s", id);
	}
	t->e[i].seen_gen = t->gen;
	return &t->e[i];
}

size_t
acts_sweep(struct act_table *t, int (*known)(void *arg, const char *id),
    void (*gone)(void *arg, const struct act_entry *e), void *arg)
{
	struct act_entry *e;
	size_t i, out = 0, dropped = 0;

	for (i = 0; i < t->n; i++) {
		e = &t->e[i];
		if ((e->state == ACT_NONE || e->state == ACT_DONE) &&
		    t->gen - e->seen_gen >= ACTS_ABSENT_SAMPLES &&
		    (known == NULL || !known(arg, e->container_id))) {
			if (gone != NULL)
				gone(arg, e);
			dropped++;
			continue;
		}
		if (out != i)
			t->e[out] = *e;
		out++;
	}
	t->n = out;
	return dropped;
}

static void
hold_for_retry(struct act_entry *e, const char *why, uint64_t now_ns)
{
	/* A step that did not happen is tried again, not skipped. */
	if (e->nsteps > 0 && e->action != ACTION_RELEASE &&
	    e->action != ACTION_QUARANTINE)
		e->nsteps--;
	e->state = ACT_NONE;
	e->retry_ms = e->retry_ms ? e->retry_ms * 2 : RETRY_MIN_MS;
	if (e->retry_ms > RETRY_MAX_MS)
		e->retry_ms = RETRY_MAX_MS;
	e->retry_mono_ns = now_ns + e->retry_ms * 1000000ULL;
	snprintf(e->last_error, sizeof(e->last_error), "%s", why);
}

void
acts_on_result(struct act_entry *e, enum docker_outcome outcome,
    const char *result, uint64_t now_ns)
{
	if ((e->action == ACTION_THROTTLE || e->action == ACTION_RELEASE) &&
	    outcome == DOCKER_ACT_UNKNOWN)
		outcome = DOCKER_ACT_FAILED;
	switch (outcome) {
	case DOCKER_ACT_OK:
		e->state = ACT_DONE;
		e->retry_ms = 0;
		e->retry_mono_ns = 0;
		if (e->action == ACTION_THROTTLE) {
			e->state = ACT_NONE;
			e->throttled = 1;
		} else if (e->action == ACTION_RELEASE) {
			e->state = ACT_NONE;
			e->throttled = 0;
		}
		break;
	case DOCKER_ACT_FAILED:
		hold_for_retry(e, result, now_ns);
		break;
	case DOCKER_ACT_UNKNOWN:
		e->state = ACT_UNKNOWN;
		e->unknown_since_ns = now_ns;
		snprintf(e->last_error, sizeof(e->last_error), "%s", result);
		break;
	case DOCKER_ACT_CANCELLED:
		break;
	}
}

int
acts_settle(struct act_entry *e, enum act_docker_view view, uint64_t starts,
    uint64_t now_ns, uint64_t settle_ns, char *result, size_t len)
{
	char why[200];

	if (e->state == ACT_DONE && view == ACT_VIEW_RUNNING &&
	    starts != e->starts_at_act &&
	    (e->action == ACTION_STOP || e->action == ACTION_KILL ||
		e->action == ACTION_QUARANTINE)) {
		/* Started again since: running, for the policy too. */
		e->state = ACT_NONE;
		e->logged = 0;
		e->nsteps = 0;
		e->over_since_ns = 0;
		return 0;
	}
	if (e->state != ACT_UNKNOWN)
		return 0;
	/* Loaded at start (acts_load_pending): Docker may still be at it. */
	if (now_ns < e->unknown_since_ns && view == ACT_VIEW_RUNNING)
		return 0;
	switch (view) {
	case ACT_VIEW_NONE:
		return 0;
	case ACT_VIEW_GONE:
		e->state = ACT_DONE;
		e->retry_ms = 0;
		snprintf(result, len, "ok: settled: Docker no longer has it");
		return 1;
	case ACT_VIEW_STOPPED:
		e->state = ACT_DONE;
		e->retry_ms = 0;
		snprintf(result, len, "ok: settled: it is no longer running");
		return 1;
	case ACT_VIEW_RUNNING:
		if (now_ns - e->unknown_since_ns < settle_ns)
			return 0;
		snprintf(why, sizeof(why),
		    "failed: still running %llu s "
		    "after the call ended with no answer",
		    (unsigned long long)(settle_ns / 1000000000ULL));
		hold_for_retry(e, why, now_ns);
		snprintf(result, len, "%s", why);
		return 1;
	}
	return 0;
}

void
acts_track_over(struct act_entry *e, int over, uint64_t now_ns)
{
	if (!over)
		e->over_since_ns = 0;
	else if (e->over_since_ns == 0)
		e->over_since_ns = now_ns ? now_ns : 1;
}

static uint64_t
ms_between(uint64_t from_ns, uint64_t to_ns)
{
	return to_ns > from_ns ? (to_ns - from_ns) / 1000000ULL : 0;
}

void
ladder_plan(const struct policy_ladder *l, const struct act_entry *e,
    int cpu_over, int mem_over, uint64_t sustain_ms, uint64_t escalate_ms,
    uint64_t now_ns, struct ladder_plan *out)
{
	uint64_t since, over_ms, due_ms;
	size_t i;

	memset(out, 0, sizeof(*out));
	since = e->over_since_ns ? e->over_since_ns : now_ns;
	over_ms = ms_between(since, now_ns);
	out->over_ms = over_ms;
	if (e->nsteps == 0 && over_ms < sustain_ms) {
		out->kind = LADDER_SUSTAIN;
		out->wait_ms = sustain_ms - over_ms;
		snprintf(out->why, sizeof(out->why),
		    "sustain: over for "
		    "%.1f s of %.1f s",
		    (double)over_ms / 1e3, (double)sustain_ms / 1e3);
		return;
	}
	for (i = e->nsteps; i < l->n; i++)
		if (!(l->step[i] == ACTION_THROTTLE &&
			(mem_over || !cpu_over || e->throttled)))
			break;
	if (i >= l->n) {
		out->kind = LADDER_END;
		if (e->nsteps == 0)
			snprintf(out->why, sizeof(out->why),
			    "no step fits: "
			    "throttle caps CPU only and memory is over");
		else
			snprintf(out->why, sizeof(out->why),
			    "last step "
			    "taken (%s): nothing more to do",
			    action_name(l->step[e->nsteps - 1]));
		return;
	}
	if (e->nsteps > 0) {
		/* Still over escalate_after after the step and the run. */
		due_ms = ms_between(e->step_ns > since ? e->step_ns : since,
		    now_ns);
		if (due_ms < escalate_ms) {
			out->kind = LADDER_ESCALATE;
			out->step = i;
			out->action = l->step[i];
			out->wait_ms = escalate_ms - due_ms;
			snprintf(out->why, sizeof(out->why),
			    "escalation: %s "
			    "taken, %s in %.1f s if still over",
			    action_name(l->step[e->nsteps - 1]),
			    action_name(l->step[i]),
			    (double)out->wait_ms / 1e3);
			return;
		}
	}
	out->kind = LADDER_ACT;
	out->step = i;
	out->action = l->step[i];
}

void
acts_step_taken(struct act_entry *e, const struct ladder_plan *pl,
    uint64_t now_ns)
{
	e->nsteps = pl->step + 1;
	e->step_ns = now_ns ? now_ns : 1;
}

/* An action that takes the container out of its class, call not ended. */
static int
pending(const struct act_entry *e)
{
	return (e->state == ACT_IN_FLIGHT || e->state == ACT_UNKNOWN) &&
	    (e->action == ACTION_STOP || e->action == ACTION_KILL ||
		e->action == ACTION_REMOVE || e->action == ACTION_QUARANTINE);
}

char *
acts_format_pending(const struct act_table *t)
{
	const struct act_entry *e;
	json_t *o, *a;
	char *text;
	size_t i;

	if ((o = json_object()) == NULL || (a = json_array()) == NULL) {
		json_decref(o);
		return NULL;
	}
	json_object_set_new(o, "version", json_integer(ACTS_FILE_VERSION));
	json_object_set_new(o, "pending", a);
	for (i = 0; i < t->n; i++) {
		e = &t->e[i];
		if (!pending(e))
			continue;
		if (json_array_append_new(a,
			json_pack("{s:s,s:s,s:s,s:s,s:s,"
				  "s:I,s:I}",
			    "id", e->container_id, "action",
			    action_name(e->action), "name", e->name, "image",
			    e->image, "class", e->act_class, "starts",
			    (json_int_t)e->starts_at_act, "step",
			    (json_int_t)e->nsteps)) == -1) {
			json_decref(o);
			return NULL;
		}
	}
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return text;
}

/* Any action by name, the decider's own (quarantine) included. */
static int
action_by_name(const char *s, enum action *a)
{
	const char *n;
	int i;

	for (i = 0; (n = action_name((enum action)i)) != NULL; i++)
		if (strcmp(n, s) == 0) {
			*a = (enum action)i;
			return 0;
		}
	return -1;
}

/* Copy a JSON string member into dst (cut to len); "" when absent. */
static void
get_str(json_t *o, const char *key, char *dst, size_t len)
{
	const char *s = json_string_value(json_object_get(o, key));

	snprintf(dst, len, "%s", s != NULL ? s : "");
}

int
acts_load_pending(struct act_table *t, const char *buf, size_t len,
    uint64_t now_ns, uint64_t hold_ns, char *err, size_t errlen)
{
	struct act_entry *e;
	json_error_t jerr;
	json_t *o, *a, *v;
	const char *id, *act;
	enum action action;
	size_t i, n = 0;

	if ((o = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr)) ==
	    NULL) {
		snprintf(err, errlen, "line %d: %s", jerr.line, jerr.text);
		return -1;
	}
	v = json_object_get(o, "version");
	a = json_object_get(o, "pending");
	if (!json_is_integer(v) ||
	    json_integer_value(v) != ACTS_FILE_VERSION || !json_is_array(a) ||
	    json_array_size(a) > ACTS_PENDING_MAX) {
		snprintf(err, errlen,
		    "not a version %d file of at most %d "
		    "actions",
		    ACTS_FILE_VERSION, ACTS_PENDING_MAX);
		json_decref(o);
		return -1;
	}
	for (i = 0; i < json_array_size(a); i++) {
		v = json_array_get(a, i);
		id = json_string_value(json_object_get(v, "id"));
		act = json_string_value(json_object_get(v, "action"));
		if (id == NULL || strlen(id) != KW_CID_LEN - 1 ||
		    act == NULL || action_by_name(act, &action) == -1 ||
		    !(action == ACTION_STOP || action == ACTION_KILL ||
			action == ACTION_REMOVE ||
			action == ACTION_QUARANTINE)) {
			snprintf(err, errlen,
			    "action %zu: no container id or "
			    "no action that removes it",
			    i);
			json_decref(o);
			return -1;
		}
		if ((e = acts_get(t, id)) == NULL) {
			snprintf(err, errlen, "out of memory");
			json_decref(o);
			return -1;
		}
		e->state = ACT_UNKNOWN;
		e->action = action;
		get_str(v, "name", e->name, sizeof(e->name));
		get_str(v, "image", e->image, sizeof(e->image));
		get_str(v, "class", e->act_class, sizeof(e->act_class));
		e->starts_at_act =
		    (uint64_t)json_integer_value(json_object_get(v, "starts"));
		e->nsteps =
		    (size_t)json_integer_value(json_object_get(v, "step"));
		e->step_ns = now_ns ? now_ns : 1;
		e->unknown_since_ns = now_ns + hold_ns;
		snprintf(e->last_error, sizeof(e->last_error),
		    "the call was "
		    "out when the decider stopped: Docker decides");
		n++;
	}
	json_decref(o);
	return (int)n;
}
