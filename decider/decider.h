/*
 * kwarden-decider: per-process CPU rates, aggregation per container, the
 * eviction policy and the sample step built on them (rates.c, containers.c,
 * policy.c, acts.c, dockerjson.c, engine.c: pure, plain structs in and out,
 * no I/O, no clock, no globals, tested from tables); the Docker Engine API
 * client (docker.c) and the loop wiring and control views (decider.c,
 * views.c) are the only parts that do I/O.
 */
#ifndef DECIDER_H
#define DECIDER_H

#include <stddef.h>
#include <stdint.h>

#include "kwarden.h"

/* rates.c */

/*
 * Samples kept per process. With the default window (5 s) and interval
 * (1 s) six are used; with a much shorter interval the window shrinks to
 * RATES_HIST samples rather than growing memory.
 */
#define RATES_HIST	32

struct rate_sample {
	uint64_t	ts_ns;
	uint64_t	cpu_ns;
};

struct rate_entry {
	int32_t		pid;
	uint64_t	start_ns;
	uint64_t	gen;		/* last update that saw it */
	double		cpu_pct;	/* last computed */
	size_t		nhist;
	struct rate_sample hist[RATES_HIST];	/* oldest first */
};

/* Entries live densely in ent[]; index[] is an open-addressing hash of them. */
struct rates {
	struct rate_entry *ent;
	size_t		 nent;
	size_t		 capent;
	uint32_t	*index;		/* RATES_EMPTY or index into ent */
	size_t		 index_cap;	/* power of two */
	uint64_t	 window_ns;
	uint64_t	 gen;
};

void	rates_init(struct rates *r, uint64_t window_ns);
void	rates_set_window(struct rates *r, uint64_t window_ns);
void	rates_free(struct rates *r);
/*
 * One snapshot: fills proc_cpu_pct[i] (share of the whole machine, 0-100)
 * for every snap->procs[i] and the machine's total; forgets processes not
 * in snap. -1 on allocation failure (state is kept as it was).
 */
int	rates_update(struct rates *r, const struct kw_snapshot *snap,
	    double *proc_cpu_pct, double *machine_cpu_pct);
/* The one-key step, exposed for tests: returns the CPU % of this sample. */
double	rates_entry_step(struct rate_entry *e, uint64_t ts_ns,
	    uint64_t cpu_ns, uint32_t ncpu, uint64_t window_ns);
size_t	rates_count(const struct rates *r);

/* A container's CPU from its cgroup's cumulative usage. */
struct cgroup_rate {
	char		container_id[KW_CID_LEN];
	uint64_t	gen;		/* last step that saw it */
	struct rate_entry e;
};

struct cgroup_rates {
	struct cgroup_rate *r;		/* sorted by container_id */
	size_t		 n;
	size_t		 cap;
	uint64_t	 gen;
};

void	cgroup_rates_init(struct cgroup_rates *cr);
void	cgroup_rates_free(struct cgroup_rates *cr);
/* *cpu_pct (share of the machine) for one sample of id; -1 on ENOMEM. */
int	cgroup_rates_step(struct cgroup_rates *cr, const char *id,
	    uint64_t ts_ns, uint64_t cpu_ns, uint32_t ncpu, uint64_t window_ns,
	    double *cpu_pct);
/* Forget ids not stepped since the last sweep; returns how many. */
size_t	cgroup_rates_sweep(struct cgroup_rates *cr);

/* containers.c */

/*
 * Names and images as long as Docker's are in practice, so that match and
 * protect patterns see all of them (records cut them to their own size).
 */
#define DOCKER_NAME_LEN	256

struct container {
	char		container_id[KW_CID_LEN];
	char		name[DOCKER_NAME_LEN];  /* "" until Docker names it */
	char		image[DOCKER_NAME_LEN];
	char		label_class[KW_NAME_LEN];  /* kwarden.class */
	int32_t		pid;		/* main: earliest start_ns */
	uint64_t	start_ns;	/* of the main pid */
	uint32_t	nprocs;
	double		cpu_pct;	/* judged: the cgroup's, else the sum */
	double		mem_pct;	/* judged: by policy.mem_basis */
	uint64_t	rss_kb;		/* sum over its processes */
	double		cpu_pct_procs;	/* sum over its processes */
	uint32_t	cg_flags;	/* KW_CG_*: 0 without cgroup figures */
	uint64_t	mem_usage_kb;	/* the cgroup's, as charged */
	uint64_t	working_set_kb;	/* usage - inactive_file */
	uint64_t	anon_kb;
	uint64_t	file_kb;
	uint64_t	mem_limit_kb;	/* 0: none */
	uint64_t	nr_throttled;
	uint64_t	throttled_ns;
	uint64_t	oom_kills;
	double		psi_cpu_some;	/* avg10, percent */
	double		psi_mem_some;
	double		psi_mem_full;
};

