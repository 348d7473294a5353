/*
 * Protocol: every message body survives a round trip through msgpack, and
 * a message of the wrong shape is refused with a message naming the field.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#include "kwarden.h"

struct packed {
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_unpacked res;
};

static void
packed_init(struct packed *p)
{
	msgpack_sbuffer_init(&p->sb);
	msgpack_packer_init(&p->pk, &p->sb, msgpack_sbuffer_write);
	msgpack_unpacked_init(&p->res);
}

static const msgpack_object *
packed_unpack(struct packed *p)
{
	size_t off = 0;

	assert_int_equal(msgpack_unpack_next(&p->res, p->sb.data, p->sb.size,
			     &off),
	    MSGPACK_UNPACK_SUCCESS);
	assert_int_equal(off, p->sb.size);
	return &p->res.data;
}

static void
packed_free(struct packed *p)
{
	msgpack_unpacked_destroy(&p->res);
	msgpack_sbuffer_destroy(&p->sb);
}

/* An envelope like kw_pub_begin writes, with nfields body fields. */
static void
envelope(msgpack_packer *pk, const char *t, uint32_t nfields)
{
	msgpack_pack_map(pk, nfields + 3);
	kw_pack_kstr(pk, "t", t);
	kw_pack_ku64(pk, "seq", 7);
	kw_pack_ku64(pk, "ts", 1764200000000000000ull);
}

static void
fill_snapshot(struct kw_snapshot *s)
{
	struct kw_proc *p;
	const char evil[] = "sh -c \"echo }\\\"pid\\\": 1\"\n\x01";

	kw_snapshot_init(s);
	snprintf(s->source, sizeof(s->source), "procfs");
	s->host.mem_total_kb = 3960492;
	s->host.mem_free_kb = 1748972;
	s->host.mem_used_kb = 2211520;
	s->host.mem_available_kb = 2900000;
	s->host.ncpu = 2;
	p = kw_snapshot_add(s);
	p->pid = 1;
	p->state = 'S';
	snprintf(p->name, sizeof(p->name), "systemd");
	kw_proc_set_cmdline(p, "/sbin/init splash", 17);
	p->vsz_kb = 23284;
	p->rss_kb = 14276;
	p->cpu_ns = 70350000000ull;
	p->start_ns = 120000000;
	p->threads = 1;
	p = kw_snapshot_add(s);
	p->pid = 4242;
	p->ppid = 1;
	p->uid = 1000;
	p->state = 'R';
	snprintf(p->name, sizeof(p->name), "foo) Z ");
	kw_proc_set_cmdline(p, evil, sizeof(evil) - 1);
	p->cpu_ns = UINT64_MAX;
	snprintf(p->container_id, sizeof(p->container_id), "%s",
	    "3fa836846de1a1950cd414ffb4936a50aac4200f8e20c7030c38e433020cd388");
}

static void
snapshot__round_trip__every_field_kept(void **state)
{
	struct kw_snapshot in, out;
	struct packed p;
	struct kw_msg msg;
	char err[128];
	size_t i;

	(void)state;
	fill_snapshot(&in);
	packed_init(&p);
	envelope(&p.pk, "snapshot", KW_SNAPSHOT_FIELDS);
	kw_snapshot_pack(&p.pk, &in);
	assert_int_equal(kw_msg_decode(packed_unpack(&p), &msg, err,
			     sizeof(err)),
	    0);
	assert_int_equal(msg.type, KW_MSG_SNAPSHOT);
	assert_int_equal(msg.seq, 7);
	kw_snapshot_init(&out);
	assert_int_equal(kw_snapshot_unpack(msg.obj, &out, err, sizeof(err)),
	    0);
	assert_string_equal(out.source, "procfs");
	assert_int_equal(out.ts_ns, 1764200000000000000ull);
	assert_memory_equal(&out.host, &in.host, sizeof(in.host));
	assert_int_equal(out.nprocs, in.nprocs);
	for (i = 0; i < in.nprocs; i++) {
		assert_int_equal(out.procs[i].pid, in.procs[i].pid);
		assert_int_equal(out.procs[i].ppid, in.procs[i].ppid);
		assert_int_equal(out.procs[i].uid, in.procs[i].uid);
		assert_int_equal(out.procs[i].state, in.procs[i].state);
		assert_string_equal(out.procs[i].name, in.procs[i].name);
		assert_string_equal(out.procs[i].cmdline, in.procs[i].cmdline);
		assert_int_equal(out.procs[i].cpu_ns, in.procs[i].cpu_ns);
		assert_int_equal(out.procs[i].vsz_kb, in.procs[i].vsz_kb);
		assert_int_equal(out.procs[i].rss_kb, in.procs[i].rss_kb);
		assert_int_equal(out.procs[i].start_ns, in.procs[i].start_ns);
		assert_string_equal(out.procs[i].container_id,
		    in.procs[i].container_id);
	}
	kw_snapshot_free(&in);
	kw_snapshot_free(&out);
	packed_free(&p);
}

/* A snapshot using every field, optional ones both set and left out. */
static void
golden_snapshot(struct kw_snapshot *s)
{
	struct kw_proc *p;
	struct kw_cgroup_stat *c;

	kw_snapshot_init(s);
	snprintf(s->source, sizeof(s->source), "kmod");
	s->mono_ns = 123456789012ull;
	s->host.mem_total_kb = 4000000;
	s->host.mem_free_kb = 1000000;
	s->host.mem_used_kb = 3000000;
	s->host.mem_available_kb = 2000000;
	s->host.ncpu = 2;
	p = kw_snapshot_add(s);
	p->pid = 1;
	p->ppid = 0;
	p->uid = 0;
	p->threads = 1;
	p->state = 'S';
	snprintf(p->name, sizeof(p->name), "init");
	kw_proc_set_cmdline(p, "/sbin/init", 10);
	p->vsz_kb = 100;
	p->rss_kb = 10;
	p->cpu_ns = 5000000000ull;
	p->start_ns = 1;
	p = kw_snapshot_add(s);
	p->pid = 4242;
	p->ppid = 1;
	p->uid = 1000;
	p->threads = 3;
	p->state = 'R';
	snprintf(p->name, sizeof(p->name), "burn");
	kw_proc_set_cmdline(p, "burn -n", 7);
	p->vsz_kb = 70000;
	p->rss_kb = 300;
	p->cpu_ns = 1;
	p->start_ns = 99;
	snprintf(p->container_id, sizeof(p->container_id), "%064d", 7);
	kw_proc_set_cgroup(p, "/docker/c", 9);
	c = kw_snapshot_add_cgroup(s);
	snprintf(c->container_id, sizeof(c->container_id), "%064d", 7);
	snprintf(c->cgroup, sizeof(c->cgroup), "/docker/c");
	c->flags = 0x3f;
	c->cpu_usage_ns = 1;
	c->nr_throttled = 2;
	c->throttled_ns = 3;
	c->mem_usage_bytes = 4;
	c->mem_working_set_bytes = 5;
	c->mem_anon_bytes = 6;
	c->mem_file_bytes = 7;
	c->mem_limit_bytes = 8;
	c->oom_kills = 9;
	c->psi_cpu_some_avg10 = 0.5;
	c->psi_mem_some_avg10 = 1.5;
	c->psi_mem_full_avg10 = 2.5;
}

