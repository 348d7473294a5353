/*
 * A consumer's connection to a producer: connects, reconnects with a
 * doubling backoff, asks to resume from its last seq, and hands each
 * message on exactly once, in order, saying when some were lost.
 */
#include <inttypes.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "kwarden.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000

enum sub_state {
	SUB_IDLE,
	SUB_CONNECTING,
	SUB_HELLO, /* connected, waiting for hello */
	SUB_STREAMING,
};

struct sub_conn {
	uv_pipe_t pipe;
	uv_connect_t req;
	struct kw_sub *sub;
	int closing;
};

struct sub_wreq {
	uv_write_t req;
	size_t len;
	char data[];
};

struct kw_sub {
	uv_loop_t *loop;
	char path[108];
	char stream[32];
	int durable;
	struct kw_sub_cb cb;
	struct sub_conn *conn;
	uv_timer_t timer;
	/*
	 * What was read and not handed on yet: buf[off..used), a message
	 * being received at off. The scanner walks it, then msgpack-c
	 * decodes each whole message in place into one zone, cleared after
	 * each (no allocation per message, no new buffer per read).
	 */
	char *buf;
	size_t cap, off, used;
	struct kw_mpscan scan;
	msgpack_zone zone;
	enum sub_state state;
	uint64_t backoff_ms;
	uint64_t epoch;	   /* of the resume point */
	uint64_t last_seq; /* last handled */
	uint64_t expect;   /* next seq wanted, 0: any */
	int awaiting;	   /* drop until seq == expect */
	int paused;
	int closing;
	int failing;	      /* last attempt failed (logged) */
	int warned_first;     /* never connected: warned */
	uint64_t born_ns;     /* kw_sub_new, monotonic */
	uint64_t ended_epoch; /* its end handled: a clean stop */
	struct kw_sub_stats st;
};

static void sub_connect(struct kw_sub *sub);
static void sub_drain(struct kw_sub *sub);

/*
 * Reads go into SUB_READ bytes or more of room: with the producer's socket
 * buffer (~208 KiB) most reads take all that is queued in one call. The
 * buffer starts at SUB_BUF bytes and grows only for a longer message (a
 * reader's snapshot: 2 MB at 10,000 processes); it goes back to SUB_BUF
 * once nothing is buffered (sub_buf_shrink).
 */
#define SUB_BUF	 (256 * 1024)
#define SUB_READ (64 * 1024)

/* Empty, at SUB_BUF bytes; -1 only when there is no buffer at all. */
static int
sub_buf_reset(struct kw_sub *sub)
{
	char *p;

	sub->off = sub->used = 0;
	if (sub->buf != NULL && sub->cap == SUB_BUF)
		return 0;
	if ((p = malloc(SUB_BUF)) == NULL)
		return sub->buf != NULL ? 0 : -1; /* keep the bigger one */
	free(sub->buf);
	sub->buf = p;
	sub->cap = SUB_BUF;
	return 0;
}

struct kw_sub *
kw_sub_new(uv_loop_t *loop, const char *path, const char *stream, int durable,
    const struct kw_sub_cb *cb)
{
	struct kw_sub *sub;

	sub = calloc(1, sizeof(*sub));
	if (sub == NULL)
		return NULL;
	if (strlen(path) >= sizeof(sub->path) || sub_buf_reset(sub) == -1 ||
	    !msgpack_zone_init(&sub->zone, MSGPACK_ZONE_CHUNK_SIZE)) {
		log_warnx("%s: socket path too long or out of memory", path);
		free(sub->buf);
		free(sub);
		return NULL;
	}
	sub->loop = loop;
	snprintf(sub->path, sizeof(sub->path), "%s", path);
	snprintf(sub->stream, sizeof(sub->stream), "%s", stream);
	sub->durable = durable;
	sub->cb = *cb;
	sub->backoff_ms = BACKOFF_MIN_MS;
	sub->born_ns = kw_mono_ns();
	uv_timer_init(loop, &sub->timer);
	sub->timer.data = sub;
	return sub;
}

