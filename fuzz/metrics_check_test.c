/* fuzz/metrics_check_test.c - the metrics checker can fail: valid texts (hand-written and
   rendered) pass mc_check, and each broken variant is refused with the expected reason. Run by
   fuzz/smoke.sh (build/metrics-check-test). Prints "metrics_check: N passed, M failed". */
#include <stdio.h>
#include <string.h>

#define VBALLOON_IMPLEMENTATION
#include "../vballoon.h"
#include "metrics_check.h"

static mc C;

#define H_G "# HELP g A gauge.\n# TYPE g gauge\n"
#define H_C "# HELP c_total A counter.\n# TYPE c_total counter\n"
#define H_COM "# HELP c A counter.\n# TYPE c counter\n"
#define H_H "# HELP h A histogram.\n# TYPE h histogram\n"
#define HIST "h_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3.5\nh_count 2\n"

typedef struct tcase {
    int om;
    const char *text;
    const char *why; /* NULL: valid */
} tcase;

static const tcase cases[] = {
    {0, H_G "g 1\n", NULL},
    {0, H_G "g{a=\"x\",b=\"\\\\ \\\" \\n\xC3\xA9\"} -1.5e3\ng{a=\"y\"} NaN\n" H_C "c_total +Inf\n", NULL},
    {1, H_COM "c_total 0\n" H_H HIST "# EOF\n", NULL},
    {0, H_H "h_bucket{a=\"1\",le=\"0.5\"} 0\nh_bucket{a=\"1\",le=\"+Inf\"} 0\nh_sum{a=\"1\"} 0\nh_count{a=\"1\"} 0\n"
           "h_bucket{a=\"2\",le=\"+Inf\"} 4\nh_count{a=\"2\"} 4\nh_sum{a=\"2\"} 1\n", NULL},
    {0, H_G "g{a=\"\"} 1\n", NULL},
    {0, "", "empty text"},
    {0, H_G "g 1\ng{a=\"\"} 2\n", "duplicate series"},
    {0, H_G "g{a=\"\",b=\"1\"} 1\ng{b=\"1\"} 2\n", "duplicate series"},
    {0, H_G "g 1", "last line without \\n"},
    {0, H_G "g 1\ng 2\n", "duplicate series"},
    {0, H_G "g{a=\"1\",b=\"2\"} 1\ng{b=\"2\",a=\"1\"} 2\n", "duplicate series"},
    {0, "g 1\n", "sample before its family's TYPE"},
    {0, "# TYPE g gauge\ng 1\n", "TYPE not right after the HELP of the same name"},
    {0, "# HELP g x\n# TYPE f gauge\ng 1\n", "TYPE not right after the HELP of the same name"},
    {0, H_G H_C "c_total 1\n", "a family without samples"},
    {0, H_G "g 1\n" H_C "c_total 1\n" H_G "g{a=\"b\"} 1\n", "a family again"},
    {0, H_G "f 1\n", "sample name not of the current family"},
    {0, H_G "g{a=\"\\t\"} 1\n", "bad label value (escape or end)"},
    {0, H_G "g{a=\"x\\\"} 1\n", "bad label value (escape or end)"},
    {0, H_G "g{a=\"x} 1\n", "bad label value (escape or end)"},
    {0, H_G "g{__a=\"x\"} 1\n", "reserved label name (__)"},
    {0, H_G "g{1a=\"x\"} 1\n", "bad label name"},
    {0, H_G "g{a=\"x\",} 1\n", "bad label name"},
    {0, H_G "g{} 1\n", "bad label name"},
    {0, H_G "g{a=\"x\",a=\"y\"} 1\n", "label twice in a sample"},
    {0, H_G "g{a=\"x\" 1\n", "labels not closed"},
    {0, H_G "g 1.2.3\n", "bad value (or a timestamp)"},
    {0, H_G "g 0x10\n", "bad value (or a timestamp)"},
    {0, H_G "g 1 1700000000\n", "bad value (or a timestamp)"},
    {0, H_G "g inf\n", "bad value (or a timestamp)"},
    {0, H_G "g  1\n", "bad value (or a timestamp)"},
    {0, H_G "g\t1\n", "no space before the value"},
    {0, "# HELP 1g x\n# TYPE 1g gauge\n", "bad metric name in HELP/TYPE"},
    {0, "# HELP g\\t x\n", "no space after the name in HELP/TYPE"},
    {0, "# HELP g a\\tb\n# TYPE g gauge\ng 1\n", "bad escape in HELP"},
    {0, "# HELP g x\n# TYPE g widget\ng 1\n", "unknown type"},
    {0, "# HELP c x\n# TYPE c counter\nc 1\n", "Prometheus counter not named ..._total"},
    {1, H_C "c_total_total 1\n# EOF\n", "OpenMetrics counter family named ..._total"},
    {0, H_C "c_total -1\n", "counter < 0 or NaN"},
    {1, H_COM "c 1\n# EOF\n", "sample name not of the current family"},
    {1, H_G "g 1\n", "OpenMetrics without # EOF"},
    {1, H_G "g 1\n# EOF\n# EOF\n", "text after # EOF"},
    {0, H_G "g 1\n# EOF\n", "unknown # line"},
    {0, H_G "g 1\n# a comment\n", "unknown # line"},
    {0, H_G "g{le=\"1\"} 1\n", "le on a sample that is not a bucket, or a bucket without le"},
    {0, H_H "h_bucket 1\n", "le on a sample that is not a bucket, or a bucket without le"},
    {0, H_H "h_bucket{le=\"2\"} 1\nh_bucket{le=\"1\"} 1\n", "le not increasing"},
    {0, H_H "h_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\n", "bucket counts not cumulative"},
    {0, H_H "h_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 3\n", "histogram: +Inf bucket != _count"},
    {0, H_H "h_bucket{le=\"1\"} 1\nh_sum 1\n", "_sum or _count before the +Inf bucket"},
    {0, H_H "h_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_bucket{le=\"+Inf\"} 1\n", "bucket after +Inf, _sum or _count"},
    {0, H_H "h_bucket{le=\"+Inf\"} 1\nh_count 1\n", "histogram without _sum or _count"},
    {0, H_H "h_bucket{le=\"1\"} 1\nh_count 1\nh_sum 1\n", "_sum or _count before the +Inf bucket"},
    {0, H_H "h_bucket{le=\"x\"} 1\n", "bad le"},
    {0, H_G "g{a=\"\xC3\"} 1\n", "not UTF-8"},
    {0, H_G "g{a=\"\xED\xA0\x80\"} 1\n", "not UTF-8"},
    {0, H_G "g{a=\"\xC0\x80\"} 1\n", "not UTF-8"},
};

