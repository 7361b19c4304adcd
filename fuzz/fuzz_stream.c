/* fuzz_stream: an arbitrary byte stream through vb_qmp_frame and vb_qmp_execute, as a QMP
   server reads a socket. Checks: a message never claims more bytes than were there; every
   message gets exactly one reply (valid JSON within VB_QMP_REPLY_BOUND) and skipped input none;
   and the replies are the same whether the stream arrives at once, a byte at a time or in
   random pieces (byte 0 seeds the pieces, the rest is the stream). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VBALLOON_IMPLEMENTATION
#include "../vballoon.h"
#include "json_check.h"

static int no_mem(void *u, uint64_t a, void *d, size_t n) { (void)u; (void)a; (void)d; (void)n; return -1; }
static int no_mem_w(void *u, uint64_t a, const void *s, size_t n) { (void)u; (void)a; (void)s; (void)n; return -1; }
static uint64_t clock_ms(void *u) { (void)u; return 5000; }
static int64_t wall(void *u) { (void)u; return 1358529861; }
static void nq(void *u, unsigned q) { (void)u; (void)q; }
static void nc(void *u) { (void)u; }
static const vb_host host = {no_mem, no_mem_w, clock_ms, 0, 0, wall, nq, nc, 0, 0, 0, 0, 0};

typedef struct run {
    uint64_t hash; /* FNV-1a over the replies, each followed by a newline */
    size_t replies;
} run;

static void fail(const char *why)
{
    fprintf(stderr, "fuzz_stream: %s\n", why);
    abort();
}

static void add(run *r, const char *p, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) r->hash = (r->hash ^ (unsigned char)p[i]) * 0x100000001B3ull;
    r->hash = (r->hash ^ '\n') * 0x100000001B3ull;
    r->replies++;
}

/* Every message in buf[0, *have): executed, answered, dropped. */
static void drain(vb_qmp *s, char *buf, size_t *have, run *r)
{
    size_t used, skip, n;
    char *reply;
    while ((used = vb_qmp_frame(s, buf, *have, &skip)) > 0) {
        if (used > *have || skip > used) fail("a message claims bytes that are not there");
        reply = (char *)malloc(VB_QMP_REPLY_BOUND(used - skip, 0));
        if (!reply) fail("out of memory");
        n = vb_qmp_execute(s, buf + skip, used - skip, reply, VB_QMP_REPLY_BOUND(used - skip, 0));
        if (n >= VB_QMP_REPLY_BOUND(used - skip, 0)) fail("a reply over VB_QMP_REPLY_BOUND");
        if (skip == used && n) fail("skipped input answered");
        if (skip < used && !n) fail("a message without a reply");
        if (n && !json_valid(reply, n)) fail("a reply that is not JSON");
        if (n) add(r, reply, n);
        free(reply);
        memmove(buf, buf + used, *have - used);
        *have -= used;
    }
}

/* The stream in pieces: 0 = at once, 1 = a byte at a time, else random sizes from `seed`. */
static run feed(const char *in, size_t len, unsigned mode, uint32_t seed)
{
    vb_config cfg;
    vb_device dev;
    vb_qmp s;
    run r = {0xCBF29CE484222325ull, 0};
    char *buf = (char *)malloc(len + 1);
    size_t fed = 0, have = 0;
    if (!buf) fail("out of memory");
    memset(&cfg, 0, sizeof cfg);
    cfg.profile = VB_PROFILE_QEMU;
    cfg.stat_keys = 10;
    cfg.ram_size = 512u << 20;
    if (vb_init(&dev, &cfg, &host, 0) != VB_OK) fail("vb_init");
    vb_qmp_init(&s, &dev, VB_QMP_NO_NEGOTIATION);
    while (fed < len) {
        size_t piece = mode == 0 ? len : mode == 1 ? 1 : 1 + (seed = seed * 1103515245u + 12345u) % 97u;
        if (piece > len - fed) piece = len - fed;
        memcpy(buf + have, in + fed, piece);
        have += piece;
        fed += piece;
        drain(&s, buf, &have, &r);
    }
    free(buf);
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    run whole, bytes, pieces;
    if (size < 1) return 0;
    whole = feed((const char *)data + 1, size - 1, 0, 0);
    bytes = feed((const char *)data + 1, size - 1, 1, 0);
    pieces = feed((const char *)data + 1, size - 1, 2, data[0]);
    if (whole.replies != bytes.replies || whole.hash != bytes.hash) fail("a byte at a time differs");
    if (whole.replies != pieces.replies || whole.hash != pieces.hash) fail("random pieces differ");
    return 0;
}
