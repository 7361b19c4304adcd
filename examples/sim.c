/* sim.c - vballoon-sim: a simulated Linux guest and a QMP monitor around vballoon.h
   public domain (Unlicense) - see the end of vballoon.h

   This is the main demo of vballoon.h, meant to be read top to bottom as a tutorial of embedding
   the header in a virtual machine monitor. One process plays both sides of a VM:

     the host (a tiny VMM)     owns the vb_device, guest RAM, the clocks, the interrupt lines and
                               a QMP monitor on stdin/stdout;
     the guest (a tiny Linux)  a driver that negotiates, builds split virtqueues (packed ones with
                               --packed) in its own RAM and answers stats requests and balloon
                               targets the way Linux 6.1 and 6.12 drivers/virtio/virtio_balloon.c
                               do.

   The two halves meet only where a real guest and a real VMM meet. The guest reaches the device
   through the transport entry points (vb_set_status, vb_queue_notify, vb_config_write, ...; think
   of each call as an MMIO exit); the device reaches the guest through guest RAM and interrupts
   (the vb_host callbacks). Interrupts are only latched by the callbacks: the guest handles them
   after the vb_* call returns, because a callback must never call back into the device.

   RUN
       build/vballoon-sim [options]     then type or paste QMP commands, one JSON object each
   The examples of QEMU's docs/virtio-balloon-stats.txt work as pasted (examples/seed-demo.sh
   plays them). --help lists the options.
       build/vballoon-sim dommemstat unix:PATH
   is a client instead: what `virsh dommemstat` prints, from any QMP socket (section 10).

   QMP SOCKET
       --qmp unix:PATH    also listen on a unix socket, as QEMU's -qmp unix:PATH,server=on,
                          wait=off: each client gets the greeting and must send
                          qmp_capabilities first; up to 16 clients at once, each with its own
                          session (a 17th waits in the listen backlog, as a second client of
                          QEMU's socket does); events go to every negotiated monitor. The sim
                          then runs until SIGINT or SIGTERM (end of stdin closes only the stdin
                          monitor) and removes PATH on the way out. bench/ measures qom-get
                          over it. Every monitor, stdin included, takes commands of any length
                          up to QEMU's 64 MiB and is never dropped for reading its replies
                          slowly: it is just not read meanwhile (section 3 has the limits). Socket
                          lines end with CR LF, as QEMU's monitor writes them.

   GUEST PHYSICAL MEMORY
       0x00000000 .. 0x00400000   4 MiB of real bytes (guest_ram[]): the driver's rings, its
                                  stats buffer and its PFN array live here
       0x00400000 .. --ram MiB    page frames only: the guest's page allocator hands them to the
                                  balloon; nobody reads or writes them, so they need no bytes.
                                  map(), read() and write() refuse them, as anything past RAM.
       The device loads and stores guest_ram[] through pointers the map callback gives it;
       --no-map makes it copy through the read/write callbacks instead (the same replies, byte
       for byte; the --verbose summary counts the accesses of each kind).

   TIME
       real (default)     VM clock = CLOCK_MONOTONIC, last-update = CLOCK_REALTIME; the main loop
                          sleeps in poll() on stdin until the device's next deadline.
       --virtual-clock    time stands still until the sim-only command
                          {"execute": "x-advance-clock", "arguments": {"seconds": N}} (or "ms")
                          moves it, running every timer that falls due on the way, in order.
                          Wall clock = 1358529861 (the seed document's last-update) + VM seconds.
                          What is due now (enabling polls at once) runs right after a command.

   RUN STATE
       query-status, stop, cont and quit are the sim's own commands (section 8), answered as
       QEMU 7.2 does, with its STOP, RESUME and SHUTDOWN events before the reply. stop freezes
       the guest (its interrupts wait) and the VM clock (no polls); cont resumes both; -S starts
       stopped ("prelaunch") and the guest boots at the first cont; quit ends the sim.

   FREE PAGES (--free-page-reporting, --free-page-hint, --page-poison, --deflate-on-oom)
       The device offers what these ask for and the guest accepts it as Linux 6.1 does. Reporting:
       2 s after the driver loads, and 2 s after a deflate frees pages, the guest reports every
       naturally aligned 4 MiB block of free memory it has not reported yet, in requests of up
       to 32 blocks, one at a time (Linux spreads a big backlog over several passes). Hinting:
       x-balloon-free-page-hint start (what a migration does) makes the guest echo the new id,
       hint its free 4 MiB blocks, which it holds meanwhile (taken from the top of free memory;
       a balloon that runs out of pages gets them back first, as Linux's shrinker does), and
       send STOP; "done" gives them back; x-query-balloon-free-page-hint shows the round. Page
       poison: --guest-poison init_on_free or page_poison is what the guest does to the pages it
       frees; it then writes poison_val (0 or 0xaaaaaaaa) and the device leaves reported and
       hinted pages alone unless it is 0. --verbose logs what each buffer gave the host.

   STATS
       Every refill reads this host's /proc/meminfo and /proc/vmstat, which is what Linux reads
       inside a guest; --fixed-stats uses the seed document's example values instead (its faults
       grow by 1 major and 100 minor per refill, so each update shows). As in Linux, pages in the
       balloon are gone from total, free and available memory.

   STATS FRESHNESS
       The device counts the polling intervals that end without an answer (vb_telemetry; qom-get
       of x-guest-stats-telemetry shows it); after 3 in a row the stats are stale, and the sim
       sends every monitor the event __org.vballoon_BALLOON_STATS_STALE, {"stale": true,
       "missed-intervals": 3, "last-update": ...}, then {"stale": false, ...} at the next answer,
       one a second at most, as BALLOON_CHANGE. A guest that stops answering:
       {"execute": "x-guest-stats-silence", "arguments": {"silent": true}} stalls its stats work
       (as a stuck workqueue would); "silent": false resumes it, answering the held poll at once.
*/
#define _GNU_SOURCE /* struct ucred, for the dommemstat client (section 10) */
#define VBALLOON_IMPLEMENTATION
#include "vballoon.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "metrics_http.h" /* --metrics: GET /metrics over HTTP (vb_render_metrics) */

/* ============================================================================================
   1. OPTIONS
   ============================================================================================ */

typedef struct options {
    vb_profile profile;      /* --profile doc|qemu */
    unsigned linux_stats;    /* --stats 10 (Linux 6.1) or 16 (Linux 6.12) */
    unsigned keys;           /* --keys: the device's guest-stats key set */
    uint32_t interval;       /* --interval: initial guest-stats-polling-interval */
    uint64_t ram_mib;        /* --ram */
    const char *type_name;   /* --transport: the QOM type named in errors */
    const char *qmp_path;    /* --qmp unix:PATH: a QMP socket besides stdin */
    int pretty, virtual_clock, fixed_stats, verbose, greeting, no_driver;
    int no_map;              /* --no-map: guest RAM only through read/write (no map callback) */
    int packed;              /* --packed: the device offers the packed ring, the guest takes it */
    unsigned queue_size;     /* --queue-size: the guest's ring size (0: the device's maximum) */
    int prelaunch;           /* -S: start paused; the guest boots at the first cont */
    unsigned device_options; /* --deflate-on-oom ...: VB_OPT_* the device offers */
    int guest_poison;        /* --guest-poison: POISON_* */
    mh_options metrics;      /* --metrics ADDR, --metrics-label NAME=VALUE (metrics_http.h) */
} options;

/* What the guest does to the pages it frees (Linux's init_on_free=1 or page_poison=1). */
enum { POISON_OFF, POISON_INIT_ON_FREE, POISON_PAGE_POISON };

static void usage(FILE *f)
{
    fputs("usage: vballoon-sim [options]   (QMP commands on stdin, replies on stdout)\n"
          "       vballoon-sim dommemstat unix:PATH   (virsh dommemstat of a QMP socket)\n"
          "A virtio-balloon device (vballoon.h " VB_VERSION_STRING ") and a simulated guest.\n"
          "  --profile doc|qemu  doc: the 2013 document (unset stat -1, error before the first\n"
          "                      report, alias stats-polling-interval); qemu: current QEMU\n"
          "                      byte for byte (default doc)\n"
          "  --stats 10|16       the guest: Linux 6.1 (10 stats) or 6.12 (16 stats); default 16\n"
          "  --keys 6|7|8|10|16  keys of guest-stats: 16 = QEMU >= 9.2, 10 = QEMU 3.0-9.1,\n"
          "                      6 = the document's example (default 16)\n"
          "  --interval N        initial polling interval in seconds (default 0, off)\n"
          "  --transport pci|mmio  the QOM type errors name: virtio-balloon-pci (default)\n"
          "                      or virtio-balloon-device\n"
          "  --ram MiB           guest RAM for query-balloon and the balloon target, 16..1048576\n"
          "                      (default 1024: the document's example guest)\n"
          "  --virtual-clock     deterministic time: it moves only by the sim's own command\n"
          "                      {\"execute\": \"x-advance-clock\",\n"
          "                       \"arguments\": {\"seconds\": N}} (or \"ms\": N);\n"
          "                      wall clock = 1358529861 + VM seconds\n"
          "  --fixed-stats       deterministic stats (the document's example values) instead of\n"
          "                      this host's /proc/meminfo and /proc/vmstat\n"
          "  --no-driver         the guest never loads its balloon driver\n"
          "  --no-map            the device reaches guest RAM only by copies (read/write\n"
          "                      callbacks) instead of direct pointers (map callback)\n"
          "  --packed            offer VIRTIO_F_RING_PACKED: the guest builds packed rings\n"
          "                      (descriptor ring, driver and device event areas) as Linux\n"
          "  --queue-size N      the guest's rings hold N entries, 1..128 (default: the\n"
          "                      device's 128); the device's maximum is the power of two at\n"
          "                      or above N; split rings need a power of two\n"
          "  --no-indirect       do not offer VIRTIO_RING_F_INDIRECT_DESC (the guest chains\n"
          "                      its multi-entry buffers instead)\n"
          "  --no-event-idx      do not offer VIRTIO_RING_F_EVENT_IDX\n"
          "  --deflate-on-oom    offer VIRTIO_BALLOON_F_DEFLATE_ON_OOM (the guest's memory\n"
          "                      then still counts the balloon's pages in its total)\n"
          "  --free-page-reporting  offer free page reporting: the guest reports its free\n"
          "                      4 MiB blocks 2 s after it loads and after each deflate\n"
          "  --free-page-hint    offer free page hinting: x-balloon-free-page-hint\n"
          "                      {\"action\": \"start\"|\"stop\"|\"done\"} drives a round,\n"
          "                      x-query-balloon-free-page-hint shows it\n"
          "  --page-poison       offer VIRTIO_BALLOON_F_PAGE_POISON\n"
          "  --guest-poison off|init_on_free|page_poison  what the guest does to freed pages\n"
          "                      (default off; with --page-poison it writes poison_val 0 or\n"
          "                      0xaaaaaaaa; without it, it does not accept reporting)\n"
          "  -S                  start paused (query-status prelaunch), as QEMU's -S: the guest\n"
          "                      boots at the first {\"execute\": \"cont\"}\n"
          "  --qmp-greeting      print the QMP greeting and require qmp_capabilities\n"
          "  --qmp unix:PATH     also serve QMP on a unix socket (greeting, qmp_capabilities\n"
          "                      required, up to 16 clients at once); then run until\n"
          "                      SIGINT/SIGTERM\n"
          "  --metrics ADDR      serve Prometheus metrics at GET /metrics over HTTP: ADDR is\n"
          "                      PORT or 127.0.0.1:PORT (loopback only; 0: a free port, printed\n"
          "                      on stderr as \"metrics: listening on 127.0.0.1:PORT\") or\n"
          "                      unix:PATH; then run until SIGINT/SIGTERM\n"
          "  --metrics-label NAME=VALUE  a label on every sample, e.g. vm=web1 (up to 8)\n"
          "  --pretty            pretty-printed replies\n"
          "  --verbose           device log, driver and host actions on stderr\n"
          "  --help              this text\n",
          f);
}

static void bad_usage(const char *what, const char *arg)
{
    fprintf(stderr, "vballoon-sim: %s%s%s\n", what, arg ? ": " : "", arg ? arg : "");
    usage(stderr);
    exit(2);
}

/* A decimal number in [lo, hi]; no sign, no spaces, no trailing junk. */
static uint64_t parse_number(const char *opt, const char *s, uint64_t lo, uint64_t hi)
{
    char *end;
    unsigned long long v;
    if (!s || *s < '0' || *s > '9') bad_usage("expected a number for", opt);
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || *end || v < lo || v > hi) bad_usage("value out of range for", opt);
    return (uint64_t)v;
}

static void parse_options(int argc, char **argv, options *o)
{
    int i;
    memset(o, 0, sizeof *o);
    o->profile = VB_PROFILE_DOC;
    o->linux_stats = 16;
    o->keys = 16;
    o->ram_mib = 1024;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *val = 0, *eq = strchr(a, '=');
        char name[32];
        size_t n = eq ? (size_t)(eq - a) : strlen(a);
        if (n >= sizeof name) bad_usage("unknown option", a);
        memcpy(name, a, n);
        name[n] = 0;
        if (!strcmp(name, "--profile") || !strcmp(name, "--stats") || !strcmp(name, "--keys") ||
            !strcmp(name, "--interval") || !strcmp(name, "--ram") || !strcmp(name, "--transport") ||
            !strcmp(name, "--qmp") || !strcmp(name, "--guest-poison") || !strcmp(name, "--metrics") ||
            !strcmp(name, "--metrics-label") || !strcmp(name, "--queue-size")) {
            val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : 0);
            if (!val) bad_usage("missing value for", name);
        } else if (eq) {
            bad_usage("unexpected value for", name);
        }
        if (!val) val = ""; /* (options without a value never read it) */
        if (!strcmp(name, "--profile")) {
            if (!strcmp(val, "doc")) o->profile = VB_PROFILE_DOC;
            else if (!strcmp(val, "qemu")) o->profile = VB_PROFILE_QEMU;
            else bad_usage("--profile must be doc or qemu, not", val);
        } else if (!strcmp(name, "--stats")) {
            o->linux_stats = (unsigned)parse_number(name, val, 10, 16);
            if (o->linux_stats != 10 && o->linux_stats != 16)
                bad_usage("--stats must be 10 or 16", 0);
        } else if (!strcmp(name, "--keys")) {
            o->keys = (unsigned)parse_number(name, val, 6, 16);
            if (o->keys == 9 || (o->keys > 10 && o->keys < 16))
                bad_usage("--keys must be 6, 7, 8, 10 or 16", 0);
        } else if (!strcmp(name, "--transport")) {
            /* only the QOM type in error messages differs, as in QEMU */
            if (!strcmp(val, "pci")) o->type_name = "virtio-balloon-pci";
            else if (!strcmp(val, "mmio")) o->type_name = "virtio-balloon-device";
            else bad_usage("--transport must be pci or mmio, not", val);
        } else if (!strcmp(name, "--qmp")) {
            /* QEMU's chardev syntax; only the unix form, and sun_path's size bounds the path */
            if (strncmp(val, "unix:", 5) != 0 || !val[5] ||
                strlen(val + 5) >= sizeof(((struct sockaddr_un *)0)->sun_path))
                bad_usage("--qmp must be unix:PATH (a path of at most 107 bytes), not", val);
            o->qmp_path = val + 5;
        } else if (!strcmp(name, "--interval")) {
            o->interval = (uint32_t)parse_number(name, val, 0, UINT32_MAX);
        } else if (!strcmp(name, "--ram")) {
            o->ram_mib = parse_number(name, val, 16, 1048576);
        } else if (!strcmp(name, "--virtual-clock")) {
            o->virtual_clock = 1;
        } else if (!strcmp(name, "--fixed-stats")) {
            o->fixed_stats = 1;
        } else if (!strcmp(name, "--no-driver")) {
            o->no_driver = 1;
        } else if (!strcmp(name, "--no-map")) {
            o->no_map = 1;
        } else if (!strcmp(name, "--packed")) {
            o->packed = 1;
            o->device_options |= VB_OPT_RING_PACKED;
        } else if (!strcmp(name, "--queue-size")) {
            o->queue_size = (unsigned)parse_number(name, val, 1, 128);
        } else if (!strcmp(name, "--no-indirect")) {
            o->device_options |= VB_OPT_NO_INDIRECT;
        } else if (!strcmp(name, "--no-event-idx")) {
            o->device_options |= VB_OPT_NO_EVENT_IDX;
        } else if (!strcmp(name, "--deflate-on-oom")) {
            o->device_options |= VB_OPT_DEFLATE_ON_OOM;
        } else if (!strcmp(name, "--free-page-reporting")) {
            o->device_options |= VB_OPT_REPORTING;
        } else if (!strcmp(name, "--free-page-hint")) {
            o->device_options |= VB_OPT_FREE_PAGE_HINT;
        } else if (!strcmp(name, "--page-poison")) {
            o->device_options |= VB_OPT_PAGE_POISON;
        } else if (!strcmp(name, "--guest-poison")) {
            if (!strcmp(val, "off")) o->guest_poison = POISON_OFF;
            else if (!strcmp(val, "init_on_free")) o->guest_poison = POISON_INIT_ON_FREE;
            else if (!strcmp(val, "page_poison")) o->guest_poison = POISON_PAGE_POISON;
            else bad_usage("--guest-poison must be off, init_on_free or page_poison, not", val);
        } else if (!strcmp(name, "--metrics") || !strcmp(name, "--metrics-label")) {
            const char *why = mh_option(&o->metrics, name, val);
            if (why) bad_usage(why, val);
        } else if (!strcmp(name, "-S")) {
            o->prelaunch = 1;
        } else if (!strcmp(name, "--qmp-greeting")) {
            o->greeting = 1;
        } else if (!strcmp(name, "--pretty")) {
            o->pretty = 1;
        } else if (!strcmp(name, "--verbose")) {
            o->verbose = 1;
        } else if (!strcmp(name, "--help")) {
            usage(stdout);
            exit(0);
        } else {
            bad_usage("unknown option", a);
        }
    }
    /* a split ring's indices wrap at 2^16: only a power of two divides that */
    if (o->queue_size & (o->queue_size - 1u) && !o->packed)
        bad_usage("--queue-size must be a power of two without --packed", 0);
}

