/*
 * Fuzz the msgpack stream decoder as a daemon runs it: bytes arrive in
 * pieces (chunking from the input), the size scanner checks sizes before
 * msgpack-c unpacks (pub.c's kw_unpacker_next, then sub.c's in-place
 * decode), then the envelope and every message body are decoded.
 */
#include <string.h>

#include "kwarden.h"
#include "fuzz.h"

/* Small limits, so a size the scanner let through is cheap to see. */
#define SCAN_MAX_LEN   4096
#define SCAN_MAX_COUNT 256
#define MSG_MAX	       (1u << 20)

static struct kw_snapshot snap, snap2;
/* The snapshot deltas are applied to, as the decider keeps it. */
static struct kw_snapshot held;
static struct kw_pidset exited;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	kw_log_init("fuzz_proto", KW_LOG_ERROR);
	kw_snapshot_init(&snap);
	kw_snapshot_init(&snap2);
	kw_snapshot_init(&held);
	return 0;
}

/*
 * A delta the decoder took, applied as the decider applies it: refused
 * with held as it was, or held stays sorted, holds every record of the
 * delta and no exited pid. A whole snapshot the decoder took becomes held.
 */
static void
delta_apply(void)
{
	char err[128];
	size_t i, n0 = held.nprocs, nd = snap.nprocs;
	int32_t first = n0 > 0 ? held.procs[0].pid : 0;

	if (kw_snapshot_apply(&held, &snap, exited.pids, exited.n, 0, err,
		sizeof(err)) == -1) {
		FUZZ_CHECK(held.nprocs == n0);
		FUZZ_CHECK(n0 == 0 || held.procs[0].pid == first);
		return;
	}
	FUZZ_CHECK(kw_snapshot_sorted(&held));
	FUZZ_CHECK(held.nprocs <= n0 + nd);
	for (i = 0; i < exited.n; i++)
		FUZZ_CHECK(kw_snapshot_find(&held, exited.pids[i]) == NULL);
	for (i = 0; i < nd; i++)
		FUZZ_CHECK(kw_snapshot_find(&held, snap.procs[i].pid) != NULL);
}

/* The scanner's promise: nothing unpacked declares more than its limits. */
static void
check_sizes(const msgpack_object *o)
{
	uint32_t i;

	switch (o->type) {
	case MSGPACK_OBJECT_STR:
		FUZZ_CHECK(o->via.str.size <= SCAN_MAX_LEN);
		break;
	case MSGPACK_OBJECT_BIN:
		FUZZ_CHECK(o->via.bin.size <= SCAN_MAX_LEN);
		break;
	case MSGPACK_OBJECT_EXT:
		FUZZ_CHECK(o->via.ext.size <= SCAN_MAX_LEN);
		break;
	case MSGPACK_OBJECT_ARRAY:
		FUZZ_CHECK(o->via.array.size <= SCAN_MAX_COUNT);
		for (i = 0; i < o->via.array.size; i++)
			check_sizes(&o->via.array.ptr[i]);
		break;
	case MSGPACK_OBJECT_MAP:
		FUZZ_CHECK((uint64_t)o->via.map.size * 2 <= SCAN_MAX_COUNT);
		for (i = 0; i < o->via.map.size; i++) {
			check_sizes(&o->via.map.ptr[i].key);
			check_sizes(&o->via.map.ptr[i].val);
		}
		break;
	default:
		break;
	}
}

/* Unpack the first object of sb into *res; the zone lives in res. */
static void
reparse(const msgpack_sbuffer *sb, msgpack_unpacked *res)
{
	size_t off = 0;

	FUZZ_CHECK(msgpack_unpack_next(res, sb->data, sb->size, &off) ==
	    MSGPACK_UNPACK_SUCCESS);
	FUZZ_CHECK(off == sb->size);
}

/*
 * What kw_snapshot_unpack accepted packs and unpacks to the same, and
 * packs again to the same bytes: every field of kw_snapshot_schema, the
 * nested records' too, goes through both ways alike.
 */
