/*
 * The field tables are the one place a message field is declared: every
 * field of every table survives pack and unpack, and every field with a
 * column is in the recorder's INSERT, in its table and in the row written.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <sqlite3.h>

#include "../../recorder/recorder.h"

/*
 * Every table the codec walks, from the tables themselves: the decider's
 * records (kw_records), then the snapshot's nested ones (its KW_F_MAP and
 * KW_F_ARRAY fields), so a new record or nested table is covered without
 * being listed here.
 */
#define SCHEMAS_MAX 32
static const struct kw_schema *all_schemas[SCHEMAS_MAX];
static size_t nschemas;

static int
collect_schemas(void **state)
{
	const struct kw_field *f;
	size_t i;

	nschemas = 0;
	for (i = 0; i < KW_N_RECORDS; i++)
		all_schemas[nschemas++] = kw_records[i];
	for (i = 0; i < kw_snapshot_schema.nfields; i++) {
		f = &kw_snapshot_schema.fields[i];
		if (f->type == KW_F_MAP || f->type == KW_F_ARRAY) {
			if (nschemas < SCHEMAS_MAX)
				all_schemas[nschemas++] = f->sub;
		}
	}
	(void)state;
	return 0;
}

/* The list holds the records and the snapshot's nested tables. */
static void
schema__list__records_and_nested(void **state)
{
	const struct kw_schema *want[] = { &kw_sys_schema, &kw_proc_rec_schema,
		&kw_host_schema, &kw_proc_schema, &kw_cgroup_stat_schema };
	size_t i, k;

	(void)state;
	assert_int_equal(nschemas, KW_N_RECORDS + 3);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		for (k = 0; k < nschemas && all_schemas[k] != want[i]; k++)
			;
		assert_true(k < nschemas);
	}
}

static void *
field_ptr(const struct kw_field *f, const void *rec)
{
	return (char *)rec + f->off;
}

/* A value for field i that no other field and no zeroed record has. */
static void
fill_field(const struct kw_field *f, size_t i, void *rec)
{
	void *v = field_ptr(f, rec);
	char s[64];

	snprintf(s, sizeof(s), "%s-%zu \"' ;--", f->key, i);
	switch (f->type) {
	case KW_F_STR:
		snprintf(v, f->size, "%s", s);
		break;
	case KW_F_HSTR:
		assert_non_null(f->set);
		assert_int_equal(f->set(rec, s, strlen(s)), 0);
		break;
	case KW_F_CHAR:
		*(char *)v = (char)('A' + i);
		break;
	case KW_F_U64:
		*(uint64_t *)v = (uint64_t)(i + 1) << 33 | 7; /* > 32 bits */
		break;
	case KW_F_U32:
		*(uint32_t *)v = 4000000000u - (uint32_t)i; /* > INT32_MAX */
		break;
	case KW_F_I32:
		*(int32_t *)v = -1000 - (int32_t)i;
		break;
	case KW_F_F64:
		*(double *)v = (double)i + 0.25;
		break;
	case KW_F_BOOL:
		*(int *)v = 1;
		break;
	case KW_F_MAP:
	case KW_F_ARRAY: /* nested: test_common_proto's */
		fail_msg("%s: a nested record", f->key);
	}
}

static void *
new_filled(const struct kw_schema *s)
{
	void *rec = calloc(1, s->size);
	size_t i;

	assert_non_null(rec);
	for (i = 0; i < s->nfields; i++)
		fill_field(&s->fields[i], i, rec);
	return rec;
}

static void
free_rec(const struct kw_schema *s, void *rec)
{
	size_t i;

	for (i = 0; i < s->nfields; i++)
		if (s->fields[i].type == KW_F_HSTR)
			free(*(char **)field_ptr(&s->fields[i], rec));
	free(rec);
}

static void
assert_field_equal(const struct kw_field *f, const void *a, const void *b)
{
	const void *x = field_ptr(f, a), *y = field_ptr(f, b);

	switch (f->type) {
	case KW_F_STR:
		assert_string_equal(x, y);
		break;
	case KW_F_HSTR:
		assert_string_equal(*(char *const *)x, *(char *const *)y);
		break;
	case KW_F_CHAR:
		assert_int_equal(*(const char *)x, *(const char *)y);
		break;
	case KW_F_U64:
		assert_true(*(const uint64_t *)x == *(const uint64_t *)y);
		break;
	case KW_F_U32:
		assert_int_equal(*(const uint32_t *)x, *(const uint32_t *)y);
		break;
	case KW_F_I32:
		assert_int_equal(*(const int32_t *)x, *(const int32_t *)y);
		break;
	case KW_F_F64:
		assert_true(*(const double *)x == *(const double *)y);
		break;
	case KW_F_BOOL:
		assert_int_equal(*(const int *)x, *(const int *)y);
		break;
	case KW_F_MAP:
	case KW_F_ARRAY:
		fail_msg("%s: a nested record", f->key);
	}
}

