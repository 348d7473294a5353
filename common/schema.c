/*
 * Every message body as a table of fields: wire key, member, type, and the
 * SQL column it is stored in. To add a field, add its member to the struct
 * in proto.h and one row here; the codec, the recorder and JSON follow.
 */
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "proto.h"

/* The field tables, aligned by column (not clang-formatted): */
/* clang-format off */
/* The C type a member of each field type must have. */
#define CTYPE_STR(T, m)		char (*)[sizeof(((T *)0)->m)]
#define CTYPE_HSTR(T, m)	char **
#define CTYPE_CHAR(T, m)	char *
#define CTYPE_U64(T, m)		uint64_t *
#define CTYPE_U32(T, m)		uint32_t *
#define CTYPE_I32(T, m)		int32_t *
#define CTYPE_F64(T, m)		double *
#define CTYPE_BOOL(T, m)	int *

/* 0, or a compile error when member m of T does not have type ty. */
#define TYPE_CHECK(T, m, ty)						\
	(0 * sizeof(struct { int ok; _Static_assert(_Generic(&((T *)0)->m, \
	    CTYPE_##ty(T, m): 1, default: 0),				\
	    #T "." #m " is not of field type " #ty); }))

/*
 * One row: wire key k, member m of T of field type ty, optional or not,
 * stored in table tab, column col (NULL, NULL: not stored).
 */
#define FIELD(T, k, m, ty, opt, tab, col, setter)			\
	{ .key = k, .type = KW_F_##ty,					\
	    .off = offsetof(T, m) + TYPE_CHECK(T, m, ty),		\
	    .size = sizeof(((T *)0)->m), .optional = opt, .table = tab,	\
	    .column = col, .set = setter }

/* 0, or a compile error when member m of T is not a ty (what). */
#define MEMBER_CHECK(T, m, ty, what)					\
	(0 * sizeof(struct { int ok; _Static_assert(_Generic(&((T *)0)->m, \
	    ty: 1, default: 0), #T "." #m " is not " what); }))

/* Member m of T is a struct E, a record of schema sch: a map. */
#define NESTED(T, k, m, E, sch, opt)					\
	{ .key = k, .type = KW_F_MAP,					\
	    .off = offsetof(T, m) + MEMBER_CHECK(T, m, E *, #E),	\
	    .size = sizeof(E), .optional = opt, .sub = &sch }

/*
 * Member m of T points to n (a size_t member) records E of schema sch: an
 * array of maps; a decode appends each with adder after reserver.
 */
#define ARRAY(T, k, m, n, E, sch, opt, adder, reserver)			\
	{ .key = k, .type = KW_F_ARRAY,					\
	    .off = offsetof(T, m) + MEMBER_CHECK(T, m, E **, #E " *"),	\
	    .size = sizeof(E), .optional = opt, .sub = &sch,		\
	    .count = offsetof(T, n) + MEMBER_CHECK(T, n, size_t *, "size_t"), \
	    .add = adder, .reserve = reserver }

#define NFIELDS(a)	(sizeof(a) / sizeof((a)[0]))

#define SCHEMA(var, nm, T, rows)					\
_Static_assert(NFIELDS(rows) <= KW_FIELDS_MAX, #rows ": too many fields"); \
const struct kw_schema var = { nm, rows, NFIELDS(rows), sizeof(T) }

/* snapshot: host, procs[] and cgroups[] (nested in it below), not stored */

#define HOST(k, m, ty, opt)						\
	FIELD(struct kw_host, k, m, ty, opt, NULL, NULL, NULL)

static const struct kw_field host_fields[] = {
	HOST("mem_total_kb",		mem_total_kb,		U64, 0),
	HOST("mem_free_kb",		mem_free_kb,		U64, 0),
	HOST("mem_used_kb",		mem_used_kb,		U64, 0),
	HOST("mem_available_kb",	mem_available_kb,	U64, 1),
	HOST("ncpu",			ncpu,			U32, 0),
};
SCHEMA(kw_host_schema, "host", struct kw_host, host_fields);

static int
proc_cmdline_set(void *p, const char *s, size_t len)
{
	return kw_proc_set_cmdline(p, s, len);
}

static int
proc_cgroup_set(void *p, const char *s, size_t len)
{
	return kw_proc_set_cgroup(p, s, len);
}

#define PROC(k, m, ty, opt)						\
	FIELD(struct kw_proc, k, m, ty, opt, NULL, NULL, NULL)

static const struct kw_field proc_fields[] = {
	PROC("pid",		pid,		I32,	0),
	PROC("ppid",		ppid,		I32,	0),
	PROC("name",		name,		STR,	0),
	FIELD(struct kw_proc, "cmdline", cmdline, HSTR, 1, NULL, NULL,
	    proc_cmdline_set),
	PROC("state",		state,		CHAR,	0),
	PROC("vsz_kb",		vsz_kb,		U64,	0),
	PROC("rss_kb",		rss_kb,		U64,	0),
	PROC("cpu_ns",		cpu_ns,		U64,	0),
	PROC("start_ns",	start_ns,	U64,	0),
	PROC("uid",		uid,		U32,	1),
	PROC("threads",		threads,	U32,	1),
	PROC("container_id",	container_id,	STR,	0),
	FIELD(struct kw_proc, "cgroup", cgroup, HSTR, 1, NULL, NULL,
	    proc_cgroup_set),
};
SCHEMA(kw_proc_schema, "proc", struct kw_proc, proc_fields);

#define CGROUP(k, m, ty)						\
	FIELD(struct kw_cgroup_stat, k, m, ty, 0, NULL, NULL, NULL)

static const struct kw_field cgroup_stat_fields[] = {
	CGROUP("container_id",		container_id,		STR),
	CGROUP("flags",			flags,			U32),
	CGROUP("cpu_usage_ns",		cpu_usage_ns,		U64),
	CGROUP("nr_throttled",		nr_throttled,		U64),
	CGROUP("throttled_ns",		throttled_ns,		U64),
	CGROUP("mem_usage_bytes",	mem_usage_bytes,	U64),
	CGROUP("mem_working_set_bytes",	mem_working_set_bytes,	U64),
	CGROUP("mem_anon_bytes",	mem_anon_bytes,		U64),
	CGROUP("mem_file_bytes",	mem_file_bytes,		U64),
	CGROUP("mem_limit_bytes",	mem_limit_bytes,	U64),
	CGROUP("oom_kills",		oom_kills,		U64),
	CGROUP("psi_cpu_some_avg10",	psi_cpu_some_avg10,	F64),
	CGROUP("psi_mem_some_avg10",	psi_mem_some_avg10,	F64),
	CGROUP("psi_mem_full_avg10",	psi_mem_full_avg10,	F64),
	FIELD(struct kw_cgroup_stat, "cgroup", cgroup, STR, 1, NULL, NULL,
	    NULL),
};
SCHEMA(kw_cgroup_stat_schema, "cgroup", struct kw_cgroup_stat,
    cgroup_stat_fields);

static void *
snapshot_add_proc(void *snap)
{
	return kw_snapshot_add(snap);
}

static int
snapshot_reserve_procs(void *snap, size_t n)
{
	return kw_snapshot_reserve(snap, n);
}

static void *
snapshot_add_cgroup(void *snap)
{
	return kw_snapshot_add_cgroup(snap);
}

/*
 * The snapshot's body. "ts" (ts_ns) is the envelope's; "mono" is optional,
 * so is "cgroups": a reader without them sends none.
 */
#define SNAP(k, m, ty, opt)						\
	FIELD(struct kw_snapshot, k, m, ty, opt, NULL, NULL, NULL)

static const struct kw_field snapshot_fields[] = {
	SNAP("source",		source,		STR, 0),
	SNAP("mono",		mono_ns,	U64, 1),
	NESTED(struct kw_snapshot, "host", host, struct kw_host,
	    kw_host_schema, 0),
	ARRAY(struct kw_snapshot, "procs", procs, nprocs, struct kw_proc,
	    kw_proc_schema, 0, snapshot_add_proc, snapshot_reserve_procs),
	ARRAY(struct kw_snapshot, "cgroups", cgroups, ncgroups,
	    struct kw_cgroup_stat, kw_cgroup_stat_schema, 1,
	    snapshot_add_cgroup, NULL),
};
SCHEMA(kw_snapshot_schema, "snapshot", struct kw_snapshot, snapshot_fields);

/*
 * The decider's records: every field required. Each row ends with the
 * table and column the recorder stores it in; the recorder adds id, ts,
 * epoch and seq to every table. The seed's tables and columns keep their
 * names (Grafana reads them).
 */

#define SYS(k, m, ty, tab, col)						\
	FIELD(struct kw_sys_rec, k, m, ty, 0, tab, col, NULL)

static const struct kw_field sys_fields[] = {
	SYS("mem_total_kb",	mem_total_kb,	U64, "sys_metrics",
	    "mem_total_kb"),
	SYS("mem_free_kb",	mem_free_kb,	U64, "sys_metrics",
	    "mem_free_kb"),
	SYS("mem_used_kb",	mem_used_kb,	U64, "sys_metrics",
	    "mem_used_kb"),
	SYS("mem_available_kb",	mem_available_kb, U64, "sys_metrics",
	    "mem_available_kb"),
	SYS("cpu_pct",		cpu_pct,	F64, "sys_metrics", "cpu_pct"),
	SYS("nprocs",		nprocs,		U64, "process_count", "total"),
};
SCHEMA(kw_sys_schema, "sys", struct kw_sys_rec, sys_fields);

#define CONTAINER(k, m, ty, col)					\
	FIELD(struct kw_container_rec, k, m, ty, 0, "containers", col, NULL)
#define CONTAINER_OPT(k, m, ty, col)					\
	FIELD(struct kw_container_rec, k, m, ty, 1, "containers", col, NULL)

static const struct kw_field container_fields[] = {
	CONTAINER("container_id",	container_id,	STR, "container_id"),
	CONTAINER("name",		name,		STR, "name"),
	CONTAINER("image",		image,		STR, "image"),
	CONTAINER("class",		class_name,	STR, "class"),
	CONTAINER("pid",		pid,		I32, "pid"),
	CONTAINER("nprocs",		nprocs,		U32, "nprocs"),
	CONTAINER("cpu_pct",		cpu_pct,	F64, "cpu_pct"),
	CONTAINER("mem_pct",		mem_pct,	F64, "mem_pct"),
	CONTAINER("rss_kb",		rss_kb,		U64, "rss_kb"),
	/* The cgroup's figures: optional, so an older decider still decodes. */
	CONTAINER_OPT("figures",	figures,	STR, "figures"),
	CONTAINER_OPT("cpu_pct_procs",	cpu_pct_procs,	F64, "cpu_pct_procs"),
	CONTAINER_OPT("mem_usage_kb",	mem_usage_kb,	U64, "mem_usage_kb"),
	CONTAINER_OPT("working_set_kb",	working_set_kb,	U64, "working_set_kb"),
	CONTAINER_OPT("anon_kb",	anon_kb,	U64, "anon_kb"),
	CONTAINER_OPT("mem_limit_kb",	mem_limit_kb,	U64, "mem_limit_kb"),
	CONTAINER_OPT("nr_throttled",	nr_throttled,	U64, "nr_throttled"),
	CONTAINER_OPT("throttled_ns",	throttled_ns,	U64, "throttled_ns"),
	CONTAINER_OPT("oom_kills",	oom_kills,	U64, "oom_kills"),
	CONTAINER_OPT("psi_cpu_some",	psi_cpu_some,	F64, "psi_cpu_some"),
	CONTAINER_OPT("psi_mem_some",	psi_mem_some,	F64, "psi_mem_some"),
	CONTAINER_OPT("psi_mem_full",	psi_mem_full,	F64, "psi_mem_full"),
	/* What else the policy saw, for kwarden-replay: optional too. */
	CONTAINER_OPT("label_class",	label_class,	STR, "label_class"),
	CONTAINER_OPT("identity",	identity,	STR, "identity"),
	CONTAINER_OPT("docker_state",	docker_state,	STR, "docker_state"),
	CONTAINER_OPT("docker",		docker,		U32, "docker"),
	CONTAINER_OPT("starts",		starts,		U64, "starts"),
	CONTAINER_OPT("sample_ns",	sample_ns,	U64, "sample_ns"),
};
SCHEMA(kw_container_schema, "container", struct kw_container_rec,
    container_fields);

#define PROC_REC(k, m, ty, col)						\
	FIELD(struct kw_proc_rec, k, m, ty, 0, "processes", col, NULL)

static const struct kw_field proc_rec_fields[] = {
	PROC_REC("pid",			pid,		I32, "pid"),
	PROC_REC("name",		name,		STR, "name"),
	PROC_REC("cmdline",		cmdline,	STR, "cmdline"),
	PROC_REC("container_id",	container_id,	STR, "container_id"),
	PROC_REC("cpu_pct",		cpu_pct,	F64, "cpu_pct"),
	PROC_REC("mem_pct",		mem_pct,	F64, "mem_pct"),
	PROC_REC("rss_kb",		rss_kb,		U64, "rss_kb"),
};
SCHEMA(kw_proc_rec_schema, "proc", struct kw_proc_rec, proc_rec_fields);

/* The recorder keeps a proc record only up to the end of its cmdline. */
_Static_assert(offsetof(struct kw_proc_rec, cmdline) +
    sizeof(((struct kw_proc_rec *)0)->cmdline) + sizeof(uint64_t) >
    sizeof(struct kw_proc_rec), "kw_proc_rec: cmdline must be last");

static int
deletion_evidence_set(void *r, const char *s, size_t len)
{
	return kw_deletion_set_evidence(r, s, len);
}

#define DELETION(k, m, ty, col)						\
	FIELD(struct kw_deletion_rec, k, m, ty, 0, "deletions", col, NULL)
#define DELETION_OPT(k, m, ty, col)					\
	FIELD(struct kw_deletion_rec, k, m, ty, 1, "deletions", col, NULL)

static const struct kw_field deletion_fields[] = {
	DELETION("container_id",	container_id,	STR, "container_id"),
	DELETION("name",		name,		STR, "name"),
	DELETION("image",		image,		STR, "image"),
	DELETION("class",		class_name,	STR, "class"),
	DELETION("action",		action,		STR, "action"),
	DELETION("reason",		reason,		STR, "reason"),
	DELETION("cpu_pct",		cpu_pct,	F64, "cpu_pct"),
	DELETION("mem_pct",		mem_pct,	F64, "mem_pct"),
	DELETION("result",		result,		STR, "result"),
	/* Optional: a decider that captures none sends none. */
	FIELD(struct kw_deletion_rec, "evidence", evidence, HSTR, 1,
	    "deletions", "evidence", deletion_evidence_set),
	/* The ladder: optional, so an older decider still decodes. */
	DELETION_OPT("step",		step,		U32, "step"),
	DELETION_OPT("identity",	identity,	STR, "identity"),
	DELETION_OPT("strikes",		strikes,	U32, "strikes"),
};
SCHEMA(kw_deletion_schema, "deletion", struct kw_deletion_rec,
    deletion_fields);

#define DECISION(k, m, ty, col)						\
	FIELD(struct kw_decision_rec, k, m, ty, 0, "decisions", col, NULL)

static const struct kw_field decision_fields[] = {
	DECISION("container_id",	container_id,	STR, "container_id"),
	DECISION("name",		name,		STR, "name"),
	DECISION("class",		class_name,	STR, "class"),
	DECISION("identity",		identity,	STR, "identity"),
	DECISION("cpu_pct",		cpu_pct,	F64, "cpu_pct"),
	DECISION("mem_pct",		mem_pct,	F64, "mem_pct"),
	DECISION("cpu_threshold",	cpu_threshold,	F64, "cpu_threshold"),
	DECISION("mem_threshold",	mem_threshold,	F64, "mem_threshold"),
	DECISION("excess",		excess,		F64, "excess"),
	DECISION("verdict",		verdict,	STR, "verdict"),
	DECISION("action",		action,		STR, "action"),
	DECISION("reason",		reason,		STR, "reason"),
	DECISION("strikes",		strikes,	U32, "strikes"),
};
SCHEMA(kw_decision_schema, "decision", struct kw_decision_rec,
    decision_fields);

#define POLICY_REC(k, m, ty, col)					\
	FIELD(struct kw_policy_rec, k, m, ty, 0, "policy", col, NULL)

static const struct kw_field policy_fields[] = {
	POLICY_REC("reason",	reason,		STR, "reason"),
	POLICY_REC("conf",	conf,		STR, "conf"),
};
SCHEMA(kw_policy_schema, "policy", struct kw_policy_rec, policy_fields);

/* control messages: their bodies, not stored */

#define CTL(T, k, m, ty, opt)	FIELD(T, k, m, ty, opt, NULL, NULL, NULL)

static const struct kw_field hello_fields[] = {
	CTL(struct kw_hello,	"stream",	stream,		STR,	0),
	CTL(struct kw_hello,	"epoch",	epoch,		U64,	0),
	CTL(struct kw_hello,	"v",		v,		U64,	1),
};
SCHEMA(kw_hello_schema, "hello", struct kw_hello, hello_fields);

static const struct kw_field sub_fields[] = {
	CTL(struct kw_sub_req,	"epoch",	epoch,		U64,	1),
	CTL(struct kw_sub_req,	"from",		from,		U64,	0),
	CTL(struct kw_sub_req,	"durable",	durable,	BOOL,	1),
};
SCHEMA(kw_sub_schema, "sub", struct kw_sub_req, sub_fields);

static const struct kw_field gap_fields[] = {
	CTL(struct kw_gap,	"from",		from,		U64,	0),
	CTL(struct kw_gap,	"to",		to,		U64,	0),
};
SCHEMA(kw_gap_schema, "gap", struct kw_gap, gap_fields);

static const struct kw_field ack_fields[] = {
	CTL(struct kw_ack,	"seq",		seq,		U64,	0),
};
SCHEMA(kw_ack_schema, "ack", struct kw_ack, ack_fields);

const struct kw_schema *const kw_records[] = {
	&kw_sys_schema,
	&kw_container_schema,
	&kw_proc_rec_schema,
	&kw_deletion_schema,
	&kw_decision_schema,
	&kw_policy_schema,
};
/* clang-format on */

/* The elements of array field f of rec, each an object. */
static json_t *
array_to_json(const struct kw_field *f, const void *rec)
{
	const char *base = rec;
	const char *elem = *(const char *const *)(base + f->off);
	size_t i, n = *(const size_t *)(base + f->count);
	json_t *a, *o;

	if ((a = json_array()) == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		if ((o = kw_record_to_json(f->sub, elem + i * f->size)) ==
			NULL ||
		    json_array_append_new(a, o) == -1) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

json_t *
kw_record_to_json(const struct kw_schema *s, const void *rec)
{
	const struct kw_field *f = s->fields;
	const char *base = rec;
	json_t *o, *v;
	char c[2];
	size_t i;

	if ((o = json_object()) == NULL)
		return NULL;
	for (i = 0; i < s->nfields; i++, f++) {
		const void *p = base + f->off;

		switch (f->type) {
		case KW_F_STR:
			v = json_string(p);
			break;
		case KW_F_HSTR:
			v = json_string(*(char *const *)p != NULL ?
				*(char *const *)p :
				"");
			break;
		case KW_F_CHAR:
			c[0] = *(const char *)p;
			c[1] = '\0';
			v = json_string(c);
			break;
		case KW_F_U64:
			v = json_integer((json_int_t) * (const uint64_t *)p);
			break;
		case KW_F_U32:
			v = json_integer(*(const uint32_t *)p);
			break;
		case KW_F_I32:
			v = json_integer(*(const int32_t *)p);
			break;
		case KW_F_F64:
			v = json_real(*(const double *)p);
			break;
		case KW_F_BOOL:
			v = json_boolean(*(const int *)p);
			break;
		case KW_F_MAP:
			v = kw_record_to_json(f->sub, p);
			break;
		case KW_F_ARRAY:
			v = array_to_json(f, rec);
			break;
		default:
			v = json_null();
			break;
		}
		/* Not UTF-8, NaN or out of memory: null rather than absent. */
		if (v == NULL)
			v = json_null();
		if (json_object_set_new(o, f->key, v) == -1) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}
