/*
 * docker.c against a fake Docker Engine: a thread answering HTTP/1.1 on a
 * unix socket with canned replies (a list that does not parse, an action
 * that never answers, no engine at all), driven by a real libuv loop and
 * libcurl, as in the decider.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <uv.h>

#include "../../decider/decider.h"

#define CID	 "6dba52f593a29062a99fe7c373b1b36c84aa64e0da7d5440b2612bb994d296fd"
#define HELD_MAX 16

struct fake {
	char path[108];
	int lfd;
	pthread_t th;
	const char *list_body; /* GET /containers/json */
	int actions_hang;      /* DELETE/stop/kill: never answer */
	int stop;
	int lists;	 /* answered */
	int actions;	 /* received */
	int inspect_500; /* inspect: 500, else 404 */
	int inspects;	 /* received */
	int held[HELD_MAX];
	int nheld;
	pthread_mutex_t mu;
};

static void
fake_hold(struct fake *f, int fd)
{
	if (f->nheld < HELD_MAX)
		f->held[f->nheld++] = fd;
	else
		close(fd);
}

static void
fake_reply(int fd, const char *status, const char *body)
{
	char head[256];
	ssize_t n;

	snprintf(head, sizeof(head),
	    "HTTP/1.1 %s\r\nContent-Type: "
	    "application/json\r\nContent-Length: %zu\r\nConnection: close\r\n"
	    "\r\n",
	    status, strlen(body));
	n = write(fd, head, strlen(head));
	if (n > 0 && body[0] != '\0')
		n = write(fd, body, strlen(body));
	(void)n;
	close(fd);
}

/* One request per connection; the event stream and hung calls stay open. */
static void
fake_serve(struct fake *f, int fd)
{
	char req[4096], method[16], path[1024];
	size_t len = 0;
	ssize_t n;

	while (len < sizeof(req) - 1) {
		if ((n = read(fd, req + len, sizeof(req) - 1 - len)) <= 0)
			break;
		len += (size_t)n;
		req[len] = '\0';
		if (strstr(req, "\r\n\r\n") != NULL)
			break;
	}
	req[len] = '\0';
	if (sscanf(req, "%15s %1023s", method, path) != 2) {
		close(fd);
		return;
	}
	pthread_mutex_lock(&f->mu);
	if (strncmp(path, "/v1.41/events", 13) == 0) {
		static const char head[] =
		    "HTTP/1.1 200 OK\r\nContent-Type: "
		    "application/json\r\nTransfer-Encoding: chunked\r\n\r\n";

		n = write(fd, head, sizeof(head) - 1);
		fake_hold(f, fd);
	} else if (strcmp(path, "/v1.41/containers/json") == 0) {
		f->lists++;
		fake_reply(fd, "200 OK", f->list_body);
	} else if (strcmp(method, "GET") == 0) {
		f->inspects++;
		if (f->inspect_500)
			fake_reply(fd, "500 Internal Server Error",
			    "{\"message\":\"busy\"}");
		else
			fake_reply(fd, "404 Not Found",
			    "{\"message\":\"No such container\"}");
	} else {
		f->actions++;
		if (f->actions_hang)
			fake_hold(f, fd);
		else
			fake_reply(fd, "204 No Content", "");
	}
	pthread_mutex_unlock(&f->mu);
}

static void *
fake_main(void *arg)
{
	struct fake *f = arg;
	struct pollfd p;
	int fd;

	for (;;) {
		pthread_mutex_lock(&f->mu);
		if (f->stop) {
			pthread_mutex_unlock(&f->mu);
			break;
		}
		pthread_mutex_unlock(&f->mu);
		p.fd = f->lfd;
		p.events = POLLIN;
		if (poll(&p, 1, 20) <= 0)
			continue;
		if ((fd = accept(f->lfd, NULL, NULL)) == -1)
			continue;
		fake_serve(f, fd);
	}
	return NULL;
}

static struct fake *
fake_start(const char *list_body, int actions_hang)
{
	struct fake *f = calloc(1, sizeof(*f));
	struct sockaddr_un sa;

	assert_non_null(f);
	snprintf(f->path, sizeof(f->path), "/tmp/kw-fake-engine-%d.sock",
	    (int)getpid());
	unlink(f->path);
	f->list_body = list_body;
	f->actions_hang = actions_hang;
	pthread_mutex_init(&f->mu, NULL);
	f->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(f->lfd != -1);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->path);
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(f->lfd, 16), 0);
	assert_int_equal(pthread_create(&f->th, NULL, fake_main, f), 0);
	return f;
}

static int
fake_count(struct fake *f, const int *what)
{
	int n;

	pthread_mutex_lock(&f->mu);
	n = *what;
	pthread_mutex_unlock(&f->mu);
	return n;
}

