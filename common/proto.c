/*
 * The wire protocol's one table of message types, the envelope check and
 * the encoder and decoder of every message body.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "kwarden.h"
#include "proto.h"

static const char *const msg_names[KW_MSG__COUNT] = {
	[KW_MSG_UNKNOWN] = "?",
	[KW_MSG_HELLO] = "hello",
	[KW_MSG_SUB] = "sub",
	[KW_MSG_GAP] = "gap",
	[KW_MSG_ACK] = "ack",
	[KW_MSG_SNAPSHOT] = "snapshot",
	[KW_MSG_SYS] = "sys",
	[KW_MSG_CONTAINER] = "container",
	[KW_MSG_PROC] = "proc",
	[KW_MSG_DELETION] = "deletion",
	[KW_MSG_END] = "end",
	[KW_MSG_DECISION] = "decision",
	[KW_MSG_POLICY] = "policy",
	[KW_MSG_DELTA] = "delta",
};

const char *
kw_msg_type_name(enum kw_msg_type type)
{
	if (type <= KW_MSG_UNKNOWN || type >= KW_MSG__COUNT)
		return "?";
	return msg_names[type];
}

enum kw_msg_type
kw_msg_type_from(const char *s, size_t len)
{
	int i;

	for (i = KW_MSG_UNKNOWN + 1; i < KW_MSG__COUNT; i++)
		if (strlen(msg_names[i]) == len &&
		    memcmp(msg_names[i], s, len) == 0)
			return i;
	return KW_MSG_UNKNOWN;
}

void
kw_mpscan_init(struct kw_mpscan *s, size_t max_len, size_t max_count)
{
	s->pos = 0;
	s->need = 0;
	s->max_len = max_len;
	s->max_count = max_count;
}

void
kw_mpscan_next(struct kw_mpscan *s)
{
	s->pos = 0;
	s->need = 0;
}

static uint64_t
be_uint(const unsigned char *p, size_t n)
{
	uint64_t v = 0;

	while (n-- > 0)
		v = v << 8 | *p++;
	return v;
}

/*
 * Headers follow one another: an array's or map's elements come right after
 * its header, a str's bytes right after its header. So a linear walk over
 * headers, skipping payloads, sees every declared size; counting the
 * objects still owed (one for the message, plus each array's and map's
 * elements) finds where the message ends. A header cut short by the end
 * of the bytes is read again, whole, next time.
 */
