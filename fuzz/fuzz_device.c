/* fuzz_device: the whole device, driven by a hostile guest and a hostile host at once. The input
   is a guest RAM image and a sequence of events; after every event the harness checks invariants
   of the library against its own model and calls abort() on any violation.

   INPUT FORMAT (all multi-byte operands little-endian; a truncated event ends the input)
   =====================================================================================
     byte 0   config: bit0 VB_PROFILE_QEMU; bits1-2 stat_keys {16, 10, 7, 6};
              bit3 VB_OPT_GUEST_BIG_ENDIAN; bit4 VB_OPT_NO_EVENT_IDX; bit5 VB_OPT_NO_INDIRECT;
              bit6 VB_OPT_MUST_TELL_HOST; bit7 VB_OPT_DEFLATE_ON_OOM
     byte 1   bits0-2 maximum queue size = 2 << n (2..256); bits3-7 initial poll interval (s)
     byte 2-3 u16 L: bits 0-13 the length of the RAM image (capped at 16 KiB); bit 14: the map
              path (the host gives vb_host.map, see "THE MAP PATH" below); bit 15: one more
              config byte X follows: bit0 VB_OPT_FREE_PAGE_HINT, bit1 VB_OPT_PAGE_POISON, bit2
              VB_OPT_REPORTING (dropped, after checking that vb_init refuses it, if the queue
              size is below 32), bits3-4 numbering: 1 VB_OPT_QUEUES_OFFERED, 2 _FIXED, else
              Linux's (by negotiated features), bit5 the packed layout (see THE PACKED RING;
              FUZZ_DEVICE_PACKED=1 in the environment forces it on every input)
     L bytes  copied to guest RAM at 0; guest RAM is 64 KiB, the rest is zero
     then events, at most 256, each an opcode byte (taken modulo 27) and its operands:
      0 FEATURES  f8          driver features: bit0 MUST_TELL_HOST, 1 STATS_VQ, 2 DEFLATE_ON_OOM,
                              3 INDIRECT_DESC, 4 EVENT_IDX, 5 VERSION_1, 6 bit 3 (FREE_PAGE_HINT),
                              7 bit 40 (never offered)
      1 STATUS    s8          vb_set_status(s) (0 = virtio reset)
      2 SETUP     q8 size16 desc32 avail32 used32
                              vb_queue_setup; q8 is the raw queue number; an address a32 with
                              top byte 0xff means UINT64_MAX - (a32 & 0xffffff)
      3 READY     b8          vb_queue_set_ready(queue(b & 0xc3), (b >> 2) & 1)
      4 BASE      q8 base16   vb_queue_set_base(queue(q8), base16)
      5 NOTIFY    q8          vb_queue_notify(queue(q8)), at most 64 per input
                              (queue(b) = (b & 3) | (b >> 4 & 4), or UINT_MAX - (b & 3) if
                              b & 0x80: indices 0-7, of which 0-4 may exist)
      6 TIMER     m8          m & 3: 0 advance the clock to the deadline and fire; 1 fire now
                              (early or stale); 2 advance (m >> 2) * 100 ms and fire if due;
                              3 advance (m >> 2) s, no fire
      7 CFGREAD   o8 n8       vb_config_read(offset(o8), n8 bytes)
      8 CFGWRITE  o8 n8 d[8]  vb_config_write(offset(o8), d, n8) (bytes past 8 are zero)
                              (offset(o) = o < 0xf0 ? o : UINT32_MAX - (o & 15))
      9 INTERVAL  k8 v32      k & 7: seconds (int32)v, v, UINT32_MAX + 1 + v, INT64_MIN + v,
                              INT64_MAX - v via vb_set_poll_interval; ms v, UINT32_MAX * 1000 -
                              1000 + v % 2001, UINT64_MAX - v via vb_set_poll_interval_ms
     10 PROP      p8          vb_prop_get(name p % 5 of guest-stats, guest-stats-polling-interval,
                              stats-polling-interval, type, nope; bit3 pretty; bit4 small buffer)
     11 QMP       c8 a32      one QMP command from template c & 15 with argument a32; bit4 pretty,
                              bit5 an "id", bit6 start un-negotiated; a first try into a buffer of
                              a32 & 31 bytes must change nothing if it did not fit
     12 RESET                 vb_reset
     13 MRESET    w8          vb_machine_reset(w & 1)
     14 SNAP                  save, load the blob back, save again
     15 SNAPMUT   n8 (p8 x8)* save, XOR x8 into byte p8 % 144 (n8 & 7 times), fix the checksum if
                              n8 & 8, load; the harness's own validator predicts the result
     16 WRITE     a16 n8 d[n8]  the guest writes n8 bytes of RAM at a16 (clipped at 64 KiB)
     17 TARGET    t32         vb_set_target_pages
     18 DENY      lo16 n16    the host refuses guest memory [lo, lo + n) from now on
     19 DESC      q8 i8 a16 n16 f8 x8
                              the guest writes descriptor i of the table of queue role q % 5 (as
                              the harness last set it up) in its byte order: addr a16, len n16,
                              flags f8, next x8 (roles: inflate, deflate, stats, free page, reporting)
     20 PUBLISH   c8 h8       the guest puts heads h8, h8+1, ... ((c8 >> 2 & 31) + 1 of them) in the
                              avail ring of role (c8 & 3) % 3, or 3 + (c8 & 1) if c8 & 0x80, and
                              bumps avail->idx (no kick)
     21 DENYRING  q8 f8       the host refuses exactly one ring part of role q % 5 from now on:
                              f % 9 = avail flags, avail idx, avail ring, used_event, used flags,
                              used idx, used ring, avail_event, descriptor table
     22 RINGSET   q8 f8 v16   the guest writes v16 into a 16-bit ring field of role q % 5 in its
                              byte order: f % 6 = avail flags, avail idx, used_event, used flags,
                              used idx, avail_event (e.g. moving the device's used->idx)
     23 FEATURES2 f8          driver features: bit0 STATS_VQ, 1 FREE_PAGE_HINT, 2 PAGE_POISON,
                              3 REPORTING, 4 INDIRECT_DESC, 5 EVENT_IDX, 6 VERSION_1, 7 DEFLATE_ON_OOM
     24 HINT      a8          the host's free page hinting: a % 3 = vb_hint_start, _stop, _done
     25 ECHO      a16         the guest reads the command id from the config space and writes it
                              at a16 in its byte order (a hint buffer's id, for the next DESC)
     26 DOWORK                vb_do_work (counts as a NOTIFY): one more budget for every page
                              queue with left-over work

   INVARIANTS (abort on violation)
   ===============================
   - Memory: every request has 1 <= len <= max(160, 4 * VB_PFN_MAX_PER_BUFFER) (stats steps: 160;
     queue start: exactly the 2-byte used->idx) and gpa + len does not wrap. Requests outside RAM or
     in the denied window are refused (-1): a guest error, the device breaks. Guest memory is only
     touched by notify, timer, queue start, DRIVER_OK (rewind) and snapshot load; writes only go to
     the used ring of the queue being served: an 8-byte element {head < queue max, len 0} at
     used_idx % size, then the 2-byte used->idx = previous + 1, or (EVENT_IDX) the avail_event.
   - Held buffer: the device returns a stats buffer only while it holds one, and holds at most one
     (pops counted by the device's `updates`, returns by used->idx writes; cross-checked with the
     `polls` and `duplicates` counters); it holds one only while the stats queue runs (stopping
     the queue un-pops it); DRIVER_OK with nothing held re-pops the buffer in flight. Inflate and
     deflate return every buffer they pop in the same call; vb_queue_notify returns 1 only for
     them. Buffers in flight (last_avail - used_idx) never exceed the queue size.
   - Broken: breaking is logged once (ERROR level), only by a step that may touch guest memory,
     and sends one config interrupt iff VERSION_1 and DRIVER_OK; vb_is_broken agrees; a broken
     device makes no memory access, queue interrupt or pages() call until a reset or snapshot
     load (config interrupts of a new balloon target are still sent, as QEMU does); vb_status has
     NEEDS_RESET iff broken and VERSION_1 negotiated.
   - Timer: the harness's arm/cancel model equals vb_next_deadline (UINT64_MAX iff not armed);
     interval 0 => not armed; a deadline is never in the past; set-interval, stats kick and expiry
     arm exactly as documented (after a poll only to end the interval: the polling deadline stays
     UINT64_MAX); an early or stale expiry changes nothing; an expiry without a poll is one missed
     interval more (but not the first poll of polling just turned on: it ends no interval), and
     the stats are stale iff 3 or more were missed in a row.
   - Rendering: vb_render_guest_stats (compact, pretty, truncated), vb_prop_get and every QMP reply
     are valid JSON (fuzz/json_check.h) whose length is the snprintf-style return value; a failed
     call (error reply, bad interval, refused snapshot, bad setup) changes nothing.
   - Config space, features, status, resets, snapshot (load(save()) works and re-saves the same
     blob; the harness's own reading of the blob format predicts every verdict), per-notification
     work bounds (stats: one chain; inflate/deflate/reporting/free page: about two queues' worth
     of descriptors, at most VB_RANGES_MAX_PER_BUFFER ranges a buffer).
   - The queue numbering, computed here from the options and features (Linux's contiguous rule,
     offered, fixed): every index the device is given or gives (notify_queue) has the role the
     harness expects; the hint state machine (status, command id; a notification of the free
     page queue moves REQUESTED to START or START to STOP, nothing else), config interrupts of
     vb_hint_*, the config space (sized by offered features, the id as STOP 0 / DONE 1 / id,
     poison_val kept only while PAGE_POISON is negotiated); pages() of reported ranges only with
     REPORTING and no poison, of hinted ones only in START and no poison, whole pages, no wrap.

   - Metrics: after the events, vb_render_metrics of the device (and an idle one) with labels
     from the input's tail, both formats (fuzz/metrics_check.h, mf_run; docs/fuzz-metrics.md):
     the verdict, a strict exposition-format check, label values round-tripped, every value
     against the public API, the snprintf contract.

   THE MAP PATH (bit 14 of L)
   ==========================
   The host also gives map(): a pointer into the harness's RAM for what read() would accept,
   except a range that overlaps the used ring of any queue as the harness last set it up, or a
   request to write: those are refused, and the device reads and writes them through read() and
   write(), where the model above observes every used element, used index and avail_event. So
   the descriptor tables and avail rings are mapped when a queue starts (their fields loaded
   straight from RAM, which later WRITE / DESC / PUBLISH / RINGSET events change under the
   device's mapping), stats buffers and indirect tables are mapped each time they are read
   (other buffers go through read()), and a table at a misaligned address falls back to read().
   A map call counts as an access (the budget, the denied window); the device makes one only
   where it may read and never while broken, except for the rings at a queue start, a snapshot
   load and vb_memory_changed (which DENY and DENYRING call on this path: the host's memory
   changed); a mapping is no access. Checks of the number of reads allow for the mapped loads.

   THE PACKED RING (bit 5 of X)
   ============================
   The device offers VIRTIO_F_RING_PACKED (VB_OPT_RING_PACKED) and both FEATURES events ask for it
   too (without VERSION_1 the driver refuses itself: FEATURES_OK is refused). While it is
   negotiated the queues are packed: setup takes any size 1..max, a 4-aligned driver area (avail)
   and device area (used) of 4 bytes; DESC writes a packed descriptor (addr a16, len n16, id x8,
   flags f8 & 7 | AVAIL if f8 bit 7 | USED if f8 bit 6 | the junk bits 3-5), PUBLISH makes
   (c8 >> 2 & 31) + 1 slots from h8 on available for the lap of c8 bit 6 (AVAIL/USED set
   accordingly, other flags kept), RINGSET writes f % 4 = the driver area's off_wrap or flags,
   the device area's off_wrap or flags, DENYRING refuses f % 9 = 0-3 the driver area, 4-7 the
   device area, 8 the descriptor ring. The invariants are the split ring's, with the packed
   ring's used element: {len 0, id < queue size} (6 bytes at +8 of a slot), then its flags (2
   bytes at +14: 0 or AVAIL|USED) that publish it; the device also writes only its event area
   (off_wrap < size | wrap, flags ENABLE, DISABLE or DESC). Queue start reads nothing; bases are
   the vhost-user encoding (index | wrap << 15, the snapshot's last_avail with bit 15 flipped);
   a snapshot's packed queue has any size up to the maximum and, while it runs on a healthy
   device, positions inside the ring at most a ring apart (a stopped one may hold any base).

   The host refuses guest memory after 200000 accesses in one input (the device then breaks), so
   that every input runs quickly. Build with -DFUZZ_TRACE to print each event, log item and
   pages() call (to see what an input does). fuzz/make_corpus.py writes the seed corpus. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VBALLOON_IMPLEMENTATION
#include "../vballoon.h"
#include "json_check.h"
#include "metrics_check.h"

#define RAM 0x10000u
#define IMAGE_MAX 0x4000u
#define MAX_EVENTS 256
#define MAX_NOTIFY 64
#define ACCESS_BUDGET 200000u
#define STATS_CHUNK 160u /* the device reads a stats buffer in pieces of at most this */
#define READ_MAX (STATS_CHUNK > 4u * VB_PFN_MAX_PER_BUFFER ? STATS_CHUNK : 4u * VB_PFN_MAX_PER_BUFFER)
#define F(bit) ((uint64_t)1 << (bit))

