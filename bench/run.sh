#!/usr/bin/env bash
# bench/run.sh - the whole tpt-http benchmark suite (issues 5 and 15) in one command.
#
#   bench/run.sh            full run (about 5-7 minutes on a 2-core VM)
#   bench/run.sh --smoke    tiny sizes, one round; for CI (well under 2 minutes once built)
#
# Options:
#   --smoke            tiny sizes (see below), R=1; results go to bench/results/smoke/
#   --rounds R         rounds per scenario (default 3; smoke 1)
#   --only LIST        run only these scenarios, e.g. --only P1,P3 (default: P1..P9)
#   -h, --help         this text
#
# It installs what is missing (apt-get, when root or with sudo: nginx-light,
# libcurl4-openssl-dev, wrk, curl, gcc, python3, time, openssl, valgrind, lua5.1, lua-http,
# lua-cqueues; hyperfine if apt has it),
# builds our CLI (cargo build --release -p tpt-http-cli) and the C anchors
# (bench/anchors/*.c into bench/target), starts a private nginx on 127.0.0.1, and
# runs each scenario R rounds, alternating our side and the anchor (the anchor first
# in odd rounds, ours first in even rounds). bench/report.py then takes the median
# of each side over the rounds, the ratio ours/anchor, checks the targets, prints the
# table and writes:
#   bench/results/latest.md    the table, per-round values, machine and settings
#   bench/results/latest.tsv   every raw value (scenario, variant, side, round, metric, value)
#   bench/results/chart.svg    P1 rate vs in-flight and P3 KiB per request
#
# Scenarios (full / smoke sizes):
#   P1  N small GETs (100 B) from nginx, K in flight, keep-alive; ours vs libcurl multi
#       (bench/anchors/curl_multi.c) vs wrk -t1 -cK (the server's ceiling), at
#       K:cap = 1:1, 16:16, 256:256 and TPT's cap 16:1 (cap = --max-host-connections for
#       ours, CURLMOPT_MAX_HOST_CONNECTIONS for curl multi). N=20000 / 500. Also context
#       switches per request: of each whole process (voluntary and involuntary, wait4
#       rusage), and of our engine thread and host thread (bench/p1.lua reads /proc).
#   P2  status() on every one of N running requests (to bench/anchors/hang_server.c, which
#       accepts and never answers) in one tick, timed with socket.gettime() over TICKS
#       ticks; median ms per tick. N=10000 / 100.
#   P3  VmRSS of ours (bench/p3.lua) and of bench/anchors/curl_hold.c holding N requests
#       open to the hang server, minus the same program with N=0, per request.
#       N=1000,10000 / 100.
#   P4  one body of SIZE from nginx (sparse file) into a Lua string (bench/p4.lua) vs the
#       curl CLI (curl -s -o /dev/null); whole-process rate and peak RSS (/usr/bin/time
#       %M). SIZE=1M,64M,1G / 1M.
#   P5  whole-process wall time of `tpt-http run --fps 0 bench/p5.lua URL` (one request)
#       vs `curl -s -o /dev/null URL`, hyperfine (or a loop) of RUNS runs per round;
#       also ours at --fps 60, for information. RUNS=20 / 3.
#   P6  context switches of the thread `tpt-http-engine` over IDLE seconds while a script
#       ticks at 60 fps with nothing in flight (bench/p6.lua); and CPU (user+sys) per
#       request in P1 K=16: ours for the whole process (bench/anchors/rusage.c: wait4,
#       like /usr/bin/time but with microseconds), curl multi from its own getrusage
#       (whole-process figure recorded too). IDLE=5 / 1.
#   P7  HTTPS against nginx with a CA made at run time, K=P7_K (16) in flight, ours vs libcurl
#       multi with OpenSSL (bench/anchors/curl_multi.c, CURL_MULTI_* settings): keep-alive over
#       h2, keep-alive over HTTP/1.1, and HTTP/1.1 with a new connection per request (ours:
#       `Connection: close` from the script; curl: CURLOPT_FRESH_CONNECT + FORBID_REUSE; the
#       server resumes no sessions, so every request is a full handshake). Rate, CPU and
#       context switches per request. N=20000 keep-alive, 2000 new connections / 300, 50.
#   P8  the Lua peer: ours (bench/p1.lua) vs lua-http on cqueues under lua5.1
#       (bench/luahttp.lua) opening a connection per request (http.request) and reusing K
#       connections by hand (http.client), plain HTTP, K = 1 and 16. N=5000 / 100.
#   P9  instructions per request under valgrind --tool=callgrind (every thread), ours vs
#       libcurl multi, plain HTTP keep-alive, K = 1 and 16: (instructions for N2 requests -
#       for N1) / (N2 - N1), so start-up cancels out. P9_ROUNDS rounds (default 1: the counts
#       barely move). N1,N2 = 500,2500 / 20,80.
#
# Before every round the share of CPU busy with others' work (0.5 s sample, while nothing of
# ours runs) is recorded; BENCH_QUIET_WAIT=S waits up to S seconds for it to fall under
# BENCH_QUIET_MAX % (default 10) first. On a shared machine, use it.
#
# Environment (overrides): N_P1, P1_CONFIGS ("1:1 16:16 256:256 16:1"), WRK_SECONDS,
#   N_P2, P2_TICKS, P3_SIZES, P4_SIZES, P5_RUNS, P5_TOOL (loop: no hyperfine), P6_IDLE,
#   N_P7, N_P7_NEW, P7_K (16), N_P8, P8_CONFIGS ("1 16"), P9_N ("N1 N2"), P9_CONFIGS ("1 16"),
#   P9_ROUNDS (1),
#   TPT_HTTP (our CLI; when set, nothing is built for it), BENCH_RESULTS (output
#   directory), BENCH_OUT (anchors), BENCH_KEEP_WORK (keep the temporary work directory),
#   PIN (empty; "split": nginx and hang server on CPU 0, clients on the others;
#   "same": everything on CPU 0).
#
# Exit status: 0 when every scenario ran (whether or not its target holds); 1 when
# something failed to run (build, server, a run that crashed or gave wrong answers);
# 2 for bad arguments. Every process it starts is stopped on exit, including on
# failure or Ctrl-C. All traffic is on 127.0.0.1.
set -uo pipefail

