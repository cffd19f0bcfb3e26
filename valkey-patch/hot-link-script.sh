#!/bin/sh
# Write the linker script valkey-server's link uses for the hot-function order: the linker's
# own default script for this compiler and these flags (what `-Wl,--verbose` prints), with
# ORDER (valkey-patch/hot-text.ld: input-section lines) put first inside its .text statement.
#
#   valkey-patch/hot-link-script.sh ORDER OUT CC [LINK FLAGS...]
#
# Why not a script that INSERTs an output section of its own ahead of .text: code outside the
# section named .text is code whose file and line Valgrind drops (memcheck reports its frames
# as "fn (in valkey-server)", callgrind puts it in no object) and in which every tool that
# reads one .text sees nothing. With the order inside .text the binary has the C build's
# sections, and its code lies where the INSERT script put it (ORDER ends by aligning to 64,
# as the next output section started).
#
# OUT is rewritten only when its content changes (make relinks on its date). Exits non-zero,
# with the reason on stderr and OUT left alone, when the linker prints no default script with
# one .text statement (not GNU ld) or cannot link with the result: the caller then links
# without the order.
set -eu
order=${1:?usage: hot-link-script.sh ORDER OUT CC [LINK FLAGS...]}
out=${2:?out}
shift 2
[ "$#" -ge 1 ] || { echo "hot-link-script.sh: no compiler given" >&2; exit 2; }
[ -r "$order" ] || { echo "hot-link-script.sh: cannot read $order" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf 'int main(void) { return 0; }\n' >"$tmp/t.c"
"$@" -Wl,--verbose "$tmp/t.c" -o "$tmp/t" >"$tmp/verbose" 2>&1 ||
    { echo "hot-link-script.sh: $* cannot link a test program" >&2; exit 1; }
# GNU ld prints its script between two lines of '=' after "using internal linker script:".
awk '/^=+$/ { n++; next } n == 1' "$tmp/verbose" >"$tmp/default.ld"
texts=$(grep -cE '^ *\.text +:' "$tmp/default.ld" || true)
[ "$texts" = 1 ] ||
    { echo "hot-link-script.sh: the linker printed no default script with one .text statement (GNU ld does)" >&2; exit 1; }
# ORDER's lines right after the brace that opens the .text statement.
awk -v order="$order" '
    { print }
    /^ *\.text +:/ { text = 1; next }
    text && /^ *\{ *$/ { while ((getline line < order) > 0) print line; text = 0; done = 1 }
    END { if (!done) exit 1 }' "$tmp/default.ld" >"$tmp/out.ld" ||
    { echo "hot-link-script.sh: no '{' line after .text in the default script" >&2; exit 1; }
"$@" -Wl,-T,"$tmp/out.ld" "$tmp/t.c" -o "$tmp/t" >"$tmp/link" 2>&1 ||
    { echo "hot-link-script.sh: $* cannot link with the script:" >&2; cat "$tmp/link" >&2; exit 1; }
cmp -s "$tmp/out.ld" "$out" 2>/dev/null || cp "$tmp/out.ld" "$out"
