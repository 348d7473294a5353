#!/usr/bin/env bash
# The Prometheus alert rules (run/prometheus/kwarden-rules.yml): promtool
# checks them and runs their unit tests (kwarden-rules.test.yml); every
# alert has a test; every kwarden_ metric the rules and the fleet
# dashboard name is one a real decider exposes, and its /metrics passes
# `promtool check metrics`.
. "$(dirname "$0")/lib.sh"

PROMDIR=$TOP/run/prometheus
RULES=$PROMDIR/kwarden-rules.yml
FLEET=$TOP/run/grafana/dashboards-fleet/kwarden-fleet.json

if ! command -v promtool >/dev/null; then
	fail "promtool is not installed (run/install-deps test: prometheus)"
	finish
	exit
fi

out=$(promtool check rules "$RULES" 2>&1) && ok "promtool check rules" ||
	fail "promtool check rules" "$out"
out=$(cd "$PROMDIR" && promtool test rules kwarden-rules.test.yml 2>&1) &&
	ok "promtool test rules: every case passes" || fail "promtool test rules" "$out"

# Each alert is tested, firing at least once.
out=$(python3 - "$RULES" "$PROMDIR/kwarden-rules.test.yml" <<'PY'
import sys, yaml
rules = yaml.safe_load(open(sys.argv[1]))
tests = yaml.safe_load(open(sys.argv[2]))
alerts = {r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
fired = {t["alertname"] for c in tests["tests"] for t in c.get("alert_rule_test", []) if t.get("exp_alerts")}
quiet = {t["alertname"] for c in tests["tests"] for t in c.get("alert_rule_test", []) if not t.get("exp_alerts")}
missing = sorted((alerts - fired) | (alerts - quiet))
print(" ".join(missing))
sys.exit(1 if missing or not alerts else 0)
PY
) && ok "every alert has a firing and a quiet case" || fail "alerts without tests" "$out"

# A real decider: its metric names, and promtool's lint of its output.
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$DECIDER" --state-dir "$T" -o "metrics.listen=127.0.0.1:$PORT" \
	-o "decider.docker_socket=$T/no-docker.sock" >"$T/decider.log" 2>&1 &
PIDS+=($!)
scrape() { curl -sf "http://127.0.0.1:$PORT/metrics" >"$T/metrics.txt"; }
if wait_for 10 scrape; then
	ok "the decider answers /metrics"
else
	fail "the decider answers /metrics" "$(tail -5 "$T/decider.log")"
fi
out=$(promtool check metrics <"$T/metrics.txt" 2>&1) && ok "promtool check metrics: clean" ||
	fail "promtool check metrics" "$out"
sed -n 's/^# TYPE \([a-z_]*\) .*/\1/p' "$T/metrics.txt" | sort -u >"$T/names"
[ "$(wc -l <"$T/names")" -gt 40 ] && ok "$(wc -l <"$T/names") metric families exposed" ||
	fail "metric families" "$(cat "$T/names")"
unknown=""
for f in "$RULES" "$FLEET"; do
	[ -f "$f" ] || { fail "$f exists"; continue; }
	while read -r n; do
		grep -qx "$n" "$T/names" || unknown="$unknown $(basename "$f"):$n"
	done < <(grep -o 'kwarden_[a-z_]*' "$f" | sort -u)
done
[ -z "$unknown" ] && ok "every kwarden_ metric in the rules and the fleet dashboard is exposed" ||
	fail "metrics named but not exposed" "$unknown"

finish