void
kw_sub_resume_from(struct kw_sub *sub, uint64_t epoch, uint64_t seq, int ended)
{
	sub->epoch = epoch;
	sub->ended_epoch = ended ? epoch : 0;
	sub->last_seq = seq;
	sub->st.epoch = epoch;
	sub->st.last_seq = seq;
}

static void set_error(struct kw_sub *sub, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
set_error(struct kw_sub *sub, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sub->st.last_error, sizeof(sub->st.last_error), fmt, ap);
	va_end(ap);
}

static void
conn_closed(uv_handle_t *h)
{
	free(h->data);
}

static void
retry_timer(uv_timer_t *t)
{
	sub_connect(t->data);
}

/* Drop the connection; come back after the backoff unless closing. */
static void
sub_disconnect(struct kw_sub *sub, const char *why)
{
	int was_streaming =
	    sub->state == SUB_STREAMING || sub->state == SUB_HELLO;

	if (sub->conn != NULL) {
		sub->conn->closing = 1;
		sub->conn->pipe.data = sub->conn;
		uv_close((uv_handle_t *)&sub->conn->pipe, conn_closed);
		sub->conn = NULL;
	}
	sub->state = SUB_IDLE;
	sub->st.connected = 0;
	if (was_streaming) {
		log_warnx("%s: disconnected from %s: %s", sub->path,
		    sub->stream, why);
		set_error(sub, "disconnected: %s", why);
		if (sub->cb.on_event)
			sub->cb.on_event(sub->cb.arg, KW_SUB_DISCONNECTED, 0,
			    0);
	}
	if (sub->closing)
		return;
	uv_timer_start(&sub->timer, retry_timer, sub->backoff_ms, 0);
	sub->backoff_ms = kw_backoff_next(sub->backoff_ms, BACKOFF_MAX_MS);
}

static void
write_done(uv_write_t *req, int status)
{
	free(req);
	(void)status; /* a broken connection shows up on the read side */
}

static void
sub_send(struct kw_sub *sub, msgpack_sbuffer *sb)
{
	struct sub_wreq *w;
	uv_buf_t buf;
	int rc;

	if (sub->conn == NULL || sub->state < SUB_HELLO)
		return;
	/*
	 * A lost sub would leave us waiting for a replay that never comes:
	 * a request we cannot send ends the connection, to be tried again.
	 */
	w = malloc(sizeof(*w) + sb->size);
	if (w == NULL) {
		sub_disconnect(sub, "out of memory for a request");
		return;
	}
	memcpy(w->data, sb->data, sb->size);
	w->len = sb->size;
	buf = uv_buf_init(w->data, w->len);
	if ((rc = uv_write(&w->req, (uv_stream_t *)&sub->conn->pipe, &buf, 1,
		 write_done)) != 0) {
		free(w);
		sub_disconnect(sub, uv_strerror(rc));
	}
}

static void
send_sub(struct kw_sub *sub, uint64_t epoch, uint64_t from)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	kw_pack_sub(&pk, epoch, from, sub->durable);
	sub_send(sub, &sb);
	msgpack_sbuffer_destroy(&sb);
}

void
kw_sub_ack(struct kw_sub *sub, uint64_t seq)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	kw_pack_ack(&pk, seq);
	sub_send(sub, &sb);
	msgpack_sbuffer_destroy(&sb);
}

static void
report_gap(struct kw_sub *sub, uint64_t from, uint64_t to)
{
	if (to < from)
		return;
	sub->st.gaps += to - from + 1;
	log_warnx("%s: %s messages %" PRIu64 "..%" PRIu64 " are lost",
	    sub->path, sub->stream, from, to);
	if (sub->cb.on_event)
		sub->cb.on_event(sub->cb.arg, KW_SUB_GAP, from, to);
}

