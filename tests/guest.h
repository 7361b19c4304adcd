/* tests/guest.h - a scriptable test guest for vballoon.h: guest RAM, host callbacks that record
   everything, and a driver that can build any ring (well-formed or hostile) byte by byte.

   Layout of guest RAM (TG_MEM bytes at guest-physical 0):
     queue q rings at TG_RING(q): descriptors, then avail ring, then used ring (4-aligned)
     data buffers from TG_DATA upward, handed out by tg_alloc()
   Every access the device makes goes through tg_read/tg_write, which count it and refuse
   anything outside RAM or inside the "deny" window.

   Two memory paths: the copy path (tg_host: read/write only) and the map path (tg_host_map:
   also map, which hands out pointers into t->mem and refuses exactly what tg_read/tg_write
   refuse, so a refused range falls back to a read that fails as before). tg_set_map_path(1)
   makes tg_create / tg_hosts() use the map path in the calling file: a suite runs its tests
   once on each path. On the map path the device loads ring fields straight from t->mem (no
   read() call), so counts of reads are copy-path facts; t->maps / t->data_maps count maps.

   Both ring layouts: the split helpers (tg_queue, tg_publish, tg_used ...) and the packed ones
   (tg_pk_queue, tg_pk_post, tg_pk_used ...: VIRTIO_F_RING_PACKED, in the same TG_RING(q) space). */
#ifndef TESTS_GUEST_H
#define TESTS_GUEST_H

#include <stdint.h>
#include <string.h>

#include "../vballoon.h"

#define TG_MEM (1u << 20)
#define TG_RING(q) (0x1000u + 0x4000u * (unsigned)(q))
#define TG_DATA 0x20000u
#define TG_MAX_PAGES 64

typedef struct tg_range {
    unsigned queue;
    uint64_t gpa, len;
} tg_range;

typedef struct tg {
    vb_device dev;
    unsigned char mem[TG_MEM];
    uint64_t deny_lo, deny_hi; /* [lo, hi) refused by the host */
    uint64_t now_ms;
    int64_t wall;
    int be; /* write ring fields and stats big-endian (a legacy big-endian guest) */

    /* what the device did */
    unsigned reads, writes, failed_reads, failed_writes;
    unsigned maps, failed_maps; /* map() calls, and the refused ones */
    unsigned data_maps;         /* granted maps of the data area (gpa >= TG_DATA) */
    int map_refuse;             /* map() refuses everything (the device falls back to read) */
    unsigned irq[VB_QUEUE_MAX], config_irqs; /* by queue index */
    unsigned arms, cancels;
    int armed;
    uint64_t deadline;
    unsigned log_count[VB_LOG_ITEM_COUNT];
    vb_log_item last_log;
    tg_range pages[TG_MAX_PAGES];
    unsigned npages;
    uint32_t actual_seen;
    unsigned actual_calls;
    unsigned stale_calls; /* stats_stale() calls */
    int stale_seen;       /* ... and the last one's argument */

    /* driver side */
    uint16_t qsize[VB_QUEUE_MAX];
    uint16_t avail_idx[VB_QUEUE_MAX];
    uint16_t used_seen[VB_QUEUE_MAX];
    uint64_t next_data;
    char out[4096];

    /* packed driver side, by queue (tg_pk_*) */
    uint8_t pk[VB_QUEUE_MAX];           /* set up as a packed ring */
    uint16_t pk_next[VB_QUEUE_MAX];     /* the slot the next chain starts at ... */
    uint8_t pk_wrap[VB_QUEUE_MAX];      /* ... and the driver's avail wrap counter */
    uint16_t pk_used[VB_QUEUE_MAX];     /* the slot the next used descriptor appears at ... */
    uint8_t pk_used_wrap[VB_QUEUE_MAX]; /* ... and its wrap counter */
    uint16_t pk_inflight[VB_QUEUE_MAX]; /* ring descriptors posted and not seen used */
    uint16_t pk_len[VB_QUEUE_MAX][VB_QUEUE_SIZE_MAX]; /* ring descriptors of the chain of id i */
} tg;