int
kw_mpscan_feed(struct kw_mpscan *s, const char *buf, size_t len)
{
	const unsigned char *p = (const unsigned char *)buf;

	if (s->pos == 0 && s->need == 0)
		s->need = 1;
	while (s->need > 0) {
		unsigned char b;
		size_t hdr = 1, nsize = 0, fixed = 0;
		int kind = 0; /* 0 scalar, 1 payload, 2 array, 3 map */
		uint64_t n = 0;

		if (s->pos >= len)
			return 0;
		b = p[s->pos];
		if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 ||
		    b == 0xc3) {
			fixed = 0;
		} else if (b <= 0x8f) {
			kind = 3;
			n = b & 0x0f;
		} else if (b <= 0x9f) {
			kind = 2;
			n = b & 0x0f;
		} else if (b <= 0xbf) {
			kind = 1;
			n = b & 0x1f;
		} else {
			switch (b) {
			case 0xc4:
			case 0xd9:
				kind = 1;
				nsize = 1;
				break;
			case 0xc5:
			case 0xda:
				kind = 1;
				nsize = 2;
				break;
			case 0xc6:
			case 0xdb:
				kind = 1;
				nsize = 4;
				break;
			case 0xc7:
				kind = 1;
				nsize = 1;
				fixed = 1;
				break;
			case 0xc8:
				kind = 1;
				nsize = 2;
				fixed = 1;
				break;
			case 0xc9:
				kind = 1;
				nsize = 4;
				fixed = 1;
				break;
			case 0xca:
				fixed = 4;
				break;
			case 0xcb:
				fixed = 8;
				break;
			case 0xcc:
			case 0xd0:
				fixed = 1;
				break;
			case 0xcd:
			case 0xd1:
				fixed = 2;
				break;
			case 0xce:
			case 0xd2:
				fixed = 4;
				break;
			case 0xcf:
			case 0xd3:
				fixed = 8;
				break;
			case 0xd4:
				fixed = 2;
				break;
			case 0xd5:
				fixed = 3;
				break;
			case 0xd6:
				fixed = 5;
				break;
			case 0xd7:
				fixed = 9;
				break;
			case 0xd8:
				fixed = 17;
				break;
			case 0xdc:
				kind = 2;
				nsize = 2;
				break;
			case 0xdd:
				kind = 2;
				nsize = 4;
				break;
			case 0xde:
				kind = 3;
				nsize = 2;
				break;
			case 0xdf:
				kind = 3;
				nsize = 4;
				break;
			default:
				return -2; /* 0xc1: never used */
			}
		}
		if (nsize > 0) {
			if (len - s->pos < 1 + nsize)
				return 0; /* header not all here yet */
			n = be_uint(p + s->pos + 1, nsize);
			hdr += nsize;
		}
		s->need--;
		switch (kind) {
		case 0:
			s->pos += hdr + fixed;
			break;
		case 1: /* ext: the type byte is part of the header */
			if (n > s->max_len)
				return -1;
			s->pos += hdr + fixed + n;
			break;
		case 2:
		case 3:
			if (n > s->max_count ||
			    (kind == 3 && n * 2 > s->max_count))
				return -1;
			s->need += kind == 3 ? n * 2 : n;
			s->pos += hdr;
			break;
		}
		if (s->pos > s->max_len)
			return -1;
	}
	/* The last payload may still be on its way. */
	return s->pos <= len ? 1 : 0;
}

int
kw_unpacker_next(msgpack_unpacker *u, struct kw_mpscan *s,
    msgpack_unpacked *res)
{
	size_t used, end;
	int rc;

	switch (kw_mpscan_feed(s, u->buffer + u->off, u->used - u->off)) {
	case 0:
		return MSGPACK_UNPACK_CONTINUE;
	case -1:
		return KW_UNPACK_REFUSED;
	case -2:
		return MSGPACK_UNPACK_PARSE_ERROR;
	}
	/* msgpack-c sees the checked message and not one byte past it. */
	end = u->off + s->pos;
	used = u->used;
	u->used = end;
	rc = msgpack_unpacker_next(u, res);
	u->used = used;
	kw_mpscan_next(s);
	/* Should the two ever disagree on where it ends, it is malformed. */
	if (rc == MSGPACK_UNPACK_CONTINUE ||
	    (rc == MSGPACK_UNPACK_SUCCESS && u->off != end))
		return MSGPACK_UNPACK_PARSE_ERROR;
	return rc;
}

int
kw_unpack_next(struct kw_mpscan *s, const char *buf, size_t len,
    msgpack_zone *zone, msgpack_object *obj, size_t *msg_len)
{
	size_t n, end = 0;

	switch (kw_mpscan_feed(s, buf, len)) {
	case 0:
		return MSGPACK_UNPACK_CONTINUE;
	case -1:
		return KW_UNPACK_REFUSED;
	case -2:
		return MSGPACK_UNPACK_PARSE_ERROR;
	}
	n = s->pos;
	kw_mpscan_next(s);
	/* Should the two ever disagree on where it ends, it is malformed. */
	if (msgpack_unpack(buf, n, &end, zone, obj) !=
		MSGPACK_UNPACK_SUCCESS ||
	    end != n) {
		msgpack_zone_clear(zone);
		return MSGPACK_UNPACK_PARSE_ERROR;
	}
	*msg_len = n;
	return MSGPACK_UNPACK_SUCCESS;
}

/* "key: msg" (msg alone without a key) into err, through kw_seterr. */
static void
seterr(char *err, size_t errlen, const char *msg, const char *key)
{
	if (key != NULL)
		kw_seterr(err, errlen, "%s: %s", key, msg);
	else
		kw_seterr(err, errlen, "%s", msg);
}