# The whole script is one brace group, so that bash parses it before running any of it
# (editing this file while it runs cannot then break the run).
{
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$BENCH_REPO" || exit 1

usage() { sed -n '2,/^set -uo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'; }

COMMAND_LINE="${BENCH_QUIET_WAIT:+BENCH_QUIET_WAIT=$BENCH_QUIET_WAIT }bench/run.sh${*:+ $*}"
MODE=full
ROUNDS=""
ONLY="P1,P2,P3,P4,P5,P6,P7,P8,P9"
while [ $# -gt 0 ]; do
    case "$1" in
        --smoke) MODE=smoke ;;
        --rounds) ROUNDS="${2:-}"; shift ;;
        --rounds=*) ROUNDS="${1#*=}" ;;
        --only) ONLY="${2:-}"; shift ;;
        --only=*) ONLY="${1#*=}" ;;
        -h | --help) usage; exit 0 ;;
        *) echo "run.sh: unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
ONLY="$(printf '%s' "$ONLY" | tr 'a-z' 'A-Z')"

if [ "$MODE" = smoke ]; then
    : "${ROUNDS:=1}"
    : "${N_P1:=500}" "${WRK_SECONDS:=1}" "${N_P2:=100}" "${P2_TICKS:=10}"
    : "${P3_SIZES:=100}" "${P4_SIZES:=1M}" "${P5_RUNS:=3}" "${P6_IDLE:=1}"
    : "${N_P7:=300}" "${N_P7_NEW:=50}" "${N_P8:=100}" "${P9_N:=20 80}"
    : "${BENCH_RESULTS:=$BENCH_DIR/results/smoke}"
else
    : "${ROUNDS:=3}"
    : "${N_P1:=20000}" "${WRK_SECONDS:=2}" "${N_P2:=10000}" "${P2_TICKS:=60}"
    : "${P3_SIZES:=1000 10000}" "${P4_SIZES:=1M 64M 1G}" "${P5_RUNS:=20}" "${P6_IDLE:=5}"
    : "${N_P7:=20000}" "${N_P7_NEW:=2000}" "${N_P8:=5000}" "${P9_N:=500 2500}"
    : "${BENCH_RESULTS:=$BENCH_DIR/results}"
fi
: "${P1_CONFIGS:=1:1 16:16 256:256 16:1}"
: "${P7_K:=16}" "${P8_CONFIGS:=1 16}" "${P9_CONFIGS:=1 16}" "${P9_ROUNDS:=1}"
case "$ROUNDS" in '' | *[!0-9]* | 0) echo "run.sh: --rounds needs a positive number" >&2; exit 2 ;; esac
for s in $(printf '%s' "$ONLY" | tr ',' ' '); do
    case "$s" in P[1-9]) ;; *) echo "run.sh: --only takes P1..P9 (got $s)" >&2; exit 2 ;; esac
done
want() { case ",$ONLY," in *",$1,"*) return 0 ;; esac; return 1; }

OURS_BUILT_BY_US=0
if [ -z "${TPT_HTTP:-}" ]; then
    TPT_HTTP="$BENCH_REPO/target/release/tpt-http"
    OURS_BUILT_BY_US=1
fi

# ---------------------------------------------------------------- bookkeeping

WORK="$(mktemp -d "${TMPDIR:-/tmp}/tpt-http-bench.XXXXXX")" || exit 1
RAW="$WORK/raw.tsv"
FAILURES="$WORK/failures.txt"
: >"$RAW"
: >"$FAILURES"
T_START="$EPOCHREALTIME"

# Every background process we start is listed here and stopped on exit.
TRACKED=()
track() { TRACKED+=("$1"); }
untrack() {
    local keep=() p
    for p in "${TRACKED[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
    TRACKED=("${keep[@]}")
}

# Whether PID runs (a zombie, exited but not yet reaped, does not).
pid_alive() {
    local st
    st="$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null)" || return 1
    [ -n "$st" ] && [ "${st%% *}" != Z ]
}
pid_gone() { ! pid_alive "$1"; }

# stop_pid PID: TERM, up to 5 s, then KILL; reaps it.
stop_pid() {
    local pid="$1" i
    if pid_alive "$pid"; then
        kill -TERM "$pid" 2>/dev/null
        for i in $(seq 1 50); do
            pid_alive "$pid" || break
            sleep 0.1
        done
        pid_alive "$pid" && kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null
    untrack "$pid"
}

