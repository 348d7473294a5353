/*
 * kwarden-replay's work (run/replay.c) over a small database made here
 * from SQL, as the recorder lays it out: the recorded policy reproduces
 * the recorded action, a stricter threshold adds one, a looser one drops
 * it; -c and -o; the database is not changed; what is not a database of
 * this version is refused with the reason. And the pairing, from a table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "kwarden.h"
#include "../../run/replay.h"

#define T0    1796205600ULL /* 2026-12-02T10:00:00Z */
#define EPOCH 77

struct fixture {
	char dir[64];
	char db[128];
};

static const char *const schema_sql =
    "CREATE TABLE containers (id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " container_id TEXT, name TEXT, image TEXT, class TEXT, pid INTEGER,"
    " nprocs INTEGER, cpu_pct REAL, mem_pct REAL, rss_kb INTEGER,"
    " figures TEXT, cpu_pct_procs REAL, label_class TEXT, identity TEXT,"
    " docker_state TEXT, docker INTEGER, starts INTEGER,"
    " sample_ns INTEGER, ts INTEGER, epoch INTEGER, seq INTEGER);"
    "CREATE TABLE deletions (id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " container_id TEXT, name TEXT, image TEXT, class TEXT, action TEXT,"
    " reason TEXT, cpu_pct REAL, mem_pct REAL, result TEXT,"
    " evidence TEXT, step INTEGER, identity TEXT, strikes INTEGER,"
    " ts INTEGER, epoch INTEGER, seq INTEGER);"
    "CREATE TABLE policy (id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " reason TEXT, conf TEXT, ts INTEGER, epoch INTEGER, seq INTEGER);";

/* The live policy: over 50 % for 2 s is removed; low keeps none alive. */
static const char *const live_policy = "policy.cpu_threshold=50\n"
				       "policy.mem_threshold=90\n"
				       "policy.action=remove\n"
				       "policy.sustain=2s\n"
				       "class.low.min_alive=0\n";

static void
exec_sql(sqlite3 *db, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", sql, msg);
}

/*
 * Ten samples a second apart. hog is at 80 % from sample 2 and removed
 * (by the live policy, sustain 2 s) at sample 4: gone from sample 5 on;
 * mid runs at 40 % throughout; two idle ones at 1 %.
 */
static void
make_db(const char *path, int with_sample_ns)
{
	static const char *const names[] = { "hog", "mid", "idle1", "idle2" };
	sqlite3 *db;
	char sql[1024], id[65];
	uint64_t seq = 1;
	double cpu;
	int s, c;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	exec_sql(db, "PRAGMA journal_mode = WAL");
	exec_sql(db, schema_sql);
	if (!with_sample_ns)
		exec_sql(db, "ALTER TABLE containers DROP COLUMN sample_ns");
	snprintf(sql, sizeof(sql),
	    "INSERT INTO policy (reason, conf, ts, "
	    "epoch, seq) VALUES ('start', '%s', %llu, %d, %llu)",
	    live_policy, (unsigned long long)T0, EPOCH,
	    (unsigned long long)seq++);
	exec_sql(db, sql);
	exec_sql(db, "BEGIN");
	for (s = 0; s < 10; s++) {
		seq++; /* the sample's sys message */
		for (c = 0; c < 4; c++) {
			if (c == 0 && s > 4)
				continue;
			cpu = c == 0 ? (s >= 2 ? 80.0 : 5.0) :
			    c == 1   ? 40.0 :
				       1.0;
			memset(id, 'a' + c, 64);
			id[64] = '\0';
			snprintf(sql, sizeof(sql),
			    "INSERT INTO containers "
			    "(container_id, name, image, class, pid, nprocs, "
			    "cpu_pct, mem_pct, rss_kb, figures, cpu_pct_procs, "
			    "label_class, identity, docker_state, docker, "
			    "starts, ts, epoch, seq%s) VALUES ('%s', '%s', "
			    "'img', 'low', %d, 1, %f, 1.0, 1000, 'cgroup', %f, "
			    "'', 'name:%s', 'running', 1, 1, %llu, %d, %llu%s",
			    with_sample_ns ? ", sample_ns" : "", id, names[c],
			    100 + c, cpu, cpu, names[c],
			    (unsigned long long)T0 + s, EPOCH,
			    (unsigned long long)seq++,
			    with_sample_ns ? ", " : ")");
			if (with_sample_ns)
				snprintf(sql + strlen(sql),
				    sizeof(sql) - strlen(sql), "%llu)",
				    (unsigned long long)(s + 1) *
					1000000000ULL);
			exec_sql(db, sql);
		}
	}
	memset(id, 'a', 64);
	id[64] = '\0';
	snprintf(sql, sizeof(sql),
	    "INSERT INTO deletions (container_id, "
	    "name, image, class, action, reason, cpu_pct, mem_pct, result, "
	    "evidence, step, identity, strikes, ts, epoch, seq) VALUES ('%s', "
	    "'hog', 'img', 'low', 'remove', 'cpu 80.0%% > 50.0%%', 80, 1, "
	    "'ok', '', 1, 'name:hog', 1, %llu, %d, %llu)",
	    id, (unsigned long long)T0 + 5, EPOCH, (unsigned long long)seq++);
	exec_sql(db, sql);
	exec_sql(db, "COMMIT");
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static int
setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/kw-replay-XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	snprintf(fx->db, sizeof(fx->db), "%s/kwarden.db", fx->dir);
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;
	char cmd[160];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", fx->dir);
	free(fx);
	return 0;
}

