#!/usr/bin/env bash
# Grafana: every query of every dashboard in run/grafana/dashboards runs
# against a database the real pipeline wrote and returns the columns its
# panel expects (tests/fixtures/grafana/panel-columns.json), time columns
# in unix seconds; the seed's own panel queries run unchanged on a seed
# database and on kwarden's; the provisioning and compose files agree with
# the default config and the install layout. The fleet dashboard's PromQL
# runs against a real Prometheus in test_prometheus.sh.
. "$(dirname "$0")/lib.sh"

FIX=$TOP/tests/fixtures/grafana
GRAFANA=$TOP/run/grafana
CHECK=$TOP/tests/integration/grafana-queries.py

# py_checks CMD...: one ok/fail per "ok   "/"FAIL " line of CMD's output.
py_checks() {
	local line n=0
	while IFS= read -r line; do
		case "$line" in
		"ok   "*) ok "${line#ok   }"; n=$((n + 1)) ;;
		"FAIL "*) fail "${line#FAIL }"; n=$((n + 1)) ;;
		*) echo "$line" ;;
		esac
	done < <("$@" 2>&1)
	[ "$n" -gt 0 ] || fail "$* printed no checks"
}

# A process in a Docker-style cgroup (as in test_pipeline.sh), over a tiny
# memory threshold: rows in containers and a dry-run row in deletions, so
# that every panel has data.
fake_container
[ -n "$CG" ] || fail "cannot make a cgroup under /sys/fs/cgroup (need root and cgroupfs)"

# dry-run: the "container" is unknown to Docker, and nothing is touched;
# the host's Docker is left out altogether (its containers come and go).
check "pipeline starts" start_pipeline -o class.low.min_alive=0 \
	-o policy.mem_threshold=0.0001 -o policy.mem_basis=rss -o policy.action=dry-run \
	-o "decider.docker_socket=$T/no-docker.sock"
has_deletion() { [ "$(sql 'SELECT count(*) FROM deletions')" -ge 1 ]; }
wait_for 15 has_deletion && ok "a dry-run deletion recorded" ||
	fail "a dry-run deletion within 15 s"
sleep 3

py_checks python3 "$CHECK" dashboards "$T/kwarden.db" "$GRAFANA/dashboards" "$FIX/panel-columns.json"
py_checks python3 "$CHECK" seed "$T/kwarden.db" "$FIX/seed-queries.sql"

# The seed's queries on a database with only the seed's schema: they are
# the seed's, not queries that happen to work on kwarden's tables.
sqlite3 "$T/seed.db" <"$FIX/seed-db.sql"
py_checks python3 "$CHECK" seed "$T/seed.db" "$FIX/seed-queries.sql"

stop_pipeline
[ "$STOP_RC" = 0 ] && ok "pipeline stops cleanly" || fail "pipeline stop" "exit $STOP_RC"

# Provisioning and compose agree with the config and the install layout.
DB_DEFAULT=$("$RECORDER" --print-config | sed -n 's/^database *= *\([^ ;	]*\).*/\1/p' | head -n 1)
py_checks python3 - "$GRAFANA" "$DB_DEFAULT" <<'EOF'
import json, os, sys, yaml
g, db = sys.argv[1], sys.argv[2]
def out(ok, name, why=""):
    print(("ok   " if ok else "FAIL ") + name + ("" if ok else ": " + why))
ds = yaml.safe_load(open(os.path.join(g, "provisioning/datasources/kwarden.yaml")))
d = ds["datasources"][0]
out(d["type"] == "frser-sqlite-datasource", "datasource uses frser-sqlite-datasource", d["type"])
out(d["uid"] == "kwarden-sqlite", "datasource uid is the dashboards' (kwarden-sqlite)", d["uid"])
out(d["jsonData"]["path"] == db, "datasource path is paths.database (%s)" % db, d["jsonData"]["path"])
out("mode=ro" in d["jsonData"].get("pathOptions", ""), "datasource opens the database read-only", str(d["jsonData"]))
pv = yaml.safe_load(open(os.path.join(g, "provisioning/dashboards/kwarden.yaml")))
path = pv["providers"][0]["options"]["path"]
out(path == "/usr/local/share/kwarden/grafana/dashboards",
    "dashboard provider reads the installed dashboards dir", path)
c = yaml.safe_load(open(os.path.join(g, "compose.yaml")))
svc = c["services"]["grafana"]
vols = svc["volumes"]
out("./provisioning:/etc/grafana/provisioning:ro" in vols, "compose mounts the provisioning", str(vols))
out("./dashboards:%s:ro" % path in vols, "compose mounts the dashboards where the provider looks", str(vols))
out(any(v.startswith(os.path.dirname(db) + ":" + os.path.dirname(db)) for v in vols),
    "compose mounts the database directory at the same path", str(vols))
env = svc.get("environment", {})
out("frser-sqlite-datasource" in str(env.get("GF_INSTALL_PLUGINS", "")), "compose installs the plugin", str(env))
out("grafana" in svc.get("container_name", ""), "compose container name is protected by policy.protect (grafana)",
    svc.get("container_name", ""))
# The fleet dashboard: its own Prometheus datasource and provider.
pd = yaml.safe_load(open(os.path.join(g, "provisioning/datasources/prometheus.yaml")))["datasources"][0]
out(pd["type"] == "prometheus" and pd["uid"] == "kwarden-prometheus" and not pd.get("isDefault"),
    "fleet datasource: prometheus, uid kwarden-prometheus, not the default", str(pd))
fp = yaml.safe_load(open(os.path.join(g, "provisioning/dashboards/kwarden-fleet.yaml")))["providers"][0]
fpath = fp["options"]["path"]
out(fpath == "/usr/local/share/kwarden/grafana/dashboards-fleet" and fp["name"] != pv["providers"][0]["name"],
    "fleet provider: its own name, reads the installed dashboards-fleet dir", str(fp))
out("./dashboards-fleet:%s:ro" % fpath in vols, "compose mounts the fleet dashboards where their provider looks", str(vols))
fleet = [json.load(open(os.path.join(g, "dashboards-fleet", f)))
         for f in os.listdir(os.path.join(g, "dashboards-fleet")) if f.endswith(".json")]
uses = {t["datasource"]["uid"] for d in fleet for p in d["panels"] for t in p.get("targets", [])}
out(len(fleet) == 1 and uses == {"kwarden-prometheus"}, "the fleet dashboard queries only kwarden-prometheus", str(uses))
home = env.get("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH", "")
out(home.startswith(path + "/") and os.path.exists(os.path.join(g, "dashboards", os.path.basename(home))),
    "compose home dashboard exists", home)
EOF

finish
