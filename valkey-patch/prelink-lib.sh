#!/bin/sh
# Pre-links valkey-rs-core's static library into the archive Valkey's binaries link
# (called by the patched src/Makefile and cmake/Modules/RustCore.cmake after cargo):
#
#   valkey-patch/prelink-lib.sh target/.../release/libvalkey_rs_core.a OUT.a
#
# cargo's staticlib carries Rust's whole standard library: about 1.2 MB more code and
# read-only data than the C build, and ~1,800 Rust-mangled global symbols that valkey-server's
# -rdynamic then exports, and compiler-builtins helpers such as __popcountdi2 that take
# the place of libgcc's for Valkey's own objects. OUT holds one object instead:
#   1. every member linked into one relocatable object (ld -r);
#   2. only what the library's C names reach is kept (--gc-sections, those names as
#      roots): the code the C callers can run, std's panic and thread support included;
#   3. only the C names stay global (objcopy --keep-global-symbols): the exported API of
#      include/valkey_rs_core.h and the vkrs_* entry points of the patch. Everything else
#      becomes local, as dict.c's static functions are.
#   4. the LLVM bitcode sections, which no link reads, are dropped.
# The C names are the archive's defined, strong, default-visibility global symbols that
# are neither Rust-mangled (_ZN.., _R..) nor runtime helpers (__.., rust_..). That leaves
# out compiler-builtins' weak hidden math functions (sqrt, round, fmod, ...): they become
# local too, so Valkey's objects keep libm's.
#
# Where this cannot be done (not an ELF platform, no GNU ld/objcopy), OUT is a copy of
# the archive as cargo built it, which links the same way, with a warning.
# RUST_CORE_PRELINK=no asks for that copy (tests/reliability/sanitizers.sh does, for a
# library instrumented by nightly rustc's AddressSanitizer, whose metadata sections
# should reach the final link untouched).
set -eu
in=${1:?usage: prelink-lib.sh LIB.a OUT.a}
out=${2:?usage: prelink-lib.sh LIB.a OUT.a}
LD=${RUST_CORE_LD:-ld}
OBJCOPY=${RUST_CORE_OBJCOPY:-objcopy}
READELF=${RUST_CORE_READELF:-readelf}
AR_=${RUST_CORE_AR:-ar}

tmp=$(mktemp -d "${out}.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# OUT = the archive as cargo built it (replaced in one rename, as the pre-linked one is).
copy_archive() {
    cp -f "$in" "$tmp/out.a"
    mv -f "$tmp/out.a" "$out"
    exit 0
}
fallback() {
    echo "prelink-lib.sh: warning: $1; linking $in as cargo built it" >&2
    copy_archive
}

[ "${RUST_CORE_PRELINK:-yes}" = no ] && copy_archive
[ "$(uname -s)" = Linux ] || fallback "not Linux"
for tool in "$LD" "$OBJCOPY" "$READELF" "$AR_"; do
    command -v "$tool" >/dev/null 2>&1 || fallback "$tool not found"
done

"$LD" -r --whole-archive "$in" -o "$tmp/all.o" || fallback "$LD -r failed"
"$READELF" -sW "$tmp/all.o" |
    awk '$5 == "GLOBAL" && $6 == "DEFAULT" && $7 != "UND" && NF >= 8 { print $8 }' |
    grep -Ev '^(_ZN|_R|__|rust_)|[.]llvm[.]' | sort -u >"$tmp/keep"
# Two of dict.c's exported names: without them this is not the library, or readelf's
# output was not understood.
grep -qx dictAdd "$tmp/keep" && grep -qx timeInMilliseconds "$tmp/keep" ||
    fallback "the library's C names were not found in $in"
# shellcheck disable=SC2046 # one --undefined=NAME argument per C name
"$LD" -r --gc-sections $(sed 's/^/--undefined=/' "$tmp/keep") "$tmp/all.o" -o "$tmp/gc.o" ||
    fallback "$LD -r --gc-sections failed"
"$OBJCOPY" --keep-global-symbols="$tmp/keep" --remove-section=.llvmbc --remove-section=.llvmcmd \
    "$tmp/gc.o" "$tmp/valkey_rs_core.o" || fallback "$OBJCOPY failed"
"$AR_" rcs "$tmp/out.a" "$tmp/valkey_rs_core.o" || fallback "$AR_ failed"
mv -f "$tmp/out.a" "$out"
