/* Every sentence of QEMU's 2013 docs/virtio-balloon-stats.txt (the seed document, not in this
   repository: docs/seed.md restates it and maps it to these tests) as a test, in the doc profile
   (the default). The seed's four QMP commands are pasted verbatim. Sentence numbers are the
   document's line numbers. */
#include <stdio.h>
#include <string.h>

#include <greatest.h>
#include "guest.h"

static tg T;
static vb_qmp Q;
static vb_error E;
static char reply[8192];

/* The seed's commands, exactly as the document shows them (lines 65-67, 73-75, 81-83, 100-102). */
static const char seed_enable[] =
    "{ \"execute\": \"qom-set\",\n"
    "             \"arguments\": { \"path\": \"/machine/peripheral-anon/device[1]\",\n"
    "                         \"property\": \"guest-stats-polling-interval\", \"value\": 2 } }";
static const char seed_change[] =
    "{ \"execute\": \"qom-set\",\n"
    "             \"arguments\": { \"path\": \"/machine/peripheral-anon/device[1]\",\n"
    "                         \"property\": \"guest-stats-polling-interval\", \"value\": 10 } }";
static const char seed_get[] =
    "{ \"execute\": \"qom-get\",\n"
    "  \"arguments\": { \"path\": \"/machine/peripheral-anon/device[1]\",\n"
    "  \"property\": \"guest-stats\" } }";
static const char seed_disable[] =
    "{ \"execute\": \"qom-set\",\n"
    "             \"arguments\": { \"path\": \"/machine/peripheral-anon/device[1]\",\n"
    "                         \"property\": \"stats-polling-interval\", \"value\": 0 } }";

/* The seed's example values (lines 87-92). */
static const uint16_t seed_tags[6] = {1, 4, 3, 2, 5, 0};
static const uint64_t seed_vals[6] = {0, 844943360, 219028, 235, 1044406272, 0};

static unsigned seed_counter; /* answers given by run_for() since start() */

static const char *qmp(const char *cmd)
{
    size_t n = vb_qmp_execute(&Q, cmd, strlen(cmd), reply, sizeof reply);
    return n < sizeof reply ? reply : "(reply truncated)";
}

/* A doc-profile device with a Linux-like driver that has primed its buffer. */
static int start(unsigned keys, int primed)
{
    vb_config cfg = {VB_PROFILE_DOC, 0, 0, 0, 0, 0, 0, 0};
    cfg.stat_keys = keys;
    seed_counter = 0;
    if (tg_start(&T, &cfg, TG_LINUX_FEATURES)) return -1;
    vb_qmp_init(&Q, &T.dev, VB_QMP_NO_NEGOTIATION);
    if (primed) tg_send_stats(&T, 10, 1);
    return 0;
}

/* Run the VM for `ms`: the timer fires when due, and the guest answers each poll at once
   with fresh stats (values from `seed`, incremented per answer). The wall clock follows. */
static void run_for(uint64_t ms)
{
    uint64_t end = T.now_ms + ms;
    int64_t wall0 = T.wall - (int64_t)(T.now_ms / 1000u);
    while (T.armed && T.deadline <= end) {
        T.now_ms = T.deadline;
        T.wall = wall0 + (int64_t)(T.now_ms / 1000u);
        tg_fire(&T);
        if (tg_used(&T, VB_QUEUE_STATS, NULL, NULL, 4)) tg_send_stats(&T, 10, ++seed_counter + 100);
    }
    T.now_ms = end;
    T.wall = wall0 + (int64_t)(T.now_ms / 1000u);
}

/* lines 4-6 */
TEST s004_stats_are_qom_properties_via_polling(void)
{
    ASSERT_EQ(0, start(0, 1));
    ASSERT_STR_EQ("guest statistics", vb_prop_type(&T.dev, "guest-stats", 11));
    ASSERT_STR_EQ("int", vb_prop_type(&T.dev, "guest-stats-polling-interval", 28));
    PASS();
}

/* lines 8-10: enabling is a write of seconds to guest-stats-polling-interval */
TEST s008_enable_by_writing_seconds(void)
{
    ASSERT_EQ(0, start(0, 1));
    ASSERT_EQ(VB_OK, vb_prop_set_int(&T.dev, "guest-stats-polling-interval", 28, 2, &E));
    ASSERT_EQ(2000u, vb_poll_interval_ms(&T.dev));
    PASS();
}

