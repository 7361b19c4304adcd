#!/bin/sh
# Runs every test of the project and sums the runners' closing lines
# ("[name:] N passed, M failed[, K skipped]") into one final line of the same form.
# Called by `make test` once the binaries are built.
CC=${CC:-cc}
CLANG=${CLANG:-clang}
CXX=${CXX:-g++}
export CC CLANG CXX
log=$(mktemp)
slog=$(mktemp)
skips=$(mktemp)
trap 'rm -f "$log" "$slog" "$skips"' EXIT
status=0
# Only closing lines count (greatest's per-suite lines "N tests - ..." do not match).
closing='^([A-Za-z0-9_-]+: )?[0-9]+ passed, [0-9]+ failed'

step() { # name, command...
    name=$1
    shift
    echo "== $name: $*"
    if ! "$@" 2>&1 | tee "$slog"; then status=1; fi
    cat "$slog" >>"$log"
    # a step must report a count; a crash before its closing line is a failure
    tail -n 1 "$slog" | grep -Eq "$closing" || {
        echo "$name: 0 passed, 1 failed" | tee -a "$log"
        status=1
    }
    # a skip says why on a line "[name: ]skip[ped]: REASON"; the summary lists them
    k=$(tail -n 1 "$log" | sed -E 's/^[A-Za-z0-9_-]+: //' | awk '{print $5 + 0}')
    if [ "$k" -gt 0 ]; then
        why=$(grep -E '^([A-Za-z0-9_-]+: )?skip(ped)?: ' "$slog" | sed -E 's/^([A-Za-z0-9_-]+: )?skip(ped)?: //' |
            awk 'NR > 1 {printf "; "} {printf "%s", $0}')
        echo "skipped: $name (${why:-$k skipped})" >>"$skips"
    fi
}

# skip_step NAME REASON: a step that cannot run here counts one skipped test
skip_step() {
    echo "== $1: skipped"
    printf '%s: skipped: %s\n%s: 0 passed, 0 failed, 1 skipped\n' "$1" "$2" "$1" | tee -a "$log"
    echo "skipped: $1 ($2)" >>"$skips"
}

# missing TOOL...: the first tool not installed
missing() {
    for t in "$@"; do command -v "$t" >/dev/null 2>&1 || { echo "$t"; return 0; }; done
    return 1
}
# the Debian package of a missing tool, for the command to run
pkg_of() {
    case $1 in
    clang) echo "clang libclang-rt-14-dev" ;;
    qemu-system-x86_64) echo "--no-install-recommends qemu-system-x86" ;;
    promtool) echo "--no-install-recommends prometheus python3-prometheus-client" ;;
    *) echo "$1" ;;
    esac
}
need() { # name, tools..., --, command...: runs the step, or skips it if a tool is missing
    n=$1
    shift
    tools=
    while [ "$1" != -- ]; do tools="$tools $1"; shift; done
    shift
    # shellcheck disable=SC2086 # a list of words
    if t=$(missing $tools); then
        skip_step "$n" "$t not installed (sudo apt-get install $(pkg_of "$t"), or run make test as root on Debian)"
    else
        step "$n" "$@"
    fi
}

# The pipeline's status is tee's; take the runner's own from its closing line instead.
step unit ./build/test-runner
step unit-asan-ubsan ./build/test-runner-san
need compile "$CLANG" "$CXX" clang++ -- sh tests/compile_checks.sh
step greatest ./build/test-greatest
step greatest-selftest sh tests/greatest_selftest.sh "$CC"
step sim sh tests/sim_test.sh build/vballoon-sim
# the simulator's QMP socket against a real QEMU 7.2, byte for byte (docs/qmp-diff.md)
need qmp-diff qemu-system-x86_64 -- sh tests/qmp_diff.sh --streams "${QMP_DIFF_STREAMS:-100}" --show 10
step minivmm sh tests/minivmm_test.sh build/vballoon-minivmm build/minivmm-guest.bin build/minivmm-qmp build/qmp-stress
step vhost-user ./build/vhost-user-test build/vballoon-vhost-user
need metrics promtool -- sh tests/metrics_test.sh build/metrics-states
# the examples' --metrics endpoint over HTTP, scraped by a real Prometheus (docs/metrics-endpoint.md)
need metrics-http promtool prometheus curl -- sh tests/metrics_http_test.sh build/vballoon-sim
step uml bash tests/uml_test.sh build/vballoon-vhost-user
need lint "$CLANG" clang-tidy cppcheck pmccabe perl -- sh tests/lint.sh
if ls build/fuzz_* >/dev/null 2>&1; then
    step fuzz-smoke sh fuzz/smoke.sh "${FUZZ_RUNS:-20000}"
else
    skip_step fuzz-smoke "no fuzzers built: $CLANG with libFuzzer not installed (sudo apt-get install clang libclang-rt-14-dev)"
fi
valgrind_check() {
    if valgrind -q --error-exitcode=1 --leak-check=full ./build/test-runner >/dev/null &&
        valgrind -q --error-exitcode=1 --leak-check=full ./build/test-greatest >/dev/null; then
        echo "valgrind: 1 passed, 0 failed"
    else
        echo "valgrind: 0 passed, 1 failed"
    fi
}
need valgrind valgrind -- valgrind_check

totals=$(grep -E "$closing" "$log" | sed -E 's/^[A-Za-z0-9_-]+: //' |
    awk '{p += $1; f += $3; if ($5 != "") s += $5} END {print p + 0, f + 0, s + 0}')
passed=${totals%% *}
failed=$(echo "$totals" | cut -d' ' -f2)
skipped=${totals##* }
[ "$failed" -eq 0 ] || status=1
echo
cat "$skips"
echo "$passed passed, $failed failed, $skipped skipped"
exit $status
