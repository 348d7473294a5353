/*
 * kwarden-reader: every `interval`, take a snapshot of every process (from
 * the kernel modules' file or a /proc walk, in libuv's worker pool) and
 * publish it as a `snapshot` message on reader.sock.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "reader.h"

enum source_mode {
	SOURCE_AUTO,
	SOURCE_KMOD,
	SOURCE_PROCFS,
};

static const char *const source_names[] = { "auto", "kmod", "procfs" };

enum delta_mode {
	DELTA_AUTO,
	DELTA_ON,
	DELTA_OFF,
};

static const char *const delta_names[] = { "auto", "on", "off" };

/*
 * One sample. There is at most one in flight, so the reader keeps a single
 * work item and reuses it (and its snapshot's capacity). The worker touches
 * nothing but this struct and the procfs source.
 */
struct sample {
	uv_work_t req;
	struct reader *r;
	/* in */
	enum source_mode mode;
	enum delta_mode delta;
	char kmod_path[PATH_MAX];
	/* out */
	struct kw_snapshot snap;
	int ok;	     /* publish snap */
	int kmod_rc; /* -1, or entries skipped */
	int kmod_tried;
	int delta_tried; /* the delta file was read */
	int delta_rc;
	char delta_err[600];
	int procfs_rc;
	int procfs_tried;
	int filled_ids;	     /* ids from procfs */
	int cg_rc;	     /* cgstat_collect */
	uint64_t cg_errors;  /* containers unreadable */
	uint64_t cg_refused; /* limits.cgroup_dirs */
	char cg_err[320];
	char kmod_err[512];
	char procfs_err[512];
	uint64_t took_ns;
	struct procfs_counters counters;
};

struct reader {
	struct kw_daemon d;
	struct kw_pub *pub;
	struct kw_ctl *ctl;
	uv_timer_t timer;
	int timer_init;
	struct procfs *pf;
	struct cgstat cg;     /* the worker's, like pf */
	struct kmod_delta kd; /* the worker's, like pf */
	int cg_on;
	struct sample work;
	int in_flight;
	int closed;

	/* config */
	enum source_mode mode;
	enum delta_mode delta;
	int stream_deltas; /* reader.stream_deltas */
	uint64_t interval_ms;
	char kmod_path[PATH_MAX];

	/* the delta file, copied from kd after each sample */
	int delta_in_use;
	uint64_t delta_passes;
	uint64_t delta_full_passes;
	uint64_t delta_errors;
	uint64_t delta_opens;
	uint64_t delta_cap_hits;
	uint64_t delta_last_records;
	uint64_t delta_last_exited;
	char logged_delta_err[600];

	/* delta messages on the stream */
	uint64_t chain_seq;   /* last message of the delta file's chain */
	uint64_t subs_seen;   /* the pub's subs at the last whole */
	struct kw_proc *view; /* a delta's records (shallow copies) */
	size_t view_cap;
	uint64_t wholes_published;
	uint64_t deltas_published;
	uint64_t last_delta_records;

	/* counters for `status` */
	uint64_t samples;  /* published */
	uint64_t failed;   /* nothing published */
	uint64_t overruns; /* tick while a sample ran */
	uint64_t read_errors;
	uint64_t kmod_skipped;	  /* malformed entries */
	uint64_t last_sample_ns;  /* reading, in the worker */
	uint64_t last_publish_ns; /* packing and sending, on the loop */
	uint64_t last_release_ns; /* freeing the sample's memory */
	uint64_t last_nprocs;
	char in_use[8]; /* "", kmod, procfs */
	char last_read_error[512];
	char logged_kmod_err[512];
	char logged_procfs_err[512];
	char logged_cgroup_err[320];
	uint64_t cgroup_errors; /* containers unreadable */
	struct procfs_counters counters;
};

static int
parse_delta(const char *s, enum delta_mode *mode)
{
	size_t i;

	for (i = 0; i < sizeof(delta_names) / sizeof(delta_names[0]); i++)
		if (strcmp(s, delta_names[i]) == 0) {
			*mode = (enum delta_mode)i;
			return 0;
		}
	return -1;
}

/*
 * The module's delta file: reader.kmod_delta on, or auto and the file is
 * there. 1 and snap filled, 0 not tried, -1 tried and refused (delta_err).
 */
