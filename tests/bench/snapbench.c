/*
 * snapbench: benchmark 1, the cost of one full snapshot of the process
 * table: the reader's procfs source (warm cache, and cold: a new
 * procfs_new each time) against procps `ps` gathering the same fields.
 *
 *   snapbench [-r REPS] [-p PROC_ROOT] [-w]
 *
 * -w: only the warm procfs source, REPS times (for perf record).
 *
 * They alternate within each repetition (rotating which goes first).
 * A fourth, "stat-only-sketch", is not kwarden's code: it is what the
 * procfs source would cost per sample if it read only <pid>/stat (one
 * openat from the /proc fd, threads from stat, uid/cmdline/cgroup cached
 * per (pid, start)), the fix proposed in docs/benchmarks.md.
 * ps is fork+exec'd with stdout on /dev/null; its CPU comes from wait4().
 * The procfs source runs in this process; its CPU is the getrusage delta.
 * Prints one line per alternative:
 *   ALT nprocs cpu_us wall_us sys_pct     (medians)
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "reader.h"
#include "bench.h"

#define MAXREPS 1000

enum {
	ALT_PS,
	ALT_WARM,
	ALT_COLD,
	ALT_SKETCH,
	NALT
};
static const char *alt_name[NALT] = { "ps", "procfs-warm", "procfs-cold",
	"stat-only-sketch" };

struct sample {
	double cpu_us, wall_us, sys_us;
	size_t nprocs;
};

static char *ps_argv[] = { "ps", "-eo", "pid,ppid,comm,args,vsz,rss,stat,time",
	NULL };

static int
run_ps(struct sample *s)
{
	uint64_t u, sy, w;
	int rc;

	if ((rc = bench_run(ps_argv, &u, &sy, &w)) != 0) {
		fprintf(stderr, "snapbench: ps failed (status %d)\n", rc);
		return -1;
	}
	s->wall_us = w / 1e3;
	s->sys_us = sy / 1e3;
	s->cpu_us = (u + sy) / 1e3;
	s->nprocs = 0;
	return 0;
}

static int
run_procfs(struct procfs **pfp, const char *root, int cold,
    struct kw_snapshot *snap, struct sample *s)
{
	char err[256];
	uint64_t u0, s0, u1, s1, t0, t1;
	int r;

	bench_self_cpu(&u0, &s0);
	t0 = bench_wall_ns();
	if (cold) {
		procfs_free(*pfp);
		if ((*pfp = procfs_new(root)) == NULL)
			return -1;
	}
	r = procfs_sample(*pfp, snap, err, sizeof(err));
	t1 = bench_wall_ns();
	bench_self_cpu(&u1, &s1);
	if (r == -1) {
		fprintf(stderr, "snapbench: %s\n", err);
		return -1;
	}
	s->wall_us = (t1 - t0) / 1e3;
	s->sys_us = (s1 - s0) / 1e3;
	s->cpu_us = s->sys_us + (u1 - u0) / 1e3;
	s->nprocs = snap->nprocs;
	return 0;
}

/* The proposed steady state: per process one openat + read of <pid>/stat. */
static int
run_sketch(const char *root, struct sample *s)
{
	char path[300], buf[1024];
	struct procfs_stat st;
	struct dirent *de;
	DIR *dir;
	uint64_t u0, s0, u1, s1, t0, t1;
	ssize_t n;
	size_t count = 0;
	int fd;

	bench_self_cpu(&u0, &s0);
	t0 = bench_wall_ns();
	if ((dir = opendir(root)) == NULL)
		return -1;
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "%s/stat", de->d_name);
		if ((fd = openat(dirfd(dir), path, O_RDONLY | O_CLOEXEC)) ==
		    -1)
			continue;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n > 0 && procfs_parse_stat(buf, (size_t)n, &st) == 0)
			count++;
	}
	closedir(dir);
	t1 = bench_wall_ns();
	bench_self_cpu(&u1, &s1);
	s->wall_us = (t1 - t0) / 1e3;
	s->sys_us = (s1 - s0) / 1e3;
	s->cpu_us = s->sys_us + (u1 - u0) / 1e3;
	s->nprocs = count;
	return 0;
}

int
main(int argc, char **argv)
{
	static struct sample res[NALT][MAXREPS];
	double v[MAXREPS], w[MAXREPS], k[MAXREPS];
	const char *root = "/proc";
	struct procfs *warm, *cold;
	struct kw_snapshot snap;
	char err[256];
	int reps = 5, only_warm = 0, c, i, j, a;

	while ((c = getopt(argc, argv, "r:p:w")) != -1) {
		switch (c) {
		case 'w':
			only_warm = 1;
			break;
		case 'r':
			reps = atoi(optarg);
			break;
		case 'p':
			root = optarg;
			break;
		default:
			fprintf(stderr,
			    "usage: snapbench [-r REPS] [-p ROOT] [-w]\n");
			return 2;
		}
	}
	if (reps < 1 || reps > MAXREPS)
		reps = 5;
	kw_snapshot_init(&snap);
	warm = procfs_new(root);
	cold = procfs_new(root);
	if (warm == NULL || cold == NULL)
		return 1;
	/* Warm up: the warm instance's cache, the page cache, ps itself. */
	if (procfs_sample(warm, &snap, err, sizeof(err)) == -1) {
		fprintf(stderr, "snapbench: %s\n", err);
		return 1;
	}
	if (only_warm) {
		for (i = 0; i < reps; i++)
			if (procfs_sample(warm, &snap, err, sizeof(err)) == -1)
				return 1;
		return 0;
	}
	if (run_ps(&res[ALT_PS][0]) == -1)
		return 1;

	for (i = 0; i < reps; i++) {
		for (j = 0; j < NALT; j++) {
			a = (i + j) % NALT;
			switch (a) {
			case ALT_PS:
				if (run_ps(&res[a][i]) == -1)
					return 1;
				break;
			case ALT_WARM:
				if (run_procfs(&warm, root, 0, &snap,
					&res[a][i]) == -1)
					return 1;
				break;
			case ALT_COLD:
				if (run_procfs(&cold, root, 1, &snap,
					&res[a][i]) == -1)
					return 1;
				break;
			case ALT_SKETCH:
				if (run_sketch(root, &res[a][i]) == -1)
					return 1;
				break;
			}
		}
	}
	for (a = 0; a < NALT; a++) {
		size_t n = 0;

		for (i = 0; i < reps; i++) {
			v[i] = res[a][i].cpu_us;
			w[i] = res[a][i].wall_us;
			k[i] = res[a][i].sys_us;
			if (res[a][i].nprocs > n)
				n = res[a][i].nprocs;
		}
		if (a == ALT_PS)
			n = res[ALT_WARM][0].nprocs;
		printf("%s %zu %.0f %.0f %.0f\n", alt_name[a], n,
		    bench_median(v, reps), bench_median(w, reps),
		    100.0 * bench_median(k, reps) /
			(bench_median(v, reps) > 0 ? bench_median(v, reps) :
						     1));
	}
	procfs_free(warm);
	procfs_free(cold);
	kw_snapshot_free(&snap);
	return 0;
}
