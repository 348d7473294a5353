/*
 * The Docker Engine API client (v1.41 over the unix socket): libcurl's
 * multi-socket interface driven by the decider's libuv loop, so no call
 * ever blocks sampling. A session lists the running containers and follows
 * GET /events to keep the table current; when either fails the session is
 * dropped and started again after a doubling backoff (one timer). Actions
 * (remove, stop, kill; throttle, release and quarantine through the
 * update call) are calls of their own that report through a callback.
 * Parsing is in dockerjson.c.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <uv.h>

#include "kwarden.h"
#include "decider.h"
#include "curluv.h"

#define API		     "http://localhost/v1.41"
#define EVENTS_FILTER	     "%7B%22type%22%3A%5B%22container%22%5D%7D"
#define BACKOFF_MIN_MS	     250
#define BACKOFF_MAX_MS	     5000
#define BODY_MAX	     (16u << 20) /* list, inspect, error bodies */
#define EVENT_MAX	     (1u << 20)	 /* one event object */
#define INSPECT_QUEUE	     64
#define MISSING_MAX	     256   /* ids Docker said are unknown */
#define INSPECT_RETRY_MIN_MS 1000  /* after a failed inspect ... */
#define INSPECT_RETRY_MAX_MS 60000 /* ... doubling up to this */
#define INSPECT_FAILED_MAX   64

/* An inspect that failed (not 404): not asked again before not_before. */
struct inspect_failure {
	char id[KW_CID_LEN];
	uint64_t not_before_ms; /* uv_now() */
	uint64_t backoff_ms;
};

enum dreq_kind {
	DREQ_LIST,
	DREQ_EVENTS,
	DREQ_INSPECT,
	DREQ_ACTION,
	DREQ_FETCH, /* docker_fetch: a GET for the caller */
};

struct docker;

struct dreq {
	struct docker *dk;
	CURL *easy;
	enum dreq_kind kind;
	uint64_t session; /* list, events, inspect */
	char *buf;
	size_t len;
	size_t cap;
	char id[KW_CID_LEN];
	enum action action;
	docker_action_cb cb;
	docker_fetch_cb fcb; /* DREQ_FETCH */
	size_t max;	     /* body cap; 0: BODY_MAX */
	void *arg;
	char fail[256];		    /* why on_write gave up */
	struct curl_slist *headers; /* a call with a JSON body */
	int chained;		    /* quarantine: the stop after update */
	char errbuf[CURL_ERROR_SIZE];
	struct dreq *prev, *next;
};

enum dk_state {
	DK_DOWN,       /* waiting for the retry timer */
	DK_CONNECTING, /* events requested, list not back yet */
	DK_CONNECTED,
};

struct docker {
	uv_loop_t *loop;
	struct curluv cu;
	uv_timer_t retry_timer;
	char *socket_path;
	uint64_t timeout_ms;
	uint64_t stop_timeout_ms; /* 0: half timeout_ms */
	struct docker_table table;
	struct dreq *reqs;
	size_t nreqs;
	uint64_t session;
	struct dreq *events;
	struct dreq *list;
	enum dk_state state;
	int reported; /* this state was logged */
	uint64_t backoff_ms;
	char inspect_q[INSPECT_QUEUE][KW_CID_LEN];
	size_t ninspect_q;
	kw_cidbuf *missing;
	size_t nmissing;
	size_t missing_next;
	struct inspect_failure ifail[INSPECT_FAILED_MAX];
	size_t nifail;
	int closing;
	int open_handles;
	uint64_t lookup_start_ms; /* limits.docker_lookups window */
	uint64_t lookups_in_window;
	struct docker_stats st;
};

static void session_begin(struct docker *dk);
static int quarantine_stop(struct docker *dk, struct dreq *from);
static void on_retry(uv_timer_t *t);
static void check_done(struct docker *dk);
static void fetch_done(struct docker *dk, struct dreq *r, CURLcode res,
    long code);

static void
maybe_free(struct docker *dk)
{
	if (!dk->closing || dk->open_handles > 0)
		return;
	docker_table_free(&dk->table);
	free(dk->missing);
	free(dk->socket_path);
	free(dk);
}