/* ---- host callbacks -------------------------------------------------------------------------- */

static inline int tg_ok(tg *t, uint64_t gpa, size_t len)
{
    if (gpa > TG_MEM || len > TG_MEM - gpa) return 0;
    if (len && gpa < t->deny_hi && gpa + len > t->deny_lo) return 0;
    return 1;
}

static inline int tg_read(void *user, uint64_t gpa, void *dst, size_t len)
{
    tg *t = (tg *)user;
    t->reads++;
    if (!tg_ok(t, gpa, len)) {
        t->failed_reads++;
        return -1;
    }
    memcpy(dst, t->mem + gpa, len);
    return 0;
}

static inline int tg_write(void *user, uint64_t gpa, const void *src, size_t len)
{
    tg *t = (tg *)user;
    t->writes++;
    if (!tg_ok(t, gpa, len)) {
        t->failed_writes++;
        return -1;
    }
    memcpy(t->mem + gpa, src, len);
    return 0;
}

static inline uint64_t tg_now(void *user) { return ((tg *)user)->now_ms; }
static inline int64_t tg_wall(void *user) { return ((tg *)user)->wall; }

static inline void tg_arm(void *user, uint64_t deadline)
{
    tg *t = (tg *)user;
    t->arms++;
    t->armed = 1;
    t->deadline = deadline;
}

static inline void tg_cancel(void *user)
{
    tg *t = (tg *)user;
    t->cancels++;
    t->armed = 0;
}

static inline void tg_notify(void *user, unsigned q) { ((tg *)user)->irq[q]++; }
static inline void tg_notify_config(void *user) { ((tg *)user)->config_irqs++; }

static inline void tg_pages(void *user, unsigned q, uint64_t gpa, uint64_t len)
{
    tg *t = (tg *)user;
    if (t->npages < TG_MAX_PAGES) {
        t->pages[t->npages].queue = q;
        t->pages[t->npages].gpa = gpa;
        t->pages[t->npages].len = len;
    }
    t->npages++;
}

static inline void tg_actual(void *user, uint32_t actual)
{
    tg *t = (tg *)user;
    t->actual_seen = actual;
    t->actual_calls++;
}

static inline void tg_log(void *user, vb_log_level level, vb_log_item item, const char *msg)
{
    tg *t = (tg *)user;
    (void)level;
    (void)msg;
    t->log_count[item]++;
    t->last_log = item;
}

static inline void tg_stale(void *user, int stale)
{
    tg *t = (tg *)user;
    t->stale_calls++;
    t->stale_seen = stale;
}

/* The direct path: a pointer into t->mem for what tg_read/tg_write would accept. */
static inline void *tg_map(void *user, uint64_t gpa, uint64_t len, int write)
{
    tg *t = (tg *)user;
    (void)write;
    t->maps++;
    if (t->map_refuse || len > TG_MEM || !tg_ok(t, gpa, (size_t)len)) {
        t->failed_maps++;
        return NULL;
    }
    if (gpa >= TG_DATA) t->data_maps++;
    return t->mem + gpa;
}

static const vb_host tg_host = {tg_read,   tg_write,        tg_now,   tg_arm,
                                tg_cancel, tg_wall,         tg_notify, tg_notify_config,
                                tg_pages,  tg_actual,       tg_log,   tg_stale, 0};

static const vb_host tg_host_map = {tg_read,   tg_write,  tg_now,    tg_arm,
                                    tg_cancel, tg_wall,   tg_notify, tg_notify_config,
                                    tg_pages,  tg_actual, tg_log,    tg_stale, tg_map};

/* The memory path of this file's tests: 0 copy (read/write), 1 map. */
static inline int *tg_map_path_flag(void)
{
    static int on;
    return &on;
}
static inline void tg_set_map_path(int on) { *tg_map_path_flag() = on; }
static inline int tg_map_path(void) { return *tg_map_path_flag(); }

