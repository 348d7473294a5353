/*
 * kwarden-top: a live view of the decider for the person at the terminal.
 * A non-durable consumer of decider.sock plus the control sockets, in one
 * libuv loop that also drives ncurses (keys, resize, redraws).
 */
#include <sys/ioctl.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curses.h>

#include "kwarden.h"
#include "top.h"

#define CTL_TIMEOUT_MS 2000
#define CTL_REPLY_MAX  (16u << 20) /* a `containers` reply, at most */
#define COMMIT_IDLE_MS 100	   /* a sample's last message: quiet */
#define DRAW_DELAY_MS  20	   /* redraws coalesce */
#define EXPLAIN_MAX    16384
#define UNREACHABLE_MS 3000 /* --once: never connected */

struct top;

/* One round of requests on a control socket, one reply line each. */
struct ctl_round {
	struct top *t;
	int daemon; /* enum top_daemon, or -1: explain */
	char path[108];
	uv_pipe_t pipe;
	uv_connect_t creq;
	uv_write_t wreq;
	uv_timer_t timer;
	char cmds[256];
	size_t nexpect, got;
	char *buf;
	size_t len, cap;
	int busy; /* pipe open, until its close ends */
	int closing;
	char name[128]; /* explain: the container */
};

struct top {
	uv_loop_t loop;
	struct kw_conf *conf;
	struct kw_sub *sub;
	char sock_path[108];
	struct top_model model;
	struct top_view view;
	struct top_screen screen;
	struct ctl_round ctl[TOP_DAEMON__COUNT];
	struct ctl_round explain;
	char explain_text[EXPLAIN_MAX];
	uv_timer_t tick, commit, draw, deadline;
	uv_signal_t sigint, sigterm, sigwinch;
	uv_poll_t input;
	uint64_t interval_ms, timeout_ms, start_ms;
	int once;
	int color;
	int curses;
	int stopping;
	int rc;
	SCREEN *scr;
};

static const char *progname = "kwarden-top";
static const char *const ctl_names[TOP_DAEMON__COUNT] = {
	[TOP_READER] = "reader",
	[TOP_DECIDER] = "decider",
	[TOP_RECORDER] = "recorder",
};

static void schedule_draw(struct top *t);
static void draw(struct top *t);
static void stop(struct top *t, int rc);
static void once_check(struct top *t);

static void
usage_to(FILE *fp)
{
	fprintf(fp,
	    "usage: %s [--once] [--no-color] [--interval DURATION] "
	    "[--timeout DURATION]\n"
	    "       [-c FILE] [-o SECTION.KEY=VALUE] [--state-dir DIR | "
	    "--socket-dir DIR]\n"
	    "  A live view of the decider: containers against the "
	    "thresholds, classes,\n"
	    "  actions, top processes and the daemons' health.\n"
	    "  --once            print one frame as plain text and exit\n"
	    "  --no-color        no colours (also when NO_COLOR is set)\n"
	    "  --interval D      refresh every D (default 1s)\n"
	    "  --timeout D       --once: give up after D without a sample "
	    "(default 10s)\n"
	    "  -c, --config FILE the config file (paths.run_dir)\n"
	    "  -o SECTION.KEY=VALUE  override a config key\n"
	    "  --state-dir DIR   sockets in DIR/run\n"
	    "  --socket-dir DIR  sockets in DIR\n"
	    "  -h, --help        this text;  -V, --version\n"
	    "  Keys: up/down/PgUp/PgDn select, s sort column, r reverse, "
	    "P/M/N/X/C sort by\n"
	    "  cpu/mem/name/excess/class, f filter by class, e explain the "
	    "selected\n"
	    "  container (Esc closes), q quit.\n",
	    progname);
}

static void die(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));

static void
die(int code, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(code);
}

/* Control sockets. */

static void
round_closed(uv_handle_t *h)
{
	struct ctl_round *r = h->data;

	r->busy = 0;
	r->closing = 0;
	if (r->t->once)
		once_check(r->t);
}

static void
round_end(struct ctl_round *r)
{
	if (!r->busy || r->closing)
		return;
	r->closing = 1;
	uv_timer_stop(&r->timer);
	uv_close((uv_handle_t *)&r->pipe, round_closed);
}

