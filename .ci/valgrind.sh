#!/usr/bin/env bash
# Memory checking (issue 10): the embedding, finalizer-order and a bounded Lua-surface fuzz run
# under valgrind on the Lua 5.4 build (vendored Lua allocates through Rust's allocator, which
# valgrind follows), failing on any invalid read or write. Child processes are traced too: the
# finalizer-order cases each run in one. `--fair-sched=yes`: valgrind runs one thread at a time,
# and with its default lock a host thread that busy-polls `status()` can starve the engine
# thread for seconds (embed.rs's live-status tests then time out).
#
#   bash .ci/valgrind.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v valgrind >/dev/null 2>&1 || { echo "valgrind: not installed (Debian package valgrind)" >&2; exit 1; }

target=target/lua54
bins=$(cargo test -p tpt-http --no-default-features --features lua54,vendored --target-dir "$target" \
    --test lifetimes --test embed --test fuzz_lua --no-run 2>&1 |
    grep -oE "$target/debug/deps/(lifetimes|embed|fuzz_lua)-[0-9a-f]+" | sort -u)
[ "$(echo "$bins" | wc -l)" -eq 3 ] || { echo "valgrind: test binaries not found: $bins" >&2; exit 1; }
for bin in $bins; do
    echo "valgrind: $bin"
    TPT_HTTP_FUZZ_CALLS=2000 valgrind -q --fair-sched=yes --trace-children=yes --error-exitcode=99 --leak-check=no \
        --suppressions=.ci/valgrind.supp --num-callers=40 \
        "$bin" --test-threads=2
done
echo "valgrind: no invalid access"