/* `h` on the current path: on the map path, the same table with map = tg_map (h's own map,
   if it has one, is kept). Up to 16 distinct tables. */
static inline const vb_host *tg_on_path(const vb_host *h)
{
    static vb_host copies[16];
    static const vb_host *from[16];
    unsigned i;
    if (!tg_map_path() || h->map) return h;
    if (h == &tg_host) return &tg_host_map;
    for (i = 0; i < 16; i++) {
        if (from[i] == h) return &copies[i];
        if (!from[i]) {
            from[i] = h;
            copies[i] = *h;
            copies[i].map = tg_map;
            return &copies[i];
        }
    }
    return h;
}

/* The tg host table of the current path. */
static inline const vb_host *tg_hosts(void) { return tg_on_path(&tg_host); }

/* ---- guest memory helpers (in the guest's byte order) ----------------------------------------- */

static inline void tg_put16(tg *t, uint64_t gpa, uint16_t v)
{
    t->mem[gpa + (t->be ? 0u : 1u)] = (unsigned char)(v >> 8);
    t->mem[gpa + (t->be ? 1u : 0u)] = (unsigned char)v;
}

static inline void tg_put32(tg *t, uint64_t gpa, uint32_t v)
{
    tg_put16(t, gpa + (t->be ? 2u : 0u), (uint16_t)v);
    tg_put16(t, gpa + (t->be ? 0u : 2u), (uint16_t)(v >> 16));
}

static inline void tg_put64(tg *t, uint64_t gpa, uint64_t v)
{
    tg_put32(t, gpa + (t->be ? 4u : 0u), (uint32_t)v);
    tg_put32(t, gpa + (t->be ? 0u : 4u), (uint32_t)(v >> 32));
}

static inline uint16_t tg_get16(const tg *t, uint64_t gpa)
{
    unsigned hi = t->mem[gpa + (t->be ? 0u : 1u)], lo = t->mem[gpa + (t->be ? 1u : 0u)];
    return (uint16_t)(hi << 8 | lo);
}

static inline uint32_t tg_get32(const tg *t, uint64_t gpa)
{
    uint32_t a = tg_get16(t, gpa), b = tg_get16(t, gpa + 2);
    return t->be ? (a << 16 | b) : (b << 16 | a);
}

/* ---- ring addresses ---------------------------------------------------------------------------- */

static inline uint64_t tg_desc_addr(unsigned q) { return TG_RING(q); }
static inline uint64_t tg_avail_addr(const tg *t, unsigned q) { return TG_RING(q) + 16u * t->qsize[q]; }
/* A packed queue (tg_pk_queue): the driver event suppression area at tg_avail_addr, the device
   area 4 bytes after it. */
static inline uint64_t tg_used_addr(const tg *t, unsigned q)
{
    if (t->pk[q]) return tg_avail_addr(t, q) + 4u;
    return (tg_avail_addr(t, q) + 6u + 2u * t->qsize[q] + 3u) & ~(uint64_t)3;
}

/* ---- device bring-up ------------------------------------------------------------------------- */

#define TG_F(bit) ((uint64_t)1 << (bit))
#define TG_LINUX_FEATURES                                                                   \
    (TG_F(VB_F_STATS_VQ) | TG_F(VB_F_VERSION_1) | TG_F(VB_F_RING_EVENT_IDX) |              \
     TG_F(VB_F_RING_INDIRECT_DESC))

/* Create the device only (no driver). */
static inline int tg_create(tg *t, const vb_config *cfg)
{
    memset(t, 0, sizeof *t);
    t->wall = 1358529861;
    t->now_ms = 1000;
    t->next_data = TG_DATA;
    return vb_init(&t->dev, cfg, tg_hosts(), t) == VB_OK ? 0 : -1;
}

