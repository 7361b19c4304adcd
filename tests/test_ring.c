/* The hostile-guest ring catalog: every malformed ring, chain, descriptor and buffer a guest
   can build, each with its exact outcome (broken or not, NEEDS_RESET, config interrupt, what
   came back on the used ring, the stats afterwards, the log item, the host accesses), plus
   the peer bugs of docs/peers.md as regression tests, EVENT_IDX / NO_INTERRUPT,
   legacy big-endian rings and inflate/deflate. */
#include <stdio.h>
#include <string.h>

#include <greatest.h>
#include "guest.h"

static tg T;

/* 64-bit equality, printed in hex on failure */
#define ASSERT_U64(exp, got) \
    ASSERT_EQ_FMT((unsigned long long)(exp), (unsigned long long)(got), "%#llx")

#define SQ VB_QUEUE_STATS
#define IQ VB_QUEUE_INFLATE
#define DQ VB_QUEUE_DEFLATE
#define F_NEXT 1
#define F_WRITE 2
#define F_INDIRECT 4
#define PAGE 4096u

/* Counts of read() / write() calls are copy-path facts. On the map path (tests/guest.h) the
   rings are mapped when the queue starts and their fields loaded from the mapping, so a check
   that reads only ring fields makes no read() call and maps no data (a refused map still falls
   back to read(), and is counted as before). */
#define ASSERT_RING_READS(n)                                          \
    do {                                                              \
        ASSERT_EQ(tg_map_path() ? 0u : (unsigned)(n), T.reads);       \
        if (tg_map_path()) ASSERT_EQ(0u, T.data_maps);                \
    } while (0)
/* Used-ring writes: write() calls on the copy path, none on the map path (the used ring is mapped). */
#define ASSERT_RING_WRITES(n) ASSERT_EQ(tg_map_path() ? 0u : (unsigned)(n), T.writes)

static const vb_config cfg = {VB_PROFILE_QEMU, 0, 0, 0, 0, 0, 0, 0};
static const vb_config be_cfg = {VB_PROFILE_QEMU, 0, 0, VB_OPT_GUEST_BIG_ENDIAN, 0, 0, 0, 0};

/* Features of a modern driver without EVENT_IDX (one interrupt per used buffer). */
#define NO_EVENT_IDX_FEATURES \
    (TG_F(VB_F_STATS_VQ) | TG_F(VB_F_VERSION_1) | TG_F(VB_F_RING_INDIRECT_DESC))
/* A legacy driver (no VERSION_1). */
#define LEGACY_FEATURES \
    (TG_F(VB_F_STATS_VQ) | TG_F(VB_F_RING_EVENT_IDX) | TG_F(VB_F_RING_INDIRECT_DESC))

/* ---- a host that also counts the bytes read from the data area (>= TG_DATA) ------------------ */

static uint64_t data_bytes, low_reads;

static int count_read(void *user, uint64_t gpa, void *dst, size_t len)
{
    if (gpa >= TG_DATA) data_bytes += len;
    if (gpa < 0x1000u) low_reads++; /* nothing legitimate lives below the first ring */
    return tg_read(user, gpa, dst, len);
}

static const vb_host count_host = {count_read, tg_write, tg_now,    tg_arm,
                                   tg_cancel,  tg_wall,  tg_notify, tg_notify_config,
                                   tg_pages,   tg_actual, tg_log, NULL, 0};

/* ... and its map path: the bytes of the data area mapped count as read (a mapped buffer is
   copied out whole) */
static void *count_map(void *user, uint64_t gpa, uint64_t len, int write)
{
    void *p = tg_map(user, gpa, len, write);
    if (p && gpa >= TG_DATA) data_bytes += len;
    if (gpa < 0x1000u) low_reads++;
    return p;
}

static const vb_host count_host_map = {count_read, tg_write,  tg_now,    tg_arm,
                                       tg_cancel,  tg_wall,   tg_notify, tg_notify_config,
                                       tg_pages,   tg_actual, tg_log,    NULL, count_map};

static const vb_host no_pages_host = {tg_read,   tg_write, tg_now,    tg_arm,
                                      tg_cancel, tg_wall,  tg_notify, tg_notify_config,
                                      NULL,      tg_actual, tg_log, NULL, 0};

/* A host whose read of guest data fills the buffer half with what is there and half with
   garbage, then fails: nothing of it may be used. */
static int half_read(void *user, uint64_t gpa, void *dst, size_t len)
{
    int r = tg_read(user, gpa, dst, len);
    if (r || gpa < TG_DATA) return r; /* the rings read as usual */
    memset((unsigned char *)dst + len / 2, 0xEE, len - len / 2);
    ((tg *)user)->failed_reads++;
    return -1;
}

static const vb_host half_read_host = {half_read, tg_write, tg_now,    tg_arm,
                                       tg_cancel, tg_wall,  tg_notify, tg_notify_config,
                                       tg_pages,  tg_actual, tg_log, NULL, 0};

/* ... and its map path: the data area is not mapped (it goes to half_read), the rings are */
static void *half_map(void *user, uint64_t gpa, uint64_t len, int write)
{
    return gpa >= TG_DATA ? NULL : tg_map(user, gpa, len, write);
}

static const vb_host half_read_host_map = {half_read, tg_write,  tg_now,    tg_arm,
                                           tg_cancel, tg_wall,   tg_notify, tg_notify_config,
                                           tg_pages,  tg_actual, tg_log,    NULL, half_map};

/* A host of this file on the current memory path (tests/guest.h's tg_on_path, with the map
   twins above for the hosts whose read() the tests observe). */
static const vb_host *on_path(const vb_host *h)
{
    if (tg_map_path() && h == &count_host) return &count_host_map;
    if (tg_map_path() && h == &half_read_host) return &half_read_host_map;
    return tg_on_path(h);
}

static int start_with(const vb_host *h, const vb_config *c, uint64_t features)
{
    if (tg_create(&T, c)) return -1;
    if (vb_init(&T.dev, c, on_path(h), &T) != VB_OK) return -1;
    if (tg_probe(&T, features)) return -1;
    tg_driver_ok(&T);
    data_bytes = low_reads = 0;
    T.reads = T.writes = T.maps = T.data_maps = 0; /* count from here: the probe read each queue's used idx */
    return 0;
}

static int start(void) { return start_with(&tg_host, &cfg, TG_LINUX_FEATURES); }
static int start_counting(void) { return start_with(&count_host, &cfg, TG_LINUX_FEATURES); }

static int start_legacy_be(void)
{
    if (tg_create(&T, &be_cfg)) return -1;
    T.be = 1;
    if (tg_probe(&T, LEGACY_FEATURES)) return -1;
    tg_driver_ok(&T);
    return 0;
}

/* ---- ring helpers ------------------------------------------------------------------------- */

static uint64_t used_event_addr(unsigned q) { return tg_avail_addr(&T, q) + 4u + 2u * T.qsize[q]; }
static uint64_t avail_event_addr(unsigned q) { return tg_used_addr(&T, q) + 4u + 8u * T.qsize[q]; }
static void set_used_event(unsigned q, uint16_t v) { tg_put16(&T, used_event_addr(q), v); }
static void set_avail_flags(unsigned q, uint16_t v) { tg_put16(&T, tg_avail_addr(&T, q), v); }

/* The host stops giving [lo, lo + len) to the device: its memory changed, so it says so (on the
   map path the rings are re-mapped, and a ring in the window is then read, and refused). */
static void deny(uint64_t lo, uint64_t len)
{
    T.deny_lo = lo;
    T.deny_hi = lo + len;
    vb_memory_changed(&T.dev);
}

/* One 10-byte record in fresh memory; returns its address. */
static uint64_t rec1(uint16_t tag, uint64_t val)
{
    uint64_t gpa = tg_alloc(&T, 10);
    tg_records(&T, gpa, &tag, &val, 1);
    return gpa;
}

/* n PFNs in fresh memory (guest byte order); returns the address. */
static uint64_t pfn_data(const uint32_t *pfns, unsigned n)
{
    uint64_t gpa = tg_alloc(&T, 4u * n);
    unsigned i;
    for (i = 0; i < n; i++) tg_put32(&T, gpa + 4u * i, pfns[i]);
    return gpa;
}

/* A one-descriptor PFN buffer in descriptor `head` of queue q, published (not kicked). */
static void pfn_buf(unsigned q, uint16_t head, const uint32_t *pfns, unsigned n)
{
    tg_desc(&T, q, head, pfn_data(pfns, n), 4u * n, 0, 0);
    tg_publish(&T, q, head);
}

/* ---- the state a bad chain must not change -------------------------------------------------- */

static uint64_t saved_stats[VB_STAT_COUNT];
static int64_t saved_update;
static uint32_t saved_updates;
static char saved_json[sizeof T.out];

static void save_stats(void)
{
    unsigned i;
    for (i = 0; i < VB_STAT_COUNT; i++) saved_stats[i] = tg_stat(&T, i);
    saved_update = vb_last_update(&T.dev);
    saved_updates = vb_get_counters(&T.dev)->updates;
    strcpy(saved_json, tg_render(&T, 0));
}

/* The driver's one stats buffer (head 0, Linux 6.1's ten records) is held; the stats saved. */
static void hold_good(void)
{
    tg_send_stats(&T, 10, 7);
    save_stats();
    T.wall += 100; /* a later update would show a different last-update */
    T.reads = T.writes = T.maps = T.data_maps = 0;
}

static enum greatest_test_res stats_unchanged(void)
{
    unsigned i;
    for (i = 0; i < VB_STAT_COUNT; i++) ASSERT_U64(saved_stats[i], tg_stat(&T, i));
    ASSERT_EQ(saved_update, vb_last_update(&T.dev));
    ASSERT_EQ(saved_updates, vb_get_counters(&T.dev)->updates);
    ASSERT_STR_EQ(saved_json, tg_render(&T, 0)); /* guest-stats shows the same */
    PASS();
}


/* The device marked itself broken for `why`: NEEDS_RESET and one config interrupt (VERSION_1
   only; the interrupt only once DRIVER_OK is set, as QEMU's virtio_notify_config), the item
   logged once, exactly `failed` refused host accesses, and from now on no guest
   memory access on any kick. */
static unsigned char ram_before[TG_MEM];

static enum greatest_test_res broken_for(vb_log_item why, unsigned failed, int modern)
{
    unsigned r, w, m;
    ASSERT(vb_is_broken(&T.dev));
    if (modern) {
        ASSERT_EQ(VB_S_NEEDS_RESET, vb_status(&T.dev) & VB_S_NEEDS_RESET);
        ASSERT_EQ((vb_status(&T.dev) & VB_S_DRIVER_OK) ? 1u : 0u, T.config_irqs);
    } else {
        ASSERT_EQ(0, vb_status(&T.dev) & VB_S_NEEDS_RESET);
        ASSERT_EQ(0u, T.config_irqs);
    }
    ASSERT_ENUM_EQ(why, T.last_log, tg_log_name);
    ASSERT_EQ(1u, T.log_count[why]);
    ASSERT_EQ(1u, vb_get_counters(&T.dev)->ring_errors);
    ASSERT_EQ(failed, T.failed_reads + T.failed_writes);
    r = T.reads;
    w = T.writes;
    m = T.maps;
    memcpy(ram_before, T.mem, sizeof ram_before);
    tg_kick(&T, IQ);
    tg_kick(&T, DQ);
    tg_kick(&T, SQ);
    ASSERT_EQ(r, T.reads);
    ASSERT_EQ(w, T.writes);
    ASSERT_EQ(m, T.maps); /* no buffer mapped either */
    ASSERT_EQ(0, memcmp(ram_before, T.mem, sizeof ram_before)); /* nor written through a ring's */
    PASS();
}

static enum greatest_test_res broken(vb_log_item why, unsigned failed)
{
    CHECK_CALL(broken_for(why, failed, 1));
    PASS();
}

static enum greatest_test_res healthy(void)
{
    ASSERT_FALSE(vb_is_broken(&T.dev));
    ASSERT_EQ(0, vb_status(&T.dev) & VB_S_NEEDS_RESET);
    ASSERT_EQ(0u, T.config_irqs);
    ASSERT_EQ(0u, vb_get_counters(&T.dev)->ring_errors);
    ASSERT_EQ(0u, T.failed_reads + T.failed_writes);
    PASS();
}

/* Nothing new on a queue's used ring, and no interrupt since `irqs`. */
static enum greatest_test_res nothing_returned(unsigned q, unsigned irqs)
{
    ASSERT_EQ(0u, tg_used(&T, q, NULL, NULL, 0));
    ASSERT_EQ(irqs, T.irq[q]);
    PASS();
}

/* Poll once (interval 1 s, fires at once) and expect exactly buffer `id` back with len 0. */
static enum greatest_test_res poll_returns(uint32_t id)
{
    uint32_t ids[2] = {0xdead, 0xdead}, lens[2] = {9, 9};
    unsigned irqs = T.irq[SQ];
    if (!vb_poll_interval_ms(&T.dev)) ASSERT_EQ(VB_OK, vb_set_poll_interval_ms(&T.dev, 1000));
    set_used_event(SQ, T.used_seen[SQ]); /* like Linux: interrupt me for the next one */
    tg_fire(&T);
    ASSERT_EQ(1u, tg_used(&T, SQ, ids, lens, 2));
    ASSERT_EQ(id, ids[0]);
    ASSERT_EQ(0u, lens[0]);
    ASSERT_EQ(irqs + 1u, T.irq[SQ]);
    PASS();
}

/* ============================================================================================
   Loops and chain length
   ============================================================================================ */

TEST loop_a_b_a(void)
{
    ASSERT_EQ(0, start());
    hold_good();
    tg_desc(&T, SQ, 1, rec1(4, 99), 10, F_NEXT, 2);
    tg_desc(&T, SQ, 2, rec1(5, 98), 10, F_NEXT, 1);
    tg_publish(&T, SQ, 1);
    tg_kick(&T, SQ);
    CHECK_CALL(broken(VB_LOG_LOOP, 0));
    CHECK_CALL(stats_unchanged());
    CHECK_CALL(nothing_returned(SQ, 0));
    ASSERT_LTE(T.reads, 2u + 2u * 128u); /* idx, head, at most 128 descriptors and their data */
    PASS();
}

TEST loop_self(void)
{
    ASSERT_EQ(0, start());
    hold_good();
    tg_desc(&T, SQ, 3, rec1(4, 99), 10, F_NEXT, 3);
    tg_publish(&T, SQ, 3);
    tg_kick(&T, SQ);
    CHECK_CALL(broken(VB_LOG_LOOP, 0));
    CHECK_CALL(stats_unchanged());
    CHECK_CALL(nothing_returned(SQ, 0));
    ASSERT_LTE(T.reads, 2u + 2u * 128u);
    PASS();
}

TEST loop_inside_indirect_table(void)
{
    uint64_t table;
    ASSERT_EQ(0, start());
    hold_good();
    table = tg_alloc(&T, 32);
    tg_desc_at(&T, table, 0, rec1(4, 99), 10, F_NEXT, 1);
    tg_desc_at(&T, table, 1, rec1(5, 98), 10, F_NEXT, 0);
    tg_desc(&T, SQ, 1, table, 32, F_INDIRECT, 0);
    tg_publish(&T, SQ, 1);
    tg_kick(&T, SQ);
    CHECK_CALL(broken(VB_LOG_LOOP, 0));
    CHECK_CALL(stats_unchanged());
    CHECK_CALL(nothing_returned(SQ, 0));
    ASSERT_LTE(T.reads, 2u + 1u + 2u * 2u); /* the table's own size bounds the walk */
    PASS();
}

TEST loop_self_inside_large_indirect_table(void)
{
    uint64_t table;
    ASSERT_EQ(0, start());
    hold_good();
    table = tg_alloc(&T, 16 * 16);
    tg_desc_at(&T, table, 0, rec1(4, 99), 10, F_NEXT, 9);
    tg_desc_at(&T, table, 9, rec1(5, 98), 10, F_NEXT, 9);
    tg_desc(&T, SQ, 1, table, 16 * 16, F_INDIRECT, 0);
    tg_publish(&T, SQ, 1);
    tg_kick(&T, SQ);
    CHECK_CALL(broken(VB_LOG_LOOP, 0));
    CHECK_CALL(stats_unchanged());
    ASSERT_LTE(T.reads, 2u + 1u + 2u * 16u);
    PASS();
}

/* kvmtool's chain walker has no loop counter: a full-length chain is fine here ... */
TEST kvmtool_chain_of_128_descriptors_is_valid(void)
{
    unsigned i;
    ASSERT_EQ(0, start());
    for (i = 0; i < 128; i++)
        tg_desc(&T, SQ, i, rec1((uint16_t)(i % 16), 1000u + i), 10, i < 127 ? F_NEXT : 0,
                (uint16_t)(i + 1));
    tg_publish(&T, SQ, 0);
    tg_kick(&T, SQ);
    CHECK_CALL(healthy());
    for (i = 0; i < 16; i++) ASSERT_EQ(1000u + 112u + i, tg_stat(&T, i)); /* the last one wins */
    ASSERT_EQ(1u, vb_get_counters(&T.dev)->updates);
    CHECK_CALL(poll_returns(0));
    PASS();
}

/* ... and one more descriptor (127 -> 0, the 129th read) is a loop, with bounded work. */
TEST kvmtool_chain_of_129_via_loop_fails(void)
{
    unsigned i;
    ASSERT_EQ(0, start());
    for (i = 0; i < 128; i++)
        tg_desc(&T, SQ, i, rec1((uint16_t)(i % 16), 1000u + i), 10, F_NEXT, (uint16_t)((i + 1) % 128));
    tg_publish(&T, SQ, 0);
    T.reads = T.maps = T.data_maps = 0;
    tg_kick(&T, SQ);
    CHECK_CALL(broken(VB_LOG_LOOP, 0));
    ASSERT_LTE(T.reads, 2u + 2u * 128u);
    ASSERT_EQ(UINT64_MAX, tg_stat(&T, 0)); /* nothing of the bad chain was taken */
    ASSERT_EQ(0u, vb_get_counters(&T.dev)->updates);
    ASSERT_EQ(0, vb_last_update(&T.dev));
    CHECK_CALL(nothing_returned(SQ, 0));
    PASS();
}

