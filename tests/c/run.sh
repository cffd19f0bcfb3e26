#!/usr/bin/env bash
# C ABI and differential tests of the Rust dict (target/release/libvalkey_rs_core.a)
# against Valkey 9.1.2's dict.c.  Called by `make test` after `cargo build --release`.
#
#   tests/c/run.sh
#
# What it checks (one PASS/FAIL line each, then "N passed, N failed"):
#   - a pristine Valkey 9.1.2 C build is available (built here on first use, see below);
#   - diff_driver.c calls every symbol that dict.o exports;
#   - the driver, compiled against the ORIGINAL dict.h and linked with dict.o, is
#     deterministic (two runs, identical traces) and really exercises rehashing;
#   - the library defines every symbol dict.o exports and no symbol that clashes with
#     a Valkey object (other than lazyfree.o's and the 4 replica-expire functions of
#     expire.o, which it replaces);
#   - the same driver object links with the library and only Valkey's zmalloc.o
#     siphash.o mt19937-64.o monotonic.o util.o serverassert.o (+ sds.o sha256.o
#     valkey_strtod.o, libfpconv, jemalloc: util.o's own deps) -- no server symbol;
#   - its trace is identical to dict.o's (first differing lines are shown);
#   - include/valkey_rs_core.h compiles alone as C11 and C++17, agrees with the
#     original dict.h on every layout, field type, constant and function signature
#     (abi_test.c, static asserts), and drives the API from C and from C++.
#
# Environment:
#   VALKEY_C_TREE=dir   an already built Valkey 9.1.x C tree (src/dict.o ... and
#                       deps/jemalloc/lib/libjemalloc.a); default: build/ctest/valkey-9.1.2,
#                       copied from the pristine source (valkey-patch/fetch-valkey.sh,
#                       honours VALKEY_SRC) and built with `make -j$JOBS` on first use.
#   RUST_CORE_LIB=file  the library (default target/release/libvalkey_rs_core.a)
#   RUST_CORE_HEADER=f  the generated header (default include/valkey_rs_core.h)
#   CTEST_OUT=dir       build/output directory (default build/ctest)
#   JOBS=n              make -j for the Valkey build (default 2)
#   FUZZ_SEEDS="1 2 3"  extra fuzz-only runs of the driver (random operation mix), each compared
#   FUZZ_OPS=200000     operations per fuzz run (DICT_FUZZ_OPS)
#   VALGRIND=0          skip the memcheck runs (default: on when valgrind is installed): the
#                       driver relinked with a libc-malloc zmalloc.o, run under valgrind with the
#                       C dict and with the library; no memory error, no definite leak, and the
#                       two traces identical (under valgrind malloc_usable_size is the exact
#                       request, so used_memory there checks every allocation size)
#   SKIP_RUST=1         only validate the harness against dict.o (Rust checks skipped)
#   CC, CXX             compilers (default cc, c++)
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${CTEST_OUT:-$root/build/ctest}
lib=${RUST_CORE_LIB:-$root/target/release/libvalkey_rs_core.a}
header=${RUST_CORE_HEADER:-$root/include/valkey_rs_core.h}
jobs=${JOBS:-2}
CC=${CC:-cc}
CXX=${CXX:-c++}
skip_rust=${SKIP_RUST:-0}
mkdir -p "$out/gen"
out=$(cd "$out" && pwd)

pass=0
fail=0
failed=()
ok() {
    pass=$((pass + 1))
    echo "PASS: $*"
}
bad() {
    fail=$((fail + 1))
    failed+=("$*")
    echo "FAIL: $*"
}
note() { echo "NOTE: $*"; }
finish() {
    if ((fail)); then
        echo
        echo "failed checks:"
        printf '  - %s\n' "${failed[@]}"
    fi
    echo "$pass passed, $fail failed"
    if ((fail)); then exit 1; fi
    exit 0
}
# Runs a command with its output in a log; on failure shows the log's tail.
logged() {
    local log=$1
    shift
    if "$@" >"$log" 2>&1; then return 0; fi
    sed -n '1,60p' "$log" | sed 's/^/    | /'
    return 1
}
# nm -g --defined-only as "type name" lines (archives and LTO objects included).
defsyms() { nm -g --defined-only "$@" 2>/dev/null | awk 'NF == 3 { print $2, $3 }'; }

