#!/usr/bin/env python3
"""Switch-over chaos test for a Valkey build (valkey-rs-core, issue 6).

Each round, on loopback only, with two servers of SERVER_DIR (A, B):

  1. A is the primary, B its replica with replica-read-only no.
  2. Writer P loads A (pipelined SETs, some with EX); writer R writes keys
     with a TTL directly on B (tracked in replicaKeysWithExpire).
  3. Mid-load: FLUSHALL ASYNC on B (R paused around it). Checked at once:
     INFO slave_expires_tracked_keys == 0 on B.
  4. Load continues. Before the switch, R paused: B's tracked-key count must
     equal the TTL keys R wrote on B after the flush (all distinct, 1 h TTL).
  5. FAILOVER TO B on A; writer P follows the switch (READONLY from A -> B).
  6. kill -9 of A (now a replica), A restarted empty as a replica of B
     (full sync), while both writers keep writing to B.
  7. Writers stop; then: no acknowledged write issued after the flush is
     lost on B (every key read back with its value), B's tracked-key count
     drops to 0 (B is a primary now: databasesCron frees the tracker), A's is
     0, lazyfree_pending_objects drops to 0, A and B converge (same
     replication offset, DBSIZE, DEBUG DIGEST).

A write counts as "issued after the flush" if it was sent after FLUSHALL
ASYNC returned on B. Every wait is bounded; the whole run stops by itself
(--max-seconds). Exit status 0 iff every round passed. One JSON line per
round is printed (and appended to --report if given).

Usage: switchover.py [--server-dir build/valkey] [--rounds 3] [--seconds 3]
"""

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HOST = "127.0.0.1"


class RespError(Exception):
    pass


