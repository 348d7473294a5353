/*
 * kwarden-recorder: decoded decider records queued in memory (batch.c)
 * and written to SQLite in one transaction per batch (db.c).
 */
#ifndef RECORDER_H
#define RECORDER_H

#include <stddef.h>
#include <stdint.h>

#include "kwarden.h"

/* batch.c */
enum rec_kind {
	REC_SKIP,      /* a message that gives no row: seq only */
	REC_SYS,       /* sys_metrics + process_count */
	REC_CONTAINER, /* containers */
	REC_PROC,      /* processes */
	REC_DELETION,  /* deletions */
	REC_END,       /* the decider's last message: no row */
	REC_DECISION,  /* decisions */
	REC_POLICY,    /* policy */
};

/*
 * One decider message, decoded. Each kind has its own struct that starts
 * with this header, allocated at its own size (a queue of 100k rows must
 * not cost 4 KiB per row for the cmdline buffer).
 */
struct rec {
	struct rec *next;
	enum rec_kind kind;
	uint64_t epoch; /* the producer's epoch */
	uint64_t seq;
	int64_t ts;	    /* unix seconds */
	uint64_t queued_ms; /* the loop's clock when it was queued */
};

struct rec_sys {
	struct rec h;
	struct kw_sys_rec r;
};

struct rec_container {
	struct rec h;
	struct kw_container_rec r;
};

struct rec_deletion {
	struct rec h;
	struct kw_deletion_rec r;
};

struct rec_decision {
	struct rec h;
	struct kw_decision_rec r;
};

struct rec_policy {
	struct rec h;
	struct kw_policy_rec r;
};

/*
 * A proc record keeps the bytes of its kw_proc_rec only up to the end of
 * the cmdline string (cmdline is the struct's last member): a queue of
 * 100k rows must not cost 4 KiB per row. Read it through rec_body and the
 * schema's offsets; rec_proc_new makes one.
 */
struct rec_slab;
struct rec_proc {
	struct rec h;
	struct rec_slab *slab; /* where it was carved from; NULL: malloc'd */
	unsigned char body[];
};

/* A FIFO of records; nrows counts the table rows they become. */
struct rec_queue {
	struct rec *head;
	struct rec **tailp;
	size_t nrecs;
	size_t nrows;
};

void rq_init(struct rec_queue *q);
void rq_push(struct rec_queue *q, struct rec *r);
/*
 * Move the oldest records into out (which must be empty): all of one
 * epoch, at most max_rows rows but never less than one record.
 */
void rq_take(struct rec_queue *q, size_t max_rows, struct rec_queue *out);
void rq_free(struct rec_queue *q);
/* Free the n oldest records (the ones a job committed). */
void rq_drop(struct rec_queue *q, size_t n);
/*
 * One commit's worth of the records from head on, by rq_take's rule: at
 * most max_rows rows but never less than one record. Returns the record
 * after them (NULL: the list's end); *n their number, *last the last one.
 */
const struct rec *rq_batch_end(const struct rec *head, size_t max_rows,
    size_t *n, const struct rec **last);
/* A record and what its body holds on the heap (a deletion's evidence). */
void rec_free(struct rec *r);
/* Rows a record of this kind writes (sys: 2, skip: 0, others: 1). */
size_t rec_rows(const struct rec *r);
/*
 * Decode one decider message into a new record. On a message of the
 * wrong shape (or of a type the recorder does not store) it returns a
 * REC_SKIP record with err set, so the seq still counts as handled.
 * NULL only when out of memory.
 */
struct rec *rec_decode(const struct kw_msg *msg, uint64_t epoch, char *err,
    size_t errlen);
/*
 * A REC_PROC record holding r (epoch, seq, ts zero); NULL on ENOMEM. The
 * decoder's own come from slabs instead (loop thread only, batch.c).
 */
struct rec *rec_proc_new(const struct kw_proc_rec *r);
/* The decoded record (a kw_*_rec) and its schema; NULL for REC_SKIP. */
const void *rec_body(const struct rec *r);
const struct kw_schema *rec_schema(enum rec_kind kind);

