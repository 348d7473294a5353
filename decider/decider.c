/*
 * kwarden-decider: reads snapshots from the reader, turns them into CPU
 * rates, containers and policy decisions, and publishes sys, container,
 * proc and deletion records for the recorder. Loop wiring and the control
 * socket live here; the decisions themselves are in rates.c, containers.c
 * and policy.c; the Docker client in docker.c. Real actions (remove, stop,
 * kill) are calls to Docker whose deletion record is published when the
 * call ends; dry-run records at once.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "kwarden.h"
#include "decider.h"

/*
 * An action sent with no answer is settled by what Docker says: gone or
 * stopped is done; still running this long after is a failure (retried).
 */
#define SETTLE_MIN_MS	60000

struct decider {
	struct kw_daemon	 d;
	struct kw_sub		*sub;
	struct kw_pub		*pub;
	struct kw_ctl		*ctl;
	struct docker		*docker;
	struct policy		 policy;

	struct rates		 rates;
	struct kw_snapshot	 snap;
	double			*proc_cpu;	/* [snap.nprocs] */
	size_t			*order;		/* [snap.nprocs] */
	unsigned char		*picked;	/* [snap.nprocs] */
	size_t			 proc_cap;
	double			 machine_cpu;

	struct container_set	 set;
	struct act_table	 acts;		/* by id, across samples */
	struct act_entry	**cur;		/* [set.n]: entries in acts */
	uint64_t		 settle_ns;
	struct policy_cand	*cand;		/* [set.n] */
	struct policy_decision	*dec;
	size_t			*class_of;
	size_t			 cont_cap;
	struct kw_proc_rec	 prec;		/* big: off the stack */

	uint64_t		 samples;
	uint64_t		 bad_snapshots;
	uint64_t		 last_seq;
	uint64_t		 last_ts_ns;
	uint64_t		 last_mono_ns;
	uint64_t		 taken;
	uint64_t		 skipped;
	uint64_t		 reader_gaps;
	uint64_t		 reloads;
	uint64_t		 dry_runs;
	int			 have_snapshot;
};

/* An action out to Docker: its record is published when it ends. */
struct pending_action {
	struct decider		*dz;
	struct kw_deletion_rec	 rec;
};

/*
 * The policy from the config. -1 with err when it does not fit
 * (too many classes or patterns) or does not make sense.
 */
static int
policy_from_conf(const struct kw_conf *conf, struct policy *p, char *err,
    size_t errlen)
{
	struct policy_class *c;
	char key[128];
	size_t i, j, n;

	memset(p, 0, sizeof(*p));
	p->cpu_threshold = kw_conf_num(conf, "policy.cpu_threshold");
	p->mem_threshold = kw_conf_num(conf, "policy.mem_threshold");
	p->window_ms = kw_conf_ms(conf, "policy.window");
	snprintf(p->action, sizeof(p->action), "%s",
	    kw_conf_str(conf, "policy.action"));
	n = kw_conf_list(conf, "policy.protect", p->protect,
	    POLICY_PROTECT_MAX);
	if (n > POLICY_PROTECT_MAX) {
		snprintf(err, errlen, "policy.protect: %zu patterns, at most "
		    "%d", n, POLICY_PROTECT_MAX);
		return -1;
	}
	p->nprotect = n;

	n = kw_conf_class_count(conf);
	if (n > POLICY_CLASS_MAX) {
		snprintf(err, errlen, "%zu [class.*] sections, at most %d", n,
		    POLICY_CLASS_MAX);
		return -1;
	}
	for (i = 0; i < n; i++) {
		c = &p->classes[p->nclasses++];
		snprintf(c->name, sizeof(c->name), "%s",
		    kw_conf_class_name(conf, i));
		snprintf(key, sizeof(key), "class.%s.match", c->name);
		c->nmatch = kw_conf_list(conf, key, c->match,
		    POLICY_MATCH_MAX);
		if (c->nmatch > POLICY_MATCH_MAX) {
			snprintf(err, errlen, "%s: %zu patterns, at most %d",
			    key, c->nmatch, POLICY_MATCH_MAX);
			return -1;
		}
		for (j = 0; j < c->nmatch; j++)
			if (strcmp(c->match[j], "*") == 0)
				c->wildcard = 1;
		snprintf(key, sizeof(key), "class.%s.min_alive", c->name);
		c->min_alive = (uint32_t)kw_conf_int(conf, key);
	}
	return policy_check(p, err, errlen);
}

static void
policy_log(const struct policy *p)
{
	char buf[512];
	size_t i, off = 0;

	for (i = 0; i < p->nclasses && off < sizeof(buf); i++)
		off += (size_t)snprintf(buf + off, sizeof(buf) - off,
		    "%s%s (min %u)", i ? ", " : "", p->classes[i].name,
		    p->classes[i].min_alive);
	log_info("policy: cpu > %.1f%%, mem > %.1f%%, window %" PRIu64
	    " ms, action %s, classes: %s",
	    p->cpu_threshold, p->mem_threshold, p->window_ms, p->action,
	    p->nclasses ? buf : "none");
}