/* Set up one queue of the given size in guest RAM and start it. */
static inline int tg_queue(tg *t, unsigned q, uint16_t size)
{
    t->qsize[q] = size;
    t->avail_idx[q] = t->used_seen[q] = 0;
    t->pk[q] = 0;
    if (vb_queue_setup(&t->dev, q, size, tg_desc_addr(q), tg_avail_addr(t, q), tg_used_addr(t, q)) != VB_OK)
        return -1;
    return vb_queue_set_ready(&t->dev, q, 1) == VB_OK ? 0 : -1;
}

/* The driver's probe up to (not including) DRIVER_OK: features, FEATURES_OK, three queues. */
static inline int tg_probe(tg *t, uint64_t features)
{
    unsigned q;
    vb_set_status(&t->dev, VB_S_ACKNOWLEDGE | VB_S_DRIVER);
    vb_set_driver_features(&t->dev, features);
    if (features & TG_F(VB_F_VERSION_1)) {
        vb_set_status(&t->dev, VB_S_ACKNOWLEDGE | VB_S_DRIVER | VB_S_FEATURES_OK);
        if (!(vb_status(&t->dev) & VB_S_FEATURES_OK)) return -1;
    }
    for (q = 0; q < VB_QUEUE_COUNT; q++)
        if (tg_queue(t, q, 128)) return -1;
    return 0;
}

static inline void tg_driver_ok(tg *t)
{
    vb_set_status(&t->dev, (uint8_t)(vb_status(&t->dev) | VB_S_DRIVER_OK));
}

/* Device + driver with the given features, DRIVER_OK set, nothing posted yet. */
static inline int tg_start(tg *t, const vb_config *cfg, uint64_t features)
{
    if (tg_create(t, cfg) || tg_probe(t, features)) return -1;
    tg_driver_ok(t);
    return 0;
}

/* ---- building rings ------------------------------------------------------------------------- */

static inline uint64_t tg_alloc(tg *t, uint32_t len)
{
    uint64_t gpa = t->next_data;
    t->next_data = (t->next_data + len + 15u) & ~(uint64_t)15;
    return gpa;
}

/* Write descriptor `i` of a table at `table`. */
static inline void tg_desc_at(tg *t, uint64_t table, uint32_t i, uint64_t addr, uint32_t len,
                       uint16_t flags, uint16_t next)
{
    uint64_t p = table + 16u * i;
    tg_put64(t, p, addr);
    tg_put32(t, p + 8, len);
    tg_put16(t, p + 12, flags);
    tg_put16(t, p + 14, next);
}

static inline void tg_desc(tg *t, unsigned q, uint32_t i, uint64_t addr, uint32_t len, uint16_t flags,
                    uint16_t next)
{
    tg_desc_at(t, tg_desc_addr(q), i, addr, len, flags, next);
}

/* Publish head `head` in the avail ring (does not kick). */
static inline void tg_publish(tg *t, unsigned q, uint16_t head)
{
    uint64_t avail = tg_avail_addr(t, q);
    tg_put16(t, avail + 4u + 2u * (t->avail_idx[q] % t->qsize[q]), head);
    t->avail_idx[q]++;
    tg_put16(t, avail + 2u, t->avail_idx[q]);
}

static inline void tg_set_avail_idx(tg *t, unsigned q, uint16_t idx)
{
    t->avail_idx[q] = idx;
    tg_put16(t, tg_avail_addr(t, q) + 2u, idx);
}

static inline void tg_kick(tg *t, unsigned q) { vb_queue_notify(&t->dev, q); }

/* 10-byte stats records at gpa. */
static inline uint32_t tg_records(tg *t, uint64_t gpa, const uint16_t *tags, const uint64_t *vals, unsigned n)
{
    unsigned i;
    for (i = 0; i < n; i++) {
        tg_put16(t, gpa + 10u * i, tags[i]);
        tg_put64(t, gpa + 10u * i + 2u, vals[i]);
    }
    return 10u * n;
}

