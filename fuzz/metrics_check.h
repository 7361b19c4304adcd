/* fuzz/metrics_check.h - a strict, independent checker of the text vb_render_metrics writes
   (Prometheus text exposition format 0.0.4, OpenMetrics 1.0 text), and the metrics step the
   fuzz harnesses share (mf_run). Shares no code with vballoon.h's renderer.

   mc_check(c, text, n, om) returns NULL if the text is valid, else what is wrong (c->err_at: the
   offset of the line). Valid means (docs/fuzz-metrics.md):
   - the text is n bytes, no NUL, valid UTF-8 (RFC 3629), not empty, every line ends with \n;
   - every line is "# HELP name text", "# TYPE name type", a sample or (OpenMetrics) "# EOF",
     which is the last line, exactly once (and not written in Prometheus text);
   - metric names [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]* not starting
     with "__"; HELP text escapes only \\ and \n (OpenMetrics also \"); label values escape
     only \\ \" \n (a raw backslash otherwise is an error); no empty {}, no trailing comma, no
     label twice in a sample;
   - sample values: [+-]digits[.digits][e[+-]digits], NaN, +Inf, -Inf; no timestamp;
   - families: HELP immediately followed by the TYPE of the same name, then at least one sample,
     every sample of the family right after it (a family never comes back), each family name
     once; types counter, gauge, histogram, summary and untyped (Prometheus) / unknown
     (OpenMetrics); a sample's name is the family's name (+ "_total" for an OpenMetrics
     counter, _bucket/_sum/_count for a histogram, _sum/_count for a summary); a Prometheus
     counter's name ends in _total, an OpenMetrics counter family's does not; counters and
     histogram counts are >= 0;
   - "le" only on histogram buckets and always there; a histogram's series (label set without
     le) are contiguous: buckets first with le strictly increasing, counts non-decreasing, the
     last le +Inf, then _sum and _count, the +Inf bucket equal to _count;
   - no duplicate series: the same sample name with the same label set (in any order; a label
     with an empty value is no label, as Prometheus stores it), found with a hash table over the
     samples (bounded: MC_MAX_SAMPLES, no allocation). */
#ifndef FUZZ_METRICS_CHECK_H
#define FUZZ_METRICS_CHECK_H
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The checker is not what is fuzzed: no coverage feedback from it (and faster). */
#if defined(__clang__)
#define MC_NOCOV __attribute__((no_sanitize("coverage")))
#else
#define MC_NOCOV
#endif

#define MC_MAX_SAMPLES 2048
#define MC_MAX_LABELS 8
#define MC_MAX_FAMILIES 256
#define MC_SLOTS 4096 /* the series hash table: a power of 2, twice MC_MAX_SAMPLES */

enum { MC_COUNTER, MC_GAUGE, MC_HISTOGRAM, MC_SUMMARY, MC_UNTYPED };

typedef struct mc_span {
    size_t at, len;
} mc_span;

typedef struct mc_sample {
    mc_span name, value;
    mc_span lname[MC_MAX_LABELS], lvalue[MC_MAX_LABELS]; /* lvalue: the escaped text inside "" */
    unsigned nlabels;
    unsigned family;
} mc_sample;

typedef struct mc_family {
    mc_span name;
    int type;
} mc_family;

typedef struct mc_hist { /* the histogram series being read */
    int active;
    unsigned first; /* its first sample */
    double le, count, inf_count;
    int buckets, inf, sum, cnt;
} mc_hist;

typedef struct mc {
    const char *s;
    size_t n;
    int om;
    mc_sample sample[MC_MAX_SAMPLES];
    unsigned nsamples;
    mc_family family[MC_MAX_FAMILIES];
    unsigned nfamilies;
    unsigned slot[MC_SLOTS]; /* sample index + 1, 0 = empty */
    mc_hist hist;
    int eof;
    size_t err_at;
} mc;

MC_NOCOV static int mc_span_is(const mc *c, mc_span a, const char *s)
{
    return a.len == strlen(s) && !memcmp(c->s + a.at, s, a.len);
}

MC_NOCOV static int mc_span_eq(const mc *c, mc_span a, mc_span b)
{
    return a.len == b.len && !memcmp(c->s + a.at, c->s + b.at, a.len);
}

/* name == fam followed by suffix */
MC_NOCOV static int mc_name_is(const mc *c, mc_span name, mc_span fam, const char *suffix)
{
    size_t k = strlen(suffix);
    return name.len == fam.len + k && !memcmp(c->s + name.at, c->s + fam.at, fam.len) &&
           !memcmp(c->s + name.at + fam.len, suffix, k);
}

/* Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, at most U+10FFFF. */
MC_NOCOV static int mc_utf8_ok(const unsigned char *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i], len, k;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            len = 2;
            min = 0x80;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            min = 0x800;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            min = 0x10000;
        } else {
            return 0;
        }
        if (n - i < len) return 0;
        cp = c & (0x7Fu >> len);
        for (k = 1; k < len; k++) {
            if ((p[i + k] & 0xC0u) != 0x80u) return 0;
            cp = cp << 6 | (p[i + k] & 0x3Fu);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
        i += len;
    }
    return 1;
}

