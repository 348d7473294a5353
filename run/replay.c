/*
 * The what-if replay: the container rows of a database, sample by sample,
 * through the decider's engine (engine_step_recs: the same policy, ladder,
 * strikes and quarantine code the decider runs), with the policy recorded
 * as live at each time or the one given; every call the engine asks for
 * is taken as done (DOCKER_ACT_OK) at once. The database is opened
 * read-only (immutable when even that cannot be had).
 *
 * Decisions written down here:
 * - samples are the rows sharing (epoch, sample_ns), in row order; a new
 *   epoch is a new decider run: the engine starts afresh but keeps the
 *   strikes, as the decider keeps them in its file;
 * - the policy of a sample is the last policy row of its epoch before it
 *   (by seq), else the last one recorded before its ts, else the first;
 * - the whole database up to --until is replayed, so sustain, escalation
 *   and strikes have their history; --since only limits what is shown.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "../decider/decider.h"
#include "replay.h"

static int fail(int code, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
fail(int code, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return code;
}

static struct replay_event *
event_add(struct replay_events *ev)
{
	struct replay_event *p;
	size_t ncap;

	if (ev->n == ev->cap) {
		ncap = ev->cap ? ev->cap * 2 : 64;
		if ((p = realloc(ev->e, ncap * sizeof(*p))) == NULL)
			return NULL;
		ev->e = p;
		ev->cap = ncap;
	}
	p = &ev->e[ev->n++];
	memset(p, 0, sizeof(*p));
	p->other = -1;
	return p;
}

void
replay_result_free(struct replay_result *res)
{
	free(res->would.e);
	free(res->did.e);
	memset(res, 0, sizeof(*res));
}

/* The database, read-only: "file:PATH?mode=ro", else immutable. */
static sqlite3 *
db_open(const char *path, int immutable, char *err, size_t errlen)
{
	sqlite3_str *q = sqlite3_str_new(NULL);
	sqlite3 *db = NULL;
	const char *p;
	char *uri;
	int rc;

	sqlite3_str_appendall(q, "file:");
	for (p = path; *p != '\0'; p++)
		if (*p == '%' || *p == '?' || *p == '#')
			sqlite3_str_appendf(q, "%%%02X", (unsigned char)*p);
		else
			sqlite3_str_appendchar(q, 1, *p);
	sqlite3_str_appendall(q, immutable ? "?immutable=1" : "?mode=ro");
	if ((uri = sqlite3_str_finish(q)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	rc = sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI,
	    NULL);
	sqlite3_free(uri);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "%s",
		    db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_busy_timeout(db, 5000);
	return db;
}

/* 1 when table has column (or, column NULL, exists); 0; -1 on error. */
static int
db_has(sqlite3 *db, const char *table, const char *column)
{
	sqlite3_stmt *st;
	int rc, found;

	if (sqlite3_prepare_v2(db,
		column != NULL ?
		    "SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2" :
		    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
		-1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
	if (column != NULL)
		sqlite3_bind_text(st, 2, column, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	found = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
	sqlite3_finalize(st);
	return found;
}

/* A recorded policy row. */
struct rpolicy {
	uint64_t ts, epoch, seq;
	char *conf;
	int built;
	struct policy p;
};

struct replay {
	const struct replay_opts *o;
	sqlite3 *db;
	struct rpolicy *pol;
	size_t npol;
	struct policy fixed; /* -c FILE: the one policy */
	struct engine eng;
	struct engine_out out;
	int have_engine;
	long cur_policy; /* index into pol, -1: fixed */
	uint64_t cur_epoch;
	struct kw_container_rec *recs;
	size_t nrecs, caprecs;
	uint64_t rec_epoch, rec_sample, rec_ts;
	int rec_docker;
};

/* Defaults or the file, the recorded text, then -o in order. */
static int
policy_build(const struct replay_opts *o, const char *recorded,
    struct policy *p, char *err, size_t errlen)
{
	char e[1024], pe[512], section[128], key[128], origin[300];
	struct kw_conf *conf;
	const char *s, *eq, *dot;
	size_t i;
	int code = REPLAY_EUSAGE;

	if ((conf = kw_conf_load(o->conf_file, e, sizeof(e))) == NULL)
		return fail(REPLAY_EUSAGE, err, errlen, "%s", e);
	if (recorded != NULL &&
	    kw_conf_apply_text(conf, recorded, "recorded policy", e,
		sizeof(e)) == -1) {
		code = REPLAY_EDB;
		goto bad;
	}
	for (i = 0; i < o->noverrides; i++) {
		s = o->overrides[i];
		if ((eq = strchr(s, '=')) == NULL ||
		    (dot = memrchr(s, '.', (size_t)(eq - s))) == NULL ||
		    dot == s || dot + 1 == eq ||
		    (size_t)(dot - s) >= sizeof(section) ||
		    (size_t)(eq - dot - 1) >= sizeof(key)) {
			snprintf(e, sizeof(e),
			    "config: -o %s: expected "
			    "SECTION.KEY=VALUE",
			    s);
			goto bad;
		}
		snprintf(section, sizeof(section), "%.*s", (int)(dot - s), s);
		snprintf(key, sizeof(key), "%.*s", (int)(eq - dot - 1),
		    dot + 1);
		snprintf(origin, sizeof(origin), "-o %.*s", (int)(eq - s), s);
		if (kw_conf_set(conf, section, key, eq + 1, origin, e,
			sizeof(e)) == -1)
			goto bad;
	}
	if (policy_from_conf(conf, p, pe, sizeof(pe)) == -1) {
		snprintf(e, sizeof(e), "config: %s", pe);
		goto bad;
	}
	kw_conf_free(conf);
	return REPLAY_OK;
bad:
	kw_conf_free(conf);
	return fail(code, err, errlen, "%s%s",
	    code == REPLAY_EDB ? "DB: policy table: " : "", e);
}

static int
load_policies(struct replay *rp, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	struct rpolicy *np;
	const char *text;
	int rc;

	if (sqlite3_prepare_v2(rp->db,
		"SELECT ts, epoch, seq, conf FROM "
		"policy WHERE conf IS NOT NULL ORDER BY id",
		-1, &st, NULL) != SQLITE_OK)
		return fail(REPLAY_EDB, err, errlen, "DB: policy: %s",
		    sqlite3_errmsg(rp->db));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((np = realloc(rp->pol, (rp->npol + 1) * sizeof(*np))) ==
		    NULL)
			break;
		rp->pol = np;
		np = &rp->pol[rp->npol];
		memset(np, 0, sizeof(*np));
		np->ts = (uint64_t)sqlite3_column_int64(st, 0);
		np->epoch = (uint64_t)sqlite3_column_int64(st, 1);
		np->seq = (uint64_t)sqlite3_column_int64(st, 2);
		text = (const char *)sqlite3_column_text(st, 3);
		if ((np->conf = strdup(text != NULL ? text : "")) == NULL)
			break;
		rp->npol++;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return fail(REPLAY_EDB, err, errlen, "DB: policy: %s",
		    rc == SQLITE_ROW ? "out of memory" :
				       sqlite3_errmsg(rp->db));
	return REPLAY_OK;
}

/* The recorded policy in force for a sample (see the top). */
static long
policy_for(const struct replay *rp, uint64_t epoch, uint64_t seq, uint64_t ts)
{
	long best = -1;
	size_t i;

	for (i = 0; i < rp->npol; i++)
		if (rp->pol[i].epoch == epoch && rp->pol[i].seq < seq)
			best = (long)i;
	if (best >= 0)
		return best;
	for (i = 0; i < rp->npol; i++)
		if (rp->pol[i].ts <= ts)
			best = (long)i;
	return best >= 0 ? best : 0;
}

static struct replay_event *
would_add(struct replay_result *res, const struct kw_deletion_rec *r,
    uint64_t ts)
{
	struct replay_event *ev;

	if ((ev = event_add(&res->would)) == NULL)
		return NULL;
	snprintf(ev->container_id, sizeof(ev->container_id), "%s",
	    r->container_id);
	snprintf(ev->name, sizeof(ev->name), "%s", r->name);
	snprintf(ev->class_name, sizeof(ev->class_name), "%s", r->class_name);
	snprintf(ev->action, sizeof(ev->action), "%s", r->action);
	snprintf(ev->reason, sizeof(ev->reason), "%s", r->reason);
	ev->step = r->step;
	ev->ts = ts;
	return ev;
}

/* One sample through the engine; its actions into res->would. */
static int
run_sample(struct replay *rp, uint64_t seq, struct replay_result *res,
    char *err, size_t errlen)
{
	const struct replay_opts *o = rp->o;
	const struct engine_out *out = &rp->out;
	struct rpolicy *pp;
	const struct policy *p = &rp->fixed;
	struct strike_table keep;
	long pi = -1;
	size_t i;
	int code;

	if (o->conf_file == NULL) {
		pi = policy_for(rp, rp->rec_epoch, seq, rp->rec_ts);
		pp = &rp->pol[pi];
		if (!pp->built) {
			if ((code = policy_build(o, pp->conf, &pp->p, err,
				 errlen)) != REPLAY_OK)
				return code;
			pp->built = 1;
			res->policies++;
		}
		p = &pp->p;
	}
	if (!rp->have_engine || rp->rec_epoch != rp->cur_epoch) {
		/* A new decider run: afresh, but strikes are kept. */
		strikes_init(&keep);
		if (rp->have_engine) {
			keep = rp->eng.strikes;
			strikes_init(&rp->eng.strikes);
			engine_free(&rp->eng);
		}
		engine_init(&rp->eng, p, 60ULL * 1000000000ULL, 0);
		strikes_free(&rp->eng.strikes);
		rp->eng.strikes = keep;
		rp->have_engine = 1;
		rp->cur_epoch = rp->rec_epoch;
		rp->cur_policy = pi;
		res->epochs++;
	} else if (pi != rp->cur_policy) {
		engine_set_policy(&rp->eng, p);
		rp->cur_policy = pi;
	}
	if (engine_step_recs(&rp->eng, rp->recs, rp->nrecs, rp->rec_docker,
		rp->rec_ts * 1000000000ULL, rp->rec_sample, &rp->out) == -1) {
		res->oom++;
		return REPLAY_OK;
	}
	res->samples++;
	if (res->first_ts == 0)
		res->first_ts = rp->rec_ts;
	res->last_ts = rp->rec_ts;
	for (i = 0; i < out->ndeletions; i++)
		if (strcmp(out->deletions[i].action,
			action_name(ACTION_DRY_RUN)) == 0 &&
		    rp->rec_ts >= o->since_s &&
		    would_add(res, &out->deletions[i], rp->rec_ts) == NULL)
			return fail(REPLAY_EDB, err, errlen, "out of memory");
	for (i = 0; i < out->nintents; i++) {
		if (rp->rec_ts >= o->since_s &&
		    would_add(res, &out->intents[i].rec, rp->rec_ts) == NULL)
			return fail(REPLAY_EDB, err, errlen, "out of memory");
		/* What was not done cannot be known: each call succeeds. */
		engine_action_done(&rp->eng, out->intents[i].rec.container_id,
		    DOCKER_ACT_OK, "ok", rp->rec_sample);
	}
	return REPLAY_OK;
}

#define COLS                                                               \
	"epoch, seq, ts, sample_ns, docker, container_id, name, "          \
	"image, class, label_class, identity, docker_state, starts, pid, " \
	"nprocs, cpu_pct, mem_pct, rss_kb, figures, cpu_pct_procs"

static void
col_str(sqlite3_stmt *st, int i, char *dst, size_t len)
{
	const unsigned char *s = sqlite3_column_text(st, i);

	snprintf(dst, len, "%s", s != NULL ? (const char *)s : "");
}

static int
run_samples(struct replay *rp, struct replay_result *res, char *err,
    size_t errlen)
{
	struct kw_container_rec *cr, *np;
	sqlite3_stmt *st;
	uint64_t epoch, sample, seq = 0, first_seq = 0;
	size_t ncap;
	int rc, code = REPLAY_OK;

	if (sqlite3_prepare_v2(rp->db,
		"SELECT " COLS " FROM containers "
		"WHERE sample_ns IS NOT NULL AND (?1 = 0 OR ts <= ?1) "
		"ORDER BY id",
		-1, &st, NULL) != SQLITE_OK)
		return fail(REPLAY_EDB, err, errlen, "DB: containers: %s",
		    sqlite3_errmsg(rp->db));
	sqlite3_bind_int64(st, 1, (sqlite3_int64)rp->o->until_s);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		epoch = (uint64_t)sqlite3_column_int64(st, 0);
		seq = (uint64_t)sqlite3_column_int64(st, 1);
		sample = (uint64_t)sqlite3_column_int64(st, 3);
		if (rp->nrecs > 0 &&
		    (epoch != rp->rec_epoch || sample != rp->rec_sample)) {
			if ((code = run_sample(rp, first_seq, res, err,
				 errlen)) != REPLAY_OK)
				break;
			rp->nrecs = 0;
		}
		if (rp->nrecs == 0) {
			rp->rec_epoch = epoch;
			rp->rec_sample = sample;
			rp->rec_ts = (uint64_t)sqlite3_column_int64(st, 2);
			rp->rec_docker = sqlite3_column_int(st, 4);
			first_seq = seq;
		}
		if (rp->nrecs == rp->caprecs) {
			ncap = rp->caprecs ? rp->caprecs * 2 : 32;
			if ((np = realloc(rp->recs, ncap * sizeof(*np))) ==
			    NULL) {
				code = fail(REPLAY_EDB, err, errlen,
				    "out of memory");
				break;
			}
			rp->recs = np;
			rp->caprecs = ncap;
		}
		cr = &rp->recs[rp->nrecs++];
		memset(cr, 0, sizeof(*cr));
		col_str(st, 5, cr->container_id, sizeof(cr->container_id));
		col_str(st, 6, cr->name, sizeof(cr->name));
		col_str(st, 7, cr->image, sizeof(cr->image));
		col_str(st, 8, cr->class_name, sizeof(cr->class_name));
		col_str(st, 9, cr->label_class, sizeof(cr->label_class));
		col_str(st, 10, cr->identity, sizeof(cr->identity));
		col_str(st, 11, cr->docker_state, sizeof(cr->docker_state));
		cr->starts = (uint64_t)sqlite3_column_int64(st, 12);
		cr->pid = sqlite3_column_int(st, 13);
		cr->nprocs = (uint32_t)sqlite3_column_int64(st, 14);
		cr->cpu_pct = sqlite3_column_double(st, 15);
		cr->mem_pct = sqlite3_column_double(st, 16);
		cr->rss_kb = (uint64_t)sqlite3_column_int64(st, 17);
		col_str(st, 18, cr->figures, sizeof(cr->figures));
		cr->cpu_pct_procs = sqlite3_column_double(st, 19);
		res->rows++;
	}
	if (code == REPLAY_OK && rc != SQLITE_ROW && rc != SQLITE_DONE)
		code = fail(REPLAY_EDB, err, errlen, "DB: containers: %s",
		    sqlite3_errmsg(rp->db));
	sqlite3_finalize(st);
	if (code == REPLAY_OK && rp->nrecs > 0)
		code = run_sample(rp, first_seq, res, err, errlen);
	return code;
}

/* What was done: the deletions rows of actions (not settled, not release). */
static int
load_did(struct replay *rp, struct replay_result *res, char *err,
    size_t errlen)
{
	const struct replay_opts *o = rp->o;
	struct replay_event *ev;
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(rp->db,
		"SELECT container_id, name, class, "
		"action, step, reason, result, ts FROM deletions WHERE "
		"reason NOT LIKE 'settled:%' AND action NOT IN ('release') AND "
		"ts >= ?1 AND (?2 = 0 OR ts <= ?2 + ?3) ORDER BY id",
		-1, &st, NULL) != SQLITE_OK)
		return fail(REPLAY_EDB, err, errlen, "DB: deletions: %s",
		    sqlite3_errmsg(rp->db));
	sqlite3_bind_int64(st, 1, (sqlite3_int64)o->since_s);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)o->until_s);
	sqlite3_bind_int64(st, 3, REPLAY_MATCH_WINDOW_S);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((ev = event_add(&res->did)) == NULL)
			break;
		col_str(st, 0, ev->container_id, sizeof(ev->container_id));
		col_str(st, 1, ev->name, sizeof(ev->name));
		col_str(st, 2, ev->class_name, sizeof(ev->class_name));
		col_str(st, 3, ev->action, sizeof(ev->action));
		ev->step = (uint32_t)sqlite3_column_int64(st, 4);
		col_str(st, 5, ev->reason, sizeof(ev->reason));
		col_str(st, 6, ev->result, sizeof(ev->result));
		ev->ts = (uint64_t)sqlite3_column_int64(st, 7);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return fail(REPLAY_EDB, err, errlen, "DB: deletions: %s",
		    rc == SQLITE_ROW ? "out of memory" :
				       sqlite3_errmsg(rp->db));
	return REPLAY_OK;
}

