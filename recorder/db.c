/*
 * The recorder's SQLite database: schema and migrations (PRAGMA
 * user_version), one transaction per batch with the stream's resume
 * point, retention in small chunks. Synchronous; one thread at a time.
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
 * Migrations, in order. A step belongs to the schema version it brings
 * the database to; all steps of one version run in one transaction with
 * the user_version bump. A step with table and column set adds that
 * column and is skipped when the column already exists, so a database
 * created by the seed (user_version 0, seed columns only) and a fresh
 * one end up identical. Later versions append steps; never edit old ones.
 */
struct migration {
	int		 version;
	const char	*table;		/* ADD COLUMN steps: skip if present */
	const char	*column;
	const char	*sql;
};

#define ADD_COLUMN(v, t, c, decl) \
	{ v, t, c, "ALTER TABLE " t " ADD COLUMN " c " " decl }

static const struct migration migrations[] = {
	/* 1: the seed's four tables, exactly as the seed creates them. */
	{ 1, NULL, NULL,
	    "CREATE TABLE IF NOT EXISTS containers ("
	    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
	    " container_id TEXT, pid INTEGER, image TEXT,"
	    " cpu_pct REAL, mem_pct REAL, ts INTEGER)" },
	{ 1, NULL, NULL,
	    "CREATE TABLE IF NOT EXISTS deletions ("
	    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
	    " container_id TEXT, reason TEXT, ts INTEGER)" },
	{ 1, NULL, NULL,
	    "CREATE TABLE IF NOT EXISTS sys_metrics ("
	    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
	    " mem_total_kb INTEGER, mem_free_kb INTEGER,"
	    " mem_used_kb INTEGER, ts INTEGER)" },
	{ 1, NULL, NULL,
	    "CREATE TABLE IF NOT EXISTS process_count ("
	    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
	    " total INTEGER, ts INTEGER)" },
	/* 1: kwarden's columns on the seed tables. */
	ADD_COLUMN(1, "containers", "name", "TEXT"),
	ADD_COLUMN(1, "containers", "class", "TEXT"),
	ADD_COLUMN(1, "containers", "rss_kb", "INTEGER"),
	ADD_COLUMN(1, "containers", "nprocs", "INTEGER"),
	ADD_COLUMN(1, "containers", "epoch", "INTEGER"),
	ADD_COLUMN(1, "containers", "seq", "INTEGER"),
	ADD_COLUMN(1, "deletions", "name", "TEXT"),
	ADD_COLUMN(1, "deletions", "image", "TEXT"),
	ADD_COLUMN(1, "deletions", "class", "TEXT"),
	ADD_COLUMN(1, "deletions", "action", "TEXT"),
	ADD_COLUMN(1, "deletions", "result", "TEXT"),
	ADD_COLUMN(1, "deletions", "cpu_pct", "REAL"),
	ADD_COLUMN(1, "deletions", "mem_pct", "REAL"),
	ADD_COLUMN(1, "deletions", "epoch", "INTEGER"),
	ADD_COLUMN(1, "deletions", "seq", "INTEGER"),
	ADD_COLUMN(1, "sys_metrics", "mem_available_kb", "INTEGER"),
	ADD_COLUMN(1, "sys_metrics", "cpu_pct", "REAL"),
	ADD_COLUMN(1, "sys_metrics", "epoch", "INTEGER"),
	ADD_COLUMN(1, "sys_metrics", "seq", "INTEGER"),
	ADD_COLUMN(1, "process_count", "epoch", "INTEGER"),
	ADD_COLUMN(1, "process_count", "seq", "INTEGER"),
	/* 1: kwarden's own tables. */
	{ 1, NULL, NULL,
	    "CREATE TABLE IF NOT EXISTS processes ("
	    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
	    " pid INTEGER, name TEXT, cmdline TEXT, container_id TEXT,"
	    " cpu_pct REAL, mem_pct REAL, rss_kb INTEGER, ts INTEGER,"
	    " epoch INTEGER, seq INTEGER)" },
	{ 1, NULL, NULL,
	    "CREATE TABLE IF NOT EXISTS stream_state ("
	    " stream TEXT PRIMARY KEY, epoch INTEGER, seq INTEGER)" },
	/* 1: time ranges for Grafana and retention. */
	{ 1, NULL, NULL,
	    "CREATE INDEX IF NOT EXISTS containers_ts ON containers(ts)" },
	{ 1, NULL, NULL,
	    "CREATE INDEX IF NOT EXISTS deletions_ts ON deletions(ts)" },
	{ 1, NULL, NULL,
	    "CREATE INDEX IF NOT EXISTS sys_metrics_ts ON sys_metrics(ts)" },
	{ 1, NULL, NULL,
	    "CREATE INDEX IF NOT EXISTS process_count_ts"
	    " ON process_count(ts)" },
	{ 1, NULL, NULL,
	    "CREATE INDEX IF NOT EXISTS processes_ts ON processes(ts)" },
};

