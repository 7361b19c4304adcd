/* Model-based tests of the stats state machine.

   A reference model of the stats protocol, written from docs/qemu-behaviour.md §1.2-1.7
   and the table in the header's manual (not from the implementation), runs side by side with the
   device. A scripted guest (tests/guest.h's RAM and ring helpers) posts stats buffers (Linux-like
   records, none, unknown and duplicate tags, partial tails, more than VB_STATS_MAX_BYTES; split,
   scattered, indirect, with write-only tails; a second buffer while one is held, two before one
   kick), kicks spuriously, answers polls (or not), changes its interrupt suppression, stops and
   restarts the stats queue, resets, reboots and migrates; the host moves the VM clock, fires the
   timer (on time, early, late, spuriously), sets the interval (QOM seconds including -1 and 2^32,
   the doc's alias, milliseconds), machine-resets (S3 or not) and reads guest-stats every way. After EVERY step the device and the model must
   agree on: the held buffer (observed by polling a copy of the device; the copy's guest-memory
   writes go to an overlay), the timer (armed, deadline, and the host's timer), the interval,
   every stat, last-update, the counters, the interrupts per queue, the whole used ring image of
   the stats queue, and the rendered guest-stats JSON (the model renders it itself, with the QDict
   key orders of docs/qemu-behaviour.md §1.7).

   Issue 9: the device may offer FREE_PAGE_HINT, PAGE_POISON and REPORTING and the driver accept
   them (with STATS_VQ, so that the stats queue stays index 2); the model numbers the queues
   itself (Linux's contiguous rule) and checks vb_queue_count/_index/_role, the config space
   byte by byte (its size by the offered features, the id field STOP 0 / DONE 1 / id, poison_val
   kept only while PAGE_POISON is negotiated), reporting buffers (ranges given if whole pages and
   no poison, else counted as ignored), the hint state machine (host start/stop/done with their
   config interrupts, the guest's echo, its STOP, stale ids; ranges hinted only in START), the
   counters, the hint info and the interrupts of queues 3 and 4 (EVENT_IDX or not).

   Issue 14: the same on packed rings (suites model_packed, model_packed_map; random sequences).
   The guest posts its chains at consecutive slots (tests/guest.h's tg_pk_*), the model predicts
   the device's positions with their wrap counters, the used descriptors it writes ({len 0, id},
   flags of its lap, the position moving by the chain's slots), its event suppression area
   (DISABLE while the stats buffer is held, ENABLE / DESC with off_wrap otherwise), the interrupts
   from the driver's area (ENABLE, DISABLE, DESC with EVENT_IDX, a lap crossing forgetting the
   threshold), and the buffer a returned poll finds waiting (the driver did not kick for it);
   after every step the whole descriptor ring and the device area must be its image.

   Random sequences: VB_MODEL_SEQUENCES (default 10000; half per profile), 50-200 steps each, from a
   seeded PRNG (VB_MODEL_SEED changes the base seed). A mismatch names the sequence's seed and the
   step; VB_MODEL_REPLAY=<seed> replays that one sequence and prints every step. */
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <greatest.h>
#include "guest.h"

#define SQ VB_QUEUE_STATS
#define QS 128u         /* the guest's queue size */
#define PK_QS 37u       /* ... of a packed ring: what NSLOT chains of up to 6 slots need, and
                           small, so that sequences go round it (not a power of two: allowed) */
#define NSLOT 6u        /* stats buffers the guest owns (Linux: 1; a misbehaving guest: more) */
#define SLOT_DESCS 16u  /* ring descriptors per slot: slot s uses [16 s, 16 s + 16) */
#define SLOT_DATA(s) (TG_DATA + 0x2000u * (uint64_t)(s))
#define SLOT_WDATA(s) (SLOT_DATA(s) + 0x1000u)
#define SLOT_TABLE(s) (TG_DATA + 0x10000u + 0x100u * (uint64_t)(s))
#define PROBE_DATA (TG_DATA + 0x18000u)
#define PROBE_HEAD 127u /* in slot 7's range, which the guest never uses */
#define MEM_USED 0x40000u /* guest RAM this test touches (zeroed per sequence) */
#define MAXC 3200u        /* content bytes of one stats buffer */
#define USED_BYTES (4u + 8u * QS + 2u)
#define WALL0 1358529861
#define F_NEXT 1u
#define F_WRITE 2u
#define F_INDIRECT 4u
#define UNSET UINT64_MAX

/* ============================================================================================
   PRNG (splitmix64): deterministic, seeded per sequence
   ============================================================================================ */

/* (the seeded PRNG, tg_rng and tg_rnd / tg_below / tg_chance, is in guest.h) */

/* ============================================================================================
   The guest (ground truth of what the guest did) and the model (the prediction)
   ============================================================================================ */

typedef struct gslot {
    int busy;      /* given to the device and not yet seen on the used ring */
    uint16_t head; /* ring descriptor index of the chain (packed: its buffer id) */
    uint16_t nslots; /* packed: the ring slots it takes (1 if indirect) */
    uint32_t clen; /* device-readable bytes, concatenated */
    unsigned char content[MAXC];
} gslot;

typedef struct guest {
    int up;            /* driver loaded: DRIVER_OK */
    uint64_t features; /* negotiated */
    gslot slot[NSLOT];
    unsigned char posted[QS]; /* avail ring position (mod QS) -> slot */
    uint16_t used_event;      /* what the guest wrote last (EVENT_IDX) */
    int no_interrupt;         /* avail flags (without EVENT_IDX) */
    uint16_t pk_flags, pk_off_wrap; /* packed: the stats queue's driver area as written */
} guest;

typedef struct mdl {
    /* configuration */
    int profile;
    unsigned keys;
    int be_opt;
    /* the stats state machine */
    int held;
    unsigned held_slot;
    int armed;         /* the polling timer */
    uint64_t deadline;
    int watch;         /* after a poll: the end of the interval is watched (telemetry) */
    int start;         /* the deadline is the first poll of polling turned on: ends no interval */
    uint64_t watch_deadline;
    uint64_t interval_ms;
    uint64_t stat[VB_STAT_COUNT];
    int64_t last_update;
    int reported; /* the guest reported since creation / the last machine reset */
    uint32_t updates, polls, duplicates, unknown;
    /* freshness telemetry (vb_telemetry), from the header manual's definitions */
    unsigned stale_after;
    int polled, stale, stale_last; /* stale_last: the last stats_stale() argument */
    uint64_t poll_ms, stats_ms;
    int has_stats;
    uint32_t answers, late, missed, stale_count, stale_calls;
    uint32_t lat_last, lat_min, lat_max, lat_bucket[VB_LATENCY_BUCKETS];
    uint64_t lat_sum;
    uint32_t records, records_unknown;
    unsigned irq[VB_QUEUE_MAX]; /* by queue index */
    /* issue 9: the free page reporting and hinting queues, page poison, the numbering */
    unsigned options;
    vb_hint_status hint;
    uint32_t cmd_id, guest_cmd_id, hint_ranges, poison;
    uint64_t hint_bytes;
    uint32_t reports, hint_buffers;
    uint64_t bytes_rep, bytes_hint, bytes_ignored;
    unsigned cfg_irqs;
    struct {
        uint16_t used_idx, signalled_used;
        int signalled_valid;
    } pq[VB_QUEUE_MAX]; /* the free page and reporting queues' interrupt state, by role */
    uint16_t pq_head[VB_QUEUE_MAX];
    /* the stats queue as the device should run it */
    int ready;         /* the driver set the queues up */
    int qready;        /* the stats queue is started (a driver may stop and restart it) */
    uint64_t features; /* the device's view of the negotiated features (0 after a reset) */
    uint16_t last_avail, used_idx, signalled_used;
    int signalled_valid;
    unsigned char used_img[USED_BYTES]; /* flags, idx, ring, avail_event: what the guest sees */
    /* packed: the device's positions (slot, wrap counter), the descriptor ring as the guest and
       the device wrote it, the device area */
    uint16_t pk_avail, pk_used;
    int pk_aw, pk_uw;
    unsigned char pk_ring[16u * QS];
    unsigned char pk_dev[4];
} mdl;

typedef struct sbuf {
    char s[4096];
    size_t n;
} sbuf;

typedef struct ctx {
    tg *t;
    guest g;
    mdl m;
    tg_rng r;
    vb_config cfg;
    uint64_t seed;
    unsigned seq, step;
    int verbose;
    char *ev;           /* the current step's description, in hist */
    char hist[8][160];
    unsigned hist_step[8];
    int cache_valid; /* the model's compact guest-stats, for cache_stat and cache_last */
    uint64_t cache_stat[VB_STAT_COUNT];
    int64_t cache_last;
    sbuf cache;
    char fail[1600];
} ctx;

static tg T;
static ctx C;
static int PK; /* the layout of this suite: 0 split, 1 packed */

/* ============================================================================================
   Host callbacks: tests/guest.h's, plus a probe mode that runs a COPY of the device against an
   overlay of guest memory (its writes never reach RAM, its timer never reaches the host)
   ============================================================================================ */

typedef struct probe {
    int active;
    unsigned n;
    struct {
        uint64_t gpa;
        uint32_t len;
        unsigned char b[16];
    } w[24];
    int overflow;
    unsigned irq;
} probe;

static probe P;

static void ov_apply(uint64_t gpa, unsigned char *dst, size_t len)
{
    unsigned i;
    for (i = 0; i < P.n; i++) {
        uint32_t k;
        for (k = 0; k < P.w[i].len; k++) {
            uint64_t a = P.w[i].gpa + k;
            if (a >= gpa && a < gpa + len) dst[a - gpa] = P.w[i].b[k];
        }
    }
}

static int ov_store(tg *t, uint64_t gpa, const void *src, size_t len)
{
    if (!tg_ok(t, gpa, len)) return -1;
    if (P.n == sizeof P.w / sizeof P.w[0] || len > sizeof P.w[0].b) {
        P.overflow = 1;
        return -1;
    }
    P.w[P.n].gpa = gpa;
    P.w[P.n].len = (uint32_t)len;
    memcpy(P.w[P.n].b, src, len);
    P.n++;
    return 0;
}

static int m_read(void *user, uint64_t gpa, void *dst, size_t len)
{
    tg *t = (tg *)user;
    if (!P.active) return tg_read(user, gpa, dst, len);
    if (!tg_ok(t, gpa, len)) return -1;
    memcpy(dst, t->mem + gpa, len);
    ov_apply(gpa, (unsigned char *)dst, len);
    return 0;
}

static int m_write(void *user, uint64_t gpa, const void *src, size_t len)
{
    return P.active ? ov_store((tg *)user, gpa, src, len) : tg_write(user, gpa, src, len);
}

static void m_arm(void *user, uint64_t deadline)
{
    if (!P.active) tg_arm(user, deadline);
}

static void m_cancel(void *user)
{
    if (!P.active) tg_cancel(user);
}

static void m_stale(void *user, int stale)
{
    if (!P.active) tg_stale(user, stale);
}

static void m_notify(void *user, unsigned q)
{
    if (P.active)
        P.irq++;
    else
        tg_notify(user, q);
}

static void m_notify_config(void *user)
{
    if (!P.active) tg_notify_config(user);
}

/* The map path: RAM mapped as tg_map does, except for a probe, which must see the overlay (it
   re-maps its copy's rings with vb_memory_changed while active: refused, it reads and writes). */
static void *m_map(void *user, uint64_t gpa, uint64_t len, int write)
{
    return P.active ? NULL : tg_map(user, gpa, len, write);
}

static const vb_host model_host = {m_read,   m_write,         tg_now,   m_arm,
                                   m_cancel, tg_wall,         m_notify, m_notify_config,
                                   tg_pages, tg_actual,       tg_log,   m_stale, 0};

static const vb_host model_host_map = {m_read,   m_write,   tg_now,   m_arm,
                                       m_cancel, tg_wall,   m_notify, m_notify_config,
                                       tg_pages, tg_actual, tg_log,   m_stale, m_map};

static const vb_host *model_hosts(void) { return tg_map_path() ? &model_host_map : &model_host; }

/* ============================================================================================
   Byte helpers of the model (guest byte order), independent of guest.h's and the header's
   ============================================================================================ */

static int g_be(const ctx *c) { return c->m.be_opt && !(c->g.features & TG_F(VB_F_VERSION_1)); }

static void m_st16(unsigned char *p, uint16_t v, int be)
{
    p[0] = (unsigned char)(be ? v >> 8 : v);
    p[1] = (unsigned char)(be ? v : v >> 8);
}

static void m_st32(unsigned char *p, uint32_t v, int be)
{
    unsigned i;
    for (i = 0; i < 4; i++) p[be ? 3 - i : i] = (unsigned char)(v >> (8 * i));
}

static void m_st64(unsigned char *p, uint64_t v, int be)
{
    unsigned i;
    for (i = 0; i < 8; i++) p[be ? 7 - i : i] = (unsigned char)(v >> (8 * i));
}

static uint64_t m_ld(const unsigned char *p, unsigned n, int be)
{
    uint64_t v = 0;
    unsigned i;
    for (i = 0; i < n; i++) v |= (uint64_t)p[be ? n - 1 - i : i] << (8 * i);
    return v;
}

/* ============================================================================================
   The model's transitions (docs/qemu-behaviour.md §1.2-1.6, §4; the header's table)
   ============================================================================================ */

