/*
 * kwarden-recorder: subscribes to the decider's stream as a durable
 * consumer, batches its records into SQLite (one DB job at a time in the
 * libuv worker pool), acks what it committed and prunes old rows.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>
#include <sqlite3.h>
#include <uv.h>

#include "kwarden.h"
#include "recorder.h"

#define STREAM		   "decider"
#define BUSY_TIMEOUT_MS	   5000
#define BACKOFF_MIN_MS	   100
#define BACKOFF_MAX_MS	   5000
#define PRUNE_FIRST_MAX_MS (60 * 1000)
/* Failed writes tolerated while stopping before we give up on the rest. */
#define STOP_ATTEMPTS 3
/*
 * Batches one write job commits, one transaction each, when that many are
 * waiting: each job is a round trip through the loop thread (its result,
 * the next job), and on a busy machine the worker would wait there.
 */
#define JOB_BATCHES 8

enum job {
	JOB_NONE,
	JOB_WRITE,
	JOB_PRUNE,
};

struct recorder {
	struct kw_daemon d;
	struct rdb *db; /* NULL: to open again */
	char *db_path;
	struct kw_sub *sub;
	struct kw_ctl *ctl;
	uv_timer_t flush_timer; /* batch_delay */
	uv_timer_t retry_timer; /* backoff after a failure */
	uv_timer_t prune_timer; /* prune_interval */
	uv_work_t work;

	/* tunables */
	size_t batch_rows;
	uint64_t batch_delay_ms;
	size_t max_pending_rows;
	uint64_t retention_ms;
	uint64_t prune_interval_ms;
	int prune_chunk;

	/* the records waiting, and the batch being written */
	struct rec_queue pending;
	struct rec_queue inflight;
	uint64_t inflight_epoch;
	uint64_t inflight_seq; /* last seq of the batch */
	uint64_t queued_epoch; /* last record queued */
	uint64_t queued_seq;
	enum job job; /* running in the worker */
	int flush_due;
	int retry_wait;
	int prune_due;
	int paused;
	int finished;
	uint64_t backoff_ms;
	unsigned int stop_failures;
	int gave_up; /* exit 1: rows not written */

	/* job results: written by the worker, read by after_work */
	int job_rc;
	char job_err[256];
	uint64_t job_rows[RDB__NTABLES];
	uint64_t job_ns;
	size_t job_batch_rows;	/* for the worker */
	size_t job_done_recs;	/* committed: the first of inflight */
	uint64_t job_done_seq;	/* the last of them */
	uint64_t job_commits;	/* transactions committed */
	uint64_t job_last_rows; /* rows of the last one */
	uint64_t job_commit_ns; /* its time */
	int64_t job_pruned;
	uint64_t job_retention_ms; /* for the worker */
	int job_prune_chunk;
	char job_event[256]; /* the file changed */
	int job_reopened;
	int job_refused;

	/* counters for status */
	uint64_t messages;
	uint64_t rows_written[RDB__NTABLES];
	uint64_t batches;
	uint64_t last_batch_rows;
	double last_commit_ms;
	uint64_t committed_epoch;
	uint64_t committed_seq;
	uint64_t db_errors;
	char last_db_error[320];
	uint64_t last_db_error_ts;
	uint64_t skipped; /* wrong shape or type */
	uint64_t duplicates;
	uint64_t gaps;
	uint64_t gap_msgs;
	uint64_t pruned[RDB__NTABLES];
	uint64_t prune_runs;
	uint64_t pauses;
	uint64_t oom;
	/* the file at paths.database (docs/reliability.md) */
	uint64_t file_events; /* deleted or replaced */
	uint64_t reopens;
	uint64_t refusals;
	int file_refused; /* what is there is not ours */
	char file_event[256];
	uint64_t file_event_ts;
	uint64_t file_event_seq; /* committed then */
	uint64_t file_first_seq; /* first in this file */
	int file_fresh;		 /* no commit yet in it */
};

static void schedule(struct recorder *);

