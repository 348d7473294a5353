/*
 * Pub/sub over a real unix socket in one libuv loop: live streaming,
 * resume from a seq, gaps when the ring lost messages, a producer's
 * restart, garbage from a client, and backpressure's watermarks.
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

#include "kwarden.h"

struct got {
	uint64_t seqs[4096];
	size_t n;
	uint64_t gap_from, gap_to;
	int gaps;
	int connected;
	uint64_t epoch;
	size_t ends; /* end messages handled */
};

static char sockpath[108];
static char tmpdir[64];

static int
setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/kw-pubsub-XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	snprintf(sockpath, sizeof(sockpath), "%s/test.sock", tmpdir);
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

static void
on_msg(void *arg, const struct kw_msg *msg)
{
	struct got *g = arg;
	uint64_t v;

	if (msg->type == KW_MSG_END) {
		g->ends++;
		return;
	}
	assert_int_equal(msg->type, KW_MSG_SYS);
	assert_int_equal(kw_get_u64(msg->obj, "nprocs", &v), 0);
	assert_int_equal(v, msg->seq * 10); /* body matches its seq */
	if (g->n < sizeof(g->seqs) / sizeof(g->seqs[0]))
		g->seqs[g->n++] = msg->seq;
}

static void
on_event(void *arg, enum kw_sub_event ev, uint64_t from, uint64_t to)
{
	struct got *g = arg;

	if (ev == KW_SUB_CONNECTED) {
		g->connected++;
		g->epoch = from;
	} else if (ev == KW_SUB_GAP) {
		g->gaps++;
		g->gap_from = from;
		g->gap_to = to;
	}
}

static void
publish(struct kw_pub *pub, size_t count)
{
	struct kw_pub_stats st;
	size_t i;

	for (i = 0; i < count; i++) {
		msgpack_packer *pk = kw_pub_begin(pub, KW_MSG_SYS, 1);

		kw_pub_stats(pub, &st);
		kw_pack_ku64(pk, "nprocs", (st.seq + 1) * 10);
		kw_pub_commit(pub);
	}
}

/* Run the loop until cond holds or ms pass; returns whether it held. */
static int
run_until(uv_loop_t *loop, int (*cond)(void *), void *arg, int ms)
{
	uint64_t end = kw_mono_ns() + (uint64_t)ms * 1000000;

	while (!cond(arg)) {
		if (kw_mono_ns() > end)
			return 0;
		uv_run(loop, UV_RUN_NOWAIT);
		usleep(1000);
	}
	return 1;
}

static int
is_connected(void *arg)
{
	return ((struct got *)arg)->connected > 0;
}

struct want {
	struct got *g;
	size_t n;
};

static int
has_n(void *arg)
{
	struct want *w = arg;

	return w->g->n >= w->n;
}

static void
close_all(uv_loop_t *loop)
{
	uv_run(loop, UV_RUN_NOWAIT);
	uv_run(loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(loop), 0);
}

static struct kw_pub *
new_pub(uv_loop_t *loop, size_t ring_bytes)
{
	struct kw_pub_opts o = { 0 };
	struct kw_pub *pub;

	o.ring_bytes = ring_bytes;
	pub = kw_pub_new(loop, sockpath, "decider", &o);
	assert_non_null(pub);
	assert_int_equal(kw_pub_start(pub), 0);
	return pub;
}

static void
pubsub__live_client__gets_every_message_in_order(void **state)
{
	uv_loop_t loop;
	struct got *g = calloc(1, sizeof(*g));
	struct kw_sub_cb cb = { on_msg, on_event, g };
	struct kw_pub *pub;
	struct kw_sub *sub;
	struct want w = { g, 100 };
	size_t i;

	(void)state;
	uv_loop_init(&loop);
	pub = new_pub(&loop, 1 << 20);
	publish(pub, 5); /* before the client: not replayed */
	sub = kw_sub_new(&loop, sockpath, "decider", 0, &cb);
	kw_sub_start(sub);
	assert_true(run_until(&loop, is_connected, g, 2000));
	publish(pub, 100);
	assert_true(run_until(&loop, has_n, &w, 2000));
	assert_int_equal(g->n, 100);
	for (i = 0; i < g->n; i++)
		assert_int_equal(g->seqs[i], 6 + i);
	assert_int_equal(g->gaps, 0);
	kw_sub_close(sub);
	kw_pub_close(pub);
	close_all(&loop);
	free(g);
}

static void
pubsub__resume_point__replays_the_rest_exactly_once(void **state)
{
	uv_loop_t loop;
	struct got *g = calloc(1, sizeof(*g));
	struct kw_sub_cb cb = { on_msg, on_event, g };
	struct kw_pub *pub;
	struct kw_sub *sub;
	struct kw_pub_stats st;
	struct want w = { g, 17 };
	size_t i;

	(void)state;
	uv_loop_init(&loop);
	pub = new_pub(&loop, 1 << 20);
	publish(pub, 10);
	kw_pub_stats(pub, &st);
	sub = kw_sub_new(&loop, sockpath, "decider", 1, &cb);
	kw_sub_resume_from(sub, st.epoch, 3, 0);
	kw_sub_start(sub);
	assert_true(run_until(&loop, is_connected, g, 2000));
	publish(pub, 10); /* live ones race the replay */
	assert_true(run_until(&loop, has_n, &w, 2000));
	uv_run(&loop, UV_RUN_NOWAIT);
	assert_int_equal(g->n, 17);
	for (i = 0; i < g->n; i++)
		assert_int_equal(g->seqs[i], 4 + i);
	assert_int_equal(g->gaps, 0);
	kw_sub_close(sub);
	kw_pub_close(pub);
	close_all(&loop);
	free(g);
}