/* Whether msgpack key k is the string key (a str of the same bytes). */
static int
key_is(const msgpack_object *k, const char *key)
{
	uint32_t i;

	if (k->type != MSGPACK_OBJECT_STR)
		return 0;
	for (i = 0; i < k->via.str.size; i++)
		if (key[i] == '\0' || key[i] != k->via.str.ptr[i])
			return 0;
	return key[i] == '\0';
}

const msgpack_object *
kw_map_get(const msgpack_object *map, const char *key)
{
	uint32_t i;

	if (map == NULL || map->type != MSGPACK_OBJECT_MAP)
		return NULL;
	for (i = 0; i < map->via.map.size; i++)
		if (key_is(&map->via.map.ptr[i].key, key))
			return &map->via.map.ptr[i].val;
	return NULL;
}

/*
 * A value read as a type: -1 when it is absent (NULL) or of another type.
 * The kw_get_* functions read a key's value with them; decoding a record
 * uses them on each field's value, found once per map by field_values.
 */
static int
obj_u64(const msgpack_object *o, uint64_t *v)
{
	if (o == NULL || o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return -1;
	*v = o->via.u64;
	return 0;
}

static int
obj_i64(const msgpack_object *o, int64_t *v)
{
	if (o == NULL)
		return -1;
	if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
		*v = o->via.i64;
	else if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
	    o->via.u64 <= INT64_MAX)
		*v = (int64_t)o->via.u64;
	else
		return -1;
	return 0;
}

static int
obj_f64(const msgpack_object *o, double *v)
{
	if (o == NULL)
		return -1;
	switch (o->type) {
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		*v = o->via.f64;
		return 0;
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		*v = (double)o->via.u64;
		return 0;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		*v = (double)o->via.i64;
		return 0;
	default:
		return -1;
	}
}

static int
obj_str(const msgpack_object *o, char *buf, size_t len)
{
	size_t n;

	if (o == NULL || o->type != MSGPACK_OBJECT_STR || len == 0)
		return -1;
	n = o->via.str.size;
	if (n > len - 1)
		n = len - 1;
	if (n > 0) /* an empty str may point nowhere */
		memcpy(buf, o->via.str.ptr, n);
	buf[n] = '\0';
	/* A NUL inside the string ends it: keys and names never hold one. */
	return 0;
}

int
kw_get_u64(const msgpack_object *map, const char *key, uint64_t *v)
{
	return obj_u64(kw_map_get(map, key), v);
}

int
kw_get_i64(const msgpack_object *map, const char *key, int64_t *v)
{
	return obj_i64(kw_map_get(map, key), v);
}

int
kw_get_f64(const msgpack_object *map, const char *key, double *v)
{
	return obj_f64(kw_map_get(map, key), v);
}

int
kw_get_str(const msgpack_object *map, const char *key, char *buf, size_t len)
{
	return obj_str(kw_map_get(map, key), buf, len);
}

int
kw_msg_decode(const msgpack_object *obj, struct kw_msg *msg, char *err,
    size_t errlen)
{
	const msgpack_object *t;
	uint32_t i;

	memset(msg, 0, sizeof(*msg));
	if (obj->type != MSGPACK_OBJECT_MAP) {
		seterr(err, errlen, "message is not a map", NULL);
		return -1;
	}
	for (i = 0; i < obj->via.map.size; i++) {
		if (obj->via.map.ptr[i].key.type != MSGPACK_OBJECT_STR) {
			seterr(err, errlen,
			    "message has a key that is not a "
			    "string",
			    NULL);
			return -1;
		}
	}
	t = kw_map_get(obj, "t");
	if (t == NULL || t->type != MSGPACK_OBJECT_STR) {
		seterr(err, errlen, "missing or not a string", "t");
		return -1;
	}
	msg->type = kw_msg_type_from(t->via.str.ptr, t->via.str.size);
	if (kw_map_get(obj, "seq") != NULL &&
	    kw_get_u64(obj, "seq", &msg->seq) == -1) {
		seterr(err, errlen, "not an unsigned integer", "seq");
		return -1;
	}
	if (kw_map_get(obj, "ts") != NULL &&
	    kw_get_u64(obj, "ts", &msg->ts_ns) == -1) {
		seterr(err, errlen, "not an unsigned integer", "ts");
		return -1;
	}
	msg->obj = obj;
	return 0;
}

