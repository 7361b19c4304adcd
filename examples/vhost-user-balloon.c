/* vhost-user-balloon.c - vballoon-vhost-user: a vhost-user virtio-balloon back-end on vballoon.h
   public domain (Unlicense) - see the end of vballoon.h

   The device model of vballoon.h, out of process, driven by a real guest kernel. A vhost-user
   front-end (User-Mode Linux with virtio_uml.device=SOCKET:5, or any VMM that speaks vhost-user)
   connects to SOCKET, hands over its guest memory and the three virtqueues (inflate, deflate,
   stats), and the guest's own virtio_balloon driver does the rest. A QMP monitor on a second
   socket speaks QEMU's commands to the same device, so the seed document's commands work against
   the real guest. Linux only (memfd/shm mappings, timerfd, fallocate); one thread, one poll()
   loop, no dependencies.

   RUN
       build/vballoon-vhost-user --socket /tmp/vb.sock --qmp unix:/tmp/vb-qmp.sock [--persistent]
       linux.uml mem=128M initrd=... virtio_uml.device=/tmp/vb.sock:5 ...
   The back-end must be listening before UML starts (UML connects once, at boot). On hosts whose
   CPU has AMX, Debian's linux.uml 6.1 needs LD_PRELOAD=build/uml_xstate_shim.so (see
   tests/uml_xstate_shim.c). --help lists the options; examples/uml-vm.sh (`make vm`) boots a
   guest and leaves you at the QMP socket; tests/uml_test.sh is the end-to-end test.

   HOW THE PIECES MEET (section numbers below)
       2 guest memory   SET_MEM_TABLE regions are mmap()ed; the device's map callback gives
                        it pointers into them (read/write copy instead with --no-map, or where
                        map refuses: both translate guest-physical addresses with strict bounds
                        checks). A SIGBUS guard turns a front-end that shrinks its memory file
                        into a device error instead of a crash. Inflated pages are punched out
                        of the memory file (fallocate PUNCH_HOLE): the host gets the memory back.
       3 callbacks      they only record what the device asked for (an interrupt, a config
                        change, a new `actual`); after each vb_* call returns, after_device()
                        sends the interrupts (8 bytes on the call fd, or VRING_CALL in-band),
                        CONFIG_CHANGE_MSG on the back-end channel, QMP's BALLOON_CHANGE and
                        the stale event (stats_stale: stale or fresh again, with a log line).
       4 vhost-user     every message is validated (header, flags, payload size per request,
                        fd count, queue index, region bounds and overflow, ring placement); a
                        malformed one ends the connection cleanly. vhost-user has no device
                        status, so the back-end derives it: SET_FEATURES = FEATURES_OK (after a
                        virtio reset if the driver had been running, which is how a reloaded
                        driver looks), the first ring started = DRIVER_OK.
       5 QMP            up to 16 clients, each its own vb_qmp session (greeting, then
                        qmp_capabilities, as QEMU); BALLOON_CHANGE and the stale event
                        (VB_QMP_STATS_STALE_EVENT) each at most once a second; a
                        client that reads its replies slowly is not read meanwhile, never
                        dropped; commands up to QEMU's 64 MiB. The back-end's own commands:
                        query-status, stop and cont (the guest is UML's to run: stop stands
                        the device's clock, so no polls until cont; what the guest posts is
                        still served), quit (exits).
       6 main loop      poll() over the sockets, the kick eventfds and two timerfds (the
                        device's poll timer, driven by timer_arm, and the event rate limit).

   SESSIONS
       One front-end at a time (others are accepted and closed at once, so they fail fast
       instead of hanging their boot). EOF ends the session: the device gets a virtio reset
       (vb_reset: the held stats buffer is forgotten; stats, last-update, the interval and its
       timer survive, as in QEMU) and guest memory is unmapped. Without --persistent the
       back-end then exits; with it, it accepts the next front-end.

   FEATURES OFFERED
       virtio: VERSION_1, STATS_VQ, RING_EVENT_IDX and RING_INDIRECT_DESC (vb_host_features;
       --no-stats hides STATS_VQ from the front-end; --no-event-idx / --no-indirect drop the
       last two; --deflate-on-oom adds DEFLATE_ON_OOM; --free-page-hint, --page-poison,
       --free-page-reporting add FREE_PAGE_HINT, PAGE_POISON, REPORTING: up to VB_QUEUE_MAX rings, numbered by the negotiated features; reported pages
       are punched out like inflated ones, hinted ones only counted unless --discard-hinted;
       QMP's x-balloon-free-page-hint, or SIGUSR1 / SIGUSR2, start / end a hinting round;
       per-kind totals are logged per session)
       and VHOST_USER_F_PROTOCOL_FEATURES. UML 6.1 accepts EVENT_IDX and INDIRECT_DESC (its
       driver then uses EVENT_IDX; the balloon driver never builds indirect tables).
       --packed adds VIRTIO_F_RING_PACKED (off by default, as QEMU's packed=off): then
       SET_VRING_ADDR's avail and used addresses are the driver and device event suppression
       areas, any ring size up to --queue-size is taken, and SET/GET_VRING_BASE carry vhost-user's
       packed encoding (bits 0-14 index, bit 15 wrap counter), passed to the device as they are.
       UML sends base 0 (wrap 0) for a fresh ring whose driver starts at wrap 1: the device
       reads such a ring as wrap 1 by the rule of docs/packed-ring.md, and we log it.
       protocol: REPLY_ACK, BACKEND_REQ, CONFIG, RESET_DEVICE, and INBAND_NOTIFICATIONS with
       --inband (then UML sends kicks as VRING_KICK messages and we call with VRING_CALL).
       Not offered, refused if sent: logging (SET_LOG_*), memory slots (ADD/REM_MEM_REG),
       SET_STATUS, inflight tracking, IOTLB.

   LOG (stderr)
       "[   1.234] ..." lines, seconds since start: sessions, the features the driver took, the
       first stats of a session (time since connect), each stats update with its poll round
       trip (from the push of the held buffer to the parse of the refilled one,
       CLOCK_MONOTONIC), `actual` reaching the target with the bytes the host got back (st_blocks
       of the memory file before and after each punch) and every refused message with its
       reason. --verbose adds every vhost-user message, each ring start and stop, each
       inflate/deflate buffer and the device's own diagnostics.
*/
#define _GNU_SOURCE /* fallocate, accept4, MSG_CMSG_CLOEXEC */ /* NOLINT(cert-dcl51-cpp) */
#define VBALLOON_IMPLEMENTATION
#include "vballoon.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#ifndef FALLOC_FL_PUNCH_HOLE
#include <linux/falloc.h>
#endif

#include "metrics_http.h" /* --metrics: GET /metrics over HTTP (vb_render_metrics) */

/* ============================================================================================
   1. OPTIONS, LOG, CLOCKS
   ============================================================================================ */

typedef struct options {
    const char *socket;    /* --socket: the vhost-user socket we listen on */
    const char *qmp;       /* --qmp unix:PATH */
    uint64_t ram_mib;      /* --ram (0: the memory table's size) */
    vb_profile profile;    /* --profile doc|qemu */
    unsigned keys;         /* --keys */
    unsigned queue_size;   /* --queue-size: the largest ring the front-end may set up */
    uint32_t interval;     /* --interval: initial guest-stats-polling-interval */
    const char *type_name; /* --transport */
    int persistent, inband, deflate_on_oom, no_event_idx, no_indirect, no_punch, verbose;
    int no_map;            /* --no-map: guest memory only through read/write (no map callback) */
    int free_page_hint, page_poison, reporting, discard_hinted, no_stats;
    int packed;            /* --packed / --no-packed: offer VIRTIO_F_RING_PACKED */
    mh_options metrics;    /* --metrics ADDR, --metrics-label NAME=VALUE (metrics_http.h) */
} options;

static options opt;
static uint64_t start_ns;

static void usage(FILE *f)
{
    fputs("usage: vballoon-vhost-user --socket PATH [options]\n"
          "A vhost-user virtio-balloon back-end (vballoon.h " VB_VERSION_STRING ").\n"
          "  --socket PATH       listen for the vhost-user front-end here (required)\n"
          "  --qmp unix:PATH     QMP monitor socket (up to 16 clients; qmp_capabilities first)\n"
          "  --persistent        after the front-end disconnects, accept the next one\n"
          "                      (default: exit)\n"
          "  --ram MiB           guest RAM for query-balloon and balloon (default: the size of\n"
          "                      the front-end's memory table)\n"
          "  --profile doc|qemu  guest-stats as the 2013 document (default) or as current QEMU\n"
          "  --keys 6|7|8|10|16  keys of guest-stats (default 16)\n"
          "  --interval N        initial guest-stats-polling-interval in seconds (default 0)\n"
          "  --queue-size N      largest virtqueue accepted, a power of two 16..1024\n"
          "                      (default 1024, vballoon.h's maximum; UML uses 256)\n"
          "  --transport pci|mmio  the QOM type named in errors (default pci)\n"
          "  --inband            offer in-band notifications (VRING_KICK / VRING_CALL)\n"
          "  --deflate-on-oom    offer VIRTIO_BALLOON_F_DEFLATE_ON_OOM (the guest takes pages\n"
          "                      back from the balloon rather than OOM-kill)\n"
          "  --free-page-hint    offer VIRTIO_BALLOON_F_FREE_PAGE_HINT (QMP's experimental\n"
          "                      x-balloon-free-page-hint start|stop|done and\n"
          "                      x-query-balloon-free-page-hint; or SIGUSR1 starts a hinting\n"
          "                      round, vb_hint_start; SIGUSR2 ends it, vb_hint_done)\n"
          "  --page-poison       offer VIRTIO_BALLOON_F_PAGE_POISON (config poison_val)\n"
          "  --free-page-reporting  offer VIRTIO_BALLOON_F_REPORTING: reported pages are\n"
          "                      released on the host like inflated ones\n"
          "  --discard-hinted    release hinted pages on the host too (unsafe: the guest may\n"
          "                      reuse them at any time; default: only count them)\n"
          "  --no-stats          do not offer VIRTIO_BALLOON_F_STATS_VQ to the front-end (the\n"
          "                      driver then has no stats queue; queues are numbered by the\n"
          "                      negotiated features, as Linux numbers them)\n"
          "  --no-event-idx      do not offer VIRTIO_RING_F_EVENT_IDX\n"
          "  --no-indirect       do not offer VIRTIO_RING_F_INDIRECT_DESC\n"
          "  --packed            offer VIRTIO_F_RING_PACKED: a driver that takes it lays out\n"
          "                      its rings packed (Linux takes it whenever it is offered)\n"
          "  --no-packed         do not offer it (the default: the split ring is what every\n"
          "                      front-end and QEMU's packed=off use; see docs/packed-ring.md)\n"
          "  --no-punch          keep inflated pages on the host (no fallocate)\n"
          "  --no-map            the device copies guest memory (read/write callbacks) instead\n"
          "                      of using pointers into our mappings of it (map callback)\n"
          "  --metrics ADDR      serve Prometheus metrics at GET /metrics over HTTP: ADDR is\n"
          "                      PORT or 127.0.0.1:PORT (loopback only; 0: a free port, printed\n"
          "                      on stderr as \"metrics: listening on 127.0.0.1:PORT\") or\n"
          "                      unix:PATH\n"
          "  --metrics-label NAME=VALUE  a label on every sample, e.g. vm=web1 (up to 8)\n"
          "  --verbose           log every vhost-user message and device diagnostic\n"
          "  --help              this text\n",
          f);
}

#if defined(__GNUC__) || defined(__clang__)
__attribute__((noreturn))
#endif
static void bad_usage(const char *what, const char *arg)
{
    fprintf(stderr, "vballoon-vhost-user: %s%s%s\n", what, arg ? ": " : "", arg ? arg : "");
    usage(stderr);
    exit(2);
}

static uint64_t parse_number(const char *name, const char *s, uint64_t lo, uint64_t hi)
{
    char *end;
    unsigned long long v;
    if (!s || *s < '0' || *s > '9') bad_usage("expected a number for", name);
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || *end || v < lo || v > hi) bad_usage("value out of range for", name);
    return (uint64_t)v;
}

