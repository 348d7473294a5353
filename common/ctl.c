/*
 * Control sockets: one text command per line in, one JSON object per line
 * out, from a table of commands with their help text. Works with
 * `echo status | socat - UNIX-CONNECT:/run/kwarden/decider.ctl`.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "kwarden.h"

#define CTL_LINE_MAX	4096
#define CTL_CLIENTS_MAX	64
#define CTL_WRITES_HIGH	64	/* replies queued: stop reading commands */
#define CTL_WRITES_LOW	8	/* and read again below this */

struct ctl_client {
	uv_pipe_t		 pipe;
	struct kw_ctl		*ctl;
	struct ctl_client	*next, *prev;
	char			 line[CTL_LINE_MAX];
	size_t			 len;
	int			 closing;
	int			 eof;
	int			 writes;
	int			 throttled;	/* reading stopped */
};

struct ctl_wreq {
	uv_write_t		 req;
	struct ctl_client	*client;
	char			*text;
};

struct kw_ctl {
	uv_loop_t		*loop;
	uv_pipe_t		 server;
	char			 path[108];
	const struct kw_ctl_cmd	*table;
	void			*arg;
	int			 mode;
	struct ctl_client	*clients;
	int			 nclients;
	int			 listening;
	int			 closing;
	int			 pending_closes;
};

static void	ctl_client_close(struct ctl_client *c);
static void	on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf);
static void	on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

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
	uv_pipe_init(loop, &ctl->server, 0);
	ctl->server.data = ctl;
	return ctl;
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

	free(w->text);
	free(w);
	c->writes--;
	if (status != 0 || (c->eof && c->writes == 0)) {
		ctl_client_close(c);
		return;
	}
	if (c->throttled && c->writes <= CTL_WRITES_LOW && !c->closing) {
		c->throttled = 0;
		uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read);
	}
}

/* Send one JSON object as a line; takes the reference. */
static void
reply(struct ctl_client *c, json_t *obj)
{
	struct ctl_wreq *w;
	uv_buf_t buf;
	char *text;
	size_t n;

	text = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER |
	    JSON_REAL_PRECISION(9));
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
	w->client = c;
	w->text = text;
	buf = uv_buf_init(text, n);
	c->writes++;
	if (uv_write(&w->req, (uv_stream_t *)&c->pipe, &buf, 1,
	    reply_done) != 0) {
		c->writes--;
		free(text);
		free(w);
		ctl_client_close(c);
		return;
	}
	/* A peer that asks and never reads does not grow our queue. */
	if (c->writes >= CTL_WRITES_HIGH && !c->throttled && !c->eof) {
		c->throttled = 1;
		uv_read_stop((uv_stream_t *)&c->pipe);
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
		if (nread == UV_EOF && c->len > 0 && c->len < sizeof(c->line)) {
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
			reply(c, error_reply("command holds a NUL byte", NULL));
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

static void
on_connection(uv_stream_t *server, int status)
{
	struct kw_ctl *ctl = server->data;
	struct ctl_client *c;

	if (status != 0)
		return;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return;
	c->ctl = ctl;
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
	if (ctl->nclients > CTL_CLIENTS_MAX) {
		log_warnx("%s: too many control connections", ctl->path);
		ctl_client_close(c);
		return;
	}
	uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read);
}

int
kw_ctl_start(struct kw_ctl *ctl)
{
	if (kw_listen_unix(&ctl->server, ctl->path, ctl->mode,
	    on_connection) == -1)
		return -1;
	ctl->listening = 1;
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
	ctl->pending_closes++;
	uv_close((uv_handle_t *)&ctl->server, server_closed);
}
