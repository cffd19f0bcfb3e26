#!/usr/bin/env bash
# Main-thread instructions of FLUSHALL ASYNC on a writable replica with keys written
# with a TTL (the replica-expire tracker is handed to the lazyfree worker), C build vs
# Rust build, under valgrind --tool=callgrind. The `flush` section's microsecond figures
# (cmdstat usec) move by tens of % with scheduling; instruction counts do not.
#
#   bench/flush_profile.sh C_TREE RS_TREE OUT_DIR [KEYS]
#   -> OUT_DIR/flush-profile.md, OUT_DIR/flush.{c,rs}.<pid>.N (callgrind dumps)
#
# Per build: a primary (that build's server) and a replica under callgrind with
# --toggle-collect=flushallCommand, so only the command itself counts (the worker's
# freeing runs on its own thread, outside it), and --dump-after=flushallCommand, one
# dump per call: 1) the server's first FLUSHALL ASYNC, KEYS tracked keys; 2) a second
# one after refilling; 3) one on the empty DB. Loopback only, ports BENCH_PORT+12, +13.
set -euo pipefail
c_tree=${1:?usage: flush_profile.sh C_TREE RS_TREE OUT_DIR [KEYS]}
rs_tree=${2:?rs tree}
out=${3:?out dir}
nkeys=${4:-200000}
base=${BENCH_PORT:-17400}
command -v valgrind >/dev/null || { echo "flush_profile.sh: valgrind not installed" >&2; exit 1; }
mkdir -p "$out"
rm -rf "$out"/flush.c.* "$out"/flush.rs.* "$out"/primary-* "$out"/replica-*
cli="$c_tree/src/valkey-cli"
bench_bin="$c_tree/src/valkey-benchmark"
pport=$((base + 12))
rport=$((base + 13))

# shellcheck source=bench/valkey_info.sh
. "$(dirname "$0")/valkey_info.sh"

field() { # port section field
    info_field "$cli" "$@"
}

fill() {
    "$bench_bin" -p "$rport" -c 50 -P 64 -n "$nkeys" -r "$nkeys" --sequential -q \
        SET key:__rand_int__ v EX 100000 >/dev/null
    local tracked
    tracked=$(field "$rport" everything slave_expires_tracked_keys)
    [ "$tracked" = "$nkeys" ] || { echo "flush_profile.sh: replica tracks '$tracked' keys, wanted $nkeys" >&2; exit 1; }
}

drain() {
    wait_lazyfree_idle "$cli" "$rport" || { echo "flush_profile.sh: lazyfree did not drain" >&2; exit 1; }
}

profile() { # tag tree
    local tag=$1 tree=$2 ppid rpid i
    # Own data dirs: the replica stores the full sync's RDB in its dir.
    mkdir -p "$out/primary-$tag" "$out/replica-$tag"
    "$tree/src/valkey-server" --port "$pport" --bind 127.0.0.1 --save "" --appendonly no \
        --dir "$out/primary-$tag" >"$out/flush.$tag.primary.log" 2>&1 &
    ppid=$!
    valgrind --tool=callgrind --toggle-collect=flushallCommand --dump-after=flushallCommand \
        --callgrind-out-file="$out/flush.$tag.%p" \
        "$tree/src/valkey-server" --port "$rport" --bind 127.0.0.1 --save "" --appendonly no \
        --dir "$out/replica-$tag" --replicaof 127.0.0.1 "$pport" --replica-read-only no \
        >"$out/flush.$tag.log" 2>&1 &
    rpid=$!
    for i in $(seq 240); do
        [ "$(field "$rport" replication master_link_status)" = up ] && break
        sleep 0.5
    done
    [ "$(field "$rport" replication master_link_status)" = up ] \
        || { echo "flush_profile.sh: replica did not connect" >&2; exit 1; }
    fill
    "$cli" -p "$rport" flushall async >/dev/null
    drain
    fill
    "$cli" -p "$rport" flushall async >/dev/null
    drain
    "$cli" -p "$rport" flushall async >/dev/null
    "$cli" -p "$rport" shutdown nosave >/dev/null 2>&1 || true
    wait "$rpid" 2>/dev/null || true
    "$cli" -p "$pport" shutdown nosave >/dev/null 2>&1 || true
    wait "$ppid" 2>/dev/null || true
}
profile c "$c_tree"
profile rs "$rs_tree"

python3 - "$out" "$nkeys" <<'PY'
import glob, os, re, sys
out, n = sys.argv[1], int(sys.argv[2])
def load(tag):
    """dump number -> (total Ir, file), for the files flush.TAG.PID.N."""
    dumps = {}
    for path in glob.glob(os.path.join(out, f"flush.{tag}.*.*")):
        m = re.search(r"\.\d+\.(\d+)$", path)
        if not m:
            continue
        for line in open(path, errors="replace"):
            mm = re.match(r"totals: (\d+)", line)
            if mm:
                dumps[int(m.group(1))] = (int(mm.group(1)), os.path.basename(path))
    return dumps
c, r = load("c"), load("rs")
names = {1: f"first FLUSHALL ASYNC of the server, {n:,} tracked keys",
         2: f"second FLUSHALL ASYNC, {n:,} tracked keys again",
         3: "FLUSHALL ASYNC of the empty DB"}
lines = ["### writable replica: FLUSHALL ASYNC main-thread instructions (callgrind, inside flushallCommand)", "",
         "What the command costs the main thread on a writable replica (`replica-read-only no`) whose keys were "
         "written with a TTL, so the replica-expire tracker goes to the lazyfree worker with the DB. "
         "Independent of machine load and repeatable.", "",
         "| call | C Ir | Rust Ir | Rust/C | dumps (C, Rust) |", "| --- | ---: | ---: | ---: | --- |"]
for k in sorted(names):
    if k in c and k in r:
        (ci, cf), (ri, rf) = c[k], r[k]
        lines.append(f"| {names[k]} | {ci:,} | {ri:,} | {ri / ci:.3f} | {cf}, {rf} |")
if len(lines) < 9:
    sys.exit("flush_profile.sh: missing callgrind dumps")
open(os.path.join(out, "flush-profile.md"), "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