static int
sample_delta(struct sample *w)
{
	char path[PATH_MAX + 8];

	w->delta_tried = 0;
	w->delta_err[0] = '\0';
	if (w->delta == DELTA_OFF) {
		kmod_delta_reset(&w->r->kd);
		return 0;
	}
	snprintf(path, sizeof(path), "%s_delta", w->kmod_path);
	if (w->delta == DELTA_AUTO && access(path, F_OK) == -1) {
		kmod_delta_reset(&w->r->kd);
		return 0;
	}
	w->delta_tried = 1;
	w->delta_rc = kmod_delta_read(&w->r->kd, path, &w->snap, w->delta_err,
	    sizeof(w->delta_err));
	return w->delta_rc == 0 ? 1 : -1;
}

/* The delta pass's records that lack a container id: from procfs. */
static int
fill_ids(void *arg, struct kw_snapshot *pass)
{
	struct reader *r = arg;

	return procfs_fill_container_ids(r->pf, pass);
}

static int
parse_mode(const char *s, enum source_mode *mode)
{
	size_t i;

	for (i = 0; i < sizeof(source_names) / sizeof(source_names[0]); i++)
		if (strcmp(s, source_names[i]) == 0) {
			*mode = (enum source_mode)i;
			return 0;
		}
	return -1;
}

/*
 * Worker thread: no logging, no loop, no reader state but the procfs and
 * the delta file's state.
 */
static void
sample_work(uv_work_t *req)
{
	struct sample *w = req->data;
	struct reader *r = w->r;
	struct kmod_info info;
	uint64_t t0 = kw_mono_ns();
	int use_kmod;

	w->ok = w->kmod_tried = w->procfs_tried = w->filled_ids = 0;
	w->kmod_rc = w->procfs_rc = 0;
	w->kmod_err[0] = w->procfs_err[0] = '\0';
	use_kmod = w->mode == SOURCE_KMOD ||
	    (w->mode == SOURCE_AUTO && access(w->kmod_path, F_OK) == 0);
	memset(&info, 0, sizeof(info));
	w->delta_tried = 0;
	if (use_kmod && sample_delta(w) == 1) {
		w->kmod_tried = 1;
		w->ok = 1;
	} else if (use_kmod) {
		/* No delta file, or its pass was refused: the full file. */
		w->kmod_tried = 1;
		w->kmod_rc = source_kmod_read(w->kmod_path, &w->snap, &info,
		    w->kmod_err, sizeof(w->kmod_err));
		kmod_info_free(&info);
		w->ok = w->kmod_rc >= 0;
	}
	if (use_kmod) {
		/* The seed's modules give no container ids: take them. */
		if (w->ok && info.no_container_id > 0) {
			if (procfs_fill_container_ids(r->pf, &w->snap) == -1)
				w->ok = 0;
			procfs_get_counters(r->pf, &w->counters);
			w->filled_ids = 1;
		}
	}
	if (!w->ok && w->mode != SOURCE_KMOD) {
		w->procfs_tried = 1;
		w->procfs_rc = procfs_sample(r->pf, &w->snap, w->procfs_err,
		    sizeof(w->procfs_err));
		w->ok = w->procfs_rc == 0;
		procfs_get_counters(r->pf, &w->counters);
	}
	if (w->ok && w->snap.ts_ns == 0)
		w->snap.ts_ns = kw_now_ns();
	/* Rates are taken on this: a step of the wall clock is no time. */
	w->snap.mono_ns = kw_mono_ns();
	/* Each container's own figures; its processes' sum stays the rest. */
	w->cg_rc = 0;
	w->cg_errors = 0;
	w->cg_refused = 0;
	w->cg_err[0] = '\0';
	if (w->ok && r->cg_on) {
		if ((w->cg_rc = cgstat_collect(&r->cg, &w->snap)) == -1)
			w->snap.ncgroups = 0;
		w->cg_errors = r->cg.last_errors;
		w->cg_refused = r->cg.last_refused;
		snprintf(w->cg_err, sizeof(w->cg_err), "%s", r->cg.last_error);
	}
	w->took_ns = kw_mono_ns() - t0;
}

/* Log an error the first time it is seen, not every interval. */
static void
note_error(struct reader *r, char *logged, size_t len, const char *what,
    const char *err, int count)
{
	r->read_errors += (uint64_t)count;
	snprintf(r->last_read_error, sizeof(r->last_read_error), "%s: %s",
	    what, err);
	if (strcmp(logged, err) != 0) {
		log_warnx("%s: %s", what, err);
		snprintf(logged, len, "%s", err);
	}
}