/*
 * The bytes kw_snapshot_pack wrote for golden_snapshot when the wire format
 * was last changed on purpose (a map of KW_SNAPSHOT_FIELDS, no envelope):
 * an encoder change that moves one byte fails here.
 */
static const char golden_snapshot_hex[] =
    "85a6736f75726365a46b6d6f64a46d6f6e6fcf0000001cbe991a14a4686f7374"
    "85ac6d656d5f746f74616c5f6b62ce003d0900ab6d656d5f667265655f6b62ce"
    "000f4240ab6d656d5f757365645f6b62ce002dc6c0b06d656d5f617661696c61"
    "626c655f6b62ce001e8480a46e63707502a570726f6373928ca370696401a470"
    "70696400a46e616d65a4696e6974a7636d646c696e65aa2f7362696e2f696e69"
    "74a57374617465a153a676737a5f6b6264a67273735f6b620aa66370755f6e73"
    "cf000000012a05f200a873746172745f6e7301a375696400a774687265616473"
    "01ac636f6e7461696e65725f6964a08da3706964cd1092a47070696401a46e61"
    "6d65a46275726ea7636d646c696e65a76275726e202d6ea57374617465a152a6"
    "76737a5f6b62ce00011170a67273735f6b62cd012ca66370755f6e7301a87374"
    "6172745f6e7363a3756964cd03e8a77468726561647303ac636f6e7461696e65"
    "725f6964d9403030303030303030303030303030303030303030303030303030"
    "3030303030303030303030303030303030303030303030303030303030303030"
    "303030303037a66367726f7570a92f646f636b65722f63a76367726f75707391"
    "8fac636f6e7461696e65725f6964d94030303030303030303030303030303030"
    "3030303030303030303030303030303030303030303030303030303030303030"
    "30303030303030303030303030303037a5666c6167733fac6370755f75736167"
    "655f6e7301ac6e725f7468726f74746c656402ac7468726f74746c65645f6e73"
    "03af6d656d5f75736167655f627974657304b56d656d5f776f726b696e675f73"
    "65745f627974657305ae6d656d5f616e6f6e5f627974657306ae6d656d5f6669"
    "6c655f627974657307af6d656d5f6c696d69745f627974657308a96f6f6d5f6b"
    "696c6c7309b27073695f6370755f736f6d655f6176673130cb3fe00000000000"
    "00b27073695f6d656d5f736f6d655f6176673130cb3ff8000000000000b27073"
    "695f6d656d5f66756c6c5f6176673130cb4004000000000000a66367726f7570"
    "a92f646f636b65722f63";

static void
snapshot__golden_bytes__unchanged(void **state)
{
	struct kw_snapshot s;
	struct packed p;
	char *hex;
	size_t i;

	(void)state;
	golden_snapshot(&s);
	packed_init(&p);
	msgpack_pack_map(&p.pk, KW_SNAPSHOT_FIELDS);
	kw_snapshot_pack(&p.pk, &s);
	hex = malloc(p.sb.size * 2 + 1);
	assert_non_null(hex);
	for (i = 0; i < p.sb.size; i++)
		snprintf(hex + 2 * i, 3, "%02x", (unsigned char)p.sb.data[i]);
	hex[2 * p.sb.size] = '\0';
	assert_string_equal(hex, golden_snapshot_hex);
	free(hex);
	kw_snapshot_free(&s);
	packed_free(&p);
}

/*
 * The snapshot's table against its codec: every field of every record,
 * nested ones too, filled with a value no other field and no zeroed
 * record has, survives kw_snapshot_pack and kw_snapshot_unpack.
 */
static void fill_record(const struct kw_schema *s, void *rec, unsigned *k);

static void
fill_field(const struct kw_field *f, void *rec, unsigned *k)
{
	void *v = (char *)rec + f->off;
	char str[64];
	int i;

	(*k)++;
	snprintf(str, sizeof(str), "%s-%u", f->key, *k);
	switch (f->type) {
	case KW_F_STR:
		snprintf(v, f->size, "%s", str);
		break;
	case KW_F_HSTR:
		assert_int_equal(f->set(rec, str, strlen(str)), 0);
		break;
	case KW_F_CHAR:
		*(char *)v = (char)('A' + *k % 26);
		break;
	case KW_F_U64:
		*(uint64_t *)v = (uint64_t)*k << 40 | 7;
		break;
	case KW_F_U32:
		*(uint32_t *)v = 4000000000u - *k;
		break;
	case KW_F_I32:
		*(int32_t *)v = -1000 - (int32_t)*k;
		break;
	case KW_F_F64:
		*(double *)v = *k + 0.25;
		break;
	case KW_F_BOOL:
		*(int *)v = 1;
		break;
	case KW_F_MAP:
		assert_int_equal(f->size, f->sub->size);
		fill_record(f->sub, v, k);
		break;
	case KW_F_ARRAY:
		assert_int_equal(f->size, f->sub->size);
		for (i = 0; i < 2; i++) {
			void *e = f->add(rec);

			assert_non_null(e);
			fill_record(f->sub, e, k);
		}
		break;
	}
}

static void
fill_record(const struct kw_schema *s, void *rec, unsigned *k)
{
	size_t i;

	for (i = 0; i < s->nfields; i++)
		fill_field(&s->fields[i], rec, k);
}

static void
assert_record_equal(const struct kw_schema *s, const void *a, const void *b)
{
	const struct kw_field *f = s->fields;
	size_t i, j, n;

	for (i = 0; i < s->nfields; i++, f++) {
		const char *x = (const char *)a + f->off;
		const char *y = (const char *)b + f->off;

		switch (f->type) {
		case KW_F_STR:
			assert_string_equal(x, y);
			break;
		case KW_F_HSTR:
			assert_string_equal(*(char *const *)x,
			    *(char *const *)y);
			break;
		case KW_F_CHAR:
		case KW_F_U64:
		case KW_F_U32:
		case KW_F_I32:
		case KW_F_F64:
		case KW_F_BOOL:
			assert_memory_equal(x, y, f->size);
			break;
		case KW_F_MAP:
			assert_record_equal(f->sub, x, y);
			break;
		case KW_F_ARRAY:
			n = *(const size_t *)((const char *)a + f->count);
			assert_int_equal(n,
			    *(const size_t *)((const char *)b + f->count));
			for (j = 0; j < n; j++)
				assert_record_equal(f->sub,
				    *(char *const *)x + j * f->size,
				    *(char *const *)y + j * f->size);
			break;
		}
	}
}

