/*
 * Hooks told of each action when it ends: `hooks.exec` runs a program with
 * the facts in KWARDEN_* variables and the evidence on stdin, and
 * `hooks.webhook` POSTs the evidence (libcurl's multi interface on the
 * loop). A delivery waits in a bounded queue for one of `concurrency`
 * slots, each attempt has a timeout, a failure is retried with a doubling
 * backoff; the decisions (rate, queue, retry, backoff) are pure functions
 * at the top of this file.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "decider.h"
#include "curluv.h"

/* The decisions */

int
hook_bucket_take(struct hook_bucket *b, double rate_per_min, double burst,
    uint64_t now_ms)
{
	if (!b->primed) {
		b->tokens = burst;
		b->last_ms = now_ms;
		b->primed = 1;
	}
	if (now_ms > b->last_ms) {
		b->tokens +=
		    (double)(now_ms - b->last_ms) * rate_per_min / 60000.0;
		if (b->tokens > burst)
			b->tokens = burst;
		b->last_ms = now_ms;
	}
	if (b->tokens < 1.0)
		return 0;
	b->tokens -= 1.0;
	return 1;
}

uint64_t
hook_backoff_ms(unsigned attempt, uint64_t base_ms, uint64_t max_ms)
{
	uint64_t ms = base_ms;
	unsigned i;

	for (i = 1; i < attempt && ms < max_ms; i++)
		ms = kw_backoff_next(ms, max_ms);
	return ms < max_ms ? ms : max_ms;
}

int
hook_http_retryable(long http_code)
{
	if (http_code == 0 || http_code == 408 || http_code == 429)
		return 1;
	return http_code >= 500;
}

enum hook_next
hook_next(int ok, int retryable, unsigned attempt, unsigned retries)
{
	if (ok)
		return HOOK_NEXT_OK;
	if (retryable && attempt <= retries)
		return HOOK_NEXT_RETRY;
	return HOOK_NEXT_FAILED;
}

enum hook_admit
hook_admit(struct hook_bucket *b, size_t waiting, size_t queue_max,
    double rate_per_min, double burst, uint64_t now_ms)
{
	if (waiting >= queue_max)
		return HOOK_DROP_QUEUE;
	if (!hook_bucket_take(b, rate_per_min, burst, now_ms))
		return HOOK_DROP_RATE;
	return HOOK_ADMIT;
}

size_t
hook_env(const struct kw_deletion_rec *r, uint64_t action_id, unsigned attempt,
    char *buf, size_t len, char **env, size_t max)
{
	char v[HOOK_ENV_MAX][320];
	const char *names[HOOK_ENV_MAX];
	size_t n = 0, i, off = 0;
	int w;

#define ENV(nm, ...)                                       \
	do {                                               \
		names[n] = nm;                             \
		snprintf(v[n], sizeof(v[n]), __VA_ARGS__); \
		n++;                                       \
	} while (0)
	ENV("KWARDEN_ACTION", "%s", r->action);
	ENV("KWARDEN_RESULT", "%s", r->result);
	ENV("KWARDEN_OK", "%d", strncmp(r->result, "ok", 2) == 0);
	ENV("KWARDEN_CONTAINER_ID", "%s", r->container_id);
	ENV("KWARDEN_CONTAINER_NAME", "%s", r->name);
	ENV("KWARDEN_IMAGE", "%s", r->image);
	ENV("KWARDEN_CLASS", "%s", r->class_name);
	ENV("KWARDEN_REASON", "%s", r->reason);
	ENV("KWARDEN_CPU_PCT", "%.2f", r->cpu_pct);
	ENV("KWARDEN_MEM_PCT", "%.2f", r->mem_pct);
	ENV("KWARDEN_ACTION_ID", "%" PRIu64, action_id);
	ENV("KWARDEN_ATTEMPT", "%u", attempt);
#undef ENV
	for (i = 0; i < n && i < max; i++) {
		w = snprintf(buf + off, len - off, "%s=%s", names[i], v[i]);
		if (w < 0 || (size_t)w >= len - off)
			break;
		env[i] = buf + off;
		off += (size_t)w + 1;
	}
	return i;
}

