/* vb_render_metrics: the Prometheus and OpenMetrics text of one or several devices, label
   escaping, what is left out, what is refused, and the snprintf-style contract. The text is
   also checked by Prometheus's own tools (tests/metrics_test.sh). */
#include <stdio.h>
#include <string.h>

#include <greatest.h>
#include "guest.h"

static tg T, U;
static char out[16384];

static int start(tg *t, unsigned keys)
{
    vb_config cfg = vb_config_default();
    cfg.stat_keys = keys;
    cfg.ram_size = (uint64_t)512 << 20;
    return tg_start(t, &cfg, TG_LINUX_FEATURES);
}

/* Linux 6.1's first buffer in a 512 MiB guest (ten tags). */
static void primer(tg *t)
{
    static const uint16_t tags[10] = {0, 1, 2, 3, 8, 9, 4, 5, 6, 7};
    static const uint64_t vals[10] = {0, 0, 0, 721, 0, 0, 449478656, 479657984, 449081344, 2301952};
    t->wall = 1795697933;
    tg_stats_buffer(t, 0, tags, vals, 10);
    tg_kick(t, VB_QUEUE_STATS);
}

static size_t render1(const vb_device *d, const vb_label *labels, unsigned n, unsigned flags)
{
    vb_metrics_device m;
    m.dev = d;
    m.labels = labels;
    m.nlabels = n;
    return vb_render_metrics(&m, 1, out, sizeof out, flags);
}

/* Occurrences of `needle` in `hay`. */
static unsigned count(const char *hay, const char *needle)
{
    unsigned n = 0;
    for (hay = strstr(hay, needle); hay; hay = strstr(hay + 1, needle)) n++;
    return n;
}

TEST before_any_stats_only_the_device(void)
{
    ASSERT_EQ(0, start(&T, 16));
    ASSERT(render1(&T.dev, 0, 0, 0) > 0);
    ASSERT_EQ(0u, count(out, "libvirt_domain_memory_stats_unused_bytes")); /* not -1 */
    ASSERT_EQ(0u, count(out, "last_update"));
    ASSERT(strstr(out, "\nlibvirt_domain_memory_stats_actual_balloon_bytes 536870912\n"));
    ASSERT(strstr(out, "\nvballoon_balloon_target_bytes 536870912\n"));
    ASSERT(strstr(out, "# TYPE vballoon_stats_updates_total counter\nvballoon_stats_updates_total 0\n"));
    ASSERT(strstr(out, "\nvballoon_range_bytes_total{kind=\"reported\"} 0\n"));
    ASSERT(strstr(out, "\nvballoon_device_broken 0\n"));
    ASSERT(strstr(out, "\nvballoon_stats_poll_interval_seconds 0\n"));
    ASSERT_EQ(0u, count(out, "# EOF"));
    PASS();
}

TEST stats_sent_are_the_libvirt_names(void)
{
    ASSERT_EQ(0, start(&T, 16));
    primer(&T);
    render1(&T.dev, 0, 0, 0);
    ASSERT(strstr(out, "# HELP libvirt_domain_memory_stats_unused_bytes "));
    ASSERT(strstr(out, "# TYPE libvirt_domain_memory_stats_unused_bytes gauge\n"
                       "libvirt_domain_memory_stats_unused_bytes 449478656\n"));
    ASSERT(strstr(out, "\nlibvirt_domain_memory_stats_available_bytes 479657984\n")); /* total */
    ASSERT(strstr(out, "\nlibvirt_domain_memory_stats_usable_bytes 449081344\n"));    /* available */
    ASSERT(strstr(out, "# TYPE libvirt_domain_memory_stats_minor_fault_total counter\n"
                       "libvirt_domain_memory_stats_minor_fault_total 721\n"));
    ASSERT(strstr(out, "\nlibvirt_domain_memory_stats_disk_cache_bytes 2301952\n"));
    ASSERT(strstr(out, "\nvballoon_stats_last_update_timestamp_seconds 1795697933\n"));
    ASSERT(strstr(out, "\nvballoon_stats_updates_total 1\n"));
    /* Linux 6.1 sends ten tags: the six newer ones are left out, not -1 */
    ASSERT_EQ(0u, count(out, "oom_kills"));
    ASSERT_EQ(0u, count(out, "-1"));
    PASS();
}

TEST only_the_configured_key_set(void)
{
    ASSERT_EQ(0, start(&T, 6));
    primer(&T);
    render1(&T.dev, 0, 0, 0);
    ASSERT_EQ(1u, count(out, "\nlibvirt_domain_memory_stats_swap_in_bytes_total 0\n"));
    ASSERT_EQ(0u, count(out, "disk_cache")); /* tag 7 is not among the 6 keys */
    ASSERT_EQ(0u, count(out, "hugetlb"));
    ASSERT_EQ(7u, count(out, "\nlibvirt_domain_memory_stats_")); /* 6 keys and actual */
    PASS();
}

