#!/usr/bin/env bash
# The command line of every program, table-driven: {args, exit code,
# what stderr or stdout must contain}.
. "$(dirname "$0")/lib.sh"

printf '[policy]\ncpu_threshold = 20\nmem_threshold = abc\n' >"$T/bad.conf"
printf '[policy]\ncpu_threshold = 15 ; lower\n[class.mid]\nmatch = mid\nmin_alive = 1\n' >"$T/good.conf"
printf '[nosuch]\nkey = 1\n' >"$T/badsec.conf"

# program | args | exit | stream (out/err) | must contain
CASES=(
	"reader|--help|0|out|--interval"
	"reader|-V|0|out|0.1.0"
	"reader|--print-config|0|out|[reader]"
	"reader|--interval 2s --print-config|0|out|interval = 2s"
	"reader|--interval soon|2|err|--interval"
	"reader|--source nfs|2|err|nfs"
	"reader|--bogus|2|err|--bogus"
	"reader|-c /nonexistent/kwarden.conf|2|err|/nonexistent/kwarden.conf"
	"decider|-c $T/bad.conf|2|err|bad.conf:3: policy.mem_threshold"
	"decider|-c $T/badsec.conf|2|err|nosuch"
	"decider|-c $T/good.conf --print-config|0|out|cpu_threshold = 15"
	"decider|-c $T/good.conf --print-config|0|out|[class.mid]"
	"decider|-o policy.cpu_threshold=10 --print-config|0|out|cpu_threshold = 10"
	"decider|-o policy.cpu_threshold=ten|2|err|policy.cpu_threshold"
	"decider|-o policy.nokey=1|2|err|policy.nokey"
	"decider|-o class.high.min_alive=1 --print-config|0|out|min_alive = 1"
	"decider|--help|0|out|usage: kwarden-decider"
	"recorder|--state-dir /tmp/kwx --print-config|0|out|database = /tmp/kwx/kwarden.db"
	"recorder|--retention 1d --print-config|0|out|retention = 1d"
	"recorder|--help|0|out|--batch-rows"
	"run|--help|0|out|--state-dir"
	"reader|--state-dir $T/g -o paths.socket_group=no-such-group|2|err|paths.socket_group"
	"run|-o policy.cpu_threshold=x|2|err|policy.cpu_threshold"
	# getopt_long's edges: --KEY=VALUE, a glued -o, unknown and
	# abbreviated options, -- ending the options.
	"reader|--interval=2s --print-config|0|out|interval = 2s"
	"recorder|--retention=1d --print-config|0|out|retention = 1d"
	"decider|-opolicy.cpu_threshold=10 --print-config|0|out|cpu_threshold = 10"
	"decider|-c$T/good.conf --print-config|0|out|[class.mid]"
	"reader|-x|2|err|unknown option \"-x\""
	"decider|--bogus=1|2|err|unknown option \"--bogus\""
	"reader|--inter 2s|2|err|unknown option \"--inter\""
	"run|--help=yes|2|err|option --help takes no value"
	"reader|--print-config --|0|out|[reader]"
	"reader|-- --print-config|2|err|unexpected argument \"--print-config\""
	"recorder|stray --help|2|err|unexpected argument \"stray\""
	"run|--help|0|out|--print-config"
	"recorder|-h|0|out|-o SECTION.KEY=VALUE"
)

for c in "${CASES[@]}"; do
	IFS='|' read -r prog args want_rc stream want <<<"$c"
	case $prog in
	reader) bin=$READER ;; decider) bin=$DECIDER ;;
	recorder) bin=$RECORDER ;; run) bin=$RUN ;;
	esac
	# shellcheck disable=SC2086
	timeout 10 "$bin" $args >"$T/out" 2>"$T/err" </dev/null
	rc=$?
	if [ "$rc" != "$want_rc" ]; then
		fail "kwarden-$prog $args: exit $rc, want $want_rc" "$(head -c 300 "$T/err")"
	elif ! grep -qF -- "$want" "$T/$stream"; then
		fail "kwarden-$prog $args: $stream lacks '$want'" "$(head -c 300 "$T/$stream")"
	else
		ok "kwarden-$prog $args -> $rc, $stream has '$want'"
	fi
done

# A second instance on the same state dir refuses to steal the sockets.
"$READER" --state-dir "$T" >"$T/r1.log" 2>&1 &
R1=$!; PIDS+=("$R1")
wait_for 5 test -S "$T/run/reader.ctl"
timeout 5 "$READER" --state-dir "$T" >"$T/r2.log" 2>&1
rc=$?
if [ "$rc" = 1 ] && grep -q "already running" "$T/r2.log" && kill -0 "$R1"; then
	ok "second reader on the same sockets exits 1 (already running); first keeps going"
else
	fail "second instance" "rc=$rc $(cat "$T/r2.log")"
fi
finish
