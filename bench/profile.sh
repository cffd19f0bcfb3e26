#!/usr/bin/env bash
# Instruction counts per dict phase, C dict vs Rust dict, under valgrind --tool=callgrind.
# Instruction counts do not depend on machine load, so this is the repeatable way to see
# which phase costs more in Rust and where (load the per-phase dumps in callgrind_annotate).
#
#   bench/profile.sh BIN_DIR OUT_DIR [ENTRIES] [SMALL_OPS]
#   -> OUT_DIR/profile.md (Ir/op per phase, Rust/C), OUT_DIR/callgrind.{c,rs}.out.N (one dump per phase)
#
#   callgrind_annotate --inclusive=yes OUT_DIR/callgrind.rs.out.<N>   # where a phase's instructions go
set -euo pipefail
bin=${1:?usage: profile.sh BIN_DIR OUT_DIR [ENTRIES] [SMALL_OPS]}
out=${2:?out dir}
n=${3:-100000}
s=${4:-200000}
command -v valgrind >/dev/null || { echo "profile.sh: valgrind not installed (apt-get install valgrind)" >&2; exit 1; }
mkdir -p "$out"
rm -f "$out"/callgrind.c.out* "$out"/callgrind.rs.out*
for v in c rs; do
    valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.$v.out" \
        "$bin/dict_bench_$v" -n "$n" -s "$s" >"$out/profile.$v.txt" 2>"$out/valgrind.$v.log" &
done
wait
python3 - "$out" "$n" "$s" <<'PY'
import glob, os, re, sys
out, n, s = sys.argv[1], sys.argv[2], sys.argv[3]
def load(v):
    ops = {}
    for line in open(os.path.join(out, f"profile.{v}.txt")):
        f = line.rstrip("\n").split("\t")
        if f[2] == "ns/op":
            ops[f[0]] = int(f[3])
    ir = {}
    for path in glob.glob(os.path.join(out, f"callgrind.{v}.out.*")):
        name = tot = None
        for line in open(path, errors="replace"):
            m = re.match(r"desc: Trigger: Client Request: (\S+)", line)
            if m: name = m.group(1)
            m = re.match(r"(?:totals|summary): (\d+)", line)
            if m: tot = int(m.group(1))
        if name and tot is not None:
            ir[name] = (tot, os.path.basename(path))
    return ops, ir
co, ci = load("c")
ro, ri = load("rs")
rows = ["| phase | C Ir/op | Rust Ir/op | Rust/C | dumps (C, Rust) |", "| --- | ---: | ---: | ---: | --- |"]
for ph in co:
    if ph not in ci or ph not in ri: continue
    c = ci[ph][0] / co[ph]; r = ri[ph][0] / ro[ph]
    flag = " **>1**" if r > c * 1.005 else ""
    rows.append(f"| {ph} | {c:.1f} | {r:.1f} | {r/c:.3f}{flag} | {ci[ph][1]}, {ri[ph][1]} |")
text = (f"### dict instruction counts (callgrind, {n} entries, {s} small-dict ops)\n\n"
        "Instructions executed per operation inside each timed phase, same binary harness, "
        "C dict.o vs Rust library. Independent of machine load.\n\n" + "\n".join(rows) + "\n")
open(os.path.join(out, "profile.md"), "w").write(text)
print(text)
PY