/* The round failed: say why where the answer would have gone. */
static void
round_fail(struct ctl_round *r, const char *why)
{
	struct top *t = r->t;
	char msg[192];

	if (r->closing)
		return;
	snprintf(msg, sizeof(msg), "%s: %s", r->path, why);
	if (r->daemon >= 0) {
		if (r->got == 0)
			top_model_unreachable(&t->model, r->daemon, msg);
	} else {
		snprintf(t->explain_text, sizeof(t->explain_text),
		    "explain %s: %s", r->name, msg);
		t->view.explain = t->explain_text;
	}
	round_end(r);
	schedule_draw(t);
}

static void
round_line(struct ctl_round *r, const char *line)
{
	struct top *t = r->t;
	struct top_model *m = &t->model;
	char err[192];
	int rc = 0;

	if (r->daemon < 0) {
		top_explain_text(r->name, line, t->explain_text,
		    sizeof(t->explain_text));
		t->view.explain = t->explain_text;
		return;
	}
	switch (r->got) {
	case 0:
		rc = top_model_status(m, r->daemon, line, err, sizeof(err));
		if (rc == -1)
			top_model_unreachable(m, r->daemon, err);
		return;
	case 1:
		rc = top_model_policy(m, line, err, sizeof(err));
		if (rc == -1)
			m->policy.known = 0;
		return;
	default:
		(void)top_model_containers(m, line, err, sizeof(err));
		return;
	}
}

static void
round_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct ctl_round *r = h->data;
	size_t cap;
	char *p;

	if (r->cap - r->len < 16384 && r->cap < CTL_REPLY_MAX) {
		cap = r->cap ? r->cap * 2 : 65536;
		if ((p = realloc(r->buf, cap)) != NULL) {
			r->buf = p;
			r->cap = cap;
		}
	}
	buf->base = r->buf + r->len;
	buf->len = r->cap - r->len;
}

static void
round_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct ctl_round *r = s->data;
	char *nl, *start;
	size_t used;

	if (r->closing)
		return;
	if (nread < 0) {
		round_fail(r,
		    nread == UV_EOF ? "closed before answering" :
				      uv_strerror((int)nread));
		return;
	}
	r->len += (size_t)nread;
	start = r->buf;
	while (r->got < r->nexpect &&
	    (nl = memchr(start, '\n', r->len - (size_t)(start - r->buf))) !=
		NULL) {
		*nl = '\0';
		round_line(r, start);
		r->got++;
		start = nl + 1;
	}
	used = (size_t)(start - r->buf);
	memmove(r->buf, start, r->len - used);
	r->len -= used;
	if (r->got == r->nexpect) {
		round_end(r);
		schedule_draw(r->t);
	} else if (r->len == r->cap) {
		round_fail(r, "reply too long");
	}
}

static void
round_written(uv_write_t *req, int status)
{
	struct ctl_round *r = req->data;

	if (status != 0 && !r->closing)
		round_fail(r, uv_strerror(status));
}

static void
round_connected(uv_connect_t *req, int status)
{
	struct ctl_round *r = req->data;
	uv_buf_t b;

	if (r->closing)
		return;
	if (status != 0) {
		round_fail(r, uv_strerror(status));
		return;
	}
	b = uv_buf_init(r->cmds, (unsigned)strlen(r->cmds));
	if (uv_write(&r->wreq, (uv_stream_t *)&r->pipe, &b, 1,
		round_written) != 0 ||
	    uv_read_start((uv_stream_t *)&r->pipe, round_alloc, round_read) !=
		0)
		round_fail(r, "cannot write the request");
}

static void
round_timeout(uv_timer_t *tm)
{
	struct ctl_round *r = tm->data;
	char why[64];

	snprintf(why, sizeof(why), "no answer within %.1f s",
	    CTL_TIMEOUT_MS / 1000.0);
	round_fail(r, why);
}

static void
round_init(struct top *t, struct ctl_round *r, int daemon, const char *name)
{
	memset(r, 0, sizeof(*r));
	r->t = t;
	r->daemon = daemon;
	kw_conf_sock_path(t->conf, name, ".ctl", r->path, sizeof(r->path));
	uv_timer_init(&t->loop, &r->timer);
	r->timer.data = r;
}

