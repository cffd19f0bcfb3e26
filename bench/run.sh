#!/usr/bin/env bash
# make bench: Rust core (build/valkey) vs plain C (build/valkey-c), side by side.
# The top-level Makefile builds both trees (and the flagged gtest binary) first, then runs this.
#
# Environment knobs:
#   BENCH_ROUNDS=6        rounds per build (C and Rust alternate, order flips each round; even,
#                         so each build has each server slot equally often);
#                         the dict microbenchmark does 2 x BENCH_ROUNDS (it is cheap), rounded up
#                         to a multiple of 8 so its four code placements get equal rounds; the
#                         gtest and e2e sections round BENCH_ROUNDS up to a multiple of 8 likewise
#   BENCH_QUICK=1         small sizes (and 2 rounds unless BENCH_ROUNDS is set): a ~3 min smoke run
#   BENCH_SECTIONS=...    comma list of dict,gtest,e2e,pubsub,flush,lazyfree (default: all)
#   BENCH_OUT=build/bench where raw.tsv, results.md (and results.png with matplotlib) go
#   BENCH_PORT=17400      first of the four loopback ports the servers use (+10..+13: the profiles)
#   VALKEY_DIR / VALKEY_C_DIR   the two trees (default build/valkey, build/valkey-c)
#   BENCH_NO_BUILD=1      measure the trees as they are (make bench then skips make valkey valkey-c)
#   BENCH_DICT_LOCKSTEP=0 the dict section runs C and Rust one after the other instead of in
#                         lockstep on one CPU (bench.py; bench/README.md)
#   BENCH_GTEST_LOCKSTEP=0 the gtest section likewise (its lockstep goes through
#                         bench/lockstep_preload.c, preloaded into valkey-unit-gtests)
#   BENCH_LAZYFREE_LOCKSTEP=0 the lazyfree section's large frees one after the other instead of
#                         both builds' at once, their lazyfree workers sharing one CPU
#   BENCH_E2E_TOGETHER=0  the e2e section's valkey-benchmark runs one after the other instead of
#                         against both builds' servers at once, counted over the same seconds
#   BENCH_PUBSUB_TOGETHER=0 the pub/sub section's PUBLISH runs one after the other instead of
#                         against both builds' servers at once, each holding the data set
#   BENCH_LINK_ORDERS=0   the servers' three relinks (e2e, pub/sub and lazyfree placements) keep the objects
#                         in make's order, padded only, instead of also in three seeded orders
#   BENCH_PROFILE=0       skip the callgrind instruction counts of the dict phases (needs valgrind)
#   BENCH_CONTROL=1       control run (A/A): the C build on both sides, through the same rounds and
#                         the same code; its ratios show how far from 1.00 the machine's noise alone
#                         moves a row (bench/README.md, "The control run")
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="$HOME/.cargo/bin:$PATH"

quick=${BENCH_QUICK:-0}
[ "$quick" = 0 ] || [ "$quick" = 1 ] || { echo "bench: BENCH_QUICK must be 0 or 1" >&2; exit 2; }
if [ "$quick" = 1 ]; then rounds=${BENCH_ROUNDS:-2}; else rounds=${BENCH_ROUNDS:-6}; fi
sections=${BENCH_SECTIONS:-dict,gtest,e2e,pubsub,flush,lazyfree}
out=${BENCH_OUT:-build/bench}
rs_tree=${VALKEY_DIR:-build/valkey}
c_tree=${VALKEY_C_DIR:-build/valkey-c}
cargo=${CARGO:-cargo}
rustlib=${CARGO_TARGET_DIR:-$root/target}/release/libvalkey_rs_core.a
jobs=${JOBS:-2}
control=${BENCH_CONTROL:-0}
[ "$control" = 0 ] || [ "$control" = 1 ] || { echo "bench: BENCH_CONTROL must be 0 or 1" >&2; exit 2; }
# The control run measures the C build against a copy of itself: the "Rust" column is C.
[ "$control" = 1 ] && rs_tree=$c_tree