/* ============================================================================================
   2. THE HOST: GUEST RAM, CLOCKS, INTERRUPT LINES, THE vb_host CALLBACKS
   ============================================================================================ */

#define GUEST_BACKED 0x400000u            /* bytes of guest RAM that exist in this process */
#define SEED_EPOCH INT64_C(1358529861)    /* the seed document's last-update */
#define IRQ_QUEUE(q) (1u << (q))          /* the used-buffer interrupt of queue q */
#define IRQ_CONFIG (1u << VB_QUEUE_MAX)   /* the configuration-change interrupt */

/* Page-aligned, as a real VMM's mmap()ed RAM: the device uses a mapped ring (host_map) only if
   the host pointer is as aligned as the ring is in the guest. */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((aligned(4096)))
#endif
static unsigned char guest_ram[GUEST_BACKED];

/* QEMU rate-limits some events to one per second, each type on its own: the first event of a
   quiet period goes out at once, later ones wait for the period to end and only the newest of
   them is sent. The sim does that for BALLOON_CHANGE and the stats-stale event. */
enum { EV_BALLOON_CHANGE, EV_STATS_STALE, EV_KINDS };

typedef struct event_throttle {
    int open;             /* inside a one-second window */
    uint64_t deadline_ms; /* end of the window */
    int pending;          /* an event waits for the end of the window */
    char line[1024];
    size_t len;
} event_throttle;

/* One QMP monitor: stdin/stdout (mon[0]) or a client of the --qmp socket. Each has its own
   session (capabilities negotiation), the bytes it sent that are not framed into commands yet,
   and the replies it has not taken yet (section 3 says how much of each is kept, and why). */
#define CLIENTS_MAX 16 /* at once; more wait in the listen backlog, as a second client of QEMU's */

typedef struct buffer {
    char *p;
    size_t off, len, cap; /* the bytes are p[off, len) */
} buffer;

typedef struct monitor {
    int in, out;    /* file descriptors; in == -1: the slot is free */
    vb_qmp qmp;
    buffer input;   /* bytes not yet framed */
    buffer output;  /* replies and events not yet written */
    int eof;        /* its input ended: answer what is complete, then close */
    int paused;     /* its output is backed up: its input is not read, its commands wait */
    int deferred;   /* a long unfinished command got more bytes and was not framed again yet */
    size_t framed;  /* bytes of the unfinished command the last vb_qmp_frame saw (0: none) */
    char quote;     /* paste_fixup: inside a '...' or "..." string, */
    int escape;     /* after its backslash, */
    size_t hold;    /* 1: the last byte is C2, its partner not here yet */
} monitor;

typedef struct vmm {
    vb_device dev;
    monitor mon[1 + CLIENTS_MAX]; /* mon[0]: stdin/stdout */
    int listen_fd;                /* --qmp socket, or -1 */
    options opt;
    uint64_t clock_ms;   /* virtual clock (--virtual-clock) */
    uint64_t start_ms;   /* VM clock at start, for the verbose log */
    unsigned irq;        /* interrupt lines raised by the device, not yet handled by the guest */
    int actual_changed;  /* the driver wrote a new `actual`: send BALLOON_CHANGE */
    int stale_changed;   /* the stats went stale or fresh: send the stale event */
    int stale_told;      /* what the last stale event said */
    uint64_t kick_pages, kick_ranges; /* pages() calls during the current page queue kick */
    uint64_t mapped, copied; /* guest RAM accesses: pointers map() gave, read()/write() copies */
    uint64_t guest_timer_ms; /* the guest's own timer (page reporting's delay), UINT64_MAX: none */
    event_throttle events[EV_KINDS];
    int run_state;         /* RUN_*: the guest runs and the VM clock moves only while running */
    uint64_t frozen_ms;    /* real clock: the VM clock while it stands */
    uint64_t stood_ms;     /* real clock: monotonic time the VM clock stood, all stops together */
    uint64_t wall_skew_ms; /* virtual clock: time x-advance-clock moved while the VM stood */
    int quit;              /* QMP quit: answer nothing more, leave the main loop */
} vmm;

/* QEMU's run states (query-status), as far as the sim has them. */
enum { RUN_RUNNING, RUN_PAUSED, RUN_PRELAUNCH };
static const char *const run_state_names[] = {"running", "paused", "prelaunch"};

/* A fatal host error (exit status 1), with the system's reason if a call failed. */
static void die(const char *what)
{
    if (errno) fprintf(stderr, "vballoon-sim: %s: %s\n", what, strerror(errno));
    else fprintf(stderr, "vballoon-sim: %s\n", what);
    exit(1);
}

static uint64_t clock_ms(clockid_t id)
{
    struct timespec ts;
    if (clock_gettime(id, &ts) != 0) die("clock_gettime");
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The VM clock: it drives the poll timer. As QEMU's virtual clock, it stands while the VM is
   stopped (stop, or -S before the first cont). */
static uint64_t vm_now(const vmm *v)
{
    if (v->opt.virtual_clock) return v->clock_ms;
    if (v->run_state != RUN_RUNNING) return v->frozen_ms;
    return clock_ms(CLOCK_MONOTONIC) - v->stood_ms;
}

/* The host's wall clock: last-update and event timestamps. */
static void wall_now(const vmm *v, int64_t *seconds, int64_t *micros)
{
    struct timespec ts;
    if (v->opt.virtual_clock) {
        uint64_t ms = v->clock_ms + v->wall_skew_ms;
        *seconds = SEED_EPOCH + (int64_t)(ms / 1000u);
        *micros = (int64_t)(ms % 1000u) * 1000;
        return;
    }
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0) die("clock_gettime");
    *seconds = (int64_t)ts.tv_sec;
    *micros = (int64_t)ts.tv_nsec / 1000;
}

