/*
 * kwarden-top's view: the container table joined, filtered and sorted,
 * bars against the thresholds, number formats, and the whole frame as
 * lines of text with a role per character (colour in the terminal, plain
 * text for --once). Pure: the model and the clock reading come in.
 */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "top.h"

#define NAME_W	    24
#define CLASS_W	    6
#define PCT_W	    6
#define BAR_W	    12
#define MEM_W	    7
#define EXCESS_W    7
#define BOTTOM_ROWS 5  /* actions, processes: rows each, full screen */
#define ONCE_ROWS   10 /* and in --once */

static const char *const sort_names[TOP_SORT__COUNT] = {
	[TOP_SORT_EXCESS] = "excess",
	[TOP_SORT_NAME] = "name",
	[TOP_SORT_CLASS] = "class",
	[TOP_SORT_CPU] = "cpu",
	[TOP_SORT_MEM] = "mem",
	[TOP_SORT_STATE] = "state",
};

const char *
top_sort_name(enum top_sort s)
{
	return s < TOP_SORT__COUNT ? sort_names[s] : "?";
}

double
top_excess(double cpu_pct, double mem_pct, double cpu_threshold,
    double mem_threshold)
{
	double cpu_ex = cpu_pct - cpu_threshold;
	double mem_ex = mem_pct - mem_threshold;

	return cpu_ex > mem_ex ? cpu_ex : mem_ex;
}

/* Larger first for numbers; names A to Z; ties by name, then id. */
static int
cmp_num(double a, double b)
{
	if (a != b)
		return a > b ? -1 : 1;
	return 0;
}

static int
row_cmp(const struct top_row *a, const struct top_row *b, enum top_sort s)
{
	int c = 0;

	switch (s) {
	case TOP_SORT_EXCESS:
		c = cmp_num(a->excess, b->excess);
		break;
	case TOP_SORT_NAME:
		break;
	case TOP_SORT_CLASS:
		c = strcmp(a->rec.class_name, b->rec.class_name);
		if (c == 0)
			c = cmp_num(a->excess, b->excess);
		break;
	case TOP_SORT_CPU:
		c = cmp_num(a->rec.cpu_pct, b->rec.cpu_pct);
		break;
	case TOP_SORT_MEM:
		c = cmp_num(a->rec.mem_pct, b->rec.mem_pct);
		break;
	case TOP_SORT_STATE:
		c = strcmp(a->state, b->state);
		if (c == 0)
			c = cmp_num(a->excess, b->excess);
		break;
	case TOP_SORT__COUNT:
		break;
	}
	if (c == 0)
		c = strcmp(a->rec.name, b->rec.name);
	if (c == 0)
		c = strcmp(a->rec.container_id, b->rec.container_id);
	return c;
}

static int
cmp_forward(const void *a, const void *b, void *arg)
{
	return row_cmp(a, b, *(const enum top_sort *)arg);
}

static int
cmp_reverse(const void *a, const void *b, void *arg)
{
	return row_cmp(b, a, *(const enum top_sort *)arg);
}

void
top_sort_rows(struct top_row *rows, size_t n, enum top_sort sort, int reverse)
{
	if (n > 1)
		qsort_r(rows, n, sizeof(rows[0]),
		    reverse ? cmp_reverse : cmp_forward, &sort);
}

size_t
top_bar(char *text, unsigned char *role, size_t width, double value,
    double threshold)
{
	size_t inner, fill, mark, i;
	double span;

	if (width < 3)
		return 0;
	inner = width - 2;
	text[0] = '[';
	text[width - 1] = ']';
	role[0] = role[width - 1] = TOP_ROLE_DIM;
	mark = inner / 2;
	span = threshold > 0 ? 2 * threshold : 100.0;
	if (!(value > 0))
		fill = 0;
	else if (value >= span)
		fill = inner;
	else
		fill = (size_t)lround(value / span * (double)inner);
	/* Over the threshold shows past the mark; at or under, not. */
	if (threshold > 0 && value > threshold && fill <= mark)
		fill = mark + 1;
	else if (threshold > 0 && !(value > threshold) && fill > mark)
		fill = mark;
	for (i = 0; i < inner; i++) {
		if (i < fill) {
			text[1 + i] = '#';
			role[1 + i] = threshold > 0 && i >= mark ?
			    TOP_ROLE_HOT :
			    TOP_ROLE_OK;
		} else {
			text[1 + i] = threshold > 0 && i == mark ? '|' : ' ';
			role[1 + i] = TOP_ROLE_DIM;
		}
	}
	if (value > span) {
		text[inner] = '>';
		role[inner] = TOP_ROLE_HOT;
	}
	return width;
}

