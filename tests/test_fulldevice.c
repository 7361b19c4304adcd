/* The full device: FREE_PAGE_HINT, PAGE_POISON and REPORTING with a tg guest. Queue numbering
   by negotiated features (Linux's contiguous rule) and the other numberings, the config space
   sized by offered features, the reporting queue end to end (hostile cases and bounded work
   included), the free page hinting state machine, snapshot v2 (and a hand-made v1 blob) and
   MUST_TELL_HOST / DEFLATE_ON_OOM ordering. */
#include <stdio.h>
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

/* A modern driver without EVENT_IDX: one interrupt per used buffer. */
#define BASE_F (TG_F(VB_F_STATS_VQ) | TG_F(VB_F_VERSION_1) | TG_F(VB_F_RING_INDIRECT_DESC))
#define FPH_F TG_F(VB_F_FREE_PAGE_HINT)
#define POISON_F TG_F(VB_F_PAGE_POISON)
#define REP_F TG_F(VB_F_REPORTING)

static vb_config mkcfg(unsigned options)
{
    vb_config c = vb_config_default();
    c.profile = VB_PROFILE_QEMU;
    c.options = options;
    return c;
}

/* Device with `options`, driver accepting `features`, every queue that exists set up and
   ready (at TG_RING(index)), DRIVER_OK. */
static int full_start_with(const vb_host *h, unsigned options, uint64_t features)
{
    vb_config c = mkcfg(options);
    unsigned q, n;
    if (tg_create(&T, &c)) return -1;
    if (h != &tg_host && vb_init(&T.dev, &c, h, &T) != VB_OK) return -1;
    if (options & VB_OPT_GUEST_BIG_ENDIAN) T.be = 1;
    vb_set_status(&T.dev, VB_S_ACKNOWLEDGE | VB_S_DRIVER);
    vb_set_driver_features(&T.dev, features);
    if (features & TG_F(VB_F_VERSION_1)) {
        vb_set_status(&T.dev, VB_S_ACKNOWLEDGE | VB_S_DRIVER | VB_S_FEATURES_OK);
        if (!(vb_status(&T.dev) & VB_S_FEATURES_OK)) return -1;
    }
    n = vb_queue_count(&T.dev);
    for (q = 0; q < n; q++)
        if (tg_queue(&T, q, 128)) return -1;
    tg_driver_ok(&T);
    return 0;
}

static int full_start(unsigned options, uint64_t features)
{
    return full_start_with(&tg_host, options, features);
}

static unsigned qidx(unsigned role) { return (unsigned)vb_queue_index(&T.dev, role); }

static const vb_counters *ctr(void) { return vb_get_counters(&T.dev); }

/* ---- 1. queue numbering ---------------------------------------------------------------------- */

/* Linux's rule, written out: inflate 0, deflate 1, then stats (if accepted, or if neither later
   queue exists), free page, reporting, contiguously. */
static int expect_index(uint64_t f, unsigned role)
{
    int stats = (f & TG_F(VB_F_STATS_VQ)) || !(f & (FPH_F | REP_F));
    int fph = (f & FPH_F) != 0, rep = (f & REP_F) != 0;
    switch (role) {
    case VB_QUEUE_INFLATE: return 0;
    case VB_QUEUE_DEFLATE: return 1;
    case VB_QUEUE_STATS: return stats ? 2 : -1;
    case VB_QUEUE_FREE_PAGE: return fph ? 2 + stats : -1;
    case VB_QUEUE_REPORTING: return rep ? 2 + stats + fph : -1;
    default: return -1;
    }
}

static enum greatest_test_res check_numbering(uint64_t f)
{
    unsigned role, count = 0;
    int qi;
    for (role = 0; role < VB_QUEUE_MAX; role++) {
        int e = expect_index(f, role);
        ASSERT_EQ_FMT(e, vb_queue_index(&T.dev, role), "%d");
        if (e >= 0) {
            ASSERT_EQ_FMT((int)role, vb_queue_role(&T.dev, (unsigned)e), "%d");
            count++;
        }
    }
    ASSERT_EQ_FMT(count, vb_queue_count(&T.dev), "%u");
    for (qi = (int)count; qi < VB_QUEUE_MAX + 2; qi++) ASSERT_EQ(-1, vb_queue_role(&T.dev, (unsigned)qi));
    ASSERT_EQ(-1, vb_queue_index(&T.dev, VB_QUEUE_MAX));
    PASS();
}

TEST numbering_all_combinations(void)
{
    static const unsigned opt_sets[4] = {0, VB_OPT_FREE_PAGE_HINT, VB_OPT_REPORTING,
                                         VB_OPT_FREE_PAGE_HINT | VB_OPT_REPORTING};
    static const uint64_t acc[8] = {0,
                                    TG_F(VB_F_STATS_VQ),
                                    FPH_F,
                                    REP_F,
                                    TG_F(VB_F_STATS_VQ) | FPH_F,
                                    TG_F(VB_F_STATS_VQ) | REP_F,
                                    FPH_F | REP_F,
                                    TG_F(VB_F_STATS_VQ) | FPH_F | REP_F};
    unsigned o, a, combos = 0;
    for (o = 0; o < 4; o++) {
        vb_config c = mkcfg(opt_sets[o]);
        uint64_t offered;
        ASSERT_EQ(0, tg_create(&T, &c));
        offered = vb_host_features(&T.dev);
        for (a = 0; a < 8; a++) {
            uint64_t f = (acc[a] & offered) | TG_F(VB_F_VERSION_1);
            if ((acc[a] & offered) != acc[a]) continue; /* not offered: not acceptable */
            ASSERT_EQ(0, tg_create(&T, &c));
            vb_set_status(&T.dev, VB_S_ACKNOWLEDGE | VB_S_DRIVER);
            vb_set_driver_features(&T.dev, f);
            CHECK_CALL(check_numbering(f));
            /* the same under QUEUES_OFFERED: numbered over what was offered */
            {
                vb_config co = mkcfg(opt_sets[o] | VB_OPT_QUEUES_OFFERED);
                ASSERT_EQ(0, tg_create(&T, &co));
                vb_set_driver_features(&T.dev, f);
                CHECK_CALL(check_numbering(vb_host_features(&T.dev)));
            }
            /* QUEUES_FIXED: the spec's numbers */
            {
                vb_config cf = mkcfg(opt_sets[o] | VB_OPT_QUEUES_FIXED);
                unsigned role;
                ASSERT_EQ(0, tg_create(&T, &cf));
                vb_set_driver_features(&T.dev, f);
                ASSERT_EQ(5u, vb_queue_count(&T.dev));
                for (role = 0; role < VB_QUEUE_MAX; role++) {
                    ASSERT_EQ((int)role, vb_queue_index(&T.dev, role));
                    ASSERT_EQ((int)role, vb_queue_role(&T.dev, role));
                }
            }
            combos++;
        }
    }
    ASSERT_EQ(18u, combos); /* 2 + 4 + 4 + 8 accepted subsets */
    PASS();
}

/* The table: STATS,FPH,REP -> 2,3,4; STATS,REP -> 2,-,3; FPH,REP -> -,2,3; REP -> -,-,2. */
TEST numbering_linux_table(void)
{
    static const struct {
        uint64_t f;
        int s, h, r;
    } rows[4] = {{TG_F(VB_F_STATS_VQ) | FPH_F | REP_F, 2, 3, 4},
                 {TG_F(VB_F_STATS_VQ) | REP_F, 2, -1, 3},
                 {FPH_F | REP_F, -1, 2, 3},
                 {REP_F, -1, -1, 2}};
    vb_config c = mkcfg(VB_OPT_FREE_PAGE_HINT | VB_OPT_REPORTING);
    unsigned i;
    for (i = 0; i < 4; i++) {
        ASSERT_EQ(0, tg_create(&T, &c));
        vb_set_driver_features(&T.dev, rows[i].f | TG_F(VB_F_VERSION_1));
        ASSERT_EQ(rows[i].s, vb_queue_index(&T.dev, VB_QUEUE_STATS));
        ASSERT_EQ(rows[i].h, vb_queue_index(&T.dev, VB_QUEUE_FREE_PAGE));
        ASSERT_EQ(rows[i].r, vb_queue_index(&T.dev, VB_QUEUE_REPORTING));
        ASSERT_EQ((unsigned)(rows[i].r + 1), vb_queue_count(&T.dev));
    }
    PASS();
}

