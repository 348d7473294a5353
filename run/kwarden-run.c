/*
 * kwarden-run: foreground supervisor for machines without systemd. Starts
 * reader, decider and recorder with the same command line, restarts one
 * that dies with a doubling backoff, and stops all three on SIGINT/SIGTERM.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "kwarden.h"

#define NCHILDREN 3
/* A child that stayed up this long starts the backoff again from the start. */
#define STABLE_MS 10000

struct supervisor;

struct child {
	const char *name; /* "reader", ... */
	char path[PATH_MAX + 64];
	struct supervisor *sv;
	uv_process_t proc;
	uv_timer_t restart_timer;
	int proc_open;	     /* handle not closed yet */
	int running;	     /* the process is alive */
	uint64_t started_ms; /* uv_now() at spawn */
	uint64_t delay_ms;   /* next restart's backoff */
	uint64_t restarts;
};

struct supervisor {
	uv_loop_t *loop;
	struct kw_conf *conf;
	struct child children[NCHILDREN];
	char **argv; /* [0] set per spawn */
	uv_signal_t sigint, sigterm, sighup;
	uv_timer_t stop_timer;
	uint64_t restart_delay_ms;
	uint64_t restart_delay_max_ms;
	uint64_t stop_timeout_ms;
	int stopping;
	uint64_t stop_ns; /* when the stop began */
	int unclean;	  /* a child exited non-zero */
	int closed;
};

static const char *const child_names[NCHILDREN] = {
	"reader",
	"decider",
	"recorder",
};

static void find_binaries(struct supervisor *sv);
static void make_dir(const char *path, const char *what);
static void make_dirs(struct supervisor *sv);
static void build_argv(struct supervisor *sv);
static void child_spawn(struct child *c);
static void on_child_exit(uv_process_t *proc, int64_t status, int sig);
static void on_proc_closed(uv_handle_t *h);
static void on_restart_timer(uv_timer_t *t);
static void kill_all(struct supervisor *sv, int sig);
static void sv_stop(struct supervisor *sv, int sig);
static void sv_check_done(struct supervisor *sv);
static void on_stop_timer(uv_timer_t *t);
static void on_signal(uv_signal_t *h, int sig);
static void fmt_ms(uint64_t ms, char *buf, size_t len);
static const char *sig_name(int sig);
static void open_std_fds(void);

/*
 * KWARDEN_BINDIR, else the directory kwarden-run is in when it holds
 * kwarden-reader (installed), else the build tree (<dir>/../reader/...).
 */
static void
find_binaries(struct supervisor *sv)
{
	char exe[PATH_MAX], dir[PATH_MAX], cand[PATH_MAX + 64];
	const char *env, *layout;
	char *slash;
	ssize_t n;
	size_t i;
	int installed = 0;

	dir[0] = '\0';
	if ((env = getenv("KWARDEN_BINDIR")) != NULL && *env != '\0') {
		snprintf(dir, sizeof(dir), "%s", env);
		installed = 1;
		layout = "KWARDEN_BINDIR";
	} else {
		if ((n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) ==
		    -1) {
			log_warn("readlink /proc/self/exe");
			exit(2);
		}
		exe[n] = '\0';
		if ((slash = strrchr(exe, '/')) != NULL)
			*slash = '\0';
		snprintf(dir, sizeof(dir), "%s", exe);
		snprintf(cand, sizeof(cand), "%s/kwarden-reader", dir);
		installed = access(cand, X_OK) == 0;
		layout = installed ? "installed" : "build tree";
	}

	for (i = 0; i < NCHILDREN; i++) {
		const char *name = child_names[i];

		if (installed)
			snprintf(cand, sizeof(cand), "%s/kwarden-%s", dir,
			    name);
		else
			snprintf(cand, sizeof(cand), "%s/../%s/kwarden-%s",
			    dir, name, name);
		if (access(cand, X_OK) == -1) {
			log_warnx("no executable kwarden-%s at %s (%s): %s%s",
			    name, cand, layout, strerror(errno),
			    env != NULL && *env != '\0' ?
				"" :
				"; build it (make) or set KWARDEN_BINDIR");
			exit(2);
		}
		/* Absolute and short for the log; cand works if this fails. */
		if (realpath(cand, sv->children[i].path) == NULL)
			snprintf(sv->children[i].path,
			    sizeof(sv->children[i].path), "%s", cand);
	}
}