void
kw_pack_str(msgpack_packer *pk, const char *s)
{
	size_t n = strlen(s);

	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, s, n);
}

void
kw_pack_kstr(msgpack_packer *pk, const char *key, const char *s)
{
	kw_pack_str(pk, key);
	kw_pack_str(pk, s);
}

void
kw_pack_ku64(msgpack_packer *pk, const char *key, uint64_t v)
{
	kw_pack_str(pk, key);
	msgpack_pack_uint64(pk, v);
}

void
kw_pack_ki64(msgpack_packer *pk, const char *key, int64_t v)
{
	kw_pack_str(pk, key);
	msgpack_pack_int64(pk, v);
}

void
kw_pack_kf64(msgpack_packer *pk, const char *key, double v)
{
	kw_pack_str(pk, key);
	msgpack_pack_double(pk, v);
}

void
kw_pack_hello(msgpack_packer *pk, const char *stream, uint64_t epoch,
    uint64_t seq, uint64_t ts_ns)
{
	struct kw_hello h = { .epoch = epoch, .v = KW_PROTO_VERSION };

	snprintf(h.stream, sizeof(h.stream), "%s", stream);
	msgpack_pack_map(pk, 3 + kw_fields_count(&kw_hello_schema, &h));
	kw_pack_kstr(pk, "t", "hello");
	kw_pack_ku64(pk, "seq", seq);
	kw_pack_ku64(pk, "ts", ts_ns);
	kw_fields_pack(pk, &kw_hello_schema, &h);
}

void
kw_pack_sub(msgpack_packer *pk, uint64_t epoch, uint64_t from, int durable)
{
	struct kw_sub_req r = { epoch, from, durable != 0 };

	msgpack_pack_map(pk, 1 + kw_fields_count(&kw_sub_schema, &r));
	kw_pack_kstr(pk, "t", "sub");
	kw_fields_pack(pk, &kw_sub_schema, &r);
}

void
kw_pack_gap(msgpack_packer *pk, uint64_t from, uint64_t to, uint64_t ts_ns)
{
	struct kw_gap g = { from, to };

	msgpack_pack_map(pk, 2 + kw_fields_count(&kw_gap_schema, &g));
	kw_pack_kstr(pk, "t", "gap");
	kw_pack_ku64(pk, "ts", ts_ns);
	kw_fields_pack(pk, &kw_gap_schema, &g);
}

void
kw_pack_ack(msgpack_packer *pk, uint64_t seq)
{
	struct kw_ack a = { seq };

	msgpack_pack_map(pk, 1 + kw_fields_count(&kw_ack_schema, &a));
	kw_pack_kstr(pk, "t", "ack");
	kw_fields_pack(pk, &kw_ack_schema, &a);
}

/* snapshot */

void
kw_snapshot_init(struct kw_snapshot *snap)
{
	memset(snap, 0, sizeof(*snap));
}

/*
 * Room for exactly n processes: grows, or gives back what is over n by
 * more than an eighth (a sample sized from the last one's count).
 */
int
kw_snapshot_reserve(struct kw_snapshot *snap, size_t n)
{
	struct kw_proc *p;

	if (n < snap->nprocs)
		n = snap->nprocs;
	if (n == 0 || (n <= snap->cap && snap->cap - n <= n / 8))
		return 0;
	if ((p = reallocarray(snap->procs, n, sizeof(*p))) == NULL)
		return n <= snap->cap ? 0 : -1;
	snap->procs = p;
	snap->cap = n;
	return 0;
}

struct kw_proc *
kw_snapshot_add(struct kw_snapshot *snap)
{
	struct kw_proc *p;

	/* Past the reserve: grow by a quarter, not double (200 B each). */
	if (snap->nprocs == snap->cap &&
	    kw_snapshot_reserve(snap, snap->cap + snap->cap / 4 + 256) == -1)
		return NULL;
	p = &snap->procs[snap->nprocs];
	memset(p, 0, sizeof(*p));
	if (kw_proc_set_cmdline(p, "", 0) == -1)
		return NULL;
	snap->nprocs++;
	return p;
}