/* db.c */
enum rdb_table {
	RDB_SYS_METRICS,
	RDB_PROCESS_COUNT,
	RDB_CONTAINERS,
	RDB_PROCESSES,
	RDB_DELETIONS,
	RDB_DECISIONS,
	RDB_POLICY,
	RDB__NTABLES,
};

#define RDB_SCHEMA_VERSION 1

struct rdb;

/* Table names in enum rdb_table order. */
const char *rdb_table_name(enum rdb_table t);
/*
 * The SQL the recorder runs for a data table, built from its record's
 * schema: the columns of every field stored there, then ts, epoch, seq.
 * sqlite3_malloc'd (sqlite3_free it); NULL when out of memory.
 */
char *rdb_create_sql(enum rdb_table t);
char *rdb_insert_sql(enum rdb_table t);
/*
 * Open (create) the database: WAL, synchronous=NORMAL, busy_timeout;
 * create the tables that are missing and add the columns that are missing
 * (rows are kept), set user_version to RDB_SCHEMA_VERSION, prepare the
 * statements. NULL with err set.
 */
struct rdb *rdb_open(const char *path, int busy_timeout_ms, char *err,
    size_t errlen);
/*
 * Write every record of the list starting at head (NULL-terminated) and
 * the stream's resume point (epoch, last_seq) in one transaction. On
 * error nothing is written: -1 with the SQLite error in err. rows[] (may
 * be NULL) gets the rows written per table.
 */
int rdb_write_batch(struct rdb *db, const struct rec *head, const char *stream,
    uint64_t epoch, uint64_t last_seq, uint64_t rows[RDB__NTABLES], char *err,
    size_t errlen);
/* The same for the records from head up to end (excluded; NULL: all). */
int rdb_write_recs(struct rdb *db, const struct rec *head,
    const struct rec *end, const char *stream, uint64_t epoch,
    uint64_t last_seq, uint64_t rows[RDB__NTABLES], char *err, size_t errlen);
/* 1 and (epoch, seq) when the stream has a resume point, 0 if not, -1. */
int rdb_load_state(struct rdb *db, const char *stream, uint64_t *epoch,
    uint64_t *seq, char *err, size_t errlen);
/*
 * 1 when the resume point (epoch, seq) is the producer's end message (a
 * batch ending with REC_END stored it as "STREAM.end"), else 0.
 */
int rdb_state_ended(struct rdb *db, const char *stream, uint64_t epoch,
    uint64_t seq);
/*
 * Delete rows with ts < cutoff_ts, at most chunk rows per table. Returns
 * the rows deleted (pruned[] per table, may be NULL), -1 on error.
 */
int64_t rdb_prune(struct rdb *db, int64_t cutoff_ts, int chunk,
    uint64_t pruned[RDB__NTABLES], char *err, size_t errlen);
/*
 * 1 when the files at the database's path are no longer the ones open
 * (the database, its -wal or -shm deleted or replaced: what says which),
 * else 0. Notes the identity of files that appeared since the last call.
 */
int rdb_file_changed(struct rdb *db, char *what, size_t whatlen);
/*
 * Close a database whose files changed (rdb_file_changed): checkpoint
 * into the file it has open, close, and remove the -wal and -shm at the
 * path that were its own (SQLite leaves them when the file moved).
 */
int rdb_close_moved(struct rdb *db);
/*
 * What is at path, before opening it again: 0 nothing (absent, empty or
 * a SQLite database without tables: rdb_open makes it), 1 a kwarden
 * database, -1 anything else or an error (err says which): a file that
 * is not ours is never written to.
 */
int rdb_probe(const char *path, char *err, size_t errlen);
/* PRAGMA user_version of the open database. */
int rdb_user_version(struct rdb *db);
/* Finalize every statement and close: 0, or -1 if sqlite3_close failed. */
int rdb_close(struct rdb *db);

#endif /* RECORDER_H */
