/* Freshness telemetry (vb_telemetry): missed intervals, the stale state and its callback, answer
   latency, and what resets, interval changes and snapshots do to it. The model test computes
   the same from its own definitions over random sequences; these are the named cases. */
#include <string.h>

#include <greatest.h>
#include "guest.h"

static tg T;

static int start(unsigned stale_after)
{
    vb_config cfg = vb_config_default();
    cfg.stale_after = stale_after;
    return tg_start(&T, &cfg, TG_LINUX_FEATURES);
}

static const vb_telemetry *tel(void) { return vb_get_telemetry(&T.dev); }

/* Let the device's timer run at its deadline. */
static void tick(void)
{
    T.now_ms = vb_next_deadline(&T.dev);
    vb_timer_expired(&T.dev);
}

TEST silent_guest_stale_after_three_intervals_once(void)
{
    unsigned i;
    ASSERT_EQ(0, start(0)); /* default K = 3 */
    tg_send_stats(&T, 10, 1);
    ASSERT_EQ(VB_OK, vb_set_poll_interval(&T.dev, 2, NULL));
    tick(); /* the poll: the held buffer goes back */
    ASSERT_EQ(1u, vb_get_counters(&T.dev)->polls);
    tick();
    tick();
    ASSERT_EQ(2u, tel()->missed);
    ASSERT_EQ(0, tel()->stale);
    ASSERT_EQ(0u, T.stale_calls);
    tick();
    ASSERT_EQ(3u, tel()->missed);
    ASSERT_EQ(1, tel()->stale);
    ASSERT_EQ(1u, T.stale_calls);
    ASSERT_EQ(1, T.stale_seen);
    for (i = 0; i < 10; i++) tick(); /* stays stale, told once */
    ASSERT_EQ(13u, tel()->missed);
    ASSERT_EQ(1u, T.stale_calls);
    ASSERT_EQ(1u, vb_get_counters(&T.dev)->polls); /* no poll without an answer */
    /* the answer clears it, late, 13 intervals after its poll */
    T.now_ms += 500;
    tg_send_stats(&T, 10, 2);
    ASSERT_EQ(0, tel()->stale);
    ASSERT_EQ(2u, T.stale_calls);
    ASSERT_EQ(0, T.stale_seen);
    ASSERT_EQ(0u, tel()->missed);
    ASSERT_EQ(1u, tel()->answers);
    ASSERT_EQ(1u, tel()->late);
    ASSERT_EQ(1u, tel()->stale_count);
    ASSERT_EQ(13u * 2000u + 500u, tel()->latency_last_ms);
    ASSERT_EQ(1u, tel()->latency_buckets[VB_LATENCY_BUCKETS - 1]); /* > 4096 ms */
    ASSERT_EQ(T.now_ms + 2000u, vb_poll_deadline(&T.dev)); /* polling resumes */
    PASS();
}

TEST prompt_answers_latency_and_records(void)
{
    static const uint16_t tags[4] = {4, 5, 99, 6};
    static const uint64_t vals[4] = {1, 2, 3, 4};
    ASSERT_EQ(0, start(2));
    tg_send_stats(&T, 10, 1);
    ASSERT_EQ(VB_OK, vb_set_poll_interval_ms(&T.dev, 1000));
    tick();
    T.now_ms += 3;
    tg_stats_buffer(&T, 0, tags, vals, 4);
    tg_kick(&T, VB_QUEUE_STATS);
    ASSERT_EQ(1u, tel()->answers);
    ASSERT_EQ(0u, tel()->late);
    ASSERT_EQ(3u, tel()->latency_last_ms);
    ASSERT_EQ(1u, tel()->latency_buckets[1]); /* 1 < 3 <= 4 ms */
    ASSERT_EQ(4u, tel()->last_records);
    ASSERT_EQ(1u, tel()->last_unknown);
    ASSERT_EQ(T.now_ms, tel()->last_stats_ms);
    ASSERT_EQ(0u, vb_stats_age_ms(&T.dev));
    T.now_ms += 700;
    ASSERT_EQ(700u, vb_stats_age_ms(&T.dev));
    tick();
    T.now_ms += 40;
    tg_send_stats(&T, 10, 1);
    ASSERT_EQ(2u, tel()->answers);
    ASSERT_EQ(3u, tel()->latency_min_ms);
    ASSERT_EQ(40u, tel()->latency_max_ms);
    ASSERT_EQ(43u, tel()->latency_sum_ms);
    ASSERT_EQ(0u, T.stale_calls);
    PASS();
}