cleanup() {
    local p
    trap - EXIT INT TERM
    for p in "${TRACKED[@]}"; do
        kill -TERM "$p" 2>/dev/null
    done
    for p in "${TRACKED[@]}"; do
        stop_pid "$p"
    done
    nginx_stop
    if [ -n "${BENCH_KEEP_WORK:-}" ]; then
        bench_log "kept work dir $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'bench_log "interrupted"; exit 130' INT TERM

# rec SCENARIO VARIANT SIDE ROUND METRIC VALUE
rec() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$RAW"; }

# failed SCENARIO MESSAGE [FILE...]: note a failure to run (and show the files' tails).
failed() {
    local scen="$1" msg="$2" f
    shift 2
    bench_log "FAILED $scen: $msg"
    printf '%s\t%s\n' "$scen" "$msg" >>"$FAILURES"
    for f in "$@"; do
        [ -s "$f" ] && tail -n 20 "$f" | sed 's/^/    /' >&2
    done
    return 0
}

# Value of KEY=... in a line.
field() { printf '%s\n' "$2" | grep -o "\\b$1=[^ ]*" | head -n1 | cut -d= -f2; }

# rec_csw SCENARIO VARIANT SIDE ROUND N RUSAGE_LINE: context switches per request of the
# whole process (voluntary: it waited; involuntary: it was preempted).
rec_csw() {
    local v i
    v="$(field vcsw "$6")"
    i="$(field ivcsw "$6")"
    [ -n "$v" ] && rec "$1" "$2" "$3" "$4" vcsw_per_req "$(awk -v a="$v" -v n="$5" 'BEGIN { printf "%.4f", a / n }')"
    [ -n "$i" ] && rec "$1" "$2" "$3" "$4" ivcsw_per_req "$(awk -v a="$i" -v n="$5" 'BEGIN { printf "%.4f", a / n }')"
    return 0
}

# rec_threads SCENARIO VARIANT ROUND N LINE: from bench/p1.lua's result line, the context
# switches per request of our engine thread and of the host's thread.
rec_threads() {
    local e h
    e="$(field engine_csw "$5")"
    h="$(field host_csw "$5")"
    if [ -n "$e" ] && [ "$e" -ge 0 ] 2>/dev/null; then
        rec "$1" "$2" ours "$3" engine_csw_per_req "$(awk -v a="$e" -v n="$4" 'BEGIN { printf "%.4f", a / n }')"
    fi
    if [ -n "$h" ] && [ "$h" -ge 0 ] 2>/dev/null; then
        rec "$1" "$2" ours "$3" host_csw_per_req "$(awk -v a="$h" -v n="$4" 'BEGIN { printf "%.4f", a / n }')"
    fi
    return 0
}

# run_rate SCENARIO VARIANT SIDE ROUND N PREFIX CMD...: run CMD under bench/anchors/rusage;
# record the rate from the line of its output that starts with PREFIX (its rps=), the
# whole process's CPU and context switches per request. Returns non-zero if it failed.
run_rate() {
    local scen="$1" v="$2" side="$3" round="$4" n="$5" prefix="$6" out err t line rps cpu
    shift 6
    out="$WORK/rate.out"
    err="$WORK/rate.err"
    t="$WORK/rate.rusage"
    : >"$t"
    if ! run_cmd 600 "$out" "$err" "${CLIENT[@]}" "$BENCH_OUT/rusage" "$t" "$@"; then
        failed "$scen" "$side $v round $round" "$err" "$out"
        return 1
    fi
    line="$(grep "^$prefix" "$out" | tail -n1)"
    rps="$(field rps "$line")"
    if [ -z "$rps" ]; then
        failed "$scen" "$side $v round $round printed no rate" "$out" "$err"
        return 1
    fi
    rec "$scen" "$v" "$side" "$round" rps "$rps"
    [ "$side" = ours ] && rec_threads "$scen" "$v" "$round" "$n" "$line"
    line="$(cat "$t")"
    cpu="$(awk -v u="$(field user "$line")" -v s="$(field sys "$line")" -v n="$n" \
        'BEGIN { printf "%.3f", (u + s) * 1e6 / n }')"
    rec "$scen" "$v" "$side" "$round" cpu_proc_us_per_req "$cpu"
    rec_csw "$scen" "$v" "$side" "$round" "$n" "$line"
    bench_log "$scen $v round $round $side: ${rps} req/s, ${cpu} us CPU/req, $(field vcsw "$line") + $(field ivcsw "$line") context switches"
}

# run_cmd SECONDS OUT ERR CMD...: run CMD (in the background, so that a signal to this
# script is handled at once) under timeout, stdout to OUT and stderr to ERR; returns its
# status.
run_cmd() {
    local t="$1" out="$2" err="$3" pid rc
    shift 3
    if [ "$out" = "$err" ]; then
        timeout -k 5 "$t" "$@" >"$out" 2>&1 </dev/null &
    else
        timeout -k 5 "$t" "$@" >"$out" 2>"$err" </dev/null &
    fi
    pid=$!
    track "$pid"
    wait "$pid"
    rc=$?
    untrack "$pid"
    return "$rc"
}

# Seconds elapsed since $1 (an $EPOCHREALTIME value).
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.6f", b - a }'; }

# wait_for SECONDS CMD...: poll CMD every 50 ms until it succeeds; fails on timeout.
wait_for() {
    local limit="$1" t0="$EPOCHREALTIME"
    shift
    until "$@"; do
        if awk -v a="$t0" -v b="$EPOCHREALTIME" -v l="$limit" 'BEGIN { exit !(b - a > l) }'; then
            return 1
        fi
        sleep 0.05
    done
}

# Percent of all CPUs busy over 0.5 s (from /proc/stat): how loaded the machine is by
# others while we run nothing.
cpu_busy_pct() {
    local a b
    a="$(awk '/^cpu / { t = 0; for (i = 2; i <= NF; i++) t += $i; print t, $5 + $6 }' /proc/stat)"
    sleep 0.5
    b="$(awk '/^cpu / { t = 0; for (i = 2; i <= NF; i++) t += $i; print t, $5 + $6 }' /proc/stat)"
    awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " "); t = y[1] - x[1]; i = y[2] - x[2];
        printf "%.0f", (t > 0 ? 100 * (t - i) / t : 0) }'
}

# quiet_gate SCENARIO VARIANT ROUND: before a round, sample how busy the machine is (others'
# load: nothing of ours runs then) and record it; with BENCH_QUIET_WAIT=S, first wait up
# to S seconds for it to be under BENCH_QUIET_MAX percent (default 10).
quiet_gate() {
    local b t0="$EPOCHREALTIME" waited=0
    b="$(cpu_busy_pct)"
    if [ "${BENCH_QUIET_WAIT:-0}" -gt 0 ]; then
        while [ "$b" -gt "${BENCH_QUIET_MAX:-10}" ]; do
            if awk -v a="$t0" -v b="$EPOCHREALTIME" -v l="$BENCH_QUIET_WAIT" 'BEGIN { exit !(b - a > l) }'; then
                bench_log "$1 round $3: still ${b}% busy after ${BENCH_QUIET_WAIT} s; going on"
                break
            fi
            waited=1
            sleep 1
            b="$(cpu_busy_pct)"
        done
        [ "$waited" -eq 1 ] && bench_log "$1 round $3: waited $(since "$t0") s for a quiet machine (now ${b}% busy)"
    fi
    rec "$1" "$2" machine "$3" busy_pct "$b"
}

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }

# ---------------------------------------------------------------- setup

CLIENT=()
case "${PIN:-}" in
    "") ;;
    split)
        if [ "$(nproc)" -lt 2 ]; then echo "run.sh: PIN=split needs 2 CPUs" >&2; exit 2; fi
        export NGINX_CPUS=0
        CLIENT=(taskset -c "1-$(($(nproc) - 1))")
        ;;
    same)
        export NGINX_CPUS=0
        CLIENT=(taskset -c 0)
        ;;
    *) echo "run.sh: PIN must be empty, split or same" >&2; exit 2 ;;
