#!/usr/bin/env python3
"""Turn build/bench/raw.tsv (written by bench/bench.py) into one table.

  bench/report.py OUT_DIR      -> prints the table, writes OUT_DIR/results.md
                                  (and OUT_DIR/results.png when matplotlib is installed)

For every metric: the median over the rounds of each build, the ratio of the
medians Rust/C (in a section whose two builds ran in lockstep, listed in
OUT_DIR/paired-sections: the median of the rounds' own Rust/C ratios), and
whether the issue's target holds:
  lower  (times, ns/op, bytes)  target Rust/C <= 1.00
  lower-1pct (server CPU/req)   target Rust/C <= 1.01 (the mirror of throughput >= 0.99)
  higher (requests/s)           target Rust/C >= 0.99
  same   (counters)             both builds must report the same value
  *-info                        shown for context, no target
"""
import collections
import math
import os
import statistics
import sys

SECTION_TITLE = {
    "dict": "dict microbenchmark (bench/dict_bench.c; dict.o vs libvalkey_rs_core.a)",
    "dict-lto": "context: the dict benchmark as inside valkey-server: C side link-time-optimised into the "
                "caller (GCC inlines dict.c's calls), Rust side compiled against the patched dict.h "
                "(include/valkey_rs_core_inline.h inlines dictNext/dictGetKey/dictGetVal)",
    "gtest": "Valkey's gtest DictTest.DISABLED_dictBenchmark (code placements: see the notes at the top)",
    "gtest-stock": "context: the gtest rounds on each tree's own valkey-unit-gtests alone (the unpadded "
                   "placement, a quarter of the rounds); one placement moved Linear access by up to 2 %",
    "e2e": "end to end: valkey-benchmark -c 50 -r 100000 (throughput)",
    "e2e-cpu": "end to end: server main-thread CPU per request (schedstat; robust to machine load)",
    "pubsub": "pub/sub with thousands of channels and patterns",
    "memory": "memory: one data set (channels, patterns, scripts, functions, clients)",
    "flush": "writable replica: FLUSHALL with keys written with a TTL on the replica",
    "lazyfree": "lazyfree throughput",
}


def fmt(v):
    if v is None:
        return "-"
    a = abs(v)
    if a >= 1e6:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:,.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def spread(xs):
    """Half the min-max range relative to the median, in percent: the round-to-round noise."""
    m = statistics.median(xs) if xs else 0
    if len(xs) < 2 or m == 0:
        return "-"
    return f"±{50 * (max(xs) - min(xs)) / abs(m):.0f}%"


def load(path):
    """{(section, metric): samples}, sections in order of first appearance, metrics in order within."""
    data = collections.OrderedDict()
    for line in open(path):
        f = line.rstrip("\n").split("\t")
        if len(f) != 7:
            continue
        section, metric, unit, better, build, rnd, value = f
        key = (section, metric)
        d = data.setdefault(key, {"unit": unit, "better": better, "c": [], "rs": [], "by_round": {}})
        v = float(value) if value not in ("None", "") else None
        d[build].append(v)
        if v is not None:
            d["by_round"].setdefault(rnd, {})[build] = v
    order = list(collections.OrderedDict.fromkeys(k[0] for k in data))
    return collections.OrderedDict(sorted(data.items(), key=lambda kv: order.index(kv[0][0])))


# The targets on Rust/C: dict phases, times and memory at most 1.00, throughput at
# least 0.99, and server CPU per request at most 1.01 (the mirror of the throughput target).
TARGET = {"lower": 1.00, "lower-1pct": 1.01, "higher": 0.99}


def meets(better, ratio):
    return ratio >= TARGET[better] if better == "higher" else ratio <= TARGET[better]


def verdict(better, c, r):
    if c is None or r is None:
        return None, "n/a"
    if better == "same":
        return None, "ok" if c == r else "DIFFERENT"
    if c == 0:
        return None, "-"
    ratio = r / c
    if better in TARGET:
        return ratio, "ok" if meets(better, ratio) else "MISSED"
    return ratio, "(info)"


