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

#define CID_A                              \
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" \
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define CID_B                              \
	"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb" \
	"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define CID_C                              \
	"cccccccccccccccccccccccccccccccc" \
	"cccccccccccccccccccccccccccccccc"

struct row {
	int32_t pid;
	uint64_t start_ns;
	const char *cid;
	uint64_t rss_kb;
	double cpu_pct;
};

struct want {
	const char *cid;
	int32_t pid;
	uint32_t nprocs;
	double cpu_pct;
	double mem_pct;
	uint64_t rss_kb;
};

struct table {
	const char *name;
	uint64_t mem_total_kb;
	const struct row *rows;
	size_t nrows;
	const struct want *wants;
	size_t nwants;
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

/* A row of the table, not a block (not clang-formatted): */
/* clang-format off */
#define TABLE(n, mem, r, w) \
	{ n, mem, r, sizeof(r) / sizeof(r[0]), w, sizeof(w) / sizeof(w[0]) }
/* clang-format on */

/* Three processes of one container, interleaved with others. */
static const struct row sums_rows[] = {
	{ 10, 500, CID_A, 1000, 10.0 },
	{ 1, 1, "", 5000, 40.0 }, /* host */
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
	{ 50, 900, CID_A, 1, 0.0 },  /* lower pid, later start */
	{ 300, 100, CID_A, 1, 0.0 }, /* earliest: main */
	{ 77, 400, CID_B, 1, 0.0 },
	{ 66, 400, CID_B, 1, 0.0 }, /* tie: lowest pid */
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
	{ 2, 1, CID_A, 1000, 60.0 }, /* sum over 100 is clamped */
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

/*
 * The cgroup's figures over the processes' sums. One container (A) does
 * its work in children that live less than a sample: its processes show
 * no CPU, its cgroup 1 s per s. Another (B) pre-forks 8 processes sharing
 * 300 MiB copy-on-write: RSS sums to 2.4 GiB, the cgroup charges 300 MiB.
 * C has no cgroup figures: its sums stand.
 */
struct cgcase {
	const char *name;
	enum mem_basis basis;
	double a_cpu_lo, a_cpu_hi; /* step 2 */
	double b_mem;		   /* percent of 24 GiB */
	double c_mem;
};

#define MIB   1024ULL
#define TOTAL (24ULL * 1024 * MIB) /* kB */

static void
cg_snapshot(struct kw_snapshot *snap, struct kw_proc *procs,
    struct kw_cgroup_stat *cg, uint64_t ts_ns, uint64_t a_usage_ns)
{
	size_t i, n = 0;

	memset(procs, 0, 11 * sizeof(*procs));
	memset(cg, 0, 2 * sizeof(*cg));
	procs[n].pid = 10;
	snprintf(procs[n].container_id, KW_CID_LEN, "%s", CID_A);
	procs[n++].rss_kb = 1024;
	for (i = 0; i < 8; i++) {
		procs[n].pid = 20 + (int32_t)i;
		snprintf(procs[n].container_id, KW_CID_LEN, "%s", CID_B);
		procs[n++].rss_kb = 300 * MIB;
	}
	procs[n].pid = 40;
	snprintf(procs[n].container_id, KW_CID_LEN, "%s", CID_C);
	procs[n++].rss_kb = 240 * MIB;

	snprintf(cg[0].container_id, KW_CID_LEN, "%s", CID_B);
	cg[0].flags = KW_CG_CPU | KW_CG_MEMORY | KW_CG_WORKING_SET;
	cg[0].mem_usage_bytes = 330 * MIB * 1024;
	cg[0].mem_working_set_bytes = 300 * MIB * 1024;
	cg[0].mem_anon_bytes = 290 * MIB * 1024;
	cg[0].cpu_usage_ns = 5;
	snprintf(cg[1].container_id, KW_CID_LEN, "%s", CID_A);
	cg[1].flags = KW_CG_CPU | KW_CG_MEMORY | KW_CG_WORKING_SET;
	cg[1].cpu_usage_ns = a_usage_ns;
	cg[1].mem_usage_bytes = 2 * MIB * 1024;
	cg[1].mem_working_set_bytes = 2 * MIB * 1024;

	memset(snap, 0, sizeof(*snap));
	snap->ts_ns = ts_ns;
	snap->host.mem_total_kb = TOTAL;
	snap->host.ncpu = 2;
	snap->procs = procs;
	snap->nprocs = n;
	snap->cgroups = cg; /* not sorted by id: the code sorts */
	snap->ncgroups = 2;
}

static void
containers__cgroup_figures__over_process_sums(void **state)
{
	static const struct cgcase cases[] = {
		{ "working set", MEM_BASIS_WORKING_SET, 49.9, 50.1,
		    300.0 * 100 / (24 * 1024), 240.0 * 100 / (24 * 1024) },
		{ "rss: the seed's sum", MEM_BASIS_RSS, 49.9, 50.1,
		    2400.0 * 100 / (24 * 1024), 240.0 * 100 / (24 * 1024) },
		{ "anon", MEM_BASIS_ANON, 49.9, 50.1,
		    290.0 * 100 / (24 * 1024), 240.0 * 100 / (24 * 1024) },
	};
	struct kw_proc procs[11];
	struct kw_cgroup_stat cg[2];
	double pct[11];
	struct kw_snapshot snap;
	struct container_set set;
	struct cgroup_rates cr;
	const struct container *a, *b, *c;
	size_t i;

	memset(pct, 0, sizeof(pct));
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		print_message("case: %s\n", cases[i].name);
		containers_init(&set);
		cgroup_rates_init(&cr);
		cg_snapshot(&snap, procs, cg, 1000000000ULL, 7000000000ULL);
		assert_int_equal(containers_aggregate(&snap, pct, &set), 0);
		assert_int_equal(containers_apply_cgroups(&set, &snap, &cr,
				     cases[i].basis, 5000000000ULL),
		    0);
		/* First sample: no rate yet, no spike. */
		a = containers_find(&set, CID_A);
		assert_true(a->cpu_pct == 0.0);
		cg_snapshot(&snap, procs, cg, 2000000000ULL, 8000000000ULL);
		assert_int_equal(containers_aggregate(&snap, pct, &set), 0);
		assert_int_equal(containers_apply_cgroups(&set, &snap, &cr,
				     cases[i].basis, 5000000000ULL),
		    0);
		a = containers_find(&set, CID_A);
		b = containers_find(&set, CID_B);
		c = containers_find(&set, CID_C);
		assert_true(a->cpu_pct > cases[i].a_cpu_lo &&
		    a->cpu_pct < cases[i].a_cpu_hi);
		assert_true(a->cpu_pct_procs == 0.0);
		assert_true(b->mem_pct > cases[i].b_mem - 0.01 &&
		    b->mem_pct < cases[i].b_mem + 0.01);
		assert_true(b->rss_kb == 2400 * MIB);
		assert_true(b->working_set_kb == 300 * MIB);
		assert_true(c->mem_pct > cases[i].c_mem - 0.01 &&
		    c->mem_pct < cases[i].c_mem + 0.01);
		assert_int_equal(c->cg_flags, 0);
		assert_int_equal(cr.n, 2);
		containers_free(&set);
		cgroup_rates_free(&cr);
	}
}

/* A usage counter going backwards (container restarted) restarts its rate. */
static void
containers__cgroup_counter_backwards__no_spike(void **state)
{
	struct kw_proc procs[11];
	struct kw_cgroup_stat cg[2];
	double pct[11];
	struct kw_snapshot snap;
	struct container_set set;
	struct cgroup_rates cr;

	memset(pct, 0, sizeof(pct));
	containers_init(&set);
	cgroup_rates_init(&cr);
	cg_snapshot(&snap, procs, cg, 1000000000ULL, 9000000000ULL);
	assert_int_equal(containers_aggregate(&snap, pct, &set), 0);
	assert_int_equal(containers_apply_cgroups(&set, &snap, &cr,
			     MEM_BASIS_WORKING_SET, 5000000000ULL),
	    0);
	cg_snapshot(&snap, procs, cg, 2000000000ULL, 100);
	assert_int_equal(containers_aggregate(&snap, pct, &set), 0);
	assert_int_equal(containers_apply_cgroups(&set, &snap, &cr,
			     MEM_BASIS_WORKING_SET, 5000000000ULL),
	    0);
	assert_true(containers_find(&set, CID_A)->cpu_pct == 0.0);
	/* Without its figures the container's history goes. */
	snap.ncgroups = 0;
	assert_int_equal(containers_aggregate(&snap, pct, &set), 0);
	assert_int_equal(containers_apply_cgroups(&set, &snap, &cr,
			     MEM_BASIS_WORKING_SET, 5000000000ULL),
	    0);
	assert_int_equal(cr.n, 0);
	containers_free(&set);
	cgroup_rates_free(&cr);
}

static void
mem_basis__names__round_trip(void **state)
{
	enum mem_basis b;

	assert_int_equal(mem_basis_parse("working_set", &b), 0);
	assert_int_equal(b, MEM_BASIS_WORKING_SET);
	assert_int_equal(mem_basis_parse("rss", &b), 0);
	assert_string_equal(mem_basis_name(b), "rss");
	assert_int_equal(mem_basis_parse("anon", &b), 0);
	assert_int_equal(mem_basis_parse("pss", &b), -1);
	assert_null(mem_basis_name((enum mem_basis)9));
}

/*
 * Attribution: a claim (container_id, cgroup) holds only for the
 * container's real directory, that of its first process (Docker's
 * State.Pid), or, while that is not known, under a trusted parent.
 */
#define DIR_A	"/docker/" CID_A
#define SCOPE_A "/system.slice/docker-" CID_A ".scope"
#define FAKE_USER_A                                      \
	"/user.slice/user-1000.slice/user@1000.service/" \
	"docker-" CID_A ".scope"
#define FAKE_SLICE_A "/fake.slice/docker-" CID_A ".scope"

struct claim {
	int32_t pid;
	const char *cid; /* NULL: host */
	const char *dir;
	int held; /* still a container process after */
};

struct attr_case {
	const char *name;
	int32_t docker_pid_a; /* -1: no table; 0: pid not known */
	const char *state_a;
	struct claim claims[6];
	/* cgroup figure sets: directory of A, and whether kept */
	const char *cg_dirs[3];
	int cg_kept[3];
	uint64_t refused;
	int refresh_a; /* A asked for */
};

static const char *const trusted[] = { "/docker", "/system.slice/" };

static void
run_attr(const struct attr_case *t)
{
	char parents[ATTR_PARENTS_MAX][64];
	struct kw_snapshot snap;
	struct docker_table table;
	struct docker_ctr dc;
	struct attr_result res;
	struct kw_cgroup_stat *st;
	struct kw_proc *p;
	size_t i, k, nclaims = 0, ncg = 0;

	memset(parents, 0, sizeof(parents));
	for (i = 0; i < 2; i++)
		snprintf(parents[i], sizeof(parents[i]), "%s", trusted[i]);
	kw_snapshot_init(&snap);
	docker_table_init(&table);
	memset(&res, 0, sizeof(res));
	if (t->docker_pid_a >= 0) {
		memset(&dc, 0, sizeof(dc));
		snprintf(dc.id, sizeof(dc.id), "%s", CID_A);
		snprintf(dc.state, sizeof(dc.state), "%s",
		    t->state_a ? t->state_a : "running");
		dc.pid = t->docker_pid_a;
		assert_non_null(docker_table_upsert(&table, &dc));
	}
	for (i = 0; i < 6 && t->claims[i].pid != 0; i++, nclaims++) {
		assert_non_null(p = kw_snapshot_add(&snap));
		p->pid = t->claims[i].pid;
		if (t->claims[i].cid != NULL)
			snprintf(p->container_id, sizeof(p->container_id),
			    "%s", t->claims[i].cid);
		if (t->claims[i].dir != NULL)
			assert_int_equal(kw_proc_set_cgroup(p,
					     t->claims[i].dir,
					     strlen(t->claims[i].dir)),
			    0);
	}
	for (i = 0; i < 3 && t->cg_dirs[i] != NULL; i++, ncg++) {
		assert_non_null(st = kw_snapshot_add_cgroup(&snap));
		snprintf(st->container_id, sizeof(st->container_id), "%s",
		    CID_A);
		snprintf(st->cgroup, sizeof(st->cgroup), "%s", t->cg_dirs[i]);
		st->cpu_usage_ns = i;
	}
	assert_int_equal(containers_attribute(&snap,
			     t->docker_pid_a >= 0 ? &table : NULL,
			     (const char(*)[64])parents, 2, &res),
	    0);
	for (i = 0; i < nclaims; i++) {
		p = &snap.procs[i];
		if (t->claims[i].held) {
			if (strcmp(p->container_id, t->claims[i].cid) != 0)
				fail_msg("%s: pid %d: refused", t->name,
				    (int)p->pid);
		} else if (p->container_id[0] != '\0' || p->cgroup != NULL)
			fail_msg("%s: pid %d: held", t->name, (int)p->pid);
	}
	for (i = 0, k = 0; i < ncg; i++) {
		if (!t->cg_kept[i])
			continue;
		if (k >= snap.ncgroups || snap.cgroups[k].cpu_usage_ns != i)
			fail_msg("%s: figures of %s dropped", t->name,
			    t->cg_dirs[i]);
		k++;
	}
	if (k != snap.ncgroups)
		fail_msg("%s: %zu figure sets kept, want %zu", t->name,
		    snap.ncgroups, k);
	if (res.refused != t->refused)
		fail_msg("%s: refused %llu, want %llu", t->name,
		    (unsigned long long)res.refused,
		    (unsigned long long)t->refused);
	assert_int_equal(res.nrefresh == 1 &&
		strcmp(res.refresh[0], CID_A) == 0,
	    t->refresh_a);
	attr_result_free(&res);
	docker_table_free(&table);
	kw_snapshot_free(&snap);
}

static void
attribute__claims__held_only_in_the_real_cgroup(void **state)
{
	static const struct attr_case cases[] = {
		{ "first process known: look-alikes are host processes", 100,
		    NULL,
		    {
			{ 100, CID_A, DIR_A, 1 },
			{ 101, CID_A, DIR_A, 1 },
			{ 200, CID_A, FAKE_SLICE_A, 0 },
			{ 201, CID_A, FAKE_USER_A, 0 },
			{ 300, NULL, NULL, 0 },
		    },
		    { FAKE_SLICE_A, DIR_A, NULL }, { 0, 1, 0 }, 2, 0 },
		{ "below the real directory is in it", 100, NULL,
		    {
			{ 100, CID_A, DIR_A, 1 },
			{ 101, CID_A, DIR_A, 1 },
		    },
		    { DIR_A, NULL }, { 1, 0 }, 0, 0 },
		{ "a real cgroup anywhere (rootless) is its own", 100, NULL,
		    {
			{ 100, CID_A, FAKE_USER_A, 1 },
			{ 101, CID_A, FAKE_USER_A, 1 },
			{ 102, CID_A, DIR_A, 0 },
		    },
		    { DIR_A, FAKE_USER_A, NULL }, { 0, 1, 0 }, 1, 0 },
		{ "a trusted look-alike is not the real one either", 100, NULL,
		    {
			{ 100, CID_A, DIR_A, 1 },
			{ 101, CID_A, SCOPE_A, 0 },
		    },
		    { SCOPE_A, DIR_A, NULL }, { 0, 1, 0 }, 1, 0 },
		{ "first process not inspected yet: trusted parents", 0, NULL,
		    {
			{ 100, CID_A, DIR_A, 1 },
			{ 101, CID_A, SCOPE_A, 1 },
			{ 200, CID_A, FAKE_SLICE_A, 0 },
			{ 201, CID_A, FAKE_USER_A, 0 },
		    },
		    { FAKE_USER_A, DIR_A, SCOPE_A }, { 0, 1, 0 }, 2, 1 },
		{ "no Docker: trusted parents, nothing asked", -1, NULL,
		    {
			{ 200, CID_A, FAKE_SLICE_A, 0 },
			{ 100, CID_A, DIR_A, 1 },
		    },
		    { FAKE_SLICE_A, DIR_A, NULL }, { 0, 1, 0 }, 1, 0 },
		{ "first process gone from the snapshot: trusted parents",
		    4242, NULL,
		    {
			{ 100, CID_A, DIR_A, 1 },
			{ 200, CID_A, FAKE_SLICE_A, 0 },
		    },
		    { DIR_A, NULL }, { 1, 0 }, 1, 0 },
		{ "first process claims another id: not trusted as real", 200,
		    NULL,
		    {
			{ 100, CID_A, DIR_A, 1 },
			{ 200, CID_B, "/docker/" CID_B, 1 },
			{ 201, CID_A, FAKE_SLICE_A, 0 },
		    },
		    { DIR_A, NULL }, { 1, 0 }, 1, 0 },
		{ "a claim without a directory is refused", 100, NULL,
		    {
			{ 100, CID_A, DIR_A, 1 },
			{ 101, CID_A, NULL, 0 },
		    },
		    { NULL }, { 0 }, 1, 0 },
		{ "a directory at the root is not trusted", 0, NULL,
		    {
			{ 100, CID_A, "/docker-" CID_A ".scope", 0 },
		    },
		    { NULL }, { 0 }, 1, 1 },
		{ "a stopped container is not asked about", 0, "exited",
		    {
			{ 100, CID_A, DIR_A, 1 },
		    },
		    { NULL }, { 0 }, 0, 0 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_attr(&cases[i]);
}

static void
attribute__parent__only_a_direct_child(void **state)
{
	static const struct {
		const char *dir;
		int trusted;
	} cases[] = {
		{ DIR_A, 1 },
		{ SCOPE_A, 1 },
		{ "/docker/x/" CID_A, 0 },
		{ "/system.slice/foo.service/docker-" CID_A ".scope", 0 },
		{ "/dockerx/" CID_A, 0 },
		{ FAKE_USER_A, 0 },
		{ "/docker/", 0 },
		{ "docker/" CID_A, 0 },
		{ "", 0 },
	};
	char parents[ATTR_PARENTS_MAX][64] = { "/docker", "/system.slice/" };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (attr_parent_trusted(cases[i].dir,
			(const char(*)[64])parents, 2) != cases[i].trusted)
			fail_msg("%s: want %d", cases[i].dir,
			    cases[i].trusted);
	assert_int_equal(attr_parent_trusted(NULL, (const char(*)[64])parents,
			     2),
	    0);
}

/*
 * Kept, the claims refused come back as received (the decider applies the
 * reader's next delta to the snapshot as received, not as attributed): a
 * refusal must not outlive the sample that made it.
 */
static void
attribute__keep__claims_restored(void **state)
{
	static const struct {
		int32_t pid;
		const char *dir;
	} procs[] = { { 100, DIR_A }, { 200, FAKE_SLICE_A },
		{ 300, FAKE_USER_A }, { 400, NULL } };
	char parents[ATTR_PARENTS_MAX][64];
	struct kw_snapshot snap;
	struct docker_table table;
	struct docker_ctr dc;
	struct attr_result res;
	struct kw_proc *p;
	size_t i, round;

	(void)state;
	memset(parents, 0, sizeof(parents));
	snprintf(parents[0], sizeof(parents[0]), "/docker");
	kw_snapshot_init(&snap);
	docker_table_init(&table);
	memset(&res, 0, sizeof(res));
	res.keep = 1;
	memset(&dc, 0, sizeof(dc));
	snprintf(dc.id, sizeof(dc.id), "%s", CID_A);
	snprintf(dc.state, sizeof(dc.state), "running");
	dc.pid = 100;
	assert_non_null(docker_table_upsert(&table, &dc));
	for (i = 0; i < 4; i++) {
		assert_non_null(p = kw_snapshot_add(&snap));
		p->pid = procs[i].pid;
		if (procs[i].dir == NULL)
			continue;
		snprintf(p->container_id, sizeof(p->container_id), "%s",
		    CID_A);
		assert_int_equal(kw_proc_set_cgroup(p, procs[i].dir,
				     strlen(procs[i].dir)),
		    0);
	}
	for (round = 0; round < 2; round++) {
		assert_int_equal(containers_attribute(&snap, &table,
				     (const char(*)[64])parents, 1, &res),
		    0);
		assert_int_equal(res.refused, 2);
		assert_int_equal(res.nkept, 2);
		assert_string_equal(snap.procs[0].container_id, CID_A);
		for (i = 1; i < 4; i++) {
			assert_string_equal(snap.procs[i].container_id, "");
			assert_null(snap.procs[i].cgroup);
		}
		attr_restore(&snap, &res);
		assert_int_equal(res.nkept, 0);
		for (i = 0; i < 4; i++) {
			p = &snap.procs[i];
			assert_string_equal(p->container_id,
			    procs[i].dir != NULL ? CID_A : "");
			if (procs[i].dir == NULL)
				assert_null(p->cgroup);
			else
				assert_string_equal(p->cgroup, procs[i].dir);
		}
	}
	/* Kept, then the snapshot replaced: forgotten, nothing leaks. */
	assert_int_equal(containers_attribute(&snap, &table,
			     (const char(*)[64])parents, 1, &res),
	    0);
	assert_int_equal(res.nkept, 2);
	attr_forget(&res);
	assert_int_equal(res.nkept, 0);
	attr_result_free(&res);
	docker_table_free(&table);
	kw_snapshot_free(&snap);
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
		cmocka_unit_test(
		    containers__cgroup_figures__over_process_sums),
		cmocka_unit_test(
		    containers__cgroup_counter_backwards__no_spike),
		cmocka_unit_test(mem_basis__names__round_trip),
		cmocka_unit_test(
		    attribute__claims__held_only_in_the_real_cgroup),
		cmocka_unit_test(attribute__parent__only_a_direct_child),
		cmocka_unit_test(attribute__keep__claims_restored),
	};

	return cmocka_run_group_tests_name("decider_containers", tests, NULL,
	    NULL);
}
