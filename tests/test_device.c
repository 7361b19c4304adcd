/* The device around the rings: features, status, queue setup, config space, the target,
   resets, vb_init's validation, hosts without optional callbacks, snapshots (round trip and
   every reject, with the device unchanged byte for byte), and the small API functions. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VB_WITH_MMIO /* vb_mmio_write from inside a callback (tests/vb_impl.c compiles it in) */
#include <greatest.h>
#include "guest.h"

static tg T;

/* 64-bit equality, printed in hex on failure */
#define ASSERT_U64(exp, got) \
    ASSERT_EQ_FMT((unsigned long long)(exp), (unsigned long long)(got), "%#llx")

#define SQ VB_QUEUE_STATS
#define IQ VB_QUEUE_INFLATE
#define DQ VB_QUEUE_DEFLATE
#define PAGE 4096u

static const vb_config cfg = {VB_PROFILE_QEMU, 0, 0, 0, 0, 0, 0, 0};
static const vb_config be_cfg = {VB_PROFILE_QEMU, 0, 0, VB_OPT_GUEST_BIG_ENDIAN, 0, 0, 0, 0};

#define DEFAULT_OFFER                                                                      \
    (TG_F(VB_F_STATS_VQ) | TG_F(VB_F_VERSION_1) | TG_F(VB_F_RING_EVENT_IDX) |              \
     TG_F(VB_F_RING_INDIRECT_DESC))

static const vb_host no_timer_host = {tg_read,  tg_write, tg_now,    NULL,
                                      NULL,     tg_wall,  tg_notify, tg_notify_config,
                                      tg_pages, tg_actual, tg_log, NULL, 0};
static const vb_host no_wall_host = {tg_read,   tg_write, tg_now,    tg_arm,
                                     tg_cancel, NULL,     tg_notify, tg_notify_config,
                                     tg_pages,  tg_actual, tg_log, NULL, 0};
static const vb_host minimal_host = {tg_read, tg_write,  tg_now, NULL, NULL, NULL,
                                     tg_notify, tg_notify_config, NULL, NULL, NULL, NULL, 0};

static int start_with(const vb_host *h, const vb_config *c, uint64_t features)
{
    if (tg_create(&T, c)) return -1;
    if (vb_init(&T.dev, c, h, &T) != VB_OK) return -1;
    if (tg_probe(&T, features)) return -1;
    tg_driver_ok(&T);
    return 0;
}

static int start(void) { return start_with(&tg_host, &cfg, TG_LINUX_FEATURES); }


static void pfn_buf(unsigned q, uint16_t head, uint32_t pfn)
{
    uint64_t gpa = tg_alloc(&T, 4);
    tg_put32(&T, gpa, pfn);
    tg_desc(&T, q, head, gpa, 4, 0, 0);
    tg_publish(&T, q, head);
}

static void write_actual(uint32_t v)
{
    unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    vb_config_write(&T.dev, 4, b, 4);
}

/* Break the device with a zero-length stats descriptor. */
static void break_device(void)
{
    tg_desc(&T, SQ, 3, tg_alloc(&T, 10), 0, 0, 0);
    tg_publish(&T, SQ, 3);
    tg_kick(&T, SQ);
}

/* ============================================================================================
   Features
   ============================================================================================ */

TEST features_default_offer(void)
{
    ASSERT_EQ(0, tg_create(&T, &cfg));
    ASSERT_U64(DEFAULT_OFFER, vb_host_features(&T.dev));
    ASSERT_EQ(0u, vb_driver_features(&T.dev));
    PASS();
}

TEST features_per_option(void)
{
    static const struct { unsigned opt; uint64_t add, remove; } rows[] = {
        {VB_OPT_MUST_TELL_HOST, TG_F(VB_F_MUST_TELL_HOST), 0},
        {VB_OPT_DEFLATE_ON_OOM, TG_F(VB_F_DEFLATE_ON_OOM), 0},
        {VB_OPT_NO_EVENT_IDX, 0, TG_F(VB_F_RING_EVENT_IDX)},
        {VB_OPT_NO_INDIRECT, 0, TG_F(VB_F_RING_INDIRECT_DESC)},
        {VB_OPT_GUEST_BIG_ENDIAN, 0, 0},
        {0x1f, TG_F(VB_F_MUST_TELL_HOST) | TG_F(VB_F_DEFLATE_ON_OOM),
         TG_F(VB_F_RING_EVENT_IDX) | TG_F(VB_F_RING_INDIRECT_DESC)},
    };
    unsigned i;
    for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        vb_config c = cfg;
        c.options = rows[i].opt;
        ASSERT_EQ(0, tg_create(&T, &c));
        ASSERT_U64((DEFAULT_OFFER | rows[i].add) & ~rows[i].remove, vb_host_features(&T.dev));
    }
    PASS();
}

TEST features_unknown_bits_refuse_features_ok(void)
{
    ASSERT_EQ(0, tg_create(&T, &cfg));
    vb_set_status(&T.dev, VB_S_ACKNOWLEDGE | VB_S_DRIVER);
    /* FREE_PAGE_HINT (3) and bit 40: not offered */
    vb_set_driver_features(&T.dev, TG_LINUX_FEATURES | TG_F(3) | TG_F(40));
    ASSERT_EQ(1u, T.log_count[VB_LOG_BAD_FEATURES]);
    ASSERT_ENUM_EQ(VB_LOG_BAD_FEATURES, T.last_log, tg_log_name);
    ASSERT_U64(TG_LINUX_FEATURES, vb_driver_features(&T.dev));
    vb_set_status(&T.dev, VB_S_ACKNOWLEDGE | VB_S_DRIVER | VB_S_FEATURES_OK);
    ASSERT_EQ(VB_S_ACKNOWLEDGE | VB_S_DRIVER, vb_status(&T.dev)); /* the driver reads it back */
    /* a corrected acknowledgement is then accepted */
    vb_set_driver_features(&T.dev, TG_LINUX_FEATURES);
    vb_set_status(&T.dev, VB_S_ACKNOWLEDGE | VB_S_DRIVER | VB_S_FEATURES_OK);
    ASSERT_EQ(VB_S_ACKNOWLEDGE | VB_S_DRIVER | VB_S_FEATURES_OK, vb_status(&T.dev));
    ASSERT_EQ(1u, T.log_count[VB_LOG_BAD_FEATURES]);
    PASS();
}

TEST features_not_offered_by_option_are_unknown(void)
{
    vb_config c = cfg;
    c.options = VB_OPT_NO_EVENT_IDX;
    ASSERT_EQ(0, tg_create(&T, &c));
    vb_set_status(&T.dev, VB_S_ACKNOWLEDGE | VB_S_DRIVER);
    vb_set_driver_features(&T.dev, TG_LINUX_FEATURES); /* includes EVENT_IDX */
    ASSERT_EQ(0u, vb_driver_features(&T.dev) & TG_F(VB_F_RING_EVENT_IDX));
    vb_set_status(&T.dev, VB_S_ACKNOWLEDGE | VB_S_DRIVER | VB_S_FEATURES_OK);
    ASSERT_EQ(0, vb_status(&T.dev) & VB_S_FEATURES_OK);
    ASSERT_EQ(1u, T.log_count[VB_LOG_BAD_FEATURES]);
    PASS();
}

TEST features_ignored_after_features_ok(void)
{
    ASSERT_EQ(0, tg_create(&T, &cfg));
    ASSERT_EQ(0, tg_probe(&T, TG_F(VB_F_VERSION_1) | TG_F(VB_F_STATS_VQ)));
    vb_set_driver_features(&T.dev, TG_LINUX_FEATURES);
    ASSERT_U64(TG_F(VB_F_VERSION_1) | TG_F(VB_F_STATS_VQ), vb_driver_features(&T.dev));
    vb_set_driver_features(&T.dev, TG_F(40)); /* not even logged */
    ASSERT_EQ(0u, T.log_count[VB_LOG_BAD_FEATURES]);
    ASSERT_EQ(VB_S_FEATURES_OK, vb_status(&T.dev) & VB_S_FEATURES_OK);
    /* a reset allows a new negotiation */
    vb_set_status(&T.dev, 0);
    ASSERT_EQ(0u, vb_driver_features(&T.dev));
    vb_set_driver_features(&T.dev, TG_F(VB_F_VERSION_1));
    ASSERT_U64(TG_F(VB_F_VERSION_1), vb_driver_features(&T.dev));
    PASS();
}

/* ============================================================================================
   Status
   ============================================================================================ */

TEST status_reads_back(void)
{
    static const uint8_t seq[5] = {0x01, 0x03, 0x0b, 0x0f, 0x8f}; /* ACK, DRIVER, FEATURES_OK, ... */
    unsigned i;
    ASSERT_EQ(0, tg_create(&T, &cfg));
    ASSERT_EQ(0, vb_status(&T.dev));
    for (i = 0; i < 5; i++) {
        vb_set_status(&T.dev, seq[i]);
        ASSERT_EQ(seq[i], vb_status(&T.dev));
    }
    PASS();
}

TEST status_zero_is_a_virtio_reset(void)
{
    ASSERT_EQ(0, start());
    tg_send_stats(&T, 10, 4);
    vb_set_status(&T.dev, 0);
    ASSERT_EQ(0, vb_status(&T.dev));
    ASSERT_EQ(0u, vb_driver_features(&T.dev));
    ASSERT_EQ(0, vb_queue_base(&T.dev, SQ));
    T.reads = 0;
    tg_kick(&T, SQ); /* the queues are no longer ready */
    ASSERT_EQ(0u, T.reads);
    ASSERT_ENUM_EQ(VB_LOG_QUEUE_NOT_READY, T.last_log, tg_log_name);
    ASSERT_EQ(4005u, tg_stat(&T, VB_STAT_MEMTOT)); /* stats survive a virtio reset */
    PASS();
}

TEST needs_reset_not_writable_by_driver(void)
{
    ASSERT_EQ(0, tg_create(&T, &cfg));
    vb_set_status(&T.dev, VB_S_ACKNOWLEDGE | VB_S_DRIVER | VB_S_NEEDS_RESET);
    ASSERT_EQ(VB_S_ACKNOWLEDGE | VB_S_DRIVER, vb_status(&T.dev));
    ASSERT_FALSE(vb_is_broken(&T.dev));
    ASSERT_EQ(0u, T.config_irqs);
    PASS();
}

TEST needs_reset_stays_until_reset(void)
{
    ASSERT_EQ(0, start());
    break_device();
    ASSERT_EQ(0x0f | VB_S_NEEDS_RESET, vb_status(&T.dev));
    ASSERT_EQ(1u, T.config_irqs);
    vb_set_status(&T.dev, 0x0f | VB_S_FAILED); /* without 0x40: it stays */
    ASSERT_EQ(0x0f | VB_S_FAILED | VB_S_NEEDS_RESET, vb_status(&T.dev));
    vb_set_status(&T.dev, 0);
    ASSERT_EQ(0, vb_status(&T.dev));
    ASSERT_FALSE(vb_is_broken(&T.dev));
    PASS();
}

TEST needs_reset_hidden_from_legacy_guests(void)
{
    uint8_t gen;
    ASSERT_EQ(0, start_with(&tg_host, &cfg, TG_F(VB_F_STATS_VQ)));
    gen = vb_config_generation(&T.dev);
    break_device();
    ASSERT(vb_is_broken(&T.dev));
    ASSERT_EQ(VB_S_ACKNOWLEDGE | VB_S_DRIVER | VB_S_DRIVER_OK, vb_status(&T.dev));
    ASSERT_EQ(0u, T.config_irqs);
    ASSERT_EQ(gen, vb_config_generation(&T.dev));
    PASS();
}

TEST ring_error_bumps_config_generation(void)
{
    uint8_t gen;
    ASSERT_EQ(0, start());
    gen = vb_config_generation(&T.dev);
    break_device();
    ASSERT_EQ((uint8_t)(gen + 1u), vb_config_generation(&T.dev));
    ASSERT_EQ(1u, T.config_irqs);
    PASS();
}

/* ============================================================================================
   Queue setup
   ============================================================================================ */

static vb_result setup(unsigned q, uint16_t size, uint64_t desc, uint64_t avail, uint64_t used)
{
    return vb_queue_setup(&T.dev, q, size, desc, avail, used);
}

TEST queue_setup_sizes(void)
{
    static const uint16_t bad[6] = {0, 3, 100, 129, 255, 256};
    static const uint16_t good[5] = {1, 2, 16, 64, 128};
    unsigned i;
    ASSERT_EQ(0, tg_create(&T, &cfg));
    for (i = 0; i < 6; i++) ASSERT_EQ(VB_ERR_RANGE, setup(SQ, bad[i], 0x1000, 0x2000, 0x3000));
    for (i = 0; i < 5; i++) ASSERT_EQ(VB_OK, setup(SQ, good[i], 0x1000, 0x2000, 0x3000));
    PASS();
}

TEST queue_setup_alignment(void)
{
    ASSERT_EQ(0, tg_create(&T, &cfg));
    ASSERT_EQ(VB_ERR_ARG, setup(IQ, 128, 0x1008, 0x2000, 0x3000));
    ASSERT_EQ(VB_ERR_ARG, setup(IQ, 128, 0x1001, 0x2000, 0x3000));
    ASSERT_EQ(VB_ERR_ARG, setup(IQ, 128, 0x1000, 0x2001, 0x3000));
    ASSERT_EQ(VB_ERR_ARG, setup(IQ, 128, 0x1000, 0x2000, 0x3002));
    ASSERT_EQ(VB_ERR_ARG, setup(IQ, 128, 0x1000, 0x2000, 0x3001));
    ASSERT_EQ(VB_OK, setup(IQ, 128, 0x1010, 0x2002, 0x3004)); /* 16, 2 and 4 suffice */
    PASS();
}

/* No ring may extend past 2^64 (its fields would wrap to low guest memory). */
TEST queue_setup_refuses_rings_that_wrap(void)
{
    ASSERT_EQ(0, tg_create(&T, &cfg));
    ASSERT_EQ(VB_ERR_RANGE, setup(SQ, 128, UINT64_MAX - 0x3ffu, 0x2000, 0x3000)); /* 2^64 - 1 KiB */
    ASSERT_EQ(VB_ERR_RANGE, setup(SQ, 128, 0x1000, UINT64_MAX - 1u, 0x3000));
    /* used: 1030 bytes (flags, idx, ring, avail_event) in the last 1028 */
    ASSERT_EQ(VB_ERR_RANGE, setup(SQ, 128, 0x1000, 0x2000, UINT64_MAX - 0x403u));
    ASSERT_EQ(VB_ERR_RANGE, setup(SQ, 2, 0x1000, 0x2000, UINT64_MAX - 0x13u)); /* 22 bytes in 20 */
    ASSERT_EQ(VB_OK, setup(SQ, 128, UINT64_MAX - 0xfffu, UINT64_MAX - 0x1fffu, UINT64_MAX - 0x2fffu));
    ASSERT_EQ(VB_OK, setup(SQ, 1, UINT64_MAX - 0x1fu, UINT64_MAX - 0x3fu, UINT64_MAX - 0x7fu));
    PASS();
}

TEST queue_setup_on_ready_queue_is_a_state_error(void)
{
    ASSERT_EQ(0, start());
    ASSERT_EQ(VB_ERR_STATE, setup(SQ, 64, 0x1000, 0x2000, 0x3000));
    ASSERT_EQ(VB_ERR_STATE, vb_queue_set_base(&T.dev, SQ, 5));
    ASSERT_EQ(VB_OK, vb_queue_set_ready(&T.dev, SQ, 0));
    ASSERT_EQ(VB_OK, setup(SQ, 64, 0x1000, 0x2000, 0x3000));
    PASS();
}

TEST queue_bad_index(void)
{
    static const unsigned bad[3] = {3, 255, 0xffffffffu};
    unsigned i;
    ASSERT_EQ(0, tg_create(&T, &cfg));
    for (i = 0; i < 3; i++) {
        ASSERT_EQ(VB_ERR_ARG, setup(bad[i], 128, 0x1000, 0x2000, 0x3000));
        ASSERT_EQ(VB_ERR_ARG, vb_queue_set_ready(&T.dev, bad[i], 1));
        ASSERT_EQ(VB_ERR_ARG, vb_queue_set_base(&T.dev, bad[i], 1));
        ASSERT_EQ(0, vb_queue_base(&T.dev, bad[i]));
    }
    ASSERT_EQ(0u, T.reads);
    PASS();
}

TEST queue_setup_failure_changes_nothing(void)
{
    static vb_device before;
    ASSERT_EQ(0, start());
    memcpy(&before, &T.dev, sizeof before);
    ASSERT_NEQ(VB_OK, setup(SQ, 64, 0x1000, 0x2000, 0x3000)); /* ready */
    ASSERT_EQ(VB_OK, vb_queue_set_ready(&T.dev, SQ, 0));
    memcpy(&before, &T.dev, sizeof before);
    ASSERT_NEQ(VB_OK, setup(SQ, 3, 0x1000, 0x2000, 0x3000));
    ASSERT_NEQ(VB_OK, setup(SQ, 64, 0x1008, 0x2000, 0x3000));
    ASSERT_NEQ(VB_OK, setup(SQ, 64, 0x1000, 0x2000, 0x3002));
    ASSERT_NEQ(VB_OK, setup(3, 64, 0x1000, 0x2000, 0x3000));
    ASSERT_MEM_EQ(&before, &T.dev, sizeof before);
    PASS();
}