# ------------------------------------------------------------------ the C tree
pristine=$("$root/valkey-patch/fetch-valkey.sh" 2>"$out/fetch.log") || pristine=""
if [ -n "${VALKEY_C_TREE:-}" ]; then
    tree=$(cd "$VALKEY_C_TREE" 2>/dev/null && pwd) || {
        bad "VALKEY_C_TREE='$VALKEY_C_TREE' is not a directory"
        finish
    }
    if [ -n "$pristine" ]; then
        for f in src/dict.c src/dict.h; do
            cmp -s "$tree/$f" "$pristine/$f" || note "VALKEY_C_TREE's $f differs from pristine 9.1.2 ($pristine/$f)"
        done
    fi
else
    if [ -z "$pristine" ]; then
        cat "$out/fetch.log"
        bad "fetch pristine Valkey 9.1.2 source (valkey-patch/fetch-valkey.sh; or set VALKEY_C_TREE)"
        finish
    fi
    tree=$out/valkey-9.1.2
    if [ ! -f "$tree/.ctest-built" ] || [ "$(cat "$tree/.ctest-built")" != "$pristine" ]; then
        echo "building pristine Valkey 9.1.2 (plain C) in $tree, make -j$jobs (~3 min; log: $out/valkey-build.log)"
        rm -rf "$tree"
        cp -a "$pristine" "$tree" && rm -f "$tree/.pristine-ok"
        if ! env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C "$tree" -j"$jobs" >"$out/valkey-build.log" 2>&1; then
            tail -40 "$out/valkey-build.log" | sed 's/^/    | /'
            bad "build pristine Valkey 9.1.2 in $tree"
            finish
        fi
        echo "$pristine" >"$tree/.ctest-built"
    fi
fi
src=$tree/src
support_objs=()
for o in zmalloc siphash mt19937-64 monotonic util serverassert sds sha256 valkey_strtod; do
    support_objs+=("$src/$o.o")
done
support_libs=("$tree/deps/fpconv/libfpconv.a" "$tree/deps/jemalloc/lib/libjemalloc.a")
syslibs=(-lm -lpthread -ldl -lrt)
missing=()
for f in "$src/dict.o" "$src/lazyfree.o" "$src/expire.o" "${support_objs[@]}" "${support_libs[@]}"; do
    [ -f "$f" ] || missing+=("$f")
