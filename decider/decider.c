/*
 * kwarden-decider: reads snapshots from the reader, runs the engine's
 * sample step on each (engine.c) and carries out what it returns: records
 * on the stream for the recorder, calls to Docker (docker.c), log lines.
 * A call's deletion record is published when the call ends. The control
 * views are in views.c.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "decider.h"

/*
 * An action sent with no answer is settled by what Docker says: gone or
 * stopped is done; still running this long after is a failure (retried).
 */
#define SETTLE_MIN_MS 60000

/* An action out to Docker: its record is published when it ends. */
struct pending_action {
	struct decider *dz;
	struct kw_deletion_rec rec;
	enum action action; /* dry-run: a row, no call */
	uint64_t nano_cpus; /* throttle, release */
};

/* Evidence and hooks from [hooks]; they take effect on restart. */
static void
hooks_from_conf(struct decider *dz)
{
	const struct kw_conf *conf = dz->d.conf;
	struct evidence_conf ec;
	struct hooks_conf hc;

	memset(&ec, 0, sizeof(ec));
	ec.timeout_ms = kw_conf_ms(conf, "hooks.evidence_timeout");
	ec.log_lines = (size_t)kw_conf_int(conf, "hooks.evidence_log_lines");
	ec.log_bytes = (size_t)kw_conf_size(conf, "hooks.evidence_log_bytes");
	ec.procs = (size_t)kw_conf_int(conf, "hooks.evidence_procs");
	ec.keep = (size_t)kw_conf_int(conf, "hooks.evidence_keep");
	if ((dz->evid = evidence_store_new(&ec)) == NULL)
		fatalx("evidence: out of memory");
	memset(&hc, 0, sizeof(hc));
	snprintf(hc.exec, sizeof(hc.exec), "%s",
	    kw_conf_str(conf, "hooks.exec"));
	snprintf(hc.webhook, sizeof(hc.webhook), "%s",
	    kw_conf_str(conf, "hooks.webhook"));
	hc.timeout_ms = kw_conf_ms(conf, "hooks.timeout");
	hc.concurrency = (uint32_t)kw_conf_int(conf, "hooks.concurrency");
	hc.retries = (uint32_t)kw_conf_int(conf, "hooks.retries");
	hc.backoff_ms = kw_conf_ms(conf, "hooks.backoff");
	hc.backoff_max_ms = kw_conf_ms(conf, "hooks.backoff_max");
	hc.rate_per_min = kw_conf_num(conf, "hooks.rate_per_min");
	hc.burst = (double)kw_conf_int(conf, "hooks.burst");
	hc.queue_max = (uint32_t)kw_conf_int(conf, "hooks.queue_max");
	if ((dz->hooks = hooks_new(dz->d.loop, &hc)) == NULL)
		fatalx("hooks: cannot set up");
	if (hc.exec[0] != '\0' || hc.webhook[0] != '\0')
		log_info("hooks: exec %s, webhook %s",
		    hc.exec[0] ? hc.exec : "none",
		    hc.webhook[0] ? hc.webhook : "none");
}

static void
policy_log(const struct policy *p)
{
	char buf[512], ladder[64];
	size_t i, off = 0;

	for (i = 0; i < p->nclasses && off < sizeof(buf); i++)
		off += (size_t)snprintf(buf + off, sizeof(buf) - off,
		    "%s%s (min %u)", i ? ", " : "", p->classes[i].name,
		    p->classes[i].min_alive);
	ladder_format(&p->ladder, ladder, sizeof(ladder));
	log_info("policy: cpu > %.1f%%, mem (%s) > %.1f%%, window %" PRIu64
		 " ms, action %s, sustain %" PRIu64
		 " ms, escalate after %" PRIu64
		 " ms, quarantine after %u in %" PRIu64 " s, classes: %s",
	    p->cpu_threshold, mem_basis_name(p->mem_basis), p->mem_threshold,
	    p->window_ms, ladder, p->sustain_ms, p->escalate_after_ms,
	    p->quarantine_after, p->quarantine_window_ms / 1000,
	    p->nclasses ? buf : "none");
}

static void
publish(struct decider *dz, enum kw_msg_type type, size_t fields,
    void (*pack)(msgpack_packer *, const void *), const void *rec)
{
	msgpack_packer *pk;

	if (dz->pub == NULL ||
	    (pk = kw_pub_begin(dz->pub, type, fields)) == NULL)
		return;
	pack(pk, rec);
	kw_pub_commit(dz->pub);
}