TEST numbering_setup_beyond_count_and_notify_index(void)
{
    unsigned rq, n;
    uint32_t lens[2];
    /* STATS and REPORTING, FPH offered but refused: reporting is queue 3 of 4 */
    ASSERT_EQ(0, full_start(VB_OPT_FREE_PAGE_HINT | VB_OPT_REPORTING, BASE_F | REP_F));
    n = vb_queue_count(&T.dev);
    ASSERT_EQ(4u, n);
    ASSERT_EQ(VB_ERR_ARG, vb_queue_setup(&T.dev, n, 128, TG_RING(n), TG_RING(n) + 2048u,
                                         TG_RING(n) + 4096u));
    ASSERT_EQ(VB_ERR_ARG, vb_queue_setup(&T.dev, VB_QUEUE_MAX, 128, TG_RING(4), TG_RING(4) + 2048u,
                                         TG_RING(4) + 4096u));
    ASSERT_EQ(0, vb_queue_ready(&T.dev, n));
    ASSERT_EQ(NULL, vb_queue_state(&T.dev, n));
    rq = qidx(VB_QUEUE_REPORTING);
    ASSERT_EQ(3u, rq);
    tg_desc(&T, rq, 0, 0x40000u, PAGE, F_WRITE, 0);
    tg_publish(&T, rq, 0);
    tg_kick(&T, rq);
    ASSERT_EQ(1u, tg_used(&T, rq, NULL, lens, 2));
    ASSERT_EQ(0u, lens[0]);
    ASSERT_EQ(1u, T.irq[3]);
    ASSERT_EQ(0u, T.irq[4]);
    ASSERT_EQ(0u, T.irq[2]);
    ASSERT_EQ(1u, T.npages);
    ASSERT_EQ((unsigned)VB_RANGE_REPORTED, T.pages[0].queue);
    PASS();
}

/* ---- 2. config space ------------------------------------------------------------------------- */

