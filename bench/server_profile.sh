#!/usr/bin/env bash
# Server instructions per request, C build vs Rust build, under valgrind --tool=callgrind.
# The end-to-end section's req/s and CPU figures move by several % with machine load;
# instruction counts do not, so this is the repeatable end-to-end comparison.
#
#   bench/server_profile.sh C_TREE RS_TREE OUT_DIR [REQUESTS]
#   -> OUT_DIR/server-profile.md (Ir/request per command, Rust/C),
#      OUT_DIR/server.{c,rs}.<pid>.N (one callgrind dump per command, for callgrind_annotate)
#
# Each build: one valkey-server under callgrind with instrumentation off until the data
# set is loaded (a script, a function library, 2000 pattern subscriptions on one idle
# connection), then per command: instrumentation on, valkey-benchmark -c 1 -P 16 -n REQUESTS
# (the C build's), dump. Loopback only; the ports are BENCH_PORT+10 and +11. The servers run
# with hz 1: serverCron's work depends on wall time, which callgrind stretches by varying
# amounts; at the default hz 10 it added up to ~2% to one build's count and not the other's.
#
# The L1i figures are callgrind's simulation of the caches the host reports (the branch
# figures do not depend on caches).
# BENCH_CACHE_SIM simulates another machine's instead, e.g. an AMD EPYC's 32 KB 8-way L1i on an
# Intel host: BENCH_CACHE_SIM="--I1=32768,8,64 --D1=32768,8,64 --LL=33554432,16,64"
# (valgrind's --I1/--D1/--LL=size,associativity,line size).
set -euo pipefail
c_tree=${1:?usage: server_profile.sh C_TREE RS_TREE OUT_DIR [REQUESTS]}
rs_tree=${2:?rs tree}
out=${3:?out dir}
n=${4:-20000}
base=${BENCH_PORT:-17400}
command -v valgrind >/dev/null || { echo "server_profile.sh: valgrind not installed" >&2; exit 1; }
command -v callgrind_control >/dev/null || { echo "server_profile.sh: callgrind_control missing" >&2; exit 1; }
mkdir -p "$out"
rm -f "$out"/server.c.* "$out"/server.rs.*
bench_bin="$c_tree/src/valkey-benchmark"
cli="$c_tree/src/valkey-cli"
# shellcheck source=bench/valkey_info.sh
. "$(dirname "$0")/valkey_info.sh"

# name|valkey-benchmark arguments (after -q)
cmds=(
    "SET|-t set -r 100000"
    "GET|-t get -r 100000"
    "INCR|-t incr -r 100000"
    "LPUSH|-t lpush -r 100000"
    "SADD|-t sadd -r 100000"
    "HSET|-t hset -r 100000"
    "ZADD|-t zadd -r 100000"
    "EVALSHA|evalsha __SHA__ 0"
    "FCALL|fcall f1 0"
    "PUBLISH, 2000 patterns subscribed|-r 100000 publish chan:__rand_int__ hello"
)

