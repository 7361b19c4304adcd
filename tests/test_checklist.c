/* The 52-point conformance checklist of docs/qemu-behaviour.md §6, one test per item,
   named after its number. Items about rendering run in the qemu profile; the doc profile's
   answers to the same questions are in test_seed.c. */
#include <stdio.h>
#include <string.h>

#include <greatest.h>
#include "guest.h"

static tg T;
static vb_error E;

static const vb_config qemu_cfg = {VB_PROFILE_QEMU, 0, 0, 0, 0, 0, 0, 0};

static int start_qemu(void) { return tg_start(&T, &qemu_cfg, TG_LINUX_FEATURES); }

/* Enable polling at `s` seconds through the QOM setter. */
static vb_result set_interval(int64_t s) { return vb_set_poll_interval(&T.dev, s, &E); }

static const char *err_text(void)
{
    static char buf[256];
    vb_error_text(&E, buf, sizeof buf);
    return buf;
}

TEST item01_sixteen_slots_with_qom_names(void)
{
    static const char *const names[16] = {
        "stat-swap-in", "stat-swap-out", "stat-major-faults", "stat-minor-faults",
        "stat-free-memory", "stat-total-memory", "stat-available-memory", "stat-disk-caches",
        "stat-htlb-pgalloc", "stat-htlb-pgfail", "stat-oom-kills", "stat-alloc-stalls",
        "stat-async-scans", "stat-direct-scans", "stat-async-reclaims", "stat-direct-reclaims"};
    unsigned i;
    ASSERT_EQ(16, VB_STAT_COUNT);
    for (i = 0; i < 16; i++) ASSERT_STR_EQ(names[i], vb_stat_name(i));
    ASSERT_EQ(NULL, vb_stat_name(16));
    PASS();
}

TEST item02_initially_unset_and_never_updated(void)
{
    unsigned i;
    ASSERT_EQ(0, tg_create(&T, &qemu_cfg));
    for (i = 0; i < 16; i++) {
        uint64_t v = 0;
        ASSERT_EQ(0, vb_stat(&T.dev, i, &v));
        ASSERT_EQ(UINT64_MAX, v);
    }
    ASSERT_EQ(0, vb_last_update(&T.dev));
    PASS();
}

TEST item03_stats_queue_is_2_size_128_without_feature(void)
{
    ASSERT_EQ(2, VB_QUEUE_STATS);
    ASSERT_EQ(0, tg_create(&T, &qemu_cfg));
    ASSERT_EQ(128, vb_queue_size_max(&T.dev));
    /* A driver that did not negotiate STATS_VQ can still use queue 2 (QEMU creates it). */
    ASSERT_EQ(0, tg_probe(&T, TG_F(VB_F_VERSION_1)));
    tg_driver_ok(&T);
    tg_send_stats(&T, 10, 7);
    ASSERT_EQ(7005u, tg_stat(&T, VB_STAT_MEMTOT));
    PASS();
}

TEST item04_stats_vq_offered_must_tell_host_not(void)
{
    ASSERT_EQ(0, tg_create(&T, &qemu_cfg));
    ASSERT(vb_host_features(&T.dev) & TG_F(VB_F_STATS_VQ));
    ASSERT_FALSE(vb_host_features(&T.dev) & TG_F(VB_F_MUST_TELL_HOST));
    ASSERT_FALSE(vb_host_features(&T.dev) & TG_F(VB_F_DEFLATE_ON_OOM));
    PASS();
}

TEST item05_one_pop_per_notification(void)
{
    static const uint16_t tag[1] = {VB_STAT_MEMFREE};
    uint64_t v1[1] = {111}, v2[1] = {222};
    ASSERT_EQ(0, start_qemu());
    tg_stats_buffer(&T, 0, tag, v1, 1);
    tg_stats_buffer(&T, 1, tag, v2, 1);
    tg_kick(&T, VB_QUEUE_STATS);
    ASSERT_EQ(111u, tg_stat(&T, VB_STAT_MEMFREE));
    ASSERT_EQ(0, tg_used_idx(&T, VB_QUEUE_STATS));
    tg_kick(&T, VB_QUEUE_STATS); /* the second waits for the next notification */
    ASSERT_EQ(222u, tg_stat(&T, VB_STAT_MEMFREE));
    ASSERT_EQ(1, tg_used_idx(&T, VB_QUEUE_STATS));
    PASS();
}

TEST item06_second_buffer_returns_the_first(void)
{
    uint32_t id = 99, len = 99;
    ASSERT_EQ(0, start_qemu());
    tg_send_stats(&T, 10, 1);
    ASSERT_EQ(0, T.irq[VB_QUEUE_STATS]);
    tg_stats_buffer(&T, 5, tg_linux61_tags, (const uint64_t[10]){0}, 10);
    tg_kick(&T, VB_QUEUE_STATS);
    ASSERT_EQ(1, tg_used(&T, VB_QUEUE_STATS, &id, &len, 1));
    ASSERT_EQ(0u, id); /* the old one came back */
    ASSERT_EQ(0u, len);
    ASSERT_EQ(1, T.irq[VB_QUEUE_STATS]);
    ASSERT_EQ(1u, vb_get_counters(&T.dev)->duplicates);
    /* and the new one is now held: a poll returns it */
    ASSERT_EQ(VB_OK, set_interval(5));
    tg_fire(&T);
    ASSERT_EQ(1, tg_used(&T, VB_QUEUE_STATS, &id, &len, 1));
    ASSERT_EQ(5u, id);
    PASS();
}

TEST item07_all_slots_reset_before_parsing(void)
{
    static const uint16_t tag[1] = {VB_STAT_MEMFREE};
    uint64_t v[1] = {42};
    unsigned i;
    ASSERT_EQ(0, start_qemu());
    tg_send_stats(&T, 16, 3);
    ASSERT_EQ(3000u, tg_stat(&T, VB_STAT_SWAP_IN));
    tg_stats_buffer(&T, 1, tag, v, 1); /* a guest that now supports fewer stats */
    tg_kick(&T, VB_QUEUE_STATS);
    for (i = 0; i < 16; i++) ASSERT_EQ(i == VB_STAT_MEMFREE ? 42u : UINT64_MAX, tg_stat(&T, i));
    PASS();
}

