/*
 * The decider's control socket: status, config, containers and policy,
 * each a JSON object built from the engine's state and the clients'
 * counters. Fields are only ever appended.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "decider.h"

static void explain_ladder(struct decider *dz, const struct engine_row *r,
    size_t k, json_t *o);

static json_t *
json_u64(uint64_t v)
{
	return json_integer((json_int_t)v);
}

static json_t *
cmd_status(void *arg, const char *args)
{
	struct decider *dz = arg;
	struct kw_sub_stats ss;
	struct kw_pub_stats ps;
	struct docker_stats ds;
	json_t *o, *r, *p, *k;

	if ((o = kw_daemon_status(&dz->d)) == NULL)
		return NULL;
	json_object_set_new(o, "samples", json_u64(dz->eng.samples));
	json_object_set_new(o, "bad_snapshots", json_u64(dz->bad_snapshots));
	json_object_set_new(o, "reader_wholes", json_u64(dz->wholes));
	json_object_set_new(o, "reader_deltas", json_u64(dz->deltas));
	json_object_set_new(o, "reader_deltas_waiting",
	    json_u64(dz->deltas_waiting));
	json_object_set_new(o, "last_snapshot_seq", json_u64(dz->last_seq));
	json_object_set_new(o, "last_snapshot_ts",
	    json_u64(dz->last_ts_ns / 1000000000ULL));
	json_object_set_new(o, "last_snapshot_age_s",
	    dz->have_snapshot ?
		json_real((double)(kw_mono_ns() - dz->last_mono_ns) / 1e9) :
		json_null());

	memset(&ss, 0, sizeof(ss));
	if (dz->sub != NULL)
		kw_sub_stats(dz->sub, &ss);
	r = kw_sub_stats_json(&ss, "reader");
	json_object_set_new(o, "reader", r);

	memset(&ps, 0, sizeof(ps));
	if (dz->pub != NULL)
		kw_pub_stats(dz->pub, &ps);
	p = kw_pub_stats_json(&ps);
	json_object_set_new(o, "pub", p);

	json_object_set_new(o, "decisions_taken", json_u64(dz->eng.taken));
	json_object_set_new(o, "decisions_skipped", json_u64(dz->eng.skipped));
	json_object_set_new(o, "action",
	    json_string(action_name(dz->eng.policy.action)));
	json_object_set_new(o, "containers", json_u64(dz->eng.nrows));
	json_object_set_new(o, "processes", json_u64(dz->eng.nprocs));
	json_object_set_new(o, "tracked_processes",
	    json_u64(rates_count(&dz->eng.rates)));
	json_object_set_new(o, "cpu_pct", json_real(dz->eng.machine_cpu));
	json_object_set_new(o, "reloads", json_u64(dz->reloads));

	memset(&ds, 0, sizeof(ds));
	if (dz->docker != NULL)
		docker_stats(dz->docker, &ds);
	k = json_object();
	json_object_set_new(k, "state",
	    json_string(ds.connected ? "connected" : "unreachable"));
	json_object_set_new(k, "connected", json_boolean(ds.connected));
	json_object_set_new(k, "socket",
	    json_string(kw_conf_str(dz->d.conf, "decider.docker_socket")));
	json_object_set_new(k, "last_error", json_string(ds.last_error));
	json_object_set_new(k, "reconnects", json_u64(ds.reconnects));
	json_object_set_new(k, "containers", json_u64(ds.table_size));
	json_object_set_new(k, "calls_in_flight", json_u64(ds.in_flight));
	json_object_set_new(k, "lists", json_u64(ds.lists));
	json_object_set_new(k, "inspects", json_u64(ds.inspects));
	json_object_set_new(k, "events", json_u64(ds.events));
	json_object_set_new(k, "actions_ok", json_u64(ds.actions_ok));
	json_object_set_new(k, "actions_failed", json_u64(ds.actions_failed));
	json_object_set_new(k, "actions_unknown",
	    json_u64(ds.actions_unknown));
	json_object_set_new(k, "lookups_deferred",
	    json_u64(ds.lookups_deferred));
	json_object_set_new(o, "docker", k);
	json_object_set_new(o, "dry_runs", json_u64(dz->eng.dry_runs));
	k = json_object();
	json_object_set_new(k, "claims", json_u64(dz->attr.claims));
	json_object_set_new(k, "by_first_process", json_u64(dz->attr.by_pid));
	json_object_set_new(k, "by_parent", json_u64(dz->attr.by_parent));
	json_object_set_new(k, "refused", json_u64(dz->attr.refused));
	json_object_set_new(k, "refused_total", json_u64(dz->attr_refused));
	json_object_set_new(k, "cgroups_dropped_total",
	    json_u64(dz->attr_dropped));
	json_object_set_new(o, "attribution", k);
	json_object_set_new(o, "metrics", metrics_status_json(dz->metrics));
	json_object_set_new(o, "hooks", hooks_status(dz->hooks));
	json_object_set_new(o, "evidence", evidence_status(dz->evid));
	json_object_set_new(o, "quarantines", json_u64(dz->eng.quarantines));
	json_object_set_new(o, "identities", json_u64(dz->eng.strikes.n));
	json_object_set_new(o, "identities_max", json_u64(STRIKES_IDENT_MAX));
	json_object_set_new(o, "decision_rounds",
	    json_u64(dz->eng.decision_rounds));
	json_object_set_new(o, "strikes_saves", json_u64(dz->strikes_saves));
	json_object_set_new(o, "strikes_save_errors",
	    json_u64(dz->strikes_save_errors));
	json_object_set_new(o, "actions_file",
	    json_pack("{s:I,s:I,s:I}", "saves", (json_int_t)dz->acts_saves,
		"save_errors", (json_int_t)dz->acts_save_errors,
		"loaded_at_start", (json_int_t)dz->acts_loaded));
	return o;
}

static json_t *
cmd_config(void *arg, const char *args)
{
	struct decider *dz = arg;

	return kw_conf_json(dz->d.conf);
}

/*
 * A container as the record the decider publishes for it (the keys of the
 * container schema, in its order), then its state. The class is worked
 * out again here: the policy may have been reloaded.
 */
