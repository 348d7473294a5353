/*
 * Configuration: one schema table, the INI file (inih), -o overrides, the
 * shared command line, and the views of the result (getters, INI, JSON,
 * the argv a supervisor passes on). Every value is checked when it is set,
 * so getters never fail.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ini.h>
#include <jansson.h>

#include "kwarden.h"

#define CONF_DEFAULT_FILE	"/etc/kwarden/kwarden.conf"
#define CONF_LIST_ITEM_MAX	63	/* kw_conf_list fills char[64] */
#define CONF_CLASS_NAME_MAX	48
#define CONF_VALUE_MAX		1024
#define QV			"\"%.200s\""	/* a value in a message */

/* Key flags */
#define CK_NONEMPTY	0x01		/* a string that may not be "" */
#define CK_OCTAL	0x02		/* an INT written in octal (modes) */
#define CK_BOUNDS	0x04		/* min..max apply */

struct conf_key {
	const char		*section;
	const char		*key;
	enum kw_conf_type	 type;
	const char		*def;
	const char		*choices;	/* "a|b|c" or NULL */
	const char		*help;
	int			 flags;
	double			 min, max;	/* ms for durations */
};

#define LOG_LEVEL_KEY(sec) \
	{ sec, "log_level", KW_CONF_STR, "info", "debug|info|warn|error", \
	    "log level", 0, 0, 0 }

static const struct conf_key schema[] = {
	{ "paths", "run_dir", KW_CONF_STR, "/run/kwarden", NULL,
	    "directory of the sockets (reader.sock, decider.ctl, ...)",
	    CK_NONEMPTY, 0, 0 },
	{ "paths", "database", KW_CONF_STR, "/var/lib/kwarden/kwarden.db",
	    NULL, "SQLite database", CK_NONEMPTY, 0, 0 },
	{ "paths", "socket_mode", KW_CONF_INT, "0660", NULL,
	    "file mode of the sockets, octal", CK_OCTAL | CK_BOUNDS, 0, 0777 },
	{ "paths", "socket_group", KW_CONF_STR, "", NULL,
	    "group of the sockets (empty: the daemon's own)", 0, 0, 0 },

	{ "reader", "interval", KW_CONF_DURATION, "1s", NULL,
	    "sampling interval", CK_BOUNDS, 10, 3600 * 1000 },
	{ "reader", "source", KW_CONF_STR, "auto", "auto|kmod|procfs",
	    "where to read processes from (auto: kmod file if present)", 0,
	    0, 0 },
	{ "reader", "kmod_path", KW_CONF_STR, "/proc/sysinfo_so1_202041390",
	    NULL, "the kernel module's /proc file", CK_NONEMPTY, 0, 0 },
	{ "reader", "proc_root", KW_CONF_STR, "/proc", NULL,
	    "procfs root for the procfs source", CK_NONEMPTY, 0, 0 },
	{ "reader", "ring_size", KW_CONF_SIZE, "4M", NULL,
	    "replay ring of the reader stream", CK_BOUNDS, 4096,
	    (double)(1ULL << 40) },
	LOG_LEVEL_KEY("reader"),

	{ "decider", "top_k", KW_CONF_INT, "10", NULL,
	    "processes published by CPU and by memory", CK_BOUNDS, 0, 10000 },
	{ "decider", "ring_size", KW_CONF_SIZE, "32M", NULL,
	    "replay ring of the decider stream", CK_BOUNDS, 4096,
	    (double)(1ULL << 40) },
	{ "decider", "docker_socket", KW_CONF_STR, "/var/run/docker.sock",
	    NULL, "Docker Engine API socket", CK_NONEMPTY, 0, 0 },
	{ "decider", "docker_timeout", KW_CONF_DURATION, "10s", NULL,
	    "give up on a Docker API call after this long", CK_BOUNDS, 100,
	    3600 * 1000 },
	{ "decider", "stop_ack_wait", KW_CONF_DURATION, "3s", NULL,
	    "on stop, wait this long for the recorder to ack what was "
	    "published", CK_BOUNDS, 0, 3600 * 1000 },
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
	    "candidate", CK_BOUNDS, 0, 100 },
	{ "policy", "mem_threshold", KW_CONF_NUM, "20", NULL,
	    "memory percent of MemTotal above which a container is a "
	    "candidate", CK_BOUNDS, 0, 100 },
	{ "policy", "window", KW_CONF_DURATION, "5s", NULL,
	    "CPU rate averaging window", CK_BOUNDS, 1, 86400 * 1000 },
	{ "policy", "action", KW_CONF_STR, "remove", "remove|stop|kill|dry-run",
	    "what to do with a candidate (remove = docker rm -f)", 0, 0,
	    0 },
	{ "policy", "protect", KW_CONF_LIST, "grafana, kwarden", NULL,
	    "substrings of name or image never acted on", 0, 0, 0 },
};
#define NKEYS	(sizeof(schema) / sizeof(schema[0]))

/* The keys of every [class.NAME] section. */
static const struct conf_key class_schema[] = {
	{ "class", "match", KW_CONF_LIST, "", NULL,
	    "substrings of name or image (* = everything)", 0, 0, 0 },
	{ "class", "min_alive", KW_CONF_INT, "0", NULL,
	    "never act when it would leave fewer running", CK_BOUNDS, 0,
	    1000000 },
};
#define NCLASSKEYS	(sizeof(class_schema) / sizeof(class_schema[0]))

