#!/usr/bin/env bash
# A real Prometheus (Debian's) scraping the decider's /metrics every
# second, with kwarden's alert rules loaded: what it stores agrees with
# `containers` on decider.ctl, an eviction of a real Docker hog shows in
# kwarden_actions_total, a protected hog in kwarden_skips_total, the
# series of a removed container go stale, and every PromQL expression of
# the fleet dashboard runs and returns data (prom-queries.py).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-docker.sh"

if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
	fail "prometheus is not installed (run/install-deps test)"
	finish
	exit
fi
# This suite's containers are kwp-<run>-...: the classes know only them.
KWT=kwp-$(head -c 2 /dev/urandom | od -An -tx1 | tr -d ' \n')-
DOCKER_FLAGS=(-o reader.interval=500ms -o policy.window=2s
	-o recorder.batch_delay=200ms
	-o "class.high.match=${KWT}high" -o class.high.min_alive=2
	-o "class.low.match=${KWT}low, ${KWT}grafana" -o class.low.min_alive=0
	-o policy.mem_threshold=0.1)
if ! need_docker; then
	finish
	exit
fi

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
MPORT=$(free_port)
PPORT=$(free_port)
PROM=http://127.0.0.1:$PPORT
INSTANCE=127.0.0.1:$MPORT
START=$(date +%s)

# promq EXPR [JQ]: an instant query; the result array, or JQ applied to it.
promq() {
	curl -sf --data-urlencode "query=$1" "$PROM/api/v1/query" | jq -c "${2:-.}" 2>/dev/null
}
# promv EXPR: the value of a one-series answer ("" when none).
promv() {
	curl -sf --data-urlencode "query=$1" "$PROM/api/v1/query" | jq -r '.data.result[0].value[1] // empty'
}

kwt_rm
run_c "${KWT}low_idle" low_img
run_c "${KWT}low_gone" low_img
start_pipeline "${DOCKER_FLAGS[@]}" -o policy.cpu_threshold="$CPU_THRESHOLD" \
	-o "metrics.listen=$INSTANCE" || fail "pipeline starts"

mkdir -p "$T/prom"
cp "$TOP/run/prometheus/kwarden-rules.yml" "$T/prom/"
cat >"$T/prom/prometheus.yml" <<EOC
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - kwarden-rules.yml
scrape_configs:
  - job_name: kwarden
    static_configs:
      - targets: ["$INSTANCE"]
EOC
promtool check config "$T/prom/prometheus.yml" >"$T/prom/check.log" 2>&1 &&
	ok "promtool check config of the test's scrape config" || fail "promtool check config" "$(cat "$T/prom/check.log")"
prometheus --config.file="$T/prom/prometheus.yml" --storage.tsdb.path="$T/prom/data" \
	--web.listen-address="127.0.0.1:$PPORT" --storage.tsdb.retention.time=1h \
	>"$T/prom/log" 2>&1 &
PIDS+=($!)
target_up() {
	[ "$(curl -sf "$PROM/api/v1/targets" | jq -r '.data.activeTargets[0].health')" = up ]
}
scraped() { [ "$(promv "count_over_time(kwarden_build_info[1m])")" -ge "$1" ]; }
if wait_for 30 target_up && wait_for 20 scraped 5; then
	ok "Prometheus scrapes the decider (5 scrapes)"
else
	fail "Prometheus scrapes the decider" "$(curl -s "$PROM/api/v1/targets" | jq -c .; tail -5 "$T/prom/log")"
fi
[ "$(promv 'kwarden_build_info{job="kwarden"}')" = 1 ] && ok "kwarden_build_info" ||
	fail "kwarden_build_info" "$(promq 'kwarden_build_info')"

# The live text passes promtool's lint, containers and all.
curl -sf "http://$INSTANCE/metrics" >"$T/metrics.txt"
out=$(promtool check metrics <"$T/metrics.txt" 2>&1) && ok "promtool check metrics (with containers)" ||
	fail "promtool check metrics" "$out"

# What Prometheus stored agrees with `containers`: ids, names, classes
# of this run's containers, and their memory and CPU.
have_both() { [ "$(promv "count(kwarden_container_cpu_ratio{name=~\"${KWT}.*\"})")" = 2 ]; }
wait_for 20 have_both || fail "both containers in Prometheus" "$(promq "kwarden_container_cpu_ratio")"
ctl decider containers | jq -c --arg k "$KWT" '[.containers[] | select(.name | startswith($k)) |
	{id: .container_id[0:12], name, class, rss: (.rss_kb * 1024), cpu: .cpu_pct}] | sort_by(.name)' >"$T/ctl.json"
promq "kwarden_container_memory_rss_bytes{name=~\"${KWT}.*\"}" |
	jq -c '[.data.result[] | {id: .metric.id, name: .metric.name, class: .metric.class,
	rss: (.value[1] | tonumber)}] | sort_by(.name)' >"$T/prom.json"
