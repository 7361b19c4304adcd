/* The map callback (vb_host.map): rings mapped when a queue starts and used through the host
   pointer, a ring map refuses or misaligns falls back to read/write, map without read/write
   makes a refused range a guest error, vb_memory_changed maps the rings again (a guest RAM that
   moves to a new host buffer: the old one is poisoned, any stale use shows), and the device
   writes nothing but the used ring through a mapping. */
#include <string.h>

#include <greatest.h>
#include "guest.h"

static tg T;

#define SQ VB_QUEUE_STATS
#define IQ VB_QUEUE_INFLATE
#define DQ VB_QUEUE_DEFLATE
#define POISON 0xA5

static const vb_config cfg = {VB_PROFILE_QEMU, 0, 0, 0, 0, 0, 0, 0};

/* ---- a host whose guest RAM is `ram` (a host buffer other than T.mem, or T.mem itself) ------
   The test guest (tests/guest.h) writes T.mem; every device call is wrapped by sync_in (T.mem
   to ram) and sync_out (back), so both hold the same guest RAM between calls. */

static unsigned char other[TG_MEM + 8]; /* another host buffer: skewed RAM, or the RAM before a move */
static unsigned char *ram;              /* the guest RAM the host gives the device */
static uint64_t nomap_lo, nomap_hi;     /* [lo, hi): map refuses it, read/write take it */

static void sync_in(void)
{
    if (ram != T.mem) memcpy(ram, T.mem, TG_MEM);
}

static void sync_out(void)
{
    if (ram != T.mem) memcpy(T.mem, ram, TG_MEM);
}

static int m_read(void *user, uint64_t gpa, void *dst, size_t len)
{
    tg *t = (tg *)user;
    t->reads++;
    if (!tg_ok(t, gpa, len)) return t->failed_reads++, -1;
    memcpy(dst, ram + gpa, len);
    return 0;
}

static int m_write(void *user, uint64_t gpa, const void *src, size_t len)
{
    tg *t = (tg *)user;
    t->writes++;
    if (!tg_ok(t, gpa, len)) return t->failed_writes++, -1;
    memcpy(ram + gpa, src, len);
    return 0;
}

static void *m_map(void *user, uint64_t gpa, uint64_t len, int write)
{
    tg *t = (tg *)user;
    (void)write;
    t->maps++;
    if (t->map_refuse || len > TG_MEM || !tg_ok(t, gpa, (size_t)len) || (gpa < nomap_hi && gpa + len > nomap_lo))
        return t->failed_maps++, NULL;
    return ram + gpa;
}

static const vb_host ram_host = {m_read,    m_write,   tg_now,    tg_arm,
                                 tg_cancel, tg_wall,   tg_notify, tg_notify_config,
                                 tg_pages,  tg_actual, tg_log,    tg_stale, m_map};

/* tg_map with no read/write behind it: a range map refuses is a guest error */
static const vb_host map_only_host = {NULL,      NULL,      tg_now,    tg_arm,
                                      tg_cancel, tg_wall,   tg_notify, tg_notify_config,
                                      tg_pages,  tg_actual, tg_log,    tg_stale, tg_map};

/* Device calls with the RAM synced around them. */
static void kick(unsigned q)
{
    sync_in();
    vb_queue_notify(&T.dev, q);
    sync_out();
}

static void fire(void)
{
    sync_in();
    tg_fire(&T);
    sync_out();
}

/* Device + driver on host h with guest RAM at `r` (T.mem or other + skew). */
static int start_on(const vb_host *h, unsigned char *r)
{
    if (tg_create(&T, &cfg)) return -1;
    if (vb_init(&T.dev, &cfg, h, &T) != VB_OK) return -1;
    ram = r;
    memset(other, 0, sizeof other);
    sync_in();
    if (tg_probe(&T, TG_LINUX_FEATURES)) return -1;
    tg_driver_ok(&T);
    sync_out();
    T.reads = T.writes = T.maps = T.failed_maps = T.data_maps = 0;
    return 0;
}