static void
snapshot__every_field_of_the_table__round_trips(void **state)
{
	struct kw_snapshot in, out;
	struct packed p;
	const msgpack_object *m;
	unsigned k = 0;
	char err[128];
	size_t i;

	(void)state;
	kw_snapshot_init(&in);
	fill_record(&kw_snapshot_schema, &in, &k);
	assert_int_equal(in.nprocs, 2);
	assert_int_equal(in.ncgroups, 2);
	packed_init(&p);
	msgpack_pack_map(&p.pk, KW_SNAPSHOT_FIELDS);
	kw_snapshot_pack(&p.pk, &in);
	m = packed_unpack(&p);
	/* One key per row, in table order. */
	assert_int_equal(m->via.map.size, kw_snapshot_schema.nfields);
	for (i = 0; i < kw_snapshot_schema.nfields; i++) {
		const msgpack_object *key = &m->via.map.ptr[i].key;
		const char *want = kw_snapshot_schema.fields[i].key;

		assert_int_equal(key->type, MSGPACK_OBJECT_STR);
		assert_int_equal(key->via.str.size, strlen(want));
		assert_memory_equal(key->via.str.ptr, want, strlen(want));
	}
	kw_snapshot_init(&out);
	if (kw_snapshot_unpack(m, &out, err, sizeof(err)) == -1)
		fail_msg("%s", err);
	assert_record_equal(&kw_snapshot_schema, &in, &out);
	kw_snapshot_free(&in);
	kw_snapshot_free(&out);
	packed_free(&p);
}

/* Each required field of the snapshot left out: refused, naming it. */
static void
snapshot__required_field_missing__error_names_it(void **state)
{
	struct kw_snapshot in, out;
	const msgpack_object *m;
	struct packed all, p;
	char err[128];
	size_t i, j, n = 0;

	(void)state;
	fill_snapshot(&in);
	packed_init(&all);
	msgpack_pack_map(&all.pk, KW_SNAPSHOT_FIELDS);
	kw_snapshot_pack(&all.pk, &in);
	m = packed_unpack(&all);
	for (i = 0; i < kw_snapshot_schema.nfields; i++) {
		const struct kw_field *f = &kw_snapshot_schema.fields[i];

		packed_init(&p);
		msgpack_pack_map(&p.pk, m->via.map.size - 1);
		for (j = 0; j < m->via.map.size; j++) {
			if (j == i)
				continue;
			msgpack_pack_object(&p.pk, m->via.map.ptr[j].key);
			msgpack_pack_object(&p.pk, m->via.map.ptr[j].val);
		}
		kw_snapshot_init(&out);
		err[0] = '\0';
		if (f->optional) {
			assert_int_equal(kw_snapshot_unpack(packed_unpack(&p),
					     &out, err, sizeof(err)),
			    0);
		} else {
			assert_int_equal(kw_snapshot_unpack(packed_unpack(&p),
					     &out, err, sizeof(err)),
			    -1);
			assert_true(strncmp(err, f->key, strlen(f->key)) == 0);
			assert_int_equal(err[strlen(f->key)], ':');
			n++;
		}
		kw_snapshot_free(&out);
		packed_free(&p);
	}
	assert_int_equal(n, 3); /* source, host, procs */
	kw_snapshot_free(&in);
	packed_free(&all);
}

/* A nested record of the wrong shape: the error says where. */
static void
snapshot__nested_wrong_shape__error_says_where(void **state)
{
	struct kw_snapshot out;
	struct packed p;
	char err[128];

	(void)state;
	packed_init(&p);
	msgpack_pack_map(&p.pk, 4);
	kw_pack_kstr(&p.pk, "source", "kmod");
	kw_pack_str(&p.pk, "host");
	msgpack_pack_map(&p.pk, 4);
	kw_pack_ku64(&p.pk, "mem_total_kb", 1);
	kw_pack_ku64(&p.pk, "mem_free_kb", 1);
	kw_pack_ku64(&p.pk, "mem_used_kb", 0);
	kw_pack_ku64(&p.pk, "ncpu", 1);
	kw_pack_str(&p.pk, "procs");
	msgpack_pack_array(&p.pk, 0);
	kw_pack_str(&p.pk, "cgroups");
	msgpack_pack_array(&p.pk, 2);
	msgpack_pack_map(&p.pk, 0);
	msgpack_pack_uint64(&p.pk, 5);
	kw_snapshot_init(&out);
	assert_int_equal(kw_snapshot_unpack(packed_unpack(&p), &out, err,
			     sizeof(err)),
	    -1);
	assert_string_equal(err,
	    "cgroups[0].container_id: missing or not a string");
	kw_snapshot_free(&out);
	packed_free(&p);
}

/* The snapshot as JSON: nested records objects, arrays of them arrays. */
static void
snapshot__to_json__nested_records_kept(void **state)
{
	struct kw_snapshot s;
	json_t *o, *procs;

	(void)state;
	golden_snapshot(&s);
	o = kw_record_to_json(&kw_snapshot_schema, &s);
	assert_non_null(o);
	assert_int_equal(json_object_size(o), kw_snapshot_schema.nfields);
	assert_string_equal(json_string_value(json_object_get(o, "source")),
	    "kmod");
	assert_int_equal(json_integer_value(
			     json_object_get(json_object_get(o, "host"),
				 "ncpu")),
	    2);
	procs = json_object_get(o, "procs");
	assert_int_equal(json_array_size(procs), 2);
	assert_string_equal(json_string_value(
				json_object_get(json_array_get(procs, 1),
				    "cgroup")),
	    "/docker/c");
	assert_true(
	    json_real_value(
		json_object_get(json_array_get(json_object_get(o, "cgroups"),
				    0),
		    "psi_mem_full_avg10")) == 2.5);
	json_decref(o);
	kw_snapshot_free(&s);
}

/*
 * The control messages' bytes: hello, a durable sub and a plain one, gap
 * and ack, as kw_pack_* write them (pub.c and sub.c read them by key).
 */
static const char golden_control_hex[] =
    "86a174a568656c6c6fa37365712aa2747363a673747265616da7646563696465"
    "72a565706f636807a1760184a174a3737562a565706f636807a466726f6d2ba7"
    "64757261626c65c383a174a3737562a565706f636807a466726f6d2b84a174a3"
    "676170a274734da466726f6d03a2746f0982a174a361636ba373657105";

static void
control__golden_bytes__unchanged(void **state)
{
	struct packed p;
	char *hex;
	size_t i;

	(void)state;
	packed_init(&p);
	kw_pack_hello(&p.pk, "decider", 7, 42, 99);
	kw_pack_sub(&p.pk, 7, 43, 1);
	kw_pack_sub(&p.pk, 7, 43, 0);
	kw_pack_gap(&p.pk, 3, 9, 77);
	kw_pack_ack(&p.pk, 5);
	hex = malloc(p.sb.size * 2 + 1);
	assert_non_null(hex);
	for (i = 0; i < p.sb.size; i++)
		snprintf(hex + 2 * i, 3, "%02x", (unsigned char)p.sb.data[i]);
	hex[2 * p.sb.size] = '\0';
	assert_string_equal(hex, golden_control_hex);
	free(hex);
	packed_free(&p);
}