/* line 12: > 0 enables polling in the specified interval */
TEST s012_positive_polls_at_that_interval(void)
{
    int64_t first;
    ASSERT_EQ(0, start(0, 1));
    ASSERT_EQ(VB_OK, vb_set_poll_interval(&T.dev, 2, &E));
    run_for(1);
    first = vb_last_update(&T.dev);
    run_for(10000);
    ASSERT_EQ(6u, vb_get_counters(&T.dev)->polls);  /* at once, then every 2 s */
    ASSERT_EQ(first + 10, vb_last_update(&T.dev));
    PASS();
}

/* lines 12-13: if polling is already enabled, the interval is changed to the new value */
TEST s013_change_interval(void)
{
    ASSERT_EQ(0, start(0, 1));
    ASSERT_EQ(VB_OK, vb_set_poll_interval(&T.dev, 2, &E));
    run_for(4500);
    ASSERT_EQ(3u, vb_get_counters(&T.dev)->polls);
    ASSERT_EQ(VB_OK, vb_set_poll_interval(&T.dev, 10, &E));
    run_for(9999);
    ASSERT_EQ(3u, vb_get_counters(&T.dev)->polls);
    run_for(1);
    ASSERT_EQ(4u, vb_get_counters(&T.dev)->polls);
    PASS();
}

/* lines 15-16: 0 disables polling; previous stats are still valid and can be queried */
TEST s015_zero_disables_and_keeps_stats(void)
{
    char before[2048];
    ASSERT_EQ(0, start(0, 1));
    ASSERT_EQ(VB_OK, vb_set_poll_interval(&T.dev, 2, &E));
    run_for(5000);
    strcpy(before, tg_render(&T, 0));
    ASSERT_EQ(VB_OK, vb_set_poll_interval(&T.dev, 0, &E));
    run_for(60000);
    ASSERT_STR_EQ(before, tg_render(&T, 0));
    ASSERT_EQ(3u, vb_get_counters(&T.dev)->polls);
    PASS();
}

/* lines 18-20: once enabled, the device polls the guest's driver for new stats */
TEST s018_device_polls_the_driver(void)
{
    uint32_t id = 7, len = 7;
    ASSERT_EQ(0, start(0, 1));
    ASSERT_EQ(VB_OK, vb_set_poll_interval(&T.dev, 2, &E));
    tg_advance(&T, 0);
    ASSERT_EQ(1, tg_used(&T, VB_QUEUE_STATS, &id, &len, 1)); /* the request is the buffer */
    ASSERT_EQ(0u, id);
    ASSERT_EQ(1, T.irq[VB_QUEUE_STATS]);
    PASS();
}

/* lines 22-27: guest-stats is a dictionary with 'stats'; unsupported stats are -1 */
TEST s022_dictionary_with_stats_unsupported_minus_one(void)
{
    static const uint16_t tags[4] = {4, 5, 6, 7}; /* a kernel without VM event counters */
    uint64_t vals[4] = {1, 2, 3, 4};
    const char *s;
    ASSERT_EQ(0, start(0, 0));
    tg_stats_buffer(&T, 0, tags, vals, 4);
    tg_kick(&T, VB_QUEUE_STATS);
    s = tg_render(&T, 0);
    ASSERT_EQ(0, strncmp(s, "{\"stats\": {", 11));
    ASSERT(strstr(s, "\"stat-swap-in\": -1,"));
    ASSERT(strstr(s, "\"stat-oom-kills\": -1,"));
    ASSERT(strstr(s, "\"stat-free-memory\": 1,"));
    ASSERT(strstr(s, "\"stat-disk-caches\": 4}"));
    PASS();
}

/* lines 27-34: the six stats the document lists, in the document's own order */
TEST s027_the_six_documented_stats(void)
{
    ASSERT_EQ(0, start(6, 0));
    tg_stats_buffer(&T, 0, seed_tags, seed_vals, 6);
    tg_kick(&T, VB_QUEUE_STATS);
    ASSERT_STR_EQ("{\"stats\": {\"stat-swap-out\": 0, \"stat-free-memory\": 844943360, "
                  "\"stat-minor-faults\": 219028, \"stat-major-faults\": 235, "
                  "\"stat-total-memory\": 1044406272, \"stat-swap-in\": 0}, "
                  "\"last-update\": 1358529861}",
                  tg_render(&T, 0));
    PASS();
}