/* A stats round: the guest's buffer parsed (seed), returned by a poll, a new one parsed. */
static enum greatest_test_res stats_round(uint64_t seed)
{
    uint32_t ids[4];
    uint64_t vals[10];
    unsigned irqs = T.irq[SQ];
    T.used_seen[SQ] = tg_used_idx(&T, SQ);
    tg_values(vals, tg_linux61_tags, 10, seed);
    tg_stats_buffer(&T, 0, tg_linux61_tags, vals, 10);
    kick(SQ); /* no interrupt: the device holds it */
    ASSERT_FALSE(vb_is_broken(&T.dev));
    ASSERT_EQ(seed * 1000u + VB_STAT_MEMFREE, tg_stat(&T, VB_STAT_MEMFREE));
    ASSERT_EQ(VB_OK, vb_set_poll_interval_ms(&T.dev, 0));
    ASSERT_EQ(VB_OK, vb_set_poll_interval_ms(&T.dev, 1000)); /* a poll at once */
    tg_put16(&T, tg_avail_addr(&T, SQ) + 4u + 2u * T.qsize[SQ], tg_used_idx(&T, SQ)); /* used_event */
    fire();
    ASSERT_EQ(1u, tg_used(&T, SQ, ids, NULL, 4)); /* the held buffer back */
    ASSERT_EQ(0u, ids[0]);
    ASSERT_EQ(irqs + 1u, T.irq[SQ]);
    ASSERT_EQ(VB_OK, vb_set_poll_interval_ms(&T.dev, 0));
    PASS();
}

/* An inflate buffer of two PFNs: given to pages() and returned. */
static enum greatest_test_res inflate_round(uint16_t head, uint32_t pfn)
{
    uint64_t data = tg_alloc(&T, 8);
    unsigned np = T.npages;
    uint32_t ids[2];
    tg_put32(&T, data, pfn);
    tg_put32(&T, data + 4, pfn + 1u);
    tg_desc(&T, IQ, head, data, 8, 0, 0);
    tg_publish(&T, IQ, head);
    kick(IQ);
    ASSERT_FALSE(vb_is_broken(&T.dev));
    ASSERT_EQ(np + 1u, T.npages); /* coalesced */
    ASSERT_EQ((uint64_t)pfn * 4096u, T.pages[np].gpa);
    ASSERT_EQ(8192u, T.pages[np].len);
    ASSERT_EQ(1u, tg_used(&T, IQ, ids, NULL, 2));
    ASSERT_EQ(head, ids[0]);
    PASS();
}

static const vb_queue *Q(unsigned q) { return vb_queue_state(&T.dev, q); }

/* ---- the rings are mapped and used through the mapping ------------------------------------- */

TEST rings_mapped_at_ready_and_used(void)
{
    unsigned q;
    ASSERT_EQ(0, start_on(&tg_host_map, T.mem));
    for (q = 0; q < VB_QUEUE_COUNT; q++) {
        ASSERT_EQ((const void *)(T.mem + tg_desc_addr(q)), (const void *)Q(q)->desc_map);
        ASSERT_EQ((const void *)(T.mem + tg_avail_addr(&T, q)), (const void *)Q(q)->avail_map);
        ASSERT_EQ((void *)(T.mem + tg_used_addr(&T, q)), (void *)Q(q)->used_map);
    }
    CHECK_CALL(stats_round(3));
    ASSERT_EQ(0u, T.reads);  /* ring fields are loads, the records a mapped buffer */
    ASSERT_EQ(0u, T.writes); /* used elements and indices are stores */
    ASSERT_EQ(1u, T.data_maps);
    CHECK_CALL(inflate_round(0, 0x100));
    ASSERT_EQ(0u, T.reads); /* the PFNs: a mapped buffer too */
    ASSERT_EQ(2u, T.data_maps);
    ASSERT_EQ(0u, T.writes);
    /* stopping a queue drops its rings */
    ASSERT_EQ(VB_OK, vb_queue_set_ready(&T.dev, IQ, 0));
    ASSERT_EQ(NULL, (const void *)Q(IQ)->desc_map);
    ASSERT_EQ(NULL, (void *)Q(IQ)->used_map);
    PASS();
}

