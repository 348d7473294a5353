/*
 * Evidence of an action, the pure parts: Docker's log stream cut into
 * lines (demultiplexed, bounded in bytes), the inspect body summed up, the
 * container's top processes picked from a snapshot, and the whole
 * assembled into one JSON document of bounded size. No I/O, no clock.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "decider.h"

/* Log lines */

void
log_lines_init(struct log_lines *ll, size_t max_bytes, size_t max_lines)
{
	memset(ll, 0, sizeof(*ll));
	ll->max_bytes = max_bytes;
	ll->max_lines = max_lines;
}

void
log_lines_free(struct log_lines *ll)
{
	size_t i;

	for (i = 0; i < ll->n; i++)
		free(ll->l[i].text);
	for (i = 0; i < 3; i++)
		free(ll->pending[i]);
	free(ll->l);
	memset(ll, 0, sizeof(*ll));
}

/* Each line costs its bytes and one for the newline it had. */
static size_t
line_cost(size_t len)
{
	return len + 1;
}

static void
drop_oldest(struct log_lines *ll)
{
	ll->bytes -= line_cost(ll->l[0].len);
	free(ll->l[0].text);
	memmove(&ll->l[0], &ll->l[1], (ll->n - 1) * sizeof(ll->l[0]));
	ll->n--;
	ll->dropped++;
}

/* Keep one more line, the oldest going to stay within the bounds. */
static int
add_line(struct log_lines *ll, int stream, const char *s, size_t len)
{
	struct log_line *nl;
	size_t cap;
	char *t;

	if (len > 0 && s[len - 1] == '\r')
		len--;
	if (ll->max_bytes == 0 || ll->max_lines == 0) {
		ll->dropped++;
		return 0;
	}
	if (line_cost(len) > ll->max_bytes) {
		/* One line longer than the whole budget: its start. */
		len = ll->max_bytes - 1;
		ll->cut = 1;
	}
	while (ll->n > 0 &&
	    (ll->bytes + line_cost(len) > ll->max_bytes ||
		ll->n >= ll->max_lines))
		drop_oldest(ll);
	if (ll->n == ll->cap) {
		cap = ll->cap ? ll->cap * 2 : 16;
		if ((nl = realloc(ll->l, cap * sizeof(*nl))) == NULL)
			return -1;
		ll->l = nl;
		ll->cap = cap;
	}
	if ((t = malloc(len + 1)) == NULL)
		return -1;
	memcpy(t, s, len);
	t[len] = '\0';
	ll->l[ll->n].stream = stream;
	ll->l[ll->n].text = t;
	ll->l[ll->n].len = len;
	ll->n++;
	ll->bytes += line_cost(len);
	return 0;
}

/* More bytes of a stream's line that has no newline yet. */
static int
pend(struct log_lines *ll, int stream, const char *s, size_t len)
{
	size_t room = ll->max_bytes > ll->npending[stream] ?
	    ll->max_bytes - ll->npending[stream] :
	    0;
	char *p;

	if (len > room) {
		len = room;
		ll->cut = 1;
	}
	if (len == 0)
		return 0;
	if ((p = realloc(ll->pending[stream], ll->npending[stream] + len)) ==
	    NULL)
		return -1;
	memcpy(p + ll->npending[stream], s, len);
	ll->pending[stream] = p;
	ll->npending[stream] += len;
	return 0;
}

/* A piece of one stream's text: whole lines out, the rest pending. */
static int
feed_text(struct log_lines *ll, int stream, const char *s, size_t len)
{
	const char *nl;
	int rc;

	while (len > 0 && (nl = memchr(s, '\n', len)) != NULL) {
		if (ll->npending[stream] > 0) {
			if (pend(ll, stream, s, (size_t)(nl - s)) == -1)
				return -1;
			rc = add_line(ll, stream, ll->pending[stream],
			    ll->npending[stream]);
			ll->npending[stream] = 0;
		} else
			rc = add_line(ll, stream, s, (size_t)(nl - s));
		if (rc == -1)
			return -1;
		len -= (size_t)(nl - s) + 1;
		s = nl + 1;
	}
	return pend(ll, stream, s, len);
}

