#!/usr/bin/env bash
# Relink a tree's valkey-unit-gtests three more times, with 16, 32 and 48 never-executed bytes
# linked ahead of the test objects: code placements, as build-dict-bench.sh makes for the dict
# harness.  Everything linked after the padding (the tests, libvalkey.a, the library, jemalloc)
# moves by that much against cache-line and fetch-block boundaries.  One binary per build has one
# placement, and the gtest's Linear access rows moved by up to 2 % with it (bench/README.md).
#
#   bench/link-gtest-placements.sh TREE OUT_PREFIX [MAKE_VARS...]
#   -> OUT_PREFIX_p16, OUT_PREFIX_p32, OUT_PREFIX_p48
#
# MAKE_VARS are those the tree was built with (USE_RUST_CORE=yes RUST_CORE_DIR=... for the Rust
# tree, USE_RUST_CORE=no for the C one): the link command is taken from `make -n` in the tree's
# src/unit, which also asks the parent Makefile whether its prerequisites are current, and that
# must not see changed settings.  The objects and archives are the tree's own; nothing in the
# tree is written.
set -euo pipefail
tree=${1:?usage: link-gtest-placements.sh TREE OUT_PREFIX [MAKE_VARS...]}
prefix=${2:?output prefix}
shift 2
unit="$tree/src/unit"
[ -x "$unit/valkey-unit-gtests" ] || { echo "link-gtest-placements: $unit/valkey-unit-gtests missing" >&2; exit 1; }
case $prefix in /*) ;; *) prefix="$PWD/$prefix" ;; esac
CC=${CC:-cc}

# make -n prints every recipe (the wrappers are regenerated on each make, so every object looks
# stale); keep the one command that links the binary, its continuation lines joined.
link=$(make -n --no-print-directory -C "$unit" valkey-unit-gtests "$@" 2>/dev/null |
    sed -e ':a' -e '/\\$/N; s/\\\n//; ta' | tr '\t' ' ' | grep -E -- ' -o valkey-unit-gtests ' || true)
if [ "$(printf '%s\n' "$link" | grep -c .)" != 1 ]; then
    echo "link-gtest-placements: no single link command for valkey-unit-gtests in 'make -n' of $unit" >&2
    exit 1
fi

base=$(nm "$unit/valkey-unit-gtests" | awk '$3 == "main" {print $1}')
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for pad in 16 32 48; do
    printf '.text\n.globl valkey_bench_gtest_pad\nvalkey_bench_gtest_pad:\n.skip %d, 0xcc\n.section .note.GNU-stack,"",@progbits\n' \
        "$pad" >"$tmp/pad$pad.S"
    $CC -c "$tmp/pad$pad.S" -o "$tmp/pad$pad.o"
    # eval re-splits the command: quote the two paths put into it.
    cmd=${link/ -o valkey-unit-gtests / -o $(printf %q "${prefix}_p$pad") $(printf %q "$tmp/pad$pad.o") }
    (cd "$unit" && eval "$cmd")
    # The padding must have moved the test code: main sits that many bytes further on.
    moved=$(nm "$prefix"_p$pad | awk '$3 == "main" {print $1}')
    if [ -z "$base" ] || [ -z "$moved" ] || [ $((16#$moved - 16#$base)) != "$pad" ]; then
        echo "link-gtest-placements: ${prefix}_p$pad: main at 0x$moved, unpadded at 0x$base: not moved by $pad" >&2
        exit 1
    fi
done
echo "link-gtest-placements: linked ${prefix}_p16, _p32 and _p48 from $unit" >&2