/* Firecracker #2358: an invalid inflate chain must not loop. */
TEST fc2358_inflate_loop_terminates(void)
{
    static const uint32_t pfn[1] = {0x100};
    ASSERT_EQ(0, start());
    tg_desc(&T, IQ, 0, pfn_data(pfn, 1), 4, F_NEXT, 1);
    tg_desc(&T, IQ, 1, pfn_data(pfn, 1), 4, F_NEXT, 0);
    tg_publish(&T, IQ, 0);
    tg_kick(&T, IQ);
    CHECK_CALL(broken(VB_LOG_LOOP, 0));
    ASSERT_LTE(T.reads, 2u + 2u * 128u);
    ASSERT_LTE(T.npages, 128u);
    CHECK_CALL(nothing_returned(IQ, 0));
    PASS();
}

/* A malformed inflate chain is not acted on, as in QEMU, where virtqueue_pop validates the
   whole chain before the device sees a byte: no page of it reaches the host, even when a
   range was already complete before the bad descriptor. */
TEST inflate_bad_chain_not_acted_on(void)
{
    static const uint32_t pfns[2] = {0x100, 0x200};
    ASSERT_EQ(0, start());
    tg_desc(&T, IQ, 0, pfn_data(pfns, 2), 8, F_NEXT, 1);
    tg_desc(&T, IQ, 1, tg_alloc(&T, 4), 0, 0, 0); /* zero length */
    tg_publish(&T, IQ, 0);
    tg_kick(&T, IQ);
    CHECK_CALL(broken(VB_LOG_ZERO_LEN, 0));
    ASSERT_EQ_FMT(0u, T.npages, "%u");
    CHECK_CALL(nothing_returned(IQ, 0));
    PASS();
}

/* ============================================================================================
   Indices out of range
   ============================================================================================ */

TEST head_out_of_range_128(void)
{
    ASSERT_EQ(0, start());
    hold_good();
    tg_desc(&T, SQ, 1, rec1(4, 1), 10, 0, 0);
    tg_publish(&T, SQ, 128);
    tg_kick(&T, SQ);
    CHECK_CALL(broken(VB_LOG_HEAD_RANGE, 0));
    CHECK_CALL(stats_unchanged());
    CHECK_CALL(nothing_returned(SQ, 0));
    ASSERT_RING_READS(2u); /* avail idx and the ring entry, no descriptor */
    PASS();
}

TEST head_out_of_range_ffff(void)
{
    ASSERT_EQ(0, start());
    hold_good();
    tg_publish(&T, SQ, 0xffff);
    tg_kick(&T, SQ);
    CHECK_CALL(broken(VB_LOG_HEAD_RANGE, 0));
    CHECK_CALL(stats_unchanged());
    ASSERT_RING_READS(2u);
    PASS();
}

TEST head_127_is_the_last_valid(void)
{
    ASSERT_EQ(0, start());
    tg_desc(&T, SQ, 127, rec1(VB_STAT_MEMFREE, 127), 10, 0, 0);
    tg_publish(&T, SQ, 127);
    tg_kick(&T, SQ);
    CHECK_CALL(healthy());
    ASSERT_EQ(127u, tg_stat(&T, VB_STAT_MEMFREE));
    CHECK_CALL(poll_returns(127));
    PASS();
}

TEST next_out_of_range_ring(void)
{
    ASSERT_EQ(0, start());
    hold_good();
    tg_desc(&T, SQ, 1, rec1(4, 1), 10, F_NEXT, 128);
    tg_publish(&T, SQ, 1);
    tg_kick(&T, SQ);
    CHECK_CALL(broken(VB_LOG_NEXT_RANGE, 0));
    CHECK_CALL(stats_unchanged());
    CHECK_CALL(nothing_returned(SQ, 0));
    ASSERT_RING_READS(3u); /* the bad descriptor's data is not even read */
    PASS();
}

TEST next_out_of_range_ffff(void)
{
    ASSERT_EQ(0, start());
    hold_good();
    tg_desc(&T, SQ, 1, rec1(4, 1), 10, F_NEXT, 2);
    tg_desc(&T, SQ, 2, rec1(5, 1), 10, F_NEXT, 0xffff);
    tg_publish(&T, SQ, 1);
    tg_kick(&T, SQ);
    CHECK_CALL(broken(VB_LOG_NEXT_RANGE, 0));
    CHECK_CALL(stats_unchanged());
    PASS();
}

TEST next_out_of_range_indirect(void)
{
    uint64_t table;
    ASSERT_EQ(0, start());
    hold_good();
    table = tg_alloc(&T, 64);
    tg_desc_at(&T, table, 0, rec1(4, 1), 10, F_NEXT, 4); /* the table has 4 entries */
    tg_desc(&T, SQ, 1, table, 64, F_INDIRECT, 0);
    tg_publish(&T, SQ, 1);
    tg_kick(&T, SQ);
    CHECK_CALL(broken(VB_LOG_NEXT_RANGE, 0));
    CHECK_CALL(stats_unchanged());
    CHECK_CALL(nothing_returned(SQ, 0));
    PASS();
}

/* ============================================================================================
   Indirect tables
   ============================================================================================ */

TEST indirect_table_parses(void)
{
    static const uint16_t tags[3] = {VB_STAT_MEMFREE, VB_STAT_MEMTOT, VB_STAT_AVAIL};
    uint64_t vals[3] = {11, 22, 33}, table, data;
    ASSERT_EQ(0, start());
    data = tg_alloc(&T, 30);
    tg_records(&T, data, tags, vals, 3);
    table = tg_alloc(&T, 48);
    tg_desc_at(&T, table, 0, data, 7, F_NEXT, 2); /* out of order inside the table is fine */
    tg_desc_at(&T, table, 2, data + 7, 23, F_NEXT, 1);
    tg_desc_at(&T, table, 1, tg_alloc(&T, 8), 8, F_WRITE, 0);
    tg_desc(&T, SQ, 5, table, 48, F_INDIRECT, 0);
    tg_publish(&T, SQ, 5);
    tg_kick(&T, SQ);
    CHECK_CALL(healthy());
    ASSERT_EQ(11u, tg_stat(&T, VB_STAT_MEMFREE));
    ASSERT_EQ(22u, tg_stat(&T, VB_STAT_MEMTOT));
    ASSERT_EQ(33u, tg_stat(&T, VB_STAT_AVAIL));
    ASSERT_EQ(VB_LOG_NONE, T.last_log);
    CHECK_CALL(poll_returns(5));
    PASS();
}

/* The spec: the device ignores the write-only flag of a descriptor that points to a table. */
TEST indirect_head_write_flag_ignored(void)
{
    uint64_t table;
    ASSERT_EQ(0, start());
    table = tg_alloc(&T, 16);
    tg_desc_at(&T, table, 0, rec1(VB_STAT_MEMFREE, 6), 10, 0, 0);
    tg_desc(&T, SQ, 0, table, 16, F_INDIRECT | F_WRITE, 0);
    tg_publish(&T, SQ, 0);
    tg_kick(&T, SQ);
    CHECK_CALL(healthy());
    ASSERT_EQ(6u, tg_stat(&T, VB_STAT_MEMFREE));
    PASS();
}

TEST indirect_not_negotiated_is_a_warning_only(void)
{
    uint64_t table;
    ASSERT_EQ(0, start_with(&tg_host, &cfg, TG_F(VB_F_STATS_VQ) | TG_F(VB_F_VERSION_1)));
    table = tg_alloc(&T, 16);
    tg_desc_at(&T, table, 0, rec1(VB_STAT_MEMFREE, 5), 10, 0, 0);
    tg_desc(&T, SQ, 0, table, 16, F_INDIRECT, 0);
    tg_publish(&T, SQ, 0);
    tg_kick(&T, SQ);
    CHECK_CALL(healthy());
    ASSERT_EQ(5u, tg_stat(&T, VB_STAT_MEMFREE));
    ASSERT_EQ(1u, T.log_count[VB_LOG_INDIRECT_NOT_NEGOTIATED]);
    PASS();
}

TEST nested_indirect(void)
{
    uint64_t inner, outer;
    ASSERT_EQ(0, start());
    hold_good();
    inner = tg_alloc(&T, 16);
    tg_desc_at(&T, inner, 0, rec1(4, 1), 10, 0, 0);
    outer = tg_alloc(&T, 16);
    tg_desc_at(&T, outer, 0, inner, 16, F_INDIRECT, 0);
    tg_desc(&T, SQ, 1, outer, 16, F_INDIRECT, 0);
    tg_publish(&T, SQ, 1);
    tg_kick(&T, SQ);
    CHECK_CALL(broken(VB_LOG_INDIRECT_NESTED, 0));
    CHECK_CALL(stats_unchanged());
    CHECK_CALL(nothing_returned(SQ, 0));
    PASS();
}

TEST indirect_not_at_head(void)
{
    uint64_t table;
    ASSERT_EQ(0, start());
    hold_good();
    table = tg_alloc(&T, 16);
    tg_desc_at(&T, table, 0, rec1(5, 1), 10, 0, 0);
    tg_desc(&T, SQ, 1, rec1(4, 1), 10, F_NEXT, 2);
    tg_desc(&T, SQ, 2, table, 16, F_INDIRECT, 0);
    tg_publish(&T, SQ, 1);
    tg_kick(&T, SQ);
    CHECK_CALL(broken(VB_LOG_INDIRECT_NESTED, 0));
    CHECK_CALL(stats_unchanged());
    CHECK_CALL(nothing_returned(SQ, 0));
    PASS();
}

TEST indirect_with_next(void)
{
    uint64_t table;
    ASSERT_EQ(0, start());
    hold_good();
    table = tg_alloc(&T, 16);
    tg_desc_at(&T, table, 0, rec1(5, 1), 10, 0, 0);
    tg_desc(&T, SQ, 1, table, 16, F_INDIRECT | F_NEXT, 2);
    tg_desc(&T, SQ, 2, rec1(4, 1), 10, 0, 0);
    tg_publish(&T, SQ, 1);
    tg_kick(&T, SQ);
    CHECK_CALL(broken(VB_LOG_INDIRECT_NESTED, 0));
    CHECK_CALL(stats_unchanged());
    PASS();
}

static enum greatest_test_res indirect_bad_size(uint32_t len)
{
    ASSERT_EQ(0, start());
    hold_good();
    tg_desc(&T, SQ, 1, tg_alloc(&T, 64), len, F_INDIRECT, 0);
    tg_publish(&T, SQ, 1);
    tg_kick(&T, SQ);
    CHECK_CALL(broken(VB_LOG_INDIRECT_SIZE, 0));
    CHECK_CALL(stats_unchanged());
    CHECK_CALL(nothing_returned(SQ, 0));
    ASSERT_RING_READS(3u); /* the table itself is never read */
    PASS();
}

TEST indirect_length_0(void) { return indirect_bad_size(0); }
TEST indirect_length_17(void) { return indirect_bad_size(17); }
TEST indirect_length_8(void) { return indirect_bad_size(8); }
TEST indirect_longer_than_queue(void) { return indirect_bad_size(129u * 16u); }
TEST indirect_length_fffffff0(void) { return indirect_bad_size(0xfffffff0u); }

TEST indirect_exactly_queue_size_entries_ok(void)
{
    uint64_t table;
    unsigned i;
    ASSERT_EQ(0, start());
    table = tg_alloc(&T, 128u * 16u);
    for (i = 0; i < 128; i++)
        tg_desc_at(&T, table, i, rec1((uint16_t)(i % 16), i), 10, i < 127 ? F_NEXT : 0, (uint16_t)(i + 1));
    tg_desc(&T, SQ, 0, table, 128u * 16u, F_INDIRECT, 0);
    tg_publish(&T, SQ, 0);
    tg_kick(&T, SQ);
    CHECK_CALL(healthy());
    ASSERT_EQ(127u, tg_stat(&T, 15));
    PASS();
}

TEST indirect_table_address_overflow(void)
{
    ASSERT_EQ(0, start());
    hold_good();
    tg_desc(&T, SQ, 1, UINT64_MAX - 15u, 32, F_INDIRECT, 0);
    tg_publish(&T, SQ, 1);
    tg_kick(&T, SQ);
    CHECK_CALL(broken(VB_LOG_LEN_OVERFLOW, 0));
    CHECK_CALL(stats_unchanged());
    ASSERT_RING_READS(3u);
    PASS();
}

/* ============================================================================================
   Memory the host refuses (deny window)
   ============================================================================================ */

TEST unmappable_stats_data(void)
{
    uint64_t data;
    ASSERT_EQ(0, start());
    hold_good();
    data = rec1(4, 1);
    deny(data, 10);
    tg_desc(&T, SQ, 1, data, 10, 0, 0);
    tg_publish(&T, SQ, 1);
    tg_kick(&T, SQ);
    CHECK_CALL(broken(VB_LOG_BAD_MEMORY, 1));
    ASSERT_EQ(1u, T.failed_reads);
    CHECK_CALL(stats_unchanged());
    CHECK_CALL(nothing_returned(SQ, 0));
    PASS();
}

TEST unmappable_stats_data_second_descriptor(void)
{
    uint64_t data;
    ASSERT_EQ(0, start());
    hold_good();
    data = rec1(5, 1);
    deny(data + 5, 1); /* one byte of the second descriptor */
    tg_desc(&T, SQ, 1, rec1(4, 1), 10, F_NEXT, 2);
    tg_desc(&T, SQ, 2, data, 10, 0, 0);
    tg_publish(&T, SQ, 1);
    tg_kick(&T, SQ);
    CHECK_CALL(broken(VB_LOG_BAD_MEMORY, 1));
    CHECK_CALL(stats_unchanged());
    PASS();
}

TEST stats_data_beyond_ram(void)
{
    ASSERT_EQ(0, start());
    hold_good();
    tg_desc(&T, SQ, 1, TG_MEM - 4u, 10, 0, 0);
    tg_publish(&T, SQ, 1);
    tg_kick(&T, SQ);
    CHECK_CALL(broken(VB_LOG_BAD_MEMORY, 1));
    CHECK_CALL(stats_unchanged());
    PASS();
}

TEST unmappable_descriptor_table(void)
{
    ASSERT_EQ(0, start());
    hold_good();
    tg_desc(&T, SQ, 1, rec1(4, 1), 10, 0, 0);
    tg_publish(&T, SQ, 1);
    deny(tg_desc_addr(SQ), 16u * 128u);
    tg_kick(&T, SQ);
    CHECK_CALL(broken(VB_LOG_RING_MEMORY, 1));
    CHECK_CALL(stats_unchanged());
    CHECK_CALL(nothing_returned(SQ, 0));
    PASS();
}

TEST unmappable_indirect_table(void)
{
    uint64_t table;
    ASSERT_EQ(0, start());
    hold_good();
    table = tg_alloc(&T, 32);
    tg_desc_at(&T, table, 0, rec1(4, 1), 10, 0, 0);
    deny(table, 32);
    tg_desc(&T, SQ, 1, table, 32, F_INDIRECT, 0);
    tg_publish(&T, SQ, 1);
    tg_kick(&T, SQ);
    CHECK_CALL(broken(VB_LOG_BAD_MEMORY, 1));
    CHECK_CALL(stats_unchanged());
    PASS();
}

TEST unmappable_avail_index(void)
{
    ASSERT_EQ(0, start());
    hold_good();
    tg_desc(&T, SQ, 1, rec1(4, 1), 10, 0, 0);
    tg_publish(&T, SQ, 1);
    deny(tg_avail_addr(&T, SQ), 6u + 2u * 128u);
    tg_kick(&T, SQ);
    CHECK_CALL(broken(VB_LOG_RING_MEMORY, 1));
    ASSERT_EQ(1u, T.reads); /* the one failing access */
    CHECK_CALL(stats_unchanged());
    PASS();
}

TEST unmappable_avail_ring_entry(void)
{
    ASSERT_EQ(0, start());
    hold_good();
    tg_desc(&T, SQ, 1, rec1(4, 1), 10, 0, 0);
    tg_publish(&T, SQ, 1);
    deny(tg_avail_addr(&T, SQ) + 4u, 2u * 128u);
    tg_kick(&T, SQ);
    CHECK_CALL(broken(VB_LOG_RING_MEMORY, 1));
    ASSERT_EQ(2u, T.reads); /* the avail index, the failing entry (an unmapped ring: through read on both paths) */
    CHECK_CALL(stats_unchanged());
    PASS();
}

/* The push of a poll fails: nothing is published and no interrupt is sent. */
TEST unmappable_used_ring_on_poll(void)
{
    ASSERT_EQ(0, start());
    hold_good();
    ASSERT_EQ(VB_OK, vb_set_poll_interval_ms(&T.dev, 1000));
    deny(tg_used_addr(&T, SQ), 4u + 8u * 128u);
    tg_fire(&T);
    CHECK_CALL(broken(VB_LOG_RING_MEMORY, 1));
    ASSERT_EQ(1u, T.failed_writes);
    ASSERT_EQ(0, tg_used_idx(&T, SQ));
    ASSERT_EQ(0u, T.irq[SQ]);
    CHECK_CALL(stats_unchanged());
    PASS();
}

/* The push of the old buffer (a second buffer arrived) fails: the new one is not taken. */
TEST unmappable_used_ring_on_second_buffer(void)
{
    ASSERT_EQ(0, start());
    hold_good();
    tg_desc(&T, SQ, 1, rec1(VB_STAT_MEMFREE, 1), 10, 0, 0);
    tg_publish(&T, SQ, 1);
    deny(tg_used_addr(&T, SQ), 4u + 8u * 128u); /* elements and index, not avail_event */
    tg_kick(&T, SQ);
    CHECK_CALL(broken(VB_LOG_RING_MEMORY, 1));
    ASSERT_EQ(1u, T.failed_writes);
    ASSERT_EQ(0, tg_used_idx(&T, SQ));
    ASSERT_EQ(0u, T.irq[SQ]);
    CHECK_CALL(stats_unchanged());
    PASS();
}

