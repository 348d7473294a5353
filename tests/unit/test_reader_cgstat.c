/*
 * cgstat.c: a container's figures from its cgroup, over fixture trees.
 * v1-docker is copied from a Docker 20.10 host (cgroup v1, cgroupfs
 * driver); v2-systemd follows cgroup v2 with the systemd driver (PSI,
 * throttling, an OOM kill, no limit); v2-odd has no PSI, no inactive_file
 * in memory.stat, a limit and no oom_kill line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../reader/reader.h"

#define ID_V1 \
	"a5cbb0f7ce936b5b8c2249d9df16394f6d9b5ac7c5f569119a018d5e3dfe7991"
#define ID_V2 \
	"2f1e0d9c8b7a69584736251403f2e1d0c9b8a79685746352413f2e1d0c9b8a79"
#define ID_ODD \
	"9c8b7a69584736251403f2e1d0c9b8a796857463524132f1e0d9c8b7a6958470"

static const char *
fixture(const char *name, char *buf, size_t len)
{
	const char *dir = getenv("KW_FIXTURES");

	snprintf(buf, len, "%s/cgroup/%s",
	    dir != NULL ? dir : "tests/fixtures", name);
	return buf;
}

static void
cgstat__parse_value__numbers_and_max(void **state)
{
	static const struct {
		const char *in;
		int rc;
		uint64_t v;
		int is_max;
	} rows[] = {
		{ "123\n", 0, 123, 0 },
		{ "max\n", 0, 0, 1 },
		{ "0", 0, 0, 0 },
		{ "18446744073709551615\n", 0, UINT64_MAX, 0 },
		{ "18446744073709551616\n", -1, 0, 0 },
		{ "", -1, 0, 0 },
		{ "12a\n", -1, 0, 0 },
		{ "-1\n", -1, 0, 0 },
		{ "maximum\n", -1, 0, 0 },
	};
	uint64_t v;
	size_t i;
	int m;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		v = 7;
		assert_int_equal(cgstat_parse_value(rows[i].in,
				     strlen(rows[i].in), &v, &m),
		    rows[i].rc);
		if (rows[i].rc == 0) {
			assert_true(v == rows[i].v);
			assert_int_equal(m, rows[i].is_max);
		}
	}
}

static void
cgstat__parse_kv__exact_key_only(void **state)
{
	static const char stat[] = "total_rss 10\nrss 20\nrss_huge 30\n"
				   "inactive_file 40\ntotal_inactive_file 50";
	uint64_t v;

	assert_int_equal(cgstat_parse_kv(stat, strlen(stat), "rss", &v), 0);
	assert_true(v == 20);
	assert_int_equal(cgstat_parse_kv(stat, strlen(stat),
			     "total_inactive_file", &v),
	    0);
	assert_true(v == 50);
	assert_int_equal(cgstat_parse_kv(stat, strlen(stat), "inactive", &v),
	    -1);
	assert_int_equal(cgstat_parse_kv("rss x\n", 6, "rss", &v), -1);
	assert_int_equal(cgstat_parse_kv("", 0, "rss", &v), -1);
}

static void
cgstat__parse_psi__some_and_full(void **state)
{
	static const char both[] =
	    "some avg10=12.50 avg60=8.00 avg300=2.10 "
	    "total=1\nfull avg10=3.00 avg60=1.00 avg300=0.20 total=2\n";
	static const char some[] = "some avg10=0.07 avg60=0 avg300=0 total=9";
	double s, f;
	int hf;

	assert_int_equal(cgstat_parse_psi(both, strlen(both), &s, &f, &hf), 0);
	assert_true(s > 12.49 && s < 12.51 && f > 2.99 && f < 3.01 && hf);
	assert_int_equal(cgstat_parse_psi(some, strlen(some), &s, &f, &hf), 0);
	assert_true(s > 0.06 && s < 0.08 && !hf);
	assert_int_equal(cgstat_parse_psi("full avg10=1.0\n", 15, &s, &f, &hf),
	    -1);
	assert_int_equal(cgstat_parse_psi("some avg10=\n", 12, &s, &f, &hf),
	    -1);
	assert_int_equal(cgstat_parse_psi("some avg10=200.0\n", 17, &s, &f,
			     &hf),
	    -1);
	assert_int_equal(cgstat_parse_psi("", 0, &s, &f, &hf), -1);
}

/* Working set as the kubelet: usage - inactive_file, floored at 0. */
static void
cgstat__working_set__usage_minus_inactive_file(void **state)
{
	static const char v1[] =
	    "rss 5\ncache 6\ntotal_rss 100\n"
	    "total_cache 200\ninactive_file 1\ntotal_inactive_file 300\n";
	static const char v2[] = "anon 100\nfile 200\ninactive_file 300\n";
	struct kw_cgroup_stat st;

	memset(&st, 0, sizeof(st));
	assert_int_equal(cgstat_memory_from_stat(v1, strlen(v1), 0, 1000, &st),
	    0);
	assert_true(st.mem_working_set_bytes == 700);
	assert_true(st.mem_anon_bytes == 100 && st.mem_file_bytes == 200);
	assert_int_equal(cgstat_memory_from_stat(v2, strlen(v2), 1, 250, &st),
	    0);
	assert_true(st.mem_working_set_bytes == 0);
	assert_int_equal(cgstat_memory_from_stat("anon 1\n", 7, 1, 250, &st),
	    -1);
	assert_true(st.mem_working_set_bytes == 250);
}

