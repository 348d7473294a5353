#!/usr/bin/env python3
"""Run every PromQL expression of kwarden's fleet dashboard against a real
Prometheus, the way Grafana would, and check that each one is valid and
returns data.

  prom-queries.py DASHBOARD_JSON PROMETHEUS_URL INSTANCE START_UNIX

Prints one "ok   ..." or "FAIL ...: why" line per check (test_prometheus.sh
counts them). Grafana replaces $host (here: once with the variable's
allValue, once with INSTANCE), $__rate_interval (4 x the scrape interval
or more: 1m here), $__interval and $__range before it sends a query; a
range panel is a query_range over START..now, a table an instant query.
"""
import json
import sys
import time
import urllib.parse
import urllib.request

DS_UID = "kwarden-prometheus"


def out(ok, name, why=""):
    print(("ok   " if ok else "FAIL ") + name + ("" if ok else ": " + why))


def api(url, path, params):
    q = urllib.parse.urlencode(params)
    try:
        with urllib.request.urlopen("%s/api/v1/%s?%s" % (url, path, q), timeout=10) as r:
            return json.load(r)
    except urllib.error.HTTPError as e:
        return json.load(e)


def interpolate(expr, host, range_s):
    return (expr.replace("$__rate_interval", "1m").replace("$__interval", "5s")
            .replace("$__range", "%ds" % range_s).replace("$host", host))


def panels_of(dash):
    for p in dash.get("panels", []):
        if p.get("type") == "row":
            yield from p.get("panels", [])
        else:
            yield p


def check(url, name, expr, instant, start, now):
    if "$" in expr:
        out(False, name, "unreplaced variable: " + expr)
        return
    if instant:
        r = api(url, "query", {"query": expr, "time": now})
    else:
        r = api(url, "query_range", {"query": expr, "start": start, "end": now, "step": 2})
    if r.get("status") != "success":
        out(False, name, "%s: %s" % (r.get("error"), expr))
        return
    res = r["data"]["result"]
    out(bool(res), "%s (%d series)" % (name, len(res)), "no data: " + expr)


def main(dash_path, url, instance, start):
    dash = json.load(open(dash_path))
    start = int(start)
    now = int(time.time())
    var = dash["templating"]["list"][0]
    out(var["name"] == "host" and var["datasource"]["uid"] == DS_UID, "the host variable is on Prometheus")
    q = var["query"]["query"]
    label = q[len("label_values("):-1].split(",")
    r = api(url, "label/%s/values" % label[1].strip(), {"match[]": label[0].strip()})
    out(instance in r.get("data", []), "host variable %s lists %s" % (q, instance), json.dumps(r))
    hosts = {"all": var["allValue"], instance: instance.replace(".", "\\\\.")}
    for p in panels_of(dash):
        ds = p.get("datasource", {})
        if ds.get("uid") != DS_UID:
            out(False, p.get("title", "?"), "datasource %r" % ds)
        for t in p.get("targets", []):
            if t.get("datasource", {}).get("uid") != DS_UID:
                out(False, "%s / %s" % (p["title"], t["refId"]), "target datasource")
            for hname, hval in hosts.items():
                expr = interpolate(t["expr"], hval, now - start)
                check(url, "%s / %s [host=%s]" % (p["title"], t["refId"], hname), expr,
                      t.get("instant", False) and not t.get("range", False), start, now)
    for a in dash.get("annotations", {}).get("list", []):
        expr = interpolate(a["expr"], hosts["all"], now - start)
        check(url, "annotation %s" % a["name"], expr, False, start, now)


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    main(*sys.argv[1:])
