#!/usr/bin/env bash
# Run Valkey's full upstream Tcl suite in a Valkey tree, with this project's exclusions,
# which apply only to what also fails on the plain C build on 2-core machines when run
# alone (evidence in README.md):
#   - tests named in tests/tcl/skiplist-c-fails.txt (runtest --skipfile);
#   - units in TCL_NO_LATENCY_UNITS run in a separate runtest with --no-latency, which
#     drops only their latency assertions (everything else in them still runs).
#     --no-latency is not given to the main run, where the latency checks pass on C.
# The --no-latency run goes in the background beside the main run (as the unit would in
# one run) on its own port range; its log is printed when it ends.
#
#   tests/tcl/run-suite.sh TREE [extra runtest args...]
#   env: TCL_CLIENTS (default 4), TCL_NO_LATENCY_UNITS (default unit/memefficiency)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tree=$(cd "${1:?usage: run-suite.sh TREE [runtest args...]}" && pwd)
shift
clients=${TCL_CLIENTS:-4}
nolat_units=${TCL_NO_LATENCY_UNITS-unit/memefficiency}
skipfile="$here/skiplist-c-fails.txt"
cd "$tree"

main_args=(--clients "$clients" --skipfile "$skipfile")
nolat_args=(--clients 1 --skipfile "$skipfile" --no-latency)
for u in $nolat_units; do main_args+=(--skipunit "$u"); nolat_args+=(--single "$u"); done

# Two runtests share tests/tmp: only the first cleans it at start, neither at its end
# (each would delete the other's server directories); we clean up after both.
echo "run-suite: ./runtest ${main_args[*]} $*"
./runtest "${main_args[@]}" --dont-clean "$@" &
main_pid=$!

nolat_pid=
nolat_log="$tree/tests/tmp-nolatency.log"
if [ -n "$nolat_units" ]; then
    sleep 5
    echo "run-suite: $nolat_units with --no-latency in the background (log: $nolat_log)"
    # Its own port range (and cluster bus range, +10000), clear of the main run's
    # (default base 21111, 8000 ports).
    ./runtest "${nolat_args[@]}" --dont-pre-clean --dont-clean "$@" --baseport 45111 --portcount 4000 \
        > "$nolat_log" 2>&1 &
    nolat_pid=$!
fi

wait "$main_pid"
main_rc=$?

nolat_rc=0
if [ -n "$nolat_pid" ]; then
    echo "run-suite: waiting for the --no-latency run of $nolat_units"
    wait "$nolat_pid"
    nolat_rc=$?
    echo "======== --no-latency run of $nolat_units (exit $nolat_rc) ========"
    cat "$nolat_log"
fi
echo "run-suite: main run exit $main_rc, --no-latency run exit $nolat_rc"
if [ "$main_rc" -eq 0 ] && [ "$nolat_rc" -eq 0 ]; then
    rm -rf tests/tmp/valkey.conf.* tests/tmp/nodes.conf.* tests/tmp/server*.* tests/tmp/*.acl.*
fi
[ "$main_rc" -eq 0 ] && [ "$nolat_rc" -eq 0 ]