/* Pack rec's fields as a map, all of them or all but field skip. */
static void
pack_map(msgpack_sbuffer *sb, const struct kw_schema *s, const void *rec,
    size_t skip)
{
	msgpack_packer pk;
	msgpack_sbuffer all;
	msgpack_unpacked up;
	const msgpack_object *m;
	uint32_t i;

	msgpack_sbuffer_init(&all);
	msgpack_packer_init(&pk, &all, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, s->nfields);
	kw_fields_pack(&pk, s, rec);
	msgpack_unpacked_init(&up);
	assert_int_equal(msgpack_unpack_next(&up, all.data, all.size, NULL),
	    MSGPACK_UNPACK_SUCCESS);
	m = &up.data;
	assert_int_equal(m->type, MSGPACK_OBJECT_MAP);
	assert_int_equal(m->via.map.size, s->nfields);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, s->nfields - (skip < s->nfields));
	for (i = 0; i < m->via.map.size; i++) {
		if (i == skip)
			continue;
		msgpack_pack_object(&pk, m->via.map.ptr[i].key);
		msgpack_pack_object(&pk, m->via.map.ptr[i].val);
	}
	msgpack_unpacked_destroy(&up);
	msgpack_sbuffer_destroy(&all);
}

/* Unpack a map packed by pack_map into a new zeroed record. */
static int
unpack_new(const msgpack_sbuffer *sb, const struct kw_schema *s, void **rec,
    char *err, size_t errlen)
{
	msgpack_unpacked up;
	int rc;

	*rec = calloc(1, s->size);
	assert_non_null(*rec);
	msgpack_unpacked_init(&up);
	assert_int_equal(msgpack_unpack_next(&up, sb->data, sb->size, NULL),
	    MSGPACK_UNPACK_SUCCESS);
	rc = kw_fields_unpack(&up.data, s, *rec, err, errlen);
	msgpack_unpacked_destroy(&up);
	return rc;
}

static void
schema__every_field__round_trips(void **state)
{
	const struct kw_schema *s;
	msgpack_sbuffer sb;
	void *in, *out;
	char err[256];
	size_t k, i;

	(void)state;
	for (k = 0; k < nschemas; k++) {
		s = all_schemas[k];
		assert_true(s->nfields > 0 && s->nfields <= KW_FIELDS_MAX);
		in = new_filled(s);
		msgpack_sbuffer_init(&sb);
		pack_map(&sb, s, in, SIZE_MAX);
		if (unpack_new(&sb, s, &out, err, sizeof(err)) == -1)
			fail_msg("%s: %s", s->name, err);
		for (i = 0; i < s->nfields; i++)
			assert_field_equal(&s->fields[i], in, out);
		free_rec(s, out);
		msgpack_sbuffer_destroy(&sb);
		free_rec(s, in);
	}
}

/*
 * Each field is read from its own key: without it the message is refused
 * naming the key, or (optional) the member keeps its zero.
 */
static void
schema__each_field_missing__refused_or_left_zero(void **state)
{
	const struct kw_schema *s;
	const struct kw_field *f;
	msgpack_sbuffer sb;
	void *in, *out, *zero;
	char err[256];
	size_t k, i;

	(void)state;
	for (k = 0; k < nschemas; k++) {
		s = all_schemas[k];
		in = new_filled(s);
		for (i = 0; i < s->nfields; i++) {
			f = &s->fields[i];
			msgpack_sbuffer_init(&sb);
			pack_map(&sb, s, in, i);
			err[0] = '\0';
			if (!f->optional) {
				assert_int_equal(unpack_new(&sb, s, &out, err,
						     sizeof(err)),
				    -1);
				assert_non_null(strstr(err, f->key));
			} else {
				assert_int_equal(unpack_new(&sb, s, &out, err,
						     sizeof(err)),
				    0);
				zero = calloc(1, s->size);
				assert_non_null(zero);
				assert_memory_equal(field_ptr(f, out),
				    field_ptr(f, zero), f->size);
				free(zero);
			}
			free_rec(s, out);
			msgpack_sbuffer_destroy(&sb);
		}
		free_rec(s, in);
	}
}