static void
cgstat__v1_docker__figures_as_docker_stats(void **state)
{
	char root[256];
	struct cgstat cg;
	struct kw_cgroup_stat st;
	char err[256];

	assert_int_equal(cgstat_init(&cg,
			     fixture("v1-docker", root, sizeof(root)),
			     "/nonexistent"),
	    0);
	assert_int_equal(cg.layout, CGSTAT_V1);
	assert_string_equal(cg.cpuacct_sub, "cpuacct");
	assert_string_equal(cg.cpu_sub, "cpu");
	assert_string_equal(cg.memory_sub, "memory");
	memset(&st, 0, sizeof(st));
	assert_int_equal(cgstat_read(&cg, "/docker/" ID_V1, &st, err,
			     sizeof(err)),
	    0);
	assert_true(st.cpu_usage_ns == 115576376ULL);
	assert_true(st.mem_usage_bytes == 344064);
	assert_true(st.mem_working_set_bytes == 344064 - 4096);
	assert_true(st.mem_anon_bytes == 45056);
	assert_true(st.mem_file_bytes == 24576);
	assert_true(st.mem_limit_bytes == 0); /* v1's "unlimited" */
	assert_true(st.nr_throttled == 0);
	assert_int_equal(st.flags,
	    KW_CG_CPU | KW_CG_THROTTLE | KW_CG_MEMORY | KW_CG_WORKING_SET |
		KW_CG_OOM);
	cgstat_free(&cg);
}

static void
cgstat__v2_systemd__throttling_oom_psi(void **state)
{
	char root[256];
	struct cgstat cg;
	struct kw_cgroup_stat st;
	char err[256];

	assert_int_equal(cgstat_init(&cg,
			     fixture("v2-systemd", root, sizeof(root)),
			     "/nonexistent"),
	    0);
	assert_int_equal(cg.layout, CGSTAT_V2);
	memset(&st, 0, sizeof(st));
	assert_int_equal(cgstat_read(&cg,
			     "/system.slice/docker-" ID_V2 ".scope", &st, err,
			     sizeof(err)),
	    0);
	assert_true(st.cpu_usage_ns == 5234567000ULL);
	assert_true(st.nr_throttled == 37);
	assert_true(st.throttled_ns == 812345000ULL);
	assert_true(st.mem_usage_bytes == 314572800);
	assert_true(st.mem_working_set_bytes == 314572800 - 37748736);
	assert_true(st.mem_anon_bytes == 268435456);
	assert_true(st.mem_limit_bytes == 0); /* "max" */
	assert_true(st.oom_kills == 1);
	assert_true(
	    st.psi_cpu_some_avg10 > 12.49 && st.psi_cpu_some_avg10 < 12.51);
	assert_true(
	    st.psi_mem_full_avg10 > 0.49 && st.psi_mem_full_avg10 < 0.51);
	assert_int_equal(st.flags,
	    KW_CG_CPU | KW_CG_THROTTLE | KW_CG_MEMORY | KW_CG_WORKING_SET |
		KW_CG_OOM | KW_CG_PSI);
	cgstat_free(&cg);
}