static void parse_options(int argc, char **argv)
{
    int i;
    opt.profile = VB_PROFILE_DOC;
    opt.keys = 16;
    opt.queue_size = 1024;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *val = 0, *eq = strchr(a, '=');
        char name[32];
        size_t n = eq ? (size_t)(eq - a) : strlen(a);
        if (n >= sizeof name) bad_usage("unknown option", a);
        memcpy(name, a, n);
        name[n] = 0;
        if (!strcmp(name, "--socket") || !strcmp(name, "--qmp") || !strcmp(name, "--ram") ||
            !strcmp(name, "--profile") || !strcmp(name, "--keys") || !strcmp(name, "--interval") ||
            !strcmp(name, "--queue-size") || !strcmp(name, "--transport") || !strcmp(name, "--metrics") ||
            !strcmp(name, "--metrics-label")) {
            val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : 0);
            if (!val) bad_usage("missing value for", name);
        } else if (eq) {
            bad_usage("unexpected value for", name);
        }
        if (!val) val = ""; /* (options without a value never read it) */
        if (!strcmp(name, "--socket")) {
            opt.socket = val;
        } else if (!strcmp(name, "--qmp")) {
            if (strncmp(val, "unix:", 5) != 0 || !val[5]) bad_usage("--qmp must be unix:PATH, not", val);
            opt.qmp = val + 5;
        } else if (!strcmp(name, "--ram")) {
            opt.ram_mib = parse_number(name, val, 1, 1048576);
        } else if (!strcmp(name, "--profile")) {
            if (!strcmp(val, "doc")) opt.profile = VB_PROFILE_DOC;
            else if (!strcmp(val, "qemu")) opt.profile = VB_PROFILE_QEMU;
            else bad_usage("--profile must be doc or qemu, not", val);
        } else if (!strcmp(name, "--keys")) {
            opt.keys = (unsigned)parse_number(name, val, 6, 16);
            if (opt.keys == 9 || (opt.keys > 10 && opt.keys < 16))
                bad_usage("--keys must be 6, 7, 8, 10 or 16", 0);
        } else if (!strcmp(name, "--interval")) {
            opt.interval = (uint32_t)parse_number(name, val, 0, UINT32_MAX);
        } else if (!strcmp(name, "--queue-size")) {
            opt.queue_size = (unsigned)parse_number(name, val, 16, VB_QUEUE_SIZE_MAX);
            if (opt.queue_size & (opt.queue_size - 1u)) bad_usage("--queue-size must be a power of two", 0);
        } else if (!strcmp(name, "--transport")) {
            if (!strcmp(val, "pci")) opt.type_name = "virtio-balloon-pci";
            else if (!strcmp(val, "mmio")) opt.type_name = "virtio-balloon-device";
            else bad_usage("--transport must be pci or mmio, not", val);
        } else if (!strcmp(name, "--metrics") || !strcmp(name, "--metrics-label")) {
            const char *why = mh_option(&opt.metrics, name, val);
            if (why) bad_usage(why, val);
        } else if (!strcmp(name, "--persistent")) {
            opt.persistent = 1;
        } else if (!strcmp(name, "--inband")) {
            opt.inband = 1;
        } else if (!strcmp(name, "--deflate-on-oom")) {
            opt.deflate_on_oom = 1;
        } else if (!strcmp(name, "--free-page-hint")) {
            opt.free_page_hint = 1;
        } else if (!strcmp(name, "--page-poison")) {
            opt.page_poison = 1;
        } else if (!strcmp(name, "--free-page-reporting")) {
            opt.reporting = 1;
        } else if (!strcmp(name, "--discard-hinted")) {
            opt.discard_hinted = 1;
        } else if (!strcmp(name, "--no-stats")) {
            opt.no_stats = 1;
        } else if (!strcmp(name, "--no-event-idx")) {
            opt.no_event_idx = 1;
        } else if (!strcmp(name, "--packed") || !strcmp(name, "--no-packed")) {
            opt.packed = !strcmp(name, "--packed");
        } else if (!strcmp(name, "--no-indirect")) {
            opt.no_indirect = 1;
        } else if (!strcmp(name, "--no-punch")) {
            opt.no_punch = 1;
        } else if (!strcmp(name, "--no-map")) {
            opt.no_map = 1;
        } else if (!strcmp(name, "--verbose")) {
            opt.verbose = 1;
        } else if (!strcmp(name, "--help")) {
            usage(stdout);
            exit(0);
        } else {
            bad_usage("unknown option", a);
        }
    }
    if (!opt.socket) bad_usage("--socket PATH is required", 0);
}

/* A host error we cannot continue after (exit status 1), with the system's reason. */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((noreturn))
#endif
static void die(const char *what)
{
    if (errno) fprintf(stderr, "vballoon-vhost-user: %s: %s\n", what, strerror(errno));
    else fprintf(stderr, "vballoon-vhost-user: %s\n", what);
    exit(1);
}

static uint64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    if (clock_gettime(id, &ts) != 0) die("clock_gettime");
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t mono_ns(void) { return clock_ns(CLOCK_MONOTONIC); }

