# shellcheck shell=bash
# Shared helpers for the tpt-http benchmarks. Source this file:
#   . bench/lib.sh
#
# Functions:
#   bench_install   apt-get install the tools the benchmarks need, if missing
#   nginx_start     start a private nginx on 127.0.0.1; exports NGINX_PORT (http),
#                   NGINX_TLS_PORT (https, h2 by ALPN), NGINX_TLS1_PORT (https,
#                   HTTP/1.1 only), NGINX_CA (the CA file, made at run time),
#                   NGINX_PID, NGINX_RUNDIR
#   nginx_stop      stop that nginx and remove its run directory
#   build_anchors   compile bench/anchors/*.c (curl_multi, curl_hold,
#                   hang_server, rusage) into $BENCH_OUT (bench/target)
#
# Environment:
#   BENCH_OUT          build output directory (default: bench/target, gitignored)
#   BENCH_KEEP_RUNDIR  if non-empty, nginx_stop keeps the nginx run directory
#   NGINX_BIN          nginx binary (default: nginx from PATH, or /usr/sbin/nginx)
#   NGINX_CPUS         if non-empty, nginx_start pins nginx to these CPUs
#                      (taskset -c list, e.g. "0")

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck disable=SC2034 # used by the scripts that source this file
BENCH_REPO="$(cd "$BENCH_DIR/.." && pwd)"
BENCH_OUT="${BENCH_OUT:-$BENCH_DIR/target}"

bench_log() { printf '[bench] %s\n' "$*" >&2; }

# Install nginx-light, libcurl4-openssl-dev, wrk, gcc, curl (which nginx_start
# uses to probe the server), python3, time (/usr/bin/time), openssl (nginx_start makes
# a CA with it), valgrind (callgrind), lua5.1, lua-http and lua-cqueues (the Lua peer)
# if any of them is missing; with BENCH_OPTIONAL set (bench/run.sh sets "hyperfine"), also those
# optional packages when apt knows them (their absence is not an error).
bench_install() {
    local missing=() pkg
    for pkg in nginx-light libcurl4-openssl-dev wrk gcc curl python3 time openssl valgrind \
        lua5.1 lua-http lua-cqueues ${BENCH_OPTIONAL:-}; do
        case "$pkg" in
            # Any nginx flavour is good enough if one is already installed.
            nginx-light) _bench_nginx_bin >/dev/null && continue ;;
            gcc) command -v gcc >/dev/null 2>&1 && continue ;;
            wrk) command -v wrk >/dev/null 2>&1 && continue ;;
            curl) command -v curl >/dev/null 2>&1 && continue ;;
            python3) command -v python3 >/dev/null 2>&1 && continue ;;
            time) [ -x /usr/bin/time ] && continue ;;
            openssl) command -v openssl >/dev/null 2>&1 && continue ;;
            valgrind) command -v valgrind >/dev/null 2>&1 && continue ;;
            lua5.1) command -v lua5.1 >/dev/null 2>&1 && continue ;;
            hyperfine) command -v hyperfine >/dev/null 2>&1 && continue ;;
        esac
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
            missing+=("$pkg")
        fi
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    bench_log "installing: ${missing[*]}"
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then
            sudo=(sudo)
        else
            bench_log "not root and no sudo; please install: ${missing[*]}"
            _bench_only_optional_missing "${missing[@]}"
            return
        fi
    fi
    if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq; then
        if _bench_only_optional_missing "${missing[@]}"; then
            bench_log "apt-get update failed; going on without: ${missing[*]}"
            return 0
        fi
        return 1
    fi
    local required=() optional=()
    for pkg in "${missing[@]}"; do
        if _bench_is_optional "$pkg"; then optional+=("$pkg"); else required+=("$pkg"); fi
    done
    if [ "${#required[@]}" -gt 0 ]; then
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            "${required[@]}" >/dev/null || return 1
    fi
    for pkg in "${optional[@]}"; do
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            "$pkg" >/dev/null || bench_log "optional package $pkg not installed"
    done
    return 0
}