TEST item08_ten_byte_records_from_offset_zero(void)
{
    uint64_t gpa;
    ASSERT_EQ(0, start_qemu());
    gpa = tg_alloc(&T, 20);
    /* tag 5 = 0x0102030405060708, tag 4 = 9, written byte by byte in the wire layout */
    memcpy(T.mem + gpa, "\x05\x00\x08\x07\x06\x05\x04\x03\x02\x01\x04\x00\x09\0\0\0\0\0\0\0", 20);
    tg_desc(&T, VB_QUEUE_STATS, 0, gpa, 20, 0, 0);
    tg_publish(&T, VB_QUEUE_STATS, 0);
    tg_kick(&T, VB_QUEUE_STATS);
    ASSERT_EQ(0x0102030405060708u, tg_stat(&T, VB_STAT_MEMTOT));
    ASSERT_EQ(9u, tg_stat(&T, VB_STAT_MEMFREE));
    PASS();
}

TEST item09_trailing_partial_record_ignored(void)
{
    static const uint16_t tags[3] = {0, 1, 2};
    uint64_t vals[3] = {10, 11, 12};
    uint64_t gpa;
    ASSERT_EQ(0, start_qemu());
    gpa = tg_alloc(&T, 33);
    tg_records(&T, gpa, tags, vals, 3);
    memset(T.mem + gpa + 30, 0x03, 3); /* 10*N + 3 bytes: the 3 are ignored */
    tg_desc(&T, VB_QUEUE_STATS, 0, gpa, 33, 0, 0);
    tg_publish(&T, VB_QUEUE_STATS, 0);
    tg_kick(&T, VB_QUEUE_STATS);
    ASSERT_FALSE(vb_is_broken(&T.dev));
    ASSERT_EQ(12u, tg_stat(&T, 2));
    ASSERT_EQ(UINT64_MAX, tg_stat(&T, 3));
    ASSERT_EQ(1u, vb_get_counters(&T.dev)->updates);
    PASS();
}

TEST item10_records_straddle_descriptors(void)
{
    uint64_t vals[16], gpa;
    unsigned i;
    ASSERT_EQ(0, start_qemu());
    tg_values(vals, tg_linux612_tags, 16, 9);
    gpa = tg_alloc(&T, 160);
    tg_records(&T, gpa, tg_linux612_tags, vals, 16);
    /* 160 bytes cut at 3, 17 and 101 into four descriptors: 0 -> 1 -> 2 -> 3 */
    tg_desc(&T, VB_QUEUE_STATS, 0, gpa, 3, 1, 1);
    tg_desc(&T, VB_QUEUE_STATS, 1, gpa + 3, 14, 1, 2);
    tg_desc(&T, VB_QUEUE_STATS, 2, gpa + 17, 84, 1, 3);
    tg_desc(&T, VB_QUEUE_STATS, 3, gpa + 101, 59, 0, 0);
    tg_publish(&T, VB_QUEUE_STATS, 0);
    tg_kick(&T, VB_QUEUE_STATS);
    for (i = 0; i < 16; i++) ASSERT_EQ(vals[i], tg_stat(&T, tg_linux612_tags[i]));
    PASS();
}

TEST item11_unknown_tags_consumed_and_ignored(void)
{
    static const uint16_t tags[4] = {16, 4, 0xffff, 5};
    uint64_t vals[4] = {1, 2, 3, 4};
    ASSERT_EQ(0, start_qemu());
    tg_stats_buffer(&T, 0, tags, vals, 4);
    tg_kick(&T, VB_QUEUE_STATS);
    ASSERT_FALSE(vb_is_broken(&T.dev));
    ASSERT_EQ(2u, tg_stat(&T, 4));
    ASSERT_EQ(4u, tg_stat(&T, 5));
    ASSERT_EQ(2u, vb_get_counters(&T.dev)->unknown_tags);
    ASSERT_EQ(1u, vb_get_counters(&T.dev)->updates);
    PASS();
}

TEST item12_duplicate_tag_last_wins(void)
{
    static const uint16_t tags[4] = {5, 4, 5, 4};
    uint64_t vals[4] = {1, 2, 3, 4};
    ASSERT_EQ(0, start_qemu());
    tg_stats_buffer(&T, 0, tags, vals, 4);
    tg_kick(&T, VB_QUEUE_STATS);
    ASSERT_EQ(3u, tg_stat(&T, 5));
    ASSERT_EQ(4u, tg_stat(&T, 4));
    PASS();
}

TEST item13_writable_descriptors_never_touched(void)
{
    static const uint16_t tag[1] = {4};
    uint64_t val[1] = {77}, data, wbuf;
    unsigned char before[64];
    ASSERT_EQ(0, start_qemu());
    data = tg_alloc(&T, 10);
    wbuf = tg_alloc(&T, 64);
    tg_records(&T, data, tag, val, 1);
    memset(T.mem + wbuf, 0xA5, 64);
    memcpy(before, T.mem + wbuf, 64);
    T.deny_lo = wbuf; /* the host refuses it: any access would break the device */
    T.deny_hi = wbuf + 64;
    tg_desc(&T, VB_QUEUE_STATS, 0, data, 10, 1, 1);
    tg_desc(&T, VB_QUEUE_STATS, 1, wbuf, 64, 2, 0);
    tg_publish(&T, VB_QUEUE_STATS, 0);
    tg_kick(&T, VB_QUEUE_STATS);
    ASSERT_FALSE(vb_is_broken(&T.dev));
    ASSERT_EQ(0u, T.failed_reads + T.failed_writes);
    ASSERT_EQ(77u, tg_stat(&T, 4));
    ASSERT_MEM_EQ(before, T.mem + wbuf, 64);
    PASS();
}

