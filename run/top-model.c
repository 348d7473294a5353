/*
 * kwarden-top's model: the decider's stream (sys, container, proc,
 * deletion) gathered into samples, and the control sockets' JSON replies
 * (status, policy, containers, explain) parsed into plain structs.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "top.h"

/* Fields of `containers` the table shows in their own columns. */
static const char *const ctr_known[] = {
	"container_id",
	"name",
	"image",
	"class",
	"pid",
	"nprocs",
	"cpu_pct",
	"mem_pct",
	"rss_kb",
	"state",
	/* The cgroup's own figures: columns for them are still to come. */
	"figures",
	"cpu_pct_procs",
	"mem_usage_kb",
	"anon_kb",
	"mem_limit_kb",
	"nr_throttled",
	"throttled_ns",
	"oom_kills",
	"psi_cpu_some",
	"psi_mem_some",
	"psi_mem_full",
};
/* Names a working set may come under, the first present wins. */
static const char *const ws_keys[] = {
	"working_set_kb",
	"ws_kb",
	"mem_working_set_kb",
};
/* Fields of `policy` the header shows in their own places. */
static const char *const policy_known[] = {
	"cpu_threshold",
	"mem_threshold",
	"window_ms",
	"action",
	"acting_as",
	"protect",
	"classes",
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

void
top_model_init(struct top_model *m)
{
	memset(m, 0, sizeof(*m));
	snprintf(m->stream_note, sizeof(m->stream_note), "connecting");
}

static void
sample_free(struct top_sample *s)
{
	free(s->ctrs);
	free(s->procs);
	memset(s, 0, sizeof(*s));
}

void
top_model_free(struct top_model *m)
{
	size_t i;

	sample_free(&m->cur);
	sample_free(&m->pending);
	free(m->ctl);
	m->ctl = NULL;
	m->nctl = m->ctl_cap = 0;
	for (i = 0; i < TOP_ACTIONS_MAX; i++)
		kw_deletion_rec_free(&m->actions[i].rec);
}

/* Room for one more element of size sz in *arr (n used, *cap held). */
static int
grow(void *arr, size_t n, size_t *cap, size_t sz)
{
	void **p = arr, *q;
	size_t ncap;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 64;
	if ((q = reallocarray(*p, ncap, sz)) == NULL)
		return -1;
	*p = q;
	*cap = ncap;
	return 0;
}

void
top_model_commit(struct top_model *m)
{
	struct top_sample tmp;

	if (!m->pending.have_sys)
		return;
	tmp = m->cur;
	m->cur = m->pending;
	m->pending = tmp;
	m->pending.have_sys = 0;
	m->pending.nctrs = 0;
	m->pending.nprocs = 0;
	m->samples++;
}

int
top_model_msg(struct top_model *m, const struct kw_msg *msg, char *err,
    size_t errlen)
{
	struct top_sample *p = &m->pending;
	struct top_action *a;
	struct kw_sys_rec sys;

	switch (msg->type) {
	case KW_MSG_SYS:
		if (kw_sys_unpack(msg->obj, &sys, err, errlen) == -1)
			return -1;
		top_model_commit(m);
		p->have_sys = 1;
		p->ts_ns = msg->ts_ns;
		p->sys = sys;
		p->nctrs = p->nprocs = 0;
		return 0;
	case KW_MSG_CONTAINER:
		if (!p->have_sys)
			return 0; /* the rest of a sample we joined late */
		if (grow(&p->ctrs, p->nctrs, &p->ctrs_cap,
			sizeof(p->ctrs[0])) == -1) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		if (kw_container_unpack(msg->obj, &p->ctrs[p->nctrs], err,
			errlen) == -1)
			return -1;
		p->nctrs++;
		return 0;
	case KW_MSG_PROC:
		if (!p->have_sys)
			return 0;
		if (grow(&p->procs, p->nprocs, &p->procs_cap,
			sizeof(p->procs[0])) == -1) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		if (kw_proc_rec_unpack(msg->obj, &p->procs[p->nprocs], err,
			errlen) == -1)
			return -1;
		p->nprocs++;
		return 0;
	case KW_MSG_DELETION:
		a = &m->actions[m->actions_head];
		kw_deletion_rec_free(&a->rec);
		if (kw_deletion_unpack(msg->obj, &a->rec, err, errlen) == -1) {
			kw_deletion_rec_free(&a->rec);
			return -1;
		}
		a->ts_ns = msg->ts_ns;
		m->actions_head = (m->actions_head + 1) % TOP_ACTIONS_MAX;
		if (m->nactions < TOP_ACTIONS_MAX)
			m->nactions++;
		return 0;
	default:
		return 0; /* not ours to show */
	}
}

const struct top_action *
top_model_action(const struct top_model *m, size_t i)
{
	if (i >= m->nactions)
		return NULL;
	return &m->actions[(m->actions_head + TOP_ACTIONS_MAX - 1 - i) %
	    TOP_ACTIONS_MAX];
}

static void collect_extra(const json_t *o, const char *const *known,
    size_t nknown, const char *const *also, size_t nalso, char *buf,
    size_t len);

/* JSON helpers: absent or of another type reads as zero or "". */

static double
jnum(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	return json_is_number(v) ? json_number_value(v) : 0.0;
}

static uint64_t
juint(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	if (json_is_integer(v))
		return json_integer_value(v) < 0 ?
		    0 :
		    (uint64_t)json_integer_value(v);
	if (json_is_real(v) && json_real_value(v) > 0)
		return (uint64_t)json_real_value(v);
	return 0;
}

static void
jstr(const json_t *o, const char *key, char *buf, size_t len)
{
	const json_t *v = json_object_get(o, key);

	snprintf(buf, len, "%s",
	    json_is_string(v) ? json_string_value(v) : "");
}

/* One reply line as a JSON object; NULL with err otherwise. */
static json_t *
load_object(const char *line, char *err, size_t errlen)
{
	json_error_t je;
	json_t *o;

	if ((o = json_loads(line, JSON_DISABLE_EOF_CHECK, &je)) == NULL) {
		snprintf(err, errlen, "not JSON: %s", je.text);
		return NULL;
	}
	if (!json_is_object(o)) {
		json_decref(o);
		snprintf(err, errlen, "not a JSON object");
		return NULL;
	}
	if (json_is_string(json_object_get(o, "error"))) {
		snprintf(err, errlen, "%s",
		    json_string_value(json_object_get(o, "error")));
		json_decref(o);
		return NULL;
	}
	return o;
}

void
top_model_unreachable(struct top_model *m, enum top_daemon d, const char *why)
{
	struct top_health *h = &m->health[d];

	h->reachable = 0;
	snprintf(h->error, sizeof(h->error), "%s", why);
	m->health_known[d] = 1;
}

int
top_model_status(struct top_model *m, enum top_daemon d, const char *line,
    char *err, size_t errlen)
{
	struct top_health *h = &m->health[d];
	const json_t *sub, *v;
	json_t *o;

	if ((o = load_object(line, err, errlen)) == NULL)
		return -1;
	memset(h, 0, sizeof(*h));
	h->reachable = 1;
	h->uptime_s = jnum(o, "uptime_s");
	h->errors = juint(o, "errors");
	jstr(o, "last_error", h->last_error, sizeof(h->last_error));
	h->samples = juint(o, "samples");
	h->samples_failed = juint(o, "samples_failed");
	h->last_snapshot_age_s = -1;
	if ((sub = json_object_get(o, "pub")) != NULL) {
		h->pub_seq = juint(sub, "seq");
		h->acked_seq = juint(sub, "acked_seq");
	}
	/* The link upstream: the decider's "reader", the recorder's "sub". */
	sub = json_object_get(o, d == TOP_RECORDER ? "sub" : "reader");
	if (json_is_object(sub)) {
		h->in_seq = juint(sub, "last_seq");
		h->in_connected =
		    json_is_true(json_object_get(sub, "connected"));
	}
	v = json_object_get(o, "last_snapshot_age_s");
	if (json_is_number(v))
		h->last_snapshot_age_s = json_number_value(v);
	if ((sub = json_object_get(o, "docker")) != NULL) {
		jstr(sub, "state", h->docker_state, sizeof(h->docker_state));
		jstr(sub, "last_error", h->docker_error,
		    sizeof(h->docker_error));
	}
	h->pending_rows = juint(o, "pending_rows");
	h->db_errors = juint(o, "db_errors");
	m->health_known[d] = 1;
	json_decref(o);
	return 0;
}

/* A JSON array of strings, comma-joined. */
static void
join_strings(const json_t *a, char *buf, size_t len)
{
	size_t i, off = 0;
	const json_t *v;
	int n;

	buf[0] = '\0';
	json_array_foreach(a, i, v)
	{
		if (!json_is_string(v))
			continue;
		n = snprintf(buf + off, len - off, "%s%s", off ? "," : "",
		    json_string_value(v));
		if (n < 0 || (size_t)n >= len - off)
			break;
		off += (size_t)n;
	}
}

int
top_model_policy(struct top_model *m, const char *line, char *err,
    size_t errlen)
{
	struct top_policy *p = &m->policy;
	struct top_class *c;
	const json_t *a, *e;
	json_t *o;
	size_t i;

	if ((o = load_object(line, err, errlen)) == NULL)
		return -1;
	memset(p, 0, sizeof(*p));
	p->known = 1;
	p->cpu_threshold = jnum(o, "cpu_threshold");
	p->mem_threshold = jnum(o, "mem_threshold");
	p->window_ms = juint(o, "window_ms");
	/* A ladder or a mode the decider acts as may differ from "action". */
	jstr(o, "acting_as", p->action, sizeof(p->action));
	if (p->action[0] == '\0')
		jstr(o, "action", p->action, sizeof(p->action));
	join_strings(json_object_get(o, "protect"), p->protect,
	    sizeof(p->protect));
	collect_extra(o, policy_known, NELEM(policy_known), NULL, 0, p->extra,
	    sizeof(p->extra));
	a = json_object_get(o, "classes");
	json_array_foreach(a, i, e)
	{
		if (p->nclasses == TOP_CLASS_MAX)
			break;
		c = &p->classes[p->nclasses++];
		jstr(e, "name", c->name, sizeof(c->name));
		c->min_alive = (int64_t)juint(e, "min_alive");
		c->alive = (int64_t)juint(e, "alive");
		c->running = (int64_t)juint(e, "running");
	}
	json_decref(o);
	return 0;
}

/* A value of a field we do not know, short, for the extra column. */
static void
value_text(const json_t *v, char *buf, size_t len)
{
	char *t;

	if (json_is_string(v))
		snprintf(buf, len, "%s", json_string_value(v));
	else if (json_is_integer(v))
		snprintf(buf, len, "%lld", (long long)json_integer_value(v));
	else if (json_is_real(v))
		snprintf(buf, len, "%.4g", json_real_value(v));
	else if ((t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)) != NULL) {
		snprintf(buf, len, "%s", t);
		free(t);
	} else
		snprintf(buf, len, "?");
}

