/* The hostile-guest catalog of the free page reporting and free page hinting queues (issue 9):
   ranges outside RAM, unaligned, overflowing, zero-length, loops, chains past the ring size,
   device-readable reporting buffers, indirect tables, hint ids never issued or stale, more than
   VB_RANGES_MAX_PER_BUFFER ranges; the ring catalog (tests/test_ring.c's structural errors) run
   over every queue role, the new ones included; a queue whose role the driver's features no
   longer number (no interrupt for an index that does not exist); and the bounded work of one
   notification of each new queue, measured. Every case asserts the exact outcome: broken with
   NEEDS_RESET and the log item, or ranges given / ignored and counted; never a pages() call for
   a bad chain. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <greatest.h>
#include "guest.h"

static tg T;

#define ASSERT_U64(exp, got) \
    ASSERT_EQ_FMT((unsigned long long)(exp), (unsigned long long)(got), "%#llx")

#define F_NEXT 1
#define F_WRITE 2
#define F_INDIRECT 4
#define PAGE 4096u

#define BASE_F (TG_F(VB_F_STATS_VQ) | TG_F(VB_F_VERSION_1) | TG_F(VB_F_RING_INDIRECT_DESC))
#define FPH_F TG_F(VB_F_FREE_PAGE_HINT)
#define POISON_F TG_F(VB_F_PAGE_POISON)
#define REP_F TG_F(VB_F_REPORTING)
#define ALL_OPTS (VB_OPT_FREE_PAGE_HINT | VB_OPT_PAGE_POISON | VB_OPT_REPORTING)
#define ALL_F (BASE_F | FPH_F | POISON_F | REP_F)

/* ---- a host that checks every queue index it is given --------------------------------------- */

static unsigned bad_index_irqs; /* notify_queue with an index the device does not have */
static unsigned long host_reads;

static void chk_notify(void *user, unsigned q)
{
    tg *t = (tg *)user;
    if (q >= vb_queue_count(&t->dev)) {
        bad_index_irqs++;
        return;
    }
    t->irq[q]++;
}

static int cnt_read(void *user, uint64_t gpa, void *dst, size_t len)
{
    host_reads++;
    return tg_read(user, gpa, dst, len);
}

static const vb_host chk_host = {cnt_read,  tg_write, tg_now,     tg_arm,   tg_cancel, tg_wall,
                                 chk_notify, tg_notify_config, tg_pages, tg_actual, tg_log, NULL, 0};

static vb_config mkcfg(unsigned options)
{
    vb_config c = vb_config_default();
    c.profile = VB_PROFILE_QEMU;
    c.options = options;
    return c;
}

/* Device with `options`, the driver accepting `features`, every queue that exists set up and
   ready (queue index i at TG_RING(i)), DRIVER_OK. */
static int full_start(unsigned options, uint64_t features)
{
    vb_config c = mkcfg(options);
    unsigned q, n;
    if (tg_create(&T, &c)) return -1;
    if (vb_init(&T.dev, &c, tg_on_path(&chk_host), &T) != VB_OK) return -1;
    bad_index_irqs = 0;
    vb_set_status(&T.dev, VB_S_ACKNOWLEDGE | VB_S_DRIVER);
    vb_set_driver_features(&T.dev, features);
    vb_set_status(&T.dev, VB_S_ACKNOWLEDGE | VB_S_DRIVER | VB_S_FEATURES_OK);
    if (!(vb_status(&T.dev) & VB_S_FEATURES_OK)) return -1;
    n = vb_queue_count(&T.dev);
    for (q = 0; q < n; q++)
        if (tg_queue(&T, q, 128)) return -1;
    tg_driver_ok(&T);
    host_reads = 0;
    return 0;
}

static unsigned qidx(unsigned role) { return (unsigned)vb_queue_index(&T.dev, role); }
static const vb_counters *ctr(void) { return vb_get_counters(&T.dev); }

static void deny(uint64_t lo, uint64_t len)
{
    T.deny_lo = lo;
    T.deny_hi = lo + len;
    vb_memory_changed(&T.dev); /* the host says so: on the map path, the rings are mapped again */
}

/* The device broke on `why`: NEEDS_RESET, one config interrupt, nothing used or given, no
   interrupt of queue q; a kick afterwards touches no guest memory. */
static enum greatest_test_res broke(unsigned q, vb_log_item why)
{
    unsigned long before;
    ASSERT(vb_is_broken(&T.dev));
    ASSERT(vb_status(&T.dev) & VB_S_NEEDS_RESET);
    ASSERT_ENUM_EQ(why, T.last_log, tg_log_name);
    ASSERT_EQ(1u, T.log_count[why]);
    ASSERT_EQ(1u, T.config_irqs);
    ASSERT_EQ(1u, ctr()->ring_errors);
    ASSERT_EQ(0u, T.npages);
    ASSERT_EQ(0u, T.irq[q]);
    ASSERT_EQ(0u, tg_used(&T, q, NULL, NULL, 0));
    ASSERT_EQ(0u, bad_index_irqs);
    before = host_reads;
    ASSERT_EQ(0, vb_queue_notify(&T.dev, q));
    ASSERT_EQ(before, host_reads);
    PASS();
}

/* Served whole and healthy: one buffer used (length 0) and one interrupt. */
static enum greatest_test_res served(unsigned q)
{
    uint32_t lens[2];
    ASSERT_FALSE(vb_is_broken(&T.dev));
    ASSERT_EQ(1u, tg_used(&T, q, NULL, lens, 2));
    ASSERT_EQ(0u, lens[0]);
    ASSERT_EQ(1u, T.irq[q]);
    ASSERT_EQ(0u, T.config_irqs);
    ASSERT_EQ(0u, bad_index_irqs);
    PASS();
}

static void kick1(unsigned q, uint16_t head)
{
    tg_publish(&T, q, head);
    tg_kick(&T, q);
}

/* ============================================================================================
   1. Free page reporting
   ============================================================================================ */

#define REP_START() full_start(VB_OPT_REPORTING | VB_OPT_PAGE_POISON, BASE_F | REP_F | POISON_F)

/* Ranges outside RAM or crossing its end: the device does not touch them (they are
   device-writable: nothing is read), checks alignment and overflow only, and gives them to the
   host as they are (the host clamps them to its RAM, as QEMU ignores a range past its RAMBlock). */
TEST report_ranges_outside_ram_given_as_sent(void)
{
    unsigned rq;
    ASSERT_EQ(0, REP_START());
    rq = qidx(VB_QUEUE_REPORTING);
    tg_desc(&T, rq, 0, (uint64_t)1 << 40, 4 * PAGE, F_WRITE | F_NEXT, 1);   /* far outside */
    tg_desc(&T, rq, 1, TG_MEM - PAGE, 2 * PAGE, F_WRITE | F_NEXT, 2);        /* crosses the end */
    tg_desc(&T, rq, 2, 0xFFFFFFFFFFFFE000u, PAGE, F_WRITE, 0);               /* below the top */
    kick1(rq, 0);
    CHECK_CALL(served(rq));
    ASSERT_EQ(3u, T.npages);
    ASSERT_U64((uint64_t)1 << 40, T.pages[0].gpa);
    ASSERT_U64(4 * PAGE, T.pages[0].len);
    ASSERT_U64(TG_MEM - PAGE, T.pages[1].gpa);
    ASSERT_U64(2 * PAGE, T.pages[1].len);
    ASSERT_U64(0xFFFFFFFFFFFFE000u, T.pages[2].gpa);
    ASSERT_EQ(0u, T.failed_reads); /* the ranges were never read */
    ASSERT_U64(7 * PAGE, ctr()->bytes[VB_RANGE_REPORTED]);
    PASS();
}

