/*
 * libkwarden: what the three daemons and the tools share.
 * Logging, configuration and command line, the msgpack stream protocol,
 * pub/sub over unix sockets, control sockets and cgroup parsing.
 */
#ifndef KWARDEN_H
#define KWARDEN_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <uv.h>

#include "proto.h"

#define KW_VERSION "0.1.0"

#define KW_CONTAINER_ID_LEN (KW_CID_LEN - 1) /* 64 hex digits */

/* log.c */
enum kw_log_level {
	KW_LOG_DEBUG,
	KW_LOG_INFO,
	KW_LOG_WARN,
	KW_LOG_ERROR,
};

void kw_log_init(const char *progname, enum kw_log_level level);
int kw_log_parse_level(const char *name, enum kw_log_level *level);
/* log_warn and fatal append strerror(errno); the -x variants do not. */
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* For start-up only: log and exit(1). */
void fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
/* The last warning or error, for `status`: "" and 0 when there was none. */
const char *kw_log_last_error(uint64_t *ts_ns);
uint64_t kw_log_error_count(void);

/* util.c */
/* The next delay of a capped doubling backoff: twice ms, at most max_ms. */
uint64_t kw_backoff_next(uint64_t ms, uint64_t max_ms);
/* Exactly KW_CONTAINER_ID_LEN lowercase hex digits. */
int kw_is_container_id(const char *s, size_t len);
/* The same for a NUL-terminated string (NULL: no). */
int kw_cid_ok(const char *s);
/* vsnprintf into err when err is not NULL. */
void kw_seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Length of the well-formed UTF-8 sequence at s (n bytes left), 0 if none. */
size_t kw_utf8_len(const unsigned char *s, size_t n);
/* At most max bytes of s without splitting a UTF-8 sequence. */
size_t kw_utf8_cut(const char *s, size_t len, size_t max);

/* time.c */
uint64_t kw_now_ns(void);  /* CLOCK_REALTIME, ns */
uint64_t kw_mono_ns(void); /* CLOCK_MONOTONIC, ns */
/* "500ms", "1s", "5m", "7d", bare number = seconds. -1 on error. */
int kw_parse_duration_ms(const char *s, uint64_t *ms);
/* "64k", "16M", "1G", bare number = bytes. -1 on error. */
int kw_parse_size(const char *s, uint64_t *bytes);
/*
 * A point in time as the tools take it (--since, --until): unix seconds
 * ("1764669600", "1764669600.5"), ISO-8601 ("2026-12-02", "2026-12-02T10:00",
 * "2026-12-02 10:00:00.250", UTC unless it ends in Z or +HH:MM/-HHMM),
 * "now", or "-DURATION" before now ("-1h", "-90m"). Unix ns; -1 on error.
 */
int kw_parse_time(const char *s, uint64_t now_ns, uint64_t *out_ns);

/*
 * config_*.c: the key schema (config_schema.c), the values and overrides
 * (config_store.c), the INI file (config_file.c), the views
 * (config_view.c) and the command line (config_cli.c).
 */
struct kw_conf;

/*
 * The command line every kwarden program shares (getopt_long):
 *   -c FILE, -o SECTION.KEY=VALUE, --state-dir DIR, --print-config,
 *   -h/--help, -V/--version, and --KEY VALUE / --KEY=VALUE for every key
 *   of the program's own section (--batch-rows or --batch_rows).
 * Long options are never abbreviated; a word that is not an option (or
 * anything after --) is an error.
 * Loads the config file (explicit -c, else /etc/kwarden/kwarden.conf if it
 * exists, else built-in defaults), then applies overrides in order.
 * Returns the config, or exits: 0 after --help/--version/--print-config,
 * 2 on bad usage or config, with file, line and key in the message.
 * `section` is "reader", "decider", "recorder" or "run".
 */
struct kw_conf *kw_conf_cli(int argc, char **argv, const char *section,
    const char *usage_extra);
/* The file (NULL: defaults only) without exiting; errbuf gets the error. */
struct kw_conf *kw_conf_load(const char *file, char *errbuf, size_t errlen);
/*
 * Set one key as an override: it is remembered, so kw_conf_argv and
 * kw_conf_reload carry it on. Not for runtime tweaks.
 */
