/* The virtio-mmio transport (VB_WITH_MMIO): every register read and write, every invalid access,
   feature negotiation through the selectors, queue bring-up through registers, a full stats
   round trip with InterruptStatus and the line, reset through Status 0. The device's notify
   callbacks are routed to vb_mmio_interrupt, as a VMM does. The implementation must be compiled
   with VB_WITH_MMIO too (tests/vb_impl.c); here it makes the declarations visible. */
#define VB_WITH_MMIO
#include <stdio.h>
#include <string.h>

#include <greatest.h>
#include "guest.h"

static tg T;
static vb_mmio M;
static int irq_level, irq_calls;

static void m_notify(void *user, unsigned q)
{
    tg_notify(user, q);
    vb_mmio_interrupt(&M, VB_MMIO_INT_VRING);
}

static void m_notify_config(void *user)
{
    tg_notify_config(user);
    vb_mmio_interrupt(&M, VB_MMIO_INT_CONFIG);
}

static const vb_host m_host = {tg_read, tg_write, tg_now,   tg_arm,    tg_cancel, tg_wall,
                               m_notify, m_notify_config, tg_pages, tg_actual, tg_log, NULL, 0};

static void m_irq(void *user, int level)
{
    (void)user;
    irq_level = level;
    irq_calls++;
}

static int setup(const vb_config *cfg)
{
    if (tg_create(&T, cfg) || vb_init(&T.dev, cfg, &m_host, &T) != VB_OK) return -1;
    irq_level = irq_calls = 0;
    vb_mmio_init(&M, &T.dev, m_irq, &T);
    return 0;
}

static uint32_t R(uint32_t off) { return vb_mmio_read(&M, off, 4); }
static void W(uint32_t off, uint32_t v) { vb_mmio_write(&M, off, v, 4); }

#define F(bit) ((uint64_t)1 << (bit))
#define LINUX_MMIO_FEATURES (F(VB_F_VERSION_1) | F(VB_F_STATS_VQ))
#define S_UP (VB_S_ACKNOWLEDGE | VB_S_DRIVER)

static void write_features(uint64_t features)
{
    W(VB_MMIO_DRIVER_FEATURES_SEL, 1); /* high word first, as Linux */
    W(VB_MMIO_DRIVER_FEATURES, (uint32_t)(features >> 32));
    W(VB_MMIO_DRIVER_FEATURES_SEL, 0);
    W(VB_MMIO_DRIVER_FEATURES, (uint32_t)features);
}

/* vm_setup_vq(): select, check not ready, size, three address pairs, ready. */
static int mmio_queue(unsigned q, uint16_t size)
{
    uint64_t desc, avail, used;
    T.qsize[q] = size;
    T.avail_idx[q] = T.used_seen[q] = 0;
    desc = tg_desc_addr(q);
    avail = tg_avail_addr(&T, q);
    used = tg_used_addr(&T, q);
    W(VB_MMIO_QUEUE_SEL, q);
    if (R(VB_MMIO_QUEUE_READY) || R(VB_MMIO_QUEUE_NUM_MAX) < size) return -1;
    W(VB_MMIO_QUEUE_NUM, size);
    W(VB_MMIO_QUEUE_DESC_LOW, (uint32_t)desc);
    W(VB_MMIO_QUEUE_DESC_HIGH, (uint32_t)(desc >> 32));
    W(VB_MMIO_QUEUE_AVAIL_LOW, (uint32_t)avail);
    W(VB_MMIO_QUEUE_AVAIL_HIGH, (uint32_t)(avail >> 32));
    W(VB_MMIO_QUEUE_USED_LOW, (uint32_t)used);
    W(VB_MMIO_QUEUE_USED_HIGH, (uint32_t)(used >> 32));
    W(VB_MMIO_QUEUE_READY, 1);
    return R(VB_MMIO_QUEUE_READY) == 1 ? 0 : -1;
}

/* The Linux driver's probe through the registers, up to DRIVER_OK. */
static int mmio_probe(uint64_t features)
{
    unsigned q;
    W(VB_MMIO_STATUS, 0);
    W(VB_MMIO_STATUS, VB_S_ACKNOWLEDGE);
    W(VB_MMIO_STATUS, S_UP);
    write_features(features);
    W(VB_MMIO_STATUS, S_UP | VB_S_FEATURES_OK);
    if (!(R(VB_MMIO_STATUS) & VB_S_FEATURES_OK)) return -1;
    for (q = 0; q < VB_QUEUE_COUNT; q++)
        if (mmio_queue(q, 128)) return -1;
    W(VB_MMIO_STATUS, S_UP | VB_S_FEATURES_OK | VB_S_DRIVER_OK);
    return 0;
}

static int start(void) { return setup(NULL) || mmio_probe(LINUX_MMIO_FEATURES); }