TEST queue_size_max_follows_config(void)
{
    vb_config c = cfg;
    c.queue_size = 256;
    ASSERT_EQ(0, tg_create(&T, &c));
    ASSERT_EQ(256, vb_queue_size_max(&T.dev));
    ASSERT_EQ(VB_OK, setup(SQ, 256, 0x1000, 0x2000, 0x3000));
    ASSERT_EQ(VB_ERR_RANGE, setup(SQ, 512, 0x1000, 0x2000, 0x3000));
    c.queue_size = 1024; /* QEMU's VIRTQUEUE_MAX_SIZE is the largest */
    ASSERT_EQ(0, tg_create(&T, &c));
    ASSERT_EQ(1024, vb_queue_size_max(&T.dev));
    c.queue_size = 2048;
    ASSERT_EQ(VB_ERR_ARG, vb_init(&T.dev, &c, &tg_host, &T));
    PASS();
}

TEST queue_set_base_and_base(void)
{
    ASSERT_EQ(0, tg_create(&T, &cfg));
    ASSERT_EQ(0, vb_queue_base(&T.dev, SQ));
    ASSERT_EQ(VB_OK, vb_queue_set_base(&T.dev, SQ, 0xfffe));
    ASSERT_EQ(0xfffe, vb_queue_base(&T.dev, SQ));
    ASSERT_EQ(0, vb_queue_base(&T.dev, IQ));
    /* a queue started at that base with the guest's used idx there: nothing in flight */
    T.qsize[SQ] = 128;
    tg_put16(&T, tg_used_addr(&T, SQ) + 2u, 0xfffe);
    ASSERT_EQ(VB_OK, setup(SQ, 128, tg_desc_addr(SQ), tg_avail_addr(&T, SQ), tg_used_addr(&T, SQ)));
    ASSERT_EQ(VB_OK, vb_queue_set_ready(&T.dev, SQ, 1));
    ASSERT_FALSE(vb_is_broken(&T.dev));
    ASSERT_EQ(VB_ERR_STATE, vb_queue_set_base(&T.dev, SQ, 3));
    ASSERT_EQ(0xfffe, vb_queue_base(&T.dev, SQ));
    /* buffers continue from there, across the 16-bit wrap */
    T.avail_idx[SQ] = T.used_seen[SQ] = 0xfffe;
    tg_send_stats(&T, 10, 1);
    tg_send_stats(&T, 10, 2);
    tg_send_stats(&T, 10, 3);
    ASSERT_EQ(1, vb_queue_base(&T.dev, SQ));
    ASSERT_EQ(0, tg_used_idx(&T, SQ));
    ASSERT_EQ(3005u, tg_stat(&T, VB_STAT_MEMTOT));
    PASS();
}

/* Stopping and restarting a queue re-reads the guest's used index and continues. */
TEST queue_stop_and_restart_continues(void)
{
    uint32_t id = 99;
    ASSERT_EQ(0, start());
    pfn_buf(IQ, 0, 0x10);
    tg_kick(&T, IQ);
    ASSERT_EQ(1, tg_used_idx(&T, IQ));
    ASSERT_EQ(VB_OK, vb_queue_set_ready(&T.dev, IQ, 0));
    ASSERT_EQ(VB_OK, vb_queue_set_ready(&T.dev, IQ, 1));
    pfn_buf(IQ, 5, 0x20);
    tg_kick(&T, IQ);
    ASSERT_EQ(2, tg_used_idx(&T, IQ));
    T.used_seen[IQ] = 1;
    ASSERT_EQ(1u, tg_used(&T, IQ, &id, NULL, 1)); /* in slot 1, after the first */
    ASSERT_EQ(5u, id);
    ASSERT_FALSE(vb_is_broken(&T.dev));
    PASS();
}

/* ============================================================================================
   Config space
   ============================================================================================ */

TEST config_read_every_offset_and_length(void)
{
    static const unsigned char ref[8] = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88};
    unsigned char buf[32];
    uint32_t off, len, i;
    ASSERT_EQ(0, start());
    vb_set_target_pages(&T.dev, 0x44332211u);
    write_actual(0x88776655u);
    for (off = 0; off < 12; off++) {
        for (len = 0; len <= 16; len++) {
            memset(buf, 0xee, sizeof buf);
            vb_config_read(&T.dev, off, buf, len);
            for (i = 0; i < len; i++) ASSERT_EQ(off + i < 8 ? ref[off + i] : 0, buf[i]);
            for (; i < sizeof buf; i++) ASSERT_EQ(0xee, buf[i]); /* nothing past len */
        }
    }
    PASS();
}

TEST config_read_out_of_range_is_zeros(void)
{
    static const uint32_t offs[5] = {8, 0x100, 0x7fffffffu, 0xfffffff8u, 0xffffffffu};
    unsigned char buf[17];
    unsigned i, j;
    ASSERT_EQ(0, start());
    vb_set_target_pages(&T.dev, 0xffffffffu);
    write_actual(0xffffffffu);
    for (i = 0; i < 5; i++) {
        memset(buf, 0xee, sizeof buf);
        vb_config_read(&T.dev, offs[i], buf, 16);
        for (j = 0; j < 16; j++) ASSERT_EQ(0, buf[j]);
        ASSERT_EQ(0xee, buf[16]);
    }
    PASS();
}

TEST config_little_endian_for_big_endian_legacy_guest(void)
{
    unsigned char buf[8];
    static const unsigned char in[4] = {0x10, 0x20, 0, 0};
    ASSERT_EQ(0, tg_create(&T, &be_cfg));
    T.be = 1;
    ASSERT_EQ(0, tg_probe(&T, TG_F(VB_F_STATS_VQ)));
    tg_driver_ok(&T);
    vb_set_target_pages(&T.dev, 0x01020304u);
    vb_config_write(&T.dev, 4, in, 4);
    ASSERT_EQ(0x2010u, vb_actual_pages(&T.dev));
    vb_config_read(&T.dev, 0, buf, 8);
    ASSERT_MEM_EQ("\x04\x03\x02\x01\x10\x20\x00\x00", buf, 8);
    PASS();
}

