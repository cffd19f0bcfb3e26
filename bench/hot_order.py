#!/usr/bin/env python3
"""Write valkey-patch/hot-text.ld: the order in which the Rust build's valkey-server links its
hot functions, as the input-section lines of a linker script (valkey-patch/hot-link-script.sh
makes the script the patched build passes with -Wl,-T and -ffunction-sections).

    bench/hot_order.py PROFILE_DIR > valkey-patch/hot-text.ld

PROFILE_DIR is the output of bench/server_profile.sh (C_TREE RS_TREE OUT): the Rust build's
main-thread callgrind dumps, one per command. Why an order at all: without one, where
`-flto=auto` puts Valkey's own hot functions is a draw that changes with every object linked
(leaving out dict.o and lazyfree.o redraws it), and on CPUs with a 32 KB 8-way L1i the draw the
Rust build got costs it about twice the C build's instruction-cache misses on writes (see
bench/README.md, "Hot functions linked together"). Packed together, the hot code spreads over
the cache's sets evenly instead of by the draw.

The order: first the functions hot in at least half of the commands (the networking, command
dispatch, keyspace and allocator path), by their summed share of instructions; then, command by
command (writes first), the rest of that command's hot functions by share. Each function is
named by its section (`-ffunction-sections`: .text.NAME) as profiled; after all of them comes
each name again without GCC's clone suffixes (.constprop.N, .isra.N, .part.N, .lto_priv.N) and
as a glob, so a compiler that clones differently still finds them; names no section has match
nothing. The library's internal Rust functions are matched by their mangled name without its
hash. Functions of the prebuilt dependency archives (jemalloc's je_*, ...) are listed too but
match nothing: those are not compiled with -ffunction-sections. The objects of DEP_OBJECTS are
placed whole, last.
"""
import collections
import glob
import os
import re
import subprocess
import sys

# The commands whose profiles make the order, by the name server_profile.sh gives each dump
# (callgrind_control -d NAME; the dump's "desc: Trigger: dump NAME" line), writes first: the rows
# whose L1i misses the order was made for. Its other dumps (the lazyfree worker's) are not used.
GROUP_ORDER = ["SET", "INCR", "LPUSH", "SADD", "HSET", "ZADD", "GET", "PUBLISH, no subscribers",
               "EVALSHA", "FCALL", "PUBLISH, 2000 patterns subscribed"]
TRIGGER = re.compile(r"desc: Trigger: (?:Client Request: )?dump (.+)$")
# Functions under this share of a command's instructions are left where the linker puts them.
MIN_SHARE = 1e-5
# Functions put at a given offset from a given alignment: name -> (alignment, offset). PUBLISH to
# 2000 patterns runs one loop of pubsubPublishMessageInternal (the dict walk inlined from
# include/valkey_rs_core_inline.h, objectGetVal, stringmatchlen) 2000 times per request. On an
# Intel Xeon (Sapphire Rapids class) that loop ran 20 % faster with the function 16 bytes past a
# 32-byte boundary than on one, in every relink measured (the C build shows the same two speeds
# by where -flto puts dictNext): bench/README.md, "Code placement moves the Rust build's hot
# block too". Measured on GCC 12's code of Valkey 9.1.2: another compiler's may want another.
ALIGN_AT = {"pubsubPublishMessageInternal": (32, 16)}
# Objects of the prebuilt dependency archives placed whole after the ordered functions. Their
# functions cannot be placed one by one (the archives are not compiled with -ffunction-sections),
# so without this their place in .text is whatever follows the hot block. jemalloc.o holds the
# allocator's entry points (je_malloc, je_sdallocx, je_malloc_usable_size: hot in every command's
# profile and in the lazyfree worker's free loop). Where it landed after the order (0x279cb0 in
# the binary of stop 44), the worker freed a 1M-element zset in 35-37 ms against the C build's 23;
# placed here, 22.5-25 ms with the block moved by 0, 16, 32 or 48 bytes: bench/README.md, "The
# allocator's entry points in the hot block". 70 KB, most of it cold, after every hot function.
DEP_OBJECTS = ["*libjemalloc.a:jemalloc.o"]
CLONE_SUFFIX = re.compile(r"(\.(constprop|isra|part|lto_priv|cold)\.\d+)+$")


