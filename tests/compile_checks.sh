#!/bin/sh
# Compile checks of vballoon.h: C99, C11, C++17, gcc and clang, VB_STATIC, VB_NO_QMP, included
# twice, every VB_NO_* option alone and together (the options of left-out features refused, run;
# a legacy little-endian guest polled, run, with and without telemetry),
# a freestanding link with no libc (full and smallest), and the documented quick start (header
# and README) and examples/minimal.c built and run. Prints one line "compile: N passed, M failed".
CC=${CC:-cc}
CLANG=${CLANG:-clang}
CXX=${CXX:-g++}
CLANGXX=${CLANGXX:-clang++}
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
static const vb_host host = {rd, wr, 0, 0, 0, 0, nq, nc, 0, 0, 0, 0, 0};
static vb_device dev;
static char out[2048];
volatile size_t sink;
void _start(void);
void _start(void)
{
    vb_init(&dev, 0, &host, 0);
    vb_queue_notify(&dev, 2);
    sink = vb_render_guest_stats(&dev, out, sizeof out, 0);
#ifndef VB_NO_QMP
    {
        vb_qmp s;
        vb_qmp_init(&s, &dev, VB_QMP_NO_NEGOTIATION);
        sink += vb_qmp_execute(&s, "{\"execute\": \"query-balloon\"}", 29, out, sizeof out);
    }
#endif
    for (;;) {}
}
C

# The documented embedding, extracted as text from the header's QUICK START and from README's
# "Embedding it", between a fake VM's declarations and a main that runs it.
sed -n '/^       #define VBALLOON_IMPLEMENTATION$/,/^   Feature bits are numbers/p' vballoon.h |
    sed -e '$d' -e 's/^       //' > "$tmp/quick_header.inc"
awk '/^## Embedding it/ {on = 1} on && /^```$/ {exit} on == 2 {print} on && /^```c$/ {on = 2}' README.md \
    > "$tmp/quick_readme.inc"
