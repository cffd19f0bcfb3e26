#!/usr/bin/env python3
"""The client's reply latency of FLUSHALL ASYNC on a writable replica, C build beside Rust
build, each with its lazyfree worker under its own scheduling policy and switched to the
other one, and where a slow reply's time went.

    bench/flush_reply.py C_TREE RS_TREE [--flushes 24] [--keys 1000000] [--port 17400]
                         [--servers c:other,c:batch,rs:batch,rs:other]

The flush section's info row "reply latency (client)" is bimodal in both builds: a reply
after 0.1-0.2 ms, or after 1-5 ms. This script runs the section's set-up (a primary and a
writable replica per build, side by side) and four servers' worth of flushes: C with its
bio thread as built (SCHED_OTHER) and switched to SCHED_BATCH, Rust as built (its worker is
SCHED_BATCH, csrc/valkey_shims.c) and switched to SCHED_OTHER. The policy is set on the
running `bio_lazy_free` thread, as `chrt -p` would. Each flush comes right after writing
--keys keys with a TTL on the replica and 0.2 s of quiet; the four take turns, the first
rotating (--servers: a subset, e.g. c:other,rs:batch, the builds as built). Per flush it
records the reply latency, the command's own microseconds (commandstats), two schedstat
deltas from the request to the reply (this client thread's time waiting on a run queue,
and the worker's CPU time), and the CPU this client and the worker last ran on before the
request. A slow reply whose client wait matches the worker's CPU time is the client woken
onto the CPU where the worker had started freeing, queued behind it until the next tick
(bench/README.md, "FLUSHALL ASYNC's reply to a local client").

Prints one JSON line per flush and, per server, the median latency, the replies over 1 ms,
and how many of them came when the client sat on the worker's last CPU and when not.
Needs Linux; the policy switch needs permission to change the server's threads (the
same user).
"""
import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import types

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402

POLICY = {"other": os.SCHED_OTHER, "batch": os.SCHED_BATCH}
AS_BUILT = {"c": "other", "rs": "batch"}
SERVERS = [("c", "other"), ("c", "batch"), ("rs", "batch"), ("rs", "other")]


def last_cpu(pid, tid):
    """The CPU the thread last ran on (field 39 of its stat)."""
    with open(f"/proc/{pid}/task/{tid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[36])


def client_wait_ns():
    with open("/proc/thread-self/schedstat") as f:
        return int(f.read().split()[1])


def slow(recs):
    return f"{sum(r['reply_ms'] > 1 for r in recs)} of {len(recs)}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("c_tree")
    ap.add_argument("rs_tree")
    ap.add_argument("--flushes", type=int, default=24, help="per server (default 24)")
    ap.add_argument("--keys", type=int, default=1000000)
    ap.add_argument("--port", type=int, default=int(os.environ.get("BENCH_PORT", "17400")))
    ap.add_argument("--servers", default=",".join(f"{b}:{pol}" for b, pol in SERVERS),
                    help="BUILD:POLICY,... (default: all four)")
    a = ap.parse_args()
    servers = [tuple(x.split(":")) for x in a.servers.split(",")]
    if not servers or any(x not in SERVERS for x in servers):
        sys.exit(f"--servers: each of BUILD:POLICY among {', '.join(f'{b}:{pol}' for b, pol in SERVERS)}")
    trees = {"c": os.path.abspath(a.c_tree), "rs": os.path.abspath(a.rs_tree)}
    work = tempfile.mkdtemp(prefix="flush-reply-")
    cfg = types.SimpleNamespace(port=a.port, work=work, tree=trees,
                                vbench=os.path.join(trees["c"], "src", "valkey-benchmark"))
    rec = []
    with contextlib.ExitStack() as stack:
        reps = {b: stack.enter_context(bench.writable_replica(cfg, b, port=a.port + 2 * i))
                for i, b in enumerate(("c", "rs"))}
        for i in range(a.flushes):
            k = i % len(servers)
            for b, pol in servers[k:] + servers[:k]:
                repl, c = reps[b]
                worker = repl.threads(bench.LAZYFREE_THREAD)[0]
                os.sched_setscheduler(worker, POLICY[pol], os.sched_param(0))
                bench.fill_tracked(cfg, repl, c, a.keys)
                time.sleep(0.2)
                c.cmd("CONFIG", "RESETSTAT")
                w0, s0 = repl.thread_sched(bench.LAZYFREE_THREAD)[0], client_wait_ns()
                cpus = last_cpu(os.getpid(), threading.get_native_id()), last_cpu(repl.proc.pid, worker)
                t0 = time.perf_counter()
                reply = c.cmd("FLUSHALL", "ASYNC")
                reply_s = time.perf_counter() - t0
                s1, w1 = client_wait_ns(), repl.thread_sched(bench.LAZYFREE_THREAD)[0]
                if reply != "OK" or bench.drain(c, 300) is None:
                    raise RuntimeError(f"FLUSHALL ASYNC: reply {reply!r}, or the worker did not drain")
                rec.append({"build": b, "worker": pol, "flush": i, "reply_ms": round(reply_s * 1e3, 4),
                            "cmdstat_us": bench.cmdstat_usec(c.info("everything"), "flushall"),
                            "client_wait_us": round((s1 - s0) / 1e3, 1),
                            "worker_cpu_us": round((w1 - w0) / 1e3, 1),
                            "client_on_cpu": cpus[0], "worker_last_on_cpu": cpus[1]})
                print(json.dumps(rec[-1]), flush=True)
    subprocess.run(["rm", "-rf", work])
    print(f"\n{'server':30s} {'median reply ms':>15s} {'over 1 ms':>10s} {'client on the worker CPU: slow':>31s}"
          f" {'elsewhere: slow':>16s}")
    for b, pol in servers:
        xs = [x for x in rec if x["build"] == b and x["worker"] == pol]
        same = [x for x in xs if x["client_on_cpu"] == x["worker_last_on_cpu"]]
        other = [x for x in xs if x["client_on_cpu"] != x["worker_last_on_cpu"]]
        name = f"{bench.BUILD_LABEL[b]}, worker {pol.upper()}" + (" (as built)" if AS_BUILT[b] == pol else "")
        print(f"{name:30s} {statistics.median(x['reply_ms'] for x in xs):15.3f} {slow(xs):>10s} {slow(same):>31s}"
              f" {slow(other):>16s}")


if __name__ == "__main__":
    main()