TEST unmappable_used_ring_on_inflate(void)
{
    static const uint32_t pfn[1] = {0x100};
    ASSERT_EQ(0, start());
    pfn_buf(IQ, 0, pfn, 1);
    deny(tg_used_addr(&T, IQ), 4u + 8u * 128u);
    tg_kick(&T, IQ);
    CHECK_CALL(broken(VB_LOG_RING_MEMORY, 1));
    ASSERT_EQ(0, tg_used_idx(&T, IQ));
    ASSERT_EQ(0u, T.irq[IQ]);
    PASS();
}

/* With EVENT_IDX the device writes avail_event in the used ring when it pops. */
TEST unmappable_avail_event(void)
{
    ASSERT_EQ(0, start());
    hold_good();
    tg_desc(&T, SQ, 1, rec1(VB_STAT_MEMFREE, 1), 10, 0, 0);
    tg_publish(&T, SQ, 1);
    deny(avail_event_addr(SQ), 2);
    tg_kick(&T, SQ);
    CHECK_CALL(broken(VB_LOG_RING_MEMORY, 1));
    ASSERT_EQ(1u, T.failed_writes);
    CHECK_CALL(stats_unchanged());
    CHECK_CALL(nothing_returned(SQ, 0));
    PASS();
}

/* The driver's used_event cannot be read after a push: no interrupt, device broken. */
TEST unmappable_used_event_on_notify(void)
{
    ASSERT_EQ(0, start());
    hold_good();
    ASSERT_EQ(VB_OK, vb_set_poll_interval_ms(&T.dev, 1000));
    deny(used_event_addr(SQ), 2);
    tg_fire(&T);
    CHECK_CALL(broken(VB_LOG_RING_MEMORY, 1));
    ASSERT_EQ(1u, T.failed_reads);
    ASSERT_EQ(0u, T.irq[SQ]);
    PASS();
}

TEST unmappable_used_index_at_ready(void)
{
    ASSERT_EQ(0, tg_create(&T, &cfg));
    vb_set_status(&T.dev, VB_S_ACKNOWLEDGE | VB_S_DRIVER);
    vb_set_driver_features(&T.dev, TG_LINUX_FEATURES);
    vb_set_status(&T.dev, VB_S_ACKNOWLEDGE | VB_S_DRIVER | VB_S_FEATURES_OK);
    T.qsize[SQ] = 128;
    ASSERT_EQ(VB_OK, vb_queue_setup(&T.dev, SQ, 128, tg_desc_addr(SQ), tg_avail_addr(&T, SQ),
                                    tg_used_addr(&T, SQ)));
    deny(tg_used_addr(&T, SQ) + 2u, 2);
    vb_queue_set_ready(&T.dev, SQ, 1);
    CHECK_CALL(broken(VB_LOG_RING_MEMORY, 1));
    PASS();
}

TEST unmappable_inflate_pfns(void)
{
    static const uint32_t pfn[2] = {0x100, 0x101};
    uint64_t data;
    ASSERT_EQ(0, start());
    data = pfn_data(pfn, 2);
    deny(data + 4, 4);
    tg_desc(&T, IQ, 0, data, 8, 0, 0);
    tg_publish(&T, IQ, 0);
    tg_kick(&T, IQ);
    CHECK_CALL(broken(VB_LOG_BAD_MEMORY, 1));
    ASSERT_EQ(0u, T.npages);
    CHECK_CALL(nothing_returned(IQ, 0));
    PASS();
}

/* A ring placed so that ring address + offset wraps past 2^64 must not be accessed at the
   wrapped (low) address: either the setup is refused or the access is a ring error. */
static enum greatest_test_res wrapped_ring(uint64_t desc, uint64_t avail, uint16_t head)
{
    vb_result r;
    vb_queue_set_ready(&T.dev, SQ, 0);
    low_reads = 0;
    r = vb_queue_setup(&T.dev, SQ, 128, desc, avail, tg_used_addr(&T, SQ));
    if (r == VB_OK) {
        ASSERT_EQ_FMT(0u, (unsigned)low_reads, "%u reads below the rings");
        ASSERT_EQ(VB_OK, vb_queue_set_ready(&T.dev, SQ, 1));
        if (avail == tg_avail_addr(&T, SQ)) tg_publish(&T, SQ, head);
        tg_kick(&T, SQ);
        ASSERT_EQ_FMT(0u, (unsigned)low_reads, "%u reads below the rings");
        ASSERT_U64(UINT64_MAX, tg_stat(&T, VB_STAT_MEMFREE));
        ASSERT(vb_is_broken(&T.dev));
        ASSERT_ENUM_EQ(VB_LOG_RING_MEMORY, T.last_log, tg_log_name);
    }
    ASSERT_EQ(0u, low_reads);
    ASSERT_EQ(UINT64_MAX, tg_stat(&T, VB_STAT_MEMFREE));
    PASS();
}

TEST ring_avail_address_wraps(void)
{
    ASSERT_EQ(0, start_with(&count_host, &cfg, TG_LINUX_FEATURES));
    /* what a wrapped access would find at guest-physical 0: avail idx 1, head 0 */
    tg_put16(&T, 0, 1); /* avail + 2 wraps to 0: idx */
    tg_put16(&T, 2, 0); /* avail + 4 wraps to 2: ring[0] */
    tg_desc(&T, SQ, 0, rec1(VB_STAT_MEMFREE, 0x5a), 10, 0, 0);
    CHECK_CALL(wrapped_ring(tg_desc_addr(SQ), UINT64_MAX - 1u, 0));
    PASS();
}

TEST ring_desc_address_wraps(void)
{
    ASSERT_EQ(0, start_with(&count_host, &cfg, TG_LINUX_FEATURES));
    /* descriptor 100 of a table at 2^64 - 0x400 would be read from 0x240 */
    tg_desc_at(&T, 0x240, 0, rec1(VB_STAT_MEMFREE, 0x5a), 10, 0, 0);
    CHECK_CALL(wrapped_ring(UINT64_MAX - 0x3ffu, tg_avail_addr(&T, SQ), 100));
    PASS();
}

/* ============================================================================================
   Descriptor lengths, addresses and order
   ============================================================================================ */

TEST zero_length_descriptor(void)
{
    ASSERT_EQ(0, start());
    hold_good();
    tg_desc(&T, SQ, 1, rec1(4, 1), 0, 0, 0);
    tg_publish(&T, SQ, 1);
    tg_kick(&T, SQ);
    CHECK_CALL(broken(VB_LOG_ZERO_LEN, 0));
    CHECK_CALL(stats_unchanged());
    CHECK_CALL(nothing_returned(SQ, 0));
    ASSERT_RING_READS(3u);
    PASS();
}

/* Good records before the bad descriptor are not taken either. */
TEST zero_length_descriptor_mid_chain(void)
{
    ASSERT_EQ(0, start());
    hold_good();
    tg_desc(&T, SQ, 1, rec1(VB_STAT_MEMFREE, 4242), 10, F_NEXT, 2);
    tg_desc(&T, SQ, 2, rec1(5, 1), 0, 0, 0);
    tg_publish(&T, SQ, 1);
    tg_kick(&T, SQ);
    CHECK_CALL(broken(VB_LOG_ZERO_LEN, 0));
    CHECK_CALL(stats_unchanged());
    PASS();
}

TEST zero_length_inflate_descriptor(void)
{
    ASSERT_EQ(0, start());
    tg_desc(&T, IQ, 0, tg_alloc(&T, 4), 0, 0, 0);
    tg_publish(&T, IQ, 0);
    tg_kick(&T, IQ);
    CHECK_CALL(broken(VB_LOG_ZERO_LEN, 0));
    ASSERT_EQ(0u, T.npages);
    PASS();
}

TEST address_plus_length_overflow(void)
{
    ASSERT_EQ(0, start());
    hold_good();
    tg_desc(&T, SQ, 1, UINT64_MAX - 5u, 10, 0, 0);
    tg_publish(&T, SQ, 1);
    tg_kick(&T, SQ);
    CHECK_CALL(broken(VB_LOG_LEN_OVERFLOW, 0)); /* refused before the host is asked */
    CHECK_CALL(stats_unchanged());
    ASSERT_RING_READS(3u);
    PASS();
}

TEST address_plus_length_overflow_inflate(void)
{
    ASSERT_EQ(0, start());
    tg_desc(&T, IQ, 0, UINT64_MAX - 1u, 4, 0, 0);
    tg_publish(&T, IQ, 0);
    tg_kick(&T, IQ);
    CHECK_CALL(broken(VB_LOG_LEN_OVERFLOW, 0));
    ASSERT_EQ(0u, T.npages);
    PASS();
}

/* Ending exactly at 2^64 - 1 is no overflow: the host is asked, and refuses. */
TEST address_at_top_of_space_is_refused_by_host(void)
{
    ASSERT_EQ(0, start());
    hold_good();
    tg_desc(&T, SQ, 1, UINT64_MAX - 10u, 10, 0, 0);
    tg_publish(&T, SQ, 1);
    tg_kick(&T, SQ);
    CHECK_CALL(broken(VB_LOG_BAD_MEMORY, 1));
    CHECK_CALL(stats_unchanged());
    PASS();
}

TEST readable_after_writable(void)
{
    ASSERT_EQ(0, start());
    hold_good();
    tg_desc(&T, SQ, 1, tg_alloc(&T, 16), 16, F_WRITE | F_NEXT, 2);
    tg_desc(&T, SQ, 2, rec1(4, 1), 10, 0, 0);
    tg_publish(&T, SQ, 1);
    tg_kick(&T, SQ);
    CHECK_CALL(broken(VB_LOG_DESC_ORDER, 0));
    CHECK_CALL(stats_unchanged());
    CHECK_CALL(nothing_returned(SQ, 0));
    PASS();
}

TEST readable_after_writable_inflate(void)
{
    static const uint32_t pfn[1] = {0x100};
    ASSERT_EQ(0, start());
    tg_desc(&T, IQ, 0, tg_alloc(&T, 16), 16, F_WRITE | F_NEXT, 1);
    tg_desc(&T, IQ, 1, pfn_data(pfn, 1), 4, 0, 0);
    tg_publish(&T, IQ, 0);
    tg_kick(&T, IQ);
    CHECK_CALL(broken(VB_LOG_DESC_ORDER, 0));
    ASSERT_EQ(0u, T.npages);
    PASS();
}

/* A buffer with only device-writable space: no stats, held, writable memory never touched. */
TEST writable_only_stats_buffer(void)
{
    uint64_t w;
    uint32_t id = 99;
    unsigned i;
    ASSERT_EQ(0, start());
    hold_good();
    w = tg_alloc(&T, 64);
    deny(w, 64);
    tg_desc(&T, SQ, 1, w, 64, F_WRITE, 0);
    tg_publish(&T, SQ, 1);
    tg_kick(&T, SQ);
    CHECK_CALL(healthy());
    for (i = 0; i < VB_STAT_COUNT; i++) ASSERT_EQ(UINT64_MAX, tg_stat(&T, i));
    ASSERT_EQ(2u, vb_get_counters(&T.dev)->updates);
    ASSERT_EQ(1u, tg_used(&T, SQ, &id, NULL, 1)); /* the old one came back at the kick */
    ASSERT_EQ(0u, id);
    CHECK_CALL(poll_returns(1)); /* and the new one is held */
    PASS();
}

/* ============================================================================================
   Odd and huge stats buffers
   ============================================================================================ */

TEST nine_byte_buffer(void)
{
    uint64_t gpa;
    unsigned i;
    ASSERT_EQ(0, start());
    gpa = tg_alloc(&T, 9);
    memset(T.mem + gpa, 0x04, 9);
    tg_desc(&T, SQ, 0, gpa, 9, 0, 0);
    tg_publish(&T, SQ, 0);
    tg_kick(&T, SQ);
    CHECK_CALL(healthy());
    for (i = 0; i < VB_STAT_COUNT; i++) ASSERT_EQ(UINT64_MAX, tg_stat(&T, i));
    ASSERT_EQ(T.wall, vb_last_update(&T.dev));
    ASSERT_EQ(1u, vb_get_counters(&T.dev)->updates);
    CHECK_CALL(poll_returns(0));
    PASS();
}

TEST ten_n_plus_three_byte_buffer(void)
{
    uint64_t vals[16], gpa;
    unsigned i;
    ASSERT_EQ(0, start());
    tg_values(vals, tg_linux612_tags, 16, 3);
    gpa = tg_alloc(&T, 163);
    tg_records(&T, gpa, tg_linux612_tags, vals, 16);
    T.mem[gpa + 160] = 4; /* the start of a 17th record: tag 4 ... */
    T.mem[gpa + 161] = 0;
    T.mem[gpa + 162] = 0xff;
    tg_desc(&T, SQ, 0, gpa, 163, 0, 0);
    tg_publish(&T, SQ, 0);
    tg_kick(&T, SQ);
    CHECK_CALL(healthy());
    for (i = 0; i < 16; i++) ASSERT_EQ(vals[i], tg_stat(&T, tg_linux612_tags[i]));
    CHECK_CALL(poll_returns(0));
    PASS();
}

/* 400 records (tag k % 16, value k) at gpa: parsing all would leave 384 + t in tag t, parsing
   exactly the first 256 leaves 240 + t. */
static uint64_t many_records(void)
{
    uint64_t gpa = tg_alloc(&T, 4000);
    unsigned k;
    for (k = 0; k < 400; k++) {
        uint16_t tag = (uint16_t)(k % 16);
        uint64_t val = k;
        tg_records(&T, gpa + 10u * k, &tag, &val, 1);
    }
    return gpa;
}

static enum greatest_test_res first_256_records_only(void)
{
    unsigned t;
    for (t = 0; t < 16; t++) ASSERT_EQ(240u + t, tg_stat(&T, t));
    PASS();
}

TEST stats_1mib_single_descriptor(void)
{
    uint64_t gpa;
    ASSERT_EQ(0, start_counting());
    gpa = many_records();
    tg_desc(&T, SQ, 0, gpa, 1u << 20, 0, 0); /* runs past the end of guest RAM */
    tg_publish(&T, SQ, 0);
    tg_kick(&T, SQ);
    CHECK_CALL(healthy());
    ASSERT_EQ(2560u, data_bytes);
    CHECK_CALL(first_256_records_only());
    ASSERT_EQ(1u, T.log_count[VB_LOG_STATS_TRUNCATED]);
    ASSERT_ENUM_EQ(VB_LOG_STATS_TRUNCATED, T.last_log, tg_log_name);
    ASSERT_LTE(T.reads, 3u + 2560u / 10u);
    CHECK_CALL(poll_returns(0));
    PASS();
}

TEST stats_1mib_over_128_descriptors(void)
{
    uint64_t gpa, off = 0;
    unsigned i;
    ASSERT_EQ(0, start_counting());
    gpa = many_records();
    for (i = 0; i < 127; i++, off += 23) /* 23-byte slices: records straddle descriptors */
        tg_desc(&T, SQ, i, gpa + off, 23, F_NEXT, (uint16_t)(i + 1));
    tg_desc(&T, SQ, 127, gpa + off, (uint32_t)((1u << 20) - off), 0, 0);
    tg_publish(&T, SQ, 0);
    tg_kick(&T, SQ);
    CHECK_CALL(healthy());
    ASSERT_EQ(2560u, data_bytes);
    CHECK_CALL(first_256_records_only());
    ASSERT_EQ(1u, T.log_count[VB_LOG_STATS_TRUNCATED]);
    ASSERT_LTE(T.reads, 2u + 128u + 128u);
    CHECK_CALL(poll_returns(0));
    PASS();
}

/* Firecracker ed96b50 / kvmtool: a guest-chosen length of almost 4 GiB costs 2560 bytes. */
TEST fc_ed96b50_unbounded_stats_length(void)
{
    uint64_t gpa;
    ASSERT_EQ(0, start_counting());
    gpa = many_records();
    tg_desc(&T, SQ, 0, gpa, 0xfffffff0u, 0, 0);
    tg_publish(&T, SQ, 0);
    tg_kick(&T, SQ);
    CHECK_CALL(healthy());
    ASSERT_EQ(2560u, data_bytes);
    ASSERT_LTE(T.reads, 3u + 16u); /* idx, head, descriptor, 2560 bytes in 160-byte reads */
    CHECK_CALL(first_256_records_only());
    ASSERT_EQ(1u, T.log_count[VB_LOG_STATS_TRUNCATED]);
    PASS();
}

/* The budget ends exactly at a descriptor boundary and more data follows: still truncated. */
TEST stats_truncated_at_descriptor_boundary(void)
{
    uint64_t gpa;
    ASSERT_EQ(0, start_counting());
    gpa = many_records();
    tg_desc(&T, SQ, 0, gpa, 2560, F_NEXT, 1);
    tg_desc(&T, SQ, 1, gpa + 2560, 1000, 0, 0);
    tg_publish(&T, SQ, 0);
    tg_kick(&T, SQ);
    CHECK_CALL(healthy());
    ASSERT_EQ(2560u, data_bytes);
    CHECK_CALL(first_256_records_only());
    ASSERT_EQ_FMT(1u, T.log_count[VB_LOG_STATS_TRUNCATED], "%u");
    PASS();
}

TEST stats_exactly_max_bytes_not_truncated(void)
{
    uint64_t gpa;
    ASSERT_EQ(0, start_counting());
    gpa = many_records();
    tg_desc(&T, SQ, 0, gpa, 1280, F_NEXT, 1);
    tg_desc(&T, SQ, 1, gpa + 1280, 1280, 0, 0);
    tg_publish(&T, SQ, 0);
    tg_kick(&T, SQ);
    CHECK_CALL(healthy());
    ASSERT_EQ(2560u, data_bytes);
    CHECK_CALL(first_256_records_only());
    ASSERT_EQ(0u, T.log_count[VB_LOG_STATS_TRUNCATED]);
    ASSERT_EQ(VB_LOG_NONE, T.last_log);
    PASS();
}

/* ============================================================================================
   The stats protocol under a misbehaving driver
   ============================================================================================ */

