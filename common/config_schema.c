/*
 * The config schema: every key with its type, default, bounds and help,
 * and the checks a value passes before it is stored. Pure: no I/O, no
 * globals but these constant tables.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"

#define QV "\"%.200s\"" /* a value in a message */

/* A row of the table, not a block (not clang-formatted): */
/* clang-format off */
#define LOG_LEVEL_KEY(sec) \
	{ sec, "log_level", KW_CONF_STR, "info", "debug|info|warn|error", \
	    "log level", 0, 0, 0 }
/* clang-format on */

/*
 * One row per key: section, key, type, default, choices, help, flags,
 * min, max. The help text and default show in --help of the section's
 * program, and the key becomes its --key-name flag; a new section also
 * goes in sections[] below.
 */
static const struct conf_key schema[] = {
	{ "paths", "run_dir", KW_CONF_STR, "/run/kwarden", NULL,
	    "directory of the sockets (reader.sock, decider.ctl, ...)",
	    CK_NONEMPTY, 0, 0 },
	{ "paths", "database", KW_CONF_STR, "/var/lib/kwarden/kwarden.db",
	    NULL, "SQLite database", CK_NONEMPTY, 0, 0 },
	{ "paths", "socket_mode", KW_CONF_INT, "0660", NULL,
	    "file mode of the sockets, octal", CK_OCTAL | CK_BOUNDS, 1, 0777 },
	{ "paths", "socket_group", KW_CONF_STR, "", NULL,
	    "group of the sockets (empty: the daemon's own)", 0, 0, 0 },

	{ "reader", "interval", KW_CONF_DURATION, "1s", NULL,
	    "sampling interval", CK_BOUNDS, 10, 3600 * 1000 },
	{ "reader", "source", KW_CONF_STR, "auto", "auto|kmod|procfs",
	    "where to read processes from (auto: kmod file if present)", 0, 0,
	    0 },
	{ "reader", "kmod_path", KW_CONF_STR, "/proc/sysinfo_so1_202041390",
	    NULL, "the kernel module's /proc file", CK_NONEMPTY, 0, 0 },
	{ "reader", "kmod_delta", KW_CONF_STR, "auto", "auto|on|off",
	    "read the module's delta file (kmod_path + \"_delta\"): only "
	    "what changed each sample, merged into the last full snapshot "
	    "(auto: when the file is there)",
	    0, 0, 0 },
	{ "reader", "stream_deltas", KW_CONF_STR, "on", "on|off",
	    "with the delta file, publish what changed (a delta message: the "
	    "changed records and the exited pids) instead of the whole "
	    "snapshot; a whole one after each full pass and for each new "
	    "subscriber",
	    0, 0, 0 },
	{ "reader", "proc_root", KW_CONF_STR, "/proc", NULL,
	    "procfs root for the procfs source", CK_NONEMPTY, 0, 0 },
	{ "reader", "cgroup_root", KW_CONF_STR, "/sys/fs/cgroup", NULL,
	    "cgroup mount for each container's own figures (empty: off)", 0, 0,
	    0 },
	{ "reader", "cgroup_detail_every", KW_CONF_INT, "5", NULL,
	    "read each container's whole cgroup (memory.stat, limit, OOM "
	    "kills, PSI) every N samples; CPU and memory usage every sample",
	    CK_BOUNDS, 1, 1000000 },
	{ "reader", "ring_size", KW_CONF_SIZE, "4M", NULL,
	    "replay ring of the reader stream", CK_BOUNDS, 4096,
	    (double)(1ULL << 40) },
	{ "reader", "ring_msgs", KW_CONF_INT, "1", NULL,
	    "replay ring of the reader stream: at most this many snapshots",
	    CK_BOUNDS, 1, 1000000 },
	LOG_LEVEL_KEY("reader"),

	{ "decider", "top_k", KW_CONF_INT, "10", NULL,
	    "processes published by CPU and by memory", CK_BOUNDS, 0, 10000 },
	{ "decider", "ring_size", KW_CONF_SIZE, "32M", NULL,
	    "replay ring of the decider stream", CK_BOUNDS, 4096,
	    (double)(1ULL << 40) },
	{ "decider", "ring_acked", KW_CONF_SIZE, "1M", NULL,
	    "of the decider's ring, messages the recorder has acked (0: none)",
	    CK_BOUNDS, 0, (double)(1ULL << 40) },
	{ "decider", "docker_socket", KW_CONF_STR, "/var/run/docker.sock",
	    NULL, "Docker Engine API socket", CK_NONEMPTY, 0, 0 },
	{ "decider", "docker_timeout", KW_CONF_DURATION, "10s", NULL,
	    "give up on a Docker API call after this long", CK_BOUNDS, 100,
	    3600 * 1000 },
	{ "decider", "cgroup_parents", KW_CONF_LIST, "/docker, /system.slice",
	    NULL,
	    "where a container's cgroup may sit when its real one is "
	    "not known yet (Docker unreachable, not inspected, or not "
	    "Docker's): cgroupfs and systemd drivers' defaults; add a "
	    "--cgroup-parent",
	    0, 0, 0 },
	{ "decider", "stop_ack_wait", KW_CONF_DURATION, "3s", NULL,
	    "on stop, wait this long for the recorder to ack what was "
	    "published",
	    CK_BOUNDS, 0, 3600 * 1000 },
	LOG_LEVEL_KEY("decider"),

	{ "recorder", "batch_rows", KW_CONF_INT, "1000", NULL,
	    "commit after this many rows", CK_BOUNDS, 1, 1000000 },
	{ "recorder", "batch_delay", KW_CONF_DURATION, "500ms", NULL,
	    "or after this long", CK_BOUNDS, 1, 3600 * 1000 },
	{ "recorder", "retention", KW_CONF_DURATION, "7d", NULL,
	    "delete rows older than this", CK_BOUNDS, 1000, 1e15 },
	{ "recorder", "prune_interval", KW_CONF_DURATION, "60s", NULL,
	    "how often to prune old rows", CK_BOUNDS, 1, 1e15 },
	{ "recorder", "prune_chunk", KW_CONF_INT, "500", NULL,
	    "rows deleted per prune statement", CK_BOUNDS, 1, 1000000 },
	{ "recorder", "max_pending_rows", KW_CONF_INT, "200000", NULL,
	    "stop reading the stream above this many unwritten rows",
	    CK_BOUNDS, 1, 1e12 },
	LOG_LEVEL_KEY("recorder"),

	{ "run", "restart_delay", KW_CONF_DURATION, "500ms", NULL,
	    "first delay before restarting a crashed daemon", 0, 0, 0 },
	{ "run", "restart_delay_max", KW_CONF_DURATION, "30s", NULL,
	    "restart delay cap (it doubles each crash)", 0, 0, 0 },
	{ "run", "stop_timeout", KW_CONF_DURATION, "5s", NULL,
	    "SIGKILL a daemon still running this long after SIGTERM", 0, 0,
	    0 },
	LOG_LEVEL_KEY("run"),

	{ "policy", "cpu_threshold", KW_CONF_NUM, "20", NULL,
	    "CPU percent of the machine above which a container is a "
	    "candidate",
	    CK_BOUNDS, 0, 100 },
	{ "policy", "mem_threshold", KW_CONF_NUM, "20", NULL,
	    "memory percent of MemTotal above which a container is a "
	    "candidate",
	    CK_BOUNDS, 0, 100 },
	{ "policy", "mem_basis", KW_CONF_STR, "working_set",
	    "working_set|rss|anon",
	    "what a container's memory % counts: "
	    "working set (usage - inactive_file, as the kubelet), the RSS sum "
	    "of its processes (the seed), or anonymous memory",
	    0, 0, 0 },
	{ "policy", "window", KW_CONF_DURATION, "5s", NULL,
	    "CPU rate averaging window", CK_BOUNDS, 1, 86400 * 1000 },
	{ "policy", "action", KW_CONF_STR, "remove",
	    "throttle|stop|kill|remove|dry-run",
	    "what to do with a candidate: one step or a ladder of steps "
	    "(throttle caps CPU, stop, kill, remove = docker rm -f), or "
	    "dry-run",
	    CK_LADDER, 0, 0 },
	{ "policy", "throttle_to", KW_CONF_NUM, "", NULL,
	    "throttle's CPU cap, percent of the machine (empty: "
	    "cpu_threshold)",
	    CK_EMPTY | CK_BOUNDS, 0.1, 100 },
	{ "policy", "stop_timeout", KW_CONF_DURATION, "10s", NULL,
	    "stop: time Docker gives the container before SIGKILL", CK_BOUNDS,
	    1000, 3600 * 1000 },
	{ "policy", "escalate_after", KW_CONF_DURATION, "30s", NULL,
	    "a container still over this long after a step gets the next",
	    CK_BOUNDS, 0, 86400 * 1000 },
	{ "policy", "sustain", KW_CONF_DURATION, "0s", NULL,
	    "over this long before the first step (0s: at once)", CK_BOUNDS, 0,
	    86400 * 1000 },
	{ "policy", "quarantine_after", KW_CONF_INT, "3", NULL,
	    "evictions of one service (compose/swarm labels, else name) "
	    "within quarantine_window that quarantine it (0: never)",
	    CK_BOUNDS, 0, 32 },
	{ "policy", "quarantine_window", KW_CONF_DURATION, "1h", NULL,
	    "the window of quarantine_after", CK_BOUNDS, 1000,
	    30 * 86400 * 1000.0 },
	{ "policy", "protect", KW_CONF_LIST, "grafana, kwarden", NULL,
	    "substrings of name or image never acted on", 0, 0, 0 },

	{ "metrics", "listen", KW_CONF_STR, "127.0.0.1:9877", NULL,
	    "address of the decider's Prometheus /metrics, HOST:PORT or "
	    "[V6]:PORT (empty: off)",
	    0, 0, 0 },
	{ "metrics", "max_connections", KW_CONF_INT, "16", NULL,
	    "HTTP connections at once on metrics.listen (more are refused)",
	    CK_BOUNDS, 1, 10000 },
	{ "metrics", "timeout", KW_CONF_DURATION, "10s", NULL,
	    "close an HTTP connection idle this long", CK_BOUNDS, 1000,
	    3600 * 1000 },
	{ "hooks", "exec", KW_CONF_STR, "", NULL,
	    "program run for each action, facts in KWARDEN_* variables, "
	    "the evidence as JSON on stdin (empty: none)",
	    0, 0, 0 },
	{ "hooks", "webhook", KW_CONF_STR, "", NULL,
	    "URL the evidence of each action is POSTed to as JSON (empty: "
	    "none)",
	    0, 0, 0 },
	{ "hooks", "timeout", KW_CONF_DURATION, "10s", NULL,
	    "one attempt of a hook; a program still running is killed",
	    CK_BOUNDS, 100, 3600 * 1000 },
	{ "hooks", "concurrency", KW_CONF_INT, "4", NULL,
	    "attempts running at once (both kinds)", CK_BOUNDS, 1, 1000 },
	{ "hooks", "retries", KW_CONF_INT, "3", NULL,
	    "further attempts after a failure", CK_BOUNDS, 0, 100 },
	{ "hooks", "backoff", KW_CONF_DURATION, "1s", NULL,
	    "wait before the first retry, doubling for each next", CK_BOUNDS,
	    10, 3600 * 1000 },
	{ "hooks", "backoff_max", KW_CONF_DURATION, "60s", NULL,
	    "longest wait between retries", CK_BOUNDS, 10, 86400 * 1000 },
	{ "hooks", "rate_per_min", KW_CONF_NUM, "30", NULL,
	    "deliveries per minute per hook; more are dropped (counted)",
	    CK_BOUNDS, 0.01, 1e6 },
	{ "hooks", "burst", KW_CONF_INT, "10", NULL,
	    "deliveries at once before rate_per_min applies", CK_BOUNDS, 1,
	    1e6 },
	{ "hooks", "queue_max", KW_CONF_INT, "64", NULL,
	    "deliveries waiting per hook; more are dropped (counted)",
	    CK_BOUNDS, 1, 1e6 },
	{ "hooks", "evidence_timeout", KW_CONF_DURATION, "2s", NULL,
	    "an action waits at most this long for its evidence (Docker's "
	    "logs and inspect)",
	    CK_BOUNDS, 10, 60 * 1000 },
	{ "hooks", "evidence_log_lines", KW_CONF_INT, "50", NULL,
	    "last log lines of the container kept in its evidence", CK_BOUNDS,
	    0, 10000 },
	{ "hooks", "evidence_log_bytes", KW_CONF_SIZE, "8K", NULL,
	    "at most this many bytes of those lines", CK_BOUNDS, 0,
	    64 * 1024 },
	{ "hooks", "evidence_procs", KW_CONF_INT, "10", NULL,
	    "busiest processes of the container kept in its evidence",
	    CK_BOUNDS, 0, 100 },
	{ "hooks", "evidence_keep", KW_CONF_INT, "64", NULL,
	    "documents `evidence` on decider.ctl can show (the database "
	    "keeps all)",
	    CK_BOUNDS, 1, 100000 },

	{ "limits", "stream_clients", KW_CONF_INT, "64", NULL,
	    "connections at once on a stream socket (reader.sock, "
	    "decider.sock)",
	    CK_BOUNDS, 1, 100000 },
	{ "limits", "stream_replays", KW_CONF_INT, "10", NULL,
	    "replay requests (sub) per stream client per replay_interval",
	    CK_BOUNDS, 1, 1000000 },
	{ "limits", "replay_interval", KW_CONF_DURATION, "60s", NULL,
	    "the interval of stream_replays", CK_BOUNDS, 1000, 86400 * 1000 },
	{ "limits", "ctl_clients", KW_CONF_INT, "64", NULL,
	    "connections at once on a control socket (the least recently "
	    "active makes room for a new one)",
	    CK_BOUNDS, 1, 100000 },
	{ "limits", "ctl_idle_timeout", KW_CONF_DURATION, "60s", NULL,
	    "close a control connection idle this long", CK_BOUNDS, 100,
	    86400 * 1000 },
	{ "limits", "ctl_reply_bytes", KW_CONF_SIZE, "1M", NULL,
	    "replies queued to one control client that does not read",
	    CK_BOUNDS, 65536, (double)(1ULL << 32) },
	{ "limits", "stream_client_bytes", KW_CONF_SIZE, "4M", NULL,
	    "bytes queued to one stream client (handed to its socket, not "
	    "yet read) before writing to it stops; one that stays there "
	    "falls out of the replay ring and is cut",
	    CK_BOUNDS, 65536, (double)(1ULL << 32) },
	{ "limits", "stream_queued_bytes", KW_CONF_SIZE, "64M", NULL,
	    "bytes queued to all the clients of one stream socket; over it "
	    "the client with the most queued is cut",
	    CK_BOUNDS, 65536, (double)(1ULL << 40) },
	{ "limits", "docker_lookups", KW_CONF_INT, "32", NULL,
	    "ids Docker does not know that the decider asks it about "
	    "(inspect) per docker_lookup_interval; the rest wait",
	    CK_BOUNDS, 1, 1000000 },
	{ "limits", "docker_lookup_interval", KW_CONF_DURATION, "60s", NULL,
	    "the interval of docker_lookups", CK_BOUNDS, 1000, 86400 * 1000 },
	{ "limits", "cgroup_dirs", KW_CONF_INT, "4", NULL,
	    "cgroup directories the reader reads figures from per container "
	    "id and sample (more than one: look-alike directories naming "
	    "the same id)",
	    CK_BOUNDS, 1, 1000 },
};