/* lines 36-38: last-update is the host's timestamp in seconds; the guest cannot move it */
TEST s036_last_update_is_host_time(void)
{
    static const uint16_t tags[3] = {0xffff, 16, 5};
    uint64_t vals[3] = {1, 2, 3};
    ASSERT_EQ(0, start(0, 0));
    T.wall = 1700000000;
    tg_stats_buffer(&T, 0, tags, vals, 3);
    tg_kick(&T, VB_QUEUE_STATS);
    ASSERT_EQ(1700000000, vb_last_update(&T.dev));
    /* a guest that kicks without new data does not refresh it either */
    T.wall = 1700000100;
    tg_kick(&T, VB_QUEUE_STATS);
    tg_kick(&T, VB_QUEUE_STATS);
    ASSERT_EQ(1700000000, vb_last_update(&T.dev));
    PASS();
}

/* lines 42-43: previously polled stats remain available after polling is disabled */
TEST s042_stats_survive_disable(void)
{
    char buf[2048];
    ASSERT_EQ(0, start(0, 1));
    ASSERT_EQ(VB_OK, vb_set_poll_interval(&T.dev, 1, &E));
    run_for(3000);
    ASSERT_EQ(VB_OK, vb_set_poll_interval(&T.dev, 0, &E));
    ASSERT_EQ(VB_OK, vb_prop_get(&T.dev, "guest-stats", 11, buf, sizeof buf, NULL, 0, &E));
    ASSERT(strstr(buf, "\"stat-total-memory\": 104005,")); /* the last answer's values */
    PASS();
}

/* lines 45-46: a stat the guest does not support is always -1 */
TEST s045_unsupported_always_minus_one(void)
{
    unsigned i;
    ASSERT_EQ(0, start(0, 1));
    ASSERT_EQ(VB_OK, vb_set_poll_interval(&T.dev, 1, &E));
    for (i = 0; i < 5; i++) {
        run_for(1000);
        ASSERT(strstr(tg_render(&T, 0), "\"stat-oom-kills\": -1,")); /* Linux 6.1 sends 10 */
    }
    PASS();
}

/* lines 46-48: a guest may temporarily fail to update some or all stats; the next update
   brings them back */
TEST s046_temporary_gap_then_next_update(void)
{
    uint64_t gpa;
    ASSERT_EQ(0, start(0, 1));
    ASSERT_EQ(VB_OK, vb_set_poll_interval(&T.dev, 1, &E));
    tg_advance(&T, 0);
    tg_used(&T, VB_QUEUE_STATS, NULL, NULL, 1);
    gpa = tg_alloc(&T, 8); /* an answer with no complete record */
    tg_desc(&T, VB_QUEUE_STATS, 0, gpa, 8, 0, 0);
    tg_publish(&T, VB_QUEUE_STATS, 0);
    tg_kick(&T, VB_QUEUE_STATS);
    ASSERT(strstr(tg_render(&T, 0), "\"stat-total-memory\": -1,"));
    run_for(1000); /* the next poll is answered in full */
    ASSERT(strstr(tg_render(&T, 0), "\"stat-total-memory\": 101005,"));
    PASS();
}

/* lines 50-51: polling can be enabled without stats support or without a driver */
TEST s050_enable_without_driver(void)
{
    ASSERT_EQ(0, tg_create(&T, NULL));
    ASSERT_EQ(VB_OK, vb_set_poll_interval(&T.dev, 2, &E));
    tg_fire(&T);
    tg_fire(&T);
    ASSERT(T.armed); /* it keeps trying every interval */
    ASSERT_EQ(0u, T.reads + T.writes);
    /* a driver without STATS_VQ */
    ASSERT_EQ(0, start(0, 0));
    vb_set_status(&T.dev, 0);
    ASSERT_EQ(0, tg_probe(&T, TG_F(VB_F_VERSION_1)));
    tg_driver_ok(&T);
    ASSERT_EQ(VB_OK, vb_set_poll_interval(&T.dev, 2, &E));
    tg_fire(&T);
    ASSERT(T.armed);
    PASS();
}

