/*
 * The decider's sample step as one pure function: a snapshot, Docker's
 * view and the clock in; the records to publish, the calls to make to
 * Docker and the log lines out. The engine keeps what must last between
 * samples (CPU history, what was done to each container); decider.c only
 * carries its outputs out to the sockets, Docker and the log.
 *
 * Decisions written down here:
 * - a step that runs out of memory publishes nothing and forgets only that
 *   sample: what was acted on (the act table) stays;
 * - a container Docker has not named yet is looked up (lookups[]), and is
 *   held for a real action until Docker names it;
 * - an action whose outcome was unknown is settled from Docker's table each
 *   sample, with a second deletion row saying how it ended;
 * - a skip is logged when it changes (verdict or class), a taken decision
 *   always; "back under the thresholds" once when a logged one drops out;
 * - reloading from dry-run to a real action undoes what dry-run "did", so
 *   the containers it counted as gone count as running again;
 * - the ladder (acts.c) holds a candidate while sustain or escalation is
 *   pending: it is skipped with that verdict and counts as alive;
 * - stop, kill and remove are strikes against the container's identity
 *   (throttle is not: a capped container is still there); the strike
 *   that reaches quarantine_after within quarantine_window quarantines
 *   the identity, and the next running container of it is quarantined
 *   (restart policy "no", then stopped) whatever its figures or its
 *   class's min_alive, unless protected; once carried out, nothing more
 *   is done to that identity until it is released;
 * - the decisions table gets the round's candidates only when the set of
 *   candidates or a verdict changed (not when figures or a countdown
 *   moved), at most ENGINE_DECISIONS_MAX rows a round.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decider.h"

static void
copy_str(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src);
}

/* A name and an image into a record's fields, cut to fit. */
static void
cut_names(char *name, size_t name_len, char *image, size_t image_len,
    const char *src_name, const char *src_image)
{
	snprintf(name, name_len, "%.*s", (int)name_len - 1, src_name);
	snprintf(image, image_len, "%.*s", (int)image_len - 1, src_image);
}

/* Grow *arr (of size elements) to hold n; -1 on allocation failure. */
static int
grow(void *arr, size_t *cap, size_t n, size_t size, size_t first)
{
	size_t ncap = *cap ? *cap : first;
	void *p;

	if (n <= *cap)
		return 0;
	while (ncap < n)
		ncap *= 2;
	if ((p = realloc(*(void **)arr, ncap * size)) == NULL)
		return -1;
	*(void **)arr = p;
	*cap = ncap;
	return 0;
}

void
engine_init(struct engine *e, const struct policy *p, uint64_t settle_ns,
    size_t top_k)
{
	memset(e, 0, sizeof(*e));
	e->policy = *p;
	e->settle_ns = settle_ns;
	e->top_k = top_k;
	rates_init(&e->rates, p->window_ms * 1000000ULL);
	rates_set_interval(&e->rates, p->interval_ms * 1000000ULL);
	cgroup_rates_init(&e->cgrates);
	acts_init(&e->acts);
	containers_init(&e->set);
	strikes_init(&e->strikes);
	docker_table_init(&e->rec_table);
}

void
engine_free(struct engine *e)
{
	rates_free(&e->rates);
	cgroup_rates_free(&e->cgrates);
	acts_free(&e->acts);
	containers_free(&e->set);
	strikes_free(&e->strikes);
	docker_table_free(&e->rec_table);
	free(e->rows);
	free(e->cand);
	free(e->dec);
	free(e->class_of);
	free(e->proc_cpu);
	free(e->rank);
	memset(e, 0, sizeof(*e));
}

void
engine_set_policy(struct engine *e, const struct policy *p)
{
	struct act_entry *a;
	size_t i;

	/* From dry-run to a real action: what dry-run "did" is undone. */
	if (p->action != ACTION_DRY_RUN)
		for (i = 0; i < e->acts.n; i++) {
			a = &e->acts.e[i];
			if (a->state == ACT_DONE &&
			    a->action == ACTION_DRY_RUN) {
				a->state = ACT_NONE;
				a->logged = 0;
				a->nsteps = 0;
			}
		}
	e->policy = *p;
	rates_set_window(&e->rates, p->window_ms * 1000000ULL);
	rates_set_interval(&e->rates, p->interval_ms * 1000000ULL);
}

/* Outputs. */

void
engine_out_init(struct engine_out *o)
{
	memset(o, 0, sizeof(*o));
}

void
engine_out_clear(struct engine_out *o)
{
	memset(&o->sys, 0, sizeof(o->sys));
	o->has_sys = 0;
	o->ncontainers = o->nprocs = o->ndeletions = 0;
	o->nintents = o->nlookups = o->nlogs = 0;
	o->ndecisions = 0;
	o->strikes_changed = 0;
	o->oom = 0;
}

void
engine_out_free(struct engine_out *o)
{
	free(o->containers);
	free(o->procs);
	free(o->deletions);
	free(o->intents);
	free(o->decisions);
	free(o->lookups);
	free(o->logs);
	memset(o, 0, sizeof(*o));
}

/*
 * The next slot of an output list, zeroed; NULL (and o->oom set) when it
 * cannot grow: the caller drops that one output.
 */
#define OUT_ADD(o, list, n, cap)                                            \
	((grow(&(o)->list, &(o)->cap, (o)->n + 1, sizeof(*(o)->list), 8) == \
	     -1) ?                                                          \
		((o)->oom = 1, (void *)NULL) :                              \
		memset(&(o)->list[(o)->n++], 0, sizeof(*(o)->list)))