# A build that leaves features out (VB_NO_PACKED, VB_NO_FREE_PAGE_HINT, VB_NO_REPORTING,
# VB_NO_GUEST_BIG_ENDIAN) refuses
# their options (vb_init: VB_ERR_ARG), never offers them, takes every other option, leaves the
# queue of a left-out page feature alone (only VB_OPT_QUEUES_FIXED numbers it) and, with QMP,
# has no hinting commands.
# The implementation and a guest RAM behind bounds-checked copy callbacks, for the run checks.
cat > "$tmp/ram_host.h" <<'C'
#define VBALLOON_IMPLEMENTATION
#include "vballoon.h"
#include <string.h>
static unsigned char ram[4096];
static int rd(void *u, uint64_t a, void *d, size_t n)
{
    (void)u;
    if (a > sizeof ram || n > sizeof ram - a) return -1;
    memcpy(d, ram + a, n);
    return 0;
}
static int wr(void *u, uint64_t a, const void *s, size_t n)
{
    (void)u;
    if (a > sizeof ram || n > sizeof ram - a) return -1;
    memcpy(ram + a, s, n);
    return 0;
}
static void nq(void *u, unsigned q) { (void)u; (void)q; }
static void nc(void *u) { (void)u; }
C
cat > "$tmp/left_out.c" <<'C'
#include "ram_host.h"
int main(void)
{
    static vb_device dev;
    vb_host h;
    vb_config c = vb_config_default();
    unsigned left_out = 0, one, role;
    uint64_t bits = 0;
#ifdef VB_NO_PACKED
    left_out |= VB_OPT_RING_PACKED;
    bits |= (uint64_t)1 << VB_F_RING_PACKED;
#endif
#ifdef VB_NO_FREE_PAGE_HINT
    left_out |= VB_OPT_FREE_PAGE_HINT;
    bits |= (uint64_t)1 << VB_F_FREE_PAGE_HINT;
#endif
#ifdef VB_NO_REPORTING
    left_out |= VB_OPT_REPORTING;
    bits |= (uint64_t)1 << VB_F_REPORTING;
#endif
#ifdef VB_NO_GUEST_BIG_ENDIAN
    left_out |= VB_OPT_GUEST_BIG_ENDIAN; /* no feature bit: a legacy guest's byte order */
#endif
    memset(&h, 0, sizeof h);
    h.read = rd;
    h.write = wr;
    h.notify_queue = nq;
    h.notify_config = nc;
    if (!left_out) return 10; /* built without an option to check */
    for (one = 1; one <= left_out; one <<= 1) /* each left-out option is refused, even alone */
        if ((left_out & one) && (c.options = one, vb_init(&dev, &c, &h, 0) != VB_ERR_ARG)) return 1;
    /* every other option is taken (the fixed queue numbering of the two), none left out offered */
    c.options = 0x7ffu & ~(unsigned)VB_OPT_QUEUES_OFFERED & ~left_out;
    if (vb_init(&dev, &c, &h, 0) != VB_OK || (vb_host_features(&dev) & bits)) return 2;
    /* The queue of a left-out page feature is numbered (VB_OPT_QUEUES_FIXED) but left alone: a
       zero-length descriptor there would break a device that walked it. */
    vb_set_status(&dev, VB_S_ACKNOWLEDGE | VB_S_DRIVER);
    vb_set_driver_features(&dev, vb_host_features(&dev) & ~((uint64_t)1 << VB_F_RING_PACKED));
    vb_set_status(&dev, VB_S_ACKNOWLEDGE | VB_S_DRIVER | VB_S_FEATURES_OK);
    if (!(vb_status(&dev) & VB_S_FEATURES_OK)) return 3;
    ram[0x100 + 12] = 2;     /* descriptor 0: address 0, length 0, flags WRITE */
    ram[0x202] = 1;          /* avail idx 1, ring[0] = 0 */
    for (role = VB_QUEUE_FREE_PAGE; role <= VB_QUEUE_REPORTING; role++) {
        if (!(left_out & (role == VB_QUEUE_FREE_PAGE ? VB_OPT_FREE_PAGE_HINT : VB_OPT_REPORTING))) continue;
        if (vb_queue_index(&dev, role) != (int)role) return 4;
        if (vb_queue_setup(&dev, role, 4, 0x100, 0x200, 0x300) != VB_OK || vb_queue_set_ready(&dev, role, 1) != VB_OK)
            return 5;
    }
    vb_set_status(&dev, VB_S_ACKNOWLEDGE | VB_S_DRIVER | VB_S_FEATURES_OK | VB_S_DRIVER_OK);
    for (role = VB_QUEUE_FREE_PAGE; role <= VB_QUEUE_REPORTING; role++) vb_queue_notify(&dev, role);
    if (vb_is_broken(&dev) || ram[0x302] || vb_more_work(&dev) || vb_get_counters(&dev)->hint_buffers ||
        vb_get_counters(&dev)->reports)
        return 6;
#if !defined(VB_NO_QMP) && defined(VB_NO_FREE_PAGE_HINT)
    { /* QMP has no hinting commands: not found, not listed */
        static const char hint[] = "{\"execute\": \"x-balloon-free-page-hint\", \"arguments\": {\"action\": \"done\"}}";
        static const char list[] = "{\"execute\": \"query-commands\"}";
        char out[2048];
        vb_qmp s;
        vb_qmp_init(&s, &dev, VB_QMP_NO_NEGOTIATION);
        if (vb_qmp_execute(&s, hint, sizeof hint - 1, out, sizeof out) >= sizeof out ||
            !strstr(out, "\"CommandNotFound\""))
            return 7;
        if (vb_qmp_execute(&s, list, sizeof list - 1, out, sizeof out) >= sizeof out ||
            !strstr(out, "query-balloon") || strstr(out, "free-page-hint"))
            return 8;
    }
#endif
    return 0;
}
C
# A legacy little-endian guest's stats round trip, and polling as QEMU polls: a poll, no timer
# until the guest answers (the answer re-arms it), none while it is silent. Every build: with
# telemetry the timer also ends the interval after a poll (vb_next_deadline, not the polling
# timer) and a silent guest's stats go stale; a VB_NO_TELEMETRY build arms nothing for it and
# never calls stats_stale.
cat > "$tmp/legacy_poll.c" <<'C'
#include "ram_host.h"
static uint64_t now, armed_at = UINT64_MAX;
static unsigned arms, stale_calls;
static uint64_t clock_ms(void *u) { (void)u; return now; }
static void arm(void *u, uint64_t at) { (void)u; armed_at = at; arms++; }
static void cancel(void *u) { (void)u; armed_at = UINT64_MAX; }
static void stale(void *u, int s) { (void)u; (void)s; stale_calls++; }
static void le(unsigned char *p, uint64_t v, unsigned n)
{
    unsigned i;
    for (i = 0; i < n; i++) p[i] = (unsigned char)(v >> 8 * i);
}
/* Descriptor `i` is one record (tag, value) at 0x400 + 16 i, and the guest makes it available. */
static void guest_stats(unsigned i, uint64_t value)
{
    le(ram + 0x100 + 16 * i, 0x400 + 16 * i, 8);
    le(ram + 0x100 + 16 * i + 8, 10, 4);
    le(ram + 0x400 + 16 * i, VB_STAT_MEMTOT, 2);
    le(ram + 0x400 + 16 * i + 2, value, 8);
    le(ram + 0x204 + 2 * i, i, 2);
    le(ram + 0x202, i + 1, 2);
}
int main(void)
{
    static vb_device dev;
    vb_host h;
    vb_config c = vb_config_default();
    uint64_t v = 0;
    int q;
    memset(&h, 0, sizeof h);
    h.read = rd;
    h.write = wr;
    h.notify_queue = nq;
    h.notify_config = nc;
    h.now_ms = clock_ms;
    h.timer_arm = arm;
    h.timer_cancel = cancel;
    h.stats_stale = stale;
    c.stale_after = 1;
    if (vb_init(&dev, &c, &h, 0) != VB_OK) return 1;
    vb_set_status(&dev, VB_S_ACKNOWLEDGE | VB_S_DRIVER);
    vb_set_driver_features(&dev, (uint64_t)1 << VB_F_STATS_VQ); /* legacy: no VERSION_1 */
    q = vb_queue_index(&dev, VB_QUEUE_STATS);
    if (q < 0 || vb_queue_setup(&dev, (unsigned)q, 4, 0x100, 0x200, 0x300) != VB_OK ||
        vb_queue_set_ready(&dev, (unsigned)q, 1) != VB_OK)
        return 2;
    vb_set_status(&dev, VB_S_ACKNOWLEDGE | VB_S_DRIVER | VB_S_DRIVER_OK);
    guest_stats(0, 0x1122334455667788u);
    vb_queue_notify(&dev, (unsigned)q);
    if (vb_is_broken(&dev) || !vb_stat(&dev, VB_STAT_MEMTOT, &v) || v != 0x1122334455667788u) return 3;
    if (vb_set_poll_interval_ms(&dev, 1000) != VB_OK || armed_at != 0) return 4; /* polls at once */
    vb_timer_expired(&dev); /* the poll: the buffer goes back, used idx 1 (little-endian) */
    if (ram[0x302] != 1 || ram[0x303] != 0 || vb_get_counters(&dev)->polls != 1) return 5;
    if (vb_poll_deadline(&dev) != UINT64_MAX) return 6; /* only the answer re-arms polling */
#ifdef VB_NO_TELEMETRY
    if (vb_next_deadline(&dev) != UINT64_MAX || arms != 1) return 7;
#else
    if (vb_next_deadline(&dev) != 1000 || armed_at != 1000) return 7; /* the interval's end */
#endif
    for (now = 1000; now <= 5000; now += 1000) vb_timer_expired(&dev); /* a silent guest */
    if (vb_get_counters(&dev)->polls != 1) return 8;
#ifdef VB_NO_TELEMETRY
    if (stale_calls || arms != 1) return 9;
#else
    if (stale_calls != 1 || !vb_get_telemetry(&dev)->stale) return 9;
#endif
    now = 5500;
    guest_stats(1, 2); /* the answer re-arms the polling timer */
    vb_queue_notify(&dev, (unsigned)q);
    if (!vb_stat(&dev, VB_STAT_MEMTOT, &v) || v != 2 || vb_poll_deadline(&dev) != 6500 || armed_at != 6500) return 10;
    now = 6500;
    vb_timer_expired(&dev);
    return ram[0x302] == 2 && vb_get_counters(&dev)->polls == 2 && !vb_is_broken(&dev) ? 0 : 11;
}
C
cat > "$tmp/quick_before.inc" <<'C'
#include <stddef.h>
#include <stdint.h>
static int my_read(void *vm, uint64_t gpa, void *dst, size_t len);
static int my_write(void *vm, uint64_t gpa, const void *src, size_t len);
static void my_notify_queue(void *vm, unsigned queue);
static void my_notify_config(void *vm);
static uint64_t my_now_ms(void *vm);
static void my_timer_arm(void *vm, uint64_t deadline_ms);
C
cat > "$tmp/quick_after.inc" <<'C'
#include <string.h>
typedef struct fake_vm {
    unsigned char ram[4096];
    uint64_t now, deadline;
    int armed;
} fake_vm;
static int my_read(void *vm, uint64_t gpa, void *dst, size_t len)
{
    fake_vm *v = (fake_vm *)vm;
    if (gpa > sizeof v->ram || len > sizeof v->ram - gpa) return -1;
    memcpy(dst, v->ram + gpa, len);
    return 0;
}
static int my_write(void *vm, uint64_t gpa, const void *src, size_t len)
{
    fake_vm *v = (fake_vm *)vm;
    if (gpa > sizeof v->ram || len > sizeof v->ram - gpa) return -1;
    memcpy(v->ram + gpa, src, len);
    return 0;
}
static void my_notify_queue(void *vm, unsigned queue) { (void)vm; (void)queue; }
static void my_notify_config(void *vm) { (void)vm; }
static uint64_t my_now_ms(void *vm) { return ((fake_vm *)vm)->now; }
static void my_timer_arm(void *vm, uint64_t deadline_ms)
{
    ((fake_vm *)vm)->deadline = deadline_ms;
    ((fake_vm *)vm)->armed = 1;
}
int main(void)
{
    static fake_vm vm;
    char json[1024];
    size_t n;
    if (balloon_create(&vm) != 0) return 1;
    if (!vm.armed || vm.deadline != 0) return 2; /* a 2 s interval polls at once */
    balloon_loop_turn();
    n = balloon_stats_json(json, sizeof json);
    if (n >= sizeof json || strncmp(json, "{\"stats\": {", 11) != 0) return 3;
    return strstr(json, "\"last-update\": 0}") ? 0 : 4;
}
C
for q in header readme; do
    cat "$tmp/quick_before.inc" "$tmp/quick_$q.inc" "$tmp/quick_after.inc" > "$tmp/quick_$q.c"