static void
on_handle_close(uv_handle_t *h)
{
	struct docker *dk = h->data;

	dk->open_handles--;
	maybe_free(dk);
}

/* curl <-> libuv: decider/curluv.c */

static void
on_curl_work(void *arg)
{
	check_done(arg);
}

static void
on_curl_closed(void *arg)
{
	struct docker *dk = arg;

	dk->open_handles--;
	maybe_free(dk);
}

/* Requests */

static int
buf_append(struct dreq *r, const char *p, size_t n, size_t max)
{
	size_t cap = r->cap ? r->cap : 4096;
	char *nb;

	if (r->len + n + 1 > max)
		return -1;
	while (cap < r->len + n + 1)
		cap *= 2;
	if (cap != r->cap) {
		if ((nb = realloc(r->buf, cap)) == NULL)
			return -1;
		r->buf = nb;
		r->cap = cap;
	}
	memcpy(r->buf + r->len, p, n);
	r->len += n;
	r->buf[r->len] = '\0';
	return 0;
}

static int
id_missing(const struct docker *dk, const char *id)
{
	size_t i;

	for (i = 0; i < dk->nmissing; i++)
		if (strcmp(dk->missing[i], id) == 0)
			return 1;
	return 0;
}

static void
id_set_missing(struct docker *dk, const char *id)
{
	if (id_missing(dk, id))
		return;
	if (dk->missing == NULL &&
	    (dk->missing = calloc(MISSING_MAX, sizeof(*dk->missing))) == NULL)
		return;
	snprintf(dk->missing[dk->missing_next], KW_CID_LEN, "%s", id);
	dk->missing_next = (dk->missing_next + 1) % MISSING_MAX;
	if (dk->nmissing < MISSING_MAX)
		dk->nmissing++;
}

static void
id_clear_missing(struct docker *dk, const char *id)
{
	size_t i;

	for (i = 0; i < dk->nmissing; i++)
		if (strcmp(dk->missing[i], id) == 0)
			dk->missing[i][0] = '\0';
}

static struct inspect_failure *
ifail_find(struct docker *dk, const char *id)
{
	size_t i;

	for (i = 0; i < dk->nifail; i++)
		if (strcmp(dk->ifail[i].id, id) == 0)
			return &dk->ifail[i];
	return NULL;
}

static void
ifail_clear(struct docker *dk, const char *id)
{
	struct inspect_failure *f = ifail_find(dk, id);

	if (f != NULL)
		*f = dk->ifail[--dk->nifail];
}

/* Another failed inspect of id: wait 1 s, doubling up to 60 s. */
static void
ifail_note(struct docker *dk, const char *id)
{
	struct inspect_failure *f = ifail_find(dk, id);
	uint64_t now = uv_now(dk->loop);

	if (f == NULL) {
		f = dk->nifail < INSPECT_FAILED_MAX ?
		    &dk->ifail[dk->nifail++] :
		    &dk->ifail[now % INSPECT_FAILED_MAX];
		memset(f, 0, sizeof(*f));
		snprintf(f->id, sizeof(f->id), "%s", id);
	}
	f->backoff_ms =
	    f->backoff_ms ? f->backoff_ms * 2 : INSPECT_RETRY_MIN_MS;
	if (f->backoff_ms > INSPECT_RETRY_MAX_MS)
		f->backoff_ms = INSPECT_RETRY_MAX_MS;
	f->not_before_ms = now + f->backoff_ms;
}

static int
ifail_waiting(struct docker *dk, const char *id)
{
	const struct inspect_failure *f = ifail_find(dk, id);

	return f != NULL && uv_now(dk->loop) < f->not_before_ms;
}

static void
queue_inspect(struct docker *dk, const char *id)
{
	size_t i;
	struct dreq *r;

	for (i = 0; i < dk->ninspect_q; i++)
		if (strcmp(dk->inspect_q[i], id) == 0)
			return;
	for (r = dk->reqs; r != NULL; r = r->next)
		if (r->kind == DREQ_INSPECT && strcmp(r->id, id) == 0)
			return;
	if (dk->ninspect_q < INSPECT_QUEUE)
		snprintf(dk->inspect_q[dk->ninspect_q++], KW_CID_LEN, "%s",
		    id);
}