/* The file's bytes, malloc'ed. */
static char *
slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	char *buf;
	long n;

	assert_non_null(fp);
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	n = ftell(fp);
	rewind(fp);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
	fclose(fp);
	*len = (size_t)n;
	return buf;
}

static int
run(const char *db, const char *conf, const char *const *ov, size_t nov,
    struct replay_result *r, char *err, size_t errlen)
{
	struct replay_opts o;

	memset(&o, 0, sizeof(o));
	o.db = db;
	o.conf_file = conf;
	o.overrides = ov;
	o.noverrides = nov;
	return replay_run(&o, r, err, errlen);
}

static void
replay__recorded_policy__reproduces_the_recorded_action(void **state)
{
	struct fixture *fx = *state;
	struct replay_result r;
	char err[512] = "", *before, *after;
	size_t lb, la;

	make_db(fx->db, 1);
	before = slurp(fx->db, &lb);
	if (run(fx->db, NULL, NULL, 0, &r, err, sizeof(err)) != REPLAY_OK)
		fail_msg("replay: %s", err);
	after = slurp(fx->db, &la);
	assert_int_equal(r.samples, 10);
	assert_int_equal(r.rows, 10 * 3 + 5);
	assert_int_equal(r.epochs, 1);
	assert_int_equal(r.policies, 1);
	assert_int_equal(r.would.n, 1);
	assert_int_equal(r.did.n, 1);
	assert_int_equal(r.same, 1);
	assert_string_equal(r.would.e[0].action, "remove");
	assert_int_equal(r.would.e[0].step, 1);
	assert_string_equal(r.would.e[0].name, "hog");
	/* Over from sample 2 (T0 + 2), sustained 2 s: taken at T0 + 4. */
	assert_int_equal(r.would.e[0].ts, T0 + 4);
	assert_int_equal(r.would.e[0].other, 0);
	assert_int_equal(r.did.e[0].other, 0);
	replay_result_free(&r);
	/* Read only: not a byte changed. */
	assert_int_equal(la, lb);
	assert_memory_equal(before, after, lb);
	free(before);
	free(after);
}

