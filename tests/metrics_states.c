/* build/metrics-states DIR: writes the metrics text of every state worth checking, one file per
   state and format (DIR/NAME.prom, Prometheus text; DIR/NAME.om, OpenMetrics), for
   tests/metrics_test.sh to give to Prometheus's own parsers. The states: each profile and key
   set before any stats, after the first buffer and after a reset; a broken device; labels with
   quotes, backslashes, newlines and bad UTF-8; stale stats; two devices in one scrape; RAM size
   unknown. */
#define VBALLOON_IMPLEMENTATION
#include <stdio.h>
#include <stdlib.h>

#include "guest.h"

static tg T, U;
static const char *dir;

static void emit(const char *name, const vb_metrics_device *m, unsigned n)
{
    static char text[65536];
    static const char *const ext[2] = {"prom", "om"};
    unsigned om;
    for (om = 0; om < 2; om++) {
        char path[512];
        size_t len = vb_render_metrics(m, n, text, sizeof text, om ? VB_METRICS_OPENMETRICS : 0);
        FILE *f;
        snprintf(path, sizeof path, "%s/%s.%s", dir, name, ext[om]);
        f = fopen(path, "w");
        if (!f || len == 0 || len >= sizeof text || fwrite(text, 1, len, f) != len || fclose(f)) {
            fprintf(stderr, "metrics-states: cannot write %s (%zu bytes)\n", path, len);
            exit(1);
        }
    }
}

static void emit1(const char *name, const vb_device *d, const vb_label *labels, unsigned n)
{
    vb_metrics_device m;
    m.dev = d;
    m.labels = labels;
    m.nlabels = n;
    emit(name, &m, 1);
}

static void start(tg *t, vb_profile profile, unsigned keys)
{
    vb_config cfg = vb_config_default();
    cfg.profile = profile;
    cfg.stat_keys = keys;
    cfg.ram_size = (uint64_t)1 << 30;
    cfg.options = VB_OPT_REPORTING | VB_OPT_FREE_PAGE_HINT | VB_OPT_PAGE_POISON;
    if (tg_start(t, &cfg, TG_LINUX_FEATURES)) {
        fprintf(stderr, "metrics-states: the device did not start\n");
        exit(1);
    }
}

/* A buffer with every tag 0..15, values that differ by tag (some past 2^53). */
static void all_tags(tg *t)
{
    uint16_t tags[VB_STAT_COUNT];
    uint64_t vals[VB_STAT_COUNT];
    unsigned i;
    for (i = 0; i < VB_STAT_COUNT; i++) {
        tags[i] = (uint16_t)i;
        vals[i] = i == 9 ? UINT64_MAX - 1 : (uint64_t)(i + 1) * 4096u * 1000u;
    }
    tg_stats_buffer(t, 0, tags, vals, VB_STAT_COUNT);
    tg_kick(t, VB_QUEUE_STATS);
}

int main(int argc, char **argv)
{
    static const unsigned keys[5] = {16, 10, 8, 7, 6};
    static const vb_label odd[3] = {{"domain", "vm \"quoted\" \\ back\\slash\nnew line"},
                                    {"bad_utf8", "\xC3\x28 \xFF \xE2\x82"},
                                    {"empty", ""}};
    static const vb_label a[1] = {{"domain", "a"}}, b[1] = {{"domain", "b"}};
    vb_metrics_device two[2];
    unsigned p, k;
    char name[64];
    if (argc != 2) {
        fprintf(stderr, "usage: metrics-states DIR\n");
        return 2;
    }
    dir = argv[1];
    for (p = 0; p < 2; p++)
        for (k = 0; k < 5; k++) {
            vb_profile profile = p ? VB_PROFILE_QEMU : VB_PROFILE_DOC;
            snprintf(name, sizeof name, "%s-%u-before", p ? "qemu" : "doc", keys[k]);
            start(&T, profile, keys[k]);
            emit1(name, &T.dev, 0, 0);
            all_tags(&T);
            snprintf(name, sizeof name, "%s-%u-stats", p ? "qemu" : "doc", keys[k]);
            emit1(name, &T.dev, a, 1);
            vb_reset(&T.dev);
            snprintf(name, sizeof name, "%s-%u-reset", p ? "qemu" : "doc", keys[k]);
            emit1(name, &T.dev, a, 1);
        }
    start(&T, VB_PROFILE_DOC, 16);
    all_tags(&T);
    vb_set_poll_interval_ms(&T.dev, 2500);
    emit1("odd-labels", &T.dev, odd, 3);
    for (k = 0; k < 6; k++) { /* a poll answered after 7 ms, then a guest gone silent */
        T.now_ms = vb_next_deadline(&T.dev);
        vb_timer_expired(&T.dev);
        if (k == 0) {
            T.now_ms += 7;
            all_tags(&T);
        }
    }
    if (!vb_get_telemetry(&T.dev)->stale) {
        fprintf(stderr, "metrics-states: the silent guest is not stale\n");
        return 1;
    }
    emit1("stale", &T.dev, a, 1);
    vb_break(&T.dev, VB_LOG_BAD_MEMORY);
    emit1("broken", &T.dev, a, 1);
    vb_set_ram_size(&T.dev, 0);
    emit1("ram-unknown", &T.dev, 0, 0);
    start(&T, VB_PROFILE_QEMU, 16);
    start(&U, VB_PROFILE_QEMU, 10);
    all_tags(&U);
    two[0].dev = &T.dev;
    two[0].labels = a;
    two[0].nlabels = 1;
    two[1].dev = &U.dev;
    two[1].labels = b;
    two[1].nlabels = 1;
    emit("two-devices", two, 2);
    return 0;
}