/* The keys of every [class.NAME] section. */
static const struct conf_key class_schema[] = {
	{ "class", "match", KW_CONF_LIST, "", NULL,
	    "substrings of name or image (* = everything)", 0, 0, 0 },
	{ "class", "min_alive", KW_CONF_INT, "0", NULL,
	    "never act when it would leave fewer running", CK_BOUNDS, 0,
	    1000000 },
	{ "class", "cpu_threshold", KW_CONF_NUM, "", NULL,
	    "policy.cpu_threshold for this class (empty: the policy's)",
	    CK_EMPTY | CK_BOUNDS, 0, 100 },
	{ "class", "mem_threshold", KW_CONF_NUM, "", NULL,
	    "policy.mem_threshold for this class (empty: the policy's)",
	    CK_EMPTY | CK_BOUNDS, 0, 100 },
	{ "class", "action", KW_CONF_STR, "",
	    "throttle|stop|kill|remove|dry-run",
	    "policy.action for this class (empty: the policy's)",
	    CK_EMPTY | CK_LADDER, 0, 0 },
	{ "class", "sustain", KW_CONF_DURATION, "", NULL,
	    "policy.sustain for this class (empty: the policy's)",
	    CK_EMPTY | CK_BOUNDS, 0, 86400 * 1000 },
};
_Static_assert(sizeof(class_schema) / sizeof(class_schema[0]) ==
	CONF_NCLASSKEYS,
    "CONF_NCLASSKEYS counts the rows of class_schema");

