/*
 * Control sockets: one text command per line in, one JSON object per line
 * out, from a table of commands with their help text. Works with
 * `echo status | socat - UNIX-CONNECT:/run/kwarden/decider.ctl`.
 * Idle connections are closed, a full socket makes room for a new
 * connection, and a client that does not read its replies is cut off.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "kwarden.h"

#define CTL_LINE_MAX 4096
#define CTL_SWEEP_MS 1000 /* look for idle clients this often at most */

struct ctl_client {
	uv_pipe_t pipe;
	struct kw_ctl *ctl;
	struct ctl_client *next, *prev;
	char line[CTL_LINE_MAX];
	size_t len;
	uint64_t active_ns; /* last command or write done */
	size_t queued;	    /* reply bytes not yet written */
	int closing;
	int eof;
	int writes;
};

struct ctl_wreq {
	uv_write_t req;
	struct ctl_client *client;
	size_t len;
	char *text;
};

struct kw_ctl {
	uv_loop_t *loop;
	uv_pipe_t server;
	char path[108];
	const struct kw_ctl_cmd *table;
	void *arg;
	int mode;
	struct ctl_client *clients;
	size_t nclients;
	size_t max_clients;
	uint64_t idle_ms;
	size_t reply_bytes;
	uv_timer_t sweep;
	struct kw_ctl_stats st;
	int listening;
	int closing;
	int pending_closes;
};

static void ctl_client_close(struct ctl_client *c);
static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

struct kw_ctl *
kw_ctl_new(uv_loop_t *loop, const char *path, const struct kw_ctl_cmd *table,
    void *arg, int mode)
{
	struct kw_ctl *ctl;

	ctl = calloc(1, sizeof(*ctl));
	if (ctl == NULL)
		return NULL;
	if (strlen(path) >= sizeof(ctl->path)) {
		log_warnx("%s: socket path too long", path);
		free(ctl);
		return NULL;
	}
	ctl->loop = loop;
	snprintf(ctl->path, sizeof(ctl->path), "%s", path);
	ctl->table = table;
	ctl->arg = arg;
	ctl->mode = mode ? mode : 0660;
	kw_ctl_set_limits(ctl, 0, 0, 0);
	uv_pipe_init(loop, &ctl->server, 0);
	ctl->server.data = ctl;
	uv_timer_init(loop, &ctl->sweep);
	ctl->sweep.data = ctl;
	return ctl;
}

void
kw_ctl_set_limits(struct kw_ctl *ctl, size_t max_clients, uint64_t idle_ms,
    size_t reply_bytes)
{
	const struct kw_limits *l = kw_limits_get();

	ctl->max_clients = max_clients ? max_clients : l->ctl_clients;
	ctl->idle_ms = idle_ms ? idle_ms : l->ctl_idle_ms;
	ctl->reply_bytes = reply_bytes ? reply_bytes : l->ctl_reply_bytes;
}

void
kw_ctl_stats(const struct kw_ctl *ctl, struct kw_ctl_stats *st)
{
	*st = ctl->st;
	st->clients = ctl->nclients;
}

static void
ctl_maybe_free(struct kw_ctl *ctl)
{
	if (ctl->closing && ctl->pending_closes == 0)
		free(ctl);
}

static void
client_closed(uv_handle_t *h)
{
	struct ctl_client *c = h->data;
	struct kw_ctl *ctl = c->ctl;

	free(c);
	ctl->pending_closes--;
	ctl_maybe_free(ctl);
}

static void
ctl_client_close(struct ctl_client *c)
{
	struct kw_ctl *ctl = c->ctl;

	if (c->closing)
		return;
	c->closing = 1;
	if (c->prev)
		c->prev->next = c->next;
	else
		ctl->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	ctl->nclients--;
	ctl->pending_closes++;
	uv_close((uv_handle_t *)&c->pipe, client_closed);
}

static void
reply_done(uv_write_t *req, int status)
{
	struct ctl_wreq *w = (struct ctl_wreq *)req;
	struct ctl_client *c = w->client;

	c->queued -= w->len;
	free(w->text);
	free(w);
	c->writes--;
	if (status != 0 || (c->eof && c->writes == 0)) {
		ctl_client_close(c);
		return;
	}
	c->active_ns = kw_mono_ns();
}