/* Firecracker 326fc46: the old buffer must really be published (index and interrupt). */
TEST fc326fc46_second_buffer_publishes_the_old(void)
{
    uint32_t id = 99, len = 99;
    ASSERT_EQ(0, start());
    tg_send_stats(&T, 10, 1);
    tg_desc(&T, SQ, 1, rec1(VB_STAT_MEMFREE, 555), 10, 0, 0);
    tg_publish(&T, SQ, 1);
    tg_kick(&T, SQ);
    CHECK_CALL(healthy());
    ASSERT_EQ(1, tg_used_idx(&T, SQ));
    ASSERT_EQ(1u, tg_used(&T, SQ, &id, &len, 1));
    ASSERT_EQ(0u, id);
    ASSERT_EQ(0u, len);
    ASSERT_EQ(1u, T.irq[SQ]);
    ASSERT_ENUM_EQ(VB_LOG_STATS_SECOND_BUFFER, T.last_log, tg_log_name);
    ASSERT_EQ(1u, vb_get_counters(&T.dev)->duplicates);
    ASSERT_EQ(555u, tg_stat(&T, VB_STAT_MEMFREE));
    ASSERT_EQ(UINT64_MAX, tg_stat(&T, VB_STAT_MEMTOT)); /* the new buffer only */
    CHECK_CALL(poll_returns(1));
    PASS();
}

/* QEMU's double-kick crash (2017): two kicks with one new buffer each, then a poll. */
TEST qemu_double_kick(void)
{
    uint32_t id = 99;
    ASSERT_EQ(0, start());
    tg_desc(&T, SQ, 0, rec1(VB_STAT_MEMFREE, 1), 10, 0, 0);
    tg_publish(&T, SQ, 0);
    tg_kick(&T, SQ);
    ASSERT_EQ(0u, tg_used(&T, SQ, NULL, NULL, 0));
    tg_desc(&T, SQ, 1, rec1(VB_STAT_MEMFREE, 2), 10, 0, 0);
    tg_publish(&T, SQ, 1);
    tg_kick(&T, SQ);
    ASSERT_EQ(1u, tg_used(&T, SQ, &id, NULL, 1));
    ASSERT_EQ(0u, id);
    ASSERT_EQ(2u, tg_stat(&T, VB_STAT_MEMFREE));
    CHECK_CALL(poll_returns(1));
    tg_fire(&T); /* nothing held any more: nothing else comes back */
    CHECK_CALL(nothing_returned(SQ, 2));
    CHECK_CALL(healthy());
    PASS();
}

/* A kick without a new buffer is spurious: nothing returned, nothing parsed again. */
TEST repeated_kick_same_buffer(void)
{
    ASSERT_EQ(0, start());
    tg_send_stats(&T, 10, 1);
    T.wall += 50;
    tg_kick(&T, SQ);
    tg_kick(&T, SQ);
    CHECK_CALL(healthy());
    CHECK_CALL(nothing_returned(SQ, 0));
    ASSERT_EQ(1u, vb_get_counters(&T.dev)->updates);
    ASSERT_EQ(T.wall - 50, vb_last_update(&T.dev));
    CHECK_CALL(poll_returns(0));
    PASS();
}

/* Firecracker #5516: Linux 6.12 tags (and any tag >= 16) must not stop stats. */
TEST fc5516_unknown_tags_keep_stats_alive(void)
{
    static const uint16_t tags[6] = {16, VB_STAT_MEMFREE, 17, 0xffff, 100, VB_STAT_MEMTOT};
    uint64_t vals[6] = {1, 2, 3, 4, 5, 6};
    ASSERT_EQ(0, start());
    tg_stats_buffer(&T, 0, tags, vals, 6);
    tg_kick(&T, SQ);
    CHECK_CALL(healthy());
    ASSERT_EQ(2u, tg_stat(&T, VB_STAT_MEMFREE));
    ASSERT_EQ(6u, tg_stat(&T, VB_STAT_MEMTOT));
    ASSERT_EQ(4u, vb_get_counters(&T.dev)->unknown_tags);
    ASSERT_EQ(VB_LOG_NONE, T.last_log);
    CHECK_CALL(poll_returns(0)); /* the buffer was held, not leaked */
    vals[1] = 20;
    tg_stats_buffer(&T, 0, tags, vals, 6);
    tg_kick(&T, SQ);
    ASSERT_EQ(20u, tg_stat(&T, VB_STAT_MEMFREE));
    ASSERT_EQ(2u, vb_get_counters(&T.dev)->updates);
    CHECK_CALL(poll_returns(0));
    PASS();
}

TEST only_unknown_tags(void)
{
    static const uint16_t tags[3] = {0xffff, 0xfffe, 16};
    uint64_t vals[3] = {1, 2, 3};
    unsigned i;
    ASSERT_EQ(0, start());
    hold_good();
    tg_stats_buffer(&T, 1, tags, vals, 3);
    tg_kick(&T, SQ);
    CHECK_CALL(healthy());
    for (i = 0; i < VB_STAT_COUNT; i++) ASSERT_EQ(UINT64_MAX, tg_stat(&T, i));
    ASSERT_EQ(3u, vb_get_counters(&T.dev)->unknown_tags);
    ASSERT_EQ(2u, vb_get_counters(&T.dev)->updates);
    ASSERT_EQ(T.wall, vb_last_update(&T.dev));
    ASSERT_EQ(1u, tg_used(&T, SQ, NULL, NULL, 0)); /* the old one */
    CHECK_CALL(poll_returns(1));
    PASS();
}

/* ============================================================================================
   Avail index abuse, readiness, bogus queue numbers
   ============================================================================================ */

TEST avail_index_runaway(void)
{
    ASSERT_EQ(0, start());
    hold_good();
    tg_desc(&T, SQ, 1, rec1(4, 1), 10, 0, 0);
    tg_set_avail_idx(&T, SQ, (uint16_t)(1u + 129u));
    tg_kick(&T, SQ);
    CHECK_CALL(broken(VB_LOG_AVAIL_RUNAWAY, 0));
    ASSERT_RING_READS(1u);
    CHECK_CALL(stats_unchanged());
    CHECK_CALL(nothing_returned(SQ, 0));
    PASS();
}

TEST avail_index_moves_backwards(void)
{
    ASSERT_EQ(0, start());
    hold_good();
    tg_set_avail_idx(&T, SQ, 0); /* was 1: 0xffff buffers "available" */
    tg_kick(&T, SQ);
    CHECK_CALL(broken(VB_LOG_AVAIL_RUNAWAY, 0));
    CHECK_CALL(stats_unchanged());
    PASS();
}

TEST avail_index_runaway_inflate(void)
{
    ASSERT_EQ(0, start());
    tg_set_avail_idx(&T, IQ, 0x8000);
    tg_kick(&T, IQ);
    CHECK_CALL(broken(VB_LOG_AVAIL_RUNAWAY, 0));
    ASSERT_EQ(0u, T.npages);
    PASS();
}

TEST kick_on_stopped_queue_reads_nothing(void)
{
    ASSERT_EQ(0, start());
    tg_desc(&T, SQ, 0, rec1(4, 1), 10, 0, 0);
    tg_publish(&T, SQ, 0);
    ASSERT_EQ(VB_OK, vb_queue_set_ready(&T.dev, SQ, 0));
    T.reads = T.writes = T.maps = T.data_maps = 0;
    tg_kick(&T, SQ);
    ASSERT_EQ(0u, T.reads);
    ASSERT_EQ(0u, T.writes);
    ASSERT_FALSE(vb_is_broken(&T.dev));
    ASSERT_EQ(UINT64_MAX, tg_stat(&T, 4));
    ASSERT_ENUM_EQ(VB_LOG_QUEUE_NOT_READY, T.last_log, tg_log_name);
    PASS();
}

TEST kick_on_queue_never_set_up_reads_nothing(void)
{
    unsigned q;
    ASSERT_EQ(0, tg_create(&T, &cfg));
    for (q = 0; q < VB_QUEUE_COUNT; q++) tg_kick(&T, q);
    ASSERT_EQ(0u, T.reads);
    ASSERT_EQ(0u, T.writes);
    ASSERT_FALSE(vb_is_broken(&T.dev));
    ASSERT_EQ(3u, T.log_count[VB_LOG_QUEUE_NOT_READY]);
    ASSERT_EQ(0u, T.irq[0] + T.irq[1] + T.irq[2] + T.config_irqs);
    PASS();
}

TEST notify_on_bogus_queue_numbers_ignored(void)
{
    unsigned i;
    static const unsigned bogus[4] = {3, 4, 0x80000000u, 0xffffffffu};
    ASSERT_EQ(0, start());
    tg_desc(&T, SQ, 0, rec1(4, 1), 10, 0, 0);
    tg_publish(&T, SQ, 0);
    for (i = 0; i < 4; i++) vb_queue_notify(&T.dev, bogus[i]);
    ASSERT_EQ(0u, T.reads);
    ASSERT_EQ(0u, T.writes);
    CHECK_CALL(healthy());
    ASSERT_EQ(VB_LOG_NONE, T.last_log);
    ASSERT_EQ(UINT64_MAX, tg_stat(&T, 4)); /* not mistaken for the stats queue */
    tg_kick(&T, SQ);
    ASSERT_EQ(1u, tg_stat(&T, 4));
    PASS();
}

/* A million kicks on an empty stats queue: one read each, every one re-arms the poll (the host's
   timer is told only when the deadline moves: once per millisecond of VM time here). */
TEST storm_of_a_million_empty_kicks(void)
{
    const unsigned kicks = 1000000;
    unsigned i, arms;
    ASSERT_EQ(0, start());
    ASSERT_EQ(VB_OK, vb_set_poll_interval_ms(&T.dev, 5000));
    arms = T.arms;
    T.reads = T.writes = T.maps = T.data_maps = 0;
    for (i = 0; i < kicks; i++) {
        if (i % 1000 == 0) T.now_ms++;
        tg_kick(&T, SQ);
    }
    CHECK_CALL(healthy());
    ASSERT_LTE(T.reads, 2u * kicks);
    ASSERT_RING_READS(kicks);
    ASSERT_EQ(0u, T.writes);
    ASSERT_EQ(arms + kicks / 1000u, T.arms);
    ASSERT(T.armed);
    ASSERT_EQ(T.now_ms + 5000u, T.deadline);
    ASSERT_EQ(T.now_ms + 5000u, vb_next_deadline(&T.dev));
    ASSERT_EQ(0u, T.irq[SQ]);
    ASSERT_EQ(0u, vb_get_counters(&T.dev)->updates);
    PASS();
}

/* A million kicks, half with a fresh buffer, each answered by a poll: the held buffer is never
   leaked, the used index wraps many times, one interrupt per poll. */
TEST storm_of_a_million_kicks_with_polls(void)
{
    const unsigned rounds = 500000;
    uint64_t data[2];
    unsigned i, wrong = 0;
    ASSERT_EQ(0, start());
    ASSERT_EQ(VB_OK, vb_set_poll_interval_ms(&T.dev, 1000));
    tg_fire(&T); /* nothing held: only re-arms */
    data[0] = rec1(VB_STAT_MEMFREE, 0);
    data[1] = rec1(VB_STAT_MEMFREE, 0);
    tg_desc(&T, SQ, 0, data[0], 10, 0, 0);
    tg_desc(&T, SQ, 1, data[1], 10, 0, 0);
    T.reads = T.maps = T.data_maps = 0;
    for (i = 0; i < rounds; i++) {
        uint32_t id = 0xdead;
        uint16_t head = (uint16_t)(i & 1u);
        tg_put64(&T, data[head] + 2u, i);
        set_used_event(SQ, T.used_seen[SQ]); /* the driver wants the next interrupt */
        tg_publish(&T, SQ, head);
        tg_kick(&T, SQ);
        tg_kick(&T, SQ); /* spurious */
        if (tg_stat(&T, VB_STAT_MEMFREE) != i) wrong++;
        tg_fire(&T);
        if (tg_used(&T, SQ, &id, NULL, 1) != 1 || id != head) wrong++;
    }
    ASSERT_EQ(0u, wrong);
    CHECK_CALL(healthy());
    ASSERT_EQ(rounds, vb_get_counters(&T.dev)->updates);
    ASSERT_EQ(rounds, vb_get_counters(&T.dev)->polls);
    ASSERT_EQ(0u, vb_get_counters(&T.dev)->duplicates);
    ASSERT_EQ(rounds, T.irq[SQ]);
    ASSERT_EQ((uint16_t)rounds, tg_used_idx(&T, SQ));
    ASSERT_EQ((uint16_t)rounds, vb_queue_base(&T.dev, SQ));
    ASSERT_LTE(T.reads, 4u * rounds * 2u);
    /* and the protocol still works */
    tg_publish(&T, SQ, 0);
    tg_kick(&T, SQ);
    CHECK_CALL(poll_returns(0));
    PASS();
}

/* ============================================================================================
   In-flight accounting and the used ring
   ============================================================================================ */

static int setup_queues_not_ready(uint64_t features)
{
    unsigned q;
    if (tg_create(&T, &cfg)) return -1;
    vb_set_status(&T.dev, VB_S_ACKNOWLEDGE | VB_S_DRIVER);
    vb_set_driver_features(&T.dev, features);
    vb_set_status(&T.dev, VB_S_ACKNOWLEDGE | VB_S_DRIVER | VB_S_FEATURES_OK);
    for (q = 0; q < VB_QUEUE_COUNT; q++) {
        T.qsize[q] = 128;
        if (vb_queue_setup(&T.dev, q, 128, tg_desc_addr(q), tg_avail_addr(&T, q), tg_used_addr(&T, q)))
            return -1;
    }
    return 0;
}

TEST inflight_beyond_size_breaks_at_ready(void)
{
    ASSERT_EQ(0, setup_queues_not_ready(TG_LINUX_FEATURES));
    ASSERT_EQ(VB_OK, vb_queue_set_base(&T.dev, SQ, 129)); /* used idx in RAM is 0 */
    ASSERT_EQ(VB_OK, vb_queue_set_ready(&T.dev, SQ, 1));
    CHECK_CALL(broken(VB_LOG_QUEUE_OVERRUN, 0));
    PASS();
}

TEST inflight_equal_to_size_breaks_at_pop(void)
{
    ASSERT_EQ(0, setup_queues_not_ready(TG_LINUX_FEATURES));
    ASSERT_EQ(VB_OK, vb_queue_set_base(&T.dev, IQ, 128));
    ASSERT_EQ(VB_OK, vb_queue_set_ready(&T.dev, IQ, 1));
    ASSERT_FALSE(vb_is_broken(&T.dev)); /* a full queue in flight is legal ... */
    tg_set_avail_idx(&T, IQ, 129);
    tg_put16(&T, tg_avail_addr(&T, IQ) + 4u, 0);
    tg_desc(&T, IQ, 0, tg_alloc(&T, 4), 4, 0, 0);
    T.reads = T.maps = T.data_maps = 0;
    tg_kick(&T, IQ); /* ... taking one more is not: QEMU's order, empty check first */
    CHECK_CALL(broken(VB_LOG_QUEUE_OVERRUN, 0));
    ASSERT_RING_READS(1u); /* the avail index; no head, no descriptor */
    ASSERT_EQ(0u, T.npages);
    PASS();
}

TEST resume_from_base_continues(void)
{
    static const uint32_t pfn[1] = {0x123};
    uint32_t id = 99;
    ASSERT_EQ(0, setup_queues_not_ready(TG_LINUX_FEATURES));
    ASSERT_EQ(VB_OK, vb_queue_set_base(&T.dev, IQ, 300));
    tg_put16(&T, tg_used_addr(&T, IQ) + 2u, 300); /* the guest's used idx matches */
    ASSERT_EQ(VB_OK, vb_queue_set_ready(&T.dev, IQ, 1));
    T.avail_idx[IQ] = 300;
    T.used_seen[IQ] = 300;
    pfn_buf(IQ, 7, pfn, 1);
    tg_kick(&T, IQ);
    CHECK_CALL(healthy());
    ASSERT_EQ(1u, tg_used(&T, IQ, &id, NULL, 1));
    ASSERT_EQ(7u, id);
    ASSERT_EQ(301, tg_used_idx(&T, IQ));
    ASSERT_EQ(301, vb_queue_base(&T.dev, IQ));
    PASS();
}

/* The guest scribbles over the used ring: the device keeps its own used index. */
TEST guest_rewrites_used_ring(void)
{
    static const uint32_t pfn[1] = {0x100};
    uint64_t used;
    ASSERT_EQ(0, start());
    used = tg_used_addr(&T, IQ);
    pfn_buf(IQ, 3, pfn, 1);
    tg_kick(&T, IQ);
    ASSERT_EQ(1, tg_used_idx(&T, IQ));
    tg_put16(&T, used + 2u, 77);
    memset(T.mem + used + 4u, 0xee, 8u * 128u);
    pfn_buf(IQ, 4, pfn, 1);
    tg_kick(&T, IQ);
    CHECK_CALL(healthy());
    ASSERT_EQ(2, tg_used_idx(&T, IQ));
    ASSERT_EQ(4u, tg_get32(&T, used + 4u + 8u * 1u)); /* element 1, not 77 */
    ASSERT_EQ(0u, tg_get32(&T, used + 4u + 8u * 1u + 4u));
    ASSERT_EQ(0xeeeeeeeeu, tg_get32(&T, used + 4u + 8u * 77u));
    PASS();
}

TEST guest_rewrites_used_index_of_stats_queue(void)
{
    ASSERT_EQ(0, start());
    tg_send_stats(&T, 10, 1);
    CHECK_CALL(poll_returns(0));
    tg_put16(&T, tg_used_addr(&T, SQ) + 2u, 1000);
    T.used_seen[SQ] = 1;
    tg_send_stats(&T, 10, 2);
    CHECK_CALL(healthy());
    tg_fire(&T);
    ASSERT_EQ(2, tg_used_idx(&T, SQ));
    PASS();
}

/* ============================================================================================
   Inflate and deflate
   ============================================================================================ */

static enum greatest_test_res range_is(unsigned i, unsigned q, uint64_t gpa, uint64_t len)
{
    ASSERT(i < T.npages);
    ASSERT_EQ(q, T.pages[i].queue);
    ASSERT_U64(gpa, T.pages[i].gpa);
    ASSERT_U64(len, T.pages[i].len);
    PASS();
}

