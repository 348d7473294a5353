/*
 * containers.c: a snapshot plus per-process CPU % grouped by container:
 * sums over every process, host processes left out, main pid.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../../decider/decider.h"

#define CID_A	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" \
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define CID_B	"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb" \
	"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define CID_C	"cccccccccccccccccccccccccccccccc" \
	"cccccccccccccccccccccccccccccccc"

struct row {
	int32_t		pid;
	uint64_t	start_ns;
	const char	*cid;
	uint64_t	rss_kb;
	double		cpu_pct;
};

struct want {
	const char	*cid;
	int32_t		pid;
	uint32_t	nprocs;
	double		cpu_pct;
	double		mem_pct;
	uint64_t	rss_kb;
};

struct table {
	const char	*name;
	uint64_t	 mem_total_kb;
	const struct row *rows;
	size_t		 nrows;
	const struct want *wants;
	size_t		 nwants;
};

static void
run_table(const struct table *t)
{
	struct kw_proc procs[16];
	double pct[16];
	struct kw_snapshot snap;
	struct container_set set;
	const struct container *c;
	size_t i;

	assert_true(t->nrows <= 16);
	memset(procs, 0, sizeof(procs));
	for (i = 0; i < t->nrows; i++) {
		procs[i].pid = t->rows[i].pid;
		procs[i].start_ns = t->rows[i].start_ns;
		snprintf(procs[i].container_id, sizeof(procs[i].container_id),
		    "%s", t->rows[i].cid);
		procs[i].rss_kb = t->rows[i].rss_kb;
		pct[i] = t->rows[i].cpu_pct;
	}
	memset(&snap, 0, sizeof(snap));
	snap.host.mem_total_kb = t->mem_total_kb;
	snap.host.ncpu = 2;
	snap.procs = procs;
	snap.nprocs = t->nrows;

	containers_init(&set);
	/* Twice: the set is reused from one snapshot to the next. */
	assert_int_equal(containers_aggregate(&snap, pct, &set), 0);
	assert_int_equal(containers_aggregate(&snap, pct, &set), 0);
	if (set.n != t->nwants)
		fail_msg("%s: %zu containers, want %zu", t->name, set.n,
		    t->nwants);
	for (i = 0; i < t->nwants; i++) {
		c = &set.c[i];
		assert_string_equal(c->container_id, t->wants[i].cid);
		assert_ptr_equal(containers_find(&set, t->wants[i].cid), c);
		assert_int_equal(c->pid, t->wants[i].pid);
		assert_int_equal(c->nprocs, t->wants[i].nprocs);
		assert_int_equal(c->rss_kb, t->wants[i].rss_kb);
		assert_float_equal(c->cpu_pct, t->wants[i].cpu_pct, 0.001);
		assert_float_equal(c->mem_pct, t->wants[i].mem_pct, 0.001);
		assert_string_equal(c->name, "");
		assert_string_equal(c->image, "");
	}
	assert_null(containers_find(&set, "nope"));
	containers_free(&set);
}

#define TABLE(n, mem, r, w) \
	{ n, mem, r, sizeof(r) / sizeof(r[0]), w, sizeof(w) / sizeof(w[0]) }

/* Three processes of one container, interleaved with others. */
static const struct row sums_rows[] = {
	{ 10, 500, CID_A, 1000, 10.0 },
	{ 1, 1, "", 5000, 40.0 },		/* host */
	{ 11, 600, CID_A, 2000, 15.5 },
	{ 20, 700, CID_B, 100, 1.0 },
	{ 12, 650, CID_A, 3000, 0.5 },
};
static const struct want sums_wants[] = {
	{ CID_A, 10, 3, 26.0, 6.0, 6000 },
	{ CID_B, 20, 1, 1.0, 0.1, 100 },
};

/* Only host processes: no container. */
static const struct row host_rows[] = {
	{ 1, 1, "", 5000, 40.0 },
	{ 2, 2, "", 5000, 40.0 },
};
static const struct want host_wants[0];

/*
 * Main pid: the earliest started process, not the lowest pid (pids wrap);
 * on equal start times the lowest pid.
 */
