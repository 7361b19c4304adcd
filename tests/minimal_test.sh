#!/bin/sh
# tests/minimal_test.sh - examples/minimal.c as a test: the C99 build runs and exits 0 (it checks
# its own output against the protocol), and the file compiles as C++17 (g++) and with clang.
# Prints "minimal: N passed, M failed". Usage: sh tests/minimal_test.sh [build/vballoon-minimal]
BIN=${1:-build/vballoon-minimal}
CLANG=${CLANG:-clang}
CXX=${CXX:-g++}
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0

check() { # name, command...
    name=$1
    shift
    if out=$("$@" 2>&1); then
        pass=$((pass + 1))
    else
        fail=$((fail + 1))
        echo "FAIL minimal $name: $*"
        printf '%s\n' "$out" | tail -20
    fi
}

check run "$BIN"
check c++17 "$CXX" -std=c++17 -x c++ -Wall -Wextra -Wpedantic -Werror -I. examples/minimal.c -o "$tmp/cxx"
check clang "$CLANG" -std=c99 -Wall -Wextra -Wpedantic -Wconversion -Wshadow -Werror -I. \
    examples/minimal.c -o "$tmp/clang"
echo "minimal: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
