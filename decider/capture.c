/*
 * Evidence on the loop: before an action, what the current sample says of
 * the container (top processes, figures) and what Docker says (logs,
 * inspect), gathered within a timeout so the action never waits longer;
 * then the last documents, kept for `evidence` on decider.ctl.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "decider.h"

#define LOGS_FETCH_MIN	  (64u << 10) /* logs body read, at least */
#define INSPECT_FETCH_MAX (1u << 20)

struct kept {
	uint64_t id; /* action number, from 1 */
	char container_id[KW_CID_LEN];
	char name[128];
	char *doc;
};

struct evidence_store {
	struct evidence_conf c;
	struct kept *kept; /* a ring of c.keep */
	size_t nkept, head;
	uint64_t next_id;
	uint64_t captured;
	uint64_t timeouts;
	uint64_t inspect_errors;
	uint64_t logs_errors;
	size_t in_flight;
};

/* One capture: freed when its callback ran and every part came back. */
struct capture {
	struct evidence_store *es;
	struct decider *dz;
	evidence_cb cb;
	void *arg;
	int refs; /* timer + fetches out */
	int done;
	uv_timer_t timer;
	uint64_t start_ms;
	uint64_t ts_ns;
	struct kw_deletion_rec rec;
	struct kw_container_rec ctr;
	int have_ctr;
	struct evidence_proc *procs;
	size_t nprocs;
	int need; /* fetches not back */
	char *inspect_body;
	size_t inspect_len;
	char inspect_err[256];
	char *logs_body;
	size_t logs_len;
	char logs_err[256];
	int logs_back, inspect_back;
};

struct evidence_store *
evidence_store_new(const struct evidence_conf *c)
{
	struct evidence_store *es;

	if ((es = calloc(1, sizeof(*es))) == NULL)
		return NULL;
	es->c = *c;
	if (es->c.keep == 0)
		es->c.keep = 1;
	if ((es->kept = calloc(es->c.keep, sizeof(*es->kept))) == NULL) {
		free(es);
		return NULL;
	}
	return es;
}

void
evidence_store_free(struct evidence_store *es)
{
	size_t i;

	if (es == NULL)
		return;
	for (i = 0; i < es->c.keep; i++)
		free(es->kept[i].doc);
	free(es->kept);
	free(es);
}

static void
capture_unref(struct capture *cp)
{
	if (--cp->refs > 0)
		return;
	free(cp->procs);
	free(cp->inspect_body);
	free(cp->logs_body);
	free(cp);
}

static void
on_timer_closed(uv_handle_t *h)
{
	capture_unref(h->data);
}

/* Everything that came, or the timeout: the document, then the action. */
static void
capture_finish(struct capture *cp, int timed_out)
{
	struct evidence_store *es = cp->es;
	struct evidence_inspect *ins = NULL;
	struct log_lines ll;
	struct evidence_in in;
	char err[256];
	int have_logs = 0, rc;
	char *doc;

	if (cp->done)
		return;
	cp->done = 1;
	es->in_flight--;
	es->captured++;
	memset(&in, 0, sizeof(in));
	in.rec = &cp->rec;
	in.ts_ns = cp->ts_ns;
	in.ctr = cp->have_ctr ? &cp->ctr : NULL;
	in.procs = cp->procs;
	in.nprocs = cp->nprocs;
	in.timed_out = timed_out;
	in.capture_ms = uv_now(cp->timer.loop) - cp->start_ms;
	if (timed_out) {
		es->timeouts++;
		if (!cp->inspect_back)
			snprintf(cp->inspect_err, sizeof(cp->inspect_err),
			    "no answer within %" PRIu64 " ms",
			    es->c.timeout_ms);
		if (!cp->logs_back)
			snprintf(cp->logs_err, sizeof(cp->logs_err),
			    "no answer within %" PRIu64 " ms",
			    es->c.timeout_ms);
	}
	if (cp->inspect_body != NULL && cp->inspect_err[0] == '\0') {
		if ((ins = malloc(sizeof(*ins))) != NULL &&
		    evidence_parse_inspect(cp->inspect_body, cp->inspect_len,
			ins, err, sizeof(err)) == -1) {
			snprintf(cp->inspect_err, sizeof(cp->inspect_err),
			    "%s", err);
			free(ins);
			ins = NULL;
		}
	}
	in.inspect = ins;
	if (cp->inspect_err[0] != '\0') {
		in.inspect_error = cp->inspect_err;
		es->inspect_errors++;
	}
	log_lines_init(&ll, es->c.log_bytes, es->c.log_lines);
	if (cp->logs_body != NULL) {
		rc = docker_logs_demux(cp->logs_body, cp->logs_len,
		    ins != NULL ?
			!ins->tty :
			docker_logs_multiplexed(cp->logs_body, cp->logs_len),
		    &ll);
		have_logs = 1;
		if (rc == -2 && cp->logs_err[0] == '\0')
			snprintf(cp->logs_err, sizeof(cp->logs_err),
			    "not Docker's log stream after %zu lines", ll.n);
	}
	in.logs = have_logs ? &ll : NULL;
	if (cp->logs_err[0] != '\0') {
		in.logs_error = cp->logs_err;
		es->logs_errors++;
	}
	doc = evidence_build(&in, KW_EVIDENCE_MAX);
	log_lines_free(&ll);
	free(ins);
	if (doc == NULL)
		log_warnx("container %.12s: evidence: out of memory",
		    cp->rec.container_id);
	if (timed_out)
		log_warnx("container %.12s: evidence: Docker did not answer "
			  "within %" PRIu64 " ms; acting with what came",
		    cp->rec.container_id, es->c.timeout_ms);
	uv_timer_stop(&cp->timer);
	uv_close((uv_handle_t *)&cp->timer, on_timer_closed);
	cp->cb(cp->arg, doc);
}