size_t
replay_match(struct replay_events *would, struct replay_events *did)
{
	struct replay_event *w, *d;
	size_t i, j, pairs = 0;

	for (i = 0; i < would->n; i++) {
		w = &would->e[i];
		for (j = 0; j < did->n; j++) {
			d = &did->e[j];
			if (d->other != -1 ||
			    strcmp(d->container_id, w->container_id) != 0 ||
			    strcmp(d->action, w->action) != 0 ||
			    d->step != w->step || d->ts + 2 < w->ts ||
			    d->ts > w->ts + REPLAY_MATCH_WINDOW_S)
				continue;
			w->other = (long)j;
			d->other = (long)i;
			pairs++;
			break;
		}
	}
	return pairs;
}

/* Recorded actions after --until, kept only to pair with one before. */
static void
drop_late(struct replay_events *did, struct replay_events *would,
    uint64_t until_s)
{
	size_t i, k = 0;

	if (until_s == 0)
		return;
	for (i = 0; i < did->n; i++) {
		if (did->e[i].ts > until_s && did->e[i].other == -1)
			continue;
		if (did->e[i].other != -1)
			would->e[did->e[i].other].other = (long)k;
		did->e[k++] = did->e[i];
	}
	did->n = k;
}

/* Is it a database kwarden-replay can read? */
static int
check_db(struct replay *rp, char *err, size_t errlen)
{
	const char *path = rp->o->db;
	int has;

	if ((has = db_has(rp->db, "containers", NULL)) == -1)
		return fail(REPLAY_EDB, err, errlen, "DB: %s: %s", path,
		    sqlite3_errmsg(rp->db));
	if (!has || db_has(rp->db, "deletions", NULL) != 1)
		return fail(REPLAY_EDB, err, errlen,
		    "DB: %s: not a kwarden "
		    "database (no containers or deletions table)",
		    path);
	if (db_has(rp->db, "containers", "sample_ns") != 1)
		return fail(REPLAY_EDB, err, errlen,
		    "DB: %s: recorded before "
		    "replay support (containers has no sample_ns column): "
		    "record with this kwarden version first",
		    path);
	if (rp->o->conf_file != NULL)
		return REPLAY_OK;
	if (db_has(rp->db, "policy", NULL) != 1)
		return fail(REPLAY_EDB, err, errlen,
		    "DB: %s: recorded before "
		    "replay support (no policy table): give the policy with "
		    "-c FILE",
		    path);
	return REPLAY_OK;
}