class Conn:
    """A minimal RESP2 client with pipelining (no dependencies)."""

    def __init__(self, port, timeout=10.0):
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.f = self.sock.makefile("rb")

    def close(self):
        try:
            self.f.close()
            self.sock.close()
        except OSError:
            pass

    @staticmethod
    def encode(args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            if not isinstance(a, bytes):
                a = str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        return b"".join(out)

    def read(self):
        line = self.f.readline()
        if not line:
            raise ConnectionError("connection closed")
        t, rest = line[:1], line[1:-2]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            return RespError(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.f.read(n + 2)
            return data[:-2]
        if t == b"*":
            n = int(rest)
            if n < 0:
                return None
            return [self.read() for _ in range(n)]
        raise ConnectionError("bad reply type %r" % line)

    def pipeline(self, cmds):
        self.sock.sendall(b"".join(self.encode(c) for c in cmds))
        return [self.read() for _ in cmds]

    def cmd(self, *args):
        r = self.pipeline([args])[0]
        if isinstance(r, RespError):
            raise r
        return r

    def info(self, section=""):
        raw = self.cmd("INFO", section) if section else self.cmd("INFO")
        d = {}
        for ln in raw.decode().splitlines():
            if ":" in ln and not ln.startswith("#"):
                k, v = ln.split(":", 1)
                d[k] = v
        return d


def wait_for(what, fn, timeout, interval=0.05):
    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        try:
            last = fn()
            if last:
                return last
        except (OSError, ConnectionError, RespError) as e:
            last = e
        time.sleep(interval)
    raise TimeoutError("timed out after %.0fs waiting for %s (last: %r)" % (timeout, what, last))


def free_port():
    for _ in range(200):
        p = random.randint(21000, 29000)
        ok = True
        for q in (p, p + 10000):  # the cluster bus port is not used, but keep clear
            s = socket.socket()
            try:
                s.bind((HOST, q))
            except OSError:
                ok = False
            finally:
                s.close()
        if ok:
            return p
    raise RuntimeError("no free port")


class Server:
    def __init__(self, binary, workdir, name, port):
        self.binary, self.name, self.port = binary, name, port
        self.dir = os.path.join(workdir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.proc = None

    def start(self, replicaof=None, prefix=(), extra=()):
        """prefix: a command the server runs under (e.g. nice, chrt); extra: more server args."""
        args = [
            *prefix, self.binary, "--port", str(self.port), "--bind", HOST, "--dir", self.dir,
            "--save", "", "--appendonly", "no", "--enable-debug-command", "yes",
            "--logfile", os.path.join(self.dir, "server.log"), "--daemonize", "no",
            "--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0",
            "--protected-mode", "no",
        ]
        if replicaof:
            args += ["--replicaof", HOST, str(replicaof)]
        args += extra
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for("%s to answer PING" % self.name, lambda: self.ping(), 20)

    def ping(self):
        c = Conn(self.port, timeout=2)
        try:
            return c.cmd("PING") == "PONG"
        finally:
            c.close()

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill9()

    def log_tail(self, n=30):
        try:
            with open(os.path.join(self.dir, "server.log"), errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""


class Writer(threading.Thread):
    """Writes unique keys in pipelined batches; records acknowledged writes.

    acked: list of (key, value, issued_after_flush)."""

    def __init__(self, name, port, prefix, ttl, flush_done, batch=50):
        super().__init__(name=name, daemon=True)
        self.port, self.prefix, self.ttl, self.batch = port, prefix, ttl, batch
        self.flush_done = flush_done
        self.acked = []
        self.errors = {}
        self.seq = 0
        self.stop_ev = threading.Event()
        self.pause_req = threading.Event()
        self.paused = threading.Event()
        self.follow = None  # port to switch to on READONLY
        self.exc = None

    def pause(self, timeout=10):
        self.pause_req.set()
        if not self.paused.wait(timeout):
            raise TimeoutError("%s did not pause" % self.name)

    def resume(self):
        self.paused.clear()
        self.pause_req.clear()

    def run(self):
        conn = None
        try:
            while not self.stop_ev.is_set():
                if self.pause_req.is_set():
                    self.paused.set()
                    while self.pause_req.is_set() and not self.stop_ev.is_set():
                        time.sleep(0.005)
                    continue
                if conn is None:
                    conn = Conn(self.port)
                after_flush = self.flush_done.is_set()
                cmds, keys = [], []
                for _ in range(self.batch):
                    k = "%s:%d" % (self.prefix, self.seq)
                    v = "v%d" % self.seq
                    ttl = self.ttl(self.seq)
                    cmds.append(("SET", k, v, "EX", ttl) if ttl else ("SET", k, v))
                    keys.append((k, v))
                    self.seq += 1
                try:
                    replies = conn.pipeline(cmds)
                except (OSError, ConnectionError):
                    conn.close()
                    conn = None
                    time.sleep(0.05)
                    continue
                readonly = False
                for (k, v), r in zip(keys, replies):
                    if r == "OK":
                        self.acked.append((k, v, after_flush))
                    else:
                        msg = str(r).split(" ")[0]
                        self.errors[msg] = self.errors.get(msg, 0) + 1
                        readonly |= msg in ("READONLY", "REDIRECT")
                if readonly and self.follow:
                    conn.close()
                    conn = None
                    self.port, self.follow = self.follow, None
                time.sleep(0.001)
        except Exception as e:  # reported by the round
            self.exc = e
        finally:
            if conn:
                conn.close()


def count_tracked(c):
    return int(c.info("stats").get("slave_expires_tracked_keys", "-1"))


def one_round(binary, workdir, rnd, seconds, inject_loss):
    pa, pb = free_port(), free_port()
    while pb == pa:
        pb = free_port()
    A = Server(binary, workdir, "r%d-A" % rnd, pa)
    B = Server(binary, workdir, "r%d-B" % rnd, pb)
    res = {"round": rnd, "ports": [pa, pb]}
    writers = []
    try:
        A.start()
        B.start(replicaof=pa)
        ca, cb = Conn(pa), Conn(pb)
        wait_for("B in sync", lambda: cb.info("replication").get("master_link_status") == "up", 30)
        cb.cmd("CONFIG", "SET", "replica-read-only", "no")

        flush_done = threading.Event()
        wp = Writer("P", pa, "p%d" % rnd, lambda s: 600 if s % 5 == 0 else 0, flush_done)
        wr = Writer("R", pb, "r%d" % rnd, lambda s: 3600, flush_done)
        writers = [wp, wr]
        for w in writers:
            w.start()
        time.sleep(seconds)  # pre-flush load: B has tens of thousands of tracked keys

        wr.pause()
        tracked_before = count_tracked(cb)
        cb.cmd("CONFIG", "RESETSTAT")
        t0 = time.monotonic()
        assert cb.cmd("FLUSHALL", "ASYNC") == "OK"
        res["flushall_async_ms"] = round((time.monotonic() - t0) * 1000, 2)
        flush_done.set()
        stats = cb.info("commandstats").get("cmdstat_flushall", "")
        res["flushall_usec"] = int(stats.split("usec=")[1].split(",")[0]) if "usec=" in stats else -1
        res["tracked_before_flush"] = tracked_before
        res["tracked_after_flush"] = count_tracked(cb)
        acked_r_at_flush = len(wr.acked)
        wr.resume()
        time.sleep(seconds)  # post-flush load on both

        wr.pause()
        post_flush_r = sum(1 for a in wr.acked if a[2])
        res["tracked_before_failover"] = count_tracked(cb)
        res["expected_tracked_before_failover"] = post_flush_r
        wr.resume()

        # FAILOVER to B; writer P follows to B on READONLY.
        wp.follow = pb
        t0 = time.monotonic()
        assert ca.cmd("FAILOVER", "TO", HOST, pb, "TIMEOUT", 10000) == "OK"
        wait_for("B primary", lambda: cb.info("replication").get("role") == "master", 20)
        wait_for("A replica of B", lambda: ca.info("replication").get("master_link_status") == "up", 30)
        res["failover_ms"] = round((time.monotonic() - t0) * 1000, 1)
        if wp.follow is not None:  # P saw no READONLY yet: move it ourselves
            wp.pause()
            wp.port, wp.follow = pb, None
            wp.resume()
        time.sleep(seconds / 2)

        # kill -9 the old primary (now a replica) and restart it as a replica of B.
        ca.close()
        A.kill9()
        time.sleep(0.2)
        A.start(replicaof=pb)
        ca = Conn(pa)
        wait_for("restarted A in sync", lambda: ca.info("replication").get("master_link_status") == "up"
                 and ca.info("replication").get("master_sync_in_progress") == "0", 60)
        time.sleep(seconds / 2)

        for w in writers:
            w.stop_ev.set()
        for w in writers:
            w.join(timeout=15)
            if w.is_alive():
                raise RuntimeError("writer %s did not stop" % w.name)
            if w.exc:
                raise RuntimeError("writer %s failed: %r" % (w.name, w.exc))

        # Convergence: same offset, then same data.
        def offsets_equal():
            mo = int(cb.info("replication")["master_repl_offset"])
            so = int(ca.info("replication").get("slave_repl_offset", "-1"))
            return mo == so
        wait_for("A at B's replication offset", offsets_equal, 30)

        # No acknowledged post-flush write lost on the final primary (B).
        post = [a for w in writers for a in w.acked if a[2]]
        if inject_loss:
            # Self-check of the checker: delete acknowledged writes behind its back.
            for k, _, _ in random.sample(post, inject_loss):
                cb.cmd("DEL", k)
            wait_for("A at B's replication offset", offsets_equal, 30)
        lost = 0
        wrong = 0
        for i in range(0, len(post), 500):
            chunk = post[i:i + 500]
            vals = cb.cmd("MGET", *[k for k, _, _ in chunk])
            for (k, v, _), got in zip(chunk, vals):
                if got is None:
                    lost += 1
                elif got.decode() != v:
                    wrong += 1
        res["acked_post_flush_writes"] = len(post)
        res["acked_post_flush_P"] = sum(1 for a in wp.acked if a[2])
        res["acked_post_flush_R"] = sum(1 for a in wr.acked if a[2])
        res["acked_total"] = len(wp.acked) + len(wr.acked)
        res["lost_writes"] = lost
        res["wrong_values"] = wrong
        res["writer_errors"] = {w.name: w.errors for w in writers}

        # Tracker: freed once B is a primary; A has no local writes.
        try:
            wait_for("B tracker freed", lambda: count_tracked(cb) == 0, 10)
        except TimeoutError:
            pass
        res["tracked_B_end"] = count_tracked(cb)
        res["tracked_A_end"] = count_tracked(ca)
        try:
            wait_for("lazyfree idle", lambda: cb.info("memory").get("lazyfree_pending_objects") == "0", 20)
        except TimeoutError:
            pass
        res["lazyfree_pending_B_end"] = int(cb.info("memory").get("lazyfree_pending_objects", "-1"))
        res["lazyfreed_objects_B"] = int(cb.info("memory").get("lazyfreed_objects", "-1"))

        res["dbsize"] = [ca.cmd("DBSIZE"), cb.cmd("DBSIZE")]
        da, db = ca.cmd("DEBUG", "DIGEST"), cb.cmd("DEBUG", "DIGEST")
        res["digest_equal"] = da == db
        ca.close()
        cb.close()

        problems = []
        if res["tracked_after_flush"] != 0:
            problems.append("tracked keys not 0 right after FLUSHALL ASYNC")
        if res["tracked_before_failover"] != res["expected_tracked_before_failover"]:
            problems.append("tracked-key count != TTL keys written on the replica after the flush")
        if lost or wrong:
            problems.append("%d acknowledged post-flush writes lost, %d wrong" % (lost, wrong))
        if res["tracked_B_end"] != 0 or res["tracked_A_end"] != 0:
            problems.append("tracker not empty at the end")
        if res["lazyfree_pending_B_end"] != 0:
            problems.append("lazyfree_pending_objects not 0")
        if res["dbsize"][0] != res["dbsize"][1] or not res["digest_equal"]:
            problems.append("A and B did not converge")
        if res["acked_post_flush_P"] == 0 or res["acked_post_flush_R"] == 0:
            problems.append("no post-flush load (test ineffective)")
        for s in (A, B):
            if s.proc.poll() is not None:
                problems.append("%s exited with %s" % (s.name, s.proc.returncode))
        res["problems"] = problems
        res["ok"] = not problems
        _ = acked_r_at_flush
    except Exception as e:
        res["ok"] = False
        res["problems"] = ["exception: %r" % e]
        res["log_A"] = A.log_tail()
        res["log_B"] = B.log_tail()
    finally:
        for w in writers:
            w.stop_ev.set()
        for w in writers:
            w.join(timeout=5)
        A.stop()
        B.stop()
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server-dir", default="build/valkey", help="Valkey tree with src/valkey-server")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=3.0, help="load phase length")
    ap.add_argument("--max-seconds", type=float, default=600, help="stop starting rounds after this")
    ap.add_argument("--report", help="append one JSON line per round to this file")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--inject-loss", type=int, default=0, metavar="N",
                    help="self-check: delete N acknowledged post-flush keys before checking; "
                         "the run then passes only if exactly N losses are reported")
    args = ap.parse_args()

    binary = os.path.join(args.server_dir, "src", "valkey-server")
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK) and os.path.getsize(binary) > 0):
        sys.exit("switchover.py: no server binary at %s (build it first: make valkey / make valkey-c)" % binary)
    workdir = tempfile.mkdtemp(prefix="vkrs-chaos-")
    start = time.monotonic()
    results = []
    try:
        for rnd in range(1, args.rounds + 1):
            if time.monotonic() - start > args.max_seconds:
                print("switchover: --max-seconds reached, stopping after %d rounds" % (rnd - 1))
                break
            r = one_round(binary, workdir, rnd, args.seconds, args.inject_loss)
            r["server_dir"] = args.server_dir
            results.append(r)
            line = json.dumps({k: v for k, v in r.items() if not k.startswith("log_")})
            print(line, flush=True)
            if not r["ok"]:
                for k in ("log_A", "log_B"):
                    if r.get(k):
                        print("--- %s ---\n%s" % (k, r[k]))
            if args.report:
                with open(args.report, "a") as f:
                    f.write(line + "\n")
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    if args.inject_loss:
        for r in results:
            r["ok"] = r.get("lost_writes") == args.inject_loss
        print("switchover: --inject-loss %d: checker %s" % (
            args.inject_loss, "detected every injected loss" if all(r["ok"] for r in results) else "MISSED injected losses"))
    ok = sum(1 for r in results if r["ok"])
    lost = sum(r.get("lost_writes", 0) for r in results)
    acked = sum(r.get("acked_post_flush_writes", 0) for r in results)
    print("switchover %s: %d/%d rounds passed, %d acknowledged post-flush writes checked, %d lost"
          % (args.server_dir, ok, len(results), acked, lost))
    sys.exit(0 if results and ok == len(results) else 1)


if __name__ == "__main__":
    main()
