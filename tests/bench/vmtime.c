/*
 * vmtime: benchmark 5's timer inside the qemu VM (built static). Reads
 * FILE to the end (128 KiB reads, like cat) and runs CMD (stdout on
 * /dev/null), alternating, REPS times each; prints medians:
 *
 *   vmtime REPS FILE[,FILE2] CMD [ARGS...]
 *   file BYTES NPROCS CPU_US WALL_US
 *   file2 BYTES NPROCS CPU_US WALL_US	(with FILE2: read in the same rounds)
 *   cmd 0 0 CPU_US WALL_US
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

#define MAXREPS	100
#define BUFSZ	(128 * 1024)

static char	buf[BUFSZ];

static int
read_file(const char *path, double *cpu_us, double *wall_us, size_t *bytes)
{
	uint64_t	 u0, s0, u1, s1, t0, t1;
	size_t		 total = 0;
	ssize_t		 n;
	int		 fd;

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
	static const char	 key[] = "\"pid\":";
	size_t			 n_pid = 0, match = 0;
	ssize_t			 n, i;
	int			 fd;

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

static int
run_cmd(char **argv, double *cpu_us, double *wall_us)
{
	uint64_t	u, sy, w;

	if (bench_run(argv, &u, &sy, &w) != 0)
		return -1;
	*cpu_us = (u + sy) / 1e3;
	*wall_us = w / 1e3;
	return 0;
}

int
main(int argc, char **argv)
{
	double	fc[MAXREPS], fw[MAXREPS], cc[MAXREPS], cw[MAXREPS];
	double	gc[MAXREPS], gw[MAXREPS];
	size_t	bytes = 0, bytes2 = 0, nprocs = 0;
	char	*file2;
	int	reps, i;

	if (argc < 4 || (reps = atoi(argv[1])) < 1 || reps > MAXREPS) {
		fprintf(stderr, "usage: vmtime REPS FILE[,FILE2] CMD [ARGS...]\n");
		return 2;
	}
	if ((file2 = strchr(argv[2], ',')) != NULL)
		*file2++ = '\0';
	for (i = 0; i < reps; i++) {
		int first_file = i % 2 == 0;

		if (first_file && read_file(argv[2], &fc[i], &fw[i],
		    &bytes) == -1)
			return 1;
		if (file2 != NULL && read_file(file2, &gc[i], &gw[i],
		    &bytes2) == -1)
			return 1;
		if (run_cmd(argv + 3, &cc[i], &cw[i]) == -1) {
			fprintf(stderr, "vmtime: %s failed\n", argv[3]);
			return 1;
		}
		if (!first_file && read_file(argv[2], &fc[i], &fw[i],
		    &bytes) == -1)
			return 1;
	}
	nprocs = count_procs(argv[2]);
	printf("file %zu %zu %.0f %.0f\n", bytes, nprocs,
	    bench_median(fc, reps), bench_median(fw, reps));
	if (file2 != NULL)
		printf("file2 %zu %zu %.0f %.0f\n", bytes2,
		    count_procs(file2), bench_median(gc, reps),
		    bench_median(gw, reps));
	printf("cmd 0 0 %.0f %.0f\n", bench_median(cc, reps),
	    bench_median(cw, reps));
	return 0;
}