/* lines 51-52: ... and then querying the stats returns an error */
TEST s051_query_without_stats_is_an_error(void)
{
    char buf[64] = "untouched";
    ASSERT_EQ(0, start(0, 0));
    ASSERT_EQ(VB_OK, vb_set_poll_interval(&T.dev, 2, &E));
    tg_fire(&T);
    ASSERT_EQ(VB_ERR_NO_DATA, vb_prop_get(&T.dev, "guest-stats", 11, buf, sizeof buf, NULL, 0, &E));
    ASSERT_STR_EQ("GenericError", E.cls);
    ASSERT_STR_EQ("guest hasn't updated any stats yet", E.part[0]);
    ASSERT_STR_EQ("untouched", buf);
    ASSERT_STR_EQ("{\"error\": {\"class\": \"GenericError\", \"desc\": \"guest hasn't updated any stats yet\"}}",
                  qmp(seed_get));
    PASS();
}

/* lines 54-57: the timer is only re-armed when the guest responds; a guest that never
   responds has the same effect as disabling polling */
TEST s054_silent_guest_stops_polling(void)
{
    ASSERT_EQ(0, start(0, 1));
    ASSERT_EQ(VB_OK, vb_set_poll_interval(&T.dev, 2, &E));
    tg_advance(&T, 0); /* poll; this guest never answers */
    T.now_ms += 3600u * 1000u;
    tg_advance(&T, 0);
    ASSERT_EQ(UINT64_MAX, vb_poll_deadline(&T.dev)); /* the polling timer is not re-armed */
    ASSERT_EQ(1u, vb_get_counters(&T.dev)->polls);
    ASSERT_EQ(1, tg_used_idx(&T, VB_QUEUE_STATS));
    /* once it answers, polling resumes */
    tg_send_stats(&T, 10, 2);
    ASSERT(T.armed);
    ASSERT_EQ(T.now_ms + 2000, T.deadline);
    PASS();
}

/* lines 59-61: the seed's QOM path for the balloon device */
TEST s059_seed_qom_path(void)
{
    ASSERT_EQ(0, start(0, 1));
    ASSERT_STR_EQ("{\"return\": 0}",
                  qmp("{\"execute\": \"qom-get\", \"arguments\": {\"path\": "
                      "\"/machine/peripheral-anon/device[1]\", \"property\": "
                      "\"guest-stats-polling-interval\"}}"));
    ASSERT_STR_EQ("{\"return\": 0}",
                  qmp("{\"execute\": \"qom-get\", \"arguments\": {\"path\": "
                      "\"/machine/peripheral/balloon0\", \"property\": "
                      "\"guest-stats-polling-interval\"}}"));
    PASS();
}

/* lines 63-69: enable polling with 2 seconds interval */
TEST s063_seed_enable_command(void)
{
    ASSERT_EQ(0, start(0, 1));
    ASSERT_STR_EQ("{\"return\": {}}", qmp(seed_enable));
    ASSERT_EQ(2, vb_poll_interval(&T.dev));
    tg_advance(&T, 0);
    ASSERT_EQ(1u, vb_get_counters(&T.dev)->polls);
    PASS();
}

/* lines 71-77: change polling to 10 seconds */
TEST s071_seed_change_command(void)
{
    ASSERT_EQ(0, start(0, 1));
    ASSERT_STR_EQ("{\"return\": {}}", qmp(seed_enable));
    run_for(2500);
    ASSERT_STR_EQ("{\"return\": {}}", qmp(seed_change));
    ASSERT_EQ(10, vb_poll_interval(&T.dev));
    ASSERT_EQ(T.now_ms + 10000, vb_next_deadline(&T.dev));
    PASS();
}

