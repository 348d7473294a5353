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
 * Samples kept per process: window / interval + 2 (the oldest inside the
 * window, the newest, one for jitter), so 7 with the default window (5 s)
 * and interval (1 s): 16 bytes each, kept for every process. With an
 * interval unknown (0) RATES_HIST; never more: a much shorter interval
 * shrinks the window to RATES_HIST samples rather than growing memory.
 */
#define RATES_HIST 32

struct rate_sample {
	uint64_t ts_ns;
	uint64_t cpu_ns;
};

struct rate_entry {
	int32_t pid;
	uint32_t nhist;
	uint64_t start_ns;
	uint64_t gen;	/* last update that saw it */
	double cpu_pct; /* last computed */
	/* hcap samples, oldest first: set by the owner before each step */
	struct rate_sample *hist;
	size_t hcap;
};

/*
 * Entries live densely in ent[]; index[] is an open-addressing hash of
 * them; entry i's samples are hist[i * hlen ...].
 */
struct rates {
	struct rate_entry *ent;
	size_t nent;
	size_t capent;
	struct rate_sample *hist;
	size_t hlen;
	uint32_t *index;  /* RATES_EMPTY or index into ent */
	size_t index_cap; /* power of two */
	uint64_t window_ns;
	uint64_t interval_ns; /* 0: unknown */
	uint64_t gen;
};

void rates_init(struct rates *r, uint64_t window_ns);
void rates_set_window(struct rates *r, uint64_t window_ns);
/* The sampling interval, which sizes the history with the window. */
void rates_set_interval(struct rates *r, uint64_t interval_ns);
void rates_free(struct rates *r);
/*
 * One snapshot: fills proc_cpu_pct[i] (share of the whole machine, 0-100)
 * for every snap->procs[i] and the machine's total; forgets processes not
 * in snap. -1 on allocation failure (state is kept as it was).
 */
int rates_update(struct rates *r, const struct kw_snapshot *snap,
    double *proc_cpu_pct, double *machine_cpu_pct);
/* The one-key step, exposed for tests: returns the CPU % of this sample. */
double rates_entry_step(struct rate_entry *e, uint64_t ts_ns, uint64_t cpu_ns,
    uint32_t ncpu, uint64_t window_ns);
size_t rates_count(const struct rates *r);

/* A container's CPU from its cgroup's cumulative usage. */
struct cgroup_rate {
	char container_id[KW_CID_LEN];
	uint64_t gen; /* last step that saw it */
	struct rate_entry e;
	struct rate_sample hist[RATES_HIST]; /* e's */
};

struct cgroup_rates {
	struct cgroup_rate *r; /* sorted by container_id */
	size_t n;
	size_t cap;
	uint64_t gen;
};

void cgroup_rates_init(struct cgroup_rates *cr);
void cgroup_rates_free(struct cgroup_rates *cr);
/* *cpu_pct (share of the machine) for one sample of id; -1 on ENOMEM. */
int cgroup_rates_step(struct cgroup_rates *cr, const char *id, uint64_t ts_ns,
    uint64_t cpu_ns, uint32_t ncpu, uint64_t window_ns, double *cpu_pct);
/* Forget ids not stepped since the last sweep; returns how many. */
size_t cgroup_rates_sweep(struct cgroup_rates *cr);

/* containers.c */

/*
 * Names and images as long as Docker's are in practice, so that match and
 * protect patterns see all of them (records cut them to their own size).
 */
#define DOCKER_NAME_LEN 256

struct container {
	char container_id[KW_CID_LEN];
	char name[DOCKER_NAME_LEN]; /* "" until Docker names it */
	char image[DOCKER_NAME_LEN];
	char label_class[KW_NAME_LEN]; /* kwarden.class */
	int32_t pid;		       /* main: earliest start_ns */
	uint64_t start_ns;	       /* of the main pid */
	uint32_t nprocs;
	double cpu_pct;		 /* judged: the cgroup's, else the sum */
	double mem_pct;		 /* judged: by policy.mem_basis */
	uint64_t rss_kb;	 /* sum over its processes */
	double cpu_pct_procs;	 /* sum over its processes */
	uint32_t cg_flags;	 /* KW_CG_*: 0 without cgroup figures */
	uint64_t mem_usage_kb;	 /* the cgroup's, as charged */
	uint64_t working_set_kb; /* usage - inactive_file */
	uint64_t anon_kb;
	uint64_t file_kb;
	uint64_t mem_limit_kb; /* 0: none */
	uint64_t nr_throttled;
	uint64_t throttled_ns;
	uint64_t oom_kills;
	double psi_cpu_some; /* avg10, percent */
	double psi_mem_some;
	double psi_mem_full;
};

/* What a container's memory % is a share of MemTotal of. */
enum mem_basis {
	MEM_BASIS_WORKING_SET, /* usage - inactive_file (kubelet) */
	MEM_BASIS_RSS,	       /* sum of its processes' RSS (seed) */
	MEM_BASIS_ANON,	       /* anonymous memory of the cgroup */
};

struct container_set {
	struct container *c; /* sorted by container_id */
	size_t n;
	size_t cap;
};

void containers_init(struct container_set *set);
void containers_free(struct container_set *set);
/*
 * Group the snapshot's container processes by container_id (host
 * processes, container_id "", are left out). proc_cpu_pct is parallel to
 * snap->procs. -1 on allocation failure.
 */