TEST item14_endianness_le_modern_guest_order_legacy(void)
{
    static const uint16_t tag[1] = {VB_STAT_MEMTOT};
    uint64_t val[1] = {0x1122334455667788u};
    vb_config be_cfg = qemu_cfg;
    /* modern: little-endian whatever the legacy option says */
    be_cfg.options = VB_OPT_GUEST_BIG_ENDIAN;
    ASSERT_EQ(0, tg_start(&T, &be_cfg, TG_LINUX_FEATURES));
    tg_stats_buffer(&T, 0, tag, val, 1);
    tg_kick(&T, VB_QUEUE_STATS);
    ASSERT_EQ(val[0], tg_stat(&T, VB_STAT_MEMTOT));
    /* legacy big-endian guest: rings and records in big-endian */
    ASSERT_EQ(0, tg_create(&T, &be_cfg));
    T.be = 1;
    ASSERT_EQ(0, tg_probe(&T, TG_F(VB_F_STATS_VQ) | TG_F(VB_F_RING_EVENT_IDX)));
    tg_driver_ok(&T);
    tg_stats_buffer(&T, 0, tag, val, 1);
    tg_kick(&T, VB_QUEUE_STATS);
    ASSERT_FALSE(vb_is_broken(&T.dev));
    ASSERT_EQ(val[0], tg_stat(&T, VB_STAT_MEMTOT));
    PASS();
}

TEST item15_last_update_is_wall_seconds_even_if_empty(void)
{
    uint64_t gpa;
    ASSERT_EQ(0, start_qemu());
    T.wall = 1795697933;
    gpa = tg_alloc(&T, 9);
    tg_desc(&T, VB_QUEUE_STATS, 0, gpa, 9, 0, 0); /* 9 bytes: no complete record */
    tg_publish(&T, VB_QUEUE_STATS, 0);
    tg_kick(&T, VB_QUEUE_STATS);
    ASSERT_EQ(1795697933, vb_last_update(&T.dev));
    ASSERT_EQ(UINT64_MAX, tg_stat(&T, 0));
    PASS();
}

TEST item16_empty_notification_changes_nothing(void)
{
    ASSERT_EQ(0, start_qemu());
    tg_send_stats(&T, 10, 4);
    T.wall += 100;
    tg_kick(&T, VB_QUEUE_STATS);
    ASSERT_EQ(1358529861, vb_last_update(&T.dev));
    ASSERT_EQ(4005u, tg_stat(&T, VB_STAT_MEMTOT));
    ASSERT_EQ(1u, vb_get_counters(&T.dev)->updates);
    PASS();
}

TEST item17_every_notification_rearms(void)
{
    ASSERT_EQ(0, start_qemu());
    ASSERT_EQ(VB_OK, set_interval(2));
    ASSERT_EQ(T.now_ms, T.deadline); /* enabling: at once */
    T.now_ms += 500;
    tg_kick(&T, VB_QUEUE_STATS); /* empty, spurious */
    ASSERT(T.armed);
    ASSERT_EQ(T.now_ms + 2000, T.deadline);
    ASSERT_EQ(T.now_ms + 2000, vb_next_deadline(&T.dev));
    PASS();
}

TEST item18_timer_without_buffer_only_rearms(void)
{
    ASSERT_EQ(0, start_qemu());
    ASSERT_EQ(VB_OK, set_interval(3));
    tg_fire(&T);
    ASSERT(T.armed);
    ASSERT_EQ(T.now_ms + 3000, T.deadline);
    ASSERT_EQ(0, T.irq[VB_QUEUE_STATS]);
    /* STATS_VQ not negotiated: a held buffer is not returned, the timer re-arms */
    ASSERT_EQ(0, tg_create(&T, &qemu_cfg));
    ASSERT_EQ(0, tg_probe(&T, TG_F(VB_F_VERSION_1)));
    tg_driver_ok(&T);
    tg_send_stats(&T, 10, 1);
    ASSERT_EQ(VB_OK, set_interval(3));
    tg_fire(&T);
    ASSERT_EQ(0, tg_used_idx(&T, VB_QUEUE_STATS));
    ASSERT(T.armed);
    ASSERT_EQ(T.now_ms + 3000, T.deadline);
    PASS();
}

TEST item19_poll_returns_buffer_and_does_not_rearm(void)
{
    uint32_t id = 9, len = 9;
    ASSERT_EQ(0, start_qemu());
    tg_send_stats(&T, 10, 1);
    ASSERT_EQ(VB_OK, set_interval(2));
    tg_fire(&T);
    ASSERT_EQ(1, tg_used(&T, VB_QUEUE_STATS, &id, &len, 1));
    ASSERT_EQ(0u, id);
    ASSERT_EQ(0u, len);
    ASSERT_EQ(1, T.irq[VB_QUEUE_STATS]);
    ASSERT_EQ(UINT64_MAX, vb_poll_deadline(&T.dev));
    /* the host timer only ends the interval (telemetry): no poll without an answer */
    ASSERT_EQ(T.now_ms + 2000, vb_next_deadline(&T.dev));
    T.now_ms += 2000;
    vb_timer_expired(&T.dev);
    ASSERT_EQ(1, tg_used_idx(&T, VB_QUEUE_STATS));
    ASSERT_EQ(1u, vb_get_telemetry(&T.dev)->missed);
    ASSERT_EQ(UINT64_MAX, vb_poll_deadline(&T.dev));
    ASSERT_EQ(1u, vb_get_counters(&T.dev)->polls);
    PASS();
}