/* Grow the per-process arrays to the snapshot. */
static int
grow_procs(struct decider *dz, size_t n)
{
	size_t cap = dz->proc_cap ? dz->proc_cap : 256;
	double *pc;
	size_t *ord;
	unsigned char *pk;

	if (n <= dz->proc_cap)
		return 0;
	while (cap < n)
		cap *= 2;
	if ((pc = realloc(dz->proc_cpu, cap * sizeof(*pc))) == NULL)
		return -1;
	dz->proc_cpu = pc;
	if ((ord = realloc(dz->order, cap * sizeof(*ord))) == NULL)
		return -1;
	dz->order = ord;
	if ((pk = realloc(dz->picked, cap * sizeof(*pk))) == NULL)
		return -1;
	dz->picked = pk;
	dz->proc_cap = cap;
	return 0;
}

/* Grow the per-container arrays to the set (cs is rebuilt separately). */
static int
grow_containers(struct decider *dz, size_t n)
{
	size_t cap = dz->cont_cap ? dz->cont_cap : 32;
	struct policy_cand *cand;
	struct policy_decision *dec;
	struct act_entry **cur;
	size_t *cls;

	if (n <= dz->cont_cap)
		return 0;
	while (cap < n)
		cap *= 2;
	if ((cand = realloc(dz->cand, cap * sizeof(*cand))) == NULL)
		return -1;
	dz->cand = cand;
	if ((dec = realloc(dz->dec, cap * sizeof(*dec))) == NULL)
		return -1;
	dz->dec = dec;
	if ((cls = realloc(dz->class_of, cap * sizeof(*cls))) == NULL)
		return -1;
	dz->class_of = cls;
	if ((cur = realloc(dz->cur, cap * sizeof(*cur))) == NULL)
		return -1;
	dz->cur = cur;
	dz->cont_cap = cap;
	return 0;
}

static int
docker_knows(void *arg, const char *id)
{
	struct decider *dz = arg;

	return dz->docker != NULL && docker_peek(dz->docker, id) != NULL;
}

static void
act_gone(void *arg, const struct act_entry *e)
{
	if (e->state == ACT_NONE)
		return;
	log_info("container %.12s is gone (%s%s)", e->container_id,
	    strcmp(e->action, "dry-run") == 0 ? "acted on in " : "after ",
	    e->action);
}

/*
 * The bookkeeping for the new container set: an entry per container
 * (kept from earlier samples), then entries gone long enough forgotten,
 * then dz->cur[] pointing at each container's entry.
 */
static int
acts_rebuild(struct decider *dz)
{
	size_t i;

	dz->acts.gen++;
	for (i = 0; i < dz->set.n; i++)
		if (acts_get(&dz->acts, dz->set.c[i].container_id) == NULL)
			return -1;
	acts_sweep(&dz->acts, docker_knows, act_gone, dz);
	for (i = 0; i < dz->set.n; i++)
		dz->cur[i] = acts_find(&dz->acts, dz->set.c[i].container_id);
	return 0;
}

static int
cmp_cpu(const void *a, const void *b, void *arg)
{
	const struct decider *dz = arg;
	size_t ia = *(const size_t *)a, ib = *(const size_t *)b;

	if (dz->proc_cpu[ia] != dz->proc_cpu[ib])
		return dz->proc_cpu[ia] > dz->proc_cpu[ib] ? -1 : 1;
	return dz->snap.procs[ia].pid < dz->snap.procs[ib].pid ? -1 : 1;
}

static int
cmp_rss(const void *a, const void *b, void *arg)
{
	const struct decider *dz = arg;
	const struct kw_proc *pa = &dz->snap.procs[*(const size_t *)a];
	const struct kw_proc *pb = &dz->snap.procs[*(const size_t *)b];

	if (pa->rss_kb != pb->rss_kb)
		return pa->rss_kb > pb->rss_kb ? -1 : 1;
	return pa->pid < pb->pid ? -1 : 1;
}

static double
proc_mem_pct(const struct kw_snapshot *snap, const struct kw_proc *p)
{
	if (snap->host.mem_total_kb == 0)
		return 0.0;
	return (double)p->rss_kb * 100.0 / (double)snap->host.mem_total_kb;
}

static void
publish_proc(struct decider *dz, size_t i)
{
	const struct kw_proc *p = &dz->snap.procs[i];
	struct kw_proc_rec *r = &dz->prec;
	msgpack_packer *pk;

	r->pid = p->pid;
	snprintf(r->name, sizeof(r->name), "%s", p->name);
	snprintf(r->cmdline, sizeof(r->cmdline), "%s",
	    p->cmdline ? p->cmdline : "");
	snprintf(r->container_id, sizeof(r->container_id), "%s",
	    p->container_id);
	r->cpu_pct = dz->proc_cpu[i];
	r->mem_pct = proc_mem_pct(&dz->snap, p);
	r->rss_kb = p->rss_kb;
	if ((pk = kw_pub_begin(dz->pub, KW_MSG_PROC, KW_PROC_FIELDS)) == NULL)
		return;
	kw_proc_rec_pack(pk, r);
	kw_pub_commit(dz->pub);
}

