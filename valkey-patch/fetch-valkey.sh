#!/usr/bin/env bash
# Fetch pristine Valkey 9.1.2 source as shared/design.md prescribes:
# Debian source package valkey=9.1.2-1, upstream orig tarball only, sha256-checked,
# cached outside the checkout. Prints the path of the unpacked pristine tree.
#
#   valkey-patch/fetch-valkey.sh            -> prints path of pristine tree
#   VALKEY_SRC=/path/to/valkey-9.1.2 ...    -> validates and prints that path instead
set -euo pipefail

VERSION=9.1.2
DEB_VERSION=9.1.2-1
SHA256=8e8557da7426a51b4e0fb514a65ef6241dc7c85cb408243af389070abf379cec
CACHE=${VALKEY_RS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/valkey-rs-core}
TARBALL=valkey_${VERSION}.orig.tar.gz

log() { echo "fetch-valkey: $*" >&2; }
die() { echo "fetch-valkey: error: $*" >&2; exit 1; }

check_tree() {
    local t=$1
    [ -f "$t/src/version.h" ] || die "'$t' is not a Valkey source tree (no src/version.h)"
    local v
    v=$(sed -n 's/^#define VALKEY_VERSION "\(.*\)"/\1/p' "$t/src/version.h")
    case "$v" in
        9.1.*) ;;
        *) die "'$t' is Valkey '$v'; valkey-rs-core supports Valkey 9.1.x only (pinned: $VERSION)" ;;
    esac
}

if [ -n "${VALKEY_SRC:-}" ]; then
    [ -d "$VALKEY_SRC" ] || die "VALKEY_SRC='$VALKEY_SRC' is not a directory"
    check_tree "$VALKEY_SRC"
    (cd "$VALKEY_SRC" && pwd)
    exit 0
fi

mkdir -p "$CACHE"
tree="$CACHE/valkey-$VERSION"
if [ -f "$tree/.pristine-ok" ]; then
    echo "$tree"
    exit 0
fi

if ! { [ -f "$CACHE/$TARBALL" ] && echo "$SHA256  $CACHE/$TARBALL" | sha256sum -c --status; }; then
    command -v apt-get >/dev/null || die "apt-get not found; set VALKEY_SRC=/path/to/valkey-$VERSION instead"
    apt_dir="$CACHE/apt"
    mkdir -p "$apt_dir/lists/partial" "$apt_dir/dl"
    cat > "$apt_dir/valkey-src.sources" <<SRC
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: forky sid
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    opts=(-o "Dir::State::Lists=$apt_dir/lists"
          -o "Dir::Etc::SourceList=$apt_dir/valkey-src.sources"
          -o "Dir::Etc::SourceParts=/dev/null"
          -o "APT::Sandbox::User=root")
    log "updating private deb-src lists (forky, sid)"
    apt-get "${opts[@]}" update -qq >&2 || die "apt-get update of the private deb-src list failed"
    log "downloading source package valkey=$DEB_VERSION"
    if ! (cd "$apt_dir/dl" && apt-get "${opts[@]}" source --download-only "valkey=$DEB_VERSION" >&2); then
        avail=$(apt-cache "${opts[@]}" showsrc valkey 2>/dev/null | sed -n 's/^Version: //p' | sort -u | tr '\n' ' ')
        die "source package valkey=$DEB_VERSION is not available any more (available: ${avail:-none}); set VALKEY_SRC=/path/to/valkey-$VERSION"
    fi
    [ -f "$apt_dir/dl/$TARBALL" ] || die "download did not produce $TARBALL"
    mv "$apt_dir/dl/$TARBALL" "$CACHE/$TARBALL"
    rm -rf "$apt_dir/dl"
    echo "$SHA256  $CACHE/$TARBALL" | sha256sum -c --status || die "sha256 mismatch for $TARBALL (expected $SHA256)"
fi

log "unpacking $TARBALL"
rm -rf "$tree" "$tree.tmp"
mkdir -p "$tree.tmp"
tar -xzf "$CACHE/$TARBALL" -C "$tree.tmp" --strip-components=1
check_tree "$tree.tmp"
touch "$tree.tmp/.pristine-ok"
mv "$tree.tmp" "$tree"
echo "$tree"