static json_t *
container_json(struct decider *dz, const struct engine_row *r, int connected)
{
	struct kw_container_rec rec;
	struct strike_entry *s;
	json_t *e;
	char buf[64];

	engine_container_rec(&dz->eng, r, engine_class_of(&dz->eng, r), &rec);
	if ((e = kw_record_to_json(&kw_container_schema, &rec)) == NULL)
		return NULL;
	json_object_set_new(e, "state",
	    json_string(engine_row_state(r, connected, buf, sizeof(buf))));
	s = strikes_find(&dz->eng.strikes, r->identity);
	json_object_set_new(e, "identity", json_string(r->identity));
	json_object_set_new(e, "quarantined",
	    json_boolean(s != NULL && s->quarantined));
	json_object_set_new(e, "step",
	    json_integer((json_int_t)r->act->nsteps));
	json_object_set_new(e, "capped", json_boolean(r->act->throttled));
	return e;
}

/* A quarantined identity, for containers and explain. */
static json_t *
quarantine_json(const struct engine *eng, const struct strike_entry *s)
{
	json_t *q = json_object();

	json_object_set_new(q, "identity", json_string(s->identity));
	json_object_set_new(q, "name", json_string(s->name));
	json_object_set_new(q, "container_id", json_string(s->applied_id));
	json_object_set_new(q, "quarantined", json_boolean(s->quarantined));
	json_object_set_new(q, "since", json_u64(s->quarantined_s));
	json_object_set_new(q, "strikes",
	    json_u64(strikes_count(s, eng->wall_s,
		eng->policy.quarantine_window_ms / 1000)));
	json_object_set_new(q, "carried_out",
	    json_boolean(s->applied_id[0] != '\0'));
	return q;
}

static json_t *
cmd_containers(void *arg, const char *args)
{
	struct decider *dz = arg;
	json_t *o, *a;
	size_t i;
	int connected = dz->docker != NULL && docker_connected(dz->docker);

	a = json_array();
	for (i = 0; i < dz->eng.nrows; i++)
		json_array_append_new(a,
		    container_json(dz, &dz->eng.rows[i], connected));
	o = json_object();
	json_object_set_new(o, "containers", a);
	a = json_array();
	for (i = 0; i < dz->eng.strikes.n; i++)
		if (dz->eng.strikes.e[i].quarantined)
			json_array_append_new(a,
			    quarantine_json(&dz->eng, &dz->eng.strikes.e[i]));
	json_object_set_new(o, "quarantined", a);
	return o;
}