static void
note_ok(struct reader *r, char *logged, const char *what)
{
	if (logged[0] != '\0') {
		log_info("%s: reading again", what);
		logged[0] = '\0';
	}
}

static void reader_finish(struct reader *r);

/* r->view: shallow copies of snap's records of the pass's changed pids. */
static int
view_fill(struct reader *r, const struct kw_snapshot *snap)
{
	const struct kw_pidset *chg = &r->kd.changed;
	struct kw_proc *p, *v;
	size_t i, ncap;

	if (chg->n > r->view_cap) {
		ncap = chg->n + chg->n / 4 + 16;
		if ((v = reallocarray(r->view, ncap, sizeof(*v))) == NULL)
			return -1;
		r->view = v;
		r->view_cap = ncap;
	}
	for (i = 0; i < chg->n; i++) {
		if ((p = kw_snapshot_find(snap, chg->pids[i])) == NULL)
			return -1;
		r->view[i] = *p;
	}
	return 0;
}

/*
 * A delta message when this sample is the delta file's pass applied to
 * what the last message carried and no one subscribed since (a subscriber
 * starts from a whole snapshot); else the whole snapshot. A delta of more
 * than half the processes is sent whole: it would be no smaller.
 */
static void
publish(struct reader *r, struct sample *w, int from_delta)
{
	struct kmod_delta *kd = &r->kd;
	struct kw_pub_stats ps;
	struct kw_snapshot view;
	msgpack_packer *pk;
	uint64_t seq;

	kw_pub_stats(r->pub, &ps);
	if (r->stream_deltas && from_delta && !kd->last_full &&
	    r->chain_seq != 0 && ps.seq == r->chain_seq &&
	    ps.subs == r->subs_seen && kd->changed.n <= w->snap.nprocs / 2 &&
	    view_fill(r, &w->snap) == 0) {
		view = w->snap;
		view.procs = r->view;
		view.nprocs = kd->changed.n;
		view.cap = r->view_cap;
		pk = kw_pub_begin(r->pub, KW_MSG_DELTA, KW_DELTA_FIELDS);
		kw_delta_pack(pk, &view, r->chain_seq, kd->exited.pids,
		    kd->exited.n);
		r->chain_seq = kw_pub_commit(r->pub);
		r->deltas_published++;
		r->last_delta_records = kd->changed.n;
		return;
	}
	pk = kw_pub_begin(r->pub, KW_MSG_SNAPSHOT, KW_SNAPSHOT_FIELDS);
	kw_snapshot_pack(pk, &w->snap);
	seq = kw_pub_commit(r->pub);
	r->chain_seq = r->stream_deltas && from_delta ? seq : 0;
	r->subs_seen = ps.subs;
	r->wholes_published++;
}