static void
pack_nothing(msgpack_packer *pk, const void *r)
{
	(void)pk;
	(void)r;
}

static void
pack_sys(msgpack_packer *pk, const void *r)
{
	kw_sys_pack(pk, r);
}

static void
pack_container(msgpack_packer *pk, const void *r)
{
	kw_container_pack(pk, r);
}

static void
pack_proc(msgpack_packer *pk, const void *r)
{
	kw_proc_rec_pack(pk, r);
}

static void
pack_deletion(msgpack_packer *pk, const void *r)
{
	kw_deletion_pack(pk, r);
}

static void
pack_decision(msgpack_packer *pk, const void *r)
{
	kw_decision_pack(pk, r);
}

static void
pack_policy(msgpack_packer *pk, const void *r)
{
	kw_policy_pack(pk, r);
}

/* The policy in force from now on, for the policy table (the replay). */
static void
publish_policy(struct decider *dz, const struct kw_conf *conf,
    const char *reason)
{
	struct kw_policy_rec *r;

	if ((r = calloc(1, sizeof(*r))) == NULL) {
		log_warnx("policy: out of memory: not recorded");
		return;
	}
	snprintf(r->reason, sizeof(r->reason), "%s", reason);
	if (kw_conf_policy_text(conf, r->conf, sizeof(r->conf)) == -1)
		log_warnx("policy: over %u bytes as text: not recorded",
		    KW_POLICY_TEXT_MAX);
	else
		publish(dz, KW_MSG_POLICY, KW_POLICY_FIELDS, pack_policy, r);
	free(r);
}

static void
publish_deletion(struct decider *dz, const struct kw_deletion_rec *r)
{
	metrics_count_action(dz->metrics, r);
	publish(dz, KW_MSG_DELETION, kw_fields_count(&kw_deletion_schema, r),
	    pack_deletion, r);
}

/* An action's row, with its evidence, for the recorder and the hooks. */
static void
action_ended(struct pending_action *pa)
{
	struct decider *dz = pa->dz;

	evidence_finish(dz->evid, &pa->rec);
	hooks_fire(dz->hooks, &pa->rec);
	publish_deletion(dz, &pa->rec);
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
			publish_deletion(dz, &in->rec);
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

/* Strikes and quarantines, beside the database: survive a restart. */
#define STRIKES_FILE	 "decider-strikes.json"
#define STRIKES_FILE_MAX (16u << 20)

static void
strikes_path(const struct kw_conf *conf, char *out, size_t len)
{
	char db[4096];

	snprintf(db, sizeof(db), "%s", kw_conf_str(conf, "paths.database"));
	snprintf(out, len, "%s/%s", dirname(db), STRIKES_FILE);
}

/* The actions out when the decider stops: beside the strikes. */
#define ACTS_FILE     "decider-acts.json"
#define ACTS_FILE_MAX (4u << 20)

/* Write text to path: temp file, fsync, rename, mode 0640. */
static int
write_file(const char *path, const char *text)
{
	char tmp[4200];
	size_t len = strlen(text), off = 0;
	ssize_t n;
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640)) ==
		-1 ||
	    fchmod(fd, 0640) == -1)
		goto fail;
	while (off < len) {
		if ((n = write(fd, text + off, len - off)) == -1) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		off += (size_t)n;
	}
	if (fsync(fd) == -1 || close(fd) == -1) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) == -1)
		goto fail;
	return 0;
fail:
	log_warn("%s", tmp);
	if (fd != -1)
		close(fd);
	unlink(tmp);
	return -1;
}

/*
 * Save the actions whose call is out, before a new call goes (carry_out)
 * and when one ends: killed at any point, the next decider knows what it
 * may not do again. Written only when it changed.
 */
void
decider_save_acts(struct decider *dz)
{
	char *text;

	if (dz->acts_path[0] == '\0')
		return;
	if ((text = acts_format_pending(&dz->eng.acts)) == NULL) {
		dz->acts_save_errors++;
		log_warnx("actions: out of memory: %s not saved",
		    dz->acts_path);
		return;
	}
	if (dz->acts_saved != NULL && strcmp(text, dz->acts_saved) == 0) {
		free(text);
		return;
	}
	if (write_file(dz->acts_path, text) == -1) {
		dz->acts_save_errors++;
		free(text);
		return;
	}
	dz->acts_saves++;
	free(dz->acts_saved);
	dz->acts_saved = text;
}