/* Keys are unique, and so are columns within a table. */
static void
schema__keys_and_columns__unique(void **state)
{
	const struct kw_schema *s;
	const struct kw_field *a, *b;
	size_t k, i, j;

	(void)state;
	for (k = 0; k < nschemas; k++) {
		s = all_schemas[k];
		for (i = 0; i < s->nfields; i++) {
			a = &s->fields[i];
			assert_true((a->table == NULL) == (a->column == NULL));
			assert_true(a->off + a->size <= s->size);
			for (j = i + 1; j < s->nfields; j++) {
				b = &s->fields[j];
				if (strcmp(a->key, b->key) == 0)
					fail_msg("%s: key %s twice", s->name,
					    a->key);
				if (a->table != NULL && b->table != NULL &&
				    strcmp(a->table, b->table) == 0 &&
				    strcmp(a->column, b->column) == 0)
					fail_msg("%s.%s twice", a->table,
					    a->column);
			}
		}
	}
}

/*
 * Scripts read these keys in this order (status views, kwarden-tap): a
 * field may be appended, never moved, renamed or dropped.
 */
static void
schema__published_keys__only_appended(void **state)
{
	static const struct {
		const struct kw_schema *s;
		const char *keys[16];
	} known[] = {
		{ &kw_sys_schema,
		    { "mem_total_kb", "mem_free_kb", "mem_used_kb",
			"mem_available_kb", "cpu_pct", "nprocs" } },
		{ &kw_container_schema,
		    { "container_id", "name", "image", "class", "pid",
			"nprocs", "cpu_pct", "mem_pct", "rss_kb" } },
		{ &kw_proc_rec_schema,
		    { "pid", "name", "cmdline", "container_id", "cpu_pct",
			"mem_pct", "rss_kb" } },
		{ &kw_deletion_schema,
		    { "container_id", "name", "image", "class", "action",
			"reason", "cpu_pct", "mem_pct", "result" } },
		{ &kw_host_schema,
		    { "mem_total_kb", "mem_free_kb", "mem_used_kb",
			"mem_available_kb", "ncpu" } },
		{ &kw_proc_schema,
		    { "pid", "ppid", "name", "cmdline", "state", "vsz_kb",
			"rss_kb", "cpu_ns", "start_ns", "uid", "threads",
			"container_id" } },
		{ &kw_cgroup_stat_schema,
		    { "container_id", "flags", "cpu_usage_ns", "nr_throttled",
			"throttled_ns", "mem_usage_bytes",
			"mem_working_set_bytes", "mem_anon_bytes",
			"mem_file_bytes", "mem_limit_bytes", "oom_kills",
			"psi_cpu_some_avg10", "psi_mem_some_avg10",
			"psi_mem_full_avg10" } },
	};
	size_t k, i;

	(void)state;
	for (k = 0; k < sizeof(known) / sizeof(known[0]); k++)
		for (i = 0; known[k].keys[i] != NULL; i++) {
			assert_true(i < known[k].s->nfields);
			assert_string_equal(known[k].s->fields[i].key,
			    known[k].keys[i]);
		}
}

static void
schema__record_to_json__every_key_in_order(void **state)
{
	const struct kw_schema *s;
	const struct kw_field *f;
	json_t *o, *v;
	void *rec, *it;
	size_t k, i;

	(void)state;
	for (k = 0; k < nschemas; k++) {
		s = all_schemas[k];
		rec = new_filled(s);
		o = kw_record_to_json(s, rec);
		assert_non_null(o);
		assert_int_equal(json_object_size(o), s->nfields);
		it = json_object_iter(o);
		for (i = 0; i < s->nfields;
		     i++, it = json_object_iter_next(o, it)) {
			f = &s->fields[i];
			assert_non_null(it);
			assert_string_equal(json_object_iter_key(it), f->key);
			v = json_object_iter_value(it);
			switch (f->type) {
			case KW_F_STR:
				assert_string_equal(json_string_value(v),
				    (char *)field_ptr(f, rec));
				break;
			case KW_F_HSTR:
				assert_string_equal(json_string_value(v),
				    *(char **)field_ptr(f, rec));
				break;
			case KW_F_CHAR:
				assert_int_equal(json_string_value(v)[0],
				    *(char *)field_ptr(f, rec));
				break;
			case KW_F_U64:
				assert_true((uint64_t)json_integer_value(v) ==
				    *(uint64_t *)field_ptr(f, rec));
				break;
			case KW_F_U32:
				assert_int_equal(json_integer_value(v),
				    *(uint32_t *)field_ptr(f, rec));
				break;
			case KW_F_I32:
				assert_int_equal(json_integer_value(v),
				    *(int32_t *)field_ptr(f, rec));
				break;
			case KW_F_F64:
				assert_true(json_real_value(v) ==
				    *(double *)field_ptr(f, rec));
				break;
			case KW_F_BOOL:
				assert_int_equal(json_is_true(v),
				    *(int *)field_ptr(f, rec));
				break;
			case KW_F_MAP:
			case KW_F_ARRAY:
				fail_msg("%s: a nested record", f->key);
			}
		}
		assert_null(it);
		json_decref(o);
		free_rec(s, rec);
	}
}