static void
noop_close(uv_handle_t *h)
{
}

static size_t
unwritten_rows(const struct recorder *rc)
{
	return rc->pending.nrows + rc->inflight.nrows;
}

static void
read_tunables(struct recorder *rc)
{
	const struct kw_conf *conf = rc->d.conf;
	uint64_t v;

	rc->batch_rows = kw_conf_int(conf, "recorder.batch_rows");
	rc->batch_delay_ms = kw_conf_ms(conf, "recorder.batch_delay");
	rc->max_pending_rows = kw_conf_int(conf, "recorder.max_pending_rows");
	rc->retention_ms = kw_conf_ms(conf, "recorder.retention");
	rc->prune_interval_ms = kw_conf_ms(conf, "recorder.prune_interval");
	v = kw_conf_int(conf, "recorder.prune_chunk");
	rc->prune_chunk = v > INT_MAX ? INT_MAX : (int)v;
	if (rc->batch_rows == 0)
		rc->batch_rows = 1;
	if (rc->max_pending_rows < rc->batch_rows)
		rc->max_pending_rows = rc->batch_rows;
	if (rc->prune_chunk < 1)
		rc->prune_chunk = 1;
}

/* Create the directory the database lives in: 0750, as the run directory. */
static int
mkdir_parent(const char *path)
{
	char buf[4096], *slash;

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((slash = strrchr(buf, '/')) == NULL || slash == buf)
		return 0;
	*slash = '\0';
	return kw_mkdir_p(buf, 0750);
}

static void
db_error(struct recorder *rc, const char *what, const char *err)
{
	rc->db_errors++;
	snprintf(rc->last_db_error, sizeof(rc->last_db_error), "%s: %s", what,
	    err);
	rc->last_db_error_ts = kw_now_ns();
}

/* Backpressure: stop reading above max_pending_rows, resume under half. */
static void
check_pressure(struct recorder *rc)
{
	if (rc->sub == NULL)
		return;
	if (!rc->paused && unwritten_rows(rc) > rc->max_pending_rows) {
		rc->paused = 1;
		rc->pauses++;
		log_info("%zu rows not written yet (max_pending_rows %zu): "
			 "pausing the %s stream",
		    unwritten_rows(rc), rc->max_pending_rows, STREAM);
		kw_sub_pause(rc->sub);
	} else if (rc->paused &&
	    unwritten_rows(rc) <= rc->max_pending_rows / 2) {
		rc->paused = 0;
		log_info("%zu rows not written: resuming the %s stream",
		    unwritten_rows(rc), STREAM);
		/* May deliver messages right away: state must be settled. */
		kw_sub_resume(rc->sub);
	}
}

/*
 * Worker side, before a write: the database file must still be the one
 * at the path. When it (or its -wal or -shm) was deleted or replaced, the
 * connection is closed (SQLite checkpoints into the file it had open and
 * removes the -wal and -shm it made) and the path is opened again: made
 * anew with the schema when nothing is there, used when it is a kwarden
 * database, refused (-1, never written to) when it is anything else.
 */
static int
db_check(struct recorder *rc)
{
	if (rc->db != NULL) {
		if (!rdb_file_changed(rc->db, rc->job_event,
			sizeof(rc->job_event)))
			return 0;
		(void)rdb_close_moved(rc->db);
		rc->db = NULL;
	}
	if (rdb_probe(rc->db_path, rc->job_err, sizeof(rc->job_err)) == -1) {
		rc->job_refused = 1;
		return -1;
	}
	if ((rc->db = rdb_open(rc->db_path, BUSY_TIMEOUT_MS, rc->job_err,
		 sizeof(rc->job_err))) == NULL)
		return -1;
	rc->job_reopened = 1;
	return 0;
}

/*
 * Worker side: the inflight records, one transaction per batch_rows rows,
 * each with its resume point. The first failure ends the job: what was
 * committed before it is counted (job_done_recs), the rest is retried.
 */
