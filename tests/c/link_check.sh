#!/usr/bin/env bash
# What the Rust build's binaries export and import, against the C build's: the library
# must not change Valkey's dynamic interface (crash-report symbol names, module ABI) nor
# take the place of a shared-library function Valkey's own objects call.
#
#   tests/c/link_check.sh [RUST_TREE [C_TREE]]
#     RUST_TREE  a Valkey tree built with USE_RUST_CORE=yes (default build/valkey)
#     C_TREE     the same Valkey built without it (default build/valkey-c, else the
#                tree tests/c/run.sh builds, build/ctest/valkey-9.1.2)
#   Either may also be a CMake build directory (a CMakeCache.txt, binaries in bin/): the
#   Rust one configured with -DUSE_RUST_CORE=ON, the C one without (tests/cmake/check.sh).
#
# For valkey-server, valkey-cli and valkey-benchmark:
#   - every symbol the C binary defines in its dynamic symbol table (-rdynamic: what
#     modules bind to and what crash reports name) is defined by the Rust binary too;
#     Except replicaKeysWithExpire: expire.c's tracker global, which no header declares
#     and no other object reads, is private to the library;
#   - the Rust binary defines no other dynamic symbol than the library's own C names
#     (the global symbols of the archive it linked, RUST_CORE_LINK_LIB in the tree's
#     src/.make-settings): no Rust standard-library or compiler-builtins symbol;
#   - every function the C binary imports from a shared library (libc, libm, ...) the
#     Rust binary imports too: none was replaced by a copy inside the library (e.g.
#     compiler-builtins' weak sqrt or round taking libm's place).
# And for valkey-server, the library's FLUSHALL ASYNC path: no call through the GOT, and
# its functions (the flush path, the accessors it calls, submit) within 6 KB of code (see
# the comment at that check); its program headers and its sections of code as the C
# build's; and its hot functions linked in the order the patched Makefile asked for.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
rs=${1:-$root/build/valkey}
c=${2:-}
if [ -z "$c" ]; then
    c=$root/build/valkey-c
    [ -x "$c/src/valkey-server" ] || c=$root/build/ctest/valkey-9.1.2
fi
# A tree's binary: src/NAME in a make tree, bin/NAME in a CMake build directory.
tree_bin() { if [ -f "$1/CMakeCache.txt" ]; then echo "$1/bin/$2"; else echo "$1/src/$2"; fi; }
# What the Rust tree's link used: recorded in src/.make-settings by the patched Makefile, in
# CMakeCache.txt by the patched cmake/Modules/RustCore.cmake. The dependency archives
# (jemalloc, hdr_histogram, Lua, ...) are under deps/ in a make tree; in a CMake one, those
# valkey-server's link.txt names (lib/, jemalloc-build/).
if [ -f "$rs/CMakeCache.txt" ]; then
    settings=$rs/CMakeCache.txt
    cache_var() { sed -n "s/^$1:[A-Z]*=//p" "$settings"; }
    linklib=$(cache_var RUST_CORE_LINK_LIB_USED)
    hot=$(cache_var RUST_CORE_HOT_LDFLAGS_USED)
    deps_dir=$rs
    # The archives valkey-server's own link names: the build directory also holds the gtest
    # binary's (a Valkey archive, gtest, gmock), whose symbols are not dependencies.
    dep_archives() {
        local lib
        lib=$(realpath "$linklib")
        tr ' ' '\n' < "$rs/src/CMakeFiles/valkey-server.dir/link.txt" | grep '\.a$' |
            while read -r a; do case $a in /*) ;; *) a=$rs/src/$a ;; esac
                realpath "$a"; done | grep -vxF "$lib" | sort -u
    }
else
    settings=$rs/src/.make-settings
    linklib=$(sed -n 's/^RUST_CORE_LINK_LIB=//p' "$settings" 2>/dev/null)
    hot=$(sed -n 's/^RUST_CORE_HOT_LDFLAGS=//p' "$settings" 2>/dev/null)
    deps_dir=$rs/deps
    dep_archives() { find "$deps_dir/" -name '*.a'; }
fi
[ -f "$linklib" ] || { echo "link_check: no RUST_CORE_LINK_LIB archive named in $settings" >&2; exit 2; }
libnames=$(readelf -sW "$linklib" |
    awk '$5 == "GLOBAL" && $6 == "DEFAULT" && $7 != "UND" && NF >= 8 { print $8 }' | sort -u)
# shellcheck source=../lib/check.sh
. "$root/tests/lib/check.sh"
# "name" of every defined (or, with und, every undefined) dynamic symbol, version dropped.
dynsyms() { # binary def|und
    readelf --dyn-syms -W "$1" | awk -v want="$2" 'NF >= 8 && $1 ~ /^[0-9]+:$/ {
        name = $8; sub(/@.*/, "", name)
        if (name == "") next
        if ((want == "und") == ($7 == "UND")) print name
    }' | sort -u
}
# (grep -c reads all of readelf's output: grep -q would end the pipe early, and pipefail
# would then report readelf's SIGPIPE.)
has_library() { [ "$(readelf -sW "$1" | grep -c valkey_rs_core)" -gt 0 ]; }
for bin in valkey-server valkey-cli valkey-benchmark; do
    r=$(tree_bin "$rs" $bin)
    b=$(tree_bin "$c" $bin)
    for f in "$r" "$b"; do
        [ -x "$f" ] || { echo "link_check: $f missing (build both trees first)" >&2; exit 2; }
    done
    # The library's code is in the Rust binary (its functions' names, local or not, in
    # the symbol table) and not in the C one.
    if ! has_library "$r" || has_library "$b"; then
        echo "FAIL: $bin: $r must be a USE_RUST_CORE=yes build and $b not"
        fail=$((fail + 1))
        continue
    fi
    rdef=$(dynsyms "$r" def)
    cdef=$(dynsyms "$b" def)
    check "$bin: defines every dynamic symbol the C build defines ($(echo "$cdef" | grep -c .))" \
        "$(comm -23 <(echo "$cdef") <(echo "$rdef") | grep -vx replicaKeysWithExpire)"
    check "$bin: defines no other dynamic symbol than the library's C names ($(echo "$libnames" | grep -c .))" \
        "$(comm -13 <(echo "$cdef") <(echo "$rdef") | comm -23 - <(echo "$libnames"))"
    cund=$(dynsyms "$b" und)
    rund=$(dynsyms "$r" und)
    check "$bin: imports every shared-library function the C build imports ($(echo "$cund" | grep -c .))" \
        "$(comm -23 <(echo "$cund") <(echo "$rund"))"
