#!/usr/bin/env python3
"""Side-by-side benchmark driver: Rust core (build/valkey) vs C (build/valkey-c).

Every measurement is taken alternately on the C build and the Rust build, round
after round (the order flips each round), and the report shows medians and
Rust/C ratios.  Only the Python standard library is used (matplotlib, when
installed, adds a PNG chart).  All servers listen on 127.0.0.1 only; every
loop is bounded; every server this script starts is stopped by its own pid.

Sections (BENCH_SECTIONS, comma separated, default all):
  dict      bench/dict_bench.c linked with dict.o vs with the Rust library
  gtest     Valkey's DISABLED_dictBenchmark in valkey-unit-gtests of both builds
  e2e       valkey-benchmark (the C build's binary for both servers), -P 1 and -P 16,
            against both builds' servers at once (BENCH_E2E_TOGETHER)
  pubsub    used_memory of one data set (channels, patterns, scripts, functions,
            clients; both builds of a round with the same random seed, --same-seed) and
            PUBLISH throughput with thousands of channels and patterns
  flush     writable replica: FLUSHALL ASYNC / SYNC with 1M keys written with a TTL
  lazyfree  FLUSHALL ASYNC of a 5M-key DB, UNLINK of 1M-element hash/set/zset/list

Usage: bench/bench.py --out build/bench [--rounds 5] [--quick] [--sections ...]
(bench/run.sh builds everything first and calls this; `make bench` calls run.sh.)
"""
import argparse
import collections
import contextlib
import math
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILDS = ("c", "rs")
BUILD_LABEL = {"c": "C", "rs": "Rust"}

# ---------------------------------------------------------------- raw results


class Results:
    """Appends one line per sample to raw.tsv:
    section, metric, unit, better, build, round, value.
    better: lower (target Rust/C <= 1.00), higher (target Rust/C >= 0.99), lower-1pct (<= 1.01),
    lower-info / higher-info (shown, no target), same (must be equal)."""

    def __init__(self, path):
        self.path = path
        self.f = open(path, "a")

    def add(self, section, metric, unit, better, build, rnd, value):
        self.f.write(f"{section}\t{metric}\t{unit}\t{better}\t{build}\t{rnd}\t{value!r}\n")
        self.f.flush()


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def round_order(rnd):
    return BUILDS if rnd % 2 == 0 else BUILDS[::-1]


def slot_order(rnd):
    """Which build's server starts first and takes the first port(s), where both run side by side:
    flips each round, so that whatever the first or second server of a pair has in common (start
    order, port, where its memory lands) is not always the same build's. With the slots fixed, the
    second server freed a 1M-element hash faster in 5 of 5 rounds of a control run (C against C,
    2026-12-02) and in 4 of 5 of the real run before it."""
    return round_order(rnd)


# ---------------------------------------------------------------- tiny RESP client


class Conn:
    def __init__(self, port, timeout=120):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    @staticmethod
    def encode(*args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            if not isinstance(a, bytes):
                a = str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        return b"".join(out)

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise ConnectionError("server closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise ConnectionError("server closed the connection")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def read(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            raise RuntimeError(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n).decode(errors="replace")
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise RuntimeError(f"bad reply {line!r}")

    def cmd(self, *args):
        self.sock.sendall(self.encode(*args))
        return self.read()

    def pipeline(self, cmds):
        self.sock.sendall(b"".join(self.encode(*c) for c in cmds))
        return [self.read() for _ in cmds]

    def info(self, section="everything"):
        out = {}
        for line in self.cmd("INFO", section).splitlines():
            if ":" in line and not line.startswith("#"):
                k, v = line.split(":", 1)
                out[k] = v
        return out

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def cmdstat_field(info, cmd, field):
    """One field (usec, calls, ...) of INFO commandstats' line for cmd; None if cmd never ran."""
    v = info.get(f"cmdstat_{cmd}")
    if not v:
        return None
    return int(re.search(rf"(?:^|,){field}=(\d+)", v).group(1))


def cmdstat_usec(info, cmd):
    return cmdstat_field(info, cmd, "usec")


# ---------------------------------------------------------------- servers


def port_free(port):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as valkey-server does: TIME_WAIT is fine
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def _pinning():
    """CPU pinning for the throughput sections: the server on one CPU, valkey-benchmark (and
    the dict microbenchmark) on another, so client and server never share a core and the
    scheduler never migrates them mid-run. On a loaded 2-core machine this cut the rounds'
    spread from +-2-10 % to +-1-4 %. BENCH_PIN=0 turns it off; it also stays off without
    taskset or with fewer than two usable CPUs. The flush and lazyfree sections do not pin
    their servers (the lazyfree worker thread must not share the main thread's core), except
    the flush section's one-CPU replica, whose rows are about exactly that."""
    cpus = sorted(os.sched_getaffinity(0))
    if os.environ.get("BENCH_PIN", "1") == "0" or len(cpus) < 2 or not shutil.which("taskset"):
        return [], []
    return ["taskset", "-c", str(cpus[0])], ["taskset", "-c", str(cpus[1])]


PIN_SERVER, PIN_CLIENT = _pinning()


@contextlib.contextmanager
def client_side_cpu():
    """Keeps this process (the pub/sub section's subscriber thread) off the server's CPU."""
    if not PIN_CLIENT:
        yield
        return
    saved = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {int(PIN_CLIENT[-1])})
    try:
        yield
    finally:
        os.sched_setaffinity(0, saved)


class Server:
    """One valkey-server we started; stopped by our own pid only."""

    live = []

    def __init__(self, tree, port, workdir, extra=(), pin=False, env=None, exe=None):
        """exe: another valkey-server binary than the tree's (a relinked code placement)."""
        if not port_free(port):
            raise RuntimeError(f"port {port} is busy: set BENCH_PORT to a free range")
        self.port = port
        self.dir = tempfile.mkdtemp(prefix=f"srv{port}-", dir=workdir)
        args = [exe or os.path.join(tree, "src", "valkey-server"), "--port", str(port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", self.dir, "--logfile", "server.log",
                "--enable-debug-command", "yes", "--protected-mode", "yes", *extra]
        self.proc = subprocess.Popen((PIN_SERVER if pin else []) + args, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, env=None if env is None else {**os.environ, **env})
        Server.live.append(self)
        deadline = time.time() + 30
        while True:
            try:
                c = Conn(port, timeout=5)
                if c.cmd("PING") == "PONG":
                    c.close()
                    break
            except (OSError, ConnectionError, RuntimeError):
                pass
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"valkey-server on port {port} did not start (see {self.dir}/server.log)")
            time.sleep(0.05)

    def conn(self):
        return Conn(self.port)

    def vm(self, field):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
        return None

    def thread_cpu_ns(self, comm):
        """CPU time (ns, from schedstat) of the server's threads named comm, e.g. bio_lazy_free:
        what a job cost the worker, independent of how long it waited for a core."""
        return self.thread_sched(comm)[0]

    def threads(self, comm=None):
        """The ids of the server's threads (named comm, if given)."""
        tids = []
        for tid in os.listdir(f"/proc/{self.proc.pid}/task"):
            try:
                with open(f"/proc/{self.proc.pid}/task/{tid}/comm") as f:
                    if comm is None or f.read().strip() == comm:
                        tids.append(int(tid))
            except OSError:
                pass
        if not tids:
            # Zero would pass for a measurement (a binary under another name has another comm).
            raise RuntimeError(f"valkey-server (pid {self.proc.pid}) has no thread named {comm!r}")
        return tids

    def thread_sched(self, comm):
        """(CPU time, time spent waiting on a run queue for a CPU), ns, of the threads named
        comm: the first two fields of their schedstat."""
        cpu = wait = 0
        for tid in self.threads(comm):
            try:
                with open(f"/proc/{self.proc.pid}/task/{tid}/schedstat") as f:
                    fields = f.read().split()
            except OSError:  # a thread that ended: it runs no more
                continue
            cpu, wait = cpu + int(fields[0]), wait + int(fields[1])
        return cpu, wait

    def pin(self, cpus, comm=None):
        """Confines the server's threads (named comm, if given) to cpus."""
        for tid in self.threads(comm):
            os.sched_setaffinity(tid, cpus)

    def reset_peak_rss(self):
        try:
            with open(f"/proc/{self.proc.pid}/clear_refs", "w") as f:
                f.write("5")
            return True
        except OSError:
            return False

    def stop(self):
        if self.proc.poll() is None:
            try:
                c = Conn(self.port, timeout=10)
                c.sock.sendall(Conn.encode("SHUTDOWN", "NOSAVE"))
                c.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self in Server.live:
            Server.live.remove(self)
        subprocess.run(["rm", "-rf", self.dir])


def stop_all_servers(*_):
    for s in list(Server.live):
        try:
            s.stop()
        except Exception:  # noqa: BLE001 - best effort at exit
            s.proc.kill()


# ---------------------------------------------------------------- helpers


def median(xs):
    return statistics.median(xs)


def wait_until(pred, timeout, interval=0.001):
    """Poll pred() until true; returns seconds waited, or None on timeout. The first 20 ms
    are polled every 0.1 ms, so sub-millisecond drains are not rounded up to the interval."""
    t0 = time.perf_counter()
    while True:
        if pred():
            return time.perf_counter() - t0
        waited = time.perf_counter() - t0
        if waited > timeout:
            return None
        time.sleep(min(interval, 0.0001) if waited < 0.02 else interval)


def mark_paired(cfg, *sections):
    """Tells report.py that these sections' two builds ran side by side round by round: their
    rows' Rust/C is then the median of the rounds' own ratios (OUT_DIR/paired-sections)."""
    with open(os.path.join(cfg.out, "paired-sections"), "a") as f:
        f.write("".join(f"{name}\n" for name in sections))


def vbench_argv(cfg, port, args):
    """The C build's valkey-benchmark against port, on the client CPU."""
    return PIN_CLIENT + [cfg.vbench, "-h", "127.0.0.1", "-p", str(port), *map(str, args)]


def valkey_benchmark(cfg, port, args, timeout=600):
    """Run the C build's valkey-benchmark; returns {test name: rps}."""
    cmd = vbench_argv(cfg, port, ["--csv", *args])
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"valkey-benchmark failed: {' '.join(cmd)}\n{p.stderr}")
    out = {}
    for line in p.stdout.splitlines():
        f = [x.strip('"') for x in line.split('","')]
        if len(f) >= 2 and f[0] != "test":
            try:
                out[f[0].strip('"')] = float(f[1].strip('"'))
            except ValueError:
                pass
    return out