static void
acts_load(struct decider *dz, uint64_t hold_ms)
{
	char err[256], bad[4200];
	struct stat sb;
	char *buf;
	ssize_t n;
	int fd, got;

	if ((fd = open(dz->acts_path, O_RDONLY | O_CLOEXEC)) == -1) {
		if (errno != ENOENT)
			log_warn("actions: %s", dz->acts_path);
		return;
	}
	if (fstat(fd, &sb) == -1 || sb.st_size > ACTS_FILE_MAX ||
	    (buf = malloc((size_t)sb.st_size + 1)) == NULL) {
		log_warnx("actions: %s: unreadable or over %u bytes",
		    dz->acts_path, ACTS_FILE_MAX);
		close(fd);
		return;
	}
	n = read(fd, buf, (size_t)sb.st_size);
	close(fd);
	got = n == -1 ?
	    -1 :
	    acts_load_pending(&dz->eng.acts, buf, (size_t)n, kw_mono_ns(),
		hold_ms * 1000000ULL, err, sizeof(err));
	free(buf);
	if (got == -1) {
		snprintf(bad, sizeof(bad), "%s.bad", dz->acts_path);
		log_warnx("actions: %s: %s; moved to %s", dz->acts_path,
		    n == -1 ? strerror(errno) : err, bad);
		(void)rename(dz->acts_path, bad);
		return;
	}
	dz->acts_loaded = (uint64_t)got;
	if (got > 0)
		log_warnx(
		    "actions: %d call(s) to Docker were out when the "
		    "decider stopped: not made again; Docker's table settles "
		    "them",
		    got);
}

/* Read the file if there is one; a bad one is kept aside, not lost. */
static void
strikes_load(struct decider *dz)
{
	char err[256], bad[4200];
	struct stat sb;
	char *buf;
	ssize_t n;
	int fd;

	if ((fd = open(dz->strikes_path, O_RDONLY | O_CLOEXEC)) == -1) {
		if (errno != ENOENT)
			log_warn("strikes: %s", dz->strikes_path);
		return;
	}
	if (fstat(fd, &sb) == -1 || sb.st_size > STRIKES_FILE_MAX ||
	    (buf = malloc((size_t)sb.st_size + 1)) == NULL) {
		log_warnx("strikes: %s: unreadable or over %u bytes; starting "
			  "with none",
		    dz->strikes_path, STRIKES_FILE_MAX);
		close(fd);
		return;
	}
	n = read(fd, buf, (size_t)sb.st_size);
	close(fd);
	if (n == -1 ||
	    strikes_parse(&dz->eng.strikes, buf, (size_t)n, err,
		sizeof(err)) == -1) {
		snprintf(bad, sizeof(bad), "%s.bad", dz->strikes_path);
		log_warnx("strikes: %s: %s; moved to %s, starting with none",
		    dz->strikes_path, n == -1 ? strerror(errno) : err, bad);
		if (rename(dz->strikes_path, bad) == -1)
			log_warn("strikes: rename to %s", bad);
	} else
		log_info("strikes: %zu identities from %s", dz->eng.strikes.n,
		    dz->strikes_path);
	free(buf);
}

int
decider_save_strikes(struct decider *dz)
{
	char *text;
	int rc;

	if (dz->strikes_path[0] == '\0' || !dz->eng.strikes.dirty)
		return 0;
	if ((text = strikes_format(&dz->eng.strikes)) == NULL) {
		dz->strikes_save_errors++;
		log_warnx("strikes: out of memory: not saved");
		return -1;
	}
	rc = write_file(dz->strikes_path, text);
	free(text);
	if (rc == -1) {
		dz->strikes_save_errors++;
		return -1;
	}
	dz->eng.strikes.dirty = 0;
	dz->strikes_saves++;
	return 0;
}

