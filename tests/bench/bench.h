/*
 * Helpers the benchmark programs share: clocks, CPU time of this process
 * and of a waited-for child, medians. Header-only so each program stays
 * one file plus this.
 */
#ifndef BENCH_H
#define BENCH_H

#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static inline uint64_t
bench_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t
bench_wall_ns(void)
{
	return bench_ns(CLOCK_MONOTONIC);
}

static inline uint64_t
bench_tv_ns(const struct timeval *tv)
{
	return (uint64_t)tv->tv_sec * 1000000000ull +
	    (uint64_t)tv->tv_usec * 1000ull;
}

/* User and system CPU time of this process (RUSAGE_SELF), ns. */
static inline void
bench_self_cpu(uint64_t *user_ns, uint64_t *sys_ns)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	*user_ns = bench_tv_ns(&ru.ru_utime);
	*sys_ns = bench_tv_ns(&ru.ru_stime);
}

/*
 * Run argv with stdout on /dev/null and wait for it: its user and system
 * CPU time and the wall time, ns. Returns its exit status, -1 when it
 * could not be run or did not exit.
 */
static inline int
bench_run(char *const argv[], uint64_t *user_ns, uint64_t *sys_ns,
    uint64_t *wall_ns)
{
	struct rusage ru;
	uint64_t t0;
	pid_t pid;
	int status, fd;

	t0 = bench_wall_ns();
	if ((pid = fork()) == -1)
		return -1;
	if (pid == 0) {
		if ((fd = open("/dev/null", O_WRONLY)) != -1)
			dup2(fd, 1);
		execvp(argv[0], argv);
		_exit(127);
	}
	while (wait4(pid, &status, 0, &ru) == -1)
		if (errno != EINTR)
			return -1;
	*wall_ns = bench_wall_ns() - t0;
	*user_ns = bench_tv_ns(&ru.ru_utime);
	*sys_ns = bench_tv_ns(&ru.ru_stime);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int
bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Median of n values (sorts a copy). */
static inline double
bench_median(const double *v, size_t n)
{
	double *c, m;

	if (n == 0)
		return 0;
	if ((c = malloc(n * sizeof(*c))) == NULL)
		return 0;
	memcpy(c, v, n * sizeof(*c));
	qsort(c, n, sizeof(*c), bench_cmp_double);
	m = n % 2 ? c[n / 2] : (c[n / 2 - 1] + c[n / 2]) / 2;
	free(c);
	return m;
}

#endif /* BENCH_H */