TEST labels_escaped_and_kind_last(void)
{
    static const vb_label l[2] = {{"domain", "vm \"a\\b\"\nc"}, {"host", "h\xC3\xA9\xFF"}};
    ASSERT_EQ(0, start(&T, 16));
    render1(&T.dev, l, 2, 0);
    ASSERT(strstr(out, "\nvballoon_device_broken{domain=\"vm \\\"a\\\\b\\\"\\nc\",host=\"h\xC3\xA9\xEF\xBF\xBD\"} 0\n"));
    ASSERT(strstr(out, "\nvballoon_range_bytes_total{domain=\"vm \\\"a\\\\b\\\"\\nc\",host=\"h\xC3\xA9\xEF\xBF\xBD\",kind=\"inflate\"} 0\n"));
    PASS();
}

TEST bad_labels_refused(void)
{
    static const vb_label bad[][2] = {
        {{"", "x"}, {"b", "y"}},       {{"1a", "x"}, {"b", "y"}},   {{"a-b", "x"}, {"b", "y"}},
        {{"__a", "x"}, {"b", "y"}},    {{"kind", "x"}, {"b", "y"}}, {{"a", "x"}, {"a", "y"}},
        {{"a", 0}, {"b", "y"}},        {{0, "x"}, {"b", "y"}},      {{"le", "x"}, {"b", "y"}},
    };
    static const vb_label good[2] = {{"_a9", "x"}, {"Zz", ""}};
    unsigned i;
    ASSERT_EQ(0, start(&T, 16));
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        strcpy(out, "unchanged?");
        ASSERT_EQ_FMT(0u, (unsigned)render1(&T.dev, bad[i], 2, 0), "%u");
        ASSERT_STR_EQ("", out);
    }
    ASSERT(render1(&T.dev, good, 2, 0) > 0);
    ASSERT(render1(&T.dev, 0, 0, 0) > 0);
    ASSERT_EQ(0u, (unsigned)render1(&T.dev, 0, 1, 0)); /* labels NULL, nlabels 1 */
    ASSERT_EQ(0u, (unsigned)render1(0, 0, 0, 0));
    PASS();
}

/* Prometheus sees a label with an empty value as no label, and a value as it is written (here
   with U+FFFD for malformed UTF-8): sets that are written the same are one series, refused. */
TEST sets_written_the_same_refused(void)
{
    static const vb_label ff[1] = {{"vm", "\xFF"}}, fe[1] = {{"vm", "\xFE"}}, empty[1] = {{"vm", ""}};
    static const vb_label x[2] = {{"a", "x"}, {"b", ""}}, xa[1] = {{"a", "x"}}, xb[2] = {{"b", "y"}, {"a", "x"}};
    vb_metrics_device m[2];
    ASSERT_EQ(0, start(&T, 16));
    ASSERT_EQ(0, start(&U, 16));
    m[0].dev = &T.dev;
    m[1].dev = &U.dev;
    m[0].labels = ff;
    m[1].labels = fe;
    m[0].nlabels = m[1].nlabels = 1;
    ASSERT_EQ(0u, (unsigned)vb_render_metrics(m, 2, out, sizeof out, 0));
    m[1].labels = empty; /* {vm=""} is {} */
    m[0].nlabels = 0;
    ASSERT_EQ(0u, (unsigned)vb_render_metrics(m, 2, out, sizeof out, 0));
    m[0].labels = x; /* {a="x",b=""} is {a="x"} */
    m[0].nlabels = 2;
    m[1].labels = xa;
    ASSERT_EQ(0u, (unsigned)vb_render_metrics(m, 2, out, sizeof out, 0));
    m[1].labels = xb; /* {b="y",a="x"} is another set */
    m[1].nlabels = 2;
    ASSERT(vb_render_metrics(m, 2, out, sizeof out, 0) > 0);
    ASSERT(strstr(out, "\nvballoon_device_broken{a=\"x\"} 0\nvballoon_device_broken{b=\"y\",a=\"x\"} 0\n"));
    ASSERT(strstr(out, "\nvballoon_range_bytes_total{a=\"x\",kind=\"inflate\"} 0\n"));
    render1(&T.dev, empty, 1, 0); /* only empty values: no braces at all */
    ASSERT(strstr(out, "\nvballoon_device_broken 0\n"));
    ASSERT(strstr(out, "\nvballoon_range_bytes_total{kind=\"deflate\"} 0\n"));
    PASS();
}