static void
snapshot_roundtrip(void)
{
	msgpack_sbuffer sb, sb2;
	msgpack_packer pk;
	msgpack_unpacked res;
	char err[128];
	size_t i;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, KW_SNAPSHOT_FIELDS);
	kw_snapshot_pack(&pk, &snap);
	msgpack_unpacked_init(&res);
	reparse(&sb, &res);
	FUZZ_CHECK(
	    kw_snapshot_unpack(&res.data, &snap2, err, sizeof(err)) == 0);
	FUZZ_CHECK(snap2.nprocs == snap.nprocs);
	FUZZ_CHECK(snap2.ncgroups == snap.ncgroups);
	for (i = 0; i < snap.ncgroups; i++) {
		FUZZ_CHECK(strcmp(snap2.cgroups[i].container_id,
			       snap.cgroups[i].container_id) == 0);
		FUZZ_CHECK(snap2.cgroups[i].cpu_usage_ns ==
		    snap.cgroups[i].cpu_usage_ns);
		FUZZ_CHECK(snap2.cgroups[i].mem_usage_bytes ==
		    snap.cgroups[i].mem_usage_bytes);
	}
	FUZZ_CHECK(strcmp(snap2.source, snap.source) == 0);
	FUZZ_CHECK(memcmp(&snap2.host, &snap.host, sizeof(snap.host)) == 0);
	for (i = 0; i < snap.nprocs; i++) {
		const struct kw_proc *a = &snap.procs[i], *b = &snap2.procs[i];

		FUZZ_CHECK(a->pid == b->pid && a->ppid == b->ppid);
		FUZZ_CHECK(a->cpu_ns == b->cpu_ns && a->rss_kb == b->rss_kb);
		FUZZ_CHECK(a->state == b->state);
		FUZZ_CHECK(strcmp(a->name, b->name) == 0);
		FUZZ_CHECK(strcmp(a->cmdline, b->cmdline) == 0);
		FUZZ_CHECK(strcmp(a->container_id, b->container_id) == 0);
	}
	msgpack_sbuffer_init(&sb2);
	msgpack_packer_init(&pk, &sb2, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, KW_SNAPSHOT_FIELDS);
	kw_snapshot_pack(&pk, &snap2);
	FUZZ_CHECK(
	    sb2.size == sb.size && memcmp(sb2.data, sb.data, sb.size) == 0);
	msgpack_sbuffer_destroy(&sb2);
	msgpack_unpacked_destroy(&res);
	msgpack_sbuffer_destroy(&sb);
}

/*
 * A decider record: unpack, then pack and unpack twice. The first round
 * drops what follows a NUL inside a string; from then on it is stable.
 */
/* What a record holds on the heap: compared, then freed. */
static void
heap_none(void *a, void *b, void *c)
{
}

static void
heap_deletion(void *a, void *b, void *c)
{
	struct kw_deletion_rec *r2 = b, *r3 = c;

	kw_deletion_rec_free(a);
	if (b == NULL)
		return;
	/* No evidence is left out of the message and stays NULL. */
	FUZZ_CHECK((r2->evidence == NULL) == (r3->evidence == NULL));
	FUZZ_CHECK(
	    r2->evidence == NULL || strcmp(r2->evidence, r3->evidence) == 0);
	kw_deletion_rec_free(r2);
	kw_deletion_rec_free(r3);
}