static void
cgstat__v2_odd__missing_files_are_flags_not_errors(void **state)
{
	char root[256];
	struct cgstat cg;
	struct kw_cgroup_stat st;
	char err[256];

	assert_int_equal(cgstat_init(&cg,
			     fixture("v2-odd", root, sizeof(root)),
			     "/nonexistent"),
	    0);
	memset(&st, 0, sizeof(st));
	assert_int_equal(cgstat_read(&cg, "/docker/" ID_ODD, &st, err,
			     sizeof(err)),
	    0);
	assert_true(st.cpu_usage_ns == 1000000ULL);
	assert_true(st.mem_limit_bytes == 536870912);
	/* No inactive_file: the working set is the whole usage. */
	assert_true(st.mem_working_set_bytes == 52428800);
	assert_int_equal(st.flags, KW_CG_CPU | KW_CG_MEMORY);
	cgstat_free(&cg);
}

static void
cgstat__missing_container__clear_error(void **state)
{
	char root[256];
	struct cgstat cg;
	struct kw_cgroup_stat st;
	char err[256];

	assert_int_equal(cgstat_init(&cg,
			     fixture("v2-systemd", root, sizeof(root)),
			     "/nonexistent"),
	    0);
	assert_int_equal(cgstat_read(&cg, "/docker/gone", &st, err,
			     sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "/docker/gone/cpu.stat"));
	assert_non_null(strstr(err, "No such file"));
	cgstat_free(&cg);
	assert_int_equal(cgstat_init(&cg, "/nonexistent-root", "/proc"), -1);
	assert_int_equal(cgstat_init(&cg, "", "/proc"), 0);
	assert_int_equal(cg.layout, CGSTAT_NONE);
}

static void
add_proc(struct kw_snapshot *snap, int32_t pid, const char *id)
{
	struct kw_proc *p = kw_snapshot_add(snap);

	assert_non_null(p);
	p->pid = pid;
	snprintf(p->container_id, sizeof(p->container_id), "%s", id);
}

/*
 * One read per container, its directory found from its first process;
 * a container whose directory cannot be found is left out and the rest
 * are still read.
 */
static void
cgstat__collect__one_per_container(void **state)
{
	char root[256], proc[256];
	struct kw_snapshot snap;
	struct cgstat cg;

	kw_snapshot_init(&snap);
	assert_int_equal(cgstat_init(&cg,
			     fixture("v1-docker", root, sizeof(root)),
			     fixture("v1-docker-proc", proc, sizeof(proc))),
	    0);
	add_proc(&snap, 1, "");
	add_proc(&snap, 501, ID_V1);
	add_proc(&snap, 502, ID_V1);
	/* Its cgroup file does not name this container: no directory. */
	add_proc(&snap, 503, ID_ODD);
	assert_int_equal(cgstat_collect(&cg, &snap), 0);
	assert_int_equal(snap.ncgroups, 1);
	assert_string_equal(snap.cgroups[0].container_id, ID_V1);
	assert_true(snap.cgroups[0].cpu_usage_ns == 115576376ULL);
	assert_true(cg.reads == 1);
	assert_int_equal(cg.ndirs, 1);
	assert_string_equal(cg.dirs[0].dir, "/docker/" ID_V1);

	/* The next sample reuses the directory; a gone container is forgot. */
	kw_snapshot_clear(&snap);
	add_proc(&snap, 502, ID_V1);
	assert_int_equal(cgstat_collect(&cg, &snap), 0);
	assert_int_equal(snap.ncgroups, 1);
	kw_snapshot_clear(&snap);
	add_proc(&snap, 1, "");
	assert_int_equal(cgstat_collect(&cg, &snap), 0);
	assert_int_equal(snap.ncgroups, 0);
	assert_int_equal(cg.ndirs, 0);
	cgstat_free(&cg);
	kw_snapshot_free(&snap);
}

