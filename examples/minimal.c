/* examples/minimal.c - the smallest complete embedding of vballoon.h, with a scripted guest.

   Read it after the README, top to bottom: (1) the host side, which the device reaches through
   vb_host; (2) a guest driver that runs Linux's stats cycle on split rings it writes byte by
   byte; (3) management. Only this program moves the VM clock, so every run prints the same; it
   exits 0 only if the device did what the protocol says. Build and run:
       make build/vballoon-minimal && build/vballoon-minimal                                    */
#define VBALLOON_IMPLEMENTATION /* in exactly one file of a program */
#include "vballoon.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* ---- 1. The host ----------------------------------------------------------------------------- */

enum { RAM_BYTES = 64 * 1024, QUEUE_SIZE = 8, STATS_BUFFER = 0x8000, BOOT_WALL_S = 1700000000 };
#define MIB ((uint64_t)1 << 20)

typedef struct vm { /* everything the callbacks need: their `user` pointer */
    unsigned char ram[RAM_BYTES]; /* guest-physical addresses [0, RAM_BYTES) */
    uint64_t now_ms;              /* the VM clock: only advance_clock() moves it */
    uint64_t deadline_ms;         /* the one-shot timer, UINT64_MAX when not armed */
    unsigned queue_irqs[VB_QUEUE_COUNT], config_irqs; /* interrupts injected */
    uint16_t used_seen; /* guest driver state: stats-queue used entries it has consumed */
    vb_device dev;
} vm;

/* Refusing an access is always safe: the device takes it as a guest error and breaks itself. */
static int ram_read(void *user, uint64_t gpa, void *dst, size_t len)
{
    if (gpa > RAM_BYTES || len > RAM_BYTES - gpa) return -1;
    memcpy(dst, ((vm *)user)->ram + gpa, len);
    return 0;
}

static int ram_write(void *user, uint64_t gpa, const void *src, size_t len)
{
    if (gpa > RAM_BYTES || len > RAM_BYTES - gpa) return -1;
    memcpy(((vm *)user)->ram + gpa, src, len);
    return 0;
}

static uint64_t clock_ms(void *user) { return ((vm *)user)->now_ms; }
static int64_t wall_s(void *user) { return BOOT_WALL_S + (int64_t)(clock_ms(user) / 1000); }
static void timer_arm(void *user, uint64_t deadline_ms) { ((vm *)user)->deadline_ms = deadline_ms; }
static void timer_cancel(void *user) { ((vm *)user)->deadline_ms = UINT64_MAX; }
static void queue_irq(void *user, unsigned queue) { ((vm *)user)->queue_irqs[queue]++; }
static void config_irq(void *user) { ((vm *)user)->config_irqs++; }

/* The VM's event loop in miniature: time passes, a timer that fell due fires. */
static void advance_clock(vm *m, uint64_t ms)
{
    while (vb_more_work(&m->dev)) vb_do_work(&m->dev); /* left-over inflate/deflate buffers */
    m->now_ms += ms;
    if (m->now_ms >= m->deadline_ms) {
        m->deadline_ms = UINT64_MAX; /* one-shot: the device re-arms it when it wants to */
        vb_timer_expired(&m->dev);
    }
}

/* ---- 2. The guest ---------------------------------------------------------------------------- */

/* Ring fields and stats records are little-endian (VIRTIO_F_VERSION_1). */
static void put_le(unsigned char *p, uint64_t value, unsigned bytes)
{
    while (bytes--) p[bytes] = (unsigned char)(value >> 8 * bytes);
}

static uint64_t get_le(const unsigned char *p, unsigned bytes)
{
    uint64_t value = 0;
    while (bytes--) value = value << 8 | p[bytes];
    return value;
}

/* Queue q's split virtqueue at 0x1000 * (q + 1), each part aligned as the spec requires:
     descriptors  16-aligned  {u64 addr, u32 len, u16 flags, u16 next}[QUEUE_SIZE]
     avail ring    2-aligned  {u16 flags, u16 idx, u16 ring[QUEUE_SIZE], u16 used_event}
     used ring     4-aligned  {u16 flags, u16 idx, {u32 id, u32 len}[QUEUE_SIZE], u16 avail_event}
   (used_event and avail_event matter only with EVENT_IDX, which this driver does not ask for.) */
