#!/usr/bin/env bash
# P1: N small GETs (100-byte body), K in flight, against a local nginx.
#
# Runs wrk once as the server's ceiling, then R rounds alternating the libcurl
# multi anchor (bench/anchors/curl_multi.c) and our side
# ($TPT_HTTP run --fps 0 --allow-http --max-host-connections MAX_HOST bench/p1.lua URL N K),
# and prints the
# median rps of each and the ratio ours / curl_multi.
#
# Environment:
#   N=20000        requests per run
#   K=16           requests in flight
#   R=3            rounds
#   MAX_HOST=K     CURLMOPT_MAX_HOST_CONNECTIONS for the curl_multi anchor
#   WRK_SECONDS=3  duration of the wrk run
#   TPT_HTTP=target/release/tpt-http   our CLI (relative to the repo root)
#   BENCH_TIMEOUT=600  seconds before one run of our side is given up on
#   BENCH_OUT=bench/target  where the anchors are built
#   PIN=           CPU pinning (needs taskset): empty = none (default);
#                  "split" = nginx on CPU 0, every client on the other CPUs;
#                  "same" = nginx and clients all on CPU 0.
set -euo pipefail

# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$BENCH_REPO"

N="${N:-20000}"
K="${K:-16}"
R="${R:-3}"
MAX_HOST="${MAX_HOST:-$K}"
WRK_SECONDS="${WRK_SECONDS:-3}"
TPT_HTTP="${TPT_HTTP:-target/release/tpt-http}"
BENCH_TIMEOUT="${BENCH_TIMEOUT:-600}"
PIN="${PIN:-}"

client=()
case "$PIN" in
    "") ;;
    split)
        ncpu="$(nproc)"
        if [ "$ncpu" -lt 2 ]; then
            bench_log "PIN=split needs at least 2 CPUs (have $ncpu)"
            exit 2
        fi
        export NGINX_CPUS=0
        client=(taskset -c "1-$((ncpu - 1))")
        ;;
    same)
        export NGINX_CPUS=0
        client=(taskset -c 0)
        ;;
    *)
        bench_log "PIN must be empty, split or same (got: $PIN)"
        exit 2
        ;;
esac

bench_install
build_anchors

have_ours=1
if [ ! -x "$TPT_HTTP" ]; then
    have_ours=0
    bench_log "$TPT_HTTP not found (build it with: cargo build --release -p tpt-http-cli); running the anchors only"
fi

nginx_start
trap nginx_stop EXIT
trap 'exit 130' INT TERM

URL="http://127.0.0.1:$NGINX_PORT/small"

# Print the value of KEY=... from a result line.
field() { printf '%s\n' "$2" | grep -o "\\b$1=[^ ]*" | head -n1 | cut -d= -f2; }

# Median of the numbers given as arguments.
median() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "-"; exit }
        if (NR % 2) printf "%.1f\n", v[(NR + 1) / 2]
        else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

echo "P1: N=$N small GETs, K=$K in flight, R=$R rounds, $URL${PIN:+, PIN=$PIN}"

# Server ceiling.
wrk_out="$("${client[@]}" wrk -t1 -c "$K" -d "${WRK_SECONDS}s" "$URL")"
wrk_rps="$(printf '%s\n' "$wrk_out" | awk '/^Requests\/sec:/ { print $2 }')"
if printf '%s\n' "$wrk_out" | grep -q 'Non-2xx'; then
    printf '%s\n' "$wrk_out" >&2
    bench_log "wrk saw non-2xx responses"
    exit 1
fi
echo "wrk -t1 -c $K -d ${WRK_SECONDS}s: rps=$wrk_rps"

curl_rps=()
ours_rps=()
for round in $(seq 1 "$R"); do
    line="$("${client[@]}" "$BENCH_OUT/curl_multi" "$URL" "$N" "$K" "$MAX_HOST")" || {
        bench_log "curl_multi failed in round $round"
        exit 1
    }
    echo "round $round: $line"
    curl_rps+=("$(field rps "$line")")

    if [ "$have_ours" -eq 1 ]; then
        out="$("${client[@]}" timeout --foreground "$BENCH_TIMEOUT" "$TPT_HTTP" run --fps 0 --allow-http --max-host-connections "$MAX_HOST" bench/p1.lua "$URL" "$N" "$K")" || {
            rc=$?
            printf '%s\n' "$out" >&2
            bench_log "our side failed in round $round (exit $rc)"
            exit 1
        }
        line="$(printf '%s\n' "$out" | grep '^tpt_http requests=' | tail -n1)"
        if [ -z "$line" ]; then
            printf '%s\n' "$out" >&2
            bench_log "our side printed no result line in round $round"
            exit 1
        fi
        echo "round $round: $line"
        ours_rps+=("$(field rps "$line")")
    fi
done

curl_med="$(median "${curl_rps[@]}")"
echo
printf '%-24s %12s  %s\n' "side" "median_rps" "runs"
printf '%-24s %12s  %s\n' "wrk (server ceiling)" "$wrk_rps" "1 x ${WRK_SECONDS}s"
printf '%-24s %12s  %s\n' "curl_multi (max_host=$MAX_HOST)" "$curl_med" "${curl_rps[*]}"
if [ "$have_ours" -eq 1 ]; then
    ours_med="$(median "${ours_rps[@]}")"
    printf '%-24s %12s  %s\n' "tpt_http" "$ours_med" "${ours_rps[*]}"
    ratio="$(awk -v a="$ours_med" -v b="$curl_med" 'BEGIN { printf "%.3f", a / b }')"
    echo
    echo "ratio ours/curl_multi = $ratio  (> 1 means tpt_http is faster)"
else
    printf '%-24s %12s  %s\n' "tpt_http" "-" "not run: $TPT_HTTP missing"
    echo
    echo "ratio ours/curl_multi = n/a (our side not run: $TPT_HTTP missing)"
fi