/* A range that includes the last byte of the address space is an overflow (the device never
   hands out 2^64 - 1). */
TEST report_range_ending_at_top_breaks(void)
{
    unsigned rq;
    ASSERT_EQ(0, REP_START());
    rq = qidx(VB_QUEUE_REPORTING);
    tg_desc(&T, rq, 0, 0x40000u, PAGE, F_WRITE | F_NEXT, 1);
    tg_desc(&T, rq, 1, 0xFFFFFFFFFFFFF000u, PAGE, F_WRITE, 0);
    kick1(rq, 0);
    return broke(rq, VB_LOG_LEN_OVERFLOW);
}

/* A device-readable buffer: QEMU's handler reads in_sg only (what the device may write); so does
   this device: readable bytes are not ranges, the buffer goes back, nothing is reported. */
TEST report_readable_only_buffer_reports_nothing(void)
{
    unsigned rq;
    uint64_t a;
    ASSERT_EQ(0, REP_START());
    rq = qidx(VB_QUEUE_REPORTING);
    a = tg_alloc(&T, 2 * PAGE);
    tg_desc(&T, rq, 0, 0x40000u, 2 * PAGE, F_NEXT, 1); /* looks like a range, but readable */
    tg_desc(&T, rq, 1, a, PAGE, 0, 0);
    kick1(rq, 0);
    CHECK_CALL(served(rq));
    ASSERT_EQ(0u, T.npages);
    ASSERT_EQ(1u, ctr()->reports);
    ASSERT_U64(0, ctr()->bytes[VB_RANGE_REPORTED]);
    ASSERT_U64(0, ctr()->bytes_ignored);
    ASSERT_EQ(0u, T.log_count[VB_LOG_RANGE_UNALIGNED]);
    PASS();
}

/* Readable then writable (a legal order): only the writable part is reported. */
TEST report_readable_then_writable(void)
{
    unsigned rq;
    ASSERT_EQ(0, REP_START());
    rq = qidx(VB_QUEUE_REPORTING);
    tg_desc(&T, rq, 0, tg_alloc(&T, 8), 8, F_NEXT, 1);
    tg_desc(&T, rq, 1, 0x40000u, PAGE, F_WRITE, 0);
    kick1(rq, 0);
    CHECK_CALL(served(rq));
    ASSERT_EQ(1u, T.npages);
    ASSERT_U64(0x40000u, T.pages[0].gpa);
    PASS();
}

/* The readable part of a reporting buffer is read (as QEMU maps it): memory the host refuses
   breaks the device, and none of the buffer's ranges is given. */
TEST report_readable_part_outside_ram_breaks(void)
{
    unsigned rq;
    ASSERT_EQ(0, REP_START());
    rq = qidx(VB_QUEUE_REPORTING);
    tg_desc(&T, rq, 0, (uint64_t)TG_MEM + PAGE, 16, F_NEXT, 1);
    tg_desc(&T, rq, 1, 0x40000u, PAGE, F_WRITE, 0);
    kick1(rq, 0);
    return broke(rq, VB_LOG_BAD_MEMORY);
}

/* Writable then readable: the descriptor order is a ring error. */
TEST report_readable_after_writable_breaks(void)
{
    unsigned rq;
    ASSERT_EQ(0, REP_START());
    rq = qidx(VB_QUEUE_REPORTING);
    tg_desc(&T, rq, 0, 0x40000u, PAGE, F_WRITE | F_NEXT, 1);
    tg_desc(&T, rq, 1, tg_alloc(&T, 8), 8, 0, 0);
    kick1(rq, 0);
    return broke(rq, VB_LOG_DESC_ORDER);
}

/* A zero-length descriptor in the middle of a good chain: nothing of the chain is acted on. */
TEST report_zero_length_first_breaks(void)
{
    unsigned rq;
    ASSERT_EQ(0, REP_START());
    rq = qidx(VB_QUEUE_REPORTING);
    tg_desc(&T, rq, 0, 0x40000u, 0, F_WRITE | F_NEXT, 1);
    tg_desc(&T, rq, 1, 0x50000u, PAGE, F_WRITE, 0);
    kick1(rq, 0);
    return broke(rq, VB_LOG_ZERO_LEN);
}

/* Every descriptor of the ring in one chain (128, the queue size): valid; 32 ranges given, the
   rest ignored and logged once. */
TEST report_chain_of_the_whole_ring(void)
{
    unsigned rq, i;
    ASSERT_EQ(0, REP_START());
    rq = qidx(VB_QUEUE_REPORTING);
    for (i = 0; i < 128; i++)
        tg_desc(&T, rq, i, (uint64_t)PAGE * i, PAGE, (uint16_t)(F_WRITE | (i < 127 ? F_NEXT : 0)), (uint16_t)(i + 1));
    kick1(rq, 0);
    CHECK_CALL(served(rq));
    ASSERT_EQ((unsigned)VB_RANGES_MAX_PER_BUFFER, T.npages);
    ASSERT_EQ(1u, T.log_count[VB_LOG_RANGES_TRUNCATED]);
    ASSERT_U64((uint64_t)VB_RANGES_MAX_PER_BUFFER * PAGE, ctr()->bytes[VB_RANGE_REPORTED]);
    ASSERT_U64(0, ctr()->bytes_ignored); /* dropped ranges are not "ignored" bytes: never looked at */
    PASS();
}

/* A chain longer than the ring can only come back to a descriptor it has walked: a loop, found
   before the entry is read again. */
TEST report_chain_past_the_ring_size_is_a_loop(void)
{
    unsigned rq, i;
    ASSERT_EQ(0, REP_START());
    rq = qidx(VB_QUEUE_REPORTING);
    for (i = 0; i < 128; i++)
        tg_desc(&T, rq, i, (uint64_t)PAGE * i, PAGE, F_WRITE | F_NEXT, (uint16_t)((i + 1) % 128u));
    kick1(rq, 0);
    return broke(rq, VB_LOG_LOOP);
}

/* An indirect table longer than the queue: refused before it is read. */
TEST report_indirect_table_past_the_ring_size(void)
{
    unsigned rq;
    ASSERT_EQ(0, REP_START());
    rq = qidx(VB_QUEUE_REPORTING);
    tg_desc(&T, rq, 0, tg_alloc(&T, 129 * 16), 129 * 16, F_INDIRECT, 0);
    kick1(rq, 0);
    return broke(rq, VB_LOG_INDIRECT_SIZE);
}

