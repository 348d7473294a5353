/*
 * A producer's stream socket: every client gets a hello, then the live
 * stream; a client may ask to replay from a seq out of a ring bounded in
 * bytes. A slow client is paused, then cut off; it never blocks us.
 */
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kwarden.h"

#define CLIENT_MSG_MAX 4096 /* sub and ack are a few bytes */
#define WRITE_BATCH    64   /* ring messages handed over in one write */
/*
 * A message up to this size is copied out of the build buffer into a ring
 * entry of its exact size, and the buffer is reused. Handing over the
 * buffer itself left its slack in the heap: a block cut from each entry
 * (too small for the next message) or a size class rounded up, ~40 % more
 * fresh pages per message in a burst, and first touches of fresh pages
 * were most of a small message's cost.
 */
#define BUILD_KEEP (16u << 10)

/*
 * A message is stored once: the ring holds a reference, and so does each
 * write that hands it to a client until the write is done. However many
 * clients lag, its bytes are not copied.
 */
struct ring_msg {
	uint64_t seq;
	uint64_t end_off; /* bytes published up to and with it */
	size_t len;
	unsigned refs;
	uint64_t *held; /* the bytes of messages alive */
	char data[];
};

struct pub_client {
	uv_pipe_t pipe;
	struct kw_pub *pub;
	struct pub_client *next, *prev;
	uint64_t next_seq; /* next ring message to send */
	struct kw_flow flow;
	msgpack_unpacker unp;
	struct kw_mpscan scan;
	uid_t uid;		  /* of the peer, -1: unknown */
	uint64_t replay_start_ns; /* this interval's first sub */
	uint64_t replays;	  /* subs in this interval */
	int closing;
};

struct wreq {
	uv_write_t req;
	struct pub_client *client;
	size_t len;
	unsigned nmsgs;
	struct ring_msg *msgs[];
};

struct kw_pub {
	uv_loop_t *loop;
	uv_pipe_t server;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char stream[32];
	struct kw_pub_opts opts;
	uint64_t epoch;
	uint64_t seq;
	uint64_t total_off; /* bytes ever published */
	/* ring: circular array of messages, oldest at head */
	struct ring_msg **ring;
	size_t ring_cap, ring_head, ring_count;
	size_t ring_bytes;
	size_t trimmed_unreturned; /* acked bytes freed since malloc_trim */
	struct pub_client *clients;
	struct pub_client *durable; /* whose acks count */
	size_t queued;		    /* inflight, all clients */
	struct kw_pub_stats st;
	/*
	 * The message being built is packed into bmsg, allocated at the size
	 * the last message of its type had. A large one becomes its ring
	 * entry as it is (no copy; nothing large kept between messages); a
	 * small one is copied into an entry of its exact size and bmsg kept
	 * for the next (see BUILD_KEEP).
	 */
	struct ring_msg *bmsg;
	size_t bcap; /* bytes of bmsg->data */
	enum kw_msg_type btype;
	size_t hint[KW_MSG__COUNT];
	msgpack_packer pk;
	int building;
	int pack_failed;
	int listening;
	int closing;
	int pending_closes;
};

static void client_pump(struct pub_client *c);
static void client_close(struct pub_client *c, const char *why);
static void cut_lagging(struct pub_client *c, const char *why);
static struct pub_client *over_total(struct kw_pub *pub);

static uint64_t
new_epoch(void)
{
	uint64_t e = 0;

	while (e == 0) {
		if (getrandom(&e, sizeof(e), 0) != sizeof(e))
			e = kw_now_ns() ^ ((uint64_t)getpid() << 32);
		e &= INT64_MAX; /* fits an SQLite INTEGER */
	}
	return e;
}

/*
 * The packer's sink: appends to the ring entry being built, growing it by
 * half again when full. A failed append spoils the message.
 */
static int
pack_write(void *data, const char *buf, size_t len)
{
	struct kw_pub *pub = data;
	struct ring_msg *m = pub->bmsg, *nm;
	size_t ncap;

	if (pub->pack_failed || m == NULL)
		return -1;
	if (len > pub->bcap - m->len) {
		ncap = pub->bcap + pub->bcap / 2;
		if (ncap < m->len + len)
			ncap = m->len + len;
		if (ncap > SIZE_MAX - sizeof(*m) ||
		    (nm = realloc(m, sizeof(*m) + ncap)) == NULL) {
			pub->pack_failed = 1;
			return -1;
		}
		pub->bmsg = m = nm;
		pub->bcap = ncap;
	}
	memcpy(m->data + m->len, buf, len);
	m->len += len;
	return 0;
}