/* map refuses everything: the device reads and writes, and works the same */
TEST map_refusing_the_rings_falls_back(void)
{
    unsigned q;
    ASSERT_EQ(0, tg_create(&T, &cfg));
    ASSERT_EQ(VB_OK, vb_init(&T.dev, &cfg, &tg_host_map, &T));
    T.map_refuse = 1;
    ASSERT_EQ(0, tg_probe(&T, TG_LINUX_FEATURES));
    tg_driver_ok(&T);
    ASSERT(T.failed_maps >= 3u * VB_QUEUE_COUNT); /* every ring asked for, and refused */
    for (q = 0; q < VB_QUEUE_COUNT; q++) {
        ASSERT_EQ(NULL, (const void *)Q(q)->desc_map);
        ASSERT_EQ(NULL, (const void *)Q(q)->avail_map);
        ASSERT_EQ(NULL, (void *)Q(q)->used_map);
    }
    T.reads = T.writes = 0;
    ram = T.mem;
    CHECK_CALL(stats_round(4));
    CHECK_CALL(inflate_round(0, 0x200));
    ASSERT(T.reads > 0u);
    ASSERT(T.writes > 0u);
    ASSERT_EQ(0u, T.failed_reads + T.failed_writes);
    PASS();
}

/* one ring refused (map refuses the stats queue's used ring, read/write take it) */
TEST map_refusing_one_ring_falls_back_for_it(void)
{
    nomap_lo = TG_RING(SQ) + 16u * 128u + 6u + 2u * 128u + 4u;
    nomap_hi = nomap_lo + 8u;
    ASSERT_EQ(0, start_on(&ram_host, T.mem));
    ASSERT(nomap_lo > tg_used_addr(&T, SQ) && nomap_hi < tg_used_addr(&T, SQ) + 4u + 8u * 128u);
    ASSERT_EQ(NULL, (void *)Q(SQ)->used_map);
    ASSERT_EQ((const void *)(T.mem + tg_desc_addr(SQ)), (const void *)Q(SQ)->desc_map);
    ASSERT_EQ((const void *)(T.mem + tg_avail_addr(&T, SQ)), (const void *)Q(SQ)->avail_map);
    ASSERT_EQ((void *)(T.mem + tg_used_addr(&T, IQ)), (void *)Q(IQ)->used_map);
    CHECK_CALL(stats_round(4));
    ASSERT(T.writes > 0u); /* the used ring of the stats queue through write() */
    ASSERT_EQ(0u, T.failed_reads + T.failed_writes);
    T.writes = 0;
    CHECK_CALL(inflate_round(0, 0x200));
    ASSERT_EQ(0u, T.writes); /* the inflate queue's through its mapping */
    nomap_lo = nomap_hi = 0;
    PASS();
}

/* ---- map without read/write: what map refuses is a guest error ----------------------------- */

TEST map_only_works(void)
{
    ASSERT_EQ(0, start_on(&map_only_host, T.mem));
    CHECK_CALL(stats_round(5));
    CHECK_CALL(inflate_round(0, 0x300));
    ASSERT_EQ(0u, T.failed_maps);
    PASS();
}

TEST map_only_ring_outside_ram_breaks(void)
{
    uint64_t desc = TG_MEM - 0x800u; /* 128 descriptors: 2 KiB, then the rings run past RAM */
    ASSERT_EQ(0, tg_create(&T, &cfg));
    ASSERT_EQ(VB_OK, vb_init(&T.dev, &cfg, &map_only_host, &T));
    vb_set_status(&T.dev, VB_S_ACKNOWLEDGE | VB_S_DRIVER);
    vb_set_driver_features(&T.dev, TG_LINUX_FEATURES);
    vb_set_status(&T.dev, VB_S_ACKNOWLEDGE | VB_S_DRIVER | VB_S_FEATURES_OK);
    ASSERT_EQ(VB_OK, vb_queue_setup(&T.dev, SQ, 128, desc, desc + 0x800u, desc + 0x1000u));
    ASSERT_FALSE(vb_is_broken(&T.dev));
    vb_queue_set_ready(&T.dev, SQ, 1); /* reads used->idx: beyond RAM, no read() to fall back to */
    ASSERT(vb_is_broken(&T.dev));
    ASSERT_EQ(VB_S_NEEDS_RESET, vb_status(&T.dev) & VB_S_NEEDS_RESET);
    ASSERT_ENUM_EQ(VB_LOG_RING_MEMORY, T.last_log, tg_log_name);
    ASSERT_EQ(1u, T.log_count[VB_LOG_RING_MEMORY]);
    ASSERT_EQ(1u, vb_get_counters(&T.dev)->ring_errors);
    ASSERT(T.failed_maps >= 1u);
    PASS();
}