/* The loop */

enum hook_kind {
	HOOK_EXEC,
	HOOK_WEBHOOK,
	HOOK__KINDS,
};

static const char *const kind_names[HOOK__KINDS] = { "exec", "webhook" };

enum job_state {
	JOB_QUEUED,  /* waiting for a slot */
	JOB_BACKOFF, /* waiting for the timer */
	JOB_RUNNING,
	JOB_ENDED, /* handles closing */
};

struct hooks;

struct job {
	struct hooks *h;
	enum hook_kind kind;
	enum job_state state;
	struct kw_deletion_rec rec; /* facts; evidence is payload */
	uint64_t action_id;
	char *payload;
	size_t len;
	unsigned attempt;
	int handles;	  /* open: timer, process, pipe */
	uv_timer_t timer; /* backoff, then the attempt's timeout */
	uv_process_t proc;
	uv_pipe_t in;
	uv_write_t wr;
	int proc_live;
	int timed_out;
	CURL *easy;
	struct curl_slist *headers;
	char errbuf[CURL_ERROR_SIZE];
	struct job *prev, *next;
};

struct hook_counts {
	uint64_t sent;	 /* attempts started */
	uint64_t ok;	 /* deliveries that ended well */
	uint64_t failed; /* given up */
	uint64_t retried;
	uint64_t dropped_rate;
	uint64_t dropped_queue;
	uint64_t timeouts; /* attempts over the timeout */
	size_t waiting;	   /* queued or in backoff */
	size_t in_flight;
	char last_error[256];
	struct hook_bucket bucket;
};

struct hooks {
	uv_loop_t *loop;
	struct hooks_conf c;
	struct curluv cu;
	int open; /* curluv until it is closed */
	int closing;
	struct job *jobs;
	size_t running;
	uint64_t next_id;
	struct hook_counts k[HOOK__KINDS];
};

static void pump(struct hooks *h);
static void check_curl(struct hooks *h);

static void
maybe_free(struct hooks *h)
{
	if (!h->closing || h->open > 0 || h->jobs != NULL)
		return;
	free(h);
}

/* A job goes once its handles are closed. */
static void
job_unref(struct job *j)
{
	struct hooks *h = j->h;

	if (--j->handles > 0 || j->state != JOB_ENDED)
		return;
	if (j->prev != NULL)
		j->prev->next = j->next;
	else
		h->jobs = j->next;
	if (j->next != NULL)
		j->next->prev = j->prev;
	free(j->payload);
	free(j);
	maybe_free(h);
}

static void
on_job_handle_closed(uv_handle_t *hd)
{
	job_unref(hd->data);
}

static void
job_end(struct job *j)
{
	if (j->state == JOB_ENDED)
		return;
	if (j->state == JOB_QUEUED || j->state == JOB_BACKOFF)
		j->h->k[j->kind].waiting--;
	j->state = JOB_ENDED;
	uv_timer_stop(&j->timer);
	uv_close((uv_handle_t *)&j->timer, on_job_handle_closed);
}

static void
on_backoff(uv_timer_t *t)
{
	struct job *j = t->data;

	j->state = JOB_QUEUED;
	pump(j->h);
}