struct kw_pub *
kw_pub_new(uv_loop_t *loop, const char *path, const char *stream,
    const struct kw_pub_opts *opts)
{
	struct kw_pub *pub;

	pub = calloc(1, sizeof(*pub));
	if (pub == NULL)
		return NULL;
	if (strlen(path) >= sizeof(pub->path)) {
		log_warnx("%s: socket path too long", path);
		free(pub);
		return NULL;
	}
	pub->loop = loop;
	snprintf(pub->path, sizeof(pub->path), "%s", path);
	snprintf(pub->stream, sizeof(pub->stream), "%s", stream);
	pub->opts = *opts;
	if (pub->opts.ring_bytes == 0)
		pub->opts.ring_bytes = 32u << 20;
	if (pub->opts.high_water == 0)
		pub->opts.high_water = kw_limits_get()->stream_client_bytes;
	if (pub->opts.high_water == 0)
		pub->opts.high_water = 4u << 20;
	if (pub->opts.queued_bytes == 0)
		pub->opts.queued_bytes = kw_limits_get()->stream_queued_bytes;
	if (pub->opts.low_water == 0 ||
	    pub->opts.low_water >= pub->opts.high_water)
		pub->opts.low_water = pub->opts.high_water / 4;
	/*
	 * What a client still needs lives in the ring; falling out of it is
	 * what cuts a slow client. The hard limit is a safety net above that:
	 * the whole ring plus what may be in flight.
	 */
	if (pub->opts.max_lag_bytes == 0)
		pub->opts.max_lag_bytes =
		    pub->opts.ring_bytes + pub->opts.high_water;
	if (pub->opts.mode == 0)
		pub->opts.mode = 0660;
	if (pub->opts.max_clients == 0)
		pub->opts.max_clients = kw_limits_get()->stream_clients;
	if (pub->opts.replays == 0)
		pub->opts.replays = kw_limits_get()->stream_replays;
	if (pub->opts.replay_ms == 0)
		pub->opts.replay_ms = kw_limits_get()->replay_interval_ms;
	pub->epoch = new_epoch();
	uv_pipe_init(loop, &pub->server, 0);
	pub->server.data = pub;
	msgpack_packer_init(&pub->pk, pub, pack_write);
	return pub;
}

/* Refuse to steal the socket of a running instance; remove a stale one. */
static int
claim_path(const char *path)
{
	struct sockaddr_un sun;
	struct stat st;
	int fd, rc, saved;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		log_warn("socket");
		return -1;
	}
	rc = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	saved = errno;
	close(fd);
	if (rc == 0) {
		log_warnx("%s: another process is listening there "
			  "(already running?)",
		    path);
		return -1;
	}
	if (saved == ENOENT)
		return 0;
	/* Only a socket nobody answers on is ours to replace. */
	if (lstat(path, &st) == -1 || !S_ISSOCK(st.st_mode) ||
	    saved != ECONNREFUSED) {
		errno = saved;
		log_warn("%s: exists and is not a stale socket", path);
		return -1;
	}
	if (unlink(path) == -1 && errno != ENOENT) {
		log_warn("%s: cannot remove stale socket", path);
		return -1;
	}
	return 0;
}

static gid_t listen_gid = (gid_t)-1;

void
kw_listen_set_group(gid_t gid)
{
	listen_gid = gid;
}

int
kw_listen_unix(uv_pipe_t *server, const char *path, int mode,
    uv_connection_cb cb)
{
	int rc;

	if (claim_path(path) == -1)
		return -1;
	if ((rc = uv_pipe_bind(server, path)) != 0 ||
	    (rc = uv_listen((uv_stream_t *)server, 64, cb)) != 0) {
		log_warnx("%s: cannot listen: %s", path, uv_strerror(rc));
		return -1;
	}
	if (chmod(path, mode) == -1)
		log_warn("%s: chmod %o", path, mode);
	if (listen_gid != (gid_t)-1 &&
	    chown(path, (uid_t)-1, listen_gid) == -1)
		log_warn("%s: chown to group %lu", path,
		    (unsigned long)listen_gid);
	return 0;
}