/* Each control message decodes, from its table, to what was packed. */
static void
control__round_trip__fields_from_the_tables(void **state)
{
	struct kw_hello h;
	struct kw_sub_req r;
	struct kw_gap g;
	struct kw_ack a;
	struct packed p;
	char err[128];

	(void)state;
	packed_init(&p);
	kw_pack_hello(&p.pk, "decider", 7, 42, 99);
	assert_int_equal(kw_hello_unpack(packed_unpack(&p), &h, err,
			     sizeof(err)),
	    0);
	assert_string_equal(h.stream, "decider");
	assert_int_equal(h.epoch, 7);
	assert_int_equal(h.v, KW_PROTO_VERSION);
	msgpack_sbuffer_clear(&p.sb);
	kw_pack_sub(&p.pk, 7, 43, 1);
	assert_int_equal(kw_sub_unpack(packed_unpack(&p), &r, err,
			     sizeof(err)),
	    0);
	assert_true(r.epoch == 7 && r.from == 43 && r.durable == 1);
	msgpack_sbuffer_clear(&p.sb);
	kw_pack_sub(&p.pk, 7, 43, 0);
	assert_int_equal(kw_sub_unpack(packed_unpack(&p), &r, err,
			     sizeof(err)),
	    0);
	assert_true(r.epoch == 7 && r.from == 43 && r.durable == 0);
	msgpack_sbuffer_clear(&p.sb);
	kw_pack_gap(&p.pk, 3, 9, 77);
	assert_int_equal(kw_gap_unpack(packed_unpack(&p), &g, err,
			     sizeof(err)),
	    0);
	assert_true(g.from == 3 && g.to == 9);
	msgpack_sbuffer_clear(&p.sb);
	kw_pack_ack(&p.pk, 5);
	assert_int_equal(kw_ack_unpack(packed_unpack(&p), &a, err,
			     sizeof(err)),
	    0);
	assert_int_equal(a.seq, 5);
	packed_free(&p);
}

/* A required key missing or of the wrong type: refused, the key named. */
static void
control__malformed__refused_with_the_key(void **state)
{
	static const struct {
		const char *t, *key; /* key written with a string value */
		const char *want;
	} cases[] = {
		{ "sub", "from", "from: missing or not an unsigned integer" },
		{ "sub", "durable", "durable: missing or not a boolean" },
		{ "gap", "to", "to: missing or not an unsigned integer" },
		{ "ack", "seq", "seq: missing or not an unsigned integer" },
		{ "hello", "epoch",
		    "epoch: missing or not an unsigned integer" },
	};
	struct kw_sub_req r;
	struct kw_gap g;
	struct kw_ack a;
	struct kw_hello h;
	struct packed p;
	static const char *const u64_keys[] = { "from", "to", "epoch", "seq" };
	char err[128];
	size_t i, k;
	int rc = 0;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		packed_init(&p);
		/* Every key of any control message right but this one. */
		msgpack_pack_map(&p.pk, 7);
		kw_pack_kstr(&p.pk, "t", cases[i].t);
		kw_pack_kstr(&p.pk, "stream", "decider");
		for (k = 0; k < 4; k++) {
			if (strcmp(cases[i].key, u64_keys[k]) == 0)
				kw_pack_kstr(&p.pk, u64_keys[k], "x");
			else
				kw_pack_ku64(&p.pk, u64_keys[k], 1);
		}
		if (strcmp(cases[i].key, "durable") == 0)
			kw_pack_kstr(&p.pk, "durable", "x");
		else {
			kw_pack_str(&p.pk, "durable");
			msgpack_pack_true(&p.pk);
		}
		err[0] = '\0';
		if (strcmp(cases[i].t, "sub") == 0)
			rc = kw_sub_unpack(packed_unpack(&p), &r, err,
			    sizeof(err));
		else if (strcmp(cases[i].t, "gap") == 0)
			rc = kw_gap_unpack(packed_unpack(&p), &g, err,
			    sizeof(err));
		else if (strcmp(cases[i].t, "ack") == 0)
			rc = kw_ack_unpack(packed_unpack(&p), &a, err,
			    sizeof(err));
		else
			rc = kw_hello_unpack(packed_unpack(&p), &h, err,
			    sizeof(err));
		assert_int_equal(rc, -1);
		assert_string_equal(err, cases[i].want);
		packed_free(&p);
	}
}

static void
snapshot__pid_of_wrong_type__error_names_field(void **state)
{
	struct kw_snapshot out;
	struct packed p;
	char err[128];

	(void)state;
	packed_init(&p);
	msgpack_pack_map(&p.pk, 3);
	kw_pack_kstr(&p.pk, "source", "kmod");
	kw_pack_str(&p.pk, "host");
	msgpack_pack_map(&p.pk, 4);
	kw_pack_ku64(&p.pk, "mem_total_kb", 1);
	kw_pack_ku64(&p.pk, "mem_free_kb", 1);
	kw_pack_ku64(&p.pk, "mem_used_kb", 0);
	kw_pack_ku64(&p.pk, "ncpu", 1);
	kw_pack_str(&p.pk, "procs");
	msgpack_pack_array(&p.pk, 1);
	msgpack_pack_map(&p.pk, 1);
	kw_pack_kstr(&p.pk, "pid", "one");
	kw_snapshot_init(&out);
	assert_int_equal(kw_snapshot_unpack(packed_unpack(&p), &out, err,
			     sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "procs[0].pid"));
	kw_snapshot_free(&out);
	packed_free(&p);
}