/* Apply every complete event in the buffer; -1 on a broken stream. */
static int
events_feed(struct dreq *r)
{
	struct docker *dk = r->dk;
	struct docker_event ev;
	char err[256];
	size_t start, used = 0;
	long n;

	for (;;) {
		n = docker_stream_next(r->buf + used, r->len - used, &start);
		if (n == 0) {
			used += start;
			break;
		}
		if (n < 0) {
			snprintf(r->fail, sizeof(r->fail),
			    "event stream: "
			    "not a JSON object at byte %zu",
			    used + start);
			return -1;
		}
		dk->st.events++;
		if (docker_parse_event(r->buf + used + start, (size_t)n, &ev,
			err, sizeof(err)) == -1)
			log_warnx("docker: %s: skipped", err);
		else {
			switch (docker_table_apply_event(&dk->table, &ev)) {
			case DOCKER_APPLY_UNKNOWN:
				queue_inspect(dk, ev.c.id);
				break;
			case DOCKER_APPLY_ADDED:
				id_clear_missing(dk, ev.c.id);
				log_debug("docker: %s %.12s %s (%s)",
				    ev.action, ev.c.id, ev.c.name, ev.c.image);
				break;
			default:
				log_debug("docker: %s %.12s", ev.action,
				    ev.c.id);
				break;
			}
		}
		used += start + (size_t)n;
	}
	if (used > 0) {
		memmove(r->buf, r->buf + used, r->len - used);
		r->len -= used;
	}
	if (r->len > EVENT_MAX) {
		snprintf(r->fail, sizeof(r->fail),
		    "event stream: an event "
		    "over %u bytes",
		    EVENT_MAX);
		return -1;
	}
	return 0;
}

static size_t
on_write(char *p, size_t size, size_t nmemb, void *arg)
{
	struct dreq *r = arg;
	size_t n = size * nmemb;
	long code = 0;

	if (r->kind == DREQ_EVENTS) {
		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
		if (code == 200) {
			if (buf_append(r, p, n, EVENT_MAX * 2) == -1) {
				snprintf(r->fail, sizeof(r->fail),
				    "event stream: out of buffer");
				return 0;
			}
			return events_feed(r) == -1 ? 0 : n;
		}
	}
	if (buf_append(r, p, n, r->max ? r->max : BODY_MAX) == -1) {
		snprintf(r->fail, sizeof(r->fail), "response over %zu bytes",
		    r->max ? r->max : (size_t)BODY_MAX);
		return 0;
	}
	return n;
}

static void
req_free(struct docker *dk, struct dreq *r)
{
	if (r->prev != NULL)
		r->prev->next = r->next;
	else
		dk->reqs = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
	dk->nreqs--;
	if (dk->events == r)
		dk->events = NULL;
	if (dk->list == r)
		dk->list = NULL;
	if (r->easy != NULL) {
		curl_multi_remove_handle(dk->cu.multi, r->easy);
		curl_easy_cleanup(r->easy);
	}
	curl_slist_free_all(r->headers);
	free(r->buf);
	free(r);
}

/* method: NULL for GET, else "POST" or "DELETE"; deadline 0: none. */
static struct dreq *
req_new(struct docker *dk, enum dreq_kind kind, const char *method,
    const char *path, uint64_t deadline_ms)
{
	struct dreq *r;
	char url[512];

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	if ((r->easy = curl_easy_init()) == NULL) {
		free(r);
		return NULL;
	}
	r->dk = dk;
	r->kind = kind;
	r->session = dk->session;
	snprintf(url, sizeof(url), "%s%s", API, path);
	curl_easy_setopt(r->easy, CURLOPT_UNIX_SOCKET_PATH, dk->socket_path);
	curl_easy_setopt(r->easy, CURLOPT_URL, url);
	curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
	curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(r->easy, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(r->easy, CURLOPT_CONNECTTIMEOUT_MS,
	    (long)dk->timeout_ms);
	curl_easy_setopt(r->easy, CURLOPT_USERAGENT, "kwarden/" KW_VERSION);
	/* The event stream stays open; everything else has a deadline. */
	if (deadline_ms > 0)
		curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS,
		    (long)deadline_ms);
	if (method != NULL && strcmp(method, "POST") == 0) {
		curl_easy_setopt(r->easy, CURLOPT_POST, 1L);
		curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE, 0L);
	} else if (method != NULL)
		curl_easy_setopt(r->easy, CURLOPT_CUSTOMREQUEST, method);
	if (curl_multi_add_handle(dk->cu.multi, r->easy) != CURLM_OK) {
		curl_easy_cleanup(r->easy);
		free(r);
		return NULL;
	}
	r->next = dk->reqs;
	if (dk->reqs != NULL)
		dk->reqs->prev = r;
	dk->reqs = r;
	dk->nreqs++;
	return r;
}