static void
write_job(struct recorder *rc)
{
	const struct rec *head = rc->inflight.head, *end, *last;
	uint64_t rows[RDB__NTABLES], t;
	char what[200];
	size_t n, i;

	rc->job_done_recs = 0;
	rc->job_commits = 0;
	memset(rc->job_rows, 0, sizeof(rc->job_rows));
	if (db_check(rc) == -1) {
		rc->job_rc = -1;
		return;
	}
	rc->job_rc = 0;
	for (; head != NULL; head = end) {
		end = rq_batch_end(head, rc->job_batch_rows, &n, &last);
		t = kw_mono_ns();
		rc->job_rc = rdb_write_recs(rc->db, head, end, STREAM,
		    rc->inflight_epoch, last->seq, rows, rc->job_err,
		    sizeof(rc->job_err));
		if (rc->job_rc == -1)
			return;
		/*
		 * Changed under the commit: it may have gone to the old file.
		 * Not acked; written again into the file at the path.
		 */
		if (rdb_file_changed(rc->db, what, sizeof(what))) {
			snprintf(rc->job_err, sizeof(rc->job_err),
			    "%s during "
			    "the commit: writing the batch again",
			    what);
			rc->job_rc = -2;
			return;
		}
		rc->job_commit_ns = kw_mono_ns() - t;
		rc->job_last_rows = 0;
		for (i = 0; i < RDB__NTABLES; i++) {
			rc->job_rows[i] += rows[i];
			rc->job_last_rows += rows[i];
		}
		rc->job_done_recs += n;
		rc->job_done_seq = last->seq;
		rc->job_commits++;
	}
}

/* The worker side: the only place the database is touched after start. */
static void
work_cb(uv_work_t *w)
{
	struct recorder *rc = w->data;
	uint64_t t0 = kw_mono_ns();
	int64_t cutoff;

	rc->job_err[0] = rc->job_event[0] = '\0';
	rc->job_reopened = rc->job_refused = 0;
	switch (rc->job) {
	case JOB_WRITE:
		write_job(rc);
		break;
	case JOB_PRUNE:
		if (rc->db == NULL) { /* opened by the next write */
			rc->job_pruned = 0;
			memset(rc->job_rows, 0, sizeof(rc->job_rows));
			rc->job_rc = 0;
			break;
		}
		cutoff = (int64_t)(kw_now_ns() / 1000000000ull) -
		    (int64_t)(rc->job_retention_ms / 1000);
		rc->job_pruned = rdb_prune(rc->db, cutoff, rc->job_prune_chunk,
		    rc->job_rows, rc->job_err, sizeof(rc->job_err));
		rc->job_rc = rc->job_pruned < 0 ? -1 : 0;
		break;
	case JOB_NONE:
		break;
	}
	rc->job_ns = kw_mono_ns() - t0;
}

static void
retry_cb(uv_timer_t *t)
{
	struct recorder *rc = t->data;

	rc->retry_wait = 0;
	schedule(rc);
}

/* Loop side: what db_check found, in the log and in status. */
static void
file_news(struct recorder *rc)
{
	if (rc->job_event[0] != '\0') {
		rc->file_events++;
		snprintf(rc->file_event, sizeof(rc->file_event), "%s",
		    rc->job_event);
		rc->file_event_ts = kw_now_ns();
		rc->file_event_seq = rc->committed_seq;
		db_error(rc, "database file", rc->job_event);
		log_warnx(
		    "database: %s under the recorder: rows up to seq %" PRIu64
		    " went to that file; opening %s again",
		    rc->job_event, rc->committed_seq, rc->db_path);
	}
	if (rc->job_refused) {
		rc->refusals++;
		if (!rc->file_refused)
			log_warnx("database: %s", rc->job_err);
		rc->file_refused = 1;
	}
	if (rc->job_reopened) {
		rc->reopens++;
		rc->file_refused = 0;
		rc->file_fresh = 1;
		log_warnx(
		    "database: %s opened again: writing from seq %" PRIu64,
		    rc->db_path,
		    rc->inflight.head != NULL ? rc->inflight.head->seq : 0);
	}
}

