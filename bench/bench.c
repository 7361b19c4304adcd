/* bench/bench.c - the speed and scale benchmarks of vballoon.h (issue 6). `make bench` runs it
   through bench/run.sh, which adds the footprint and the instruction counts and prints one table.

     build/bench [--sim PATH] [--qemu PATH] [--quick] [--tsv]
         every timed benchmark; rows "section<TAB>what<TAB>value<TAB>goal" with --tsv
     build/bench --instr NAME
         under valgrind --tool=callgrind --collect-atstart=no: runs INSTR_ROUNDS of one hot path
         with collection switched on around each, and nothing else (bench/instr.sh divides)

   What is measured (see README, "Benchmarks"):
     pages    one free page reporting buffer (32 ranges of 4 MiB, indirect) and one hint buffer
              (a 4 MiB range), Linux's, through the same callbacks: pages() only counting,
              then doing a VMM's work (madvise) with its time shown apart
     round    one stats round = vb_timer_expired (push of the held buffer + interrupt decision)
              + vb_queue_notify (pop + parse + re-arm), 10 and 16 tags, direct and indirect
              descriptors, on a Linux-like ring (EVENT_IDX, VERSION_1) in tests/guest.h's RAM;
              16 tags direct on a packed ring too (VIRTIO_F_RING_PACKED, issue 14);
              next to it the floor (bench/floor.h, issue 12): the same round written by hand
              with the same checks, RAM direct or through the same callbacks, self-checked
     render   vb_render_guest_stats in both profiles against cJSON building, printing and
              freeing the same object (and printing a prebuilt one into a buffer); then
              vb_render_metrics of one device (16 stats, three answered polls, one label) in
              both formats, as a ratio to the guest-stats render (qemu profile, compact)
     qmp      qom-get guest-stats round trip over a unix socket, same client for our server
              (build/vballoon-sim --qmp), a unix-socket echo server giving the same reply (the
              floor) and, with --qemu, QEMU, interleaved in batches
     scale    10,000 devices polled every second on a virtual clock, each with a small
              simulated guest answering
   Allocations are counted by a malloc/calloc/realloc/free wrapper in this binary: the vb_*
   paths must make none.
   License: public domain (Unlicense). */
#define _GNU_SOURCE
#define VBALLOON_IMPLEMENTATION
#include "../vballoon.h"
#include "../tests/guest.h"
#include "floor.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define HAVE_CALLGRIND 1
#endif
#endif
#ifndef HAVE_CALLGRIND
#define CALLGRIND_TOGGLE_COLLECT
#define HAVE_CALLGRIND 0
#endif

/* ============================================================================================
   Allocation counting: this binary's malloc family wraps glibc's.
   ============================================================================================ */

extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t m);
extern void *__libc_realloc(void *p, size_t n);
extern void __libc_free(void *p);

static unsigned long alloc_count;

void *malloc(size_t n)
{
    alloc_count++;
    return __libc_malloc(n);
}
void *calloc(size_t n, size_t m)
{
    alloc_count++;
    return __libc_calloc(n, m);
}
void *realloc(void *p, size_t n)
{
    alloc_count++;
    return __libc_realloc(p, n);
}
void free(void *p) { __libc_free(p); }

/* ============================================================================================
   Timing helpers
   ============================================================================================ */

#define RUNS 7 /* each figure is the median of RUNS timed runs */