/* v2: the unified line gives the directory, below-scope paths included. */
static void
cgstat__collect__v2_scope_from_nested_path(void **state)
{
	char root[256], proc[256];
	struct kw_snapshot snap;
	struct cgstat cg;

	kw_snapshot_init(&snap);
	assert_int_equal(cgstat_init(&cg,
			     fixture("v2-systemd", root, sizeof(root)),
			     fixture("v2-systemd-proc", proc, sizeof(proc))),
	    0);
	add_proc(&snap, 601, ID_V2);
	assert_int_equal(cgstat_collect(&cg, &snap), 0);
	assert_int_equal(snap.ncgroups, 1);
	assert_string_equal(cg.dirs[0].dir,
	    "/system.slice/docker-" ID_V2 ".scope");
	assert_true(snap.cgroups[0].oom_kills == 1);
	cgstat_free(&cg);
	kw_snapshot_free(&snap);
}

/* The figures travel in the snapshot message and come back the same. */
static void
cgstat__snapshot_message__round_trip(void **state)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_unpacked up;
	struct kw_snapshot in, out;
	struct kw_cgroup_stat *c;
	char err[256];

	kw_snapshot_init(&in);
	kw_snapshot_init(&out);
	snprintf(in.source, sizeof(in.source), "procfs");
	in.host.mem_total_kb = 1000;
	in.host.ncpu = 2;
	c = kw_snapshot_add_cgroup(&in);
	assert_non_null(c);
	snprintf(c->container_id, sizeof(c->container_id), "%s", ID_V2);
	c->flags = KW_CG_CPU | KW_CG_PSI;
	c->cpu_usage_ns = UINT64_MAX - 1;
	c->mem_limit_bytes = 536870912;
	c->psi_mem_full_avg10 = 0.5;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, KW_SNAPSHOT_FIELDS);
	kw_snapshot_pack(&pk, &in);
	msgpack_unpacked_init(&up);
	assert_int_equal(msgpack_unpack_next(&up, sb.data, sb.size, NULL),
	    MSGPACK_UNPACK_SUCCESS);
	assert_int_equal(kw_snapshot_unpack(&up.data, &out, err, sizeof(err)),
	    0);
	assert_int_equal(out.ncgroups, 1);
	assert_memory_equal(&out.cgroups[0], c, sizeof(*c));
	msgpack_unpacked_destroy(&up);
	msgpack_sbuffer_destroy(&sb);
	kw_snapshot_free(&in);
	kw_snapshot_free(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(cgstat__parse_value__numbers_and_max),
		cmocka_unit_test(cgstat__parse_kv__exact_key_only),
		cmocka_unit_test(cgstat__parse_psi__some_and_full),
		cmocka_unit_test(
		    cgstat__working_set__usage_minus_inactive_file),
		cmocka_unit_test(cgstat__v1_docker__figures_as_docker_stats),
		cmocka_unit_test(cgstat__v2_systemd__throttling_oom_psi),
		cmocka_unit_test(
		    cgstat__v2_odd__missing_files_are_flags_not_errors),
		cmocka_unit_test(cgstat__missing_container__clear_error),
		cmocka_unit_test(cgstat__collect__one_per_container),
		cmocka_unit_test(cgstat__collect__v2_scope_from_nested_path),
		cmocka_unit_test(cgstat__snapshot_message__round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