# How a paired section's two builds shared the machine (bench.py writes OUT_DIR/paired-sections).
PAIRED_HOW = {
    "dict": "Each round's two builds ran in lockstep (bench.py: BENCH_DICT_LOCKSTEP)",
    "gtest": "Each round's two builds ran in lockstep (bench.py: BENCH_GTEST_LOCKSTEP)",
    "e2e": ("Each test ran against both builds' servers at once, the two servers sharing one CPU and their "
            "valkey-benchmark clients the other, each server's requests and main-thread CPU counted over the same "
            "seconds (bench.py: BENCH_E2E_TOGETHER; req/s is each server's share of the shared CPU)"),
    "pubsub": ("Each PUBLISH test ran against both builds' servers at once, each holding the same data set, as in "
               "the e2e section (bench.py: BENCH_PUBSUB_TOGETHER; req/s is each server's share of the shared CPU)"),
    "lazyfree": ("Each round's large frees ran in lockstep, both builds' lazyfree workers sharing one CPU "
                 "(bench.py: BENCH_LAZYFREE_LOCKSTEP; the 1000-element UNLINKs one after the other, as before)"),
}


def median_paired_ratio(by_round):
    """The median of the rounds' own Rust/C: for a section whose two builds ran in lockstep, so
    that each round's pair shares the machine's state while rounds do not (this machine runs a
    loop up to 1.6x slower for stretches of seconds), and the two medians may come from rounds
    in different states."""
    ratios = [x["rs"] / x["c"] for x in by_round.values() if x.get("c", 0) > 0 and "rs" in x]
    return statistics.median(ratios) if ratios else None


def rounds_won(better, by_round):
    """In how many rounds Rust beat C, each round against the C run next to it (the builds
    alternate within a round): a sign test of the medians' verdict. 'k/n', or '-'."""
    if better not in ("lower", "lower-1pct", "higher"):
        return "-"
    pairs = [(x["c"], x["rs"]) for x in by_round.values() if "c" in x and "rs" in x]
    if not pairs:
        return "-"
    won = sum((r < c) if better != "higher" else (r > c) for c, r in pairs)
    tied = sum(r == c for c, r in pairs)
    return f"{won}/{len(pairs)}" + (f" ({tied} tied)" if tied else "")


# Two-sided 95 % quantiles of Student's t by degrees of freedom (1.96 beyond the table).
T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262,
        10: 2.228, 11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120, 17: 2.110,
        18: 2.101, 19: 2.093, 20: 2.086, 25: 2.060, 30: 2.042, 40: 2.021, 60: 2.000, 120: 1.980}


def t975(df):
    """Between two rows of the table, the smaller df's quantile: the wider interval."""
    return T975[max(k for k in T975 if k <= df)] if df <= 120 else 1.96


def paired_interval(xs):
    """Geometric mean of paired Rust/C ratios (given as logs) and its 95 % confidence interval
    (t on the logs): (gm, lo, hi), or None below 3 pairs. The interval is what the noise of this
    run leaves open; a row's median verdict is one point inside it."""
    if len(xs) < 3:
        return None
    m, sd = statistics.mean(xs), statistics.stdev(xs)
    h = t975(len(xs) - 1) * sd / math.sqrt(len(xs))
    return math.exp(m), math.exp(m - h), math.exp(m + h)


def interval_verdict(better, iv):
    """'shown' when the whole interval meets the target, 'shown missed' when the whole interval
    misses it, 'open' when it straddles the target (this run cannot tell)."""
    if iv is None or better not in TARGET:
        return "-"
    _gm, lo, hi = iv
    worst, best = (lo, hi) if better == "higher" else (hi, lo)
    return "shown" if meets(better, worst) else "open" if meets(better, best) else "shown missed"


def fmt_interval(iv):
    return "-" if iv is None else f"{iv[0]:.3f} [{iv[1]:.3f}, {iv[2]:.3f}]"