# ---------------------------------------------------------------- section: dict


# Code placements: build-dict-bench.sh builds the dict harness, and link-placements.sh relinks
# valkey-unit-gtests and valkey-server, padded by each of these bytes (0: unpadded).
PADS = (0, 16, 32, 48)


def placements(bins, variant=None):
    """The paddings whose variant (placed() or relinked(), N > 0) exists for every build in bins;
    0 always does."""
    variant = variant or placed
    return [p for p in PADS if p == 0 or all(os.path.exists(variant(bins[b], p)) for b in BUILDS)]


def placement(pads, rnd):
    """The padding of round rnd: each placement runs two rounds in a row, one per build order."""
    return pads[(rnd // 2) % len(pads)]


def placed(path, pad):
    """The dict harness padded by pad bytes: PATH_pN (build-dict-bench.sh)."""
    return path if pad == 0 else f"{path}_p{pad}"


def note_placements(cfg, section, binary, rounds, pads):
    """Logs, and writes to meta.md, which placements of a tree's relinked binary the section's
    rounds use (two rounds each: quick runs' 2 rounds use only the unpadded one); returns those."""
    used = pads[:-(-rounds // 2)]
    # run.sh relinks the servers with their objects reordered too (BENCH_LINK_ORDERS), not the gtest.
    orders = binary == "valkey-server" and os.environ.get("BENCH_LINK_ORDERS", "0") == "1"
    how = " and their objects in the order drawn from that number" if orders else ""
    log(f"{section}: {rounds} rounds, code placements padded by {used} bytes{how}")
    with open(os.path.join(cfg.out, "meta.md"), "a") as f:
        f.write(f"- {section}: {rounds} rounds per build" +
                (f", two rounds each on the binaries padded by {', '.join(map(str, used))} bytes{how} in turn (0: each "
                 f"tree's own {binary}, the others relinked by bench/link-placements.sh)\n"
                 if len(used) > 1 else f", each tree's own {binary} only (one code placement)\n"))
    return used


def relinked(path, pad):
    """A tree's binary relinked with pad bytes of padding (link-placements.sh): DIR_pN/NAME. It
    keeps its name, since a process's main thread is named after its executable, and the e2e
    section finds the server's main thread by that name (MAIN_THREAD)."""
    return path if pad == 0 else os.path.join(f"{os.path.dirname(path)}_p{pad}", os.path.basename(path))


def server_placements(cfg):
    """Each build's valkey-server, and the paddings whose relinked servers exist for both
    (run.sh's link-placements.sh), for the sections that rotate the servers' placements."""
    bins = {b: os.path.join(cfg.tree[b], "src", "valkey-server") for b in BUILDS}
    return bins, placements(bins, relinked)


def slice_override():
    """VALKEY_BENCH_SLICE_US as bench/lockstep.h takes it (digits only, above 0), or None: the
    lockstep processes read it from the environment they inherit."""
    us = os.environ.get("VALKEY_BENCH_SLICE_US", "")
    return int(us) if re.fullmatch(r"[0-9]+", us) and int(us) > 0 else None


def lockstep_slice():
    """The lockstep slice as the logs state it: bench/lockstep.h's 2 ms of CPU time, or
    VALKEY_BENCH_SLICE_US; the kernel's tick rounds it up (4 ms for 2 ms at HZ=250)."""
    us = slice_override()
    return (f"{us} us" if us else "2 ms") + " of CPU time (at least one kernel tick)"


def run_lockstep(cmds, timeout=1200, shim=None, cwd=None):
    """Runs one command, or two in lockstep: joined by two pipes, the two processes hand each
    other the CPU every slice of each timed phase, the first command's first. The pipes reach
    a dict_bench as -l IN,OUT,FIRST (dict_bench.c), any other program through shim
    (bench/lockstep_preload.c, preloaded) as VALKEY_BENCH_LOCKSTEP=IN,OUT,FIRST; a shim's
    commands are pinned here, not by taskset, which would carry the shim too. Returns
    [(build, stdout)] in the commands' order."""
    pipes = [os.pipe(), os.pipe()] if len(cmds) == 2 else []  # [first -> second, second -> first]
    pin = (lambda: os.sched_setaffinity(0, {int(PIN_CLIENT[-1])})) if shim and PIN_CLIENT else None
    procs = []
    try:
        for i, (b, cmd) in enumerate(cmds):
            fds, env = (), None
            if len(cmds) == 2:
                rd, wr = pipes[1 - i][0], pipes[i][1]
                fds = (rd, wr)
                if shim:
                    env = {**os.environ, "LD_PRELOAD": shim, "VALKEY_BENCH_LOCKSTEP": f"{rd},{wr},{int(i == 0)}"}
                else:
                    cmd = cmd + ["-l", f"{rd},{wr},{int(i == 0)}"]
            procs.append((b, cmd, subprocess.Popen(cmd, pass_fds=fds, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                                   text=True, env=env, cwd=cwd, preexec_fn=pin)))
    finally:
        # Only the two processes may hold the pipes: one that dies closes its ends, and the other
        # reads end-of-file and stops instead of waiting for it.
        for fd in {fd for pair in pipes for fd in pair}:
            os.close(fd)
    outputs = []
    try:
        for b, cmd, p in procs:
            out, err = p.communicate(timeout=timeout)
            if p.returncode != 0:
                raise RuntimeError(f"{' '.join(cmd)} ({b}) failed (rc {p.returncode}):\n{out[-2000:]}\n{err[-2000:]}")
            outputs.append((b, out))
    finally:
        for _, _, p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return outputs


def sec_dict(cfg, res):
    bins = {"c": os.path.join(cfg.out, "bin", "dict_bench_c"), "rs": os.path.join(cfg.out, "bin", "dict_bench_rs")}
    if cfg.control:
        # Copies, so that the two sides are two files as in the real comparison.
        for pad in PADS:
            if os.path.exists(placed(bins["c"], pad)):
                shutil.copy2(placed(bins["c"], pad), placed(bins["c"] + "_control", pad))
        bins["rs"] = bins["c"] + "_control"
    # Small-dict phases at 10M ops run 0.1-0.5 s each; at 2M they were short enough to be jitter.
    n, s = (100000, 200000) if cfg.quick else (1000000, 10000000)
    rounds = cfg.dict_rounds
    log(f"dict: {n} entries, {s} small-dict ops, {rounds} rounds per build")
    lto = os.path.join(cfg.out, "bin", "dict_bench_c_lto")
    inline = os.path.join(cfg.out, "bin", "dict_bench_rs_inline")
    runs = [("dict", b) for b in BUILDS]
    # Code placement: each pair of rounds (one per build order) runs the variant padded by the
    # next of these bytes (build-dict-bench.sh), both builds alike, so the medians span four
    # placements of every dict function instead of resting on one.
    pads = placements(bins)
    if os.path.exists(lto) and not cfg.control:
        bins["c_lto"] = lto
        runs.append(("dict-lto", "c_lto"))
        if os.path.exists(inline):
            bins["rs_inline"] = inline
            runs.append(("dict-lto", "rs_inline"))
    log(f"dict: rounds rotate over code placements padded by {pads} bytes")
    lockstep = os.environ.get("BENCH_DICT_LOCKSTEP", "1") != "0"
    log("dict: " + ("each round's two builds run in lockstep on one CPU, taking turns every "
                    f"{lockstep_slice()} inside each timed phase, in the loops over the big dicts "
                    "every so many operations (dict_bench.c: op_turn) "
                    "(BENCH_DICT_LOCKSTEP=0: one after the other)" if lockstep
                    else "each round's builds run one after the other"))
    if lockstep:
        # report.py: the rows' Rust/C is then the median of the rounds' own Rust/C.
        mark_paired(cfg, "dict", *(["dict-lto"] if any(b == "rs_inline" for _, b in runs) else []))
    for rnd in range(rounds):
        order = runs if rnd % 2 == 0 else runs[::-1]
        pad = placement(pads, rnd)
        cmds = [(b, PIN_CLIENT + [placed(bins[b], pad if section == "dict" else 0), "-n", str(n), "-s", str(s)])
                for section, b in order]
        # Pairs that run together: the two builds of each section, the first of the round's order first.
        batches = ([[c for c in cmds if (c[0] in BUILDS) == d] for d in (True, False)] if lockstep
                   else [[c] for c in cmds])
        outputs = []
        for batch in batches:
            outputs += run_lockstep(batch) if len(batch) == 2 else [run_lockstep([c])[0] for c in batch]
        for b, out in outputs:
            for line in out.splitlines():
                phase, value, unit, _ops = line.split("\t")
                if b == "c_lto":
                    # Context: the C dict inlined by LTO (as in valkey-server). No target.
                    res.add("dict-lto", phase, unit, "lower-info", "c", rnd, float(value))
                elif b == "rs_inline":
                    # ... against the library with the inline header (as in valkey-server).
                    res.add("dict-lto", phase, unit, "lower-info", "rs", rnd, float(value))
                else:
                    res.add("dict", phase, unit, "lower", b, rnd, float(value))
        log(f"dict: round {rnd + 1}/{rounds} done")
    if os.path.exists(lto) and not os.path.exists(inline) and not cfg.control:
        # Without the inline build, the Rust side of dict-lto is the dict section's Rust side.
        for line in open(res.path):
            f = line.rstrip("\n").split("\t")
            if f[0] == "dict" and f[4] == "rs":
                res.add("dict-lto", f[1], f[2], "lower-info", "rs", int(f[5]), float(f[6]))


# ---------------------------------------------------------------- section: gtest


def sec_gtest(cfg, res):
    bins = {"c": os.path.join(cfg.c_tree, "src", "unit", "valkey-unit-gtests"),
            "rs": os.path.join(cfg.rs_tree, "src", "unit", "valkey-unit-gtests")}
    for b, path in bins.items():
        if not os.path.exists(path):
            log(f"gtest: {path} missing; section skipped")
            return
    # Code placement, as in the dict section: each pair of rounds (one per build order) runs the
    # binaries relinked with the next padding (link-placements.sh), both builds alike. The
    # unpadded binaries are each tree's own, whose one placement moved Linear access by up to 2 %.
    pads = placements(bins, relinked)
    rounds = cfg.placed_rounds
    # --accurate: 5,000,000 items instead of 5,000 (which takes 0-1 ms, below the test's ms clock)
    args = ["--gtest_also_run_disabled_tests", "--gtest_filter=*dictBenchmark*", "--accurate"]
    log("gtest: DISABLED_dictBenchmark (--accurate: 5M items)")
    used = note_placements(cfg, "gtest dict benchmark", "valkey-unit-gtests", rounds, pads)
    # Lockstep, as the dict section's: the test times its phases by wall clock, so the shim
    # (bench/lockstep_preload.c) both hands the CPU over and keeps the handovers off that clock.
    lockstep = bool(cfg.lockstep_shim) and os.environ.get("BENCH_GTEST_LOCKSTEP", "1") != "0"
    log("gtest: " + ("each round's two builds run in lockstep on one CPU, taking turns every "
                     f"{lockstep_slice()}, meeting at every phase's end "
                     "(BENCH_GTEST_LOCKSTEP=0: one after the other)" if lockstep
                     else "each round's builds run one after the other"))
    if lockstep:
        mark_paired(cfg, "gtest", *(["gtest-stock"] if len(used) > 1 else []))
    for rnd in range(rounds):
        pad = placement(pads, rnd)
        cmds = [(b, [relinked(bins[b], pad), *args]) for b in round_order(rnd)]
        if lockstep:
            outputs = run_lockstep(cmds, timeout=900, shim=cfg.lockstep_shim, cwd=cfg.out)
        else:
            outputs = [run_lockstep([c], timeout=900, cwd=cfg.out)[0] for c in cmds]
        for b, out in outputs:
            found = 0
            for m in re.finditer(r"^(.+?): (\d+) items in (\d+) ms$", out, re.M):
                res.add("gtest", m.group(1), "ms", "lower", b, rnd, float(m.group(3)))
                if pad == 0 and len(used) > 1:
                    # Context: the same rows on each tree's own binary alone (a quarter of the rounds).
                    res.add("gtest-stock", m.group(1), "ms", "lower-info", b, rnd, float(m.group(3)))
                found += 1
            if not found:
                raise RuntimeError(f"gtest dictBenchmark printed no phase on {b}:\n{out[-2000:]}")
        log(f"gtest: round {rnd + 1}/{rounds} done (padding {pad})")


# ---------------------------------------------------------------- section: e2e

LUA_SET = "return redis.call('set', KEYS[1], ARGV[1])"
FUNC_LIB = ("#!lua name=benchlib\n"
            "redis.register_function('bench_set', function(keys, args) return redis.call('set', keys[1], args[1]) end)")
E2E_TESTS = "set,get,incr,lpush,sadd,hset,zadd"


def e2e_sample(srv, conn, cmd):
    """(seconds, calls of cmd, main-thread CPU ns) of one server now. The time is the middle of
    the INFO round trip: the server read its counter somewhere inside it."""
    t0 = time.perf_counter()
    info = conn.info("commandstats")
    t1 = time.perf_counter()
    return (t0 + t1) / 2, cmdstat_field(info, cmd, "calls") or 0, srv.thread_cpu_ns(MAIN_THREAD)


def benchmark_alone(cfg, srv, n, args):
    """n requests of one valkey-benchmark against one server, the other idle: (req/s as the
    client counted it, the server's main-thread CPU ns per request)."""
    cpu0 = srv.thread_cpu_ns(MAIN_THREAD)
    r = valkey_benchmark(cfg, srv.port, ["-n", n, *args])
    return next(iter(r.values())), (srv.thread_cpu_ns(MAIN_THREAD) - cpu0) / n


def together_window(cfg):
    """(warm-up, counted) seconds of each test that runs against both servers at once."""
    return (0.2, 0.5) if cfg.quick else (0.5, 2.5)


def e2e_together(cfg, srv, conns, order, args, cmd):
    """One test on both servers at once: a valkey-benchmark against each (both on the client
    CPU, both servers on the server CPU), then both servers' calls of cmd and main-thread CPU
    over the same window of time (together_window). Returns {build: (req/s, CPU ns per request)}."""
    warmup, window = together_window(cfg)
    # The clients each server has besides the benchmark's (the pub/sub section's subscribers and
    # idle clients), to wait for after the test.
    before = {b: int(conns[b].info("clients")["connected_clients"]) for b in order}
    procs = {}
    try:
        for b in order:
            # -n far beyond what the window needs: the clients are stopped after it.
            argv = vbench_argv(cfg, srv[b].port, ["-q", "-n", 1_000_000_000, *args])
            procs[b] = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(warmup)
        first = {b: e2e_sample(srv[b], conns[b], cmd) for b in order}
        time.sleep(window)
        last = {b: e2e_sample(srv[b], conns[b], cmd) for b in order}
        for b, p in procs.items():
            if p.poll() is not None:
                raise RuntimeError(f"{cmd}: valkey-benchmark against the {BUILD_LABEL[b]} server ended inside the "
                                   f"window (rc {p.returncode}): {p.stderr.read().decode(errors='replace')}")
    finally:
        for p in procs.values():
            p.kill()
            p.wait()
    out = {}
    for b in order:
        (t0, n0, cpu0), (t1, n1, cpu1) = first[b], last[b]
        if n1 <= n0:
            raise RuntimeError(f"{cmd}: no calls on the {BUILD_LABEL[b]} server inside the window")
        out[b] = ((n1 - n0) / (t1 - t0), (cpu1 - cpu0) / (n1 - n0))
    # The next test starts with both servers' benchmark clients gone.
    for b in order:
        if wait_until(lambda c=conns[b], n=before[b]: int(c.info("clients")["connected_clients"]) <= n, 30,
                      0.01) is None:
            raise RuntimeError(f"{cmd}: the {BUILD_LABEL[b]} server still has benchmark clients")
    return out


def sec_e2e(cfg, res):
    # About 1.2 s per run at full size: 0.3 s runs (50,000 / 500,000) were mostly jitter.
    n1, n16 = (20000, 100000) if cfg.quick else (200000, 2000000)
    # BENCH_E2E_TOGETHER (default on, with pinning): each test runs against both builds' servers
    # at once, both servers sharing one CPU and both clients the other, each server's requests
    # and main-thread CPU counted over the same window. One after the other, the same test's two
    # runs met a machine whose speed moves by several % from one second to the next (the rows'
    # spreads were +-8-34 %); together, both meet the same one, as in the dict section's lockstep.
    together = bool(PIN_SERVER) and os.environ.get("BENCH_E2E_TOGETHER", "1") != "0"
    warmup, window = together_window(cfg)
    # Code placement, as in the dict and gtest sections: each pair of rounds (one per slot order)
    # runs the servers relinked with the next padding (link-placements.sh), both builds alike.
    # The rows taken together moved by about 1 % from one placement to another (bench/README.md).
    bins, pads = server_placements(cfg)
    rounds = cfg.placed_rounds
    if together:
        log(f"e2e: valkey-benchmark -c 50 -r 100000, unpipelined and with -P 16, against both builds' servers "
            f"at once (BENCH_E2E_TOGETHER=0: one after the other), {warmup} s warm-up, then {window} s counted, "
            f"{rounds} rounds")
        mark_paired(cfg, "e2e", "e2e-cpu")
    else:
        log(f"e2e: valkey-benchmark -c 50 -r 100000, {n1} requests unpipelined, {n16} with -P 16, {rounds} rounds")
    note_placements(cfg, "e2e", "valkey-server", rounds, pads)
    # Both builds' servers run side by side (pinned to the same CPU). One after the other (one
    # idle while the other is measured), the builds alternate test by test, the first build
    # flipping from one test to the next and from one round to the next. Running one build's 20
    # tests, then the other's, put ~25 s between the two runs of a test, and the machine's load
    # drifts over that time.
    leans = collections.defaultdict(list)  # padding -> each of its rounds' Rust/C of CPU per request
    for rnd in range(rounds):
        srv = {}
        conns = {}
        cpu_logs = []  # this round's log Rust/C of CPU per request, row by row, for the log line
        pad = placement(pads, rnd)
        try:
            # Which build starts first and takes the first port flips each round (slot_order).
            for i, b in enumerate(slot_order(rnd)):
                srv[b] = Server(cfg.tree[b], cfg.port + i, cfg.work, pin=True, exe=relinked(bins[b], pad))
            shas = set()
            for b, s in srv.items():
                c = conns[b] = s.conn()
                shas.add(c.cmd("SCRIPT", "LOAD", LUA_SET))
                c.cmd("FUNCTION", "LOAD", "REPLACE", FUNC_LIB)
            (sha,) = shas  # the SHA1 of the same script
            tests = {t.upper(): ["-t", t] for t in E2E_TESTS.split(",")}
            tests.update({
                "PUBLISH": ["PUBLISH", "chan:__rand_int__", "hello"],
                "EVALSHA": ["EVALSHA", sha, 1, "key:__rand_int__", "v"],
                "FCALL": ["FCALL", "bench_set", 1, "key:__rand_int__", "v"],
            })
            runs = [(pipe, n, name, args) for pipe, n in ((1, n1), (16, n16)) for name, args in tests.items()]
            for i, (pipe, n, name, args) in enumerate(runs):
                common = ["-c", 50, "-r", 100000, "-P", pipe, *args]
                if together:
                    got = e2e_together(cfg, srv, conns, round_order(rnd + i), common, name.lower())
                else:
                    got = {b: benchmark_alone(cfg, srv[b], n, common) for b in round_order(rnd + i)}
                for b in BUILDS:
                    res.add("e2e", f"{name} -P {pipe}", "req/s", "higher", b, rnd, got[b][0])
                    res.add("e2e-cpu", f"{name} -P {pipe}", "ns/req", "lower-1pct", b, rnd, got[b][1])
                if got["c"][1] > 0 and got["rs"][1] > 0:
                    cpu_logs.append(math.log(got["rs"][1] / got["c"][1]))
        finally:
            for c in conns.values():
                c.close()
            for s in srv.values():
                s.stop()
        # The layout's own lean shows here: one binary pair per placement, two rounds each.
        lean = f"{math.exp(statistics.mean(cpu_logs)):.3f}" if cpu_logs else "-"
        leans[pad].append(lean)
        log(f"e2e: round {rnd + 1}/{rounds} done (padding {pad}); CPU per request Rust/C, all rows: {lean}")
    with open(os.path.join(cfg.out, "meta.md"), "a") as f:
        f.write("- e2e: CPU per request, Rust/C of each round (geometric mean of its 20 rows), by code placement: " +
                "; ".join(f"{p}: {', '.join(xs)}" for p, xs in leans.items()) + "\n")


# ---------------------------------------------------------------- section: pubsub + memory


class Subscribers:
    """Subscriber connections that subscribe, then read and discard until closed."""

    def __init__(self, port, nconn, channels, patterns):
        self.conns = [Conn(port) for _ in range(nconn)]
        for i, c in enumerate(self.conns):
            chans = [f"chan:{j:012d}" for j in range(i, channels, nconn)]
            pats = [f"pat:{j}:*" for j in range(i, patterns, nconn)]
            if chans:
                c.sock.sendall(Conn.encode("SUBSCRIBE", *chans))
            if pats:
                c.sock.sendall(Conn.encode("PSUBSCRIBE", *pats))
            c.sock.setblocking(False)
        self.stop_flag = False
        self.thread = threading.Thread(target=self._drain, daemon=True)
        self.thread.start()

    def _drain(self):
        import selectors
        sel = selectors.DefaultSelector()
        for c in self.conns:
            sel.register(c.sock, selectors.EVENT_READ)
        while not self.stop_flag:
            for key, _ in sel.select(timeout=0.1):
                try:
                    if not key.fileobj.recv(1 << 20):
                        sel.unregister(key.fileobj)
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:
                    sel.unregister(key.fileobj)
        sel.close()

    def close(self):
        self.stop_flag = True
        self.thread.join(timeout=5)
        for c in self.conns:
            c.close()


def settled_memory(c, window=6.0, interval=0.5, timeout=60):
    """INFO memory once used_memory has not changed for `window` seconds (read every
    `interval`): clientsCron has resized the client buffers. A reply buffer shrinks only
    after its peak is reset, every reply-buffer-peak-reset-time (5 s by default), so the
    window is longer than that. Raises if it does not settle within `timeout` seconds."""
    last, since = None, None
    deadline = time.time() + timeout
    while time.time() < deadline:
        info = c.info("memory")
        used = int(info["used_memory"])
        now = time.time()
        if used != last:
            last, since = used, now
        elif now - since >= window:
            return info
        time.sleep(interval)
    raise RuntimeError(f"used_memory did not settle within {timeout} s (last {last})")


class PubsubData:
    """The pub/sub section's data set loaded into one server: subscribers over the channels and
    patterns, scripts, function libraries and idle clients. `c` is a control connection; `base`
    and `loaded` are used_memory before and right after loading."""

    def __init__(self, srv, nsub, channels, patterns, nscripts, nlibs, nidle):
        self.subs, self.idle = None, []
        self.c = srv.conn()
        try:
            c = self.c
            self.run_id = c.info("server")["run_id"]
            self.base = int(c.info("memory")["used_memory"])
            self.subs = Subscribers(srv.port, nsub, channels, patterns)
            ok = wait_until(lambda: c.cmd("PUBSUB", "NUMPAT") == patterns
                            and len(c.cmd("PUBSUB", "CHANNELS", "chan:*")) == channels, 60, 0.02)
            if ok is None:
                raise RuntimeError("subscribers did not finish subscribing")
            c.pipeline([("SCRIPT", "LOAD", f"return {i} + #KEYS") for i in range(nscripts)])
            libs = []
            for i in range(nlibs):
                body = "".join(f"redis.register_function('f{i}_{j}', function(keys, args) return {j} end)\n"
                               for j in range(5))
                libs.append(("FUNCTION", "LOAD", f"#!lua name=lib{i}\n{body}"))
            c.pipeline(libs)
            self.idle = [Conn(srv.port) for _ in range(nidle)]
            for ic in self.idle:
                ic.cmd("PING")
            self.loaded = int(c.info("memory")["used_memory"])
        except BaseException:
            self.close()
            raise

    def close(self):
        for ic in self.idle:
            ic.close()
        if self.subs:
            self.subs.close()
        self.c.close()


def pubsub_memory(res, mem_row, b, rnd, srv, data):
    """The memory rows of one server holding the pub/sub data set."""
    # Right after loading, about half of used_memory is client I/O buffers sized for the
    # SUBSCRIBE and LOAD traffic; clientsCron shrinks them within ~2 s (and only then computes
    # mem_clients_normal). The data set is measured once they settled. (The control
    # connection's own INFO replies do not move it: its reply buffer stays at its size.)
    info = settled_memory(data.c)
    used = int(info["used_memory"])
    res.add("memory", mem_row, "bytes", "lower", b, rnd, used)
    res.add("memory", "used_memory right after loading (client buffers not yet resized)", "bytes",
            "lower-info", b, rnd, data.loaded)
    res.add("memory", "used_memory growth over empty server, settled", "bytes", "lower-info", b, rnd,
            used - data.base)
    res.add("memory", "mem_clients_normal, settled", "bytes", "lower-info", b, rnd, int(info["mem_clients_normal"]))
    res.add("memory", "used_memory - mem_clients_normal, settled", "bytes", "lower-info", b, rnd,
            used - int(info["mem_clients_normal"]))
    res.add("memory", "used_memory_scripts", "bytes", "lower-info", b, rnd, int(info.get("used_memory_scripts", 0)))
    # The process's resident memory split the way the kernel counts it: private pages (heap,
    # stacks) and pages mapped from files (the binary and its shared libraries, shared with
    # every process that maps them through the page cache).
    res.add("memory", "process RssAnon (private pages), data set loaded", "bytes", "lower-info", b, rnd,
            srv.vm("RssAnon"))
    res.add("memory", "process RssFile (binary and libraries, page cache)", "bytes", "lower-info", b, rnd,
            srv.vm("RssFile"))


def sec_pubsub(cfg, res):
    channels, patterns, nsub = (1000, 500, 10) if cfg.quick else (5000, 2000, 20)
    nscripts, nlibs, nidle = (200, 20, 50) if cfg.quick else (1000, 100, 200)
    npub1, npub16 = (5000, 20000) if cfg.quick else (100000, 500000)
    sizes = (nsub, channels, patterns, nscripts, nlibs, nidle)
    # BENCH_PUBSUB_TOGETHER (default on, with pinning): both builds' servers hold the data set at
    # once and each PUBLISH test runs against both at the same time, as the e2e section does
    # (e2e_together); one after the other, the four rows were all open in a full run (0.922
    # [0.798, 1.066] together, 2026-12-04), each build's runs meeting a different machine.
    together = bool(PIN_SERVER) and os.environ.get("BENCH_PUBSUB_TOGETHER", "1") != "0"
    warmup, window = together_window(cfg)
    # Code placement, as in the e2e section: PUBLISH to 2000 patterns runs one loop in
    # pubsubPublishMessageInternal 2000 times per request, and a 16-byte shift of that function
    # moved its CPU per request by 20 % on an Intel Xeon (bench/README.md, "Code placement moves
    # the Rust build's hot block too"): one binary per build was one draw of that.
    bins, pads = server_placements(cfg)
    rounds = cfg.placed_rounds
    how = (f"against both builds' servers at once (BENCH_PUBSUB_TOGETHER=0: one after the other), {warmup} s "
           f"warm-up, then {window} s counted" if together else f"{npub1} (-P 1) / {npub16} (-P 16) requests")
    log(f"pubsub: {channels} channels, {patterns} patterns over {nsub} subscribers, {nscripts} scripts, "
        f"{nlibs} function libraries x 5, {nidle} idle clients; PUBLISH -c 50 unpipelined and with -P 16, {how}, "
        f"{rounds} rounds")
    if together:
        mark_paired(cfg, "pubsub")
    note_placements(cfg, "pubsub", "valkey-server", rounds, pads)
    # The same random seed for both builds of a round (a new one each round): bench/same_seed.c.
    # Without it, two starts of one binary differ by up to ~800 bytes (hashtable child buckets).
    mem_row = ("used_memory, data set loaded, client buffers settled, same random seed in both builds"
               if cfg.same_seed else "used_memory, data set loaded, client buffers settled (random seeds)")

    def publish_args(pipe):
        return ["-c", 50, "-r", channels, "-P", pipe, "PUBLISH", "chan:__rand_int__", "hello"]

    def add_publish(b, rnd, pipe, rps, cpu_per_req):
        tag = f"PUBLISH, {channels} ch + {patterns} patterns -P {pipe}"
        res.add("pubsub", tag, "req/s", "higher", b, rnd, rps)
        res.add("pubsub", f"{tag}: server main-thread CPU", "ns/req", "lower-1pct", b, rnd, cpu_per_req)

    for rnd in range(rounds):
        env = ({"LD_PRELOAD": cfg.same_seed, "VALKEY_BENCH_SEED": f"valkey-rs-core bench round {rnd}"}
               if cfg.same_seed else None)
        run_ids = {}
        srv, data = {}, {}
        exe = {b: relinked(bins[b], placement(pads, rnd)) for b in BUILDS}
        try:
            if together:
                # Which build starts first and takes the first port flips each round (slot_order).
                # Each server's memory is read right after its own loading, as one after the
                # other: read after the other server's loading and settling too, the second
                # server's client buffers had shrunk by 20 KB more (about 0.6 % of used_memory)
                # than the first's, in every round, whichever build it was.
                for i, b in enumerate(slot_order(rnd)):
                    srv[b] = Server(cfg.tree[b], cfg.port + i, cfg.work, pin=True, env=env, exe=exe[b])
                    data[b] = PubsubData(srv[b], *sizes)
                    run_ids[b] = data[b].run_id
                    pubsub_memory(res, mem_row, b, rnd, srv[b], data[b])
                for i, pipe in enumerate((1, 16)):
                    got = e2e_together(cfg, srv, {b: d.c for b, d in data.items()}, round_order(rnd + i),
                                       publish_args(pipe), "publish")
                    for b in BUILDS:
                        add_publish(b, rnd, pipe, *got[b])
            else:
                for b in round_order(rnd):
                    srv[b] = Server(cfg.tree[b], cfg.port, cfg.work, pin=True, env=env, exe=exe[b])
                    data[b] = PubsubData(srv[b], *sizes)
                    run_ids[b] = data[b].run_id
                    pubsub_memory(res, mem_row, b, rnd, srv[b], data[b])
                    for pipe, n in ((1, npub1), (16, npub16)):
                        add_publish(b, rnd, pipe, *benchmark_alone(cfg, srv[b], n, publish_args(pipe)))
                    data.pop(b).close()
                    srv.pop(b).stop()
        finally:
            for d in data.values():
                d.close()
            for s in srv.values():
                s.stop()
        # The run id comes from the same seeded random bytes: equal ids show the shim took effect.
        if cfg.same_seed and run_ids["c"] != run_ids["rs"]:
            raise RuntimeError(f"{cfg.same_seed} did not give both builds the same seed (run ids {run_ids})")
        log(f"pubsub/memory: round {rnd + 1}/{rounds} done (padding {placement(pads, rnd)})")


# ---------------------------------------------------------------- section: flush (writable replica)


# bio.c names its lazyfree thread so; the Rust worker takes the same name.
LAZYFREE_THREAD = "bio_lazy_free"
# The server's main thread keeps the process name (io-threads are off by default).
MAIN_THREAD = "valkey-server"


def drain(c, timeout):
    """Seconds until lazyfree_pending_objects is 0 (polled every ms)."""
    return wait_until(lambda: int(c.info("memory")["lazyfree_pending_objects"]) == 0, timeout)


def fill_replica_with_ttl(cfg, port, nkeys):
    valkey_benchmark(cfg, port, ["-c", 50, "-P", 64, "-n", nkeys, "-r", nkeys, "--sequential",
                                 "SET", "key:__rand_int__", "v", "EX", 100000], timeout=900)


@contextlib.contextmanager
def writable_replica(cfg, b, pin=False, port=None):
    """A primary (on port, default cfg.port) and a writable replica (replica-read-only no, on
    port + 1) of build b, the link up; yields (replica Server, connection to it). Both servers
    stop on exit."""
    port = cfg.port if port is None else port
    prim = Server(cfg.tree[b], port, cfg.work)
    repl = None
    try:
        repl = Server(cfg.tree[b], port + 1, cfg.work,
                      ["--replicaof", "127.0.0.1", str(port), "--replica-read-only", "no"], pin=pin)
        c = repl.conn()
        if wait_until(lambda: c.info("replication").get("master_link_status") == "up", 60, 0.05) is None:
            raise RuntimeError("replica did not connect")
        yield repl, c
        c.close()
    finally:
        if repl:
            repl.stop()
        prim.stop()


def fill_tracked(cfg, repl, c, nkeys):
    """Writes nkeys keys with a TTL on the replica and checks that its tracker has them all."""
    fill_replica_with_ttl(cfg, repl.port, nkeys)
    check_tracked(c, nkeys)


def check_tracked(c, nkeys):
    """Raises unless the replica holds nkeys keys, all in its expire tracker."""
    tracked = int(c.info("everything")["slave_expires_tracked_keys"])
    if tracked != nkeys or c.cmd("DBSIZE") != nkeys:
        raise RuntimeError(f"replica tracks {tracked} keys, DBSIZE {c.cmd('DBSIZE')}, wanted {nkeys}")


def add_medians(res, section, rnd, rows):
    """Adds round rnd's rows, {build: {(metric, unit, better): [values]}}, as their medians: the
    sections that repeat a step within a round (flushes, UNLINKs) report one value per round.
    A count that must be the same in both builds (lazyfreed_objects) must also be the same in
    every repeat: a median would hide one odd count."""
    for b in BUILDS:
        for (metric, unit, better), values in rows[b].items():
            if better == "same" and len(set(values)) != 1:
                raise RuntimeError(f"{section}: {metric} differs between the repeats of round {rnd + 1} on "
                                   f"{BUILD_LABEL[b]}: {values}")
            res.add(section, metric, unit, better, b, rnd, statistics.median(values))


def one_flush(cfg, repl, c, nkeys, mode, rows):
    """Refills the replica's nkeys tracked keys, runs one FLUSHALL mode and appends its values
    to rows, {(metric, unit, better): [values]}."""

    def add(metric, unit, better, value):
        rows.setdefault((metric, unit, better), []).append(value)

    tag = f"FLUSHALL {mode}, {nkeys // 1000}k tracked keys"
    target = "lower" if mode == "ASYNC" else "lower-info"
    fill_tracked(cfg, repl, c, nkeys)
    c.cmd("CONFIG", "RESETSTAT")
    repl.reset_peak_rss()
    rss0 = repl.vm("VmRSS")
    w0 = repl.thread_cpu_ns(LAZYFREE_THREAD)
    m0 = repl.thread_cpu_ns(MAIN_THREAD)
    t0 = time.perf_counter()
    c.cmd("FLUSHALL", mode)
    reply_s = time.perf_counter() - t0
    main_cpu_us = (repl.thread_cpu_ns(MAIN_THREAD) - m0) / 1e3
    d = drain(c, 300)
    total_s = time.perf_counter() - t0
    info = c.info("everything")
    add(f"{tag}: main thread (cmdstat usec)", "us", target, cmdstat_usec(info, "flushall"))
    add(f"{tag}: reply latency (client)", "ms", "lower-info", reply_s * 1e3)
    # The main thread's CPU time from the request to the reply (schedstat): the command plus
    # reading and answering it, without the time spent waiting for a core, which the cmdstat
    # microseconds above include.
    add(f"{tag}: main thread CPU time, request to reply (schedstat)", "us", target, main_cpu_us)
    if mode == "ASYNC":
        add(f"{tag}: until lazyfree_pending_objects=0", "ms", "lower", total_s * 1e3)
        add(f"{tag}: lazyfree worker CPU time", "ms", "lower", (repl.thread_cpu_ns(LAZYFREE_THREAD) - w0) / 1e6)
        add(f"{tag}: lazyfreed_objects", "objects", "same", int(info["lazyfreed_objects"]))
    add(f"{tag}: peak RSS (VmHWM from the flush on)", "MB", "lower-info", repl.vm("VmHWM") / 2**20)
    add(f"{tag}: RSS before flush", "MB", "lower-info", rss0 / 2**20)
    if int(info["slave_expires_tracked_keys"]) != 0 or d is None:
        raise RuntimeError("tracker not empty / lazyfree did not drain after FLUSHALL")


# A free of tens of µs handed to the lazyfree worker (an UNLINK of an object just above the effort
# threshold of 64, a FLUSHALL ASYNC of a small DB): whether the worker's wake-up takes the main
# thread's core mid-command shows in the command's own time (INFO commandstats, SLOWLOG, LATENCY),
# not in the main thread's CPU time. It depends on how long the server was quiet before: back to
# back, C's bio thread rarely takes the core; after 20 ms of quiet, it did in half or more of the
# commands, and the Rust worker (SCHED_BATCH) in almost none (bench/README.md, "Small frees after a
# quiet spell"). So each such command here comes after SMALL_IDLE_S of quiet, as a sporadic UNLINK
# or flush on a quiet server does.
SMALL_IDLE_S = 0.02
SMALL_SLOW_US = 100


def after_idle(res, section, metric, rnd, step, repeats, srv, conn, fill, command, check):
    """repeats times per build: fill(b), then command after SMALL_IDLE_S of quiet, until the
    worker has drained; check(b, reply, info) raises if the command did not do its work. The
    builds alternate command by command, the first flipping each time. Rows per round and build:
    the median in-command time (cmdstat), the median main-thread CPU time from request to reply
    (schedstat), and the share of commands longer than SMALL_SLOW_US in the command."""
    metric = f"{metric} after {SMALL_IDLE_S * 1000:.0f} ms idle"
    cmd_row = (f"{metric}: main thread (cmdstat usec)", "us", "lower-info")
    main_row = (f"{metric}: main thread CPU time, request to reply (schedstat)", "us", "lower-info")
    rows = {b: {cmd_row: [], main_row: []} for b in BUILDS}
    for i in range(repeats):
        for b in round_order(rnd + step + i):
            c = conn[b]
            fill(b)
            c.cmd("CONFIG", "RESETSTAT")
            time.sleep(SMALL_IDLE_S)
            m0 = srv[b].thread_cpu_ns(MAIN_THREAD)
            reply = c.cmd(*command)
            rows[b][main_row].append((srv[b].thread_cpu_ns(MAIN_THREAD) - m0) / 1e3)
            if drain(c, 60) is None:
                raise RuntimeError(f"{metric}: the worker did not drain")
            info = c.info("everything")
            check(b, reply, info)
            rows[b][cmd_row].append(cmdstat_usec(info, command[0].lower()))
    add_medians(res, section, rnd, rows)
    for b in BUILDS:
        res.add(section, f"{metric}: share over {SMALL_SLOW_US} us in the command", "%", "lower-info",
                b, rnd, 100.0 * sum(u > SMALL_SLOW_US for u in rows[b][cmd_row]) / repeats)


SMALL_TRACKED = 1000


def small_flushes(res, rnd, step, reps, repeats):
    """FLUSHALL ASYNC of a writable replica's SMALL_TRACKED keys with a TTL (written by EVAL on
    the replica), each after SMALL_IDLE_S of quiet (after_idle)."""
    srv = {b: repl for b, (repl, _) in reps.items()}
    conn = {b: c for b, (_, c) in reps.items()}

    def fill(b):
        c = conn[b]
        c.cmd("EVAL", "for i=1,tonumber(ARGV[1]) do redis.call('set', 'small:'..i, 'v', 'EX', 100000) end",
              0, SMALL_TRACKED)
        check_tracked(c, SMALL_TRACKED)

    def check(b, reply, info):
        # Every key and its tracker entry, freed by the worker (2,000,000 for the 1M flushes).
        if (reply != "OK" or int(info["slave_expires_tracked_keys"]) != 0
                or int(info["lazyfreed_objects"]) != 2 * SMALL_TRACKED):
            raise RuntimeError(f"FLUSHALL ASYNC of {SMALL_TRACKED} tracked keys: reply {reply}, tracked "
                               f"{info['slave_expires_tracked_keys']}, lazyfreed_objects {info['lazyfreed_objects']}")

    after_idle(res, "flush", f"FLUSHALL ASYNC, {SMALL_TRACKED} tracked keys", rnd, step, repeats, srv, conn,
               fill, ("FLUSHALL", "ASYNC"), check)


def sec_flush(cfg, res, async_flushes=3, small_repeats=25):
    """Per round: both builds' primary + writable replica side by side (ports cfg.port..+3), then
    async_flushes FLUSHALL ASYNC per build (each right after refilling; the rows get their median,
    since one flush's main-thread microseconds vary by +-20 %), then one FLUSHALL SYNC for
    contrast, then small_repeats FLUSHALL ASYNC of SMALL_TRACKED keys (small_flushes). The builds
    alternate flush by flush, the first build flipping each time, so that the two builds' flushes
    of a round are seconds apart rather than minutes."""
    nkeys = 100000 if cfg.quick else 1000000
    log(f"flush: primary + writable replica per build, {nkeys} keys with TTL written on the replica, "
        f"{cfg.rounds} rounds, {async_flushes} FLUSHALL ASYNC and 1 FLUSHALL SYNC per round and build, "
        f"then {small_repeats} FLUSHALL ASYNC of {SMALL_TRACKED} keys, the builds alternating flush by flush")
    for rnd in range(cfg.rounds):
        with contextlib.ExitStack() as stack:
            reps = {b: stack.enter_context(writable_replica(cfg, b, port=cfg.port + 2 * i))
                    for i, b in enumerate(slot_order(rnd))}
            k = 0
            for mode, flushes in (("ASYNC", async_flushes), ("SYNC", 1)):
                rows = {b: {} for b in BUILDS}
                for _ in range(flushes):
                    for b in round_order(rnd + k):
                        one_flush(cfg, *reps[b], nkeys, mode, rows[b])
                    k += 1
                add_medians(res, "flush", rnd, rows)
            small_flushes(res, rnd, k, reps, small_repeats)
        if PIN_SERVER:
            for b in round_order(rnd):
                flush_on_one_cpu(cfg, res, b, rnd, nkeys)
        log(f"flush: round {rnd + 1}/{cfg.rounds} done")


def flush_on_one_cpu(cfg, res, b, rnd, nkeys, flushes=3):
    """The same writable replica confined to one CPU (taskset), as in a container with one
    dedicated CPU: the lazyfree worker can only run when the main thread yields the core or
    is preempted by it. Three FLUSHALL ASYNC, each right after refilling: a worker whose
    wake-up preempts the main thread keeps the core for a time slice (milliseconds) before
    the reply is written. Info rows, see bench/README.md."""
    with writable_replica(cfg, b, pin=True) as (repl, c):
        usecs = []
        for i in range(flushes):
            fill_tracked(cfg, repl, c, nkeys)
            c.cmd("CONFIG", "RESETSTAT")
            t0 = time.perf_counter()
            c.cmd("FLUSHALL", "ASYNC")
            reply_s = time.perf_counter() - t0
            if drain(c, 300) is None:
                raise RuntimeError("lazyfree did not drain after FLUSHALL on one CPU")
            usecs.append(cmdstat_usec(c.info("everything"), "flushall"))
            nth = ("first", "second", "third")[i] if i < 3 else f"#{i + 1}"
            tag = f"FLUSHALL ASYNC, replica on one CPU, {nth} flush, {nkeys // 1000}k tracked keys"
            res.add("flush", f"{tag}: main thread (cmdstat usec)", "us", "lower-info", b, rnd, usecs[-1])
            res.add("flush", f"{tag}: reply latency (client)", "ms", "lower-info", b, rnd, reply_s * 1e3)
        res.add("flush", f"FLUSHALL ASYNC, replica on one CPU, longest of the {flushes} flushes: main thread "
                "(cmdstat usec)", "us", "lower-info", b, rnd, max(usecs))


# ---------------------------------------------------------------- section: lazyfree throughput

# Elements are 16-byte strings, so every type is in its big encoding (hashtable, skiplist,
# quicklist of ~450-entry nodes) and above lazyfree's effort threshold of 64 even in quick mode.
FILL = {
    kind: "for i=1,tonumber(ARGV[1]) do redis.call(%s) end" % call
    for kind, call in {
        "hash": "'hset', KEYS[1], string.format('%016d', i), i",
        "set": "'sadd', KEYS[1], string.format('%016d', i)",
        "zset": "'zadd', KEYS[1], i, string.format('%016d', i)",
        "list": "'rpush', KEYS[1], string.format('%016d', i)",
    }.items()
}


# Lists are left out: a 1000-element list is a few quicklist nodes, below the effort threshold,
# and is freed in place.
SMALL_ELEMENTS = 1000
SMALL_KINDS = ("hash", "set", "zset")


def small_unlinks(srv, conn, res, rnd, step, kind, repeats):
    """UNLINK of a SMALL_ELEMENTS-element kind, each after SMALL_IDLE_S of quiet (after_idle)."""
    key = f"small:{kind}"

    def fill(b):
        conn[b].cmd("EVAL", FILL[kind], 1, key, SMALL_ELEMENTS)

    def check(b, reply, info):
        # Above the threshold, so the worker freed it: a synchronous free would not wake it.
        if reply != 1 or int(info["lazyfreed_objects"]) != 1:
            raise RuntimeError(f"UNLINK of the {SMALL_ELEMENTS}-element {kind}: reply {reply}, "
                               f"lazyfreed_objects {info['lazyfreed_objects']}, wanted 1 and 1")

    after_idle(res, "lazyfree", f"UNLINK {SMALL_ELEMENTS}-element {kind}", rnd, step, repeats, srv, conn,
               fill, ("UNLINK", key), check)


EVICT_BYTES = 256 << 20  # 8 x this machine's 32 MiB L3 (shared by both CPUs)
_evict_buf = None


def evict_caches():
    """Reads EVICT_BYTES of this process's own memory, on the servers' main CPU: what the
    servers' last writes left in the shared last-level cache is pushed out."""
    global _evict_buf
    if _evict_buf is None:
        _evict_buf = bytearray(b"\x01") * EVICT_BYTES  # written: real pages, not shared zero pages
    for _ in range(2):
        _evict_buf.find(b"\x00")


def timed_frees(srv, conn, order, command, less_wait=False, timeout=600):
    """Runs command (FLUSHALL ASYNC or an UNLINK) on the servers of the builds in order, back
    to back, with their stats reset before. Returns {build: (ms until lazyfree_pending_objects
    is 0, ms of lazyfree worker CPU time, INFO after)}. less_wait, for two builds whose
    lazyfree workers share one CPU (sec_lazyfree pins them), so that the two frees run
    interleaved over the same stretch of time: the drain leaves out the ms its worker waited
    on the run queue, the CPU the other build's worker held, which a free alone does not meet."""
    for b in order:
        conn[b].cmd("CONFIG", "RESETSTAT")
    before = {b: srv[b].thread_sched(LAZYFREE_THREAD) for b in order}
    t0, done = {}, {}
    for b in order:
        t0[b] = time.perf_counter()
        reply = conn[b].cmd(*command)
        if command[0] == "UNLINK" and reply != 1:
            raise RuntimeError("UNLINK did not delete")

    def drained():
        for b in order:
            if b not in done and int(conn[b].info("memory")["lazyfree_pending_objects"]) == 0:
                done[b] = time.perf_counter()
        return len(done) == len(order)

    if wait_until(drained, timeout) is None:
        raise RuntimeError(f"{' '.join(command)} did not drain")
    out = {}
    for b in order:
        cpu, wait = (x1 - x0 for x1, x0 in zip(srv[b].thread_sched(LAZYFREE_THREAD), before[b]))
        drained_ms = (done[b] - t0[b]) * 1e3 - (wait / 1e6 if less_wait else 0)
        out[b] = (drained_ms, cpu / 1e6, conn[b].info("everything"))
    return out


def sec_lazyfree(cfg, res, unlinks=3, small_repeats=25):
    """Per round, both builds' servers side by side. The large frees run in lockstep (below;
    BENCH_LAZYFREE_LOCKSTEP=0: one after the other, the builds alternating step by step, the
    first build flipping each step, their servers unpinned, since the worker must not share
    the main thread's core). Each UNLINK row is the median of `unlinks` fills and UNLINKs per
    round and build (one more in lockstep if odd, so that each build goes first in half of
    them; the 5M-key FLUSHALL likewise runs twice): one UNLINK's free time varied by +-10-50 %
    one after the other (bench/README.md), as one flush's main-thread time does in the flush
    section."""
    nkeys, nelem = (500000, 100000) if cfg.quick else (5000000, 1000000)
    # Lockstep: both servers' threads on one CPU, their lazyfree workers together on the other
    # (this process with the servers), and each large free issued to both servers back to back,
    # so the two workers free interleaved (the scheduler's slices of a few ms) over the same
    # stretch of time, as the dict section's two harnesses run.
    lockstep = bool(PIN_SERVER) and os.environ.get("BENCH_LAZYFREE_LOCKSTEP", "1") != "0"
    # Code placement, as in the e2e section: each pair of rounds (one per slot order) runs the
    # servers relinked with the next padding (link-placements.sh), both builds alike. The frees
    # run Valkey's own C (hashtable.c, sds, jemalloc) in both builds, at other addresses in each.
    bins, pads = server_placements(cfg)
    rounds = cfg.placed_rounds if len(pads) > 1 else cfg.rounds
    # In lockstep each build goes first in half of each large free's repeats (free() below);
    # one after the other, one FLUSHALL per round and build, as before.
    flushes = 2 if lockstep else 1
    if lockstep and unlinks % 2:
        unlinks += 1
    log(f"lazyfree: FLUSHALL ASYNC of {nkeys} keys (DEBUG POPULATE, {flushes} per round and build), "
        f"UNLINK of {nelem}-element hash/set/zset/list ({unlinks} each per round and build), {small_repeats} UNLINKs each of a "
        f"{SMALL_ELEMENTS}-element {'/'.join(SMALL_KINDS)} per round and build, {rounds} rounds, "
        + ("the large frees of both builds in lockstep, their workers sharing one CPU "
           "(BENCH_LAZYFREE_LOCKSTEP=0: one after the other)" if lockstep else
           "the builds alternating step by step"))
    if lockstep:
        mark_paired(cfg, "lazyfree")
    if len(pads) > 1:
        note_placements(cfg, "lazyfree", "valkey-server", rounds, pads)
    everywhere = os.sched_getaffinity(0)
    main_cpu = {int(PIN_SERVER[-1])} if lockstep else everywhere
    worker_cpu = {int(PIN_CLIENT[-1])} if lockstep else everywhere

    def free(rnd, step, command, fill):
        """One large free per build: {build: (until drained, worker CPU, INFO)}."""
        if not lockstep:
            out = {}
            for b in round_order(rnd + step):
                fill(b)
                out.update(timed_frees(srv, conn, [b], command))
            return out
        order = round_order(rnd + step)
        for b in order:
            fill(b)
        # What the last fill left in the shared last-level cache would favour the build filled
        # last; pushed out here. It was not all: C-against-C control runs favoured the build
        # filled last by 2-5 % even so (bench/README.md, "The gtest section and the large
        # frees in lockstep"). So a round does every large free an even number of times, each
        # build first in half of them, and its row is their median.
        evict_caches()
        return timed_frees(srv, conn, order, command, less_wait=True)

    for rnd in range(rounds):
        srv, conn = {}, {}
        try:
            os.sched_setaffinity(0, main_cpu)
            for i, b in enumerate(slot_order(rnd)):
                srv[b] = Server(cfg.tree[b], cfg.port + i, cfg.work, exe=relinked(bins[b], placement(pads, rnd)))
                conn[b] = srv[b].conn()
                srv[b].pin(main_cpu)
                srv[b].pin(worker_cpu, LAZYFREE_THREAD)
            tag = f"FLUSHALL ASYNC {nkeys // 1000000 or nkeys / 1e6}M keys"
            rows = {b: collections.defaultdict(list) for b in BUILDS}
            for step in range(flushes):
                frees = free(rnd, step, ("FLUSHALL", "ASYNC"), lambda b: conn[b].cmd("DEBUG", "POPULATE", nkeys))
                for b, (total, worker, info) in frees.items():
                    rows[b][f"{tag}: until drained", "ms", "lower"].append(total)
                    rows[b][f"{tag}: lazyfree worker CPU time", "ms", "lower"].append(worker)
                    rows[b][f"{tag}: main thread (cmdstat usec)", "us", "lower-info"].append(
                        cmdstat_usec(info, "flushall"))
            add_medians(res, "lazyfree", rnd, rows)
            step = flushes
            for kind, script in FILL.items():
                metric = f"UNLINK {nelem // 1000}k-element {kind}"
                rows = {b: collections.defaultdict(list) for b in BUILDS}
                for _ in range(unlinks):
                    frees = free(rnd, step, ("UNLINK", f"big:{kind}"),
                                 lambda b: conn[b].cmd("EVAL", script, 1, f"big:{kind}", nelem))
                    for b, (total, worker, info) in frees.items():
                        # One UNLINKed key is one object (add_medians checks that the repeats agree).
                        if int(info["lazyfreed_objects"]) != 1:
                            raise RuntimeError(f"UNLINK of the {kind}: lazyfreed_objects "
                                               f"{info['lazyfreed_objects']}, wanted 1")
                        rows[b][f"{metric}: until drained", "ms", "lower"].append(total)
                        rows[b][f"{metric}: lazyfree worker CPU time", "ms", "lower"].append(worker)
                        rows[b][f"{metric}: lazyfreed_objects", "objects", "same"].append(
                            int(info["lazyfreed_objects"]))
                    step += 1
                add_medians(res, "lazyfree", rnd, rows)
            # The small frees are about the worker waking on the main thread's CPU: no pinning.
            os.sched_setaffinity(0, everywhere)
            for b in BUILDS:
                srv[b].pin(everywhere)
            for kind in SMALL_KINDS:
                small_unlinks(srv, conn, res, rnd, step, kind, small_repeats)
                step += 1
        finally:
            os.sched_setaffinity(0, everywhere)
            for c in conn.values():
                c.close()
            for s in srv.values():
                s.stop()
        log(f"lazyfree: round {rnd + 1}/{rounds} done (padding {placement(pads, rnd)})")


# ---------------------------------------------------------------- main

SECTIONS = {"dict": sec_dict, "gtest": sec_gtest, "e2e": sec_e2e, "pubsub": sec_pubsub, "flush": sec_flush,
            "lazyfree": sec_lazyfree}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--dict-rounds", type=int, default=0,
                    help="default: 2 x --rounds (the dict bench is cheap), rounded up to a multiple of 8 outside "
                    "--quick, so each code placement gets as many rounds as the others, half in each build order")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--sections", default=",".join(SECTIONS))
    ap.add_argument("--c-tree", default=os.path.join(ROOT, "build", "valkey-c"))
    ap.add_argument("--rs-tree", default=os.path.join(ROOT, "build", "valkey"))
    ap.add_argument("--same-seed", default="", help="bench/same_seed.c built as a shared object: the pub/sub "
                    "section's servers of one round get the same random seed (default: random seeds)")
    ap.add_argument("--lockstep-shim", default="", help="bench/lockstep_preload.c built as a shared object: the "
                    "gtest section runs each round's two builds in lockstep (default: one after the other)")
    ap.add_argument("--control", action="store_true", help="A/A control: --rs-tree is a copy of the C tree; the "
                    "dict section runs the C harness on both sides")
    ap.add_argument("--port", type=int, default=int(os.environ.get("BENCH_PORT", "17400")))
    cfg = ap.parse_args()
    cfg.out = os.path.abspath(cfg.out)
    cfg.same_seed = os.path.abspath(cfg.same_seed) if cfg.same_seed else ""
    cfg.lockstep_shim = os.path.abspath(cfg.lockstep_shim) if cfg.lockstep_shim else ""
    cfg.c_tree, cfg.rs_tree = os.path.abspath(cfg.c_tree), os.path.abspath(cfg.rs_tree)
    cfg.tree = {"c": cfg.c_tree, "rs": cfg.rs_tree}
    cfg.vbench = os.path.join(cfg.c_tree, "src", "valkey-benchmark")
    # Each placement runs two rounds in a row (one per build order): 2 x len(PADS) rounds
    # give every placement and order the same weight; 12 rounds gave placements 4, 4, 2, 2.
    whole = 2 * len(PADS)
    if not cfg.dict_rounds:
        cfg.dict_rounds = 2 * cfg.rounds if cfg.quick else -(-2 * cfg.rounds // whole) * whole
    # The gtest's and e2e's placements, likewise: BENCH_ROUNDS rounded up to a multiple of 8 (8 for 6).
    cfg.placed_rounds = cfg.rounds if cfg.quick else -(-cfg.rounds // whole) * whole
    os.makedirs(cfg.out, exist_ok=True)
    cfg.work = tempfile.mkdtemp(prefix="work-", dir=cfg.out)
    res = Results(os.path.join(cfg.out, "raw.tsv"))
    pin = (f"servers of the e2e and pub/sub sections on CPU {PIN_SERVER[-1]}, valkey-benchmark, the dict "
           f"microbenchmark and the subscribers on CPU {PIN_CLIENT[-1]} (taskset; BENCH_PIN=0 turns it off)"
           if PIN_SERVER else "off")
    log(f"CPU pinning: {pin}")
    with open(os.path.join(cfg.out, "meta.md"), "a") as f:
        f.write(f"- CPU pinning: {pin}\n")
        slice_us = slice_override()
        if slice_us:
            f.write(f"- lockstep slices: VALKEY_BENCH_SLICE_US={slice_us} us of CPU time (default 2000; "
                    "at least one kernel tick)\n")
        if "dict" in cfg.sections.split(","):
            f.write(f"- dict microbenchmark: {cfg.dict_rounds} rounds per build, two rounds each on the harness "
                    f"padded by {', '.join(map(str, PADS))} bytes in turn (code placements)\n")
    signal.signal(signal.SIGTERM, lambda *_: (stop_all_servers(), sys.exit(143)))
    try:
        for name in cfg.sections.split(","):
            name = name.strip()
            if not name:
                continue
            if name not in SECTIONS:
                sys.exit(f"unknown section {name!r}; known: {', '.join(SECTIONS)}")
            t0 = time.time()
            with client_side_cpu() if name in ("e2e", "pubsub") else contextlib.nullcontext():
                SECTIONS[name](cfg, res)
            log(f"{name}: {time.time() - t0:.0f} s")
    finally:
        stop_all_servers()
        subprocess.run(["rm", "-rf", cfg.work])


if __name__ == "__main__":
    main()