int
kw_proc_set_cmdline(struct kw_proc *p, const char *s, size_t len)
{
	char *c;

	if (len > KW_CMDLINE_MAX - 1)
		len = KW_CMDLINE_MAX - 1;
	c = malloc(len + 1);
	if (c == NULL)
		return -1;
	if (len > 0)
		memcpy(c, s, len);
	c[len] = '\0';
	free(p->cmdline);
	p->cmdline = c;
	return 0;
}

int
kw_proc_set_cgroup(struct kw_proc *p, const char *s, size_t len)
{
	char *c = NULL;

	if (len > KW_CGDIR_MAX - 1)
		len = KW_CGDIR_MAX - 1;
	if (len > 0) {
		if ((c = malloc(len + 1)) == NULL)
			return -1;
		memcpy(c, s, len);
		c[len] = '\0';
	}
	free(p->cgroup);
	p->cgroup = c;
	return 0;
}

int
kw_deletion_set_evidence(struct kw_deletion_rec *r, const char *s, size_t len)
{
	char *c;

	if (len > KW_EVIDENCE_MAX || (c = malloc(len + 1)) == NULL)
		return -1;
	if (len > 0)
		memcpy(c, s, len);
	c[len] = '\0';
	free(r->evidence);
	r->evidence = c;
	return 0;
}

void
kw_deletion_rec_free(struct kw_deletion_rec *r)
{
	free(r->evidence);
	r->evidence = NULL;
}

struct kw_cgroup_stat *
kw_snapshot_add_cgroup(struct kw_snapshot *snap)
{
	struct kw_cgroup_stat *c;

	if (snap->ncgroups == snap->capcgroups) {
		size_t ncap = snap->capcgroups ? snap->capcgroups * 2 : 16;

		c = reallocarray(snap->cgroups, ncap, sizeof(*c));
		if (c == NULL)
			return NULL;
		snap->cgroups = c;
		snap->capcgroups = ncap;
	}
	c = &snap->cgroups[snap->ncgroups++];
	memset(c, 0, sizeof(*c));
	return c;
}

void
kw_snapshot_clear(struct kw_snapshot *snap)
{
	size_t i;

	for (i = 0; i < snap->nprocs; i++) {
		free(snap->procs[i].cmdline);
		snap->procs[i].cmdline = NULL;
		free(snap->procs[i].cgroup);
		snap->procs[i].cgroup = NULL;
	}
	snap->nprocs = 0;
	snap->ncgroups = 0;
	snap->ts_ns = 0;
	snap->mono_ns = 0;
	snap->source[0] = '\0';
	memset(&snap->host, 0, sizeof(snap->host));
}

void
kw_snapshot_free(struct kw_snapshot *snap)
{
	kw_snapshot_clear(snap);
	free(snap->procs);
	free(snap->cgroups);
	kw_snapshot_init(snap);
}

/*
 * The codec: every body is a table of fields (common/schema.c) walked by
 * one encoder and one decoder, so that they cannot disagree.
 */

const char *
kw_field_sql_type(const struct kw_field *f)
{
	switch (f->type) {
	case KW_F_STR:
	case KW_F_HSTR:
	case KW_F_CHAR:
		return "TEXT";
	case KW_F_F64:
		return "REAL";
	default:
		return "INTEGER";
	}
}

/* An optional heap string that is NULL, or bool that is 0, is left out. */
static int
field_absent(const struct kw_field *f, const void *rec)
{
	const char *v = (const char *)rec + f->off;

	if (!f->optional)
		return 0;
	return (f->type == KW_F_HSTR && *(char *const *)v == NULL) ||
	    (f->type == KW_F_BOOL && *(const int *)v == 0);
}

uint32_t
kw_fields_count(const struct kw_schema *s, const void *rec)
{
	uint32_t n = 0;
	size_t i;

	for (i = 0; i < s->nfields; i++)
		n += !field_absent(&s->fields[i], rec);
	return n;
}