static void
pubsub__resume_out_of_ring__gap_then_oldest(void **state)
{
	uv_loop_t loop;
	struct got *g = calloc(1, sizeof(*g));
	struct kw_sub_cb cb = { on_msg, on_event, g };
	struct kw_pub *pub;
	struct kw_sub *sub;
	struct kw_pub_stats st;
	struct want w;

	(void)state;
	uv_loop_init(&loop);
	pub = new_pub(&loop, 400); /* a few dozen small messages */
	publish(pub, 200);
	kw_pub_stats(pub, &st);
	assert_true(st.oldest_seq > 2);
	sub = kw_sub_new(&loop, sockpath, "decider", 1, &cb);
	kw_sub_resume_from(sub, st.epoch, 1, 0);
	kw_sub_start(sub);
	w.g = g;
	w.n = 200 - st.oldest_seq + 1;
	assert_true(run_until(&loop, has_n, &w, 2000));
	assert_int_equal(g->gaps, 1);
	assert_int_equal(g->gap_from, 2);
	assert_int_equal(g->gap_to, st.oldest_seq - 1);
	assert_int_equal(g->seqs[0], st.oldest_seq);
	assert_int_equal(g->seqs[g->n - 1], 200);
	kw_sub_close(sub);
	kw_pub_close(pub);
	close_all(&loop);
	free(g);
}

static int
has_end(void *arg)
{
	return ((struct got *)arg)->ends > 0;
}

static void
producer_restart(int with_end)
{
	uv_loop_t loop;
	struct got *g = calloc(1, sizeof(*g));
	struct kw_sub_cb cb = { on_msg, on_event, g };
	struct kw_pub *pub;
	struct kw_sub *sub;
	struct kw_pub_stats st1, st2;
	struct kw_sub_stats sst;
	struct want w = { g, 5 };
	size_t i;

	uv_loop_init(&loop);
	pub = new_pub(&loop, 1 << 20);
	sub = kw_sub_new(&loop, sockpath, "decider", 1, &cb);
	kw_sub_start(sub);
	assert_true(run_until(&loop, is_connected, g, 2000));
	publish(pub, 5);
	assert_true(run_until(&loop, has_n, &w, 2000));
	if (with_end) {
		kw_pub_begin(pub, KW_MSG_END, 0);
		kw_pub_commit(pub);
		assert_true(run_until(&loop, has_end, g, 2000));
	}
	kw_pub_stats(pub, &st1);
	kw_pub_close(pub);
	uv_run(&loop, UV_RUN_NOWAIT);

	pub = new_pub(&loop, 1 << 20);
	publish(pub, 3); /* before the client is back */
	kw_pub_stats(pub, &st2);
	assert_true(st2.epoch != st1.epoch);
	w.n = 8;
	assert_true(run_until(&loop, has_n, &w, 5000));
	for (i = 0; i < 3; i++)
		assert_int_equal(g->seqs[5 + i], 1 + i);
	assert_int_equal(g->epoch, st2.epoch);
	/* Only an end message handled makes the restart a clean one. */
	kw_sub_stats(sub, &sst);
	assert_int_equal(sst.restarts_clean, with_end ? 1 : 0);
	assert_int_equal(sst.restarts_lossy, with_end ? 0 : 1);
	kw_sub_close(sub);
	kw_pub_close(pub);
	close_all(&loop);
	free(g);
}

static void
pubsub__producer_restart__durable_client_takes_new_epoch_from_1(void **state)
{
	(void)state;
	producer_restart(0);
}

static void
pubsub__producer_restart_after_end__counted_clean(void **state)
{
	(void)state;
	producer_restart(1);
}

/* A raw client: connect, optionally write bytes, return the fd. */
static int
raw_client(const void *bytes, size_t len)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sockpath);
	assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	if (len > 0)
		assert_int_equal(write(fd, bytes, len), (ssize_t)len);
	return fd;
}

static int
bad_counted(void *arg)
{
	struct kw_pub_stats st;

	kw_pub_stats(arg, &st);
	return st.clients_bad > 0 && st.clients == 1;
}

static void
pubsub__garbage_from_client__that_client_cut_others_served(void **state)
{
	uv_loop_t loop;
	struct got *g = calloc(1, sizeof(*g));
	struct kw_sub_cb cb = { on_msg, on_event, g };
	struct kw_pub *pub;
	struct kw_sub *sub;
	struct want w = { g, 10 };
	int fd;

	(void)state;
	uv_loop_init(&loop);
	pub = new_pub(&loop, 1 << 20);
	sub = kw_sub_new(&loop, sockpath, "decider", 0, &cb);
	kw_sub_start(sub);
	assert_true(run_until(&loop, is_connected, g, 2000));
	fd = raw_client("\xc1\xc1\xc1 garbage", 11); /* 0xc1: never used */
	assert_true(run_until(&loop, bad_counted, pub, 2000));
	publish(pub, 10);
	assert_true(run_until(&loop, has_n, &w, 2000));
	close(fd);
	kw_sub_close(sub);
	kw_pub_close(pub);
	close_all(&loop);
	free(g);
}

static int
cut_counted(void *arg)
{
	struct kw_pub_stats st;

	kw_pub_stats(arg, &st);
	return st.clients_cut > 0;
}

