/*
 * The recorder's SQLite database: tables, columns and INSERTs made from
 * the records' field tables, one transaction per batch with the stream's
 * resume point, retention in small chunks. Synchronous; one at a time.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "recorder.h"

/*
 * The data tables, each holding the columns of one record's fields (the
 * rows of its schema naming the table, in schema order) and after them
 * the envelope columns, where the row came from. Nothing else about their
 * columns is written down here: see common/schema.c.
 */
static const struct table {
	const char *name;
	enum rec_kind kind;
} tables[RDB__NTABLES] = {
	[RDB_SYS_METRICS] = { "sys_metrics", REC_SYS },
	[RDB_PROCESS_COUNT] = { "process_count", REC_SYS },
	[RDB_CONTAINERS] = { "containers", REC_CONTAINER },
	[RDB_PROCESSES] = { "processes", REC_PROC },
	[RDB_DELETIONS] = { "deletions", REC_DELETION },
	[RDB_DECISIONS] = { "decisions", REC_DECISION },
	[RDB_POLICY] = { "policy", REC_POLICY },
};

static const char *const envelope_columns[] = { "ts", "epoch", "seq" };
#define NENVELOPE (sizeof(envelope_columns) / sizeof(envelope_columns[0]))

/*
 * Besides the data tables (and the index on ts of each, for Grafana's
 * ranges and for retention, made with them in migrate): the resume point.
 */
static const char *const other_sql[] = {
	"CREATE TABLE IF NOT EXISTS stream_state ("
	" stream TEXT PRIMARY KEY, epoch INTEGER, seq INTEGER)",
};

#define NOTHER_SQL (sizeof(other_sql) / sizeof(other_sql[0]))

enum {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_STATE_SET,
	ST_STATE_GET,
	ST__COUNT,
};

static const char *const misc_sql[ST__COUNT] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_STATE_SET] = "INSERT OR REPLACE INTO stream_state"
			 " (stream, epoch, seq) VALUES (?1, ?2, ?3)",
	[ST_STATE_GET] = "SELECT epoch, seq FROM stream_state"
			 " WHERE stream = ?1",
};

/* The files at the path: the database, its -wal and its -shm. */
enum {
	RDB_F_DB,
	RDB_F_WAL,
	RDB_F_SHM,
	RDB_F__N
};
static const char *const file_suffix[RDB_F__N] = { "", "-wal", "-shm" };

struct rdb {
	sqlite3 *conn;
	char *path; /* NULL: not a file (":memory:") */
	int known[RDB_F__N];
	dev_t dev[RDB_F__N];
	ino_t ino[RDB_F__N];
	sqlite3_stmt *ins[RDB__NTABLES];
	const struct kw_field *cols[RDB__NTABLES][KW_FIELDS_MAX];
	size_t ncols[RDB__NTABLES];
	sqlite3_stmt *prune[RDB__NTABLES];
	sqlite3_stmt *st[ST__COUNT];
};

static void
dberr(struct rdb *db, char *err, size_t errlen, const char *what)
{
	kw_seterr(err, errlen, "%s: %s", what, sqlite3_errmsg(db->conn));
}

const char *
rdb_table_name(enum rdb_table t)
{
	if (t >= RDB__NTABLES)
		return "?";
	return tables[t].name;
}

/* The fields of t's record stored in t, in schema order: their number. */
static size_t
table_fields(enum rdb_table t, const struct kw_field *out[KW_FIELDS_MAX])
{
	const struct kw_schema *s = rec_schema(tables[t].kind);
	size_t i, n = 0;

	for (i = 0; i < s->nfields && n < KW_FIELDS_MAX; i++)
		if (s->fields[i].table != NULL &&
		    strcmp(s->fields[i].table, tables[t].name) == 0)
			out[n++] = &s->fields[i];
	return n;
}

/* The sqlite3_str's text, or NULL (and nothing left) on ENOMEM. */
static char *
str_finish(sqlite3_str *q)
{
	char *sql;

	if (sqlite3_str_errcode(q) != SQLITE_OK) {
		sqlite3_free(sqlite3_str_finish(q));
		return NULL;
	}
	sql = sqlite3_str_finish(q);
	return sql;
}

