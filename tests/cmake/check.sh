#!/usr/bin/env bash
# The CMake build with -DUSE_RUST_CORE=ON, as a packager who builds Valkey with CMake gets it:
# its valkey-server serves (the commands the library's dict and lazyfree paths carry, on a
# writable replica with keys that have a TTL), and its binaries pass the same link checks as
# the Makefile build's against a CMake build of the same Valkey without the library
# (tests/c/link_check.sh: dynamic symbols, imports, the flush path's calls and place, program
# headers, the hot-function order of valkey-patch/hot-text.ld); its gtest binary tests the
# library's dict, not dict.c (make test-cmake then runs it); and cmake --install installs
# what the C build's does.
#
#   tests/cmake/check.sh RUST_BUILD_DIR C_BUILD_DIR   (make test-cmake builds both)
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
rs=${1:?usage: check.sh RUST_BUILD_DIR C_BUILD_DIR}
c=${2:?usage: check.sh RUST_BUILD_DIR C_BUILD_DIR}
server=$rs/bin/valkey-server
cli=$rs/bin/valkey-cli
for f in "$server" "$cli" "$c/bin/valkey-server"; do
    [ -x "$f" ] || { echo "cmake check: $f missing (make valkey-cmake valkey-cmake-c)" >&2; exit 2; }
done
grep -q '^USE_RUST_CORE:BOOL=ON$' "$rs/CMakeCache.txt" ||
    { echo "cmake check: $rs was not configured with -DUSE_RUST_CORE=ON" >&2; exit 2; }
# shellcheck source=../lib/check.sh
. "$root/tests/lib/check.sh"

# A port nobody listens on, and a server that goes away with this script.
port=$((21000 + RANDOM % 20000))
while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
dir=$(mktemp -d)
"$server" --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" \
    --enable-debug-command local --logfile "$dir/log" &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$dir"' EXIT
q() { "$cli" -p "$port" "$@" 2>&1; }
mem_field() { q info memory | tr -d '\r' | sed -n "s/^$1://p"; }
for _ in $(seq 100); do [ "$(q ping)" = PONG ] && break; sleep 0.1; done
check "valkey-server answers PING" "$([ "$(q ping)" = PONG ] || { echo "no PONG; log:"; tail -5 "$dir/log"; })"
check "SET then GET" "$([ "$(q set k v)" = OK ] && [ "$(q get k)" = v ] || echo "GET k: $(q get k)")"

# A writable replica (a primary that is never reached) holding keys written with a TTL: the
# replica-expire tracker the library owns. FLUSHALL ASYNC frees them on the lazyfree worker.
q replicaof 127.0.0.1 1 >/dev/null
q config set replica-read-only no >/dev/null
bad=""
for i in $(seq 200); do echo "SET t:$i v EX 1000"; done | "$cli" -p "$port" >/dev/null
[ "$(q dbsize)" = 201 ] || bad="dbsize $(q dbsize) after 200 SET EX, not 201; "
q debug populate 100000 p >/dev/null
[ "$(q dbsize)" = 100201 ] || bad+="dbsize $(q dbsize) after DEBUG POPULATE, not 100201; "
[ "$(q flushall async)" = OK ] || bad+="FLUSHALL ASYNC did not reply OK; "
for _ in $(seq 100); do
    [ "$(mem_field lazyfree_pending_objects)" = 0 ] && break
    sleep 0.05
done
pending=$(mem_field lazyfree_pending_objects)
freed=$(mem_field lazyfreed_objects)
[ "$pending" = 0 ] || bad+="lazyfree_pending_objects $pending; "
[ "${freed:-0}" -ge 1 ] || bad+="lazyfreed_objects ${freed:-none}; "
[ "$(q dbsize)" = 0 ] || bad+="dbsize $(q dbsize) after FLUSHALL ASYNC; "
check "writable replica: 200 keys with a TTL and 100000 without, FLUSHALL ASYNC, drained by the worker" "$bad"
q replicaof no one >/dev/null
bad=""
[ "$(q set after v)" = OK ] && [ "$(q get after)" = v ] || bad="SET/GET after the flush: $(q get after)"
check "the server serves after the flush" "$bad"
q shutdown nosave >/dev/null
wait "$pid" 2>/dev/null
check "SHUTDOWN NOSAVE ends the server" "$(grep -q "ready to exit" "$dir/log" || echo "no 'ready to exit' in its log")"

# Valkey's gtest binary (-DBUILD_UNIT_GTESTS=ON; make test-cmake runs it next): its DictTest.*
# must run on the library's dict. It links with --allow-multiple-definition, so a dict.c that
# came back into its Valkey archive would win without a word: the archive must hold neither
# file the library replaces.
gtests=$rs/bin/valkey-unit-gtests
gtlib=$rs/lib/libvalkeylib-gtest.a
bad=""
if [ -x "$gtests" ] && members=$(ar t "$gtlib" 2>&1); then
    for m in dict.c.o lazyfree.c.o; do grep -qx "$m" <<<"$members" && bad+="$gtlib holds $m; "; done
    grep -qx server.c.o <<<"$members" || bad+="$gtlib holds no server.c.o: not the archive expected; "
    # Not nm | grep -q: grep's early exit would fail nm with SIGPIPE under pipefail.
    grep -qx 'vkrs_lazyfree_submit' <<<"$(nm --defined-only "$gtests" | awk '$2 == "T" { print $3 }')" ||
        bad+="$gtests does not define vkrs_lazyfree_submit; "
else
    bad="$gtests or $gtlib missing (configure with -DBUILD_UNIT_GTESTS=ON): ${members:-}"
fi
check "valkey-unit-gtests links the library, its Valkey archive without dict.c and lazyfree.c" "$bad"

# A packager's install (cmake --install into a DESTDIR): the same files as the CMake C
# build installs (no gtest, no library archive), and the valkey-server installed is the
# one built.
bad=""
for t in rs c; do
    DESTDIR=$dir/install-$t cmake --install "${!t}" --prefix /usr >"$dir/install-$t.log" 2>&1 ||
        bad+="cmake --install ${!t} failed: $(tail -3 "$dir/install-$t.log"); "
done
files() { (cd "$dir/install-$1" 2>/dev/null && find . | sort); }
files_rs=$(files rs)
files_c=$(files c)
[ -n "$files_rs" ] && [ "$files_rs" = "$files_c" ] ||
    bad+="installed files differ from the C build's: $(diff <(echo "$files_rs") <(echo "$files_c") | head -5 | tr '\n' ' '); "
cmp -s "$dir/install-rs/usr/bin/valkey-server" "$server" || bad+="the installed valkey-server is not the one built; "
check "cmake --install: the CMake C build's files, and the valkey-server built" "$bad"

echo "cmake check: $pass passed, $fail failed (server, gtest binary, install); the link checks follow"
bash "$root/tests/c/link_check.sh" "$rs" "$c" || fail=$((fail + 1))
[ "$fail" -eq 0 ]