static void
pubsub__client_that_never_reads__cut_off_producer_goes_on(void **state)
{
	uv_loop_t loop;
	struct kw_pub_opts o = { 0 };
	struct kw_pub *pub;
	struct kw_pub_stats st;
	char big[16384];
	int fd, i, sz = 4096;
	uint64_t hits = kw_limit_count(KW_HIT_STREAM_CLIENT_BYTES);

	(void)state;
	uv_loop_init(&loop);
	o.ring_bytes = 8 << 20;
	o.high_water = 64 << 10;
	o.max_lag_bytes = 1 << 20;
	pub = kw_pub_new(&loop, sockpath, "reader", &o);
	assert_int_equal(kw_pub_start(pub), 0);
	fd = raw_client(NULL, 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	uv_run(&loop, UV_RUN_NOWAIT);
	memset(big, 'x', sizeof(big));
	for (i = 0; i < 200 && !cut_counted(pub); i++) {
		msgpack_packer *pk = kw_pub_begin(pub, KW_MSG_SYS, 1);

		kw_pack_str(pk, "pad");
		msgpack_pack_str(pk, sizeof(big));
		msgpack_pack_str_body(pk, big, sizeof(big));
		kw_pub_commit(pub);
		uv_run(&loop, UV_RUN_NOWAIT);
	}
	kw_pub_stats(pub, &st);
	assert_int_equal(st.clients_cut, 1);
	assert_int_equal(st.clients, 0);
	assert_true(st.seq >= 64); /* 1 MiB of lag took that many */
	assert_int_equal(kw_limit_count(KW_HIT_STREAM_CLIENT_BYTES), hits + 1);
	close(fd);
	kw_pub_close(pub);
	close_all(&loop);
}

/* Publish count messages of about size bytes each (nprocs = seq * 10). */
static void
publish_big(struct kw_pub *pub, size_t count, size_t size)
{
	struct kw_pub_stats st;
	static char pad[1 << 20];
	size_t i;

	memset(pad, 'p', sizeof(pad));
	assert_true(size <= sizeof(pad));
	for (i = 0; i < count; i++) {
		msgpack_packer *pk = kw_pub_begin(pub, KW_MSG_SYS, 2);

		kw_pub_stats(pub, &st);
		kw_pack_ku64(pk, "nprocs", (st.seq + 1) * 10);
		kw_pack_str(pk, "pad");
		msgpack_pack_str(pk, size);
		msgpack_pack_str_body(pk, pad, size);
		kw_pub_commit(pub);
	}
}

/* reader.ring_msgs: the ring holds at most that many, whatever their bytes. */
static void
pubsub__ring_bounded_by_messages__gap_then_newest(void **state)
{
	uv_loop_t loop;
	struct got *g = calloc(1, sizeof(*g));
	struct kw_sub_cb cb = { on_msg, on_event, g };
	struct kw_pub_opts o = { 0 };
	struct kw_pub *pub;
	struct kw_sub *sub;
	struct kw_pub_stats st;
	struct want w;

	(void)state;
	uv_loop_init(&loop);
	o.ring_bytes = 1 << 20;
	o.ring_msgs = 3;
	pub = kw_pub_new(&loop, sockpath, "reader", &o);
	assert_non_null(pub);
	assert_int_equal(kw_pub_start(pub), 0);
	publish(pub, 10);
	kw_pub_stats(pub, &st);
	assert_int_equal(st.ring_msgs, 3);
	assert_int_equal(st.oldest_seq, 8);
	assert_int_equal(st.held_bytes, st.ring_bytes);
	sub = kw_sub_new(&loop, sockpath, "reader", 0, &cb);
	kw_sub_resume_from(sub, st.epoch, 1, 0);
	kw_sub_start(sub);
	w.g = g;
	w.n = 3;
	assert_true(run_until(&loop, has_n, &w, 2000));
	assert_int_equal(g->gaps, 1);
	assert_int_equal(g->gap_from, 2);
	assert_int_equal(g->gap_to, 7);
	assert_int_equal(g->seqs[0], 8);
	assert_int_equal(g->seqs[2], 10);
	kw_sub_close(sub);
	kw_pub_close(pub);
	close_all(&loop);
	free(g);
}

/*
 * A message is packed straight into its ring entry, sized from the last
 * one of its type: small after big and big after small arrive whole, and
 * the ring holds exactly their bytes (no slack counted or kept).
 */
static void
pub__sizes_swing__each_message_whole(void **state)
{
	static const size_t sizes[] = { 10, 300000, 50, 200000, 900000, 10,
		70000, 70001, 5 };
	uv_loop_t loop;
	struct got *g = calloc(1, sizeof(*g));
	struct kw_sub_cb cb = { on_msg, on_event, g };
	struct kw_pub *pub;
	struct kw_sub *sub;
	struct kw_pub_stats st;
	struct kw_sub_stats sst;
	struct want w;
	size_t i, n = sizeof(sizes) / sizeof(sizes[0]);

	(void)state;
	uv_loop_init(&loop);
	pub = new_pub(&loop, 16 << 20);
	sub = kw_sub_new(&loop, sockpath, "decider", 1, &cb);
	kw_sub_start(sub);
	assert_true(run_until(&loop, is_connected, g, 2000));
	for (i = 0; i < n; i++)
		publish_big(pub, 1, sizes[i]);
	w.g = g;
	w.n = n;
	assert_true(run_until(&loop, has_n, &w, 5000));
	for (i = 0; i < n; i++)
		assert_int_equal(g->seqs[i], i + 1);
	kw_sub_stats(sub, &sst);
	assert_int_equal(g->gaps, 0);
	assert_int_equal(g->connected, 1);
	kw_pub_stats(pub, &st);
	assert_int_equal(st.ring_msgs, n);
	assert_int_equal(st.held_bytes, st.ring_bytes);
	assert_int_equal(st.clients_cut, 0);
	kw_sub_close(sub);
	kw_pub_close(pub);
	close_all(&loop);
	free(g);
}

static void
pubsub__messages_larger_than_the_ring__still_delivered(void **state)
{
	uv_loop_t loop;
	struct got *g = calloc(1, sizeof(*g));
	struct kw_sub_cb cb = { on_msg, on_event, g };
	struct kw_pub *pub;
	struct kw_sub *sub;
	struct kw_pub_stats st;
	struct want w = { g, 10 };

	(void)state;
	uv_loop_init(&loop);
	pub = new_pub(&loop, 256 << 10);
	sub = kw_sub_new(&loop, sockpath, "decider", 0, &cb);
	kw_sub_start(sub);
	assert_true(run_until(&loop, is_connected, g, 2000));
	publish_big(pub, 10, 300 << 10);
	assert_true(run_until(&loop, has_n, &w, 5000));
	kw_pub_stats(pub, &st);
	assert_int_equal(st.clients_cut, 0);
	assert_int_equal(g->gaps, 0);
	kw_sub_close(sub);
	kw_pub_close(pub);
	close_all(&loop);
	free(g);
}

/*
 * A burst to a live client is handed over in batches while its writes are
 * in flight; what waits for the next batch stays in the ring, so a burst
 * far over the ring still arrives whole, without a gap or a cut.
 */
static void
pubsub__burst_over_the_ring__live_client_gets_all(void **state)
{
	uv_loop_t loop;
	struct got *g = calloc(1, sizeof(*g));
	struct kw_sub_cb cb = { on_msg, on_event, g };
	struct kw_pub *pub;
	struct kw_sub *sub;
	struct kw_pub_stats st;
	struct want w = { g, 3000 };
	size_t i;

	(void)state;
	uv_loop_init(&loop);
	pub = new_pub(&loop, 64 << 10);
	sub = kw_sub_new(&loop, sockpath, "decider", 0, &cb);
	kw_sub_start(sub);
	assert_true(run_until(&loop, is_connected, g, 2000));
	publish_big(pub, 3000, 200); /* ~700 KB, the ring 64 KiB */
	kw_pub_stats(pub, &st);
	assert_true(st.ring_bytes <= 64 << 10);
	assert_true(run_until(&loop, has_n, &w, 5000));
	for (i = 0; i < 3000; i++)
		assert_int_equal(g->seqs[i], i + 1);
	kw_pub_stats(pub, &st);
	assert_int_equal(st.clients_cut, 0);
	assert_int_equal(g->gaps, 0);
	kw_sub_close(sub);
	kw_pub_close(pub);
	close_all(&loop);
	free(g);
}

static void
pubsub__full_ring_replay_after_gap__not_cut(void **state)
{
	uv_loop_t loop;
	struct got *g = calloc(1, sizeof(*g));
	struct kw_sub_cb cb = { on_msg, on_event, g };
	struct kw_pub *pub;
	struct kw_sub *sub;
	struct kw_pub_stats st;
	struct want w;

	(void)state;
	uv_loop_init(&loop);
	pub = new_pub(&loop, 256 << 10);
	/* Sizes that leave the ring within a few bytes of its bound. */
	publish_big(pub, 3000, 200);
	kw_pub_stats(pub, &st);
	assert_true(st.oldest_seq > 1);
	assert_true(st.ring_bytes > (256 << 10) - 300);
	sub = kw_sub_new(&loop, sockpath, "decider", 1, &cb);
	kw_sub_start(sub);
	w.g = g;
	w.n = st.seq - st.oldest_seq + 1;
	assert_true(run_until(&loop, has_n, &w, 5000));
	kw_pub_stats(pub, &st);
	assert_int_equal(st.clients_cut, 0);
	assert_int_equal(g->gaps, 1);
	assert_int_equal(g->connected, 1);
	kw_sub_close(sub);
	kw_pub_close(pub);
	close_all(&loop);
	free(g);
}

static void
pub__regular_file_at_socket_path__refused_and_kept(void **state)
{
	uv_loop_t loop;
	struct kw_pub_opts o = { 0 };
	struct kw_pub *pub;
	FILE *fp;

	(void)state;
	fp = fopen(sockpath, "w");
	assert_non_null(fp);
	fputs("precious", fp);
	fclose(fp);
	uv_loop_init(&loop);
	pub = kw_pub_new(&loop, sockpath, "decider", &o);
	assert_int_equal(kw_pub_start(pub), -1);
	kw_pub_close(pub);
	close_all(&loop);
	assert_int_equal(access(sockpath, F_OK), 0);
	unlink(sockpath);
}

static void
flow__over_high_water__paused_until_under_low(void **state)
{
	struct kw_flow f = { 0, 100, 25, 1000, 0 };

	(void)state;
	assert_int_equal(kw_flow_sent(&f, 60, 0), KW_FLOW_GO);
	assert_int_equal(kw_flow_sent(&f, 60, 0), KW_FLOW_PAUSE);
	assert_true(f.paused);
	assert_int_equal(kw_flow_written(&f, 60), 0); /* 60 left > 25 */
	assert_true(f.paused);
	assert_int_equal(kw_flow_written(&f, 40), 1); /* 20 <= 25 */
	assert_false(f.paused);
	assert_int_equal(f.inflight, 20);
}

static void
flow__backlog_past_hard_limit__cut(void **state)
{
	struct kw_flow f = { 0, 100, 25, 1000, 0 };

	(void)state;
	assert_int_equal(kw_flow_sent(&f, 50, 900), KW_FLOW_GO);
	assert_int_equal(kw_flow_sent(&f, 0, 951), KW_FLOW_CUT);
}

static void
pub__second_instance_on_same_path__refused(void **state)
{
	uv_loop_t loop;
	struct kw_pub *a, *b;
	struct kw_pub_opts o = { 0 };

	(void)state;
	uv_loop_init(&loop);
	a = new_pub(&loop, 1 << 20);
	b = kw_pub_new(&loop, sockpath, "decider", &o);
	assert_int_equal(kw_pub_start(b), -1);
	kw_pub_close(b);
	kw_pub_close(a);
	close_all(&loop);
	assert_int_equal(access(sockpath, F_OK), -1); /* removed on close */
}

/* Run the loop until fd reads EOF (the producer closed it). */
static int
closed_by_peer(uv_loop_t *loop, int fd, int ms)
{
	uint64_t end = kw_mono_ns() + (uint64_t)ms * 1000000;
	char buf[65536];
	ssize_t n;

	fcntl(fd, F_SETFL, O_NONBLOCK);
	while (kw_mono_ns() < end) {
		uv_run(loop, UV_RUN_NOWAIT);
		n = read(fd, buf, sizeof(buf));
		if (n == 0 || (n == -1 && errno == ECONNRESET))
			return 1;
		if (n == -1)
			usleep(1000);
	}
	return 0;
}

static void
pub__more_clients_than_the_limit__refused_and_counted(void **state)
{
	uv_loop_t loop;
	struct kw_pub_opts o = { 0 };
	struct kw_pub *pub;
	struct kw_pub_stats st;
	uint64_t hits = kw_limit_count(KW_HIT_STREAM_CLIENTS);
	int fd[3], i;

	(void)state;
	uv_loop_init(&loop);
	o.max_clients = 2;
	pub = kw_pub_new(&loop, sockpath, "decider", &o);
	assert_int_equal(kw_pub_start(pub), 0);
	for (i = 0; i < 3; i++) {
		fd[i] = raw_client(NULL, 0);
		uv_run(&loop, UV_RUN_NOWAIT);
	}
	assert_true(closed_by_peer(&loop, fd[2], 2000));
	kw_pub_stats(pub, &st);
	assert_int_equal(st.clients, 2);
	assert_int_equal(st.clients_refused, 1);
	assert_int_equal(kw_limit_count(KW_HIT_STREAM_CLIENTS), hits + 1);
	/* A place freed is a place for the next one. */
	close(fd[0]);
	close(fd[2]);
	assert_false(closed_by_peer(&loop, fd[1], 50));
	fd[0] = raw_client(NULL, 0);
	assert_false(closed_by_peer(&loop, fd[0], 100));
	kw_pub_stats(pub, &st);
	assert_int_equal(st.clients, 2);
	assert_int_equal(st.clients_refused, 1);
	close(fd[0]);
	close(fd[1]);
	kw_pub_close(pub);
	close_all(&loop);
}

static int
acked_3(void *arg)
{
	struct kw_pub_stats st;

	kw_pub_stats(arg, &st);
	return st.acked_seq == 3;
}

static int
acks_refused_2(void *arg)
{
	struct kw_pub_stats st;

	kw_pub_stats(arg, &st);
	return st.acks_refused >= 2;
}

static void
pub__ack_not_durable_or_past_seq__ignored_and_counted(void **state)
{
	uv_loop_t loop;
	struct got *g = calloc(1, sizeof(*g));
	struct kw_sub_cb cb = { on_msg, on_event, g };
	struct kw_pub *pub;
	struct kw_sub *sub;
	struct kw_pub_stats st;
	struct want w = { g, 5 };
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int fd;

	(void)state;
	uv_loop_init(&loop);
	pub = new_pub(&loop, 1 << 20);
	publish(pub, 5);
	/* Anyone on the socket: the highest ack there is. */
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	kw_pack_ack(&pk, UINT64_MAX);
	fd = raw_client(sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
	sub = kw_sub_new(&loop, sockpath, "decider", 1, &cb);
	kw_sub_start(sub);
	assert_true(run_until(&loop, has_n, &w, 2000));
	kw_sub_ack(sub, 3);
	assert_true(run_until(&loop, acked_3, pub, 2000));
	kw_sub_ack(sub, 99); /* never published */
	assert_true(run_until(&loop, acks_refused_2, pub, 2000));
	kw_pub_stats(pub, &st);
	assert_int_equal(st.acked_seq, 3);
	assert_int_equal(st.acks_refused, 2);
	close(fd);
	kw_sub_close(sub);
	kw_pub_close(pub);
	close_all(&loop);
	free(g);
}

static uint64_t want_acked;

static int
acked_want(void *arg)
{
	struct kw_pub_stats st;

	kw_pub_stats(arg, &st);
	return st.acked_seq == want_acked;
}

static struct kw_pub *
new_pub_acked(uv_loop_t *loop, size_t ring_bytes, size_t acked_bytes)
{
	struct kw_pub_opts o = { 0 };
	struct kw_pub *pub;

	o.ring_bytes = ring_bytes;
	o.bound_acked = 1;
	o.acked_bytes = acked_bytes;
	pub = kw_pub_new(loop, sockpath, "decider", &o);
	assert_non_null(pub);
	assert_int_equal(kw_pub_start(pub), 0);
	return pub;
}

/*
 * A durable consumer that has everything and acks part of it: the acked
 * messages go past their budget (oldest first, counted), the unacked
 * ones all stay, and the figures in the stats add up.
 */
static void
pub__acked_over_their_budget__trimmed_unacked_kept(void **state)
{
	uv_loop_t loop;
	struct got *g = calloc(1, sizeof(*g));
	struct kw_sub_cb cb = { on_msg, on_event, g };
	struct kw_pub *pub;
	struct kw_sub *sub;
	struct kw_pub_stats st;
	struct want w = { g, 100 };
	uint64_t len;

	(void)state;
	uv_loop_init(&loop);
	pub = new_pub_acked(&loop, 1 << 20, 4400);
	sub = kw_sub_new(&loop, sockpath, "decider", 1, &cb);
	kw_sub_start(sub);
	assert_true(run_until(&loop, is_connected, g, 2000));
	publish_big(pub, 100, 1000);
	assert_true(run_until(&loop, has_n, &w, 2000));
	kw_pub_stats(pub, &st);
	len = st.ring_bytes / 100; /* within a few bytes of each other */
	assert_true(len > 1000 && len < 1100);
	/* Nothing acked yet: everything is kept, as without the bound. */
	assert_int_equal(st.oldest_seq, 1);
	assert_int_equal(st.ring_msgs, 100);
	assert_int_equal(st.acked_bytes, 0);
	assert_int_equal(st.ring_trimmed, 0);
	kw_sub_ack(sub, 60);
	want_acked = 60;
	assert_true(run_until(&loop, acked_want, pub, 2000));
	kw_pub_stats(pub, &st);
	/* Acked: as many of the newest as fit in 4400 bytes (4). */
	assert_true(st.acked_bytes <= 4400);
	assert_true(st.acked_bytes > 4400 - 1100);
	assert_int_equal(st.oldest_seq, 57);
	assert_int_equal(st.ring_trimmed, 56);
	/* Unacked: all 40 of them. */
	assert_int_equal(st.ring_msgs, 44);
	assert_true(st.ring_bytes - st.acked_bytes > 40 * 1000);
	assert_true(st.ring_bytes - st.acked_bytes < 40 * 1100);
	/* New messages are unacked: kept, the acked ones as they were. */
	publish_big(pub, 50, 1000);
	w.n = 150;
	assert_true(run_until(&loop, has_n, &w, 2000));
	kw_pub_stats(pub, &st);
	assert_int_equal(st.oldest_seq, 57);
	assert_int_equal(st.ring_msgs, 94);
	assert_int_equal(st.ring_trimmed, 56);
	assert_int_equal(g->gaps, 0);
	kw_sub_close(sub);
	kw_pub_close(pub);
	close_all(&loop);
	free(g);
}

/* With none kept, a sub from an acked seq gets a gap, then the unacked. */
static void
pubsub__resume_below_the_trimmed_acked__gap_then_unacked(void **state)
{
	uv_loop_t loop;
	struct got *g = calloc(1, sizeof(*g));
	struct got *g2 = calloc(1, sizeof(*g2));
	struct kw_sub_cb cb = { on_msg, on_event, g };
	struct kw_sub_cb cb2 = { on_msg, on_event, g2 };
	struct kw_pub *pub;
	struct kw_sub *sub, *late;
	struct kw_pub_stats st;
	struct want w = { g, 100 };
	size_t i;

	(void)state;
	uv_loop_init(&loop);
	pub = new_pub_acked(&loop, 1 << 20, 0);
	sub = kw_sub_new(&loop, sockpath, "decider", 1, &cb);
	kw_sub_start(sub);
	assert_true(run_until(&loop, is_connected, g, 2000));
	publish(pub, 100);
	assert_true(run_until(&loop, has_n, &w, 2000));
	kw_sub_ack(sub, 50);
	want_acked = 50;
	assert_true(run_until(&loop, acked_want, pub, 2000));
	kw_pub_stats(pub, &st);
	assert_int_equal(st.oldest_seq, 51);
	assert_int_equal(st.acked_bytes, 0);
	assert_int_equal(st.ring_trimmed, 50);
	late = kw_sub_new(&loop, sockpath, "decider", 0, &cb2);
	kw_sub_resume_from(late, st.epoch, 9, 0);
	kw_sub_start(late);
	w.g = g2;
	w.n = 50;
	assert_true(run_until(&loop, has_n, &w, 2000));
	assert_int_equal(g2->gaps, 1);
	assert_int_equal(g2->gap_from, 10);
	assert_int_equal(g2->gap_to, 50);
	for (i = 0; i < g2->n; i++)
		assert_int_equal(g2->seqs[i], 51 + i);
	/* Everything acked: the ring is empty, the next seq still served. */
	kw_sub_ack(sub, 100);
	want_acked = 100;
	assert_true(run_until(&loop, acked_want, pub, 2000));
	kw_pub_stats(pub, &st);
	assert_int_equal(st.ring_msgs, 0);
	assert_int_equal(st.ring_bytes, 0);
	assert_int_equal(st.oldest_seq, 0);
	publish(pub, 1);
	w.n = 51;
	assert_true(run_until(&loop, has_n, &w, 2000));
	assert_int_equal(g2->seqs[50], 101);
	kw_sub_close(late);
	kw_sub_close(sub);
	kw_pub_close(pub);
	close_all(&loop);
	free(g2);
	free(g);
}

/*
 * A connected client that does not read keeps what it has yet to be
 * handed, acked or not; once it is gone, the acked ones go.
 */
static void
pub__acked_but_a_client_waits_for_them__kept_until_it_goes(void **state)
{
	uv_loop_t loop;
	struct got *g = calloc(1, sizeof(*g));
	struct kw_sub_cb cb = { on_msg, on_event, g };
	struct kw_pub_opts o = { 0 };
	struct kw_pub *pub;
	struct kw_sub *sub;
	struct kw_pub_stats st;
	struct want w = { g, 100 };
	int fd, sz = 4096, i;

	(void)state;
	uv_loop_init(&loop);
	o.ring_bytes = 8 << 20;
	o.high_water = 64 << 10;
	o.bound_acked = 1;
	pub = kw_pub_new(&loop, sockpath, "decider", &o);
	assert_int_equal(kw_pub_start(pub), 0);
	sub = kw_sub_new(&loop, sockpath, "decider", 1, &cb);
	kw_sub_start(sub);
	assert_true(run_until(&loop, is_connected, g, 2000));
	fd = raw_client(NULL, 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	uv_run(&loop, UV_RUN_NOWAIT);
	publish_big(pub, 100, 16000);
	assert_true(run_until(&loop, has_n, &w, 5000));
	kw_sub_ack(sub, 100);
	want_acked = 100;
	assert_true(run_until(&loop, acked_want, pub, 2000));
	kw_pub_stats(pub, &st);
	assert_int_equal(st.clients, 2);
	/* Handed a few (its high watermark): the rest wait in the ring. */
	assert_true(st.oldest_seq > 1);
	assert_true(st.oldest_seq < 20);
	assert_true(st.acked_bytes > 64 << 10);
	close(fd);
	for (i = 0; i < 1000 && st.clients > 1; i++) {
		uv_run(&loop, UV_RUN_NOWAIT);
		usleep(1000);
		kw_pub_stats(pub, &st);
	}
	assert_int_equal(st.clients, 1);
	publish_big(pub, 1, 16000);
	kw_pub_stats(pub, &st);
	assert_int_equal(st.acked_bytes, 0);
	assert_int_equal(st.oldest_seq, 101);
	kw_sub_close(sub);
	kw_pub_close(pub);
	close_all(&loop);
	free(g);
}

static void
pub__replays_over_the_limit__client_cut_and_counted(void **state)
{
	uv_loop_t loop;
	struct kw_pub_opts o = { 0 };
	struct kw_pub *pub;
	struct kw_pub_stats st;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int fd, i;

	(void)state;
	uv_loop_init(&loop);
	o.ring_bytes = 1 << 20;
	o.replays = 3;
	o.replay_ms = 60000;
	pub = kw_pub_new(&loop, sockpath, "decider", &o);
	assert_int_equal(kw_pub_start(pub), 0);
	publish_big(pub, 8, 100 << 10);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	for (i = 0; i < 4; i++)
		kw_pack_sub(&pk, 0, 1, 0);
	fd = raw_client(sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
	assert_true(closed_by_peer(&loop, fd, 3000));
	kw_pub_stats(pub, &st);
	assert_int_equal(st.replays_refused, 1);
	assert_int_equal(st.clients, 0);
	/* Three in the interval are fine. */
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	for (i = 0; i < 3; i++)
		kw_pack_sub(&pk, 0, 1, 0);
	close(fd);
	fd = raw_client(sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
	assert_false(closed_by_peer(&loop, fd, 300));
	kw_pub_stats(pub, &st);
	assert_int_equal(st.replays_refused, 1);
	close(fd);
	kw_pub_close(pub);
	close_all(&loop);
}

static void
pub__many_clients_replaying_never_reading__bytes_shared(void **state)
{
	uv_loop_t loop;
	struct kw_pub_opts o = { 0 };
	struct kw_pub *pub;
	struct kw_pub_stats st;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int fd[40], i, sz = 4096;

	(void)state;
	uv_loop_init(&loop);
	o.ring_bytes = 2 << 20;
	o.high_water = 1 << 20;
	pub = kw_pub_new(&loop, sockpath, "reader", &o);
	assert_int_equal(kw_pub_start(pub), 0);
	publish_big(pub, 20, 100 << 10);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	kw_pack_sub(&pk, 0, 1, 0);
	for (i = 0; i < 40; i++) {
		fd[i] = raw_client(sb.data, sb.size);
		setsockopt(fd[i], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
		uv_run(&loop, UV_RUN_NOWAIT);
	}
	msgpack_sbuffer_destroy(&sb);
	for (i = 0; i < 50; i++) {
		uv_run(&loop, UV_RUN_NOWAIT);
		usleep(1000);
	}
	kw_pub_stats(pub, &st);
	assert_int_equal(st.clients, 40);
	assert_true(st.bytes_out > 20ull * (1 << 20)); /* 40 x 1 MiB handed */
	/* What they wait for is the ring's bytes, not 40 copies. */
	assert_true(st.held_bytes <= st.ring_bytes + (64 << 10));
	for (i = 0; i < 40; i++)
		close(fd[i]);
	for (i = 0; i < 50 && st.clients > 0; i++) {
		uv_run(&loop, UV_RUN_NOWAIT);
		usleep(1000);
		kw_pub_stats(pub, &st);
	}
	assert_int_equal(st.clients, 0);
	assert_true(st.held_bytes <= st.ring_bytes + 1024);
	kw_pub_close(pub);
	close_all(&loop);
}

static int
sub_refused(void *arg)
{
	struct kw_sub_stats st;

	kw_sub_stats(arg, &st);
	return strstr(st.last_error, "declared size") != NULL;
}

/* A hostile producer: hello, then an array count cut after its type byte. */
static void
sub__count_split_after_a_pause__refused(void **state)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	uv_loop_t loop;
	struct got *g = calloc(1, sizeof(*g));
	struct kw_sub_cb cb = { on_msg, on_event, g };
	struct kw_sub *sub;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int lfd, fd = -1, i;

	(void)state;
	uv_loop_init(&loop);
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sockpath);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(lfd, 1), 0);
	fcntl(lfd, F_SETFL, O_NONBLOCK);
	sub = kw_sub_new(&loop, sockpath, "decider", 0, &cb);
	kw_sub_start(sub);
	for (i = 0; i < 2000 && fd == -1; i++) {
		uv_run(&loop, UV_RUN_NOWAIT);
		fd = accept(lfd, NULL, NULL);
		usleep(1000);
	}
	assert_true(fd != -1);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	kw_pack_hello(&pk, "decider", 7, 0, 1);
	assert_int_equal(write(fd, sb.data, sb.size), (ssize_t)sb.size);
	msgpack_sbuffer_destroy(&sb);
	assert_true(run_until(&loop, is_connected, g, 2000));
	assert_int_equal(write(fd, "\xdd", 1), 1);
	for (i = 0; i < 20; i++) {
		uv_run(&loop, UV_RUN_NOWAIT);
		usleep(1000);
	}
	assert_int_equal(write(fd, "\x7f\xff\xff\xff", 4), 4);
	assert_true(run_until(&loop, sub_refused, sub, 2000));
	close(fd);
	close(lfd);
	unlink(sockpath);
	kw_sub_close(sub);
	close_all(&loop);
	free(g);
}

/*
 * Clients that never read, each under its own high watermark, together
 * over limits.stream_queued_bytes: the one with the most queued is cut
 * (counted), the rest and a reading client go on, and what is queued
 * stays under the total.
 */
static void
pub__queued_bytes_over_the_total__biggest_client_cut(void **state)
{
	uv_loop_t loop;
	struct kw_pub_opts o = { 0 };
	struct kw_pub *pub;
	struct kw_pub_stats st;
	uint64_t hits = kw_limit_count(KW_HIT_STREAM_QUEUED_BYTES);
	char big[16384], sink[65536];
	int fd[8], reader, i, k, sz = 4096;
	ssize_t n;
	uint64_t got = 0;

	(void)state;
	uv_loop_init(&loop);
	o.ring_bytes = 16 << 20;
	o.high_water = 256 << 10;
	o.queued_bytes = 1 << 20; /* four clients' high watermarks */
	pub = kw_pub_new(&loop, sockpath, "reader", &o);
	assert_int_equal(kw_pub_start(pub), 0);
	for (i = 0; i < 8; i++) {
		fd[i] = raw_client(NULL, 0);
		setsockopt(fd[i], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
		uv_run(&loop, UV_RUN_NOWAIT);
	}
	reader = raw_client(NULL, 0);
	fcntl(reader, F_SETFL, O_NONBLOCK);
	uv_run(&loop, UV_RUN_NOWAIT);
	memset(big, 'x', sizeof(big));
	for (i = 0; i < 100; i++) {
		msgpack_packer *pk = kw_pub_begin(pub, KW_MSG_SYS, 1);

		kw_pack_str(pk, "pad");
		msgpack_pack_str(pk, sizeof(big));
		msgpack_pack_str_body(pk, big, sizeof(big));
		kw_pub_commit(pub);
		for (k = 0; k < 5; k++) {
			uv_run(&loop, UV_RUN_NOWAIT);
			while ((n = read(reader, sink, sizeof(sink))) > 0)
				got += (uint64_t)n;
		}
		kw_pub_stats(pub, &st);
		assert_true(
		    st.queued_bytes <= o.queued_bytes + sizeof(big) + 64);
	}
	/* The reader drains what is left: it was never cut. */
	for (k = 0; k < 1000 && got < 100 * sizeof(big); k++) {
		uv_run(&loop, UV_RUN_NOWAIT);
		while ((n = read(reader, sink, sizeof(sink))) > 0)
			got += (uint64_t)n;
		usleep(1000);
	}
	assert_true(got >= 100 * sizeof(big));
	assert_true(st.queued_cut >= 4);
	assert_true(st.clients >= 2); /* the reader, and who fits */
	assert_true(kw_limit_count(KW_HIT_STREAM_QUEUED_BYTES) >=
	    hits + st.queued_cut);
	for (i = 0; i < 8; i++)
		close(fd[i]);
	close(reader);
	kw_pub_close(pub);
	close_all(&loop);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    pubsub__live_client__gets_every_message_in_order),
		cmocka_unit_test(
		    pubsub__resume_point__replays_the_rest_exactly_once),
		cmocka_unit_test(pubsub__resume_out_of_ring__gap_then_oldest),
		cmocka_unit_test(
		    pubsub__ring_bounded_by_messages__gap_then_newest),
		cmocka_unit_test(pub__sizes_swing__each_message_whole),
		cmocka_unit_test(
		    pubsub__producer_restart__durable_client_takes_new_epoch_from_1),
		cmocka_unit_test(
		    pubsub__producer_restart_after_end__counted_clean),
		cmocka_unit_test(
		    pubsub__garbage_from_client__that_client_cut_others_served),
		cmocka_unit_test(
		    pubsub__client_that_never_reads__cut_off_producer_goes_on),
		cmocka_unit_test(
		    flow__over_high_water__paused_until_under_low),
		cmocka_unit_test(flow__backlog_past_hard_limit__cut),
		cmocka_unit_test(
		    pubsub__messages_larger_than_the_ring__still_delivered),
		cmocka_unit_test(
		    pubsub__burst_over_the_ring__live_client_gets_all),
		cmocka_unit_test(pubsub__full_ring_replay_after_gap__not_cut),
		cmocka_unit_test(
		    pub__regular_file_at_socket_path__refused_and_kept),
		cmocka_unit_test(pub__second_instance_on_same_path__refused),
		cmocka_unit_test(
		    pub__more_clients_than_the_limit__refused_and_counted),
		cmocka_unit_test(
		    pub__queued_bytes_over_the_total__biggest_client_cut),
		cmocka_unit_test(
		    pub__ack_not_durable_or_past_seq__ignored_and_counted),
		cmocka_unit_test(
		    pub__acked_over_their_budget__trimmed_unacked_kept),
		cmocka_unit_test(
		    pubsub__resume_below_the_trimmed_acked__gap_then_unacked),
		cmocka_unit_test(
		    pub__acked_but_a_client_waits_for_them__kept_until_it_goes),
		cmocka_unit_test(
		    pub__replays_over_the_limit__client_cut_and_counted),
		cmocka_unit_test(
		    pub__many_clients_replaying_never_reading__bytes_shared),
		cmocka_unit_test(sub__count_split_after_a_pause__refused),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