static int quick;
static int tsv;

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static double cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double percentile(double *v, size_t n, double p) /* v sorted */
{
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

static cpu_set_t all_cpus;

static void pin_one_core(void)
{
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET((size_t)(sched_getcpu() >= 0 ? sched_getcpu() : 0), &one);
    sched_setaffinity(0, sizeof one, &one);
}

static void unpin(void) { sched_setaffinity(0, sizeof all_cpus, &all_cpus); }

/* One result row. */
static void row(const char *section, const char *what, const char *value, const char *goal)
{
    if (tsv) printf("%s\t%s\t%s\t%s\n", section, what, value, goal);
    else printf("%-8s %-52s %-44s %s\n", section, what, value, goal);
    fflush(stdout);
}

static void die(const char *what)
{
    fprintf(stderr, "bench: %s%s%s\n", what, errno ? ": " : "", errno ? strerror(errno) : "");
    exit(1);
}

/* ============================================================================================
   1. THE STATS ROUND
   The test guest of tests/guest.h (its RAM and ring builders) with lean host callbacks: a
   bounds check and memcpy, as a VMM with flat guest RAM would have.
   ============================================================================================ */

static int lean_read(void *user, uint64_t gpa, void *dst, size_t len)
{
    tg *t = (tg *)user;
    if (gpa > TG_MEM || len > TG_MEM - gpa) return -1;
    memcpy(dst, t->mem + gpa, len);
    return 0;
}

static int lean_write(void *user, uint64_t gpa, const void *src, size_t len)
{
    tg *t = (tg *)user;
    if (gpa > TG_MEM || len > TG_MEM - gpa) return -1;
    memcpy(t->mem + gpa, src, len);
    return 0;
}

static void lean_arm(void *user, uint64_t deadline)
{
    tg *t = (tg *)user;
    t->armed = 1;
    t->deadline = deadline;
}

static void lean_notify(void *user, unsigned q) { ((tg *)user)->irq[q]++; }

static const vb_host lean_host = {lean_read, lean_write, tg_now, lean_arm, tg_cancel,
                                  tg_wall,   lean_notify, tg_notify_config, NULL, NULL, NULL, NULL, 0};

/* The direct path: guest RAM is one host array, a range in it maps to a pointer. */
static void *lean_map(void *user, uint64_t gpa, uint64_t len, int write)
{
    (void)write;
    return gpa > TG_MEM || len > TG_MEM - gpa ? NULL : ((tg *)user)->mem + gpa;
}

static const vb_host map_host = {lean_read, lean_write, tg_now, lean_arm, tg_cancel,
                                 tg_wall,   lean_notify, tg_notify_config, NULL, NULL, NULL, NULL,
                                 lean_map};

static tg tguest; /* 1 MiB of guest RAM: static */

/* Realistic values (an idle 4 GiB guest), by tag. */
static const uint64_t sample[VB_STAT_COUNT] = {
    0, 0, 1873, 40817204, 3221225472u, 4110417920u, 3528441856u, 613416960,
    0, 0, 0, 0, 4861952, 0, 4476928, 0};

/* round_setup's layout: 0 split, 1 packed (queues of 128; the buffer re-posted at the next
   slot each round with id 0, as Linux does; its descriptor as posted, for the turnaround) */
static int round_packed;
static tg_seg round_buf;

/* A device with a Linux-like driver, `tags` stats posted at head 0 (direct or indirect) and
   held; polling every second; guest RAM mapped (map callback) or copied (read/write). */
static tg *round_setup(unsigned tags, int indirect, vb_profile profile, int map)
{
    tg *t = &tguest;
    const uint16_t *order = tags == 16 ? tg_linux612_tags : tg_linux61_tags;
    uint64_t vals[16], data;
    uint32_t len;
    vb_config cfg;
    unsigned i;

    memset(t, 0, sizeof *t);
    memset(&cfg, 0, sizeof cfg);
    cfg.poll_interval_s = 1;
    cfg.profile = profile;
    t->wall = 1358529861;
    t->now_ms = 1000;
    t->next_data = TG_DATA;
    if (round_packed) cfg.options |= VB_OPT_RING_PACKED;
    if (vb_init(&t->dev, &cfg, map ? &map_host : &lean_host, t) != VB_OK ||
        (round_packed ? tg_pk_probe(t, TG_PK_FEATURES, 128) : tg_probe(t, TG_LINUX_FEATURES)))
        die("round_setup");
    tg_driver_ok(t);
    for (i = 0; i < tags; i++) vals[i] = sample[order[i]];
    data = tg_alloc(t, 160);
    len = tg_records(t, data, order, vals, tags);
    if (round_packed) {
        round_buf.addr = data;
        round_buf.len = len;
        round_buf.flags = 0;
        if (indirect) {
            uint64_t table = tg_alloc(t, 16);
            tg_pk_desc_at(t, table, 0, data, len, 0, 0);
            round_buf.addr = table;
            round_buf.len = 16;
            round_buf.flags = 4; /* VRING_DESC_F_INDIRECT */
        }
        tg_pk_post(t, VB_QUEUE_STATS, &round_buf, 1, 0);
    } else if (indirect) {
        uint64_t table = tg_alloc(t, 16);
        tg_desc_at(t, table, 0, data, len, 0, 0);
        tg_desc(t, VB_QUEUE_STATS, 0, table, 16, 4 /* VRING_DESC_F_INDIRECT */, 0);
    } else {
        tg_desc(t, VB_QUEUE_STATS, 0, data, len, 0, 0);
    }
    tg_publish(t, VB_QUEUE_STATS, 0);
    tg_kick(t, VB_QUEUE_STATS);
    if (!t->armed || vb_get_counters(&t->dev)->updates != 1) die("round_setup: not held");
    return t;
}

/* The guest's side between two rounds, kept minimal (it is not the device's cost): take the used
   buffer (used_event = what it has seen, so the next push interrupts again, as Linux asks) and
   put the same buffer back. Its records are not rewritten. */
static inline void guest_turnaround(tg *t)
{
    uint64_t avail = tg_avail_addr(t, VB_QUEUE_STATS);
    if (t->pk[VB_QUEUE_STATS]) { /* packed: the used descriptor read, the next one asked for
                                     (DESC at the used slot), the buffer posted at the next slot */
        tg_pk_used(t, VB_QUEUE_STATS, NULL, NULL, 0);
        tg_pk_want_next(t, VB_QUEUE_STATS);
        tg_pk_post(t, VB_QUEUE_STATS, &round_buf, 1, 0);
        return;
    }
    t->used_seen[VB_QUEUE_STATS]++;
    tg_put16(t, avail + 4u + 2u * t->qsize[VB_QUEUE_STATS], t->used_seen[VB_QUEUE_STATS]);
    tg_publish(t, VB_QUEUE_STATS, 0);
}

/* One round: the poll returns the held buffer (push + interrupt decision), the guest answers,
   its kick pops and parses the new one and re-arms. */
static inline void stats_round(tg *t)
{
    t->now_ms = t->deadline;
    vb_timer_expired(&t->dev);
    guest_turnaround(t);
    vb_queue_notify(&t->dev, VB_QUEUE_STATS);
}

static double bench_round(unsigned tags, int indirect, int map)
{
    const unsigned long n = quick ? 20000 : 200000;
    double ns[RUNS];
    unsigned long allocs, r;
    unsigned irq0;
    char what[96], value[96];
    int run;
    tg *t = round_setup(tags, indirect, VB_PROFILE_DOC, map);

    for (r = 0; r < n / 10; r++) stats_round(t); /* warm up */
    irq0 = t->irq[VB_QUEUE_STATS];
    allocs = alloc_count;
    for (run = 0; run < RUNS; run++) {
        double t0 = now_ns();
        for (r = 0; r < n; r++) stats_round(t);
        ns[run] = (now_ns() - t0) / (double)n;
    }
    allocs = alloc_count - allocs;
    if (vb_is_broken(&t->dev) || t->irq[VB_QUEUE_STATS] - irq0 != RUNS * n ||
        vb_get_counters(&t->dev)->updates != 1 + n / 10 + RUNS * n || tg_stat(t, 5) != sample[5])
        die("stats round: the device did not do a full round each time");
    snprintf(what, sizeof what, "stats round, %u tags, %s, %s%s", tags, indirect ? "indirect" : "direct",
             map ? "map" : "copy callbacks", t->pk[VB_QUEUE_STATS] ? ", packed" : "");
    snprintf(value, sizeof value, "%.1f ns  %.2f M rounds/s  %lu allocs", median(ns, RUNS),
             1e3 / median(ns, RUNS), allocs);
    row("round", what, value, "");
    return median(ns, RUNS);
}

/* ============================================================================================
   1a. THE FLOOR (issue 12): bench/floor.h's hand-written round, same guest, same RAM, same
   lean callbacks, 16 tags, direct descriptor; direct access to RAM or the read/write callbacks
   ============================================================================================ */

static const floor_host floor_lean = {lean_read, lean_write, tg_now, lean_arm, lean_notify};
static floor_dev floor_d;

/* The guest of round_setup(16, 0, ...) with the floor as its device: the buffer posted at head
   0, kicked, held. */
static floor_dev *floor_setup(int direct)
{
    tg *t = &tguest;
    floor_dev *f = &floor_d;
    uint64_t vals[16], data;
    uint32_t len;
    unsigned i;

    memset(t, 0, sizeof *t);
    memset(f, 0, sizeof *f);
    t->wall = 1358529861;
    t->now_ms = 1000;
    t->next_data = TG_DATA;
    t->qsize[VB_QUEUE_STATS] = 128;
    f->host = &floor_lean;
    f->user = t;
    f->ram = direct ? t->mem : NULL;
    f->ram_size = TG_MEM;
    f->interval_ms = 1000;
    if (floor_queue(f, TG_MEM, 128, tg_desc_addr(VB_QUEUE_STATS), tg_avail_addr(t, VB_QUEUE_STATS),
                    tg_used_addr(t, VB_QUEUE_STATS)))
        die("floor_setup: queue");
    for (i = 0; i < 16; i++) vals[i] = sample[tg_linux612_tags[i]];
    data = tg_alloc(t, 160);
    len = tg_records(t, data, tg_linux612_tags, vals, 16);
    tg_desc(t, VB_QUEUE_STATS, 0, data, len, 0, 0);
    tg_publish(t, VB_QUEUE_STATS, 0);
    (direct ? floor_kick_direct : floor_kick_cb)(f);
    if (!t->armed || f->updates != 1 || !f->held) die("floor_setup: not held");
    return f;
}

/* After `rounds` rounds since floor_setup: one update each, one poll each, every buffer back
   (used idx), an interrupt for each (the guest asks for every one), the stats as sent, the
   ring's avail_event, the deadline. Loud on any difference. */
static void floor_check(const floor_dev *f, unsigned long rounds, const char *path)
{
    const tg *t = &tguest;
    uint64_t used = tg_used_addr(t, VB_QUEUE_STATS);
    unsigned i, bad = f->broken || f->updates != 1 + rounds || f->polls != rounds ||
                      tg_get16(t, used + 2u) != (uint16_t)rounds ||
                      t->irq[VB_QUEUE_STATS] != rounds ||
                      tg_get16(t, used + 4u + 8u * 128u) != (uint16_t)(1 + rounds) ||
                      tg_get32(t, used + 4u + 8u * ((rounds - 1u) & 127u) + 4u) != 0 ||
                      f->records != 16u * (1 + rounds) || f->unknown_tags != 0 || !f->held ||
                      t->deadline != t->now_ms + 1000u || f->deadline_ms != t->deadline;
    for (i = 0; i < 16; i++) bad |= f->stat[i] != sample[i];
    if (bad) {
        fprintf(stderr, "bench: floor (%s) self-check failed after %lu rounds\n", path, rounds);
        exit(1);
    }
}

/* The floor refuses what a safe device refuses: after one good round, the guest's next buffer
   is made hostile in one way; the kick must break the floor and leave the stats as they were. */
static void floor_refusals(int direct)
{
    static const char *const what[] = {"avail idx runaway", "head >= queue size", "NEXT",
                                       "INDIRECT", "WRITE", "buffer past RAM", "address wraps"};
    unsigned c, i;
    for (c = 0; c < sizeof what / sizeof what[0]; c++) {
        floor_dev *f = floor_setup(direct);
        tg *t = &tguest;
        uint64_t avail = tg_avail_addr(t, VB_QUEUE_STATS);
        uint16_t at = (uint16_t)(t->avail_idx[VB_QUEUE_STATS] % 128u);
        unsigned bad = 0;
        (direct ? floor_timer_direct : floor_timer_cb)(f);
        guest_turnaround(t);
        switch (c) {
        case 0: tg_set_avail_idx(t, VB_QUEUE_STATS, (uint16_t)(t->avail_idx[VB_QUEUE_STATS] + 200u)); break;
        case 1: tg_put16(t, avail + 4u + 2u * at, 128); break;
        case 2: tg_desc(t, VB_QUEUE_STATS, 0, TG_DATA, 160, 1, 1); break;
        case 3: tg_desc(t, VB_QUEUE_STATS, 0, TG_DATA, 160, 4, 0); break;
        case 4: tg_desc(t, VB_QUEUE_STATS, 0, TG_DATA, 160, 2, 0); break;
        case 5: tg_desc(t, VB_QUEUE_STATS, 0, TG_MEM - 100u, 160, 0, 0); break;
        default: tg_desc(t, VB_QUEUE_STATS, 0, UINT64_MAX - 10u, 160, 0, 0); break;
        }
        (direct ? floor_kick_direct : floor_kick_cb)(f);
        for (i = 0; i < 16; i++) bad |= f->stat[i] != sample[i];
        if (!f->broken || bad || f->updates != 1 || tg_used_idx(t, VB_QUEUE_STATS) != 1) {
            fprintf(stderr, "bench: floor (%s) took a hostile buffer: %s\n",
                    direct ? "direct" : "callbacks", what[c]);
            exit(1);
        }
    }
}

static inline void floor_round(floor_dev *f, int direct)
{
    tg *t = &tguest;
    t->now_ms = t->deadline;
    if (direct) floor_timer_direct(f);
    else floor_timer_cb(f);
    guest_turnaround(t);
    if (direct) floor_kick_direct(f);
    else floor_kick_cb(f);
}

/* device_ns: the device's 16-tag direct round on the same memory path (map for RAM direct, copy
   callbacks for callbacks), measured just before */
static void bench_floor(int direct, double device_ns)
{
    const unsigned long n = quick ? 20000 : 200000;
    double ns[RUNS];
    unsigned long allocs, r;
    char value[96];
    int run;
    floor_dev *f;

    floor_refusals(direct);
    f = floor_setup(direct);
    for (r = 0; r < n / 10; r++) floor_round(f, direct); /* warm up */
    allocs = alloc_count;
    for (run = 0; run < RUNS; run++) {
        double t0 = now_ns();
        for (r = 0; r < n; r++) floor_round(f, direct);
        ns[run] = (now_ns() - t0) / (double)n;
    }
    allocs = alloc_count - allocs;
    floor_check(f, n / 10 + RUNS * n, direct ? "direct" : "callbacks");
    snprintf(value, sizeof value, "%.1f ns  %lu allocs  device / floor %.2fx", median(ns, RUNS),
             allocs, device_ns / median(ns, RUNS));
    row("round", direct ? "  floor (bench/floor.h), 16 tags, direct, RAM direct"
                        : "  floor (bench/floor.h), 16 tags, direct, callbacks", value, "");
}

/* ============================================================================================
   1b. FREE PAGE REPORTING AND HINTING
   Linux's buffers, one at a time as Linux sends them, through the same lean callbacks: a
   reporting buffer is an indirect table of 32 device-writable ranges of 4 MiB (its capacity,
   ranges of MAX_ORDER - 1 pages); a hint buffer is one direct 4 MiB range, in START. The ranges
   lie past tests/guest.h's 1 MiB: the device never reads them, it hands them to pages(). The
   figure is the device's; with --work pages() is what a VMM with flat anonymous RAM does with a
   reported range (madvise MADV_DONTNEED of RAM the guest touched again between buffers, the
   touching not timed) and the time spent inside pages() is shown apart.
   ============================================================================================ */

#define RANGE_GPA 0x40000000u /* guest-physical 1 GiB: where the reported ranges are */
#define RANGE_LEN (4u << 20)  /* one range: 4 MiB */
#define RANGES 32u            /* Linux's reporting capacity, VB_RANGES_MAX_PER_BUFFER */

static unsigned char *range_ram; /* NULL: pages() only counts; else the ranges' host memory */
static double pages_ns;          /* time spent in pages() doing the work */
static unsigned long pages_calls;

static void lean_pages(void *user, unsigned kind, uint64_t gpa, uint64_t len)
{
    (void)user;
    (void)kind;
    pages_calls++;
    if (range_ram) {
        double t0 = now_ns();
        if (madvise(range_ram + (gpa - RANGE_GPA), (size_t)len, MADV_DONTNEED) != 0) die("madvise");
        pages_ns += now_ns() - t0;
    }
}

static const vb_host page_host = {lean_read, lean_write, tg_now, lean_arm, tg_cancel,
                                  tg_wall,   lean_notify, tg_notify_config, lean_pages, NULL, NULL, NULL, 0};

/* A device offering `role`'s feature (REPORTING or FREE_PAGE_HINT) to a Linux-like driver that
   accepts it; the buffer is posted at head 0 but not published. Hinting is in START: the host
   started a round and the guest echoed the id. Returns the queue's index. */
static unsigned pages_setup(unsigned role)
{
    tg *t = &tguest;
    const int rep = role == VB_QUEUE_REPORTING;
    vb_config cfg;
    unsigned qi, i;

    memset(t, 0, sizeof *t);
    memset(&cfg, 0, sizeof cfg);
    cfg.options = rep ? VB_OPT_REPORTING : VB_OPT_FREE_PAGE_HINT;
    t->wall = 1358529861;
    t->now_ms = 1000;
    t->next_data = TG_DATA;
    if (vb_init(&t->dev, &cfg, &page_host, t) != VB_OK ||
        tg_probe(t, TG_LINUX_FEATURES | TG_F(rep ? VB_F_REPORTING : VB_F_FREE_PAGE_HINT)) ||
        vb_queue_index(&t->dev, role) < 0)
        die("pages_setup");
    qi = (unsigned)vb_queue_index(&t->dev, role);
    if (tg_queue(t, qi, 128)) die("pages_setup: queue");
    tg_driver_ok(t);
    if (rep) {
        uint64_t table = tg_alloc(t, 16u * RANGES);
        for (i = 0; i < RANGES; i++)
            tg_desc_at(t, table, i, RANGE_GPA + (uint64_t)i * RANGE_LEN, RANGE_LEN,
                       (uint16_t)(2u /* WRITE */ | (i + 1u < RANGES ? 1u /* NEXT */ : 0u)),
                       (uint16_t)(i + 1u));
        tg_desc(t, qi, 0, table, 16u * RANGES, 4 /* INDIRECT */, 0);
    } else {
        uint64_t id = tg_alloc(t, 4);
        if (vb_hint_start(&t->dev) != VB_OK) die("pages_setup: vb_hint_start");
        tg_put32(t, id, vb_hint(&t->dev)->cmd_id); /* the guest echoes the new id */
        tg_desc(t, qi, 1, id, 4, 0, 0);
        tg_publish(t, qi, 1);
        tg_kick(t, qi);
        t->used_seen[qi]++;
        if (vb_hint(&t->dev)->status != VB_HINT_START) die("pages_setup: hinting not started");
        tg_desc(t, qi, 0, RANGE_GPA, RANGE_LEN, 2 /* WRITE */, 0);
    }
    return qi;
}

/* One buffer: the guest publishes it and kicks (the device pops it, walks it, gives its ranges
   to pages(), pushes it back, decides on the interrupt), then takes it back and asks for an
   interrupt at the next used buffer, as Linux's page_reporting_cycle waits for each. */
static inline void pages_round(tg *t, unsigned qi)
{
    tg_publish(t, qi, 0);
    vb_queue_notify(&t->dev, qi);
    t->used_seen[qi]++;
    tg_put16(t, tg_avail_addr(t, qi) + 4u + 2u * t->qsize[qi], t->used_seen[qi]);
}

static void bench_pages(unsigned role, int work)
{
    const int rep = role == VB_QUEUE_REPORTING;
    const unsigned ranges = rep ? RANGES : 1u;
    const unsigned long n = work ? (quick ? 3 : 10) : (quick ? 20000 : 200000);
    const double mib = (double)ranges * RANGE_LEN / 1048576.0;
    double ns[RUNS], in_pages[RUNS];
    unsigned long allocs, r, calls0;
    unsigned qi = pages_setup(role);
    uint16_t used0;
    char what[96], value[128];
    int run;
    tg *t = &tguest;

    if (work) {
        range_ram = mmap(NULL, (size_t)RANGES * RANGE_LEN, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (range_ram == MAP_FAILED) die("mmap");
    }
    for (r = 0; r < (work ? 1 : n / 10); r++) pages_round(t, qi); /* warm up */
    used0 = tg_used_idx(t, qi);
    calls0 = pages_calls;
    allocs = alloc_count;
    for (run = 0; run < RUNS; run++) {
        double t0, sum = 0;
        pages_ns = 0;
        if (!work) {
            t0 = now_ns();
            for (r = 0; r < n; r++) pages_round(t, qi);
            sum = now_ns() - t0;
        } else {
            for (r = 0; r < n; r++) {
                size_t off;
                for (off = 0; off < (size_t)ranges * RANGE_LEN; off += 4096) range_ram[off] = 1;
                t0 = now_ns();
                pages_round(t, qi);
                sum += now_ns() - t0;
            }
        }
        ns[run] = sum / (double)n;
        in_pages[run] = pages_ns / (double)n;
    }
    allocs = alloc_count - allocs;
    if (vb_is_broken(&t->dev) || (uint16_t)(tg_used_idx(t, qi) - used0) != (uint16_t)(RUNS * n) ||
        pages_calls - calls0 != RUNS * n * ranges ||
        vb_get_counters(&t->dev)->bytes_ignored != 0)
        die("pages: the device did not take every range of every buffer");
    if (work) {
        double total = median(ns, RUNS), inside = median(in_pages, RUNS);
        munmap(range_ram, (size_t)RANGES * RANGE_LEN);
        range_ram = NULL;
        snprintf(what, sizeof what, "  same, pages() = madvise(DONTNEED), RAM re-touched");
        snprintf(value, sizeof value, "%.0f us  %.0f MiB/s  pages() %.1f%%, device %.1f us",
                 total / 1e3, mib * 1e9 / total, 100.0 * inside / total, (total - inside) / 1e3);
    } else {
        snprintf(what, sizeof what, "%s, %u x 4 MiB range%s, %s",
                 rep ? "free page reporting" : "free page hint", ranges, ranges > 1 ? "s" : "",
                 rep ? "indirect" : "direct");
        snprintf(value, sizeof value, "%.0f ns  %.3g MiB/s  %lu allocs", median(ns, RUNS),
                 mib * 1e9 / median(ns, RUNS), allocs);
    }
    row("pages", what, value, "");
}

/* ============================================================================================
   2. RENDERING: ours against cJSON
   ============================================================================================ */

/* QEMU's QDict order of the 16 keys (the library's, repeated here to build the same object). */
static const unsigned char order16[16] = {8, 1, 11, 6, 15, 13, 9, 4, 3, 2, 5, 10, 14, 0, 12, 7};

static cJSON *cjson_build(const vb_device *d)
{
    cJSON *root = cJSON_CreateObject(), *stats = cJSON_AddObjectToObject(root, "stats");
    unsigned i;
    for (i = 0; i < 16; i++) {
        uint64_t v;
        vb_stat(d, order16[i], &v);
        cJSON_AddNumberToObject(stats, vb_stat_name(order16[i]), (double)v);
    }
    cJSON_AddNumberToObject(root, "last-update", (double)vb_last_update(d));
    return root;
}

/* The same text apart from cJSON's missing spaces (compact) or its tabs (pretty)? */
static int same_json(const char *a, const char *b)
{
    for (;;) {
        while (*a == ' ' || *a == '\n' || *a == '\t') a++;
        while (*b == ' ' || *b == '\n' || *b == '\t') b++;
        if (*a != *b) return 0;
        if (!*a) return 1;
        a++;
        b++;
    }
}

static char json_ours[4096], json_cjson[4096];

static double bench_render(vb_profile profile, unsigned flags)
{
    const unsigned long n = quick ? 20000 : 200000, nc = n / 4;
    double ours[RUNS], build[RUNS], print[RUNS];
    unsigned long allocs_ours, allocs_cjson, r;
    size_t len = 0;
    char what[96], value[128];
    int run, pretty = (flags & VB_JSON_PRETTY) != 0;
    tg *t = round_setup(16, 0, profile, 0);
    cJSON *prebuilt = cjson_build(&t->dev);

    /* the same object? */
    {
        char *s = pretty ? cJSON_Print(prebuilt) : cJSON_PrintUnformatted(prebuilt);
        if (!s || !same_json(s, tg_render(t, flags))) die("render: cJSON and vballoon.h differ");
        free(s);
    }
    for (run = 0; run < RUNS; run++) {
        double t0;
        allocs_ours = alloc_count;
        t0 = now_ns();
        for (r = 0; r < n; r++) {
            len += vb_render_guest_stats(&t->dev, json_ours, sizeof json_ours, flags);
            __asm__ volatile("" ::: "memory"); /* each render is used */
        }
        ours[run] = (now_ns() - t0) / (double)n;
        allocs_ours = alloc_count - allocs_ours;

        allocs_cjson = alloc_count;
        t0 = now_ns();
        for (r = 0; r < nc; r++) {
            cJSON *o = cjson_build(&t->dev);
            char *s = pretty ? cJSON_Print(o) : cJSON_PrintUnformatted(o);
            len += strlen(s);
            free(s);
            cJSON_Delete(o);
        }
        build[run] = (now_ns() - t0) / (double)nc;
        allocs_cjson = (alloc_count - allocs_cjson) / nc;

        t0 = now_ns();
        for (r = 0; r < nc; r++) {
            if (!cJSON_PrintPreallocated(prebuilt, json_cjson, (int)sizeof json_cjson, pretty))
                die("cJSON_PrintPreallocated");
            __asm__ volatile("" ::: "memory");
        }
        print[run] = (now_ns() - t0) / (double)nc;
    }
    cJSON_Delete(prebuilt);
    if (len == 0 || allocs_ours) die("render: allocated");
    snprintf(what, sizeof what, "render guest-stats, %s profile, 16 keys, %s",
             profile == VB_PROFILE_DOC ? "doc" : "qemu", pretty ? "pretty" : "compact");
    snprintf(value, sizeof value, "%.0f ns  %lu allocs", median(ours, RUNS), allocs_ours);
    row("render", what, value, "");
    snprintf(value, sizeof value, "%.0f ns  %lu allocs  ours %.1fx faster", median(build, RUNS),
             allocs_cjson, median(build, RUNS) / median(ours, RUNS));
    row("render", "  cJSON 1.7.15 build + print + free, same object", value, ">= 10x");
    snprintf(value, sizeof value, "%.0f ns  ours %.1fx faster", median(print, RUNS),
             median(print, RUNS) / median(ours, RUNS));
    row("render", "  cJSON print only (prebuilt, PrintPreallocated)", value, "");
    return median(ours, RUNS);
}

/* The metrics of one device as a scrape sees it: 16 stats, RAM size known, three polls answered
   in 2, 15 and 120 ms (telemetry: answers, latency histogram, age), one label. */
static const vb_label metrics_label[1] = {{"domain", "vm1"}};
static char metrics_out[16384];

static tg *metrics_setup(void)
{
    static const unsigned latency[3] = {2, 15, 120};
    tg *t = round_setup(16, 0, VB_PROFILE_QEMU, 0);
    unsigned i;
    vb_set_ram_size(&t->dev, (uint64_t)1 << 30);
    for (i = 0; i < 3; i++) {
        t->now_ms = t->deadline;
        vb_timer_expired(&t->dev);
        t->now_ms += latency[i];
        guest_turnaround(t);
        vb_queue_notify(&t->dev, VB_QUEUE_STATS);
    }
    if (vb_get_telemetry(&t->dev)->answers != 3) die("metrics_setup: answers");
    return t;
}

static void metrics_device(const tg *t, vb_metrics_device *m)
{
    m->dev = &t->dev;
    m->labels = metrics_label;
    m->nlabels = 1;
}

/* vb_render_metrics of that device in both formats, next to the guest-stats JSON render (its
   median json_ns, qemu profile, compact) as a ratio. */
static void bench_metrics(double json_ns)
{
    const unsigned long n = quick ? 5000 : 50000;
    tg *t = metrics_setup();
    vb_metrics_device m;
    unsigned flags;
    metrics_device(t, &m);
    for (flags = 0; flags <= VB_METRICS_OPENMETRICS; flags++) {
        double ns[RUNS];
        unsigned long allocs = alloc_count, r;
        size_t len = vb_render_metrics(&m, 1, metrics_out, sizeof metrics_out, flags), sum = 0;
        char what[96], value[128];
        int run;
        if (len == 0 || len >= sizeof metrics_out) die("metrics: render");
        for (run = 0; run < RUNS; run++) {
            double t0 = now_ns();
            for (r = 0; r < n; r++) {
                sum += vb_render_metrics(&m, 1, metrics_out, sizeof metrics_out, flags);
                __asm__ volatile("" ::: "memory"); /* each render is used */
            }
            ns[run] = (now_ns() - t0) / (double)n;
        }
        allocs = alloc_count - allocs;
        if (sum != len * n * RUNS || allocs) die("metrics: length changed or allocated");
        snprintf(what, sizeof what, "render metrics, 1 device, 16 stats, %s", flags ? "OpenMetrics" : "Prometheus");
        snprintf(value, sizeof value, "%.0f ns  %zu bytes  %.1fx guest-stats", median(ns, RUNS), len,
                 median(ns, RUNS) / json_ns);
        row("render", what, value, "");
    }
}

/* ============================================================================================
   3. QMP ROUND TRIP over a unix socket
   ============================================================================================ */

typedef struct server {
    const char *name;
    pid_t pid;
    int fd;
    char buf[65536];
    size_t have; /* bytes after the last line taken */
    double *lat;
    size_t nlat;
} server;

static char tmpdir[64];

static pid_t spawn(char *const argv[])
{
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        if (null >= 0) {
            dup2(null, 0);
            dup2(null, 1);
            dup2(null, 2); /* QEMU reports the SIGTERM that ends it */
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    return pid;
}

/* Connect, waiting up to 20 s for the server to create its socket. */
static int connect_unix(const char *path, pid_t pid)
{
    struct sockaddr_un a;
    int tries;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
    for (tries = 0; tries < 2000; tries++) {
        int status, fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (fd < 0) die("socket");
        if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0) return fd;
        close(fd);
        if (waitpid(pid, &status, WNOHANG) == pid) return -1; /* it died */
        usleep(10000);
    }
    return -1;
}

/* The next line that is not an event; 0 at EOF. */
static int read_line(server *s, char *line, size_t cap)
{
    for (;;) {
        char *nl = memchr(s->buf, '\n', s->have);
        if (nl) {
            size_t n = (size_t)(nl - s->buf) + 1;
            int event = memmem(s->buf, n, "\"event\"", 7) != NULL;
            if (!event) {
                size_t c = n < cap ? n : cap - 1;
                memcpy(line, s->buf, c);
                line[c] = 0;
            }
            memmove(s->buf, s->buf + n, s->have - n);
            s->have -= n;
            if (!event) return 1;
            continue;
        }
        {
            ssize_t r = read(s->fd, s->buf + s->have, sizeof s->buf - s->have);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) return 0;
            s->have += (size_t)r;
        }
    }
}

static void send_all(int fd, const char *s, size_t n)
{
    while (n) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) die("write to QMP server");
        s += w;
        n -= (size_t)w;
    }
}