static json_t *
string_array(const char (*s)[POLICY_PATTERN_LEN], size_t n)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < n; i++)
		json_array_append_new(a, json_string(s[i]));
	return a;
}

static json_t *
cmd_policy(void *arg, const char *args)
{
	struct decider *dz = arg;
	const struct policy *p = &dz->eng.policy;
	const struct engine_row *r;
	uint32_t running[POLICY_CLASS_MAX], alive[POLICY_CLASS_MAX];
	json_t *o, *a, *e;
	char buf[64];
	size_t i, k;

	memset(running, 0, sizeof(running));
	memset(alive, 0, sizeof(alive));
	for (i = 0; i < dz->eng.nrows; i++) {
		r = &dz->eng.rows[i];
		k = engine_class_of(&dz->eng, r);
		if (k == POLICY_CLASS_NONE)
			continue;
		running[k]++;
		if (r->act->state == ACT_NONE)
			alive[k]++;
	}
	o = json_object();
	json_object_set_new(o, "cpu_threshold", json_real(p->cpu_threshold));
	json_object_set_new(o, "mem_threshold", json_real(p->mem_threshold));
	json_object_set_new(o, "window_ms", json_u64(p->window_ms));
	json_object_set_new(o, "action", json_string(action_name(p->action)));
	json_object_set_new(o, "acting_as",
	    json_string(action_name(p->action)));
	json_object_set_new(o, "protect",
	    string_array(p->protect, p->nprotect));
	a = json_array();
	for (i = 0; i < p->nclasses; i++) {
		e = json_object();
		json_object_set_new(e, "name",
		    json_string(p->classes[i].name));
		json_object_set_new(e, "match",
		    string_array(p->classes[i].match, p->classes[i].nmatch));
		json_object_set_new(e, "min_alive",
		    json_integer(p->classes[i].min_alive));
		json_object_set_new(e, "alive", json_integer(alive[i]));
		json_object_set_new(e, "running", json_integer(running[i]));
		json_object_set_new(e, "cpu_threshold",
		    json_real(policy_cpu_threshold(p, i)));
		json_object_set_new(e, "mem_threshold",
		    json_real(policy_mem_threshold(p, i)));
		ladder_format(policy_ladder_of(p, i), buf, sizeof(buf));
		json_object_set_new(e, "action", json_string(buf));
		json_object_set_new(e, "sustain_ms",
		    json_u64(policy_sustain_ms(p, i)));
		json_array_append_new(a, e);
	}
	json_object_set_new(o, "classes", a);
	json_object_set_new(o, "mem_basis",
	    json_string(mem_basis_name(p->mem_basis)));
	ladder_format(&p->ladder, buf, sizeof(buf));
	json_object_set_new(o, "ladder", json_string(buf));
	json_object_set_new(o, "throttle_to",
	    json_real(policy_throttle_pct(p, POLICY_CLASS_NONE)));
	json_object_set_new(o, "stop_timeout_ms",
	    json_u64(p->stop_timeout_ms));
	json_object_set_new(o, "escalate_after_ms",
	    json_u64(p->escalate_after_ms));
	json_object_set_new(o, "sustain_ms", json_u64(p->sustain_ms));
	json_object_set_new(o, "quarantine_after",
	    json_u64(p->quarantine_after));
	json_object_set_new(o, "quarantine_window_ms",
	    json_u64(p->quarantine_window_ms));
	return o;
}

