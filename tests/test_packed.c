/* The packed virtqueue (VIRTIO_F_RING_PACKED, issue 14): the stats protocol, inflate/deflate,
   reporting and hinting on packed rings; wrap-around; event suppression in both directions and
   all three modes; the vhost-user base encoding with UML's base-0 quirk; snapshots mid-wrap; and
   the hostile catalog of the contract, each malformation with its log item, no write outside the
   queue's descriptor slots and device area, and bounded work. Every test runs on both memory
   paths (suites packed and packed_map). */
#include <stdio.h>
#include <string.h>

#include <greatest.h>
#include "guest.h"

static tg T;

#define SQ VB_QUEUE_STATS
#define IQ VB_QUEUE_INFLATE
#define DQ VB_QUEUE_DEFLATE
#define F_NEXT 1u
#define F_WRITE 2u
#define F_INDIRECT 4u
#define PAGE 4096u
#define USED_1 (TG_PK_AVAIL | TG_PK_USED) /* a used descriptor in wrap 1 (wrap 0: flags 0) */
#define NO_EVENT_IDX (TG_PK_FEATURES & ~TG_F(VB_F_RING_EVENT_IDX))

static const vb_config qemu_cfg = {VB_PROFILE_QEMU, 0, 0, 0, 0, 0, 0, 0};

static int start(uint64_t features, uint16_t size) { return tg_pk_start(&T, &qemu_cfg, features, size); }

/* Linux 6.1's ten records with values from `seed`, at a fresh data address. */
static uint64_t stats_data(uint64_t seed, uint32_t *len)
{
    uint64_t vals[10], gpa = tg_alloc(&T, 100);
    tg_values(vals, tg_linux61_tags, 10, seed);
    *len = tg_records(&T, gpa, tg_linux61_tags, vals, 10);
    return gpa;
}

static enum greatest_test_res stats_are(uint64_t seed)
{
    unsigned i;
    for (i = 0; i < 10; i++) ASSERT_EQ_FMT((unsigned long long)(seed * 1000u + tg_linux61_tags[i]),
                                           (unsigned long long)tg_stat(&T, tg_linux61_tags[i]), "%llu");
    PASS();
}

/* ---- what the device may touch ----------------------------------------------------------------
   Before an operation on queue q the test takes a copy of RAM (mark); afterwards RAM outside q's
   descriptor slots and its device area must be byte for byte the same. */
static unsigned char ram0[TG_MEM], ram1[TG_MEM];

static void mark(void) { memcpy(ram0, T.mem, sizeof ram0); }

static enum greatest_test_res outside_unchanged(unsigned q)
{
    uint64_t lo = tg_desc_addr(q), hi = lo + 16u * T.qsize[q], dev = tg_used_addr(&T, q), i;
    for (i = 0; i < TG_MEM; i++) {
        if ((i >= lo && i < hi) || (i >= dev && i < dev + 4u)) continue;
        if (ram0[i] != T.mem[i]) {
            fprintf(stderr, "  RAM at %#llx changed: %#x -> %#x\n", (unsigned long long)i, ram0[i], T.mem[i]);
            FAILm("a write outside the queue's descriptor slots and device area");
        }
    }
    PASS();
}

static enum greatest_test_res healthy(void)
{
    ASSERT_FALSE(vb_is_broken(&T.dev));
    ASSERT_EQ(0, vb_status(&T.dev) & VB_S_NEEDS_RESET);
    ASSERT_EQ(0u, vb_get_counters(&T.dev)->ring_errors);
    ASSERT_EQ(0u, T.failed_reads + T.failed_writes);
    PASS();
}

/* Broken for `why` by an operation on queue q started after mark(): NEEDS_RESET, one config
   interrupt, the item logged once, nothing written outside q's slots and device area, and from
   now on no host access or RAM change on any kick or poll. */
static enum greatest_test_res broken(vb_log_item why, unsigned q)
{
    unsigned r, w, m, k, irqs = 0;
    ASSERT(vb_is_broken(&T.dev));
    ASSERT_EQ(VB_S_NEEDS_RESET, vb_status(&T.dev) & VB_S_NEEDS_RESET);
    ASSERT_EQ(1u, T.config_irqs);
    ASSERT_ENUM_EQ(why, T.last_log, tg_log_name);
    ASSERT_EQ(1u, T.log_count[why]);
    ASSERT_EQ(1u, vb_get_counters(&T.dev)->ring_errors);
    CHECK_CALL(outside_unchanged(q));
    r = T.reads;
    w = T.writes;
    m = T.maps;
    for (k = 0; k < VB_QUEUE_MAX; k++) irqs += T.irq[k];
    memcpy(ram1, T.mem, sizeof ram1);
    for (k = 0; k < vb_queue_count(&T.dev); k++) tg_kick(&T, k);
    tg_fire(&T);
    ASSERT_EQ(r, T.reads);
    ASSERT_EQ(w, T.writes);
    ASSERT_EQ(m, T.maps);
    for (k = 0; k < VB_QUEUE_MAX; k++) irqs -= T.irq[k];
    ASSERT_EQ(0u, irqs);
    ASSERT_EQ(0, memcmp(ram1, T.mem, sizeof ram1));
    PASS();
}

/* Poll once (1 s interval, fired at once): exactly buffer `id` comes back, len 0, at the
   driver's used slot with the used flags of its wrap. */
static enum greatest_test_res poll_returns(uint16_t id)
{
    uint32_t ids[2] = {0xdead, 0xdead}, lens[2] = {9, 9};
    uint16_t slot = T.pk_used[SQ];
    int wrap = T.pk_used_wrap[SQ];
    if (!vb_poll_interval_ms(&T.dev)) ASSERT_EQ(VB_OK, vb_set_poll_interval_ms(&T.dev, 1000));
    mark();
    tg_fire(&T);
    CHECK_CALL(outside_unchanged(SQ));
    ASSERT_EQ(1u, tg_pk_used(&T, SQ, ids, lens, 2));
    ASSERT_EQ(id, ids[0]);
    ASSERT_EQ(0u, lens[0]);
    ASSERT_EQ_FMT((unsigned)(wrap ? USED_1 : 0u), (unsigned)tg_pk_slot_flags(&T, SQ, slot), "%#x");
    PASS();
}

/* ============================================================================================
   Negotiation
   ============================================================================================ */

TEST offered_only_with_the_option(void)
{
    vb_config c = vb_config_default();
    ASSERT_EQ(0, tg_create(&T, &c));
    ASSERT_EQ(0u, (unsigned)(vb_host_features(&T.dev) >> VB_F_RING_PACKED & 1u));
    c.options = VB_OPT_RING_PACKED;
    ASSERT_EQ(0, tg_create(&T, &c));
    ASSERT_EQ(1u, (unsigned)(vb_host_features(&T.dev) >> VB_F_RING_PACKED & 1u));
    PASS();
}

TEST packed_without_version_1_is_refused(void)
{
    vb_config c = vb_config_default();
    c.options = VB_OPT_RING_PACKED;
    ASSERT_EQ(0, tg_create(&T, &c));
    vb_set_status(&T.dev, VB_S_ACKNOWLEDGE | VB_S_DRIVER);
    vb_set_driver_features(&T.dev, TG_F(VB_F_STATS_VQ) | TG_F(VB_F_RING_PACKED));
    vb_set_status(&T.dev, VB_S_ACKNOWLEDGE | VB_S_DRIVER | VB_S_FEATURES_OK);
    ASSERT_EQ(0, vb_status(&T.dev) & VB_S_FEATURES_OK);
    ASSERT_EQ(1u, T.log_count[VB_LOG_BAD_FEATURES]);
    PASS();
}

/* ============================================================================================
   The stats protocol
   ============================================================================================ */

static enum greatest_test_res stats_round_trip(uint64_t features)
{
    int ev = (features >> VB_F_RING_EVENT_IDX) & 1u;
    uint32_t len;
    uint64_t gpa;
    uint16_t id;
    unsigned irqs;
    ASSERT_EQ(0, start(features, 128));
    gpa = stats_data(7, &len);
    id = tg_pk_post1(&T, SQ, gpa, len, 0, -1);
    ASSERT_EQ(0, id);
    mark();
    tg_kick(&T, SQ);
    CHECK_CALL(healthy());
    CHECK_CALL(outside_unchanged(SQ));
    ASSERT_EQ(1u, vb_get_counters(&T.dev)->updates);
    CHECK_CALL(stats_are(7));
    ASSERT_EQ(0u, tg_pk_used(&T, SQ, NULL, NULL, 0)); /* held, not returned */
    ASSERT_EQ(TG_PK_DISABLE, tg_pk_device_flags(&T, SQ)); /* no use for kicks while held */
    irqs = T.irq[SQ];
    CHECK_CALL(poll_returns(0));
    ASSERT_EQ(irqs + 1u, T.irq[SQ]);
    if (ev) {
        ASSERT_EQ(TG_PK_DESC, tg_pk_device_flags(&T, SQ));
        ASSERT_EQ_FMT(tg_pk_base(1, 1), tg_pk_device_off_wrap(&T, SQ), "%#x");
    } else {
        ASSERT_EQ(TG_PK_ENABLE, tg_pk_device_flags(&T, SQ));
    }
    /* the refreshed buffer, Linux-like, in the next slot */
    gpa = stats_data(8, &len);
    ASSERT_EQ(1, tg_pk_post1(&T, SQ, gpa, len, 0, -1));
    tg_kick(&T, SQ);
    ASSERT_EQ(2u, vb_get_counters(&T.dev)->updates);
    CHECK_CALL(stats_are(8));
    CHECK_CALL(healthy());
    PASS();
}