int kw_conf_set(struct kw_conf *conf, const char *section, const char *key,
    const char *value, const char *origin, char *errbuf, size_t errlen);
int kw_conf_apply_state_dir(struct kw_conf *conf, const char *dir,
    char *errbuf, size_t errlen);
void kw_conf_free(struct kw_conf *conf);
/* Reload from the same file with the same overrides (SIGHUP). NULL on error. */
struct kw_conf *kw_conf_reload(const struct kw_conf *old, char *errbuf,
    size_t errlen);

/* Getters take "section.key"; the key must exist in the schema. */
const char *kw_conf_str(const struct kw_conf *conf, const char *name);
uint64_t kw_conf_int(const struct kw_conf *conf, const char *name);
double kw_conf_num(const struct kw_conf *conf, const char *name);
uint64_t kw_conf_ms(const struct kw_conf *conf, const char *name);
uint64_t kw_conf_size(const struct kw_conf *conf, const char *name);
/* Comma list split and trimmed; returns count, fills at most max. */
size_t kw_conf_list(const struct kw_conf *conf, const char *name,
    char items[][64], size_t max);
/*
 * The arguments a supervisor passes on to its children, without argv[0],
 * NULL-terminated: -c FILE, then every override as -o SECTION.KEY=VALUE
 * (--state-dir becomes its two paths.* keys).
 */
const char *const *kw_conf_argv(const struct kw_conf *conf, size_t *argc);
/*
 * The classes by bare NAME ("high"): built-in high and low first, then
 * the others in file and override order. Keys: "class.NAME.match", ...
 */
size_t kw_conf_class_count(const struct kw_conf *conf);
const char *kw_conf_class_name(const struct kw_conf *conf, size_t i);
/*
 * The [policy] and [class.*] keys as "SECTION.KEY=VALUE\n" lines (what
 * the decider records in the policy table); -1 when over len.
 */
int kw_conf_policy_text(const struct kw_conf *conf, char *buf, size_t len);
/*
 * Such lines applied to conf, as -o overrides would be (not remembered
 * for reload); -1 with the first bad line in errbuf.
 */
int kw_conf_apply_text(struct kw_conf *conf, const char *text,
    const char *origin, char *errbuf, size_t errlen);
/* Effective config as INI (--print-config) */
void kw_conf_print(const struct kw_conf *conf, FILE *fp);
/* Effective config as a JSON object (control socket `config`) */
struct json_t;
struct json_t *kw_conf_json(const struct kw_conf *conf);
/* The socket path of a stream: run_dir/NAME.sock or NAME.ctl */
void kw_conf_sock_path(const struct kw_conf *conf, const char *name,
    const char *suffix, char *buf, size_t len);

/* cgroup.c */
/*
 * Container id from a cgroup path: /docker/<id>, docker-<id>.scope,
 * cri-containerd-<id>.scope, crio-<id>.scope, libpod-<id>.scope,
 * kubepods/.../<id> (also pod slices). id is 64 lowercase hex.
 * Returns 1 and fills out (65 bytes) for a container, 0 otherwise.
 */
int kw_cgroup_container_id(const char *path,
    char out[KW_CONTAINER_ID_LEN + 1]);
/*
 * The content of /proc/<pid>/cgroup: picks the container id from any line.
 * Copies the unified (0::) path, else the first line's path, into path_out.
 */
int kw_cgroup_file_container_id(const char *content,
    char out[KW_CONTAINER_ID_LEN + 1], char *path_out, size_t path_len);

/* Longest cgroup path kept; a longer one is not a container's. */
#define KW_CGROUP_PATH_MAX 4096
/*
 * The container's own directory in its hierarchy: path cut after the
 * component that names the container ("/docker/<id>/x" -> "/docker/<id>").
 * 1 with out and dir filled, 0 when path names no container (or dir is too
 * small).
 */
int kw_cgroup_container_dir(const char *path,
    char out[KW_CONTAINER_ID_LEN + 1], char *dir, size_t dirsize);
/*
 * From /proc/<pid>/cgroup content: the directory of container id in the
 * unified (0::) line (unified = 1) or in a v1 controller line (0). 1 when
 * found.
 */