/* One object: why a container is or is not being acted on right now. */
static json_t *
cmd_explain(void *arg, const char *args)
{
	struct decider *dz = arg;
	const struct policy *p = &dz->eng.policy;
	const struct engine_row *r;
	const struct policy_class *cls;
	const char *prot, *verdict, *reason;
	struct strike_entry *s;
	char buf[64];
	json_t *o;
	size_t k;
	int connected = dz->docker != NULL && docker_connected(dz->docker);

	while (*args == ' ')
		args++;
	o = json_object();
	if (*args == '\0') {
		json_object_set_new(o, "error",
		    json_string("usage: explain NAME|ID"));
		return o;
	}
	if ((r = engine_find(&dz->eng, args)) == NULL) {
		/* Stopped by a quarantine: in no sample, still explained. */
		if ((s = strikes_lookup(&dz->eng.strikes, args)) != NULL &&
		    s->quarantined) {
			json_object_set_new(o, "container_id",
			    json_string(s->applied_id));
			json_object_set_new(o, "name", json_string(s->name));
			json_object_set_new(o, "verdict",
			    json_string("quarantined"));
			json_object_set_new(o, "reason",
			    json_string(
				"quarantined: no action until released"));
			json_object_set_new(o, "identity",
			    json_string(s->identity));
			json_object_set_new(o, "quarantined", json_true());
			json_object_set_new(o, "quarantine",
			    quarantine_json(&dz->eng, s));
			return o;
		}
		json_object_set_new(o, "error",
		    json_string("no such container "
				"in the last sample"));
		json_object_set_new(o, "container", json_string(args));
		return o;
	}
	k = engine_class_of(&dz->eng, r);
	cls = k == POLICY_CLASS_NONE ? NULL : &p->classes[k];
	prot = policy_protected_by(p, r->c.name, r->c.image);
	if (r->dec != NULL) {
		verdict = policy_verdict_name(r->dec->verdict);
		reason = r->dec->reason;
	} else {
		verdict = "under-thresholds";
		reason = "under the thresholds";
	}
	json_object_set_new(o, "container_id", json_string(r->c.container_id));
	json_object_set_new(o, "name", json_string(r->c.name));
	json_object_set_new(o, "image", json_string(r->c.image));
	json_object_set_new(o, "verdict", json_string(verdict));
	json_object_set_new(o, "reason", json_string(reason));
	json_object_set_new(o, "over", json_boolean(r->dec != NULL));
	json_object_set_new(o, "over_by",
	    r->dec != NULL ? json_string(r->dec->over) : json_null());
	json_object_set_new(o, "cpu_pct", json_real(r->c.cpu_pct));
	json_object_set_new(o, "cpu_threshold",
	    json_real(policy_cpu_threshold(p, k)));
	json_object_set_new(o, "mem_pct", json_real(r->c.mem_pct));
	json_object_set_new(o, "mem_threshold",
	    json_real(policy_mem_threshold(p, k)));
	json_object_set_new(o, "mem_basis",
	    json_string(mem_basis_name(p->mem_basis)));
	json_object_set_new(o, "figures",
	    json_string(r->c.cg_flags & KW_CG_CPU ? "cgroup" : "processes"));
	json_object_set_new(o, "class", json_string(policy_class_name(p, k)));
	json_object_set_new(o, "class_min_alive",
	    cls != NULL ? json_integer(cls->min_alive) : json_null());
	json_object_set_new(o, "class_alive",
	    cls != NULL ? json_integer(dz->eng.alive[k]) : json_null());
	json_object_set_new(o, "class_running",
	    cls != NULL ? json_integer(dz->eng.running[k]) : json_null());
	json_object_set_new(o, "protected_by",
	    prot != NULL ? json_string(prot) : json_null());
	json_object_set_new(o, "action", json_string(action_name(p->action)));
	json_object_set_new(o, "state",
	    json_string(engine_row_state(r, connected, buf, sizeof(buf))));
	json_object_set_new(o, "docker",
	    json_string(connected ? "connected" : "unreachable"));
	json_object_set_new(o, "last_error", json_string(r->act->last_error));
	explain_ladder(dz, r, k, o);
	return o;
}

