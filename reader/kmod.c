/*
 * The kmod source: the JSON the kernel modules publish in /proc, parsed in
 * one pass with yajl's event (SAX) parser straight into the snapshot's
 * records: no document tree is built (a DOM of the full file at 10,000
 * processes cost more than the procfs walk it replaces). The seed's older
 * format (trailing commas, no cpu_ns, "containers" instead of "processes")
 * is accepted too.
 *
 * What is rejected and what is skipped:
 * - the whole snapshot is rejected (-1, err says where) when the JSON does
 *   not parse (truncated, invalid UTF-8, a duplicate key in any object,
 *   nesting deeper than KMOD_MAX_DEPTH, integers out of int64's range,
 *   reals out of a double's, more than KMOD_MAX_OTHER_KEYS keys the
 *   parser does not know in one object), when the top level is not an
 *   object, when a host field has the wrong type, when neither
 *   "processes" nor "containers" is an array, and when every entry is
 *   malformed;
 * - a malformed process entry (not an object, pid missing or not a positive
 *   integer, a known field of the wrong type) is skipped: the count is
 *   returned and err names the first one, so the caller can log it. One odd
 *   process must not blind the monitor to all the others.
 * - strings are never an error for their length: name is cut to
 *   KW_NAME_LEN - 1 bytes, cmdline to KW_CMDLINE_MAX - 1 (at a UTF-8
 *   boundary). A \u0000 inside a string ends it there.
 * cpu_ns, when absent (seed format), is taken from proc_jiffies, which the
 * seed's module filled with task->utime + task->stime: nanoseconds on every
 * kernel since 4.11, despite the name. Its own sample output shows it:
 * every value is a multiple of 10^6 (ms ticks at HZ=1000) and systemd has
 * 7035000000, i.e. 7 s; read as USER_HZ ticks it would be 814 days, and
 * every container would look like millions of percent of CPU. So seed
 * proc_jiffies is used as ns as is (KMOD_SEED_JIFFY_NS = 1); the new
 * modules send cpu_ns, which always wins. mem_pct is ignored: the decider
 * computes it from rss_kb and mem_total_kb.
 */
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <yajl/yajl_parse.h>

#include "reader.h"

/* Deeper nesting is refused (jansson, used before, refused past 2048). */
#define KMOD_MAX_DEPTH 512
/*
 * Keys the parser does not know, in one object: each is compared with the
 * others of its object (duplicates are refused), so a cap keeps a hostile
 * file linear. The modules' objects have a few at most.
 */
#define KMOD_MAX_OTHER_KEYS 64

void
kmod_strip_trailing_commas(char *buf, size_t len)
{
	size_t i, j;
	int in_str = 0, esc = 0;

	for (i = 0; i < len; i++) {
		if (in_str) {
			if (esc)
				esc = 0;
			else if (buf[i] == '\\')
				esc = 1;
			else if (buf[i] == '"')
				in_str = 0;
			continue;
		}
		if (buf[i] == '"') {
			in_str = 1;
			continue;
		}
		if (buf[i] != ',')
			continue;
		for (j = i + 1; j < len; j++)
			if (buf[j] != ' ' && buf[j] != '\t' &&
			    buf[j] != '\n' && buf[j] != '\r')
				break;
		/* A space keeps the error positions true to the file. */
		if (j < len && (buf[j] == ']' || buf[j] == '}'))
			buf[i] = ' ';
	}
}

