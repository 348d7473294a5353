/*
 * rates.c: CPU % per (pid, start_ns) over a sliding window, from tables of
 * (time, cpu time, expected %) steps.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../decider/decider.h"

#define MS  1000000ULL /* ns per ms */
#define SEC 1000000000ULL

struct step {
	int32_t pid;
	uint64_t start_ns;
	uint64_t ts_ms;
	uint64_t cpu_ms;
	double want_pct;
};

struct scenario {
	const char *name;
	uint32_t ncpu;
	uint64_t window_ms;
	const struct step *steps;
	size_t nsteps;
	size_t want_keys; /* after the last step */
};

/*
 * One process per snapshot; interval_ns 0: the full history (RATES_HIST),
 * else the history sized from window / interval.
 */
static void
run_scenario_at(const struct scenario *sc, uint64_t interval_ns)
{
	struct rates r;
	struct kw_proc proc;
	struct kw_snapshot snap;
	double pct, machine;
	size_t i;

	rates_init(&r, sc->window_ms * MS);
	rates_set_interval(&r, interval_ns);
	if (interval_ns > 0)
		assert_true(r.hlen <= sc->window_ms * MS / interval_ns + 2);
	for (i = 0; i < sc->nsteps; i++) {
		memset(&proc, 0, sizeof(proc));
		proc.pid = sc->steps[i].pid ? sc->steps[i].pid : 100;
		proc.start_ns = sc->steps[i].start_ns;
		proc.cpu_ns = sc->steps[i].cpu_ms * MS;
		memset(&snap, 0, sizeof(snap));
		snap.ts_ns = 1700000000 * SEC + sc->steps[i].ts_ms * MS;
		snap.host.ncpu = sc->ncpu;
		snap.procs = &proc;
		snap.nprocs = 1;
		assert_int_equal(rates_update(&r, &snap, &pct, &machine), 0);
		if (pct < sc->steps[i].want_pct - 0.01 ||
		    pct > sc->steps[i].want_pct + 0.01)
			fail_msg("%s: step %zu: got %.3f%%, want %.3f%%",
			    sc->name, i, pct, sc->steps[i].want_pct);
		assert_true(machine >= pct - 1e-9 && machine <= pct + 1e-9);
	}
	assert_int_equal(rates_count(&r), sc->want_keys);
	rates_free(&r);
}

/*
 * Every scenario twice: with the full history, and with the history sized
 * from the window and the scenario's shortest step (what the decider does
 * with reader.interval): the same figures.
 */
static void
run_scenario(const struct scenario *sc)
{
	uint64_t min = 0, dt;
	size_t i;

	run_scenario_at(sc, 0);
	for (i = 1; i < sc->nsteps; i++) {
		if (sc->steps[i].ts_ms <= sc->steps[i - 1].ts_ms)
			continue;
		dt = sc->steps[i].ts_ms - sc->steps[i - 1].ts_ms;
		if (min == 0 || dt < min)
			min = dt;
	}
	if (min > 0)
		run_scenario_at(sc, min * MS);
}

/* A row of the table, not a block (not clang-formatted): */
/* clang-format off */
#define SCENARIO(n, cpus, win, keys, arr) \
	{ n, cpus, win, arr, sizeof(arr) / sizeof(arr[0]), keys }
/* clang-format on */

/* One core busy on a two-core machine. */
static const struct step steady_half[] = {
	{ 0, 0, 0, 0, 0.0 }, /* first sample: 0, not a spike */
	{ 0, 0, 1000, 1000, 50.0 },
	{ 0, 0, 2000, 2000, 50.0 },
	{ 0, 0, 3000, 3000, 50.0 },
	{ 0, 0, 7000, 7000, 50.0 },
	{ 0, 0, 8000, 8000, 50.0 },
};

/* Busy for 5 s on one core, then idle: the 5 s window drains. */
static const struct step window_slides[] = {
	{ 0, 0, 0, 0, 0.0 },
	{ 0, 0, 1000, 1000, 100.0 },
	{ 0, 0, 2000, 2000, 100.0 },
	{ 0, 0, 3000, 3000, 100.0 },
	{ 0, 0, 4000, 4000, 100.0 },
	{ 0, 0, 5000, 5000, 100.0 },
	{ 0, 0, 6000, 5000, 80.0 }, /* base t=1 s */
	{ 0, 0, 7000, 5000, 60.0 },
	{ 0, 0, 8000, 5000, 40.0 },
	{ 0, 0, 9000, 5000, 20.0 },
	{ 0, 0, 10000, 5000, 0.0 },
	{ 0, 0, 11000, 5000, 0.0 },
};