/* ring */

static struct ring_msg *
ring_at(const struct kw_pub *pub, size_t i)
{
	return pub->ring[(pub->ring_head + i) % pub->ring_cap];
}

static uint64_t
ring_oldest(const struct kw_pub *pub)
{
	return pub->ring_count ? ring_at(pub, 0)->seq : pub->seq + 1;
}

static struct ring_msg *
ring_get(const struct kw_pub *pub, uint64_t seq)
{
	uint64_t oldest = ring_oldest(pub);

	if (pub->ring_count == 0 || seq < oldest || seq > pub->seq)
		return NULL;
	return ring_at(pub, seq - oldest);
}

static struct ring_msg *
msg_new(struct kw_pub *pub, const char *data, size_t len)
{
	struct ring_msg *m;

	if ((m = malloc(sizeof(*m) + len)) == NULL)
		return NULL;
	memset(m, 0, sizeof(*m));
	m->len = len;
	m->refs = 1;
	m->held = &pub->st.held_bytes;
	*m->held += len;
	memcpy(m->data, data, len);
	return m;
}

static void
msg_unref(struct ring_msg *m)
{
	if (--m->refs == 0) {
		*m->held -= m->len;
		free(m);
	}
}

static void
ring_drop_oldest(struct kw_pub *pub)
{
	struct ring_msg *m = ring_at(pub, 0);

	pub->ring_bytes -= m->len;
	if (m->seq <= pub->st.acked_seq)
		pub->st.acked_bytes -= m->len;
	msg_unref(m);
	pub->ring_head = (pub->ring_head + 1) % pub->ring_cap;
	pub->ring_count--;
}

static int
ring_push(struct kw_pub *pub, struct ring_msg *m)
{
	if (pub->ring_count == pub->ring_cap) {
		size_t ncap = pub->ring_cap ? pub->ring_cap * 2 : 64, i;
		struct ring_msg **nr = calloc(ncap, sizeof(*nr));

		if (nr == NULL)
			return -1;
		for (i = 0; i < pub->ring_count; i++)
			nr[i] = ring_at(pub, i);
		free(pub->ring);
		pub->ring = nr;
		pub->ring_cap = ncap;
		pub->ring_head = 0;
	}
	pub->ring[(pub->ring_head + pub->ring_count) % pub->ring_cap] = m;
	pub->ring_count++;
	pub->ring_bytes += m->len;
	/* Keep the newest even when it alone is over the bounds. */
	while (pub->ring_count > 1 &&
	    (pub->ring_bytes > pub->opts.ring_bytes ||
		(pub->opts.ring_msgs > 0 &&
		    pub->ring_count > pub->opts.ring_msgs)))
		ring_drop_oldest(pub);
	return 0;
}

/*
 * What the durable consumer acked is in its database: a consumer that
 * restarts asks for the seq after its last commit. Acked messages are
 * kept only up to opts.acked_bytes (for a late sub from an older seq),
 * and never while a connected client has yet to be handed them: a paused
 * one keeps what it waits for, up to the whole ring as before. Trimmed a
 * few KB at a time, the freed blocks would stay holes in the heap: once
 * they add up to TRIM_RETURN they are given back (malloc_trim).
 */
#define TRIM_RETURN (1u << 20)

static void
ring_trim_acked(struct kw_pub *pub)
{
	const struct pub_client *c;
	struct ring_msg *m;
	uint64_t upto;

	if (!pub->opts.bound_acked ||
	    pub->st.acked_bytes <= pub->opts.acked_bytes)
		return;
	upto = pub->st.acked_seq;
	for (c = pub->clients; c != NULL; c = c->next)
		if (!c->closing && c->next_seq <= upto)
			upto = c->next_seq - 1;
	while (pub->ring_count > 0 &&
	    pub->st.acked_bytes > pub->opts.acked_bytes &&
	    (m = ring_at(pub, 0))->seq <= upto) {
		pub->trimmed_unreturned += m->len;
		pub->st.ring_trimmed++;
		ring_drop_oldest(pub);
	}
	if (pub->trimmed_unreturned >= TRIM_RETURN) {
		malloc_trim(0);
		pub->trimmed_unreturned = 0;
	}
}

