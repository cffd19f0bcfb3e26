#!/usr/bin/env python3
"""FLUSHALL ASYNC's main-thread time on a writable replica at nanosecond resolution,
segment by segment, C build beside Rust build.

    bench/flush_segments.py C_TREE RS_TREE OUT_DIR [--instances 16] [--flushes 3] [--keys 1000000]
                            [--variant NAME=CRATE_DIR ...]

The `flush` section of `make bench` reads the command's time from INFO commandstats,
in whole microseconds: the command takes 8-10 us, so the two builds' medians tie or
differ by one step. This script copies both built trees to OUT_DIR, adds time-stamp
counter reads (rdtsc, x86-64 only) to two C files that both builds compile alike
(src/db.c: flushallCommand and emptyData; src/kvstore.c: kvstoreCreate), relinks
valkey-server in each copy and runs the flush section's set-up: per instance, a
primary and a writable replica of each build side by side, then --flushes FLUSHALL
ASYNC per build, each right after writing --keys keys with a TTL on the replica, the
builds alternating (rotating, with --variant). The replica logs one line per command (after the stamps are
taken), which this script reads. Each server pair is a new instance because the
segments move by tenths of a microsecond from one server process to the next (address
layout) in both builds; the table compares per-instance medians, with a 95 % interval
for the median of the instances' differences (sign test, from their order statistics:
no assumption about how the differences are distributed; 16 instances give the 4th and
13th of them, 40 the 14th and 27th) and writes every instance's values to
OUT_DIR/per-instance.tsv.

Segments (each the time between two stamps, from the command's start to addReply):
  signalFlushedDb+module event; emptyDbStructure up to the end of the third
  kvstoreCreate (the fresh kvstores); the rest of emptyDbStructure (the free job's
  submission and the worker's wake-up); flushReplicaKeysWithExpireList (the tracker's
  job); the rest up to addReply. The library's own functions are not instrumented, so
  the Rust build's library code runs as shipped.

--variant NAME=CRATE_DIR (repeatable) adds one more build to the same run: another copy
of RS_TREE linked against the library of the crate checkout at CRATE_DIR (built there
under target/valkey), for trying a change of the library against C and against the
library as it is, with the same servers' set-up, in one run. Its columns compare it
with C too.

Needs both trees built (make valkey valkey-c), a C compiler, 2 or more CPUs and
~1 GB in OUT_DIR. Ports BENCH_PORT+40.. (default 17440..17443, two more per variant). Not part of make bench:
it changes the servers it measures (a few rdtsc and one log line per command)."""

import argparse
import contextlib
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from types import SimpleNamespace

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402

TAG = "VKRS-SEGMENTS"
SEGMENTS = ("getFlushCommandFlags", "signalFlushedDb + module event", "3 x kvstoreCreate (fresh kvstores)",
            "rest of emptyDbStructure (DB job submitted, worker woken)", "flushReplicaKeysWithExpireList",
            "rest, up to addReply", "whole command (what cmdstat counts, in us)")

STAMP_DECL = '''
/* flush_segments.py: time-stamp counter reads around FLUSHALL's steps. */
unsigned long long vkrs_seg_t[8], vkrs_seg_kc[4];
int vkrs_seg_k = 99;
'''


def edit(path, pairs):
    """Replaces each old text of pairs, which must occur exactly once, by its new text; raises
    if Valkey's code no longer reads as expected."""
    with open(path) as f:
        text = f.read()
    for old, new in pairs:
        if text.count(old) != 1:
            raise RuntimeError(f"{path}: expected one {old[:60]!r}")
        text = text.replace(old, new)
    with open(path, "w") as f:
        f.write(text)


