#!/bin/sh
# Static analysis of the library and its users: gcc -fanalyzer, clang --analyze, cppcheck
# (warning, style, performance, portability) and clang-tidy (.clang-tidy). Each tool is one
# check; any finding fails it. Two more checks keep the tree self-contained: no file names a
# path outside the repository, and every document under docs/ that is cited exists.
# Prints "lint: N passed, M failed".
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
# ---- the tree stands on its own ----------------------------------------------------------------
# Patterns are written with [/] so that this file does not match them itself.

# tree_grep GREP-OPTIONS... ERE: text files of the tree (tracked or new, not ignored; without
# git, everything but build/ and .git/), run from the repository's top directory.
tree_grep() {
    if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        git grep --untracked -I "$@"
    else
        grep -rI --exclude-dir=build --exclude-dir=.git "$@" .
    fi
}

# Paths into the reference material kept outside the repository, or into one machine's disk.
no_outside_paths() {
    if out=$(tree_grep -nE 'shared[/](spec|seed|guide|hooks)|[/]work[/]|\.\.[/]shared'); then
        printf '%s\n' "$out" | sed 's/^/error: path outside the repository: /'
        return 1
    fi
    return 0
}

# Every docs[/]<name> cited anywhere, and every relative .md link inside docs[/], must exist.
# QEMU's own document paths are not ours: docs[/]virtio-balloon-stats.txt, docs[/]interop.
cited_docs_exist() {
    bad=0
    for f in $(tree_grep -h -o -E '(^|[^A-Za-z0-9_./-])docs[/][A-Za-z0-9_.-]+' |
        sed 's/.*\(docs[/]\)/\1/; s/[.]*$//' | sort -u); do
        case $f in docs/virtio-balloon-stats.txt | docs/interop) continue ;; esac
        [ -e "$f" ] || { echo "error: cited but missing: $f"; bad=1; }
    done
    for f in $(cat docs/*.md 2>/dev/null | grep -o -E '\]\([A-Za-z0-9_.-]+[.]md[)#]' |
        sed 's/^](//; s/[)#]$//' | sort -u); do
        [ -e "docs/$f" ] || { echo "error: docs links to a missing docs/$f"; bad=1; }
    done
    return $bad
}

check no-outside-paths no_outside_paths
check cited-docs-exist cited_docs_exist
echo "lint: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
