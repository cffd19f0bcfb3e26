#!/usr/bin/env bash
# Build bench/dict_bench.c twice from ONE object compiled against Valkey's original dict.h:
#   OUT/dict_bench_c   linked with the C build's dict.o
#   OUT/dict_bench_rs  linked with target/release/libvalkey_rs_core.a instead
#   OUT/dict_bench_c_lto  (context) the C dict link-time-optimised into the harness, as in valkey-server
# Both get the same Valkey objects around the dict (zmalloc siphash mt19937-64 monotonic
# util serverassert sds) and the same jemalloc, all from the plain C tree.  The harness object
# has no LTO bytecode, so neither dict is inlined into the benchmark loop: both are called
# through the same C ABI.  The C tree's objects are fat LTO objects, and GCC's linker
# plugin still optimises across them: in dict_bench_c, zfree is inlined into
# dictReleaseIterator and dict.c calls a size-specialised valkey_malloc.constprop.0, as
# in valkey-server; the Rust library calls the exported valkey_malloc/valkey_free.
#
#   OUT/dict_bench_rs_inline  (context) the library with the inline header, as valkey-server's
#                              C callers get it (needs the patched tree: RUST_TREE)
#
#   bench/build-dict-bench.sh VALKEY_C_TREE RUST_LIB OUT_DIR [RUST_TREE]
set -euo pipefail
tree=${1:?usage: build-dict-bench.sh VALKEY_C_TREE RUST_LIB OUT_DIR [RUST_TREE]}
rustlib=${2:?rust library path}
out=${3:?output dir}
here=$(cd "$(dirname "$0")" && pwd)
src="$tree/src"
CC=${CC:-cc}

for o in dict zmalloc siphash mt19937-64 monotonic util serverassert sds; do
    [ -f "$src/$o.o" ] || { echo "build-dict-bench: $src/$o.o missing: build the C tree first (make valkey-c)" >&2; exit 1; }
done
jemalloc="$tree/deps/jemalloc/lib/libjemalloc.a"
[ -f "$jemalloc" ] || { echo "build-dict-bench: $jemalloc missing (make valkey-c)" >&2; exit 1; }
[ -f "$rustlib" ] || { echo "build-dict-bench: $rustlib missing (cargo build --release)" >&2; exit 1; }

mkdir -p "$out"
common=("$src/zmalloc.o" "$src/siphash.o" "$src/mt19937-64.o" "$src/monotonic.o" "$src/util.o" "$src/serverassert.o" "$src/sds.o")
libs=("$jemalloc" -lm -ldl -pthread)

# Pad 0 is the program itself (dict_bench.o, dict_bench_c, dict_bench_rs); 16, 32 and 48
# are placement variants (_p16 ...) with that many never-executed bytes ahead of main
# (BENCH_PAD in dict_bench.c), which moves the timed loops and every dict function of both
# binaries by that much. bench.py rotates its rounds over the four.
for pad in 0 16 32 48; do
    sfx=; [ "$pad" = 0 ] || sfx=_p$pad
    $CC -std=gnu11 -O2 -g -fno-omit-frame-pointer -Wall -Wextra -Wno-unused-parameter \
        -DUSE_JEMALLOC -DBENCH_PAD=$pad -I"$src" -I"$tree/deps/jemalloc/include" \
        -c "$here/dict_bench.c" -o "$out/dict_bench$sfx.o"
    $CC -o "$out/dict_bench_c$sfx" "$out/dict_bench$sfx.o" "$src/dict.o" "${common[@]}" "${libs[@]}"
    $CC -o "$out/dict_bench_rs$sfx" "$out/dict_bench$sfx.o" "${common[@]}" "$rustlib" "${libs[@]}"
done

# Context only: the C dict as valkey-server really gets it, compiled with -flto into its
# callers (dict.o is a fat LTO object), so dictNext/dictGetKey/... can be inlined. The Rust
# library can never be inlined into GCC-compiled C; this binary measures what that costs.
if $CC -std=gnu11 -O3 -flto -fno-omit-frame-pointer -DUSE_JEMALLOC -I"$src" -I"$tree/deps/jemalloc/include" \
        -c "$here/dict_bench.c" -o "$out/dict_bench_lto.o" 2>/dev/null &&
    $CC -O3 -flto -o "$out/dict_bench_c_lto" "$out/dict_bench_lto.o" "$src/dict.o" "${common[@]}" "${libs[@]}" 2>/dev/null; then
    :
else
    rm -f "$out/dict_bench_c_lto"
    echo "build-dict-bench: no LTO build of the C variant (compiler without -flto); skipped" >&2
fi

# Context too: the Rust library as valkey-server's C callers see it under USE_RUST_CORE:
# compiled against the patched dict.h (RS_TREE, 4th argument), which includes
# include/valkey_rs_core_inline.h (inline dictNext/dictGetKey/dictGetVal).
rs_tree=${4:-}
if [ -n "$rs_tree" ] && grep -q valkey_rs_core_inline.h "$rs_tree/src/dict.h" 2>/dev/null; then
    $CC -std=gnu11 -O2 -g -fno-omit-frame-pointer -Wall -Wextra -Wno-unused-parameter \
        -DUSE_JEMALLOC -DUSE_RUST_CORE -I"$rs_tree/src" -I"$here/../include" -I"$tree/deps/jemalloc/include" \
        -c "$here/dict_bench.c" -o "$out/dict_bench_inline.o"
    $CC -o "$out/dict_bench_rs_inline" "$out/dict_bench_inline.o" "${common[@]}" "$rustlib" "${libs[@]}"
else
    rm -f "$out/dict_bench_rs_inline"
fi

# Sanity: the Rust binary must not contain dict.c's code, the C one must.
if nm "$out/dict_bench_rs" | grep ' dict_can_resize$' >/dev/null; then
    echo "build-dict-bench: dict_bench_rs contains dict.c's statics: it did not link the Rust dict" >&2; exit 1
fi
if ! nm "$out/dict_bench_c" | grep ' dict_can_resize$' >/dev/null; then
    echo "build-dict-bench: dict_bench_c lacks dict.c's statics: it did not link dict.o" >&2; exit 1
fi
echo "build-dict-bench: built $out/dict_bench_c and $out/dict_bench_rs" >&2
