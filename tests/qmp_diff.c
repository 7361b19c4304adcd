/* qmp_diff.c - the differential QMP harness: the same bytes to a real QEMU 7.2 and to
   vballoon-sim (--profile qemu), replies compared byte for byte
   public domain (Unlicense) - see the end of vballoon.h

     qmp_diff --qemu SOCK --qemu-anon SOCK --sim SOCK [options]
         SOCK are QMP unix sockets that are already listening: --qemu a QEMU whose balloon is
         -device virtio-balloon-pci,id=balloon0 (/machine/peripheral/balloon0), --qemu-anon a
         QEMU whose balloon is the second anonymous device (/machine/peripheral-anon/device[1]),
         --sim one vballoon-sim serving both paths. tests/qmp_diff.sh starts all three.
         A stream that names "peripheral-anon" goes to --qemu-anon, every other to --qemu.
     qmp_diff --self-test [--break-mask RULE]
         The mask table against reply pairs it must mask and pairs it must not (no servers
         needed). With the servers, --self-test also sabotages our reply in a few streams and
         checks that each is reported. --break-mask RULE makes one rule mask everything, to
         see the self-test fail.
     qmp_diff --list            the streams of the fixed groups (index, group, name), no servers

   Options:
     --seed N          seed of the generated groups (mutation, random); default 13
     --streams N       how many generated streams (1/2 mutations, 1/4 grammar, 1/4 random
                       bytes); default 400
     --groups LIST     comma-separated: corpus,preneg,framing,unsupported,mutation,grammar,random
                       (default: all)
     --only I          run stream I only (the index printed with a failure)
     --quiet-ms N      silence that ends the wait for a swallowed end marker (default 250)
     --show N          print at most N differing streams in full (default 40); the rest are
                       counted and summarised by signature
     --long            the campaign's report: streams compared / agreed / differing
     --verbose         every stream's name as it runs
     --sabotage        change one byte of our last reply in every stream before comparing
                       (every stream must then be reported: the harness can fail)

   For each stream: connect to QEMU and to the sim, read both greetings, send
   {"execute":"qmp_capabilities"} unless the stream tests the state before the negotiation,
   send the stream's bytes followed by "\n" and the end marker
       {"execute":"qom-set","arguments":{"path":P,"property":"guest-stats-polling-interval",
        "value":0},"id":"qmp-diff-end"}
   (it puts the one piece of state a stream can change back as it was), and read until both
   have answered the marker. A stream that leaves a container open swallows the marker: after
   --quiet-ms of silence both get "@\n" (a lexer error, which resets QEMU's JSON streamer) and a
   second marker, and the wait ends when both answered it or after 10 s of silence. Then both
   connections are closed (QEMU serves one client at a time and takes the next one when the
   previous has gone).

   The replies (every line after the greeting, CR LF included) must be equal byte for byte,
   except where a rule of the mask table (below, and docs/qmp-diff.md) applies.
   Closing line: "qmp-diff: N passed, M failed" (streams that agreed, streams that did not;
   the self-test counts as one more). Exit status 0 if nothing failed, 1 otherwise, 2 usage. */
#define _GNU_SOURCE /* NOLINT(cert-dcl51-cpp): glibc feature macro (memmem) */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* ============================================================================================
   Small tools: byte buffers, a PRNG, the clock, printing bytes escaped
   ============================================================================================ */

typedef struct buf {
    char *p;
    size_t len, cap;
} buf;

static void die(const char *what)
{
    fprintf(stderr, "qmp_diff: %s%s%s\n", what, errno ? ": " : "", errno ? strerror(errno) : "");
    exit(2);
}

static void buf_put(buf *b, const void *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        char *p;
        while (cap < b->len + n + 1) cap *= 2;
        p = realloc(b->p, cap);
        if (!p) die("out of memory");
        b->p = p;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void buf_puts(buf *b, const char *s) { buf_put(b, s, strlen(s)); }

static void buf_putc(buf *b, int c)
{
    char ch = (char)c;
    buf_put(b, &ch, 1);
}

#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 2, 3)))
#endif
static void buf_printf(buf *b, const char *fmt, ...)
{
    char tmp[4096];
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) die("vsnprintf");
    if ((size_t)n >= sizeof tmp) die("buf_printf: too long");
    buf_put(b, tmp, (size_t)n);
}

static void buf_rep(buf *b, const char *s, unsigned n)
{
    while (n--) buf_puts(b, s);
}

