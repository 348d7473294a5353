/*
 * The kmod source: the JSON the kernel modules publish in /proc, parsed with
 * jansson into a snapshot. The seed's older format (trailing commas, no
 * cpu_ns, "containers" instead of "processes") is accepted too.
 *
 * What is rejected and what is skipped:
 * - the whole snapshot is rejected (-1, err says where) when the JSON does
 *   not parse (truncated, invalid UTF-8, nesting deeper than jansson's
 *   limit, numbers out of range), when the top level is not an object, when
 *   a host field has the wrong type, when neither "processes" nor
 *   "containers" is an array, and when every entry is malformed;
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
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "reader.h"

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
		/* A space keeps jansson's error positions true to the file. */
		if (j < len && (buf[j] == ']' || buf[j] == '}'))
			buf[i] = ' ';
	}
}

static const char *
json_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "object";
	case JSON_ARRAY:
		return "array";
	case JSON_STRING:
		return "string";
	case JSON_INTEGER:
		return "integer";
	case JSON_REAL:
		return "real";
	case JSON_TRUE:
	case JSON_FALSE:
		return "boolean";
	case JSON_NULL:
		return "null";
	}
	return "?";
}

/*
 * An optional non-negative integer field no larger than max: 0 if absent,
 * 1 if set, -1 with err on the wrong type or range.
 */
static int
get_uint(const json_t *obj, const char *where, const char *key, uint64_t max,
    uint64_t *v, char *err, size_t errlen)
{
	json_t *j;
	json_int_t n;

	if ((j = json_object_get(obj, key)) == NULL)
		return 0;
	if (!json_is_integer(j)) {
		kw_seterr(err, errlen, "%s%s: expected integer, got %s", where,
		    key, json_type_name(j));
		return -1;
	}
	n = json_integer_value(j);
	if (n < 0 || (uint64_t)n > max) {
		kw_seterr(err, errlen, "%s%s: %lld out of range", where, key,
		    (long long)n);
		return -1;
	}
	*v = (uint64_t)n;
	return 1;
}

/* An optional string field: 0 if absent, 1 if set, -1 on the wrong type. */
static int
get_str(const json_t *obj, const char *where, const char *key, const char **s,
    size_t *len, char *err, size_t errlen)
{
	json_t *j;

	if ((j = json_object_get(obj, key)) == NULL)
		return 0;
	if (!json_is_string(j)) {
		kw_seterr(err, errlen, "%s%s: expected string, got %s", where,
		    key, json_type_name(j));
		return -1;
	}
	*s = json_string_value(j);
	*len = strnlen(*s, json_string_length(j)); /* stop at \u0000 */
	return 1;
}