/* An indirect table of exactly the queue size with 128 ranges: 32 given. */
TEST report_indirect_table_of_the_ring_size(void)
{
    unsigned rq, i;
    uint64_t table;
    ASSERT_EQ(0, REP_START());
    rq = qidx(VB_QUEUE_REPORTING);
    table = tg_alloc(&T, 128 * 16);
    for (i = 0; i < 128; i++)
        tg_desc_at(&T, table, i, 0x100000000u + (uint64_t)PAGE * i, PAGE,
                   (uint16_t)(F_WRITE | (i < 127 ? F_NEXT : 0)), (uint16_t)(i + 1));
    tg_desc(&T, rq, 0, table, 128 * 16, F_INDIRECT, 0);
    kick1(rq, 0);
    CHECK_CALL(served(rq));
    ASSERT_EQ((unsigned)VB_RANGES_MAX_PER_BUFFER, T.npages);
    ASSERT_EQ(1u, T.log_count[VB_LOG_RANGES_TRUNCATED]);
    PASS();
}

TEST report_nested_indirect_breaks(void)
{
    unsigned rq;
    uint64_t t1, t2;
    ASSERT_EQ(0, REP_START());
    rq = qidx(VB_QUEUE_REPORTING);
    t1 = tg_alloc(&T, 32);
    t2 = tg_alloc(&T, 16);
    tg_desc_at(&T, t2, 0, 0x40000u, PAGE, F_WRITE, 0);
    tg_desc_at(&T, t1, 0, 0x50000u, PAGE, F_WRITE | F_NEXT, 1);
    tg_desc_at(&T, t1, 1, t2, 16, F_INDIRECT, 0);
    tg_desc(&T, rq, 0, t1, 32, F_INDIRECT, 0);
    kick1(rq, 0);
    return broke(rq, VB_LOG_INDIRECT_NESTED);
}

TEST report_indirect_after_a_range_breaks(void)
{
    unsigned rq;
    uint64_t t1;
    ASSERT_EQ(0, REP_START());
    rq = qidx(VB_QUEUE_REPORTING);
    t1 = tg_alloc(&T, 16);
    tg_desc_at(&T, t1, 0, 0x40000u, PAGE, F_WRITE, 0);
    tg_desc(&T, rq, 0, 0x50000u, PAGE, F_WRITE | F_NEXT, 1);
    tg_desc(&T, rq, 1, t1, 16, F_INDIRECT, 0);
    kick1(rq, 0);
    return broke(rq, VB_LOG_INDIRECT_NESTED);
}

/* Indirect without INDIRECT_DESC negotiated: a warning, served (as QEMU). */
TEST report_indirect_not_negotiated_warns(void)
{
    unsigned rq;
    uint64_t t1;
    ASSERT_EQ(0, full_start(VB_OPT_REPORTING, (BASE_F & ~TG_F(VB_F_RING_INDIRECT_DESC)) | REP_F));
    rq = qidx(VB_QUEUE_REPORTING);
    t1 = tg_alloc(&T, 16);
    tg_desc_at(&T, t1, 0, 0x40000u, PAGE, F_WRITE, 0);
    tg_desc(&T, rq, 0, t1, 16, F_INDIRECT, 0);
    kick1(rq, 0);
    CHECK_CALL(served(rq));
    ASSERT_EQ(1u, T.log_count[VB_LOG_INDIRECT_NOT_NEGOTIATED]);
    ASSERT_EQ(1u, T.npages);
    PASS();
}

/* A bad second buffer: the first was served and given, the second not at all. */
TEST report_good_then_bad_buffer(void)
{
    unsigned rq;
    uint32_t lens[4];
    ASSERT_EQ(0, REP_START());
    rq = qidx(VB_QUEUE_REPORTING);
    tg_desc(&T, rq, 0, 0x40000u, PAGE, F_WRITE, 0);
    tg_desc(&T, rq, 1, 0x50000u, PAGE, F_WRITE | F_NEXT, 2);
    tg_desc(&T, rq, 2, 0x60000u, PAGE, F_WRITE | F_NEXT, 200);
    tg_publish(&T, rq, 0);
    tg_publish(&T, rq, 1);
    tg_kick(&T, rq);
    ASSERT(vb_is_broken(&T.dev));
    ASSERT_EQ(1u, T.log_count[VB_LOG_NEXT_RANGE]);
    ASSERT_EQ(1u, tg_used(&T, rq, NULL, lens, 4));
    ASSERT_EQ(1u, T.npages);
    ASSERT_U64(0x40000u, T.pages[0].gpa);
    ASSERT_EQ(1u, ctr()->reports);
    PASS();
}

/* REPORTING offered and the queue exists only if accepted: with QUEUES_FIXED the queue is there
   without the feature; its buffers go back and nothing is given (counted as ignored). */
TEST report_queue_without_the_feature_gives_nothing(void)
{
    unsigned rq;
    ASSERT_EQ(0, full_start(VB_OPT_REPORTING | VB_OPT_QUEUES_FIXED, BASE_F));
    rq = qidx(VB_QUEUE_REPORTING);
    ASSERT_EQ(4u, rq);
    tg_desc(&T, rq, 0, 0x40000u, PAGE, F_WRITE, 0);
    kick1(rq, 0);
    CHECK_CALL(served(rq));
    ASSERT_EQ(0u, T.npages);
    ASSERT_U64(PAGE, ctr()->bytes_ignored);
    PASS();
}

/* ============================================================================================
   2. Free page hinting
   ============================================================================================ */

#define HINT_START() full_start(VB_OPT_FREE_PAGE_HINT | VB_OPT_PAGE_POISON, BASE_F | FPH_F | POISON_F)

static uint32_t id_at(uint32_t id)
{
    uint64_t a = tg_alloc(&T, 8);
    tg_put32(&T, a, id);
    return (uint32_t)a;
}

/* The round in START: the id issued and echoed. */
static int hint_running(void)
{
    unsigned hq = qidx(VB_QUEUE_FREE_PAGE);
    uint32_t id;
    if (vb_hint_start(&T.dev) != VB_OK) return -1;
    id = vb_hint(&T.dev)->cmd_id;
    tg_desc(&T, hq, 100, id_at(id), 4, 0, 0);
    kick1(hq, 100);
    if (vb_hint(&T.dev)->status != VB_HINT_START) return -1;
    tg_used(&T, hq, NULL, NULL, 0);
    T.irq[hq] = 0;
    T.config_irqs = 0;
    return 0;
}

TEST hint_ranges_outside_ram_given_as_sent(void)
{
    unsigned hq;
    ASSERT_EQ(0, HINT_START());
    ASSERT_EQ(0, hint_running());
    hq = qidx(VB_QUEUE_FREE_PAGE);
    tg_desc(&T, hq, 0, (uint64_t)1 << 40, PAGE, F_WRITE | F_NEXT, 1);
    tg_desc(&T, hq, 1, TG_MEM - PAGE, 4 * PAGE, F_WRITE, 0);
    kick1(hq, 0);
    CHECK_CALL(served(hq));
    ASSERT_EQ(2u, T.npages);
    ASSERT_EQ((unsigned)VB_RANGE_HINTED, T.pages[0].queue);
    ASSERT_U64((uint64_t)1 << 40, T.pages[0].gpa);
    ASSERT_U64(4 * PAGE, T.pages[1].len);
    ASSERT_EQ(2u, vb_hint(&T.dev)->ranges);
    ASSERT_U64(5 * PAGE, vb_hint(&T.dev)->bytes);
    PASS();
}