/* Why a call failed, as a person would say it. */
static void
req_error(const struct dreq *r, CURLcode res, long code, char *out, size_t len)
{
	long os_errno = 0;

	if (res == CURLE_COULDNT_CONNECT)
		curl_easy_getinfo(r->easy, CURLINFO_OS_ERRNO, &os_errno);
	if (r->fail[0] != '\0')
		snprintf(out, len, "%.200s", r->fail);
	else if (res == CURLE_OPERATION_TIMEDOUT)
		snprintf(out, len,
		    "Docker did not answer within %" PRIu64 " ms",
		    r->dk->timeout_ms);
	else if (res == CURLE_COULDNT_CONNECT && os_errno != 0)
		snprintf(out, len, "Docker unreachable at %.100s: %s",
		    r->dk->socket_path, strerror((int)os_errno));
	else if (res != CURLE_OK)
		snprintf(out, len, "Docker unreachable at %.100s: %.120s",
		    r->dk->socket_path,
		    r->errbuf[0] ? r->errbuf : curl_easy_strerror(res));
	else
		docker_error_text(r->buf, r->len, code, out, len);
}

static void
start_inspects(struct docker *dk)
{
	struct dreq *r;
	char path[128];
	size_t i;

	if (dk->state == DK_DOWN || dk->closing) {
		dk->ninspect_q = 0;
		return;
	}
	for (i = 0; i < dk->ninspect_q; i++) {
		snprintf(path, sizeof(path), "/containers/%s/json",
		    dk->inspect_q[i]);
		if ((r = req_new(dk, DREQ_INSPECT, NULL, path,
			 dk->timeout_ms)) != NULL)
			snprintf(r->id, sizeof(r->id), "%s", dk->inspect_q[i]);
	}
	dk->ninspect_q = 0;
}

/* The session failed: drop its calls, say so once, retry later. */
static void
session_fail(struct docker *dk, const char *why)
{
	struct dreq *r, *next;

	snprintf(dk->st.last_error, sizeof(dk->st.last_error), "%s", why);
	for (r = dk->reqs; r != NULL; r = next) {
		next = r->next;
		if (r->kind != DREQ_ACTION && r->kind != DREQ_FETCH)
			req_free(dk, r);
	}
	if (dk->state != DK_DOWN &&
	    (dk->state == DK_CONNECTED || !dk->reported)) {
		log_warnx("docker: unreachable: %s; retrying in the "
			  "background",
		    why);
		dk->reported = 1;
	}
	if (dk->state == DK_CONNECTED)
		dk->backoff_ms = BACKOFF_MIN_MS;
	dk->state = DK_DOWN;
	dk->st.connected = 0;
	uv_timer_start(&dk->retry_timer, on_retry, dk->backoff_ms, 0);
	dk->backoff_ms = kw_backoff_next(dk->backoff_ms, BACKOFF_MAX_MS);
}

/*
 * The list is in: fill the table. -1 with why when it does not parse; the
 * caller fails the session (which frees r, as every non-action call).
 */
static int
list_done(struct docker *dk, struct dreq *r, char *why, size_t whylen)
{
	struct docker_ctr *c;
	size_t n, i, dropped;

	if (docker_parse_list(r->buf, r->len, &c, &n, why, whylen) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		if (docker_table_upsert(&dk->table, &c[i]) == NULL)
			break;
		id_clear_missing(dk, c[i].id);
	}
	free(c);
	/* Entries neither listed nor in an event since this session began. */
	dropped = docker_table_drop_older(&dk->table, dk->table.gen);
	dk->st.lists++;
	dk->state = DK_CONNECTED;
	dk->st.connected = 1;
	dk->backoff_ms = BACKOFF_MIN_MS;
	log_info("docker: connected to %s: %zu running containers%s",
	    dk->socket_path, n, dropped ? " (stale ones forgotten)" : "");
	dk->reported = 1;
	return 0;
}