static const char qom_get[] =
    "{\"execute\": \"qom-get\", \"arguments\": {\"path\": \"/machine/peripheral/balloon0\", "
    "\"property\": \"guest-stats\"}}\n";

static int server_start(server *s, const char *name, pid_t pid, const char *sock)
{
    char line[4096];
    memset(s, 0, sizeof *s);
    s->name = name;
    s->pid = pid;
    s->fd = connect_unix(sock, s->pid);
    if (s->fd < 0) return -1;
    if (!read_line(s, line, sizeof line) || !strstr(line, "\"QMP\"")) return -1;
    send_all(s->fd, "{\"execute\": \"qmp_capabilities\"}\n", 32);
    if (!read_line(s, line, sizeof line) || !strstr(line, "\"return\"")) return -1;
    send_all(s->fd, qom_get, sizeof qom_get - 1); /* the reply is the one we time */
    if (!read_line(s, line, sizeof line) || !strstr(line, "stat-free-memory")) {
        fprintf(stderr, "bench: %s: unexpected qom-get reply: %s", name, line);
        return -1;
    }
    return 0;
}

static void server_stop(server *s)
{
    if (s->fd >= 0) close(s->fd);
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        waitpid(s->pid, NULL, 0);
    }
}

/* The floor of a QMP round trip over a unix socket: a server that reads each request line
   whole and writes back a reply line of the size the sim's qom-get reply has (its very bytes),
   with no JSON and no device behind it. Same socket, same client, same batches: ours / echo is
   what vballoon.h and the sim add to the transport. It listens before the fork (the client can
   connect at once) and greets as QMP does, so server_start() takes it as it takes the others. */