/* One stats buffer in one descriptor (descriptor index = head), published; not kicked. */
static inline uint16_t tg_stats_buffer(tg *t, uint16_t head, const uint16_t *tags, const uint64_t *vals, unsigned n)
{
    uint64_t gpa = tg_alloc(t, 10u * n + 1u);
    uint32_t len = tg_records(t, gpa, tags, vals, n);
    tg_desc(t, VB_QUEUE_STATS, head, gpa, len ? len : 1u, 0, 0);
    tg_publish(t, VB_QUEUE_STATS, head);
    return head;
}

/* Linux 6.1's ten stats, in its send order, with values derived from `seed`. */
static const uint16_t tg_linux61_tags[10] = {0, 1, 2, 3, 8, 9, 4, 5, 6, 7};
static const uint16_t tg_linux612_tags[16] = {0, 1, 2, 3, 10, 11, 12, 13, 14, 15, 8, 9, 4, 5, 6, 7};

static inline void tg_values(uint64_t *vals, const uint16_t *tags, unsigned n, uint64_t seed)
{
    unsigned i;
    for (i = 0; i < n; i++) vals[i] = seed * 1000u + tags[i];
}

/* Post a Linux-like stats buffer (head 0) and kick. */
static inline void tg_send_stats(tg *t, unsigned n, uint64_t seed)
{
    uint64_t vals[16];
    const uint16_t *tags = n == 16 ? tg_linux612_tags : tg_linux61_tags;
    tg_values(vals, tags, n, seed);
    tg_stats_buffer(t, 0, tags, vals, n);
    tg_kick(t, VB_QUEUE_STATS);
}

/* New used elements since the last call (ids/lens optional). */
static inline unsigned tg_used(tg *t, unsigned q, uint32_t *ids, uint32_t *lens, unsigned max)
{
    uint64_t used = tg_used_addr(t, q);
    uint16_t idx = tg_get16(t, used + 2u);
    unsigned n = 0;
    while (t->used_seen[q] != idx) {
        uint64_t e = used + 4u + 8u * (t->used_seen[q] % t->qsize[q]);
        if (n < max) {
            if (ids) ids[n] = tg_get32(t, e);
            if (lens) lens[n] = tg_get32(t, e + 4u);
        }
        n++;
        t->used_seen[q]++;
    }
    return n;
}

static inline uint16_t tg_used_idx(const tg *t, unsigned q) { return tg_get16(t, tg_used_addr(t, q) + 2u); }

/* Advance the VM clock and run the timer if it fell due. */
static inline void tg_advance(tg *t, uint64_t ms)
{
    t->now_ms += ms;
    if (t->armed && t->deadline <= t->now_ms) {
        t->armed = 0;
        vb_timer_expired(&t->dev);
    }
}

/* Jump to the armed deadline and fire. */
static inline void tg_fire(tg *t)
{
    if (t->deadline > t->now_ms) t->now_ms = t->deadline;
    t->armed = 0;
    vb_timer_expired(&t->dev);
}

static inline const char *tg_render(tg *t, unsigned flags)
{
    vb_render_guest_stats(&t->dev, t->out, sizeof t->out, flags);
    return t->out;
}

static inline uint64_t tg_stat(const tg *t, unsigned tag)
{
    uint64_t v;
    vb_stat(&t->dev, tag, &v);
    return v;
}

/* A log item's name, for ASSERT_ENUM_EQ messages. */
static inline const char *tg_log_name(int item)
{
    static const char *const names[] = {
        "NONE",
#define TG_LOG_NAME(id, level, msg) #id,
        VB_LOG_ITEMS(TG_LOG_NAME)
#undef TG_LOG_NAME
    };
    return item >= 0 && item < VB_LOG_ITEM_COUNT ? names[item] : "?";
}