static void
inspect_done(struct docker *dk, struct dreq *r, long code)
{
	struct docker_ctr c;
	char err[256];

	dk->st.inspects++;
	if (code == 404) {
		/* Gone: what the table still had of it is stale. */
		ifail_clear(dk, r->id);
		id_set_missing(dk, r->id);
		docker_table_remove(&dk->table, r->id);
		return;
	}
	if (code != 200 ||
	    docker_parse_inspect(r->buf, r->len, &c, err, sizeof(err)) == -1) {
		if (code == 200)
			log_warnx("docker: %s", err);
		ifail_note(dk, r->id);
		return;
	}
	ifail_clear(dk, r->id);
	if (docker_table_upsert(&dk->table, &c) != NULL)
		log_debug("docker: inspected %.12s %s (%s)", c.id, c.name,
		    c.image);
}

/*
 * Docker's answer decides ok or failed. With no answer, what matters is
 * whether the request went out: dockerd goes on with a DELETE or a stop
 * after the client gives up, so a timeout or a cut connection after
 * sending is "unknown", never "did not happen".
 */
static void
action_done(struct docker *dk, struct dreq *r, CURLcode res, long code)
{
	char result[256], why[200];
	enum docker_outcome outcome;
	long sent = 0;

	curl_easy_getinfo(r->easy, CURLINFO_REQUEST_SIZE, &sent);
	if (code != 0 && r->fail[0] == '\0' &&
	    ((code >= 200 && code < 300) || code == 304)) {
		outcome = DOCKER_ACT_OK;
		snprintf(result, sizeof(result), "ok");
		dk->st.actions_ok++;
	} else if (code == 0 && res != CURLE_OK && sent > 0) {
		outcome = DOCKER_ACT_UNKNOWN;
		req_error(r, res, code, why, sizeof(why));
		snprintf(result, sizeof(result),
		    "unknown: %s; waiting for "
		    "Docker",
		    why);
		dk->st.actions_unknown++;
	} else {
		outcome = DOCKER_ACT_FAILED;
		req_error(r, res, code, result, sizeof(result));
		dk->st.actions_failed++;
	}
	/* Quarantine: the restart policy is "no"; now the stop. */
	if (outcome == DOCKER_ACT_OK && r->action == ACTION_QUARANTINE &&
	    !r->chained) {
		if (quarantine_stop(dk, r) == 0) {
			r->cb = NULL;
			return;
		}
		outcome = DOCKER_ACT_FAILED;
		snprintf(result, sizeof(result),
		    "restart policy set to "
		    "\"no\"; cannot start the stop call");
	}
	if (r->cb != NULL)
		r->cb(r->arg, outcome, result);
	r->cb = NULL;
}

static void
req_done(struct dreq *r, CURLcode res)
{
	struct docker *dk = r->dk;
	char why[256];
	long code = 0;

	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
	switch (r->kind) {
	case DREQ_ACTION:
		action_done(dk, r, res, code);
		req_free(dk, r);
		return;
	case DREQ_FETCH:
		fetch_done(dk, r, res, code);
		req_free(dk, r);
		return;
	case DREQ_INSPECT:
		if (res == CURLE_OK)
			inspect_done(dk, r, code);
		else
			ifail_note(dk, r->id);
		req_free(dk, r);
		return;
	case DREQ_LIST:
		if (res == CURLE_OK && code == 200) {
			if (list_done(dk, r, why, sizeof(why)) == 0) {
				req_free(dk, r);
				return;
			}
		} else
			req_error(r, res, code, why, sizeof(why));
		session_fail(dk, why); /* frees r */
		return;
	case DREQ_EVENTS:
		if (code == 200 && r->fail[0] == '\0')
			snprintf(why, sizeof(why),
			    "event stream closed%s"
			    "%.200s",
			    res == CURLE_OK ? "" : ": ",
			    res == CURLE_OK ? "" : curl_easy_strerror(res));
		else
			req_error(r, res, code, why, sizeof(why));
		session_fail(dk, why); /* frees r */
		return;
	}
}