TEST stats_round_trip_event_idx(void) { return stats_round_trip(TG_PK_FEATURES); }
TEST stats_round_trip_no_event_idx(void) { return stats_round_trip(NO_EVENT_IDX); }

/* Many rounds on a small ring: every slot used in both wraps several times over, the used
   flags of each wrap, the values following the guest. `same_id`: Linux reuses id 0 for its one
   buffer; else the id is the slot. */
static enum greatest_test_res wrap_around(uint16_t size, int same_id, uint64_t features)
{
    unsigned r, rounds = 6u * size + 1u;
    ASSERT_EQ(0, start(features, size));
    ASSERT_EQ(VB_OK, vb_set_poll_interval_ms(&T.dev, 1000));
    for (r = 0; r < rounds; r++) {
        uint16_t slot = T.pk_next[SQ], id;
        unsigned irqs;
        ASSERT_EQ(r % size, slot);
        ASSERT_EQ((r / size) % 2u ? 0 : 1, T.pk_wrap[SQ]);
        id = tg_pk_send_stats(&T, 10, 100u + r, same_id ? 0 : -1);
        CHECK_CALL(healthy());
        ASSERT_EQ(r + 1u, vb_get_counters(&T.dev)->updates);
        CHECK_CALL(stats_are(100u + r));
        ASSERT_EQ(TG_PK_DISABLE, tg_pk_device_flags(&T, SQ));
        if (features & TG_F(VB_F_RING_EVENT_IDX)) tg_pk_want_next(&T, SQ);
        irqs = T.irq[SQ];
        CHECK_CALL(poll_returns(id));
        ASSERT_EQ(irqs + 1u, T.irq[SQ]);
        ASSERT_EQ(r + 1u, vb_get_counters(&T.dev)->polls);
    }
    PASS();
}

TEST wrap_around_size_4(void) { return wrap_around(4, 0, TG_PK_FEATURES); }
TEST wrap_around_size_3_linux_ids(void) { return wrap_around(3, 1, TG_PK_FEATURES); }
TEST wrap_around_size_1(void) { return wrap_around(1, 1, TG_PK_FEATURES); }
TEST wrap_around_size_5_no_event_idx(void) { return wrap_around(5, 0, NO_EVENT_IDX); }

/* A second buffer while one is held: the old one is returned (QEMU), the new one held. */
TEST second_buffer_returns_the_held_one(void)
{
    uint32_t ids[3];
    ASSERT_EQ(0, start(TG_PK_FEATURES, 8));
    ASSERT_EQ(0, tg_pk_send_stats(&T, 10, 1, -1));
    ASSERT_EQ(1, tg_pk_send_stats(&T, 10, 2, -1));
    CHECK_CALL(healthy());
    CHECK_CALL(stats_are(2));
    ASSERT_EQ(1u, T.log_count[VB_LOG_STATS_SECOND_BUFFER]);
    ASSERT_EQ(1u, tg_pk_used(&T, SQ, ids, NULL, 3));
    ASSERT_EQ(0u, ids[0]);
    CHECK_CALL(poll_returns(1));
    PASS();
}

/* ============================================================================================
   Event suppression: the driver's area (interrupts) ...
   ============================================================================================ */

/* One round with the driver area set to flags/off/wrap just before the poll: 1 if an interrupt. */
static int round_irq(uint16_t flags, uint16_t off, int wrap, uint64_t seed)
{
    unsigned irqs;
    uint16_t id = tg_pk_send_stats(&T, 10, seed, -1);
    tg_pk_set_driver_area(&T, SQ, flags, off, wrap);
    irqs = T.irq[SQ];
    tg_fire(&T);
    if (tg_pk_used(&T, SQ, NULL, NULL, 0) != 1 || vb_is_broken(&T.dev)) return -1;
    (void)id;
    return T.irq[SQ] != irqs;
}

TEST driver_area_enable_disable_and_3(void)
{
    ASSERT_EQ(0, start(TG_PK_FEATURES, 8));
    ASSERT_EQ(VB_OK, vb_set_poll_interval_ms(&T.dev, 1000));
    ASSERT_EQ(1, round_irq(TG_PK_ENABLE, 0x7fff, 0, 1));
    ASSERT_EQ(0, round_irq(TG_PK_DISABLE, 0, 1, 2));
    ASSERT_EQ(1, round_irq(3, 0x7fff, 0, 3)); /* reserved: interrupt */
    ASSERT_EQ(0, round_irq(TG_PK_DISABLE, 3, 1, 4));
    ASSERT_EQ(1, round_irq(TG_PK_ENABLE, 0, 0, 5));
    PASS();
}

TEST driver_area_desc_without_event_idx_interrupts(void)
{
    ASSERT_EQ(0, start(NO_EVENT_IDX, 8));
    ASSERT_EQ(VB_OK, vb_set_poll_interval_ms(&T.dev, 1000));
    ASSERT_EQ(1, round_irq(TG_PK_DESC, 5, 1, 1)); /* a slot far ahead: still an interrupt */
    ASSERT_EQ(1, round_irq(TG_PK_DESC, 0, 0, 2));
    ASSERT_EQ(0, round_irq(TG_PK_DISABLE, 0, 0, 3));
    PASS();
}

TEST driver_area_desc_with_event_idx(void)
{
    ASSERT_EQ(0, start(TG_PK_FEATURES, 8));
    ASSERT_EQ(VB_OK, vb_set_poll_interval_ms(&T.dev, 1000));
    ASSERT_EQ(1, round_irq(TG_PK_ENABLE, 0, 1, 1)); /* used slot 0 written */
    ASSERT_EQ(0, round_irq(TG_PK_DESC, 2, 1, 2));   /* slot 1 written, the driver waits for 2 */
    ASSERT_EQ(1, round_irq(TG_PK_DESC, 2, 1, 3));   /* slot 2 written */
    ASSERT_EQ(0, round_irq(TG_PK_DESC, 0, 1, 4));   /* slot 3: slot 0 of this wrap is long past */
    ASSERT_EQ(1, round_irq(TG_PK_DESC, 4, 1, 5));   /* slot 4: exactly the one asked for */
    PASS();
}

/* off_wrap across the ring end. The used position crossing it forgets the threshold (QEMU's
   virtqueue_packed_flush clears signalled_used_valid): that one interrupts whatever off_wrap. */
TEST driver_area_desc_across_the_ring_end(void)
{
    unsigned r;
    ASSERT_EQ(0, start(TG_PK_FEATURES, 4));
    ASSERT_EQ(VB_OK, vb_set_poll_interval_ms(&T.dev, 1000));
    for (r = 0; r < 2; r++) ASSERT_EQ(1, round_irq(TG_PK_ENABLE, 0, 1, r)); /* slots 0-1 */
    ASSERT_EQ(0, round_irq(TG_PK_DESC, 0, 0, 2)); /* slot 2 (wrap 1); asks for slot 0 of wrap 0 */
    ASSERT_EQ(1, round_irq(TG_PK_DESC, 0, 0, 3)); /* slot 3: the lap ends */
    ASSERT_EQ(1, round_irq(TG_PK_DESC, 0, 0, 4)); /* slot 0 of wrap 0 */
    ASSERT_EQ(0, round_irq(TG_PK_DESC, 1, 1, 5)); /* slot 1 of wrap 0; slot 1 of wrap 1 is long past */
    ASSERT_EQ(1, round_irq(TG_PK_DESC, 2, 0, 6)); /* slot 2 of wrap 0 */
    PASS();
}

/* ============================================================================================
   ... and the device's area (kicks)
   ============================================================================================ */

/* Queues started over a device area full of garbage: the device sets it. */
static enum greatest_test_res device_area_at_start(uint64_t features)
{
    vb_config c = qemu_cfg;
    unsigned q;
    c.options |= VB_OPT_RING_PACKED;
    ASSERT_EQ(0, tg_create(&T, &c));
    vb_set_status(&T.dev, VB_S_ACKNOWLEDGE | VB_S_DRIVER);
    vb_set_driver_features(&T.dev, features);
    vb_set_status(&T.dev, VB_S_ACKNOWLEDGE | VB_S_DRIVER | VB_S_FEATURES_OK);
    for (q = 0; q < VB_QUEUE_COUNT; q++) {
        tg_pk_reset(&T, q, 16);
        tg_put16(&T, tg_used_addr(&T, q), 0x1234);
        tg_put16(&T, tg_used_addr(&T, q) + 2u, 0xffff);
        ASSERT_EQ(VB_OK, vb_queue_setup(&T.dev, q, 16, tg_desc_addr(q), tg_avail_addr(&T, q), tg_used_addr(&T, q)));
        mark();
        ASSERT_EQ(VB_OK, vb_queue_set_ready(&T.dev, q, 1));
        CHECK_CALL(outside_unchanged(q));
        if (features & TG_F(VB_F_RING_EVENT_IDX)) {
            ASSERT_EQ(TG_PK_DESC, tg_pk_device_flags(&T, q));
            ASSERT_EQ_FMT(tg_pk_base(0, 1), tg_pk_device_off_wrap(&T, q), "%#x");
        } else {
            ASSERT_EQ(TG_PK_ENABLE, tg_pk_device_flags(&T, q));
        }
    }
    tg_driver_ok(&T);
    CHECK_CALL(healthy());
    PASS();
}