/* An attempt ended: done, again later, or given up. */
static void
attempt_done(struct job *j, int ok, int retryable, const char *why)
{
	struct hooks *h = j->h;
	struct hook_counts *k = &h->k[j->kind];
	uint64_t wait;

	h->running--;
	k->in_flight--;
	if (j->easy != NULL) {
		curl_multi_remove_handle(h->cu.multi, j->easy);
		curl_easy_cleanup(j->easy);
		curl_slist_free_all(j->headers);
		j->easy = NULL;
		j->headers = NULL;
	}
	switch (hook_next(ok, retryable, j->attempt, h->c.retries)) {
	case HOOK_NEXT_OK:
		k->ok++;
		log_info("hook %s: container %.12s %s: delivered%s",
		    kind_names[j->kind], j->rec.container_id, j->rec.action,
		    j->attempt > 1 ? " after a retry" : "");
		job_end(j);
		break;
	case HOOK_NEXT_RETRY:
		k->retried++;
		wait = hook_backoff_ms(j->attempt, h->c.backoff_ms,
		    h->c.backoff_max_ms);
		log_warnx("hook %s: container %.12s %s: attempt %u: %s; "
			  "retrying in %" PRIu64 " ms",
		    kind_names[j->kind], j->rec.container_id, j->rec.action,
		    j->attempt, why, wait);
		snprintf(k->last_error, sizeof(k->last_error), "%s", why);
		if (h->closing) {
			job_end(j);
			break;
		}
		j->state = JOB_BACKOFF;
		k->waiting++;
		uv_timer_start(&j->timer, on_backoff, wait, 0);
		break;
	case HOOK_NEXT_FAILED:
		k->failed++;
		log_warnx("hook %s: container %.12s %s: failed after %u "
			  "attempt%s: %s",
		    kind_names[j->kind], j->rec.container_id, j->rec.action,
		    j->attempt, j->attempt > 1 ? "s" : "", why);
		snprintf(k->last_error, sizeof(k->last_error), "%s", why);
		job_end(j);
		break;
	}
	pump(h);
}

/* exec */

static void
on_proc_closed(uv_handle_t *hd)
{
	job_unref(hd->data);
}

static void
on_proc_exit(uv_process_t *p, int64_t status, int term_signal)
{
	struct job *j = p->data;
	char why[128];

	j->proc_live = 0;
	uv_timer_stop(&j->timer);
	if (j->timed_out)
		snprintf(why, sizeof(why), "killed after %" PRIu64 " ms",
		    j->h->c.timeout_ms);
	else if (term_signal != 0)
		snprintf(why, sizeof(why), "killed by signal %d", term_signal);
	else
		snprintf(why, sizeof(why), "exit status %" PRId64, status);
	uv_close((uv_handle_t *)p, on_proc_closed);
	if (!uv_is_closing((uv_handle_t *)&j->in))
		uv_close((uv_handle_t *)&j->in, on_proc_closed);
	attempt_done(j, status == 0 && term_signal == 0, 1, why);
}

static void
on_written(uv_write_t *w, int status)
{
	struct job *j = w->data;

	/* A hook that does not read its stdin is its own business. */
	if (!uv_is_closing((uv_handle_t *)&j->in))
		uv_close((uv_handle_t *)&j->in, on_proc_closed);
}

static void
on_exec_timeout(uv_timer_t *t)
{
	struct job *j = t->data;

	if (!j->proc_live)
		return;
	j->timed_out = 1;
	j->h->k[j->kind].timeouts++;
	/* Its own process group (detached): its children go with it. */
	if (kill(-j->proc.pid, SIGKILL) == -1)
		(void)uv_process_kill(&j->proc, SIGKILL);
}

extern char **environ;