static void
sample_done(uv_work_t *req, int status)
{
	struct sample *w = req->data;
	struct reader *r = w->r;
	const char *used = "";
	uint64_t t0;

	r->in_flight = 0;
	if (status != 0) {
		log_warnx("sample: %s", uv_strerror(status));
		goto out;
	}
	if (w->delta_tried) {
		r->delta_passes = r->kd.passes;
		r->delta_full_passes = r->kd.full_passes;
		r->delta_errors = r->kd.errors;
		r->delta_opens = r->kd.opens;
		r->delta_cap_hits = r->kd.cap_hits;
		if (w->delta_rc == -1)
			note_error(r, r->logged_delta_err,
			    sizeof(r->logged_delta_err), "kmod delta",
			    w->delta_err, 1);
		else {
			note_ok(r, r->logged_delta_err, "kmod delta");
			r->delta_last_records = r->kd.last_records;
			r->delta_last_exited = r->kd.last_exited;
		}
	}
	if (w->delta_tried && w->delta_rc == 0) {
		used = "kmod";
		if (!r->delta_in_use)
			log_info("kmod: reading the delta file %s_delta",
			    w->kmod_path);
		r->delta_in_use = 1;
	} else if (w->kmod_tried) {
		if (r->delta_in_use)
			log_info("kmod: reading the full file %s",
			    w->kmod_path);
		r->delta_in_use = 0;
		if (w->kmod_rc == -1)
			note_error(r, r->logged_kmod_err,
			    sizeof(r->logged_kmod_err), "kmod", w->kmod_err,
			    1);
		else if (w->kmod_rc > 0) {
			/* Entries skipped: not a failed sample. */
			r->kmod_skipped += (uint64_t)w->kmod_rc;
			note_error(r, r->logged_kmod_err,
			    sizeof(r->logged_kmod_err), "kmod", w->kmod_err,
			    0);
			used = "kmod";
		} else {
			note_ok(r, r->logged_kmod_err, "kmod");
			used = "kmod";
		}
	}
	if (w->filled_ids)
		r->counters = w->counters;
	if (w->procfs_tried) {
		r->counters = w->counters;
		if (w->procfs_rc == -1)
			note_error(r, r->logged_procfs_err,
			    sizeof(r->logged_procfs_err), "procfs",
			    w->procfs_err, 1);
		else {
			note_ok(r, r->logged_procfs_err, "procfs");
			used = "procfs";
		}
	}
	if (strcmp(used, r->in_use) != 0 && used[0] != '\0') {
		log_info("source: %s%s%s", used,
		    r->in_use[0] != '\0' ? ", was " : "", r->in_use);
		snprintf(r->in_use, sizeof(r->in_use), "%s", used);
	}
	if (w->cg_rc == -1)
		note_error(r, r->logged_cgroup_err,
		    sizeof(r->logged_cgroup_err), "cgroup",
		    "out of memory: figures from processes", 1);
	else if (w->cg_errors > 0) {
		r->cgroup_errors += w->cg_errors;
		note_error(r, r->logged_cgroup_err,
		    sizeof(r->logged_cgroup_err), "cgroup", w->cg_err, 0);
	} else if (w->ok && r->cg_on)
		note_ok(r, r->logged_cgroup_err, "cgroup");
	if (w->cg_refused > 0)
		kw_limit_hit(KW_HIT_CGROUP_DIRS,
		    "cgroup: %" PRIu64 " processes "
		    "in more directories naming one container id than "
		    "limits.cgroup_dirs (%zu): not read",
		    w->cg_refused, r->cg.dirs_per_id);
	r->last_sample_ns = w->took_ns;
	if (!w->ok) {
		r->failed++;
		r->chain_seq = 0;
		goto out;
	}
	r->last_nprocs = w->snap.nprocs;
	t0 = kw_mono_ns();
	if (!r->d.stopping && r->pub != NULL) {
		publish(r, w, w->delta_tried && w->delta_rc == 0);
		r->samples++;
	}
	r->last_publish_ns = kw_mono_ns() - t0;
out:
	t0 = kw_mono_ns();
	/* The delta file's merged snapshot goes back to be merged into. */
	kmod_delta_give_back(&r->kd, &w->snap);
	/*
	 * Hold nothing else of the sample until the next one: the array (2 MB
	 * at 10,000 processes, mapped: its pages go back on free) is reserved
	 * again at the next tick from this one's count, and the pages of the
	 * strings' holes go back too (malloc_trim).
	 */
	kw_snapshot_free(&w->snap);
	malloc_trim(0);
	r->last_release_ns = kw_mono_ns() - t0;
	if (r->d.stopping)
		reader_finish(r);
}

static void
on_tick(uv_timer_t *t)
{
	struct reader *r = t->data;
	struct sample *w = &r->work;
	int rc;

	if (r->in_flight) {
		r->overruns++;
		return;
	}
	/*
	 * The array sized from the last sample's count and a little more,
	 * not doubled: a kw_proc is ~200 bytes, 10,000 of them 2 MB.
	 */
	(void)kw_snapshot_reserve(&w->snap,
	    r->last_nprocs + r->last_nprocs / 32 + 64);
	w->mode = r->mode;
	w->delta = r->delta;
	snprintf(w->kmod_path, sizeof(w->kmod_path), "%s", r->kmod_path);
	w->req.data = w;
	w->r = r;
	if ((rc = uv_queue_work(r->d.loop, &w->req, sample_work,
		 sample_done)) != 0) {
		log_warnx("uv_queue_work: %s", uv_strerror(rc));
		return;
	}
	r->in_flight = 1;
}

static void
timer_closed(uv_handle_t *h)
{
	(void)h;
}

/* After the last sample: close the sockets; the loop then ends. */
static void
reader_finish(struct reader *r)
{
	if (r->closed || r->in_flight)
		return;
	r->closed = 1;
	kw_pub_close(r->pub);
	kw_ctl_close(r->ctl);
}