void
top_fmt_kb(char *buf, size_t len, uint64_t kb)
{
	static const char units[] = "KMGTP";
	double v = (double)kb;
	size_t u = 0;

	while (v >= 1024 && u < sizeof(units) - 2) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%lluK", (unsigned long long)kb);
	else if (v < 100)
		snprintf(buf, len, "%.1f%c", v, units[u]);
	else
		snprintf(buf, len, "%.0f%c", v, units[u]);
}

void
top_fmt_age(char *buf, size_t len, double seconds)
{
	uint64_t s;

	if (!(seconds >= 0))
		seconds = 0;
	if (seconds < 10) {
		snprintf(buf, len, "%.1fs", seconds);
		return;
	}
	s = (uint64_t)seconds;
	if (s < 60)
		snprintf(buf, len, "%llus", (unsigned long long)s);
	else if (s < 3600)
		snprintf(buf, len, "%llum%02llus", (unsigned long long)s / 60,
		    (unsigned long long)s % 60);
	else if (s < 86400)
		snprintf(buf, len, "%lluh%02llum",
		    (unsigned long long)s / 3600,
		    (unsigned long long)s / 60 % 60);
	else
		snprintf(buf, len, "%llud%02lluh",
		    (unsigned long long)s / 86400,
		    (unsigned long long)s / 3600 % 24);
}

void
top_sanitize(char *dst, size_t len, const char *src)
{
	size_t i;

	if (len == 0)
		return;
	for (i = 0; src[i] != '\0' && i < len - 1; i++)
		dst[i] = src[i] >= 0x20 && src[i] < 0x7f ? src[i] : '?';
	dst[i] = '\0';
}

static const struct top_ctl_ctr *
ctl_find(const struct top_model *m, const char *id)
{
	size_t i;

	for (i = 0; i < m->nctl; i++)
		if (strcmp(m->ctl[i].container_id, id) == 0)
			return &m->ctl[i];
	return NULL;
}

struct top_row *
top_rows(const struct top_model *m, const char *filter, enum top_sort sort,
    int reverse, size_t *n)
{
	const struct top_sample *s = &m->cur;
	const struct top_ctl_ctr *c;
	struct top_row *rows, *r;
	size_t i;

	*n = 0;
	if ((rows = calloc(s->nctrs ? s->nctrs : 1, sizeof(*rows))) == NULL)
		return NULL;
	for (i = 0; i < s->nctrs; i++) {
		if (filter != NULL && filter[0] != '\0' &&
		    strcmp(s->ctrs[i].class_name, filter) != 0)
			continue;
		r = &rows[(*n)++];
		r->rec = s->ctrs[i];
		r->excess = m->policy.known ?
		    top_excess(r->rec.cpu_pct, r->rec.mem_pct,
			m->policy.cpu_threshold, m->policy.mem_threshold) :
		    (r->rec.cpu_pct > r->rec.mem_pct ? r->rec.cpu_pct :
						       r->rec.mem_pct);
		if ((c = ctl_find(m, r->rec.container_id)) != NULL) {
			memcpy(r->state, c->state, sizeof(r->state));
			memcpy(r->extra, c->extra, sizeof(r->extra));
			r->ws_kb = c->ws_kb;
		}
	}
	top_sort_rows(rows, *n, sort, reverse);
	return rows;
}

/* Building lines. */

struct frame {
	struct top_screen *s;
	size_t width;
	int failed; /* out of memory */
};

static struct top_line *
line_new(struct frame *f)
{
	struct top_screen *s = f->s;
	struct top_line *l;
	size_t cap;

	if (f->failed)
		return NULL;
	if (s->n == s->cap) {
		cap = s->cap ? s->cap * 2 : 64;
		if ((l = reallocarray(s->lines, cap, sizeof(*l))) == NULL) {
			f->failed = 1;
			return NULL;
		}
		s->lines = l;
		s->cap = cap;
	}
	l = &s->lines[s->n++];
	l->len = 0;
	l->text[0] = '\0';
	return l;
}

/* Append text (made printable) in one role, cut at the frame's width. */
static void
put_raw(struct frame *f, struct top_line *l, enum top_role role,
    const char *text)
{
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; text[i] != '\0' && l->len < f->width; i++) {
		l->text[l->len] =
		    text[i] >= 0x20 && text[i] < 0x7f ? text[i] : '?';
		l->role[l->len++] = (unsigned char)role;
	}
	l->text[l->len] = '\0';
}