/* lines 79-96: get stats; with pretty QMP the reply contains the document's text verbatim */
TEST s079_seed_get_command(void)
{
    static const char doc_text[] = /* seed lines 85-95, exactly */
        "    \"return\": {\n"
        "        \"stats\": {\n"
        "            \"stat-swap-out\": 0,\n"
        "            \"stat-free-memory\": 844943360,\n"
        "            \"stat-minor-faults\": 219028,\n"
        "            \"stat-major-faults\": 235,\n"
        "            \"stat-total-memory\": 1044406272,\n"
        "            \"stat-swap-in\": 0\n"
        "        },\n"
        "        \"last-update\": 1358529861\n"
        "    }";
    ASSERT_EQ(0, start(6, 0));
    tg_stats_buffer(&T, 0, seed_tags, seed_vals, 6);
    tg_kick(&T, VB_QUEUE_STATS);
    ASSERT_STR_EQ("{\"return\": {\"stats\": {\"stat-swap-out\": 0, \"stat-free-memory\": 844943360, "
                  "\"stat-minor-faults\": 219028, \"stat-major-faults\": 235, "
                  "\"stat-total-memory\": 1044406272, \"stat-swap-in\": 0}, "
                  "\"last-update\": 1358529861}}",
                  qmp(seed_get));
    Q.flags |= VB_QMP_PRETTY;
    ASSERT(strstr(qmp(seed_get), doc_text));
    ASSERT_EQ(0, strncmp(reply, "{\n", 2));
    PASS();
}

/* lines 98-104: disable polling, with the document's property name */
TEST s098_seed_disable_command(void)
{
    ASSERT_EQ(0, start(0, 1));
    ASSERT_STR_EQ("{\"return\": {}}", qmp(seed_enable));
    ASSERT_STR_EQ("{\"return\": {}}", qmp(seed_disable));
    ASSERT_EQ(0, vb_poll_interval(&T.dev));
    ASSERT_FALSE(T.armed);
    PASS();
}

/* The four commands in sequence, as `make run` plays them. */
TEST s_all_four_commands_in_order(void)
{
    const char *r;
    ASSERT_EQ(0, start(0, 1));
    ASSERT_STR_EQ("{\"return\": {}}", qmp(seed_enable));
    run_for(4000);
    ASSERT_STR_EQ("{\"return\": {}}", qmp(seed_change));
    run_for(10000);
    r = qmp(seed_get);
    ASSERT_EQ(0, strncmp(r, "{\"return\": {\"stats\": {", 22));
    ASSERT(strstr(r, "\"last-update\": 1358529875}}")); /* the poll at t = 14 s */
    ASSERT_STR_EQ("{\"return\": {}}", qmp(seed_disable));
    PASS();
}

/* The qemu profile answers the document's disable command as current QEMU does. */
TEST s098_qemu_profile_rejects_the_alias(void)
{
    vb_config cfg = {VB_PROFILE_QEMU, 0, 0, 0, 0, 0, 0, 0};
    ASSERT_EQ(0, tg_start(&T, &cfg, TG_LINUX_FEATURES));
    vb_qmp_init(&Q, &T.dev, VB_QMP_NO_NEGOTIATION);
    ASSERT_STR_EQ("{\"return\": {}}", qmp(seed_enable));
    ASSERT_STR_EQ("{\"error\": {\"class\": \"GenericError\", \"desc\": "
                  "\"Property 'virtio-balloon-pci.stats-polling-interval' not found\"}}",
                  qmp(seed_disable));
    ASSERT_EQ(2, vb_poll_interval(&T.dev));
    PASS();
}

SUITE(seed)
{
    RUN_TEST(s004_stats_are_qom_properties_via_polling);
    RUN_TEST(s008_enable_by_writing_seconds);
    RUN_TEST(s012_positive_polls_at_that_interval);
    RUN_TEST(s013_change_interval);
    RUN_TEST(s015_zero_disables_and_keeps_stats);
    RUN_TEST(s018_device_polls_the_driver);
    RUN_TEST(s022_dictionary_with_stats_unsupported_minus_one);
    RUN_TEST(s027_the_six_documented_stats);
    RUN_TEST(s036_last_update_is_host_time);
    RUN_TEST(s042_stats_survive_disable);
    RUN_TEST(s045_unsupported_always_minus_one);
    RUN_TEST(s046_temporary_gap_then_next_update);
    RUN_TEST(s050_enable_without_driver);
    RUN_TEST(s051_query_without_stats_is_an_error);
    RUN_TEST(s054_silent_guest_stops_polling);
    RUN_TEST(s059_seed_qom_path);
    RUN_TEST(s063_seed_enable_command);
    RUN_TEST(s071_seed_change_command);
    RUN_TEST(s079_seed_get_command);
    RUN_TEST(s098_seed_disable_command);
    RUN_TEST(s_all_four_commands_in_order);
    RUN_TEST(s098_qemu_profile_rejects_the_alias);
}
