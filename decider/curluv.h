/*
 * curluv.c: libcurl's multi-socket interface driven by a libuv loop, for
 * the two HTTP clients of the decider (docker.c, hooks.c). Embedded in its
 * owner; no call blocks.
 */
#ifndef KW_CURLUV_H
#define KW_CURLUV_H

#include <curl/curl.h>
#include <uv.h>

struct curluv_sock;

struct curluv {
	uv_loop_t *loop;
	CURLM *multi;
	uv_timer_t timer;
	struct curluv_sock *socks;
	unsigned open; /* the timer and the sockets */
	int closing;
	const char *who; /* for the log */
	/* curl did some work: read its messages (curl_multi_info_read). */
	void (*work)(void *arg);
	/* After curluv_close, once every handle is closed. */
	void (*closed)(void *arg);
	void *arg;
};

/* -1 when curl cannot make its multi handle. */
int curluv_init(struct curluv *cu, uv_loop_t *loop, const char *who,
    void (*work)(void *), void (*closed)(void *), void *arg);
/*
 * Clean up the multi handle (the caller has removed its easy handles) and
 * close the timer and the sockets curl kept for reuse; closed() follows.
 */
void curluv_close(struct curluv *cu);

#endif