TEST device_area_at_start_event_idx(void) { return device_area_at_start(TG_PK_FEATURES); }
TEST device_area_at_start_no_event_idx(void) { return device_area_at_start(NO_EVENT_IDX); }

static enum greatest_test_res device_area_while_held(uint64_t features)
{
    int ev = (features >> VB_F_RING_EVENT_IDX) & 1u;
    unsigned r;
    ASSERT_EQ(0, start(features, 4));
    ASSERT_EQ(VB_OK, vb_set_poll_interval_ms(&T.dev, 1000));
    for (r = 0; r < 6; r++) {
        uint16_t id = tg_pk_send_stats(&T, 10, r, -1);
        ASSERT_EQ(TG_PK_DISABLE, tg_pk_device_flags(&T, SQ));
        tg_kick(&T, SQ); /* a spurious kick while held changes nothing */
        ASSERT_EQ(TG_PK_DISABLE, tg_pk_device_flags(&T, SQ));
        CHECK_CALL(poll_returns(id));
        if (ev) {
            ASSERT_EQ(TG_PK_DESC, tg_pk_device_flags(&T, SQ));
            ASSERT_EQ_FMT(tg_pk_base(T.pk_next[SQ], T.pk_wrap[SQ]), tg_pk_device_off_wrap(&T, SQ), "%#x");
        } else {
            ASSERT_EQ(TG_PK_ENABLE, tg_pk_device_flags(&T, SQ));
        }
    }
    CHECK_CALL(healthy());
    PASS();
}

TEST device_area_disabled_while_held_event_idx(void) { return device_area_while_held(TG_PK_FEATURES); }
TEST device_area_disabled_while_held_no_event_idx(void) { return device_area_while_held(NO_EVENT_IDX); }

/* Inflate with EVENT_IDX: off_wrap follows each buffer taken (the next slot, the wrap). */
TEST device_area_follows_inflate(void)
{
    tg_seg s[3];
    unsigned i;
    ASSERT_EQ(0, start(TG_PK_FEATURES, 4));
    for (i = 0; i < 3; i++) {
        s[i].addr = tg_alloc(&T, 4);
        tg_put32(&T, s[i].addr, 100u + i);
        s[i].len = 4;
        s[i].flags = 0;
    }
    tg_pk_post(&T, IQ, s, 3, -1);
    tg_kick(&T, IQ);
    ASSERT_EQ(TG_PK_DESC, tg_pk_device_flags(&T, IQ));
    ASSERT_EQ_FMT(tg_pk_base(3, 1), tg_pk_device_off_wrap(&T, IQ), "%#x");
    ASSERT_EQ(1u, tg_pk_used(&T, IQ, NULL, NULL, 0));
    tg_pk_post(&T, IQ, s, 2, -1); /* slots 3 and 0 (wrap 0) */
    tg_kick(&T, IQ);
    ASSERT_EQ_FMT(tg_pk_base(1, 0), tg_pk_device_off_wrap(&T, IQ), "%#x");
    ASSERT_EQ(1u, tg_pk_used(&T, IQ, NULL, NULL, 0));
    CHECK_CALL(healthy());
    PASS();
}

/* ============================================================================================
   Inflate, deflate, used positions, indirect
   ============================================================================================ */

static tg_seg pfn_seg(const uint32_t *pfns, unsigned n)
{
    tg_seg s;
    unsigned i;
    s.addr = tg_alloc(&T, 4u * n);
    for (i = 0; i < n; i++) tg_put32(&T, s.addr + 4u * i, pfns[i]);
    s.len = 4u * n;
    s.flags = 0;
    return s;
}

/* Chains of 1, 3 and 2 descriptors: used descriptors at slots 0, 1 and 4 (the used position
   moves on by each chain's length), the slots in between untouched. */
TEST used_positions_skip_chain_lengths(void)
{
    static const uint32_t p[6] = {10, 11, 20, 30, 31, 40};
    tg_seg a[1], b[3], c[2];
    uint32_t ids[4];
    uint16_t f2, f3, f5;
    ASSERT_EQ(0, start(TG_PK_FEATURES, 8));
    a[0] = pfn_seg(p, 1);
    b[0] = pfn_seg(p + 1, 1);
    b[1] = pfn_seg(p + 2, 1);
    b[2] = pfn_seg(p + 3, 2);
    c[0] = pfn_seg(p + 5, 1);
    c[1] = pfn_seg(p, 1);
    ASSERT_EQ(0, tg_pk_post(&T, IQ, a, 1, -1));
    ASSERT_EQ(1, tg_pk_post(&T, IQ, b, 3, -1));
    ASSERT_EQ(4, tg_pk_post(&T, IQ, c, 2, -1));
    f2 = tg_pk_slot_flags(&T, IQ, 2);
    f3 = tg_pk_slot_flags(&T, IQ, 3);
    f5 = tg_pk_slot_flags(&T, IQ, 5);
    mark();
    tg_kick(&T, IQ);
    CHECK_CALL(healthy());
    CHECK_CALL(outside_unchanged(IQ));
    ASSERT_EQ(USED_1, tg_pk_slot_flags(&T, IQ, 0));
    ASSERT_EQ(USED_1, tg_pk_slot_flags(&T, IQ, 1));
    ASSERT_EQ(USED_1, tg_pk_slot_flags(&T, IQ, 4));
    ASSERT_EQ(0, tg_pk_slot_id(&T, IQ, 0));
    ASSERT_EQ(1, tg_pk_slot_id(&T, IQ, 1));
    ASSERT_EQ(4, tg_pk_slot_id(&T, IQ, 4));
    ASSERT_EQ(f2, tg_pk_slot_flags(&T, IQ, 2));
    ASSERT_EQ(f3, tg_pk_slot_flags(&T, IQ, 3));
    ASSERT_EQ(f5, tg_pk_slot_flags(&T, IQ, 5));
    ASSERT_EQ(3u, tg_pk_used(&T, IQ, ids, NULL, 4));
    ASSERT_EQ(0u, ids[0]);
    ASSERT_EQ(1u, ids[1]);
    ASSERT_EQ(4u, ids[2]);
    /* pages: 10; 11; 20; 30-31 (coalesced); 40; 10 */
    ASSERT_EQ(6u, T.npages);
    ASSERT_EQ((uint64_t)30 << 12, T.pages[3].gpa);
    ASSERT_EQ(2u * PAGE, T.pages[3].len);
    ASSERT_EQ((unsigned)VB_RANGE_INFLATE, T.pages[0].queue);
    PASS();
}

/* Linux writes the same id everywhere; the contract takes the last descriptor's. */
TEST buffer_id_is_the_last_descriptors(void)
{
    static const uint32_t p[2] = {5, 6};
    tg_seg s[2];
    uint32_t ids[2];
    ASSERT_EQ(0, start(TG_PK_FEATURES, 8));
    s[0] = pfn_seg(p, 1);
    s[1] = pfn_seg(p + 1, 1);
    tg_pk_post(&T, DQ, s, 2, 6);
    tg_put16(&T, tg_pk_slot_addr(DQ, 0) + 12u, 3); /* the head says 3, the last 6 */
    tg_kick(&T, DQ);
    CHECK_CALL(healthy());
    ASSERT_EQ(1u, tg_pk_used(&T, DQ, ids, NULL, 2));
    ASSERT_EQ(6u, ids[0]);
    ASSERT_EQ((unsigned)VB_RANGE_DEFLATE, T.pages[0].queue);
    ASSERT_EQ((uint64_t)5 << 12, T.pages[0].gpa);
    ASSERT_EQ(2u * PAGE, T.pages[0].len);
    PASS();
}