static pid_t echo_spawn(const char *sock, const char *reply, size_t len, int client_fd)
{
    struct sockaddr_un a;
    pid_t pid;
    int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (lfd < 0) die("socket");
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    snprintf(a.sun_path, sizeof a.sun_path, "%s", sock);
    if (bind(lfd, (struct sockaddr *)&a, sizeof a) || listen(lfd, 1)) die("echo server: bind");
    pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        static char buf[65536];
        size_t have = 0;
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0) _exit(1);
        close(client_fd); /* the parent's, to the sim */
        close(lfd);
        send_all(fd, "{\"QMP\": {}}\n", 12);
        for (;;) {
            char *nl;
            ssize_t r = read(fd, buf + have, sizeof buf - have);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) _exit(0); /* the client closed */
            have += (size_t)r;
            while ((nl = memchr(buf, '\n', have)) != NULL) { /* one reply per whole line */
                size_t n = (size_t)(nl - buf) + 1;
                send_all(fd, reply, len);
                memmove(buf, buf + n, have - n);
                have -= n;
            }
            if (have == sizeof buf) _exit(1);
        }
    }
    close(lfd);
    return pid;
}

static void qmp_batch(server *s, size_t n)
{
    char line[4096];
    size_t i;
    for (i = 0; i < n; i++) {
        double t0 = now_ns();
        send_all(s->fd, qom_get, sizeof qom_get - 1);
        if (!read_line(s, line, sizeof line)) die("QMP server closed the connection");
        s->lat[s->nlat++] = (now_ns() - t0) / 1e3;
        if (!strstr(line, "\"return\"")) die("qom-get failed");
    }
}