/* The verbose log: "[   2.000] who: what" on stderr, time in VM seconds since start. */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 3, 4)))
#endif
static void say(const vmm *v, const char *who, const char *fmt, ...)
{
    va_list ap;
    uint64_t t;
    if (!v->opt.verbose) return;
    t = vm_now(v) - v->start_ms;
    fprintf(stderr, "[%4" PRIu64 ".%03u] %s: ", t / 1000u, (unsigned)(t % 1000u), who);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* --- the callbacks. `user` is the vmm; none of them calls a vb_* function. --- */

/* Guest RAM, the safe default: the device copies what it reads and writes through these two. */
static int host_read(void *user, uint64_t gpa, void *dst, size_t len)
{
    ((vmm *)user)->copied++;
    if (gpa > GUEST_BACKED || len > GUEST_BACKED - gpa) return -1; /* not RAM we have */
    memcpy(dst, guest_ram + gpa, len);
    return 0;
}

static int host_write(void *user, uint64_t gpa, const void *src, size_t len)
{
    ((vmm *)user)->copied++;
    if (gpa > GUEST_BACKED || len > GUEST_BACKED - gpa) return -1;
    memcpy(guest_ram + gpa, src, len);
    return 0;
}

/* Guest RAM, the direct path: our own pointer to the bytes, which the device then loads and
   stores itself (each ring field still once per decision). Why: a stats round costs about half
   the instructions of the copies (README, "Benchmarks"). The rings are mapped once, when their
   queue starts, and kept: guest_ram[] never moves, so we never call vb_memory_changed(). What
   it refuses (NULL) goes through read/write, which refuse it too: the page frames past 4 MiB
   have no bytes here. All of guest RAM is writable, so `write` changes nothing. */
static void *host_map(void *user, uint64_t gpa, uint64_t len, int write)
{
    vmm *v = (vmm *)user;
    (void)write;
    if (v->opt.no_map || gpa > GUEST_BACKED || len > GUEST_BACKED - gpa) return NULL;
    v->mapped++;
    return guest_ram + gpa;
}

static uint64_t host_now_ms(void *user) { return vm_now((vmm *)user); }

static int64_t host_wall_s(void *user)
{
    int64_t s, us;
    wall_now((vmm *)user, &s, &us);
    return s;
}

/* Interrupts are only latched here; the guest takes them once the vb_* call has returned. */
static void host_notify_queue(void *user, unsigned queue)
{
    ((vmm *)user)->irq |= IRQ_QUEUE(queue);
}

static void host_notify_config(void *user) { ((vmm *)user)->irq |= IRQ_CONFIG; }

/* A real VMM would discard (inflate, reported) or pre-fault (deflate) the range, or skip
   hinted ones in its migration pass; we only count. */
static void host_pages(void *user, unsigned queue, uint64_t gpa, uint64_t len)
{
    vmm *v = (vmm *)user;
    (void)queue;
    (void)gpa;
    v->kick_pages += len >> VB_PAGE_SHIFT;
    v->kick_ranges++;
}

/* The event needs the device (vb_qmp_event_balloon_change): note it, send it after the exit. */
static void host_actual_changed(void *user, uint32_t actual)
{
    vmm *v = (vmm *)user;
    (void)actual;
    v->actual_changed = 1;
}

/* The stats went stale (K polling intervals without an answer) or fresh again: the event reads
   the device too, so it waits for the exit as well. */
static void host_stats_stale(void *user, int stale)
{
    (void)stale;
    ((vmm *)user)->stale_changed = 1;
}

static void host_log(void *user, vb_log_level level, vb_log_item item, const char *msg)
{
    static const char *const names[] = {"", "error", "warning", "info"};
    vmm *v = (vmm *)user;
    (void)item;
    if (level == VB_LOG_ERROR && !v->opt.verbose) /* ring errors are worth seeing anyway */
        fprintf(stderr, "vballoon-sim: device error: %s\n", msg);
    say(v, "device", "%s: %s", names[level], msg);
}

/* No timer_arm/timer_cancel: our main loop simply asks vb_next_deadline() before it sleeps. */
static const vb_host host_ops = {
    host_read, host_write, host_now_ms, NULL, NULL, host_wall_s, host_notify_queue,
    host_notify_config, host_pages, host_actual_changed, host_log, host_stats_stale, host_map,
};

/* ============================================================================================
   3. THE HOST: QMP OUTPUT AND EVENTS (BALLOON_CHANGE, STATS STALE)
   ============================================================================================ */

/* How much of a monitor's input and output is kept:
   - Output (replies, events) waits in its buffer until the monitor's socket or stdout takes it.
     Back-pressure: once more than OUT_HIGH bytes wait, the monitor's input is no longer read and
     its commands wait, until all but OUT_LOW bytes are taken; the guest, the clock and the other
     monitors go on meanwhile. A client that writes without reading thus ends up blocked in its
     own write, as with any pipe; it is never dropped for being slow (QEMU keeps reading and
     buffers every reply instead; a limit here keeps the sim's memory in check).
   - Input grows for a long command up to INPUT_LIMIT: QEMU takes at most 64 MiB of tokens in one
     message (more is an error reply); 1 MiB more leaves room for the whitespace between them.
     A client whose unfinished command grows past that is closed with a log line (stdin ends the
     sim): no QEMU command is that long, and keeping more would only let one client eat memory.
   - Both shrink back to BUF_MIN bytes after a long command or reply. */
#define BUF_MIN 65536u                        /* one read() at a time; buffers shrink back to it */
#define INPUT_LIMIT ((64u << 20) + (1u << 20)) /* QEMU's 64 MiB per message, + 1 MiB */
#define RESCAN_MIN (1u << 20)                 /* see run_commands */
#define OUT_HIGH (1u << 20)                   /* output waiting that stops reading a monitor */
#define OUT_LOW (256u << 10)                  /* ... until less than this waits */

/* Room for `need` more bytes after the data: moves it to the front, then grows (doubling, but
   not past `max` unless the data needs it). 0 if there is no memory. */
static int buffer_room(buffer *b, size_t need, size_t max)
{
    size_t have = b->len - b->off, cap;
    char *p;
    if (b->cap - b->len >= need) return 1;
    if (b->off) {
        memmove(b->p, b->p + b->off, have);
        b->off = 0;
        b->len = have;
        if (b->cap - b->len >= need) return 1;
    }
    cap = b->cap * 2 < BUF_MIN ? BUF_MIN : b->cap * 2;
    if (cap > max) cap = max;
    if (cap < have + need) cap = have + need;
    p = (char *)realloc(b->p, cap);
    if (!p) return 0;
    b->p = p;
    b->cap = cap;
    return 1;
}

/* Back to BUF_MIN bytes once what is left fits in half of it. */
static void buffer_shrink(buffer *b)
{
    size_t have = b->len - b->off;
    char *p;
    if (b->cap <= BUF_MIN || have > BUF_MIN / 2) return;
    memmove(b->p, b->p + b->off, have);
    b->off = 0;
    b->len = have;
    p = (char *)realloc(b->p, BUF_MIN);
    if (p) {
        b->p = p;
        b->cap = BUF_MIN;
    }
}

static void monitor_close(monitor *m)
{
    if (m->in > STDIN_FILENO) close(m->in); /* a socket client: in == out */
    free(m->input.p);
    free(m->output.p);
    memset(m, 0, sizeof *m);
    m->in = m->out = -1;
}

/* A socket client that went away or broke a limit: closed, with the reason in the log. */
static void client_drop(const vmm *v, monitor *m, const char *why)
{
    say(v, "host", "QMP client %d closed (%s)", (int)(m - v->mon), why);
    if (strcmp(why, "gone") != 0 && !v->opt.verbose) fprintf(stderr, "vballoon-sim: QMP client closed: %s\n", why);
    monitor_close(m);
}

/* Back-pressure, with hysteresis: 1 while the monitor's input is not to be read. */
static int backed_up(monitor *m)
{
    size_t waiting = m->output.len - m->output.off;
    if (waiting > OUT_HIGH) m->paused = 1;
    else if (waiting < OUT_LOW) m->paused = 0;
    return m->paused;
}

/* Write what the monitor's output takes now, without waiting. A socket is non-blocking; stdout
   may be a pipe or a terminal shared with other processes, so it stays blocking and gets at most
   PIPE_BUF bytes at a time, and only while poll() says it has room (a pipe then takes them at
   once). A client that has gone away is dropped; trouble on stdout ends the sim. */
static void flush_output(vmm *v, monitor *m)
{
    buffer *b = &m->output;
    while (m->out >= 0 && b->len > b->off) {
        size_t len = b->len - b->off;
        ssize_t n;
        if (m->out == STDOUT_FILENO) {
            struct pollfd p;
            p.fd = STDOUT_FILENO;
            p.events = POLLOUT;
            p.revents = 0;
            if (poll(&p, 1, 0) == 0) return;
            if (len > PIPE_BUF) len = PIPE_BUF;
        }
        n = write(m->out, b->p + b->off, len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        if (n <= 0 && m->out == STDOUT_FILENO) die("writing stdout");
        if (n <= 0) { /* EPIPE and the like: SIGPIPE is ignored with --qmp */
            client_drop(v, m, "gone");
            return;
        }
        b->off += (size_t)n;
    }
    if (m->out < 0) return;
    b->off = b->len = 0;
    buffer_shrink(b);
}

/* One reply or event and its line end, queued: flush_output writes it. */
/* One reply or event and its line end, queued: on stdout a plain LF; on a socket QEMU's monitor
   output, which ends every line, those inside a pretty reply included, with CR LF. */
static void put_line(vmm *v, monitor *m, const char *s, size_t len)
{
    const int crlf = m->out != STDOUT_FILENO;
    size_t lines = 1;
    const char *nl;
    char *o;
    if (m->out < 0) return;
    for (nl = s; crlf && (nl = memchr(nl, '\n', len - (size_t)(nl - s))) != NULL; nl++) lines++;
    if (!buffer_room(&m->output, len + 1 + (crlf ? lines : 0), SIZE_MAX)) {
        if (m->out == STDOUT_FILENO) die("no memory for the output");
        client_drop(v, m, "no memory for its output");
        return;
    }
    o = m->output.p + m->output.len;
    while (len) { /* a line at a time: CRLF on a socket, as QEMU's monitor writes it */
        size_t n;
        nl = crlf ? memchr(s, '\n', len) : NULL;
        n = nl ? (size_t)(nl - s) : len;
        memcpy(o, s, n);
        o += n;
        if (nl) {
            *o++ = '\r';
            *o++ = '\n';
            n++;
        }
        s += n;
        len -= n;
    }
    if (crlf) *o++ = '\r';
    *o++ = '\n';
    m->output.len = (size_t)(o - m->output.p);
}

static void emit_event(vmm *v, const char *line, size_t len)
{
    unsigned i;
    /* Like QEMU, every monitor gets the event, except one still in capabilities negotiation. */
    for (i = 0; i < 1 + CLIENTS_MAX; i++) {
        monitor *m = &v->mon[i];
        if (m->out >= 0 && ((m->qmp.flags & VB_QMP_NO_NEGOTIATION) || m->qmp.negotiated))
            put_line(v, m, line, len);
    }
}

static const char *const event_names[EV_KINDS] = {"BALLOON_CHANGE", VB_QMP_STATS_STALE_EVENT};

/* The event of `kind` just built in its throttle's line (n bytes, snprintf-style): out now if
   its type had a quiet second, else held for the end of the window, replacing one held before. */
static void event_throttled(vmm *v, unsigned kind, size_t n)
{
    event_throttle *t = &v->events[kind];
    t->len = n < sizeof t->line ? n : sizeof t->line - 1;
    if (t->open) {
        t->pending = 1;
        return;
    }
    say(v, "host", "%s (later ones wait for the end of the second)", event_names[kind]);
    emit_event(v, t->line, t->len);
    t->open = 1;
    t->deadline_ms = vm_now(v) + 1000u;
}

/* The window of `kind` ends: the newest event held back goes out and opens the next one. */
static void event_window_end(vmm *v, unsigned kind)
{
    event_throttle *t = &v->events[kind];
    if (!t->pending) {
        t->open = 0;
        return;
    }
    say(v, "host", "%s (the newest of those held back)", event_names[kind]);
    emit_event(v, t->line, t->len);
    t->pending = 0;
    t->deadline_ms = vm_now(v) + 1000u;
}

static void event_balloon_change(vmm *v)
{
    event_throttle *t = &v->events[EV_BALLOON_CHANGE];
    int64_t s, us;
    wall_now(v, &s, &us); /* stamped now, even if it has to wait */
    event_throttled(v, EV_BALLOON_CHANGE,
                    vb_qmp_event_balloon_change(&v->dev, s, us, t->line, sizeof t->line));
}

/* The stale event: the guest stopped answering polls, or answers again (vb_telemetry says
   which; the event carries it, with the intervals missed and the last stats' wall clock). */
static void event_stats_stale(vmm *v)
{
    event_throttle *t = &v->events[EV_STATS_STALE];
    const vb_telemetry *tele = vb_get_telemetry(&v->dev);
    uint64_t age = vb_stats_age_ms(&v->dev);
    int64_t s, us;
    if (tele->stale && age != UINT64_MAX)
        say(v, "host", "stats stale: %" PRIu32 " polling intervals without an answer, the last "
            "stats %" PRIu64 ".%03u s old", tele->missed, age / 1000u, (unsigned)(age % 1000u));
    else if (tele->stale)
        say(v, "host", "stats stale: %" PRIu32 " polling intervals without an answer, no stats "
            "ever", tele->missed);
    else
        say(v, "host", "stats fresh again");
    v->stale_told = tele->stale;
    wall_now(v, &s, &us);
    event_throttled(v, EV_STATS_STALE,
                    vb_qmp_event_stats_stale(&v->dev, s, us, t->line, sizeof t->line));
}

/* What the callbacks noted during a device call, done once it has returned: building an event
   reads the device, which a callback must not do. Called after every call that can set them. */
static void host_after_exit(vmm *v)
{
    if (v->actual_changed) {
        v->actual_changed = 0;
        event_balloon_change(v);
    }
    if (v->stale_changed) {
        v->stale_changed = 0;
        if (vb_get_telemetry(&v->dev)->stale != v->stale_told) event_stats_stale(v);
    }
}

/* ============================================================================================
   4. THE TRANSPORT: HOW THE GUEST REACHES THE DEVICE
   The guest calls the transport entry points (vb_set_status, vb_config_read, ...) directly: each
   call stands for an MMIO exit into the VMM. Two of them get a wrapper because the VMM has work
   of its own around them.
   ============================================================================================ */

/* A config write may change `actual`; the BALLOON_CHANGE event is built once the device has
   returned, because building it reads the device, which a callback must not do. */

static void bus_config_write(vmm *v, uint32_t offset, const void *buf, uint32_t len)
{
    uint32_t poison = vb_poison_value(&v->dev);
    vb_config_write(&v->dev, offset, buf, len);
    if (vb_poison_value(&v->dev) != poison)
        say(v, "host", "poison_val 0x%08" PRIx32 ": reported and hinted pages are left alone",
            vb_poison_value(&v->dev));
    host_after_exit(v); /* vb_* may be called now: we are out of the callback */
}

/* A kick (queue notify); for the verbose log, what the host did with the pages. The device
   bounds the work of one call; while it reports work left over, give it more (a real VMM would
   do that from its next loop iteration instead of blocking the vCPU). */
static void bus_notify(vmm *v, unsigned queue)
{
    static const char *const what[VB_QUEUE_MAX] = {"inflate", "deflate", "stats", "free page hint",
                                                   "reporting"};
    int role = vb_queue_role(&v->dev, queue); /* the index's queue, under the driver's features */
    v->kick_pages = v->kick_ranges = 0;
    vb_queue_notify(&v->dev, queue);
    while (vb_do_work(&v->dev)) {}
    host_after_exit(v); /* a stats buffer came: the stats may be fresh again */
    if (role >= 0 && role != VB_QUEUE_STATS)
        say(v, "host", "%s: %" PRIu64 " pages in %" PRIu64 " range(s)", what[role], v->kick_pages,
            v->kick_ranges);
}

/* ============================================================================================
   5. THE GUEST: SPLIT AND PACKED VIRTQUEUES, DRIVER SIDE (drivers/virtio/virtio_ring.c in miniature)
   ============================================================================================ */

/* Queue q's rings, in the legacy layout with 4 KiB alignment, for up to 128 entries:
     desc  at +0x0000  16 x 128 = 0x800 bytes
     avail at +0x0800  flags, idx, ring[128], used_event = 262 bytes
     used  at +0x1000  flags, idx, ring[128] of {id, len}, avail_event = 1030 bytes
   A packed queue (--packed) uses the same places: its descriptor ring at +0, the driver's event
   suppression area (off_wrap, flags: 4 bytes) at +0x800, the device's at +0x1000. */
#define GQ_SIZE 128u
#define RING_GPA(q) (0x10000u + 0x2000u * (q))
#define STATS_GPA 0x20000u /* Linux's vb->stats[] */
#define PFNS_GPA 0x21000u  /* Linux's vb->pfns[] */
#define PFNS_MAX 256u      /* VIRTIO_BALLOON_ARRAY_PFNS_MAX */
#define CMD_ID_GPA 0x22000u      /* Linux's vb->cmd_id_active, then vb->cmd_id_stop */
#define REPORT_TABLE_GPA 0x22100u /* the indirect table of the one reporting request in flight */
#define REPORT_CAPACITY 32u      /* PAGE_REPORTING_CAPACITY: blocks per request */
#define BLOCK_PFNS 1024u         /* the blocks reported and hinted: 4 MiB (order MAX_ORDER - 1) */
#define FIRST_FREE_PFN (GUEST_BACKED >> VB_PAGE_SHIFT)
#define VRING_USED_F_NO_NOTIFY 1u

/* The guest runs on "another CPU": Linux orders its ring accesses with virtio_wmb/virtio_mb. */
#define guest_mb() __atomic_thread_fence(__ATOMIC_SEQ_CST)

/* The guest's own loads and stores (VERSION_1: little-endian). Addresses are the driver's own
   constants, so an access outside guest_ram[] is a bug in this file. */
static unsigned char *gmem(uint64_t gpa, size_t len)
{
    if (gpa > GUEST_BACKED || len > GUEST_BACKED - gpa) {
        fprintf(stderr, "vballoon-sim: guest access outside RAM at 0x%" PRIx64 "\n", gpa);
        abort();
    }
    return guest_ram + gpa;
}

static uint16_t gld16(uint64_t gpa)
{
    const unsigned char *p = gmem(gpa, 2);
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t gld32(uint64_t gpa)
{
    return (uint32_t)gld16(gpa) | (uint32_t)gld16(gpa + 2) << 16;
}

static void gst16(uint64_t gpa, uint16_t v)
{
    unsigned char *p = gmem(gpa, 2);
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

static void gst32(uint64_t gpa, uint32_t v)
{
    gst16(gpa, (uint16_t)v);
    gst16(gpa + 2, (uint16_t)(v >> 16));
}

static void gst64(uint64_t gpa, uint64_t v)
{
    gst32(gpa, (uint32_t)v);
    gst32(gpa + 4, (uint32_t)(v >> 32));
}

typedef struct gvq {
    unsigned index;
    uint16_t num;              /* ring size, the device's maximum as Linux takes it */
    uint64_t desc, avail, used; /* packed: the descriptor ring, the driver and device areas */
    int event;                 /* VIRTIO_RING_F_EVENT_IDX negotiated */
    int packed;                /* VIRTIO_F_RING_PACKED negotiated */
    uint16_t free_head, num_free;
    uint16_t avail_idx_shadow; /* split: our avail->idx; packed: next_avail_idx, the next slot */
    uint16_t num_added;        /* split: buffers, packed: descriptors added since the last kick */
    uint16_t last_used_idx;    /* split: next used entry; packed: its slot | used wrap << 15 */
    uint16_t avail_used_flags; /* packed: the AVAIL/USED bits of the descriptors we publish */
    uint8_t avail_wrap;        /* packed: avail_wrap_counter */
    uint16_t event_flags;      /* packed: our driver area's flags (event_flags_shadow) */
    uint16_t next[GQ_SIZE];    /* free list (Linux's desc_extra[].next): split, of descriptors;
                                  packed, of buffer ids */
    uint8_t in_flight[GQ_SIZE]; /* head (packed: id) given to the device (desc_state[].data) */
    uint16_t chain_end[GQ_SIZE]; /* last descriptor (packed: id) of the chain at a head */
    uint16_t chain_num[GQ_SIZE]; /* packed: ring descriptors the buffer took (desc_state[].num) */
    int indirect;              /* VIRTIO_RING_F_INDIRECT_DESC negotiated */
    int broken;                /* the device returned garbage: BAD_RING */
    uint32_t buffers, wraps;   /* buffers made available; times the next slot passed the ring end */
} gvq;

/* The packed ring's bits (virtio 1.1 2.7): descriptor flags and event suppression flags. */
#define PACKED_F_AVAIL (1u << 7)
#define PACKED_F_USED (1u << 15)
#define PACKED_WRAP_SHIFT 15u    /* VRING_PACKED_EVENT_F_WRAP_CTR */
#define PACKED_EVENT_ENABLE 0u
#define PACKED_EVENT_DISABLE 1u
#define PACKED_EVENT_DESC 2u

/* vring_create_virtqueue_split/_packed: zeroed rings, every descriptor (packed: every id) on the
   free list. A packed ring starts with both wrap counters at 1; a queue without a callback
   (Linux's free page queue) tells the device not to interrupt, the others leave their driver
   area at ENABLE (zero), as Linux does. */
static void gvq_init(gvq *vq, unsigned index, uint16_t num, int event, int indirect, int packed,
                     int callback)
{
    unsigned i;
    memset(vq, 0, sizeof *vq);
    vq->index = index;
    vq->num = num;
    vq->desc = RING_GPA(index);
    vq->avail = vq->desc + 0x800u;
    vq->used = vq->desc + 0x1000u;
    vq->event = event;
    vq->indirect = indirect;
    vq->packed = packed;
    memset(gmem(vq->desc, 0x2000u), 0, 0x2000u); /* used_event = 0: interrupt at the first use */
    for (i = 0; i < num; i++) vq->next[i] = (uint16_t)(i + 1u);
    vq->num_free = num;
    if (packed) {
        vq->avail_wrap = 1;
        vq->avail_used_flags = PACKED_F_AVAIL;
        vq->last_used_idx = (uint16_t)(1u << PACKED_WRAP_SHIFT);
        vq->event_flags = (uint16_t)(callback ? PACKED_EVENT_ENABLE : PACKED_EVENT_DISABLE);
        gst16(vq->avail + 2u, vq->event_flags);
    }
}

/* virtqueue_add_packed: the same buffers as gvq_add below, in the next ring slots. The buffer
   id comes from the id free list; every descriptor of a chain carries it. The descriptors after
   the head are written first, each with the AVAIL/USED bits of the lap it lies in (they flip at
   the ring end); the head's flags, which make the whole chain available, last, after a barrier. */
static int gvq_add_packed(gvq *vq, const uint64_t *addr, const uint32_t *len, unsigned n,
                          int writable, uint64_t table)
{
    const uint16_t write = (uint16_t)(writable ? 2u /* WRITE */ : 0u);
    uint16_t head = vq->avail_idx_shadow, i = head, id = vq->free_head, curr = id, prev = id;
    uint16_t head_flags = 0;
    unsigned k, slots = n > 1 && vq->indirect ? 1u : n;
    if (vq->broken || n == 0 || vq->num_free < slots) return -1;
    if (slots == 1 && n > 1) { /* virtqueue_add_indirect_packed: entries are consecutive */
        for (k = 0; k < n; k++) {
            uint64_t e = table + 16u * k;
            gst64(e, addr[k]);
            gst32(e + 8, len[k]);
            gst16(e + 12, 0);
            gst16(e + 14, write);
        }
        gst64(vq->desc + 16u * i, table);
        gst32(vq->desc + 16u * i + 8, 16u * n);
        gst16(vq->desc + 16u * i + 12, id);
        head_flags = (uint16_t)(4u /* INDIRECT */ | vq->avail_used_flags);
        curr = vq->next[curr];
        if (++i >= vq->num) {
            i = 0;
            vq->avail_used_flags ^= PACKED_F_AVAIL | PACKED_F_USED;
        }
    } else {
        for (k = 0; k < n; k++) {
            uint64_t d = vq->desc + 16u * i;
            uint16_t flags = (uint16_t)(vq->avail_used_flags | write | (k + 1u < n ? 1u /* NEXT */ : 0u));
            if (k == 0) head_flags = flags;
            else gst16(d + 14, flags);
            gst64(d, addr[k]);
            gst32(d + 8, len[k]);
            gst16(d + 12, id);
            prev = curr;
            curr = vq->next[curr];
            if (++i >= vq->num) {
                i = 0;
                vq->avail_used_flags ^= PACKED_F_AVAIL | PACKED_F_USED;
            }
        }
    }
    if (i <= head) { /* the next slot passed the ring end (a chain of the whole ring: i == head) */
        vq->avail_wrap ^= 1u;
        vq->wraps++;
    }
    vq->avail_idx_shadow = i;
    vq->num_free = (uint16_t)(vq->num_free - slots);
    vq->free_head = curr;
    vq->in_flight[id] = 1;
    vq->chain_num[id] = (uint16_t)slots;
    vq->chain_end[id] = prev;
    guest_mb(); /* the chain before the head's flags that make it available */
    gst16(vq->desc + 16u * head + 14, head_flags);
    vq->num_added = (uint16_t)(vq->num_added + slots);
    vq->buffers++;
    return 0;
}

/* virtqueue_add_split: n scatterlist entries, all device-readable (an out buffer) or all
   device-writable (an in buffer). One entry is one direct descriptor; more are one indirect
   descriptor pointing to a table at `table` when INDIRECT_DESC is negotiated (Linux allocates
   the table; our drivers have one such buffer in flight at most), else a chain. */
static int gvq_add(gvq *vq, const uint64_t *addr, const uint32_t *len, unsigned n, int writable,
                   uint64_t table)
{
    const uint16_t flags = (uint16_t)(writable ? 2u /* WRITE */ : 0u);
    uint16_t head = vq->free_head, last = head;
    unsigned i, slots = n > 1 && vq->indirect ? 1u : n;
    if (vq->packed) return gvq_add_packed(vq, addr, len, n, writable, table);
    if (vq->broken || n == 0 || vq->num_free < slots) return -1;
    if (slots == 1 && n > 1) { /* one indirect descriptor */
        for (i = 0; i < n; i++) {
            uint64_t e = table + 16u * i;
            gst64(e, addr[i]);
            gst32(e + 8, len[i]);
            gst16(e + 12, (uint16_t)(flags | (i + 1u < n ? 1u /* NEXT */ : 0u)));
            gst16(e + 14, (uint16_t)(i + 1u));
        }
        gst64(vq->desc + 16u * head, table);
        gst32(vq->desc + 16u * head + 8, 16u * n);
        gst16(vq->desc + 16u * head + 12, 4u /* INDIRECT */);
        vq->free_head = vq->next[head];
    } else {
        for (i = 0; i < n; i++) {
            uint64_t d = vq->desc + 16u * vq->free_head;
            last = vq->free_head;
            gst64(d, addr[i]);
            gst32(d + 8, len[i]);
            gst16(d + 12, (uint16_t)(flags | (i + 1u < n ? 1u /* NEXT */ : 0u)));
            gst16(d + 14, vq->next[last]);
            vq->free_head = vq->next[last];
        }
        vq->chain_end[head] = last;
    }
    if (slots == 1) vq->chain_end[head] = head;
    vq->num_free = (uint16_t)(vq->num_free - slots);
    vq->in_flight[head] = 1;
    /* publish: ring entry first, then (after a barrier) the index that exposes it */
    gst16(vq->avail + 4u + 2u * (vq->avail_idx_shadow & (vq->num - 1u)), head);
    guest_mb();
    vq->avail_idx_shadow++;
    gst16(vq->avail + 2u, vq->avail_idx_shadow);
    vq->num_added++;
    vq->buffers++;
    if (!(vq->avail_idx_shadow & (vq->num - 1u))) vq->wraps++;
    return 0;
}

/* virtqueue_add_outbuf with one scatterlist entry: one direct, device-readable descriptor. */
static int gvq_add_outbuf(gvq *vq, uint64_t addr, uint32_t len)
{
    return gvq_add(vq, &addr, &len, 1, 0, 0);
}

/* virtqueue_kick_prepare_packed: the device's event area, its 4 bytes read at once. DISABLE:
   no kick; DESC: kick if the slot it names (moved back a lap when its wrap counter is not our
   avail wrap counter) lies among the descriptors added since the last kick (vring_need_event,
   in 16-bit arithmetic as Linux); ENABLE or anything else: kick. */
static int gvq_kick_prepare_packed(gvq *vq)
{
    uint16_t new_idx = vq->avail_idx_shadow, old = (uint16_t)(new_idx - vq->num_added);
    uint32_t area;
    uint16_t flags, off_wrap, event;
    vq->num_added = 0;
    guest_mb(); /* our descriptors before the device's wishes */
    area = gld32(vq->used);
    off_wrap = (uint16_t)area;
    flags = (uint16_t)(area >> 16);
    if (flags != PACKED_EVENT_DESC) return flags != PACKED_EVENT_DISABLE;
    event = (uint16_t)(off_wrap & ~(1u << PACKED_WRAP_SHIFT));
    if ((unsigned)(off_wrap >> PACKED_WRAP_SHIFT) != vq->avail_wrap) event = (uint16_t)(event - vq->num);
    return (uint16_t)(new_idx - event - 1u) < (uint16_t)(new_idx - old);
}

/* virtqueue_kick_prepare_split: with EVENT_IDX, kick only if the device's avail_event lies in
   the range of buffers added since the last kick (vring_need_event); else obey NO_NOTIFY. */
static int gvq_kick_prepare(gvq *vq)
{
    uint16_t new_idx = vq->avail_idx_shadow, old = (uint16_t)(new_idx - vq->num_added);
    if (vq->packed) return gvq_kick_prepare_packed(vq);
    vq->num_added = 0;
    guest_mb();
    if (vq->event) {
        uint16_t event = gld16(vq->used + 4u + 8u * vq->num); /* avail_event */
        return (uint16_t)(new_idx - event - 1u) < (uint16_t)(new_idx - old);
    }
    return !(gld16(vq->used) & VRING_USED_F_NO_NOTIFY);
}

static void gvq_kick(vmm *v, gvq *vq)
{
    if (gvq_kick_prepare(vq)) bus_notify(v, vq->index);
    else say(v, "guest", "queue %u: kick suppressed by %s", vq->index,
             vq->packed ? "the device's event area" : "avail_event");
}

/* A buffer the device returned that we did not give it: Linux's BAD_RING stops the queue. */
static int gvq_bad_ring(gvq *vq, uint32_t id)
{
    fprintf(stderr, "vballoon-sim: guest: queue %u: id %" PRIu32 " is not a head\n", vq->index, id);
    vq->broken = 1;
    return -1;
}

/* virtqueue_get_buf_ctx_packed: the descriptor at last_used is used when its AVAIL and USED
   bits both equal our used wrap counter; its id names the buffer, whose descriptor count moves
   last_used on (a lap ends: the counter flips). The id goes back on the free list. */
static int gvq_get_buf_packed(gvq *vq)
{
    uint16_t slot = (uint16_t)(vq->last_used_idx & ~(1u << PACKED_WRAP_SHIFT)), flags, id;
    unsigned wrap = vq->last_used_idx >> PACKED_WRAP_SHIFT;
    if (vq->broken) return -1;
    flags = gld16(vq->desc + 16u * slot + 14u);
    if (!(flags & PACKED_F_AVAIL) != !(flags & PACKED_F_USED) || !(flags & PACKED_F_USED) != !wrap)
        return -1;
    guest_mb(); /* id and len only after the flags that published them */
    id = gld16(vq->desc + 16u * slot + 12u);
    if (id >= vq->num || !vq->in_flight[id]) return gvq_bad_ring(vq, id);
    slot = (uint16_t)(slot + vq->chain_num[id]);
    if (slot >= vq->num) {
        slot = (uint16_t)(slot - vq->num);
        wrap ^= 1u;
    }
    vq->last_used_idx = (uint16_t)(slot | wrap << PACKED_WRAP_SHIFT);
    if (vq->event_flags == PACKED_EVENT_DESC) { /* never with the balloon: it keeps ENABLE */
        gst16(vq->avail, vq->last_used_idx);
        guest_mb();
    }
    vq->in_flight[id] = 0; /* detach_buf_packed */
    vq->num_free = (uint16_t)(vq->num_free + vq->chain_num[id]);
    vq->next[vq->chain_end[id]] = vq->free_head;
    vq->free_head = id;
    return id;
}

/* virtqueue_get_buf: the next used buffer's head, or -1 if there is none. */
static int gvq_get_buf(gvq *vq)
{
    uint16_t slot;
    uint32_t id;
    if (vq->packed) return gvq_get_buf_packed(vq);
    if (vq->broken || vq->last_used_idx == gld16(vq->used + 2u)) return -1;
    guest_mb(); /* read the entry only after the index that published it */
    slot = (uint16_t)(vq->last_used_idx & (vq->num - 1u));
    id = gld32(vq->used + 4u + 8u * slot);
    if (id >= vq->num || !vq->in_flight[id]) return gvq_bad_ring(vq, id);
    vq->in_flight[id] = 0; /* detach_buf_split: the chain back on the free list */
    {
        uint16_t i, n = 1;
        for (i = (uint16_t)id; i != vq->chain_end[id]; i = vq->next[i]) n++;
        vq->next[vq->chain_end[id]] = vq->free_head;
        vq->num_free = (uint16_t)(vq->num_free + n);
    }
    vq->free_head = (uint16_t)id;
    vq->last_used_idx++;
    /* Callbacks stay enabled: ask for an interrupt at the next used buffer (used_event). */
    if (vq->event) {
        gst16(vq->avail + 4u + 2u * vq->num, vq->last_used_idx);
        guest_mb();
    }
    return (int)id;
}

/* ============================================================================================
   6. THE GUEST: THE BALLOON DRIVER (drivers/virtio/virtio_balloon.c in miniature)
   ============================================================================================ */

#define BIT(n) ((uint64_t)1 << (n))
/* What the driver knows; it acks these where the device offers them. */
#define DRIVER_FEATURES                                                                 \
    (BIT(VB_F_MUST_TELL_HOST) | BIT(VB_F_STATS_VQ) | BIT(VB_F_DEFLATE_ON_OOM) |         \
     BIT(VB_F_FREE_PAGE_HINT) | BIT(VB_F_PAGE_POISON) | BIT(VB_F_REPORTING) |           \
     BIT(VB_F_RING_INDIRECT_DESC) | BIT(VB_F_RING_EVENT_IDX) | BIT(VB_F_VERSION_1) |       \
     BIT(VB_F_RING_PACKED))
#define CMD_ID_STOP 0u /* VIRTIO_BALLOON_CMD_ID_STOP */
#define CMD_ID_DONE 1u /* VIRTIO_BALLOON_CMD_ID_DONE */
#define REPORTING_DELAY_MS 2000u /* PAGE_REPORTING_DELAY */

typedef struct guest {
    vmm *vmm;                /* the machine it runs in: the only way to the device */
    gvq vq[VB_QUEUE_MAX];    /* by role (VB_QUEUE_*); vq[r].index is its queue index */
    uint64_t features;
    uint64_t refills;        /* update_balloon_stats() calls so far */
    uint32_t num_pages;      /* pages in the balloon (vb->num_pages) */
    uint32_t next_pfn;       /* the page allocator: a stack of frames [FIRST_FREE_PFN, ram_pfns) */
    uint32_t ram_pfns;
    uint32_t free_top;       /* the allocator's frames end here: hinted blocks lie above */
    uint8_t *reported;       /* per 4 MiB block: reported free (Linux's PageReported) */
    uint32_t cmd_id_active;  /* free page hinting: the id of the last round (STOP: none) */
    int loaded;              /* the driver probed successfully */
    int work;                /* update_balloon_size_work is queued */
    int hint_work;           /* report_free_page_work is queued */
    int stats_work;          /* update_balloon_stats_work is queued */
    int silent;              /* its workqueue stalls: queued stats work waits (x-guest-stats-silence) */
    int warned_reset;
} guest;

/* --- memory statistics: where Linux's update_balloon_stats() takes its numbers --- */

/* The document's example values (tags 0-5), and plausible ones for an idle ~1 GiB guest. */
static const uint64_t fixed_stats[VB_STAT_COUNT] = {
    0, 0, 235, 219028, 844943360, 1044406272, 905969664, 121634816,
    0, 0, 0, 0, 4861952, 0, 4476928, 0,
};

/* Read a whole /proc file (they are small) into buf, NUL-terminated. */
static int read_text_file(const char *path, char *buf, size_t cap)
{
    size_t len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    while (len + 1 < cap) {
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            close(fd);
            return -1;
        }
        if (n == 0) break;
        len += (size_t)n;
    }
    buf[len] = 0;
    return close(fd);
}

/* Sum of the numbers on the lines named `key` ("MemFree:" / "pgfault "), or of every line whose
   name starts with `key` when it ends in '_' ("allocstall_"). */
static uint64_t proc_value(const char *text, const char *key)
{
    size_t klen = strlen(key);
    int prefix = key[klen - 1] == '_';
    uint64_t sum = 0;
    const char *line, *next;
    for (line = text; *line; line = next) {
        const char *eol = strchr(line, '\n');
        size_t name = strcspn(line, ": \n");
        next = eol ? eol + 1 : line + strlen(line);
        if (strncmp(line, key, klen) != 0 || (!prefix && name != klen)) continue;
        sum += strtoull(line + name + strspn(line + name, ": "), NULL, 10);
    }
    return sum;
}

/* The values Linux would send, by tag: this host's counters, or fixed ones. Either way the
   balloon's pages are gone from total, free and available, as in Linux without DEFLATE_ON_OOM. */
static void sample_stats(guest *g, uint64_t val[VB_STAT_COUNT])
{
    static char meminfo[16384], vmstat[32768];
    uint64_t balloon = (uint64_t)g->num_pages << VB_PAGE_SHIFT;

    if (!g->vmm->opt.fixed_stats && read_text_file("/proc/meminfo", meminfo, sizeof meminfo) == 0 &&
        read_text_file("/proc/vmstat", vmstat, sizeof vmstat) == 0) {
        val[VB_STAT_SWAP_IN] = proc_value(vmstat, "pswpin") << VB_PAGE_SHIFT;
        val[VB_STAT_SWAP_OUT] = proc_value(vmstat, "pswpout") << VB_PAGE_SHIFT;
        val[VB_STAT_MAJFLT] = proc_value(vmstat, "pgmajfault");
        val[VB_STAT_MINFLT] = proc_value(vmstat, "pgfault");
        val[VB_STAT_MEMFREE] = proc_value(meminfo, "MemFree") * 1024u;
        val[VB_STAT_MEMTOT] = proc_value(meminfo, "MemTotal") * 1024u;
        val[VB_STAT_AVAIL] = proc_value(meminfo, "MemAvailable") * 1024u;
        val[VB_STAT_CACHES] = (proc_value(meminfo, "Buffers") + proc_value(meminfo, "Cached") +
                               proc_value(meminfo, "SwapCached")) * 1024u; /* NR_FILE_PAGES */
        val[VB_STAT_HTLB_PGALLOC] = proc_value(vmstat, "htlb_buddy_alloc_success");
        val[VB_STAT_HTLB_PGFAIL] = proc_value(vmstat, "htlb_buddy_alloc_fail");
        val[VB_STAT_OOM_KILL] = proc_value(vmstat, "oom_kill");
        val[VB_STAT_ALLOC_STALL] = proc_value(vmstat, "allocstall_");
        val[VB_STAT_ASYNC_SCAN] = proc_value(vmstat, "pgscan_kswapd") << VB_PAGE_SHIFT;
        val[VB_STAT_DIRECT_SCAN] = proc_value(vmstat, "pgscan_direct") << VB_PAGE_SHIFT;
        val[VB_STAT_ASYNC_RECLAIM] = proc_value(vmstat, "pgsteal_kswapd") << VB_PAGE_SHIFT;
        val[VB_STAT_DIRECT_RECLAIM] = proc_value(vmstat, "pgsteal_direct") << VB_PAGE_SHIFT;
    } else {
        static int warned; /* once per run */
        unsigned i;
        if (!g->vmm->opt.fixed_stats && !warned++)
            fprintf(stderr, "vballoon-sim: cannot read /proc/meminfo or /proc/vmstat (%s); "
                            "using fixed stats\n", strerror(errno));
        for (i = 0; i < VB_STAT_COUNT; i++) val[i] = fixed_stats[i];
        val[VB_STAT_MAJFLT] += g->refills;        /* a little activity per refill, so that */
        val[VB_STAT_MINFLT] += 100u * g->refills; /* each update is visible */
    }
    if (!(g->features & BIT(VB_F_DEFLATE_ON_OOM)))
        val[VB_STAT_MEMTOT] = val[VB_STAT_MEMTOT] > balloon ? val[VB_STAT_MEMTOT] - balloon : 0;
    val[VB_STAT_MEMFREE] = val[VB_STAT_MEMFREE] > balloon ? val[VB_STAT_MEMFREE] - balloon : 0;
    val[VB_STAT_AVAIL] = val[VB_STAT_AVAIL] > balloon ? val[VB_STAT_AVAIL] - balloon : 0;
}

/* Send order (not tag order) of a typical distro kernel: the VM event counters, then hugetlb,
   then the memory sizes. Linux 6.12 added tags 10-15 to the VM event part. */
static const unsigned char linux61_order[10] = {0, 1, 2, 3, 8, 9, 4, 5, 6, 7};
static const unsigned char linux612_order[16] = {0, 1, 2, 3, 10, 11, 12, 13, 14, 15,
                                                  8, 9, 4, 5, 6, 7};

/* update_balloon_stats(): fill vb->stats[] with 10-byte records; returns their number. */
static unsigned guest_update_stats(guest *g)
{
    const unsigned char *order = g->vmm->opt.linux_stats == 16 ? linux612_order : linux61_order;
    unsigned i, n = g->vmm->opt.linux_stats;
    uint64_t val[VB_STAT_COUNT];
    sample_stats(g, val);
    for (i = 0; i < n; i++) {
        gst16(STATS_GPA + 10u * i, order[i]);
        gst64(STATS_GPA + 10u * i + 2u, val[order[i]]);
    }
    g->refills++;
    return n;
}

/* stats_request() -> stats_handle_request(): the device returned our buffer (a poll). Linux
   refills first, then takes the buffer; without a used buffer (a spurious interrupt) it stops. */
static void guest_stats_request(guest *g)
{
    gvq *vq = &g->vq[VB_QUEUE_STATS];
    unsigned n = guest_update_stats(g);
    if (gvq_get_buf(vq) < 0) {
        say(g->vmm, "guest", "stats interrupt without a used buffer: ignored");
        return;
    }
    say(g->vmm, "guest", "stats request: %u records back, kick", n);
    if (gvq_add_outbuf(vq, STATS_GPA, 10u * n) == 0) gvq_kick(g->vmm, vq);
}

/* --- the balloon proper --- */

static uint32_t guest_read_target(guest *g)
{
    unsigned char le[4];
    vb_config_read(&g->vmm->dev, 0, le, 4); /* num_pages: little-endian even for legacy */
    return (uint32_t)le[0] | (uint32_t)le[1] << 8 | (uint32_t)le[2] << 16 | (uint32_t)le[3] << 24;
}

/* tell_host(): hand the PFN array to the device and wait until it is used. Our device works
   synchronously inside the kick, so the buffer is back when vb_queue_notify returns. */
static int guest_tell_host(guest *g, gvq *vq, uint32_t npfns)
{
    if (gvq_add_outbuf(vq, PFNS_GPA, 4u * npfns) != 0) return -1;
    gvq_kick(g->vmm, vq);
    if (gvq_get_buf(vq) < 0) { /* Linux would sleep here forever */
        fprintf(stderr, "vballoon-sim: guest: the device did not return the %s buffer\n",
                vq->index == VB_QUEUE_INFLATE ? "inflate" : "deflate");
        vq->broken = 1;
        return -1;
    }
    return 0;
}

/* --- free page reporting (mm/page_reporting.c + virtballoon_free_page_report) --- */

/* page_reporting_notify: freed pages schedule a pass after the delay, unless one is due. */
static void guest_reporting_request(guest *g)
{
    vmm *v = g->vmm;
    if (!(g->features & BIT(VB_F_REPORTING)) || v->guest_timer_ms != UINT64_MAX) return;
    v->guest_timer_ms = vm_now(v) + REPORTING_DELAY_MS;
}

/* 1 if 4 MiB block b is free memory: wholly between the allocator's next frame and its top. */
static int guest_block_free(const guest *g, uint32_t b)
{
    return b * BLOCK_PFNS >= g->next_pfn && (b + 1u) * BLOCK_PFNS <= g->free_top;
}

/* One request: up to 32 device-writable 4 MiB blocks, kicked, then waited for (Linux sleeps
   until the buffer is used; our device has used it when the kick returns). */
static int guest_report(guest *g, const uint32_t *blocks, unsigned n)
{
    gvq *vq = &g->vq[VB_QUEUE_REPORTING];
    uint64_t addr[REPORT_CAPACITY];
    uint32_t len[REPORT_CAPACITY];
    unsigned i;
    for (i = 0; i < n; i++) {
        addr[i] = (uint64_t)blocks[i] * BLOCK_PFNS << VB_PAGE_SHIFT;
        len[i] = BLOCK_PFNS << VB_PAGE_SHIFT;
    }
    say(g->vmm, "guest", "free page reporting: %u block(s) of 4 MiB", n);
    if (gvq_add(vq, addr, len, n, 1, REPORT_TABLE_GPA) != 0) return -1;
    gvq_kick(g->vmm, vq);
    if (gvq_get_buf(vq) < 0) {
        fprintf(stderr, "vballoon-sim: guest: the device did not return the reporting buffer\n");
        vq->broken = 1;
        return -1;
    }
    for (i = 0; i < n; i++) g->reported[blocks[i]] = 1; /* skipped until allocated again */
    return 0;
}

/* page_reporting_process: every free block not reported yet, 32 to a request. */
static void guest_reporting_pass(guest *g)
{
    uint32_t blocks[REPORT_CAPACITY], b, nblocks = g->ram_pfns / BLOCK_PFNS;
    unsigned n = 0;
    for (b = 0; b < nblocks; b++) {
        if (g->reported[b] || !guest_block_free(g, b)) continue;
        blocks[n++] = b;
        if (n == REPORT_CAPACITY) {
            if (guest_report(g, blocks, n) != 0) return;
            n = 0;
        }
    }
    if (n) guest_report(g, blocks, n);
}

/* --- free page hinting (report_free_page_func and its helpers) --- */

static uint32_t guest_read_cmd_id(guest *g)
{
    unsigned char le[4];
    vb_config_read(&g->vmm->dev, 8, le, 4); /* free_page_hint_cmd_id, little-endian */
    return (uint32_t)le[0] | (uint32_t)le[1] << 8 | (uint32_t)le[2] << 16 | (uint32_t)le[3] << 24;
}

/* return_free_pages_to_mm: the hinted blocks go back to the page allocator. */
static void guest_hint_release(guest *g)
{
    if (g->free_top == g->ram_pfns) return;
    say(g->vmm, "guest", "free page hinting: %" PRIu32 " hinted pages freed",
        g->ram_pfns - g->free_top);
    g->free_top = g->ram_pfns;
    guest_reporting_request(g);
}

/* The shrinker (virtio_balloon_shrinker_scan): under memory pressure, hinted blocks come back. */
static void guest_hint_shrink(guest *g)
{
    say(g->vmm, "guest", "shrinker: out of pages, giving the hinted blocks back");
    guest_hint_release(g);
}

/* A 4-byte out buffer holding an id (ours is little-endian: VERSION_1). */
static int guest_send_cmd_id(guest *g, uint32_t id, uint64_t gpa)
{
    gvq *vq = &g->vq[VB_QUEUE_FREE_PAGE];
    while (gvq_get_buf(vq) >= 0) {} /* drain what the device used */
    gst32(gpa, id);
    if (gvq_add_outbuf(vq, gpa, 4) != 0) return -1;
    gvq_kick(g->vmm, vq);
    return 0;
}

/* A config interrupt: DONE gives the hinted blocks back; a new id runs a round: echo the id,
   hint one 4 MiB block per buffer from the top of free memory until none is left, send STOP. */
static void guest_free_page_hint(guest *g)
{
    gvq *vq = &g->vq[VB_QUEUE_FREE_PAGE];
    uint32_t id = guest_read_cmd_id(g), hinted = 0;
    if (id == CMD_ID_DONE) {
        guest_hint_release(g);
        g->cmd_id_active = CMD_ID_STOP;
        return;
    }
    if (id == CMD_ID_STOP || id == g->cmd_id_active || vq->broken) return;
    g->cmd_id_active = id;
    say(g->vmm, "guest", "free page hinting: round 0x%08" PRIx32, id);
    if (guest_send_cmd_id(g, id, CMD_ID_GPA) != 0) return;
    for (;;) {
        uint32_t top = g->free_top / BLOCK_PFNS * BLOCK_PFNS; /* a naturally aligned block */
        uint64_t addr;
        uint32_t len = BLOCK_PFNS << VB_PAGE_SHIFT;
        if (top < BLOCK_PFNS || top - BLOCK_PFNS < g->next_pfn) break; /* no block left */
        while (gvq_get_buf(vq) >= 0) {}
        if (vq->num_free < 2) break; /* one slot stays for STOP */
        addr = (uint64_t)(top - BLOCK_PFNS) << VB_PAGE_SHIFT;
        g->free_top = top - BLOCK_PFNS; /* held by the driver until DONE */
        g->reported[g->free_top / BLOCK_PFNS] = 0;
        if (gvq_add(vq, &addr, &len, 1, 1, 0) != 0) break;
        gvq_kick(g->vmm, vq);
        hinted++;
    }
    say(g->vmm, "guest", "free page hinting: %" PRIu32 " block(s) of 4 MiB hinted, STOP", hinted);
    guest_send_cmd_id(g, CMD_ID_STOP, CMD_ID_GPA + 4u);
}

/* fill_balloon(): take up to 256 pages from the page allocator and give them to the host. */
static uint32_t guest_fill(guest *g, uint32_t num)
{
    uint32_t n;
    if (num > PFNS_MAX) num = PFNS_MAX;
    for (n = 0; n < num; n++) {
        if (g->next_pfn >= g->free_top && g->free_top < g->ram_pfns) guest_hint_shrink(g);
        if (g->next_pfn >= g->free_top) { /* the allocator is empty */
            fprintf(stderr, "vballoon-sim: guest: Out of puff! Can't get 1 pages\n");
            break;
        }
        g->reported[g->next_pfn / BLOCK_PFNS] = 0; /* allocated: no longer reported */
        gst32(PFNS_GPA + 4u * n, g->next_pfn++);
        g->num_pages++;
    }
    if (n == 0) return 0;
    say(g->vmm, "guest", "inflate %" PRIu32 " pages, balloon now %" PRIu32, n, g->num_pages);
    if (guest_tell_host(g, &g->vq[VB_QUEUE_INFLATE], n) != 0) return 0;
    return n;
}

/* leak_balloon(): take up to 256 pages out of the balloon, tell the host, then free them. The
   balloon's page list is LIFO (balloon_page_dequeue) and our allocator is a stack, so the pages
   leave in reverse order and go straight back to the top of the stack. */
static uint32_t guest_leak(guest *g, uint32_t num)
{
    uint32_t n;
    if (num > PFNS_MAX) num = PFNS_MAX;
    if (num > g->num_pages) num = g->num_pages;
    for (n = 0; n < num; n++) {
        gst32(PFNS_GPA + 4u * n, g->next_pfn - 1u - n);
        g->num_pages--;
    }
    if (n == 0) return 0;
    say(g->vmm, "guest", "deflate %" PRIu32 " pages, balloon now %" PRIu32, n, g->num_pages);
    if (guest_tell_host(g, &g->vq[VB_QUEUE_DEFLATE], n) != 0) return 0;
    g->next_pfn -= n; /* release_pages_balloon() */
    guest_reporting_request(g);
    return n;
}

/* update_balloon_size_func(): move towards the target one batch at a time, writing `actual`
   after each batch, until there. Linux re-queues itself; we loop. */
static void guest_balloon_work(guest *g)
{
    while (!g->vq[VB_QUEUE_INFLATE].broken && !g->vq[VB_QUEUE_DEFLATE].broken) {
        int64_t diff = (int64_t)guest_read_target(g) - (int64_t)g->num_pages; /* towards_target */
        uint32_t done;
        unsigned char le[4];
        if (diff == 0) return;
        done = diff > 0 ? guest_fill(g, diff > PFNS_MAX ? PFNS_MAX : (uint32_t)diff)
                        : guest_leak(g, -diff > PFNS_MAX ? PFNS_MAX : (uint32_t)-diff);
        le[0] = (unsigned char)g->num_pages; /* update_balloon_size(): actual, little-endian */
        le[1] = (unsigned char)(g->num_pages >> 8);
        le[2] = (unsigned char)(g->num_pages >> 16);
        le[3] = (unsigned char)(g->num_pages >> 24);
        bus_config_write(g->vmm, 4, le, 4);
        if (done == 0) return; /* out of pages or a dead queue: Linux retries later, we stop */
    }
}

/* virtio_dev_probe() + virtballoon_probe(), in Linux's order. */
static int guest_probe(guest *g)
{
    vmm *v = g->vmm;
    vb_device *dev = &v->dev;
    uint8_t status = 0;
    /* Linux takes the device's maximum; --queue-size makes the guest choose fewer entries */
    uint16_t num = v->opt.queue_size ? (uint16_t)v->opt.queue_size : vb_queue_size_max(dev);
    unsigned q, n;

    /* The virtio core: reset, ACKNOWLEDGE, DRIVER, features, FEATURES_OK (read back). */
    vb_set_status(dev, 0);
    vb_set_status(dev, status |= VB_S_ACKNOWLEDGE);
    vb_set_status(dev, status |= VB_S_DRIVER);
    g->features = vb_host_features(dev) & DRIVER_FEATURES;
    vb_set_driver_features(dev, g->features);
    /* virtballoon_validate(): PAGE_POISON only for a guest that poisons or zeroes freed pages,
       and then reporting only with it; the core writes the features again. */
    if (v->opt.guest_poison == POISON_OFF) g->features &= ~BIT(VB_F_PAGE_POISON);
    else if (!(g->features & BIT(VB_F_PAGE_POISON))) g->features &= ~BIT(VB_F_REPORTING);
    if (g->features != (vb_host_features(dev) & DRIVER_FEATURES)) vb_set_driver_features(dev, g->features);
    vb_set_status(dev, status |= VB_S_FEATURES_OK);
    if (!(vb_status(dev) & VB_S_FEATURES_OK)) goto fail;
    say(v, "guest", "features offered 0x%" PRIx64 ", accepted 0x%" PRIx64, vb_host_features(dev),
        g->features);

    /* init_vqs(): inflate, deflate, then stats, free page and reporting if accepted, numbered
       without gaps; each as big as the device allows (reporting needs 32); enabled last. */
    if (num == 0 || num > GQ_SIZE) goto fail;
    if ((g->features & BIT(VB_F_REPORTING)) && num < REPORT_CAPACITY) goto fail; /* -ENOSPC */
    for (q = n = 0; q < VB_QUEUE_MAX; q++) {
        static const unsigned needs[VB_QUEUE_MAX] = {0, 0, VB_F_STATS_VQ, VB_F_FREE_PAGE_HINT,
                                                     VB_F_REPORTING};
        gvq *vq = &g->vq[q];
        if (q > VB_QUEUE_DEFLATE && !(g->features & BIT(needs[q]))) continue;
        gvq_init(vq, n, num, (g->features & BIT(VB_F_RING_EVENT_IDX)) != 0,
                 (g->features & BIT(VB_F_RING_INDIRECT_DESC)) != 0,
                 (g->features & BIT(VB_F_RING_PACKED)) != 0, q != VB_QUEUE_FREE_PAGE);
        if (vb_queue_setup(dev, n++, num, vq->desc, vq->avail, vq->used) != VB_OK) goto fail;
    }
    for (q = 0; q < n; q++)
        if (vb_queue_set_ready(dev, q, 1) != VB_OK) goto fail;

    /* The stats queue gets one buffer, filled with real values, and a kick: before DRIVER_OK. */
    if (g->features & BIT(VB_F_STATS_VQ)) {
        n = guest_update_stats(g);
        if (gvq_add_outbuf(&g->vq[VB_QUEUE_STATS], STATS_GPA, 10u * n) != 0) goto fail;
        say(v, "guest", "stats queue primed with %u records, kick", n);
        gvq_kick(v, &g->vq[VB_QUEUE_STATS]);
    }

    /* poison_val: 0 for init_on_free, else PAGE_POISON (0xaa) in every byte. */
    if (g->features & BIT(VB_F_PAGE_POISON)) {
        uint32_t poison = v->opt.guest_poison == POISON_INIT_ON_FREE ? 0u : 0xaaaaaaaau;
        unsigned char le[4];
        le[0] = le[1] = le[2] = le[3] = (unsigned char)poison;
        say(v, "guest", "poison_val 0x%08" PRIx32, poison);
        bus_config_write(v, 12, le, 4);
    }

    /* virtio_device_ready(), then act on a target that was set before we came. */
    vb_set_status(dev, (uint8_t)(status | VB_S_DRIVER_OK));
    say(v, "guest", "virtio_balloon loaded (DRIVER_OK)");
    g->loaded = 1;
    g->cmd_id_active = CMD_ID_STOP;
    if (guest_read_target(g) != g->num_pages) {
        g->work = 1;
        g->hint_work = (g->features & BIT(VB_F_FREE_PAGE_HINT)) != 0;
    }
    guest_reporting_request(g); /* page_reporting_register: the first pass */
    return 0;
fail:
    fprintf(stderr, "vballoon-sim: guest: virtio_balloon probe failed (status 0x%02x)\n",
            vb_status(dev));
    vb_set_status(dev, (uint8_t)(status | VB_S_FAILED));
    return -1;
}

/* The guest's interrupt handlers and work items, run whenever a vb_* call has returned. */
static void guest_run(guest *g)
{
    vmm *v = g->vmm;
    if (v->run_state != RUN_RUNNING) return; /* a stopped vCPU: interrupts wait for cont */
    while (v->irq || g->work || g->hint_work || (g->stats_work && !g->silent)) {
        unsigned irq = v->irq;
        v->irq = 0;
        if (irq & IRQ_CONFIG) { /* virtballoon_changed(): queue the size work (and the hint's) */
            if ((vb_status(&v->dev) & VB_S_NEEDS_RESET) && !g->warned_reset++)
                fprintf(stderr, "vballoon-sim: guest: the device needs a reset (ring error)\n");
            if (g->loaded) g->work = 1;
            if (g->loaded && (g->features & BIT(VB_F_FREE_PAGE_HINT))) g->hint_work = 1;
        }
        /* stats_request(): queue the work that answers the poll; it runs unless the guest is
           silent, as when a driver's workqueue stalls, and then waits until it is not. */
        if ((g->features & BIT(VB_F_STATS_VQ)) && (irq & IRQ_QUEUE(g->vq[VB_QUEUE_STATS].index)) &&
            g->loaded)
            g->stats_work = 1;
        if (g->stats_work && !g->silent) {
            g->stats_work = 0;
            guest_stats_request(g);
        }
        /* Inflate/deflate interrupts only wake tell_host(), which has its buffer already. */
        if (g->work) {
            g->work = 0;
            guest_balloon_work(g);
        }
        if (g->hint_work) {
            g->hint_work = 0;
            guest_free_page_hint(g);
        }
    }
}

/* What the guest's rings carried: buffers made available and laps of each ring (--verbose). */
static void guest_ring_summary(const guest *g)
{
    static const char *const what[VB_QUEUE_MAX] = {"inflate", "deflate", "stats", "free page hint",
                                                   "reporting"};
    char line[512];
    size_t len = 0;
    unsigned q;
    if (!g->loaded) return;
    for (q = 0; q < VB_QUEUE_MAX; q++) {
        const gvq *vq = &g->vq[q];
        int n;
        if (!vq->num) continue;
        n = snprintf(line + len, sizeof line - len, "%s%s %" PRIu32 " buffers %" PRIu32 " wraps",
                     len ? ", " : "", what[q], vq->buffers, vq->wraps);
        if (n > 0) len += (size_t)n < sizeof line - len ? (size_t)n : sizeof line - len - 1;
    }
    say(g->vmm, "guest", "rings (%s, %u entries): %s", g->vq[0].packed ? "packed" : "split",
        g->vq[0].num, line);
}

/* The guest's timer: page reporting's delayed work. */
static void guest_timer(guest *g)
{
    vmm *v = g->vmm;
    v->guest_timer_ms = UINT64_MAX;
    if (!g->loaded || g->vq[VB_QUEUE_REPORTING].broken) return;
    guest_reporting_pass(g);
    guest_run(g);
}

/* ============================================================================================
   7. THE HOST: TIMERS
   Three kinds: the device's poll timer (vb_next_deadline), the event throttles' windows (one
   per event type) and the guest's own (page reporting's delay), which a real guest would run on its own clock.
   ============================================================================================ */

static uint64_t next_timer(const vmm *v)
{
    uint64_t d = vb_next_deadline(&v->dev);
    unsigned k;
    if (v->run_state != RUN_RUNNING) return UINT64_MAX; /* the VM clock stands */
    for (k = 0; k < EV_KINDS; k++)
        if (v->events[k].open && v->events[k].deadline_ms < d) d = v->events[k].deadline_ms;
    if (v->guest_timer_ms < d) d = v->guest_timer_ms;
    return d;
}

/* Run every timer due at or before `until` (VM ms), in deadline order, letting the guest answer
   after each. The virtual clock jumps from deadline to deadline. The device's timer moves on by
   at least a second each time (a poll, or the end of an interval without an answer), so this
   loop always ends. */
static void run_timers(vmm *v, guest *g, uint64_t until)
{
    uint64_t next;
    while ((next = next_timer(v)) <= until) {
        unsigned k;
        if (v->opt.virtual_clock && next > v->clock_ms) v->clock_ms = next;
        if (vb_next_deadline(&v->dev) <= vm_now(v)) {
            say(v, "host", "poll timer");
            vb_timer_expired(&v->dev);
            host_after_exit(v); /* an interval missed: the stats may be stale now */
            guest_run(g);
        }
        for (k = 0; k < EV_KINDS; k++)
            if (v->events[k].open && v->events[k].deadline_ms <= vm_now(v)) event_window_end(v, k);
        if (v->guest_timer_ms <= vm_now(v)) guest_timer(g);
    }
}

/* ============================================================================================
   8. THE HOST: THE QMP MONITOR ON STDIN
   vb_qmp does the real work (framing, commands, replies). The sim adds commands of its own, the
   VM's run state and x-advance-clock, and lets the seed document be pasted from a web page
   (see paste_fixup).
   ============================================================================================ */

#define ADVANCE_MAX_MS (UINT64_C(366) * 86400u * 1000u) /* at most a year per command */

/* One reply at a time, for every monitor. It grows for a long one (an "id" of megabytes is
   echoed) and shrinks back after: vb_qmp_execute and vb_qmp_reply are snprintf-style and run
   nothing when the reply does not fit, so we ask again with the room they said they need. */
#define REPLY_LIMIT ((size_t)1 << 30) /* no larger reply is attempted (a pretty 64 MiB "id") */

static char *reply;
static size_t reply_cap;

/* 1 if reply[] holds n bytes and a NUL (growing it if need be). */
static int reply_fits(size_t n)
{
    char *p;
    if (n < reply_cap) return 1;
    p = n < REPLY_LIMIT ? (char *)realloc(reply, n + 1) : NULL;
    if (!p) return 0;
    reply = p;
    reply_cap = n + 1;
    return 1;
}

/* The published seed document uses no-break spaces (U+00A0, bytes C2 A0) for its spaces; QEMU
   would reject them. Outside strings ("..." or QEMU's '...') we read them as two plain spaces,
   on stdin only: a socket client gets QEMU's parse errors. The new bytes from `from` on; the state carries over from the bytes before, and a C2 at the
   end waits for the next read (m->hold: it is not framed before). */
static void paste_fixup(monitor *m, size_t from)
{
    char *buf = m->input.p;
    size_t i, len = m->input.len;
    m->hold = 0;
    for (i = from; i < len; i++) {
        unsigned char c = (unsigned char)buf[i];
        if (m->escape) {
            m->escape = 0;
        } else if (m->quote) {
            if (c == '\\') m->escape = 1;
            else if (c == (unsigned char)m->quote) m->quote = 0;
        } else if (c == '"' || c == '\'') {
            m->quote = (char)c;
        } else if (c == 0xC2 && i + 1 == len) {
            m->hold = 1;
        } else if (c == 0xC2 && (unsigned char)buf[i + 1] == 0xA0) {
            buf[i] = buf[i + 1] = ' ';
            i++;
        }
    }
}

/* x-advance-clock {"seconds": N, "ms": N}, either or both: 1 and the total in *ms; else 0 and
   the error in *why (NULL: an argument error that vb_qmp_reply reports). */
static int advance_args(vb_qmp_command *c, uint64_t *ms, const char **why)
{
    static const char *const names[] = {"seconds", "ms"};
    int64_t sec = 0, msec = 0;
    int has_sec = vb_qmp_arg_int(c, "seconds", &sec), has_ms = vb_qmp_arg_int(c, "ms", &msec);
    *why = NULL;
    if (has_sec < 0 || has_ms < 0 || !vb_qmp_args_only(c, names, 2)) return 0;
    if (!has_sec && !has_ms) *why = "Parameter 'seconds' is missing";
    else if (sec < 0) *why = "Invalid parameter type for 'seconds', expected: integer";
    else if (msec < 0) *why = "Invalid parameter type for 'ms', expected: integer";
    else if ((uint64_t)sec > ADVANCE_MAX_MS / 1000u)
        *why = "Parameter 'seconds' expects at most one year of time";
    else if ((uint64_t)msec > ADVANCE_MAX_MS - (uint64_t)sec * 1000u)
        *why = "Parameter 'ms' expects at most one year of time";
    *ms = (uint64_t)sec * 1000u + (uint64_t)msec;
    return !*why;
}

/* The boolean argument `name`: 1 and *value (1 for true, 0 for false) if it is a boolean, 0 if
   it is absent, -1 if it is anything else. vb_qmp reads integers only; vb_qmp_parse has checked
   the JSON, so walking the top level of "arguments" is enough here (a key is matched as
   written: one spelled with escapes is not recognised). */
static int arg_bool(const vb_qmp_command *c, const char *name, int *value)
{
    const char *p = c->in + c->args.at + 1, *end = c->in + c->args.end - 1;
    size_t len = strlen(name);
    int depth = 0;
    for (; c->args.end && p < end; p++) {
        const char *key = p + 1;
        if (*p == '{' || *p == '[') depth++;
        else if (*p == '}' || *p == ']') depth--;
        if (*p != '"' && *p != '\'') continue;
        for (p++; *p != key[-1]; p++) p += *p == '\\'; /* to the closing quote */
        if (depth || (size_t)(p - key) != len || memcmp(key, name, len) != 0) continue;
        key = p + 1 + strspn(p + 1, " \t\r\n");
        if (*key != ':') continue; /* a string value that looks like the name */
        key += 1 + strspn(key + 1, " \t\r\n");
        if (strncmp(key, "true", 4) != 0 && strncmp(key, "false", 5) != 0) return -1;
        *value = *key == 't';
        return 1;
    }
    return 0;
}

/* x-guest-stats-silence {"silent": true|false}: the guest's stats work stalls (polls go
   unanswered, as with a stuck workqueue in a real guest) or runs again, answering at once the
   poll it held. 1 if the arguments are right, else 0 and the error for the reply. */
static int silence_args(vb_qmp_command *c, int *silent, const char **why)
{
    static const char *const names[] = {"silent"};
    int has = arg_bool(c, "silent", silent);
    *why = has == 0 ? "Parameter 'silent' is missing"
         : has < 0  ? "Invalid parameter type for 'silent', expected: boolean"
                    : NULL;
    return !*why && vb_qmp_args_only(c, names, 1); /* QAPI: the members first, then the rest */
}

static void guest_silence(vmm *v, guest *g, int silent)
{
    if (g->silent == silent) return;
    g->silent = silent;
    say(v, "guest", silent ? "stats work stalls: polls go unanswered"
                           : "stats work runs again");
    guest_run(g); /* a held poll is answered now, before the command's reply */
}

/* The sim's own commands, listed by query-commands: the VM's run state as QEMU answers it
   (query-status; stop and cont pause and resume the guest and the VM clock; quit ends the sim),
   x-guest-stats-silence (a guest that stops answering polls) and, with --virtual-clock,
   x-advance-clock. */
static const char *const sim_commands[] = {"query-status", "stop", "cont", "quit", "x-guest-stats-silence", NULL};
static const char *const sim_commands_virtual[] = {"query-status", "stop", "cont", "quit", "x-guest-stats-silence",
                                                   "x-advance-clock", NULL};

static const char *const *host_commands(const vmm *v)
{
    return v->opt.virtual_clock ? sim_commands_virtual : sim_commands;
}

/* An event of the VM's run state, to every monitor (QEMU sends it before the reply). */
static void event_now(vmm *v, const char *name, const char *data)
{
    char line[256];
    int64_t s, us;
    size_t n;
    wall_now(v, &s, &us);
    n = vb_qmp_event(name, data, s, us, line, sizeof line);
    emit_event(v, line, n < sizeof line ? n : sizeof line - 1);
}

/* stop, cont and quit do what QEMU's do: stop freezes the guest (its interrupts wait) and the
   VM clock (no polls); cont resumes them, or boots the guest the first time after -S; stopping
   a stopped VM or continuing a running one changes nothing and sends no event. */
static void run_state_command(vmm *v, guest *g, const vb_qmp_command *c)
{
    int was = v->run_state;
    if (vb_qmp_command_is(c, "quit")) {
        event_now(v, "SHUTDOWN", "{\"guest\": false, \"reason\": \"host-qmp-quit\"}");
        v->quit = 1;
    } else if (vb_qmp_command_is(c, "stop")) {
        if (was != RUN_RUNNING) return;
        v->frozen_ms = vm_now(v);
        v->run_state = RUN_PAUSED;
        say(v, "host", "VM stopped");
        event_now(v, "STOP", NULL);
    } else if (was != RUN_RUNNING) {
        if (!v->opt.virtual_clock) v->stood_ms = clock_ms(CLOCK_MONOTONIC) - v->frozen_ms;
        v->run_state = RUN_RUNNING;
        say(v, "host", "VM running");
        event_now(v, "RESUME", NULL);
        if (was == RUN_PRELAUNCH && !v->opt.no_driver) guest_probe(g);
    }
}

/* x-advance-clock: the timers due on the way run in order. While the VM stands only the wall
   clock moves (as QEMU's host clock does while its virtual clock stands). */
static void advance_clock(vmm *v, guest *g, uint64_t ms)
{
    uint64_t target = v->clock_ms + ms;
    if (v->run_state != RUN_RUNNING) {
        v->wall_skew_ms += ms;
        return;
    }
    say(v, "host", "advancing the clock by %" PRIu64 " ms", ms);
    run_timers(v, g, target);
    v->clock_ms = target;
}

/* A command the sim takes itself: 1 and the reply's length in *n; 0 for vb_qmp_execute. */
/* A host command's reply (with the run state for query-status) into reply[], grown to fit. */
static size_t host_reply(const monitor *m, const vb_qmp_command *c, const char *why, const char *status)
{
    size_t n = 0;
    int tries;
    for (tries = 0; tries < 2 && (tries == 0 || (n >= reply_cap && reply_fits(n))); tries++)
        n = status ? vb_qmp_reply_status(&m->qmp, c, status, reply, reply_cap)
                   : vb_qmp_reply(&m->qmp, c, why, reply, reply_cap);
    return n;
}

static int sim_command(vmm *v, guest *g, monitor *m, vb_qmp_command *c, size_t *n)
{
    if (v->opt.virtual_clock && vb_qmp_command_is(c, "x-advance-clock")) {
        uint64_t ms;
        const char *why;
        int ok = advance_args(c, &ms, &why);
        *n = host_reply(m, c, why, NULL);
        if (ok && *n < reply_cap) advance_clock(v, g, ms);
    } else if (vb_qmp_command_is(c, "x-guest-stats-silence")) {
        int silent = 0;
        const char *why;
        int ok = silence_args(c, &silent, &why);
        *n = host_reply(m, c, why, NULL);
        if (ok && *n < reply_cap) guest_silence(v, g, silent);
    } else if (vb_qmp_command_is(c, "query-status")) {
        vb_qmp_args_only(c, NULL, 0);
        *n = host_reply(m, c, NULL, run_state_names[v->run_state]);
    } else if (vb_qmp_command_is(c, "stop") || vb_qmp_command_is(c, "cont") || vb_qmp_command_is(c, "quit")) {
        int ok = vb_qmp_args_only(c, NULL, 0);
        *n = host_reply(m, c, NULL, NULL);
        if (ok && *n < reply_cap) run_state_command(v, g, c);
    } else {
        return 0;
    }
    return 1;
}

/* The library's command into reply[]: as vb_qmp_parse filled it (no second parse), or from the
   text, which vb_qmp_execute answers with its error. */
static size_t library_command(monitor *m, const char *cmd, size_t len, const vb_qmp_command *parsed)
{
    return parsed ? vb_qmp_execute_command(&m->qmp, parsed, reply, reply_cap)
                  : vb_qmp_execute(&m->qmp, cmd, len, reply, reply_cap);
}

/* One framed command: answer it, then let the machine react (a new interval polls at once, a
   balloon target interrupts the guest). The sim's own commands act first, so that what they
   set off (events, polls) is printed before their reply, as QEMU would. */
static void handle_command(vmm *v, guest *g, monitor *m, const char *cmd, size_t len)
{
    vb_qmp_command c;
    int negotiated = (m->qmp.flags & VB_QMP_NO_NEGOTIATION) || m->qmp.negotiated;
    int parsed;
    size_t n;

    if (v->quit) return; /* after quit, QEMU answers nothing more */
    parsed = negotiated && vb_qmp_parse(cmd, len, &c);
    if (!(parsed && sim_command(v, g, m, &c, &n))) {
        n = library_command(m, cmd, len, parsed ? &c : NULL);
        if (n >= reply_cap && reply_fits(n)) n = library_command(m, cmd, len, parsed ? &c : NULL);
        host_after_exit(v); /* e.g. polling turned off: no longer stale; before the reply, as QEMU */
    }
    if (n >= reply_cap) { /* no memory for the reply: the command was not run */
        char why[96];
        snprintf(why, sizeof why, "no memory for a reply of %zu bytes; the command was not run", n);
        errno = 0;
        if (m->out == STDOUT_FILENO) die(why);
        client_drop(v, m, why);
        return;
    }
    if (n > 0) put_line(v, m, reply, n); /* 0: nothing but whitespace */
    guest_run(g);
    run_timers(v, g, vm_now(v));
}

/* Read what a monitor's input has now (into its buffer, growing it up to INPUT_LIMIT). At the
   end of input only m->eof is set: run_commands answers what is complete, then closes it.
   Trouble on stdin ends the sim; trouble with a client drops it. */
static void read_input(vmm *v, monitor *m)
{
    const int is_stdin = m->in == STDIN_FILENO;
    size_t tail = m->input.len - m->input.off, room, from;
    ssize_t n;
    if (tail >= INPUT_LIMIT) return; /* run_commands decides */
    if (!buffer_room(&m->input, BUF_MIN / 2, INPUT_LIMIT)) { /* half: a left-over byte grows nothing */
        errno = 0;
        if (is_stdin) die("no memory for the input");
        client_drop(v, m, "no memory for its input");
        return;
    }
    room = m->input.cap - m->input.len;
    if (room > INPUT_LIMIT - tail) room = INPUT_LIMIT - tail;
    do n = read(m->in, m->input.p + m->input.len, room);
    while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n < 0 && is_stdin) die("reading stdin");
    if (n <= 0) { /* like QEMU, a command cut short by the end of input is dropped */
        m->eof = 1;
        m->hold = 0;
        return;
    }
    from = m->input.len - m->hold;
    m->input.len += (size_t)n;
    if (is_stdin) paste_fixup(m, from); /* a socket client gets QEMU's parse errors */
}

/* Frame and execute a monitor's complete commands, in order, while its output is not backed up;
   then write what its output takes. Framing an unfinished command reads it again from its
   start, so past RESCAN_MIN bytes it is framed again only once it has doubled, or once the
   monitor is idle (`idle`: nothing to read this round, it waits for the reply): a 64 MiB command
   costs linear time, not quadratic. A monitor whose input ended is closed once its complete
   commands are answered and its output is written. */
static void run_commands(vmm *v, guest *g, monitor *m, int idle)
{
    const int is_stdin = m->in == STDIN_FILENO;
    size_t tail;
    int pressed;
    m->deferred = 0;
    do { /* again if the output was written at once */
        while (!(pressed = backed_up(m))) {
            const char *cmd = m->input.p + m->input.off;
            size_t used, skip;
            tail = m->input.len - m->input.off - m->hold;
            if (tail == 0 || tail == m->framed) break; /* nothing new since the last try */
            if (m->framed && tail > RESCAN_MIN && tail < 2 * m->framed && !idle && !m->eof &&
                tail + m->hold < INPUT_LIMIT) {
                m->deferred = 1;
                break;
            }
            used = vb_qmp_frame(&m->qmp, cmd, tail, &skip);
            if (!used) {
                m->framed = tail;
                break;
            }
            m->framed = 0;
            if (used > skip) handle_command(v, g, m, cmd + skip, used - skip); /* else skipped */
            if (m->in < 0) return; /* it went away while we answered */
            m->input.off += used;
        }
        flush_output(v, m);
        if (m->in < 0) return;
    } while (pressed && !backed_up(m));
    if (reply_cap > BUF_MIN) { /* after a long reply */
        char *p = (char *)realloc(reply, BUF_MIN);
        if (p) {
            reply = p;
            reply_cap = BUF_MIN;
        }
    }
    if (m->input.off == m->input.len) m->input.off = m->input.len = 0;
    buffer_shrink(&m->input);
    tail = m->input.len - m->input.off - m->hold;
    if (m->framed && tail == m->framed && tail + m->hold >= INPUT_LIMIT) {
        static const char why[] = "a command still unfinished after 65 MiB (QEMU takes at most 64 MiB of tokens in one)";
        errno = 0;
        if (is_stdin) die(why);
        client_drop(v, m, why);
        return;
    }
    if (m->eof && !m->paused && m->output.len == m->output.off && (tail == 0 || tail == m->framed)) {
        size_t i = m->input.off;
        while (i < m->input.len && strchr(" \t\r\n", m->input.p[i])) i++;
        if (i < m->input.len) say(v, "host", "incomplete command at end of input ignored");
        if (!is_stdin) say(v, "host", "QMP client gone");
        monitor_close(m);
    }
}

/* What poll() found for a monitor (`rin` on its input, `rout` on its output; both 0: a long
   command deferred, framed now that the monitor is idle). */
static void service(vmm *v, guest *g, monitor *m, short rin, short rout)
{
    if (rin & POLLNVAL) { /* no stdin at all: as its end */
        monitor_close(m);
        return;
    }
    if (rout & (POLLOUT | POLLHUP | POLLERR)) flush_output(v, m);
    if (m->in >= 0 && !m->eof && !backed_up(m) && (rin & (POLLIN | POLLHUP | POLLERR))) read_input(v, m);
    if (m->in >= 0) run_commands(v, g, m, !(rin & POLLIN));
}

/* --- the --qmp socket: QEMU's -qmp unix:PATH,server=on,wait=off --- */

static volatile sig_atomic_t stop_signal; /* SIGINT or SIGTERM arrived */

static void on_stop_signal(int sig) { stop_signal = sig; }

static int qmp_listen(const char *path)
{
    struct sockaddr_un addr;
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0) die("socket");
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    memcpy(addr.sun_path, path, strlen(path) + 1); /* the length was checked with the option */
    unlink(path); /* a socket left behind by an earlier run, as QEMU does */
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0) die("bind (--qmp)");
    if (listen(fd, CLIENTS_MAX) != 0) die("listen (--qmp)"); /* the next ones wait here */
    return fd;
}