/* Bytes published after message seq-1 that client c has not been handed. */
static size_t
backlog_from(const struct kw_pub *pub, uint64_t seq)
{
	struct ring_msg *m = ring_get(pub, seq);

	if (m == NULL)
		return 0;
	return pub->total_off - (m->end_off - m->len);
}

/* writes */

static void
write_done(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;
	struct pub_client *c = w->client;
	unsigned i;
	int resume;

	resume = kw_flow_written(&c->flow, w->len);
	c->pub->queued = w->len > c->pub->queued ? 0 : c->pub->queued - w->len;
	for (i = 0; i < w->nmsgs; i++)
		msg_unref(w->msgs[i]);
	free(w);
	if (status != 0 && status != UV_ECANCELED) {
		client_close(c, uv_strerror(status));
		return;
	}
	/* Resumed, or messages published meanwhile (kw_pub_commit). */
	if (!c->closing &&
	    (resume || (!c->flow.paused && c->next_seq <= c->pub->seq)))
		client_pump(c);
}

/* A client that does not read what it is sent. */
static void
cut_lagging(struct pub_client *c, const char *why)
{
	struct kw_pub *pub = c->pub;

	pub->st.clients_cut++;
	kw_limit_hit(KW_HIT_STREAM_CLIENT_BYTES,
	    "%s: a client %s (%zu bytes "
	    "queued to it, limits.stream_client_bytes %zu): disconnected",
	    pub->path, why, c->flow.inflight, pub->opts.high_water);
	client_close(c, NULL);
}

/*
 * Over limits.stream_queued_bytes for all the clients at once: the one
 * with the most queued goes (its queued writes are cancelled, freeing
 * what only they held). Returns the client cut, or NULL.
 */
static struct pub_client *
over_total(struct kw_pub *pub)
{
	struct pub_client *c, *worst = NULL;

	if (pub->queued <= pub->opts.queued_bytes)
		return NULL;
	for (c = pub->clients; c != NULL; c = c->next)
		if (!c->closing &&
		    (worst == NULL || c->flow.inflight > worst->flow.inflight))
			worst = c;
	if (worst == NULL)
		return NULL;
	pub->st.queued_cut++;
	kw_limit_hit(KW_HIT_STREAM_QUEUED_BYTES,
	    "%s: %zu bytes queued to its "
	    "clients (limits.stream_queued_bytes %zu): the client with the "
	    "most, %zu, disconnected",
	    pub->path, pub->queued, pub->opts.queued_bytes,
	    worst->flow.inflight);
	client_close(worst, NULL);
	return worst;
}

/*
 * Hand c the messages msgs[0..n) in one write, each by reference; backlog
 * is what waits behind them. -1: c is cut off.
 */
static int
client_write(struct pub_client *c, struct ring_msg **msgs, unsigned n,
    size_t backlog)
{
	uv_buf_t bufs[WRITE_BATCH];
	struct wreq *w;
	size_t len = 0;
	unsigned i;
	int rc;

	if (n == 0 || n > WRITE_BATCH)
		return 0;
	w = malloc(sizeof(*w) + n * sizeof(w->msgs[0]));
	if (w == NULL) {
		client_close(c, "out of memory");
		return -1;
	}
	for (i = 0; i < n; i++) {
		w->msgs[i] = msgs[i];
		msgs[i]->refs++;
		bufs[i] = uv_buf_init(msgs[i]->data, msgs[i]->len);
		len += msgs[i]->len;
	}
	w->client = c;
	w->len = len;
	w->nmsgs = n;
	if ((rc = uv_write(&w->req, (uv_stream_t *)&c->pipe, bufs, n,
		 write_done)) != 0) {
		for (i = 0; i < n; i++)
			msg_unref(w->msgs[i]);
		free(w);
		client_close(c, uv_strerror(rc));
		return -1;
	}
	c->pub->st.bytes_out += len;
	c->pub->queued += len;
	if (kw_flow_sent(&c->flow, len, backlog) == KW_FLOW_CUT) {
		cut_lagging(c, "too far behind");
		return -1;
	}
	return over_total(c->pub) == c ? -1 : 0;
}