TEST inflate_coalesces_contiguous_pfns(void)
{
    static const uint32_t pfns[8] = {0x100, 0x101, 0x102, 0x200, 0x201, 0x50, 0x51, 0x51};
    uint32_t id = 99, len = 99;
    ASSERT_EQ(0, start());
    pfn_buf(IQ, 0, pfns, 8);
    tg_kick(&T, IQ);
    CHECK_CALL(healthy());
    ASSERT_EQ(4u, T.npages);
    CHECK_CALL(range_is(0, IQ, 0x100000, 3 * PAGE));
    CHECK_CALL(range_is(1, IQ, 0x200000, 2 * PAGE));
    CHECK_CALL(range_is(2, IQ, 0x50000, 2 * PAGE));
    CHECK_CALL(range_is(3, IQ, 0x51000, 1 * PAGE)); /* a repeated PFN is not merged */
    ASSERT_EQ(1u, tg_used(&T, IQ, &id, &len, 1));
    ASSERT_EQ(0u, id);
    ASSERT_EQ(0u, len);
    ASSERT_EQ(1u, T.irq[IQ]);
    PASS();
}

TEST inflate_descending_pfns_not_merged(void)
{
    static const uint32_t pfns[3] = {0x102, 0x101, 0x100};
    ASSERT_EQ(0, start());
    pfn_buf(IQ, 0, pfns, 3);
    tg_kick(&T, IQ);
    ASSERT_EQ(3u, T.npages);
    CHECK_CALL(range_is(0, IQ, 0x102000, PAGE));
    CHECK_CALL(range_is(2, IQ, 0x100000, PAGE));
    PASS();
}

/* QEMU 2019: PFNs >= 2^31 were sign-extended. */
TEST inflate_high_pfns_not_sign_extended(void)
{
    static const uint32_t pfns[3] = {0x80000000u, 0x80000001u, 0xffffffffu};
    ASSERT_EQ(0, start());
    pfn_buf(IQ, 0, pfns, 3);
    tg_kick(&T, IQ);
    ASSERT_EQ(2u, T.npages);
    CHECK_CALL(range_is(0, IQ, 0x80000000ull << 12, 2 * PAGE));
    CHECK_CALL(range_is(1, IQ, 0xffffffffull << 12, PAGE));
    PASS();
}

TEST deflate_uses_queue_1(void)
{
    static const uint32_t pfns[2] = {0x300, 0x301};
    uint32_t id = 99, len = 99;
    ASSERT_EQ(0, start());
    pfn_buf(DQ, 9, pfns, 2);
    tg_kick(&T, DQ);
    CHECK_CALL(healthy());
    ASSERT_EQ(1u, T.npages);
    CHECK_CALL(range_is(0, DQ, 0x300000, 2 * PAGE));
    ASSERT_EQ(1u, tg_used(&T, DQ, &id, &len, 1));
    ASSERT_EQ(9u, id);
    ASSERT_EQ(0u, len);
    ASSERT_EQ(1u, T.irq[DQ]);
    ASSERT_EQ(0u, T.irq[IQ]);
    ASSERT_EQ(0, tg_used_idx(&T, IQ));
    PASS();
}

TEST pfn_straddles_descriptors(void)
{
    static const uint32_t pfns[3] = {0x300, 0x301, 0x500};
    uint64_t gpa;
    ASSERT_EQ(0, start());
    gpa = pfn_data(pfns, 3);
    tg_desc(&T, IQ, 0, gpa, 6, F_NEXT, 1);      /* PFN 0 and half of PFN 1 */
    tg_desc(&T, IQ, 1, gpa + 6, 1, F_NEXT, 2);  /* one more byte of PFN 1 */
    tg_desc(&T, IQ, 2, gpa + 7, 5, 0, 0);       /* its last byte and PFN 2 */
    tg_publish(&T, IQ, 0);
    tg_kick(&T, IQ);
    CHECK_CALL(healthy());
    ASSERT_EQ(2u, T.npages);
    CHECK_CALL(range_is(0, IQ, 0x300000, 2 * PAGE));
    CHECK_CALL(range_is(1, IQ, 0x500000, PAGE));
    ASSERT_EQ(1u, tg_used(&T, IQ, NULL, NULL, 0));
    PASS();
}

TEST inflate_trailing_partial_pfn_ignored(void)
{
    static const uint32_t pfns[3] = {0x10, 0x11, 0x12};
    uint64_t gpa;
    ASSERT_EQ(0, start());
    gpa = pfn_data(pfns, 3);
    tg_desc(&T, IQ, 0, gpa, 10, 0, 0);
    tg_publish(&T, IQ, 0);
    tg_kick(&T, IQ);
    CHECK_CALL(healthy());
    ASSERT_EQ(1u, T.npages);
    CHECK_CALL(range_is(0, IQ, 0x10000, 2 * PAGE));
    PASS();
}

TEST inflate_writable_descriptors_skipped(void)
{
    static const uint32_t pfns[1] = {0x42};
    uint64_t w;
    ASSERT_EQ(0, start());
    w = tg_alloc(&T, 64);
    deny(w, 64);
    tg_desc(&T, IQ, 0, pfn_data(pfns, 1), 4, F_NEXT, 1);
    tg_desc(&T, IQ, 1, w, 64, F_WRITE, 0);
    tg_publish(&T, IQ, 0);
    tg_kick(&T, IQ);
    CHECK_CALL(healthy());
    ASSERT_EQ(1u, T.npages);
    CHECK_CALL(range_is(0, IQ, 0x42000, PAGE));
    PASS();
}

TEST inflate_one_interrupt_per_buffer(void)
{
    static const uint32_t a[1] = {0x10}, b[1] = {0x20}, c[1] = {0x30};
    uint32_t ids[3], lens[3];
    ASSERT_EQ(0, start_with(&tg_host, &cfg, NO_EVENT_IDX_FEATURES));
    pfn_buf(IQ, 4, a, 1);
    pfn_buf(IQ, 5, b, 1);
    pfn_buf(IQ, 6, c, 1);
    tg_kick(&T, IQ);
    CHECK_CALL(healthy());
    ASSERT_EQ(3u, tg_used(&T, IQ, ids, lens, 3));
    ASSERT_EQ(4u, ids[0]);
    ASSERT_EQ(5u, ids[1]);
    ASSERT_EQ(6u, ids[2]);
    ASSERT_EQ(0u, lens[0] | lens[1] | lens[2]);
    ASSERT_EQ(3u, T.irq[IQ]);
    ASSERT_EQ(3u, T.npages);
    PASS();
}

/* A whole queue of buffers in one kick, twice (the avail ring wraps). */
TEST inflate_full_queue_in_one_kick(void)
{
    unsigned round, i;
    ASSERT_EQ(0, start_with(&tg_host, &cfg, NO_EVENT_IDX_FEATURES));
    for (round = 0; round < 2; round++) {
        uint32_t ids[128];
        for (i = 0; i < 128; i++) {
            uint32_t pfn = 0x1000u + 2u * i;
            pfn_buf(IQ, (uint16_t)(127u - i), &pfn, 1);
        }
        tg_kick(&T, IQ);
        CHECK_CALL(healthy());
        ASSERT_EQ(128u, tg_used(&T, IQ, ids, NULL, 128));
        for (i = 0; i < 128; i++) ASSERT_EQ(127u - i, ids[i]);
        ASSERT_EQ(128u * (round + 1u), T.irq[IQ]);
        ASSERT_EQ(128u * (round + 1u), T.npages);
    }
    CHECK_CALL(range_is(5, IQ, (0x1000u + 10u) << 12, PAGE));
    ASSERT_EQ(256, tg_used_idx(&T, IQ));
    PASS();
}

/* A bad second buffer: the first is fully processed and returned, then the device breaks. */
TEST inflate_bad_second_buffer(void)
{
    static const uint32_t pfns[1] = {0x77};
    uint32_t id = 99;
    ASSERT_EQ(0, start());
    pfn_buf(IQ, 0, pfns, 1);
    tg_desc(&T, IQ, 1, tg_alloc(&T, 4), 0, 0, 0);
    tg_publish(&T, IQ, 1);
    tg_kick(&T, IQ);
    CHECK_CALL(broken(VB_LOG_ZERO_LEN, 0));
    ASSERT_EQ(1u, T.npages);
    CHECK_CALL(range_is(0, IQ, 0x77000, PAGE));
    ASSERT_EQ(1u, tg_used(&T, IQ, &id, NULL, 1));
    ASSERT_EQ(0u, id);
    ASSERT_EQ(1u, T.irq[IQ]);
    PASS();
}

TEST inflate_without_pages_callback(void)
{
    static const uint32_t pfns[2] = {1, 2};
    ASSERT_EQ(0, start_with(&no_pages_host, &cfg, TG_LINUX_FEATURES));
    pfn_buf(IQ, 0, pfns, 2);
    tg_kick(&T, IQ);
    CHECK_CALL(healthy());
    ASSERT_EQ(0u, T.npages);
    ASSERT_EQ(1u, tg_used(&T, IQ, NULL, NULL, 0));
    PASS();
}

/* Cloud Hypervisor #4667: a 4 GiB inflate descriptor meant a billion PFNs. */
#define CAP VB_PFN_MAX_PER_BUFFER
TEST ch4667_4gib_inflate_descriptor(void)
{
    uint64_t gpa;
    unsigned i;
    uint32_t id = 99, len = 99;
    ASSERT_EQ(0, start_counting());
    gpa = tg_alloc(&T, 2u * CAP * 4u);
    for (i = 0; i < 2u * CAP; i++) tg_put32(&T, gpa + 4u * i, 0x4000u + i);
    tg_desc(&T, IQ, 0, gpa, 0xfffffffcu, 0, 0);
    tg_publish(&T, IQ, 0);
    tg_kick(&T, IQ);
    CHECK_CALL(healthy());
    ASSERT_EQ(4u * CAP, data_bytes); /* VB_PFN_MAX_PER_BUFFER PFNs, not one more */
    ASSERT_EQ(1u, T.npages);
    CHECK_CALL(range_is(0, IQ, 0x4000ull << 12, (uint64_t)CAP * PAGE));
    ASSERT_EQ(1u, T.log_count[VB_LOG_PFN_TRUNCATED]);
    ASSERT_ENUM_EQ(VB_LOG_PFN_TRUNCATED, T.last_log, tg_log_name);
    ASSERT_EQ(1u, tg_used(&T, IQ, &id, &len, 1));
    ASSERT_EQ(0u, id);
    ASSERT_EQ(0u, len);
    ASSERT_EQ(1u, T.irq[IQ]);
    PASS();
}

/* Cloud Hypervisor #8177: the PFN cap, one over. */
TEST ch8177_pfn_cap_plus_one(void)
{
    uint32_t pfns[CAP + 1];
    unsigned i;
    ASSERT_EQ(0, start());
    for (i = 0; i < CAP + 1; i++) pfns[i] = 0x8000u + i;
    pfn_buf(IQ, 0, pfns, CAP + 1);
    tg_kick(&T, IQ);
    CHECK_CALL(healthy());
    ASSERT_EQ(1u, T.npages);
    CHECK_CALL(range_is(0, IQ, 0x8000ull << 12, (uint64_t)CAP * PAGE));
    ASSERT_EQ(1u, T.log_count[VB_LOG_PFN_TRUNCATED]);
    ASSERT_EQ(1u, tg_used(&T, IQ, NULL, NULL, 0));
    PASS();
}

TEST pfn_cap_exactly_not_truncated(void)
{
    uint32_t pfns[CAP];
    unsigned i;
    ASSERT_EQ(0, start());
    for (i = 0; i < CAP; i++) pfns[i] = 0x8000u + i;
    pfn_buf(IQ, 0, pfns, CAP);
    tg_kick(&T, IQ);
    CHECK_CALL(healthy());
    CHECK_CALL(range_is(0, IQ, 0x8000ull << 12, (uint64_t)CAP * PAGE));
    ASSERT_EQ(0u, T.log_count[VB_LOG_PFN_TRUNCATED]);
    ASSERT_EQ(VB_LOG_NONE, T.last_log);
    PASS();
}

TEST pfn_cap_across_descriptors(void)
{
    uint32_t pfns[CAP + CAP / 2];
    uint64_t gpa;
    unsigned i;
    ASSERT_EQ(0, start_counting());
    for (i = 0; i < CAP + CAP / 2; i++) pfns[i] = 0x9000u + i;
    gpa = pfn_data(pfns, CAP + CAP / 2);
    tg_desc(&T, IQ, 0, gpa, (CAP / 2 + CAP / 4) * 4u, F_NEXT, 1); /* the cap falls in the second */
    tg_desc(&T, IQ, 1, gpa + (CAP / 2 + CAP / 4) * 4u, (CAP / 2 + CAP / 4) * 4u, 0, 0);
    tg_publish(&T, IQ, 0);
    tg_kick(&T, IQ);
    CHECK_CALL(healthy());
    ASSERT_EQ(1u, T.npages);
    CHECK_CALL(range_is(0, IQ, 0x9000ull << 12, (uint64_t)CAP * PAGE));
    ASSERT_EQ(1u, T.log_count[VB_LOG_PFN_TRUNCATED]);
    ASSERT_EQ(4u * CAP, data_bytes); /* nothing past the cap is read */
    PASS();
}

/* The cap is per buffer, and so is its diagnostic: once, however many descriptors follow. */
TEST pfn_truncated_logged_once_per_buffer(void)
{
    uint32_t pfns[CAP + 8];
    uint64_t gpa;
    unsigned i;
    ASSERT_EQ(0, start());
    for (i = 0; i < CAP + 8; i++) pfns[i] = 0xa000u + i;
    gpa = pfn_data(pfns, CAP + 8);
    tg_desc(&T, IQ, 0, gpa, 4u * CAP, F_NEXT, 1);
    for (i = 1; i < 8; i++)
        tg_desc(&T, IQ, i, gpa + 4u * CAP + 4u * i, 4, i < 7 ? F_NEXT : 0, (uint16_t)(i + 1));
    tg_publish(&T, IQ, 0);
    tg_kick(&T, IQ);
    CHECK_CALL(healthy());
    CHECK_CALL(range_is(0, IQ, 0xa000ull << 12, (uint64_t)CAP * PAGE));
    ASSERT_EQ(1u, T.npages);
    ASSERT_EQ_FMT(1u, T.log_count[VB_LOG_PFN_TRUNCATED], "%u");
    ASSERT_EQ(1u, tg_used(&T, IQ, NULL, NULL, 0));
    PASS();
}

/* ============================================================================================
   Recovery: the head is not leaked, reset brings the queue back
   ============================================================================================ */

static int reinit_driver(void)
{
    memset(T.mem + TG_RING(0), 0, 3u * 0x4000u);
    T.deny_lo = T.deny_hi = 0;
    T.next_data = TG_DATA;
    if (tg_probe(&T, TG_LINUX_FEATURES)) return -1;
    tg_driver_ok(&T);
    return 0;
}

/* Cloud Hypervisor #8401 / Firecracker #2590: after a malformed chain and a reset, the stats
   queue works again and its buffer can be polled. */
TEST ch8401_stats_work_again_after_reset(void)
{
    ASSERT_EQ(0, start());
    hold_good();
    tg_desc(&T, SQ, 1, rec1(4, 1), 0, 0, 0);
    tg_publish(&T, SQ, 1);
    tg_kick(&T, SQ);
    ASSERT(vb_is_broken(&T.dev));
    vb_set_status(&T.dev, 0);
    ASSERT_FALSE(vb_is_broken(&T.dev));
    ASSERT_EQ(0, vb_status(&T.dev));
    ASSERT_EQ(0, reinit_driver());
    tg_send_stats(&T, 10, 9);
    ASSERT_FALSE(vb_is_broken(&T.dev));
    ASSERT_EQ(0u, tg_used(&T, SQ, NULL, NULL, 0)); /* nothing was held across the reset */
    ASSERT_EQ(9005u, tg_stat(&T, VB_STAT_MEMTOT));
    CHECK_CALL(poll_returns(0));
    tg_send_stats(&T, 10, 10);
    ASSERT_EQ(10005u, tg_stat(&T, VB_STAT_MEMTOT));
    CHECK_CALL(poll_returns(0));
    PASS();
}

TEST inflate_works_again_after_reset(void)
{
    static const uint32_t pfns[1] = {0x99};
    ASSERT_EQ(0, start());
    tg_desc(&T, IQ, 0, tg_alloc(&T, 4), 4, F_NEXT, 0);
    tg_publish(&T, IQ, 0);
    tg_kick(&T, IQ);
    ASSERT(vb_is_broken(&T.dev));
    vb_reset(&T.dev);
    ASSERT_EQ(0, reinit_driver());
    T.npages = 0;
    pfn_buf(IQ, 0, pfns, 1);
    tg_kick(&T, IQ);
    ASSERT_FALSE(vb_is_broken(&T.dev));
    ASSERT_EQ(1u, T.npages);
    CHECK_CALL(range_is(0, IQ, 0x99000, PAGE));
    ASSERT_EQ(1u, tg_used(&T, IQ, NULL, NULL, 0));
    PASS();
}

TEST broken_device_polls_touch_nothing(void)
{
    unsigned i;
    ASSERT_EQ(0, start());
    hold_good();
    ASSERT_EQ(VB_OK, vb_set_poll_interval_ms(&T.dev, 1000));
    tg_publish(&T, SQ, 200);
    tg_kick(&T, SQ);
    ASSERT(vb_is_broken(&T.dev));
    T.reads = T.writes = T.maps = T.data_maps = 0;
    for (i = 0; i < 10; i++) tg_fire(&T);
    ASSERT_EQ(0u, T.reads);
    ASSERT_EQ(0u, T.writes);
    ASSERT_EQ(0u, T.irq[SQ]);
    ASSERT(T.armed);
    ASSERT_GT(T.deadline, T.now_ms); /* re-armed one interval later, not spinning */
    CHECK_CALL(stats_unchanged());
    PASS();
}

/* Firecracker #6158: a poll interval set after a reset of a device with no driver. */
TEST fc6158_timer_after_reset_without_driver(void)
{
    unsigned i;
    ASSERT_EQ(0, tg_create(&T, &cfg));
    vb_reset(&T.dev);
    ASSERT_EQ(VB_OK, vb_set_poll_interval_ms(&T.dev, 1000));
    ASSERT(T.armed);
    for (i = 0; i < 1000; i++) {
        uint64_t before = T.now_ms;
        tg_fire(&T);
        ASSERT(T.armed);
        ASSERT_EQ(T.now_ms + 1000u, T.deadline); /* one interval later, never "now" */
        ASSERT_GTE(T.now_ms, before);
    }
    ASSERT_EQ(0u, T.reads);
    ASSERT_EQ(0u, T.writes);
    ASSERT_EQ(0u, T.irq[SQ] + T.config_irqs);
    ASSERT_EQ(0u, vb_get_counters(&T.dev)->polls);
    PASS();
}

