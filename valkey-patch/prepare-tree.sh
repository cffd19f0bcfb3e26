#!/usr/bin/env bash
# Create (or keep) a patched Valkey 9.1.2 tree at DEST: a fresh copy of the pristine
# tree (valkey-patch/fetch-valkey.sh, honours VALKEY_SRC) with valkey-9.1.2.patch applied.
# The tree is re-created whenever the patch or the pristine source changes; a stamp
# file in DEST records the patch's sha256 and the pristine tree it came from.
#
#   valkey-patch/prepare-tree.sh build/valkey
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dest=${1:?usage: prepare-tree.sh DEST}
patch_file="$here/valkey-9.1.2.patch"
stamp_name=.valkey-rs-core-patch
pristine=$("$here/fetch-valkey.sh")
want="$(sha256sum "$patch_file" | cut -d' ' -f1) $pristine"

# The trees live inside this project's git checkout: an empty repository of their own
# keeps Valkey's mkreleasehdr.sh from reading ours (our HEAD would otherwise become
# Valkey's GIT_SHA1 and rebuild release.o and relink at every commit).
own_git() { [ -e "$1/.git" ] || ! command -v git >/dev/null || git init -q "$1"; }

if [ -f "$dest/$stamp_name" ] && [ "$(cat "$dest/$stamp_name")" = "$want" ]; then
    own_git "$dest"
    exit 0
fi
echo "prepare-tree: creating $dest (pristine Valkey + valkey-patch/valkey-9.1.2.patch)" >&2
rm -rf "$dest.tmp"
mkdir -p "$(dirname "$dest")"
cp -a "$pristine" "$dest.tmp"
rm -f "$dest.tmp/.pristine-ok"
if [ -s "$patch_file" ]; then
    (cd "$dest.tmp" && patch -p1 -s --no-backup-if-mismatch --forward < "$patch_file") \
        || { echo "prepare-tree: error: valkey-9.1.2.patch does not apply to $pristine" >&2; exit 1; }
fi
echo "$want" > "$dest.tmp/$stamp_name"
own_git "$dest.tmp"
rm -rf "$dest"
mv "$dest.tmp" "$dest"