done

I=-I$PWD
check c99-gcc         $CC -std=c99 $WARN $I -c "$tmp/twice.c" -o "$tmp/o"
check c11-gcc         $CC -std=c11 $WARN $I -c "$tmp/twice.c" -o "$tmp/o"
check c99-clang       $CLANG -std=c99 $WARN $I -c "$tmp/twice.c" -o "$tmp/o"
check c11-clang       $CLANG -std=c11 $WARN $I -c "$tmp/twice.c" -o "$tmp/o"
check cxx17-g++       $CXX -std=c++17 -Wall -Wextra -Wpedantic -Wshadow -Werror -x c++ $I -c "$tmp/twice.c" -o "$tmp/o"
check cxx17-clang++   $CLANG -std=c++17 -Wall -Wextra -Wpedantic -Wshadow -Werror -x c++ $I -c "$tmp/twice.c" -o "$tmp/o"
check no-qmp          $CC -std=c99 $WARN -DVB_NO_QMP $I -c "$tmp/twice.c" -o "$tmp/o"
# every option that compiles something out, alone and together, at -Os too (no inlining there:
# a helper left unused is a warning)
SMALLEST="-DVB_NO_QMP -DVB_NO_METRICS -DVB_NO_PACKED -DVB_NO_SNAPSHOT -DVB_NO_FREE_PAGE_HINT -DVB_NO_REPORTING -DVB_NO_PROPS"
SMALLEST="$SMALLEST -DVB_NO_TELEMETRY -DVB_NO_GUEST_BIG_ENDIAN"
NO_TELEMETRY="-DVB_NO_QMP -DVB_NO_METRICS -DVB_NO_PROPS -DVB_NO_TELEMETRY" # (the least it needs)
for opts in "-DVB_NO_METRICS" "-DVB_NO_PACKED" "-DVB_NO_QMP -DVB_NO_METRICS -DVB_NO_PACKED" "-DVB_NO_SNAPSHOT" \
            "-DVB_NO_FREE_PAGE_HINT" "-DVB_NO_REPORTING" "-DVB_NO_FREE_PAGE_HINT -DVB_NO_REPORTING" \
            "-DVB_NO_QMP -DVB_NO_PROPS" "$NO_TELEMETRY" "-DVB_NO_GUEST_BIG_ENDIAN" "$SMALLEST"; do
    for c in "$CC -std=c99 $WARN" "$CLANG -std=c99 $WARN" "$CXX -std=c++17 $WARN -x c++"; do
        for o in -O2 -Os; do
            name="options$(echo " $opts" | sed 's/ -DVB_NO_/-no-/g' | tr 'A-Z' 'a-z')-$(echo "$c" | cut -d' ' -f1)$o"
            check "$name" $c $o $opts $I -c "$tmp/twice.c" -o "$tmp/o"
        done
    done