/* What a container's memory % is a share of MemTotal of. */
enum mem_basis {
	MEM_BASIS_WORKING_SET,		/* usage - inactive_file (kubelet) */
	MEM_BASIS_RSS,			/* sum of its processes' RSS (seed) */
	MEM_BASIS_ANON,			/* anonymous memory of the cgroup */
};

struct container_set {
	struct container *c;		/* sorted by container_id */
	size_t		 n;
	size_t		 cap;
};

void	containers_init(struct container_set *set);
void	containers_free(struct container_set *set);
/*
 * Group the snapshot's container processes by container_id (host
 * processes, container_id "", are left out). proc_cpu_pct is parallel to
 * snap->procs. -1 on allocation failure.
 */
int	containers_aggregate(const struct kw_snapshot *snap,
	    const double *proc_cpu_pct, struct container_set *set);
/* Binary search by id; NULL if absent. */
const struct container *containers_find(const struct container_set *set,
	    const char *container_id);
/*
 * Each container's own cgroup figures from snap->cgroups: CPU % from the
 * cgroup's usage over window_ns (cr keeps the history), memory % by basis.
 * A container without them keeps its processes' sums (RSS for memory).
 * -1 on allocation failure.
 */
int	containers_apply_cgroups(struct container_set *set,
	    const struct kw_snapshot *snap, struct cgroup_rates *cr,
	    enum mem_basis basis, uint64_t window_ns);
const char *mem_basis_name(enum mem_basis b);
int	mem_basis_parse(const char *s, enum mem_basis *b);

/* policy.c */

#define POLICY_CLASS_MAX	16
#define POLICY_MATCH_MAX	16
#define POLICY_PROTECT_MAX	32
#define POLICY_PATTERN_LEN	64
/* class_of[] value for a container no class matches. */
#define POLICY_CLASS_NONE	((size_t)-1)

/* What is done to a container taken by the policy. */
enum action {
	ACTION_REMOVE,			/* DELETE ?force=true: docker rm -f */
	ACTION_STOP,
	ACTION_KILL,
	ACTION_DRY_RUN,			/* nothing: recorded only */
	ACTION_THROTTLE,		/* cap its CPU: Docker's update call */
	ACTION_QUARANTINE,		/* restart policy "no", then stop */
	ACTION_RELEASE,			/* lift a cap: the whole machine */
};

/* policy.action: steps tried in turn, escalate_after apart. */
#define POLICY_LADDER_MAX	4

struct policy_ladder {
	enum action	step[POLICY_LADDER_MAX];
	size_t		n;		/* dry-run: one step */
};

struct policy_class {
	char		name[KW_NAME_LEN];
	char		match[POLICY_MATCH_MAX][POLICY_PATTERN_LEN];
	size_t		nmatch;
	int		wildcard;	/* one of match is "*" */
	uint32_t	min_alive;
	/* Overrides of the policy's; has_*: set for this class. */
	int		has_cpu_threshold, has_mem_threshold;
	int		has_ladder, has_sustain;
	double		cpu_threshold;
	double		mem_threshold;
	struct policy_ladder ladder;
	uint64_t	sustain_ms;
};

struct policy {
	double		cpu_threshold;	/* percent of the machine */
	double		mem_threshold;	/* percent of MemTotal */
	uint64_t	window_ms;
	enum mem_basis	mem_basis;
	enum action	action;		/* ladder.step[0] */
	struct policy_ladder ladder;
	double		throttle_to;	/* percent of the machine; 0: cpu_threshold */
	uint64_t	stop_timeout_ms;
	uint64_t	escalate_after_ms;
	uint64_t	sustain_ms;
	uint32_t	quarantine_after;	/* 0: never */
	uint64_t	quarantine_window_ms;
	char		protect[POLICY_PROTECT_MAX][POLICY_PATTERN_LEN];
	size_t		nprotect;
	struct policy_class classes[POLICY_CLASS_MAX];
	size_t		nclasses;
};

