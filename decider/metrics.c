/*
 * The decider's Prometheus /metrics: a pure renderer of the text
 * exposition format (metrics_render over a struct metrics_view) and a GNU
 * libmicrohttpd server on metrics.listen, driven from the decider's loop.
 */
#include <sys/socket.h>

#include <netdb.h>
#include <netinet/in.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <microhttpd.h>

#include "decider.h"

/*
 * Why the loop and not a thread of MHD's own: every figure lives on the
 * loop and is read there with no lock and no copy; a scrape renders in
 * well under a millisecond. MHD runs "external" with epoll: one uv_poll
 * on its epoll descriptor and one timer for its timeouts
 * (docs/decisions.md).
 */

#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* The scalar metrics: one row each. */
struct scalar_row {
	const char *name;
	const char *type; /* gauge or counter */
	const char *help;
	size_t off; /* a double in struct metrics_view */
};

#define V(f) offsetof(struct metrics_view, f)
/* One row a metric, as written (not clang-formatted): */
/* clang-format off */
static const struct scalar_row scalars[] = {
	{ "kwarden_up_seconds", "gauge", "Seconds since the decider started",
	    V(up_seconds) },
	{ "kwarden_host_cpu_ratio", "gauge", "CPU used on the host, share of "
	    "all CPUs (0-1) over the policy window", V(host_cpu_ratio) },
	{ "kwarden_host_cpus", "gauge", "CPUs of the host", V(host_cpus) },
	{ "kwarden_host_memory_total_bytes", "gauge", "MemTotal of the host",
	    V(host_memory_total_bytes) },
	{ "kwarden_host_memory_available_bytes", "gauge", "MemAvailable of "
	    "the host", V(host_memory_available_bytes) },
	{ "kwarden_host_memory_used_bytes", "gauge", "Memory used on the host",
	    V(host_memory_used_bytes) },
	{ "kwarden_host_memory_free_bytes", "gauge", "MemFree of the host",
	    V(host_memory_free_bytes) },
	{ "kwarden_host_processes", "gauge", "Processes in the last snapshot",
	    V(host_processes) },
	{ "kwarden_policy_cpu_threshold_ratio", "gauge", "policy.cpu_threshold "
	    "as a share of the machine (0-1)", V(cpu_threshold_ratio) },
	{ "kwarden_policy_memory_threshold_ratio", "gauge",
	    "policy.mem_threshold as a share of MemTotal (0-1)",
	    V(memory_threshold_ratio) },
	{ "kwarden_snapshots_total", "counter", "Snapshots the decider stepped "
	    "on", V(snapshots) },
	{ "kwarden_snapshots_bad_total", "counter", "Snapshots that did not "
	    "decode", V(bad_snapshots) },
	{ "kwarden_snapshot_age_seconds", "gauge", "Seconds since the last "
	    "snapshot (NaN before the first)", V(snapshot_age_seconds) },
	{ "kwarden_reader_connected", "gauge", "1 while the decider is "
	    "connected to the reader's stream", V(reader_connected) },
	{ "kwarden_reader_lost_messages_total", "counter", "Reader messages "
	    "lost to gaps (samples the decider never saw)",
	    V(reader_lost_messages) },
	{ "kwarden_reader_reconnects_total", "counter", "Connections to the "
	    "reader lost", V(reader_reconnects) },
	{ "kwarden_docker_connected", "gauge", "1 while the Docker session is "
	    "up (listed and following events)", V(docker_connected) },
	{ "kwarden_docker_reconnects_total", "counter", "Docker sessions lost",
	    V(docker_reconnects) },
	{ "kwarden_docker_events_total", "counter", "Docker events received",
	    V(docker_events) },
	{ "kwarden_docker_calls_in_flight", "gauge", "Docker API calls out",
	    V(docker_calls_in_flight) },
	{ "kwarden_stream_published_seq", "gauge", "Last seq published on "
	    "decider.sock", V(stream_seq) },
	{ "kwarden_stream_acked_seq", "gauge", "Last seq the recorder acked "
	    "(committed)", V(stream_acked_seq) },
	{ "kwarden_stream_unacked_messages", "gauge", "Messages published and "
	    "not yet acked by the recorder (0 without one)",
	    V(stream_unacked_messages) },
	{ "kwarden_stream_ring_bytes", "gauge", "Bytes in the replay ring of "
	    "decider.sock", V(stream_ring_bytes) },
	{ "kwarden_stream_held_bytes", "gauge", "Bytes of messages held in "
	    "memory (ring and being written)", V(stream_held_bytes) },
	{ "kwarden_stream_ring_acked_bytes", "gauge", "Bytes of the replay "
	    "ring the recorder has acked (kept up to decider.ring_acked)",
	    V(stream_ring_acked_bytes) },
	{ "kwarden_stream_ring_trimmed_messages_total", "counter", "Acked "
	    "messages dropped from the ring past decider.ring_acked",
	    V(stream_ring_trimmed) },
	{ "kwarden_stream_clients", "gauge", "Clients of decider.sock",
	    V(stream_clients) },
	{ "kwarden_stream_clients_cut_total", "counter", "Stream clients cut "
	    "for lagging", V(stream_clients_cut) },
	{ "kwarden_decisions_taken_total", "counter", "Candidates the policy "
	    "took", V(decisions_taken) },
	{ "kwarden_decisions_skipped_total", "counter", "Candidates the policy "
	    "skipped, one per sample each", V(decisions_skipped) },
	{ "kwarden_errors_total", "counter", "Warnings and errors logged",
	    V(errors) },
	{ "kwarden_reloads_total", "counter", "Configuration reloads",
	    V(reloads) },
	{ "kwarden_quarantined_identities", "gauge", "Identities (compose "
	    "service, swarm service or name) quarantined now",
	    V(quarantined_identities) },
	{ "kwarden_metrics_connections", "gauge", "HTTP connections open on "
	    "metrics.listen", V(http_connections) },
	{ "kwarden_metrics_connections_refused_total", "counter", "HTTP "
	    "connections refused over metrics.max_connections",
	    V(http_connections_refused) },
	{ "kwarden_metrics_timeouts_total", "counter", "HTTP requests closed "
	    "after metrics.timeout", V(http_timeouts) },
	{ "kwarden_metrics_scrapes_total", "counter", "Answers to /metrics",
	    V(scrapes) },
};
#undef V
/* clang-format on */