TEST item20_timer_follows_the_vm_clock(void)
{
    ASSERT_EQ(0, start_qemu());
    tg_send_stats(&T, 10, 1);
    ASSERT_EQ(VB_OK, set_interval(2));
    tg_fire(&T);
    tg_send_stats(&T, 10, 2); /* the guest answers: re-armed at now + 2 s */
    /* the VM is paused: its clock stands still; a host firing early changes nothing */
    vb_timer_expired(&T.dev);
    ASSERT_EQ(1, tg_used_idx(&T, VB_QUEUE_STATS));
    ASSERT_EQ(T.now_ms + 2000, vb_next_deadline(&T.dev));
    tg_advance(&T, 1999);
    ASSERT_EQ(1, tg_used_idx(&T, VB_QUEUE_STATS));
    tg_advance(&T, 1);
    ASSERT_EQ(2, tg_used_idx(&T, VB_QUEUE_STATS));
    PASS();
}

TEST item21_negative_interval_error(void)
{
    ASSERT_EQ(0, start_qemu());
    ASSERT_EQ(VB_OK, set_interval(7));
    ASSERT_EQ(VB_ERR_RANGE, set_interval(-1));
    ASSERT_STR_EQ("GenericError", E.cls);
    ASSERT_STR_EQ("timer value must be greater than zero", err_text());
    ASSERT_EQ(7, vb_poll_interval(&T.dev));
    PASS();
}

TEST item22_too_big_interval_error(void)
{
    ASSERT_EQ(0, start_qemu());
    ASSERT_EQ(VB_ERR_RANGE, set_interval(4294967296LL));
    ASSERT_STR_EQ("timer value is too big", err_text());
    ASSERT_EQ(0, vb_poll_interval(&T.dev));
    ASSERT_FALSE(T.armed);
    ASSERT_EQ(VB_OK, set_interval(4294967295LL));
    ASSERT_EQ(4294967295LL, vb_poll_interval(&T.dev));
    PASS();
}

TEST item23_same_value_is_a_noop(void)
{
    unsigned arms;
    uint64_t deadline;
    ASSERT_EQ(0, start_qemu());
    ASSERT_EQ(VB_OK, set_interval(4));
    tg_kick(&T, VB_QUEUE_STATS);
    deadline = vb_next_deadline(&T.dev);
    arms = T.arms;
    T.now_ms += 1000;
    ASSERT_EQ(VB_OK, set_interval(4));
    ASSERT_EQ(arms, T.arms);
    ASSERT_EQ(deadline, vb_next_deadline(&T.dev));
    PASS();
}

TEST item24_zero_disables_and_keeps_stats(void)
{
    ASSERT_EQ(0, start_qemu());
    tg_send_stats(&T, 10, 5);
    ASSERT_EQ(VB_OK, set_interval(2));
    ASSERT_EQ(VB_OK, set_interval(0));
    ASSERT_FALSE(T.armed);
    ASSERT_EQ(1u, T.cancels);
    ASSERT_EQ(UINT64_MAX, vb_next_deadline(&T.dev));
    ASSERT_EQ(5005u, tg_stat(&T, VB_STAT_MEMTOT));
    ASSERT_EQ(1358529861, vb_last_update(&T.dev));
    PASS();
}

TEST item25_enabling_polls_at_once(void)
{
    ASSERT_EQ(0, start_qemu());
    tg_send_stats(&T, 10, 1);
    T.now_ms = 12345;
    ASSERT_EQ(VB_OK, set_interval(10));
    ASSERT_EQ(12345u, T.deadline);
    tg_advance(&T, 0);
    ASSERT_EQ(1, tg_used_idx(&T, VB_QUEUE_STATS)); /* the held buffer went back at once */
    PASS();
}

TEST item26_change_rearms_even_with_poll_outstanding(void)
{
    ASSERT_EQ(0, start_qemu());
    tg_send_stats(&T, 10, 1);
    ASSERT_EQ(VB_OK, set_interval(2));
    tg_fire(&T); /* poll outstanding, polling timer not armed */
    ASSERT_EQ(UINT64_MAX, vb_poll_deadline(&T.dev));
    T.now_ms += 300;
    ASSERT_EQ(VB_OK, set_interval(10));
    ASSERT(T.armed);
    ASSERT_EQ(T.now_ms + 10000, T.deadline);
    /* the guest has not answered when it fires: only a re-arm */
    tg_fire(&T);
    ASSERT_EQ(1, tg_used_idx(&T, VB_QUEUE_STATS));
    ASSERT_EQ(T.now_ms + 10000, T.deadline);
    PASS();
}

TEST item27_interval_reads_back(void)
{
    char buf[32];
    size_t n = 0;
    ASSERT_EQ(0, start_qemu());
    ASSERT_EQ(VB_OK, vb_prop_get(&T.dev, "guest-stats-polling-interval", 28, buf, sizeof buf, &n, 0, &E));
    ASSERT_STR_EQ("0", buf);
    ASSERT_EQ(VB_OK, set_interval(2));
    ASSERT_EQ(VB_OK, vb_prop_get(&T.dev, "guest-stats-polling-interval", 28, buf, sizeof buf, &n, 0, &E));
    ASSERT_STR_EQ("2", buf);
    ASSERT_EQ(1u, n);
    PASS();
}

TEST item28_guest_stats_never_fails(void)
{
    char buf[2048];
    size_t n = 0;
    ASSERT_EQ(0, tg_create(&T, &qemu_cfg));
    ASSERT_EQ(VB_OK, vb_prop_get(&T.dev, "guest-stats", 11, buf, sizeof buf, &n, 0, &E));
    ASSERT_EQ(0, strncmp(buf, "{\"stats\": {", 11));
    ASSERT(strstr(buf, "}, \"last-update\": 0}") == buf + n - 20);
    PASS();
}

TEST item29_all_sixteen_keys_always(void)
{
    const char *s;
    unsigned i;
    ASSERT_EQ(0, start_qemu());
    tg_send_stats(&T, 10, 1); /* a Linux 6.1 guest sends ten */
    s = tg_render(&T, 0);
    for (i = 0; i < 16; i++) {
        char key[64];
        snprintf(key, sizeof key, "\"%s\": ", vb_stat_name(i));
        ASSERT(strstr(s, key));
    }
    PASS();
}