/*
 * mkdir -p, 0750 whatever the umask for what it makes; exits 1 with a
 * message when a part cannot be made.
 */
static void
make_dir(const char *path, const char *what)
{
	if (path == NULL || *path == '\0')
		return;
	if (kw_mkdir_p(path, 0750) == -1) {
		log_warn("%s: mkdir %s", what, path);
		exit(1);
	}
}

/* The run dir (sockets) and the database's directory. */
static void
make_dirs(struct supervisor *sv)
{
	char dbdir[PATH_MAX], *slash;
	const char *run_dir, *db;

	run_dir = kw_conf_str(sv->conf, "paths.run_dir");
	db = kw_conf_str(sv->conf, "paths.database");
	make_dir(run_dir, "run dir");
	snprintf(dbdir, sizeof(dbdir), "%s", db);
	if ((slash = strrchr(dbdir, '/')) != NULL && slash != dbdir) {
		*slash = '\0';
		make_dir(dbdir, "database dir");
	}
	log_info("sockets in %s, database %s", run_dir, db);
}

/* [binary, the shared flags..., NULL]; argv[0] is set per spawn. */
static void
build_argv(struct supervisor *sv)
{
	const char *const *flags;
	size_t nflags = 0, i;

	flags = kw_conf_argv(sv->conf, &nflags);
	if ((sv->argv = calloc(nflags + 2, sizeof(*sv->argv))) == NULL)
		fatal("calloc");
	for (i = 0; i < nflags; i++)
		sv->argv[i + 1] = (char *)flags[i];
}

static void
child_spawn(struct child *c)
{
	struct supervisor *sv = c->sv;
	uv_process_options_t opts;
	uv_stdio_container_t stdio[3];
	int i, r;

	memset(&opts, 0, sizeof(opts));
	for (i = 0; i < 3; i++) {
		stdio[i].flags = UV_INHERIT_FD;
		stdio[i].data.fd = i;
	}
	sv->argv[0] = c->path;
	opts.file = c->path;
	opts.args = sv->argv;
	opts.exit_cb = on_child_exit;
	opts.stdio = stdio;
	opts.stdio_count = 3;

	c->started_ms = uv_now(sv->loop);
	r = uv_spawn(sv->loop, &c->proc, &opts);
	c->proc.data = c;
	/* The handle is initialised even when the spawn failed. */
	c->proc_open = 1;
	if (r != 0) {
		log_warnx("%s: cannot start %s: %s", c->name, c->path,
		    uv_strerror(r));
		uv_close((uv_handle_t *)&c->proc, on_proc_closed);
		return;
	}
	c->running = 1;
	if (c->restarts > 0)
		log_info("started %s, pid %d (restart %" PRIu64 ")", c->name,
		    c->proc.pid, c->restarts);
	else
		log_info("started %s, pid %d", c->name, c->proc.pid);
}

static void
on_child_exit(uv_process_t *proc, int64_t status, int sig)
{
	struct child *c = proc->data;
	struct supervisor *sv = c->sv;

	c->running = 0;
	if (sig != 0)
		log_warnx("%s killed by signal %d (%s)", c->name, sig,
		    strsignal(sig));
	else if (status != 0)
		log_warnx("%s exited with status %" PRId64, c->name, status);
	else if (sv->stopping)
		log_info("%s exited with status 0", c->name);
	else
		log_warnx("%s exited with status 0", c->name);
	if (sv->stopping && (sig != 0 || status != 0))
		sv->unclean = 1;
	uv_close((uv_handle_t *)proc, on_proc_closed);
}