/* Loop side: the batches the job committed, off inflight, and the ack. */
static void
write_committed(struct recorder *rc)
{
	size_t i;
	uint64_t rows = 0;

	for (i = 0; i < RDB__NTABLES; i++) {
		rc->rows_written[i] += rc->job_rows[i];
		rows += rc->job_rows[i];
	}
	rc->batches += rc->job_commits;
	if (rc->file_fresh) {
		rc->file_first_seq = rc->inflight.head->seq;
		rc->file_fresh = 0;
	}
	rc->last_batch_rows = rc->job_last_rows;
	rc->last_commit_ms = (double)rc->job_commit_ns / 1e6;
	rc->committed_epoch = rc->inflight_epoch;
	rc->committed_seq = rc->job_done_seq;
	log_debug("committed %" PRIu64 " rows up to seq %" PRIu64
		  " in %" PRIu64 " transactions, %.1f ms",
	    rows, rc->committed_seq, rc->job_commits,
	    (double)rc->job_ns / 1e6);
	rq_drop(&rc->inflight, rc->job_done_recs);
	if (rc->sub != NULL) {
		struct kw_sub_stats st;

		kw_sub_stats(rc->sub, &st);
		/* An ack is a seq of the producer's current epoch only. */
		if (st.epoch == rc->committed_epoch)
			kw_sub_ack(rc->sub, rc->committed_seq);
	}
}

static void
write_done(struct recorder *rc)
{
	file_news(rc);
	if (rc->job_done_recs > 0)
		write_committed(rc);
	if (rc->job_rc == -2) {
		/* Written again at once, into the file now at the path. */
		log_warnx("database: %s", rc->job_err);
		return;
	}
	if (rc->job_rc == -1) {
		db_error(rc, "write", rc->job_err);
		if (rc->d.stopping && ++rc->stop_failures >= STOP_ATTEMPTS) {
			log_warnx(
			    "database: %s; stopping: giving up on %zu "
			    "unwritten rows (not acked: the decider replays "
			    "them from its ring on restart)",
			    rc->job_err, unwritten_rows(rc));
			rq_free(&rc->inflight);
			rq_free(&rc->pending);
			rc->gave_up = 1;
			return;
		}
		/* A refusal repeats each retry: logged once, in status. */
		if (!rc->job_refused || rc->refusals == 1 ||
		    rc->backoff_ms < BACKOFF_MAX_MS)
			log_warnx("database: batch of %zu rows (seq %" PRIu64
				  "): %s; retrying in %" PRIu64 " ms",
			    rc->inflight.nrows, rc->inflight_seq, rc->job_err,
			    rc->backoff_ms);
		rc->retry_wait = 1;
		uv_timer_start(&rc->retry_timer, retry_cb, rc->backoff_ms, 0);
		rc->backoff_ms =
		    kw_backoff_next(rc->backoff_ms, BACKOFF_MAX_MS);
		return;
	}
	if (rc->backoff_ms != BACKOFF_MIN_MS)
		log_info("database: writing again");
	rc->backoff_ms = BACKOFF_MIN_MS;
}

static void
prune_done(struct recorder *rc)
{
	size_t i;
	int more = 0;

	if (rc->job_rc == -1) {
		db_error(rc, "prune", rc->job_err);
		log_warnx("database: prune: %s", rc->job_err);
		return;
	}
	rc->prune_runs++;
	for (i = 0; i < RDB__NTABLES; i++) {
		rc->pruned[i] += rc->job_rows[i];
		if (rc->job_rows[i] >= (uint64_t)rc->prune_chunk)
			more = 1;
	}
	if (rc->job_pruned > 0)
		log_debug("pruned %" PRId64 " old rows", rc->job_pruned);
	/* A full chunk: more to delete, between batches. */
	rc->prune_due = more;
}

static void finish(struct recorder *);

