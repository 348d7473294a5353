#!/usr/bin/env bash
# `explain NAME|ID` on decider.ctl, against real containers: a protected
# hog, two hogs held by their class's min_alive, an idle one under the
# thresholds; by name and by id prefix; unknown names and no argument.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-docker.sh"

if ! need_docker; then
	finish
	exit
fi
kwt_rm
run_c "${KWT}high_cpu_1" high_cpu_img
run_c "${KWT}high_cpu_2" high_cpu_img
run_c "${KWT}grafana" "${KWT}grafana"
run_c "${KWT}low_1" low_img
start_pipeline "${DOCKER_FLAGS[@]}" -o policy.cpu_threshold="$CPU_THRESHOLD" \
	-o "policy.protect=${KWT}grafana" || fail "pipeline starts"

ex() { ctl decider "explain $1"; }
# field NAME JQ: a field of explain NAME
field() { ex "$1" | jq -r "$2"; }
held() { [ "$(field "${KWT}high_cpu_1" .verdict)" = min-alive ]; }
wait_for 20 held

e=$(ex "${KWT}high_cpu_1")
echo "$e" | jq -e '.verdict == "min-alive" and .class == "high" and .class_min_alive == 2
	and .class_alive == 2 and .over == true and (.reason | test("at min_alive \\(2 alive, min 2\\)"))
	and .protected_by == null and .state == "running" and .figures == "cgroup"' >/dev/null &&
	ok "a hog at its class's min_alive: held, with the counts" || fail "min_alive hold" "$e"
e=$(ex "${KWT}grafana")
echo "$e" | jq -e '.verdict == "protected" and .protected_by == "'"${KWT}"'grafana" and .over == true' >/dev/null &&
	ok "a protected hog: the pattern that protects it" || fail "protected" "$e"
e=$(ex "${KWT}low_1")
echo "$e" | jq -e '.verdict == "under-thresholds" and .over == false and .class == "low"
	and .cpu_threshold == '"$CPU_THRESHOLD"' and (.cpu_pct < '"$CPU_THRESHOLD"')' >/dev/null &&
	ok "an idle one: under the thresholds, with its figures" || fail "under thresholds" "$e"
id=$(docker inspect -f '{{.Id}}' "${KWT}low_1")
[ "$(field "${id:0:12}" .name)" = "${KWT}low_1" ] && ok "by id prefix" || fail "by id prefix" "$(ex "${id:0:12}")"
ex "${KWT}nope" | jq -e '.error | test("no such container")' >/dev/null &&
	ok "unknown name: an error object" || fail "unknown name" "$(ex "${KWT}nope")"
ctl decider explain | jq -e '.error | test("usage")' >/dev/null &&
	ok "no argument: usage" || fail "no argument" "$(ctl decider explain)"
ctl decider help | grep -q explain && ok "help lists explain" || fail "help lists explain"
[ "$(running '^high_cpu_')" = 2 ] && ok "nothing was removed" || fail "nothing removed"
stop_pipeline
kwt_rm
finish