done
if ((${#missing[@]})); then
    bad "C tree $tree is complete (missing: ${missing[*]})"
    finish
fi
ok "Valkey 9.1.2 C build at $tree (dict.o and the support objects present)"

# dict.o's exported symbols: the contract.
defsyms "$src/dict.o" | awk '{ print $2 }' | sort -u >"$out/dict.syms"
ndict=$(wc -l <"$out/dict.syms")
uncovered=()
while read -r s; do
    grep -qw -- "$s" "$here/diff_driver.c" || uncovered+=("$s")
done <"$out/dict.syms"
if ((${#uncovered[@]} == 0)); then
    ok "diff_driver.c calls all $ndict symbols exported by dict.o"
else
    bad "diff_driver.c does not call: ${uncovered[*]}"
fi

# ------------------------------------------------------- driver against dict.o
cflags=(-std=gnu11 -O2 -g -Wall -Wextra -Werror=implicit-function-declaration -Werror=incompatible-pointer-types)
vk_inc=(-I"$src" -I"$tree/deps/jemalloc/include" -DUSE_JEMALLOC)
if logged "$out/driver.cc.log" "$CC" "${cflags[@]}" "${vk_inc[@]}" -c "$here/diff_driver.c" -o "$out/diff_driver.o" &&
    logged "$out/driver_c.ld.log" "$CC" -o "$out/diff_c" "$out/diff_driver.o" "$src/dict.o" "${support_objs[@]}" \
        "${support_libs[@]}" "${syslibs[@]}"; then
    ok "diff driver compiled against the original dict.h and linked with dict.o"
    c_ok=1
else
    bad "diff driver compiled against the original dict.h and linked with dict.o"
    c_ok=0
fi

# Runs a driver binary; trace to $2. Returns non-zero unless the trace is complete.
run_driver() {
    local bin=$1 trace=$2 rc
    timeout 600 "$bin" >"$trace" 2>"$trace.stderr"
    rc=$?
    if ((rc != 0)); then
        if ((rc > 128)); then echo "    $bin: killed by signal $((rc - 128))"; else echo "    $bin: exit $rc"; fi
        tail -5 "$trace.stderr" | sed 's/^/    | /'
        echo "    last trace lines:"
        tail -5 "$trace" | cut -c1-200 | sed 's/^/    | /'
        return 1
    fi
    [ "$(tail -1 "$trace")" = "trace complete" ] || {
        echo "    $trace is incomplete"
        return 1
    }
}

# compare_traces C_TRACE RUST_TRACE "check title"
compare_traces() {
    local c=$1 r=$2 title=$3 first ndiff
    if cmp -s "$c" "$r"; then
        ok "$title ($(wc -l <"$c") lines)"
        return 0
    fi
    # "info" lines count hashFunction/keyCompare calls: dict.c calls them at
    # fixed moments, so they must match exactly like every other line.
    first=$(cmp "$c" "$r" 2>/dev/null | sed -n 's/.* line \([0-9]*\).*/\1/p')
    first=${first:-$(($(wc -l <"$r") + 1))}
    echo "    first difference at line $first (C: $c, Rust: $r)"
    echo "    context (C trace):"
    head -n "$first" "$c" | grep -n '^== phase' | tail -1 | sed 's/^/    | /'
    sed -n "$((first > 3 ? first - 3 : 1)),$((first - 1))p" "$c" | cut -c1-220 | sed 's/^/    | /'
    diff -u "$c" "$r" | sed -n '3,40p' | cut -c1-220 | sed 's/^/    | /'
    ndiff=$(diff "$c" "$r" | grep -c '^[<>]')
    bad "$title (first difference at line $first, $ndiff differing lines; rerun both with DICT_TRACE_ALL=1 to locate the exact operation)"
}
fuzz_seeds=${FUZZ_SEEDS-1 2 3}
fuzz_ops=${FUZZ_OPS:-200000}

if ((c_ok)); then
    if run_driver "$out/diff_c" "$out/trace_c.txt" && run_driver "$out/diff_c" "$out/trace_c2.txt"; then
        if cmp -s "$out/trace_c.txt" "$out/trace_c2.txt"; then
            ok "dict.o trace is deterministic ($(wc -l <"$out/trace_c.txt") lines, two runs identical)"
        else
            diff "$out/trace_c.txt" "$out/trace_c2.txt" | head -10 | sed 's/^/    | /'
            bad "dict.o trace is deterministic (two runs differ: harness bug)"
        fi
        starts=$(grep -c 'ev rehashingStarted' "$out/trace_c.txt")
        steps=$(grep -Ec '^(rehash step|big dictRehash)' "$out/trace_c.txt")
        midscan=$(grep -Ec 'exp=\[[0-9]+,[0-9]+\]' "$out/trace_c.txt")
        if ((starts > 20 && steps > 5 && midscan > 50)) && grep -q 'missing=0' "$out/trace_c.txt" &&
            grep -q 'dictRehashMicroseconds did work: 1' "$out/trace_c.txt"; then
            ok "trace exercises incremental rehashing ($starts rehashes, $midscan states mid-rehash)"
        else
            bad "trace exercises incremental rehashing (starts=$starts steps=$steps mid-rehash=$midscan)"
        fi
    else
        bad "driver linked with dict.o runs to completion"
    fi
fi

if [ "$skip_rust" = 1 ]; then
    note "SKIP_RUST=1: library and header checks skipped"
    finish
fi

# ------------------------------------------------------------ library symbols
rs_ok=0
if [ ! -f "$lib" ]; then
    bad "library $lib exists (run cargo build --release)"
else
    defsyms "$lib" | sort -u >"$out/lib.defs"
    awk '{ print $2 }' "$out/lib.defs" | sort -u >"$out/lib.syms"
    nodef=$(comm -23 "$out/dict.syms" "$out/lib.syms")
    if [ -z "$nodef" ]; then
        ok "library defines all $ndict symbols dict.o exports"
        rs_ok=1
    else
        bad "library defines all dict.o symbols; missing $(echo "$nodef" | wc -l): $(echo $nodef | cut -c1-400)"
    fi
    # Symbols of every Valkey object except the ones the library replaces.
    {
        find "$src" -name '*.o' ! -name dict.o ! -name lazyfree.o -print0 | xargs -0 nm -g --defined-only 2>/dev/null
        find "$tree/deps" \( -name '*.a' -o -name '*.o' \) -print0 | xargs -0 nm -g --defined-only 2>/dev/null
    } | awk 'NF == 3 { print $2, $3 }' | sort -u >"$out/valkey.defs"
    defsyms "$src/lazyfree.o" | awk '{ print $2 }' >"$out/replaced.syms"
    printf '%s\n' rememberReplicaKeyWithExpire getReplicaKeyWithExpireCount expireReplicaKeys \
        flushReplicaKeysWithExpireList >>"$out/replaced.syms"
    sort -u -o "$out/replaced.syms" "$out/replaced.syms"
    # Strong definitions on both sides are link errors; a weak one on either side silently picks one.
    clash=$(join -1 2 -2 2 <(sort -k2 "$out/lib.defs") <(sort -k2 "$out/valkey.defs") |
        awk '{ print $1, $2, $3 }' | grep -vwFf "$out/replaced.syms" || true)
    strong=$(echo "$clash" | awk 'NF == 3 && $2 !~ /^[wWvV]$/ && $3 !~ /^[wWvV]$/ { print $1 }' | sort -u)
    weak=$(echo "$clash" | awk 'NF == 3 && ($2 ~ /^[wWvV]$/ || $3 ~ /^[wWvV]$/) { print $1 }' | sort -u)
    if [ -z "$strong" ]; then
        ok "library exports no symbol that clashes with a Valkey object ($(wc -l <"$out/valkey.defs") Valkey symbols compared)"
    else
        bad "library symbols clash with Valkey objects: $(echo $strong | cut -c1-600)"
    fi
    [ -z "$weak" ] || note "weak definitions shared with Valkey objects: $(echo $weak | cut -c1-400)"
    extra=$(awk '{ print $2 }' "$out/lib.defs" | sort -u | comm -23 - "$out/dict.syms" | comm -23 - "$out/replaced.syms" |
        grep -Ev '^(_ZN|_R|__rust|rust_|__rdl|__rg_|_Unwind|__rustc)' || true)
    [ -z "$extra" ] || note "other exported unmangled names (not clashing today): $(echo $extra | cut -c1-400)"
fi

# ---------------------------------------------------- driver against the library
if ((rs_ok && c_ok)); then
    rs_link=(-o "$out/diff_rs" "$out/diff_driver.o" "$lib" "${support_objs[@]}" "${support_libs[@]}" "${syslibs[@]}")
    if logged "$out/driver_rs.ld.log" "$CC" "${rs_link[@]}"; then
        ok "driver links with the library and only zmalloc.o siphash.o mt19937-64.o monotonic.o util.o serverassert.o (+ their deps): no server symbol needed"
        rs_bin=1
    else
        bad "driver links with the library and only Valkey's zmalloc.o & co. (undefined references above)"
        rs_bin=0
        if logged "$out/driver_rs_gc.ld.log" "$CC" -Wl,--gc-sections "${rs_link[@]}"; then
            note "it does link with -Wl,--gc-sections; comparing traces with that binary"
            rs_bin=1
        fi
    fi
    if ((rs_bin)); then
        if run_driver "$out/diff_rs" "$out/trace_rs.txt"; then
            ok "driver linked with the library runs to completion"
        else
            bad "driver linked with the library runs to completion"
        fi
        compare_traces "$out/trace_c.txt" "$out/trace_rs.txt" "Rust trace identical to dict.o trace"
        for seed in $fuzz_seeds; do
            if DICT_FUZZ_SEED=$seed DICT_FUZZ_OPS=$fuzz_ops run_driver "$out/diff_c" "$out/fuzz_c_$seed.txt" &&
                DICT_FUZZ_SEED=$seed DICT_FUZZ_OPS=$fuzz_ops run_driver "$out/diff_c" "$out/fuzz_c2_$seed.txt" &&
                cmp -s "$out/fuzz_c_$seed.txt" "$out/fuzz_c2_$seed.txt"; then
                if DICT_FUZZ_SEED=$seed DICT_FUZZ_OPS=$fuzz_ops run_driver "$out/diff_rs" "$out/fuzz_rs_$seed.txt"; then
                    compare_traces "$out/fuzz_c_$seed.txt" "$out/fuzz_rs_$seed.txt" \
                        "fuzz seed $seed ($fuzz_ops random operations): Rust trace identical to dict.o trace"
                else
                    bad "fuzz seed $seed: driver linked with the library runs to completion"
                fi
            else
                bad "fuzz seed $seed: dict.o runs complete and deterministic (harness bug)"
            fi
        done
    fi
fi

# --------------------------------- the inline fast paths (USE_RUST_CORE's dict.h)
# Under USE_RUST_CORE, Valkey's dict.h (as valkey-patch/ changes it) includes
# include/valkey_rs_core_inline.h, whose inline dictNext/dictGetKey/dictGetVal
# replace the calls in every C caller. The same driver compiled against that
# dict.h and linked with the library must still produce dict.o's traces.
if ((rs_ok && c_ok)); then
    inl=$out/inline
    rm -rf "$inl" && mkdir -p "$inl"
    # The pristine dict.h (VALKEY_C_TREE may be a patched tree such as build/valkey-c).
    if [ -n "$pristine" ]; then cp "$pristine/src/dict.h" "$inl/dict.h"; else cp "$src/dict.h" "$inl/dict.h"; fi
    awk '/^diff -ruN a\/src\/dict.h /{p=1;next} /^diff -ruN /{p=0} p' "$root/valkey-patch/valkey-9.1.2.patch" >"$inl/dict.h.patch"
    if [ -s "$inl/dict.h.patch" ] && patch -s --batch "$inl/dict.h" "$inl/dict.h.patch" </dev/null &&
        grep -q 'valkey_rs_core_inline.h' "$inl/dict.h"; then
        ok "valkey-patch's dict.h change applies to 9.1.2's dict.h and includes the inline header"
    else
        bad "valkey-patch's dict.h change applies to 9.1.2's dict.h and includes the inline header"
    fi
    if logged "$inl/cc.log" "$CC" "${cflags[@]}" -Werror -Wno-unused-function -DUSE_RUST_CORE -I"$inl" -I"$root/include" \
        "${vk_inc[@]}" -c "$here/diff_driver.c" -o "$inl/diff_driver.o" &&
        logged "$inl/ld.log" "$CC" -o "$inl/diff_inline" "$inl/diff_driver.o" "$lib" "${support_objs[@]}" \
            "${support_libs[@]}" "${syslibs[@]}"; then
        # Every call site of the accessors is inlined; dictNext stays referenced (its slow path).
        refs=$(nm -u "$inl/diff_driver.o" | awk '{ print $2 }' | grep -Ex 'dictGetKey|dictGetVal|dictNext' | sort | tr '\n' ' ')
        if [ "$refs" = "dictNext " ]; then
            ok "driver built with the inline header: dictGetKey/dictGetVal fully inlined, dictNext only as the slow path"
        else
            bad "driver built with the inline header references: '$refs' (want only dictNext)"
        fi
        if run_driver "$inl/diff_inline" "$inl/trace.txt"; then
            compare_traces "$out/trace_c.txt" "$inl/trace.txt" "inline dictNext/dictGetKey/dictGetVal: trace identical to dict.o trace"
        else
            bad "driver built with the inline header runs to completion"
        fi
        for seed in $fuzz_seeds; do
            [ -f "$out/fuzz_c_$seed.txt" ] || continue
            if DICT_FUZZ_SEED=$seed DICT_FUZZ_OPS=$fuzz_ops run_driver "$inl/diff_inline" "$inl/fuzz_$seed.txt"; then
                compare_traces "$out/fuzz_c_$seed.txt" "$inl/fuzz_$seed.txt" \
                    "inline header, fuzz seed $seed: trace identical to dict.o trace"
            else
                bad "inline header, fuzz seed $seed: driver runs to completion"
            fi
        done
    else
        bad "driver compiles against the patched dict.h (inline header) and links with the library"
    fi
fi

# ------------------------------------------------------------- valgrind memcheck
if ((rs_ok && c_ok)) && [ "${VALGRIND:-1}" != 0 ]; then
    if ! command -v valgrind >/dev/null; then
        note "valgrind not installed: memcheck runs skipped"
    else
        mkdir -p "$out/libc"
        if logged "$out/libc/build.log" bash -c '
            set -e
            "$0" -std=gnu11 -O2 -g -I"$1" -c "$1/zmalloc.c" -o "$2/zmalloc.o"
            "$0" -std=gnu11 -O2 -g -I"$1" -c "$3/diff_driver.c" -o "$2/diff_driver.o"' "$CC" "$src" "$out/libc" "$here"; then
            vg_objs=("$out/libc/zmalloc.o")
            for o in "${support_objs[@]}"; do [[ $o == */zmalloc.o ]] || vg_objs+=("$o"); done
            vg_ok=1
            for v in c rs; do
                if [ $v = c ]; then impl=("$src/dict.o"); else impl=("$lib"); fi
                if ! logged "$out/libc/ld_$v.log" "$CC" -o "$out/libc/diff_$v" "$out/libc/diff_driver.o" "${impl[@]}" \
                    "${vg_objs[@]}" "$tree/deps/fpconv/libfpconv.a" "${syslibs[@]}"; then
                    vg_ok=0
                    continue
                fi
                DICT_FUZZ_OPS=20000 timeout 900 valgrind -q --error-exitcode=99 --leak-check=full \
                    --errors-for-leak-kinds=definite --log-file="$out/libc/valgrind_$v.log" \
                    "$out/libc/diff_$v" >"$out/libc/trace_$v.txt" 2>/dev/null
                rc=$?
                if ((rc != 0)) || [ "$(tail -1 "$out/libc/trace_$v.txt")" != "trace complete" ]; then
                    grep -v '^==[0-9]*== *$' "$out/libc/valgrind_$v.log" | head -30 | sed 's/^/    | /'
                    vg_ok=0
                    [ $v = rs ] && bad "valgrind memcheck of the driver linked with the library (exit $rc, log $out/libc/valgrind_rs.log)"
                    [ $v = c ] && bad "valgrind memcheck of the driver linked with dict.o (exit $rc: harness problem)"
                fi
            done
            if ((vg_ok)); then
                ok "valgrind memcheck: library has no memory error and no definite leak over the whole driver"
                compare_traces "$out/libc/trace_c.txt" "$out/libc/trace_rs.txt" \
                    "under valgrind (exact allocation sizes in used_memory): Rust trace identical to dict.o trace"
            fi
        else
            bad "build the libc-malloc driver for valgrind"
        fi
    fi
fi

# ------------------------------------------------------------------- C ABI test
if [ ! -f "$header" ]; then
    bad "generated header $header exists"
    finish
fi
hdir=$(cd "$(dirname "$header")" && pwd)
hname=$(basename "$header")
if logged "$out/header_c11.log" "$CC" -std=c11 -Wall -Wextra -Werror -fsyntax-only -I"$hdir" -x c - \
    <<<"#include \"$hname\""$'\n'"int main(void) { return 0; }"; then
    ok "header compiles alone as C11 (-std=c11 -Wall -Wextra -Werror)"
else
    bad "header compiles alone as C11"
fi
if ! "$CC" -std=c11 -pedantic -Werror -fsyntax-only -I"$hdir" -x c - <<<"#include \"$hname\"" >"$out/header_pedantic.log" 2>&1; then
    note "header is not strictly ISO C11 (-pedantic): $(grep -m1 -o 'error: .*' "$out/header_pedantic.log")"
fi
if logged "$out/header_cxx.log" "$CXX" -std=c++17 -Wall -Wextra -Werror -fsyntax-only -I"$hdir" -x c++ - \
    <<<"#include \"$hname\""$'\n'"int main() { return 0; }"; then
    ok "header compiles alone as C++17 (-std=c++17 -Wall -Wextra -Werror)"
else
    bad "header compiles alone as C++17"
fi

# The original dict.h's view: layouts/constants (compiled and run) and prototypes (extracted).
gen=$out/gen
if logged "$out/abi_orig.log" "$CC" -std=gnu11 -Wall -I"$src" -I"$here" "$here/abi_layout_orig.c" -o "$out/abi_layout_orig" &&
    "$out/abi_layout_orig" >"$gen/abi_orig_values.h"; then
    awk '/\/\* API \*\//{ f = 1; next } /^#endif/{ f = 0 } f' "$src/dict.h" | tr '\n' ' ' | sed 's/;/;\n/g' |
        sed -E 's/^[[:space:]]+//; s/[[:space:]]+/ /g' |
        sed -nE 's/^([^(]*[^A-Za-z0-9_(])([A-Za-z_][A-Za-z0-9_]*)\((.*)\);$/\2|ABI_SIG(\2, \1, (\3))/p' |
        sed -E 's/\bdictScanFunction\b/abi_dictScanFunction/g; s/\bdictDefragAllocFunction\b/abi_dictDefragAllocFunction/g; s/\bdictResizeEnable\b/unsigned int/g' |
        while IFS='|' read -r name line; do
            grep -qx -- "$name" "$out/dict.syms" && echo "$line"
        done >"$gen/abi_signatures.h"
    nsig=$(grep -c ABI_SIG "$gen/abi_signatures.h")
    if ((nsig + 5 == ndict)); then
        abi_gen=1
    else
        bad "extract the original dict.h prototypes ($nsig + 5 extra != $ndict exported symbols)"
        abi_gen=0
    fi
else
    bad "compile abi_layout_orig.c against the original dict.h"
    abi_gen=0
fi
# zmalloc.h comes from Valkey's tree (for zmalloc_used_memory / zmalloc_size); dict.h does not.
abi_cflags=(-std=gnu11 -Wall -Wextra -Werror -I"$hdir" -I"$gen" -I"$here" -idirafter "$src"
    -I"$tree/deps/jemalloc/include" -DUSE_JEMALLOC)
if ((abi_gen)); then
    if "$CC" "${abi_cflags[@]}" -fsyntax-only "$here/abi_test.c" >"$out/abi_test.cc.log" 2>&1; then
        ok "abi_test.c: header agrees with dict.h on sizeof/alignof/offsetof of dict, dictType, dictIterator, dictDefragFunctions, field types, constants and all $ndict signatures"
    else
        grep -E 'static assertion failed|error' "$out/abi_test.cc.log" | sed -E 's/^[^ ]*: //' | sort -u | head -40 |
            sed 's/^/    | /'
        bad "abi_test.c: header agrees with the original dict.h on layouts, types and signatures (see $out/abi_test.cc.log)"
    fi
fi
if ((rs_ok)); then
    if logged "$out/abi_test.build.log" "$CC" "${abi_cflags[@]}" -DABI_RUNTIME_ONLY "$here/abi_test.c" -o "$out/abi_test" \
        "$lib" "${support_objs[@]}" "${support_libs[@]}" "${syslibs[@]}" && logged "$out/abi_test.run.log" "$out/abi_test"; then
        ok "abi_test drives the API from C through the generated header"
    else
        bad "abi_test drives the API from C through the generated header"
    fi
fi
if ((rs_ok)); then
    if logged "$out/abi_cxx.log" "$CXX" -std=c++17 -Wall -Wextra -Werror -I"$hdir" "$here/abi_cxx.cpp" -o "$out/abi_cxx" \
        "$lib" "${support_objs[@]}" "${support_libs[@]}" "${syslibs[@]}" && logged "$out/abi_cxx.run.log" "$out/abi_cxx"; then
        ok "C++17 program links with the library through the header (extern \"C\") and runs"
    else
        bad "C++17 program links with the library through the header (extern \"C\") and runs"
    fi
fi
if ((rs_ok)); then
    for lang in c cxx; do
        if [ $lang = c ]; then
            comp=("$CC" -std=c11 -x c)
        else
            comp=("$CXX" -std=c++17 -x c++)
        fi
        if logged "$out/abi_inline_$lang.log" "${comp[@]}" -O2 -Wall -Wextra -Werror -I"$hdir" "$here/abi_inline.c" -x none \
            -o "$out/abi_inline_$lang" "$lib" "${support_objs[@]}" "${support_libs[@]}" "${syslibs[@]}" &&
            logged "$out/abi_inline_$lang.run.log" "$out/abi_inline_$lang"; then
            ok "inline header ($lang): dictEntry layout pinned to the library's, inline dictNext/dictGetKey/dictGetVal in lockstep with the exported ones ($(sed -n 's/.*(\(.*\)).*/\1/p' "$out/abi_inline_$lang.run.log"))"
        else
            bad "inline header ($lang): layout and lockstep test (tests/c/abi_inline.c)"
        fi
    done
fi

finish
