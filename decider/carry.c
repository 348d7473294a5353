/*
 * Carrying out a sample's step: processes attributed before the engine
 * sees them, then what it returned (log lines, records, lookups) and its
 * Docker intents, each published as a row, with its evidence and hooks,
 * when its call ends.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decider.h"

/* An action out to Docker: its record is published when it ends. */
struct pending_action {
	struct decider *dz;
	struct kw_deletion_rec rec;
	enum action action; /* dry-run: a row, no call */
	uint64_t nano_cpus; /* throttle, release */
};

/* An action's row, with its evidence, for the recorder and the hooks. */
static void
action_ended(struct pending_action *pa)
{
	struct decider *dz = pa->dz;

	evidence_finish(dz->evid, &pa->rec);
	hooks_fire(dz->hooks, &pa->rec);
	decider_publish_deletion(dz, &pa->rec);
	kw_deletion_rec_free(&pa->rec);
	free(pa);
}

/*
 * The call ended: Docker answered, the answer never came (outcome
 * unknown: the container stays counted as gone until Docker's table
 * settles it), or the decider is stopping.
 */
static void
on_action_done(void *arg, enum docker_outcome outcome, const char *result)
{
	struct pending_action *pa = arg;
	struct decider *dz = pa->dz;
	struct kw_deletion_rec *r = &pa->rec;
	const char *sp = r->name[0] ? " " : "";

	switch (outcome) {
	case DOCKER_ACT_CANCELLED:
		log_info("container %.12s: %s: %s", r->container_id, r->action,
		    result);
		snprintf(r->result, sizeof(r->result),
		    "unknown: cancelled "
		    "at shutdown");
		break;
	case DOCKER_ACT_OK:
		log_info("container %.12s%s%s: %s: ok", r->container_id, sp,
		    r->name, r->action);
		snprintf(r->result, sizeof(r->result), "%s", result);
		break;
	case DOCKER_ACT_UNKNOWN:
		log_warnx("container %.12s%s%s: %s: %s", r->container_id, sp,
		    r->name, r->action, result);
		snprintf(r->result, sizeof(r->result), "%s", result);
		if (dz->docker != NULL)
			docker_refresh(dz->docker, r->container_id);
		break;
	case DOCKER_ACT_FAILED:
		log_warnx("container %.12s%s%s: %s failed: %s",
		    r->container_id, sp, r->name, r->action, result);
		snprintf(r->result, sizeof(r->result), "%s", result);
		break;
	}
	engine_action_done(&dz->eng, r->container_id, outcome, result,
	    kw_mono_ns());
	decider_save_acts(dz);
	action_ended(pa);
}

/* The evidence is in (or its time is up): now the action. */
static void
on_evidence(void *arg, char *json)
{
	struct pending_action *pa = arg;
	struct decider *dz = pa->dz;
	int rc;

	pa->rec.evidence = json;
	if (pa->action == ACTION_DRY_RUN) {
		action_ended(pa);
		return;
	}
	if (dz->docker == NULL)
		rc = -1;
	else if (pa->action == ACTION_THROTTLE || pa->action == ACTION_RELEASE)
		rc = docker_update_cpu(dz->docker, pa->rec.container_id,
		    pa->action, pa->nano_cpus, on_action_done, pa);
	else
		rc = docker_act(dz->docker, pa->rec.container_id, pa->action,
		    on_action_done, pa);
	if (rc == -1)
		on_action_done(pa, DOCKER_ACT_FAILED,
		    "cannot start the API call");
}

/*
 * Ask Docker to do what the engine took (a dry-run only records it), once
 * its evidence is in.
 */
void
decider_act(struct decider *dz, const struct engine_intent *in)
{
	struct pending_action *pa;

	if ((pa = calloc(1, sizeof(*pa))) == NULL) {
		if (in->action == ACTION_DRY_RUN) {
			decider_publish_deletion(dz, &in->rec);
			return;
		}
		log_warnx("container %.12s: out of memory: not acted on",
		    in->rec.container_id);
		engine_action_done(&dz->eng, in->rec.container_id,
		    DOCKER_ACT_FAILED, "out of memory", kw_mono_ns());
		return;
	}
	pa->dz = dz;
	pa->rec = in->rec;
	pa->action = in->action;
	pa->nano_cpus = in->nano_cpus;
	evidence_capture(dz, &pa->rec, on_evidence, pa);
}

