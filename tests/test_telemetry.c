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
    tick(); /* the first poll, at once: nothing held, but no interval has ended yet */
    ASSERT_EQ(0u, tel()->missed);
    ASSERT_EQ(T.now_ms + 1000u, vb_next_deadline(&T.dev));
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

#define LATENCY_ZERO "\"within-1\": 0, \"within-4\": 0, \"within-16\": 0, \"within-64\": 0, " \
    "\"within-256\": 0, \"within-1024\": 0"

static const char *telemetry_json(void)
{
    static char buf[1024];
    size_t n = 0;
    if (vb_prop_get(&T.dev, "x-guest-stats-telemetry", 23, buf, sizeof buf, &n, 0, NULL) != VB_OK ||
        n >= sizeof buf)
        return "(no value)";
    return buf;
}

/* The experimental property says what vb_get_telemetry says, member by member. */
TEST property_and_event_follow_the_stale_state(void)
{
    char ev[256];
    vb_error e;
    ASSERT_EQ(0, start(2));
    ASSERT_STR_EQ("{\"stale\": false, \"missed-intervals\": 0, \"stale-episodes\": 0, \"answers\": 0, "
                  "\"late-answers\": 0, \"last-poll-ms\": 0, \"last-records\": 0, "
                  "\"last-unknown-tags\": 0, \"last-stats-ms\": -1, \"age-ms\": -1, \"latency-ms\": {\"last\": 0, \"min\": 0, "
                  "\"max\": 0, \"sum\": 0, " LATENCY_ZERO ", \"within-4096\": 0, \"slower\": 0}}",
                  telemetry_json());
    tg_send_stats(&T, 10, 1); /* at 1000 ms: a buffer, not an answer (nothing was polled) */
    ASSERT_EQ(VB_OK, vb_set_poll_interval(&T.dev, 1, NULL));
    tick(); /* the poll, at once (1000 ms), as QEMU polls when polling is turned on */
    tick();
    tick(); /* 3000: two intervals missed */
    ASSERT_STR_EQ("{\"stale\": true, \"missed-intervals\": 2, \"stale-episodes\": 1, \"answers\": 0, "
                  "\"late-answers\": 0, \"last-poll-ms\": 1000, \"last-records\": 10, "
                  "\"last-unknown-tags\": 0, \"last-stats-ms\": 1000, \"age-ms\": 2000, \"latency-ms\": {\"last\": 0, \"min\": 0, "
                  "\"max\": 0, \"sum\": 0, " LATENCY_ZERO ", \"within-4096\": 0, \"slower\": 0}}",
                  telemetry_json());
    ASSERT(vb_qmp_event_stats_stale(&T.dev, 5, 6, ev, sizeof ev) < sizeof ev);
    ASSERT_STR_EQ("{\"timestamp\": {\"seconds\": 5, \"microseconds\": 6}, \"event\": "
                  "\"__org.vballoon_BALLOON_STATS_STALE\", \"data\": {\"stale\": true, "
                  "\"missed-intervals\": 2, \"last-update\": " "1358529861" "}}", ev);
    T.now_ms += 5;
    tg_send_stats(&T, 10, 2); /* answered 2005 ms after the poll */
    ASSERT_STR_EQ("{\"stale\": false, \"missed-intervals\": 0, \"stale-episodes\": 1, \"answers\": 1, "
                  "\"late-answers\": 1, \"last-poll-ms\": 1000, \"last-records\": 10, "
                  "\"last-unknown-tags\": 0, \"last-stats-ms\": 3005, \"age-ms\": 0, \"latency-ms\": {\"last\": 2005, \"min\": 2005, "
                  "\"max\": 2005, \"sum\": 2005, " LATENCY_ZERO ", \"within-4096\": 1, \"slower\": 0}}",
                  telemetry_json());
    ASSERT(vb_qmp_event_stats_stale(&T.dev, 7, 8, ev, sizeof ev) < sizeof ev);
    ASSERT(strstr(ev, "\"data\": {\"stale\": false, \"missed-intervals\": 0, "));
    ASSERT_EQ(VB_ERR_READ_ONLY, vb_prop_set_int(&T.dev, "x-guest-stats-telemetry", 23, 0, &e));
    PASS();
}

/* A VM clock that starts at 0: a buffer at 0 ms is a buffer, 0 is no "never". */
TEST buffer_at_time_zero_counts(void)
{
    ASSERT_EQ(0, start(0));
    ASSERT_EQ(0, tel()->has_stats);
    T.now_ms = 0;
    tg_send_stats(&T, 10, 1);
    ASSERT_EQ(1, tel()->has_stats);
    ASSERT_EQ(0u, tel()->last_stats_ms);
    T.now_ms = 5;
    ASSERT_EQ(5u, vb_stats_age_ms(&T.dev));
    vb_machine_reset(&T.dev, 0);
    ASSERT_EQ(0, tel()->has_stats);
    ASSERT_EQ(UINT64_MAX, vb_stats_age_ms(&T.dev));
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
    RUN_TEST(property_and_event_follow_the_stale_state);
    RUN_TEST(buffer_at_time_zero_counts);
}