static uint64_t desc_table(unsigned q) { return 0x1000u * (q + 1u); }
static uint64_t avail_ring(unsigned q) { return desc_table(q) + 16u * QUEUE_SIZE; }
static uint64_t used_ring(unsigned q) { return avail_ring(q) + 0x100u; }

/* The driver's probe, in the order virtio 1.x prescribes. */
static int guest_probe(vm *m)
{
    const uint64_t wanted = (uint64_t)1 << VB_F_VERSION_1 | (uint64_t)1 << VB_F_STATS_VQ;
    const uint8_t negotiated = VB_S_ACKNOWLEDGE | VB_S_DRIVER | VB_S_FEATURES_OK;
    unsigned q;
    vb_set_status(&m->dev, VB_S_ACKNOWLEDGE);               /* "I see a device" */
    vb_set_status(&m->dev, VB_S_ACKNOWLEDGE | VB_S_DRIVER); /* "I can drive it" */
    vb_set_driver_features(&m->dev, wanted & vb_host_features(&m->dev));
    vb_set_status(&m->dev, negotiated);
    if (!(vb_status(&m->dev) & VB_S_FEATURES_OK)) return -1; /* read back: the device may refuse */
    for (q = 0; q < VB_QUEUE_COUNT; q++) /* inflate, deflate, stats */
        if (vb_queue_setup(&m->dev, q, QUEUE_SIZE, desc_table(q), avail_ring(q), used_ring(q)) ||
            vb_queue_set_ready(&m->dev, q, 1)) {
            vb_break(&m->dev, VB_LOG_RING_MEMORY); /* what a transport does: DEVICE_NEEDS_RESET */
            return -1;
        }
    vb_set_status(&m->dev, negotiated | VB_S_DRIVER_OK);
    return 0;
}

/* Linux's stats buffer: 10-byte records {u16 tag, u64 value} in one descriptor (always number
   0), made available on the stats queue and kicked. The device holds it until the next poll. */
static void guest_send_stats(vm *m, uint64_t free_bytes, uint64_t total_bytes)
{
    unsigned char *buf = m->ram + STATS_BUFFER, *desc = m->ram + desc_table(VB_QUEUE_STATS);
    unsigned char *avail = m->ram + avail_ring(VB_QUEUE_STATS);
    const uint64_t idx = get_le(avail + 2, 2);
    put_le(buf + 0, VB_STAT_MEMFREE, 2); put_le(buf + 2, free_bytes, 8);   /* record 0 */
    put_le(buf + 10, VB_STAT_MEMTOT, 2); put_le(buf + 12, total_bytes, 8); /* record 1 */
    put_le(desc + 0, STATS_BUFFER, 8);                /* addr */
    put_le(desc + 8, 20, 4);                          /* len: two records */
    put_le(desc + 12, 0, 2);                          /* flags: device-readable, no next */
    put_le(avail + 4 + 2 * (idx % QUEUE_SIZE), 0, 2); /* ring[idx] = head descriptor 0 */
    put_le(avail + 2, (idx + 1) & 0xffff, 2); /* publish idx last (an SMP guest: barrier first) */
    vb_queue_notify(&m->dev, VB_QUEUE_STATS); /* the kick, as the transport forwards it */
}

/* Linux's stats interrupt handler: take the buffer back from the used ring, expecting
   {id = descriptor 0, len = 0 bytes written}, then refill and re-queue it. */
static int guest_stats_interrupt(vm *m, uint64_t free_bytes, uint64_t total_bytes)
{
    const unsigned char *used = m->ram + used_ring(VB_QUEUE_STATS);
    const unsigned char *entry = used + 4 + 8 * (m->used_seen % QUEUE_SIZE);
    if (get_le(used + 2, 2) == m->used_seen) return 0; /* nothing returned */
    m->used_seen++;
    if (get_le(entry, 4) != 0 || get_le(entry + 4, 4) != 0) return 0;
    guest_send_stats(m, free_bytes, total_bytes);
    return 1;
}

