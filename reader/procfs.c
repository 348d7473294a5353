/*
 * The procfs source: walk a /proc tree (the real one or a fixture) and fill
 * a snapshot. Parsers are pure functions over buffers; the walk reads each
 * file with openat/read into a buffer, relative to the pid's directory.
 *
 * Per process and sample only <pid>/stat is read: one open, one read, one
 * close (the thread count is in it too). The uid (from status, the most
 * expensive file to format), cmdline and the container id (from cgroup) are
 * cached per (pid, start time, comm) and re-read when any of the three
 * changes (exec changes comm), when the cached cmdline is empty for a user
 * process, and at least every PROCFS_REFRESH_SAMPLES samples (setproctitle
 * changes argv in place; setuid changes the uid; a process can be moved to
 * another cgroup). Kernel threads (PF_KTHREAD) have
 * no cmdline, no memory and the root cgroup: neither file is read for them.
 * The same cache serves procfs_fill_container_ids (kmod snapshots in the
 * seed's format), keyed there by (pid, name) as the seed has no start time.
 */
#include <sys/types.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "reader.h"

#define PROCFS_BUCKETS	       1024
#define PROCFS_REFRESH_SAMPLES 16
#define PROCFS_SCRATCH	       (64 * 1024)
#define PROCFS_SMALL	       4096
#define PROCFS_CGROUP_MAX      8192
/*
 * A cached comm at the kernel's size (TASK_COMM_LEN): one entry per
 * process, 10,000 of them. A longer name (a fixture's) never matches, so
 * the entry is re-read every sample: slower, not wrong.
 */
#define PROCFS_COMM_LEN 16

struct procfs_cache {
	struct procfs_cache *next;
	int32_t pid;
	uint64_t starttime;
	char comm[PROCFS_COMM_LEN];
	char *cmdline;
	size_t cmdline_len;
	char container_id[KW_CID_LEN];
	char *cgroup;	     /* the claimed directory, or NULL */
	uint32_t uid;	     /* real uid, from status */
	int cgroup_valid;    /* id is known */
	uint64_t seen;	     /* sample number */
	uint64_t refresh_at; /* sample number */
};

struct procfs {
	char *root;
	uint64_t hz;
	uint64_t page_kb;
	uint64_t gen;
	struct procfs_counters counters;
	struct procfs_cache *buckets[PROCFS_BUCKETS];
	char *scratch; /* PROCFS_SCRATCH bytes */
};

