#!/bin/sh
# Compile checks of vballoon.h: C99, C11, C++17, gcc and clang, VB_STATIC, VB_NO_QMP, included
# twice, and a freestanding link with no libc. Prints one line "compile: N passed, M failed".
CC=${CC:-cc}
CLANG=${CLANG:-clang}
CXX=${CXX:-g++}
WARN="-Wall -Wextra -Wpedantic -Wconversion -Wshadow -Werror"
tmp=$(mktemp -d)
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
        echo "FAIL compile $name: $*"
        echo "$out" | head -20
    fi
}

# A user of the whole API: declarations first, then the implementation, then again.
cat > "$tmp/twice.c" <<'C'
#include "vballoon.h"
#define VBALLOON_IMPLEMENTATION
#include "vballoon.h"
#include "vballoon.h"
int main(void)
{
    vb_device dev;
    char buf[64];
    (void)dev;
    return (int)vb_render_guest_stats(0 ? &dev : 0, buf, 0, 0) * 0;
}
C
# Two translation units, each with a private static copy.
for u in a b; do
cat > "$tmp/static_$u.c" <<C
#define VB_STATIC
#define VBALLOON_IMPLEMENTATION
#include "vballoon.h"
const char *version_$u(void) { return vb_version_string(); }
C
done
cat > "$tmp/static_main.c" <<'C'
const char *version_a(void);
const char *version_b(void);
int main(void) { return version_a()[0] == version_b()[0] ? 0 : 1; }
C
# Freestanding: no libc at all, the entry point is ours.
cat > "$tmp/free.c" <<'C'
#define VB_NO_STDLIB
#define VBALLOON_IMPLEMENTATION
#include "vballoon.h"
static unsigned char ram[4096];
static int rd(void *u, uint64_t a, void *d, size_t n)
{
    size_t i;
    (void)u;
    if (a > sizeof ram || n > sizeof ram - a) return -1;
    for (i = 0; i < n; i++) ((unsigned char *)d)[i] = ram[a + i];
    return 0;
}
static int wr(void *u, uint64_t a, const void *s, size_t n)
{
    size_t i;
    (void)u;
    if (a > sizeof ram || n > sizeof ram - a) return -1;
    for (i = 0; i < n; i++) ram[a + i] = ((const unsigned char *)s)[i];
    return 0;
}
static void nq(void *u, unsigned q) { (void)u; (void)q; }
static void nc(void *u) { (void)u; }
static const vb_host host = {rd, wr, 0, 0, 0, 0, nq, nc, 0, 0, 0};
static vb_device dev;
static char out[2048];
volatile size_t sink;
void _start(void);
void _start(void)
{
    vb_qmp s;
    vb_init(&dev, 0, &host, 0);
    vb_queue_notify(&dev, 2);
    vb_qmp_init(&s, &dev, VB_QMP_NO_NEGOTIATION);
    sink = vb_render_guest_stats(&dev, out, sizeof out, 0) +
           vb_qmp_execute(&s, "{\"execute\": \"query-balloon\"}", 29, out, sizeof out);
    for (;;) {}
}
C

I=-I$PWD
check c99-gcc         $CC -std=c99 $WARN $I -c "$tmp/twice.c" -o "$tmp/o"
check c11-gcc         $CC -std=c11 $WARN $I -c "$tmp/twice.c" -o "$tmp/o"
check c99-clang       $CLANG -std=c99 $WARN $I -c "$tmp/twice.c" -o "$tmp/o"
check c11-clang       $CLANG -std=c11 $WARN $I -c "$tmp/twice.c" -o "$tmp/o"
check cxx17-g++       $CXX -std=c++17 -Wall -Wextra -Wpedantic -Wshadow -Werror -x c++ $I -c "$tmp/twice.c" -o "$tmp/o"
check cxx17-clang++   $CLANG -std=c++17 -Wall -Wextra -Wpedantic -Wshadow -Werror -x c++ $I -c "$tmp/twice.c" -o "$tmp/o"
check no-qmp          $CC -std=c99 $WARN -DVB_NO_QMP $I -c "$tmp/twice.c" -o "$tmp/o"
check mmio-c99-gcc    $CC -std=c99 $WARN -DVB_WITH_MMIO $I -c "$tmp/twice.c" -o "$tmp/o"
check mmio-c99-clang  $CLANG -std=c99 $WARN -DVB_WITH_MMIO $I -c "$tmp/twice.c" -o "$tmp/o"
check mmio-cxx17-g++  $CXX -std=c++17 -Wall -Wextra -Wpedantic -Wshadow -Werror -x c++ -DVB_WITH_MMIO $I -c "$tmp/twice.c" -o "$tmp/o"
check static-two-tus  $CC -std=c99 $WARN $I "$tmp/static_a.c" "$tmp/static_b.c" "$tmp/static_main.c" -o "$tmp/s"
check static-run      "$tmp/s"
check freestanding-gcc   $CC -std=c99 $WARN -DVB_WITH_MMIO -O2 -ffreestanding -nostdlib -static -fno-builtin -fno-tree-loop-distribute-patterns $I "$tmp/free.c" -o "$tmp/f"
check freestanding-clang $CLANG -std=c99 $WARN -O2 -ffreestanding -nostdlib -static -fno-builtin $I "$tmp/free.c" -o "$tmp/f2"
check freestanding-no-libc-symbols sh -c "! nm '$tmp/f' | grep -q ' U '"
echo "compile: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