static const struct row main_rows[] = {
	{ 900, 300, CID_A, 1, 0.0 },
	{ 50, 900, CID_A, 1, 0.0 },		/* lower pid, later start */
	{ 300, 100, CID_A, 1, 0.0 },		/* earliest: main */
	{ 77, 400, CID_B, 1, 0.0 },
	{ 66, 400, CID_B, 1, 0.0 },		/* tie: lowest pid */
	{ 88, 400, CID_B, 1, 0.0 },
};
static const struct want main_wants[] = {
	{ CID_A, 300, 3, 0.0, 0.003, 3 },
	{ CID_B, 66, 3, 0.0, 0.003, 3 },
};

/* Sorted by id whatever the snapshot order; mem_pct of MemTotal. */
static const struct row order_rows[] = {
	{ 3, 1, CID_C, 250000, 1.0 },
	{ 2, 1, CID_B, 500000, 2.0 },
	{ 1, 1, CID_A, 1000000, 3.0 },
};
static const struct want order_wants[] = {
	{ CID_A, 1, 1, 3.0, 25.0, 1000000 },
	{ CID_B, 2, 1, 2.0, 12.5, 500000 },
	{ CID_C, 3, 1, 1.0, 6.25, 250000 },
};

/* mem_total_kb 0 (bad host data) gives 0 %, not a division by zero. */
static const struct row nomem_rows[] = {
	{ 1, 1, CID_A, 1000, 60.0 },
	{ 2, 1, CID_A, 1000, 60.0 },	/* sum over 100 is clamped */
};
static const struct want nomem_wants[] = {
	{ CID_A, 1, 2, 100.0, 0.0, 2000 },
};

static void
containers__sums__over_all_processes(void **state)
{
	static const struct table t =
	    TABLE("sums", 100000, sums_rows, sums_wants);

	run_table(&t);
}

static void
containers__host_processes__not_a_container(void **state)
{
	static const struct table t =
	    TABLE("host", 100000, host_rows, host_wants);

	run_table(&t);
}

static void
containers__main_pid__earliest_started(void **state)
{
	static const struct table t =
	    TABLE("main", 100000, main_rows, main_wants);

	run_table(&t);
}

static void
containers__order__sorted_by_id(void **state)
{
	static const struct table t =
	    TABLE("order", 4000000, order_rows, order_wants);

	run_table(&t);
}

static void
containers__no_mem_total__zero_pct(void **state)
{
	static const struct table t =
	    TABLE("nomem", 0, nomem_rows, nomem_wants);

	run_table(&t);
}

/* Many containers: the set grows; an empty snapshot empties it. */
static void
containers__many__grow_then_empty(void **state)
{
	struct kw_proc procs[200];
	double pct[200];
	struct kw_snapshot snap;
	struct container_set set;
	size_t i;

	memset(procs, 0, sizeof(procs));
	for (i = 0; i < 200; i++) {
		procs[i].pid = (int32_t)(i + 1);
		snprintf(procs[i].container_id, sizeof(procs[i].container_id),
		    "%064zx", i / 2);
		procs[i].rss_kb = 10;
		pct[i] = 0.25;
	}
	memset(&snap, 0, sizeof(snap));
	snap.host.mem_total_kb = 1000;
	snap.procs = procs;
	snap.nprocs = 200;
	containers_init(&set);
	assert_int_equal(containers_aggregate(&snap, pct, &set), 0);
	assert_int_equal(set.n, 100);
	for (i = 0; i < 100; i++) {
		assert_int_equal(set.c[i].nprocs, 2);
		assert_int_equal(set.c[i].pid, (int32_t)(2 * i + 1));
		assert_float_equal(set.c[i].cpu_pct, 0.5, 1e-9);
		assert_float_equal(set.c[i].mem_pct, 2.0, 1e-9);
	}
	snap.nprocs = 0;
	assert_int_equal(containers_aggregate(&snap, pct, &set), 0);
	assert_int_equal(set.n, 0);
	containers_free(&set);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(containers__sums__over_all_processes),
		cmocka_unit_test(containers__host_processes__not_a_container),
		cmocka_unit_test(containers__main_pid__earliest_started),
		cmocka_unit_test(containers__order__sorted_by_id),
		cmocka_unit_test(containers__no_mem_total__zero_pct),
		cmocka_unit_test(containers__many__grow_then_empty),
	};

	return cmocka_run_group_tests_name("decider_containers", tests, NULL,
	    NULL);
}