/* Half a core on a four-core machine, then a burst. */
static const struct step four_cpus[] = {
	{ 0, 0, 0, 0, 0.0 }, { 0, 0, 1000, 500, 12.5 },
	{ 0, 0, 2000, 1000, 12.5 },
	{ 0, 0, 3000, 5000, 41.667 }, /* 5 s cpu over 3 s x 4 */
};

/* A reader that reports ncpu 0 is read as one CPU. */
static const struct step ncpu_zero[] = {
	{ 0, 0, 0, 0, 0.0 },
	{ 0, 0, 1000, 250, 25.0 },
};

/* Same pid, new start time: a new process, starting from 0. */
static const struct step pid_reuse[] = {
	{ 100, 5 * SEC, 0, 0, 0.0 },
	{ 100, 5 * SEC, 1000, 1000, 100.0 },
	{ 100, 9 * SEC, 2000, 30000, 0.0 }, /* not 2900 % */
	{ 100, 9 * SEC, 3000, 30500, 50.0 },
};

/* A counter that goes backwards restarts the history. */
static const struct step counter_reset[] = {
	{ 0, 0, 0, 10000, 0.0 },
	{ 0, 0, 1000, 11000, 100.0 },
	{ 0, 0, 2000, 100, 0.0 },
	{ 0, 0, 3000, 600, 50.0 },
	{ 0, 0, 4000, 1100, 50.0 },
};

/* Time that goes backwards (clock step) restarts the history too. */
static const struct step clock_back[] = {
	{ 0, 0, 5000, 0, 0.0 },
	{ 0, 0, 6000, 1000, 100.0 },
	{ 0, 0, 2000, 1500, 0.0 },
	{ 0, 0, 3000, 2000, 50.0 },
};

/* More CPU than the machine has (bad data) is clamped to 100. */
static const struct step clamped[] = {
	{ 0, 0, 0, 0, 0.0 },
	{ 0, 0, 1000, 9000, 100.0 },
};

/* A pause longer than the window: the newest older sample is the base. */
static const struct step long_pause[] = {
	{ 0, 0, 0, 0, 0.0 }, { 0, 0, 1000, 500, 50.0 },
	{ 0, 0, 21000, 10500, 50.0 },  /* 10 s over 20 s */
	{ 0, 0, 22000, 11500, 100.0 }, /* base t=21 s */
};

/* The same snapshot twice (no time passed) keeps the last figure. */
static const struct step duplicate[] = {
	{ 0, 0, 0, 0, 0.0 },
	{ 0, 0, 1000, 300, 30.0 },
	{ 0, 0, 1000, 300, 30.0 },
};

static const struct scenario scenarios[] = {
	SCENARIO("steady_half", 2, 5000, 1, steady_half),
	SCENARIO("window_slides", 1, 5000, 1, window_slides),
	SCENARIO("four_cpus", 4, 5000, 1, four_cpus),
	SCENARIO("ncpu_zero", 0, 5000, 1, ncpu_zero),
	SCENARIO("pid_reuse", 1, 5000, 1, pid_reuse),
	SCENARIO("counter_reset", 1, 5000, 1, counter_reset),
	SCENARIO("clock_back", 1, 5000, 1, clock_back),
	SCENARIO("clamped", 1, 5000, 1, clamped),
	SCENARIO("duplicate", 1, 5000, 1, duplicate),
};