static void
on_proc_closed(uv_handle_t *h)
{
	struct child *c = h->data;
	struct supervisor *sv = c->sv;
	char delay[32];
	uint64_t up_ms;

	c->proc_open = 0;
	if (sv->stopping) {
		sv_check_done(sv);
		return;
	}
	up_ms = uv_now(sv->loop) - c->started_ms;
	if (up_ms >= STABLE_MS)
		c->delay_ms = sv->restart_delay_ms;
	fmt_ms(c->delay_ms, delay, sizeof(delay));
	log_info("restarting %s in %s", c->name, delay);
	uv_timer_start(&c->restart_timer, on_restart_timer, c->delay_ms, 0);
	c->delay_ms = kw_backoff_next(c->delay_ms, sv->restart_delay_max_ms);
	if (c->delay_ms == 0)
		c->delay_ms = 1;
}

static void
on_restart_timer(uv_timer_t *t)
{
	struct child *c = t->data;

	if (c->sv->stopping || c->proc_open)
		return;
	c->restarts++;
	child_spawn(c);
}

static void
kill_all(struct supervisor *sv, int sig)
{
	struct child *c;
	size_t i;
	int r;

	for (i = 0; i < NCHILDREN; i++) {
		c = &sv->children[i];
		if (!c->running)
			continue;
		if ((r = uv_process_kill(&c->proc, sig)) != 0 && r != UV_ESRCH)
			log_warnx("%s: kill %d: %s", c->name, sig,
			    uv_strerror(r));
	}
}

/*
 * SIGTERM to every child; SIGKILL after stop_timeout or a second signal
 * more than a second after the first.
 */
static void
sv_stop(struct supervisor *sv, int sig)
{
	char timeout[32];
	size_t i;

	if (sv->stopping) {
		/*
		 * Ctrl-C and `timeout` signal the whole process group, and
		 * timeout signals us twice: a repeat within a second is the
		 * same request. A later one means "now".
		 */
		if (kw_mono_ns() - sv->stop_ns < 1000000000ull)
			return;
		log_warnx("%s again: killing what is left", sig_name(sig));
		sv->unclean = 1;
		kill_all(sv, SIGKILL);
		return;
	}
	sv->stopping = 1;
	sv->stop_ns = kw_mono_ns();
	fmt_ms(sv->stop_timeout_ms, timeout, sizeof(timeout));
	log_info("%s: stopping (SIGTERM, SIGKILL after %s)", sig_name(sig),
	    timeout);
	for (i = 0; i < NCHILDREN; i++)
		uv_timer_stop(&sv->children[i].restart_timer);
	kill_all(sv, SIGTERM);
	uv_timer_start(&sv->stop_timer, on_stop_timer, sv->stop_timeout_ms, 0);
	sv_check_done(sv);
}

static void
on_stop_timer(uv_timer_t *t)
{
	struct supervisor *sv = t->data;
	size_t i;

	for (i = 0; i < NCHILDREN; i++)
		if (sv->children[i].running)
			log_warnx("%s still running after stop_timeout: "
				  "SIGKILL",
			    sv->children[i].name);
	sv->unclean = 1;
	kill_all(sv, SIGKILL);
}

/* Once every child is gone, close our own handles: the loop then ends. */
static void
sv_check_done(struct supervisor *sv)
{
	size_t i;

	if (sv->closed)
		return;
	for (i = 0; i < NCHILDREN; i++)
		if (sv->children[i].proc_open)
			return;
	sv->closed = 1;
	for (i = 0; i < NCHILDREN; i++)
		uv_close((uv_handle_t *)&sv->children[i].restart_timer, NULL);
	uv_close((uv_handle_t *)&sv->stop_timer, NULL);
	uv_close((uv_handle_t *)&sv->sigint, NULL);
	uv_close((uv_handle_t *)&sv->sigterm, NULL);
	uv_close((uv_handle_t *)&sv->sighup, NULL);
}

static void
on_signal(uv_signal_t *h, int sig)
{
	struct supervisor *sv = h->data;

	if (sig == SIGHUP) {
		if (sv->stopping)
			return;
		log_info("SIGHUP: passing it on to the children");
		kill_all(sv, SIGHUP);
		return;
	}
	sv_stop(sv, sig);
}

/*
 * Started with stdin (or more) closed, libuv would take fd 0 for its own
 * use (and assert on closing it) and the children would inherit nothing.
 */