enum policy_verdict {
	POLICY_TAKEN,
	POLICY_SKIP_ACTED,		/* already being acted on */
	POLICY_SKIP_PROTECTED,
	POLICY_SKIP_NO_CLASS,
	POLICY_SKIP_MIN_ALIVE,
	POLICY_SKIP_HOLD,		/* cand.hold says why */
	POLICY_SKIP_SUSTAIN,		/* over, not for policy.sustain yet */
	POLICY_SKIP_ESCALATE,		/* a step taken, the next not due */
	POLICY_SKIP_LADDER_END,		/* no step left that fits */
	POLICY_SKIP_QUARANTINED,	/* its identity is quarantined */
};

/* What policy_decide looks at in a container. */
struct policy_cand {
	const char	*container_id;
	const char	*name;
	const char	*image;
	const char	*label_class;	/* "" when there is no label */
	double		 cpu_pct;
	double		 mem_pct;
	int		 acted;		/* already being acted on */
	int		 unknown;	/* not named by Docker: class none */
	const char	*hold;		/* why not now; NULL: free */
	enum policy_verdict hold_verdict;	/* of a hold; 0: SKIP_HOLD */
};

struct policy_decision {
	size_t		 cand;		/* index of the candidate */
	size_t		 class_idx;	/* or POLICY_CLASS_NONE */
	enum policy_verdict verdict;
	double		 excess;	/* points over a threshold */
	char		 over[96];	/* "cpu 48.3% > 20.0%" */
	char		 reason[192];	/* over, or why skipped */
};

struct policy_result {
	size_t		*class_of;	/* [n], filled */
	struct policy_decision *dec;	/* [n], filled in order */
	size_t		 ndec;
	/* per class: running, and running minus acted before this round */
	uint32_t	 running[POLICY_CLASS_MAX];
	uint32_t	 alive[POLICY_CLASS_MAX];
	size_t		 taken;
	size_t		 skipped;
};

/* The seed's rules: 20 % / 20 %, high (high, cpu, mem) min 2, low (*) min 3. */
void	policy_defaults(struct policy *p);
/* -1 with err on a bad policy (no classes is fine). */
int	policy_check(const struct policy *p, char *err, size_t errlen);
/* Class index for one container, or POLICY_CLASS_NONE. */
size_t	policy_classify(const struct policy *p, const char *name,
	    const char *image, const char *label_class);
/* The protect pattern that matches name or image, or NULL. */
const char *policy_protected_by(const struct policy *p, const char *name,
	    const char *image);
/*
 * Decide one round. res->class_of and res->dec must each hold n entries.
 * Candidates are the containers over a threshold, in order of excess
 * (largest first, ties in input order); each is taken or skipped with a
 * reason. Containers of no class are never acted on.
 */
void	policy_decide(const struct policy *p,
	    const struct policy_cand *cand, size_t n,
	    struct policy_result *res);
const char *policy_class_name(const struct policy *p, size_t class_idx);
/* The class's override, else the policy's (class_idx may be NONE). */
double	policy_cpu_threshold(const struct policy *p, size_t class_idx);
double	policy_mem_threshold(const struct policy *p, size_t class_idx);
const struct policy_ladder *policy_ladder_of(const struct policy *p,
	    size_t class_idx);
uint64_t policy_sustain_ms(const struct policy *p, size_t class_idx);
/* throttle's cap in percent of the machine */
double	policy_throttle_pct(const struct policy *p, size_t class_idx);
/* "remove", "stop", "kill", "dry-run", "throttle", ... */
const char *action_name(enum action a);
/* -1 when s names no action a config may ask for. */
int	action_parse(const char *s, enum action *a);
/* "throttle, remove" or "dry-run"; -1 with err ("KEY: ...") when bad. */
int	ladder_parse(const char *s, struct policy_ladder *l, const char *key,
	    char *err, size_t errlen);
/* "throttle,remove" */
void	ladder_format(const struct policy_ladder *l, char *buf, size_t len);
const char *policy_verdict_name(enum policy_verdict v);

/*
 * acts.c: what the decider did to each container, kept by id across
 * snapshots (a container missing from one sample keeps its in-flight call
 * and its retry backoff). Pure: the clock and Docker's view come in as
 * arguments.
 */

/* How an action (docker_act) ended. */
enum docker_outcome {
	DOCKER_ACT_CANCELLED = -1,	/* docker_close while out */
	DOCKER_ACT_FAILED = 0,		/* Docker said no, or never got it */
	DOCKER_ACT_OK = 1,
	DOCKER_ACT_UNKNOWN = 2,		/* sent, then no answer: Docker may
					   still be doing it */
};