char *
rdb_create_sql(enum rdb_table t)
{
	const struct kw_field *f[KW_FIELDS_MAX];
	sqlite3_str *q;
	size_t i, n;

	if (t >= RDB__NTABLES)
		return NULL;
	n = table_fields(t, f);
	q = sqlite3_str_new(NULL);
	sqlite3_str_appendf(q,
	    "CREATE TABLE IF NOT EXISTS \"%w\" ("
	    "id INTEGER PRIMARY KEY AUTOINCREMENT",
	    tables[t].name);
	for (i = 0; i < n; i++)
		sqlite3_str_appendf(q, ", \"%w\" %s", f[i]->column,
		    kw_field_sql_type(f[i]));
	for (i = 0; i < NENVELOPE; i++)
		sqlite3_str_appendf(q, ", \"%w\" INTEGER",
		    envelope_columns[i]);
	sqlite3_str_appendall(q, ")");
	return str_finish(q);
}

char *
rdb_insert_sql(enum rdb_table t)
{
	const struct kw_field *f[KW_FIELDS_MAX];
	sqlite3_str *q;
	size_t i, n;

	if (t >= RDB__NTABLES)
		return NULL;
	n = table_fields(t, f);
	q = sqlite3_str_new(NULL);
	sqlite3_str_appendf(q, "INSERT INTO \"%w\" (", tables[t].name);
	for (i = 0; i < n; i++)
		sqlite3_str_appendf(q, "\"%w\", ", f[i]->column);
	for (i = 0; i < NENVELOPE; i++)
		sqlite3_str_appendf(q, "\"%w\"%s", envelope_columns[i],
		    i + 1 < NENVELOPE ? ", " : "");
	sqlite3_str_appendall(q, ") VALUES (");
	for (i = 0; i < n + NENVELOPE; i++)
		sqlite3_str_appendf(q, "?%d%s", (int)i + 1,
		    i + 1 < n + NENVELOPE ? ", " : "");
	sqlite3_str_appendall(q, ")");
	return str_finish(q);
}