static void
records__round_trip__every_field_kept(void **state)
{
	struct kw_sys_rec s = { 100, 40, 60, 50, 12.5, 321 }, s2;
	struct kw_container_rec c = { 0 }, c2;
	struct kw_proc_rec pr = { 0 }, pr2;
	struct kw_deletion_rec d = { 0 }, d2;
	struct packed p;
	const msgpack_object *o;
	size_t off = 0;
	char err[128];

	(void)state;
	memset(&c, 0, sizeof(c));
	memset(&pr, 0, sizeof(pr));
	memset(&d, 0, sizeof(d));
	snprintf(c.container_id, sizeof(c.container_id), "abc");
	snprintf(c.name, sizeof(c.name), "high_cpu_1");
	snprintf(c.image, sizeof(c.image), "high_cpu_img");
	snprintf(c.class_name, sizeof(c.class_name), "high");
	c.pid = 77;
	c.nprocs = 3;
	c.cpu_pct = 49.5;
	c.mem_pct = 0.25;
	c.rss_kb = 1024;
	pr.pid = 9;
	snprintf(pr.name, sizeof(pr.name), "burn");
	snprintf(pr.cmdline, sizeof(pr.cmdline), "burn --hard");
	pr.cpu_pct = 50;
	snprintf(d.container_id, sizeof(d.container_id), "abc");
	snprintf(d.action, sizeof(d.action), "dry-run");
	snprintf(d.reason, sizeof(d.reason), "cpu 48.3%% > 20.0%%");
	snprintf(d.result, sizeof(d.result), "ok");
	d.cpu_pct = 48.3;
	d.evidence = "{\"logs\":[\"bye\"]}";

	packed_init(&p);
	msgpack_pack_map(&p.pk, KW_SYS_FIELDS);
	kw_sys_pack(&p.pk, &s);
	msgpack_pack_map(&p.pk, KW_CONTAINER_FIELDS);
	kw_container_pack(&p.pk, &c);
	msgpack_pack_map(&p.pk, KW_PROC_FIELDS);
	kw_proc_rec_pack(&p.pk, &pr);
	msgpack_pack_map(&p.pk, KW_DELETION_FIELDS);
	kw_deletion_pack(&p.pk, &d);

	assert_int_equal(msgpack_unpack_next(&p.res, p.sb.data, p.sb.size,
			     &off),
	    MSGPACK_UNPACK_SUCCESS);
	o = &p.res.data;
	assert_int_equal(o->via.map.size, KW_SYS_FIELDS);
	assert_int_equal(kw_sys_unpack(o, &s2, err, sizeof(err)), 0);
	assert_memory_equal(&s, &s2, sizeof(s));

	assert_int_equal(msgpack_unpack_next(&p.res, p.sb.data, p.sb.size,
			     &off),
	    MSGPACK_UNPACK_SUCCESS);
	assert_int_equal(o->via.map.size, KW_CONTAINER_FIELDS);
	assert_int_equal(kw_container_unpack(o, &c2, err, sizeof(err)), 0);
	assert_memory_equal(&c, &c2, sizeof(c));

	assert_int_equal(msgpack_unpack_next(&p.res, p.sb.data, p.sb.size,
			     &off),
	    MSGPACK_UNPACK_SUCCESS);
	assert_int_equal(o->via.map.size, KW_PROC_FIELDS);
	assert_int_equal(kw_proc_rec_unpack(o, &pr2, err, sizeof(err)), 0);
	assert_memory_equal(&pr, &pr2, sizeof(pr));

	assert_int_equal(msgpack_unpack_next(&p.res, p.sb.data, p.sb.size,
			     &off),
	    MSGPACK_UNPACK_SUCCESS);
	assert_int_equal(o->via.map.size, KW_DELETION_FIELDS);
	assert_int_equal(kw_deletion_unpack(o, &d2, err, sizeof(err)), 0);
	assert_string_equal(d2.evidence, d.evidence);
	kw_deletion_rec_free(&d2);
	d.evidence = NULL;
	assert_memory_equal(&d, &d2, sizeof(d));
	packed_free(&p);
}

static void
envelope__not_a_map__refused(void **state)
{
	struct packed p;
	struct kw_msg msg;
	char err[128];

	(void)state;
	packed_init(&p);
	msgpack_pack_array(&p.pk, 0);
	assert_int_equal(kw_msg_decode(packed_unpack(&p), &msg, err,
			     sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "not a map"));
	packed_free(&p);
}

static void
envelope__seq_negative__refused(void **state)
{
	struct packed p;
	struct kw_msg msg;
	char err[128];

	(void)state;
	packed_init(&p);
	msgpack_pack_map(&p.pk, 2);
	kw_pack_kstr(&p.pk, "t", "sys");
	kw_pack_ki64(&p.pk, "seq", -1);
	assert_int_equal(kw_msg_decode(packed_unpack(&p), &msg, err,
			     sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "seq"));
	packed_free(&p);
}

static void
envelope__unknown_type_and_keys__accepted_as_unknown(void **state)
{
	struct packed p;
	struct kw_msg msg;
	char err[128];

	(void)state;
	packed_init(&p);
	msgpack_pack_map(&p.pk, 3);
	kw_pack_kstr(&p.pk, "t", "frobnicate");
	kw_pack_ku64(&p.pk, "seq", 3);
	kw_pack_kstr(&p.pk, "extra", "x");
	assert_int_equal(kw_msg_decode(packed_unpack(&p), &msg, err,
			     sizeof(err)),
	    0);
	assert_int_equal(msg.type, KW_MSG_UNKNOWN);
	assert_int_equal(msg.seq, 3);
	packed_free(&p);
}

static void
envelope__non_string_key__refused(void **state)
{
	struct packed p;
	struct kw_msg msg;
	char err[128];

	(void)state;
	packed_init(&p);
	msgpack_pack_map(&p.pk, 2);
	kw_pack_kstr(&p.pk, "t", "sys");
	msgpack_pack_int(&p.pk, 1);
	msgpack_pack_int(&p.pk, 2);
	assert_int_equal(kw_msg_decode(packed_unpack(&p), &msg, err,
			     sizeof(err)),
	    -1);
	packed_free(&p);
}

static void
msg_types__names__round_trip(void **state)
{
	int t;

	(void)state;
	for (t = KW_MSG_UNKNOWN + 1; t < KW_MSG__COUNT; t++) {
		const char *n = kw_msg_type_name(t);

		assert_int_equal(kw_msg_type_from(n, strlen(n)), t);
	}
	assert_int_equal(kw_msg_type_from("snap", 4), KW_MSG_UNKNOWN);
}

static void
cmdline__over_limit__truncated(void **state)
{
	struct kw_snapshot s;
	struct kw_proc *p;
	char big[KW_CMDLINE_MAX * 2];

	(void)state;
	memset(big, 'a', sizeof(big));
	kw_snapshot_init(&s);
	p = kw_snapshot_add(&s);
	assert_int_equal(kw_proc_set_cmdline(p, big, sizeof(big)), 0);
	assert_int_equal(strlen(p->cmdline), KW_CMDLINE_MAX - 1);
	kw_snapshot_free(&s);
}

static void
mpscan__huge_declared_sizes__refused(void **state)
{
	static const char *const bad[] = {
		"\xdd\xff\xff\xff\xff",		 /* array32 of 4G */
		"\xdf\x00\x10\x00\x00",		 /* map32 of 1M pairs */
		"\x81\xa1t\xdb\x10\x00\x00\x00", /* str32 of 256 MiB */
		"\xc6\x7f\xff\xff\xff",		 /* bin32 */
		"\xc9\x7f\xff\xff\xff\x01",	 /* ext32 */
	};
	static const size_t lens[] = { 5, 5, 8, 5, 6 };
	struct kw_mpscan s;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		kw_mpscan_init(&s, 1 << 20, 1 << 16);
		assert_int_equal(kw_mpscan_feed(&s, bad[i], lens[i]), -1);
	}
}

