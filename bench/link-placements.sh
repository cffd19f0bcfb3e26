#!/usr/bin/env bash
# Relink a tree's valkey-unit-gtests or valkey-server three more times, with 16, 32 and 48
# never-executed bytes linked ahead of its objects: code placements, as build-dict-bench.sh makes
# for the dict harness.  Everything linked after the padding moves by that much against
# cache-line and fetch-block boundaries.  One binary per build has one placement, and rows moved
# with it: the gtest's Linear access rows by up to 2 %, the e2e rows by about 1 % taken together
# (bench/README.md).
#
#   bench/link-placements.sh TREE TARGET OUT_DIR [MAKE_VARS...]
#   TARGET: valkey-unit-gtests or valkey-server
#   -> OUT_DIR_p16/TARGET, OUT_DIR_p32/TARGET, OUT_DIR_p48/TARGET
#
# The binaries keep their name: a process's main thread is named after its executable, and
# bench.py finds the server's main thread by that name.
#
# LINK_ORDERS=1: each relink also links the objects in another order, drawn from the padding as
# its seed (objects sorted by a hash of seed and name, so the objects both trees share come in the
# same order in both).  valkey-server links with -flto=auto, whose partitions lay out the program
# part by part in object order: the order moved single e2e rows by up to 7 %, where the padding
# alone (which moves everything after it together) moved them by about 1 % (bench/README.md, "The
# e2e section with both servers at once").
#
# MAKE_VARS are those the tree was built with (USE_RUST_CORE=yes RUST_CORE_DIR=... for the Rust
# tree, USE_RUST_CORE=no for the C one): the link command is taken from `make -n` in the tree,
# which also asks the parent Makefile whether its prerequisites are current, and that must not
# see changed settings.  The objects and archives are the tree's own; nothing in the tree is
# written.  valkey-server links with -flto, so each relink of it takes about half a minute.
set -euo pipefail
usage="usage: link-placements.sh TREE valkey-unit-gtests|valkey-server OUT_DIR [MAKE_VARS...]"
tree=${1:?$usage}
target=${2:?$usage}
outdir=${3:?$usage}
shift 3
case $target in
    # make -n prints every recipe (the wrappers are regenerated on each make, so every object
    # looks stale). The test objects follow the padding, and main with them.
    valkey-unit-gtests) dir="$tree/src/unit" stale=() sym=main ;;
    # An up-to-date server has no recipe to print: -W makes server.o look new, which prints the
    # link alone. main sits in .text.startup, ahead of the padding; processCommand follows it.
    valkey-server) dir="$tree/src" stale=(-W server.o) sym=processCommand ;;
    *) echo "link-placements: unknown target $target; $usage" >&2; exit 2 ;;
esac
[ -x "$dir/$target" ] || { echo "link-placements: $dir/$target missing" >&2; exit 1; }
case $outdir in /*) ;; *) outdir="$PWD/$outdir" ;; esac
CC=${CC:-cc}

# Keep the one command that links the binary, its continuation lines joined.
link=$(make -n --no-print-directory -C "$dir" "$target" "${stale[@]}" "$@" 2>/dev/null |
    sed -e ':a' -e '/\\$/N; s/\\\n//; ta' | tr '\t' ' ' | grep -E -- " -o $target " | sed 's/^.*1>&2;//' || true)
if [ "$(printf '%s\n' "$link" | grep -c .)" != 1 ]; then
    echo "link-placements: no single link command for $target in 'make -n' of $dir" >&2
    exit 1
fi

orders=${LINK_ORDERS:-0}

# The link command with its objects (not the archives) in the order drawn from seed $1.
reordered() {
    local seed=$1 t objs=() sorted
    for t in $link; do
        case $t in *.o) objs+=("$t") ;; esac
    done
    sorted=$(for t in "${objs[@]}"; do
        printf '%s %s\n' "$(printf '%s:%s' "$seed" "$t" | md5sum | cut -c1-12)" "$t"
    done | sort | cut -d' ' -f2 | tr '\n' ' ')
    # The objects stand in one run in make's command: replace that run.
    printf '%s\n' "${link/"${objs[*]}"/${sorted% }}"
}

base=$(nm "$dir/$target" | awk -v s="$sym" '$3 == s {print $1}')
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The Rust build's valkey-server links its hot functions first, in one block at the start of
# .text (-Wl,-T with the script valkey-patch/hot-link-script.sh wrote from
# valkey-patch/hot-text.ld): padding in a section of .text would land after that block and leave the
# hot code where it was in every relink, one draw of code placement against C's four. A 16-byte
# shift of one function in that block moved the pub/sub section's pattern PUBLISH by 20 %
# (bench/README.md, "Code placement moves the Rust build's hot block too"). So there the padding
# gets a section of its own, named first in a copy of the script: the whole block moves by it.
hot_script=$(printf '%s\n' "$link" | grep -o -- '-Wl,-T,[^ ]*' | head -1 || true)
pad_section=.text
if [ -n "$hot_script" ]; then
    pad_section=.text.valkey_bench_placement_pad
    awk -v pad="$pad_section" 'seen && !done && /^ *\{/ {print; print "    *(" pad ")"; done = 1; next}
        /^ *\.text +:/ {seen = 1} {print}' "${hot_script#-Wl,-T,}" >"$tmp/hot-text.ld"
    grep -qF "*($pad_section)" "$tmp/hot-text.ld" ||
        { echo "link-placements: no .text statement in ${hot_script#-Wl,-T,}" >&2; exit 1; }
    link=${link/"$hot_script"/-Wl,-T,$tmp/hot-text.ld}
fi
for pad in 16 32 48; do
    printf '.section %s,"ax",@progbits\n.globl valkey_bench_placement_pad\nvalkey_bench_placement_pad:\n.skip %d, 0xcc\n.section .note.GNU-stack,"",@progbits\n' \
        "$pad_section" "$pad" >"$tmp/pad$pad.S"
    $CC -c "$tmp/pad$pad.S" -o "$tmp/pad$pad.o"
    out="${outdir}_p$pad/$target"
    mkdir -p "${outdir}_p$pad"
    # eval re-splits the command: quote the two paths put into it.
    cmd=$link
    if [ "$orders" = 1 ]; then
        cmd=$(reordered "$pad")
        [ "$cmd" != "$link" ] || { echo "link-placements: the objects of the link command were not reordered" >&2; exit 1; }
    fi
    cmd=${cmd/ -o $target / -o $(printf %q "$out") $(printf %q "$tmp/pad$pad.o") }
    (cd "$dir" && eval "$cmd")
    # The padding must have moved the code after it by exactly that much (in the same order).
    moved=$(nm "$out" | awk -v s="$sym" '$3 == s {print $1}')
    # The objects' order does not move the hot block, which the script orders: its code must
    # have moved by the padding alone.
    if [ "$orders" = 1 ] && [ -z "$hot_script" ]; then
        [ -n "$moved" ] || { echo "link-placements: $out has no $sym" >&2; exit 1; }
    elif [ -z "$base" ] || [ -z "$moved" ] || [ $((16#$moved - 16#$base)) != "$pad" ]; then
        echo "link-placements: $out: $sym at 0x$moved, unpadded at 0x$base: not moved by $pad" >&2
        exit 1
    fi
done
echo "link-placements: linked ${outdir}_p{16,32,48}/$target from $dir$([ "$orders" = 1 ] && echo ", objects reordered")" >&2
