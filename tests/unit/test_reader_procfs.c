/*
 * The procfs source: the /proc parsers on hostile and ordinary input, and a
 * whole walk over the fake tree in tests/fixtures/proc.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../reader/reader.h"

#define CID1 "3fa836846de1a1950cd414ffb4936a50aac4200f8e20c7030c38e433020cd388"
#define CID2 "2be1de5f5fafb89991873dd415bd11547f7b7123ef7284c84ef56f4c27b7197a"

static const char *
fixture(const char *name, char *buf, size_t len)
{
	const char *dir = getenv("KW_FIXTURES");

	snprintf(buf, len, "%s/%s", dir != NULL ? dir : "tests/fixtures",
	    name);
	return buf;
}

static uint64_t
hz(void)
{
	long v = sysconf(_SC_CLK_TCK);

	return v > 0 ? (uint64_t)v : 100;
}

#define TAIL " 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n"

static void
procfs_stat__plain__parsed(void **state)
{
	const char *s = "1 (systemd) S 0 1 1 0 -1 4194560 100 0 "
			"2 0 700 335 3 4 20 0 1 0 12 23842816 3569" TAIL;
	struct procfs_stat st;

	assert_int_equal(procfs_parse_stat(s, strlen(s), &st), 0);
	assert_int_equal(st.pid, 1);
	assert_string_equal(st.comm, "systemd");
	assert_int_equal(st.state, 'S');
	assert_int_equal(st.ppid, 0);
	assert_int_equal(st.flags, 4194560);
	assert_int_equal(st.utime, 700);
	assert_int_equal(st.stime, 335);
	assert_int_equal(st.num_threads, 1);
	assert_int_equal(st.starttime, 12);
	assert_int_equal(st.vsize, 23842816);
	assert_int_equal(st.rss_pages, 3569);
}

static void
procfs_stat__name_with_paren_and_spaces__parsed(void **state)
{
	const char *s =
	    "4242 (foo) Z ) R 1 4242 4242 0 -1 "
	    "4194560 100 0 2 0 150 50 3 4 20 0 4 0 500000 104857600 2560" TAIL;
	struct procfs_stat st;

	assert_int_equal(procfs_parse_stat(s, strlen(s), &st), 0);
	assert_string_equal(st.comm, "foo) Z ");
	assert_int_equal(st.state, 'R');
	assert_int_equal(st.ppid, 1);
	assert_int_equal(st.utime, 150);
	assert_int_equal(st.num_threads, 4);
	assert_int_equal(st.starttime, 500000);
}

static void
procfs_stat__name_forging_fields__not_believed(void **state)
{
	/* comm "x) R 1 2 3 0 -1 0 0" tries to pass for the real fields. */
	const char *s = "5 (x) R 1 2 3 0 -1 0 0) S 7 5 5 0 -1 0 "
			"0 0 0 0 9 8 0 0 20 0 2 0 33 4096 1" TAIL;
	struct procfs_stat st;

	assert_int_equal(procfs_parse_stat(s, strlen(s), &st), 0);
	assert_string_equal(st.comm, "x) R 1 2 3 0 -1 0 0");
	assert_int_equal(st.state, 'S');
	assert_int_equal(st.ppid, 7);
	assert_int_equal(st.utime, 9);
	assert_int_equal(st.stime, 8);
	assert_int_equal(st.starttime, 33);
}

static void
procfs_stat__long_comm__capped(void **state)
{
	char s[512];
	struct procfs_stat st;

	snprintf(s, sizeof(s),
	    "6 (%0200d) S 1 6 6 0 -1 0 0 0 0 0 1 1 0 0 "
	    "20 0 1 0 5 0 0" TAIL,
	    0);
	assert_int_equal(procfs_parse_stat(s, strlen(s), &st), 0);
	assert_int_equal(strlen(st.comm), KW_NAME_LEN - 1);
	assert_int_equal(st.starttime, 5);
}

static void
procfs_stat__truncated_or_garbage__rejected(void **state)
{
	const char *full =
	    "1 (systemd) S 0 1 1 0 -1 4194560 "
	    "100 0 2 0 700 335 3 4 20 0 1 0 12 23842816 3569" TAIL;
	const char *bad[] = {
		"",
		"888 garbage\n",
		"1 (systemd",
		"(x) S 1",
		"1 (x) 5 1",
		"1 (x) S 1 2 3",
		"1 (x) S a b c d e f g h i j k l m n o p q",
	};
	struct procfs_stat st;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(procfs_parse_stat(bad[i], strlen(bad[i]),
				     &st),
		    -1);
	/* Cut before rss: the length given is respected. */
	assert_int_equal(procfs_parse_stat(full,
			     strlen(full) - strlen(TAIL) - 5, &st),
	    -1);
}