static void
after_work_cb(uv_work_t *w, int status)
{
	struct recorder *rc = w->data;
	enum job job = rc->job;

	rc->job = JOB_NONE;
	if (status != 0) {
		rc->job_rc = -1;
		snprintf(rc->job_err, sizeof(rc->job_err), "%s",
		    uv_strerror(status));
	}
	if (job == JOB_WRITE)
		write_done(rc);
	else if (job == JOB_PRUNE)
		prune_done(rc);
	schedule(rc);
	check_pressure(rc);
}

static int
start_job(struct recorder *rc, enum job job)
{
	int r;

	rc->job = job;
	/* The worker reads its own copies: SIGHUP may change the tunables. */
	rc->job_retention_ms = rc->retention_ms;
	rc->job_prune_chunk = rc->prune_chunk;
	rc->job_batch_rows = rc->batch_rows;
	rc->work.data = rc;
	if ((r = uv_queue_work(rc->d.loop, &rc->work, work_cb,
		 after_work_cb)) != 0) {
		rc->job = JOB_NONE;
		log_warnx("uv_queue_work: %s", uv_strerror(r));
		return -1;
	}
	return 0;
}

static void
flush_cb(uv_timer_t *t)
{
	struct recorder *rc = t->data;

	rc->flush_due = 1;
	schedule(rc);
}

static void
prune_cb(uv_timer_t *t)
{
	struct recorder *rc = t->data;

	rc->prune_due = 1;
	schedule(rc);
}

/* The oldest pending record has waited batch_delay: its batch is due. */
static int
pending_aged(struct recorder *rc)
{
	return rc->pending.head != NULL &&
	    uv_now(rc->d.loop) >=
	    rc->pending.head->queued_ms + rc->batch_delay_ms;
}

/*
 * Start the next database job if none is running: the batches that failed
 * (after its backoff), else new batches when one is due, else a prune.
 * A batch is due when batch_rows rows wait, or batch_delay after the first
 * of them was queued; one job takes up to JOB_BATCHES of them (only whole
 * ones unless the oldest is due by its age). While stopping, everything
 * pending is due; when nothing is left, finish.
 */
static void
schedule(struct recorder *rc)
{
	struct rec *r;
	size_t nb;
	uint64_t now, due;

	if (rc->job != JOB_NONE || rc->finished)
		return;
	if (rc->inflight.nrecs > 0) {
		if (!rc->retry_wait)
			(void)start_job(rc, JOB_WRITE);
		return;
	}
	if (rc->pending.nrecs > 0 &&
	    (rc->d.stopping || rc->flush_due || pending_aged(rc) ||
		rc->pending.nrows >= rc->batch_rows)) {
		if (rc->d.stopping || rc->flush_due || pending_aged(rc))
			nb = JOB_BATCHES;
		else
			nb = rc->pending.nrows / rc->batch_rows;
		if (nb > JOB_BATCHES)
			nb = JOB_BATCHES;
		rq_take(&rc->pending, nb * rc->batch_rows, &rc->inflight);
		rc->inflight_epoch = rc->inflight.head->epoch;
		for (r = rc->inflight.head; r->next != NULL; r = r->next)
			;
		rc->inflight_seq = r->seq;
		rc->flush_due = 0;
		if (rc->pending.nrecs == 0)
			uv_timer_stop(&rc->flush_timer);
		else if (!rc->d.stopping) {
			/* Due batch_delay after the oldest left was queued. */
			now = uv_now(rc->d.loop);
			due = rc->pending.head->queued_ms + rc->batch_delay_ms;
			uv_timer_start(&rc->flush_timer, flush_cb,
			    due > now ? due - now : 0, 0);
		}
		(void)start_job(rc, JOB_WRITE);
		return;
	}
	if (rc->d.stopping) {
		if (rc->pending.nrecs == 0)
			finish(rc);
		return;
	}
	if (rc->prune_due) {
		rc->prune_due = 0;
		(void)start_job(rc, JOB_PRUNE);
	}
}