/* A new client: its own session, the greeting, and capabilities negotiation required. */
static void qmp_accept(vmm *v)
{
    unsigned i;
    size_t n;
    int fd = accept(v->listen_fd, NULL, NULL);
    if (fd < 0) return; /* gone before we took it: nothing to do */
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) { /* writes must never wait */
        close(fd);
        return;
    }
    i = 1;
    while (v->mon[i].in >= 0) i++; /* main() polls only while a slot is free */
    v->mon[i].in = v->mon[i].out = fd;
    vb_qmp_init(&v->mon[i].qmp, &v->dev, v->opt.pretty ? VB_QMP_PRETTY : 0u);
    v->mon[i].qmp.host_commands = host_commands(v);
    n = vb_qmp_greeting(&v->mon[i].qmp, reply, reply_cap);
    say(v, "host", "QMP client %u connected", i);
    put_line(v, &v->mon[i], reply, n < reply_cap ? n : reply_cap - 1);
    flush_output(v, &v->mon[i]);
}

/* ============================================================================================
   9. MAIN: BUILD THE MACHINE, BOOT THE GUEST, SERVE THE MONITOR
   ============================================================================================ */

static int dommemstat(int argc, char **argv); /* section 10: the same binary as a QMP client */

int main(int argc, char **argv)
{
    static vmm vm;
    static guest gst;
    static mh_server metrics; /* --metrics */
    char why[256];
    vb_config cfg;
    const vb_counters *c;
    unsigned flags, i;

    if (argc > 1 && !strcmp(argv[1], "dommemstat")) return dommemstat(argc - 1, argv + 1);
    parse_options(argc, argv, &vm.opt);
    vm.frozen_ms = vm_now(&vm);
    if (vm.opt.prelaunch) vm.run_state = RUN_PRELAUNCH; /* the VM clock stands at frozen_ms */
    vm.start_ms = vm_now(&vm);

    /* The device: zero is the default everywhere in vb_config. */
    memset(&cfg, 0, sizeof cfg);
    cfg.profile = vm.opt.profile;
    cfg.stat_keys = vm.opt.keys;
    cfg.type_name = vm.opt.type_name;
    cfg.poll_interval_s = vm.opt.interval; /* -device ...,guest-stats-polling-interval=N */
    cfg.ram_size = vm.opt.ram_mib << 20;
    cfg.options = vm.opt.device_options; /* the features offered beyond the default ones */
    for (cfg.queue_size = 1; cfg.queue_size < vm.opt.queue_size;) cfg.queue_size <<= 1;
    if (!vm.opt.queue_size) cfg.queue_size = 0; /* the default, 128 */
    vm.guest_timer_ms = UINT64_MAX;
    if (vb_init(&vm.dev, &cfg, &host_ops, &vm) != VB_OK) {
        errno = 0;
        die("vb_init refused the configuration");
    }

    /* The monitors. On stdin, the seed's commands work without a greeting or qmp_capabilities
       first; socket clients get QEMU's handshake. */
    for (i = 1; i < 1 + CLIENTS_MAX; i++) vm.mon[i].in = vm.mon[i].out = -1;
    vm.mon[0].in = STDIN_FILENO;
    vm.mon[0].out = STDOUT_FILENO;
    reply_cap = BUF_MIN;
    reply = (char *)malloc(reply_cap);
    if (!reply) die("malloc");
    flags = (vm.opt.pretty ? VB_QMP_PRETTY : 0u) | (vm.opt.greeting ? 0u : VB_QMP_NO_NEGOTIATION);
    vb_qmp_init(&vm.mon[0].qmp, &vm.dev, flags);
    vm.mon[0].qmp.host_commands = host_commands(&vm);
    if (vm.opt.greeting) {
        size_t n = vb_qmp_greeting(&vm.mon[0].qmp, reply, reply_cap);
        put_line(&vm, &vm.mon[0], reply, n < reply_cap ? n : reply_cap - 1);
    }
    vm.listen_fd = -1;
    if (vm.opt.qmp_path || vm.opt.metrics.addr) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_stop_signal; /* no SA_RESTART: poll() returns EINTR */
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        signal(SIGPIPE, SIG_IGN); /* a client that went away is an error from write() */
        if (vm.opt.qmp_path) vm.listen_fd = qmp_listen(vm.opt.qmp_path);
    }
    /* --metrics: an HTTP endpoint in this same loop (examples/metrics_http.h); its label set is
       rendered once now, so that one vb_render_metrics refuses stops the sim here */
    if (mh_start(&metrics, &vm.opt.metrics, &vm.dev, why, sizeof why) < 0) {
        errno = 0;
        die(why);
    }

    /* The guest boots and loads virtio_balloon (with -S: at the first cont). */
    gst.vmm = &vm;
    gst.next_pfn = FIRST_FREE_PFN;
    gst.ram_pfns = gst.free_top = (uint32_t)(cfg.ram_size >> VB_PAGE_SHIFT);
    gst.reported = (uint8_t *)calloc(gst.ram_pfns / BLOCK_PFNS + 1u, 1);
    if (!gst.reported) die("calloc");
    if (!vm.opt.no_driver && !vm.opt.prelaunch) guest_probe(&gst);
    guest_run(&gst);
    run_timers(&vm, &gst, vm_now(&vm));

    /* The main loop: sleep until input, a client, room for output or the next deadline; time
       only moves by itself in real mode (the virtual clock waits for x-advance-clock). A monitor
       whose output is backed up is not read (section 3). Without --qmp (or --metrics) the sim
       ends with stdin (once its replies are written); with it, at SIGINT or SIGTERM. The
       --metrics server's entries come first in pfd (its clients and listener, pfd[0, mfd)). */
    while (!stop_signal && !vm.quit) {
        struct pollfd pfd[MH_POLLFDS + 2 + 1 + CLIENTS_MAX];
        unsigned who[MH_POLLFDS + 2 + 1 + CLIENTS_MAX]; /* the monitor of each entry; 1 + CLIENTS_MAX:
                                                           listen; 2 + CLIENTS_MAX: --metrics */
        short rin[1 + CLIENTS_MAX], rout[1 + CLIENTS_MAX];
        nfds_t nfd = 0, k, mfd = mh_pollfds(&metrics, pfd);
        uint64_t next = next_timer(&vm), now = vm_now(&vm);
        int timeout = -1, r, full = 1, idle = 0;
        for (nfd = 0; nfd < mfd; nfd++) who[nfd] = 2 + CLIENTS_MAX;
        for (i = 0; i < 1 + CLIENTS_MAX; i++) {
            monitor *m = &vm.mon[i];
            short in = (short)(!m->eof && !backed_up(m) ? POLLIN : 0);
            short out = (short)(m->output.len > m->output.off ? POLLOUT : 0);
            if (m->in < 0) {
                if (i > 0) full = 0;
                continue;
            }
            idle |= m->deferred;
            if (m->in == m->out || !in) { /* a socket; or stdin not to be read: left out */
                pfd[nfd].fd = m->in == m->out ? m->in : m->out;
                pfd[nfd].events = (short)((m->in == m->out ? in : 0) | out);
                who[nfd++] = i;
            } else {
                pfd[nfd].fd = m->in;
                pfd[nfd].events = in;
                who[nfd++] = i;
                if (out) {
                    pfd[nfd].fd = m->out;
                    pfd[nfd].events = out;
                    who[nfd++] = i;
                }
            }
        }
        if (vm.listen_fd < 0 && vm.mon[0].in < 0 && metrics.fd < 0) break; /* stdin ended, no socket */
        if (vm.listen_fd >= 0 && !full) {                 /* else clients wait in the backlog */
            pfd[nfd].fd = vm.listen_fd;
            pfd[nfd].events = POLLIN;
            who[nfd++] = 1 + CLIENTS_MAX;
        }
        if (!vm.opt.virtual_clock && next != UINT64_MAX)
            timeout = next <= now ? 0 : (next - now > INT_MAX ? INT_MAX : (int)(next - now));
        timeout = mh_timeout(&metrics, timeout); /* its clients' deadlines are real time */
        if (idle) timeout = 0; /* a long command to frame once its monitor is idle */
        for (k = 0; k < nfd; k++) pfd[k].revents = 0;
        r = poll(pfd, nfd, timeout);
        if (r < 0 && errno != EINTR) die("poll");
        memset(rin, 0, sizeof rin);
        memset(rout, 0, sizeof rout);
        for (k = 0; r > 0 && k < nfd; k++) {
            if (who[k] > CLIENTS_MAX) continue;
            if (pfd[k].fd == vm.mon[who[k]].in) rin[who[k]] |= pfd[k].revents;
            if (pfd[k].fd == vm.mon[who[k]].out) rout[who[k]] |= pfd[k].revents;
        }
        for (i = 0; i < 1 + CLIENTS_MAX; i++)
            if (vm.mon[i].in >= 0 && (rin[i] || rout[i] || vm.mon[i].deferred))
                service(&vm, &gst, &vm.mon[i], rin[i], rout[i]);
        if (r > 0 && nfd && who[nfd - 1] == 1 + CLIENTS_MAX && pfd[nfd - 1].revents) qmp_accept(&vm);
        mh_service(&metrics, pfd, (unsigned)mfd); /* every round: it also ends idle clients */
        if (!vm.opt.virtual_clock) run_timers(&vm, &gst, vm_now(&vm));
    }
    if (vm.mon[0].out >= 0) flush_output(&vm, &vm.mon[0]); /* what stdout takes at once */
    if (vm.listen_fd >= 0) {
        close(vm.listen_fd);
        unlink(vm.opt.qmp_path);
    }
    mh_stop(&metrics);
    c = vb_get_counters(&vm.dev);
    say(&vm, "host",
        "end of input; device counters: %" PRIu32 " stats updates, %" PRIu32 " polls, %" PRIu32
        " duplicate buffers, %" PRIu32 " unknown tags, %" PRIu32 " ring errors",
        c->updates, c->polls, c->duplicates, c->unknown_tags, c->ring_errors);
    say(&vm, "host",
        "free pages: %" PRIu32 " reporting buffers, %" PRIu64 " bytes reported, %" PRIu32
        " hint buffers, %" PRIu64 " bytes hinted, %" PRIu64 " bytes ignored",
        c->reports, c->bytes[VB_RANGE_REPORTED], c->hint_buffers, c->bytes[VB_RANGE_HINTED],
        c->bytes_ignored);
    say(&vm, "host", "guest RAM: %" PRIu64 " accesses mapped, %" PRIu64 " copied (read/write)%s",
        vm.mapped, vm.copied, vm.opt.no_map ? " (--no-map)" : "");
    guest_ring_summary(&gst);
    vb_destroy(&vm.dev);
    free(gst.reported);
    return 0;
}