done
# The library's FLUSHALL ASYNC path as bench/README.md "The flush path's code on fewer
# pages" measured it: its calls into Valkey's C are direct (.cargo/config.toml's
# relro-level=partial; RUSTFLAGS in the environment replaces it), and its functions and
# the accessors they call sit together (the .text.hot.vkrs_flush section), not spread
# over the library's 3 MB of code.
flush_path="emptyDbAsync flushReplicaKeysWithExpireList freeReplicaKeysWithExpireAsync"
accessors="vkrs_cluster_enabled vkrs_db_keys_slot vkrs_db_expires_slot vkrs_db_volatile_items_slot
    vkrs_kvstore_create_keys vkrs_kvstore_create_expires vkrs_kvstore_size vkrs_dict_size"
server=$(tree_bin "$rs" valkey-server)
# valkey-server's symbols, read once for the checks below: nm -S prints ADDR SIZE TYPE NAME,
# or ADDR TYPE NAME for a symbol without a size.
syms=$(nm -S "$server")
got_calls=""
for fn in $flush_path; do
    asm=$(objdump -d --no-show-raw-insn --disassemble="$fn" "$server")
    if [ "$(echo "$asm" | grep -c "<$fn>:")" -ne 1 ]; then
        got_calls="$got_calls $fn:not-found"
        continue
    fi
    n=$(echo "$asm" | grep -cE 'call +\*0x[0-9a-f]+\(%rip\)')
    [ "$n" -eq 0 ] || got_calls="$got_calls $fn:$n"
