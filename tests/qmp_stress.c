/* qmp_stress.c - build/qmp-stress: the flow-control tests of tests/qmp_stress.h against a QMP
   unix socket (the simulator's --qmp in tests/sim_test.sh, the mini-VMM's in
   tests/minivmm_test.sh; QEMU's -qmp for comparison).
   public domain (Unlicense) - see the end of vballoon.h

     qmp-stress [--prefix P] SOCKET [TEST...]
         TEST: pipelined[=N] burst[=N] long-id[=BYTES] second-client[=N] unfinished[=BYTES]
         backlog[=N]; none: the first four with their defaults (20000, 1000, 1 MiB, 20000);
         unfinished (default 66 MiB) is the hard limit on an unfinished message, backlog (default
         16) the clients served at once. Check names start with P.
   Prints "FAIL name" for a failure, "  measured: ..." lines, and ends with
   "qmp-stress: N passed, M failed"; exit status 1 if anything failed, 2 on a usage error. */
#define _GNU_SOURCE /* NOLINT(cert-dcl51-cpp): glibc feature macro */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WAIT_MS 60000

static int passed, failed;

static void check(const char *name, int ok, const char *detail)
{
    if (ok) {
        passed++;
        return;
    }
    failed++;
    printf("FAIL %s\n", name);
    if (detail && *detail) printf("  %s\n", detail);
}

#include "qmp_stress.h"

static unsigned long arg_number(const char *t, unsigned long dflt)
{
    const char *eq = strchr(t, '=');
    char *end;
    unsigned long v;
    if (!eq) return dflt;
    v = strtoul(eq + 1, &end, 10);
    if (*end || !v || v > 100000000ul) {
        fprintf(stderr, "qmp-stress: bad number in %s\n", t);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    const char *prefix = "", *path;
    int i = 1;
    if (i + 1 < argc && !strcmp(argv[i], "--prefix")) {
        prefix = argv[i + 1];
        i += 2;
    }
    if (i >= argc || argv[i][0] == '-') {
        fprintf(stderr, "usage: qmp-stress [--prefix P] SOCKET [pipelined[=N] burst[=N] long-id[=BYTES] second-client[=N] unfinished[=BYTES] backlog[=N]]...\n");
        return 2;
    }
    path = argv[i++];
    if (i == argc) qs_all(path, prefix);
    for (; i < argc; i++) {
        const char *t = argv[i];
        if (!strncmp(t, "pipelined", 9)) qs_pipelined(path, prefix, (unsigned)arg_number(t, 20000));
        else if (!strncmp(t, "burst", 5)) qs_burst(path, prefix, (unsigned)arg_number(t, 1000));
        else if (!strncmp(t, "long-id", 7)) qs_long_id(path, prefix, (size_t)arg_number(t, 1ul << 20));
        else if (!strncmp(t, "unfinished", 10)) qs_unfinished(path, prefix, (size_t)arg_number(t, 66ul << 20));
        else if (!strncmp(t, "backlog", 7)) qs_backlog(path, prefix, (unsigned)arg_number(t, 16));
        else if (!strncmp(t, "second-client", 13)) qs_second_client(path, prefix, (unsigned)arg_number(t, 20000));
        else {
            fprintf(stderr, "qmp-stress: unknown test %s\n", t);
            return 2;
        }
    }
    printf("qmp-stress: %d passed, %d failed\n", passed, failed);
    return failed != 0;
}