MC_NOCOV static int mc_alpha(char ch) { return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_'; }
MC_NOCOV static int mc_digit(char ch) { return ch >= '0' && ch <= '9'; }

/* A metric name at *i (colons allowed), or a label name (colons = 0). */
MC_NOCOV static int mc_name(const mc *c, size_t *i, size_t end, int colons, mc_span *out)
{
    size_t at = *i;
    while (*i < end) {
        char ch = c->s[*i];
        if (!(mc_alpha(ch) || (colons && ch == ':') || (*i > at && mc_digit(ch)))) break;
        (*i)++;
    }
    out->at = at;
    out->len = *i - at;
    return *i > at;
}

/* A sample value: [+-]digits[.digits][e[+-]digits] (or .digits), NaN, +Inf, -Inf; *v its value. */
MC_NOCOV static int mc_number(const mc *c, mc_span s, double *v)
{
    const char *p = c->s + s.at, *end = p + s.len;
    char tmp[64];
    int digits = 0;
    if (mc_span_is(c, s, "NaN") || mc_span_is(c, s, "+Inf") || mc_span_is(c, s, "-Inf")) {
        *v = p[0] == 'N' ? (double)NAN : p[0] == '+' ? (double)INFINITY : -(double)INFINITY;
        return 1;
    }
    if (p < end && (*p == '+' || *p == '-')) p++;
    while (p < end && mc_digit(*p)) p++, digits++;
    if (p < end && *p == '.') {
        p++;
        while (p < end && mc_digit(*p)) p++, digits++;
    }
    if (!digits) return 0;
    if (p < end && (*p == 'e' || *p == 'E')) {
        int exp_digits = 0;
        p++;
        if (p < end && (*p == '+' || *p == '-')) p++;
        while (p < end && mc_digit(*p)) p++, exp_digits++;
        if (!exp_digits) return 0;
    }
    if (p != end || s.len >= sizeof tmp) return 0;
    memcpy(tmp, c->s + s.at, s.len);
    tmp[s.len] = 0;
    *v = strtod(tmp, NULL);
    return 1;
}

/* Escaped text up to the closing quote (label value), escapes \\ \" \n only. */
MC_NOCOV static int mc_quoted(const mc *c, size_t *i, size_t end, mc_span *out)
{
    out->at = *i;
    while (*i < end && c->s[*i] != '"') {
        if (c->s[*i] == '\\') {
            if (*i + 1 >= end || !strchr("\\\"n", c->s[*i + 1]) || !c->s[*i + 1]) return 0;
            (*i)++;
        }
        (*i)++;
    }
    out->len = *i - out->at;
    return *i < end; /* at the closing quote */
}

/* The unescaped bytes of a label value (out has room for span.len bytes); returns the length. */
MC_NOCOV static size_t mc_unescape(const mc *c, mc_span v, char *out)
{
    size_t i, k = 0;
    for (i = 0; i < v.len; i++) {
        char ch = c->s[v.at + i];
        if (ch == '\\') {
            ch = c->s[v.at + ++i];
            if (ch == 'n') ch = '\n';
        }
        out[k++] = ch;
    }
    return k;
}

MC_NOCOV static uint64_t mc_hash(const char *p, size_t n, uint64_t h)
{
    size_t i;
    for (i = 0; i < n; i++) h = (h ^ (unsigned char)p[i]) * 0x100000001B3u;
    return h;
}

/* Label `i` of s counts for the series: a label with an empty value is no label (Prometheus's
   data model), and le is left out when comparing histogram series. */
MC_NOCOV static int mc_counts(const mc *c, const mc_sample *s, unsigned i, int no_le)
{
    return s->lvalue[i].len && !(no_le && mc_span_is(c, s->lname[i], "le"));
}

/* The same label set (in any order; no_le: le left out). */
MC_NOCOV static int mc_labels_same(const mc *c, const mc_sample *a, const mc_sample *b, int no_le)
{
    unsigned i, j, na = 0, nb = 0;
    for (i = 0; i < a->nlabels; i++) {
        if (!mc_counts(c, a, i, no_le)) continue;
        na++;
        for (j = 0; j < b->nlabels; j++)
            if (mc_span_eq(c, a->lname[i], b->lname[j])) break;
        if (j == b->nlabels || !mc_span_eq(c, a->lvalue[i], b->lvalue[j])) return 0;
    }
    for (j = 0; j < b->nlabels; j++) nb += (unsigned)mc_counts(c, b, j, no_le);
    return na == nb;
}

/* The same series: name and label set equal. */
MC_NOCOV static int mc_same_series(const mc *c, const mc_sample *a, const mc_sample *b)
{
    return mc_span_eq(c, a->name, b->name) && mc_labels_same(c, a, b, 0);
}

/* Enter sample k in the series table: 0 if the same series is there already. */
MC_NOCOV static int mc_series_new(mc *c, unsigned k)
{
    const mc_sample *s = &c->sample[k];
    uint64_t h = mc_hash(c->s + s->name.at, s->name.len, 0xCBF29CE484222325u);
    unsigned i, at;
    for (i = 0; i < s->nlabels; i++) /* order-independent: a sum of per-label hashes */
        if (s->lvalue[i].len)
            h += mc_hash(c->s + s->lvalue[i].at, s->lvalue[i].len,
                         mc_hash(c->s + s->lname[i].at, s->lname[i].len, 0x84222325u) * 31u);
    for (at = (unsigned)(h ^ h >> 32) & (MC_SLOTS - 1u); c->slot[at]; at = (at + 1u) & (MC_SLOTS - 1u))
        if (mc_same_series(c, &c->sample[c->slot[at] - 1u], s)) return 0;
    c->slot[at] = k + 1u;
    return 1;
}

MC_NOCOV static int mc_label_index(const mc *c, const mc_sample *s, const char *name)
{
    unsigned i;
    for (i = 0; i < s->nlabels; i++)
        if (mc_span_is(c, s->lname[i], name)) return (int)i;
    return -1;
}

/* Labels "{...}" at *i into s. */
MC_NOCOV static const char *mc_labels(mc *c, size_t *i, size_t end, mc_sample *s)
{
    (*i)++; /* { */
    for (;;) {
        unsigned k;
        if (s->nlabels == MC_MAX_LABELS) return "more labels than the checker takes";
        if (!mc_name(c, i, end, 0, &s->lname[s->nlabels])) return "bad label name";
        if (s->lname[s->nlabels].len >= 2 && c->s[s->lname[s->nlabels].at] == '_' &&
            c->s[s->lname[s->nlabels].at + 1] == '_')
            return "reserved label name (__)";
        if (*i + 1 >= end || c->s[*i] != '=' || c->s[*i + 1] != '"') return "label without =\"";
        *i += 2;
        if (!mc_quoted(c, i, end, &s->lvalue[s->nlabels])) return "bad label value (escape or end)";
        (*i)++;
        for (k = 0; k < s->nlabels; k++)
            if (mc_span_eq(c, s->lname[k], s->lname[s->nlabels])) return "label twice in a sample";
        s->nlabels++;
        if (*i < end && c->s[*i] == ',') {
            (*i)++;
            continue;
        }
        if (*i < end && c->s[*i] == '}') {
            (*i)++;
            return NULL;
        }
        return "labels not closed";
    }
}

/* The end of a histogram series: complete, and the +Inf bucket equal to _count. */
MC_NOCOV static const char *mc_hist_close(mc *c)
{
    mc_hist *h = &c->hist;
    if (!h->active) return NULL;
    h->active = 0;
    if (!h->inf) return "histogram without a +Inf bucket";
    if (!h->sum || !h->cnt) return "histogram without _sum or _count";
    if (h->inf_count != h->count) return "histogram: +Inf bucket != _count";
    return NULL;
}

MC_NOCOV static const char *mc_hist_sample(mc *c, unsigned k, int part, double v)
{
    mc_hist *h = &c->hist;
    const mc_sample *s = &c->sample[k];
    if (h->active && !mc_labels_same(c, &c->sample[h->first], s, 1)) {
        const char *e = mc_hist_close(c);
        if (e) return e;
    }
    if (!h->active) {
        memset(h, 0, sizeof *h);
        h->active = 1;
        h->first = k;
    }
    if (v < 0 || v != v) return "histogram count < 0 or NaN";
    if (part == 0) { /* bucket */
        double le;
        int li = mc_label_index(c, s, "le");
        if (li < 0) return "bucket without le";
        if (h->inf || h->sum || h->cnt) return "bucket after +Inf, _sum or _count";
        if (!mc_number(c, s->lvalue[li], &le) || le != le) return "bad le";
        if (h->buckets && le <= h->le) return "le not increasing";
        if (h->buckets && v < h->count) return "bucket counts not cumulative";
        h->buckets++;
        h->le = le;
        h->count = v;
        if (le > 1e308) {
            h->inf = 1;
            h->inf_count = v;
        }
        return NULL;
    }
    if (!h->inf) return "_sum or _count before the +Inf bucket";
    if (part == 1) {
        h->sum = 1;
    } else {
        h->cnt = 1;
        h->count = v;
    }
    return NULL;
}

/* Which part of its family sample k is: 0 the sample itself (or a bucket), 1 _sum, 2 _count;
   -1 if its name does not belong to the current family. */
MC_NOCOV static int mc_part(const mc *c, const mc_sample *s, const mc_family *f)
{
    switch (f->type) {
    case MC_COUNTER: return mc_name_is(c, s->name, f->name, c->om ? "_total" : "") ? 0 : -1;
    case MC_HISTOGRAM:
        return mc_name_is(c, s->name, f->name, "_bucket") ? 0
               : mc_name_is(c, s->name, f->name, "_sum") ? 1
               : mc_name_is(c, s->name, f->name, "_count") ? 2 : -1;
    case MC_SUMMARY:
        return mc_name_is(c, s->name, f->name, "") ? 0
               : mc_name_is(c, s->name, f->name, "_sum") ? 1
               : mc_name_is(c, s->name, f->name, "_count") ? 2 : -1;
    default: return mc_name_is(c, s->name, f->name, "") ? 0 : -1;
    }
}

MC_NOCOV static const char *mc_sample_line(mc *c, size_t i, size_t end)
{
    mc_sample *s;
    const mc_family *f;
    double v;
    int part;
    if (!c->nfamilies || c->family[c->nfamilies - 1].type < 0) return "sample before its family's TYPE";
    if (c->nsamples == MC_MAX_SAMPLES) return "more samples than the checker takes";
    s = &c->sample[c->nsamples];
    memset(s, 0, sizeof *s);
    s->family = c->nfamilies - 1;
    f = &c->family[s->family];
    if (!mc_name(c, &i, end, 1, &s->name)) return "bad metric name";
    if (i < end && c->s[i] == '{') {
        const char *e = mc_labels(c, &i, end, s);
        if (e) return e;
    }
    if (i >= end || c->s[i] != ' ') return "no space before the value";
    s->value.at = ++i;
    s->value.len = end - i;
    if (!mc_number(c, s->value, &v)) return "bad value (or a timestamp)";
    part = mc_part(c, s, f);
    if (part < 0) return "sample name not of the current family";
    if ((mc_label_index(c, s, "le") >= 0) != (f->type == MC_HISTOGRAM && part == 0))
        return "le on a sample that is not a bucket, or a bucket without le";
    if (f->type == MC_COUNTER && (v < 0 || v != v)) return "counter < 0 or NaN";
    if (f->type == MC_HISTOGRAM) {
        const char *e = mc_hist_sample(c, c->nsamples, part, v);
        if (e) return e;
    }
    if (!mc_series_new(c, c->nsamples)) return "duplicate series";
    c->nsamples++;
    return NULL;
}

/* HELP text: escapes \\ and \n (OpenMetrics also \"). */
MC_NOCOV static int mc_help_text(const mc *c, size_t i, size_t end)
{
    for (; i < end; i++)
        if (c->s[i] == '\\') {
            if (i + 1 >= end || !(c->s[i + 1] == '\\' || c->s[i + 1] == 'n' || (c->om && c->s[i + 1] == '"')))
                return 0;
            i++;
        }
    return 1;
}

MC_NOCOV static int mc_type_of(const mc *c, mc_span t)
{
    if (mc_span_is(c, t, "counter")) return MC_COUNTER;
    if (mc_span_is(c, t, "gauge")) return MC_GAUGE;
    if (mc_span_is(c, t, "histogram")) return MC_HISTOGRAM;
    if (mc_span_is(c, t, "summary")) return MC_SUMMARY;
    if (mc_span_is(c, t, c->om ? "unknown" : "untyped")) return MC_UNTYPED;
    return -1;
}

/* "# HELP name text" (opens a family, type -1 until its TYPE) or "# TYPE name type". */
MC_NOCOV static const char *mc_meta_line(mc *c, size_t i, size_t end)
{
    int help = end - i >= 7 && !memcmp(c->s + i, "# HELP ", 7);
    mc_span name;
    if (!help && !(end - i >= 7 && !memcmp(c->s + i, "# TYPE ", 7))) return "unknown # line";
    i += 7;
    if (!mc_name(c, &i, end, 1, &name)) return "bad metric name in HELP/TYPE";
    if (i >= end || c->s[i] != ' ') return "no space after the name in HELP/TYPE";
    i++;
    if (help) {
        const char *e = mc_hist_close(c);
        unsigned k;
        if (e) return e;
        if (c->nfamilies && c->family[c->nfamilies - 1].type < 0) return "HELP not followed by TYPE";
        if (c->nfamilies && (!c->nsamples || c->sample[c->nsamples - 1].family != c->nfamilies - 1))
            return "a family without samples";
        for (k = 0; k < c->nfamilies; k++)
            if (mc_span_eq(c, c->family[k].name, name)) return "a family again";
        if (c->nfamilies == MC_MAX_FAMILIES) return "more families than the checker takes";
        if (!mc_help_text(c, i, end)) return "bad escape in HELP";
        c->family[c->nfamilies].name = name;
        c->family[c->nfamilies].type = -1;
        c->nfamilies++;
        return NULL;
    }
    if (!c->nfamilies || c->family[c->nfamilies - 1].type >= 0 || !mc_span_eq(c, c->family[c->nfamilies - 1].name, name))
        return "TYPE not right after the HELP of the same name";
    {
        mc_span t;
        mc_family *f = &c->family[c->nfamilies - 1];
        t.at = i;
        t.len = end - i;
        f->type = mc_type_of(c, t);
        if (f->type < 0) return "unknown type";
        if (f->type == MC_COUNTER && c->om == (name.len >= 6 && !memcmp(c->s + name.at + name.len - 6, "_total", 6)))
            return c->om ? "OpenMetrics counter family named ..._total" : "Prometheus counter not named ..._total";
    }
    return NULL;
}

/* Check the whole text; NULL if valid. */
MC_NOCOV static const char *mc_check(mc *c, const char *s, size_t n, int om)
{
    size_t i = 0;
    const char *e;
    c->s = s;
    c->n = n;
    c->om = om;
    c->nsamples = c->nfamilies = 0;
    c->eof = 0;
    c->err_at = 0;
    memset(c->slot, 0, sizeof c->slot);
    memset(&c->hist, 0, sizeof c->hist);
    if (!n) return "empty text";
    if (memchr(s, 0, n)) return "NUL in the text";
    if (!mc_utf8_ok((const unsigned char *)s, n)) return "not UTF-8";
    if (s[n - 1] != '\n') return "last line without \\n";
    while (i < n) {
        size_t end = (size_t)((const char *)memchr(s + i, '\n', n - i) - s);
        c->err_at = i;
        if (c->eof) return "text after # EOF";
        if (om && end - i == 5 && !memcmp(s + i, "# EOF", 5)) {
            c->eof = 1;
        } else {
            e = s[i] == '#' ? mc_meta_line(c, i, end) : mc_sample_line(c, i, end);
            if (e) return e;
        }
        i = end + 1;
    }
    c->err_at = n;
    e = mc_hist_close(c);
    if (e) return e;
    if (!c->nfamilies || c->family[c->nfamilies - 1].type < 0 || !c->nsamples ||
        c->sample[c->nsamples - 1].family != c->nfamilies - 1)
        return "a family without TYPE or samples at the end";
    if (om && !c->eof) return "OpenMetrics without # EOF";
    return NULL;
}

/* ============================================================================================
   mf_run: the metrics step of fuzz_stats and fuzz_device (needs vballoon.h first). The last input
   byte k says how many bytes before it are the label spec (fewer if the input is shorter); those
   bytes are read as (a spec shorter than it says reads zeros):
     d8           1 + d % 3 devices; d & 0xC0 == 0xC0: the last one's vb_device is NULL
     per device   b8: b & 3 labels; bit 2: which of the harness's two devices; bit 4 (not the
                  first): the previous device's labels, reversed if bit 5; b & 0xC0 == 0xC0 (and
                  labels): labels NULL
     per label    n8: 0xFF NULL name; n % 24 < 16 a name from mf_names (valid, invalid, reserved);
                  else a name of the next n8 % 9 bytes
                  v8: 0xFF NULL value, else a value of the next v8 & 127 bytes (raw: quotes, backslashes,
                  newlines, NUL (ends the C string), malformed UTF-8)
     c8           the snprintf contract is checked on Prometheus text if bit 2 is 0, else on
                  OpenMetrics: a cut at c8 * (n + 1) / 255, a cap of (c8 & 3) 0, 1, n or n / 2, and
                  buf NULL (each format's whole text is rendered with cap n + 1 every time)
   Both formats are rendered and checked: the verdict (refused: 0 and "" iff the label set is
   invalid, computed here), mc_check, every sample's labels unescaped equal to one device's
   values (malformed UTF-8 as U+FFFD, computed here), values against the public API, and the
   snprintf contract for several caps with a canary after each. */
#ifdef VBALLOON_H

#define MF_CHECK(x)                                                                        \
    do {                                                                                   \
        if (!(x)) {                                                                        \
            fprintf(stderr, "metrics: check failed at %s:%d: %s\n", __FILE__, __LINE__, #x); \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

#define MF_CANARY 32
#define MF_VALUE_MAX 127 /* bytes of a label value (v8 & 127) */

typedef struct mf_in {
    const uint8_t *p;
    size_t n;
} mf_in;

typedef struct mf_target {
    const vb_device *dev;
    unsigned keys; /* its stat_keys: tags 0..keys-1 are rendered when set */
} mf_target;

MC_NOCOV static uint8_t mf_u8(mf_in *r)
{
    if (!r->n) return 0;
    r->n--;
    return *r->p++;
}

static const char *const mf_names[16] = {"domain", "vm", "host", "instance", "zone", "_", "A1", "a_b9",
                                         "", "1a", "a-b", "__x", "kind", "le", "__name__", "h\xC3\xA9"};

MC_NOCOV static int mf_name_ok(const char *s)
{
    const char *p;
    if (!s || !*s || (s[0] == '_' && s[1] == '_') || !strcmp(s, "kind") || !strcmp(s, "le")) return 0;
    for (p = s; *p; p++)
        if (!(mc_alpha(*p) || (p > s && mc_digit(*p)))) return 0;
    return 1;
}

/* A label value as the renderer must write it (unescaped): each malformed sequence as QEMU's
   mod_utf8_codepoint reads one (a byte that cannot start one; a start byte and the continuation
   bytes present of one cut short; an overlong form, surrogate, noncharacter or code point past
   U+10FFFF whole), and U+0000 (C0 80), as U+FFFD. Returns the length written to out. */
MC_NOCOV static size_t mf_sanitize(const char *in, char *out)
{
    static const uint32_t min_cp[7] = {0, 0, 0x80, 0x800, 0x10000, 0x200000, 0x4000000};
    const unsigned char *p = (const unsigned char *)in;
    size_t k = 0;
    while (*p) {
        unsigned c = *p, len = 0, i;
        uint32_t cp;
        int ok = 0;
        if (c < 0x80) {
            out[k++] = (char)c;
            p++;
            continue;
        }
        if (c >= 0xC0 && c < 0xFE) len = c >= 0xFC ? 6 : c >= 0xF8 ? 5 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
        cp = c & (0x7Fu >> len);
        for (i = 1; len && i < len && (p[i] & 0xC0u) == 0x80u; i++) cp = cp << 6 | (p[i] & 0x3Fu);
        if (len && i == len)
            ok = cp >= min_cp[len] && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF) &&
                 !(cp >= 0xFDD0 && cp <= 0xFDEF) && (cp & 0xFFFEu) != 0xFFFEu;
        if (ok) {
            memcpy(out + k, p, i);
            k += i;
        } else {
            memcpy(out + k, "\xEF\xBF\xBD", 3);
            k += 3;
        }
        p += len ? i : 1;
    }
    return k;
}

/* Labels of m the text shows: those with a non-empty value (Prometheus stores a label with an
   empty value as no label). */
MC_NOCOV static unsigned mf_nlabels(const vb_metrics_device *m)
{
    unsigned i, n = 0;
    for (i = 0; i < m->nlabels; i++) n += m->labels[i].value[0] != 0;
    return n;
}

/* The same series: as many labels shown, each name of a with the same value in b as the text
   shows them (values as written, empty ones left out). */
MC_NOCOV static int mf_same_set(const vb_metrics_device *a, const vb_metrics_device *b)
{
    static char va[MF_VALUE_MAX * 3], vb[MF_VALUE_MAX * 3];
    unsigned i, j;
    if (mf_nlabels(a) != mf_nlabels(b)) return 0;
    for (i = 0; i < a->nlabels; i++) {
        size_t na, nb;
        if (!a->labels[i].value[0]) continue;
        for (j = 0; j < b->nlabels; j++)
            if (!strcmp(a->labels[i].name, b->labels[j].name)) break;
        if (j == b->nlabels) return 0;
        na = mf_sanitize(a->labels[i].value, va);
        nb = mf_sanitize(b->labels[j].value, vb);
        if (na != nb || memcmp(va, vb, na)) return 0;
    }
    return 1;
}

/* The verdict: 1 valid, 0 refused (a NULL device, labels NULL with nlabels, a bad or repeated
   name, a NULL value, two devices whose label sets are written as the same series: the same
   set, or sets that differ only in malformed UTF-8, both U+FFFD, or in labels with an empty
   value). */
MC_NOCOV static int mf_expect(const vb_metrics_device *m, unsigned nd)
{
    unsigned i, j, k;
    for (i = 0; i < nd; i++) {
        if (!m[i].dev || (m[i].nlabels && !m[i].labels)) return 0;
        for (k = 0; k < m[i].nlabels; k++) {
            if (!mf_name_ok(m[i].labels[k].name) || !m[i].labels[k].value) return 0;
            for (j = 0; j < k; j++)
                if (!strcmp(m[i].labels[j].name, m[i].labels[k].name)) return 0;
        }
    }
    for (i = 0; i < nd; i++)
        for (j = 0; j < i; j++)
            if (mf_same_set(&m[i], &m[j])) return 0;
    return 1;
}

static mc mf_c;

/* An unsigned integer value, or (ms) seconds with an optional 3-digit fraction as milliseconds. */
MC_NOCOV static int mf_value(mc_span v, int ms, uint64_t *out)
{
    const char *p = mf_c.s + v.at, *end = p + v.len;
    uint64_t x = 0;
    if (p == end) return 0;
    for (; p < end && mc_digit(*p); p++) {
        if (x > (UINT64_MAX - (uint64_t)(*p - '0')) / 10u) return 0;
        x = x * 10u + (uint64_t)(*p - '0');
    }
    if (ms) {
        unsigned f = 0;
        if (p < end) {
            unsigned i;
            if (end - p != 4 || *p != '.') return 0;
            for (i = 1; i < 4; i++) {
                if (!mc_digit(p[i])) return 0;
                f = f * 10u + (unsigned)(p[i] - '0');
            }
            if (!f) return 0; /* a zero fraction is not written */
            p = end;
        }
        if (x > (UINT64_MAX - f) / 1000u) return 0;
        x = x * 1000u + f;
    }
    *out = x;
    return p == end;
}

enum { MF_BROKEN = 16, MF_COUNTS = 17, MF_TELE = 24, MF_STALE = 27, MF_MISSED, MF_INTERVAL, MF_AGE,
       MF_LAST_UPDATE, MF_LAT_LAST, MF_HIST_COUNT, MF_HIST_SUM, MF_IGNORED, MF_RANGE = 36, MF_BUCKET = 40,
       MF_CHECKED = 48 };

/* The value sample s (of device dev) must have, from the public API: its index above (seen) and
   1, or 0 if this family's value is not checked here. */
MC_NOCOV static int mf_expected_value(const mc_sample *s, const vb_device *dev, unsigned *seen, uint64_t *want, int *ms)
{
    static const char *const names[MF_CHECKED] = {
        "libvirt_domain_memory_stats_swap_in_bytes_total", "libvirt_domain_memory_stats_swap_out_bytes_total",
        "libvirt_domain_memory_stats_major_fault_total", "libvirt_domain_memory_stats_minor_fault_total",
        "libvirt_domain_memory_stats_unused_bytes", "libvirt_domain_memory_stats_available_bytes",
        "libvirt_domain_memory_stats_usable_bytes", "libvirt_domain_memory_stats_disk_cache_bytes",
        "libvirt_domain_memory_stats_hugetlb_pgalloc_total", "libvirt_domain_memory_stats_hugetlb_pgfail_total",
        "vballoon_guest_oom_kills_total", "vballoon_guest_alloc_stalls_total", "vballoon_guest_async_scans_total",
        "vballoon_guest_direct_scans_total", "vballoon_guest_async_reclaims_total",
        "vballoon_guest_direct_reclaims_total", "vballoon_device_broken", "vballoon_stats_updates_total",
        "vballoon_stats_polls_total", "vballoon_stats_duplicate_buffers_total", "vballoon_stats_unknown_tags_total",
        "vballoon_ring_errors_total", "vballoon_free_page_reports_total", "vballoon_free_page_hint_buffers_total",
        "vballoon_stats_answers_total", "vballoon_stats_late_answers_total", "vballoon_stats_stale_episodes_total",
        "vballoon_stats_stale", "vballoon_stats_missed_intervals", "vballoon_stats_poll_interval_seconds",
        "vballoon_stats_age_seconds", "vballoon_stats_last_update_timestamp_seconds",
        "vballoon_stats_last_answer_latency_seconds", "vballoon_stats_answer_latency_seconds_count",
        "vballoon_stats_answer_latency_seconds_sum", "vballoon_range_ignored_bytes_total",
        "vballoon_range_bytes_total", 0, 0, 0, "vballoon_stats_answer_latency_seconds_bucket", 0, 0, 0, 0, 0, 0, 0};
    static const char *const kinds[4] = {"inflate", "deflate", "reported", "hinted"};
    static const char *const les[8] = {"0.001", "0.004", "0.016", "0.064", "0.256", "1.024", "4.096", "+Inf"};
    const vb_counters *c = vb_get_counters(dev);
    const vb_telemetry *t = vb_get_telemetry(dev);
    unsigned i;
    *ms = 0;
    for (i = 0; i < MF_CHECKED; i++)
        if (names[i] && mc_span_is(&mf_c, s->name, names[i])) break;
    if (i == MF_CHECKED) return 0;
    if (i < 16) {
        MF_CHECK(vb_stat(dev, i, want));
    } else if (i == MF_BROKEN) {
        *want = (uint64_t)vb_is_broken(dev);
    } else if (i < MF_TELE) {
        const uint32_t counts[7] = {c->updates, c->polls, c->duplicates, c->unknown_tags, c->ring_errors,
                                    c->reports, c->hint_buffers};
        *want = counts[i - MF_COUNTS];
    } else if (i < MF_STALE) {
        const uint32_t tele[3] = {t->answers, t->late, t->stale_count};
        *want = tele[i - MF_TELE];
    } else if (i == MF_RANGE || i == MF_BUCKET) {
        int li = mc_label_index(&mf_c, s, i == MF_RANGE ? "kind" : "le");
        unsigned k, n = i == MF_RANGE ? 4u : 8u;
        MF_CHECK(li >= 0 && (unsigned)li == s->nlabels - 1u); /* the renderer's own label last */
        for (k = 0; k < n; k++)
            if (mc_span_is(&mf_c, s->lvalue[li], i == MF_RANGE ? kinds[k] : les[k])) break;
        MF_CHECK(k < n);
        if (i == MF_RANGE) {
            *want = c->bytes[k];
        } else {
            unsigned b;
            for (*want = 0, b = 0; b <= k; b++) *want += t->latency_buckets[b];
        }
        i += k;
    } else {
        switch (i) {
        case MF_STALE: *want = t->stale; break;
        case MF_MISSED: *want = t->missed; break;
        case MF_INTERVAL: *want = vb_poll_interval_ms(dev), *ms = 1; break;
        case MF_AGE: *want = vb_stats_age_ms(dev), *ms = 1; break;
        case MF_LAST_UPDATE: *want = (uint64_t)vb_last_update(dev); break;
        case MF_LAT_LAST: *want = t->latency_last_ms, *ms = 1; break;
        case MF_HIST_COUNT: *want = t->answers; break;
        case MF_HIST_SUM: *want = t->latency_sum_ms, *ms = 1; break;
        default: *want = c->bytes_ignored; break;
        }
    }
    *seen = i;
    return 1;
}

/* The values each device must show (bit i of the indices above). */
MC_NOCOV static uint64_t mf_expected_seen(const mf_target *t)
{
    uint64_t m = 0;
    unsigned i;
    for (i = 0; i < VB_STAT_COUNT; i++)
        if (vb_stat(t->dev, i, NULL) && i < t->keys) m |= (uint64_t)1 << i;
    for (i = MF_BROKEN; i < MF_CHECKED; i++) m |= (uint64_t)1 << i;
    if (vb_stats_age_ms(t->dev) == UINT64_MAX) m &= ~((uint64_t)1 << MF_AGE);
    if (vb_last_update(t->dev) <= 0) m &= ~((uint64_t)1 << MF_LAST_UPDATE);
    if (!vb_get_telemetry(t->dev)->answers) m &= ~((uint64_t)1 << MF_LAT_LAST);
    return m;
}

/* Every sample: its labels are, in order, one device's (names, values unescaped as written)
   then at most the renderer's own (kind, le); devices in order within a family; its value as the
   public API says; each device shows exactly the values it has. */
MC_NOCOV static void mf_samples(const vb_metrics_device *m, const mf_target *tg, unsigned nd)
{
    static char got[MF_VALUE_MAX * 3], want[MF_VALUE_MAX * 3];
    uint64_t seen[3] = {0, 0, 0};
    unsigned k, last_family = UINT32_MAX, last_dev = 0, d;
    for (k = 0; k < mf_c.nsamples; k++) {
        const mc_sample *s = &mf_c.sample[k];
        unsigned found = nd, bit;
        uint64_t v = 0, w;
        int ms;
        for (d = 0; d < nd; d++) {
            unsigned i, j = 0, shown = mf_nlabels(&m[d]);
            if (s->nlabels != shown && s->nlabels != shown + 1u) continue;
            for (i = 0; i < m[d].nlabels; i++) {
                size_t n;
                if (!m[d].labels[i].value[0]) continue; /* an empty value is no label */
                if (!mc_span_is(&mf_c, s->lname[j], m[d].labels[i].name)) break;
                n = mc_unescape(&mf_c, s->lvalue[j], got);
                if (n != mf_sanitize(m[d].labels[i].value, want) || memcmp(got, want, n)) break;
                j++;
            }
            if (i < m[d].nlabels) continue;
            if (s->nlabels > shown && !mc_span_is(&mf_c, s->lname[j], "kind") &&
                !mc_span_is(&mf_c, s->lname[j], "le"))
                continue;
            MF_CHECK(found == nd); /* one device only */
            found = d;
        }
        if (found == nd) {
            fprintf(stderr, "metrics: sample %u's labels are no device's (round trip): %.*s\n", k,
                    (int)(s->value.at + s->value.len - s->name.at), mf_c.s + s->name.at);
            abort();
        }
        if (s->family == last_family) MF_CHECK(found >= last_dev);
        last_family = s->family;
        last_dev = found;
        if (!mf_expected_value(s, tg[found].dev, &bit, &w, &ms)) {
            MF_CHECK(mc_label_index(&mf_c, s, "kind") < 0);
            continue;
        }
        if (!mf_value(s->value, ms, &v) || v != w) {
            fprintf(stderr, "metrics: %.*s: %llu, the API says %llu\n", (int)(s->value.at + s->value.len - s->name.at),
                    mf_c.s + s->name.at, (unsigned long long)v, (unsigned long long)w);
            abort();
        }
        seen[found] |= (uint64_t)1 << bit;
    }
    for (d = 0; d < nd; d++)
        if (seen[d] != mf_expected_seen(&tg[d])) {
            fprintf(stderr, "metrics: device %u shows values %llx, expected %llx\n", d,
                    (unsigned long long)seen[d], (unsigned long long)mf_expected_seen(&tg[d]));
            abort();
        }
}

/* One cap: the same return value, the NUL-terminated prefix of the whole text, nothing written
   at or past cap (a canary). buf NULL with cap 0 too. */
MC_NOCOV static void mf_cap(const vb_metrics_device *m, unsigned nd, unsigned flags, const char *whole, size_t n, size_t cap)
{
    char *b = (char *)malloc(cap + MF_CANARY);
    size_t i;
    MF_CHECK(b != NULL);
    memset(b, 0xA5, cap + MF_CANARY);
    MF_CHECK(vb_render_metrics(m, nd, b, cap, flags) == n);
    if (cap) {
        size_t k = cap - 1 < n ? cap - 1 : n;
        MF_CHECK(!memcmp(b, whole, k) && b[k] == 0);
        for (i = k + 1; i < cap; i++) MF_CHECK((unsigned char)b[i] == 0xA5); /* nothing past the NUL */
    }
    for (i = cap; i < cap + MF_CANARY; i++) MF_CHECK((unsigned char)b[i] == 0xA5);
    free(b);
}

/* One format: the verdict, the whole text (into a buffer of exactly n + 1 bytes) checked, and
   (contract: the input's cut byte, bit 2 picks the format) the snprintf contract at two caps and
   with buf NULL. Cut outputs cost the renderer a byte loop, hence two caps an input, not all. */
MC_NOCOV static void mf_format(const vb_metrics_device *m, const mf_target *tg, unsigned nd, unsigned flags, int ok,
                               uint8_t cut, int contract)
{
    static char big[1u << 19];
    size_t n = vb_render_metrics(m, nd, big, sizeof big, flags), i;
    char *whole;
    const char *e;
    if (!ok) {
        char b[64];
        MF_CHECK(n == 0 && big[0] == 0);
        memset(b, 'X', sizeof b);
        MF_CHECK(vb_render_metrics(m, nd, b, sizeof b, flags) == 0 && b[0] == 0);
        for (i = 1; i < sizeof b; i++) MF_CHECK(b[i] == 'X');
        MF_CHECK(vb_render_metrics(m, nd, NULL, 0, flags) == 0);
        return;
    }
    MF_CHECK(n < sizeof big); /* 3 devices, 3 labels of 127 bytes: far less */
    whole = (char *)malloc(n + 1 + MF_CANARY);
    MF_CHECK(whole != NULL);
    memset(whole, 0xA5, n + 1 + MF_CANARY);
    MF_CHECK(vb_render_metrics(m, nd, whole, n + 1, flags) == n);
    MF_CHECK(whole[n] == 0 && strlen(whole) == n && !memcmp(whole, big, n + 1));
    for (i = n + 1; i < n + 1 + MF_CANARY; i++) MF_CHECK((unsigned char)whole[i] == 0xA5);
    e = mc_check(&mf_c, whole, n, (flags & VB_METRICS_OPENMETRICS) != 0);
    if (e) {
        const char *eol = memchr(whole + mf_c.err_at, '\n', n - mf_c.err_at);
        fprintf(stderr, "metrics: %s text invalid: %s, at line: %.*s\n",
                (flags & VB_METRICS_OPENMETRICS) ? "OpenMetrics" : "Prometheus", e,
                (int)((eol ? (size_t)(eol - whole) : n) - mf_c.err_at), whole + mf_c.err_at);
        abort();
    }
    mf_samples(m, tg, nd);
    if (contract) { /* a cut where the input says, and one of the edges */
        const size_t edge[4] = {0, 1, n, n / 2};
        mf_cap(m, nd, flags, whole, n, (size_t)cut * (n + 1) / 255u);
        mf_cap(m, nd, flags, whole, n, edge[cut & 3u]);
        MF_CHECK(vb_render_metrics(m, nd, NULL, 7, flags) == n); /* buf NULL: nothing written */
    }
    free(whole);
}

/* The metrics step: devices t[0], t[1] (either may be used twice or not at all), labels from the
   input's tail. */
MC_NOCOV static void mf_run(const mf_target t[2], const uint8_t *data, size_t size)
{
    static char names[3][3][9], values[3][3][MF_VALUE_MAX + 1];
    static vb_label labels[3][3];
    vb_metrics_device m[3];
    mf_target tg[3];
    mf_in r;
    unsigned nd, d, k;
    uint8_t b0, cut;
    int ok;
    if (!size) return;
    r.n = data[size - 1] < size - 1 ? data[size - 1] : size - 1;
    r.p = data + size - 1 - r.n;
    b0 = mf_u8(&r);
    nd = 1u + b0 % 3u;
    for (d = 0; d < nd; d++) {
        uint8_t b = mf_u8(&r);
        tg[d] = t[(b >> 2) & 1u];
        m[d].dev = tg[d].dev;
        m[d].nlabels = b & 3u;
        m[d].labels = labels[d];
        if (d && (b & 0x10u)) { /* the previous device's label set */
            m[d].nlabels = m[d - 1].nlabels;
            for (k = 0; k < m[d].nlabels; k++)
                labels[d][k] = m[d - 1].labels ? m[d - 1].labels[(b & 0x20u) ? m[d].nlabels - 1u - k : k]
                                               : labels[d - 1][k];
        } else {
            for (k = 0; k < m[d].nlabels; k++) {
                uint8_t n = mf_u8(&r), v;
                if (n == 0xFF) {
                    labels[d][k].name = NULL;
                } else if (n % 24u < 16u) {
                    labels[d][k].name = mf_names[n % 24u];
                } else {
                    unsigned len = n % 9u, i;
                    for (i = 0; i < len; i++) names[d][k][i] = (char)mf_u8(&r);
                    names[d][k][len] = 0;
                    labels[d][k].name = names[d][k];
                }
                v = mf_u8(&r);
                if (v == 0xFF) {
                    labels[d][k].value = NULL;
                } else {
                    unsigned i;
                    v &= MF_VALUE_MAX;
                    for (i = 0; i < v; i++) values[d][k][i] = (char)mf_u8(&r);
                    values[d][k][v] = 0;
                    labels[d][k].value = values[d][k];
                }
            }
        }
        if ((b & 0xC0u) == 0xC0u && m[d].nlabels) m[d].labels = NULL;
    }
    if ((b0 & 0xC0u) == 0xC0u) m[nd - 1].dev = NULL;
    cut = mf_u8(&r);
    ok = mf_expect(m, nd);
#ifdef MF_TRACE /* -DMF_TRACE: what an input renders */
    fprintf(stderr, "metrics: %u devices, verdict %d, Prometheus %zu bytes, OpenMetrics %zu bytes\n", nd, ok,
            vb_render_metrics(m, nd, NULL, 0, 0), vb_render_metrics(m, nd, NULL, 0, VB_METRICS_OPENMETRICS));
#endif
    mf_format(m, tg, nd, 0, ok != 0, cut, !(cut & 4u));
    mf_format(m, tg, nd, VB_METRICS_OPENMETRICS, ok != 0, cut, (cut & 4u) != 0);
}

/* A device that never ran (no stats, no telemetry) for mf_run's second target. */
MC_NOCOV static int mf_idle_rw(void *u, uint64_t a, void *p, size_t n)
{
    (void)u, (void)a, (void)p, (void)n;
    return -1;
}
MC_NOCOV static int mf_idle_wr(void *u, uint64_t a, const void *p, size_t n)
{
    (void)u, (void)a, (void)p, (void)n;
    return -1;
}
MC_NOCOV static void mf_idle_nq(void *u, unsigned q) { (void)u, (void)q; }
MC_NOCOV static void mf_idle_nc(void *u) { (void)u; }

MC_NOCOV static const vb_device *mf_idle(void)
{
    static const vb_host idle_host = {mf_idle_rw, mf_idle_wr, 0, 0, 0, 0, mf_idle_nq, mf_idle_nc, 0, 0, 0, 0, 0};
    static vb_device dev;
    static int inited;
    if (!inited) {
        vb_config cfg = vb_config_default();
        cfg.ram_size = (uint64_t)1 << 30;
        MF_CHECK(vb_init(&dev, &cfg, &idle_host, NULL) == VB_OK);
        inited = 1;
    }
    return &dev;
}

#endif /* VBALLOON_H */
#endif