enum act_state {
	ACT_NONE,			/* running, as far as we know */
	ACT_IN_FLIGHT,			/* the call to Docker is out */
	ACT_UNKNOWN,			/* sent, no answer: Docker decides */
	ACT_DONE,			/* done, or dry-run: gone */
};

/* An entry is dropped after this many samples without its container. */
#define ACTS_ABSENT_SAMPLES	3

struct act_entry {
	char		container_id[KW_CID_LEN];
	enum act_state	state;
	enum action	action;		/* what was done, when acted */
	char		name[DOCKER_NAME_LEN];	/* when acted: later rows */
	char		image[DOCKER_NAME_LEN];
	char		docker_state[16]; /* "": unknown to Docker */
	uint64_t	starts_at_act;	/* docker_ctr.starts when acted */
	uint64_t	unknown_since_ns; /* ACT_UNKNOWN since (monotonic) */
	uint64_t	retry_mono_ns;	/* after a failure: not before */
	uint64_t	retry_ms;	/* the next backoff */
	char		last_error[200];
	char		hold[256];	/* why not now (cand.hold) */
	int		logged;		/* last_*: the last skip logged */
	enum policy_verdict last_verdict;
	char		last_class[KW_NAME_LEN];
	int		seen;		/* decided on in this round */
	uint64_t	seen_gen;	/* the last sample it was in */
	/* The ladder (monotonic clock): */
	uint64_t	over_since_ns;	/* over without a break since; 0: under */
	size_t		nsteps;		/* steps taken: the next is step[nsteps] */
	uint64_t	step_ns;	/* when the last step was taken */
	int		throttled;	/* its CPU is capped by us */
	double		cap_pct;	/* the cap, percent of the machine */
	uint64_t	released_until_ns;	/* release: left alone till */
};

struct act_table {
	struct act_entry *e;		/* sorted by container_id */
	size_t		 n;
	size_t		 cap;
	uint64_t	 gen;		/* samples */
};

/* What Docker says now of a container (for acts_settle). */
enum act_docker_view {
	ACT_VIEW_NONE,			/* Docker unreachable: no news */
	ACT_VIEW_GONE,			/* connected, not in its table */
	ACT_VIEW_RUNNING,		/* running or paused */
	ACT_VIEW_STOPPED,		/* exited, dead, created */
};

void	acts_init(struct act_table *t);
void	acts_free(struct act_table *t);
struct act_entry *acts_find(const struct act_table *t, const char *id);
/*
 * Find or add; marks it present in the current sample (t->gen). Adding
 * moves entries: pointers into t->e are good until the next acts_get or
 * acts_sweep. NULL on allocation failure.
 */
struct act_entry *acts_get(struct act_table *t, const char *id);
/*
 * Forget entries whose call has ended (NONE or DONE) and whose container
 * was in none of the last ACTS_ABSENT_SAMPLES samples and that Docker no
 * longer has (known(arg, id) == 0). gone(arg, e), if set, is told of each
 * before it goes. Returns how many went.
 */
size_t	acts_sweep(struct act_table *t,
	    int (*known)(void *arg, const char *id),
	    void (*gone)(void *arg, const struct act_entry *e), void *arg);
/*
 * The call ended: OK -> DONE; FAILED -> NONE, held for retry_ms (1 s,
 * doubling to 60 s); UNKNOWN -> ACT_UNKNOWN (still counted gone) until
 * acts_settle; CANCELLED changes nothing.
 */
void	acts_on_result(struct act_entry *e, enum docker_outcome outcome,
	    const char *result, uint64_t now_ns);
/*
 * Settle what Docker's view says: an ACT_UNKNOWN container gone or
 * stopped -> DONE ("ok: ..."); still running settle_ns after the call
 * ended -> NONE with a retry ("failed: ..."). 1 and result filled when it
 * settled (a second deletion row); 0 otherwise. A stop/kill DONE whose
 * container started again (starts moved on) goes back to NONE (returns 0).
 */
int	acts_settle(struct act_entry *e, enum act_docker_view view,
	    uint64_t starts, uint64_t now_ns, uint64_t settle_ns,
	    char *result, size_t len);
/* Over or not in this sample: over_since_ns starts or ends a run. */
void	acts_track_over(struct act_entry *e, int over, uint64_t now_ns);