/* The top K by CPU, then the top K by memory not already sent. */
static void
publish_top(struct decider *dz)
{
	size_t n = dz->snap.nprocs, k, i;

	k = (size_t)kw_conf_int(dz->d.conf, "decider.top_k");
	if (k > n)
		k = n;
	if (k == 0)
		return;
	memset(dz->picked, 0, n);
	for (i = 0; i < n; i++)
		dz->order[i] = i;
	qsort_r(dz->order, n, sizeof(dz->order[0]), cmp_cpu, dz);
	for (i = 0; i < k; i++) {
		dz->picked[dz->order[i]] = 1;
		publish_proc(dz, dz->order[i]);
	}
	qsort_r(dz->order, n, sizeof(dz->order[0]), cmp_rss, dz);
	for (i = 0; i < k; i++)
		if (!dz->picked[dz->order[i]]) {
			dz->picked[dz->order[i]] = 1;
			publish_proc(dz, dz->order[i]);
		}
}

static void
publish_sys(struct decider *dz)
{
	struct kw_sys_rec r;
	msgpack_packer *pk;

	memset(&r, 0, sizeof(r));
	r.mem_total_kb = dz->snap.host.mem_total_kb;
	r.mem_free_kb = dz->snap.host.mem_free_kb;
	r.mem_used_kb = dz->snap.host.mem_used_kb;
	r.mem_available_kb = dz->snap.host.mem_available_kb;
	r.cpu_pct = dz->machine_cpu;
	r.nprocs = dz->snap.nprocs;
	if ((pk = kw_pub_begin(dz->pub, KW_MSG_SYS, KW_SYS_FIELDS)) == NULL)
		return;
	kw_sys_pack(pk, &r);
	kw_pub_commit(dz->pub);
}

/* A name and an image into a record's fields, cut to fit. */
static void
cut_names(char *name, size_t name_len, char *image, size_t image_len,
    const char *src_name, const char *src_image)
{
	snprintf(name, name_len, "%.*s", (int)name_len - 1, src_name);
	snprintf(image, image_len, "%.*s", (int)image_len - 1, src_image);
}

static void
publish_containers(struct decider *dz)
{
	struct kw_container_rec r;
	const struct container *c;
	msgpack_packer *pk;
	size_t i;

	for (i = 0; i < dz->set.n; i++) {
		c = &dz->set.c[i];
		memset(&r, 0, sizeof(r));
		memcpy(r.container_id, c->container_id,
		    sizeof(r.container_id));
		cut_names(r.name, sizeof(r.name), r.image, sizeof(r.image),
		    c->name, c->image);
		snprintf(r.class_name, sizeof(r.class_name), "%s",
		    policy_class_name(&dz->policy, dz->class_of[i]));
		r.pid = c->pid;
		r.nprocs = c->nprocs;
		r.cpu_pct = c->cpu_pct;
		r.mem_pct = c->mem_pct;
		r.rss_kb = c->rss_kb;
		pk = kw_pub_begin(dz->pub, KW_MSG_CONTAINER,
		    KW_CONTAINER_FIELDS);
		if (pk == NULL)
			return;
		kw_container_pack(pk, &r);
		kw_pub_commit(dz->pub);
	}
}

/* The record of a decision taken, result still to come. */
static void
deletion_rec(struct decider *dz, const struct policy_decision *d,
    struct kw_deletion_rec *r)
{
	const struct container *c = &dz->set.c[d->cand];

	memset(r, 0, sizeof(*r));
	memcpy(r->container_id, c->container_id, sizeof(r->container_id));
	cut_names(r->name, sizeof(r->name), r->image, sizeof(r->image),
	    c->name, c->image);
	snprintf(r->class_name, sizeof(r->class_name), "%s",
	    policy_class_name(&dz->policy, d->class_idx));
	snprintf(r->action, sizeof(r->action), "%s", dz->policy.action);
	snprintf(r->reason, sizeof(r->reason), "%s", d->reason);
	r->cpu_pct = c->cpu_pct;
	r->mem_pct = c->mem_pct;
}