static void
on_msg(void *arg, const struct kw_msg *msg)
{
	struct recorder *rc = arg;
	struct kw_sub_stats st;
	struct rec *r;
	char err[256];

	if (rc->d.stopping || rc->sub == NULL)
		return;
	kw_sub_stats(rc->sub, &st);
	rc->messages++;
	if (st.epoch == rc->queued_epoch && msg->seq <= rc->queued_seq) {
		rc->duplicates++;
		log_warnx("%s: seq %" PRIu64 " already queued: dropped",
		    STREAM, msg->seq);
		return;
	}
	if ((r = rec_decode(msg, st.epoch, err, sizeof(err))) == NULL) {
		/* Lost like a gap: counted and logged, never silent. */
		rc->oom++;
		log_warnx("%s: seq %" PRIu64 " lost: out of memory", STREAM,
		    msg->seq);
		return;
	}
	if (r->kind == REC_SKIP) {
		/* Log the first few, then one in a thousand. */
		if (++rc->skipped <= 10 || rc->skipped % 1000 == 0)
			log_warnx("%s: seq %" PRIu64 " skipped (%" PRIu64
				  " so far): %s",
			    STREAM, msg->seq, rc->skipped, err);
	}
	rc->queued_epoch = r->epoch;
	rc->queued_seq = r->seq;
	r->queued_ms = uv_now(rc->d.loop);
	if (rc->pending.nrecs == 0)
		uv_timer_start(&rc->flush_timer, flush_cb, rc->batch_delay_ms,
		    0);
	rq_push(&rc->pending, r);
	schedule(rc);
	check_pressure(rc);
}

static void
on_event(void *arg, enum kw_sub_event ev, uint64_t from, uint64_t to)
{
	struct recorder *rc = arg;

	switch (ev) {
	case KW_SUB_CONNECTED:
		log_info("%s: stream up (epoch %" PRIu64 ")", STREAM, from);
		break;
	case KW_SUB_DISCONNECTED:
		log_info("%s: stream down", STREAM);
		break;
	case KW_SUB_GAP:
		rc->gaps++;
		rc->gap_msgs += to - from + 1;
		log_warnx("%s: messages %" PRIu64 "..%" PRIu64 " lost by the "
			  "producer",
		    STREAM, from, to);
		break;
	}
}

static json_t *
table_counts(const uint64_t v[RDB__NTABLES])
{
	json_t *o = json_object();
	int i;

	for (i = 0; i < RDB__NTABLES; i++)
		json_object_set_new(o, rdb_table_name(i),
		    json_integer((json_int_t)v[i]));
	return o;
}

static json_t *
cmd_status(void *arg, const char *args)
{
	struct recorder *rc = arg;
	struct kw_sub_stats st;
	json_t *o, *s;

	if ((o = kw_daemon_status(&rc->d)) == NULL)
		return NULL;
	json_object_set_new(o, "rows_written", table_counts(rc->rows_written));
	json_object_set_new(o, "batches", json_integer(rc->batches));
	json_object_set_new(o, "last_batch_rows",
	    json_integer(rc->last_batch_rows));
	json_object_set_new(o, "last_commit_ms",
	    json_real(rc->last_commit_ms));
	json_object_set_new(o, "pending_rows",
	    json_integer(unwritten_rows(rc)));
	json_object_set_new(o, "paused", json_boolean(rc->paused));
	json_object_set_new(o, "committed",
	    json_pack("{s:I,s:I}", "epoch", (json_int_t)rc->committed_epoch,
		"seq", (json_int_t)rc->committed_seq));
	json_object_set_new(o, "messages", json_integer(rc->messages));
	json_object_set_new(o, "skipped", json_integer(rc->skipped));
	json_object_set_new(o, "duplicates", json_integer(rc->duplicates));
	json_object_set_new(o, "gaps", json_integer(rc->gaps));
	json_object_set_new(o, "gap_messages", json_integer(rc->gap_msgs));
	json_object_set_new(o, "db_errors", json_integer(rc->db_errors));
	json_object_set_new(o, "last_db_error",
	    json_string(rc->last_db_error));
	json_object_set_new(o, "last_db_error_ts",
	    json_integer((json_int_t)rc->last_db_error_ts));
	json_object_set_new(o, "pruned_rows", table_counts(rc->pruned));
	json_object_set_new(o, "prune_runs", json_integer(rc->prune_runs));
	json_object_set_new(o, "pauses", json_integer(rc->pauses));
	json_object_set_new(o, "lost_oom", json_integer(rc->oom));
	json_object_set_new(o, "db_file",
	    json_pack("{s:s,s:s,s:I,s:I,s:I,"
		      "s:s,s:I,s:I,s:I}",
		"path", rc->db_path, "state",
		rc->file_refused			  ? "refused" :
		    rc->db == NULL && rc->file_events > 0 ? "reopening" :
							    "open",
		"events", (json_int_t)rc->file_events, "reopens",
		(json_int_t)rc->reopens, "refusals", (json_int_t)rc->refusals,
		"last_event", rc->file_event, "last_event_ts",
		(json_int_t)rc->file_event_ts, "committed_before",
		(json_int_t)rc->file_event_seq, "first_seq",
		(json_int_t)rc->file_first_seq));
	if (rc->sub != NULL) {
		kw_sub_stats(rc->sub, &st);
		s = kw_sub_stats_json(&st, STREAM);
		json_object_set_new(o, "sub", s);
	}
	return o;
}