/*
 * Whether a client with writes in flight is handed a new message later,
 * with those after it, when a write completes (write_done): in a burst,
 * up to WRITE_BATCH messages in one write instead of a write (and a
 * request) per message. Only a few and a little: what waits must stay in
 * the ring, which lets the oldest go first.
 */
#define BATCH_BYTES (64u << 10)

static int
defer_to_batch(const struct pub_client *c)
{
	const struct kw_pub *pub = c->pub;
	uint64_t n = pub->seq - c->next_seq + 1;
	size_t bytes = backlog_from(pub, c->next_seq);

	return c->flow.inflight > 0 && n < WRITE_BATCH &&
	    bytes <= BATCH_BYTES && bytes <= pub->opts.ring_bytes / 4 &&
	    (pub->opts.ring_msgs == 0 || n <= pub->opts.ring_msgs / 4);
}

/* Hand the client ring messages until it is paused or caught up. */
static void
client_pump(struct pub_client *c)
{
	struct kw_pub *pub = c->pub;
	struct ring_msg *batch[WRITE_BATCH], *m;
	unsigned n;
	size_t bytes;

	while (!c->closing && !c->flow.paused && c->next_seq <= pub->seq) {
		/* As many as fit under the high watermark, at least one. */
		n = 0;
		bytes = 0;
		while (n < WRITE_BATCH && c->next_seq <= pub->seq &&
		    (n == 0 ||
			c->flow.inflight + bytes < pub->opts.high_water)) {
			m = ring_get(pub, c->next_seq);
			if (m == NULL) {
				if (n > 0)
					break; /* send these first */
				cut_lagging(c, "fell out of the replay ring");
				return;
			}
			batch[n++] = m;
			bytes += m->len;
			c->next_seq++;
		}
		if (client_write(c, batch, n,
			backlog_from(pub, c->next_seq)) == -1)
			return;
	}
}

static void
client_closed(uv_handle_t *h)
{
	struct pub_client *c = h->data;
	struct kw_pub *pub = c->pub;

	msgpack_unpacker_destroy(&c->unp);
	free(c);
	pub->pending_closes--;
	if (pub->closing && pub->pending_closes == 0) {
		free(pub->ring);
		free(pub->bmsg);
		free(pub);
	}
}

static void
client_close(struct pub_client *c, const char *why)
{
	struct kw_pub *pub = c->pub;

	if (c->closing)
		return;
	c->closing = 1;
	if (pub->durable == c)
		pub->durable = NULL;
	if (why != NULL)
		log_info("%s: client %s", pub->path, why);
	if (c->prev)
		c->prev->next = c->next;
	else
		pub->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	pub->st.clients--;
	pub->pending_closes++;
	uv_close((uv_handle_t *)&c->pipe, client_closed);
}

static void
send_small(struct pub_client *c, void (*fill)(msgpack_packer *, void *),
    void *arg)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	struct ring_msg *m;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	fill(&pk, arg);
	if ((m = msg_new(c->pub, sb.data, sb.size)) == NULL)
		client_close(c, "out of memory");
	else {
		(void)client_write(c, &m, 1, 0);
		msg_unref(m);
	}
	msgpack_sbuffer_destroy(&sb);
}

static void
fill_hello(msgpack_packer *pk, void *arg)
{
	struct kw_pub *pub = arg;

	kw_pack_hello(pk, pub->stream, pub->epoch, pub->seq, kw_now_ns());
}

struct gap_arg {
	uint64_t from, to;
};

static void
fill_gap(msgpack_packer *pk, void *arg)
{
	struct gap_arg *g = arg;

	kw_pack_gap(pk, g->from, g->to, kw_now_ns());
}