static const char *const m_names[VB_STAT_COUNT] = {
    "stat-swap-in",      "stat-swap-out",     "stat-major-faults",   "stat-minor-faults",
    "stat-free-memory",  "stat-total-memory", "stat-available-memory", "stat-disk-caches",
    "stat-htlb-pgalloc", "stat-htlb-pgfail",  "stat-oom-kills",      "stat-alloc-stalls",
    "stat-async-scans",  "stat-direct-scans", "stat-async-reclaims", "stat-direct-reclaims"};

static int m_has(const mdl *m, unsigned bit) { return (int)((m->features >> bit) & 1u); }

/* ---- issue 9: numbering, config space, reporting, hinting, poison (the header's manual,
   QEMU's virtio_balloon_handle_report / get_free_page_hints) ---------------------------------- */

/* Linux's numbering over the negotiated features: inflate 0, deflate 1, then stats (if accepted,
   or if neither later queue is), free page, reporting, contiguously. */
static int m_index(uint64_t f, unsigned role)
{
    int fph = (f & TG_F(VB_F_FREE_PAGE_HINT)) != 0, rep = (f & TG_F(VB_F_REPORTING)) != 0;
    int stats = (f & TG_F(VB_F_STATS_VQ)) != 0 || (!fph && !rep);
    switch (role) {
    case VB_QUEUE_INFLATE: return 0;
    case VB_QUEUE_DEFLATE: return 1;
    case VB_QUEUE_STATS: return stats ? 2 : -1;
    case VB_QUEUE_FREE_PAGE: return fph ? 2 + stats : -1;
    case VB_QUEUE_REPORTING: return rep ? 2 + stats + fph : -1;
    default: return -1;
    }
}

/* The config space: num_pages, actual (0 here), the hint id field (STOP 0, DONE 1, else the
   id) and poison_val; its size by the offered features. */
static uint32_t m_config(const mdl *m, unsigned char cfg[16])
{
    memset(cfg, 0, 16);
    m_st32(cfg + 8, m->hint == VB_HINT_STOP ? 0u : m->hint == VB_HINT_DONE ? 1u : m->cmd_id, 0);
    m_st32(cfg + 12, m->poison, 0);
    return (m->options & VB_OPT_PAGE_POISON) ? 16u : (m->options & VB_OPT_FREE_PAGE_HINT) ? 12u : 8u;
}

/* A used buffer of a page queue (role r): push, then virtio_notify with the guest's used_event
   0 and avail flags 0 (this guest never sets them on these queues). */
static void m_page_push(ctx *c, unsigned r)
{
    mdl *m = &c->m;
    uint16_t old = m->pq[r].used_idx, now = (uint16_t)(old + 1u);
    int send;
    m->pq[r].used_idx = now;
    if ((uint16_t)(now - m->pq[r].signalled_used) < (uint16_t)(now - old)) m->pq[r].signalled_valid = 0;
    if (PK) {
        send = 1; /* this guest leaves the driver area of these queues at ENABLE (0) */
    } else if (m_has(m, VB_F_RING_EVENT_IDX)) {
        int valid = m->pq[r].signalled_valid;
        uint16_t sold = m->pq[r].signalled_used;
        m->pq[r].signalled_valid = 1;
        m->pq[r].signalled_used = now;
        send = !valid || (uint16_t)(now - 0u - 1u) < (uint16_t)(now - sold);
    } else {
        send = 1;
    }
    if (send) m->irq[m_index(m->features, r)]++;
}

/* Ranges of one buffer: given (whole pages, acted on, no poison) or ignored and counted. */
static void m_ranges(ctx *c, int act, const uint64_t *addr, const uint32_t *len, unsigned n, int hinted)
{
    mdl *m = &c->m;
    unsigned i;
    for (i = 0; i < n; i++) {
        int whole = !((addr[i] | len[i]) & 4095u);
        if (!act || !whole || m->poison) {
            m->bytes_ignored += len[i];
        } else if (hinted) {
            m->hint_ranges++;
            m->hint_bytes += len[i];
            m->bytes_hint += len[i];
        } else {
            m->bytes_rep += len[i];
        }
    }
}

static void m_page_queues_reset(mdl *m)
{
    memset(m->pq, 0, sizeof m->pq);
    m->hint = VB_HINT_STOP; /* the ids go on */
    m->poison = 0;
}

static void m_stats_unset(mdl *m)
{
    unsigned i;
    for (i = 0; i < VB_STAT_COUNT; i++) m->stat[i] = UNSET;
}

/* 10-byte records of the readable bytes, parsed up to VB_STATS_MAX_BYTES (header manual). */
static void m_parse(ctx *c, unsigned s, uint64_t val[VB_STAT_COUNT], uint32_t *unknown,
                    uint32_t *records)
{
    const gslot *b = &c->g.slot[s];
    uint32_t n = b->clen < VB_STATS_MAX_BYTES ? b->clen : (uint32_t)VB_STATS_MAX_BYTES, off;
    unsigned i;
    for (i = 0; i < VB_STAT_COUNT; i++) val[i] = UNSET;
    for (off = 0; off + 10u <= n; off += 10u) {
        uint16_t tag = (uint16_t)m_ld(b->content + off, 2, g_be(c));
        ++*records;
        if (tag < VB_STAT_COUNT)
            val[tag] = m_ld(b->content + off + 2, 8, g_be(c));
        else
            ++*unknown;
    }
}

/* virtio_should_notify(): EVENT_IDX or NO_INTERRUPT, as the driver wrote them. */
static void m_notify_guest(ctx *c)
{
    mdl *m = &c->m;
    int send;
    if (PK) { /* the driver area: DISABLE no, DESC with EVENT_IDX at off_wrap, else yes */
        uint16_t old = m->signalled_used, now = m->pk_used, off = (uint16_t)(c->g.pk_off_wrap & 0x7fffu);
        int valid = m->signalled_valid;
        m->signalled_valid = 1;
        m->signalled_used = now;
        if (c->g.pk_flags == TG_PK_DISABLE)
            send = 0;
        else if (c->g.pk_flags != TG_PK_DESC || !m_has(m, VB_F_RING_EVENT_IDX) || !valid)
            send = 1;
        else {
            if ((c->g.pk_off_wrap >> 15) != (unsigned)m->pk_uw) off = (uint16_t)(off - PK_QS); /* the lap before */
            send = (uint16_t)(now - off - 1u) < (uint16_t)(now - old);
        }
    } else if (m_has(m, VB_F_RING_EVENT_IDX)) {
        uint16_t old = m->signalled_used, now = m->used_idx;
        int valid = m->signalled_valid;
        m->signalled_valid = 1;
        m->signalled_used = now;
        send = !valid || (uint16_t)(now - c->g.used_event - 1u) < (uint16_t)(now - old);
    } else {
        send = !c->g.no_interrupt;
    }
    if (send) m->irq[SQ]++;
}

/* virtqueue_push(elem, 0) + virtio_notify(). */
static void m_push(ctx *c, unsigned s)
{
    mdl *m = &c->m;
    uint16_t old = m->used_idx, now = (uint16_t)(old + 1u);
    int be = g_be(c);
    if (PK) { /* {len 0, id}, then the flags of its lap; the position moves by its slots */
        unsigned char *d = m->pk_ring + 16u * m->pk_used;
        m_st32(d + 8, 0, 0);
        m_st16(d + 12, c->g.slot[s].head, 0);
        m_st16(d + 14, (uint16_t)(m->pk_uw ? TG_PK_AVAIL | TG_PK_USED : 0u), 0);
        m->used_idx = now;
        m->pk_used = (uint16_t)(m->pk_used + c->g.slot[s].nslots);
        if (m->pk_used >= PK_QS) {
            m->pk_used = (uint16_t)(m->pk_used - PK_QS);
            m->pk_uw ^= 1;
            m->signalled_valid = 0; /* a new lap: the threshold is stale */
        }
        m_notify_guest(c);
        return;
    }
    m_st32(m->used_img + 4u + 8u * (old % QS), c->g.slot[s].head, be);
    m_st32(m->used_img + 8u + 8u * (old % QS), 0, be);
    m_st16(m->used_img + 2u, now, be);
    m->used_idx = now;
    if ((int16_t)(uint16_t)(now - m->signalled_used) < (int)(uint16_t)(now - old))
        m->signalled_valid = 0;
    m_notify_guest(c);
}

/* packed: index 0, wrap 0 with nothing in flight, where a base may have lost its wrap bit */
static int m_pk_unsure(const mdl *m)
{
    return m->pk_avail == 0 && !m->pk_aw && m->pk_used == 0 && !m->pk_uw;
}

/* packed: the device area tells the driver to kick (EVENT_IDX: at the next slot, unless the
   wrap is unsure: then every kick) or not. */
static void m_kicks(ctx *c, int enable)
{
    mdl *m = &c->m;
    if (enable && m_has(m, VB_F_RING_EVENT_IDX) && !m_pk_unsure(m)) {
        m_st16(m->pk_dev, (uint16_t)(m->pk_avail | (m->pk_aw ? 0x8000u : 0u)), 0);
        m_st16(m->pk_dev + 2, TG_PK_DESC, 0);
    } else {
        m_st16(m->pk_dev + 2, (uint16_t)(enable ? TG_PK_ENABLE : TG_PK_DISABLE), 0);
    }
}

/* virtqueue_pop(): the next published buffer, or -1. */
static int m_pop(ctx *c)
{
    mdl *m = &c->m;
    unsigned s;
    if (m->last_avail == c->t->avail_idx[SQ]) return -1;
    s = c->g.posted[m->last_avail % QS];
    m->last_avail++;
    if (PK) { /* past its slots; with EVENT_IDX off_wrap follows (the whole event after an unsure wrap) */
        int unsure = m_pk_unsure(m);
        m->pk_avail = (uint16_t)(m->pk_avail + c->g.slot[s].nslots);
        if (m->pk_avail >= PK_QS) {
            m->pk_avail = (uint16_t)(m->pk_avail - PK_QS);
            m->pk_aw ^= 1;
        }
        if (unsure)
            m_kicks(c, 1);
        else if (m_has(m, VB_F_RING_EVENT_IDX))
            m_st16(m->pk_dev, (uint16_t)(m->pk_avail | (m->pk_aw ? 0x8000u : 0u)), 0);
        return (int)s;
    }
    if (m_has(m, VB_F_RING_EVENT_IDX)) m_st16(m->used_img + 4u + 8u * QS, m->last_avail, g_be(c));
    return (int)s;
}

/* balloon_stats_change_timer(): only while enabled (the watch then ends: no poll is out). */
static void m_rearm(ctx *c)
{
    if (!c->m.interval_ms) return;
    c->m.armed = 1;
    c->m.watch = c->m.start = 0;
    c->m.deadline = c->t->now_ms + c->m.interval_ms;
}

/* ---- freshness: an interval ends with stats or is missed; K missed in a row: stale ---- */

static void m_set_stale(mdl *m, int stale)
{
    if (m->stale == stale) return;
    m->stale = m->stale_last = stale;
    m->stale_calls++;
    if (stale) m->stale_count++;
}

static void m_missed(mdl *m)
{
    m->missed++;
    if (m->missed == m->stale_after) m_set_stale(m, 1);
}

static void m_answered(ctx *c, uint32_t records, uint32_t unknown)
{
    static const uint32_t le[VB_LATENCY_BUCKETS - 1] = {1, 4, 16, 64, 256, 1024, 4096};
    mdl *m = &c->m;
    uint64_t now = c->t->now_ms;
    if (m->polled) {
        uint32_t ms = (uint32_t)(now - m->poll_ms), b = 0;
        while (b < VB_LATENCY_BUCKETS - 1 && ms > le[b]) b++;
        m->lat_bucket[b]++;
        m->lat_sum += ms;
        m->lat_last = ms;
        if (m->answers == 0 || ms < m->lat_min) m->lat_min = ms;
        if (ms > m->lat_max) m->lat_max = ms;
        m->answers++;
        if (m->missed) m->late++;
        m->polled = 0;
    }
    m->missed = 0;
    m->stats_ms = now;
    m->has_stats = 1;
    m->records = records;
    m->records_unknown = unknown;
    m_set_stale(m, 0);
}

/* Machine reset (tell: a stale one says it is no longer) or a fresh device: everything zero. */
static void m_telemetry_clear(mdl *m, int tell)
{
    uint32_t calls = m->stale_calls + (tell && m->stale ? 1u : 0u);
    if (tell && m->stale) m->stale_last = 0;
    m->polled = m->stale = m->has_stats = 0;
    m->poll_ms = m->stats_ms = m->lat_sum = 0;
    m->answers = m->late = m->missed = m->stale_count = 0;
    m->lat_last = m->lat_min = m->lat_max = 0;
    memset(m->lat_bucket, 0, sizeof m->lat_bucket);
    m->records = m->records_unknown = 0;
    m->stale_calls = calls;
}

/* virtio_balloon_receive_stats(). */
static void m_kick(ctx *c)
{
    mdl *m = &c->m;
    int s;
    if (!m->qready) return; /* a stopped queue's notification is ignored, no re-arm */
    s = m_pop(c);
    if (s >= 0) {
        uint64_t val[VB_STAT_COUNT];
        uint32_t unknown = 0, records = 0;
        m_parse(c, (unsigned)s, val, &unknown, &records);
        if (m->held) {
            m->duplicates++;
            if (PK) m_kicks(c, 1);
            m_push(c, m->held_slot);
        }
        if (PK) m_kicks(c, 0); /* no use for kicks while it holds one */
        m->held = 1;
        m->held_slot = (unsigned)s;
        memcpy(m->stat, val, sizeof val);
        m->last_update = c->t->wall;
        m->reported = 1;
        m->updates++;
        m->unknown += unknown;
        m_answered(c, records, unknown);
    }
    m_rearm(c);
}

