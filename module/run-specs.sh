#!/usr/bin/env bash
# Build the native module for Lua 5.1, Lua 5.4 and LuaJIT and run the busted specs
# (module/spec/tpt_http_spec.lua) under each interpreter against loopback servers.
#
#   bash module/run-specs.sh            # all three interpreters
#   bash module/run-specs.sh lua5.4     # only some (lua5.1, lua5.4, luajit)
#   TPT_HTTP_VALGRIND=1 bash module/run-specs.sh   # also the finalizer-order cases under valgrind
#
# Installs lua5.1, lua5.4, luajit and lua-busted with apt-get when they are missing (as root, or
# through sudo). A missing interpreter is skipped, unless CI is set: then it fails the run.
# Exit status: 0 when every spec passed under every interpreter run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
started=$(date +%s)

all=(lua5.1 lua5.4 luajit)
wanted=("$@")
[ "${#wanted[@]}" -gt 0 ] || wanted=("${all[@]}")
ci=false
case "${CI:-}" in "" | 0 | false | no) ;; *) ci=true ;; esac

feature_of() {
    case "$1" in
        lua5.1) echo lua51 ;;
        lua5.4) echo lua54 ;;
        luajit) echo luajit ;;
        *) echo "run-specs: unknown interpreter '$1' (use lua5.1, lua5.4 or luajit)" >&2; exit 2 ;;
    esac
}
for lua in "${wanted[@]}"; do feature_of "$lua" >/dev/null; done

# What the specs need from Debian: the interpreters and busted (it brings lua-system).
missing=()
for lua in "${wanted[@]}"; do
    command -v "$lua" >/dev/null 2>&1 || missing+=("$lua")
done
command -v busted >/dev/null 2>&1 || missing+=(lua-busted)
if [ "${#missing[@]}" -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    if [ -z "$SUDO" ] || command -v sudo >/dev/null 2>&1; then
        echo "run-specs: installing ${missing[*]}"
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
            "${missing[@]}" >/dev/null
    else
        echo "run-specs: missing ${missing[*]} and cannot install them (not root, no sudo)" >&2
    fi
fi
busted=$(command -v busted || true)
if [ -z "$busted" ]; then
    echo "run-specs: busted is not installed (Debian package lua-busted)" >&2
    exit 1
fi

tmp=$(mktemp -d)
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then
        exec {server_in}>&- 2>/dev/null || true # closing its stdin stops the server
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

echo "run-specs: building the test server"
cargo build --quiet --release -p tpt-http-module-testserver
coproc SERVER { exec target/release/tpt-http-module-testserver "$tmp/ca.pem"; }
server_pid=$SERVER_PID server_out=${SERVER[0]} server_in=${SERVER[1]}
read -r -t 30 line <&"$server_out" || { echo "run-specs: the test server did not start" >&2; exit 1; }
for kv in $line; do
    case "$kv" in
        HTTP=*) export TPT_HTTP_TEST_HTTP=${kv#HTTP=} ;;
        HTTPS=*) export TPT_HTTP_TEST_HTTPS=${kv#HTTPS=} ;;
        SILENT=*) export TPT_HTTP_TEST_SILENT=${kv#SILENT=} ;;
        CA=*) export TPT_HTTP_TEST_CA=${kv#CA=} ;;
    esac
done
echo "run-specs: servers $TPT_HTTP_TEST_HTTP $TPT_HTTP_TEST_HTTPS"
# The specs talk to loopback servers: no proxy from the environment.
unset http_proxy https_proxy all_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY no_proxy NO_PROXY

# Run busted under $lua on SPEC... with the module built for $feature (child interpreters the
# specs start are CHILD), log to LOG, and add its summary to the totals under LABEL.
run_busted() {
    local label=$1 log=$2 child=$3 rc counts ok bad err
    shift 3
    set +e
    LUA_CPATH="$tmp/$feature/?.so;;" LUA_CPATH_5_4="$tmp/$feature/?.so;;" TPT_HTTP_LUA="$child" \
        "$lua" "$busted" --output=plainTerminal "$@" {server_out}<&- {server_in}>&- 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    set -e
    # busted's summary: "N successes / N failures / N errors / N pending : T seconds"
    counts=$(grep -E '^[0-9]+ successes? / [0-9]+ failures? / [0-9]+ errors? / [0-9]+ pending' "$log" | tail -n 1 || true)
    if [ -z "$counts" ]; then
        echo "run-specs: $label: busted printed no summary (exit $rc)" >&2
        summary+=("$label: no summary (busted exit $rc)")
        failed=$((failed + 1))
        status=1
        return
    fi
    read -r ok _ _ bad _ _ err _ <<<"$counts"
    passed=$((passed + ok))
    failed=$((failed + bad + err))
    summary+=("$label: $counts")
    if [ "$rc" -ne 0 ] || [ "$bad" -ne 0 ] || [ "$err" -ne 0 ]; then
        status=1
    fi
}

passed=0
failed=0
status=0
summary=()
for lua in "${wanted[@]}"; do
    if ! command -v "$lua" >/dev/null 2>&1; then
        if $ci; then
            echo "run-specs: $lua is missing (CI is set: that is a failure)" >&2
            summary+=("$lua: MISSING")
            failed=$((failed + 1))
            status=1
        else
            echo "run-specs: $lua is missing, skipped" >&2
            summary+=("$lua: skipped (not installed)")
        fi
        continue
    fi
    feature=$(feature_of "$lua")
    echo "run-specs: cargo build --release --manifest-path module/Cargo.toml --features $feature"
    cargo build --quiet --release --features "$feature"
    mkdir -p "$tmp/$feature"
    cp target/release/libtpt_http.so "$tmp/$feature/tpt_http.so"

    echo "run-specs: $lua $busted spec/"
    run_busted "$lua" "$tmp/$feature.log" "$lua" spec/

    # With TPT_HTTP_VALGRIND set: the finalizer-order cases again, each child interpreter under
    # valgrind, failing on any invalid read or write (exit status 99). Not for LuaJIT, whose own
    # allocator valgrind cannot follow without a special build.
    if [ -n "${TPT_HTTP_VALGRIND:-}" ] && [ "$lua" != luajit ]; then
        command -v valgrind >/dev/null 2>&1 || { echo "run-specs: valgrind is not installed" >&2; exit 1; }
        echo "run-specs: $lua spec/lifetimes_spec.lua under valgrind"
        run_busted "$lua under valgrind" "$tmp/$feature.valgrind.log" \
            "valgrind -q --fair-sched=yes --error-exitcode=99 --leak-check=no $lua" spec/lifetimes_spec.lua
    fi
done

echo
for s in "${summary[@]}"; do echo "run-specs: $s"; done
echo "run-specs: $(($(date +%s) - started)) s in all"
echo "run-specs: $passed passed, $failed failed"
exit "$status"
