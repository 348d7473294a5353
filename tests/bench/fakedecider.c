/*
 * fakedecider: benchmark 3's producer. Listens on a decider.sock with
 * libkwarden's kw_pub, waits for the recorder to connect, publishes N
 * `proc` records (kw_proc_rec_pack) as one burst, and waits until the
 * recorder has acked the last seq (it acks after each commit).
 *
 *   fakedecider SOCKET N
 *
 * Prints: "rows N seconds S rows_per_s R" (S from the first publish to
 * the ack of the last seq). Exit 1 when no recorder connects within 10 s
 * or the last ack does not come within 600 s.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kwarden.h"
#include "bench.h"

struct fake {
	uv_loop_t *loop;
	struct kw_pub *pub;
	uv_timer_t timer;
	uint64_t n;
	uint64_t last_seq;
	uint64_t t_start; /* mono ns */
	uint64_t t_connected;
	uint64_t t0, t1;
	int state; /* 0 wait client, 1 settle, 2 wait ack */
	int rc;
};

static void
publish(struct fake *f)
{
	struct kw_proc_rec r;
	msgpack_packer *pk;
	uint64_t i;

	memset(&r, 0, sizeof(r));
	for (i = 0; i < f->n; i++) {
		r.pid = (int32_t)(1000 + i % 30000);
		snprintf(r.name, sizeof(r.name), "worker-%" PRIu64, i % 97);
		snprintf(r.cmdline, sizeof(r.cmdline),
		    "/usr/bin/worker --id %" PRIu64
		    " --config /etc/worker.conf",
		    i);
		if (i % 4 == 0)
			memset(r.container_id, 'a' + (int)(i % 6), 64);
		else
			r.container_id[0] = '\0';
		r.container_id[64] = '\0';
		r.cpu_pct = (double)(i % 1000) / 10.0;
		r.mem_pct = (double)(i % 500) / 100.0;
		r.rss_kb = 1000 + i % 100000;
		if ((pk = kw_pub_begin(f->pub, KW_MSG_PROC, KW_PROC_FIELDS)) ==
		    NULL) {
			fprintf(stderr, "fakedecider: kw_pub_begin failed\n");
			f->rc = 1;
			return;
		}
		kw_proc_rec_pack(pk, &r);
		f->last_seq = kw_pub_commit(f->pub);
	}
}

static void
on_timer(uv_timer_t *t)
{
	struct fake *f = t->data;
	struct kw_pub_stats st;
	uint64_t now = bench_wall_ns();

	kw_pub_stats(f->pub, &st);
	switch (f->state) {
	case 0:
		if (st.clients > 0) {
			f->state = 1;
			f->t_connected = now;
		} else if (now - f->t_start > 10000000000ull) {
			fprintf(stderr,
			    "fakedecider: no recorder connected\n");
			f->rc = 1;
			goto done;
		}
		return;
	case 1:
		/* let the recorder's sub (replay request) settle */
		if (now - f->t_connected < 200000000ull)
			return;
		f->t0 = bench_wall_ns();
		publish(f);
		if (f->rc != 0)
			goto done;
		f->state = 2;
		return;
	case 2:
		if (st.acked_seq >= f->last_seq) {
			f->t1 = now;
			goto done;
		}
		if (now - f->t0 > 600000000000ull) {
			fprintf(stderr,
			    "fakedecider: last ack %" PRIu64 " of %" PRIu64
			    " after 600 s\n",
			    st.acked_seq, f->last_seq);
			f->rc = 1;
			goto done;
		}
		return;
	}
	return;
done:
	uv_timer_stop(t);
	uv_close((uv_handle_t *)t, NULL);
	kw_pub_close(f->pub);
}

int
main(int argc, char **argv)
{
	struct kw_pub_opts opts;
	struct fake f;
	uv_loop_t loop;
	double s;

	if (argc != 3 || atoll(argv[2]) <= 0) {
		fprintf(stderr, "usage: fakedecider SOCKET N\n");
		return 2;
	}
	kw_log_init("fakedecider", KW_LOG_WARN);
	memset(&f, 0, sizeof(f));
	f.n = (uint64_t)atoll(argv[2]);
	uv_loop_init(&loop);
	f.loop = &loop;
	memset(&opts, 0, sizeof(opts));
	opts.ring_bytes = 1024u << 20; /* every record fits: no cut */
	opts.mode = 0600;
	if ((f.pub = kw_pub_new(&loop, argv[1], "decider", &opts)) == NULL ||
	    kw_pub_start(f.pub) == -1)
		return 1;
	f.t_start = bench_wall_ns();
	uv_timer_init(&loop, &f.timer);
	f.timer.data = &f;
	uv_timer_start(&f.timer, on_timer, 1, 1);
	uv_run(&loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&loop) != 0)
		fprintf(stderr, "fakedecider: loop not closed cleanly\n");
	if (f.rc == 0) {
		s = (f.t1 - f.t0) / 1e9;
		printf("rows %" PRIu64 " seconds %.3f rows_per_s %.0f\n", f.n,
		    s, f.n / s);
	}
	return f.rc;
}