TEST indirect_stats_and_inflate(void)
{
    static const uint32_t p[3] = {7, 8, 100};
    tg_seg s[3];
    uint32_t len, ids[2];
    uint64_t gpa, tab;
    ASSERT_EQ(0, start(TG_PK_FEATURES, 4));
    tab = tg_alloc(&T, 64);
    gpa = stats_data(42, &len);
    s[0].addr = gpa;
    s[0].len = 30;
    s[0].flags = F_NEXT; /* NEXT in a table is ignored: entries are consecutive */
    s[1].addr = gpa + 30;
    s[1].len = len - 30;
    s[1].flags = 0;
    s[2].addr = tg_alloc(&T, 8); /* a write-only tail */
    s[2].len = 8;
    s[2].flags = F_WRITE;
    ASSERT_EQ(0, tg_pk_post_indirect(&T, SQ, tab, s, 3, -1));
    mark();
    tg_kick(&T, SQ);
    CHECK_CALL(healthy());
    CHECK_CALL(outside_unchanged(SQ));
    CHECK_CALL(stats_are(42));
    CHECK_CALL(poll_returns(0));
    /* inflate: an indirect chain takes one ring slot, so the next chain starts at slot 1 */
    tab = tg_alloc(&T, 64);
    s[0] = pfn_seg(p, 2);
    s[1] = pfn_seg(p + 2, 1);
    ASSERT_EQ(0, tg_pk_post_indirect(&T, IQ, tab, s, 2, -1));
    s[0] = pfn_seg(p + 2, 1);
    ASSERT_EQ(1, tg_pk_post(&T, IQ, s, 1, -1));
    tg_kick(&T, IQ);
    CHECK_CALL(healthy());
    ASSERT_EQ(2u, tg_pk_used(&T, IQ, ids, NULL, 2));
    ASSERT_EQ(0u, ids[0]);
    ASSERT_EQ(1u, ids[1]);
    ASSERT_EQ(USED_1, tg_pk_slot_flags(&T, IQ, 1));
    ASSERT_EQ(3u, T.npages);
    ASSERT_EQ((uint64_t)7 << 12, T.pages[0].gpa);
    ASSERT_EQ(2u * PAGE, T.pages[0].len);
    PASS();
}

/* Inflate and deflate round after round on a ring of 3 (several wraps), chains of 1-2. */
TEST inflate_deflate_wrap_around(void)
{
    unsigned r, total = 0;
    ASSERT_EQ(0, start(TG_PK_FEATURES, 3));
    for (r = 0; r < 20; r++) {
        unsigned q = r % 2u ? DQ : IQ, n = 1u + r % 2u, k;
        uint32_t pfn = 1000u + 10u * r, ids[2];
        tg_seg s[2];
        for (k = 0; k < n; k++) {
            s[k] = pfn_seg(&pfn, 1);
            pfn += 2u;
        }
        tg_pk_post(&T, q, s, n, -1);
        mark();
        tg_kick(&T, q);
        CHECK_CALL(outside_unchanged(q));
        ASSERT_EQ(1u, tg_pk_used(&T, q, ids, NULL, 2));
        total += n;
        ASSERT_EQ(total, T.npages);
        ASSERT_EQ((uint64_t)(1000u + 10u * r) << 12, T.pages[total - n].gpa);
        ASSERT_EQ((unsigned)(q == DQ ? VB_RANGE_DEFLATE : VB_RANGE_INFLATE), T.pages[total - n].queue);
    }
    CHECK_CALL(healthy());
    PASS();
}

/* Reporting and free page hinting on packed rings. */
TEST reporting_and_hinting(void)
{
    vb_config c = qemu_cfg;
    int rq, fq;
    tg_seg s[3];
    uint32_t ids[2], id;
    c.options = VB_OPT_REPORTING | VB_OPT_FREE_PAGE_HINT;
    ASSERT_EQ(0, tg_pk_start(&T, &c, TG_PK_FEATURES | TG_F(VB_F_REPORTING) | TG_F(VB_F_FREE_PAGE_HINT), 32));
    rq = vb_queue_index(&T.dev, VB_QUEUE_REPORTING);
    fq = vb_queue_index(&T.dev, VB_QUEUE_FREE_PAGE);
    ASSERT(rq > 0 && fq > 0);
    s[0].addr = 0x100000u * 4u;
    s[0].len = 4u * PAGE;
    s[0].flags = F_WRITE;
    s[1].addr = 0x100000u * 8u;
    s[1].len = PAGE;
    s[1].flags = F_WRITE;
    tg_pk_post(&T, (unsigned)rq, s, 2, -1);
    mark();
    tg_kick(&T, (unsigned)rq);
    CHECK_CALL(healthy());
    CHECK_CALL(outside_unchanged((unsigned)rq));
    ASSERT_EQ(1u, tg_pk_used(&T, (unsigned)rq, ids, NULL, 2));
    ASSERT_EQ(2u, T.npages);
    ASSERT_EQ((unsigned)VB_RANGE_REPORTED, T.pages[0].queue);
    ASSERT_EQ(s[0].addr, T.pages[0].gpa);
    ASSERT_EQ(4u * PAGE, T.pages[0].len);
    /* hinting: the host asks, the guest echoes the id, then hints a range */
    ASSERT_EQ(VB_OK, vb_hint_start(&T.dev));
    id = vb_hint(&T.dev)->cmd_id;
    s[0].addr = tg_alloc(&T, 4);
    tg_put32(&T, s[0].addr, id);
    s[0].len = 4;
    s[0].flags = 0;
    tg_pk_post(&T, (unsigned)fq, s, 1, -1);
    tg_kick(&T, (unsigned)fq);
    ASSERT_EQ(VB_HINT_START, vb_hint(&T.dev)->status);
    s[0].addr = 0x300000u;
    s[0].len = 2u * PAGE;
    s[0].flags = F_WRITE;
    tg_pk_post(&T, (unsigned)fq, s, 1, -1);
    tg_kick(&T, (unsigned)fq);
    CHECK_CALL(healthy());
    ASSERT_EQ(2u, tg_pk_used(&T, (unsigned)fq, ids, NULL, 2));
    ASSERT_EQ(3u, T.npages);
    ASSERT_EQ((unsigned)VB_RANGE_HINTED, T.pages[2].queue);
    ASSERT_EQ(0x300000u, T.pages[2].gpa);
    PASS();
}

/* ============================================================================================
   Base, wrap counters, UML's quirk
   ============================================================================================ */

TEST fresh_queue_base_is_index_0_wrap_1(void)
{
    ASSERT_EQ(0, start(TG_PK_FEATURES, 8));
    ASSERT_EQ(VB_OK, vb_queue_set_ready(&T.dev, SQ, 0));
    ASSERT_EQ_FMT(tg_pk_base(0, 1), vb_queue_base(&T.dev, SQ), "%#x");
    PASS();
}

/* Stop mid-wrap, read the base, restart from it on a fresh device (vhost-user reconnect). */
TEST base_round_trip_mid_wrap(void)
{
    unsigned r;
    uint16_t base;
    ASSERT_EQ(0, start(TG_PK_FEATURES, 4));
    ASSERT_EQ(VB_OK, vb_set_poll_interval_ms(&T.dev, 1000));
    for (r = 0; r < 6; r++) {
        uint16_t id = tg_pk_send_stats(&T, 10, r, -1);
        CHECK_CALL(poll_returns(id));
    }
    ASSERT_EQ(VB_OK, vb_queue_set_ready(&T.dev, SQ, 0));
    base = vb_queue_base(&T.dev, SQ);
    ASSERT_EQ_FMT(tg_pk_base(2, 0), base, "%#x"); /* 6 buffers: slot 2 of wrap 0 */
    /* a new back-end: same RAM, the base passed through */
    {
        static unsigned char keep[TG_MEM];
        vb_config c = qemu_cfg;
        uint16_t next = T.pk_next[SQ], used = T.pk_used[SQ];
        uint8_t wrap = T.pk_wrap[SQ], uwrap = T.pk_used_wrap[SQ];
        memcpy(keep, T.mem, sizeof keep);
        c.options |= VB_OPT_RING_PACKED;
        ASSERT_EQ(0, tg_create(&T, &c));
        memcpy(T.mem, keep, sizeof keep);
        vb_set_status(&T.dev, VB_S_ACKNOWLEDGE | VB_S_DRIVER);
        vb_set_driver_features(&T.dev, TG_PK_FEATURES);
        vb_set_status(&T.dev, VB_S_ACKNOWLEDGE | VB_S_DRIVER | VB_S_FEATURES_OK);
        T.qsize[SQ] = 4;
        T.pk[SQ] = 1;
        T.pk_next[SQ] = next;
        T.pk_wrap[SQ] = wrap;
        T.pk_used[SQ] = used;
        T.pk_used_wrap[SQ] = uwrap;
        ASSERT_EQ(VB_OK, vb_queue_setup(&T.dev, SQ, 4, tg_desc_addr(SQ), tg_avail_addr(&T, SQ), tg_used_addr(&T, SQ)));
        ASSERT_EQ(VB_OK, vb_queue_set_base(&T.dev, SQ, base));
        ASSERT_EQ(VB_OK, vb_queue_set_ready(&T.dev, SQ, 1));
        tg_driver_ok(&T);
    }
    ASSERT_EQ(VB_OK, vb_set_poll_interval_ms(&T.dev, 1000));
    for (r = 0; r < 5; r++) {
        uint16_t id = tg_pk_send_stats(&T, 10, 50u + r, -1);
        CHECK_CALL(healthy());
        CHECK_CALL(stats_are(50u + r));
        CHECK_CALL(poll_returns(id));
    }
    ASSERT_EQ(0u, T.log_count[VB_LOG_PACKED_WRAP]);
    PASS();
}