say() { printf '\n\033[1;36m==> bench: %s\033[0m  (%s UTC)\n' "$*" "$(date -u +%H:%M:%S)"; }
has() { case ",$sections," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }

# A tree being relinked (by anyone) has an empty or non-executable binary for a moment.
wait_exec() {
    local i
    for i in $(seq 60); do
        [ -x "$1" ] && [ -s "$1" ] && return 0
        [ -e "$1" ] || return 1
        [ "$i" = 1 ] && echo "bench: waiting for $1 (being relinked?)" >&2
        sleep 5
    done
    return 1
}
for t in "$rs_tree" "$c_tree"; do
    wait_exec "$t/src/valkey-server" || { echo "bench: $t/src/valkey-server missing: run 'make valkey valkey-c' first" >&2; exit 1; }
done
command -v python3 >/dev/null || { echo "bench: python3 is needed" >&2; exit 1; }

mkdir -p "$out"
rm -rf "$out/raw.tsv" "$out/results.md" "$out/results.png" "$out/profile" "$out/server-profile" "$out/flush-profile"

say "Rust library (cargo build --release)"
$cargo build --release --quiet

if has dict; then
    say "dict microbenchmark binaries"
    bench/build-dict-bench.sh "$c_tree" "$rustlib" "$out/bin" "$rs_tree"
fi

same_seed=
if has pubsub; then
    # The pub/sub + memory section starts both builds of a round with the same random seed.
    mkdir -p "$out/bin"
    cc=${CC:-cc}
    $cc -O2 -shared -fPIC -o "$out/bin/same_seed.so" bench/same_seed.c -ldl ||
        { echo "bench: could not build bench/same_seed.c (needs a C compiler)" >&2; exit 1; }
    same_seed="$out/bin/same_seed.so"
fi

lockstep_shim=
if has gtest && [ "${BENCH_GTEST_LOCKSTEP:-1}" != 0 ]; then
    # The gtest section runs each round's two builds in lockstep through this preloaded shim.
    mkdir -p "$out/bin"
    ${CC:-cc} -O2 -Wall -Wextra -shared -fPIC -o "$out/bin/lockstep_preload.so" bench/lockstep_preload.c -ldl ||
        { echo "bench: could not build bench/lockstep_preload.c (needs a C compiler)" >&2; exit 1; }
    lockstep_shim="$out/bin/lockstep_preload.so"
fi

if has gtest; then
    say "valkey-unit-gtests of both builds"
    gtest_ok=1
    make -C "$c_tree/src" -j"$jobs" valkey-unit-gtests USE_RUST_CORE=no >"$out/gtest-build-c.log" 2>&1 || gtest_ok=0
    # The flagged tree's gtest binary: the top-level Makefile's own target (same flags as make
    # valkey); with BENCH_NO_BUILD=1 straight in the tree, so the tree is never re-created.
    # Not in a control run: there the "Rust" tree is the C tree, and a USE_RUST_CORE=yes make
    # in it would make Valkey's Makefile clean it and relink it with the library.
    if [ "$control" = 1 ]; then
        :
    elif [ "${BENCH_NO_BUILD:-0}" = 1 ]; then
        make -C "$rs_tree/src" -j"$jobs" valkey-unit-gtests USE_RUST_CORE=yes RUST_CORE_DIR="$root" CARGO="$cargo" \
            CARGO_TARGET_DIR="$root/target/valkey" >"$out/gtest-build-rs.log" 2>&1 || gtest_ok=0
    else
        make -C "$root" --no-print-directory valkey-gtests VALKEY_DIR="$rs_tree" JOBS="$jobs" CARGO="$cargo" \
            >"$out/gtest-build-rs.log" 2>&1 || gtest_ok=0
    fi
    if [ "$gtest_ok" = 0 ]; then
        echo "bench: could not build valkey-unit-gtests (see $out/gtest-build-*.log; needs libgtest-dev libgmock-dev); gtest section skipped" >&2
        sections=$(echo ",$sections," | sed 's/,gtest,/,/; s/^,//; s/,$//')
    fi