/* ============================================================================================
   10. A QMP CLIENT: virsh dommemstat
   `vballoon-sim dommemstat unix:PATH` talks to any QMP socket (this sim's --qmp, the vhost-user
   back-end's, a real QEMU's -qmp unix:PATH,server=on) as libvirt does for `virsh dommemstat`:
   query-balloon, then qom-get of guest-stats on /machine/peripheral/balloon0 (the id libvirt
   gives its balloon), and prints what virsh prints for a QEMU domain: one "name value" a line,
   in libvirt's order and units (qemuMonitorJSONGetMemoryStats; virsh's cmdDomMemStat). QEMU
   gives sizes in bytes, libvirt KiB; a stat the guest did not send (-1, or 2^64 - 1 with
   QEMU's own profile) is not printed, nor is anything of guest-stats when it is an error.
   rss is the resident set of the VMM process in KiB, which libvirt reads in /proc by the pid
   it started; a client knows no pid, so it asks the kernel who listens on the socket
   (SO_PEERCRED) and leaves rss out when that fails (a server in another pid namespace).
   ============================================================================================ */

/* libvirt's names after actual, with the key each comes from and the divisor that makes KiB of
   bytes (1: a count, or last-update's seconds). */
static const struct memstat {
    const char *name, *key;
    unsigned div;
} memstats[] = {
    {"swap_in", "stat-swap-in", 1024},        {"swap_out", "stat-swap-out", 1024},
    {"major_fault", "stat-major-faults", 1},  {"minor_fault", "stat-minor-faults", 1},
    {"unused", "stat-free-memory", 1024},     {"available", "stat-total-memory", 1024},
    {"usable", "stat-available-memory", 1024}, {"last_update", "last-update", 1},
    {"disk_caches", "stat-disk-caches", 1024}, {"hugetlb_pgalloc", "stat-htlb-pgalloc", 1},
    {"hugetlb_pgfail", "stat-htlb-pgfail", 1},
};