static json_t *
cmd_config(void *arg, const char *args)
{
	struct recorder *rc = arg;

	return kw_conf_json(rc->d.conf);
}

static const struct kw_ctl_cmd commands[] = {
	{ "status", "counters, batches, resume point, last error",
	    cmd_status },
	{ "config", "the effective configuration", cmd_config },
	{ NULL, NULL, NULL },
};

/* Nothing pending and no job running: close everything. */
static void
finish(struct recorder *rc)
{
	if (rc->finished)
		return;
	rc->finished = 1;
	if (rdb_close(rc->db) == -1)
		log_warnx("database: close failed");
	rc->db = NULL;
	rq_free(&rc->pending);
	rq_free(&rc->inflight);
	uv_close((uv_handle_t *)&rc->flush_timer, noop_close);
	uv_close((uv_handle_t *)&rc->retry_timer, noop_close);
	uv_close((uv_handle_t *)&rc->prune_timer, noop_close);
	kw_ctl_close(rc->ctl);
	rc->ctl = NULL;
	log_info("committed up to epoch %" PRIu64 " seq %" PRIu64,
	    rc->committed_epoch, rc->committed_seq);
}

static void
on_stop(struct kw_daemon *d)
{
	struct recorder *rc = d->arg;

	/* No more messages; write what we have, then finish. */
	kw_sub_close(rc->sub);
	rc->sub = NULL;
	uv_timer_stop(&rc->flush_timer);
	uv_timer_stop(&rc->prune_timer);
	if (rc->retry_wait) {
		/* Try the failed batch once more right now. */
		uv_timer_stop(&rc->retry_timer);
		rc->retry_wait = 0;
	}
	log_info("stopping: %zu rows to write", unwritten_rows(rc));
	schedule(rc);
}

static void
on_reload(struct kw_daemon *d)
{
	struct recorder *rc = d->arg;
	struct kw_conf *conf;
	char err[512];

	if ((conf = kw_conf_reload(d->conf, err, sizeof(err))) == NULL) {
		log_warnx("reload: %s (keeping the running config)", err);
		return;
	}
	kw_conf_free(d->conf);
	d->conf = conf;
	read_tunables(rc);
	log_info("reloaded: batch_rows %zu, batch_delay %" PRIu64 " ms, "
		 "retention %" PRIu64 " s",
	    rc->batch_rows, rc->batch_delay_ms, rc->retention_ms / 1000);
	if (uv_is_active((uv_handle_t *)&rc->prune_timer))
		uv_timer_start(&rc->prune_timer, prune_cb,
		    rc->prune_interval_ms, rc->prune_interval_ms);
	check_pressure(rc);
	schedule(rc);
}

