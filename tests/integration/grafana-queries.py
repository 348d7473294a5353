#!/usr/bin/env python3
"""Run every SQL query of kwarden's Grafana dashboards the way the
frser-sqlite-datasource plugin would, against a real database, and check
what comes back against what each panel expects.

  grafana-queries.py dashboards DB DASHBOARD_DIR EXPECTED_JSON
  grafana-queries.py seed DB SEED_QUERIES_SQL

Prints one "ok   ..." or "FAIL ...: why" line per check (test_grafana.sh
counts them). What the plugin does, from its documentation and source:
the query is `queryText` after Grafana replaced $__from / $__to (ms) and
dashboard variables; a column named in `timeColumns` becomes a time, a
number being unix *seconds*; for queryType "time series" a long frame
(time, string labels, numbers) sorted by time is turned into one series
per label set.
"""
import json
import os
import re
import sqlite3
import sys
import time

NOW = int(time.time())
FROM_S, TO_S = NOW - 3600, NOW + 5
PLAUSIBLE_S = (1_000_000_000, 10_000_000_000)  # unix seconds, not ms
DATASOURCE_UID = "kwarden-sqlite"


def out(ok, name, why=""):
    print(("ok   " if ok else "FAIL ") + name + ("" if ok else ": " + why))


def connect(db):
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=5)
    return con


def run(con, sql):
    cur = con.execute(sql)
    cols = [d[0] for d in cur.description] if cur.description else []
    return cols, cur.fetchall()


def variables(dash):
    """Dashboard variables at their current (default) value."""
    values = {}
    for v in dash.get("templating", {}).get("list", []):
        cur = v.get("current", {}).get("value", v.get("query", ""))
        values[v["name"]] = str(cur)
    return values


def interpolate(sql, values):
    """What Grafana sends: $__from/$__to in ms, $var and ${var} replaced."""
    sql = sql.replace("$__from", str(FROM_S * 1000)).replace("$__to", str(TO_S * 1000))
    for name in sorted(values, key=len, reverse=True):
        sql = sql.replace("${%s}" % name, values[name]).replace("$" + name, values[name])
    return sql


def panels_of(dash):
    for p in dash.get("panels", []):
        if p.get("type") == "row":
            for q in p.get("panels", []):
                yield q
        else:
            yield p


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def check_target(con, dash, panel, target, expected):
    name = "%s / %s / %s" % (dash["uid"], panel["title"], target.get("refId", "?"))
    problems = []
    ds = target.get("datasource", {})
    if ds.get("type") != "frser-sqlite-datasource" or ds.get("uid") != DATASOURCE_UID:
        problems.append("datasource is %r" % ds)
    raw = target.get("rawQueryText", "")
    if target.get("queryText") != raw:
        problems.append("queryText differs from rawQueryText")
    qtype = target.get("queryType", "table")
    if qtype not in ("table", "time series"):
        problems.append("queryType %r" % qtype)
    sql = interpolate(raw, variables(dash))
    if "$" in sql:
        problems.append("unreplaced variable in: " + sql)
    try:
        cols, rows = run(con, sql)
    except sqlite3.Error as e:
        out(False, name, "query failed: %s: %s" % (e, sql))
        return
    want = expected.get(dash["uid"], {}).get(panel["title"], {}).get(target.get("refId"))
    if want is None:
        problems.append("no expected columns in the fixture (got %s)" % cols)
    elif cols != want:
        problems.append("columns %s, panel expects %s" % (cols, want))
    if not rows:
        problems.append("no rows")
    time_cols = target.get("timeColumns", [])
    for tc in time_cols:
        if tc not in cols:
            continue
        i = cols.index(tc)
        bad = [r[i] for r in rows if r[i] is not None and not (
            isinstance(r[i], int) and PLAUSIBLE_S[0] <= r[i] < PLAUSIBLE_S[1])]
        if bad:
            problems.append("time column %s is not unix seconds: %r" % (tc, bad[:3]))
    if qtype == "time series" and rows:
        if not cols or cols[0] != "time" or "time" not in time_cols:
            problems.append("time series must start with a column `time` listed in timeColumns")
        else:
            ts = [r[0] for r in rows]
            if any(t is None for t in ts):
                problems.append("NULL time")
            elif ts != sorted(ts):
                problems.append("time not ascending (the plugin's long-to-wide needs it)")
            elif not all(FROM_S <= t <= TO_S for t in ts):
                problems.append("time outside $__from..$__to")
            labels = [i for i, c in enumerate(cols[1:], 1)
                      if all(isinstance(r[i], str) for r in rows if r[i] is not None)
                      and any(isinstance(r[i], str) for r in rows)]
            values = [i for i in range(1, len(cols)) if i not in labels]
            if not values or not any(is_number(r[i]) for r in rows for i in values):
                problems.append("no numeric value column")
            keys = [tuple([r[0]] + [r[i] for i in labels]) for r in rows]
            if len(keys) != len(set(keys)):
                problems.append("duplicate (time, labels) rows")
    # Overrides name the columns they style.
    for o in panel.get("fieldConfig", {}).get("overrides", []):
        m = o.get("matcher", {})
        if m.get("id") == "byName" and m.get("options") not in cols:
            problems.append("override names missing column %r" % m.get("options"))
    out(not problems, "%s (%d rows: %s)" % (name, len(rows), ", ".join(cols)),
        "; ".join(problems))