/* Ask: cmds holds nexpect lines. Skipped while the last round runs. */
static void
round_start(struct ctl_round *r, const char *cmds, size_t nexpect)
{
	if (r->busy || r->t->stopping)
		return;
	snprintf(r->cmds, sizeof(r->cmds), "%s", cmds);
	r->nexpect = nexpect;
	r->got = 0;
	r->len = 0;
	r->busy = 1;
	uv_pipe_init(&r->t->loop, &r->pipe, 0);
	r->pipe.data = r;
	r->creq.data = r;
	r->wreq.data = r;
	uv_pipe_connect(&r->creq, &r->pipe, r->path, round_connected);
	uv_timer_start(&r->timer, round_timeout, CTL_TIMEOUT_MS, 0);
}

static void
poll_daemons(struct top *t)
{
	round_start(&t->ctl[TOP_DECIDER], "status\npolicy\ncontainers\n", 3);
	round_start(&t->ctl[TOP_READER], "status\n", 1);
	round_start(&t->ctl[TOP_RECORDER], "status\n", 1);
}

static void
explain_start(struct top *t)
{
	struct ctl_round *r = &t->explain;
	const char *name = t->view.selected_name[0] ? t->view.selected_name :
						      t->view.selected_id;
	char cmd[192];
	size_t i;

	if (name[0] == '\0' || r->busy)
		return;
	/* A name is one word to the control socket. */
	for (i = 0; name[i] != '\0'; i++)
		if (name[i] <= ' ' || name[i] >= 0x7f)
			name = t->view.selected_id;
	snprintf(r->name, sizeof(r->name), "%s", name);
	snprintf(t->explain_text, sizeof(t->explain_text),
	    "explain %s: asking the decider ...", r->name);
	t->view.explain = t->explain_text;
	snprintf(cmd, sizeof(cmd), "explain %s\n", r->name);
	round_start(r, cmd, 1);
}

/* The stream. */

static void
on_commit(uv_timer_t *tm)
{
	struct top *t = tm->data;

	top_model_commit(&t->model);
	if (t->once)
		once_check(t);
	else
		schedule_draw(t);
}

static void
on_msg(void *arg, const struct kw_msg *msg)
{
	struct top *t = arg;
	char err[160];

	if (top_model_msg(&t->model, msg, err, sizeof(err)) == -1) {
		t->model.bad_records++;
		snprintf(t->model.bad_record, sizeof(t->model.bad_record),
		    "%s seq %" PRIu64 ": %s", kw_msg_type_name(msg->type),
		    msg->seq, err);
		schedule_draw(t);
		return;
	}
	switch (msg->type) {
	case KW_MSG_SYS:
	case KW_MSG_CONTAINER:
	case KW_MSG_PROC:
		uv_timer_start(&t->commit, on_commit, COMMIT_IDLE_MS, 0);
		break;
	case KW_MSG_DELETION:
		schedule_draw(t);
		break;
	default:
		break;
	}
}

static void
stream_note(struct top *t)
{
	struct top_model *m = &t->model;
	struct kw_sub_stats st;

	kw_sub_stats(t->sub, &st);
	m->stream_up = st.connected;
	if (st.connected)
		snprintf(m->stream_note, sizeof(m->stream_note),
		    "connected to %s", t->sock_path);
	else
		snprintf(m->stream_note, sizeof(m->stream_note),
		    "%s: %s; reconnecting", t->sock_path,
		    st.last_error[0] ? st.last_error : "not connected");
}

static void
on_event(void *arg, enum kw_sub_event ev, uint64_t from, uint64_t to)
{
	struct top *t = arg;
	struct top_model *m = &t->model;

	if (ev == KW_SUB_GAP && to >= from)
		m->stream_lost += to - from + 1;
	if (ev == KW_SUB_CONNECTED) {
		if (m->stream_epoch != 0 && from != m->stream_epoch)
			m->stream_restarts++;
		m->stream_epoch = from;
		/* A new link: what was half received is not a sample. */
		m->pending.have_sys = 0;
		poll_daemons(t);
	}
	stream_note(t);
	schedule_draw(t);
}