_bench_is_optional() {
    local o
    for o in ${BENCH_OPTIONAL:-}; do
        [ "$o" = "$1" ] && return 0
    done
    return 1
}

# Succeeds when every package given is optional.
_bench_only_optional_missing() {
    local pkg
    for pkg in "$@"; do
        _bench_is_optional "$pkg" || return 1
    done
    return 0
}

# Print the path of the nginx binary (it lives in /usr/sbin, which a
# non-root PATH may lack). $NGINX_BIN overrides.
_bench_nginx_bin() {
    if [ -n "${NGINX_BIN:-}" ]; then
        echo "$NGINX_BIN"
    elif command -v nginx 2>/dev/null; then
        :
    elif [ -x /usr/sbin/nginx ]; then
        echo /usr/sbin/nginx
    else
        return 1
    fi
}

# Print a TCP port on 127.0.0.1 that is currently free.
_bench_free_port() {
    if command -v python3 >/dev/null 2>&1; then
        python3 - <<'PY' && return 0
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
    fi
    local port i
    for i in $(seq 1 100); do
        port=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
        # A refused connection means nothing listens there.
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return 0
        fi
    done
    return 1
}

# Make a CA and a server certificate for 127.0.0.1 / localhost (ECDSA P-256, 2 days) in DIR:
# ca.pem, server.pem, server.key.
_bench_make_tls() {
    local dir="$1"
    mkdir -p "$dir" || return 1
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj "/CN=tpt-http bench CA" -keyout "$dir/ca.key" -out "$dir/ca.pem" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        >/dev/null 2>&1 || return 1
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
        -keyout "$dir/server.key" -out "$dir/server.csr" >/dev/null 2>&1 || return 1
    printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" "basicConstraints=CA:FALSE" \
        "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" >"$dir/ext.cnf"
    openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
        -CAcreateserial -days 2 -extfile "$dir/ext.cnf" -out "$dir/server.pem" >/dev/null 2>&1
}

# Start nginx in the background on free ports of 127.0.0.1, serving
# $NGINX_RUNDIR/www: /small (100 bytes) and /1m (1 MiB), over http and https.
nginx_start() {
    if [ -n "${NGINX_PID:-}" ] && kill -0 "$NGINX_PID" 2>/dev/null; then
        bench_log "nginx already running (pid $NGINX_PID, port $NGINX_PORT)"
        return 0
    fi
    local rundir user_line="" attempt port pid i nginx_bin
    nginx_bin="$(_bench_nginx_bin)" || { bench_log "nginx not found (run bench_install)"; return 1; }
    rundir="$(mktemp -d "${TMPDIR:-/tmp}/tpt-http-bench-nginx.XXXXXX")" || return 1
    mkdir -p "$rundir/www" "$rundir/tmp"
    head -c 100 /dev/zero | tr '\0' 'x' >"$rundir/www/small"
    head -c 1048576 /dev/urandom >"$rundir/www/1m"
    # As root the workers would otherwise run as "nobody" and could not read
    # the private (0700) run directory.
    [ "$(id -u)" -eq 0 ] && user_line="user root;"
    _bench_make_tls "$rundir/tls" || { bench_log "openssl could not make the TLS files"; return 1; }

    local tls_port tls1_port
    for attempt in 1 2 3 4 5; do
        port="$(_bench_free_port)" || { bench_log "no free port found"; return 1; }
        tls_port="$(_bench_free_port)" || { bench_log "no free port found"; return 1; }
        tls1_port="$(_bench_free_port)" || { bench_log "no free port found"; return 1; }
        if [ "$port" = "$tls_port" ] || [ "$port" = "$tls1_port" ] || [ "$tls_port" = "$tls1_port" ]; then
            continue
        fi
        sed -e "s|@RUNDIR@|$rundir|g" -e "s|@PORT@|$port|g" -e "s|@USER_LINE@|$user_line|g" \
            -e "s|@TLS_PORT@|$tls_port|g" -e "s|@TLS1_PORT@|$tls1_port|g" \
            "$BENCH_DIR/nginx/nginx.conf.in" >"$rundir/nginx.conf"
        : >"$rundir/error.log"
        local pin=()
        if [ -n "${NGINX_CPUS:-}" ]; then
            pin=(taskset -c "$NGINX_CPUS")
        fi
        # -e: log startup errors to the run dir instead of the built-in path.
        # (taskset execs nginx, so $! is the nginx master either way.)
        "${pin[@]}" "$nginx_bin" -p "$rundir" -c "$rundir/nginx.conf" -e "$rundir/error.log" \
            </dev/null >"$rundir/stdout.log" 2>&1 &
        pid=$!
        for i in $(seq 1 100); do
            if ! kill -0 "$pid" 2>/dev/null; then
                break
            fi
            if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/small" &&
                curl -s -o /dev/null --max-time 1 --cacert "$rundir/tls/ca.pem" "https://127.0.0.1:$tls_port/small"; then
                export NGINX_PORT="$port" NGINX_PID="$pid" NGINX_RUNDIR="$rundir"
                export NGINX_TLS_PORT="$tls_port" NGINX_TLS1_PORT="$tls1_port" NGINX_CA="$rundir/tls/ca.pem"
                bench_log "nginx pid $pid on 127.0.0.1:$port, https $tls_port (h2) and $tls1_port (HTTP/1.1) (run dir $rundir${NGINX_CPUS:+, cpus $NGINX_CPUS})"
                return 0
            fi
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null
        fi
        wait "$pid" 2>/dev/null
        if grep -q 'Address already in use' "$rundir/error.log" "$rundir/stdout.log" 2>/dev/null; then
            bench_log "port $port taken, retrying ($attempt)"
            continue
        fi
        break
    done
    bench_log "nginx failed to start; error.log:"
    cat "$rundir/error.log" "$rundir/stdout.log" >&2 2>/dev/null
    rm -rf "$rundir"
    return 1
}