esac
SERVER_PIN=()
[ -n "${NGINX_CPUS:-}" ] && SERVER_PIN=(taskset -c "$NGINX_CPUS")

bench_log "mode $MODE, rounds $ROUNDS, scenarios $ONLY, work dir $WORK"

BENCH_OPTIONAL="hyperfine" bench_install || { failed setup "bench_install failed"; exit 1; }

if [ "$OURS_BUILT_BY_US" -eq 1 ]; then
    if command -v cargo >/dev/null 2>&1; then
        bench_log "cargo build --release -p tpt-http-cli"
        if ! run_cmd 3600 "$WORK/cargo.log" "$WORK/cargo.log" cargo build --release -p tpt-http-cli; then
            failed setup "cargo build --release -p tpt-http-cli failed" "$WORK/cargo.log"
            exit 1
        fi
    elif [ -x "$TPT_HTTP" ]; then
        bench_log "cargo not found; using the existing $TPT_HTTP"
    else
        failed setup "cargo not found and $TPT_HTTP missing"
        exit 1
    fi
fi
[ -x "$TPT_HTTP" ] || { failed setup "$TPT_HTTP is not executable"; exit 1; }
# What was built, and a private copy of it: a cargo build elsewhere (target/ is shared)
# must not swap the binary in the middle of the run.
BUILT_FROM="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- crates Cargo.toml Cargo.lock 2>/dev/null || echo ' + uncommitted changes in crates/')"
cp "$TPT_HTTP" "$WORK/tpt-http" || { failed setup "cannot copy $TPT_HTTP"; exit 1; }
bench_log "our side: $TPT_HTTP (built from $BUILT_FROM), run from a copy in $WORK"
TPT_HTTP="$WORK/tpt-http"
build_anchors || { failed setup "building the C anchors failed"; exit 1; }

# Open files: P3 holds N connections in one process (and the hang server N more).
ulimit -n "$(ulimit -Hn)" 2>/dev/null
NOFILE="$(ulimit -n)"
[ "$NOFILE" = unlimited ] && NOFILE=1048576
bench_log "open files limit $NOFILE"

nginx_start || { failed setup "nginx did not start"; exit 1; }
BASE="http://127.0.0.1:$NGINX_PORT"
SMALL_URL="$BASE/small"

# A fresh hang server (a new port, so no 4-tuple of an earlier run lingers); sets
# HANG_PID, HANG_URL, HANG_COUNT (the file with its accepted count).
hang_start() {
    local dir
    dir="$(mktemp -d "$WORK/hang.XXXXXX")"
    "${SERVER_PIN[@]}" "$BENCH_OUT/hang_server" "$dir/port" "$dir/count" 600 \
        </dev/null >"$dir/out" 2>"$dir/err" &
    HANG_PID=$!
    track "$HANG_PID"
    if ! wait_for 5 test -s "$dir/port"; then
        failed "$1" "hang server did not start" "$dir/err"
        stop_pid "$HANG_PID"
        return 1
    fi
    HANG_URL="http://127.0.0.1:$(cat "$dir/port")/hang"
    HANG_COUNT="$dir/count"
    HANG_ERR="$dir/err"
}
hang_accepted() { cat "$HANG_COUNT" 2>/dev/null || echo 0; }
hang_has() { [ "$(hang_accepted)" -ge "$1" ]; }

# ---------------------------------------------------------------- P1

p1() {
    local cfg k cap round side out err line rps cpu ok t
    for cfg in $P1_CONFIGS; do
        k="${cfg%%:*}"
        cap="${cfg##*:}"
        local v="K=$k cap=$cap"
        bench_log "P1 $v: N=$N_P1, $ROUNDS rounds"
        for round in $(seq 1 "$ROUNDS"); do
            quiet_gate P1 "$v" "$round"
            local order=(curl_multi ours)
            [ $((round % 2)) -eq 0 ] && order=(ours curl_multi)
            for side in "${order[@]}" wrk; do
                out="$WORK/p1.out"
                err="$WORK/p1.err"
                t="$WORK/p1.rusage"
                : >"$t"
                case "$side" in
                    curl_multi)
                        if ! run_cmd 300 "$out" "$err" "${CLIENT[@]}" "$BENCH_OUT/rusage" "$t" \
                            "$BENCH_OUT/curl_multi" "$SMALL_URL" "$N_P1" "$k" "$cap"; then
                            failed P1 "curl_multi $v round $round" "$err" "$out"
                            continue
                        fi
                        line="$(grep '^curl_multi requests=' "$out" | tail -n1)"
                        rps="$(field rps "$line")"
                        # The anchor's own getrusage (after its last request).
                        cpu="$(awk -v u="$(field user_cpu "$line")" -v s="$(field sys_cpu "$line")" \
                            -v n="$N_P1" 'BEGIN { printf "%.3f", (u + s) * 1e6 / n }')"
                        ;;
                    ours)
                        if ! run_cmd 300 "$out" "$err" "${CLIENT[@]}" "$BENCH_OUT/rusage" "$t" \
                            "$TPT_HTTP" run --fps 0 --allow-http --max-host-connections "$cap" \
                            bench/p1.lua "$SMALL_URL" "$N_P1" "$k"; then
                            failed P1 "ours $v round $round" "$err" "$out"
                            continue
                        fi
                        line="$(grep '^tpt_http requests=' "$out" | tail -n1)"
                        rps="$(field rps "$line")"
                        cpu=""
                        rec_threads P1 "$v" "$round" "$N_P1" "$line"
                        ;;
                    wrk)
                        if ! run_cmd 60 "$out" "$err" "${CLIENT[@]}" wrk -t1 -c "$k" -d "${WRK_SECONDS}s" "$SMALL_URL"; then
                            failed P1 "wrk $v round $round" "$err" "$out"
                            continue
                        fi
                        if grep -q 'Non-2xx\|Socket errors' "$out"; then
                            failed P1 "wrk $v round $round: errors" "$out"
                            continue
                        fi
                        rps="$(awk '/^Requests\/sec:/ { print $2 }' "$out")"
                        cpu=""
                        ;;
                esac
                # Whole-process user+sys (wait4 rusage, microseconds) per request.
                if [ -s "$t" ]; then
                    line="$(cat "$t")"
                    local proc
                    proc="$(awk -v u="$(field user "$line")" -v s="$(field sys "$line")" \
                        -v n="$N_P1" 'BEGIN { printf "%.3f", (u + s) * 1e6 / n }')"
                    rec P1 "$v" "$side" "$round" cpu_proc_us_per_req "$proc"
                    rec_csw P1 "$v" "$side" "$round" "$N_P1" "$line"
                    # Ours has no in-process figure: the whole process is its CPU.
                    [ "$side" = ours ] && cpu="$proc"
                fi
                if [ -z "$rps" ]; then
                    failed P1 "$side $v round $round printed no rate" "$out" "$err"
                    continue
                fi
                rec P1 "$v" "$side" "$round" rps "$rps"
                [ -n "$cpu" ] && rec P1 "$v" "$side" "$round" cpu_us_per_req "$cpu"
                bench_log "P1 $v round $round $side: ${rps} req/s${cpu:+, ${cpu} us CPU/req}"
            done
        done
    done
}