/* Lines not ended by a newline when the stream ended. */
static int
flush_pending(struct log_lines *ll)
{
	int i, rc;

	for (i = 0; i < 3; i++) {
		if (ll->npending[i] == 0)
			continue;
		rc = add_line(ll, i, ll->pending[i], ll->npending[i]);
		ll->npending[i] = 0;
		if (rc == -1)
			return -1;
	}
	return 0;
}

int
docker_logs_multiplexed(const char *buf, size_t len)
{
	const unsigned char *b = (const unsigned char *)buf;

	if (len == 0)
		return 1;
	return len >= 8 && b[0] <= 2 && b[1] == 0 && b[2] == 0 && b[3] == 0;
}

int
docker_logs_demux(const char *buf, size_t len, int multiplexed,
    struct log_lines *ll)
{
	const unsigned char *b;
	size_t pos = 0, n;
	int stream, rc = 0;

	if (!multiplexed) {
		if (feed_text(ll, 0, buf, len) == -1)
			return -1;
		return flush_pending(ll);
	}
	while (pos < len) {
		if (len - pos < 8) {
			ll->cut = 1; /* a header cut short */
			break;
		}
		b = (const unsigned char *)buf + pos;
		if (b[0] > 2 || b[1] != 0 || b[2] != 0 || b[3] != 0) {
			ll->bad = 1;
			rc = -2;
			break;
		}
		stream = b[0];
		n = (size_t)b[4] << 24 | (size_t)b[5] << 16 |
		    (size_t)b[6] << 8 | (size_t)b[7];
		pos += 8;
		if (n > len - pos) {
			n = len - pos; /* the body cut short */
			ll->cut = 1;
		}
		if (feed_text(ll, stream, buf + pos, n) == -1)
			return -1;
		pos += n;
	}
	if (flush_pending(ll) == -1)
		return -1;
	return rc;
}

/*
 * UTF-8 for JSON: a byte that does not start a valid sequence is '?', and
 * so is NUL (many JSON readers refuse "\u0000").
 */
size_t
evidence_utf8_clean(const char *s, size_t len, char *out)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, o = 0, n;

	while (i < len) {
		n = kw_utf8_len(u + i, len - i);
		if (n == 0 || u[i] == 0) {
			out[o++] = '?';
			i++;
			continue;
		}
		memcpy(out + o, s + i, n);
		o += n;
		i += n;
	}
	return o;
}

/* A JSON string of len bytes that may not be UTF-8; NULL on ENOMEM. */
static json_t *
json_text(const char *s, size_t len)
{
	json_t *v;
	char *t;

	if ((t = malloc(len + 1)) == NULL)
		return NULL;
	len = evidence_utf8_clean(s, len, t);
	v = json_stringn(t, len);
	free(t);
	return v;
}

static json_t *
json_str(const char *s)
{
	return json_text(s, strlen(s));
}

/* Inspect */

static const char *
jstr(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL ? s : "";
}

static int64_t
jint(json_t *o, const char *key)
{
	return (int64_t)json_integer_value(json_object_get(o, key));
}

int
evidence_parse_inspect(const char *buf, size_t len,
    struct evidence_inspect *out, char *err, size_t errlen)
{
	json_t *root, *cfg, *host, *state, *rp, *labels, *v;
	json_error_t je;
	const char *k;
	size_t n = 0;