TEST timer_with_nothing_held_touches_no_memory(void)
{
    unsigned i;
    ASSERT_EQ(0, start());
    ASSERT_EQ(VB_OK, vb_set_poll_interval_ms(&T.dev, 250));
    T.reads = T.writes = T.maps = T.data_maps = 0;
    for (i = 0; i < 100; i++) tg_fire(&T);
    ASSERT_EQ(0u, T.reads);
    ASSERT_EQ(0u, T.writes);
    ASSERT_EQ(T.now_ms + 250u, T.deadline);
    PASS();
}

/* Firecracker ca58afd: config accesses with absurd offsets and lengths. */
TEST fc_ca58afd_config_offsets(void)
{
    unsigned char in[64], out[72];
    ASSERT_EQ(0, start());
    vb_set_target_pages(&T.dev, 0x11223344u);
    memset(in, 0xab, sizeof in);
    vb_config_write(&T.dev, 0xfffffffcu, in, 8);
    vb_config_write(&T.dev, 0xffffffffu, in, 1);
    vb_config_write(&T.dev, 0xfffffff9u, in, 64);
    vb_config_write(&T.dev, 8, in, 64);
    vb_config_write(&T.dev, 4, in, 0);
    ASSERT_EQ(0u, vb_actual_pages(&T.dev));
    ASSERT_EQ(0u, T.actual_calls);
    vb_config_write(&T.dev, 7, in, 64); /* only byte 7 exists */
    ASSERT_EQ(0xab000000u, vb_actual_pages(&T.dev));
    ASSERT_EQ(0x11223344u, vb_target_pages(&T.dev));
    memset(out, 0x5a, sizeof out);
    vb_config_read(&T.dev, 0xfffffffcu, out, 8);
    vb_config_read(&T.dev, 0xffffffffu, out + 8, 1);
    vb_config_read(&T.dev, 6, out + 9, 63);
    ASSERT_EQ(0, out[0] | out[1] | out[2] | out[3] | out[4] | out[5] | out[6] | out[7] | out[8]);
    ASSERT_EQ(0x00, out[9]);
    ASSERT_EQ(0xab, out[10]);
    ASSERT_EQ(0, out[11] | out[40] | out[71]);
    ASSERT_FALSE(vb_is_broken(&T.dev));
    PASS();
}

/* ============================================================================================
   Interrupt suppression
   ============================================================================================ */

TEST event_idx_suppresses_until_crossing(void)
{
    static const uint32_t pfn[1] = {0x10};
    unsigned i;
    static const unsigned expect[6] = {1, 1, 1, 2, 2, 2};
    ASSERT_EQ(0, start());
    set_used_event(IQ, 3); /* interrupt when used idx moves past 3 */
    for (i = 0; i < 6; i++) {
        pfn_buf(IQ, (uint16_t)i, pfn, 1);
        tg_kick(&T, IQ);
        ASSERT_EQ(i + 1u, tg_used_idx(&T, IQ));
        ASSERT_EQ(expect[i], T.irq[IQ]); /* the first always; then only 3 -> 4 */
    }
    CHECK_CALL(healthy());
    PASS();
}

TEST event_idx_several_buffers_in_one_kick(void)
{
    static const uint32_t pfn[1] = {0x10};
    unsigned i;
    ASSERT_EQ(0, start());
    pfn_buf(IQ, 0, pfn, 1);
    tg_kick(&T, IQ);
    ASSERT_EQ(1u, T.irq[IQ]);
    set_used_event(IQ, 2); /* after the third one (used idx 2 -> 3) */
    for (i = 1; i < 5; i++) pfn_buf(IQ, (uint16_t)i, pfn, 1);
    tg_kick(&T, IQ);
    ASSERT_EQ(5, tg_used_idx(&T, IQ));
    ASSERT_EQ(2u, T.irq[IQ]);
    PASS();
}

TEST event_idx_writes_avail_event(void)
{
    static const uint32_t pfn[1] = {0x10};
    ASSERT_EQ(0, start());
    pfn_buf(IQ, 0, pfn, 1);
    pfn_buf(IQ, 1, pfn, 1);
    pfn_buf(IQ, 2, pfn, 1);
    tg_kick(&T, IQ);
    ASSERT_EQ(3, tg_get16(&T, avail_event_addr(IQ)));
    PASS();
}

TEST event_idx_ignores_no_interrupt_flag(void)
{
    static const uint32_t pfn[1] = {0x10};
    ASSERT_EQ(0, start());
    set_avail_flags(IQ, 1);
    pfn_buf(IQ, 0, pfn, 1);
    tg_kick(&T, IQ);
    ASSERT_EQ(1u, T.irq[IQ]);
    set_used_event(IQ, 1);
    pfn_buf(IQ, 1, pfn, 1);
    tg_kick(&T, IQ);
    ASSERT_EQ(2u, T.irq[IQ]); /* used_event decides, not the flag */
    PASS();
}

TEST no_interrupt_flag_without_event_idx(void)
{
    static const uint32_t pfn[1] = {0x10};
    ASSERT_EQ(0, start_with(&tg_host, &cfg, NO_EVENT_IDX_FEATURES));
    tg_put16(&T, avail_event_addr(IQ), 0xBEEF); /* no avail_event without EVENT_IDX */
    set_avail_flags(IQ, 1);
    pfn_buf(IQ, 0, pfn, 1);
    pfn_buf(IQ, 1, pfn, 1);
    tg_kick(&T, IQ);
    ASSERT_EQ(2, tg_used_idx(&T, IQ)); /* processed and returned ... */
    ASSERT_EQ(0u, T.irq[IQ]);          /* ... silently */
    set_avail_flags(IQ, 0);
    pfn_buf(IQ, 2, pfn, 1);
    tg_kick(&T, IQ);
    ASSERT_EQ(1u, T.irq[IQ]);
    ASSERT_RING_WRITES(6u); /* used element + used idx per buffer, no avail_event */
    ASSERT_EQ(0xBEEF, tg_get16(&T, avail_event_addr(IQ)));
    CHECK_CALL(healthy());
    PASS();
}

TEST no_interrupt_flag_on_stats_poll(void)
{
    ASSERT_EQ(0, start_with(&tg_host, &cfg, NO_EVENT_IDX_FEATURES));
    tg_send_stats(&T, 10, 1);
    set_avail_flags(SQ, 1);
    ASSERT_EQ(VB_OK, vb_set_poll_interval_ms(&T.dev, 1000));
    tg_fire(&T);
    ASSERT_EQ(1, tg_used_idx(&T, SQ));
    ASSERT_EQ(0u, T.irq[SQ]);
    PASS();
}

/* ============================================================================================
   A legacy big-endian guest
   ============================================================================================ */

TEST legacy_be_head_out_of_range(void)
{
    ASSERT_EQ(0, start_legacy_be());
    tg_desc(&T, SQ, 2, rec1(4, 1), 10, 0, 0);
    tg_publish(&T, SQ, 0x0200); /* 512 big-endian; 2 if misread as little-endian */
    tg_kick(&T, SQ);
    CHECK_CALL(broken_for(VB_LOG_HEAD_RANGE, 0, 0));
    ASSERT_EQ(UINT64_MAX, tg_stat(&T, 4));
    PASS();
}

TEST legacy_be_valid_head(void)
{
    ASSERT_EQ(0, start_legacy_be());
    tg_desc(&T, SQ, 2, rec1(4, 0x0102030405060708u), 10, 0, 0);
    tg_publish(&T, SQ, 2);
    tg_kick(&T, SQ);
    ASSERT_FALSE(vb_is_broken(&T.dev));
    ASSERT_EQ(0x0102030405060708u, tg_stat(&T, 4));
    CHECK_CALL(poll_returns(2));
    ASSERT_EQ(0, T.mem[tg_used_addr(&T, SQ) + 2u]); /* used idx 1, big-endian */
    ASSERT_EQ(1, T.mem[tg_used_addr(&T, SQ) + 3u]);
    PASS();
}

TEST legacy_be_next_out_of_range(void)
{
    ASSERT_EQ(0, start_legacy_be());
    tg_desc(&T, SQ, 0, rec1(4, 1), 10, F_NEXT, 0x0100); /* 256 BE, 1 LE */
    tg_desc(&T, SQ, 1, rec1(5, 1), 10, 0, 0);
    tg_publish(&T, SQ, 0);
    tg_kick(&T, SQ);
    CHECK_CALL(broken_for(VB_LOG_NEXT_RANGE, 0, 0));
    PASS();
}

TEST legacy_be_loop(void)
{
    ASSERT_EQ(0, start_legacy_be());
    tg_desc(&T, SQ, 0, rec1(4, 1), 10, F_NEXT, 1);
    tg_desc(&T, SQ, 1, rec1(5, 1), 10, F_NEXT, 0);
    tg_publish(&T, SQ, 0);
    T.reads = T.maps = T.data_maps = 0;
    tg_kick(&T, SQ);
    CHECK_CALL(broken_for(VB_LOG_LOOP, 0, 0));
    ASSERT_LTE(T.reads, 2u + 2u * 128u);
    PASS();
}

TEST legacy_be_zero_length(void)
{
    ASSERT_EQ(0, start_legacy_be());
    tg_desc(&T, IQ, 0, tg_alloc(&T, 4), 0, 0, 0);
    tg_publish(&T, IQ, 0);
    tg_kick(&T, IQ);
    CHECK_CALL(broken_for(VB_LOG_ZERO_LEN, 0, 0));
    PASS();
}

TEST legacy_be_inflate(void)
{
    static const uint32_t pfns[3] = {0x00010203u, 0x00010204u, 0x7f};
    uint32_t id = 99, len = 99;
    ASSERT_EQ(0, start_legacy_be());
    pfn_buf(IQ, 0x11, pfns, 3);
    tg_kick(&T, IQ);
    ASSERT_FALSE(vb_is_broken(&T.dev));
    ASSERT_EQ(2u, T.npages);
    CHECK_CALL(range_is(0, IQ, 0x00010203ull << 12, 2 * PAGE));
    CHECK_CALL(range_is(1, IQ, 0x7full << 12, PAGE));
    ASSERT_EQ(1u, tg_used(&T, IQ, &id, &len, 1));
    ASSERT_EQ(0x11u, id);
    ASSERT_EQ(0u, len);
    ASSERT_EQ(1u, T.irq[IQ]);
    PASS();
}

TEST legacy_be_avail_runaway(void)
{
    ASSERT_EQ(0, start_legacy_be());
    tg_set_avail_idx(&T, SQ, 0x0100); /* 256 big-endian; 1 if misread as little-endian */
    tg_kick(&T, SQ);
    CHECK_CALL(broken_for(VB_LOG_AVAIL_RUNAWAY, 0, 0));
    PASS();
}

TEST legacy_be_event_idx(void)
{
    static const uint32_t pfn[1] = {0x10};
    static const unsigned expect[6] = {1, 1, 1, 2, 2, 2};
    unsigned i;
    ASSERT_EQ(0, start_legacy_be());
    set_used_event(IQ, 3); /* 0x0300 if misread */
    for (i = 0; i < 6; i++) {
        pfn_buf(IQ, (uint16_t)i, pfn, 1);
        tg_kick(&T, IQ);
        ASSERT_EQ(expect[i], T.irq[IQ]);
    }
    ASSERT_EQ(6, tg_get16(&T, avail_event_addr(IQ))); /* written big-endian */
    PASS();
}

TEST legacy_be_no_interrupt_flag(void)
{
    static const uint32_t pfn[1] = {0x10};
    ASSERT_EQ(0, tg_create(&T, &be_cfg));
    T.be = 1;
    ASSERT_EQ(0, tg_probe(&T, TG_F(VB_F_STATS_VQ)));
    tg_driver_ok(&T);
    set_avail_flags(IQ, 1); /* 0x0100 if misread: no NO_INTERRUPT bit */
    pfn_buf(IQ, 0, pfn, 1);
    tg_kick(&T, IQ);
    ASSERT_EQ(1, tg_used_idx(&T, IQ));
    ASSERT_EQ(0u, T.irq[IQ]);
    PASS();
}

/* ============================================================================================
   The last byte of the address space, and the top of guest RAM (issue 13, item 6)

   A host that also maps the top 64 KiB of the address space, [2^64 - 64 KiB, 2^64), last byte
   included, and counts every request whose gpa + len would not fit in 64 bits. The device's
   rule: no access ever includes the last byte 2^64 - 1, so gpa + len never overflows, not even
   to exactly 2^64 (a host may compute it): a buffer, table or ring that ends just below it is
   served; one that includes it, or wraps past it, is a guest error (the device breaks for a
   descriptor, vb_queue_setup refuses a ring) and the host is never asked. At the top of guest
   RAM (TG_MEM here): what ends exactly there is served, one byte more is refused by the host
   and breaks the device.
   ============================================================================================ */

#define TOP_SIZE 0x10000u
#define TOP_BASE (UINT64_MAX - TOP_SIZE + 1u)

static unsigned char top_mem[TOP_SIZE];
static unsigned top_reads, top_writes, top_wraps, top_low;

static unsigned char *top_at(uint64_t gpa, size_t len)
{
    if (gpa >= TOP_BASE && len <= TOP_SIZE - (gpa - TOP_BASE)) return top_mem + (gpa - TOP_BASE);
    if (gpa <= TG_MEM && len <= TG_MEM - gpa) return T.mem + gpa;
    return NULL;
}

static void top_check(uint64_t gpa, size_t len)
{
    if (len == 0 || gpa > UINT64_MAX - len) top_wraps++; /* would wrap, or end at 2^64 */
    if (gpa < 0x1000u) top_low++;                           /* nothing lives down there */
}

static int top_read(void *user, uint64_t gpa, void *dst, size_t len)
{
    unsigned char *p;
    top_check(gpa, len);
    if (gpa < TOP_BASE) return tg_read(user, gpa, dst, len);
    T.reads++;
    top_reads++;
    if (!(p = top_at(gpa, len))) return T.failed_reads++, -1;
    memcpy(dst, p, len);
    return 0;
}

static int top_write(void *user, uint64_t gpa, const void *src, size_t len)
{
    unsigned char *p;
    top_check(gpa, len);
    if (gpa < TOP_BASE) return tg_write(user, gpa, src, len);
    T.writes++;
    top_writes++;
    if (!(p = top_at(gpa, len))) return T.failed_writes++, -1;
    memcpy(p, src, len);
    return 0;
}

static const vb_host top_host = {top_read,  top_write, tg_now,    tg_arm,   tg_cancel, tg_wall,
                                 tg_notify, tg_notify_config, tg_pages, tg_actual, tg_log, NULL, 0};

/* Little-endian stores anywhere the host maps (a VERSION_1 guest). */
static void x16(uint64_t gpa, uint16_t v)
{
    unsigned char *p = top_at(gpa, 2);
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}
static void x32(uint64_t gpa, uint32_t v) { x16(gpa, (uint16_t)v), x16(gpa + 2u, (uint16_t)(v >> 16)); }
static void x64(uint64_t gpa, uint64_t v) { x32(gpa, (uint32_t)v), x32(gpa + 4u, (uint32_t)(v >> 32)); }
static uint16_t xget16(uint64_t gpa)
{
    const unsigned char *p = top_at(gpa, 2);
    return (uint16_t)(p[0] | (unsigned)p[1] << 8);
}

static void xdesc(uint64_t table, uint32_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
    x64(table + 16u * i, addr);
    x32(table + 16u * i + 8u, len);
    x16(table + 16u * i + 12u, flags);
    x16(table + 16u * i + 14u, next);
}

static void xrecord(uint64_t gpa, uint16_t tag, uint64_t val)
{
    x16(gpa, tag);
    x64(gpa + 2u, val);
}

static int start_top(uint64_t features)
{
    memset(top_mem, 0, sizeof top_mem);
    top_reads = top_writes = top_wraps = top_low = 0;
    return start_with(&top_host, &cfg, features);
}

/* One stats buffer of `len` bytes at `gpa` in descriptor 1, published and kicked. */
static void kick_stats_at(uint64_t gpa, uint32_t len)
{
    tg_desc(&T, SQ, 1, gpa, len, 0, 0);
    tg_publish(&T, SQ, 1);
    tg_kick(&T, SQ);
}

TEST top_buffer_below_the_last_byte_is_served(void)
{
    ASSERT_EQ(0, start_top(TG_LINUX_FEATURES));
    hold_good();
    xrecord(UINT64_MAX - 10u, VB_STAT_MEMFREE, 0x1234); /* [2^64 - 11, 2^64 - 1) */
    kick_stats_at(UINT64_MAX - 10u, 10);
    CHECK_CALL(healthy());
    ASSERT_U64(0x1234, tg_stat(&T, VB_STAT_MEMFREE));
    ASSERT_EQ(1u, top_reads);
    ASSERT_EQ(0u, top_wraps + top_low);
    PASS();
}

TEST top_buffer_with_the_last_byte_breaks(void)
{
    ASSERT_EQ(0, start_top(TG_LINUX_FEATURES));
    hold_good();
    xrecord(UINT64_MAX - 9u, VB_STAT_MEMFREE, 0x1234); /* [2^64 - 10, 2^64): the last byte */
    kick_stats_at(UINT64_MAX - 9u, 10);
    CHECK_CALL(broken(VB_LOG_LEN_OVERFLOW, 0));
    CHECK_CALL(stats_unchanged());
    ASSERT_EQ(0u, top_reads + top_wraps + top_low); /* the host was never asked */
    PASS();
}

TEST top_buffer_wrapping_by_one_breaks(void)
{
    ASSERT_EQ(0, start_top(TG_LINUX_FEATURES));
    hold_good();
    tg_put16(&T, 0, VB_STAT_MEMFREE); /* what a wrapped read would find at 0 */
    kick_stats_at(UINT64_MAX - 8u, 10); /* [2^64 - 9, 2^64 + 1) */
    CHECK_CALL(broken(VB_LOG_LEN_OVERFLOW, 0));
    CHECK_CALL(stats_unchanged());
    ASSERT_EQ(0u, top_reads + top_wraps + top_low);
    PASS();
}

