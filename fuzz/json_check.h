/* fuzz/json_check.h - an independent, minimal JSON validator (RFC 8259) used by the fuzz
   harnesses to check that every reply the library writes is valid JSON, plus QEMU's `inf` and
   `-inf` for an infinite double. Deliberately shares no code with vballoon.h's reader. */
#ifndef FUZZ_JSON_CHECK_H
#define FUZZ_JSON_CHECK_H
#include <stddef.h>
#include <string.h>

/* Replies nest one level deeper than the deepest "id" they echo: QEMU's parser takes 1024 open
   containers, so a reply may nest 1025 deep. Recursion of this depth is a few hundred KiB of
   stack at most. */
#define JC_MAX_DEPTH 1100

typedef struct jc {
    const char *s;
    size_t n, i;
    int depth;
} jc;

static void jc_ws(jc *c)
{
    while (c->i < c->n && strchr(" \t\r\n", c->s[c->i]) && c->s[c->i]) c->i++;
}

static int jc_value(jc *c);

static int jc_string(jc *c)
{
    if (c->i >= c->n || c->s[c->i] != '"') return 0;
    for (c->i++; c->i < c->n; c->i++) {
        unsigned char ch = (unsigned char)c->s[c->i];
        if (ch == '"') { c->i++; return 1; }
        if (ch < 0x20) return 0;
        if (ch == '\\') {
            c->i++;
            if (c->i >= c->n) return 0;
            if (c->s[c->i] == 'u') {
                int k;
                for (k = 1; k <= 4; k++)
                    if (c->i + (size_t)k >= c->n || !strchr("0123456789abcdefABCDEF", c->s[c->i + (size_t)k]) ||
                        !c->s[c->i + (size_t)k])
                        return 0;
                c->i += 4;
            } else if (!strchr("\"\\/bfnrt", c->s[c->i]) || !c->s[c->i]) {
                return 0;
            }
        }
    }
    return 0;
}

static int jc_digits(jc *c)
{
    size_t at = c->i;
    while (c->i < c->n && c->s[c->i] >= '0' && c->s[c->i] <= '9') c->i++;
    return c->i > at;
}

static int jc_number(jc *c)
{
    if (c->i < c->n && c->s[c->i] == '-') c->i++;
    if (c->i < c->n && c->s[c->i] == '0') c->i++;
    else if (!jc_digits(c)) return 0;
    if (c->i < c->n && c->s[c->i] == '.') { c->i++; if (!jc_digits(c)) return 0; }
    if (c->i < c->n && (c->s[c->i] == 'e' || c->s[c->i] == 'E')) {
        c->i++;
        if (c->i < c->n && (c->s[c->i] == '+' || c->s[c->i] == '-')) c->i++;
        if (!jc_digits(c)) return 0;
    }
    return 1;
}

static int jc_word(jc *c, const char *w)
{
    size_t k = strlen(w);
    if (c->n - c->i < k || memcmp(c->s + c->i, w, k)) return 0;
    c->i += k;
    return 1;
}

static int jc_value(jc *c)
{
    jc_ws(c);
    if (c->i >= c->n) return 0;
    switch (c->s[c->i]) {
    case '{':
        if (++c->depth > JC_MAX_DEPTH) return 0;
        c->i++;
        jc_ws(c);
        if (c->i < c->n && c->s[c->i] == '}') { c->i++; c->depth--; return 1; }
        for (;;) {
            jc_ws(c);
            if (!jc_string(c)) return 0;
            jc_ws(c);
            if (c->i >= c->n || c->s[c->i++] != ':') return 0;
            if (!jc_value(c)) return 0;
            jc_ws(c);
            if (c->i >= c->n) return 0;
            if (c->s[c->i] == '}') { c->i++; c->depth--; return 1; }
            if (c->s[c->i++] != ',') return 0;
        }
    case '[':
        if (++c->depth > JC_MAX_DEPTH) return 0;
        c->i++;
        jc_ws(c);
        if (c->i < c->n && c->s[c->i] == ']') { c->i++; c->depth--; return 1; }
        for (;;) {
            if (!jc_value(c)) return 0;
            jc_ws(c);
            if (c->i >= c->n) return 0;
            if (c->s[c->i] == ']') { c->i++; c->depth--; return 1; }
            if (c->s[c->i++] != ',') return 0;
        }
    case '"': return jc_string(c);
    case 't': return jc_word(c, "true");
    case 'f': return jc_word(c, "false");
    case 'n': return jc_word(c, "null");
    case 'i': return jc_word(c, "inf"); /* QEMU writes an infinite double so (an echoed 1e400) */
    case '-':
        if (c->n - c->i >= 4 && !memcmp(c->s + c->i, "-inf", 4)) return jc_word(c, "-inf");
        return jc_number(c);
    default: return jc_number(c);
    }
}

/* 1 if s[0..n) is exactly one JSON value (whitespace around allowed). */
static int json_valid(const char *s, size_t n)
{
    jc c;
    c.s = s;
    c.n = n;
    c.i = 0;
    c.depth = 0;
    if (!jc_value(&c)) return 0;
    jc_ws(&c);
    return c.i == n;
}
#endif