TEST item30_number_rendering(void)
{
    static const uint16_t tags[2] = {4, 5};
    uint64_t vals[2] = {UINT64_MAX - 1, 9223372036854775808u};
    const char *s;
    ASSERT_EQ(0, start_qemu());
    T.wall = -5; /* a host clock before 1970 shows up signed */
    tg_stats_buffer(&T, 0, tags, vals, 2);
    tg_kick(&T, VB_QUEUE_STATS);
    s = tg_render(&T, 0);
    ASSERT(strstr(s, "\"stat-free-memory\": 18446744073709551614,"));
    ASSERT(strstr(s, "\"stat-total-memory\": 9223372036854775808,"));
    ASSERT(strstr(s, "\"stat-swap-in\": 18446744073709551615,"));
    ASSERT(strstr(s, "\"last-update\": -5}"));
    PASS();
}

TEST item31_stats_before_last_update(void)
{
    const char *s;
    ASSERT_EQ(0, tg_create(&T, &qemu_cfg));
    s = tg_render(&T, 0);
    ASSERT(strstr(s, "\"stats\"") < strstr(s, "\"last-update\""));
    PASS();
}

TEST item32_key_order(void)
{
    static const char *const order[16] = {
        "htlb-pgalloc", "swap-out", "alloc-stalls", "available-memory", "direct-reclaims",
        "direct-scans", "htlb-pgfail", "free-memory", "minor-faults", "major-faults",
        "total-memory", "oom-kills", "async-reclaims", "swap-in", "async-scans", "disk-caches"};
    const char *s, *prev;
    unsigned i;
    ASSERT_EQ(0, tg_create(&T, &qemu_cfg));
    s = tg_render(&T, 0);
    prev = s;
    for (i = 0; i < 16; i++) {
        char key[64];
        const char *at;
        snprintf(key, sizeof key, "\"stat-%s\"", order[i]);
        at = strstr(s, key);
        ASSERTm(key, at && at > prev);
        prev = at;
    }
    PASS();
}

TEST item33_compact_separators(void)
{
    ASSERT_EQ(0, tg_create(&T, &qemu_cfg));
    ASSERT_STR_EQ(
        "{\"stats\": {\"stat-htlb-pgalloc\": 18446744073709551615, \"stat-swap-out\": "
        "18446744073709551615, \"stat-alloc-stalls\": 18446744073709551615, "
        "\"stat-available-memory\": 18446744073709551615, \"stat-direct-reclaims\": "
        "18446744073709551615, \"stat-direct-scans\": 18446744073709551615, "
        "\"stat-htlb-pgfail\": 18446744073709551615, \"stat-free-memory\": "
        "18446744073709551615, \"stat-minor-faults\": 18446744073709551615, "
        "\"stat-major-faults\": 18446744073709551615, \"stat-total-memory\": "
        "18446744073709551615, \"stat-oom-kills\": 18446744073709551615, "
        "\"stat-async-reclaims\": 18446744073709551615, \"stat-swap-in\": "
        "18446744073709551615, \"stat-async-scans\": 18446744073709551615, "
        "\"stat-disk-caches\": 18446744073709551615}, \"last-update\": 0}",
        tg_render(&T, 0));
    PASS();
}

TEST item34_pretty_layout(void)
{
    vb_config cfg = qemu_cfg;
    cfg.stat_keys = 6;
    ASSERT_EQ(0, tg_create(&T, &cfg));
    ASSERT_STR_EQ("{\n"
                  "    \"stats\": {\n"
                  "        \"stat-swap-out\": 18446744073709551615,\n"
                  "        \"stat-free-memory\": 18446744073709551615,\n"
                  "        \"stat-minor-faults\": 18446744073709551615,\n"
                  "        \"stat-major-faults\": 18446744073709551615,\n"
                  "        \"stat-total-memory\": 18446744073709551615,\n"
                  "        \"stat-swap-in\": 18446744073709551615\n"
                  "    },\n"
                  "    \"last-update\": 0\n"
                  "}",
                  tg_render(&T, VB_JSON_PRETTY));
    PASS();
}

TEST item35_property_names_and_types(void)
{
    ASSERT_EQ(0, tg_create(&T, &qemu_cfg));
    ASSERT_STR_EQ("guest statistics", vb_prop_type(&T.dev, "guest-stats", 11));
    ASSERT_STR_EQ("int", vb_prop_type(&T.dev, "guest-stats-polling-interval", 28));
    ASSERT_EQ(NULL, vb_prop_type(&T.dev, "stats-polling-interval", 22));
    ASSERT_EQ(NULL, vb_prop_type(&T.dev, "guest-stats-", 12));
    ASSERT_EQ(NULL, vb_prop_type(&T.dev, "guest-stats", 10));
    PASS();
}

TEST item36_unknown_property(void)
{
    char buf[64];
    ASSERT_EQ(0, tg_create(&T, &qemu_cfg));
    ASSERT_EQ(VB_ERR_NOT_FOUND, vb_prop_get(&T.dev, "stats-polling-interval", 22, buf, sizeof buf, NULL, 0, &E));
    ASSERT_STR_EQ("Property 'virtio-balloon-pci.stats-polling-interval' not found", err_text());
    ASSERT_EQ(VB_ERR_NOT_FOUND, vb_prop_set_int(&T.dev, "stats-polling-interval", 22, 0, &E));
    ASSERT_STR_EQ("Property 'virtio-balloon-pci.stats-polling-interval' not found", err_text());
    ASSERT_STR_EQ("GenericError", E.cls);
    PASS();
}

TEST item37_guest_stats_not_writable(void)
{
    ASSERT_EQ(0, tg_create(&T, &qemu_cfg));
    ASSERT_EQ(VB_ERR_READ_ONLY, vb_prop_set_int(&T.dev, "guest-stats", 11, 1, &E));
    ASSERT_STR_EQ("Property 'virtio-balloon-device.guest-stats' is not writable", err_text());
    ASSERT_EQ(0, vb_poll_interval(&T.dev));
    PASS();
}