/* The screen. */

static void
curses_start(struct top *t)
{
	t->scr = newterm(NULL, stdout, stdin);
	if (t->scr == NULL)
		die(1, "cannot drive this terminal (TERM=%s); try --once",
		    getenv("TERM") ? getenv("TERM") : "");
	t->curses = 1;
	cbreak();
	noecho();
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE);
	set_escdelay(25);
	curs_set(0);
	if (t->color && has_colors()) {
		start_color();
		use_default_colors();
		init_pair(1, COLOR_GREEN, -1);
		init_pair(2, COLOR_YELLOW, -1);
		init_pair(3, COLOR_RED, -1);
		init_pair(4, COLOR_BLACK, COLOR_CYAN);
	} else
		t->color = 0;
}

static attr_t
role_attr(const struct top *t, enum top_role role)
{
	switch (role) {
	case TOP_ROLE_BOLD:
		return A_BOLD;
	case TOP_ROLE_TITLE:
		return t->color ? COLOR_PAIR(4) : A_REVERSE;
	case TOP_ROLE_OK:
		return t->color ? COLOR_PAIR(1) : A_NORMAL;
	case TOP_ROLE_WARN:
		return t->color ? COLOR_PAIR(2) | A_BOLD : A_BOLD;
	case TOP_ROLE_HOT:
		return t->color ? COLOR_PAIR(3) | A_BOLD : A_BOLD;
	case TOP_ROLE_DIM:
		return A_DIM;
	case TOP_ROLE_SELECTED:
		return A_REVERSE;
	default:
		return A_NORMAL;
	}
}

static void
draw(struct top *t)
{
	const struct top_line *l;
	size_t i, j, k;
	int y;

	uv_timer_stop(&t->draw);
	if (!t->curses || t->stopping)
		return;
	t->view.width = COLS;
	t->view.height = LINES;
	if (top_render(&t->model, &t->view, kw_now_ns(), &t->screen) == -1) {
		stop(t, 1);
		return;
	}
	for (y = 0; y < LINES && (size_t)y < t->screen.n; y++) {
		l = &t->screen.lines[y];
		move(y, 0);
		for (i = 0; i < l->len && i < (size_t)COLS; i = j) {
			for (j = i + 1; j < l->len && j < (size_t)COLS &&
			     l->role[j] == l->role[i];
			     j++)
				;
			attrset(role_attr(t, l->role[i]));
			addnstr(l->text + i, (int)(j - i));
		}
		attrset(A_NORMAL);
		k = l->len;
		if (k < (size_t)COLS)
			clrtoeol();
	}
	if (y < LINES) {
		move(y, 0);
		clrtobot();
	}
	wnoutrefresh(stdscr);
	doupdate();
}

static void
on_draw(uv_timer_t *tm)
{
	draw(tm->data);
}

static void
schedule_draw(struct top *t)
{
	if (t->curses && !t->stopping &&
	    !uv_is_active((uv_handle_t *)&t->draw))
		uv_timer_start(&t->draw, on_draw, DRAW_DELAY_MS, 0);
}

/*
 * SIGWINCH is ours (libuv's handler replaces ncurses'): tell ncurses the
 * new size. resizeterm queues a KEY_RESIZE, which only redraws: a resize
 * from the key would queue another, for ever.
 */
static void
resize(struct top *t)
{
	struct winsize ws;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) != -1 && ws.ws_row > 0 &&
	    ws.ws_col > 0 && is_term_resized(ws.ws_row, ws.ws_col))
		resizeterm(ws.ws_row, ws.ws_col);
	clear();
	draw(t);
}

/* The next class to filter by: all, each class of the policy, none. */
static void
next_filter(struct top *t)
{
	const struct top_policy *p = &t->model.policy;
	char *f = t->view.filter;
	size_t i;

	if (f[0] == '\0') {
		snprintf(f, sizeof(t->view.filter), "%s",
		    p->nclasses ? p->classes[0].name : "none");
		return;
	}
	for (i = 0; i < p->nclasses; i++)
		if (strcmp(f, p->classes[i].name) == 0) {
			snprintf(f, sizeof(t->view.filter), "%s",
			    i + 1 < p->nclasses ? p->classes[i + 1].name :
						  "none");
			return;
		}
	f[0] = '\0';
}