profile() { # tag tree port
    local tag=$1 tree=$2 port=$3 pid sha i sub
    # shellcheck disable=SC2086
    valgrind --tool=callgrind --cache-sim=yes ${BENCH_CACHE_SIM:-} --branch-sim=yes --separate-threads=yes --instr-atstart=no --callgrind-out-file="$out/server.$tag.%p" \
        "$tree/src/valkey-server" --port "$port" --bind 127.0.0.1 --save "" --appendonly no --hz 1 \
        >"$out/server.$tag.log" 2>&1 &
    pid=$!
    for i in $(seq 120); do "$cli" -p "$port" ping >/dev/null 2>&1 && break; sleep 0.5; done
    sha=$("$cli" -p "$port" script load "return 1 + #KEYS")
    "$cli" -p "$port" function load "#!lua name=lib1
redis.register_function('f1', function(keys, args) return 1 end)" >/dev/null
    # PUBLISH with no subscriber at all, as in the e2e section: the pattern dict is empty,
    # and each PUBLISH still creates, starts and releases an iterator over it.
    callgrind_control -i on "$pid" >/dev/null
    "$bench_bin" -p "$port" -c 1 -n "$n" -P 16 -q -r 100000 publish chan:__rand_int__ hello >/dev/null
    callgrind_control -d "PUBLISH, no subscribers" "$pid" >/dev/null
    callgrind_control -i off "$pid" >/dev/null
    # 2000 patterns (none matches chan:*) on one idle connection: PUBLISH walks them all.
    "$cli" -p "$port" psubscribe $(seq -f 'pat:%g:*' 1 2000) >/dev/null 2>&1 </dev/null &
    sub=$!
    for i in $(seq 120); do
        [ "$("$cli" -p "$port" pubsub numpat 2>/dev/null)" = 2000 ] && break; sleep 0.5
    done
    callgrind_control -i on "$pid" >/dev/null
    for entry in "${cmds[@]}"; do
        local name=${entry%%|*} args=${entry#*|}
        args=${args//__SHA__/$sha}
        # shellcheck disable=SC2086
        "$bench_bin" -p "$port" -c 1 -n "$n" -P 16 -q $args >/dev/null
        callgrind_control -d "$name" "$pid" >/dev/null
    done
    kill "$sub" 2>/dev/null || true
    wait "$sub" 2>/dev/null || true
    # The lazyfree worker: UNLINK of a zset and a set, then FLUSHALL ASYNC of a
    # populated DB, each waited out; its thread's instructions are the free work.
    callgrind_control -i off "$pid" >/dev/null
    "$cli" -p "$port" flushall >/dev/null
    "$cli" -p "$port" eval "for i=1,tonumber(ARGV[1]) do redis.call('zadd', KEYS[1], i, string.format('%016d', i)) end" 1 z $((n * 10)) >/dev/null
    "$cli" -p "$port" eval "for i=1,tonumber(ARGV[1]) do redis.call('sadd', KEYS[1], string.format('%016d', i)) end" 1 s $((n * 10)) >/dev/null
    "$cli" -p "$port" debug populate $((n * 10)) >/dev/null
    callgrind_control -i on "$pid" >/dev/null
    callgrind_control -z "$pid" >/dev/null
    for c in "unlink z" "unlink s" "flushall async"; do
        # shellcheck disable=SC2086
        "$cli" -p "$port" $c >/dev/null
        wait_lazyfree_idle "$cli" "$port" || true
    done
    callgrind_control -d "lazyfree" "$pid" >/dev/null
    "$cli" -p "$port" shutdown nosave >/dev/null 2>&1 || true
    wait "$pid" 2>/dev/null || true
}
profile c "$c_tree" $((base + 10))
profile rs "$rs_tree" $((base + 11))

python3 - "$out" "$n" "${BENCH_CACHE_SIM:-}" <<'PY'
import glob, os, re, sys
from collections import defaultdict
out, n = sys.argv[1], int(sys.argv[2])
caches = "caches simulated as `%s`" % sys.argv[3] if sys.argv[3] else "caches as the host reports them"
def load(tag):
    """dump name -> {thread: (total Ir, file, is_lazyfree_worker, {event: total})}, for files
    server.TAG.PID.N-TT. The events beyond Ir are callgrind's cache and branch simulation."""
    dumps = defaultdict(dict)
    for path in glob.glob(os.path.join(out, f"server.{tag}.*.*-*")):
        m = re.search(r"\.(\d+)-(\d+)$", path)
        if not m:
            continue
        name = tot = None
        worker = False
        events, ev = [], {}
        for line in open(path, errors="replace"):
            mm = re.match(r"desc: Trigger: (?:Client Request: )?dump (.+)$", line)
            if mm: name = mm.group(1).strip()
            if line.startswith("events:"):
                events = line.split()[1:]
            if line.startswith("totals:"):
                vals = [int(x) for x in line.split()[1:]]
                ev = dict(zip(events, vals + [0] * (len(events) - len(vals))))
                tot = vals[0]
            if "bioProcessBackgroundJobs" in line or "worker_main" in line:
                worker = True
        if name and tot is not None:
            dumps[(int(m.group(1)), name)][int(m.group(2))] = (tot, os.path.basename(path), worker, ev)
    return dumps
c, r = load("c"), load("rs")
lines = ["### server instructions per request (callgrind; valkey-benchmark -c 1 -P 16, %d requests per command)" % n, "",
         "Everything the server executes per request (networking, command, dict, allocator; all threads), same client, "
         "C build vs Rust build, `--hz 1`. Independent of machine load; the ratios of two runs agree within about 2% "
         "(event-loop batching and cron runs still vary a little), so only ratios above 1.01 are marked. "
         "L1i misses and branch mispredictions (conditional + indirect) per request are callgrind's simulation "
         "(`--cache-sim=yes --branch-sim=yes`, " + caches + "): context for wall-clock rows whose "
         "instructions are fewer, since they move with where the linker places Valkey's own code "
         "(see bench/README.md).", "",
         "| command | C Ir/req | Rust Ir/req | Rust/C | L1i misses/req C, Rust | mispredicts/req C, Rust "
         "| dumps (C, Rust) |", "| --- | ---: | ---: | ---: | ---: | ---: | --- |"]
byname = lambda d: {name: threads for (_, name), threads in d.items()}
cn, rn = byname(c), byname(r)
order = [name for (_, name) in sorted(c)]
per = lambda threads, keys: sum(e.get(k, 0) for _, _, _, e in threads.values() for k in keys) / n
lazy = None
for name in order:
    if name not in rn:
        continue
    if name == "lazyfree":
        lazy = name
        continue
    ci = sum(t for t, _, _, _ in cn[name].values()) / n
    ri = sum(t for t, _, _, _ in rn[name].values()) / n
    ratio = ri / ci
    cf = min(f for _, f, _, _ in cn[name].values()); rf = min(f for _, f, _, _ in rn[name].values())
    i1 = f"{per(cn[name], ['I1mr']):.2f}, {per(rn[name], ['I1mr']):.2f}"
    bm = f"{per(cn[name], ['Bcm', 'Bim']):.1f}, {per(rn[name], ['Bcm', 'Bim']):.1f}"
    lines.append(f"| {name} | {ci:,.0f} | {ri:,.0f} | {ratio:.3f}{' **>1.01**' if ratio > 1.01 else ''} | {i1} | {bm} "
                 f"| {cf}, {rf} |")
if lazy:
    cw = [(t, f) for t, f, w, _ in cn[lazy].values() if w]
    rw = [(t, f) for t, f, w, _ in rn[lazy].values() if w]
    if cw and rw:
        (ct, cf), (rt, rf) = cw[0], rw[0]
        lines += ["", "Lazyfree worker thread (bio's `BIO_LAZY_FREE` thread vs the Rust worker): instructions to free a "
                  f"{n * 10:,}-element zset, a {n * 10:,}-element set (UNLINK) and a {n * 10:,}-key DB (FLUSHALL ASYNC), "
                  "each waited out:", "",
                  "| thread | C Ir | Rust Ir | Rust/C | dumps (C, Rust) |", "| --- | ---: | ---: | ---: | --- |",
                  f"| lazyfree worker | {ct:,} | {rt:,} | {rt / ct:.4f} | {cf}, {rf} |"]
open(os.path.join(out, "server-profile.md"), "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
