/*
 * Unit tests for the recorder's database (recorder/db.c) and its
 * in-memory batch (recorder/batch.c). Every test works in its own temp
 * directory and ends with PRAGMA integrity_check.
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
#include <sqlite3.h>

#include "../../recorder/recorder.h"

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
	    access("/dev/shm", W_OK) == 0 ? "/dev/shm/kw-recdb-XXXXXX" :
					    "/tmp/kw-recdb-XXXXXX");
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

/* A plain connection of the test's own, to look at what db.c wrote. */
static sqlite3 *
raw_open(const char *path)
{
	sqlite3 *c;

	assert_int_equal(sqlite3_open(path, &c), SQLITE_OK);
	return c;
}

static void
raw_exec(sqlite3 *c, const char *sql)
{
	char *msg = NULL;
	int rc;

	rc = sqlite3_exec(c, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		fail_msg("%s: %s", sql, msg);
}

static int64_t
raw_int(sqlite3 *c, const char *fmt, ...)
{
	sqlite3_stmt *st;
	char sql[512];
	va_list ap;
	int64_t v;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	if (sqlite3_prepare_v2(c, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(c));
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void
assert_integrity(const char *path)
{
	sqlite3 *c = raw_open(path);
	sqlite3_stmt *st;

	assert_int_equal(sqlite3_prepare_v2(c, "PRAGMA integrity_check", -1,
			     &st, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
	sqlite3_finalize(st);
	assert_int_equal(sqlite3_close(c), SQLITE_OK);
}

static struct rdb *
open_db(const char *path, int busy_ms)
{
	struct rdb *db;
	char err[256] = "";

	db = rdb_open(path, busy_ms, err, sizeof(err));
	if (db == NULL)
		fail_msg("rdb_open: %s", err);
	return db;
}

static const char *const seed_schema =
    "CREATE TABLE IF NOT EXISTS containers ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT, container_id TEXT,"
    "  pid INTEGER, image TEXT, cpu_pct REAL, mem_pct REAL, ts INTEGER);"
    "CREATE TABLE IF NOT EXISTS deletions ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT, container_id TEXT,"
    "  reason TEXT, ts INTEGER);"
    "CREATE TABLE IF NOT EXISTS sys_metrics ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT, mem_total_kb INTEGER,"
    "  mem_free_kb INTEGER, mem_used_kb INTEGER, ts INTEGER);"
    "CREATE TABLE IF NOT EXISTS process_count ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT, total INTEGER, ts INTEGER);";

struct column {
	const char *table;
	const char *name;
	const char *type;
};

static const struct column schema_v1[] = {
	/* the seed's */
	{ "containers", "id", "INTEGER" },
	{ "containers", "container_id", "TEXT" },
	{ "containers", "pid", "INTEGER" },
	{ "containers", "image", "TEXT" },
	{ "containers", "cpu_pct", "REAL" },
	{ "containers", "mem_pct", "REAL" },
	{ "containers", "ts", "INTEGER" },
	{ "deletions", "id", "INTEGER" },
	{ "deletions", "container_id", "TEXT" },
	{ "deletions", "reason", "TEXT" },
	{ "deletions", "ts", "INTEGER" },
	{ "sys_metrics", "id", "INTEGER" },
	{ "sys_metrics", "mem_total_kb", "INTEGER" },
	{ "sys_metrics", "mem_free_kb", "INTEGER" },
	{ "sys_metrics", "mem_used_kb", "INTEGER" },
	{ "sys_metrics", "ts", "INTEGER" },
	{ "process_count", "id", "INTEGER" },
	{ "process_count", "total", "INTEGER" },
	{ "process_count", "ts", "INTEGER" },
	/* kwarden's */
	{ "containers", "name", "TEXT" },
	{ "containers", "class", "TEXT" },
	{ "containers", "rss_kb", "INTEGER" },
	{ "containers", "nprocs", "INTEGER" },
	{ "containers", "epoch", "INTEGER" },
	{ "containers", "seq", "INTEGER" },
	{ "deletions", "name", "TEXT" },
	{ "deletions", "image", "TEXT" },
	{ "deletions", "class", "TEXT" },
	{ "deletions", "action", "TEXT" },
	{ "deletions", "result", "TEXT" },
	{ "deletions", "cpu_pct", "REAL" },
	{ "deletions", "mem_pct", "REAL" },
	{ "deletions", "epoch", "INTEGER" },
	{ "deletions", "seq", "INTEGER" },
	{ "sys_metrics", "mem_available_kb", "INTEGER" },
	{ "sys_metrics", "cpu_pct", "REAL" },
	{ "sys_metrics", "epoch", "INTEGER" },
	{ "sys_metrics", "seq", "INTEGER" },
	{ "process_count", "epoch", "INTEGER" },
	{ "process_count", "seq", "INTEGER" },
	{ "processes", "id", "INTEGER" },
	{ "processes", "pid", "INTEGER" },
	{ "processes", "name", "TEXT" },
	{ "processes", "cmdline", "TEXT" },
	{ "processes", "container_id", "TEXT" },
	{ "processes", "cpu_pct", "REAL" },
	{ "processes", "mem_pct", "REAL" },
	{ "processes", "rss_kb", "INTEGER" },
	{ "processes", "ts", "INTEGER" },
	{ "processes", "epoch", "INTEGER" },
	{ "processes", "seq", "INTEGER" },
	{ "stream_state", "stream", "TEXT" },
	{ "stream_state", "epoch", "INTEGER" },
	{ "stream_state", "seq", "INTEGER" },
};

static void
assert_schema_v1(const char *path)
{
	sqlite3 *c = raw_open(path);
	sqlite3_stmt *st;
	size_t i;
	static const char *const tables[] = { "containers", "deletions",
		"sys_metrics", "process_count", "processes" };

	for (i = 0; i < sizeof(schema_v1) / sizeof(schema_v1[0]); i++) {
		assert_int_equal(sqlite3_prepare_v2(c,
				     "SELECT type FROM"
				     " pragma_table_info(?1) WHERE name = ?2",
				     -1, &st, NULL),
		    SQLITE_OK);
		sqlite3_bind_text(st, 1, schema_v1[i].table, -1, NULL);
		sqlite3_bind_text(st, 2, schema_v1[i].name, -1, NULL);
		if (sqlite3_step(st) != SQLITE_ROW)
			fail_msg("%s.%s missing", schema_v1[i].table,
			    schema_v1[i].name);
		assert_string_equal((const char *)sqlite3_column_text(st, 0),
		    schema_v1[i].type);
		sqlite3_finalize(st);
	}
	/* Every data table has an index on ts. */
	for (i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
		assert_int_equal(
		    raw_int(c,
			"SELECT count(*) FROM"
			" pragma_index_list('%s') il, pragma_index_info(il.name) ii"
			" WHERE ii.name = 'ts'",
			tables[i]),
		    1);
	assert_int_equal(raw_int(c, "PRAGMA user_version"), 1);
	assert_int_equal(sqlite3_close(c), SQLITE_OK);
}

/* Records built by hand, as rec_decode would. */
static struct rec *
mk_sys(uint64_t epoch, uint64_t seq, int64_t ts, uint64_t used, uint64_t n)
{
	struct rec_sys *s = calloc(1, sizeof(*s));

	assert_non_null(s);
	s->h.kind = REC_SYS;
	s->h.epoch = epoch;
	s->h.seq = seq;
	s->h.ts = ts;
	s->r.mem_total_kb = 4000000;
	s->r.mem_free_kb = 4000000 - used;
	s->r.mem_used_kb = used;
	s->r.mem_available_kb = 3000000;
	s->r.cpu_pct = 12.5;
	s->r.nprocs = n;
	return &s->h;
}

static struct rec *
mk_container(uint64_t epoch, uint64_t seq, int64_t ts, const char *cid,
    double cpu_pct)
{
	struct rec_container *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	c->h.kind = REC_CONTAINER;
	c->h.epoch = epoch;
	c->h.seq = seq;
	c->h.ts = ts;
	snprintf(c->r.container_id, sizeof(c->r.container_id), "%s", cid);
	snprintf(c->r.name, sizeof(c->r.name), "hog-%s", cid);
	snprintf(c->r.image, sizeof(c->r.image), "so1-cpu:latest");
	snprintf(c->r.class_name, sizeof(c->r.class_name), "high");
	c->r.pid = 4242;
	c->r.nprocs = 3;
	c->r.cpu_pct = cpu_pct;
	c->r.mem_pct = 1.5;
	c->r.rss_kb = 10240;
	return &c->h;
}

static struct rec *
mk_proc(uint64_t epoch, uint64_t seq, int64_t ts, const char *cmdline)
{
	struct kw_proc_rec *p = calloc(1, sizeof(*p));
	struct rec *r;

	assert_non_null(p);
	p->pid = 77;
	snprintf(p->name, sizeof(p->name), "foo) Z ");
	snprintf(p->cmdline, sizeof(p->cmdline), "%s", cmdline);
	p->cpu_pct = 3.25;
	p->mem_pct = 0.5;
	p->rss_kb = 2048;
	r = rec_proc_new(p);
	free(p);
	assert_non_null(r);
	r->epoch = epoch;
	r->seq = seq;
	r->ts = ts;
	return r;
}

static struct rec *
mk_deletion(uint64_t epoch, uint64_t seq, int64_t ts)
{
	struct rec_deletion *d = calloc(1, sizeof(*d));

	assert_non_null(d);
	d->h.kind = REC_DELETION;
	d->h.epoch = epoch;
	d->h.seq = seq;
	d->h.ts = ts;
	snprintf(d->r.container_id, sizeof(d->r.container_id), "abc");
	snprintf(d->r.reason, sizeof(d->r.reason), "cpu 35.0%% > 20%%");
	snprintf(d->r.action, sizeof(d->r.action), "remove");
	snprintf(d->r.result, sizeof(d->r.result), "ok");
	d->r.cpu_pct = 35.0;
	return &d->h;
}

static struct rec *
mk_skip(uint64_t epoch, uint64_t seq)
{
	struct rec *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	r->kind = REC_SKIP;
	r->epoch = epoch;
	r->seq = seq;
	return r;
}

#define EPOCH 0x7123456789abcdefull /* < 2^63 */

/* seq 1..4 of EPOCH: sys, container, proc, deletion, then a skipped 5. */
static void
fill_batch(struct rec_queue *q, int64_t ts)
{
	rq_init(q);
	rq_push(q, mk_sys(EPOCH, 1, ts, 1000000, 321));
	rq_push(q, mk_container(EPOCH, 2, ts, "c1", 42.5));
	rq_push(q, mk_proc(EPOCH, 3, ts, "/bin/sh -c 'x\"; DROP TABLE x;--'"));
	rq_push(q, mk_deletion(EPOCH, 4, ts));
	rq_push(q, mk_skip(EPOCH, 5));
}

static int64_t
count(sqlite3 *c, const char *table)
{
	return raw_int(c, "SELECT count(*) FROM %s", table);
}

static void
db__fresh__has_every_table_column_and_index(void **state)
{
	struct fixture *f = *state;
	struct rdb *db = open_db(f->path, 1000);
	sqlite3 *c;

	assert_int_equal(rdb_user_version(db), RDB_SCHEMA_VERSION);
	assert_int_equal(rdb_close(db), 0);
	assert_schema_v1(f->path);
	c = raw_open(f->path);
	assert_int_equal(sqlite3_exec(c, "PRAGMA journal_mode", NULL, NULL,
			     NULL),
	    SQLITE_OK);
	{
		sqlite3_stmt *st;

		sqlite3_prepare_v2(c, "PRAGMA journal_mode", -1, &st, NULL);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		assert_string_equal((const char *)sqlite3_column_text(st, 0),
		    "wal");
		sqlite3_finalize(st);
	}
	assert_int_equal(sqlite3_close(c), SQLITE_OK);
	/* Opening again is a no-op. */
	db = open_db(f->path, 1000);
	assert_int_equal(rdb_close(db), 0);
	assert_schema_v1(f->path);
	assert_integrity(f->path);
}

static void
db__seed_schema_v0__migrated_with_columns_added(void **state)
{
	struct fixture *f = *state;
	struct rdb *db;
	sqlite3 *c;

	c = raw_open(f->path);
	raw_exec(c, seed_schema);
	raw_exec(c,
	    "INSERT INTO sys_metrics (mem_total_kb, mem_free_kb,"
	    " mem_used_kb, ts) VALUES (100, 40, 60, 1700000000)");
	raw_exec(c,
	    "INSERT INTO containers (container_id, pid, image,"
	    " cpu_pct, mem_pct, ts) VALUES ('old', 1, 'img', 1.0, 2.0, 5)");
	assert_int_equal(raw_int(c, "PRAGMA user_version"), 0);
	assert_int_equal(sqlite3_close(c), SQLITE_OK);

	db = open_db(f->path, 1000);
	assert_int_equal(rdb_user_version(db), 1);
	assert_int_equal(rdb_close(db), 0);
	assert_schema_v1(f->path);

	c = raw_open(f->path);
	/* The seed's rows are kept; new columns are NULL there. */
	assert_int_equal(raw_int(c,
			     "SELECT mem_used_kb FROM sys_metrics"
			     " WHERE ts = 1700000000"),
	    60);
	assert_int_equal(
	    raw_int(c,
		"SELECT count(*) FROM containers"
		" WHERE container_id = 'old' AND name IS NULL AND seq IS NULL"),
	    1);
	assert_int_equal(sqlite3_close(c), SQLITE_OK);
	assert_integrity(f->path);
}

/*
 * What the recorder before the field tables left in a database (schema
 * version 1): the seed's tables with kwarden's columns added after ts,
 * processes and stream_state, an index on ts of each data table.
 */
static const char *const recorder_v1_schema =
    "CREATE TABLE containers (id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  container_id TEXT, pid INTEGER, image TEXT, cpu_pct REAL,"
    "  mem_pct REAL, ts INTEGER, name TEXT, class TEXT, rss_kb INTEGER,"
    "  nprocs INTEGER, epoch INTEGER, seq INTEGER);"
    "CREATE TABLE deletions (id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  container_id TEXT, reason TEXT, ts INTEGER, name TEXT, image TEXT,"
    "  class TEXT, action TEXT, result TEXT, cpu_pct REAL, mem_pct REAL,"
    "  epoch INTEGER, seq INTEGER);"
    "CREATE TABLE sys_metrics (id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  mem_total_kb INTEGER, mem_free_kb INTEGER, mem_used_kb INTEGER,"
    "  ts INTEGER, mem_available_kb INTEGER, cpu_pct REAL, epoch INTEGER,"
    "  seq INTEGER);"
    "CREATE TABLE process_count (id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  total INTEGER, ts INTEGER, epoch INTEGER, seq INTEGER);"
    "CREATE TABLE processes (id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  pid INTEGER, name TEXT, cmdline TEXT, container_id TEXT,"
    "  cpu_pct REAL, mem_pct REAL, rss_kb INTEGER, ts INTEGER,"
    "  epoch INTEGER, seq INTEGER);"
    "CREATE TABLE stream_state (stream TEXT PRIMARY KEY, epoch INTEGER,"
    "  seq INTEGER);"
    "CREATE INDEX containers_ts ON containers(ts);"
    "CREATE INDEX deletions_ts ON deletions(ts);"
    "CREATE INDEX sys_metrics_ts ON sys_metrics(ts);"
    "CREATE INDEX process_count_ts ON process_count(ts);"
    "CREATE INDEX processes_ts ON processes(ts);"
    "PRAGMA user_version = 1;";

static void
db__previous_recorder_v1__rows_kept_and_writes_go_on(void **state)
{
	struct fixture *f = *state;
	struct rdb *db;
	struct rec_queue q;
	uint64_t epoch = 0, seq = 0;
	char err[256] = "";
	sqlite3 *c;

	c = raw_open(f->path);
	raw_exec(c, recorder_v1_schema);
	raw_exec(c, "PRAGMA journal_mode = WAL");
	raw_exec(c,
	    "INSERT INTO sys_metrics (mem_total_kb, mem_free_kb,"
	    " mem_used_kb, ts, mem_available_kb, cpu_pct, epoch, seq)"
	    " VALUES (100, 40, 60, 50, 45, 1.5, 3, 1)");
	raw_exec(c,
	    "INSERT INTO process_count (total, ts, epoch, seq)"
	    " VALUES (99, 50, 3, 1)");
	raw_exec(c,
	    "INSERT INTO containers (container_id, pid, image,"
	    " cpu_pct, mem_pct, ts, name, class, rss_kb, nprocs, epoch, seq)"
	    " VALUES ('old', 1, 'img', 1.0, 2.0, 50, 'n', 'low', 7, 2, 3, 2)");
	raw_exec(c,
	    "INSERT INTO processes (pid, name, cmdline, container_id,"
	    " cpu_pct, mem_pct, rss_kb, ts, epoch, seq)"
	    " VALUES (8, 'p', 'p -x', '', 0.5, 0.25, 9, 50, 3, 3)");
	raw_exec(c,
	    "INSERT INTO deletions (container_id, reason, ts, name,"
	    " image, class, action, result, cpu_pct, mem_pct, epoch, seq)"
	    " VALUES ('old', 'cpu', 50, 'n', 'img', 'low', 'remove', 'ok',"
	    " 30.0, 1.0, 3, 4)");
	raw_exec(c, "INSERT INTO stream_state VALUES ('decider', 3, 4)");
	/* A field added since: its column is not there yet. */
	raw_exec(c, "ALTER TABLE processes DROP COLUMN rss_kb");
	assert_int_equal(sqlite3_close(c), SQLITE_OK);

	db = open_db(f->path, 1000);
	assert_int_equal(rdb_user_version(db), RDB_SCHEMA_VERSION);
	assert_int_equal(rdb_load_state(db, "decider", &epoch, &seq, err,
			     sizeof(err)),
	    1);
	assert_int_equal(epoch, 3);
	assert_int_equal(seq, 4);
	fill_batch(&q, 60);
	if (rdb_write_batch(db, q.head, "decider", EPOCH, 5, NULL, err,
		sizeof(err)) == -1)
		fail_msg("write_batch: %s", err);
	rq_free(&q);
	assert_int_equal(rdb_close(db), 0);
	assert_schema_v1(f->path);

	c = raw_open(f->path);
	/* Every old row, every value kept; the added column NULL there. */
	assert_int_equal(
	    raw_int(c,
		"SELECT count(*) FROM sys_metrics WHERE"
		" mem_total_kb = 100 AND mem_free_kb = 40 AND mem_used_kb = 60"
		" AND ts = 50 AND mem_available_kb = 45 AND cpu_pct = 1.5 AND"
		" epoch = 3 AND seq = 1"),
	    1);
	assert_int_equal(raw_int(c,
			     "SELECT total FROM process_count"
			     " WHERE epoch = 3 AND seq = 1"),
	    99);
	assert_int_equal(
	    raw_int(c,
		"SELECT count(*) FROM containers WHERE"
		" container_id = 'old' AND pid = 1 AND image = 'img' AND"
		" name = 'n' AND class = 'low' AND rss_kb = 7 AND nprocs = 2 AND"
		" epoch = 3 AND seq = 2"),
	    1);
	assert_int_equal(
	    raw_int(c,
		"SELECT count(*) FROM processes WHERE"
		" pid = 8 AND cmdline = 'p -x' AND rss_kb IS NULL AND seq = 3"),
	    1);
	assert_int_equal(
	    raw_int(c,
		"SELECT count(*) FROM deletions WHERE"
		" reason = 'cpu' AND action = 'remove' AND result = 'ok' AND"
		" seq = 4"),
	    1);
	/* And the new batch, in the added column too. */
	assert_int_equal(raw_int(c,
			     "SELECT rss_kb FROM processes WHERE"
			     " seq = 3 AND epoch = %lld",
			     (long long)EPOCH),
	    2048);
	assert_int_equal(count(c, "sys_metrics"), 2);
	assert_int_equal(count(c, "process_count"), 2);
	assert_int_equal(count(c, "containers"), 2);
	assert_int_equal(count(c, "processes"), 2);
	assert_int_equal(count(c, "deletions"), 2);
	assert_int_equal(sqlite3_close(c), SQLITE_OK);
	assert_integrity(f->path);
}

static void
db__newer_schema__refused(void **state)
{
	struct fixture *f = *state;
	sqlite3 *c;
	char err[256] = "";

	c = raw_open(f->path);
	raw_exec(c, "PRAGMA user_version = 99");
	assert_int_equal(sqlite3_close(c), SQLITE_OK);
	assert_null(rdb_open(f->path, 100, err, sizeof(err)));
	assert_non_null(strstr(err, "newer"));
}

/*
 * A batch ending with the decider's end message marks the resume point as
 * a clean end; the next batch (the new epoch) is not one.
 */
static void
db__batch_ending_with_end__state_ended_until_the_next(void **state)
{
	struct fixture *f = *state;
	struct rdb *db = open_db(f->path, 1000);
	struct rec_queue q;
	struct rec *end;
	char err[256] = "";

	fill_batch(&q, 1764200000);
	if (rdb_write_batch(db, q.head, "decider", EPOCH, 5, NULL, err,
		sizeof(err)) == -1)
		fail_msg("write_batch: %s", err);
	rq_free(&q);
	assert_false(rdb_state_ended(db, "decider", EPOCH, 5));

	rq_init(&q);
	end = mk_skip(EPOCH, 6);
	end->kind = REC_END;
	rq_push(&q, end);
	if (rdb_write_batch(db, q.head, "decider", EPOCH, 6, NULL, err,
		sizeof(err)) == -1)
		fail_msg("write_batch: %s", err);
	rq_free(&q);
	assert_true(rdb_state_ended(db, "decider", EPOCH, 6));
	assert_false(rdb_state_ended(db, "decider", EPOCH, 5));

	fill_batch(&q, 1764200001); /* seq 1..5 of a "new" epoch */
	if (rdb_write_batch(db, q.head, "decider", EPOCH + 1, 5, NULL, err,
		sizeof(err)) == -1)
		fail_msg("write_batch: %s", err);
	rq_free(&q);
	assert_false(rdb_state_ended(db, "decider", EPOCH + 1, 5));
	assert_int_equal(rdb_close(db), 0);
}

static void
db__write_batch__rows_and_state_committed(void **state)
{
	struct fixture *f = *state;
	struct rdb *db = open_db(f->path, 1000);
	struct rec_queue q;
	uint64_t rows[RDB__NTABLES], epoch = 0, seq = 0;
	char err[256] = "";
	sqlite3 *c;

	assert_int_equal(rdb_load_state(db, "decider", &epoch, &seq, err,
			     sizeof(err)),
	    0);
	fill_batch(&q, 1764200000);
	assert_int_equal(q.nrows, 5);
	if (rdb_write_batch(db, q.head, "decider", EPOCH, 5, rows, err,
		sizeof(err)) == -1)
		fail_msg("write_batch: %s", err);
	rq_free(&q);
	assert_int_equal(rows[RDB_SYS_METRICS], 1);
	assert_int_equal(rows[RDB_PROCESS_COUNT], 1);
	assert_int_equal(rows[RDB_CONTAINERS], 1);
	assert_int_equal(rows[RDB_PROCESSES], 1);
	assert_int_equal(rows[RDB_DELETIONS], 1);
	assert_int_equal(rdb_load_state(db, "decider", &epoch, &seq, err,
			     sizeof(err)),
	    1);
	assert_true(epoch == EPOCH);
	assert_int_equal(seq, 5);

	c = raw_open(f->path);
	assert_int_equal(
	    raw_int(c,
		"SELECT total FROM process_count"
		" WHERE ts = 1764200000 AND seq = 1 AND epoch = %lld",
		(long long)EPOCH),
	    321);
	assert_int_equal(
	    raw_int(c,
		"SELECT mem_used_kb FROM sys_metrics"
		" WHERE seq = 1 AND mem_available_kb = 3000000 AND"
		" cpu_pct = 12.5"),
	    1000000);
	assert_int_equal(
	    raw_int(c,
		"SELECT count(*) FROM containers WHERE"
		" container_id = 'c1' AND name = 'hog-c1' AND class = 'high' AND"
		" image = 'so1-cpu:latest' AND pid = 4242 AND nprocs = 3 AND"
		" rss_kb = 10240 AND cpu_pct = 42.5 AND seq = 2"),
	    1);
	assert_int_equal(
	    raw_int(c,
		"SELECT count(*) FROM processes WHERE"
		" name = 'foo) Z ' AND cmdline = '/bin/sh -c ''x\"; DROP TABLE"
		" x;--''' AND container_id = '' AND seq = 3"),
	    1);
	assert_int_equal(
	    raw_int(c,
		"SELECT count(*) FROM deletions WHERE"
		" action = 'remove' AND result = 'ok' AND cpu_pct = 35.0 AND"
		" reason LIKE 'cpu%%' AND seq = 4"),
	    1);
	assert_int_equal(sqlite3_close(c), SQLITE_OK);
	assert_int_equal(rdb_close(db), 0);
	assert_integrity(f->path);
}

static void
db__write_batch_locked__nothing_written_then_retry_succeeds(void **state)
{
	struct fixture *f = *state;
	struct rdb *db = open_db(f->path, 50);
	struct rec_queue q;
	uint64_t epoch = 0, seq = 0;
	char err[256] = "";
	sqlite3 *c;

	/* A committed first batch: the resume point to keep. */
	rq_init(&q);
	rq_push(&q, mk_sys(EPOCH, 1, 100, 1, 1));
	assert_int_equal(rdb_write_batch(db, q.head, "decider", EPOCH, 1, NULL,
			     err, sizeof(err)),
	    0);
	rq_free(&q);

	c = raw_open(f->path);
	raw_exec(c, "BEGIN EXCLUSIVE");
	fill_batch(&q, 200);
	assert_int_equal(rdb_write_batch(db, q.head, "decider", EPOCH, 5, NULL,
			     err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "locked"));
	raw_exec(c, "COMMIT");
	assert_int_equal(count(c, "sys_metrics"), 1);
	assert_int_equal(count(c, "containers"), 0);
	assert_int_equal(rdb_load_state(db, "decider", &epoch, &seq, err,
			     sizeof(err)),
	    1);
	assert_int_equal(seq, 1);

	/* The same batch goes through once the lock is gone. */
	assert_int_equal(rdb_write_batch(db, q.head, "decider", EPOCH, 5, NULL,
			     err, sizeof(err)),
	    0);
	rq_free(&q);
	assert_int_equal(count(c, "sys_metrics"), 2);
	assert_int_equal(count(c, "containers"), 1);
	assert_int_equal(raw_int(c,
			     "SELECT seq FROM stream_state WHERE"
			     " stream = 'decider'"),
	    5);
	assert_int_equal(sqlite3_close(c), SQLITE_OK);
	assert_int_equal(rdb_close(db), 0);
	assert_integrity(f->path);
}

static void
db__write_batch_fails_midway__rolled_back(void **state)
{
	struct fixture *f = *state;
	struct rdb *db = open_db(f->path, 1000);
	struct rec_queue q;
	uint64_t epoch = 0, seq = 0;
	char err[256] = "";
	sqlite3 *c;

	/* The third record (proc) fails after two inserts succeeded. */
	c = raw_open(f->path);
	raw_exec(c,
	    "CREATE TRIGGER boom BEFORE INSERT ON processes"
	    " BEGIN SELECT RAISE(ABORT, 'injected fault'); END");
	fill_batch(&q, 300);
	assert_int_equal(rdb_write_batch(db, q.head, "decider", EPOCH, 5, NULL,
			     err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "injected fault"));
	assert_int_equal(count(c, "sys_metrics"), 0);
	assert_int_equal(count(c, "process_count"), 0);
	assert_int_equal(count(c, "containers"), 0);
	assert_int_equal(count(c, "stream_state"), 0);
	assert_int_equal(rdb_load_state(db, "decider", &epoch, &seq, err,
			     sizeof(err)),
	    0);

	raw_exec(c, "DROP TRIGGER boom");
	assert_int_equal(rdb_write_batch(db, q.head, "decider", EPOCH, 5, NULL,
			     err, sizeof(err)),
	    0);
	rq_free(&q);
	assert_int_equal(count(c, "processes"), 1);
	assert_int_equal(count(c, "sys_metrics"), 1);
	assert_int_equal(sqlite3_close(c), SQLITE_OK);
	assert_int_equal(rdb_close(db), 0);
	assert_integrity(f->path);
}

static void
db__state__survives_reopen(void **state)
{
	struct fixture *f = *state;
	struct rdb *db = open_db(f->path, 1000);
	struct rec_queue q;
	uint64_t epoch = 0, seq = 0;
	char err[256] = "";

	rq_init(&q);
	rq_push(&q, mk_skip(EPOCH, 41));
	rq_push(&q, mk_container(EPOCH, 42, 10, "c", 1));
	assert_int_equal(rdb_write_batch(db, q.head, "decider", EPOCH, 42,
			     NULL, err, sizeof(err)),
	    0);
	rq_free(&q);
	/* A later batch of a new epoch replaces the resume point. */
	rq_push(&q, mk_container(7, 1, 11, "c", 1));
	assert_int_equal(rdb_write_batch(db, q.head, "decider", 7, 1, NULL,
			     err, sizeof(err)),
	    0);
	rq_free(&q);
	assert_int_equal(rdb_close(db), 0);

	db = open_db(f->path, 1000);
	assert_int_equal(rdb_load_state(db, "decider", &epoch, &seq, err,
			     sizeof(err)),
	    1);
	assert_int_equal(epoch, 7);
	assert_int_equal(seq, 1);
	assert_int_equal(rdb_load_state(db, "reader", &epoch, &seq, err,
			     sizeof(err)),
	    0);
	assert_int_equal(rdb_close(db), 0);
	assert_integrity(f->path);
}

static void
db__prune__old_rows_only_at_most_chunk(void **state)
{
	struct fixture *f = *state;
	struct rdb *db = open_db(f->path, 1000);
	struct rec_queue q;
	uint64_t pruned[RDB__NTABLES], s = 0;
	char err[256] = "";
	int64_t n;
	int i;
	sqlite3 *c;

	rq_init(&q);
	for (i = 0; i < 10; i++) { /* 10 old (ts 100..109), 10 new */
		rq_push(&q, mk_sys(EPOCH, ++s, 100 + i, 1, 1));
		rq_push(&q, mk_container(EPOCH, ++s, 100 + i, "old", 1));
	}
	for (i = 0; i < 10; i++) {
		rq_push(&q, mk_sys(EPOCH, ++s, 1000 + i, 1, 1));
		rq_push(&q, mk_container(EPOCH, ++s, 1000 + i, "new", 1));
	}
	assert_int_equal(rdb_write_batch(db, q.head, "decider", EPOCH, s, NULL,
			     err, sizeof(err)),
	    0);
	rq_free(&q);

	n = rdb_prune(db, 1000, 4, pruned, err, sizeof(err));
	assert_int_equal(n, 12);
	assert_int_equal(pruned[RDB_SYS_METRICS], 4);
	assert_int_equal(pruned[RDB_PROCESS_COUNT], 4);
	assert_int_equal(pruned[RDB_CONTAINERS], 4);
	assert_int_equal(pruned[RDB_PROCESSES], 0);
	assert_int_equal(rdb_prune(db, 1000, 4, NULL, err, sizeof(err)), 12);
	assert_int_equal(rdb_prune(db, 1000, 4, NULL, err, sizeof(err)), 6);
	assert_int_equal(rdb_prune(db, 1000, 4, NULL, err, sizeof(err)), 0);

	c = raw_open(f->path);
	assert_int_equal(count(c, "sys_metrics"), 10);
	assert_int_equal(count(c, "process_count"), 10);
	assert_int_equal(raw_int(c, "SELECT min(ts) FROM containers"), 1000);
	assert_int_equal(raw_int(c,
			     "SELECT count(*) FROM containers"
			     " WHERE container_id = 'new'"),
	    10);
	assert_int_equal(sqlite3_close(c), SQLITE_OK);
	assert_int_equal(rdb_close(db), 0);
	assert_integrity(f->path);
}

/*
 * Retention keeps the policy in force at the oldest row kept: the last
 * policy row before the cut stays, the older ones go.
 */
static void
db__prune__keeps_the_policy_in_force(void **state)
{
	struct fixture *f = *state;
	struct rdb *db = open_db(f->path, 1000);
	uint64_t pruned[RDB__NTABLES];
	char err[256] = "";
	sqlite3 *c;

	c = raw_open(f->path);
	assert_int_equal(
	    sqlite3_exec(c,
		"INSERT INTO policy (reason, conf, "
		"ts, epoch, seq) VALUES ('start', 'a', 100, 1, 1), ('reload', "
		"'b', 200, 1, 9), ('reload', 'c', 300, 1, 20), ('start', 'd', "
		"1500, 2, 1)",
		NULL, NULL, NULL),
	    SQLITE_OK);
	assert_int_equal(rdb_prune(db, 1000, 100, pruned, err, sizeof(err)),
	    2);
	assert_int_equal(pruned[RDB_POLICY], 2);
	assert_int_equal(rdb_prune(db, 1000, 100, pruned, err, sizeof(err)),
	    0);
	assert_int_equal(raw_int(c,
			     "SELECT count(*) FROM policy WHERE conf "
			     "IN ('c', 'd')"),
	    2);
	assert_int_equal(sqlite3_close(c), SQLITE_OK);
	assert_int_equal(rdb_close(db), 0);
	assert_integrity(f->path);
}

/* The queries the seed's Grafana dashboard runs, on kwarden's rows. */
static void
db__seed_grafana_queries__run(void **state)
{
	struct fixture *f = *state;
	struct rdb *db = open_db(f->path, 1000);
	struct rec_queue q;
	char err[256] = "";
	sqlite3 *c;
	sqlite3_stmt *st;
	size_t i;
	int nrows;
	static const char *const queries[] = {
		"SELECT ts, mem_used_kb FROM sys_metrics ORDER BY ts",
		"SELECT ts, mem_total_kb, mem_free_kb, mem_used_kb"
		" FROM sys_metrics ORDER BY ts",
		"SELECT ts, total FROM process_count ORDER BY ts",
		"SELECT container_id, image, cpu_pct FROM containers"
		" ORDER BY cpu_pct DESC LIMIT 10",
		"SELECT container_id, image, mem_pct FROM containers"
		" WHERE ts >= 0 ORDER BY mem_pct DESC",
		"SELECT ts, container_id, reason FROM deletions ORDER BY ts",
		"SELECT count(*) FROM deletions",
		"SELECT ts AS time, cpu_pct FROM sys_metrics"
		" WHERE ts BETWEEN 0 AND 9999999999 ORDER BY ts",
	};

	fill_batch(&q, 1764200000);
	assert_int_equal(rdb_write_batch(db, q.head, "decider", EPOCH, 5, NULL,
			     err, sizeof(err)),
	    0);
	rq_free(&q);
	assert_int_equal(rdb_close(db), 0);

	c = raw_open(f->path);
	for (i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
		if (sqlite3_prepare_v2(c, queries[i], -1, &st, NULL) !=
		    SQLITE_OK)
			fail_msg("%s: %s", queries[i], sqlite3_errmsg(c));
		nrows = 0;
		while (sqlite3_step(st) == SQLITE_ROW)
			nrows++;
		assert_int_equal(nrows, 1);
		sqlite3_finalize(st);
	}
	/* Grafana's time range on ts uses the index. */
	assert_int_equal(
	    sqlite3_prepare_v2(c,
		"EXPLAIN QUERY PLAN SELECT"
		" ts, mem_used_kb FROM sys_metrics WHERE ts >= 1 AND ts < 2",
		-1, &st, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_non_null(strstr((const char *)sqlite3_column_text(st, 3),
	    "sys_metrics_ts"));
	sqlite3_finalize(st);
	assert_int_equal(sqlite3_close(c), SQLITE_OK);
	assert_integrity(f->path);
}

/*
 * Allocation fault injection, SQLite style: fail allocation number n
 * (and every one after it, like a real out-of-memory), for n = 1, 2, ...
 * until an operation runs without reaching n. Each time the result must
 * be all or nothing.
 */
static sqlite3_mem_methods orig_mem;
static long fault_countdown; /* 0: off */
static int fault_hit;

static int
fault_now(void)
{
	if (fault_countdown == 0)
		return 0;
	if (fault_countdown > 1) {
		fault_countdown--;
		return 0;
	}
	fault_hit = 1;
	return 1;
}

static void *
fault_malloc(int n)
{
	return fault_now() ? NULL : orig_mem.xMalloc(n);
}

static void *
fault_realloc(void *p, int n)
{
	return fault_now() ? NULL : orig_mem.xRealloc(p, n);
}

static void
fault_install(void)
{
	sqlite3_mem_methods m;

	assert_int_equal(sqlite3_shutdown(), SQLITE_OK);
	assert_int_equal(sqlite3_config(SQLITE_CONFIG_GETMALLOC, &orig_mem),
	    SQLITE_OK);
	m = orig_mem;
	m.xMalloc = fault_malloc;
	m.xRealloc = fault_realloc;
	assert_int_equal(sqlite3_config(SQLITE_CONFIG_MALLOC, &m), SQLITE_OK);
	/* No lookaside: every allocation goes through us. */
	assert_int_equal(sqlite3_config(SQLITE_CONFIG_LOOKASIDE, 0, 0),
	    SQLITE_OK);
	assert_int_equal(sqlite3_initialize(), SQLITE_OK);
}

static void
fault_remove(void)
{
	assert_int_equal(sqlite3_shutdown(), SQLITE_OK);
	assert_int_equal(sqlite3_config(SQLITE_CONFIG_MALLOC, &orig_mem),
	    SQLITE_OK);
	assert_int_equal(sqlite3_initialize(), SQLITE_OK);
}

static void
remove_db(const char *path)
{
	char p[160];
	static const char *const sfx[] = { "", "-wal", "-shm", "-journal" };
	size_t i;

	for (i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", path, sfx[i]);
		unlink(p);
	}
}

static void
db__alloc_fault_n__open_and_batch_all_or_nothing(void **state)
{
	struct fixture *f = *state;
	struct rdb *db;
	struct rec_queue q;
	char err[256];
	long n;
	int64_t before;
	int rc, nfail = 0;
	sqlite3 *c;

	fault_install();
	/*
	 * Open: fails cleanly, or gives a complete schema. Opening a new
	 * database makes ~10k allocations: every one of the first 200,
	 * then one in each 1% stretch, keeps this under a second.
	 */
	for (n = 1; n < 1000000; n += n < 200 ? 1 : n / 100) {
		remove_db(f->path);
		fault_hit = 0;
		fault_countdown = n;
		db = rdb_open(f->path, 1000, err, sizeof(err));
		fault_countdown = 0;
		if (db != NULL) {
			assert_int_equal(rdb_user_version(db), 1);
			assert_int_equal(rdb_close(db), 0);
			assert_schema_v1(f->path);
		} else
			nfail++;
		if (!fault_hit)
			break;
	}
	assert_true(nfail > 0);
	assert_false(fault_hit);

	/* Write: every row and the state, or nothing. */
	nfail = 0;
	remove_db(f->path);
	db = open_db(f->path, 1000);
	c = raw_open(f->path);
	for (n = 1; n < 100000; n++) {
		before = count(c, "containers");
		fill_batch(&q, 500);
		fault_hit = 0;
		fault_countdown = n;
		rc = rdb_write_batch(db, q.head, "decider", EPOCH, n, NULL,
		    err, sizeof(err));
		fault_countdown = 0;
		if (rc == -1) {
			nfail++;
			assert_int_equal(count(c, "containers"), before);
			assert_int_equal(count(c, "processes"), before);
			assert_int_equal(count(c, "deletions"), before);
			assert_int_equal(count(c, "sys_metrics"), before);
			assert_int_equal(count(c, "process_count"), before);
			if (before > 0)
				assert_int_equal(raw_int(c,
						     "SELECT seq FROM"
						     " stream_state"),
				    n - 1);
			/* The connection is still usable. */
			if (rdb_write_batch(db, q.head, "decider", EPOCH, n,
				NULL, err, sizeof(err)) == -1)
				fail_msg("fault %ld, then: %s", n, err);
		}
		rq_free(&q);
		assert_int_equal(count(c, "containers"), before + 1);
		assert_int_equal(count(c, "processes"), before + 1);
		assert_int_equal(count(c, "deletions"), before + 1);
		assert_int_equal(count(c, "sys_metrics"), before + 1);
		assert_int_equal(count(c, "process_count"), before + 1);
		assert_int_equal(raw_int(c, "SELECT seq FROM stream_state"),
		    n);
		if (!fault_hit)
			break;
	}
	assert_int_equal(sqlite3_close(c), SQLITE_OK);
	assert_int_equal(rdb_close(db), 0);
	assert_integrity(f->path);
	assert_true(nfail > 0);
	assert_false(fault_hit);
	fault_remove();
}

static void
batch__take__one_epoch_and_at_most_max_rows(void **state)
{
	struct rec_queue q, out;

	(void)state;
	rq_init(&q);
	rq_push(&q, mk_sys(1, 1, 0, 1, 1));	    /* 2 rows */
	rq_push(&q, mk_container(1, 2, 0, "a", 1)); /* 1 */
	rq_push(&q, mk_skip(1, 3));		    /* 0 */
	rq_push(&q, mk_container(1, 4, 0, "a", 1)); /* 1 */
	rq_push(&q, mk_container(2, 1, 0, "a", 1)); /* new epoch */
	assert_int_equal(q.nrows, 5);
	assert_int_equal(q.nrecs, 5);

	rq_take(&q, 3, &out);
	assert_int_equal(out.nrecs, 3); /* sys, container, skip */
	assert_int_equal(out.nrows, 3);
	assert_int_equal(out.head->seq, 1);
	assert_int_equal(q.nrows, 2);
	rq_free(&out);

	rq_take(&q, 100, &out);
	assert_int_equal(out.nrecs, 1); /* stops at the epoch */
	assert_int_equal(out.head->seq, 4);
	rq_free(&out);

	rq_take(&q, 0, &out); /* at least one record */
	assert_int_equal(out.nrecs, 1);
	assert_int_equal(out.head->epoch, 2);
	rq_free(&out);
	assert_null(q.head);
	assert_int_equal(q.nrows, 0);

	/* The queue is usable again after being drained. */
	rq_push(&q, mk_skip(3, 1));
	assert_int_equal(q.nrecs, 1);
	rq_free(&q);
}

/*
 * A write job commits its records a batch at a time (rq_batch_end, the
 * rule of rq_take) and drops what it committed (rq_drop).
 */
static void
batch__end_and_drop__one_commit_at_a_time(void **state)
{
	struct rec_queue q;
	const struct rec *end, *last;
	size_t n;

	(void)state;
	rq_init(&q);
	rq_push(&q, mk_sys(1, 1, 0, 1, 1));	    /* 2 rows */
	rq_push(&q, mk_container(1, 2, 0, "a", 1)); /* 1 */
	rq_push(&q, mk_skip(1, 3));		    /* 0 */
	rq_push(&q, mk_container(1, 4, 0, "a", 1)); /* 1 */

	end = rq_batch_end(q.head, 3, &n, &last);
	assert_int_equal(n, 3); /* sys, container, skip */
	assert_int_equal(last->seq, 3);
	assert_int_equal(end->seq, 4);
	end = rq_batch_end(end, 3, &n, &last);
	assert_int_equal(n, 1);
	assert_int_equal(last->seq, 4);
	assert_null(end);
	end = rq_batch_end(q.head, 1, &n, &last); /* at least one record */
	assert_int_equal(n, 1);
	assert_int_equal(last->seq, 1);

	rq_drop(&q, 3);
	assert_int_equal(q.nrecs, 1);
	assert_int_equal(q.nrows, 1);
	assert_int_equal(q.head->seq, 4);
	rq_drop(&q, 5); /* no more than there is */
	assert_null(q.head);
	assert_int_equal(q.nrows, 0);
	rq_push(&q, mk_skip(1, 5)); /* usable again */
	assert_int_equal(q.head->seq, 5);
	rq_free(&q);
}

/* Pack a decider message as kw_pub would, then decode it as sub does. */
typedef void (*body_fn)(msgpack_packer *, const void *);

static struct rec *
roundtrip(const char *t, uint32_t nfields, body_fn body, const void *arg,
    uint64_t seq, char *err, size_t errlen)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_unpacked up;
	struct kw_msg msg;
	struct rec *r;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, nfields + 3);
	kw_pack_kstr(&pk, "t", t);
	kw_pack_ku64(&pk, "seq", seq);
	kw_pack_ku64(&pk, "ts", 1764200000999999999ull);
	if (body != NULL)
		body(&pk, arg);
	msgpack_unpacked_init(&up);
	assert_int_equal(msgpack_unpack_next(&up, sb.data, sb.size, NULL),
	    MSGPACK_UNPACK_SUCCESS);
	assert_int_equal(kw_msg_decode(&up.data, &msg, err, errlen), 0);
	r = rec_decode(&msg, 9, err, errlen);
	msgpack_unpacked_destroy(&up);
	msgpack_sbuffer_destroy(&sb);
	assert_non_null(r);
	assert_int_equal(r->seq, seq);
	assert_int_equal(r->epoch, 9);
	assert_int_equal(r->ts, 1764200000);
	return r;
}

static void
pack_sys(msgpack_packer *pk, const void *arg)
{
	kw_sys_pack(pk, arg);
}

static void
pack_container(msgpack_packer *pk, const void *arg)
{
	kw_container_pack(pk, arg);
}

static void
pack_proc(msgpack_packer *pk, const void *arg)
{
	kw_proc_rec_pack(pk, arg);
}

static void
pack_deletion(msgpack_packer *pk, const void *arg)
{
	kw_deletion_pack(pk, arg);
}

static void
pack_wrong(msgpack_packer *pk, const void *arg)
{
	kw_pack_kstr(pk, "mem_total_kb", "lots");
}

static void
batch__decode__each_type_and_bad_shape_skipped(void **state)
{
	struct kw_sys_rec s = { 1, 2, 3, 4, 5.5, 6 };
	struct kw_container_rec c = { .pid = 9,
		.nprocs = 2,
		.cpu_pct = 21.0,
		.rss_kb = 99 };
	struct kw_deletion_rec d = { .cpu_pct = 30.0 };
	struct kw_proc_rec *p;
	const struct kw_proc_rec *pr;
	struct rec *r;
	char err[256];

	(void)state;
	strcpy(c.container_id, "c0ffee");
	strcpy(c.image, "img");
	strcpy(c.class_name, "low");
	strcpy(d.action, "dry-run");
	strcpy(d.reason, "mem");
	strcpy(d.result, "ok");

	r = roundtrip("sys", KW_SYS_FIELDS, pack_sys, &s, 1, err, sizeof(err));
	assert_int_equal(r->kind, REC_SYS);
	assert_int_equal(rec_rows(r), 2);
	assert_int_equal(((struct rec_sys *)r)->r.nprocs, 6);
	assert_true(((struct rec_sys *)r)->r.cpu_pct == 5.5);
	rec_free(r);

	r = roundtrip("container", KW_CONTAINER_FIELDS, pack_container, &c, 2,
	    err, sizeof(err));
	assert_int_equal(r->kind, REC_CONTAINER);
	assert_string_equal(((struct rec_container *)r)->r.class_name, "low");
	assert_int_equal(((struct rec_container *)r)->r.rss_kb, 99);
	rec_free(r);

	p = calloc(1, sizeof(*p));
	assert_non_null(p);
	p->pid = 5;
	strcpy(p->name, "foo) Z ");
	memset(p->cmdline, 'x', sizeof(p->cmdline) - 1);
	r = roundtrip("proc", KW_PROC_FIELDS, pack_proc, p, 3, err,
	    sizeof(err));
	assert_int_equal(r->kind, REC_PROC);
	pr = rec_body(r);
	assert_int_equal(pr->pid, 5);
	assert_string_equal(pr->name, "foo) Z ");
	assert_string_equal(pr->cmdline, p->cmdline);
	rec_free(r);
	free(p);

	r = roundtrip("deletion", kw_fields_count(&kw_deletion_schema, &d),
	    pack_deletion, &d, 4, err, sizeof(err));
	assert_int_equal(r->kind, REC_DELETION);
	assert_string_equal(((struct rec_deletion *)r)->r.action, "dry-run");
	rec_free(r);

	/* Wrong shape: skipped, but its seq is kept. */
	r = roundtrip("sys", 1, pack_wrong, NULL, 5, err, sizeof(err));
	assert_int_equal(r->kind, REC_SKIP);
	assert_int_equal(rec_rows(r), 0);
	assert_true(err[0] != '\0');
	rec_free(r);

	/* A type the recorder does not store: skipped too. */
	r = roundtrip("snapshot", 0, NULL, NULL, 6, err, sizeof(err));
	assert_int_equal(r->kind, REC_SKIP);
	assert_non_null(strstr(err, "snapshot"));
	rec_free(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    db__fresh__has_every_table_column_and_index, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    db__seed_schema_v0__migrated_with_columns_added, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    db__previous_recorder_v1__rows_kept_and_writes_go_on,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(db__newer_schema__refused,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    db__write_batch__rows_and_state_committed, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    db__batch_ending_with_end__state_ended_until_the_next,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    db__write_batch_locked__nothing_written_then_retry_succeeds,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    db__write_batch_fails_midway__rolled_back, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(db__state__survives_reopen,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    db__prune__old_rows_only_at_most_chunk, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    db__prune__keeps_the_policy_in_force, setup, teardown),
		cmocka_unit_test_setup_teardown(db__seed_grafana_queries__run,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    db__alloc_fault_n__open_and_batch_all_or_nothing, setup,
		    teardown),
		cmocka_unit_test(batch__take__one_epoch_and_at_most_max_rows),
		cmocka_unit_test(batch__end_and_drop__one_commit_at_a_time),
		cmocka_unit_test(
		    batch__decode__each_type_and_bad_shape_skipped),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