static int
is_known(const char *key, const char *const *known, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(key, known[i]) == 0)
			return 1;
	return 0;
}

/*
 * Every field of o in neither known nor also, as "key=value key=value":
 * what a newer daemon adds shows up without a newer kwarden-top.
 */
static void
collect_extra(const json_t *o, const char *const *known, size_t nknown,
    const char *const *also, size_t nalso, char *buf, size_t len)
{
	const char *key;
	const json_t *v;
	char val[160];
	size_t off = 0;
	int n;

	buf[0] = '\0';
	json_object_foreach((json_t *)o, key, v)
	{
		if (is_known(key, known, nknown) || is_known(key, also, nalso))
			continue;
		value_text(v, val, sizeof(val));
		n = snprintf(buf + off, len - off, "%s%s=%s", off ? " " : "",
		    key, val);
		if (n < 0 || (size_t)n >= len - off)
			break;
		off += (size_t)n;
	}
}

static void
ctl_ctr_fill(struct top_ctl_ctr *c, const json_t *e)
{
	size_t i;

	memset(c, 0, sizeof(*c));
	jstr(e, "container_id", c->container_id, sizeof(c->container_id));
	jstr(e, "state", c->state, sizeof(c->state));
	for (i = 0; i < NELEM(ws_keys) && c->ws_kb == 0; i++)
		c->ws_kb = juint(e, ws_keys[i]);
	collect_extra(e, ctr_known, NELEM(ctr_known), ws_keys, NELEM(ws_keys),
	    c->extra, sizeof(c->extra));
}

