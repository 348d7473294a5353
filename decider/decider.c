/*
 * kwarden-decider: reads snapshots from the reader, runs the engine's
 * sample step on each (engine.c) and has carry.c carry out what it
 * returns: records on the stream (publish.c), calls to Docker (docker.c),
 * log lines. Here: the loop's wiring, reload, stop and main; the settings
 * are read in conf.c, the state files in persist.c, the control views
 * are in views.c.
 */
#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "decider.h"

/*
 * An action sent with no answer is settled by what Docker says: gone or
 * stopped is done; still running this long after is a failure (retried).
 */
#define SETTLE_MIN_MS 60000

/* The engine's step on dz->snap, now the reader's message msg. */
static void
step(struct decider *dz, const struct kw_msg *msg)
{
	struct engine_docker dv;

	if (dz->snap.ts_ns == 0)
		dz->snap.ts_ns = msg->ts_ns;
	dv.connected = dz->docker != NULL && docker_connected(dz->docker);
	dv.table = dz->docker != NULL ? docker_get_table(dz->docker) : NULL;
	decider_attribute(dz, dv.table);
	if (engine_step(&dz->eng, &dz->snap, &dv, kw_mono_ns(), &dz->out) ==
	    -1) {
		log_warnx("snapshot seq %" PRIu64 ": out of memory: skipped",
		    msg->seq);
		return;
	}
	dz->have_snapshot = 1;
	dz->last_seq = msg->seq;
	dz->last_ts_ns = dz->snap.ts_ns;
	dz->last_mono_ns = kw_mono_ns();
	metrics_count_skips(dz->metrics, &dz->eng);
	decider_carry_out(dz, &dz->out);
}

static void
on_snapshot(struct decider *dz, const struct kw_msg *msg)
{
	char err[256];

	attr_forget(&dz->attr);
	dz->base_seq = 0;
	if (kw_snapshot_unpack(msg->obj, &dz->snap, err, sizeof(err)) == -1) {
		dz->bad_snapshots++;
		log_warnx("reader: snapshot seq %" PRIu64 ": %s", msg->seq,
		    err);
		return;
	}
	/* Deltas are applied by pid: the reader's order, or sorted. */
	if (!kw_snapshot_sorted(&dz->snap))
		kw_snapshot_sort(&dz->snap);
	dz->base_seq = msg->seq;
	dz->wholes++;
	dz->delta_waiting_logged = 0;
	step(dz, msg);
}

/*
 * What changed since the reader's message base: applied to the snapshot
 * that message left, as received (the claims attribution refused given
 * back first), it is the reader's whole snapshot. A delta on another base
 * (a message lost, a new subscription) waits for the next whole one, which
 * the reader sends after each subscription and each full pass.
 */
static void
on_delta(struct decider *dz, const struct kw_msg *msg)
{
	uint64_t base = 0;
	char err[256];

	if (kw_delta_unpack(msg->obj, &dz->dpass, &base, &dz->dexited, err,
		sizeof(err)) == -1) {
		dz->bad_snapshots++;
		dz->base_seq = 0;
		log_warnx("reader: delta seq %" PRIu64 ": %s", msg->seq, err);
		goto out;
	}
	if (dz->base_seq == 0 || base != dz->base_seq) {
		dz->deltas_waiting++;
		if (!dz->delta_waiting_logged)
			log_info("reader: delta seq %" PRIu64 " follows seq "
				 "%" PRIu64 ", not the snapshot held "
				 "(%" PRIu64 "): waiting for a whole one",
			    msg->seq, base, dz->base_seq);
		dz->delta_waiting_logged = 1;
		goto out;
	}
	attr_restore(&dz->snap, &dz->attr);
	if (dz->dpass.ts_ns == 0)
		dz->dpass.ts_ns = msg->ts_ns;
	if (kw_snapshot_apply(&dz->snap, &dz->dpass, dz->dexited.pids,
		dz->dexited.n, 0, err, sizeof(err)) == -1) {
		dz->bad_snapshots++;
		dz->base_seq = 0;
		log_warnx("reader: delta seq %" PRIu64 ": %s", msg->seq, err);
		goto out;
	}
	kw_snapshot_clear(&dz->dpass);
	dz->base_seq = msg->seq;
	dz->deltas++;
	step(dz, msg);
	return;
out:
	kw_snapshot_clear(&dz->dpass);
}

static void
on_msg(void *arg, const struct kw_msg *msg)
{
	struct decider *dz = arg;

	if (msg->type == KW_MSG_SNAPSHOT)
		on_snapshot(dz, msg);
	else if (msg->type == KW_MSG_DELTA)
		on_delta(dz, msg);
}

static void
on_event(void *arg, enum kw_sub_event ev, uint64_t from, uint64_t to)
{
	struct decider *dz = arg;

	if (ev == KW_SUB_GAP && to >= from)
		dz->reader_gaps += to - from + 1;
	/* A delta after this may follow a message we did not see. */
	dz->base_seq = 0;
}

/* Signals. */