static void
procfs_statm__parsed(void **state)
{
	const char *s = "5821 3569 2500 200 0 900 0\n";
	struct procfs_statm sm;

	assert_int_equal(procfs_parse_statm(s, strlen(s), &sm), 0);
	assert_int_equal(sm.size_pages, 5821);
	assert_int_equal(sm.resident_pages, 3569);
	assert_int_equal(procfs_parse_statm("12", 2, &sm), -1);
}

static void
procfs_status__uid_and_threads__parsed(void **state)
{
	const char *s = "Name:\tUid: 7\nUmask:\t0022\n"
			"State:\tS (sleeping)\nUid:\t1000\t1001\t1001\t1001\n"
			"Gid:\t100\t100\t100\t100\nThreads:\t12\n";
	struct procfs_status ss;

	assert_int_equal(procfs_parse_status(s, strlen(s), &ss), 0);
	assert_int_equal(ss.uid, 1000);
	assert_int_equal(ss.threads, 12);
	assert_true(ss.has_threads);
	assert_int_equal(procfs_parse_status("Name:\tx\n", 8, &ss), -1);
}

static void
procfs_meminfo__parsed__used_is_total_minus_free(void **state)
{
	const char *s =
	    "MemTotal:        3960492 kB\n"
	    "MemFree:         1748972 kB\nMemAvailable:    2900000 kB\n"
	    "Cached:           900000 kB\n";
	const char *old = "MemTotal: 1000 kB\nMemFree: 400 kB\n";
	struct kw_host h;

	assert_int_equal(procfs_parse_meminfo(s, strlen(s), &h), 0);
	assert_int_equal(h.mem_total_kb, 3960492);
	assert_int_equal(h.mem_free_kb, 1748972);
	assert_int_equal(h.mem_available_kb, 2900000);
	assert_int_equal(h.mem_used_kb, 3960492 - 1748972);
	assert_int_equal(procfs_parse_meminfo(old, strlen(old), &h), 0);
	assert_int_equal(h.mem_available_kb, 400);
	assert_int_equal(h.mem_used_kb, 600);
	assert_int_equal(procfs_parse_meminfo("MemFree: 1 kB\n", 14, &h), -1);
}

static void
procfs_cpus__cpun_lines__counted(void **state)
{
	const char *s = "cpu  1 2 3\ncpu0 1 2 3\ncpu1 1 2 3\n"
			"intr 1 2\ncpufreq 3\n";

	assert_int_equal(procfs_count_cpus(s, strlen(s)), 2);
	assert_int_equal(procfs_count_cpus("", 0), 0);
}

static void
procfs_cmdline__nuls_and_trailing__cleaned(void **state)
{
	char b[] = "/usr/bin/stress\0--cpu\0"
		   "4\0\0";
	char *big;
	size_t n;

	n = procfs_cmdline_clean(b, sizeof(b) - 1);
	assert_int_equal(n, strlen("/usr/bin/stress --cpu 4"));
	assert_string_equal(b, "/usr/bin/stress --cpu 4");

	big = malloc(3 * KW_CMDLINE_MAX + 1);
	assert_non_null(big);
	memset(big, 'a', 3 * KW_CMDLINE_MAX);
	n = procfs_cmdline_clean(big, 3 * KW_CMDLINE_MAX);
	assert_int_equal(n, KW_CMDLINE_MAX - 1);
	assert_int_equal(strlen(big), KW_CMDLINE_MAX - 1);
	free(big);
}

static void
procfs_ticks__to_ns__exact(void **state)
{
	assert_true(procfs_ticks_to_ns(1035, 100) == 10350000000ull);
	assert_true(procfs_ticks_to_ns(3, 300) == 10000000ull);
	assert_true(procfs_ticks_to_ns(7, 1024) == 6835937ull);
	/* 10^12 ticks: no overflow. */
	assert_true(procfs_ticks_to_ns(1000000000000ull, 100) ==
	    10000000000000000000ull);
}