typedef struct qmp_client {
    int fd;
    char buf[65536]; /* bytes read and not yet framed */
    size_t len;
    char msg[65536 + 1]; /* the last message, NUL-terminated */
} qmp_client;

/* The client's errors end it with status 1; `err` is the system's reason (errno), or 0. */
static void client_fail(const char *what, int err)
{
    if (err) fprintf(stderr, "vballoon-sim dommemstat: %s: %s\n", what, strerror(err));
    else fprintf(stderr, "vballoon-sim dommemstat: %s\n", what);
    exit(1);
}

/* The length of the JSON object at the start of p[0, len) (after whitespace), or 0 if it is not
   complete yet. Braces outside strings are all QMP's output needs to be framed. */
static size_t object_length(const char *p, size_t len)
{
    size_t i;
    int depth = 0, in_string = 0;
    for (i = 0; i < len; i++) {
        if (in_string) {
            if (p[i] == '\\') i++;
            else if (p[i] == '"') in_string = 0;
        } else if (p[i] == '"') {
            in_string = 1;
        } else if (p[i] == '{') {
            depth++;
        } else if (p[i] == '}' && --depth == 0) {
            return i + 1;
        }
    }
    return 0;
}

/* The next message (an object: the greeting, a reply or an event), NUL-terminated. */
static const char *client_next(qmp_client *qc)
{
    size_t n;
    while ((n = object_length(qc->buf, qc->len)) == 0) {
        ssize_t got;
        if (qc->len == sizeof qc->buf) client_fail("a message longer than 64 KiB", 0);
        got = read(qc->fd, qc->buf + qc->len, sizeof qc->buf - qc->len);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) client_fail("reading the socket", errno);
        if (got == 0) client_fail("the monitor closed the connection", 0);
        qc->len += (size_t)got;
    }
    memcpy(qc->msg, qc->buf, n);
    qc->msg[n] = 0;
    qc->len -= n;
    memmove(qc->buf, qc->buf + n, qc->len); /* the line end stays: whitespace before the next */
    return qc->msg;
}

