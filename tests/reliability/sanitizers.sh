#!/usr/bin/env bash
# Sanitizer and valgrind runs of Valkey built with USE_RUST_CORE=yes (issue 6).
# Run from the repository root; `make test-sanitizers` / `make test-valgrind` call it.
#
# MODE=sanitizer (default): for each sanitizer in SANITIZERS ("address",
#   "undefined"), a patched tree build/valkey-asan / build/valkey-ubsan built with
#   Valkey's own SANITIZER=... (MALLOC=libc, so every allocation the Rust library
#   makes through zmalloc is an ASan-tracked heap block), then the Tcl units in
#   SAN_UNITS plus this project's tests/tcl/*.tcl. Valkey's test framework fails a
#   test whose server log has a sanitizer report; this script also counts every
#   report in the servers' logs.
#   RUST_ASAN=1 additionally compiles the Rust library with the nightly's
#   -Zsanitizer=address (instrumented loads/stores in Rust code too); optional.
# MODE=valgrind: build/valkey-valgrind built with Valkey's `make valgrind`
#   (-O0, libc malloc), then `./runtest --valgrind` over VALGRIND_UNITS; counts
#   "definitely lost" blocks and invalid reads/writes in the valgrind reports.
#
# Summaries go to REL_DIR (default build/reliability). Exit status 0 iff every
# Tcl test passed and no report was found. Heavy: builds a full Valkey tree.
set -uo pipefail
MODE=${MODE:-sanitizer}
SANITIZERS=${SANITIZERS:-address}
JOBS=${JOBS:-2}
CARGO=${CARGO:-cargo}
REL_DIR=${REL_DIR:-build/reliability}
TCL_CLIENTS=${TCL_CLIENTS:-2}
MAX_LOAD=${MAX_LOAD:-3}
# A base port of our own: other runtest runs on the machine use the default 21111.
# runtest listens for its test clients on BASEPORT-32, a fixed port it does not
# probe, so that one must stay below the kernel's ephemeral range (32768+ on
# Linux), where an outgoing connection may hold it; the servers' ports above
# it are probed by runtest before use.
BASEPORT=${BASEPORT:-$((30000 + (RANDOM % 14) * 200))}
# The units that exercise the replaced code (issue 6's list); shell patterns are
# expanded against the tree's tests/ directory.
DEFAULT_SAN_UNITS="unit/type/* unit/lazyfree unit/expire unit/pubsub* unit/scripting unit/functions
 unit/multi unit/latency-monitor unit/maxmemory unit/memefficiency unit/keyspace unit/cluster/*
 integration/replication*"
DEFAULT_VALGRIND_UNITS="unit/lazyfree unit/expire integration/replication-3 integration/replication-4"
SAN_UNITS=${SAN_UNITS:-$DEFAULT_SAN_UNITS}
VALGRIND_UNITS=${VALGRIND_UNITS:-$DEFAULT_VALGRIND_UNITS}
ROOT=$(pwd)
SKIPFILE=$ROOT/tests/tcl/skiplist-c-fails.txt
mkdir -p "$REL_DIR"

load=$(cut -d' ' -f1 /proc/loadavg)
if awk -v l="$load" -v m="$MAX_LOAD" 'BEGIN { exit !(l > m) }'; then
    echo "sanitizers.sh: note: load average $load > $MAX_LOAD; timing-sensitive tests may fail (rerun a failing unit alone)"
fi

# run_units TREE NAME EXTRA_RUNTEST_ARGS...: installs tests/tcl, runs the units,
# leaves the servers' logs in TREE/tests/tmp for counting.
run_units() {
    local tree=$1 name=$2; shift 2
    local units=$1; shift
    rm -rf "$tree/tests/tmp"/* "$tree"/tests/unit/rs-core-*.tcl
    local args=() u f n=0
    for u in $units; do
        for f in "$tree"/tests/$u.tcl; do
            [ -e "$f" ] || { echo "sanitizers.sh: no unit matches $u" >&2; return 2; }
            f=${f#"$tree"/tests/}
            args+=(--single "${f%.tcl}")
            n=$((n + 1))
        done
    done
    echo "==> [$name] $n units from: $units"
    for f in tests/tcl/*.tcl; do
        [ -e "$f" ] || continue
        cp "$f" "$tree/tests/unit/rs-core-$(basename "$f")"
        args+=(--single "unit/rs-core-$(basename "$f" .tcl)")
    done
    local skip=()
    [ -f "$SKIPFILE" ] && skip=(--skipfile "$SKIPFILE")
    echo "==> [$name] ./runtest --clients $TCL_CLIENTS --baseport $BASEPORT $* ${args[*]}"
    (cd "$tree" && ./runtest --clients "$TCL_CLIENTS" --baseport "$BASEPORT" --dont-clean --timeout 2400 "${skip[@]}" "$@" "${args[@]}") \
        2>&1 | sed -u 's/\x1b\[[0-9;]*m//g' | tee "$REL_DIR/$name-runtest.log" \
        | grep -E '^\[(err|exception|skip|ignore)\]|All tests passed|failed|Sanitizer|done\]: |\[TIMEOUT\]' \
        | tail -60
    return "${PIPESTATUS[0]}"
}

status=0
if [ "$MODE" = sanitizer ]; then
    for san in $SANITIZERS; do
        case $san in
            address) short=asan ;;
            undefined) short=ubsan ;;
            *) echo "sanitizers.sh: unknown sanitizer $san (address|undefined)" >&2; exit 2 ;;
        esac
        tree=build/valkey-$short
        valkey-patch/prepare-tree.sh "$tree" || exit 1
        extra=()
        if [ -n "${RUST_ASAN:-}" ] && [ "$san" = address ]; then
            # Nightly rustc instruments the library; gcc's libasan (linked by
            # Valkey's -fsanitize=address) provides the runtime.
            # The flag must reach the library only, not build scripts and
            # proc-macros (host artifacts): nightly cargo's target-applies-to-host.
            extra=(CARGO="$CARGO +nightly")
            export CARGO_UNSTABLE_TARGET_APPLIES_TO_HOST=true CARGO_TARGET_APPLIES_TO_HOST=false
            export CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-Zsanitizer=address"
            # Link the instrumented archive as cargo built it (valkey-patch/prelink-lib.sh).
            export RUST_CORE_PRELINK=no
        fi
        echo "==> building $tree with SANITIZER=$san USE_RUST_CORE=yes ${extra[*]}"
        make -C "$tree" -j"$JOBS" SANITIZER="$san" USE_RUST_CORE=yes RUST_CORE_DIR="$ROOT" \
            CARGO_TARGET_DIR="$ROOT/target/valkey-$short" "${extra[@]}" >"$REL_DIR/$short-build.log" 2>&1 \
            || { tail -30 "$REL_DIR/$short-build.log"; echo "sanitizers.sh: build of $tree failed" >&2; exit 1; }
        unset CARGO_UNSTABLE_TARGET_APPLIES_TO_HOST CARGO_TARGET_APPLIES_TO_HOST CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS \
            RUST_CORE_PRELINK
        run_units "$tree" "$short" "$SAN_UNITS"
        rc=$?
        reports=$(grep -rlE 'ERROR: (Address|Leak|Thread)Sanitizer|runtime error:|SUMMARY: [A-Za-z]+Sanitizer' \
            "$tree/tests/tmp" 2>/dev/null | wc -l)
        grep -rhE 'ERROR: (Address|Leak)Sanitizer|runtime error:|SUMMARY: [A-Za-z]+Sanitizer' "$tree/tests/tmp" 2>/dev/null \
            | sort | uniq -c | head -20 >"$REL_DIR/$short-reports.txt"
        echo "sanitizer $san: runtest exit $rc, server logs with sanitizer reports: $reports" | tee "$REL_DIR/$short-summary.txt"
        cat "$REL_DIR/$short-reports.txt"
        [ "$rc" -eq 0 ] && [ "$reports" -eq 0 ] || status=1
    done
elif [ "$MODE" = valgrind ]; then
    command -v valgrind >/dev/null || { echo "sanitizers.sh: SKIPPED: valgrind not installed"; exit 0; }
    tree=build/valkey-valgrind
    valkey-patch/prepare-tree.sh "$tree" || exit 1
    echo "==> building $tree with make valgrind USE_RUST_CORE=yes"
    make -C "$tree/src" -j"$JOBS" valgrind USE_RUST_CORE=yes RUST_CORE_DIR="$ROOT" \
        CARGO_TARGET_DIR="$ROOT/target/valkey-valgrind" >"$REL_DIR/valgrind-build.log" 2>&1 \
        || { tail -30 "$REL_DIR/valgrind-build.log"; echo "sanitizers.sh: build of $tree failed" >&2; exit 1; }
    run_units "$tree" valgrind "$VALGRIND_UNITS" --valgrind
    rc=$?
    lost=$(grep -rhE 'definitely lost: [1-9]' "$tree/tests/tmp" 2>/dev/null | wc -l)
    invalid=$(grep -rhE 'Invalid (read|write|free)' "$tree/tests/tmp" 2>/dev/null | wc -l)
    echo "valgrind: runtest exit $rc, 'definitely lost' reports: $lost, invalid read/write/free: $invalid" \
        | tee "$REL_DIR/valgrind-summary.txt"
    [ "$rc" -eq 0 ] && [ "$lost" -eq 0 ] && [ "$invalid" -eq 0 ] || status=1
else
    echo "sanitizers.sh: MODE must be sanitizer or valgrind" >&2; exit 2
fi
exit $status
