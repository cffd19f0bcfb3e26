#!/usr/bin/env python3
"""FLUSHALL ASYNC main-thread cost and client-side reply latency on a writable replica, repeated.

Starts a primary and a writable replica (loopback), then N times: writes K keys
with a TTL directly on the replica (tracked in replicaKeysWithExpire), waits for
lazyfree to be idle, CONFIG RESETSTAT, FLUSHALL ASYNC, reads the command's usec
from INFO commandstats. Prints the distribution. Bounded: N rounds, every wait
with a timeout.

Usage: flush_probe.py [--server-dir build/valkey] [--rounds 20] [--keys 50000]
"""
import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from switchover import Conn, Server, free_port, wait_for  # noqa: E402


def main_thread_cpu_ns(pid):
    """CPU time the server's main thread has run (it excludes time spent waiting for a core)."""
    with open("/proc/%d/task/%d/schedstat" % (pid, pid)) as f:
        return int(f.read().split()[0])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server-dir", default="build/valkey")
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--keys", type=int, default=50000)
    args = ap.parse_args()
    binary = os.path.join(args.server_dir, "src", "valkey-server")
    work = tempfile.mkdtemp(prefix="vkrs-flush-")
    pa = free_port()
    pb = free_port()
    A, B = Server(binary, work, "A", pa), Server(binary, work, "B", pb)
    usecs = []
    replies = []
    cpus = []
    try:
        A.start()
        B.start(replicaof=pa)
        cb = Conn(pb)
        wait_for("replica link", lambda: cb.info("replication").get("master_link_status") == "up", 30)
        cb.cmd("CONFIG", "SET", "replica-read-only", "no")
        for r in range(args.rounds):
            for i in range(0, args.keys, 1000):
                cb.pipeline([("SET", "k%d:%d" % (r, j), "v", "EX", 3600) for j in range(i, min(i + 1000, args.keys))])
            wait_for("lazyfree idle", lambda: cb.info("memory").get("lazyfree_pending_objects") == "0", 30)
            time.sleep(0.2)
            cb.cmd("CONFIG", "RESETSTAT")
            cpu0 = main_thread_cpu_ns(B.proc.pid)
            t0 = time.perf_counter()
            cb.cmd("FLUSHALL", "ASYNC")
            replies.append((time.perf_counter() - t0) * 1e3)
            cpus.append((main_thread_cpu_ns(B.proc.pid) - cpu0) / 1e3)
            st = cb.info("commandstats")["cmdstat_flushall"]
            usecs.append(int(st.split("usec=")[1].split(",")[0]))
        cb.close()
    finally:
        A.stop()
        B.stop()
        shutil.rmtree(work, ignore_errors=True)
    s = sorted(usecs)
    print("%s: FLUSHALL ASYNC usec over %d rounds (%d TTL keys tracked each): min %d median %d max %d; in order: %s"
          % (args.server_dir, len(s), args.keys, s[0], statistics.median(s), s[-1], usecs))
    c = sorted(cpus)
    print("%s: main thread CPU from before FLUSHALL ASYNC to its reply (schedstat), us: min %.0f median %.0f max %.0f;"
          " in order: %s" % (args.server_dir, c[0], statistics.median(c), c[-1], " ".join("%.0f" % x for x in cpus)))
    r = sorted(replies)
    print("%s: FLUSHALL ASYNC reply latency at the client, ms: min %.3f median %.3f p90 %.3f max %.3f; "
          "over 1 ms: %d of %d; in order: %s"
          % (args.server_dir, r[0], statistics.median(r), r[int(0.9 * (len(r) - 1))], r[-1],
             sum(x > 1 for x in r), len(r), " ".join("%.2f" % x for x in replies)))


if __name__ == "__main__":
    main()