TEST hint_unaligned_ranges_ignored(void)
{
    unsigned hq;
    ASSERT_EQ(0, HINT_START());
    ASSERT_EQ(0, hint_running());
    hq = qidx(VB_QUEUE_FREE_PAGE);
    tg_desc(&T, hq, 0, 0x40001u, PAGE, F_WRITE | F_NEXT, 1);
    tg_desc(&T, hq, 1, 0x50000u, 100, F_WRITE | F_NEXT, 2);
    tg_desc(&T, hq, 2, 0x60000u, PAGE, F_WRITE, 0);
    kick1(hq, 0);
    CHECK_CALL(served(hq));
    ASSERT_EQ(1u, T.npages);
    ASSERT_U64(0x60000u, T.pages[0].gpa);
    ASSERT_EQ(2u, T.log_count[VB_LOG_RANGE_UNALIGNED]);
    ASSERT_U64(PAGE + 100u, ctr()->bytes_ignored);
    ASSERT_EQ(1u, vb_hint(&T.dev)->ranges);
    PASS();
}

/* Page poison in use: hinted ranges are not given either (counted as ignored). */
TEST hint_poisoned_ranges_ignored(void)
{
    unsigned hq;
    unsigned char v[4] = {0xAA, 0, 0, 0};
    ASSERT_EQ(0, HINT_START());
    ASSERT_EQ(0, hint_running());
    hq = qidx(VB_QUEUE_FREE_PAGE);
    vb_config_write(&T.dev, 12, v, 4);
    ASSERT_EQ(0xAAu, vb_poison_value(&T.dev));
    tg_desc(&T, hq, 0, 0x40000u, 2 * PAGE, F_WRITE, 0);
    kick1(hq, 0);
    CHECK_CALL(served(hq));
    ASSERT_EQ(0u, T.npages);
    ASSERT_U64(2 * PAGE, ctr()->bytes_ignored);
    ASSERT_EQ(0u, vb_hint(&T.dev)->ranges);
    ASSERT_EQ(VB_HINT_START, vb_hint(&T.dev)->status);
    PASS();
}

static enum greatest_test_res hint_breaks_with(int which)
{
    unsigned hq;
    uint64_t t1;
    ASSERT_EQ(0, HINT_START());
    ASSERT_EQ(0, hint_running());
    hq = qidx(VB_QUEUE_FREE_PAGE);
    switch (which) {
    case 0: /* overflowing range */
        tg_desc(&T, hq, 0, 0x40000u, PAGE, F_WRITE | F_NEXT, 1);
        tg_desc(&T, hq, 1, 0xFFFFFFFFFFFFF800u, PAGE, F_WRITE, 0);
        break;
    case 1: /* zero-length range */
        tg_desc(&T, hq, 0, 0x40000u, PAGE, F_WRITE | F_NEXT, 1);
        tg_desc(&T, hq, 1, 0x50000u, 0, F_WRITE, 0);
        break;
    case 2: /* loop */
        tg_desc(&T, hq, 0, 0x40000u, PAGE, F_WRITE | F_NEXT, 1);
        tg_desc(&T, hq, 1, 0x50000u, PAGE, F_WRITE | F_NEXT, 0);
        break;
    case 3: /* an id after a range */
        tg_desc(&T, hq, 0, 0x40000u, PAGE, F_WRITE | F_NEXT, 1);
        tg_desc(&T, hq, 1, id_at(vb_hint(&T.dev)->cmd_id), 4, 0, 0);
        break;
    case 4: /* the id in memory the host refuses */
        tg_desc(&T, hq, 0, TG_MEM - 2u, 4, F_NEXT, 1);
        tg_desc(&T, hq, 1, 0x40000u, PAGE, F_WRITE, 0);
        break;
    case 5: /* next out of range */
        tg_desc(&T, hq, 0, 0x40000u, PAGE, F_WRITE | F_NEXT, 128);
        break;
    case 6: /* indirect with NEXT */
        t1 = tg_alloc(&T, 16);
        tg_desc_at(&T, t1, 0, 0x40000u, PAGE, F_WRITE, 0);
        tg_desc(&T, hq, 0, t1, 16, F_INDIRECT | F_NEXT, 1);
        tg_desc(&T, hq, 1, 0x50000u, PAGE, F_WRITE, 0);
        break;
    case 7: /* indirect table of a bad size */
        tg_desc(&T, hq, 0, tg_alloc(&T, 24), 24, F_INDIRECT, 0);
        break;
    default: /* a 2-byte id: not a command id */
        tg_desc(&T, hq, 0, id_at(0), 2, F_NEXT, 1);
        tg_desc(&T, hq, 1, 0x40000u, PAGE, F_WRITE, 0);
        break;
    }
    kick1(hq, 0);
    ASSERT_EQ(VB_HINT_START, vb_hint(&T.dev)->status); /* nothing of the buffer acted on */
    ASSERT_EQ(0u, vb_hint(&T.dev)->ranges);
    return broke(hq, which == 0   ? VB_LOG_LEN_OVERFLOW
                     : which == 1 ? VB_LOG_ZERO_LEN
                     : which == 2 ? VB_LOG_LOOP
                     : which == 3 ? VB_LOG_DESC_ORDER
                     : which == 4 ? VB_LOG_BAD_MEMORY
                     : which == 5 ? VB_LOG_NEXT_RANGE
                     : which == 6 ? VB_LOG_INDIRECT_NESTED
                     : which == 7 ? VB_LOG_INDIRECT_SIZE
                                  : VB_LOG_HINT_CMD_ID);
}

TEST hint_hostile_chains_break(void)
{
    int i;
    for (i = 0; i <= 8; i++) CHECK_CALL(hint_breaks_with(i));
    PASS();
}

/* The id spread over several readable descriptors (1 + 1 + 2 bytes) is one id; a readable part
   longer than 4 bytes uses its first 4 (QEMU's iov_to_buf of 4 bytes). Through an indirect
   table, with ranges after it. */
TEST hint_id_in_pieces_and_long(void)
{
    unsigned hq;
    uint64_t a, t1;
    uint32_t id;
    ASSERT_EQ(0, HINT_START());
    hq = qidx(VB_QUEUE_FREE_PAGE);
    ASSERT_EQ(VB_OK, vb_hint_start(&T.dev));
    id = vb_hint(&T.dev)->cmd_id;
    a = id_at(id);
    t1 = tg_alloc(&T, 64);
    tg_desc_at(&T, t1, 0, a, 1, F_NEXT, 1);
    tg_desc_at(&T, t1, 1, a + 1u, 1, F_NEXT, 2);
    tg_desc_at(&T, t1, 2, a + 2u, 2, F_NEXT, 3);
    tg_desc_at(&T, t1, 3, 0x40000u, PAGE, F_WRITE, 0);
    tg_desc(&T, hq, 0, t1, 64, F_INDIRECT, 0);
    T.config_irqs = 0;
    kick1(hq, 0);
    CHECK_CALL(served(hq));
    ASSERT_EQ(VB_HINT_START, vb_hint(&T.dev)->status);
    ASSERT_U64(id, vb_hint(&T.dev)->guest_cmd_id);
    ASSERT_EQ(1u, T.npages);
    /* 8 readable bytes: the id 0 (the guest's STOP), then 0xffffffff ignored */
    a = tg_alloc(&T, 8);
    tg_put32(&T, a, 0);
    tg_put32(&T, a + 4u, 0xFFFFFFFFu);
    tg_desc(&T, hq, 1, a, 8, F_NEXT, 2);
    tg_desc(&T, hq, 2, 0x50000u, PAGE, F_WRITE, 0);
    kick1(hq, 1);
    ASSERT_EQ(VB_HINT_STOP, vb_hint(&T.dev)->status);
    ASSERT_EQ(0u, vb_hint(&T.dev)->guest_cmd_id);
    ASSERT_EQ(1u, T.npages);
    ASSERT_FALSE(vb_is_broken(&T.dev));
    PASS();
}