static void
fake_stop(struct fake *f)
{
	int i;

	pthread_mutex_lock(&f->mu);
	f->stop = 1;
	pthread_mutex_unlock(&f->mu);
	pthread_join(f->th, NULL);
	for (i = 0; i < f->nheld; i++)
		close(f->held[i]);
	close(f->lfd);
	unlink(f->path);
	pthread_mutex_destroy(&f->mu);
	free(f);
}

/* The loop, until cond(arg) or ms have passed. */
struct until {
	int (*cond)(void *);
	void *arg;
	int met;
};

static void
on_tick(uv_timer_t *t)
{
	struct until *u = t->data;

	if (u->cond(u->arg)) {
		u->met = 1;
		uv_stop(t->loop);
	}
}

static void
on_deadline(uv_timer_t *t)
{
	uv_stop(t->loop);
}

static int
run_until(uv_loop_t *loop, int (*cond)(void *), void *arg, uint64_t ms)
{
	uv_timer_t tick, deadline;
	struct until u = { cond, arg, 0 };

	uv_timer_init(loop, &tick);
	uv_timer_init(loop, &deadline);
	tick.data = &u;
	uv_timer_start(&tick, on_tick, 5, 5);
	uv_timer_start(&deadline, on_deadline, ms, 0);
	uv_run(loop, UV_RUN_DEFAULT);
	uv_close((uv_handle_t *)&tick, NULL);
	uv_close((uv_handle_t *)&deadline, NULL);
	uv_run(loop, UV_RUN_NOWAIT);
	return u.met;
}

/* Close the client, run until its handles are gone, close the loop. */
static void
close_all(uv_loop_t *loop, struct docker *dk)
{
	docker_close(dk);
	uv_run(loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(loop), 0);
}

struct session_watch {
	struct docker *dk;
	struct fake *f;
};

static int
list_failed(void *arg)
{
	struct session_watch *w = arg;
	struct docker_stats st;

	docker_stats(w->dk, &st);
	return fake_count(w->f, &w->f->lists) >= 1 && st.last_error[0] != '\0';
}

static int
listed_twice(void *arg)
{
	struct session_watch *w = arg;

	return fake_count(w->f, &w->f->lists) >= 2;
}

/*
 * A list Docker sends but we cannot parse (an entry without an Id) fails
 * the session once: the list call is freed once (ASan/valgrind saw it
 * freed twice), the session is down, and it is tried again later.
 */
static void
docker__list_unparsable__session_fails_once(void **state)
{
	struct session_watch w;
	struct docker_stats st;
	uv_loop_t loop;
	struct fake *f = fake_start("[{\"Names\":[\"/x\"]}]", 0);

	assert_int_equal(uv_loop_init(&loop), 0);
	w.f = f;
	w.dk = docker_new(&loop, f->path, 2000);
	assert_non_null(w.dk);
	docker_start(w.dk);
	assert_true(run_until(&loop, list_failed, &w, 5000));
	docker_stats(w.dk, &st);
	assert_int_equal(st.connected, 0);
	assert_int_equal(docker_connected(w.dk), 0);
	assert_int_equal(st.lists, 0);
	/* Only the event stream and nothing else: the list is gone. */
	assert_true(st.in_flight <= 1);
	/* The retry (250 ms) lists again, and fails again, cleanly. */
	run_until(&loop, listed_twice, &w, 3000);
	assert_true(fake_count(f, &f->lists) >= 2);
	close_all(&loop, w.dk);
	fake_stop(f);
}

struct action_watch {
	int calls;
	enum docker_outcome outcome;
	char result[256];
};

static void
on_action(void *arg, enum docker_outcome outcome, const char *result)
{
	struct action_watch *a = arg;

	a->calls++;
	a->outcome = outcome;
	snprintf(a->result, sizeof(a->result), "%s", result);
}

static int
action_ended(void *arg)
{
	return ((struct action_watch *)arg)->calls > 0;
}

static int
connected(void *arg)
{
	return docker_connected(arg);
}

/*
 * A DELETE sent and never answered: dockerd may still be removing it, so
 * the outcome is unknown (not "failed"), and the result says so.
 */
static void
docker__action_timed_out_after_sending__outcome_unknown(void **state)
{
	struct action_watch a;
	struct docker_stats st;
	struct docker *dk;
	uv_loop_t loop;
	struct fake *f = fake_start("[]", 1);

	memset(&a, 0, sizeof(a));
	assert_int_equal(uv_loop_init(&loop), 0);
	dk = docker_new(&loop, f->path, 300);
	assert_non_null(dk);
	docker_start(dk);
	assert_true(run_until(&loop, connected, dk, 3000));
	assert_int_equal(docker_act(dk, CID, ACTION_REMOVE, on_action, &a), 0);
	assert_true(run_until(&loop, action_ended, &a, 3000));
	assert_int_equal(a.calls, 1);
	assert_int_equal(fake_count(f, &f->actions), 1);
	assert_int_equal(a.outcome, DOCKER_ACT_UNKNOWN);
	assert_non_null(strstr(a.result, "unknown: "));
	assert_non_null(strstr(a.result, "waiting for Docker"));
	docker_stats(dk, &st);
	assert_int_equal(st.actions_unknown, 1);
	assert_int_equal(st.actions_failed, 0);
	close_all(&loop, dk);
	fake_stop(f);
}