static void
on_stop(struct kw_daemon *d)
{
	struct reader *r = d->arg;

	if (r->timer_init && !uv_is_closing((uv_handle_t *)&r->timer)) {
		uv_timer_stop(&r->timer);
		uv_close((uv_handle_t *)&r->timer, timer_closed);
	}
	if (r->in_flight)
		log_info("waiting for the sample in flight");
	reader_finish(r);
}

static int
read_tunables(struct reader *r, struct kw_conf *conf)
{
	enum source_mode mode;
	const char *s = kw_conf_str(conf, "reader.source");

	if (parse_mode(s, &mode) == -1) {
		log_warnx("reader.source: \"%s\" is not auto, kmod or procfs",
		    s);
		return -1;
	}
	r->mode = mode;
	s = kw_conf_str(conf, "reader.kmod_delta");
	if (parse_delta(s, &r->delta) == -1) {
		log_warnx("reader.kmod_delta: \"%s\" is not auto, on or off",
		    s);
		return -1;
	}
	s = kw_conf_str(conf, "reader.stream_deltas");
	if (strcmp(s, "on") != 0 && strcmp(s, "off") != 0) {
		log_warnx("reader.stream_deltas: \"%s\" is not on or off", s);
		return -1;
	}
	r->stream_deltas = strcmp(s, "on") == 0;
	r->interval_ms = kw_conf_ms(conf, "reader.interval");
	if (r->interval_ms == 0)
		r->interval_ms = 1000;
	snprintf(r->kmod_path, sizeof(r->kmod_path), "%s",
	    kw_conf_str(conf, "reader.kmod_path"));
	return 0;
}

static void
on_reload(struct kw_daemon *d)
{
	struct reader *r = d->arg;
	struct kw_conf *conf;
	char err[512];
	uint64_t old_ms = r->interval_ms;

	if ((conf = kw_conf_reload(d->conf, err, sizeof(err))) == NULL) {
		log_warnx("reload: %s (keeping the running config)", err);
		return;
	}
	if (read_tunables(r, conf) == -1) {
		kw_conf_free(conf);
		(void)read_tunables(r, d->conf);
		return;
	}
	if (strcmp(kw_conf_str(conf, "reader.proc_root"),
		kw_conf_str(d->conf, "reader.proc_root")) != 0)
		log_warnx("reload: reader.proc_root changes at restart only");
	kw_conf_free(d->conf);
	d->conf = conf;
	if (r->interval_ms != old_ms && r->timer_init && !d->stopping)
		uv_timer_start(&r->timer, on_tick, r->interval_ms,
		    r->interval_ms);
	log_info("reloaded: source %s, interval %" PRIu64 " ms, kmod_path %s, "
		 "kmod_delta %s",
	    source_names[r->mode], r->interval_ms, r->kmod_path,
	    delta_names[r->delta]);
}