static void
publish_deletion(struct decider *dz, const struct kw_deletion_rec *r)
{
	msgpack_packer *pk;

	if (dz->pub == NULL || (pk = kw_pub_begin(dz->pub, KW_MSG_DELETION,
	    KW_DELETION_FIELDS)) == NULL)
		return;
	kw_deletion_pack(pk, r);
	kw_pub_commit(dz->pub);
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
	struct act_entry *s;

	s = acts_find(&dz->acts, r->container_id);
	switch (outcome) {
	case DOCKER_ACT_CANCELLED:
		log_info("container %.12s: %s: %s", r->container_id,
		    r->action, result);
		snprintf(r->result, sizeof(r->result), "unknown: cancelled "
		    "at shutdown");
		break;
	case DOCKER_ACT_OK:
		log_info("container %.12s%s%s: %s: ok", r->container_id,
		    r->name[0] ? " " : "", r->name, r->action);
		snprintf(r->result, sizeof(r->result), "%s", result);
		break;
	case DOCKER_ACT_UNKNOWN:
		log_warnx("container %.12s%s%s: %s: %s", r->container_id,
		    r->name[0] ? " " : "", r->name, r->action, result);
		snprintf(r->result, sizeof(r->result), "%s", result);
		if (dz->docker != NULL)
			docker_refresh(dz->docker, r->container_id);
		break;
	case DOCKER_ACT_FAILED:
		log_warnx("container %.12s%s%s: %s failed: %s",
		    r->container_id, r->name[0] ? " " : "", r->name,
		    r->action, result);
		snprintf(r->result, sizeof(r->result), "%s", result);
		break;
	}
	if (s != NULL)
		acts_on_result(s, outcome, result, kw_mono_ns());
	publish_deletion(dz, r);
	free(pa);
}

/*
 * Each sample, what Docker's table says of every action whose outcome is
 * unknown (and of stopped or killed containers started again). A settled
 * one gets a second deletion row, with the result now known.
 */
static void
settle_acts(struct decider *dz)
{
	const struct docker_ctr *dc;
	struct act_entry *e;
	struct kw_deletion_rec r;
	enum act_docker_view view;
	char result[200];
	size_t i;

	for (i = 0; i < dz->acts.n; i++) {
		e = &dz->acts.e[i];
		if (e->state != ACT_UNKNOWN && e->state != ACT_DONE)
			continue;
		dc = NULL;
		if (dz->docker == NULL || !docker_connected(dz->docker))
			view = ACT_VIEW_NONE;
		else if ((dc = docker_peek(dz->docker, e->container_id)) ==
		    NULL)
			view = ACT_VIEW_GONE;
		else if (strcmp(dc->state, "running") == 0 ||
		    strcmp(dc->state, "paused") == 0 || dc->state[0] == '\0')
			view = ACT_VIEW_RUNNING;
		else
			view = ACT_VIEW_STOPPED;
		if (e->state == ACT_DONE && view == ACT_VIEW_RUNNING &&
		    dc != NULL && dc->starts != e->starts_at_act)
			log_info("container %.12s started again after %s",
			    e->container_id, e->action);
		if (acts_settle(e, view, dc != NULL ? dc->starts : 0,
		    kw_mono_ns(), dz->settle_ns, result, sizeof(result)) !=
		    1)
			continue;
		log_info("container %.12s: %s: %s", e->container_id,
		    e->action, result);
		memset(&r, 0, sizeof(r));
		memcpy(r.container_id, e->container_id,
		    sizeof(r.container_id));
		cut_names(r.name, sizeof(r.name), r.image, sizeof(r.image),
		    e->name, e->image);
		snprintf(r.class_name, sizeof(r.class_name), "%s",
		    e->last_class);
		snprintf(r.action, sizeof(r.action), "%s", e->action);
		snprintf(r.reason, sizeof(r.reason), "settled: the call had "
		    "no answer");
		snprintf(r.result, sizeof(r.result), "%s", result);
		publish_deletion(dz, &r);
	}
}

/* Take a decision: dry-run records now, the others ask Docker. */
static void
act(struct decider *dz, const struct policy_decision *d)
{
	struct act_entry *s = dz->cur[d->cand];
	const struct docker_ctr *dc;
	struct pending_action *pa;

	snprintf(s->action, sizeof(s->action), "%s", dz->policy.action);
	snprintf(s->name, sizeof(s->name), "%s", dz->set.c[d->cand].name);
	snprintf(s->image, sizeof(s->image), "%s", dz->set.c[d->cand].image);
	if (strcmp(dz->policy.action, "dry-run") == 0) {
		struct kw_deletion_rec r;

		/* From now on it counts as gone for min_alive. */
		s->state = ACT_DONE;
		dz->dry_runs++;
		deletion_rec(dz, d, &r);
		snprintf(r.result, sizeof(r.result), "ok");
		publish_deletion(dz, &r);
		return;
	}
	if ((pa = calloc(1, sizeof(*pa))) == NULL) {
		log_warnx("container %.12s: out of memory: not acted on",
		    s->container_id);
		return;
	}
	pa->dz = dz;
	deletion_rec(dz, d, &pa->rec);
	if (dz->docker == NULL || docker_act(dz->docker, s->container_id,
	    dz->policy.action, on_action_done, pa) == -1) {
		on_action_done(pa, DOCKER_ACT_FAILED,
		    "cannot start the API call");
		return;
	}
	dc = docker_peek(dz->docker, s->container_id);
	s->starts_at_act = dc != NULL ? dc->starts : 0;
	s->state = ACT_IN_FLIGHT;
}