static void
pack_record(msgpack_packer *pk, const struct kw_schema *s, const void *rec)
{
	msgpack_pack_map(pk, kw_fields_count(s, rec));
	kw_fields_pack(pk, s, rec);
}

/* The elements of array field f of rec, each a map. */
static void
pack_array(msgpack_packer *pk, const struct kw_field *f, const void *rec)
{
	const char *base = rec;
	const char *elem = *(const char *const *)(base + f->off);
	size_t i, n = *(const size_t *)(base + f->count);

	msgpack_pack_array(pk, n);
	for (i = 0; i < n; i++)
		pack_record(pk, f->sub, elem + i * f->size);
}

void
kw_fields_pack(msgpack_packer *pk, const struct kw_schema *s, const void *rec)
{
	const struct kw_field *f = s->fields;
	const char *base = rec, *hs;
	char c[2];
	size_t i;

	for (i = 0; i < s->nfields; i++, f++) {
		const void *v = base + f->off;

		if (field_absent(f, rec))
			continue;
		switch (f->type) {
		case KW_F_STR:
			kw_pack_kstr(pk, f->key, v);
			break;
		case KW_F_HSTR:
			hs = *(char *const *)v;
			kw_pack_kstr(pk, f->key, hs != NULL ? hs : "");
			break;
		case KW_F_CHAR:
			c[0] = *(const char *)v;
			c[1] = '\0';
			kw_pack_kstr(pk, f->key, c);
			break;
		case KW_F_U64:
			kw_pack_ku64(pk, f->key, *(const uint64_t *)v);
			break;
		case KW_F_U32:
			kw_pack_ku64(pk, f->key, *(const uint32_t *)v);
			break;
		case KW_F_I32:
			kw_pack_ki64(pk, f->key, *(const int32_t *)v);
			break;
		case KW_F_F64:
			kw_pack_kf64(pk, f->key, *(const double *)v);
			break;
		case KW_F_BOOL:
			kw_pack_str(pk, f->key);
			if (*(const int *)v)
				msgpack_pack_true(pk);
			else
				msgpack_pack_false(pk);
			break;
		case KW_F_MAP:
			kw_pack_str(pk, f->key);
			pack_record(pk, f->sub, v);
			break;
		case KW_F_ARRAY:
			kw_pack_str(pk, f->key);
			pack_array(pk, f, rec);
			break;
		}
	}
}

/* Required unsigned field: -1 with "key: ..." in err. */
static int
need_u64(const msgpack_object *o, const char *key, uint64_t *v, char *err,
    size_t errlen)
{
	if (obj_u64(o, v) == -1) {
		seterr(err, errlen, "missing or not an unsigned integer", key);
		return -1;
	}
	return 0;
}

static int
need_i32(const msgpack_object *o, const char *key, int32_t *v, char *err,
    size_t errlen)
{
	int64_t x;

	if (obj_i64(o, &x) == -1 || x < INT32_MIN || x > INT32_MAX) {
		seterr(err, errlen, "missing or not a 32-bit integer", key);
		return -1;
	}
	*v = (int32_t)x;
	return 0;
}

static int
need_f64(const msgpack_object *o, const char *key, double *v, char *err,
    size_t errlen)
{
	if (obj_f64(o, v) == -1) {
		seterr(err, errlen, "missing or not a number", key);
		return -1;
	}
	return 0;
}

static int
need_str(const msgpack_object *o, const char *key, char *buf, size_t len,
    char *err, size_t errlen)
{
	if (obj_str(o, buf, len) == -1) {
		seterr(err, errlen, "missing or not a string", key);
		return -1;
	}
	return 0;
}

/* Nested record m of field f (at index i of an array, or -1) into v. */
static int
unpack_record(const msgpack_object *m, const struct kw_field *f, int64_t i,
    void *v, char *err, size_t errlen)
{
	char e[128], at[24] = "";

	if (m->type == MSGPACK_OBJECT_MAP &&
	    kw_fields_unpack(m, f->sub, v, e, sizeof(e)) == 0)
		return 0;
	if (i >= 0)
		snprintf(at, sizeof(at), "[%" PRId64 "]", i);
	if (m->type != MSGPACK_OBJECT_MAP)
		kw_seterr(err, errlen, "%s%s: %s", f->key, at,
		    i >= 0 ? "not a map" : "missing or not a map");
	else
		kw_seterr(err, errlen, "%s%s.%s", f->key, at, e);
	return -1;
}