/* The per-container metrics: one row each. */
#define C(f) offsetof(struct metrics_container, f)
static const struct scalar_row container_rows[] = {
	{ "kwarden_container_cpu_ratio", "gauge",
	    "CPU of the container, "
	    "share of the machine (0-1) over the policy window",
	    C(cpu_ratio) },
	{ "kwarden_container_memory_ratio", "gauge",
	    "Memory of the container "
	    "as judged (policy.mem_basis), share of MemTotal (0-1)",
	    C(memory_ratio) },
	{ "kwarden_container_memory_working_set_bytes", "gauge",
	    "Working set "
	    "of the container's cgroup (usage - inactive_file)",
	    C(working_set_bytes) },
	{ "kwarden_container_memory_usage_bytes", "gauge",
	    "Memory charged to "
	    "the container's cgroup",
	    C(memory_usage_bytes) },
	{ "kwarden_container_memory_rss_bytes", "gauge",
	    "RSS summed over the "
	    "container's processes",
	    C(rss_bytes) },
	{ "kwarden_container_memory_limit_bytes", "gauge",
	    "Memory limit of "
	    "the container's cgroup (0: none)",
	    C(memory_limit_bytes) },
	{ "kwarden_container_processes", "gauge", "Processes in the container",
	    C(processes) },
	{ "kwarden_container_cpu_throttled_periods_total", "counter",
	    "CFS "
	    "periods the container's cgroup was throttled in",
	    C(throttled_periods) },
	{ "kwarden_container_cpu_throttled_seconds_total", "counter",
	    "Time "
	    "the container's cgroup was throttled",
	    C(throttled_seconds) },
	{ "kwarden_container_oom_kills_total", "counter",
	    "OOM kills in the "
	    "container's cgroup",
	    C(oom_kills) },
	{ "kwarden_container_quarantined", "gauge",
	    "1 when the container's "
	    "identity is quarantined",
	    C(quarantined) },
	{ "kwarden_container_throttled", "gauge",
	    "1 while kwarden caps the "
	    "container's CPU (the ladder's throttle step)",
	    C(throttled) },
	{ "kwarden_container_strikes", "gauge",
	    "Strikes against the "
	    "container's identity within policy.quarantine_window",
	    C(strikes) },
};
#undef C

/* The labelled counts: one row each. */
struct counts_row {
	const char *name;
	const char *help;
	const char *label[METRICS_LABELS_MAX];
	size_t nlabel;
	size_t off; /* a counts pointer in the view */
};