#define NMIGRATIONS	(sizeof(migrations) / sizeof(migrations[0]))

static const char *const table_names[RDB__NTABLES] = {
	[RDB_SYS_METRICS] = "sys_metrics",
	[RDB_PROCESS_COUNT] = "process_count",
	[RDB_CONTAINERS] = "containers",
	[RDB_PROCESSES] = "processes",
	[RDB_DELETIONS] = "deletions",
};

static const char *const insert_sql[RDB__NTABLES] = {
	[RDB_SYS_METRICS] =
	    "INSERT INTO sys_metrics (mem_total_kb, mem_free_kb,"
	    " mem_used_kb, ts, mem_available_kb, cpu_pct, epoch, seq)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[RDB_PROCESS_COUNT] =
	    "INSERT INTO process_count (total, ts, epoch, seq)"
	    " VALUES (?1, ?2, ?3, ?4)",
	[RDB_CONTAINERS] =
	    "INSERT INTO containers (container_id, pid, image, cpu_pct,"
	    " mem_pct, ts, name, class, rss_kb, nprocs, epoch, seq)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
	[RDB_PROCESSES] =
	    "INSERT INTO processes (pid, name, cmdline, container_id,"
	    " cpu_pct, mem_pct, rss_kb, ts, epoch, seq)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
	[RDB_DELETIONS] =
	    "INSERT INTO deletions (container_id, reason, ts, name, image,"
	    " class, action, result, cpu_pct, mem_pct, epoch, seq)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
};

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

struct rdb {
	sqlite3		*conn;
	sqlite3_stmt	*ins[RDB__NTABLES];
	sqlite3_stmt	*prune[RDB__NTABLES];
	sqlite3_stmt	*st[ST__COUNT];
};

static void
seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static void
dberr(struct rdb *db, char *err, size_t errlen, const char *what)
{
	seterr(err, errlen, "%s: %s", what, sqlite3_errmsg(db->conn));
}

const char *
rdb_table_name(enum rdb_table t)
{
	if (t >= RDB__NTABLES)
		return "?";
	return table_names[t];
}