struct fixture {
	char dir[64];
	char path[128];
};

static int
setup(void **state)
{
	struct fixture *f;

	f = calloc(1, sizeof(*f));
	assert_non_null(f);
	strcpy(f->dir,
	    access("/dev/shm", W_OK) == 0 ? "/dev/shm/kw-schema-XXXXXX" :
					    "/tmp/kw-schema-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/kwarden.db", f->dir);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char p[160];
	static const char *const sfx[] = { "", "-wal", "-shm", "-journal" };
	size_t i;

	for (i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", f->path, sfx[i]);
		unlink(p);
	}
	rmdir(f->dir);
	free(f);
	return 0;
}

/* The recorder's table of that name; fails the test if there is none. */
static enum rdb_table
table_named(const char *name)
{
	int t;

	for (t = 0; t < RDB__NTABLES; t++)
		if (strcmp(rdb_table_name(t), name) == 0)
			return t;
	fail_msg("no recorder table %s", name);
	return RDB__NTABLES;
}

static const char *
column_type(sqlite3 *c, const char *table, const char *column)
{
	static char type[32];
	sqlite3_stmt *st;

	type[0] = '\0';
	assert_int_equal(sqlite3_prepare_v2(c,
			     "SELECT type FROM"
			     " pragma_table_info(?1) WHERE name = ?2",
			     -1, &st, NULL),
	    SQLITE_OK);
	sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, column, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		snprintf(type, sizeof(type), "%s",
		    (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return type;
}

static void
schema__every_column__in_insert_and_created_table(void **state)
{
	struct fixture *fx = *state;
	const struct kw_schema *s;
	const struct kw_field *f;
	struct rdb *db;
	sqlite3 *c;
	char err[256] = "", quoted[80], *ins, *create;
	size_t k, i, ncols = 0;
	enum rdb_table t;

	db = rdb_open(fx->path, 1000, err, sizeof(err));
	if (db == NULL)
		fail_msg("rdb_open: %s", err);
	assert_int_equal(rdb_close(db), 0);
	assert_int_equal(sqlite3_open(fx->path, &c), SQLITE_OK);
	for (k = 0; k < KW_N_RECORDS; k++) {
		s = kw_records[k];
		for (i = 0; i < s->nfields; i++) {
			f = &s->fields[i];
			if (f->column == NULL)
				continue;
			ncols++;
			t = table_named(f->table);
			snprintf(quoted, sizeof(quoted), "\"%s\"", f->column);
			ins = rdb_insert_sql(t);
			create = rdb_create_sql(t);
			assert_non_null(ins);
			assert_non_null(create);
			if (strstr(ins, quoted) == NULL)
				fail_msg("%s.%s not in %s", f->table,
				    f->column, ins);
			assert_non_null(strstr(create, quoted));
			sqlite3_free(ins);
			sqlite3_free(create);
			assert_string_equal(column_type(c, f->table,
						f->column),
			    kw_field_sql_type(f));
		}
	}
	assert_true(ncols > 0);
	/* And the envelope on every data table. */
	for (t = 0; t < RDB__NTABLES; t++) {
		assert_string_equal(column_type(c, rdb_table_name(t), "ts"),
		    "INTEGER");
		assert_string_equal(column_type(c, rdb_table_name(t), "epoch"),
		    "INTEGER");
		assert_string_equal(column_type(c, rdb_table_name(t), "seq"),
		    "INTEGER");
	}
	assert_int_equal(sqlite3_close(c), SQLITE_OK);
}

/* rec as the decider publishes it, decoded as the recorder does. */
static struct rec *
decoded(const struct kw_schema *s, enum kw_msg_type type, const void *rec,
    uint64_t seq)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_unpacked up;
	struct kw_msg msg;
	struct rec *r;
	char err[256] = "";

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, s->nfields + 3);
	kw_pack_kstr(&pk, "t", kw_msg_type_name(type));
	kw_pack_ku64(&pk, "seq", seq);
	kw_pack_ku64(&pk, "ts", 1764200000000000000ull);
	kw_fields_pack(&pk, s, rec);
	msgpack_unpacked_init(&up);
	assert_int_equal(msgpack_unpack_next(&up, sb.data, sb.size, NULL),
	    MSGPACK_UNPACK_SUCCESS);
	assert_int_equal(kw_msg_decode(&up.data, &msg, err, sizeof(err)), 0);
	r = rec_decode(&msg, 5, err, sizeof(err));
	assert_non_null(r);
	if (r->kind == REC_SKIP)
		fail_msg("%s skipped: %s", s->name, err);
	assert_ptr_equal(rec_schema(r->kind), s);
	msgpack_unpacked_destroy(&up);
	msgpack_sbuffer_destroy(&sb);
	return r;
}