def shares(dump):
    """Self instructions of each function of valkey-server, as a share of the dump's."""
    out = subprocess.run(["callgrind_annotate", "--inclusive=no", "--show=Ir", "--auto=no",
                          "--threshold=100", dump], capture_output=True, text=True, check=True).stdout
    rows = collections.Counter()
    unknown = all_ir = 0
    started = False
    for line in out.splitlines():
        if "file:function" in line:
            started = True
            continue
        m = re.match(r"\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(.*)$", line) if started else None
        if not m:
            continue
        ir, rest = int(m.group(1).replace(",", "")), m.group(2)
        all_ir += ir
        obj = re.search(r" \[([^\]]+)\]$", rest)
        if obj:
            if obj.group(1) == "???":
                unknown += ir
            if not obj.group(1).endswith("valkey-server"):
                continue  # libc, the loader, the vdso: not ours to place
            rest = rest[:obj.start()]
        # "file:function"; inlined code is reported under its source file and the function
        # it was inlined into, which is what the linker places.
        src = re.match(r"(\?\?\?|[^:\s]+\.[A-Za-z]+):(?!:)(.*)$", rest)
        fn = src.group(2) if src else rest
        rows[re.sub(r"'\d+$", "", fn)] += ir  # callgrind's recursion depth marker
    # Valgrind puts code outside the section named .text in no object: a binary linked with the
    # INSERT script of stops 43-48 (an output section .text.hot_order) profiled so, and an order
    # made from it would leave out the very functions that were hot.
    if unknown > all_ir / 10:
        sys.exit(f"hot_order.py: {dump}: {unknown / all_ir:.0%} of the instructions are in no object "
                 "(code outside .text?): profile a build linked with valkey-patch/hot-link-script.sh's "
                 "script, or with RUST_CORE_HOT_ORDER=no")
    total = sum(rows.values()) or 1
    return {f: v / total for f, v in rows.items() if v / total >= MIN_SHARE}


def dump_part(path):
    """A dump's part number (server.rs.PID.N-01: the Nth dump of that run)."""
    return int(re.search(r"\.(\d+)-\d+$", path).group(1))


def dump_name(path):
    """The name a callgrind dump was taken under (its trigger line in the header), or None."""
    with open(path, errors="replace") as f:
        for line in f:
            m = TRIGGER.match(line)
            if m:
                return m.group(1).strip()
            if line.startswith(("events:", "fl=", "fn=")):
                return None  # past the header
    return None


def sections(fn):
    """The section names for function fn: (exact, fallback globs)."""
    if "::" in fn:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(::[A-Za-z_][A-Za-z0-9_]*)+", fn):
            return [], []  # closures, generics: no stable name to match
        mangled = "_ZN" + "".join(f"{len(p)}{p}" for p in fn.split("::")) + "17h"
        return [f".text.{mangled}*"], []
    base = CLONE_SUFFIX.sub("", fn)
    return [f".text.{fn}"], [f".text.{base}", f".text.{base}.*"]


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: hot_order.py PROFILE_DIR")
    dumps = {}
    for path in glob.glob(os.path.join(sys.argv[1], "server.rs.*-01")):  # -01: the main thread
        name = dump_name(path)
        if name in dumps:
            sys.exit(f"hot_order.py: two main-thread dumps named {name!r} in {sys.argv[1]} (one profile per directory)")
        if name:
            dumps[name] = path
    missing = [c for c in GROUP_ORDER if c not in dumps]
    if missing:
        sys.exit(f"hot_order.py: no main-thread dump named {missing} in {sys.argv[1]} "
                 f"(has {sorted(dumps)}): GROUP_ORDER names server_profile.sh's dumps")
    # Summed in the order the dumps were taken, a fixed order (the sums' last bits, and so the
    # output, depend on it).
    per = {c: shares(dumps[c]) for c in sorted(GROUP_ORDER, key=lambda c: dump_part(dumps[c]))}
    count = collections.Counter(f for s in per.values() for f in s)
    total = collections.Counter()
    for s in per.values():
        total.update(s)
    order = [f for f, _ in sorted(total.items(), key=lambda kv: (-kv[1], kv[0])) if 2 * count[f] >= len(per)]
    core = len(order)
    seen = set(order)
    for cmd in GROUP_ORDER:
        for f, _ in sorted(per[cmd].items(), key=lambda kv: (-kv[1], kv[0])):
            if f not in seen:
                seen.add(f)
                order.append(f)
    # The names as profiled first: a glob would also pull in a hot function's cold clones
    # (findBucket.lto_priv.0 beside findBucket.constprop.0) and spread the hot code. An input
    # section goes to the first pattern that matches it, so the globs after the exact names
    # only order what a compiler that numbers its clones differently produced.
    out, emitted = [], set()
    for pick in (0, 1):
        for f in order:
            for g in sections(f)[pick]:
                if g not in emitted:
                    emitted.add(g)
                    out.append(g)
    # Input-section lines only: valkey-patch/hot-link-script.sh puts them first inside the .text
    # statement of the linker's default script, so the binary keeps one .text (code in an output
    # section of another name loses its file and line in Valgrind, and this script's own
    # profiles lose it too). The closing ALIGN(64) starts the rest of .text where an output
    # section of its own would have.
    print(f"/* Generated by bench/hot_order.py from {len(per)} commands' profiles: {core} functions hot in")
    print(f"   at least half of them, then {len(order) - core} by command, then {len(DEP_OBJECTS)} dependency object(s) whole.")
    print("   The input sections valkey-server's link puts first in .text, in this order:")
    print("   valkey-patch/hot-link-script.sh inserts these lines into the linker's default script. */")
    for g in out:
        align = ALIGN_AT.get(g[len(".text."):])
        if align:
            print(f"    . = ALIGN({align[0]}); . += {align[1]};")
        print(f"    *({g})")
    for obj in DEP_OBJECTS:
        print(f"    {obj}(.text)")
    print("    . = ALIGN(64);")


if __name__ == "__main__":
    main()