def instrument(src):
    """Adds the stamps to src/db.c and src/kvstore.c of the tree copy at src."""
    edit(os.path.join(src, "db.c"), [
        ('#include "server.h"\n', '#include "server.h"\n' + STAMP_DECL),
        ("void flushallCommand(client *c) {\n    int flags;\n",
         "void flushallCommand(client *c) {\n    int flags;\n    vkrs_seg_t[0] = __builtin_ia32_rdtsc();\n"),
        ("    /* Fire the flushdb modules event. */\n    moduleFireServerEvent(VALKEYMODULE_EVENT_FLUSHDB, "
         "VALKEYMODULE_SUBEVENT_FLUSHDB_START, &fi);",
         "    vkrs_seg_t[1] = __builtin_ia32_rdtsc();\n    /* Fire the flushdb modules event. */\n"
         "    moduleFireServerEvent(VALKEYMODULE_EVENT_FLUSHDB, VALKEYMODULE_SUBEVENT_FLUSHDB_START, &fi);"),
        ("    removed = emptyDbStructure(server.db, dbnum, async, callback);\n\n"
         "    if (dbnum == -1) flushReplicaKeysWithExpireList(async);",
         "    vkrs_seg_t[2] = __builtin_ia32_rdtsc();\n    vkrs_seg_k = 0;\n"
         "    removed = emptyDbStructure(server.db, dbnum, async, callback);\n"
         "    vkrs_seg_t[3] = __builtin_ia32_rdtsc();\n    vkrs_seg_k = 99;\n"
         "    if (dbnum == -1) flushReplicaKeysWithExpireList(async);\n    vkrs_seg_t[4] = __builtin_ia32_rdtsc();"),
        ("    forceCommandPropagation(c, PROPAGATE_REPL | PROPAGATE_AOF);\n\n    addReply(c, shared.ok);\n}",
         "    forceCommandPropagation(c, PROPAGATE_REPL | PROPAGATE_AOF);\n\n    addReply(c, shared.ok);\n"
         "    vkrs_seg_t[5] = __builtin_ia32_rdtsc();\n"
         f'    serverLog(LL_WARNING, "{TAG} %llu %llu %llu %llu %llu %llu %llu", vkrs_seg_t[1] - vkrs_seg_t[0],\n'
         "              vkrs_seg_t[2] - vkrs_seg_t[1], vkrs_seg_kc[2] - vkrs_seg_t[2], vkrs_seg_t[3] - vkrs_seg_kc[2],\n"
         "              vkrs_seg_t[4] - vkrs_seg_t[3], vkrs_seg_t[5] - vkrs_seg_t[4], vkrs_seg_t[5] - vkrs_seg_t[0]);\n}"),
    ])
    edit(os.path.join(src, "kvstore.c"), [
        ("kvstore *kvstoreCreate(hashtableType *type, int num_hashtables_bits, int flags) {",
         "extern unsigned long long vkrs_seg_kc[4];\nextern int vkrs_seg_k;\n"
         "kvstore *kvstoreCreate(hashtableType *type, int num_hashtables_bits, int flags) {"),
        ("\n    return kvs;\n}",
         "\n    if (vkrs_seg_k < 3) vkrs_seg_kc[vkrs_seg_k++] = __builtin_ia32_rdtsc();\n    return kvs;\n}"),
    ])


def tsc_per_us():
    """The time-stamp counter's rate, measured against CLOCK_MONOTONIC over 0.2 s."""
    code = ("#include <stdio.h>\n#include <time.h>\n#include <x86intrin.h>\n"
            "static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); "
            "return t.tv_sec * 1e6 + t.tv_nsec / 1e3; }\n"
            "int main(void) { double t0 = now(); unsigned long long c0 = __rdtsc(); "
            "while (now() - t0 < 200000) ; printf(\"%f\\n\", (__rdtsc() - c0) / (now() - t0)); return 0; }\n")
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "t.c"), "w") as f:
            f.write(code)
        subprocess.run(["cc", "-O2", "-o", os.path.join(d, "t"), os.path.join(d, "t.c")], check=True)
        return float(subprocess.run([os.path.join(d, "t")], check=True, capture_output=True, text=True).stdout)


def build_copy(tree, dest, make_args):
    if os.path.exists(dest):
        shutil.rmtree(dest)
    shutil.copytree(tree, dest, symlinks=True)
    instrument(os.path.join(dest, "src"))
    subprocess.run(["make", "-C", os.path.join(dest, "src"), f"-j{os.cpu_count() or 2}", "valkey-server",
                    *make_args], check=True, stdout=subprocess.DEVNULL)