static void buf_free(buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static uint32_t rnd(uint64_t *s, uint32_t n) /* 0 .. n-1 */
{
    return n ? (uint32_t)(splitmix(s) % n) : 0;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* C-style escapes: printable ASCII as is, the rest \n \r \t \\ or \xHH. At most `max` input
   bytes (0: all), then "...(N bytes)". */
static void put_escaped(FILE *f, const char *s, size_t n, size_t max)
{
    size_t i, lim = max && n > max ? max : n;
    for (i = 0; i < lim; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\\') fputs("\\\\", f);
        else if (c == '\n') fputs("\\n", f);
        else if (c == '\r') fputs("\\r", f);
        else if (c == '\t') fputs("\\t", f);
        else if (c >= 0x20 && c < 0x7F) fputc(c, f);
        else fprintf(f, "\\x%02X", c);
    }
    if (lim < n) fprintf(f, "...(%zu bytes)", n);
}

/* ============================================================================================
   The streams
   ============================================================================================ */

#define P_MAIN "/machine/peripheral/balloon0"
#define P_ANON "/machine/peripheral-anon/device[1]"
#define IVL "guest-stats-polling-interval"
#define END_ID "qmp-diff-end"
#define END2_ID "qmp-diff-end2"
#define NEG "{\"execute\":\"qmp_capabilities\"}\n"

typedef struct stream {
    const char *group;
    char name[96];
    buf bytes;
    int negotiate; /* send qmp_capabilities first */
    unsigned chunk; /* > 0: send that many bytes at a time, with a pause between */
} stream;

static stream *fixed;     /* the fixed groups, in order */
static size_t nfixed, capfixed;

static int route_of(const stream *st) /* 0: QEMU with balloon0, 1: QEMU with device[1] */
{
    return memmem(st->bytes.p, st->bytes.len, "peripheral-anon", 15) != NULL;
}

static stream *add(const char *group, int negotiate, const char *name)
{
    stream *st;
    if (nfixed == capfixed) {
        capfixed = capfixed ? capfixed * 2 : 256;
        fixed = realloc(fixed, capfixed * sizeof *fixed);
        if (!fixed) die("out of memory");
    }
    st = &fixed[nfixed++];
    memset(st, 0, sizeof *st);
    st->group = group;
    st->negotiate = negotiate;
    snprintf(st->name, sizeof st->name, "%s", name);
    return st;
}

/* A stream of one or more commands given as a C string (no NUL inside). */
static void addc(const char *group, int negotiate, const char *name, const char *text)
{
    buf_puts(&add(group, negotiate, name)->bytes, text);
}

/* The same, with bytes that may hold NULs. */
static void addn(const char *group, int negotiate, const char *name, const char *text, size_t n)
{
    buf_put(&add(group, negotiate, name)->bytes, text, n);
}

static void qom_get(buf *b, const char *path, const char *prop, const char *id)
{
    buf_printf(b, "{\"execute\": \"qom-get\", \"arguments\": {\"path\": \"%s\", \"property\": \"%s\"}%s%s}\n",
               path, prop, id ? ", \"id\": " : "", id ? id : "");
}

static void qom_set(buf *b, const char *path, const char *prop, const char *value)
{
    buf_printf(b, "{\"execute\": \"qom-set\", \"arguments\": {\"path\": \"%s\", \"property\": \"%s\", \"value\": %s}}\n",
               path, prop, value);
}

/* --- (a) the corpus: every command family the sim serves, valid and not --- */

/* qom-get, qom-set, balloon and qom-list on one path; the values only on the main path (all
   = 1), the properties and qom-list on both. */
static void corpus_qom(const char *path, const char *tag, int all)
{
    static const char *const props[] = {"guest-stats", IVL, "type", "stats-polling-interval", "",
                                        "x-guest-stats-telemetry", "nope", "Guest-Stats", "guest-stats ", "guest\\u002dstats",
                                        "guest-stats\\u0000", "\\u00e9", "g\xc3\xa9"};
    static const char *const values[] = {
        "0", "1", "5", "-1", "-0", "4294967295", "4294967296", "2147483648", "9223372036854775807",
        "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
        "18446744073709551615", "18446744073709551616", "1.5", "1e2", "1E2", "0.0", "-0.0", "1e400",
        "-1e400", "1e-400", "\"5\"", "'5'", "true", "false", "null", "[]", "[5]", "{}",
        "{\"a\": 5}", "5.0", "1e0", "0e0", "99999999999999999999999999"};
    char name[96];
    unsigned i;
    for (i = 0; i < sizeof props / sizeof props[0]; i++) {
        stream *st = add("corpus", 1, "");
        snprintf(st->name, sizeof st->name, "qom-get %s property %u", tag, i);
        qom_get(&st->bytes, path, props[i], NULL);
        st = add("corpus", 1, "");
        snprintf(st->name, sizeof st->name, "qom-set %s property %u", tag, i);
        qom_set(&st->bytes, path, props[i], "3");
        qom_get(&st->bytes, path, IVL, NULL);
    }
    for (i = 0; all && i < sizeof values / sizeof values[0]; i++) {
        stream *st = add("corpus", 1, "");
        snprintf(st->name, sizeof st->name, "qom-set %s interval %s", tag, values[i]);
        qom_set(&st->bytes, path, IVL, values[i]);
        qom_get(&st->bytes, path, IVL, "\"after\"");
        st = add("corpus", 1, "");
        snprintf(st->name, sizeof st->name, "qom-set %s guest-stats %s", tag, values[i]);
        qom_set(&st->bytes, path, "guest-stats", values[i]);
        st = add("corpus", 1, "");
        snprintf(st->name, sizeof st->name, "balloon %s value %s", tag, values[i]);
        buf_printf(&st->bytes, "{\"execute\": \"balloon\", \"arguments\": {\"value\": %s}}\n"
                               "{\"execute\": \"query-balloon\"}\n", values[i]);
        st = add("corpus", 1, "");
        snprintf(st->name, sizeof st->name, "qom-set %s type %s", tag, values[i]);
        qom_set(&st->bytes, path, "type", values[i]);
    }
    snprintf(name, sizeof name, "qom-set %s same value twice", tag);
    {
        stream *st = add("corpus", 1, name);
        qom_set(&st->bytes, path, IVL, "7");
        qom_set(&st->bytes, path, IVL, "7");
        qom_get(&st->bytes, path, IVL, NULL);
        qom_set(&st->bytes, path, IVL, "0");
        qom_get(&st->bytes, path, IVL, NULL);
        qom_get(&st->bytes, path, "guest-stats", "1");
    }
    snprintf(name, sizeof name, "qom-list %s", tag);
    {
        stream *st = add("corpus", 1, name);
        buf_printf(&st->bytes, "{\"execute\": \"qom-list\", \"arguments\": {\"path\": \"%s\"}, \"id\": 7}\n", path);
    }
}

static void corpus_paths(void)
{
    static const char *const paths[] = {
        "", "/", "/machine", "/machine/peripheral", "/machine/peripheral/", "/machine/peripheral/nope",
        "/machine/peripheral/balloon0/", "//machine/peripheral/balloon0", "/machine//peripheral/balloon0",
        "/machine/peripheral/balloon0/virtio-backend", "/machine/peripheral/balloon0/virtio-backend/",
        "balloon0", "peripheral/balloon0", "machine/peripheral/balloon0", "virtio-backend",
        "/machine/peripheral/balloon1", "/machine/peripheral/Balloon0", "\\/machine\\/peripheral\\/balloon0",
        "/machine/peripheral/ballo\\u006fn0", "/machine/peripheral/balloon0\\u0000",
        "/machine/peripheral/ballo\xc3\xb6n0", "/machine/peripheral/\\u00e9", "/machine/peripheral/\\ud83d\\ude00",
        "/machine/peripheral/balloon0/..", "/machine/peripheral/./balloon0", "/machine/unattached",
        "/machine/peripheral-anon/device[0]", "/machine/peripheral-anon/device[1]/",
        "/machine/peripheral-anon/device[1]/virtio-backend", "/machine/peripheral-anon/device[2]",
        "device[1]", "/machine/peripheral-anon", "peripheral-anon/device[1]", "/objects",
        "/machine/peripheral/balloon0 ", " /machine/peripheral/balloon0", "/chardevs", "/backend"};
    unsigned i;
    for (i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        stream *st = add("corpus", 1, "");
        snprintf(st->name, sizeof st->name, "path %u", i);
        qom_get(&st->bytes, paths[i], "guest-stats", NULL);
        qom_get(&st->bytes, paths[i], IVL, "\"i\"");
        qom_get(&st->bytes, paths[i], "nope", NULL);
        qom_set(&st->bytes, paths[i], IVL, "0");
        buf_printf(&st->bytes, "{\"execute\": \"qom-list\", \"arguments\": {\"path\": \"%s\"}}\n", paths[i]);
    }
}

static void corpus_arguments(void)
{
    static const char *const qg[] = {
        "{}", "{\"path\": \"" P_MAIN "\"}", "{\"property\": \"type\"}", "{\"path\": null, \"property\": \"type\"}",
        "{\"path\": 1, \"property\": \"type\"}", "{\"path\": [], \"property\": \"type\"}",
        "{\"path\": {}, \"property\": \"type\"}", "{\"path\": true, \"property\": 1}",
        "{\"path\": \"" P_MAIN "\", \"property\": null}", "{\"path\": \"" P_MAIN "\", \"property\": 1.5}",
        "{\"path\": \"" P_MAIN "\", \"property\": \"type\", \"value\": 1}",
        "{\"path\": \"" P_MAIN "\", \"property\": \"type\", \"x\": 1, \"y\": 2}",
        "{\"path\": \"/nope\", \"property\": 1}", "{\"path\": 1, \"property\": \"type\", \"zz\": 1}",
        "{\"zz\": 1, \"path\": 1}", "{\"path\": \"/nope\", \"property\": \"type\", \"q\": 1}",
        "{\"path\": \"" P_MAIN "\", \"path\": \"/nope\", \"property\": \"type\"}",
        "{\"path\": \"/nope\", \"path\": \"" P_MAIN "\", \"property\": \"type\"}",
        "{\"path\": \"" P_MAIN "\", \"property\": \"nope\", \"property\": \"type\"}",
        "{\"Path\": \"" P_MAIN "\", \"property\": \"type\"}", "[]", "null", "\"x\"", "1", "[{}]"};
    static const char *const qs[] = {
        "{}", "{\"path\": \"" P_MAIN "\", \"property\": \"" IVL "\"}",
        "{\"path\": \"" P_MAIN "\", \"value\": 1}", "{\"property\": \"" IVL "\", \"value\": 1}",
        "{\"path\": \"/nope\", \"property\": \"" IVL "\", \"value\": \"x\"}",
        "{\"path\": \"" P_MAIN "\", \"property\": \"nope\", \"value\": \"x\"}",
        "{\"path\": \"" P_MAIN "\", \"property\": \"" IVL "\", \"value\": 1, \"x\": 2}",
        "{\"path\": \"" P_MAIN "\", \"property\": \"" IVL "\", \"value\": \"x\", \"x\": 2}",
        "{\"path\": \"/nope\", \"property\": \"" IVL "\", \"value\": 1, \"x\": 2}",
        "{\"path\": 5, \"property\": \"" IVL "\", \"value\": 1, \"x\": 2}",
        "{\"path\": \"" P_MAIN "\", \"property\": \"" IVL "\", \"value\": 1, \"value\": 2}",
        "{\"path\": \"" P_MAIN "\", \"property\": \"" IVL "\", \"value\": -1, \"value\": 2}",
        "{\"path\": \"" P_MAIN "\", \"property\": \"" IVL "\", \"value\": 2, \"value\": \"x\"}",
        "{\"path\": \"" P_MAIN "\", \"property\": \"guest-stats\", \"value\": null}",
        "{\"path\": \"" P_MAIN "\", \"property\": \"guest-stats\"}",
        "{\"path\": \"" P_MAIN "\", \"property\": \"nope\"}", "{\"path\": \"/nope\", \"property\": \"nope\"}",
        "{\"value\": 1}", "{\"value\": 1, \"zzz\": 0}"};
    static const char *const ql[] = {"{}", "{\"path\": null}", "{\"path\": 1}", "{\"path\": \"" P_MAIN "\", \"property\": \"type\"}",
                                     "{\"path\": \"/nope\", \"x\": 1}", "{\"x\": 1}", "[]"};
    static const char *const qb[] = {"{}", "{\"x\": 1}", "{\"x\": 1, \"y\": 2}", "null", "[]", "\"\"", "1", "{\"value\": 1}",
                                     "{\"y\": 1, \"x\": 2}", "{\"a\": 1, \"b\": 2, \"c\": 3}",
                                     "{\"foo\": 1, \"bar\": 2, \"baz\": 3}", "{\"\u00e9\": 1, \"e\": 2}"};
    static const char *const ba[] = {"{}", "{\"value\": 1, \"x\": 2}", "{\"x\": 2}", "{\"x\": 2, \"value\": \"y\"}",
                                     "{\"value\": \"y\", \"x\": 2}", "{\"target\": 1}", "{\"value\": 1, \"value\": 0}",
                                     "{\"value\": 0, \"value\": 1}", "{\"value\": 268435456, \"value\": 2}", "null"};
    static const struct { const char *cmd; const char *const *args; unsigned n; } fam[] = {
        {"qom-get", qg, sizeof qg / sizeof qg[0]}, {"qom-set", qs, sizeof qs / sizeof qs[0]},
        {"qom-list", ql, sizeof ql / sizeof ql[0]}, {"query-balloon", qb, sizeof qb / sizeof qb[0]},
        {"balloon", ba, sizeof ba / sizeof ba[0]}, {"qmp_capabilities", qb, sizeof qb / sizeof qb[0]}};
    unsigned f, i;
    for (f = 0; f < sizeof fam / sizeof fam[0]; f++) {
        for (i = 0; i < fam[f].n; i++) {
            stream *st = add("corpus", 1, "");
            snprintf(st->name, sizeof st->name, "%s arguments %u", fam[f].cmd, i);
            buf_printf(&st->bytes, "{\"execute\": \"%s\", \"arguments\": %s, \"id\": %u}\n", fam[f].cmd, fam[f].args[i], i);
        }
        {
            stream *st = add("corpus", 1, "");
            snprintf(st->name, sizeof st->name, "%s without arguments", fam[f].cmd);
            buf_printf(&st->bytes, "{\"execute\": \"%s\"}\n{\"execute\": \"%s\", \"id\": null}\n", fam[f].cmd, fam[f].cmd);
        }
    }
}

static void corpus_caps_and_envelope(int negotiate)
{
    static const char *const caps[] = {
        "{\"execute\": \"qmp_capabilities\"}", "{\"execute\": \"qmp_capabilities\", \"arguments\": {}}",
        "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": []}}",
        "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": [\"oob\"]}}",
        "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": [\"oob\", \"oob\"]}}",
        "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": \"oob\"}}",
        "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": [1]}}",
        "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": [\"x\"]}}",
        "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": [\"oob\", 1]}}",
        "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": [\"oob\", \"x\"]}}",
        "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": null}}",
        "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"x\": 1}}",
        "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": [], \"x\": 1}}",
        "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": [\"\\u006fob\"]}}",
        "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": [\"OOB\"]}}",
        "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": [[]]}}",
        "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": {}}}",
        "{\"execute\": \"qmp_capabilities\", \"arguments\": []}",
        "{\"execute\": \"qmp_capabilities\", \"arguments\": null}",
        "{\"execute\": \"qmp_capabilities\", \"id\": \"c\", \"x\": 1}",
    };
    static const char *const env[] = {
        "{}", "{\"id\": 1}", "{\"execute\": 1}", "{\"execute\": null, \"id\": 2}", "{\"execute\": []}",
        "{\"execute\": {}}", "{\"execute\": true}", "{\"execute\": \"\"}", "{\"execute\": \"nope\"}",
        "{\"execute\": \"nope\", \"id\": \"n\"}", "{\"execute\": \"QUERY-BALLOON\"}",
        "{\"execute\": \"query_balloon\"}", "{\"execute\": \"query-balloon \"}",
        "{\"execute\": \"\\u0071uery-balloon\"}", "{\"execute\": \"query-balloon\\u0000\"}",
        "{\"execute\": \"x-advance-clock\", \"arguments\": {\"seconds\": 1}}",
        "{\"execute\": \"query-balloon\", \"arguments\": 1}", "{\"execute\": \"query-balloon\", \"arguments\": []}",
        "{\"execute\": \"query-balloon\", \"arguments\": null}", "{\"execute\": \"query-balloon\", \"arguments\": \"x\"}",
        "{\"execute\": \"nope\", \"arguments\": 1}", "{\"execute\": 1, \"arguments\": 1}",
        "{\"execute\": \"query-balloon\", \"x\": 1}", "{\"execute\": \"query-balloon\", \"x\": 1, \"y\": 2}",
        "{\"x\": 1, \"execute\": 1}", "{\"execute\": 1, \"zzzz\": 1}", "{\"arguments\": 1, \"zzzz\": 1}",
        "{\"arguments\": 1, \"exec\": 1}", "{\"arguments\": {}}", "{\"arguments\": 1}",
        "{\"execute\": \"query-balloon\", \"control\": 1}", "{\"execute\": \"query-balloon\", \"control\": {}}",
        "{\"exec-oob\": \"query-balloon\"}", "{\"exec-oob\": \"nope\"}", "{\"exec-oob\": 1}",
        "{\"execute\": \"query-balloon\", \"exec-oob\": \"query-balloon\"}",
        "{\"exec-oob\": \"qmp_capabilities\", \"id\": 3}", "{\"execute\": \"query-balloon\", \"id\": 1, \"id\": 2}",
        "{\"execute\": \"nope\", \"execute\": \"query-balloon\"}", "{\"execute\": \"query-balloon\", \"execute\": \"nope\"}",
        "{\"execute\": \"query-balloon\", \"arguments\": {}, \"arguments\": 1}",
        "{\"execute\": \"query-balloon\", \"arguments\": 1, \"arguments\": {}}",
        "{\"execute\": \"query-balloon\", \"\": 1}", "{\"execute\": \"query-balloon\", \"\\u00e9\": 1}",
        "{\"execute\": \"query-balloon\", \"b\": 1, \"a\": 2}", "{\"execute\": \"query-balloon\", \"a\": 1, \"b\": 2}",
        "{\"execute\": 1, \"arguments\": 2, \"x\": 3}", "{\"arguments\": 2, \"execute\": 1, \"x\": 3}",
        "[]", "[{\"execute\": \"query-balloon\"}]", "1", "\"query-balloon\"", "null", "true", "-1", "1.5"};
    unsigned i;
    const char *g = negotiate ? "corpus" : "preneg";
    for (i = 0; i < sizeof caps / sizeof caps[0]; i++) {
        stream *st = add(g, negotiate, "");
        snprintf(st->name, sizeof st->name, "qmp_capabilities %u", i);
        buf_printf(&st->bytes, "%s\n{\"execute\": \"query-balloon\", \"id\": \"after\"}\n%s\n", caps[i], caps[i]);
    }
    for (i = 0; i < sizeof env / sizeof env[0]; i++) {
        stream *st = add(g, negotiate, "");
        snprintf(st->name, sizeof st->name, "envelope %u", i);
        buf_printf(&st->bytes, "%s\n", env[i]);
    }
}

/* ids of every JSON type, written in many ways */
static void corpus_ids(void)
{
    static const char *const ids[] = {
        "0", "-0", "42", "-42", "9223372036854775807", "-9223372036854775808", "9223372036854775808",
        "18446744073709551615", "18446744073709551616", "-9223372036854775809", "1.5", "-1.5", "1e3",
        "1E3", "1e+3", "1e-3", "0.1", "-0.0", "0.0", "1e400", "-1e400", "1e-400", "123456789012345678901234567890",
        "0.30000000000000004", "2.5e-324", "1.7976931348623157e308", "\"\"", "\"abc\"", "'abc'", "'a\"b'",
        "\"a'b\"", "'it\\'s'", "\"\\/\"", "\"\\\"\\\\\"", "\"\\b\\f\\n\\r\\t\"", "\"\\u0008\\u000c\\u000A\"",
        "\"\\u0001\\u001F\\u0020\"", "\"\\u0041\\u007f\"", "\"\x7f\"", "\"\xc3\xa9\"", "\"\\u00e9\"",
        "\"\xe2\x82\xac\"", "\"\xef\xbf\xbd\"", "\"\xf0\x9f\x98\x80\"", "\"\\ud83d\\ude00\"", "\"\\uD83D\\uDE00\"",
        "\"\xf4\x8f\xbf\xbd\"", "\"\\u0000\"", "\"a\\u0000b\"", "\"\\uD800\"", "\"\\uDC00\"", "\"\\ud83d\\u0041\"",
        "\"\\uDC00\\uD800\"", "\"\\uD800x\"", "\"\\uFFFF\"", "\"\\uFDD0\"", "\"\xef\xbf\xbe\"", "\"\\uD87F\\uDFFE\"",
        "\"\\uFFFE\"", "\"\\u10000\"", "\"\\u12\"", "\"\\u12G4\"", "\"\\q\"", "\"\\x41\"", "\"\\'\"",
        "\"\xc3\x28\"", "\"\x80\"", "\"\xbf\"", "\"\xc0\xaf\"", "\"\xc1\xbf\"", "\"\xe0\x80\xaf\"",
        "\"\xed\xa0\x80\"", "\"\xed\xbf\xbf\"", "\"\xf4\x90\x80\x80\"", "\"\xf5\x80\x80\x80\"",
        "\"\xf8\x88\x80\x80\x80\"", "\"\xfe\"", "\"\xe2\x82\"", "\"\xf0\x9f\x98\"", "\"\xc0\x80\"",
        "\"a\tb\"", "\"a\001b\"", "true", "false", "null", "True", "nul", "truex", "NaN", "Infinity", "-Infinity",
        "[]", "[ ]", "{}", "{ }", "[1,2]", "[1, 2, ]", "[,1]", "[1 2]", "{\"a\":[1,2]}", "{\"b\": 1, \"a\": 2}",
        "{\"a\": 1, \"a\": 2}", "{\"a\": 1, \"b\": 2, \"a\": 3}", "{'k\\u00e9': '\\u00e9'}",
        "{\"x\":{\"y\":{\"z\":\"\"}}}", "[[[]],{},[{\"k\":null}]]", "[true,false,null,\"s\",-1]",
        "\n\t[\r1\n]", "{\"\": \"\"}", "{1: 2}", "{\"a\" 1}", "{\"a\": }", "[1,]", "01", "-01", "00", "1.",
        ".5", "-", "+1", "1e", "1e+", "0x10", "1.e3", "--1", "1a", "-a", "1.5.5", "1e5e5", "1ee5"};
    unsigned i;
    for (i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        stream *st = add("corpus", 1, "");
        snprintf(st->name, sizeof st->name, "id %u", i);
        buf_printf(&st->bytes,
                   "{\"execute\": \"query-balloon\", \"id\": %s}\n{\"id\": %s, \"execute\": \"nope\"}\n"
                   "{\"execute\": \"qom-get\", \"arguments\": {\"path\": \"/nope\", \"property\": \"x\"}, \"id\": %s}\n",
                   ids[i], ids[i], ids[i]);
    }
}