# ---------------------------------------------------------------- P2

p2() {
    local round out err line
    if [ "$NOFILE" -lt $((N_P2 + 64)) ]; then
        failed P2 "open files limit $NOFILE is below N=$N_P2 + 64"
        return
    fi
    bench_log "P2: status() over N=$N_P2 running requests, $P2_TICKS ticks, $ROUNDS rounds"
    for round in $(seq 1 "$ROUNDS"); do
        quiet_gate P2 "N=$N_P2" "$round"
        hang_start P2 || continue
        out="$WORK/p2.out"
        err="$WORK/p2.err"
        if ! run_cmd 120 "$out" "$err" "${CLIENT[@]}" "$TPT_HTTP" run --fps 60 --allow-http \
            --max-host-connections "$N_P2" bench/p2.lua "$HANG_URL" "$N_P2" "$P2_TICKS"; then
            failed P2 "ours round $round" "$err" "$out" "$HANG_ERR"
            stop_pid "$HANG_PID"
            continue
        fi
        line="$(grep '^tpt_http p2 ' "$out" | tail -n1)"
        if [ -z "$line" ]; then
            failed P2 "ours round $round printed no result" "$out" "$err"
        else
            rec P2 "N=$N_P2" ours "$round" ms_per_tick "$(field median_ms "$line")"
            rec P2 "N=$N_P2" ours "$round" max_ms_per_tick "$(field max_ms "$line")"
            rec P2 "N=$N_P2" ours "$round" connected "$(hang_accepted)"
            bench_log "P2 round $round: median $(field median_ms "$line") ms/tick, max $(field max_ms "$line") ms, server accepted $(hang_accepted)"
        fi
        stop_pid "$HANG_PID"
    done
}

# ---------------------------------------------------------------- P3

# p3_measure SIDE N ROUND: sets P3_RSS to the settled VmRSS (KiB) of SIDE holding N
# requests. (Not run in a $(...) subshell: the processes it starts must stay tracked.)
p3_measure() {
    local side="$1" n="$2" round="$3" out err pid rss="" prev stable i
    P3_RSS=""
    out="$WORK/p3.$side.$n.out"
    err="$WORK/p3.$side.$n.err"
    hang_start P3 || return 1
    : >"$out"
    case "$side" in
        ours)
            "${CLIENT[@]}" "$TPT_HTTP" run --fps 60 --allow-http --max-host-connections "$((n > 0 ? n : 1))" \
                bench/p3.lua "$HANG_URL" "$n" 300 </dev/null >"$out" 2>"$err" &
            ;;
        curl_multi)
            "${CLIENT[@]}" "$BENCH_OUT/curl_hold" "$HANG_URL" "$n" </dev/null >"$out" 2>"$err" &
            ;;
    esac
    pid=$!
    track "$pid"
    local ok=1
    if ! wait_for 30 grep -q '^ready' "$out"; then
        failed P3 "$side N=$n round $round: no 'ready'" "$out" "$err"
        ok=0
    elif ! wait_for 60 hang_has "$n"; then
        failed P3 "$side N=$n round $round: server accepted only $(hang_accepted) connections" "$out" "$err" "$HANG_ERR"
        ok=0
    fi
    if [ "$ok" -eq 1 ]; then
        # Settle: VmRSS unchanged (within 0.2%) over 3 reads 200 ms apart, at most 10 s.
        prev="$(rss_kib "$pid")"
        stable=0
        for i in $(seq 1 50); do
            sleep 0.2
            rss="$(rss_kib "$pid")"
            if [ -z "$rss" ]; then
                break
            fi
            if awk -v a="$prev" -v b="$rss" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= a * 0.002) }'; then
                stable=$((stable + 1))
                [ "$stable" -ge 3 ] && break
            else
                stable=0
            fi
            prev="$rss"
        done
        if [ -z "$rss" ] || ! pid_alive "$pid" || grep -q 'error' "$out"; then
            failed P3 "$side N=$n round $round: the process ended or reported an error" "$out" "$err"
            ok=0
        fi
    fi
    stop_pid "$pid"
    stop_pid "$HANG_PID"
    [ "$ok" -eq 1 ] || return 1
    P3_RSS="$rss"
}

p3() {
    local round side n base rss per max=0
    for n in $P3_SIZES; do [ "$n" -gt "$max" ] && max="$n"; done
    if [ "$NOFILE" -lt $((max + 64)) ]; then
        failed P3 "open files limit $NOFILE is below N=$max + 64"
        return
    fi
    bench_log "P3: RSS per open request, N in {$P3_SIZES}, $ROUNDS rounds"
    for round in $(seq 1 "$ROUNDS"); do
        quiet_gate P3 all "$round"
        local order=(curl_multi ours)
        [ $((round % 2)) -eq 0 ] && order=(ours curl_multi)
        for side in "${order[@]}"; do
            p3_measure "$side" 0 "$round" || continue
            base="$P3_RSS"
            rec P3 "N=0" "$side" "$round" rss_kib "$base"
            for n in $P3_SIZES; do
                p3_measure "$side" "$n" "$round" || continue
                rss="$P3_RSS"
                per="$(awk -v r="$rss" -v b="$base" -v n="$n" 'BEGIN { printf "%.3f", (r - b) / n }')"
                rec P3 "N=$n" "$side" "$round" rss_kib "$rss"
                rec P3 "N=$n" "$side" "$round" kib_per_req "$per"
                bench_log "P3 round $round $side N=$n: VmRSS $rss KiB (baseline $base) -> $per KiB/request"
            done
        done
    done
}