TEST two_devices_one_family_each(void)
{
    static const vb_label a[2] = {{"domain", "a"}, {"zone", "1"}};
    static const vb_label b[2] = {{"zone", "1"}, {"domain", "b"}};
    static const vb_label a2[2] = {{"zone", "1"}, {"domain", "a"}}; /* a's set, other order */
    static const vb_label c[2] = {{"host", "a"}, {"zone", "1"}};
    vb_metrics_device m[2];
    ASSERT_EQ(0, start(&T, 16));
    ASSERT_EQ(0, start(&U, 16));
    primer(&U); /* only the second one has stats */
    m[0].dev = &T.dev;
    m[0].labels = a;
    m[0].nlabels = 2;
    m[1].dev = &U.dev;
    m[1].labels = b;
    m[1].nlabels = 2;
    ASSERT(vb_render_metrics(m, 2, out, sizeof out, 0) > 0);
    ASSERT_EQ(1u, count(out, "# TYPE vballoon_device_broken gauge\n"));
    ASSERT_EQ(2u, count(out, "\nvballoon_device_broken{"));
    ASSERT_EQ(1u, count(out, "# TYPE libvirt_domain_memory_stats_unused_bytes gauge\n"));
    ASSERT(strstr(out, "# TYPE libvirt_domain_memory_stats_unused_bytes gauge\n"
                       "libvirt_domain_memory_stats_unused_bytes{zone=\"1\",domain=\"b\"} 449478656\n# "));
    ASSERT(strstr(out, "\nvballoon_stats_updates_total{domain=\"a\",zone=\"1\"} 0\n"
                       "vballoon_stats_updates_total{zone=\"1\",domain=\"b\"} 1\n"));
    m[1].labels = a2;
    ASSERT_EQ(0u, (unsigned)vb_render_metrics(m, 2, out, sizeof out, 0));
    m[1].nlabels = 1; /* {zone="1"} is another set */
    ASSERT(vb_render_metrics(m, 2, out, sizeof out, 0) > 0);
    m[1].labels = c; /* as many labels, other names */
    m[1].nlabels = 2;
    ASSERT(vb_render_metrics(m, 2, out, sizeof out, 0) > 0);
    ASSERT(strstr(out, "\nvballoon_device_broken{host=\"a\",zone=\"1\"} 0\n"));
    m[0].nlabels = m[1].nlabels = 0; /* two devices without labels: the same series */
    ASSERT_EQ(0u, (unsigned)vb_render_metrics(m, 2, out, sizeof out, 0));
    ASSERT_EQ(0u, (unsigned)vb_render_metrics(0, 1, out, sizeof out, 0));
    ASSERT_EQ(0u, (unsigned)vb_render_metrics(0, 0, out, sizeof out, 0)); /* nothing to say */
    PASS();
}

TEST openmetrics_families_and_eof(void)
{
    size_t n;
    ASSERT_EQ(0, start(&T, 16));
    primer(&T);
    n = render1(&T.dev, 0, 0, VB_METRICS_OPENMETRICS);
    ASSERT(n > 6);
    ASSERT_STR_EQ("# EOF\n", out + n - 6);
    ASSERT_EQ(1u, count(out, "# EOF"));
    ASSERT(strstr(out, "# TYPE libvirt_domain_memory_stats_minor_fault counter\n"
                       "libvirt_domain_memory_stats_minor_fault_total 721\n"));
    ASSERT(strstr(out, "# HELP vballoon_stats_polls "));
    ASSERT_EQ(0u, count(out, "_total counter"));
    ASSERT_EQ(6u, (unsigned)vb_render_metrics(0, 0, 0, 0, VB_METRICS_OPENMETRICS)); /* "# EOF\n" */
    PASS();
}

TEST values_follow_the_device(void)
{
    ASSERT_EQ(0, start(&T, 16));
    ASSERT_EQ(VB_OK, vb_set_poll_interval_ms(&T.dev, 1500));
    vb_set_target_pages(&T.dev, 1024);
    render1(&T.dev, 0, 0, 0);
    ASSERT(strstr(out, "\nvballoon_stats_poll_interval_seconds 1.500\n"));
    ASSERT(strstr(out, "\nvballoon_balloon_target_bytes 532676608\n")); /* 512 MiB - 4 MiB */
    ASSERT_EQ(VB_OK, vb_set_poll_interval_ms(&T.dev, 7000));
    vb_break(&T.dev, VB_LOG_BAD_MEMORY);
    render1(&T.dev, 0, 0, 0);
    ASSERT(strstr(out, "\nvballoon_stats_poll_interval_seconds 7\n"));
    ASSERT(strstr(out, "\nvballoon_device_broken 1\n"));
    ASSERT(strstr(out, "\nvballoon_ring_errors_total 1\n"));
    vb_set_ram_size(&T.dev, 0); /* unknown RAM: no byte figures to give */
    render1(&T.dev, 0, 0, 0);
    ASSERT_EQ(0u, count(out, "actual_balloon"));
    ASSERT_EQ(0u, count(out, "target_bytes"));
    PASS();
}