static void nest(buf *b, unsigned depth, const char *open, const char *mid, const char *close)
{
    buf_rep(b, open, depth);
    buf_puts(b, mid);
    buf_rep(b, close, depth);
}

static void corpus_nesting(void)
{
    static const unsigned depths[] = {30, 31, 32, 33, 100, 1023, 1024, 1025, 2000};
    unsigned i;
    for (i = 0; i < sizeof depths / sizeof depths[0]; i++) {
        stream *st = add("corpus", 1, "");
        snprintf(st->name, sizeof st->name, "id nested %u arrays", depths[i]);
        buf_puts(&st->bytes, "{\"execute\": \"query-balloon\", \"id\": ");
        nest(&st->bytes, depths[i], "[", "1", "]");
        buf_puts(&st->bytes, "}\n");
        st = add("corpus", 1, "");
        snprintf(st->name, sizeof st->name, "id nested %u objects", depths[i]);
        buf_puts(&st->bytes, "{\"execute\": \"query-balloon\", \"id\": ");
        nest(&st->bytes, depths[i], "{\"a\": ", "null", "}");
        buf_puts(&st->bytes, "}\n");
        st = add("corpus", 1, "");
        snprintf(st->name, sizeof st->name, "bare %u arrays", depths[i]);
        nest(&st->bytes, depths[i], "[", "", "]");
        buf_puts(&st->bytes, "\n");
        st = add("corpus", 1, "");
        snprintf(st->name, sizeof st->name, "value nested %u arrays", depths[i]);
        buf_puts(&st->bytes, "{\"execute\": \"qom-set\", \"arguments\": {\"path\": \"" P_MAIN "\", \"property\": \"" IVL "\", \"value\": ");
        nest(&st->bytes, depths[i], "[", "", "]");
        buf_puts(&st->bytes, "}}\n");
    }
}

static void corpus_long(void)
{
    static const unsigned lens[] = {1000, 4096, 10000, 30000, 60000, 70000};
    unsigned i;
    for (i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        stream *st = add("corpus", 1, "");
        snprintf(st->name, sizeof st->name, "id string of %u bytes", lens[i]);
        buf_puts(&st->bytes, "{\"execute\": \"query-balloon\", \"id\": \"");
        buf_rep(&st->bytes, "x", lens[i]);
        buf_puts(&st->bytes, "\"}\n");
        st = add("corpus", 1, "");
        snprintf(st->name, sizeof st->name, "path of %u bytes", lens[i]);
        buf_puts(&st->bytes, "{\"execute\": \"qom-get\", \"arguments\": {\"path\": \"/");
        buf_rep(&st->bytes, "p", lens[i]);
        buf_puts(&st->bytes, "\", \"property\": \"type\"}}\n");
        st = add("corpus", 1, "");
        snprintf(st->name, sizeof st->name, "property of %u escapes", lens[i] / 6);
        buf_puts(&st->bytes, "{\"execute\": \"qom-get\", \"arguments\": {\"path\": \"" P_MAIN "\", \"property\": \"");
        buf_rep(&st->bytes, "\\u00e9", lens[i] / 6);
        buf_puts(&st->bytes, "\"}}\n");
    }
    {
        stream *st = add("corpus", 1, "200 commands in one write");
        for (i = 0; i < 200; i++) buf_printf(&st->bytes, "{\"execute\": \"query-balloon\", \"id\": %u}", i);
        buf_puts(&st->bytes, "\n");
    }
}

/* The other spellings of the same command: whitespace, quotes, escapes, order. */
static void corpus_spelling(void)
{
    static const char *const cmds[] = {
        "{\"execute\":\"query-balloon\"}",
        "{ \"execute\" : \"query-balloon\" }",
        "\t{\r\"execute\"\n:\t\"query-balloon\"\r}\r\n",
        "{'execute': 'query-balloon'}",
        "{'execute': \"query-balloon\", 'id': 'q'}",
        "{\"execute\": 'query-balloon', \"id\": \"q\\'\"}",
        "{\"execute\": \"qom-get\", \"arguments\": {'path': '" P_MAIN "', 'property': 'type'}}",
        "{\"arguments\": {\"property\": \"type\", \"path\": \"" P_MAIN "\"}, \"execute\": \"qom-get\"}",
        "{\"execute\": \"qom-get\", \"arguments\": {\"path\": \"\\u002fmachine\\u002fperipheral\\u002fballoon0\", \"property\": \"t\\u0079pe\"}}",
        "{\"execute\": \"query-balloon\"}{\"execute\": \"query-balloon\"}",
        "{\"execute\": \"query-balloon\"} {\"execute\": \"query-balloon\"}",
        "{\"execute\": \"query-balloon\"}\r\n{\"execute\": \"query-balloon\"}\r\n",
        "{\"execute\":\n\"query-balloon\"\n}",
        "{\"execute\": \"query-balloon\"}\f",
        "{\"execute\": \"query-balloon\"}\v",
        "\f{\"execute\": \"query-balloon\"}",
        "{\"execute\":\f\"query-balloon\"}",
        "{\"execute\": \"query-balloon\"}\xc2\xa0",
        "{\"execute\":\xc2\xa0\"query-balloon\"}",
        "{\"execute\": \"query-balloon\", \"id\": 1}x",
        "{\"execute\": \"query-balloon\", \"id\": 1} x {\"execute\": \"query-balloon\", \"id\": 2}"};
    unsigned i;
    for (i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        stream *st = add("corpus", 1, "");
        snprintf(st->name, sizeof st->name, "spelling %u", i);
        buf_printf(&st->bytes, "%s\n", cmds[i]);
    }
}

/* --- (b) framing --- */

static void framing(uint64_t seed)
{
    static const char qb[] = "{\"execute\": \"query-balloon\", \"id\": \"ok\"}";
    static const char *const strays[] = {"}", "]", ",", ":", "}}", "]]", "}]", "][", "},", ":,",
                                         "\"abc", "'abc", "\"abc\\", "\"\\u12", "@", "%", "%d", "\\",
                                         "\\u0041", "#", "/", "*", "=", "+", "-", "tru", "nul", "True", "abc",
                                         "123abc", "1.5.5", "0x10", "{\"execute\": @}", "{\"execute\": \"query-balloon\"",
                                         "{\"execute\": \"query-balloon\",", "{\"execute\"", "{", "[", "[[", "{[",
                                         "{\"a\": [", "\x01", "\x1b", "\x7f", "\x80", "\xc3", "\xfe", "\xff",
                                         "\xc3\xa9", "\xe2\x82\xac", "\xef\xbb\xbf", "\xf0\x9f\x98\x80", "1", "-1",
                                         "1e400", "18446744073709551616", "\"x\"", "'x'", "true", "null", "[]",
                                         "{}", "[1, 2]", "\"abc\nx\"", "'a\tb'"};
    static const char *const seps[] = {"\n", " ", ""};
    unsigned i, j;
    char name[96];
    for (i = 0; i < sizeof strays / sizeof strays[0]; i++)
        for (j = 0; j < sizeof seps / sizeof seps[0]; j++) {
            stream *st = add("framing", 1, "");
            snprintf(st->name, sizeof st->name, "stray %u sep %u", i, j);
            buf_printf(&st->bytes, "%s%s%s\n", strays[i], seps[j], qb);
        }
    /* NULs */
    addn("framing", 1, "NUL alone", "\0\n", 2);
    addn("framing", 1, "NUL then command", "\0{\"execute\": \"query-balloon\"}\n", 31);
    addn("framing", 1, "command then NUL", "{\"execute\": \"query-balloon\"}\0\n", 31);
    addn("framing", 1, "NUL in a string", "{\"execute\": \"query-\0balloon\"}\n", 31);
    addn("framing", 1, "NUL between members", "{\"execute\": \"query-balloon\",\0 \"id\": 1}\n", 40);
    addn("framing", 1, "NULs then command", "\0\0\0\n{\"execute\": \"query-balloon\"}\n", 33);
    addc("framing", 1, "0xFF alone", "\xff\n");
    addc("framing", 1, "0xFF in a command", "{\"execute\": \"query-balloon\"\xff}\n");
    addc("framing", 1, "0xFF in a string", "{\"execute\": \"query-\xff" "balloon\"}\n");
    addc("framing", 1, "0xFE 0xFF resync", "{\"execute\": \xfe\xff{\"execute\": \"query-balloon\"}\n");
    /* split across lines, and across writes */
    addc("framing", 1, "split across lines",
         "{\n\"execute\"\n:\n\"qom-get\"\n,\n\"arguments\"\n:\n{\"path\": \"" P_MAIN "\",\n\"property\":\n\"type\"}\n}\n");
    {
        stream *st = add("framing", 1, "written 1 byte at a time");
        buf_puts(&st->bytes, "{\"execute\": \"qom-get\", \"arguments\": {\"path\": \"" P_MAIN "\", \"property\": \"type\"}, \"id\": [1, \"x\"]}");
        st->chunk = 1;
    }
    {
        stream *st = add("framing", 1, "written 7 bytes at a time, several commands");
        for (i = 0; i < 5; i++) buf_printf(&st->bytes, "{\"execute\": \"query-balloon\", \"id\": %u} ", i);
        buf_puts(&st->bytes, "} {\"execute\": @}\n\"abc\n123abc\n");
        st->chunk = 7;
    }
    /* 4 KiB of random bytes then a command, several seeds */
    for (j = 0; j < 4; j++) {
        uint64_t s = seed ^ (UINT64_C(0xF00D) + j);
        stream *st;
        snprintf(name, sizeof name, "4 KiB random bytes (%u) then a command", j);
        st = add("framing", 1, name);
        for (i = 0; i < 4096; i++) buf_putc(&st->bytes, (int)(j & 1 ? rnd(&s, 256) : 32 + rnd(&s, 95)));
        buf_printf(&st->bytes, "\n%s\n", qb);
    }
    /* whitespace only, and nothing */
    addc("framing", 1, "nothing", "");
    addc("framing", 1, "whitespace only", " \t\r\n \n");
    addc("framing", 1, "8 KiB of spaces then a command", "");
    buf_rep(&fixed[nfixed - 1].bytes, "        ", 1024);
    buf_puts(&fixed[nfixed - 1].bytes, qb);
    buf_puts(&fixed[nfixed - 1].bytes, "\n");
    addc("framing", 1, "unterminated object then command", "{\"execute\": \"query-balloon\"\n{\"execute\": \"query-balloon\"}\n");
    addc("framing", 1, "unterminated string then command", "{\"execute\": \"query-balloon\n{\"execute\": \"query-balloon\"}\n");
    addc("framing", 1, "unterminated 1025 arrays", "");
    buf_rep(&fixed[nfixed - 1].bytes, "[", 1025);
    buf_puts(&fixed[nfixed - 1].bytes, "\n");
    addc("framing", 1, "unterminated 1024 arrays", "");
    buf_rep(&fixed[nfixed - 1].bytes, "[", 1024);
    buf_puts(&fixed[nfixed - 1].bytes, "\n");
    addc("framing", 1, "error inside an object, then more of it",
         "{\"execute\": @, \"id\": 1}\n{\"execute\": \"query-balloon\", @ \"id\": 2}\n");
    addc("framing", 1, "error then closing brackets", "{\"a\": [1, @]}}]\n");
    addc("framing", 0, "preneg: stray bytes before negotiation", "\"abc\n}\n{\"execute\": @}\n" NEG);
}