/* A chain whose first buffer is served at the top and whose second includes the last byte:
   nothing of it is taken. */
TEST top_chain_ending_on_the_last_byte_takes_nothing(void)
{
    ASSERT_EQ(0, start_top(TG_LINUX_FEATURES));
    hold_good();
    xrecord(UINT64_MAX - 30u, VB_STAT_MEMFREE, 0x77);
    tg_desc(&T, SQ, 1, UINT64_MAX - 30u, 10, F_NEXT, 2);
    tg_desc(&T, SQ, 2, UINT64_MAX - 9u, 10, 0, 0);
    tg_publish(&T, SQ, 1);
    tg_kick(&T, SQ);
    CHECK_CALL(broken(VB_LOG_LEN_OVERFLOW, 0));
    CHECK_CALL(stats_unchanged());
    ASSERT_EQ(0u, top_wraps + top_low);
    PASS();
}

TEST top_inflate_buffer(void)
{
    uint32_t pfns[2] = {0x123, 0x124};
    ASSERT_EQ(0, start_top(TG_LINUX_FEATURES));
    x32(UINT64_MAX - 8u, pfns[0]);
    x32(UINT64_MAX - 4u, pfns[1]);
    tg_desc(&T, IQ, 0, UINT64_MAX - 8u, 8, 0, 0); /* ends just below the last byte: served */
    tg_publish(&T, IQ, 0);
    tg_kick(&T, IQ);
    CHECK_CALL(healthy());
    ASSERT_EQ(1u, T.npages);
    ASSERT_U64(0x123000u, T.pages[0].gpa);
    ASSERT_U64(0x2000u, T.pages[0].len);
    tg_desc(&T, IQ, 1, UINT64_MAX - 7u, 8, 0, 0); /* the last byte */
    tg_publish(&T, IQ, 1);
    tg_kick(&T, IQ);
    CHECK_CALL(broken(VB_LOG_LEN_OVERFLOW, 0));
    ASSERT_EQ(1u, T.npages);
    ASSERT_EQ(0u, top_wraps + top_low);
    PASS();
}

TEST top_indirect_table(void)
{
    uint64_t table = UINT64_MAX - 32u; /* two entries, [2^64 - 33, 2^64 - 1) */
    ASSERT_EQ(0, start_top(TG_LINUX_FEATURES));
    hold_good();
    xdesc(table, 0, rec1(VB_STAT_MEMFREE, 0x51), 10, F_NEXT, 1);
    xdesc(table, 1, rec1(VB_STAT_MEMTOT, 0x52), 10, 0, 0);
    tg_desc(&T, SQ, 1, table, 32, F_INDIRECT, 0);
    tg_publish(&T, SQ, 1);
    tg_kick(&T, SQ);
    CHECK_CALL(healthy());
    ASSERT_U64(0x51, tg_stat(&T, VB_STAT_MEMFREE));
    ASSERT_U64(0x52, tg_stat(&T, VB_STAT_MEMTOT));
    save_stats();
    xdesc(table + 1u, 0, rec1(VB_STAT_MEMFREE, 0x61), 10, F_NEXT, 1); /* now up to the last byte */
    xdesc(table + 1u, 1, rec1(VB_STAT_MEMTOT, 0x62), 10, 0, 0);
    tg_desc(&T, SQ, 2, table + 1u, 32, F_INDIRECT, 0);
    tg_publish(&T, SQ, 2);
    T.config_irqs = 0;
    T.reads = T.writes = T.maps = T.data_maps = 0;
    tg_kick(&T, SQ);
    CHECK_CALL(broken(VB_LOG_LEN_OVERFLOW, 0));
    CHECK_CALL(stats_unchanged());
    ASSERT_EQ(0u, top_wraps + top_low);
    PASS();
}

/* One queue's three rings: each at the highest address vb_queue_setup takes (the ring ends
   just below the last byte), the next aligned address refused; then a whole stats cycle with
   EVENT_IDX (pop, avail_event, parse, poll, used element, used_event) at the top. */
typedef struct xq {
    uint64_t desc, avail, used;
    uint16_t size;
} xq;

static enum greatest_test_res top_rings_cycle(const xq *x)
{
    uint64_t data = UINT64_MAX - 100u;
    ASSERT_EQ(VB_OK, vb_queue_set_ready(&T.dev, SQ, 0));
    ASSERT_EQ(VB_OK, vb_queue_setup(&T.dev, SQ, x->size, x->desc, x->avail, x->used));
    x16(x->used + 2u, 0);
    x16(x->avail + 2u, 0);
    ASSERT_EQ(VB_OK, vb_queue_set_ready(&T.dev, SQ, 1));
    xrecord(data, VB_STAT_MEMFREE, 0xabc);
    xdesc(x->desc, x->size - 1u, data, 10, 0, 0);
    x16(x->avail + 4u, (uint16_t)(x->size - 1u)); /* ring[0] = the last descriptor */
    x16(x->avail + 2u, 1);
    tg_kick(&T, SQ);
    CHECK_CALL(healthy());
    ASSERT_U64(0xabc, tg_stat(&T, VB_STAT_MEMFREE));
    ASSERT_EQ(1, xget16(x->used + 4u + 8u * x->size)); /* avail_event, the used ring's last field */
    x16(x->avail + 4u + 2u * x->size, 0);               /* used_event: interrupt for the first */
    ASSERT_EQ(VB_OK, vb_set_poll_interval_ms(&T.dev, 1000));
    tg_fire(&T);
    ASSERT_EQ(1, xget16(x->used + 2u));
    ASSERT_EQ(x->size - 1u, xget16(x->used + 4u));
    ASSERT_EQ(1u, T.irq[SQ]);
    CHECK_CALL(healthy());
    ASSERT_EQ(0u, top_wraps + top_low);
    PASS();
}

TEST top_rings(void)
{
    static const uint16_t sizes[3] = {1, 16, 128};
    unsigned i;
    for (i = 0; i < 3; i++) {
        const uint64_t n = sizes[i];
        xq lo = {tg_desc_addr(SQ), 0, 0, sizes[i]}, x;
        const uint64_t desc_max = UINT64_MAX + 1u - 16u * n - 16u;               /* 16-aligned */
        const uint64_t avail_max = (UINT64_MAX - (6u + 2u * n)) & ~(uint64_t)1;  /* 2-aligned */
        const uint64_t used_max = (UINT64_MAX - (6u + 8u * n)) & ~(uint64_t)3;   /* 4-aligned */
        ASSERT_EQ(0, start_top(TG_LINUX_FEATURES));
        lo.avail = TG_RING(SQ) + 0x1000u;
        lo.used = TG_RING(SQ) + 0x2000u;
        /* one step higher: the ring would include the last byte */
        ASSERT_EQ(VB_OK, vb_queue_set_ready(&T.dev, SQ, 0));
        ASSERT_EQ(VB_ERR_RANGE, vb_queue_setup(&T.dev, SQ, sizes[i], desc_max + 16u, lo.avail, lo.used));
        ASSERT_EQ(VB_ERR_RANGE, vb_queue_setup(&T.dev, SQ, sizes[i], lo.desc, avail_max + 2u, lo.used));
        ASSERT_EQ(VB_ERR_RANGE, vb_queue_setup(&T.dev, SQ, sizes[i], lo.desc, lo.avail, used_max + 4u));
        x = lo;
        x.desc = desc_max;
        CHECK_CALL(top_rings_cycle(&x));
        ASSERT_EQ(0, start_top(TG_LINUX_FEATURES));
        x = lo;
        x.avail = avail_max;
        CHECK_CALL(top_rings_cycle(&x));
        ASSERT_EQ(0, start_top(TG_LINUX_FEATURES));
        x = lo;
        x.used = used_max;
        CHECK_CALL(top_rings_cycle(&x));
    }
    PASS();
}

/* ---- the top of guest RAM ------------------------------------------------------------------ */

TEST ram_end_buffer(void)
{
    ASSERT_EQ(0, start());
    hold_good();
    xrecord(TG_MEM - 10u, VB_STAT_MEMFREE, 0x99);
    kick_stats_at(TG_MEM - 10u, 10); /* ends exactly at the end of RAM */
    CHECK_CALL(healthy());
    ASSERT_U64(0x99, tg_stat(&T, VB_STAT_MEMFREE));
    save_stats();
    tg_desc(&T, SQ, 2, TG_MEM - 9u, 10, 0, 0); /* one byte past it */
    tg_publish(&T, SQ, 2);
    T.reads = T.writes = T.maps = T.data_maps = 0;
    tg_kick(&T, SQ);
    CHECK_CALL(broken(VB_LOG_BAD_MEMORY, 1));
    CHECK_CALL(stats_unchanged());
    PASS();
}

/* The stats queue's avail ring (used = 0) or used ring (used = 1) at the end of RAM: ending
   exactly there (the used ring ends 2 bytes before: 6 + 8 * 128 is not a multiple of 4), served;
   one step higher (`short_ring`), so that only its EVENT_IDX field lies past the end: a ring
   error with EVENT_IDX, at the first access of that field; without EVENT_IDX the field is never
   touched and all is served. */
static enum greatest_test_res ram_end_rings_case(uint64_t features, int used, int short_ring)
{
    const uint64_t n = 128;
    const int event_idx = (features & TG_F(VB_F_RING_EVENT_IDX)) != 0;
    xq x;
    x.size = 128;
    x.desc = TG_MEM - 0x3000u;
    x.avail = used ? TG_MEM - 0x2000u : TG_MEM - (6u + 2u * n) + (short_ring ? 2u : 0u);
    x.used = used ? TG_MEM - (8u + 8u * n) + (short_ring ? 4u : 0u) : TG_MEM - 0x1800u;
    ASSERT_EQ(0, start_top(features));
    ASSERT_EQ(VB_OK, vb_queue_set_ready(&T.dev, SQ, 0));
    ASSERT_EQ(VB_OK, vb_queue_setup(&T.dev, SQ, x.size, x.desc, x.avail, x.used));
    ASSERT_EQ(VB_OK, vb_queue_set_ready(&T.dev, SQ, 1));
    xrecord(TG_DATA, VB_STAT_MEMFREE, 0x42);
    xdesc(x.desc, 127, TG_DATA, 10, 0, 0);
    x16(x.avail + 4u, 127);
    x16(x.avail + 2u, 1);
    T.reads = T.writes = T.maps = T.data_maps = 0;
    tg_kick(&T, SQ);
    if (used && short_ring && event_idx) {
        CHECK_CALL(broken(VB_LOG_RING_MEMORY, 1)); /* the avail_event write of the pop */
        ASSERT_U64(UINT64_MAX, tg_stat(&T, VB_STAT_MEMFREE));
        PASS();
    }
    CHECK_CALL(healthy());
    ASSERT_U64(0x42, tg_stat(&T, VB_STAT_MEMFREE));
    ASSERT_EQ(VB_OK, vb_set_poll_interval_ms(&T.dev, 1000));
    tg_fire(&T);
    ASSERT_EQ(1, xget16(x.used + 2u));
    ASSERT_EQ(127, xget16(x.used + 4u));
    if (!used && short_ring && event_idx) {
        CHECK_CALL(broken(VB_LOG_RING_MEMORY, 1)); /* the used_event read of the interrupt */
        PASS();
    }
    CHECK_CALL(healthy());
    ASSERT_EQ(1u, T.irq[SQ]);
    ASSERT_EQ(0u, top_wraps + top_low);
    PASS();
}

TEST ram_end_rings(void)
{
    unsigned used, short_ring;
    for (used = 0; used < 2; used++) {
        for (short_ring = 0; short_ring < 2; short_ring++) {
            CHECK_CALL(ram_end_rings_case(TG_LINUX_FEATURES, (int)used, (int)short_ring));
            CHECK_CALL(ram_end_rings_case(NO_EVENT_IDX_FEATURES, (int)used, (int)short_ring));
        }
    }
    PASS();
}

/* PFNs at the top of the 32-bit PFN space: coalesced up to 2^44, never across the wrap to 0. */
TEST pfns_at_the_top_of_the_pfn_space(void)
{
    static const uint32_t pfns[4] = {0xfffffffeu, 0xffffffffu, 0u, 1u};
    ASSERT_EQ(0, start());
    pfn_buf(IQ, 0, pfns, 4);
    tg_kick(&T, IQ);
    CHECK_CALL(healthy());
    ASSERT_EQ(2u, T.npages);
    ASSERT_U64(0xfffffffe000u, T.pages[0].gpa);
    ASSERT_U64(0x2000u, T.pages[0].len);
    ASSERT_U64(0, T.pages[1].gpa);
    ASSERT_U64(0x2000u, T.pages[1].len);
    PASS();
}

/* ============================================================================================
   Peer bugs around migration, snapshots and the stats name table
   ============================================================================================ */

/* Save the device, then build a new one on the same guest memory from the blob (a snapshot
   restore or a migration destination). */
static enum greatest_test_res restore_into_new_device(int vm_running)
{
    unsigned char blob[VB_SNAPSHOT_SIZE];
    ASSERT_EQ(VB_SNAPSHOT_SIZE, vb_snapshot_save(&T.dev, blob, sizeof blob));
    vb_destroy(&T.dev);
    ASSERT_EQ(VB_OK, vb_init(&T.dev, &cfg, tg_hosts(), &T));
    if (!vm_running) {
        uint32_t h = 2166136261u;
        unsigned i;
        blob[16] &= (unsigned char)~VB_S_DRIVER_OK; /* the status is replayed when the VM runs */
        for (i = 0; i < VB_SNAPSHOT_SIZE - 4; i++) h = (h ^ blob[i]) * 16777619u;
        for (i = 0; i < 4; i++) blob[VB_SNAPSHOT_SIZE - 4 + i] = (unsigned char)(h >> (8 * i));
    }
    ASSERT_EQ(VB_OK, vb_snapshot_load(&T.dev, blob, sizeof blob));
    PASS();
}

/* Firecracker #2590: after a snapshot restore the held stats descriptor was not reinstalled and
   every poll logged "missing descriptor". Here the restored device re-reads the guest's one
   buffer from its rings and polls go on. */
TEST fc2590_stats_after_snapshot_restore(void)
{
    uint32_t id = 9;
    ASSERT_EQ(0, start());
    tg_send_stats(&T, 10, 4);
    CHECK_CALL(restore_into_new_device(1));
    ASSERT_U64(4005u, tg_stat(&T, VB_STAT_MEMTOT));
    ASSERT_EQ(VB_OK, vb_set_poll_interval(&T.dev, 1, NULL));
    tg_fire(&T);
    ASSERT_EQ(1u, tg_used(&T, SQ, &id, NULL, 1)); /* the buffer the source held comes back */
    ASSERT_EQ(0u, id);
    tg_send_stats(&T, 10, 5);
    ASSERT_U64(5005u, tg_stat(&T, VB_STAT_MEMTOT));
    CHECK_CALL(healthy());
    PASS();
}

/* QEMU before the 2016 rewind fix: the migration source had popped the only stats buffer, the
   destination held nothing and a spec-following guest never sends another: stats froze for
   good. The destination's DRIVER_OK (replayed when the VM starts) rewinds and re-reads it. */
TEST qemu_post_migration_hang(void)
{
    ASSERT_EQ(0, start());
    tg_send_stats(&T, 16, 6);
    CHECK_CALL(restore_into_new_device(0));
    ASSERT_U64(UINT64_MAX, tg_stat(&T, VB_STAT_MEMTOT)); /* not migrated */
    ASSERT_EQ(VB_OK, vb_set_poll_interval(&T.dev, 2, NULL));
    tg_fire(&T); /* nothing held yet: only a re-arm, the guest is not asked */
    ASSERT_EQ(0u, tg_used(&T, SQ, NULL, NULL, 1));
    tg_driver_ok(&T);
    ASSERT_U64(6005u, tg_stat(&T, VB_STAT_MEMTOT));
    tg_fire(&T);
    ASSERT_EQ(1u, tg_used(&T, SQ, NULL, NULL, 1));
    PASS();
}

/* QEMU 9.2.0-rc1: the header import raised the stat count to 16 without names, and any qom-get
   of guest-stats asserted. Every tag has a distinct name and every key set renders. */
TEST qemu92rc1_every_stat_has_a_name(void)
{
    static const unsigned sets[5] = {6, 7, 8, 10, 16};
    vb_config c = cfg;
    char buf[2048];
    size_t n = 0;
    unsigned i, j;
    for (i = 0; i < VB_STAT_COUNT; i++) {
        ASSERT(vb_stat_name(i) != NULL);
        ASSERT_EQ(0, strncmp(vb_stat_name(i), "stat-", 5));
        for (j = 0; j < i; j++) ASSERT(strcmp(vb_stat_name(i), vb_stat_name(j)) != 0);
    }
    for (i = 0; i < 5; i++) {
        c.stat_keys = sets[i];
        ASSERT_EQ(0, tg_start(&T, &c, TG_LINUX_FEATURES));
        tg_send_stats(&T, 16, 1);
        ASSERT_EQ(VB_OK, vb_prop_get(&T.dev, "guest-stats", 11, buf, sizeof buf, &n, 0, NULL));
        ASSERT_EQ(strlen(buf), n);
        ASSERT(strstr(buf, "(null)") == NULL);
    }
    PASS();
}

/* kvmtool copies a guest-sized stats buffer into a 10-entry array. A buffer of 400 records
   with every tag, then junk, must leave everything but the 16 stats untouched. */