TEST identification_registers(void)
{
    ASSERT_EQ(0, setup(NULL));
    ASSERT_EQ(0x74726976u, R(VB_MMIO_MAGIC_VALUE));
    ASSERT_EQ(2u, R(VB_MMIO_VERSION));
    ASSERT_EQ(5u, R(VB_MMIO_DEVICE_ID));
    ASSERT_EQ(0x554D4551u, R(VB_MMIO_VENDOR_ID));
    M.vendor_id = 0x1af4;
    ASSERT_EQ(0x1af4u, R(VB_MMIO_VENDOR_ID));
    ASSERT_EQ(0u, R(VB_MMIO_STATUS));
    ASSERT_EQ(0u, R(VB_MMIO_INTERRUPT_STATUS));
    ASSERT_EQ(0u, R(VB_MMIO_CONFIG_GENERATION));
    vb_set_target_pages(&T.dev, 1);
    ASSERT_EQ((uint32_t)vb_config_generation(&T.dev), R(VB_MMIO_CONFIG_GENERATION));
    ASSERT_EQ(1u, R(VB_MMIO_CONFIG_GENERATION));
    ASSERT_EQ(0u, M.bad_accesses);
    PASS();
}

TEST device_features_through_the_selector(void)
{
    uint64_t f;
    ASSERT_EQ(0, setup(NULL));
    f = vb_host_features(&T.dev);
    ASSERT_EQ((uint32_t)f, R(VB_MMIO_DEVICE_FEATURES)); /* selector 0 after reset */
    W(VB_MMIO_DEVICE_FEATURES_SEL, 1);
    ASSERT_EQ((uint32_t)(f >> 32), R(VB_MMIO_DEVICE_FEATURES));
    ASSERT_EQ(1u, R(VB_MMIO_DEVICE_FEATURES) & 1u); /* VERSION_1 (bit 32) */
    W(VB_MMIO_DEVICE_FEATURES_SEL, 2);                /* bits 64..95 do not exist */
    ASSERT_EQ(0u, R(VB_MMIO_DEVICE_FEATURES));
    W(VB_MMIO_DEVICE_FEATURES_SEL, 0);
    ASSERT(R(VB_MMIO_DEVICE_FEATURES) & (1u << VB_F_STATS_VQ));
    ASSERT_EQ(0u, M.bad_accesses);
    PASS();
}

TEST driver_features_accumulate_and_apply_at_features_ok(void)
{
    ASSERT_EQ(0, setup(NULL));
    W(VB_MMIO_STATUS, S_UP);
    write_features(LINUX_MMIO_FEATURES);
    ASSERT_EQ(0u, (unsigned)vb_driver_features(&T.dev)); /* nothing before FEATURES_OK */
    W(VB_MMIO_STATUS, S_UP | VB_S_FEATURES_OK);
    ASSERT_EQ(LINUX_MMIO_FEATURES, vb_driver_features(&T.dev));
    ASSERT_EQ((uint32_t)(S_UP | VB_S_FEATURES_OK), R(VB_MMIO_STATUS));
    /* after FEATURES_OK the features are fixed: a write is ignored and counted */
    W(VB_MMIO_DRIVER_FEATURES_SEL, 0);
    W(VB_MMIO_DRIVER_FEATURES, 0);
    ASSERT_EQ(1u, M.bad_accesses);
    ASSERT_EQ(VB_MMIO_DRIVER_FEATURES, M.last_bad_offset);
    ASSERT_EQ(LINUX_MMIO_FEATURES, vb_driver_features(&T.dev));
    PASS();
}

TEST driver_features_selector_beyond_64_bits(void)
{
    ASSERT_EQ(0, setup(NULL));
    W(VB_MMIO_STATUS, S_UP);
    W(VB_MMIO_DRIVER_FEATURES_SEL, 2);
    W(VB_MMIO_DRIVER_FEATURES, 0xffffffffu);
    ASSERT_EQ(1u, M.bad_accesses);
    write_features(LINUX_MMIO_FEATURES);
    W(VB_MMIO_STATUS, S_UP | VB_S_FEATURES_OK);
    ASSERT_EQ(LINUX_MMIO_FEATURES, vb_driver_features(&T.dev));
    PASS();
}

TEST features_ok_refused_without_version_1(void)
{
    ASSERT_EQ(0, setup(NULL));
    W(VB_MMIO_STATUS, S_UP);
    write_features(F(VB_F_STATS_VQ));
    W(VB_MMIO_STATUS, S_UP | VB_S_FEATURES_OK);
    ASSERT_EQ((uint32_t)S_UP, R(VB_MMIO_STATUS)); /* the driver reads it back and gives up */
    PASS();
}

TEST features_ok_refused_for_features_not_offered(void)
{
    ASSERT_EQ(0, setup(NULL));
    W(VB_MMIO_STATUS, S_UP);
    write_features(LINUX_MMIO_FEATURES | F(3) /* FREE_PAGE_HINT */);
    W(VB_MMIO_STATUS, S_UP | VB_S_FEATURES_OK);
    ASSERT_FALSE(R(VB_MMIO_STATUS) & VB_S_FEATURES_OK);
    ASSERT_EQ(1u, T.log_count[VB_LOG_BAD_FEATURES]);
    PASS();
}