TEST config_driver_writes_actual_not_num_pages(void)
{
    static const unsigned char in[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    ASSERT_EQ(0, start());
    vb_set_target_pages(&T.dev, 1000);
    vb_config_write(&T.dev, 0, in, 8);
    ASSERT_EQ(1000u, vb_target_pages(&T.dev));
    ASSERT_EQ(0x08070605u, vb_actual_pages(&T.dev));
    vb_config_write(&T.dev, 0, in, 4);
    vb_config_write(&T.dev, 2, in, 2);
    ASSERT_EQ(1000u, vb_target_pages(&T.dev));
    ASSERT_EQ(1u, T.actual_calls);
    ASSERT_EQ(0x08070605u, T.actual_seen);
    PASS();
}

TEST config_partial_writes_of_actual(void)
{
    static const unsigned char b12[1] = {0x12}, b34[1] = {0x34}, span[2] = {0xff, 0x12},
                               tail[4] = {0x56, 0x78, 0x9a, 0xbc};
    ASSERT_EQ(0, start());
    vb_set_target_pages(&T.dev, 0x00c0ffeeu);
    vb_config_write(&T.dev, 4, b12, 1);
    ASSERT_EQ(0x12u, vb_actual_pages(&T.dev));
    ASSERT_EQ(1u, T.actual_calls);
    ASSERT_EQ(0x12u, T.actual_seen);
    vb_config_write(&T.dev, 5, b34, 1);
    ASSERT_EQ(0x3412u, vb_actual_pages(&T.dev));
    ASSERT_EQ(2u, T.actual_calls);
    vb_config_write(&T.dev, 3, span, 2); /* num_pages' top byte ignored, actual's low byte same */
    ASSERT_EQ(0x3412u, vb_actual_pages(&T.dev));
    ASSERT_EQ(0x00c0ffeeu, vb_target_pages(&T.dev));
    ASSERT_EQ(2u, T.actual_calls);
    vb_config_write(&T.dev, 6, tail, 4); /* two of the four bytes exist */
    ASSERT_EQ(0x78563412u, vb_actual_pages(&T.dev));
    ASSERT_EQ(3u, T.actual_calls);
    ASSERT_EQ(0x78563412u, T.actual_seen);
    PASS();
}

TEST actual_changed_only_on_change(void)
{
    ASSERT_EQ(0, start());
    write_actual(0); /* 0 -> 0 */
    ASSERT_EQ(0u, T.actual_calls);
    write_actual(256);
    write_actual(256);
    write_actual(256);
    ASSERT_EQ(1u, T.actual_calls);
    write_actual(0);
    ASSERT_EQ(2u, T.actual_calls);
    ASSERT_EQ(0u, T.actual_seen);
    PASS();
}

TEST set_target_interrupts_only_with_driver_ok(void)
{
    uint8_t gen;
    ASSERT_EQ(0, tg_create(&T, &cfg));
    gen = vb_config_generation(&T.dev);
    vb_set_target_pages(&T.dev, 100); /* no driver */
    ASSERT_EQ(0u, T.config_irqs);
    ASSERT_EQ((uint8_t)(gen + 1u), vb_config_generation(&T.dev));
    ASSERT_EQ(0, tg_probe(&T, TG_LINUX_FEATURES));
    vb_set_target_pages(&T.dev, 200); /* probing, no DRIVER_OK yet */
    ASSERT_EQ(0u, T.config_irqs);
    ASSERT_EQ((uint8_t)(gen + 2u), vb_config_generation(&T.dev));
    tg_driver_ok(&T);
    vb_set_target_pages(&T.dev, 300);
    ASSERT_EQ(1u, T.config_irqs);
    ASSERT_EQ((uint8_t)(gen + 3u), vb_config_generation(&T.dev));
    ASSERT_EQ(300u, vb_target_pages(&T.dev));
    PASS();
}

/* As QEMU's virtio_balloon_to_target: the driver is told again even if the target is the same
   (a management retry re-kicks a driver that missed the first interrupt). */
TEST set_target_same_value_notifies_again(void)
{
    uint8_t gen;
    ASSERT_EQ(0, start());
    vb_set_target_pages(&T.dev, 77);
    ASSERT_EQ(1u, T.config_irqs);
    gen = vb_config_generation(&T.dev);
    vb_set_target_pages(&T.dev, 77);
    ASSERT_EQ(77u, vb_target_pages(&T.dev));
    ASSERT_EQ(2u, T.config_irqs);
    ASSERT_EQ((uint8_t)(gen + 1u), vb_config_generation(&T.dev));
    PASS();
}

TEST config_generation_wraps(void)
{
    unsigned i;
    uint8_t gen;
    ASSERT_EQ(0, start());
    gen = vb_config_generation(&T.dev);
    for (i = 0; i < 256; i++) vb_set_target_pages(&T.dev, 5);
    ASSERT_EQ(gen, vb_config_generation(&T.dev));
    ASSERT_EQ(256u, T.config_irqs);
    PASS();
}

/* ============================================================================================
   Resets
   ============================================================================================ */

TEST virtio_reset_keeps_target_and_actual(void)
{
    ASSERT_EQ(0, start());
    vb_set_target_pages(&T.dev, 1000);
    write_actual(600);
    vb_reset(&T.dev);
    ASSERT_EQ(1000u, vb_target_pages(&T.dev));
    ASSERT_EQ(600u, vb_actual_pages(&T.dev));
    ASSERT_EQ(0, vb_status(&T.dev));
    PASS();
}

TEST machine_reset_zeroes_actual_keeps_target(void)
{
    ASSERT_EQ(0, start());
    vb_set_target_pages(&T.dev, 1000);
    write_actual(600);
    vb_machine_reset(&T.dev, 0);
    ASSERT_EQ(1000u, vb_target_pages(&T.dev));
    ASSERT_EQ(0u, vb_actual_pages(&T.dev));
    ASSERT_EQ(0, vb_status(&T.dev));
    ASSERT_EQ(0u, vb_driver_features(&T.dev));
    PASS();
}

TEST wakeup_reset_keeps_everything(void)
{
    uint8_t st;
    ASSERT_EQ(0, start());
    vb_set_target_pages(&T.dev, 1000);
    write_actual(600);
    st = vb_status(&T.dev);
    vb_machine_reset(&T.dev, 1);
    ASSERT_EQ(600u, vb_actual_pages(&T.dev));
    ASSERT_EQ(st, vb_status(&T.dev));
    ASSERT_U64(TG_LINUX_FEATURES, vb_driver_features(&T.dev));
    PASS();
}

/* ============================================================================================
   vb_init
   ============================================================================================ */

TEST init_null_arguments(void)
{
    ASSERT_EQ(VB_ERR_ARG, vb_init(NULL, &cfg, &tg_host, &T));
    ASSERT_EQ(VB_ERR_ARG, vb_init(&T.dev, &cfg, NULL, &T));
    ASSERT_EQ(VB_OK, vb_init(&T.dev, NULL, &tg_host, &T)); /* no config: defaults */
    ASSERT_EQ(VB_OK, vb_init(&T.dev, &cfg, &tg_host, NULL)); /* user is opaque */
    PASS();
}

TEST init_missing_required_callbacks(void)
{
    unsigned i;
    for (i = 0; i < 4; i++) {
        vb_host h = tg_host;
        if (i == 0) h.read = NULL;
        if (i == 1) h.write = NULL;
        if (i == 2) h.notify_queue = NULL;
        if (i == 3) h.notify_config = NULL;
        ASSERT_EQ(VB_ERR_ARG, vb_init(&T.dev, &cfg, &h, &T));
    }
    ASSERT_EQ(VB_OK, vb_init(&T.dev, &cfg, &minimal_host, &T));
    PASS();
}

static unsigned rendered_keys(void)
{
    const char *p = tg_render(&T, 0);
    unsigned n = 0;
    while ((p = strstr(p, "\"stat-")) != NULL) {
        n++;
        p++;
    }
    return n;
}

TEST init_stat_keys(void)
{
    static const unsigned bad[6] = {1, 5, 9, 11, 17, 256};
    static const unsigned good[6] = {0, 6, 7, 8, 10, 16};
    unsigned i;
    for (i = 0; i < 6; i++) {
        vb_config c = cfg;
        c.stat_keys = bad[i];
        ASSERT_EQ(VB_ERR_ARG, vb_init(&T.dev, &c, &tg_host, &T));
    }
    for (i = 0; i < 6; i++) {
        vb_config c = cfg;
        c.stat_keys = good[i];
        ASSERT_EQ(VB_OK, vb_init(&T.dev, &c, &tg_host, &T));
        ASSERT_EQ(good[i] ? good[i] : 16u, rendered_keys());
    }
    PASS();
}

TEST init_queue_size(void)
{
    static const unsigned bad[5] = {3, 100, 32769, 65536, 0x80000000u};
    unsigned i;
    vb_config c = cfg;
    for (i = 0; i < 5; i++) {
        c.queue_size = bad[i];
        ASSERT_EQ(VB_ERR_ARG, vb_init(&T.dev, &c, &tg_host, &T));
    }
    c.queue_size = 0;
    ASSERT_EQ(VB_OK, vb_init(&T.dev, &c, &tg_host, &T));
    ASSERT_EQ(128, vb_queue_size_max(&T.dev));
    c.queue_size = 16;
    ASSERT_EQ(VB_OK, vb_init(&T.dev, &c, &tg_host, &T));
    ASSERT_EQ(16, vb_queue_size_max(&T.dev));
    PASS();
}

TEST init_bad_profile_and_options(void)
{
    vb_config c = cfg;
    c.profile = (vb_profile)2;
    ASSERT_EQ(VB_ERR_ARG, vb_init(&T.dev, &c, &tg_host, &T));
    c.profile = (vb_profile)-1;
    ASSERT_EQ(VB_ERR_ARG, vb_init(&T.dev, &c, &tg_host, &T));
    c.profile = VB_PROFILE_DOC;
    c.options = 0x800; /* the first unknown option */
    ASSERT_EQ(VB_ERR_ARG, vb_init(&T.dev, &c, &tg_host, &T));
    c.options = VB_OPT_QUEUES_OFFERED | VB_OPT_QUEUES_FIXED; /* one numbering */
    ASSERT_EQ(VB_ERR_ARG, vb_init(&T.dev, &c, &tg_host, &T));
    c.options = VB_OPT_REPORTING;
    c.queue_size = 16; /* Linux refuses a reporting queue of less than 32 */
    ASSERT_EQ(VB_ERR_ARG, vb_init(&T.dev, &c, &tg_host, &T));
    c.queue_size = 32;
    ASSERT_EQ(VB_OK, vb_init(&T.dev, &c, &tg_host, &T));
    c.options = 0x1ff;
    ASSERT_EQ(VB_OK, vb_init(&T.dev, &c, &tg_host, &T));
    PASS();
}

TEST init_defaults_without_config(void)
{
    char buf[64];
    vb_error e;
    memset(&T, 0, sizeof T);
    ASSERT_EQ(VB_OK, vb_init(&T.dev, NULL, &tg_host, &T));
    ASSERT_EQ(128, vb_queue_size_max(&T.dev));
    ASSERT_EQ(16u, rendered_keys());
    ASSERT_EQ(0, vb_poll_interval(&T.dev));
    ASSERT_EQ(UINT64_MAX, vb_next_deadline(&T.dev));
    /* the doc profile: guest-stats fails until the guest reported */
    ASSERT_EQ(VB_ERR_NO_DATA, vb_prop_get(&T.dev, "guest-stats", 11, buf, sizeof buf, NULL, 0, &e));
    ASSERT_U64(DEFAULT_OFFER, vb_host_features(&T.dev));
    PASS();
}

TEST init_failure_has_no_side_effects(void)
{
    vb_config c = cfg;
    c.poll_interval_s = 5;
    c.stat_keys = 5;
    ASSERT_EQ(-1, tg_create(&T, &c));
    ASSERT_EQ(0u, T.arms + T.cancels + T.reads + T.writes);
    ASSERT_EQ(VB_LOG_NONE, T.last_log);
    PASS();
}

TEST init_poll_interval_arms_at_once(void)
{
    vb_config c = cfg;
    c.poll_interval_s = 5;
    ASSERT_EQ(0, tg_create(&T, &c)); /* now = 1000 */
    ASSERT(T.armed);
    ASSERT_EQ(1u, T.arms);
    ASSERT_EQ(1000u, T.deadline);
    ASSERT_EQ(1000u, vb_next_deadline(&T.dev));
    ASSERT_EQ(5, vb_poll_interval(&T.dev));
    ASSERT_EQ(5000u, vb_poll_interval_ms(&T.dev));
    tg_fire(&T); /* no driver yet: re-arm only */
    ASSERT_EQ(6000u, T.deadline);
    ASSERT_EQ(0u, T.reads);
    PASS();
}

/* ============================================================================================
   Hosts without optional callbacks
   ============================================================================================ */

TEST host_without_timer_callbacks_polls_deadline(void)
{
    uint32_t id = 99;
    ASSERT_EQ(0, start_with(&no_timer_host, &cfg, TG_LINUX_FEATURES));
    ASSERT_EQ(VB_OK, vb_set_poll_interval(&T.dev, 2, NULL));
    ASSERT_EQ(T.now_ms, vb_next_deadline(&T.dev));
    vb_timer_expired(&T.dev); /* nothing held: one interval later */
    ASSERT_EQ(T.now_ms + 2000u, vb_next_deadline(&T.dev));
    tg_send_stats(&T, 10, 1);
    ASSERT_EQ(T.now_ms + 2000u, vb_next_deadline(&T.dev));
    T.now_ms += 1999;
    vb_timer_expired(&T.dev); /* early: nothing */
    ASSERT_EQ(0, tg_used_idx(&T, SQ));
    ASSERT_EQ(T.now_ms + 1u, vb_next_deadline(&T.dev));
    T.now_ms += 1;
    vb_timer_expired(&T.dev);
    ASSERT_EQ(1u, tg_used(&T, SQ, &id, NULL, 1));
    ASSERT_EQ(0u, id);
    ASSERT_EQ(UINT64_MAX, vb_poll_deadline(&T.dev)); /* waits for the guest */
    ASSERT_EQ(T.now_ms + 2000u, vb_next_deadline(&T.dev)); /* to count a missed interval */
    vb_timer_expired(&T.dev);                        /* a stray call is harmless */
    ASSERT_EQ(1, tg_used_idx(&T, SQ));
    ASSERT_EQ(VB_OK, vb_set_poll_interval(&T.dev, 0, NULL));
    ASSERT_EQ(0u, T.arms + T.cancels);
    vb_destroy(&T.dev);
    PASS();
}

TEST host_without_wall_clock(void)
{
    vb_config c = cfg;
    char buf[1024];
    size_t n = 0;
    vb_error e;
    c.profile = VB_PROFILE_DOC;
    ASSERT_EQ(0, start_with(&no_wall_host, &c, TG_LINUX_FEATURES));
    tg_send_stats(&T, 10, 3);
    ASSERT_EQ(3005u, tg_stat(&T, VB_STAT_MEMTOT));
    ASSERT_EQ(0, vb_last_update(&T.dev));
    ASSERT_EQ(VB_OK, vb_prop_get(&T.dev, "guest-stats", 11, buf, sizeof buf, &n, 0, &e));
    ASSERT(strstr(buf, "\"last-update\": 0}"));
    ASSERT(strstr(buf, "\"stat-total-memory\": 3005"));
    PASS();
}

TEST minimal_host_full_cycle(void)
{
    ASSERT_EQ(0, start_with(&minimal_host, &cfg, TG_LINUX_FEATURES));
    tg_send_stats(&T, 10, 2);
    ASSERT_EQ(2005u, tg_stat(&T, VB_STAT_MEMTOT));
    ASSERT_EQ(0, vb_last_update(&T.dev));
    ASSERT_EQ(VB_OK, vb_set_poll_interval_ms(&T.dev, 500));
    vb_timer_expired(&T.dev);
    ASSERT_EQ(1, tg_used_idx(&T, SQ));
    pfn_buf(IQ, 0, 0x10);
    tg_kick(&T, IQ);
    ASSERT_EQ(1, tg_used_idx(&T, IQ));
    write_actual(5);
    ASSERT_EQ(5u, vb_actual_pages(&T.dev));
    vb_set_target_pages(&T.dev, 9);
    break_device();
    ASSERT(vb_is_broken(&T.dev));
    ASSERT_EQ(0u, T.npages + T.actual_calls + T.arms + T.cancels);
    ASSERT_EQ(VB_LOG_NONE, T.last_log);
    vb_destroy(&T.dev);
    PASS();
}

/* ============================================================================================
   Snapshots
   ============================================================================================ */

static unsigned char good[VB_SNAPSHOT_SIZE];

static void reseal(unsigned char *b)
{
    uint32_t h = 2166136261u;
    unsigned i;
    for (i = 0; i < VB_SNAPSHOT_SIZE - 4; i++) h = (h ^ b[i]) * 16777619u;
    for (i = 0; i < 4; i++) b[VB_SNAPSHOT_SIZE - 4 + i] = (unsigned char)(h >> (8u * i));
}

/* A device in mid-flight: config set, two inflate buffers done, one stats round trip done and
   the second stats buffer held (stats queue: last_avail 2, used 1). */
static int mid_flight(void)
{
    if (start()) return -1;
    vb_set_target_pages(&T.dev, 1000);
    write_actual(500);
    pfn_buf(IQ, 0, 0x10);
    pfn_buf(IQ, 1, 0x11);
    tg_kick(&T, IQ);
    tg_send_stats(&T, 10, 1);
    if (vb_set_poll_interval_ms(&T.dev, 1000)) return -1;
    tg_fire(&T);
    tg_send_stats(&T, 10, 2);
    return tg_used(&T, SQ, NULL, NULL, 0) == 1 && tg_used(&T, IQ, NULL, NULL, 0) == 2 ? 0 : -1;
}

/* A fresh device on the same guest (the migration destination). */
static int destination(void)
{
    vb_destroy(&T.dev);
    T.armed = 0;
    return vb_init(&T.dev, &cfg, &tg_host, &T) == VB_OK ? 0 : -1;
}

TEST snapshot_round_trip(void)
{
    unsigned char a[VB_SNAPSHOT_SIZE], b[VB_SNAPSHOT_SIZE];
    ASSERT_EQ(0, mid_flight());
    ASSERT_EQ(VB_SNAPSHOT_SIZE, vb_snapshot_save(&T.dev, a, sizeof a));
    ASSERT_MEM_EQ("VBSN", a, 4);
    ASSERT_EQ(0, destination());
    ASSERT_EQ(VB_OK, vb_snapshot_load(&T.dev, a, sizeof a));
    ASSERT_EQ(VB_SNAPSHOT_SIZE, vb_snapshot_save(&T.dev, b, sizeof b));
    ASSERT_MEM_EQ(a, b, sizeof a);
    ASSERT_U64(TG_LINUX_FEATURES, vb_driver_features(&T.dev));
    ASSERT_EQ(0x0f, vb_status(&T.dev));
    ASSERT_EQ(1000u, vb_target_pages(&T.dev));
    ASSERT_EQ(500u, vb_actual_pages(&T.dev));
    ASSERT_EQ(2, vb_queue_base(&T.dev, SQ));
    ASSERT_EQ(2, vb_queue_base(&T.dev, IQ));
    ASSERT_EQ(0, vb_queue_base(&T.dev, VB_QUEUE_DEFLATE));
    ASSERT_FALSE(vb_is_broken(&T.dev));
    PASS();
}

/* Firecracker #2590: a restored device continues where the source stopped. */
TEST snapshot_restored_device_continues(void)
{
    unsigned char a[VB_SNAPSHOT_SIZE];
    uint32_t id = 99;
    ASSERT_EQ(0, mid_flight());
    vb_snapshot_save(&T.dev, a, sizeof a);
    ASSERT_EQ(0, destination());
    ASSERT_EQ(UINT64_MAX, tg_stat(&T, VB_STAT_MEMTOT));
    ASSERT_EQ(VB_OK, vb_snapshot_load(&T.dev, a, sizeof a));
    /* the held buffer was rewound and read again */
    ASSERT_EQ(2005u, tg_stat(&T, VB_STAT_MEMTOT));
    ASSERT_EQ(1u, vb_get_counters(&T.dev)->updates);
    ASSERT_EQ(0u, vb_get_counters(&T.dev)->duplicates);
    ASSERT_EQ(1, tg_used_idx(&T, SQ)); /* nothing returned by the restore itself */
    /* and it is held: a poll returns it at used idx 1 -> 2 */
    ASSERT_EQ(VB_OK, vb_set_poll_interval_ms(&T.dev, 1000));
    tg_fire(&T);
    ASSERT_EQ(1u, tg_used(&T, SQ, &id, NULL, 1));
    ASSERT_EQ(0u, id);
    ASSERT_EQ(2, tg_used_idx(&T, SQ));
    tg_send_stats(&T, 10, 3);
    ASSERT_EQ(3005u, tg_stat(&T, VB_STAT_MEMTOT));
    tg_fire(&T);
    ASSERT_EQ(3, tg_used_idx(&T, SQ));
    /* the inflate queue continues too */
    pfn_buf(IQ, 7, 0x77);
    tg_kick(&T, IQ);
    ASSERT_EQ(3, tg_used_idx(&T, IQ));
    ASSERT_EQ(1u, tg_used(&T, IQ, &id, NULL, 1));
    ASSERT_EQ(7u, id);
    ASSERT_FALSE(vb_is_broken(&T.dev));
    PASS();
}

TEST snapshot_of_broken_device(void)
{
    unsigned char a[VB_SNAPSHOT_SIZE];
    unsigned reads;
    ASSERT_EQ(0, start());
    break_device();
    vb_snapshot_save(&T.dev, a, sizeof a);
    ASSERT_EQ(1, a[17]);
    ASSERT_EQ(0, destination());
    ASSERT_EQ(VB_OK, vb_snapshot_load(&T.dev, a, sizeof a));
    ASSERT(vb_is_broken(&T.dev));
    ASSERT_EQ(VB_S_NEEDS_RESET, vb_status(&T.dev) & VB_S_NEEDS_RESET);
    reads = T.reads;
    tg_send_stats(&T, 10, 1);
    ASSERT_EQ(reads, T.reads);
    PASS();
}

TEST snapshot_save_needs_room(void)
{
    unsigned char buf[VB_SNAPSHOT_SIZE + 16];
    ASSERT_EQ(0, mid_flight());
    memset(buf, 0xaa, sizeof buf);
    ASSERT_EQ(VB_SNAPSHOT_SIZE, vb_snapshot_save(&T.dev, buf, VB_SNAPSHOT_SIZE - 1));
    ASSERT_EQ(VB_SNAPSHOT_SIZE, vb_snapshot_save(&T.dev, buf, 0));
    ASSERT_EQ(VB_SNAPSHOT_SIZE, vb_snapshot_save(&T.dev, NULL, 0));
    ASSERT_EQ(VB_SNAPSHOT_SIZE, vb_snapshot_save(&T.dev, NULL, 1000));
    {
        unsigned i;
        for (i = 0; i < sizeof buf; i++) ASSERT_EQ(0xaa, buf[i]); /* nothing written */
    }
    ASSERT_EQ(VB_SNAPSHOT_SIZE, vb_snapshot_save(&T.dev, buf, sizeof buf));
    ASSERT_MEM_EQ("VBSN", buf, 4);
    ASSERT_EQ(0xaa, buf[VB_SNAPSHOT_SIZE]); /* exactly VB_SNAPSHOT_SIZE bytes */
    PASS();
}

/* Prepare: a good blob from a mid-flight device, then the device moves on (so that a partial
   load would show). */
static int reject_setup(void)
{
    if (mid_flight()) return -1;
    vb_snapshot_save(&T.dev, good, sizeof good);
    vb_set_target_pages(&T.dev, 2000);
    write_actual(7);
    tg_fire(&T);
    tg_send_stats(&T, 10, 5);
    return 0;
}

static enum greatest_test_res rejected(const void *blob, size_t len)
{
    static vb_device before;
    unsigned reads = T.reads, writes = T.writes, arms = T.arms, cancels = T.cancels;
    unsigned irqs = T.irq[0] + T.irq[1] + T.irq[2] + T.config_irqs;
    memcpy(&before, &T.dev, sizeof before);
    ASSERT_EQ(VB_ERR_FORMAT, vb_snapshot_load(&T.dev, blob, len));
    ASSERT_MEM_EQ(&before, &T.dev, sizeof before);
    ASSERT_EQ(reads, T.reads);
    ASSERT_EQ(writes, T.writes);
    ASSERT_EQ(arms, T.arms);
    ASSERT_EQ(cancels, T.cancels);
    ASSERT_EQ(irqs, T.irq[0] + T.irq[1] + T.irq[2] + T.config_irqs);
    PASS();
}

/* Each mutation (offset, value) of the good blob, resealed, is rejected. */
typedef struct mutation { unsigned off; unsigned char val; } mutation;

static enum greatest_test_res reject_all(const mutation *m, unsigned n, int seal)
{
    unsigned i;
    ASSERT_EQ(0, reject_setup());
    for (i = 0; i < n; i++) {
        unsigned char b[VB_SNAPSHOT_SIZE];
        memcpy(b, good, sizeof b);
        b[m[i].off] = m[i].val;
        if (seal) reseal(b);
        if (rejected(b, sizeof b) != GREATEST_TEST_RES_PASS) {
            fprintf(stdout, "\n  mutation %u: byte %u = %#x was accepted or changed the device\n", i,
                    m[i].off, m[i].val);
            FAIL();
        }
    }
    ASSERT_EQ(VB_OK, vb_snapshot_load(&T.dev, good, sizeof good)); /* the unmutated blob loads */
    PASS();
}

#define Q(i) (36u + 36u * (i)) /* queue i's record */

TEST snapshot_rejects_wrong_size(void)
{
    unsigned char big[VB_SNAPSHOT_SIZE + 1];
    ASSERT_EQ(0, reject_setup());
    memcpy(big, good, sizeof good);
    big[VB_SNAPSHOT_SIZE] = 0;
    CHECK_CALL(rejected(good, VB_SNAPSHOT_SIZE - 1));
    CHECK_CALL(rejected(big, sizeof big));
    CHECK_CALL(rejected(good, 0));
    CHECK_CALL(rejected(NULL, VB_SNAPSHOT_SIZE));
    CHECK_CALL(rejected(NULL, 0));
    PASS();
}

TEST snapshot_rejects_bad_magic(void)
{
    static const mutation m[4] = {{0, 'X'}, {1, 'b'}, {2, 0}, {3, 'n'}};
    return reject_all(m, 4, 1);
}

TEST snapshot_rejects_bad_version(void)
{
    static const mutation m[4] = {{4, 0}, {4, 1}, {4, 3}, {5, 2}};
    return reject_all(m, 4, 1);
}

TEST snapshot_rejects_bad_size_field(void)
{
    static const mutation m[3] = {{6, VB_SNAPSHOT_SIZE - 1}, {6, 0}, {7, 1}};
    return reject_all(m, 3, 1);
}

TEST snapshot_rejects_bad_checksum(void)
{
    unsigned char b[VB_SNAPSHOT_SIZE];
    unsigned i;
    ASSERT_EQ(0, reject_setup());
    /* one bit of any byte flipped, checksum included, without resealing */
    for (i = 0; i < VB_SNAPSHOT_SIZE; i++) {
        memcpy(b, good, sizeof b);
        b[i] ^= 0x10;
        CHECK_CALL(rejected(b, sizeof b));
    }
    ASSERT_EQ(VB_OK, vb_snapshot_load(&T.dev, good, sizeof good));
    PASS();
}

TEST snapshot_rejects_features_not_offered(void)
{
    static const mutation m[4] = {{8, 0x03},        /* + MUST_TELL_HOST, not offered */
                                  {8, 0x0a},        /* + FREE_PAGE_HINT */
                                  {13, 0x01},       /* bit 40 */
                                  {15, 0x80}};      /* bit 63 */
    return reject_all(m, 4, 1);
}

TEST snapshot_rejects_feature_a_destination_does_not_offer(void)
{
    unsigned char a[VB_SNAPSHOT_SIZE];
    vb_config c = cfg;
    c.options = VB_OPT_DEFLATE_ON_OOM;
    ASSERT_EQ(0, start_with(&tg_host, &c, TG_LINUX_FEATURES | TG_F(VB_F_DEFLATE_ON_OOM)));
    vb_snapshot_save(&T.dev, a, sizeof a);
    ASSERT_EQ(0, destination()); /* without the option */
    CHECK_CALL(rejected(a, sizeof a));
    PASS();
}

TEST snapshot_rejects_bad_status_and_flags(void)
{
    static const mutation m[6] = {{16, 0x0f | VB_S_NEEDS_RESET}, {17, 2}, {17, 4}, {17, 0x80},
                                  {Q(0) + 30, 2}, {Q(2) + 30, 0xff}};
    return reject_all(m, 6, 1);
}

TEST snapshot_rejects_queue_size(void)
{
    static const mutation m[6] = {{Q(0) + 24, 0}, /* size 128 -> 0 (low byte of 0x0080) */
                                  {Q(1) + 24, 3},
                                  {Q(2) + 24, 0x81},
                                  {Q(2) + 25, 0x01}, /* 0x0180 */
                                  {Q(0) + 25, 0x80}, /* 0x8080 */
                                  {Q(1) + 24, 0xff}};
    return reject_all(m, 6, 1);
}

TEST snapshot_rejects_queue_larger_than_max(void)
{
    unsigned char a[VB_SNAPSHOT_SIZE];
    vb_config small = cfg;
    small.queue_size = 64;
    ASSERT_EQ(0, start()); /* queues of 128 */
    vb_snapshot_save(&T.dev, a, sizeof a);
    vb_destroy(&T.dev);
    ASSERT_EQ(VB_OK, vb_init(&T.dev, &small, &tg_host, &T));
    CHECK_CALL(rejected(a, sizeof a));
    PASS();
}

TEST snapshot_rejects_misaligned_rings(void)
{
    static const mutation m[6] = {{Q(0) + 0, 0x08}, {Q(1) + 0, 0x01}, {Q(2) + 8, 0x01},
                                  {Q(0) + 8, 0x03}, {Q(1) + 16, 0x02}, {Q(2) + 16, 0x01}};
    unsigned char b[VB_SNAPSHOT_SIZE];
    unsigned i;
    ASSERT_EQ(0, reject_setup());
    for (i = 0; i < 6; i++) {
        memcpy(b, good, sizeof b);
        b[m[i].off] = (unsigned char)(b[m[i].off] | m[i].val);
        reseal(b);
        CHECK_CALL(rejected(b, sizeof b));
    }
    PASS();
}

static void put64(unsigned char *p, uint64_t v)
{
    unsigned i;
    for (i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8u * i));
}