/* Fill p from one entry; -1 with err (p is then dropped by the caller). */
static int
parse_proc(const json_t *e, const char *where, struct kw_proc *p, int *no_cid,
    char *err, size_t errlen)
{
	const char *s;
	char cgpath[PATH_MAX], dir[KW_CGDIR_MAX];
	char id[KW_CID_LEN];
	size_t len;
	uint64_t v;
	int r;

	if (!json_is_object(e)) {
		kw_seterr(err, errlen, "%.*s: expected object, got %s",
		    (int)strlen(where) - 1, where, json_type_name(e));
		return -1;
	}
	if ((r = get_uint(e, where, "pid", INT32_MAX, &v, err, errlen)) != 1) {
		if (r == 0)
			kw_seterr(err, errlen, "%spid: missing", where);
		return -1;
	}
	if (v == 0) {
		kw_seterr(err, errlen, "%spid: 0 is not a process", where);
		return -1;
	}
	p->pid = (int32_t)v;
	if ((r = get_uint(e, where, "ppid", INT32_MAX, &v, err, errlen)) == -1)
		return -1;
	p->ppid = r ? (int32_t)v : 0;
	if ((r = get_uint(e, where, "uid", UINT32_MAX, &v, err, errlen)) == -1)
		return -1;
	p->uid = r ? (uint32_t)v : 0;
	if ((r = get_uint(e, where, "threads", UINT32_MAX, &v, err, errlen)) ==
	    -1)
		return -1;
	p->threads = r ? (uint32_t)v : 1;
	if (get_uint(e, where, "vsz_kb", INT64_MAX, &p->vsz_kb, err, errlen) ==
		-1 ||
	    get_uint(e, where, "rss_kb", INT64_MAX, &p->rss_kb, err, errlen) ==
		-1 ||
	    get_uint(e, where, "start_ns", INT64_MAX, &p->start_ns, err,
		errlen) == -1)
		return -1;
	if ((r = get_uint(e, where, "cpu_ns", INT64_MAX, &p->cpu_ns, err,
		 errlen)) == -1)
		return -1;
	if (r == 0) {
		if ((r = get_uint(e, where, "proc_jiffies",
			 INT64_MAX / KMOD_SEED_JIFFY_NS, &v, err, errlen)) ==
		    -1)
			return -1;
		p->cpu_ns = r ? v * KMOD_SEED_JIFFY_NS : 0;
	}

	if ((r = get_str(e, where, "name", &s, &len, err, errlen)) == -1)
		return -1;
	if (r) {
		len = kw_utf8_cut(s, len, sizeof(p->name) - 1);
		memcpy(p->name, s, len);
		p->name[len] = '\0';
	}
	if ((r = get_str(e, where, "cmdline", &s, &len, err, errlen)) == -1)
		return -1;
	if (r) {
		/* The seed ends every cmdline with a space. */
		while (len > 0 && s[len - 1] == ' ')
			len--;
		len = kw_utf8_cut(s, len, KW_CMDLINE_MAX - 1);
		if (kw_proc_set_cmdline(p, s, len) == -1) {
			kw_seterr(err, errlen, "%scmdline: out of memory",
			    where);
			return -1;
		}
	}
	if ((r = get_str(e, where, "state", &s, &len, err, errlen)) == -1)
		return -1;
	p->state = r && len > 0 ? s[0] : '?';
	if ((r = get_str(e, where, "container_id", &s, &len, err, errlen)) ==
	    -1)
		return -1;
	if (r && len > 0) {
		if (!kw_is_container_id(s, len)) {
			kw_seterr(err, errlen,
			    "%scontainer_id: expected 64 hex "
			    "digits",
			    where);
			return -1;
		}
		memcpy(p->container_id, s, len);
		p->container_id[len] = '\0';
	}
	/*
	 * The path the id was taken from: the claim the decider checks
	 * against the container's real directory. Without it (the seed's
	 * modules) the reader reads /proc/<pid>/cgroup itself, and so it does
	 * for a path the module cut ("..."): the claim must be whole.
	 */
	if ((r = get_str(e, where, "cgroup", &s, &len, err, errlen)) == -1)
		return -1;
	if (r == 0) {
		*no_cid = 1;
		return 0;
	}
	if (len >= 3 && memcmp(s, "...", 3) == 0) {
		p->container_id[0] = '\0';
		*no_cid = 1;
		return 0;
	}
	id[0] = '\0';
	if (len < sizeof(cgpath) && memchr(s, '\0', len) == NULL) {
		memcpy(cgpath, s, len);
		cgpath[len] = '\0';
		if (kw_cgroup_container_dir(cgpath, id, dir, sizeof(dir)) != 1)
			id[0] = '\0';
	}
	if (id[0] != '\0' &&
	    (p->container_id[0] == '\0' || strcmp(id, p->container_id) == 0)) {
		memcpy(p->container_id, id, sizeof(p->container_id));
		if (kw_proc_set_cgroup(p, dir, strlen(dir)) == -1) {
			kw_seterr(err, errlen, "%scgroup: out of memory",
			    where);
			return -1;
		}
	} else
		p->container_id[0] = '\0';
	return 0;
}