TEST map_only_buffer_outside_ram_breaks(void)
{
    unsigned maps;
    ASSERT_EQ(0, start_on(&map_only_host, T.mem));
    tg_desc(&T, SQ, 0, TG_MEM - 4u, 10, 0, 0); /* a record that crosses the end of RAM */
    tg_publish(&T, SQ, 0);
    kick(SQ);
    ASSERT(vb_is_broken(&T.dev));
    ASSERT_EQ(VB_S_NEEDS_RESET, vb_status(&T.dev) & VB_S_NEEDS_RESET);
    ASSERT_EQ(1u, T.config_irqs);
    ASSERT_ENUM_EQ(VB_LOG_BAD_MEMORY, T.last_log, tg_log_name);
    ASSERT(T.failed_maps >= 1u); /* the buffer, maybe once more for the record: no read() to try */
    ASSERT_EQ(0u, vb_get_counters(&T.dev)->updates);
    maps = T.maps;
    kick(SQ);
    kick(IQ);
    ASSERT_EQ(maps, T.maps); /* broken: no more map calls */
    PASS();
}

/* ---- a host pointer without the alignment of the ring: the ring is read and written -------- */

TEST misaligned_rings_fall_back(void)
{
    unsigned q;
    ASSERT_EQ(0, start_on(&ram_host, other + 1)); /* every ring at an odd host address */
    for (q = 0; q < VB_QUEUE_COUNT; q++) {
        ASSERT_EQ(NULL, (const void *)Q(q)->desc_map);
        ASSERT_EQ(NULL, (const void *)Q(q)->avail_map);
        ASSERT_EQ(NULL, (void *)Q(q)->used_map);
    }
    CHECK_CALL(stats_round(6));
    CHECK_CALL(inflate_round(0, 0x400));
    ASSERT(T.maps > 0u); /* buffers and single fields are copied through the (any-aligned) map */
    PASS();
}

TEST two_aligned_host_maps_the_avail_ring_only(void)
{
    unsigned q;
    ASSERT_EQ(0, start_on(&ram_host, other + 2)); /* 2-aligned: avail yes, desc and used no */
    for (q = 0; q < VB_QUEUE_COUNT; q++) {
        ASSERT_EQ(NULL, (const void *)Q(q)->desc_map);
        ASSERT_EQ((const void *)(other + 2 + tg_avail_addr(&T, q)), (const void *)Q(q)->avail_map);
        ASSERT_EQ(NULL, (void *)Q(q)->used_map);
    }
    CHECK_CALL(stats_round(7));
    CHECK_CALL(inflate_round(0, 0x500));
    PASS();
}

/* ---- vb_memory_changed: guest RAM moves to another host buffer ------------------------------ */