promq "kwarden_container_cpu_ratio{name=~\"${KWT}.*\"}" |
	jq -c '[.data.result[] | {name: .metric.name, cpu: ((.value[1] | tonumber) * 100)}] | sort_by(.name)' >"$T/promcpu.json"
jq -e -n --slurpfile c "$T/ctl.json" --slurpfile p "$T/prom.json" '
	($c[0] | map({id, name, class})) == ($p[0] | map({id, name, class})) and ($c[0] | length) == 2' >/dev/null &&
	ok "ids (12), names and classes agree with containers" ||
	fail "labels vs containers" "ctl $(cat "$T/ctl.json") prom $(cat "$T/prom.json")"
jq -e -n --slurpfile c "$T/ctl.json" --slurpfile p "$T/prom.json" '
	[range(0; $c[0] | length) | (($c[0][.].rss - $p[0][.].rss) | fabs) <= ($c[0][.].rss * 0.2 + 65536)] | all' >/dev/null &&
	ok "RSS agrees with containers (rss_kb x 1024, within 20 %)" ||
	fail "RSS vs containers" "ctl $(cat "$T/ctl.json") prom $(cat "$T/prom.json")"
jq -e -n --slurpfile c "$T/ctl.json" --slurpfile p "$T/promcpu.json" '
	[range(0; $c[0] | length) | (($c[0][.].cpu - $p[0][.].cpu) | fabs) < 1] | all' >/dev/null &&
	ok "CPU agrees with containers (cpu_ratio x 100, idle: within 1 point)" ||
	fail "CPU vs containers" "ctl $(cat "$T/ctl.json") prom $(cat "$T/promcpu.json")"
memtotal=$(($(awk '/^MemTotal:/ { print $2 }' /proc/meminfo) * 1024))
[ "$(promv kwarden_host_memory_total_bytes)" = "$memtotal" ] && ok "host MemTotal in bytes" ||
	fail "host MemTotal" "$(promv kwarden_host_memory_total_bytes) vs $memtotal"
[ "$(promv kwarden_docker_connected)" = 1 ] && ok "Docker session up" || fail "kwarden_docker_connected"

# A CPU hog of class low (min_alive 0) is removed; a memory hog over
# policy.mem_threshold (0.1 %) named like Grafana is protected, skipped.
run_c "${KWT}low_hog" high_cpu_img
run_c "${KWT}grafana_mem" high_mem_img 64
# A protected CPU hog stays over the CPU threshold until the dashboard's
# queries have run: the removed hog may leave no scrape above it.
run_c "${KWT}grafana_cpu" high_cpu_img
hog_gone() { [ "$(running '^low_hog$')" = 0 ]; }
wait_for 40 hog_gone && ok "the hog is removed" || fail "the hog is removed" "$(ctl decider containers)"
removed() {
	[ "$(promv "sum(kwarden_actions_total{action=\"remove\",class=\"low\",result=\"ok\"})")" -ge 1 ]
}
wait_for 15 removed && ok "the eviction is in kwarden_actions_total{action=remove,class=low,result=ok}" ||
	fail "actions counter" "$(promq 'kwarden_actions_total')"
protected() { [ "$(promv 'sum(kwarden_skips_total{reason="protected"})')" -ge 1 ]; }
wait_for 15 protected && ok "the protected hog is in kwarden_skips_total{reason=protected}" ||
	fail "skips counter" "$(promq 'kwarden_skips_total')"
sleep 3
docker rm -f "${KWT}grafana_mem" >/dev/null

# A removed container's series go stale: gone from an instant query.
[ -n "$(promv "kwarden_container_cpu_ratio{name=\"${KWT}low_gone\"}")" ] &&
	ok "the series of a running container is there" || fail "series present"
docker rm -f "${KWT}low_gone" >/dev/null
stale() { [ -z "$(promv "kwarden_container_cpu_ratio{name=\"${KWT}low_gone\"}")" ]; }
wait_for 15 stale && ok "its series go stale once it is removed" ||
	fail "stale series" "$(promq "kwarden_container_cpu_ratio{name=\"${KWT}low_gone\"}")"
[ -n "$(promv "kwarden_container_cpu_ratio{name=\"${KWT}low_idle\"}")" ] &&
	ok "the other container's series stay" || fail "the other series"

# The rules load in a real Prometheus and evaluate cleanly.
rules=$(curl -sf "$PROM/api/v1/rules")
echo "$rules" | jq -e '[.data.groups[].rules[]] | length == 6 and all(.health == "ok")' >/dev/null &&
	ok "the 6 alert rules load and evaluate (health ok)" || fail "rules" "$rules"

# Every expression of the fleet dashboard, on this Prometheus.
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
sleep 2
py_checks python3 "$TOP/tests/integration/prom-queries.py" \
	"$TOP/run/grafana/dashboards-fleet/kwarden-fleet.json" "$PROM" "$INSTANCE" "$START"

docker rm -f "${KWT}grafana_cpu" >/dev/null
stop_pipeline
[ "$STOP_RC" = 0 ] && ok "pipeline stops cleanly" || fail "pipeline stop" "exit $STOP_RC"
finish
