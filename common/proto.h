/*
 * The wire protocol: every message type in one table, and the one place
 * each is encoded and decoded. A stream is msgpack maps back to back;
 * every map has "t" (type), "seq" and "ts" (unix ns).
 */
#ifndef KW_PROTO_H
#define KW_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#define KW_PROTO_VERSION 1
/* The largest message a reader of a stream buffers before giving up. */
#define KW_MSG_MAX (64u << 20)
/* The most elements one array or map of a message may declare. */
#define KW_MSG_COUNT_MAX (1u << 20)
#define KW_NAME_LEN	 64
#define KW_CMDLINE_MAX	 4096
#define KW_CID_LEN	 65 /* 64 hex + NUL */
/* A container id's buffer, for pointers to such buffers (arrays of ids). */
typedef char kw_cidbuf[KW_CID_LEN];
/* A container's cgroup directory, longest kept ("/docker/<id>"). */
#define KW_CGDIR_MAX 4096

enum kw_msg_type {
	KW_MSG_UNKNOWN = 0,
	KW_MSG_HELLO,	  /* producer: stream, epoch, v */
	KW_MSG_SUB,	  /* consumer: epoch, from */
	KW_MSG_GAP,	  /* producer: from, to */
	KW_MSG_ACK,	  /* consumer: seq */
	KW_MSG_SNAPSHOT,  /* reader */
	KW_MSG_SYS,	  /* decider */
	KW_MSG_CONTAINER, /* decider */
	KW_MSG_PROC,	  /* decider */
	KW_MSG_DELETION,  /* decider */
	KW_MSG_END,	  /* decider: the last of its epoch */
	KW_MSG_DECISION,  /* decider: a candidate's verdict */
	KW_MSG_POLICY,	  /* decider: the policy in force, at start
				   and on each reload */
	KW_MSG_DELTA,	  /* reader: what changed since a snapshot */
	KW_MSG__COUNT,
};

/*
 * msgpack-c reserves memory for an array or map as soon as it reads the
 * declared count, so a few bytes can ask for gigabytes. A reader hands
 * msgpack-c only whole messages that a scanner has walked first, checking
 * every declared length and count against limits: msgpack-c then never
 * sees a header it could act on before the scanner has checked it, however
 * the bytes were cut into reads. The scanner keeps its place in the
 * message being received between reads.
 */
struct kw_mpscan {
	size_t pos;	  /* bytes of the message walked */
	uint64_t need;	  /* objects still to come in it */
	size_t max_len;	  /* longest message, so longest str */
	size_t max_count; /* most elements in one array or map */
};

void kw_mpscan_init(struct kw_mpscan *s, size_t max_len, size_t max_count);
/*
 * Walk on through buf[0..len), the bytes of the message being received
 * (and maybe more). 1: a whole message of s->pos bytes is there; 0: more
 * bytes are needed; -1: a declared length or count, or the message, is
 * over a limit; -2: not msgpack (0xc1).
 */
int kw_mpscan_feed(struct kw_mpscan *s, const char *buf, size_t len);
/* The message was handed on: start on the next one. */
void kw_mpscan_next(struct kw_mpscan *s);
/*
 * msgpack_unpacker_next behind the scanner: msgpack-c is given one whole,
 * checked message at a time and nothing past it. Returns MSGPACK_UNPACK_*
 * or KW_UNPACK_REFUSED. msgpack_unpacker_message_size() stays the bytes
 * buffered of the message being received.
 */
#define KW_UNPACK_REFUSED (-100)
int kw_unpacker_next(msgpack_unpacker *u, struct kw_mpscan *s,
    msgpack_unpacked *res);
/*
 * The same for bytes gathered in the caller's own buffer: the next message
 * of buf[0..len) (the scanner's state carried over from earlier calls)
 * decoded in place into zone, its length in *msg_len. Returns
 * MSGPACK_UNPACK_SUCCESS, MSGPACK_UNPACK_CONTINUE (more bytes needed),
 * MSGPACK_UNPACK_PARSE_ERROR or KW_UNPACK_REFUSED. *obj points into buf
 * and zone: the caller clears the zone when done with it.
 */
int kw_unpack_next(struct kw_mpscan *s, const char *buf, size_t len,
    msgpack_zone *zone, msgpack_object *obj, size_t *msg_len);