/* ---- the packed ring (VIRTIO_F_RING_PACKED) -------------------------------------------------
   Layout in TG_RING(q): the descriptor ring (16 * size bytes), then the driver event suppression
   area (4 bytes: off_wrap, flags), then the device's (tg_avail_addr / tg_used_addr of a packed
   queue). The driver side keeps what Linux keeps: the next slot and its wrap counter, the next
   used slot and its wrap counter, and each id's chain length (the used slot moves on by it).
   Ids are the head's slot unless the caller picks one. Packed needs VERSION_1: little-endian. */

#define TG_PK_AVAIL 0x0080u /* VRING_PACKED_DESC_F_AVAIL (bit 7) */
#define TG_PK_USED 0x8000u  /* VRING_PACKED_DESC_F_USED (bit 15) */
#define TG_PK_ENABLE 0u     /* event suppression flags */
#define TG_PK_DISABLE 1u
#define TG_PK_DESC 2u
#define TG_PK_FEATURES (TG_LINUX_FEATURES | TG_F(VB_F_RING_PACKED))

typedef struct tg_seg {
    uint64_t addr;
    uint32_t len;
    uint16_t flags; /* VRING_DESC_F_WRITE (2), _INDIRECT (4); NEXT and AVAIL/USED are added */
} tg_seg;

/* AVAIL/USED of a descriptor made available in wrap `wrap`: AVAIL = wrap, USED = !wrap. */
static inline uint16_t tg_pk_avail_bits(int wrap) { return (uint16_t)(wrap ? TG_PK_AVAIL : TG_PK_USED); }
/* ... for the driver's current wrap */
static inline uint16_t tg_pk_bits(const tg *t, unsigned q) { return tg_pk_avail_bits(t->pk_wrap[q]); }
/* A base in the vhost-user encoding: bits 0-14 index, bit 15 wrap. */
static inline uint16_t tg_pk_base(uint16_t idx, int wrap) { return (uint16_t)(idx | (wrap ? 0x8000u : 0u)); }

static inline uint64_t tg_pk_slot_addr(unsigned q, uint32_t slot) { return tg_desc_addr(q) + 16u * slot; }

/* Descriptor i of a packed table (the ring, or an indirect table) at `table`. */
static inline void tg_pk_desc_at(tg *t, uint64_t table, uint32_t i, uint64_t addr, uint32_t len, uint16_t id,
                                 uint16_t flags)
{
    uint64_t p = table + 16u * i;
    tg_put64(t, p, addr);
    tg_put32(t, p + 8, len);
    tg_put16(t, p + 12, id);
    tg_put16(t, p + 14, flags);
}

static inline void tg_pk_desc(tg *t, unsigned q, uint32_t slot, uint64_t addr, uint32_t len, uint16_t id,
                              uint16_t flags)
{
    tg_pk_desc_at(t, tg_desc_addr(q), slot, addr, len, id, flags);
}

static inline uint16_t tg_pk_slot_flags(const tg *t, unsigned q, uint32_t slot)
{
    return tg_get16(t, tg_pk_slot_addr(q, slot) + 14u);
}
static inline uint16_t tg_pk_slot_id(const tg *t, unsigned q, uint32_t slot)
{
    return tg_get16(t, tg_pk_slot_addr(q, slot) + 12u);
}

/* The driver's view of a fresh ring of `size` (index 0, wrap 1; ring and areas zeroed, as Linux
   allocates them), without telling the device. */
static inline void tg_pk_reset(tg *t, unsigned q, uint16_t size)
{
    t->qsize[q] = size;
    t->pk[q] = 1;
    t->pk_next[q] = t->pk_used[q] = 0;
    t->pk_wrap[q] = t->pk_used_wrap[q] = 1;
    t->pk_inflight[q] = 0;
    memset(t->pk_len[q], 0, sizeof t->pk_len[q]);
    memset(t->mem + tg_desc_addr(q), 0, 16u * size + 8u);
}

/* Set up one packed queue of `size` (features must be set) and start it. */
static inline int tg_pk_queue(tg *t, unsigned q, uint16_t size)
{
    tg_pk_reset(t, q, size);
    if (vb_queue_setup(&t->dev, q, size, tg_desc_addr(q), tg_avail_addr(t, q), tg_used_addr(t, q)) != VB_OK)
        return -1;
    return vb_queue_set_ready(&t->dev, q, 1) == VB_OK ? 0 : -1;
}