static json_t *
cmd_status(void *arg, const char *args)
{
	struct reader *r = arg;
	struct kw_pub_stats ps;
	json_t *o, *pub, *pf;

	(void)args;
	if ((o = kw_daemon_status(&r->d)) == NULL)
		return NULL;
	json_object_set_new(o, "source", json_string(source_names[r->mode]));
	json_object_set_new(o, "source_in_use", json_string(r->in_use));
	json_object_set_new(o, "kmod_path", json_string(r->kmod_path));
	json_object_set_new(o, "interval_ms",
	    json_integer((json_int_t)r->interval_ms));
	json_object_set_new(o, "samples",
	    json_integer((json_int_t)r->samples));
	json_object_set_new(o, "samples_failed",
	    json_integer((json_int_t)r->failed));
	json_object_set_new(o, "overruns",
	    json_integer((json_int_t)r->overruns));
	json_object_set_new(o, "last_sample_ms",
	    json_real((double)r->last_sample_ns / 1e6));
	json_object_set_new(o, "last_publish_ms",
	    json_real((double)r->last_publish_ns / 1e6));
	json_object_set_new(o, "last_release_ms",
	    json_real((double)r->last_release_ns / 1e6));
	json_object_set_new(o, "last_nprocs",
	    json_integer((json_int_t)r->last_nprocs));
	json_object_set_new(o, "read_errors",
	    json_integer((json_int_t)r->read_errors));
	json_object_set_new(o, "last_read_error",
	    json_string(r->last_read_error));
	json_object_set_new(o, "kmod_skipped_entries",
	    json_integer((json_int_t)r->kmod_skipped));
	pf = json_object();
	json_object_set_new(pf, "mode", json_string(delta_names[r->delta]));
	json_object_set_new(pf, "in_use", json_boolean(r->delta_in_use));
	json_object_set_new(pf, "passes",
	    json_integer((json_int_t)r->delta_passes));
	json_object_set_new(pf, "full_passes",
	    json_integer((json_int_t)r->delta_full_passes));
	json_object_set_new(pf, "refused",
	    json_integer((json_int_t)r->delta_errors));
	json_object_set_new(pf, "opens",
	    json_integer((json_int_t)r->delta_opens));
	json_object_set_new(pf, "module_cap_hits",
	    json_integer((json_int_t)r->delta_cap_hits));
	json_object_set_new(pf, "last_records",
	    json_integer((json_int_t)r->delta_last_records));
	json_object_set_new(pf, "last_exited",
	    json_integer((json_int_t)r->delta_last_exited));
	json_object_set_new(pf, "last_error",
	    json_string(r->logged_delta_err));
	json_object_set_new(o, "kmod_delta", pf);
	pf = json_object();
	json_object_set_new(pf, "on", json_boolean(r->stream_deltas));
	json_object_set_new(pf, "wholes",
	    json_integer((json_int_t)r->wholes_published));
	json_object_set_new(pf, "deltas",
	    json_integer((json_int_t)r->deltas_published));
	json_object_set_new(pf, "last_delta_records",
	    json_integer((json_int_t)r->last_delta_records));
	json_object_set_new(o, "stream_deltas", pf);
	pf = json_object();
	json_object_set_new(pf, "vanished",
	    json_integer((json_int_t)r->counters.vanished));
	json_object_set_new(pf, "unreadable",
	    json_integer((json_int_t)r->counters.errors));
	json_object_set_new(pf, "cache_hits",
	    json_integer((json_int_t)r->counters.cache_hits));
	json_object_set_new(pf, "cache_misses",
	    json_integer((json_int_t)r->counters.cache_misses));
	json_object_set_new(o, "procfs", pf);
	pf = json_object();
	json_object_set_new(pf, "root", json_string(r->cg.root));
	json_object_set_new(pf, "layout",
	    json_string(!r->cg_on	      ? "off" :
		    r->cg.layout == CGSTAT_V2 ? "v2" :
						"v1"));
	json_object_set_new(pf, "containers_read",
	    json_integer((json_int_t)r->cg.reads));
	json_object_set_new(pf, "full_reads",
	    json_integer((json_int_t)r->cg.full_reads));
	json_object_set_new(pf, "files_open",
	    json_integer((json_int_t)r->cg.open_fds));
	json_object_set_new(pf, "containers_unreadable",
	    json_integer((json_int_t)r->cgroup_errors));
	json_object_set_new(pf, "dirs_refused",
	    json_integer((json_int_t)r->cg.dirs_refused));
	json_object_set_new(pf, "last_error",
	    json_string(r->logged_cgroup_err));
	json_object_set_new(o, "cgroup", pf);
	if (r->pub != NULL) {
		kw_pub_stats(r->pub, &ps);
		pub = kw_pub_stats_json(&ps);
		json_object_set_new(o, "pub", pub);
	}
	return o;
}

static json_t *
cmd_config(void *arg, const char *args)
{
	struct reader *r = arg;

	(void)args;
	return kw_conf_json(r->d.conf);
}

static const struct kw_ctl_cmd commands[] = {
	{ "status", "uptime, source in use, samples, errors, stream",
	    cmd_status },
	{ "config", "the effective configuration", cmd_config },
	{ NULL, NULL, NULL },
};