/* ---- 3. Management, and the checks that make this a test ------------------------------------- */

static int check(int ok, const char *claim)
{
    printf("%s %s\n", ok ? "ok  " : "FAIL", claim);
    return !ok;
}

/* qom-get guest-stats; 1 if it shows what the guest sent, and when. */
static int show_guest_stats(const vm *m, uint64_t free_bytes, uint64_t total_bytes, int64_t when)
{
    char json[1024], want[3][48]; /* 16 keys fit in about 500 bytes */
    const size_t len = vb_render_guest_stats(&m->dev, json, sizeof json, 0);
    if (len >= sizeof json) return 0; /* snprintf-style: cut (with a heap: allocate len + 1) */
    printf("guest-stats: %s\n", json);
    snprintf(want[0], sizeof want[0], "\"stat-free-memory\": %" PRIu64 ",", free_bytes);
    snprintf(want[1], sizeof want[1], "\"stat-total-memory\": %" PRIu64 ",", total_bytes);
    snprintf(want[2], sizeof want[2], "\"last-update\": %" PRId64 "}", when);
    return strstr(json, want[0]) && strstr(json, want[1]) && strstr(json, want[2]);
}

int main(void)
{
    static vm m; /* 64 KiB of guest RAM: static storage rather than the stack */
    vb_config cfg = vb_config_default();
    vb_host host;
    vb_error err;
    char text[80] = "";
    unsigned char config[VB_CONFIG_SIZE];
    int failed = 0;

    memset(&host, 0, sizeof host); /* valid C and C++; the callbacks left NULL are optional */
    host.read = ram_read; host.write = ram_write;
    host.now_ms = clock_ms; host.wall_s = wall_s;
    host.timer_arm = timer_arm; host.timer_cancel = timer_cancel;
    host.notify_queue = queue_irq; host.notify_config = config_irq;
    m.deadline_ms = UINT64_MAX;
    cfg.poll_interval_s = 2; /* as -device virtio-balloon,guest-stats-polling-interval=2 */
    if (vb_init(&m.dev, &cfg, &host, &m) != VB_OK) return 1;

    failed += check(guest_probe(&m) == 0 && vb_queue_ready(&m.dev, VB_QUEUE_STATS), "DRIVER_OK");
    guest_send_stats(&m, 1000 * MIB, 4096 * MIB); /* Linux queues its first buffer at probe */
    failed += check(show_guest_stats(&m, 1000 * MIB, 4096 * MIB, BOOT_WALL_S), "buffer held");

    advance_clock(&m, 2000); /* the deadline: the device returns the buffer to ask for more */
    failed += check(m.queue_irqs[VB_QUEUE_STATS] == 1 &&
                        guest_stats_interrupt(&m, 900 * MIB, 4096 * MIB) &&
                        vb_queue_state(&m.dev, VB_QUEUE_STATS)->used_idx == m.used_seen,
                    "2 s later: buffer back, empty, with an interrupt; the guest refilled it");
    failed += check(show_guest_stats(&m, 900 * MIB, 4096 * MIB, BOOT_WALL_S + 2), "fresh stats");

    if (vb_set_poll_interval(&m.dev, -1, &err) != VB_OK) vb_error_text(&err, text, sizeof text);
    failed += check(strcmp(text, "timer value must be greater than zero") == 0, text); /* QEMU's */
    failed += check(vb_set_poll_interval(&m.dev, 5, &err) == VB_OK &&
                        vb_next_deadline(&m.dev) == m.now_ms + 5000, "interval 5 s: next poll");

    vb_set_target_pages(&m.dev, 256); /* 1 MiB; the driver reads the new num_pages: */
    vb_config_read(&m.dev, 0, config, sizeof config);
    printf("config: num_pages %" PRIu64 ", actual %" PRIu64 "\n", get_le(config, 4),
           get_le(config + 4, 4));
    failed += check(m.config_irqs == 1 && get_le(config, 4) == 256, "target: config interrupt");

    vb_destroy(&m.dev);
    printf("%s\n", failed ? "FAILED" : "all checks passed");
    return failed ? 1 : 0;
}