static int
start_exec(struct job *j, char *why, size_t whylen)
{
	struct hooks *h = j->h;
	uv_process_options_t o;
	uv_stdio_container_t io[3];
	char envbuf[8192], **env;
	char *argv[2];
	size_t n = 0, i, nours;
	uv_buf_t b;
	int rc;

	for (i = 0; environ[i] != NULL; i++)
		n++;
	if ((env = calloc(n + HOOK_ENV_MAX + 1, sizeof(*env))) == NULL) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	nours = hook_env(&j->rec, j->action_id, j->attempt, envbuf,
	    sizeof(envbuf), env, HOOK_ENV_MAX);
	for (i = 0, n = nours; environ[i] != NULL; i++)
		if (strncmp(environ[i], "KWARDEN_", 8) != 0)
			env[n++] = environ[i];
	env[n] = NULL;
	argv[0] = h->c.exec;
	argv[1] = NULL;
	uv_pipe_init(h->loop, &j->in, 0);
	j->in.data = j;
	j->handles++;
	memset(io, 0, sizeof(io));
	io[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
	io[0].data.stream = (uv_stream_t *)&j->in;
	io[1].flags = UV_IGNORE;
	io[2].flags = UV_INHERIT_FD;
	io[2].data.fd = 2;
	memset(&o, 0, sizeof(o));
	o.file = h->c.exec;
	o.args = argv;
	o.env = env;
	o.stdio = io;
	o.stdio_count = 3;
	o.flags = UV_PROCESS_DETACHED;
	o.exit_cb = on_proc_exit;
	j->proc.data = j;
	rc = uv_spawn(h->loop, &j->proc, &o);
	free(env);
	j->handles++; /* the process handle, even on failure */
	if (rc != 0) {
		snprintf(why, whylen, "%.200s: %s", h->c.exec,
		    uv_strerror(rc));
		uv_close((uv_handle_t *)&j->proc, on_proc_closed);
		uv_close((uv_handle_t *)&j->in, on_proc_closed);
		return -1;
	}
	j->proc_live = 1;
	j->timed_out = 0;
	b = uv_buf_init(j->payload, (unsigned)j->len);
	j->wr.data = j;
	if (uv_write(&j->wr, (uv_stream_t *)&j->in, &b, 1, on_written) != 0)
		uv_close((uv_handle_t *)&j->in, on_proc_closed);
	uv_timer_start(&j->timer, on_exec_timeout, h->c.timeout_ms, 0);
	return 0;
}

/* webhook: curl <-> libuv, as docker.c does it */

/* curl <-> libuv: decider/curluv.c */

static void
on_curl_work(void *arg)
{
	check_curl(arg);
}

static void
on_curl_closed(void *arg)
{
	struct hooks *h = arg;

	h->open--;
	maybe_free(h);
}

static size_t
discard(char *p, size_t size, size_t nmemb, void *arg)
{
	return size * nmemb;
}

static void
check_curl(struct hooks *h)
{
	struct job *j;
	CURLMsg *m;
	char why[320];
	long code = 0;
	int left;

	while ((m = curl_multi_info_read(h->cu.multi, &left)) != NULL) {
		if (m->msg != CURLMSG_DONE)
			continue;
		j = NULL;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &j);
		if (j == NULL)
			continue;
		curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &code);
		if (m->data.result == CURLE_OPERATION_TIMEDOUT)
			h->k[j->kind].timeouts++;
		if (m->data.result != CURLE_OK)
			snprintf(why, sizeof(why), "%.300s",
			    j->errbuf[0] ? j->errbuf :
					   curl_easy_strerror(m->data.result));
		else
			snprintf(why, sizeof(why), "HTTP %ld", code);
		attempt_done(j,
		    m->data.result == CURLE_OK && code >= 200 && code < 300,
		    m->data.result != CURLE_OK || hook_http_retryable(code),
		    why);
	}
}