static const struct {
	const char	*name;
	const char	*val[NCLASSKEYS];
} class_defaults[] = {
	{ "high", { "high, cpu, mem", "2" } },
	{ "low", { "*", "3" } },
};

static const char *const sections[] = {
	"paths", "reader", "decider", "recorder", "run", "policy",
};

struct conf_class {
	char	*name;
	char	*val[NCLASSKEYS];
};

/* An override from the command line or the API, replayed on reload. */
enum conf_op_kind {
	OP_SET,
	OP_STATE_DIR,
};

struct conf_op {
	enum conf_op_kind	 kind;
	char			*section;
	char			*key;
	char			*value;
	char			*origin;
};

struct kw_conf {
	char			*val[NKEYS];
	struct conf_class	*classes;
	size_t			 nclasses;
	char			*file;		/* loaded file or NULL */
	int			 file_explicit;
	struct conf_op		*ops;
	size_t			 nops;
	char			**argv;		/* kw_conf_argv, NULL ended */
	size_t			 argc;
};

/* Out of memory: not worth unwinding for in a config parser. */
static void *
xcalloc(size_t n, size_t size)
{
	void	*p;

	if ((p = calloc(n, size)) == NULL)
		abort();
	return p;
}

static void *
xreallocarray(void *p, size_t n, size_t size)
{
	if ((p = reallocarray(p, n, size)) == NULL)
		abort();
	return p;
}

static char *
xstrdup(const char *s)
{
	char	*p;

	if ((p = strdup(s)) == NULL)
		abort();
	return p;
}

static void
replace(char **dst, const char *src)
{
	char	*p = xstrdup(src);

	free(*dst);
	*dst = p;
}

/*
 * "config: ORIGIN: " then "SECTION.KEY: " unless the origin names the key
 * itself (a command line flag: "-o x.y", "--interval"), then the message.
 */