#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 1, 2)))
#endif
static void say(const char *fmt, ...)
{
    va_list ap;
    uint64_t t = (mono_ns() - start_ns) / 1000000u;
    fprintf(stderr, "[%4" PRIu64 ".%03u] ", t / 1000u, (unsigned)(t % 1000u));
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

#define VERBOSE(...)                   \
    do {                               \
        if (opt.verbose) say(__VA_ARGS__); \
    } while (0)

/* ============================================================================================
   2. GUEST MEMORY (SET_MEM_TABLE regions)
   ============================================================================================ */

#define MAX_REGIONS 8 /* VHOST_MEMORY_BASELINE_NREGIONS */

typedef struct region {
    uint64_t gpa, size, uva, offset; /* as the front-end gave them */
    int fd;
    void *map;            /* mmap of the file from offset rounded down to a page */
    size_t map_len;
    unsigned char *host;  /* our address of gpa */
} region;

static long host_page;

/* Guest memory is shared with another process that may shrink the file under us; an access to
   a page past the new end raises SIGBUS. In a copy (read/write callbacks) the guard turns it
   into a failed access (a device error) instead of a crash. SA_NODEFER + sigsetjmp(.., 0): no
   system call per access. The device's own loads and stores through map() pointers cannot be
   jumped out of (it would be left in the middle of a step), so there the page that is gone is
   replaced by a zero page and the access goes on (section 3: lost_page_replace). */
static sigjmp_buf *volatile bus_guard;
static int lost_page_replace(void *addr);

static void on_sigbus(int sig, siginfo_t *si, void *ctx)
{
    (void)ctx;
    if (bus_guard) siglongjmp(*bus_guard, 1);
    if (si && lost_page_replace(si->si_addr)) return; /* the access is retried and reads zero */
    signal(sig, SIG_DFL); /* not ours: crash as usual */
    raise(sig);
}

/* Copy with the guard. Aligned 2-, 4- and 8-byte accesses are single loads/stores: ring indexes
   are written by the guest while we read them, and a torn index would look like a hostile one. */
static int guarded_copy(void *dst, const void *src, size_t len)
{
    sigjmp_buf jb;
    uintptr_t both = (uintptr_t)dst | (uintptr_t)src;
    if (sigsetjmp(jb, 0)) {
        bus_guard = NULL;
        return -1;
    }
    bus_guard = &jb;
    if (len == 2 && !(both & 1u))
        __atomic_store_n((uint16_t *)dst, __atomic_load_n((const uint16_t *)src, __ATOMIC_RELAXED),
                         __ATOMIC_RELAXED);
    else if (len == 4 && !(both & 3u))
        __atomic_store_n((uint32_t *)dst, __atomic_load_n((const uint32_t *)src, __ATOMIC_RELAXED),
                         __ATOMIC_RELAXED);
    else if (len == 8 && !(both & 7u))
        __atomic_store_n((uint64_t *)dst, __atomic_load_n((const uint64_t *)src, __ATOMIC_RELAXED),
                         __ATOMIC_RELAXED);
    else
        memcpy(dst, src, len);
    bus_guard = NULL;
    return 0;
}

static void region_unmap(region *r)
{
    if (r->map && munmap(r->map, r->map_len) != 0) die("munmap");
    if (r->fd >= 0 && close(r->fd) != 0) die("close");
    memset(r, 0, sizeof *r);
    r->fd = -1;
}

/* Map one region. 0 = ok, else a reason (the fd is closed in every case of failure). */
static const char *region_map(region *r)
{
    struct stat st;
    uint64_t base, skew;
    if (r->size == 0) return "empty memory region";
    if (r->gpa > UINT64_MAX - r->size || r->uva > UINT64_MAX - r->size ||
        r->offset > UINT64_MAX - r->size)
        return "memory region wraps past 2^64";
    if (fstat(r->fd, &st) != 0) return "fstat of the memory fd failed";
    if (!S_ISREG(st.st_mode)) return "memory fd is not a regular file (memfd, shm or hugetlbfs)";
    if (st.st_size < 0 || (uint64_t)st.st_size < r->offset + r->size)
        return "memory region extends past the end of its file";
    base = r->offset & ~(uint64_t)(host_page - 1);
    skew = r->offset - base;
    if (r->size > (uint64_t)SIZE_MAX - skew || base > (uint64_t)INT64_MAX)
        return "memory region too large to map";
    r->map_len = (size_t)(r->size + skew);
    r->map = mmap(NULL, r->map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, r->fd,
                  (off_t)base);
    if (r->map == MAP_FAILED) {
        r->map = NULL;
        return "mmap of a memory region failed";
    }
    r->host = (unsigned char *)r->map + skew;
    return 0;
}

/* The region holding [addr, addr + len) in guest-physical (by_uva = 0) or front-end virtual
   (by_uva = 1) addresses, entirely; NULL if none. */
static const region *region_find(const region *mem, unsigned n, uint64_t addr, uint64_t len, int by_uva)
{
    unsigned i;
    for (i = 0; i < n; i++) {
        uint64_t start = by_uva ? mem[i].uva : mem[i].gpa;
        if (addr >= start && addr - start < mem[i].size && len <= mem[i].size - (addr - start))
            return &mem[i];
    }
    return NULL;
}

/* ============================================================================================
   3. THE BACK-END STATE AND THE vb_host CALLBACKS
   ============================================================================================ */

#define QUEUES VB_QUEUE_MAX /* arrays; the queues that exist: queue_limit() */

typedef struct vring {
    int kick_fd, call_fd;   /* -1 when none */
    uint16_t num;
    int num_set;
    uint64_t desc_uva, avail_uva, used_uva;
    int addr_set;
    uint16_t base;
    int base_pending;       /* SET_VRING_BASE not yet given to the device */
    int enabled;            /* SET_VRING_ENABLE 1 (or a kick fd without PROTOCOL_FEATURES) */
    int started;            /* the device's queue is ready */
} vring;

typedef struct session {
    int fd;                 /* the front-end's connection, -1 when none */
    int backend_fd;         /* SET_BACKEND_REQ_FD, -1 when none */
    uint64_t features;      /* SET_FEATURES (with bit 30) */
    int features_set;
    uint64_t protocol;      /* SET_PROTOCOL_FEATURES */
    region mem[MAX_REGIONS];
    unsigned nmem;
    vring vq[QUEUES];
    uint64_t connected_ns;
    int got_stats;          /* the first stats buffer of this session arrived */
    uint32_t messages;
    uint64_t mapped, copied; /* guest memory accesses: pointers map() gave, read/write copies */
} session;

typedef struct backend {
    vb_device dev;
    session s;
    int listen_fd, qmp_fd, poll_tfd, event_tfd;
    /* recorded by the callbacks, acted on by after_device() */
    unsigned irq_pending;   /* bit q: used-buffer interrupt of queue q */
    int config_pending;
    int actual_pending;
    int stale_pending;      /* stats_stale was called */
    int stale_told;         /* the freshness the last stale event (and log line) told */
    int in_timer;           /* inside vb_timer_expired: a stats push is a poll */
    uint64_t poll_push_ns;  /* when the held buffer went back to the guest, 0 = none */
    uint32_t seen_updates;
    /* inflate/deflate accounting */
    uint64_t inflated_bytes, deflated_bytes, released_bytes, refused_bytes;
    uint64_t kick_inflated, kick_deflated, kick_released;
    /* pages() by vb_range_kind: ranges, bytes, bytes the host released (st_blocks) */
    uint64_t kind_ranges[VB_RANGE_KINDS], kind_bytes[VB_RANGE_KINDS], kind_released[VB_RANGE_KINDS];
    uint64_t logged_ranges[VB_RANGE_KINDS]; /* kind_ranges at the last report/hint log line */
    uint32_t logged_guest_id;               /* vb_hint()->guest_cmd_id at the last log line */
    uint32_t sessions;
    /* QMP stop/cont: the device's VM clock (CLOCK_MONOTONIC less the time it stood) stands */
    int stopped;
    uint64_t frozen_ms;   /* the VM clock while it stands */
    uint64_t stood_ms;    /* monotonic time the VM clock stood, all stops together */
    uint64_t deadline_ms; /* the poll timer's deadline (VM clock), 0 = not armed */
} backend;

static backend B;

#define PROTO_BIT(n) ((uint64_t)1 << (n))
#define VHOST_USER_F_PROTOCOL_FEATURES 30
#define P_REPLY_ACK 3
#define P_BACKEND_REQ 5
#define P_CONFIG 9
#define P_RESET_DEVICE 13
#define P_INBAND 14

/* --no-stats hides STATS_VQ here, in what GET_FEATURES answers: vballoon.h always offers it,
   and takes a driver's features without it as any subset of its offer. */
static uint64_t offered_features(void)
{
    uint64_t f = vb_host_features(&B.dev) | PROTO_BIT(VHOST_USER_F_PROTOCOL_FEATURES);
    if (opt.no_stats) f &= ~((uint64_t)1 << VB_F_STATS_VQ);
    return f;
}

static uint64_t offered_protocol(void)
{
    uint64_t p = PROTO_BIT(P_REPLY_ACK) | PROTO_BIT(P_BACKEND_REQ) | PROTO_BIT(P_CONFIG) |
                 PROTO_BIT(P_RESET_DEVICE);
    if (opt.inband) p |= PROTO_BIT(P_INBAND);
    return p;
}

static int has_protocol(uint64_t bit) { return (B.s.protocol & PROTO_BIT(bit)) != 0; }

/* Queues of a driver that accepts every feature offered: 3 (2 with --no-stats), + free page,
   + reporting. */
static unsigned queues_offered(void)
{
    return (unsigned)VB_QUEUE_COUNT - (opt.no_stats ? 1u : 0u) + (opt.free_page_hint ? 1u : 0u) +
           (opt.reporting ? 1u : 0u);
}

/* Guest memory, the safe default: the device copies what it reads and writes through these
   two, each copy inside one region and under the SIGBUS guard. */
static int host_read(void *user, uint64_t gpa, void *dst, size_t len)
{
    const region *r = region_find(B.s.mem, B.s.nmem, gpa, len, 0);
    (void)user;
    B.s.copied++;
    if (!r) return -1;
    return guarded_copy(dst, r->host + (gpa - r->gpa), len);
}

static int host_write(void *user, uint64_t gpa, const void *src, size_t len)
{
    const region *r = region_find(B.s.mem, B.s.nmem, gpa, len, 0);
    (void)user;
    B.s.copied++;
    if (!r) return -1;
    return guarded_copy(r->host + (gpa - r->gpa), src, len);
}

/* Guest memory, the direct path: a pointer into our mapping of the one region that holds all
   of [gpa, gpa + len), which the device then loads and stores itself (each ring field still
   once per decision). Why: a stats round costs about half the instructions of the copies
   (README, "Benchmarks"). A range that crosses a region's end, or lies outside every region,
   is refused (NULL): guest-physical neighbours need not be neighbours here, and read/write then
   refuse it too. Every region is mapped read-write (region_map), so `write` never refuses. The
   rings stay mapped while their queue runs: set_mem_table() calls vb_memory_changed(). */
static void *host_map(void *user, uint64_t gpa, uint64_t len, int write)
{
    const region *r = opt.no_map ? NULL : region_find(B.s.mem, B.s.nmem, gpa, len, 0);
    (void)user;
    (void)write;
    if (!r) return NULL;
    B.s.mapped++;
    return r->host + (gpa - r->gpa);
}

/* SIGBUS on a page of a mapped region, outside a guarded copy: the device's own access through
   a map() pointer hit a page the front-end truncated away. Replace that page of our mapping by
   a private zero page (mmap is a plain system call, safe in this synchronous signal) and note
   it: after_device() breaks the device, as a failed copy would have. 1 if it was ours. */
static volatile sig_atomic_t bus_fault;

static int lost_page_replace(void *addr)
{
    uintptr_t a = (uintptr_t)addr;
    unsigned i;
    for (i = 0; i < B.s.nmem; i++) {
        const region *r = &B.s.mem[i];
        if (r->map && a >= (uintptr_t)r->map && a - (uintptr_t)r->map < r->map_len) {
            void *page = (void *)(a & ~(uintptr_t)(host_page - 1));
            if (mmap(page, (size_t)host_page, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
                return 0;
            bus_fault = 1;
            return 1;
        }
    }
    return 0;
}

/* The VM clock: monotonic, standing while QMP stop holds it (no polls while stopped, as in a
   paused QEMU). */
static uint64_t host_now_ms(void *user)
{
    (void)user;
    return B.stopped ? B.frozen_ms : mono_ns() / 1000000u - B.stood_ms;
}

static int64_t host_wall_s(void *user)
{
    (void)user;
    return (int64_t)(clock_ns(CLOCK_REALTIME) / 1000000000u);
}

/* One-shot absolute CLOCK_MONOTONIC timer at `ms` (0 disarms: never passed for a deadline). */
static void timerfd_at(int fd, uint64_t ms)
{
    struct itimerspec its;
    memset(&its, 0, sizeof its);
    if (ms) {
        if (ms > (uint64_t)INT32_MAX * 1000u) ms = (uint64_t)INT32_MAX * 1000u; /* ~68 years */
        its.it_value.tv_sec = (time_t)(ms / 1000u);
        its.it_value.tv_nsec = (long)(ms % 1000u) * 1000000L;
    }
    if (timerfd_settime(fd, TFD_TIMER_ABSTIME, &its, NULL) != 0) die("timerfd_settime");
}

/* The poll timer: a deadline on the VM clock, a monotonic timerfd while the clock runs. */
static void host_timer_arm(void *user, uint64_t deadline_ms)
{
    (void)user;
    B.deadline_ms = deadline_ms ? deadline_ms : 1u; /* a past deadline fires at once */
    if (!B.stopped) timerfd_at(B.poll_tfd, B.deadline_ms + B.stood_ms);
}

static void host_timer_cancel(void *user)
{
    (void)user;
    B.deadline_ms = 0;
    timerfd_at(B.poll_tfd, 0);
}

static void host_notify_queue(void *user, unsigned queue)
{
    (void)user;
    B.irq_pending |= 1u << queue;
    if (vb_queue_role(&B.dev, queue) == VB_QUEUE_STATS && B.in_timer) B.poll_push_ns = mono_ns();
}

static void host_notify_config(void *user)
{
    (void)user;
    B.config_pending = 1;
}

/* Inflate: give the pages' memory back to the host by punching them out of the memory file
   (the guest gets zero pages if it ever touches them again). Only whole host pages strictly
   inside one mapped region are punched: anything else is a guest error and is left alone. The
   released bytes are measured, not assumed: st_blocks of the file before and after. */
static uint64_t punch(const char *what, uint64_t gpa, uint64_t len)
{
    uint64_t released = 0;
    while (len) {
        const region *r = region_find(B.s.mem, B.s.nmem, gpa, 1, 0);
        uint64_t in, off, start, end, pg = (uint64_t)host_page;
        struct stat before, after;
        if (!r) {
            B.refused_bytes += len;
            VERBOSE("%s: %" PRIu64 " bytes at gpa 0x%" PRIx64 " are not guest RAM, ignored", what,
                    len, gpa);
            return released;
        }
        in = r->size - (gpa - r->gpa);
        if (in > len) in = len;
        off = r->offset + (gpa - r->gpa);
        start = (off + pg - 1u) & ~(pg - 1u);
        end = (off + in) & ~(pg - 1u);
        if (!opt.no_punch && end > start) {
            if (fstat(r->fd, &before) != 0) die("fstat");
            if (fallocate(r->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)start,
                          (off_t)(end - start)) != 0) {
                say("%s: fallocate(PUNCH_HOLE) failed: %s (pages stay on the host)", what,
                    strerror(errno));
            } else {
                if (fstat(r->fd, &after) != 0) die("fstat");
                if (before.st_blocks > after.st_blocks)
                    released += (uint64_t)(before.st_blocks - after.st_blocks) * 512u;
            }
        }
        gpa += in; /* (the next region, if the range goes on past this one's end) */
        len -= in;
    }
    return released;
}

/* pages(): inflated and reported ranges are punched out (reported pages are free in the guest,
   which does not care what they read as); deflated ones come back when touched; hinted ones are
   only counted unless --discard-hinted (the guest may reuse a hinted page at any time, and a
   punched page it had written since would read as zero: QEMU only skips them in a migration). */
static void host_pages(void *user, unsigned kind, uint64_t gpa, uint64_t len)
{
    uint64_t released = 0;
    (void)user;
    if (kind >= VB_RANGE_KINDS) return;
    B.kind_ranges[kind]++;
    B.kind_bytes[kind] += len;
    switch (kind) {
    case VB_RANGE_INFLATE:
        B.kick_inflated += len;
        released = punch("inflate", gpa, len);
        B.kick_released += released;
        break;
    case VB_RANGE_DEFLATE:
        B.kick_deflated += len; /* nothing to do: the pages come back when touched */
        break;
    case VB_RANGE_REPORTED:
        released = punch("report", gpa, len);
        VERBOSE("report: %" PRIu64 " KiB at gpa 0x%" PRIx64 ", host released %" PRIu64 " KiB",
                len >> 10, gpa, released >> 10);
        break;
    default: /* VB_RANGE_HINTED */
        if (opt.discard_hinted) released = punch("hint", gpa, len);
        break;
    }
    B.kind_released[kind] += released;
}

/* The per-kind counters, one line (at each session's end and at exit). */
static void log_ranges(const char *when)
{
    static const char *const names[VB_RANGE_KINDS] = {"inflated", "deflated", "reported", "hinted"};
    char line[512];
    size_t n = 0;
    unsigned k;
    for (k = 0; k < VB_RANGE_KINDS; k++) {
        int w = snprintf(line + n, sizeof line - n, "%s%s %" PRIu64 " ranges %.1f MiB (host released %.1f MiB)",
                         k ? ", " : "", names[k], B.kind_ranges[k], (double)B.kind_bytes[k] / 1048576.0,
                         (double)B.kind_released[k] / 1048576.0);
        if (w < 0 || (size_t)w >= sizeof line - n) break;
        n += (size_t)w;
    }
    say("pages %s: %s", when, line);
}

static void host_actual_changed(void *user, uint32_t actual)
{
    (void)user;
    (void)actual;
    B.actual_pending = 1;
}

/* The stats became stale (1) or fresh (0): the event goes out from after_device(). */
static void host_stats_stale(void *user, int stale)
{
    (void)user;
    (void)stale;
    B.stale_pending = 1;
}

static void host_log(void *user, vb_log_level level, vb_log_item item, const char *msg)
{
    static const char *const names[] = {"", "error", "warning", "info"};
    (void)user;
    /* the starting wrap counter corrected (a front-end's base 0 for a fresh packed ring, as
       UML sends it): once per ring start, always worth a line (docs/packed-ring.md) */
    if (level == VB_LOG_ERROR || opt.verbose || item == VB_LOG_PACKED_WRAP) say("device %s: %s", names[level], msg);
}

static const vb_host host_ops = {
    host_read,         host_write,          host_now_ms,  host_timer_arm,
    host_timer_cancel, host_wall_s,         host_notify_queue, host_notify_config,
    host_pages,        host_actual_changed, host_log,          host_stats_stale, host_map,
};

/* ============================================================================================
   4. VHOST-USER
   ============================================================================================ */

enum {
    VU_GET_FEATURES = 1,
    VU_SET_FEATURES = 2,
    VU_SET_OWNER = 3,
    VU_RESET_OWNER = 4,
    VU_SET_MEM_TABLE = 5,
    VU_SET_LOG_BASE = 6,
    VU_SET_LOG_FD = 7,
    VU_SET_VRING_NUM = 8,
    VU_SET_VRING_ADDR = 9,
    VU_SET_VRING_BASE = 10,
    VU_GET_VRING_BASE = 11,
    VU_SET_VRING_KICK = 12,
    VU_SET_VRING_CALL = 13,
    VU_SET_VRING_ERR = 14,
    VU_GET_PROTOCOL_FEATURES = 15,
    VU_SET_PROTOCOL_FEATURES = 16,
    VU_GET_QUEUE_NUM = 17,
    VU_SET_VRING_ENABLE = 18,
    VU_SET_BACKEND_REQ_FD = 21,
    VU_GET_CONFIG = 24,
    VU_SET_CONFIG = 25,
    VU_RESET_DEVICE = 34,
    VU_VRING_KICK = 35,
    VU_REQUEST_MAX = 41,
    /* back-end -> front-end, on the back-end channel */
    VU_BACKEND_CONFIG_CHANGE_MSG = 2,
    VU_BACKEND_VRING_CALL = 4
};

#define VU_VERSION 0x1u
#define VU_REPLY 0x4u
#define VU_NEED_REPLY 0x8u
#define VU_HDR 12u
#define VU_MAX_CONFIG 256u                /* VHOST_USER_MAX_CONFIG_SIZE */
#define VU_MAX_PAYLOAD (12u + VU_MAX_CONFIG) /* GET/SET_CONFIG is the largest */
#define VU_MAX_FDS MAX_REGIONS
#define VU_IO_TIMEOUT_MS 2000              /* the rest of a message, or room for a reply */
#define VU_FD_INVALID 0x100u               /* vring fd messages: no fd (polling) */

static const char *vu_name(uint32_t req)
{
    static const char *const names[VU_REQUEST_MAX] = {
        "NONE", "GET_FEATURES", "SET_FEATURES", "SET_OWNER", "RESET_OWNER", "SET_MEM_TABLE",
        "SET_LOG_BASE", "SET_LOG_FD", "SET_VRING_NUM", "SET_VRING_ADDR", "SET_VRING_BASE",
        "GET_VRING_BASE", "SET_VRING_KICK", "SET_VRING_CALL", "SET_VRING_ERR",
        "GET_PROTOCOL_FEATURES", "SET_PROTOCOL_FEATURES", "GET_QUEUE_NUM", "SET_VRING_ENABLE",
        "SEND_RARP", "NET_SET_MTU", "SET_BACKEND_REQ_FD", "IOTLB_MSG", "SET_VRING_ENDIAN",
        "GET_CONFIG", "SET_CONFIG", "CREATE_CRYPTO_SESSION", "CLOSE_CRYPTO_SESSION",
        "POSTCOPY_ADVISE", "POSTCOPY_LISTEN", "POSTCOPY_END", "GET_INFLIGHT_FD",
        "SET_INFLIGHT_FD", "GPU_SET_SOCKET", "RESET_DEVICE", "VRING_KICK", "GET_MAX_MEM_SLOTS",
        "ADD_MEM_REG", "REM_MEM_REG", "SET_STATUS", "GET_STATUS"};
    return req < VU_REQUEST_MAX ? names[req] : "unknown";
}

typedef struct vu_msg {
    uint32_t req, flags, size;
    unsigned char p[VU_MAX_PAYLOAD];
    int fds[VU_MAX_FDS];
    unsigned nfds;
} vu_msg;

static uint32_t ld32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t ld64(const unsigned char *p) { return ld32(p) | (uint64_t)ld32(p + 4) << 32; }

static void st32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static void st64(unsigned char *p, uint64_t v)
{
    st32(p, (uint32_t)v);
    st32(p + 4, (uint32_t)(v >> 32));
}

static void close_fd(int *fd)
{
    if (*fd >= 0 && close(*fd) != 0 && errno != EINTR) die("close");
    *fd = -1;
}

static void msg_close_fds(vu_msg *m)
{
    unsigned i;
    for (i = 0; i < m->nfds; i++) close_fd(&m->fds[i]);
    m->nfds = 0;
}

/* Take a received fd out of the message (so that it is not closed with the rest). */
static int msg_take_fd(vu_msg *m, unsigned i)
{
    int fd = m->fds[i];
    m->fds[i] = -1;
    return fd;
}

static int wait_fd(int fd, short events, int timeout_ms)
{
    struct pollfd p;
    int r;
    p.fd = fd;
    p.events = events;
    p.revents = 0;
    do r = poll(&p, 1, timeout_ms);
    while (r < 0 && errno == EINTR);
    if (r < 0) die("poll");
    return r > 0;
}

/* Exactly `len` bytes from a non-blocking socket, waiting at most VU_IO_TIMEOUT_MS in all.
   1 = ok, 0 = EOF or timeout or error. No fds may come with these bytes. */
static int recv_full(int fd, unsigned char *buf, size_t len)
{
    uint64_t deadline = mono_ns() + (uint64_t)VU_IO_TIMEOUT_MS * 1000000u;
    while (len) {
        ssize_t n = recv(fd, buf, len, MSG_DONTWAIT);
        if (n > 0) {
            buf += n;
            len -= (size_t)n;
            continue;
        }
        if (n == 0) return 0;
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return 0;
        {
            uint64_t now = mono_ns();
            if (now >= deadline || !wait_fd(fd, POLLIN, (int)((deadline - now) / 1000000u) + 1)) return 0;
        }
    }
    return 1;
}

/* All of `len` bytes to a socket without blocking the loop for more than VU_IO_TIMEOUT_MS. */
static int send_full(int fd, const void *buf, size_t len)
{
    const unsigned char *p = (const unsigned char *)buf;
    uint64_t deadline = mono_ns() + (uint64_t)VU_IO_TIMEOUT_MS * 1000000u;
    while (len) {
        ssize_t n = send(fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n >= 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return 0;
        {
            uint64_t now = mono_ns();
            if (now >= deadline || !wait_fd(fd, POLLOUT, (int)((deadline - now) / 1000000u) + 1)) return 0;
        }
    }
    return 1;
}

/* Payload sizes: exact, or a range for the variable ones (checked again once read).
   1 = ok, 0 = wrong size, -1 = a request we do not support (nothing we offered allows it). */
static int payload_size_ok(uint32_t req, uint32_t size)
{
    switch (req) {
    case VU_GET_FEATURES:
    case VU_SET_OWNER:
    case VU_RESET_OWNER:
    case VU_GET_PROTOCOL_FEATURES:
    case VU_GET_QUEUE_NUM:
    case VU_SET_BACKEND_REQ_FD:
    case VU_RESET_DEVICE:
        return size == 0;
    case VU_SET_FEATURES:
    case VU_SET_PROTOCOL_FEATURES:
    case VU_SET_VRING_NUM:
    case VU_SET_VRING_BASE:
    case VU_GET_VRING_BASE:
    case VU_SET_VRING_KICK:
    case VU_SET_VRING_CALL:
    case VU_SET_VRING_ERR:
    case VU_SET_VRING_ENABLE:
    case VU_VRING_KICK:
        return size == 8;
    case VU_SET_VRING_ADDR:
        return size == 40;
    case VU_SET_MEM_TABLE: /* nregions, padding, up to 8 regions of 32 bytes */
        return size >= 8 && size <= 8u + 32u * MAX_REGIONS;
    case VU_GET_CONFIG:
    case VU_SET_CONFIG: /* offset, size, flags, data */
        return size >= 12 && size <= VU_MAX_PAYLOAD;
    default:
        return -1;
    }
}

/* Read one message. 1 = got it, 2 = nothing there yet, 0 = end of connection, -1 = malformed
   (*why says why; the connection must end). */
static int vu_recv(int fd, vu_msg *m, const char **why)
{
    unsigned char hdr[VU_HDR];
    union {
        char buf[CMSG_SPACE(VU_MAX_FDS * sizeof(int))];
        struct cmsghdr align;
    } ctl;
    struct msghdr mh;
    struct iovec iov;
    struct cmsghdr *c;
    ssize_t n;
    int bad_cmsg = 0, ok;

    *why = NULL;
    m->nfds = 0;
    iov.iov_base = hdr;
    iov.iov_len = sizeof hdr;
    memset(&mh, 0, sizeof mh);
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = ctl.buf;
    mh.msg_controllen = sizeof ctl.buf;
    do n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return 2; /* spurious wake-up */
        *why = errno == ECONNRESET ? NULL : "recvmsg failed";
        return *why ? -1 : 0;
    }
    for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
        size_t k, count;
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS || c->cmsg_len < CMSG_LEN(0)) {
            bad_cmsg = 1;
            continue;
        }
        count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (k = 0; k < count; k++) {
            int f;
            memcpy(&f, CMSG_DATA(c) + k * sizeof(int), sizeof f);
            if (m->nfds < VU_MAX_FDS) m->fds[m->nfds++] = f;
            else if (close(f) != 0) die("close");
        }
    }
    if (n == 0) {
        msg_close_fds(m);
        return 0;
    }
    if (mh.msg_flags & MSG_CTRUNC) *why = "too many file descriptors";
    else if (bad_cmsg) *why = "unexpected control message";
    else if ((size_t)n < sizeof hdr && !recv_full(fd, hdr + n, sizeof hdr - (size_t)n))
        *why = "truncated header";
    if (*why) {
        msg_close_fds(m);
        return -1;
    }
    m->req = ld32(hdr);
    m->flags = ld32(hdr + 4);
    m->size = ld32(hdr + 8);
    if ((m->flags & 0x3u) != VU_VERSION) *why = "wrong protocol version in flags";
    else if (m->flags & ~(VU_VERSION | VU_NEED_REPLY)) *why = "reply or reserved bit set in flags";
    else if ((ok = payload_size_ok(m->req, m->size)) <= 0)
        *why = ok < 0 ? "unsupported request" : "wrong payload size for the request";
    else if (m->size && !recv_full(fd, m->p, m->size))
        *why = "truncated payload";
    if (*why) {
        msg_close_fds(m);
        return -1;
    }
    return 1;
}