int containers_aggregate(const struct kw_snapshot *snap,
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
int containers_apply_cgroups(struct container_set *set,
    const struct kw_snapshot *snap, struct cgroup_rates *cr,
    enum mem_basis basis, uint64_t window_ns);
const char *mem_basis_name(enum mem_basis b);
int mem_basis_parse(const char *s, enum mem_basis *b);

/*
 * Attribution: which container a process belongs to. A cgroup name is a
 * claim (kw_proc.container_id and .cgroup, from the reader); the claim
 * holds when the process's container directory is the container's real
 * one: the directory of its first process (State.Pid from Docker's
 * inspect) as the same snapshot shows it. Until that is known (Docker
 * unreachable, not inspected yet, not Docker's), the directory must sit
 * directly in one of the trusted parents (decider.cgroup_parents), which
 * only root can write to. A process whose claim does not hold is a host
 * process; a cgroup figure set read from a directory that is not the
 * real one is dropped.
 */
#define ATTR_DIR_SHOWN 160

struct docker_table;

struct attr_result {
	uint64_t claims;    /* container processes looked at */
	uint64_t by_pid;    /* held: the real directory known */
	uint64_t by_parent; /* held: under a trusted parent */
	uint64_t refused;   /* now host processes */
	uint64_t cgroups_dropped;
	/* The first refused, for the log line. */
	int32_t refused_pid;
	char refused_id[KW_CID_LEN];
	char refused_dir[ATTR_DIR_SHOWN];
	char real_dir[ATTR_DIR_SHOWN]; /* "": not known */
	/* Ids Docker lists whose first process it has not told: inspect. */
	kw_cidbuf *refresh;
	size_t nrefresh, refresh_cap;
	/*
	 * With keep set, the claims refused are kept here (the caller owns
	 * them until attr_restore or attr_forget) instead of freed, so the
	 * snapshot as received can be had back: a snapshot that deltas are
	 * applied to must not keep a refusal the next sample would undo.
	 */
	int keep;
	struct attr_kept *kept;
	size_t nkept, kept_cap;
};

struct attr_kept {
	int32_t pid;
	char container_id[KW_CID_LEN];
	char *cgroup; /* heap, may be NULL */
};

#define ATTR_PARENTS_MAX 16

/*
 * Check every claim of snap against the real directories (table: Docker's
 * view, NULL without one) and the trusted parents; clear the refused ones
 * (container_id "", cgroup NULL) and drop cgroup figures of other
 * directories. Fills res (its refresh list is reused). -1 on ENOMEM, snap
 * then unchanged.
 */
int containers_attribute(struct kw_snapshot *snap,
    const struct docker_table *table, const char (*parents)[64],
    size_t nparents, struct attr_result *res);
void attr_result_free(struct attr_result *res);
/*
 * Give snap's processes back the claims res kept (by pid, snap sorted by
 * pid; a process already replaced keeps its own), and forget them.
 */
void attr_restore(struct kw_snapshot *snap, struct attr_result *res);
/* Free the claims res kept (their snapshot is gone). */
void attr_forget(struct attr_result *res);
/* dir sits directly in one of parents ("/docker" for "/docker/<id>"). */
int attr_parent_trusted(const char *dir, const char (*parents)[64],
    size_t nparents);

/* policy.c */

#define POLICY_CLASS_MAX   16
#define POLICY_MATCH_MAX   16
#define POLICY_PROTECT_MAX 32
#define POLICY_PATTERN_LEN 64
/* class_of[] value for a container no class matches. */
#define POLICY_CLASS_NONE ((size_t)-1)

/* What is done to a container taken by the policy. */
enum action {
	ACTION_REMOVE, /* DELETE ?force=true: docker rm -f */
	ACTION_STOP,
	ACTION_KILL,
	ACTION_DRY_RUN,	   /* nothing: recorded only */
	ACTION_THROTTLE,   /* cap its CPU: Docker's update call */
	ACTION_QUARANTINE, /* restart policy "no", then stop */
	ACTION_RELEASE,	   /* lift a cap: the whole machine */
};

/* policy.action: steps tried in turn, escalate_after apart. */
#define POLICY_LADDER_MAX 4

struct policy_ladder {
	enum action step[POLICY_LADDER_MAX];
	size_t n; /* dry-run: one step */
};

struct policy_class {
	char name[KW_NAME_LEN];
	char match[POLICY_MATCH_MAX][POLICY_PATTERN_LEN];
	size_t nmatch;
	int wildcard; /* one of match is "*" */
	uint32_t min_alive;
	/* Overrides of the policy's; has_*: set for this class. */
	int has_cpu_threshold, has_mem_threshold;
	int has_ladder, has_sustain;
	double cpu_threshold;
	double mem_threshold;
	struct policy_ladder ladder;
	uint64_t sustain_ms;
};

struct policy {
	double cpu_threshold; /* percent of the machine */
	double mem_threshold; /* percent of MemTotal */
	uint64_t window_ms;
	uint64_t interval_ms; /* reader.interval; 0: unknown */
	enum mem_basis mem_basis;
	enum action action; /* ladder.step[0] */
	struct policy_ladder ladder;
	double throttle_to; /* percent of the machine; 0: cpu_threshold */
	uint64_t stop_timeout_ms;
	uint64_t escalate_after_ms;
	uint64_t sustain_ms;
	uint32_t quarantine_after; /* 0: never */
	uint64_t quarantine_window_ms;
	char protect[POLICY_PROTECT_MAX][POLICY_PATTERN_LEN];
	size_t nprotect;
	struct policy_class classes[POLICY_CLASS_MAX];
	size_t nclasses;
};

enum policy_verdict {
	POLICY_TAKEN,
	POLICY_SKIP_ACTED, /* already being acted on */
	POLICY_SKIP_PROTECTED,
	POLICY_SKIP_NO_CLASS,
	POLICY_SKIP_MIN_ALIVE,
	POLICY_SKIP_HOLD,	 /* cand.hold says why */
	POLICY_SKIP_SUSTAIN,	 /* over, not for policy.sustain yet */
	POLICY_SKIP_ESCALATE,	 /* a step taken, the next not due */
	POLICY_SKIP_LADDER_END,	 /* no step left that fits */
	POLICY_SKIP_QUARANTINED, /* its identity is quarantined */
};

/* What policy_decide looks at in a container. */
struct policy_cand {
	const char *container_id;
	const char *name;
	const char *image;
	const char *label_class; /* "" when there is no label */
	double cpu_pct;
	double mem_pct;
	int acted;			  /* already being acted on */
	int unknown;			  /* not named by Docker: class none */
	const char *hold;		  /* why not now; NULL: free */
	enum policy_verdict hold_verdict; /* of a hold; 0: SKIP_HOLD */
};

struct policy_decision {
	size_t cand;	  /* index of the candidate */
	size_t class_idx; /* or POLICY_CLASS_NONE */
	enum policy_verdict verdict;
	double excess;	  /* points over a threshold */
	char over[96];	  /* "cpu 48.3% > 20.0%" */
	char reason[192]; /* over, or why skipped */
};

struct policy_result {
	size_t *class_of;	     /* [n], filled */
	struct policy_decision *dec; /* [n], filled in order */
	size_t ndec;
	/* per class: running, and running minus acted before this round */
	uint32_t running[POLICY_CLASS_MAX];
	uint32_t alive[POLICY_CLASS_MAX];
	size_t taken;
	size_t skipped;
};

/* The seed's rules: 20 % / 20 %, high (high, cpu, mem) min 2, low (*) min 3. */
void policy_defaults(struct policy *p);
/* -1 with err on a bad policy (no classes is fine). */
int policy_check(const struct policy *p, char *err, size_t errlen);
/* Class index for one container, or POLICY_CLASS_NONE. */
size_t policy_classify(const struct policy *p, const char *name,
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
void policy_decide(const struct policy *p, const struct policy_cand *cand,
    size_t n, struct policy_result *res);
const char *policy_class_name(const struct policy *p, size_t class_idx);
/* The class's override, else the policy's (class_idx may be NONE). */
double policy_cpu_threshold(const struct policy *p, size_t class_idx);
double policy_mem_threshold(const struct policy *p, size_t class_idx);
const struct policy_ladder *policy_ladder_of(const struct policy *p,
    size_t class_idx);
uint64_t policy_sustain_ms(const struct policy *p, size_t class_idx);
/* throttle's cap in percent of the machine */
double policy_throttle_pct(const struct policy *p, size_t class_idx);
/* "remove", "stop", "kill", "dry-run", "throttle", ... */
const char *action_name(enum action a);
/* -1 when s names no action a config may ask for. */
int action_parse(const char *s, enum action *a);
/* "throttle, remove" or "dry-run"; -1 with err ("KEY: ...") when bad. */
int ladder_parse(const char *s, struct policy_ladder *l, const char *key,
    char *err, size_t errlen);
/* "throttle,remove" */
void ladder_format(const struct policy_ladder *l, char *buf, size_t len);
const char *policy_verdict_name(enum policy_verdict v);
/*
 * The policy of a config's [policy] and [class.*] (the decider's, and
 * kwarden-replay's); -1 with err when it does not fit or make sense.
 */
struct kw_conf;
int policy_from_conf(const struct kw_conf *conf, struct policy *p, char *err,
    size_t errlen);

/*
 * acts.c: what the decider did to each container, kept by id across
 * snapshots (a container missing from one sample keeps its in-flight call
 * and its retry backoff). Pure: the clock and Docker's view come in as
 * arguments.
 */

/* How an action (docker_act) ended. */
enum docker_outcome {
	DOCKER_ACT_CANCELLED = -1, /* docker_close while out */
	DOCKER_ACT_FAILED = 0,	   /* Docker said no, or never got it */
	DOCKER_ACT_OK = 1,
	DOCKER_ACT_UNKNOWN = 2, /* sent, then no answer: Docker may
					   still be doing it */
};

enum act_state {
	ACT_NONE,      /* running, as far as we know */
	ACT_IN_FLIGHT, /* the call to Docker is out */
	ACT_UNKNOWN,   /* sent, no answer: Docker decides */
	ACT_DONE,      /* done, or dry-run: gone */
};

/* An entry is dropped after this many samples without its container. */
#define ACTS_ABSENT_SAMPLES 3

struct act_entry {
	char container_id[KW_CID_LEN];
	enum act_state state;
	enum action action;	    /* what was done, when acted */
	char name[DOCKER_NAME_LEN]; /* when acted: later rows */
	char image[DOCKER_NAME_LEN];
	char docker_state[16];	   /* "": unknown to Docker */
	uint64_t starts_at_act;	   /* docker_ctr.starts when acted */
	uint64_t unknown_since_ns; /* ACT_UNKNOWN since (monotonic) */
	uint64_t retry_mono_ns;	   /* after a failure: not before */
	uint64_t retry_ms;	   /* the next backoff */
	char last_error[200];
	char hold[256]; /* why not now (cand.hold) */
	int logged;	/* last_*: the last skip logged */
	enum policy_verdict last_verdict;
	char last_class[KW_NAME_LEN];
	int seen;	   /* decided on in this round */
	uint64_t seen_gen; /* the last sample it was in */
	/* The ladder (monotonic clock): */
	uint64_t over_since_ns;	    /* over without a break since; 0: under */
	size_t nsteps;		    /* steps taken: the next is step[nsteps] */
	uint64_t step_ns;	    /* when the last step was taken */
	int throttled;		    /* its CPU is capped by us */
	double cap_pct;		    /* the cap, percent of the machine */
	uint64_t released_until_ns; /* release: left alone till */
	char act_class[KW_NAME_LEN]; /* its class when acted */
};

struct act_table {
	struct act_entry *e; /* sorted by container_id */
	size_t n;
	size_t cap;
	uint64_t gen; /* samples */
};

/*
 * The actions whose call is out or whose outcome is unknown (stop, kill,
 * remove, quarantine) outlive a restart of the decider in a small JSON
 * file beside the database (decider-acts.json): read back, each is an
 * ACT_UNKNOWN that Docker's table settles, never a second call.
 */
#define ACTS_FILE_VERSION 1
#define ACTS_PENDING_MAX  4096
/* {"version":1,"pending":[...]}, malloc'd; NULL when out of memory. */
char *acts_format_pending(const struct act_table *t);
/*
 * Add the file's actions as ACT_UNKNOWN, not settled as failed before
 * now_ns + hold_ns (the call's own deadline). The number added, or -1
 * with err set (nothing usable in the file).
 */
int acts_load_pending(struct act_table *t, const char *buf, size_t len,
    uint64_t now_ns, uint64_t hold_ns, char *err, size_t errlen);

/* What Docker says now of a container (for acts_settle). */
enum act_docker_view {
	ACT_VIEW_NONE,	  /* Docker unreachable: no news */
	ACT_VIEW_GONE,	  /* connected, not in its table */
	ACT_VIEW_RUNNING, /* running or paused */
	ACT_VIEW_STOPPED, /* exited, dead, created */
};

void acts_init(struct act_table *t);
void acts_free(struct act_table *t);
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
size_t acts_sweep(struct act_table *t, int (*known)(void *arg, const char *id),
    void (*gone)(void *arg, const struct act_entry *e), void *arg);
/*
 * The call ended: OK -> DONE; FAILED -> NONE, held for retry_ms (1 s,
 * doubling to 60 s); UNKNOWN -> ACT_UNKNOWN (still counted gone) until
 * acts_settle; CANCELLED changes nothing.
 */
void acts_on_result(struct act_entry *e, enum docker_outcome outcome,
    const char *result, uint64_t now_ns);
/*
 * Settle what Docker's view says: an ACT_UNKNOWN container gone or
 * stopped -> DONE ("ok: ..."); still running settle_ns after the call
 * ended -> NONE with a retry ("failed: ..."). 1 and result filled when it
 * settled (a second deletion row); 0 otherwise. A stop/kill DONE whose
 * container started again (starts moved on) goes back to NONE (returns 0).
 */
int acts_settle(struct act_entry *e, enum act_docker_view view,
    uint64_t starts, uint64_t now_ns, uint64_t settle_ns, char *result,
    size_t len);
/* Over or not in this sample: over_since_ns starts or ends a run. */
void acts_track_over(struct act_entry *e, int over, uint64_t now_ns);

/* What the ladder says of a container over a threshold, now. */
enum ladder_kind {
	LADDER_ACT,	 /* take step[step] */
	LADDER_SUSTAIN,	 /* not over for sustain yet */
	LADDER_ESCALATE, /* the next step is not due yet */
	LADDER_END,	 /* no step left that fits */
};

struct ladder_plan {
	enum ladder_kind kind;
	size_t step; /* LADDER_ACT: index into the ladder */
	enum action action;
	uint64_t wait_ms; /* SUSTAIN, ESCALATE: due in */
	uint64_t over_ms; /* over without a break this long */
	char why[160];	  /* why not now (not LADDER_ACT) */
};

/*
 * The step for a container over a threshold: sustain before the first
 * step; escalate_after after the last step (and after the container went
 * back over); throttle is skipped when memory is over, when CPU is not,
 * or when it is capped already. Pure.
 */
void ladder_plan(const struct policy_ladder *l, const struct act_entry *e,
    int cpu_over, int mem_over, uint64_t sustain_ms, uint64_t escalate_ms,
    uint64_t now_ns, struct ladder_plan *out);
/* A step was taken (the plan's): the ladder moves on. */
void acts_step_taken(struct act_entry *e, const struct ladder_plan *pl,
    uint64_t now_ns);

/*
 * strikes.c: respawn memory. An identity (compose project and service,
 * else swarm service, else name) outlives its containers; each eviction
 * is a strike against it, and quarantine_after strikes within the window
 * quarantine it. Pure, with the wall clock (unix seconds) as an
 * argument; the file it is kept in is read and written by decider.c.
 */
#define IDENT_LEN	  256
#define STRIKES_MAX	  32   /* most strikes kept: quarantine_after's cap */
#define STRIKES_IDENT_MAX 4096 /* identities kept */

struct strike_entry {
	char identity[IDENT_LEN];
	char name[DOCKER_NAME_LEN];	/* of the last container */
	uint64_t strike_s[STRIKES_MAX]; /* oldest first */
	size_t nstrikes;
	int quarantined;
	uint64_t quarantined_s;
	/* The container quarantine stopped ("": not carried out yet). */
	char applied_id[KW_CID_LEN];
};

struct strike_table {
	struct strike_entry *e;
	size_t n;
	size_t cap;
	int dirty; /* changed since the last save */
};

/* "compose:PROJECT/SERVICE", "swarm:SERVICE" or "name:NAME" ("" unnamed). */
void ident_of(const char *compose_project, const char *compose_service,
    const char *swarm_service, const char *name, char *out, size_t len);
void strikes_init(struct strike_table *t);
void strikes_free(struct strike_table *t);
struct strike_entry *strikes_find(const struct strike_table *t,
    const char *identity);
/* By identity, by container (applied_id prefix) or by last name. */
struct strike_entry *strikes_lookup(const struct strike_table *t,
    const char *what);
/* Strikes within window_s before now_s. */
size_t strikes_count(const struct strike_entry *s, uint64_t now_s,
    uint64_t window_s);
/*
 * One strike: strikes older than the window go; 1 when this one
 * quarantines the identity (after > 0 and after strikes in the window),
 * 0 when not, -1 on allocation failure.
 */
int strikes_add(struct strike_table *t, const char *identity, const char *name,
    uint64_t now_s, uint64_t window_s, uint32_t after);
/* Lift a quarantine and forget the strikes; -1 if not known. */
int strikes_release(struct strike_table *t, const char *identity);
/* Forget identities with no strike in the window and no quarantine. */
size_t strikes_prune(struct strike_table *t, uint64_t now_s,
    uint64_t window_s);
/* The table as JSON text (malloc'ed), NULL on ENOMEM. */
char *strikes_format(const struct strike_table *t);
/* Text from strikes_format into t (emptied first); -1 with err. */
int strikes_parse(struct strike_table *t, const char *buf, size_t len,
    char *err, size_t errlen);

/* dockerjson.c: Engine API responses and the table they keep current */

#define DOCKER_LABEL_LEN 128 /* the identity labels, cut to fit */

struct docker_ctr {
	char id[KW_CID_LEN];
	char name[DOCKER_NAME_LEN];    /* without the leading '/' */
	char image[DOCKER_NAME_LEN];   /* as run: "high_cpu_img" */
	char label_class[KW_NAME_LEN]; /* label kwarden.class */
	/* com.docker.compose.project/.service, com.docker.swarm.service.name */
	char compose_project[DOCKER_LABEL_LEN];
	char compose_service[DOCKER_LABEL_LEN];
	char swarm_service[DOCKER_LABEL_LEN];
	char state[16];	 /* running, paused, exited, ... */
	int32_t pid;	 /* State.Pid (inspect): its first
					   process; 0 until inspected, and
					   again after a start or a die */
	uint64_t gen;	 /* generation that last saw it */
	uint64_t starts; /* start events seen (kept on upsert) */
};

struct docker_event {
	char type[16];	     /* "container" */
	char action[32];     /* start, die, destroy, ... */
	struct docker_ctr c; /* id, and the attributes */
	int has_name;
	int has_image;
};

struct docker_table {
	struct docker_ctr *c;
	size_t n;
	size_t cap;
	uint64_t gen; /* stamped on entries upserted */
};

enum docker_apply {
	DOCKER_APPLY_IGNORED, /* not about a container we keep */
	DOCKER_APPLY_ADDED,
	DOCKER_APPLY_UPDATED,
	DOCKER_APPLY_REMOVED,
	DOCKER_APPLY_UNKNOWN, /* unknown, unnamed: inspect */
};

/* GET /containers/json: *out is malloc'ed (n entries). -1 with err. */
int docker_parse_list(const char *buf, size_t len, struct docker_ctr **out,
    size_t *n, char *err, size_t errlen);
/* GET /containers/{id}/json */
int docker_parse_inspect(const char *buf, size_t len, struct docker_ctr *c,
    char *err, size_t errlen);
/* One object of GET /events. */
int docker_parse_event(const char *buf, size_t len, struct docker_event *ev,
    char *err, size_t errlen);
/*
 * The event stream is JSON objects back to back, cut anywhere by the
 * transport: the length of the first complete object after *start
 * (leading whitespace), 0 while incomplete, -1 when it is not an object.
 */
long docker_stream_next(const char *buf, size_t len, size_t *start);
/* Docker's {"message": ...} of an error body, else "HTTP <code>". */
void docker_error_text(const char *buf, size_t len, long http_code, char *out,
    size_t outlen);
void docker_table_init(struct docker_table *t);
void docker_table_free(struct docker_table *t);
struct docker_ctr *docker_table_find(const struct docker_table *t,
    const char *id);
/* Insert or replace, stamped with t->gen; NULL on allocation failure. */
struct docker_ctr *docker_table_upsert(struct docker_table *t,
    const struct docker_ctr *c);
void docker_table_remove(struct docker_table *t, const char *id);
/* Forget entries not seen since generation gen; returns how many. */
size_t docker_table_drop_older(struct docker_table *t, uint64_t gen);
enum docker_apply docker_table_apply_event(struct docker_table *t,
    const struct docker_event *ev);

/*
 * engine.c: one sample of the decider as a pure step. State that lasts
 * between samples lives in struct engine; each step fills an engine_out
 * with what to publish, what to ask Docker and what to log.
 */

/* Docker's view for a step. */
struct engine_docker {
	int connected;			  /* listed, following */
	const struct docker_table *table; /* NULL: no client */
};

/* One container of the current sample. */
struct engine_row {
	struct container c;		   /* figures, Docker's names */
	struct act_entry *act;		   /* in the act table */
	size_t class_idx;		   /* or POLICY_CLASS_NONE */
	const struct policy_decision *dec; /* NULL: under the thresholds */
	char identity[IDENT_LEN];	   /* "": unnamed */
	uint64_t starts;		   /* Docker's start count */
	struct ladder_plan plan;	   /* when over a threshold */
};

/* A process ranked for the top-K records. */
struct proc_rank {
	size_t idx; /* into snap->procs */
	int32_t pid;
	double cpu_pct;
	uint64_t rss_kb;
	int picked;
};

enum engine_log_level {
	ENGINE_LOG_INFO,
	ENGINE_LOG_WARN,
};

struct engine_log {
	enum engine_log_level level;
	char text[512];
};

/* A call to make to Docker; rec is published with its result when it ends. */
struct engine_intent {
	enum action action;
	uint64_t nano_cpus; /* throttle, release: the cap */
	struct kw_deletion_rec rec;
};

/* Rows of the decisions table written in one round, at most. */
#define ENGINE_DECISIONS_MAX 64

/* What one step produced, in the order to carry it out. */
struct engine_out {
	int has_sys;
	struct kw_sys_rec sys;
	struct kw_container_rec *containers;
	size_t ncontainers, containers_cap;
	struct kw_proc_rec *procs; /* top K by CPU, then memory */
	size_t nprocs, procs_cap;
	struct kw_deletion_rec *deletions; /* settled, dry-run */
	size_t ndeletions, deletions_cap;
	struct engine_intent *intents;
	size_t nintents, intents_cap;
	struct kw_decision_rec *decisions; /* when the verdicts changed */
	size_t ndecisions, decisions_cap;
	int strikes_changed; /* save the strikes */
	kw_cidbuf *lookups;  /* unknown to Docker */
	size_t nlookups, lookups_cap;
	struct engine_log *logs;
	size_t nlogs, logs_cap;
	int oom; /* an output was dropped */
};

struct engine {
	struct policy policy;
	uint64_t settle_ns; /* unknown outcome: give up */
	size_t top_k;
	struct rates rates;
	struct cgroup_rates cgrates;
	struct act_table acts;	  /* by id, across samples */
	struct container_set set; /* scratch: containers.c */
	struct engine_row *rows;  /* the current sample */
	size_t nrows, rows_cap;
	/* The policy's own input and output for the current sample. */
	struct policy_cand *cand;
	size_t cand_cap;
	struct policy_decision *dec;
	size_t ndec, dec_cap;
	size_t *class_of;
	size_t class_cap;
	uint32_t running[POLICY_CLASS_MAX];
	uint32_t alive[POLICY_CLASS_MAX];
	double *proc_cpu; /* rates.c: per snap->procs */
	size_t proc_cap;
	struct proc_rank *rank;
	size_t rank_cap;
	double machine_cpu;
	uint64_t nprocs;
	uint64_t samples;
	uint64_t taken;
	uint64_t skipped;
	uint64_t dry_runs;
	struct strike_table strikes; /* by identity, persisted */
	uint64_t wall_s;	     /* the last sample's ts */
	uint64_t verdicts_hash;	     /* of the last decisions rows */
	uint64_t decision_rounds;    /* rows written */
	uint64_t quarantines;
	uint32_t ncpu;		       /* the last sample's */
	uint64_t now_ns;	       /* the last sample's clock */
	int docker_up;		       /* in the last sample */
	struct docker_table rec_table; /* engine_step_recs: scratch */
};

void engine_init(struct engine *e, const struct policy *p, uint64_t settle_ns,
    size_t top_k);
void engine_free(struct engine *e);
/* A reload: from dry-run to a real action undoes what dry-run "did". */
void engine_set_policy(struct engine *e, const struct policy *p);
/*
 * One sample. now_ns is the monotonic clock (holds, settling). -1 when
 * out of memory: out has only a log line, the sample is forgotten, what
 * was acted on stays.
 */
int engine_step(struct engine *e, const struct kw_snapshot *snap,
    const struct engine_docker *dv, uint64_t now_ns, struct engine_out *out);
/*
 * One recorded sample (the replay): the container records as the decider
 * published them (figures, Docker's state, names, labels, identity) stand
 * for the snapshot and Docker's view; then the same steps as
 * engine_step. out gets the containers, decisions, deletions, intents
 * and logs (no sys, no processes). -1 when out of memory, as engine_step.
 */
int engine_step_recs(struct engine *e, const struct kw_container_rec *recs,
    size_t n, int docker_connected, uint64_t ts_ns, uint64_t now_ns,
    struct engine_out *out);
/* An intent's call ended (acts_on_result on its container). */
void engine_action_done(struct engine *e, const char *container_id,
    enum docker_outcome outcome, const char *result, uint64_t now_ns);
/*
 * release NAME|ID: lift the quarantine of its identity (a row's, or one
 * the strike table knows by identity, container or name) and, for a
 * capped row, fill *cap (an intent to lift the cap, 1 returned in
 * *has_cap); the row starts the ladder afresh after escalate_after
 * alone. -1 with why when there is nothing to release.
 */
int engine_release(struct engine *e, const char *what, uint64_t now_ns,
    struct engine_intent *cap, int *has_cap, char *msg, size_t len);
/* The container record of a row, in class class_idx. */
void engine_container_rec(const struct engine *e, const struct engine_row *r,
    size_t class_idx, struct kw_container_rec *cr);
/* The class of a row under the current policy (after a reload too). */
size_t engine_class_of(const struct engine *e, const struct engine_row *r);
/* A row by exact name, else by id prefix; NULL if none. */
const struct engine_row *engine_find(const struct engine *e,
    const char *name_or_id);
/* "running" (Docker's word), "remove in flight", "removed", ... */
const char *engine_row_state(const struct engine_row *r, int docker_connected,
    char *buf, size_t len);
void engine_out_init(struct engine_out *o);
void engine_out_clear(struct engine_out *o);
void engine_out_free(struct engine_out *o);

/* docker.c: the Engine API client on the decider's loop */

struct uv_loop_s;
struct docker;

struct docker_stats {
	int connected; /* listed, and following events */
	char last_error[256];
	uint64_t reconnects; /* sessions lost */
	uint64_t lists;	     /* GET /containers/json done */
	uint64_t inspects;
	uint64_t events; /* events received */
	uint64_t actions_ok;
	uint64_t actions_failed;
	uint64_t actions_unknown;  /* sent, no answer */
	uint64_t lookups_deferred; /* limits.docker_lookups */
	size_t table_size;
	size_t in_flight; /* API calls */
};

/* result: "ok", Docker's error, or "unknown: why; waiting for Docker". */
typedef void (*docker_action_cb)(void *arg, enum docker_outcome outcome,
    const char *result);

struct docker *docker_new(struct uv_loop_s *loop, const char *socket_path,
    uint64_t timeout_ms);
/* Connect (list, then follow events); reconnects on its own. */
void docker_start(struct docker *dk);
int docker_connected(const struct docker *dk);
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
int docker_act(struct docker *dk, const char *id, enum action action,
    docker_action_cb cb, void *arg);
/*
 * throttle or release: POST /containers/{id}/update with NanoCpus (the
 * cap; release passes the whole machine). Quarantine goes through
 * docker_act: an update of the restart policy to "no", then a stop.
 */
int docker_update_cpu(struct docker *dk, const char *id, enum action action,
    uint64_t nano_cpus, docker_action_cb cb, void *arg);
/* stop's t from policy.stop_timeout (0: half the API timeout). */
void docker_set_stop_timeout(struct docker *dk, uint64_t stop_timeout_ms);
/*
 * stop's t (whole seconds) and the call's deadline: t is half the
 * timeout (at least 1 s) and the call gets t + timeout, so Docker's
 * SIGKILL always comes well before we give up.
 */
void docker_stop_plan(uint64_t timeout_ms, uint64_t *stop_s,
    uint64_t *deadline_ms);
/* The table's entry, NULL if absent; never starts an inspect. */
const struct docker_ctr *docker_peek(const struct docker *dk, const char *id);
/* Inspect id now (while connected): a 404 drops it from the table. */
void docker_refresh(struct docker *dk, const char *id);
void docker_stats(const struct docker *dk, struct docker_stats *st);
/*
 * A GET of /containers/{id}/{what} ("json", "logs?..."): cb runs once,
 * later, with the body (cut at max bytes) and err NULL on a 2xx, else
 * with what came and why it failed (also "cancelled" from docker_close).
 * -1 when the call cannot be made (not connected, a bad id).
 */
typedef void (*docker_fetch_cb)(void *arg, long http_code, const char *body,
    size_t len, const char *err);
int docker_fetch(struct docker *dk, const char *id, const char *what,
    size_t max, uint64_t deadline_ms, docker_fetch_cb cb, void *arg);
/* The table the client keeps current (for engine_docker). */
const struct docker_table *docker_get_table(const struct docker *dk);
/* Cancel every call, close every handle, free once they are closed. */
void docker_close(struct docker *dk);

/*
 * metrics.c: the Prometheus text exposition of the decider's state on
 * metrics.listen (GNU libmicrohttpd, driven from the loop). The view and
 * metrics_render are pure: plain structs in, text out.
 */

/* A container as exposed: the labels, then the figures in base units. */
struct metrics_container {
	char id[13]; /* the first 12 hex digits */
	const char *name;
	const char *image;
	const char *class_name;
	double cpu_ratio;    /* share of the machine, 0-1 */
	double memory_ratio; /* judged, share of MemTotal */
	double working_set_bytes;
	double memory_usage_bytes;
	double rss_bytes;
	double memory_limit_bytes; /* 0: none */
	double processes;
	double throttled_periods; /* counters of its cgroup */
	double throttled_seconds;
	double oom_kills;
	double quarantined; /* 0 or 1 */
	double throttled;   /* 1: its CPU capped by us */
	double strikes;	    /* within the window */
};

/* Counts by a few label values ("remove", "low", "ok"), kept on the loop. */
#define METRICS_LABELS_MAX 3
#define METRICS_LABEL_LEN  64

struct metrics_count {
	char label[METRICS_LABELS_MAX][METRICS_LABEL_LEN];
	uint64_t value;
};

struct metrics_counts {
	struct metrics_count *c;
	size_t n;
	size_t cap;
};

/* Add by to the count of these label values (cut to fit); -1 on ENOMEM. */
int metrics_counts_add(struct metrics_counts *t, const char *const *label,
    size_t nlabel, uint64_t by);
void metrics_counts_free(struct metrics_counts *t);

/* Everything one scrape shows. Scalars are one field and one table row. */
struct metrics_view {
	const char *version;
	const char *listen;
	double up_seconds;
	/* host */
	double host_cpu_ratio;
	double host_cpus;
	double host_memory_total_bytes;
	double host_memory_available_bytes;
	double host_memory_used_bytes;
	double host_memory_free_bytes;
	double host_processes;
	/* policy */
	double cpu_threshold_ratio;
	double memory_threshold_ratio;
	/* pipeline */
	double snapshots;
	double bad_snapshots;
	double snapshot_age_seconds; /* NaN before the first */
	double reader_connected;
	double reader_lost_messages;
	double reader_reconnects;
	double docker_connected;
	double docker_reconnects;
	double docker_events;
	double docker_calls_in_flight;
	double stream_seq;
	double stream_acked_seq;
	double stream_unacked_messages;
	double stream_ring_bytes;
	double stream_held_bytes;
	double stream_ring_acked_bytes;
	double stream_ring_trimmed;
	double stream_clients;
	double stream_clients_cut;
	double decisions_taken;
	double decisions_skipped;
	double errors;
	double reloads;
	double quarantined_identities;
	double http_connections;
	double http_connections_refused;
	double http_timeouts;
	double scrapes;
	const struct metrics_container *containers;
	size_t ncontainers;
	const struct metrics_counts *actions; /* action, class, result */
	const struct metrics_counts *skips;   /* reason */
	const struct metrics_counts *hooks;   /* kind, outcome */
};

/* Growable text; oom set when an append failed (the text is then cut). */
struct metrics_buf {
	char *p;
	size_t len;
	size_t cap;
	int oom;
};

/* The exposition (text format 0.0.4) of v, appended to out; -1 on ENOMEM. */
int metrics_render(const struct metrics_view *v, struct metrics_buf *out);
/* A label value as the format wants it: \\, \", \n escaped, UTF-8. */
void metrics_escape_label(struct metrics_buf *out, const char *s);
void metrics_buf_free(struct metrics_buf *b);
/* "HOST:PORT" or "[V6]:PORT" -> host and port; -1 with err. */
int metrics_parse_listen(const char *s, char *host, size_t hostlen,
    uint16_t *port, char *err, size_t errlen);
/* "ok", "failed", "unknown" or "cancelled", from a deletion's result. */
const char *metrics_result_class(const char *result);

struct decider;
struct metrics;

/* The counts and, unless listen is "", the server; NULL on a bad config. */
struct metrics *metrics_new(struct uv_loop_s *loop, struct decider *dz,
    char *err, size_t errlen);
/* A deletion record published: counted by action, class and result. */
void metrics_count_action(struct metrics *m, const struct kw_deletion_rec *r);
/* The skips of the sample's decisions, by reason. */
void metrics_count_skips(struct metrics *m, const struct engine *e);
/* The server's state for `status`. */
struct json_t *metrics_status_json(const struct metrics *m);
/* Stop listening, close the handles, free once they are closed. */
void metrics_close(struct metrics *m);

/*
 * evidence.c, capture.c, hooks.c: what the decider saw of a container as
 * it acted on it (evidence.c pure: log stream lines, inspect summary, top
 * processes, the JSON document; capture.c gathers it on the loop before
 * the call and keeps the last ones for `evidence` on decider.ctl), and
 * the hooks told of each action when it ends (hooks.c: a program and a
 * webhook; the queue, rate limit and retry decisions are pure).
 */

/* Docker's log stream as lines, the newest kept within the bounds. */
struct log_line {
	int stream; /* 0 tty, 1 stdout, 2 stderr */
	char *text; /* len bytes, NUL after */
	size_t len;
};

struct log_lines {
	struct log_line *l; /* oldest first */
	size_t n, cap;
	size_t bytes; /* sum of len + 1 */
	size_t max_bytes;
	size_t max_lines;
	size_t dropped;	  /* older lines let go */
	int cut;	  /* the stream or a line was cut */
	int bad;	  /* not Docker's stream format */
	char *pending[3]; /* a line with no newline yet */
	size_t npending[3];
};

void log_lines_init(struct log_lines *ll, size_t max_bytes, size_t max_lines);
void log_lines_free(struct log_lines *ll);
/*
 * GET /containers/{id}/logs body into lines. multiplexed: Docker's
 * stream of frames (8-byte header: stream 0-2, three zeros, size
 * big-endian; a container without a tty), else raw text (tty). 0; -2
 * when a frame header is not one (lines before it kept); -1 on ENOMEM.
 */
int docker_logs_demux(const char *buf, size_t len, int multiplexed,
    struct log_lines *ll);
/* 1 when the body looks multiplexed (for when inspect did not say). */
int docker_logs_multiplexed(const char *buf, size_t len);
/* s as UTF-8: each byte not part of a valid sequence becomes '?'. */
size_t evidence_utf8_clean(const char *s, size_t len, char *out);

#define EVIDENCE_LABELS_MAX  64
#define EVIDENCE_CMDLINE_LEN 512

/* What of GET /containers/{id}/json goes in the evidence (no env). */
struct evidence_inspect {
	char name[DOCKER_NAME_LEN];
	char image[DOCKER_NAME_LEN];
	char image_id[80];
	char created[48];
	char status[16];
	char started_at[48];
	int64_t restart_count;
	int oom_killed;
	int tty;
	char restart_policy[32];
	int64_t restart_max;
	int64_t nano_cpus, cpu_quota, cpu_period, cpu_shares;
	char cpuset_cpus[64];
	int64_t memory, memory_swap, memory_reservation;
	int64_t pids_limit;
	struct {
		char key[128];
		char value[256];
	} labels[EVIDENCE_LABELS_MAX];
	size_t nlabels;
	size_t labels_dropped;
};

int evidence_parse_inspect(const char *buf, size_t len,
    struct evidence_inspect *out, char *err, size_t errlen);

struct evidence_proc {
	int32_t pid;
	char name[KW_NAME_LEN];
	char cmdline[EVIDENCE_CMDLINE_LEN];
	char state;
	uint32_t threads;
	double cpu_pct;
	double mem_pct; /* RSS / MemTotal */
	uint64_t rss_kb;
};

/*
 * The container's k busiest processes of snap (CPU, then RSS), cpu_pct
 * parallel to snap->procs (NULL: 0). Returns how many, sorted.
 */
size_t evidence_top_procs(const struct kw_snapshot *snap,
    const double *cpu_pct, const char *container_id, struct evidence_proc *out,
    size_t k);

/* Everything one document says; NULL parts are absent (null in JSON). */
struct evidence_in {
	const struct kw_deletion_rec *rec;  /* who, what, why, figures */
	uint64_t ts_ns;			    /* unix, when captured */
	const struct kw_container_rec *ctr; /* the cgroup's figures */
	const struct evidence_proc *procs;
	size_t nprocs;
	const struct evidence_inspect *inspect;
	const char *inspect_error;
	const struct log_lines *logs;
	const char *logs_error;
	uint64_t capture_ms;
	int timed_out;
};

/*
 * The document as compact JSON of at most max_bytes (malloc'ed): when it
 * is bigger the oldest log lines go first, then everything but the
 * figures ("cut": true). NULL on ENOMEM.
 */
char *evidence_build(const struct evidence_in *in, size_t max_bytes);
/* evidence (or {} if none or not JSON) with "result" set; NULL: ENOMEM. */
char *evidence_with_result(const char *evidence, const char *result);

/* capture.c */
struct evidence_store;
struct decider;

struct evidence_conf {
	uint64_t timeout_ms; /* the action waits no longer */
	size_t log_lines;
	size_t log_bytes;
	size_t procs;
	size_t keep; /* documents `evidence` can show */
};

/* json: the document (malloc'ed, the callee's), NULL when none. */
typedef void (*evidence_cb)(void *arg, char *json);

struct evidence_store *evidence_store_new(const struct evidence_conf *c);
void evidence_store_free(struct evidence_store *es);
/*
 * Gather the evidence of rec's container: the top processes and figures
 * of the current sample now, Docker's logs and inspect on the loop. cb
 * runs once, within the timeout, maybe before this returns.
 */
void evidence_capture(struct decider *dz, const struct kw_deletion_rec *rec,
    evidence_cb cb, void *arg);
/* The action ended: rec->evidence gets its result; kept for `evidence`. */
void evidence_finish(struct evidence_store *es, struct kw_deletion_rec *rec);
/* `evidence NAME|ID` on decider.ctl */
struct json_t *evidence_ctl(void *arg, const char *args);
struct json_t *evidence_status(const struct evidence_store *es);

/* hooks.c */

/* A token bucket: rate_per_min refills, burst at most. */
struct hook_bucket {
	double tokens;
	uint64_t last_ms;
	int primed;
};

/* 1: take a token now; 0: over the rate (dropped). */
int hook_bucket_take(struct hook_bucket *b, double rate_per_min, double burst,
    uint64_t now_ms);
/* The wait before retry number attempt (1, 2, ...): base doubling, capped. */
uint64_t hook_backoff_ms(unsigned attempt, uint64_t base_ms, uint64_t max_ms);
/* Whether an HTTP answer is worth another try (0: a transport error). */
int hook_http_retryable(long http_code);

enum hook_next {
	HOOK_NEXT_OK,	  /* delivered */
	HOOK_NEXT_RETRY,  /* again after hook_backoff_ms */
	HOOK_NEXT_FAILED, /* given up */
};

/* After attempt number attempt (1-based) of at most 1 + retries. */
enum hook_next hook_next(int ok, int retryable, unsigned attempt,
    unsigned retries);

enum hook_admit {
	HOOK_ADMIT,
	HOOK_DROP_RATE,
	HOOK_DROP_QUEUE,
};

/* A new delivery: the queue's cap first, then the rate. */
enum hook_admit hook_admit(struct hook_bucket *b, size_t waiting,
    size_t queue_max, double rate_per_min, double burst, uint64_t now_ms);
/*
 * The KWARDEN_* variables of an action as "NAME=value" strings in buf,
 * pointers in env (at most max). Returns how many.
 */
#define HOOK_ENV_MAX 16
size_t hook_env(const struct kw_deletion_rec *r, uint64_t action_id,
    unsigned attempt, char *buf, size_t len, char **env, size_t max);

struct hooks;

struct hooks_conf {
	char exec[1024];      /* "": none */
	char webhook[1024];   /* "": none */
	uint64_t timeout_ms;  /* one attempt */
	uint32_t concurrency; /* attempts at once, both kinds */
	uint32_t retries;
	uint64_t backoff_ms;
	uint64_t backoff_max_ms;
	double rate_per_min; /* per kind */
	double burst;
	uint32_t queue_max; /* waiting, per kind */
};

struct hooks *hooks_new(struct uv_loop_s *loop, const struct hooks_conf *c);
/* One action ended: a delivery to each configured hook. */
void hooks_fire(struct hooks *h, const struct kw_deletion_rec *rec);
struct json_t *hooks_status(const struct hooks *h);
struct metrics_counts;
/*
 * Each configured kind's outcomes so far (kind: exec, webhook; outcome:
 * ok, failed, retried, dropped_rate, dropped_queue, timeout) added to t.
 */
int hooks_outcomes(const struct hooks *h, struct metrics_counts *t);
/* Drop what waits, kill what runs, free once every handle is closed. */
void hooks_close(struct hooks *h);

/*
 * The daemon: decider.c (loop wiring, reload, stop, main), conf.c,
 * publish.c, carry.c, persist.c, views.c (control views)
 */

struct kw_sub;
struct kw_pub;
struct kw_ctl;
struct kw_ctl_cmd;

struct decider {
	struct kw_daemon d;
	struct kw_sub *sub;
	struct kw_pub *pub;
	struct kw_ctl *ctl;
	struct docker *docker;
	struct metrics *metrics;     /* metrics.c */
	struct evidence_store *evid; /* capture.c */
	struct hooks *hooks;	     /* hooks.c */
	struct engine eng;
	struct engine_out out;
	/*
	 * The reader's snapshot, attributed. Its claims as received come back
	 * (attr_restore) before a delta is applied to it.
	 */
	struct kw_snapshot snap;
	uint64_t base_seq;	  /* the message snap is, 0: none */
	struct kw_snapshot dpass; /* a delta being applied */
	struct kw_pidset dexited; /* its exited pids */
	uint64_t deltas;	  /* applied */
	uint64_t deltas_waiting;  /* skipped: not on our base */
	uint64_t wholes;	  /* whole snapshots applied */
	int delta_waiting_logged;
	uv_timer_t stop_timer; /* waiting for the last ack */
	uint64_t stop_deadline_ns;
	uint64_t bad_snapshots;
	uint64_t last_seq;
	uint64_t last_ts_ns;
	uint64_t last_mono_ns;
	uint64_t reader_gaps;
	uint64_t reloads;
	int have_snapshot;
	/* Attribution (containers_attribute): the last sample, totals. */
	struct attr_result attr;
	char parents[ATTR_PARENTS_MAX][64];
	size_t nparents;
	uint64_t attr_refused;	 /* processes, all samples */
	uint64_t attr_dropped;	 /* cgroup figure sets */
	uint64_t attr_logged_ns; /* monotonic, 0: never */
	uint64_t attr_unlogged;
	char strikes_path[4096]; /* "": not kept */
	char acts_path[4096];	 /* "": not kept */
	char *acts_saved;	 /* the file's text now */
	uint64_t acts_saves;
	uint64_t acts_save_errors;
	uint64_t acts_loaded; /* pending at start */
	uint64_t strikes_saves;
	uint64_t strikes_save_errors;
};

/* conf.c: the settings the decider reads from the config */
void decider_evidence_conf(const struct kw_conf *conf,
    struct evidence_conf *ec);
void decider_hooks_conf(const struct kw_conf *conf, struct hooks_conf *hc);
/* The evidence store and the hooks, from [hooks]; fatal when they fail. */
void decider_hooks_from_conf(struct decider *dz);
/* decider.cgroup_parents */
void decider_parents_from_conf(struct decider *dz, const struct kw_conf *conf);
/* The strikes and actions files, beside paths.database. */
void decider_state_paths(const struct kw_conf *conf, char *strikes,
    size_t strikes_len, char *acts, size_t acts_len);
/* "policy: cpu > 20.0%, ..." as logged at start and on reload. */
void policy_describe(const struct policy *p, char *out, size_t len);
void decider_policy_log(const struct policy *p);

/* publish.c: records on decider.sock (none while dz->pub is NULL) */
/* A sample's sys, container and proc records. */
void decider_publish_figures(struct decider *dz, const struct engine_out *out);
void decider_publish_decisions(struct decider *dz,
    const struct engine_out *out);
/* An action's row; counted in the metrics. */
void decider_publish_deletion(struct decider *dz,
    const struct kw_deletion_rec *r);
/* The policy in force (reason: "start", "reload"). */
void decider_publish_policy(struct decider *dz, const struct kw_conf *conf,
    const char *reason);
/* The last message of a clean stop. */
void decider_publish_end(struct decider *dz);

/* carry.c: what a sample's step returned, carried out */
/*
 * Processes claiming a container from a cgroup not its own count as host
 * processes (in dz->snap), before the engine sees them.
 */
void decider_attribute(struct decider *dz, const struct docker_table *table);
/* Logs, records, lookups and intents of one step, in order. */
void decider_carry_out(struct decider *dz, const struct engine_out *out);
/* Carry out one intent: the call to Docker, its row when it ends. */
void decider_act(struct decider *dz, const struct engine_intent *in);

/*
 * persist.c: the strikes and the actions out, in dz->strikes_path and
 * dz->acts_path ("": not kept). A file that does not parse is renamed
 * to PATH.bad and the table starts empty.
 */
void decider_load_strikes(struct decider *dz);
/* Write the strike table to its file if it changed; -1 on error. */
int decider_save_strikes(struct decider *dz);
/* hold_ms: how long a loaded call may still be carried out by Docker. */
void decider_load_acts(struct decider *dz, uint64_t hold_ms);
/* Write the actions whose call is out, when that changed. */
void decider_save_acts(struct decider *dz);

/* The control socket's commands (views.c). */
extern const struct kw_ctl_cmd decider_ctl_cmds[];

#endif /* DECIDER_H */
