#!/usr/bin/env bash
# Maintainers' tool: regenerate valkey-patch/valkey-9.1.2.patch from the editable
# scratch tree build/patch-src (a pristine 9.1.2 tree with our edits, never built).
#
#   valkey-patch/regen-patch.sh init   # (re)create build/patch-src = pristine + current patch
#   valkey-patch/regen-patch.sh        # write the patch from build/patch-src
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
patch_file="$here/valkey-9.1.2.patch"
scratch="$top/build/patch-src"
pristine=$("$here/fetch-valkey.sh")

if [ "${1:-}" = init ] || [ ! -d "$scratch" ]; then
    rm -rf "$scratch"
    mkdir -p "$top/build"
    cp -a "$pristine" "$scratch"
    rm -f "$scratch/.pristine-ok"
    if [ -s "$patch_file" ]; then
        (cd "$scratch" && patch -p1 -s --no-backup-if-mismatch < "$patch_file")
    fi
    echo "regen-patch: $scratch ready" >&2
    [ "${1:-}" = init ] && exit 0
fi

tmp=$(mktemp)
# Compare as a/ and b/ so the patch applies with patch -p1 from a tree's top.
rm -rf "$top/build/.patch-a" "$top/build/.patch-b"
ln -s "$pristine" "$top/build/.patch-a"
ln -s "$scratch" "$top/build/.patch-b"
(cd "$top/build" && LC_ALL=C diff -ruN -x .pristine-ok -x '*.orig' -x '*.rej' .patch-a/ .patch-b/ \
    | sed -e 's#^--- \.patch-a/#--- a/#' -e 's#^+++ \.patch-b/#+++ b/#' \
          -e 's#^diff .* \.patch-a/\([^ ]*\) \.patch-b/.*#diff -ruN a/\1 b/\1#' \
    | sed -E 's#^(--- a/[^\t]*|\+\+\+ b/[^\t]*)\t.*#\1#') > "$tmp" || true
rm -f "$top/build/.patch-a" "$top/build/.patch-b"
mv "$tmp" "$patch_file"
echo "regen-patch: wrote $(grep -c '^+++ ' "$patch_file") file(s) into valkey-patch/valkey-9.1.2.patch" >&2