/* Log taken decisions always; a skip only when it changes. */
static void
log_decision(struct decider *dz, const struct policy_decision *d)
{
	const struct container *c = &dz->set.c[d->cand];
	struct act_entry *s = dz->cur[d->cand];
	const char *cls = policy_class_name(&dz->policy, d->class_idx);

	s->seen = 1;
	if (d->verdict == POLICY_TAKEN) {
		log_info("container %.12s%s%s (class %s): %s: %s",
		    c->container_id, c->name[0] ? " " : "", c->name, cls,
		    dz->policy.action, d->reason);
		/* Its "already being acted on" next round says nothing new. */
		s->logged = 1;
		s->last_verdict = POLICY_SKIP_ACTED;
		snprintf(s->last_class, sizeof(s->last_class), "%s", cls);
		return;
	}
	if (s->logged && s->last_verdict == d->verdict &&
	    strcmp(s->last_class, cls) == 0)
		return;
	log_info("container %.12s%s%s (class %s): %s: skipped: %s",
	    c->container_id, c->name[0] ? " " : "", c->name, cls, d->over,
	    d->reason);
	s->logged = 1;
	s->last_verdict = d->verdict;
	snprintf(s->last_class, sizeof(s->last_class), "%s", cls);
}

/*
 * Why a container cannot be acted on now, or NULL. Dry-run touches
 * nothing, so it holds nothing back; a real action needs Docker to know
 * the container (a cgroup named like Docker's is not enough).
 */
static const char *
hold_reason(struct decider *dz, size_t i)
{
	struct act_entry *s = dz->cur[i];
	uint64_t now;

	if (strcmp(dz->policy.action, "dry-run") == 0)
		return NULL;
	if (dz->docker == NULL || !docker_connected(dz->docker))
		return "Docker unreachable";
	if (s->docker_state[0] == '\0')
		return "unknown to Docker";
	if (s->retry_mono_ns != 0 && (now = kw_mono_ns()) <
	    s->retry_mono_ns) {
		snprintf(s->hold, sizeof(s->hold), "retry in %.0f s after: "
		    "%.180s", (double)(s->retry_mono_ns - now) / 1e9 + 0.5,
		    s->last_error);
		return s->hold;
	}
	return NULL;
}

/*
 * Docker has not named it (not in its table yet, or another engine's):
 * for a real action it is in class none, counted in no class's alive
 * and never taken. Dry-run touches nothing and classifies it anyway, so
 * a host without Docker still shows what would be done.
 */
static int
unnamed(struct decider *dz, size_t i)
{
	return strcmp(dz->policy.action, "dry-run") != 0 &&
	    dz->cur[i]->docker_state[0] == '\0';
}

/* The class the policy gives container i (what decide() does). */
static size_t
class_of(struct decider *dz, size_t i)
{
	const struct container *c = &dz->set.c[i];

	if (unnamed(dz, i))
		return POLICY_CLASS_NONE;
	return policy_classify(&dz->policy, c->name, c->image,
	    c->label_class);
}

/* Names, images, labels and state from Docker's table. */
static void
enrich(struct decider *dz)
{
	const struct docker_ctr *dc;
	struct container *c;
	size_t i;

	for (i = 0; i < dz->set.n; i++) {
		c = &dz->set.c[i];
		dz->cur[i]->docker_state[0] = '\0';
		if (dz->docker == NULL || (dc = docker_lookup(dz->docker,
		    c->container_id)) == NULL)
			continue;
		snprintf(c->name, sizeof(c->name), "%s", dc->name);
		snprintf(c->image, sizeof(c->image), "%s", dc->image);
		snprintf(c->label_class, sizeof(c->label_class), "%s",
		    dc->label_class);
		snprintf(dz->cur[i]->docker_state,
		    sizeof(dz->cur[i]->docker_state), "%s",
		    dc->state[0] ? dc->state : "running");
	}
}

static void
decide(struct decider *dz)
{
	struct policy_result res;
	const struct policy_decision *d;
	size_t i;

	for (i = 0; i < dz->set.n; i++) {
		dz->cand[i].container_id = dz->set.c[i].container_id;
		dz->cand[i].name = dz->set.c[i].name;
		dz->cand[i].image = dz->set.c[i].image;
		dz->cand[i].label_class = dz->set.c[i].label_class;
		dz->cand[i].cpu_pct = dz->set.c[i].cpu_pct;
		dz->cand[i].mem_pct = dz->set.c[i].mem_pct;
		dz->cand[i].acted = dz->cur[i]->state != ACT_NONE;
		dz->cand[i].unknown = unnamed(dz, i);
		dz->cand[i].hold = hold_reason(dz, i);
		dz->cur[i]->seen = 0;
	}
	memset(&res, 0, sizeof(res));
	res.class_of = dz->class_of;
	res.dec = dz->dec;
	policy_decide(&dz->policy, dz->cand, dz->set.n, &res);

	publish_sys(dz);
	publish_containers(dz);
	publish_top(dz);
	for (i = 0; i < res.ndec; i++) {
		d = &res.dec[i];
		log_decision(dz, d);
		if (d->verdict == POLICY_TAKEN)
			act(dz, d);
	}
	for (i = 0; i < dz->set.n; i++)
		if (!dz->cur[i]->seen && dz->cur[i]->logged) {
			log_info("container %.12s: back under the thresholds",
			    dz->set.c[i].container_id);
			dz->cur[i]->logged = 0;
		}
	dz->taken += res.taken;
	dz->skipped += res.skipped;
}