/* The ladder, sustain, strikes and quarantine parts of explain. */
static void
explain_ladder(struct decider *dz, const struct engine_row *r, size_t k,
    json_t *o)
{
	const struct policy *p = &dz->eng.policy;
	const struct policy_ladder *l = policy_ladder_of(p, k);
	const struct ladder_plan *pl = &r->plan;
	const struct act_entry *a = r->act;
	struct strike_entry *s = strikes_find(&dz->eng.strikes, r->identity);
	int over = r->dec != NULL;
	char buf[64];

	ladder_format(l, buf, sizeof(buf));
	json_object_set_new(o, "ladder", json_string(buf));
	json_object_set_new(o, "step", json_integer((json_int_t)a->nsteps));
	json_object_set_new(o, "last_step",
	    a->nsteps > 0 && a->nsteps <= l->n ?
		json_string(action_name(l->step[a->nsteps - 1])) :
		json_null());
	json_object_set_new(o, "next_step",
	    over && (pl->kind == LADDER_ACT || pl->kind == LADDER_ESCALATE) ?
		json_string(action_name(pl->action)) :
		json_null());
	json_object_set_new(o, "next_step_in_s",
	    over && pl->kind == LADDER_ESCALATE ?
		json_real((double)pl->wait_ms / 1e3) :
		json_null());
	json_object_set_new(o, "escalate_after_s",
	    json_real((double)p->escalate_after_ms / 1e3));
	json_object_set_new(o, "sustain_s",
	    json_real((double)policy_sustain_ms(p, k) / 1e3));
	json_object_set_new(o, "over_for_s",
	    json_real(over ? (double)pl->over_ms / 1e3 : 0.0));
	json_object_set_new(o, "sustain_pending",
	    json_boolean(over && pl->kind == LADDER_SUSTAIN));
	json_object_set_new(o, "sustain_left_s",
	    over && pl->kind == LADDER_SUSTAIN ?
		json_real((double)pl->wait_ms / 1e3) :
		json_null());
	json_object_set_new(o, "capped", json_boolean(a->throttled));
	json_object_set_new(o, "cap_pct",
	    a->throttled ? json_real(a->cap_pct) : json_null());
	json_object_set_new(o, "identity", json_string(r->identity));
	json_object_set_new(o, "strikes",
	    json_u64(s != NULL ? strikes_count(s, dz->eng.wall_s,
				     p->quarantine_window_ms / 1000) :
				 0));
	json_object_set_new(o, "quarantine_after",
	    json_u64(p->quarantine_after));
	json_object_set_new(o, "quarantine_window_s",
	    json_u64(p->quarantine_window_ms / 1000));
	json_object_set_new(o, "quarantined",
	    json_boolean(s != NULL && s->quarantined));
	json_object_set_new(o, "quarantine",
	    s != NULL && s->quarantined ? quarantine_json(&dz->eng, s) :
					  json_null());
}

/* release NAME|ID: lift a cap, a quarantine, the strikes. */
static json_t *
cmd_release(void *arg, const char *args)
{
	struct decider *dz = arg;
	struct engine_intent in;
	char msg[512];
	json_t *o = json_object();
	int has_cap = 0;

	while (*args == ' ')
		args++;
	if (*args == '\0') {
		json_object_set_new(o, "error",
		    json_string("usage: release NAME|ID"));
		return o;
	}
	if (engine_release(&dz->eng, args, kw_mono_ns(), &in, &has_cap, msg,
		sizeof(msg)) == -1) {
		json_object_set_new(o, "error", json_string(msg));
		json_object_set_new(o, "container", json_string(args));
		return o;
	}
	log_info("release %s: %s", args, msg);
	if (has_cap)
		decider_act(dz, &in);
	(void)decider_save_strikes(dz);
	json_object_set_new(o, "released", json_string(args));
	json_object_set_new(o, "result", json_string(msg));
	json_object_set_new(o, "cap_lifted", json_boolean(has_cap));
	return o;
}

const struct kw_ctl_cmd decider_ctl_cmds[] = {
	{ "status", "uptime, samples, reader link, stream, decisions",
	    cmd_status },
	{ "config", "the effective configuration", cmd_config },
	{ "containers", "containers with class, CPU %, memory %, state",
	    cmd_containers },
	{ "policy", "thresholds, window, action, protect list, classes",
	    cmd_policy },
	{ "explain", "explain NAME|ID: why a container is or is not acted on",
	    cmd_explain },
	{ "evidence",
	    "evidence NAME|ID: what was seen of a container when "
	    "it was last acted on",
	    evidence_ctl },
	{ "release",
	    "release NAME|ID: lift its CPU cap, its quarantine and "
	    "its strikes",
	    cmd_release },
	{ NULL, NULL, NULL },
};
