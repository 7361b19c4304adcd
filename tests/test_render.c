/* guest-stats rendering: exact bytes against real QEMU 7.2 (docs/qemu-observed.md), key
   order recomputed here from QEMU's QDict hash, both profiles, both layouts, and the
   snprintf-style contract. */
#include <stdio.h>
#include <string.h>

#include <greatest.h>
#include "guest.h"

static tg T;

static int start(vb_profile profile, unsigned keys)
{
    vb_config cfg = {VB_PROFILE_DOC, 0, 0, 0, 0, 0, 0, 0};
    cfg.profile = profile;
    cfg.stat_keys = keys;
    return tg_start(&T, &cfg, TG_LINUX_FEATURES);
}

/* Linux 6.1's primer as seen in docs/qemu-observed.md (a 512 MiB guest). */
static void observed_primer(void)
{
    static const uint16_t tags[10] = {0, 1, 2, 3, 8, 9, 4, 5, 6, 7};
    static const uint64_t vals[10] = {0, 0, 0, 721, 0, 0, 449478656, 479657984, 449081344, 2301952};
    T.wall = 1795697933;
    tg_stats_buffer(&T, 0, tags, vals, 10);
    tg_kick(&T, VB_QUEUE_STATS);
}

/* Every length of a decimal number, at both ends: 10^k - 1 and 10^k, up to UINT64_MAX - 1 (the
   qemu profile's unset is UINT64_MAX), in the one stat every profile shows (free memory). */
TEST numbers_of_every_length(void)
{
    static const uint16_t tag[1] = {4};
    uint64_t v[1], p = 1;
    unsigned k;
    for (k = 0; k < 21; k++) {
        uint64_t each[2];
        unsigned i;
        each[0] = k < 20 ? p - 1u : UINT64_MAX - 1u;
        each[1] = k < 20 ? p : UINT64_MAX - 1u;
        for (i = 0; i < 2; i++) {
            char want[64];
            ASSERT_EQ(0, start(VB_PROFILE_QEMU, 10));
            v[0] = each[i];
            tg_stats_buffer(&T, 0, tag, v, 1);
            tg_kick(&T, VB_QUEUE_STATS);
            snprintf(want, sizeof want, "\"stat-free-memory\": %llu,", (unsigned long long)v[0]);
            ASSERTm(want, strstr(tg_render(&T, 0), want) != NULL);
        }
        if (k < 19) p *= 10u;
        else p = UINT64_MAX;
    }
    PASS();
}

TEST qemu72_before_the_driver_loaded(void)
{
    ASSERT_EQ(0, start(VB_PROFILE_QEMU, 10));
    ASSERT_STR_EQ(
        "{\"stats\": {\"stat-htlb-pgalloc\": 18446744073709551615, \"stat-swap-out\": "
        "18446744073709551615, \"stat-available-memory\": 18446744073709551615, "
        "\"stat-htlb-pgfail\": 18446744073709551615, \"stat-free-memory\": 18446744073709551615, "
        "\"stat-minor-faults\": 18446744073709551615, \"stat-major-faults\": "
        "18446744073709551615, \"stat-total-memory\": 18446744073709551615, \"stat-swap-in\": "
        "18446744073709551615, \"stat-disk-caches\": 18446744073709551615}, \"last-update\": 0}",
        tg_render(&T, 0));
    PASS();
}

TEST qemu72_after_the_driver_primed(void)
{
    ASSERT_EQ(0, start(VB_PROFILE_QEMU, 10));
    observed_primer();
    ASSERT_STR_EQ(
        "{\"stats\": {\"stat-htlb-pgalloc\": 0, \"stat-swap-out\": 0, \"stat-available-memory\": "
        "449081344, \"stat-htlb-pgfail\": 0, \"stat-free-memory\": 449478656, "
        "\"stat-minor-faults\": 721, \"stat-major-faults\": 0, \"stat-total-memory\": 479657984, "
        "\"stat-swap-in\": 0, \"stat-disk-caches\": 2301952}, \"last-update\": 1795697933}",
        tg_render(&T, 0));
    PASS();
}

TEST qemu92_linux61_guest_leaves_new_tags_unset(void)
{
    const char *s;
    ASSERT_EQ(0, start(VB_PROFILE_QEMU, 16));
    observed_primer();
    s = tg_render(&T, 0);
    ASSERT(strstr(s, "\"stat-alloc-stalls\": 18446744073709551615, "));
    ASSERT(strstr(s, "\"stat-minor-faults\": 721, "));
    PASS();
}