static void
on_snapshot(struct decider *dz, const struct kw_msg *msg)
{
	char err[256];

	if (kw_snapshot_unpack(msg->obj, &dz->snap, err, sizeof(err)) == -1) {
		dz->bad_snapshots++;
		log_warnx("reader: snapshot seq %" PRIu64 ": %s", msg->seq,
		    err);
		return;
	}
	if (dz->snap.ts_ns == 0)
		dz->snap.ts_ns = msg->ts_ns;
	if (grow_procs(dz, dz->snap.nprocs) == -1 ||
	    rates_update(&dz->rates, &dz->snap, dz->proc_cpu,
	    &dz->machine_cpu) == -1 ||
	    containers_aggregate(&dz->snap, dz->proc_cpu, &dz->set) == -1 ||
	    grow_containers(dz, dz->set.n ? dz->set.n : 1) == -1 ||
	    acts_rebuild(dz) == -1) {
		/* What was acted on stays (dz->acts): only this sample goes. */
		log_warnx("snapshot seq %" PRIu64 ": out of memory: skipped",
		    msg->seq);
		dz->set.n = 0;
		return;
	}
	dz->samples++;
	dz->have_snapshot = 1;
	dz->last_seq = msg->seq;
	dz->last_ts_ns = dz->snap.ts_ns;
	dz->last_mono_ns = kw_mono_ns();
	enrich(dz);
	settle_acts(dz);
	decide(dz);
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

/* Control socket. */

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
	json_object_set_new(o, "samples", json_u64(dz->samples));
	json_object_set_new(o, "bad_snapshots", json_u64(dz->bad_snapshots));
	json_object_set_new(o, "last_snapshot_seq", json_u64(dz->last_seq));
	json_object_set_new(o, "last_snapshot_ts",
	    json_u64(dz->last_ts_ns / 1000000000ULL));
	json_object_set_new(o, "last_snapshot_age_s", dz->have_snapshot ?
	    json_real((double)(kw_mono_ns() - dz->last_mono_ns) / 1e9) :
	    json_null());

	memset(&ss, 0, sizeof(ss));
	if (dz->sub != NULL)
		kw_sub_stats(dz->sub, &ss);
	r = json_object();
	json_object_set_new(r, "connected", json_boolean(ss.connected));
	json_object_set_new(r, "epoch", json_u64(ss.epoch));
	json_object_set_new(r, "last_seq", json_u64(ss.last_seq));
	json_object_set_new(r, "received", json_u64(ss.received));
	json_object_set_new(r, "gaps", json_u64(ss.gaps));
	json_object_set_new(r, "reconnects", json_u64(ss.reconnects));
	json_object_set_new(r, "last_error", json_string(ss.last_error));
	json_object_set_new(o, "reader", r);

	memset(&ps, 0, sizeof(ps));
	if (dz->pub != NULL)
		kw_pub_stats(dz->pub, &ps);
	p = json_object();
	json_object_set_new(p, "epoch", json_u64(ps.epoch));
	json_object_set_new(p, "seq", json_u64(ps.seq));
	json_object_set_new(p, "oldest_seq", json_u64(ps.oldest_seq));
	json_object_set_new(p, "ring_bytes", json_u64(ps.ring_bytes));
	json_object_set_new(p, "ring_msgs", json_u64(ps.ring_msgs));
	json_object_set_new(p, "clients", json_u64(ps.clients));
	json_object_set_new(p, "clients_cut", json_u64(ps.clients_cut));
	json_object_set_new(p, "clients_bad", json_u64(ps.clients_bad));
	json_object_set_new(p, "acked_seq", json_u64(ps.acked_seq));
	json_object_set_new(p, "bytes_out", json_u64(ps.bytes_out));
	json_object_set_new(o, "pub", p);

	json_object_set_new(o, "decisions_taken", json_u64(dz->taken));
	json_object_set_new(o, "decisions_skipped", json_u64(dz->skipped));
	json_object_set_new(o, "action", json_string(dz->policy.action));
	json_object_set_new(o, "containers", json_u64(dz->set.n));
	json_object_set_new(o, "processes", json_u64(dz->snap.nprocs));
	json_object_set_new(o, "tracked_processes",
	    json_u64(rates_count(&dz->rates)));
	json_object_set_new(o, "cpu_pct", json_real(dz->machine_cpu));
	json_object_set_new(o, "reloads", json_u64(dz->reloads));

	memset(&ds, 0, sizeof(ds));
	if (dz->docker != NULL)
		docker_stats(dz->docker, &ds);
	k = json_object();
	json_object_set_new(k, "state", json_string(ds.connected ?
	    "connected" : "unreachable"));
	json_object_set_new(k, "connected", json_boolean(ds.connected));
	json_object_set_new(k, "socket", json_string(kw_conf_str(dz->d.conf,
	    "decider.docker_socket")));
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
	json_object_set_new(o, "docker", k);
	json_object_set_new(o, "dry_runs", json_u64(dz->dry_runs));
	return o;
}