def median_interval(d, level=0.95):
    """Distribution-free interval for the median of d: the order statistics x_(k) and
    x_(n-k+1), k the largest with P(Binomial(n, 1/2) < k) <= (1 - level) / 2 (coverage >= level).
    Fewer than 6 values: the whole range (no such k)."""
    x, n = sorted(d), len(d)
    k, tail = 0, 0.0
    while True:
        nxt = tail + math.comb(n, k) / 2 ** n  # P(X <= k) = P(X < k + 1)
        if nxt > (1 - level) / 2:
            break
        tail, k = nxt, k + 1
    if k == 0:
        return x[0], x[-1]
    return x[k - 1], x[n - k]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("c_tree")
    ap.add_argument("rs_tree")
    ap.add_argument("out")
    ap.add_argument("--instances", type=int, default=16)
    ap.add_argument("--flushes", type=int, default=3)
    ap.add_argument("--keys", type=int, default=1000000)
    ap.add_argument("--variant", action="append", default=[], metavar="NAME=CRATE_DIR",
                    help="one more Rust build, linked against the crate at CRATE_DIR")
    args = ap.parse_args()
    if os.uname().machine != "x86_64":
        sys.exit("flush_segments.py: x86-64 only (rdtsc)")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    crates = {"rs": root}
    for v in args.variant:
        name, sep, crate = v.partition("=")
        if not sep or not name.isidentifier() or name == "c" or name in crates:
            sys.exit(f"flush_segments.py: --variant wants NAME=CRATE_DIR with a new NAME, got {v!r}")
        crates[name] = os.path.abspath(crate)
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    trees = {"c": os.path.join(out, "valkey-c")}
    trees.update({b: os.path.join(out, "valkey" if b == "rs" else f"valkey-{b}") for b in crates})
    names = list(trees)
    bench.log(f"flush_segments: copying and relinking {len(names)} trees with the stamps")
    build_copy(os.path.abspath(args.c_tree), trees["c"], ["USE_RUST_CORE=no"])
    for b, crate in crates.items():
        build_copy(os.path.abspath(args.rs_tree), trees[b],
                   ["USE_RUST_CORE=yes", f"RUST_CORE_DIR={crate}", f"CARGO_TARGET_DIR={crate}/target/valkey"])
    rate = tsc_per_us()
    cfg = SimpleNamespace(tree=trees, vbench=os.path.join(os.path.abspath(args.c_tree), "src", "valkey-benchmark"),
                          port=int(os.environ.get("BENCH_PORT", "17400")) + 40, quick=False,
                          work=tempfile.mkdtemp(prefix="work-", dir=out))
    per = {b: [] for b in names}  # per instance: the median of each segment

    def order(k):
        # Two builds: bench's alternation (slot_order / round_order). More: the rotations, then
        # the same reversed, so that no build always runs right after the same other build
        # (in a run with rotations alone, the build that always ran right after C's was
        # 0.4-0.8 us slower than C in steps that are C code in every build).
        if len(names) == 2:
            return list(bench.round_order(k))
        n = len(names)
        rot = names[k % n:] + names[:k % n]
        return rot[::-1] if (k // n) % 2 else rot

    try:
        for inst in range(args.instances):
            got = {b: [] for b in names}
            with contextlib.ExitStack() as stack:
                reps = {b: stack.enter_context(bench.writable_replica(cfg, b, port=cfg.port + 2 * i))
                        for i, b in enumerate(order(inst))}
                for f in range(args.flushes):
                    for b in order(inst + f):
                        repl, c = reps[b]
                        bench.fill_tracked(cfg, repl, c, args.keys)
                        time.sleep(0.05)
                        if c.cmd("FLUSHALL", "ASYNC") != "OK" or bench.drain(c, 300) is None:
                            raise RuntimeError("FLUSHALL ASYNC failed or did not drain")
                        with open(os.path.join(repl.dir, "server.log")) as fh:
                            logged = [ln for ln in fh if TAG in ln]
                        got[b].append([int(x) / rate for x in logged[-1].split(TAG)[1].split()])
            for b in names:
                per[b].append([statistics.median(v[k] for v in got[b]) for k in range(len(SEGMENTS))])
            bench.log(f"flush_segments: instance {inst + 1}/{args.instances} done")
    finally:
        bench.stop_all_servers()
        shutil.rmtree(cfg.work, ignore_errors=True)
    lines = [f"# FLUSHALL ASYNC main thread by segment, {args.keys} tracked keys",
             "", f"{args.instances} instances x {args.flushes} flushes per build; time-stamp counter at "
             f"{rate:.1f} per us; per instance the median of its flushes; Rust-C is the median (and mean) "
             "of the instances' differences", "",
             "| segment | C us | " + " | ".join(
                 f"{label} us | {label}-C us (median) | 95 % interval | mean | {label} lower"
                 for label in ("Rust" if b == "rs" else b for b in names[1:])) + " |",
             "| --- | ---: |" + " ---: | ---: | --- | ---: | ---: |" * (len(names) - 1)]
    for k, name in enumerate(SEGMENTS):
        c = [v[k] for v in per["c"]]
        cells = []
        for b in names[1:]:
            r = [v[k] for v in per[b]]
            d = [y - x for x, y in zip(c, r)]
            lo, hi = median_interval(d)
            cells.append(f"{statistics.median(r):.2f} | {statistics.median(d):+.2f} | [{lo:+.2f}, {hi:+.2f}] "
                         f"{'lower' if hi < 0 else 'higher' if lo > 0 else 'open'} | {statistics.mean(d):+.2f} "
                         f"| {sum(x < 0 for x in d)}/{len(d)}")
        lines.append(f"| {name} | {statistics.median(c):.2f} | " + " | ".join(cells) + " |")
    lines += ["", "95 % interval: of the median difference, from the instances' order statistics (sign test; "
              "no assumption about the differences' distribution). lower / higher: the whole interval is "
              "below / above 0; open: it contains 0. Per-instance values: per-instance.tsv."]
    with open(os.path.join(out, "per-instance.tsv"), "w") as f:
        f.write("build\tinstance\t" + "\t".join(SEGMENTS) + "\n")
        for b in names:
            for i, v in enumerate(per[b]):
                f.write(f"{b}\t{i}\t" + "\t".join(f"{x:.4f}" for x in v) + "\n")
    text = "\n".join(lines) + "\n"
    with open(os.path.join(out, "flush-segments.md"), "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
