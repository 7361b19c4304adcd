/* The device around the rings: features, status, queue setup, config space, the target,
   resets, vb_init's validation, hosts without optional callbacks, snapshots (round trip and
   every reject, with the device unchanged byte for byte), and the small API functions. */
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
#define PAGE 4096u

static const vb_config cfg = {VB_PROFILE_QEMU, 0, 0, 0, 0, 0, 0};
static const vb_config be_cfg = {VB_PROFILE_QEMU, 0, 0, VB_OPT_GUEST_BIG_ENDIAN, 0, 0, 0};

#define DEFAULT_OFFER                                                                      \
    (TG_F(VB_F_STATS_VQ) | TG_F(VB_F_VERSION_1) | TG_F(VB_F_RING_EVENT_IDX) |              \
     TG_F(VB_F_RING_INDIRECT_DESC))

static const vb_host no_timer_host = {tg_read,  tg_write, tg_now,    NULL,
                                      NULL,     tg_wall,  tg_notify, tg_notify_config,
                                      tg_pages, tg_actual, tg_log};
static const vb_host no_wall_host = {tg_read,   tg_write, tg_now,    tg_arm,
                                     tg_cancel, NULL,     tg_notify, tg_notify_config,
                                     tg_pages,  tg_actual, tg_log};
static const vb_host minimal_host = {tg_read, tg_write,  tg_now, NULL, NULL, NULL,
                                     tg_notify, tg_notify_config, NULL, NULL, NULL};

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
    c.options = 0x20;
    ASSERT_EQ(VB_ERR_ARG, vb_init(&T.dev, &c, &tg_host, &T));
    c.options = 0x1f;
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
    ASSERT_EQ(UINT64_MAX, vb_next_deadline(&T.dev)); /* waits for the guest */
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
    for (i = 0; i < 140; i++) h = (h ^ b[i]) * 16777619u;
    b[140] = (unsigned char)h;
    b[141] = (unsigned char)(h >> 8);
    b[142] = (unsigned char)(h >> 16);
    b[143] = (unsigned char)(h >> 24);
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
    unsigned char buf[200];
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

#define Q(i) (28u + 36u * (i)) /* queue i's record */

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
    static const mutation m[3] = {{4, 0}, {4, 2}, {5, 1}};
    return reject_all(m, 3, 1);
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
    static const mutation m[5] = {{16, 0x0f | VB_S_NEEDS_RESET}, {17, 2}, {17, 0x80}, {Q(0) + 30, 2},
                                  {Q(2) + 30, 0xff}};
    return reject_all(m, 5, 1);
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

TEST snapshot_rejects_nonzero_reserved_bytes(void)
{
    static const mutation m[12] = {{18, 1},          {19, 0x80},       {136, 1},         {137, 1},
                                   {138, 1},         {139, 0xff},      {Q(0) + 31, 1},   {Q(0) + 35, 1},
                                   {Q(1) + 32, 1},   {Q(1) + 33, 1},   {Q(2) + 34, 1},   {Q(2) + 31, 0xff}};
    return reject_all(m, 12, 1);
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

SUITE(device)
{
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
    RUN_TEST(snapshot_rejects_nonzero_reserved_bytes);
    RUN_TEST(result_strings);
    RUN_TEST(version_string);
    RUN_TEST(counters);
    RUN_TEST(timer_with_stopped_stats_queue);
    RUN_TEST(destroy_cancels_only_an_armed_timer);
}