static int vu_reply(const vu_msg *req, const void *payload, uint32_t size)
{
    unsigned char buf[VU_HDR + VU_MAX_PAYLOAD];
    st32(buf, req->req);
    st32(buf + 4, VU_VERSION | VU_REPLY);
    st32(buf + 8, size);
    if (size) memcpy(buf + VU_HDR, payload, size);
    return send_full(B.s.fd, buf, VU_HDR + size);
}

static int vu_reply_u64(const vu_msg *req, uint64_t v)
{
    unsigned char p[8];
    st64(p, v);
    return vu_reply(req, p, 8);
}

/* A message on the back-end channel; no reply asked for, so none to read. */
static int backend_send(uint32_t req, const void *payload, uint32_t size)
{
    unsigned char buf[VU_HDR + 8];
    if (B.s.backend_fd < 0 || size > 8) return 0;
    st32(buf, req);
    st32(buf + 4, VU_VERSION);
    st32(buf + 8, size);
    if (size) memcpy(buf + VU_HDR, payload, size);
    if (send_full(B.s.backend_fd, buf, VU_HDR + size)) return 1;
    say("back-end channel: send failed (%s); closing it", errno ? strerror(errno) : "timeout");
    close_fd(&B.s.backend_fd);
    return 0;
}

/* The used-buffer interrupt: 8 bytes on the call fd (UML's is a socketpair, QEMU's an eventfd),
   or VRING_CALL in-band. A full socket means the interrupt is already pending. */
static void signal_queue(unsigned q)
{
    vring *v = &B.s.vq[q];
    if (v->call_fd >= 0) {
        uint64_t one = 1;
        ssize_t n = send(v->call_fd, &one, sizeof one, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0 && errno == ENOTSOCK) n = write(v->call_fd, &one, sizeof one);
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            VERBOSE("queue %u: call fd: %s; closing it", q, strerror(errno));
            close_fd(&v->call_fd);
        }
    } else if (has_protocol(P_INBAND)) {
        unsigned char p[8];
        st32(p, q);
        st32(p + 4, 0);
        backend_send(VU_BACKEND_VRING_CALL, p, 8);
    }
}

/* Bytes of the guest memory files the host has really allocated (st_blocks), each file once
   (a front-end may hand over one file as several regions). */
static uint64_t memory_allocated(void)
{
    struct stat st[MAX_REGIONS];
    uint64_t sum = 0;
    unsigned i, j;
    for (i = 0; i < B.s.nmem; i++) {
        if (fstat(B.s.mem[i].fd, &st[i]) != 0) die("fstat");
        for (j = 0; j < i; j++)
            if (st[j].st_dev == st[i].st_dev && st[j].st_ino == st[i].st_ino) break;
        if (j == i) sum += (uint64_t)st[i].st_blocks * 512u;
    }
    return sum;
}

/* ---- QMP events are needed here; their implementation is in section 5 ---- */
static void event_balloon_change(void);
static void event_stats_stale(void);

/* The stats went stale or fresh: a log line with the VM clock (the test times it against the
   last buffer), then the stale event. Only a change of what was last told is told. */
static void stats_freshness_changed(void)
{
    const vb_telemetry *t = vb_get_telemetry(&B.dev);
    uint64_t now = host_now_ms(NULL);
    B.stale_pending = 0;
    if (t->stale == B.stale_told) return;
    B.stale_told = t->stale;
    if (t->stale)
        say("stats: stale, %" PRIu32 " polling intervals missed (VM clock %" PRIu64
            " ms; last buffer at %" PRIu64 " ms, %.1f s before)",
            t->missed, now, t->last_stats_ms,
            t->last_stats_ms ? (double)(now - t->last_stats_ms) / 1000.0 : -1.0);
    else
        say("stats: fresh (VM clock %" PRIu64 " ms; last buffer at %" PRIu64 " ms)", now, t->last_stats_ms);
    event_stats_stale();
}

static void log_balloon_kick(void)
{
    if (B.kick_inflated) {
        B.inflated_bytes += B.kick_inflated;
        B.released_bytes += B.kick_released;
        VERBOSE("inflate: %" PRIu64 " KiB, host released %" PRIu64 " KiB (total inflated %" PRIu64
                " KiB, released %" PRIu64 " KiB)",
                B.kick_inflated >> 10, B.kick_released >> 10, B.inflated_bytes >> 10,
                B.released_bytes >> 10);
    }
    if (B.kick_deflated) {
        B.deflated_bytes += B.kick_deflated;
        VERBOSE("deflate: %" PRIu64 " KiB (total %" PRIu64 " KiB)", B.kick_deflated >> 10,
                B.deflated_bytes >> 10);
    }
    B.kick_inflated = B.kick_deflated = B.kick_released = 0;
    /* reported and hinted ranges: one line per batch the device handled */
    if (B.kind_ranges[VB_RANGE_REPORTED] != B.logged_ranges[VB_RANGE_REPORTED])
        say("report: %" PRIu64 " ranges, %.1f MiB in all; host released %.1f MiB in all",
            B.kind_ranges[VB_RANGE_REPORTED], (double)B.kind_bytes[VB_RANGE_REPORTED] / 1048576.0,
            (double)B.kind_released[VB_RANGE_REPORTED] / 1048576.0);
    if (B.kind_ranges[VB_RANGE_HINTED] != B.logged_ranges[VB_RANGE_HINTED])
        say("hint: %" PRIu64 " ranges, %.1f MiB in all%s", B.kind_ranges[VB_RANGE_HINTED],
            (double)B.kind_bytes[VB_RANGE_HINTED] / 1048576.0,
            opt.discard_hinted ? " (discarded)" : " (kept on the host)");
    if (vb_hint(&B.dev)->guest_cmd_id != B.logged_guest_id) {
        B.logged_guest_id = vb_hint(&B.dev)->guest_cmd_id;
        say("hint: the guest's last command id 0x%" PRIx32 "%s", B.logged_guest_id,
            B.logged_guest_id == 0 ? " (STOP: its round ended)" : "");
    }
    B.logged_ranges[VB_RANGE_REPORTED] = B.kind_ranges[VB_RANGE_REPORTED];
    B.logged_ranges[VB_RANGE_HINTED] = B.kind_ranges[VB_RANGE_HINTED];
}

/* Everything the callbacks recorded during a vb_* call, done now that the call has returned. */
static void after_device(void)
{
    unsigned q;
    const vb_counters *c = vb_get_counters(&B.dev);

    if (bus_fault) { /* a mapped page was gone (lost_page_replace): what the device read is void */
        bus_fault = 0;
        say("guest memory: a page of the memory file is gone (the front-end shrank it); it reads as zero now");
        vb_break(&B.dev, VB_LOG_RING_MEMORY);
    }
    for (q = 0; q < QUEUES; q++)
        if (B.irq_pending & (1u << q) && B.s.fd >= 0) signal_queue(q);
    B.irq_pending = 0;
    log_balloon_kick();
    if (c->updates != B.seen_updates) {
        uint64_t now = mono_ns(), free_b = 0, total_b = 0;
        B.seen_updates = c->updates;
        vb_stat(&B.dev, VB_STAT_MEMFREE, &free_b);
        vb_stat(&B.dev, VB_STAT_MEMTOT, &total_b);
        if (!B.s.got_stats && B.s.fd >= 0) {
            B.s.got_stats = 1;
            say("stats: first buffer of the session, %.1f ms after connect (free %.1f MiB, total "
                "%.1f MiB)",
                (double)(now - B.s.connected_ns) / 1e6, (double)free_b / 1048576.0,
                (double)total_b / 1048576.0);
        } else if (B.poll_push_ns) {
            say("stats: update %" PRIu32 ", poll round trip %.3f ms (free %.1f MiB, total %.1f MiB)",
                c->updates, (double)(now - B.poll_push_ns) / 1e6, (double)free_b / 1048576.0,
                (double)total_b / 1048576.0);
        } else {
            say("stats: update %" PRIu32 " (unsolicited) (free %.1f MiB, total %.1f MiB)", c->updates,
                (double)free_b / 1048576.0, (double)total_b / 1048576.0);
        }
        B.poll_push_ns = 0;
    }
    if (B.config_pending) {
        B.config_pending = 0;
        if (B.s.fd >= 0 && B.s.backend_fd >= 0 && has_protocol(P_BACKEND_REQ)) {
            if (backend_send(VU_BACKEND_CONFIG_CHANGE_MSG, NULL, 0))
                VERBOSE("-> CONFIG_CHANGE_MSG (num_pages %" PRIu32 ")", vb_target_pages(&B.dev));
        } else if (B.s.fd >= 0) {
            say("config change not sent: no back-end channel negotiated");
        }
    }
    if (B.actual_pending) {
        uint32_t actual = vb_actual_pages(&B.dev);
        B.actual_pending = 0;
        if (actual == vb_target_pages(&B.dev) || opt.verbose)
            say("balloon: actual %" PRIu32 " pages (%.1f MiB)%s; host released %.1f MiB in all, "
                "guest memory file holds %.1f MiB",
                actual, (double)actual / 256.0,
                actual == vb_target_pages(&B.dev) ? ", the target" : "",
                (double)B.released_bytes / 1048576.0, (double)memory_allocated() / 1048576.0);
        event_balloon_change();
    }
    if (B.stale_pending) stats_freshness_changed();
}