static void bench_qmp(const char *sim, const char *qemu)
{
    const size_t batch = quick ? 200 : 1000, batches = quick ? 5 : 10, total = batch * batches;
    server ours, echo, theirs;
    char sock_ours[128], sock_echo[96], sock_qemu[128], qmp_arg[160], qemu_arg[160], value[128];
    char reply[4096];
    size_t b;
    int with_qemu = qemu != NULL;
    double med_ours, med_echo, med_qemu = 0;

    /* The client and every server on one CPU (the servers inherit it): across CPUs a round trip
       is decided by waking an idle CPU (tens of microseconds on a VM, and whether the scheduler
       puts a server next to the client), not by the servers' work. */
    pin_one_core();
    snprintf(sock_ours, sizeof sock_ours, "%s/sim.sock", tmpdir);
    snprintf(sock_echo, sizeof sock_echo, "%s/echo.sock", tmpdir);
    snprintf(sock_qemu, sizeof sock_qemu, "%s/qemu.sock", tmpdir);
    snprintf(qmp_arg, sizeof qmp_arg, "unix:%s", sock_ours);
    snprintf(qemu_arg, sizeof qemu_arg, "unix:%s,server=on,wait=off", sock_qemu);
    {
        /* QEMU 7.2's guest-stats: the qemu profile, 10 keys (the reply QEMU gives, same size). */
        char *argv[] = {(char *)sim, "--qmp", qmp_arg, "--profile", "qemu", "--keys", "10",
                        "--virtual-clock", "--fixed-stats", NULL};
        if (server_start(&ours, "vballoon-sim", spawn(argv), sock_ours))
            die("cannot start vballoon-sim --qmp");
    }
    send_all(ours.fd, qom_get, sizeof qom_get - 1); /* the echo server's reply: the sim's */
    if (!read_line(&ours, reply, sizeof reply) || strlen(reply) >= sizeof reply - 1)
        die("qom-get reply");
    if (server_start(&echo, "echo", echo_spawn(sock_echo, reply, strlen(reply), ours.fd), sock_echo))
        die("cannot start the echo server");
    if (with_qemu) {
        char *argv[] = {(char *)qemu, "-S", "-nodefaults", "-display", "none", "-machine", "pc",
                        "-accel", "tcg", "-device", "virtio-balloon,id=balloon0", "-qmp",
                        qemu_arg, NULL};
        if (server_start(&theirs, "qemu", spawn(argv), sock_qemu)) {
            fprintf(stderr, "bench: cannot start %s; QMP comparison skipped\n", qemu);
            server_stop(&theirs);
            with_qemu = 0;
        }
    }
    ours.lat = malloc(total * sizeof *ours.lat);
    echo.lat = malloc(total * sizeof *echo.lat);
    theirs.lat = with_qemu ? malloc(total * sizeof *theirs.lat) : NULL;
    if (!ours.lat || !echo.lat || (with_qemu && !theirs.lat)) die("malloc");
    qmp_batch(&ours, batch / 4); /* warm up all, then alternate batches */
    ours.nlat = 0;
    qmp_batch(&echo, batch / 4);
    echo.nlat = 0;
    if (with_qemu) {
        qmp_batch(&theirs, batch / 4);
        theirs.nlat = 0;
    }
    for (b = 0; b < batches; b++) {
        qmp_batch(&ours, batch);
        qmp_batch(&echo, batch);
        if (with_qemu) qmp_batch(&theirs, batch);
    }
    med_ours = median(ours.lat, ours.nlat);
    snprintf(value, sizeof value, "median %.1f us  p99 %.1f us", med_ours,
             percentile(ours.lat, ours.nlat, 0.99));
    row("qmp", "qom-get guest-stats, vballoon-sim --qmp (unix socket, 1 CPU)", value, "");
    med_echo = median(echo.lat, echo.nlat);
    snprintf(value, sizeof value, "median %.1f us  p99 %.1f us", med_echo,
             percentile(echo.lat, echo.nlat, 0.99));
    row("qmp", "  unix-socket echo server, same reply, interleaved", value, "");
    snprintf(value, sizeof value, "%.2fx the echo's median", med_ours / med_echo);
    row("qmp", "  ratio ours / echo (the transport's floor)", value, "<= 1.25x");
    if (with_qemu) {
        med_qemu = median(theirs.lat, theirs.nlat);
        snprintf(value, sizeof value, "median %.1f us  p99 %.1f us", med_qemu,
                 percentile(theirs.lat, theirs.nlat, 0.99));
        row("qmp", "  QEMU 7.2 -S -accel tcg, same client, interleaved", value, "");
        snprintf(value, sizeof value, "%.1fx lower median", med_qemu / med_ours);
        row("qmp", "  ratio QEMU / ours", value, ">= 10x");
        server_stop(&theirs);
    } else {
        row("qmp", "  QEMU 7.2", "not run (make bench-qemu)", ">= 10x");
    }
    server_stop(&echo);
    unlink(sock_echo);
    server_stop(&ours);
    free(echo.lat);
    free(ours.lat);
    free(theirs.lat);
    unpin();
}