static int
start_webhook(struct job *j, char *why, size_t whylen)
{
	struct hooks *h = j->h;
	char hdr[64];

	if ((j->easy = curl_easy_init()) == NULL) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	j->errbuf[0] = '\0';
	j->headers = curl_slist_append(NULL, "Content-Type: application/json");
	snprintf(hdr, sizeof(hdr), "X-Kwarden-Attempt: %u", j->attempt);
	j->headers = curl_slist_append(j->headers, hdr);
	curl_easy_setopt(j->easy, CURLOPT_URL, h->c.webhook);
	curl_easy_setopt(j->easy, CURLOPT_PRIVATE, j);
	curl_easy_setopt(j->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(j->easy, CURLOPT_POSTFIELDS, j->payload);
	curl_easy_setopt(j->easy, CURLOPT_POSTFIELDSIZE, (long)j->len);
	curl_easy_setopt(j->easy, CURLOPT_HTTPHEADER, j->headers);
	curl_easy_setopt(j->easy, CURLOPT_TIMEOUT_MS, (long)h->c.timeout_ms);
	curl_easy_setopt(j->easy, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(j->easy, CURLOPT_ERRORBUFFER, j->errbuf);
	curl_easy_setopt(j->easy, CURLOPT_USERAGENT, "kwarden/" KW_VERSION);
	curl_easy_setopt(j->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	if (curl_multi_add_handle(h->cu.multi, j->easy) != CURLM_OK) {
		curl_easy_cleanup(j->easy);
		curl_slist_free_all(j->headers);
		j->easy = NULL;
		j->headers = NULL;
		snprintf(why, whylen, "cannot start the request");
		return -1;
	}
	return 0;
}

/* Start what waits, oldest first, while there are free slots. */
static void
pump(struct hooks *h)
{
	struct job *j, *oldest;
	char why[320];
	int rc;

	while (!h->closing && h->running < h->c.concurrency) {
		oldest = NULL;
		for (j = h->jobs; j != NULL; j = j->next)
			if (j->state == JOB_QUEUED)
				oldest = j; /* the list is newest first */
		if ((j = oldest) == NULL)
			return;
		h->k[j->kind].waiting--;
		j->state = JOB_RUNNING;
		j->attempt++;
		h->running++;
		h->k[j->kind].in_flight++;
		h->k[j->kind].sent++;
		rc = j->kind == HOOK_EXEC ? start_exec(j, why, sizeof(why)) :
					    start_webhook(j, why, sizeof(why));
		if (rc == -1)
			attempt_done(j, 0, 1, why);
	}
}

static void
enqueue(struct hooks *h, enum hook_kind kind, const struct kw_deletion_rec *r,
    const char *payload)
{
	struct hook_counts *k = &h->k[kind];
	struct job *j;

	switch (hook_admit(&k->bucket, k->waiting, h->c.queue_max,
	    h->c.rate_per_min, h->c.burst, uv_now(h->loop))) {
	case HOOK_DROP_QUEUE:
		k->dropped_queue++;
		log_warnx("hook %s: container %.12s %s: dropped: %zu "
			  "deliveries already waiting (hooks.queue_max)",
		    kind_names[kind], r->container_id, r->action, k->waiting);
		return;
	case HOOK_DROP_RATE:
		k->dropped_rate++;
		log_warnx("hook %s: container %.12s %s: dropped: over "
			  "hooks.rate_per_min",
		    kind_names[kind], r->container_id, r->action);
		return;
	case HOOK_ADMIT:
		break;
	}
	if ((j = calloc(1, sizeof(*j))) == NULL ||
	    (j->payload = strdup(payload)) == NULL) {
		free(j);
		k->failed++;
		log_warnx("hook %s: container %.12s: out of memory",
		    kind_names[kind], r->container_id);
		return;
	}
	j->h = h;
	j->kind = kind;
	j->rec = *r;
	j->rec.evidence = NULL;
	j->action_id = h->next_id;
	j->len = strlen(payload);
	j->state = JOB_QUEUED;
	uv_timer_init(h->loop, &j->timer);
	j->timer.data = j;
	j->handles = 1;
	j->next = h->jobs;
	if (h->jobs != NULL)
		h->jobs->prev = j;
	h->jobs = j;
	k->waiting++;
}

struct hooks *
hooks_new(struct uv_loop_s *loop, const struct hooks_conf *c)
{
	struct hooks *h;

	if ((h = calloc(1, sizeof(*h))) == NULL)
		return NULL;
	h->loop = loop;
	h->c = *c;
	if (h->c.concurrency == 0)
		h->c.concurrency = 1;
	if (curluv_init(&h->cu, loop, "hooks", on_curl_work, on_curl_closed,
		h) == -1) {
		free(h);
		return NULL;
	}
	h->open = 1;
	return h;
}

void
hooks_fire(struct hooks *h, const struct kw_deletion_rec *rec)
{
	char *doc = NULL;
	const char *payload;

	if (h == NULL || h->closing ||
	    (h->c.exec[0] == '\0' && h->c.webhook[0] == '\0'))
		return;
	h->next_id++;
	payload = rec->evidence;
	if (payload == NULL || payload[0] == '\0') {
		/* No evidence: the facts alone. */
		if ((doc = evidence_with_result(NULL, rec->result)) == NULL)
			return;
		payload = doc;
	}
	if (h->c.exec[0] != '\0')
		enqueue(h, HOOK_EXEC, rec, payload);
	if (h->c.webhook[0] != '\0')
		enqueue(h, HOOK_WEBHOOK, rec, payload);
	free(doc);
	pump(h);
}

int
hooks_outcomes(const struct hooks *h, struct metrics_counts *t)
{
	static const char *const names[] = { "ok", "failed", "retried",
		"dropped_rate", "dropped_queue", "timeout" };
	const struct hook_counts *k;
	const char *target, *label[2];
	uint64_t v[6];
	size_t j;
	int i;

	if (h == NULL)
		return 0;
	for (i = 0; i < HOOK__KINDS; i++) {
		target = i == HOOK_EXEC ? h->c.exec : h->c.webhook;
		if (target[0] == '\0')
			continue;
		k = &h->k[i];
		v[0] = k->ok;
		v[1] = k->failed;
		v[2] = k->retried;
		v[3] = k->dropped_rate;
		v[4] = k->dropped_queue;
		v[5] = k->timeouts;
		label[0] = kind_names[i];
		for (j = 0; j < 6; j++) {
			label[1] = names[j];
			if (metrics_counts_add(t, label, 2, v[j]) == -1)
				return -1;
		}
	}
	return 0;
}

json_t *
hooks_status(const struct hooks *h)
{
	const struct hook_counts *k;
	json_t *o, *v;
	int i;

	if ((o = json_object()) == NULL || h == NULL)
		return o;
	for (i = 0; i < HOOK__KINDS; i++) {
		k = &h->k[i];
		v = json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:s}",
		    "target", i == HOOK_EXEC ? h->c.exec : h->c.webhook,
		    "sent", (json_int_t)k->sent, "ok", (json_int_t)k->ok,
		    "failed", (json_int_t)k->failed, "retried",
		    (json_int_t)k->retried, "dropped_rate",
		    (json_int_t)k->dropped_rate, "dropped_queue",
		    (json_int_t)k->dropped_queue, "timeouts",
		    (json_int_t)k->timeouts, "waiting", (json_int_t)k->waiting,
		    "in_flight", (json_int_t)k->in_flight, "last_error",
		    k->last_error);
		json_object_set_new(o, kind_names[i], v);
	}
	return o;
}

void
hooks_close(struct hooks *h)
{
	struct job *j, *next;
	size_t n = 0;

	if (h == NULL || h->closing)
		return;
	h->closing = 1;
	for (j = h->jobs; j != NULL; j = next) {
		next = j->next;
		if (j->state == JOB_ENDED)
			continue;
		n++;
		if (j->state == JOB_RUNNING && j->kind == HOOK_EXEC) {
			/* on_proc_exit ends it. */
			if (j->proc_live)
				(void)kill(-j->proc.pid, SIGKILL);
			continue;
		}
		if (j->state == JOB_RUNNING) {
			h->running--;
			h->k[j->kind].in_flight--;
			curl_multi_remove_handle(h->cu.multi, j->easy);
			curl_easy_cleanup(j->easy);
			curl_slist_free_all(j->headers);
			j->easy = NULL;
			j->headers = NULL;
		}
		h->k[j->kind].dropped_queue++;
		job_end(j);
	}
	if (n > 0)
		log_warnx("hooks: stopping: %zu deliveries not made", n);
	curluv_close(&h->cu);
}
