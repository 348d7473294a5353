/*
 * What every kwarden daemon does the same way: command line and config,
 * logging, run directory, signals, systemd readiness and watchdog, the
 * common part of `status`, and a clean end of the loop.
 */
#include <sys/stat.h>

#include <errno.h>
#include <grp.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <systemd/sd-daemon.h>

#include "kwarden.h"

static uv_timer_t watchdog;
static int watchdog_on;
static uint64_t stop_requested_ns;

/* One directory: made with exactly mode whatever the umask; kept if there. */
static int
mkdir_mode(const char *path, int mode)
{
	if (mkdir(path, mode) == -1)
		return errno == EEXIST ? 0 : -1;
	return chmod(path, mode);
}

/*
 * mkdir -p for the run and state directories. What it makes gets mode
 * exactly; what exists is left as it is.
 */
int
kw_mkdir_p(const char *path, int mode)
{
	char buf[4096], *p;

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir_mode(buf, mode) == -1)
			return -1;
		*p = '/';
	}
	return mkdir_mode(buf, mode);
}

static void
noop_close(uv_handle_t *h)
{
	(void)h;
}

static void
on_signal(uv_signal_t *s, int signum)
{
	struct kw_daemon *d = s->data;

	if (signum == SIGHUP) {
		log_info("SIGHUP: reloading");
		if (d->on_reload)
			d->on_reload(d);
		return;
	}
	if (d->stopping) {
		/*
		 * Ctrl-C reaches the whole process group, and kwarden-run
		 * passes it on too: a repeat within a second is the same
		 * request. A later one means "now".
		 */
		if (kw_mono_ns() - stop_requested_ns < 1000000000ull)
			return;
		log_warnx("%s again while stopping: exiting now",
		    strsignal(signum));
		_exit(1);
	}
	stop_requested_ns = kw_mono_ns();
	log_info("%s: stopping", strsignal(signum));
	d->stopping = 1;
	/*
	 * The signal handlers stay installed (unreferenced, they do not keep
	 * the loop alive) so that a repeated signal is not fatal by default.
	 */
	if (watchdog_on) {
		watchdog_on = 0;
		uv_close((uv_handle_t *)&watchdog, noop_close);
	}
	sd_notify(0, "STOPPING=1");
	if (d->on_stop)
		d->on_stop(d);
}

static void
stop_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
}

static void
warm_work(uv_work_t *req)
{
	(void)req;
}

static void
warm_done(uv_work_t *req, int status)
{
	(void)req;
	(void)status;
}

/*
 * Start libuv's worker threads now, with the stop signals blocked, so
 * they inherit the mask: a signal then always reaches the loop's thread,
 * and once that thread blocks them too at exit, none can meet the default
 * action in a worker.
 */
static void
start_workers_masked(uv_loop_t *loop)
{
	static uv_work_t warm;
	sigset_t set, old;

	stop_signals(&set);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	uv_queue_work(loop, &warm, warm_work, warm_done);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

void
kw_daemon_init(struct kw_daemon *d, uv_loop_t *loop, int argc, char **argv,
    const char *name, const char *usage_extra)
{
	char key[64];
	enum kw_log_level level = KW_LOG_INFO;
	const char *run_dir, *group;
	struct kw_limits limits;

	memset(d, 0, sizeof(*d));
	d->loop = loop;
	d->name = name;
	d->start_mono_ns = kw_mono_ns();
	d->conf = kw_conf_cli(argc, argv, name, usage_extra);
	snprintf(key, sizeof(key), "%s.log_level", name);
	(void)kw_log_parse_level(kw_conf_str(d->conf, key), &level);
	kw_log_init(name, level);
	signal(SIGPIPE, SIG_IGN);
	group = kw_conf_str(d->conf, "paths.socket_group");
	if (group[0] != '\0') {
		struct group *gr = getgrnam(group);

		if (gr == NULL) {
			log_warnx("config: paths.socket_group: no group "
				  "\"%s\"",
			    group);
			exit(2);
		}
		kw_listen_set_group(gr->gr_gid);
	}
	kw_limits_from_conf(d->conf, &limits);
	kw_limits_set(&limits);
	run_dir = kw_conf_str(d->conf, "paths.run_dir");
	/* The sockets' group may pass; others have no business there. */
	if (kw_mkdir_p(run_dir, 0750) == -1)
		fatal("%s: cannot create the run directory", run_dir);
	uv_signal_init(loop, &d->sigint);
	uv_signal_init(loop, &d->sigterm);
	uv_signal_init(loop, &d->sighup);
	d->sigint.data = d->sigterm.data = d->sighup.data = d;
	uv_signal_start(&d->sigint, on_signal, SIGINT);
	uv_signal_start(&d->sigterm, on_signal, SIGTERM);
	uv_signal_start(&d->sighup, on_signal, SIGHUP);
	start_workers_masked(loop);
	uv_unref((uv_handle_t *)&d->sigint);
	uv_unref((uv_handle_t *)&d->sigterm);
	uv_unref((uv_handle_t *)&d->sighup);
}

static void
watchdog_ping(uv_timer_t *t)
{
	(void)t;
	sd_notify(0, "WATCHDOG=1");
}

void
kw_daemon_ready(struct kw_daemon *d)
{
	uint64_t usec = 0;

	sd_notifyf(0, "READY=1\nSTATUS=kwarden-%s running\nMAINPID=%lu",
	    d->name, (unsigned long)getpid());
	if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
		uv_timer_init(d->loop, &watchdog);
		uv_timer_start(&watchdog, watchdog_ping, 0,
		    usec / 2000 ? usec / 2000 : 1);
		watchdog_on = 1;
	}
	log_info("ready");
}