static void
check_done(struct docker *dk)
{
	struct dreq *r;
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(dk->cu.multi, &left)) != NULL) {
		if (m->msg != CURLMSG_DONE)
			continue;
		r = NULL;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &r);
		if (r != NULL)
			req_done(r, m->data.result);
	}
	start_inspects(dk);
}

static void
on_retry(uv_timer_t *t)
{
	session_begin(t->data);
}

static void
session_begin(struct docker *dk)
{
	char path[128];

	if (dk->closing)
		return;
	if (dk->session > 0)
		dk->st.reconnects++;
	dk->session++;
	dk->table.gen++;
	dk->nmissing = 0;
	dk->missing_next = 0;
	dk->nifail = 0;
	dk->state = DK_CONNECTING;
	/*
	 * Events first, from a second back, then the list: a container that
	 * starts in between is in one or the other (or both: harmless).
	 */
	snprintf(path, sizeof(path), "/events?since=%lld&filters=%s",
	    (long long)time(NULL) - 1, EVENTS_FILTER);
	dk->events = req_new(dk, DREQ_EVENTS, NULL, path, 0);
	dk->list =
	    req_new(dk, DREQ_LIST, NULL, "/containers/json", dk->timeout_ms);
	if (dk->events == NULL || dk->list == NULL)
		session_fail(dk, "cannot start an API call");
}

/* API */

struct docker *
docker_new(struct uv_loop_s *loop, const char *socket_path,
    uint64_t timeout_ms)
{
	struct docker *dk;

	if ((dk = calloc(1, sizeof(*dk))) == NULL)
		return NULL;
	if ((dk->socket_path = strdup(socket_path)) == NULL ||
	    curluv_init(&dk->cu, loop, "docker", on_curl_work, on_curl_closed,
		dk) == -1) {
		free(dk->socket_path);
		free(dk);
		return NULL;
	}
	dk->loop = loop;
	dk->timeout_ms = timeout_ms;
	dk->backoff_ms = BACKOFF_MIN_MS;
	docker_table_init(&dk->table);
	uv_timer_init(loop, &dk->retry_timer);
	dk->retry_timer.data = dk;
	dk->open_handles = 2; /* the retry timer and curluv */
	return dk;
}

void
docker_start(struct docker *dk)
{
	session_begin(dk);
}

int
docker_connected(const struct docker *dk)
{
	return dk->state == DK_CONNECTED;
}

/* An inspect of id is queued or out. */
static int
inspect_pending(const struct docker *dk, const char *id)
{
	const struct dreq *r;
	size_t i;

	for (i = 0; i < dk->ninspect_q; i++)
		if (strcmp(dk->inspect_q[i], id) == 0)
			return 1;
	for (r = dk->reqs; r != NULL; r = r->next)
		if (r->kind == DREQ_INSPECT && strcmp(r->id, id) == 0)
			return 1;
	return 0;
}

/*
 * Anyone who can make a cgroup can make up ids: at most
 * limits.docker_lookups inspects of ids Docker does not know per
 * interval; the rest wait for the next one (counted, logged).
 */
static int
lookup_allowed(struct docker *dk)
{
	const struct kw_limits *l = kw_limits_get();
	uint64_t now = uv_now(dk->loop);

	if (dk->lookups_in_window == 0 ||
	    now - dk->lookup_start_ms >= l->docker_lookup_interval_ms) {
		dk->lookup_start_ms = now;
		dk->lookups_in_window = 0;
	}
	if (dk->lookups_in_window >= l->docker_lookups) {
		dk->st.lookups_deferred++;
		kw_limit_hit(KW_HIT_DOCKER_LOOKUPS,
		    "docker: more than %" PRIu64
		    " unknown container ids in %" PRIu64 " ms: not "
		    "inspected now (limits.docker_lookups)",
		    l->docker_lookups, l->docker_lookup_interval_ms);
		return 0;
	}
	dk->lookups_in_window++;
	return 1;
}