static const struct conf_class_default class_defaults[] = {
	{ "high", { "high, cpu, mem", "2", "", "", "", "" } },
	{ "low", { "*", "3", "", "", "", "" } },
};

static const char *const sections[] = {
	"paths",
	"reader",
	"decider",
	"recorder",
	"run",
	"policy",
	"limits",
	"metrics",
	"hooks",
};

const struct conf_key *const conf_keys = schema;
const size_t conf_nkeys = sizeof(schema) / sizeof(schema[0]);
const struct conf_key *const conf_class_keys = class_schema;
const struct conf_class_default *const conf_class_defaults = class_defaults;
const size_t conf_nclass_defaults =
    sizeof(class_defaults) / sizeof(class_defaults[0]);
const char *const *const conf_sections = sections;
const size_t conf_nsections = sizeof(sections) / sizeof(sections[0]);

const struct conf_key *
conf_find_key(const char *section, const char *key, size_t *idx)
{
	size_t i;

	for (i = 0; i < conf_nkeys; i++) {
		if (strcmp(schema[i].section, section) == 0 &&
		    strcmp(schema[i].key, key) == 0) {
			*idx = i;
			return &schema[i];
		}
	}
	return NULL;
}

const struct conf_key *
conf_find_class_key(const char *key, size_t *idx)
{
	size_t i;

	for (i = 0; i < CONF_NCLASSKEYS; i++) {
		if (strcmp(class_schema[i].key, key) == 0) {
			*idx = i;
			return &class_schema[i];
		}
	}
	return NULL;
}