static void
replay__stricter_and_looser__add_and_drop(void **state)
{
	static const char *const stricter[] = { "policy.cpu_threshold=30" };
	static const char *const looser[] = { "policy.cpu_threshold=90" };
	static const char *const later[] = { "policy.sustain=20s" };
	struct fixture *fx = *state;
	struct replay_result r;
	char err[512] = "";

	make_db(fx->db, 1);
	if (run(fx->db, NULL, stricter, 1, &r, err, sizeof(err)) != REPLAY_OK)
		fail_msg("replay: %s", err);
	/* mid (40 %) goes too, once over for 2 s: at T0 + 2. */
	assert_int_equal(r.would.n, 2);
	assert_int_equal(r.same, 1);
	assert_string_equal(r.would.e[0].name, "mid");
	assert_int_equal(r.would.e[0].ts, T0 + 2);
	assert_int_equal(r.would.e[0].other, -1);
	replay_result_free(&r);

	if (run(fx->db, NULL, looser, 1, &r, err, sizeof(err)) != REPLAY_OK)
		fail_msg("replay: %s", err);
	assert_int_equal(r.would.n, 0);
	assert_int_equal(r.did.n, 1);
	assert_int_equal(r.same, 0);
	assert_int_equal(r.did.e[0].other, -1);
	replay_result_free(&r);

	/* A longer sustain: hog is gone (really removed) before it is due. */
	if (run(fx->db, NULL, later, 1, &r, err, sizeof(err)) != REPLAY_OK)
		fail_msg("replay: %s", err);
	assert_int_equal(r.would.n, 0);
	replay_result_free(&r);
}

static void
replay__config_file__instead_of_the_recorded(void **state)
{
	static const char *const ov[] = { "policy.cpu_threshold=30" };
	struct fixture *fx = *state;
	struct replay_result r;
	char conf[160], err[512] = "";
	FILE *fp;

	make_db(fx->db, 1);
	snprintf(conf, sizeof(conf), "%s/kwarden.conf", fx->dir);
	assert_non_null(fp = fopen(conf, "w"));
	fprintf(fp,
	    "[policy]\ncpu_threshold = 50\nmem_threshold = 90\n"
	    "sustain = 2s\n\n[class.low]\nmin_alive = 0\n");
	fclose(fp);
	if (run(fx->db, conf, NULL, 0, &r, err, sizeof(err)) != REPLAY_OK)
		fail_msg("replay: %s", err);
	assert_int_equal(r.would.n, 1);
	assert_int_equal(r.same, 1);
	assert_int_equal(r.policies, 0);
	replay_result_free(&r);
	/* -o on top of the file. */
	if (run(fx->db, conf, ov, 1, &r, err, sizeof(err)) != REPLAY_OK)
		fail_msg("replay: %s", err);
	assert_int_equal(r.would.n, 2);
	replay_result_free(&r);
}