/* rmmod: the driver resets the device; with nothing to poll every interval is missed. */
TEST driver_gone_goes_stale_machine_reset_clears(void)
{
    ASSERT_EQ(0, start(2));
    tg_send_stats(&T, 10, 1);
    ASSERT_EQ(VB_OK, vb_set_poll_interval(&T.dev, 1, NULL));
    tick(); /* poll */
    vb_set_status(&T.dev, 0);
    tick();
    ASSERT_EQ(0, tel()->stale);
    tick();
    ASSERT_EQ(1, tel()->stale);
    ASSERT_EQ(1u, T.stale_calls);
    vb_machine_reset(&T.dev, 0);
    ASSERT_EQ(0, tel()->stale);
    ASSERT_EQ(0u, tel()->missed);
    ASSERT_EQ(0u, tel()->stale_count);
    ASSERT_EQ(UINT64_MAX, vb_stats_age_ms(&T.dev));
    ASSERT_EQ(2u, T.stale_calls); /* told it is no longer stale */
    ASSERT_EQ(0, T.stale_seen);
    PASS();
}

TEST polling_off_is_never_stale(void)
{
    ASSERT_EQ(0, start(1));
    ASSERT_EQ(VB_OK, vb_set_poll_interval(&T.dev, 1, NULL));
    tick(); /* nothing held: an interval without stats */
    ASSERT_EQ(1, tel()->stale);
    ASSERT_EQ(VB_OK, vb_set_poll_interval(&T.dev, 0, NULL));
    ASSERT_EQ(0, tel()->stale);
    ASSERT_EQ(0u, tel()->missed);
    ASSERT_EQ(2u, T.stale_calls);
    ASSERT_EQ(UINT64_MAX, vb_next_deadline(&T.dev));
    PASS();
}

TEST interval_change_keeps_the_count(void)
{
    ASSERT_EQ(0, start(3));
    tg_send_stats(&T, 10, 1);
    ASSERT_EQ(VB_OK, vb_set_poll_interval(&T.dev, 2, NULL));
    tick(); /* poll */
    tick(); /* missed 1 */
    ASSERT_EQ(VB_OK, vb_set_poll_interval(&T.dev, 10, NULL));
    ASSERT_EQ(T.now_ms + 10000u, vb_poll_deadline(&T.dev)); /* QEMU re-arms on a change */
    tick();
    ASSERT_EQ(2u, tel()->missed);
    ASSERT_EQ(T.now_ms + 10000u, vb_poll_deadline(&T.dev));
    tick();
    ASSERT_EQ(1, tel()->stale);
    PASS();
}

/* A snapshot does not carry telemetry: the loading device keeps its own, forgets a poll that
   was out (the held buffer is read again, as a new buffer, not as an answer). */
TEST snapshot_keeps_local_telemetry(void)
{
    unsigned char blob[VB_SNAPSHOT_SIZE];
    ASSERT_EQ(0, start(0));
    tg_send_stats(&T, 10, 1);
    ASSERT_EQ(VB_OK, vb_set_poll_interval(&T.dev, 1, NULL));
    tick(); /* poll */
    tick(); /* missed */
    ASSERT_EQ((size_t)VB_SNAPSHOT_SIZE, vb_snapshot_save(&T.dev, blob, sizeof blob));
    ASSERT_EQ(VB_OK, vb_snapshot_load(&T.dev, blob, sizeof blob));
    ASSERT_EQ(1u, tel()->missed);
    ASSERT_EQ(0u, tel()->answers);
    PASS();
}

SUITE(telemetry)
{
    RUN_TEST(silent_guest_stale_after_three_intervals_once);
    RUN_TEST(prompt_answers_latency_and_records);
    RUN_TEST(driver_gone_goes_stale_machine_reset_clears);
    RUN_TEST(polling_off_is_never_stale);
    RUN_TEST(interval_change_keeps_the_count);
    RUN_TEST(snapshot_keeps_local_telemetry);
}
