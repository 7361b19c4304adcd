/* fuzz_qmp: arbitrary QMP text. Checks: the reply is always valid JSON (or empty for blank
   input) within VB_QMP_REPLY_BOUND; a reply that did not fit executed nothing; an error changed
   nothing; what vb_qmp_parse refuses gets an error, and vb_qmp_reply answers what it accepts;
   vb_qmp_execute_command on what vb_qmp_parse filled answers and acts as vb_qmp_execute.
   Input: byte 0 picks profile/flags, the rest is the command. */
#include <stdint.h>
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

/* Every compact reply to an input of up to 1 MiB (fuzz/smoke.sh: -max_len 2 MiB; a longer one
   may not fit, and is then checked for changing nothing). */
static char reply[VB_QMP_REPLY_BOUND(1u << 20, 0)], reply2[sizeof reply];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vb_config cfg;
    vb_device dev, before, dev2;
    vb_qmp s, s_before, s2;
    vb_qmp_command cmd;
    const char *in;
    size_t n, n2 = 0, small;
    int parsed;
    if (size < 1) return 0;
    memset(&cfg, 0, sizeof cfg);
    cfg.profile = (data[0] & 1) ? VB_PROFILE_QEMU : VB_PROFILE_DOC;
    cfg.stat_keys = (data[0] & 2) ? 10 : 16;
    cfg.ram_size = 512u << 20;
    if (vb_init(&dev, &cfg, &host, 0) != VB_OK) abort();
    vb_qmp_init(&s, &dev, (data[0] & 4) ? VB_QMP_PRETTY : 0);
    if (data[0] & 8) s.negotiated = 1;
    in = (const char *)data + 1;
    size--;

    /* Too small a buffer: nothing may happen. */
    small = (size_t)(data[0] >> 4);
    memcpy(&before, &dev, sizeof dev);
    memcpy(&s_before, &s, sizeof s);
    n = vb_qmp_execute(&s, in, size, reply, small);
    if (n >= small && (memcmp(&before, &dev, sizeof dev) || memcmp(&s_before, &s, sizeof s))) abort();

    memcpy(&before, &dev, sizeof dev); /* the small run may have executed: compare from here */
    memcpy(&s_before, &s, sizeof s);
    parsed = vb_qmp_parse(in, size, &cmd);
    if (parsed) { /* the same command on a copy of the device, without a second parse */
        memcpy(&dev2, &dev, sizeof dev);
        memcpy(&s2, &s, sizeof s);
        s2.dev = &dev2;
        n2 = vb_qmp_execute_command(&s2, &cmd, reply2, sizeof reply2);
    }
    n = vb_qmp_execute(&s, in, size, reply, sizeof reply);
    if (parsed) {
        s2.dev = &dev;
        if (n2 != n || (n < sizeof reply && memcmp(reply, reply2, n + 1u)) ||
            memcmp(&dev2, &dev, sizeof dev) || memcmp(&s2, &s, sizeof s))
            abort(); /* execute_command differs from execute */
    }
    if (n + 1u > VB_QMP_REPLY_BOUND(size, s.flags)) abort();
    if (n >= sizeof reply) return 0; /* a huge id echo: nothing executed, checked above */
    if (n == 0) {
        size_t i;
        for (i = 0; i < size; i++)
            if (!strchr(" \t\r\n", in[i]) || !in[i]) abort(); /* only blank input has no reply */
        return 0;
    }
    if (!json_valid(reply, n)) abort();
    if (strstr(reply, "\"error\": {") && !strstr(reply, "{\"return\"") &&
        (memcmp(&before, &dev, sizeof dev) || memcmp(&s_before, &s, sizeof s)))
        abort(); /* an error changed something */
    if (!parsed) {
        if (!strstr(reply, "\"error\": {")) abort(); /* refused, yet executed */
        return 0;
    }
    n = vb_qmp_reply(&s, &cmd, (data[0] & 16) ? "host \"error\"" : NULL, reply, sizeof reply);
    if (n >= sizeof reply) return 0;
    if (n + 1u > VB_QMP_REPLY_BOUND(size, s.flags) || !json_valid(reply, n)) abort();
    return 0;
}