const struct docker_ctr *
docker_lookup(struct docker *dk, const char *id)
{
	const struct docker_ctr *c = docker_table_find(&dk->table, id);

	/* Seen in cgroups, unknown here: ask once per session. */
	if (c == NULL && dk->state == DK_CONNECTED && !id_missing(dk, id) &&
	    !ifail_waiting(dk, id) && !inspect_pending(dk, id) &&
	    lookup_allowed(dk)) {
		queue_inspect(dk, id);
		start_inspects(dk);
	}
	return c;
}

const struct docker_ctr *
docker_peek(const struct docker *dk, const char *id)
{
	return docker_table_find(&dk->table, id);
}

void
docker_refresh(struct docker *dk, const char *id)
{
	if (dk->state != DK_CONNECTED || dk->closing || !kw_cid_ok(id))
		return;
	queue_inspect(dk, id);
	start_inspects(dk);
}

void
docker_stop_plan(uint64_t timeout_ms, uint64_t *stop_s, uint64_t *deadline_ms)
{
	*stop_s = timeout_ms >= 2000 ? timeout_ms / 2000 : 1;
	*deadline_ms = *stop_s * 1000 + timeout_ms;
}

/* stop's t: policy.stop_timeout, else half the API timeout. */
static void
stop_times(const struct docker *dk, uint64_t *stop_s, uint64_t *deadline_ms)
{
	docker_stop_plan(dk->timeout_ms, stop_s, deadline_ms);
	if (dk->stop_timeout_ms > 0) {
		*stop_s = dk->stop_timeout_ms >= 1000 ?
		    dk->stop_timeout_ms / 1000 :
		    1;
		*deadline_ms = *stop_s * 1000 + dk->timeout_ms;
	}
}

/* POST path with a JSON body, as an action. */
static struct dreq *
update_req(struct docker *dk, const char *path, const char *body,
    uint64_t deadline_ms)
{
	struct curl_slist *h;
	struct dreq *r;

	if ((h = curl_slist_append(NULL, "Content-Type: application/json")) ==
	    NULL)
		return NULL;
	if ((r = req_new(dk, DREQ_ACTION, "POST", path, deadline_ms)) ==
	    NULL) {
		curl_slist_free_all(h);
		return NULL;
	}
	r->headers = h;
	curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	curl_easy_setopt(r->easy, CURLOPT_COPYPOSTFIELDS, body);
	return r;
}

/* The second call of a quarantine: a stop, reporting to from's callback. */
static int
quarantine_stop(struct docker *dk, struct dreq *from)
{
	struct dreq *r;
	char path[256];
	uint64_t stop_s, deadline_ms;

	if (dk->closing)
		return -1;
	stop_times(dk, &stop_s, &deadline_ms);
	snprintf(path, sizeof(path), "/containers/%s/stop?t=%" PRIu64,
	    from->id, stop_s);
	if ((r = req_new(dk, DREQ_ACTION, "POST", path, deadline_ms)) == NULL)
		return -1;
	snprintf(r->id, sizeof(r->id), "%s", from->id);
	r->action = ACTION_QUARANTINE;
	r->chained = 1;
	r->cb = from->cb;
	r->arg = from->arg;
	return 0;
}

int
docker_update_cpu(struct docker *dk, const char *id, enum action action,
    uint64_t nano_cpus, docker_action_cb cb, void *arg)
{
	struct dreq *r;
	char path[256], body[64];

	if (dk->closing || !kw_cid_ok(id) ||
	    (action != ACTION_THROTTLE && action != ACTION_RELEASE))
		return -1;
	snprintf(path, sizeof(path), "/containers/%s/update", id);
	snprintf(body, sizeof(body), "{\"NanoCpus\":%" PRIu64 "}", nano_cpus);
	if ((r = update_req(dk, path, body, dk->timeout_ms)) == NULL)
		return -1;
	snprintf(r->id, sizeof(r->id), "%s", id);
	r->action = action;
	r->cb = cb;
	r->arg = arg;
	return 0;
}

void
docker_set_stop_timeout(struct docker *dk, uint64_t stop_timeout_ms)
{
	dk->stop_timeout_ms = stop_timeout_ms;
}