const char *kw_msg_type_name(enum kw_msg_type type);
enum kw_msg_type kw_msg_type_from(const char *s, size_t len);

/* A decoded envelope; obj is the whole map, valid while the zone lives. */
struct kw_msg {
	enum kw_msg_type type;
	uint64_t seq;
	uint64_t ts_ns;
	const msgpack_object *obj;
};

/*
 * Check the envelope of one unpacked object: a map with string keys, a
 * string "t", uint "seq" and "ts" (both optional on consumer->producer
 * messages). Fills msg; -1 with err set on a malformed message.
 */
int kw_msg_decode(const msgpack_object *obj, struct kw_msg *msg, char *err,
    size_t errlen);

/* Typed getters over a message map. Return -1 if absent or wrong type. */
const msgpack_object *kw_map_get(const msgpack_object *map, const char *key);
int kw_get_u64(const msgpack_object *map, const char *key, uint64_t *v);
int kw_get_i64(const msgpack_object *map, const char *key, int64_t *v);
int kw_get_f64(const msgpack_object *map, const char *key, double *v);
/* Copies at most len-1 bytes and NUL-terminates. */
int kw_get_str(const msgpack_object *map, const char *key, char *buf,
    size_t len);
/* Pack helpers: a key followed by a value. */
void kw_pack_str(msgpack_packer *pk, const char *s);
void kw_pack_kstr(msgpack_packer *pk, const char *key, const char *s);
void kw_pack_ku64(msgpack_packer *pk, const char *key, uint64_t v);
void kw_pack_ki64(msgpack_packer *pk, const char *key, int64_t v);
void kw_pack_kf64(msgpack_packer *pk, const char *key, double v);

/* Small control messages: these pack a whole map. */
void kw_pack_hello(msgpack_packer *pk, const char *stream, uint64_t epoch,
    uint64_t seq, uint64_t ts_ns);
/* durable: the sender is the consumer whose acks count (the recorder). */
void kw_pack_sub(msgpack_packer *pk, uint64_t epoch, uint64_t from,
    int durable);
void kw_pack_gap(msgpack_packer *pk, uint64_t from, uint64_t to,
    uint64_t ts_ns);
void kw_pack_ack(msgpack_packer *pk, uint64_t seq);

/* reader -> decider: snapshot */
struct kw_host {
	uint64_t mem_total_kb;
	uint64_t mem_free_kb;
	uint64_t mem_used_kb;
	uint64_t mem_available_kb;
	uint32_t ncpu;
};

struct kw_proc {
	int32_t pid;
	int32_t ppid;
	uint32_t uid;
	uint32_t threads;
	char state; /* 'R', 'S', ... */
	char name[KW_NAME_LEN];
	char *cmdline; /* heap, never NULL once set */
	uint64_t vsz_kb;
	uint64_t rss_kb;
	uint64_t cpu_ns;	       /* user+system, whole group */
	uint64_t start_ns;	       /* since boot */
	char container_id[KW_CID_LEN]; /* "" for host */
	/*
	 * The directory of the container its cgroup claims ("/docker/<id>",
	 * the path cut after the component naming it); heap, NULL for a
	 * host process. The decider checks it against the container's real
	 * one: a look-alike directory is a host process.
	 */
	char *cgroup;
};

/* What a container's own cgroup says (kw_cgroup_stat.flags). */
#define KW_CG_CPU	  0x01 /* cpu_usage_ns */
#define KW_CG_THROTTLE	  0x02 /* nr_throttled, throttled_ns */
#define KW_CG_MEMORY	  0x04 /* usage, anon, file, limit */
#define KW_CG_WORKING_SET 0x08 /* inactive_file known */
#define KW_CG_OOM	  0x10 /* oom_kills */
#define KW_CG_PSI	  0x20 /* pressure */

/* A container's figures from its cgroup, one per container per sample. */
struct kw_cgroup_stat {
	char container_id[KW_CID_LEN];
	char cgroup[KW_CGDIR_MAX]; /* the directory read */
	uint32_t flags;		   /* KW_CG_* */
	uint64_t cpu_usage_ns;	   /* cumulative */
	uint64_t nr_throttled;
	uint64_t throttled_ns;
	uint64_t mem_usage_bytes;
	uint64_t mem_working_set_bytes; /* usage - inactive_file */
	uint64_t mem_anon_bytes;
	uint64_t mem_file_bytes;
	uint64_t mem_limit_bytes; /* 0: none */
	uint64_t oom_kills;
	double psi_cpu_some_avg10; /* percent */
	double psi_mem_some_avg10;
	double psi_mem_full_avg10;
};