TEST pretty_sixteen_keys_exact(void)
{
    ASSERT_EQ(0, start(VB_PROFILE_QEMU, 16));
    tg_send_stats(&T, 16, 2);
    ASSERT_STR_EQ("{\n"
                  "    \"stats\": {\n"
                  "        \"stat-htlb-pgalloc\": 2008,\n"
                  "        \"stat-swap-out\": 2001,\n"
                  "        \"stat-alloc-stalls\": 2011,\n"
                  "        \"stat-available-memory\": 2006,\n"
                  "        \"stat-direct-reclaims\": 2015,\n"
                  "        \"stat-direct-scans\": 2013,\n"
                  "        \"stat-htlb-pgfail\": 2009,\n"
                  "        \"stat-free-memory\": 2004,\n"
                  "        \"stat-minor-faults\": 2003,\n"
                  "        \"stat-major-faults\": 2002,\n"
                  "        \"stat-total-memory\": 2005,\n"
                  "        \"stat-oom-kills\": 2010,\n"
                  "        \"stat-async-reclaims\": 2014,\n"
                  "        \"stat-swap-in\": 2000,\n"
                  "        \"stat-async-scans\": 2012,\n"
                  "        \"stat-disk-caches\": 2007\n"
                  "    },\n"
                  "    \"last-update\": 1358529861\n"
                  "}",
                  tg_render(&T, VB_JSON_PRETTY));
    PASS();
}

/* QEMU's qdict.c: tdb_hash(key) % 512 buckets, walked in order; newest first in a bucket. */
static unsigned tdb_bucket(const char *key)
{
    uint32_t v = 0x238F13AFu * (uint32_t)strlen(key);
    unsigned i;
    for (i = 0; key[i]; i++) v += (uint32_t)(unsigned char)key[i] << ((i * 5u) % 24u);
    return (unsigned)((1103515243u * v + 12345u) % 512u);
}

/* The expected order for the first `n` tags: ascending bucket, later tag first on a tie. */
static void qdict_order(unsigned n, unsigned *order)
{
    unsigned i, j;
    for (i = 0; i < n; i++) order[i] = i;
    for (i = 1; i < n; i++)
        for (j = i; j > 0; j--) {
            unsigned a = order[j - 1], b = order[j];
            unsigned ba = tdb_bucket(vb_stat_name(a)), bb = tdb_bucket(vb_stat_name(b));
            if (ba < bb || (ba == bb && a > b)) break;
            order[j - 1] = b;
            order[j] = a;
        }
}

TEST key_order_is_qdict_hash_order_for_every_size(void)
{
    static const unsigned sizes[5] = {6, 7, 8, 10, 16};
    unsigned k;
    ASSERT_EQ(131u, tdb_bucket("stats"));
    ASSERT_EQ(254u, tdb_bucket("last-update"));
    for (k = 0; k < 5; k++) {
        unsigned order[16], i;
        const char *s, *prev;
        ASSERT_EQ(0, start(VB_PROFILE_QEMU, sizes[k]));
        qdict_order(sizes[k], order);
        s = tg_render(&T, 0);
        prev = s;
        for (i = 0; i < sizes[k]; i++) {
            char key[64];
            const char *at;
            snprintf(key, sizeof key, "\"%s\": ", vb_stat_name(order[i]));
            at = strstr(s, key);
            ASSERTm(key, at != NULL && at > prev);
            prev = at;
        }
        for (i = sizes[k]; i < 16; i++) ASSERT_EQ(NULL, strstr(s, vb_stat_name(i)));
    }
    PASS();
}

TEST doc_profile_renders_signed_like_2013(void)
{
    static const uint16_t tags[2] = {4, 5};
    uint64_t vals[2] = {9223372036854775808u, 9223372036854775807u};
    const char *s;
    ASSERT_EQ(0, start(VB_PROFILE_DOC, 16));
    tg_stats_buffer(&T, 0, tags, vals, 2);
    tg_kick(&T, VB_QUEUE_STATS);
    s = tg_render(&T, 0);
    ASSERT(strstr(s, "\"stat-free-memory\": -9223372036854775808,"));
    ASSERT(strstr(s, "\"stat-total-memory\": 9223372036854775807,"));
    ASSERT(strstr(s, "\"stat-swap-in\": -1,"));
    PASS();
}

TEST last_update_extremes(void)
{
    ASSERT_EQ(0, start(VB_PROFILE_QEMU, 6));
    T.wall = INT64_MIN;
    tg_send_stats(&T, 10, 1);
    ASSERT(strstr(tg_render(&T, 0), "\"last-update\": -9223372036854775808}"));
    T.wall = INT64_MAX;
    tg_send_stats(&T, 10, 1);
    ASSERT(strstr(tg_render(&T, 0), "\"last-update\": 9223372036854775807}"));
    PASS();
}