TEST queue_bring_up_through_registers(void)
{
    unsigned q;
    ASSERT_EQ(0, start());
    ASSERT_EQ((uint32_t)(S_UP | VB_S_FEATURES_OK | VB_S_DRIVER_OK), R(VB_MMIO_STATUS));
    for (q = 0; q < VB_QUEUE_COUNT; q++) {
        W(VB_MMIO_QUEUE_SEL, q);
        ASSERT_EQ(128u, R(VB_MMIO_QUEUE_NUM_MAX));
        ASSERT_EQ(1u, R(VB_MMIO_QUEUE_READY));
        ASSERT_EQ(1, vb_queue_state(&T.dev, q)->ready);
        ASSERT_EQ(128, vb_queue_state(&T.dev, q)->size);
        ASSERT_EQ(tg_desc_addr(q), vb_queue_state(&T.dev, q)->desc);
        ASSERT_EQ(tg_avail_addr(&T, q), vb_queue_state(&T.dev, q)->avail);
        ASSERT_EQ(tg_used_addr(&T, q), vb_queue_state(&T.dev, q)->used);
    }
    ASSERT_EQ(0u, M.bad_accesses);
    PASS();
}

TEST queue_high_address_words(void)
{
    ASSERT_EQ(0, setup(NULL));
    W(VB_MMIO_STATUS, S_UP);
    W(VB_MMIO_QUEUE_SEL, 1);
    W(VB_MMIO_QUEUE_NUM, 16);
    W(VB_MMIO_QUEUE_DESC_LOW, 0x1000);
    W(VB_MMIO_QUEUE_DESC_HIGH, 0x12);
    W(VB_MMIO_QUEUE_AVAIL_LOW, 0x2000);
    W(VB_MMIO_QUEUE_AVAIL_HIGH, 0x34);
    W(VB_MMIO_QUEUE_USED_LOW, 0x3000);
    W(VB_MMIO_QUEUE_USED_HIGH, 0x56);
    W(VB_MMIO_QUEUE_DESC_LOW, 0x1100); /* a second write replaces only its half */
    W(VB_MMIO_QUEUE_READY, 1);          /* used->idx is outside RAM: the device breaks */
    ASSERT_EQ(UINT64_C(0x1200001100), vb_queue_state(&T.dev, 1)->desc);
    ASSERT_EQ(UINT64_C(0x3400002000), vb_queue_state(&T.dev, 1)->avail);
    ASSERT_EQ(UINT64_C(0x5600003000), vb_queue_state(&T.dev, 1)->used);
    ASSERT_EQ(16, vb_queue_state(&T.dev, 1)->size);
    PASS();
}

TEST queue_num_defaults_to_the_maximum(void)
{
    ASSERT_EQ(0, setup(NULL));
    W(VB_MMIO_STATUS, S_UP);
    W(VB_MMIO_QUEUE_SEL, 2);
    W(VB_MMIO_QUEUE_DESC_LOW, 0x1000);
    W(VB_MMIO_QUEUE_AVAIL_LOW, 0x2000);
    W(VB_MMIO_QUEUE_USED_LOW, 0x3000);
    W(VB_MMIO_QUEUE_READY, 1);
    ASSERT_EQ(1u, R(VB_MMIO_QUEUE_READY));
    ASSERT_EQ(128, vb_queue_state(&T.dev, 2)->size);
    PASS();
}

TEST queue_ready_zero_stops_and_allows_reconfiguration(void)
{
    ASSERT_EQ(0, start());
    W(VB_MMIO_QUEUE_SEL, 0);
    W(VB_MMIO_QUEUE_READY, 0);
    ASSERT_EQ(0u, R(VB_MMIO_QUEUE_READY));
    ASSERT_EQ(0, vb_queue_state(&T.dev, 0)->ready);
    W(VB_MMIO_QUEUE_NUM, 64);
    W(VB_MMIO_QUEUE_READY, 1);
    ASSERT_EQ(1u, R(VB_MMIO_QUEUE_READY));
    ASSERT_EQ(64, vb_queue_state(&T.dev, 0)->size);
    W(VB_MMIO_QUEUE_READY, 1); /* again: nothing changes */
    ASSERT_EQ(64, vb_queue_state(&T.dev, 0)->size);
    ASSERT_EQ(0u, M.bad_accesses);
    PASS();
}

TEST queue_registers_ignored_while_ready(void)
{
    static const uint32_t regs[] = {VB_MMIO_QUEUE_NUM,       VB_MMIO_QUEUE_DESC_LOW, VB_MMIO_QUEUE_DESC_HIGH,
                                    VB_MMIO_QUEUE_AVAIL_LOW, VB_MMIO_QUEUE_AVAIL_HIGH,
                                    VB_MMIO_QUEUE_USED_LOW,  VB_MMIO_QUEUE_USED_HIGH};
    unsigned i;
    ASSERT_EQ(0, start());
    W(VB_MMIO_QUEUE_SEL, 2);
    for (i = 0; i < sizeof regs / sizeof regs[0]; i++) {
        W(regs[i], 0x40);
        ASSERT_EQ(i + 1u, M.bad_accesses);
        ASSERT_EQ(regs[i], M.last_bad_offset);
    }
    /* and a stop + start uses the values staged before the queue became ready */
    W(VB_MMIO_QUEUE_READY, 0);
    W(VB_MMIO_QUEUE_READY, 1);
    ASSERT_EQ(128, vb_queue_state(&T.dev, 2)->size);
    ASSERT_EQ(tg_desc_addr(2), vb_queue_state(&T.dev, 2)->desc);
    ASSERT_EQ(0, vb_is_broken(&T.dev));
    PASS();
}