done
for opts in "-DVB_NO_PACKED" "-DVB_NO_FREE_PAGE_HINT" "-DVB_NO_REPORTING" "-DVB_NO_GUEST_BIG_ENDIAN" "$SMALLEST"; do
    case $opts in -DVB_NO_QMP*) name=smallest-refuses-options;;
        *) name="$(echo "$opts" | sed 's/-DVB_NO_/no-/' | tr 'A-Z_' 'a-z-')-refuses-option";; esac
    check "$name" sh -c "$CC -std=c99 $WARN $opts $I '$tmp/left_out.c' -o '$tmp/lo' && '$tmp/lo'"
done
# QMP's qom-* commands are the properties: VB_NO_PROPS without VB_NO_QMP is an #error
check no-props-needs-no-qmp sh -c "$CC -std=c99 $WARN -DVB_NO_PROPS $I -c '$tmp/twice.c' -o '$tmp/o' 2>&1 |
    grep -q 'VB_NO_PROPS needs VB_NO_QMP'"
# the metrics and the properties (QMP's too) render the telemetry: VB_NO_TELEMETRY without them
# is an #error
for opts in "-DVB_NO_TELEMETRY" "-DVB_NO_TELEMETRY -DVB_NO_METRICS" "-DVB_NO_TELEMETRY -DVB_NO_QMP -DVB_NO_PROPS"; do
    check "no-telemetry-needs$(echo " $opts" | sed 's/ -DVB_NO_TELEMETRY//; s/ -DVB_NO_/-no-/g' | tr 'A-Z_' 'a-z-')" \
        sh -c "$CC -std=c99 $WARN $opts $I -c '$tmp/twice.c' -o '$tmp/o' 2>&1 | grep -q 'VB_NO_TELEMETRY needs'"