/* Everything one step returned, in order. */
static void
carry_out(struct decider *dz, const struct engine_out *out)
{
	struct engine_intent dry;
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
	if (out->has_sys)
		publish(dz, KW_MSG_SYS, KW_SYS_FIELDS, pack_sys, &out->sys);
	for (i = 0; i < out->ncontainers; i++)
		publish(dz, KW_MSG_CONTAINER, KW_CONTAINER_FIELDS,
		    pack_container, &out->containers[i]);
	for (i = 0; i < out->nprocs; i++)
		publish(dz, KW_MSG_PROC, KW_PROC_FIELDS, pack_proc,
		    &out->procs[i]);
	for (i = 0; i < out->ndeletions; i++) {
		dry.action = ACTION_DRY_RUN;
		dry.nano_cpus = 0;
		dry.rec = out->deletions[i];
		/* A dry-run is an action too, for evidence and hooks. */
		if (strcmp(dry.rec.action, action_name(ACTION_DRY_RUN)) == 0)
			decider_act(dz, &dry);
		else
			publish_deletion(dz, &out->deletions[i]);
	}
	for (i = 0; i < out->ndecisions; i++)
		publish(dz, KW_MSG_DECISION, KW_DECISION_FIELDS, pack_decision,
		    &out->decisions[i]);
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
static void
attribute(struct decider *dz, const struct docker_table *table)
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

/* decider.cgroup_parents */
static void
parents_from_conf(struct decider *dz, const struct kw_conf *conf)
{
	dz->nparents = kw_conf_list(conf, "decider.cgroup_parents",
	    dz->parents, ATTR_PARENTS_MAX);
}

static void
on_snapshot(struct decider *dz, const struct kw_msg *msg)
{
	struct engine_docker dv;
	char err[256];

	if (kw_snapshot_unpack(msg->obj, &dz->snap, err, sizeof(err)) == -1) {
		dz->bad_snapshots++;
		log_warnx("reader: snapshot seq %" PRIu64 ": %s", msg->seq,
		    err);
		return;
	}
	if (dz->snap.ts_ns == 0)
		dz->snap.ts_ns = msg->ts_ns;
	dv.connected = dz->docker != NULL && docker_connected(dz->docker);
	dv.table = dz->docker != NULL ? docker_get_table(dz->docker) : NULL;
	attribute(dz, dv.table);
	if (engine_step(&dz->eng, &dz->snap, &dv, kw_mono_ns(), &dz->out) ==
	    -1) {
		log_warnx("snapshot seq %" PRIu64 ": out of memory: skipped",
		    msg->seq);
		return;
	}
	dz->have_snapshot = 1;
	dz->last_seq = msg->seq;
	dz->last_ts_ns = dz->snap.ts_ns;
	dz->last_mono_ns = kw_mono_ns();
	metrics_count_skips(dz->metrics, &dz->eng);
	carry_out(dz, &dz->out);
}

static void
on_msg(void *arg, const struct kw_msg *msg)
{
	struct decider *dz = arg;

	if (msg->type == KW_MSG_SNAPSHOT)
		on_snapshot(dz, msg);
}

static void
on_event(void *arg, enum kw_sub_event ev, uint64_t from, uint64_t to)
{
	struct decider *dz = arg;

	if (ev == KW_SUB_GAP && to >= from)
		dz->reader_gaps += to - from + 1;
}

/* Signals. */

static void
on_reload(struct kw_daemon *d)
{
	struct decider *dz = d->arg;
	struct kw_conf *conf;
	struct policy p;
	char err[512];

	if ((conf = kw_conf_reload(d->conf, err, sizeof(err))) == NULL) {
		log_warnx("reload: %s; keeping the old config", err);
		return;
	}
	if (policy_from_conf(conf, &p, err, sizeof(err)) == -1) {
		log_warnx("reload: %s; keeping the old config", err);
		kw_conf_free(conf);
		return;
	}
	if (strcmp(kw_conf_str(conf, "decider.docker_socket"),
		kw_conf_str(d->conf, "decider.docker_socket")) != 0 ||
	    kw_conf_ms(conf, "decider.docker_timeout") !=
		kw_conf_ms(d->conf, "decider.docker_timeout"))
		log_warnx("reload: decider.docker_socket and docker_timeout "
			  "take effect on restart");
	if (strcmp(kw_conf_str(conf, "metrics.listen"),
		kw_conf_str(d->conf, "metrics.listen")) != 0)
		log_warnx("reload: metrics.listen takes effect on restart");
	kw_conf_free(d->conf);
	d->conf = conf;
	engine_set_policy(&dz->eng, &p);
	if (dz->docker != NULL)
		docker_set_stop_timeout(dz->docker, p.stop_timeout_ms);
	dz->eng.top_k = (size_t)kw_conf_int(conf, "decider.top_k");
	parents_from_conf(dz, conf);
	dz->reloads++;
	policy_log(&dz->eng.policy);
	publish_policy(dz, conf, "reload");
}

static void
stop_timer_closed(uv_handle_t *h)
{
	(void)h;
}

/* The stream goes last: once the recorder has what it must keep. */
static void
close_stream(struct decider *dz)
{
	if (dz->pub != NULL)
		kw_pub_close(dz->pub);
	dz->pub = NULL;
}

static void
on_stop_tick(uv_timer_t *t)
{
	struct decider *dz = t->data;
	struct kw_pub_stats ps;

	kw_pub_stats(dz->pub, &ps);
	if (ps.acked_seq >= ps.seq)
		log_info("stop: the recorder acked seq %" PRIu64,
		    ps.acked_seq);
	else if (kw_mono_ns() >= dz->stop_deadline_ns)
		log_warnx("stop: the recorder acked seq %" PRIu64
			  " of %" PRIu64 " in time; the rest is not recorded",
		    ps.acked_seq, ps.seq);
	else
		return;
	uv_close((uv_handle_t *)t, stop_timer_closed);
	close_stream(dz);
}

static void
on_stop(struct kw_daemon *d)
{
	struct decider *dz = d->arg;
	struct kw_pub_stats ps;
	uint64_t wait_ms;

	/*
	 * First, while the stream is up: a cancelled action publishes its
	 * row ("unknown: cancelled at shutdown").
	 */
	if (dz->docker != NULL)
		docker_close(dz->docker);
	dz->docker = NULL;
	hooks_close(dz->hooks);
	dz->hooks = NULL;
	if (dz->sub != NULL)
		kw_sub_close(dz->sub);
	if (dz->ctl != NULL)
		kw_ctl_close(dz->ctl);
	metrics_close(dz->metrics);
	dz->sub = NULL;
	dz->ctl = NULL;
	dz->metrics = NULL;
	if (dz->pub == NULL)
		return;
	/* The epoch's last message: the recorder knows nothing follows. */
	publish(dz, KW_MSG_END, 0, pack_nothing, NULL);

	/*
	 * A durable consumer (one that has acked) gets up to stop_ack_wait
	 * to ack the last seq, so a planned stop loses nothing.
	 */
	kw_pub_stats(dz->pub, &ps);
	wait_ms = kw_conf_ms(d->conf, "decider.stop_ack_wait");
	if (ps.acked_seq == 0 || ps.acked_seq >= ps.seq || wait_ms == 0) {
		log_info("stop: published seq %" PRIu64 ", the recorder acked "
			 "%" PRIu64 "%s",
		    ps.seq, ps.acked_seq,
		    ps.acked_seq == 0 ? " (no durable consumer)" : "");
		close_stream(dz);
		return;
	}
	log_info("stop: waiting up to %" PRIu64 " ms for the recorder to ack "
		 "seq %" PRIu64 " (acked %" PRIu64 ")",
	    wait_ms, ps.seq, ps.acked_seq);
	dz->stop_deadline_ns = kw_mono_ns() + wait_ms * 1000000ULL;
	uv_timer_init(d->loop, &dz->stop_timer);
	dz->stop_timer.data = dz;
	uv_timer_start(&dz->stop_timer, on_stop_tick, 20, 20);
}

static void
decider_free(struct decider *dz)
{
	evidence_store_free(dz->evid);
	(void)decider_save_strikes(dz);
	free(dz->acts_saved);
	engine_free(&dz->eng);
	engine_out_free(&dz->out);
	attr_result_free(&dz->attr);
	kw_snapshot_free(&dz->snap);
	free(dz);
}

int
main(int argc, char **argv)
{
	struct decider *dz;
	struct kw_pub_opts opts;
	struct kw_sub_cb cb;
	struct policy policy;
	uint64_t settle_ms;
	uv_loop_t loop;
	char path[4096], err[512];
	int mode, rc;

	/*
	 * A fixed mmap threshold: a block over 128 KiB (the stream's buffers,
	 * the rate table) is mapped and unmapped, so its pages go back when
	 * freed; glibc's sliding threshold would move it up to the largest
	 * block freed and keep those in the heap.
	 */
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	/*
	 * One arena: the loop thread allocates nearly all (the other
	 * threads little), and every arena keeps its own free blocks.
	 */
	mallopt(M_ARENA_MAX, 1);
	if ((dz = calloc(1, sizeof(*dz))) == NULL) {
		fprintf(stderr, "kwarden-decider: out of memory\n");
		return 1;
	}
	if ((rc = uv_loop_init(&loop)) != 0) {
		fprintf(stderr, "kwarden-decider: uv_loop_init: %s\n",
		    uv_strerror(rc));
		free(dz);
		return 1;
	}
	kw_daemon_init(&dz->d, &loop, argc, argv, "decider", NULL);
	dz->d.arg = dz;
	dz->d.on_stop = on_stop;
	dz->d.on_reload = on_reload;

	if (policy_from_conf(dz->d.conf, &policy, err, sizeof(err)) == -1) {
		log_warnx("config: %s", err);
		exit(2);
	}
	policy_log(&policy);
	settle_ms = kw_conf_ms(dz->d.conf, "decider.docker_timeout") * 3;
	if (settle_ms < SETTLE_MIN_MS)
		settle_ms = SETTLE_MIN_MS;
	engine_init(&dz->eng, &policy, settle_ms * 1000000ULL,
	    (size_t)kw_conf_int(dz->d.conf, "decider.top_k"));
	engine_out_init(&dz->out);
	kw_snapshot_init(&dz->snap);
	parents_from_conf(dz, dz->d.conf);
	strikes_path(dz->d.conf, dz->strikes_path, sizeof(dz->strikes_path));
	strikes_load(dz);
	if (dz->strikes_path[0] != '\0') {
		char db[4096];

		snprintf(db, sizeof(db), "%s",
		    kw_conf_str(dz->d.conf, "paths.database"));
		snprintf(dz->acts_path, sizeof(dz->acts_path), "%s/%s",
		    dirname(db), ACTS_FILE);
		acts_load(dz,
		    policy.stop_timeout_ms +
			kw_conf_ms(dz->d.conf, "decider.docker_timeout"));
	}
	mode = (int)kw_conf_int(dz->d.conf, "paths.socket_mode");

	memset(&opts, 0, sizeof(opts));
	opts.ring_bytes =
	    (size_t)kw_conf_size(dz->d.conf, "decider.ring_size");
	opts.bound_acked = 1;
	opts.acked_bytes =
	    (size_t)kw_conf_size(dz->d.conf, "decider.ring_acked");
	opts.mode = mode;
	kw_conf_sock_path(dz->d.conf, "decider", ".sock", path, sizeof(path));
	if ((dz->pub = kw_pub_new(&loop, path, "decider", &opts)) == NULL)
		fatalx("%s: cannot set up the stream socket", path);
	if (kw_pub_start(dz->pub) == -1)
		fatalx("%s: cannot listen", path);
	publish_policy(dz, dz->d.conf, "start");

	kw_conf_sock_path(dz->d.conf, "decider", ".ctl", path, sizeof(path));
	if ((dz->ctl = kw_ctl_new(&loop, path, decider_ctl_cmds, dz, mode)) ==
	    NULL)
		fatalx("%s: cannot set up the control socket", path);
	if (kw_ctl_start(dz->ctl) == -1)
		fatalx("%s: cannot listen", path);

	memset(&cb, 0, sizeof(cb));
	cb.on_msg = on_msg;
	cb.on_event = on_event;
	cb.arg = dz;
	kw_conf_sock_path(dz->d.conf, "reader", ".sock", path, sizeof(path));
	if ((dz->sub = kw_sub_new(&loop, path, "reader", 0, &cb)) == NULL)
		fatalx("%s: cannot set up the reader connection", path);
	kw_sub_start(dz->sub);

	if ((rc = (int)curl_global_init(CURL_GLOBAL_ALL)) != 0)
		fatalx("curl_global_init: %s", curl_easy_strerror(rc));
	dz->docker =
	    docker_new(&loop, kw_conf_str(dz->d.conf, "decider.docker_socket"),
		kw_conf_ms(dz->d.conf, "decider.docker_timeout"));
	if (dz->docker == NULL)
		fatalx("docker: cannot set up the API client");
	docker_set_stop_timeout(dz->docker, policy.stop_timeout_ms);
	docker_start(dz->docker);
	hooks_from_conf(dz);

	if ((dz->metrics = metrics_new(&loop, dz, err, sizeof(err))) == NULL) {
		log_warnx("config: metrics.listen: %s", err);
		exit(2);
	}

	kw_daemon_ready(&dz->d);
	rc = kw_daemon_run(&dz->d);
	decider_free(dz);
	curl_global_cleanup();
	return rc;
}