# ---------------------------------------------------------------- P4

size_bytes() {
    case "$1" in
        *K) echo $((${1%K} * 1024)) ;;
        *M) echo $((${1%M} * 1048576)) ;;
        *G) echo $((${1%G} * 1073741824)) ;;
        *) echo "$1" ;;
    esac
}

p4() {
    local size bytes url round side out err t t0 wall got rate peak
    for size in $P4_SIZES; do
        bytes="$(size_bytes "$size")"
        # A sparse file: nginx serves zeros without the disk.
        truncate -s "$bytes" "$NGINX_RUNDIR/www/p4_$size" || { failed P4 "cannot create the $size file"; continue; }
        url="$BASE/p4_$size"
        bench_log "P4 $size: $ROUNDS rounds"
        for round in $(seq 1 "$ROUNDS"); do
            quiet_gate P4 "$size" "$round"
            local order=(curl_cli ours)
            [ $((round % 2)) -eq 0 ] && order=(ours curl_cli)
            for side in "${order[@]}"; do
                out="$WORK/p4.out"
                err="$WORK/p4.err"
                t="$WORK/p4.time"
                t0="$EPOCHREALTIME"
                case "$side" in
                    curl_cli)
                        run_cmd 300 "$out" "$err" "${CLIENT[@]}" /usr/bin/time -f '%e %U %S %M' -o "$t" \
                            curl -s -o /dev/null -w 'bytes=%{size_download} code=%{http_code}\n' "$url"
                        ;;
                    ours)
                        run_cmd 300 "$out" "$err" "${CLIENT[@]}" /usr/bin/time -f '%e %U %S %M' -o "$t" \
                            "$TPT_HTTP" run --fps 0 --allow-http bench/p4.lua "$url"
                        ;;
                esac
                local rc=$?
                wall="$(since "$t0")"
                got="$(field bytes "$(grep 'bytes=' "$out" | tail -n1)")"
                if [ "$rc" -ne 0 ] || [ "$got" != "$bytes" ]; then
                    failed P4 "$side $size round $round: exit $rc, got ${got:-no} bytes of $bytes" "$out" "$err"
                    continue
                fi
                peak="$(awk 'NF >= 4 { print $4 }' "$t")"
                rate="$(awk -v b="$bytes" -v w="$wall" 'BEGIN { printf "%.1f", b / w / 1048576 }')"
                rec P4 "$size" "$side" "$round" mib_per_s "$rate"
                rec P4 "$size" "$side" "$round" wall_s "$wall"
                rec P4 "$size" "$side" "$round" peak_rss_kib "$peak"
                rec P4 "$size" "$side" "$round" peak_rss_per_body "$(awk -v p="$peak" -v b="$bytes" 'BEGIN { printf "%.4f", p * 1024 / b }')"
                bench_log "P4 $size round $round $side: $rate MiB/s (${wall} s), peak RSS $peak KiB"
            done
        done
        rm -f "$NGINX_RUNDIR/www/p4_$size"
    done
}

# ---------------------------------------------------------------- P5

# p5_loop RUNS CMD...: 2 warm-up runs, then RUNS timed runs; sets P5_MS to the median
# wall time in ms.
p5_loop() {
    local runs="$1" i t0 times=()
    shift
    P5_MS=""
    for i in 1 2; do
        run_cmd 60 "$WORK/p5.out" "$WORK/p5.err" "$@" || return 1
    done
    for i in $(seq 1 "$runs"); do
        t0="$EPOCHREALTIME"
        run_cmd 60 "$WORK/p5.out" "$WORK/p5.err" "$@" || return 1
        times+=("$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.6f", (b - a) * 1000 }')")
    done
    P5_MS="$(printf '%s\n' "${times[@]}" | sort -g | awk '{ v[NR] = $1 } END {
        if (NR % 2) printf "%.3f\n", v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }')"
}

p5() {
    local round side ms how
    local curl_cmd=("${CLIENT[@]}" curl -s -f -o /dev/null "$SMALL_URL")
    local ours_cmd=("${CLIENT[@]}" "$TPT_HTTP" run --fps 0 --allow-http bench/p5.lua "$SMALL_URL")
    local ours60_cmd=("${CLIENT[@]}" "$TPT_HTTP" run --fps 60 --allow-http bench/p5.lua "$SMALL_URL")
    if [ "${P5_TOOL:-}" != loop ] && command -v hyperfine >/dev/null 2>&1; then how=hyperfine; else how=loop; fi
    bench_log "P5: one request, whole process, $P5_RUNS runs per round with $how, $ROUNDS rounds"
    P5_METHOD="$how"
    for round in $(seq 1 "$ROUNDS"); do
        quiet_gate P5 "one GET" "$round"
        if [ "$how" = hyperfine ]; then
            local json="$WORK/p5.json"
            local a b
            a="$(printf '%q ' "${curl_cmd[@]}")"
            b="$(printf '%q ' "${ours_cmd[@]}")"
            local c
            c="$(printf '%q ' "${ours60_cmd[@]}")"
            local cmds=("$a" "$b" "$c")
            [ $((round % 2)) -eq 0 ] && cmds=("$b" "$a" "$c")
            if ! run_cmd 300 "$WORK/p5.out" "$WORK/p5.err" hyperfine -N --style none --warmup 2 \
                --runs "$P5_RUNS" --export-json "$json" "${cmds[@]}"; then
                failed P5 "hyperfine round $round" "$WORK/p5.err" "$WORK/p5.out"
                continue
            fi
            # command -> median ms
            while IFS=$'\t' read -r cmd ms; do
                case "$cmd" in
                    *"--fps 60"*) side=ours_fps60 ;;
                    *tpt-http*) side=ours ;;
                    *) side=curl_cli ;;
                esac
                rec P5 "one GET" "$side" "$round" wall_ms "$ms"
                bench_log "P5 round $round $side: median $ms ms"
            done < <(python3 -c '
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    print("%s\t%.3f" % (r["command"], r["median"] * 1000))' "$json")
        else
            local order=(curl_cli ours ours_fps60)
            [ $((round % 2)) -eq 0 ] && order=(ours curl_cli ours_fps60)
            for side in "${order[@]}"; do
                case "$side" in
                    curl_cli) p5_loop "$P5_RUNS" "${curl_cmd[@]}" ;;
                    ours) p5_loop "$P5_RUNS" "${ours_cmd[@]}" ;;
                    ours_fps60) p5_loop "$P5_RUNS" "${ours60_cmd[@]}" ;;
                esac
                ms="$P5_MS"
                if [ -z "$ms" ]; then
                    failed P5 "$side round $round" "$WORK/p5.err" "$WORK/p5.out"
                    continue
                fi
                rec P5 "one GET" "$side" "$round" wall_ms "$ms"
                bench_log "P5 round $round $side: median $ms ms"
            done
        fi
    done
}