static void
mpscan__real_message_in_pieces__accepted_to_the_end(void **state)
{
	struct kw_snapshot snap;
	struct packed p;
	struct kw_mpscan s;
	size_t i;

	(void)state;
	fill_snapshot(&snap);
	packed_init(&p);
	envelope(&p.pk, "snapshot", KW_SNAPSHOT_FIELDS + 3);
	kw_snapshot_pack(&p.pk, &snap);
	kw_pack_kf64(&p.pk, "f", 1.5);
	kw_pack_ki64(&p.pk, "i", -5000000000ll);
	kw_pack_str(&p.pk, "b");
	msgpack_pack_bin(&p.pk, 3);
	msgpack_pack_bin_body(&p.pk, "\xc1\xc1\xc1",
	    3); /* payload, not headers */
	/* Fed one more byte at a time, as a socket may deliver it. */
	kw_mpscan_init(&s, 1 << 20, 1 << 16);
	for (i = 1; i < p.sb.size; i++)
		assert_int_equal(kw_mpscan_feed(&s, p.sb.data, i), 0);
	assert_int_equal(kw_mpscan_feed(&s, p.sb.data, p.sb.size), 1);
	assert_int_equal(s.pos, p.sb.size);
	/* A small limit refuses the same bytes: the cmdline is too long. */
	kw_mpscan_init(&s, 8, 1 << 16);
	assert_int_equal(kw_mpscan_feed(&s, p.sb.data, p.sb.size), -1);
	kw_snapshot_free(&snap);
	packed_free(&p);
}

static void
unpacker_next__consumed_bytes__scanner_follows(void **state)
{
	msgpack_unpacker u;
	msgpack_unpacked res;
	struct kw_mpscan s;
	struct packed p;
	int i, got = 0, rc;

	(void)state;
	packed_init(&p);
	for (i = 0; i < 50; i++)
		kw_pack_ack(&p.pk, i);
	assert_true(msgpack_unpacker_init(&u, 64));
	msgpack_unpacked_init(&res);
	kw_mpscan_init(&s, 64, 64);
	for (i = 0; (size_t)i < p.sb.size; i += 7) {
		size_t n = p.sb.size - i < 7 ? p.sb.size - i : 7;

		assert_true(msgpack_unpacker_reserve_buffer(&u, n));
		memcpy(msgpack_unpacker_buffer(&u), p.sb.data + i, n);
		msgpack_unpacker_buffer_consumed(&u, n);
		while ((rc = kw_unpacker_next(&u, &s, &res)) ==
		    MSGPACK_UNPACK_SUCCESS)
			got++;
		assert_int_equal(rc, MSGPACK_UNPACK_CONTINUE);
	}
	assert_int_equal(got, 50);
	msgpack_unpacked_destroy(&res);
	msgpack_unpacker_destroy(&u);
	packed_free(&p);
}

/*
 * A corpus of messages in every encoding a stream may carry, with payloads
 * that look like huge headers when read out of step.
 */
static void
build_corpus(struct packed *p, size_t *nmsgs)
{
	static const char evil[] = "\xdd\x7f\xff\xff\xff\xdf\xff\xff\xff\xff"
				   "\xdb\x7f\xff\xff\xff";
	struct kw_snapshot snap;
	char big[300];
	size_t n = 0;

	memset(big, 0xdd, sizeof(big));
	fill_snapshot(&snap);
	kw_pack_hello(&p->pk, "decider", 123456789, 42, 99);
	n++;
	kw_pack_sub(&p->pk, 123456789, 1, 1);
	n++;
	kw_pack_gap(&p->pk, 3, 9, 77);
	n++;
	kw_pack_ack(&p->pk, UINT64_MAX);
	n++;
	envelope(&p->pk, "snapshot", KW_SNAPSHOT_FIELDS);
	kw_snapshot_pack(&p->pk, &snap);
	n++;
	/* str8, str16, bin8, bin16, ext8, fixexts, floats, every int. */
	msgpack_pack_map(&p->pk, 13);
	kw_pack_kstr(&p->pk, "t", "sys");
	kw_pack_str(&p->pk, "s8");
	msgpack_pack_str(&p->pk, 40);
	msgpack_pack_str_body(&p->pk, big, 40);
	kw_pack_str(&p->pk, "s16");
	msgpack_pack_str(&p->pk, sizeof(big));
	msgpack_pack_str_body(&p->pk, big, sizeof(big));
	kw_pack_str(&p->pk, "b8");
	msgpack_pack_bin(&p->pk, sizeof(evil) - 1);
	msgpack_pack_bin_body(&p->pk, evil, sizeof(evil) - 1);
	kw_pack_str(&p->pk, "b16");
	msgpack_pack_bin(&p->pk, sizeof(big));
	msgpack_pack_bin_body(&p->pk, big, sizeof(big));
	kw_pack_str(&p->pk, "e8");
	msgpack_pack_ext(&p->pk, sizeof(evil) - 1, 5);
	msgpack_pack_ext_body(&p->pk, evil, sizeof(evil) - 1);
	kw_pack_str(&p->pk, "fx");
	msgpack_pack_array(&p->pk, 5);
	msgpack_pack_ext(&p->pk, 1, 1);
	msgpack_pack_ext_body(&p->pk, evil, 1);
	msgpack_pack_ext(&p->pk, 2, 1);
	msgpack_pack_ext_body(&p->pk, evil, 2);
	msgpack_pack_ext(&p->pk, 4, 1);
	msgpack_pack_ext_body(&p->pk, evil, 4);
	msgpack_pack_ext(&p->pk, 8, 1);
	msgpack_pack_ext_body(&p->pk, evil, 8);
	msgpack_pack_ext(&p->pk, 16, 1);
	msgpack_pack_ext_body(&p->pk, big, 16);
	kw_pack_str(&p->pk, "f");
	msgpack_pack_array(&p->pk, 2);
	msgpack_pack_float(&p->pk, 1.5f);
	msgpack_pack_double(&p->pk, -2.25);
	kw_pack_str(&p->pk, "i");
	msgpack_pack_array(&p->pk, 9);
	msgpack_pack_int64(&p->pk, -1);
	msgpack_pack_int64(&p->pk, -100);
	msgpack_pack_int64(&p->pk, -1000);
	msgpack_pack_int64(&p->pk, -100000);
	msgpack_pack_int64(&p->pk, -5000000000ll);
	msgpack_pack_uint64(&p->pk, 200);
	msgpack_pack_uint64(&p->pk, 60000);
	msgpack_pack_uint64(&p->pk, 4000000000u);
	msgpack_pack_uint64(&p->pk, UINT64_MAX);
	kw_pack_str(&p->pk, "z");
	msgpack_pack_array(&p->pk, 6);
	msgpack_pack_nil(&p->pk);
	msgpack_pack_true(&p->pk);
	msgpack_pack_false(&p->pk);
	msgpack_pack_str(&p->pk, 0);
	msgpack_pack_array(&p->pk, 0);
	msgpack_pack_map(&p->pk, 0);
	kw_pack_str(&p->pk, "a16");
	msgpack_pack_array(&p->pk, 20);
	for (int i = 0; i < 20; i++) {
		msgpack_pack_map(&p->pk, 1);
		kw_pack_ku64(&p->pk, "k", (uint64_t)i << (i * 3 % 60));
	}
	kw_pack_str(&p->pk, "m16");
	msgpack_pack_map(&p->pk, 17);
	for (int i = 0; i < 17; i++) {
		msgpack_pack_uint64(&p->pk, (uint64_t)i);
		msgpack_pack_str(&p->pk, 0);
	}
	kw_pack_str(&p->pk, "last");
	msgpack_pack_str(&p->pk, 0);
	n++;
	kw_pack_ack(&p->pk, 0);
	n++;
	kw_snapshot_free(&snap);
	*nmsgs = n;
}