int kw_cgroup_file_dir(const char *content, int unified, const char *id,
    char *dir, size_t dirsize);
/*
 * What /proc/<pid>/cgroup content claims: the container id and its
 * directory (kw_cgroup_container_dir), both from the unified (0::) line
 * when it names a container, else from the first line that does. A claim
 * is a name, not a proof: see decider/containers.c. 1 when there is one
 * (and its directory fits in dirsize), else 0 with id and dir "".
 */
int kw_cgroup_file_claim(const char *content, char id[KW_CONTAINER_ID_LEN + 1],
    char *dir, size_t dirsize);

/* flow.c: per-client backpressure, the only two places its state changes */
enum kw_flow_verdict {
	KW_FLOW_GO,    /* keep writing to this client */
	KW_FLOW_PAUSE, /* over the high watermark: stop writing */
	KW_FLOW_CUT,   /* over the hard limit: disconnect it */
};

struct kw_flow {
	size_t inflight; /* bytes handed to the socket, not yet written */
	size_t high_water;
	size_t low_water;
	size_t hard_limit; /* queued before + backlog past this: cut */
	int paused;
};

/* n bytes handed to the socket; backlog: bytes still waiting behind them. */
enum kw_flow_verdict kw_flow_sent(struct kw_flow *f, size_t n, size_t backlog);
/* n bytes written; returns 1 when a paused client may be written to again. */
int kw_flow_written(struct kw_flow *f, size_t n);

/*
 * flow.c: the limits a client can push against ([limits] in the config),
 * how often each was hit (shown by every daemon's `status`), and their
 * log lines: at most one a minute for each limit, saying how many more
 * were hit meanwhile, so a flood neither fills the log nor keeps
 * last_error to itself.
 */
struct kw_limits {
	size_t stream_clients;	 /* per stream socket */
	uint64_t stream_replays; /* subs per client per interval */
	uint64_t replay_interval_ms;
	size_t ctl_clients;	    /* per control socket */
	uint64_t ctl_idle_ms;	    /* close an idle control client */
	size_t ctl_reply_bytes;	    /* replies queued to one client */
	size_t stream_client_bytes; /* queued to one stream client */
	size_t stream_queued_bytes; /* to all of a socket's clients */
	uint64_t docker_lookups;    /* unknown ids per interval */
	uint64_t docker_lookup_interval_ms;
	size_t cgroup_dirs; /* read per container id */
};

enum kw_limit_hit {
	KW_HIT_STREAM_CLIENTS,	/* stream connection refused: too many */
	KW_HIT_STREAM_REPLAYS,	/* stream client cut: too many subs */
	KW_HIT_ACKS,		/* ack ignored: not durable or not published */
	KW_HIT_CTL_CLIENTS,	/* control connection made room for another */
	KW_HIT_CTL_IDLE,	/* control connection closed: idle */
	KW_HIT_CTL_REPLY_BYTES, /* control client cut: replies not read */
	KW_HIT_STREAM_CLIENT_BYTES, /* stream client cut: too far behind */
	KW_HIT_STREAM_QUEUED_BYTES, /* stream client cut: socket's total */
	KW_HIT_DOCKER_LOOKUPS, /* unknown id not inspected this interval */
	KW_HIT_CGROUP_DIRS,    /* a container's extra directory not read */
	KW_HIT__COUNT,
};

