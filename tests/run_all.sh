#!/bin/sh
# Runs every test of the project and sums the runners' closing lines
# ("[name:] N passed, M failed[, K skipped]") into one final line of the same form.
# Called by `make test` once the binaries are built.
CC=${CC:-cc}
CLANG=${CLANG:-clang}
CXX=${CXX:-g++}
export CC CLANG CXX
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0

step() { # name, command...
    name=$1
    shift
    echo "== $name: $*"
    if ! "$@" 2>&1 | tee -a "$log"; then status=1; fi
    # a step must report a count; a crash before its closing line is a failure
    tail -n 1 "$log" | grep -Eq '^([A-Za-z0-9_-]+: )?[0-9]+ passed, [0-9]+ failed' || {
        echo "$name: 0 passed, 1 failed" | tee -a "$log"
        status=1
    }
}

# The pipeline's status is tee's; take the runner's own from its closing line instead.
step unit ./build/test-runner
step unit-asan-ubsan ./build/test-runner-san
step compile sh tests/compile_checks.sh
step greatest ./build/test-greatest
step greatest-selftest sh tests/greatest_selftest.sh "$CC"
step sim sh tests/sim_test.sh build/vballoon-sim
step minimal sh tests/minimal_test.sh build/vballoon-minimal
step minivmm sh tests/minivmm_test.sh build/vballoon-minivmm build/minivmm-guest.bin build/minivmm-qmp
step vhost-user ./build/vhost-user-test build/vballoon-vhost-user
step uml bash tests/uml_test.sh build/vballoon-vhost-user
step lint sh tests/lint.sh
step fuzz-smoke sh fuzz/smoke.sh "${FUZZ_RUNS:-20000}"
valgrind_check() {
    if valgrind -q --error-exitcode=1 --leak-check=full ./build/test-runner >/dev/null &&
        valgrind -q --error-exitcode=1 --leak-check=full ./build/test-greatest >/dev/null; then
        echo "valgrind: 1 passed, 0 failed"
    else
        echo "valgrind: 0 passed, 1 failed"
    fi
}
step valgrind valgrind_check

# Only closing lines count (greatest's per-suite lines "N tests - ..." do not match).
closing='^([A-Za-z0-9_-]+: )?[0-9]+ passed, [0-9]+ failed'
totals=$(grep -E "$closing" "$log" | sed -E 's/^[A-Za-z0-9_-]+: //' |
    awk '{p += $1; f += $3; if ($5 != "") s += $5} END {print p + 0, f + 0, s + 0}')
passed=${totals%% *}
failed=$(echo "$totals" | cut -d' ' -f2)
skipped=${totals##* }
[ "$failed" -eq 0 ] || status=1
echo
echo "$passed passed, $failed failed, $skipped skipped"
exit $status