static int
exec(struct rdb *db, const char *sql, char *err, size_t errlen)
{
	char *msg = NULL;

	if (sqlite3_exec(db->conn, sql, NULL, NULL, &msg) != SQLITE_OK) {
		kw_seterr(err, errlen, "%s: %s", sql,
		    msg != NULL ? msg : sqlite3_errmsg(db->conn));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

/* Single integer from a query such as "PRAGMA user_version"; -1 on error. */
static int64_t
query_int(struct rdb *db, const char *sql)
{
	sqlite3_stmt *st;
	int64_t v = -1;

	if (sqlite3_prepare_v2(db->conn, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

int
rdb_user_version(struct rdb *db)
{
	return (int)query_int(db, "PRAGMA user_version");
}

/* 1 if table has column, 0 if not, -1 on error. */
static int
has_column(struct rdb *db, const char *table, const char *column)
{
	sqlite3_stmt *st;
	int found = 0, rc;

	if (sqlite3_prepare_v2(db->conn,
		"SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2", -1, &st,
		NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, column, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		found = 1;
	else if (rc != SQLITE_DONE)
		found = -1;
	sqlite3_finalize(st);
	return found;
}

/* Add column c of SQL type type to table t unless it is there already. */
static int
add_column(struct rdb *db, const char *t, const char *c, const char *type,
    char *err, size_t errlen)
{
	char *sql;
	int have, rc;

	if ((have = has_column(db, t, c)) == -1) {
		dberr(db, err, errlen, t);
		return -1;
	}
	if (have)
		return 0;
	if ((sql = sqlite3_mprintf("ALTER TABLE \"%w\" ADD COLUMN \"%w\" %s",
		 t, c, type)) == NULL) {
		kw_seterr(err, errlen, "%s.%s: out of memory", t, c);
		return -1;
	}
	rc = exec(db, sql, err, errlen);
	sqlite3_free(sql);
	return rc;
}

/* Run sql (sqlite3_malloc'd, NULL after ENOMEM) and free it. */
static int
exec_free(struct rdb *db, char *sql, const char *what, char *err,
    size_t errlen)
{
	int rc;

	if (sql == NULL) {
		kw_seterr(err, errlen, "%s: out of memory", what);
		return -1;
	}
	rc = exec(db, sql, err, errlen);
	sqlite3_free(sql);
	return rc;
}

/*
 * Bring the database to the schema the field tables describe, in one
 * transaction: create a missing table, add a missing column (a database
 * from an older recorder, or the seed's, keeps every row, with NULL in
 * the new columns), create the indexes. Columns are never dropped,
 * renamed or retyped here; a change of that kind needs a new
 * RDB_SCHEMA_VERSION and its own step. A database with a newer version
 * than ours is refused.
 */
static int
migrate(struct rdb *db, char *err, size_t errlen)
{
	const struct kw_field *f[KW_FIELDS_MAX];
	const char *t;
	char buf[64];
	size_t i, k, n;
	int from;

	from = rdb_user_version(db);
	if (from < 0) {
		dberr(db, err, errlen, "PRAGMA user_version");
		return -1;
	}
	if (from > RDB_SCHEMA_VERSION) {
		kw_seterr(err, errlen,
		    "schema version %d is newer than this "
		    "recorder's (%d)",
		    from, RDB_SCHEMA_VERSION);
		return -1;
	}
	if (exec(db, "BEGIN IMMEDIATE", err, errlen) == -1)
		return -1;
	for (i = 0; i < RDB__NTABLES; i++) {
		t = tables[i].name;
		if (exec_free(db, rdb_create_sql(i), t, err, errlen) == -1)
			goto fail;
		n = table_fields(i, f);
		for (k = 0; k < n; k++)
			if (add_column(db, t, f[k]->column,
				kw_field_sql_type(f[k]), err, errlen) == -1)
				goto fail;
		for (k = 0; k < NENVELOPE; k++)
			if (add_column(db, t, envelope_columns[k], "INTEGER",
				err, errlen) == -1)
				goto fail;
		if (exec_free(db,
			sqlite3_mprintf("CREATE INDEX IF NOT EXISTS"
					" \"%w_ts\" ON \"%w\"(ts)",
			    t, t),
			t, err, errlen) == -1)
			goto fail;
	}
	for (i = 0; i < NOTHER_SQL; i++)
		if (exec(db, other_sql[i], err, errlen) == -1)
			goto fail;
	snprintf(buf, sizeof(buf), "PRAGMA user_version = %d",
	    RDB_SCHEMA_VERSION);
	if (exec(db, buf, err, errlen) == -1 ||
	    exec(db, "COMMIT", err, errlen) == -1)
		goto fail;
	return 0;
fail:
	sqlite3_exec(db->conn, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

static int
set_wal(struct rdb *db, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	const char *mode;
	int rc = -1;

	if (sqlite3_prepare_v2(db->conn, "PRAGMA journal_mode = WAL", -1, &st,
		NULL) != SQLITE_OK) {
		dberr(db, err, errlen, "PRAGMA journal_mode");
		return -1;
	}
	if (sqlite3_step(st) != SQLITE_ROW)
		dberr(db, err, errlen, "PRAGMA journal_mode");
	else if ((mode = (const char *)sqlite3_column_text(st, 0)) == NULL)
		kw_seterr(err, errlen, "PRAGMA journal_mode: out of memory");
	else if (strcmp(mode, "wal") != 0)
		kw_seterr(err, errlen,
		    "cannot use WAL here (journal_mode is %s)", mode);
	else
		rc = 0;
	sqlite3_finalize(st);
	return rc;
}

static int
prepare(struct rdb *db, const char *sql, sqlite3_stmt **st, char *err,
    size_t errlen)
{
	if (sqlite3_prepare_v3(db->conn, sql, -1, SQLITE_PREPARE_PERSISTENT,
		st, NULL) != SQLITE_OK) {
		kw_seterr(err, errlen, "prepare %s: %s", sql,
		    sqlite3_errmsg(db->conn));
		return -1;
	}
	return 0;
}

/* The INSERT of table t and the fields it binds. */
static int
prepare_insert(struct rdb *db, enum rdb_table t, char *err, size_t errlen)
{
	char *sql;
	int rc;

	db->ncols[t] = table_fields(t, db->cols[t]);
	if ((sql = rdb_insert_sql(t)) == NULL) {
		kw_seterr(err, errlen, "%s: out of memory", tables[t].name);
		return -1;
	}
	rc = prepare(db, sql, &db->ins[t], err, errlen);
	sqlite3_free(sql);
	return rc;
}

/*
 * Make a new database file 0640 whatever the umask: SQLite gives its -wal
 * and -shm files the mode of the database, so they follow. The history of
 * every command line is for kwarden's group, not every user. An existing
 * file keeps its mode.
 */
static int
create_file(const char *path, char *err, size_t errlen)
{
	int fd;

	if ((fd = open(path,
		 O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
		 0640)) == -1) {
		if (errno == EEXIST)
			return 0;
		kw_seterr(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fchmod(fd, 0640) == -1) {
		kw_seterr(err, errlen, "%s: chmod 0640: %s", path,
		    strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

struct rdb *
rdb_open(const char *path, int busy_timeout_ms, char *err, size_t errlen)
{
	struct rdb *db;
	char sql[256];
	int i, rc;

	if ((db = calloc(1, sizeof(*db))) == NULL) {
		kw_seterr(err, errlen, "%s: out of memory", path);
		return NULL;
	}
	if (strcmp(path, ":memory:") != 0 && path[0] != '\0' &&
	    strncmp(path, "file:", 5) != 0) {
		if (create_file(path, err, errlen) == -1)
			goto fail;
		if ((db->path = strdup(path)) == NULL) {
			kw_seterr(err, errlen, "%s: out of memory", path);
			goto fail;
		}
	}
	/*
	 * NOMUTEX: the connection is used by one thread at a time (start-up,
	 * then one job at a time in the worker pool, then shutdown), so
	 * SQLite's per-call mutexes are pure cost (a few % of its CPU).
	 */
	rc = sqlite3_open_v2(path, &db->conn,
	    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
	    NULL);
	if (rc != SQLITE_OK) {
		kw_seterr(err, errlen, "%s: %s", path,
		    db->conn != NULL ? sqlite3_errmsg(db->conn) :
				       sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_extended_result_codes(db->conn, 1);
	sqlite3_busy_timeout(db->conn, busy_timeout_ms);
	/* Readers (Grafana) must never block the writer: WAL or nothing. */
	if (set_wal(db, err, errlen) == -1 ||
	    exec(db, "PRAGMA synchronous = NORMAL", err, errlen) == -1)
		goto fail;
	if (migrate(db, err, errlen) == -1)
		goto fail;
	for (i = 0; i < RDB__NTABLES; i++) {
		if (prepare_insert(db, i, err, errlen) == -1)
			goto fail;
		/*
		 * The policy in force when the kept rows start is the last
		 * one before the cut: it stays (kwarden-replay needs it).
		 */
		if (i == RDB_POLICY)
			snprintf(sql, sizeof(sql),
			    "DELETE FROM policy WHERE"
			    " id IN (SELECT id FROM policy WHERE ts < ?1 AND"
			    " id < (SELECT max(id) FROM policy WHERE ts < ?1)"
			    " LIMIT ?2)");
		else
			snprintf(sql, sizeof(sql),
			    "DELETE FROM %s WHERE id IN"
			    " (SELECT id FROM %s WHERE ts < ?1 LIMIT ?2)",
			    tables[i].name, tables[i].name);
		if (prepare(db, sql, &db->prune[i], err, errlen) == -1)
			goto fail;
	}
	for (i = 0; i < ST__COUNT; i++)
		if (prepare(db, misc_sql[i], &db->st[i], err, errlen) == -1)
			goto fail;
	(void)rdb_file_changed(db, NULL, 0); /* note the files' identity */
	return db;
fail:
	rdb_close(db);
	return NULL;
}

int
rdb_close(struct rdb *db)
{
	int i, rc;

	if (db == NULL)
		return 0;
	for (i = 0; i < RDB__NTABLES; i++) {
		sqlite3_finalize(db->ins[i]);
		sqlite3_finalize(db->prune[i]);
	}
	for (i = 0; i < ST__COUNT; i++)
		sqlite3_finalize(db->st[i]);
	rc = sqlite3_close(db->conn);
	free(db->path);
	free(db);
	return rc == SQLITE_OK ? 0 : -1;
}

/* Step a statement that returns no rows, then reset it. */
static int
run(struct rdb *db, sqlite3_stmt *st, char *err, size_t errlen)
{
	int rc;

	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		kw_seterr(err, errlen, "%s: %s", sqlite3_sql(st),
		    sqlite3_errmsg(sqlite3_db_handle(st)));
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static void
bind_u64(sqlite3_stmt *st, int i, uint64_t v)
{
	sqlite3_bind_int64(st, i, (sqlite3_int64)v);
}

static void
bind_str(sqlite3_stmt *st, int i, const char *s)
{
	sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

/* Bind the fields of body stored in t, then the envelope columns. */
static void
bind_row(struct rdb *db, enum rdb_table t, const void *body,
    const struct rec *r)
{
	sqlite3_stmt *st = db->ins[t];
	const struct kw_field *f;
	const char *v;
	char c[2];
	size_t i;
	int n = 1;

	for (i = 0; i < db->ncols[t]; i++, n++) {
		f = db->cols[t][i];
		v = (const char *)body + f->off;
		switch (f->type) {
		case KW_F_STR:
			bind_str(st, n, v);
			break;
		case KW_F_HSTR:
			bind_str(st, n, *(char *const *)v);
			break;
		case KW_F_CHAR:
			c[0] = *v;
			c[1] = '\0';
			sqlite3_bind_text(st, n, c, -1, SQLITE_TRANSIENT);
			break;
		case KW_F_U64:
			bind_u64(st, n, *(const uint64_t *)v);
			break;
		case KW_F_U32:
			sqlite3_bind_int64(st, n, *(const uint32_t *)v);
			break;
		case KW_F_I32:
			sqlite3_bind_int(st, n, *(const int32_t *)v);
			break;
		case KW_F_F64:
			sqlite3_bind_double(st, n, *(const double *)v);
			break;
		case KW_F_BOOL:
			sqlite3_bind_int(st, n, *(const int *)v != 0);
			break;
		case KW_F_MAP:
		case KW_F_ARRAY: /* nested records: never a column */
			break;
		}
	}
	sqlite3_bind_int64(st, n++, r->ts);
	bind_u64(st, n++, r->epoch);
	bind_u64(st, n, r->seq);
}

/* A row in every table of the record's kind (sys: two). */
static int
insert(struct rdb *db, const struct rec *r, uint64_t rows[RDB__NTABLES],
    char *err, size_t errlen)
{
	const void *body;
	int t;

	if (r->kind == REC_SKIP || r->kind == REC_END)
		return 0;
	if ((body = rec_body(r)) == NULL) {
		kw_seterr(err, errlen, "record seq %llu: unknown kind %d",
		    (unsigned long long)r->seq, (int)r->kind);
		return -1;
	}
	for (t = 0; t < RDB__NTABLES; t++) {
		if (tables[t].kind != r->kind)
			continue;
		bind_row(db, t, body, r);
		if (run(db, db->ins[t], err, errlen) == -1)
			return -1;
		rows[t]++;
	}
	return 0;
}

int
rdb_write_batch(struct rdb *db, const struct rec *head, const char *stream,
    uint64_t epoch, uint64_t last_seq, uint64_t rows[RDB__NTABLES], char *err,
    size_t errlen)
{
	return rdb_write_recs(db, head, NULL, stream, epoch, last_seq, rows,
	    err, errlen);
}

int
rdb_write_recs(struct rdb *db, const struct rec *head, const struct rec *end,
    const char *stream, uint64_t epoch, uint64_t last_seq,
    uint64_t rows[RDB__NTABLES], char *err, size_t errlen)
{
	uint64_t n[RDB__NTABLES] = { 0 };
	const struct rec *r, *last = NULL;
	sqlite3_stmt *st;
	char name[64];

	if (run(db, db->st[ST_BEGIN], err, errlen) == -1)
		return -1;
	for (r = head; r != end; r = r->next) {
		if (insert(db, r, n, err, errlen) == -1)
			goto fail;
		last = r;
	}
	st = db->st[ST_STATE_SET];
	bind_str(st, 1, stream);
	bind_u64(st, 2, epoch);
	bind_u64(st, 3, last_seq);
	if (run(db, st, err, errlen) == -1)
		goto fail;
	/* The producer's end is the resume point: its restart loses nothing. */
	if (last != NULL && last->kind == REC_END && last->seq == last_seq) {
		snprintf(name, sizeof(name), "%s.end", stream);
		bind_str(st, 1, name);
		bind_u64(st, 2, epoch);
		bind_u64(st, 3, last_seq);
		if (run(db, st, err, errlen) == -1)
			goto fail;
	}
	if (run(db, db->st[ST_COMMIT], err, errlen) == -1)
		goto fail;
	if (rows != NULL)
		memcpy(rows, n, sizeof(n));
	return 0;
fail:
	/* A failed COMMIT (SQLITE_BUSY) leaves the transaction open. */
	if (!sqlite3_get_autocommit(db->conn))
		run(db, db->st[ST_ROLLBACK], NULL, 0);
	return -1;
}

int
rdb_load_state(struct rdb *db, const char *stream, uint64_t *epoch,
    uint64_t *seq, char *err, size_t errlen)
{
	sqlite3_stmt *st = db->st[ST_STATE_GET];
	int rc, found = 0;

	bind_str(st, 1, stream);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*epoch = (uint64_t)sqlite3_column_int64(st, 0);
		*seq = (uint64_t)sqlite3_column_int64(st, 1);
		found = 1;
	} else if (rc != SQLITE_DONE) {
		kw_seterr(err, errlen, "stream_state %s: %s", stream,
		    sqlite3_errstr(rc));
		found = -1;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return found;
}

int
rdb_state_ended(struct rdb *db, const char *stream, uint64_t epoch,
    uint64_t seq)
{
	uint64_t e, s;
	char name[64];

	snprintf(name, sizeof(name), "%s.end", stream);
	return rdb_load_state(db, name, &e, &s, NULL, 0) == 1 && e == epoch &&
	    s == seq;
}

int64_t
rdb_prune(struct rdb *db, int64_t cutoff_ts, int chunk,
    uint64_t pruned[RDB__NTABLES], char *err, size_t errlen)
{
	sqlite3_stmt *st;
	int64_t total = 0;
	int i, n;

	for (i = 0; i < RDB__NTABLES; i++) {
		st = db->prune[i];
		sqlite3_bind_int64(st, 1, cutoff_ts);
		sqlite3_bind_int(st, 2, chunk);
		if (run(db, st, err, errlen) == -1)
			return -1;
		n = sqlite3_changes(db->conn);
		if (pruned != NULL)
			pruned[i] = (uint64_t)n;
		total += n;
	}
	return total;
}

/*
 * The database, -wal and -shm files at the path must be the ones the
 * connection has open: a file seen once is noted (the -wal and -shm
 * appear with the first write and stay while the connection is open),
 * and a noted file that is gone or is another inode is a change.
 */
int
rdb_file_changed(struct rdb *db, char *what, size_t whatlen)
{
	struct stat st;
	char name[4096];
	int i;

	if (db->path == NULL)
		return 0;
	for (i = 0; i < RDB_F__N; i++) {
		snprintf(name, sizeof(name), "%s%s", db->path, file_suffix[i]);
		if (stat(name, &st) == -1) {
			if (!db->known[i] && i != RDB_F_DB)
				continue;
			kw_seterr(what, whatlen, "%s %s", name,
			    errno == ENOENT ? "deleted" : strerror(errno));
			return 1;
		}
		if (!db->known[i]) {
			db->known[i] = 1;
			db->dev[i] = st.st_dev;
			db->ino[i] = st.st_ino;
		} else if (st.st_dev != db->dev[i] ||
		    st.st_ino != db->ino[i]) {
			kw_seterr(what, whatlen, "%s replaced by another file",
			    name);
			return 1;
		}
	}
	return 0;
}

int
rdb_close_moved(struct rdb *db)
{
	struct stat st;
	char path[4096], name[4200];
	int mine[RDB_F__N] = { 0 };
	dev_t dev[RDB_F__N];
	ino_t ino[RDB_F__N];
	int i, rc;

	if (db == NULL)
		return 0;
	/*
	 * SQLite neither checkpoints nor removes the -wal of a database that
	 * moved: commit what the -wal holds into the file the connection has
	 * open (wherever it went), then take away the -wal and -shm that are
	 * still ours, so that no file later at the path is read with them.
	 */
	sqlite3_exec(db->conn, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL,
	    NULL);
	if (db->path == NULL)
		return rdb_close(db);
	snprintf(path, sizeof(path), "%s", db->path);
	for (i = RDB_F_WAL; i < RDB_F__N; i++) {
		mine[i] = db->known[i];
		dev[i] = db->dev[i];
		ino[i] = db->ino[i];
	}
	rc = rdb_close(db);
	for (i = RDB_F_WAL; i < RDB_F__N; i++) {
		snprintf(name, sizeof(name), "%s%s", path, file_suffix[i]);
		if (mine[i] && stat(name, &st) == 0 && st.st_dev == dev[i] &&
		    st.st_ino == ino[i])
			(void)unlink(name);
	}
	return rc;
}

/* The value of a one-integer query on conn; -1 on error (err set). */
static int64_t
probe_int(sqlite3 *conn, const char *sql, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	int64_t v = -1;
	int rc;

	if (sqlite3_prepare_v2(conn, sql, -1, &st, NULL) != SQLITE_OK) {
		kw_seterr(err, errlen, "%s", sqlite3_errmsg(conn));
		return -1;
	}
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	else
		kw_seterr(err, errlen, "%s", sqlite3_errstr(rc));
	sqlite3_finalize(st);
	return v;
}

int
rdb_probe(const char *path, char *err, size_t errlen)
{
	static const char magic[16] = "SQLite format 3";
	struct stat st;
	sqlite3 *conn = NULL;
	char head[16], why[256];
	int64_t version, ntables, ours;
	int fd, rc = -1;
	ssize_t n;

	if (stat(path, &st) == -1) {
		if (errno == ENOENT)
			return 0;
		kw_seterr(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		kw_seterr(err, errlen, "%s: not a regular file", path);
		return -1;
	}
	if (st.st_size == 0)
		return 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1) {
		kw_seterr(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	n = read(fd, head, sizeof(head));
	close(fd);
	if (n != (ssize_t)sizeof(head) || memcmp(head, magic, 16) != 0) {
		kw_seterr(err, errlen,
		    "%s: not a SQLite database: not a kwarden "
		    "database, left as it is",
		    path);
		return -1;
	}
	if (sqlite3_open_v2(path, &conn, SQLITE_OPEN_READWRITE, NULL) !=
	    SQLITE_OK) {
		kw_seterr(err, errlen, "%s: %s", path,
		    conn != NULL ? sqlite3_errmsg(conn) : "out of memory");
		goto out;
	}
	sqlite3_busy_timeout(conn, 1000);
	why[0] = '\0';
	version = probe_int(conn, "PRAGMA user_version", why, sizeof(why));
	ntables = probe_int(conn, "SELECT count(*) FROM sqlite_master", why,
	    sizeof(why));
	ours = probe_int(conn,
	    "SELECT count(*) FROM sqlite_master WHERE"
	    " type = 'table' AND name IN ('stream_state', 'sys_metrics',"
	    " 'processes')",
	    why, sizeof(why));
	if (version < 0 || ntables < 0 || ours < 0)
		kw_seterr(err, errlen, "%s: %s", path, why);
	else if (version > RDB_SCHEMA_VERSION)
		kw_seterr(err, errlen,
		    "%s: schema version %lld is newer than "
		    "this recorder's (%d)",
		    path, (long long)version, RDB_SCHEMA_VERSION);
	else if (ntables == 0)
		rc = 0;
	else if (version >= 1 || ours > 0)
		rc = 1;
	else
		kw_seterr(err, errlen,
		    "%s: a SQLite database without kwarden's "
		    "tables: not a kwarden database, left as it is",
		    path);
out:
	sqlite3_close(conn);
	return rc;
}