static void
schema__every_column__written_with_its_value(void **state)
{
	static const enum kw_msg_type types[KW_N_RECORDS] = {
		KW_MSG_SYS,
		KW_MSG_CONTAINER,
		KW_MSG_PROC,
		KW_MSG_DELETION,
		KW_MSG_DECISION,
		KW_MSG_POLICY,
	};
	struct fixture *fx = *state;
	const struct kw_schema *s;
	const struct kw_field *f;
	struct rec_queue q;
	struct rdb *db;
	sqlite3 *c;
	sqlite3_stmt *st;
	void *recs[KW_N_RECORDS], *v;
	char err[256] = "", *sql;
	size_t k, i;

	db = rdb_open(fx->path, 1000, err, sizeof(err));
	if (db == NULL)
		fail_msg("rdb_open: %s", err);
	rq_init(&q);
	for (k = 0; k < KW_N_RECORDS; k++) {
		recs[k] = new_filled(kw_records[k]);
		rq_push(&q, decoded(kw_records[k], types[k], recs[k], k + 1));
	}
	if (rdb_write_batch(db, q.head, "decider", 5, KW_N_RECORDS, NULL, err,
		sizeof(err)) == -1)
		fail_msg("rdb_write_batch: %s", err);
	rq_free(&q);
	assert_int_equal(rdb_close(db), 0);

	assert_int_equal(sqlite3_open(fx->path, &c), SQLITE_OK);
	for (k = 0; k < KW_N_RECORDS; k++) {
		s = kw_records[k];
		for (i = 0; i < s->nfields; i++) {
			f = &s->fields[i];
			if (f->column == NULL)
				continue;
			v = field_ptr(f, recs[k]);
			sql = sqlite3_mprintf(
			    "SELECT \"%w\" FROM \"%w\" WHERE"
			    " epoch = 5 AND seq = %d AND ts = 1764200000",
			    f->column, f->table, (int)k + 1);
			assert_int_equal(sqlite3_prepare_v2(c, sql, -1, &st,
					     NULL),
			    SQLITE_OK);
			if (sqlite3_step(st) != SQLITE_ROW)
				fail_msg("no row: %s", sql);
			switch (f->type) {
			case KW_F_STR:
				assert_string_equal(sqlite3_column_text(st, 0),
				    v);
				break;
			case KW_F_HSTR:
				assert_string_equal(sqlite3_column_text(st, 0),
				    *(char **)v);
				break;
			case KW_F_CHAR:
				assert_int_equal(sqlite3_column_text(st, 0)[0],
				    *(char *)v);
				break;
			case KW_F_U64:
				assert_true((uint64_t)sqlite3_column_int64(st,
						0) == *(uint64_t *)v);
				break;
			case KW_F_U32:
				assert_int_equal(sqlite3_column_int64(st, 0),
				    *(uint32_t *)v);
				break;
			case KW_F_I32:
				assert_int_equal(sqlite3_column_int64(st, 0),
				    *(int32_t *)v);
				break;
			case KW_F_F64:
				assert_true(sqlite3_column_double(st, 0) ==
				    *(double *)v);
				break;
			case KW_F_BOOL:
				assert_int_equal(sqlite3_column_int64(st, 0),
				    *(int *)v);
				break;
			case KW_F_MAP:
			case KW_F_ARRAY:
				fail_msg("%s: a nested record", f->key);
			}
			sqlite3_finalize(st);
			sqlite3_free(sql);
		}
		free_rec(s, recs[k]);
	}
	assert_int_equal(sqlite3_close(c), SQLITE_OK);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(schema__list__records_and_nested),
		cmocka_unit_test(schema__every_field__round_trips),
		cmocka_unit_test(
		    schema__each_field_missing__refused_or_left_zero),
		cmocka_unit_test(schema__keys_and_columns__unique),
		cmocka_unit_test(schema__published_keys__only_appended),
		cmocka_unit_test(schema__record_to_json__every_key_in_order),
		cmocka_unit_test_setup_teardown(
		    schema__every_column__in_insert_and_created_table, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    schema__every_column__written_with_its_value, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, collect_schemas, NULL);
}