static void
rates__scenarios__expected_pct(void **state)
{
	size_t i;

	for (i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
		run_scenario(&scenarios[i]);
}

static void
run_named(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
		if (strcmp(scenarios[i].name, name) == 0) {
			run_scenario(&scenarios[i]);
			return;
		}
	fail_msg("no scenario %s", name);
}

static void
rates__one_core_of_two__fifty_pct(void **state)
{
	run_named("steady_half");
}

static void
rates__window_sliding__old_samples_leave(void **state)
{
	run_named("window_slides");
}

static void
rates__ncpu__divides_share(void **state)
{
	run_named("four_cpus");
	run_named("ncpu_zero");
}

static void
rates__pid_reuse__new_key_starts_at_zero(void **state)
{
	run_named("pid_reuse");
}

static void
rates__counter_reset__history_restarts(void **state)
{
	run_named("counter_reset");
	run_named("clock_back");
}

static void
rates__over_capacity__clamped_to_100(void **state)
{
	run_named("clamped");
}

static void
rates__pause_longer_than_window__newest_old_sample_is_base(void **state)
{
	/*
	 * Step 3: samples at 0 and 1 s are both older than the window; the
	 * newest (1 s) is the base: (10500 - 500) / 20000 = 50 %.
	 * Step 4: 1 s is now out and 21 s is in: (11500-10500)/1000 = 100 %.
	 */
	static const struct scenario sc =
	    SCENARIO("long_pause", 1, 5000, 1, long_pause);

	run_scenario(&sc);
}

/* Keys not in the current snapshot are forgotten: no unbounded growth. */
static void
rates__vanished_keys__dropped(void **state)
{
	struct rates r;
	struct kw_proc procs[300];
	struct kw_snapshot snap;
	double pct[300], machine;
	size_t round, i, n;

	rates_init(&r, 5 * SEC);
	for (round = 0; round < 50; round++) {
		/* 300 new pids every round, then only 3 of them survive. */
		n = round % 2 == 0 ? 300 : 3;
		memset(procs, 0, sizeof(procs));
		for (i = 0; i < n; i++) {
			procs[i].pid = (int32_t)(round / 2 * 1000 + i + 1);
			procs[i].start_ns = round / 2;
			procs[i].cpu_ns = round * MS;
		}
		memset(&snap, 0, sizeof(snap));
		snap.ts_ns = (round + 1) * SEC;
		snap.host.ncpu = 1;
		snap.procs = procs;
		snap.nprocs = n;
		assert_int_equal(rates_update(&r, &snap, pct, &machine), 0);
		assert_int_equal(rates_count(&r), n);
	}
	/* An empty snapshot forgets everything. */
	snap.nprocs = 0;
	assert_int_equal(rates_update(&r, &snap, pct, &machine), 0);
	assert_int_equal(rates_count(&r), 0);
	assert_true(machine == 0.0);
	rates_free(&r);
}

/* Machine CPU % is the sum over processes, clamped to 100. */
static void
rates__machine_pct__sum_clamped(void **state)
{
	static const struct {
		uint32_t ncpu;
		uint64_t cpu_ms[3]; /* used in one second */
		double want;
	} rows[] = {
		{ 2, { 1000, 0, 0 }, 50.0 },
		{ 2, { 500, 500, 500 }, 75.0 },
		{ 4, { 1000, 1000, 1000 }, 75.0 },
		{ 1, { 900, 900, 900 }, 100.0 },
	};
	struct rates r;
	struct kw_proc procs[3];
	struct kw_snapshot snap;
	double pct[3], machine;
	size_t i, j, t;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		rates_init(&r, 5 * SEC);
		for (t = 0; t < 2; t++) {
			memset(procs, 0, sizeof(procs));
			for (j = 0; j < 3; j++) {
				procs[j].pid = (int32_t)(j + 1);
				procs[j].cpu_ns = t * rows[i].cpu_ms[j] * MS;
			}
			memset(&snap, 0, sizeof(snap));
			snap.ts_ns = (t + 1) * SEC;
			snap.host.ncpu = rows[i].ncpu;
			snap.procs = procs;
			snap.nprocs = 3;
			assert_int_equal(rates_update(&r, &snap, pct,
					     &machine),
			    0);
		}
		assert_float_equal(machine, rows[i].want, 0.001);
		rates_free(&r);
	}
}

/*
 * The history is window / interval + 2 samples, at most RATES_HIST;
 * resizing it with processes known keeps their newest samples.
 */