/* Feed buf in pieces cut at the offsets in cuts; re-pack what comes out. */
static void
unpack_in_pieces(const char *buf, size_t len, const size_t *cuts, size_t ncuts,
    msgpack_sbuffer *out, size_t *nmsgs)
{
	msgpack_unpacker u;
	msgpack_unpacked res;
	msgpack_packer pk;
	struct kw_mpscan s;
	size_t i, from = 0, to;
	int rc;

	msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
	assert_true(msgpack_unpacker_init(&u, 64));
	msgpack_unpacked_init(&res);
	kw_mpscan_init(&s, 1 << 20, 1 << 16);
	*nmsgs = 0;
	for (i = 0; i <= ncuts; i++, from = to) {
		to = i < ncuts ? cuts[i] : len;
		assert_true(
		    msgpack_unpacker_reserve_buffer(&u, to - from + 1));
		memcpy(msgpack_unpacker_buffer(&u), buf + from, to - from);
		msgpack_unpacker_buffer_consumed(&u, to - from);
		while ((rc = kw_unpacker_next(&u, &s, &res)) ==
		    MSGPACK_UNPACK_SUCCESS) {
			msgpack_pack_object(&pk, res.data);
			(*nmsgs)++;
		}
		if (rc != MSGPACK_UNPACK_CONTINUE)
			fail_msg("cut at %zu: kw_unpacker_next = %d", from,
			    rc);
	}
	msgpack_unpacked_destroy(&res);
	msgpack_unpacker_destroy(&u);
}

static void
unpacker_next__corpus_cut_anywhere__same_messages(void **state)
{
	struct packed p;
	msgpack_sbuffer out;
	size_t nmsgs, got, k, cuts[2];

	(void)state;
	packed_init(&p);
	build_corpus(&p, &nmsgs);
	/* One cut at every offset, then two cuts a byte and 3 bytes apart. */
	for (k = 0; k <= p.sb.size; k++) {
		msgpack_sbuffer_init(&out);
		cuts[0] = k;
		unpack_in_pieces(p.sb.data, p.sb.size, cuts, 1, &out, &got);
		assert_int_equal(got, nmsgs);
		assert_int_equal(out.size, p.sb.size);
		assert_memory_equal(out.data, p.sb.data, p.sb.size);
		msgpack_sbuffer_destroy(&out);
	}
	for (k = 0; k + 3 <= p.sb.size; k++) {
		size_t d;

		for (d = 1; d <= 3; d += 2) {
			msgpack_sbuffer_init(&out);
			cuts[0] = k;
			cuts[1] = k + d;
			unpack_in_pieces(p.sb.data, p.sb.size, cuts, 2, &out,
			    &got);
			assert_int_equal(got, nmsgs);
			assert_memory_equal(out.data, p.sb.data, p.sb.size);
			msgpack_sbuffer_destroy(&out);
		}
	}
	packed_free(&p);
}

/* The bytes a, then b, to a fresh unpacker: what kw_unpacker_next says. */
static int
unpack_two_reads(const char *a, size_t alen, const char *b, size_t blen)
{
	msgpack_unpacker u;
	msgpack_unpacked res;
	struct kw_mpscan s;
	int rc;

	assert_true(msgpack_unpacker_init(&u, 64));
	msgpack_unpacked_init(&res);
	kw_mpscan_init(&s, KW_MSG_MAX, KW_MSG_COUNT_MAX);
	assert_true(msgpack_unpacker_reserve_buffer(&u, alen + blen));
	memcpy(msgpack_unpacker_buffer(&u), a, alen);
	msgpack_unpacker_buffer_consumed(&u, alen);
	rc = kw_unpacker_next(&u, &s, &res);
	assert_int_equal(rc, MSGPACK_UNPACK_CONTINUE);
	memcpy(msgpack_unpacker_buffer(&u), b, blen);
	msgpack_unpacker_buffer_consumed(&u, blen);
	rc = kw_unpacker_next(&u, &s, &res);
	msgpack_unpacked_destroy(&res);
	msgpack_unpacker_destroy(&u);
	return rc;
}

static void
unpacker_next__count_after_a_pause__refused(void **state)
{
	(void)state;
	/* array32 of 2^31-1: type byte, a pause, then the count. */
	assert_int_equal(unpack_two_reads("\xdd", 1, "\x7f\xff\xff\xff", 4),
	    KW_UNPACK_REFUSED);
	/* The same inside a map, the count cut in its middle. */
	assert_int_equal(unpack_two_reads("\x81\xa1t\xdd\x7f\xff", 6,
			     "\xff\xff", 2),
	    KW_UNPACK_REFUSED);
	/* map32 and str32 the same way. */
	assert_int_equal(unpack_two_reads("\x91\xdf", 2, "\x7f\xff\xff\xff",
			     4),
	    KW_UNPACK_REFUSED);
	assert_int_equal(unpack_two_reads("\xdb", 1, "\x7f\xff\xff\xff", 4),
	    KW_UNPACK_REFUSED);
}