static const struct kw_proc *
find_pid(const struct kw_snapshot *snap, int32_t pid)
{
	size_t i;

	for (i = 0; i < snap->nprocs; i++)
		if (snap->procs[i].pid == pid)
			return &snap->procs[i];
	return NULL;
}

static void
procfs_sample__fixture_tree__every_field(void **state)
{
	char root[512], err[256];
	struct procfs *pf;
	struct kw_snapshot snap;
	struct procfs_counters c;
	const struct kw_proc *p;
	uint64_t page_kb;

	page_kb = (uint64_t)sysconf(_SC_PAGESIZE) / 1024;
	kw_snapshot_init(&snap);
	pf = procfs_new(fixture("proc", root, sizeof(root)));
	assert_non_null(pf);
	assert_int_equal(procfs_sample(pf, &snap, err, sizeof(err)), 0);
	assert_string_equal(snap.source, "procfs");
	assert_int_equal(snap.host.mem_total_kb, 3960492);
	assert_int_equal(snap.host.mem_free_kb, 1748972);
	assert_int_equal(snap.host.mem_used_kb, 3960492 - 1748972);
	assert_int_equal(snap.host.mem_available_kb, 2900000);
	assert_int_equal(snap.host.ncpu, 4);
	/* 1, 2, 4242, 4300; 777 (no stat) and 888 (garbage) skipped. */
	assert_int_equal(snap.nprocs, 4);
	assert_null(find_pid(&snap, 777));
	assert_null(find_pid(&snap, 888));
	procfs_get_counters(pf, &c);
	assert_int_equal(c.vanished, 1);
	assert_int_equal(c.errors, 1);
	assert_int_equal(c.cache_misses, 4);

	p = find_pid(&snap, 1);
	assert_non_null(p);
	assert_string_equal(p->name, "systemd");
	assert_string_equal(p->cmdline, "/sbin/init splash");
	assert_int_equal(p->state, 'S');
	assert_int_equal(p->ppid, 0);
	assert_int_equal(p->uid, 0);
	assert_int_equal(p->threads, 1);
	assert_int_equal(p->vsz_kb, 23284);
	assert_int_equal(p->rss_kb, 3569 * page_kb);
	assert_true(p->cpu_ns == procfs_ticks_to_ns(1035, hz()));
	assert_true(p->start_ns == procfs_ticks_to_ns(12, hz()));
	assert_string_equal(p->container_id, "");

	p = find_pid(&snap, 2); /* kernel thread */
	assert_non_null(p);
	assert_string_equal(p->name, "kthreadd");
	assert_string_equal(p->cmdline, "");
	assert_int_equal(p->vsz_kb, 0);
	assert_int_equal(p->rss_kb, 0);
	assert_true(p->cpu_ns == procfs_ticks_to_ns(75, hz()));
	assert_string_equal(p->container_id, "");

	p = find_pid(&snap, 4242); /* hostile name, docker scope */
	assert_non_null(p);
	assert_string_equal(p->name, "foo) Z ");
	assert_string_equal(p->cmdline, "/usr/bin/stress --cpu 4");
	assert_int_equal(p->state, 'R');
	assert_int_equal(p->ppid, 1);
	assert_int_equal(p->uid, 1000);
	assert_int_equal(p->threads, 4);
	assert_int_equal(p->vsz_kb, 102400);
	assert_true(p->cpu_ns == procfs_ticks_to_ns(200, hz()));
	assert_true(p->start_ns == procfs_ticks_to_ns(500000, hz()));
	assert_string_equal(p->container_id, CID1);

	p = find_pid(&snap, 4300); /* cgroup v1 /docker/<id> */
	assert_non_null(p);
	assert_string_equal(p->name, "a b) (c");
	assert_string_equal(p->cmdline, "sleep infinity");
	assert_int_equal(p->threads, 2);
	assert_string_equal(p->container_id, CID2);

	/* The second sample takes cmdline and cgroup from the cache. */
	assert_int_equal(procfs_sample(pf, &snap, err, sizeof(err)), 0);
	assert_int_equal(snap.nprocs, 4);
	procfs_get_counters(pf, &c);
	assert_int_equal(c.cache_hits, 4);
	assert_int_equal(c.cache_misses, 4);
	assert_int_equal(c.samples, 2);
	p = find_pid(&snap, 4242);
	assert_non_null(p);
	assert_string_equal(p->cmdline, "/usr/bin/stress --cpu 4");
	assert_string_equal(p->container_id, CID1);

	procfs_free(pf);
	kw_snapshot_free(&snap);
}

