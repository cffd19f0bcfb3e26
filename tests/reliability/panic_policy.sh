#!/usr/bin/env bash
# Panic policy (issue 6): an internal invariant violation or a Rust panic in
# valkey-rs-core ends in Valkey's own crash report through _serverAssert
# ("=== ASSERTION FAILED ===", the stack trace, "valkey crashed by signal" /
# bug report) and the process dies by a signal: never an unwind into C, never
# a silent thread death.
#
# Usage: tests/reliability/panic_policy.sh [SERVER_DIR]   (default build/valkey)
#
# Each case starts a fresh valkey-server on a loopback port and uses gdb to
# make one call in it:
#   dict      dictRehashingInfo(server.moduleapi) on a dict that is not
#             rehashing: the dict's vk_assert! (dict.c's assert) fails;
#   lazyfree  vkrs_lazyfree_debug_panic(): a job that panics on the Rust
#             lazyfree worker thread (USE_RUST_CORE builds only);
#   biojob-null  bioCreateLazyFreeJob with a NULL job function (USE_RUST_CORE builds only);
#   biojob-args  bioCreateLazyFreeJob with 4 arguments (USE_RUST_CORE builds only).
# Checked: the server log holds "ASSERTION FAILED", the failed condition /
# panic message and Valkey's BUG REPORT, and the server was killed by
# SIGABRT (_serverAssert's abort()). On the plain C build the dict case shows dict.c's
# own report, for comparison.
# Needs gdb and ptrace permission; skips (exit 0, says so) without them.
set -u
SERVER_DIR=${1:-build/valkey}
BIN=$SERVER_DIR/src/valkey-server
if [ ! -x "$BIN" ] || [ ! -s "$BIN" ]; then
    echo "panic_policy: no server at $BIN (make valkey / make valkey-c first)" >&2; exit 1
fi
if ! command -v gdb >/dev/null; then
    echo "panic_policy: SKIPPED: gdb not installed (apt-get install gdb)"; exit 0
fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/vkrs-panic.XXXXXX")
[ -n "${KEEP:-}" ] || trap 'rm -rf "$WORK"' EXIT
pass=0; fail=0; skip=0

run_case() { # name gdb-call expected-text
    local name=$1 call=$2 expect=$3 port dir pid st
    port=$((20000 + RANDOM % 9000)); dir=$WORK/$name; mkdir -p "$dir"
    # A wrapper subshell reaps the server and records its wait status, so the
    # script's shell never prints job notices.
    (
        exec 2>/dev/null
        "$BIN" --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$dir" \
            --logfile "$dir/server.log" --daemonize no --crash-memcheck-enabled no >/dev/null &
        echo $! >"$dir/pid"; wait $!; echo $? >"$dir/status"
    ) &
    local wrapper=$!
    for _ in $(seq 50); do [ -s "$dir/pid" ] && break; sleep 0.1; done
    pid=$(cat "$dir/pid")
    for _ in $(seq 50); do grep -q "Ready to accept connections" "$dir/server.log" 2>/dev/null && break; sleep 0.1; done
    timeout 60 gdb -p "$pid" -batch -ex "call $call" >"$dir/gdb.out" 2>&1
    # Let the crash report finish; the process must end by itself.
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
        echo "FAIL [$name]: server still running after the violation"; kill -9 "$pid"; wait "$wrapper"
        fail=$((fail+1)); return
    fi
    wait "$wrapper"; st=$(cat "$dir/status")
    local why=""
    grep -q "ASSERTION FAILED" "$dir/server.log" || why="no 'ASSERTION FAILED' in the log; "
    grep -qE -- "$expect" "$dir/server.log" || why="$why no '$expect' in the log; "
    grep -q "BUG REPORT" "$dir/server.log" || why="$why no bug report; "
    # _serverAssert ends in abort(): SIGABRT, exactly as dict.c's assert does.
    if [ "$st" -ne 134 ]; then why="$why exit status $st (want 134: killed by SIGABRT); "; fi
    if [ -z "$why" ]; then
        echo "PASS [$name]: crash report with '$expect', killed by signal $((st - 128))"
        pass=$((pass+1))
    else
        echo "FAIL [$name]: $why"; sed -n '1,60p' "$dir/server.log" | grep -v "^ *$" | tail -40
        fail=$((fail+1))
    fi
}

# dict.c says 'dictIsRehashing(d)', the Rust dict 'is_rehashing(d)'.
run_case dict '(void)dictRehashingInfo(server.moduleapi, 0, 0)' "(dictIsRehashing|is_rehashing)\\(d\\)' is not true"
if nm "$BIN" 2>/dev/null | grep -q ' T vkrs_lazyfree_debug_panic$'; then
    run_case lazyfree '(void)vkrs_lazyfree_debug_panic()' 'Rust panic: vkrs_lazyfree_debug_panic: deliberate panic'
else
    echo "SKIP [lazyfree]: $BIN has no vkrs_lazyfree_debug_panic (not a USE_RUST_CORE build)"; skip=$((skip+1))
fi
# bioCreateLazyFreeJob (bio.h): the library defines it in place of bio.c's. bio.c takes
# any number of arguments; lazyfree.c's jobs take at most 3 and the library's job holds
# 3, so more is an assertion, not a write past the job.
if nm "$BIN" 2>/dev/null | grep -q ' T vkrs_lazyfree_submit$'; then
    run_case biojob-null '(void)bioCreateLazyFreeJob(0, 1, 0)' "free_fn != NULL' is not true"
    run_case biojob-args '(void)bioCreateLazyFreeJob(lazyfreeFreeObject, 4, 0, 0, 0, 0)' \
        "\\(0\\.\\.=3\\)\\.contains\\(&arg_count\\)' is not true"
else
    echo "SKIP [biojob]: $BIN has no vkrs_lazyfree_submit (not a USE_RUST_CORE build)"; skip=$((skip+1))
fi
echo "panic_policy $SERVER_DIR: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