static json_t *
cmd_config(void *arg, const char *args)
{
	struct decider *dz = arg;

	return kw_conf_json(dz->d.conf);
}

/* "running" (Docker's word), "remove in flight", "removed", ... */
static const char *
container_state(struct decider *dz, const struct act_entry *s, char *buf,
    size_t len)
{
	static const struct {
		const char *action, *done;
	} done[] = {
		{ "remove", "removed" },
		{ "stop", "stopped" },
		{ "kill", "killed" },
		{ "dry-run", "acted (dry-run)" },
	};
	size_t i;

	if (s->state == ACT_IN_FLIGHT) {
		snprintf(buf, len, "%s in flight", s->action);
		return buf;
	}
	if (s->state == ACT_UNKNOWN) {
		snprintf(buf, len, "%s outcome unknown", s->action);
		return buf;
	}
	if (s->state == ACT_DONE)
		for (i = 0; i < sizeof(done) / sizeof(done[0]); i++)
			if (strcmp(s->action, done[i].action) == 0)
				return done[i].done;
	if (s->docker_state[0] != '\0')
		return s->docker_state;
	return dz->docker != NULL && docker_connected(dz->docker) ?
	    "unknown to Docker" : "unknown (Docker unreachable)";
}

/* Classes are worked out again here: the policy may have been reloaded. */
static json_t *
cmd_containers(void *arg, const char *args)
{
	struct decider *dz = arg;
	const struct container *c;
	json_t *o, *a, *e;
	char buf[64];
	size_t i, k;

	a = json_array();
	for (i = 0; i < dz->set.n; i++) {
		c = &dz->set.c[i];
		k = class_of(dz, i);
		e = json_object();
		json_object_set_new(e, "container_id",
		    json_string(c->container_id));
		json_object_set_new(e, "name", json_string(c->name));
		json_object_set_new(e, "image", json_string(c->image));
		json_object_set_new(e, "class",
		    json_string(policy_class_name(&dz->policy, k)));
		json_object_set_new(e, "pid", json_integer(c->pid));
		json_object_set_new(e, "nprocs", json_integer(c->nprocs));
		json_object_set_new(e, "cpu_pct", json_real(c->cpu_pct));
		json_object_set_new(e, "mem_pct", json_real(c->mem_pct));
		json_object_set_new(e, "rss_kb", json_u64(c->rss_kb));
		json_object_set_new(e, "state", json_string(
		    container_state(dz, dz->cur[i], buf, sizeof(buf))));
		json_array_append_new(a, e);
	}
	o = json_object();
	json_object_set_new(o, "containers", a);
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
	const struct policy *p = &dz->policy;
	uint32_t running[POLICY_CLASS_MAX], alive[POLICY_CLASS_MAX];
	json_t *o, *a, *e;
	size_t i, k;

	memset(running, 0, sizeof(running));
	memset(alive, 0, sizeof(alive));
	for (i = 0; i < dz->set.n; i++) {
		k = class_of(dz, i);
		if (k == POLICY_CLASS_NONE)
			continue;
		running[k]++;
		if (dz->cur[i]->state == ACT_NONE)
			alive[k]++;
	}
	o = json_object();
	json_object_set_new(o, "cpu_threshold", json_real(p->cpu_threshold));
	json_object_set_new(o, "mem_threshold", json_real(p->mem_threshold));
	json_object_set_new(o, "window_ms", json_u64(p->window_ms));
	json_object_set_new(o, "action", json_string(p->action));
	json_object_set_new(o, "acting_as", json_string(p->action));
	json_object_set_new(o, "protect", string_array(p->protect,
	    p->nprotect));
	a = json_array();
	for (i = 0; i < p->nclasses; i++) {
		e = json_object();
		json_object_set_new(e, "name",
		    json_string(p->classes[i].name));
		json_object_set_new(e, "match", string_array(
		    p->classes[i].match, p->classes[i].nmatch));
		json_object_set_new(e, "min_alive",
		    json_integer(p->classes[i].min_alive));
		json_object_set_new(e, "alive", json_integer(alive[i]));
		json_object_set_new(e, "running", json_integer(running[i]));
		json_array_append_new(a, e);
	}
	json_object_set_new(o, "classes", a);
	return o;
}