/* --- the unsupported group: what QEMU has and the sim does not --- */

static const char *const qemu_only_commands[] = {
    "query-version", "query-status", "query-name", "query-uuid", "query-kvm", "query-target",
    "query-iothreads", "query-chardev", "query-commands", "query-current-machine"};
static const char *const qemu_only_props[] = {
    "realized", "addr", "romfile", "hotpluggable", "hotplugged", "deflate-on-oom",
    "free-page-reporting", "free-page-hint", "event_idx", "indirect_desc", "disable-legacy",
    "parent_bus", "virtio-backend", "multifunction", "iothread"};

static void unsupported(void)
{
    unsigned i;
    for (i = 0; i < sizeof qemu_only_commands / sizeof qemu_only_commands[0]; i++) {
        stream *st = add("unsupported", 1, "");
        snprintf(st->name, sizeof st->name, "command %s", qemu_only_commands[i]);
        buf_printf(&st->bytes, "{\"execute\": \"%s\"}\n{\"execute\": \"%s\", \"id\": [\"u\"]}\n",
                   qemu_only_commands[i], qemu_only_commands[i]);
    }
    for (i = 0; i < sizeof qemu_only_props / sizeof qemu_only_props[0]; i++) {
        stream *st = add("unsupported", 1, "");
        snprintf(st->name, sizeof st->name, "property %s", qemu_only_props[i]);
        qom_get(&st->bytes, P_MAIN, qemu_only_props[i], NULL);
        qom_get(&st->bytes, P_MAIN, qemu_only_props[i], "\"u\"");
    }
}