TEST snapshot_rejects_rings_that_wrap(void)
{
    static const struct { unsigned off; uint64_t v; } m[4] = {
        {Q(0) + 0, UINT64_MAX - 0x3ffu},       /* desc: 128 x 16 bytes do not fit */
        {Q(1) + 8, UINT64_MAX - 1u},           /* avail */
        {Q(2) + 16, UINT64_MAX - 0x403u},    /* used: 1030 bytes in 1028 */
        {Q(2) + 0, 0xfffffffffffff800u + 16u},
    };
    unsigned char b[VB_SNAPSHOT_SIZE];
    unsigned i;
    ASSERT_EQ(0, reject_setup());
    for (i = 0; i < 4; i++) {
        memcpy(b, good, sizeof b);
        put64(b + m[i].off, m[i].v);
        reseal(b);
        CHECK_CALL(rejected(b, sizeof b));
    }
    /* a ring that ends just below 2^64 is fine */
    memcpy(b, good, sizeof b);
    put64(b + Q(1) + 0, 0xfffffffffffff000u);
    reseal(b);
    ASSERT_EQ(VB_OK, vb_snapshot_load(&T.dev, b, sizeof b));
    PASS();
}

TEST snapshot_rejects_too_many_in_flight(void)
{
    unsigned char b[VB_SNAPSHOT_SIZE];
    ASSERT_EQ(0, reject_setup());
    /* stats queue: used_idx 1, so last_avail 130 = 129 in flight */
    memcpy(b, good, sizeof b);
    b[Q(2) + 26] = 130;
    b[Q(2) + 27] = 0;
    reseal(b);
    CHECK_CALL(rejected(b, sizeof b));
    /* last_avail behind used_idx: 0xffff in flight */
    memcpy(b, good, sizeof b);
    b[Q(2) + 26] = 0;
    reseal(b);
    CHECK_CALL(rejected(b, sizeof b));
    /* exactly a queue's worth in flight is legal (inflate queue: used_idx 2) */
    memcpy(b, good, sizeof b);
    b[Q(IQ) + 26] = 130;
    reseal(b);
    ASSERT_EQ(VB_OK, vb_snapshot_load(&T.dev, b, sizeof b));
    /* the bound holds only for a running queue of a healthy device: a stopped one, or a broken
       device, may hold any gap (what the setters allow, a migration must take) */
    memcpy(b, good, sizeof b);
    b[Q(2) + 26] = 0;
    b[Q(2) + 30] = 0; /* stopped */
    reseal(b);
    ASSERT_EQ(VB_OK, vb_snapshot_load(&T.dev, b, sizeof b));
    memcpy(b, good, sizeof b);
    b[Q(2) + 26] = 0;
    b[17] = 1; /* broken */
    reseal(b);
    ASSERT_EQ(VB_OK, vb_snapshot_load(&T.dev, b, sizeof b));
    ASSERT(vb_is_broken(&T.dev));
    PASS();
}

/* A device's own snapshot always loads, into itself and into a fresh device, whatever the
   setters and the guest left in a stopped queue: a base far ahead set by the host, or a used
   index far ahead written by the guest before the queue was set up again smaller. Starting the
   queue on the destination checks the gap against the guest, as on the source. */
TEST snapshot_of_stopped_queues_always_loads(void)
{
    static tg dest;
    unsigned char a[VB_SNAPSHOT_SIZE], b[VB_SNAPSHOT_SIZE];
    ASSERT_EQ(0, tg_start(&T, NULL, TG_LINUX_FEATURES));
    ASSERT_EQ(VB_OK, vb_queue_set_ready(&T.dev, IQ, 0));
    ASSERT_EQ(VB_OK, vb_queue_set_base(&T.dev, IQ, 5000)); /* host: any base while stopped */
    ASSERT_EQ(VB_OK, vb_queue_set_ready(&T.dev, DQ, 0));
    tg_put16(&T, tg_used_addr(&T, DQ) + 2u, (uint16_t)-100); /* guest: 100 "in flight" at start */
    ASSERT_EQ(VB_OK, vb_queue_set_ready(&T.dev, DQ, 1));
    ASSERT_EQ(VB_OK, vb_queue_set_ready(&T.dev, DQ, 0));
    ASSERT_EQ(VB_OK, vb_queue_setup(&T.dev, DQ, 16, tg_desc_addr(DQ), tg_avail_addr(&T, DQ),
                                    tg_used_addr(&T, DQ))); /* then set up again smaller */
    ASSERT_FALSE(vb_is_broken(&T.dev));
    ASSERT_EQ(VB_SNAPSHOT_SIZE, vb_snapshot_save(&T.dev, a, sizeof a));
    ASSERT_EQ(VB_OK, vb_snapshot_load(&T.dev, a, sizeof a));
    memcpy(&dest, &T, sizeof T); /* the destination: the same guest memory, a fresh device */
    ASSERT_EQ(VB_OK, vb_init(&dest.dev, NULL, &tg_host, &dest));
    ASSERT_EQ(VB_OK, vb_snapshot_load(&dest.dev, a, sizeof a));
    ASSERT_EQ(VB_SNAPSHOT_SIZE, vb_snapshot_save(&dest.dev, b, sizeof b));
    ASSERT_MEM_EQ(a, b, sizeof a);
    ASSERT_EQ(5000, vb_queue_base(&dest.dev, IQ));
    ASSERT_EQ(VB_OK, vb_queue_set_ready(&dest.dev, IQ, 1)); /* 5000 - 0 in flight: refused */
    ASSERT(vb_is_broken(&dest.dev));
    PASS();
}

/* A driver that acknowledged features the device does not offer has FEATURES_OK refused; the
   destination refuses it too (found by the round-trip property: the flag was not migrated). A
   blob that says so while FEATURES_OK is set is no state the device can be in: rejected. */
TEST snapshot_carries_refused_features(void)
{
    static tg dest;
    unsigned char a[VB_SNAPSHOT_SIZE];
    ASSERT_EQ(0, tg_create(&T, NULL));
    vb_set_status(&T.dev, VB_S_ACKNOWLEDGE | VB_S_DRIVER);
    vb_set_driver_features(&T.dev, TG_LINUX_FEATURES | TG_F(40));
    ASSERT_EQ(VB_SNAPSHOT_SIZE, vb_snapshot_save(&T.dev, a, sizeof a));
    ASSERT_EQ(2, a[17]);
    memcpy(&dest, &T, sizeof T);
    ASSERT_EQ(VB_OK, vb_init(&dest.dev, NULL, &tg_host, &dest));
    ASSERT_EQ(VB_OK, vb_snapshot_load(&dest.dev, a, sizeof a));
    vb_set_status(&dest.dev, VB_S_ACKNOWLEDGE | VB_S_DRIVER | VB_S_FEATURES_OK);
    ASSERT_EQ(VB_S_ACKNOWLEDGE | VB_S_DRIVER, vb_status(&dest.dev)); /* refused, as on the source */
    vb_set_driver_features(&dest.dev, TG_LINUX_FEATURES); /* the driver tries again */
    vb_set_status(&dest.dev, VB_S_ACKNOWLEDGE | VB_S_DRIVER | VB_S_FEATURES_OK);
    ASSERT_EQ(VB_S_ACKNOWLEDGE | VB_S_DRIVER | VB_S_FEATURES_OK, vb_status(&dest.dev));
    ASSERT_EQ(VB_SNAPSHOT_SIZE, vb_snapshot_save(&dest.dev, a, sizeof a));
    ASSERT_EQ(0, a[17]);
    /* refused features with FEATURES_OK: rejected; flags above bit 1: rejected */
    a[17] = 2;
    reseal(a);
    ASSERT_EQ(VB_ERR_FORMAT, vb_snapshot_load(&dest.dev, a, sizeof a));
    a[17] = 4;
    a[16] = VB_S_ACKNOWLEDGE;
    reseal(a);
    ASSERT_EQ(VB_ERR_FORMAT, vb_snapshot_load(&dest.dev, a, sizeof a));
    a[17] = 3; /* broken and refused, without FEATURES_OK: a state the device can be in */
    reseal(a);
    ASSERT_EQ(VB_OK, vb_snapshot_load(&dest.dev, a, sizeof a));
    ASSERT(vb_is_broken(&dest.dev));
    PASS();
}

TEST snapshot_rejects_nonzero_reserved_bytes(void)
{
    static const mutation m[12] = {{18, 4},          {19, 0x80},       {216, 1},         {217, 1},
                                   {218, 1},         {219, 0xff},      {Q(0) + 31, 1},   {Q(0) + 35, 1},
                                   {Q(1) + 32, 1},   {Q(1) + 33, 1},   {Q(2) + 34, 1},   {Q(2) + 31, 0xff}};
    return reject_all(m, 12, 1);
}

/* Every optional pointer parameter of the device's API, NULL as the header's POINTERS AND NULL
   rules say: lengths 0 with NULL bytes, snprintf-style outputs that only measure, results not
   wanted, out-of-range log items. */
TEST null_pointers_as_documented(void)
{
    char buf[2048], name_err[128];
    size_t n = 0, full;
    vb_error err;
    unsigned char a[VB_SNAPSHOT_SIZE], b[VB_SNAPSHOT_SIZE];
    unsigned logs, i;
    ASSERT_EQ(0, mid_flight());
    vb_snapshot_save(&T.dev, a, sizeof a);
    vb_config_read(&T.dev, 0, NULL, 0);
    vb_config_write(&T.dev, 4, NULL, 0);
    ASSERT_EQ(500u, vb_actual_pages(&T.dev));
    ASSERT_EQ(0u, T.actual_calls - 1u); /* only mid_flight's write */
    ASSERT_EQ(1, vb_stat(&T.dev, VB_STAT_MEMTOT, NULL));
    ASSERT_EQ(0, vb_stat(&T.dev, VB_STAT_OOM_KILL, NULL));
    ASSERT_EQ(VB_ERR_RANGE, vb_set_poll_interval(&T.dev, -1, NULL));
    ASSERT_EQ(VB_OK, vb_set_poll_interval(&T.dev, 3, NULL));
    ASSERT_EQ(3, vb_poll_interval(&T.dev));
    full = vb_render_guest_stats(&T.dev, buf, sizeof buf, 0);
    ASSERT(full > 100 && full < sizeof buf);
    ASSERT_EQ(full, vb_render_guest_stats(&T.dev, NULL, 0, 0));
    ASSERT_EQ(full, vb_render_guest_stats(&T.dev, NULL, sizeof buf, 0)); /* NULL: whatever cap */
    /* vb_error_text: NULL error is the empty text; NULL buffer measures */
    memset(buf, 'x', sizeof buf);
    ASSERT_EQ(0u, vb_error_text(NULL, buf, sizeof buf));
    ASSERT_EQ('\0', buf[0]);
    ASSERT_EQ(VB_ERR_NOT_FOUND, vb_prop_get(&T.dev, NULL, 0, buf, sizeof buf, &n, 0, &err));
    ASSERT_EQ(0u, n); /* untouched on an error */
    ASSERT_EQ(strlen("Property 'virtio-balloon-pci.' not found"), vb_error_text(&err, NULL, 99));
    vb_error_text(&err, name_err, sizeof name_err);
    ASSERT_STR_EQ("Property 'virtio-balloon-pci.' not found", name_err);
    /* vb_prop_get: no buffer (measure), no out_len, no err */
    ASSERT_EQ(VB_OK, vb_prop_get(&T.dev, "type", 4, NULL, 99, &n, 0, NULL));
    ASSERT_EQ(strlen("\"virtio-balloon-pci\""), n);
    ASSERT_EQ(VB_OK, vb_prop_get(&T.dev, "guest-stats", 11, buf, sizeof buf, NULL, 0, NULL));
    ASSERT_EQ(full, strlen(buf));
    ASSERT_EQ(VB_ERR_NOT_FOUND, vb_prop_get(&T.dev, "nope", 4, NULL, 0, NULL, 0, NULL));
    ASSERT_EQ(VB_ERR_NOT_FOUND, vb_prop_set_int(&T.dev, NULL, 0, 5, NULL));
    ASSERT_EQ(VB_ERR_RANGE, vb_prop_set_int(&T.dev, "guest-stats-polling-interval", 28, -1, NULL));
    ASSERT_EQ(VB_ERR_READ_ONLY, vb_prop_set_int(&T.dev, "type", 4, 1, NULL));
    ASSERT_EQ(NULL, vb_prop_type(&T.dev, NULL, 0));
    ASSERT_EQ(3, vb_poll_interval(&T.dev)); /* none of the failed sets changed it */
    /* snapshot: NULL saves nothing and measures; NULL loads nothing */
    ASSERT_EQ(VB_SNAPSHOT_SIZE, vb_snapshot_save(&T.dev, NULL, 1000));
    ASSERT_EQ(VB_ERR_FORMAT, vb_snapshot_load(&T.dev, NULL, VB_SNAPSHOT_SIZE));
    vb_snapshot_save(&T.dev, b, sizeof b);
    ASSERT_MEM_EQ(a, b, sizeof a);
    /* vb_break with no reason or one out of range: broken, nothing logged */
    logs = 0;
    for (i = 0; i < VB_LOG_ITEM_COUNT; i++) logs += T.log_count[i];
    vb_break(&T.dev, (vb_log_item)9999);
    ASSERT(vb_is_broken(&T.dev));
    for (i = 0; i < VB_LOG_ITEM_COUNT; i++) logs -= T.log_count[i];
    ASSERT_EQ(0u, logs);
    ASSERT_EQ(1u, vb_get_counters(&T.dev)->ring_errors);
    PASS();
}