fi

# Snapshot the binaries: every round must measure the same executables, even if someone
# rebuilds a tree meanwhile (shared machines). bench.py only uses these copies.
# The two directories' names have one length: a server keeps its argv (zstrdup), so a path
# one byte longer can land in the next jemalloc size class, and "rs" against "c" made the
# Rust server's used_memory 8 bytes larger than C's, in every round, whenever the C path
# plus its NUL was exactly 40 bytes.
snap="$out/snap"
rm -rf "$snap"
for pair in "c:$c_tree" "r:$rs_tree"; do
    b=${pair%%:*} t=${pair#*:}
    mkdir -p "$snap/$b/src/unit"
    for f in src/valkey-server src/valkey-benchmark src/valkey-cli src/unit/valkey-unit-gtests; do
        wait_exec "$t/$f" || continue
        cp "$t/$f" "$snap/$b/$f"
    done
    "$snap/$b/src/valkey-server" --version >/dev/null || { echo "bench: $t/src/valkey-server does not run" >&2; exit 1; }
done
# The gtest, e2e, pub/sub and lazyfree sections rotate over code placements as the dict section does: relink each
# snapshot's valkey-unit-gtests and valkey-server with 16, 32 and 48 bytes of padding, from its
# own tree's objects, with the make settings that tree was built with (the control run's "Rust"
# tree is the C tree). Two rounds (a quick run's default) use the unpadded binaries only, so the
# relinks (~25 s per server, with LTO) are skipped then.
# BENCH_LINK_ORDERS (default 1): the server's relinks also take the objects in an order drawn from
# the padding, the same in both trees: -flto=auto lays Valkey's code out by object order, and that
# layout moved single e2e rows by up to 7 % (bench/README.md). bench.py reads it for its notes.
link_orders=${BENCH_LINK_ORDERS:-1}
[ "$link_orders" = 0 ] || [ "$link_orders" = 1 ] || { echo "bench: BENCH_LINK_ORDERS must be 0 or 1" >&2; exit 2; }
export BENCH_LINK_ORDERS=$link_orders
placements() {
    local b t vars
    for b in c r; do
        if [ "$b" = c ] || [ "$control" = 1 ]; then
            t=$c_tree vars=(USE_RUST_CORE=no)
        else
            t=$rs_tree vars=(USE_RUST_CORE=yes RUST_CORE_DIR="$root" CARGO="$cargo" CARGO_TARGET_DIR="$root/target/valkey")
        fi
        LINK_ORDERS=$4 bench/link-placements.sh "$t" "$1" "$snap/$b/$2" "${vars[@]}" ||
            echo "bench: warning: could not relink $t's $1 with padding: the $3 section runs the unpadded binaries only" >&2
    done
}
if [ "$quick" = 0 ] || [ "$rounds" -gt 2 ]; then
    has gtest && placements valkey-unit-gtests src/unit gtest 0
    if has e2e || has pubsub || has lazyfree; then
        say "valkey-server relinked with padding$([ "$link_orders" = 1 ] && echo " and its objects in three seeded orders") (code placements for the e2e, pub/sub and lazyfree sections)"
        placements valkey-server src "e2e, pub/sub and lazyfree" "$link_orders"
    fi
fi
rs_git=$(git log -1 --format=%h -- src Cargo.toml Cargo.lock .cargo valkey-patch 2>/dev/null || echo '?')

# Whether a binary holds a C file's static (GCC's LTO may suffix it): which C files are linked.
has_static() { nm "$1" 2>/dev/null | grep -E " $2(\.lto_priv\.[0-9]+)?\$" >/dev/null; }

# Which lazyfree the Rust build contains: lazyfree.c's static counter only exists in the C one.
if has_static "$snap/r/src/valkey-server" lazyfree_objects; then
    lazyfree_impl="C (lazyfree.c is still linked into $rs_tree: the flush and lazyfree sections measure C lazyfree on both sides)"
else
    lazyfree_impl="Rust (valkey-rs-core's lazyfree worker)"
fi
if [ "$control" = 1 ]; then
    lazyfree_impl="C on both sides (control run)"
elif has_static "$snap/r/src/valkey-server" dict_can_resize; then
    echo "bench: $rs_tree/src/valkey-server contains dict.c's statics: it is not a USE_RUST_CORE=yes build" >&2; exit 1
fi
if ! has_static "$snap/c/src/valkey-server" dict_can_resize; then
    echo "bench: $c_tree/src/valkey-server lacks dict.c's statics: it is not a plain C build (make valkey-c rebuilds it)" >&2; exit 1
fi

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
{
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- src 2>/dev/null || echo ' (+ uncommitted src/ changes)')"
    echo "- machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GB", $2/1048576}' /proc/meminfo); load average before: $load_before"
    echo "- rounds: $rounds per build (the dict microbenchmark's, the gtest's, the e2e and the lazyfree section's: below); quick: $quick; sections: $sections"
    if [ "$control" = 1 ]; then
        echo "- both columns: $c_tree (control run); valkey-benchmark: the C build's; binaries snapshotted to $snap at start"
    else
        echo "- Rust build: $rs_tree (USE_RUST_CORE=yes; last change to the crate/patch: $rs_git); C build: $c_tree; valkey-benchmark: the C build's; binaries snapshotted to $snap at start"
    fi
    echo "- lazyfree in the Rust build: $lazyfree_impl"
    [ "$control" = 0 ] || echo "- **CONTROL RUN (A/A): both columns are the C build** ($c_tree, two copies of its binaries; the dict section runs the C harness on both sides). Every ratio here is machine noise; a MISSED row is a miss that the noise alone produces."
} >"$out/meta.md"
cat "$out/meta.md"
case $load_before in
    [0-1].*) ;;
    *) echo "bench: warning: load average is $load_before on $(nproc) cores: figures will be noisy (best run with load < 1.5)" >&2 ;;