/* In DONE (and STOP), a buffer with an id and ranges: the id is stale, the ranges are ignored
   and counted; nothing breaks. */
TEST hint_id_and_ranges_when_done_or_stop(void)
{
    unsigned hq;
    uint32_t id;
    ASSERT_EQ(0, HINT_START());
    ASSERT_EQ(0, hint_running());
    hq = qidx(VB_QUEUE_FREE_PAGE);
    id = vb_hint(&T.dev)->cmd_id;
    vb_hint_done(&T.dev);
    ASSERT_EQ(1u, T.config_irqs);
    tg_desc(&T, hq, 0, id_at(id), 4, F_NEXT, 1);
    tg_desc(&T, hq, 1, 0x40000u, 2 * PAGE, F_WRITE, 0);
    kick1(hq, 0);
    ASSERT_EQ(VB_HINT_DONE, vb_hint(&T.dev)->status);
    ASSERT_EQ(0u, T.npages);
    ASSERT_U64(2 * PAGE, ctr()->bytes_ignored);
    vb_hint_stop(&T.dev);
    tg_desc(&T, hq, 2, id_at(id), 4, F_NEXT, 3);
    tg_desc(&T, hq, 3, 0x40000u, PAGE, F_WRITE, 0);
    kick1(hq, 2);
    ASSERT_EQ(VB_HINT_STOP, vb_hint(&T.dev)->status);
    ASSERT_EQ(0u, T.npages);
    ASSERT_U64(3 * PAGE, ctr()->bytes_ignored);
    ASSERT_EQ(2u, tg_used(&T, hq, NULL, NULL, 0));
    ASSERT_FALSE(vb_is_broken(&T.dev));
    ASSERT_EQ(0u, vb_hint(&T.dev)->ranges);
    PASS();
}

/* A never-issued id while START: QEMU ends the round on any id in START (the guest's STOP is 0,
   but any other value counts as its stop too); the ranges of that buffer are not hinted. */
TEST hint_never_issued_id_in_start_stops(void)
{
    unsigned hq;
    uint32_t id;
    ASSERT_EQ(0, HINT_START());
    ASSERT_EQ(0, hint_running());
    hq = qidx(VB_QUEUE_FREE_PAGE);
    id = vb_hint(&T.dev)->cmd_id;
    tg_desc(&T, hq, 0, id_at(id + 7u), 4, F_NEXT, 1);
    tg_desc(&T, hq, 1, 0x40000u, PAGE, F_WRITE, 0);
    kick1(hq, 0);
    ASSERT_EQ(VB_HINT_STOP, vb_hint(&T.dev)->status);
    ASSERT_U64(id + 7u, vb_hint(&T.dev)->guest_cmd_id);
    ASSERT_EQ(0u, T.npages);
    ASSERT_U64(PAGE, ctr()->bytes_ignored);
    ASSERT_EQ(0u, T.config_irqs); /* the guest ended it: the config space does not change */
    ASSERT_EQ(0u, ctr()->ring_errors);
    PASS();
}

/* 33 hinted ranges in START: 32 given, the rest dropped and logged once. */
TEST hint_33_ranges_truncated(void)
{
    unsigned hq, i;
    ASSERT_EQ(0, HINT_START());
    ASSERT_EQ(0, hint_running());
    hq = qidx(VB_QUEUE_FREE_PAGE);
    for (i = 0; i < 33; i++)
        tg_desc(&T, hq, i, 0x40000u + (uint64_t)2 * PAGE * i, PAGE, (uint16_t)(F_WRITE | (i < 32 ? F_NEXT : 0)),
                (uint16_t)(i + 1));
    kick1(hq, 0);
    CHECK_CALL(served(hq));
    ASSERT_EQ((unsigned)VB_RANGES_MAX_PER_BUFFER, T.npages);
    ASSERT_EQ((uint32_t)VB_RANGES_MAX_PER_BUFFER, vb_hint(&T.dev)->ranges);
    ASSERT_EQ(1u, T.log_count[VB_LOG_RANGES_TRUNCATED]);
    PASS();
}

/* vb_hint_start is refused on a broken device; stop and done still work (the host's side). */
TEST hint_start_refused_while_broken(void)
{
    unsigned hq;
    ASSERT_EQ(0, HINT_START());
    hq = qidx(VB_QUEUE_FREE_PAGE);
    tg_desc(&T, hq, 0, 0x40000u, 0, F_WRITE, 0);
    kick1(hq, 0);
    ASSERT(vb_is_broken(&T.dev));
    ASSERT_EQ(VB_ERR_STATE, vb_hint_start(&T.dev));
    ASSERT_U64(0x80000000u, vb_hint(&T.dev)->cmd_id);
    vb_hint_done(&T.dev);
    ASSERT_EQ(VB_HINT_DONE, vb_hint(&T.dev)->status);
    vb_set_status(&T.dev, 0);
    ASSERT_EQ(VB_HINT_STOP, vb_hint(&T.dev)->status);
    PASS();
}

/* ============================================================================================
   3. The ring catalog over every queue role (tests/test_ring.c's structural errors, which it
      runs on the stats and inflate/deflate queues, here on all five with every feature)
   ============================================================================================ */

enum {
    RC_HEAD_RANGE, RC_NEXT_RANGE, RC_LOOP, RC_SELF_LOOP, RC_ZERO_LEN, RC_LEN_OVERFLOW,
    RC_INDIRECT_NESTED, RC_INDIRECT_NOT_HEAD, RC_INDIRECT_SIZE, RC_INDIRECT_OVERFLOW, RC_DESC_ORDER,
    RC_AVAIL_RUNAWAY, RC_BAD_TABLE, RC_BAD_INDIRECT_TABLE, RC_BAD_AVAIL_IDX, RC_BAD_AVAIL_RING,
    RC_BAD_USED_RING, RC_OVERRUN_AT_READY, RC_COUNT
};

static const vb_log_item rc_item[RC_COUNT] = {
    VB_LOG_HEAD_RANGE,      VB_LOG_NEXT_RANGE,      VB_LOG_LOOP,          VB_LOG_LOOP,
    VB_LOG_ZERO_LEN,        VB_LOG_LEN_OVERFLOW,    VB_LOG_INDIRECT_NESTED, VB_LOG_INDIRECT_NESTED,
    VB_LOG_INDIRECT_SIZE,   VB_LOG_LEN_OVERFLOW,    VB_LOG_DESC_ORDER,    VB_LOG_AVAIL_RUNAWAY,
    VB_LOG_RING_MEMORY,     VB_LOG_BAD_MEMORY,      VB_LOG_RING_MEMORY,   VB_LOG_RING_MEMORY,
    VB_LOG_RING_MEMORY,     VB_LOG_QUEUE_OVERRUN};