static void
on_hello(struct kw_sub *sub, const msgpack_object *obj)
{
	struct kw_hello h;
	const char *stream = h.stream;
	uint64_t epoch, head = 0;
	char err[128], why[160];

	if (kw_hello_unpack(obj, &h, err, sizeof(err)) == -1) {
		snprintf(why, sizeof(why), "malformed hello: %s", err);
		sub_disconnect(sub, why);
		return;
	}
	epoch = h.epoch;
	if (strcmp(stream, sub->stream) != 0) {
		set_error(sub, "%s serves stream %s, not %s", sub->path,
		    stream, sub->stream);
		sub_disconnect(sub, sub->st.last_error);
		return;
	}
	(void)kw_get_u64(obj, "seq", &head);
	sub->state = SUB_STREAMING;
	sub->st.connected = 1;
	sub->backoff_ms = BACKOFF_MIN_MS;
	log_info("%s: connected to %s (epoch %" PRIu64 ")", sub->path,
	    sub->stream, epoch);
	sub->failing = 0;
	sub->st.reconnects++;
	sub->awaiting = 0;
	if (epoch == sub->epoch && sub->epoch != 0) {
		/* Same producer: resume right after what we handled. */
		sub->expect = sub->last_seq + 1;
		sub->awaiting = 1;
		send_sub(sub, epoch, sub->expect);
	} else if (sub->durable) {
		if (sub->epoch != 0 && sub->ended_epoch == sub->epoch) {
			sub->st.restarts_clean++;
			log_info(
			    "%s: %s restarted (epoch %" PRIu64 " -> %" PRIu64
			    ") after a clean stop at seq %" PRIu64
			    ", all of it handled; taking the new stream from "
			    "seq 1",
			    sub->path, sub->stream, sub->epoch, epoch,
			    sub->last_seq);
		} else if (sub->epoch != 0) {
			sub->st.restarts_lossy++;
			log_warnx(
			    "%s: %s restarted (epoch %" PRIu64 " -> %" PRIu64
			    "): what it published after seq %" PRIu64
			    " and did not deliver is lost; taking the new "
			    "stream from seq 1",
			    sub->path, sub->stream, sub->epoch, epoch,
			    sub->last_seq);
		}
		sub->epoch = epoch;
		sub->last_seq = 0;
		sub->expect = 1;
		sub->awaiting = 1;
		send_sub(sub, epoch, 1);
	} else {
		/* Live only: start with the next message published. */
		sub->epoch = epoch;
		sub->last_seq = head;
		sub->expect = head + 1;
	}
	sub->st.epoch = sub->epoch;
	if (sub->cb.on_event)
		sub->cb.on_event(sub->cb.arg, KW_SUB_CONNECTED, epoch, 0);
}

static void
on_gap(struct kw_sub *sub, const msgpack_object *obj)
{
	struct kw_gap g;
	uint64_t from, to;

	if (kw_gap_unpack(obj, &g, NULL, 0) == -1 || g.to < g.from) {
		sub_disconnect(sub, "malformed gap");
		return;
	}
	from = g.from;
	to = g.to;
	if (to < sub->expect)
		return;
	if (from < sub->expect)
		from = sub->expect;
	report_gap(sub, from, to);
	sub->expect = to + 1;
	sub->last_seq = to;
}

/* One decoded message: decide whether it is the next one and hand it on. */
static void
on_message(struct kw_sub *sub, const msgpack_object *obj)
{
	struct kw_msg msg;
	char err[128];

	if (kw_msg_decode(obj, &msg, err, sizeof(err)) == -1) {
		sub_disconnect(sub, err);
		return;
	}
	if (sub->state == SUB_HELLO) {
		if (msg.type != KW_MSG_HELLO)
			sub_disconnect(sub, "first message is not a hello");
		else
			on_hello(sub, obj);
		return;
	}
	switch (msg.type) {
	case KW_MSG_GAP:
		on_gap(sub, obj);
		return;
	case KW_MSG_HELLO:
	case KW_MSG_SUB:
	case KW_MSG_ACK:
	case KW_MSG_UNKNOWN:
		return; /* not part of the stream: skipped */
	default:
		break;
	}
	if (msg.seq == 0)
		return;
	if (msg.seq < sub->expect)
		return; /* already handled (replay overlap) */
	if (msg.seq > sub->expect) {
		if (sub->awaiting)
			return; /* live traffic sent before our sub */
		report_gap(sub, sub->expect, msg.seq - 1);
	}
	sub->awaiting = 0;
	sub->expect = msg.seq + 1;
	sub->last_seq = msg.seq;
	sub->st.last_seq = msg.seq;
	sub->st.received++;
	if (sub->cb.on_msg)
		sub->cb.on_msg(sub->cb.arg, &msg);
	/* The producer's last word: its restart will lose nothing. */
	if (msg.type == KW_MSG_END)
		sub->ended_epoch = sub->epoch;
}