TEST memory_changed_maps_the_new_ram(void)
{
    unsigned q, i;
    ASSERT_EQ(0, start_on(&ram_host, other)); /* RAM first in `other` */
    for (q = 0; q < VB_QUEUE_COUNT; q++)
        ASSERT_EQ((const void *)(other + tg_desc_addr(q)), (const void *)Q(q)->desc_map);
    CHECK_CALL(stats_round(8));
    CHECK_CALL(inflate_round(0, 0x600));
    /* the move: the guest's RAM is now T.mem (synced above); the old buffer is poisoned and the
       device told */
    ram = T.mem;
    memset(other, POISON, sizeof other); /* a stale load sees 0xA5A5: the device would break */
    T.maps = 0;
    vb_memory_changed(&T.dev);
    ASSERT_EQ(3u * VB_QUEUE_COUNT, T.maps); /* each ring of each ready queue mapped again */
    for (q = 0; q < VB_QUEUE_COUNT; q++) {
        ASSERT_EQ((const void *)(T.mem + tg_desc_addr(q)), (const void *)Q(q)->desc_map);
        ASSERT_EQ((const void *)(T.mem + tg_avail_addr(&T, q)), (const void *)Q(q)->avail_map);
        ASSERT_EQ((void *)(T.mem + tg_used_addr(&T, q)), (void *)Q(q)->used_map);
    }
    CHECK_CALL(stats_round(9));
    CHECK_CALL(inflate_round(1, 0x700));
    for (i = 0; i < sizeof other; i++)
        if (other[i] != POISON) FAILm("the device wrote the old RAM after vb_memory_changed");
    PASS();
}

/* ---- through a mapping the device writes the used ring and nothing else --------------------- */

static unsigned char before[TG_MEM];

/* Bytes changed since `before`, outside the used ring of queue q: 0 if none. */
static unsigned changed_outside_used(unsigned q)
{
    uint64_t lo = tg_used_addr(&T, q), hi = lo + 6u + 8u * T.qsize[q], a;
    unsigned n = 0;
    for (a = 0; a < TG_MEM; a++)
        if ((a < lo || a >= hi) && before[a] != T.mem[a]) n++;
    return n;
}

TEST mapped_writes_only_the_used_ring(void)
{
    uint64_t data;
    ASSERT_EQ(0, start_on(&tg_host_map, T.mem));
    /* stats: a buffer parsed, then a poll returns it */
    tg_send_stats(&T, 16, 2); /* kicks */
    tg_stats_buffer(&T, 1, tg_linux612_tags, (const uint64_t[16]){0}, 16);
    memcpy(before, T.mem, TG_MEM);
    tg_kick(&T, SQ); /* the second buffer: the first one returned */
    ASSERT_EQ(0u, changed_outside_used(SQ));
    ASSERT(memcmp(before, T.mem, TG_MEM) != 0); /* the used ring did change */
    memcpy(before, T.mem, TG_MEM);
    ASSERT_EQ(VB_OK, vb_set_poll_interval_ms(&T.dev, 1000));
    tg_fire(&T);
    ASSERT_EQ(0u, changed_outside_used(SQ));
    /* inflate, through an indirect table */
    data = tg_alloc(&T, 8);
    tg_put32(&T, data, 0x800);
    tg_put32(&T, data + 4, 0x900);
    {
        uint64_t table = tg_alloc(&T, 32);
        tg_desc_at(&T, table, 0, data, 4, 1, 1);
        tg_desc_at(&T, table, 1, data + 4, 4, 0, 0);
        tg_desc(&T, IQ, 0, table, 32, 4, 0);
    }
    tg_publish(&T, IQ, 0);
    memcpy(before, T.mem, TG_MEM);
    tg_kick(&T, IQ);
    ASSERT_FALSE(vb_is_broken(&T.dev));
    ASSERT_EQ(2u, T.npages);
    ASSERT_EQ(0u, changed_outside_used(IQ));
    ASSERT_EQ(0u, T.writes); /* all of it through the mapping */
    PASS();
}

SUITE(map)
{
    RUN_TEST(rings_mapped_at_ready_and_used);
    RUN_TEST(map_refusing_the_rings_falls_back);
    RUN_TEST(map_refusing_one_ring_falls_back_for_it);
    RUN_TEST(map_only_works);
    RUN_TEST(map_only_ring_outside_ram_breaks);
    RUN_TEST(map_only_buffer_outside_ram_breaks);
    RUN_TEST(misaligned_rings_fall_back);
    RUN_TEST(two_aligned_host_maps_the_avail_ring_only);
    RUN_TEST(memory_changed_maps_the_new_ram);
    RUN_TEST(mapped_writes_only_the_used_ring);
}