int
docker_act(struct docker *dk, const char *id, enum action action,
    docker_action_cb cb, void *arg)
{
	struct dreq *r;
	char path[256];
	const char *method;
	uint64_t stop_s = 0, deadline_ms = dk->timeout_ms;

	if (dk->closing || !kw_cid_ok(id))
		return -1;
	switch (action) {
	case ACTION_REMOVE:
		method = "DELETE";
		snprintf(path, sizeof(path), "/containers/%s?force=true", id);
		break;
	case ACTION_STOP:
		/* Docker kills it after t s; the call has t + timeout. */
		method = "POST";
		stop_times(dk, &stop_s, &deadline_ms);
		snprintf(path, sizeof(path), "/containers/%s/stop?t=%" PRIu64,
		    id, stop_s);
		break;
	case ACTION_KILL:
		method = "POST";
		snprintf(path, sizeof(path), "/containers/%s/kill", id);
		break;
	case ACTION_QUARANTINE:
		/* First the restart policy, then (action_done) the stop. */
		snprintf(path, sizeof(path), "/containers/%s/update", id);
		r = update_req(dk, path,
		    "{\"RestartPolicy\":{\"Name\":"
		    "\"no\"}}",
		    dk->timeout_ms);
		goto made;
	default:
		return -1;
	}
	r = req_new(dk, DREQ_ACTION, method, path, deadline_ms);
made:
	if (r == NULL)
		return -1;
	snprintf(r->id, sizeof(r->id), "%s", id);
	r->action = action;
	r->cb = cb;
	r->arg = arg;
	return 0;
}

const struct docker_table *
docker_get_table(const struct docker *dk)
{
	return &dk->table;
}

void
docker_stats(const struct docker *dk, struct docker_stats *st)
{
	*st = dk->st;
	st->connected = dk->state == DK_CONNECTED;
	st->table_size = dk->table.n;
	st->in_flight = dk->nreqs;
}

void
docker_close(struct docker *dk)
{
	struct dreq *r, *next;

	if (dk == NULL || dk->closing)
		return;
	/* A cancelled action's callback makes no call of its own. */
	for (r = dk->reqs; r != NULL; r = next) {
		next = r->next;
		if (r->cb != NULL)
			r->cb(r->arg, DOCKER_ACT_CANCELLED,
			    "cancelled: the decider is stopping");
		if (r->fcb != NULL)
			r->fcb(r->arg, 0, NULL, 0,
			    "cancelled: the decider is stopping");
		r->cb = NULL;
		r->fcb = NULL;
		req_free(dk, r);
	}
	dk->closing = 1;
	curluv_close(&dk->cu);
	uv_timer_stop(&dk->retry_timer);
	uv_close((uv_handle_t *)&dk->retry_timer, on_handle_close);
}

/*
 * GETs for the decider's evidence (logs, the whole inspect body): the
 * caller gets the body, cut at max bytes, and says what it means.
 */

static void
fetch_done(struct docker *dk, struct dreq *r, CURLcode res, long code)
{
	char why[256];

	if (r->fcb == NULL)
		return;
	if (res == CURLE_OK && code >= 200 && code < 300)
		r->fcb(r->arg, code, r->buf != NULL ? r->buf : "", r->len,
		    NULL);
	else {
		req_error(r, res, code, why, sizeof(why));
		r->fcb(r->arg, code, r->buf != NULL ? r->buf : "", r->len,
		    why);
	}
	r->fcb = NULL;
}

int
docker_fetch(struct docker *dk, const char *id, const char *what, size_t max,
    uint64_t deadline_ms, docker_fetch_cb cb, void *arg)
{
	struct dreq *r;
	char path[512];

	if (dk->closing || !kw_cid_ok(id) || dk->state != DK_CONNECTED)
		return -1;
	snprintf(path, sizeof(path), "/containers/%s/%s", id, what);
	if ((r = req_new(dk, DREQ_FETCH, NULL, path, deadline_ms)) == NULL)
		return -1;
	snprintf(r->id, sizeof(r->id), "%s", id);
	r->fcb = cb;
	r->arg = arg;
	r->max = max;
	return 0;
}