esac

say "measuring (sections: $sections)"
args=(--out "$out" --rounds "$rounds" --sections "$sections" --c-tree "$snap/c" --rs-tree "$snap/r")
[ "$quick" = 1 ] && args+=(--quick)
[ -n "$same_seed" ] && args+=(--same-seed "$same_seed")
[ -n "$lockstep_shim" ] && args+=(--lockstep-shim "$lockstep_shim")
[ "$control" = 1 ] && args+=(--control)
python3 bench/bench.py "${args[@]}"

# The callgrind instruction counts: with valgrind, unless BENCH_PROFILE=0.
profiling=0
[ "${BENCH_PROFILE:-1}" = 1 ] && [ "$control" = 0 ] && command -v valgrind >/dev/null && profiling=1
if has dict && [ "$profiling" = 1 ]; then
    say "dict instruction counts (callgrind; BENCH_PROFILE=0 skips)"
    bench/profile.sh "$out/bin" "$out/profile" 100000 200000 >/dev/null
fi
if has e2e && [ "$profiling" = 1 ]; then
    say "server instructions per request (callgrind; BENCH_PROFILE=0 skips)"
    BENCH_PORT=${BENCH_PORT:-17400} bench/server_profile.sh "$snap/c" "$snap/r" "$out/server-profile" \
        $([ "$quick" = 1 ] && echo 5000 || echo 20000) >/dev/null
fi
if has flush && [ "$profiling" = 1 ]; then
    say "writable-replica FLUSHALL ASYNC main-thread instructions (callgrind; BENCH_PROFILE=0 skips)"
    BENCH_PORT=${BENCH_PORT:-17400} bench/flush_profile.sh "$snap/c" "$snap/r" "$out/flush-profile" \
        $([ "$quick" = 1 ] && echo 50000 || echo 200000) >/dev/null
fi
echo "- load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/meta.md"
say "results ($out/results.md)"
python3 bench/report.py "$out"