static void
set_sort(struct top *t, enum top_sort s)
{
	if (t->view.sort == s)
		t->view.reverse = !t->view.reverse;
	else {
		t->view.sort = s;
		t->view.reverse = 0;
	}
}

static void
key(struct top *t, int ch)
{
	struct top_view *v = &t->view;
	size_t page = LINES > 20 ? (size_t)LINES / 2 : 5;

	switch (ch) {
	case 'q':
	case 'Q':
		stop(t, 0);
		return;
	case KEY_UP:
	case 'k':
		if (v->selected > 0)
			v->selected--;
		break;
	case KEY_DOWN:
	case 'j':
		v->selected++;
		break;
	case KEY_PPAGE:
		v->selected = v->selected > page ? v->selected - page : 0;
		break;
	case KEY_NPAGE:
		v->selected += page;
		break;
	case KEY_HOME:
	case 'g':
		v->selected = 0;
		break;
	case KEY_END:
	case 'G':
		v->selected = (size_t)-1 / 2;
		break;
	case 's':
		v->sort = (v->sort + 1) % TOP_SORT__COUNT;
		v->reverse = 0;
		break;
	case 'r':
		v->reverse = !v->reverse;
		break;
	case 'P':
		set_sort(t, TOP_SORT_CPU);
		break;
	case 'M':
		set_sort(t, TOP_SORT_MEM);
		break;
	case 'N':
		set_sort(t, TOP_SORT_NAME);
		break;
	case 'X':
		set_sort(t, TOP_SORT_EXCESS);
		break;
	case 'C':
		set_sort(t, TOP_SORT_CLASS);
		break;
	case 'f':
		next_filter(t);
		v->selected = v->scroll = 0;
		break;
	case 'e':
		if (v->explain != NULL)
			v->explain = NULL;
		else
			explain_start(t);
		break;
	case 27: /* Esc */
		v->explain = NULL;
		break;
	case KEY_RESIZE:
	case 12: /* ^L */
		clear();
		break;
	default:
		return;
	}
	draw(t);
}

static void
on_input(uv_poll_t *p, int status, int events)
{
	struct top *t = p->data;
	int ch;

	if (status < 0) {
		stop(t, 1);
		return;
	}
	while (!t->stopping && (ch = getch()) != ERR)
		key(t, ch);
}

static void
on_tick(uv_timer_t *tm)
{
	struct top *t = tm->data;

	stream_note(t);
	poll_daemons(t);
	schedule_draw(t);
}

static void
on_signal(uv_signal_t *s, int signum)
{
	struct top *t = s->data;

	if (signum == SIGWINCH)
		resize(t);
	else
		stop(t, 0);
}

/* --once: print when a sample and the control replies are in. */
static void
once_check(struct top *t)
{
	size_t d;

	if (t->stopping || t->model.samples == 0)
		return;
	for (d = 0; d < TOP_DAEMON__COUNT; d++)
		if (t->ctl[d].busy)
			return;
	stream_note(t);
	if (top_render(&t->model, &t->view, kw_now_ns(), &t->screen) == -1) {
		fprintf(stderr, "%s: out of memory\n", progname);
		stop(t, 1);
		return;
	}
	top_screen_print(&t->screen, stdout);
	fflush(stdout);
	stop(t, 0);
}

/*
 * --once: a decider that never answered is reported after
 * UNREACHABLE_MS; one that answered gets the whole --timeout.
 */
static void
on_deadline(uv_timer_t *tm)
{
	struct top *t = tm->data;
	struct kw_sub_stats st;
	uint64_t waited = kw_mono_ns() / 1000000 - t->start_ms;

	kw_sub_stats(t->sub, &st);
	if ((st.connected || t->model.stream_epoch != 0) &&
	    waited < t->timeout_ms) {
		uv_timer_start(&t->deadline, on_deadline,
		    t->timeout_ms - waited, 0);
		return;
	}
	if (st.connected || t->model.stream_epoch != 0)
		fprintf(stderr,
		    "%s: %s: no sample within %.1f s (is the "
		    "reader running?)\n",
		    progname, t->sock_path, (double)t->timeout_ms / 1000.0);
	else
		fprintf(stderr, "%s: %s: the decider is unreachable: %s\n",
		    progname, t->sock_path,
		    st.last_error[0] ? st.last_error : "cannot connect");
	stop(t, 1);
}