void
kw_daemon_close(struct kw_daemon *d)
{
	uv_handle_t *hs[] = {
		(uv_handle_t *)&d->sigint,
		(uv_handle_t *)&d->sigterm,
		(uv_handle_t *)&d->sighup,
	};
	size_t i;

	for (i = 0; i < sizeof(hs) / sizeof(hs[0]); i++)
		if (!uv_is_closing(hs[i]))
			uv_close(hs[i], noop_close);
	if (watchdog_on) {
		watchdog_on = 0;
		uv_close((uv_handle_t *)&watchdog, noop_close);
	}
}

/* The stream figures every status shows, by the same names everywhere. */
json_t *
kw_pub_stats_json(const struct kw_pub_stats *ps)
{
	return json_pack(
	    "{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
	    "epoch", (json_int_t)ps->epoch, "seq", (json_int_t)ps->seq,
	    "oldest_seq", (json_int_t)ps->oldest_seq, "ring_bytes",
	    (json_int_t)ps->ring_bytes, "ring_msgs", (json_int_t)ps->ring_msgs,
	    "clients", (json_int_t)ps->clients, "clients_cut",
	    (json_int_t)ps->clients_cut, "clients_bad",
	    (json_int_t)ps->clients_bad, "acked_seq",
	    (json_int_t)ps->acked_seq, "bytes_out", (json_int_t)ps->bytes_out,
	    "held_bytes", (json_int_t)ps->held_bytes, "queued_bytes",
	    (json_int_t)ps->queued_bytes, "acked_bytes",
	    (json_int_t)ps->acked_bytes, "ring_trimmed",
	    (json_int_t)ps->ring_trimmed, "subs", (json_int_t)ps->subs);
}

json_t *
kw_sub_stats_json(const struct kw_sub_stats *ss, const char *stream)
{
	return json_pack("{s:s,s:b,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:s}", "stream",
	    stream, "connected", ss->connected, "epoch", (json_int_t)ss->epoch,
	    "last_seq", (json_int_t)ss->last_seq, "received",
	    (json_int_t)ss->received, "gaps", (json_int_t)ss->gaps,
	    "reconnects", (json_int_t)ss->reconnects, "restarts_clean",
	    (json_int_t)ss->restarts_clean, "restarts_lossy",
	    (json_int_t)ss->restarts_lossy, "last_error", ss->last_error);
}

json_t *
kw_daemon_status(const struct kw_daemon *d)
{
	json_t *o = json_object(), *lim;
	uint64_t ts = 0;
	const char *last = kw_log_last_error(&ts);
	int i;

	json_object_set_new(o, "daemon", json_string(d->name));
	json_object_set_new(o, "version", json_string(KW_VERSION));
	json_object_set_new(o, "pid", json_integer(getpid()));
	json_object_set_new(o, "uptime_s",
	    json_real((double)(kw_mono_ns() - d->start_mono_ns) / 1e9));
	json_object_set_new(o, "errors",
	    json_integer((json_int_t)kw_log_error_count()));
	json_object_set_new(o, "last_error", json_string(last ? last : ""));
	json_object_set_new(o, "last_error_ts",
	    json_integer((json_int_t)(ts / 1000000000ull)));
	lim = json_object();
	for (i = 0; i < KW_HIT__COUNT; i++)
		json_object_set_new(lim, kw_limit_name(i),
		    json_integer((json_int_t)kw_limit_count(i)));
	json_object_set_new(o, "limits", lim);
	return o;
}

static void
report_open(uv_handle_t *h, void *arg)
{
	(void)arg;
	log_warnx("handle still open at exit: %s",
	    uv_handle_type_name(uv_handle_get_type(h)));
}

int
kw_daemon_run(struct kw_daemon *d)
{
	sigset_t stopsigs;
	int rc;

	uv_run(d->loop, UV_RUN_DEFAULT);
	/*
	 * Everything else is closed: now the signal handlers. A stop signal
	 * still on its way (kwarden-run passes ours on) must not find the
	 * default action: block them, we are on our way out.
	 */
	stop_signals(&stopsigs);
	pthread_sigmask(SIG_BLOCK, &stopsigs, NULL);
	kw_daemon_close(d);
	uv_run(d->loop, UV_RUN_DEFAULT);
	rc = uv_loop_close(d->loop);
	if (rc != 0) {
		uv_walk(d->loop, report_open, NULL);
		log_warnx("loop did not close: %s", uv_strerror(rc));
	}
	log_info("stopped");
	kw_conf_free(d->conf);
	d->conf = NULL;
	return rc == 0 ? 0 : 1;
}