/* No engine at all: the request never went out, so it did not happen. */
static void
docker__action_not_sent__failed(void **state)
{
	struct action_watch a;
	struct docker *dk;
	uv_loop_t loop;

	memset(&a, 0, sizeof(a));
	assert_int_equal(uv_loop_init(&loop), 0);
	dk = docker_new(&loop, "/tmp/kw-no-such-engine.sock", 300);
	assert_non_null(dk);
	assert_int_equal(docker_act(dk, CID, ACTION_KILL, on_action, &a), 0);
	assert_true(run_until(&loop, action_ended, &a, 3000));
	assert_int_equal(a.outcome, DOCKER_ACT_FAILED);
	assert_non_null(strstr(a.result, "unreachable"));
	close_all(&loop, dk);
}

/* A call still out when the client closes is cancelled, once. */
static void
docker__closed_with_action_out__cancelled(void **state)
{
	struct action_watch a;
	struct docker *dk;
	uv_loop_t loop;
	struct fake *f = fake_start("[]", 1);

	memset(&a, 0, sizeof(a));
	assert_int_equal(uv_loop_init(&loop), 0);
	dk = docker_new(&loop, f->path, 5000);
	docker_start(dk);
	assert_true(run_until(&loop, connected, dk, 3000));
	assert_int_equal(docker_act(dk, CID, ACTION_STOP, on_action, &a), 0);
	run_until(&loop, action_ended, &a, 200);
	assert_int_equal(a.calls, 0);
	docker_close(dk);
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.outcome, DOCKER_ACT_CANCELLED);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
	fake_stop(f);
}

static int
inspected(void *arg)
{
	struct docker_stats st;

	docker_stats(arg, &st);
	return st.inspects >= 1;
}

/*
 * An inspect that fails other than with 404 (Docker busy) is not asked
 * again on every sample: it waits 1 s, doubling.
 */
static void
docker__inspect_fails__backs_off(void **state)
{
	struct action_watch never;
	struct docker *dk;
	uv_loop_t loop;
	struct fake *f = fake_start("[]", 0);
	int i;

	memset(&never, 0, sizeof(never));
	pthread_mutex_lock(&f->mu);
	f->inspect_500 = 1;
	pthread_mutex_unlock(&f->mu);
	assert_int_equal(uv_loop_init(&loop), 0);
	dk = docker_new(&loop, f->path, 2000);
	docker_start(dk);
	assert_true(run_until(&loop, connected, dk, 3000));
	assert_null(docker_lookup(dk, CID));
	assert_true(run_until(&loop, inspected, dk, 3000));
	for (i = 0; i < 5; i++) {
		assert_null(docker_lookup(dk, CID));
		run_until(&loop, action_ended, &never, 40);
	}
	assert_int_equal(fake_count(f, &f->inspects), 1);
	close_all(&loop, dk);
	fake_stop(f);
}

/* stop's t is always below the call's deadline, with room to kill. */
static void
docker__stop_t__below_the_deadline(void **state)
{
	static const uint64_t timeouts[] = { 1, 500, 999, 1000, 1500, 1999,
		2000, 3999, 4000, 10000, 60000 };
	uint64_t t_s, deadline_ms;
	size_t i;

	for (i = 0; i < sizeof(timeouts) / sizeof(timeouts[0]); i++) {
		docker_stop_plan(timeouts[i], &t_s, &deadline_ms);
		assert_true(t_s >= 1);
		assert_true(t_s * 1000 < deadline_ms);
		assert_true(deadline_ms - t_s * 1000 >= timeouts[i]);
	}
	docker_stop_plan(10000, &t_s, &deadline_ms);
	assert_int_equal(t_s, 5);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(docker__list_unparsable__session_fails_once),
		cmocka_unit_test(
		    docker__action_timed_out_after_sending__outcome_unknown),
		cmocka_unit_test(docker__action_not_sent__failed),
		cmocka_unit_test(docker__closed_with_action_out__cancelled),
		cmocka_unit_test(docker__stop_t__below_the_deadline),
		cmocka_unit_test(docker__inspect_fails__backs_off),
	};
	int rc;

	signal(SIGPIPE, SIG_IGN); /* the fake may write late */
	curl_global_init(CURL_GLOBAL_ALL);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