	memset(out, 0, sizeof(*out));
	if ((root = json_loadb(buf, len, 0, &je)) == NULL) {
		snprintf(err, errlen, "inspect: %s at byte %d", je.text,
		    je.position);
		return -1;
	}
	if (!json_is_object(root)) {
		snprintf(err, errlen, "inspect: not a JSON object");
		json_decref(root);
		return -1;
	}
	cfg = json_object_get(root, "Config");
	host = json_object_get(root, "HostConfig");
	state = json_object_get(root, "State");
	rp = json_object_get(host, "RestartPolicy");
	snprintf(out->name, sizeof(out->name), "%s",
	    jstr(root, "Name")[0] == '/' ? jstr(root, "Name") + 1 :
					   jstr(root, "Name"));
	snprintf(out->image, sizeof(out->image), "%s", jstr(cfg, "Image"));
	snprintf(out->image_id, sizeof(out->image_id), "%s",
	    jstr(root, "Image"));
	snprintf(out->created, sizeof(out->created), "%s",
	    jstr(root, "Created"));
	snprintf(out->status, sizeof(out->status), "%s",
	    jstr(state, "Status"));
	snprintf(out->started_at, sizeof(out->started_at), "%s",
	    jstr(state, "StartedAt"));
	out->oom_killed = json_is_true(json_object_get(state, "OOMKilled"));
	out->restart_count = jint(root, "RestartCount");
	out->tty = json_is_true(json_object_get(cfg, "Tty"));
	snprintf(out->restart_policy, sizeof(out->restart_policy), "%s",
	    jstr(rp, "Name"));
	out->restart_max = jint(rp, "MaximumRetryCount");
	out->nano_cpus = jint(host, "NanoCpus");
	out->cpu_quota = jint(host, "CpuQuota");
	out->cpu_period = jint(host, "CpuPeriod");
	out->cpu_shares = jint(host, "CpuShares");
	snprintf(out->cpuset_cpus, sizeof(out->cpuset_cpus), "%s",
	    jstr(host, "CpusetCpus"));
	out->memory = jint(host, "Memory");
	out->memory_swap = jint(host, "MemorySwap");
	out->memory_reservation = jint(host, "MemoryReservation");
	out->pids_limit = jint(host, "PidsLimit");
	labels = json_object_get(cfg, "Labels");
	json_object_foreach(labels, k, v)
	{
		if (!json_is_string(v))
			continue;
		if (n == EVIDENCE_LABELS_MAX) {
			out->labels_dropped++;
			continue;
		}
		snprintf(out->labels[n].key, sizeof(out->labels[n].key), "%s",
		    k);
		snprintf(out->labels[n].value, sizeof(out->labels[n].value),
		    "%s", json_string_value(v));
		n++;
	}
	out->nlabels = n;
	json_decref(root);
	return 0;
}

/* Top processes */

static int
cmp_proc(const void *a, const void *b)
{
	const struct evidence_proc *x = a, *y = b;

	if (x->cpu_pct != y->cpu_pct)
		return x->cpu_pct < y->cpu_pct ? 1 : -1;
	if (x->rss_kb != y->rss_kb)
		return x->rss_kb < y->rss_kb ? 1 : -1;
	return x->pid < y->pid ? -1 : x->pid > y->pid;
}

size_t
evidence_top_procs(const struct kw_snapshot *snap, const double *cpu_pct,
    const char *container_id, struct evidence_proc *out, size_t k)
{
	struct evidence_proc p;
	const struct kw_proc *sp;
	size_t i, j, n = 0, worst;

	for (i = 0; i < snap->nprocs && k > 0; i++) {
		sp = &snap->procs[i];
		if (strcmp(sp->container_id, container_id) != 0)
			continue;
		memset(&p, 0, sizeof(p));
		p.pid = sp->pid;
		p.state = sp->state;
		p.threads = sp->threads;
		p.rss_kb = sp->rss_kb;
		p.cpu_pct = cpu_pct != NULL ? cpu_pct[i] : 0;
		p.mem_pct = snap->host.mem_total_kb > 0 ? 100.0 *
			(double)sp->rss_kb / (double)snap->host.mem_total_kb :
							  0;
		snprintf(p.name, sizeof(p.name), "%s", sp->name);
		snprintf(p.cmdline, sizeof(p.cmdline), "%s",
		    sp->cmdline != NULL ? sp->cmdline : "");
		if (n < k) {
			out[n++] = p;
			continue;
		}
		/* Full: it takes the place of the least busy, if busier. */
		for (worst = 0, j = 1; j < n; j++)
			if (cmp_proc(&out[j], &out[worst]) > 0)
				worst = j;
		if (cmp_proc(&p, &out[worst]) < 0)
			out[worst] = p;
	}
	qsort(out, n, sizeof(*out), cmp_proc);
	return n;
}