TEST telemetry_of_a_silent_guest(void)
{
    unsigned i;
    ASSERT_EQ(0, start(&T, 16));
    primer(&T);
    ASSERT_EQ(VB_OK, vb_set_poll_interval_ms(&T.dev, 1000));
    T.now_ms = vb_next_deadline(&T.dev);
    vb_timer_expired(&T.dev); /* poll */
    T.now_ms += 20;
    primer(&T); /* answered in 20 ms */
    for (i = 0; i < 4; i++) { /* poll, then three intervals without an answer */
        T.now_ms = vb_next_deadline(&T.dev);
        vb_timer_expired(&T.dev);
    }
    T.now_ms += 250;
    render1(&T.dev, 0, 0, 0);
    ASSERT(strstr(out, "# TYPE vballoon_stats_stale gauge\nvballoon_stats_stale 1\n"));
    ASSERT(strstr(out, "\nvballoon_stats_missed_intervals 3\n"));
    ASSERT(strstr(out, "\nvballoon_stats_age_seconds 4.250\n"));
    ASSERT(strstr(out, "# TYPE vballoon_stats_answer_latency_seconds histogram\n"
                       "vballoon_stats_answer_latency_seconds_bucket{le=\"0.001\"} 0\n"
                       "vballoon_stats_answer_latency_seconds_bucket{le=\"0.004\"} 0\n"
                       "vballoon_stats_answer_latency_seconds_bucket{le=\"0.016\"} 0\n"
                       "vballoon_stats_answer_latency_seconds_bucket{le=\"0.064\"} 1\n"));
    ASSERT(strstr(out, "\nvballoon_stats_answer_latency_seconds_bucket{le=\"+Inf\"} 1\n"
                       "vballoon_stats_answer_latency_seconds_sum 0.020\n"
                       "vballoon_stats_answer_latency_seconds_count 1\n"));
    ASSERT(strstr(out, "\nvballoon_stats_stale_episodes_total 1\n"));
    ASSERT(strstr(out, "\nvballoon_stats_last_buffer_records 10\n"));
    primer(&T); /* the answer: fresh again, and late */
    render1(&T.dev, 0, 0, 0);
    ASSERT(strstr(out, "\nvballoon_stats_stale 0\n"));
    ASSERT(strstr(out, "\nvballoon_stats_late_answers_total 1\n"));
    ASSERT(strstr(out, "\nvballoon_stats_age_seconds 0\n"));
    PASS();
}

/* Every cap gives a prefix of the whole text, NUL-terminated, and the same full length. */
TEST snprintf_contract(void)
{
    static const vb_label l[1] = {{"domain", "vm"}};
    static char whole[16384], cut[16384];
    size_t n, cap;
    ASSERT_EQ(0, start(&T, 16));
    primer(&T);
    n = render1(&T.dev, l, 1, VB_METRICS_OPENMETRICS);
    ASSERT(n < sizeof out);
    memcpy(whole, out, n + 1);
    ASSERT_EQ(n, strlen(whole));
    for (cap = 0; cap <= n + 1; cap++) {
        vb_metrics_device m;
        m.dev = &T.dev;
        m.labels = l;
        m.nlabels = 1;
        memset(cut, 'X', sizeof cut);
        ASSERT_EQ(n, vb_render_metrics(&m, 1, cap ? cut : 0, cap, VB_METRICS_OPENMETRICS));
        if (cap) {
            ASSERT_EQ(0, memcmp(cut, whole, cap - 1));
            ASSERT_EQ('\0', cut[cap - 1]);
        }
        ASSERT_EQ('X', cut[cap]);
    }
    PASS();
}

SUITE(metrics)
{
    RUN_TEST(before_any_stats_only_the_device);
    RUN_TEST(stats_sent_are_the_libvirt_names);
    RUN_TEST(only_the_configured_key_set);
    RUN_TEST(labels_escaped_and_kind_last);
    RUN_TEST(bad_labels_refused);
    RUN_TEST(sets_written_the_same_refused);
    RUN_TEST(two_devices_one_family_each);
    RUN_TEST(openmetrics_families_and_eof);
    RUN_TEST(values_follow_the_device);
    RUN_TEST(telemetry_of_a_silent_guest);
    RUN_TEST(snprintf_contract);
}