/* ---- rings ---- */

/* A notification of queue q. An inflate/deflate notification does a bounded amount of work; if
   buffers are left (vb_more_work) the main loop gives the device more without sleeping,
   because with EVENT_IDX the driver will not kick for buffers the device has not reached. */
static void queue_notify(unsigned q)
{
    vb_queue_notify(&B.dev, q);
    after_device();
}

/* Front-end virtual address -> guest-physical, the whole [uva, uva + len) in one region. */
static int uva_to_gpa(uint64_t uva, uint64_t len, uint64_t *gpa)
{
    const region *r = region_find(B.s.mem, B.s.nmem, uva, len, 1);
    if (!r) return 0;
    *gpa = r->gpa + (uva - r->uva);
    return 1;
}

/* The driver took VIRTIO_F_RING_PACKED: its rings are packed (SET_VRING_ADDR's avail and used
   addresses are then the driver and device event suppression areas, 4 bytes each). */
static int rings_packed(void)
{
    return B.s.features_set && ((B.s.features >> VB_F_RING_PACKED) & 1u);
}

static const char *ring_gpas(const vring *v, uint64_t *desc, uint64_t *avail, uint64_t *used)
{
    uint64_t n = v->num;
    int packed = rings_packed();
    if (!uva_to_gpa(v->desc_uva, 16u * n, desc) || !uva_to_gpa(v->avail_uva, packed ? 4u : 6u + 2u * n, avail) ||
        !uva_to_gpa(v->used_uva, packed ? 4u : 6u + 8u * n, used))
        return "ring outside guest memory";
    return 0;
}

/* Start a ring once it is enabled and fully described. NULL = ok (or not yet), else why not. */
static const char *ring_try_start(unsigned q)
{
    vring *v = &B.s.vq[q];
    uint64_t desc, avail, used;
    const char *why;
    if (v->started || !v->enabled || !v->addr_set || !v->num_set || !B.s.nmem) return 0;
    if (!B.s.features_set) return "ring started before SET_FEATURES";
    if ((why = ring_gpas(v, &desc, &avail, &used))) return why;
    if (vb_queue_setup(&B.dev, q, v->num, desc, avail, used) != VB_OK)
        return "ring addresses misaligned or size refused";
    if (v->base_pending) {
        vb_queue_set_base(&B.dev, q, v->base);
        v->base_pending = 0;
    }
    vb_queue_set_ready(&B.dev, q, 1);
    v->started = 1;
    if (rings_packed())
        VERBOSE("queue %u started (packed): %u entries, desc 0x%" PRIx64 " driver area 0x%" PRIx64
                " device area 0x%" PRIx64, q, v->num, desc, avail, used);
    else
        VERBOSE("queue %u started: %u entries, desc 0x%" PRIx64 " avail 0x%" PRIx64 " used 0x%" PRIx64,
                q, v->num, desc, avail, used);
    /* The first started ring is DRIVER_OK; each start lets the device re-read a stats buffer
       the previous back-end (or session) had popped (vb_set_status rewinds). */
    vb_set_status(&B.dev, (uint8_t)(vb_status(&B.dev) | VB_S_DRIVER_OK));
    queue_notify(q); /* buffers queued before the start */
    return 0;
}

static void ring_stop(unsigned q)
{
    vring *v;
    if (q >= QUEUES) return; /* (never; tells gcc's -Warray-bounds so) */
    v = &B.s.vq[q];
    if (!v->started) return;
    vb_queue_set_ready(&B.dev, q, 0); /* (a held stats buffer is un-popped: a restart re-reads it) */
    v->started = 0;
    /* A packed ring's base says where its driver's wrap counter stands: logged always (a
       line per ring stop), the UML test checks it against the stats rounds it counted. */
    if (rings_packed()) {
        uint16_t base = vb_queue_base(&B.dev, q);
        say("queue %u stopped (packed): base 0x%04x, next descriptor %u, driver wrap counter %u", q, base,
            base & 0x7fffu, base >> 15);
    } else {
        VERBOSE("queue %u stopped at avail index %u", q, vb_queue_base(&B.dev, q));
    }
}

static void rings_forget(int close_fds)
{
    unsigned q;
    for (q = 0; q < QUEUES; q++) {
        vring *v = &B.s.vq[q];
        int kick = v->kick_fd, call = v->call_fd;
        memset(v, 0, sizeof *v);
        v->kick_fd = kick;
        v->call_fd = call;
        if (close_fds) {
            close_fd(&v->kick_fd);
            close_fd(&v->call_fd);
        }
    }
}

/* The device holds no pointer into these mappings any more: every caller has stopped the
   rings (ring_stop) and reset the device first. */
static void memory_unmap(void)
{
    unsigned i;
    for (i = 0; i < B.s.nmem; i++) region_unmap(&B.s.mem[i]);
    B.s.nmem = 0;
}

/* The virtio reset the front-end asked for (RESET_OWNER, RESET_DEVICE, renegotiation). */
static void device_reset(const char *why)
{
    VERBOSE("virtio reset (%s)", why);
    vb_reset(&B.dev);
    B.poll_push_ns = 0;
}

/* ---- SET_MEM_TABLE ---- */

static const char *set_mem_table(vu_msg *m)
{
    region fresh[MAX_REGIONS];
    uint32_t n = ld32(m->p), i, j;
    const char *why = 0;
    uint64_t total = 0;

    if (n > MAX_REGIONS || m->size < 8u + 32u * n) return "region count does not match the payload";
    if (m->nfds != n) return "region count does not match the file descriptors";
    for (i = 0; i < n; i++) {
        const unsigned char *p = m->p + 8 + (size_t)32 * i;
        memset(&fresh[i], 0, sizeof fresh[i]);
        fresh[i].gpa = ld64(p);
        fresh[i].size = ld64(p + 8);
        fresh[i].uva = ld64(p + 16);
        fresh[i].offset = ld64(p + 24);
        fresh[i].fd = msg_take_fd(m, i);
    }
    for (i = 0; i < n && !why; i++) {
        why = region_map(&fresh[i]);
        for (j = 0; j < i && !why; j++)
            if (fresh[i].gpa < fresh[j].gpa + fresh[j].size && fresh[j].gpa < fresh[i].gpa + fresh[i].size)
                why = "memory regions overlap";
        total += fresh[i].size;
    }
    if (why) {
        for (i = 0; i < n; i++) region_unmap(&fresh[i]);
        return why;
    }
    /* Rings that run on, across a memory change, must still translate to the same place. */
    for (i = 0; i < QUEUES && !why; i++) {
        const vring *v = &B.s.vq[i];
        uint64_t d0, a0, u0, d1, a1, u1;
        region saved[MAX_REGIONS];
        unsigned saved_n = B.s.nmem;
        if (!v->started) continue;
        if (ring_gpas(v, &d0, &a0, &u0)) why = "ring outside guest memory";
        memcpy(saved, B.s.mem, sizeof saved);
        memcpy(B.s.mem, fresh, sizeof fresh);
        B.s.nmem = n;
        if (!why && (ring_gpas(v, &d1, &a1, &u1) || d0 != d1 || a0 != a1 || u0 != u1))
            why = "a running ring moved in the new memory table";
        memcpy(B.s.mem, saved, sizeof saved);
        B.s.nmem = saved_n;
    }
    if (why) {
        for (i = 0; i < n; i++) region_unmap(&fresh[i]);
        return why;
    }
    /* The new table in place first, then the device drops its ring pointers into the old
       mappings and maps the running rings again (at the same guest-physical addresses, checked
       above), and only then are the old mappings gone. */
    {
        region old[MAX_REGIONS];
        unsigned old_n = B.s.nmem;
        memcpy(old, B.s.mem, sizeof old);
        memcpy(B.s.mem, fresh, sizeof fresh);
        B.s.nmem = n;
        vb_memory_changed(&B.dev);
        for (i = 0; i < old_n; i++) region_unmap(&old[i]);
    }
    for (i = 0; i < n; i++)
        VERBOSE("memory region %u: gpa 0x%" PRIx64 " size 0x%" PRIx64 " uva 0x%" PRIx64
                " offset 0x%" PRIx64,
                i, B.s.mem[i].gpa, B.s.mem[i].size, B.s.mem[i].uva, B.s.mem[i].offset);
    if (!opt.ram_mib && total != vb_ram_size(&B.dev)) {
        vb_set_ram_size(&B.dev, total);
        say("ram size from the memory table: %.1f MiB (--ram overrides)", (double)total / 1048576.0);
    }
    for (i = 0; i < QUEUES && !why; i++) why = ring_try_start(i);
    return why;
}

/* ---- the dispatcher ---- */

/* The queues a vring message may name: those of the negotiated features once SET_FEATURES came
   (vb_queue_count; the free page and reporting queues shift with them), before it all those
   the offered features could give. */
static unsigned queue_limit(void)
{
    return B.s.features_set ? vb_queue_count(&B.dev) : queues_offered();
}

/* The queue index of a vring message; *ok = 0 if out of range. */
static unsigned vring_index(const vu_msg *m, int *ok)
{
    uint32_t q = ld32(m->p);
    *ok = q < queue_limit() && q < QUEUES;
    return *ok ? q : 0;
}

/* SET_VRING_KICK / CALL / ERR: index in bits 0-7, bit 8 = no fd, the rest reserved. */
static const char *vring_fd_arg(vu_msg *m, unsigned *q, int *fd)
{
    uint64_t v = ld64(m->p);
    if (v & ~(uint64_t)(0xffu | VU_FD_INVALID)) return "reserved bits set in a vring fd message";
    if ((v & 0xffu) >= queue_limit() || (v & 0xffu) >= QUEUES) return "queue index out of range";
    *q = (unsigned)(v & 0xffu);
    if (v & VU_FD_INVALID) {
        if (m->nfds != 0) return "file descriptor sent with the no-fd flag";
        *fd = -1;
    } else {
        if (m->nfds != 1) return "expected one file descriptor";
        *fd = msg_take_fd(m, 0);
    }
    return 0;
}