TEST snprintf_contract(void)
{
    char full[4096], small[64];
    size_t n, i;
    ASSERT_EQ(0, start(VB_PROFILE_QEMU, 16));
    n = vb_render_guest_stats(&T.dev, full, sizeof full, 0);
    ASSERT_EQ(strlen(full), n);
    ASSERT_EQ(n, vb_render_guest_stats(&T.dev, NULL, 0, 0));
    for (i = 0; i <= sizeof small; i++) {
        memset(small, 'X', sizeof small);
        ASSERT_EQ(n, vb_render_guest_stats(&T.dev, small, i, 0));
        if (i == 0) {
            ASSERT_EQ('X', small[0]); /* cap 0: nothing written */
        } else {
            ASSERT_EQ(0, memcmp(small, full, i - 1)); /* a prefix, NUL-terminated */
            ASSERT_EQ(0, small[i - 1]);
            if (i < sizeof small) ASSERT_EQ('X', small[i]);
        }
    }
    /* exactly n + 1 holds it all */
    ASSERT_EQ(n, vb_render_guest_stats(&T.dev, full, n + 1, 0));
    ASSERT_EQ(n, strlen(full));
    PASS();
}

TEST pretty_length_matches_content(void)
{
    char buf[4096];
    size_t n;
    ASSERT_EQ(0, start(VB_PROFILE_DOC, 10));
    n = vb_render_guest_stats(&T.dev, buf, sizeof buf, VB_JSON_PRETTY);
    ASSERT_EQ(strlen(buf), n);
    ASSERT_EQ(0, strcmp(buf + n - 2, "\n}"));
    PASS();
}

TEST render_is_stable_and_const(void)
{
    char a[4096], b[4096];
    vb_device copy;
    ASSERT_EQ(0, start(VB_PROFILE_QEMU, 16));
    tg_send_stats(&T, 16, 3);
    memcpy(&copy, &T.dev, sizeof copy);
    vb_render_guest_stats(&T.dev, a, sizeof a, 0);
    vb_render_guest_stats(&T.dev, b, sizeof b, 0);
    ASSERT_STR_EQ(a, b);
    ASSERT_EQ(0, memcmp(&copy, &T.dev, sizeof copy)); /* rendering changes nothing */
    PASS();
}

TEST error_text_contract(void)
{
    vb_error e;
    char buf[16];
    ASSERT_EQ(0, start(VB_PROFILE_QEMU, 16));
    ASSERT_EQ(VB_ERR_NOT_FOUND, vb_prop_set_int(&T.dev, "nope", 4, 1, &e));
    ASSERT_EQ(44u, vb_error_text(&e, NULL, 0));
    ASSERT_EQ(44u, vb_error_text(&e, buf, sizeof buf));
    ASSERT_STR_EQ("Property 'virti", buf);
    ASSERT_EQ(0u, vb_error_text(NULL, buf, sizeof buf));
    ASSERT_STR_EQ("", buf);
    PASS();
}

TEST property_get_renders_like_render(void)
{
    char a[4096], b[4096];
    size_t n = 0;
    vb_error e;
    ASSERT_EQ(0, start(VB_PROFILE_QEMU, 10));
    observed_primer();
    ASSERT_EQ(VB_OK, vb_prop_get(&T.dev, "guest-stats", 11, a, sizeof a, &n, VB_JSON_PRETTY, &e));
    vb_render_guest_stats(&T.dev, b, sizeof b, VB_JSON_PRETTY);
    ASSERT_STR_EQ(b, a);
    ASSERT_EQ(strlen(a), n);
    ASSERT_EQ(VB_OK, vb_prop_get(&T.dev, "type", 4, a, sizeof a, &n, 0, &e));
    ASSERT_STR_EQ("\"virtio-balloon-pci\"", a);
    PASS();
}

TEST type_name_is_configurable(void)
{
    vb_config cfg = {VB_PROFILE_QEMU, 0, 0, 0, 0, 0, "virtio-balloon-device", 0};
    vb_error e;
    char buf[128];
    ASSERT_EQ(0, tg_create(&T, &cfg));
    ASSERT_EQ(VB_ERR_NOT_FOUND, vb_prop_set_int(&T.dev, "stats-polling-interval", 22, 0, &e));
    vb_error_text(&e, buf, sizeof buf);
    ASSERT_STR_EQ("Property 'virtio-balloon-device.stats-polling-interval' not found", buf);
    PASS();
}

SUITE(render)
{
    RUN_TEST(numbers_of_every_length);
    RUN_TEST(qemu72_before_the_driver_loaded);
    RUN_TEST(qemu72_after_the_driver_primed);
    RUN_TEST(qemu92_linux61_guest_leaves_new_tags_unset);
    RUN_TEST(pretty_sixteen_keys_exact);
    RUN_TEST(key_order_is_qdict_hash_order_for_every_size);
    RUN_TEST(doc_profile_renders_signed_like_2013);
    RUN_TEST(last_update_extremes);
    RUN_TEST(snprintf_contract);
    RUN_TEST(pretty_length_matches_content);
    RUN_TEST(render_is_stable_and_const);
    RUN_TEST(error_text_contract);
    RUN_TEST(property_get_renders_like_render);
    RUN_TEST(type_name_is_configurable);
}
