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

# Hosts use only the public API: in a copy of the tree whose vballoon.h renames every private
# field (all of vb_device's, vb_mmio's after its "private" mark) and leaves the implementation
# out, every example, test, fuzzer and benchmark must still compile.
private_fields() {
    mkdir -p "$tmp/tree" && cp -R examples tests fuzz bench "$tmp/tree/" &&
    perl -pe 'if ((/^typedef struct vb_device \{/ .. /^\} vb_device;/) ||
                  (m{^    /\* private \*/$} .. /^\} vb_mmio;/)) {
                  next if /^typedef|^\}/;
                  s{/\*.*?\*/}{}g;
                  s/\(\*(\w+)\)/(*$1__private)/g;
                  s/\b(\w+)(\s*(?:\[[^\]]*\])?\s*[,;])/$1__private$2/g;
              }' vballoon.h > "$tmp/tree/vballoon.h" &&
    grep -q 'held_head__private' "$tmp/tree/vballoon.h" && grep -q 'queue_sel__private' "$tmp/tree/vballoon.h" ||
        { echo "the private fields were not found in vballoon.h"; return 1; }
    cd "$tmp/tree" || return 1
    hosts="examples/sim.c examples/vhost-user-balloon.c examples/minivmm/minivmm.c examples/minivmm/qmp.c
           $(ls examples/minimal.c 2>/dev/null) fuzz/fuzz_*.c tests/test_*.c tests/vhost_user_test.c"
    [ -f /usr/include/cjson/cJSON.h ] && hosts="$hosts bench/bench.c"
    for f in $hosts; do
        $CC -std=gnu99 -fsyntax-only -DVBALLOON_IMPLEMENTATION_INCLUDED -I. -Itests "$f" || return 1
    done
}
check private-fields private_fields

# Every function of the header is short and simple: at most 60 lines and a cyclomatic
# complexity of at most 20 (pmccabe, both its modified and traditional counts).
complexity() {
    $CC -E -P -DVBALLOON_IMPLEMENTATION -DVB_WITH_MMIO -x c vballoon.h | grep -v '^#' > "$tmp/all.c" &&
    pmccabe "$tmp/all.c" > "$tmp/mccabe" && [ -s "$tmp/mccabe" ] || return 1
    awk '$NF ~ /^vb_/ && ($1 > 20 || $2 > 20 || $5 > 60) {print "too complex or long: " $0; bad = 1}
         END {exit bad}' "$tmp/mccabe"
}
check complexity complexity
echo "lint: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