/* Handle one validated-size message. NULL = ok, else why the connection must end. */
static const char *vu_dispatch(vu_msg *m, int *replied)
{
    session *s = &B.s;
    unsigned q = 0;
    int ok = 1, fd = -1;
    uint64_t v = m->size >= 8 ? ld64(m->p) : 0;
    const char *why = 0;

    *replied = 0;
    /* Only these carry file descriptors; the fd-count checks of those are below. */
    if (m->nfds && m->req != VU_SET_MEM_TABLE && m->req != VU_SET_VRING_KICK &&
        m->req != VU_SET_VRING_CALL && m->req != VU_SET_VRING_ERR && m->req != VU_SET_BACKEND_REQ_FD)
        return "unexpected file descriptors";

    switch (m->req) {
    case VU_GET_FEATURES:
        *replied = 1;
        return vu_reply_u64(m, offered_features()) ? 0 : "reply failed";
    case VU_SET_FEATURES:
        if (v & ~offered_features()) return "features that were not offered";
        if (vb_status(&B.dev)) {
            unsigned i;
            for (i = 0; i < QUEUES; i++) ring_stop(i);
            rings_forget(0);
            device_reset("features renegotiated");
        }
        s->features = v;
        s->features_set = 1;
        vb_set_driver_features(&B.dev, v & ~PROTO_BIT(VHOST_USER_F_PROTOCOL_FEATURES));
        vb_set_status(&B.dev, VB_S_ACKNOWLEDGE | VB_S_DRIVER | VB_S_FEATURES_OK);
        say("driver: features 0x%" PRIx64 ", protocol features 0x%" PRIx64 "%s", v, s->protocol,
            (v >> VB_F_RING_PACKED) & 1u ? " (packed rings)" : "");
        /* vhost-user cannot tell the driver FEATURES_OK was refused: end the session instead */
        if (!(vb_status(&B.dev) & VB_S_FEATURES_OK))
            return "features the device refused (RING_PACKED needs VERSION_1)";
        return 0;
    case VU_SET_OWNER:
        return 0;
    case VU_RESET_OWNER:
    case VU_RESET_DEVICE: {
        unsigned i;
        if (m->req == VU_RESET_DEVICE && !has_protocol(P_RESET_DEVICE))
            return "RESET_DEVICE without the protocol feature";
        for (i = 0; i < QUEUES; i++) ring_stop(i);
        rings_forget(1);
        device_reset(vu_name(m->req));
        s->features = 0;
        s->features_set = 0;
        if (m->req == VU_RESET_OWNER) memory_unmap();
        return 0;
    }
    case VU_SET_MEM_TABLE:
        return set_mem_table(m);
    case VU_SET_VRING_NUM:
        q = vring_index(m, &ok);
        if (!ok) return "queue index out of range";
        {
            uint32_t num = ld32(m->p + 4);
            /* packed rings may have any size; before SET_FEATURES, any the offer allows */
            int packed = B.s.features_set ? rings_packed() : opt.packed;
            if (num == 0 || (!packed && (num & (num - 1u))) || num > vb_queue_size_max(&B.dev))
                return packed ? "packed ring size 0 or beyond the maximum"
                              : "ring size not a power of two within the maximum";
            if (s->vq[q].started) return "SET_VRING_NUM on a running ring";
            s->vq[q].num = (uint16_t)num;
            s->vq[q].num_set = 1;
        }
        return ring_try_start(q);
    case VU_SET_VRING_ADDR: {
        vring *r;
        uint64_t d, a, u;
        q = vring_index(m, &ok);
        if (!ok) return "queue index out of range";
        if (ld32(m->p + 4)) return "ring logging was not negotiated";
        r = &s->vq[q];
        if (r->started) return "SET_VRING_ADDR on a running ring";
        r->desc_uva = ld64(m->p + 8);
        r->used_uva = ld64(m->p + 16);
        r->avail_uva = ld64(m->p + 24);
        r->addr_set = 1;
        if (r->num_set && s->nmem && (why = ring_gpas(r, &d, &a, &u))) return why;
        return ring_try_start(q);
    }
    case VU_SET_VRING_BASE:
        q = vring_index(m, &ok);
        if (!ok) return "queue index out of range";
        if (ld32(m->p + 4) > 0xffffu) return "ring base beyond 16 bits";
        if (s->vq[q].started) return "SET_VRING_BASE on a running ring";
        s->vq[q].base = (uint16_t)ld32(m->p + 4);
        s->vq[q].base_pending = 1;
        return ring_try_start(q);
    case VU_GET_VRING_BASE: {
        unsigned char p[8];
        uint16_t base;
        q = vring_index(m, &ok);
        if (!ok || q >= QUEUES) return "queue index out of range"; /* (the second tells gcc's -Warray-bounds) */
        ring_stop(q);
        base = s->vq[q].base_pending ? s->vq[q].base : vb_queue_base(&B.dev, q);
        s->vq[q].addr_set = 0; /* a restart describes the ring again */
        if (!(s->features & PROTO_BIT(VHOST_USER_F_PROTOCOL_FEATURES))) s->vq[q].enabled = 0;
        st32(p, q);
        st32(p + 4, base);
        *replied = 1;
        return vu_reply(m, p, 8) ? 0 : "reply failed";
    }
    case VU_SET_VRING_KICK:
        if ((why = vring_fd_arg(m, &q, &fd))) return why;
        close_fd(&s->vq[q].kick_fd);
        s->vq[q].kick_fd = fd;
        if (!(s->features & PROTO_BIT(VHOST_USER_F_PROTOCOL_FEATURES))) s->vq[q].enabled = 1;
        return ring_try_start(q);
    case VU_SET_VRING_CALL:
        if ((why = vring_fd_arg(m, &q, &fd))) return why;
        close_fd(&s->vq[q].call_fd);
        s->vq[q].call_fd = fd;
        return 0;
    case VU_SET_VRING_ERR:
        if ((why = vring_fd_arg(m, &q, &fd))) return why;
        close_fd(&fd); /* accepted; the device never reports ring errors through it */
        return 0;
    case VU_GET_PROTOCOL_FEATURES:
        *replied = 1;
        return vu_reply_u64(m, offered_protocol()) ? 0 : "reply failed";
    case VU_SET_PROTOCOL_FEATURES:
        if (v & ~offered_protocol()) return "protocol features that were not offered";
        s->protocol = v;
        VERBOSE("protocol features 0x%" PRIx64, v);
        return 0;
    case VU_GET_QUEUE_NUM:
        *replied = 1;
        return vu_reply_u64(m, queues_offered()) ? 0 : "reply failed";
    case VU_SET_VRING_ENABLE: {
        uint32_t on = ld32(m->p + 4);
        q = vring_index(m, &ok);
        if (!ok) return "queue index out of range";
        if (!(s->features & PROTO_BIT(VHOST_USER_F_PROTOCOL_FEATURES)))
            return "SET_VRING_ENABLE without VHOST_USER_F_PROTOCOL_FEATURES";
        if (on > 1) return "SET_VRING_ENABLE value not 0 or 1";
        s->vq[q].enabled = (int)on;
        if (!on) {
            ring_stop(q);
            return 0;
        }
        return ring_try_start(q);
    }
    case VU_SET_BACKEND_REQ_FD:
        if (!has_protocol(P_BACKEND_REQ)) return "back-end channel without the protocol feature";
        if (m->nfds != 1) return "expected one file descriptor";
        close_fd(&s->backend_fd);
        s->backend_fd = msg_take_fd(m, 0);
        return 0;
    case VU_GET_CONFIG:
    case VU_SET_CONFIG: {
        uint32_t off = ld32(m->p), len = ld32(m->p + 4), flags = ld32(m->p + 8);
        if (!has_protocol(P_CONFIG)) return "config access without the protocol feature";
        if (len != m->size - 12u) return "config size does not match the payload";
        if (off > VU_MAX_CONFIG || len > VU_MAX_CONFIG - off) return "config access out of range";
        if (flags > 1) return "unknown config flags";
        if (m->req == VU_SET_CONFIG) {
            vb_config_write(&B.dev, off, m->p + 12, len);
            if (off < 16u && off + len > 12u) /* (the driver's page poison value) */
                say("config: the driver wrote poison_val, now 0x%08" PRIx32, vb_poison_value(&B.dev));
            after_device();
            return 0;
        }
        vb_config_read(&B.dev, off, m->p + 12, len);
        *replied = 1;
        return vu_reply(m, m->p, m->size) ? 0 : "reply failed";
    }
    case VU_VRING_KICK:
        if (!has_protocol(P_INBAND)) return "VRING_KICK without in-band notifications";
        q = vring_index(m, &ok);
        if (!ok) return "queue index out of range";
        if (s->vq[q].started) queue_notify(q);
        return 0;
    default:
        return "unsupported request"; /* (payload_size_ok refuses these first) */
    }
}

/* ---- the connection ---- */

static void session_reset_state(void)
{
    unsigned i;
    memset(&B.s, 0, sizeof B.s);
    B.s.fd = B.s.backend_fd = -1;
    for (i = 0; i < QUEUES; i++) B.s.vq[i].kick_fd = B.s.vq[i].call_fd = -1;
    for (i = 0; i < MAX_REGIONS; i++) B.s.mem[i].fd = -1;
}

static int running = 1;

static void session_end(const char *why)
{
    unsigned i;
    if (B.s.fd < 0) return;
    for (i = 0; i < QUEUES; i++) ring_stop(i);
    device_reset("end of session"); /* no guest memory is touched after this */
    B.irq_pending = 0;
    B.config_pending = 0;
    rings_forget(1);
    memory_unmap();
    close_fd(&B.s.backend_fd);
    close_fd(&B.s.fd);
    say("session %" PRIu32 " ended: %s (%" PRIu32 " messages; stats updates %" PRIu32
        ", inflated %.1f MiB, deflated %.1f MiB, host released %.1f MiB; guest memory accesses %"
        PRIu64 " mapped, %" PRIu64 " copied)",
        B.sessions, why, B.s.messages, vb_get_counters(&B.dev)->updates,
        (double)B.inflated_bytes / 1048576.0, (double)B.deflated_bytes / 1048576.0,
        (double)B.released_bytes / 1048576.0, B.s.mapped, B.s.copied);
    log_ranges("after the session");
    session_reset_state();
    if (!opt.persistent) running = 0;
}

static void session_accept(void)
{
    int fd;
    do fd = accept4(B.listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ECONNABORTED) return;
        die("accept");
    }
    if (B.s.fd >= 0 || !running) { /* one front-end at a time: fail fast, do not hang its boot */
        say("front-end refused: a session is already running");
        if (close(fd) != 0) die("close");
        return;
    }
    session_reset_state();
    B.s.fd = fd;
    B.s.connected_ns = mono_ns();
    B.sessions++;
    say("session %" PRIu32 ": front-end connected", B.sessions);
}

/* Messages until the socket is drained (at most a few per wake-up, to stay fair). */
static void session_readable(void)
{
    int budget;
    for (budget = 0; budget < 64 && B.s.fd >= 0; budget++) {
        static vu_msg m;
        const char *why;
        int replied = 0, r = vu_recv(B.s.fd, &m, &why);
        if (r == 2) return;
        if (r == 0) {
            session_end("front-end disconnected");
            return;
        }
        if (r < 0) {
            say("vhost-user: malformed message: %s", why);
            session_end("malformed message");
            return;
        }
        B.s.messages++;
        VERBOSE("<- %s (%" PRIu32 ") flags 0x%" PRIx32 " size %" PRIu32 " fds %u", vu_name(m.req),
                m.req, m.flags, m.size, m.nfds);
        why = vu_dispatch(&m, &replied);
        msg_close_fds(&m); /* the ones no handler took */
        if (!why && !replied && (m.flags & VU_NEED_REPLY) && has_protocol(P_REPLY_ACK) &&
            !vu_reply_u64(&m, 0))
            why = "reply failed";
        if (why) {
            say("vhost-user: %s (%" PRIu32 "): %s", vu_name(m.req), m.req, why);
            session_end("protocol error");
            return;
        }
    }
}

static void kick_readable(unsigned q)
{
    vring *v = &B.s.vq[q];
    uint64_t count;
    ssize_t n;
    do n = read(v->kick_fd, &count, sizeof count);
    while (n < 0 && errno == EINTR);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
        VERBOSE("queue %u: kick fd %s; closing it", q, n == 0 ? "at EOF" : strerror(errno));
        close_fd(&v->kick_fd);
        return;
    }
    if (n < 0 || !v->started) return;
    queue_notify(q);
}

/* ============================================================================================
   5. QMP MONITOR
   Up to QMP_CLIENTS clients at once, each its own vb_qmp session (greeting, then
   qmp_capabilities, as QEMU). QEMU serves one client per -qmp socket and leaves the next one
   waiting in the listen backlog until the first leaves; here one socket stands for several -qmp
   monitors (a shell, an event watcher and a test at once), and a client beyond QMP_CLIENTS waits
   in the backlog the same way. A client is closed when it goes away (EOF: its complete commands
   are answered first), or at one of two hard limits: an unfinished message of more than
   QMP_INPUT_LIMIT bytes, or a reply for which there is no memory.
   Flow control: a client whose replies pile up (more than QMP_OUT_HIGH bytes it has not taken)
   is no longer read and its commands wait, until it has taken all but QMP_OUT_LOW bytes; the
   guest and the other clients go on meanwhile. A client that writes without reading thus ends
   up blocked in its own write, as with any pipe, instead of being dropped. Buffers grow for a
   long command or reply and shrink back afterwards.
   ============================================================================================ */

#define QMP_CLIENTS 16
#define QMP_BUF_MIN 65536u                        /* room for one recv(); buffers shrink back to it */
#define QMP_INPUT_LIMIT ((64u << 20) + (1u << 20)) /* QEMU's 64 MiB of tokens a message + 1 MiB */
#define QMP_RESCAN_MIN (1u << 20)                 /* see qmp_run */
#define QMP_OUT_HIGH (1u << 20)                   /* output not taken that stops reading a client */
#define QMP_OUT_LOW (256u << 10)                  /* ... until it is below this */
#define QMP_REPLY_LIMIT ((size_t)1 << 30)         /* no larger reply is attempted */

typedef struct qbuf {
    char *p;
    size_t off, len, cap; /* the bytes are p[off, len) */
} qbuf;

typedef struct qclient {
    vb_qmp qmp;
    int fd;
    int eof;       /* it sent its last byte: answer what is complete, then close */
    int paused;    /* its output is backed up: not read, its commands wait */
    int deferred;  /* a long unfinished message got more bytes, not framed again yet */
    size_t framed; /* bytes of the unfinished message the last vb_qmp_frame saw (0: none) */
    char quote;    /* paste_fixup: inside a '...' or "..." string, */
    int escape;    /* after its backslash, */
    size_t hold;   /* 1: the last byte is C2 and its partner has not arrived (doc profile) */
    qbuf in, out;
} qclient;

static qclient qc[QMP_CLIENTS];
static char *reply; /* one reply at a time; grows for a long one, then shrinks back */
static size_t reply_cap;

/* QEMU rate-limits BALLOON_CHANGE to one per second, each event on its own: the first of a
   quiet period goes out at once, later ones wait for the end of the period and only the newest
   is sent. The stale event is limited the same way. One timerfd ends the earliest window. */
enum { EV_BALLOON_CHANGE, EV_STATS_STALE, EV_KINDS };
#define EV_WINDOW_MS 1000u
typedef struct ev_throttle {
    int open, pending;
    uint64_t until_ms; /* monotonic end of the open window */
    char line[256];
    size_t len;
} ev_throttle;
static ev_throttle ev[EV_KINDS];

/* Room for `need` more bytes after the data: moves it to the front, then grows (doubling, but
   not past `max` unless the data needs it). 0 if there is no memory. */
static int qbuf_room(qbuf *b, size_t need, size_t max)
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
    cap = b->cap * 2 < QMP_BUF_MIN ? QMP_BUF_MIN : b->cap * 2;
    if (cap > max) cap = max;
    if (cap < have + need) cap = have + need;
    p = (char *)realloc(b->p, cap);
    if (!p) return 0;
    b->p = p;
    b->cap = cap;
    return 1;
}