static const struct kw_ctl_cmd ctl_cmds[] = {
	{ "status", "uptime, samples, reader link, stream, decisions",
	    cmd_status },
	{ "config", "the effective configuration", cmd_config },
	{ "containers", "containers with class, CPU %, memory %, state",
	    cmd_containers },
	{ "policy", "thresholds, window, action, protect list, classes",
	    cmd_policy },
	{ NULL, NULL, NULL },
};

/* Signals. */

static void
on_reload(struct kw_daemon *d)
{
	struct decider *dz = d->arg;
	struct kw_conf *conf;
	struct policy p;
	char err[512];
	size_t i;

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
	kw_conf_free(d->conf);
	d->conf = conf;
	/* From dry-run to a real action: what dry-run "did" is undone. */
	if (strcmp(p.action, "dry-run") != 0)
		for (i = 0; i < dz->acts.n; i++)
			if (dz->acts.e[i].state == ACT_DONE &&
			    strcmp(dz->acts.e[i].action, "dry-run") == 0) {
				dz->acts.e[i].state = ACT_NONE;
				dz->acts.e[i].logged = 0;
			}
	dz->policy = p;
	rates_set_window(&dz->rates, p.window_ms * 1000000ULL);
	dz->reloads++;
	policy_log(&dz->policy);
}

static void
on_stop(struct kw_daemon *d)
{
	struct decider *dz = d->arg;

	/*
	 * First, while the stream is up: a cancelled action publishes its
	 * row ("unknown: cancelled at shutdown").
	 */
	if (dz->docker != NULL)
		docker_close(dz->docker);
	dz->docker = NULL;
	if (dz->sub != NULL)
		kw_sub_close(dz->sub);
	if (dz->pub != NULL)
		kw_pub_close(dz->pub);
	if (dz->ctl != NULL)
		kw_ctl_close(dz->ctl);
	dz->sub = NULL;
	dz->pub = NULL;
	dz->ctl = NULL;
}

static void
decider_free(struct decider *dz)
{
	rates_free(&dz->rates);
	kw_snapshot_free(&dz->snap);
	containers_free(&dz->set);
	free(dz->proc_cpu);
	free(dz->order);
	free(dz->picked);
	acts_free(&dz->acts);
	free(dz->cur);
	free(dz->cand);
	free(dz->dec);
	free(dz->class_of);
	free(dz);
}

int
main(int argc, char **argv)
{
	struct decider *dz;
	struct kw_pub_opts opts;
	struct kw_sub_cb cb;
	uv_loop_t loop;
	char path[4096], err[512];
	int mode, rc;

	if ((dz = calloc(1, sizeof(*dz))) == NULL) {
		fprintf(stderr, "kwarden-decider: out of memory\n");
		return 1;
	}
	if ((rc = uv_loop_init(&loop)) != 0) {
		fprintf(stderr, "kwarden-decider: uv_loop_init: %s\n",
		    uv_strerror(rc));
		return 1;
	}
	kw_daemon_init(&dz->d, &loop, argc, argv, "decider", NULL);
	dz->d.arg = dz;
	dz->d.on_stop = on_stop;
	dz->d.on_reload = on_reload;

	if (policy_from_conf(dz->d.conf, &dz->policy, err, sizeof(err)) ==
	    -1) {
		log_warnx("config: %s", err);
		exit(2);
	}
	policy_log(&dz->policy);
	rates_init(&dz->rates, dz->policy.window_ms * 1000000ULL);
	acts_init(&dz->acts);
	dz->settle_ns = kw_conf_ms(dz->d.conf, "decider.docker_timeout") * 3;
	if (dz->settle_ns < SETTLE_MIN_MS)
		dz->settle_ns = SETTLE_MIN_MS;
	dz->settle_ns *= 1000000ULL;
	kw_snapshot_init(&dz->snap);
	containers_init(&dz->set);
	mode = (int)kw_conf_int(dz->d.conf, "paths.socket_mode");

	memset(&opts, 0, sizeof(opts));
	opts.ring_bytes = (size_t)kw_conf_size(dz->d.conf,
	    "decider.ring_size");
	opts.mode = mode;
	kw_conf_sock_path(dz->d.conf, "decider", ".sock", path, sizeof(path));
	if ((dz->pub = kw_pub_new(&loop, path, "decider", &opts)) == NULL)
		fatalx("%s: cannot set up the stream socket", path);
	if (kw_pub_start(dz->pub) == -1)
		fatalx("%s: cannot listen", path);

	kw_conf_sock_path(dz->d.conf, "decider", ".ctl", path, sizeof(path));
	if ((dz->ctl = kw_ctl_new(&loop, path, ctl_cmds, dz, mode)) == NULL)
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
	dz->docker = docker_new(&loop, kw_conf_str(dz->d.conf,
	    "decider.docker_socket"), kw_conf_ms(dz->d.conf,
	    "decider.docker_timeout"));
	if (dz->docker == NULL)
		fatalx("docker: cannot set up the API client");
	docker_start(dz->docker);

	kw_daemon_ready(&dz->d);
	rc = kw_daemon_run(&dz->d);
	decider_free(dz);
	curl_global_cleanup();
	return rc;
}