TEST queue_ready_refused_setup_needs_reset(void)
{
    ASSERT_EQ(0, setup(NULL));
    W(VB_MMIO_STATUS, S_UP);
    write_features(LINUX_MMIO_FEATURES);
    W(VB_MMIO_STATUS, S_UP | VB_S_FEATURES_OK);
    W(VB_MMIO_QUEUE_SEL, 0);
    W(VB_MMIO_QUEUE_NUM, 100); /* not a power of two */
    W(VB_MMIO_QUEUE_DESC_LOW, 0x1000);
    W(VB_MMIO_QUEUE_AVAIL_LOW, 0x2000);
    W(VB_MMIO_QUEUE_USED_LOW, 0x3000);
    W(VB_MMIO_QUEUE_READY, 1);
    ASSERT_EQ(0u, R(VB_MMIO_QUEUE_READY));
    ASSERT_EQ(VB_MMIO_QUEUE_READY, M.last_bad_offset);
    ASSERT(R(VB_MMIO_STATUS) & VB_S_NEEDS_RESET);
    ASSERT_EQ(0u, R(VB_MMIO_INTERRUPT_STATUS)); /* before DRIVER_OK: no config interrupt */
    W(VB_MMIO_QUEUE_NUM, 64);
    W(VB_MMIO_QUEUE_READY, 1); /* still broken: the queue starts, the device stays stopped */
    ASSERT(R(VB_MMIO_STATUS) & VB_S_NEEDS_RESET);
    /* only a reset clears it */
    W(VB_MMIO_STATUS, 0);
    ASSERT_EQ(0u, R(VB_MMIO_STATUS));
    ASSERT_EQ(0, vb_is_broken(&T.dev));
    ASSERT_EQ(0, irq_level);
    PASS();
}

TEST queue_ready_refused_for_bad_sizes_and_alignment(void)
{
    static const struct { uint32_t num, desc; } cases[] = {
        {0, 0x1000}, {256, 0x1000}, {0x10000, 0x1000}, {3, 0x1000}, {16, 0x1008}};
    unsigned i;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ASSERT_EQ(0, setup(NULL));
        W(VB_MMIO_QUEUE_SEL, 1);
        W(VB_MMIO_QUEUE_NUM, cases[i].num);
        W(VB_MMIO_QUEUE_DESC_LOW, cases[i].desc);
        W(VB_MMIO_QUEUE_AVAIL_LOW, 0x2000);
        W(VB_MMIO_QUEUE_USED_LOW, 0x3000);
        W(VB_MMIO_QUEUE_READY, 1);
        ASSERT_EQ(0u, R(VB_MMIO_QUEUE_READY));
        ASSERT_EQ(1, vb_is_broken(&T.dev));
        ASSERT_EQ(1u, M.bad_accesses);
    }
    /* QueueReady takes 0 or 1 only */
    ASSERT_EQ(0, setup(NULL));
    W(VB_MMIO_QUEUE_READY, 2);
    ASSERT_EQ(0u, R(VB_MMIO_QUEUE_READY));
    ASSERT_EQ(0, vb_is_broken(&T.dev));
    ASSERT_EQ(1u, M.bad_accesses);
    PASS();
}

TEST queue_select_out_of_range(void)
{
    static const uint32_t regs[] = {VB_MMIO_QUEUE_NUM,      VB_MMIO_QUEUE_READY,     VB_MMIO_QUEUE_DESC_LOW,
                                    VB_MMIO_QUEUE_DESC_HIGH, VB_MMIO_QUEUE_AVAIL_LOW, VB_MMIO_QUEUE_AVAIL_HIGH,
                                    VB_MMIO_QUEUE_USED_LOW, VB_MMIO_QUEUE_USED_HIGH};
    unsigned i;
    ASSERT_EQ(0, setup(NULL));
    W(VB_MMIO_QUEUE_SEL, 3);
    /* how a driver probes for a queue: both read 0, neither is an error */
    ASSERT_EQ(0u, R(VB_MMIO_QUEUE_NUM_MAX));
    ASSERT_EQ(0u, R(VB_MMIO_QUEUE_READY));
    ASSERT_EQ(0u, M.bad_accesses);
    for (i = 0; i < sizeof regs / sizeof regs[0]; i++) W(regs[i], 1);
    ASSERT_EQ((unsigned)(sizeof regs / sizeof regs[0]), M.bad_accesses);
    W(VB_MMIO_QUEUE_SEL, 0xffffffffu);
    ASSERT_EQ(0u, R(VB_MMIO_QUEUE_NUM_MAX));
    W(VB_MMIO_QUEUE_READY, 1);
    for (i = 0; i < VB_QUEUE_COUNT; i++) ASSERT_EQ(0, vb_queue_state(&T.dev, i)->ready);
    ASSERT_EQ(0, vb_is_broken(&T.dev));
    PASS();
}

TEST queue_notify_invalid_queues(void)
{
    ASSERT_EQ(0, setup(NULL));
    W(VB_MMIO_QUEUE_NOTIFY, 2); /* not ready: the device logs it, the transport counts it */
    ASSERT_EQ(1u, M.bad_accesses);
    ASSERT_EQ(1u, T.log_count[VB_LOG_QUEUE_NOT_READY]);
    W(VB_MMIO_QUEUE_NOTIFY, 3);
    W(VB_MMIO_QUEUE_NOTIFY, 0xffffffffu);
    ASSERT_EQ(3u, M.bad_accesses);
    ASSERT_EQ(0u, T.reads);
    PASS();
}