/* The document */

static json_t *
inspect_json(const struct evidence_inspect *in)
{
	json_t *o, *l, *lim, *rp;
	size_t i;

	o = json_object();
	json_object_set_new(o, "name", json_str(in->name));
	json_object_set_new(o, "image", json_str(in->image));
	json_object_set_new(o, "image_id", json_str(in->image_id));
	json_object_set_new(o, "created", json_str(in->created));
	json_object_set_new(o, "status", json_str(in->status));
	json_object_set_new(o, "started_at", json_str(in->started_at));
	json_object_set_new(o, "restart_count",
	    json_integer(in->restart_count));
	json_object_set_new(o, "oom_killed", json_boolean(in->oom_killed));
	json_object_set_new(o, "tty", json_boolean(in->tty));
	rp = json_object();
	json_object_set_new(rp, "name", json_str(in->restart_policy));
	json_object_set_new(rp, "maximum_retry_count",
	    json_integer(in->restart_max));
	json_object_set_new(o, "restart_policy", rp);
	lim = json_object();
	json_object_set_new(lim, "nano_cpus", json_integer(in->nano_cpus));
	json_object_set_new(lim, "cpu_quota", json_integer(in->cpu_quota));
	json_object_set_new(lim, "cpu_period", json_integer(in->cpu_period));
	json_object_set_new(lim, "cpu_shares", json_integer(in->cpu_shares));
	json_object_set_new(lim, "cpuset_cpus", json_str(in->cpuset_cpus));
	json_object_set_new(lim, "memory", json_integer(in->memory));
	json_object_set_new(lim, "memory_swap", json_integer(in->memory_swap));
	json_object_set_new(lim, "memory_reservation",
	    json_integer(in->memory_reservation));
	json_object_set_new(lim, "pids_limit", json_integer(in->pids_limit));
	json_object_set_new(o, "limits", lim);
	l = json_object();
	for (i = 0; i < in->nlabels; i++)
		json_object_set_new(l, in->labels[i].key,
		    json_str(in->labels[i].value));
	json_object_set_new(o, "labels", l);
	if (in->labels_dropped > 0)
		json_object_set_new(o, "labels_dropped",
		    json_integer((json_int_t)in->labels_dropped));
	return o;
}

static const char *const stream_names[] = { "tty", "stdout", "stderr" };

static json_t *
logs_json(const struct log_lines *ll, size_t from)
{
	json_t *a, *o;
	size_t i;

	a = json_array();
	for (i = from; i < ll->n; i++) {
		o = json_object();
		json_object_set_new(o, "stream",
		    json_string(stream_names[ll->l[i].stream % 3]));
		json_object_set_new(o, "text",
		    json_text(ll->l[i].text, ll->l[i].len));
		json_array_append_new(a, o);
	}
	return a;
}

static json_t *
procs_json(const struct evidence_proc *p, size_t n)
{
	json_t *a, *o;
	char st[2];
	size_t i;

	a = json_array();
	for (i = 0; i < n; i++) {
		st[0] = p[i].state ? p[i].state : '?';
		st[1] = '\0';
		o = json_object();
		json_object_set_new(o, "pid", json_integer(p[i].pid));
		json_object_set_new(o, "name", json_str(p[i].name));
		json_object_set_new(o, "cmdline", json_str(p[i].cmdline));
		json_object_set_new(o, "state", json_str(st));
		json_object_set_new(o, "threads", json_integer(p[i].threads));
		json_object_set_new(o, "cpu_pct", json_real(p[i].cpu_pct));
		json_object_set_new(o, "mem_pct", json_real(p[i].mem_pct));
		json_object_set_new(o, "rss_kb",
		    json_integer((json_int_t)p[i].rss_kb));
		json_array_append_new(a, o);
	}
	return a;
}