/* What the ladder says of a container over a threshold, now. */
enum ladder_kind {
	LADDER_ACT,			/* take step[step] */
	LADDER_SUSTAIN,			/* not over for sustain yet */
	LADDER_ESCALATE,		/* the next step is not due yet */
	LADDER_END,			/* no step left that fits */
};

struct ladder_plan {
	enum ladder_kind kind;
	size_t		step;		/* LADDER_ACT: index into the ladder */
	enum action	action;
	uint64_t	wait_ms;	/* SUSTAIN, ESCALATE: due in */
	uint64_t	over_ms;	/* over without a break this long */
	char		why[160];	/* why not now (not LADDER_ACT) */
};

/*
 * The step for a container over a threshold: sustain before the first
 * step; escalate_after after the last step (and after the container went
 * back over); throttle is skipped when memory is over, when CPU is not,
 * or when it is capped already. Pure.
 */
void	ladder_plan(const struct policy_ladder *l, const struct act_entry *e,
	    int cpu_over, int mem_over, uint64_t sustain_ms,
	    uint64_t escalate_ms, uint64_t now_ns, struct ladder_plan *out);
/* A step was taken (the plan's): the ladder moves on. */
void	acts_step_taken(struct act_entry *e, const struct ladder_plan *pl,
	    uint64_t now_ns);

/*
 * strikes.c: respawn memory. An identity (compose project and service,
 * else swarm service, else name) outlives its containers; each eviction
 * is a strike against it, and quarantine_after strikes within the window
 * quarantine it. Pure, with the wall clock (unix seconds) as an
 * argument; the file it is kept in is read and written by decider.c.
 */
#define IDENT_LEN		256
#define STRIKES_MAX		32	/* most strikes kept: quarantine_after's cap */
#define STRIKES_IDENT_MAX	4096	/* identities kept */

struct strike_entry {
	char		identity[IDENT_LEN];
	char		name[DOCKER_NAME_LEN];	/* of the last container */
	uint64_t	strike_s[STRIKES_MAX];	/* oldest first */
	size_t		nstrikes;
	int		quarantined;
	uint64_t	quarantined_s;
	/* The container quarantine stopped ("": not carried out yet). */
	char		applied_id[KW_CID_LEN];
};

struct strike_table {
	struct strike_entry *e;
	size_t		 n;
	size_t		 cap;
	int		 dirty;		/* changed since the last save */
};

/* "compose:PROJECT/SERVICE", "swarm:SERVICE" or "name:NAME" ("" unnamed). */
void	ident_of(const char *compose_project, const char *compose_service,
	    const char *swarm_service, const char *name, char *out,
	    size_t len);
void	strikes_init(struct strike_table *t);
void	strikes_free(struct strike_table *t);
struct strike_entry *strikes_find(const struct strike_table *t,
	    const char *identity);
/* By identity, by container (applied_id prefix) or by last name. */
struct strike_entry *strikes_lookup(const struct strike_table *t,
	    const char *what);
/* Strikes within window_s before now_s. */
size_t	strikes_count(const struct strike_entry *s, uint64_t now_s,
	    uint64_t window_s);
/*
 * One strike: strikes older than the window go; 1 when this one
 * quarantines the identity (after > 0 and after strikes in the window),
 * 0 when not, -1 on allocation failure.
 */
int	strikes_add(struct strike_table *t, const char *identity,
	    const char *name, uint64_t now_s, uint64_t window_s,
	    uint32_t after);
/* Lift a quarantine and forget the strikes; -1 if not known. */
int	strikes_release(struct strike_table *t, const char *identity);
/* Forget identities with no strike in the window and no quarantine. */
size_t	strikes_prune(struct strike_table *t, uint64_t now_s,
	    uint64_t window_s);
/* The table as JSON text (malloc'ed), NULL on ENOMEM. */
char	*strikes_format(const struct strike_table *t);
/* Text from strikes_format into t (emptied first); -1 with err. */
int	strikes_parse(struct strike_table *t, const char *buf, size_t len,
	    char *err, size_t errlen);

/* dockerjson.c: Engine API responses and the table they keep current */

#define DOCKER_LABEL_LEN	128	/* the identity labels, cut to fit */

struct docker_ctr {
	char		id[KW_CID_LEN];
	char		name[DOCKER_NAME_LEN];	/* without the leading '/' */
	char		image[DOCKER_NAME_LEN];	/* as run: "high_cpu_img" */
	char		label_class[KW_NAME_LEN];  /* label kwarden.class */
	/* com.docker.compose.project/.service, com.docker.swarm.service.name */
	char		compose_project[DOCKER_LABEL_LEN];
	char		compose_service[DOCKER_LABEL_LEN];
	char		swarm_service[DOCKER_LABEL_LEN];
	char		state[16];	/* running, paused, exited, ... */
	uint64_t	gen;		/* generation that last saw it */
	uint64_t	starts;		/* start events seen (kept on upsert) */
};

