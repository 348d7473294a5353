/*
 * Fuzz the control socket's input: bytes arrive in pieces (chunking from
 * the input) at ctl.c's read callback, which splits lines and dispatches
 * commands; every reply line must be one JSON object.
 *
 * ctl.c keeps its line splitter and dispatcher static and tied to a client
 * connection, so this includes the source and drives one client on a
 * socketpair: the same code as in the daemons, without a listening socket.
 */
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "../../common/ctl.c"
#include "fuzz.h"

static uv_loop_t loop;
static char *out;
static size_t outlen, outcap;

static json_t *
cmd_status(void *arg, const char *args)
{
	json_t *o = json_object();

	json_object_set_new(o, "ok", json_true());
	json_object_set_new(o, "args_len",
	    json_integer((json_int_t)strlen(args)));
	return o;
}

/* Echoes the arguments: a handler handed text it must not trust. */
static json_t *
cmd_echo(void *arg, const char *args)
{
	json_t *o = json_object();

	json_object_set_new(o, "args", json_string(args));
	return o;
}

static json_t *
cmd_fail(void *arg, const char *args)
{
	return NULL;
}

static const struct kw_ctl_cmd table[] = {
	{ "status", "counters", cmd_status },
	{ "echo", "the arguments back", cmd_echo },
	{ "fail", "an internal error", cmd_fail },
	{ NULL, NULL, NULL },
};

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	kw_log_init("fuzz_ctl", KW_LOG_ERROR);
	if (uv_loop_init(&loop) != 0)
		abort();
	return 0;
}

/* Read what the daemon wrote to its client. */
static void
drain(int fd)
{
	ssize_t n;

	for (;;) {
		if (outcap - outlen < 4096) {
			outcap = outcap ? outcap * 2 : 65536;
			if ((out = realloc(out, outcap)) == NULL)
				abort();
		}
		n = read(fd, out + outlen, outcap - outlen);
		if (n <= 0)
			return;
		outlen += (size_t)n;
	}
}

/* One JSON object per line, and nothing after the last newline. */
static void
check_replies(void)
{
	size_t off = 0, n;
	json_t *j;
	char *nl;

	while (off < outlen) {
		nl = memchr(out + off, '\n', outlen - off);
		FUZZ_CHECK(nl != NULL);
		n = (size_t)(nl - (out + off));
		j = json_loadb(out + off, n, 0, NULL);
		FUZZ_CHECK(j != NULL && json_is_object(j));
		json_decref(j);
		off += n + 1;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_chunks ch;
	struct kw_ctl *ctl;
	struct ctl_client *c;
	uv_buf_t buf;
	size_t pos, n;
	int sv[2];

	if (size < 2)
		return 0;
	fuzz_chunks_init(&ch, data[0], data[1]);
	if ((ctl = kw_ctl_new(&loop, "fuzz.ctl", table, NULL, 0)) == NULL)
		abort();
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		abort();
	if (fcntl(sv[1], F_SETFL, O_NONBLOCK) == -1)
		abort();
	/* on_connection, after its accept. */
	if ((c = calloc(1, sizeof(*c))) == NULL)
		abort();
	c->ctl = ctl;
	uv_pipe_init(&loop, &c->pipe, 0);
	c->pipe.data = c;
	ctl->clients = c;
	ctl->nclients = 1;
	if (uv_pipe_open(&c->pipe, sv[0]) != 0)
		abort();
	outlen = 0;

	/* Once closed, c is freed by the loop: only ctl tells. */
#define GONE (ctl->nclients == 0)
	pos = 2;
	while (pos < size && !GONE && !c->eof) {
		on_alloc((uv_handle_t *)&c->pipe, 65536, &buf);
		n = fuzz_chunks_next(&ch, size - pos);
		if (n > buf.len)
			n = buf.len;
		memcpy(buf.base, data + pos, n);
		pos += n;
		on_read((uv_stream_t *)&c->pipe, (ssize_t)n, &buf);
		drain(sv[1]);
		uv_run(&loop, UV_RUN_NOWAIT);
	}
	if (!GONE && !c->eof) {
		buf = uv_buf_init(NULL, 0);
		on_read((uv_stream_t *)&c->pipe, UV_EOF, &buf);
	}
	/* Let the replies out before the close cancels them. */
	for (n = 0; !GONE && n < 100000; n++) {
		drain(sv[1]);
		if (uv_run(&loop, UV_RUN_NOWAIT) == 0)
			break;
	}
	kw_ctl_close(ctl);
	uv_run(&loop, UV_RUN_DEFAULT);
	drain(sv[1]);
	close(sv[1]);
	check_replies();
	return 0;
}