int
replay_run(const struct replay_opts *o, struct replay_result *res, char *err,
    size_t errlen)
{
	struct replay rp;
	char e[512];
	size_t i;
	int code;

	memset(res, 0, sizeof(*res));
	memset(&rp, 0, sizeof(rp));
	rp.o = o;
	rp.cur_policy = -1;
	/* The command line first: a bad -o is a usage error, DB or not. */
	if ((code = policy_build(o, NULL, &rp.fixed, err, errlen)) !=
	    REPLAY_OK)
		return code;
	if ((rp.db = db_open(o->db, 0, e, sizeof(e))) == NULL)
		return fail(REPLAY_EDB, err, errlen, "DB: %s: %s", o->db, e);
	if (db_has(rp.db, "containers", NULL) == -1) {
		/* Not even read-only (a WAL database in a read-only place). */
		sqlite3_close(rp.db);
		if ((rp.db = db_open(o->db, 1, e, sizeof(e))) == NULL)
			return fail(REPLAY_EDB, err, errlen, "DB: %s: %s",
			    o->db, e);
	}
	engine_out_init(&rp.out);
	if ((code = check_db(&rp, err, errlen)) != REPLAY_OK)
		goto out;
	if (o->conf_file == NULL) {
		if ((code = load_policies(&rp, err, errlen)) != REPLAY_OK)
			goto out;
		if (rp.npol == 0) {
			code = fail(REPLAY_EDB, err, errlen,
			    "DB: %s: no policy "
			    "recorded (recorded before replay support?): give "
			    "the policy with -c FILE",
			    o->db);
			goto out;
		}
	}
	if ((code = run_samples(&rp, res, err, errlen)) != REPLAY_OK ||
	    (code = load_did(&rp, res, err, errlen)) != REPLAY_OK)
		goto out;
	res->same = replay_match(&res->would, &res->did);
	drop_late(&res->did, &res->would, o->until_s);
out:
	if (rp.have_engine)
		engine_free(&rp.eng);
	engine_out_free(&rp.out);
	for (i = 0; i < rp.npol; i++)
		free(rp.pol[i].conf);
	free(rp.pol);
	free(rp.recs);
	sqlite3_close(rp.db);
	return code;
}