/* Array field f from o: each element added to rec, then decoded. */
static int
unpack_array(const msgpack_object *o, const struct kw_field *f, void *rec,
    char *err, size_t errlen)
{
	uint32_t i, n;
	void *elem;

	if (o == NULL || o->type != MSGPACK_OBJECT_ARRAY) {
		seterr(err, errlen, "missing or not an array", f->key);
		return -1;
	}
	n = o->via.array.size;
	if (f->reserve != NULL && f->reserve(rec, n) == -1) {
		seterr(err, errlen, "out of memory", f->key);
		return -1;
	}
	for (i = 0; i < n; i++) {
		if ((elem = f->add(rec)) == NULL) {
			seterr(err, errlen, "out of memory", f->key);
			return -1;
		}
		if (unpack_record(&o->via.array.ptr[i], f, i, elem, err,
			errlen) == -1)
			return -1;
	}
	return 0;
}

static int
unpack_field(const msgpack_object *o, const struct kw_field *f, void *v,
    void *rec, char *err, size_t errlen)
{
	uint64_t u;
	char c[2];

	switch (f->type) {
	case KW_F_STR:
		return need_str(o, f->key, v, f->size, err, errlen);
	case KW_F_HSTR:
		if (o == NULL || o->type != MSGPACK_OBJECT_STR) {
			seterr(err, errlen, "missing or not a string", f->key);
			return -1;
		}
		if (f->set(rec, o->via.str.ptr,
			strnlen(o->via.str.ptr, o->via.str.size)) == -1) {
			seterr(err, errlen, "too long or out of memory",
			    f->key);
			return -1;
		}
		return 0;
	case KW_F_CHAR:
		if (need_str(o, f->key, c, sizeof(c), err, errlen) == -1)
			return -1;
		*(char *)v = c[0] != '\0' ? c[0] : '?';
		return 0;
	case KW_F_U64:
		return need_u64(o, f->key, v, err, errlen);
	case KW_F_U32:
		if (need_u64(o, f->key, &u, err, errlen) == -1)
			return -1;
		*(uint32_t *)v = u > UINT32_MAX ? UINT32_MAX : (uint32_t)u;
		return 0;
	case KW_F_I32:
		return need_i32(o, f->key, v, err, errlen);
	case KW_F_F64:
		return need_f64(o, f->key, v, err, errlen);
	case KW_F_BOOL:
		if (o == NULL || o->type != MSGPACK_OBJECT_BOOLEAN) {
			seterr(err, errlen, "missing or not a boolean",
			    f->key);
			return -1;
		}
		*(int *)v = o->via.boolean;
		return 0;
	case KW_F_MAP:
		if (o == NULL) {
			seterr(err, errlen, "missing or not a map", f->key);
			return -1;
		}
		return unpack_record(o, f, -1, v, err, errlen);
	case KW_F_ARRAY:
		return unpack_array(o, f, rec, err, errlen);
	}
	seterr(err, errlen, "unknown field type", f->key);
	return -1;
}

#define FIELDS_MAX 64 /* a schema's fields resolved in one pass */

/*
 * Each field's value in one pass over map's keys: vals[i] is the value of
 * the first key equal to s->fields[i].key (key_is, as kw_map_get finds
 * it), or NULL
 * (vals comes zeroed).
 * A key is tried against the field after the last one matched first (the
 * encoder writes fields in table order), then against all of them; keys
 * of no field are skipped.
 */