/* ============================================================================================
   Small API functions
   ============================================================================================ */

TEST result_strings(void)
{
    ASSERT_STR_EQ("ok", vb_result_str(VB_OK));
    ASSERT_STR_EQ("invalid argument", vb_result_str(VB_ERR_ARG));
    ASSERT_STR_EQ("not found", vb_result_str(VB_ERR_NOT_FOUND));
    ASSERT_STR_EQ("read-only", vb_result_str(VB_ERR_READ_ONLY));
    ASSERT_STR_EQ("wrong type", vb_result_str(VB_ERR_TYPE));
    ASSERT_STR_EQ("out of range", vb_result_str(VB_ERR_RANGE));
    ASSERT_STR_EQ("no data yet", vb_result_str(VB_ERR_NO_DATA));
    ASSERT_STR_EQ("malformed input", vb_result_str(VB_ERR_FORMAT));
    ASSERT_STR_EQ("wrong state", vb_result_str(VB_ERR_STATE));
    ASSERT_STR_EQ("unknown result", vb_result_str((vb_result)1));
    ASSERT_STR_EQ("unknown result", vb_result_str((vb_result)-9));
    PASS();
}

TEST version_string(void)
{
    char expect[32];
    snprintf(expect, sizeof expect, "%d.%d.%d", VB_VERSION_MAJOR, VB_VERSION_MINOR, VB_VERSION_PATCH);
    ASSERT_STR_EQ(VB_VERSION_STRING, vb_version_string());
    ASSERT_STR_EQ(expect, vb_version_string());
    PASS();
}

TEST counters(void)
{
    static const uint16_t tags[3] = {16, VB_STAT_MEMFREE, 0xffff};
    uint64_t vals[3] = {1, 2, 3};
    const vb_counters *c;
    ASSERT_EQ(0, start());
    c = vb_get_counters(&T.dev);
    ASSERT_EQ(0u, c->updates + c->polls + c->duplicates + c->unknown_tags + c->ring_errors);
    tg_send_stats(&T, 10, 1);
    tg_stats_buffer(&T, 1, tags, vals, 3);
    tg_kick(&T, SQ); /* a second buffer while one is held */
    ASSERT_EQ(VB_OK, vb_set_poll_interval_ms(&T.dev, 1000));
    tg_fire(&T);
    tg_fire(&T); /* nothing held: not a poll */
    break_device();
    c = vb_get_counters(&T.dev);
    ASSERT_EQ(2u, c->updates);
    ASSERT_EQ(1u, c->polls);
    ASSERT_EQ(1u, c->duplicates);
    ASSERT_EQ(2u, c->unknown_tags);
    ASSERT_EQ(1u, c->ring_errors);
    vb_reset(&T.dev);
    break_device(); /* queues not ready after the reset: no new error */
    ASSERT_EQ(1u, vb_get_counters(&T.dev)->ring_errors);
    PASS();
}

/* A driver that stopped its stats queue gets nothing written to it by a poll; the timer only
   re-arms; stopping un-pops the held buffer, so the restarted queue reads it again. */
TEST timer_with_stopped_stats_queue(void)
{
    uint32_t id = 99;
    ASSERT_EQ(0, start());
    tg_send_stats(&T, 10, 1);
    ASSERT_EQ(VB_OK, vb_set_poll_interval_ms(&T.dev, 1000));
    ASSERT_EQ(VB_OK, vb_queue_set_ready(&T.dev, SQ, 0));
    T.reads = T.writes = 0;
    tg_fire(&T);
    ASSERT_EQ(0u, T.reads + T.writes);
    ASSERT_EQ(0, tg_used_idx(&T, SQ));
    ASSERT_EQ(0u, T.irq[SQ]);
    ASSERT(T.armed);
    ASSERT_EQ(T.now_ms + 1000u, T.deadline);
    ASSERT_EQ(0u, vb_get_counters(&T.dev)->polls);
    /* stopping un-popped the buffer: the restarted queue reads it again at the next kick */
    ASSERT_EQ(VB_OK, vb_queue_set_ready(&T.dev, SQ, 1));
    tg_kick(&T, SQ);
    ASSERT_EQ(2u, vb_get_counters(&T.dev)->updates);
    tg_fire(&T);
    ASSERT_EQ(1u, tg_used(&T, SQ, &id, NULL, 1));
    ASSERT_EQ(0u, id);
    ASSERT_EQ(1u, vb_get_counters(&T.dev)->polls);
    PASS();
}

TEST destroy_cancels_only_an_armed_timer(void)
{
    ASSERT_EQ(0, start());
    vb_destroy(&T.dev);
    ASSERT_EQ(0u, T.cancels);
    ASSERT_EQ(VB_OK, vb_set_poll_interval_ms(&T.dev, 100));
    vb_destroy(&T.dev);
    ASSERT_EQ(1u, T.cancels);
    ASSERT_EQ(UINT64_MAX, vb_next_deadline(&T.dev));
    PASS();
}

/* Two devices in one process share nothing: everything done to one (guest traffic, timer,
   management, a break, a reset) leaves the other, its guest and its callbacks' records
   byte for byte as they were. */
TEST two_devices_are_independent(void)
{
    static tg other, before;
    static const uint32_t pfn[1] = {0x300};
    vb_error err;
    uint64_t data;
    ASSERT_EQ(0, tg_start(&T, NULL, TG_LINUX_FEATURES));
    ASSERT_EQ(0, tg_start(&other, NULL, TG_LINUX_FEATURES));
    tg_send_stats(&other, 10, 5);
    ASSERT_EQ(VB_OK, vb_set_poll_interval(&other.dev, 3, &err));
    memcpy(&before, &other, sizeof other);
    ASSERT_EQ(VB_OK, vb_set_poll_interval(&T.dev, 2, &err));
    tg_send_stats(&T, 16, 9);
    tg_advance(&T, 2000);
    tg_fire(&T);
    data = tg_alloc(&T, 4);
    tg_put32(&T, data, pfn[0]);
    tg_desc(&T, VB_QUEUE_INFLATE, 0, data, 4, 0, 0);
    tg_publish(&T, VB_QUEUE_INFLATE, 0);
    tg_kick(&T, VB_QUEUE_INFLATE);
    vb_set_target_pages(&T.dev, 100);
    vb_break(&T.dev, VB_LOG_RING_MEMORY);
    vb_machine_reset(&T.dev, 0);
    ASSERT_EQ(1u, T.npages);
    ASSERT_EQ(0, memcmp(&before, &other, sizeof other));
    ASSERT_EQ(3, vb_poll_interval(&other.dev));
    ASSERT(vb_stat(&other.dev, VB_STAT_MEMTOT, NULL));
    ASSERT_FALSE(vb_is_broken(&other.dev));
    PASS();
}

/* ============================================================================================
   Re-entrancy: a host callback that calls back into its device (issue 13, item 6)

   Every callback x every call that changes the device: a host whose callback makes that call on
   the same device, each time the callback runs, through a scenario that makes every callback
   run (vb_init's timer, bring-up with refused features, stats, a poll, inflate, actual, target,
   interval, snapshot load with its rewind, vb_do_work, machine reset, a ring error,
   vb_destroy). Each nested call must be refused before it does anything: the device's bytes
   unchanged, no callback but the log of the refusal (VB_LOG_REENTERED; none from inside log
   itself), VB_ERR_STATE where there is a result. And the scenario must end exactly as it does
   without the nested calls: the same device bytes, guest memory, interrupts and pages.
   ============================================================================================ */

enum { CB_READ, CB_WRITE, CB_NOW, CB_ARM, CB_CANCEL, CB_WALL, CB_NOTIFY, CB_CONFIG, CB_PAGES, CB_ACTUAL,
       CB_LOG, CB_MAP, CB_COUNT };
enum { E_DESTROY, E_FEATURES, E_STATUS, E_BREAK, E_SETUP, E_READY, E_BASE, E_NOTIFY, E_WORK, E_CFGWRITE,
       E_TIMER, E_RESET, E_MRESET, E_TARGET, E_RAM, E_INTERVAL, E_INTERVAL_MS, E_PROP, E_LOAD, E_MMIO_WRITE,
       E_MMIO_RESET, E_MEMORY, E_COUNT };

static const char *const re_cb_names[CB_COUNT] = {"read", "write", "now_ms", "timer_arm", "timer_cancel", "wall_s",
                                                  "notify_queue", "notify_config", "pages", "actual_changed", "log", "map"};
static const char *const re_entry_names[E_COUNT] = {
    "vb_destroy", "vb_set_driver_features", "vb_set_status", "vb_break", "vb_queue_setup", "vb_queue_set_ready",
    "vb_queue_set_base", "vb_queue_notify", "vb_do_work", "vb_config_write", "vb_timer_expired", "vb_reset",
    "vb_machine_reset", "vb_set_target_pages", "vb_set_ram_size", "vb_set_poll_interval",
    "vb_set_poll_interval_ms", "vb_prop_set_int", "vb_snapshot_load", "vb_mmio_write", "vb_mmio_reset",
    "vb_memory_changed"};

static unsigned re_cb = CB_COUNT, re_entry, re_calls, re_bad_line, re_maps;
static unsigned char re_blob[VB_SNAPSHOT_SIZE];
static vb_mmio re_mmio;

/* The nested call; 1 if its result says it was refused. */
static int re_call(unsigned entry)
{
    static const char name[] = "guest-stats-polling-interval";
    unsigned char b[4] = {1, 2, 3, 4};
    vb_error err;
    vb_device *d = &T.dev;
    memset(&err, 0, sizeof err);
    switch (entry) {
    case E_DESTROY: vb_destroy(d); return 1;
    case E_FEATURES: vb_set_driver_features(d, TG_F(VB_F_STATS_VQ)); return 1;
    case E_STATUS: vb_set_status(d, 0); return 1;
    case E_BREAK: vb_break(d, VB_LOG_RING_MEMORY); return 1;
    case E_SETUP: return vb_queue_setup(d, 2, 64, 0x8000, 0x9000, 0xa000) == VB_ERR_STATE;
    case E_READY: return vb_queue_set_ready(d, SQ, !vb_queue_ready(d, SQ)) == VB_ERR_STATE;
    case E_BASE: return vb_queue_set_base(d, IQ, 77) == VB_ERR_STATE;
    case E_NOTIFY: return vb_queue_notify(d, SQ) == vb_more_work(d);
    case E_WORK: return vb_do_work(d) == vb_more_work(d);
    case E_CFGWRITE: vb_config_write(d, 4, b, 4); return 1;
    case E_TIMER: vb_timer_expired(d); return 1;
    case E_RESET: vb_reset(d); return 1;
    case E_MRESET: vb_machine_reset(d, 0); return 1;
    case E_TARGET: vb_set_target_pages(d, 12345); return 1;
    case E_RAM: vb_set_ram_size(d, 1); return 1;
    case E_INTERVAL:
        return vb_set_poll_interval(d, 7, &err) == VB_ERR_STATE && !strcmp(err.cls, "GenericError") &&
               !strcmp(err.part[0], "device busy: called from inside one of its callbacks");
    case E_INTERVAL_MS: return vb_set_poll_interval_ms(d, 7777) == VB_ERR_STATE;
    case E_PROP: return vb_prop_set_int(d, name, sizeof name - 1, 9, &err) == VB_ERR_STATE && err.cls != NULL;
    case E_LOAD: return vb_snapshot_load(d, re_blob, sizeof re_blob) == VB_ERR_STATE;
    case E_MEMORY: vb_memory_changed(d); return 1;
    case E_MMIO_WRITE: {
        uint32_t bad = re_mmio.bad_accesses;
        vb_mmio_write(&re_mmio, VB_MMIO_STATUS, 0, 4);
        return re_mmio.bad_accesses == bad + 1u && re_mmio.last_bad_offset == VB_MMIO_STATUS;
    }
    default: { /* E_MMIO_RESET */
        static vb_mmio m0;
        memcpy(&m0, &re_mmio, sizeof m0);
        vb_mmio_reset(&re_mmio);
        return !memcmp(&m0, &re_mmio, sizeof m0);
    }
    }
}

/* A refusal is logged once, but not from inside log itself; the transport's are not logged (it
   reaches the device through the public API only). */
static unsigned re_logs_one(unsigned cb)
{
    return cb == CB_LOG || re_entry == E_MMIO_WRITE || re_entry == E_MMIO_RESET ? 0u : 1u;
}

/* Called from inside callback `cb`: make the nested call and check that it did nothing. */
static void re_enter(unsigned cb)
{
    static vb_device before;
    unsigned reads = T.reads, writes = T.writes, irqs = T.irq[0] + T.irq[1] + T.irq[2] + T.config_irqs;
    unsigned timer = T.arms + T.cancels, others = T.npages + T.actual_calls + re_maps, logs = 0, logged, i;
    int refused;
    if (cb != re_cb) return;
    for (i = 0; i < VB_LOG_ITEM_COUNT; i++) logs += T.log_count[i];
    logged = T.log_count[VB_LOG_REENTERED];
    memcpy(&before, &T.dev, sizeof before);
    if (!vb_in_callback(&T.dev) && !re_bad_line) re_bad_line = __LINE__;
    refused = re_call(re_entry);
    re_calls++;
    for (i = 0; i < VB_LOG_ITEM_COUNT; i++) logs -= T.log_count[i];
    if (re_bad_line) return;
    if (!refused) re_bad_line = __LINE__;
    else if (memcmp(&before, &T.dev, sizeof before)) re_bad_line = __LINE__;
    else if (reads != T.reads || writes != T.writes) re_bad_line = __LINE__;
    else if (irqs != T.irq[0] + T.irq[1] + T.irq[2] + T.config_irqs) re_bad_line = __LINE__;
    else if (timer != T.arms + T.cancels || others != T.npages + T.actual_calls + re_maps) re_bad_line = __LINE__;
    else if (T.log_count[VB_LOG_REENTERED] - logged != re_logs_one(cb)) re_bad_line = __LINE__;
    else if ((unsigned)-logs != T.log_count[VB_LOG_REENTERED] - logged) re_bad_line = __LINE__;
}

static int re_read(void *u, uint64_t gpa, void *dst, size_t len) { re_enter(CB_READ); return tg_read(u, gpa, dst, len); }
static int re_write(void *u, uint64_t gpa, const void *src, size_t len) { re_enter(CB_WRITE); return tg_write(u, gpa, src, len); }
static uint64_t re_now(void *u) { re_enter(CB_NOW); return tg_now(u); }
static void re_arm(void *u, uint64_t deadline) { re_enter(CB_ARM); tg_arm(u, deadline); }
static void re_cancel(void *u) { re_enter(CB_CANCEL); tg_cancel(u); }
static int64_t re_wall(void *u) { re_enter(CB_WALL); return tg_wall(u); }
static void re_notify(void *u, unsigned q) { re_enter(CB_NOTIFY); tg_notify(u, q); }
static void re_config(void *u) { re_enter(CB_CONFIG); tg_notify_config(u); }
static void re_pages(void *u, unsigned q, uint64_t gpa, uint64_t len) { re_enter(CB_PAGES); tg_pages(u, q, gpa, len); }
static void re_actual(void *u, uint32_t actual) { re_enter(CB_ACTUAL); tg_actual(u, actual); }
static void re_log(void *u, vb_log_level level, vb_log_item item, const char *msg)
{
    tg_log(u, level, item, msg);
    if (item != VB_LOG_REENTERED) re_enter(CB_LOG);
}

/* Refuses every range, so the device copies as without it: the scenario's end is the same. */
static void *re_map(void *u, uint64_t gpa, uint64_t len, int write)
{
    (void)u, (void)gpa, (void)len, (void)write;
    re_maps++;
    re_enter(CB_MAP);
    return NULL;
}

static const vb_host re_host = {re_read, re_write, re_now, re_arm, re_cancel, re_wall,
                                re_notify, re_config, re_pages, re_actual, re_log, NULL, re_map};

/* Every callback runs at least once. */
static int re_scenario(void)
{
    static const vb_config c = {VB_PROFILE_QEMU, 0, 0, 0, 1, (uint64_t)1 << 30, 0, 0};
    unsigned char blob[VB_SNAPSHOT_SIZE];
    if (tg_create(&T, &c) || vb_init(&T.dev, &c, &re_host, &T) != VB_OK) return -1;
    vb_mmio_init(&re_mmio, &T.dev, NULL, NULL);
    vb_snapshot_save(&T.dev, re_blob, sizeof re_blob);
    vb_set_status(&T.dev, VB_S_ACKNOWLEDGE | VB_S_DRIVER);
    vb_set_driver_features(&T.dev, TG_LINUX_FEATURES | TG_F(40)); /* refused: logged */
    vb_set_driver_features(&T.dev, TG_LINUX_FEATURES);
    vb_set_status(&T.dev, VB_S_ACKNOWLEDGE | VB_S_DRIVER | VB_S_FEATURES_OK);
    if (tg_queue(&T, IQ, 128) || tg_queue(&T, DQ, 128) || tg_queue(&T, SQ, 128)) return -1;
    tg_driver_ok(&T);
    tg_send_stats(&T, 10, 1);
    tg_fire(&T);
    tg_send_stats(&T, 10, 2);
    pfn_buf(IQ, 0, 0x10);
    tg_kick(&T, IQ);
    write_actual(5);
    vb_set_target_pages(&T.dev, 100);
    vb_set_poll_interval_ms(&T.dev, 0);
    vb_set_poll_interval_ms(&T.dev, 500);
    vb_snapshot_save(&T.dev, blob, sizeof blob);
    vb_snapshot_load(&T.dev, blob, sizeof blob); /* the rewind reads the held buffer again */
    vb_do_work(&T.dev);
    vb_machine_reset(&T.dev, 0);
    if (tg_probe(&T, TG_LINUX_FEATURES)) return -1;
    tg_driver_ok(&T);
    break_device();
    vb_destroy(&T.dev);
    return vb_in_callback(&T.dev) ? -1 : 0;
}