/* tg_probe with packed queues of `size`: `features` should include VB_F_RING_PACKED. */
static inline int tg_pk_probe(tg *t, uint64_t features, uint16_t size)
{
    unsigned q;
    vb_set_status(&t->dev, VB_S_ACKNOWLEDGE | VB_S_DRIVER);
    vb_set_driver_features(&t->dev, features);
    vb_set_status(&t->dev, VB_S_ACKNOWLEDGE | VB_S_DRIVER | VB_S_FEATURES_OK);
    if (!(vb_status(&t->dev) & VB_S_FEATURES_OK)) return -1;
    for (q = 0; q < vb_queue_count(&t->dev); q++)
        if (tg_pk_queue(t, q, size)) return -1;
    return 0;
}

/* A device offering the packed ring (cfg's options + VB_OPT_RING_PACKED; NULL: defaults) and a
   driver that took `features` with queues of `size`, DRIVER_OK set. */
static inline int tg_pk_start(tg *t, const vb_config *cfg, uint64_t features, uint16_t size)
{
    vb_config c = cfg ? *cfg : vb_config_default();
    c.options |= VB_OPT_RING_PACKED;
    if (tg_create(t, &c) || tg_pk_probe(t, features, size)) return -1;
    tg_driver_ok(t);
    return 0;
}

static inline void tg_pk_step(tg *t, unsigned q)
{
    if (++t->pk_next[q] == t->qsize[q]) {
        t->pk_next[q] = 0;
        t->pk_wrap[q] ^= 1u;
    }
}

/* Post a chain of n descriptors at the driver's next slots (past the ring end the wrap counter
   flips), the id in every one, NEXT on all but the last, and the head's flags written last: that
   write publishes it. id < 0: the head's slot. Does not kick. Returns the id. */
static inline uint16_t tg_pk_post(tg *t, unsigned q, const tg_seg *s, unsigned n, int id)
{
    uint16_t head = t->pk_next[q], bid = id < 0 ? head : (uint16_t)id, head_flags = 0;
    unsigned i;
    for (i = 0; i < n; i++) {
        uint16_t f = (uint16_t)(s[i].flags | (i + 1 < n ? 1u : 0u) | tg_pk_bits(t, q));
        uint64_t p = tg_pk_slot_addr(q, t->pk_next[q]);
        tg_put64(t, p, s[i].addr);
        tg_put32(t, p + 8, s[i].len);
        tg_put16(t, p + 12, bid);
        if (i)
            tg_put16(t, p + 14, f);
        else
            head_flags = f;
        tg_pk_step(t, q);
    }
    tg_put16(t, tg_pk_slot_addr(q, head) + 14u, head_flags);
    if (bid < VB_QUEUE_SIZE_MAX) t->pk_len[q][bid] = (uint16_t)n;
    t->pk_inflight[q] = (uint16_t)(t->pk_inflight[q] + n);
    return bid;
}

/* One readable (or, flags 2, writable) descriptor. */
static inline uint16_t tg_pk_post1(tg *t, unsigned q, uint64_t addr, uint32_t len, uint16_t flags, int id)
{
    tg_seg s;
    s.addr = addr;
    s.len = len;
    s.flags = flags;
    return tg_pk_post(t, q, &s, 1, id);
}

/* An indirect chain: the n entries in a table at `table` (packed descriptors: only WRITE
   counts), one ring descriptor (INDIRECT, len 16 n) pointing at it. */
static inline uint16_t tg_pk_post_indirect(tg *t, unsigned q, uint64_t table, const tg_seg *s, unsigned n, int id)
{
    unsigned i;
    for (i = 0; i < n; i++) tg_pk_desc_at(t, table, i, s[i].addr, s[i].len, 0, s[i].flags);
    return tg_pk_post1(t, q, table, 16u * n, 4u, id);
}