TEST item38_reset_unpops_held_buffer(void)
{
    ASSERT_EQ(0, start_qemu());
    tg_send_stats(&T, 10, 1);
    vb_reset(&T.dev);
    ASSERT_EQ(0, tg_used_idx(&T, VB_QUEUE_STATS)); /* not written to the used ring */
    ASSERT_EQ(0, vb_status(&T.dev));
    /* the re-initialising driver's primer is accepted from index 0 */
    memset(T.mem + TG_RING(0), 0, 3 * 0x4000);
    ASSERT_EQ(0, tg_probe(&T, TG_LINUX_FEATURES));
    tg_driver_ok(&T);
    tg_send_stats(&T, 10, 2);
    ASSERT_EQ(0, T.irq[VB_QUEUE_STATS]); /* nothing held before: nothing returned */
    ASSERT_EQ(2005u, tg_stat(&T, VB_STAT_MEMTOT));
    PASS();
}

TEST item39_reset_keeps_stats_and_timer(void)
{
    uint64_t deadline;
    ASSERT_EQ(0, start_qemu());
    tg_send_stats(&T, 10, 3);
    ASSERT_EQ(VB_OK, set_interval(5));
    tg_kick(&T, VB_QUEUE_STATS);
    deadline = vb_next_deadline(&T.dev);
    vb_set_status(&T.dev, 0);
    ASSERT_EQ(3005u, tg_stat(&T, VB_STAT_MEMTOT));
    ASSERT_EQ(1358529861, vb_last_update(&T.dev));
    ASSERT_EQ(5, vb_poll_interval(&T.dev));
    ASSERT_EQ(deadline, vb_next_deadline(&T.dev));
    ASSERT_EQ(0u, T.cancels);
    PASS();
}

TEST item40_machine_reset_clears_stats(void)
{
    ASSERT_EQ(0, start_qemu());
    tg_send_stats(&T, 10, 3);
    ASSERT_EQ(VB_OK, set_interval(5));
    vb_machine_reset(&T.dev, 1); /* S3 wake-up: nothing */
    ASSERT_EQ(3005u, tg_stat(&T, VB_STAT_MEMTOT));
    vb_machine_reset(&T.dev, 0);
    ASSERT_EQ(UINT64_MAX, tg_stat(&T, VB_STAT_MEMTOT));
    ASSERT_EQ(0, vb_last_update(&T.dev));
    ASSERT_EQ(5, vb_poll_interval(&T.dev));
    ASSERT(T.armed);
    ASSERT_EQ(0, vb_status(&T.dev));
    PASS();
}

TEST item41_stats_not_in_migrated_state(void)
{
    unsigned char a[VB_SNAPSHOT_SIZE], b[VB_SNAPSHOT_SIZE];
    ASSERT_EQ(0, start_qemu());
    tg_send_stats(&T, 10, 3);
    ASSERT_EQ(VB_SNAPSHOT_SIZE, vb_snapshot_save(&T.dev, a, sizeof a));
    /* another poll round trip moves the stats, last-update and the interval, not the blob */
    ASSERT_EQ(VB_OK, set_interval(1));
    tg_fire(&T);
    T.wall += 60;
    tg_send_stats(&T, 10, 4);
    ASSERT_EQ(VB_SNAPSHOT_SIZE, vb_snapshot_save(&T.dev, b, sizeof b));
    /* features, status, config, two queues and the stats queue's addresses: unchanged */
    ASSERT_EQ(0, memcmp(a, b, 36 + 72 + 26));
    /* the stats queue's indices moved by exactly one round trip */
    ASSERT_EQ(a[36 + 72 + 26] + 1, b[36 + 72 + 26]);
    ASSERT_EQ(a[36 + 72 + 28] + 1, b[36 + 72 + 28]);
    PASS();
}

TEST item42_load_rearms_with_local_interval(void)
{
    unsigned char blob[VB_SNAPSHOT_SIZE];
    ASSERT_EQ(0, start_qemu());
    vb_snapshot_save(&T.dev, blob, sizeof blob);
    ASSERT_EQ(VB_OK, set_interval(3));
    T.now_ms = 50000;
    ASSERT_EQ(VB_OK, vb_snapshot_load(&T.dev, blob, sizeof blob));
    ASSERT_EQ(53000u, vb_next_deadline(&T.dev));
    ASSERT_EQ(3, vb_poll_interval(&T.dev));
    PASS();
}

TEST item43_driver_ok_rewinds_the_held_buffer(void)
{
    unsigned char blob[VB_SNAPSHOT_SIZE];
    ASSERT_EQ(0, start_qemu());
    tg_send_stats(&T, 10, 6); /* the source holds the guest's only stats buffer */
    vb_snapshot_save(&T.dev, blob, sizeof blob);
    /* the destination: a new device on the same guest memory */
    vb_destroy(&T.dev);
    ASSERT_EQ(VB_OK, vb_init(&T.dev, &qemu_cfg, &tg_host, &T));
    blob[16] &= (unsigned char)~VB_S_DRIVER_OK; /* the VM is not running yet */
    {
        /* re-seal: the checksum covers the status byte */
        uint32_t h = 2166136261u;
        unsigned i;
        for (i = 0; i < VB_SNAPSHOT_SIZE - 4; i++) h = (h ^ blob[i]) * 16777619u;
        for (i = 0; i < 4; i++) blob[VB_SNAPSHOT_SIZE - 4 + i] = (unsigned char)(h >> (8 * i));
    }
    ASSERT_EQ(VB_OK, vb_snapshot_load(&T.dev, blob, sizeof blob));
    ASSERT_EQ(UINT64_MAX, tg_stat(&T, VB_STAT_MEMTOT)); /* empty until the VM starts */
    tg_driver_ok(&T);
    ASSERT_EQ(6005u, tg_stat(&T, VB_STAT_MEMTOT));   /* the rewound buffer was read again */
    ASSERT_EQ(VB_OK, set_interval(1));
    tg_fire(&T);
    ASSERT_EQ(1, tg_used_idx(&T, VB_QUEUE_STATS));   /* and is held: polling works */
    PASS();
}