/* A first descriptor that is valid on queue role r: readable data for inflate, deflate, stats
   and a hint id; a writable range for reporting. */
static uint16_t rc_flags(unsigned role) { return role == VB_QUEUE_REPORTING ? (uint16_t)F_WRITE : 0; }
static uint64_t rc_data(void)
{
    uint64_t a = tg_alloc(&T, 64);
    tg_put32(&T, a, 0x10); /* a PFN, a stats tag, a hint id: all harmless */
    return a;
}

static enum greatest_test_res ring_case(unsigned role, int which)
{
    unsigned q;
    uint16_t f;
    uint64_t t1;
    int kicked = 1;
    ASSERT_EQ(0, full_start(ALL_OPTS, ALL_F));
    q = qidx(role);
    f = rc_flags(role);
    switch (which) {
    case RC_HEAD_RANGE: tg_publish(&T, q, 128); break;
    case RC_NEXT_RANGE:
        tg_desc(&T, q, 0, rc_data(), 4, (uint16_t)(f | F_NEXT), 0xFFFF);
        tg_publish(&T, q, 0);
        break;
    case RC_LOOP:
        tg_desc(&T, q, 0, rc_data(), 4, (uint16_t)(f | F_NEXT), 1);
        tg_desc(&T, q, 1, rc_data(), 4, (uint16_t)(f | F_NEXT), 0);
        tg_publish(&T, q, 0);
        break;
    case RC_SELF_LOOP:
        tg_desc(&T, q, 5, rc_data(), 4, (uint16_t)(f | F_NEXT), 5);
        tg_publish(&T, q, 5);
        break;
    case RC_ZERO_LEN:
        tg_desc(&T, q, 0, rc_data(), 0, f, 0);
        tg_publish(&T, q, 0);
        break;
    case RC_LEN_OVERFLOW:
        tg_desc(&T, q, 0, 0xFFFFFFFFFFFFFFF0u, 0x20, f, 0);
        tg_publish(&T, q, 0);
        break;
    case RC_INDIRECT_NESTED:
        t1 = tg_alloc(&T, 16);
        tg_desc_at(&T, t1, 0, t1, 16, F_INDIRECT, 0);
        tg_desc(&T, q, 0, t1, 16, F_INDIRECT, 0);
        tg_publish(&T, q, 0);
        break;
    case RC_INDIRECT_NOT_HEAD:
        t1 = tg_alloc(&T, 16);
        tg_desc_at(&T, t1, 0, rc_data(), 4, f, 0);
        tg_desc(&T, q, 0, rc_data(), 4, (uint16_t)(f | F_NEXT), 1);
        tg_desc(&T, q, 1, t1, 16, F_INDIRECT, 0);
        tg_publish(&T, q, 0);
        break;
    case RC_INDIRECT_SIZE:
        tg_desc(&T, q, 0, tg_alloc(&T, 32), 17, F_INDIRECT, 0);
        tg_publish(&T, q, 0);
        break;
    case RC_INDIRECT_OVERFLOW:
        tg_desc(&T, q, 0, 0xFFFFFFFFFFFFFFF0u, 32, F_INDIRECT, 0);
        tg_publish(&T, q, 0);
        break;
    case RC_DESC_ORDER:
        tg_desc(&T, q, 0, rc_data(), 4, F_WRITE | F_NEXT, 1);
        tg_desc(&T, q, 1, rc_data(), 4, 0, 0);
        tg_publish(&T, q, 0);
        break;
    case RC_AVAIL_RUNAWAY: tg_set_avail_idx(&T, q, 129); break;
    case RC_BAD_TABLE:
        tg_desc(&T, q, 3, rc_data(), 4, f, 0);
        tg_publish(&T, q, 3);
        deny(tg_desc_addr(q) + 48u, 16);
        break;
    case RC_BAD_INDIRECT_TABLE:
        t1 = tg_alloc(&T, 16);
        tg_desc_at(&T, t1, 0, rc_data(), 4, f, 0);
        tg_desc(&T, q, 0, t1, 16, F_INDIRECT, 0);
        tg_publish(&T, q, 0);
        deny(t1, 16);
        break;
    case RC_BAD_AVAIL_IDX:
        tg_desc(&T, q, 0, rc_data(), 4, f, 0);
        tg_publish(&T, q, 0);
        deny(tg_avail_addr(&T, q) + 2u, 2);
        break;
    case RC_BAD_AVAIL_RING:
        tg_desc(&T, q, 0, rc_data(), 4, f, 0);
        tg_publish(&T, q, 0);
        deny(tg_avail_addr(&T, q) + 4u, 2);
        break;
    case RC_BAD_USED_RING:
        tg_desc(&T, q, 0, rc_data(), 4, f, 0);
        tg_publish(&T, q, 0);
        deny(tg_used_addr(&T, q) + 4u, 8);
        break;
    default: /* RC_OVERRUN_AT_READY: the queue restarted with more in flight than it holds */
        ASSERT_EQ(VB_OK, vb_queue_set_ready(&T.dev, q, 0));
        ASSERT_EQ(VB_OK, vb_queue_set_base(&T.dev, q, 129));
        ASSERT_EQ(VB_OK, vb_queue_set_ready(&T.dev, q, 1));
        kicked = 0;
        break;
    }
    if (kicked) {
        T.npages = 0;
        tg_kick(&T, q);
    }
    if (which == RC_BAD_USED_RING) T.npages = 0; /* a valid buffer, acted on; its return failed */
    if (role == VB_QUEUE_STATS && which == RC_BAD_USED_RING) {
        /* a stats buffer is held, not used: the used ring is not written until the next one */
        ASSERT_FALSE(vb_is_broken(&T.dev));
        tg_desc(&T, q, 1, rc_data(), 4, 0, 0);
        tg_publish(&T, q, 1);
        tg_kick(&T, q);
    }
    if (!vb_is_broken(&T.dev)) FAILm("not broken");
    return broke(q, rc_item[which]);
}

TEST ring_catalog_over_every_queue(void)
{
    unsigned role;
    int which;
    for (role = 0; role < VB_QUEUE_MAX; role++)
        for (which = 0; which < RC_COUNT; which++) {
            enum greatest_test_res r = ring_case(role, which);
            if (r != GREATEST_TEST_RES_PASS) {
                fprintf(stderr, "ring catalog: role %u, case %d\n", role, which);
                return r;
            }
        }
    PASS();
}

/* The legacy big-endian guest: the same catalog's first cases on the new queues (QUEUES_FIXED:
   a legacy driver has no FEATURES_OK, the queues exist by the offered features or fixed). */