/* 1 if the object's first key is `key` (QEMU writes "return" or "error" first in a reply
   without an id, "timestamp" first in an event). */
static int first_key_is(const char *msg, const char *key)
{
    size_t len = strlen(key);
    msg += strspn(msg, " \t\r\n{");
    return *msg == '"' && !strncmp(msg + 1, key, len) && msg[1 + len] == '"';
}

/* Send a command; its reply, the events before it skipped. */
static const char *client_command(qmp_client *qc, const char *cmd)
{
    const char *msg;
    size_t off = 0, len = strlen(cmd);
    while (off < len) {
        ssize_t n = write(qc->fd, cmd + off, len - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) client_fail("writing the socket", errno);
        off += (size_t)n;
    }
    do msg = client_next(qc);
    while (!first_key_is(msg, "return") && !first_key_is(msg, "error"));
    return msg;
}

/* The unsigned integer after "key": in msg; 0 if there is none. As libvirt's reading, -1
   comes out as 2^64 - 1. */
static int json_u64(const char *msg, const char *key, uint64_t *value)
{
    char pattern[64];
    const char *p;
    snprintf(pattern, sizeof pattern, "\"%s\"", key);
    p = strstr(msg, pattern);
    if (!p) return 0;
    p += strlen(pattern);
    p += strspn(p, " \t\r\n");
    if (*p != ':') return 0;
    p += 1 + strspn(p + 1, " \t\r\n");
    if (*p != '-' && (*p < '0' || *p > '9')) return 0;
    *value = (uint64_t)strtoull(p, NULL, 10);
    return 1;
}

