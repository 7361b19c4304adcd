/* fuzz_stats: one stats buffer of any length, split across any descriptors (direct or one
   indirect table). The device's stats must equal an independent parse of the same bytes:
   10-byte little-endian records, last duplicate wins, tags >= 16 ignored, a trailing partial
   record ignored, only the first VB_STATS_MAX_BYTES read.
   Input: byte 0 = number of descriptors (1..16) and indirect flag, bytes 1..16 = cut points,
   the rest = the buffer. Then the metrics of the device (fuzz/metrics_check.h, mf_run: the
   input's tail is also read as labels, both formats checked). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define VBALLOON_IMPLEMENTATION
#include "../vballoon.h"
#include "metrics_check.h"

#define RAM (1u << 20)
#define DESC 0x1000u
#define AVAIL 0x2000u
#define USED 0x3000u
#define TABLE 0x4000u
#define DATA 0x10000u

static unsigned char ram[RAM];
static uint64_t lo_ok, hi_ok; /* the bytes of the buffer the device may read */

static int rd(void *u, uint64_t a, void *d, size_t n)
{
    (void)u;
    if (a > RAM || n > RAM - a) abort(); /* the device asked for memory outside RAM */
    if (a >= DATA && !(a >= lo_ok && a + n <= hi_ok)) abort();
    memcpy(d, ram + a, n);
    return 0;
}
static int wr(void *u, uint64_t a, const void *s, size_t n)
{
    (void)u;
    if (a < USED || a > USED + 0x1000u || n > USED + 0x1000u - a) abort(); /* used ring only */
    memcpy(ram + a, s, n);
    return 0;
}
static uint64_t clock_ms(void *u) { (void)u; return 0; }
static void nq(void *u, unsigned q) { (void)u; (void)q; }
static void nc(void *u) { (void)u; }
static const vb_host host = {rd, wr, clock_ms, 0, 0, 0, nq, nc, 0, 0, 0, 0, 0};

static void put16(uint64_t a, uint16_t v) { ram[a] = (unsigned char)v; ram[a + 1] = (unsigned char)(v >> 8); }
static void put32(uint64_t a, uint32_t v) { put16(a, (uint16_t)v); put16(a + 2, (uint16_t)(v >> 16)); }
static void put64(uint64_t a, uint64_t v) { put32(a, (uint32_t)v); put32(a + 4, (uint32_t)(v >> 32)); }
static void desc(uint64_t table, unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
    put64(table + 16u * i, addr);
    put32(table + 16u * i + 8, len);
    put16(table + 16u * i + 12, flags);
    put16(table + 16u * i + 14, next);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static vb_device dev;
    uint64_t expect[VB_STAT_COUNT];
    size_t cuts[17], blen, i, k, parsed;
    unsigned ndesc, indirect;
    if (size < 17 || size - 17 > RAM - DATA) return 0;
    ndesc = (data[0] & 15u) + 1u;
    indirect = (data[0] >> 4) & 1u;
    blen = size - 17;
    if (blen == 0) return 0; /* a zero-length descriptor is a ring error, tested elsewhere */
    memset(ram, 0, DATA);
    memcpy(ram + DATA, data + 17, blen);
    lo_ok = DATA;
    hi_ok = DATA + blen;

    /* cut the buffer into ndesc non-empty pieces */
    cuts[0] = 0;
    for (k = 1; k < ndesc; k++) cuts[k] = data[k] % (blen + 1);
    cuts[ndesc] = blen;
    for (k = 1; k < ndesc; k++) /* sort */
        for (i = k; i > 0 && cuts[i - 1] > cuts[i]; i--) {
            size_t t = cuts[i];
            cuts[i] = cuts[i - 1];
            cuts[i - 1] = t;
        }
    {
        uint64_t table = indirect ? TABLE : DESC;
        unsigned used = 0;
        for (k = 0; k < ndesc; k++) {
            if (cuts[k + 1] == cuts[k]) continue;
            desc(table, used, DATA + cuts[k], (uint32_t)(cuts[k + 1] - cuts[k]), 1, (uint16_t)(used + 1));
            used++;
        }
        put16(table + 16u * (used - 1) + 12, 0); /* the last one has no NEXT */
        if (indirect) desc(DESC, 0, TABLE, 16u * used, 4, 0);
    }
    put16(AVAIL + 2, 1); /* avail idx */
    put16(AVAIL + 4, 0); /* head 0 */

    if (vb_init(&dev, NULL, &host, 0) != VB_OK) abort();
    vb_set_driver_features(&dev, (uint64_t)1 << VB_F_VERSION_1 | (uint64_t)1 << VB_F_STATS_VQ |
                                     (uint64_t)1 << VB_F_RING_INDIRECT_DESC);
    if (vb_queue_setup(&dev, VB_QUEUE_STATS, 128, DESC, AVAIL, USED) != VB_OK) abort();
    vb_queue_set_ready(&dev, VB_QUEUE_STATS, 1);
    vb_queue_notify(&dev, VB_QUEUE_STATS);
    if (vb_is_broken(&dev)) abort();

    for (i = 0; i < VB_STAT_COUNT; i++) expect[i] = VB_STAT_UNSET;
    parsed = blen < VB_STATS_MAX_BYTES ? blen : VB_STATS_MAX_BYTES;
    /* cppcheck-suppress knownConditionTrueFalse ; blen >= 1 here, cppcheck loses track of it */
    for (i = 0; i + 10 <= parsed; i += 10) {
        const uint8_t *p = data + 17 + i;
        unsigned tag = (unsigned)p[0] | (unsigned)p[1] << 8;
        uint64_t v = 0;
        for (k = 8; k > 0; k--) v = v << 8 | p[1 + k];
        if (tag < VB_STAT_COUNT) expect[tag] = v;
    }
    for (i = 0; i < VB_STAT_COUNT; i++) {
        uint64_t got;
        vb_stat(&dev, (unsigned)i, &got);
        if (got != expect[i]) abort();
    }
    { /* the metrics of this device (and an idle one), labels from the input's tail */
        mf_target t[2];
        t[0].dev = &dev;
        t[0].keys = VB_STAT_COUNT;
        t[1].dev = mf_idle();
        t[1].keys = VB_STAT_COUNT;
        mf_run(t, data, size);
    }
    return 0;
}