done
check "valkey-server: the library's flush path calls Valkey's C directly, not through the GOT" "$got_calls"
# The Rust submit is local and mangled: c++filt names it PATH::hHASH.
found=0 lo=0 hi=0
while read -r addr size; do
    a=$((16#$addr)) e=$((16#$addr + 16#$size))
    { [ "$found" -eq 0 ] || [ "$a" -lt "$lo" ]; } && lo=$a
    [ "$e" -gt "$hi" ] && hi=$e
    found=$((found + 1))
done < <(c++filt <<< "$syms" | awk -v names="$flush_path $accessors" '
    BEGIN { n = split(names, a, /[ \n]+/); for (i = 1; i <= n; i++) if (a[i] != "") want[a[i]] = 1 }
    NF >= 4 { f = $4; sub(/::h[0-9a-f]+$/, "", f) }
    NF >= 4 && (($4 in want) || f == "valkey_rs_core::ffi::lazyfree::submit") { print $1, $2 }')
bytes=$((hi - lo))
want=$(($(echo $flush_path $accessors | wc -w) + 1)) # + submit
bad=""
[ "$found" -eq "$want" ] && [ "$bytes" -le 6144 ] || bad="$found of $want functions found, spanning $bytes bytes"
check "valkey-server: the flush path's $want functions lie within 6 KB (${bytes} bytes)" "$bad"
# The same program headers in the same order, by type and flags, as the C build's: one
# executable LOAD segment apart from the read-only ones (-z separate-code), a read-only RELRO,
# the GNU property note. valkey-server's link adds a linker script (below); it must change
# nothing of this.
phdrs() { readelf -lW "$1" | awk '/^  [A-Z_]+ +0x/ { f = ""; for (i = 7; i < NF; i++) f = f $i; printf "%s %s; ", $1, f }'; }
rph=$(phdrs "$server")
cph=$(phdrs "$(tree_bin "$c" valkey-server)")
bad=""
[ -n "$cph" ] && [ "$rph" = "$cph" ] || bad="Rust: $rph C: $cph"
check "valkey-server: the C build's program headers ($(echo "$cph" | tr ';' '\n' | grep -c LOAD) LOAD segments, types and flags in order)" "$bad"
# The same sections of code as the C build's, by name and in order: one .text. Code in an
# output section of another name (the linker script of stops 43-48 added .text.hot_order) is
# code whose file and line Valgrind drops and that tools reading .text do not see.
# section_table BINARY: readelf's section headers without the [N] column: NAME TYPE ADDR OFF SIZE ...
section_table() { readelf -SW "$1" | sed 's/^ *\[ *[0-9]*\]//'; }
xsecs() { awk '$2 == "PROGBITS" && $(NF - 3) ~ /X/ { printf "%s ", $1 }'; }
server_sections=$(section_table "$server")
rx=$(xsecs <<< "$server_sections")
cx=$(section_table "$(tree_bin "$c" valkey-server)" | xsecs)
bad=""
[ -n "$cx" ] && [ "$rx" = "$cx" ] || bad="Rust: $rx C: $cx"
check "valkey-server: the C build's sections of code ($cx)" "$bad"
# valkey-server's hot functions in the order valkey-patch/hot-text.ld gives, when the tree
# linked with it (the settings record the flags; empty where the linker cannot):
# the first 40 of its functions the binary has, at rising addresses within the span of their
# sizes. A draw of -flto's placement would not put 40 functions in one given order.
if [ -n "$hot" ]; then
    order=$(echo "$hot" | sed -n 's/.*-Wl,-T,\([^ ]*\).*/\1/p')
    # Functions of the prebuilt dependency archives (jemalloc, hdr_histogram, ...) are not
    # compiled with -ffunction-sections: the linker cannot move them one by one.
    # One nm of the archives for both checks that read them: ARCHIVE:MEMBER:ADDR TYPE NAME.
    depsyms=$(dep_archives | xargs -r nm -A --defined-only 2>/dev/null)
    deps=$(echo "$depsyms" | awk 'NF >= 3 { print $3 }' | sort -u)
    # nm's hex addresses as numbers (Debian's mawk has no strtonum).
    awk_hex='function hex(h,   i, v) { v = 0; h = tolower(h); for (i = 1; i <= length(h); i++) v = v * 16 + index("0123456789abcdef", substr(h, i, 1)) - 1; return v }'
    bad=$(awk -v n=40 -v deps="$deps" "$awk_hex"'
        BEGIN { m = split(deps, d, "\n"); for (i = 1; i <= m; i++) dep[d[i]] = 1 }
        NR == FNR { if ($0 ~ /^ *\*\(\.text\.[^*]*\)$/) { f = $0; sub(/^ *\*\(\.text\./, "", f); sub(/\)$/, "", f)
                    if (!(f in rank) && !(f in dep)) { rank[f] = ++k; name[k] = f } } next }
        NF >= 4 && ($4 in rank) && ($3 == "t" || $3 == "T") { addr[$4] = hex($1); size[$4] = hex($2) }
        END {
            for (i = 1; i <= k && got < n; i++) if (name[i] in addr) { got++; f = name[i]
                if (got > 1 && addr[f] <= prev) { printf "%s (0x%x) not after %s (0x%x); ", f, addr[f], pf, prev }
                if (got == 1) lo = addr[f]; span += size[f]; prev = addr[f]; pf = f; hi = addr[f] + size[f] }
            if (got < n) printf "only %d of the order'"'"'s functions found; ", got
            else if (hi - lo > 2 * span) printf "the first %d span %d bytes for %d bytes of code; ", n, hi - lo, span
        }' "$order" - <<< "$syms") || bad="could not read $order or the symbols of $server"
    check "valkey-server: its hot functions are linked in the order of $(basename "$order")" "$bad"
    # The functions the script puts at an offset from an alignment ('. = ALIGN(A); . += O;'
    # before their line) stand there: A 16-byte shift of one of them moved pattern PUBLISH by 20 %.
    bad=$(awk "$awk_hex"'
        NR == FNR { if (match($0, /ALIGN\([0-9]+\); \. \+= [0-9]+;/)) { split($0, w, /[^0-9]+/); a = w[2]; o = w[3]; next }
                    if (a && $0 ~ /^ *\*\(\.text\.[^*]*\)$/) { f = $0; sub(/^ *\*\(\.text\./, "", f); sub(/\)$/, "", f); al[f] = a; off[f] = o; k++ }
                    a = 0; next }
        ($NF in al) && ($(NF - 1) == "t" || $(NF - 1) == "T") { f = $NF; seen++
            if (hex($1) % al[f] != off[f]) printf "%s at 0x%s, not %d past a %d-byte boundary; ", f, $1, off[f], al[f] }
        END { if (!k) printf "no aligned function in the script; "; else if (seen != k) printf "%d of %d aligned functions found; ", seen, k }' "$order" - <<< "$syms") ||
        bad="could not read $order or the symbols of $server"
    check "valkey-server: the functions $(basename "$order") aligns stand at their offsets" "$bad"
    # The dependency objects the script places whole ('*ARCHIVE:MEMBER(.text)') lie in the
    # ordered block: their global functions before every function of .text whose name none of
    # the script's patterns matches. Left to follow the hot block, jemalloc.o's free path cost
    # the lazyfree worker 1.5x.
    bad=""
    members=$(sed -n 's/^ *\*\([^*:( ]*\.a\):\([^( ]*\)(\.text)$/\1 \2/p' "$order")
    [ -n "$members" ] || bad="no '*ARCHIVE:MEMBER(.text)' line in $order; "
    # The script's section patterns as regular expressions over function names.
    patterns=$(sed -n 's/^ *\*(\.text\.\([^ ()]*\))$/\1/p' "$order" |
        sed -e 's/[.[\^$+?(){}|]/\\&/g' -e 's/\*/.*/g' | sed 's/.*/^&$/')
    placed="" placed_local="" members_found=""
    while read -r archive member; do
        [ -n "$member" ] || continue
        # A build without that archive (MALLOC=libc: no jemalloc) has nothing for the line to place.
        echo "$depsyms" | awk -F: -v a="$archive" '{ n = split($1, p, "/") } p[n] == a { found = 1 } END { exit !found }' ||
            { echo "NOTE: no $archive under $deps_dir: $member not in this build"; continue; }
        # The member's functions, TYPE NAME: global (T) ones to locate, static (t) ones not to
        # be taken for what follows the block.
        mfns=$(echo "$depsyms" | awk -F: -v a="$archive" -v m="$member" '{ n = split($1, p, "/") } p[n] == a && $2 == m { split($3, w, " "); if (w[2] == "T" || w[2] == "t") print w[2], w[3] }')
        fns=$(awk '$1 == "T" { print $2 }' <<< "$mfns")
        [ -n "$fns" ] || { bad+="no global function of $member in $archive; "; continue; }
        placed+="$fns"$'\n'
        placed_local+=$(awk '$1 == "t" { print $2 }' <<< "$mfns")$'\n'
        members_found+="$member "
    done <<< "$members"
    if [ -n "$placed" ]; then
        bad+=$(awk -v placed="$placed" -v locals="$placed_local" -v pats="$patterns" "$awk_hex"'
            BEGIN { n = split(placed, w, "\n"); for (i = 1; i <= n; i++) if (w[i] != "") { want[w[i]] = 1; k++ }
                    n = split(locals, w, "\n"); for (i = 1; i <= n; i++) if (w[i] != "") loc[w[i]] = 1
                    np = split(pats, p, "\n") }
            NR == FNR { if ($1 == ".text") { lo = hex($3); hi = lo + hex($5) } next }
            ($(NF - 1) == "T" || $(NF - 1) == "t") { a = hex($1); if (a < lo || a >= hi) next; f = $NF
                if (f in want) { seen++; if (a > last) { last = a; lastf = f } next }
                # By rising address (sorted below): the first function no pattern matches is
                # the end of the block, and after it only the placed ones need a look.
                if ((f in loc) || first) next
                for (i = 1; i <= np; i++) if (p[i] != "" && f ~ p[i]) next
                first = a; firstf = f }
            END { if (!lo) printf "no .text section; "
                  else if (seen < k) printf "%d of %d functions found in .text; ", seen, k
                  else if (first && last > first) printf "%s at 0x%x, after %s (0x%x), which no line places; ", lastf, last, firstf, first }' \
            <(echo "$server_sections") <(sort <<< "$syms")) ||
            bad+="could not read the sections or symbols of $server; "
    fi
    check "valkey-server: the dependency objects $(basename "$order") places whole (${members_found:-none}) lie in its ordered block" "$bad"
else
    echo "NOTE: valkey-server was linked without the hot-function order (no hot-order flags in $settings)"
fi
echo "link_check: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