/* Whether kmod_strip_trailing_commas would change anything (the seed's). */
static int
has_trailing_comma(const char *buf, size_t len)
{
	const char *p = buf, *end = buf + len, *q;

	/* Only a comma before a closer matters: look at each closer. */
	while ((q = memchr(p, ',', (size_t)(end - p))) != NULL) {
		p = q + 1;
		while (p < end &&
		    (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
			p++;
		if (p < end && (*p == ']' || *p == '}'))
			return 1; /* maybe inside a string: strip decides */
	}
	return 0;
}

enum jtype {
	JT_NULL,
	JT_BOOL,
	JT_INT,
	JT_REAL,
	JT_STR,
	JT_OBJ,
	JT_ARR
};

static const char *const jtype_names[] = { "null", "boolean", "integer",
	"real", "string", "object", "array" };

/* A value kept for the checks after the parse. */
struct jfield {
	int set;
	enum jtype type;
	int64_t v; /* JT_INT; JT_BOOL 0 or 1 */
};

/* The top object's keys. */
enum {
	T_MEM_TOTAL,
	T_MEM_FREE,
	T_MEM_USED,
	T_MEM_AVAILABLE,
	T_NCPU,
	T_TS,
	T_FULL,
	T_GENERATION,
	T_CAP_HITS,
	T_EXITED,
	T_PROCESSES,
	T_CONTAINERS,
	T_NKEYS
};
static const char *const top_keys[T_NKEYS] = { "mem_total_kb", "mem_free_kb",
	"mem_used_kb", "mem_available_kb", "ncpu", "ts_ns", "full",
	"generation", "cap_hits", "exited", "processes", "containers" };

/* A process entry's keys: integers, then strings, then ignored. */
enum {
	P_PID,
	P_PPID,
	P_UID,
	P_THREADS,
	P_VSZ,
	P_RSS,
	P_START,
	P_CPU,
	P_JIFFIES,
	P_NAME,
	P_CMDLINE,
	P_STATE,
	P_CID,
	P_CGROUP,
	P_MEM_PCT,
	P_NKEYS
};
static const char *const proc_keys[P_NKEYS] = { "pid", "ppid", "uid",
	"threads", "vsz_kb", "rss_kb", "start_ns", "cpu_ns", "proc_jiffies",
	"name", "cmdline", "state", "container_id", "cgroup", "mem_pct" };

enum level_kind {
	L_TOP,	  /* the top object */
	L_PROCS,  /* "processes" or "containers" */
	L_PROC,	  /* one entry */
	L_EXITED, /* the delta file's "exited" */
	L_SKIP	  /* anything else, read for its syntax only */
};

struct level {
	enum level_kind kind;
	int is_map;
	int key;	/* L_TOP, L_PROC: the pending value's key, -1 other */
	int array;	/* L_PROCS: T_PROCESSES or T_CONTAINERS */
	uint32_t seen;	/* known keys seen */
	size_t others;	/* offset of this map's other keys in jp->keys */
	size_t nothers; /* how many */
	size_t index;	/* L_PROCS, L_EXITED: the next element's index */
};

/* The parse's state, handed to every callback. */
struct jp {
	yajl_handle h;
	const char *buf;
	size_t len;
	struct kw_snapshot *snap;
	struct kmod_info *info;
	int delta;
	char *err;
	size_t errlen;
	int failed; /* err set: the callback stops the parse */

	struct level lv[KMOD_MAX_DEPTH];
	int depth;
	char *keys; /* other keys of the open maps, each NUL-terminated */
	size_t nkeys, capkeys;

	struct jfield top[T_NKEYS];
	size_t narrays, nentries;
	int skipped;
	char first[256]; /* the first malformed entry */

	/* The entry being read. */
	struct kw_proc *p;
	int bad;
	struct jfield jiffies;
	int cg_set, cg_cut, cg_long;
	size_t cglen;
	char cg[PATH_MAX];

	/* The delta file's exited pids. */
	int32_t *exited;
	size_t nexited, capexited;
	long ex_bad; /* the first bad element's index, or -1 */
};

/* Line and column of byte off, for the error. */
static void
position(const struct jp *jp, size_t off, int *line, int *col)
{
	size_t i, start = 0;

	*line = 1;
	if (off > jp->len)
		off = jp->len;
	for (i = 0; i < off; i++)
		if (jp->buf[i] == '\n') {
			(*line)++;
			start = i + 1;
		}
	*col = (int)(off - start) + 1;
}

/* A whole-document error at the current token: stop the parse. */
static int __attribute__((format(printf, 2, 3)))
fail_at(struct jp *jp, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	size_t off = yajl_get_bytes_consumed(jp->h);
	int line, col;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	position(jp, off, &line, &col);
	kw_seterr(jp->err, jp->errlen, "line %d column %d (byte %zu): %s",
	    line, col, off, msg);
	jp->failed = 1;
	return 0;
}

/* A whole-document error with no position (the top level's). */
static int
fail_plain(struct jp *jp, const char *msg)
{
	kw_seterr(jp->err, jp->errlen, "%s", msg);
	jp->failed = 1;
	return 0;
}

/* The entry being read is malformed: say so, the first time only. */
static void __attribute__((format(printf, 2, 3)))
entry_bad(struct jp *jp, const char *fmt, ...)
{
	const struct level *l = &jp->lv[jp->depth - 1];
	char msg[192];
	va_list ap;

	if (jp->bad)
		return;
	jp->bad = 1;
	if (jp->first[0] != '\0')
		return;
	/* l is the entry's, its array one below */
	if (l->kind == L_PROC)
		l--;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(jp->first, sizeof(jp->first), "%s[%zu].%s",
	    top_keys[l->array], l->index, msg);
}

static int
lookup(const char *const *names, int n, const unsigned char *key, size_t len)
{
	int i;

	for (i = 0; i < n; i++)
		if (strlen(names[i]) == len && memcmp(names[i], key, len) == 0)
			return i;
	return -1;
}

/* A key the parser does not know: refused if its map has it already. */
static int
other_key(struct jp *jp, struct level *l, const unsigned char *key, size_t len)
{
	const char *k;
	size_t i, need;
	char *nk;

	/* The map's keys so far: nothers strings from keys + others. */
	if (l->nothers > 0 && jp->keys != NULL) {
		k = jp->keys + l->others;
		for (i = 0; i < l->nothers; i++) {
			size_t kl = strlen(k);

			if (kl == len && memcmp(k, key, len) == 0)
				return fail_at(jp,
				    "duplicate object key \"%.*s\"",
				    (int)(len > 64 ? 64 : len),
				    (const char *)key);
			k += kl + 1;
		}
	}
	if (l->nothers >= KMOD_MAX_OTHER_KEYS)
		return fail_at(jp, "more than %d keys in one object",
		    KMOD_MAX_OTHER_KEYS);
	if (memchr(key, '\0', len) != NULL)
		len = strlen((const char *)key); /* \u0000: compared cut */
	need = jp->nkeys + len + 1;
	if (need > jp->capkeys || jp->keys == NULL) {
		size_t ncap = jp->capkeys ? jp->capkeys * 2 : 1024;

		while (ncap < need)
			ncap *= 2;
		if ((nk = realloc(jp->keys, ncap)) == NULL)
			return fail_plain(jp, "out of memory");
		jp->keys = nk;
		jp->capkeys = ncap;
	}
	memcpy(jp->keys + jp->nkeys, key, len);
	jp->keys[jp->nkeys + len] = '\0';
	jp->nkeys = need;
	l->nothers++;
	return 1;
}

static int
push(struct jp *jp, enum level_kind kind, int is_map)
{
	struct level *l;

	if (jp->depth >= KMOD_MAX_DEPTH)
		return fail_at(jp, "maximum parsing depth (%d) reached",
		    KMOD_MAX_DEPTH);
	l = &jp->lv[jp->depth++];
	memset(l, 0, sizeof(*l));
	l->kind = kind;
	l->is_map = is_map;
	l->key = -1;
	l->others = jp->nkeys;
	return 1;
}

/*
 * An integer field's checks (get_uint's of the DOM days): 0 if absent, 1
 * if set, -1 with err on the wrong type or range.
 */
static int
check_uint(const struct jfield *f, const char *where, const char *key,
    uint64_t max, uint64_t *v, char *err, size_t errlen)
{
	if (!f->set)
		return 0;
	if (f->type != JT_INT) {
		kw_seterr(err, errlen, "%s%s: expected integer, got %s", where,
		    key, jtype_names[f->type]);
		return -1;
	}
	if (f->v < 0 || (uint64_t)f->v > max) {
		kw_seterr(err, errlen, "%s%s: %lld out of range", where, key,
		    (long long)f->v);
		return -1;
	}
	*v = (uint64_t)f->v;
	return 1;
}

/* Start reading an entry of "processes" or "containers". */
static int
entry_begin(struct jp *jp)
{
	struct kw_proc *p;

	if ((p = kw_snapshot_add(jp->snap)) == NULL)
		return fail_plain(jp, "out of memory");
	p->threads = 1;
	p->state = '?';
	jp->p = p;
	jp->bad = 0;
	jp->nentries++;
	memset(&jp->jiffies, 0, sizeof(jp->jiffies));
	jp->cg_set = jp->cg_cut = jp->cg_long = 0;
	jp->cglen = 0;
	return 1;
}

/* The entry's end: its defaults, its container; dropped if malformed. */
static int
entry_end(struct jp *jp, const struct level *l)
{
	struct kw_proc *p = jp->p;
	char dir[KW_CGDIR_MAX], id[KW_CID_LEN];
	uint64_t v;
	int no_cid = 0;

	if (!jp->bad && !(l->seen & (1u << P_PID)))
		entry_bad(jp, "pid: missing");
	else if (!jp->bad && p->pid == 0)
		entry_bad(jp, "pid: 0 is not a process");
	if (!jp->bad && !(l->seen & (1u << P_CPU))) {
		char msg[128];
		int r = check_uint(&jp->jiffies, "", "proc_jiffies",
		    INT64_MAX / KMOD_SEED_JIFFY_NS, &v, msg, sizeof(msg));

		if (r == -1)
			entry_bad(jp, "%s", msg);
		else
			p->cpu_ns = r ? v * KMOD_SEED_JIFFY_NS : 0;
	}
	/*
	 * The path the id was taken from: the claim the decider checks
	 * against the container's real directory. Without it (the seed's
	 * modules) the reader reads /proc/<pid>/cgroup itself, and so it does
	 * for a path the module cut ("..."): the claim must be whole.
	 */
	if (!jp->bad && !jp->cg_set)
		no_cid = 1;
	else if (!jp->bad && jp->cg_cut) {
		p->container_id[0] = '\0';
		no_cid = 1;
	} else if (!jp->bad) {
		id[0] = '\0';
		if (!jp->cg_long) {
			jp->cg[jp->cglen] = '\0';
			if (kw_cgroup_container_dir(jp->cg, id, dir,
				sizeof(dir)) != 1)
				id[0] = '\0';
		}
		if (id[0] != '\0' &&
		    (p->container_id[0] == '\0' ||
			strcmp(id, p->container_id) == 0)) {
			memcpy(p->container_id, id, sizeof(p->container_id));
			if (kw_proc_set_cgroup(p, dir, strlen(dir)) == -1)
				return fail_plain(jp, "out of memory");
		} else
			p->container_id[0] = '\0';
	}
	if (jp->bad) {
		/* Drop the entry; its strings go with it. */
		free(p->cmdline);
		p->cmdline = NULL;
		free(p->cgroup);
		p->cgroup = NULL;
		jp->snap->nprocs--;
		jp->skipped++;
	} else if (no_cid && jp->info != NULL)
		jp->info->no_container_id++;
	jp->p = NULL;
	return 1;
}

/* A string field of the entry. */
static int
entry_string(struct jp *jp, int key, const char *s, size_t len)
{
	struct kw_proc *p = jp->p;

	len = strnlen(s, len); /* stop at \u0000 */
	switch (key) {
	case P_NAME:
		len = kw_utf8_cut(s, len, sizeof(p->name) - 1);
		memcpy(p->name, s, len);
		p->name[len] = '\0';
		break;
	case P_CMDLINE:
		/* The seed ends every cmdline with a space. */
		while (len > 0 && s[len - 1] == ' ')
			len--;
		len = kw_utf8_cut(s, len, KW_CMDLINE_MAX - 1);
		if (kw_proc_set_cmdline(p, s, len) == -1)
			return fail_plain(jp, "out of memory");
		break;
	case P_STATE:
		p->state = len > 0 ? s[0] : '?';
		break;
	case P_CID:
		if (len == 0)
			break;
		if (!kw_is_container_id(s, len)) {
			entry_bad(jp, "container_id: expected 64 hex digits");
			break;
		}
		memcpy(p->container_id, s, len);
		p->container_id[len] = '\0';
		break;
	case P_CGROUP:
		jp->cg_set = 1;
		if (len >= 3 && memcmp(s, "...", 3) == 0)
			jp->cg_cut = 1;
		else if (len >= sizeof(jp->cg))
			jp->cg_long = 1;
		else {
			memcpy(jp->cg, s, len);
			jp->cglen = len;
		}
		break;
	}
	return 1;
}

/* An integer field of the entry, checked as get_uint did. */
static void
entry_uint(struct jp *jp, int key, const struct jfield *f)
{
	static const uint64_t max[] = { INT32_MAX, INT32_MAX, UINT32_MAX,
		UINT32_MAX, INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX };
	struct kw_proc *p = jp->p;
	char msg[128];
	uint64_t v;

	if (check_uint(f, "", proc_keys[key], max[key], &v, msg,
		sizeof(msg)) == -1) {
		entry_bad(jp, "%s", msg);
		return;
	}
	switch (key) {
	case P_PID:
		p->pid = (int32_t)v;
		break;
	case P_PPID:
		p->ppid = (int32_t)v;
		break;
	case P_UID:
		p->uid = (uint32_t)v;
		break;
	case P_THREADS:
		p->threads = (uint32_t)v;
		break;
	case P_VSZ:
		p->vsz_kb = v;
		break;
	case P_RSS:
		p->rss_kb = v;
		break;
	case P_START:
		p->start_ns = v;
		break;
	case P_CPU:
		p->cpu_ns = v;
		break;
	}
}

/*
 * One value (a scalar, or the start of a map or an array) where the
 * innermost open level wants it. s/len: a string's bytes.
 */
static int
value(struct jp *jp, const struct jfield *f, const char *s, size_t len)
{
	struct level *l = jp->depth > 0 ? &jp->lv[jp->depth - 1] : NULL;
	int container = f->type == JT_OBJ || f->type == JT_ARR;
	int is_map = f->type == JT_OBJ;
	char msg[64];

	if (l == NULL) {
		if (!is_map) {
			snprintf(msg, sizeof(msg),
			    "top level: expected object, got %s",
			    jtype_names[f->type]);
			return fail_plain(jp, msg);
		}
		return push(jp, L_TOP, 1);
	}
	switch (l->kind) {
	case L_TOP:
		if (l->key < 0)
			break;
		jp->top[l->key] = *f;
		jp->top[l->key].set = 1;
		if (l->key == T_PROCESSES || l->key == T_CONTAINERS) {
			if (f->type != JT_ARR)
				break;
			jp->narrays++;
			if (!push(jp, L_PROCS, 0))
				return 0;
			jp->lv[jp->depth - 1].array = l->key;
			return 1;
		}
		if (l->key == T_EXITED && jp->delta && f->type == JT_ARR)
			return push(jp, L_EXITED, 0);
		break;
	case L_PROCS:
		if (is_map)
			return entry_begin(jp) && push(jp, L_PROC, 1);
		/* Not an object: a malformed entry of its own. */
		jp->nentries++;
		jp->skipped++;
		if (jp->first[0] == '\0')
			snprintf(jp->first, sizeof(jp->first),
			    "%s[%zu]: expected object, got %s",
			    top_keys[l->array], l->index,
			    jtype_names[f->type]);
		if (!container)
			l->index++;
		break;
	case L_PROC:
		if (l->key < 0 || l->key == P_MEM_PCT || jp->bad)
			break;
		if (l->key == P_JIFFIES)
			jp->jiffies = *f; /* only used without cpu_ns */
		else if (l->key < P_JIFFIES)
			entry_uint(jp, l->key, f);
		else if (f->type != JT_STR)
			entry_bad(jp, "%s: expected string, got %s",
			    proc_keys[l->key], jtype_names[f->type]);
		else if (!entry_string(jp, l->key, s, len))
			return 0;
		break;
	case L_EXITED:
		if ((f->type != JT_INT || f->v <= 0 || f->v > INT32_MAX) &&
		    jp->ex_bad < 0)
			jp->ex_bad = (long)l->index;
		if (!container)
			l->index++;
		if (f->type != JT_INT || jp->ex_bad >= 0)
			break;
		if (jp->nexited == jp->capexited) {
			size_t ncap = jp->capexited ? jp->capexited * 2 : 64;
			int32_t *ne =
			    reallocarray(jp->exited, ncap, sizeof(*ne));

			if (ne == NULL)
				return fail_plain(jp, "out of memory");
			jp->exited = ne;
			jp->capexited = ncap;
		}
		jp->exited[jp->nexited++] = (int32_t)f->v;
		break;
	case L_SKIP:
		break;
	}
	return container ? push(jp, L_SKIP, is_map) : 1;
}

static int
cb_null(void *ctx)
{
	struct jfield f = { 1, JT_NULL, 0 };

	return value(ctx, &f, NULL, 0);
}

static int
cb_boolean(void *ctx, int b)
{
	struct jfield f = { 1, JT_BOOL, b != 0 };

	return value(ctx, &f, NULL, 0);
}

/* Numbers as text: integers into int64 (refused past), reals by type. */
static int
cb_number(void *ctx, const char *s, size_t len)
{
	struct jp *jp = ctx;
	struct jfield f = { 1, JT_INT, 0 };
	uint64_t mag = 0, lim;
	size_t i = 0;
	int neg = 0;

	if (len > 0 && s[0] == '-') {
		neg = 1;
		i = 1;
	}
	lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; i < len; i++) {
		unsigned d = (unsigned char)s[i] - '0';

		if (d > 9) {
			f.type = JT_REAL;
			break;
		}
		if (mag > (lim - d) / 10)
			return fail_at(jp, "too big %sinteger",
			    neg ? "negative " : "");
		mag = mag * 10 + d;
	}
	if (f.type == JT_INT)
		f.v = neg ? (int64_t)(0 - mag) : (int64_t)mag;
	else {
		char tmp[64], *t = len < sizeof(tmp) ? tmp : malloc(len + 1);
		double d;

		if (t == NULL)
			return fail_plain(jp, "out of memory");
		memcpy(t, s, len);
		t[len] = '\0';
		d = strtod(t, NULL);
		if (t != tmp)
			free(t);
		if (isinf(d))
			return fail_at(jp, "real number overflow");
	}
	return value(jp, &f, NULL, 0);
}

static int
cb_string(void *ctx, const unsigned char *s, size_t len)
{
	struct jfield f = { 1, JT_STR, 0 };

	return value(ctx, &f, (const char *)s, len);
}

static int
cb_start_map(void *ctx)
{
	struct jfield f = { 1, JT_OBJ, 0 };

	return value(ctx, &f, NULL, 0);
}

static int
cb_start_array(void *ctx)
{
	struct jfield f = { 1, JT_ARR, 0 };

	return value(ctx, &f, NULL, 0);
}

static int
cb_map_key(void *ctx, const unsigned char *key, size_t len)
{
	struct jp *jp = ctx;
	struct level *l = &jp->lv[jp->depth - 1];
	int k = -1;

	if (l->kind == L_TOP)
		k = lookup(top_keys, T_NKEYS, key, len);
	else if (l->kind == L_PROC)
		k = lookup(proc_keys, P_NKEYS, key, len);
	l->key = k;
	if (k < 0)
		return other_key(jp, l, key, len);
	if (l->seen & (1u << k))
		return fail_at(jp, "duplicate object key \"%.*s\"", (int)len,
		    (const char *)key);
	l->seen |= 1u << k;
	return 1;
}

/* The end of a map or an array: the level is closed. */
static int
cb_end(void *ctx)
{
	struct jp *jp = ctx;
	struct level *l = &jp->lv[jp->depth - 1];

	if (l->kind == L_PROC && !entry_end(jp, l))
		return 0;
	jp->nkeys = l->others;
	jp->depth--;
	/* The element just closed in an array: the next one's index. */
	if (jp->depth > 0) {
		l = &jp->lv[jp->depth - 1];
		if (l->kind == L_PROCS || l->kind == L_EXITED)
			l->index++;
	}
	return 1;
}

static const yajl_callbacks callbacks = {
	.yajl_null = cb_null,
	.yajl_boolean = cb_boolean,
	.yajl_number = cb_number,
	.yajl_string = cb_string,
	.yajl_start_map = cb_start_map,
	.yajl_map_key = cb_map_key,
	.yajl_end_map = cb_end,
	.yajl_start_array = cb_start_array,
	.yajl_end_array = cb_end,
};

/* The host's fields, after the parse (as parse_host did on the tree). */
static int
check_host(const struct jp *jp, struct kw_host *h, char *err, size_t errlen)
{
	uint64_t v;
	long n;
	int r, has_used;

	if (check_uint(&jp->top[T_MEM_TOTAL], "", "mem_total_kb", INT64_MAX,
		&h->mem_total_kb, err, errlen) != 1 ||
	    check_uint(&jp->top[T_MEM_FREE], "", "mem_free_kb", INT64_MAX,
		&h->mem_free_kb, err, errlen) != 1) {
		if (err != NULL && errlen > 0 && err[0] == '\0')
			kw_seterr(err, errlen,
			    "mem_total_kb and mem_free_kb "
			    "are required");
		return -1;
	}
	if ((has_used = check_uint(&jp->top[T_MEM_USED], "", "mem_used_kb",
		 INT64_MAX, &h->mem_used_kb, err, errlen)) == -1)
		return -1;
	if (!has_used)
		h->mem_used_kb = h->mem_total_kb > h->mem_free_kb ?
		    h->mem_total_kb - h->mem_free_kb :
		    0;
	if ((r = check_uint(&jp->top[T_MEM_AVAILABLE], "", "mem_available_kb",
		 INT64_MAX, &h->mem_available_kb, err, errlen)) == -1)
		return -1;
	if (r == 0)
		h->mem_available_kb = h->mem_free_kb;
	if ((r = check_uint(&jp->top[T_NCPU], "", "ncpu", UINT32_MAX, &v, err,
		 errlen)) == -1)
		return -1;
	if (r == 1 && v > 0)
		h->ncpu = (uint32_t)v;
	else {
		n = sysconf(_SC_NPROCESSORS_ONLN);
		h->ncpu = n > 0 ? (uint32_t)n : 1;
	}
	return 0;
}

static int
cmp_i32(const void *a, const void *b)
{
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * The delta file's own fields: "full" (boolean), "generation" and
 * "cap_hits" (integers) and "exited" (positive pids), all required.
 */
static int
check_delta(struct jp *jp, struct kmod_info *info, char *err, size_t errlen)
{
	const struct jfield *f = &jp->top[T_FULL];

	if (!f->set || f->type != JT_BOOL) {
		kw_seterr(err, errlen, "full: %s",
		    !f->set ? "missing (not a delta file)" :
			      "expected boolean");
		return -1;
	}
	info->delta = 1;
	info->full = f->v != 0;
	if (check_uint(&jp->top[T_GENERATION], "", "generation", INT64_MAX,
		&info->generation, err, errlen) != 1 ||
	    check_uint(&jp->top[T_CAP_HITS], "", "cap_hits", INT64_MAX,
		&info->cap_hits, err, errlen) != 1) {
		if (err != NULL && errlen > 0 && err[0] == '\0')
			kw_seterr(err, errlen,
			    "generation and cap_hits are "
			    "required");
		return -1;
	}
	f = &jp->top[T_EXITED];
	if (!f->set || f->type != JT_ARR) {
		kw_seterr(err, errlen, "exited: %s",
		    !f->set ? "missing" : "expected array");
		return -1;
	}
	if (jp->ex_bad >= 0) {
		kw_seterr(err, errlen, "exited[%ld]: expected a pid",
		    jp->ex_bad);
		return -1;
	}
	if (jp->nexited > 1)
		qsort(jp->exited, jp->nexited, sizeof(*jp->exited), cmp_i32);
	info->exited = jp->exited;
	info->nexited = jp->nexited;
	jp->exited = NULL;
	return 0;
}

int
snapshot_parse_json(const char *buf, size_t len, struct kw_snapshot *snap,
    char *err, size_t errlen)
{
	return kmod_parse(buf, len, snap, NULL, err, errlen);
}

void
kmod_info_free(struct kmod_info *info)
{
	free(info->exited);
	info->exited = NULL;
	info->nexited = 0;
}

static int parse_json(const char *buf, size_t len, struct kw_snapshot *snap,
    struct kmod_info *info, int delta, char *err, size_t errlen);

int
kmod_parse(const char *buf, size_t len, struct kw_snapshot *snap,
    struct kmod_info *info, char *err, size_t errlen)
{
	return parse_json(buf, len, snap, info, 0, err, errlen);
}

int
kmod_parse_delta(const char *buf, size_t len, struct kw_snapshot *snap,
    struct kmod_info *info, char *err, size_t errlen)
{
	return parse_json(buf, len, snap, info, 1, err, errlen);
}

/*
 * yajl's own error, at its position (the end: the input stopped short);
 * its message without the trailing dot.
 */
static void
syntax_error(struct jp *jp, int at_end)
{
	unsigned char *m = yajl_get_error(jp->h, 0, NULL, 0);
	size_t off = at_end ? jp->len : yajl_get_bytes_consumed(jp->h), n;
	int line, col;

	n = m != NULL ? strcspn((const char *)m, "\n") : 0;
	while (n > 0 && (m[n - 1] == '.' || m[n - 1] == ' '))
		n--;
	position(jp, off, &line, &col);
	kw_seterr(jp->err, jp->errlen, "line %d column %d (byte %zu): %.*s",
	    line, col, off, (int)n, m != NULL ? (const char *)m : "");
	if (m != NULL)
		yajl_free_error(jp->h, m);
}

/* kmod_parse; with delta, the delta file's fields too (info required). */
static int
parse_json(const char *buf, size_t len, struct kw_snapshot *snap,
    struct kmod_info *info, int delta, char *err, size_t errlen)
{
	static const int arrays[] = { T_PROCESSES, T_CONTAINERS };
	struct jp *jp;
	char *copy = NULL, tmp[512];
	yajl_status st;
	uint64_t ts;
	size_t k;
	int r, skipped = -1;

	if (info != NULL)
		memset(info, 0, sizeof(*info));
	kw_snapshot_clear(snap);
	snprintf(snap->source, sizeof(snap->source), "kmod");
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (len == 0) {
		kw_seterr(err, errlen, "empty input");
		return -1;
	}
	if ((jp = calloc(1, sizeof(*jp))) == NULL) {
		kw_seterr(err, errlen, "out of memory");
		return -1;
	}
	/* The seed's trailing commas: stripped in a copy, if there are any. */
	if (has_trailing_comma(buf, len)) {
		if ((copy = malloc(len)) == NULL) {
			kw_seterr(err, errlen, "out of memory");
			free(jp);
			return -1;
		}
		memcpy(copy, buf, len);
		kmod_strip_trailing_commas(copy, len);
		buf = copy;
	}
	jp->buf = buf;
	jp->len = len;
	jp->snap = snap;
	jp->info = info;
	jp->delta = delta;
	jp->err = tmp;
	jp->errlen = sizeof(tmp);
	jp->ex_bad = -1;
	tmp[0] = '\0';
	if ((jp->h = yajl_alloc(&callbacks, NULL, jp)) == NULL) {
		kw_seterr(err, errlen, "out of memory");
		goto out;
	}
	st = yajl_parse(jp->h, (const unsigned char *)buf, len);
	if (st == yajl_status_ok &&
	    (st = yajl_complete_parse(jp->h)) != yajl_status_ok && !jp->failed)
		syntax_error(jp, 1);
	if (st != yajl_status_ok) {
		if (!jp->failed && jp->err[0] == '\0')
			syntax_error(jp, 0);
		kw_seterr(err, errlen, "%s", tmp);
		goto out;
	}
	if (check_host(jp, &snap->host, err, errlen) == -1)
		goto out;
	if ((r = check_uint(&jp->top[T_TS], "", "ts_ns", INT64_MAX, &ts, err,
		 errlen)) == -1)
		goto out;
	snap->ts_ns = r ? ts : 0;
	if (delta && check_delta(jp, info, err, errlen) == -1)
		goto out;
	for (k = 0; k < sizeof(arrays) / sizeof(arrays[0]); k++) {
		const struct jfield *f = &jp->top[arrays[k]];

		if (f->set && f->type != JT_ARR) {
			kw_seterr(err, errlen, "%s: expected array, got %s",
			    top_keys[arrays[k]], jtype_names[f->type]);
			goto out;
		}
	}
	if (jp->narrays == 0) {
		kw_seterr(err, errlen,
		    "missing \"processes\" or \"containers\" "
		    "array");
		goto out;
	}
	if (jp->skipped > 0 && (size_t)jp->skipped == jp->nentries) {
		kw_seterr(err, errlen, "every entry is malformed: %s",
		    jp->first);
		goto out;
	}
	skipped = jp->skipped;
	if (skipped > 0)
		kw_seterr(err, errlen,
		    "%d malformed entries skipped, first: %s", skipped,
		    jp->first);
out:
	if (jp->h != NULL)
		yajl_free(jp->h);
	free(jp->keys);
	free(jp->exited);
	free(jp);
	free(copy);
	if (skipped >= 0)
		return skipped;
	kw_snapshot_clear(snap);
	if (info != NULL) {
		kmod_info_free(info);
		memset(info, 0, sizeof(*info));
	}
	return -1;
}

int
source_kmod_read(const char *path, struct kw_snapshot *snap,
    struct kmod_info *info, char *err, size_t errlen)
{
	char *buf, *nbuf;
	size_t len = 0, cap = 64 * 1024;
	ssize_t n;
	int fd, r;

	if (info != NULL)
		memset(info, 0, sizeof(*info));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		kw_seterr(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if ((buf = malloc(cap)) == NULL) {
		kw_seterr(err, errlen, "%s: out of memory", path);
		close(fd);
		return -1;
	}
	for (;;) {
		if (len == cap) {
			if (cap >= KMOD_MAX_FILE) {
				kw_seterr(err, errlen,
				    "%s: larger than %u bytes", path,
				    KMOD_MAX_FILE);
				goto fail;
			}
			if ((nbuf = realloc(buf, cap * 2)) == NULL) {
				kw_seterr(err, errlen, "%s: out of memory",
				    path);
				goto fail;
			}
			buf = nbuf;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			kw_seterr(err, errlen, "%s: read: %s", path,
			    strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	r = kmod_parse(buf, len, snap, info, err, errlen);
	if (r == -1 && err != NULL && errlen > 0) {
		/* Prefix the path: "PATH: line 3 column 1 ...". */
		char tmp[512];

		snprintf(tmp, sizeof(tmp), "%s", err);
		kw_seterr(err, errlen, "%s: %s", path, tmp);
	}
	free(buf);
	return r;

fail:
	free(buf);
	close(fd);
	if (info != NULL)
		memset(info, 0, sizeof(*info));
	kw_snapshot_clear(snap);
	return -1;
}

/* The delta file. */

void
kmod_delta_init(struct kmod_delta *kd)
{
	memset(kd, 0, sizeof(*kd));
	kd->fd = -1;
	kw_snapshot_init(&kd->base);
	kw_snapshot_init(&kd->scratch);
}

void
kmod_delta_reset(struct kmod_delta *kd)
{
	kd->lent = NULL;
	if (kd->fd != -1)
		close(kd->fd);
	kd->fd = -1;
	kd->have_base = 0;
	kd->generation = 0;
	kw_snapshot_clear(&kd->base);
}

void
kmod_delta_free(struct kmod_delta *kd)
{
	kmod_delta_reset(kd);
	kw_snapshot_free(&kd->base);
	kw_snapshot_free(&kd->scratch);
	kw_pidset_free(&kd->changed);
	kw_pidset_free(&kd->exited);
	free(kd->buf);
	kd->buf = NULL;
	kd->cap = 0;
}

int
kmod_delta_apply(struct kw_snapshot *base, struct kw_snapshot *delta,
    const struct kmod_info *info, char *err, size_t errlen)
{
	return kw_snapshot_apply(base, delta, info->exited, info->nexited,
	    info->full, err, errlen);
}

/* Read fd from offset 0 to EOF into kd->buf; the length, or -1 with err. */
static ssize_t
read_pass(struct kmod_delta *kd, const char *path, char *err, size_t errlen)
{
	size_t len = 0, ncap;
	ssize_t n;
	char *nbuf;

	if (lseek(kd->fd, 0, SEEK_SET) == -1) {
		kw_seterr(err, errlen, "%s: lseek: %s", path, strerror(errno));
		return -1;
	}
	for (;;) {
		if (len == kd->cap) {
			if (kd->cap >= KMOD_MAX_FILE) {
				kw_seterr(err, errlen,
				    "%s: larger than %u bytes", path,
				    KMOD_MAX_FILE);
				return -1;
			}
			ncap = kd->cap ? kd->cap * 2 : 64 * 1024;
			if ((nbuf = realloc(kd->buf, ncap)) == NULL) {
				kw_seterr(err, errlen, "%s: out of memory",
				    path);
				return -1;
			}
			kd->buf = nbuf;
			kd->cap = ncap;
		}
		n = read(kd->fd, kd->buf + len, kd->cap - len);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			kw_seterr(err, errlen, "%s: read: %s", path,
			    strerror(errno));
			return -1;
		}
		if (n == 0)
			return (ssize_t)len;
		len += (size_t)n;
	}
}

void
kmod_delta_give_back(struct kmod_delta *kd, struct kw_snapshot *snap)
{
	struct kw_snapshot t;

	if (kd->lent != snap || snap == NULL)
		return;
	t = kd->base; /* the empty storage lent in exchange */
	kd->base = *snap;
	*snap = t;
	kd->lent = NULL;
}

void
kmod_delta_set_fill(struct kmod_delta *kd, kmod_fill_fn fn, void *arg)
{
	kd->fill = fn;
	kd->fill_arg = arg;
}

/* What the pass changed, for a reader that publishes deltas. */
static int
note_pass(struct kmod_delta *kd, const struct kmod_info *info)
{
	size_t i;

	kw_pidset_clear(&kd->changed);
	kw_pidset_clear(&kd->exited);
	kd->last_full = info->full;
	for (i = 0; i < kd->scratch.nprocs; i++)
		if (kw_pidset_add(&kd->changed, kd->scratch.procs[i].pid) ==
		    -1)
			return -1;
	kw_pidset_sort(&kd->changed);
	for (i = 0; i < info->nexited; i++)
		if (kw_pidset_add(&kd->exited, info->exited[i]) == -1)
			return -1;
	return 0;
}

int
kmod_delta_read(struct kmod_delta *kd, const char *path,
    struct kw_snapshot *out, char *err, size_t errlen)
{
	struct kmod_info info;
	struct kw_snapshot tmp_snap;
	char tmp[512];
	ssize_t len;
	int r;

	memset(&info, 0, sizeof(info));
	if (kd->lent != NULL) {
		/* Not given back: the base went with it. */
		kd->lent = NULL;
		kmod_delta_reset(kd);
	}
	if (kd->fd != -1 && strcmp(kd->path, path) != 0)
		kmod_delta_reset(kd);
	if (kd->fd == -1) {
		kmod_delta_reset(kd);
		if ((kd->fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
			kw_seterr(err, errlen, "%s: %s", path,
			    strerror(errno));
			goto fail;
		}
		snprintf(kd->path, sizeof(kd->path), "%s", path);
		kd->opens++;
	}
	if ((len = read_pass(kd, path, err, errlen)) == -1)
		goto fail;
	r = kmod_parse_delta(kd->buf, (size_t)len, &kd->scratch, &info, tmp,
	    sizeof(tmp));
	if (r != 0) {
		/* A skipped entry would leave the base stale until a full pass. */
		kw_seterr(err, errlen, "%s: %s", path,
		    r > 0 ? "malformed entries in a delta pass" : tmp);
		goto fail;
	}
	if (!info.full &&
	    (!kd->have_base || info.generation != kd->generation + 1)) {
		kw_seterr(err, errlen,
		    "%s: delta pass %" PRIu64 " does not follow "
		    "%s %" PRIu64,
		    path, info.generation,
		    kd->have_base ? "pass" : "no full pass, generation",
		    kd->generation);
		goto fail;
	}
	if (info.no_container_id > 0 && kd->fill != NULL &&
	    kd->fill(kd->fill_arg, &kd->scratch) == -1) {
		kw_seterr(err, errlen, "%s: container ids: out of memory",
		    path);
		goto fail;
	}
	kd->last_records = kd->scratch.nprocs;
	kd->last_exited = info.nexited;
	if (note_pass(kd, &info) == -1) {
		kw_seterr(err, errlen, "%s: out of memory", path);
		goto fail;
	}
	if (kmod_delta_apply(&kd->base, &kd->scratch, &info, tmp,
		sizeof(tmp)) == -1) {
		kw_seterr(err, errlen, "%s: %s", path, tmp);
		goto fail;
	}
	kd->have_base = 1;
	kd->generation = info.generation;
	kd->passes++;
	if (info.full)
		kd->full_passes++;
	kd->cap_hits = info.cap_hits;
	kw_snapshot_clear(&kd->scratch);
	kmod_info_free(&info);
	/* Lend the base: the published snapshot is the base itself. */
	kw_snapshot_clear(out);
	tmp_snap = *out;
	*out = kd->base;
	kd->base = tmp_snap;
	kd->lent = out;
	return 0;

fail:
	kmod_info_free(&info);
	kw_snapshot_clear(&kd->scratch);
	kmod_delta_reset(kd);
	kw_snapshot_clear(out);
	kd->errors++;
	return -1;
}