static void build_fixed(uint64_t seed)
{
    corpus_qom(P_MAIN, "main", 1);
    corpus_qom(P_ANON, "anon", 0);
    corpus_paths();
    corpus_arguments();
    corpus_caps_and_envelope(1);
    corpus_ids();
    corpus_nesting();
    corpus_long();
    corpus_spelling();
    corpus_caps_and_envelope(0);
    {
        stream *st = add("preneg", 0, "commands before the negotiation");
        buf_puts(&st->bytes, "{\"execute\": \"query-balloon\"}\n{\"execute\": \"query-balloon\", \"id\": 1}\n");
        qom_get(&st->bytes, P_MAIN, "type", "2");
        buf_puts(&st->bytes, "{\"execute\": \"nope\", \"id\": 3}\n" NEG "{\"execute\": \"query-balloon\", \"id\": 4}\n" NEG);
    }
    /* in-band commands only: QEMU answers an exec-oob at once, ahead of in-band replies still
       queued (and of the negotiation itself), so their order in one stream is a race */
    addc("preneg", 0, "oob negotiated, then commands",
         "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": [\"oob\"]}}\n"
         "{\"execute\": \"query-balloon\"}\n{\"execute\": \"query-balloon\", \"id\": 1}\n");
    framing(seed);
    unsupported();
}

/* --- (c) mutations and (d) random bytes: generated from (seed, index) --- */

/* The valid commands mutations start from. */
static const char *const bases[] = {
    "{\"execute\": \"query-balloon\"}",
    "{\"execute\": \"query-balloon\", \"id\": \"q1\"}",
    "{\"execute\": \"qom-get\", \"arguments\": {\"path\": \"" P_MAIN "\", \"property\": \"guest-stats\"}}",
    "{\"execute\": \"qom-get\", \"arguments\": {\"path\": \"" P_MAIN "\", \"property\": \"" IVL "\"}, \"id\": 5}",
    "{\"execute\": \"qom-get\", \"arguments\": {\"path\": \"" P_ANON "\", \"property\": \"type\"}}",
    "{\"execute\": \"qom-set\", \"arguments\": {\"path\": \"" P_MAIN "\", \"property\": \"" IVL "\", \"value\": 5}}",
    "{\"execute\": \"qom-set\", \"arguments\": {\"path\": \"" P_ANON "\", \"property\": \"" IVL "\", \"value\": 4294967295}, \"id\": [1, {\"a\": null}]}",
    "{\"execute\": \"qom-list\", \"arguments\": {\"path\": \"" P_MAIN "\"}}",
    "{\"execute\": \"balloon\", \"arguments\": {\"value\": 134217728}}",
    "{\"execute\": \"balloon\", \"arguments\": {\"value\": 1}, \"id\": -7}",
    "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": [\"oob\"]}}",
    "{'execute': 'qom-get', 'arguments': {'path': '" P_MAIN "', 'property': 'type'}, 'id': 'x\\'y'}",
    "{\"execute\": \"query-balloon\", \"id\": \"\\u00e9\\ud83d\\ude00\\n\"}",
    "{\"execute\": \"query-balloon\", \"id\": [true, false, null, 1.5, -0, 18446744073709551615]}",
    "{\"execute\": \"nope\", \"id\": {\"k\": [[]]}}",
};

/* A byte that JSON and QMP care about, or any byte. */
static int pick_byte(uint64_t *s)
{
    static const char special[] = "{}[]:,\"'\\ \n\t\r@%0123456789-+.eEtrufalsn\x01\x7f\x80\xc3\xff\0";
    if (rnd(s, 2)) return (int)(unsigned char)special[rnd(s, sizeof special)];
    return (int)rnd(s, 256);
}

static void mutate_once(buf *b, uint64_t *s)
{
    size_t at = b->len ? rnd(s, (uint32_t)b->len) : 0, n;
    buf t = {0, 0, 0};
    switch (rnd(s, 7)) {
    case 0: /* flip a bit */
        if (b->len) b->p[at] = (char)(b->p[at] ^ (1 << rnd(s, 8)));
        return;
    case 1: /* replace a byte */
        if (b->len) b->p[at] = (char)pick_byte(s);
        return;
    case 2: /* insert 1-3 bytes */
        buf_put(&t, b->p, at);
        for (n = 1 + rnd(s, 3); n; n--) buf_putc(&t, pick_byte(s));
        buf_put(&t, b->p + at, b->len - at);
        break;
    case 3: /* delete 1-4 bytes */
        n = 1 + rnd(s, 4);
        if (at + n > b->len) n = b->len - at;
        buf_put(&t, b->p, at);
        buf_put(&t, b->p + at + n, b->len - at - n);
        break;
    case 4: /* truncate */
        b->len = at;
        if (b->p) b->p[at] = 0;
        return;
    case 5: { /* duplicate a span */
        size_t from = b->len ? rnd(s, (uint32_t)b->len) : 0, len = 1 + rnd(s, 16);
        if (from + len > b->len) len = b->len - from;
        buf_put(&t, b->p, at);
        buf_put(&t, b->p + from, len);
        buf_put(&t, b->p + at, b->len - at);
        break;
    }
    default: /* swap two bytes */
        if (b->len > 1) {
            size_t o = rnd(s, (uint32_t)b->len);
            char c = b->p[at];
            b->p[at] = b->p[o];
            b->p[o] = c;
        }
        return;
    }
    buf_free(b);
    *b = t;
}

static uint64_t stream_seed(uint64_t seed, unsigned group, unsigned long i)
{
    uint64_t s = seed ^ ((uint64_t)group << 56) ^ (uint64_t)i * UINT64_C(0x2545F4914F6CDD1D);
    splitmix(&s);
    return s;
}

/* --- (c') well-formed commands from a small grammar: valid JSON, random meaning --- */

static const char *pick(uint64_t *s, const char *const *v, size_t n) { return v[rnd(s, (uint32_t)n)]; }
#define PICK(s, v) pick(s, v, sizeof v / sizeof v[0])

static void gen_value(buf *b, uint64_t *s, const char *key, const char *path)
{
    static const char *const values[] = {
        "0", "1", "5", "-1", "4294967295", "4294967296", "9223372036854775807", "-9223372036854775808",
        "18446744073709551615", "268435456", "134217728", "1.5", "\"5\"", "true", "null", "[]", "{}", "[1]",
        "{\"a\": 1}", "\"\"", "\"oob\"", "[\"oob\"]", "\"" IVL "\"", "\"guest-stats\""};
    static const char *const props[] = {"guest-stats", IVL, "type", "stats-polling-interval", "nope", ""};
    static const char *const paths[] = {"/nope", "", "/machine/peripheral/nope"};
    static const char *const enables[] = {"[]", "[\"oob\"]", "\"oob\"", "[1]", "[\"x\"]", "null", "[\"oob\", \"x\"]"};
    unsigned r = rnd(s, 10);
    if (!strcmp(key, "path") && r < 8) buf_printf(b, "\"%s\"", r < 6 ? path : PICK(s, paths));
    else if (!strcmp(key, "property") && r < 8) buf_printf(b, "\"%s\"", PICK(s, props));
    else if (!strcmp(key, "enable") && r < 8) buf_puts(b, PICK(s, enables));
    else buf_puts(b, PICK(s, values));
}

static void gen_command(buf *b, uint64_t *s, const char *path)
{
    static const char *const names[] = {"qmp_capabilities", "qom-get", "qom-set", "qom-list", "query-balloon", "balloon", "nope"};
    static const char *const keys[] = {"path", "property", "value", "enable", "x", "target", "Path"};
    static const char *const ids[] = {"1", "-7", "\"a\"", "[1, \"b\"]", "{\"k\": null}", "18446744073709551615", "\"\\u00e9\""};
    static const char *const extra[] = {"\"x\": 1", "\"control\": {}", "\"exec-oob\": \"query-balloon\"", "\"ID\": 2"};
    const char *member[4];
    buf args = {0, 0, 0}, m[4];
    unsigned n = 0, k, j, used = 0, nargs = rnd(s, 5);
    memset(m, 0, sizeof m);
    for (k = 0; k < nargs; k++) { /* distinct keys: duplicates are a parse error in QEMU */
        unsigned key = rnd(s, sizeof keys / sizeof keys[0]);
        if (used & (1u << key)) continue;
        used |= 1u << key;
        buf_printf(&args, "%s\"%s\": ", args.len ? ", " : "", keys[key]);
        gen_value(&args, s, keys[key], path);
    }
    if (rnd(s, 10)) buf_printf(&m[n++], "\"execute\": \"%s\"", PICK(s, names));
    else buf_printf(&m[n++], "\"execute\": %s", rnd(s, 2) ? "1" : "null");
    if (rnd(s, 8)) buf_printf(&m[n++], "\"arguments\": {%s}", args.p ? args.p : "");
    if (rnd(s, 2)) buf_printf(&m[n++], "\"id\": %s", PICK(s, ids));
    if (!rnd(s, 12)) buf_puts(&m[n++], PICK(s, extra));
    for (k = 0; k < n; k++) member[k] = m[k].p;
    for (k = n; k > 1; k--) { /* any member order */
        const char *t;
        j = rnd(s, k);
        t = member[k - 1];
        member[k - 1] = member[j];
        member[j] = t;
    }
    buf_putc(b, '{');
    for (k = 0; k < n; k++) buf_printf(b, "%s%s", k ? ", " : "", member[k]);
    buf_puts(b, "}\n");
    for (k = 0; k < 4; k++) buf_free(&m[k]);
    buf_free(&args);
}

/* Generated stream i: by i % 8, a mutation (0-3), a grammar command (4, 5) or random bytes. */
static void make_generated(stream *st, uint64_t seed, unsigned long i)
{
    unsigned kind = (unsigned)(i % 8);
    memset(st, 0, sizeof *st);
    st->negotiate = 1;
    if (kind < 4) {
        uint64_t s = stream_seed(seed, 1, i);
        unsigned k, n = 1 + rnd(&s, 2), m = 1 + rnd(&s, 4), anon = rnd(&s, 4) == 0;
        st->group = "mutation";
        for (k = 0; k < n; k++) { /* one QEMU: commands that name the other balloon are left out */
            const char *b;
            do b = bases[rnd(&s, sizeof bases / sizeof bases[0])];
            while (strstr(b, anon ? P_MAIN : P_ANON));
            if (k) buf_puts(&st->bytes, rnd(&s, 2) ? "\n" : " ");
            buf_puts(&st->bytes, b);
        }
        for (k = 0; k < m; k++) mutate_once(&st->bytes, &s);
        buf_puts(&st->bytes, "\n");
        snprintf(st->name, sizeof st->name, "mutation (%u ops)", m);
    } else if (kind < 6) {
        uint64_t s = stream_seed(seed, 3, i);
        unsigned k, n = 1 + rnd(&s, 3);
        const char *path = rnd(&s, 4) ? P_MAIN : P_ANON;
        st->group = "grammar";
        for (k = 0; k < n; k++) gen_command(&st->bytes, &s, path);
        snprintf(st->name, sizeof st->name, "grammar (%u commands)", n);
    } else {
        uint64_t s = stream_seed(seed, 2, i);
        unsigned k, n = 1 + rnd(&s, 300), any = rnd(&s, 3) == 0;
        st->group = "random";
        st->negotiate = rnd(&s, 8) != 0;
        for (k = 0; k < n; k++) buf_putc(&st->bytes, any ? (int)rnd(&s, 256) : pick_byte(&s));
        snprintf(st->name, sizeof st->name, "random (%u bytes%s)", n, any ? ", any" : "");
    }
}

/* ============================================================================================
   Reading replies: a tiny JSON reader for what QEMU's and our writers print
   ============================================================================================ */

typedef struct span {
    const char *p;
    size_t n;
} span;

static const char *jr_ws(const char *p, const char *e)
{
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) p++;
    return p;
}

/* The end of the value at p (after whitespace), or NULL. QEMU prints non-finite doubles as
   inf, -inf, nan: taken as numbers. */
static const char *jr_value(const char *p, const char *e, int depth)
{
    p = jr_ws(p, e);
    if (p >= e || depth > 4000) return NULL;
    if (*p == '"') {
        for (p++; p < e && *p != '"'; p++)
            if (*p == '\\') p++;
        return p < e ? p + 1 : NULL;
    }
    if (*p == '{' || *p == '[') {
        char close = *p == '{' ? '}' : ']';
        int obj = *p == '{';
        p = jr_ws(p + 1, e);
        if (p < e && *p == close) return p + 1;
        for (;;) {
            if (obj) {
                p = jr_value(p, e, depth + 1);
                if (!p) return NULL;
                p = jr_ws(p, e);
                if (p >= e || *p != ':') return NULL;
                p++;
            }
            p = jr_value(p, e, depth + 1);
            if (!p) return NULL;
            p = jr_ws(p, e);
            if (p < e && *p == ',') {
                p++;
                continue;
            }
            return p < e && *p == close ? p + 1 : NULL;
        }
    }
    {
        const char *q = p;
        while (q < e && *q && (strchr("+-.0123456789eE", *q) || (*q >= 'a' && *q <= 'z'))) q++;
        return q > p ? q : NULL;
    }
}

/* The value of member `key` of the top-level object in `s`; n 0 if absent. */
static span jr_member(span s, const char *key)
{
    const char *p = jr_ws(s.p, s.p + s.n), *e = s.p + s.n;
    span r = {NULL, 0};
    size_t kl = strlen(key);
    if (p >= e || *p != '{') return r;
    p++;
    for (;;) {
        const char *k = jr_ws(p, e), *ke = jr_value(k, e, 0), *v, *ve;
        if (!ke) return r;
        p = jr_ws(ke, e);
        if (p >= e || *p != ':') return r;
        v = jr_ws(p + 1, e);
        ve = jr_value(v, e, 0);
        if (!ve) return r;
        if ((size_t)(ke - k) == kl + 2 && *k == '"' && !memcmp(k + 1, key, kl)) {
            r.p = v;
            r.n = (size_t)(ve - v);
            return r;
        }
        p = jr_ws(ve, e);
        if (p >= e || *p != ',') return r;
        p++;
    }
}

static int span_is(span s, const char *lit) { return s.n == strlen(lit) && !memcmp(s.p, lit, s.n); }

static int span_eq(span a, span b) { return a.n == b.n && (!a.n || !memcmp(a.p, b.p, a.n)); }

/* Decode a JSON string literal (as the writers print it) into UTF-8 bytes in `out`. */
static int jr_string(span s, buf *out)
{
    size_t i;
    out->len = 0;
    if (s.n < 2 || s.p[0] != '"' || s.p[s.n - 1] != '"') return 0;
    for (i = 1; i + 1 < s.n; i++) {
        char c = s.p[i];
        unsigned long u;
        if (c != '\\') {
            buf_putc(out, c);
            continue;
        }
        c = s.p[++i];
        if (c == 'u' && i + 4 < s.n) {
            char hex[5];
            memcpy(hex, s.p + i + 1, 4);
            hex[4] = 0;
            u = strtoul(hex, NULL, 16);
            i += 4;
            if (u >= 0xD800 && u < 0xDC00 && i + 6 < s.n && s.p[i + 1] == '\\' && s.p[i + 2] == 'u') {
                memcpy(hex, s.p + i + 3, 4);
                u = 0x10000 + ((u - 0xD800) << 10) + (strtoul(hex, NULL, 16) - 0xDC00);
                i += 6;
            }
            if (u < 0x80) buf_putc(out, (int)u);
            else if (u < 0x800) {
                buf_putc(out, (int)(0xC0 | (u >> 6)));
                buf_putc(out, (int)(0x80 | (u & 0x3F)));
            } else if (u < 0x10000) {
                buf_putc(out, (int)(0xE0 | (u >> 12)));
                buf_putc(out, (int)(0x80 | ((u >> 6) & 0x3F)));
                buf_putc(out, (int)(0x80 | (u & 0x3F)));
            } else {
                buf_putc(out, (int)(0xF0 | (u >> 18)));
                buf_putc(out, (int)(0x80 | ((u >> 12) & 0x3F)));
                buf_putc(out, (int)(0x80 | ((u >> 6) & 0x3F)));
                buf_putc(out, (int)(0x80 | (u & 0x3F)));
            }
        } else {
            const char *m = strchr("b\bf\fn\nr\rt\t\"\"\\\\//", c);
            buf_putc(out, m && c ? m[1] : c);
        }
    }
    return 1;
}

/* A reply line split up: {"return": R[, "id": I]} or {"error": {"class": C, "desc": D}[, "id": I]}. */
typedef struct reply {
    span ret, error, cls, desc, id;
} reply;

static reply parse_reply(span line)
{
    reply r;
    r.ret = jr_member(line, "return");
    r.error = jr_member(line, "error");
    r.cls = jr_member(r.error, "class");
    r.desc = jr_member(r.error, "desc");
    r.id = jr_member(line, "id");
    return r;
}

/* ============================================================================================
   The mask table: the deliberate differences. Each rule gets QEMU's line and ours (without
   their CR LF, which must be equal) and says whether the pair is such a difference.
   docs/qmp-diff.md has the same table for readers.
   ============================================================================================ */

typedef struct pair {
    span q, s;     /* QEMU's line, ours */
    reply rq, rs;
    int first;     /* the greeting */
    int route;     /* which QEMU: 0 balloon0, 1 device[1] */
} pair;

static int in_list(span name, const char *const *list, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (span_is(name, list[i])) return 1;
    return 0;
}

/* `desc` (a JSON string literal) is exactly `pre` NAME `post` with NAME in the list. */
static int desc_names(span desc, const char *pre, const char *post, const char *const *list, size_t n)
{
    size_t a = strlen(pre), b = strlen(post);
    span name;
    if (desc.n < a + b + 2 || memcmp(desc.p + 1, pre, a) || memcmp(desc.p + desc.n - 1 - b, post, b)) return 0;
    name.p = desc.p + 1 + a;
    name.n = desc.n - 2 - a - b;
    return in_list(name, list, n);
}

/* 1. The greeting names QEMU's own build: its "package" string and "micro" version. */
static int rule_greeting(const pair *x)
{
    static const char *const keys[] = {"\"micro\": ", "\"package\": "};
    const char *pq = x->q.p, *ps = x->s.p, *eq = x->q.p + x->q.n, *es = x->s.p + x->s.n;
    unsigned k;
    if (!x->first) return 0;
    for (k = 0; k < 2; k++) {
        const char *a = memmem(pq, (size_t)(eq - pq), keys[k], strlen(keys[k]));
        const char *b = memmem(ps, (size_t)(es - ps), keys[k], strlen(keys[k]));
        size_t l = strlen(keys[k]);
        if (!a || !b || a - pq != b - ps || memcmp(pq, ps, (size_t)(a - pq) + l)) return 0;
        pq = jr_value(a + l, eq, 0);
        ps = jr_value(b + l, es, 0);
        if (!pq || !ps) return 0;
    }
    return eq - pq == es - ps && !memcmp(pq, ps, (size_t)(eq - pq));
}

/* 2. Commands QEMU has and the sim does not: ours is CommandNotFound for exactly that name. */
static int rule_qemu_only_command(const pair *x)
{
    return span_is(x->rs.cls, "\"CommandNotFound\"") && span_eq(x->rq.id, x->rs.id) &&
           desc_names(x->rs.desc, "The command ", " has not been found", qemu_only_commands,
                      sizeof qemu_only_commands / sizeof qemu_only_commands[0]);
}

/* 3. Properties of QEMU's balloon the sim does not have: ours "Property 'T.NAME' not found". */
static int rule_qemu_only_property(const pair *x)
{
    if (!span_is(x->rs.cls, "\"GenericError\"") || !span_eq(x->rq.id, x->rs.id)) return 0;
    return desc_names(x->rs.desc, "Property 'virtio-balloon-pci.", "' not found", qemu_only_props,
                      sizeof qemu_only_props / sizeof qemu_only_props[0]) ||
           desc_names(x->rs.desc, "Property 'virtio-balloon-device.", "' not found", qemu_only_props,
                      sizeof qemu_only_props / sizeof qemu_only_props[0]);
}

/* 3b. Our experimental property, which QEMU does not have: QEMU's "Property 'T.NAME' not found"
   against our value (qom-get) or "... is not writable" (qom-set). */
static const char *const sim_only_props[] = {"x-guest-stats-telemetry"};

static int property_error(span desc, const char *post)
{
    return desc_names(desc, "Property 'virtio-balloon-pci.", post, sim_only_props, 1) ||
           desc_names(desc, "Property 'virtio-balloon-device.", post, sim_only_props, 1);
}

static int rule_sim_only_property(const pair *x)
{
    if (!span_is(x->rq.cls, "\"GenericError\"") || !span_eq(x->rq.id, x->rs.id) ||
        !property_error(x->rq.desc, "' not found"))
        return 0;
    return x->rs.ret.n || (span_is(x->rs.cls, "\"GenericError\"") && property_error(x->rs.desc, "' is not writable"));
}

/* 4. qom-list of the balloon: QEMU lists every property of a virtio-balloon-pci (about 60,
   in its hash table's order); ours lists the balloon's own, each as QEMU lists it. */
/* The device's experimental commands (query-commands) and property (qom-list), which QEMU does
   not have. */
static const char *const sim_only_entries[] = {
    "{\"name\": \"x-balloon-free-page-hint\"}", "{\"name\": \"x-query-balloon-free-page-hint\"}",
    "{\"name\": \"x-guest-stats-telemetry\", \"type\": \"guest statistics telemetry\"}",
    "{\"name\": \"x-guest-stats-silence\"}"};

static int rule_qom_list_subset(const pair *x)
{
    const char *p, *e;
    int n = 0;
    size_t i;
    if (!x->rq.ret.n || !x->rs.ret.n || x->rs.ret.p[0] != '[' || x->rq.ret.p[0] != '[' ||
        !span_eq(x->rq.id, x->rs.id))
        return 0;
    p = x->rs.ret.p + 1;
    e = x->rs.ret.p + x->rs.ret.n - 1;
    for (;;) {
        const char *v = jr_ws(p, e), *ve = jr_value(v, e, 0), *hit, *qe = x->rq.ret.p + x->rq.ret.n;
        size_t len;
        int found = 0;
        if (!ve || *v != '{') return 0;
        len = (size_t)(ve - v) - 1; /* without its closing brace */
        for (hit = x->rq.ret.p; (hit = memmem(hit, (size_t)(qe - hit), v, len)) != NULL; hit++)
            if (hit[len] == '}' || (hit[len] == ',' && hit[len + 1] == ' ')) found = 1;
        for (i = 0; i < sizeof sim_only_entries / sizeof sim_only_entries[0]; i++)
            if ((size_t)(ve - v) == strlen(sim_only_entries[i]) && !memcmp(v, sim_only_entries[i], len)) found = 1;
        if (!found || !memmem(v, len, "\"name\": ", 8)) return 0;
        n++;
        p = jr_ws(ve, e);
        if (p >= e) return n > 0;
        if (*p != ',') return 0;
        p++;
    }
}

/* Does a QOM path name the balloon of QEMU `route` or its backend? QEMU skips empty
   components; a relative path is any suffix of a full one. */
static int names_balloon(const buf *path, int route)
{
    static const char *const full[][4] = {{"machine", "peripheral", "balloon0", "virtio-backend"},
                                          {"machine", "peripheral-anon", "device[1]", "virtio-backend"}};
    const char *comp[64];
    size_t len[64], n = 0, i, k, f;
    const char *p = path->p, *e = path->p + path->len;
    int absolute = path->len && path->p[0] == '/';
    while (p < e) {
        const char *q = memchr(p, '/', (size_t)(e - p));
        if (!q) q = e;
        if (q > p) {
            if (n == 64) return 0;
            comp[n] = p;
            len[n++] = (size_t)(q - p);
        }
        p = q + 1;
    }
    if (!n) return 0;
    for (f = (size_t)route; f == (size_t)route; f++)
        for (k = 3; k <= 4; k++) { /* the device, or its backend */
            size_t start;
            if (n > k || (absolute && n != k)) continue;
            start = k - n;
            for (i = 0; i < n; i++)
                if (len[i] != strlen(full[f][start + i]) || memcmp(comp[i], full[f][start + i], len[i])) break;
            if (i == n) return 1;
        }
    return 0;
}

/* 5. Paths to other objects of QEMU's QOM tree (containers, other devices): the sim has the
   balloon only. Ours is "Device 'X' not found", QEMU found X, and X is not the balloon. */
static int rule_other_qom_object(const pair *x)
{
    /* a partial path QEMU resolves elsewhere in its tree ("device[1]" alone: kvmvapic) */
    if (memmem(x->q.p, x->q.n, "kvmvapic", 8) && !memmem(x->s.p, x->s.n, "kvmvapic", 8)) return 1;
    static const char pre[] = "Device '", post[] = "' not found";
    buf path = {0, 0, 0};
    int yes;
    if (!span_is(x->rs.cls, "\"DeviceNotFound\"") || span_is(x->rq.cls, "\"DeviceNotFound\"") ||
        !span_eq(x->rq.id, x->rs.id) || !jr_string(x->rs.desc, &path))
        return 0;
    yes = path.len >= sizeof pre + sizeof post - 2 && !memcmp(path.p, pre, sizeof pre - 1) &&
          !memcmp(path.p + path.len - (sizeof post - 1), post, sizeof post - 1);
    if (yes) {
        buf inner = {0, 0, 0};
        buf_put(&inner, path.p + sizeof pre - 1, path.len - (sizeof pre - 1) - (sizeof post - 1));
        yes = !names_balloon(&inner, x->route);
        buf_free(&inner);
    }
    buf_free(&path);
    return yes;
}

/* 6. Two unexpected arguments: QEMU names the first in its GLib hash table's slot order (the
   visitor's table of unvisited keys), the library the first in QDict order. Only the name may
   differ. */
static int rule_unexpected_arg_order(const pair *x)
{
    static const char pre[] = "\"Parameter '", post[] = "' is unexpected\"";
    const size_t lp = sizeof pre - 1, ls = sizeof post - 1;
    const span a = x->rq.desc, b = x->rs.desc;
    return span_is(x->rq.cls, "\"GenericError\"") && span_is(x->rs.cls, "\"GenericError\"") &&
           span_eq(x->rq.id, x->rs.id) && a.n > lp + ls && b.n > lp + ls && !memcmp(a.p, pre, lp) &&
           !memcmp(b.p, pre, lp) && !memcmp(a.p + a.n - ls, post, ls) && !memcmp(b.p + b.n - ls, post, ls);
}

/* 7. Out-of-band execution: the library accepts the "oob" capability (QEMU's greeting offers
   it) but runs no command out of band; "exec-oob" is an unexpected member for it. */
static int rule_exec_oob(const pair *x)
{
    return span_is(x->rs.desc, "\"QMP input member 'exec-oob' is unexpected\"") && span_eq(x->rq.id, x->rs.id);
}

/* 8. query-version: the package and micro version name QEMU's own build, as in the greeting. */
static int rule_version_build(const pair *x)
{
    pair g = *x;
    g.first = 1;
    return !x->first && x->rq.ret.n && x->rs.ret.n && rule_greeting(&g);
}

typedef struct rule {
    const char *name, *reason;
    int (*match)(const pair *x);
} rule;

static const rule rules[] = {
    {"greeting-build", "the greeting's package string and micro version name QEMU's own build", rule_greeting},
    {"qemu-only-command", "commands QEMU has and the sim does not (the explicit list)", rule_qemu_only_command},
    {"qemu-only-property", "properties of QEMU's balloon the sim does not have (the explicit list)", rule_qemu_only_property},
    {"sim-only-property", "our experimental property (the explicit list): QEMU has no such property", rule_sim_only_property},
    {"qom-list-subset", "qom-list, query-commands: QEMU lists all its own, the sim its own (and its x- names)", rule_qom_list_subset},
    {"other-qom-object", "paths to other QOM objects: the sim's tree holds only the balloon", rule_other_qom_object},
    {"unexpected-arg-order", "two unexpected arguments: QEMU names the first in GLib hash-table order", rule_unexpected_arg_order},
    {"exec-oob", "out-of-band execution is not offered: exec-oob is an unexpected member", rule_exec_oob},
    {"version-build", "query-version: the package and micro version of QEMU's own build", rule_version_build},
    /* a rule for whole streams (compare() applies it): the sim holds a message of up to 65 MiB
       (INPUT_LIMIT in examples/sim.c) and then drops the client; QEMU keeps no whitespace */
    {"sim-input-limit", "a stream over the sim's input limit: it drops the client, QEMU goes on", NULL},
};
#define NRULES (sizeof rules / sizeof rules[0])

static int broken_rule = -1; /* --break-mask: this rule masks everything (to see it caught) */
static unsigned long masked_by[NRULES];

/* The rule that masks the pair, or -1. */
static int mask_pair(pair *x)
{
    unsigned i;
    x->rq = parse_reply(x->q);
    x->rs = parse_reply(x->s);
    for (i = 0; i < NRULES; i++)
        if ((int)i == broken_rule || (rules[i].match && rules[i].match(x))) return (int)i;
    return -1;
}

/* ============================================================================================
   Talking to the servers
   ============================================================================================ */

typedef struct peer {
    const char *who;
    int fd;
    buf in;               /* every byte received */
    const char *out;      /* bytes to send */
    size_t out_len, out_off;
    unsigned chunk;       /* send at most this many bytes per write (0: all) */
    uint64_t next_write;  /* with chunk: not before this time */
    int eof;
} peer;

/* How long a silence ends a wait: quiet_ms when our side is the one that has not answered (the
   sim answers in microseconds) or when neither has, before the second marker; QEMU_LAG_MS when
   QEMU has not (a loaded machine can hold it back), and for a second marker neither answered. */
static unsigned quiet_ms = 250;
static const uint64_t QEMU_LAG_MS = 3000, CONNECT_MS = 60000;

static int connect_unix(const char *path)
{
    struct sockaddr_un a;
    uint64_t t0 = now_ms();
    for (;;) {
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (fd < 0) die("socket");
        memset(&a, 0, sizeof a);
        a.sun_family = AF_UNIX;
        snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
        if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0) {
            fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
            return fd;
        }
        close(fd);
        if (now_ms() - t0 > CONNECT_MS) return -1;
        usleep(20000);
    }
}