static void
on_timeout(uv_timer_t *t)
{
	capture_finish(t->data, 1);
}

static void
take_body(char **dst, size_t *dlen, const char *body, size_t len)
{
	if ((*dst = malloc(len + 1)) == NULL)
		return;
	memcpy(*dst, body, len);
	(*dst)[len] = '\0';
	*dlen = len;
}

static void
on_inspect(void *arg, long code, const char *body, size_t len, const char *err)
{
	struct capture *cp = arg;

	if (!cp->done) {
		cp->inspect_back = 1;
		if (err != NULL)
			snprintf(cp->inspect_err, sizeof(cp->inspect_err),
			    "%s", err);
		else
			take_body(&cp->inspect_body, &cp->inspect_len, body,
			    len);
		if (--cp->need == 0)
			capture_finish(cp, 0);
	}
	capture_unref(cp);
}

static void
on_logs(void *arg, long code, const char *body, size_t len, const char *err)
{
	struct capture *cp = arg;

	if (!cp->done) {
		cp->logs_back = 1;
		if (err != NULL)
			snprintf(cp->logs_err, sizeof(cp->logs_err), "%s",
			    err);
		/* A body cut at the cap still has lines worth keeping. */
		if (code >= 200 && code < 300)
			take_body(&cp->logs_body, &cp->logs_len, body, len);
		if (--cp->need == 0)
			capture_finish(cp, 0);
	}
	capture_unref(cp);
}

static void
start_fetch(struct capture *cp, const char *what, size_t max,
    docker_fetch_cb cb, char *errbuf, size_t errlen, int *back)
{
	struct decider *dz = cp->dz;

	cp->refs++;
	cp->need++;
	if (dz->docker != NULL &&
	    docker_fetch(dz->docker, cp->rec.container_id, what, max,
		cp->es->c.timeout_ms, cb, cp) == 0)
		return;
	cp->refs--;
	cp->need--;
	*back = 1;
	snprintf(errbuf, errlen, "%s",
	    dz->docker == NULL || !docker_connected(dz->docker) ?
		"Docker is not connected" :
		"cannot start the API call");
}