/* Set up the stats queue stopped, with base `base`, over the ring as it is in RAM. */
static enum greatest_test_res restart_with_base(uint16_t size, uint16_t base)
{
    ASSERT_EQ(VB_OK, vb_queue_setup(&T.dev, SQ, size, tg_desc_addr(SQ), tg_avail_addr(&T, SQ), tg_used_addr(&T, SQ)));
    ASSERT_EQ(VB_OK, vb_queue_set_base(&T.dev, SQ, base));
    ASSERT_EQ(VB_OK, vb_queue_set_ready(&T.dev, SQ, 1));
    PASS();
}

static enum greatest_test_res probe_no_queues(void)
{
    vb_config c = qemu_cfg;
    unsigned q;
    c.options |= VB_OPT_RING_PACKED;
    ASSERT_EQ(0, tg_create(&T, &c));
    vb_set_status(&T.dev, VB_S_ACKNOWLEDGE | VB_S_DRIVER);
    vb_set_driver_features(&T.dev, TG_PK_FEATURES);
    vb_set_status(&T.dev, VB_S_ACKNOWLEDGE | VB_S_DRIVER | VB_S_FEATURES_OK);
    for (q = 0; q < VB_QUEUE_COUNT; q++)
        if (q != SQ) ASSERT_EQ(0, tg_pk_queue(&T, q, 8));
    PASS();
}

/* The stats ring as after a whole wrap: every slot a used descriptor of wrap 1. */
static void used_in_wrap_1(uint16_t size)
{
    uint16_t i;
    for (i = 0; i < size; i++) tg_pk_desc(&T, SQ, i, 0, 0, i, USED_1);
}

/* UML sends SET_VRING_BASE 0 (wrap 0) for a fresh ring, then posts at slot 0 for wrap 1. */
TEST uml_base_0_is_read_as_wrap_1(void)
{
    unsigned r;
    CHECK_CALL(probe_no_queues());
    tg_pk_reset(&T, SQ, 8);
    CHECK_CALL(restart_with_base(8, 0));
    tg_driver_ok(&T);
    ASSERT_EQ(VB_OK, vb_set_poll_interval_ms(&T.dev, 1000));
    for (r = 0; r < 20; r++) { /* through two and a half wraps */
        uint16_t id = tg_pk_send_stats(&T, 10, 10u + r, 0);
        CHECK_CALL(healthy());
        ASSERT_EQ(r + 1u, vb_get_counters(&T.dev)->updates);
        CHECK_CALL(stats_are(10u + r));
        CHECK_CALL(poll_returns(id));
    }
    ASSERT_EQ(1u, T.log_count[VB_LOG_PACKED_WRAP]);
    PASS();
}

/* A spec front-end's ring really at index 0, wrap 0 (it went round once): slot 0 shows the
   used descriptor of wrap 1 (0x8080), then the driver's next buffer for wrap 0. It must not be
   flipped. */
TEST spec_ring_at_index_0_wrap_0_is_not_flipped(void)
{
    unsigned r;
    uint16_t base;
    ASSERT_EQ(0, start(TG_PK_FEATURES, 4));
    ASSERT_EQ(VB_OK, vb_set_poll_interval_ms(&T.dev, 1000));
    for (r = 0; r < 4; r++) {
        uint16_t id = tg_pk_send_stats(&T, 10, r, -1);
        CHECK_CALL(poll_returns(id));
    }
    ASSERT_EQ(VB_OK, vb_queue_set_ready(&T.dev, SQ, 0));
    base = vb_queue_base(&T.dev, SQ);
    ASSERT_EQ_FMT(tg_pk_base(0, 0), base, "%#x");
    ASSERT_EQ(USED_1, tg_pk_slot_flags(&T, SQ, 0));
    CHECK_CALL(restart_with_base(4, base));
    tg_kick(&T, SQ); /* nothing available: slot 0 is wrap 1's used descriptor */
    ASSERT_EQ(4u, vb_get_counters(&T.dev)->updates);
    for (r = 0; r < 6; r++) {
        uint16_t id = tg_pk_send_stats(&T, 10, 20u + r, -1);
        CHECK_CALL(healthy());
        ASSERT_EQ(5u + r, vb_get_counters(&T.dev)->updates);
        CHECK_CALL(stats_are(20u + r));
        CHECK_CALL(poll_returns(id));
    }
    ASSERT_EQ(0u, T.log_count[VB_LOG_PACKED_WRAP]);
    PASS();
}

/* Index 0, wrap 0 with slot 0 showing wrap 0's avail bits (AVAIL=0, USED=1): taken as is. */
TEST base_0_with_wrap_0_descriptor_is_taken_as_is(void)
{
    uint32_t len;
    uint64_t gpa;
    CHECK_CALL(probe_no_queues());
    tg_pk_reset(&T, SQ, 4);
    T.pk_wrap[SQ] = 0;
    T.pk_used_wrap[SQ] = 0;
    used_in_wrap_1(4);
    gpa = stats_data(77, &len);
    tg_pk_post1(&T, SQ, gpa, len, 0, 2);
    CHECK_CALL(restart_with_base(4, 0));
    tg_driver_ok(&T);
    tg_kick(&T, SQ);
    CHECK_CALL(healthy());
    CHECK_CALL(stats_are(77));
    ASSERT_EQ(0u, T.log_count[VB_LOG_PACKED_WRAP]);
    CHECK_CALL(poll_returns(2));
    PASS();
}

/* A base in the middle of the ring with wrap 0: nothing flipped, even with slot 0 looking fresh. */
TEST base_not_0_is_never_flipped(void)
{
    uint32_t len;
    uint64_t gpa;
    CHECK_CALL(probe_no_queues());
    tg_pk_reset(&T, SQ, 4);
    T.pk_next[SQ] = T.pk_used[SQ] = 2;
    T.pk_wrap[SQ] = T.pk_used_wrap[SQ] = 0;
    used_in_wrap_1(4);
    gpa = stats_data(5, &len);
    tg_pk_desc(&T, SQ, 0, gpa, len, 0, TG_PK_AVAIL); /* slot 0: wrap 1's avail bits, stale */
    tg_pk_post1(&T, SQ, gpa, len, 0, -1);            /* slot 2, wrap 0 */
    CHECK_CALL(restart_with_base(4, tg_pk_base(2, 0)));
    tg_driver_ok(&T);
    tg_kick(&T, SQ);
    CHECK_CALL(healthy());
    ASSERT_EQ(1u, vb_get_counters(&T.dev)->updates);
    ASSERT_EQ(0u, T.log_count[VB_LOG_PACKED_WRAP]);
    CHECK_CALL(poll_returns(2));
    PASS();
}

/* vb_queue_base of a stopped stats queue that held a buffer: its first descriptor. */
TEST base_of_a_stopped_queue_holding_a_buffer(void)
{
    unsigned r;
    ASSERT_EQ(0, start(TG_PK_FEATURES, 4));
    ASSERT_EQ(VB_OK, vb_set_poll_interval_ms(&T.dev, 1000));
    for (r = 0; r < 5; r++) {
        uint16_t id = tg_pk_send_stats(&T, 10, r, -1);
        CHECK_CALL(poll_returns(id));
    }
    tg_pk_send_stats(&T, 10, 9, -1); /* slot 1 of wrap 0, held */
    ASSERT_EQ(VB_OK, vb_queue_set_ready(&T.dev, SQ, 0));
    ASSERT_EQ_FMT(tg_pk_base(1, 0), vb_queue_base(&T.dev, SQ), "%#x");
    PASS();
}

/* ============================================================================================
   Snapshot
   ============================================================================================ */