TEST read_only_registers_ignore_writes(void)
{
    static const uint32_t regs[] = {VB_MMIO_MAGIC_VALUE,   VB_MMIO_VERSION,         VB_MMIO_DEVICE_ID,
                                    VB_MMIO_VENDOR_ID,     VB_MMIO_DEVICE_FEATURES, VB_MMIO_QUEUE_NUM_MAX,
                                    VB_MMIO_INTERRUPT_STATUS, VB_MMIO_SHM_LEN_LOW, VB_MMIO_SHM_LEN_HIGH,
                                    VB_MMIO_SHM_BASE_LOW,  VB_MMIO_SHM_BASE_HIGH,   VB_MMIO_CONFIG_GENERATION};
    unsigned i;
    ASSERT_EQ(0, setup(NULL));
    vb_mmio_interrupt(&M, VB_MMIO_INT_VRING);
    for (i = 0; i < sizeof regs / sizeof regs[0]; i++) {
        W(regs[i], 0);
        ASSERT_EQ(i + 1u, M.bad_accesses);
        ASSERT_EQ(regs[i], M.last_bad_offset);
    }
    ASSERT_EQ(0x74726976u, R(VB_MMIO_MAGIC_VALUE));
    ASSERT_EQ(VB_MMIO_INT_VRING, R(VB_MMIO_INTERRUPT_STATUS));
    ASSERT_EQ(128u, R(VB_MMIO_QUEUE_NUM_MAX));
    PASS();
}

TEST write_only_registers_read_zero(void)
{
    static const uint32_t regs[] = {VB_MMIO_DEVICE_FEATURES_SEL, VB_MMIO_DRIVER_FEATURES,
                                    VB_MMIO_DRIVER_FEATURES_SEL, VB_MMIO_QUEUE_SEL,
                                    VB_MMIO_QUEUE_NUM,           VB_MMIO_QUEUE_NOTIFY,
                                    VB_MMIO_INTERRUPT_ACK,       VB_MMIO_QUEUE_DESC_LOW,
                                    VB_MMIO_QUEUE_DESC_HIGH,     VB_MMIO_QUEUE_AVAIL_LOW,
                                    VB_MMIO_QUEUE_AVAIL_HIGH,    VB_MMIO_QUEUE_USED_LOW,
                                    VB_MMIO_QUEUE_USED_HIGH,     VB_MMIO_SHM_SEL};
    unsigned i;
    ASSERT_EQ(0, start());
    W(VB_MMIO_QUEUE_SEL, 1);
    for (i = 0; i < sizeof regs / sizeof regs[0]; i++) {
        ASSERT_EQ(0u, R(regs[i]));
        ASSERT_EQ(i + 1u, M.bad_accesses);
        ASSERT_EQ(regs[i], M.last_bad_offset);
    }
    PASS();
}

TEST reserved_offsets_and_legacy_registers(void)
{
    static const uint32_t regs[] = {0x018, 0x01c, 0x028, 0x02c, 0x03c, 0x040, 0x048, 0x04c, 0x054,
                                    0x068, 0x074, 0x088, 0x098, 0x0a8, 0x0c0, 0x0f8};
    unsigned i;
    ASSERT_EQ(0, start());
    for (i = 0; i < sizeof regs / sizeof regs[0]; i++) {
        ASSERT_EQ(0u, R(regs[i]));
        W(regs[i], 0xffffffffu);
        ASSERT_EQ(2u * (i + 1u), M.bad_accesses);
    }
    ASSERT_EQ((uint32_t)(S_UP | VB_S_FEATURES_OK | VB_S_DRIVER_OK), R(VB_MMIO_STATUS));
    PASS();
}

TEST bad_widths_offsets_and_alignment(void)
{
    static const unsigned widths[] = {0, 1, 2, 3, 8};
    unsigned i, n = 0;
    ASSERT_EQ(0, setup(NULL));
    for (i = 0; i < sizeof widths / sizeof widths[0]; i++) { /* registers are 32-bit only */
        ASSERT_EQ(0u, vb_mmio_read(&M, VB_MMIO_MAGIC_VALUE, widths[i]));
        vb_mmio_write(&M, VB_MMIO_STATUS, VB_S_ACKNOWLEDGE, widths[i]);
        n += 2;
        ASSERT_EQ(n, M.bad_accesses);
    }
    ASSERT_EQ(0u, R(VB_MMIO_STATUS));
    ASSERT_EQ(0u, vb_mmio_read(&M, VB_MMIO_MAGIC_VALUE + 2, 4)); /* unaligned */
    vb_mmio_write(&M, VB_MMIO_STATUS + 1, 1, 4);
    ASSERT_EQ(0u, R(VB_MMIO_STATUS));
    ASSERT_EQ(0u, vb_mmio_read(&M, VB_MMIO_SIZE, 4)); /* outside the window */
    ASSERT_EQ(0u, vb_mmio_read(&M, UINT64_MAX - 3, 4));
    vb_mmio_write(&M, 0x1000, 1, 4);
    ASSERT_EQ(n + 5u, M.bad_accesses);
    ASSERT_EQ(0x1000u, M.last_bad_offset);
    vb_mmio_read(&M, UINT64_MAX, 1);
    ASSERT_EQ(UINT32_MAX, M.last_bad_offset);
    PASS();
}