void
evidence_capture(struct decider *dz, const struct kw_deletion_rec *rec,
    evidence_cb cb, void *arg)
{
	struct evidence_store *es = dz->evid;
	const struct engine_row *row;
	struct capture *cp;
	char what[96];
	size_t logs_max;

	if (es == NULL || (cp = calloc(1, sizeof(*cp))) == NULL) {
		cb(arg, NULL);
		return;
	}
	cp->es = es;
	cp->dz = dz;
	cp->cb = cb;
	cp->arg = arg;
	cp->rec = *rec;
	cp->rec.evidence = NULL;
	cp->ts_ns = kw_now_ns();
	es->in_flight++;
	/* The sample the engine just decided on. */
	if (es->c.procs > 0 &&
	    (cp->procs = calloc(es->c.procs, sizeof(*cp->procs))) != NULL)
		cp->nprocs = evidence_top_procs(&dz->snap, dz->eng.proc_cpu,
		    rec->container_id, cp->procs, es->c.procs);
	if ((row = engine_find(&dz->eng, rec->container_id)) != NULL) {
		engine_container_rec(&dz->eng, row,
		    engine_class_of(&dz->eng, row), &cp->ctr);
		cp->have_ctr = 1;
	}
	uv_timer_init(dz->d.loop, &cp->timer);
	cp->timer.data = cp;
	cp->refs = 1; /* the timer, until closed */
	cp->start_ms = uv_now(dz->d.loop);

	start_fetch(cp, "json", INSPECT_FETCH_MAX, on_inspect, cp->inspect_err,
	    sizeof(cp->inspect_err), &cp->inspect_back);
	logs_max = es->c.log_bytes * 4 > LOGS_FETCH_MIN ? es->c.log_bytes * 4 :
							  LOGS_FETCH_MIN;
	snprintf(what, sizeof(what), "logs?stdout=1&stderr=1&tail=%zu",
	    es->c.log_lines);
	start_fetch(cp, what, logs_max, on_logs, cp->logs_err,
	    sizeof(cp->logs_err), &cp->logs_back);
	if (cp->need == 0)
		capture_finish(cp, 0);
	else
		uv_timer_start(&cp->timer, on_timeout, es->c.timeout_ms, 0);
}

void
evidence_finish(struct evidence_store *es, struct kw_deletion_rec *rec)
{
	struct kept *k;
	char *doc;

	if (es == NULL || rec->evidence == NULL)
		return;
	if ((doc = evidence_with_result(rec->evidence, rec->result)) != NULL) {
		free(rec->evidence);
		rec->evidence = doc;
	}
	k = &es->kept[es->head];
	free(k->doc);
	if ((k->doc = strdup(rec->evidence)) == NULL)
		return;
	k->id = ++es->next_id;
	snprintf(k->container_id, sizeof(k->container_id), "%s",
	    rec->container_id);
	snprintf(k->name, sizeof(k->name), "%s", rec->name);
	es->head = (es->head + 1) % es->c.keep;
	if (es->nkept < es->c.keep)
		es->nkept++;
}

/* Newest first: by name, else by id prefix. */
static const struct kept *
kept_find(const struct evidence_store *es, const char *q)
{
	const struct kept *k;
	size_t i, qlen = strlen(q);

	for (i = 0; i < es->nkept; i++) {
		k = &es->kept[(es->head + es->c.keep - 1 - i) % es->c.keep];
		if (strcmp(k->name, q) == 0)
			return k;
	}
	for (i = 0; i < es->nkept && qlen >= 4; i++) {
		k = &es->kept[(es->head + es->c.keep - 1 - i) % es->c.keep];
		if (strncmp(k->container_id, q, qlen) == 0)
			return k;
	}
	return NULL;
}

json_t *
evidence_ctl(void *arg, const char *args)
{
	struct decider *dz = arg;
	const struct kept *k;
	char q[128];
	json_t *o;

	if (args == NULL || sscanf(args, "%127s", q) != 1)
		return json_pack("{s:s}", "error",
		    "usage: evidence NAME|ID "
		    "(a container's name, or 4 or more hex digits of its id)");
	if (dz->evid == NULL || (k = kept_find(dz->evid, q)) == NULL)
		return json_pack("{s:s,s:s}", "error",
		    "no evidence kept for "
		    "that container (the database keeps every action's)",
		    "container", q);
	if ((o = json_loads(k->doc, 0, NULL)) == NULL)
		return json_pack("{s:s}", "error", "evidence does not parse");
	json_object_set_new(o, "action_id", json_integer((json_int_t)k->id));
	return o;
}

json_t *
evidence_status(const struct evidence_store *es)
{
	if (es == NULL)
		return json_null();
	return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I}", "captured",
	    (json_int_t)es->captured, "in_flight", (json_int_t)es->in_flight,
	    "timeouts", (json_int_t)es->timeouts, "inspect_errors",
	    (json_int_t)es->inspect_errors, "logs_errors",
	    (json_int_t)es->logs_errors, "kept", (json_int_t)es->nkept);
}