/* {"t":"sub","epoch":E,"from":N}: replay from N, or say what is lost. */
static void
client_sub(struct pub_client *c, const msgpack_object *obj)
{
	struct kw_pub *pub = c->pub;
	struct kw_sub_req req;
	uint64_t from, oldest;
	struct gap_arg g;
	char err[128];
	uint64_t now = kw_mono_ns();

	if (kw_sub_unpack(obj, &req, err, sizeof(err)) == -1) {
		log_info("%s: client sub: %s", pub->path, err);
		client_close(c, "sent a malformed sub: disconnected");
		pub->st.clients_bad++;
		return;
	}
	from = req.from;
	/* Each sub may replay the whole ring: so many per interval. */
	if (c->replays == 0 ||
	    now - c->replay_start_ns >= pub->opts.replay_ms * 1000000ull) {
		c->replay_start_ns = now;
		c->replays = 0;
	}
	if (++c->replays > pub->opts.replays) {
		pub->st.replays_refused++;
		kw_limit_hit(KW_HIT_STREAM_REPLAYS,
		    "%s: a client asked for "
		    "more than %" PRIu64 " replays in %" PRIu64 " ms: "
		    "disconnected (limits.stream_replays)",
		    pub->path, pub->opts.replays, pub->opts.replay_ms);
		client_close(c, NULL);
		return;
	}
	if (req.durable) {
		/*
		 * The durable consumer (the recorder) runs as we do; acks
		 * from anyone else with access to the socket do not count.
		 */
		if (c->uid == geteuid() || c->uid == 0)
			pub->durable = c;
		else
			log_info("%s: durable sub from uid %lu, not ours: "
				 "its acks will not count",
			    pub->path, (unsigned long)c->uid);
	}
	if (req.epoch != pub->epoch || from == 0)
		from = 1;
	if (from > pub->seq + 1)
		from = pub->seq + 1;
	oldest = ring_oldest(pub);
	if (from < oldest) {
		g.from = from;
		g.to = oldest - 1;
		log_info("%s: client asked for seq %" PRIu64
			 ", ring starts at "
			 "%" PRIu64 ": sending a gap",
		    pub->path, from, oldest);
		send_small(c, fill_gap, &g);
		if (c->closing)
			return;
		from = oldest;
	}
	c->next_seq = from;
	pub->st.subs++;
	client_pump(c);
}

/*
 * {"t":"ack","seq":N}: counts only from the durable consumer, and only for
 * a seq we published. An ack of an older epoch (sent just after a
 * reconnect) may be past our seq: ignored, not an offence.
 */
static void
client_ack(struct pub_client *c, const msgpack_object *obj)
{
	struct kw_pub *pub = c->pub;
	struct ring_msg *m;
	struct kw_ack ack;
	uint64_t seq, s;

	if (kw_ack_unpack(obj, &ack, NULL, 0) == -1)
		return;
	seq = ack.seq;
	if (c != pub->durable || seq > pub->seq) {
		pub->st.acks_refused++;
		kw_limit_hit(KW_HIT_ACKS,
		    "%s: ack of seq %" PRIu64 " ignored: "
		    "%s",
		    pub->path, seq,
		    c != pub->durable ? "not from the durable consumer" :
					"past the last seq published");
		return;
	}
	if (seq <= pub->st.acked_seq)
		return;
	/* The ring's messages this ack covers now count as acked. */
	s = pub->st.acked_seq + 1;
	if (s < ring_oldest(pub))
		s = ring_oldest(pub);
	for (; s <= seq && (m = ring_get(pub, s)) != NULL; s++)
		pub->st.acked_bytes += m->len;
	pub->st.acked_seq = seq;
	ring_trim_acked(pub);
}

static void
client_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct pub_client *c = h->data;

	if (!msgpack_unpacker_reserve_buffer(&c->unp, 1024)) {
		buf->base = NULL;
		buf->len = 0;
		return;
	}
	buf->base = msgpack_unpacker_buffer(&c->unp);
	buf->len = msgpack_unpacker_buffer_capacity(&c->unp);
}