TEST ring_catalog_legacy_be_new_queues(void)
{
    static const unsigned roles[2] = {VB_QUEUE_FREE_PAGE, VB_QUEUE_REPORTING};
    unsigned i;
    for (i = 0; i < 2; i++) {
        vb_config c = mkcfg(ALL_OPTS | VB_OPT_GUEST_BIG_ENDIAN | VB_OPT_QUEUES_OFFERED);
        unsigned q, n;
        ASSERT_EQ(0, tg_create(&T, &c));
        ASSERT_EQ(VB_OK, vb_init(&T.dev, &c, tg_on_path(&chk_host), &T));
        T.be = 1;
        bad_index_irqs = 0;
        vb_set_status(&T.dev, VB_S_ACKNOWLEDGE | VB_S_DRIVER);
        vb_set_driver_features(&T.dev, TG_F(VB_F_STATS_VQ) | FPH_F | REP_F);
        n = vb_queue_count(&T.dev);
        ASSERT_EQ(5u, n);
        for (q = 0; q < n; q++) ASSERT_EQ(0, tg_queue(&T, q, 128));
        tg_driver_ok(&T);
        q = qidx(roles[i]);
        /* next = 0x0100 as big-endian 1: valid only if read big-endian */
        tg_desc(&T, q, 0, 0x40000u, PAGE, (uint16_t)(F_WRITE | F_NEXT), 1);
        tg_desc(&T, q, 1, 0x50000u, PAGE, F_WRITE, 0);
        kick1(q, 0);
        ASSERT_FALSE(vb_is_broken(&T.dev));
        ASSERT_EQ(1u, tg_used(&T, q, NULL, NULL, 0));
        tg_desc(&T, q, 2, 0x40000u, PAGE, (uint16_t)(F_WRITE | F_NEXT), 300);
        kick1(q, 2);
        ASSERT(vb_is_broken(&T.dev));
        ASSERT_EQ(0u, vb_status(&T.dev) & VB_S_NEEDS_RESET); /* legacy: no NEEDS_RESET */
        ASSERT_EQ(0u, T.config_irqs);
        ASSERT_EQ(1u, T.log_count[VB_LOG_NEXT_RANGE]);
    }
    PASS();
}

/* ============================================================================================
   4. A queue whose role the numbering no longer has
   ============================================================================================ */

/* Before FEATURES_OK a driver may set queues up and later change its features: the free page
   queue (index 3 under FREE_PAGE_HINT) is left with buffers to do, then the features drop
   FREE_PAGE_HINT and index 3 is gone. The left-over work must not interrupt an index the
   device does not have (a host's array indexed by queue would overflow). */
TEST vanished_role_gets_no_interrupt(void)
{
    vb_config c = mkcfg(ALL_OPTS);
    unsigned i, hq;
    ASSERT_EQ(0, tg_create(&T, &c));
    ASSERT_EQ(VB_OK, vb_init(&T.dev, &c, tg_on_path(&chk_host), &T));
    bad_index_irqs = 0;
    vb_set_status(&T.dev, VB_S_ACKNOWLEDGE | VB_S_DRIVER);
    vb_set_driver_features(&T.dev, BASE_F | FPH_F);
    hq = qidx(VB_QUEUE_FREE_PAGE);
    ASSERT_EQ(3u, hq);
    ASSERT_EQ(0, tg_queue(&T, hq, 128));
    /* 128 buffers of an indirect table of 2 entries: more than one budget */
    {
        uint64_t t1 = tg_alloc(&T, 32);
        tg_desc_at(&T, t1, 0, 0x40000u, PAGE, F_WRITE | F_NEXT, 1);
        tg_desc_at(&T, t1, 1, 0x50000u, PAGE, F_WRITE, 0);
        for (i = 0; i < 128; i++) {
            tg_desc(&T, hq, i, t1, 32, F_INDIRECT, 0);
            tg_publish(&T, hq, (uint16_t)i);
        }
    }
    ASSERT(vb_queue_notify(&T.dev, hq));
    ASSERT(T.irq[hq] > 0);
    vb_set_driver_features(&T.dev, BASE_F); /* no FREE_PAGE_HINT: 3 queues */
    ASSERT_EQ(3u, vb_queue_count(&T.dev));
    for (i = 0; i < 10 && vb_do_work(&T.dev); i++) continue;
    ASSERT_EQ(0u, bad_index_irqs);
    ASSERT_FALSE(vb_more_work(&T.dev));
    PASS();
}

/* The same state reached by a snapshot: a blob with the free page queue running and features
   without FREE_PAGE_HINT (a source in that state saves it) loads; its left-over work must not
   interrupt an index that does not exist either. */
TEST vanished_role_after_snapshot_load(void)
{
    vb_config c = mkcfg(ALL_OPTS);
    unsigned char blob[VB_SNAPSHOT_SIZE];
    unsigned i, hq;
    ASSERT_EQ(0, tg_create(&T, &c));
    ASSERT_EQ(VB_OK, vb_init(&T.dev, &c, tg_on_path(&chk_host), &T));
    bad_index_irqs = 0;
    vb_set_status(&T.dev, VB_S_ACKNOWLEDGE | VB_S_DRIVER);
    vb_set_driver_features(&T.dev, BASE_F | FPH_F);
    hq = qidx(VB_QUEUE_FREE_PAGE);
    ASSERT_EQ(0, tg_queue(&T, hq, 128));
    for (i = 0; i < 4; i++) {
        tg_desc(&T, hq, i, 0x40000u, PAGE, F_WRITE, 0);
        tg_publish(&T, hq, (uint16_t)i);
    }
    vb_set_driver_features(&T.dev, BASE_F);
    ASSERT_EQ(VB_SNAPSHOT_SIZE, vb_snapshot_save(&T.dev, blob, sizeof blob));
    ASSERT_EQ(VB_OK, vb_snapshot_load(&T.dev, blob, sizeof blob));
    for (i = 0; i < 10 && vb_do_work(&T.dev); i++) continue;
    ASSERT_EQ(0u, bad_index_irqs);
    ASSERT_FALSE(vb_more_work(&T.dev));
    PASS();
}

/* ============================================================================================
   5. Bounded work of one notification (the numbers: printed with VB_WORK_REPORT set)
   ============================================================================================ */

typedef struct work {
    unsigned buffers, ranges;
    unsigned long reads;
    int more;
} work;

/* 128 buffers of `shape` on queue role `role`, one notification: what it did. shape 0: one
   descriptor a buffer; 1: a chain of 32 ranges; 2: an indirect table of 128 ranges. */
static int measure(unsigned role, int shape, work *w)
{
    unsigned q, i;
    uint64_t t1 = 0;
    if (full_start(ALL_OPTS, ALL_F)) return -1;
    q = qidx(role);
    if (role == VB_QUEUE_FREE_PAGE && hint_running()) return -1;
    if (shape == 2) {
        t1 = tg_alloc(&T, 128 * 16);
        for (i = 0; i < 128; i++)
            tg_desc_at(&T, t1, i, 0x100000u + (uint64_t)PAGE * i, PAGE, (uint16_t)(F_WRITE | (i < 127 ? F_NEXT : 0)),
                       (uint16_t)(i + 1));
    }
    if (shape == 1)
        for (i = 0; i < 128; i++)
            tg_desc(&T, q, i, 0x100000u + (uint64_t)PAGE * i, PAGE, (uint16_t)(F_WRITE | ((i % 32u) < 31 ? F_NEXT : 0)),
                    (uint16_t)(i + 1));
    for (i = 0; i < 128; i++) {
        if (shape == 0) tg_desc(&T, q, i, 0x100000u + (uint64_t)PAGE * i, PAGE, F_WRITE, 0);
        if (shape == 2) tg_desc(&T, q, i, t1, 128 * 16, F_INDIRECT, 0);
        if (shape != 1 || i % 32u == 0) tg_publish(&T, q, (uint16_t)(shape == 1 ? i : i));
    }
    T.npages = 0;
    host_reads = 0;
    T.maps = 0;
    w->more = vb_queue_notify(&T.dev, q);
    w->buffers = tg_used(&T, q, NULL, NULL, 0);
    w->ranges = T.npages;
    w->reads = host_reads + T.maps; /* the map path: ring fields are loads, tables are maps */
    return vb_is_broken(&T.dev) ? -1 : 0;
}