/* New used descriptors since the last call (ids/lens optional): the descriptor at the driver's
   used slot is used when its AVAIL and USED bits both equal the used wrap counter; the slot then
   moves on by the chain's length (1 for an id never posted). */
static inline unsigned tg_pk_used(tg *t, unsigned q, uint32_t *ids, uint32_t *lens, unsigned max)
{
    unsigned n = 0;
    while (n <= t->qsize[q]) {
        uint64_t p = tg_pk_slot_addr(q, t->pk_used[q]);
        uint16_t f = tg_get16(t, p + 14u), id = tg_get16(t, p + 12u), step = 1, i;
        unsigned a = (f & TG_PK_AVAIL) != 0, u = (f & TG_PK_USED) != 0;
        if (a != u || a != t->pk_used_wrap[q]) break;
        if (n < max) {
            if (ids) ids[n] = id;
            if (lens) lens[n] = tg_get32(t, p + 8u);
        }
        n++;
        if (id < VB_QUEUE_SIZE_MAX && t->pk_len[q][id]) {
            step = t->pk_len[q][id];
            t->pk_len[q][id] = 0;
        }
        t->pk_inflight[q] = (uint16_t)(t->pk_inflight[q] > step ? t->pk_inflight[q] - step : 0);
        for (i = 0; i < step; i++)
            if (++t->pk_used[q] == t->qsize[q]) {
                t->pk_used[q] = 0;
                t->pk_used_wrap[q] ^= 1u;
            }
    }
    return n;
}

/* The driver event suppression area: off_wrap, then flags (the device reads flags to decide). */
static inline void tg_pk_set_driver_area(tg *t, unsigned q, uint16_t flags, uint16_t off, int wrap)
{
    tg_put16(t, tg_avail_addr(t, q), tg_pk_base(off, wrap));
    tg_put16(t, tg_avail_addr(t, q) + 2u, flags);
}

/* As Linux's virtqueue_enable_cb with EVENT_IDX: interrupt me for the next used descriptor. */
static inline void tg_pk_want_next(tg *t, unsigned q)
{
    tg_pk_set_driver_area(t, q, TG_PK_DESC, t->pk_used[q], t->pk_used_wrap[q]);
}

/* The device event suppression area as the device left it. */
static inline uint16_t tg_pk_device_flags(const tg *t, unsigned q) { return tg_get16(t, tg_used_addr(t, q) + 2u); }
static inline uint16_t tg_pk_device_off_wrap(const tg *t, unsigned q) { return tg_get16(t, tg_used_addr(t, q)); }

/* A Linux-like stats buffer of n records (values from `seed`) in one descriptor at the next
   slot (id = that slot unless id >= 0), kicked. Returns the id. */
static inline uint16_t tg_pk_send_stats(tg *t, unsigned n, uint64_t seed, int id)
{
    uint64_t vals[16];
    const uint16_t *tags = n == 16 ? tg_linux612_tags : tg_linux61_tags;
    uint64_t gpa = tg_alloc(t, 10u * n + 1u);
    uint16_t bid;
    tg_values(vals, tags, n, seed);
    bid = tg_pk_post1(t, VB_QUEUE_STATS, gpa, tg_records(t, gpa, tags, vals, n), 0, id);
    tg_kick(t, VB_QUEUE_STATS);
    return bid;
}

/* ---- a seeded PRNG (splitmix64) for the random tests: reproducible from the seed ------------- */

typedef struct tg_rng {
    uint64_t s;
} tg_rng;

static inline uint64_t tg_rnd(tg_rng *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

static inline uint32_t tg_below(tg_rng *r, uint32_t n) { return n ? (uint32_t)(tg_rnd(r) % n) : 0u; }
static inline int tg_chance(tg_rng *r, unsigned pct) { return tg_below(r, 100) < pct; }

#endif /* TESTS_GUEST_H */