int
top_model_containers(struct top_model *m, const char *line, char *err,
    size_t errlen)
{
	const json_t *a, *e;
	json_t *o;
	size_t i;

	if ((o = load_object(line, err, errlen)) == NULL)
		return -1;
	a = json_object_get(o, "containers");
	if (!json_is_array(a)) {
		snprintf(err, errlen, "no \"containers\" array");
		json_decref(o);
		return -1;
	}
	m->nctl = 0;
	json_array_foreach(a, i, e)
	{
		if (!json_is_object(e))
			continue;
		if (grow(&m->ctl, m->nctl, &m->ctl_cap, sizeof(m->ctl[0])) ==
		    -1) {
			snprintf(err, errlen, "out of memory");
			json_decref(o);
			return -1;
		}
		ctl_ctr_fill(&m->ctl[m->nctl++], e);
	}
	m->ctl_known = 1;
	json_decref(o);
	return 0;
}

void
top_explain_text(const char *name, const char *line, char *out, size_t len)
{
	json_error_t je;
	const json_t *e;
	json_t *o;
	char *t;

	o = json_loads(line, JSON_DISABLE_EOF_CHECK, &je);
	if (o == NULL) {
		snprintf(out, len, "explain %s: not JSON: %s", name, line);
		return;
	}
	e = json_object_get(o, "error");
	if (json_is_string(e) &&
	    strcmp(json_string_value(e), "unknown command") == 0)
		snprintf(out, len, "explain %s: not supported by this decider",
		    name);
	else if (json_is_string(e))
		snprintf(out, len, "explain %s: %s", name,
		    json_string_value(e));
	else if ((t = json_dumps(o,
		      JSON_INDENT(2) | JSON_PRESERVE_ORDER |
			  JSON_REAL_PRECISION(6))) != NULL) {
		snprintf(out, len, "explain %s:\n%s", name, t);
		free(t);
	} else
		snprintf(out, len, "explain %s: out of memory", name);
	json_decref(o);
}