done
# a legacy little-endian guest and QEMU's polling, in the default build and without each option
for opts in "" "-DVB_NO_GUEST_BIG_ENDIAN" "$NO_TELEMETRY" "$SMALLEST"; do
    check "legacy-le-polling$(echo " $opts" | sed 's/ -DVB_NO_/-no-/g' | tr 'A-Z_' 'a-z-')" \
        sh -c "$CC -std=c99 $WARN $opts $I '$tmp/legacy_poll.c' -o '$tmp/lp' && '$tmp/lp'"
done
check mmio-c99-gcc    $CC -std=c99 $WARN -DVB_WITH_MMIO $I -c "$tmp/twice.c" -o "$tmp/o"
check mmio-c99-clang  $CLANG -std=c99 $WARN -DVB_WITH_MMIO $I -c "$tmp/twice.c" -o "$tmp/o"
check mmio-cxx17-g++  $CXX -std=c++17 -Wall -Wextra -Wpedantic -Wshadow -Werror -x c++ -DVB_WITH_MMIO $I -c "$tmp/twice.c" -o "$tmp/o"
check static-two-tus  $CC -std=c99 $WARN $I "$tmp/static_a.c" "$tmp/static_b.c" "$tmp/static_main.c" -o "$tmp/s"
check static-run      "$tmp/s"
check freestanding-gcc   $CC -std=c99 $WARN -DVB_WITH_MMIO -O2 -ffreestanding -nostdlib -static -fno-builtin -fno-tree-loop-distribute-patterns $I "$tmp/free.c" -o "$tmp/f"
check freestanding-clang $CLANG -std=c99 $WARN -O2 -ffreestanding -nostdlib -static -fno-builtin $I "$tmp/free.c" -o "$tmp/f2"
check freestanding-no-libc-symbols sh -c "! nm '$tmp/f' | grep -q ' U '"
check freestanding-smallest-gcc $CC -std=c99 $WARN $SMALLEST -Os -ffreestanding -nostdlib -static -fno-builtin -fno-tree-loop-distribute-patterns $I "$tmp/free.c" -o "$tmp/fs"
check freestanding-smallest-no-libc-symbols sh -c "! nm '$tmp/fs' | grep -q ' U '"
for q in header readme; do
    check "quick-start-$q-found" grep -q balloon_create "$tmp/quick_$q.inc"
    for c in "$CC -std=c99 $WARN" "$CC -std=c11 $WARN" "$CLANG -std=c99 $WARN" \
             "$CXX -std=c++17 $WARN -x c++" "$CLANGXX -std=c++17 $WARN -x c++"; do
        name="quick-start-$q-$(echo "$c" | cut -d' ' -f1-2 | tr -c 'a-z0-9+\n' -)"
        check "$name" sh -c "$c $I '$tmp/quick_$q.c' -o '$tmp/quick' && '$tmp/quick'"
    done
done
# examples/minimal.c checks its own output: built with each compiler, it must run and exit 0
for c in "$CC -std=c99 $WARN" "$CLANG -std=c99 $WARN" "$CXX -std=c++17 $WARN -x c++" \
         "$CLANGXX -std=c++17 $WARN -x c++"; do
    name="minimal-$(echo "$c" | cut -d' ' -f1-2 | tr -c 'a-z0-9+\n' -)"
    check "$name" sh -c "$c $I examples/minimal.c -o '$tmp/minimal' && '$tmp/minimal' >/dev/null"
done
echo "compile: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
