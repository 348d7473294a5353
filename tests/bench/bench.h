/*
 * Helpers the benchmark programs share: clocks, CPU time of this process
 * and of a waited-for child, medians. Header-only so each program stays
 * one file plus this.
 */
#ifndef BENCH_H
#define BENCH_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static inline uint64_t
bench_ns(clockid_t clk)
{
	struct timespec	ts;

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
	struct rusage	ru;

	getrusage(RUSAGE_SELF, &ru);
	*user_ns = bench_tv_ns(&ru.ru_utime);
	*sys_ns = bench_tv_ns(&ru.ru_stime);
}

static int
bench_cmp_double(const void *a, const void *b)
{
	double	x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Median of n values (sorts a copy). */
static inline double
bench_median(const double *v, size_t n)
{
	double	*c, m;

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