#define V(f) offsetof(struct metrics_view, f)
static const struct counts_row counts_rows[] = {
	{ "kwarden_actions_total",
	    "Actions on containers by action, class "
	    "and result (ok, failed, unknown, cancelled)",
	    { "action", "class", "result" }, 3, V(actions) },
	{ "kwarden_skips_total",
	    "Candidates skipped by reason, one per "
	    "sample each",
	    { "reason" }, 1, V(skips) },
	{ "kwarden_hook_deliveries_total",
	    "Hook deliveries by kind (exec, "
	    "webhook) and outcome (ok, failed, retried, dropped_rate, "
	    "dropped_queue, timeout)",
	    { "kind", "outcome" }, 2, V(hooks) },
};
#undef V

/* The buffer. */

static void
buf_add(struct metrics_buf *b, const char *s, size_t n)
{
	size_t cap;
	char *p;

	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n + 1)
			cap *= 2;
		if ((p = realloc(b->p, cap)) == NULL) {
			b->oom = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
buf_str(struct metrics_buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

void
metrics_buf_free(struct metrics_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

/*
 * The format's escapes (backslash, double quote, newline); a byte that is
 * not UTF-8 becomes U+FFFD, since the format is UTF-8 and Docker names
 * need not be.
 */
void
metrics_escape_label(struct metrics_buf *out, const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t n = strlen(s), i = 0, k;

	while (i < n) {
		if (u[i] == '\\')
			buf_add(out, "\\\\", 2), i++;
		else if (u[i] == '"')
			buf_add(out, "\\\"", 2), i++;
		else if (u[i] == '\n')
			buf_add(out, "\\n", 2), i++;
		else if ((k = kw_utf8_len(u + i, n - i)) == 0)
			buf_add(out, "\xef\xbf\xbd", 3), i++;
		else
			buf_add(out, s + i, k), i += k;
	}
}

/* A value: the shortest of %.15g and %.17g that reads back the same. */
static void
buf_value(struct metrics_buf *b, double v)
{
	char s[40];

	if (isnan(v))
		snprintf(s, sizeof(s), "NaN");
	else if (isinf(v))
		snprintf(s, sizeof(s), "%cInf", v > 0 ? '+' : '-');
	else {
		snprintf(s, sizeof(s), "%.15g", v);
		if (strtod(s, NULL) != v)
			snprintf(s, sizeof(s), "%.17g", v);
	}
	buf_str(b, s);
}

static void
family(struct metrics_buf *b, const char *name, const char *type,
    const char *help)
{
	buf_str(b, "# HELP ");
	buf_str(b, name);
	buf_str(b, " ");
	buf_str(b, help);
	buf_str(b, "\n# TYPE ");
	buf_str(b, name);
	buf_str(b, " ");
	buf_str(b, type);
	buf_str(b, "\n");
}

static void
sample(struct metrics_buf *b, const char *name, const char *const *lname,
    const char *const *lvalue, size_t nlabel, double v)
{
	size_t i;

	buf_str(b, name);
	for (i = 0; i < nlabel; i++) {
		buf_str(b, i ? "," : "{");
		buf_str(b, lname[i]);
		buf_str(b, "=\"");
		metrics_escape_label(b, lvalue[i]);
		buf_str(b, "\"");
	}
	buf_str(b, nlabel ? "} " : " ");
	buf_value(b, v);
	buf_str(b, "\n");
}

int
metrics_render(const struct metrics_view *v, struct metrics_buf *out)
{
	static const char *const build_l[] = { "version" };
	static const char *const ctr_l[] = { "id", "name", "image", "class" };
	const struct metrics_container *c;
	const struct metrics_counts *t;
	const char *lv[METRICS_LABELS_MAX], *cv[4];
	size_t i, j, k;

	family(out, "kwarden_build_info", "gauge",
	    "kwarden's version; always "
	    "1");
	lv[0] = v->version;
	sample(out, "kwarden_build_info", build_l, lv, 1, 1);
	for (i = 0; i < sizeof(scalars) / sizeof(scalars[0]); i++) {
		family(out, scalars[i].name, scalars[i].type, scalars[i].help);
		sample(out, scalars[i].name, NULL, NULL, 0,
		    *(const double *)((const char *)v + scalars[i].off));
	}
	for (i = 0; i < sizeof(container_rows) / sizeof(container_rows[0]);
	     i++) {
		family(out, container_rows[i].name, container_rows[i].type,
		    container_rows[i].help);
		for (j = 0; j < v->ncontainers; j++) {
			c = &v->containers[j];
			cv[0] = c->id;
			cv[1] = c->name;
			cv[2] = c->image;
			cv[3] = c->class_name;
			sample(out, container_rows[i].name, ctr_l, cv, 4,
			    *(const double *)((const char *)c +
				container_rows[i].off));
		}
	}
	for (i = 0; i < sizeof(counts_rows) / sizeof(counts_rows[0]); i++) {
		family(out, counts_rows[i].name, "counter",
		    counts_rows[i].help);
		t = *(const struct metrics_counts *const *)((const char *)v +
		    counts_rows[i].off);
		for (j = 0; t != NULL && j < t->n; j++) {
			for (k = 0; k < counts_rows[i].nlabel; k++)
				lv[k] = t->c[j].label[k];
			sample(out, counts_rows[i].name, counts_rows[i].label,
			    lv, counts_rows[i].nlabel, (double)t->c[j].value);
		}
	}
	return out->oom ? -1 : 0;
}

/* Counts. */

int
metrics_counts_add(struct metrics_counts *t, const char *const *label,
    size_t nlabel, uint64_t by)
{
	struct metrics_count *c, *nc;
	size_t i, k, cap;

	for (i = 0; i < t->n; i++) {
		c = &t->c[i];
		for (k = 0; k < nlabel; k++)
			if (strncmp(c->label[k], label[k],
				METRICS_LABEL_LEN - 1) != 0)
				break;
		if (k == nlabel) {
			c->value += by;
			return 0;
		}
	}
	if (t->n == t->cap) {
		cap = t->cap ? t->cap * 2 : 16;
		if ((nc = realloc(t->c, cap * sizeof(*nc))) == NULL)
			return -1;
		t->c = nc;
		t->cap = cap;
	}
	c = &t->c[t->n++];
	memset(c, 0, sizeof(*c));
	for (k = 0; k < nlabel && k < METRICS_LABELS_MAX; k++)
		snprintf(c->label[k], sizeof(c->label[k]), "%s", label[k]);
	c->value = by;
	return 0;
}

void
metrics_counts_free(struct metrics_counts *t)
{
	free(t->c);
	memset(t, 0, sizeof(*t));
}

const char *
metrics_result_class(const char *result)
{
	if (strncmp(result, "ok", 2) == 0)
		return "ok";
	if (strncmp(result, "unknown: cancelled", 18) == 0)
		return "cancelled";
	if (strncmp(result, "unknown", 7) == 0)
		return "unknown";
	return "failed";
}

int
metrics_parse_listen(const char *s, char *host, size_t hostlen, uint16_t *port,
    char *err, size_t errlen)
{
	const char *colon, *h = s, *end;
	size_t hlen;
	unsigned long p;
	char *ep;

	if (s[0] == '[') {
		if ((end = strchr(s, ']')) == NULL || end[1] != ':') {
			snprintf(err, errlen, "\"%.100s\": not [IPV6]:PORT",
			    s);
			return -1;
		}
		h = s + 1;
		hlen = (size_t)(end - h);
		colon = end + 1;
	} else {
		if ((colon = strrchr(s, ':')) == NULL ||
		    memchr(s, ':', (size_t)(colon - s)) != NULL) {
			snprintf(err, errlen,
			    "\"%.100s\": not HOST:PORT "
			    "(an IPv6 address goes in brackets)",
			    s);
			return -1;
		}
		hlen = (size_t)(colon - s);
	}
	if (hlen == 0 || hlen >= hostlen) {
		snprintf(err, errlen, "\"%.100s\": no host, or too long", s);
		return -1;
	}
	errno = 0;
	p = strtoul(colon + 1, &ep, 10);
	if (colon[1] < '0' || colon[1] > '9' || *ep != '\0' || errno != 0 ||
	    p == 0 || p > 65535) {
		snprintf(err, errlen, "\"%.100s\": the port is not 1-65535",
		    s);
		return -1;
	}
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	*port = (uint16_t)p;
	return 0;
}

/* The server. */

struct metrics {
	uv_loop_t *loop;
	struct decider *dz;
	struct MHD_Daemon *mhd;
	uv_poll_t poll;
	uv_timer_t timer;
	int open_handles;
	int closing;
	char listen[128];
	char error[256];
	size_t max_connections;
	uint64_t connections;
	uint64_t refused;
	uint64_t timeouts;
	uint64_t scrapes;
	uint64_t not_found;
	struct metrics_counts actions;
	struct metrics_counts skips;
	struct metrics_counts hooks; /* rebuilt at each scrape */
	struct metrics_container *ctr;
	size_t ctr_cap;
	uint64_t start_mono_ns;
};

static void
collect(struct metrics *m, struct metrics_view *v)
{
	struct decider *dz = m->dz;
	struct kw_sub_stats ss;
	struct kw_pub_stats ps;
	struct docker_stats ds;
	struct kw_container_rec rec;
	struct metrics_container *c, *nc;
	const struct engine_row *r;
	const struct strike_entry *s;
	const struct kw_host *h = &dz->snap.host;
	size_t i;

	memset(v, 0, sizeof(*v));
	memset(&ss, 0, sizeof(ss));
	memset(&ps, 0, sizeof(ps));
	memset(&ds, 0, sizeof(ds));
	if (dz->sub != NULL)
		kw_sub_stats(dz->sub, &ss);
	if (dz->pub != NULL)
		kw_pub_stats(dz->pub, &ps);
	if (dz->docker != NULL)
		docker_stats(dz->docker, &ds);

	v->version = KW_VERSION;
	v->listen = m->listen;
	v->up_seconds = (double)(kw_mono_ns() - m->start_mono_ns) / 1e9;
	if (dz->have_snapshot) {
		v->host_cpu_ratio = dz->eng.machine_cpu / 100;
		v->host_cpus = h->ncpu;
		v->host_memory_total_bytes = (double)h->mem_total_kb * 1024;
		v->host_memory_available_bytes =
		    (double)h->mem_available_kb * 1024;
		v->host_memory_used_bytes = (double)h->mem_used_kb * 1024;
		v->host_memory_free_bytes = (double)h->mem_free_kb * 1024;
		v->host_processes = (double)dz->eng.nprocs;
		v->snapshot_age_seconds =
		    (double)(kw_mono_ns() - dz->last_mono_ns) / 1e9;
	} else
		v->snapshot_age_seconds = NAN;
	v->cpu_threshold_ratio = dz->eng.policy.cpu_threshold / 100;
	v->memory_threshold_ratio = dz->eng.policy.mem_threshold / 100;
	v->snapshots = (double)dz->eng.samples;
	v->bad_snapshots = (double)dz->bad_snapshots;
	v->reader_connected = ss.connected;
	v->reader_lost_messages = (double)dz->reader_gaps;
	v->reader_reconnects = (double)ss.reconnects;
	v->docker_connected = ds.connected;
	v->docker_reconnects = (double)ds.reconnects;
	v->docker_events = (double)ds.events;
	v->docker_calls_in_flight = (double)ds.in_flight;
	v->stream_seq = (double)ps.seq;
	v->stream_acked_seq = (double)ps.acked_seq;
	v->stream_unacked_messages =
	    ps.acked_seq != 0 && ps.seq > ps.acked_seq ?
	    (double)(ps.seq - ps.acked_seq) :
	    0;
	v->stream_ring_bytes = (double)ps.ring_bytes;
	v->stream_held_bytes = (double)ps.held_bytes;
	v->stream_ring_acked_bytes = (double)ps.acked_bytes;
	v->stream_ring_trimmed = (double)ps.ring_trimmed;
	v->stream_clients = (double)ps.clients;
	v->stream_clients_cut = (double)ps.clients_cut;
	v->decisions_taken = (double)dz->eng.taken;
	v->decisions_skipped = (double)dz->eng.skipped;
	v->errors = (double)kw_log_error_count();
	v->reloads = (double)dz->reloads;
	for (i = 0; i < dz->eng.strikes.n; i++)
		if (dz->eng.strikes.e[i].quarantined)
			v->quarantined_identities++;
	v->http_connections = (double)m->connections;
	v->http_connections_refused = (double)m->refused;
	v->http_timeouts = (double)m->timeouts;
	v->scrapes = (double)m->scrapes;
	v->actions = &m->actions;
	v->skips = &m->skips;
	m->hooks.n = 0;
	(void)hooks_outcomes(dz->hooks, &m->hooks);
	v->hooks = &m->hooks;

	if (dz->eng.nrows > m->ctr_cap) {
		if ((nc = realloc(m->ctr, dz->eng.nrows * sizeof(*nc))) ==
		    NULL)
			return; /* no container series this time */
		m->ctr = nc;
		m->ctr_cap = dz->eng.nrows;
	}
	for (i = 0; i < dz->eng.nrows; i++) {
		r = &dz->eng.rows[i];
		c = &m->ctr[i];
		memset(c, 0, sizeof(*c));
		snprintf(c->id, sizeof(c->id), "%.12s", r->c.container_id);
		engine_container_rec(&dz->eng, r, engine_class_of(&dz->eng, r),
		    &rec);
		c->name = r->c.name;
		c->image = r->c.image;
		c->class_name = policy_class_name(&dz->eng.policy,
		    engine_class_of(&dz->eng, r));
		c->cpu_ratio = rec.cpu_pct / 100;
		c->memory_ratio = rec.mem_pct / 100;
		c->working_set_bytes = (double)rec.working_set_kb * 1024;
		c->memory_usage_bytes = (double)rec.mem_usage_kb * 1024;
		c->rss_bytes = (double)rec.rss_kb * 1024;
		c->memory_limit_bytes = (double)rec.mem_limit_kb * 1024;
		c->processes = rec.nprocs;
		c->throttled_periods = (double)rec.nr_throttled;
		c->throttled_seconds = (double)rec.throttled_ns / 1e9;
		c->oom_kills = (double)rec.oom_kills;
		s = r->identity[0] != '\0' ?
		    strikes_find(&dz->eng.strikes, r->identity) :
		    NULL;
		c->quarantined = s != NULL && s->quarantined;
		c->strikes = s != NULL ?
		    (double)strikes_count(s, dz->eng.wall_s,
			dz->eng.policy.quarantine_window_ms / 1000) :
		    0;
		c->throttled = r->act != NULL && r->act->throttled;
	}
	v->containers = m->ctr;
	v->ncontainers = dz->eng.nrows;
}

static enum MHD_Result
reply(struct MHD_Connection *conn, unsigned int code, char *body, size_t len,
    enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *resp;
	enum MHD_Result rc;

	if ((resp = MHD_create_response_from_buffer(len, body, mode)) ==
	    NULL) {
		if (mode == MHD_RESPMEM_MUST_FREE)
			free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	    code == MHD_HTTP_OK && mode == MHD_RESPMEM_MUST_FREE ?
		CONTENT_TYPE :
		"text/plain; charset=utf-8");
	rc = MHD_queue_response(conn, code, resp);
	MHD_destroy_response(resp);
	return rc;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload,
    size_t *upload_size, void **req_cls)
{
	static char not_found[] = "not found: try /metrics\n";
	static char bad_method[] = "only GET and HEAD\n";
	static char root[] = "kwarden-decider: /metrics\n";
	static char no_memory[] = "out of memory\n";
	struct metrics *m = cls;
	struct metrics_view v;
	struct metrics_buf b;

	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, bad_method,
		    strlen(bad_method), MHD_RESPMEM_PERSISTENT);
	if (*upload_size != 0) {
		*upload_size = 0; /* a GET body: ignored */
		return MHD_YES;
	}
	if (strcmp(url, "/") == 0)
		return reply(conn, MHD_HTTP_OK, root, strlen(root),
		    MHD_RESPMEM_PERSISTENT);
	if (strcmp(url, "/metrics") != 0) {
		m->not_found++;
		return reply(conn, MHD_HTTP_NOT_FOUND, not_found,
		    strlen(not_found), MHD_RESPMEM_PERSISTENT);
	}
	memset(&b, 0, sizeof(b));
	collect(m, &v);
	if (metrics_render(&v, &b) == -1) {
		metrics_buf_free(&b);
		log_warnx("metrics: out of memory rendering /metrics");
		return reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, no_memory,
		    strlen(no_memory), MHD_RESPMEM_PERSISTENT);
	}
	m->scrapes++;
	return reply(conn, MHD_HTTP_OK, b.p, b.len, MHD_RESPMEM_MUST_FREE);
}

/* The cap is ours, so that a refusal is counted (MHD's is one above). */
static enum MHD_Result
on_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
	struct metrics *m = cls;

	if (m->connections >= m->max_connections) {
		m->refused++;
		return MHD_NO;
	}
	return MHD_YES;
}