/* Back to QMP_BUF_MIN bytes once what is left fits in half of it (after a long command or reply). */
static void qbuf_shrink(qbuf *b)
{
    size_t have = b->len - b->off;
    char *p;
    if (b->cap <= QMP_BUF_MIN || have > QMP_BUF_MIN / 2) return;
    memmove(b->p, b->p + b->off, have);
    b->off = 0;
    b->len = have;
    p = (char *)realloc(b->p, QMP_BUF_MIN);
    if (p) {
        b->p = p;
        b->cap = QMP_BUF_MIN;
    }
}

static void qmp_drop(qclient *c, const char *why)
{
    if (opt.verbose || strcmp(why, "disconnected") != 0) say("qmp: client %d closed (%s)", (int)(c - qc), why);
    close_fd(&c->fd);
    free(c->in.p);
    free(c->out.p);
    memset(&c->in, 0, sizeof c->in);
    memset(&c->out, 0, sizeof c->out);
}

/* Back-pressure, with hysteresis: 1 while the client is not to be read. */
static int qmp_backed_up(qclient *c)
{
    size_t pending = c->out.len - c->out.off;
    if (!c->paused && pending > QMP_OUT_HIGH) {
        c->paused = 1;
        VERBOSE("qmp: client %d not taking its replies (%zu bytes waiting): not read for now", (int)(c - qc), pending);
    } else if (c->paused && pending < QMP_OUT_LOW) {
        c->paused = 0;
        VERBOSE("qmp: client %d took its replies: read again", (int)(c - qc));
    }
    return c->paused;
}

static void qmp_flush(qclient *c)
{
    while (c->fd >= 0 && c->out.len > c->out.off) {
        ssize_t n = send(c->fd, c->out.p + c->out.off, c->out.len - c->out.off, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        if (n < 0) { /* it went away with replies not taken */
            qmp_drop(c, errno == EPIPE || errno == ECONNRESET ? "disconnected" : strerror(errno));
            return;
        }
        c->out.off += (size_t)n;
    }
    if (c->fd < 0) return;
    c->out.off = c->out.len = 0;
    qbuf_shrink(&c->out);
}

/* A line to a client, as QEMU ends them: CR LF. It goes out when the socket takes it. */
static void qmp_put(qclient *c, const char *s, size_t len)
{
    if (c->fd < 0) return;
    if (!qbuf_room(&c->out, len + 2, SIZE_MAX)) {
        qmp_drop(c, "no memory for its output");
        return;
    }
    memcpy(c->out.p + c->out.len, s, len);
    memcpy(c->out.p + c->out.len + len, "\r\n", 2);
    c->out.len += len + 2;
}

static void ev_emit(const ev_throttle *t)
{
    unsigned i;
    for (i = 0; i < QMP_CLIENTS; i++) /* like QEMU, only negotiated monitors get events */
        if (qc[i].fd >= 0 && qc[i].qmp.negotiated) qmp_put(&qc[i], t->line, t->len);
}

/* The event timer at the end of the earliest open window (disarmed when none is open). */
static void ev_rearm(void)
{
    uint64_t next = 0;
    unsigned k;
    for (k = 0; k < EV_KINDS; k++)
        if (ev[k].open && (!next || ev[k].until_ms < next)) next = ev[k].until_ms;
    timerfd_at(B.event_tfd, next);
}

static void ev_open_window(ev_throttle *t)
{
    t->open = 1;
    t->until_ms = mono_ns() / 1000000u + EV_WINDOW_MS;
    ev_rearm();
}

/* An event of kind k, rendered by vb_qmp_event_*() into `line` (n as it returned). */
static void ev_throttled(unsigned k, const char *line, size_t n)
{
    ev_throttle *t = &ev[k];
    if (n >= sizeof t->line) { /* cannot happen with these events: not sent cut */
        say("qmp: an event of %zu bytes not sent", n);
        return;
    }
    memcpy(t->line, line, n + 1);
    t->len = n;
    if (t->open) { /* stamped now, sent at the end of the window */
        t->pending = 1;
        return;
    }
    ev_emit(t);
    ev_open_window(t);
}

/* The event timer: each window that has ended sends its newest event and stays open for
   another period, or closes if nothing came. */
static void event_window_end(void)
{
    uint64_t now = mono_ns() / 1000000u;
    unsigned k;
    for (k = 0; k < EV_KINDS; k++) {
        ev_throttle *t = &ev[k];
        if (!t->open || t->until_ms > now) continue;
        t->open = 0;
        if (!t->pending) continue;
        ev_emit(t);
        t->pending = 0;
        t->open = 1;
        t->until_ms = now + EV_WINDOW_MS;
    }
    ev_rearm();
}

static void event_balloon_change(void)
{
    char line[256];
    uint64_t ns = clock_ns(CLOCK_REALTIME);
    size_t n = vb_qmp_event_balloon_change(&B.dev, (int64_t)(ns / 1000000000u),
                                           (int64_t)(ns % 1000000000u / 1000u), line, sizeof line);
    ev_throttled(EV_BALLOON_CHANGE, line, n);
}

static void event_stats_stale(void)
{
    char line[256];
    uint64_t ns = clock_ns(CLOCK_REALTIME);
    size_t n = vb_qmp_event_stats_stale(&B.dev, (int64_t)(ns / 1000000000u),
                                        (int64_t)(ns % 1000000000u / 1000u), line, sizeof line);
    ev_throttled(EV_STATS_STALE, line, n);
}

/* The back-end's own commands, listed by query-commands: the VM's run state as QEMU answers
   it. The guest (UML) is another process that the back-end cannot pause, so stop stops what
   the device does on its own: its VM clock stands, so no polls (as in a paused QEMU), until
   cont; buffers the running guest posts are still served. quit ends the back-end. */
static const char *const backend_commands[] = {"query-status", "stop", "cont", "quit", NULL};

static void qmp_event(const char *name, const char *data)
{
    char line[256];
    uint64_t ns = clock_ns(CLOCK_REALTIME);
    size_t n = vb_qmp_event(name, data, (int64_t)(ns / 1000000000u), (int64_t)(ns % 1000000000u / 1000u),
                            line, sizeof line);
    unsigned i;
    for (i = 0; i < QMP_CLIENTS; i++) /* every negotiated monitor, before the reply */
        if (qc[i].fd >= 0 && qc[i].qmp.negotiated) qmp_put(&qc[i], line, n < sizeof line ? n : sizeof line - 1);
}

/* stop, cont, quit as QEMU: an event when the state changes, none when it does not. */
static void run_state_command(const vb_qmp_command *q)
{
    if (vb_qmp_command_is(q, "quit")) {
        qmp_event("SHUTDOWN", "{\"guest\": false, \"reason\": \"host-qmp-quit\"}");
        say("QMP quit: exiting");
        running = 0;
    } else if (vb_qmp_command_is(q, "stop") && !B.stopped) {
        B.frozen_ms = host_now_ms(NULL);
        B.stopped = 1;
        timerfd_at(B.poll_tfd, 0); /* the deadline waits for cont */
        say("QMP stop: the device's clock stands (no polls)");
        qmp_event("STOP", NULL);
    } else if (vb_qmp_command_is(q, "cont") && B.stopped) {
        B.stood_ms = mono_ns() / 1000000u - B.frozen_ms;
        B.stopped = 0;
        if (B.deadline_ms) timerfd_at(B.poll_tfd, B.deadline_ms + B.stood_ms);
        say("QMP cont: the device's clock runs");
        qmp_event("RESUME", NULL);
    }
}

static int qmp_slot_free(void)
{
    unsigned i;
    for (i = 0; i < QMP_CLIENTS; i++)
        if (qc[i].fd < 0) return 1;
    return 0;
}

/* Only called while a slot is free (the main loop watches the socket only then). */
static void qmp_accept(void)
{
    unsigned i;
    size_t n;
    int fd;
    do fd = accept4(B.qmp_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ECONNABORTED) return;
        die("accept");
    }
    i = 0;
    while (qc[i].fd >= 0) i++;
    memset(&qc[i], 0, sizeof qc[i]);
    qc[i].fd = fd;
    vb_qmp_init(&qc[i].qmp, &B.dev, 0); /* qmp_capabilities first, as QEMU */
    qc[i].qmp.host_commands = backend_commands;
    VERBOSE("qmp: client %u connected", i);
    n = vb_qmp_greeting(&qc[i].qmp, reply, reply_cap);
    qmp_put(&qc[i], reply, n < reply_cap ? n : reply_cap - 1);
    qmp_flush(&qc[i]);
}

/* The seed document's web page has no-break spaces (U+00A0, bytes C2 A0) for its spaces. In the
   doc profile they are read as two plain spaces outside strings, so its commands work pasted
   verbatim (as in examples/sim.c); the QEMU profile passes them on, and QEMU refuses them. New
   bytes from `from` on; the state carries over from the bytes before. */
static void paste_fixup(qclient *c, size_t from)
{
    char *b = c->in.p;
    size_t i, end = c->in.len;
    c->hold = 0;
    for (i = from; i < end; i++) {
        unsigned char ch = (unsigned char)b[i];
        if (c->escape) {
            c->escape = 0;
        } else if (c->quote) {
            if (ch == '\\') c->escape = 1;
            else if (ch == (unsigned char)c->quote) c->quote = 0;
        } else if (ch == '"' || ch == '\'') {
            c->quote = (char)ch;
        } else if (ch == 0xC2 && i + 1 == end) {
            c->hold = 1; /* not framed until its second byte is here */
        } else if (ch == 0xC2 && (unsigned char)b[i + 1] == 0xA0) {
            b[i] = b[i + 1] = ' ';
            i++;
        }
    }
}

static void qmp_read(qclient *c)
{
    size_t tail = c->in.len - c->in.off, room, from;
    ssize_t n;
    if (tail >= QMP_INPUT_LIMIT) return; /* qmp_run decides */
    if (!qbuf_room(&c->in, QMP_BUF_MIN, QMP_INPUT_LIMIT)) {
        qmp_drop(c, "no memory for its input");
        return;
    }
    room = c->in.cap - c->in.len;
    if (room > QMP_INPUT_LIMIT - tail) room = QMP_INPUT_LIMIT - tail;
    do n = recv(c->fd, c->in.p + c->in.len, room, MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n < 0) {
        qmp_drop(c, strerror(errno));
        return;
    }
    if (n == 0) {
        c->eof = 1;
        c->hold = 0;
        return;
    }
    from = c->in.len - c->hold;
    c->in.len += (size_t)n;
    if (opt.profile == VB_PROFILE_DOC) paste_fixup(c, from);
}

/* reply[] grown to hold n bytes and a NUL; 0 after closing the client if it cannot be. */
static int reply_grow(qclient *c, size_t n)
{
    char *p = n < QMP_REPLY_LIMIT ? (char *)realloc(reply, n + 1) : NULL;
    if (!p) {
        char why[96];
        snprintf(why, sizeof why, "no memory for a reply of %zu bytes; the command was not run", n);
        qmp_drop(c, why);
        return 0;
    }
    reply = p;
    reply_cap = n + 1;
    return 1;
}

/* A header command as vb_qmp_parse filled it (no second parse), or from the text (its error). */
static size_t qmp_execute_once(qclient *c, const char *cmd, size_t len, const vb_qmp_command *parsed)
{
    return parsed ? vb_qmp_execute_command(&c->qmp, parsed, reply, reply_cap)
                  : vb_qmp_execute(&c->qmp, cmd, len, reply, reply_cap);
}

/* The reply to a header command, in reply[] (its length returned; 0: none, or the client was
   closed). vb_qmp_execute runs a command only if its reply fits; if it did not, it told how long
   the reply is, and runs again with that much room. */
static size_t qmp_execute(qclient *c, const char *cmd, size_t len, const vb_qmp_command *parsed)
{
    size_t n = qmp_execute_once(c, cmd, len, parsed);
    if (n >= reply_cap && reply_grow(c, n)) n = qmp_execute_once(c, cmd, len, parsed);
    return n < reply_cap ? n : 0;
}

/* The reply to one of the back-end's own commands (query-status with `status`), as above. */
static size_t qmp_host_reply(qclient *c, const vb_qmp_command *q, const char *status)
{
    size_t n = status ? vb_qmp_reply_status(&c->qmp, q, status, reply, reply_cap)
                      : vb_qmp_reply(&c->qmp, q, NULL, reply, reply_cap);
    if (n >= reply_cap && reply_grow(c, n))
        n = status ? vb_qmp_reply_status(&c->qmp, q, status, reply, reply_cap)
                   : vb_qmp_reply(&c->qmp, q, NULL, reply, reply_cap);
    return n < reply_cap ? n : 0;
}

/* One framed command: the back-end's own, or the header's. The reply's length (in reply[]). */
static size_t qmp_command(qclient *c, const char *in, size_t len)
{
    vb_qmp_command q;
    if (c->qmp.negotiated && vb_qmp_parse(in, len, &q)) {
        if (vb_qmp_command_is(&q, "query-status")) {
            vb_qmp_args_only(&q, NULL, 0);
            return qmp_host_reply(c, &q, B.stopped ? "paused" : "running");
        }
        if (vb_qmp_command_is(&q, "stop") || vb_qmp_command_is(&q, "cont") || vb_qmp_command_is(&q, "quit")) {
            int ok = vb_qmp_args_only(&q, NULL, 0);
            size_t n = qmp_host_reply(c, &q, NULL);
            if (ok && n > 0) run_state_command(&q);
            return n;
        }
        return qmp_execute(c, in, len, &q); /* parsed once, not twice */
    }
    return qmp_execute(c, in, len, NULL);
}

/* Frame and execute the client's commands in order while its output is not backed up. Framing
   an unfinished message reads it again from its start, so past QMP_RESCAN_MIN bytes it is framed
   again only once it has doubled, or when the client is idle (nothing more to read this round:
   it waits for the reply), which keeps a 64 MiB command linear instead of quadratic. */
