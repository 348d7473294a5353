/*
 * Control socket: commands from the table answer one JSON line each,
 * several commands on one connection answer in order, and bad input
 * (unknown command, overlong line, NUL, non-ASCII) gets an error line.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <jansson.h>

#include "kwarden.h"

static char sockpath[108];
static char tmpdir[64];
static int calls;

static json_t *
cmd_echo(void *arg, const char *args)
{
	calls++;
	return json_pack("{s:s, s:i}", "args", args, "n", *(int *)arg);
}

static json_t *
cmd_broken(void *arg, const char *args)
{
	(void)arg;
	(void)args;
	return NULL;
}

/* A reply of about 64 KiB, like `containers` on a busy host. */
static json_t *
cmd_big(void *arg, const char *args)
{
	static char pad[65536];

	(void)arg;
	(void)args;
	memset(pad, 'c', sizeof(pad) - 1);
	return json_pack("{s:s}", "pad", pad);
}

static const struct kw_ctl_cmd table[] = {
	{ "echo", "say the arguments back", cmd_echo },
	{ "big", "a large reply", cmd_big },
	{ "broken", "fails inside", cmd_broken },
	{ NULL, NULL, NULL },
};

static int
setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/kw-ctl-XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	snprintf(sockpath, sizeof(sockpath), "%s/t.ctl", tmpdir);
	kw_log_init("test", KW_LOG_ERROR);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	unlink(sockpath);
	rmdir(tmpdir);
	return 0;
}

/*
 * Send input, half-close, and collect the reply until EOF, running the
 * loop meanwhile (the server lives in this thread).
 */
static char *
converse(uv_loop_t *loop, const void *in, size_t len)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	static char out[65536];
	size_t got = 0;
	uint64_t end = kw_mono_ns() + 3000000000ull;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	ssize_t n;

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sockpath);
	assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(write(fd, in, len), (ssize_t)len);
	shutdown(fd, SHUT_WR);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	while (kw_mono_ns() < end) {
		uv_run(loop, UV_RUN_NOWAIT);
		n = read(fd, out + got, sizeof(out) - 1 - got);
		if (n == 0)
			break;
		if (n > 0)
			got += n;
		else
			usleep(1000);
	}
	close(fd);
	out[got] = '\0';
	return out;
}

static struct kw_ctl *
start(uv_loop_t *loop, int *n)
{
	struct kw_ctl *ctl;

	uv_loop_init(loop);
	ctl = kw_ctl_new(loop, sockpath, table, n, 0600);
	assert_non_null(ctl);
	assert_int_equal(kw_ctl_start(ctl), 0);
	return ctl;
}

static void
stop(uv_loop_t *loop, struct kw_ctl *ctl)
{
	kw_ctl_close(ctl);
	uv_run(loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(loop), 0);
}

static void
ctl__two_commands_one_connection__two_lines_in_order(void **state)
{
	uv_loop_t loop;
	int n = 7;
	struct kw_ctl *ctl = start(&loop, &n);
	const char *out;

	(void)state;
	calls = 0;
	out = converse(&loop, "echo a b\r\necho c\n", 17);
	assert_string_equal(out,
	    "{\"args\":\"a b\",\"n\":7}\n{\"args\":\"c\",\"n\":7}\n");
	assert_int_equal(calls, 2);
	stop(&loop, ctl);
}

static void
ctl__last_line_without_newline__still_answered(void **state)
{
	uv_loop_t loop;
	int n = 1;
	struct kw_ctl *ctl = start(&loop, &n);

	(void)state;
	assert_string_equal(converse(&loop, "echo x", 6),
	    "{\"args\":\"x\",\"n\":1}\n");
	stop(&loop, ctl);
}

static void
ctl__help__lists_every_command(void **state)
{
	uv_loop_t loop;
	int n = 1;
	struct kw_ctl *ctl = start(&loop, &n);
	json_t *j;
	json_error_t err;

	(void)state;
	j = json_loads(converse(&loop, "help\n", 5), 0, &err);
	assert_non_null(j);
	assert_int_equal(json_array_size(json_object_get(j, "commands")), 4);
	json_decref(j);
	stop(&loop, ctl);
}

static void
ctl__unknown_and_broken__error_objects(void **state)
{
	uv_loop_t loop;
	int n = 1;
	struct kw_ctl *ctl = start(&loop, &n);
	const char *out;

	(void)state;
	out = converse(&loop, "frob\xff\x01\nbroken\n", 13);
	assert_non_null(strstr(out, "\"error\":\"unknown command\""));
	assert_non_null(strstr(out, "\"command\":\"frob\""));
	assert_non_null(strstr(out, "\"error\":\"internal error\""));
	stop(&loop, ctl);
}

static void
ctl__overlong_line__error_then_closed(void **state)
{
	uv_loop_t loop;
	int n = 1;
	struct kw_ctl *ctl = start(&loop, &n);
	static char big[10000];

	(void)state;
	memset(big, 'a', sizeof(big));
	calls = 0;
	assert_non_null(
	    strstr(converse(&loop, big, sizeof(big)), "line too long"));
	assert_int_equal(calls, 0);
	stop(&loop, ctl);
}