/* balloon_stats_poll_cb(), behind the host's "has the deadline passed" check. */
static void m_fire(ctx *c)
{
    mdl *m = &c->m;
    if (m->watch && c->t->now_ms >= m->watch_deadline) { /* an interval without the answer */
        m_missed(m);
        m->watch_deadline = c->t->now_ms + m->interval_ms;
        return;
    }
    if (!m->armed || c->t->now_ms < m->deadline) return;
    m->armed = 0;
    if (!m->held || !m_has(m, VB_F_STATS_VQ) || !m->qready) {
        if (!m->start) m_missed(m); /* no interval ended at the first poll */
        m_rearm(c);
        return;
    }
    m->held = m->start = 0;
    m->polls++;
    if (PK) m_kicks(c, 1);
    m_push(c, m->held_slot);
    m->polled = 1;
    m->poll_ms = c->t->now_ms;
    m->watch = 1;
    m->watch_deadline = c->t->now_ms + m->interval_ms;
    /* packed: a buffer posted meanwhile came without a kick; the device looks for it now */
    if (PK && m->last_avail != c->t->avail_idx[SQ]) m_kick(c);
}

/* balloon_stats_set_poll_interval(), in milliseconds. */
static void m_set_interval_ms(ctx *c, uint64_t ms)
{
    mdl *m = &c->m;
    if (ms == m->interval_ms) return;
    if (ms == 0) {
        m->interval_ms = 0;
        m->armed = m->watch = m->start = 0;
        m->missed = 0;
        m_set_stale(m, 0);
        return;
    }
    if (m->interval_ms) {
        m->interval_ms = ms;
        m_rearm(c);
    } else {
        m->interval_ms = ms;
        m->armed = m->start = 1;
        m->deadline = c->t->now_ms;
    }
}

/* virtio_balloon_device_reset + virtio_reset: un-pop the held buffer; stats and timer stay. */
static void m_virtio_reset(ctx *c)
{
    mdl *m = &c->m;
    m_page_queues_reset(m);
    m->held = 0;
    m->polled = 0; /* the poll's buffer is gone */
    m->ready = m->qready = 0;
    m->features = 0;
    m->last_avail = m->used_idx = m->signalled_used = 0;
    m->signalled_valid = 0;
}

/* Resettable enter: unless S3 wake-up, stats unset and last-update 0. */
static void m_machine_reset(ctx *c, int wakeup)
{
    if (wakeup) return;
    m_virtio_reset(c);
    m_stats_unset(&c->m);
    c->m.last_update = 0;
    c->m.reported = 0;
    m_telemetry_clear(&c->m, 1);
}

/* The driver set up fresh (zeroed) rings. */
static void m_queues_ready(ctx *c, uint64_t features)
{
    mdl *m = &c->m;
    m->ready = m->qready = 1;
    m->features = features;
    m->last_avail = m->used_idx = m->signalled_used = 0;
    m->signalled_valid = 0;
    memset(m->used_img, 0, sizeof m->used_img);
    m->pk_avail = m->pk_used = 0;
    m->pk_aw = m->pk_uw = 1;
    memset(m->pk_ring, 0, sizeof m->pk_ring);
    memset(m->pk_dev, 0, sizeof m->pk_dev);
    if (PK) m_kicks(c, 1); /* a queue starting */
}

/* virtio_balloon_set_status(DRIVER_OK): nothing held and one buffer in flight -> rewind it. */
static void m_driver_ok(ctx *c)
{
    mdl *m = &c->m;
    if (m->held || !m->qready || m->last_avail == m->used_idx) return;
    m->last_avail--;
    m->pk_avail = m->pk_used; /* packed: the one in flight begins at the used position */
    m->pk_aw = m->pk_uw;
    m_kick(c);
}

/* The driver stops the stats queue: a held buffer is un-popped (a restart and a kick read it
   again). Starting it again resumes from the used index in guest memory. */
static void m_stats_queue(ctx *c, int start)
{
    mdl *m = &c->m;
    if (start) {
        m->qready = 1;
        m->signalled_valid = 0;
        m->signalled_used = m->pk_used;
        if (PK) m_kicks(c, 1);
        return;
    }
    if (m->held) {
        m->held = 0;
        m->last_avail--;
        m->pk_avail = m->pk_used;
        m->pk_aw = m->pk_uw;
    }
    m->qready = 0;
}

/* A new device (interval from its -device property) loads the migrated state. */
static void m_migrate(ctx *c, uint32_t dest_interval_s)
{
    mdl *m = &c->m;
    m->held = 0;
    m_stats_unset(m);
    m->last_update = 0;
    m->reported = 0;
    m->updates = m->polls = m->duplicates = m->unknown = 0;
    m_telemetry_clear(m, 0); /* a fresh device: nothing to tell */
    m->reports = m->hint_buffers = 0;
    m->bytes_rep = m->bytes_hint = m->bytes_ignored = 0;
    m->guest_cmd_id = m->hint_ranges = 0; /* not migrated: hint status, id, poison are */
    m->hint_bytes = 0;
    {
        unsigned r;
        for (r = 0; r < VB_QUEUE_MAX; r++) { /* virtio_load: caches from the used index */
            m->pq[r].signalled_used = m->pq[r].used_idx;
            m->pq[r].signalled_valid = 0;
        }
    }
    m->interval_ms = 0;
    m->armed = m->watch = 0;
    m_set_interval_ms(c, (uint64_t)dest_interval_s * 1000u); /* the property at creation */
    m->signalled_valid = 0;                                  /* virtio_load */
    m_rearm(c);                                              /* post_load */
    if (c->g.up) m_driver_ok(c);                             /* the VM starts: set_status */
}

/* ---- the model's own guest-stats renderer (docs/qemu-behaviour.md §1.7) ---------------------- */

static const char *const order16[16] = {
    "stat-htlb-pgalloc", "stat-swap-out",  "stat-alloc-stalls",   "stat-available-memory",
    "stat-direct-reclaims", "stat-direct-scans", "stat-htlb-pgfail", "stat-free-memory",
    "stat-minor-faults", "stat-major-faults", "stat-total-memory", "stat-oom-kills",
    "stat-async-reclaims", "stat-swap-in", "stat-async-scans", "stat-disk-caches"};
static const char *const order10[10] = {
    "stat-htlb-pgalloc", "stat-swap-out",     "stat-available-memory", "stat-htlb-pgfail",
    "stat-free-memory",  "stat-minor-faults", "stat-major-faults",     "stat-total-memory",
    "stat-swap-in",      "stat-disk-caches"};
static const char *const order8[8] = {"stat-swap-out",     "stat-available-memory",
                                      "stat-free-memory",  "stat-minor-faults",
                                      "stat-major-faults", "stat-total-memory",
                                      "stat-swap-in",      "stat-disk-caches"};
static const char *const order7[7] = {"stat-swap-out",     "stat-available-memory",
                                      "stat-free-memory",  "stat-minor-faults",
                                      "stat-major-faults", "stat-total-memory", "stat-swap-in"};
static const char *const order6[6] = {"stat-swap-out",     "stat-free-memory",
                                      "stat-minor-faults", "stat-major-faults",
                                      "stat-total-memory", "stat-swap-in"};

static const char *const *m_order(unsigned keys)
{
    switch (keys) {
    case 16: return order16;
    case 10: return order10;
    case 8: return order8;
    case 7: return order7;
    default: return order6;
    }
}

/* The tag of the i-th key of a key set (looked up by name once, then remembered). */
static unsigned m_tag_at(unsigned keys, unsigned i)
{
    static unsigned char tags[17][VB_STAT_COUNT], known[17];
    if (!known[keys]) {
        const char *const *order = m_order(keys);
        unsigned k, t;
        for (k = 0; k < keys; k++)
            for (t = 0; t < VB_STAT_COUNT; t++)
                if (!strcmp(m_names[t], order[k])) tags[keys][k] = (unsigned char)t;
        known[keys] = 1;
    }
    return tags[keys][i];
}

static void sb(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    int k;
    va_start(ap, fmt);
    k = vsnprintf(b->s + b->n, sizeof b->s - b->n, fmt, ap);
    va_end(ap);
    if (k > 0) b->n += (size_t)k;
}

static void sb_indent(sbuf *b, int pretty, unsigned level)
{
    unsigned i;
    if (!pretty) return;
    sb(b, "\n");
    for (i = 0; i < level; i++) sb(b, "    ");
}

/* {"stats": {...}, "last-update": N}; doc profile: the 2013 int64 visitor (unset = -1). */
static const char *m_render(const mdl *m, int pretty, sbuf *b)
{
    const char *const *order = m_order(m->keys);
    unsigned i;
    b->n = 0;
    b->s[0] = 0;
    sb(b, "{");
    sb_indent(b, pretty, 1);
    sb(b, "\"stats\": {");
    for (i = 0; i < m->keys; i++) {
        uint64_t v = m->stat[m_tag_at(m->keys, i)];
        if (i) sb(b, pretty ? "," : ", ");
        sb_indent(b, pretty, 2);
        if (m->profile == VB_PROFILE_DOC)
            sb(b, "\"%s\": %" PRId64, order[i], (int64_t)v);
        else
            sb(b, "\"%s\": %" PRIu64, order[i], v);
    }
    sb_indent(b, pretty, 1);
    sb(b, "}%s", pretty ? "," : ", ");
    sb_indent(b, pretty, 1);
    sb(b, "\"last-update\": %" PRId64, m->last_update);
    sb_indent(b, pretty, 0);
    sb(b, "}");
    return b->s;
}

/* ============================================================================================
   Failure reporting
   ============================================================================================ */

static int mismatch(ctx *c, const char *what, const char *dev, const char *mod)
{
    unsigned i;
    snprintf(c->fail, sizeof c->fail,
             "model mismatch: seed=0x%016" PRIx64 " sequence=%u step=%u event=[%s]: %s: device %s, "
             "model %s (replay: VB_MODEL_REPLAY=0x%016" PRIx64 ")",
             c->seed, c->seq, c->step, c->ev, what, dev, mod, c->seed);
    fprintf(stderr, "\n%s\n  last events:\n", c->fail);
    for (i = 0; i < 8; i++) {
        unsigned k = (c->step + i + 1u) % 8u;
        if (c->hist[k][0]) fprintf(stderr, "    step %u: %s\n", c->hist_step[k], c->hist[k]);
    }
    return -1;
}

static int mismatch_u64(ctx *c, const char *what, uint64_t dev, uint64_t mod)
{
    char a[32], b[32];
    snprintf(a, sizeof a, "%" PRIu64, dev);
    snprintf(b, sizeof b, "%" PRIu64, mod);
    return mismatch(c, what, a, b);
}

#define CHECK_U64(what, dev, mod)                                                           \
    do {                                                                                    \
        uint64_t d_ = (uint64_t)(dev), m_ = (uint64_t)(mod);                                \
        if (d_ != m_) return mismatch_u64(c, what, d_, m_);                                 \
    } while (0)

/* Name the current step (kept for the last 8 steps, printed on a mismatch). */
static void event(ctx *c, const char *fmt, ...)
{
    va_list ap;
    c->ev = c->hist[c->step % 8u];
    c->hist_step[c->step % 8u] = c->step;
    va_start(ap, fmt);
    vsnprintf(c->ev, sizeof c->hist[0], fmt, ap);
    va_end(ap);
    if (c->verbose) printf("  step %u: %s\n", c->step, c->ev);
}

/* ============================================================================================
   Observing the held buffer: poll a copy of the device (or, without STATS_VQ, make the copy
   pop a probe buffer, which returns a held one). All writes go to the overlay.
   ============================================================================================ */

static uint64_t used_addr(void) { return tg_used_addr(&T, SQ); }
static uint64_t avail_addr(void) { return tg_avail_addr(&T, SQ); }

/* The head the device holds, -1 for none. */
static int observe_held(ctx *c)
{
    tg *t = c->t;
    vb_device copy = t->dev; /* a device is a plain struct with no hidden state */
    unsigned char raw[8];
    int be = g_be(c);
    uint16_t before = (uint16_t)m_ld(t->mem + used_addr() + 2u, 2, be), after;

    if (PK) { /* a poll on the copy: a used descriptor at the model's used position, or none */
        uint64_t d = tg_desc_addr(SQ) + 16u * c->m.pk_used;
        uint16_t want = (uint16_t)(c->m.pk_uw ? TG_PK_AVAIL | TG_PK_USED : 0u), f;
        memset(&P, 0, sizeof P);
        P.active = 1;
        vb_memory_changed(&copy);
        vb_set_poll_interval_ms(&copy, 0);
        vb_set_poll_interval_ms(&copy, 1000);
        vb_timer_expired(&copy);
        m_read(t, d + 12u, raw, 4);
        P.active = 0;
        f = (uint16_t)m_ld(raw + 2, 2, 0);
        if ((f & (TG_PK_AVAIL | TG_PK_USED)) != want) return -1;
        return (int)m_ld(raw, 2, 0);
    }
    memset(&P, 0, sizeof P);
    P.active = 1;
    vb_memory_changed(&copy); /* map path: the copy's rings through the overlay, not RAM */
    if (c->g.features & TG_F(VB_F_STATS_VQ)) {
        vb_set_poll_interval_ms(&copy, 0);
        vb_set_poll_interval_ms(&copy, 1000); /* enabling: deadline = now */
        vb_timer_expired(&copy);
    } else {
        unsigned char d[16], rec[10], e[2];
        m_st64(d, PROBE_DATA, be);
        m_st32(d + 8, 10, be);
        m_st16(d + 12, 0, be);
        m_st16(d + 14, 0, be);
        m_st16(rec, VB_STAT_MEMFREE, be);
        m_st64(rec + 2, 1, be);
        ov_store(t, tg_desc_addr(SQ) + 16u * PROBE_HEAD, d, 16);
        ov_store(t, PROBE_DATA, rec, 10);
        m_st16(e, PROBE_HEAD, be);
        ov_store(t, avail_addr() + 4u + 2u * (t->avail_idx[SQ] % QS), e, 2);
        m_st16(e, (uint16_t)(t->avail_idx[SQ] + 1u), be);
        ov_store(t, avail_addr() + 2u, e, 2);
        vb_queue_notify(&copy, SQ);
    }
    m_read(t, used_addr() + 2u, raw, 2); /* through the overlay */
    after = (uint16_t)m_ld(raw, 2, be);
    if (after == before) {
        P.active = 0;
        return -1;
    }
    m_read(t, used_addr() + 4u + 8u * (before % QS), raw, 8);
    P.active = 0;
    if (after != (uint16_t)(before + 1u)) return -2;
    return (int)m_ld(raw, 4, be);
}