static void
client_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct pub_client *c = s->data;
	struct kw_pub *pub = c->pub;
	msgpack_unpacked res;
	struct kw_msg msg;
	char err[128];
	int rc;

	if (nread < 0) {
		client_close(c, nread == UV_EOF ? NULL : uv_strerror(nread));
		return;
	}
	if (nread == 0)
		return;
	msgpack_unpacker_buffer_consumed(&c->unp, nread);
	msgpack_unpacked_init(&res);
	while (!c->closing) {
		rc = kw_unpacker_next(&c->unp, &c->scan, &res);
		if (rc == MSGPACK_UNPACK_CONTINUE) {
			if (msgpack_unpacker_message_size(&c->unp) >
			    CLIENT_MSG_MAX) {
				pub->st.clients_bad++;
				client_close(c,
				    "sent an oversized message: "
				    "disconnected");
			}
			break;
		}
		if (rc != MSGPACK_UNPACK_SUCCESS) {
			pub->st.clients_bad++;
			client_close(c,
			    rc == KW_UNPACK_REFUSED ?
				"declared a size over the limit: disconnected" :
				"sent malformed msgpack: disconnected");
			break;
		}
		if (kw_msg_decode(&res.data, &msg, err, sizeof(err)) == -1) {
			pub->st.clients_bad++;
			log_info("%s: client message: %s", pub->path, err);
			client_close(c,
			    "sent a malformed message: "
			    "disconnected");
			break;
		}
		if (msg.type == KW_MSG_SUB)
			client_sub(c, &res.data);
		else if (msg.type == KW_MSG_ACK)
			client_ack(c, &res.data);
		/* other types: skipped */
	}
	msgpack_unpacked_destroy(&res);
}

static uid_t
peer_uid(uv_pipe_t *pipe)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	uv_os_fd_t fd;

	if (uv_fileno((uv_handle_t *)pipe, &fd) != 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1)
		return (uid_t)-1;
	return cred.uid;
}

static void
on_connection(uv_stream_t *server, int status)
{
	struct kw_pub *pub = server->data;
	struct pub_client *c;
	int rc;

	if (status != 0) {
		log_warnx("%s: accept: %s", pub->path, uv_strerror(status));
		return;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL || !msgpack_unpacker_init(&c->unp, 4096)) {
		log_warnx("%s: out of memory for a client", pub->path);
		free(c);
		return;
	}
	c->pub = pub;
	kw_mpscan_init(&c->scan, CLIENT_MSG_MAX, CLIENT_MSG_MAX);
	uv_pipe_init(pub->loop, &c->pipe, 0);
	c->pipe.data = c;
	c->flow.high_water = pub->opts.high_water;
	c->flow.low_water = pub->opts.low_water;
	c->flow.hard_limit = pub->opts.max_lag_bytes;
	c->next = pub->clients;
	if (c->next)
		c->next->prev = c;
	pub->clients = c;
	pub->st.clients++;
	if ((rc = uv_accept(server, (uv_stream_t *)&c->pipe)) != 0) {
		client_close(c, uv_strerror(rc));
		return;
	}
	if (pub->st.clients > pub->opts.max_clients) {
		pub->st.clients_refused++;
		kw_limit_hit(KW_HIT_STREAM_CLIENTS,
		    "%s: connection refused: "
		    "%zu clients already (limits.stream_clients)",
		    pub->path, pub->opts.max_clients);
		client_close(c, NULL);
		return;
	}
	c->uid = peer_uid(&c->pipe);
	c->next_seq = pub->seq + 1;
	send_small(c, fill_hello, pub);
	if (!c->closing)
		uv_read_start((uv_stream_t *)&c->pipe, client_alloc,
		    client_read);
}

int
kw_pub_start(struct kw_pub *pub)
{
	if (kw_listen_unix(&pub->server, pub->path, pub->opts.mode,
		on_connection) == -1)
		return -1;
	pub->listening = 1;
	log_info("%s: streaming %s (epoch %" PRIu64 ")", pub->path,
	    pub->stream, pub->epoch);
	return 0;
}