static void
on_connection(void *cls, struct MHD_Connection *conn, void **socket_ctx,
    enum MHD_ConnectionNotificationCode code)
{
	struct metrics *m = cls;

	if (code == MHD_CONNECTION_NOTIFY_STARTED)
		m->connections++;
	else if (code == MHD_CONNECTION_NOTIFY_CLOSED && m->connections > 0)
		m->connections--;
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
    enum MHD_RequestTerminationCode code)
{
	struct metrics *m = cls;

	if (code == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED)
		m->timeouts++;
}

static void
on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[256];
	size_t n;

	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	log_debug("metrics: %s", buf);
}

static void run_mhd(struct metrics *m);

static void
on_timer(uv_timer_t *t)
{
	run_mhd(t->data);
}

static void
on_poll(uv_poll_t *p, int status, int events)
{
	run_mhd(p->data);
}

/* Let MHD do what is ready, then wake up when it next needs to. */
static void
run_mhd(struct metrics *m)
{
	MHD_UNSIGNED_LONG_LONG ms;

	if (m->closing || m->mhd == NULL)
		return;
	MHD_run(m->mhd);
	if (MHD_get_timeout(m->mhd, &ms) == MHD_YES)
		uv_timer_start(&m->timer, on_timer, ms, 0);
	else
		uv_timer_stop(&m->timer);
}