static size_t count_lines(const buf *b)
{
    size_t n = 0, i;
    for (i = 0; i < b->len; i++) n += b->p[i] == '\n';
    return n;
}

/* Has the peer answered the marker with this id? The id comes last in a reply, but first in
   QEMU's error before the negotiation. */
static int answered(const peer *p, const char *id)
{
    char tag[64];
    const char *hit;
    size_t tl = (size_t)snprintf(tag, sizeof tag, "\"id\": \"%s\"", id);
    for (hit = p->in.p; hit && (hit = memmem(hit, p->in.len - (size_t)(hit - p->in.p), tag, tl)) != NULL; hit++) {
        const char *nl = memchr(hit, '\n', p->in.len - (size_t)(hit - p->in.p));
        if (nl && (hit[tl] == '}' || hit[tl] == ',')) return 1;
    }
    return 0;
}

typedef int (*done_fn)(const peer *p, const void *arg);

static int done_lines(const peer *p, const void *arg) { return p->eof || count_lines(&p->in) >= *(const size_t *)arg; }

static int done_marker(const peer *p, const void *arg) { return p->eof || answered(p, (const char *)arg); }

/* Send what is queued and read, until `done` holds for both peers, or once everything is sent,
   until a silence: `quiet` ms while neither is done; with `adaptive`, when one is done, quiet_ms
   if ours is the other, QEMU_LAG_MS if QEMU is. 1 if both are done. */
static int pump(peer *pr, done_fn done, const void *arg, uint64_t quiet0, int adaptive)
{
    uint64_t last = now_ms();
    for (;;) {
        struct pollfd pf[2];
        int k, sent = 1, timeout, dq = done(&pr[0], arg), ds = done(&pr[1], arg);
        uint64_t t = now_ms(), quiet = quiet0;
        if (dq && ds) return 1;
        if (adaptive && dq) quiet = quiet_ms;
        else if (adaptive && ds) quiet = QEMU_LAG_MS;
        for (k = 0; k < 2; k++) {
            peer *p = &pr[k];
            pf[k].fd = p->eof ? -1 : p->fd; /* poll() skips a negative fd */
            pf[k].events = POLLIN;
            pf[k].revents = 0;
            if (p->out_off < p->out_len && !p->eof) {
                sent = 0;
                if (t >= p->next_write) pf[k].events |= POLLOUT;
            }
        }
        if (sent && t - last >= quiet) return 0;
        timeout = sent ? (int)(quiet - (t - last)) : 5;
        if (poll(pf, 2, timeout) < 0 && errno != EINTR) die("poll");
        for (k = 0; k < 2; k++) {
            peer *p = &pr[k];
            if (pf[k].revents & (POLLIN | POLLHUP | POLLERR)) {
                char tmp[65536];
                ssize_t n = read(p->fd, tmp, sizeof tmp);
                if (n > 0) {
                    buf_put(&p->in, tmp, (size_t)n);
                    last = now_ms();
                } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                    p->eof = 1;
                    pf[k].revents = 0;
                }
            }
            if (pf[k].revents & POLLOUT) {
                size_t want = p->out_len - p->out_off;
                ssize_t n;
                if (p->chunk && want > p->chunk) want = p->chunk;
                n = write(p->fd, p->out + p->out_off, want);
                if (n > 0) {
                    p->out_off += (size_t)n;
                    if (p->chunk) p->next_write = now_ms() + 2;
                } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
                    p->eof = 1;
                }
            }
        }
    }
}

static void queue(peer *pr, const char *s, size_t n, unsigned chunk)
{
    int k;
    for (k = 0; k < 2; k++) {
        pr[k].out = s;
        pr[k].out_len = n;
        pr[k].out_off = 0;
        pr[k].chunk = chunk;
        pr[k].next_write = 0;
    }
}

typedef struct result {
    buf q, s;      /* everything each side sent, greeting first */
    buf sent;      /* every byte we sent after the negotiation */
    int reset;     /* the second marker was needed */
    int q_eof, s_eof; /* QEMU, ours closed the connection */
    int setup_failed;
    char why[128];
} result;

static const char *sock_qemu[2], *sock_sim;
static int unreachable; /* a server could not be reached: the run stops */

static void run_stream(const stream *st, result *res)
{
    static const char *const paths[2] = {P_MAIN, P_ANON};
    peer pr[2];
    buf tail = {0, 0, 0};
    size_t two = 2, one = 1;
    int route = route_of(st), k;
    memset(pr, 0, sizeof pr);
    memset(res, 0, sizeof *res);
    pr[0].who = "QEMU";
    pr[1].who = "ours";
    pr[0].fd = connect_unix(sock_qemu[route]);
    pr[1].fd = connect_unix(sock_sim);
    if (pr[0].fd < 0 || pr[1].fd < 0) {
        snprintf(res->why, sizeof res->why, "cannot connect to %s", pr[0].fd < 0 ? sock_qemu[route] : sock_sim);
        res->setup_failed = 1;
        unreachable = 1;
        goto out;
    }
    if (!pump(pr, done_lines, &one, CONNECT_MS, 0) || pr[0].eof || pr[1].eof) {
        snprintf(res->why, sizeof res->why, "no greeting from %s", count_lines(&pr[0].in) ? "ours" : "QEMU");
        res->setup_failed = 1;
        goto out;
    }
    if (st->negotiate) {
        queue(pr, NEG, strlen(NEG), 0);
        if (!pump(pr, done_lines, &two, CONNECT_MS, 0) || pr[0].eof || pr[1].eof) {
            snprintf(res->why, sizeof res->why, "no answer to qmp_capabilities");
            res->setup_failed = 1;
            goto out;
        }
    }
    buf_put(&res->sent, st->bytes.p, st->bytes.len);
    buf_printf(&res->sent, "\n{\"execute\":\"qom-set\",\"arguments\":{\"path\":\"%s\",\"property\":\"" IVL
                           "\",\"value\":0},\"id\":\"" END_ID "\"}\n", paths[route]);
    queue(pr, res->sent.p, res->sent.len, st->chunk);
    if (!pump(pr, done_marker, END_ID, quiet_ms, 1)) {
        size_t from = res->sent.len;
        res->reset = 1;
        buf_printf(&tail, "@\n{\"execute\":\"qom-set\",\"arguments\":{\"path\":\"%s\",\"property\":\"" IVL
                          "\",\"value\":0},\"id\":\"" END2_ID "\"}\n", paths[route]);
        buf_put(&res->sent, tail.p, tail.len);
        queue(pr, res->sent.p + from, tail.len, 0);
        pump(pr, done_marker, END2_ID, QEMU_LAG_MS, 1);
    }
out:
    for (k = 0; k < 2; k++) {
        if (pr[k].fd >= 0) close(pr[k].fd);
    }
    res->q = pr[0].in;
    res->s = pr[1].in;
    res->q_eof = pr[0].eof;
    res->s_eof = pr[1].eof;
    buf_free(&tail);
}