struct kw_snapshot {
	char source[8]; /* "kmod" or "procfs" */
	uint64_t ts_ns; /* when it was taken */
	/*
	 * CLOCK_MONOTONIC when it was taken ("mono"; 0 from a reader that
	 * sends none): what rates are computed on, since the wall clock
	 * can be stepped (kw_snapshot_clock).
	 */
	uint64_t mono_ns;
	struct kw_host host;
	struct kw_proc *procs;
	size_t nprocs;
	size_t cap;
	struct kw_cgroup_stat *cgroups; /* by container, may be none */
	size_t ncgroups;
	size_t capcgroups;
};

void kw_snapshot_init(struct kw_snapshot *snap);
/* Append a zeroed proc (cmdline ""), NULL on allocation failure. */
struct kw_proc *kw_snapshot_add(struct kw_snapshot *snap);
/* Capacity for exactly n processes (shrinks too); -1: out of memory. */
int kw_snapshot_reserve(struct kw_snapshot *snap, size_t n);
int kw_proc_set_cmdline(struct kw_proc *p, const char *s, size_t len);
/* p->cgroup: len bytes of s, NULL when len is 0 (a host process). */
int kw_proc_set_cgroup(struct kw_proc *p, const char *s, size_t len);
/* Append a zeroed cgroup figure set, NULL on allocation failure. */
struct kw_cgroup_stat *kw_snapshot_add_cgroup(struct kw_snapshot *snap);
void kw_snapshot_clear(struct kw_snapshot *snap); /* keep capacity */
void kw_snapshot_free(struct kw_snapshot *snap);
/* The clock rates use: mono_ns, or ts_ns from a reader without it. */
uint64_t kw_snapshot_clock(const struct kw_snapshot *snap);
/*
 * The body's fields, from kw_snapshot_schema (the map header is the
 * caller's: KW_SNAPSHOT_FIELDS, as kw_pub_begin writes it). ts_ns is the
 * envelope's "ts".
 */
void kw_snapshot_pack(msgpack_packer *pk, const struct kw_snapshot *snap);
/* snap must be initialised; it is cleared first. -1 with err on bad shape. */
int kw_snapshot_unpack(const msgpack_object *map, struct kw_snapshot *snap,
    char *err, size_t errlen);

/*
 * reader -> decider: delta. The snapshot's body, its procs only the records
 * that changed (new pids and reused ones too) since the message whose seq
 * is "base", plus "exited": the pids gone since. Applied to the snapshot
 * that message left (kw_snapshot_apply), it gives the reader's whole
 * snapshot. A consumer whose last applied message is not base waits for
 * the next whole snapshot.
 */
struct kw_pidset {
	int32_t *pids;
	size_t n, cap;
};

void kw_pidset_clear(struct kw_pidset *s); /* keep capacity */
void kw_pidset_free(struct kw_pidset *s);
int kw_pidset_add(struct kw_pidset *s, int32_t pid); /* -1: ENOMEM */
void kw_pidset_sort(struct kw_pidset *s);

#define KW_DELTA_FIELDS (KW_SNAPSHOT_FIELDS + 2)
/* changed's fields (its procs: the changed records), then base, exited. */
void kw_delta_pack(msgpack_packer *pk, const struct kw_snapshot *changed,
    uint64_t base, const int32_t *exited, size_t nexited);
/*
 * changed (initialised; cleared first) and exited (cleared first, sorted)
 * from a delta body. -1 with err on bad shape or out of memory.
 */
int kw_delta_unpack(const msgpack_object *map, struct kw_snapshot *changed,
    uint64_t *base, struct kw_pidset *exited, char *err, size_t errlen);
