/*
 * The decider's settings from the config: evidence and hooks ([hooks]),
 * the cgroup parents, the state files beside the database, and the policy
 * in force as one log line.
 */
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>

#include "decider.h"

/* Beside the database: survive a restart. */
#define STRIKES_FILE "decider-strikes.json"
#define ACTS_FILE    "decider-acts.json"

void
decider_evidence_conf(const struct kw_conf *conf, struct evidence_conf *ec)
{
	memset(ec, 0, sizeof(*ec));
	ec->timeout_ms = kw_conf_ms(conf, "hooks.evidence_timeout");
	ec->log_lines = (size_t)kw_conf_int(conf, "hooks.evidence_log_lines");
	ec->log_bytes = (size_t)kw_conf_size(conf, "hooks.evidence_log_bytes");
	ec->procs = (size_t)kw_conf_int(conf, "hooks.evidence_procs");
	ec->keep = (size_t)kw_conf_int(conf, "hooks.evidence_keep");
}

void
decider_hooks_conf(const struct kw_conf *conf, struct hooks_conf *hc)
{
	memset(hc, 0, sizeof(*hc));
	snprintf(hc->exec, sizeof(hc->exec), "%s",
	    kw_conf_str(conf, "hooks.exec"));
	snprintf(hc->webhook, sizeof(hc->webhook), "%s",
	    kw_conf_str(conf, "hooks.webhook"));
	hc->timeout_ms = kw_conf_ms(conf, "hooks.timeout");
	hc->concurrency = (uint32_t)kw_conf_int(conf, "hooks.concurrency");
	hc->retries = (uint32_t)kw_conf_int(conf, "hooks.retries");
	hc->backoff_ms = kw_conf_ms(conf, "hooks.backoff");
	hc->backoff_max_ms = kw_conf_ms(conf, "hooks.backoff_max");
	hc->rate_per_min = kw_conf_num(conf, "hooks.rate_per_min");
	hc->burst = (double)kw_conf_int(conf, "hooks.burst");
	hc->queue_max = (uint32_t)kw_conf_int(conf, "hooks.queue_max");
}

/* Evidence and hooks from [hooks]; they take effect on restart. */
void
decider_hooks_from_conf(struct decider *dz)
{
	struct evidence_conf ec;
	struct hooks_conf hc;

	decider_evidence_conf(dz->d.conf, &ec);
	if ((dz->evid = evidence_store_new(&ec)) == NULL)
		fatalx("evidence: out of memory");
	decider_hooks_conf(dz->d.conf, &hc);
	if ((dz->hooks = hooks_new(dz->d.loop, &hc)) == NULL)
		fatalx("hooks: cannot set up");
	if (hc.exec[0] != '\0' || hc.webhook[0] != '\0')
		log_info("hooks: exec %s, webhook %s",
		    hc.exec[0] ? hc.exec : "none",
		    hc.webhook[0] ? hc.webhook : "none");
}

/* decider.cgroup_parents */
void
decider_parents_from_conf(struct decider *dz, const struct kw_conf *conf)
{
	dz->nparents = kw_conf_list(conf, "decider.cgroup_parents",
	    dz->parents, ATTR_PARENTS_MAX);
}

void
decider_state_paths(const struct kw_conf *conf, char *strikes,
    size_t strikes_len, char *acts, size_t acts_len)
{
	char db[4096];

	snprintf(db, sizeof(db), "%s", kw_conf_str(conf, "paths.database"));
	snprintf(strikes, strikes_len, "%s/%s", dirname(db), STRIKES_FILE);
	snprintf(db, sizeof(db), "%s", kw_conf_str(conf, "paths.database"));
	snprintf(acts, acts_len, "%s/%s", dirname(db), ACTS_FILE);
}

void
policy_describe(const struct policy *p, char *out, size_t len)
{
	char buf[512], ladder[64];
	size_t i, off = 0;

	for (i = 0; i < p->nclasses && off < sizeof(buf); i++)
		off += (size_t)snprintf(buf + off, sizeof(buf) - off,
		    "%s%s (min %u)", i ? ", " : "", p->classes[i].name,
		    p->classes[i].min_alive);
	ladder_format(&p->ladder, ladder, sizeof(ladder));
	snprintf(out, len,
	    "policy: cpu > %.1f%%, mem (%s) > %.1f%%, window %" PRIu64
	    " ms, action %s, sustain %" PRIu64 " ms, escalate after %" PRIu64
	    " ms, quarantine after %u in %" PRIu64 " s, classes: %s",
	    p->cpu_threshold, mem_basis_name(p->mem_basis), p->mem_threshold,
	    p->window_ms, ladder, p->sustain_ms, p->escalate_after_ms,
	    p->quarantine_after, p->quarantine_window_ms / 1000,
	    p->nclasses ? buf : "none");
}

void
decider_policy_log(const struct policy *p)
{
	char line[1024];

	policy_describe(p, line, sizeof(line));
	log_info("%s", line);
}
