#!/usr/bin/env python3
"""Shutdown while a lazyfree job needs the module GIL (issue 6 finding).

FUNCTION FLUSH ASYNC of a large library queues lazyFreeFunctionsCtx on the
lazyfree worker; freeing each function goes through
scriptingEngineCallFreeFunction -> moduleAcquireGIL. SHUTDOWN right after it
must still end the server. Each try: start a server (loopback), FUNCTION LOAD
a library of --functions functions, pipeline FUNCTION FLUSH ASYNC + SHUTDOWN
NOSAVE, and require the process to exit within --timeout seconds (a hung
server is backtraced with gdb if available, then killed). Exit 0 iff every
try exited.

Usage: shutdown_lazyfree.py [--server-dir build/valkey] [--tries 5] [--functions 5000]
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "chaos"))
from switchover import Conn, Server, free_port  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server-dir", default="build/valkey")
    ap.add_argument("--tries", type=int, default=5)
    ap.add_argument("--functions", type=int, default=5000)
    ap.add_argument("--timeout", type=float, default=10)
    args = ap.parse_args()
    binary = os.path.join(args.server_dir, "src", "valkey-server")
    work = tempfile.mkdtemp(prefix="vkrs-shutdown-")
    hung = 0
    try:
        for t in range(args.tries):
            s = Server(binary, work, "s%d" % t, free_port())
            s.start()
            c = Conn(s.port)
            body = "#!lua name=lib%d\n" % t + "\n".join(
                "server.register_function('f%d', function() return 1 end)" % i for i in range(args.functions))
            c.cmd("FUNCTION", "LOAD", body)
            c.sock.sendall(Conn.encode(("FUNCTION", "FLUSH", "ASYNC")) + Conn.encode(("SHUTDOWN", "NOSAVE")))
            try:
                s.proc.wait(timeout=args.timeout)
                print("try %d: server exited (status %s)" % (t, s.proc.returncode))
            except subprocess.TimeoutExpired:
                hung += 1
                print("try %d: server HUNG in shutdown (> %.0f s)" % (t, args.timeout))
                if shutil.which("gdb"):
                    out = subprocess.run(["gdb", "-p", str(s.proc.pid), "-batch", "-ex", "thread apply all bt 8"],
                                         capture_output=True, text=True, timeout=60).stdout
                    for ln in out.splitlines():
                        if ln.startswith("Thread ") or any(f in ln for f in (
                                "moduleAcquireGIL", "pthread_join", "worker_stop", "finishShutdown", "lazyFree")):
                            print("    " + ln.strip()[:160])
                s.kill9()
            c.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("shutdown_lazyfree %s: %d/%d tries hung" % (args.server_dir, hung, args.tries))
    sys.exit(1 if hung else 0)


if __name__ == "__main__":
    main()