/* ============================================================================================
   Agreement check after every step
   ============================================================================================ */

static int check(ctx *c)
{
    tg *t = c->t;
    mdl *m = &c->m;
    const vb_counters *k = vb_get_counters(&t->dev);
    uint64_t v;
    unsigned i;
    char out[4096];
    size_t n;

    if (vb_is_broken(&t->dev)) return mismatch(c, "broken", "yes", "no");
    CHECK_U64("config interrupts", t->config_irqs, m->cfg_irqs);
    CHECK_U64("polling deadline (UINT64_MAX = not armed)", vb_poll_deadline(&t->dev),
              m->armed ? m->deadline : UINT64_MAX);
    CHECK_U64("next deadline", vb_next_deadline(&t->dev),
              m->armed ? m->deadline : m->watch ? m->watch_deadline : UINT64_MAX);
    if (m->armed || m->watch) {
        CHECK_U64("host timer armed", t->armed, 1);
        CHECK_U64("host timer deadline", t->deadline, m->armed ? m->deadline : m->watch_deadline);
    }
    {
        const vb_telemetry *y = vb_get_telemetry(&t->dev);
        unsigned b;
        CHECK_U64("stale", y->stale, (uint64_t)m->stale);
        CHECK_U64("stale callbacks", t->stale_calls, m->stale_calls);
        if (t->stale_calls) CHECK_U64("last stale callback", (uint64_t)t->stale_seen, (uint64_t)m->stale_last);
        CHECK_U64("stale count", y->stale_count, m->stale_count);
        CHECK_U64("missed intervals", y->missed, m->missed);
        CHECK_U64("answers", y->answers, m->answers);
        CHECK_U64("late answers", y->late, m->late);
        CHECK_U64("latency last", y->latency_last_ms, m->lat_last);
        CHECK_U64("latency min", y->latency_min_ms, m->lat_min);
        CHECK_U64("latency max", y->latency_max_ms, m->lat_max);
        CHECK_U64("latency sum", y->latency_sum_ms, m->lat_sum);
        for (b = 0; b < VB_LATENCY_BUCKETS; b++)
            CHECK_U64("latency bucket", y->latency_buckets[b], m->lat_bucket[b]);
        CHECK_U64("last poll", y->last_poll_ms, m->poll_ms);
        CHECK_U64("last stats", y->last_stats_ms, m->stats_ms);
        CHECK_U64("records of the last buffer", y->last_records, m->records);
        CHECK_U64("unknown tags of the last buffer", y->last_unknown, m->records_unknown);
        CHECK_U64("has stats", y->has_stats, (uint64_t)m->has_stats);
        CHECK_U64("stats age", vb_stats_age_ms(&t->dev), m->has_stats ? t->now_ms - m->stats_ms : UINT64_MAX);
    }
    CHECK_U64("interval ms", vb_poll_interval_ms(&t->dev), m->interval_ms);
    CHECK_U64("interval s", (uint64_t)vb_poll_interval(&t->dev), (m->interval_ms + 999u) / 1000u);
    for (i = 0; i < VB_STAT_COUNT; i++) {
        int set = vb_stat(&t->dev, i, &v);
        if (v != m->stat[i]) return mismatch_u64(c, m_names[i], v, m->stat[i]);
        CHECK_U64("vb_stat's return", (uint64_t)set, m->stat[i] != UNSET);
    }
    CHECK_U64("last-update", (uint64_t)vb_last_update(&t->dev), (uint64_t)m->last_update);
    CHECK_U64("interrupts of the inflate queue", t->irq[0], m->irq[0]);
    CHECK_U64("interrupts of the deflate queue", t->irq[1], m->irq[1]);
    CHECK_U64("interrupts of the stats queue", t->irq[2], m->irq[2]);
    CHECK_U64("interrupts of queue 3", t->irq[3], m->irq[3]);
    CHECK_U64("interrupts of queue 4", t->irq[4], m->irq[4]);
    {
        const vb_hint_info *hi = vb_hint(&t->dev);
        unsigned char dcfg[20], mcfg[16];
        uint32_t size = m_config(m, mcfg);
        CHECK_U64("queue count", vb_queue_count(&t->dev), (uint64_t)(m_index(m->features, 4) >= 0 ? m_index(m->features, 4) + 1
                                                              : m_index(m->features, 3) >= 0 ? m_index(m->features, 3) + 1 : 3));
        for (i = 0; i < VB_QUEUE_MAX; i++) {
            CHECK_U64("queue index", (uint64_t)(int64_t)vb_queue_index(&t->dev, i), (uint64_t)(int64_t)m_index(m->features, i));
            if (m_index(m->features, i) >= 0)
                CHECK_U64("queue role", (uint64_t)vb_queue_role(&t->dev, (unsigned)m_index(m->features, i)), i);
        }
        CHECK_U64("hint status", hi->status, m->hint);
        CHECK_U64("hint cmd id", hi->cmd_id, m->cmd_id);
        CHECK_U64("hint guest cmd id", hi->guest_cmd_id, m->guest_cmd_id);
        CHECK_U64("hint ranges", hi->ranges, m->hint_ranges);
        CHECK_U64("hint bytes", hi->bytes, m->hint_bytes);
        CHECK_U64("poison_val", vb_poison_value(&t->dev), m->poison);
        CHECK_U64("counter reports", k->reports, m->reports);
        CHECK_U64("counter hint_buffers", k->hint_buffers, m->hint_buffers);
        CHECK_U64("bytes reported", k->bytes[VB_RANGE_REPORTED], m->bytes_rep);
        CHECK_U64("bytes hinted", k->bytes[VB_RANGE_HINTED], m->bytes_hint);
        CHECK_U64("bytes ignored", k->bytes_ignored, m->bytes_ignored);
        CHECK_U64("config size", vb_config_size(&t->dev), size);
        memset(dcfg, 0xEE, sizeof dcfg);
        vb_config_read(&t->dev, 0, dcfg, sizeof dcfg);
        for (i = 0; i < sizeof dcfg; i++)
            CHECK_U64("config byte", dcfg[i], i < size ? mcfg[i] : 0u);
    }
    CHECK_U64("counter updates", k->updates, m->updates);
    CHECK_U64("counter polls", k->polls, m->polls);
    CHECK_U64("counter duplicates", k->duplicates, m->duplicates);
    CHECK_U64("counter unknown_tags", k->unknown_tags, m->unknown);
    CHECK_U64("counter ring_errors", k->ring_errors, 0);
    if (PK) {
        const unsigned char *ring = t->mem + tg_desc_addr(SQ);
        if (memcmp(ring, m->pk_ring, 16u * PK_QS)) {
            char a[64], b[64];
            for (i = 0; i < 16u * PK_QS && ring[i] == m->pk_ring[i]; i++) continue;
            snprintf(a, sizeof a, "slot %u byte %u = 0x%02x", i / 16u, i % 16u, ring[i]);
            snprintf(b, sizeof b, "0x%02x", m->pk_ring[i]);
            return mismatch(c, "packed descriptor ring image", a, b);
        }
        if (memcmp(t->mem + used_addr(), m->pk_dev, 4)) {
            char a[64], b[64];
            snprintf(a, sizeof a, "off_wrap 0x%04x flags %u", tg_get16(t, used_addr()), tg_get16(t, used_addr() + 2u));
            snprintf(b, sizeof b, "off_wrap 0x%04x flags %u", (unsigned)m_ld(m->pk_dev, 2, 0), (unsigned)m_ld(m->pk_dev + 2, 2, 0));
            return mismatch(c, "packed device event area", a, b);
        }
    } else if (memcmp(t->mem + used_addr(), m->used_img, USED_BYTES)) {
        char a[64], b[64];
        for (i = 0; i < USED_BYTES && t->mem[used_addr() + i] == m->used_img[i]; i++) continue;
        snprintf(a, sizeof a, "byte %u = 0x%02x", i, t->mem[used_addr() + i]);
        snprintf(b, sizeof b, "0x%02x", m->used_img[i]);
        return mismatch(c, "used ring image (flags, idx, ring, avail_event)", a, b);
    }
    if (c->g.up && m->qready) {
        int h = observe_held(c);
        int want = m->held ? (int)c->g.slot[m->held_slot].head : -1;
        if (P.overflow) return mismatch(c, "probe overlay", "overflow", "room");
        if (h != want) {
            char a[24], b[24];
            snprintf(a, sizeof a, "%d", h);
            snprintf(b, sizeof b, "%d", want);
            return mismatch(c, "held head (-1 = none)", a, b);
        }
    }
    /* the model's compact rendering is cached while its stats and last-update stay */
    if (!c->cache_valid || memcmp(c->cache_stat, m->stat, sizeof m->stat) ||
        c->cache_last != m->last_update) {
        m_render(m, 0, &c->cache);
        memcpy(c->cache_stat, m->stat, sizeof m->stat);
        c->cache_last = m->last_update;
        c->cache_valid = 1;
    }
    n = vb_render_guest_stats(&t->dev, out, sizeof out, 0);
    if (n != c->cache.n || memcmp(out, c->cache.s, n)) return mismatch(c, "guest-stats JSON", out, c->cache.s);
    return 0;
}

/* ============================================================================================
   The guest: buffers, posting, collecting, probing, resetting
   ============================================================================================ */

static const uint16_t linux61[10] = {0, 1, 2, 3, 8, 9, 4, 5, 6, 7};
static const uint16_t linux612[16] = {0, 1, 2, 3, 10, 11, 12, 13, 14, 15, 8, 9, 4, 5, 6, 7};

static uint64_t rnd_value(tg_rng *r)
{
    switch (tg_below(r, 8)) {
    case 0: return 0;
    case 1: return UNSET; /* a guest may send all-ones: it then reads as unset */
    case 2: return tg_rnd(r);
    case 3: return (uint64_t)1 << 63 | tg_rnd(r);
    default: return tg_rnd(r) % 100000000000u;
    }
}

/* Random Linux-like records (sometimes none, unknown or duplicate tags, a partial tail, or more
   than VB_STATS_MAX_BYTES). Returns the byte count. */
static uint32_t gen_content(ctx *c, unsigned char *p)
{
    uint32_t k = tg_below(&c->r, 100), n = 0, i, len;
    uint16_t tags[320];
    int be = g_be(c);
    if (k < 30) {
        n = 10;
        memcpy(tags, linux61, sizeof linux61);
    } else if (k < 55) {
        n = 16;
        memcpy(tags, linux612, sizeof linux612);
    } else if (k < 60) {
        n = 4;
        for (i = 0; i < 4; i++) tags[i] = (uint16_t)(4u + i);
    } else if (k < 68) {
        n = 0;
    } else if (k < 97) {
        n = tg_below(&c->r, 25);
        for (i = 0; i < n; i++)
            tags[i] = tg_chance(&c->r, 15) ? (uint16_t)(16u + tg_below(&c->r, 0xfff0u)) : (uint16_t)tg_below(&c->r, 16);
    } else {
        n = 250 + tg_below(&c->r, 70); /* 2500..3190 bytes: past VB_STATS_MAX_BYTES at times */
        for (i = 0; i < n; i++) tags[i] = (uint16_t)tg_below(&c->r, 20);
    }
    for (i = 0; i < n; i++) {
        m_st16(p + 10u * i, tags[i], be);
        m_st64(p + 10u * i + 2u, rnd_value(&c->r), be);
    }
    len = 10u * n;
    if (tg_chance(&c->r, 12) && len + 9u <= MAXC) {
        uint32_t tail = 1 + tg_below(&c->r, 9);
        for (i = 0; i < tail; i++) p[len + i] = (unsigned char)tg_rnd(&c->r);
        len += tail;
    }
    return len;
}

/* A packed chain at the driver's next slots (or one slot and an indirect table of exactly its
   entries), as written mirrored into the model's ring image. Returns the buffer id. */
static uint16_t layout_packed(ctx *c, unsigned s, const uint64_t *addr, const uint32_t *len,
                              const uint16_t *flags, uint32_t total, int indirect)
{
    tg *t = c->t;
    tg_seg sg[8];
    uint16_t first = t->pk_next[SQ], id;
    uint32_t i, n = indirect ? 1u : total;
    for (i = 0; i < total; i++) {
        sg[i].addr = addr[i];
        sg[i].len = len[i];
        sg[i].flags = flags[i];
    }
    id = indirect ? tg_pk_post_indirect(t, SQ, SLOT_TABLE(s), sg, total, -1) : tg_pk_post(t, SQ, sg, total, -1);
    c->g.slot[s].nslots = (uint16_t)n;
    for (i = 0; i < n; i++) {
        uint32_t k = (first + i) % PK_QS;
        memcpy(c->m.pk_ring + 16u * k, t->mem + tg_desc_addr(SQ) + 16u * k, 16);
    }
    return id;
}