static void __attribute__((format(printf, 6, 7)))
conf_err(char *errbuf, size_t errlen, const char *origin, const char *section,
    const char *key, const char *fmt, ...)
{
	va_list	ap;
	size_t	n;
	int	r;

	if (errbuf == NULL || errlen == 0)
		return;
	if (origin != NULL && origin[0] == '-')
		r = snprintf(errbuf, errlen, "config: %s: ", origin);
	else if (origin != NULL && key != NULL)
		r = snprintf(errbuf, errlen, "config: %s: %s.%s: ", origin,
		    section, key);
	else if (origin != NULL)
		r = snprintf(errbuf, errlen, "config: %s: ", origin);
	else
		r = snprintf(errbuf, errlen, "config: %s.%s: ", section, key);
	n = r < 0 ? 0 : (size_t)r;
	if (n >= errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(errbuf + n, errlen - n, fmt, ap);
	va_end(ap);
}

static const struct conf_key *
find_key(const char *section, const char *key, size_t *idx)
{
	size_t	i;

	for (i = 0; i < NKEYS; i++) {
		if (strcmp(schema[i].section, section) == 0 &&
		    strcmp(schema[i].key, key) == 0) {
			*idx = i;
			return &schema[i];
		}
	}
	return NULL;
}

static const struct conf_key *
find_class_key(const char *key, size_t *idx)
{
	size_t	i;

	for (i = 0; i < NCLASSKEYS; i++) {
		if (strcmp(class_schema[i].key, key) == 0) {
			*idx = i;
			return &class_schema[i];
		}
	}
	return NULL;
}

static int
known_section(const char *section)
{
	size_t	i;

	for (i = 0; i < sizeof(sections) / sizeof(sections[0]); i++)
		if (strcmp(sections[i], section) == 0)
			return 1;
	return 0;
}

/* "class.NAME" -> NAME if NAME is [a-z0-9_-]+, else NULL. */
static const char *
class_part(const char *section)
{
	const char	*name, *p;

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

static struct conf_class *
find_class(const struct kw_conf *conf, const char *name)
{
	size_t	i;

	for (i = 0; i < conf->nclasses; i++)
		if (strcmp(conf->classes[i].name, name) == 0)
			return &conf->classes[i];
	return NULL;
}

static struct conf_class *
add_class(struct kw_conf *conf, const char *name)
{
	struct conf_class	*cl;
	size_t			 i;

	if ((cl = find_class(conf, name)) != NULL)
		return cl;
	conf->classes = xreallocarray(conf->classes, conf->nclasses + 1,
	    sizeof(*conf->classes));
	cl = &conf->classes[conf->nclasses++];
	cl->name = xstrdup(name);
	for (i = 0; i < NCLASSKEYS; i++)
		cl->val[i] = xstrdup(class_schema[i].def);
	return cl;
}

/*
 * Check a section name; creates the class of a new [class.NAME].
 * -1 with a message for an unknown section.
 */
static int
conf_section(struct kw_conf *conf, const char *section, const char *origin,
    char *errbuf, size_t errlen)
{
	const char	*name;

	if (known_section(section))
		return 0;
	if ((name = class_part(section)) != NULL) {
		add_class(conf, name);
		return 0;
	}
	if (strncmp(section, "class.", 6) == 0)
		conf_err(errbuf, errlen, origin, NULL, NULL,
		    "bad class name [%s] (use [class.NAME], NAME of a-z, "
		    "0-9, _ and -)", section);
	else
		conf_err(errbuf, errlen, origin, NULL, NULL,
		    "unknown section [%s]", section);
	return -1;
}

static int
parse_uint(const char *v, int base, uint64_t *out)
{
	const char	*p;
	char		*end;
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

static int
parse_num(const char *v, double *out)
{
	const char	*p;
	char		*end;
	double		 d;

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

static int
in_choices(const char *choices, const char *v)
{
	const char	*p = choices, *bar;
	size_t		 len;

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
	size_t	i, j;

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

/* Check one value against its key; a message ("... is not ...") if bad. */
static int
check_value(const struct conf_key *k, const char *v, char *msg, size_t len)
{
	char		 cbuf[128];
	const char	*p, *item, *comma;
	uint64_t	 u = 0;
	double		 d = 0;
	int		 have_num = 0;

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
			snprintf(msg, len, QV ": a ';' at the start or after "
			    "a space starts a comment", v);
			return -1;
		}
	}
	if (v[0] != '\0' && (isspace((unsigned char)v[0]) ||
	    isspace((unsigned char)v[strlen(v) - 1]))) {
		snprintf(msg, len, QV ": leading or trailing space", v);
		return -1;
	}

	switch (k->type) {
	case KW_CONF_STR:
		if ((k->flags & CK_NONEMPTY) && v[0] == '\0') {
			snprintf(msg, len, "may not be empty");
			return -1;
		}
		if (k->choices != NULL && !in_choices(k->choices, v)) {
			snprintf(msg, len, QV " is not one of %s", v,
			    choices_text(k->choices, cbuf, sizeof(cbuf)));
			return -1;
		}
		return 0;
	case KW_CONF_INT:
		if (parse_uint(v, (k->flags & CK_OCTAL) ? 8 : 10, &u) == -1) {
			snprintf(msg, len, (k->flags & CK_OCTAL) ?
			    QV " is not an octal number" :
			    QV " is not a non-negative integer", v);
			return -1;
		}
		d = (double)u;
		have_num = 1;
		break;
	case KW_CONF_NUM:
		if (parse_num(v, &d) == -1) {
			snprintf(msg, len, QV " is not a number", v);
			return -1;
		}
		have_num = 1;
		break;
	case KW_CONF_DURATION:
		if (kw_parse_duration_ms(v, &u) == -1) {
			snprintf(msg, len, QV " is not a duration "
			    "(e.g. 500ms, 1s, 2.5s, 5m, 1h, 7d)", v);
			return -1;
		}
		d = (double)u;
		have_num = 1;
		break;
	case KW_CONF_SIZE:
		if (kw_parse_size(v, &u) == -1) {
			snprintf(msg, len, QV " is not a size "
			    "(e.g. 4096, 64k, 16M, 1G)", v);
			return -1;
		}
		d = (double)u;
		have_num = 1;
		break;
	case KW_CONF_LIST:
		for (item = v; item != NULL; item = comma ? comma + 1 : NULL) {
			size_t	ilen;

			comma = strchr(item, ',');
			ilen = comma ? (size_t)(comma - item) : strlen(item);
			while (ilen > 0 && isspace((unsigned char)*item)) {
				item++;
				ilen--;
			}
			while (ilen > 0 &&
			    isspace((unsigned char)item[ilen - 1]))
				ilen--;
			if (ilen > CONF_LIST_ITEM_MAX) {
				snprintf(msg, len, "list item \"%.*s\" longer "
				    "than %d characters", (int)ilen, item,
				    CONF_LIST_ITEM_MAX);
				return -1;
			}
		}
		return 0;
	}
	if (have_num && (k->flags & CK_BOUNDS) && (d < k->min || d > k->max)) {
		if (k->type == KW_CONF_DURATION)
			snprintf(msg, len, QV " is out of range (%.0fms to "
			    "%.0fms)", v, k->min, k->max);
		else if (k->flags & CK_OCTAL)
			snprintf(msg, len, QV " is out of range (0 to %o)",
			    v, (unsigned)k->max);
		else
			snprintf(msg, len, QV " is out of range "
			    "(%.15g to %.15g)", v, k->min, k->max);
		return -1;
	}
	return 0;
}

/* Set one value: the section must exist (or be a valid class.NAME). */
static int
conf_set_value(struct kw_conf *conf, const char *section, const char *key,
    const char *value, const char *origin, char *errbuf, size_t errlen)
{
	const struct conf_key	*k;
	struct conf_class	*cl = NULL;
	const char		*cname;
	char			 msg[512];
	size_t			 idx;

	if ((cname = class_part(section)) != NULL) {
		k = find_class_key(key, &idx);
	} else if (known_section(section)) {
		k = find_key(section, key, &idx);
	} else {
		conf_section(conf, section, origin, errbuf, errlen);
		return -1;
	}
	if (k == NULL) {
		conf_err(errbuf, errlen, origin, section, key, "unknown key");
		return -1;
	}
	if (check_value(k, value, msg, sizeof(msg)) == -1) {
		conf_err(errbuf, errlen, origin, section, key, "%s", msg);
		return -1;
	}
	if (cname != NULL) {
		cl = add_class(conf, cname);
		replace(&cl->val[idx], value);
	} else
		replace(&conf->val[idx], value);
	return 0;
}

static struct kw_conf *
conf_new(void)
{
	struct kw_conf	*conf;
	size_t		 i, j;

	conf = xcalloc(1, sizeof(*conf));
	for (i = 0; i < NKEYS; i++)
		conf->val[i] = xstrdup(schema[i].def);
	for (i = 0; i < sizeof(class_defaults) / sizeof(class_defaults[0]);
	    i++) {
		struct conf_class *cl = add_class(conf, class_defaults[i].name);

		for (j = 0; j < NCLASSKEYS; j++)
			replace(&cl->val[j], class_defaults[i].val[j]);
	}
	return conf;
}

void
kw_conf_free(struct kw_conf *conf)
{
	size_t	i, j;

	if (conf == NULL)
		return;
	for (i = 0; i < NKEYS; i++)
		free(conf->val[i]);
	for (i = 0; i < conf->nclasses; i++) {
		free(conf->classes[i].name);
		for (j = 0; j < NCLASSKEYS; j++)
			free(conf->classes[i].val[j]);
	}
	free(conf->classes);
	for (i = 0; i < conf->nops; i++) {
		free(conf->ops[i].section);
		free(conf->ops[i].key);
		free(conf->ops[i].value);
		free(conf->ops[i].origin);
	}
	free(conf->ops);
	for (i = 0; i < conf->argc; i++)
		free(conf->argv[i]);
	free(conf->argv);
	free(conf->file);
	free(conf);
}

/* kw_conf_argv: -c FILE, then each override as -o SECTION.KEY=VALUE. */
static void
argv_push(struct kw_conf *conf, char *s)
{
	conf->argv = xreallocarray(conf->argv, conf->argc + 2,
	    sizeof(*conf->argv));
	conf->argv[conf->argc++] = s;
	conf->argv[conf->argc] = NULL;
}

static void
argv_push_set(struct kw_conf *conf, const char *section, const char *key,
    const char *value)
{
	char	*s;

	if (asprintf(&s, "%s.%s=%s", section, key, value) == -1)
		abort();
	argv_push(conf, xstrdup("-o"));
	argv_push(conf, s);
}

static void
op_record(struct kw_conf *conf, enum conf_op_kind kind, const char *section,
    const char *key, const char *value, const char *origin)
{
	struct conf_op	*op;

	conf->ops = xreallocarray(conf->ops, conf->nops + 1,
	    sizeof(*conf->ops));
	op = &conf->ops[conf->nops++];
	op->kind = kind;
	op->section = section ? xstrdup(section) : NULL;
	op->key = key ? xstrdup(key) : NULL;
	op->value = xstrdup(value);
	op->origin = origin ? xstrdup(origin) : NULL;
}

/* The file reader: counts lines and checks [section] headers itself. */
struct conf_parse {
	struct kw_conf	*conf;
	const char	*file;
	FILE		*fp;
	char		*line;
	size_t		 linecap;
	int		 lineno;
	int		 err_line;	/* first error we reported, 0 if none */
	char		*errbuf;
	size_t		 errlen;
};

static void
parse_fail(struct conf_parse *cp, const char *section, const char *key,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
parse_fail(struct conf_parse *cp, const char *section, const char *key,
    const char *fmt, ...)
{
	char	origin[1100], msg[512];
	va_list	ap;

	if (cp->err_line != 0)
		return;		/* keep the first error */
	cp->err_line = cp->lineno;
	snprintf(origin, sizeof(origin), "%s:%d", cp->file, cp->lineno);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	conf_err(cp->errbuf, cp->errlen, origin, section, key, "%s", msg);
}

static char *
conf_reader(char *str, int num, void *stream)
{
	struct conf_parse	*cp = stream;
	ssize_t			 n;
	char			*p, *end, save;

	if (cp->err_line != 0)
		return NULL;	/* stop at the first error */
	if ((n = getline(&cp->line, &cp->linecap, cp->fp)) == -1)
		return NULL;
	cp->lineno++;
	if (n > 0 && cp->line[n - 1] == '\n')
		n--;
	if (n > 0 && cp->line[n - 1] == '\r')
		n--;
	if (n + 2 > num) {
		parse_fail(cp, NULL, NULL, "line longer than %d characters",
		    num - 3);
		return NULL;
	}
	if (memchr(cp->line, '\0', (size_t)n) != NULL) {
		parse_fail(cp, NULL, NULL, "NUL byte in line");
		return NULL;
	}

	/* [section] headers: inih only tells us about keys. */
	p = cp->line;
	if (cp->lineno == 1 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
		p += 3;
	while (isspace((unsigned char)*p))
		p++;
	if (*p == '[' && (end = strchr(p, ']')) != NULL) {
		p++;
		while (isspace((unsigned char)*p))
			p++;
		while (end > p && isspace((unsigned char)end[-1]))
			end--;
		save = *end;
		*end = '\0';
		if (conf_section(cp->conf, p, NULL, NULL, 0) == -1) {
			if (strncmp(p, "class.", 6) == 0)
				parse_fail(cp, NULL, NULL, "bad class name "
				    "[%s] (use [class.NAME], NAME of a-z, "
				    "0-9, _ and -)", p);
			else
				parse_fail(cp, NULL, NULL,
				    "unknown section [%s]", p);
			return NULL;
		}
		*end = save;
	}

	memcpy(str, cp->line, (size_t)n);
	str[n] = '\n';
	str[n + 1] = '\0';
	return str;
}

static int
conf_handler(void *user, const char *section, const char *name,
    const char *value)
{
	struct conf_parse	*cp = user;
	char			 origin[1100], sec[128];
	size_t			 len;

	if (cp->err_line != 0)
		return 0;
	/* "[ reader ]" is [reader], as the header check in conf_reader. */
	while (isspace((unsigned char)*section))
		section++;
	snprintf(sec, sizeof(sec), "%s", section);
	len = strlen(sec);
	while (len > 0 && isspace((unsigned char)sec[len - 1]))
		sec[--len] = '\0';
	section = sec;
	if (section[0] == '\0') {
		parse_fail(cp, NULL, NULL, "\"%s\" outside of any [section]",
		    name);
		return 0;
	}
	snprintf(origin, sizeof(origin), "%s:%d", cp->file, cp->lineno);
	if (conf_set_value(cp->conf, section, name, value, origin, cp->errbuf,
	    cp->errlen) == -1) {
		cp->err_line = cp->lineno;
		return 0;
	}
	return 1;
}

static int
conf_load_file(struct kw_conf *conf, const char *file, char *errbuf,
    size_t errlen)
{
	struct conf_parse	 cp;
	int			 r;

	memset(&cp, 0, sizeof(cp));
	cp.conf = conf;
	cp.file = file;
	cp.errbuf = errbuf;
	cp.errlen = errlen;
	if ((cp.fp = fopen(file, "r")) == NULL) {
		conf_err(errbuf, errlen, file, NULL, NULL, "%s",
		    strerror(errno));
		return -1;
	}
	/*
	 * An indented line is a plain "key = value", not the continuation of
	 * the previous value (configparser style), so a reindented file
	 * means the same thing. config.c is the only user of inih.
	 */
	ini_allow_multiline = false;
	r = ini_parse_stream(conf_reader, &cp, conf_handler, &cp);
	if (r == 0 && cp.err_line == 0 && ferror(cp.fp)) {
		conf_err(errbuf, errlen, file, NULL, NULL, "read error");
		r = -1;
	}
	fclose(cp.fp);
	free(cp.line);
	if (r == -2) {
		conf_err(errbuf, errlen, file, NULL, NULL, "out of memory");
		return -1;
	}
	if (r > 0 && (cp.err_line == 0 || r < cp.err_line)) {
		char	origin[1100];

		snprintf(origin, sizeof(origin), "%s:%d", file, r);
		conf_err(errbuf, errlen, origin, NULL, NULL, "syntax error "
		    "(expected [section], key = value or a ; comment)");
		return -1;
	}
	if (cp.err_line != 0 || r != 0)
		return -1;
	/* Absolute, so reload and children find it after a chdir. */
	free(conf->file);
	if ((conf->file = realpath(file, NULL)) == NULL)
		conf->file = xstrdup(file);
	return 0;
}

struct kw_conf *
kw_conf_load(const char *file, char *errbuf, size_t errlen)
{
	struct kw_conf	*conf;

	if (errbuf != NULL && errlen > 0)
		errbuf[0] = '\0';
	conf = conf_new();
	if (file != NULL) {
		if (conf_load_file(conf, file, errbuf, errlen) == -1) {
			kw_conf_free(conf);
			return NULL;
		}
		conf->file_explicit = 1;
		argv_push(conf, xstrdup("-c"));
		argv_push(conf, xstrdup(conf->file));
	}
	return conf;
}

int
kw_conf_set(struct kw_conf *conf, const char *section, const char *key,
    const char *value, const char *origin, char *errbuf, size_t errlen)
{
	if (conf_set_value(conf, section, key, value, origin, errbuf,
	    errlen) == -1)
		return -1;
	op_record(conf, OP_SET, section, key, value, origin);
	argv_push_set(conf, section, key, value);
	return 0;
}

static int
state_dir_set(struct kw_conf *conf, const char *dir, int record,
    char *errbuf, size_t errlen)
{
	char	*d, *run_dir, *db;
	size_t	 len;
	int	 r = -1;

	if (dir == NULL || dir[0] == '\0') {
		conf_err(errbuf, errlen, "--state-dir", NULL, NULL,
		    "empty directory");
		return -1;
	}
	d = xstrdup(dir);
	len = strlen(d);
	while (len > 1 && d[len - 1] == '/')
		d[--len] = '\0';
	if (asprintf(&run_dir, "%s/run", strcmp(d, "/") ? d : "") == -1 ||
	    asprintf(&db, "%s/kwarden.db", strcmp(d, "/") ? d : "") == -1)
		abort();
	if (conf_set_value(conf, "paths", "run_dir", run_dir, "--state-dir",
	    errbuf, errlen) == 0 &&
	    conf_set_value(conf, "paths", "database", db, "--state-dir",
	    errbuf, errlen) == 0) {
		r = 0;
		if (record) {
			op_record(conf, OP_STATE_DIR, NULL, NULL, dir,
			    "--state-dir");
			argv_push_set(conf, "paths", "run_dir", run_dir);
			argv_push_set(conf, "paths", "database", db);
		}
	}
	free(run_dir);
	free(db);
	free(d);
	return r;
}

int
kw_conf_apply_state_dir(struct kw_conf *conf, const char *dir, char *errbuf,
    size_t errlen)
{
	return state_dir_set(conf, dir, 1, errbuf, errlen);
}

struct kw_conf *
kw_conf_reload(const struct kw_conf *old, char *errbuf, size_t errlen)
{
	struct kw_conf	*conf;
	size_t		 i;
	const struct conf_op *op;

	if (errbuf != NULL && errlen > 0)
		errbuf[0] = '\0';
	conf = conf_new();
	if (old->file != NULL) {
		/* The default file may have gone away; an explicit one not. */
		if ((old->file_explicit || access(old->file, F_OK) == 0) &&
		    conf_load_file(conf, old->file, errbuf, errlen) == -1) {
			kw_conf_free(conf);
			return NULL;
		}
		conf->file_explicit = old->file_explicit;
		if (conf->file != NULL) {
			argv_push(conf, xstrdup("-c"));
			argv_push(conf, xstrdup(conf->file));
		}
	}
	for (i = 0; i < old->nops; i++) {
		op = &old->ops[i];
		if (op->kind == OP_STATE_DIR) {
			if (state_dir_set(conf, op->value, 1, errbuf,
			    errlen) == -1)
				goto fail;
		} else if (kw_conf_set(conf, op->section, op->key, op->value,
		    op->origin, errbuf, errlen) == -1)
			goto fail;
	}
	return conf;
fail:
	kw_conf_free(conf);
	return NULL;
}

/* "section.key" -> the stored value; abort() on a name not in the schema. */
static const char *
conf_lookup(const struct kw_conf *conf, const char *name,
    const struct conf_key **kp)
{
	const struct conf_class	*cl;
	const struct conf_key	*k;
	const char		*dot, *cname;
	char			 section[128];
	size_t			 idx;

	if ((dot = strrchr(name, '.')) == NULL ||
	    (size_t)(dot - name) >= sizeof(section))
		goto bad;
	memcpy(section, name, (size_t)(dot - name));
	section[dot - name] = '\0';
	if ((cname = class_part(section)) != NULL) {
		if ((k = find_class_key(dot + 1, &idx)) == NULL ||
		    (cl = find_class(conf, cname)) == NULL)
			goto bad;
		*kp = k;
		return cl->val[idx];
	}
	if ((k = find_key(section, dot + 1, &idx)) == NULL)
		goto bad;
	*kp = k;
	return conf->val[idx];
bad:
	fprintf(stderr, "kw_conf: no config key \"%s\"\n", name);
	abort();
}

static const char *
conf_typed(const struct kw_conf *conf, const char *name,
    enum kw_conf_type type, const struct conf_key **kp)
{
	const struct conf_key	*k;
	const char		*v;

	v = conf_lookup(conf, name, &k);
	if (kp != NULL)
		*kp = k;
	if (k->type != type) {
		fprintf(stderr, "kw_conf: key \"%s\" read with the wrong "
		    "type\n", name);
		abort();
	}
	return v;
}

const char *
kw_conf_str(const struct kw_conf *conf, const char *name)
{
	const struct conf_key	*k;

	return conf_lookup(conf, name, &k);
}

uint64_t
kw_conf_int(const struct kw_conf *conf, const char *name)
{
	const struct conf_key	*k;
	const char		*v;
	uint64_t		 u = 0;

	v = conf_typed(conf, name, KW_CONF_INT, &k);
	parse_uint(v, (k->flags & CK_OCTAL) ? 8 : 10, &u);
	return u;
}

double
kw_conf_num(const struct kw_conf *conf, const char *name)
{
	double	d = 0;

	parse_num(conf_typed(conf, name, KW_CONF_NUM, NULL), &d);
	return d;
}

uint64_t
kw_conf_ms(const struct kw_conf *conf, const char *name)
{
	uint64_t	ms = 0;

	kw_parse_duration_ms(conf_typed(conf, name, KW_CONF_DURATION, NULL),
	    &ms);
	return ms;
}

uint64_t
kw_conf_size(const struct kw_conf *conf, const char *name)
{
	uint64_t	bytes = 0;

	kw_parse_size(conf_typed(conf, name, KW_CONF_SIZE, NULL), &bytes);
	return bytes;
}

size_t
kw_conf_list(const struct kw_conf *conf, const char *name, char items[][64],
    size_t max)
{
	const char	*v, *item, *comma;
	size_t		 n = 0, len;

	v = conf_typed(conf, name, KW_CONF_LIST, NULL);
	for (item = v; item != NULL; item = comma ? comma + 1 : NULL) {
		comma = strchr(item, ',');
		len = comma ? (size_t)(comma - item) : strlen(item);
		while (len > 0 && isspace((unsigned char)*item)) {
			item++;
			len--;
		}
		while (len > 0 && isspace((unsigned char)item[len - 1]))
			len--;
		if (len == 0)
			continue;
		if (n < max) {
			if (len > CONF_LIST_ITEM_MAX)
				len = CONF_LIST_ITEM_MAX;
			memcpy(items[n], item, len);
			items[n][len] = '\0';
		}
		n++;
	}
	return n;
}

const char *const *
kw_conf_argv(const struct kw_conf *conf, size_t *argc)
{
	static const char *const empty[] = { NULL };

	if (argc != NULL)
		*argc = conf->argc;
	if (conf->argv == NULL)
		return empty;
	return (const char *const *)conf->argv;
}

size_t
kw_conf_class_count(const struct kw_conf *conf)
{
	return conf->nclasses;
}

const char *
kw_conf_class_name(const struct kw_conf *conf, size_t i)
{
	if (i >= conf->nclasses)
		return NULL;
	return conf->classes[i].name;
}

void
kw_conf_print(const struct kw_conf *conf, FILE *fp)
{
	size_t	i, j;

	if (conf->file != NULL)
		fprintf(fp, "; kwarden effective configuration (file %s)\n",
		    conf->file);
	else
		fprintf(fp, "; kwarden effective configuration (defaults)\n");
	for (i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
		fprintf(fp, "\n[%s]\n", sections[i]);
		for (j = 0; j < NKEYS; j++)
			if (strcmp(schema[j].section, sections[i]) == 0)
				fprintf(fp, "%s = %s\n", schema[j].key,
				    conf->val[j]);
	}
	for (i = 0; i < conf->nclasses; i++) {
		fprintf(fp, "\n[class.%s]\n", conf->classes[i].name);
		for (j = 0; j < NCLASSKEYS; j++)
			fprintf(fp, "%s = %s\n", class_schema[j].key,
			    conf->classes[i].val[j]);
	}
}

struct json_t *
kw_conf_json(const struct kw_conf *conf)
{
	json_t	*root, *sec;
	char	 name[128];
	size_t	 i, j;

	if ((root = json_object()) == NULL)
		return NULL;
	for (i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
		if ((sec = json_object()) == NULL)
			goto fail;
		for (j = 0; j < NKEYS; j++)
			if (strcmp(schema[j].section, sections[i]) == 0)
				json_object_set_new(sec, schema[j].key,
				    json_string(conf->val[j]));
		json_object_set_new(root, sections[i], sec);
	}
	for (i = 0; i < conf->nclasses; i++) {
		if ((sec = json_object()) == NULL)
			goto fail;
		for (j = 0; j < NCLASSKEYS; j++)
			json_object_set_new(sec, class_schema[j].key,
			    json_string(conf->classes[i].val[j]));
		snprintf(name, sizeof(name), "class.%s", conf->classes[i].name);
		json_object_set_new(root, name, sec);
	}
	return root;
fail:
	json_decref(root);
	return NULL;
}

void
kw_conf_sock_path(const struct kw_conf *conf, const char *name,
    const char *suffix, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s%s", kw_conf_str(conf, "paths.run_dir"),
	    name, suffix);
}

/* The command line. */

static const char *
metavar(const struct conf_key *k)
{
	switch (k->type) {
	case KW_CONF_INT:
		return (k->flags & CK_OCTAL) ? "MODE" : "N";
	case KW_CONF_NUM:
		return "NUM";
	case KW_CONF_DURATION:
		return "DURATION";
	case KW_CONF_SIZE:
		return "SIZE";
	case KW_CONF_LIST:
		return "LIST";
	case KW_CONF_STR:
		break;
	}
	return k->choices ? k->choices : "STRING";
}

static void
usage(FILE *fp, const char *section, const char *usage_extra)
{
	char	opt[128];
	size_t	i, j;

	fprintf(fp,
	    "usage: kwarden-%s [options]\n"
	    "\n"
	    "  -c, --config FILE        config file (default %s if it exists)\n"
	    "  -o SECTION.KEY=VALUE     set one config key, repeatable\n"
	    "                           (-o policy.cpu_threshold=10)\n"
	    "  --state-dir DIR          sockets in DIR/run, database "
	    "DIR/kwarden.db\n"
	    "  --print-config           print the effective config as INI "
	    "and exit\n"
	    "  -h, --help               this help\n"
	    "  -V, --version            print the version and exit\n"
	    "\n"
	    "[%s] keys (same as -o %s.KEY=VALUE):\n",
	    section, CONF_DEFAULT_FILE, section, section);
	for (i = 0; i < NKEYS; i++) {
		if (strcmp(schema[i].section, section) != 0)
			continue;
		snprintf(opt, sizeof(opt), "--%s %s", schema[i].key,
		    metavar(&schema[i]));
		for (j = 2; opt[j] != ' ' && opt[j] != '\0'; j++)
			if (opt[j] == '_')
				opt[j] = '-';
		if (strlen(opt) <= 24)
			fprintf(fp, "  %-24s %s (default %s)\n", opt,
			    schema[i].help, schema[i].def);
		else
			fprintf(fp, "  %s\n  %-24s %s (default %s)\n", opt, "",
			    schema[i].help, schema[i].def);
	}
	if (usage_extra != NULL && usage_extra[0] != '\0')
		fprintf(fp, "\n%s%s", usage_extra,
		    usage_extra[strlen(usage_extra) - 1] == '\n' ? "" : "\n");
}

static void __attribute__((noreturn, format(printf, 2, 3)))
cli_fail(const char *section, const char *fmt, ...)
{
	va_list	ap;

	fprintf(stderr, "kwarden-%s: ", section);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\ntry 'kwarden-%s --help'\n", section);
	exit(2);
}

/* "--key-name" -> the schema key of `section`, or NULL. */
static const struct conf_key *
own_key(const char *section, const char *opt, size_t len)
{
	char	key[64];
	size_t	i, idx;

	if (len >= sizeof(key))
		return NULL;
	for (i = 0; i < len; i++)
		key[i] = opt[i] == '-' ? '_' : opt[i];
	key[len] = '\0';
	if (strchr(key, '.') != NULL)
		return NULL;
	return find_key(section, key, &idx);
}

struct cli_op {
	enum conf_op_kind	 kind;
	char			*section;	/* OP_SET */
	char			*key;
	const char		*value;
	char			 origin[160];
};

struct kw_conf *
kw_conf_cli(int argc, char **argv, const char *section,
    const char *usage_extra)
{
	struct kw_conf		*conf;
	struct cli_op		*ops;
	const struct conf_key	*k;
	const char		*file = NULL, *arg, *val, *eq, *dot;
	char			 err[1536];
	size_t			 nops = 0, i, len;
	int			 a, print = 0;

	if (!known_section(section) || strcmp(section, "paths") == 0 ||
	    strcmp(section, "policy") == 0) {
		fprintf(stderr, "kw_conf_cli: bad section \"%s\"\n", section);
		abort();
	}
	ops = xcalloc((size_t)argc + 1, sizeof(*ops));

	for (a = 1; a < argc; a++) {
		arg = argv[a];
		val = NULL;
		if (strcmp(arg, "--") == 0) {
			if (a + 1 < argc)
				cli_fail(section, "unexpected argument \"%s\"",
				    argv[a + 1]);
			break;
		}
		if (arg[0] != '-' || arg[1] == '\0')
			cli_fail(section, "unexpected argument \"%s\"", arg);

		/* Short options, with the value attached or next. */
		if (arg[1] != '-') {
			switch (arg[1]) {
			case 'h':
			case 'V':
				if (arg[2] != '\0')
					cli_fail(section, "unknown option "
					    "\"%s\"", arg);
				if (arg[1] == 'h')
					usage(stdout, section, usage_extra);
				else
					printf("kwarden-%s %s\n", section,
					    KW_VERSION);
				exit(0);
			case 'c':
			case 'o':
				if (arg[2] != '\0')
					val = arg + 2;
				else if (a + 1 < argc)
					val = argv[++a];
				else
					cli_fail(section, "option -%c needs a "
					    "value", arg[1]);
				break;
			default:
				cli_fail(section, "unknown option \"%s\"", arg);
			}
			if (arg[1] == 'c') {
				file = val;
				continue;
			}
			goto set_o;
		}

		/* Long options: --name, --name=value, --name value. */
		arg += 2;
		eq = strchr(arg, '=');
		len = eq ? (size_t)(eq - arg) : strlen(arg);
		if (eq != NULL)
			val = eq + 1;
#define IS(s)	(len == strlen(s) && strncmp(arg, s, len) == 0)
		if (IS("help") || IS("version") || IS("print-config")) {
			if (val != NULL)
				cli_fail(section, "option --%.*s takes no "
				    "value", (int)len, arg);
			if (IS("help")) {
				usage(stdout, section, usage_extra);
				exit(0);
			}
			if (IS("version")) {
				printf("kwarden-%s %s\n", section, KW_VERSION);
				exit(0);
			}
			print = 1;
			continue;
		}
		k = NULL;
		if (!IS("config") && !IS("state-dir") &&
		    (k = own_key(section, arg, len)) == NULL)
			cli_fail(section, "unknown option \"--%.*s\"",
			    (int)len, arg);
		if (val == NULL) {
			if (a + 1 >= argc)
				cli_fail(section, "option --%s needs a value",
				    arg);
			val = argv[++a];
		}
		if (IS("config")) {
			file = val;
			continue;
		}
		if (IS("state-dir")) {
			ops[nops].kind = OP_STATE_DIR;
			ops[nops].value = val;
			snprintf(ops[nops].origin, sizeof(ops[nops].origin),
			    "--state-dir");
			nops++;
			continue;
		}
		ops[nops].kind = OP_SET;
		ops[nops].section = xstrdup(section);
		ops[nops].key = xstrdup(k->key);
		ops[nops].value = val;
		snprintf(ops[nops].origin, sizeof(ops[nops].origin), "--%.*s",
		    (int)len, arg);
		nops++;
		continue;
#undef IS
set_o:
		/* -o SECTION.KEY=VALUE; the key is after the last dot. */
		if ((eq = strchr(val, '=')) == NULL ||
		    (dot = memrchr(val, '.', (size_t)(eq - val))) == NULL ||
		    dot == val || dot + 1 == eq) {
			cli_fail(section, "config: -o %s: expected "
			    "SECTION.KEY=VALUE", val);
		}
		ops[nops].kind = OP_SET;
		ops[nops].section = strndup(val, (size_t)(dot - val));
		ops[nops].key = strndup(dot + 1, (size_t)(eq - dot - 1));
		if (ops[nops].section == NULL || ops[nops].key == NULL)
			abort();
		ops[nops].value = eq + 1;
		snprintf(ops[nops].origin, sizeof(ops[nops].origin), "-o %.*s",
		    (int)(eq - val), val);
		nops++;
	}

	/* Defaults, the file, then the overrides in command line order. */
	err[0] = '\0';
	if (file != NULL)
		conf = kw_conf_load(file, err, sizeof(err));
	else if (access(CONF_DEFAULT_FILE, F_OK) == 0) {
		if ((conf = kw_conf_load(CONF_DEFAULT_FILE, err,
		    sizeof(err))) != NULL)
			conf->file_explicit = 0;
	} else
		conf = kw_conf_load(NULL, err, sizeof(err));
	if (conf == NULL)
		cli_fail(section, "%s", err);

	for (i = 0; i < nops; i++) {
		int	r;

		if (ops[i].kind == OP_STATE_DIR)
			r = kw_conf_apply_state_dir(conf, ops[i].value, err,
			    sizeof(err));
		else
			r = kw_conf_set(conf, ops[i].section, ops[i].key,
			    ops[i].value, ops[i].origin, err, sizeof(err));
		if (r == -1)
			cli_fail(section, "%s", err);
	}
	for (i = 0; i < nops; i++) {
		free(ops[i].section);
		free(ops[i].key);
	}
	free(ops);

	if (print) {
		kw_conf_print(conf, stdout);
		kw_conf_free(conf);
		exit(0);
	}
	return conf;
}