/* The resident set of process `pid` in KiB (the second field of /proc/PID/statm is the "rss"
   that libvirt reads from /proc/PID/stat, in pages); 0 if it cannot be read. */
static int process_rss_kib(pid_t pid, uint64_t *kib)
{
    char path[64], text[256];
    unsigned long long pages;
    snprintf(path, sizeof path, "/proc/%ld/statm", (long)pid);
    if (pid <= 0 || read_text_file(path, text, sizeof text) != 0 ||
        sscanf(text, "%*u %llu", &pages) != 1)
        return 0;
    *kib = (uint64_t)pages * ((uint64_t)sysconf(_SC_PAGESIZE) / 1024u);
    return 1;
}

static int dommemstat(int argc, char **argv)
{
    static qmp_client qc;
    struct sockaddr_un addr;
    struct ucred peer;
    socklen_t peer_len = sizeof peer;
    const char *msg;
    uint64_t value;
    size_t i;

    if (argc != 2 || strncmp(argv[1], "unix:", 5) != 0 || !argv[1][5] ||
        strlen(argv[1] + 5) >= sizeof addr.sun_path) {
        fputs("usage: vballoon-sim dommemstat unix:PATH\n", stderr);
        return 2;
    }
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    memcpy(addr.sun_path, argv[1] + 5, strlen(argv[1] + 5));
    qc.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (qc.fd < 0 || connect(qc.fd, (struct sockaddr *)&addr, sizeof addr) != 0)
        client_fail(argv[1] + 5, errno);
    if (getsockopt(qc.fd, SOL_SOCKET, SO_PEERCRED, &peer, &peer_len) != 0) peer.pid = 0;

    /* The greeting, then capabilities negotiation, as every QMP client. */
    if (!first_key_is(client_next(&qc), "QMP")) client_fail("no QMP greeting", 0);
    if (!first_key_is(client_command(&qc, "{\"execute\": \"qmp_capabilities\"}\n"), "return"))
        client_fail("qmp_capabilities refused", 0);

    /* actual: the balloon's current size (query-balloon, bytes), in KiB. */
    msg = client_command(&qc, "{\"execute\": \"query-balloon\"}\n");
    if (first_key_is(msg, "return") && json_u64(msg, "actual", &value))
        printf("actual %" PRIu64 "\n", value / 1024u);

    /* The guest's stats, each if it was sent. */
    msg = client_command(&qc, "{\"execute\": \"qom-get\", \"arguments\": {\"path\": "
                              "\"/machine/peripheral/balloon0\", \"property\": \"guest-stats\"}}\n");
    for (i = 0; first_key_is(msg, "return") && i < sizeof memstats / sizeof memstats[0]; i++)
        if (json_u64(msg, memstats[i].key, &value) && value != UINT64_MAX)
            printf("%s %" PRIu64 "\n", memstats[i].name, value / memstats[i].div);

    if (process_rss_kib(peer.pid, &value)) printf("rss %" PRIu64 "\n", value);
    close(qc.fd);
    return 0;
}