# ---------------------------------------------------------------- P6

# Context switches (voluntary + involuntary) of thread TID of PID.
ctxt() {
    awk '/^voluntary_ctxt_switches:/ { v = $2 } /^nonvoluntary_ctxt_switches:/ { n = $2 }
        END { if (v == "") exit 1; print v + n }' "/proc/$1/task/$2/status" 2>/dev/null
}

p6() {
    local round out err pid tid task main e0 e1 m0 m1
    bench_log "P6: engine thread context switches over ${P6_IDLE} s idle at 60 fps, $ROUNDS rounds"
    for round in $(seq 1 "$ROUNDS"); do
        quiet_gate P6 "idle ${P6_IDLE}s" "$round"
        out="$WORK/p6.out"
        err="$WORK/p6.err"
        : >"$out"
        "${CLIENT[@]}" "$TPT_HTTP" run --fps 60 --allow-http bench/p6.lua "$SMALL_URL" "$P6_IDLE" \
            </dev/null >"$out" 2>"$err" &
        pid=$!
        track "$pid"
        if ! wait_for 10 grep -q '^idle' "$out"; then
            failed P6 "round $round: no 'idle'" "$out" "$err"
            stop_pid "$pid"
            continue
        fi
        sleep 0.2
        tid=""
        for task in /proc/"$pid"/task/*; do
            if [ "$(cat "$task/comm" 2>/dev/null)" = tpt-http-engine ]; then
                tid="${task##*/}"
            fi
        done
        main="$pid"
        if [ -z "$tid" ]; then
            failed P6 "round $round: no thread named tpt-http-engine in $pid"
            stop_pid "$pid"
            continue
        fi
        e0="$(ctxt "$pid" "$tid")"
        m0="$(ctxt "$pid" "$main")"
        sleep "$P6_IDLE"
        e1="$(ctxt "$pid" "$tid")"
        m1="$(ctxt "$pid" "$main")"
        if [ -z "$e0" ] || [ -z "$e1" ]; then
            failed P6 "round $round: could not read the engine thread's status" "$out" "$err"
            stop_pid "$pid"
            continue
        fi
        rec P6 "idle ${P6_IDLE}s" ours "$round" engine_ctxt_switches "$((e1 - e0))"
        rec P6 "idle ${P6_IDLE}s" ours "$round" main_ctxt_switches "$((m1 - m0))"
        bench_log "P6 round $round: engine thread $((e1 - e0)) context switches, main thread $((m1 - m0)) in ${P6_IDLE} s"
        # The script exits by itself one second after the window.
        if ! wait_for $((P6_IDLE + 10)) pid_gone "$pid"; then
            failed P6 "round $round: the script did not exit" "$out" "$err"
        fi
        stop_pid "$pid"
    done
}

# ---------------------------------------------------------------- P7

p7() {
    local variant label port ver close n round side
    for variant in h2 h1 new; do
        case "$variant" in
            h2) label="h2 keep-alive K=$P7_K" port="$NGINX_TLS_PORT" ver=2 close="" n="$N_P7" ;;
            h1) label="HTTP/1.1 keep-alive K=$P7_K" port="$NGINX_TLS1_PORT" ver=1.1 close="" n="$N_P7" ;;
            new) label="HTTP/1.1 new connection K=$P7_K" port="$NGINX_TLS1_PORT" ver=1.1 close=close n="$N_P7_NEW" ;;
        esac
        local url="https://127.0.0.1:$port/small"
        bench_log "P7 $label: N=$n, $ROUNDS rounds"
        for round in $(seq 1 "$ROUNDS"); do
            quiet_gate P7 "$label" "$round"
            local order=(curl_multi ours)
            [ $((round % 2)) -eq 0 ] && order=(ours curl_multi)
            for side in "${order[@]}"; do
                case "$side" in
                    curl_multi)
                        run_rate P7 "$label" curl_multi "$round" "$n" "curl_multi " \
                            env CURL_MULTI_CAINFO="$NGINX_CA" CURL_MULTI_HTTP="$ver" \
                            CURL_MULTI_FRESH="$([ -n "$close" ] && echo 1 || echo 0)" \
                            "$BENCH_OUT/curl_multi" "$url" "$n" "$P7_K" "$P7_K"
                        ;;
                    ours)
                        # shellcheck disable=SC2086 # $close is empty or one word
                        run_rate P7 "$label" ours "$round" "$n" tpt_http \
                            "$TPT_HTTP" run --fps 0 --ca-file "$NGINX_CA" --max-host-connections "$P7_K" \
                            bench/p1.lua "$url" "$n" "$P7_K" $close
                        ;;
                esac
            done
        done
    done
}

# ---------------------------------------------------------------- P8

p8() {
    local k round side v
    for k in $P8_CONFIGS; do
        v="K=$k"
        bench_log "P8 $v: N=$N_P8, $ROUNDS rounds"
        for round in $(seq 1 "$ROUNDS"); do
            quiet_gate P8 "$v" "$round"
            local order=(luahttp_new luahttp_reuse ours)
            [ $((round % 2)) -eq 0 ] && order=(ours luahttp_reuse luahttp_new)
            for side in "${order[@]}"; do
                case "$side" in
                    luahttp_new | luahttp_reuse)
                        run_rate P8 "$v" "$side" "$round" "$N_P8" luahttp \
                            lua5.1 bench/luahttp.lua "$SMALL_URL" "$N_P8" "$k" "${side#luahttp_}"
                        ;;
                    ours)
                        run_rate P8 "$v" ours "$round" "$N_P8" tpt_http \
                            "$TPT_HTTP" run --fps 0 --allow-http --max-host-connections "$k" \
                            bench/p1.lua "$SMALL_URL" "$N_P8" "$k"
                        ;;
                esac
            done
        done
    done
}