static void
field_values(const msgpack_object *map, const struct kw_schema *s,
    const msgpack_object **vals)
{
	const struct kw_field *fs = s->fields;
	const msgpack_object *k;
	size_t next = 0, j;
	uint32_t i;

	if (map == NULL || map->type != MSGPACK_OBJECT_MAP)
		return;
	for (i = 0; i < map->via.map.size; i++) {
		k = &map->via.map.ptr[i].key;
		if (k->type != MSGPACK_OBJECT_STR)
			continue;
		if (next < s->nfields && key_is(k, fs[next].key)) {
			j = next;
		} else {
			for (j = 0; j < s->nfields; j++)
				if (key_is(k, fs[j].key))
					break;
			if (j == s->nfields)
				continue;
		}
		if (vals[j] == NULL)
			vals[j] = &map->via.map.ptr[i].val;
		next = j + 1;
	}
}

int
kw_fields_unpack(const msgpack_object *map, const struct kw_schema *s,
    void *rec, char *err, size_t errlen)
{
	const msgpack_object *vals[FIELDS_MAX] = { NULL }, *o;
	const struct kw_field *f = s->fields;
	char *base = rec;
	size_t i;
	int one_pass = s->nfields <= FIELDS_MAX;

	if (one_pass)
		field_values(map, s, vals);
	for (i = 0; i < s->nfields; i++, f++) {
		o = one_pass ? vals[i] : kw_map_get(map, f->key);
		if (f->optional && o == NULL)
			continue;
		if (unpack_field(o, f, base + f->off, rec, err, errlen) == -1)
			return -1;
	}
	return 0;
}

void
kw_snapshot_pack(msgpack_packer *pk, const struct kw_snapshot *snap)
{
	kw_fields_pack(pk, &kw_snapshot_schema, snap);
}

uint64_t
kw_snapshot_clock(const struct kw_snapshot *snap)
{
	return snap->mono_ns != 0 ? snap->mono_ns : snap->ts_ns;
}

int
kw_snapshot_unpack(const msgpack_object *map, struct kw_snapshot *snap,
    char *err, size_t errlen)
{
	uint64_t ts;

	kw_snapshot_clear(snap);
	/* The envelope's: optional on the wire, checked by kw_msg_decode. */
	if (kw_get_u64(map, "ts", &ts) == 0)
		snap->ts_ns = ts;
	return kw_fields_unpack(map, &kw_snapshot_schema, snap, err, errlen);
}

#define RECORD_CODEC(name, type, schema)                                 \
	void name##_pack(msgpack_packer *pk, const type *r)              \
	{                                                                \
		kw_fields_pack(pk, &schema, r);                          \
	}                                                                \
                                                                         \
	int name##_unpack(const msgpack_object *map, type *r, char *err, \
	    size_t errlen)                                               \
	{                                                                \
		memset(r, 0, sizeof(*r));                                \
		return kw_fields_unpack(map, &schema, r, err, errlen);   \
	}

RECORD_CODEC(kw_sys, struct kw_sys_rec, kw_sys_schema)
RECORD_CODEC(kw_container, struct kw_container_rec, kw_container_schema)
RECORD_CODEC(kw_proc_rec, struct kw_proc_rec, kw_proc_rec_schema)
RECORD_CODEC(kw_deletion, struct kw_deletion_rec, kw_deletion_schema)
RECORD_CODEC(kw_decision, struct kw_decision_rec, kw_decision_schema)
RECORD_CODEC(kw_policy, struct kw_policy_rec, kw_policy_schema)

/* The control messages: packed by kw_pack_hello and the rest (below). */
#define BODY_DECODE(name, type, schema)                                  \
	int name##_unpack(const msgpack_object *map, type *r, char *err, \
	    size_t errlen)                                               \
	{                                                                \
		memset(r, 0, sizeof(*r));                                \
		return kw_fields_unpack(map, &schema, r, err, errlen);   \
	}

BODY_DECODE(kw_hello, struct kw_hello, kw_hello_schema)
BODY_DECODE(kw_sub, struct kw_sub_req, kw_sub_schema)
BODY_DECODE(kw_gap, struct kw_gap, kw_gap_schema)
BODY_DECODE(kw_ack, struct kw_ack, kw_ack_schema)
RECORD_CODEC(kw_cgroup_stat, struct kw_cgroup_stat, kw_cgroup_stat_schema)