# Stop the nginx started by nginx_start (master and its workers).
nginx_stop() {
    local pid="${NGINX_PID:-}" workers i
    if [ -n "$pid" ]; then
        workers="$(pgrep -P "$pid" 2>/dev/null | tr '\n' ' ')"
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null
            for i in $(seq 1 50); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
            done
            if kill -0 "$pid" 2>/dev/null; then
                bench_log "nginx $pid did not exit, sending KILL"
                kill -KILL "$pid" 2>/dev/null
            fi
        fi
        wait "$pid" 2>/dev/null
        # Workers exit with the master; make sure of it.
        for i in $workers; do
            if kill -0 "$i" 2>/dev/null; then
                bench_log "killing leftover nginx worker $i"
                kill -KILL "$i" 2>/dev/null
            fi
        done
    fi
    if [ -n "${NGINX_RUNDIR:-}" ] && [ -z "${BENCH_KEEP_RUNDIR:-}" ]; then
        rm -rf "$NGINX_RUNDIR"
    fi
    unset NGINX_PID NGINX_PORT NGINX_RUNDIR NGINX_TLS_PORT NGINX_TLS1_PORT NGINX_CA
    return 0
}

# Compile the C anchors into $BENCH_OUT.
build_anchors() {
    mkdir -p "$BENCH_OUT" || return 1
    local cflags libs
    if command -v curl-config >/dev/null 2>&1; then
        cflags="$(curl-config --cflags)"
        libs="$(curl-config --libs)"
    elif command -v pkg-config >/dev/null 2>&1 && pkg-config --exists libcurl; then
        cflags="$(pkg-config --cflags libcurl)"
        libs="$(pkg-config --libs libcurl)"
    else
        cflags=""
        libs="-lcurl"
    fi
    local anchor
    for anchor in curl_multi curl_hold; do
        # shellcheck disable=SC2086
        gcc -O2 -Wall -Wextra $cflags -o "$BENCH_OUT/$anchor" \
            "$BENCH_DIR/anchors/$anchor.c" $libs || return 1
    done
    for anchor in hang_server rusage; do
        gcc -O2 -Wall -Wextra -o "$BENCH_OUT/$anchor" "$BENCH_DIR/anchors/$anchor.c" || return 1
    done
    bench_log "built $BENCH_OUT/{curl_multi,curl_hold,hang_server,rusage}"
}