/* The cgroup figures, when there is a hierarchy to read them from. */
static void
start_cgstat(struct reader *r)
{
	const char *root = kw_conf_str(r->d.conf, "reader.cgroup_root");

	if (cgstat_init(&r->cg, root,
		kw_conf_str(r->d.conf, "reader.proc_root")) == -1) {
		log_warnx("cgroup: no cgroup hierarchy at %s: container "
			  "figures come from their processes",
		    root);
		snprintf(r->logged_cgroup_err, sizeof(r->logged_cgroup_err),
		    "no cgroup hierarchy at %s", root);
		return;
	}
	r->cg.detail_every =
	    (uint64_t)kw_conf_int(r->d.conf, "reader.cgroup_detail_every");
	r->cg.dirs_per_id = kw_limits_get()->cgroup_dirs;
	r->cg_on = r->cg.layout != CGSTAT_NONE;
	if (r->cg_on)
		log_info("cgroup: %s (%s)", root,
		    r->cg.layout == CGSTAT_V2 ? "v2" : "v1");
	else
		log_info("cgroup: off (reader.cgroup_root is empty)");
}

int
main(int argc, char **argv)
{
	struct reader r;
	struct kw_pub_opts opts;
	uv_loop_t *loop = uv_default_loop();
	char sock[PATH_MAX];
	int ex, mode;

	/*
	 * One malloc arena: a sample is built in the worker pool and packed
	 * on the loop thread, and with an arena per thread each keeps its own
	 * high-water mark of freed blocks (2.4 MiB of RssAnon at 10,000
	 * processes, measured).  The two threads rarely allocate at once.
	 */
	mallopt(M_ARENA_MAX, 1);
	/*
	 * A fixed mmap threshold: a block over 128 KiB (a snapshot's message,
	 * its array) is mapped and unmapped, so its pages go back when freed;
	 * glibc's sliding threshold would move it up to the largest block
	 * freed and keep those in the heap.
	 */
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	memset(&r, 0, sizeof(r));
	kw_daemon_init(&r.d, loop, argc, argv, "reader",
	    "Samples every process and publishes snapshots on reader.sock.");
	r.d.arg = &r;
	r.d.on_stop = on_stop;
	r.d.on_reload = on_reload;
	if (read_tunables(&r, r.d.conf) == -1)
		exit(2);
	kw_snapshot_init(&r.work.snap);
	kmod_delta_init(&r.kd);
	kmod_delta_set_fill(&r.kd, fill_ids, &r);
	if ((r.pf = procfs_new(kw_conf_str(r.d.conf, "reader.proc_root"))) ==
	    NULL)
		fatal("procfs");
	mode = (int)kw_conf_int(r.d.conf, "paths.socket_mode");
	start_cgstat(&r);

	memset(&opts, 0, sizeof(opts));
	opts.ring_bytes = kw_conf_size(r.d.conf, "reader.ring_size");
	opts.ring_msgs = (size_t)kw_conf_int(r.d.conf, "reader.ring_msgs");
	opts.mode = mode;
	kw_conf_sock_path(r.d.conf, "reader", ".sock", sock, sizeof(sock));
	if ((r.pub = kw_pub_new(loop, sock, "reader", &opts)) == NULL)
		fatalx("%s: cannot create the stream", sock);
	if (kw_pub_start(r.pub) == -1)
		goto fail;
	kw_conf_sock_path(r.d.conf, "reader", ".ctl", sock, sizeof(sock));
	if ((r.ctl = kw_ctl_new(loop, sock, commands, &r, mode)) == NULL)
		fatalx("%s: cannot create the control socket", sock);
	if (kw_ctl_start(r.ctl) == -1)
		goto fail;

	uv_timer_init(loop, &r.timer);
	r.timer.data = &r;
	r.timer_init = 1;
	uv_timer_start(&r.timer, on_tick, 0, r.interval_ms);
	log_info("source %s, interval %" PRIu64 " ms, kmod_path %s, "
		 "kmod_delta %s, proc_root %s",
	    source_names[r.mode], r.interval_ms, r.kmod_path,
	    delta_names[r.delta], kw_conf_str(r.d.conf, "reader.proc_root"));
	kw_daemon_ready(&r.d);
	ex = kw_daemon_run(&r.d);
	procfs_free(r.pf);
	cgstat_free(&r.cg);
	kmod_delta_free(&r.kd);
	kw_snapshot_free(&r.work.snap);
	free(r.view);
	return ex;

fail:
	/* Already running, or the run directory is not writable. */
	r.d.stopping = 1;
	kw_daemon_close(&r.d);
	on_stop(&r.d);
	(void)kw_daemon_run(&r.d);
	procfs_free(r.pf);
	cgstat_free(&r.cg);
	kmod_delta_free(&r.kd);
	kw_snapshot_free(&r.work.snap);
	free(r.view);
	return 1;
}