/* ============================================================================================
   Comparing, reporting
   ============================================================================================ */

typedef struct line {
    span text;   /* without the line end */
    span end;    /* "\r\n", "\n", or empty for a last line without one */
} line;

static size_t split_lines(const buf *b, line **out)
{
    size_t n = 0, cap = 0, at = 0;
    line *v = NULL;
    while (at < b->len) {
        const char *nl = memchr(b->p + at, '\n', b->len - at);
        size_t stop = nl ? (size_t)(nl - b->p) : b->len, tend = stop;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            v = realloc(v, cap * sizeof *v);
            if (!v) die("out of memory");
        }
        if (nl && tend > at && b->p[tend - 1] == '\r') tend--;
        v[n].text.p = b->p + at;
        v[n].text.n = tend - at;
        v[n].end.p = b->p + tend;
        v[n].end.n = (nl ? stop + 1 : stop) - tend;
        n++;
        at = nl ? stop + 1 : b->len;
    }
    *out = v;
    return n;
}

typedef struct stats {
    unsigned long compared, agreed, differing, setup_failures, resets, masked_lines;
    unsigned show;
    int long_report;
} stats;

/* Signatures of differing streams, for the summary. */
typedef struct sig {
    char key[300];
    unsigned long count;
    char example[128];
} sig;
static sig *sigs;
static size_t nsigs;

static void desc_shape(span line_text, char *out, size_t cap)
{
    reply r = parse_reply(line_text);
    size_t o = 0, i;
    int quote = 0;
    span d = r.desc;
    if (!line_text.n) {
        snprintf(out, cap, "(no line)");
        return;
    }
    if (!r.error.n) {
        snprintf(out, cap, "%s", r.ret.n ? "return" : "other");
        return;
    }
    o = (size_t)snprintf(out, cap, "%.*s: ", (int)(r.cls.n > 2 ? r.cls.n - 2 : 0), r.cls.p + 1);
    for (i = 1; i + 1 < d.n && o + 4 < cap; i++) {
        char c = d.p[i];
        if (c == '\'') {
            quote = !quote;
            out[o++] = '\'';
            if (quote) {
                memcpy(out + o, "...", 3);
                o += 3;
            }
            continue;
        }
        if (!quote) out[o++] = c;
    }
    out[o < cap ? o : cap - 1] = 0;
}

static void note_sig(const char *key, const char *example)
{
    size_t i;
    for (i = 0; i < nsigs; i++)
        if (!strcmp(sigs[i].key, key)) {
            sigs[i].count++;
            return;
        }
    sigs = realloc(sigs, (nsigs + 1) * sizeof *sigs);
    if (!sigs) die("out of memory");
    snprintf(sigs[nsigs].key, sizeof sigs[nsigs].key, "%s", key);
    snprintf(sigs[nsigs].example, sizeof sigs[nsigs].example, "%s", example);
    sigs[nsigs].count = 1;
    nsigs++;
}

static int sabotage; /* self-test: change one byte of our marker reply before comparing */

/* Compare one stream's replies; 1 if they agree. Prints the difference. */
static int compare(const stream *st, unsigned long index, result *res, stats *S)
{
    line *lq, *ls;
    size_t nq, ns, i, n;
    int ok = 1, first_bad = -1;
    char mark[4096];
    if (sabotage && res->s.len > 12) res->s.p[res->s.len - 12] ^= 0x20;
    nq = split_lines(&res->q, &lq);
    ns = split_lines(&res->s, &ls);
    n = nq > ns ? nq : ns;
    if (n > sizeof mark) n = sizeof mark;
    for (i = 0; i < n; i++) {
        mark[i] = '=';
        if (i < nq && i < ns && span_eq(lq[i].text, ls[i].text) && span_eq(lq[i].end, ls[i].end)) continue;
        if (i < nq && i < ns && span_eq(lq[i].end, ls[i].end)) {
            pair x;
            int r;
            memset(&x, 0, sizeof x);
            x.q = lq[i].text;
            x.s = ls[i].text;
            x.first = i == 0;
            x.route = route_of(st);
            r = mask_pair(&x);
            if (r >= 0) {
                masked_by[r]++;
                S->masked_lines++;
                mark[i] = 'm';
                continue;
            }
        }
        mark[i] = '!';
        if (first_bad < 0) first_bad = (int)i;
        ok = 0;
    }
    if (res->setup_failed) ok = 0;
    if (!ok && !res->setup_failed && res->s_eof && !res->q_eof && res->sent.len > 65536 &&
        first_bad >= 0 && (size_t)first_bad >= ns) { /* everything ours said agreed */
        unsigned r = NRULES - 1;
        masked_by[r]++;
        ok = 1;
    }
    if (!ok) {
        char kq[120], ks[120], key[300], ex[128];
        span none = {"", 0};
        if (res->setup_failed) {
            snprintf(key, sizeof key, "setup: %s", res->why);
        } else {
            desc_shape(first_bad >= 0 && (size_t)first_bad < nq ? lq[first_bad].text : none, kq, sizeof kq);
            desc_shape(first_bad >= 0 && (size_t)first_bad < ns ? ls[first_bad].text : none, ks, sizeof ks);
            snprintf(key, sizeof key, "QEMU %s | ours %s%s", kq, ks, nq != ns ? " (line counts differ)" : "");
        }
        snprintf(ex, sizeof ex, "#%lu %s", index, st->name);
        note_sig(key, ex);
        if (S->differing < S->show) {
            printf("DIFF stream #%lu [%s] %s%s\n  sent: ", index, st->group, st->name,
                   st->negotiate ? "" : " (not negotiated)");
            put_escaped(stdout, res->sent.p, res->sent.len, 1500);
            if (res->setup_failed) printf("\n  setup failed: %s", res->why);
            printf("\n");
            for (i = 0; i < n; i++) {
                if (i < nq) {
                    printf("  %c qemu: ", mark[i]);
                    put_escaped(stdout, lq[i].text.p, lq[i].text.n + lq[i].end.n, 600);
                    printf("\n");
                }
                if (i < ns && mark[i] != '=') {
                    printf("  %c ours: ", mark[i]);
                    put_escaped(stdout, ls[i].text.p, ls[i].text.n + ls[i].end.n, 600);
                    printf("\n");
                }
            }
        }
        S->differing++;
    } else {
        S->agreed++;
    }
    S->compared++;
    S->resets += (unsigned long)res->reset;
    free(lq);
    free(ls);
    return ok;
}

/* ============================================================================================
   The self-test: the mask table against pairs it must mask and pairs it must not
   ============================================================================================ */

#define OKQ "{\"return\": {}, \"id\": \"" END_ID "\"}"
static const struct {
    const char *q, *s;
    int first;
    const char *rule; /* the rule that must mask it, or NULL: must not be masked */
    int route;
} mask_cases[] = {
    {"{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, \"major\": 7}, \"package\": \"Debian 1:7.2+dfsg-7+deb12u18+b3\"}, \"capabilities\": [\"oob\"]}}",
     "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}, \"package\": \"vballoon.h 0.2.0\"}, \"capabilities\": [\"oob\"]}}",
     1, "greeting-build", 0},
    {"{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, \"major\": 7}, \"package\": \"x\"}, \"capabilities\": [\"oob\"]}}",
     "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, \"major\": 8}, \"package\": \"x\"}, \"capabilities\": [\"oob\"]}}",
     1, NULL, 0},
    {"{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, \"major\": 7}, \"package\": \"x\"}, \"capabilities\": [\"oob\"]}}",
     "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, \"major\": 7}, \"package\": \"y\"}, \"capabilities\": []}}",
     1, NULL, 0},
    {"{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, \"major\": 7}, \"package\": \"x\"}, \"capabilities\": [\"oob\"]}}",
     "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}, \"package\": \"y\"}, \"capabilities\": [\"oob\"]}}",
     0, NULL, 0}, /* not the greeting line */
    {"{\"return\": {\"qemu\": {\"micro\": 22, \"minor\": 2, \"major\": 7}, \"package\": \"Debian\"}, \"id\": 1}",
     "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The command query-version has not been found\"}, \"id\": 1}",
     0, "qemu-only-command", 0},
    {"{\"return\": {\"actual\": 268435456}}",
     "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The command query-balloon has not been found\"}}", 0, NULL, 0},
    {"{\"return\": {}, \"id\": 1}",
     "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The command query-version has not been found\"}, \"id\": 2}", 0, NULL, 0},
    {"{\"return\": {}}",
     "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The command query-versio has not been found\"}}", 0, NULL, 0},
    {"{\"return\": true}",
     "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Property 'virtio-balloon-pci.realized' not found\"}}", 0, "qemu-only-property", 0},
    {"{\"return\": 42}",
     "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Property 'virtio-balloon-pci.guest-stats' not found\"}}", 0, NULL, 0},
    {"{\"return\": 42}",
     "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Property 'virtio-balloon-pci.realizedx' not found\"}}", 0, NULL, 0},
    {"{\"error\": {\"class\": \"GenericError\", \"desc\": \"Property 'virtio-balloon-pci.x-guest-stats-telemetry' not found\"}}",
     "{\"return\": {\"stale\": false}}", 0, "sim-only-property", 0},
    {"{\"error\": {\"class\": \"GenericError\", \"desc\": \"Property 'virtio-balloon-device.x-guest-stats-telemetry' not found\"}, \"id\": 1}",
     "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Property 'virtio-balloon-device.x-guest-stats-telemetry' is not writable\"}, \"id\": 1}",
     0, "sim-only-property", 0},
    {"{\"error\": {\"class\": \"GenericError\", \"desc\": \"Property 'virtio-balloon-pci.x-guest-stats-telemetry' not found\"}}",
     "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Property 'virtio-balloon-pci.x-guest-stats-telemetry' not found\"}, \"id\": 1}", 0, NULL, 0},
    {"{\"error\": {\"class\": \"GenericError\", \"desc\": \"Property 'virtio-balloon-pci.guest-stats' not found\"}}",
     "{\"return\": {\"stale\": false}}", 0, NULL, 0},
    {"{\"return\": 0}",
     "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Property 'virtio-balloon-pci.x-guest-stats-telemetry' is not writable\"}}", 0, NULL, 0},
    {"{\"return\": [{\"name\": \"type\", \"type\": \"string\"}, {\"name\": \"x\", \"type\": \"bool\"}, {\"name\": \"guest-stats-polling-interval\", \"type\": \"int\"}, {\"name\": \"guest-stats\", \"type\": \"guest statistics\"}], \"id\": 7}",
     "{\"return\": [{\"name\": \"type\", \"type\": \"string\"}, {\"name\": \"guest-stats\", \"type\": \"guest statistics\"}, {\"name\": \"guest-stats-polling-interval\", \"type\": \"int\"}], \"id\": 7}",
     0, "qom-list-subset", 0},
    {"{\"return\": [{\"name\": \"type\", \"type\": \"string\"}, {\"name\": \"guest-stats-polling-interval\", \"type\": \"int\"}], \"id\": 7}",
     "{\"return\": [{\"name\": \"type\", \"type\": \"string\"}, {\"name\": \"guest-stats\", \"type\": \"guest statistics\"}], \"id\": 7}",
     0, NULL, 0},
    {"{\"return\": [{\"name\": \"type\", \"type\": \"string\"}, {\"name\": \"guest-stats\", \"type\": \"int\"}]}",
     "{\"return\": [{\"name\": \"type\", \"type\": \"string\"}, {\"name\": \"guest-stats\", \"type\": \"guest statistics\"}]}",
     0, NULL, 0},
    {"{\"return\": [{\"name\": \"type\", \"type\": \"string\"}]}", "{\"return\": []}", 0, NULL, 0},
    {"{\"return\": [{\"name\": \"type\", \"type\": \"string\"}], \"id\": 1}",
     "{\"return\": [{\"name\": \"type\", \"type\": \"string\"}], \"id\": 2}", 0, NULL, 0},
    {"{\"error\": {\"class\": \"GenericError\", \"desc\": \"Property 'container.guest-stats' not found\"}}",
     "{\"error\": {\"class\": \"DeviceNotFound\", \"desc\": \"Device '/machine/peripheral' not found\"}}", 0, "other-qom-object", 0},
    {"{\"return\": \"pvpanic\"}",
     "{\"error\": {\"class\": \"DeviceNotFound\", \"desc\": \"Device '/machine/peripheral-anon/device[0]' not found\"}}", 0, "other-qom-object", 0},
    {"{\"return\": 0}",
     "{\"error\": {\"class\": \"DeviceNotFound\", \"desc\": \"Device '/machine//peripheral/balloon0/' not found\"}}", 0, NULL, 0},
    {"{\"return\": 0}",
     "{\"error\": {\"class\": \"DeviceNotFound\", \"desc\": \"Device 'balloon0' not found\"}}", 0, NULL, 0},
    {"{\"return\": 0}",
     "{\"error\": {\"class\": \"DeviceNotFound\", \"desc\": \"Device 'peripheral-anon/device[1]/virtio-backend' not found\"}}", 0, NULL, 1},
    {"{\"error\": {\"class\": \"GenericError\", \"desc\": \"Property 'kvmvapic.guest-stats' not found\"}}",
     "{\"error\": {\"class\": \"DeviceNotFound\", \"desc\": \"Device 'device[1]' not found\"}}", 0, "other-qom-object", 0},
    {"{\"return\": 0}",
     "{\"error\": {\"class\": \"DeviceNotFound\", \"desc\": \"Device 'device[1]' not found\"}}", 0, NULL, 1},
    {"{\"return\": 0}",
     "{\"error\": {\"class\": \"DeviceNotFound\", \"desc\": \"Device '\\/machine\\/peripheral\\/balloon0' not found\"}}", 0, NULL, 0},
    {"{\"error\": {\"class\": \"DeviceNotFound\", \"desc\": \"Device '/nope' not found\"}}",
     "{\"error\": {\"class\": \"DeviceNotFound\", \"desc\": \"Device '/nope ' not found\"}}", 0, NULL, 0},
    {"{\"return\": {}, \"id\": 1000}", "{\"return\": {}, \"id\": 1e3}", 0, NULL, 0},
    {"{\"return\": {}, \"id\": inf}", "{\"return\": {}, \"id\": 1e400}", 0, NULL, 0},
    {"{\"return\": {}, \"id\": 1.8446744073709552e+19}", "{\"return\": {}, \"id\": 18446744073709551616}", 0, NULL, 0},
    {"{\"return\": {}, \"id\": {\"a\": 2, \"b\": 1}}", "{\"return\": {}, \"id\": {\"b\": 1, \"a\": 2}}", 0, NULL, 0},
    {"{\"return\": {}, \"id\": {\"a\": 2}}", "{\"return\": {}, \"id\": {\"a\": 1, \"a\": 2}}", 0, NULL, 0},
    {"{\"return\": {}, \"id\": 1001}", "{\"return\": {}, \"id\": 1e3}", 0, NULL, 0},
    {"{\"return\": {}, \"id\": -0}", "{\"return\": {}, \"id\": -0.0}", 0, NULL, 0},
    {"{\"return\": {}, \"id\": 0}", "{\"return\": {}, \"id\": -0.0}", 0, NULL, 0},
    {"{\"return\": {}, \"id\": [0.10000000000000001, {\"a\": 1, \"b\": 2}]}", "{\"return\": {}, \"id\": [0.1, {\"b\": 1, \"a\": 2}]}", 0, NULL, 0},
    {"{\"return\": {}, \"id\": [0.10000000000000001, {\"a\": 2, \"b\": 1}]}", "{\"return\": {}, \"id\": [0.1, {\"b\": 1, \"a\": 2}]}", 0, NULL, 0},
    {"{\"return\": {}, \"id\": 1}", "{\"return\": {}, \"id\": \"1\"}", 0, NULL, 0},
    {"{\"return\": {\"actual\": 1}, \"id\": 1000}", "{\"return\": {\"actual\": 2}, \"id\": 1e3}", 0, NULL, 0},
    {OKQ, "{\"return\": {}, \"id\": \"qmp-diff-enD\"}", 0, NULL, 0},
    {"{\"error\": {\"class\": \"GenericError\", \"desc\": \"Property 'kvmvapic.nope' not found\"}}",
     "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Property 'virtio-balloon-pci.nope' not found\"}}", 0, "other-qom-object", 1},
    {"{\"error\": {\"class\": \"GenericError\", \"desc\": \"Parameter 'y' is unexpected\"}}",
     "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Parameter 'x' is unexpected\"}}", 0, "unexpected-arg-order", 0},
    {"{\"error\": {\"class\": \"GenericError\", \"desc\": \"Parameter 'y' is unexpected\"}}",
     "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Parameter 'x' is missing\"}}", 0, NULL, 0},
    {"{\"error\": {\"class\": \"GenericError\", \"desc\": \"The command query-balloon does not support OOB\"}}",
     "{\"error\": {\"class\": \"GenericError\", \"desc\": \"QMP input member 'exec-oob' is unexpected\"}}", 0, "exec-oob", 0},
    {"{\"return\": {\"qemu\": {\"micro\": 22, \"minor\": 2, \"major\": 7}, \"package\": \"Debian\"}}",
     "{\"return\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}, \"package\": \"vballoon.h\"}}", 0, "version-build", 0},
    {"{\"return\": {\"qemu\": {\"micro\": 22, \"minor\": 2, \"major\": 7}, \"package\": \"Debian\"}}",
     "{\"return\": {\"qemu\": {\"micro\": 0, \"minor\": 3, \"major\": 7}, \"package\": \"vballoon.h\"}}", 0, NULL, 0},
    {"{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse error, stray '@'\"}}",
     "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse error, invalid character '@'\"}}", 0, NULL, 0},
};

