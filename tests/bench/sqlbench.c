/*
 * sqlbench: benchmark 3's two SQLite baselines, inserting the same rows
 * as fakedecider into a table shaped like the recorder's `processes`
 * (same columns, same ts index), on a fresh database file:
 *
 *   sqlbench autocommit DB N   one INSERT per row, each its own implicit
 *                              transaction, default journal (DELETE) and
 *                              synchronous (FULL): the seed's approach
 *   sqlbench txn DB N          one prepared statement, all N rows in one
 *                              transaction, default journal and synchronous:
 *                              SQLite's practical ceiling
 *   sqlbench txn-wal DB N      the same with the recorder's pragmas
 *                              (journal_mode WAL, synchronous NORMAL): the
 *                              ceiling at the recorder's durability
 *
 * Prints: "rows N seconds S rows_per_s R".
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "bench.h"

static const char *schema =
    "CREATE TABLE processes ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " pid INTEGER, name TEXT, cmdline TEXT, container_id TEXT,"
    " cpu_pct REAL, mem_pct REAL, rss_kb INTEGER, ts INTEGER,"
    " epoch INTEGER, seq INTEGER);"
    "CREATE INDEX processes_ts ON processes(ts);";

static int
check(sqlite3 *db, int rc, const char *what)
{
	if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
		fprintf(stderr, "sqlbench: %s: %s\n", what,
		    sqlite3_errmsg(db));
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	char name[64], cmdline[128], cid[65];
	sqlite3 *db;
	sqlite3_stmt *st;
	uint64_t n, i, t0, t1;
	int txn, wal;

	if (argc != 4 ||
	    (strcmp(argv[1], "autocommit") && strcmp(argv[1], "txn") &&
		strcmp(argv[1], "txn-wal")) ||
	    atoll(argv[3]) <= 0) {
		fprintf(stderr,
		    "usage: sqlbench autocommit|txn|txn-wal DB N\n");
		return 2;
	}
	wal = strcmp(argv[1], "txn-wal") == 0;
	txn = wal || strcmp(argv[1], "txn") == 0;
	n = (uint64_t)atoll(argv[3]);
	/* As the recorder runs SQLite (recorder/recorder.c, main). */
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	if (sqlite3_open(argv[2], &db) != SQLITE_OK)
		return 1;
	/* The recorder's settings (recorder/db.c, rdb_open). */
	if (wal &&
	    check(db,
		sqlite3_exec(db,
		    "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL",
		    NULL, NULL, NULL),
		"pragmas"))
		return 1;
	if (check(db, sqlite3_exec(db, schema, NULL, NULL, NULL), "schema"))
		return 1;
	if (check(db,
		sqlite3_prepare_v2(db,
		    "INSERT INTO processes (pid, "
		    "name, cmdline, container_id, cpu_pct, mem_pct, rss_kb, ts, "
		    "epoch, seq) VALUES (?,?,?,?,?,?,?,?,?,?)",
		    -1, &st, NULL),
		"prepare"))
		return 1;
	t0 = bench_wall_ns();
	if (txn &&
	    check(db, sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), "BEGIN"))
		return 1;
	for (i = 0; i < n; i++) {
		/* the rows fakedecider publishes */
		snprintf(name, sizeof(name), "worker-%" PRIu64, i % 97);
		snprintf(cmdline, sizeof(cmdline),
		    "/usr/bin/worker --id %" PRIu64
		    " --config /etc/worker.conf",
		    i);
		if (i % 4 == 0)
			memset(cid, 'a' + (int)(i % 6), 64);
		else
			cid[0] = '\0';
		cid[64] = '\0';
		sqlite3_bind_int(st, 1, (int)(1000 + i % 30000));
		sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, cmdline, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, cid, -1, SQLITE_STATIC);
		sqlite3_bind_double(st, 5, (double)(i % 1000) / 10.0);
		sqlite3_bind_double(st, 6, (double)(i % 500) / 100.0);
		sqlite3_bind_int64(st, 7, (sqlite3_int64)(1000 + i % 100000));
		sqlite3_bind_int64(st, 8, 1795757857);
		sqlite3_bind_int64(st, 9, 1);
		sqlite3_bind_int64(st, 10, (sqlite3_int64)i + 1);
		if (check(db, sqlite3_step(st), "INSERT"))
			return 1;
		sqlite3_reset(st);
	}
	if (txn &&
	    check(db, sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), "COMMIT"))
		return 1;
	t1 = bench_wall_ns();
	sqlite3_finalize(st);
	sqlite3_close(db);
	printf("rows %" PRIu64 " seconds %.3f rows_per_s %.0f\n", n,
	    (t1 - t0) / 1e9, n / ((t1 - t0) / 1e9));
	return 0;
}