TEST config_space_widths(void)
{
    ASSERT_EQ(0, start());
    vb_set_target_pages(&T.dev, 0x12345678u);
    ASSERT_EQ(0x12345678u, vb_mmio_read(&M, VB_MMIO_CONFIG, 4));
    ASSERT_EQ(0x5678u, vb_mmio_read(&M, VB_MMIO_CONFIG, 2));
    ASSERT_EQ(0x1234u, vb_mmio_read(&M, VB_MMIO_CONFIG + 2, 2));
    ASSERT_EQ(0x78u, vb_mmio_read(&M, VB_MMIO_CONFIG, 1));
    ASSERT_EQ(0x12u, vb_mmio_read(&M, VB_MMIO_CONFIG + 3, 1));
    ASSERT_EQ(0x3456u, vb_mmio_read(&M, VB_MMIO_CONFIG + 1, 2)); /* unaligned, as QEMU allows */
    /* actual: the driver's; num_pages: read-only for the driver */
    vb_mmio_write(&M, VB_MMIO_CONFIG + 4, 0x100, 4);
    ASSERT_EQ(0x100u, vb_actual_pages(&T.dev));
    ASSERT_EQ(1u, T.actual_calls);
    vb_mmio_write(&M, VB_MMIO_CONFIG + 6, 0x2, 2);
    ASSERT_EQ(0x20100u, vb_actual_pages(&T.dev));
    vb_mmio_write(&M, VB_MMIO_CONFIG + 4, 0xff, 1);
    ASSERT_EQ(0x201ffu, vb_mmio_read(&M, VB_MMIO_CONFIG + 4, 4));
    vb_mmio_write(&M, VB_MMIO_CONFIG, 0, 4);
    ASSERT_EQ(0x12345678u, vb_target_pages(&T.dev));
    /* past the balloon's 8 bytes: zeros, writes dropped, not errors */
    ASSERT_EQ(0u, vb_mmio_read(&M, VB_MMIO_CONFIG + 8, 4));
    ASSERT_EQ(0u, vb_mmio_read(&M, VB_MMIO_SIZE - 4, 4));
    vb_mmio_write(&M, VB_MMIO_SIZE - 1, 0xff, 1);
    ASSERT_EQ(0u, M.bad_accesses);
    /* bad widths and accesses crossing the end of the window */
    ASSERT_EQ(0u, vb_mmio_read(&M, VB_MMIO_CONFIG, 3));
    ASSERT_EQ(0u, vb_mmio_read(&M, VB_MMIO_CONFIG, 8));
    ASSERT_EQ(0u, vb_mmio_read(&M, VB_MMIO_SIZE - 2, 4));
    vb_mmio_write(&M, VB_MMIO_CONFIG + 4, 0, 3);
    vb_mmio_write(&M, VB_MMIO_SIZE - 1, 0, 2);
    ASSERT_EQ(5u, M.bad_accesses);
    ASSERT_EQ(0x201ffu, vb_actual_pages(&T.dev));
    PASS();
}

TEST shared_memory_regions_do_not_exist(void)
{
    ASSERT_EQ(0, setup(NULL));
    W(VB_MMIO_SHM_SEL, 0);
    ASSERT_EQ(0xffffffffu, R(VB_MMIO_SHM_LEN_LOW));
    ASSERT_EQ(0xffffffffu, R(VB_MMIO_SHM_LEN_HIGH));
    ASSERT_EQ(0xffffffffu, R(VB_MMIO_SHM_BASE_LOW));
    ASSERT_EQ(0xffffffffu, R(VB_MMIO_SHM_BASE_HIGH));
    W(VB_MMIO_SHM_SEL, 7);
    ASSERT_EQ(0xffffffffu, R(VB_MMIO_SHM_LEN_LOW));
    ASSERT_EQ(0u, M.bad_accesses);
    PASS();
}

TEST interrupt_status_ack_and_the_line(void)
{
    ASSERT_EQ(0, setup(NULL));
    vb_mmio_interrupt(&M, VB_MMIO_INT_VRING);
    ASSERT_EQ(1, irq_level);
    ASSERT_EQ(1, irq_calls);
    vb_mmio_interrupt(&M, VB_MMIO_INT_CONFIG | 0xf0u); /* unknown bits are dropped */
    ASSERT_EQ(3u, R(VB_MMIO_INTERRUPT_STATUS));
    ASSERT_EQ(1, irq_calls); /* the level did not change */
    W(VB_MMIO_INTERRUPT_ACK, VB_MMIO_INT_VRING);
    ASSERT_EQ(VB_MMIO_INT_CONFIG, R(VB_MMIO_INTERRUPT_STATUS));
    ASSERT_EQ(1, irq_level); /* a bit remains */
    W(VB_MMIO_INTERRUPT_ACK, 0);
    ASSERT_EQ(1, irq_level);
    W(VB_MMIO_INTERRUPT_ACK, 0xffffffffu);
    ASSERT_EQ(0u, R(VB_MMIO_INTERRUPT_STATUS));
    ASSERT_EQ(0, irq_level);
    ASSERT_EQ(2, irq_calls);
    W(VB_MMIO_INTERRUPT_ACK, VB_MMIO_INT_VRING); /* nothing pending: no call */
    ASSERT_EQ(2, irq_calls);
    PASS();
}