/* Lay slot s's content out as a chain: 1-4 readable pieces (scattered, garbage between), maybe
   1-2 writable descriptors after them (filled with records the device must not read), direct or
   through an indirect table; descriptor indices in random order. Returns the head. */
static uint16_t layout(ctx *c, unsigned s)
{
    tg *t = c->t;
    gslot *b = &c->g.slot[s];
    uint32_t cuts[6], nread = 0, nwrite, total, i, j;
    uint32_t idx[8];
    uint64_t addr[8], off = 0;
    uint32_t len[8];
    uint16_t flags[8];
    int indirect = (c->g.features & TG_F(VB_F_RING_INDIRECT_DESC)) && tg_chance(&c->r, 25);
    uint64_t table;
    uint32_t tsize;

    if (b->clen) {
        nread = 1 + tg_below(&c->r, 4);
        if (nread > b->clen) nread = b->clen;
    }
    nwrite = b->clen == 0 ? 1 + tg_below(&c->r, 2) : (tg_chance(&c->r, 15) ? 1 + tg_below(&c->r, 2) : 0);
    total = nread + nwrite;
    /* distinct sorted cut points in (0, clen) */
    cuts[0] = 0;
    for (i = 1; i < nread; i++) {
        uint32_t x;
        int dup;
        do {
            x = 1 + tg_below(&c->r, b->clen - 1);
            dup = 0;
            for (j = 1; j < i; j++) dup |= cuts[j] == x;
        } while (dup);
        cuts[i] = x;
    }
    for (i = 1; i < nread; i++) /* insertion sort */
        for (j = i; j > 1 && cuts[j - 1] > cuts[j]; j--) {
            uint32_t x = cuts[j];
            cuts[j] = cuts[j - 1];
            cuts[j - 1] = x;
        }
    cuts[nread] = b->clen;
    for (i = 0; i < nread; i++) {
        uint32_t gap = tg_below(&c->r, 16);
        memset(t->mem + SLOT_DATA(s) + off, 0xE5, gap);
        off += gap;
        addr[i] = SLOT_DATA(s) + off;
        len[i] = cuts[i + 1] - cuts[i];
        memcpy(t->mem + addr[i], b->content + cuts[i], len[i]);
        off += len[i];
        flags[i] = 0;
    }
    for (i = nread; i < total; i++) {
        unsigned char *w = t->mem + SLOT_WDATA(s) + 64u * (i - nread);
        for (j = 0; j < 4; j++) {
            m_st16(w + 10u * j, (uint16_t)j, g_be(c));
            m_st64(w + 10u * j + 2u, 0xBADBADu, g_be(c));
        }
        addr[i] = SLOT_WDATA(s) + 64u * (i - nread);
        len[i] = 1 + tg_below(&c->r, 40);
        flags[i] = F_WRITE;
    }
    if (PK) return layout_packed(c, s, addr, len, flags, total, indirect);
    /* descriptor indices: distinct, random order (an indirect chain starts at entry 0) */
    tsize = indirect ? total + tg_below(&c->r, 3) : SLOT_DESCS;
    for (i = 0; i < total; i++) {
        int dup;
        do {
            idx[i] = (indirect && i == 0) ? 0u : tg_below(&c->r, tsize);
            dup = 0;
            for (j = 0; j < i; j++) dup |= idx[j] == idx[i];
        } while (dup);
    }
    table = indirect ? SLOT_TABLE(s) : tg_desc_addr(SQ);
    for (i = 0; i < total; i++) {
        uint32_t base = indirect ? 0u : 16u * s;
        /* the last one has no NEXT and a junk next field */
        uint32_t nx = i + 1 < total ? base + idx[i + 1] : base + tg_below(&c->r, indirect ? tsize : 16u);
        tg_desc_at(t, table, base + idx[i], addr[i], len[i],
                   (uint16_t)(flags[i] | (i + 1 < total ? F_NEXT : 0u)), (uint16_t)nx);
    }
    if (!indirect) return (uint16_t)(16u * s + idx[0]);
    {
        uint16_t head = (uint16_t)(16u * s + tg_below(&c->r, 16));
        tg_desc(t, SQ, head, table, 16u * tsize, F_INDIRECT, 0);
        return head;
    }
}

static int free_slot(ctx *c)
{
    unsigned s, start = tg_below(&c->r, NSLOT);
    for (s = 0; s < NSLOT; s++)
        if (!c->g.slot[(start + s) % NSLOT].busy) return (int)((start + s) % NSLOT);
    return -1;
}

/* Fill slot s with fresh stats and publish it (no kick). */
static void post_slot(ctx *c, unsigned s)
{
    tg *t = c->t;
    gslot *b = &c->g.slot[s];
    b->clen = gen_content(c, b->content);
    b->head = layout(c, s);
    b->busy = 1;
    c->g.posted[t->avail_idx[SQ] % QS] = (unsigned char)s;
    if (PK)
        t->avail_idx[SQ]++; /* chains posted: what the model's pop compares with */
    else
        tg_publish(t, SQ, b->head);
}

static void kick(ctx *c)
{
    vb_queue_notify(&c->t->dev, SQ);
    m_kick(c);
}

/* Collect the used ring; a head the guest did not give is a mismatch. */
static int collect(ctx *c, unsigned *got)
{
    uint32_t ids[QS];
    unsigned n = PK ? tg_pk_used(c->t, SQ, ids, NULL, QS) : tg_used(c->t, SQ, ids, NULL, QS), i, s;
    for (i = 0; i < n && i < QS; i++) {
        for (s = 0; s < NSLOT; s++)
            if (c->g.slot[s].busy && c->g.slot[s].head == ids[i]) break;
        if (s == NSLOT) return mismatch_u64(c, "used id not owned by the device", ids[i], 0);
        c->g.slot[s].busy = 0;
    }
    *got = n;
    return 0;
}

/* packed: the stats queue's driver area (off_wrap, then flags) */
static void write_driver_area(ctx *c, uint16_t flags, uint16_t off_wrap)
{
    c->g.pk_flags = flags;
    c->g.pk_off_wrap = off_wrap;
    tg_put16(c->t, avail_addr(), off_wrap);
    tg_put16(c->t, avail_addr() + 2u, flags);
}

/* EVENT_IDX: interrupt me at used buffer v (split), or `v` used descriptors after the last one
   the driver saw (packed: Linux's off_wrap at its used position, ahead by v slots). */
static void write_used_event(ctx *c, uint16_t v)
{
    c->g.used_event = v;
    if (PK) {
        uint32_t pos = c->t->pk_used[SQ] + (uint16_t)(v - c->t->used_seen[SQ]) % PK_QS;
        unsigned w = c->t->pk_used_wrap[SQ];
        if (pos >= PK_QS) pos -= PK_QS, w ^= 1u;
        write_driver_area(c, TG_PK_DESC, (uint16_t)(pos | w << 15));
        return;
    }
    tg_put16(c->t, avail_addr() + 4u + 2u * QS, v);
}

static void write_no_interrupt(ctx *c, int on)
{
    c->g.no_interrupt = on;
    if (PK) {
        write_driver_area(c, (uint16_t)(on ? TG_PK_DISABLE : TG_PK_ENABLE), c->g.pk_off_wrap);
        return;
    }
    tg_put16(c->t, avail_addr(), (uint16_t)(on ? 1u : 0u));
}

/* The driver (re)loads: zeroed rings, features, queues, maybe the Linux primer before
   DRIVER_OK (or after it, or none), DRIVER_OK. prime: 0 none, 1 before, 2 after. */
static int boot(ctx *c, uint64_t features, int prime)
{
    tg *t = c->t;
    unsigned s;
    memset(t->mem + TG_RING(0), 0, 5u * 0x4000u);
    for (s = 0; s < NSLOT; s++) c->g.slot[s].busy = 0;
    c->g.features = features;
    c->g.used_event = 0;
    c->g.no_interrupt = 0;
    c->g.pk_flags = c->g.pk_off_wrap = 0;
    t->be = g_be(c);
    memset(t->used_seen, 0, sizeof t->used_seen);
    memset(t->avail_idx, 0, sizeof t->avail_idx);
    if (PK) {
        if (!(features & TG_F(VB_F_RING_PACKED))) return mismatch(c, "packed ring negotiated", "no", "yes");
        if (tg_pk_probe(t, features, PK_QS)) return mismatch(c, "probe (packed)", "failed", "ok");
    } else {
        unsigned q;
        if (tg_probe(t, features)) return mismatch(c, "probe", "failed", "ok");
        for (q = 3; q < vb_queue_count(&t->dev); q++)
            if (tg_queue(t, q, QS)) return mismatch(c, "probe of the free page / reporting queue", "failed", "ok");
    }
    m_queues_ready(c, features);
    if (prime == 1) {
        post_slot(c, 0);
        kick(c);
    }
    c->g.up = 1;
    tg_driver_ok(t);
    m_driver_ok(c);
    if (prime == 2) {
        post_slot(c, 0);
        kick(c);
    }
    return 0;
}

static uint64_t rnd_features(ctx *c)
{
    uint64_t offered = vb_host_features(&c->t->dev), f;
    if (tg_chance(&c->r, 75))
        f = TG_LINUX_FEATURES;
    else
        f = tg_rnd(&c->r) & (TG_LINUX_FEATURES | TG_F(VB_F_DEFLATE_ON_OOM));
    /* the issue-9 features, when offered, with STATS_VQ (the stats queue stays index 2) */
    if (PK) f |= TG_F(VB_F_STATS_VQ) | TG_F(VB_F_VERSION_1) | TG_F(VB_F_RING_PACKED); /* a modern stats driver */
    if (f & TG_F(VB_F_STATS_VQ)) {
        if (tg_chance(&c->r, 70)) f |= TG_F(VB_F_FREE_PAGE_HINT);
        if (tg_chance(&c->r, 70)) f |= TG_F(VB_F_PAGE_POISON);
        if (tg_chance(&c->r, 70)) f |= TG_F(VB_F_REPORTING);
    }
    return f & offered;
}

static int rnd_prime(ctx *c)
{
    uint32_t k = tg_below(&c->r, 100);
    return k < 75 ? 1 : k < 90 ? 2 : 0;
}

/* ============================================================================================
   Events (each one step; the random generator and the directed tests share them)
   ============================================================================================ */

static int ev_post(ctx *c, unsigned nbuf, int do_kick)
{
    unsigned i;
    event(c, "post %u buffer(s)%s", nbuf, do_kick ? " + kick" : "");
    if (!c->g.up) return 0;
    for (i = 0; i < nbuf; i++) {
        int s = free_slot(c);
        if (s < 0) break;
        post_slot(c, (unsigned)s);
    }
    if (do_kick) kick(c);
    return 0;
}

static int ev_kick(ctx *c)
{
    event(c, "kick (spurious unless something is published)");
    if (c->g.up) kick(c);
    return 0;
}

static void set_wall(ctx *c, int64_t skew)
{
    c->t->wall = WALL0 + (int64_t)(c->t->now_ms / 1000u) + skew;
}

/* Time passes: the host runs the timer whenever it falls due (late = only at the end). */
static int ev_advance(ctx *c, uint64_t ms, int late, int64_t skew)
{
    tg *t = c->t;
    uint64_t target = t->now_ms + ms;
    event(c, "advance %" PRIu64 " ms%s (wall skew %" PRId64 ")", ms, late ? ", late timer" : "", skew);
    if (!late) {
        /* on time, for up to 64 runs; after that the host is late (a stalled host jumps) */
        unsigned runs = 0;
        while (t->armed && t->deadline <= target && runs++ < 64) {
            uint64_t at = t->deadline > t->now_ms ? t->deadline : t->now_ms;
            t->now_ms = at;
            set_wall(c, skew);
            t->armed = 0;
            vb_timer_expired(&t->dev);
            m_fire(c);
            if (t->armed && t->deadline <= at) break; /* re-armed in the past: check() tells */
        }
    }
    t->now_ms = target;
    set_wall(c, skew);
    if (t->armed && t->deadline <= t->now_ms) {
        t->armed = 0;
        vb_timer_expired(&t->dev);
        m_fire(c);
    }
    return 0;
}

/* The host's timer goes off before the deadline (or when nothing is armed). */
static int ev_fire_early(ctx *c)
{
    tg *t = c->t;
    event(c, "timer fires early/spuriously (now %" PRIu64 ", host deadline %" PRIu64 " armed %d)",
          t->now_ms, t->deadline, t->armed);
    if (t->armed && t->deadline <= t->now_ms) return 0; /* would be on time */
    t->armed = 0;
    vb_timer_expired(&t->dev);
    m_fire(c);
    return 0;
}