struct docker_event {
	char		type[16];	/* "container" */
	char		action[32];	/* start, die, destroy, ... */
	struct docker_ctr c;		/* id, and the attributes */
	int		has_name;
	int		has_image;
};

struct docker_table {
	struct docker_ctr *c;
	size_t		 n;
	size_t		 cap;
	uint64_t	 gen;		/* stamped on entries upserted */
};

enum docker_apply {
	DOCKER_APPLY_IGNORED,		/* not about a container we keep */
	DOCKER_APPLY_ADDED,
	DOCKER_APPLY_UPDATED,
	DOCKER_APPLY_REMOVED,
	DOCKER_APPLY_UNKNOWN,		/* unknown, unnamed: inspect */
};

/* GET /containers/json: *out is malloc'ed (n entries). -1 with err. */
int	docker_parse_list(const char *buf, size_t len,
	    struct docker_ctr **out, size_t *n, char *err, size_t errlen);
/* GET /containers/{id}/json */
int	docker_parse_inspect(const char *buf, size_t len,
	    struct docker_ctr *c, char *err, size_t errlen);
/* One object of GET /events. */
int	docker_parse_event(const char *buf, size_t len,
	    struct docker_event *ev, char *err, size_t errlen);
/*
 * The event stream is JSON objects back to back, cut anywhere by the
 * transport: the length of the first complete object after *start
 * (leading whitespace), 0 while incomplete, -1 when it is not an object.
 */
long	docker_stream_next(const char *buf, size_t len, size_t *start);
/* Docker's {"message": ...} of an error body, else "HTTP <code>". */
void	docker_error_text(const char *buf, size_t len, long http_code,
	    char *out, size_t outlen);
void	docker_table_init(struct docker_table *t);
void	docker_table_free(struct docker_table *t);
struct docker_ctr *docker_table_find(const struct docker_table *t,
	    const char *id);
/* Insert or replace, stamped with t->gen; NULL on allocation failure. */
struct docker_ctr *docker_table_upsert(struct docker_table *t,
	    const struct docker_ctr *c);
void	docker_table_remove(struct docker_table *t, const char *id);
/* Forget entries not seen since generation gen; returns how many. */
size_t	docker_table_drop_older(struct docker_table *t, uint64_t gen);
enum docker_apply docker_table_apply_event(struct docker_table *t,
	    const struct docker_event *ev);

/*
 * engine.c: one sample of the decider as a pure step. State that lasts
 * between samples lives in struct engine; each step fills an engine_out
 * with what to publish, what to ask Docker and what to log.
 */

/* Docker's view for a step. */
struct engine_docker {
	int				 connected;	/* listed, following */
	const struct docker_table	*table;		/* NULL: no client */
};

/* One container of the current sample. */
struct engine_row {
	struct container	 c;		/* figures, Docker's names */
	struct act_entry	*act;		/* in the act table */
	size_t			 class_idx;	/* or POLICY_CLASS_NONE */
	const struct policy_decision *dec;	/* NULL: under the thresholds */
	char			 identity[IDENT_LEN];	/* "": unnamed */
	struct ladder_plan	 plan;		/* when over a threshold */
};

/* A process ranked for the top-K records. */
struct proc_rank {
	size_t		idx;			/* into snap->procs */
	int32_t		pid;
	double		cpu_pct;
	uint64_t	rss_kb;
	int		picked;
};

enum engine_log_level {
	ENGINE_LOG_INFO,
	ENGINE_LOG_WARN,
};

struct engine_log {
	enum engine_log_level level;
	char		text[512];
};

/* A call to make to Docker; rec is published with its result when it ends. */
struct engine_intent {
	enum action		 action;
	uint64_t		 nano_cpus;	/* throttle, release: the cap */
	struct kw_deletion_rec	 rec;
};

/* Rows of the decisions table written in one round, at most. */
#define ENGINE_DECISIONS_MAX	64

