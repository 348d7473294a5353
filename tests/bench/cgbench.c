/*
 * cgbench: what the cgroup reads add to a sample: the procfs source alone
 * against the procfs source plus cgstat_collect over the same snapshot,
 * alternating (rotating which goes first), in this process.
 *
 *   cgbench [-r REPS] [-p PROC_ROOT] [-c CGROUP_ROOT]
 *
 * Prints "ALT nprocs ncontainers cpu_us wall_us" (medians) for "procfs"
 * and "procfs+cgroup".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "reader.h"
#include "bench.h"

#define MAXREPS 1000

int
main(int argc, char **argv)
{
	static double cpu[2][MAXREPS], wall[2][MAXREPS];
	const char *proc = "/proc", *cgroot = "/sys/fs/cgroup";
	struct kw_snapshot snap;
	struct procfs *pf;
	struct cgstat cg;
	uint64_t u0, s0, u1, s1, t0, t1;
	char err[256];
	int reps = 9, i, k, alt, ch;
	size_t ncont = 0;

	while ((ch = getopt(argc, argv, "r:p:c:")) != -1)
		switch (ch) {
		case 'r':
			reps = atoi(optarg);
			break;
		case 'p':
			proc = optarg;
			break;
		case 'c':
			cgroot = optarg;
			break;
		default:
			fprintf(stderr,
			    "usage: cgbench [-r REPS] [-p PROC] "
			    "[-c CGROUP_ROOT]\n");
			return 2;
		}
	if (reps < 1 || reps > MAXREPS)
		reps = 9;
	kw_snapshot_init(&snap);
	if ((pf = procfs_new(proc)) == NULL ||
	    cgstat_init(&cg, cgroot, proc) == -1) {
		fprintf(stderr, "cgbench: cannot read %s or %s\n", proc,
		    cgroot);
		return 1;
	}
	cg.detail_every = getenv("KW_CG_DETAIL_EVERY") != NULL ?
	    strtoull(getenv("KW_CG_DETAIL_EVERY"), NULL, 10) :
	    5;
	if (cg.detail_every < 1)
		cg.detail_every = 1;
	/* Warm both: the caches of a running reader. */
	if (procfs_sample(pf, &snap, err, sizeof(err)) == -1 ||
	    cgstat_collect(&cg, &snap) == -1) {
		fprintf(stderr, "cgbench: %s\n", err);
		return 1;
	}
	for (i = 0; i < reps; i++)
		for (k = 0; k < 2; k++) {
			alt = (i + k) % 2;
			bench_self_cpu(&u0, &s0);
			t0 = bench_wall_ns();
			if (procfs_sample(pf, &snap, err, sizeof(err)) == -1) {
				fprintf(stderr, "cgbench: %s\n", err);
				return 1;
			}
			if (alt == 1 && cgstat_collect(&cg, &snap) == -1)
				return 1;
			t1 = bench_wall_ns();
			bench_self_cpu(&u1, &s1);
			cpu[alt][i] = ((u1 - u0) + (s1 - s0)) / 1e3;
			wall[alt][i] = (t1 - t0) / 1e3;
			if (alt == 1)
				ncont = snap.ncgroups;
		}
	printf("procfs %zu %zu %.1f %.1f\n", snap.nprocs, ncont,
	    bench_median(cpu[0], (size_t)reps),
	    bench_median(wall[0], (size_t)reps));
	printf("procfs+cgroup %zu %zu %.1f %.1f\n", snap.nprocs, ncont,
	    bench_median(cpu[1], (size_t)reps),
	    bench_median(wall[1], (size_t)reps));
	cgstat_free(&cg);
	procfs_free(pf);
	kw_snapshot_free(&snap);
	return 0;
}