/* -DFUZZ_TRACE: print each event and every log item to stderr (to check what a seed does). */
#ifdef FUZZ_TRACE
#define TRACE(...) fprintf(stderr, __VA_ARGS__)
#else
#define TRACE(...) ((void)0)
#endif

#define CHECK(x)                                                                    \
    do {                                                                            \
        if (!(x)) {                                                                 \
            fprintf(stderr, "fuzz_device: invariant failed at %s:%d: %s\n", __FILE__, \
                    __LINE__, #x);                                                  \
            abort();                                                                \
        }                                                                           \
    } while (0)

/* What a step may do. */
#define A_READ 0x01
#define A_WRITE 0x02
#define A_IRQ 0x04
#define A_PAGES 0x08
#define A_CFG 0x10    /* config interrupt for a new target */
#define A_TIMER 0x20  /* timer_arm / timer_cancel */
#define A_ACTUAL 0x40 /* actual_changed */
#define ACTIVE_WORK (-2) /* vb_do_work: any page queue with left-over work may be served */

typedef struct hq {
    uint64_t desc, avail, used;
    uint16_t size;
    uint16_t used_idx; /* the device's used index, as it last wrote it or read it at start */
    int ready;
} hq;

typedef struct harness {
    vb_device dev;
    vb_qmp qmp;
    unsigned options;
    int doc; /* the doc profile */
    unsigned keys; /* stat_keys */
    uint16_t qmax;
    uint64_t now;
    int64_t wall;
    uint64_t deny_lo, deny_hi;
    unsigned accesses;
    int map_path;  /* bit 14 of L: the host gives map() */
    int packed_guest; /* bit 5 of X: the packed layout offered and asked for */
    int pending_slot; /* packed: the slot of the used element written, its flags not yet */
    int remapping; /* inside vb_memory_changed or a queue start: a broken device may map rings */
    unsigned maps; /* map() calls of the current step */
    uint64_t features; /* the driver features as of the last step */
    uint8_t status;    /* the driver status as of the last step (DRIVER_OK gates interrupts) */
    int bad_features;

    /* timer model, driven by the callbacks */
    int armed;
    uint64_t deadline;
    int first_poll; /* the armed deadline is the first poll of polling just turned on */

    /* device model */
    hq q[VB_QUEUE_MAX]; /* by role */
    int broken;    /* from the ERROR log of the break, cleared by resets */
    int held;      /* stats chains popped and not returned */
    int has_stats; /* the guest reported since the machine reset */

    /* the current step */
    int active;    /* the queue served, -1 none */
    unsigned allow;
    size_t read_max;
    unsigned reads, writes, irqs, pushes, cfg_irqs, breaks, pages_calls, actual_calls, timer_calls;
    int elem_pending;
    int break_irq_due;
    uint64_t last_read;
    int last_read_ok;
    int render_checked;
    uint32_t actual_seen;
    /* issue 9: hinting and poison as the harness predicts them */
    vb_hint_status hint_status;
    uint32_t cmd_id;
    uint32_t poison;
} harness;

static harness H;
static unsigned char ram[RAM];

/* The queues are packed: VIRTIO_F_RING_PACKED negotiated as of the last step. */
static int pk(const harness *h) { return (int)((h->features >> VB_F_RING_PACKED) & 1u); }

/* The ERROR items: each one a ring error that breaks the device. */
static int ring_error(vb_log_item item)
{
    return item <= VB_LOG_RING_MEMORY || item == VB_LOG_HINT_CMD_ID || item == VB_LOG_PACKED_FLAGS ||
           item == VB_LOG_BUFFER_ID || item == VB_LOG_ID_IN_FLIGHT;
}

static int guest_be(const harness *h)
{
    return (h->options & VB_OPT_GUEST_BIG_ENDIAN) && !(h->features & F(VB_F_VERSION_1));
}

static uint16_t ld16(const unsigned char *p, int be)
{
    return be ? (uint16_t)((unsigned)p[0] << 8 | p[1]) : (uint16_t)((unsigned)p[1] << 8 | p[0]);
}
static uint32_t ld32(const unsigned char *p, int be)
{
    return be ? (uint32_t)ld16(p, 1) << 16 | ld16(p + 2, 1) : (uint32_t)ld16(p + 2, 0) << 16 | ld16(p, 0);
}
static uint64_t ld64le(const unsigned char *p) { return (uint64_t)ld32(p + 4, 0) << 32 | ld32(p, 0); }
static void st16(unsigned char *p, uint16_t v, int be)
{
    p[be ? 0 : 1] = (unsigned char)(v >> 8);
    p[be ? 1 : 0] = (unsigned char)v;
}
static void st32(unsigned char *p, uint32_t v, int be)
{
    st16(p + (be ? 2 : 0), (uint16_t)v, be);
    st16(p + (be ? 0 : 2), (uint16_t)(v >> 16), be);
}
static void st64(unsigned char *p, uint64_t v, int be)
{
    st32(p + (be ? 4 : 0), (uint32_t)v, be);
    st32(p + (be ? 0 : 4), (uint32_t)(v >> 32), be);
}

/* ---- queue numbering, as the harness reads the header's rule -------------------------------- */

static uint64_t offered_features(unsigned options);

/* The features that number the queues: the driver's (Linux), the offered ones, or all. */
static uint64_t numbering_features(const harness *h)
{
    if (h->options & VB_OPT_QUEUES_FIXED) return ~(uint64_t)0;
    if (h->options & VB_OPT_QUEUES_OFFERED) return offered_features(h->options);
    return h->features;
}

static int role_exists(const harness *h, unsigned role)
{
    uint64_t f = numbering_features(h);
    int fph = (f & F(VB_F_FREE_PAGE_HINT)) != 0, rep = (f & F(VB_F_REPORTING)) != 0;
    switch (role) {
    case VB_QUEUE_INFLATE: case VB_QUEUE_DEFLATE: return 1;
    case VB_QUEUE_STATS: return (f & F(VB_F_STATS_VQ)) != 0 || (!fph && !rep);
    case VB_QUEUE_FREE_PAGE: return fph;
    case VB_QUEUE_REPORTING: return rep;
    default: return 0;
    }
}

static int index_of(const harness *h, unsigned role)
{
    unsigned r;
    int n = 0;
    if (!role_exists(h, role)) return -1;
    for (r = 0; r < role; r++) n += role_exists(h, r);
    return n;
}

static int role_of(const harness *h, unsigned qi)
{
    unsigned r;
    for (r = 0; r < VB_QUEUE_MAX; r++)
        if (role_exists(h, r) && qi-- == 0) return (int)r;
    return -1;
}

static int is_page_role(int role) { return role >= 0 && role != VB_QUEUE_STATS; }

/* vb_do_work: the page role whose used ring holds [a, a + n), running and with an index. */
static int work_role_of(const harness *h, uint64_t a, size_t n)
{
    unsigned r;
    for (r = 0; r < VB_QUEUE_MAX; r++) {
        const hq *q = &h->q[r];
        if (r == VB_QUEUE_STATS || !q->ready || !role_exists(h, r)) continue;
        if (pk(h)) {
            if ((a >= q->desc && a + n <= q->desc + 16u * (uint64_t)q->size) || (a >= q->used && a + n <= q->used + 4u))
                return (int)r;
            continue;
        }
        if (a >= q->used + 2u && a + n <= q->used + 6u + 8u * (uint64_t)q->size) return (int)r;
    }
    return -1;
}

/* ---- host callbacks ------------------------------------------------------------------------ */

static int access_ok(harness *h, uint64_t a, size_t n)
{
    if (++h->accesses > ACCESS_BUDGET) return 0;
    if (a > RAM || n > RAM - a) return 0;
    if (a < h->deny_hi && a + n > h->deny_lo) return 0;
    return 1;
}

static int cb_read(void *u, uint64_t a, void *d, size_t n)
{
    harness *h = (harness *)u;
    CHECK(!h->broken);
    CHECK(h->allow & A_READ);
    CHECK(n >= 1 && n <= h->read_max);
    CHECK(a <= UINT64_MAX - n);
    h->reads++;
    h->last_read = a;
    h->last_read_ok = access_ok(h, a, n);
    if (!h->last_read_ok) return -1;
    memcpy(d, ram + a, n);
    return 0;
}

/* A packed ring's write of role r: a used element ({len 0, id < size}, then its flags 0 or
   AVAIL|USED at the same slot) or the device's event area (off_wrap inside the ring, flags
   ENABLE/DISABLE/DESC). Returns 1 for the flags that publish a used element. */
static int packed_write(harness *h, unsigned r, uint64_t a, const unsigned char *p, size_t n)
{
    const hq *q = &h->q[r];
    if (a >= q->used && a + n <= q->used + 4u) {
        CHECK(n == 2 && !h->elem_pending);
        if (a == q->used) CHECK((ld16(p, 0) & 0x7fffu) < q->size);
        else CHECK(ld16(p, 0) <= 2u);
        return 0;
    }
    CHECK(a >= q->desc && a + n <= q->desc + 16u * (uint64_t)q->size);
    if (n == 6) {
        CHECK((a - q->desc) % 16u == 8u && !h->elem_pending);
        CHECK(ld32(p, 0) == 0 && ld16(p + 4, 0) < q->size);
        h->elem_pending = 1;
        h->pending_slot = (int)((a - q->desc) / 16u);
        return 0;
    }
    CHECK(n == 2 && (a - q->desc) % 16u == 14u && h->elem_pending && (int)((a - q->desc) / 16u) == h->pending_slot);
    CHECK(ld16(p, 0) == 0 || ld16(p, 0) == 0x8080u);
    h->elem_pending = 0;
    return 1;
}

static int cb_write(void *u, uint64_t a, const void *s, size_t n)
{
    harness *h = (harness *)u;
    const unsigned char *p = (const unsigned char *)s;
    const int be = guest_be(h);
    hq *q;
    CHECK(!h->broken);
    CHECK(h->allow & A_WRITE);
    if (pk(h)) {
        int r = h->active == ACTIVE_WORK ? work_role_of(h, a, n) : h->active, pushed;
        CHECK(r >= 0 && r < VB_QUEUE_MAX); /* the active queue (starting, or running) */
        CHECK(a <= UINT64_MAX - n);
        h->writes++;
        pushed = packed_write(h, (unsigned)r, a, p, n);
        if (!access_ok(h, a, n)) return -1;
        if (pushed) {
            h->pushes++;
            if (r == VB_QUEUE_STATS) {
                CHECK(h->held >= 1); /* only a held stats buffer is ever returned */
                h->held--;
            }
        }
        memcpy(ram + a, p, n);
        return 0;
    }
    if (h->active == ACTIVE_WORK) { /* a used ring of a running page queue that has an index */
        int r = work_role_of(h, a, n);
        CHECK(r >= 0);
        CHECK(n == 8 || n == 2);
        if (n == 8) CHECK(ld32(p, be) < h->q[r].size && ld32(p + 4, be) == 0);
        if (!access_ok(h, a, n)) return -1;
        if (n == 2 && a == h->q[r].used + 2u) h->pushes++;
        h->writes++;
        memcpy(ram + a, p, n);
        return 0;
    }
    CHECK(h->active >= 0 && h->active < VB_QUEUE_MAX);
    CHECK(a <= UINT64_MAX - n);
    q = &h->q[h->active];
    CHECK(q->ready);
    h->writes++;
    if (n == 8) { /* a used element, at the slot of the current used index */
        CHECK(!h->elem_pending);
        CHECK(a == q->used + 4u + 8u * (uint64_t)(q->used_idx & (q->size - 1u)));
        CHECK(ld32(p, be) < h->qmax);
        if (h->active != VB_QUEUE_STATS) CHECK(ld32(p, be) < q->size);
        CHECK(ld32(p + 4, be) == 0); /* every buffer goes back with used length 0 */
        if (!access_ok(h, a, n)) return -1;
        h->elem_pending = 1;
    } else if (n == 2 && a == q->used + 2u) { /* used->idx: exactly one step, after its element */
        CHECK(h->elem_pending);
        CHECK(ld16(p, be) == (uint16_t)(q->used_idx + 1u));
        if (!access_ok(h, a, n)) return -1;
        h->elem_pending = 0;
        q->used_idx = ld16(p, be);
        h->pushes++;
        if (h->active == VB_QUEUE_STATS) {
            CHECK(h->held >= 1); /* only a held stats buffer is ever returned */
            h->held--;
        }
    } else {
        CHECK(n == 2 && a == q->used + 4u + 8u * (uint64_t)q->size); /* avail_event */
        CHECK(h->features & F(VB_F_RING_EVENT_IDX));
        CHECK(!h->elem_pending);
        if (!access_ok(h, a, n)) return -1;
    }
    memcpy(ram + a, p, n);
    return 0;
}

static uint64_t cb_now(void *u) { return ((harness *)u)->now; }

static void cb_arm(void *u, uint64_t deadline)
{
    harness *h = (harness *)u;
    CHECK(h->allow & A_TIMER);
    CHECK(deadline >= h->now);
    h->armed = 1;
    h->deadline = deadline;
    h->first_poll = 0; /* any other arming is the end of an interval */
    h->timer_calls++;
}

static void cb_cancel(void *u)
{
    harness *h = (harness *)u;
    CHECK(h->allow & A_TIMER);
    CHECK(h->armed); /* the device cancels only what it armed */
    h->armed = h->first_poll = 0;
    h->timer_calls++;
}

static int64_t cb_wall(void *u) { return ((harness *)u)->wall; }

static void cb_irq(void *u, unsigned q)
{
    harness *h = (harness *)u;
    CHECK(!h->broken);
    CHECK(h->allow & A_IRQ);
    if (h->active == ACTIVE_WORK) /* an index that exists, of a running page queue */
        CHECK(q < VB_QUEUE_MAX && is_page_role(role_of(h, q)) && h->q[role_of(h, q)].ready);
    else
        CHECK(h->active >= 0 && (int)q == index_of(h, (unsigned)h->active)); /* an index that exists */
    CHECK(q < VB_QUEUE_MAX);
    h->irqs++;
}

static void cb_cfg(void *u)
{
    harness *h = (harness *)u;
    if (h->break_irq_due) {
        h->break_irq_due = 0;
    } else {
        CHECK(h->allow & A_CFG);
    }
    h->cfg_irqs++;
}

static void cb_pages(void *u, unsigned q, uint64_t gpa, uint64_t len)
{
    harness *h = (harness *)u;
    CHECK(!h->broken);
    CHECK(h->allow & A_PAGES);
    if (h->active == ACTIVE_WORK) {
        CHECK(q < VB_RANGE_KINDS);
    } else {
        CHECK(h->active >= 0 && h->active != VB_QUEUE_STATS);
        CHECK(q == (h->active == VB_QUEUE_REPORTING   ? (unsigned)VB_RANGE_REPORTED
                    : h->active == VB_QUEUE_FREE_PAGE ? (unsigned)VB_RANGE_HINTED
                                                      : (unsigned)h->active));
    }
    CHECK((gpa & 4095u) == 0 && (len & 4095u) == 0);
    if (q <= VB_RANGE_DEFLATE) {
        CHECK(len >= 4096u && len <= (uint64_t)VB_PFN_MAX_PER_BUFFER << 12);
        CHECK((gpa >> 12) + (len >> 12) <= ((uint64_t)1 << 32)); /* 32-bit PFNs, no wrap */
    } else {
        /* one descriptor's range, as the guest sent it: whole pages, no wrap, no poison */
        CHECK(len >= 4096u && len <= UINT32_MAX && gpa <= UINT64_MAX - len);
        CHECK(vb_poison_value(&h->dev) == 0 && h->poison == 0);
        if (q == VB_RANGE_REPORTED) CHECK(h->features & F(VB_F_REPORTING));
        else CHECK(vb_hint(&h->dev)->status == VB_HINT_START);
    }
    h->pages_calls++;
    TRACE("    pages q%u 0x%llx +0x%llx\n", q, (unsigned long long)gpa, (unsigned long long)len);
}

static void cb_actual(void *u, uint32_t actual)
{
    harness *h = (harness *)u;
    CHECK(h->allow & A_ACTUAL);
    h->actual_calls++;
    h->actual_seen = actual;
}

static void cb_log(void *u, vb_log_level level, vb_log_item item, const char *msg)
{
    harness *h = (harness *)u;
    CHECK(item > VB_LOG_NONE && item < VB_LOG_ITEM_COUNT && msg && msg[0]);
    CHECK(level >= VB_LOG_ERROR && level <= VB_LOG_INFO);
    CHECK(item != VB_LOG_REENTERED); /* the harness never calls the device from a callback */
    TRACE("    log %d: %s\n", (int)item, msg);
    if (level == VB_LOG_ERROR) { /* every ERROR item is a ring error that breaks the device */
        CHECK(ring_error(item));
        CHECK(!h->broken); /* broken once, until a reset */
        CHECK(h->allow & A_READ);
        h->broken = 1;
        h->breaks++;
        /* virtio_notify_config: VERSION_1 drivers, once DRIVER_OK is set */
        h->break_irq_due = (h->features & F(VB_F_VERSION_1)) && (h->status & VB_S_DRIVER_OK);
    } else {
        CHECK(!ring_error(item));
    }
}

static const vb_host host = {cb_read, cb_write, cb_now,   cb_arm,    cb_cancel, cb_wall,
                             cb_irq,  cb_cfg,   cb_pages, cb_actual, cb_log,  0, 0};

/* The map path: RAM as read() would give it, but never a used ring (see THE MAP PATH). */
static void *cb_map(void *u, uint64_t a, uint64_t n, int write)
{
    harness *h = (harness *)u;
    unsigned r;
    CHECK(h->map_path);
    CHECK(h->remapping || !h->broken);
    CHECK(h->remapping || (h->allow & (A_READ | A_WRITE)));
    CHECK(n >= 1 && a <= UINT64_MAX - n);
    h->maps++;
    if (write || n > RAM) return NULL;
    for (r = 0; r < VB_QUEUE_MAX; r++) {
        const hq *q = &h->q[r];
        uint64_t end = q->used + 6u + 8u * (uint64_t)q->size;
        if (a < end && a + n > q->used) return NULL;
    }
    if (!access_ok(h, a, (size_t)n)) return NULL;
    return ram + a;
}

static const vb_host map_host = {cb_read, cb_write, cb_now,   cb_arm,    cb_cancel, cb_wall,
                                 cb_irq,  cb_cfg,   cb_pages, cb_actual, cb_log,    0, cb_map};

/* DENY / DENYRING on the map path: the host tells the device its memory changed. */
static void memory_changed(harness *h)
{
    if (!h->map_path) return;
    h->remapping = 1;
    vb_memory_changed(&h->dev);
    h->remapping = 0;
}

/* ---- model helpers -------------------------------------------------------------------------- */

static uint64_t offered_features(unsigned options)
{
    uint64_t f = F(VB_F_STATS_VQ) | F(VB_F_VERSION_1);
    if (!(options & VB_OPT_NO_EVENT_IDX)) f |= F(VB_F_RING_EVENT_IDX);
    if (!(options & VB_OPT_NO_INDIRECT)) f |= F(VB_F_RING_INDIRECT_DESC);
    if (options & VB_OPT_MUST_TELL_HOST) f |= F(VB_F_MUST_TELL_HOST);
    if (options & VB_OPT_DEFLATE_ON_OOM) f |= F(VB_F_DEFLATE_ON_OOM);
    if (options & VB_OPT_FREE_PAGE_HINT) f |= F(VB_F_FREE_PAGE_HINT);
    if (options & VB_OPT_PAGE_POISON) f |= F(VB_F_PAGE_POISON);
    if (options & VB_OPT_REPORTING) f |= F(VB_F_REPORTING);
    if (options & VB_OPT_RING_PACKED) f |= F(VB_F_RING_PACKED);
    return f;
}

static void model_queues_reset(harness *h)
{
    unsigned i;
    for (i = 0; i < VB_QUEUE_MAX; i++) {
        memset(&h->q[i], 0, sizeof h->q[i]);
        h->q[i].size = h->qmax;
    }
}

/* A virtio reset as the model sees it. */
static void model_reset(harness *h)
{
    model_queues_reset(h);
    h->broken = 0;
    h->held = 0;
    h->bad_features = 0;
    h->elem_pending = 0;
    h->break_irq_due = 0;
    h->hint_status = VB_HINT_STOP; /* the ids go on */
    h->poison = 0;
}

static void step_begin(harness *h, int active, unsigned allow, size_t read_max)
{
    h->active = active;
    h->allow = allow;
    h->read_max = read_max;
    h->reads = h->writes = h->irqs = h->pushes = h->cfg_irqs = h->breaks = h->maps = 0;
    h->pages_calls = h->actual_calls = h->timer_calls = 0;
}

static int rings_fit(uint64_t desc, uint64_t avail, uint64_t used, uint16_t size)
{
    return desc <= UINT64_MAX - 16u * (uint64_t)size && avail <= UINT64_MAX - (6u + 2u * (uint64_t)size) &&
           used <= UINT64_MAX - (6u + 8u * (uint64_t)size);
}

static int pow2(uint32_t v) { return v && !(v & (v - 1u)); }

#define SNAP_SUM (VB_SNAPSHOT_SIZE - 4) /* the checksum's offset (format version 2) */

static uint32_t fnv1a(const unsigned char *p, size_t n)
{
    uint32_t x = 2166136261u;
    while (n--) x = (x ^ *p++) * 16777619u;
    return x;
}

/* Slots from packed position `from` to `to` (the snapshot's encoding: bit 15 set = wrap 0). */
static uint32_t packed_between(uint16_t from, uint16_t to, uint16_t size)
{
    uint32_t a = (from & 0x7fffu) + ((from & 0x8000u) ? size : 0u), b = (to & 0x7fffu) + ((to & 0x8000u) ? size : 0u);
    return b >= a ? b - a : b + 2u * size - a;
}

/* An independent reading of the documented snapshot format: 1 if vb_snapshot_load must take it. */
static int snap_valid(const harness *h, const unsigned char *p)
{
    unsigned i, k;
    if (memcmp(p, "VBSN", 4) || ld16(p + 4, 0) != 2 || ld16(p + 6, 0) != VB_SNAPSHOT_SIZE) return 0;
    if (ld32(p + SNAP_SUM, 0) != fnv1a(p, SNAP_SUM)) return 0;
    if (ld64le(p + 8) & ~offered_features(h->options)) return 0;
    if ((p[16] & VB_S_NEEDS_RESET) || p[17] > 3 || p[18] > 3 || p[19] || ld32(p + SNAP_SUM - 4, 0)) return 0;
    if (ld32(p + 32, 0) < 0x80000000u) return 0; /* hint command ids start there */
    if ((p[17] & 2) && (p[16] & VB_S_FEATURES_OK)) return 0; /* refused features, yet FEATURES_OK */
    for (i = 0; i < VB_QUEUE_MAX; i++) {
        const unsigned char *s = p + 36 + 36 * i;
        uint64_t desc = ld64le(s), avail = ld64le(s + 8), used = ld64le(s + 16);
        uint16_t size = ld16(s + 24, 0), last = ld16(s + 26, 0), uidx = ld16(s + 28, 0);
        if (s[30] > 1) return 0;
        for (k = 31; k < 36; k++)
            if (s[k]) return 0;
        if ((ld64le(p + 8) >> VB_F_RING_PACKED) & 1u) { /* running, healthy: positions inside, a ring apart */
            if (!size || size > h->qmax || (desc & 15u) || (avail & 3u) || (used & 3u)) return 0;
            if (desc > UINT64_MAX - 16u * (uint64_t)size || avail > UINT64_MAX - 4u || used > UINT64_MAX - 4u) return 0;
            if (!s[30] || (p[17] & 1)) continue; /* a stopped queue may hold any base */
            if ((last & 0x7fffu) >= size || (uidx & 0x7fffu) >= size) return 0;
            if (packed_between(uidx, last, size) > size) return 0;
            continue;
        }
        if (!pow2(size) || size > h->qmax) return 0;
        if ((desc & 15u) || (avail & 1u) || (used & 3u) || !rings_fit(desc, avail, used, size)) return 0;
        if (s[30] && !(p[17] & 1) && (uint16_t)(last - uidx) > size) return 0; /* running, healthy */
    }
    return 1;
}

/* ---- checks after every step -------------------------------------------------------------- */

static char jbuf[8192], jbuf2[8192];

static void check_json(const char *s, size_t n, size_t ret)
{
    CHECK(ret == n);
    CHECK(strlen(s) == n);
    CHECK(json_valid(s, n));
}

static void check_render(harness *h)
{
    unsigned flags;
    for (flags = 0; flags <= VB_JSON_PRETTY; flags++) {
        size_t n = vb_render_guest_stats(&h->dev, jbuf, sizeof jbuf, flags), m;
        CHECK(n < sizeof jbuf);
        check_json(jbuf, strlen(jbuf), n);
        m = vb_render_guest_stats(&h->dev, jbuf2, n / 2 + 1, flags); /* cut: same length, a prefix */
        CHECK(m == n && strlen(jbuf2) == n / 2 && !memcmp(jbuf, jbuf2, n / 2));
        CHECK(vb_render_guest_stats(&h->dev, NULL, 0, flags) == n);
    }
}

typedef struct snapshot_of_step {
    vb_device dev;
    vb_counters cnt;
    uint32_t missed; /* vb_telemetry's missed intervals */
    uint16_t base[VB_QUEUE_MAX]; /* by role */
    uint64_t stat[VB_STAT_COUNT];
    int64_t last_update;
    int broken;
} before_t;

/* The next avail index of a queue role, whether the numbering has an index for it or not: read
   from a snapshot (the public API's only view of a role without an index). */
static uint16_t base_of(const harness *h, unsigned role)
{
    unsigned char blob[VB_SNAPSHOT_SIZE];
    int qi = index_of(h, role);
    CHECK(vb_snapshot_save(&h->dev, blob, sizeof blob) == VB_SNAPSHOT_SIZE);
    if (qi >= 0) CHECK(vb_queue_base(&h->dev, (unsigned)qi) == (uint16_t)(ld16(blob + 36 + 36 * role + 26, 0) ^ (pk(h) ? 0x8000u : 0u)));
    return ld16(blob + 36 + 36 * role + 26, 0);
}

/* Every role's next avail index from one snapshot. */
static void bases(const harness *h, uint16_t out[VB_QUEUE_MAX])
{
    unsigned char blob[VB_SNAPSHOT_SIZE];
    unsigned i;
    CHECK(vb_snapshot_save(&h->dev, blob, sizeof blob) == VB_SNAPSHOT_SIZE);
    for (i = 0; i < VB_QUEUE_MAX; i++) {
        int qi = index_of(h, i);
        out[i] = ld16(blob + 36 + 36 * i + 26, 0);
        if (qi >= 0) CHECK(vb_queue_base(&h->dev, (unsigned)qi) == (uint16_t)(out[i] ^ (pk(h) ? 0x8000u : 0u)));
    }
}

/* A role's used position as the device keeps it (snapshot encoding). */
static uint16_t used_of(const harness *h, unsigned role)
{
    unsigned char blob[VB_SNAPSHOT_SIZE];
    CHECK(vb_snapshot_save(&h->dev, blob, sizeof blob) == VB_SNAPSHOT_SIZE);
    return ld16(blob + 36 + 36 * role + 28, 0);
}

static void take_before(const harness *h, before_t *b)
{
    unsigned i;
    memcpy(&b->dev, &h->dev, sizeof h->dev);
    b->cnt = *vb_get_counters(&h->dev);
    b->missed = vb_get_telemetry(&h->dev)->missed;
    bases(h, b->base);
    for (i = 0; i < VB_STAT_COUNT; i++) vb_stat(&h->dev, i, &b->stat[i]);
    b->last_update = vb_last_update(&h->dev);
    b->broken = h->broken;
}

static int stats_same(const harness *h, const before_t *b)
{
    unsigned i;
    for (i = 0; i < VB_STAT_COUNT; i++) {
        uint64_t v;
        vb_stat(&h->dev, i, &v);
        if (v != b->stat[i]) return 0;
    }
    return vb_last_update(&h->dev) == b->last_update;
}

static void check_after(harness *h, const before_t *b, int stats_may_clear)
{
    const vb_counters *c = vb_get_counters(&h->dev);
    uint32_t updates = c->updates - b->cnt.updates, polls = c->polls - b->cnt.polls,
             dups = c->duplicates - b->cnt.duplicates;
    uint8_t st = vb_status(&h->dev);

    h->features = vb_driver_features(&h->dev);
    h->status = (uint8_t)(st & ~VB_S_NEEDS_RESET);
    if (!vb_poll_interval_ms(&b->dev) && vb_poll_interval_ms(&h->dev)) /* any way polling was turned on */
        h->first_poll = h->armed && h->deadline == h->now;
    CHECK(vb_is_broken(&h->dev) == h->broken);
    CHECK(!!(st & VB_S_NEEDS_RESET) == (h->broken && (h->features & F(VB_F_VERSION_1))));
    CHECK(h->break_irq_due == 0);
    CHECK(h->breaks <= 1);
    CHECK((c->ring_errors - b->cnt.ring_errors) == h->breaks);
    CHECK((h->features & ~offered_features(h->options)) == 0);
    CHECK(vb_host_features(&h->dev) == offered_features(h->options));

    /* timer */
    CHECK(vb_next_deadline(&h->dev) == (h->armed ? h->deadline : UINT64_MAX));
    CHECK(h->deadline != UINT64_MAX || !h->armed);
    if (vb_poll_interval_ms(&h->dev) == 0) CHECK(!h->armed);
    CHECK(vb_poll_interval(&h->dev) == (int64_t)((vb_poll_interval_ms(&h->dev) + 999u) / 1000u));

    /* held buffer accounting */
    h->held += (int)updates;
    if (updates) h->has_stats = 1;
    CHECK(h->held >= 0);
    if (!h->broken) {
        CHECK(h->held <= 1);
        if (h->held) CHECK(h->q[VB_QUEUE_STATS].ready); /* stopping the queue un-pops it */
        CHECK(!h->elem_pending);
        if (h->active == VB_QUEUE_STATS)
            CHECK(h->pushes == polls + dups); /* every stats return is a poll or a duplicate */
        unsigned i;
        uint16_t now[VB_QUEUE_MAX];
        bases(h, now);
        for (i = 0; i < VB_QUEUE_MAX; i++) {
            if (!h->q[i].ready) continue;
            if (pk(h))
                CHECK(packed_between(used_of(h, i), now[i], h->q[i].size) <= h->q[i].size);
            else
                CHECK((uint16_t)(now[i] - h->q[i].used_idx) <= h->q[i].size);
        }
    }
    /* the numbering: every index has the role the harness computes, and back */
    {
        unsigned i, n = 0;
        for (i = 0; i < VB_QUEUE_MAX; i++) {
            CHECK(vb_queue_index(&h->dev, i) == index_of(h, i));
            n += (unsigned)role_exists(h, i);
        }
        CHECK(vb_queue_count(&h->dev) == n);
        for (i = 0; i < VB_QUEUE_MAX + 2; i++) CHECK(vb_queue_role(&h->dev, i) == role_of(h, i));
    }
    /* hinting and poison as predicted */
    CHECK(vb_hint(&h->dev)->status == h->hint_status && vb_hint(&h->dev)->cmd_id == h->cmd_id);
    CHECK(h->cmd_id >= 0x80000000u);
    CHECK(vb_poison_value(&h->dev) == h->poison);
    CHECK(c->bytes_ignored >= b->cnt.bytes_ignored && c->reports >= b->cnt.reports &&
          c->hint_buffers >= b->cnt.hint_buffers);
    CHECK(h->irqs <= h->pushes);
    CHECK(updates <= 1 && polls <= 1 && dups <= 1);

    /* stats change only with a parsed buffer (or a machine reset) */
    if (!updates && !stats_may_clear) CHECK(stats_same(h, b));
    if (updates) CHECK(vb_last_update(&h->dev) == h->wall);
    /* the rendering depends on the stats and last-update only: check it when they change */
    if (h->render_checked == 0 || !stats_same(h, b)) {
        check_render(h);
        h->render_checked = 1;
    }
}

/* ---- events --------------------------------------------------------------------------------- */

typedef struct reader {
    const uint8_t *p;
    size_t n;
} reader;

static int have(const reader *r, size_t k) { return r->n >= k; }
static uint8_t u8(reader *r)
{
    uint8_t v = r->p[0];
    r->p++;
    r->n--;
    return v;
}
static uint16_t u16(reader *r)
{
    uint16_t v = (uint16_t)(r->p[0] | r->p[1] << 8);
    r->p += 2;
    r->n -= 2;
    return v;
}
static uint32_t u32(reader *r)
{
    uint32_t v = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 | (uint32_t)r->p[3] << 24;
    r->p += 4;
    r->n -= 4;
    return v;
}

static unsigned queue_of(uint8_t b) { return (b & 0x80) ? UINT32_MAX - (b & 3u) : (b & 3u) | ((b >> 4) & 4u); }
static uint64_t addr_of(uint32_t a) { return (a >> 24) == 0xffu ? UINT64_MAX - (a & 0xffffffu) : a; }
static uint32_t cfg_offset(uint8_t o) { return o < 0xf0 ? o : UINT32_MAX - (o & 15u); }

static uint64_t features_of(uint8_t b)
{
    static const unsigned bits[8] = {VB_F_MUST_TELL_HOST, VB_F_STATS_VQ, VB_F_DEFLATE_ON_OOM,
                                     VB_F_RING_INDIRECT_DESC, VB_F_RING_EVENT_IDX, VB_F_VERSION_1, 3, 40};
    uint64_t f = 0;
    unsigned i;
    for (i = 0; i < 8; i++)
        if (b & (1u << i)) f |= F(bits[i]);
    return f;
}

static void ev_features(harness *h, uint64_t f)
{
    uint64_t before = vb_driver_features(&h->dev);
    if (h->packed_guest) f |= F(VB_F_RING_PACKED); /* the packed layout asks for it every time */
    before_t b0;
    take_before(h, &b0);
    step_begin(h, -1, 0, 0);
    vb_set_driver_features(&h->dev, f);
    if (vb_status(&h->dev) & VB_S_FEATURES_OK) {
        CHECK(vb_driver_features(&h->dev) == before);
    } else {
        uint64_t got = f & offered_features(h->options);
        CHECK(vb_driver_features(&h->dev) == got);
        if ((before ^ got) & F(VB_F_RING_PACKED)) { /* another layout: the queues are forgotten */
            model_queues_reset(h);
            h->held = 0;
        }
        /* a packed ring needs VERSION_1: a driver asking for it without refuses itself */
        h->bad_features = (f & ~offered_features(h->options)) != 0 ||
                          ((got & F(VB_F_RING_PACKED)) && !(got & F(VB_F_VERSION_1)));
    }
    check_after(h, &b0, 0);
}

static void ev_status(harness *h, uint8_t s)
{
    before_t b0;
    take_before(h, &b0);
    if (s == 0) {
        step_begin(h, -1, 0, 0);
        model_reset(h);
        vb_set_status(&h->dev, 0);
        CHECK(vb_status(&h->dev) == 0 && vb_driver_features(&h->dev) == 0);
        CHECK(vb_next_deadline(&h->dev) == vb_next_deadline(&b0.dev));
    } else {
        uint8_t want = (uint8_t)(s & ~VB_S_NEEDS_RESET);
        const hq *q = &h->q[VB_QUEUE_STATS];
        /* DRIVER_OK with nothing held re-reads the one stats buffer a source had popped */
        int rewind = (s & VB_S_DRIVER_OK) && !b0.broken && h->held == 0 && q->ready &&
                     b0.base[VB_QUEUE_STATS] != (pk(h) ? used_of(h, VB_QUEUE_STATS) : q->used_idx);
        if (h->bad_features) want = (uint8_t)(want & ~VB_S_FEATURES_OK);
        step_begin(h, VB_QUEUE_STATS, rewind ? (A_READ | A_WRITE | A_TIMER) : 0, STATS_CHUNK);
        h->status = want; /* the rewind runs with the new status */
        vb_set_status(&h->dev, s);
        CHECK((vb_status(&h->dev) & (uint8_t)~VB_S_NEEDS_RESET) == want);
        CHECK(h->pushes == 0);
        if (rewind) {
            CHECK(h->reads > 0 || h->map_path); /* the map path: maybe only mapped loads */
            if (pk(h)) { /* back to the used position; the chain there may differ now */
                if (!h->broken && vb_get_counters(&h->dev)->updates == b0.cnt.updates)
                    CHECK(base_of(h, VB_QUEUE_STATS) == used_of(h, VB_QUEUE_STATS));
                else if (!h->broken)
                    CHECK(vb_get_counters(&h->dev)->updates - b0.cnt.updates == 1);
            } else
            /* one step back, then the pop: the same buffer again, or (guest memory that says
               the queue is empty) nothing, the step back stays, as QEMU's virtqueue_rewind */
            if (!h->broken && vb_get_counters(&h->dev)->updates == b0.cnt.updates)
                CHECK(base_of(h, VB_QUEUE_STATS) == (uint16_t)(b0.base[VB_QUEUE_STATS] - 1u));
            else if (!h->broken)
                CHECK(vb_get_counters(&h->dev)->updates - b0.cnt.updates == 1 &&
                      base_of(h, VB_QUEUE_STATS) == b0.base[VB_QUEUE_STATS]);
        }
    }
    check_after(h, &b0, 0);
}

static void ev_setup(harness *h, unsigned qi, uint16_t size, uint64_t desc, uint64_t avail, uint64_t used)
{
    before_t b0;
    vb_result want, got;
    int role = role_of(h, qi);
    take_before(h, &b0);
    if (role < 0) want = VB_ERR_ARG;
    else if (h->q[role].ready) want = VB_ERR_STATE;
    else if (pk(h)) /* any size; 4-byte event areas, the driver's 4-aligned; as split: size first */
        want = !size || size > h->qmax || desc > UINT64_MAX - 16u * (uint64_t)size || avail > UINT64_MAX - 4u ||
                       used > UINT64_MAX - 4u
                   ? VB_ERR_RANGE
               : (desc & 15u) || (avail & 3u) || (used & 3u) ? VB_ERR_ARG
                                                             : VB_OK;
    else if (!pow2(size) || size > h->qmax || !rings_fit(desc, avail, used, size)) want = VB_ERR_RANGE;
    else if ((desc & 15u) || (avail & 1u) || (used & 3u)) want = VB_ERR_ARG;
    else want = VB_OK;
    step_begin(h, -1, 0, 0);
    got = vb_queue_setup(&h->dev, qi, size, desc, avail, used);
    CHECK(got == want);
    if (got == VB_OK) {
        h->q[role].desc = desc;
        h->q[role].avail = avail;
        h->q[role].used = used;
        h->q[role].size = size;
    } else {
        CHECK(!memcmp(&b0.dev, &h->dev, sizeof h->dev));
    }
    check_after(h, &b0, 0);
}

static void ev_ready(harness *h, unsigned qi, int ready)
{
    before_t b0;
    vb_result got;
    int role = role_of(h, qi);
    take_before(h, &b0);
    step_begin(h, role, pk(h) ? A_READ | A_WRITE : A_READ, 2); /* packed: the device area */
    h->remapping = 1; /* a queue start maps its rings, even on a broken device (no access) */
    got = vb_queue_set_ready(&h->dev, qi, ready);
    h->remapping = 0;
    CHECK(got == (role >= 0 ? VB_OK : VB_ERR_ARG));
    if (role >= 0) {
        hq *q = &h->q[role];
        if (ready && !q->ready && !b0.broken && pk(h)) {
            /* packed: nothing in flight, nothing read; the device area says whether to kick */
            CHECK(h->reads == 0 && h->writes <= 2u);
            CHECK(used_of(h, (unsigned)role) == base_of(h, (unsigned)role));
        } else if (ready && !q->ready && !b0.broken) {
            /* the device resumes from the guest's used->idx: one read, then in flight must fit */
            CHECK(h->reads == 1 && h->last_read == q->used + 2u);
            if (h->last_read_ok) {
                uint16_t seen = ld16(ram + q->used + 2u, guest_be(h));
                q->used_idx = seen;
                CHECK(h->broken == ((uint16_t)(base_of(h, (unsigned)role) - seen) > q->size));
            } else {
                CHECK(h->broken);
            }
        } else {
            CHECK(h->reads == 0);
        }
        if (!ready && q->ready && role == VB_QUEUE_STATS && b0.broken) {
            /* broken: whether a buffer is still held is not modelled (a failed return may have
               dropped it); stopping un-pops it if so */
            CHECK(base_of(h, (unsigned)role) == b0.base[role] ||
                  (pk(h) ? base_of(h, (unsigned)role) == used_of(h, (unsigned)role)
                         : base_of(h, (unsigned)role) == (uint16_t)(b0.base[role] - 1u)));
            h->held = 0;
        } else if (!ready && q->ready && role == VB_QUEUE_STATS && h->held) {
            /* stopping the stats queue un-pops the held buffer: a restart re-reads it (packed:
               from the used position) */
            if (pk(h))
                CHECK(base_of(h, (unsigned)role) == used_of(h, (unsigned)role));
            else
                CHECK(vb_queue_base(&h->dev, qi) == (uint16_t)(b0.base[role] - 1u));
            h->held = 0;
        } else {
            CHECK(base_of(h, (unsigned)role) == b0.base[role]); /* (base_of checks vb_queue_base) */
        }
        q->ready = ready != 0;
    }
    check_after(h, &b0, 0);
}

static void ev_base(harness *h, unsigned qi, uint16_t base)
{
    before_t b0;
    vb_result got, want;
    take_before(h, &b0);
    int role = role_of(h, qi);
    want = role < 0 ? VB_ERR_ARG : h->q[role].ready ? VB_ERR_STATE
           : pk(h) && (base & 0x7fffu) >= h->q[role].size ? VB_ERR_RANGE /* an index inside the ring */
                                                          : VB_OK;
    step_begin(h, -1, 0, 0);
    got = vb_queue_set_base(&h->dev, qi, base);
    CHECK(got == want);
    if (got == VB_OK) CHECK(vb_queue_base(&h->dev, qi) == base);
    else CHECK(!memcmp(&b0.dev, &h->dev, sizeof h->dev));
    check_after(h, &b0, 0);
}

/* The hint state after notifications of the free page queue (several buffers): unchanged,
   REQUESTED -> START (the last id was the echo), START -> STOP (any id while START), or both. */
static void check_hint_step(harness *h, vb_hint_status before)
{
    const vb_hint_info *hi = vb_hint(&h->dev);
    CHECK(hi->cmd_id == h->cmd_id);
    if (hi->status != before) {
        CHECK((before == VB_HINT_REQUESTED && hi->status == VB_HINT_START && hi->guest_cmd_id == h->cmd_id) ||
              ((before == VB_HINT_START || before == VB_HINT_REQUESTED) && hi->status == VB_HINT_STOP));
        h->hint_status = hi->status;
    }
}

static void ev_notify(harness *h, unsigned qi)
{
    before_t b0;
    int role = role_of(h, qi);
    int live = role >= 0 && h->q[role].ready && !h->broken, more;
    uint64_t s = role >= 0 ? h->q[role].size : 0;
    vb_hint_status hint_before = h->hint_status;
    take_before(h, &b0);
    if (role == VB_QUEUE_STATS)
        step_begin(h, role, A_READ | A_WRITE | A_IRQ | A_TIMER, STATS_CHUNK);
    else
        step_begin(h, role, A_READ | A_WRITE | A_IRQ | A_PAGES, READ_MAX);
    if (!live) h->allow = 0;
    more = vb_queue_notify(&h->dev, qi);
    TRACE("    notify q%u (role %d) -> %d\n", qi, role, more);
    CHECK(more == vb_more_work(&h->dev) && (more == 0 || !h->broken));
    if (!live) {
        CHECK(!memcmp(&b0.dev, &h->dev, sizeof h->dev));
    } else if (role == VB_QUEUE_STATS) {
        uint16_t popped = pk(h) ? (uint16_t)(vb_get_counters(&h->dev)->updates - b0.cnt.updates)
                                : (uint16_t)(base_of(h, (unsigned)role) - b0.base[role]);
        /* one buffer per kick: 2 avail reads + 1 for the interrupt of a returned one, a chain of
           at most 1 + size descriptors, data in pieces of <= 160 bytes (packed: a flags probe
           instead of the avail reads; up to 6 writes: off_wrap, the returned one's kicks on and
           used element, kicks off) */
        CHECK(popped <= 1);
        CHECK(h->reads <= 3u + (1u + s) + (s + VB_STATS_MAX_BYTES / STATS_CHUNK + 1u));
        CHECK(h->writes <= (pk(h) ? 6u : 3u) && h->pushes <= 1u);
        if (!h->broken) {
            CHECK(vb_get_counters(&h->dev)->updates - b0.cnt.updates == popped);
            /* re-armed, buffer or not */
            if (vb_poll_interval_ms(&h->dev))
                CHECK(h->armed && h->deadline == h->now + vb_poll_interval_ms(&h->dev));
        }
    } else {
        /* packed: no count in the positions; every buffer popped goes back, so the pushes */
        uint16_t popped = pk(h) ? (uint16_t)h->pushes : (uint16_t)(base_of(h, (unsigned)role) - b0.base[role]);
        const vb_counters *c = vb_get_counters(&h->dev);
        /* a budget of about two queues' worth of descriptors: at most s chains, each read costs
           an avail entry and an interrupt check, descriptors <= 2s + 1, data reads <= those
           (a hint id: at most 4 more reads a chain, one per byte) */
        CHECK(popped <= s);
        CHECK(h->writes <= 3u * s);
        if (role <= VB_QUEUE_DEFLATE) {
            CHECK(h->reads <= 6u * s + 4u);
            CHECK(h->pages_calls <= s * VB_PFN_MAX_PER_BUFFER);
        } else {
            CHECK(h->reads <= 10u * s + 4u);
            CHECK(h->pages_calls <= (unsigned)popped * VB_RANGES_MAX_PER_BUFFER);
            if (role == VB_QUEUE_REPORTING) {
                CHECK(c->reports - b0.cnt.reports == (h->broken ? c->reports - b0.cnt.reports : popped));
                CHECK(c->hint_buffers == b0.cnt.hint_buffers);
            } else {
                CHECK(c->hint_buffers - b0.cnt.hint_buffers <= popped);
                CHECK(c->reports == b0.cnt.reports);
                check_hint_step(h, hint_before);
            }
        }
        if (!h->broken) CHECK(h->pushes == popped); /* every buffer popped goes back */
        CHECK(vb_next_deadline(&h->dev) == vb_next_deadline(&b0.dev));
    }
    check_after(h, &b0, 0);
}

static void ev_timer(harness *h, uint8_t m)
{
    before_t b0;
    int was_armed = h->armed, due, ask, first;
    uint64_t deadline = h->deadline;
    switch (m & 3u) {
    case 0:
        if (h->armed && h->deadline > h->now) h->now = h->deadline;
        break;
    case 1: break;
    case 2: h->now += 100u * (uint64_t)(m >> 2); break;
    default: h->now += 1000u * (uint64_t)(m >> 2); return;
    }
    if ((m & 3u) == 2 && !(h->armed && h->deadline <= h->now)) return; /* a host fires when due */
    take_before(h, &b0);
    due = was_armed && deadline <= h->now;
    /* a held buffer goes back only with STATS_VQ, the queue running and the device healthy */
    ask = h->q[VB_QUEUE_STATS].ready && h->held == 1 && !h->broken && (h->features & F(VB_F_STATS_VQ));
    step_begin(h, VB_QUEUE_STATS, A_READ | A_WRITE | A_IRQ | A_TIMER, STATS_CHUNK);
    if (!due) h->allow = A_TIMER;
    h->armed = 0; /* the one-shot timer went off */
    first = h->first_poll;
    vb_timer_expired(&h->dev);
    if (!due) { /* early or stale: nothing happens (early re-arms the same deadline) */
        h->first_poll = first && h->armed;
        CHECK(!memcmp(&b0.dev, &h->dev, sizeof h->dev));
        CHECK(h->armed == was_armed && (!was_armed || h->deadline == deadline));
    } else {
        uint32_t polls = vb_get_counters(&h->dev)->polls - b0.cnt.polls;
        const vb_telemetry *t = vb_get_telemetry(&h->dev);
        /* either way the timer ends the next interval; after a poll only to count it missed */
        CHECK(h->armed && h->deadline == h->now + vb_poll_interval_ms(&h->dev));
        if (!ask) {
            CHECK(h->pushes == 0 && polls == 0 && h->reads == 0 && h->writes == 0 && h->maps == 0);
            if (first) /* nothing to poll yet, but no interval has ended */
                CHECK(t->missed == b0.missed);
            else
                CHECK(t->missed == b0.missed + 1 || t->missed == UINT32_MAX); /* an interval missed */
        } else {
            /* the answer re-arms (packed: a buffer posted meanwhile, without a kick, is taken at
               once, and re-arms) */
            CHECK(polls == 1 && (vb_poll_deadline(&h->dev) == UINT64_MAX ||
                                 (pk(h) && (h->broken || vb_get_counters(&h->dev)->updates != b0.cnt.updates))));
            CHECK(h->pushes == 1 || h->broken);
            CHECK(t->missed == b0.missed);
        }
        CHECK(t->stale == (t->missed >= 3)); /* the default stale_after */
    }
    check_after(h, &b0, 0);
}

/* The config space as the harness predicts it: its size from the offered features (8, 12 with
   FREE_PAGE_HINT, 16 with PAGE_POISON), the command id as STOP 0, DONE 1, else the id. */
static uint32_t config_bytes(const harness *h, unsigned char cfg[16])
{
    uint64_t f = offered_features(h->options);
    st32(cfg, vb_target_pages(&h->dev), 0);
    st32(cfg + 4, vb_actual_pages(&h->dev), 0);
    st32(cfg + 8, h->hint_status == VB_HINT_STOP ? 0u : h->hint_status == VB_HINT_DONE ? 1u : h->cmd_id, 0);
    st32(cfg + 12, h->poison, 0);
    return (f & F(VB_F_PAGE_POISON)) ? 16u : (f & F(VB_F_FREE_PAGE_HINT)) ? 12u : 8u;
}

static void ev_cfg_read(harness *h, uint8_t o, uint8_t n)
{
    unsigned char buf[256], cfg[16];
    uint32_t off = cfg_offset(o), i, size = config_bytes(h, cfg);
    before_t b0;
    take_before(h, &b0);
    memset(buf, 0xa5, sizeof buf);
    step_begin(h, -1, 0, 0);
    CHECK(vb_config_size(&h->dev) == size);
    vb_config_read(&h->dev, off, buf, n);
    for (i = 0; i < n; i++) CHECK(buf[i] == ((uint64_t)off + i < size ? cfg[off + i] : 0));
    for (; i < sizeof buf; i++) CHECK(buf[i] == 0xa5);
    CHECK(!memcmp(&b0.dev, &h->dev, sizeof h->dev));
    check_after(h, &b0, 0);
}

static void ev_cfg_write(harness *h, uint8_t o, uint8_t n, const uint8_t *d)
{
    unsigned char buf[256], cfg[16];
    uint32_t off = cfg_offset(o), i, old = vb_actual_pages(&h->dev), want, size = config_bytes(h, cfg);
    before_t b0;
    take_before(h, &b0);
    memset(buf, 0, sizeof buf);
    memcpy(buf, d, 8);
    /* the driver writes actual (4-7) and poison_val (12-15) within the size; the rest is the
       device's */
    for (i = 0; i < n; i++)
        if ((uint64_t)off + i < size && (((uint64_t)off + i) / 4u == 1u || ((uint64_t)off + i) / 4u == 3u))
            cfg[off + i] = buf[i];
    want = ld32(cfg + 4, 0);
    step_begin(h, -1, A_ACTUAL, 0);
    vb_config_write(&h->dev, off, buf, n);
    /* poison_val is kept only while PAGE_POISON is negotiated (any write re-decides it) */
    h->poison = (h->features & F(VB_F_PAGE_POISON)) ? ld32(cfg + 12, 0) : 0;
    CHECK(vb_actual_pages(&h->dev) == want);
    CHECK(vb_target_pages(&h->dev) == ld32(cfg, 0));
    CHECK(h->actual_calls == (want != old ? 1u : 0u));
    if (h->actual_calls) CHECK(h->actual_seen == want);
    check_after(h, &b0, 0);
}

static void ev_interval(harness *h, uint8_t k, uint32_t v)
{
    static const char neg[] = "timer value must be greater than zero", big[] = "timer value is too big";
    before_t b0;
    int use_ms = (k & 7u) >= 5;
    int64_t sec = 0;
    uint64_t ms = 0, cur = vb_poll_interval_ms(&h->dev);
    vb_result got, want = VB_OK;
    vb_error err;
    switch (k & 7u) {
    case 0: sec = (int32_t)v; break;
    case 1: sec = (int64_t)v; break;
    case 2: sec = (int64_t)UINT32_MAX + 1 + (int64_t)v; break;
    case 3: sec = INT64_MIN + (int64_t)v; break;
    case 4: sec = INT64_MAX - (int64_t)v; break;
    case 5: ms = v; break;
    case 6: ms = (uint64_t)UINT32_MAX * 1000u - 1000u + v % 2001u; break;
    default: ms = UINT64_MAX - v; break;
    }
    if (!use_ms) {
        if (sec < 0 || sec > (int64_t)UINT32_MAX) want = VB_ERR_RANGE;
        else ms = (uint64_t)sec * 1000u;
    } else if (ms > (uint64_t)UINT32_MAX * 1000u) {
        want = VB_ERR_RANGE;
    }
    take_before(h, &b0);
    step_begin(h, -1, A_TIMER, 0);
    memset(&err, 0, sizeof err);
    got = use_ms ? vb_set_poll_interval_ms(&h->dev, ms) : vb_set_poll_interval(&h->dev, sec, &err);
    CHECK(got == want);
    if (got != VB_OK || ms == cur) { /* a failed set changes nothing; the same value neither */
        CHECK(!memcmp(&b0.dev, &h->dev, sizeof h->dev) && h->timer_calls == 0);
        if (got != VB_OK && !use_ms) {
            size_t n = vb_error_text(&err, jbuf, sizeof jbuf);
            CHECK(n == strlen(jbuf) && !strcmp(err.cls, "GenericError"));
            CHECK(!strcmp(jbuf, sec < 0 ? neg : big));
        }
    } else {
        CHECK(vb_poll_interval_ms(&h->dev) == ms);
        if (ms == 0) CHECK(!h->armed);
        else if (cur == 0) CHECK(h->armed && h->deadline == h->now); /* poll at once */
        else CHECK(h->armed && h->deadline == h->now + ms);
    }
    check_after(h, &b0, 0);
}

static void ev_prop(harness *h, uint8_t p)
{
    static const char *const names[5] = {"guest-stats", "guest-stats-polling-interval",
                                         "stats-polling-interval", "type", "nope"};
    const char *name = names[p % 5u];
    unsigned flags = (p & 8u) ? VB_JSON_PRETTY : 0;
    size_t cap = (p & 16u) ? 7u : sizeof jbuf, n = 12345, full;
    vb_error err;
    vb_result got;
    before_t b0;
    int doc = h->doc;
    take_before(h, &b0);
    step_begin(h, -1, 0, 0);
    memset(&err, 0, sizeof err);
    got = vb_prop_get(&h->dev, name, strlen(name), jbuf, cap, &n, flags, &err);
    CHECK(!memcmp(&b0.dev, &h->dev, sizeof h->dev));
    switch (p % 5u) {
    case 0:
        if (doc && !h->has_stats) {
            CHECK(got == VB_ERR_NO_DATA);
            vb_error_text(&err, jbuf2, sizeof jbuf2);
            CHECK(!strcmp(jbuf2, "guest hasn't updated any stats yet"));
            break;
        }
        CHECK(got == VB_OK);
        full = vb_render_guest_stats(&h->dev, jbuf2, sizeof jbuf2, flags);
        CHECK(n == full);
        if (cap > n) {
            check_json(jbuf, strlen(jbuf), n);
            CHECK(!strcmp(jbuf, jbuf2));
        } else {
            CHECK(strlen(jbuf) == cap - 1 && !memcmp(jbuf, jbuf2, cap - 1));
        }
        break;
    case 2: /* the document's alias of case 1 */
        if (!doc) {
            CHECK(got == VB_ERR_NOT_FOUND);
            break;
        }
        /* fall through */
    case 1:
        CHECK(got == VB_OK);
        snprintf(jbuf2, sizeof jbuf2, "%lld", (long long)vb_poll_interval(&h->dev));
        CHECK(n == strlen(jbuf2));
        if (cap > n) CHECK(!strcmp(jbuf, jbuf2));
        break;
    case 3:
        CHECK(got == VB_OK && n == strlen("\"virtio-balloon-pci\""));
        if (cap > n) CHECK(!strcmp(jbuf, "\"virtio-balloon-pci\""));
        break;
    default:
        CHECK(got == VB_ERR_NOT_FOUND);
        vb_error_text(&err, jbuf2, sizeof jbuf2);
        CHECK(!strcmp(jbuf2, "Property 'virtio-balloon-pci.nope' not found"));
        break;
    }
    check_after(h, &b0, 0);
}

static void ev_qmp(harness *h, uint8_t c, uint32_t a)
{
    static const char *const path[2] = {"/machine/peripheral/balloon0", "/machine/peripheral-anon/device[1]"};
    char cmd[512], id[64];
    size_t n, small = a & 31u;
    vb_qmp s0;
    before_t b0;
    const char *p = path[a & 1u];
    uint64_t target_before = vb_target_pages(&h->dev);
    id[0] = 0;
    if (c & 32u) snprintf(id, sizeof id, ", \"id\": %lu", (unsigned long)a);
    switch (c & 15u) {
    case 0: snprintf(cmd, sizeof cmd, "{\"execute\": \"qom-get\", \"arguments\": {\"path\": \"%s\", \"property\": \"guest-stats\"}%s}", p, id); break;
    case 1: snprintf(cmd, sizeof cmd, "{\"execute\": \"qom-get\", \"arguments\": {\"path\": \"%s\", \"property\": \"guest-stats-polling-interval\"}%s}", p, id); break;
    case 2: snprintf(cmd, sizeof cmd, "{'execute': 'qom-get', 'arguments': {'path': '%s', 'property': 'stats-polling-interval'}%s}", p, id); break;
    case 3: snprintf(cmd, sizeof cmd, "{\"execute\": \"qom-set\", \"arguments\": {\"path\": \"%s\", \"property\": \"guest-stats-polling-interval\", \"value\": %ld}%s}", p, (long)(int32_t)a >> 8, id); break;
    case 4: snprintf(cmd, sizeof cmd, "{\"execute\": \"qom-set\", \"arguments\": {\"path\": \"%s\", \"property\": \"stats-polling-interval\", \"value\": %lu}%s}", p, (unsigned long)(a >> 16), id); break;
    case 5: snprintf(cmd, sizeof cmd, "{\"execute\": \"qom-set\", \"arguments\": {\"path\": \"%s\", \"property\": \"guest-stats-polling-interval\", \"value\": \"2\"}%s}", p, id); break;
    case 6: snprintf(cmd, sizeof cmd, "{\"execute\": \"qom-set\", \"arguments\": {\"path\": \"%s\", \"property\": \"guest-stats\", \"value\": 1}%s}", p, id); break;
    case 7: snprintf(cmd, sizeof cmd, "{\"execute\": \"query-balloon\"%s}", id); break;
    case 8: snprintf(cmd, sizeof cmd, "{\"execute\": \"balloon\", \"arguments\": {\"value\": %llu}%s}", (unsigned long long)a * 4096u, id); break;
    case 9: snprintf(cmd, sizeof cmd, "{\"execute\": \"balloon\", \"arguments\": {\"value\": %lld}%s}", (a & 2u) ? -1LL : 9223372036854775807LL, id); break;
    case 10: snprintf(cmd, sizeof cmd, "{\"execute\": \"qom-list\", \"arguments\": {\"path\": \"%s\"}%s}", p, id); break;
    case 11: snprintf(cmd, sizeof cmd, "{\"execute\": \"qmp_capabilities\"%s}", id); break;
    case 12: snprintf(cmd, sizeof cmd, "{\"execute\": \"qom-get\", \"arguments\": {\"path\": \"/machine/peripheral/balloon%lu\", \"property\": \"type\"}%s}", (unsigned long)(a & 3u), id); break;
    case 13: snprintf(cmd, sizeof cmd, "{\"execute\": \"qom-get\", \"arguments\": {\"path\": \"%s\", \"property\": \"stat-\\u00e9%lu\"}%s}", p, (unsigned long)a, id); break;
    case 14: snprintf(cmd, sizeof cmd, "{\"execute\": \"qom-set\", \"arguments\": {\"path\": \"%s\", \"property\": \"guest-stats-polling-interval\", \"value\": 4294967296}%s}", p, id); break;
    default: snprintf(cmd, sizeof cmd, "{\"execute\": \"x-%lu\"%s}", (unsigned long)a, id); break;
    }
    h->qmp.flags = (c & 16u) ? VB_QMP_PRETTY : 0;
    h->qmp.negotiated = !(c & 64u);

    /* a reply that does not fit: nothing is executed; then again with room */
    take_before(h, &b0);
    memcpy(&s0, &h->qmp, sizeof s0);
    step_begin(h, -1, A_TIMER | A_CFG, 0);
    n = vb_qmp_execute(&h->qmp, cmd, strlen(cmd), jbuf, small);
    CHECK(n > 0);
    if (n >= small) {
        CHECK(!memcmp(&b0.dev, &h->dev, sizeof h->dev) && !memcmp(&s0, &h->qmp, sizeof s0));
        CHECK(h->timer_calls == 0 && h->cfg_irqs == 0);
        if (small) CHECK(strlen(jbuf) == small - 1);
        n = vb_qmp_execute(&h->qmp, cmd, strlen(cmd), jbuf, sizeof jbuf);
        CHECK(n < sizeof jbuf);
    }
    check_json(jbuf, strlen(jbuf), n);
    if (strstr(jbuf, "\"error\"") && !strstr(jbuf, "\"return\"")) {
        CHECK(!memcmp(&b0.dev, &h->dev, sizeof h->dev));
        CHECK(h->timer_calls == 0 && h->cfg_irqs == 0);
    } else if ((c & 15u) == 0 && !(c & 16u) && !(c & 32u)) {
        /* qom-get guest-stats: the rendering, inside {"return": ...} */
        size_t m = vb_render_guest_stats(&h->dev, jbuf2, sizeof jbuf2, 0);
        CHECK(n == m + 12 && !memcmp(jbuf, "{\"return\": ", 11) && !memcmp(jbuf + 11, jbuf2, m));
    } else if ((c & 15u) == 3) {
        CHECK(vb_poll_interval(&h->dev) == (int64_t)((int32_t)a >> 8));
    } else if ((c & 15u) == 8) {
        CHECK(h->cfg_irqs == ((vb_status(&h->dev) & VB_S_DRIVER_OK) ? 1u : 0u));
    }
    if ((c & 15u) != 8 && (c & 15u) != 9) CHECK(vb_target_pages(&h->dev) == target_before);
    check_after(h, &b0, 0);
}

static void ev_reset(harness *h)
{
    before_t b0;
    take_before(h, &b0);
    step_begin(h, -1, 0, 0);
    model_reset(h);
    vb_reset(&h->dev);
    CHECK(vb_status(&h->dev) == 0 && vb_driver_features(&h->dev) == 0);
    CHECK(vb_next_deadline(&h->dev) == vb_next_deadline(&b0.dev));
    CHECK(vb_poll_interval_ms(&h->dev) == vb_poll_interval_ms(&b0.dev));
    check_after(h, &b0, 0);
}

static void ev_machine_reset(harness *h, int wakeup)
{
    before_t b0;
    uint32_t actual = vb_actual_pages(&h->dev);
    take_before(h, &b0);
    step_begin(h, -1, A_ACTUAL, 0);
    if (!wakeup) model_reset(h);
    vb_machine_reset(&h->dev, wakeup);
    CHECK(h->actual_calls == (!wakeup && actual ? 1u : 0u)); /* BALLOON_CHANGE to 0 */
    if (h->actual_calls) CHECK(h->actual_seen == 0);
    if (wakeup) {
        CHECK(!memcmp(&b0.dev, &h->dev, sizeof h->dev));
    } else {
        unsigned i;
        h->has_stats = 0;
        CHECK(vb_status(&h->dev) == 0 && vb_driver_features(&h->dev) == 0);
        CHECK(vb_last_update(&h->dev) == 0 && vb_actual_pages(&h->dev) == 0);
        CHECK(vb_target_pages(&h->dev) == vb_target_pages(&b0.dev));
        for (i = 0; i < VB_STAT_COUNT; i++) CHECK(!vb_stat(&h->dev, i, NULL));
        CHECK(vb_next_deadline(&h->dev) == vb_next_deadline(&b0.dev));
    }
    check_after(h, &b0, !wakeup);
}

/* Load `blob` into the device; `want` is the harness's own verdict. */
static void snap_load(harness *h, const unsigned char *blob)
{
    unsigned char again[VB_SNAPSHOT_SIZE];
    int want = snap_valid(h, blob);
    before_t b0;
    vb_result got;
    unsigned i;
    take_before(h, &b0);
    step_begin(h, VB_QUEUE_STATS, A_READ | A_WRITE | A_TIMER, STATS_CHUNK);
    if (want) { /* the model takes the blob's state first: the rewind runs inside the load */
        h->features = ld64le(blob + 8);
        h->status = blob[16];
        h->broken = blob[17] & 1;
        h->held = 0;
        h->bad_features = (blob[17] & 2) != 0;
        h->elem_pending = 0;
        h->hint_status = (vb_hint_status)blob[18];
        h->poison = ld32(blob + 28, 0);
        h->cmd_id = ld32(blob + 32, 0);
        for (i = 0; i < VB_QUEUE_MAX; i++) {
            const unsigned char *s = blob + 36 + 36 * i;
            h->q[i].desc = ld64le(s);
            h->q[i].avail = ld64le(s + 8);
            h->q[i].used = ld64le(s + 16);
            h->q[i].size = ld16(s + 24, 0);
            h->q[i].used_idx = ld16(s + 28, 0);
            h->q[i].ready = s[30];
        }
    } else {
        h->allow = 0;
    }
    h->remapping = 1; /* a load maps the rings of ready queues (vb_memory_changed), broken or not */
    got = vb_snapshot_load(&h->dev, blob, VB_SNAPSHOT_SIZE);
    h->remapping = 0;
    CHECK(got == (want ? VB_OK : VB_ERR_FORMAT));
    if (!want) {
        CHECK(!memcmp(&b0.dev, &h->dev, sizeof h->dev));
    } else {
        CHECK(h->pushes == 0);
        CHECK(vb_status(&h->dev) == (uint8_t)(blob[16] | ((h->broken && (h->features & F(VB_F_VERSION_1))) ? VB_S_NEEDS_RESET : 0)));
        CHECK(vb_target_pages(&h->dev) == ld32(blob + 20, 0) && vb_actual_pages(&h->dev) == ld32(blob + 24, 0));
        if (vb_poll_interval_ms(&h->dev)) CHECK(h->armed); /* post-load re-arm */
        if (!h->broken || (blob[17] & 1)) { /* unless the rewind broke it, it saves back the same */
            const unsigned la = 36 + 36 * VB_QUEUE_STATS + 26;
            CHECK(vb_snapshot_save(&h->dev, again, sizeof again) == VB_SNAPSHOT_SIZE);
            /* ... except that a rewind which found the stats queue empty (guest memory that
               contradicts the blob) leaves the buffer un-popped, as QEMU's virtqueue_rewind */
            if (pk(h) && ld16(blob + la, 0) != ld16(blob + la + 2, 0) && (blob[16] & VB_S_DRIVER_OK) &&
                blob[36 + 36 * VB_QUEUE_STATS + 30] && !(blob[17] & 1)) {
                /* packed: the rewind re-reads the chain at the used position, which ends where the
                   guest's ring says (the blob's next position is the source's) */
                const unsigned char *sq = again + 36 + 36 * VB_QUEUE_STATS;
                CHECK(packed_between(ld16(sq + 28, 0), ld16(sq + 26, 0), ld16(sq + 24, 0)) <= ld16(sq + 24, 0));
                st16(again + la, ld16(blob + la, 0), 0);
                st32(again + SNAP_SUM, fnv1a(again, SNAP_SUM), 0);
            } else if (!pk(h) && ld16(again + la, 0) == (uint16_t)(ld16(blob + la, 0) - 1u) &&
                       vb_get_counters(&h->dev)->updates == b0.cnt.updates) {
                st16(again + la, ld16(blob + la, 0), 0);
                st32(again + SNAP_SUM, fnv1a(again, SNAP_SUM), 0);
            }
#ifdef FUZZ_TRACE
            for (i = 0; i < VB_SNAPSHOT_SIZE; i++)
                if (again[i] != blob[i]) TRACE("    resave differs at %u: %02x -> %02x\n", i, blob[i], again[i]);
#endif
            CHECK(!memcmp(again, blob, VB_SNAPSHOT_SIZE));
        }
    }
    check_after(h, &b0, 0);
}

static void ev_snapshot(harness *h, reader *r, int mutate)
{
    unsigned char blob[VB_SNAPSHOT_SIZE];
    CHECK(vb_snapshot_save(&h->dev, NULL, 0) == VB_SNAPSHOT_SIZE);
    CHECK(vb_snapshot_save(&h->dev, blob, VB_SNAPSHOT_SIZE - 1) == VB_SNAPSHOT_SIZE);
    CHECK(vb_snapshot_save(&h->dev, blob, sizeof blob) == VB_SNAPSHOT_SIZE);
    CHECK(ld32(blob + SNAP_SUM, 0) == fnv1a(blob, SNAP_SUM));
    if (mutate) {
        uint8_t b;
        unsigned k, n;
        int fix;
        if (!have(r, 1)) return;
        b = u8(r);
        n = b & 7u;
        fix = (b & 8u) != 0;
        if (!have(r, 2u * n)) return;
        for (k = 0; k < n; k++) {
            uint8_t pos = u8(r), x = u8(r);
            blob[pos % VB_SNAPSHOT_SIZE] ^= x;
        }
        if (fix) st32(blob + SNAP_SUM, fnv1a(blob, SNAP_SUM), 0);
    } else {
        /* a state the device is in always loads (a stopped queue or a broken device may hold any
           gap; a running queue of a healthy device never more than its size), and the flags
           say what the model knows */
        CHECK(snap_valid(h, blob));
        CHECK((blob[17] & 1) == h->broken && !!(blob[17] & 2) == h->bad_features);
    }
    snap_load(h, blob);
}

static void ev_write(harness *h, uint16_t a, const uint8_t *d, size_t n)
{
    (void)h;
    if (n > RAM - a) n = RAM - a;
    memcpy(ram + a, d, n);
}

static void ev_target(harness *h, uint32_t t)
{
    before_t b0;
    uint8_t gen = vb_config_generation(&h->dev);
    take_before(h, &b0);
    step_begin(h, -1, A_CFG, 0);
    vb_set_target_pages(&h->dev, t);
    CHECK(vb_target_pages(&h->dev) == t);
    CHECK(vb_config_generation(&h->dev) == (uint8_t)(gen + 1u));
    CHECK(h->cfg_irqs == ((vb_status(&h->dev) & VB_S_DRIVER_OK) ? 1u : 0u));
    check_after(h, &b0, 0);
}

static void ev_desc(harness *h, unsigned qi, uint8_t i, uint16_t addr, uint16_t len, uint8_t flags, uint8_t next)
{
    const hq *q = &h->q[qi % VB_QUEUE_MAX];
    uint64_t at = q->desc + 16u * (uint64_t)(i & (q->size - 1u));
    int be = guest_be(h);
    if (q->desc > RAM || at > RAM - 16u) return;
    if (pk(h)) { /* a packed descriptor: id x8, flags with the lap bits from f8 bits 7 and 6 */
        at = q->desc + 16u * (uint64_t)(i % q->size);
        if (at > RAM - 16u) return;
        st64(ram + at, addr, 0);
        st32(ram + at + 8, len, 0);
        st16(ram + at + 12, next, 0);
        st16(ram + at + 14, (uint16_t)((flags & 0x3fu) | ((flags & 0x80u) ? 0x80u : 0u) | ((flags & 0x40u) ? 0x8000u : 0u)), 0);
        return;
    }
    st64(ram + at, addr, be);
    st32(ram + at + 8, len, be);
    st16(ram + at + 12, flags, be);
    st16(ram + at + 14, next, be);
}

static void ev_publish(harness *h, uint8_t c, uint8_t head)
{
    const hq *q = &h->q[(c & 0x80u) ? 3u + (c & 1u) : (c & 3u) % 3u];
    unsigned k, count = ((c >> 2) & 31u) + 1u;
    int be = guest_be(h);
    uint16_t idx;
    if (pk(h)) { /* slots made available for the lap of c bit 6 */
        uint16_t bits = (c & 0x40u) ? 0x0080u : 0x8000u;
        for (k = 0; k < count; k++) {
            uint64_t at = q->desc + 16u * (uint64_t)((head + k) % q->size) + 14u;
            if (q->desc > RAM || at > RAM - 2u) return;
            st16(ram + at, (uint16_t)((ld16(ram + at, 0) & 0x7f7fu) | bits), 0);
        }
        return;
    }
    if (q->avail > RAM || 4u + 2u * (uint64_t)q->size > RAM - q->avail) return;
    idx = ld16(ram + q->avail + 2u, be);
    for (k = 0; k < count; k++, idx++)
        st16(ram + q->avail + 4u + 2u * (uint64_t)(idx & (q->size - 1u)), (uint16_t)(head + k), be);
    st16(ram + q->avail + 2u, idx, be);
}

/* Where a ring part of a queue is, as the harness last set the queue up. */
static void ring_part(const harness *h, const hq *q, unsigned f, uint64_t *at, uint64_t *len)
{
    const uint64_t n = q->size;
    if (pk(h)) { /* the driver area, the device area, the descriptor ring */
        *at = f < 4 ? q->avail : f < 8 ? q->used : q->desc;
        *len = f < 8 ? 4u : 16u * n;
        return;
    }
    switch (f) {
    case 0: *at = q->avail; *len = 2; break;
    case 1: *at = q->avail + 2u; *len = 2; break;
    case 2: *at = q->avail + 4u; *len = 2u * n; break;
    case 3: *at = q->avail + 4u + 2u * n; *len = 2; break;
    case 4: *at = q->used; *len = 2; break;
    case 5: *at = q->used + 2u; *len = 2; break;
    case 6: *at = q->used + 4u; *len = 8u * n; break;
    case 7: *at = q->used + 4u + 8u * n; *len = 2; break;
    default: *at = q->desc; *len = 16u * n; break;
    }
}

static void ev_deny_ring(harness *h, uint8_t q, uint8_t f)
{
    uint64_t at, len;
    ring_part(h, &h->q[q % VB_QUEUE_MAX], f % 9u, &at, &len);
    h->deny_lo = at;
    h->deny_hi = at > UINT64_MAX - len ? UINT64_MAX : at + len;
    memory_changed(h);
}

static void ev_ring_set(harness *h, uint8_t q, uint8_t f, uint16_t v)
{
    static const unsigned char part[6] = {0, 1, 3, 4, 5, 7};
    uint64_t at, len;
    if (pk(h)) { /* off_wrap or flags of the driver area or the device area */
        const hq *pq = &h->q[q % VB_QUEUE_MAX];
        at = ((f & 2u) ? pq->used : pq->avail) + ((f & 1u) ? 2u : 0u);
        if (at <= RAM - 2u) st16(ram + at, v, 0);
        return;
    }
    ring_part(h, &h->q[q % VB_QUEUE_MAX], part[f % 6u], &at, &len);
    if (at <= RAM - 2u) st16(ram + at, v, guest_be(h));
}

/* The host's free page hinting: start, stop or done, as the harness predicts them. */
static void ev_hint(harness *h, uint8_t a)
{
    before_t b0;
    uint8_t gen = vb_config_generation(&h->dev);
    int driver_ok = (vb_status(&h->dev) & VB_S_DRIVER_OK) != 0, shown = 0;
    take_before(h, &b0);
    step_begin(h, -1, A_CFG, 0);
    switch (a % 3u) {
    case 0: {
        vb_result want = (h->features & F(VB_F_FREE_PAGE_HINT)) && !h->broken ? VB_OK : VB_ERR_STATE;
        CHECK(vb_hint_start(&h->dev) == want);
        if (want == VB_OK) {
            h->cmd_id = h->cmd_id == UINT32_MAX ? 0x80000000u : h->cmd_id + 1u;
            h->hint_status = VB_HINT_REQUESTED;
            shown = 1;
            CHECK(vb_hint(&h->dev)->ranges == 0 && vb_hint(&h->dev)->bytes == 0);
        } else {
            CHECK(!memcmp(&b0.dev, &h->dev, sizeof h->dev));
        }
        break;
    }
    case 1:
        shown = h->hint_status != VB_HINT_STOP;
        vb_hint_stop(&h->dev);
        h->hint_status = VB_HINT_STOP;
        break;
    default:
        shown = h->hint_status != VB_HINT_DONE;
        vb_hint_done(&h->dev);
        h->hint_status = VB_HINT_DONE;
        break;
    }
    /* a change the driver can see: a new generation and, after DRIVER_OK, a config interrupt */
    CHECK(vb_config_generation(&h->dev) == (uint8_t)(gen + (shown ? 1u : 0u)));
    CHECK(h->cfg_irqs == (shown && driver_ok ? 1u : 0u));
    if (!shown) CHECK(!memcmp(&b0.dev, &h->dev, sizeof h->dev));
    check_after(h, &b0, 0);
}

/* The guest echoes the command id it reads in the config space (its byte order in RAM). */
static void ev_echo(harness *h, uint16_t a)
{
    unsigned char b[4];
    vb_config_read(&h->dev, 8, b, 4);
    if (a <= RAM - 4u) st32(ram + a, ld32(b, 0), guest_be(h));
}

/* vb_do_work: one more budget for every page queue with left-over work. */
static void ev_do_work(harness *h)
{
    before_t b0;
    vb_hint_status hint_before = h->hint_status;
    unsigned char blob[VB_SNAPSHOT_SIZE];
    unsigned r;
    int more;
    take_before(h, &b0);
    step_begin(h, ACTIVE_WORK, A_READ | A_WRITE | A_IRQ | A_PAGES, READ_MAX);
    if (!vb_more_work(&h->dev)) h->allow = 0;
    more = vb_do_work(&h->dev);
    CHECK(more == vb_more_work(&h->dev) && (more == 0 || !h->broken));
    if (!h->allow) CHECK(!memcmp(&b0.dev, &h->dev, sizeof h->dev));
    /* at most one budget for each of the four page queues */
    CHECK(h->reads <= 4u * (10u * h->qmax + 4u) && h->writes <= 4u * 3u * h->qmax);
    check_hint_step(h, hint_before);
    CHECK(vb_next_deadline(&h->dev) == vb_next_deadline(&b0.dev));
    /* the used indices the device wrote, for the next steps */
    CHECK(vb_snapshot_save(&h->dev, blob, sizeof blob) == VB_SNAPSHOT_SIZE);
    for (r = 0; r < VB_QUEUE_MAX; r++)
        if (r != VB_QUEUE_STATS && !h->broken) h->q[r].used_idx = ld16(blob + 36 + 36 * r + 28, 0);
    check_after(h, &b0, 0);
}

/* FUZZ_DEVICE_PACKED set: every input reads an options byte with the packed layout on (a
   campaign of the packed ring alone). */
static int packed_only(void)
{
    static int only = -1;
    if (only < 0) only = getenv("FUZZ_DEVICE_PACKED") != NULL;
    return only;
}

/* One input's events; 1 if the device was initialized (then h->dev is the device after them). */
static int run_input(const uint8_t *data, size_t size)
{
    static const unsigned keys[4] = {16, 10, 7, 6};
    harness *h = &H;
    vb_config cfg;
    reader r;
    size_t image, head;
    unsigned events = 0, notifies = 0;
    before_t b0;

    if (size < 4) return 0;
    memset(h, 0, sizeof *h);
    memset(ram, 0, sizeof ram);
    memset(&cfg, 0, sizeof cfg);
    cfg.profile = (data[0] & 1u) ? VB_PROFILE_QEMU : VB_PROFILE_DOC;
    cfg.stat_keys = keys[(data[0] >> 1) & 3u];
    cfg.options = ((data[0] & 0x08u) ? VB_OPT_GUEST_BIG_ENDIAN : 0u) |
                  ((data[0] & 0x10u) ? VB_OPT_NO_EVENT_IDX : 0u) | ((data[0] & 0x20u) ? VB_OPT_NO_INDIRECT : 0u) |
                  ((data[0] & 0x40u) ? VB_OPT_MUST_TELL_HOST : 0u) | ((data[0] & 0x80u) ? VB_OPT_DEFLATE_ON_OOM : 0u);
    cfg.queue_size = 2u << (data[1] & 7u);
    cfg.poll_interval_s = (uint32_t)(data[1] >> 3);
    cfg.ram_size = (uint64_t)1 << 30;
    image = (size_t)data[2] | (size_t)data[3] << 8 | (packed_only() ? 0x8000u : 0u);
    head = 4;
    if (image & 0x8000u) { /* the issue-9 options byte */
        uint8_t x;
        if (size < 5) return 0;
        x = (uint8_t)(data[4] | (packed_only() ? 0x20u : 0u));
        head = 5;
        cfg.options |= ((x & 1u) ? VB_OPT_FREE_PAGE_HINT : 0u) | ((x & 2u) ? VB_OPT_PAGE_POISON : 0u) |
                       ((x & 4u) ? VB_OPT_REPORTING : 0u) |
                       (((x >> 3) & 3u) == 1 ? VB_OPT_QUEUES_OFFERED : ((x >> 3) & 3u) == 2 ? VB_OPT_QUEUES_FIXED : 0u) |
                       ((x & 0x20u) ? VB_OPT_RING_PACKED : 0u);
        h->packed_guest = (x & 0x20u) != 0;
        if ((cfg.options & VB_OPT_REPORTING) && cfg.queue_size < VB_REPORTING_QUEUE_MIN) {
            CHECK(vb_init(&h->dev, &cfg, (image & 0x4000u) ? &map_host : &host, h) == VB_ERR_ARG); /* Linux's reporting capacity */
            cfg.options &= ~(unsigned)VB_OPT_REPORTING;
        }
    }
    h->map_path = (image & 0x4000u) != 0;
    image &= 0x3fffu;
    h->options = cfg.options;
    h->doc = cfg.profile == VB_PROFILE_DOC;
    h->keys = cfg.stat_keys;
    h->qmax = (uint16_t)cfg.queue_size;
    h->now = 0;
    h->wall = 1358529861;
    h->deny_lo = h->deny_hi = 0;
    h->cmd_id = 0x80000000u; /* the first id issued is one more */
    h->hint_status = VB_HINT_STOP;
    model_queues_reset(h);
    memset(&b0, 0, sizeof b0);
    step_begin(h, -1, A_TIMER, 0);
    CHECK(vb_init(&h->dev, &cfg, h->map_path ? &map_host : &host, h) == VB_OK);
    h->first_poll = vb_poll_interval_ms(&h->dev) != 0; /* polling turned on at creation */
    CHECK(h->armed == (cfg.poll_interval_s != 0));
    if (h->armed) CHECK(h->deadline == 0);
    vb_qmp_init(&h->qmp, &h->dev, 0);
    h->qmp.negotiated = 1;
    take_before(h, &b0);
    check_after(h, &b0, 0);

    if (image > IMAGE_MAX) image = IMAGE_MAX;
    if (image > size - head) image = size - head;
    memcpy(ram, data + head, image);
    r.p = data + head + image;
    r.n = size - head - image;

    while (r.n && events++ < MAX_EVENTS) {
        uint8_t op = (uint8_t)(u8(&r) % 27u);
        h->wall++;
        TRACE("event %u: op %u (broken %d, held %d, updates %u, polls %u, used %u/%u/%u, now %llu)\n",
              events, op, h->broken, h->held, vb_get_counters(&h->dev)->updates,
              vb_get_counters(&h->dev)->polls, h->q[0].used_idx, h->q[1].used_idx, h->q[2].used_idx,
              (unsigned long long)h->now);
        switch (op) {
        case 0:
            if (!have(&r, 1)) return 1;
            ev_features(h, features_of(u8(&r)));
            break;
        case 1:
            if (!have(&r, 1)) return 1;
            ev_status(h, u8(&r));
            break;
        case 2: {
            unsigned qi;
            uint16_t qs;
            uint64_t d, a, u;
            if (!have(&r, 15)) return 1;
            qi = u8(&r);
            qs = u16(&r);
            d = addr_of(u32(&r));
            a = addr_of(u32(&r));
            u = addr_of(u32(&r));
            ev_setup(h, qi, qs, d, a, u);
            break;
        }
        case 3: {
            uint8_t b;
            if (!have(&r, 1)) return 1;
            b = u8(&r);
            ev_ready(h, queue_of((uint8_t)(b & 0xc3u)), (b >> 2) & 1);
            break;
        }
        case 4: {
            uint8_t q;
            if (!have(&r, 3)) return 1;
            q = u8(&r);
            ev_base(h, queue_of(q), u16(&r));
            break;
        }
        case 5:
            if (!have(&r, 1)) return 1;
            if (notifies++ >= MAX_NOTIFY) {
                u8(&r);
                break;
            }
            ev_notify(h, queue_of(u8(&r)));
            break;
        case 6:
            if (!have(&r, 1)) return 1;
            ev_timer(h, u8(&r));
            break;
        case 7: {
            uint8_t o;
            if (!have(&r, 2)) return 1;
            o = u8(&r);
            ev_cfg_read(h, o, u8(&r));
            break;
        }
        case 8: {
            uint8_t o, n;
            if (!have(&r, 10)) return 1;
            o = u8(&r);
            n = u8(&r);
            ev_cfg_write(h, o, n, r.p);
            r.p += 8;
            r.n -= 8;
            break;
        }
        case 9: {
            uint8_t k;
            if (!have(&r, 5)) return 1;
            k = u8(&r);
            ev_interval(h, k, u32(&r));
            break;
        }
        case 10:
            if (!have(&r, 1)) return 1;
            ev_prop(h, u8(&r));
            break;
        case 11: {
            uint8_t c;
            if (!have(&r, 5)) return 1;
            c = u8(&r);
            ev_qmp(h, c, u32(&r));
            break;
        }
        case 12: ev_reset(h); break;
        case 13:
            if (!have(&r, 1)) return 1;
            ev_machine_reset(h, u8(&r) & 1);
            break;
        case 14: ev_snapshot(h, &r, 0); break;
        case 15: ev_snapshot(h, &r, 1); break;
        case 16: {
            uint16_t a;
            uint8_t n;
            if (!have(&r, 3)) return 1;
            a = u16(&r);
            n = u8(&r);
            if (!have(&r, n)) return 1;
            ev_write(h, a, r.p, n);
            r.p += n;
            r.n -= n;
            break;
        }
        case 17:
            if (!have(&r, 4)) return 1;
            ev_target(h, u32(&r));
            break;
        case 18: {
            uint16_t lo, n;
            if (!have(&r, 4)) return 1;
            lo = u16(&r);
            n = u16(&r);
            h->deny_lo = lo;
            h->deny_hi = (uint64_t)lo + n;
            memory_changed(h);
            break;
        }
        case 19: {
            uint8_t q, i, f, x;
            uint16_t a, n;
            if (!have(&r, 8)) return 1;
            q = u8(&r);
            i = u8(&r);
            a = u16(&r);
            n = u16(&r);
            f = u8(&r);
            x = u8(&r);
            ev_desc(h, q, i, a, n, f, x);
            break;
        }
        case 20: {
            uint8_t c;
            if (!have(&r, 2)) return 1;
            c = u8(&r);
            ev_publish(h, c, u8(&r));
            break;
        }
        case 21: {
            uint8_t q;
            if (!have(&r, 2)) return 1;
            q = u8(&r);
            ev_deny_ring(h, q, u8(&r));
            break;
        }
        case 22: {
            uint8_t q, f;
            if (!have(&r, 4)) return 1;
            q = u8(&r);
            f = u8(&r);
            ev_ring_set(h, q, f, u16(&r));
            break;
        }
        case 23: {
            static const unsigned bits[8] = {VB_F_STATS_VQ, VB_F_FREE_PAGE_HINT, VB_F_PAGE_POISON, VB_F_REPORTING,
                                             VB_F_RING_INDIRECT_DESC, VB_F_RING_EVENT_IDX, VB_F_VERSION_1,
                                             VB_F_DEFLATE_ON_OOM};
            uint64_t f = 0;
            uint8_t b;
            unsigned i;
            if (!have(&r, 1)) return 1;
            b = u8(&r);
            for (i = 0; i < 8; i++)
                if (b & (1u << i)) f |= F(bits[i]);
            ev_features(h, f);
            break;
        }
        case 24:
            if (!have(&r, 1)) return 1;
            ev_hint(h, u8(&r));
            break;
        case 25:
            if (!have(&r, 2)) return 1;
            ev_echo(h, u16(&r));
            break;
        default:
            if (notifies++ >= MAX_NOTIFY) break; /* vb_do_work counts as a notification */
            ev_do_work(h);
            break;
        }
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mf_target t[2];
    if (!run_input(data, size)) return 0;
    /* the metrics of the device after the events (and an idle one), labels from the input's tail */
    t[0].dev = &H.dev;
    t[0].keys = H.keys;
    t[1].dev = mf_idle();
    t[1].keys = VB_STAT_COUNT;
    mf_run(t, data, size);
    return 0;
}