static enum greatest_test_res snapshot_mid_wrap(int chain)
{
    static unsigned char keep[TG_MEM];
    unsigned char blob[VB_SNAPSHOT_SIZE];
    static uint16_t s_next[VB_QUEUE_MAX], s_used[VB_QUEUE_MAX], s_len[VB_QUEUE_MAX][VB_QUEUE_SIZE_MAX];
    static uint8_t s_wrap[VB_QUEUE_MAX], s_uwrap[VB_QUEUE_MAX];
    unsigned r;
    uint32_t len;
    uint64_t gpa;
    uint16_t id;
    ASSERT_EQ(0, start(TG_PK_FEATURES, 3));
    ASSERT_EQ(VB_OK, vb_set_poll_interval_ms(&T.dev, 1000));
    for (r = 0; r < 4; r++) {
        id = tg_pk_send_stats(&T, 10, r, -1);
        CHECK_CALL(poll_returns(id));
    }
    /* held: slot 1 of wrap 0 (and, with `chain`, slot 2 too) */
    gpa = stats_data(33, &len);
    if (chain) {
        tg_seg s[2];
        s[0].addr = gpa;
        s[0].len = 20;
        s[0].flags = 0;
        s[1].addr = gpa + 20;
        s[1].len = len - 20;
        s[1].flags = 0;
        id = tg_pk_post(&T, SQ, s, 2, -1);
    } else {
        id = tg_pk_post1(&T, SQ, gpa, len, 0, -1);
    }
    tg_kick(&T, SQ);
    CHECK_CALL(stats_are(33));
    ASSERT_EQ(VB_SNAPSHOT_SIZE, vb_snapshot_save(&T.dev, blob, sizeof blob));
    memcpy(keep, T.mem, sizeof keep);
    memcpy(s_next, &T.pk_next, sizeof T.pk_next);
    memcpy(s_wrap, &T.pk_wrap, sizeof T.pk_wrap);
    memcpy(s_used, &T.pk_used, sizeof T.pk_used);
    memcpy(s_uwrap, &T.pk_used_wrap, sizeof T.pk_used_wrap);
    memcpy(s_len, &T.pk_len, sizeof T.pk_len);
    /* the destination: a fresh device, RAM restored, the blob loaded */
    {
        vb_config c = qemu_cfg;
        unsigned q;
        c.options |= VB_OPT_RING_PACKED;
        ASSERT_EQ(0, tg_create(&T, &c));
        memcpy(T.mem, keep, sizeof keep);
        for (q = 0; q < VB_QUEUE_COUNT; q++) {
            T.qsize[q] = 3;
            T.pk[q] = 1;
        }
        memcpy(&T.pk_next, s_next, sizeof T.pk_next);
        memcpy(&T.pk_wrap, s_wrap, sizeof T.pk_wrap);
        memcpy(&T.pk_used, s_used, sizeof T.pk_used);
        memcpy(&T.pk_used_wrap, s_uwrap, sizeof T.pk_used_wrap);
        memcpy(&T.pk_len, s_len, sizeof T.pk_len);
    }
    mark();
    ASSERT_EQ(VB_OK, vb_snapshot_load(&T.dev, blob, sizeof blob));
    CHECK_CALL(healthy());
    /* the held buffer is read again from the used position */
    ASSERT_EQ(1u, vb_get_counters(&T.dev)->updates);
    CHECK_CALL(stats_are(33));
    CHECK_CALL(outside_unchanged(SQ));
    CHECK_CALL(poll_returns(id));
    ASSERT_EQ_FMT(0u, (unsigned)tg_pk_slot_flags(&T, SQ, 1), "%#x"); /* used in wrap 0 */
    for (r = 0; r < 4; r++) {
        id = tg_pk_send_stats(&T, 10, 60u + r, -1);
        CHECK_CALL(healthy());
        CHECK_CALL(stats_are(60u + r));
        CHECK_CALL(poll_returns(id));
    }
    PASS();
}

TEST snapshot_mid_wrap_held_buffer_reread(void) { return snapshot_mid_wrap(0); }
TEST snapshot_mid_wrap_held_chain_reread(void) { return snapshot_mid_wrap(1); }

/* ============================================================================================
   The hostile catalog
   ============================================================================================ */

/* A held good buffer (slot 0, id 0) on a ring of `size`, then the bad one is built at slot 1. */
static enum greatest_test_res hold_good(uint16_t size)
{
    ASSERT_EQ(0, start(TG_PK_FEATURES, size));
    ASSERT_EQ(0, tg_pk_send_stats(&T, 10, 7, -1));
    CHECK_CALL(healthy());
    PASS();
}

static enum greatest_test_res kick_breaks(unsigned q, vb_log_item why)
{
    mark();
    tg_kick(&T, q);
    CHECK_CALL(broken(why, q));
    if (q == SQ) CHECK_CALL(stats_are(7)); /* the held buffer's stats stay */
    PASS();
}

/* A non-first descriptor that is not available in the head's wrap. */
TEST chain_second_descriptor_not_available(void)
{
    tg_seg s[2];
    uint32_t len;
    CHECK_CALL(hold_good(8));
    s[0].addr = stats_data(1, &len);
    s[0].len = 10;
    s[0].flags = 0;
    s[1].addr = s[0].addr + 10;
    s[1].len = len - 10;
    s[1].flags = 0;
    tg_pk_post(&T, SQ, s, 2, -1);
    tg_put16(&T, tg_pk_slot_addr(SQ, 2) + 14u, 0); /* slot 2: AVAIL=0, USED=0 */
    CHECK_CALL(kick_breaks(SQ, VB_LOG_PACKED_FLAGS));
    PASS();
}

/* A chain across the ring end whose descriptor after the end keeps the old wrap's bits. */
TEST chain_across_the_end_not_flipped(void)
{
    tg_seg s[2];
    uint32_t len;
    unsigned r;
    ASSERT_EQ(0, start(TG_PK_FEATURES, 4));
    ASSERT_EQ(VB_OK, vb_set_poll_interval_ms(&T.dev, 1000));
    for (r = 0; r < 3; r++) {
        uint16_t id = tg_pk_send_stats(&T, 10, r, -1);
        CHECK_CALL(poll_returns(id));
    }
    s[0].addr = stats_data(1, &len);
    s[0].len = 10;
    s[0].flags = 0;
    s[1].addr = s[0].addr + 10;
    s[1].len = len - 10;
    s[1].flags = 0;
    tg_pk_post(&T, SQ, s, 2, -1); /* slots 3 (wrap 1) and 0 (wrap 0) */
    tg_put16(&T, tg_pk_slot_addr(SQ, 0) + 14u, TG_PK_AVAIL); /* slot 0 as if still wrap 1 */
    mark();
    tg_kick(&T, SQ);
    CHECK_CALL(broken(VB_LOG_PACKED_FLAGS, SQ));
    PASS();
}

/* The same on the inflate queue: nothing of the chain acted on. */
TEST inflate_chain_bad_flags_not_acted_on(void)
{
    static const uint32_t p[2] = {1, 2};
    tg_seg s[2];
    ASSERT_EQ(0, start(TG_PK_FEATURES, 8));
    s[0] = pfn_seg(p, 1);
    s[1] = pfn_seg(p + 1, 1);
    tg_pk_post(&T, IQ, s, 2, -1);
    tg_put16(&T, tg_pk_slot_addr(IQ, 1) + 14u, (uint16_t)(TG_PK_USED | TG_PK_AVAIL));
    CHECK_CALL(kick_breaks(IQ, VB_LOG_PACKED_FLAGS));
    ASSERT_EQ(0u, T.npages);
    PASS();
}

TEST buffer_id_out_of_range(void)
{
    uint32_t len;
    uint64_t gpa;
    CHECK_CALL(hold_good(8));
    gpa = stats_data(1, &len);
    tg_pk_post1(&T, SQ, gpa, len, 0, 8);
    CHECK_CALL(kick_breaks(SQ, VB_LOG_BUFFER_ID));
    PASS();
}

TEST buffer_id_ffff_inflate(void)
{
    static const uint32_t p[1] = {3};
    tg_seg s[1];
    ASSERT_EQ(0, start(TG_PK_FEATURES, 8));
    s[0] = pfn_seg(p, 1);
    tg_pk_post(&T, IQ, s, 1, 0xffff);
    CHECK_CALL(kick_breaks(IQ, VB_LOG_BUFFER_ID));
    ASSERT_EQ(0u, T.npages);
    PASS();
}

TEST buffer_id_size_minus_1_is_valid(void)
{
    uint32_t len;
    uint64_t gpa;
    CHECK_CALL(hold_good(8));
    gpa = stats_data(1, &len);
    tg_pk_post1(&T, SQ, gpa, len, 0, 7);
    tg_kick(&T, SQ);
    CHECK_CALL(healthy());
    CHECK_CALL(stats_are(1));
    PASS();
}

/* The stats buffer held has id 0; a second one with id 0 reuses an id in flight. */
TEST stats_id_in_flight(void)
{
    uint32_t len;
    uint64_t gpa;
    CHECK_CALL(hold_good(8));
    gpa = stats_data(1, &len);
    tg_pk_post1(&T, SQ, gpa, len, 0, 0);
    CHECK_CALL(kick_breaks(SQ, VB_LOG_ID_IN_FLIGHT));
    ASSERT_EQ(0u, T.log_count[VB_LOG_STATS_SECOND_BUFFER]);
    PASS();
}

/* A chain longer than the free slots: every descriptor of a ring of 4 with NEXT, one held. */
TEST chain_longer_than_free_slots(void)
{
    unsigned i;
    uint32_t len;
    uint64_t gpa;
    CHECK_CALL(hold_good(4));
    gpa = stats_data(1, &len);
    for (i = 1; i < 4; i++) tg_pk_desc(&T, SQ, i, gpa, 10, 1, (uint16_t)(tg_pk_avail_bits(1) | F_NEXT));
    /* slot 0 (wrap 0) is the held buffer's: overwritten by the guest as the chain's 4th */
    tg_pk_desc(&T, SQ, 0, gpa, 10, 1, tg_pk_avail_bits(0));
    CHECK_CALL(kick_breaks(SQ, VB_LOG_QUEUE_OVERRUN));
    PASS();
}