int
conf_known_section(const char *section)
{
	size_t i;

	for (i = 0; i < conf_nsections; i++)
		if (strcmp(sections[i], section) == 0)
			return 1;
	return 0;
}

const char *
conf_class_part(const char *section)
{
	const char *name, *p;

	if (strncmp(section, "class.", 6) != 0)
		return NULL;
	name = section + 6;
	if (*name == '\0' || strlen(name) > CONF_CLASS_NAME_MAX)
		return NULL;
	for (p = name; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
			*p == '_' || *p == '-'))
			return NULL;
	return name;
}

int
conf_parse_uint(const char *v, int base, uint64_t *out)
{
	const char *p;
	char *end;
	unsigned long long n;

	if (*v == '\0')
		return -1;
	for (p = v; *p != '\0'; p++)
		if (!isdigit((unsigned char)*p) || (base == 8 && *p > '7'))
			return -1;
	errno = 0;
	n = strtoull(v, &end, base);
	if (errno != 0 || *end != '\0')
		return -1;
	*out = n;
	return 0;
}

int
conf_parse_num(const char *v, double *out)
{
	const char *p;
	char *end;
	double d;

	/* Plain decimal only: no hex, inf, nan or locale surprises. */
	if (*v == '\0')
		return -1;
	for (p = v; *p != '\0'; p++)
		if (!isdigit((unsigned char)*p) && *p != '.' && *p != '-' &&
		    *p != '+' && *p != 'e' && *p != 'E')
			return -1;
	errno = 0;
	d = strtod(v, &end);
	if (errno != 0 || *end != '\0' || end == v || !isfinite(d))
		return -1;
	*out = d;
	return 0;
}