static int
exec(struct rdb *db, const char *sql, char *err, size_t errlen)
{
	char	*msg = NULL;

	if (sqlite3_exec(db->conn, sql, NULL, NULL, &msg) != SQLITE_OK) {
		seterr(err, errlen, "%s: %s", sql,
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
	sqlite3_stmt	*st;
	int64_t		 v = -1;

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
	sqlite3_stmt	*st;
	int		 found = 0, rc;

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

static int
migrate(struct rdb *db, char *err, size_t errlen)
{
	char	 buf[64];
	size_t	 i;
	int	 from, v, have;

	from = rdb_user_version(db);
	if (from < 0) {
		dberr(db, err, errlen, "PRAGMA user_version");
		return -1;
	}
	if (from > RDB_SCHEMA_VERSION) {
		seterr(err, errlen, "schema version %d is newer than this "
		    "recorder's (%d)", from, RDB_SCHEMA_VERSION);
		return -1;
	}
	for (v = from + 1; v <= RDB_SCHEMA_VERSION; v++) {
		if (exec(db, "BEGIN IMMEDIATE", err, errlen) == -1)
			return -1;
		for (i = 0; i < NMIGRATIONS; i++) {
			const struct migration *m = &migrations[i];

			if (m->version != v)
				continue;
			if (m->table != NULL) {
				have = has_column(db, m->table, m->column);
				if (have == -1) {
					dberr(db, err, errlen, m->table);
					goto fail;
				}
				if (have)
					continue;
			}
			if (exec(db, m->sql, err, errlen) == -1)
				goto fail;
		}
		snprintf(buf, sizeof(buf), "PRAGMA user_version = %d", v);
		if (exec(db, buf, err, errlen) == -1 ||
		    exec(db, "COMMIT", err, errlen) == -1)
			goto fail;
	}
	return 0;
 fail:
	sqlite3_exec(db->conn, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

static int
set_wal(struct rdb *db, char *err, size_t errlen)
{
	sqlite3_stmt	*st;
	const char	*mode;
	int		 rc = -1;

	if (sqlite3_prepare_v2(db->conn, "PRAGMA journal_mode = WAL", -1, &st,
	    NULL) != SQLITE_OK) {
		dberr(db, err, errlen, "PRAGMA journal_mode");
		return -1;
	}
	if (sqlite3_step(st) != SQLITE_ROW)
		dberr(db, err, errlen, "PRAGMA journal_mode");
	else if ((mode = (const char *)sqlite3_column_text(st, 0)) == NULL)
		seterr(err, errlen, "PRAGMA journal_mode: out of memory");
	else if (strcmp(mode, "wal") != 0)
		seterr(err, errlen, "cannot use WAL here (journal_mode is %s)",
		    mode);
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
		seterr(err, errlen, "prepare %s: %s", sql,
		    sqlite3_errmsg(db->conn));
		return -1;
	}
	return 0;
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
	int	fd;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
	    O_NOFOLLOW, 0640)) == -1) {
		if (errno == EEXIST)
			return 0;
		seterr(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fchmod(fd, 0640) == -1) {
		seterr(err, errlen, "%s: chmod 0640: %s", path,
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
	struct rdb	*db;
	char		 sql[160];
	int		 i, rc;

	if ((db = calloc(1, sizeof(*db))) == NULL) {
		seterr(err, errlen, "%s: out of memory", path);
		return NULL;
	}
	if (strcmp(path, ":memory:") != 0 && path[0] != '\0' &&
	    strncmp(path, "file:", 5) != 0 &&
	    create_file(path, err, errlen) == -1)
		goto fail;
	rc = sqlite3_open_v2(path, &db->conn,
	    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (rc != SQLITE_OK) {
		seterr(err, errlen, "%s: %s", path, db->conn != NULL ?
		    sqlite3_errmsg(db->conn) : sqlite3_errstr(rc));
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
		if (prepare(db, insert_sql[i], &db->ins[i], err, errlen) == -1)
			goto fail;
		snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE id IN"
		    " (SELECT id FROM %s WHERE ts < ?1 LIMIT ?2)",
		    table_names[i], table_names[i]);
		if (prepare(db, sql, &db->prune[i], err, errlen) == -1)
			goto fail;
	}
	for (i = 0; i < ST__COUNT; i++)
		if (prepare(db, misc_sql[i], &db->st[i], err, errlen) == -1)
			goto fail;
	return db;
 fail:
	rdb_close(db);
	return NULL;
}

int
rdb_close(struct rdb *db)
{
	int	i, rc;

	if (db == NULL)
		return 0;
	for (i = 0; i < RDB__NTABLES; i++) {
		sqlite3_finalize(db->ins[i]);
		sqlite3_finalize(db->prune[i]);
	}
	for (i = 0; i < ST__COUNT; i++)
		sqlite3_finalize(db->st[i]);
	rc = sqlite3_close(db->conn);
	free(db);
	return rc == SQLITE_OK ? 0 : -1;
}

/* Step a statement that returns no rows, then reset it. */
static int
run(struct rdb *db, sqlite3_stmt *st, char *err, size_t errlen)
{
	int	rc;

	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		seterr(err, errlen, "%s: %s", sqlite3_sql(st),
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

static int
insert(struct rdb *db, const struct rec *r, uint64_t rows[RDB__NTABLES],
    char *err, size_t errlen)
{
	sqlite3_stmt			*st;
	const struct kw_sys_rec		*s;
	const struct kw_container_rec	*c;
	const struct kw_deletion_rec	*d;
	const struct rec_proc		*p;

	switch (r->kind) {
	case REC_SKIP:
		return 0;
	case REC_SYS:
		s = &((const struct rec_sys *)r)->r;
		st = db->ins[RDB_SYS_METRICS];
		bind_u64(st, 1, s->mem_total_kb);
		bind_u64(st, 2, s->mem_free_kb);
		bind_u64(st, 3, s->mem_used_kb);
		sqlite3_bind_int64(st, 4, r->ts);
		bind_u64(st, 5, s->mem_available_kb);
		sqlite3_bind_double(st, 6, s->cpu_pct);
		bind_u64(st, 7, r->epoch);
		bind_u64(st, 8, r->seq);
		if (run(db, st, err, errlen) == -1)
			return -1;
		rows[RDB_SYS_METRICS]++;
		st = db->ins[RDB_PROCESS_COUNT];
		bind_u64(st, 1, s->nprocs);
		sqlite3_bind_int64(st, 2, r->ts);
		bind_u64(st, 3, r->epoch);
		bind_u64(st, 4, r->seq);
		if (run(db, st, err, errlen) == -1)
			return -1;
		rows[RDB_PROCESS_COUNT]++;
		return 0;
	case REC_CONTAINER:
		c = &((const struct rec_container *)r)->r;
		st = db->ins[RDB_CONTAINERS];
		bind_str(st, 1, c->container_id);
		sqlite3_bind_int(st, 2, c->pid);
		bind_str(st, 3, c->image);
		sqlite3_bind_double(st, 4, c->cpu_pct);
		sqlite3_bind_double(st, 5, c->mem_pct);
		sqlite3_bind_int64(st, 6, r->ts);
		bind_str(st, 7, c->name);
		bind_str(st, 8, c->class_name);
		bind_u64(st, 9, c->rss_kb);
		sqlite3_bind_int64(st, 10, c->nprocs);
		bind_u64(st, 11, r->epoch);
		bind_u64(st, 12, r->seq);
		if (run(db, st, err, errlen) == -1)
			return -1;
		rows[RDB_CONTAINERS]++;
		return 0;
	case REC_PROC:
		p = (const struct rec_proc *)r;
		st = db->ins[RDB_PROCESSES];
		sqlite3_bind_int(st, 1, p->pid);
		bind_str(st, 2, p->name);
		bind_str(st, 3, p->cmdline);
		bind_str(st, 4, p->container_id);
		sqlite3_bind_double(st, 5, p->cpu_pct);
		sqlite3_bind_double(st, 6, p->mem_pct);
		bind_u64(st, 7, p->rss_kb);
		sqlite3_bind_int64(st, 8, r->ts);
		bind_u64(st, 9, r->epoch);
		bind_u64(st, 10, r->seq);
		if (run(db, st, err, errlen) == -1)
			return -1;
		rows[RDB_PROCESSES]++;
		return 0;
	case REC_DELETION:
		d = &((const struct rec_deletion *)r)->r;
		st = db->ins[RDB_DELETIONS];
		bind_str(st, 1, d->container_id);
		bind_str(st, 2, d->reason);
		sqlite3_bind_int64(st, 3, r->ts);
		bind_str(st, 4, d->name);
		bind_str(st, 5, d->image);
		bind_str(st, 6, d->class_name);
		bind_str(st, 7, d->action);
		bind_str(st, 8, d->result);
		sqlite3_bind_double(st, 9, d->cpu_pct);
		sqlite3_bind_double(st, 10, d->mem_pct);
		bind_u64(st, 11, r->epoch);
		bind_u64(st, 12, r->seq);
		if (run(db, st, err, errlen) == -1)
			return -1;
		rows[RDB_DELETIONS]++;
		return 0;
	}
	seterr(err, errlen, "record seq %llu: unknown kind %d",
	    (unsigned long long)r->seq, (int)r->kind);
	return -1;
}

int
rdb_write_batch(struct rdb *db, const struct rec *head, const char *stream,
    uint64_t epoch, uint64_t last_seq, uint64_t rows[RDB__NTABLES],
    char *err, size_t errlen)
{
	uint64_t	 n[RDB__NTABLES] = { 0 };
	const struct rec *r;
	sqlite3_stmt	*st;

	if (run(db, db->st[ST_BEGIN], err, errlen) == -1)
		return -1;
	for (r = head; r != NULL; r = r->next)
		if (insert(db, r, n, err, errlen) == -1)
			goto fail;
	st = db->st[ST_STATE_SET];
	bind_str(st, 1, stream);
	bind_u64(st, 2, epoch);
	bind_u64(st, 3, last_seq);
	if (run(db, st, err, errlen) == -1)
		goto fail;
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
	sqlite3_stmt	*st = db->st[ST_STATE_GET];
	int		 rc, found = 0;

	bind_str(st, 1, stream);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*epoch = (uint64_t)sqlite3_column_int64(st, 0);
		*seq = (uint64_t)sqlite3_column_int64(st, 1);
		found = 1;
	} else if (rc != SQLITE_DONE) {
		seterr(err, errlen, "stream_state %s: %s", stream,
		    sqlite3_errstr(rc));
		found = -1;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return found;
}

int64_t
rdb_prune(struct rdb *db, int64_t cutoff_ts, int chunk,
    uint64_t pruned[RDB__NTABLES], char *err, size_t errlen)
{
	sqlite3_stmt	*st;
	int64_t		 total = 0;
	int		 i, n;

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