/*
 * Give back the buffer a big message grew, once nothing is buffered: it
 * would stay at the largest message's size (2 MB for a snapshot of 10,000
 * processes) between messages. The next big message grows it again.
 */
#define SUB_BIG_MSG (256 * 1024)

static void
sub_buf_shrink(struct kw_sub *sub)
{
	if (sub->used == sub->off)
		(void)sub_buf_reset(sub);
}

/*
 * Hand on every complete message buffered, unless paused or closed. The
 * scanner walks each message first (every declared size against the
 * limits); msgpack-c is given that one whole message and nothing past it.
 */
static void
sub_drain(struct kw_sub *sub)
{
	msgpack_object obj;
	size_t len;
	int rc, big;

	while (!sub->paused && sub->conn != NULL && !sub->closing) {
		rc = kw_unpack_next(&sub->scan, sub->buf + sub->off,
		    sub->used - sub->off, &sub->zone, &obj, &len);
		if (rc == MSGPACK_UNPACK_CONTINUE) {
			if (sub->used - sub->off > KW_MSG_MAX)
				sub_disconnect(sub,
				    "message over the size "
				    "limit");
			else
				sub_buf_shrink(sub);
			return;
		}
		if (rc != MSGPACK_UNPACK_SUCCESS) {
			sub_disconnect(sub,
			    rc == KW_UNPACK_REFUSED ?
				"a declared size over the limit" :
				"malformed msgpack");
			return;
		}
		sub->off += len;
		big = len > SUB_BIG_MSG;
		on_message(sub, &obj);
		/*
		 * The decoded tree goes now, not when the next message comes:
		 * a snapshot's is ~6 MB of msgpack zone at 10,000 processes,
		 * in 8 KiB chunks between the consumer's own blocks. After a
		 * big one, the pages of those holes go back too (malloc_trim:
		 * ~1 ms).
		 */
		msgpack_zone_clear(&sub->zone);
		if (big) {
			sub_buf_shrink(sub);
			malloc_trim(0);
		}
	}
}

/*
 * Room for the next read, SUB_READ bytes at least: the part of a message
 * already read moves to the front (a big one once: after that it starts
 * the buffer), and the buffer doubles only when a message outgrows it.
 */
static void
on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct sub_conn *c = h->data;
	struct kw_sub *sub = c->sub;
	size_t ncap;
	char *p;

	if (sub->off == sub->used)
		sub->off = sub->used = 0;
	if (sub->cap - sub->used < SUB_READ && sub->off > 0) {
		memmove(sub->buf, sub->buf + sub->off, sub->used - sub->off);
		sub->used -= sub->off;
		sub->off = 0;
	}
	if (sub->cap - sub->used < SUB_READ) {
		ncap = sub->cap * 2;
		if ((p = realloc(sub->buf, ncap)) == NULL) {
			buf->base = NULL;
			buf->len = 0;
			return;
		}
		sub->buf = p;
		sub->cap = ncap;
	}
	buf->base = sub->buf + sub->used;
	buf->len = sub->cap - sub->used;
}

static void
on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct sub_conn *c = s->data;
	struct kw_sub *sub = c->sub;

	if (c->closing)
		return;
	if (nread < 0) {
		sub_disconnect(sub,
		    nread == UV_EOF ? "closed by peer" : uv_strerror(nread));
		return;
	}
	if (nread == 0)
		return;
	sub->used += (size_t)nread;
	sub_drain(sub);
}

/*
 * Until the first connection, a producer that is not up yet is the normal
 * start-up order (the recorder starts before the decider, so it stops
 * after it): that is a warning only after SUB_FIRST_GRACE_NS.
 */