# ---------------------------------------------------------------- P9

# p9_instr SIDE K N: instructions (callgrind's Ir, every thread) for N requests; sets P9_IR.
p9_instr() {
    local side="$1" k="$2" n="$3" out="$WORK/p9.out" err="$WORK/p9.err"
    P9_IR=""
    local cmd
    case "$side" in
        ours) cmd=("$TPT_HTTP" run --fps 0 --allow-http --max-host-connections "$k" bench/p1.lua "$SMALL_URL" "$n" "$k") ;;
        curl_multi) cmd=("$BENCH_OUT/curl_multi" "$SMALL_URL" "$n" "$k" "$k") ;;
    esac
    if ! run_cmd 600 "$out" "$err" "${CLIENT[@]}" valgrind --tool=callgrind \
        --callgrind-out-file="$WORK/callgrind.%p" "${cmd[@]}"; then
        failed P9 "$side K=$k N=$n under callgrind" "$err" "$out"
        return 1
    fi
    rm -f "$WORK"/callgrind.*
    P9_IR="$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$err" | tail -n1)"
    if [ -z "$P9_IR" ]; then
        failed P9 "$side K=$k N=$n: no instruction count" "$err"
        return 1
    fi
}

p9() {
    local n1 n2 k round side ir1 ir2 per
    read -r n1 n2 <<<"$P9_N"
    if ! command -v valgrind >/dev/null 2>&1; then
        failed P9 "valgrind not found"
        return
    fi
    for k in $P9_CONFIGS; do
        local v="K=$k"
        bench_log "P9 $v: callgrind, N=$n1 and $n2, $P9_ROUNDS rounds"
        for round in $(seq 1 "$P9_ROUNDS"); do
            local order=(curl_multi ours)
            [ $((round % 2)) -eq 0 ] && order=(ours curl_multi)
            for side in "${order[@]}"; do
                p9_instr "$side" "$k" "$n1" || continue
                ir1="$P9_IR"
                p9_instr "$side" "$k" "$n2" || continue
                ir2="$P9_IR"
                per="$(awk -v a="$ir1" -v b="$ir2" -v n1="$n1" -v n2="$n2" 'BEGIN { printf "%.0f", (b - a) / (n2 - n1) }')"
                rec P9 "$v" "$side" "$round" instr_per_req "$per"
                rec P9 "$v" "$side" "$round" instr_startup "$(awk -v a="$ir1" -v p="$per" -v n1="$n1" 'BEGIN { printf "%.0f", a - p * n1 }')"
                bench_log "P9 $v round $round $side: $per instructions per request"
            done
        done
    done
}

# ---------------------------------------------------------------- run

for s in P1 P2 P3 P4 P5 P6 P7 P8 P9; do
    if want "$s"; then
        ts="$EPOCHREALTIME"
        "$(printf '%s' "$s" | tr 'P' 'p')"
        bench_log "$s took $(since "$ts") s"
    fi
done

nginx_stop

# ---------------------------------------------------------------- report

mkdir -p "$BENCH_RESULTS"
META="$WORK/meta.txt"
{
    echo "mode=$MODE"
    echo "rounds=$ROUNDS"
    echo "scenarios=$ONLY"
    echo "command=$COMMAND_LINE"
    echo "p5_method=${P5_METHOD:-}"
    echo "n_p1=$N_P1"
    echo "p1_configs=$P1_CONFIGS"
    echo "wrk_seconds=$WRK_SECONDS"
    echo "n_p2=$N_P2"
    echo "p2_ticks=$P2_TICKS"
    echo "p3_sizes=$P3_SIZES"
    echo "p4_sizes=$P4_SIZES"
    echo "p5_runs=$P5_RUNS"
    echo "p6_idle=$P6_IDLE"
    echo "n_p7=$N_P7"
    echo "n_p7_new=$N_P7_NEW"
    echo "p7_k=$P7_K"
    echo "n_p8=$N_P8"
    echo "p8_configs=$P8_CONFIGS"
    echo "p9_n=$P9_N"
    echo "p9_configs=$P9_CONFIGS"
    echo "p9_rounds=$P9_ROUNDS"
    echo "openssl=$(openssl version 2>/dev/null | cut -d' ' -f1-2)"
    echo "lua_http=$(dpkg-query -W -f='lua-http ${Version}, lua-cqueues ' lua-http 2>/dev/null)$(dpkg-query -W -f='${Version}' lua-cqueues 2>/dev/null)"
    echo "valgrind=$(valgrind --version 2>/dev/null || echo none)"
    echo "pin=${PIN:-}"
    echo "nproc=$(nproc)"
    echo "cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
    echo "kernel=$(uname -sr)"
    echo "mem=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
    echo "os=$(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")"
    echo "nginx=$("$(_bench_nginx_bin)" -v 2>&1 | sed 's/^nginx version: //')"
    echo "curl=$(curl --version | head -n1 | cut -d' ' -f1-4)"
    echo "wrk=$(wrk -v 2>&1 | head -n1 | cut -d' ' -f1-2)"
    echo "hyperfine=$(hyperfine --version 2>/dev/null || echo none)"
    echo "rustc=$(rustc --version 2>/dev/null || echo unknown)"
    echo "commit=$BUILT_FROM"
    echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "duration_s=$(since "$T_START")"
    echo "nofile=$NOFILE"
    echo "quiet_wait=${BENCH_QUIET_WAIT:-0}"
} >"$META"

cp "$RAW" "$BENCH_RESULTS/latest.tsv"
if ! python3 "$BENCH_DIR/report.py" "$RAW" "$META" "$FAILURES" \
    "$BENCH_RESULTS/latest.md" "$BENCH_RESULTS/chart.svg"; then
    failed report "bench/report.py failed"
fi

if [ -s "$FAILURES" ]; then
    bench_log "some runs failed:"
    sed 's/^/    /' "$FAILURES" >&2
    exit 1
fi
bench_log "done in $(since "$T_START") s; results in $BENCH_RESULTS"
exit 0
}