static void
on_reload(struct kw_daemon *d)
{
	struct decider *dz = d->arg;
	struct kw_conf *conf;
	struct policy p;
	char err[512];

	if ((conf = kw_conf_reload(d->conf, err, sizeof(err))) == NULL) {
		log_warnx("reload: %s; keeping the old config", err);
		return;
	}
	if (policy_from_conf(conf, &p, err, sizeof(err)) == -1) {
		log_warnx("reload: %s; keeping the old config", err);
		kw_conf_free(conf);
		return;
	}
	if (strcmp(kw_conf_str(conf, "decider.docker_socket"),
		kw_conf_str(d->conf, "decider.docker_socket")) != 0 ||
	    kw_conf_ms(conf, "decider.docker_timeout") !=
		kw_conf_ms(d->conf, "decider.docker_timeout"))
		log_warnx("reload: decider.docker_socket and docker_timeout "
			  "take effect on restart");
	if (strcmp(kw_conf_str(conf, "metrics.listen"),
		kw_conf_str(d->conf, "metrics.listen")) != 0)
		log_warnx("reload: metrics.listen takes effect on restart");
	kw_conf_free(d->conf);
	d->conf = conf;
	engine_set_policy(&dz->eng, &p);
	if (dz->docker != NULL)
		docker_set_stop_timeout(dz->docker, p.stop_timeout_ms);
	dz->eng.top_k = (size_t)kw_conf_int(conf, "decider.top_k");
	decider_parents_from_conf(dz, conf);
	dz->reloads++;
	decider_policy_log(&dz->eng.policy);
	decider_publish_policy(dz, conf, "reload");
}

static void
stop_timer_closed(uv_handle_t *h)
{
	(void)h;
}

/* The stream goes last: once the recorder has what it must keep. */
static void
close_stream(struct decider *dz)
{
	if (dz->pub != NULL)
		kw_pub_close(dz->pub);
	dz->pub = NULL;
}

static void
on_stop_tick(uv_timer_t *t)
{
	struct decider *dz = t->data;
	struct kw_pub_stats ps;

	kw_pub_stats(dz->pub, &ps);
	if (ps.acked_seq >= ps.seq)
		log_info("stop: the recorder acked seq %" PRIu64,
		    ps.acked_seq);
	else if (kw_mono_ns() >= dz->stop_deadline_ns)
		log_warnx("stop: the recorder acked seq %" PRIu64
			  " of %" PRIu64 " in time; the rest is not recorded",
		    ps.acked_seq, ps.seq);
	else
		return;
	uv_close((uv_handle_t *)t, stop_timer_closed);
	close_stream(dz);
}

static void
on_stop(struct kw_daemon *d)
{
	struct decider *dz = d->arg;
	struct kw_pub_stats ps;
	uint64_t wait_ms;

	/*
	 * First, while the stream is up: a cancelled action publishes its
	 * row ("unknown: cancelled at shutdown").
	 */
	if (dz->docker != NULL)
		docker_close(dz->docker);
	dz->docker = NULL;
	hooks_close(dz->hooks);
	dz->hooks = NULL;
	if (dz->sub != NULL)
		kw_sub_close(dz->sub);
	if (dz->ctl != NULL)
		kw_ctl_close(dz->ctl);
	metrics_close(dz->metrics);
	dz->sub = NULL;
	dz->ctl = NULL;
	dz->metrics = NULL;
	if (dz->pub == NULL)
		return;
	/* The epoch's last message: the recorder knows nothing follows. */
	decider_publish_end(dz);

	/*
	 * A durable consumer (one that has acked) gets up to stop_ack_wait
	 * to ack the last seq, so a planned stop loses nothing.
	 */
	kw_pub_stats(dz->pub, &ps);
	wait_ms = kw_conf_ms(d->conf, "decider.stop_ack_wait");
	if (ps.acked_seq == 0 || ps.acked_seq >= ps.seq || wait_ms == 0) {
		log_info("stop: published seq %" PRIu64 ", the recorder acked "
			 "%" PRIu64 "%s",
		    ps.seq, ps.acked_seq,
		    ps.acked_seq == 0 ? " (no durable consumer)" : "");
		close_stream(dz);
		return;
	}
	log_info("stop: waiting up to %" PRIu64 " ms for the recorder to ack "
		 "seq %" PRIu64 " (acked %" PRIu64 ")",
	    wait_ms, ps.seq, ps.acked_seq);
	dz->stop_deadline_ns = kw_mono_ns() + wait_ms * 1000000ULL;
	uv_timer_init(d->loop, &dz->stop_timer);
	dz->stop_timer.data = dz;
	uv_timer_start(&dz->stop_timer, on_stop_tick, 20, 20);
}

static void
decider_free(struct decider *dz)
{
	evidence_store_free(dz->evid);
	(void)decider_save_strikes(dz);
	free(dz->acts_saved);
	engine_free(&dz->eng);
	engine_out_free(&dz->out);
	attr_result_free(&dz->attr);
	kw_snapshot_free(&dz->snap);
	kw_snapshot_free(&dz->dpass);
	kw_pidset_free(&dz->dexited);
	free(dz);
}