/* base's record of pid (base sorted by pid), or NULL. */
struct kw_proc *kw_snapshot_find(const struct kw_snapshot *base, int32_t pid);
/* 1 when snap's procs are sorted by pid with no pid twice. */
int kw_snapshot_sorted(const struct kw_snapshot *snap);
/* Sort snap's procs by pid. */
void kw_snapshot_sort(struct kw_snapshot *snap);
/*
 * Apply delta (its procs moved out) to base (sorted by pid): full, it
 * replaces base; otherwise the exited pids (sorted) are dropped and
 * delta's records replace or join base's by pid. The host, clocks and
 * source are delta's, and so are the cgroup figures (swapped in). base
 * stays sorted. -1 with err on a malformed delta (a pid twice, or both
 * exited and listed) or out of memory, base intact.
 */
int kw_snapshot_apply(struct kw_snapshot *base, struct kw_snapshot *delta,
    const int32_t *exited, size_t nexited, int full, char *err, size_t errlen);

/* decider -> recorder */
struct kw_sys_rec {
	uint64_t mem_total_kb;
	uint64_t mem_free_kb;
	uint64_t mem_used_kb;
	uint64_t mem_available_kb;
	double cpu_pct; /* whole machine, 0-100 */
	uint64_t nprocs;
};

struct kw_container_rec {
	char container_id[KW_CID_LEN];
	char name[128];
	char image[128];
	char class_name[KW_NAME_LEN];
	int32_t pid; /* main (lowest) pid */
	uint32_t nprocs;
	double cpu_pct;
	double mem_pct;
	uint64_t rss_kb;
	/* From the container's own cgroup (0 without it). */
	char figures[12];     /* "cgroup" or "processes" */
	double cpu_pct_procs; /* sum over its processes */
	uint64_t mem_usage_kb;
	uint64_t working_set_kb; /* usage - inactive_file */
	uint64_t anon_kb;
	uint64_t mem_limit_kb; /* 0: none */
	uint64_t nr_throttled;
	uint64_t throttled_ns;
	uint64_t oom_kills;
	double psi_cpu_some; /* avg10, percent */
	double psi_mem_some;
	double psi_mem_full;
	/* What else the policy saw (the replay): */
	char label_class[KW_NAME_LEN]; /* kwarden.class */
	char identity[256];	       /* compose/swarm/name */
	char docker_state[16];	       /* "": unknown to Docker */
	uint32_t docker;	       /* 1: Docker reachable */
	uint64_t starts;	       /* Docker's start count */
	uint64_t sample_ns;	       /* the decider's clock */
};

/* cmdline stays the last member: the recorder keeps only its used part. */
struct kw_proc_rec {
	int32_t pid;
	char name[KW_NAME_LEN];
	char container_id[KW_CID_LEN];
	double cpu_pct;
	double mem_pct;
	uint64_t rss_kb;
	char cmdline[KW_CMDLINE_MAX];
};

struct kw_deletion_rec {
	char container_id[KW_CID_LEN];
	char name[128];
	char image[128];
	char class_name[KW_NAME_LEN];
	char action[16]; /* remove/stop/kill/dry-run */
	char reason[256];
	double cpu_pct;
	double mem_pct;
	char result[256]; /* "ok" or the error text */
	/*
	 * What the decider saw of the container as it acted (a JSON object,
	 * docs/operations.md), on the heap: NULL or "" when there is none.
	 * Whoever unpacks a deletion frees it with kw_deletion_rec_free.
	 */
	char *evidence;
	uint32_t step;	    /* 1-based in the ladder; 0:
						   quarantine, release */
	char identity[256]; /* compose/swarm/name */
	uint32_t strikes;   /* against it, with this one */
};

/* One candidate of a round whose verdicts changed (decisions table). */
struct kw_decision_rec {
	char container_id[KW_CID_LEN];
	char name[128];
	char class_name[KW_NAME_LEN];
	char identity[256];
	double cpu_pct;
	double mem_pct;
	double cpu_threshold;
	double mem_threshold;
	double excess;	  /* points over */
	char verdict[24]; /* taken, min-alive, ... */
	char action[16];  /* the step taken, or next */
	char reason[256];
	uint32_t strikes;
};

/*
 * The policy in force from now on (policy table): the [policy] and
 * [class.*] keys of the effective config as SECTION.KEY=VALUE lines, what
 * kwarden-replay rebuilds the policy from.
 */
#define KW_POLICY_TEXT_MAX 32768