static void
close_if(uv_handle_t *h)
{
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static void
stop(struct top *t, int rc)
{
	size_t d;

	if (t->stopping)
		return;
	t->stopping = 1;
	t->rc = rc;
	for (d = 0; d < TOP_DAEMON__COUNT; d++) {
		round_end(&t->ctl[d]);
		close_if((uv_handle_t *)&t->ctl[d].timer);
	}
	round_end(&t->explain);
	close_if((uv_handle_t *)&t->explain.timer);
	close_if((uv_handle_t *)&t->tick);
	close_if((uv_handle_t *)&t->commit);
	close_if((uv_handle_t *)&t->draw);
	close_if((uv_handle_t *)&t->deadline);
	close_if((uv_handle_t *)&t->sigint);
	close_if((uv_handle_t *)&t->sigterm);
	if (t->curses) {
		close_if((uv_handle_t *)&t->sigwinch);
		close_if((uv_handle_t *)&t->input);
	}
	kw_sub_close(t->sub);
}

static uint64_t
duration_arg(const char *opt, const char *s)
{
	uint64_t ms;

	if (kw_parse_duration_ms(s, &ms) == -1 || ms == 0)
		die(2, "%s: \"%s\" is not a duration (500ms, 1s, 2m)", opt, s);
	return ms;
}

/* The config the socket paths come from: -c, -o, --state-dir. */
static struct kw_conf *
load_conf(const char *file, char **sets, size_t nsets, const char *state_dir)
{
	struct kw_conf *conf;
	char err[1536], *eq, *dot, *arg;
	size_t i;

	if (file == NULL && access("/etc/kwarden/kwarden.conf", R_OK) == 0)
		file = "/etc/kwarden/kwarden.conf";
	if ((conf = kw_conf_load(file, err, sizeof(err))) == NULL)
		die(2, "%s", err);
	for (i = 0; i < nsets; i++) {
		arg = sets[i];
		eq = strchr(arg, '=');
		dot = strchr(arg, '.');
		if (eq == NULL || dot == NULL || dot > eq)
			die(2, "-o: \"%s\" is not SECTION.KEY=VALUE", arg);
		*eq = *dot = '\0';
		if (kw_conf_set(conf, arg, dot + 1, eq + 1, "-o", err,
			sizeof(err)) == -1)
			die(2, "%s", err);
	}
	if (state_dir != NULL &&
	    kw_conf_apply_state_dir(conf, state_dir, err, sizeof(err)) == -1)
		die(2, "%s", err);
	return conf;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "once", no_argument, NULL, '1' },
		{ "no-color", no_argument, NULL, 'n' },
		{ "interval", required_argument, NULL, 'i' },
		{ "timeout", required_argument, NULL, 't' },
		{ "config", required_argument, NULL, 'c' },
		{ "state-dir", required_argument, NULL, 's' },
		{ "socket-dir", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	static struct top top;
	struct top *t = &top;
	struct kw_sub_cb cb;
	const char *file = NULL, *state_dir = NULL, *socket_dir = NULL;
	const char *nc;
	char **sets;
	size_t nsets = 0, d;
	int ch;

	t->interval_ms = 1000;
	t->timeout_ms = 10000;
	nc = getenv("NO_COLOR");
	t->color = nc == NULL || nc[0] == '\0';
	if ((sets = calloc((size_t)argc, sizeof(*sets))) == NULL)
		die(1, "out of memory");
	while (
	    (ch = getopt_long(argc, argv, "c:o:hV", longopts, NULL)) != -1) {
		switch (ch) {
		case '1':
			t->once = 1;
			break;
		case 'n':
			t->color = 0;
			break;
		case 'i':
			t->interval_ms = duration_arg("--interval", optarg);
			break;
		case 't':
			t->timeout_ms = duration_arg("--timeout", optarg);
			break;
		case 'c':
			file = optarg;
			break;
		case 'o':
			sets[nsets++] = optarg;
			break;
		case 's':
			state_dir = optarg;
			break;
		case 'S':
			socket_dir = optarg;
			break;
		case 'h':
			usage_to(stdout);
			exit(0);
		case 'V':
			printf("%s %s\n", progname, KW_VERSION);
			exit(0);
		default:
			usage_to(stderr);
			exit(2);
		}
	}
	if (optind != argc)
		die(2, "unexpected argument \"%s\" (try --help)",
		    argv[optind]);
	if (state_dir != NULL && socket_dir != NULL)
		die(2, "--state-dir and --socket-dir: give one");
	if (!t->once && (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)))
		die(2, "the live view needs a terminal; use --once for text");

	/* The stream's own complaints would tear the screen: we show them. */
	kw_log_init(progname, KW_LOG_ERROR);
	t->conf = load_conf(file, sets, nsets, state_dir);
	free(sets);
	if (socket_dir != NULL) {
		char err[256];

		if (kw_conf_set(t->conf, "paths", "run_dir", socket_dir,
			"--socket-dir", err, sizeof(err)) == -1)
			die(2, "%s", err);
	}
	kw_conf_sock_path(t->conf, "decider", ".sock", t->sock_path,
	    sizeof(t->sock_path));
	signal(SIGPIPE, SIG_IGN);

	top_model_init(&t->model);
	t->view.width = 120;
	if (t->once) {
		const char *cols = getenv("COLUMNS");

		if (cols != NULL && atoi(cols) >= 40)
			t->view.width = atoi(cols);
	}
	if (uv_loop_init(&t->loop) != 0)
		die(1, "uv_loop_init failed");
	for (d = 0; d < TOP_DAEMON__COUNT; d++)
		round_init(t, &t->ctl[d], (int)d, ctl_names[d]);
	round_init(t, &t->explain, -1, "decider");
	uv_timer_init(&t->loop, &t->tick);
	uv_timer_init(&t->loop, &t->commit);
	uv_timer_init(&t->loop, &t->draw);
	uv_timer_init(&t->loop, &t->deadline);
	t->tick.data = t->commit.data = t->draw.data = t->deadline.data = t;
	uv_signal_init(&t->loop, &t->sigint);
	uv_signal_init(&t->loop, &t->sigterm);
	t->sigint.data = t->sigterm.data = t;
	uv_signal_start(&t->sigint, on_signal, SIGINT);
	uv_signal_start(&t->sigterm, on_signal, SIGTERM);

	memset(&cb, 0, sizeof(cb));
	cb.on_msg = on_msg;
	cb.on_event = on_event;
	cb.arg = t;
	if ((t->sub = kw_sub_new(&t->loop, t->sock_path, "decider", 0, &cb)) ==
	    NULL)
		die(2, "%s: socket path too long", t->sock_path);

	if (t->once) {
		t->start_ms = kw_mono_ns() / 1000000;
		uv_timer_start(&t->deadline, on_deadline,
		    t->timeout_ms < UNREACHABLE_MS ? t->timeout_ms :
						     UNREACHABLE_MS,
		    0);
	} else {
		curses_start(t);
		uv_signal_init(&t->loop, &t->sigwinch);
		t->sigwinch.data = t;
		uv_signal_start(&t->sigwinch, on_signal, SIGWINCH);
		uv_poll_init(&t->loop, &t->input, STDIN_FILENO);
		t->input.data = t;
		uv_poll_start(&t->input, UV_READABLE, on_input);
		uv_timer_start(&t->tick, on_tick, t->interval_ms,
		    t->interval_ms);
		draw(t);
	}
	kw_sub_start(t->sub);
	poll_daemons(t);

	uv_run(&t->loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&t->loop) != 0)
		fprintf(stderr, "%s: handles left open at exit\n", progname);
	if (t->curses) {
		endwin();
		delscreen(t->scr);
	}
	for (d = 0; d < TOP_DAEMON__COUNT; d++)
		free(t->ctl[d].buf);
	free(t->explain.buf);
	top_model_free(&t->model);
	top_screen_free(&t->screen);
	kw_conf_free(t->conf);
	return t->rc;
}