static void
replay__bad_input__exit_code_and_reason(void **state)
{
	static const char *const bad_key[] = { "policy.nope=1" };
	static const char *const bad_form[] = { "cpu_threshold" };
	static const char *const bad_value[] = { "policy.action=explode" };
	struct fixture *fx = *state;
	struct replay_result r;
	char err[512], path[160];
	FILE *fp;

	make_db(fx->db, 1);
	assert_int_equal(run(fx->db, NULL, bad_key, 1, &r, err, sizeof(err)),
	    REPLAY_EUSAGE);
	assert_non_null(strstr(err, "nope"));
	replay_result_free(&r);
	assert_int_equal(run(fx->db, NULL, bad_form, 1, &r, err, sizeof(err)),
	    REPLAY_EUSAGE);
	replay_result_free(&r);
	assert_int_equal(run(fx->db, NULL, bad_value, 1, &r, err, sizeof(err)),
	    REPLAY_EUSAGE);
	replay_result_free(&r);
	snprintf(path, sizeof(path), "%s/none.conf", fx->dir);
	assert_int_equal(run(fx->db, path, NULL, 0, &r, err, sizeof(err)),
	    REPLAY_EUSAGE);
	replay_result_free(&r);

	/* Missing, not SQLite, not kwarden's, too old. */
	snprintf(path, sizeof(path), "%s/missing.db", fx->dir);
	assert_int_equal(run(path, NULL, NULL, 0, &r, err, sizeof(err)),
	    REPLAY_EDB);
	replay_result_free(&r);
	assert_int_equal(access(path, F_OK), -1); /* not created */
	snprintf(path, sizeof(path), "%s/text.db", fx->dir);
	assert_non_null(fp = fopen(path, "w"));
	fprintf(fp, "this is not a database, not even close to one at all\n");
	fclose(fp);
	assert_int_equal(run(path, NULL, NULL, 0, &r, err, sizeof(err)),
	    REPLAY_EDB);
	replay_result_free(&r);
	snprintf(path, sizeof(path), "%s/other.db", fx->dir);
	{
		sqlite3 *db;

		assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
		exec_sql(db, "CREATE TABLE t (x)");
		sqlite3_close(db);
	}
	assert_int_equal(run(path, NULL, NULL, 0, &r, err, sizeof(err)),
	    REPLAY_EDB);
	assert_non_null(strstr(err, "not a kwarden database"));
	replay_result_free(&r);
	snprintf(path, sizeof(path), "%s/old.db", fx->dir);
	make_db(path, 0);
	assert_int_equal(run(path, NULL, NULL, 0, &r, err, sizeof(err)),
	    REPLAY_EDB);
	assert_non_null(strstr(err, "recorded before replay support"));
	replay_result_free(&r);
}

/* Pairing: same container, action and step, from 2 s before to the window. */
static void
replay__match__table(void **state)
{
	static const struct {
		const char *id, *action;
		uint32_t step;
		uint64_t ts;
	} w[] = {
		{ "a", "remove", 1, 100 },	/* pairs with did[1] */
		{ "b", "throttle", 1, 100 },	/* did[2] is step 2 */
		{ "c", "stop", 1, 100 },	/* did[3] is too late */
		{ "d", "kill", 1, 100 },	/* did[4]: 2 s before: ok */
	}, d[] = {
		{ "a", "remove", 1, 50 },	/* too early */
		{ "a", "remove", 1, 101 },
		{ "b", "throttle", 2, 100 },
		{ "c", "stop", 1, 100 + REPLAY_MATCH_WINDOW_S + 1 },
		{ "d", "kill", 1, 98 },
	};
	struct replay_events we, de;
	size_t i;

	(void)state;
	memset(&we, 0, sizeof(we));
	memset(&de, 0, sizeof(de));
	we.e = calloc(4, sizeof(*we.e));
	de.e = calloc(5, sizeof(*de.e));
	assert_non_null(we.e);
	assert_non_null(de.e);
	for (i = 0; i < 4; i++) {
		snprintf(we.e[i].container_id, KW_CID_LEN, "%s", w[i].id);
		snprintf(we.e[i].action, 16, "%s", w[i].action);
		we.e[i].step = w[i].step;
		we.e[i].ts = w[i].ts;
		we.e[i].other = -1;
	}
	for (i = 0; i < 5; i++) {
		snprintf(de.e[i].container_id, KW_CID_LEN, "%s", d[i].id);
		snprintf(de.e[i].action, 16, "%s", d[i].action);
		de.e[i].step = d[i].step;
		de.e[i].ts = d[i].ts;
		de.e[i].other = -1;
	}
	we.n = 4;
	de.n = 5;
	assert_int_equal(replay_match(&we, &de), 2);
	assert_int_equal(we.e[0].other, 1);
	assert_int_equal(we.e[1].other, -1);
	assert_int_equal(we.e[2].other, -1);
	assert_int_equal(we.e[3].other, 4);
	assert_int_equal(de.e[0].other, -1);
	free(we.e);
	free(de.e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    replay__recorded_policy__reproduces_the_recorded_action,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    replay__stricter_and_looser__add_and_drop, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    replay__config_file__instead_of_the_recorded, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    replay__bad_input__exit_code_and_reason, setup, teardown),
		cmocka_unit_test(replay__match__table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