static void
open_std_fds(void)
{
	int fd;

	for (fd = 0; fd < 3; fd++) {
		if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
			continue;
		if (open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY) == -1)
			exit(1);
	}
}

static const char *
sig_name(int sig)
{
	switch (sig) {
	case SIGINT:
		return "SIGINT";
	case SIGTERM:
		return "SIGTERM";
	case SIGHUP:
		return "SIGHUP";
	default:
		return strsignal(sig);
	}
}

static void
fmt_ms(uint64_t ms, char *buf, size_t len)
{
	if (ms % 1000 == 0)
		snprintf(buf, len, "%" PRIu64 "s", ms / 1000);
	else
		snprintf(buf, len, "%" PRIu64 "ms", ms);
}

int
main(int argc, char **argv)
{
	struct supervisor sv;
	enum kw_log_level level = KW_LOG_INFO;
	const char *name;
	uv_loop_t loop;
	struct child *c;
	size_t i;
	int r;

	open_std_fds();
	kw_log_init("kwarden-run", KW_LOG_INFO);
	memset(&sv, 0, sizeof(sv));
	sv.conf = kw_conf_cli(argc, argv, "run",
	    "Starts kwarden-reader, kwarden-decider and kwarden-recorder with "
	    "the same\nflags, restarts one that dies, stops all three on "
	    "SIGINT/SIGTERM.\nBinaries: $KWARDEN_BINDIR, else next to "
	    "kwarden-run, else the build tree.\n");
	name = kw_conf_str(sv.conf, "run.log_level");
	if (kw_log_parse_level(name, &level) == -1) {
		log_warnx("run.log_level: \"%s\" is not "
			  "debug/info/warn/error",
		    name ? name : "");
		exit(2);
	}
	kw_log_init("kwarden-run", level);
	sv.restart_delay_ms = kw_conf_ms(sv.conf, "run.restart_delay");
	sv.restart_delay_max_ms = kw_conf_ms(sv.conf, "run.restart_delay_max");
	sv.stop_timeout_ms = kw_conf_ms(sv.conf, "run.stop_timeout");
	if (sv.restart_delay_max_ms < sv.restart_delay_ms)
		sv.restart_delay_max_ms = sv.restart_delay_ms;

	find_binaries(&sv);
	make_dirs(&sv);
	build_argv(&sv);
	for (i = 0; i < NCHILDREN; i++)
		log_info("%s: %s", child_names[i], sv.children[i].path);

	if ((r = uv_loop_init(&loop)) != 0)
		fatalx("uv_loop_init: %s", uv_strerror(r));
	sv.loop = &loop;
	uv_timer_init(&loop, &sv.stop_timer);
	sv.stop_timer.data = &sv;
	uv_signal_init(&loop, &sv.sigint);
	uv_signal_init(&loop, &sv.sigterm);
	uv_signal_init(&loop, &sv.sighup);
	sv.sigint.data = sv.sigterm.data = sv.sighup.data = &sv;
	uv_signal_start(&sv.sigint, on_signal, SIGINT);
	uv_signal_start(&sv.sigterm, on_signal, SIGTERM);
	uv_signal_start(&sv.sighup, on_signal, SIGHUP);
	signal(SIGPIPE, SIG_IGN);

	for (i = 0; i < NCHILDREN; i++) {
		c = &sv.children[i];
		c->name = child_names[i];
		c->sv = &sv;
		c->delay_ms = sv.restart_delay_ms ? sv.restart_delay_ms : 1;
		uv_timer_init(&loop, &c->restart_timer);
		c->restart_timer.data = c;
	}
	for (i = 0; i < NCHILDREN; i++)
		child_spawn(&sv.children[i]);

	uv_run(&loop, UV_RUN_DEFAULT);
	if ((r = uv_loop_close(&loop)) != 0)
		log_warnx("uv_loop_close: %s", uv_strerror(r));

	log_info("stopped%s", sv.unclean ? " (not cleanly)" : "");
	free(sv.argv);
	kw_conf_free(sv.conf);
	return sv.unclean ? 1 : 0;
}
