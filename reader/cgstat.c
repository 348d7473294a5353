/*
 * A container's own figures from its cgroup, as the kernel charges them:
 * cumulative CPU, throttling, memory usage, working set, anon, file, the
 * limit, OOM kills and pressure. One directory per container per sample;
 * the parsers are pure and the reads take an injectable root.
 *
 * Definitions, matched to the peers:
 * - working set = usage - inactive_file, never below 0: the kubelet's
 *   eviction signal, cAdvisor's container_memory_working_set_bytes and
 *   `docker stats`' MEM USAGE. v1: usage_in_bytes - total_inactive_file;
 *   v2: memory.current - inactive_file.
 * - anon: v2 memory.stat anon, v1 total_rss; file: v2 file, v1 total_cache.
 * - CPU: v2 cpu.stat usage_usec, v1 cpuacct.usage (ns), as docker stats'
 *   cpu_usage.total_usage.
 * - a limit of "max" (v2) or 2^62 and more (v1's "unlimited") is none (0).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "reader.h"

/* v1 reports no limit as the largest page-aligned long. */
#define V1_NO_LIMIT (1ULL << 62)

static int
parse_u64_at(const char *s, const char *end, uint64_t *v, const char **next)
{
	uint64_t n = 0;
	const char *p = s;

	if (p >= end || *p < '0' || *p > '9')
		return -1;
	for (; p < end && *p >= '0' && *p <= '9'; p++) {
		if (n > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return -1;
		n = n * 10 + (uint64_t)(*p - '0');
	}
	*v = n;
	if (next != NULL)
		*next = p;
	return 0;
}

int
cgstat_parse_value(const char *buf, size_t len, uint64_t *v, int *is_max)
{
	const char *end = buf + len, *next;

	while (end > buf && (end[-1] == '\n' || end[-1] == ' '))
		end--;
	*is_max = 0;
	if ((size_t)(end - buf) == 3 && memcmp(buf, "max", 3) == 0) {
		*is_max = 1;
		*v = 0;
		return 0;
	}
	if (parse_u64_at(buf, end, v, &next) == -1 || next != end)
		return -1;
	return 0;
}

int
cgstat_parse_kv(const char *buf, size_t len, const char *key, uint64_t *v)
{
	const char *line = buf, *end = buf + len, *eol, *next;
	size_t klen = strlen(key);

	for (; line < end; line = eol + 1) {
		if ((eol = memchr(line, '\n', (size_t)(end - line))) == NULL)
			eol = end;
		if ((size_t)(eol - line) > klen + 1 &&
		    memcmp(line, key, klen) == 0 && line[klen] == ' ')
			return parse_u64_at(line + klen + 1, eol, v, &next) ==
				    0 &&
				next == eol ?
			    0 :
			    -1;
		if (eol == end)
			break;
	}
	return -1;
}

/* "avg10=1.23" in a PSI line: the figure, or -1. */
static int
psi_avg10(const char *line, const char *eol, double *v)
{
	static const char key[] = "avg10=";
	const char *p;
	char num[32];
	size_t n;
	char *e;

	for (p = line; p + sizeof(key) - 1 < eol; p++)
		if (memcmp(p, key, sizeof(key) - 1) == 0)
			break;
	if (p + sizeof(key) - 1 >= eol)
		return -1;
	p += sizeof(key) - 1;
	for (n = 0; p + n < eol && p[n] != ' ' && n < sizeof(num) - 1; n++)
		num[n] = p[n];
	num[n] = '\0';
	if (n == 0)
		return -1;
	errno = 0;
	*v = strtod(num, &e);
	if (errno != 0 || *e != '\0' || !(*v >= 0.0 && *v <= 100.0))
		return -1;
	return 0;
}

int
cgstat_parse_psi(const char *buf, size_t len, double *some_avg10,
    double *full_avg10, int *has_full)
{
	const char *line = buf, *end = buf + len, *eol;
	int has_some = 0;

	*has_full = 0;
	*some_avg10 = *full_avg10 = 0.0;
	for (; line < end; line = eol + 1) {
		if ((eol = memchr(line, '\n', (size_t)(end - line))) == NULL)
			eol = end;
		if (eol - line > 5 && memcmp(line, "some ", 5) == 0) {
			if (psi_avg10(line, eol, some_avg10) == -1)
				return -1;
			has_some = 1;
		} else if (eol - line > 5 && memcmp(line, "full ", 5) == 0) {
			if (psi_avg10(line, eol, full_avg10) == -1)
				return -1;
			*has_full = 1;
		}
		if (eol == end)
			break;
	}
	return has_some ? 0 : -1;
}

/* The v1 memory.stat figures and the working set from them. */
int
cgstat_memory_from_stat(const char *stat, size_t len, int v2, uint64_t usage,
    struct kw_cgroup_stat *st)
{
	uint64_t inactive_file = 0, anon = 0, file = 0;
	int have_inactive;

	if (v2) {
		have_inactive = cgstat_parse_kv(stat, len, "inactive_file",
				    &inactive_file) == 0;
		(void)cgstat_parse_kv(stat, len, "anon", &anon);
		(void)cgstat_parse_kv(stat, len, "file", &file);
	} else {
		have_inactive =
		    cgstat_parse_kv(stat, len, "total_inactive_file",
			&inactive_file) == 0 ||
		    cgstat_parse_kv(stat, len, "inactive_file",
			&inactive_file) == 0;
		if (cgstat_parse_kv(stat, len, "total_rss", &anon) == -1)
			(void)cgstat_parse_kv(stat, len, "rss", &anon);
		if (cgstat_parse_kv(stat, len, "total_cache", &file) == -1)
			(void)cgstat_parse_kv(stat, len, "cache", &file);
	}
	st->mem_usage_bytes = usage;
	st->mem_anon_bytes = anon;
	st->mem_file_bytes = file;
	/* Without inactive_file the working set is the usage (kubelet). */
	st->mem_working_set_bytes =
	    usage > inactive_file ? usage - inactive_file : 0;
	return have_inactive ? 0 : -1;
}

/* Read a small file below root/dir into buf (NUL-terminated); its length. */
static ssize_t
read_small(const char *root, const char *sub, const char *dir,
    const char *file, char *buf, size_t size)
{
	char path[PATH_MAX];
	ssize_t n, total = 0;
	int fd;

	if (snprintf(path, sizeof(path), "%s%s%s%s/%s", root,
		sub[0] ? "/" : "", sub, dir, file) >= (int)sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	while ((size_t)total < size - 1) {
		n = read(fd, buf + total, size - 1 - (size_t)total);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			close(fd);
			return -1;
		}
		if (n == 0)
			break;
		total += n;
	}
	close(fd);
	buf[total] = '\0';
	return total;
}

enum cgstat_layout
cgstat_layout(const char *root, char *cpu_sub, char *cpuacct_sub,
    char *memory_sub, size_t sublen)
{
	static const char *const cpuacct[] = { "cpuacct", "cpu,cpuacct",
		"cpuacct,cpu" };
	static const char *const cpu[] = { "cpu", "cpu,cpuacct",
		"cpuacct,cpu" };
	char path[PATH_MAX];
	size_t i;

	cpu_sub[0] = cpuacct_sub[0] = memory_sub[0] = '\0';
	snprintf(path, sizeof(path), "%s/cgroup.controllers", root);
	if (access(path, F_OK) == 0)
		return CGSTAT_V2;
	for (i = 0; i < sizeof(cpuacct) / sizeof(cpuacct[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s/cpuacct.usage", root,
		    cpuacct[i]);
		if (access(path, F_OK) == 0) {
			snprintf(cpuacct_sub, sublen, "%s", cpuacct[i]);
			break;
		}
	}
	for (i = 0; i < sizeof(cpu) / sizeof(cpu[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s/cpu.stat", root, cpu[i]);
		if (access(path, F_OK) == 0) {
			snprintf(cpu_sub, sublen, "%s", cpu[i]);
			break;
		}
	}
	snprintf(path, sizeof(path), "%s/memory/memory.stat", root);
	if (access(path, F_OK) == 0)
		snprintf(memory_sub, sublen, "memory");
	if (cpuacct_sub[0] == '\0' && memory_sub[0] == '\0')
		return CGSTAT_NONE;
	return CGSTAT_V1;
}

#define BUF_STAT  8192
#define BUF_SMALL 512

static int
read_v2(const char *root, const char *dir, struct kw_cgroup_stat *st,
    char *err, size_t errlen)
{
	char buf[BUF_STAT];
	uint64_t v, usage;
	double some, full;
	ssize_t n;
	int is_max, has_full;

	if ((n = read_small(root, "", dir, "cpu.stat", buf, sizeof(buf))) ==
		-1 ||
	    cgstat_parse_kv(buf, (size_t)n, "usage_usec", &v) == -1) {
		snprintf(err, errlen, "%s%s/cpu.stat: %s", root, dir,
		    n == -1 ? strerror(errno) : "no usage_usec");
		return -1;
	}
	st->cpu_usage_ns = v * 1000;
	st->flags |= KW_CG_CPU;
	if (cgstat_parse_kv(buf, (size_t)n, "nr_throttled", &v) == 0) {
		st->nr_throttled = v;
		if (cgstat_parse_kv(buf, (size_t)n, "throttled_usec", &v) == 0)
			st->throttled_ns = v * 1000;
		st->flags |= KW_CG_THROTTLE;
	}
	if ((n = read_small(root, "", dir, "memory.current", buf,
		 sizeof(buf))) == -1 ||
	    cgstat_parse_value(buf, (size_t)n, &usage, &is_max) == -1 ||
	    is_max) {
		snprintf(err, errlen, "%s%s/memory.current: %s", root, dir,
		    n == -1 ? strerror(errno) : "not a number");
		return -1;
	}
	if ((n = read_small(root, "", dir, "memory.stat", buf, sizeof(buf))) ==
	    -1) {
		snprintf(err, errlen, "%s%s/memory.stat: %s", root, dir,
		    strerror(errno));
		return -1;
	}
	if (cgstat_memory_from_stat(buf, (size_t)n, 1, usage, st) == 0)
		st->flags |= KW_CG_WORKING_SET;
	st->flags |= KW_CG_MEMORY;
	if ((n = read_small(root, "", dir, "memory.max", buf, sizeof(buf))) !=
		-1 &&
	    cgstat_parse_value(buf, (size_t)n, &v, &is_max) == 0)
		st->mem_limit_bytes = is_max ? 0 : v;
	if ((n = read_small(root, "", dir, "memory.events", buf,
		 sizeof(buf))) != -1 &&
	    cgstat_parse_kv(buf, (size_t)n, "oom_kill", &v) == 0) {
		st->oom_kills = v;
		st->flags |= KW_CG_OOM;
	}
	if ((n = read_small(root, "", dir, "cpu.pressure", buf,
		 sizeof(buf))) != -1 &&
	    cgstat_parse_psi(buf, (size_t)n, &some, &full, &has_full) == 0) {
		st->psi_cpu_some_avg10 = some;
		st->flags |= KW_CG_PSI;
	}
	if ((n = read_small(root, "", dir, "memory.pressure", buf,
		 sizeof(buf))) != -1 &&
	    cgstat_parse_psi(buf, (size_t)n, &some, &full, &has_full) == 0) {
		st->psi_mem_some_avg10 = some;
		st->psi_mem_full_avg10 = full;
		st->flags |= KW_CG_PSI;
	}
	return 0;
}

static int
read_v1(const struct cgstat *cg, const char *dir, struct kw_cgroup_stat *st,
    char *err, size_t errlen)
{
	char buf[BUF_STAT];
	uint64_t v, usage;
	ssize_t n;
	int is_max;

	if (cg->cpuacct_sub[0] != '\0') {
		if ((n = read_small(cg->root, cg->cpuacct_sub, dir,
			 "cpuacct.usage", buf, BUF_SMALL)) == -1 ||
		    cgstat_parse_value(buf, (size_t)n, &v, &is_max) == -1) {
			snprintf(err, errlen, "%s/%s%s/cpuacct.usage: %s",
			    cg->root, cg->cpuacct_sub, dir,
			    n == -1 ? strerror(errno) : "not a number");
			return -1;
		}
		st->cpu_usage_ns = v;
		st->flags |= KW_CG_CPU;
	}
	if (cg->cpu_sub[0] != '\0' &&
	    (n = read_small(cg->root, cg->cpu_sub, dir, "cpu.stat", buf,
		 sizeof(buf))) != -1 &&
	    cgstat_parse_kv(buf, (size_t)n, "nr_throttled", &v) == 0) {
		st->nr_throttled = v;
		if (cgstat_parse_kv(buf, (size_t)n, "throttled_time", &v) == 0)
			st->throttled_ns = v;
		st->flags |= KW_CG_THROTTLE;
	}
	if (cg->memory_sub[0] == '\0')
		return 0;
	if ((n = read_small(cg->root, cg->memory_sub, dir,
		 "memory.usage_in_bytes", buf, BUF_SMALL)) == -1 ||
	    cgstat_parse_value(buf, (size_t)n, &usage, &is_max) == -1) {
		snprintf(err, errlen, "%s/%s%s/memory.usage_in_bytes: %s",
		    cg->root, cg->memory_sub, dir,
		    n == -1 ? strerror(errno) : "not a number");
		return -1;
	}
	if ((n = read_small(cg->root, cg->memory_sub, dir, "memory.stat", buf,
		 sizeof(buf))) == -1) {
		snprintf(err, errlen, "%s/%s%s/memory.stat: %s", cg->root,
		    cg->memory_sub, dir, strerror(errno));
		return -1;
	}
	if (cgstat_memory_from_stat(buf, (size_t)n, 0, usage, st) == 0)
		st->flags |= KW_CG_WORKING_SET;
	st->flags |= KW_CG_MEMORY;
	if ((n = read_small(cg->root, cg->memory_sub, dir,
		 "memory.limit_in_bytes", buf, BUF_SMALL)) != -1 &&
	    cgstat_parse_value(buf, (size_t)n, &v, &is_max) == 0)
		st->mem_limit_bytes = v >= V1_NO_LIMIT ? 0 : v;
	if ((n = read_small(cg->root, cg->memory_sub, dir,
		 "memory.oom_control", buf, BUF_SMALL)) != -1 &&
	    cgstat_parse_kv(buf, (size_t)n, "oom_kill", &v) == 0) {
		st->oom_kills = v;
		st->flags |= KW_CG_OOM;
	}
	return 0;
}

int
cgstat_init(struct cgstat *cg, const char *cgroup_root, const char *proc_root)
{
	memset(cg, 0, sizeof(*cg));
	cg->detail_every = 1;
	cg->max_fds = 256;
	cg->dirs_per_id = 4;
	snprintf(cg->root, sizeof(cg->root), "%s", cgroup_root);
	snprintf(cg->proc_root, sizeof(cg->proc_root), "%s", proc_root);
	if (cgroup_root[0] == '\0') {
		cg->layout = CGSTAT_NONE;
		return 0;
	}
	cg->layout = cgstat_layout(cg->root, cg->cpu_sub, cg->cpuacct_sub,
	    cg->memory_sub, sizeof(cg->cpu_sub));
	return cg->layout == CGSTAT_NONE ? -1 : 0;
}

static void
dir_close(struct cgstat *cg, struct cgstat_dir *d)
{
	if (d->fd_cpu != -1) {
		close(d->fd_cpu);
		cg->open_fds--;
	}
	if (d->fd_mem != -1) {
		close(d->fd_mem);
		cg->open_fds--;
	}
	d->fd_cpu = d->fd_mem = -1;
}

void
cgstat_free(struct cgstat *cg)
{
	size_t i;

	for (i = 0; i < cg->ndirs; i++)
		dir_close(cg, &cg->dirs[i]);
	free(cg->dirs);
	cg->dirs = NULL;
	cg->ndirs = cg->capdirs = 0;
}

int
cgstat_read(const struct cgstat *cg, const char *dir,
    struct kw_cgroup_stat *st, char *err, size_t errlen)
{
	st->flags = 0;
	switch (cg->layout) {
	case CGSTAT_V2:
		return read_v2(cg->root, dir, st, err, errlen);
	case CGSTAT_V1:
		return read_v1(cg, dir, st, err, errlen);
	case CGSTAT_NONE:
		break;
	}
	snprintf(err, errlen, "no cgroup hierarchy at %s", cg->root);
	return -1;
}

/* The cached directory of a container's claim, or NULL. */
static struct cgstat_dir *
dir_find(struct cgstat *cg, const char *id, const char *claim, size_t *nid)
{
	size_t i;

	*nid = 0;
	for (i = 0; i < cg->ndirs; i++)
		if (strcmp(cg->dirs[i].container_id, id) == 0) {
			if (strcmp(cg->dirs[i].claim, claim) == 0)
				return &cg->dirs[i];
			(*nid)++;
		}
	return NULL;
}

/* The container's directory from a process's /proc/<pid>/cgroup. */
static int
dir_of_pid(struct cgstat *cg, int32_t pid, const char *id, char *dir,
    size_t dirlen)
{
	char buf[8192], file[64];

	snprintf(file, sizeof(file), "/%d/cgroup", (int)pid);
	if (read_small(cg->proc_root, "", "", file, buf, sizeof(buf)) == -1)
		return -1;
	return kw_cgroup_file_dir(buf, cg->layout == CGSTAT_V2, id, dir,
		   dirlen) ?
	    0 :
	    -1;
}

static int
open_at(const struct cgstat *cg, const char *sub, const char *dir,
    const char *file)
{
	char path[PATH_MAX];

	if (snprintf(path, sizeof(path), "%s%s%s%s/%s", cg->root,
		sub[0] ? "/" : "", sub, dir, file) >= (int)sizeof(path))
		return -1;
	return open(path, O_RDONLY | O_CLOEXEC);
}

/* Keep the usage files of d open, while under the cap. */
static void
dir_open(struct cgstat *cg, struct cgstat_dir *d)
{
	if (d->fd_cpu != -1 || cg->open_fds + 2 > cg->max_fds)
		return;
	if (cg->layout == CGSTAT_V2) {
		d->fd_cpu = open_at(cg, "", d->dir, "cpu.stat");
		d->fd_mem = open_at(cg, "", d->dir, "memory.current");
	} else {
		d->fd_cpu = cg->cpuacct_sub[0] == '\0' ?
		    -1 :
		    open_at(cg, cg->cpuacct_sub, d->dir, "cpuacct.usage");
		d->fd_mem = cg->memory_sub[0] == '\0' ?
		    -1 :
		    open_at(cg, cg->memory_sub, d->dir,
			"memory.usage_in_bytes");
	}
	cg->open_fds += (d->fd_cpu != -1) + (d->fd_mem != -1);
	if (d->fd_cpu == -1 || d->fd_mem == -1)
		dir_close(cg, d);
}

static ssize_t
pread_all(int fd, char *buf, size_t size)
{
	ssize_t n;

	do
		n = pread(fd, buf, size - 1, 0);
	while (n == -1 && errno == EINTR);
	if (n >= 0)
		buf[n] = '\0';
	return n;
}

/*
 * Between full reads: the usage files again, the rest from the last full
 * read (the working set with its inactive_file). -1: read in full.
 */
static int
read_usage(const struct cgstat *cg, const struct cgstat_dir *d,
    struct kw_cgroup_stat *st)
{
	char buf[1024];
	uint64_t cpu, mem, thr = 0, thr_us = 0;
	ssize_t n;
	int is_max, v2 = cg->layout == CGSTAT_V2;

	if (d->fd_cpu == -1 ||
	    (n = pread_all(d->fd_cpu, buf, sizeof(buf))) <= 0)
		return -1;
	if (v2) {
		/* cpu.stat: usage and throttling in one read. */
		if (cgstat_parse_kv(buf, (size_t)n, "usage_usec", &cpu) == -1)
			return -1;
		cpu *= 1000;
		(void)cgstat_parse_kv(buf, (size_t)n, "nr_throttled", &thr);
		(void)cgstat_parse_kv(buf, (size_t)n, "throttled_usec",
		    &thr_us);
	} else if (cgstat_parse_value(buf, (size_t)n, &cpu, &is_max) == -1)
		return -1;
	if ((n = pread_all(d->fd_mem, buf, sizeof(buf))) <= 0 ||
	    cgstat_parse_value(buf, (size_t)n, &mem, &is_max) == -1 || is_max)
		return -1;
	*st = d->last;
	st->cpu_usage_ns = cpu;
	if (v2 && (st->flags & KW_CG_THROTTLE)) {
		st->nr_throttled = thr;
		st->throttled_ns = thr_us * 1000;
	}
	st->mem_usage_bytes = mem;
	st->mem_working_set_bytes =
	    mem > d->inactive_file ? mem - d->inactive_file : 0;
	return 0;
}

int
cgstat_collect(struct cgstat *cg, struct kw_snapshot *snap)
{
	struct kw_cgroup_stat *st;
	struct cgstat_dir *d, *nd;
	const struct kw_proc *p;
	const char *claim;
	char err[256];
	size_t i, j, nid;

	cg->last_errors = 0;
	cg->last_refused = 0;
	cg->last_error[0] = '\0';
	if (cg->layout == CGSTAT_NONE)
		return 0;
	cg->samples++;
	for (i = 0; i < cg->ndirs; i++)
		cg->dirs[i].seen = 0;
	for (i = 0; i < snap->nprocs; i++) {
		p = &snap->procs[i];
		if (p->container_id[0] == '\0')
			continue;
		claim = p->cgroup != NULL ? p->cgroup : "";
		if ((d = dir_find(cg, p->container_id, claim, &nid)) != NULL) {
			if (d->seen)
				continue;
		} else if (nid >= cg->dirs_per_id) {
			cg->dirs_refused++;
			cg->last_refused++;
			continue;
		} else {
			if (cg->ndirs == cg->capdirs) {
				size_t cap =
				    cg->capdirs ? cg->capdirs * 2 : 16;

				nd = reallocarray(cg->dirs, cap, sizeof(*nd));
				if (nd == NULL)
					return -1;
				cg->dirs = nd;
				cg->capdirs = cap;
			}
			d = &cg->dirs[cg->ndirs++];
			memset(d, 0, sizeof(*d));
			d->fd_cpu = d->fd_mem = -1;
			snprintf(d->container_id, sizeof(d->container_id),
			    "%s", p->container_id);
			snprintf(d->claim, sizeof(d->claim), "%s", claim);
		}
		d->seen = 1;
		if (d->dir[0] == '\0' &&
		    dir_of_pid(cg, p->pid, p->container_id, d->dir,
			sizeof(d->dir)) == -1) {
			/* Gone meanwhile: the next process of it may do. */
			d->seen = 0;
			continue;
		}
		if ((st = kw_snapshot_add_cgroup(snap)) == NULL)
			return -1;
		cg->reads++;
		if (d->last.flags != 0 &&
		    cg->samples - d->detail_at < cg->detail_every &&
		    read_usage(cg, d, st) == 0) {
			snprintf(st->cgroup, sizeof(st->cgroup), "%s",
			    d->claim);
			continue;
		}
		if (cgstat_read(cg, d->dir, st, err, sizeof(err)) == -1) {
			/* The directory may have been removed: find it anew. */
			dir_close(cg, d);
			d->dir[0] = '\0';
			d->last.flags = 0;
			snap->ncgroups--;
			cg->reads--;
			cg->errors++;
			cg->last_errors++;
			snprintf(cg->last_error, sizeof(cg->last_error), "%s",
			    err);
			continue;
		}
		snprintf(st->container_id, sizeof(st->container_id), "%s",
		    p->container_id);
		snprintf(st->cgroup, sizeof(st->cgroup), "%s", d->claim);
		cg->full_reads++;
		d->last = *st;
		d->detail_at = cg->samples;
		d->inactive_file =
		    st->mem_usage_bytes - st->mem_working_set_bytes;
		if (cg->detail_every > 1)
			dir_open(cg, d);
	}
	/* Forget containers not in this sample. */
	for (i = 0, j = 0; i < cg->ndirs; i++) {
		if (cg->dirs[i].seen)
			cg->dirs[j++] = cg->dirs[i];
		else
			dir_close(cg, &cg->dirs[i]);
	}
	cg->ndirs = j;
	return 0;
}