const char *
conf_list_next(const char **p, size_t *len)
{
	const char *item = *p, *comma;
	size_t n;

	comma = strchr(item, ',');
	n = comma != NULL ? (size_t)(comma - item) : strlen(item);
	*p = comma != NULL ? comma + 1 : NULL;
	while (n > 0 && isspace((unsigned char)*item)) {
		item++;
		n--;
	}
	while (n > 0 && isspace((unsigned char)item[n - 1]))
		n--;
	*len = n;
	return item;
}

static int
in_choices(const char *choices, const char *v)
{
	const char *p = choices, *bar;
	size_t len;

	while (p != NULL && *p != '\0') {
		bar = strchr(p, '|');
		len = bar != NULL ? (size_t)(bar - p) : strlen(p);
		if (strlen(v) == len && strncmp(p, v, len) == 0)
			return 1;
		p = bar != NULL ? bar + 1 : NULL;
	}
	return 0;
}

/* "a|b|c" -> "a, b, c" */
static const char *
choices_text(const char *choices, char *buf, size_t len)
{
	size_t i, j;

	for (i = j = 0; choices[i] != '\0' && j + 3 < len; i++) {
		if (choices[i] == '|') {
			buf[j++] = ',';
			buf[j++] = ' ';
		} else
			buf[j++] = choices[i];
	}
	buf[j] = '\0';
	return buf;
}