static void
procfs_fill_ids__seed_kmod_snapshot__ids_from_cgroup(void **state)
{
	static const struct {
		int32_t pid;
		const char *name;
		const char *cid;
	} in[] = {
		{ 1, "systemd", "" },
		{ 4242, "foo) Z ", CID1 },
		{ 4300, "a b) (c", CID2 },
		{ 9999, "gone", "" },
	};
	char root[512];
	struct procfs *pf;
	struct kw_snapshot snap;
	struct procfs_counters c;
	struct kw_proc *p;
	size_t i;
	int round;

	kw_snapshot_init(&snap);
	pf = procfs_new(fixture("proc", root, sizeof(root)));
	assert_non_null(pf);
	for (round = 0; round < 2; round++) {
		kw_snapshot_clear(&snap);
		for (i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
			p = kw_snapshot_add(&snap);
			assert_non_null(p);
			p->pid = in[i].pid;
			snprintf(p->name, sizeof(p->name), "%s", in[i].name);
		}
		assert_int_equal(procfs_fill_container_ids(pf, &snap), 0);
		for (i = 0; i < sizeof(in) / sizeof(in[0]); i++)
			assert_string_equal(snap.procs[i].container_id,
			    in[i].cid);
	}
	procfs_get_counters(pf, &c);
	assert_int_equal(c.cache_misses, 4 + 1); /* 9999 retried */
	assert_int_equal(c.cache_hits, 3);
	assert_int_equal(c.vanished, 2);
	/* A procfs sample after it re-reads cmdline (no start time known). */
	assert_int_equal(procfs_sample(pf, &snap, root, sizeof(root)), 0);
	procfs_get_counters(pf, &c);
	assert_int_equal(c.cache_misses, 5 + 4);
	assert_string_equal(find_pid(&snap, 4242)->cmdline,
	    "/usr/bin/stress --cpu 4");
	procfs_free(pf);
	kw_snapshot_free(&snap);
}

static void
procfs_sample__missing_root__error(void **state)
{
	char err[256];
	struct procfs *pf;
	struct kw_snapshot snap;

	kw_snapshot_init(&snap);
	pf = procfs_new("/nonexistent/proc");
	assert_non_null(pf);
	assert_int_equal(procfs_sample(pf, &snap, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/nonexistent/proc"));
	assert_int_equal(snap.nprocs, 0);
	procfs_free(pf);
	kw_snapshot_free(&snap);
}

static void
procfs_sample__real_proc__self_found(void **state)
{
	char err[256];
	struct procfs *pf;
	struct kw_snapshot snap;
	const struct kw_proc *p;

	kw_snapshot_init(&snap);
	pf = procfs_new("/proc");
	assert_non_null(pf);
	assert_int_equal(procfs_sample(pf, &snap, err, sizeof(err)), 0);
	assert_true(snap.nprocs > 0);
	assert_true(snap.host.ncpu > 0);
	p = find_pid(&snap, (int32_t)getpid());
	assert_non_null(p);
	assert_non_null(strstr(p->cmdline, "test_reader_procfs"));
	assert_true(p->start_ns > 0);
	assert_true(p->rss_kb > 0);
	procfs_free(pf);
	kw_snapshot_free(&snap);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(procfs_stat__plain__parsed),
		cmocka_unit_test(
		    procfs_stat__name_with_paren_and_spaces__parsed),
		cmocka_unit_test(
		    procfs_stat__name_forging_fields__not_believed),
		cmocka_unit_test(procfs_stat__long_comm__capped),
		cmocka_unit_test(procfs_stat__truncated_or_garbage__rejected),
		cmocka_unit_test(procfs_statm__parsed),
		cmocka_unit_test(procfs_status__uid_and_threads__parsed),
		cmocka_unit_test(
		    procfs_meminfo__parsed__used_is_total_minus_free),
		cmocka_unit_test(procfs_cpus__cpun_lines__counted),
		cmocka_unit_test(procfs_cmdline__nuls_and_trailing__cleaned),
		cmocka_unit_test(procfs_ticks__to_ns__exact),
		cmocka_unit_test(procfs_sample__fixture_tree__every_field),
		cmocka_unit_test(
		    procfs_fill_ids__seed_kmod_snapshot__ids_from_cgroup),
		cmocka_unit_test(procfs_sample__missing_root__error),
		cmocka_unit_test(procfs_sample__real_proc__self_found),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