struct kw_policy_rec {
	char reason[16]; /* "start" or "reload" */
	char conf[KW_POLICY_TEXT_MAX];
};

/* The longest evidence a deletion may carry (bytes of JSON). */
#define KW_EVIDENCE_MAX (256u << 10)
/* Replace r->evidence with len bytes of s; -1 when over KW_EVIDENCE_MAX. */
int kw_deletion_set_evidence(struct kw_deletion_rec *r, const char *s,
    size_t len);
void kw_deletion_rec_free(struct kw_deletion_rec *r);

/*
 * Every message body is a table of fields (common/schema.c): a row gives
 * the wire key (also the JSON key), the C type and place of the member in
 * the record struct, and the SQL column the recorder stores it in. The
 * encoder, the decoder, the recorder's tables and INSERTs and the status
 * JSON all walk the table, so a new field is one row (and its member).
 */
enum kw_field_type {
	KW_F_STR,  /* char array: a string, cut to fit on decode */
	KW_F_HSTR, /* char * on the heap, set by field->set; never NULL
			   unless optional, and then left out when packed */
	KW_F_CHAR, /* char: a one-character string; "" decodes as '?' */
	KW_F_U64,
	KW_F_U32, /* an unsigned integer, capped at UINT32_MAX on decode */
	KW_F_I32,
	KW_F_F64,
	KW_F_BOOL, /* int: true or false; optional and 0: left out */
	/* Nested records (never a column): */
	KW_F_MAP,   /* a struct of field->sub's record: a map */
	KW_F_ARRAY, /* a pointer to field->sub's records: an array of maps */
};

struct kw_schema;

struct kw_field {
	const char *key;
	enum kw_field_type type;
	size_t off;	    /* of the member in the record */
	size_t size;	    /* of the member (KW_F_ARRAY: of one element) */
	int optional;	    /* absent: the member is left as is */
	const char *table;  /* SQL table, NULL: not stored */
	const char *column; /* SQL column in it */
	/* KW_F_HSTR: replace the string with len bytes of s; -1 on ENOMEM. */
	int (*set)(void *rec, const char *s, size_t len);
	/* KW_F_MAP, KW_F_ARRAY: the fields of the nested record. */
	const struct kw_schema *sub;
	/*
	 * KW_F_ARRAY: the offset of the size_t number of elements; add
	 * appends a zeroed element to rec (NULL on ENOMEM); reserve, if
	 * set, makes room for n before a decode adds them (-1 on ENOMEM).
	 */
	size_t count;
	void *(*add)(void *rec);
	int (*reserve)(void *rec, size_t n);
};

struct kw_schema {
	const char *name; /* the message type's name */
	const struct kw_field *fields;
	size_t nfields;
	size_t size; /* of the record struct */
};

/* Most fields one schema may have (checked where each is defined). */
#define KW_FIELDS_MAX 32

extern const struct kw_schema kw_snapshot_schema;    /* reader's body */
extern const struct kw_schema kw_host_schema;	     /* snapshot.host */
extern const struct kw_schema kw_proc_schema;	     /* snapshot.procs[] */
extern const struct kw_schema kw_cgroup_stat_schema; /* snapshot.cgroups[] */
extern const struct kw_schema kw_sys_schema;
extern const struct kw_schema kw_container_schema;
extern const struct kw_schema kw_proc_rec_schema;
extern const struct kw_schema kw_deletion_schema;
extern const struct kw_schema kw_decision_schema;
extern const struct kw_schema kw_policy_schema;
/* The control messages' bodies (besides "t" and the envelope's seq, ts). */
extern const struct kw_schema kw_hello_schema;
extern const struct kw_schema kw_sub_schema;
extern const struct kw_schema kw_gap_schema;
extern const struct kw_schema kw_ack_schema;

/* The decider's records, for kw_pub_begin and kw_record_to_json. */
#define KW_N_RECORDS 6
extern const struct kw_schema *const kw_records[KW_N_RECORDS];