static int
start_server(struct metrics *m, uint64_t timeout_ms, char *err, size_t errlen)
{
	struct addrinfo hints, *ai = NULL;
	const union MHD_DaemonInfo *info;
	char host[100], service[8];
	unsigned int flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
	uint16_t port;
	int rc;

	if (metrics_parse_listen(m->listen, host, sizeof(host), &port, err,
		errlen) == -1)
		return -1;
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(service, sizeof(service), "%u", port);
	if ((rc = getaddrinfo(host, service, &hints, &ai)) != 0) {
		snprintf(err, errlen, "\"%s\": %s", host, gai_strerror(rc));
		return -1;
	}
	if (ai->ai_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	m->mhd = MHD_start_daemon(flags, port, on_accept, m, on_request, m,
	    MHD_OPTION_SOCK_ADDR, ai->ai_addr, MHD_OPTION_CONNECTION_LIMIT,
	    (unsigned int)m->max_connections + 1,
	    MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned int)((timeout_ms + 999) / 1000),
	    MHD_OPTION_NOTIFY_CONNECTION, on_connection, m,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, m,
	    MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, m, MHD_OPTION_END);
	rc = errno;
	freeaddrinfo(ai);
	if (m->mhd == NULL) {
		snprintf(err, errlen, "cannot listen on %s: %s", m->listen,
		    rc ? strerror(rc) : "libmicrohttpd refused");
		return -1;
	}
	if ((info = MHD_get_daemon_info(m->mhd, MHD_DAEMON_INFO_EPOLL_FD)) ==
	    NULL) {
		snprintf(err, errlen, "libmicrohttpd has no epoll descriptor");
		MHD_stop_daemon(m->mhd);
		m->mhd = NULL;
		return -1;
	}
	if ((rc = uv_poll_init(m->loop, &m->poll, info->epoll_fd)) != 0) {
		snprintf(err, errlen, "uv_poll_init: %s", uv_strerror(rc));
		MHD_stop_daemon(m->mhd);
		m->mhd = NULL;
		return -1;
	}
	m->poll.data = m;
	uv_timer_init(m->loop, &m->timer);
	m->timer.data = m;
	m->open_handles = 2;
	uv_poll_start(&m->poll, UV_READABLE, on_poll);
	run_mhd(m);
	return 0;
}