TEST reentrant_calls_are_refused(void)
{
    static tg ref;
    unsigned cb, e;
    re_cb = CB_COUNT;
    ASSERT_EQ(0, re_scenario()); /* the reference: no nested calls */
    ASSERT_EQ(0u, T.log_count[VB_LOG_REENTERED]);
    memcpy(&ref, &T, sizeof ref);
    for (cb = 0; cb < CB_COUNT; cb++) {
        for (e = 0; e < E_COUNT; e++) {
            re_cb = cb;
            re_entry = e;
            re_calls = re_bad_line = 0;
            ASSERT_EQ(0, re_scenario());
            re_cb = CB_COUNT;
            if (re_calls == 0 || re_bad_line) {
                fprintf(stdout, "\n  %s from inside %s: %s (line %u)\n", re_entry_names[e], re_cb_names[cb],
                        re_calls ? "not refused" : "the callback never ran", re_bad_line);
                FAIL();
            }
            /* the same end as without the nested calls */
            ASSERT_MEM_EQ(&ref.dev, &T.dev, sizeof T.dev);
            ASSERT_MEM_EQ(ref.mem, T.mem, sizeof T.mem);
            ASSERT_MEM_EQ(ref.irq, T.irq, sizeof T.irq);
            ASSERT_EQ(ref.config_irqs, T.config_irqs);
            ASSERT_EQ(ref.npages, T.npages);
            ASSERT_MEM_EQ(ref.pages, T.pages, sizeof T.pages);
            ASSERT_EQ(ref.arms, T.arms);
            ASSERT_EQ(ref.cancels, T.cancels);
            ASSERT_EQ(ref.actual_calls, T.actual_calls);
            ASSERT_EQ(re_logs_one(cb) * re_calls, T.log_count[VB_LOG_REENTERED]);
        }
    }
    PASS();
}

/* The easy mistake: a timer_arm that fires at once when the deadline has passed. The expiry is
   refused and logged, so the host sees it; fired from the event loop instead, it polls. */
static int sync_fire_pending;
static void sync_fire_arm(void *u, uint64_t deadline)
{
    tg *t = (tg *)u;
    tg_arm(u, deadline);
    if (deadline <= t->now_ms) {
        vb_timer_expired(&t->dev); /* wrong: from inside the callback */
        sync_fire_pending = 1;     /* right: note it, fire after the call returns */
    }
}

TEST timer_fired_from_inside_timer_arm_is_refused(void)
{
    static const vb_host h = {tg_read,   tg_write, tg_now,    sync_fire_arm, tg_cancel, tg_wall,
                              tg_notify, tg_notify_config, tg_pages, tg_actual, tg_log, NULL, 0};
    ASSERT_EQ(0, start_with(&h, &cfg, TG_LINUX_FEATURES));
    tg_send_stats(&T, 10, 1);
    sync_fire_pending = 0;
    ASSERT_EQ(VB_OK, vb_set_poll_interval_ms(&T.dev, 1000)); /* from 0: a poll at once */
    ASSERT_EQ(1u, T.log_count[VB_LOG_REENTERED]);
    ASSERT_EQ(VB_LOG_REENTERED, T.last_log);
    ASSERT_EQ(0u, vb_get_counters(&T.dev)->polls); /* the nested expiry did nothing */
    ASSERT_EQ(0, tg_used_idx(&T, SQ));
    ASSERT_FALSE(vb_in_callback(&T.dev));
    ASSERT_EQ(1, sync_fire_pending);
    vb_timer_expired(&T.dev); /* from the event loop */
    ASSERT_EQ(1u, vb_get_counters(&T.dev)->polls);
    ASSERT_EQ(1, tg_used_idx(&T, SQ));
    PASS();
}

/* Read-only calls from inside a callback are fine: a notify_queue that reads the stats. */
static uint64_t seen_memtot;
static unsigned seen_in_callback;
static void read_stats_notify(void *u, unsigned q)
{
    tg *t = (tg *)u;
    char json[1024];
    tg_notify(u, q);
    seen_in_callback += (unsigned)vb_in_callback(&t->dev);
    vb_stat(&t->dev, VB_STAT_MEMTOT, &seen_memtot);
    if (vb_render_guest_stats(&t->dev, json, sizeof json, 0) >= sizeof json) seen_memtot = 0;
}

TEST read_only_calls_from_inside_a_callback(void)
{
    static const vb_host h = {tg_read,   tg_write, tg_now,    tg_arm,   tg_cancel, tg_wall,
                              read_stats_notify, tg_notify_config, tg_pages, tg_actual, tg_log, NULL, 0};
    ASSERT_EQ(0, start_with(&h, &cfg, TG_LINUX_FEATURES));
    ASSERT_FALSE(vb_in_callback(&T.dev));
    tg_send_stats(&T, 10, 4);
    ASSERT_EQ(VB_OK, vb_set_poll_interval_ms(&T.dev, 1000));
    tg_fire(&T); /* returns the buffer: notify_queue */
    ASSERT_EQ(1u, T.irq[SQ]);
    ASSERT_EQ(1u, seen_in_callback);
    ASSERT_EQ(4005u, seen_memtot);
    ASSERT_EQ(0u, T.log_count[VB_LOG_REENTERED]);
    PASS();
}

/* QMP from inside a callback: reading answers as usual; a change (balloon, qom-set) is refused
   with the busy error, not answered {"return": {}} while nothing happens. */
static char cb_replies[3][256];
static void qmp_notify(void *u, unsigned q)
{
    static const char *const cmds[3] = {
        "{\"execute\": \"balloon\", \"arguments\": {\"value\": 268435456}, \"id\": 1}",
        ("{\"execute\": \"qom-set\", \"arguments\": {\"path\": \"/machine/peripheral/balloon0\", "
         "\"property\": \"guest-stats-polling-interval\", \"value\": 7}}"),
        "{\"execute\": \"query-balloon\"}"};
    tg *t = (tg *)u;
    vb_qmp s;
    unsigned i;
    tg_notify(u, q);
    vb_qmp_init(&s, &t->dev, VB_QMP_NO_NEGOTIATION);
    for (i = 0; i < 3; i++) vb_qmp_execute(&s, cmds[i], strlen(cmds[i]), cb_replies[i], sizeof cb_replies[i]);
}

TEST qmp_changes_from_inside_a_callback_are_refused(void)
{
    static const vb_host h = {tg_read,   tg_write, tg_now,    tg_arm,   tg_cancel, tg_wall,
                              qmp_notify, tg_notify_config, tg_pages, tg_actual, tg_log, NULL, 0};
    vb_config c = cfg;
    c.ram_size = 1024u << 20;
    ASSERT_EQ(0, start_with(&h, &c, TG_LINUX_FEATURES));
    tg_send_stats(&T, 10, 4);
    ASSERT_EQ(VB_OK, vb_set_poll_interval_ms(&T.dev, 1000));
    tg_fire(&T); /* returns the buffer: notify_queue */
    ASSERT_STR_EQ("{\"id\": 1, \"error\": {\"class\": \"GenericError\", \"desc\": \"device busy: called "
                  "from inside one of its callbacks\"}}", cb_replies[0]);
    ASSERT_STR_EQ("{\"error\": {\"class\": \"GenericError\", \"desc\": \"device busy: called from "
                  "inside one of its callbacks\"}}", cb_replies[1]);
    ASSERT_STR_EQ("{\"return\": {\"actual\": 1073741824}}", cb_replies[2]);
    ASSERT_EQ(0u, vb_target_pages(&T.dev));
    ASSERT_EQ(1000u, vb_poll_interval_ms(&T.dev));
    PASS();
}

/* ============================================================================================
   Snapshot round trip as a property (issue 13, item 3)

   Random interleavings of host calls (target, interval, queue setup/base/ready/stop, resets,
   status, features, vb_break, timer, vb_do_work, ram size, loads of older blobs, free page
   hinting start/stop/done and poison_val writes with FREE_PAGE_HINT, PAGE_POISON and REPORTING
   offered) and guest actions (bring-up with any features, stats and inflate/deflate buffers, spurious kicks,
   used-index and avail-index games, a queue set up again smaller, stopped queues, hostile
   descriptors, refused memory). At random points, and at the end of every interleaving, the
   device's blob is loaded into the same device and into a fresh device on the same guest: both
   loads must succeed, and everything observable through the public API must be what the
   header's rule says (docs at vb_snapshot_load): the migrated state back exactly (status,
   features, config space, every queue field, the blob saved again, whether FEATURES_OK would be
   refused), the caches reset (shadow avail = base, no interrupt threshold), the local state of
   each device kept (counters, stats, interval, ram size; the timer re-armed), and the held stats
   buffer forgotten and re-read by the load's rewind (one more update, or the step back stays
   when the guest's ring says empty, or the device breaks when the guest's ring is bad).
   VB_SNAP_INTERLEAVINGS (default 100000, about 1.5 s; 10000 under valgrind, which looks for
   memory errors, not for more states), VB_SNAP_SEED; a failure names the interleaving's seed and
   step: VB_SNAP_REPLAY=<seed> replays that one with a trace.
   ============================================================================================ */

#define P_RINGS (3u * 0x4000u)     /* the guest's ring area, cleared per interleaving */
#define P_DATA_END (TG_MEM - 0x1000u)
#define P_HIST 4u
#define P_F_NEXT 1u

static vb_config pcfg;
static vb_host p_host;
static vb_device p_fresh, p_probe;
static unsigned char p_hist[P_HIST][VB_SNAPSHOT_SIZE];
static unsigned p_nhist;
static char p_why[256];
static int p_trace;
static unsigned long p_roundtrips, p_rewinds, p_kinds[3], p_broken_rt, p_held_rt, p_gap_rt, p_more_rt;
static unsigned long p_hint_rt, p_poison_rt;

