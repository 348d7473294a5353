/*
 * libcurl's multi-socket interface on a libuv loop: curl says which
 * sockets to watch and when to call it back (its socket and timer
 * functions); a uv_poll_t per socket and one uv_timer_t carry that out.
 */
#include <stdlib.h>
#include <string.h>

#include "kwarden.h"
#include "curluv.h"

struct curluv_sock {
	uv_poll_t poll;
	curl_socket_t fd;
	struct curluv *cu;
	struct curluv_sock *prev, *next;
};

static void
handle_closed(struct curluv *cu)
{
	if (--cu->open == 0 && cu->closing && cu->closed != NULL)
		cu->closed(cu->arg);
}

static void
on_sock_closed(uv_handle_t *h)
{
	struct curluv_sock *s = h->data;
	struct curluv *cu = s->cu;

	free(s);
	handle_closed(cu);
}

static void
sock_close(struct curluv_sock *s)
{
	struct curluv *cu = s->cu;

	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		cu->socks = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	uv_poll_stop(&s->poll);
	uv_close((uv_handle_t *)&s->poll, on_sock_closed);
}

static void
on_poll(uv_poll_t *p, int status, int events)
{
	struct curluv_sock *s = p->data;
	struct curluv *cu = s->cu;
	int flags = 0, running;

	if (status < 0)
		flags = CURL_CSELECT_ERR;
	if (events & UV_READABLE)
		flags |= CURL_CSELECT_IN;
	if (events & UV_WRITABLE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(cu->multi, s->fd, flags, &running);
	cu->work(cu->arg);
}

static int
on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *userp,
    void *socketp)
{
	struct curluv *cu = userp;
	struct curluv_sock *s = socketp;
	int events = 0, rc;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (s != NULL) {
			if (!cu->closing)
				curl_multi_assign(cu->multi, fd, NULL);
			sock_close(s);
		}
		return 0;
	}
	if (cu->closing)
		return 0;
	if (s == NULL) {
		if ((s = calloc(1, sizeof(*s))) == NULL)
			return -1;
		if ((rc = uv_poll_init_socket(cu->loop, &s->poll, fd)) != 0) {
			log_warnx("%s: uv_poll_init_socket: %s", cu->who,
			    uv_strerror(rc));
			free(s);
			return -1;
		}
		s->fd = fd;
		s->cu = cu;
		s->poll.data = s;
		cu->open++;
		s->next = cu->socks;
		if (cu->socks != NULL)
			cu->socks->prev = s;
		cu->socks = s;
		curl_multi_assign(cu->multi, fd, s);
	}
	if (what & CURL_POLL_IN)
		events |= UV_READABLE;
	if (what & CURL_POLL_OUT)
		events |= UV_WRITABLE;
	uv_poll_start(&s->poll, events, on_poll);
	return 0;
}

static void
on_timeout(uv_timer_t *t)
{
	struct curluv *cu = t->data;
	int running;

	curl_multi_socket_action(cu->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	cu->work(cu->arg);
}

static int
on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
	struct curluv *cu = userp;

	(void)multi;
	if (cu->closing)
		return 0;
	if (timeout_ms < 0)
		uv_timer_stop(&cu->timer);
	else
		uv_timer_start(&cu->timer, on_timeout, (uint64_t)timeout_ms,
		    0);
	return 0;
}

static void
on_timer_closed(uv_handle_t *h)
{
	handle_closed(h->data);
}

int
curluv_init(struct curluv *cu, uv_loop_t *loop, const char *who,
    void (*work)(void *), void (*closed)(void *), void *arg)
{
	memset(cu, 0, sizeof(*cu));
	if ((cu->multi = curl_multi_init()) == NULL)
		return -1;
	cu->loop = loop;
	cu->who = who;
	cu->work = work;
	cu->closed = closed;
	cu->arg = arg;
	curl_multi_setopt(cu->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
	curl_multi_setopt(cu->multi, CURLMOPT_SOCKETDATA, cu);
	curl_multi_setopt(cu->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
	curl_multi_setopt(cu->multi, CURLMOPT_TIMERDATA, cu);
	uv_timer_init(loop, &cu->timer);
	cu->timer.data = cu;
	cu->open = 1;
	return 0;
}

void
curluv_close(struct curluv *cu)
{
	if (cu->closing)
		return;
	cu->closing = 1;
	curl_multi_cleanup(cu->multi);
	cu->multi = NULL;
	/* Sockets curl kept open for reuse and never told us to forget. */
	while (cu->socks != NULL)
		sock_close(cu->socks);
	uv_timer_stop(&cu->timer);
	uv_close((uv_handle_t *)&cu->timer, on_timer_closed);
}