TEST bounded_work_of_one_notification(void)
{
    static const char *const shape_name[3] = {"1-descriptor buffers", "32-range chains",
                                              "indirect tables of 128"};
    static const unsigned roles[2] = {VB_QUEUE_REPORTING, VB_QUEUE_FREE_PAGE};
    unsigned r;
    int s, verbose = getenv("VB_WORK_REPORT") != NULL;
    for (r = 0; r < 2; r++)
        for (s = 0; s < 3; s++) {
            work w;
            unsigned posted = s == 1 ? 4u : 128u;
            ASSERT_EQ(0, measure(roles[r], s, &w));
            if (verbose)
                printf("\n  %s queue, 128-entry ring, %u %s: one notification used %u buffers, "
                       "gave %u ranges, made %lu guest reads, more work %d",
                       roles[r] == VB_QUEUE_REPORTING ? "reporting" : "free page", posted, shape_name[s],
                       w.buffers, w.ranges, w.reads, w.more);
            /* the budget: chains are taken while fewer than 128 descriptors were walked */
            ASSERT(w.buffers >= 1 && w.buffers <= posted);
            ASSERT(w.ranges <= w.buffers * (unsigned)VB_RANGES_MAX_PER_BUFFER);
            ASSERT(w.reads <= 8u * 128u + 4u);
            switch (s) {
            case 0: /* 128 descriptors: all of them, nothing left */
                ASSERT_EQ(128u, w.buffers);
                ASSERT_EQ(128u, w.ranges);
                ASSERT_EQ(0, w.more);
                break;
            case 1: /* 4 chains of 32: all of them */
                ASSERT_EQ(4u, w.buffers);
                ASSERT_EQ(128u, w.ranges);
                ASSERT_EQ(0, w.more);
                break;
            default: /* each chain walks 129 descriptors: one a notification, then "more work" */
                ASSERT_EQ(1u, w.buffers);
                ASSERT_EQ((unsigned)VB_RANGES_MAX_PER_BUFFER, w.ranges);
                ASSERT_EQ(1, w.more);
                break;
            }
        }
    if (verbose) printf("\n");
    PASS();
}

/* The worst case of descriptors walked by one notification: 127 one-descriptor buffers, then an
   indirect table of 128: the budget is checked before each chain, so the last one still runs
   (255 descriptors + 1 indirect head, about two queues' worth), and the rest is more work. */
TEST bounded_work_worst_case_two_queues_worth(void)
{
    unsigned role;
    for (role = VB_QUEUE_FREE_PAGE; role <= VB_QUEUE_REPORTING; role++) {
        unsigned q, i, used;
        uint64_t t1;
        ASSERT_EQ(0, full_start(ALL_OPTS, ALL_F));
        q = qidx(role);
        if (role == VB_QUEUE_FREE_PAGE) ASSERT_EQ(0, hint_running());
        t1 = tg_alloc(&T, 128 * 16);
        for (i = 0; i < 128; i++)
            tg_desc_at(&T, t1, i, 0x100000u + (uint64_t)PAGE * i, PAGE, (uint16_t)(F_WRITE | (i < 127 ? F_NEXT : 0)),
                       (uint16_t)(i + 1));
        /* 127 one-descriptor buffers (heads 0..126), then the table (head 127), then one more */
        for (i = 0; i < 127; i++) {
            tg_desc(&T, q, i, 0x100000u + (uint64_t)PAGE * i, PAGE, F_WRITE, 0);
            tg_publish(&T, q, (uint16_t)i);
        }
        tg_desc(&T, q, 127, t1, 128 * 16, F_INDIRECT, 0);
        tg_publish(&T, q, 127);
        host_reads = 0;
        T.maps = 0;
        T.npages = 0;
        ASSERT_EQ(0, vb_queue_notify(&T.dev, q)); /* 128 chains fit: nothing left */
        used = tg_used(&T, q, NULL, NULL, 0);
        ASSERT_EQ(128u, used);
        ASSERT_EQ(127u + VB_RANGES_MAX_PER_BUFFER, T.npages);
        /* descriptor reads: 127 + 1 + 128; avail entries 128; interrupt checks 128; + avail idx */
        ASSERT(host_reads <= 127u + 1u + 128u + 128u + 128u + 4u);
        ASSERT(T.maps <= 1u); /* the map path: one indirect table mapped, the rest are loads */
        ASSERT_FALSE(vb_is_broken(&T.dev));
    }
    PASS();
}

static void fulldevice_hostile_tests(void)
{
    RUN_TEST(report_ranges_outside_ram_given_as_sent);
    RUN_TEST(report_range_ending_at_top_breaks);
    RUN_TEST(report_readable_only_buffer_reports_nothing);
    RUN_TEST(report_readable_then_writable);
    RUN_TEST(report_readable_part_outside_ram_breaks);
    RUN_TEST(report_readable_after_writable_breaks);
    RUN_TEST(report_zero_length_first_breaks);
    RUN_TEST(report_chain_of_the_whole_ring);
    RUN_TEST(report_chain_past_the_ring_size_is_a_loop);
    RUN_TEST(report_indirect_table_past_the_ring_size);
    RUN_TEST(report_indirect_table_of_the_ring_size);
    RUN_TEST(report_nested_indirect_breaks);
    RUN_TEST(report_indirect_after_a_range_breaks);
    RUN_TEST(report_indirect_not_negotiated_warns);
    RUN_TEST(report_good_then_bad_buffer);
    RUN_TEST(report_queue_without_the_feature_gives_nothing);
    RUN_TEST(hint_ranges_outside_ram_given_as_sent);
    RUN_TEST(hint_unaligned_ranges_ignored);
    RUN_TEST(hint_poisoned_ranges_ignored);
    RUN_TEST(hint_hostile_chains_break);
    RUN_TEST(hint_id_in_pieces_and_long);
    RUN_TEST(hint_id_and_ranges_when_done_or_stop);
    RUN_TEST(hint_never_issued_id_in_start_stops);
    RUN_TEST(hint_33_ranges_truncated);
    RUN_TEST(hint_start_refused_while_broken);
    RUN_TEST(ring_catalog_over_every_queue);
    RUN_TEST(ring_catalog_legacy_be_new_queues);
    RUN_TEST(vanished_role_gets_no_interrupt);
    RUN_TEST(vanished_role_after_snapshot_load);
    RUN_TEST(bounded_work_of_one_notification);
    RUN_TEST(bounded_work_worst_case_two_queues_worth);
}

/* The suite on each memory path (tests/guest.h): copy (read/write) and map. */
SUITE(fulldevice_hostile)
{
    tg_set_map_path(0);
    fulldevice_hostile_tests();
}

SUITE(fulldevice_hostile_map)
{
    tg_set_map_path(1);
    fulldevice_hostile_tests();
    tg_set_map_path(0);
}