static void
ctl__nul_in_line__refused(void **state)
{
	uv_loop_t loop;
	int n = 1;
	struct kw_ctl *ctl = start(&loop, &n);

	(void)state;
	calls = 0;
	assert_non_null(strstr(converse(&loop, "echo\0x\n", 7), "NUL"));
	assert_int_equal(calls, 0);
	stop(&loop, ctl);
}

static void
ctl__many_commands_at_once__every_one_answered_in_order(void **state)
{
	uv_loop_t loop;
	int n = 1;
	struct kw_ctl *ctl = start(&loop, &n);
	static char in[600 * 7];
	const char *out, *p;
	int i, lines = 0;

	(void)state;
	for (i = 0; i < 600; i++)
		memcpy(in + i * 7, "echo x\n", 7);
	calls = 0;
	out = converse(&loop, in, sizeof(in));
	for (p = out; (p = strchr(p, '\n')) != NULL; p++)
		lines++;
	assert_int_equal(lines, 600);
	assert_int_equal(calls, 600);
	stop(&loop, ctl);
}

static int
connect_raw(void)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sockpath);
	assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	return fd;
}

/* Run the loop for ms; 1 if fd then reads to EOF (the server closed it). */
static int
closed_after(uv_loop_t *loop, int fd, int ms)
{
	uint64_t end = kw_mono_ns() + (uint64_t)ms * 1000000;
	static char buf[1 << 16];
	ssize_t n;

	while (kw_mono_ns() < end) {
		uv_run(loop, UV_RUN_NOWAIT);
		usleep(1000);
	}
	for (;;) {
		uv_run(loop, UV_RUN_NOWAIT);
		n = read(fd, buf, sizeof(buf));
		if (n == 0 || (n == -1 && errno == ECONNRESET))
			return 1;
		if (n == -1)
			return 0;
	}
}

static void
ctl__full_of_idle_connections__operator_still_answered(void **state)
{
	uv_loop_t loop;
	int n = 1, fds[64], i;
	struct kw_ctl *ctl = start(&loop, &n);
	const char *out;

	(void)state;
	/* As many idle connections as the default limit allows. */
	for (i = 0; i < 64; i++) {
		fds[i] = connect_raw();
		uv_run(&loop, UV_RUN_NOWAIT);
	}
	calls = 0;
	out = converse(&loop, "echo status\n", 12);
	assert_string_equal(out, "{\"args\":\"status\",\"n\":1}\n");
	/* The one idle for the longest made room. */
	assert_true(closed_after(&loop, fds[0], 10));
	assert_false(closed_after(&loop, fds[63], 10));
	for (i = 0; i < 64; i++)
		close(fds[i]);
	stop(&loop, ctl);
}

static void
ctl__idle_connection__closed_after_the_timeout(void **state)
{
	uv_loop_t loop;
	int n = 1, fd, busy;
	struct kw_ctl *ctl;
	struct kw_ctl_stats st;
	uint64_t hits = kw_limit_count(KW_HIT_CTL_IDLE);

	(void)state;
	uv_loop_init(&loop);
	ctl = kw_ctl_new(&loop, sockpath, table, &n, 0600);
	kw_ctl_set_limits(ctl, 0, 200, 0);
	assert_int_equal(kw_ctl_start(ctl), 0);
	fd = connect_raw();
	busy = connect_raw();
	assert_false(closed_after(&loop, fd, 100));
	assert_int_equal(write(busy, "echo\n", 5), 5);
	assert_true(closed_after(&loop, fd, 300));
	kw_ctl_stats(ctl, &st);
	assert_true(st.idle_closed >= 1);
	assert_true(kw_limit_count(KW_HIT_CTL_IDLE) >= hits + 1);
	close(fd);
	close(busy);
	stop(&loop, ctl);
}

static void
ctl__flood_of_large_replies_never_read__cut_off(void **state)
{
	uv_loop_t loop;
	int n = 1, fd, sz = 4096;
	struct kw_ctl *ctl = start(&loop, &n);
	struct kw_ctl_stats st;
	static char in[300 * 4];
	int i;

	(void)state;
	for (i = 0; i < 300; i++)
		memcpy(in + i * 4, "big\n", 4);
	fd = connect_raw();
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	uv_run(&loop, UV_RUN_NOWAIT);
	assert_int_equal(write(fd, in, sizeof(in)), (ssize_t)sizeof(in));
	/* 300 x 64 KiB asked for; what is queued stays near the limit. */
	assert_true(closed_after(&loop, fd, 300));
	kw_ctl_stats(ctl, &st);
	assert_int_equal(st.cut, 1);
	assert_int_equal(st.clients, 0);
	close(fd);
	stop(&loop, ctl);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    ctl__two_commands_one_connection__two_lines_in_order),
		cmocka_unit_test(
		    ctl__last_line_without_newline__still_answered),
		cmocka_unit_test(ctl__help__lists_every_command),
		cmocka_unit_test(ctl__unknown_and_broken__error_objects),
		cmocka_unit_test(ctl__overlong_line__error_then_closed),
		cmocka_unit_test(ctl__nul_in_line__refused),
		cmocka_unit_test(
		    ctl__many_commands_at_once__every_one_answered_in_order),
		cmocka_unit_test(
		    ctl__full_of_idle_connections__operator_still_answered),
		cmocka_unit_test(
		    ctl__idle_connection__closed_after_the_timeout),
		cmocka_unit_test(
		    ctl__flood_of_large_replies_never_read__cut_off),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