static int
parse_host(const json_t *root, struct kw_host *h, char *err, size_t errlen)
{
	uint64_t v;
	long n;
	int r, has_used;

	if (get_uint(root, "", "mem_total_kb", INT64_MAX, &h->mem_total_kb,
		err, errlen) != 1 ||
	    get_uint(root, "", "mem_free_kb", INT64_MAX, &h->mem_free_kb, err,
		errlen) != 1) {
		if (err != NULL && errlen > 0 && err[0] == '\0')
			kw_seterr(err, errlen,
			    "mem_total_kb and mem_free_kb "
			    "are required");
		return -1;
	}
	if ((has_used = get_uint(root, "", "mem_used_kb", INT64_MAX,
		 &h->mem_used_kb, err, errlen)) == -1)
		return -1;
	if (!has_used)
		h->mem_used_kb = h->mem_total_kb > h->mem_free_kb ?
		    h->mem_total_kb - h->mem_free_kb :
		    0;
	if ((r = get_uint(root, "", "mem_available_kb", INT64_MAX,
		 &h->mem_available_kb, err, errlen)) == -1)
		return -1;
	if (r == 0)
		h->mem_available_kb = h->mem_free_kb;
	if ((r = get_uint(root, "", "ncpu", UINT32_MAX, &v, err, errlen)) ==
	    -1)
		return -1;
	if (r == 1 && v > 0)
		h->ncpu = (uint32_t)v;
	else {
		n = sysconf(_SC_NPROCESSORS_ONLN);
		h->ncpu = n > 0 ? (uint32_t)n : 1;
	}
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
parse_delta_fields(const json_t *root, struct kmod_info *info, char *err,
    size_t errlen)
{
	json_t *j, *e;
	json_int_t n;
	int32_t *exited;
	size_t i;

	j = json_object_get(root, "full");
	if (j == NULL || !json_is_boolean(j)) {
		kw_seterr(err, errlen, "full: %s",
		    j == NULL ? "missing (not a "
				"delta file)" :
				"expected boolean");
		return -1;
	}
	info->delta = 1;
	info->full = json_is_true(j);
	if (get_uint(root, "", "generation", INT64_MAX, &info->generation, err,
		errlen) != 1 ||
	    get_uint(root, "", "cap_hits", INT64_MAX, &info->cap_hits, err,
		errlen) != 1) {
		if (err != NULL && errlen > 0 && err[0] == '\0')
			kw_seterr(err, errlen,
			    "generation and cap_hits are "
			    "required");
		return -1;
	}
	j = json_object_get(root, "exited");
	if (j == NULL || !json_is_array(j)) {
		kw_seterr(err, errlen, "exited: %s",
		    j == NULL ? "missing" : "expected array");
		return -1;
	}
	if ((n = (json_int_t)json_array_size(j)) == 0)
		return 0;
	if ((exited = calloc((size_t)n, sizeof(*exited))) == NULL) {
		kw_seterr(err, errlen, "exited: out of memory");
		return -1;
	}
	info->exited = exited;
	json_array_foreach(j, i, e)
	{
		n = json_is_integer(e) ? json_integer_value(e) : 0;
		if (n <= 0 || n > INT32_MAX) {
			kw_seterr(err, errlen, "exited[%zu]: expected a pid",
			    i);
			return -1;
		}
		exited[info->nexited++] = (int32_t)n;
	}
	qsort(exited, info->nexited, sizeof(*exited), cmp_i32);
	return 0;
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

/* kmod_parse; with delta, the delta file's fields too (info required). */
static int
parse_json(const char *buf, size_t len, struct kw_snapshot *snap,
    struct kmod_info *info, int delta, char *err, size_t errlen)
{
	static const char *const keys[] = { "processes", "containers" };
	char first[256], where[64], *copy;
	json_error_t jerr;
	json_t *root, *arr, *e;
	struct kw_proc *p;
	uint64_t ts;
	size_t i, k, narrays = 0, nentries = 0;
	int skipped = 0, r, no_cid;

	if (info != NULL)
		memset(info, 0, sizeof(*info));
	kw_snapshot_clear(snap);
	snprintf(snap->source, sizeof(snap->source), "kmod");
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	first[0] = '\0';
	if (len == 0) {
		kw_seterr(err, errlen, "empty input");
		return -1;
	}
	if ((copy = malloc(len)) == NULL) {
		kw_seterr(err, errlen, "out of memory");
		return -1;
	}
	memcpy(copy, buf, len);
	kmod_strip_trailing_commas(copy, len);
	root = json_loadb(copy, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL,
	    &jerr);
	free(copy);
	if (root == NULL) {
		/* jansson says "unable to decode byte 0x.." for bad UTF-8. */
		kw_seterr(err, errlen, "line %d column %d (byte %d): %s",
		    jerr.line, jerr.column, jerr.position, jerr.text);
		return -1;
	}
	if (!json_is_object(root)) {
		kw_seterr(err, errlen, "top level: expected object, got %s",
		    json_type_name(root));
		goto reject;
	}
	if (parse_host(root, &snap->host, err, errlen) == -1)
		goto reject;
	if ((r = get_uint(root, "", "ts_ns", INT64_MAX, &ts, err, errlen)) ==
	    -1)
		goto reject;
	snap->ts_ns = r ? ts : 0;
	if (delta && parse_delta_fields(root, info, err, errlen) == -1)
		goto reject;

	for (k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		if ((arr = json_object_get(root, keys[k])) == NULL)
			continue;
		if (!json_is_array(arr)) {
			kw_seterr(err, errlen, "%s: expected array, got %s",
			    keys[k], json_type_name(arr));
			goto reject;
		}
		narrays++;
		json_array_foreach(arr, i, e)
		{
			nentries++;
			snprintf(where, sizeof(where), "%s[%zu].", keys[k], i);
			if ((p = kw_snapshot_add(snap)) == NULL) {
				kw_seterr(err, errlen, "out of memory");
				goto reject;
			}
			no_cid = 0;
			if (parse_proc(e, where, p, &no_cid,
				first[0] == '\0' ? first : NULL,
				sizeof(first)) == -1) {
				/* Drop the entry; its cmdline goes with it. */
				free(p->cmdline);
				p->cmdline = NULL;
				free(p->cgroup);
				p->cgroup = NULL;
				snap->nprocs--;
				skipped++;
			} else if (no_cid && info != NULL)
				info->no_container_id++;
		}
	}
	if (narrays == 0) {
		kw_seterr(err, errlen,
		    "missing \"processes\" or \"containers\" "
		    "array");
		goto reject;
	}
	if (skipped > 0 && (size_t)skipped == nentries) {
		kw_seterr(err, errlen, "every entry is malformed: %s", first);
		goto reject;
	}
	json_decref(root);
	if (skipped > 0)
		kw_seterr(err, errlen,
		    "%d malformed entries skipped, first: %s", skipped, first);
	return skipped;

reject:
	json_decref(root);
	kw_snapshot_clear(snap);
	if (delta)
		kmod_info_free(info);
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
	free(kd->buf);
	kd->buf = NULL;
	kd->cap = 0;
}

static int
cmp_proc_pid(const void *a, const void *b)
{
	const struct kw_proc *x = a, *y = b;

	return x->pid < y->pid ? -1 : x->pid > y->pid;
}

/* Free a proc's strings (it is being dropped). */
static void
proc_drop(struct kw_proc *p)
{
	free(p->cmdline);
	p->cmdline = NULL;
	free(p->cgroup);
	p->cgroup = NULL;
}

int
kmod_delta_apply(struct kw_snapshot *base, struct kw_snapshot *delta,
    const struct kmod_info *info, char *err, size_t errlen)
{
	struct kw_snapshot out;
	struct kw_proc *pb, *pd;
	size_t i, j, e;

	if (delta->nprocs > 1)
		qsort(delta->procs, delta->nprocs, sizeof(*delta->procs),
		    cmp_proc_pid);
	for (j = 1; j < delta->nprocs; j++)
		if (delta->procs[j].pid == delta->procs[j - 1].pid) {
			kw_seterr(err, errlen, "pid %d listed twice",
			    (int)delta->procs[j].pid);
			return -1;
		}
	for (i = 1; i < info->nexited; i++)
		if (info->exited[i] == info->exited[i - 1]) {
			kw_seterr(err, errlen, "pid %d exited twice",
			    (int)info->exited[i]);
			return -1;
		}
	/* A pid both exited and listed: the pass contradicts itself. */
	for (i = j = 0; i < info->nexited && j < delta->nprocs;) {
		if (info->exited[i] == delta->procs[j].pid) {
			kw_seterr(err, errlen, "pid %d both exited and listed",
			    (int)info->exited[i]);
			return -1;
		}
		if (info->exited[i] < delta->procs[j].pid)
			i++;
		else
			j++;
	}

	if (info->full) {
		/* The pass is the snapshot: take it whole. */
		kw_snapshot_free(base);
		*base = *delta;
		kw_snapshot_init(delta);
		return 0;
	}
	kw_snapshot_init(&out);
	out.cap = base->nprocs + delta->nprocs;
	if (out.cap > 0 &&
	    (out.procs = calloc(out.cap, sizeof(*out.procs))) == NULL) {
		kw_seterr(err, errlen, "out of memory");
		return -1;
	}
	i = j = e = 0;
	while (i < base->nprocs || j < delta->nprocs) {
		pb = i < base->nprocs ? &base->procs[i] : NULL;
		pd = j < delta->nprocs ? &delta->procs[j] : NULL;
		if (pd != NULL && (pb == NULL || pd->pid <= pb->pid)) {
			/* New or changed (a reused pid too): the pass's. */
			if (pb != NULL && pb->pid == pd->pid) {
				proc_drop(pb);
				i++;
			}
			out.procs[out.nprocs++] = *pd;
			pd->cmdline = NULL;
			pd->cgroup = NULL;
			j++;
			continue;
		}
		while (e < info->nexited && info->exited[e] < pb->pid)
			e++;
		if (e < info->nexited && info->exited[e] == pb->pid)
			proc_drop(pb);
		else {
			out.procs[out.nprocs++] = *pb;
			pb->cmdline = NULL;
			pb->cgroup = NULL;
		}
		i++;
	}
	memcpy(out.source, delta->source, sizeof(out.source));
	out.ts_ns = delta->ts_ns;
	out.host = delta->host;
	/* Every string moved to out: what is left are empty shells. */
	base->nprocs = 0;
	delta->nprocs = 0;
	kw_snapshot_free(base);
	*base = out;
	return 0;
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