int
main(int argc, char **argv)
{
	struct decider *dz;
	struct kw_pub_opts opts;
	struct kw_sub_cb cb;
	struct policy policy;
	uint64_t settle_ms;
	uv_loop_t loop;
	char path[4096], err[512];
	int mode, rc;

	/*
	 * A fixed mmap threshold: a block over 128 KiB (the stream's buffers,
	 * the rate table) is mapped and unmapped, so its pages go back when
	 * freed; glibc's sliding threshold would move it up to the largest
	 * block freed and keep those in the heap.
	 */
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	/*
	 * One arena: the loop thread allocates nearly all (the other
	 * threads little), and every arena keeps its own free blocks.
	 */
	mallopt(M_ARENA_MAX, 1);
	if ((dz = calloc(1, sizeof(*dz))) == NULL) {
		fprintf(stderr, "kwarden-decider: out of memory\n");
		return 1;
	}
	if ((rc = uv_loop_init(&loop)) != 0) {
		fprintf(stderr, "kwarden-decider: uv_loop_init: %s\n",
		    uv_strerror(rc));
		free(dz);
		return 1;
	}
	kw_daemon_init(&dz->d, &loop, argc, argv, "decider", NULL);
	dz->d.arg = dz;
	dz->d.on_stop = on_stop;
	dz->d.on_reload = on_reload;

	if (policy_from_conf(dz->d.conf, &policy, err, sizeof(err)) == -1) {
		log_warnx("config: %s", err);
		exit(2);
	}
	decider_policy_log(&policy);
	settle_ms = kw_conf_ms(dz->d.conf, "decider.docker_timeout") * 3;
	if (settle_ms < SETTLE_MIN_MS)
		settle_ms = SETTLE_MIN_MS;
	engine_init(&dz->eng, &policy, settle_ms * 1000000ULL,
	    (size_t)kw_conf_int(dz->d.conf, "decider.top_k"));
	engine_out_init(&dz->out);
	kw_snapshot_init(&dz->snap);
	kw_snapshot_init(&dz->dpass);
	dz->attr.keep = 1;
	decider_parents_from_conf(dz, dz->d.conf);
	decider_state_paths(dz->d.conf, dz->strikes_path,
	    sizeof(dz->strikes_path), dz->acts_path, sizeof(dz->acts_path));
	decider_load_strikes(dz);
	decider_load_acts(dz,
	    policy.stop_timeout_ms +
		kw_conf_ms(dz->d.conf, "decider.docker_timeout"));
	mode = (int)kw_conf_int(dz->d.conf, "paths.socket_mode");

	memset(&opts, 0, sizeof(opts));
	opts.ring_bytes =
	    (size_t)kw_conf_size(dz->d.conf, "decider.ring_size");
	opts.bound_acked = 1;
	opts.acked_bytes =
	    (size_t)kw_conf_size(dz->d.conf, "decider.ring_acked");
	opts.mode = mode;
	kw_conf_sock_path(dz->d.conf, "decider", ".sock", path, sizeof(path));
	if ((dz->pub = kw_pub_new(&loop, path, "decider", &opts)) == NULL)
		fatalx("%s: cannot set up the stream socket", path);
	if (kw_pub_start(dz->pub) == -1)
		fatalx("%s: cannot listen", path);
	decider_publish_policy(dz, dz->d.conf, "start");

	kw_conf_sock_path(dz->d.conf, "decider", ".ctl", path, sizeof(path));
	if ((dz->ctl = kw_ctl_new(&loop, path, decider_ctl_cmds, dz, mode)) ==
	    NULL)
		fatalx("%s: cannot set up the control socket", path);
	if (kw_ctl_start(dz->ctl) == -1)
		fatalx("%s: cannot listen", path);

	memset(&cb, 0, sizeof(cb));
	cb.on_msg = on_msg;
	cb.on_event = on_event;
	cb.arg = dz;
	kw_conf_sock_path(dz->d.conf, "reader", ".sock", path, sizeof(path));
	if ((dz->sub = kw_sub_new(&loop, path, "reader", 0, &cb)) == NULL)
		fatalx("%s: cannot set up the reader connection", path);
	kw_sub_start(dz->sub);

	if ((rc = (int)curl_global_init(CURL_GLOBAL_ALL)) != 0)
		fatalx("curl_global_init: %s", curl_easy_strerror(rc));
	dz->docker =
	    docker_new(&loop, kw_conf_str(dz->d.conf, "decider.docker_socket"),
		kw_conf_ms(dz->d.conf, "decider.docker_timeout"));
	if (dz->docker == NULL)
		fatalx("docker: cannot set up the API client");
	docker_set_stop_timeout(dz->docker, policy.stop_timeout_ms);
	docker_start(dz->docker);
	decider_hooks_from_conf(dz);

	if ((dz->metrics = metrics_new(&loop, dz, err, sizeof(err))) == NULL) {
		log_warnx("config: metrics.listen: %s", err);
		exit(2);
	}

	kw_daemon_ready(&dz->d);
	rc = kw_daemon_run(&dz->d);
	decider_free(dz);
	curl_global_cleanup();
	return rc;
}