TEST kvmtool_unbounded_stats_copy(void)
{
    static uint16_t tags[400];
    static uint64_t vals[400];
    vb_device before;
    unsigned i;
    uint64_t gpa;
    ASSERT_EQ(0, start_counting());
    for (i = 0; i < 400; i++) {
        tags[i] = (uint16_t)(i % 20); /* tags 16..19 are unknown */
        vals[i] = 0xA5A5A5A500000000u | i;
    }
    gpa = tg_alloc(&T, 4000);
    tg_records(&T, gpa, tags, vals, 400);
    tg_desc(&T, SQ, 0, gpa, 4000, 0, 0);
    tg_publish(&T, SQ, 0);
    memcpy(&before, &T.dev, sizeof before);
    tg_kick(&T, SQ);
    CHECK_CALL(healthy());
    ASSERT_U64((uint64_t)VB_STATS_MAX_BYTES, data_bytes); /* not one byte more is read */
    for (i = 0; i < VB_STAT_COUNT; i++) /* the last of each tag within the first 256 records */
        ASSERT_U64(0xA5A5A5A500000000u | (240u + i), tg_stat(&T, i));
    /* nothing around the stats changed but the held buffer, the queue index and counters */
    ASSERT_U64(vb_poll_interval_ms(&before), vb_poll_interval_ms(&T.dev));
    ASSERT_EQ(vb_target_pages(&before), vb_target_pages(&T.dev));
    ASSERT_EQ(vb_actual_pages(&before), vb_actual_pages(&T.dev));
    ASSERT_U64(vb_driver_features(&before), vb_driver_features(&T.dev));
    ASSERT_EQ(0, memcmp(vb_queue_state(&before, 0), vb_queue_state(&T.dev, 0), sizeof(vb_queue)));
    ASSERT_EQ(0, memcmp(vb_queue_state(&before, 1), vb_queue_state(&T.dev, 1), sizeof(vb_queue)));
    PASS();
}

/* A queue of one entry holding its one buffer is full, not overrun: a spurious kick finds the
   queue empty before the in-flight bound is checked (QEMU's order). */
TEST size_one_stats_queue_spurious_kick(void)
{
    static const uint16_t tag[1] = {VB_STAT_MEMFREE};
    uint64_t val[1] = {77};
    ASSERT_EQ(0, tg_create(&T, &cfg));
    vb_set_status(&T.dev, VB_S_ACKNOWLEDGE | VB_S_DRIVER);
    vb_set_driver_features(&T.dev, TG_LINUX_FEATURES);
    vb_set_status(&T.dev, VB_S_ACKNOWLEDGE | VB_S_DRIVER | VB_S_FEATURES_OK);
    ASSERT_EQ(0, tg_queue(&T, SQ, 1));
    tg_driver_ok(&T);
    tg_stats_buffer(&T, 0, tag, val, 1);
    tg_kick(&T, SQ);
    tg_kick(&T, SQ);
    CHECK_CALL(healthy());
    ASSERT_U64(77u, tg_stat(&T, VB_STAT_MEMFREE));
    PASS();
}

/* A notification's work is bounded (about two queues' worth of descriptors); with EVENT_IDX
   the driver will not kick again for buffers left over, so vb_queue_notify says so and the
   next call finishes them. 100 buffers of two descriptors: 64 fit the budget of 128. */
TEST inflate_budget_reports_more_work(void)
{
    static const uint32_t pfn[2] = {0x500, 0x501};
    uint64_t data;
    unsigned i;
    ASSERT_EQ(0, start());
    data = pfn_data(pfn, 2);
    tg_desc(&T, IQ, 0, data, 4, F_NEXT, 1);
    tg_desc(&T, IQ, 1, data + 4, 4, 0, 0);
    for (i = 0; i < 100; i++) tg_publish(&T, IQ, 0);
    ASSERT_EQ(1, vb_queue_notify(&T.dev, IQ));
    ASSERT_EQ(64u, tg_used(&T, IQ, NULL, NULL, 0));
    ASSERT_EQ(0, vb_queue_notify(&T.dev, IQ));
    ASSERT_EQ(36u, tg_used(&T, IQ, NULL, NULL, 0));
    CHECK_CALL(healthy());
    ASSERT_EQ(100u, T.npages);
    PASS();
}

/* The same budget through the device-level mechanism: vb_more_work says work is left whichever
   queue was kicked last, vb_do_work continues it, and stopping the queue, a reset or a break
   forget it. Both balloon queues left over are finished by one vb_do_work each. */
TEST more_work_is_device_level(void)
{
    static const uint32_t pfn[2] = {0x500, 0x501};
    uint64_t data;
    unsigned i;
    ASSERT_EQ(0, start());
    ASSERT_EQ(0, vb_more_work(&T.dev));
    ASSERT_EQ(0, vb_do_work(&T.dev)); /* nothing to do: nothing read */
    data = pfn_data(pfn, 2);
    tg_desc(&T, IQ, 0, data, 4, F_NEXT, 1);
    tg_desc(&T, IQ, 1, data + 4, 4, 0, 0);
    tg_desc(&T, DQ, 0, data, 4, F_NEXT, 1);
    tg_desc(&T, DQ, 1, data + 4, 4, 0, 0);
    for (i = 0; i < 100; i++) {
        tg_publish(&T, IQ, 0);
        tg_publish(&T, DQ, 0);
    }
    ASSERT_EQ(1, vb_queue_notify(&T.dev, IQ));
    ASSERT_EQ(1, vb_queue_notify(&T.dev, SQ)); /* any call tells the device-level state */
    ASSERT_EQ(1, vb_queue_notify(&T.dev, DQ));
    ASSERT_EQ(64u, tg_used(&T, IQ, NULL, NULL, 0));
    ASSERT_EQ(64u, tg_used(&T, DQ, NULL, NULL, 0));
    ASSERT_EQ(1, vb_more_work(&T.dev));
    ASSERT_EQ(0, vb_do_work(&T.dev));
    ASSERT_EQ(36u, tg_used(&T, IQ, NULL, NULL, 0));
    ASSERT_EQ(36u, tg_used(&T, DQ, NULL, NULL, 0));
    ASSERT_EQ(200u, T.npages);
    /* left-over work is forgotten when its queue stops, at a reset, and while broken */
    for (i = 0; i < 100; i++) tg_publish(&T, IQ, 0);
    ASSERT_EQ(1, vb_queue_notify(&T.dev, IQ));
    ASSERT_EQ(64u, tg_used(&T, IQ, NULL, NULL, 0));
    ASSERT_EQ(VB_OK, vb_queue_set_ready(&T.dev, IQ, 0));
    ASSERT_EQ(0, vb_more_work(&T.dev));
    ASSERT_EQ(0, vb_do_work(&T.dev));
    ASSERT_EQ(0u, tg_used(&T, IQ, NULL, NULL, 0));
    ASSERT_EQ(VB_OK, vb_queue_set_ready(&T.dev, IQ, 1));
    for (i = 0; i < 50; i++) tg_publish(&T, IQ, 0); /* 86 waiting: more than a budget */
    ASSERT_EQ(1, vb_queue_notify(&T.dev, IQ));
    vb_reset(&T.dev);
    ASSERT_EQ(0, vb_more_work(&T.dev));
    CHECK_CALL(healthy());
    PASS();
}

/* A read that filled part of the buffer and then failed: the device breaks and nothing of the
   buffer reaches the stats (a stats buffer) or the host (an inflate buffer). */
TEST partial_read_then_failure_uses_nothing(void)
{
    static const uint32_t pfn[2] = {0x500, 0x501};
    ASSERT_EQ(0, start_with(&half_read_host, &cfg, TG_LINUX_FEATURES));
    tg_send_stats(&T, 10, 3);
    CHECK_CALL(broken(VB_LOG_BAD_MEMORY, 1));
    ASSERT_U64(VB_STAT_UNSET, tg_stat(&T, VB_STAT_MEMTOT));
    ASSERT_EQ(0, vb_last_update(&T.dev));
    ASSERT_EQ(0u, vb_get_counters(&T.dev)->updates);
    ASSERT_EQ(0, start_with(&half_read_host, &cfg, TG_LINUX_FEATURES));
    pfn_buf(IQ, 0, pfn, 2);
    tg_kick(&T, IQ);
    CHECK_CALL(broken(VB_LOG_BAD_MEMORY, 1));
    ASSERT_EQ(0u, T.npages);
    ASSERT_EQ(0u, tg_used(&T, IQ, NULL, NULL, 0));
    PASS();
}

/* A transport fails the device from outside: the same state as a ring error. */
TEST transport_breaks_the_device(void)
{
    ASSERT_EQ(0, start());
    ASSERT_EQ(1, vb_queue_ready(&T.dev, IQ));
    ASSERT_EQ(0, vb_queue_ready(&T.dev, VB_QUEUE_COUNT));
    ASSERT_EQ(NULL, vb_queue_state(&T.dev, VB_QUEUE_COUNT));
    ASSERT_EQ(tg_desc_addr(SQ), vb_queue_state(&T.dev, SQ)->desc);
    vb_break(&T.dev, VB_LOG_RING_MEMORY);
    vb_break(&T.dev, VB_LOG_LOOP); /* a second call changes nothing */
    CHECK_CALL(broken(VB_LOG_RING_MEMORY, 0));
    vb_reset(&T.dev);
    ASSERT_FALSE(vb_is_broken(&T.dev));
    PASS();
}

/* Found by fuzz_device: the interrupt decision after the first inflate buffer fails (used_event
   refused) and breaks the device; the same call must not go on to the next buffer. */
TEST inflate_stops_when_the_notify_breaks_the_device(void)
{
    static const uint32_t pfn[1] = {0x700};
    unsigned r, w;
    ASSERT_EQ(0, start());
    pfn_buf(IQ, 0, pfn, 1);
    pfn_buf(IQ, 1, pfn, 1);
    deny(used_event_addr(IQ), 2);
    tg_kick(&T, IQ);
    CHECK_CALL(broken(VB_LOG_RING_MEMORY, 1));
    ASSERT_EQ(1u, T.npages); /* the second buffer was not processed */
    r = T.reads;
    w = T.writes;
    ASSERT_EQ(0, vb_queue_notify(&T.dev, IQ));
    ASSERT_EQ(r, T.reads);
    ASSERT_EQ(w, T.writes);
    PASS();
}

static void ring_tests(void)
{
    RUN_TEST(top_buffer_below_the_last_byte_is_served);
    RUN_TEST(top_buffer_with_the_last_byte_breaks);
    RUN_TEST(top_buffer_wrapping_by_one_breaks);
    RUN_TEST(top_chain_ending_on_the_last_byte_takes_nothing);
    RUN_TEST(top_inflate_buffer);
    RUN_TEST(top_indirect_table);
    RUN_TEST(top_rings);
    RUN_TEST(ram_end_buffer);
    RUN_TEST(ram_end_rings);
    RUN_TEST(pfns_at_the_top_of_the_pfn_space);
    RUN_TEST(inflate_stops_when_the_notify_breaks_the_device);
    RUN_TEST(size_one_stats_queue_spurious_kick);
    RUN_TEST(inflate_budget_reports_more_work);
    RUN_TEST(more_work_is_device_level);
    RUN_TEST(transport_breaks_the_device);
    RUN_TEST(partial_read_then_failure_uses_nothing);
    RUN_TEST(fc2590_stats_after_snapshot_restore);
    RUN_TEST(qemu_post_migration_hang);
    RUN_TEST(qemu92rc1_every_stat_has_a_name);
    RUN_TEST(kvmtool_unbounded_stats_copy);
    /* loops and chain length */
    RUN_TEST(loop_a_b_a);
    RUN_TEST(loop_self);
    RUN_TEST(loop_inside_indirect_table);
    RUN_TEST(loop_self_inside_large_indirect_table);
    RUN_TEST(kvmtool_chain_of_128_descriptors_is_valid);
    RUN_TEST(kvmtool_chain_of_129_via_loop_fails);
    RUN_TEST(fc2358_inflate_loop_terminates);
    RUN_TEST(inflate_bad_chain_not_acted_on);
    /* indices */
    RUN_TEST(head_out_of_range_128);
    RUN_TEST(head_out_of_range_ffff);
    RUN_TEST(head_127_is_the_last_valid);
    RUN_TEST(next_out_of_range_ring);
    RUN_TEST(next_out_of_range_ffff);
    RUN_TEST(next_out_of_range_indirect);
    /* indirect */
    RUN_TEST(indirect_table_parses);
    RUN_TEST(indirect_not_negotiated_is_a_warning_only);
    RUN_TEST(indirect_head_write_flag_ignored);
    RUN_TEST(nested_indirect);
    RUN_TEST(indirect_not_at_head);
    RUN_TEST(indirect_with_next);
    RUN_TEST(indirect_length_0);
    RUN_TEST(indirect_length_17);
    RUN_TEST(indirect_length_8);
    RUN_TEST(indirect_longer_than_queue);
    RUN_TEST(indirect_length_fffffff0);
    RUN_TEST(indirect_exactly_queue_size_entries_ok);
    RUN_TEST(indirect_table_address_overflow);
    /* memory */
    RUN_TEST(unmappable_stats_data);
    RUN_TEST(unmappable_stats_data_second_descriptor);
    RUN_TEST(stats_data_beyond_ram);
    RUN_TEST(unmappable_descriptor_table);
    RUN_TEST(unmappable_indirect_table);
    RUN_TEST(unmappable_avail_index);
    RUN_TEST(unmappable_avail_ring_entry);
    RUN_TEST(unmappable_used_ring_on_poll);
    RUN_TEST(unmappable_used_ring_on_second_buffer);
    RUN_TEST(unmappable_used_ring_on_inflate);
    RUN_TEST(unmappable_avail_event);
    RUN_TEST(unmappable_used_event_on_notify);
    RUN_TEST(unmappable_used_index_at_ready);
    RUN_TEST(unmappable_inflate_pfns);
    RUN_TEST(ring_avail_address_wraps);
    RUN_TEST(ring_desc_address_wraps);
    /* descriptors */
    RUN_TEST(zero_length_descriptor);
    RUN_TEST(zero_length_descriptor_mid_chain);
    RUN_TEST(zero_length_inflate_descriptor);
    RUN_TEST(address_plus_length_overflow);
    RUN_TEST(address_plus_length_overflow_inflate);
    RUN_TEST(address_at_top_of_space_is_refused_by_host);
    RUN_TEST(readable_after_writable);
    RUN_TEST(readable_after_writable_inflate);
    RUN_TEST(writable_only_stats_buffer);
    /* odd and huge stats buffers */
    RUN_TEST(nine_byte_buffer);
    RUN_TEST(ten_n_plus_three_byte_buffer);
    RUN_TEST(stats_1mib_single_descriptor);
    RUN_TEST(stats_1mib_over_128_descriptors);
    RUN_TEST(fc_ed96b50_unbounded_stats_length);
    RUN_TEST(stats_truncated_at_descriptor_boundary);
    RUN_TEST(stats_exactly_max_bytes_not_truncated);
    /* protocol */
    RUN_TEST(fc326fc46_second_buffer_publishes_the_old);
    RUN_TEST(qemu_double_kick);
    RUN_TEST(repeated_kick_same_buffer);
    RUN_TEST(fc5516_unknown_tags_keep_stats_alive);
    RUN_TEST(only_unknown_tags);
    /* avail index, readiness, queue numbers, storms */
    RUN_TEST(avail_index_runaway);
    RUN_TEST(avail_index_moves_backwards);
    RUN_TEST(avail_index_runaway_inflate);
    RUN_TEST(kick_on_stopped_queue_reads_nothing);
    RUN_TEST(kick_on_queue_never_set_up_reads_nothing);
    RUN_TEST(notify_on_bogus_queue_numbers_ignored);
    RUN_TEST(storm_of_a_million_empty_kicks);
    RUN_TEST(storm_of_a_million_kicks_with_polls);
    /* in flight, used ring */
    RUN_TEST(inflight_beyond_size_breaks_at_ready);
    RUN_TEST(inflight_equal_to_size_breaks_at_pop);
    RUN_TEST(resume_from_base_continues);
    RUN_TEST(guest_rewrites_used_ring);
    RUN_TEST(guest_rewrites_used_index_of_stats_queue);
    /* inflate / deflate */
    RUN_TEST(inflate_coalesces_contiguous_pfns);
    RUN_TEST(inflate_descending_pfns_not_merged);
    RUN_TEST(inflate_high_pfns_not_sign_extended);
    RUN_TEST(deflate_uses_queue_1);
    RUN_TEST(pfn_straddles_descriptors);
    RUN_TEST(inflate_trailing_partial_pfn_ignored);
    RUN_TEST(inflate_writable_descriptors_skipped);
    RUN_TEST(inflate_one_interrupt_per_buffer);
    RUN_TEST(inflate_full_queue_in_one_kick);
    RUN_TEST(inflate_bad_second_buffer);
    RUN_TEST(inflate_without_pages_callback);
    RUN_TEST(ch4667_4gib_inflate_descriptor);
    RUN_TEST(ch8177_pfn_cap_plus_one);
    RUN_TEST(pfn_cap_exactly_not_truncated);
    RUN_TEST(pfn_cap_across_descriptors);
    RUN_TEST(pfn_truncated_logged_once_per_buffer);
    /* recovery and timers */
    RUN_TEST(ch8401_stats_work_again_after_reset);
    RUN_TEST(inflate_works_again_after_reset);
    RUN_TEST(broken_device_polls_touch_nothing);
    RUN_TEST(fc6158_timer_after_reset_without_driver);
    RUN_TEST(timer_with_nothing_held_touches_no_memory);
    RUN_TEST(fc_ca58afd_config_offsets);
    /* interrupt suppression */
    RUN_TEST(event_idx_suppresses_until_crossing);
    RUN_TEST(event_idx_several_buffers_in_one_kick);
    RUN_TEST(event_idx_writes_avail_event);
    RUN_TEST(event_idx_ignores_no_interrupt_flag);
    RUN_TEST(no_interrupt_flag_without_event_idx);
    RUN_TEST(no_interrupt_flag_on_stats_poll);
    /* legacy big-endian */
    RUN_TEST(legacy_be_head_out_of_range);
    RUN_TEST(legacy_be_valid_head);
    RUN_TEST(legacy_be_next_out_of_range);
    RUN_TEST(legacy_be_loop);
    RUN_TEST(legacy_be_zero_length);
    RUN_TEST(legacy_be_inflate);
    RUN_TEST(legacy_be_avail_runaway);
    RUN_TEST(legacy_be_event_idx);
    RUN_TEST(legacy_be_no_interrupt_flag);
}

/* The suite on each memory path (tests/guest.h): copy (read/write) and map. */
SUITE(ring)
{
    tg_set_map_path(0);
    ring_tests();
}

SUITE(ring_map)
{
    tg_set_map_path(1);
    ring_tests();
    tg_set_map_path(0);
}