int
main(int argc, char **argv)
{
	static struct recorder rc;
	struct kw_sub_cb cb;
	uv_loop_t *loop = uv_default_loop();
	const char *path;
	char sock[512], err[512];
	uint64_t epoch = 0, seq = 0, first;
	int found, ex;

	kw_daemon_init(&rc.d, loop, argc, argv, "recorder", NULL);
	rc.d.arg = &rc;
	rc.d.on_stop = on_stop;
	rc.d.on_reload = on_reload;
	read_tunables(&rc);
	rq_init(&rc.pending);
	rq_init(&rc.inflight);
	rc.backoff_ms = BACKOFF_MIN_MS;
	rc.file_fresh = 1;

	/*
	 * No memory statistics: SQLite counts every allocation under a
	 * global mutex (~5 % of the recorder's CPU in a burst) for
	 * sqlite3_status(), which nothing here reads. Before any other
	 * SQLite call (it is refused once SQLite is initialized).
	 */
	if (sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0) != SQLITE_OK)
		log_debug("sqlite3_config(MEMSTATUS): refused");
	path = kw_conf_str(rc.d.conf, "paths.database");
	if ((rc.db_path = strdup(path)) == NULL)
		fatal("strdup");
	if (mkdir_parent(path) == -1)
		fatal("%s: cannot create the database directory", path);
	/* Not ours: a configuration error, not a restart loop. */
	if (rdb_probe(path, err, sizeof(err)) == -1) {
		log_warnx("database: %s", err);
		exit(2);
	}
	if ((rc.db = rdb_open(path, BUSY_TIMEOUT_MS, err, sizeof(err))) ==
	    NULL)
		fatalx("database: %s", err);
	if ((found = rdb_load_state(rc.db, STREAM, &epoch, &seq, err,
		 sizeof(err))) == -1)
		fatalx("database: %s", err);
	if (found) {
		rc.committed_epoch = rc.queued_epoch = epoch;
		rc.committed_seq = rc.queued_seq = seq;
		log_info("%s: resuming after epoch %" PRIu64 " seq %" PRIu64,
		    path, epoch, seq);
	} else
		log_info("%s: no resume point, starting fresh", path);

	uv_timer_init(loop, &rc.flush_timer);
	uv_timer_init(loop, &rc.retry_timer);
	uv_timer_init(loop, &rc.prune_timer);
	rc.flush_timer.data = rc.retry_timer.data = rc.prune_timer.data = &rc;
	first = rc.prune_interval_ms < PRUNE_FIRST_MAX_MS ?
	    rc.prune_interval_ms :
	    PRUNE_FIRST_MAX_MS;
	uv_timer_start(&rc.prune_timer, prune_cb, first, rc.prune_interval_ms);

	kw_conf_sock_path(rc.d.conf, "recorder", ".ctl", sock, sizeof(sock));
	rc.ctl = kw_ctl_new(loop, sock, commands, &rc,
	    (int)kw_conf_int(rc.d.conf, "paths.socket_mode"));
	if (rc.ctl == NULL || kw_ctl_start(rc.ctl) == -1)
		fatalx("%s: cannot start the control socket", sock);

	memset(&cb, 0, sizeof(cb));
	cb.on_msg = on_msg;
	cb.on_event = on_event;
	cb.arg = &rc;
	kw_conf_sock_path(rc.d.conf, STREAM, ".sock", sock, sizeof(sock));
	if ((rc.sub = kw_sub_new(loop, sock, STREAM, 1, &cb)) == NULL)
		fatalx("%s: cannot subscribe", sock);
	if (found)
		kw_sub_resume_from(rc.sub, epoch, seq,
		    rdb_state_ended(rc.db, STREAM, epoch, seq));
	kw_sub_start(rc.sub);

	kw_daemon_ready(&rc.d);
	ex = kw_daemon_run(&rc.d);
	free(rc.db_path);
	if (rc.gave_up && ex == 0)
		ex = 1;
	return ex;
}