/* ============================================================================================
   4. SCALE: 10,000 devices, each with a small simulated guest, on one virtual clock
   ============================================================================================ */

#define SCALE_Q 128u                        /* queue size, the default */
#define SCALE_QSTRIDE 3344u                 /* desc 2048 + avail 262 (+2) + used 1030 (+2) */
#define SCALE_STATS (3u * SCALE_QSTRIDE)    /* the driver's stats buffer, 160 bytes */
#define SCALE_RAM (SCALE_STATS + 160u)      /* guest RAM each guest needs for the balloon */

typedef struct sdev {
    vb_device dev;
    unsigned char *ram; /* SCALE_RAM bytes of guest RAM */
    uint64_t deadline;
    uint32_t gen;      /* bumped by every arm/cancel: older heap entries are stale */
    uint8_t armed, irq;
    uint16_t avail_idx, used_seen, tags;
} sdev;

typedef struct tentry {
    uint64_t when;
    uint32_t dev, gen;
} tentry;

static uint64_t sclock; /* the virtual VM clock, ms */
static sdev *sdevs;
static tentry *theap;
static size_t theap_n, theap_cap;

static void heap_push(tentry e)
{
    size_t i = theap_n++;
    if (theap_n > theap_cap) {
        theap_cap = theap_cap ? 2 * theap_cap : 1024;
        theap = realloc(theap, theap_cap * sizeof *theap);
        if (!theap) die("realloc");
    }
    while (i && theap[(i - 1) / 2].when > e.when) {
        theap[i] = theap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    theap[i] = e;
}

static tentry heap_pop(void)
{
    tentry top = theap[0], last = theap[--theap_n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= theap_n) break;
        if (c + 1 < theap_n && theap[c + 1].when < theap[c].when) c++;
        if (theap[c].when >= last.when) break;
        theap[i] = theap[c];
        i = c;
    }
    if (theap_n) theap[i] = last;
    return top;
}

static int s_read(void *user, uint64_t gpa, void *dst, size_t len)
{
    sdev *s = (sdev *)user;
    if (gpa > SCALE_RAM || len > SCALE_RAM - gpa) return -1;
    memcpy(dst, s->ram + gpa, len);
    return 0;
}

static int s_write(void *user, uint64_t gpa, const void *src, size_t len)
{
    sdev *s = (sdev *)user;
    if (gpa > SCALE_RAM || len > SCALE_RAM - gpa) return -1;
    memcpy(s->ram + gpa, src, len);
    return 0;
}

static uint64_t s_now(void *user)
{
    (void)user;
    return sclock;
}

static int64_t s_wall(void *user)
{
    (void)user;
    return 1358529861 + (int64_t)(sclock / 1000u);
}

static void s_arm(void *user, uint64_t when)
{
    sdev *s = (sdev *)user;
    tentry e;
    s->armed = 1;
    s->deadline = when;
    e.when = when;
    e.dev = (uint32_t)(s - sdevs);
    e.gen = ++s->gen;
    heap_push(e);
}

static void s_cancel(void *user)
{
    sdev *s = (sdev *)user;
    s->armed = 0;
    s->gen++;
}

static void s_notify(void *user, unsigned q) { ((sdev *)user)->irq |= (uint8_t)(1u << q); }
static void s_config(void *user) { (void)user; }

static const vb_host scale_host = {s_read, s_write, s_now, s_arm, s_cancel, s_wall, s_notify, s_config,
                                   NULL,   NULL,    NULL, NULL, 0};

static void s_put16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

static uint16_t s_get16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }

static void s_put64(unsigned char *p, uint64_t v)
{
    int i;
    for (i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* The driver's stats buffer: update_balloon_stats() with values that move. */
static void s_refill(sdev *s)
{
    const uint16_t *order = s->tags == 16 ? tg_linux612_tags : tg_linux61_tags;
    unsigned i;
    for (i = 0; i < s->tags; i++) {
        s_put16(s->ram + SCALE_STATS + 10u * i, order[i]);
        s_put64(s->ram + SCALE_STATS + 10u * i + 2u, sample[order[i]] + sclock / 1000u);
    }
}

/* Queue the stats buffer (descriptor 0, direct) and kick if the device asked (EVENT_IDX). */
static void s_post(sdev *s)
{
    unsigned char *q = s->ram + 2u * SCALE_QSTRIDE, *avail = q + 16u * SCALE_Q;
    unsigned char *used = avail + 264u;
    uint16_t old = s->avail_idx, event;
    s_put64(q, SCALE_STATS);
    s_put16(q + 8, (uint16_t)(10u * s->tags));
    s_put16(q + 10, 0);
    s_put16(q + 12, 0);
    s_put16(avail + 4u + 2u * (old & (SCALE_Q - 1u)), 0);
    s->avail_idx++;
    s_put16(avail + 2u, s->avail_idx);
    event = s_get16(used + 4u + 8u * SCALE_Q); /* avail_event */
    if ((uint16_t)(s->avail_idx - event - 1u) < (uint16_t)(s->avail_idx - old))
        vb_queue_notify(&s->dev, VB_QUEUE_STATS);
}

/* The guest's interrupt handler: stats_request() refills, takes the buffer back, re-queues. */
static void s_guest(sdev *s)
{
    unsigned char *avail = s->ram + 2u * SCALE_QSTRIDE + 16u * SCALE_Q, *used = avail + 264u;
    if (!(s->irq & (1u << VB_QUEUE_STATS))) return;
    s->irq = 0;
    s_refill(s);
    if (s->used_seen == s_get16(used + 2u)) return;
    s->used_seen++;
    s_put16(avail + 4u + 2u * SCALE_Q, s->used_seen); /* used_event */
    s_post(s);
}

static long rss_kib(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return 0;
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    fclose(f);
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static void bench_scale(unsigned ndev, unsigned seconds)
{
    long rss0, rss1;
    double c0, cpu, wall0, wall;
    unsigned long polls = 0, allocs;
    unsigned i, q;
    uint64_t end;
    char what[96], value[160];

    rss0 = rss_kib();
    sdevs = calloc(ndev, sizeof *sdevs);
    if (!sdevs) die("calloc");
    for (i = 0; i < ndev; i++) {
        sdev *s = &sdevs[i];
        vb_config cfg;
        memset(&cfg, 0, sizeof cfg);
        cfg.poll_interval_s = 1;
        s->ram = calloc(1, SCALE_RAM);
        s->tags = i % 2 ? 16 : 10; /* half Linux 6.12, half 6.1 */
        if (!s->ram || vb_init(&s->dev, &cfg, &scale_host, s) != VB_OK) die("scale setup");
        sclock = (uint64_t)i * 1000u / ndev; /* boots spread over the first second */
        vb_set_status(&s->dev, VB_S_ACKNOWLEDGE | VB_S_DRIVER);
        vb_set_driver_features(&s->dev, TG_LINUX_FEATURES);
        vb_set_status(&s->dev, VB_S_ACKNOWLEDGE | VB_S_DRIVER | VB_S_FEATURES_OK);
        for (q = 0; q < VB_QUEUE_COUNT; q++) {
            uint64_t base = (uint64_t)q * SCALE_QSTRIDE;
            if (vb_queue_setup(&s->dev, q, SCALE_Q, base, base + 2048u, base + 2312u) != VB_OK ||
                vb_queue_set_ready(&s->dev, q, 1) != VB_OK)
                die("scale queue setup");
        }
        s_refill(s);
        s_post(s);
        vb_set_status(&s->dev, VB_S_ACKNOWLEDGE | VB_S_DRIVER | VB_S_FEATURES_OK | VB_S_DRIVER_OK);
    }
    rss1 = rss_kib();

    allocs = alloc_count;
    c0 = cpu_ns();
    wall0 = now_ns();
    end = 1000u + (uint64_t)seconds * 1000u;
    while (theap_n && theap[0].when <= end) {
        tentry e = heap_pop();
        sdev *s = &sdevs[e.dev];
        if (e.gen != s->gen || !s->armed) continue; /* re-armed or cancelled since */
        if (e.when > sclock) sclock = e.when;
        s->armed = 0;
        vb_timer_expired(&s->dev);
        s_guest(s);
    }
    cpu = cpu_ns() - c0;
    wall = now_ns() - wall0;
    allocs = alloc_count - allocs; /* the timer heap only grows while devices are added */
    for (i = 0; i < ndev; i++) {
        polls += vb_get_counters(&sdevs[i].dev)->polls;
        if (vb_is_broken(&sdevs[i].dev)) die("scale: a device broke");
    }
    if (polls < (unsigned long)ndev * (seconds - 1)) die("scale: devices were not polled every second");
    snprintf(what, sizeof what, "%u devices, 1 s polls, %u simulated s", ndev, seconds);
    snprintf(value, sizeof value, "%.2f ms CPU per simulated s (%.0f ns/poll, %.2f%% of a core)",
             cpu / 1e6 / seconds, cpu / (double)polls, cpu / 1e6 / seconds / 10.0);
    row("scale", what, value, "");
    snprintf(value, sizeof value, "%lu polls in %.2f s wall, %lu allocs", polls, wall / 1e9, allocs);
    row("scale", "  polls answered", value, "");
    snprintf(value, sizeof value, "%.0f B RSS (device %zu B + host %zu B + guest RAM %u B)",
             (double)(rss1 - rss0) * 1024.0 / ndev, sizeof(vb_device),
             sizeof(sdev) - sizeof(vb_device), SCALE_RAM);
    row("scale", "  memory per device", value, "");
    for (i = 0; i < ndev; i++) {
        vb_destroy(&sdevs[i].dev);
        free(sdevs[i].ram);
    }
    free(sdevs);
    free(theap);
    theap = NULL;
    theap_n = theap_cap = 0;
}

/* ============================================================================================
   5. --instr NAME: one hot path with callgrind collection on around it, nothing else collected
   ============================================================================================ */

#define INSTR_ROUNDS 1000

static int instr(const char *name)
{
    unsigned r;
    if (!HAVE_CALLGRIND) {
        fprintf(stderr, "bench: built without valgrind/callgrind.h\n");
        return 1;
    }
    if (!strncmp(name, "round", 5)) { /* round10d ... round16im: tags, d/i descriptor, m = map,
                                          p = packed ring */
        unsigned tags = (unsigned)atoi(name + 5);
        round_packed = strchr(name + 5, 'p') != NULL;
        tg *t = round_setup(tags, strchr(name + 5, 'i') != NULL, VB_PROFILE_DOC, strchr(name + 5, 'm') != NULL);
        /* called through volatile pointers: not inlined, so nothing of the guest's part can be
           scheduled inside the collected region */
        void (*volatile expire)(vb_device *) = vb_timer_expired;
        int (*volatile kick)(vb_device *, unsigned) = vb_queue_notify;
        for (r = 0; r < 100; r++) stats_round(t); /* warm */
        for (r = 0; r < INSTR_ROUNDS; r++) {
            t->now_ms = t->deadline;
            CALLGRIND_TOGGLE_COLLECT;
            expire(&t->dev);
            CALLGRIND_TOGGLE_COLLECT;
            guest_turnaround(t);
            CALLGRIND_TOGGLE_COLLECT;
            kick(&t->dev, VB_QUEUE_STATS);
            CALLGRIND_TOGGLE_COLLECT;
        }
        return vb_get_counters(&t->dev)->updates == 1 + 100 + INSTR_ROUNDS ? 0 : 1;
    }
    if (!strcmp(name, "floord") || !strcmp(name, "floorc")) { /* the floor, 16 tags, direct */
        int direct = name[5] == 'd';
        floor_dev *f = floor_setup(direct);
        tg *t = &tguest;
        void (*volatile expire)(floor_dev *) = direct ? floor_timer_direct : floor_timer_cb;
        void (*volatile kick)(floor_dev *) = direct ? floor_kick_direct : floor_kick_cb;
        for (r = 0; r < 100; r++) floor_round(f, direct); /* warm */
        for (r = 0; r < INSTR_ROUNDS; r++) {
            t->now_ms = t->deadline;
            CALLGRIND_TOGGLE_COLLECT;
            expire(f);
            CALLGRIND_TOGGLE_COLLECT;
            guest_turnaround(t);
            CALLGRIND_TOGGLE_COLLECT;
            kick(f);
            CALLGRIND_TOGGLE_COLLECT;
        }
        floor_check(f, 100 + INSTR_ROUNDS, direct ? "direct" : "callbacks");
        return 0;
    }
    if (!strcmp(name, "report") || !strcmp(name, "hint")) { /* one page queue buffer */
        unsigned role = name[0] == 'r' ? VB_QUEUE_REPORTING : VB_QUEUE_FREE_PAGE;
        unsigned qi = pages_setup(role);
        tg *t = &tguest;
        int (*volatile kick)(vb_device *, unsigned) = vb_queue_notify;
        for (r = 0; r < 100; r++) pages_round(t, qi); /* warm */
        for (r = 0; r < INSTR_ROUNDS; r++) {
            tg_publish(t, qi, 0);
            CALLGRIND_TOGGLE_COLLECT;
            kick(&t->dev, qi);
            CALLGRIND_TOGGLE_COLLECT;
            t->used_seen[qi]++;
            tg_put16(t, tg_avail_addr(t, qi) + 4u + 2u * t->qsize[qi], t->used_seen[qi]);
        }
        return tg_used_idx(t, qi) == (uint16_t)(t->used_seen[qi]) && !vb_is_broken(&t->dev) ? 0 : 1;
    }
    if (!strncmp(name, "render-", 7)) { /* render-doc render-qemu render-doc-pretty */
        vb_profile p = strstr(name, "qemu") ? VB_PROFILE_QEMU : VB_PROFILE_DOC;
        unsigned flags = strstr(name, "pretty") ? VB_JSON_PRETTY : 0;
        tg *t = round_setup(16, 0, p, 0);
        size_t (*volatile render)(const vb_device *, char *, size_t, unsigned) = vb_render_guest_stats;
        for (r = 0; r < INSTR_ROUNDS; r++) {
            CALLGRIND_TOGGLE_COLLECT;
            render(&t->dev, json_ours, sizeof json_ours, flags);
            CALLGRIND_TOGGLE_COLLECT;
        }
        return 0;
    }
    if (!strcmp(name, "qmp-qom-get")) { /* what a host does per request: frame, then execute */
        tg *t = round_setup(16, 0, VB_PROFILE_QEMU, 0);
        size_t (*volatile frame)(vb_qmp *, const char *, size_t, size_t *) = vb_qmp_frame;
        size_t (*volatile execute)(vb_qmp *, const char *, size_t, char *, size_t) = vb_qmp_execute;
        vb_qmp s;
        size_t n = 0, skip = 0;
        vb_qmp_init(&s, &t->dev, VB_QMP_NO_NEGOTIATION);
        for (r = 0; r < INSTR_ROUNDS; r++) {
            CALLGRIND_TOGGLE_COLLECT;
            n = frame(&s, qom_get, sizeof qom_get - 1, &skip);
            n = execute(&s, qom_get + skip, n - skip, json_ours, sizeof json_ours);
            CALLGRIND_TOGGLE_COLLECT;
        }
        return n < sizeof json_ours && strstr(json_ours, "\"return\"") ? 0 : 1;
    }
    if (!strcmp(name, "metrics-prom") || !strcmp(name, "metrics-om")) { /* bench_metrics' device */
        unsigned flags = name[8] == 'o' ? VB_METRICS_OPENMETRICS : 0;
        tg *t = metrics_setup();
        vb_metrics_device m;
        size_t (*volatile render)(const vb_metrics_device *, unsigned, char *, size_t, unsigned) = vb_render_metrics;
        metrics_device(t, &m);
        for (r = 0; r < INSTR_ROUNDS; r++) {
            CALLGRIND_TOGGLE_COLLECT;
            render(&m, 1, metrics_out, sizeof metrics_out, flags);
            CALLGRIND_TOGGLE_COLLECT;
        }
        return 0;
    }
    if (!strcmp(name, "cjson")) {
        tg *t = round_setup(16, 0, VB_PROFILE_DOC, 0);
        for (r = 0; r < INSTR_ROUNDS; r++) {
            cJSON *o;
            char *s;
            CALLGRIND_TOGGLE_COLLECT;
            o = cjson_build(&t->dev);
            s = cJSON_PrintUnformatted(o);
            free(s);
            cJSON_Delete(o);
            CALLGRIND_TOGGLE_COLLECT;
        }
        return 0;
    }
    if (!strcmp(name, "empty")) { /* the cost of one pair of toggles itself */
        for (r = 0; r < INSTR_ROUNDS; r++) {
            CALLGRIND_TOGGLE_COLLECT;
            __asm__ volatile("");
            CALLGRIND_TOGGLE_COLLECT;
        }
        return 0;
    }
    fprintf(stderr, "bench: unknown --instr %s\n", name);
    return 2;
}

/* ============================================================================================
   MAIN
   ============================================================================================ */

int main(int argc, char **argv)
{
    const char *sim = "build/vballoon-sim", *qemu = NULL;
    int i, only_qmp = 0;
    char value[64];

    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--instr") && i + 1 < argc) return instr(argv[i + 1]);
        if (!strcmp(argv[i], "--sim") && i + 1 < argc) sim = argv[++i];
        else if (!strcmp(argv[i], "--qemu") && i + 1 < argc) qemu = argv[++i];
        else if (!strcmp(argv[i], "--quick")) quick = 1;
        else if (!strcmp(argv[i], "--tsv")) tsv = 1;
        else if (!strcmp(argv[i], "--qmp-only")) only_qmp = 1;
        else {
            fprintf(stderr, "usage: bench [--sim PATH] [--qemu PATH] [--quick] [--tsv] [--qmp-only]"
                            " | --instr NAME\n");
            return 2;
        }
    }
    snprintf(tmpdir, sizeof tmpdir, "/tmp/vbbench-%ld", (long)getpid());
    if (mkdir(tmpdir, 0700) != 0) die("mkdir");
    sched_getaffinity(0, sizeof all_cpus, &all_cpus);

    if (!only_qmp) {
        double json_ns, round_ns;
        snprintf(value, sizeof value, "%zu bytes", sizeof(vb_qmp));
        row("size", "sizeof(vb_qmp), x86-64", value, "");

        pin_one_core();
        bench_round(10, 0, 0);
        bench_round(10, 1, 0);
        round_ns = bench_round(16, 0, 0);
        bench_floor(0, round_ns);
        bench_round(16, 1, 0);
        round_ns = bench_round(16, 0, 1);
        bench_floor(1, round_ns);
        bench_round(16, 1, 1);
        round_packed = 1; /* the same round on a packed ring */
        bench_round(16, 0, 0);
        bench_round(16, 0, 1);
        round_packed = 0;
        bench_pages(VB_QUEUE_REPORTING, 0);
        bench_pages(VB_QUEUE_REPORTING, 1);
        bench_pages(VB_QUEUE_FREE_PAGE, 0);
        bench_render(VB_PROFILE_DOC, 0);
        json_ns = bench_render(VB_PROFILE_QEMU, 0);
        bench_render(VB_PROFILE_QEMU, VB_JSON_PRETTY);
        bench_metrics(json_ns);
        bench_scale(10000, quick ? 5 : 30);
        unpin();
    }
    bench_qmp(sim, qemu);
    rmdir(tmpdir);
    return 0;
}