/* Send one JSON object as a line; takes the reference. */
static void
reply(struct ctl_client *c, json_t *obj)
{
	struct ctl_wreq *w;
	uv_buf_t buf;
	char *text;
	size_t n;

	text = json_dumps(obj,
	    JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
	json_decref(obj);
	if (text == NULL || (w = calloc(1, sizeof(*w))) == NULL) {
		free(text);
		ctl_client_close(c);
		return;
	}
	n = strlen(text);
	/* json_dumps leaves room for nothing: grow by the newline. */
	{
		char *t = realloc(text, n + 2);

		if (t == NULL) {
			free(text);
			free(w);
			ctl_client_close(c);
			return;
		}
		text = t;
	}
	text[n++] = '\n';
	text[n] = '\0';
	/*
	 * A peer that asks and never reads does not grow our queue: past
	 * the limit it is cut off. One reply alone always goes.
	 */
	if (c->queued > 0 && c->queued + n > c->ctl->reply_bytes) {
		c->ctl->st.cut++;
		kw_limit_hit(KW_HIT_CTL_REPLY_BYTES,
		    "%s: a client left more "
		    "than %zu bytes of replies unread: disconnected "
		    "(limits.ctl_reply_bytes)",
		    c->ctl->path, c->ctl->reply_bytes);
		free(text);
		free(w);
		ctl_client_close(c);
		return;
	}
	w->client = c;
	w->text = text;
	w->len = n;
	buf = uv_buf_init(text, n);
	c->writes++;
	c->queued += n;
	if (uv_write(&w->req, (uv_stream_t *)&c->pipe, &buf, 1, reply_done) !=
	    0) {
		c->writes--;
		c->queued -= n;
		free(text);
		free(w);
		ctl_client_close(c);
		return;
	}
}

static json_t *
error_reply(const char *msg, const char *word)
{
	json_t *o = json_object();
	char printable[64];
	size_t i, n = 0;

	/* Echo the command only as far as it is printable ASCII. */
	for (i = 0; word != NULL && word[i] && n < sizeof(printable) - 1; i++)
		if (word[i] >= 0x20 && word[i] < 0x7f)
			printable[n++] = word[i];
	printable[n] = '\0';
	json_object_set_new(o, "error", json_string(msg));
	if (word != NULL)
		json_object_set_new(o, "command", json_string(printable));
	json_object_set_new(o, "hint", json_string("try help"));
	return o;
}

static json_t *
help_reply(const struct kw_ctl *ctl)
{
	json_t *o = json_object(), *cmds = json_array(), *e;
	const struct kw_ctl_cmd *cmd;

	e = json_object();
	json_object_set_new(e, "name", json_string("help"));
	json_object_set_new(e, "help", json_string("list the commands"));
	json_array_append_new(cmds, e);
	for (cmd = ctl->table; cmd->name != NULL; cmd++) {
		e = json_object();
		json_object_set_new(e, "name", json_string(cmd->name));
		json_object_set_new(e, "help", json_string(cmd->help));
		json_array_append_new(cmds, e);
	}
	json_object_set_new(o, "commands", cmds);
	return o;
}

/* One command line: "name [args]". */
static void
run_line(struct ctl_client *c, char *line)
{
	const struct kw_ctl_cmd *cmd;
	char *args;
	json_t *r;

	while (*line == ' ' || *line == '\t')
		line++;
	if (*line == '\0')
		return;
	c->active_ns = kw_mono_ns();
	args = line + strcspn(line, " \t");
	if (*args != '\0')
		*args++ = '\0';
	while (*args == ' ' || *args == '\t')
		args++;
	if (strcmp(line, "help") == 0) {
		reply(c, help_reply(c->ctl));
		return;
	}
	for (cmd = c->ctl->table; cmd->name != NULL; cmd++)
		if (strcmp(cmd->name, line) == 0)
			break;
	if (cmd->name == NULL) {
		reply(c, error_reply("unknown command", line));
		return;
	}
	r = cmd->fn(c->ctl->arg, args);
	if (r == NULL)
		r = error_reply("internal error", line);
	reply(c, r);
}

static void
on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct ctl_client *c = h->data;

	buf->base = c->line + c->len;
	buf->len = sizeof(c->line) - c->len;
}