/* Everything one step returned, in order. */
void
decider_carry_out(struct decider *dz, const struct engine_out *out)
{
	struct engine_intent dry;
	enum action a;
	size_t i;

	for (i = 0; i < out->nlogs; i++)
		if (out->logs[i].level == ENGINE_LOG_WARN)
			log_warnx("%s", out->logs[i].text);
		else
			log_info("%s", out->logs[i].text);
	if (out->oom)
		log_warnx("out of memory: some records of this sample were "
			  "dropped");
	for (i = 0; i < out->nlookups && dz->docker != NULL; i++)
		(void)docker_lookup(dz->docker, out->lookups[i]);
	decider_publish_figures(dz, out);
	for (i = 0; i < out->ndeletions; i++) {
		dry.action = ACTION_DRY_RUN;
		dry.nano_cpus = 0;
		dry.rec = out->deletions[i];
		/* A dry-run is an action too, for evidence and hooks. */
		if (action_parse(dry.rec.action, &a) == 0 &&
		    a == ACTION_DRY_RUN)
			decider_act(dz, &dry);
		else
			decider_publish_deletion(dz, &out->deletions[i]);
	}
	decider_publish_decisions(dz, out);
	if (out->nintents > 0 || out->ndeletions > 0)
		decider_save_acts(dz);
	for (i = 0; i < out->nintents; i++)
		decider_act(dz, &out->intents[i]);
	if (out->strikes_changed || dz->eng.strikes.dirty)
		(void)decider_save_strikes(dz);
}

#define ATTR_LOG_EVERY_NS (60ull * 1000000000ull)

/*
 * Processes count for a container only from its real cgroup: the rest
 * become host processes here, before the engine sees them. Logged at
 * most once a minute; the first process of a container Docker has not
 * told is asked for.
 */
void
decider_attribute(struct decider *dz, const struct docker_table *table)
{
	struct attr_result *a = &dz->attr;
	uint64_t now = kw_mono_ns();
	size_t i;

	if (containers_attribute(&dz->snap, table,
		(const char(*)[64])dz->parents, dz->nparents, a) == -1) {
		/* Nothing trusted: every claim is a host process. */
		log_warnx("attribution: out of memory: container processes "
			  "counted as host processes in this sample");
		for (i = 0; i < dz->snap.nprocs; i++)
			dz->snap.procs[i].container_id[0] = '\0';
		dz->snap.ncgroups = 0;
		/* The claims are lost: no delta can be applied to this. */
		dz->base_seq = 0;
		return;
	}
	dz->attr_refused += a->refused;
	dz->attr_dropped += a->cgroups_dropped;
	for (i = 0; i < a->nrefresh && dz->docker != NULL; i++)
		docker_refresh(dz->docker, a->refresh[i]);
	if (a->refused == 0)
		return;
	if (dz->attr_logged_ns != 0 &&
	    now - dz->attr_logged_ns < ATTR_LOG_EVERY_NS) {
		dz->attr_unlogged += a->refused;
		return;
	}
	log_warnx("attribution: %" PRIu64 " processes claim a container from "
		  "a cgroup that is not its own and count as host processes "
		  "(%" PRIu64 " more since the last line), e.g. pid %d claims "
		  "%.12s from %s; %s%s",
	    a->refused, dz->attr_unlogged, (int)a->refused_pid, a->refused_id,
	    a->refused_dir[0] ? a->refused_dir : "no directory",
	    a->real_dir[0] ? "its cgroup is " :
			     "its cgroup is not known yet and that is "
			     "not in decider.cgroup_parents",
	    a->real_dir);
	dz->attr_logged_ns = now;
	dz->attr_unlogged = 0;
}