/* What one step produced, in the order to carry it out. */
struct engine_out {
	int			 has_sys;
	struct kw_sys_rec	 sys;
	struct kw_container_rec	*containers;
	size_t			 ncontainers, containers_cap;
	struct kw_proc_rec	*procs;		/* top K by CPU, then memory */
	size_t			 nprocs, procs_cap;
	struct kw_deletion_rec	*deletions;	/* settled, dry-run */
	size_t			 ndeletions, deletions_cap;
	struct engine_intent	*intents;
	size_t			 nintents, intents_cap;
	struct kw_decision_rec	*decisions;	/* when the verdicts changed */
	size_t			 ndecisions, decisions_cap;
	int			 strikes_changed;	/* save the strikes */
	char			(*lookups)[KW_CID_LEN];	/* unknown to Docker */
	size_t			 nlookups, lookups_cap;
	struct engine_log	*logs;
	size_t			 nlogs, logs_cap;
	int			 oom;		/* an output was dropped */
};

struct engine {
	struct policy		 policy;
	uint64_t		 settle_ns;	/* unknown outcome: give up */
	size_t			 top_k;
	struct rates		 rates;
	struct cgroup_rates	 cgrates;
	struct act_table	 acts;		/* by id, across samples */
	struct container_set	 set;		/* scratch: containers.c */
	struct engine_row	*rows;		/* the current sample */
	size_t			 nrows, rows_cap;
	/* The policy's own input and output for the current sample. */
	struct policy_cand	*cand;
	size_t			 cand_cap;
	struct policy_decision	*dec;
	size_t			 ndec, dec_cap;
	size_t			*class_of;
	size_t			 class_cap;
	uint32_t		 running[POLICY_CLASS_MAX];
	uint32_t		 alive[POLICY_CLASS_MAX];
	double			*proc_cpu;	/* rates.c: per snap->procs */
	size_t			 proc_cap;
	struct proc_rank	*rank;
	size_t			 rank_cap;
	double			 machine_cpu;
	uint64_t		 nprocs;
	uint64_t		 samples;
	uint64_t		 taken;
	uint64_t		 skipped;
	uint64_t		 dry_runs;
	struct strike_table	 strikes;	/* by identity, persisted */
	uint64_t		 wall_s;	/* the last sample's ts */
	uint64_t		 verdicts_hash;	/* of the last decisions rows */
	uint64_t		 decision_rounds;	/* rows written */
	uint64_t		 quarantines;
	uint32_t		 ncpu;		/* the last sample's */
};

void	engine_init(struct engine *e, const struct policy *p,
	    uint64_t settle_ns, size_t top_k);
void	engine_free(struct engine *e);
/* A reload: from dry-run to a real action undoes what dry-run "did". */
void	engine_set_policy(struct engine *e, const struct policy *p);
/*
 * One sample. now_ns is the monotonic clock (holds, settling). -1 when
 * out of memory: out has only a log line, the sample is forgotten, what
 * was acted on stays.
 */
int	engine_step(struct engine *e, const struct kw_snapshot *snap,
	    const struct engine_docker *dv, uint64_t now_ns,
	    struct engine_out *out);
/* An intent's call ended (acts_on_result on its container). */
void	engine_action_done(struct engine *e, const char *container_id,
	    enum docker_outcome outcome, const char *result, uint64_t now_ns);
/*
 * release NAME|ID: lift the quarantine of its identity (a row's, or one
 * the strike table knows by identity, container or name) and, for a
 * capped row, fill *cap (an intent to lift the cap, 1 returned in
 * *has_cap); the row starts the ladder afresh after escalate_after
 * alone. -1 with why when there is nothing to release.
 */
int	engine_release(struct engine *e, const char *what, uint64_t now_ns,
	    struct engine_intent *cap, int *has_cap, char *msg, size_t len);
/* The container record of a row, in class class_idx. */
void	engine_container_rec(const struct engine *e,
	    const struct engine_row *r, size_t class_idx,
	    struct kw_container_rec *cr);
/* The class of a row under the current policy (after a reload too). */
size_t	engine_class_of(const struct engine *e, const struct engine_row *r);
/* A row by exact name, else by id prefix; NULL if none. */
const struct engine_row *engine_find(const struct engine *e,
	    const char *name_or_id);
/* "running" (Docker's word), "remove in flight", "removed", ... */
const char *engine_row_state(const struct engine_row *r,
	    int docker_connected, char *buf, size_t len);
void	engine_out_init(struct engine_out *o);
void	engine_out_clear(struct engine_out *o);
void	engine_out_free(struct engine_out *o);

/* docker.c: the Engine API client on the decider's loop */