static void put(struct frame *f, struct top_line *l, enum top_role role,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
put(struct frame *f, struct top_line *l, enum top_role role, const char *fmt,
    ...)
{
	char buf[TOP_LINE_MAX + 1];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	put_raw(f, l, role, buf);
}

/* Pad with spaces to column col. */
static void
pad(struct frame *f, struct top_line *l, size_t col)
{
	if (l == NULL)
		return;
	while (l->len < col && l->len < f->width) {
		l->text[l->len] = ' ';
		l->role[l->len++] = TOP_ROLE_NORMAL;
	}
	l->text[l->len] = '\0';
}

/* A cell of exactly w columns (cut or padded), then one space. */
static void
cell(struct frame *f, struct top_line *l, enum top_role role, size_t w,
    const char *text)
{
	char buf[TOP_LINE_MAX + 1];
	size_t start;

	if (l == NULL)
		return;
	start = l->len;
	snprintf(buf, sizeof(buf), "%.*s", (int)w, text);
	put_raw(f, l, role, buf);
	pad(f, l, start + w + 1);
}

static void
cell_right(struct frame *f, struct top_line *l, enum top_role role, size_t w,
    const char *text)
{
	char buf[TOP_LINE_MAX + 1];

	snprintf(buf, sizeof(buf), "%*.*s", (int)w, (int)w, text);
	cell(f, l, role, w, buf);
}

static void
put_bar(struct frame *f, struct top_line *l, double value, double threshold)
{
	char text[BAR_W];
	unsigned char role[BAR_W];
	size_t i, start;

	if (l == NULL)
		return;
	start = l->len;
	top_bar(text, role, BAR_W, value, threshold);
	for (i = 0; i < BAR_W && l->len < f->width; i++) {
		l->text[l->len] = text[i];
		l->role[l->len++] = role[i];
	}
	l->text[l->len] = '\0';
	pad(f, l, start + BAR_W + 1);
}

/* Role of a figure against its threshold: over, within 80 %, under. */
static enum top_role
level(double value, double threshold, int known)
{
	if (!known || threshold <= 0)
		return TOP_ROLE_NORMAL;
	if (value > threshold)
		return TOP_ROLE_HOT;
	if (value > 0.8 * threshold)
		return TOP_ROLE_WARN;
	return TOP_ROLE_OK;
}

static void
fmt_pct(char *buf, size_t len, double v)
{
	snprintf(buf, len, "%.1f", v);
}

/* The header: host, link, policy, daemons, classes. */

static void
render_host(struct frame *f, const struct top_model *m, uint64_t now_ns)
{
	const struct top_sample *s = &m->cur;
	const struct kw_sys_rec *y = &s->sys;
	struct top_line *l = line_new(f);
	char used[16], total[16], age[16];
	double mem_pct;

	put(f, l, TOP_ROLE_BOLD, "kwarden-top");
	if (!s->have_sys) {
		put(f, l, TOP_ROLE_WARN, "  no complete sample yet");
		return;
	}
	top_fmt_kb(used, sizeof(used), y->mem_used_kb);
	top_fmt_kb(total, sizeof(total), y->mem_total_kb);
	mem_pct = y->mem_total_kb ?
	    100.0 * (double)y->mem_used_kb / (double)y->mem_total_kb :
	    0;
	top_fmt_age(age, sizeof(age),
	    now_ns > s->ts_ns ? (double)(now_ns - s->ts_ns) / 1e9 : 0);
	put(f, l, TOP_ROLE_NORMAL, "  host cpu ");
	put(f, l, TOP_ROLE_BOLD, "%.1f%%", y->cpu_pct);
	put(f, l, TOP_ROLE_NORMAL, "  mem ");
	put(f, l, TOP_ROLE_BOLD, "%s/%s %.1f%%", used, total, mem_pct);
	put(f, l, TOP_ROLE_NORMAL, "  procs %llu  containers %zu  sample ",
	    (unsigned long long)y->nprocs, s->nctrs);
	put(f, l,
	    now_ns > s->ts_ns + 5000000000ULL ? TOP_ROLE_WARN :
						TOP_ROLE_NORMAL,
	    "%s ago", age);
}

static void
render_link(struct frame *f, const struct top_model *m)
{
	const struct top_health *d = &m->health[TOP_DECIDER];
	struct top_line *l = line_new(f);

	put(f, l, TOP_ROLE_NORMAL, "stream ");
	if (m->stream_up)
		put(f, l, TOP_ROLE_OK, "%s", m->stream_note);
	else
		put(f, l, TOP_ROLE_HOT, "%s", m->stream_note);
	if (m->stream_restarts > 0)
		put(f, l, TOP_ROLE_WARN, " (decider restarted %llu time%s)",
		    (unsigned long long)m->stream_restarts,
		    m->stream_restarts == 1 ? "" : "s");
	if (m->stream_lost > 0)
		put(f, l, TOP_ROLE_WARN, " (%llu message%s lost)",
		    (unsigned long long)m->stream_lost,
		    m->stream_lost == 1 ? "" : "s");
	put(f, l, TOP_ROLE_NORMAL, "  docker ");
	if (!m->health_known[TOP_DECIDER] || !d->reachable)
		put(f, l, TOP_ROLE_DIM, "?");
	else if (strcmp(d->docker_state, "connected") == 0)
		put(f, l, TOP_ROLE_OK, "connected");
	else
		put(f, l, TOP_ROLE_HOT, "%s%s%s",
		    d->docker_state[0] ? d->docker_state : "?",
		    d->docker_error[0] ? ": " : "", d->docker_error);
}

/* Records of the stream that did not have the shape of their type. */
static void
render_bad(struct frame *f, const struct top_model *m)
{
	if (m->bad_records == 0)
		return;
	put(f, line_new(f), TOP_ROLE_HOT,
	    "  %llu record%s refused, the "
	    "last: %s",
	    (unsigned long long)m->bad_records, m->bad_records == 1 ? "" : "s",
	    m->bad_record);
}

static void
render_policy(struct frame *f, const struct top_model *m)
{
	const struct top_policy *p = &m->policy;
	struct top_line *l = line_new(f);
	char win[16];

	put(f, l, TOP_ROLE_NORMAL, "policy ");
	if (!p->known) {
		put(f, l, TOP_ROLE_DIM,
		    "unknown (decider.ctl does not "
		    "answer)");
		return;
	}
	top_fmt_age(win, sizeof(win), (double)p->window_ms / 1000.0);
	put(f, l, TOP_ROLE_NORMAL, "cpu > ");
	put(f, l, TOP_ROLE_BOLD, "%.1f%%", p->cpu_threshold);
	put(f, l, TOP_ROLE_NORMAL, "  mem > ");
	put(f, l, TOP_ROLE_BOLD, "%.1f%%", p->mem_threshold);
	put(f, l, TOP_ROLE_NORMAL, "  window %s  action ", win);
	put(f, l, TOP_ROLE_BOLD, "%s", p->action);
	if (p->protect[0] != '\0')
		put(f, l, TOP_ROLE_NORMAL, "  protect %s", p->protect);
	if (p->extra[0] != '\0')
		put(f, l, TOP_ROLE_NORMAL, "  %s", p->extra);
}

static const char *const daemon_names[TOP_DAEMON__COUNT] = {
	[TOP_READER] = "reader",
	[TOP_DECIDER] = "decider",
	[TOP_RECORDER] = "recorder",
};

/* How far a daemon is behind the one upstream, -1 when unknown. */
static int64_t
behind(const struct top_model *m, enum top_daemon d)
{
	const struct top_health *h = &m->health[d], *up;

	if (d == TOP_READER || !h->reachable)
		return -1;
	up = &m->health[d == TOP_DECIDER ? TOP_READER : TOP_DECIDER];
	if (!m->health_known[d == TOP_DECIDER ? TOP_READER : TOP_DECIDER] ||
	    !up->reachable)
		return -1;
	if (d == TOP_RECORDER) /* what it has not committed yet */
		return up->pub_seq > up->acked_seq ?
		    (int64_t)(up->pub_seq - up->acked_seq) :
		    0;
	return up->pub_seq > h->in_seq ? (int64_t)(up->pub_seq - h->in_seq) :
					 0;
}

static void
render_health(struct frame *f, const struct top_model *m)
{
	const struct top_health *h;
	struct top_line *l = line_new(f), *e;
	char up[16];
	int64_t b;
	size_t d;

	put(f, l, TOP_ROLE_NORMAL, "health");
	for (d = 0; d < TOP_DAEMON__COUNT; d++) {
		h = &m->health[d];
		put(f, l, TOP_ROLE_NORMAL, "%s %s ", d ? " |" : "",
		    daemon_names[d]);
		if (!m->health_known[d]) {
			put(f, l, TOP_ROLE_DIM, "?");
			continue;
		}
		if (!h->reachable) {
			put(f, l, TOP_ROLE_HOT, "down");
			continue;
		}
		top_fmt_age(up, sizeof(up), h->uptime_s);
		put(f, l, TOP_ROLE_NORMAL, "up %s", up);
		if ((b = behind(m, (enum top_daemon)d)) >= 0)
			put(f, l,
			    b > (d == TOP_RECORDER ? 10000 : 2) ?
				TOP_ROLE_WARN :
				TOP_ROLE_NORMAL,
			    " behind %lld %s%s", (long long)b,
			    d == TOP_RECORDER ? "msg" : "sample",
			    b == 1 ? "" : "s");
		if (d == TOP_READER && h->samples_failed > 0)
			put(f, l, TOP_ROLE_WARN, " failed %llu",
			    (unsigned long long)h->samples_failed);
		if (d == TOP_RECORDER && h->db_errors > 0)
			put(f, l, TOP_ROLE_HOT, " db errors %llu",
			    (unsigned long long)h->db_errors);
		put(f, l, h->errors ? TOP_ROLE_WARN : TOP_ROLE_NORMAL,
		    " errors %llu", (unsigned long long)h->errors);
	}
	/* Why a daemon is down, or its last error. */
	for (d = 0; d < TOP_DAEMON__COUNT; d++) {
		h = &m->health[d];
		if (!m->health_known[d])
			continue;
		if (!h->reachable) {
			e = line_new(f);
			put(f, e, TOP_ROLE_HOT, "  %s: %s", daemon_names[d],
			    h->error);
		} else if (h->errors > 0 && h->last_error[0] != '\0') {
			e = line_new(f);
			put(f, e, TOP_ROLE_DIM, "  %s last error: %s",
			    daemon_names[d], h->last_error);
		}
	}
}

static void
render_classes(struct frame *f, const struct top_model *m, size_t nnone)
{
	const struct top_policy *p = &m->policy;
	const struct top_class *c;
	struct top_line *l = line_new(f);
	size_t i;

	put(f, l, TOP_ROLE_NORMAL, "classes");
	if (!p->known) {
		put(f, l, TOP_ROLE_DIM, " ?");
		return;
	}
	for (i = 0; i < p->nclasses; i++) {
		c = &p->classes[i];
		put(f, l, TOP_ROLE_NORMAL, "  %s ", c->name);
		put(f, l,
		    c->running > 0 && c->alive <= c->min_alive ?
			TOP_ROLE_WARN :
			TOP_ROLE_BOLD,
		    "%lld", (long long)c->alive);
		put(f, l, TOP_ROLE_NORMAL, "/%lld alive, min %lld",
		    (long long)c->running, (long long)c->min_alive);
		if (c->running > 0 && c->alive <= c->min_alive)
			put(f, l, TOP_ROLE_WARN, " (at min)");
	}
	if (nnone > 0)
		put(f, l, TOP_ROLE_NORMAL, "  none %zu", nnone);
}

/* The table. */

static void
table_title(struct frame *f, const struct top_model *m,
    const struct top_view *v)
{
	struct top_line *l = line_new(f);
	char cpu_t[32], mem_t[32], name[32];
	const char *mark = v->reverse ? "^" : "v";

#define TITLE(col, text)                            \
	(snprintf(name, sizeof(name), "%s%s", text, \
	     v->sort == (col) ? mark : ""),         \
	    name)
	if (m->policy.known) {
		snprintf(cpu_t, sizeof(cpu_t), "cpu vs %.0f%%",
		    m->policy.cpu_threshold);
		snprintf(mem_t, sizeof(mem_t), "mem vs %.0f%%",
		    m->policy.mem_threshold);
	} else {
		snprintf(cpu_t, sizeof(cpu_t), "cpu");
		snprintf(mem_t, sizeof(mem_t), "mem");
	}
	cell(f, l, TOP_ROLE_TITLE, NAME_W, TITLE(TOP_SORT_NAME, "CONTAINER"));
	cell(f, l, TOP_ROLE_TITLE, CLASS_W, TITLE(TOP_SORT_CLASS, "CLASS"));
	cell_right(f, l, TOP_ROLE_TITLE, PCT_W, TITLE(TOP_SORT_CPU, "CPU%"));
	cell(f, l, TOP_ROLE_TITLE, BAR_W, cpu_t);
	cell_right(f, l, TOP_ROLE_TITLE, PCT_W, TITLE(TOP_SORT_MEM, "MEM%"));
	cell(f, l, TOP_ROLE_TITLE, BAR_W, mem_t);
	cell_right(f, l, TOP_ROLE_TITLE, MEM_W, "WS/RSS");
	cell_right(f, l, TOP_ROLE_TITLE, EXCESS_W,
	    TITLE(TOP_SORT_EXCESS, "EXCESS"));
	put(f, l, TOP_ROLE_TITLE, "%s", TITLE(TOP_SORT_STATE, "STATE"));
	pad(f, l, f->width);
	if (l != NULL)
		memset(l->role, TOP_ROLE_TITLE, l->len);
#undef TITLE
}

static void
table_row(struct frame *f, const struct top_model *m, const struct top_row *r,
    int selected)
{
	const struct top_policy *p = &m->policy;
	struct top_line *l = line_new(f);
	char buf[64], state[TOP_STATE_LEN + TOP_EXTRA_LEN + 2];

	cell(f, l, TOP_ROLE_NORMAL, NAME_W,
	    r->rec.name[0] ? r->rec.name : r->rec.container_id);
	cell(f, l, TOP_ROLE_NORMAL, CLASS_W, r->rec.class_name);
	fmt_pct(buf, sizeof(buf), r->rec.cpu_pct);
	cell_right(f, l, level(r->rec.cpu_pct, p->cpu_threshold, p->known),
	    PCT_W, buf);
	put_bar(f, l, r->rec.cpu_pct, p->known ? p->cpu_threshold : 0);
	fmt_pct(buf, sizeof(buf), r->rec.mem_pct);
	cell_right(f, l, level(r->rec.mem_pct, p->mem_threshold, p->known),
	    PCT_W, buf);
	put_bar(f, l, r->rec.mem_pct, p->known ? p->mem_threshold : 0);
	top_fmt_kb(buf, sizeof(buf), r->ws_kb ? r->ws_kb : r->rec.rss_kb);
	cell_right(f, l, TOP_ROLE_NORMAL, MEM_W, buf);
	if (p->known)
		snprintf(buf, sizeof(buf), "%+.1f", r->excess);
	else
		snprintf(buf, sizeof(buf), "-");
	cell_right(f, l,
	    p->known && r->excess > 0 ? TOP_ROLE_HOT : TOP_ROLE_NORMAL,
	    EXCESS_W, buf);
	snprintf(state, sizeof(state), "%s%s%s",
	    r->state[0] ? r->state : (m->ctl_known ? "gone" : "?"),
	    r->extra[0] ? " " : "", r->extra);
	put(f, l,
	    strcmp(state, "running") == 0 ||
		    strncmp(state, "running ", 8) == 0 ?
		TOP_ROLE_NORMAL :
		TOP_ROLE_WARN,
	    "%s", state);
	if (selected && l != NULL) {
		pad(f, l, f->width);
		memset(l->role, TOP_ROLE_SELECTED, l->len);
	}
}

/* The selected container in full: every field the decider gave. */
static void
table_detail(struct frame *f, const struct top_row *r)
{
	struct top_line *l = line_new(f);
	char rss[16], ws[16];

	if (r == NULL) {
		put(f, l, TOP_ROLE_DIM, "no container");
		return;
	}
	top_fmt_kb(rss, sizeof(rss), r->rec.rss_kb);
	put(f, l, TOP_ROLE_BOLD, "%s", r->rec.name);
	put(f, l, TOP_ROLE_NORMAL,
	    "  id %.12s  image %s  pid %d  procs %u"
	    "  rss %s",
	    r->rec.container_id, r->rec.image, (int)r->rec.pid,
	    (unsigned)r->rec.nprocs, rss);
	if (r->ws_kb) {
		top_fmt_kb(ws, sizeof(ws), r->ws_kb);
		put(f, l, TOP_ROLE_NORMAL, "  working set %s", ws);
	}
	put(f, l, TOP_ROLE_NORMAL, "  state %s%s%s",
	    r->state[0] ? r->state : "?", r->extra[0] ? "  " : "", r->extra);
}

static void
render_actions(struct frame *f, const struct top_model *m, size_t max,
    uint64_t now_ns)
{
	const struct top_action *a;
	struct top_line *l;
	char age[16];
	size_t i;

	if (max == 0)
		return;
	l = line_new(f);
	put(f, l, TOP_ROLE_TITLE, "LAST ACTIONS (since start)");
	pad(f, l, f->width);
	if (m->nactions == 0 && max > 1) {
		put(f, line_new(f), TOP_ROLE_DIM, "none");
		return;
	}
	for (i = 0; i + 1 < max && (a = top_model_action(m, i)) != NULL; i++) {
		l = line_new(f);
		top_fmt_age(age, sizeof(age),
		    now_ns > a->ts_ns ? (double)(now_ns - a->ts_ns) / 1e9 : 0);
		cell_right(f, l, TOP_ROLE_DIM, 7, age);
		cell(f, l, TOP_ROLE_NORMAL, NAME_W,
		    a->rec.name[0] ? a->rec.name : a->rec.container_id);
		cell(f, l, TOP_ROLE_NORMAL, CLASS_W, a->rec.class_name);
		cell(f, l, TOP_ROLE_BOLD, 7, a->rec.action);
		put(f, l,
		    strcmp(a->rec.result, "ok") == 0 ? TOP_ROLE_OK :
						       TOP_ROLE_HOT,
		    "%s", a->rec.result);
		put(f, l, TOP_ROLE_NORMAL, "  %s", a->rec.reason);
	}
}

static int
proc_cmp(const void *a, const void *b)
{
	const struct kw_proc_rec *x = *(const struct kw_proc_rec *const *)a;
	const struct kw_proc_rec *y = *(const struct kw_proc_rec *const *)b;

	if (x->cpu_pct != y->cpu_pct)
		return x->cpu_pct > y->cpu_pct ? -1 : 1;
	if (x->rss_kb != y->rss_kb)
		return x->rss_kb > y->rss_kb ? -1 : 1;
	return x->pid - y->pid;
}

static const char *
ctr_name(const struct top_model *m, const char *id)
{
	size_t i;

	if (id[0] == '\0')
		return "-";
	for (i = 0; i < m->cur.nctrs; i++)
		if (strcmp(m->cur.ctrs[i].container_id, id) == 0 &&
		    m->cur.ctrs[i].name[0] != '\0')
			return m->cur.ctrs[i].name;
	return id;
}

static void
render_procs(struct frame *f, const struct top_model *m, size_t max)
{
	const struct kw_proc_rec **order;
	const struct top_sample *s = &m->cur;
	struct top_line *l;
	char buf[32];
	size_t i;

	if (max == 0)
		return;
	l = line_new(f);
	cell_right(f, l, TOP_ROLE_TITLE, 7, "PID");
	cell(f, l, TOP_ROLE_TITLE, 16, "PROCESS");
	cell_right(f, l, TOP_ROLE_TITLE, PCT_W, "CPU%");
	cell_right(f, l, TOP_ROLE_TITLE, PCT_W, "MEM%");
	cell_right(f, l, TOP_ROLE_TITLE, MEM_W, "RSS");
	put(f, l, TOP_ROLE_TITLE, "CONTAINER");
	pad(f, l, f->width);
	if (l != NULL)
		memset(l->role, TOP_ROLE_TITLE, l->len);
	if (s->nprocs == 0)
		return;
	if ((order = calloc(s->nprocs, sizeof(*order))) == NULL) {
		f->failed = 1;
		return;
	}
	for (i = 0; i < s->nprocs; i++)
		order[i] = &s->procs[i];
	qsort(order, s->nprocs, sizeof(*order), proc_cmp);
	for (i = 0; i < s->nprocs && i + 1 < max; i++) {
		l = line_new(f);
		snprintf(buf, sizeof(buf), "%d", (int)order[i]->pid);
		cell_right(f, l, TOP_ROLE_NORMAL, 7, buf);
		cell(f, l, TOP_ROLE_NORMAL, 16, order[i]->name);
		fmt_pct(buf, sizeof(buf), order[i]->cpu_pct);
		cell_right(f, l, TOP_ROLE_NORMAL, PCT_W, buf);
		snprintf(buf, sizeof(buf), "%.2f", order[i]->mem_pct);
		cell_right(f, l, TOP_ROLE_NORMAL, PCT_W, buf);
		top_fmt_kb(buf, sizeof(buf), order[i]->rss_kb);
		cell_right(f, l, TOP_ROLE_NORMAL, MEM_W, buf);
		put(f, l, TOP_ROLE_DIM, "%.40s",
		    ctr_name(m, order[i]->container_id));
	}
	free(order);
}

static void
render_explain(struct frame *f, const char *text, size_t max)
{
	char line[TOP_LINE_MAX + 1];
	const char *p = text, *nl;
	size_t n = 0, len;

	while (*p != '\0' && n < max) {
		nl = strchr(p, '\n');
		len = nl ? (size_t)(nl - p) : strlen(p);
		if (n + 1 == max && nl != NULL && nl[1] != '\0') {
			put(f, line_new(f), TOP_ROLE_DIM, "...");
			return;
		}
		snprintf(line, sizeof(line), "%.*s", (int)len, p);
		put(f, line_new(f), n == 0 ? TOP_ROLE_TITLE : TOP_ROLE_NORMAL,
		    "%s", line);
		n++;
		p = nl ? nl + 1 : p + len;
	}
}

static void
render_keys(struct frame *f, const struct top_view *v)
{
	struct top_line *l = line_new(f);

	put(f, l, TOP_ROLE_DIM,
	    "up/down select  s sort: %s  r reverse  "
	    "f filter: %s  e explain  q quit",
	    top_sort_name(v->sort), v->filter[0] ? v->filter : "all");
}

int
top_render(const struct top_model *m, struct top_view *v, uint64_t now_ns,
    struct top_screen *s)
{
	struct frame f;
	struct top_row *rows;
	size_t nrows, i, nnone = 0, head, avail, table, bottom, nact, nproc;
	size_t nexplain = 0, want, lines;
	const char *p;

	memset(&f, 0, sizeof(f));
	f.s = s;
	f.width = v->width < 40 ? 40 : (size_t)v->width;
	if (f.width > TOP_LINE_MAX)
		f.width = TOP_LINE_MAX;
	s->n = 0;
	v->selected_id[0] = v->selected_name[0] = '\0';
	if ((rows = top_rows(m, v->filter, v->sort, v->reverse, &nrows)) ==
	    NULL)
		return -1;
	for (i = 0; i < m->cur.nctrs; i++)
		if (strcmp(m->cur.ctrs[i].class_name, "none") == 0)
			nnone++;

	render_host(&f, m, now_ns);
	render_link(&f, m);
	render_bad(&f, m);
	render_policy(&f, m);
	render_health(&f, m);
	render_classes(&f, m, nnone);
	head = s->n + 1; /* and a blank line */
	line_new(&f);

	/* Rows for each part: everything in --once, else what fits. */
	nact = 1 + (m->nactions ? m->nactions : 1);
	nproc = 1 + m->cur.nprocs;
	if (v->explain != NULL)
		for (nexplain = 1, p = v->explain; *p; p++)
			nexplain += *p == '\n';
	if (v->height <= 0) {
		table = nrows;
		nact = nact > ONCE_ROWS + 1 ? ONCE_ROWS + 1 : nact;
		nproc = nproc > ONCE_ROWS + 1 ? ONCE_ROWS + 1 : nproc;
	} else {
		nact = nact > BOTTOM_ROWS + 1 ? BOTTOM_ROWS + 1 : nact;
		want = nproc;
		nproc = nproc > BOTTOM_ROWS + 1 ? BOTTOM_ROWS + 1 : nproc;
		/* title, detail line and keys; the bottom parts after a blank */
		avail = (size_t)v->height > head + 3 ?
		    (size_t)v->height - head - 3 :
		    1;
		bottom = v->explain != NULL ? nexplain + 1 : nact + nproc + 2;
		/* An empty table still takes a line, to say so. */
		lines = nrows ? nrows : 1;
		if (lines + bottom <= avail)
			table = lines;
		else if (avail > bottom + 3)
			table = avail - bottom;
		else
			table = avail > 3 ? 3 : avail;
		if (table > lines)
			table = lines;
		bottom = avail > table ? avail - table : 0;
		if (v->explain != NULL) {
			nexplain = bottom > 1 ? bottom - 1 : 0;
		} else {
			/* Actions first; the processes take what is left. */
			if (nact + 1 > bottom)
				nact = bottom > 1 ? bottom - 1 : 0;
			nproc = bottom > nact + 2 ? bottom - nact - 2 : 0;
			if (nproc > want)
				nproc = want;
		}
		if (nrows == 0)
			v->selected = 0;
		else if (v->selected >= nrows)
			v->selected = nrows - 1;
		if (v->selected < v->scroll)
			v->scroll = v->selected;
		if (table > 0 && v->selected >= v->scroll + table)
			v->scroll = v->selected - table + 1;
		if (nrows > table && v->scroll > nrows - table)
			v->scroll = nrows - table;
		if (nrows <= table)
			v->scroll = 0;
	}

	table_title(&f, m, v);
	if (nrows == 0)
		put(&f, line_new(&f), TOP_ROLE_DIM,
		    m->cur.nctrs ? "no container of class %s" :
				   "no containers",
		    v->filter);
	for (i = v->height > 0 ? v->scroll : 0;
	     i < nrows && (v->height <= 0 || i < v->scroll + table); i++)
		table_row(&f, m, &rows[i], v->height > 0 && i == v->selected);
	if (v->height > 0) {
		if (nrows > 0) {
			table_detail(&f, &rows[v->selected]);
			snprintf(v->selected_id, sizeof(v->selected_id), "%s",
			    rows[v->selected].rec.container_id);
			snprintf(v->selected_name, sizeof(v->selected_name),
			    "%s", rows[v->selected].rec.name);
		} else
			table_detail(&f, NULL);
		/* The bottom parts start on a fixed line: pad the table. */
		while (s->n < head + 1 + table + 1 && !f.failed)
			line_new(&f);
	}
	line_new(&f);
	if (v->explain != NULL && v->height > 0)
		render_explain(&f, v->explain, nexplain);
	else {
		render_actions(&f, m, nact, now_ns);
		if (nproc > 0 && nact > 0)
			line_new(&f);
		render_procs(&f, m, nproc);
	}
	if (v->height > 0) {
		while (s->n + 1 < (size_t)v->height && !f.failed)
			line_new(&f);
		render_keys(&f, v);
		/* A screen too small for all: the keys stay on the last line. */
		if (!f.failed && s->n > (size_t)v->height) {
			s->lines[v->height - 1] = s->lines[s->n - 1];
			s->n = (size_t)v->height;
		}
	}
	free(rows);
	return f.failed ? -1 : 0;
}

void
top_screen_free(struct top_screen *s)
{
	free(s->lines);
	memset(s, 0, sizeof(*s));
}

void
top_screen_print(const struct top_screen *s, FILE *fp)
{
	size_t i, len;

	for (i = 0; i < s->n; i++) {
		len = s->lines[i].len;
		while (len > 0 && s->lines[i].text[len - 1] == ' ')
			len--;
		fprintf(fp, "%.*s\n", (int)len, s->lines[i].text);
	}
}