static uint32_t cfg32(uint32_t off)
{
    unsigned char b[4];
    vb_config_read(&T.dev, off, b, 4);
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static void wcfg32(uint32_t off, uint32_t v)
{
    unsigned char b[4];
    b[0] = (unsigned char)v;
    b[1] = (unsigned char)(v >> 8);
    b[2] = (unsigned char)(v >> 16);
    b[3] = (unsigned char)(v >> 24);
    vb_config_write(&T.dev, off, b, 4);
}

TEST config_sizes_and_reads_past_end(void)
{
    static const struct {
        unsigned opts;
        uint32_t size;
    } rows[5] = {{0, 8}, {VB_OPT_REPORTING, 8}, {VB_OPT_FREE_PAGE_HINT, 12}, {VB_OPT_PAGE_POISON, 16},
                 {VB_OPT_FREE_PAGE_HINT | VB_OPT_PAGE_POISON | VB_OPT_REPORTING, 16}};
    unsigned i, k;
    for (i = 0; i < 5; i++) {
        unsigned char b[32];
        vb_config c = mkcfg(rows[i].opts);
        ASSERT_EQ(0, tg_create(&T, &c));
        ASSERT_EQ(rows[i].size, vb_config_size(&T.dev));
        vb_set_target_pages(&T.dev, 0x01020304u);
        memset(b, 0xEE, sizeof b);
        vb_config_read(&T.dev, 0, b, sizeof b);
        ASSERT_EQ(0x04, b[0]);
        for (k = rows[i].size; k < sizeof b; k++) ASSERT_EQ_FMT(0, b[k], "%d");
        memset(b, 0xEE, sizeof b);
        vb_config_read(&T.dev, rows[i].size, b, 4);
        for (k = 0; k < 4; k++) ASSERT_EQ(0, b[k]);
        vb_config_read(&T.dev, 1000, b, 4);
        for (k = 0; k < 4; k++) ASSERT_EQ(0, b[k]);
        /* a write past the size changes nothing */
        wcfg32(rows[i].size, 0x55);
        vb_config_read(&T.dev, 0, b, sizeof b);
        for (k = rows[i].size; k < sizeof b; k++) ASSERT_EQ(0, b[k]);
    }
    PASS();
}

TEST config_driver_writes(void)
{
    unsigned char b2[2] = {0x34, 0x12}, b1 = 0xAB;
    ASSERT_EQ(0, full_start(VB_OPT_FREE_PAGE_HINT | VB_OPT_PAGE_POISON, BASE_F | FPH_F | POISON_F));
    vb_set_target_pages(&T.dev, 77);
    wcfg32(0, 99); /* num_pages: the device's */
    ASSERT_EQ(77u, cfg32(0));
    ASSERT_EQ(77u, vb_target_pages(&T.dev));
    ASSERT_EQ(VB_OK, vb_hint_start(&T.dev));
    wcfg32(8, 5); /* cmd id: the device's */
    ASSERT_EQ(0x80000001u, cfg32(8));
    ASSERT_EQ(0x80000001u, vb_hint(&T.dev)->cmd_id);
    wcfg32(4, 10);
    ASSERT_EQ(10u, vb_actual_pages(&T.dev));
    wcfg32(12, 0xAAu);
    ASSERT_EQ(0xAAu, vb_poison_value(&T.dev));
    ASSERT_EQ(0xAAu, cfg32(12));
    /* partial writes: 2 bytes of actual, 1 byte of poison_val */
    vb_config_write(&T.dev, 4, b2, 2);
    ASSERT_EQ(0x1234u, vb_actual_pages(&T.dev));
    vb_config_write(&T.dev, 13, &b1, 1);
    ASSERT_EQ(0xABAAu, vb_poison_value(&T.dev));
    vb_config_write(&T.dev, 7, &b1, 1);
    ASSERT_EQ(0xAB001234u, vb_actual_pages(&T.dev));
    /* a write across num_pages and actual: only actual's bytes count */
    vb_config_write(&T.dev, 2, b2, 2);
    ASSERT_EQ(77u, vb_target_pages(&T.dev));
    /* reset clears poison_val */
    vb_reset(&T.dev);
    ASSERT_EQ(0u, vb_poison_value(&T.dev));
    ASSERT_EQ(0u, cfg32(12));
    PASS();
}

TEST config_poison_only_when_negotiated(void)
{
    /* offered, refused: the write is dropped */
    ASSERT_EQ(0, full_start(VB_OPT_PAGE_POISON, BASE_F));
    ASSERT_EQ(16u, vb_config_size(&T.dev));
    wcfg32(12, 0xAAu);
    ASSERT_EQ(0u, vb_poison_value(&T.dev));
    ASSERT_EQ(0u, cfg32(12));
    /* not offered: no such field at all */
    ASSERT_EQ(0, full_start(VB_OPT_FREE_PAGE_HINT, BASE_F | FPH_F));
    ASSERT_EQ(12u, vb_config_size(&T.dev));
    wcfg32(12, 0xAAu);
    ASSERT_EQ(0u, vb_poison_value(&T.dev));
    PASS();
}

/* ---- 3. reporting ---------------------------------------------------------------------------- */

#define REP_OPTS (VB_OPT_REPORTING | VB_OPT_PAGE_POISON)
#define REP_FEATS (BASE_F | REP_F | POISON_F)

TEST reporting_ranges_reach_pages(void)
{
    unsigned rq;
    uint32_t lens[4];
    uint64_t table;
    ASSERT_EQ(0, full_start(REP_OPTS, REP_FEATS));
    rq = qidx(VB_QUEUE_REPORTING);
    ASSERT_EQ(3u, rq);
    /* two writable descriptors, chained: two ranges, not coalesced */
    tg_desc(&T, rq, 0, 0x40000u, 2 * PAGE, F_WRITE | F_NEXT, 1);
    tg_desc(&T, rq, 1, 0x42000u, PAGE, F_WRITE, 0);
    tg_publish(&T, rq, 0);
    tg_kick(&T, rq);
    ASSERT_EQ(1u, tg_used(&T, rq, NULL, lens, 4));
    ASSERT_EQ(0u, lens[0]);
    ASSERT_EQ(1u, T.irq[rq]);
    ASSERT_EQ(2u, T.npages);
    ASSERT_EQ((unsigned)VB_RANGE_REPORTED, T.pages[0].queue);
    ASSERT_U64(0x40000u, T.pages[0].gpa);
    ASSERT_U64(2 * PAGE, T.pages[0].len);
    ASSERT_EQ((unsigned)VB_RANGE_REPORTED, T.pages[1].queue);
    ASSERT_U64(0x42000u, T.pages[1].gpa);
    ASSERT_U64(PAGE, T.pages[1].len);
    ASSERT_EQ(1u, ctr()->reports);
    ASSERT_U64(3 * PAGE, ctr()->bytes[VB_RANGE_REPORTED]);
    ASSERT_U64(0, ctr()->bytes_ignored);

    /* indirect: a readable descriptor first (ignored), then two ranges */
    table = tg_alloc(&T, 48);
    tg_desc_at(&T, table, 0, tg_alloc(&T, 16), 16, F_NEXT, 1);
    tg_desc_at(&T, table, 1, 0x50000u, PAGE, F_WRITE | F_NEXT, 2);
    tg_desc_at(&T, table, 2, 0x60000u, 4 * PAGE, F_WRITE, 0);
    tg_desc(&T, rq, 2, table, 48, F_INDIRECT, 0);
    tg_publish(&T, rq, 2);
    T.npages = 0;
    tg_kick(&T, rq);
    ASSERT_EQ(1u, tg_used(&T, rq, NULL, lens, 4));
    ASSERT_EQ(0u, lens[0]);
    ASSERT_EQ(2u, T.irq[rq]);
    ASSERT_EQ(2u, T.npages);
    ASSERT_U64(0x50000u, T.pages[0].gpa);
    ASSERT_U64(0x60000u, T.pages[1].gpa);
    ASSERT_U64(4 * PAGE, T.pages[1].len);
    ASSERT_EQ(2u, ctr()->reports);
    ASSERT_U64(8 * PAGE, ctr()->bytes[VB_RANGE_REPORTED]);
    ASSERT_FALSE(vb_is_broken(&T.dev));
    PASS();
}

TEST reporting_unaligned_and_poison_ignored(void)
{
    unsigned rq;
    ASSERT_EQ(0, full_start(REP_OPTS, REP_FEATS));
    rq = qidx(VB_QUEUE_REPORTING);
    /* unaligned address, unaligned length, aligned one */
    tg_desc(&T, rq, 0, 0x40800u, PAGE, F_WRITE | F_NEXT, 1);
    tg_desc(&T, rq, 1, 0x50000u, PAGE + 8u, F_WRITE | F_NEXT, 2);
    tg_desc(&T, rq, 2, 0x60000u, PAGE, F_WRITE, 0);
    tg_publish(&T, rq, 0);
    tg_kick(&T, rq);
    ASSERT_EQ(1u, tg_used(&T, rq, NULL, NULL, 0));
    ASSERT_EQ(1u, T.npages);
    ASSERT_U64(0x60000u, T.pages[0].gpa);
    ASSERT_U64(2 * PAGE + 8u, ctr()->bytes_ignored);
    ASSERT_EQ(2u, T.log_count[VB_LOG_RANGE_UNALIGNED]);
    ASSERT_FALSE(vb_is_broken(&T.dev));

    /* the guest poisons its free pages: nothing is given */
    wcfg32(12, 0xAAu);
    ASSERT_EQ(0xAAu, vb_poison_value(&T.dev));
    T.npages = 0;
    tg_desc(&T, rq, 3, 0x70000u, 2 * PAGE, F_WRITE, 0);
    tg_publish(&T, rq, 3);
    tg_kick(&T, rq);
    ASSERT_EQ(1u, tg_used(&T, rq, NULL, NULL, 0));
    ASSERT_EQ(0u, T.npages);
    ASSERT_U64(4 * PAGE + 8u, ctr()->bytes_ignored);
    ASSERT_U64(PAGE, ctr()->bytes[VB_RANGE_REPORTED]);
    ASSERT_EQ(2u, T.irq[rq]);
    PASS();
}

TEST reporting_33_ranges_truncated(void)
{
    unsigned rq, i;
    ASSERT_EQ(0, full_start(REP_OPTS, REP_FEATS));
    rq = qidx(VB_QUEUE_REPORTING);
    for (i = 0; i < 33; i++)
        tg_desc(&T, rq, i, 0x40000u + (uint64_t)2 * PAGE * i, PAGE, (uint16_t)(F_WRITE | (i < 32 ? F_NEXT : 0)),
                (uint16_t)(i + 1));
    tg_publish(&T, rq, 0);
    tg_kick(&T, rq);
    ASSERT_EQ(1u, tg_used(&T, rq, NULL, NULL, 0));
    ASSERT_EQ((unsigned)VB_RANGES_MAX_PER_BUFFER, T.npages);
    ASSERT_EQ(1u, T.log_count[VB_LOG_RANGES_TRUNCATED]);
    ASSERT_U64((uint64_t)32 * PAGE, ctr()->bytes[VB_RANGE_REPORTED]);
    ASSERT_FALSE(vb_is_broken(&T.dev));
    PASS();
}

static enum greatest_test_res hostile_report(int which)
{
    unsigned rq;
    ASSERT_EQ(0, full_start(REP_OPTS, REP_FEATS));
    rq = qidx(VB_QUEUE_REPORTING);
    switch (which) {
    case 0: /* address + length overflows */
        tg_desc(&T, rq, 0, 0xFFFFFFFFFFFFF000u, 2 * PAGE, F_WRITE, 0);
        break;
    case 1: /* zero length */
        tg_desc(&T, rq, 0, 0x40000u, PAGE, F_WRITE | F_NEXT, 1);
        tg_desc(&T, rq, 1, 0x50000u, 0, F_WRITE, 0);
        break;
    default: /* a loop */
        tg_desc(&T, rq, 0, 0x40000u, PAGE, F_WRITE | F_NEXT, 1);
        tg_desc(&T, rq, 1, 0x50000u, PAGE, F_WRITE | F_NEXT, 0);
        break;
    }
    tg_publish(&T, rq, 0);
    tg_kick(&T, rq);
    ASSERT(vb_is_broken(&T.dev));
    ASSERT(vb_status(&T.dev) & VB_S_NEEDS_RESET);
    ASSERT_EQ(1u, T.config_irqs);
    ASSERT_EQ(0u, T.npages); /* nothing of a bad chain is acted on */
    ASSERT_EQ(0u, tg_used(&T, rq, NULL, NULL, 0));
    ASSERT_EQ(0u, ctr()->reports);
    PASS();
}

TEST reporting_hostile_breaks(void)
{
    CHECK_CALL(hostile_report(0));
    ASSERT_EQ(1u, T.log_count[VB_LOG_LEN_OVERFLOW]);
    CHECK_CALL(hostile_report(1));
    ASSERT_EQ(1u, T.log_count[VB_LOG_ZERO_LEN]);
    CHECK_CALL(hostile_report(2));
    ASSERT_EQ(1u, T.log_count[VB_LOG_LOOP]);
    PASS();
}

TEST reporting_bounded_work(void)
{
    unsigned rq, i, used, rounds = 0;
    uint64_t table;
    ASSERT_EQ(0, full_start(REP_OPTS, REP_FEATS));
    rq = qidx(VB_QUEUE_REPORTING);
    /* 128 buffers, each an indirect table of 4 ranges: 640 descriptors to walk */
    table = tg_alloc(&T, 64);
    for (i = 0; i < 4; i++)
        tg_desc_at(&T, table, i, 0x40000u + (uint64_t)PAGE * i, PAGE, (uint16_t)(F_WRITE | (i < 3 ? F_NEXT : 0)),
                   (uint16_t)(i + 1));
    for (i = 0; i < 128; i++) {
        tg_desc(&T, rq, i, table, 64, F_INDIRECT, 0);
        tg_publish(&T, rq, (uint16_t)i);
    }
    ASSERT(vb_queue_notify(&T.dev, rq));
    used = tg_used(&T, rq, NULL, NULL, 0);
    ASSERT(used > 0 && used < 128);
    ASSERT(vb_more_work(&T.dev));
    while (vb_more_work(&T.dev) && rounds < 100) {
        vb_do_work(&T.dev);
        rounds++;
    }
    ASSERT_FALSE(vb_more_work(&T.dev));
    ASSERT(rounds >= 1 && rounds < 100);
    used += tg_used(&T, rq, NULL, NULL, 0);
    ASSERT_EQ(128u, used);
    ASSERT_EQ(128u, ctr()->reports);
    ASSERT_EQ(512u, T.npages);
    ASSERT_FALSE(vb_is_broken(&T.dev));
    PASS();
}

/* ---- 4. free page hinting -------------------------------------------------------------------- */

#define HINT_OPTS VB_OPT_FREE_PAGE_HINT
#define HINT_FEATS (BASE_F | FPH_F)

static uint16_t hint_head;

/* A hint buffer: an id of `idlen` bytes (0: none) then `nr` writable ranges of one page each at
   `gpa` + 2 pages apart; published and kicked. */
static void hint_buf(uint32_t idlen, uint32_t id, unsigned nr, uint64_t gpa)
{
    unsigned q = qidx(VB_QUEUE_FREE_PAGE), i, k = 0;
    uint16_t head = hint_head;
    if (idlen) {
        uint64_t a = tg_alloc(&T, 4);
        tg_put32(&T, a, id);
        tg_desc(&T, q, (uint16_t)(hint_head + k), a, idlen, nr ? F_NEXT : 0, (uint16_t)(hint_head + k + 1));
        k++;
    }
    for (i = 0; i < nr; i++, k++)
        tg_desc(&T, q, (uint16_t)(hint_head + k), gpa + (uint64_t)2 * PAGE * i, PAGE,
                (uint16_t)(F_WRITE | (i + 1 < nr ? F_NEXT : 0)), (uint16_t)(hint_head + k + 1));
    hint_head = (uint16_t)((hint_head + k) % 96u);
    tg_publish(&T, q, head);
    tg_kick(&T, q);
}

static int hint_start(unsigned options, uint64_t features)
{
    hint_head = 0;
    return full_start(options, features);
}

TEST hint_needs_fph_negotiated(void)
{
    ASSERT_EQ(0, hint_start(HINT_OPTS, BASE_F)); /* offered, refused */
    ASSERT_EQ(VB_ERR_STATE, vb_hint_start(&T.dev));
    ASSERT_EQ(VB_HINT_STOP, vb_hint(&T.dev)->status);
    ASSERT_EQ(0u, T.config_irqs);
    ASSERT_EQ(0, hint_start(0, BASE_F)); /* not offered */
    ASSERT_EQ(VB_ERR_STATE, vb_hint_start(&T.dev));
    ASSERT_EQ(0, hint_start(HINT_OPTS, HINT_FEATS)); /* broken */
    vb_break(&T.dev, VB_LOG_BAD_MEMORY);
    ASSERT_EQ(VB_ERR_STATE, vb_hint_start(&T.dev));
    PASS();
}

TEST hint_config_interrupts(void)
{
    vb_config c = mkcfg(HINT_OPTS);
    unsigned q;
    /* before DRIVER_OK: the id changes, no interrupt */
    ASSERT_EQ(0, tg_create(&T, &c));
    vb_set_status(&T.dev, VB_S_ACKNOWLEDGE | VB_S_DRIVER);
    vb_set_driver_features(&T.dev, HINT_FEATS);
    vb_set_status(&T.dev, VB_S_ACKNOWLEDGE | VB_S_DRIVER | VB_S_FEATURES_OK);
    for (q = 0; q < vb_queue_count(&T.dev); q++) ASSERT_EQ(0, tg_queue(&T, q, 128));
    ASSERT_EQ(VB_OK, vb_hint_start(&T.dev));
    ASSERT_EQ(0u, T.config_irqs);
    ASSERT_EQ(0x80000001u, cfg32(8));
    tg_driver_ok(&T);
    ASSERT_EQ(VB_OK, vb_hint_start(&T.dev));
    ASSERT_EQ(1u, T.config_irqs);
    ASSERT_EQ(0x80000002u, cfg32(8));
    ASSERT_EQ(0x80000002u, vb_hint(&T.dev)->cmd_id);
    ASSERT_EQ(VB_HINT_REQUESTED, vb_hint(&T.dev)->status);
    vb_hint_stop(&T.dev);
    ASSERT_EQ(2u, T.config_irqs);
    ASSERT_EQ(0u, cfg32(8));
    vb_hint_stop(&T.dev);
    ASSERT_EQ(2u, T.config_irqs);
    vb_hint_done(&T.dev);
    ASSERT_EQ(3u, T.config_irqs);
    ASSERT_EQ(1u, cfg32(8));
    ASSERT_EQ(VB_HINT_DONE, vb_hint(&T.dev)->status);
    vb_hint_done(&T.dev);
    ASSERT_EQ(3u, T.config_irqs);
    ASSERT_EQ(VB_OK, vb_hint_start(&T.dev));
    ASSERT_EQ(4u, T.config_irqs);
    ASSERT_EQ(0x80000003u, cfg32(8));
    PASS();
}

TEST hint_round_trip(void)
{
    unsigned hq;
    uint32_t id;
    ASSERT_EQ(0, hint_start(HINT_OPTS, HINT_FEATS));
    hq = qidx(VB_QUEUE_FREE_PAGE);
    ASSERT_EQ(3u, hq);
    ASSERT_U64(0x80000000u, vb_hint(&T.dev)->cmd_id);
    /* ranges in STOP are ignored */
    hint_buf(0, 0, 1, 0x40000u);
    ASSERT_EQ(0u, T.npages);
    ASSERT_U64(PAGE, ctr()->bytes_ignored);
    ASSERT_EQ(VB_OK, vb_hint_start(&T.dev));
    id = vb_hint(&T.dev)->cmd_id;
    ASSERT_U64(0x80000001u, id);
    /* ranges in REQUESTED are ignored too */
    hint_buf(0, 0, 1, 0x40000u);
    ASSERT_EQ(0u, T.npages);
    /* the guest echoes the id: START, then hints */
    hint_buf(4, id, 0, 0);
    ASSERT_EQ(VB_HINT_START, vb_hint(&T.dev)->status);
    ASSERT_U64(id, vb_hint(&T.dev)->guest_cmd_id);
    ASSERT_EQ(id, cfg32(8)); /* the id is shown during START too */
    hint_buf(0, 0, 3, 0x40000u);
    ASSERT_EQ(3u, T.npages);
    ASSERT_EQ((unsigned)VB_RANGE_HINTED, T.pages[0].queue);
    ASSERT_U64(0x42000u, T.pages[1].gpa);
    ASSERT_EQ(3u, vb_hint(&T.dev)->ranges);
    ASSERT_U64(3 * PAGE, vb_hint(&T.dev)->bytes);
    ASSERT_U64(3 * PAGE, ctr()->bytes[VB_RANGE_HINTED]);
    ASSERT_EQ(4u, ctr()->hint_buffers);
    ASSERT_EQ(4u, T.irq[hq]);
    /* the guest's STOP */
    hint_buf(4, 0, 0, 0);
    ASSERT_EQ(VB_HINT_STOP, vb_hint(&T.dev)->status);
    ASSERT_EQ(0u, vb_hint(&T.dev)->guest_cmd_id);
    hint_buf(0, 0, 1, 0x60000u);
    ASSERT_EQ(3u, T.npages);
    ASSERT_U64(3 * PAGE, ctr()->bytes_ignored);
    ASSERT_EQ(3u, vb_hint(&T.dev)->ranges);
    ASSERT_EQ(6u, tg_used(&T, hq, NULL, NULL, 0));
    ASSERT_FALSE(vb_is_broken(&T.dev));
    PASS();
}

/* An id and ranges in one buffer: the id is acted on first. */
TEST hint_id_and_ranges_in_one_buffer(void)
{
    uint32_t id;
    ASSERT_EQ(0, hint_start(HINT_OPTS, HINT_FEATS));
    ASSERT_EQ(VB_OK, vb_hint_start(&T.dev));
    id = vb_hint(&T.dev)->cmd_id;
    hint_buf(4, id, 2, 0x40000u); /* REQUESTED -> START, then its ranges are hinted */
    ASSERT_EQ(VB_HINT_START, vb_hint(&T.dev)->status);
    ASSERT_EQ(2u, T.npages);
    ASSERT_EQ(2u, vb_hint(&T.dev)->ranges);
    hint_buf(4, 0, 2, 0x50000u); /* the guest's STOP ends the round: its ranges are not */
    ASSERT_EQ(VB_HINT_STOP, vb_hint(&T.dev)->status);
    ASSERT_EQ(2u, T.npages);
    ASSERT_U64(2 * PAGE, ctr()->bytes_ignored);
    ASSERT_EQ(2u, ctr()->hint_buffers);
    PASS();
}

TEST hint_stale_and_never_issued_ids(void)
{
    uint32_t id;
    ASSERT_EQ(0, hint_start(HINT_OPTS, HINT_FEATS));
    ASSERT_EQ(VB_OK, vb_hint_start(&T.dev));
    id = vb_hint(&T.dev)->cmd_id;
    /* an id never issued: nothing changes, its ranges ignored */
    hint_buf(4, id + 5u, 1, 0x40000u);
    ASSERT_EQ(VB_HINT_REQUESTED, vb_hint(&T.dev)->status);
    ASSERT_EQ(0u, T.npages);
    ASSERT_EQ(0u, vb_hint(&T.dev)->ranges);
    /* echo: START; host stops; the same id again is stale */
    hint_buf(4, id, 0, 0);
    ASSERT_EQ(VB_HINT_START, vb_hint(&T.dev)->status);
    vb_hint_stop(&T.dev);
    hint_buf(4, id, 1, 0x40000u);
    ASSERT_EQ(VB_HINT_STOP, vb_hint(&T.dev)->status);
    ASSERT_EQ(0u, T.npages);
    /* a new round: the old id is stale in REQUESTED too */
    ASSERT_EQ(VB_OK, vb_hint_start(&T.dev));
    hint_buf(4, id, 1, 0x40000u);
    ASSERT_EQ(VB_HINT_REQUESTED, vb_hint(&T.dev)->status);
    ASSERT_EQ(0u, T.npages);
    ASSERT_U64(3 * PAGE, ctr()->bytes_ignored);
    ASSERT_FALSE(vb_is_broken(&T.dev));
    PASS();
}

TEST hint_short_id_breaks(void)
{
    ASSERT_EQ(0, hint_start(HINT_OPTS, HINT_FEATS));
    ASSERT_EQ(VB_OK, vb_hint_start(&T.dev));
    T.config_irqs = 0;
    hint_buf(3, vb_hint(&T.dev)->cmd_id, 1, 0x40000u);
    ASSERT(vb_is_broken(&T.dev));
    ASSERT(vb_status(&T.dev) & VB_S_NEEDS_RESET);
    ASSERT_EQ(1u, T.log_count[VB_LOG_HINT_CMD_ID]);
    ASSERT_EQ(1u, T.config_irqs);
    ASSERT_EQ(0u, T.npages);
    ASSERT_EQ(VB_HINT_REQUESTED, vb_hint(&T.dev)->status);
    PASS();
}

static void snap_fix_checksum(unsigned char *p, size_t size)
{
    uint32_t h = 2166136261u;
    size_t i;
    for (i = 0; i < size - 4u; i++) h = (h ^ p[i]) * 16777619u;
    p[size - 4] = (unsigned char)h;
    p[size - 3] = (unsigned char)(h >> 8);
    p[size - 2] = (unsigned char)(h >> 16);
    p[size - 1] = (unsigned char)(h >> 24);
}

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

TEST hint_id_wraps(void)
{
    unsigned char blob[VB_SNAPSHOT_SIZE];
    ASSERT_EQ(0, hint_start(HINT_OPTS, HINT_FEATS));
    ASSERT_EQ((size_t)VB_SNAPSHOT_SIZE, vb_snapshot_save(&T.dev, blob, sizeof blob));
    st32(blob + 32, UINT32_MAX - 1u);
    snap_fix_checksum(blob, sizeof blob);
    ASSERT_EQ(VB_OK, vb_snapshot_load(&T.dev, blob, sizeof blob));
    ASSERT_EQ(VB_OK, vb_hint_start(&T.dev));
    ASSERT_U64(UINT32_MAX, vb_hint(&T.dev)->cmd_id);
    ASSERT_EQ(VB_OK, vb_hint_start(&T.dev));
    ASSERT_U64(0x80000000u, vb_hint(&T.dev)->cmd_id);
    ASSERT_EQ(0x80000000u, cfg32(8));
    ASSERT_EQ(VB_OK, vb_hint_start(&T.dev));
    ASSERT_U64(0x80000001u, vb_hint(&T.dev)->cmd_id);
    PASS();
}

TEST hint_reset_keeps_id(void)
{
    uint32_t id;
    ASSERT_EQ(0, hint_start(HINT_OPTS, HINT_FEATS));
    ASSERT_EQ(VB_OK, vb_hint_start(&T.dev));
    hint_buf(4, vb_hint(&T.dev)->cmd_id, 0, 0);
    ASSERT_EQ(VB_HINT_START, vb_hint(&T.dev)->status);
    id = vb_hint(&T.dev)->cmd_id;
    vb_reset(&T.dev);
    ASSERT_EQ(VB_HINT_STOP, vb_hint(&T.dev)->status);
    ASSERT_U64(id, vb_hint(&T.dev)->cmd_id);
    ASSERT_EQ(0u, cfg32(8));
    /* the driver comes back; the ids go on */
    vb_set_status(&T.dev, VB_S_ACKNOWLEDGE | VB_S_DRIVER);
    vb_set_driver_features(&T.dev, HINT_FEATS);
    vb_set_status(&T.dev, VB_S_ACKNOWLEDGE | VB_S_DRIVER | VB_S_FEATURES_OK);
    ASSERT_EQ(VB_OK, vb_hint_start(&T.dev));
    ASSERT_U64(id + 1u, vb_hint(&T.dev)->cmd_id);
    PASS();
}

TEST hint_legacy_big_endian_id(void)
{
    uint32_t id;
    ASSERT_EQ(0, hint_start(HINT_OPTS | VB_OPT_GUEST_BIG_ENDIAN,
                            TG_F(VB_F_STATS_VQ) | TG_F(VB_F_RING_INDIRECT_DESC) | FPH_F));
    ASSERT_EQ(1, T.be);
    ASSERT_EQ(VB_OK, vb_hint_start(&T.dev));
    id = vb_hint(&T.dev)->cmd_id;
    ASSERT_EQ(id, cfg32(8)); /* the config space stays little-endian */
    hint_buf(4, id, 0, 0);   /* tg_put32 writes big-endian */
    ASSERT_EQ(VB_HINT_START, vb_hint(&T.dev)->status);
    ASSERT_U64(id, vb_hint(&T.dev)->guest_cmd_id);
    hint_buf(0, 0, 2, 0x40000u);
    ASSERT_EQ(2u, T.npages);
    ASSERT_EQ((unsigned)VB_RANGE_HINTED, T.pages[1].queue);
    PASS();
}

/* ---- 5. snapshot v2 -------------------------------------------------------------------------- */

#define ALL_OPTS (VB_OPT_FREE_PAGE_HINT | VB_OPT_PAGE_POISON | VB_OPT_REPORTING)
#define ALL_FEATS (BASE_F | FPH_F | POISON_F | REP_F)

TEST snapshot_v2_round_trip(void)
{
    static tg src;
    unsigned char a[VB_SNAPSHOT_SIZE], b[VB_SNAPSHOT_SIZE];
    vb_config c = mkcfg(ALL_OPTS);
    unsigned q;
    uint32_t id;
    ASSERT_EQ(0, hint_start(ALL_OPTS, ALL_FEATS));
    ASSERT_EQ(5u, vb_queue_count(&T.dev));
    wcfg32(12, 0x5Au);
    vb_set_target_pages(&T.dev, 321);
    wcfg32(4, 12);
    ASSERT_EQ(VB_OK, vb_hint_start(&T.dev));
    ASSERT_EQ(VB_OK, vb_hint_start(&T.dev));
    id = vb_hint(&T.dev)->cmd_id;
    hint_buf(4, id, 0, 0);
    ASSERT_EQ(VB_HINT_START, vb_hint(&T.dev)->status);
    /* a used reporting buffer moves that queue's indices */
    tg_desc(&T, 4, 0, 0x40000u, PAGE, F_WRITE, 0);
    tg_publish(&T, 4, 0);
    tg_kick(&T, 4);
    ASSERT_EQ((size_t)VB_SNAPSHOT_SIZE, vb_snapshot_save(&T.dev, a, sizeof a));
    ASSERT_EQ(2, a[4]);
    ASSERT_EQ(VB_SNAPSHOT_SIZE, a[6]);
    ASSERT_EQ(VB_HINT_START, a[18]);
    ASSERT_EQ(0x5A, a[28]);
    ASSERT_EQ(id, (uint32_t)a[32] | (uint32_t)a[33] << 8 | (uint32_t)a[34] << 16 | (uint32_t)a[35] << 24);
    /* a fresh device with the same config takes it */
    src = T;
    ASSERT_EQ(0, tg_create(&T, &c));
    memcpy(T.mem, src.mem, sizeof T.mem);
    ASSERT_EQ(VB_OK, vb_snapshot_load(&T.dev, a, sizeof a));
    ASSERT_EQ((size_t)VB_SNAPSHOT_SIZE, vb_snapshot_save(&T.dev, b, sizeof b));
    ASSERT_MEM_EQ(a, b, sizeof a);
    ASSERT_EQ(0x5Au, vb_poison_value(&T.dev));
    ASSERT_EQ(VB_HINT_START, vb_hint(&T.dev)->status);
    ASSERT_U64(id, vb_hint(&T.dev)->cmd_id);
    ASSERT_EQ(id, cfg32(8));
    ASSERT_EQ(321u, vb_target_pages(&T.dev));
    ASSERT_EQ(12u, vb_actual_pages(&T.dev));
    ASSERT_EQ(5u, vb_queue_count(&T.dev));
    for (q = 0; q < 5; q++) {
        const vb_queue *s = vb_queue_state(&src.dev, q), *d = vb_queue_state(&T.dev, q);
        ASSERT(s && d);
        ASSERT_U64(TG_RING(q), d->desc);
        ASSERT_U64(s->avail, d->avail);
        ASSERT_U64(s->used, d->used);
        ASSERT_EQ(s->size, d->size);
        ASSERT_EQ(s->last_avail, d->last_avail);
        ASSERT_EQ(s->used_idx, d->used_idx);
        ASSERT_EQ(1, d->ready);
    }
    ASSERT_EQ(1, vb_queue_state(&T.dev, 4)->last_avail);
    ASSERT_EQ(1, vb_queue_state(&T.dev, 3)->last_avail);
    /* and the next id follows the loaded one */
    ASSERT_EQ(VB_OK, vb_hint_start(&T.dev));
    ASSERT_U64(id + 1u, vb_hint(&T.dev)->cmd_id);
    PASS();
}

TEST snapshot_v1_blob_loads(void)
{
    unsigned char v1[144], after[VB_SNAPSHOT_SIZE];
    unsigned q;
    ASSERT_EQ(0, full_start(ALL_OPTS, ALL_FEATS));
    wcfg32(12, 0x77u); /* to be cleared by the v1 load */
    ASSERT_EQ(VB_OK, vb_hint_start(&T.dev));
    memset(v1, 0, sizeof v1);
    memcpy(v1, "VBSN", 4);
    v1[4] = 1;
    v1[6] = 144;
    st64(v1 + 8, TG_F(VB_F_STATS_VQ) | TG_F(VB_F_VERSION_1));
    v1[16] = VB_S_ACKNOWLEDGE | VB_S_DRIVER | VB_S_FEATURES_OK | VB_S_DRIVER_OK;
    st32(v1 + 20, 500);
    st32(v1 + 24, 40);
    for (q = 0; q < 3; q++) {
        unsigned char *s = v1 + 28 + 36 * q;
        st64(s, TG_RING(q));
        st64(s + 8, TG_RING(q) + 16u * 64u);
        st64(s + 16, (TG_RING(q) + 16u * 64u + 6u + 2u * 64u + 3u) & ~3u);
        s[24] = 64;
        s[26] = (unsigned char)q; /* last_avail */
        s[28] = (unsigned char)q; /* used_idx */
        s[30] = 1;
    }
    snap_fix_checksum(v1, sizeof v1);
    ASSERT_EQ(VB_ERR_FORMAT, vb_snapshot_load(&T.dev, v1, sizeof v1 - 1));
    ASSERT_EQ(VB_OK, vb_snapshot_load(&T.dev, v1, sizeof v1));
    ASSERT_EQ(500u, vb_target_pages(&T.dev));
    ASSERT_EQ(40u, vb_actual_pages(&T.dev));
    ASSERT_EQ(0u, vb_poison_value(&T.dev));
    ASSERT_EQ(VB_HINT_STOP, vb_hint(&T.dev)->status);
    ASSERT_U64(0x80000001u, vb_hint(&T.dev)->cmd_id); /* the device's own ids go on */
    ASSERT_EQ(3u, vb_queue_count(&T.dev));
    for (q = 0; q < 3; q++) {
        const vb_queue *s = vb_queue_state(&T.dev, q);
        ASSERT(s);
        ASSERT_U64(TG_RING(q), s->desc);
        ASSERT_EQ(64, s->size);
        ASSERT_EQ(q, s->last_avail);
        ASSERT_EQ(1, s->ready);
    }
    ASSERT_EQ(NULL, vb_queue_state(&T.dev, 3));
    /* saved again: version 2, queues 3 and 4 as after a reset (no rings, not ready) */
    vb_snapshot_save(&T.dev, after, sizeof after);
    ASSERT_EQ(2, after[4]);
    for (q = 3; q < 5; q++) {
        const unsigned char *s = after + 36 + 36 * q;
        unsigned k;
        for (k = 0; k < 24; k++) ASSERT_EQ(0, s[k]);
        ASSERT_EQ(vb_queue_size_max(&T.dev), (uint16_t)(s[24] | s[25] << 8));
        for (k = 26; k < 36; k++) ASSERT_EQ(0, s[k]);
    }
    /* a bad checksum or a hint status in a v1 blob is refused */
    v1[18] = 1;
    snap_fix_checksum(v1, sizeof v1);
    ASSERT_EQ(VB_ERR_FORMAT, vb_snapshot_load(&T.dev, v1, sizeof v1));
    PASS();
}

TEST snapshot_v2_hostile_refused(void)
{
    unsigned char good[VB_SNAPSHOT_SIZE], bad[VB_SNAPSHOT_SIZE], now[VB_SNAPSHOT_SIZE];
    unsigned i;
    ASSERT_EQ(0, hint_start(ALL_OPTS, ALL_FEATS));
    wcfg32(12, 0x11u);
    ASSERT_EQ(VB_OK, vb_hint_start(&T.dev));
    vb_snapshot_save(&T.dev, good, sizeof good);
    for (i = 0; i < 5; i++) {
        memcpy(bad, good, sizeof bad);
        switch (i) {
        case 0: bad[18] = 4; break;                 /* hint status past DONE */
        case 1: st32(bad + 32, 0x7FFFFFFFu); break; /* id below 0x80000000 */
        case 2: st32(bad + 32, 0); break;
        case 3: bad[19] = 1; break;                 /* reserved byte */
        default: break;
        }
        if (i < 4) snap_fix_checksum(bad, sizeof bad);
        else bad[28] ^= 1; /* the checksum no longer matches */
        ASSERT_EQ_FMT(VB_ERR_FORMAT, vb_snapshot_load(&T.dev, bad, sizeof bad), "%d");
        vb_snapshot_save(&T.dev, now, sizeof now);
        ASSERT_MEM_EQ(good, now, sizeof good);
    }
    ASSERT_EQ(0x11u, vb_poison_value(&T.dev));
    ASSERT_EQ(VB_HINT_REQUESTED, vb_hint(&T.dev)->status);
    PASS();
}

/* ---- 6. MUST_TELL_HOST / DEFLATE_ON_OOM ------------------------------------------------------ */

static uint16_t used_at_callback[8];
static unsigned callbacks;

static void order_pages(void *user, unsigned kind, uint64_t gpa, uint64_t len)
{
    tg *t = (tg *)user;
    if (callbacks < 8) used_at_callback[callbacks] = tg_used_idx(t, kind == VB_RANGE_DEFLATE ? 1u : 0u);
    callbacks++;
    tg_pages(user, kind, gpa, len);
}

static const vb_host order_host = {tg_read,   tg_write, tg_now,    tg_arm,
                                   tg_cancel, tg_wall,  tg_notify, tg_notify_config,
                                   order_pages, tg_actual, tg_log, NULL, 0};

static void pfn_buf(unsigned q, uint16_t head, uint32_t pfn, unsigned n)
{
    uint64_t gpa = tg_alloc(&T, 4u * n);
    unsigned i;
    for (i = 0; i < n; i++) tg_put32(&T, gpa + 4u * i, pfn + i);
    tg_desc(&T, q, head, gpa, 4u * n, 0, 0);
    tg_publish(&T, q, head);
}

TEST must_tell_host_pages_before_used(void)
{
    uint64_t f = BASE_F | TG_F(VB_F_MUST_TELL_HOST) | TG_F(VB_F_DEFLATE_ON_OOM);
    callbacks = 0;
    ASSERT_EQ(0, full_start_with(&order_host, VB_OPT_MUST_TELL_HOST | VB_OPT_DEFLATE_ON_OOM, f));
    ASSERT_EQ(f, vb_driver_features(&T.dev));
    pfn_buf(VB_QUEUE_INFLATE, 0, 0x100, 4);
    tg_kick(&T, VB_QUEUE_INFLATE);
    ASSERT_EQ(1u, callbacks);
    ASSERT_EQ(0, used_at_callback[0]);
    ASSERT_EQ(1, tg_used_idx(&T, VB_QUEUE_INFLATE));
    /* a deflate of two runs: both callbacks see the used index not yet published */
    pfn_buf(VB_QUEUE_DEFLATE, 0, 0x100, 2);
    tg_put32(&T, T.next_data - 16u + 4u, 0x200); /* second PFN elsewhere: two ranges */
    tg_kick(&T, VB_QUEUE_DEFLATE);
    ASSERT_EQ(3u, callbacks);
    ASSERT_EQ(0, used_at_callback[1]);
    ASSERT_EQ(0, used_at_callback[2]);
    ASSERT_EQ(1, tg_used_idx(&T, VB_QUEUE_DEFLATE));
    ASSERT_EQ((unsigned)VB_RANGE_DEFLATE, T.pages[1].queue);
    ASSERT_EQ((unsigned)VB_RANGE_DEFLATE, T.pages[2].queue);
    PASS();
}

TEST deflate_on_oom_no_config_interrupt(void)
{
    uint64_t f = BASE_F | TG_F(VB_F_DEFLATE_ON_OOM);
    unsigned i, before;
    ASSERT_EQ(0, full_start(VB_OPT_DEFLATE_ON_OOM, f));
    vb_set_target_pages(&T.dev, 100);
    ASSERT_EQ(1u, T.config_irqs);
    /* the guest inflated 50, then (OOM) deflates below the target, several times */
    wcfg32(4, 50);
    before = T.config_irqs;
    for (i = 0; i < 5; i++) {
        pfn_buf(VB_QUEUE_DEFLATE, (uint16_t)i, 0x300 + 8 * i, 2);
        tg_kick(&T, VB_QUEUE_DEFLATE);
        wcfg32(4, 48 - 2 * i);
    }
    ASSERT_EQ(5u, tg_used(&T, VB_QUEUE_DEFLATE, NULL, NULL, 0));
    ASSERT_EQ(before, T.config_irqs);
    ASSERT_EQ(100u, vb_target_pages(&T.dev));
    ASSERT_EQ(40u, vb_actual_pages(&T.dev));
    PASS();
}

/* ---- 7. page queue corners: split ids, unreadable ids, truncation then a ring error, calls
   from inside a callback, a broken device ---------------------------------------------------- */

/* The id split over two readable descriptors (2 + 2 bytes) and a third readable one after it:
   the id is the first 4 bytes of the readable part, the rest is not read. */
TEST hint_id_split_over_descriptors(void)
{
    unsigned q;
    uint64_t a;
    uint32_t id;
    ASSERT_EQ(0, hint_start(HINT_OPTS, HINT_FEATS));
    ASSERT_EQ(VB_OK, vb_hint_start(&T.dev));
    id = vb_hint(&T.dev)->cmd_id;
    q = qidx(VB_QUEUE_FREE_PAGE);
    a = tg_alloc(&T, 8);
    tg_put32(&T, a, id);
    tg_put32(&T, a + 4, 0); /* a STOP after the id: never read */
    tg_desc(&T, q, 0, a, 2, F_NEXT, 1);
    tg_desc(&T, q, 1, a + 2, 2, F_NEXT, 2);
    tg_desc(&T, q, 2, a + 4, 4, F_NEXT, 3);
    tg_desc(&T, q, 3, 0x40000u, PAGE, F_WRITE, 0);
    tg_publish(&T, q, 0);
    tg_kick(&T, q);
    ASSERT_FALSE(vb_is_broken(&T.dev));
    ASSERT_EQ(VB_HINT_START, vb_hint(&T.dev)->status);
    ASSERT_EQ_FMT(id, vb_hint(&T.dev)->guest_cmd_id, "%#x");
    ASSERT_EQ(1u, T.npages);
    ASSERT_EQ((unsigned)VB_RANGE_HINTED, T.pages[0].queue);
    ASSERT_U64(0x40000u, T.pages[0].gpa);
    ASSERT_EQ(1u, tg_used(&T, q, NULL, NULL, 0));
    PASS();
}

/* An id the host cannot read (outside guest RAM): a ring error, nothing acted on. */
TEST hint_id_unreadable_breaks(void)
{
    unsigned q;
    ASSERT_EQ(0, hint_start(HINT_OPTS, HINT_FEATS));
    ASSERT_EQ(VB_OK, vb_hint_start(&T.dev));
    q = qidx(VB_QUEUE_FREE_PAGE);
    tg_desc(&T, q, 0, TG_MEM + (uint64_t)PAGE, 4, F_NEXT, 1);
    tg_desc(&T, q, 1, 0x40000u, PAGE, F_WRITE, 0);
    tg_publish(&T, q, 0);
    tg_kick(&T, q);
    ASSERT(vb_is_broken(&T.dev));
    ASSERT_EQ(1u, T.log_count[VB_LOG_BAD_MEMORY]);
    ASSERT_EQ(0u, T.npages);
    ASSERT_EQ(0u, tg_used(&T, q, NULL, NULL, 0));
    ASSERT_EQ(VB_HINT_REQUESTED, vb_hint(&T.dev)->status);
    ASSERT_EQ(0u, ctr()->hint_buffers);
    /* a broken device starts no round, through the API or QMP */
    ASSERT_EQ(VB_ERR_STATE, vb_hint_start(&T.dev));
    {
        static const char cmd[] = "{\"execute\": \"x-balloon-free-page-hint\", \"arguments\": {\"action\": \"start\"}}";
        vb_qmp s;
        char out[512];
        size_t n;
        vb_qmp_init(&s, &T.dev, VB_QMP_NO_NEGOTIATION);
        n = vb_qmp_execute(&s, cmd, sizeof cmd - 1, out, sizeof out);
        ASSERT(n < sizeof out);
        ASSERT_STR_EQ("{\"error\": {\"class\": \"GenericError\", \"desc\": \"The guest has not negotiated free page "
                      "hinting\"}}",
                      out);
    }
    ASSERT_EQ(VB_HINT_REQUESTED, vb_hint(&T.dev)->status);
    PASS();
}

/* 33 ranges, then a zero-length descriptor: the ring error wins, the truncation is not logged
   and no range of the chain reaches the host. */
TEST reporting_truncated_then_ring_error(void)
{
    unsigned rq, i;
    ASSERT_EQ(0, full_start(REP_OPTS, REP_FEATS));
    rq = qidx(VB_QUEUE_REPORTING);
    for (i = 0; i < 33; i++)
        tg_desc(&T, rq, i, 0x40000u + (uint64_t)2 * PAGE * i, PAGE, F_WRITE | F_NEXT, (uint16_t)(i + 1));
    tg_desc(&T, rq, 33, 0x40000u, 0, F_WRITE, 0);
    tg_publish(&T, rq, 0);
    tg_kick(&T, rq);
    ASSERT(vb_is_broken(&T.dev));
    ASSERT_EQ(1u, T.log_count[VB_LOG_ZERO_LEN]);
    ASSERT_EQ(0u, T.log_count[VB_LOG_RANGES_TRUNCATED]);
    ASSERT_EQ(0u, T.npages);
    ASSERT_EQ(0u, ctr()->reports);
    ASSERT_EQ(0u, tg_used(&T, rq, NULL, NULL, 0));
    PASS();
}

/* A host that tries to stop, end or restart the round from inside pages(): refused, logged. */
static vb_result reentry_results[3];

static void reentry_pages(void *user, unsigned kind, uint64_t gpa, uint64_t len)
{
    tg *t = (tg *)user;
    vb_hint_stop(&t->dev);
    vb_hint_done(&t->dev);
    reentry_results[0] = vb_hint_start(&t->dev);
    tg_pages(user, kind, gpa, len);
}

static const vb_host reentry_host = {tg_read,   tg_write, tg_now,    tg_arm,
                                     tg_cancel, tg_wall,  tg_notify, tg_notify_config,
                                     reentry_pages, tg_actual, tg_log, NULL, 0};

TEST hint_calls_from_a_callback_refused(void)
{
    uint32_t id;
    hint_head = 0;
    ASSERT_EQ(0, full_start_with(&reentry_host, HINT_OPTS, HINT_FEATS));
    ASSERT_EQ(VB_OK, vb_hint_start(&T.dev));
    id = vb_hint(&T.dev)->cmd_id;
    T.config_irqs = 0;
    reentry_results[0] = VB_OK;
    hint_buf(4, id, 2, 0x40000u);
    ASSERT_EQ(2u, T.npages);
    ASSERT_EQ(VB_ERR_STATE, reentry_results[0]);
    ASSERT_EQ(6u, T.log_count[VB_LOG_REENTERED]); /* three calls, two ranges */
    ASSERT_EQ(VB_HINT_START, vb_hint(&T.dev)->status);
    ASSERT_EQ_FMT(id, vb_hint(&T.dev)->cmd_id, "%#x");
    ASSERT_EQ(0u, T.config_irqs);
    ASSERT_FALSE(vb_is_broken(&T.dev));
    /* outside the callback they work */
    vb_hint_stop(&T.dev);
    ASSERT_EQ(VB_HINT_STOP, vb_hint(&T.dev)->status);
    vb_hint_done(&T.dev);
    ASSERT_EQ(VB_HINT_DONE, vb_hint(&T.dev)->status);
    ASSERT_EQ(2u, T.config_irqs);
    PASS();
}

SUITE(fulldevice)
{
    RUN_TEST(numbering_all_combinations);
    RUN_TEST(numbering_linux_table);
    RUN_TEST(numbering_setup_beyond_count_and_notify_index);
    RUN_TEST(config_sizes_and_reads_past_end);
    RUN_TEST(config_driver_writes);
    RUN_TEST(config_poison_only_when_negotiated);
    RUN_TEST(reporting_ranges_reach_pages);
    RUN_TEST(reporting_unaligned_and_poison_ignored);
    RUN_TEST(reporting_33_ranges_truncated);
    RUN_TEST(reporting_hostile_breaks);
    RUN_TEST(reporting_bounded_work);
    RUN_TEST(hint_needs_fph_negotiated);
    RUN_TEST(hint_config_interrupts);
    RUN_TEST(hint_round_trip);
    RUN_TEST(hint_id_and_ranges_in_one_buffer);
    RUN_TEST(hint_stale_and_never_issued_ids);
    RUN_TEST(hint_short_id_breaks);
    RUN_TEST(hint_id_wraps);
    RUN_TEST(hint_reset_keeps_id);
    RUN_TEST(hint_legacy_big_endian_id);
    RUN_TEST(snapshot_v2_round_trip);
    RUN_TEST(snapshot_v1_blob_loads);
    RUN_TEST(snapshot_v2_hostile_refused);
    RUN_TEST(must_tell_host_pages_before_used);
    RUN_TEST(deflate_on_oom_no_config_interrupt);
    RUN_TEST(hint_id_split_over_descriptors);
    RUN_TEST(hint_id_unreadable_breaks);
    RUN_TEST(reporting_truncated_then_ring_error);
    RUN_TEST(hint_calls_from_a_callback_refused);
}
