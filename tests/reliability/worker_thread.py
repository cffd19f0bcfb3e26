#!/usr/bin/env python3
"""The lazyfree worker thread of a USE_RUST_CORE=yes valkey-server, as the kernel sees it.

Like bio.c's lazyfree thread it must be named bio_lazy_free, block SIGALRM and run on
the CPUs of `bio-cpulist`. Unlike it, it runs under SCHED_BATCH (see
vkrs_bio_thread_init in csrc/valkey_shims.c): its wake-ups never preempt the main
thread in the middle of the FLUSHALL ASYNC or UNLINK that woke it. Its nice value is
the process's, and a policy the operator set for the whole process with chrt (here
SCHED_IDLE, which needs no privileges) is left alone.

Each case starts a server on loopback (tests/chaos/switchover.py's Server), reads
/proc/PID/task/*/{comm,stat,status} and stops it. Expected nice values are relative to
this process's own. Exit 0 iff every check passed. The plain C build fails the
SCHED_BATCH checks by design (its bio threads are SCHED_OTHER).

Usage: worker_thread.py [--server-dir build/valkey]
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "chaos"))
from switchover import Server, free_port  # noqa: E402

SCHED_OTHER, SCHED_BATCH, SCHED_IDLE = 0, 3, 5
POLICY_NAMES = {0: "SCHED_OTHER", 1: "SCHED_FIFO", 2: "SCHED_RR", 3: "SCHED_BATCH", 5: "SCHED_IDLE",
                6: "SCHED_DEADLINE"}
SIGALRM = 14


def thread_of(pid, comm):
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                if f.read().strip() == comm:
                    return int(tid)
        except OSError:
            pass
    return None


def stat_fields(pid, tid):
    """/proc/PID/task/TID/stat as a dict of the fields used here (man 5 proc numbering)."""
    with open(f"/proc/{pid}/task/{tid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    # rest[0] is field 3 (state): field N is rest[N - 3].
    return {"nice": int(rest[19 - 3]), "policy": int(rest[41 - 3])}


def status_fields(pid, tid):
    out = {}
    with open(f"/proc/{pid}/task/{tid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def worker_tid(pid, timeout=20):
    """The worker is created by bioInit before the server answers; its init runs on the
    thread itself, so wait until it has renamed itself."""
    deadline = time.time() + timeout
    while True:
        tid = thread_of(pid, "bio_lazy_free")
        if tid is not None or time.time() >= deadline:
            return tid
        time.sleep(0.02)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server-dir", default="build/valkey")
    args = ap.parse_args()
    binary = os.path.join(args.server_dir, "src", "valkey-server")
    if not sys.platform.startswith("linux"):
        print("worker_thread.py: Linux only (reads /proc); skipped")
        return 0
    work = tempfile.mkdtemp(prefix="vkrs-worker-")
    failed = 0

    def check(what, ok, detail):
        nonlocal failed
        print("%s  %s (%s)" % ("ok  " if ok else "FAIL", what, detail))
        failed += 0 if ok else 1

    cpu = min(os.sched_getaffinity(0))
    # Expectations follow this process's own nice value; a runner that is not at
    # SCHED_OTHER starts the servers with `chrt --other 0` so the switch is still tested.
    base_nice = os.getpriority(os.PRIO_PROCESS, 0)
    have_chrt = shutil.which("chrt") is not None

    def chrt_works(*a):
        return have_chrt and subprocess.run(["chrt", *a, "true"], capture_output=True).returncode == 0

    base = ()
    if os.sched_getscheduler(0) & 0xFF != SCHED_OTHER:
        if not chrt_works("--other", "0"):
            print("worker_thread.py: this process is not SCHED_OTHER and chrt cannot reset it; skipped")
            return 0
        base = ("chrt", "--other", "0")
    cases = [("default", base, ("--bio-cpulist", str(cpu)), SCHED_BATCH, base_nice),
             ("nice -n 5", (*base, "nice", "-n", "5"), (), SCHED_BATCH, min(base_nice + 5, 19))]
    if chrt_works("--idle", "0"):
        cases.append(("chrt --idle 0", ("chrt", "--idle", "0"), (), SCHED_IDLE, base_nice))
    else:
        print("skip  chrt --idle case (chrt missing or SCHED_IDLE refused here)")
    try:
        for i, (name, prefix, extra, want_policy, want_nice) in enumerate(cases):
            s = Server(binary, work, "s%d" % i, free_port())
            try:
                s.start(prefix=prefix, extra=extra)
                proc = s.proc
                tid = worker_tid(proc.pid)
                check(f"{name}: a thread named bio_lazy_free exists", tid is not None, f"pid {proc.pid}")
                if tid is None:
                    continue
                st, ss = stat_fields(proc.pid, tid), status_fields(proc.pid, tid)
                check(f"{name}: scheduling policy", st["policy"] == want_policy,
                      f"{POLICY_NAMES.get(st['policy'], st['policy'])}, want {POLICY_NAMES[want_policy]}")
                check(f"{name}: nice value", st["nice"] == want_nice, f"{st['nice']}, want {want_nice}")
                main_policy = stat_fields(proc.pid, proc.pid)["policy"]
                want_main = SCHED_IDLE if want_policy == SCHED_IDLE else SCHED_OTHER
                check(f"{name}: the main thread's policy is untouched", main_policy == want_main,
                      POLICY_NAMES.get(main_policy, main_policy))
                blocked = int(ss["SigBlk"], 16)
                check(f"{name}: SIGALRM blocked", bool(blocked >> (SIGALRM - 1) & 1), f"SigBlk {ss['SigBlk']}")
                if extra:
                    check(f"{name}: runs on bio-cpulist", ss["Cpus_allowed_list"] == str(cpu),
                          f"Cpus_allowed_list {ss['Cpus_allowed_list']}, want {cpu}")
            finally:
                s.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("worker_thread.py: %d failed" % failed)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