/*
 * The series a scrape will show, at 0 from the start: a counter that
 * appears at 1 has no increase to show for its first event (rate(),
 * increase() and changes() need two samples).
 */
static void
counts_zero(struct metrics *m, const struct policy *p)
{
	static const char *const results[] = { "ok", "failed", "unknown" };
	static const enum policy_verdict skips[] = { POLICY_SKIP_ACTED,
		POLICY_SKIP_PROTECTED, POLICY_SKIP_NO_CLASS,
		POLICY_SKIP_MIN_ALIVE, POLICY_SKIP_HOLD };
	const char *label[3];
	size_t i, k;

	for (i = 0; i < p->nclasses; i++)
		for (k = 0; k < sizeof(results) / sizeof(results[0]); k++) {
			label[0] = action_name(p->action);
			label[1] = p->classes[i].name;
			label[2] = results[k];
			(void)metrics_counts_add(&m->actions, label, 3, 0);
		}
	for (k = 0; k < sizeof(skips) / sizeof(skips[0]); k++) {
		label[0] = policy_verdict_name(skips[k]);
		(void)metrics_counts_add(&m->skips, label, 1, 0);
	}
}

struct metrics *
metrics_new(uv_loop_t *loop, struct decider *dz, char *err, size_t errlen)
{
	const struct kw_conf *conf = dz->d.conf;
	struct metrics *m;
	char why[256];

	if ((m = calloc(1, sizeof(*m))) == NULL) {
		snprintf(err, errlen, "metrics: out of memory");
		return NULL;
	}
	m->loop = loop;
	m->dz = dz;
	m->start_mono_ns = kw_mono_ns();
	counts_zero(m, &dz->eng.policy);
	m->max_connections =
	    (size_t)kw_conf_int(conf, "metrics.max_connections");
	snprintf(m->listen, sizeof(m->listen), "%s",
	    kw_conf_str(conf, "metrics.listen"));
	if (m->listen[0] == '\0') {
		log_info("metrics: off (metrics.listen is empty)");
		return m;
	}
	if (metrics_parse_listen(m->listen, why, sizeof(why), &(uint16_t){ 0 },
		err, errlen) == -1) {
		free(m);
		return NULL;
	}
	/*
	 * Not listening is logged and shown, and the decider goes on: a port
	 * taken must not leave the host without its policy.
	 */
	if (start_server(m, kw_conf_ms(conf, "metrics.timeout"), why,
		sizeof(why)) == -1) {
		snprintf(m->error, sizeof(m->error), "%s", why);
		log_warnx("metrics: %s; /metrics is not served", why);
	} else
		log_info("metrics: serving /metrics on %s", m->listen);
	return m;
}