static void
comm_copy(char dst[PROCFS_COMM_LEN], const char *src)
{
	size_t n = strnlen(src, PROCFS_COMM_LEN - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* Parsing */

/* Skip spaces, then read an unsigned decimal number. */
static int
scan_u64(const char **pp, const char *end, uint64_t *v)
{
	const char *p = *pp;
	uint64_t n = 0;

	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if (p >= end || !isdigit((unsigned char)*p))
		return -1;
	while (p < end && isdigit((unsigned char)*p)) {
		if (n > (UINT64_MAX - 9) / 10)
			return -1;
		n = n * 10 + (uint64_t)(*p - '0');
		p++;
	}
	*pp = p;
	*v = n;
	return 0;
}

/* A signed field (nice, priority, tty_nr): value ignored. */
static int
skip_field(const char **pp, const char *end)
{
	const char *p = *pp;

	while (p < end && *p == ' ')
		p++;
	if (p >= end || *p == '\n')
		return -1;
	while (p < end && *p != ' ' && *p != '\n')
		p++;
	*pp = p;
	return 0;
}

int
procfs_parse_stat(const char *buf, size_t len, struct procfs_stat *st)
{
	const char *end = buf + len, *open, *close, *p;
	uint64_t v, pid;
	size_t n;
	int field;

	memset(st, 0, sizeof(*st));
	open = memchr(buf, '(', len);
	if (open == NULL)
		return -1;
	/* comm may hold spaces and ')': the last ')' closes it. */
	close = NULL;
	for (p = end; p > open; p--)
		if (p[-1] == ')') {
			close = p - 1;
			break;
		}
	if (close == NULL)
		return -1;
	p = buf;
	if (scan_u64(&p, open, &pid) == -1 || pid > INT32_MAX)
		return -1;
	st->pid = (int32_t)pid;
	n = (size_t)(close - open - 1);
	if (n > sizeof(st->comm) - 1)
		n = sizeof(st->comm) - 1;
	memcpy(st->comm, open + 1, n);
	st->comm[n] = '\0';

	p = close + 1;
	while (p < end && *p == ' ')
		p++;
	if (p >= end || !isalpha((unsigned char)*p))
		return -1;
	st->state = *p++;
	/* Fields 4 (ppid) .. 24 (rss), numbered as in proc(5). */
	for (field = 4; field <= 24; field++) {
		switch (field) {
		case 7:	 /* tty_nr */
		case 8:	 /* tpgid: -1 without a terminal */
		case 16: /* cutime */
		case 17: /* cstime */
		case 18: /* priority */
		case 19: /* nice */
		case 21: /* itrealvalue */
			if (skip_field(&p, end) == -1)
				return -1;
			continue;
		}
		if (scan_u64(&p, end, &v) == -1)
			return -1;
		switch (field) {
		case 4:
			if (v > INT32_MAX)
				return -1;
			st->ppid = (int32_t)v;
			break;
		case 9:
			st->flags = v;
			break;
		case 14:
			st->utime = v;
			break;
		case 15:
			st->stime = v;
			break;
		case 20:
			st->num_threads = v;
			break;
		case 22:
			st->starttime = v;
			break;
		case 23:
			st->vsize = v;
			break;
		case 24:
			st->rss_pages = v;
			break;
		}
	}
	return 0;
}

int
procfs_parse_statm(const char *buf, size_t len, struct procfs_statm *sm)
{
	const char *p = buf, *end = buf + len;

	memset(sm, 0, sizeof(*sm));
	if (scan_u64(&p, end, &sm->size_pages) == -1 ||
	    scan_u64(&p, end, &sm->resident_pages) == -1)
		return -1;
	return 0;
}

/* The value after "Key:" at the start of a line, or NULL. */
static const char *
find_key(const char *buf, size_t len, const char *key)
{
	const char *p = buf, *end = buf + len, *nl;
	size_t klen = strlen(key);

	while (p < end) {
		if ((size_t)(end - p) > klen && memcmp(p, key, klen) == 0 &&
		    p[klen] == ':')
			return p + klen + 1;
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	return NULL;
}

int
procfs_parse_status(const char *buf, size_t len, struct procfs_status *ss)
{
	const char *end = buf + len, *p;
	uint64_t v;

	memset(ss, 0, sizeof(*ss));
	if ((p = find_key(buf, len, "Uid")) != NULL &&
	    scan_u64(&p, end, &v) == 0 && v <= UINT32_MAX) {
		ss->uid = (uint32_t)v;
		ss->has_uid = 1;
	}
	if ((p = find_key(buf, len, "Threads")) != NULL &&
	    scan_u64(&p, end, &v) == 0 && v <= UINT32_MAX) {
		ss->threads = (uint32_t)v;
		ss->has_threads = 1;
	}
	return ss->has_uid ? 0 : -1;
}

int
procfs_parse_meminfo(const char *buf, size_t len, struct kw_host *h)
{
	const char *end = buf + len, *p;
	uint64_t total, free_kb, avail;

	h->mem_total_kb = h->mem_free_kb = 0;
	h->mem_used_kb = h->mem_available_kb = 0;
	if ((p = find_key(buf, len, "MemTotal")) == NULL ||
	    scan_u64(&p, end, &total) == -1)
		return -1;
	if ((p = find_key(buf, len, "MemFree")) == NULL ||
	    scan_u64(&p, end, &free_kb) == -1)
		return -1;
	/* Absent before Linux 3.14: then free is the best we know. */
	if ((p = find_key(buf, len, "MemAvailable")) == NULL ||
	    scan_u64(&p, end, &avail) == -1)
		avail = free_kb;
	h->mem_total_kb = total;
	h->mem_free_kb = free_kb;
	h->mem_available_kb = avail;
	/* The seed's definition: used = total - free (caches count as used). */
	h->mem_used_kb = total > free_kb ? total - free_kb : 0;
	return 0;
}

uint32_t
procfs_count_cpus(const char *buf, size_t len)
{
	const char *p = buf, *end = buf + len, *nl;
	uint32_t n = 0;

	while (p < end) {
		if (end - p > 3 && memcmp(p, "cpu", 3) == 0 &&
		    isdigit((unsigned char)p[3]))
			n++;
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	return n;
}

size_t
procfs_cmdline_clean(char *buf, size_t len)
{
	size_t i;

	if (len > KW_CMDLINE_MAX - 1)
		len = KW_CMDLINE_MAX - 1;
	while (len > 0 && (buf[len - 1] == '\0' || buf[len - 1] == ' '))
		len--;
	for (i = 0; i < len; i++)
		if (buf[i] == '\0' || buf[i] == '\n')
			buf[i] = ' ';
	buf[len] = '\0';
	return len;
}

uint64_t
procfs_ticks_to_ns(uint64_t ticks, uint64_t hz)
{
	if (hz == 0)
		hz = 100;
	if (1000000000ull % hz == 0)
		return ticks * (1000000000ull / hz);
	return ticks / hz * 1000000000ull + ticks % hz * 1000000000ull / hz;
}

/* I/O */

/*
 * Read up to size - 1 bytes of dirfd/name and NUL-terminate. Returns the
 * length, or -1 with errno set.
 */
static ssize_t
read_at(int dirfd, const char *name, char *buf, size_t size)
{
	ssize_t n;
	size_t off = 0;
	int fd, saved;

	if ((fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	while (off < size - 1) {
		n = read(fd, buf + off, size - 1 - off);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			saved = errno;
			close(fd);
			errno = saved;
			return -1;
		}
		if (n == 0)
			break;
		off += (size_t)n;
	}
	close(fd);
	buf[off] = '\0';
	return (ssize_t)off;
}

struct procfs *
procfs_new(const char *root)
{
	struct procfs *pf;
	long v;

	if ((pf = calloc(1, sizeof(*pf))) == NULL)
		return NULL;
	if ((pf->root = strdup(root)) == NULL ||
	    (pf->scratch = malloc(PROCFS_SCRATCH)) == NULL) {
		procfs_free(pf);
		return NULL;
	}
	v = sysconf(_SC_CLK_TCK);
	pf->hz = v > 0 ? (uint64_t)v : 100;
	v = sysconf(_SC_PAGESIZE);
	pf->page_kb = v >= 1024 ? (uint64_t)v / 1024 : 4;
	return pf;
}

static void
cache_free(struct procfs_cache *c)
{
	free(c->cmdline);
	free(c->cgroup);
	free(c);
}

void
procfs_free(struct procfs *pf)
{
	struct procfs_cache *c, *next;
	size_t i;

	if (pf == NULL)
		return;
	for (i = 0; i < PROCFS_BUCKETS; i++)
		for (c = pf->buckets[i]; c != NULL; c = next) {
			next = c->next;
			cache_free(c);
		}
	free(pf->scratch);
	free(pf->root);
	free(pf);
}

void
procfs_get_counters(const struct procfs *pf, struct procfs_counters *c)
{
	*c = pf->counters;
}

static struct procfs_cache *
cache_get(struct procfs *pf, int32_t pid)
{
	struct procfs_cache *c;

	for (c = pf->buckets[(uint32_t)pid % PROCFS_BUCKETS]; c != NULL;
	     c = c->next)
		if (c->pid == pid)
			return c;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->pid = pid;
	c->next = pf->buckets[(uint32_t)pid % PROCFS_BUCKETS];
	pf->buckets[(uint32_t)pid % PROCFS_BUCKETS] = c;
	return c;
}

/* Forget the processes this sample did not see. */
static void
cache_sweep(struct procfs *pf)
{
	struct procfs_cache **cp, *c;
	size_t i;

	for (i = 0; i < PROCFS_BUCKETS; i++) {
		cp = &pf->buckets[i];
		while ((c = *cp) != NULL) {
			if (c->seen != pf->gen) {
				*cp = c->next;
				cache_free(c);
			} else
				cp = &c->next;
		}
	}
}

static int
is_gone(int err)
{
	return err == ENOENT || err == ESRCH;
}

/*
 * The container id and directory /proc/<pid>/cgroup claims, into c. -1
 * (errno ENOMEM) on allocation failure.
 */
static int
cache_set_claim(struct procfs_cache *c, const char *content)
{
	char dir[KW_CGDIR_MAX];

	free(c->cgroup);
	c->cgroup = NULL;
	if (kw_cgroup_file_claim(content, c->container_id, dir, sizeof(dir)) !=
	    1)
		return 0;
	if ((c->cgroup = strdup(dir)) == NULL) {
		c->container_id[0] = '\0';
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

/* Re-read cmdline and cgroup of one process into its cache entry. */
static int
cache_fill(struct procfs *pf, int pfd, struct procfs_cache *c,
    const struct procfs_stat *st)
{
	char buf[KW_CMDLINE_MAX + 1], cg[PROCFS_CGROUP_MAX];
	char *s;
	ssize_t n;
	size_t len;

	c->starttime = st->starttime;
	comm_copy(c->comm, st->comm);
	c->container_id[0] = '\0';
	free(c->cgroup);
	c->cgroup = NULL;
	c->uid = 0;
	len = 0;
	buf[0] = '\0';
	if ((st->flags & PROCFS_PF_KTHREAD) == 0) {
		struct procfs_status ss;

		if ((n = read_at(pfd, "status", buf, sizeof(buf))) == -1)
			return -1;
		if (procfs_parse_status(buf, (size_t)n, &ss) == -1) {
			errno = n == 0 ? ESRCH : EINVAL;
			return -1;
		}
		c->uid = ss.uid;
		if ((n = read_at(pfd, "cmdline", buf, sizeof(buf))) == -1)
			return -1;
		len = procfs_cmdline_clean(buf, (size_t)n);
		if (read_at(pfd, "cgroup", cg, sizeof(cg)) == -1)
			return -1;
		if (cache_set_claim(c, cg) == -1)
			return -1;
	}
	if ((s = malloc(len + 1)) == NULL) {
		errno = ENOMEM;
		return -1;
	}
	memcpy(s, buf, len + 1);
	free(c->cmdline);
	c->cmdline = s;
	c->cmdline_len = len;
	c->cgroup_valid = 1;
	c->refresh_at = pf->gen + PROCFS_REFRESH_SAMPLES +
	    (uint64_t)c->pid % PROCFS_REFRESH_SAMPLES;
	return 0;
}

/*
 * One process. 0 when added, 1 when skipped (gone or unreadable), -1 on
 * allocation failure.
 */
static int
sample_pid(struct procfs *pf, int rootfd, const char *name, int32_t pid,
    struct kw_snapshot *snap)
{
	char buf[PROCFS_SMALL], path[32];
	struct procfs_stat st;
	struct procfs_cache *c;
	struct kw_proc *p;
	ssize_t n;
	int kthread, pfd, r;

	snprintf(path, sizeof(path), "%s/stat", name);
	if ((n = read_at(rootfd, path, buf, sizeof(buf))) == -1)
		goto fail;
	if (procfs_parse_stat(buf, (size_t)n, &st) == -1) {
		/* A reaped process can read as empty. */
		if (n == 0)
			goto gone;
		pf->counters.errors++;
		return 1;
	}
	kthread = (st.flags & PROCFS_PF_KTHREAD) != 0;

	if ((c = cache_get(pf, pid)) == NULL)
		return -1;
	if (c->cmdline == NULL || c->starttime != st.starttime ||
	    strcmp(c->comm, st.comm) != 0 || pf->gen >= c->refresh_at ||
	    (c->cmdline_len == 0 && !kthread)) {
		pf->counters.cache_misses++;
		pfd = openat(rootfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (pfd == -1)
			goto fail;
		r = cache_fill(pf, pfd, c, &st);
		close(pfd);
		if (r == -1) {
			if (errno == ENOMEM)
				return -1;
			/* Leave the entry to the sweep unless seen. */
			goto fail;
		}
	} else
		pf->counters.cache_hits++;
	c->seen = pf->gen;

	if ((p = kw_snapshot_add(snap)) == NULL)
		return -1;
	p->pid = pid;
	p->ppid = st.ppid;
	p->uid = c->uid;
	p->threads = st.num_threads > UINT32_MAX ? UINT32_MAX :
						   (uint32_t)st.num_threads;
	p->state = st.state;
	memcpy(p->name, st.comm, sizeof(p->name));
	if (kw_proc_set_cmdline(p, c->cmdline, c->cmdline_len) == -1) {
		/* p keeps its "" cmdline: the snapshot stays consistent. */
		return -1;
	}
	if (!kthread) {
		p->vsz_kb = st.vsize / 1024;
		p->rss_kb = st.rss_pages * pf->page_kb;
	}
	p->cpu_ns = procfs_ticks_to_ns(st.utime + st.stime, pf->hz);
	p->start_ns = procfs_ticks_to_ns(st.starttime, pf->hz);
	memcpy(p->container_id, c->container_id, sizeof(p->container_id));
	if (c->cgroup != NULL &&
	    kw_proc_set_cgroup(p, c->cgroup, strlen(c->cgroup)) == -1)
		return -1;
	return 0;

fail:
	if (!is_gone(errno)) {
		pf->counters.errors++;
		return 1;
	}
gone:
	pf->counters.vanished++;
	return 1;
}

static int
all_digits(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if (!isdigit((unsigned char)*s))
			return 0;
	return 1;
}

int
procfs_sample(struct procfs *pf, struct kw_snapshot *snap, char *err,
    size_t errlen)
{
	struct dirent *de;
	DIR *dir;
	ssize_t n;
	long v, ncpu;
	int rootfd, r;

	kw_snapshot_clear(snap);
	snprintf(snap->source, sizeof(snap->source), "procfs");
	if ((dir = opendir(pf->root)) == NULL) {
		snprintf(err, errlen, "%s: %s", pf->root, strerror(errno));
		return -1;
	}
	rootfd = dirfd(dir);
	if ((n = read_at(rootfd, "meminfo", pf->scratch, PROCFS_SCRATCH)) ==
	    -1) {
		snprintf(err, errlen, "%s/meminfo: %s", pf->root,
		    strerror(errno));
		closedir(dir);
		return -1;
	}
	if (procfs_parse_meminfo(pf->scratch, (size_t)n, &snap->host) == -1) {
		snprintf(err, errlen, "%s/meminfo: no MemTotal/MemFree",
		    pf->root);
		closedir(dir);
		return -1;
	}
	ncpu = 0;
	if ((n = read_at(rootfd, "stat", pf->scratch, PROCFS_SCRATCH)) != -1)
		ncpu = procfs_count_cpus(pf->scratch, (size_t)n);
	if (ncpu == 0 && (v = sysconf(_SC_NPROCESSORS_ONLN)) > 0)
		ncpu = v;
	snap->host.ncpu = ncpu > 0 ? (uint32_t)ncpu : 1;

	pf->gen++;
	pf->counters.samples++;
	while ((errno = 0, de = readdir(dir)) != NULL) {
		if (!all_digits(de->d_name))
			continue;
		v = strtol(de->d_name, NULL, 10);
		if (v <= 0 || v > INT32_MAX)
			continue;
		r = sample_pid(pf, rootfd, de->d_name, (int32_t)v, snap);
		if (r == -1) {
			snprintf(err, errlen, "procfs: out of memory");
			closedir(dir);
			return -1;
		}
	}
	if (errno != 0) {
		snprintf(err, errlen, "%s: readdir: %s", pf->root,
		    strerror(errno));
		closedir(dir);
		return -1;
	}
	closedir(dir);
	cache_sweep(pf);
	return 0;
}

/* The cached claim into p; -1 on allocation failure. */
static int
fill_from_cache(struct kw_proc *p, const struct procfs_cache *c)
{
	memcpy(p->container_id, c->container_id, sizeof(p->container_id));
	if (c->cgroup == NULL)
		return kw_proc_set_cgroup(p, "", 0);
	return kw_proc_set_cgroup(p, c->cgroup, strlen(c->cgroup));
}

int
procfs_fill_container_ids(struct procfs *pf, struct kw_snapshot *snap)
{
	char cg[PROCFS_CGROUP_MAX], name[32];
	struct procfs_cache *c;
	struct kw_proc *p;
	size_t i;
	int rootfd;

	if ((rootfd = open(pf->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) ==
	    -1)
		return 0; /* every process stays a host process */
	pf->gen++;
	for (i = 0; i < snap->nprocs; i++) {
		p = &snap->procs[i];
		/* The module said where it is: nothing to read. */
		if (p->cgroup != NULL)
			continue;
		if ((c = cache_get(pf, p->pid)) == NULL) {
			close(rootfd);
			return -1;
		}
		c->seen = pf->gen;
		if (c->cgroup_valid && strcmp(c->comm, p->name) == 0 &&
		    pf->gen < c->refresh_at) {
			pf->counters.cache_hits++;
			if (fill_from_cache(p, c) == -1) {
				close(rootfd);
				return -1;
			}
			continue;
		}
		pf->counters.cache_misses++;
		/* No start time here: make procfs_sample re-read it all. */
		free(c->cmdline);
		c->cmdline = NULL;
		c->starttime = 0;
		comm_copy(c->comm, p->name);
		c->container_id[0] = '\0';
		free(c->cgroup);
		c->cgroup = NULL;
		c->cgroup_valid = 0;
		/* Where it is now, not what the module said it was. */
		p->container_id[0] = '\0';
		snprintf(name, sizeof(name), "%d/cgroup", (int)p->pid);
		if (read_at(rootfd, name, cg, sizeof(cg)) == -1) {
			if (is_gone(errno))
				pf->counters.vanished++;
			else
				pf->counters.errors++;
			continue;
		}
		if (cache_set_claim(c, cg) == -1) {
			close(rootfd);
			return -1;
		}
		c->cgroup_valid = 1;
		c->refresh_at = pf->gen + PROCFS_REFRESH_SAMPLES +
		    (uint64_t)c->pid % PROCFS_REFRESH_SAMPLES;
		if (fill_from_cache(p, c) == -1) {
			close(rootfd);
			return -1;
		}
	}
	close(rootfd);
	cache_sweep(pf);
	return 0;
}