/*
 * A ladder: a comma list of choices, each at most once; the last choice
 * (dry-run) only on its own.
 */
static int
check_ladder(const char *choices, const char *v, char *msg, size_t len)
{
	const char *p, *item, *last;
	char cbuf[128], it[CONF_LIST_ITEM_MAX + 1], seen[256];
	char needle[CONF_LIST_ITEM_MAX + 3];
	size_t ilen, n = 0;
	int alone = 0;

	last = strrchr(choices, '|');
	last = last != NULL ? last + 1 : choices;
	seen[0] = '\0';
	for (p = v; p != NULL;) {
		item = conf_list_next(&p, &ilen);
		snprintf(it, sizeof(it), "%.*s", (int)ilen, item);
		if (!in_choices(choices, it)) {
			snprintf(msg, len,
			    QV " is not one of %s (or a comma "
			       "list of steps)",
			    it, choices_text(choices, cbuf, sizeof(cbuf)));
			return -1;
		}
		if (strcmp(it, last) == 0)
			alone = 1;
		snprintf(needle, sizeof(needle), "|%s|", it);
		if (strstr(seen, needle) != NULL) {
			snprintf(msg, len, QV ": step \"%s\" twice", v, it);
			return -1;
		}
		if (strlen(seen) + strlen(needle) < sizeof(seen))
			strcat(seen, needle);
		n++;
	}
	if (alone && n > 1) {
		snprintf(msg, len, QV ": %s goes alone, not in a ladder", v,
		    last);
		return -1;
	}
	return 0;
}