/* A whole ring of 8 all NEXT, all available, nothing in flight: the chain never ends. */
TEST chain_around_the_whole_ring(void)
{
    unsigned i;
    uint64_t gpa;
    ASSERT_EQ(0, start(TG_PK_FEATURES, 8));
    gpa = tg_alloc(&T, 8);
    for (i = 0; i < 8; i++) tg_pk_desc(&T, IQ, i, gpa, 4, 0, (uint16_t)(TG_PK_AVAIL | F_NEXT));
    CHECK_CALL(kick_breaks(IQ, VB_LOG_QUEUE_OVERRUN));
    ASSERT_EQ(0u, T.npages);
    PASS();
}

static enum greatest_test_res bad_desc(uint64_t addr, uint32_t len, uint16_t flags, vb_log_item why)
{
    CHECK_CALL(hold_good(8));
    tg_pk_post1(&T, SQ, addr, len, flags, -1);
    CHECK_CALL(kick_breaks(SQ, why));
    PASS();
}

TEST zero_length(void) { return bad_desc(TG_DATA, 0, 0, VB_LOG_ZERO_LEN); }
TEST address_plus_length_overflows(void) { return bad_desc(UINT64_MAX - 4u, 10, 0, VB_LOG_LEN_OVERFLOW); }
TEST indirect_length_0(void) { return bad_desc(TG_DATA, 0, F_INDIRECT, VB_LOG_INDIRECT_SIZE); }
TEST indirect_length_17(void) { return bad_desc(TG_DATA, 17, F_INDIRECT, VB_LOG_INDIRECT_SIZE); }
TEST indirect_longer_than_queue(void) { return bad_desc(TG_DATA, 9u * 16u, F_INDIRECT, VB_LOG_INDIRECT_SIZE); }

TEST indirect_exactly_queue_size_ok(void)
{
    tg_seg s[8];
    uint64_t tab, gpa;
    uint32_t len;
    unsigned i;
    CHECK_CALL(hold_good(8));
    tab = tg_alloc(&T, 128);
    gpa = stats_data(3, &len);
    for (i = 0; i < 8; i++) {
        s[i].addr = i < 7 ? gpa + 10u * i : tg_alloc(&T, 4);
        s[i].len = i < 7 ? 10u : 4u;
        s[i].flags = i < 7 ? 0u : F_WRITE;
    }
    tg_pk_post_indirect(&T, SQ, tab, s, 8, -1);
    tg_kick(&T, SQ);
    CHECK_CALL(healthy());
    ASSERT_EQ(2u, vb_get_counters(&T.dev)->updates);
    PASS();
}

TEST indirect_with_next(void)
{
    tg_seg s[2];
    uint64_t tab;
    uint32_t len;
    CHECK_CALL(hold_good(8));
    tab = tg_alloc(&T, 16);
    s[0].addr = stats_data(1, &len);
    s[0].len = len;
    s[0].flags = 0;
    tg_pk_desc_at(&T, tab, 0, s[0].addr, len, 0, 0);
    s[0].addr = tab;
    s[0].len = 16;
    s[0].flags = F_INDIRECT;
    s[1].addr = tg_alloc(&T, 10);
    s[1].len = 10;
    s[1].flags = 0;
    tg_pk_post(&T, SQ, s, 2, -1); /* INDIRECT|NEXT at slot 1 */
    CHECK_CALL(kick_breaks(SQ, VB_LOG_INDIRECT_NESTED));
    PASS();
}

TEST indirect_not_first(void)
{
    tg_seg s[2];
    uint64_t tab;
    uint32_t len;
    CHECK_CALL(hold_good(8));
    tab = tg_alloc(&T, 16);
    s[0].addr = stats_data(1, &len);
    s[0].len = len;
    s[0].flags = 0;
    tg_pk_desc_at(&T, tab, 0, s[0].addr, len, 0, 0);
    s[1].addr = tab;
    s[1].len = 16;
    s[1].flags = F_INDIRECT;
    tg_pk_post(&T, SQ, s, 2, -1);
    CHECK_CALL(kick_breaks(SQ, VB_LOG_INDIRECT_NESTED));
    PASS();
}

TEST readable_after_writable(void)
{
    tg_seg s[2];
    uint32_t len;
    CHECK_CALL(hold_good(8));
    s[0].addr = tg_alloc(&T, 8);
    s[0].len = 8;
    s[0].flags = F_WRITE;
    s[1].addr = stats_data(1, &len);
    s[1].len = len;
    s[1].flags = 0;
    tg_pk_post(&T, SQ, s, 2, -1);
    CHECK_CALL(kick_breaks(SQ, VB_LOG_DESC_ORDER));
    PASS();
}

TEST readable_after_writable_in_indirect_table(void)
{
    tg_seg s[2];
    uint32_t len;
    CHECK_CALL(hold_good(8));
    s[0].addr = tg_alloc(&T, 8);
    s[0].len = 8;
    s[0].flags = F_WRITE;
    s[1].addr = stats_data(1, &len);
    s[1].len = len;
    s[1].flags = 0;
    tg_pk_post_indirect(&T, SQ, tg_alloc(&T, 32), s, 2, -1);
    CHECK_CALL(kick_breaks(SQ, VB_LOG_DESC_ORDER));
    PASS();
}

TEST zero_length_in_indirect_table(void)
{
    tg_seg s[2];
    uint32_t len;
    CHECK_CALL(hold_good(8));
    s[0].addr = stats_data(1, &len);
    s[0].len = len;
    s[0].flags = 0;
    s[1].addr = s[0].addr;
    s[1].len = 0;
    s[1].flags = 0;
    tg_pk_post_indirect(&T, SQ, tg_alloc(&T, 32), s, 2, -1);
    CHECK_CALL(kick_breaks(SQ, VB_LOG_ZERO_LEN));
    PASS();
}

/* The descriptor ring or the device area outside RAM: the device breaks, writes nothing. */
TEST descriptor_ring_refused(void)
{
    uint32_t len;
    uint64_t gpa;
    CHECK_CALL(hold_good(8));
    gpa = stats_data(1, &len);
    tg_pk_post1(&T, SQ, gpa, len, 0, -1);
    T.deny_lo = tg_pk_slot_addr(SQ, 1);
    T.deny_hi = T.deny_lo + 16u;
    vb_memory_changed(&T.dev); /* the map path maps the rings again, now refused */
    mark();
    tg_kick(&T, SQ);
    ASSERT(vb_is_broken(&T.dev));
    ASSERT_ENUM_EQ(VB_LOG_RING_MEMORY, T.last_log, tg_log_name);
    CHECK_CALL(outside_unchanged(SQ));
    PASS();
}

/* ============================================================================================
   Bounded work
   ============================================================================================ */

/* An endless producer: each time the device writes a used descriptor's flags, the guest makes
   that slot available again at once (copy path: it sees the write). One kick must stop. */
static int refill_on;
static uint64_t refill_pfn; /* a 4-byte PFN buffer */
static unsigned refill_count;
static int refill_write(void *user, uint64_t gpa, const void *src, size_t len)
{
    tg *t = (tg *)user;
    uint64_t lo = tg_desc_addr(IQ), hi = lo + 16u * t->qsize[IQ];
    int rc = tg_write(user, gpa, src, len);
    if (rc == 0 && refill_on && gpa >= lo && gpa < hi && (gpa - lo) % 16u + len >= 16u && refill_count < 100000u) {
        uint32_t slot = (uint32_t)((gpa - lo) / 16u);
        uint16_t f = tg_get16(t, lo + 16u * slot + 14u);
        /* used in wrap w: re-post (a PFN buffer, the device wrote len 0) for the next wrap (!w) */
        tg_put64(t, lo + 16u * slot, refill_pfn);
        tg_put32(t, lo + 16u * slot + 8u, 4);
        tg_put16(t, lo + 16u * slot + 14u, tg_pk_avail_bits((f & TG_PK_AVAIL) ? 0 : 1));
        refill_count++;
    }
    return rc;
}
static const vb_host refill_host = {tg_read,   refill_write, tg_now,    tg_arm,
                                    tg_cancel, tg_wall,      tg_notify, tg_notify_config,
                                    tg_pages,  tg_actual,    tg_log,    tg_stale, 0};

TEST endless_producer_bounded_per_kick(void)
{
    vb_config c = qemu_cfg;
    unsigned i, n0;
    if (tg_map_path()) SKIPm("the producer needs to see the device's writes: copy path only");
    c.options |= VB_OPT_RING_PACKED;
    memset(&T, 0, sizeof T);
    T.now_ms = 1000;
    T.next_data = TG_DATA;
    ASSERT_EQ(VB_OK, vb_init(&T.dev, &c, &refill_host, &T));
    ASSERT_EQ(0, tg_pk_probe(&T, TG_PK_FEATURES, 16));
    tg_driver_ok(&T);
    for (i = 0; i < 16; i++) {
        uint32_t pfn = 500u + i;
        tg_seg s = pfn_seg(&pfn, 1);
        tg_pk_post(&T, IQ, &s, 1, -1);
    }
    {
        uint32_t pfn = 900;
        refill_pfn = pfn_seg(&pfn, 1).addr;
    }
    refill_on = 1;
    refill_count = 0;
    n0 = T.npages;
    tg_kick(&T, IQ);
    refill_on = 0;
    CHECK_CALL(healthy());
    /* about two queues' worth, then more work for later */
    ASSERT(T.npages - n0 <= 2u * 16u + 1u);
    ASSERT(T.npages - n0 >= 16u);
    ASSERT(vb_more_work(&T.dev));
    PASS();
}