#define RECORD_ROUNDTRIP(name, type, schema, obj, heap)                      \
	do {                                                                 \
		type r1, r2, r3;                                             \
		msgpack_sbuffer sb;                                          \
		msgpack_packer pk;                                           \
		msgpack_unpacked res;                                        \
		char rerr[128];                                              \
                                                                             \
		if (name##_unpack(obj, &r1, rerr, sizeof(rerr)) == -1) {     \
			heap(&r1, NULL, NULL);                               \
			break;                                               \
		}                                                            \
		msgpack_sbuffer_init(&sb);                                   \
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);        \
		msgpack_unpacked_init(&res);                                 \
		msgpack_pack_map(&pk, kw_fields_count(&schema, &r1));        \
		name##_pack(&pk, &r1);                                       \
		reparse(&sb, &res);                                          \
		FUZZ_CHECK(                                                  \
		    name##_unpack(&res.data, &r2, rerr, sizeof(rerr)) == 0); \
		msgpack_sbuffer_clear(&sb);                                  \
		msgpack_pack_map(&pk, kw_fields_count(&schema, &r2));        \
		name##_pack(&pk, &r2);                                       \
		reparse(&sb, &res);                                          \
		FUZZ_CHECK(                                                  \
		    name##_unpack(&res.data, &r3, rerr, sizeof(rerr)) == 0); \
		heap(&r1, &r2, &r3);                                         \
		FUZZ_CHECK(memcmp(&r2, &r3, sizeof(r2)) == 0);               \
		msgpack_unpacked_destroy(&res);                              \
		msgpack_sbuffer_destroy(&sb);                                \
	} while (0)

static void
on_message(const msgpack_object *obj)
{
	struct kw_msg msg;
	union {
		struct kw_hello hello;
		struct kw_sub_req sub;
		struct kw_gap gap;
		struct kw_ack ack;
	} ctl;
	char err[128];
	int64_t i;
	double d;

	if (kw_msg_decode(obj, &msg, err, sizeof(err)) == -1)
		return;
	FUZZ_CHECK(msg.obj == obj);
	(void)kw_msg_type_name(msg.type);
	switch (msg.type) {
	case KW_MSG_HELLO:
		if (kw_hello_unpack(obj, &ctl.hello, err, sizeof(err)) == 0)
			FUZZ_CHECK(strlen(ctl.hello.stream) <
			    sizeof(ctl.hello.stream));
		break;
	case KW_MSG_SUB:
		if (kw_sub_unpack(obj, &ctl.sub, err, sizeof(err)) == 0)
			FUZZ_CHECK(
			    ctl.sub.durable == 0 || ctl.sub.durable == 1);
		break;
	case KW_MSG_GAP:
		(void)kw_gap_unpack(obj, &ctl.gap, err, sizeof(err));
		break;
	case KW_MSG_ACK:
		(void)kw_ack_unpack(obj, &ctl.ack, err, sizeof(err));
		break;
	case KW_MSG_SNAPSHOT:
		if (kw_snapshot_unpack(obj, &snap, err, sizeof(err)) == 0) {
			snapshot_roundtrip();
			kw_snapshot_sort(&snap);
			if (kw_snapshot_sorted(&snap)) {
				kw_snapshot_free(&held);
				held = snap;
				kw_snapshot_init(&snap);
			}
		}
		break;
	case KW_MSG_DELTA: {
		uint64_t base;

		if (kw_delta_unpack(obj, &snap, &base, &exited, err,
			sizeof(err)) == 0) {
			FUZZ_CHECK(base > 0);
			delta_apply();
		}
		break;
	}
	case KW_MSG_SYS:
		RECORD_ROUNDTRIP(kw_sys, struct kw_sys_rec, kw_sys_schema, obj,
		    heap_none);
		break;
	case KW_MSG_CONTAINER:
		RECORD_ROUNDTRIP(kw_container, struct kw_container_rec,
		    kw_container_schema, obj, heap_none);
		break;
	case KW_MSG_PROC:
		RECORD_ROUNDTRIP(kw_proc_rec, struct kw_proc_rec,
		    kw_proc_rec_schema, obj, heap_none);
		break;
	case KW_MSG_DELETION:
		RECORD_ROUNDTRIP(kw_deletion, struct kw_deletion_rec,
		    kw_deletion_schema, obj, heap_deletion);
		break;
	case KW_MSG_DECISION:
		RECORD_ROUNDTRIP(kw_decision, struct kw_decision_rec,
		    kw_decision_schema, obj, heap_none);
		break;
	case KW_MSG_POLICY:
		RECORD_ROUNDTRIP(kw_policy, struct kw_policy_rec,
		    kw_policy_schema, obj, heap_none);
		break;
	default:
		(void)kw_get_i64(obj, "seq", &i);
		(void)kw_get_f64(obj, "ts", &d);
		break;
	}
}

/*
 * sub.c's read path: the bytes gather in one buffer, kw_unpack_next finds
 * each message's end and decodes it in place into one zone, cleared after
 * each message.
 */
static void
sub_path(const uint8_t *data, size_t size, uint8_t c0, uint8_t c1)
{
	struct fuzz_chunks ch;
	struct kw_mpscan scan;
	msgpack_zone zone;
	msgpack_object obj;
	size_t used = 0, off = 0, len;
	int rc = MSGPACK_UNPACK_CONTINUE;

	fuzz_chunks_init(&ch, c0, c1);
	if (!msgpack_zone_init(&zone, 8192))
		return;
	kw_mpscan_init(&scan, SCAN_MAX_LEN, SCAN_MAX_COUNT);
	while (used < size && rc == MSGPACK_UNPACK_CONTINUE) {
		used += fuzz_chunks_next(&ch, size - used);
		while ((rc = kw_unpack_next(&scan, (const char *)data + off,
			    used - off, &zone, &obj, &len)) ==
		    MSGPACK_UNPACK_SUCCESS) {
			FUZZ_CHECK(len > 0 && len <= used - off);
			off += len;
			check_sizes(&obj);
			on_message(&obj);
			msgpack_zone_clear(&zone);
		}
	}
	msgpack_zone_destroy(&zone);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_chunks ch;
	struct kw_mpscan scan;
	msgpack_unpacker u;
	msgpack_unpacked res;
	size_t pos, n;
	int rc = MSGPACK_UNPACK_CONTINUE;

	if (size < 2)
		return 0;
	fuzz_chunks_init(&ch, data[0], data[1]);
	pos = 2;
	if (!msgpack_unpacker_init(&u, 1024))
		return 0;
	kw_mpscan_init(&scan, SCAN_MAX_LEN, SCAN_MAX_COUNT);
	msgpack_unpacked_init(&res);
	while (pos < size) {
		n = fuzz_chunks_next(&ch, size - pos);
		if (!msgpack_unpacker_reserve_buffer(&u, n))
			break;
		memcpy(msgpack_unpacker_buffer(&u), data + pos, n);
		msgpack_unpacker_buffer_consumed(&u, n);
		pos += n;
		/* The read callback of pub.c, as it stands. */
		while ((rc = kw_unpacker_next(&u, &scan, &res)) ==
		    MSGPACK_UNPACK_SUCCESS) {
			check_sizes(&res.data);
			on_message(&res.data);
		}
		if (rc != MSGPACK_UNPACK_CONTINUE)
			break; /* the daemon disconnects */
		if (msgpack_unpacker_message_size(&u) > MSG_MAX)
			break;
	}
	msgpack_unpacked_destroy(&res);
	msgpack_unpacker_destroy(&u);
	sub_path(data + 2, size - 2, data[0], data[1]);
	kw_snapshot_clear(&snap);
	kw_snapshot_clear(&snap2);
	kw_snapshot_clear(&held);
	return 0;
}