/* QOM setter, seconds: errors change nothing. via: 0 C API, 1 property, 2 the doc alias. */
static int ev_set_seconds(ctx *c, int64_t s, int via)
{
    static const char *const names[3] = {"vb_set_poll_interval", "guest-stats-polling-interval",
                                         "stats-polling-interval"};
    vb_error err;
    vb_result r, want = VB_OK;
    char text[160];
    const char *want_text = NULL;
    memset(&err, 0, sizeof err);
    event(c, "interval %" PRId64 " s via %s", s, names[via]);
    if (via == 0)
        r = vb_set_poll_interval(&c->t->dev, s, &err);
    else
        r = vb_prop_set_int(&c->t->dev, names[via], strlen(names[via]), s, &err);
    if (via == 2 && c->m.profile == VB_PROFILE_QEMU) {
        want = VB_ERR_NOT_FOUND;
        want_text = "Property 'virtio-balloon-pci.stats-polling-interval' not found";
    } else if (s < 0) {
        want = VB_ERR_RANGE;
        want_text = "timer value must be greater than zero";
    } else if ((uint64_t)s > 4294967295u) {
        want = VB_ERR_RANGE;
        want_text = "timer value is too big";
    } else {
        m_set_interval_ms(c, (uint64_t)s * 1000u);
    }
    CHECK_U64("set interval result", (uint64_t)(int64_t)r, (uint64_t)(int64_t)want);
    if (want_text) {
        vb_error_text(&err, text, sizeof text);
        if (strcmp(text, want_text)) return mismatch(c, "error text", text, want_text);
        if (strcmp(err.cls, "GenericError")) return mismatch(c, "error class", err.cls, "GenericError");
    }
    return 0;
}

static int ev_set_ms(ctx *c, uint64_t ms)
{
    vb_result r;
    const uint64_t max = (uint64_t)4294967295u * 1000u;
    event(c, "interval %" PRIu64 " ms", ms);
    r = vb_set_poll_interval_ms(&c->t->dev, ms);
    if (ms > max) {
        CHECK_U64("set ms beyond the QOM range", (uint64_t)(int64_t)r, (uint64_t)(int64_t)VB_ERR_RANGE);
        return 0;
    }
    CHECK_U64("set ms result", (uint64_t)(int64_t)r, VB_OK);
    m_set_interval_ms(c, ms);
    return 0;
}

/* The guest's interrupt handler: collect, refresh used_event, answer. mode 0: one kick per
   buffer (Linux), 1: re-post all then one kick, 2: silent (a guest that stops answering). */
static int ev_answer(ctx *c, unsigned mode, unsigned lag)
{
    unsigned got, i;
    event(c, "guest answers (mode %u, used_event lag %u)", mode, lag);
    if (!c->g.up) return 0;
    if (collect(c, &got)) return -1;
    if (PK) c->t->used_seen[SQ] = (uint16_t)(c->t->used_seen[SQ] + got); /* write_used_event's base */
    if (c->g.features & TG_F(VB_F_RING_EVENT_IDX))
        write_used_event(c, (uint16_t)(c->t->used_seen[SQ] + lag));
    if (mode == 2 || got == 0) return 0;
    for (i = 0; i < got; i++) {
        int s = free_slot(c);
        if (s < 0) break;
        post_slot(c, (unsigned)s);
        if (mode == 0) kick(c);
    }
    if (mode == 1) kick(c);
    return 0;
}

/* The driver changes its interrupt suppression. */
static int ev_suppress(ctx *c)
{
    event(c, "interrupt suppression changes");
    if (!c->g.up) return 0;
    if (PK && tg_chance(&c->r, 30)) { /* any mode; any off_wrap, or a near slot of the other lap */
        uint16_t near = (uint16_t)((c->t->pk_used[SQ] + tg_below(&c->r, 3)) % PK_QS);
        write_driver_area(c, (uint16_t)tg_below(&c->r, 4),
                          tg_chance(&c->r, 50) ? (uint16_t)tg_rnd(&c->r)
                                               : (uint16_t)(near | (c->t->pk_used_wrap[SQ] ? 0u : 0x8000u)));
        return 0;
    }
    if (c->g.features & TG_F(VB_F_RING_EVENT_IDX))
        write_used_event(c, tg_chance(&c->r, 50) ? (uint16_t)(c->t->used_seen[SQ] + tg_below(&c->r, 4))
                                               : (uint16_t)tg_rnd(&c->r));
    else
        write_no_interrupt(c, !c->g.no_interrupt);
    return 0;
}

/* Virtio reset (driver unload, or the guest's reset), then maybe the driver comes back. */
static int ev_virtio_reset(ctx *c, int via_status, int reboot, uint64_t features, int prime)
{
    event(c, "virtio reset via %s%s", via_status ? "status 0" : "vb_reset",
          reboot ? ", driver reloads" : ", driver stays away");
    if (via_status)
        vb_set_status(&c->t->dev, 0);
    else
        vb_reset(&c->t->dev);
    m_virtio_reset(c);
    c->g.up = 0;
    return reboot ? boot(c, features, prime) : 0;
}

static int ev_machine_reset(ctx *c, int wakeup, int reboot, uint64_t features, int prime)
{
    event(c, "machine reset%s%s", wakeup ? " (S3 wake-up)" : "", !wakeup && reboot ? ", guest reboots" : "");
    vb_machine_reset(&c->t->dev, wakeup);
    m_machine_reset(c, wakeup);
    if (wakeup) return 0;
    c->g.up = 0;
    return reboot ? boot(c, features, prime) : 0;
}

static int ev_boot(ctx *c, uint64_t features, int prime)
{
    event(c, "driver loads (features 0x%" PRIx64 ", prime %d)", features, prime);
    if (c->g.up) return 0;
    return boot(c, features, prime);
}

/* The driver stops or restarts the stats queue (a queue reset). */
static int ev_stats_queue(ctx *c, int start)
{
    event(c, "%s the stats queue", start ? "restart" : "stop");
    if (!c->g.up || c->m.qready == start) return 0;
    if (vb_queue_set_ready(&c->t->dev, SQ, start) != VB_OK) return mismatch(c, "vb_queue_set_ready", "error", "ok");
    m_stats_queue(c, start);
    return 0;
}

/* Save, then a fresh device (its own -device interval) on the same guest memory loads it. */
static int ev_migrate(ctx *c, uint32_t dest_s)
{
    tg *t = c->t;
    unsigned char blob[VB_SNAPSHOT_SIZE];
    vb_config cfg = c->cfg;
    event(c, "migrate (destination interval %u s)", dest_s);
    if (vb_snapshot_save(&t->dev, blob, sizeof blob) != VB_SNAPSHOT_SIZE)
        return mismatch(c, "snapshot size", "other", "VB_SNAPSHOT_SIZE");
    vb_destroy(&t->dev);
    cfg.poll_interval_s = dest_s;
    if (vb_init(&t->dev, &cfg, model_hosts(), t) != VB_OK) return mismatch(c, "vb_init", "failed", "ok");
    if (vb_snapshot_load(&t->dev, blob, sizeof blob) != VB_OK)
        return mismatch(c, "vb_snapshot_load", "failed", "ok");
    m_migrate(c, dest_s);
    return 0;
}

/* Every way of reading guest-stats, in both layouts, with random buffer sizes. */
static int ev_render(ctx *c)
{
    tg *t = c->t;
    sbuf mb;
    char out[4096], num[32];
    size_t n, cap;
    unsigned flags = tg_chance(&c->r, 50) ? VB_JSON_PRETTY : 0u;
    vb_error err;
    vb_result r;
    event(c, "render/qom-get (%s)", flags ? "pretty" : "compact");

    m_render(&c->m, (int)flags, &mb);
    if (strcmp(tg_render(t, flags), mb.s)) return mismatch(c, "rendered guest-stats", t->out, mb.s);
    /* snprintf-style: any cap gives the full length and the prefix */
    cap = tg_below(&c->r, (uint32_t)mb.n + 2u);
    memset(out, 'X', sizeof out);
    n = vb_render_guest_stats(&t->dev, cap ? out : NULL, cap, flags);
    CHECK_U64("render length with a small buffer", n, mb.n);
    if (cap && (strncmp(out, mb.s, cap - 1) || out[cap - 1 < mb.n ? cap - 1 : mb.n] != 0))
        return mismatch(c, "truncated render", out, mb.s);
    /* qom-get guest-stats */
    memset(&err, 0, sizeof err);
    n = 0;
    r = vb_prop_get(&t->dev, "guest-stats", 11, out, sizeof out, &n, flags, &err);
    if (c->m.profile == VB_PROFILE_DOC && !c->m.reported) {
        CHECK_U64("qom-get before any report (doc)", (uint64_t)(int64_t)r, (uint64_t)(int64_t)VB_ERR_NO_DATA);
        vb_error_text(&err, out, sizeof out);
        if (strcmp(out, "guest hasn't updated any stats yet"))
            return mismatch(c, "doc error text", out, "guest hasn't updated any stats yet");
    } else {
        CHECK_U64("qom-get guest-stats result", (uint64_t)(int64_t)r, VB_OK);
        CHECK_U64("qom-get length", n, mb.n);
        if (strcmp(out, mb.s)) return mismatch(c, "qom-get guest-stats", out, mb.s);
    }
    /* qom-get of the interval, and the doc's alias */
    snprintf(num, sizeof num, "%" PRIu64, (c->m.interval_ms + 999u) / 1000u);
    r = vb_prop_get(&t->dev, "guest-stats-polling-interval", 28, out, sizeof out, &n, 0, &err);
    CHECK_U64("qom-get interval", (uint64_t)(int64_t)r, VB_OK);
    if (strcmp(out, num)) return mismatch(c, "qom-get interval", out, num);
    r = vb_prop_get(&t->dev, "stats-polling-interval", 22, out, sizeof out, &n, 0, &err);
    if (c->m.profile == VB_PROFILE_DOC) {
        CHECK_U64("qom-get alias (doc)", (uint64_t)(int64_t)r, VB_OK);
        if (strcmp(out, num)) return mismatch(c, "qom-get alias", out, num);
    } else {
        CHECK_U64("qom-get alias (qemu)", (uint64_t)(int64_t)r, (uint64_t)(int64_t)VB_ERR_NOT_FOUND);
    }
    return 0;
}

/* ---- issue 9 events ------------------------------------------------------------------------ */

#define HINT_ID_DATA (TG_DATA + 0x19000u)

/* Random ranges of one buffer: mostly whole pages, anywhere (they are never read). */
static unsigned rnd_ranges(ctx *c, uint64_t *addr, uint32_t *len, unsigned max)
{
    unsigned n = tg_below(&c->r, max + 1u), i;
    for (i = 0; i < n; i++) {
        addr[i] = tg_chance(&c->r, 85) ? 4096u * (uint64_t)(1u + tg_below(&c->r, 1u << 24)) : 1u + tg_below(&c->r, 1u << 30);
        len[i] = tg_chance(&c->r, 85) ? 4096u * (1u + tg_below(&c->r, 64)) : 1u + tg_below(&c->r, 3u * 4096u);
    }
    return n;
}

/* One buffer of role r in descriptors [head, head + n): readable id (if idlen), then ranges;
   published and kicked. */
static void page_buffer(ctx *c, unsigned r, const unsigned char *id, uint32_t idlen, const uint64_t *addr,
                        const uint32_t *len, unsigned n)
{
    tg *t = c->t;
    unsigned q = (unsigned)m_index(c->m.features, r), k = 0, i;
    uint16_t head = (uint16_t)(c->m.pq_head[r] % 64u);
    if (PK) {
        tg_seg sg[8];
        if (idlen) {
            memcpy(t->mem + HINT_ID_DATA + 16u * r, id, idlen);
            sg[k].addr = HINT_ID_DATA + 16u * r;
            sg[k].len = idlen;
            sg[k++].flags = 0;
        }
        for (i = 0; i < n; i++, k++) {
            sg[k].addr = addr[i];
            sg[k].len = len[i];
            sg[k].flags = F_WRITE;
        }
        tg_pk_post(t, q, sg, k, -1);
        vb_queue_notify(&t->dev, q);
        tg_pk_used(t, q, NULL, NULL, 0);
        return;
    }
    c->m.pq_head[r] = (uint16_t)(c->m.pq_head[r] + 8u);
    if (idlen) {
        memcpy(t->mem + HINT_ID_DATA + 16u * r, id, idlen);
        tg_desc(t, q, head, HINT_ID_DATA + 16u * r, idlen, (uint16_t)(n ? F_NEXT : 0u), (uint16_t)(head + 1u));
        k++;
    }
    for (i = 0; i < n; i++, k++)
        tg_desc(t, q, (uint16_t)(head + k), addr[i], len[i], (uint16_t)(F_WRITE | (i + 1 < n ? F_NEXT : 0u)),
                (uint16_t)(head + k + 1u));
    tg_publish(t, q, head);
    vb_queue_notify(&t->dev, q);
    tg_used(t, q, NULL, NULL, 0);
}

/* The guest reports free pages (virtio_balloon_handle_report: writable ranges only). */
static int ev_report(ctx *c)
{
    uint64_t addr[5];
    uint32_t len[5];
    unsigned n;
    event(c, "report free pages");
    if (!c->g.up || m_index(c->m.features, VB_QUEUE_REPORTING) < 0) return 0;
    n = rnd_ranges(c, addr, len, 5);
    if (!n) n = 1, addr[0] = 0x40000u, len[0] = 4096u; /* a zero-length chain is not a buffer */
    page_buffer(c, VB_QUEUE_REPORTING, NULL, 0, addr, len, n);
    c->m.reports++;
    m_ranges(c, 1, addr, len, n, 0);
    m_page_push(c, VB_QUEUE_REPORTING);
    return 0;
}

/* The guest's free page hinting: an id (the one it reads in the config space, its STOP 0, or a
   stale one) and/or ranges. */