TEST without_an_irq_callback(void)
{
    ASSERT_EQ(0, setup(NULL));
    vb_mmio_init(&M, &T.dev, NULL, NULL);
    vb_mmio_interrupt(&M, VB_MMIO_INT_CONFIG);
    ASSERT_EQ(VB_MMIO_INT_CONFIG, R(VB_MMIO_INTERRUPT_STATUS));
    W(VB_MMIO_INTERRUPT_ACK, VB_MMIO_INT_CONFIG);
    ASSERT_EQ(0u, R(VB_MMIO_INTERRUPT_STATUS));
    ASSERT_EQ(0, irq_calls);
    PASS();
}

/* The whole protocol through the window: primer kick, poll, refill, interval, config change. */
TEST stats_round_trip_through_mmio(void)
{
    static const uint16_t tags[2] = {VB_STAT_MEMFREE, VB_STAT_MEMTOT};
    uint64_t v1[2] = {1000, 4000}, v2[2] = {900, 4000};
    uint32_t ids[4], lens[4];
    ASSERT_EQ(0, start());

    tg_stats_buffer(&T, 0, tags, v1, 2); /* the probe's primer, kicked via QueueNotify */
    W(VB_MMIO_QUEUE_NOTIFY, VB_QUEUE_STATS);
    ASSERT_EQ(1000u, tg_stat(&T, VB_STAT_MEMFREE));
    ASSERT_EQ(1358529861, vb_last_update(&T.dev));
    ASSERT_EQ(0u, R(VB_MMIO_INTERRUPT_STATUS)); /* held, not returned */

    ASSERT_EQ(VB_OK, vb_set_poll_interval(&T.dev, 1, NULL));
    ASSERT(T.armed);
    tg_fire(&T); /* the poll: the buffer comes back with InterruptStatus bit 0 and the line */
    ASSERT_EQ(VB_MMIO_INT_VRING, R(VB_MMIO_INTERRUPT_STATUS));
    ASSERT_EQ(1, irq_level);
    ASSERT_EQ(1u, tg_used(&T, VB_QUEUE_STATS, ids, lens, 4));
    ASSERT_EQ(0u, ids[0]);
    ASSERT_EQ(0u, lens[0]);
    W(VB_MMIO_INTERRUPT_ACK, R(VB_MMIO_INTERRUPT_STATUS)); /* vm_interrupt() */
    ASSERT_EQ(0, irq_level);

    T.wall += 1;
    tg_records(&T, tg_get32(&T, TG_RING(VB_QUEUE_STATS)), tags, v2, 2); /* refill in place */
    tg_publish(&T, VB_QUEUE_STATS, 0);
    W(VB_MMIO_QUEUE_NOTIFY, VB_QUEUE_STATS);
    ASSERT_EQ(900u, tg_stat(&T, VB_STAT_MEMFREE));
    ASSERT_EQ(1358529862, vb_last_update(&T.dev));
    ASSERT(strstr(tg_render(&T, 0), "\"stat-free-memory\": 900, ") != NULL);
    ASSERT_EQ(2u, vb_get_counters(&T.dev)->updates);
    ASSERT(T.armed); /* the answer re-armed the timer */
    ASSERT_EQ(T.now_ms + 1000u, T.deadline);

    vb_set_target_pages(&T.dev, 256); /* a new target: config change, bit 1 */
    ASSERT_EQ(VB_MMIO_INT_CONFIG, R(VB_MMIO_INTERRUPT_STATUS));
    ASSERT_EQ(1, irq_level);
    ASSERT_EQ(256u, vb_mmio_read(&M, VB_MMIO_CONFIG, 4));
    W(VB_MMIO_INTERRUPT_ACK, VB_MMIO_INT_CONFIG);
    ASSERT_EQ(0, irq_level);
    ASSERT_EQ(0u, M.bad_accesses);
    PASS();
}

TEST ring_error_shows_needs_reset_and_config_interrupt(void)
{
    ASSERT_EQ(0, start());
    tg_desc(&T, VB_QUEUE_STATS, 0, 0x30000, 10, 0, 0);
    tg_publish(&T, VB_QUEUE_STATS, 200); /* head out of range */
    W(VB_MMIO_QUEUE_NOTIFY, VB_QUEUE_STATS);
    ASSERT(R(VB_MMIO_STATUS) & VB_S_NEEDS_RESET);
    ASSERT_EQ(VB_MMIO_INT_CONFIG, R(VB_MMIO_INTERRUPT_STATUS));
    ASSERT_EQ(1, irq_level);
    PASS();
}