static void out_log(struct engine_out *o, enum engine_log_level level,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
out_log(struct engine_out *o, enum engine_log_level level, const char *fmt,
    ...)
{
	struct engine_log *l;
	va_list ap;

	if ((l = OUT_ADD(o, logs, nlogs, logs_cap)) == NULL)
		return;
	l->level = level;
	va_start(ap, fmt);
	vsnprintf(l->text, sizeof(l->text), fmt, ap);
	va_end(ap);
}

/* Docker's view. */

static const struct docker_ctr *
view_find(const struct engine_docker *dv, const char *id)
{
	if (dv->table == NULL)
		return NULL;
	return docker_table_find(dv->table, id);
}

static enum act_docker_view
view_of(const struct engine_docker *dv, const struct docker_ctr *dc)
{
	if (dv->table == NULL || !dv->connected)
		return ACT_VIEW_NONE;
	if (dc == NULL)
		return ACT_VIEW_GONE;
	if (strcmp(dc->state, "running") == 0 ||
	    strcmp(dc->state, "paused") == 0 || dc->state[0] == '\0')
		return ACT_VIEW_RUNNING;
	return ACT_VIEW_STOPPED;
}

struct sweep_arg {
	const struct engine_docker *dv;
	struct engine_out *out;
};

static int
sweep_known(void *arg, const char *id)
{
	struct sweep_arg *sa = arg;

	return view_find(sa->dv, id) != NULL;
}

static void
sweep_gone(void *arg, const struct act_entry *a)
{
	struct sweep_arg *sa = arg;

	if (a->state == ACT_NONE)
		return;
	out_log(sa->out, ENGINE_LOG_INFO, "container %.12s is gone (%s%s)",
	    a->container_id,
	    a->action == ACTION_DRY_RUN ? "acted on in " : "after ",
	    action_name(a->action));
}

/* Step 1: figures per process and per container (from a snapshot). */
static int
figures_from_snapshot(struct engine *e, const struct kw_snapshot *snap)
{
	if (grow(&e->proc_cpu, &e->proc_cap, snap->nprocs ? snap->nprocs : 1,
		sizeof(*e->proc_cpu), 256) == -1 ||
	    grow(&e->rank, &e->rank_cap, snap->nprocs ? snap->nprocs : 1,
		sizeof(*e->rank), 256) == -1)
		return -1;
	if (rates_update(&e->rates, snap, e->proc_cpu, &e->machine_cpu) == -1)
		return -1;
	if (containers_aggregate(snap, e->proc_cpu, &e->set) == -1 ||
	    containers_apply_cgroups(&e->set, snap, &e->cgrates,
		e->policy.mem_basis, e->policy.window_ms * 1000000ULL) == -1)
		return -1;
	return 0;
}

/* Then a row per container of e->set, its act entry found or made. */
static int
build_rows(struct engine *e, const struct engine_docker *dv,
    struct engine_out *out)
{
	struct sweep_arg sa = { dv, out };
	size_t i, n;

	n = e->set.n ? e->set.n : 1;
	if (grow(&e->rows, &e->rows_cap, n, sizeof(*e->rows), 32) == -1 ||
	    grow(&e->cand, &e->cand_cap, n, sizeof(*e->cand), 32) == -1 ||
	    grow(&e->dec, &e->dec_cap, n, sizeof(*e->dec), 32) == -1 ||
	    grow(&e->class_of, &e->class_cap, n, sizeof(*e->class_of), 32) ==
		-1)
		return -1;

	e->acts.gen++;
	for (i = 0; i < e->set.n; i++)
		if (acts_get(&e->acts, e->set.c[i].container_id) == NULL)
			return -1;
	acts_sweep(&e->acts, sweep_known, sweep_gone, &sa);
	for (i = 0; i < e->set.n; i++) {
		memset(&e->rows[i], 0, sizeof(e->rows[i]));
		e->rows[i].c = e->set.c[i];
		e->rows[i].act = acts_find(&e->acts, e->set.c[i].container_id);
		e->rows[i].class_idx = POLICY_CLASS_NONE;
	}
	e->nrows = e->set.n;
	return 0;
}

/* Step 2: names, images, labels and state from Docker's table. */
static void
enrich(struct engine *e, const struct engine_docker *dv,
    struct engine_out *out)
{
	const struct docker_ctr *dc;
	struct engine_row *r;
	kw_cidbuf *id;
	size_t i;

	for (i = 0; i < e->nrows; i++) {
		r = &e->rows[i];
		r->act->docker_state[0] = '\0';
		if (dv->table == NULL)
			continue;
		if ((dc = view_find(dv, r->c.container_id)) == NULL) {
			if (dv->connected &&
			    (id = OUT_ADD(out, lookups, nlookups,
				 lookups_cap)) != NULL)
				copy_str(*id, sizeof(*id), r->c.container_id);
			continue;
		}
		copy_str(r->c.name, sizeof(r->c.name), dc->name);
		copy_str(r->c.image, sizeof(r->c.image), dc->image);
		copy_str(r->c.label_class, sizeof(r->c.label_class),
		    dc->label_class);
		ident_of(dc->compose_project, dc->compose_service,
		    dc->swarm_service, dc->name, r->identity,
		    sizeof(r->identity));
		copy_str(r->act->docker_state, sizeof(r->act->docker_state),
		    dc->state[0] ? dc->state : "running");
		r->starts = dc->starts;
	}
}

static void
deletion_from_act(const struct act_entry *a, const char *reason,
    const char *result, struct kw_deletion_rec *rec)
{
	memcpy(rec->container_id, a->container_id, sizeof(rec->container_id));
	cut_names(rec->name, sizeof(rec->name), rec->image, sizeof(rec->image),
	    a->name, a->image);
	copy_str(rec->class_name, sizeof(rec->class_name),
	    a->act_class[0] != '\0' ? a->act_class : a->last_class);
	copy_str(rec->action, sizeof(rec->action), action_name(a->action));
	copy_str(rec->reason, sizeof(rec->reason), reason);
	copy_str(rec->result, sizeof(rec->result), result);
}

/*
 * Step 3: what Docker's table says of every action whose outcome is
 * unknown (and of stopped or killed containers started again). A settled
 * one gets a second deletion row, with the result now known.
 */
static void
settle(struct engine *e, const struct engine_docker *dv, uint64_t now_ns,
    struct engine_out *out)
{
	const struct docker_ctr *dc;
	struct kw_deletion_rec *rec;
	enum act_docker_view view;
	struct act_entry *a;
	char result[200];
	size_t i;

	for (i = 0; i < e->acts.n; i++) {
		a = &e->acts.e[i];
		if (a->state != ACT_UNKNOWN && a->state != ACT_DONE)
			continue;
		dc = dv->connected ? view_find(dv, a->container_id) : NULL;
		view = view_of(dv, dc);
		if (a->state == ACT_DONE && view == ACT_VIEW_RUNNING &&
		    dc != NULL && dc->starts != a->starts_at_act)
			out_log(out, ENGINE_LOG_INFO,
			    "container %.12s started "
			    "again after %s",
			    a->container_id, action_name(a->action));
		if (acts_settle(a, view, dc != NULL ? dc->starts : 0, now_ns,
			e->settle_ns, result, sizeof(result)) != 1)
			continue;
		out_log(out, ENGINE_LOG_INFO, "container %.12s: %s: %s",
		    a->container_id, action_name(a->action), result);
		if ((rec = OUT_ADD(out, deletions, ndeletions,
			 deletions_cap)) != NULL)
			deletion_from_act(a, "settled: the call had no answer",
			    result, rec);
	}
}

/*
 * Docker has not named it (not in its table yet, or another engine's):
 * for a real action it is in class none, counted in no class's alive
 * and never taken. Dry-run touches nothing and classifies it anyway, so
 * a host without Docker still shows what would be done.
 */
static int
unnamed(const struct engine *e, const struct engine_row *r)
{
	return e->policy.action != ACTION_DRY_RUN &&
	    r->act->docker_state[0] == '\0';
}

/*
 * Why a container cannot be acted on now, or NULL. Dry-run touches
 * nothing, so it holds nothing back; a real action needs Docker to know
 * the container (a cgroup named like Docker's is not enough).
 */
static const char *
hold_reason(const struct engine *e, const struct engine_docker *dv,
    struct engine_row *r, uint64_t now_ns)
{
	struct act_entry *a = r->act;

	if (e->policy.action == ACTION_DRY_RUN)
		return NULL;
	if (dv->table == NULL || !dv->connected)
		return "Docker unreachable";
	if (a->docker_state[0] == '\0')
		return "unknown to Docker";
	if (now_ns < a->released_until_ns) {
		snprintf(a->hold, sizeof(a->hold),
		    "released on decider.ctl: "
		    "left alone for %.0f s more",
		    (double)(a->released_until_ns - now_ns) / 1e9 + 0.5);
		return a->hold;
	}
	if (a->retry_mono_ns != 0 && now_ns < a->retry_mono_ns) {
		snprintf(a->hold, sizeof(a->hold),
		    "retry in %.0f s after: "
		    "%.180s",
		    (double)(a->retry_mono_ns - now_ns) / 1e9 + 0.5,
		    a->last_error);
		return a->hold;
	}
	return NULL;
}

size_t
engine_class_of(const struct engine *e, const struct engine_row *r)
{
	if (unnamed(e, r))
		return POLICY_CLASS_NONE;
	return policy_classify(&e->policy, r->c.name, r->c.image,
	    r->c.label_class);
}

void
engine_container_rec(const struct engine *e, const struct engine_row *r,
    size_t class_idx, struct kw_container_rec *cr)
{
	memset(cr, 0, sizeof(*cr));
	memcpy(cr->container_id, r->c.container_id, sizeof(cr->container_id));
	cut_names(cr->name, sizeof(cr->name), cr->image, sizeof(cr->image),
	    r->c.name, r->c.image);
	copy_str(cr->class_name, sizeof(cr->class_name),
	    policy_class_name(&e->policy, class_idx));
	cr->pid = r->c.pid;
	cr->nprocs = r->c.nprocs;
	cr->cpu_pct = r->c.cpu_pct;
	cr->mem_pct = r->c.mem_pct;
	cr->rss_kb = r->c.rss_kb;
	copy_str(cr->figures, sizeof(cr->figures),
	    r->c.cg_flags & KW_CG_CPU ? "cgroup" : "processes");
	cr->cpu_pct_procs = r->c.cpu_pct_procs;
	cr->mem_usage_kb = r->c.mem_usage_kb;
	cr->working_set_kb = r->c.working_set_kb;
	cr->anon_kb = r->c.anon_kb;
	cr->mem_limit_kb = r->c.mem_limit_kb;
	cr->nr_throttled = r->c.nr_throttled;
	cr->throttled_ns = r->c.throttled_ns;
	cr->oom_kills = r->c.oom_kills;
	cr->psi_cpu_some = r->c.psi_cpu_some;
	cr->psi_mem_some = r->c.psi_mem_some;
	cr->psi_mem_full = r->c.psi_mem_full;
	/* What the policy saw besides the figures: for the replay. */
	copy_str(cr->label_class, sizeof(cr->label_class), r->c.label_class);
	copy_str(cr->identity, sizeof(cr->identity), r->identity);
	copy_str(cr->docker_state, sizeof(cr->docker_state),
	    r->act != NULL ? r->act->docker_state : "");
	cr->docker = (uint32_t)e->docker_up;
	cr->starts = r->starts;
	cr->sample_ns = e->now_ns;
}

/* The sample's sys record. */
static void
out_sys(struct engine *e, const struct kw_snapshot *snap,
    struct engine_out *out)
{
	out->has_sys = 1;
	out->sys.mem_total_kb = snap->host.mem_total_kb;
	out->sys.mem_free_kb = snap->host.mem_free_kb;
	out->sys.mem_used_kb = snap->host.mem_used_kb;
	out->sys.mem_available_kb = snap->host.mem_available_kb;
	out->sys.cpu_pct = e->machine_cpu;
	out->sys.nprocs = snap->nprocs;
}

/* A row per container. */
static void
out_figures(struct engine *e, struct engine_out *out)
{
	struct kw_container_rec *cr;
	const struct engine_row *r;
	size_t i;

	for (i = 0; i < e->nrows; i++) {
		r = &e->rows[i];
		if ((cr = OUT_ADD(out, containers, ncontainers,
			 containers_cap)) == NULL)
			return;
		engine_container_rec(e, r, r->class_idx, cr);
	}
}

static int
rank_by_cpu(const void *a, const void *b)
{
	const struct proc_rank *ra = a, *rb = b;

	if (ra->cpu_pct != rb->cpu_pct)
		return ra->cpu_pct > rb->cpu_pct ? -1 : 1;
	return ra->pid < rb->pid ? -1 : ra->pid > rb->pid;
}

static int
rank_by_rss(const void *a, const void *b)
{
	const struct proc_rank *ra = a, *rb = b;

	if (ra->rss_kb != rb->rss_kb)
		return ra->rss_kb > rb->rss_kb ? -1 : 1;
	return ra->pid < rb->pid ? -1 : ra->pid > rb->pid;
}

static void
out_proc(const struct kw_snapshot *snap, const struct proc_rank *rk,
    struct engine_out *out)
{
	const struct kw_proc *p = &snap->procs[rk->idx];
	struct kw_proc_rec *pr;

	if ((pr = OUT_ADD(out, procs, nprocs, procs_cap)) == NULL)
		return;
	pr->pid = p->pid;
	copy_str(pr->name, sizeof(pr->name), p->name);
	copy_str(pr->cmdline, sizeof(pr->cmdline),
	    p->cmdline != NULL ? p->cmdline : "");
	copy_str(pr->container_id, sizeof(pr->container_id), p->container_id);
	pr->cpu_pct = rk->cpu_pct;
	pr->mem_pct = snap->host.mem_total_kb == 0 ?
	    0.0 :
	    (double)p->rss_kb * 100.0 / (double)snap->host.mem_total_kb;
	pr->rss_kb = p->rss_kb;
}

/* The top K processes by CPU, then the top K by memory not already sent. */
static void
out_top(struct engine *e, const struct kw_snapshot *snap,
    struct engine_out *out)
{
	size_t n = snap->nprocs, k = e->top_k, i;

	if (k > n)
		k = n;
	if (k == 0)
		return;
	for (i = 0; i < n; i++) {
		e->rank[i].idx = i;
		e->rank[i].pid = snap->procs[i].pid;
		e->rank[i].cpu_pct = e->proc_cpu[i];
		e->rank[i].rss_kb = snap->procs[i].rss_kb;
		e->rank[i].picked = 0;
	}
	qsort(e->rank, n, sizeof(*e->rank), rank_by_cpu);
	for (i = 0; i < k; i++) {
		out_proc(snap, &e->rank[i], out);
		/* The flag moves with its entry when sorted again. */
		e->rank[i].picked = 1;
	}
	qsort(e->rank, n, sizeof(*e->rank), rank_by_rss);
	for (i = 0; i < k; i++)
		if (!e->rank[i].picked)
			out_proc(snap, &e->rank[i], out);
}

/* Log taken decisions always; a skip only when it changes. */
static void
log_decision(struct engine *e, struct engine_row *r,
    const struct policy_decision *d, struct engine_out *out)
{
	struct act_entry *a = r->act;
	const char *cls = policy_class_name(&e->policy, d->class_idx);
	const char *sp = r->c.name[0] ? " " : "";

	a->seen = 1;
	if (d->verdict == POLICY_TAKEN) {
		out_log(out, ENGINE_LOG_INFO,
		    "container %.12s%s%s (class "
		    "%s): %s: %s",
		    r->c.container_id, sp, r->c.name, cls,
		    action_name(r->plan.action), d->reason);
		/* Its "already being acted on" next round says nothing new. */
		a->logged = 1;
		a->last_verdict = POLICY_SKIP_ACTED;
		copy_str(a->last_class, sizeof(a->last_class), cls);
		return;
	}
	if (a->logged && a->last_verdict == d->verdict &&
	    strcmp(a->last_class, cls) == 0)
		return;
	out_log(out, ENGINE_LOG_INFO,
	    "container %.12s%s%s (class %s): %s: "
	    "skipped: %s",
	    r->c.container_id, sp, r->c.name, cls, d->over, d->reason);
	a->logged = 1;
	a->last_verdict = d->verdict;
	copy_str(a->last_class, sizeof(a->last_class), cls);
}

/* A whole machine of CPU in nanoCPUs, and pct percent of it. */
static uint64_t
nano_cpus_of(uint32_t ncpu, double pct)
{
	double n = (double)(ncpu ? ncpu : 1) * 1e9 * pct / 100.0;

	return n < 1e7 ? 10000000ULL : (uint64_t)n;
}

/* A strike against the row's identity for an eviction step. */
static uint32_t
strike(struct engine *e, struct engine_row *r, struct engine_out *out)
{
	const struct policy *p = &e->policy;
	struct strike_entry *s;
	uint64_t window_s = p->quarantine_window_ms / 1000;
	int q;

	if (r->identity[0] == '\0')
		return 0;
	q = strikes_add(&e->strikes, r->identity, r->c.name, e->wall_s,
	    window_s, p->quarantine_after);
	out->strikes_changed = 1;
	if (q == -1) {
		out_log(out, ENGINE_LOG_WARN,
		    "%s: out of memory or too many "
		    "identities: strike not kept",
		    r->identity);
		return 0;
	}
	s = strikes_find(&e->strikes, r->identity);
	if (q == 1)
		out_log(out, ENGINE_LOG_WARN,
		    "%s: quarantined after %zu "
		    "evictions within %" PRIu64 " s: its next container is "
		    "stopped with restart policy \"no\" and left alone until "
		    "released",
		    r->identity, s->nstrikes, window_s);
	return s != NULL ? (uint32_t)strikes_count(s, e->wall_s, window_s) : 0;
}

static void
fill_rec(struct engine *e, const struct engine_row *r, size_t class_idx,
    enum action action, const char *reason, struct kw_deletion_rec *rec)
{
	memcpy(rec->container_id, r->c.container_id,
	    sizeof(rec->container_id));
	cut_names(rec->name, sizeof(rec->name), rec->image, sizeof(rec->image),
	    r->c.name, r->c.image);
	copy_str(rec->class_name, sizeof(rec->class_name),
	    policy_class_name(&e->policy, class_idx));
	copy_str(rec->action, sizeof(rec->action), action_name(action));
	copy_str(rec->reason, sizeof(rec->reason), reason);
	copy_str(rec->identity, sizeof(rec->identity), r->identity);
	rec->cpu_pct = r->c.cpu_pct;
	rec->mem_pct = r->c.mem_pct;
}

/* Take a decision: dry-run records now, the others become an intent. */
static void
act(struct engine *e, const struct engine_docker *dv, struct engine_row *r,
    const struct policy_decision *d, uint64_t now_ns, struct engine_out *out)
{
	struct act_entry *a = r->act;
	struct kw_deletion_rec *rec;
	struct engine_intent *in;
	const struct docker_ctr *dc;
	enum action action = r->plan.action;
	char reason[256];

	a->action = action;
	copy_str(a->name, sizeof(a->name), r->c.name);
	copy_str(a->image, sizeof(a->image), r->c.image);
	if (action == ACTION_DRY_RUN) {
		/* From now on it counts as gone for min_alive. */
		a->state = ACT_DONE;
		e->dry_runs++;
		if ((rec = OUT_ADD(out, deletions, ndeletions,
			 deletions_cap)) == NULL)
			return;
	} else {
		if ((in = OUT_ADD(out, intents, nintents, intents_cap)) ==
		    NULL) {
			out_log(out, ENGINE_LOG_WARN,
			    "container %.12s: out "
			    "of memory: not acted on",
			    a->container_id);
			return;
		}
		in->action = action;
		rec = &in->rec;
		dc = view_find(dv, a->container_id);
		a->starts_at_act = dc != NULL ? dc->starts : 0;
		a->state = ACT_IN_FLIGHT;
		if (action == ACTION_THROTTLE) {
			a->cap_pct =
			    policy_throttle_pct(&e->policy, d->class_idx);
			in->nano_cpus = nano_cpus_of(e->ncpu, a->cap_pct);
		}
	}
	acts_step_taken(a, &r->plan, now_ns);
	if (action == ACTION_THROTTLE)
		snprintf(reason, sizeof(reason), "%s; cap at %.1f%%",
		    d->reason, a->cap_pct);
	else
		copy_str(reason, sizeof(reason), d->reason);
	fill_rec(e, r, d->class_idx, action, reason, rec);
	copy_str(a->act_class, sizeof(a->act_class), rec->class_name);
	rec->step = (uint32_t)r->plan.step + 1;
	if (action == ACTION_STOP || action == ACTION_KILL ||
	    action == ACTION_REMOVE)
		rec->strikes = strike(e, r, out);
	if (action == ACTION_DRY_RUN)
		copy_str(rec->result, sizeof(rec->result), "ok");
}

/*
 * A running container of a quarantined identity the quarantine has not
 * been carried out on: restart policy "no", then stop. 1 when it is.
 */
static int
quarantine(struct engine *e, const struct engine_docker *dv,
    struct engine_row *r, const char *hold, struct engine_out *out)
{
	struct strike_entry *s;
	struct engine_intent *in;
	struct act_entry *a = r->act;
	const struct docker_ctr *dc;
	char reason[256];

	if ((s = strikes_find(&e->strikes, r->identity)) == NULL ||
	    !s->quarantined || s->applied_id[0] != '\0' ||
	    a->state != ACT_NONE || hold != NULL ||
	    e->policy.action == ACTION_DRY_RUN ||
	    policy_protected_by(&e->policy, r->c.name, r->c.image) != NULL)
		return 0;
	if ((in = OUT_ADD(out, intents, nintents, intents_cap)) == NULL)
		return 0;
	in->action = ACTION_QUARANTINE;
	a->action = ACTION_QUARANTINE;
	a->state = ACT_IN_FLIGHT;
	dc = view_find(dv, a->container_id);
	a->starts_at_act = dc != NULL ? dc->starts : 0;
	copy_str(a->name, sizeof(a->name), r->c.name);
	copy_str(a->image, sizeof(a->image), r->c.image);
	copy_str(s->applied_id, sizeof(s->applied_id), r->c.container_id);
	copy_str(s->name, sizeof(s->name), r->c.name);
	e->strikes.dirty = 1;
	out->strikes_changed = 1;
	e->quarantines++;
	snprintf(reason, sizeof(reason),
	    "quarantined: %zu evictions of %.150s "
	    "within %" PRIu64 " s",
	    s->nstrikes, r->identity, e->policy.quarantine_window_ms / 1000);
	fill_rec(e, r, engine_class_of(e, r), ACTION_QUARANTINE, reason,
	    &in->rec);
	copy_str(a->act_class, sizeof(a->act_class), in->rec.class_name);
	in->rec.strikes = (uint32_t)s->nstrikes;
	out_log(out, ENGINE_LOG_WARN, "container %.12s %s: %s",
	    r->c.container_id, r->c.name, reason);
	return 1;
}

/*
 * The ladder's word on a row over a threshold: NULL when a step is due
 * (r->plan says which), else why not and *verdict.
 */
static const char *
ladder_hold(struct engine *e, struct engine_row *r, size_t k, int cpu_over,
    int mem_over, uint64_t now_ns, enum policy_verdict *verdict)
{
	const struct policy *p = &e->policy;
	struct strike_entry *s;

	if ((s = strikes_find(&e->strikes, r->identity)) != NULL &&
	    s->quarantined) {
		snprintf(r->plan.why, sizeof(r->plan.why),
		    "quarantined: "
		    "%.100s (release it on decider.ctl)",
		    r->identity);
		*verdict = POLICY_SKIP_QUARANTINED;
		return r->plan.why;
	}
	ladder_plan(policy_ladder_of(p, k), r->act, cpu_over, mem_over,
	    policy_sustain_ms(p, k), p->escalate_after_ms, now_ns, &r->plan);
	switch (r->plan.kind) {
	case LADDER_ACT:
		return NULL;
	case LADDER_SUSTAIN:
		*verdict = POLICY_SKIP_SUSTAIN;
		break;
	case LADDER_ESCALATE:
		*verdict = POLICY_SKIP_ESCALATE;
		break;
	case LADDER_END:
		*verdict = POLICY_SKIP_LADDER_END;
		break;
	}
	return r->plan.why;
}

/*
 * The round's candidates and verdicts, whatever their order (excess
 * reorders them from sample to sample): a sum of FNV-1a hashes.
 */
static uint64_t
verdicts_hash(const struct engine *e, const struct policy_result *res)
{
	const struct engine_row *r;
	const unsigned char *p;
	uint64_t h, sum = res->ndec;
	size_t i;

	for (i = 0; i < res->ndec; i++) {
		r = &e->rows[res->dec[i].cand];
		h = 1469598103934665603ULL;
		for (p = (const unsigned char *)r->c.container_id; *p != '\0';
		     p++)
			h = (h ^ *p) * 1099511628211ULL;
		h = (h ^ (unsigned)res->dec[i].verdict) * 1099511628211ULL;
		h = (h ^ (unsigned)r->act->nsteps) * 1099511628211ULL;
		sum += h;
	}
	return sum;
}

/* The decisions table: the round's candidates, when a verdict changed. */
static void
out_decisions(struct engine *e, const struct policy_result *res,
    struct engine_out *out)
{
	const struct policy_decision *d;
	const struct engine_row *r;
	struct kw_decision_rec *dr;
	struct strike_entry *s;
	uint64_t h = verdicts_hash(e, res);
	size_t i;

	if (h == e->verdicts_hash)
		return;
	e->verdicts_hash = h;
	for (i = 0; i < res->ndec && i < ENGINE_DECISIONS_MAX; i++) {
		d = &res->dec[i];
		r = &e->rows[d->cand];
		if ((dr = OUT_ADD(out, decisions, ndecisions,
			 decisions_cap)) == NULL)
			return;
		memcpy(dr->container_id, r->c.container_id,
		    sizeof(dr->container_id));
		snprintf(dr->name, sizeof(dr->name), "%.*s",
		    (int)sizeof(dr->name) - 1, r->c.name);
		copy_str(dr->class_name, sizeof(dr->class_name),
		    policy_class_name(&e->policy, d->class_idx));
		copy_str(dr->identity, sizeof(dr->identity), r->identity);
		dr->cpu_pct = r->c.cpu_pct;
		dr->mem_pct = r->c.mem_pct;
		dr->cpu_threshold =
		    policy_cpu_threshold(&e->policy, d->class_idx);
		dr->mem_threshold =
		    policy_mem_threshold(&e->policy, d->class_idx);
		dr->excess = d->excess;
		copy_str(dr->verdict, sizeof(dr->verdict),
		    policy_verdict_name(d->verdict));
		copy_str(dr->action, sizeof(dr->action),
		    d->verdict == POLICY_TAKEN ||
			    d->verdict == POLICY_SKIP_ESCALATE ?
			action_name(r->plan.action) :
			"");
		copy_str(dr->reason, sizeof(dr->reason), d->reason);
		if ((s = strikes_find(&e->strikes, r->identity)) != NULL)
			dr->strikes = (uint32_t)strikes_count(s, e->wall_s,
			    e->policy.quarantine_window_ms / 1000);
	}
	e->decision_rounds++;
}

/* Step 4: the policy over the rows, and what it takes. */
static void
decide(struct engine *e, const struct engine_docker *dv, uint64_t now_ns,
    struct engine_out *out)
{
	const struct policy *p = &e->policy;
	struct policy_result res;
	struct policy_cand *c;
	struct engine_row *r;
	enum policy_verdict hv;
	const char *hold;
	size_t i, k;
	int cpu_over, mem_over;

	for (i = 0; i < e->nrows; i++) {
		r = &e->rows[i];
		c = &e->cand[i];
		k = engine_class_of(e, r);
		cpu_over = r->c.cpu_pct > policy_cpu_threshold(p, k);
		mem_over = r->c.mem_pct > policy_mem_threshold(p, k);
		acts_track_over(r->act, cpu_over || mem_over, now_ns);
		hold = hold_reason(e, dv, r, now_ns);
		if (quarantine(e, dv, r, hold, out))
			hold = NULL;
		hv = POLICY_TAKEN;
		if (hold == NULL && (cpu_over || mem_over) &&
		    r->act->state == ACT_NONE)
			hold = ladder_hold(e, r, k, cpu_over, mem_over, now_ns,
			    &hv);
		c->container_id = r->c.container_id;
		c->name = r->c.name;
		c->image = r->c.image;
		c->label_class = r->c.label_class;
		c->cpu_pct = r->c.cpu_pct;
		c->mem_pct = r->c.mem_pct;
		c->acted = r->act->state != ACT_NONE;
		c->unknown = unnamed(e, r);
		c->hold = hold;
		c->hold_verdict = hv;
		r->act->seen = 0;
	}
	memset(&res, 0, sizeof(res));
	res.class_of = e->class_of;
	res.dec = e->dec;
	policy_decide(p, e->cand, e->nrows, &res);
	e->ndec = res.ndec;
	memcpy(e->running, res.running, sizeof(e->running));
	memcpy(e->alive, res.alive, sizeof(e->alive));
	for (i = 0; i < e->nrows; i++)
		e->rows[i].class_idx = e->class_of[i];
	for (i = 0; i < res.ndec; i++)
		e->rows[res.dec[i].cand].dec = &e->dec[i];

	out_figures(e, out);
	for (i = 0; i < res.ndec; i++) {
		r = &e->rows[res.dec[i].cand];
		log_decision(e, r, &res.dec[i], out);
		if (res.dec[i].verdict == POLICY_TAKEN)
			act(e, dv, r, &res.dec[i], now_ns, out);
	}
	out_decisions(e, &res, out);
	for (i = 0; i < e->nrows; i++) {
		r = &e->rows[i];
		if (!r->act->seen && r->act->logged) {
			out_log(out, ENGINE_LOG_INFO,
			    "container %.12s: back "
			    "under the thresholds",
			    r->c.container_id);
			r->act->logged = 0;
		}
	}
	e->taken += res.taken;
	e->skipped += res.skipped;
}

/* Steps 2-4, the same for a snapshot and for recorded rows. */
static void
step_rows(struct engine *e, uint64_t ts_ns, const struct engine_docker *dv,
    uint64_t now_ns, struct engine_out *out)
{
	e->samples++;
	e->now_ns = now_ns;
	e->docker_up = dv->table != NULL && dv->connected;
	if (ts_ns / 1000000000ULL > e->wall_s)
		e->wall_s = ts_ns / 1000000000ULL;
	if (strikes_prune(&e->strikes, e->wall_s,
		e->policy.quarantine_window_ms / 1000) > 0)
		out->strikes_changed = 1;
	enrich(e, dv, out);
	settle(e, dv, now_ns, out);
	decide(e, dv, now_ns, out);
}

static int
step_failed(struct engine *e, struct engine_out *out)
{
	e->nrows = 0;
	e->set.n = 0;
	out_log(out, ENGINE_LOG_WARN, "out of memory: sample skipped");
	return -1;
}

int
engine_step(struct engine *e, const struct kw_snapshot *snap,
    const struct engine_docker *dv, uint64_t now_ns, struct engine_out *out)
{
	engine_out_clear(out);
	e->ndec = 0;
	if (figures_from_snapshot(e, snap) == -1 ||
	    build_rows(e, dv, out) == -1)
		return step_failed(e, out);
	e->nprocs = snap->nprocs;
	e->ncpu = snap->host.ncpu;
	step_rows(e, snap->ts_ns, dv, now_ns, out);
	out_sys(e, snap, out);
	out_top(e, snap, out);
	return 0;
}

/* "compose:P/S", "swarm:S" or "name:N" back into Docker's labels. */
static void
ident_split(const char *ident, struct docker_ctr *dc)
{
	const char *slash;

	if (strncmp(ident, "compose:", 8) == 0 &&
	    (slash = strchr(ident + 8, '/')) != NULL) {
		snprintf(dc->compose_project, sizeof(dc->compose_project),
		    "%.*s", (int)(slash - ident - 8), ident + 8);
		copy_str(dc->compose_service, sizeof(dc->compose_service),
		    slash + 1);
	} else if (strncmp(ident, "swarm:", 6) == 0)
		copy_str(dc->swarm_service, sizeof(dc->swarm_service),
		    ident + 6);
}

static int
set_by_id(const void *a, const void *b)
{
	const struct container *ca = a, *cb = b;

	return strcmp(ca->container_id, cb->container_id);
}

/*
 * The set and Docker's table as they were: the figures as recorded, the
 * containers Docker knew (docker_state) with their names, labels and
 * start count.
 */
static int
figures_from_recs(struct engine *e, const struct kw_container_rec *recs,
    size_t n)
{
	const struct kw_container_rec *cr;
	struct docker_ctr dc;
	struct container *c;
	size_t i, k;

	if (grow(&e->set.c, &e->set.cap, n ? n : 1, sizeof(*e->set.c), 32) ==
	    -1)
		return -1;
	e->rec_table.gen++;
	for (i = k = 0; i < n; i++) {
		cr = &recs[i];
		if (cr->container_id[0] == '\0')
			continue;
		c = &e->set.c[k++];
		memset(c, 0, sizeof(*c));
		copy_str(c->container_id, sizeof(c->container_id),
		    cr->container_id);
		copy_str(c->name, sizeof(c->name), cr->name);
		copy_str(c->image, sizeof(c->image), cr->image);
		copy_str(c->label_class, sizeof(c->label_class),
		    cr->label_class);
		c->pid = cr->pid;
		c->nprocs = cr->nprocs;
		c->cpu_pct = cr->cpu_pct;
		c->mem_pct = cr->mem_pct;
		c->rss_kb = cr->rss_kb;
		c->cpu_pct_procs = cr->cpu_pct_procs;
		c->cg_flags =
		    strcmp(cr->figures, "cgroup") == 0 ? KW_CG_CPU : 0;
		c->mem_usage_kb = cr->mem_usage_kb;
		c->working_set_kb = cr->working_set_kb;
		c->anon_kb = cr->anon_kb;
		c->mem_limit_kb = cr->mem_limit_kb;
		c->nr_throttled = cr->nr_throttled;
		c->throttled_ns = cr->throttled_ns;
		c->oom_kills = cr->oom_kills;
		c->psi_cpu_some = cr->psi_cpu_some;
		c->psi_mem_some = cr->psi_mem_some;
		c->psi_mem_full = cr->psi_mem_full;
		if (cr->docker_state[0] == '\0')
			continue;
		memset(&dc, 0, sizeof(dc));
		copy_str(dc.id, sizeof(dc.id), cr->container_id);
		copy_str(dc.name, sizeof(dc.name), cr->name);
		copy_str(dc.image, sizeof(dc.image), cr->image);
		copy_str(dc.label_class, sizeof(dc.label_class),
		    cr->label_class);
		copy_str(dc.state, sizeof(dc.state), cr->docker_state);
		ident_split(cr->identity, &dc);
		dc.starts = cr->starts;
		if (docker_table_upsert(&e->rec_table, &dc) == NULL)
			return -1;
	}
	(void)docker_table_drop_older(&e->rec_table, e->rec_table.gen);
	e->set.n = k;
	qsort(e->set.c, e->set.n, sizeof(*e->set.c), set_by_id);
	return 0;
}

int
engine_step_recs(struct engine *e, const struct kw_container_rec *recs,
    size_t n, int docker_connected, uint64_t ts_ns, uint64_t now_ns,
    struct engine_out *out)
{
	struct engine_docker dv;

	engine_out_clear(out);
	e->ndec = 0;
	dv.connected = docker_connected;
	dv.table = &e->rec_table;
	if (figures_from_recs(e, recs, n) == -1 ||
	    build_rows(e, &dv, out) == -1)
		return step_failed(e, out);
	step_rows(e, ts_ns, &dv, now_ns, out);
	return 0;
}

void
engine_action_done(struct engine *e, const char *container_id,
    enum docker_outcome outcome, const char *result, uint64_t now_ns)
{
	struct act_entry *a;
	size_t i;

	if ((a = acts_find(&e->acts, container_id)) == NULL)
		return;
	/* A quarantine that failed is carried out again. */
	if (a->action == ACTION_QUARANTINE && outcome == DOCKER_ACT_FAILED)
		for (i = 0; i < e->strikes.n; i++)
			if (strcmp(e->strikes.e[i].applied_id, container_id) ==
			    0) {
				e->strikes.e[i].applied_id[0] = '\0';
				e->strikes.dirty = 1;
			}
	acts_on_result(a, outcome, result, now_ns);
}

int
engine_release(struct engine *e, const char *what, uint64_t now_ns,
    struct engine_intent *cap, int *has_cap, char *msg, size_t len)
{
	const struct engine_row *r = engine_find(e, what);
	struct strike_entry *s;
	struct act_entry *a;
	char ident[IDENT_LEN] = "";
	size_t off = 0;

	*has_cap = 0;
	msg[0] = '\0';
	s = r != NULL ? strikes_find(&e->strikes, r->identity) :
			strikes_lookup(&e->strikes, what);
	if (s != NULL && s->quarantined) {
		copy_str(ident, sizeof(ident), s->identity);
		strikes_release(&e->strikes, ident);
		off += (size_t)snprintf(msg, len,
		    "quarantine of %s lifted, "
		    "its strikes forgotten",
		    ident);
	} else if (s != NULL) {
		copy_str(ident, sizeof(ident), s->identity);
		strikes_release(&e->strikes, ident);
		off += (size_t)snprintf(msg, len, "strikes of %s forgotten",
		    ident);
	}
	if (r != NULL && (a = r->act)->state == ACT_NONE &&
	    (s != NULL || a->throttled)) {
		a->nsteps = 0;
		a->over_since_ns = 0;
		a->released_until_ns =
		    now_ns + e->policy.escalate_after_ms * 1000000ULL;
		if (a->throttled) {
			memset(cap, 0, sizeof(*cap));
			cap->action = ACTION_RELEASE;
			cap->nano_cpus = nano_cpus_of(e->ncpu, 100.0);
			fill_rec(e, r, engine_class_of(e, r), ACTION_RELEASE,
			    "released on decider.ctl", &cap->rec);
			a->action = ACTION_RELEASE;
			a->state = ACT_IN_FLIGHT;
			*has_cap = 1;
			if (off < len)
				snprintf(msg + off, len - off,
				    "%scap of "
				    "%.1f%% lifted",
				    off ? "; " : "", a->cap_pct);
			return 0;
		}
	}
	if (s == NULL) {
		snprintf(msg, len,
		    r != NULL ? "not capped and not "
				"quarantined" :
				"no such container or identity");
		return -1;
	}
	return 0;
}

const struct engine_row *
engine_find(const struct engine *e, const char *name_or_id)
{
	size_t i, len = strlen(name_or_id);

	if (len == 0)
		return NULL;
	for (i = 0; i < e->nrows; i++)
		if (strcmp(e->rows[i].c.name, name_or_id) == 0)
			return &e->rows[i];
	for (i = 0; i < e->nrows; i++)
		if (strncmp(e->rows[i].c.container_id, name_or_id, len) == 0)
			return &e->rows[i];
	return NULL;
}

const char *
engine_row_state(const struct engine_row *r, int docker_connected, char *buf,
    size_t len)
{
	static const char *const done[] = {
		[ACTION_REMOVE] = "removed",
		[ACTION_STOP] = "stopped",
		[ACTION_KILL] = "killed",
		[ACTION_DRY_RUN] = "acted (dry-run)",
		[ACTION_THROTTLE] = "capped",
		[ACTION_QUARANTINE] = "quarantined",
		[ACTION_RELEASE] = "released",
	};
	const struct act_entry *a = r->act;

	switch (a->state) {
	case ACT_IN_FLIGHT:
		snprintf(buf, len, "%s in flight", action_name(a->action));
		return buf;
	case ACT_UNKNOWN:
		snprintf(buf, len, "%s outcome unknown",
		    action_name(a->action));
		return buf;
	case ACT_DONE:
		return done[a->action];
	case ACT_NONE:
		break;
	}
	if (a->docker_state[0] != '\0' && a->throttled) {
		snprintf(buf, len, "%s (capped at %.1f%%)", a->docker_state,
		    a->cap_pct);
		return buf;
	}
	if (a->docker_state[0] != '\0')
		return a->docker_state;
	return docker_connected ? "unknown to Docker" :
				  "unknown (Docker unreachable)";
}