/* A rendered text of an idle device with labels: valid; with one byte changed in a label value
   to a raw backslash or quote: refused. */
static int rendered(void)
{
    static char out[16384];
    static const vb_label l[2] = {{"domain", "vm \"a\\b\"\nc"}, {"host", "h\xC3\xA9\xFF"}};
    vb_metrics_device m;
    int fails = 0;
    unsigned om;
    m.dev = mf_idle();
    m.labels = l;
    m.nlabels = 2;
    for (om = 0; om < 2; om++) {
        size_t n = vb_render_metrics(&m, 1, out, sizeof out, om ? VB_METRICS_OPENMETRICS : 0);
        const char *e = mc_check(&C, out, n, (int)om);
        char *p = strstr(out, "\\\"a");
        if (e) {
            printf("FAIL rendered %s: %s\n", om ? "OpenMetrics" : "Prometheus", e);
            fails++;
        }
        if (!p) return fails + 1;
        p[0] = 'x'; /* vm x"a... : a raw quote ends the value early */
        if (!mc_check(&C, out, n, (int)om)) {
            printf("FAIL rendered %s with a raw quote: accepted\n", om ? "OpenMetrics" : "Prometheus");
            fails++;
        }
    }
    return fails;
}

int main(void)
{
    unsigned i, pass = 0, fail = 0;
    (void)mf_run; /* the fuzz step: not used here */
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *e = mc_check(&C, cases[i].text, strlen(cases[i].text), cases[i].om);
        if ((e == NULL && cases[i].why == NULL) || (e && cases[i].why && !strcmp(e, cases[i].why))) {
            pass++;
        } else {
            fail++;
            printf("FAIL case %u: expected %s, got %s\n", i, cases[i].why ? cases[i].why : "valid", e ? e : "valid");
        }
    }
    i = (unsigned)rendered();
    fail += i;
    pass += i ? 0 : 1;
    printf("metrics_check: %u passed, %u failed\n", pass, fail);
    return fail != 0;
}