struct uv_loop_s;
struct docker;

struct docker_stats {
	int		connected;	/* listed, and following events */
	char		last_error[256];
	uint64_t	reconnects;	/* sessions lost */
	uint64_t	lists;		/* GET /containers/json done */
	uint64_t	inspects;
	uint64_t	events;		/* events received */
	uint64_t	actions_ok;
	uint64_t	actions_failed;
	uint64_t	actions_unknown;	/* sent, no answer */
	size_t		table_size;
	size_t		in_flight;	/* API calls */
};

/* result: "ok", Docker's error, or "unknown: why; waiting for Docker". */
typedef void (*docker_action_cb)(void *arg, enum docker_outcome outcome,
	    const char *result);

struct docker *docker_new(struct uv_loop_s *loop, const char *socket_path,
	    uint64_t timeout_ms);
/* Connect (list, then follow events); reconnects on its own. */
void	docker_start(struct docker *dk);
int	docker_connected(const struct docker *dk);
/*
 * NULL when Docker does not know it (or has not told us yet): while
 * connected, an unknown id is inspected once per session in the
 * background, so a container whose events were missed turns up.
 */
const struct docker_ctr *docker_lookup(struct docker *dk, const char *id);
/*
 * remove, stop or kill a container; cb runs once, later, from the loop
 * (or DOCKER_ACT_CANCELLED from docker_close). -1 when the call cannot be made.
 */
int	docker_act(struct docker *dk, const char *id, enum action action,
	    docker_action_cb cb, void *arg);
/*
 * throttle or release: POST /containers/{id}/update with NanoCpus (the
 * cap; release passes the whole machine). Quarantine goes through
 * docker_act: an update of the restart policy to "no", then a stop.
 */
int	docker_update_cpu(struct docker *dk, const char *id, enum action action,
	    uint64_t nano_cpus, docker_action_cb cb, void *arg);
/* stop's t from policy.stop_timeout (0: half the API timeout). */
void	docker_set_stop_timeout(struct docker *dk, uint64_t stop_timeout_ms);
/*
 * stop's t (whole seconds) and the call's deadline: t is half the
 * timeout (at least 1 s) and the call gets t + timeout, so Docker's
 * SIGKILL always comes well before we give up.
 */
void	docker_stop_plan(uint64_t timeout_ms, uint64_t *stop_s,
	    uint64_t *deadline_ms);
/* The table's entry, NULL if absent; never starts an inspect. */
const struct docker_ctr *docker_peek(const struct docker *dk,
	    const char *id);
/* Inspect id now (while connected): a 404 drops it from the table. */
void	docker_refresh(struct docker *dk, const char *id);
void	docker_stats(const struct docker *dk, struct docker_stats *st);
/* The table the client keeps current (for engine_docker). */
const struct docker_table *docker_get_table(const struct docker *dk);
/* Cancel every call, close every handle, free once they are closed. */
void	docker_close(struct docker *dk);

/* decider.c, views.c: the daemon (loop wiring, control views) */

struct kw_sub;
struct kw_pub;
struct kw_ctl;
struct kw_ctl_cmd;

struct decider {
	struct kw_daemon	 d;
	struct kw_sub		*sub;
	struct kw_pub		*pub;
	struct kw_ctl		*ctl;
	struct docker		*docker;
	struct engine		 eng;
	struct engine_out	 out;
	struct kw_snapshot	 snap;
	uv_timer_t		 stop_timer;	/* waiting for the last ack */
	uint64_t		 stop_deadline_ns;
	uint64_t		 bad_snapshots;
	uint64_t		 last_seq;
	uint64_t		 last_ts_ns;
	uint64_t		 last_mono_ns;
	uint64_t		 reader_gaps;
	uint64_t		 reloads;
	int			 have_snapshot;
	char			 strikes_path[4096];	/* "": not kept */
	uint64_t		 strikes_saves;
	uint64_t		 strikes_save_errors;
};

/* Carry out one intent: the call to Docker, its row when it ends. */
void	decider_act(struct decider *dz, const struct engine_intent *in);
/* Write the strike table to its file if it changed; -1 on error. */
int	decider_save_strikes(struct decider *dz);

/* -1 with err when the config's policy does not fit or make sense. */
int	policy_from_conf(const struct kw_conf *conf, struct policy *p,
	    char *err, size_t errlen);
/* The control socket's commands (views.c). */
extern const struct kw_ctl_cmd decider_ctl_cmds[];

#endif /* DECIDER_H */