/* The limits pub.c and ctl.c start from: the defaults until set. */
void kw_limits_set(const struct kw_limits *l);
const struct kw_limits *kw_limits_get(void);
/* [limits] of a loaded config. */
void kw_limits_from_conf(const struct kw_conf *conf, struct kw_limits *l);
/* Count one hit; log fmt (where and what) unless logged this minute. */
void kw_limit_hit(enum kw_limit_hit which, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
uint64_t kw_limit_count(enum kw_limit_hit which);
const char *kw_limit_name(enum kw_limit_hit which);

/* pub.c: a producer's stream socket */
struct kw_pub;

/*
 * Bind and listen on an initialised pipe at path with the given mode;
 * refuses when another process answers there, removes a stale socket.
 */
int kw_listen_unix(uv_pipe_t *server, const char *path, int mode,
    uv_connection_cb cb);
/* Every socket kw_listen_unix makes from now on gets this group. */
void kw_listen_set_group(gid_t gid);

struct kw_pub_stats {
	uint64_t epoch;
	uint64_t seq;	     /* last published */
	uint64_t oldest_seq; /* oldest still in the ring, 0 if empty */
	uint64_t ring_bytes;
	uint64_t ring_msgs;
	uint64_t clients;
	uint64_t clients_cut; /* disconnected for lagging */
	uint64_t clients_bad; /* disconnected for bad input */
	uint64_t acked_seq;   /* highest ack of the durable consumer */
	uint64_t bytes_out;
	uint64_t clients_refused; /* over limits.stream_clients */
	uint64_t replays_refused; /* cut for too many subs */
	uint64_t acks_refused;	  /* not durable, or past seq */
	uint64_t held_bytes;	  /* messages in memory: the ring's, and
					   those still being written */
	uint64_t queued_bytes;	  /* handed to clients, not yet read */
	uint64_t queued_cut;	  /* over limits.stream_queued_bytes */
	uint64_t acked_bytes;	  /* of ring_bytes, at or below acked_seq */
	uint64_t ring_trimmed;	  /* acked, dropped past opts.acked_bytes */
	uint64_t subs;		  /* subscriptions served (each sub) */
};

struct kw_pub_opts {
	size_t ring_bytes;    /* replay ring bound */
	size_t ring_msgs;     /* and in messages (0: none) */
	size_t high_water;    /* stop writing to a client above this
					   (0: limits.stream_client_bytes) */
	size_t low_water;     /* resume below this */
	size_t max_lag_bytes; /* cut a client that lags more than this
					   (default: ring_bytes + high_water) */
	int mode;	      /* socket file mode, e.g. 0660 */
	/* 0: from kw_limits_get() */
	size_t max_clients;
	uint64_t replays; /* subs per client per replay_ms */
	uint64_t replay_ms;
	size_t queued_bytes; /* all clients at once; over it the
					   one with the most queued is cut */
	/*
	 * With bound_acked, messages the durable consumer has acked are
	 * kept only up to acked_bytes (0: none) once no connected client
	 * still waits for them; the rest use the whole ring.
	 */
	int bound_acked;
	size_t acked_bytes;
};

struct kw_pub *kw_pub_new(uv_loop_t *loop, const char *path,
    const char *stream, const struct kw_pub_opts *opts);
/* Bind and listen; -1 with a logged error (e.g. already running). */
int kw_pub_start(struct kw_pub *pub);
/*
 * Build one message: kw_pub_begin packs the map header for nfields body
 * fields plus t, seq and ts, and returns the packer to pack the body with;
 * kw_pub_commit stores it in the ring and sends it to every client.
 */
msgpack_packer *kw_pub_begin(struct kw_pub *pub, enum kw_msg_type type,
    uint32_t nfields);
uint64_t kw_pub_commit(struct kw_pub *pub);
void kw_pub_stats(const struct kw_pub *pub, struct kw_pub_stats *st);
/* Close sockets and free everything once the loop has run the closes. */
void kw_pub_close(struct kw_pub *pub);

/* sub.c: a consumer's connection, reconnecting with backoff */
struct kw_sub;

enum kw_sub_event {
	KW_SUB_CONNECTED, /* hello received: epoch known */
	KW_SUB_DISCONNECTED,
	KW_SUB_GAP, /* messages from..to are lost (logged) */
};

struct kw_sub_stats {
	uint64_t epoch;
	uint64_t last_seq; /* last delivered */
	uint64_t received;
	uint64_t gaps; /* messages lost, summed */
	uint64_t reconnects;
	uint64_t restarts_clean; /* producer restarts after its end */
	uint64_t restarts_lossy; /* ... without one: a loss is possible */
	int connected;
	char last_error[160];
};

/*
 * on_msg gets each message in order, exactly once per (epoch, seq) while
 * the producer keeps it in its ring. With durable set, the subscriber
 * asks for replay from the resume point (kw_sub_resume_from) even across
 * a change of the producer's epoch (from seq 1 of the new epoch).
 */
struct kw_sub_cb {
	void (*on_msg)(void *arg, const struct kw_msg *msg);
	void (*on_event)(void *arg, enum kw_sub_event ev, uint64_t from,
	    uint64_t to);
	void *arg;
};

struct kw_sub *kw_sub_new(uv_loop_t *loop, const char *path,
    const char *stream, int durable, const struct kw_sub_cb *cb);
/*
 * The resume point: the last (epoch, seq) already handled; ended when that
 * was the producer's end message (its restart then loses nothing).
 */
void kw_sub_resume_from(struct kw_sub *sub, uint64_t epoch, uint64_t seq,
    int ended);
void kw_sub_start(struct kw_sub *sub);
/* Send {"t":"ack","seq":N} to the producer. */
void kw_sub_ack(struct kw_sub *sub, uint64_t seq);
/* Stop reading from the socket (backpressure) and start again. */
void kw_sub_pause(struct kw_sub *sub);
void kw_sub_resume(struct kw_sub *sub);
void kw_sub_stats(const struct kw_sub *sub, struct kw_sub_stats *st);
void kw_sub_close(struct kw_sub *sub);

/* ctl.c: control socket, line commands -> one JSON object per line */
struct kw_ctl;

struct kw_ctl_cmd {
	const char *name;
	const char *help;
	/* Return a new JSON object (the reply) or NULL for an internal error. */
	struct json_t *(*fn)(void *arg, const char *args);
};

/* table ends with a {NULL} entry; help is added by ctl.c itself. */
struct kw_ctl *kw_ctl_new(uv_loop_t *loop, const char *path,
    const struct kw_ctl_cmd *table, void *arg, int mode);
/* Override kw_limits_get() for this socket (before kw_ctl_start). */
void kw_ctl_set_limits(struct kw_ctl *ctl, size_t max_clients,
    uint64_t idle_ms, size_t reply_bytes);
struct kw_ctl_stats {
	uint64_t clients;
	uint64_t evicted; /* made room for a newer connection */
	uint64_t idle_closed;
	uint64_t cut; /* replies over the byte limit */
};
void kw_ctl_stats(const struct kw_ctl *ctl, struct kw_ctl_stats *st);
int kw_ctl_start(struct kw_ctl *ctl);
void kw_ctl_close(struct kw_ctl *ctl);

/* daemon.c: what every daemon does the same way */
int kw_mkdir_p(const char *path, int mode); /* mkdir -p; -1 with errno */
struct kw_daemon {
	uv_loop_t *loop;
	struct kw_conf *conf;
	const char *name; /* "reader", ... */
	uint64_t start_mono_ns;
	uv_signal_t sigint, sigterm, sighup;
	void (*on_stop)(struct kw_daemon *d);
	void (*on_reload)(struct kw_daemon *d);
	void *arg;
	int stopping;
};

/*
 * Parse the command line, set up logging ([NAME] log_level), make the run
 * directory, install SIGINT/SIGTERM (-> on_stop) and SIGHUP (-> on_reload)
 * handlers, ignore SIGPIPE. Exits 2 on usage/config errors.
 */
void kw_daemon_init(struct kw_daemon *d, uv_loop_t *loop, int argc,
    char **argv, const char *name, const char *usage_extra);
/* Tell systemd we are ready, start watchdog pings if it asked for them. */
void kw_daemon_ready(struct kw_daemon *d);
/* Close the daemon's own handles (signals, watchdog); kw_daemon_run
 * does it itself once everything else has closed. */
void kw_daemon_close(struct kw_daemon *d);
/* Common status fields: name, version, pid, uptime_s, errors, last_error. */
struct json_t *kw_daemon_status(const struct kw_daemon *d);
/* A stream's figures in `status`: the producer's, a consumer's. */
struct json_t *kw_pub_stats_json(const struct kw_pub_stats *ps);
struct json_t *kw_sub_stats_json(const struct kw_sub_stats *ss,
    const char *stream);
/* Run the loop to completion, close it; returns the exit code. */
int kw_daemon_run(struct kw_daemon *d);

#endif /* KWARDEN_H */