#define PCHECK(cond)                                                                        \
    do {                                                                                    \
        if (!(cond)) {                                                                      \
            snprintf(p_why, sizeof p_why, "line %d: %s", __LINE__, #cond);                   \
            return -1;                                                                      \
        }                                                                                   \
    } while (0)

#define PTRACE(...)                                                                         \
    do {                                                                                    \
        if (p_trace) printf(__VA_ARGS__);                                                   \
    } while (0)

/* Guest-memory writes made while logging, undone afterwards: the two loads see one guest. */
typedef struct p_undo {
    uint64_t gpa;
    size_t len;
    unsigned char old[16];
} p_undo;
static p_undo p_log[8];
static unsigned p_nlog;
static int p_logging, p_log_overflow;

static int p_write(void *user, uint64_t gpa, const void *src, size_t len)
{
    tg *t = (tg *)user;
    if (p_logging && tg_ok(t, gpa, len)) {
        if (p_nlog < 8 && len <= 16) {
            p_log[p_nlog].gpa = gpa;
            p_log[p_nlog].len = len;
            memcpy(p_log[p_nlog].old, t->mem + gpa, len);
            p_nlog++;
        } else {
            p_log_overflow = 1;
        }
    }
    return tg_write(user, gpa, src, len);
}

static void p_undo_writes(void)
{
    while (p_nlog) {
        p_nlog--;
        memcpy(T.mem + p_log[p_nlog].gpa, p_log[p_nlog].old, p_log[p_nlog].len);
    }
}

/* ---- what the public API shows -------------------------------------------------------------- */

typedef struct pobs {
    uint8_t status, gen;
    int broken, more, held, fok_refused, ready[VB_QUEUE_COUNT];
    uint64_t features, host_features, ram, interval_ms, deadline;
    int64_t interval_s, last_update;
    unsigned char cfg[VB_CONFIG_SIZE_MAX];
    uint32_t target, actual, poison, hint_id;
    vb_hint_status hint;
    vb_queue q[VB_QUEUE_COUNT];
    uint16_t base[VB_QUEUE_COUNT];
    vb_counters cnt;
    uint64_t stat[VB_STAT_COUNT];
    vb_result pr[3];
    size_t plen[3];
    char prop[3][1024];
    char render[2][1024];
    unsigned char blob[VB_SNAPSHOT_SIZE];
} pobs;

static const char *const p_props[3] = {"type", "guest-stats", "guest-stats-polling-interval"};

/* Hidden state seen through the public API on a copy (no callback is made by either probe):
   a held stats buffer (stopping the queue un-pops it) and a refused feature set (FEATURES_OK
   does not stick). */
static void p_probes(const vb_device *d, pobs *o)
{
    uint8_t st = (uint8_t)(vb_status(d) & ~VB_S_NEEDS_RESET);
    memcpy(&p_probe, d, sizeof p_probe);
    vb_queue_set_ready(&p_probe, SQ, 0);
    o->held = vb_queue_base(&p_probe, SQ) != vb_queue_base(d, SQ);
    if (!(st & VB_S_FEATURES_OK)) {
        memcpy(&p_probe, d, sizeof p_probe);
        vb_set_status(&p_probe, (uint8_t)((st | VB_S_FEATURES_OK) & ~VB_S_DRIVER_OK));
        o->fok_refused = !(vb_status(&p_probe) & VB_S_FEATURES_OK);
    }
}

static void p_observe(const vb_device *d, pobs *o)
{
    unsigned i;
    memset(o, 0, sizeof *o);
    o->status = vb_status(d);
    o->broken = vb_is_broken(d);
    o->features = vb_driver_features(d);
    o->host_features = vb_host_features(d);
    vb_config_read(d, 0, o->cfg, sizeof o->cfg);
    o->gen = vb_config_generation(d);
    o->target = vb_target_pages(d);
    o->actual = vb_actual_pages(d);
    o->poison = vb_poison_value(d);
    o->hint = vb_hint(d)->status;
    o->hint_id = vb_hint(d)->cmd_id;
    o->ram = vb_ram_size(d);
    for (i = 0; i < VB_QUEUE_COUNT; i++) {
        o->q[i] = *vb_queue_state(d, i);
        o->ready[i] = vb_queue_ready(d, i);
        o->base[i] = vb_queue_base(d, i);
    }
    o->cnt = *vb_get_counters(d);
    for (i = 0; i < VB_STAT_COUNT; i++) vb_stat(d, i, &o->stat[i]);
    o->last_update = vb_last_update(d);
    o->interval_ms = vb_poll_interval_ms(d);
    o->interval_s = vb_poll_interval(d);
    o->deadline = vb_next_deadline(d);
    o->more = vb_more_work(d);
    for (i = 0; i < 3; i++)
        o->pr[i] = vb_prop_get(d, p_props[i], strlen(p_props[i]), o->prop[i], sizeof o->prop[i],
                               &o->plen[i], 0, NULL);
    vb_render_guest_stats(d, o->render[0], sizeof o->render[0], 0);
    vb_render_guest_stats(d, o->render[1], sizeof o->render[1], VB_JSON_PRETTY);
    vb_snapshot_save(d, o->blob, sizeof o->blob);
    p_probes(d, o);
}

static int p_ring_same(const vb_queue *a, const vb_queue *b)
{
    return a->desc == b->desc && a->avail == b->avail && a->used == b->used && a->size == b->size &&
           a->used_idx == b->used_idx && a->ready == b->ready;
}

static int p_queue_eq(const vb_queue *a, const vb_queue *b)
{
    return p_ring_same(a, b) && a->last_avail == b->last_avail && a->shadow_avail == b->shadow_avail &&
           a->signalled_used == b->signalled_used && a->signalled_valid == b->signalled_valid;
}

static int p_stats_eq(const pobs *a, const pobs *b)
{
    unsigned i;
    for (i = 0; i < VB_STAT_COUNT; i++)
        if (a->stat[i] != b->stat[i]) return 0;
    return a->last_update == b->last_update && a->pr[1] == b->pr[1] && a->plen[1] == b->plen[1] &&
           !strcmp(a->prop[1], b->prop[1]) && !strcmp(a->render[0], b->render[0]) &&
           !strcmp(a->render[1], b->render[1]);
}

static int p_guest_be(void)
{
    return (pcfg.options & VB_OPT_GUEST_BIG_ENDIAN) && !((vb_driver_features(&T.dev) >> VB_F_VERSION_1) & 1u);
}

/* The guest's avail->idx of a ring the device has at `avail`, as the device reads it. */
static uint16_t p_avail_idx(uint64_t avail)
{
    unsigned char b[2];
    if (avail > TG_MEM - 4u) return 0;
    memcpy(b, T.mem + avail + 2u, 2);
    return p_guest_be() ? (uint16_t)((unsigned)b[0] << 8 | b[1]) : (uint16_t)((unsigned)b[1] << 8 | b[0]);
}

/* The rewind of a load: 0 none, 1 re-read (one more update), 2 the ring said empty (the step
   back stays), 3 the ring was bad (broken). */
static int p_rewind_kind(const pobs *s, const pobs *l)
{
    if (l->broken && !s->broken) return 3;
    if (l->base[SQ] == (uint16_t)(s->base[SQ] - 1u)) return 2;
    return 1;
}

/* The same device, after loading its own blob: everything as before but what the rule changes. */
static int p_check_same(const pobs *s, const pobs *l, int rew, int kind)
{
    const int v1 = (int)((s->features >> VB_F_VERSION_1) & 1u);
    const int told = kind == 3 && v1 && (s->status & VB_S_DRIVER_OK);
    unsigned i;
    PCHECK(l->broken == (s->broken || kind == 3));
    PCHECK(l->status == (uint8_t)((s->status & ~VB_S_NEEDS_RESET) | (l->broken && v1 ? VB_S_NEEDS_RESET : 0)));
    PCHECK(l->features == s->features && l->host_features == s->host_features);
    PCHECK(!memcmp(l->cfg, s->cfg, sizeof s->cfg) && l->target == s->target && l->actual == s->actual);
    PCHECK(l->poison == s->poison && l->hint == s->hint && l->hint_id == s->hint_id);
    PCHECK(l->ram == s->ram && l->gen == (uint8_t)(s->gen + (told ? 1 : 0)));
    PCHECK(l->fok_refused == s->fok_refused);
    for (i = 0; i < VB_QUEUE_COUNT; i++) {
        const vb_queue *a = &s->q[i], *b = &l->q[i];
        int rewound = rew && i == SQ;
        PCHECK(p_ring_same(a, b) && l->ready[i] == s->ready[i]);
        PCHECK(b->signalled_used == b->used_idx && b->signalled_valid == 0);
        if (!rewound) PCHECK(b->last_avail == a->last_avail && b->shadow_avail == b->last_avail);
        else if (kind == 1) PCHECK(b->last_avail == a->last_avail && b->shadow_avail == p_avail_idx(a->avail));
        else if (kind == 2) PCHECK(b->shadow_avail == b->last_avail);
        else PCHECK(b->last_avail == a->last_avail || b->last_avail == (uint16_t)(a->last_avail - 1u));
    }
    PCHECK(l->cnt.polls == s->cnt.polls && l->cnt.duplicates == s->cnt.duplicates);
    PCHECK(l->cnt.updates == s->cnt.updates + (kind == 1 ? 1u : 0u));
    PCHECK(l->cnt.ring_errors == s->cnt.ring_errors + (kind == 3 ? 1u : 0u));
    PCHECK(rew ? l->cnt.unknown_tags >= s->cnt.unknown_tags : l->cnt.unknown_tags == s->cnt.unknown_tags);
    if (kind != 1) PCHECK(p_stats_eq(s, l));
    else PCHECK(l->last_update == T.wall);
    PCHECK(l->interval_ms == s->interval_ms && l->interval_s == s->interval_s);
    PCHECK(l->deadline == (s->interval_ms == 0 ? UINT64_MAX
                           : T.now_ms > UINT64_MAX - s->interval_ms ? UINT64_MAX : T.now_ms + s->interval_ms));
    PCHECK(l->more == (!l->broken && (l->ready[IQ] || l->ready[DQ])));
    PCHECK(l->held == (kind == 1));
    for (i = 0; i < 3; i += 2) PCHECK(l->pr[i] == s->pr[i] && !strcmp(l->prop[i], s->prop[i]));
    if (kind == 0 || kind == 1) PCHECK(!memcmp(l->blob, s->blob, VB_SNAPSHOT_SIZE));
    return 0;
}

/* The fresh device (a destination set up like the source's host: ram size, interval): the
   migrated state as the same device has it, its own local state. */
static int p_check_fresh(const pobs *s, const pobs *l, const pobs *f, int kind)
{
    const int told = kind == 3 && ((s->features >> VB_F_VERSION_1) & 1u) && (s->status & VB_S_DRIVER_OK);
    unsigned i;
    PCHECK(f->broken == l->broken && f->status == l->status && f->features == l->features);
    PCHECK(!memcmp(f->cfg, l->cfg, sizeof l->cfg) && f->target == l->target && f->actual == l->actual);
    PCHECK(f->poison == l->poison && f->hint == l->hint && f->hint_id == l->hint_id);
    PCHECK(f->ram == l->ram && f->gen == (told ? 1 : 0) && f->fok_refused == l->fok_refused);
    for (i = 0; i < VB_QUEUE_COUNT; i++)
        PCHECK(p_queue_eq(&f->q[i], &l->q[i]) && f->ready[i] == l->ready[i] && f->base[i] == l->base[i]);
    PCHECK(f->cnt.updates == l->cnt.updates - s->cnt.updates && f->cnt.polls == 0 && f->cnt.duplicates == 0);
    PCHECK(f->cnt.ring_errors == l->cnt.ring_errors - s->cnt.ring_errors);
    PCHECK(f->cnt.unknown_tags == l->cnt.unknown_tags - s->cnt.unknown_tags);
    if (kind == 1) {
        PCHECK(p_stats_eq(f, l));
    } else {
        for (i = 0; i < VB_STAT_COUNT; i++) PCHECK(f->stat[i] == VB_STAT_UNSET);
        PCHECK(f->last_update == 0);
        PCHECK(f->pr[1] == (pcfg.profile == VB_PROFILE_DOC ? VB_ERR_NO_DATA : VB_OK));
    }
    PCHECK(f->interval_ms == l->interval_ms && f->deadline == l->deadline);
    PCHECK(f->more == l->more && f->held == l->held);
    for (i = 0; i < 3; i += 2) PCHECK(f->pr[i] == l->pr[i] && !strcmp(f->prop[i], l->prop[i]));
    PCHECK(!memcmp(f->blob, l->blob, VB_SNAPSHOT_SIZE));
    return 0;
}

typedef struct p_calls {
    unsigned reads, writes, qirqs, cfg_irqs;
} p_calls;

static void p_calls_now(p_calls *c)
{
    c->reads = T.reads;
    c->writes = T.writes;
    c->qirqs = T.irq[0] + T.irq[1] + T.irq[2];
    c->cfg_irqs = T.config_irqs;
}

/* A queue whose buffers in flight (base - used index) do not fit it: stopped, or broken. */
static int p_odd_gap(const pobs *o)
{
    unsigned i;
    for (i = 0; i < VB_QUEUE_COUNT; i++)
        if ((uint16_t)(o->base[i] - o->q[i].used_idx) > o->q[i].size) return 1;
    return 0;
}

/* Save; load into a fresh device and into the same device; check both; go on with either. */
static int p_roundtrip(tg_rng *r)
{
    static pobs S, L, F;
    p_calls c0, c1, c2;
    int rew, kind = 0;
    p_observe(&T.dev, &S);
    rew = !S.broken && S.ready[SQ] && (S.status & VB_S_DRIVER_OK) && S.base[SQ] != S.q[SQ].used_idx;
    PCHECK(vb_init(&p_fresh, &pcfg, &p_host, &T) == VB_OK);
    vb_set_ram_size(&p_fresh, S.ram);
    PCHECK(vb_set_poll_interval_ms(&p_fresh, S.interval_ms) == VB_OK);
    p_calls_now(&c0);
    p_nlog = 0;
    p_log_overflow = 0;
    p_logging = 1;
    PCHECK(vb_snapshot_load(&p_fresh, S.blob, VB_SNAPSHOT_SIZE) == VB_OK);
    p_logging = 0;
    PCHECK(!p_log_overflow);
    p_undo_writes();
    p_calls_now(&c1);
    p_observe(&p_fresh, &F);
    PCHECK(vb_snapshot_load(&T.dev, S.blob, VB_SNAPSHOT_SIZE) == VB_OK);
    p_calls_now(&c2);
    p_observe(&T.dev, &L);
    if (rew) kind = p_rewind_kind(&S, &L);
    /* guest memory only through the rewind: a read of the ring, at most the avail_event write */
    PCHECK(rew ? c2.reads > c1.reads : c2.reads == c1.reads);
    PCHECK(c2.reads - c1.reads == c1.reads - c0.reads && c2.writes - c1.writes == c1.writes - c0.writes);
    PCHECK(c2.writes - c1.writes <= 1u && c2.qirqs == c0.qirqs);
    PCHECK(c2.cfg_irqs - c1.cfg_irqs == c1.cfg_irqs - c0.cfg_irqs && c2.cfg_irqs - c1.cfg_irqs <= 1u);
    if (p_check_same(&S, &L, rew, kind) || p_check_fresh(&S, &L, &F, kind)) return -1;
    p_roundtrips++;
    p_rewinds += rew != 0;
    if (kind) p_kinds[kind - 1]++;
    p_broken_rt += S.broken != 0;
    p_held_rt += S.held != 0;
    p_gap_rt += (unsigned long)p_odd_gap(&S);
    p_more_rt += S.more != 0;
    p_hint_rt += S.hint != VB_HINT_STOP;
    p_poison_rt += S.poison != 0;
    PTRACE("    round trip: rewind %d kind %d\n", rew, kind);
    if (tg_chance(r, 50)) memcpy(&T.dev, &p_fresh, sizeof T.dev); /* go on with the destination */
    return 0;
}

/* ---- the guest ---------------------------------------------------------------------------- */

static uint64_t p_alloc(uint32_t len)
{
    if (T.next_data + len > P_DATA_END) T.next_data = TG_DATA; /* old buffers are overwritten */
    return tg_alloc(&T, len);
}

static uint16_t p_size(tg_rng *r, uint16_t max) /* a power of two <= max */
{
    unsigned k = 0;
    while ((2u << k) <= max) k++;
    return (uint16_t)(1u << tg_below(r, k + 1u));
}

/* The guest's rings of queue q, of `size`, set up and started; `fresh` zeroes them first. */
static void g_queue(tg_rng *r, unsigned q, uint16_t size, int fresh)
{
    (void)r;
    T.qsize[q] = size;
    if (fresh) {
        memset(T.mem + TG_RING(q), 0, 0x4000);
        T.avail_idx[q] = T.used_seen[q] = 0;
    }
    vb_queue_setup(&T.dev, q, size, tg_desc_addr(q), tg_avail_addr(&T, q), tg_used_addr(&T, q));
    vb_queue_set_ready(&T.dev, q, 1);
}

/* FREE_PAGE_HINT, PAGE_POISON, REPORTING. The property's guest and observations know queues
   0-2 with the stats queue at 2: a driver that accepts FREE_PAGE_HINT or REPORTING here also
   accepts STATS_VQ (test_fulldevice.c covers the other numberings). */
#define P_QUEUE_FEATURES (TG_F(VB_F_FREE_PAGE_HINT) | TG_F(VB_F_PAGE_POISON) | TG_F(VB_F_REPORTING))
static uint64_t p_stats_first(uint64_t f)
{
    return (f & (TG_F(VB_F_FREE_PAGE_HINT) | TG_F(VB_F_REPORTING))) ? f | TG_F(VB_F_STATS_VQ) : f;
}

static void g_bringup(tg_rng *r)
{
    uint64_t offered = vb_host_features(&T.dev), f = TG_LINUX_FEATURES & offered;
    unsigned q;
    if (tg_chance(r, 20)) f = tg_rnd(r) & (offered | TG_F(3) | TG_F(40));
    else if (tg_chance(r, 15)) f &= ~TG_F(VB_F_VERSION_1);
    if (tg_chance(r, 60)) f |= offered & P_QUEUE_FEATURES;
    f = p_stats_first(f);
    if (tg_chance(r, 70)) vb_set_status(&T.dev, 0);
    vb_set_status(&T.dev, VB_S_ACKNOWLEDGE | VB_S_DRIVER);
    vb_set_driver_features(&T.dev, f);
    T.be = p_guest_be();
    if (f & TG_F(VB_F_VERSION_1)) vb_set_status(&T.dev, VB_S_ACKNOWLEDGE | VB_S_DRIVER | VB_S_FEATURES_OK);
    for (q = 0; q < VB_QUEUE_COUNT; q++)
        if (!vb_queue_ready(&T.dev, q)) g_queue(r, q, p_size(r, vb_queue_size_max(&T.dev)), 1);
    if (tg_chance(r, 85))
        vb_set_status(&T.dev, (uint8_t)((vb_status(&T.dev) & ~VB_S_NEEDS_RESET) | VB_S_DRIVER_OK));
}

static void g_stats(tg_rng *r)
{
    uint16_t tags[20];
    uint64_t vals[20], gpa;
    unsigned n = tg_below(r, 20), i;
    uint16_t head = (uint16_t)tg_below(r, T.qsize[SQ]);
    for (i = 0; i < n; i++) {
        tags[i] = (uint16_t)tg_below(r, 20);
        vals[i] = tg_rnd(r);
    }
    gpa = p_alloc(10u * n + 1u);
    tg_records(&T, gpa, tags, vals, n);
    tg_desc(&T, SQ, head, gpa, n ? 10u * n : 1u, 0, 0);
    tg_publish(&T, SQ, head);
    if (tg_chance(r, 85)) tg_kick(&T, SQ);
}

/* k inflate or deflate buffers of two chained descriptors each (so that more than half a queue
   of them leaves "more work"), then a kick. */
static void g_pfns(tg_rng *r)
{
    unsigned q = tg_below(r, 2), k, i, size = T.qsize[q];
    k = 1u + tg_below(r, tg_chance(r, 80) ? size / 2u + 1u : size); /* up to a queue's worth */
    for (i = 0; i < k; i++) {
        uint16_t d = (uint16_t)((2u * (T.avail_idx[q] % (size / 2u ? size / 2u : 1u))) % size);
        uint64_t gpa = p_alloc(8);
        tg_put32(&T, gpa, tg_below(r, 0x100));
        tg_put32(&T, gpa + 4u, tg_below(r, 0x100));
        if (size >= 2) {
            tg_desc(&T, q, d, gpa, 4, P_F_NEXT, (uint16_t)(d + 1u));
            tg_desc(&T, q, (uint16_t)(d + 1u), gpa + 4u, 4, 0, 0);
        } else {
            tg_desc(&T, q, d, gpa, 8, 0, 0);
        }
        tg_publish(&T, q, d);
    }
    if (tg_chance(r, 85)) tg_kick(&T, q);
}

static void g_hostile(tg_rng *r)
{
    unsigned q = tg_below(r, 3);
    uint16_t head = (uint16_t)tg_below(r, T.qsize[q]);
    if (tg_chance(r, 50)) tg_desc(&T, q, head, p_alloc(16), 0, 0, 0); /* zero length */
    else tg_desc(&T, q, head, UINT64_MAX - 3u, 8, 0, 0);           /* wraps */
    tg_publish(&T, q, head);
    tg_kick(&T, q);
}

static void g_deny(tg_rng *r)
{
    unsigned q = tg_below(r, 3);
    switch (tg_below(r, 6)) {
    case 0: T.deny_lo = tg_used_addr(&T, q); T.deny_hi = T.deny_lo + 4u + 8u * T.qsize[q] + 2u; break;
    case 1: T.deny_lo = tg_avail_addr(&T, q); T.deny_hi = T.deny_lo + 2u; break;
    case 2: T.deny_lo = TG_DATA; T.deny_hi = TG_MEM; break;
    default: T.deny_lo = T.deny_hi = 0; break;
    }
}

static int g_step(tg_rng *r, unsigned a)
{
    unsigned q = tg_below(r, 3);
    switch (a) {
    case 0: g_bringup(r); break;
    case 1: case 2: g_stats(r); break;
    case 3: g_pfns(r); break;
    case 4: tg_kick(&T, tg_chance(r, 90) ? q : 3u + tg_below(r, 100)); break;
    case 5: /* the guest writes its used index (e.g. before a queue starts) */
        tg_put16(&T, tg_used_addr(&T, q) + 2u,
                 tg_chance(r, 50) ? (uint16_t)(vb_queue_base(&T.dev, q) - tg_below(r, 8)) : (uint16_t)tg_rnd(r));
        break;
    case 6: tg_set_avail_idx(&T, q, tg_chance(r, 75) ? (uint16_t)(T.avail_idx[q] + tg_below(r, 3))
                                                     : (uint16_t)tg_rnd(r));
        break;
    case 7: /* stopped, set up again smaller (keeping its rings, or new ones), started */
        vb_queue_set_ready(&T.dev, q, 0);
        g_queue(r, q, (uint16_t)(p_size(r, T.qsize[q]) ), tg_chance(r, 50));
        break;
    case 8: vb_queue_set_ready(&T.dev, q, 0); break;
    case 9: write_actual(tg_chance(r, 50) ? tg_below(r, 1000) : (uint32_t)tg_rnd(r)); break;
    case 10: g_hostile(r); break;
    case 11: g_deny(r); break;
    default: /* answer a poll */
        if (tg_used(&T, SQ, NULL, NULL, 0)) g_stats(r);
        break;
    }
    return 0;
}

/* ---- the host ------------------------------------------------------------------------------ */

static uint64_t p_addr(tg_rng *r, unsigned q, unsigned part, uint16_t size)
{
    uint64_t tgl = part == 0 ? tg_desc_addr(q) : part == 1 ? TG_RING(q) + 16u * size
                                                            : (TG_RING(q) + 16u * size + 6u + 2u * size + 3u) & ~3ull;
    switch (tg_below(r, 6)) {
    case 0: return (uint64_t)tg_below(r, TG_MEM) & ~15ull;
    case 1: return UINT64_MAX - 0xfffu - 0x1000u * tg_below(r, 3); /* at the top of the space */
    case 2: return tgl + 1u + tg_below(r, 15);                      /* misaligned */
    default: return tgl;
    }
}

static void h_setup(tg_rng *r)
{
    unsigned q = tg_below(r, 4);
    uint16_t size = tg_chance(r, 80) ? p_size(r, vb_queue_size_max(&T.dev)) : (uint16_t)tg_rnd(r);
    unsigned qq = q % 3u;
    vb_queue_setup(&T.dev, q, size, p_addr(r, qq, 0, size), p_addr(r, qq, 1, size), p_addr(r, qq, 2, size));
}

static void h_interval(tg_rng *r)
{
    static const int64_t secs[6] = {0, 1, 2, 3, -1, (int64_t)UINT32_MAX + 1};
    vb_error err;
    if (tg_chance(r, 70)) vb_set_poll_interval(&T.dev, secs[tg_below(r, 6)], &err);
    else if (tg_chance(r, 50)) vb_set_poll_interval_ms(&T.dev, tg_below(r, 5000));
    else vb_prop_set_int(&T.dev, "guest-stats-polling-interval", 28, (int64_t)tg_below(r, 4), &err);
}

static void h_timer(tg_rng *r)
{
    switch (tg_below(r, 3)) {
    case 0: tg_fire(&T); break;
    case 1: tg_advance(&T, tg_below(r, 3000)); break;
    default: vb_timer_expired(&T.dev); break; /* early or stale */
    }
}

static int h_step(tg_rng *r, unsigned a)
{
    unsigned q = tg_below(r, 3);
    switch (a) {
    case 0: vb_set_target_pages(&T.dev, tg_chance(r, 80) ? tg_below(r, 1u << 20) : (uint32_t)tg_rnd(r)); break;
    case 1: h_interval(r); break;
    case 2: h_setup(r); break;
    case 3: vb_queue_set_base(&T.dev, tg_chance(r, 95) ? q : 7u,
                              tg_chance(r, 50) ? (uint16_t)(vb_queue_base(&T.dev, q) + tg_below(r, 5) - 2u)
                                               : (uint16_t)tg_rnd(r));
        break;
    case 4: vb_queue_set_ready(&T.dev, q, (int)tg_below(r, 2)); break;
    case 5: if (tg_chance(r, 50)) vb_reset(&T.dev); else vb_set_status(&T.dev, 0); break;
    case 6: vb_machine_reset(&T.dev, (int)tg_below(r, 2)); break;
    case 7: vb_set_status(&T.dev, (uint8_t)tg_rnd(r)); T.be = p_guest_be(); break;
    case 8: vb_set_driver_features(&T.dev, p_stats_first(tg_rnd(r) & (vb_host_features(&T.dev) | TG_F(40)))); T.be = p_guest_be(); break;
    case 9: vb_break(&T.dev, (vb_log_item)(1u + tg_below(r, VB_LOG_RING_MEMORY))); break;
    case 10: case 11: h_timer(r); break;
    case 12: vb_do_work(&T.dev); break;
    case 13: vb_set_ram_size(&T.dev, tg_chance(r, 20) ? 0 : (uint64_t)tg_below(r, 16) << 28); break;
    case 14: /* keep a blob for a later load */
        PCHECK(vb_snapshot_save(&T.dev, p_hist[p_nhist % P_HIST], VB_SNAPSHOT_SIZE) == VB_SNAPSHOT_SIZE);
        p_nhist++;
        break;
    case 15: /* load a blob this device saved earlier: always taken */
        if (p_nhist) PCHECK(vb_snapshot_load(&T.dev, p_hist[tg_below(r, p_nhist < P_HIST ? p_nhist : P_HIST)],
                                             VB_SNAPSHOT_SIZE) == VB_OK);
        break;
    case 16: /* free page hinting, as a migrating host drives it */
        switch (tg_below(r, 3)) {
        case 0: vb_hint_start(&T.dev); break;
        case 1: vb_hint_stop(&T.dev); break;
        default: vb_hint_done(&T.dev); break;
        }
        break;
    case 17: { /* the driver's poison_val (whole or 1-2 bytes of it; kept only if negotiated) */
        unsigned char b[4];
        uint32_t v = tg_chance(r, 30) ? 0u : (uint32_t)tg_rnd(r), len = 1u + tg_below(r, 4);
        b[0] = (unsigned char)v;
        b[1] = (unsigned char)(v >> 8);
        b[2] = (unsigned char)(v >> 16);
        b[3] = (unsigned char)(v >> 24);
        vb_config_write(&T.dev, 12u + tg_below(r, 5 - len), b, len);
        break;
    }
    default: return p_roundtrip(r);
    }
    return 0;
}

/* ---- interleavings ------------------------------------------------------------------------- */

static void p_config(tg_rng *r)
{
    static const unsigned keys[5] = {16, 10, 8, 7, 6};
    memset(&pcfg, 0, sizeof pcfg);
    pcfg.profile = tg_chance(r, 50) ? VB_PROFILE_QEMU : VB_PROFILE_DOC;
    pcfg.stat_keys = keys[tg_below(r, 5)];
    pcfg.queue_size = 2u << tg_below(r, 8); /* 2 .. 256: the guest's rings are 16 KiB apart */
    pcfg.options = tg_below(r, 32);
    if (tg_chance(r, 50)) /* FREE_PAGE_HINT, PAGE_POISON, REPORTING (REPORTING needs queues of 32) */
        pcfg.options |= (tg_below(r, 8) << 5) & (pcfg.queue_size >= VB_REPORTING_QUEUE_MIN ? 0xe0u : 0x60u);
    pcfg.poll_interval_s = tg_below(r, 3);
    pcfg.ram_size = tg_chance(r, 20) ? 0 : (uint64_t)1 << 30;
}

/* A new device and a fresh guest (its rings zeroed; data left over is only ever read after
   the guest wrote it, or as a hostile guest's garbage). */
static int p_create(tg_rng *r)
{
    unsigned q;
    p_config(r);
    memset(T.mem + TG_RING(0), 0, P_RINGS);
    memset(&T.deny_lo, 0, sizeof T - offsetof(tg, deny_lo));
    T.now_ms = 1000u + tg_below(r, 100000);
    T.wall = 1358529861;
    T.next_data = TG_DATA;
    for (q = 0; q < VB_QUEUE_COUNT; q++) T.qsize[q] = (uint16_t)pcfg.queue_size;
    p_nhist = 0;
    return vb_init(&T.dev, &pcfg, &p_host, &T) == VB_OK ? 0 : -1;
}

/* Action weights: guest actions g_step 0-12, then host actions h_step 0-18. */
#define P_GUEST_ACTIONS 13u
static const unsigned char p_weight[P_GUEST_ACTIONS + 19u] = {
    4, 12, 8, 3, 3, 2, 3, 2, 3, 1, 2, 8, 8, /* guest: bring-up, stats x2, pfns, kick, used, avail,
                                              smaller, stop, actual, hostile, deny, poll answer */
    3, 3, 2, 3, 3, 1, 1, 1, 1, 1, 4, 4, 3, 1, 1, 2, 3, 2, 8}; /* host: target, interval, setup,
              base, ready, reset, machine reset, status, features, break, timer x2, work, ram, save,
              load an old blob, hint start/stop/done, poison_val, round trip */

static unsigned p_pick(tg_rng *r)
{
    unsigned total = 0, i, x;
    for (i = 0; i < sizeof p_weight; i++) total += p_weight[i];
    x = tg_below(r, total);
    for (i = 0; x >= p_weight[i]; i++) x -= p_weight[i];
    return i;
}

static int p_interleaving(uint64_t seed)
{
    tg_rng r;
    unsigned steps, i;
    r.s = seed;
    if (p_create(&r)) {
        snprintf(p_why, sizeof p_why, "vb_init failed");
        return -1;
    }
    if (tg_chance(&r, 80)) g_bringup(&r);
    steps = 1u + tg_below(&r, 40);
    for (i = 0; i < steps; i++) {
        unsigned a = p_pick(&r), guest = a < P_GUEST_ACTIONS;
        int bad;
        T.wall++;
        bad = guest ? g_step(&r, a) : h_step(&r, a - P_GUEST_ACTIONS);
        PTRACE("step %u: %s %u -> status %#x broken %d bases %u/%u/%u used %u/%u/%u\n", i,
               guest ? "guest" : "host", guest ? a : a - P_GUEST_ACTIONS,
               vb_status(&T.dev), vb_is_broken(&T.dev), vb_queue_base(&T.dev, 0), vb_queue_base(&T.dev, 1),
               vb_queue_base(&T.dev, 2), vb_queue_state(&T.dev, 0)->used_idx,
               vb_queue_state(&T.dev, 1)->used_idx, vb_queue_state(&T.dev, 2)->used_idx);
        if (bad) {
            char tmp[sizeof p_why];
            memcpy(tmp, p_why, sizeof tmp);
            snprintf(p_why, sizeof p_why, "step %u: %.200s", i, tmp);
            return -1;
        }
    }
    return p_roundtrip(&r); /* and always at the end */
}

static unsigned long p_env(const char *name, unsigned long dflt)
{
    const char *s = getenv(name);
    return s && *s ? strtoul(s, NULL, 0) : dflt;
}

TEST snapshot_round_trip_property(void)
{
    const char *preload = getenv("LD_PRELOAD"); /* valgrind's tools preload vgpreload_*.so */
    int valgrind = preload && strstr(preload, "vgpreload");
    unsigned long n = p_env("VB_SNAP_INTERLEAVINGS", valgrind ? 10000 : 100000), i;
    const char *replay = getenv("VB_SNAP_REPLAY");
    tg_rng seeds;
    p_host = tg_host;
    p_host.write = p_write;
    p_roundtrips = p_rewinds = p_broken_rt = p_held_rt = p_gap_rt = p_more_rt = p_hint_rt = p_poison_rt = 0;
    memset(p_kinds, 0, sizeof p_kinds);
    if (replay && *replay) {
        p_trace = 1;
        if (p_interleaving((uint64_t)strtoull(replay, NULL, 0))) FAILm(p_why);
        p_trace = 0;
        PASS();
    }
    seeds.s = (uint64_t)p_env("VB_SNAP_SEED", 0x5A4B5407u);
    for (i = 0; i < n; i++) {
        uint64_t seed = tg_rnd(&seeds);
        if (p_interleaving(seed)) {
            fprintf(stdout, "\n  interleaving %lu, seed %#llx (VB_SNAP_REPLAY=%#llx): %s\n", i,
                    (unsigned long long)seed, (unsigned long long)seed, p_why);
            FAILm(p_why);
        }
    }
    /* the interleavings reached the interesting states */
    if (getenv("VB_SNAP_STATS"))
        printf("\n  %lu round trips: %lu rewinds (%lu re-read, %lu empty, %lu broke), %lu broken, "
               "%lu held, %lu with a gap over the queue size, %lu with work left, %lu hinting, "
               "%lu with poison_val\n",
               p_roundtrips, p_rewinds, p_kinds[0], p_kinds[1], p_kinds[2], p_broken_rt, p_held_rt,
               p_gap_rt, p_more_rt, p_hint_rt, p_poison_rt);
    ASSERT(p_roundtrips >= n);
    ASSERT(n < 1000 || (p_kinds[0] && p_kinds[1] && p_kinds[2] && p_broken_rt && p_held_rt && p_gap_rt &&
                        p_more_rt && p_hint_rt && p_poison_rt));
    PASS();
}

SUITE(device)
{
    RUN_TEST(snapshot_round_trip_property);
    RUN_TEST(reentrant_calls_are_refused);
    RUN_TEST(qmp_changes_from_inside_a_callback_are_refused);
    RUN_TEST(timer_fired_from_inside_timer_arm_is_refused);
    RUN_TEST(read_only_calls_from_inside_a_callback);
    RUN_TEST(two_devices_are_independent);
    RUN_TEST(snapshot_of_stopped_queues_always_loads);
    RUN_TEST(features_default_offer);
    RUN_TEST(features_per_option);
    RUN_TEST(features_unknown_bits_refuse_features_ok);
    RUN_TEST(features_not_offered_by_option_are_unknown);
    RUN_TEST(features_ignored_after_features_ok);
    RUN_TEST(status_reads_back);
    RUN_TEST(status_zero_is_a_virtio_reset);
    RUN_TEST(needs_reset_not_writable_by_driver);
    RUN_TEST(needs_reset_stays_until_reset);
    RUN_TEST(needs_reset_hidden_from_legacy_guests);
    RUN_TEST(ring_error_bumps_config_generation);
    RUN_TEST(queue_setup_sizes);
    RUN_TEST(queue_setup_alignment);
    RUN_TEST(queue_setup_refuses_rings_that_wrap);
    RUN_TEST(queue_setup_on_ready_queue_is_a_state_error);
    RUN_TEST(queue_bad_index);
    RUN_TEST(queue_setup_failure_changes_nothing);
    RUN_TEST(queue_size_max_follows_config);
    RUN_TEST(queue_set_base_and_base);
    RUN_TEST(queue_stop_and_restart_continues);
    RUN_TEST(config_read_every_offset_and_length);
    RUN_TEST(config_read_out_of_range_is_zeros);
    RUN_TEST(config_little_endian_for_big_endian_legacy_guest);
    RUN_TEST(config_driver_writes_actual_not_num_pages);
    RUN_TEST(config_partial_writes_of_actual);
    RUN_TEST(actual_changed_only_on_change);
    RUN_TEST(set_target_interrupts_only_with_driver_ok);
    RUN_TEST(set_target_same_value_notifies_again);
    RUN_TEST(config_generation_wraps);
    RUN_TEST(virtio_reset_keeps_target_and_actual);
    RUN_TEST(machine_reset_zeroes_actual_keeps_target);
    RUN_TEST(wakeup_reset_keeps_everything);
    RUN_TEST(init_null_arguments);
    RUN_TEST(null_pointers_as_documented);
    RUN_TEST(init_missing_required_callbacks);
    RUN_TEST(init_stat_keys);
    RUN_TEST(init_queue_size);
    RUN_TEST(init_bad_profile_and_options);
    RUN_TEST(init_defaults_without_config);
    RUN_TEST(init_failure_has_no_side_effects);
    RUN_TEST(init_poll_interval_arms_at_once);
    RUN_TEST(host_without_timer_callbacks_polls_deadline);
    RUN_TEST(host_without_wall_clock);
    RUN_TEST(minimal_host_full_cycle);
    RUN_TEST(snapshot_round_trip);
    RUN_TEST(snapshot_restored_device_continues);
    RUN_TEST(snapshot_of_broken_device);
    RUN_TEST(snapshot_save_needs_room);
    RUN_TEST(snapshot_rejects_wrong_size);
    RUN_TEST(snapshot_rejects_bad_magic);
    RUN_TEST(snapshot_rejects_bad_version);
    RUN_TEST(snapshot_rejects_bad_size_field);
    RUN_TEST(snapshot_rejects_bad_checksum);
    RUN_TEST(snapshot_rejects_features_not_offered);
    RUN_TEST(snapshot_rejects_feature_a_destination_does_not_offer);
    RUN_TEST(snapshot_rejects_bad_status_and_flags);
    RUN_TEST(snapshot_rejects_queue_size);
    RUN_TEST(snapshot_rejects_queue_larger_than_max);
    RUN_TEST(snapshot_rejects_misaligned_rings);
    RUN_TEST(snapshot_rejects_rings_that_wrap);
    RUN_TEST(snapshot_rejects_too_many_in_flight);
    RUN_TEST(snapshot_carries_refused_features);
    RUN_TEST(snapshot_rejects_nonzero_reserved_bytes);
    RUN_TEST(result_strings);
    RUN_TEST(version_string);
    RUN_TEST(counters);
    RUN_TEST(timer_with_stopped_stats_queue);
    RUN_TEST(destroy_cancels_only_an_armed_timer);
}