static int ev_hint_guest(ctx *c)
{
    mdl *m = &c->m;
    uint64_t addr[3];
    uint32_t len[3], idv = 0;
    unsigned char id[4], cfg[4];
    unsigned n, k;
    int with_id;
    event(c, "guest hint buffer");
    if (!c->g.up || m_index(m->features, VB_QUEUE_FREE_PAGE) < 0) return 0;
    vb_config_read(&c->t->dev, 8, cfg, 4);
    k = tg_below(&c->r, 10);
    idv = k < 6 ? (uint32_t)m_ld(cfg, 4, 0) : k < 8 ? 0u : m->cmd_id - 1u;
    with_id = tg_chance(&c->r, 55);
    n = rnd_ranges(c, addr, len, 3);
    if (!with_id && !n) with_id = 1;
    m_st32(id, idv, g_be(c));
    page_buffer(c, VB_QUEUE_FREE_PAGE, with_id ? id : NULL, with_id ? 4u : 0u, addr, len, n);
    m->hint_buffers++;
    if (with_id) {
        m->guest_cmd_id = idv;
        if (m->hint == VB_HINT_REQUESTED && idv == m->cmd_id)
            m->hint = VB_HINT_START;
        else if (m->hint == VB_HINT_START)
            m->hint = VB_HINT_STOP;
    }
    m_ranges(c, m->hint == VB_HINT_START, addr, len, n, 1);
    m_page_push(c, VB_QUEUE_FREE_PAGE);
    return 0;
}

/* The host's side of hinting: start (only with FREE_PAGE_HINT accepted), stop, done. */
static int ev_hint_host(ctx *c, unsigned what)
{
    mdl *m = &c->m;
    vb_hint_status before = m->hint;
    event(c, "host hint %s", what == 0 ? "start" : what == 1 ? "stop" : "done");
    if (what == 0) {
        vb_result want = m_has(m, VB_F_FREE_PAGE_HINT) ? VB_OK : VB_ERR_STATE;
        CHECK_U64("vb_hint_start", (uint64_t)(int64_t)vb_hint_start(&c->t->dev), (uint64_t)(int64_t)want);
        if (want != VB_OK) return 0;
        m->cmd_id = m->cmd_id == UINT32_MAX ? 0x80000000u : m->cmd_id + 1u;
        m->hint = VB_HINT_REQUESTED;
        m->hint_ranges = 0;
        m->hint_bytes = 0;
    } else if (what == 1) {
        vb_hint_stop(&c->t->dev);
        m->hint = VB_HINT_STOP;
    } else {
        vb_hint_done(&c->t->dev);
        m->hint = VB_HINT_DONE;
    }
    if ((what == 0 || m->hint != before) && c->g.up) m->cfg_irqs++; /* DRIVER_OK: the driver is told */
    return 0;
}

/* The driver writes poison_val (kept only while PAGE_POISON is negotiated). */
static int ev_poison(ctx *c)
{
    unsigned char v[4];
    uint32_t p = tg_chance(&c->r, 50) ? 0u : 0xAAu;
    event(c, "driver writes poison_val 0x%x", (unsigned)p);
    m_st32(v, p, 0);
    vb_config_write(&c->t->dev, 12, v, 4);
    if (c->m.options & VB_OPT_PAGE_POISON) c->m.poison = m_has(&c->m, VB_F_PAGE_POISON) ? p : 0u;
    else c->m.poison = m_has(&c->m, VB_F_PAGE_POISON) ? c->m.poison : 0u;
    return 0;
}

/* ============================================================================================
   Sequences
   ============================================================================================ */

/* A fresh guest + device (cheaper than tg_create: only the RAM this test uses is cleared). */
static int start(ctx *c, uint64_t seed, int profile, int verbose)
{
    tg *t = &T;
    unsigned k;
    memset(c, 0, offsetof(ctx, fail));
    c->t = t;
    c->seed = seed;
    c->r.s = seed;
    c->verbose = verbose;
    event(c, "create the device");
    memset(t, 0, offsetof(tg, mem));
    memset(t->mem, 0, MEM_USED);
    memset((char *)t + offsetof(tg, mem) + TG_MEM, 0, sizeof *t - offsetof(tg, mem) - TG_MEM);
    t->now_ms = 1000 + tg_below(&c->r, 100000);
    set_wall(c, 0);
    t->next_data = TG_DATA;

    c->cfg.profile = (vb_profile)profile;
    k = tg_below(&c->r, 100);
    c->cfg.stat_keys = k < 70 ? 16u : k < 80 ? 10u : k < 88 ? 8u : k < 94 ? 7u : 6u;
    c->cfg.options = (tg_chance(&c->r, 35) ? VB_OPT_FREE_PAGE_HINT : 0u) |
                     (tg_chance(&c->r, 35) ? VB_OPT_PAGE_POISON : 0u) | (tg_chance(&c->r, 35) ? VB_OPT_REPORTING : 0u) |
                     (tg_chance(&c->r, 20) ? VB_OPT_GUEST_BIG_ENDIAN : 0u) |
                     (tg_chance(&c->r, 15) ? VB_OPT_NO_EVENT_IDX : 0u) |
                     (tg_chance(&c->r, 15) ? VB_OPT_NO_INDIRECT : 0u) | (PK ? VB_OPT_RING_PACKED : 0u);
    c->cfg.poll_interval_s = tg_chance(&c->r, 40) ? 1 + tg_below(&c->r, 5) : 0u;
    c->cfg.stale_after = tg_chance(&c->r, 50) ? 0u : 1u + tg_below(&c->r, 4);
    if (vb_init(&t->dev, &c->cfg, model_hosts(), t) != VB_OK) return mismatch(c, "vb_init", "failed", "ok");
    c->m.stale_after = c->cfg.stale_after ? c->cfg.stale_after : 3u;

    c->m.profile = profile;
    c->m.keys = c->cfg.stat_keys;
    c->m.be_opt = (c->cfg.options & VB_OPT_GUEST_BIG_ENDIAN) != 0;
    c->m.options = c->cfg.options;
    c->m.cmd_id = 0x80000000u; /* the first id issued is one more */
    m_stats_unset(&c->m);
    m_set_interval_ms(c, (uint64_t)c->cfg.poll_interval_s * 1000u);
    return check(c);
}

static uint64_t rnd_advance(ctx *c)
{
    uint32_t k = tg_below(&c->r, 100);
    if (k < 10) return 0;
    if (k < 70) return tg_below(&c->r, 3000);
    if (k < 95) return tg_below(&c->r, 20000);
    return tg_rnd(&c->r) % 10000000u;
}

static int64_t rnd_seconds(ctx *c)
{
    switch (tg_below(&c->r, 14)) {
    case 0: return -1;
    case 1: return -(int64_t)(1 + tg_below(&c->r, 1000));
    case 2: return INT64_MIN;
    case 3: return (int64_t)4294967296u; /* 2^32 */
    case 4: return INT64_MAX;
    case 5: return 4294967295; /* accepted */
    case 6:
    case 7: return 0;
    case 8:
    case 9: return (int64_t)(c->m.interval_ms / 1000u); /* the same value (when whole seconds) */
    default: return 1 + tg_below(&c->r, 6);
    }
}

static uint64_t rnd_ms(ctx *c)
{
    switch (tg_below(&c->r, 8)) {
    case 0: return 0;
    case 1: return c->m.interval_ms;
    case 2: return (uint64_t)4294967295u * 1000u + 1u; /* past the QOM range */
    case 3: return (uint64_t)4294967295u * 1000u;
    default: return 1 + tg_below(&c->r, 7000);
    }
}

#define NEV 17 /* kinds of random step */

/* One random step. Weights vary per sequence so that some sequences are reset-heavy, some
   poll-heavy, some misbehaving. */
static int random_step(ctx *c, const unsigned *w)
{
    unsigned total = 0, i, k;
    for (i = 0; i < NEV; i++) total += w[i];
    k = tg_below(&c->r, total);
    for (i = 0; i < NEV && k >= w[i]; i++) k -= w[i];
    switch (i) {
    case 0: {
        unsigned nbuf = tg_chance(&c->r, 85) ? 1u : 2u;
        return ev_post(c, nbuf, tg_chance(&c->r, 88));
    }
    case 1: return ev_kick(c);
    case 2: return ev_advance(c, rnd_advance(c), tg_chance(&c->r, 30), tg_chance(&c->r, 10) ? (int64_t)tg_below(&c->r, 7200) - 3600 : 0);
    case 3: return ev_fire_early(c);
    case 4: {
        uint32_t via = tg_below(&c->r, 10);
        if (via < 4) return ev_set_ms(c, rnd_ms(c));
        return ev_set_seconds(c, rnd_seconds(c), via < 8 ? 0 : via < 9 ? 1 : 2);
    }
    case 5: {
        unsigned mode = tg_below(&c->r, 10);
        return ev_answer(c, mode < 6 ? 0u : mode < 8 ? 1u : 2u, tg_chance(&c->r, 80) ? 0u : tg_below(&c->r, 4));
    }
    case 6: return ev_suppress(c);
    case 7: return ev_virtio_reset(c, tg_chance(&c->r, 50), tg_chance(&c->r, 70), rnd_features(c), rnd_prime(c));
    case 8: return ev_machine_reset(c, tg_chance(&c->r, 20), tg_chance(&c->r, 50), rnd_features(c), rnd_prime(c));
    case 9: return ev_boot(c, rnd_features(c), rnd_prime(c));
    case 10: return ev_migrate(c, tg_chance(&c->r, 50) ? 0u : 1u + tg_below(&c->r, 5));
    case 11: return ev_stats_queue(c, !c->m.qready);
    case 12: return ev_render(c);
    case 13: return ev_report(c);
    case 14: return ev_hint_guest(c);
    case 15: return ev_hint_host(c, tg_below(&c->r, 3));
    default: return ev_poison(c);
    }
}

static int run_sequence(ctx *c, unsigned seq, uint64_t seed, int profile, int verbose)
{
    static const unsigned base[NEV] = {14, 4, 24, 3, 10, 22, 3, 2, 2, 6, 2, 2, 5, 6, 8, 4, 2};
    unsigned w[NEV], i, steps;
    if (start(c, seed, profile, verbose)) return -1;
    c->seq = seq;
    for (i = 0; i < NEV; i++) w[i] = base[i] * (1u + tg_below(&c->r, 3)) / 2u + (i == 9 ? 0u : 1u);
    steps = 50 + tg_below(&c->r, 151);
    c->step = 0;
    event(c, "boot");
    if (boot(c, rnd_features(c), rnd_prime(c)) || check(c)) return -1;
    for (c->step = 1; c->step <= steps; c->step++) {
        if (random_step(c, w) || check(c)) return -1;
    }
    return 0;
}

static unsigned long env_ulong(const char *name, unsigned long dflt)
{
    const char *s = getenv(name);
    return s && *s ? strtoul(s, NULL, 0) : dflt;
}

static int run_random(int profile)
{
    unsigned long n = (env_ulong("VB_MODEL_SEQUENCES", 10000) + 1u) / 2u, i; /* half per profile */
    uint64_t base = (uint64_t)env_ulong("VB_MODEL_SEED", 0x5EED0B411u) ^ (profile ? 0xC0FFEEu : 0u);
    const char *replay = getenv("VB_MODEL_REPLAY");
    unsigned long stale_seqs = 0, late_seqs = 0;
    tg_rng r;
    if (replay && *replay) {
        uint64_t seed = (uint64_t)strtoull(replay, NULL, 0);
        printf("\nreplaying seed 0x%016" PRIx64 " (%s profile)\n", seed, profile ? "qemu" : "doc");
        return run_sequence(&C, 0, seed, profile, 1);
    }
    r.s = base;
    for (i = 0; i < n; i++) {
        uint64_t seed = tg_rnd(&r);
        if (run_sequence(&C, (unsigned)i, seed, profile, 0)) return -1;
        stale_seqs += C.m.stale_count > 0;
        late_seqs += C.m.late > 0;
    }
    /* the sequences must reach what the telemetry tells apart, not only quiet guests */
    if (n >= 100 && (stale_seqs * 50u < n || late_seqs * 50u < n)) {
        snprintf(C.fail, sizeof C.fail, "of %lu sequences only %lu went stale and %lu had a late answer",
                 n, stale_seqs, late_seqs);
        return -1;
    }
    return 0;
}

TEST model_random_sequences_qemu_profile(void)
{
    if (run_random(VB_PROFILE_QEMU)) FAILm(C.fail);
    PASS();
}

TEST model_random_sequences_doc_profile(void)
{
    if (run_random(VB_PROFILE_DOC)) FAILm(C.fail);
    PASS();
}

/* ============================================================================================
   Directed interleavings: the same machinery, fixed scripts, plus explicit expectations (so
   that a misunderstanding shared by the model and the device would still show)
   ============================================================================================ */

#define STEP(call)                                                                          \
    do {                                                                                    \
        C.step++;                                                                           \
        if ((call) || check(&C)) FAILm(C.fail);                                             \
    } while (0)

/* A qemu-profile device with a Linux guest that primed before DRIVER_OK; polling off. */
static int directed_start(uint64_t seed, unsigned options, uint64_t features)
{
    C.seq = 0;
    if (start(&C, seed, VB_PROFILE_QEMU, 0)) return -1;
    /* undo the random configuration choices: a plain device */
    C.cfg.stat_keys = 16;
    C.cfg.options = options;
    C.cfg.poll_interval_s = 0;
    C.cfg.stale_after = 0;
    vb_destroy(&T.dev);
    if (vb_init(&T.dev, &C.cfg, model_hosts(), &T) != VB_OK) return -1;
    memset(&C.m, 0, sizeof C.m);
    C.m.profile = VB_PROFILE_QEMU;
    C.m.keys = 16;
    C.m.be_opt = (options & VB_OPT_GUEST_BIG_ENDIAN) != 0;
    C.m.stale_after = 3;
    C.m.options = options;
    C.m.cmd_id = 0x80000000u;
    m_stats_unset(&C.m);
    memset(T.irq, 0, sizeof T.irq);
    T.config_irqs = 0;
    T.armed = 0;
    T.stale_calls = 0;
    C.step = 0;
    event(&C, "directed boot");
    return boot(&C, features, 1) || check(&C);
}