TEST item44_no_rewind_in_normal_operation(void)
{
    ASSERT_EQ(0, start_qemu());
    tg_send_stats(&T, 10, 1);
    ASSERT_EQ(VB_OK, set_interval(1));
    tg_fire(&T); /* nothing held now, and nothing in flight */
    tg_driver_ok(&T);
    tg_driver_ok(&T);
    ASSERT_EQ(1u, vb_get_counters(&T.dev)->updates);
    ASSERT_EQ(vb_queue_base(&T.dev, VB_QUEUE_STATS), tg_used_idx(&T, VB_QUEUE_STATS));
    PASS();
}

TEST item45_teardown_cancels_timer_keeps_buffer(void)
{
    ASSERT_EQ(0, start_qemu());
    tg_send_stats(&T, 10, 1);
    ASSERT_EQ(VB_OK, set_interval(2));
    vb_destroy(&T.dev);
    ASSERT_FALSE(T.armed);
    ASSERT_EQ(1u, T.cancels);
    ASSERT_EQ(0, tg_used_idx(&T, VB_QUEUE_STATS));
    PASS();
}

TEST item46_primer_before_driver_ok(void)
{
    ASSERT_EQ(0, tg_create(&T, &qemu_cfg));
    ASSERT_EQ(0, tg_probe(&T, TG_LINUX_FEATURES));
    tg_send_stats(&T, 10, 8); /* Linux's init_vqs kicks before virtio_device_ready */
    ASSERT_EQ(8005u, tg_stat(&T, VB_STAT_MEMTOT));
    tg_driver_ok(&T);
    ASSERT_EQ(1u, vb_get_counters(&T.dev)->updates);
    PASS();
}

TEST item47_broken_device_ignores_notifications(void)
{
    unsigned reads;
    ASSERT_EQ(0, start_qemu());
    tg_desc(&T, VB_QUEUE_STATS, 0, TG_DATA, 0, 0, 0); /* zero length: ring error */
    tg_publish(&T, VB_QUEUE_STATS, 0);
    tg_kick(&T, VB_QUEUE_STATS);
    ASSERT(vb_is_broken(&T.dev));
    tg_send_stats(&T, 10, 1);
    reads = T.reads;
    tg_kick(&T, VB_QUEUE_STATS);
    tg_kick(&T, VB_QUEUE_INFLATE);
    ASSERT_EQ(reads, T.reads); /* not even a read */
    ASSERT_EQ(UINT64_MAX, tg_stat(&T, VB_STAT_MEMTOT));
    vb_reset(&T.dev);
    ASSERT_FALSE(vb_is_broken(&T.dev));
    PASS();
}

TEST item48_ring_error_sets_needs_reset(void)
{
    ASSERT_EQ(0, start_qemu());
    tg_desc(&T, VB_QUEUE_STATS, 0, TG_DATA, 10, 0, 0);
    tg_publish(&T, VB_QUEUE_STATS, 200); /* head out of range */
    tg_kick(&T, VB_QUEUE_STATS);
    ASSERT(vb_status(&T.dev) & VB_S_NEEDS_RESET);
    ASSERT_EQ(1, T.config_irqs);
    ASSERT_EQ(VB_LOG_HEAD_RANGE, T.last_log);
    /* a legacy guest is not told: the device just goes silent */
    ASSERT_EQ(0, tg_create(&T, &qemu_cfg));
    ASSERT_EQ(0, tg_probe(&T, TG_F(VB_F_STATS_VQ)));
    tg_driver_ok(&T);
    tg_publish(&T, VB_QUEUE_STATS, 200);
    tg_kick(&T, VB_QUEUE_STATS);
    ASSERT(vb_is_broken(&T.dev));
    ASSERT_FALSE(vb_status(&T.dev) & VB_S_NEEDS_RESET);
    ASSERT_EQ(0, T.config_irqs);
    PASS();
}

/* Deliberately stricter than QEMU: an avail index more than a queue ahead is a ring error. */
TEST item49_avail_runaway_is_a_ring_error_here(void)
{
    ASSERT_EQ(0, start_qemu());
    tg_desc(&T, VB_QUEUE_STATS, 0, TG_DATA, 10, 0, 0);
    tg_set_avail_idx(&T, VB_QUEUE_STATS, 129);
    tg_kick(&T, VB_QUEUE_STATS);
    ASSERT(vb_is_broken(&T.dev));
    ASSERT_EQ(VB_LOG_AVAIL_RUNAWAY, T.last_log);
    /* exactly a queue's worth ahead is legal */
    ASSERT_EQ(0, start_qemu());
    tg_desc(&T, VB_QUEUE_STATS, 0, TG_DATA, 10, 0, 0);
    tg_set_avail_idx(&T, VB_QUEUE_STATS, 128);
    tg_kick(&T, VB_QUEUE_STATS);
    ASSERT_FALSE(vb_is_broken(&T.dev));
    PASS();
}