/* A million empty kicks: no buffer taken, no interrupt, a bounded number of accesses each. */
TEST empty_kick_storm(void)
{
    unsigned i, reads0, irqs0;
    ASSERT_EQ(0, start(TG_PK_FEATURES, 8));
    reads0 = T.reads;
    irqs0 = T.irq[SQ] + T.irq[IQ];
    mark();
    for (i = 0; i < 1000000u; i++) tg_kick(&T, i % 2u ? SQ : IQ);
    CHECK_CALL(healthy());
    ASSERT_EQ(irqs0, T.irq[SQ] + T.irq[IQ]);
    ASSERT(T.reads - reads0 <= 2u * 1000000u);
    ASSERT_EQ(0, memcmp(ram0, T.mem, sizeof ram0));
    PASS();
}

/* A base set while the layout is split is kept when the driver then asks for the packed ring;
   the device saves it, and its own snapshot must load ("every blob vb_snapshot_save wrote
   loads"): a stopped queue may hold any base. Found by fuzz_device. */
TEST snapshot_of_a_split_base_then_packed_loads(void)
{
    unsigned char blob[VB_SNAPSHOT_SIZE];
    vb_config c = qemu_cfg;
    c.options |= VB_OPT_RING_PACKED;
    ASSERT_EQ(0, tg_create(&T, &c));
    vb_set_status(&T.dev, VB_S_ACKNOWLEDGE | VB_S_DRIVER);
    vb_set_driver_features(&T.dev, TG_LINUX_FEATURES);
    ASSERT_EQ(VB_OK, vb_queue_set_base(&T.dev, SQ, 0x0733));
    vb_set_driver_features(&T.dev, TG_PK_FEATURES);
    ASSERT_EQ(VB_SNAPSHOT_SIZE, vb_snapshot_save(&T.dev, blob, sizeof blob));
    ASSERT_EQ(VB_OK, vb_snapshot_load(&T.dev, blob, sizeof blob));
    PASS();
}

/* Rings set up for the split layout mean nothing in the packed one (a driver area 2-aligned, a
   base past the ring): taking VB_F_RING_PACKED forgets every queue's setup, so the device's own
   snapshot loads. Found by a packed fuzz_device campaign. */
TEST layout_change_forgets_the_queues(void)
{
    unsigned char blob[VB_SNAPSHOT_SIZE];
    const vb_queue *q;
    vb_config c = qemu_cfg;
    c.options |= VB_OPT_RING_PACKED;
    ASSERT_EQ(0, tg_create(&T, &c));
    vb_set_status(&T.dev, VB_S_ACKNOWLEDGE | VB_S_DRIVER);
    ASSERT_EQ(VB_OK, vb_queue_setup(&T.dev, SQ, 64, 0x1000, 0x1402, 0x1804));
    ASSERT_EQ(VB_OK, vb_queue_set_ready(&T.dev, SQ, 1));
    vb_set_driver_features(&T.dev, TG_PK_FEATURES);
    q = vb_queue_state(&T.dev, SQ);
    ASSERT(q != NULL);
    ASSERT_EQ(0, vb_queue_ready(&T.dev, SQ));
    ASSERT_EQ(0u, q->desc + q->avail + q->used);
    ASSERT_EQ(vb_queue_size_max(&T.dev), q->size);
    ASSERT_EQ(VB_SNAPSHOT_SIZE, vb_snapshot_save(&T.dev, blob, sizeof blob));
    ASSERT_EQ(VB_OK, vb_snapshot_load(&T.dev, blob, sizeof blob));
    PASS();
}

/* vb_queue_setup checks the size and range before the alignment (VB_ERR_RANGE first), as before
   the packed ring came; fuzz_device's model relies on it. */
TEST setup_bad_size_before_misalignment(void)
{
    vb_config c = qemu_cfg;
    c.options |= VB_OPT_RING_PACKED;
    ASSERT_EQ(0, tg_create(&T, &c));
    vb_set_status(&T.dev, VB_S_ACKNOWLEDGE | VB_S_DRIVER);
    vb_set_driver_features(&T.dev, TG_LINUX_FEATURES);
    ASSERT_EQ(VB_ERR_RANGE, vb_queue_setup(&T.dev, SQ, 3, 8, 0, 0));
    vb_set_driver_features(&T.dev, TG_PK_FEATURES);
    ASSERT_EQ(VB_ERR_RANGE, vb_queue_setup(&T.dev, SQ, 0, 8, 2, 0)); /* packed: size 0 */
    ASSERT_EQ(VB_ERR_ARG, vb_queue_setup(&T.dev, SQ, 3, 0x1000, 0x2002, 0x3000)); /* packed: avail 4-aligned */
    ASSERT_EQ(VB_OK, vb_queue_setup(&T.dev, SQ, 3, 0x1000, 0x2004, 0x3000));
    PASS();
}

static void packed_tests(void)
{
    RUN_TEST(offered_only_with_the_option);
    RUN_TEST(packed_without_version_1_is_refused);
    RUN_TEST(stats_round_trip_event_idx);
    RUN_TEST(stats_round_trip_no_event_idx);
    RUN_TEST(wrap_around_size_4);
    RUN_TEST(wrap_around_size_3_linux_ids);
    RUN_TEST(wrap_around_size_1);
    RUN_TEST(wrap_around_size_5_no_event_idx);
    RUN_TEST(second_buffer_returns_the_held_one);
    RUN_TEST(driver_area_enable_disable_and_3);
    RUN_TEST(driver_area_desc_without_event_idx_interrupts);
    RUN_TEST(driver_area_desc_with_event_idx);
    RUN_TEST(driver_area_desc_across_the_ring_end);
    RUN_TEST(device_area_at_start_event_idx);
    RUN_TEST(device_area_at_start_no_event_idx);
    RUN_TEST(device_area_disabled_while_held_event_idx);
    RUN_TEST(device_area_disabled_while_held_no_event_idx);
    RUN_TEST(device_area_follows_inflate);
    RUN_TEST(used_positions_skip_chain_lengths);
    RUN_TEST(buffer_id_is_the_last_descriptors);
    RUN_TEST(indirect_stats_and_inflate);
    RUN_TEST(inflate_deflate_wrap_around);
    RUN_TEST(reporting_and_hinting);
    RUN_TEST(fresh_queue_base_is_index_0_wrap_1);
    RUN_TEST(base_round_trip_mid_wrap);
    RUN_TEST(uml_base_0_is_read_as_wrap_1);
    RUN_TEST(spec_ring_at_index_0_wrap_0_is_not_flipped);
    RUN_TEST(base_0_with_wrap_0_descriptor_is_taken_as_is);
    RUN_TEST(base_not_0_is_never_flipped);
    RUN_TEST(base_of_a_stopped_queue_holding_a_buffer);
    RUN_TEST(snapshot_mid_wrap_held_buffer_reread);
    RUN_TEST(snapshot_mid_wrap_held_chain_reread);
    RUN_TEST(chain_second_descriptor_not_available);
    RUN_TEST(chain_across_the_end_not_flipped);
    RUN_TEST(inflate_chain_bad_flags_not_acted_on);
    RUN_TEST(buffer_id_out_of_range);
    RUN_TEST(buffer_id_ffff_inflate);
    RUN_TEST(buffer_id_size_minus_1_is_valid);
    RUN_TEST(stats_id_in_flight);
    RUN_TEST(chain_longer_than_free_slots);
    RUN_TEST(chain_around_the_whole_ring);
    RUN_TEST(zero_length);
    RUN_TEST(address_plus_length_overflows);
    RUN_TEST(indirect_length_0);
    RUN_TEST(indirect_length_17);
    RUN_TEST(indirect_longer_than_queue);
    RUN_TEST(indirect_exactly_queue_size_ok);
    RUN_TEST(indirect_with_next);
    RUN_TEST(indirect_not_first);
    RUN_TEST(readable_after_writable);
    RUN_TEST(readable_after_writable_in_indirect_table);
    RUN_TEST(zero_length_in_indirect_table);
    RUN_TEST(descriptor_ring_refused);
    RUN_TEST(endless_producer_bounded_per_kick);
    RUN_TEST(empty_kick_storm);
    RUN_TEST(snapshot_of_a_split_base_then_packed_loads);
    RUN_TEST(setup_bad_size_before_misalignment);
    RUN_TEST(layout_change_forgets_the_queues);
}

SUITE(packed)
{
    tg_set_map_path(0);
    packed_tests();
}

SUITE(packed_map)
{
    tg_set_map_path(1);
    packed_tests();
    tg_set_map_path(0);
}