static void
on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct ctl_client *c = s->data;
	char *nl;
	size_t used;

	if (c->closing)
		return;
	if (nread < 0) {
		/* EOF: answer what was asked, then close. */
		if (nread == UV_EOF && c->len > 0 &&
		    c->len < sizeof(c->line)) {
			c->line[c->len] = '\0';
			c->line[strcspn(c->line, "\r")] = '\0';
			run_line(c, c->line);
			c->len = 0;
		}
		c->eof = 1;
		uv_read_stop(s);
		if (c->writes == 0)
			ctl_client_close(c);
		return;
	}
	c->len += nread;
	while ((nl = memchr(c->line, '\n', c->len)) != NULL) {
		*nl = '\0';
		used = nl - c->line + 1;
		if (strlen(c->line) != used - 1) {
			reply(c,
			    error_reply("command holds a NUL byte", NULL));
		} else {
			c->line[strcspn(c->line, "\r")] = '\0';
			run_line(c, c->line);
		}
		if (c->closing)
			return;
		memmove(c->line, c->line + used, c->len - used);
		c->len -= used;
	}
	if (c->len == sizeof(c->line)) {
		reply(c, error_reply("line too long", NULL));
		c->eof = 1;
		uv_read_stop(s);
		c->len = 0;
	}
}

/* The client that did nothing for the longest, but not except. */
static struct ctl_client *
least_active(struct kw_ctl *ctl, const struct ctl_client *except)
{
	struct ctl_client *c, *best = NULL;

	for (c = ctl->clients; c != NULL; c = c->next)
		if (c != except && !c->closing &&
		    (best == NULL || c->active_ns < best->active_ns))
			best = c;
	return best;
}

static void
on_connection(uv_stream_t *server, int status)
{
	struct kw_ctl *ctl = server->data;
	struct ctl_client *c, *old;

	if (status != 0)
		return;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return;
	c->ctl = ctl;
	c->active_ns = kw_mono_ns();
	uv_pipe_init(ctl->loop, &c->pipe, 0);
	c->pipe.data = c;
	c->next = ctl->clients;
	if (c->next)
		c->next->prev = c;
	ctl->clients = c;
	ctl->nclients++;
	if (uv_accept(server, (uv_stream_t *)&c->pipe) != 0) {
		ctl_client_close(c);
		return;
	}
	/*
	 * Full: the newcomer may be the operator asking for status, so it
	 * is the one that did nothing for the longest that goes.
	 */
	if (ctl->nclients > ctl->max_clients &&
	    (old = least_active(ctl, c)) != NULL) {
		ctl->st.evicted++;
		kw_limit_hit(KW_HIT_CTL_CLIENTS,
		    "%s: %zu connections: closed "
		    "the least recently active to make room "
		    "(limits.ctl_clients)",
		    ctl->path, ctl->max_clients);
		ctl_client_close(old);
	}
	uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read);
}

static void
on_sweep(uv_timer_t *t)
{
	struct kw_ctl *ctl = t->data;
	struct ctl_client *c, *next;
	uint64_t now = kw_mono_ns(), idle = ctl->idle_ms * 1000000ull;

	for (c = ctl->clients; c != NULL; c = next) {
		next = c->next;
		if (c->closing || now - c->active_ns < idle)
			continue;
		ctl->st.idle_closed++;
		kw_limit_hit(KW_HIT_CTL_IDLE,
		    "%s: closed a connection idle "
		    "for %" PRIu64 " ms (limits.ctl_idle_timeout)",
		    ctl->path, ctl->idle_ms);
		ctl_client_close(c);
	}
}

int
kw_ctl_start(struct kw_ctl *ctl)
{
	uint64_t every;

	if (kw_listen_unix(&ctl->server, ctl->path, ctl->mode,
		on_connection) == -1)
		return -1;
	ctl->listening = 1;
	every = ctl->idle_ms / 4;
	if (every > CTL_SWEEP_MS)
		every = CTL_SWEEP_MS;
	if (every == 0)
		every = 1;
	uv_timer_start(&ctl->sweep, on_sweep, every, every);
	/* Waiting for idle clients is no reason to keep the loop alive. */
	uv_unref((uv_handle_t *)&ctl->sweep);
	return 0;
}

static void
server_closed(uv_handle_t *h)
{
	struct kw_ctl *ctl = h->data;

	ctl->pending_closes--;
	ctl_maybe_free(ctl);
}

void
kw_ctl_close(struct kw_ctl *ctl)
{
	if (ctl == NULL || ctl->closing)
		return;
	ctl->closing = 1;
	while (ctl->clients != NULL)
		ctl_client_close(ctl->clients);
	if (ctl->listening && unlink(ctl->path) == -1)
		log_warn("%s: unlink", ctl->path);
	ctl->pending_closes += 2;
	uv_close((uv_handle_t *)&ctl->server, server_closed);
	uv_close((uv_handle_t *)&ctl->sweep, server_closed);
}