static void
rates__history_from_window_and_interval__sized_and_kept(void **state)
{
	struct rates r;
	struct kw_proc procs[2];
	struct kw_snapshot snap;
	double pct[2], machine;
	uint64_t t;

	rates_init(&r, 5 * SEC);
	assert_int_equal(r.hlen, RATES_HIST);
	rates_set_interval(&r, SEC);
	assert_int_equal(r.hlen, 7);
	rates_set_window(&r, 60 * SEC);
	assert_int_equal(r.hlen, RATES_HIST);
	rates_set_window(&r, 5 * SEC);
	assert_int_equal(r.hlen, 7);
	for (t = 0; t < 20; t++) {
		if (t == 8)
			rates_set_window(&r, 2 * SEC); /* 4 samples */
		if (t == 14)
			rates_set_window(&r, 10 * SEC); /* 12 */
		memset(procs, 0, sizeof(procs));
		procs[0].pid = 1;
		procs[0].cpu_ns = t * 500 * MS; /* half a core */
		procs[1].pid = 2;
		procs[1].cpu_ns = t * t * 10 * MS; /* speeding up */
		memset(&snap, 0, sizeof(snap));
		snap.ts_ns = (t + 1) * SEC;
		snap.host.ncpu = 1;
		snap.procs = procs;
		snap.nprocs = 2;
		assert_int_equal(rates_update(&r, &snap, pct, &machine), 0);
		if (t > 0)
			assert_float_equal(pct[0], 50.0, 0.001);
		if (t >= 8 && t < 14) /* over the last 2 s: 2t - 2 */
			assert_float_equal(pct[1], (2.0 * t - 2) * 1.0, 0.001);
	}
	assert_int_equal(r.hlen, 12);
	assert_int_equal(rates_count(&r), 2);
	rates_free(&r);
}

/* The short history is bounded; a fast sampler shrinks the window. */
static void
rates__fast_sampling__history_bounded(void **state)
{
	struct rate_sample hist[RATES_HIST];
	struct rate_entry e;
	uint64_t t;
	double pct = 0.0;

	memset(&e, 0, sizeof(e));
	e.hist = hist;
	e.hcap = RATES_HIST;
	for (t = 0; t <= 1000; t++)
		pct =
		    rates_entry_step(&e, t * 10 * MS, t * 5 * MS, 1, 5 * SEC);
	assert_true(e.nhist <= RATES_HIST);
	assert_float_equal(pct, 50.0, 0.001);
}

/*
 * The wall clock stepped back an hour, then forward two, between samples
 * that are one second apart on the monotonic clock: the rate stays the
 * process's 50 % (it would read as a counter reset, then as 0.01 %, on
 * the wall clock).
 */
static void
rates__wall_clock_step__monotonic_rates(void **state)
{
	static const int64_t wall_s[] = { 0, 1, -3599, 3601, 3602, 3603 };
	struct rates r;
	struct kw_proc proc;
	struct kw_snapshot snap;
	double pct, machine;
	size_t i;

	rates_init(&r, 5000 * MS);
	for (i = 0; i < sizeof(wall_s) / sizeof(wall_s[0]); i++) {
		memset(&proc, 0, sizeof(proc));
		proc.pid = 100;
		proc.cpu_ns = i * 500 * MS;
		memset(&snap, 0, sizeof(snap));
		snap.ts_ns =
		    (uint64_t)((1700000000 + wall_s[i]) * (int64_t)SEC);
		snap.mono_ns = 5000 * SEC + i * SEC;
		snap.host.ncpu = 1;
		snap.procs = &proc;
		snap.nprocs = 1;
		assert_int_equal(rates_update(&r, &snap, &pct, &machine), 0);
		if (i > 0 && (pct < 49.99 || pct > 50.01))
			fail_msg(
			    "sample %zu (wall %+lld s): %.3f%%, want 50%%", i,
			    (long long)wall_s[i], pct);
	}
	rates_free(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rates__one_core_of_two__fifty_pct),
		cmocka_unit_test(rates__window_sliding__old_samples_leave),
		cmocka_unit_test(rates__ncpu__divides_share),
		cmocka_unit_test(rates__pid_reuse__new_key_starts_at_zero),
		cmocka_unit_test(rates__counter_reset__history_restarts),
		cmocka_unit_test(rates__over_capacity__clamped_to_100),
		cmocka_unit_test(rates__scenarios__expected_pct),
		cmocka_unit_test(
		    rates__pause_longer_than_window__newest_old_sample_is_base),
		cmocka_unit_test(rates__vanished_keys__dropped),
		cmocka_unit_test(rates__machine_pct__sum_clamped),
		cmocka_unit_test(rates__fast_sampling__history_bounded),
		cmocka_unit_test(rates__wall_clock_step__monotonic_rates),
		cmocka_unit_test(
		    rates__history_from_window_and_interval__sized_and_kept),
	};

	return cmocka_run_group_tests_name("decider_rates", tests, NULL, NULL);
}