def paired_summary(logs, shown):
    """Lines under a section's table. logs: (better, round, log(Rust/C)) of every row with a
    target. The rounds are the unit of the interval: a round's rows share the machine's state of
    the moment, and some rows measure one event twice (a drain and the worker's CPU time), so
    each round's rows are averaged into one value first. Context for rows whose spread is wider
    than their distance from 1.00: a real difference moves most pairs one way, noise does not."""
    counts = (f"Rows by their own interval: {shown['shown']} shown to meet the target, "
              f"{shown['shown missed']} shown to miss it, {shown['open']} open (the interval straddles it).")
    if not shown:
        return []
    directions = {"lower" if better.startswith("lower") else "higher" for better, _, _ in logs}
    flipped = ""
    if len(directions) != 1:
        # A section of req/s and CPU rows (pub/sub): every row as a cost, req/s rows as C/Rust.
        logs = [(b, rnd, -x if b == "higher" else x) for b, rnd, x in logs]
        directions = {"lower"}
        flipped = "; its req/s rows enter as C/Rust, so that every row reads as a cost"
    by_round = collections.defaultdict(list)
    for _, rnd, x in logs:
        by_round[rnd].append(x)
    iv = paired_interval([statistics.mean(v) for v in by_round.values()])
    if iv is None:
        return ["", counts]
    direction = directions.pop()
    xs = [x for _, _, x in logs]
    ahead = sum(x > 0 if direction == "higher" else x < 0 for x in xs)
    tied = sum(x == 0 for x in xs)
    gm, lo, hi = iv
    return ["", f"All rows with a target together ({len(xs)} pairs: each round's Rust run against the C run "
            f"of the same round): geometric mean Rust/C **{gm:.3f}**, 95 % interval [{lo:.3f}, {hi:.3f}] "
            f"over the {len(by_round)} rounds ({direction} is better{flipped}); "
            f"Rust ahead in {ahead}" + (f", tied in {tied}" if tied else "") + f" of {len(xs)} pairs. " + counts]


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "build/bench"
    data = load(os.path.join(out, "raw.tsv"))
    meta = open(os.path.join(out, "meta.md")).read() if os.path.exists(os.path.join(out, "meta.md")) else ""
    lines = ["# valkey-rs-core: make bench results", "", meta.strip(), "",
             "Medians over the rounds; every ratio is Rust/C of the medians (in a section whose builds ran in "
             "lockstep, as its heading says: the median of the rounds' own Rust/C) "
             "(< 1 means Rust is faster or smaller for times and sizes, > 1 means faster for req/s). "
             "spread: half the min-max range of the rounds relative to the median (machine noise). "
             "Rust won: rounds in which Rust beat the C run of the same round (tied: equal).", ""]
    control = "CONTROL RUN" in meta
    paired_path = os.path.join(out, "paired-sections")
    paired = set(open(paired_path).read().split()) if os.path.exists(paired_path) else set()
    if control:
        lines += ["**Control run (A/A): the column headed Rust is a second copy of the C build.** "
                  "Read every ratio as noise, every MISSED as a miss that noise alone produces.", ""]
    current = None
    chart = []
    regressions = []
    logs = []
    shown = collections.Counter()
    for (section, metric), d in data.items():
        if section != current:
            lines += paired_summary(logs, shown)
            logs = []
            shown = collections.Counter()
            current = section
            lines += ["", f"### {SECTION_TITLE.get(section, section)}", ""]
            if section in paired:
                what = PAIRED_HOW.get(section.split("-")[0], PAIRED_HOW["dict"])
                lines += [f"{what}, so Rust/C "
                          "here is the **median of the rounds' own Rust/C ratios**, not the ratio of the two "
                          "medians.", ""]
            lines += [
                      "| metric | unit | C median | Rust median | Rust/C | target | spread C/Rust | Rust won | n "
                      "| paired Rust/C [95 % interval] | interval |",
                      "| --- | --- | ---: | ---: | ---: | --- | --- | --- | --- | --- | --- |"]
        cs = [x for x in d["c"] if x is not None]
        rs = [x for x in d["rs"] if x is not None]
        c = statistics.median(cs) if cs else None
        r = statistics.median(rs) if rs else None
        if section in paired and d["better"] != "same":
            pr = median_paired_ratio(d["by_round"])
            # verdict() from the ratio alone: the paired ratio stands for r / c.
            ratio, v = verdict(d["better"], 1.0, pr) if pr is not None else verdict(d["better"], c, r)
        else:
            ratio, v = verdict(d["better"], c, r)
        target = ("equal" if d["better"] == "same" else
                  f"{'>=' if d['better'] == 'higher' else '<='} {TARGET[d['better']]:.2f}" if d["better"] in TARGET else "")
        mark = f"**{v}**" if v in ("MISSED", "DIFFERENT") else v
        won = rounds_won(d["better"], d["by_round"])
        row_logs = [(rnd, math.log(x["rs"] / x["c"])) for rnd, x in d["by_round"].items()
                    if x.get("c", 0) > 0 and x.get("rs", 0) > 0]
        iv = paired_interval([x for _, x in row_logs]) if d["better"] in TARGET else None
        iv_v = interval_verdict(d["better"], iv)
        if iv_v != "-":
            shown[iv_v] += 1
        lines.append(f"| {metric} | {d['unit']} | {fmt(c)} | {fmt(r)} | "
                     f"{'-' if ratio is None else f'{ratio:.3f}'} | {target} {mark} | {spread(cs)}/{spread(rs)} | "
                     f"{won} | {len(cs)}/{len(rs)} | {fmt_interval(iv)} | "
                     f"{'**shown missed**' if iv_v == 'shown missed' else iv_v} |")
        if v in ("MISSED", "DIFFERENT"):
            regressions.append(f"{section} / {metric}: C {fmt(c)} {d['unit']}, Rust {fmt(r)} {d['unit']}"
                               + (f", Rust/C {ratio:.3f}" if ratio is not None else "")
                               + (f", Rust won {won} rounds" if won != "-" else ""))
        if d["better"] in TARGET:
            logs += [(d["better"], rnd, x) for rnd, x in row_logs]
            if ratio is not None:
                chart.append((f"{section}: {metric}", ratio, d["better"], iv))
    lines += paired_summary(logs, shown)
    for prof in (os.path.join(out, "profile", "profile.md"), os.path.join(out, "server-profile", "server-profile.md"),
                 os.path.join(out, "flush-profile", "flush-profile.md")):
        if os.path.exists(prof):
            lines += ["", open(prof).read().strip()]
    lines += ["", "### Targets missed" + (" by C against C (control run)" if control else ""), ""]
    lines += [f"- {x}" for x in regressions] or ["- none"]
    text = "\n".join(lines) + "\n"
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write(text)
    print(text)
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"(matplotlib not installed: no chart; `pip install matplotlib` adds {out}/results.png)")
        return
    if chart:
        fig, ax = plt.subplots(figsize=(10, 0.22 * len(chart) + 1.5))
        chart = chart[::-1]
        names = [x[0] for x in chart]
        ax.barh(names, [x[1] for x in chart],
                color=["tab:green" if meets(b, v) else "tab:red" for _n, v, b, _iv in chart])
        # The paired Rust/C and its 95 % interval, where the run has one: how much the bar can be trusted.
        pts = [(i, iv) for i, (*_, iv) in enumerate(chart) if iv]
        if pts:
            ax.errorbar([iv[0] for _, iv in pts], [i for i, _ in pts], fmt="o", color="black", markersize=2,
                        elinewidth=0.8, capsize=2,
                        xerr=[[iv[0] - iv[1] for _, iv in pts], [iv[2] - iv[0] for _, iv in pts]])
        # A stalled round can stretch an interval to 10x; past 2.0 the whiskers are cut off.
        ax.set_xlim(0, min(2.0, max([1.5] + [x[1] * 1.05 for x in chart] + [iv[2] * 1.05 for _, iv in pts])))
        ax.axvline(1.0, color="black", linewidth=0.8)
        ax.set_xlabel("Rust / C. Bars: the medians; black: paired Rust/C, 95 % interval.\n"
                      "Times: lower is better; req/s: higher is better")
        ax.tick_params(axis="y", labelsize=6)
        ax.set_title("valkey-rs-core vs C: green meets the target, red misses it")
        fig.tight_layout()
        fig.savefig(os.path.join(out, "results.png"), dpi=110)
        print(f"chart: {out}/results.png")


if __name__ == "__main__":
    main()
