#!/bin/sh
# Static analysis of the library and its users: gcc -fanalyzer, clang --analyze, cppcheck
# (warning, style, performance, portability) and clang-tidy (.clang-tidy). Each tool is one
# check; any finding fails it. Prints "lint: N passed, M failed".
CC=${CC:-cc}
CLANG=${CLANG:-clang}
pass=0
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

check() { # name, command...
    name=$1
    shift
    if out=$("$@" 2>&1) && ! printf '%s\n' "$out" | grep -Eq ': (warning|error)'; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1))
        echo "FAIL lint $name: $*"
        printf '%s\n' "$out" | head -30
    fi
}

SRC="tests/vb_impl.c examples/sim.c examples/minivmm/minivmm.c examples/vhost-user-balloon.c"
check gcc-fanalyzer sh -c "for f in $SRC; do $CC -std=gnu99 -fanalyzer -O1 -I. -c \$f -o $tmp/a.o || exit 1; done"
check clang-analyze sh -c "for f in $SRC; do $CLANG --analyze -std=gnu99 -I. \$f -o $tmp/a.plist || exit 1; done"
check cppcheck cppcheck --enable=warning,style,performance,portability --std=c99 --inline-suppr \
    --error-exitcode=1 --quiet -I. -UVB_CONFIG_FILE -D__GNUC__=12 -DVBALLOON_IMPLEMENTATION \
    tests/vb_impl.c examples/sim.c examples/minivmm/minivmm.c examples/vhost-user-balloon.c \
    fuzz/fuzz_qmp.c fuzz/fuzz_stats.c fuzz/fuzz_device.c
check cppcheck-freestanding cppcheck --enable=warning,style,performance,portability --std=c99 \
    --inline-suppr --error-exitcode=1 --quiet -I. -UVB_CONFIG_FILE -D__GNUC__=12 -DVBALLOON_IMPLEMENTATION \
    -DVB_NO_STDLIB tests/vb_impl.c
check clang-tidy clang-tidy --quiet tests/vb_impl.c -- -std=c99 -I.
echo "lint: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