static void
get_str__empty_string_without_bytes__empty(void **state)
{
	msgpack_object_kv kv;
	msgpack_object map;
	struct kw_proc p;
	char buf[8] = "xxxxxxx";

	(void)state;
	memset(&kv, 0, sizeof(kv));
	kv.key.type = MSGPACK_OBJECT_STR;
	kv.key.via.str.ptr = "name";
	kv.key.via.str.size = 4;
	kv.val.type = MSGPACK_OBJECT_STR;
	kv.val.via.str.ptr = NULL; /* an empty str may point nowhere */
	kv.val.via.str.size = 0;
	map.type = MSGPACK_OBJECT_MAP;
	map.via.map.size = 1;
	map.via.map.ptr = &kv;
	assert_int_equal(kw_get_str(&map, "name", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
	memset(&p, 0, sizeof(p));
	assert_int_equal(kw_proc_set_cmdline(&p, NULL, 0), 0);
	assert_string_equal(p.cmdline, "");
	free(p.cmdline);
}

/*
 * Decoding finds each field once per map, in one pass: keys in any order,
 * keys of no field skipped, and of a key given twice the first counts, as
 * kw_map_get finds it.
 */
static void
proc_rec__keys_reordered_unknown_repeated__first_counts(void **state)
{
	struct kw_proc_rec pr, pr2;
	struct packed p, q;
	const msgpack_object *o;
	uint32_t i, n;
	char err[128];

	(void)state;
	memset(&pr, 0, sizeof(pr));
	pr.pid = 4242;
	snprintf(pr.name, sizeof(pr.name), "burn");
	snprintf(pr.cmdline, sizeof(pr.cmdline), "burn --hard");
	memset(pr.container_id, 'c', 64);
	pr.cpu_pct = 50.5;
	pr.mem_pct = 1.25;
	pr.rss_kb = 777;
	packed_init(&p);
	envelope(&p.pk, "proc", KW_PROC_FIELDS);
	kw_proc_rec_pack(&p.pk, &pr);
	o = packed_unpack(&p);
	n = o->via.map.size;

	/* Reversed, an unknown key first, each key again (nil) at the end. */
	packed_init(&q);
	msgpack_pack_map(&q.pk, 2 * n + 1);
	kw_pack_ku64(&q.pk, "pidx", 1);
	for (i = n; i-- > 0;) {
		msgpack_pack_object(&q.pk, o->via.map.ptr[i].key);
		msgpack_pack_object(&q.pk, o->via.map.ptr[i].val);
	}
	for (i = 0; i < n; i++) {
		msgpack_pack_object(&q.pk, o->via.map.ptr[i].key);
		msgpack_pack_nil(&q.pk);
	}
	memset(&pr2, 0xff, sizeof(pr2));
	assert_int_equal(kw_proc_rec_unpack(packed_unpack(&q), &pr2, err,
			     sizeof(err)),
	    0);
	assert_int_equal(pr2.pid, 4242);
	assert_string_equal(pr2.name, "burn");
	assert_string_equal(pr2.cmdline, "burn --hard");
	assert_int_equal(strlen(pr2.container_id), 64);
	assert_true(pr2.cpu_pct == 50.5);
	assert_true(pr2.mem_pct == 1.25);
	assert_int_equal(pr2.rss_kb, 777);
	packed_free(&q);

	/* The same with the nils first: the first of each key is refused. */
	packed_init(&q);
	msgpack_pack_map(&q.pk, 2 * n);
	for (i = 0; i < n; i++) {
		msgpack_pack_object(&q.pk, o->via.map.ptr[i].key);
		if (o->via.map.ptr[i].key.via.str.size == 3 &&
		    memcmp(o->via.map.ptr[i].key.via.str.ptr, "pid", 3) == 0)
			msgpack_pack_nil(&q.pk);
		else
			msgpack_pack_object(&q.pk, o->via.map.ptr[i].val);
	}
	for (i = 0; i < n; i++) {
		msgpack_pack_object(&q.pk, o->via.map.ptr[i].key);
		msgpack_pack_object(&q.pk, o->via.map.ptr[i].val);
	}
	assert_int_equal(kw_proc_rec_unpack(packed_unpack(&q), &pr2, err,
			     sizeof(err)),
	    -1);
	assert_string_equal(err, "pid: missing or not a 32-bit integer");
	packed_free(&q);
	packed_free(&p);
}

/* The one-pass decoding assumes a table names each key once. */
static void
schemas__field_keys__each_once(void **state)
{
	const struct kw_schema *const all[] = { &kw_snapshot_schema,
		&kw_host_schema, &kw_proc_schema, &kw_cgroup_stat_schema,
		&kw_sys_schema, &kw_container_schema, &kw_proc_rec_schema,
		&kw_deletion_schema };
	const struct kw_schema *s;
	size_t k, i, j;

	(void)state;
	for (k = 0; k < sizeof(all) / sizeof(all[0]); k++) {
		s = all[k];
		for (i = 0; i < s->nfields; i++)
			for (j = i + 1; j < s->nfields; j++)
				assert_string_not_equal(s->fields[i].key,
				    s->fields[j].key);
	}
	for (k = 0; k < KW_N_RECORDS; k++) {
		s = kw_records[k];
		for (i = 0; i < s->nfields; i++)
			for (j = i + 1; j < s->nfields; j++)
				assert_string_not_equal(s->fields[i].key,
				    s->fields[j].key);
	}
}

/*
 * The array is sized to a count (the last sample's), not doubled: reserve
 * grows and shrinks it, never below what it holds; add past it grows by a
 * quarter.
 */
static void
snapshot__reserve__exact_capacity(void **state)
{
	struct kw_snapshot s;
	size_t i;

	(void)state;
	kw_snapshot_init(&s);
	assert_int_equal(kw_snapshot_reserve(&s, 1000), 0);
	assert_int_equal(s.cap, 1000);
	for (i = 0; i < 10; i++)
		assert_non_null(kw_snapshot_add(&s));
	assert_int_equal(kw_snapshot_reserve(&s, 100), 0);
	assert_int_equal(s.cap, 100);
	assert_int_equal(kw_snapshot_reserve(&s, 95), 0); /* within 1/8 */
	assert_int_equal(s.cap, 100);
	assert_int_equal(kw_snapshot_reserve(&s, 3), 0);
	assert_int_equal(s.cap, 10);
	assert_int_equal(s.nprocs, 10);
	assert_non_null(kw_snapshot_add(&s));
	assert_int_equal(s.cap, 10 + 10 / 4 + 256);
	for (i = 0; i < s.nprocs; i++)
		assert_string_equal(s.procs[i].cmdline, "");
	kw_snapshot_free(&s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(snapshot__round_trip__every_field_kept),
		cmocka_unit_test(snapshot__golden_bytes__unchanged),
		cmocka_unit_test(
		    snapshot__every_field_of_the_table__round_trips),
		cmocka_unit_test(
		    snapshot__required_field_missing__error_names_it),
		cmocka_unit_test(
		    snapshot__nested_wrong_shape__error_says_where),
		cmocka_unit_test(snapshot__to_json__nested_records_kept),
		cmocka_unit_test(control__golden_bytes__unchanged),
		cmocka_unit_test(control__round_trip__fields_from_the_tables),
		cmocka_unit_test(control__malformed__refused_with_the_key),
		cmocka_unit_test(snapshot__reserve__exact_capacity),
		cmocka_unit_test(
		    snapshot__pid_of_wrong_type__error_names_field),
		cmocka_unit_test(records__round_trip__every_field_kept),
		cmocka_unit_test(envelope__not_a_map__refused),
		cmocka_unit_test(envelope__seq_negative__refused),
		cmocka_unit_test(
		    envelope__unknown_type_and_keys__accepted_as_unknown),
		cmocka_unit_test(envelope__non_string_key__refused),
		cmocka_unit_test(msg_types__names__round_trip),
		cmocka_unit_test(cmdline__over_limit__truncated),
		cmocka_unit_test(mpscan__huge_declared_sizes__refused),
		cmocka_unit_test(
		    mpscan__real_message_in_pieces__accepted_to_the_end),
		cmocka_unit_test(
		    unpacker_next__consumed_bytes__scanner_follows),
		cmocka_unit_test(
		    unpacker_next__corpus_cut_anywhere__same_messages),
		cmocka_unit_test(unpacker_next__count_after_a_pause__refused),
		cmocka_unit_test(get_str__empty_string_without_bytes__empty),
		cmocka_unit_test(
		    proc_rec__keys_reordered_unknown_repeated__first_counts),
		cmocka_unit_test(schemas__field_keys__each_once),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