TEST reset_through_status_zero(void)
{
    uint64_t fresh;
    ASSERT_EQ(0, start());
    tg_send_stats(&T, 10, 7); /* stats, and a pending interrupt, before the reset */
    vb_mmio_interrupt(&M, VB_MMIO_INT_VRING);
    W(VB_MMIO_DEVICE_FEATURES_SEL, 1);
    W(VB_MMIO_QUEUE_SEL, 2);
    W(VB_MMIO_STATUS, 0);
    ASSERT_EQ(0u, R(VB_MMIO_STATUS));
    ASSERT_EQ(0u, R(VB_MMIO_INTERRUPT_STATUS));
    ASSERT_EQ(0, irq_level);
    ASSERT_EQ(0u, (unsigned)vb_driver_features(&T.dev));
    ASSERT_EQ((uint32_t)vb_host_features(&T.dev), R(VB_MMIO_DEVICE_FEATURES)); /* selector 0 */
    ASSERT_EQ(0u, R(VB_MMIO_QUEUE_READY));
    /* the selectors and staged queue registers are back at their initial values: queue 0 is
       selected, and starting queue 2 with only its rings written takes size 128 and desc 0 */
    ASSERT_EQ(128u, R(VB_MMIO_QUEUE_NUM_MAX));
    W(VB_MMIO_STATUS, VB_S_ACKNOWLEDGE | VB_S_DRIVER);
    W(VB_MMIO_DRIVER_FEATURES_SEL, 1);
    W(VB_MMIO_DRIVER_FEATURES, 1); /* VERSION_1 only: the low half was cleared by the reset */
    W(VB_MMIO_STATUS, VB_S_ACKNOWLEDGE | VB_S_DRIVER | VB_S_FEATURES_OK);
    ASSERT_EQ((uint64_t)1 << VB_F_VERSION_1, vb_driver_features(&T.dev));
    fresh = tg_alloc(&T, 4096); /* zeroed rings: used->idx 0 */
    W(VB_MMIO_QUEUE_NUM, 64);   /* no QueueSel written: queue 0 */
    W(VB_MMIO_QUEUE_DESC_LOW, (uint32_t)fresh);
    W(VB_MMIO_QUEUE_AVAIL_LOW, (uint32_t)fresh + 1024u);
    W(VB_MMIO_QUEUE_USED_LOW, (uint32_t)fresh + 2048u);
    W(VB_MMIO_QUEUE_READY, 1);
    ASSERT_EQ(64, vb_queue_state(&T.dev, 0)->size);
    ASSERT_EQ(0, vb_queue_ready(&T.dev, 2));
    W(VB_MMIO_QUEUE_SEL, 2);
    W(VB_MMIO_QUEUE_AVAIL_LOW, (uint32_t)fresh + 1024u);
    W(VB_MMIO_QUEUE_USED_LOW, (uint32_t)fresh + 2048u);
    W(VB_MMIO_QUEUE_READY, 1);
    ASSERT_EQ(128, vb_queue_state(&T.dev, 2)->size);
    ASSERT_EQ(0u, (unsigned)vb_queue_state(&T.dev, 2)->desc);
    ASSERT_EQ(0, vb_is_broken(&T.dev));
    W(VB_MMIO_STATUS, 0);
    ASSERT_EQ(7005u, tg_stat(&T, VB_STAT_MEMTOT)); /* a virtio reset keeps the stats */
    /* the driver can come back */
    ASSERT_EQ(0, mmio_probe(LINUX_MMIO_FEATURES));
    ASSERT_EQ(0u, M.bad_accesses);
    PASS();
}

TEST reset_function_and_status_upper_bits(void)
{
    ASSERT_EQ(0, start());
    vb_mmio_interrupt(&M, VB_MMIO_INT_CONFIG);
    vb_mmio_reset(&M);
    ASSERT_EQ(0u, R(VB_MMIO_STATUS));
    ASSERT_EQ(0, irq_level);
    W(VB_MMIO_STATUS, 0x100u | VB_S_ACKNOWLEDGE); /* Status is 8 bits wide */
    ASSERT_EQ((uint32_t)VB_S_ACKNOWLEDGE, R(VB_MMIO_STATUS));
    W(VB_MMIO_STATUS, 0x100u); /* low byte 0: a reset */
    ASSERT_EQ(0u, R(VB_MMIO_STATUS));
    PASS();
}

SUITE(mmio)
{
    RUN_TEST(identification_registers);
    RUN_TEST(device_features_through_the_selector);
    RUN_TEST(driver_features_accumulate_and_apply_at_features_ok);
    RUN_TEST(driver_features_selector_beyond_64_bits);
    RUN_TEST(features_ok_refused_without_version_1);
    RUN_TEST(features_ok_refused_for_features_not_offered);
    RUN_TEST(queue_bring_up_through_registers);
    RUN_TEST(queue_high_address_words);
    RUN_TEST(queue_num_defaults_to_the_maximum);
    RUN_TEST(queue_ready_zero_stops_and_allows_reconfiguration);
    RUN_TEST(queue_registers_ignored_while_ready);
    RUN_TEST(queue_ready_refused_setup_needs_reset);
    RUN_TEST(queue_ready_refused_for_bad_sizes_and_alignment);
    RUN_TEST(queue_select_out_of_range);
    RUN_TEST(queue_notify_invalid_queues);
    RUN_TEST(read_only_registers_ignore_writes);
    RUN_TEST(write_only_registers_read_zero);
    RUN_TEST(reserved_offsets_and_legacy_registers);
    RUN_TEST(bad_widths_offsets_and_alignment);
    RUN_TEST(config_space_widths);
    RUN_TEST(shared_memory_regions_do_not_exist);
    RUN_TEST(interrupt_status_ack_and_the_line);
    RUN_TEST(without_an_irq_callback);
    RUN_TEST(stats_round_trip_through_mmio);
    RUN_TEST(ring_error_shows_needs_reset_and_config_interrupt);
    RUN_TEST(reset_through_status_zero);
    RUN_TEST(reset_function_and_status_upper_bits);
}