/* Body fields each message packs (for kw_pub_begin). */
#define KW_SNAPSHOT_FIELDS    (kw_snapshot_schema.nfields)
#define KW_SYS_FIELDS	      (kw_sys_schema.nfields)
#define KW_CONTAINER_FIELDS   (kw_container_schema.nfields)
#define KW_PROC_FIELDS	      (kw_proc_rec_schema.nfields)
#define KW_DELETION_FIELDS    (kw_deletion_schema.nfields)
#define KW_DECISION_FIELDS    (kw_decision_schema.nfields)
#define KW_POLICY_FIELDS      (kw_policy_schema.nfields)
#define KW_CGROUP_STAT_FIELDS (kw_cgroup_stat_schema.nfields)

/* SQL type of a field's column: "TEXT", "INTEGER" or "REAL". */
const char *kw_field_sql_type(const struct kw_field *f);
/*
 * Pack every field of rec as key, value (the map header is the caller's:
 * kw_fields_count fields), leaving out an optional KW_F_HSTR that is NULL;
 * a nested record is packed the same way as a map.
 */
void kw_fields_pack(msgpack_packer *pk, const struct kw_schema *s,
    const void *rec);
uint32_t kw_fields_count(const struct kw_schema *s, const void *rec);
/*
 * Decode every field of s from map into rec, which is not cleared first
 * (a missing optional field keeps its value; an array's elements are
 * added to those rec holds). -1 with "key: ..." in err ("key.sub: ...",
 * "key[i].sub: ..." in a nested record).
 */
int kw_fields_unpack(const msgpack_object *map, const struct kw_schema *s,
    void *rec, char *err, size_t errlen);
/*
 * rec as a JSON object, one key per field in table order (a nested record
 * an object, an array of them an array); a value JSON cannot hold (a
 * string that is not UTF-8, a NaN) is null. NULL on ENOMEM.
 */
struct json_t;
struct json_t *kw_record_to_json(const struct kw_schema *s, const void *rec);

/* A producer's greeting: after "t", "seq" (the last published), "ts". */
struct kw_hello {
	char stream[32];
	uint64_t epoch;
	uint64_t v; /* KW_PROTO_VERSION; optional on decode */
};
/* A consumer's request to replay from `from` (epoch optional: 0). */
struct kw_sub_req {
	uint64_t epoch;
	uint64_t from;
	int durable; /* the recorder's connection; left out when 0 */
};
/* After "t", "ts": the seqs from..to are lost. */
struct kw_gap {
	uint64_t from;
	uint64_t to;
};
struct kw_ack {
	uint64_t seq;
};
int kw_hello_unpack(const msgpack_object *map, struct kw_hello *r, char *err,
    size_t errlen);
int kw_sub_unpack(const msgpack_object *map, struct kw_sub_req *r, char *err,
    size_t errlen);
int kw_gap_unpack(const msgpack_object *map, struct kw_gap *r, char *err,
    size_t errlen);
int kw_ack_unpack(const msgpack_object *map, struct kw_ack *r, char *err,
    size_t errlen);

void kw_sys_pack(msgpack_packer *pk, const struct kw_sys_rec *r);
int kw_sys_unpack(const msgpack_object *map, struct kw_sys_rec *r, char *err,
    size_t errlen);
void kw_container_pack(msgpack_packer *pk, const struct kw_container_rec *r);
int kw_container_unpack(const msgpack_object *map, struct kw_container_rec *r,
    char *err, size_t errlen);
void kw_proc_rec_pack(msgpack_packer *pk, const struct kw_proc_rec *r);
int kw_proc_rec_unpack(const msgpack_object *map, struct kw_proc_rec *r,
    char *err, size_t errlen);
void kw_deletion_pack(msgpack_packer *pk, const struct kw_deletion_rec *r);
void kw_cgroup_stat_pack(msgpack_packer *pk, const struct kw_cgroup_stat *r);
int kw_cgroup_stat_unpack(const msgpack_object *map, struct kw_cgroup_stat *r,
    char *err, size_t errlen);
int kw_deletion_unpack(const msgpack_object *map, struct kw_deletion_rec *r,
    char *err, size_t errlen);
void kw_decision_pack(msgpack_packer *pk, const struct kw_decision_rec *r);
void kw_policy_pack(msgpack_packer *pk, const struct kw_policy_rec *r);
int kw_policy_unpack(const msgpack_object *map, struct kw_policy_rec *r,
    char *err, size_t errlen);
int kw_decision_unpack(const msgpack_object *map, struct kw_decision_rec *r,
    char *err, size_t errlen);

#endif /* KW_PROTO_H */