static void qmp_run(qclient *c, int idle)
{
    size_t tail;
    int pressed;
    c->deferred = 0;
    do { /* again if the output was sent at once */
        while (!(pressed = qmp_backed_up(c))) {
            const char *cmd = c->in.p + c->in.off;
            size_t used, skip, n = 0;
            tail = c->in.len - c->in.off - c->hold;
            if (tail == 0 || tail == c->framed) break; /* nothing new since the last try */
            if (c->framed && tail > QMP_RESCAN_MIN && tail < 2 * c->framed && !idle && !c->eof &&
                tail + c->hold < QMP_INPUT_LIMIT) {
                c->deferred = 1;
                break;
            }
            used = vb_qmp_frame(&c->qmp, cmd, tail, &skip);
            if (!used) {
                c->framed = tail;
                break;
            }
            c->framed = 0;
            if (used > skip) n = qmp_command(c, cmd + skip, used - skip); /* else skipped */
            after_device(); /* a balloon target tells the guest, a new interval arms the timer */
            if (c->fd < 0) return;
            if (n > 0) qmp_put(c, reply, n);
            c->in.off += used;
        }
        qmp_flush(c);
        if (c->fd < 0) return;
    } while (pressed && !qmp_backed_up(c));
    if (reply_cap > QMP_BUF_MIN) { /* after a long reply */
        char *p = (char *)realloc(reply, QMP_BUF_MIN);
        if (p) {
            reply = p;
            reply_cap = QMP_BUF_MIN;
        }
    }
    if (c->in.off == c->in.len) c->in.off = c->in.len = 0;
    qbuf_shrink(&c->in);
    tail = c->in.len - c->in.off - c->hold;
    if (c->framed && tail == c->framed && tail + c->hold >= QMP_INPUT_LIMIT) {
        qmp_drop(c, "a message still unfinished after 65 MiB: QEMU takes at most 64 MiB of tokens in one");
        return;
    }
    if (c->eof && !c->paused && c->out.len == c->out.off && (tail == 0 || tail == c->framed)) {
        if (tail) VERBOSE("qmp: client %d: incomplete command at its end of input ignored", (int)(c - qc));
        qmp_drop(c, "disconnected");
    }
}

/* What poll() found for a client; revents 0: a deferred message, framed now that it is idle. */
static void qmp_service(qclient *c, short revents)
{
    if (revents & (POLLOUT | POLLHUP | POLLERR)) qmp_flush(c);
    if (c->fd >= 0 && !c->eof && !qmp_backed_up(c) && (revents & (POLLIN | POLLHUP | POLLERR))) qmp_read(c);
    if (c->fd >= 0) qmp_run(c, !(revents & POLLIN));
}

/* ============================================================================================
   6. SOCKETS, TIMERS, THE MAIN LOOP
   ============================================================================================ */

static int listen_unix(const char *path, int backlog)
{
    struct sockaddr_un sa;
    struct stat st;
    int fd;
    if (strlen(path) >= sizeof sa.sun_path) {
        errno = 0;
        die("socket path too long");
    }
    if (lstat(path, &st) == 0) { /* a stale socket from an earlier run; nothing else */
        if (!S_ISSOCK(st.st_mode)) {
            errno = EEXIST;
            die(path);
        }
        if (unlink(path) != 0) die(path);
    } else if (errno != ENOENT) {
        die(path);
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket");
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) die(path);
    if (listen(fd, backlog) != 0) die("listen");
    return fd;
}

static volatile sig_atomic_t stop_signal;
static void on_stop(int sig) { stop_signal = sig; }

/* SIGUSR1 / SIGUSR2 with --free-page-hint: a self-pipe to the main loop, which calls
   vb_hint_start / vb_hint_done (a stand-in for a migration's precopy notifier). */
static int hint_pipe[2] = {-1, -1};
static void on_hint(int sig)
{
    int saved = errno;
    unsigned char c = (unsigned char)(sig == SIGUSR1 ? 1 : 2);
    if (write(hint_pipe[1], &c, 1) < 0) { /* full: the main loop has work queued already */
    }
    errno = saved;
}

static void hint_readable(void)
{
    unsigned char c[16];
    ssize_t n, i;
    while ((n = read(hint_pipe[0], c, sizeof c)) > 0)
        for (i = 0; i < n; i++) {
            if (c[i] == 1) {
                vb_result r = vb_hint_start(&B.dev);
                if (r == VB_OK)
                    say("hint: started, command id 0x%" PRIx32, vb_hint(&B.dev)->cmd_id);
                else
                    say("hint: cannot start (the driver has not accepted FREE_PAGE_HINT, or the device is broken)");
            } else {
                const vb_hint_info *h = vb_hint(&B.dev);
                say("hint: done, command id 0x%" PRIx32 " (the guest's last 0x%" PRIx32 "): %" PRIu32
                    " ranges, %.1f MiB hinted",
                    h->cmd_id, h->guest_cmd_id, h->ranges, (double)h->bytes / 1048576.0);
                vb_hint_done(&B.dev);
            }
            after_device();
        }
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    if (sigaction(SIGPIPE, &sa, NULL) != 0) die("sigaction");
    sa.sa_handler = on_stop;
    if (sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0) die("sigaction");
    if (opt.free_page_hint) {
        if (pipe2(hint_pipe, O_NONBLOCK | O_CLOEXEC) != 0) die("pipe2");
        sa.sa_handler = on_hint;
        if (sigaction(SIGUSR1, &sa, NULL) != 0 || sigaction(SIGUSR2, &sa, NULL) != 0) die("sigaction");
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    if (sigaction(SIGBUS, &sa, NULL) != 0) die("sigaction");
}

static void drain_timerfd(int fd)
{
    uint64_t n;
    ssize_t r;
    do r = read(fd, &n, sizeof n);
    while (r < 0 && errno == EINTR);
    if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK) die("read timerfd");
}

enum { W_LISTEN, W_SESSION, W_BACKEND, W_KICK, W_POLL_TIMER, W_EVENT_TIMER, W_QMP_LISTEN, W_QMP, W_HINT, W_METRICS };

int main(int argc, char **argv)
{
    static mh_server metrics; /* --metrics */
    char why[256];
    vb_config cfg;
    unsigned i;

    parse_options(argc, argv);
    start_ns = mono_ns();
    host_page = sysconf(_SC_PAGESIZE);
    if (host_page <= 0 || (host_page & (host_page - 1))) die("sysconf(_SC_PAGESIZE)");
    install_signals();
    session_reset_state();
    for (i = 0; i < QMP_CLIENTS; i++) qc[i].fd = -1;

    B.poll_tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    B.event_tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (B.poll_tfd < 0 || B.event_tfd < 0) die("timerfd_create");

    memset(&cfg, 0, sizeof cfg);
    cfg.profile = opt.profile;
    cfg.stat_keys = opt.keys;
    cfg.queue_size = opt.queue_size;
    cfg.poll_interval_s = opt.interval;
    cfg.ram_size = opt.ram_mib << 20;
    cfg.type_name = opt.type_name;
    cfg.options = (opt.no_event_idx ? VB_OPT_NO_EVENT_IDX : 0u) | (opt.no_indirect ? VB_OPT_NO_INDIRECT : 0u) |
                  (opt.deflate_on_oom ? VB_OPT_DEFLATE_ON_OOM : 0u) |
                  (opt.free_page_hint ? VB_OPT_FREE_PAGE_HINT : 0u) |
                  (opt.page_poison ? VB_OPT_PAGE_POISON : 0u) | (opt.reporting ? VB_OPT_REPORTING : 0u) |
                  (opt.packed ? VB_OPT_RING_PACKED : 0u);
    if (vb_init(&B.dev, &cfg, &host_ops, NULL) != VB_OK) {
        errno = 0;
        die("vb_init refused the configuration");
    }

    B.listen_fd = listen_unix(opt.socket, 4);
    B.qmp_fd = opt.qmp ? listen_unix(opt.qmp, QMP_CLIENTS) : -1; /* the rest wait in the backlog */
    reply_cap = QMP_BUF_MIN;
    reply = (char *)malloc(reply_cap);
    if (!reply) die("malloc");
    /* --metrics: an HTTP endpoint in the same loop (examples/metrics_http.h); its label set is
       rendered once now, so that one vb_render_metrics refuses stops us here */
    if (mh_start(&metrics, &opt.metrics, &B.dev, why, sizeof why) < 0) {
        errno = 0;
        die(why);
    }
    say("listening on %s%s%s (features 0x%" PRIx64 ", protocol features 0x%" PRIx64 ")", opt.socket,
        opt.qmp ? ", QMP on " : "", opt.qmp ? opt.qmp : "", offered_features(), offered_protocol());

    while (running && !stop_signal) {
        struct pollfd p[8 + QUEUES + QMP_CLIENTS + MH_POLLFDS];
        unsigned what[8 + QUEUES + QMP_CLIENTS + MH_POLLFDS], idx[8 + QUEUES + QMP_CLIENTS + MH_POLLFDS];
        nfds_t n = 0, k, m0;
        int r, gen_fd, gen_backend, qmp_idle = 0;
#define WATCH(fd_, ev_, w_, i_)   \
    do {                          \
        p[n].fd = (fd_);          \
        p[n].events = (ev_);      \
        p[n].revents = 0;         \
        what[n] = (w_);           \
        idx[n] = (i_);            \
        n++;                      \
    } while (0)
        WATCH(B.poll_tfd, POLLIN, W_POLL_TIMER, 0);
        WATCH(B.event_tfd, POLLIN, W_EVENT_TIMER, 0);
        if (hint_pipe[0] >= 0) WATCH(hint_pipe[0], POLLIN, W_HINT, 0);
        if (B.qmp_fd >= 0 && qmp_slot_free()) WATCH(B.qmp_fd, POLLIN, W_QMP_LISTEN, 0);
        if (B.s.fd >= 0) {
            WATCH(B.s.fd, POLLIN, W_SESSION, 0);
            if (B.s.backend_fd >= 0) WATCH(B.s.backend_fd, POLLIN, W_BACKEND, 0);
            for (i = 0; i < QUEUES; i++)
                if (B.s.vq[i].kick_fd >= 0) WATCH(B.s.vq[i].kick_fd, POLLIN, W_KICK, i);
        }
        WATCH(B.listen_fd, POLLIN, W_LISTEN, 0); /* after the session: its EOF goes first */
        for (i = 0; i < QMP_CLIENTS; i++) /* a backed-up client is not read, only written */
            if (qc[i].fd >= 0) {
                short want = (short)((qc[i].eof || qmp_backed_up(&qc[i]) ? 0 : POLLIN) |
                                     (qc[i].out.len > qc[i].out.off ? POLLOUT : 0));
                qmp_idle |= qc[i].deferred;
                WATCH(qc[i].fd, want, W_QMP, i);
            }
#undef WATCH
        m0 = n; /* the --metrics server's entries: p[m0, n) */
        for (n += mh_pollfds(&metrics, p + m0), k = m0; k < n; k++) what[k] = W_METRICS;
        /* left-over inflate/deflate work, or a long message to frame once its client is idle:
           no sleep; else until something happens or a metrics client's deadline */
        r = poll(p, n, vb_more_work(&B.dev) || qmp_idle ? 0 : mh_timeout(&metrics, -1));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) die("poll");
        /* Handlers may close and reopen fds: an entry whose fd is no longer the one watched
           (or whose session ended) waits for the next round. */
        gen_fd = B.s.fd;
        gen_backend = B.s.backend_fd;
        if (vb_more_work(&B.dev)) {
            vb_do_work(&B.dev);
            after_device();
        }
        for (k = 0; k < n; k++) {
            if (!p[k].revents && !(what[k] == W_QMP && qc[idx[k]].deferred)) continue;
            switch (what[k]) {
            case W_LISTEN:
                session_accept();
                break;
            case W_SESSION:
                if (B.s.fd == p[k].fd && B.s.fd == gen_fd) session_readable();
                break;
            case W_BACKEND:
                if (B.s.fd == gen_fd && B.s.backend_fd == p[k].fd && B.s.backend_fd == gen_backend) {
                    char junk[256];
                    ssize_t got = recv(B.s.backend_fd, junk, sizeof junk, MSG_DONTWAIT);
                    if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) {
                        VERBOSE("back-end channel closed by the front-end");
                        close_fd(&B.s.backend_fd);
                    }
                }
                break;
            case W_KICK:
                if (B.s.fd == gen_fd && B.s.vq[idx[k]].kick_fd == p[k].fd) kick_readable(idx[k]);
                break;
            case W_POLL_TIMER:
                drain_timerfd(B.poll_tfd);
                B.in_timer = 1;
                vb_timer_expired(&B.dev);
                B.in_timer = 0;
                after_device();
                break;
            case W_EVENT_TIMER:
                drain_timerfd(B.event_tfd);
                event_window_end();
                break;
            case W_QMP_LISTEN:
                qmp_accept();
                break;
            case W_HINT:
                hint_readable();
                break;
            case W_QMP:
                if (qc[idx[k]].fd == p[k].fd) qmp_service(&qc[idx[k]], p[k].revents);
                break;
            }
        }
        mh_service(&metrics, p + m0, (unsigned)(n - m0)); /* also ends idle clients */
    }
    mh_stop(&metrics);
    if (stop_signal) say("signal %d: exiting", (int)stop_signal);
    session_end("back-end exiting");
    log_ranges("at exit");
    vb_destroy(&B.dev);
    if (unlink(opt.socket) != 0 && errno != ENOENT) die("unlink");
    if (opt.qmp && unlink(opt.qmp) != 0 && errno != ENOENT) die("unlink");
    return 0;
}