static unsigned held_slot(void) { return C.m.held ? C.m.held_slot : 99u; }

/* Poll outstanding while the interval changes: the fire finds nothing held and only re-arms;
   the guest's answer re-arms again. */
TEST model_interval_change_with_poll_outstanding(void)
{
    ASSERT_EQ(0, directed_start(1, 0, TG_LINUX_FEATURES));
    STEP(ev_set_seconds(&C, 2, 0));
    ASSERT_EQ(T.now_ms, vb_next_deadline(&T.dev)); /* enabling polls at once */
    STEP(ev_advance(&C, 0, 0, 0));                 /* the poll returns the primer */
    ASSERT_EQ(0, C.m.held);
    ASSERT_EQ(UINT64_MAX, vb_poll_deadline(&T.dev));
    ASSERT_EQ(T.now_ms + 2000u, vb_next_deadline(&T.dev)); /* only the watch */
    STEP(ev_set_seconds(&C, 5, 1)); /* N -> M with the poll outstanding */
    ASSERT_EQ(T.now_ms + 5000u, vb_next_deadline(&T.dev));
    STEP(ev_advance(&C, 5000, 0, 0)); /* nothing held: re-arm only */
    ASSERT_EQ(T.now_ms + 5000u, vb_next_deadline(&T.dev));
    ASSERT_EQ(1u, vb_get_counters(&T.dev)->polls);
    STEP(ev_advance(&C, 1234, 0, 0));
    STEP(ev_answer(&C, 0, 0)); /* the answer re-arms from now */
    ASSERT_EQ(T.now_ms + 5000u, vb_next_deadline(&T.dev));
    STEP(ev_set_seconds(&C, 5, 0)); /* same value: nothing */
    ASSERT_EQ(T.now_ms + 5000u, vb_next_deadline(&T.dev));
    STEP(ev_set_seconds(&C, 0, 0)); /* off: stats stay */
    ASSERT_EQ(UINT64_MAX, vb_next_deadline(&T.dev));
    ASSERT(C.m.reported);
    PASS();
}

/* Two buffers before one kick: one pop; a spurious kick takes the second and returns the
   first; the poll returns the second. */
TEST model_two_buffers_one_kick(void)
{
    ASSERT_EQ(0, directed_start(2, 0, TG_LINUX_FEATURES & ~TG_F(VB_F_RING_EVENT_IDX)));
    STEP(ev_answer(&C, 2, 0));
    STEP(ev_post(&C, 2, 1)); /* held primer returned, first new one held, second waits */
    ASSERT_EQ(1u, vb_get_counters(&T.dev)->duplicates);
    ASSERT_EQ(1, tg_used_idx(&T, SQ));
    STEP(ev_kick(&C));
    ASSERT_EQ(2u, vb_get_counters(&T.dev)->duplicates);
    ASSERT_EQ(2, tg_used_idx(&T, SQ));
    STEP(ev_kick(&C)); /* really spurious now */
    ASSERT_EQ(2, tg_used_idx(&T, SQ));
    STEP(ev_set_ms(&C, 10));
    STEP(ev_advance(&C, 0, 0, 0));
    ASSERT_EQ(3, tg_used_idx(&T, SQ));
    ASSERT_EQ(3u, C.m.irq[SQ]);
    PASS();
}

/* Virtio reset with a held buffer and a published, un-kicked one: un-popped, never used;
   the re-initialised driver starts from index 0 and DRIVER_OK rewinds nothing. */
TEST model_reset_with_held_and_pending(void)
{
    ASSERT_EQ(0, directed_start(3, 0, TG_LINUX_FEATURES));
    STEP(ev_post(&C, 1, 0));
    STEP(ev_set_seconds(&C, 1, 0));
    STEP(ev_virtio_reset(&C, 1, 0, 0, 0));
    ASSERT_EQ(0, tg_used_idx(&T, SQ));
    ASSERT(C.m.reported); /* stats, timer, interval stay */
    ASSERT_EQ(T.now_ms, vb_next_deadline(&T.dev));
    STEP(ev_advance(&C, 3500, 0, 0)); /* no driver: the timer keeps re-arming */
    ASSERT_EQ(0u, vb_get_counters(&T.dev)->polls);
    STEP(ev_boot(&C, TG_LINUX_FEATURES, 2)); /* primer after DRIVER_OK */
    ASSERT_EQ(2u, vb_get_counters(&T.dev)->updates);
    ASSERT_EQ(0, tg_used_idx(&T, SQ));
    PASS();
}

/* Machine reset while a poll is outstanding; the timer runs while the guest is down; S3. */
TEST model_machine_reset_during_poll(void)
{
    ASSERT_EQ(0, directed_start(4, 0, TG_LINUX_FEATURES));
    STEP(ev_set_seconds(&C, 3, 0));
    STEP(ev_advance(&C, 1, 0, 0)); /* poll: buffer returned */
    STEP(ev_machine_reset(&C, 1, 0, 0, 0)); /* S3 wake-up: nothing */
    ASSERT(C.m.reported);
    STEP(ev_machine_reset(&C, 0, 0, 0, 0));
    ASSERT_EQ(0, vb_last_update(&T.dev));
    ASSERT_EQ(3000u, vb_poll_interval_ms(&T.dev));
    STEP(ev_advance(&C, 10000, 0, 0));
    STEP(ev_advance(&C, 10000, 1, 0));
    STEP(ev_boot(&C, TG_LINUX_FEATURES, 1));
    ASSERT(C.m.reported);
    STEP(ev_render(&C));
    PASS();
}

/* Early, late and spurious timer runs. */
TEST model_early_late_spurious_fires(void)
{
    ASSERT_EQ(0, directed_start(5, 0, TG_LINUX_FEATURES));
    STEP(ev_set_ms(&C, 1500));
    STEP(ev_advance(&C, 0, 0, 0));
    STEP(ev_answer(&C, 0, 0));
    STEP(ev_advance(&C, 700, 0, 0));
    STEP(ev_fire_early(&C)); /* too early: nothing, the host timer is armed again */
    ASSERT_EQ(1, T.armed);
    STEP(ev_advance(&C, 90000, 1, 0)); /* late: one poll at the late time */
    ASSERT_EQ(UINT64_MAX, vb_poll_deadline(&T.dev));
    STEP(ev_fire_early(&C)); /* before the watch's deadline: nothing */
    STEP(ev_answer(&C, 0, 0));
    ASSERT_EQ(T.now_ms + 1500u, vb_next_deadline(&T.dev));
    PASS();
}

/* Migration with a held buffer and a published, un-kicked one behind it; the destination has
   polling off; the rewound buffer is re-read, then the pending one is taken by the next kick. */
TEST model_migrate_held_and_pending(void)
{
    unsigned before;
    ASSERT_EQ(0, directed_start(6, 0, TG_LINUX_FEATURES));
    before = held_slot();
    STEP(ev_post(&C, 1, 0));
    STEP(ev_advance(&C, 60000, 0, 3));
    STEP(ev_migrate(&C, 0));
    ASSERT_EQ(before, held_slot());
    ASSERT_EQ(1u, vb_get_counters(&T.dev)->updates);
    ASSERT_EQ(T.wall, vb_last_update(&T.dev));
    ASSERT_EQ(UINT64_MAX, vb_next_deadline(&T.dev));
    STEP(ev_kick(&C));
    ASSERT_EQ(1u, vb_get_counters(&T.dev)->duplicates);
    STEP(ev_migrate(&C, 4)); /* again, with polling on: post_load + rewind re-arm */
    ASSERT_EQ(T.now_ms + 4000u, vb_next_deadline(&T.dev));
    STEP(ev_advance(&C, 4000, 0, 0));
    ASSERT_EQ(1u, vb_get_counters(&T.dev)->polls);
    PASS();
}

/* Migration while the poll is outstanding (nothing in flight): no rewind, stats stay empty
   until the guest answers. */
TEST model_migrate_poll_outstanding(void)
{
    ASSERT_EQ(0, directed_start(7, 0, TG_LINUX_FEATURES));
    STEP(ev_set_seconds(&C, 1, 0));
    STEP(ev_advance(&C, 0, 0, 0));
    STEP(ev_migrate(&C, 2));
    ASSERT_EQ(0, C.m.reported);
    ASSERT_EQ(0u, vb_get_counters(&T.dev)->updates);
    STEP(ev_answer(&C, 0, 0));
    ASSERT_EQ(1u, vb_get_counters(&T.dev)->updates);
    ASSERT_EQ(T.now_ms + 2000u, vb_next_deadline(&T.dev));
    PASS();
}

/* Without STATS_VQ the timer never returns the buffer; only a second buffer does. Legacy
   big-endian guest, no EVENT_IDX. */
TEST model_no_stats_vq_legacy_be(void)
{
    ASSERT_EQ(0, directed_start(8, VB_OPT_GUEST_BIG_ENDIAN, TG_F(VB_F_RING_INDIRECT_DESC)));
    ASSERT(C.m.reported);
    STEP(ev_set_ms(&C, 100));
    STEP(ev_advance(&C, 1000, 0, 0));
    ASSERT_EQ(0u, vb_get_counters(&T.dev)->polls);
    ASSERT_EQ(T.now_ms + 100u, vb_next_deadline(&T.dev)); /* re-armed every time */
    STEP(ev_post(&C, 1, 1));
    ASSERT_EQ(1u, vb_get_counters(&T.dev)->duplicates);
    STEP(ev_suppress(&C)); /* NO_INTERRUPT on */
    STEP(ev_post(&C, 1, 1));
    ASSERT_EQ(1u, C.m.irq[SQ]);
    STEP(ev_render(&C));
    PASS();
}

/* EVENT_IDX: a guest that asks for its interrupt later gets fewer of them. */
TEST model_event_idx_suppression(void)
{
    ASSERT_EQ(0, directed_start(9, 0, TG_LINUX_FEATURES));
    STEP(ev_answer(&C, 2, 3)); /* used_event = 3 */
    STEP(ev_set_ms(&C, 5));
    STEP(ev_advance(&C, 0, 0, 0)); /* used idx 1: the first signal after a reset always goes */
    ASSERT_EQ(1u, C.m.irq[SQ]);
    STEP(ev_post(&C, 1, 1)); /* held again, nothing returned */
    STEP(ev_post(&C, 1, 1)); /* used idx 2: quiet */
    ASSERT_EQ(1u, C.m.irq[SQ]);
    STEP(ev_post(&C, 1, 1)); /* used idx 3: quiet */
    STEP(ev_post(&C, 1, 1)); /* used idx 4: crosses used_event 3 */
    ASSERT_EQ(2u, C.m.irq[SQ]);
    PASS();
}

/* Stopping the stats queue un-pops the held buffer; while stopped, kicks are ignored and the
   timer only re-arms; after a restart the next kick reads the same buffer again. */
TEST model_stats_queue_stop_restart(void)
{
    unsigned before;
    ASSERT_EQ(0, directed_start(10, 0, TG_LINUX_FEATURES));
    before = held_slot();
    STEP(ev_set_ms(&C, 500));
    STEP(ev_stats_queue(&C, 0));
    ASSERT_EQ(0, C.m.held);
    STEP(ev_kick(&C)); /* ignored: no re-arm */
    STEP(ev_advance(&C, 2000, 0, 0)); /* re-arm only, no poll */
    ASSERT_EQ(0u, vb_get_counters(&T.dev)->polls);
    ASSERT_EQ(0, tg_used_idx(&T, SQ));
    STEP(ev_stats_queue(&C, 1));
    STEP(ev_kick(&C)); /* the same buffer, read again */
    ASSERT_EQ(before, held_slot());
    ASSERT_EQ(2u, vb_get_counters(&T.dev)->updates);
    STEP(ev_advance(&C, 500, 0, 0));
    ASSERT_EQ(1u, vb_get_counters(&T.dev)->polls);
    PASS();
}

static void model_tests(void)
{
    RUN_TEST(model_interval_change_with_poll_outstanding);
    RUN_TEST(model_two_buffers_one_kick);
    RUN_TEST(model_reset_with_held_and_pending);
    RUN_TEST(model_machine_reset_during_poll);
    RUN_TEST(model_early_late_spurious_fires);
    RUN_TEST(model_migrate_held_and_pending);
    RUN_TEST(model_migrate_poll_outstanding);
    RUN_TEST(model_no_stats_vq_legacy_be);
    RUN_TEST(model_event_idx_suppression);
    RUN_TEST(model_stats_queue_stop_restart);
    RUN_TEST(model_random_sequences_qemu_profile);
    RUN_TEST(model_random_sequences_doc_profile);
}

/* The suite on each memory path (tests/guest.h): copy (read/write) and map. */
SUITE(model)
{
    tg_set_map_path(0);
    model_tests();
}

SUITE(model_map)
{
    tg_set_map_path(1);
    model_tests();
    tg_set_map_path(0);
}

/* The packed layout, each path: the random sequences (the directed scripts read split rings). */
static void model_packed_tests(void)
{
    PK = 1;
    RUN_TEST(model_random_sequences_qemu_profile);
    RUN_TEST(model_random_sequences_doc_profile);
    PK = 0;
}

SUITE(model_packed)
{
    tg_set_map_path(0);
    model_packed_tests();
}

SUITE(model_packed_map)
{
    tg_set_map_path(1);
    model_packed_tests();
    tg_set_map_path(0);
}