int
conf_check_value(const struct conf_key *k, const char *v, char *msg,
    size_t len)
{
	char cbuf[128];
	const char *p, *item;
	uint64_t u = 0;
	size_t ilen;
	double d = 0;
	int have_num = 0;

	if (strlen(v) > CONF_VALUE_MAX) {
		snprintf(msg, len, "value longer than %d characters",
		    CONF_VALUE_MAX);
		return -1;
	}
	for (p = v; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			snprintf(msg, len, "control character in value");
			return -1;
		}
		/* What a file would read as a comment cannot round trip. */
		if (*p == ';' && (p == v || isspace((unsigned char)p[-1]))) {
			snprintf(msg, len,
			    QV ": a ';' at the start or after "
			       "a space starts a comment",
			    v);
			return -1;
		}
	}
	if (v[0] != '\0' &&
	    (isspace((unsigned char)v[0]) ||
		isspace((unsigned char)v[strlen(v) - 1]))) {
		snprintf(msg, len, QV ": leading or trailing space", v);
		return -1;
	}

	if ((k->flags & CK_EMPTY) && v[0] == '\0')
		return 0;
	switch (k->type) {
	case KW_CONF_STR:
		if ((k->flags & CK_NONEMPTY) && v[0] == '\0') {
			snprintf(msg, len, "may not be empty");
			return -1;
		}
		if (k->flags & CK_LADDER)
			return check_ladder(k->choices, v, msg, len);
		if (k->choices != NULL && !in_choices(k->choices, v)) {
			snprintf(msg, len, QV " is not one of %s", v,
			    choices_text(k->choices, cbuf, sizeof(cbuf)));
			return -1;
		}
		return 0;
	case KW_CONF_INT:
		if (conf_parse_uint(v, (k->flags & CK_OCTAL) ? 8 : 10, &u) ==
		    -1) {
			snprintf(msg, len,
			    (k->flags & CK_OCTAL) ?
				QV " is not an octal number" :
				QV " is not a non-negative integer",
			    v);
			return -1;
		}
		d = (double)u;
		have_num = 1;
		break;
	case KW_CONF_NUM:
		if (conf_parse_num(v, &d) == -1) {
			snprintf(msg, len, QV " is not a number", v);
			return -1;
		}
		have_num = 1;
		break;
	case KW_CONF_DURATION:
		if (kw_parse_duration_ms(v, &u) == -1) {
			snprintf(msg, len,
			    QV " is not a duration "
			       "(e.g. 500ms, 1s, 2.5s, 5m, 1h, 7d)",
			    v);
			return -1;
		}
		d = (double)u;
		have_num = 1;
		break;
	case KW_CONF_SIZE:
		if (kw_parse_size(v, &u) == -1) {
			snprintf(msg, len,
			    QV " is not a size "
			       "(e.g. 4096, 64k, 16M, 1G)",
			    v);
			return -1;
		}
		d = (double)u;
		have_num = 1;
		break;
	case KW_CONF_LIST:
		for (p = v; p != NULL;) {
			item = conf_list_next(&p, &ilen);
			if (ilen > CONF_LIST_ITEM_MAX) {
				snprintf(msg, len,
				    "list item \"%.*s\" longer "
				    "than %d characters",
				    (int)ilen, item, CONF_LIST_ITEM_MAX);
				return -1;
			}
		}
		return 0;
	}
	if (have_num && (k->flags & CK_BOUNDS) && (d < k->min || d > k->max)) {
		if (k->type == KW_CONF_DURATION)
			snprintf(msg, len,
			    QV " is out of range (%.0fms to "
			       "%.0fms)",
			    v, k->min, k->max);
		else if (k->flags & CK_OCTAL)
			snprintf(msg, len, QV " is out of range (%o to %o)", v,
			    (unsigned)k->min, (unsigned)k->max);
		else
			snprintf(msg, len,
			    QV " is out of range "
			       "(%.15g to %.15g)",
			    v, k->min, k->max);
		return -1;
	}
	return 0;
}