msgpack_packer *
kw_pub_begin(struct kw_pub *pub, enum kw_msg_type type, uint32_t nfields)
{
	size_t cap;

	if ((unsigned)type >= KW_MSG__COUNT)
		type = KW_MSG_UNKNOWN;
	/* The last one's size plus an eighth: rarely a realloc, little slack. */
	cap = pub->hint[type] + pub->hint[type] / 8;
	if (cap < 256)
		cap = 256;
	/* A kept small buffer's slack is never published: only grown. */
	if (pub->bmsg != NULL &&
	    (pub->bcap < cap ||
		(pub->bcap > BUILD_KEEP && pub->bcap > 2 * cap))) {
		free(pub->bmsg);
		pub->bmsg = NULL;
	}
	if (pub->bmsg == NULL) {
		pub->bcap = 0;
		if ((pub->bmsg = malloc(sizeof(*pub->bmsg) + cap)) != NULL)
			pub->bcap = cap;
	}
	if (pub->bmsg != NULL)
		memset(pub->bmsg, 0, sizeof(*pub->bmsg));
	pub->btype = type;
	pub->building = 1;
	pub->pack_failed = pub->bmsg == NULL;
	msgpack_pack_map(&pub->pk, nfields + 3);
	kw_pack_kstr(&pub->pk, "t", kw_msg_type_name(type));
	kw_pack_ku64(&pub->pk, "seq", pub->seq + 1);
	kw_pack_ku64(&pub->pk, "ts", kw_now_ns());
	return &pub->pk;
}

uint64_t
kw_pub_commit(struct kw_pub *pub)
{
	struct pub_client *c, *next;
	struct ring_msg *m;

	if (!pub->building)
		return 0;
	pub->building = 0;
	if (pub->pack_failed) {
		log_warnx("%s: out of memory while encoding: message dropped",
		    pub->path);
		return 0;
	}
	m = pub->bmsg;
	pub->hint[pub->btype] = m->len;
	if (pub->bcap <= BUILD_KEEP &&
	    (m = malloc(sizeof(*m) + pub->bmsg->len)) != NULL) {
		memcpy(m, pub->bmsg, sizeof(*m) + pub->bmsg->len);
	} else {
		/* Large (or no memory for a copy): the buffer itself. */
		m = pub->bmsg;
		pub->bmsg = NULL;
		/* Give back the slack (in place: shrinking does not move). */
		if (pub->bcap - m->len > 64) {
			struct ring_msg *nm = realloc(m, sizeof(*m) + m->len);

			if (nm != NULL)
				m = nm;
		}
		pub->bcap = 0;
	}
	m->refs = 1;
	m->held = &pub->st.held_bytes;
	*m->held += m->len;
	pub->seq++;
	pub->total_off += m->len;
	m->seq = pub->seq;
	m->end_off = pub->total_off;
	if (ring_push(pub, m) == -1) {
		/* The ring cannot grow: forget everything older. */
		while (pub->ring_count > 0)
			ring_drop_oldest(pub);
		if (ring_push(pub, m) == -1) {
			msg_unref(m);
			log_warnx("%s: out of memory: message dropped",
			    pub->path);
			return pub->seq;
		}
	}
	for (c = pub->clients; c != NULL; c = next) {
		next = c->next;
		if (c->closing)
			continue; /* cut meanwhile by over_total */
		if (c->flow.paused || defer_to_batch(c)) {
			/* Not written to now: only see whether it is too far. */
			if (kw_flow_sent(&c->flow, 0,
				backlog_from(pub, c->next_seq)) == KW_FLOW_CUT)
				cut_lagging(c, "too far behind");
			continue;
		}
		client_pump(c);
	}
	/* A client handed what it waited for may let acked ones go. */
	ring_trim_acked(pub);
	return pub->seq;
}

void
kw_pub_stats(const struct kw_pub *pub, struct kw_pub_stats *st)
{
	*st = pub->st;
	st->queued_bytes = pub->queued;
	st->epoch = pub->epoch;
	st->seq = pub->seq;
	st->oldest_seq = pub->ring_count ? ring_at(pub, 0)->seq : 0;
	st->ring_bytes = pub->ring_bytes;
	st->ring_msgs = pub->ring_count;
}

static void
server_closed(uv_handle_t *h)
{
	struct kw_pub *pub = h->data;

	pub->pending_closes--;
	if (pub->pending_closes == 0) {
		free(pub->ring);
		free(pub->bmsg);
		free(pub);
	}
}

void
kw_pub_close(struct kw_pub *pub)
{
	if (pub == NULL || pub->closing)
		return;
	pub->closing = 1;
	while (pub->clients != NULL)
		client_close(pub->clients, NULL);
	while (pub->ring_count > 0)
		ring_drop_oldest(pub);
	if (pub->listening && unlink(pub->path) == -1)
		log_warn("%s: unlink", pub->path);
	pub->pending_closes++;
	uv_close((uv_handle_t *)&pub->server, server_closed);
}