def dashboards(db, ddir, expected_path):
    with open(expected_path) as f:
        expected = json.load(f)
    con = connect(db)
    uids, seen = set(), set()
    for fn in sorted(os.listdir(ddir)):
        if not fn.endswith(".json"):
            continue
        with open(os.path.join(ddir, fn)) as f:
            try:
                dash = json.load(f)
            except ValueError as e:
                out(False, fn, "not JSON: %s" % e)
                continue
        out(dash.get("uid") not in uids and bool(dash.get("uid")),
            "%s: uid %r is unique" % (fn, dash.get("uid")), "duplicate or missing")
        uids.add(dash.get("uid"))
        layout_problems = []
        ids, boxes = set(), []
        for p in dash.get("panels", []):
            if p.get("id") in ids:
                layout_problems.append("panel id %r twice" % p.get("id"))
            ids.add(p.get("id"))
            g = p.get("gridPos", {})
            x, y, w, h = g.get("x", 0), g.get("y", 0), g.get("w", 0), g.get("h", 0)
            if w <= 0 or h <= 0 or x < 0 or x + w > 24:
                layout_problems.append("%r: gridPos %r" % (p.get("title"), g))
            for (bx, by, bw, bh, bt) in boxes:
                if x < bx + bw and bx < x + w and y < by + bh and by < y + h:
                    layout_problems.append("%r overlaps %r" % (p.get("title"), bt))
            boxes.append((x, y, w, h, p.get("title")))
        out(not layout_problems, "%s: panel ids unique, grid 24 wide, no overlaps" % fn,
            "; ".join(layout_problems))
        for panel in panels_of(dash):
            targets = panel.get("targets", [])
            if not targets:
                out(False, "%s / %s" % (dash["uid"], panel.get("title")), "no query")
            for t in targets:
                seen.add((dash["uid"], panel["title"], t.get("refId")))
                check_target(con, dash, panel, t, expected)
    for uid, ps in expected.items():
        for title, refs in ps.items():
            for ref in refs:
                if (uid, title, ref) not in seen:
                    out(False, "%s / %s / %s" % (uid, title, ref), "in the fixture, not in any dashboard")


def seed(db, path):
    """The seed's panel queries, unchanged: `-- panel: TITLE` then SQL up to ';'."""
    con = connect(db)
    title, sql = None, []
    with open(path) as f:
        lines = f.read().splitlines()
    queries = []
    for line in lines:
        m = re.match(r"--\s*panel:\s*(.*)", line)
        if m:
            title, sql = m.group(1).strip(), []
            continue
        if line.startswith("--") or not line.strip():
            continue
        sql.append(line)
        if line.rstrip().endswith(";"):
            queries.append((title, "\n".join(sql)))
            sql = []
    if not queries:
        out(False, "seed queries", "none in " + path)
    for title, q in queries:
        try:
            cols, rows = run(con, q)
        except sqlite3.Error as e:
            out(False, "seed: %s" % title, "%s: %s" % (e, q))
            continue
        out(bool(rows), "seed: %s (%d rows: %s)" % (title, len(rows), ", ".join(cols)), "no rows")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "dashboards":
        dashboards(sys.argv[2], sys.argv[3], sys.argv[4])
    elif len(sys.argv) == 4 and sys.argv[1] == "seed":
        seed(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
