/*
 * vmtime: benchmark 5's timer inside the qemu VM (built static). Reads
 * FILE to the end (128 KiB reads, like cat) and runs CMD (stdout on
 * /dev/null), alternating, REPS times each; prints medians:
 *
 *   vmtime REPS FILE[,FILE2[,DELTA]] CMD [ARGS...]
 *   file BYTES NPROCS CPU_US WALL_US
 *   file2 BYTES NPROCS CPU_US WALL_US	(with FILE2: read in the same rounds)
 *   delta BYTES RECORDS CPU_US WALL_US FULL_CPU_US
 *   cmd 0 0 CPU_US WALL_US
 *
 * DELTA (the module's delta file) is opened once and read pass after pass
 * from offset 0, as the reader does: its first (full) pass is timed apart
 * (FULL_CPU_US), then one pass per round; BYTES and RECORDS are the last
 * pass's.
 *
 * NPROCS counts "pid": keys in the file (one more read, untimed). CPU
 * is user+sys: the read's from
 * getrusage, the command's from wait4.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

#define MAXREPS 100
#define BUFSZ	(128 * 1024)

static char buf[BUFSZ];

static int
read_file(const char *path, double *cpu_us, double *wall_us, size_t *bytes)
{
	uint64_t u0, s0, u1, s1, t0, t1;
	size_t total = 0;
	ssize_t n;
	int fd;

	bench_self_cpu(&u0, &s0);
	t0 = bench_wall_ns();
	if ((fd = open(path, O_RDONLY)) == -1) {
		fprintf(stderr, "vmtime: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		total += (size_t)n;
	close(fd);
	t1 = bench_wall_ns();
	bench_self_cpu(&u1, &s1);
	if (n == -1)
		return -1;
	*cpu_us = (u1 - u0 + s1 - s0) / 1e3;
	*wall_us = (t1 - t0) / 1e3;
	*bytes = total;
	return 0;
}

/* "pid": keys in the file: one more read, not timed. */
static size_t
count_procs(const char *path)
{
	static const char key[] = "\"pid\":";
	size_t n_pid = 0, match = 0;
	ssize_t n, i;
	int fd;

	if ((fd = open(path, O_RDONLY)) == -1)
		return 0;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		for (i = 0; i < n; i++) {
			if (buf[i] == key[match]) {
				if (++match == sizeof(key) - 1) {
					n_pid++;
					match = 0;
				}
			} else
				match = buf[i] == key[0];
		}
	close(fd);
	return n_pid;
}

/* One pass of the delta file kept open in fd. */
static int
read_pass(int fd, double *cpu_us, double *wall_us, size_t *bytes,
    size_t *records)
{
	uint64_t u0, s0, u1, s1, t0, t1;
	size_t total = 0, i, recs = 0;
	ssize_t n;

	bench_self_cpu(&u0, &s0);
	t0 = bench_wall_ns();
	if (lseek(fd, 0, SEEK_SET) == -1)
		return -1;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		total += (size_t)n;
	t1 = bench_wall_ns();
	bench_self_cpu(&u1, &s1);
	if (n == -1)
		return -1;
	/* Records are one per line, each "  {": the pass fits in buf. */
	if (total <= sizeof(buf))
		for (i = 0; i + 2 < total; i++)
			if (buf[i] == ' ' && buf[i + 1] == ' ' &&
			    buf[i + 2] == '{')
				recs++;
	*cpu_us = (u1 - u0 + s1 - s0) / 1e3;
	*wall_us = (t1 - t0) / 1e3;
	*bytes = total;
	*records = recs;
	return 0;
}

static int
run_cmd(char **argv, double *cpu_us, double *wall_us)
{
	uint64_t u, sy, w;

	if (bench_run(argv, &u, &sy, &w) != 0)
		return -1;
	*cpu_us = (u + sy) / 1e3;
	*wall_us = w / 1e3;
	return 0;
}

int
main(int argc, char **argv)
{
	double fc[MAXREPS], fw[MAXREPS], cc[MAXREPS], cw[MAXREPS];
	double gc[MAXREPS], gw[MAXREPS], dc[MAXREPS], dw[MAXREPS];
	double dfull_c = 0, dfull_w = 0;
	size_t bytes = 0, bytes2 = 0, nprocs = 0, dbytes = 0, drecs = 0;
	char *file2, *delta = NULL;
	int reps, i, dfd = -1;

	if (argc < 4 || (reps = atoi(argv[1])) < 1 || reps > MAXREPS) {
		fprintf(stderr,
		    "usage: vmtime REPS FILE[,FILE2] CMD [ARGS...]\n");
		return 2;
	}
	if ((file2 = strchr(argv[2], ',')) != NULL)
		*file2++ = '\0';
	if (file2 != NULL && (delta = strchr(file2, ',')) != NULL)
		*delta++ = '\0';
	if (delta != NULL) {
		if ((dfd = open(delta, O_RDONLY)) == -1 ||
		    read_pass(dfd, &dfull_c, &dfull_w, &dbytes, &drecs) ==
			-1) {
			fprintf(stderr, "vmtime: %s: %s\n", delta,
			    strerror(errno));
			return 1;
		}
	}
	for (i = 0; i < reps; i++) {
		int first_file = i % 2 == 0;

		if (first_file &&
		    read_file(argv[2], &fc[i], &fw[i], &bytes) == -1)
			return 1;
		if (file2 != NULL &&
		    read_file(file2, &gc[i], &gw[i], &bytes2) == -1)
			return 1;
		if (dfd != -1 &&
		    read_pass(dfd, &dc[i], &dw[i], &dbytes, &drecs) == -1)
			return 1;
		if (run_cmd(argv + 3, &cc[i], &cw[i]) == -1) {
			fprintf(stderr, "vmtime: %s failed\n", argv[3]);
			return 1;
		}
		if (!first_file &&
		    read_file(argv[2], &fc[i], &fw[i], &bytes) == -1)
			return 1;
	}
	nprocs = count_procs(argv[2]);
	printf("file %zu %zu %.0f %.0f\n", bytes, nprocs,
	    bench_median(fc, reps), bench_median(fw, reps));
	if (file2 != NULL)
		printf("file2 %zu %zu %.0f %.0f\n", bytes2, count_procs(file2),
		    bench_median(gc, reps), bench_median(gw, reps));
	if (dfd != -1) {
		printf("delta %zu %zu %.0f %.0f %.0f\n", dbytes, drecs,
		    bench_median(dc, reps), bench_median(dw, reps), dfull_c);
		close(dfd);
	}
	printf("cmd 0 0 %.0f %.0f\n", bench_median(cc, reps),
	    bench_median(cw, reps));
	return 0;
}