TEST item50_indirect_table_size_rules(void)
{
    static const uint32_t bad[3] = {0, 17, 8};
    uint64_t table, data, vals[3] = {1, 2, 3};
    static const uint16_t tags[3] = {4, 5, 6};
    unsigned i;
    for (i = 0; i < 3; i++) {
        ASSERT_EQ(0, start_qemu());
        tg_desc(&T, VB_QUEUE_STATS, 0, tg_alloc(&T, 64), bad[i], 4, 0);
        tg_publish(&T, VB_QUEUE_STATS, 0);
        tg_kick(&T, VB_QUEUE_STATS);
        ASSERT(vb_is_broken(&T.dev));
        ASSERT_EQ(VB_LOG_INDIRECT_SIZE, T.last_log);
    }
    /* a table of 2 entries: the chain may not go past entry 1 */
    ASSERT_EQ(0, start_qemu());
    table = tg_alloc(&T, 48);
    data = tg_alloc(&T, 30);
    tg_records(&T, data, tags, vals, 3);
    tg_desc_at(&T, table, 0, data, 10, 1, 1);
    tg_desc_at(&T, table, 1, data + 10, 20, 0, 0);
    tg_desc(&T, VB_QUEUE_STATS, 0, table, 32, 4, 0);
    tg_publish(&T, VB_QUEUE_STATS, 0);
    tg_kick(&T, VB_QUEUE_STATS);
    ASSERT_FALSE(vb_is_broken(&T.dev));
    ASSERT_EQ(3u, tg_stat(&T, 6));
    tg_desc_at(&T, table, 1, data + 10, 20, 1, 2); /* next = 2 >= len/16 */
    tg_publish(&T, VB_QUEUE_STATS, 0);
    tg_kick(&T, VB_QUEUE_STATS);
    ASSERT(vb_is_broken(&T.dev));
    ASSERT_EQ(VB_LOG_NEXT_RANGE, T.last_log);
    PASS();
}

TEST item51_stats_used_length_always_zero(void)
{
    uint32_t lens[4] = {9, 9, 9, 9};
    ASSERT_EQ(0, start_qemu());
    tg_send_stats(&T, 16, 1);
    tg_send_stats(&T, 16, 2); /* duplicate: first returned */
    ASSERT_EQ(VB_OK, set_interval(1));
    tg_fire(&T); /* poll: second returned */
    ASSERT_EQ(2, tg_used(&T, VB_QUEUE_STATS, NULL, lens, 4));
    ASSERT_EQ(0u, lens[0]);
    ASSERT_EQ(0u, lens[1]);
    PASS();
}

TEST item52_one_request_and_no_synthesised_stats(void)
{
    ASSERT_EQ(0, start_qemu());
    ASSERT_EQ(VB_OK, set_interval(1));
    tg_fire(&T);
    tg_fire(&T);
    ASSERT_EQ(0, tg_used_idx(&T, VB_QUEUE_STATS));
    ASSERT_EQ(0, T.irq[VB_QUEUE_STATS]);
    ASSERT_EQ(0, vb_last_update(&T.dev));
    ASSERT_EQ(0u, vb_get_counters(&T.dev)->updates);
    /* with one buffer: one poll, then silence until the guest answers */
    tg_send_stats(&T, 10, 1);
    tg_fire(&T);
    ASSERT_EQ(UINT64_MAX, vb_poll_deadline(&T.dev));
    tg_advance(&T, 100000);
    ASSERT_EQ(1, tg_used_idx(&T, VB_QUEUE_STATS));
    PASS();
}

SUITE(checklist)
{
    RUN_TEST(item01_sixteen_slots_with_qom_names);
    RUN_TEST(item02_initially_unset_and_never_updated);
    RUN_TEST(item03_stats_queue_is_2_size_128_without_feature);
    RUN_TEST(item04_stats_vq_offered_must_tell_host_not);
    RUN_TEST(item05_one_pop_per_notification);
    RUN_TEST(item06_second_buffer_returns_the_first);
    RUN_TEST(item07_all_slots_reset_before_parsing);
    RUN_TEST(item08_ten_byte_records_from_offset_zero);
    RUN_TEST(item09_trailing_partial_record_ignored);
    RUN_TEST(item10_records_straddle_descriptors);
    RUN_TEST(item11_unknown_tags_consumed_and_ignored);
    RUN_TEST(item12_duplicate_tag_last_wins);
    RUN_TEST(item13_writable_descriptors_never_touched);
    RUN_TEST(item14_endianness_le_modern_guest_order_legacy);
    RUN_TEST(item15_last_update_is_wall_seconds_even_if_empty);
    RUN_TEST(item16_empty_notification_changes_nothing);
    RUN_TEST(item17_every_notification_rearms);
    RUN_TEST(item18_timer_without_buffer_only_rearms);
    RUN_TEST(item19_poll_returns_buffer_and_does_not_rearm);
    RUN_TEST(item20_timer_follows_the_vm_clock);
    RUN_TEST(item21_negative_interval_error);
    RUN_TEST(item22_too_big_interval_error);
    RUN_TEST(item23_same_value_is_a_noop);
    RUN_TEST(item24_zero_disables_and_keeps_stats);
    RUN_TEST(item25_enabling_polls_at_once);
    RUN_TEST(item26_change_rearms_even_with_poll_outstanding);
    RUN_TEST(item27_interval_reads_back);
    RUN_TEST(item28_guest_stats_never_fails);
    RUN_TEST(item29_all_sixteen_keys_always);
    RUN_TEST(item30_number_rendering);
    RUN_TEST(item31_stats_before_last_update);
    RUN_TEST(item32_key_order);
    RUN_TEST(item33_compact_separators);
    RUN_TEST(item34_pretty_layout);
    RUN_TEST(item35_property_names_and_types);
    RUN_TEST(item36_unknown_property);
    RUN_TEST(item37_guest_stats_not_writable);
    RUN_TEST(item38_reset_unpops_held_buffer);
    RUN_TEST(item39_reset_keeps_stats_and_timer);
    RUN_TEST(item40_machine_reset_clears_stats);
    RUN_TEST(item41_stats_not_in_migrated_state);
    RUN_TEST(item42_load_rearms_with_local_interval);
    RUN_TEST(item43_driver_ok_rewinds_the_held_buffer);
    RUN_TEST(item44_no_rewind_in_normal_operation);
    RUN_TEST(item45_teardown_cancels_timer_keeps_buffer);
    RUN_TEST(item46_primer_before_driver_ok);
    RUN_TEST(item47_broken_device_ignores_notifications);
    RUN_TEST(item48_ring_error_sets_needs_reset);
    RUN_TEST(item49_avail_runaway_is_a_ring_error_here);
    RUN_TEST(item50_indirect_table_size_rules);
    RUN_TEST(item51_stats_used_length_always_zero);
    RUN_TEST(item52_one_request_and_no_synthesised_stats);
}