static int self_test_masks(void)
{
    unsigned i, bad = 0;
    for (i = 0; i < sizeof mask_cases / sizeof mask_cases[0]; i++) {
        pair x;
        int r;
        memset(&x, 0, sizeof x);
        x.q.p = mask_cases[i].q;
        x.q.n = strlen(mask_cases[i].q);
        x.s.p = mask_cases[i].s;
        x.s.n = strlen(mask_cases[i].s);
        x.first = mask_cases[i].first;
        x.route = mask_cases[i].route;
        r = mask_pair(&x);
        if (mask_cases[i].rule ? (r < 0 || strcmp(rules[r].name, mask_cases[i].rule) != 0) : r >= 0) {
            printf("self-test: mask case %u: %s expected, %s found\n  qemu: %s\n  ours: %s\n", i,
                   mask_cases[i].rule ? mask_cases[i].rule : "no mask", r >= 0 ? rules[r].name : "no mask",
                   mask_cases[i].q, mask_cases[i].s);
            bad++;
        }
    }
    memset(masked_by, 0, sizeof masked_by);
    return bad == 0;
}

/* ============================================================================================
   Main
   ============================================================================================ */

static unsigned long parse_ul(const char *opt, const char *v)
{
    char *end;
    unsigned long long n;
    if (!v || *v < '0' || *v > '9') {
        fprintf(stderr, "qmp_diff: %s needs a number\n", opt);
        exit(2);
    }
    errno = 0;
    n = strtoull(v, &end, 0);
    if (errno || *end) {
        fprintf(stderr, "qmp_diff: bad number for %s: %s\n", opt, v);
        exit(2);
    }
    return (unsigned long)n;
}

static int group_on(const char *groups, const char *g)
{
    const char *p = groups;
    size_t n = strlen(g);
    if (!groups) return 1;
    while ((p = strstr(p, g)) != NULL) {
        if ((p == groups || p[-1] == ',') && (p[n] == 0 || p[n] == ',')) return 1;
        p += n;
    }
    return 0;
}

static int online_self_test(void)
{
    /* a few streams with our marker reply sabotaged: every one must be reported */
    stats S;
    unsigned i, caught = 0, n = 3;
    memset(&S, 0, sizeof S);
    S.show = 0;
    int was = sabotage;
    sabotage = 1;
    for (i = 0; i < n && i < nfixed && !unreachable; i++) {
        result res;
        run_stream(&fixed[i], &res);
        if (!res.setup_failed && !compare(&fixed[i], i, &res, &S)) caught++;
        buf_free(&res.q);
        buf_free(&res.s);
        buf_free(&res.sent);
    }
    sabotage = was;
    nsigs = 0;
    memset(masked_by, 0, sizeof masked_by);
    if (caught != n) printf("self-test: %u of %u sabotaged streams reported\n", caught, n);
    return caught == n;
}

int main(int argc, char **argv)
{
    uint64_t seed = 13;
    unsigned long nstreams = 400, only = (unsigned long)-1, i, total;
    const char *groups = NULL;
    int self_test = 0, list = 0, verbose = 0, st_ok = 1, a;
    stats S;
    uint64_t t0;
    memset(&S, 0, sizeof S);
    S.show = 40;
    for (a = 1; a < argc; a++) {
        const char *o = argv[a], *v = a + 1 < argc ? argv[a + 1] : NULL;
        if (!strcmp(o, "--qemu")) sock_qemu[0] = v, a++;
        else if (!strcmp(o, "--qemu-anon")) sock_qemu[1] = v, a++;
        else if (!strcmp(o, "--sim")) sock_sim = v, a++;
        else if (!strcmp(o, "--seed")) seed = parse_ul(o, v), a++;
        else if (!strcmp(o, "--streams")) nstreams = parse_ul(o, v), a++;
        else if (!strcmp(o, "--groups")) groups = v, a++;
        else if (!strcmp(o, "--only")) only = parse_ul(o, v), a++;
        else if (!strcmp(o, "--quiet-ms")) quiet_ms = (unsigned)parse_ul(o, v), a++;
        else if (!strcmp(o, "--show")) S.show = (unsigned)parse_ul(o, v), a++;
        else if (!strcmp(o, "--long")) S.long_report = 1;
        else if (!strcmp(o, "--verbose")) verbose = 1;
        else if (!strcmp(o, "--self-test")) self_test = 1;
        else if (!strcmp(o, "--list")) list = 1;
        else if (!strcmp(o, "--sabotage")) sabotage = 1;
        else if (!strcmp(o, "--break-mask")) {
            unsigned r;
            for (r = 0; r < NRULES && (!v || strcmp(rules[r].name, v)); r++) {}
            if (r == NRULES) {
                fprintf(stderr, "qmp_diff: --break-mask: no rule %s\n", v ? v : "");
                return 2;
            }
            broken_rule = (int)r;
            a++;
        } else {
            fprintf(stderr, "qmp_diff: unknown option %s (see the top of tests/qmp_diff.c)\n", o);
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    build_fixed(seed);
    total = nfixed + nstreams;
    if (list) {
        for (i = 0; i < nfixed; i++) printf("%lu %s %s\n", i, fixed[i].group, fixed[i].name);
        return 0;
    }
    if (self_test) {
        st_ok = self_test_masks();
        if (!sock_qemu[0]) {
            printf("qmp-diff-selftest: %d passed, %d failed\n", st_ok, !st_ok);
            return st_ok ? 0 : 1;
        }
    }
    if (!sock_qemu[0] || !sock_qemu[1] || !sock_sim) {
        fprintf(stderr, "qmp_diff: --qemu, --qemu-anon and --sim are needed\n");
        return 2;
    }
    if (self_test) st_ok = online_self_test() && st_ok;
    t0 = now_ms();
    for (i = 0; i < total && !unreachable; i++) {
        stream gen, *st;
        result res;
        if (only != (unsigned long)-1 && i != only) continue;
        if (i < nfixed) st = &fixed[i];
        else {
            make_generated(&gen, seed, i - nfixed);
            st = &gen;
        }
        if (only == (unsigned long)-1 && !group_on(groups, st->group)) {
            if (st == &gen) buf_free(&gen.bytes);
            continue;
        }
        if (verbose) fprintf(stderr, "#%lu [%s] %s\n", i, st->group, st->name);
        run_stream(st, &res);
        compare(st, i, &res, &S);
        S.setup_failures += (unsigned long)res.setup_failed;
        buf_free(&res.q);
        buf_free(&res.s);
        buf_free(&res.sent);
        if (st == &gen) buf_free(&gen.bytes);
    }
    if (unreachable) printf("a server could not be reached within %u s: the run stopped\n", (unsigned)(CONNECT_MS / 1000));
    if (S.differing > S.show) printf("(%lu more differing streams not shown: --show N)\n", S.differing - S.show);
    if (nsigs) {
        printf("differences by signature (first differing line; count, an example):\n");
        for (i = 0; i < nsigs; i++) printf("  %5lu  %s   [%s]\n", sigs[i].count, sigs[i].key, sigs[i].example);
    }
    printf("masked lines: %lu (", S.masked_lines);
    for (i = 0; i < NRULES; i++) printf("%s%s %lu", i ? ", " : "", rules[i].name, masked_by[i]);
    printf("); second markers needed: %lu; %.1f s, seed %" PRIu64 "\n", S.resets, (double)(now_ms() - t0) / 1000.0, seed);
    if (S.long_report)
        printf("qmp-diff: %lu streams compared, %lu agreed, %lu differing\n", S.compared, S.agreed, S.differing);
    if (self_test && !st_ok) printf("self-test FAILED\n");
    printf("qmp-diff: %lu passed, %lu failed\n", S.agreed + (self_test && st_ok), S.differing + (self_test && !st_ok));
    return S.differing || !st_ok ? 1 : 0;
}