static json_t *
evidence_doc(const struct evidence_in *in, size_t logs_from, int lean)
{
	const struct kw_deletion_rec *r = in->rec;
	json_t *o, *v;

	o = json_object();
	json_object_set_new(o, "v", json_integer(1));
	json_object_set_new(o, "ts",
	    json_integer((json_int_t)(in->ts_ns / 1000000000ULL)));
	json_object_set_new(o, "ts_ms",
	    json_integer((json_int_t)(in->ts_ns / 1000000ULL)));
	json_object_set_new(o, "container_id", json_str(r->container_id));
	json_object_set_new(o, "name", json_str(r->name));
	json_object_set_new(o, "image", json_str(r->image));
	json_object_set_new(o, "class", json_str(r->class_name));
	json_object_set_new(o, "action", json_str(r->action));
	json_object_set_new(o, "reason", json_str(r->reason));
	json_object_set_new(o, "cpu_pct", json_real(r->cpu_pct));
	json_object_set_new(o, "mem_pct", json_real(r->mem_pct));
	if (in->ctr != NULL &&
	    (v = kw_record_to_json(&kw_container_schema, in->ctr)) != NULL)
		json_object_set_new(o, "figures", v);
	else
		json_object_set_new(o, "figures", json_null());
	json_object_set_new(o, "top",
	    lean ? json_array() : procs_json(in->procs, in->nprocs));
	if (in->logs != NULL) {
		json_object_set_new(o, "logs",
		    logs_json(in->logs, lean ? in->logs->n : logs_from));
		json_object_set_new(o, "logs_dropped",
		    json_integer((json_int_t)(in->logs->dropped +
			(lean ? in->logs->n : logs_from))));
		json_object_set_new(o, "logs_cut",
		    json_boolean(in->logs->cut));
	} else
		json_object_set_new(o, "logs", json_null());
	if (in->logs_error != NULL)
		json_object_set_new(o, "logs_error", json_str(in->logs_error));
	json_object_set_new(o, "inspect",
	    in->inspect != NULL && !lean ? inspect_json(in->inspect) :
					   json_null());
	if (in->inspect_error != NULL)
		json_object_set_new(o, "inspect_error",
		    json_str(in->inspect_error));
	json_object_set_new(o, "capture_ms",
	    json_integer((json_int_t)in->capture_ms));
	json_object_set_new(o, "timed_out", json_boolean(in->timed_out));
	if (lean)
		json_object_set_new(o, "cut", json_true());
	return o;
}

char *
evidence_build(const struct evidence_in *in, size_t max_bytes)
{
	size_t from = 0, nlogs = in->logs != NULL ? in->logs->n : 0;
	json_t *o;
	char *s;

	for (;;) {
		if ((o = evidence_doc(in, from, 0)) == NULL)
			return NULL;
		s = json_dumps(o, JSON_COMPACT);
		json_decref(o);
		if (s == NULL || strlen(s) <= max_bytes || from >= nlogs)
			break;
		/* Too big: the older half of the log lines goes first. */
		free(s);
		from += (nlogs - from + 1) / 2;
	}
	if (s != NULL && strlen(s) > max_bytes) {
		free(s);
		if ((o = evidence_doc(in, nlogs, 1)) == NULL)
			return NULL;
		s = json_dumps(o, JSON_COMPACT);
		json_decref(o);
	}
	return s;
}

char *
evidence_with_result(const char *evidence, const char *result)
{
	json_t *o;
	char *s;

	if (evidence == NULL || evidence[0] == '\0' ||
	    (o = json_loads(evidence, 0, NULL)) == NULL || !json_is_object(o))
		o = json_object();
	if (o == NULL)
		return NULL;
	json_object_set_new(o, "result", json_str(result));
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}