#define SUB_FIRST_GRACE_NS (120ULL * 1000000000ULL)

static void
connect_failed(struct kw_sub *sub, int status)
{
	if (sub->st.reconnects == 0 && !sub->warned_first) {
		if (kw_mono_ns() - sub->born_ns >= SUB_FIRST_GRACE_NS) {
			log_warnx("%s: cannot connect to %s for %llu s: %s; "
				  "retrying",
			    sub->path, sub->stream,
			    SUB_FIRST_GRACE_NS / 1000000000ULL,
			    uv_strerror(status));
			sub->warned_first = 1;
		} else if (!sub->failing)
			log_info("%s: %s is not up yet (%s); retrying",
			    sub->path, sub->stream, uv_strerror(status));
	} else if (!sub->failing)
		log_warnx("%s: cannot connect to %s: %s; retrying", sub->path,
		    sub->stream, uv_strerror(status));
	sub->failing = 1;
}

static void
on_connect(uv_connect_t *req, int status)
{
	struct sub_conn *c = req->data;
	struct kw_sub *sub = c->sub;

	if (c->closing)
		return; /* kw_sub_close came first */
	if (status != 0) {
		connect_failed(sub, status);
		set_error(sub, "cannot connect: %s", uv_strerror(status));
		sub_disconnect(sub, uv_strerror(status));
		return;
	}
	/* Whatever was half-read belonged to the old connection. */
	(void)sub_buf_reset(sub);
	msgpack_zone_clear(&sub->zone);
	kw_mpscan_init(&sub->scan, KW_MSG_MAX, KW_MSG_COUNT_MAX);
	sub->state = SUB_HELLO;
	if (!sub->paused)
		uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read);
}

static void
sub_connect(struct kw_sub *sub)
{
	struct sub_conn *c;

	if (sub->closing || sub->conn != NULL)
		return;
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		uv_timer_start(&sub->timer, retry_timer, BACKOFF_MAX_MS, 0);
		return;
	}
	c->sub = sub;
	uv_pipe_init(sub->loop, &c->pipe, 0);
	c->pipe.data = c;
	c->req.data = c;
	sub->conn = c;
	sub->state = SUB_CONNECTING;
	uv_pipe_connect(&c->req, &c->pipe, sub->path, on_connect);
}

void
kw_sub_start(struct kw_sub *sub)
{
	sub_connect(sub);
}

void
kw_sub_pause(struct kw_sub *sub)
{
	if (sub->paused)
		return;
	sub->paused = 1;
	if (sub->conn != NULL && sub->state >= SUB_HELLO)
		uv_read_stop((uv_stream_t *)&sub->conn->pipe);
}

void
kw_sub_resume(struct kw_sub *sub)
{
	if (!sub->paused)
		return;
	sub->paused = 0;
	if (sub->conn != NULL && sub->state >= SUB_HELLO) {
		sub_drain(sub);
		if (sub->conn != NULL && !sub->paused)
			uv_read_start((uv_stream_t *)&sub->conn->pipe,
			    on_alloc, on_read);
	}
}

void
kw_sub_stats(const struct kw_sub *sub, struct kw_sub_stats *st)
{
	*st = sub->st;
	st->epoch = sub->epoch;
	st->last_seq = sub->last_seq;
	st->reconnects = sub->st.reconnects > 0 ? sub->st.reconnects - 1 : 0;
}

static void
timer_closed(uv_handle_t *h)
{
	struct kw_sub *sub = h->data;

	msgpack_zone_destroy(&sub->zone);
	free(sub->buf);
	free(sub);
}

void
kw_sub_close(struct kw_sub *sub)
{
	if (sub == NULL || sub->closing)
		return;
	sub->closing = 1;
	if (sub->conn != NULL) {
		sub->conn->closing = 1;
		uv_close((uv_handle_t *)&sub->conn->pipe, conn_closed);
		sub->conn = NULL;
	}
	uv_timer_stop(&sub->timer);
	uv_close((uv_handle_t *)&sub->timer, timer_closed);
}