void
metrics_count_action(struct metrics *m, const struct kw_deletion_rec *r)
{
	const char *label[3];

	if (m == NULL)
		return;
	label[0] = r->action;
	label[1] = r->class_name;
	label[2] = metrics_result_class(r->result);
	if (metrics_counts_add(&m->actions, label, 3, 1) == -1)
		log_warnx("metrics: out of memory counting an action");
}

void
metrics_count_skips(struct metrics *m, const struct engine *e)
{
	const char *label[1];
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < e->ndec; i++) {
		if (e->dec[i].verdict == POLICY_TAKEN)
			continue;
		label[0] = policy_verdict_name(e->dec[i].verdict);
		if (metrics_counts_add(&m->skips, label, 1, 1) == -1)
			log_warnx("metrics: out of memory counting a skip");
	}
}

json_t *
metrics_status_json(const struct metrics *m)
{
	json_t *o = json_object();

	if (m == NULL)
		return o;
	json_object_set_new(o, "listen", json_string(m->listen));
	json_object_set_new(o, "listening", json_boolean(m->mhd != NULL));
	json_object_set_new(o, "error", json_string(m->error));
	json_object_set_new(o, "connections",
	    json_integer((json_int_t)m->connections));
	json_object_set_new(o, "max_connections",
	    json_integer((json_int_t)m->max_connections));
	json_object_set_new(o, "connections_refused",
	    json_integer((json_int_t)m->refused));
	json_object_set_new(o, "timeouts",
	    json_integer((json_int_t)m->timeouts));
	json_object_set_new(o, "scrapes",
	    json_integer((json_int_t)m->scrapes));
	json_object_set_new(o, "not_found",
	    json_integer((json_int_t)m->not_found));
	return o;
}

static void
metrics_free(struct metrics *m)
{
	metrics_counts_free(&m->actions);
	metrics_counts_free(&m->skips);
	metrics_counts_free(&m->hooks);
	free(m->ctr);
	free(m);
}

static void
handle_closed(uv_handle_t *h)
{
	struct metrics *m = h->data;

	if (--m->open_handles == 0)
		metrics_free(m);
}

void
metrics_close(struct metrics *m)
{
	if (m == NULL)
		return;
	if (m->mhd == NULL) {
		metrics_free(m);
		return;
	}
	m->closing = 1;
	/* The poll goes before MHD closes the descriptor it watches. */
	uv_close((uv_handle_t *)&m->poll, handle_closed);
	uv_close((uv_handle_t *)&m->timer, handle_closed);
	MHD_stop_daemon(m->mhd);
	m->mhd = NULL;
}
