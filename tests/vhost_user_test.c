/* vhost_user_test.c - protocol tests of build/vballoon-vhost-user, no guest kernel needed
   public domain (Unlicense) - see the end of vballoon.h

     build/vhost-user-test [path/to/vballoon-vhost-user]

   Starts the back-end (--persistent, QMP on), plays a vhost-user front-end against it: a full
   handshake with memfd guest memory and a stats ring driven by hand (the stats round trip, a
   poll on the call eventfd, CONFIG_CHANGE_MSG on the back-end channel after a QMP balloon
   command, GET_CONFIG's reply), the VM's run state over QMP (query-status, stop: no polls until
   cont, with QEMU's events), then one connection per malformed message, each of which must
   end that connection (EOF) while the back-end goes on serving the next one; and a memory file
   truncated under the back-end (SIGBUS) must be a device error, not a crash. On the QMP socket:
   the seed document's four commands pasted verbatim (no-break spaces: taken in the doc profile,
   refused as QEMU refuses them by a second back-end in the QEMU profile), and the flow-control
   tests of tests/qmp_stress.h (20,000 pipelined commands, 1,000 written before any is read, a
   1 MiB "id", a second client served while the first is backed up, an unfinished message of
   66 MiB closing its client, as the back-end documents; 16 clients served, the 17th waiting in
   the listen backlog until one leaves); QMP quit ends the back-end cleanly. The device reaches
   guest memory through pointers (the map callback: the log's access counts say so, and the
   truncated file is a page replaced by zeros); a new memory table while the stats ring runs
   must move those pointers to the new file. A third back-end with --no-map runs the stats round
   trip, the new memory table and the truncated file again through read/write copies. A fourth
   with --packed drives a packed stats ring of 6 by hand as Linux does: base 0 with a first-lap
   descriptor (UML's starting wrap counter, which the device corrects and the back-end logs),
   rounds over the ring's end with each used descriptor checked (id, len, AVAIL/USED for the
   device's wrap counter) and the device area DISABLE while the buffer is held, GET_VRING_BASE
   with the wrap bit (1, then 0 at slot 0: a spec front-end's base 0 that must not be corrected),
   restarts at those bases, and RING_PACKED without VERSION_1 refused; then with EVENT_IDX, the
   driver kicking only when the device area asks, as Linux decides (after base 0 the device must
   not ask for its second lap). Prints "FAIL <name>"
   for failures, "  measured: ..." lines, and ends with "vhost-user: N passed, M failed". */
#define _GNU_SOURCE /* NOLINT(cert-dcl51-cpp): glibc feature macro */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int passed, failed;
static char dir[64], sock_path[128], qmp_path[128], log_path[128], seed_path[512];
static pid_t backend = -1;
static const char *name_suffix = ""; /* after every check's name: " (--no-map)" for that back-end */

static void check(const char *name, int ok, const char *detail)
{
    if (ok) {
        passed++;
        return;
    }
    failed++;
    printf("FAIL %s%s\n", name, name_suffix);
    if (detail && *detail) printf("  %s\n", detail);
}

#if defined(__GNUC__) || defined(__clang__)
__attribute__((noreturn))
#endif
static void die(const char *what)
{
    fprintf(stderr, "vhost-user-test: %s: %s\n", what, strerror(errno));
    if (backend > 0) kill(backend, SIGKILL);
    printf("vhost-user: %d passed, %d failed\n", passed, failed + 1);
    exit(1);
}

/* Every wait for the back-end ends as soon as what it waits for is there; its limit is long so
   that a starved machine does not fail a check (WAIT_MS; the back-end's own I/O timeout is 2 s). */
#define WAIT_MS 20000

static int unix_connect(const char *path)
{
    struct sockaddr_un sa;
    int i;
    for (i = 0; i < WAIT_MS / 20; i++) { /* the back-end may still be starting */
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) die("socket");
        memset(&sa, 0, sizeof sa);
        sa.sun_family = AF_UNIX;
        snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) return fd;
        close(fd);
        usleep(20000);
    }
    return -1;
}

#include "qmp_stress.h"

/* ---- vhost-user messages ---- */

enum {
    GET_FEATURES = 1, SET_FEATURES = 2, SET_OWNER = 3, SET_MEM_TABLE = 5, SET_LOG_BASE = 6,
    SET_VRING_NUM = 8, SET_VRING_ADDR = 9, SET_VRING_BASE = 10, GET_VRING_BASE = 11,
    SET_VRING_KICK = 12, SET_VRING_CALL = 13, GET_PROTOCOL_FEATURES = 15,
    SET_PROTOCOL_FEATURES = 16, SET_VRING_ENABLE = 18, SET_BACKEND_REQ_FD = 21, GET_CONFIG = 24,
    SET_CONFIG = 25, VRING_KICK = 35
};
#define NEED_REPLY 0x8u
#define PROTO 0x228u /* REPLY_ACK | BACKEND_REQ | CONFIG */

static void put32(unsigned char *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(unsigned char *p, uint64_t v) { memcpy(p, &v, 8); }
static uint32_t get32(const unsigned char *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t get64(const unsigned char *p) { uint64_t v; memcpy(&v, p, 8); return v; }

static int send_msg(int fd, uint32_t req, uint32_t flags, const void *payload, uint32_t size,
                    const int *fds, unsigned nfds)
{
    unsigned char buf[12 + 512];
    union {
        char c[CMSG_SPACE(16 * sizeof(int))];
        struct cmsghdr align;
    } ctl;
    struct msghdr mh;
    struct iovec iov;
    put32(buf, req);
    put32(buf + 4, flags);
    put32(buf + 8, size);
    if (size > 512) size = 512; /* (a lying header: the size field says more) */
    if (payload) memcpy(buf + 12, payload, size);
    iov.iov_base = buf;
    iov.iov_len = 12 + size;
    memset(&mh, 0, sizeof mh);
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    if (nfds) {
        struct cmsghdr *c;
        mh.msg_control = ctl.c;
        mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
        c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
        memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
    }
    return sendmsg(fd, &mh, MSG_NOSIGNAL) == (ssize_t)iov.iov_len;
}

static int recv_timeout(int fd, unsigned char *buf, size_t len, int ms)
{
    size_t got = 0;
    while (got < len) {
        struct pollfd p = {fd, POLLIN, 0};
        ssize_t n;
        if (poll(&p, 1, ms) <= 0) return 0;
        n = recv(fd, buf + got, len - got, 0);
        if (n <= 0) return 0;
        got += (size_t)n;
    }
    return 1;
}

/* A reply: header with flags exactly 0x5 and the request echoed; payload into out. */
static int reply(int fd, uint32_t req, unsigned char *out, uint32_t size)
{
    unsigned char h[12];
    if (!recv_timeout(fd, h, 12, WAIT_MS)) return 0;
    if (get32(h) != req || get32(h + 4) != 0x5 || get32(h + 8) != size) return 0;
    return recv_timeout(fd, out, size, WAIT_MS);
}

static int ack(int fd, uint32_t req)
{
    unsigned char v[8];
    return reply(fd, req, v, 8) && get64(v) == 0;
}

static int set_u64(int fd, uint32_t req, uint64_t v)
{
    unsigned char p[8];
    put64(p, v);
    return send_msg(fd, req, 1 | NEED_REPLY, p, 8, 0, 0) && ack(fd, req);
}

static int vring_state(int fd, uint32_t req, uint32_t index, uint32_t num)
{
    unsigned char p[8];
    put32(p, index);
    put32(p + 4, num);
    return send_msg(fd, req, 1 | NEED_REPLY, p, 8, 0, 0) && ack(fd, req);
}

static int get_u64(int fd, uint32_t req, uint64_t *v)
{
    unsigned char p[8];
    if (!send_msg(fd, req, 1, 0, 0, 0, 0) || !reply(fd, req, p, 8)) return 0;
    *v = get64(p);
    return 1;
}

/* The connection ended: EOF (or reset) within 3 s. */
static int closed(int fd)
{
    unsigned char b[64];
    struct pollfd p = {fd, POLLIN, 0};
    for (;;) {
        ssize_t n;
        if (poll(&p, 1, WAIT_MS) <= 0) return 0;
        n = recv(fd, b, sizeof b, 0);
        if (n == 0 || (n < 0 && errno == ECONNRESET)) return 1;
        if (n < 0) return 0;
    }
}

/* The back-end process lives and answers a fresh connection. */
static int alive(void)
{
    uint64_t f = 0;
    int fd, ok;
    if (waitpid(backend, NULL, WNOHANG) != 0) return 0;
    fd = unix_connect(sock_path);
    if (fd < 0) return 0;
    ok = get_u64(fd, GET_FEATURES, &f) && (f >> 30 & 1);
    close(fd);
    return ok;
}

/* ---- guest memory and a stats ring, driven by hand ---- */

#define MEM_SIZE (1u << 20)
#define GPA 0x100000u
#define UVA 0x7f1200000000ull
#define QNUM 8u
#define DESC (GPA + 0x0000u)
#define AVAIL (GPA + 0x1000u)
#define USED (GPA + 0x2000u)
#define STATS (GPA + 0x3000u)

static unsigned char *mem;
static int memfd = -1;

static unsigned char *g(uint64_t gpa) { return mem + (gpa - GPA); }

static int new_memory(void)
{
    memfd = memfd_create("guest", MFD_CLOEXEC);
    if (memfd < 0 || ftruncate(memfd, MEM_SIZE) != 0) die("memfd");
    mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
    if (mem == MAP_FAILED) die("mmap");
    return memfd;
}

static int mem_table(int fd, uint64_t gpa, uint64_t size, uint64_t uva, uint64_t off, int mfd)
{
    unsigned char p[8 + 32];
    put32(p, 1);
    put32(p + 4, 0);
    put64(p + 8, gpa);
    put64(p + 16, size);
    put64(p + 24, uva);
    put64(p + 32, off);
    return send_msg(fd, SET_MEM_TABLE, 1 | NEED_REPLY, p, sizeof p, &mfd, 1) && ack(fd, SET_MEM_TABLE);
}

static int vring_addr(int fd, uint32_t q, uint64_t desc, uint64_t used, uint64_t avail)
{
    unsigned char p[40];
    put32(p, q);
    put32(p + 4, 0);
    put64(p + 8, desc);
    put64(p + 16, used);
    put64(p + 24, avail);
    put64(p + 32, 0);
    return send_msg(fd, SET_VRING_ADDR, 1 | NEED_REPLY, p, 40, 0, 0) && ack(fd, SET_VRING_ADDR);
}

static int vring_fd(int fd, uint32_t req, uint32_t q, int efd)
{
    unsigned char p[8];
    put64(p, q);
    return send_msg(fd, req, 1 | NEED_REPLY, p, 8, &efd, 1) && ack(fd, req);
}

/* Handshake up to a running stats queue (q2) of `num` entries from `base`, with `features`.
   Returns the connection, or -1. */
static int start_ring(int *kick, int *call, int *backend_chan, uint64_t features, uint32_t num, uint32_t base)
{
    int fd = unix_connect(sock_path), sv[2];
    uint64_t f = 0, pf = 0;
    if (fd < 0) return -1;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) die("socketpair");
    *kick = eventfd(0, EFD_CLOEXEC);
    *call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    *backend_chan = sv[0];
    new_memory();
    memset(mem, 0, MEM_SIZE);
    if (!send_msg(fd, SET_OWNER, 1, 0, 0, 0, 0) || !get_u64(fd, GET_FEATURES, &f) ||
        !get_u64(fd, GET_PROTOCOL_FEATURES, &pf) || (pf & PROTO) != PROTO ||
        !set_u64(fd, SET_PROTOCOL_FEATURES, PROTO) ||
        !(send_msg(fd, SET_BACKEND_REQ_FD, 1 | NEED_REPLY, 0, 0, &sv[1], 1) && ack(fd, SET_BACKEND_REQ_FD)) ||
        !set_u64(fd, SET_FEATURES, features) ||
        !mem_table(fd, GPA, MEM_SIZE, UVA, 0, memfd) || !vring_state(fd, SET_VRING_NUM, 2, num) ||
        !vring_state(fd, SET_VRING_BASE, 2, base) ||
        !vring_addr(fd, 2, UVA + (DESC - GPA), UVA + (USED - GPA), UVA + (AVAIL - GPA)) ||
        !vring_fd(fd, SET_VRING_CALL, 2, *call) || !vring_fd(fd, SET_VRING_KICK, 2, *kick) ||
        !vring_state(fd, SET_VRING_ENABLE, 2, 1)) {
        close(fd);
        fd = -1;
    }
    close(sv[1]);
    close(memfd);
    return fd;
}

#define F_SPLIT ((1ull << 32) | (1ull << 30) | (1ull << 1)) /* VERSION_1, PROTOCOL_FEATURES, STATS_VQ */

static int start_device(int *kick, int *call, int *backend_chan)
{
    return start_ring(kick, call, backend_chan, F_SPLIT, QNUM, 0);
}

/* The stats the driver refills its buffer with: free = `free_mem`, total 64 MiB (20 bytes). */
static void stats_record(uint64_t free_mem)
{
    unsigned char *rec = g(STATS);
    uint16_t tag = 4, tag2 = 5;
    uint64_t total = 64ull << 20;
    memcpy(rec, &tag, 2);
    memcpy(rec + 2, &free_mem, 8);
    memcpy(rec + 10, &tag2, 2);
    memcpy(rec + 12, &total, 8);
}

/* The driver's side: refill the stats buffer (free = `free_mem`) and make it available. */
static void post_stats(int kick, uint16_t *avail_idx, uint64_t free_mem)
{
    unsigned char *d = g(DESC);
    uint64_t one = 1;
    stats_record(free_mem);
    put64(d, STATS);
    put32(d + 8, 20);
    memset(d + 12, 0, 4);                       /* flags 0, next 0 */
    memcpy(g(AVAIL) + 4 + (size_t)2 * (*avail_idx % QNUM), "\0\0", 2); /* head 0 */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    (*avail_idx)++;
    memcpy(g(AVAIL) + 2, avail_idx, 2);
    if (write(kick, &one, 8) != 8) die("kick");
}

/* ---- a QMP command, the simplest way ---- */

/* A new connection: the greeting, qmp_capabilities, then `cmd`; `lines` lines after the
   capabilities reply (events come before the command's reply) into `out`, CR LF -> LF, the
   last line end dropped. 1 if they came. */
static int qmp_n(const char *cmd, int lines, char *out, size_t cap)
{
    int fd = unix_connect(qmp_path);
    size_t have = 0;
    int got = 0;
    char buf[8192], *p, *q;
    if (fd < 0) return 0;
    if (send(fd, "{\"execute\": \"qmp_capabilities\"}\n", 32, MSG_NOSIGNAL) != 32 ||
        send(fd, cmd, strlen(cmd), MSG_NOSIGNAL) != (ssize_t)strlen(cmd)) {
        close(fd);
        return 0;
    }
    while (got < 2 + lines && have < sizeof buf - 1) { /* greeting, capabilities, the rest */
        struct pollfd pl = {fd, POLLIN, 0};
        ssize_t n;
        if (poll(&pl, 1, WAIT_MS) <= 0) break;
        n = recv(fd, buf + have, sizeof buf - 1 - have, 0);
        if (n <= 0) break;
        have += (size_t)n;
        buf[have] = 0;
        got = 0;
        for (n = 0; (size_t)n < have; n++) got += buf[n] == '\n';
    }
    close(fd);
    if (got < 2 + lines) return 0;
    p = strchr(strchr(buf, '\n') + 1, '\n') + 1;
    for (q = p; *q; q++) /* CR LF -> LF */
        if (*q == '\r') memmove(q, q + 1, strlen(q + 1) + 1);
    if (q > p && q[-1] == '\n') q[-1] = 0;
    snprintf(out, cap, "%s", p);
    return 1;
}

static int qmp(const char *cmd, char *out, size_t cap) { return qmp_n(cmd, 1, out, cap); }

static int wait_readable(int fd, int ms)
{
    struct pollfd p = {fd, POLLIN, 0};
    return poll(&p, 1, ms) > 0;
}

/* The command's reply, again every 20 ms until it contains `want` (at most WAIT_MS): the
   back-end parses a kicked buffer when it gets to it. 1 if it did. */
static int qmp_until(const char *cmd, const char *want, char *out, size_t cap)
{
    int i;
    for (i = 0; i < WAIT_MS / 20; i++) {
        if (qmp(cmd, out, cap) && strstr(out, want)) return 1;
        usleep(20000);
    }
    return 0;
}

/* ---- the tests ---- */

static void test_positive(void)
{
    int kick, call, chan, fd = start_device(&kick, &call, &chan);
    uint16_t avail = 0;
    char out[4096] = "";
    unsigned char p[12 + 8], h[12];
    uint64_t v;
    int ok;

    check("handshake-with-reply-ack", fd >= 0, "a step of the handshake was refused");
    if (fd < 0) return;
    post_stats(kick, &avail, 12345 * 4096ull);
    check("stats-buffer-parsed",
          qmp_until("{\"execute\": \"qom-get\", \"arguments\": {\"path\": \"/machine/peripheral/balloon0\", "
                    "\"property\": \"guest-stats\"}}\n", "\"stat-free-memory\": 50565120", out, sizeof out),
          out);
    /* a poll: interval 1 polls at once: the held buffer comes back on the used ring + call */
    qmp("{\"execute\": \"qom-set\", \"arguments\": {\"path\": \"/machine/peripheral/balloon0\", "
        "\"property\": \"guest-stats-polling-interval\", \"value\": 1}}\n", out, sizeof out);
    check("poll-signals-call-fd", wait_readable(call, WAIT_MS) && read(call, &v, 8) == 8 &&
          get32(g(USED) + 2) == 1 && get32(g(USED) + 4) == 0, "no used buffer and call");
    post_stats(kick, &avail, 777 * 4096ull);
    check("stats-round-trip",
          qmp_until("{\"execute\": \"qom-get\", \"arguments\": {\"path\": \"/machine/peripheral/balloon0\", "
                    "\"property\": \"guest-stats\"}}\n", "\"stat-free-memory\": 3182592", out, sizeof out),
          out);
    qmp("{\"execute\": \"qom-set\", \"arguments\": {\"path\": \"/machine/peripheral/balloon0\", "
        "\"property\": \"guest-stats-polling-interval\", \"value\": 0}}\n", out, sizeof out);
    /* GET_CONFIG: the reply echoes offset, size and flags, flags of the header exactly 0x5 */
    put32(p, 0);
    put32(p + 4, 8);
    put32(p + 8, 0);
    memset(p + 12, 0xaa, 8);
    check("get-config-reply", send_msg(fd, GET_CONFIG, 1, p, 20, 0, 0) && reply(fd, GET_CONFIG, p, 20) &&
          get32(p) == 0 && get32(p + 4) == 8 && get32(p + 12) == 0 && get32(p + 16) == 0, "");
    /* balloon target over QMP -> CONFIG_CHANGE_MSG on the back-end channel; then GET_CONFIG */
    qmp("{\"execute\": \"balloon\", \"arguments\": {\"value\": 130023424}}\n", out, sizeof out);
    check("config-change-msg", recv_timeout(chan, h, 12, WAIT_MS) && get32(h) == 2 && (get32(h + 4) & 3) == 1 &&
          get32(h + 8) == 0, "no CONFIG_CHANGE_MSG on the back-end channel");
    put32(p, 0);
    put32(p + 4, 4);
    put32(p + 8, 0);
    check("config-num-pages", send_msg(fd, GET_CONFIG, 1, p, 16, 0, 0) && reply(fd, GET_CONFIG, p, 16) &&
          get32(p + 12) == 1024, "num_pages should be 1024 (128 MiB - 124 MiB)");
    /* SET_CONFIG actual -> query-balloon follows */
    put32(p, 4);
    put32(p + 4, 4);
    put32(p + 8, 0);
    put32(p + 12, 1024);
    check("set-config-actual", send_msg(fd, SET_CONFIG, 1 | NEED_REPLY, p, 16, 0, 0) && ack(fd, SET_CONFIG) &&
          qmp("{\"execute\": \"query-balloon\"}\n", out, sizeof out) && !strcmp(out, "{\"return\": {\"actual\": 130023424}}"),
          out);
    qmp("{\"execute\": \"balloon\", \"arguments\": {\"value\": 134217728}}\n", out, sizeof out);
    /* GET_VRING_BASE stops the ring and reports the next avail index to read */
    put32(p, 2);
    put32(p + 4, 0);
    ok = send_msg(fd, GET_VRING_BASE, 1, p, 8, 0, 0) && reply(fd, GET_VRING_BASE, p, 8);
    snprintf(out, sizeof out, "reply %s: queue %u, base %u (2 buffers made available, the second held)",
             ok ? "received" : "missing", get32(p), get32(p + 4));
    /* stopping the queue un-pops the held buffer: a restarted back-end must read it again */
    check("get-vring-base-unpops-held-buffer", ok && get32(p) == 2 && get32(p + 4) == 1, out);
    close(fd);
    close(kick);
    close(call);
    close(chan);
    munmap(mem, MEM_SIZE);
    check("alive-after-positive", alive(), "");
}

/* A new memory table while the stats ring runs: the same guest-physical layout in a new file
   (the old one's contents copied), the old one unmapped by the test. The back-end must drop
   its pointers into the old mapping (vb_memory_changed) before it unmaps it: the poll's used
   ring entry and the next stats must go through the new file. */
#define GET_STATS "{\"execute\": \"qom-get\", \"arguments\": {\"path\": \"/machine/peripheral/balloon0\", " \
                  "\"property\": \"guest-stats\"}}\n"
#define SET_INTERVAL_1 "{\"execute\": \"qom-set\", \"arguments\": {\"path\": \"/machine/peripheral/balloon0\", " \
                       "\"property\": \"guest-stats-polling-interval\", \"value\": 1}}\n"
#define SET_INTERVAL_0 "{\"execute\": \"qom-set\", \"arguments\": {\"path\": \"/machine/peripheral/balloon0\", " \
                       "\"property\": \"guest-stats-polling-interval\", \"value\": 0}}\n"

static void test_mem_table_change(void)
{
    int kick, call, chan, fd = start_device(&kick, &call, &chan), mfd;
    uint16_t avail = 0;
    char out[4096] = "";
    unsigned char *old;
    uint64_t v;

    check("remap-handshake", fd >= 0, "a step of the handshake was refused");
    if (fd < 0) return;
    post_stats(kick, &avail, 1111 * 4096ull); /* held by the device */
    check("remap-stats-before", qmp_until(GET_STATS, "\"stat-free-memory\": 4550656", out, sizeof out), out);
    old = mem;
    mfd = new_memory(); /* mem: the new file's mapping */
    memcpy(mem, old, MEM_SIZE);
    munmap(old, MEM_SIZE);
    check("remap-new-mem-table-while-running", mem_table(fd, GPA, MEM_SIZE, UVA, 0, mfd), "");
    close(mfd);
    qmp(SET_INTERVAL_1, out, sizeof out); /* a poll: the held buffer on the used ring of the new file */
    check("remap-poll-in-new-memory", wait_readable(call, WAIT_MS) && read(call, &v, 8) == 8 && get32(g(USED) + 2) == 1,
          "no used buffer in the new memory file");
    if (waitpid(backend, NULL, WNOHANG) != 0) { /* it crashed: every later wait would be in vain */
        check("remap-backend-alive", 0, "the back-end died after the new memory table (a pointer into the old one?)");
        printf("vhost-user: %d passed, %d failed\n", passed, failed);
        exit(1);
    }
    post_stats(kick, &avail, 2222 * 4096ull);
    check("remap-stats-from-new-memory", qmp_until(GET_STATS, "\"stat-free-memory\": 9101312", out, sizeof out), out);
    qmp(SET_INTERVAL_0, out, sizeof out);
    close(fd);
    close(kick);
    close(call);
    close(chan);
    munmap(mem, MEM_SIZE);
    check("alive-after-remap", alive(), "");
}

/* One malformed message after an optional prefix: the connection must end, the back-end live. */
typedef struct bad_case {
    const char *name;
    int prefix; /* 0 none, 1 protocol + features, 2 ... + memory table + ring num */
    uint32_t req, flags, size;
    unsigned char payload[72];
    int nfds;   /* fds to attach: eventfds, or -1: one pipe end (not a regular file) */
} bad_case;

static int prefix(int fd, int level)
{
    if (level >= 1 && !(set_u64(fd, SET_PROTOCOL_FEATURES, PROTO) &&
                        set_u64(fd, SET_FEATURES, (1ull << 32) | (1ull << 30) | (1ull << 1))))
        return 0;
    if (level >= 2) {
        int mfd = new_memory(), ok = mem_table(fd, GPA, MEM_SIZE, UVA, 0, mfd) &&
                                     vring_state(fd, SET_VRING_NUM, 0, QNUM);
        close(mfd);
        munmap(mem, MEM_SIZE);
        return ok;
    }
    return 1;
}

static void run_bad(const bad_case *c)
{
    int fd = unix_connect(sock_path), fds[4], i, n = c->nfds < 0 ? 1 : c->nfds, pp[2] = {-1, -1};
    char detail[128];
    int sent;
    if (fd < 0 || !prefix(fd, c->prefix)) {
        check(c->name, 0, "the valid prefix was refused");
        if (fd >= 0) close(fd);
        return;
    }
    if (c->nfds < 0) {
        if (pipe(pp) != 0) die("pipe");
        fds[0] = pp[0];
    } else {
        for (i = 0; i < n; i++) fds[i] = eventfd(0, EFD_CLOEXEC);
    }
    sent = send_msg(fd, c->req, c->flags, c->payload, c->size, fds, (unsigned)n);
    for (i = 0; i < n; i++) close(fds[i]);
    if (pp[1] >= 0) close(pp[1]);
    snprintf(detail, sizeof detail, "request %u: connection %s, back-end %s", c->req,
             sent && closed(fd) ? "closed" : "NOT closed", alive() ? "alive" : "DEAD");
    check(c->name, sent && closed(fd) && alive(), detail);
    close(fd);
}

#define U32(v) (unsigned char)((v) & 0xff), (unsigned char)((v) >> 8 & 0xff), (unsigned char)((v) >> 16 & 0xff), (unsigned char)((v) >> 24)
#define U64(v) U32((uint64_t)(v) & 0xffffffffu), U32((uint64_t)(v) >> 32)

/* `text` is "{timestamp}\n" + what follows: QEMU's event line with its time masked. */
static int event_then(const char *text, const char *event, const char *rest)
{
    static const char pre[] = "{\"timestamp\": {\"seconds\": ";
    const char *e = strstr(text, "}, \"event\": \""), *nl = strchr(text, '\n');
    size_t n = strlen(event);
    return !strncmp(text, pre, sizeof pre - 1) && e && nl && e < nl && !strncmp(e + 13, event, n) &&
           !strncmp(e + 13 + n, "\"}\n", 3) && !strcmp(nl + 1, rest);
}

#define OK_EMPTY "{\"return\": {}}"
#define SET_INTERVAL(n)                                                                              \
    "{\"execute\": \"qom-set\", \"arguments\": {\"path\": \"/machine/peripheral/balloon0\", "        \
    "\"property\": \"guest-stats-polling-interval\", \"value\": " #n "}}\n"

/* The VM's run state, as QEMU 7.2 answers it (events before replies, none without a change).
   The guest is not the back-end's to pause: stop stands the device's clock, so no polls. */
static void test_run_state(void)
{
    int kick, call, chan, fd = start_device(&kick, &call, &chan);
    uint16_t avail = 0;
    char out[4096] = "";
    uint64_t v;
    check("run-state-running", qmp("{\"execute\": \"query-status\"}\n", out, sizeof out) &&
          !strcmp(out, "{\"return\": {\"status\": \"running\", \"singlestep\": false, \"running\": true}}"), out);
    check("run-state-query-commands", qmp("{\"execute\": \"query-commands\"}\n", out, sizeof out) &&
          !strcmp(out, "{\"return\": [{\"name\": \"cont\"}, {\"name\": \"stop\"}, {\"name\": \"query-balloon\"}, "
                       "{\"name\": \"balloon\"}, {\"name\": \"qom-set\"}, {\"name\": \"qom-get\"}, "
                       "{\"name\": \"qom-list\"}, {\"name\": \"quit\"}, {\"name\": \"query-commands\"}, "
                       "{\"name\": \"query-version\"}, {\"name\": \"qmp_capabilities\"}, {\"name\": \"query-status\"}, "
                       "{\"name\": \"x-balloon-free-page-hint\"}, {\"name\": \"x-query-balloon-free-page-hint\"}]}"),
          out);
    check("run-state-session", fd >= 0, "");
    if (fd < 0) return;
    post_stats(kick, &avail, 4242 * 4096ull); /* held by the device */
    qmp_until("{\"execute\": \"qom-get\", \"arguments\": {\"path\": \"/machine/peripheral/balloon0\", "
              "\"property\": \"guest-stats\"}}\n", "\"stat-free-memory\": 17375232", out, sizeof out);
    check("run-state-stop", qmp_n("{\"execute\": \"stop\", \"id\": 1}\n", 2, out, sizeof out) &&
          event_then(out, "STOP", "{\"return\": {}, \"id\": 1}"), out);
    check("run-state-stop-again", qmp("{\"execute\": \"stop\"}\n", out, sizeof out) && !strcmp(out, OK_EMPTY), out);
    check("run-state-paused", qmp("{\"execute\": \"query-status\"}\n", out, sizeof out) &&
          !strcmp(out, "{\"return\": {\"status\": \"paused\", \"singlestep\": false, \"running\": false}}"), out);
    /* enabling polls at once, but the clock stands: no poll until cont */
    check("run-state-set-while-stopped", qmp(SET_INTERVAL(1), out, sizeof out) && !strcmp(out, OK_EMPTY), out);
    check("run-state-no-poll-while-stopped", !wait_readable(call, 1200), "the held buffer came back while stopped");
    check("run-state-cont", qmp_n("{\"execute\": \"cont\"}\n", 2, out, sizeof out) && event_then(out, "RESUME", OK_EMPTY),
          out);
    check("run-state-cont-again", qmp("{\"execute\": \"cont\"}\n", out, sizeof out) && !strcmp(out, OK_EMPTY), out);
    check("run-state-poll-after-cont", wait_readable(call, WAIT_MS) && read(call, &v, 8) == 8 && get32(g(USED) + 2) == 1,
          "no poll after cont");
    check("run-state-arguments", qmp("{\"execute\": \"stop\", \"arguments\": {\"a\": 1}}\n", out, sizeof out) &&
          !strcmp(out, "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Parameter 'a' is unexpected\"}}"), out);
    qmp(SET_INTERVAL(0), out, sizeof out);
    close(fd);
    close(kick);
    close(call);
    close(chan);
    munmap(mem, MEM_SIZE);
    check("alive-after-run-state", alive(), "");
}

static void test_malformed(void)
{
    static const bad_case cases[] = {
        {"bad-version", 0, GET_FEATURES, 0x2, 0, {0}, 0},
        {"reply-flag-in-request", 0, GET_FEATURES, 0x5, 0, {0}, 0},
        {"reserved-flag", 0, GET_FEATURES, 0x11, 0, {0}, 0},
        {"unknown-request", 0, 99, 1, 0, {0}, 0},
        {"unsupported-request-log-base", 0, SET_LOG_BASE, 1, 16, {0}, 0},
        {"payload-too-big", 0, GET_FEATURES, 1, 0xffffffffu, {0}, 0},
        {"get-features-with-payload", 0, GET_FEATURES, 1, 8, {0}, 0},
        {"set-features-short", 0, SET_FEATURES, 1, 4, {0}, 0},
        {"set-features-not-offered", 0, SET_FEATURES, 1, 8, {U64(1ull << 63)}, 0},
        {"protocol-features-not-offered", 0, SET_PROTOCOL_FEATURES, 1, 8, {U64(1ull << 1)}, 0},
        {"fd-on-get-features", 0, GET_FEATURES, 1, 0, {0}, 1},
        {"too-many-fds", 0, SET_OWNER, 1, 0, {0}, 4}, /* only 8 fit; 4 are still unexpected */
        {"vring-num-queue-3", 1, SET_VRING_NUM, 1, 8, {U32(3), U32(8)}, 0},
        {"vring-num-not-power-of-2", 1, SET_VRING_NUM, 1, 8, {U32(0), U32(3)}, 0},
        {"vring-num-too-big", 1, SET_VRING_NUM, 1, 8, {U32(0), U32(2048)}, 0},
        {"vring-base-over-16-bits", 1, SET_VRING_BASE, 1, 8, {U32(0), U32(0x10000)}, 0},
        {"vring-addr-outside-memory", 2, SET_VRING_ADDR, 1, 40,
         {U32(0), U32(0), U64(UVA + MEM_SIZE - 16), U64(UVA), U64(UVA), U64(0)}, 0},
        {"vring-addr-log-flag", 2, SET_VRING_ADDR, 1, 40, {U32(0), U32(1), U64(UVA), U64(UVA + 0x2000), U64(UVA + 0x1000), U64(0)}, 0},
        {"vring-kick-no-fd", 1, SET_VRING_KICK, 1, 8, {U64(0)}, 0},
        {"vring-kick-reserved-bits", 1, SET_VRING_KICK, 1, 8, {U64(0x10000)}, 1},
        {"vring-call-queue-9", 1, SET_VRING_CALL, 1, 8, {U64(9)}, 1},
        {"mem-table-9-regions", 1, SET_MEM_TABLE, 1, 8, {U32(9), U32(0)}, 0},
        {"mem-table-fd-count", 1, SET_MEM_TABLE, 1, 40, {U32(1), U32(0), U64(0), U64(4096), U64(0), U64(0)}, 2},
        {"mem-table-zero-size", 1, SET_MEM_TABLE, 1, 40, {U32(1), U32(0), U64(0), U64(0), U64(0), U64(0)}, -2},
        {"mem-table-wraps", 1, SET_MEM_TABLE, 1, 40, {U32(1), U32(0), U64(~0ull - 4095), U64(8192), U64(0), U64(0)}, -2},
        {"mem-table-past-file-end", 1, SET_MEM_TABLE, 1, 40, {U32(1), U32(0), U64(0), U64(2 * MEM_SIZE), U64(0), U64(0)}, -2},
        {"mem-table-not-a-file", 1, SET_MEM_TABLE, 1, 40, {U32(1), U32(0), U64(0), U64(4096), U64(0), U64(0)}, -1},
        {"get-config-out-of-range", 1, GET_CONFIG, 1, 28, {U32(250), U32(16), U32(0)}, 0},
        {"get-config-size-mismatch", 1, GET_CONFIG, 1, 16, {U32(0), U32(8), U32(0)}, 0},
        {"vring-kick-without-inband", 1, VRING_KICK, 1, 8, {U32(2), U32(0)}, 0},
        {"vring-enable-before-features", 0, SET_VRING_ENABLE, 1, 8, {U32(0), U32(1)}, 0},
        {"vring-enable-value-2", 1, SET_VRING_ENABLE, 1, 8, {U32(0), U32(2)}, 0},
    };
    size_t i;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bad_case c = cases[i];
        if (c.nfds == -2) { /* a real memfd of MEM_SIZE bytes */
            int fd = unix_connect(sock_path), mfd = new_memory(), ok;
            char detail[128];
            munmap(mem, MEM_SIZE);
            ok = fd >= 0 && prefix(fd, c.prefix) && send_msg(fd, c.req, c.flags, c.payload, c.size, &mfd, 1);
            close(mfd);
            ok = ok && closed(fd);
            snprintf(detail, sizeof detail, "connection %s", ok ? "closed" : "NOT closed");
            check(c.name, ok && alive(), detail);
            if (fd >= 0) close(fd);
            continue;
        }
        run_bad(&c);
    }
    /* a header cut short, then nothing: the back-end gives up after its I/O timeout */
    {
        int fd = unix_connect(sock_path);
        unsigned char h[6] = {1, 0, 0, 0, 1, 0};
        check("truncated-header", fd >= 0 && send(fd, h, 6, MSG_NOSIGNAL) == 6 && closed(fd) && alive(), "");
        if (fd >= 0) close(fd);
    }
}

/* The memory file shrinks under the back-end: its ring access hits SIGBUS, which must be a
   device error (logged), not a crash. */
static void test_sigbus(void)
{
    int c = unix_connect(sock_path), mfd = new_memory(), efd = eventfd(0, EFD_CLOEXEC), ok;
    uint64_t f = 0;
    ok = c >= 0 && prefix(c, 1) && mem_table(c, GPA, MEM_SIZE, UVA, 0, mfd) &&
         vring_state(c, SET_VRING_NUM, 2, QNUM) &&
         vring_addr(c, 2, UVA + (DESC - GPA), UVA + (USED - GPA), UVA + (AVAIL - GPA)) &&
         vring_fd(c, SET_VRING_KICK, 2, efd) && ftruncate(mfd, 0) == 0 &&
         vring_state(c, SET_VRING_ENABLE, 2, 1); /* reads used->idx: SIGBUS in the back-end */
    ok = ok && get_u64(c, GET_FEATURES, &f); /* the same connection still answers */
    if (c >= 0) close(c);
    check("sigbus-guard", ok && alive(), "the back-end did not survive a truncated memory file");
    close(mfd);
    close(efd);
    munmap(mem, MEM_SIZE);
}

/* ---- QMP: the seed's commands verbatim, flow control ---- */

/* The seed document's four commands, byte for byte (tests/seed-commands.txt: every space of its
   web page is a no-break space, U+00A0). NULL if the file is not there. */
static char *seed_bytes(size_t *len)
{
    static char b[4096];
    FILE *f = fopen(seed_path, "rb");
    if (!f) return NULL;
    *len = fread(b, 1, sizeof b, f);
    fclose(f);
    return *len > 0 && *len < sizeof b && memchr(b, 0xC2, *len) ? b : NULL;
}

#define GET_INTERVAL "{\"execute\": \"qom-get\", \"arguments\": {\"path\": \"/machine/peripheral/balloon0\", " \
                     "\"property\": \"guest-stats-polling-interval\"}, \"id\": \"end\"}\n"

/* Doc profile: pasted as they are, the four work: enable at 2 s, change to 10 s, get, disable
   (by the document's name stats-polling-interval), each reply on its line. */
static void test_seed_doc(void)
{
    static const char *const want[] = {"{\"return\": {}}", "{\"return\": {}}", "{\"return\": {\"stats\": {", "{\"return\": {}}",
                                       "{\"return\": 0, \"id\": \"end\"}"};
    char detail[512] = "";
    size_t len = 0;
    char *seed = seed_bytes(&len);
    qs_conn c;
    int i, ok = seed != NULL;
    if (!seed) snprintf(detail, sizeof detail, "%.400s: not readable, or without its no-break spaces", seed_path);
    if (ok && !qs_open(&c, qmp_path)) {
        ok = 0;
        snprintf(detail, sizeof detail, "cannot connect and negotiate");
    } else if (ok) {
        ok = qs_send(c.fd, seed, len, WAIT_MS) == len && qs_send(c.fd, GET_INTERVAL, strlen(GET_INTERVAL), WAIT_MS) ==
                                                          strlen(GET_INTERVAL);
        for (i = 0; ok && i < 5; i++) {
            char *line = qs_line(&c, NULL);
            ok = line && !strncmp(line, want[i], strlen(want[i])) && (i != 2 || strstr(line, "\"last-update\": "));
            if (!ok) snprintf(detail, sizeof detail, "reply %d: %.300s", i + 1, line ? line : "(none)");
        }
        qs_close(&c);
    }
    check("qmp-seed-commands-verbatim-doc-profile", ok, detail);
}

/* QEMU profile (a second back-end): the no-break spaces reach the lexer, which refuses them as
   QEMU does: only errors, nothing set (the interval stays 0), and the stream goes on. */
static void test_seed_qemu(const char *qmp)
{
    char detail[512] = "";
    size_t len = 0;
    char *seed = seed_bytes(&len), *line = NULL;
    qs_conn c;
    int errors = 0, ok = seed != NULL;
    if (!seed) snprintf(detail, sizeof detail, "%.400s: not readable, or without its no-break spaces", seed_path);
    if (ok && !qs_open(&c, qmp)) {
        ok = 0;
        snprintf(detail, sizeof detail, "cannot connect and negotiate");
    } else if (ok) {
        ok = qs_send(c.fd, seed, len, WAIT_MS) == len && qs_send(c.fd, "\n" GET_INTERVAL, strlen(GET_INTERVAL) + 1, WAIT_MS) ==
                                                          strlen(GET_INTERVAL) + 1;
        while (ok && (line = qs_line(&c, NULL)) && !strstr(line, "\"id\": \"end\"") && errors < 1000) {
            ok = !strncmp(line, "{\"error\": ", 10);
            errors++;
            if (!ok) snprintf(detail, sizeof detail, "a reply that is not an error: %.300s", line);
        }
        if (ok && (!line || strcmp(line, "{\"return\": 0, \"id\": \"end\"}") != 0 || errors < 4)) {
            ok = 0;
            snprintf(detail, sizeof detail, "%d errors, then %.300s", errors, line ? line : "(no reply)");
        }
        qs_close(&c);
    }
    check("qmp-seed-commands-verbatim-qemu-profile-refused", ok, detail);
}

/* The back-end, logging to `log`: --persistent, QMP on `qmp`, `profile` (doc or qemu), and
   `option` if not NULL. */
static pid_t spawn_backend(const char *bin, const char *sock, const char *qmp, const char *log, const char *profile,
                           const char *option)
{
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        char qarg[160];
        const char *verbose = getenv("VB_TEST_VERBOSE") ? "--verbose" : (char *)0;
        int lfd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (lfd < 0 || dup2(lfd, 2) < 0) _exit(127);
        snprintf(qarg, sizeof qarg, "unix:%s", qmp);
        execl(bin, bin, "--socket", sock, "--qmp", qarg, "--persistent", "--ram", "128", "--profile", profile,
              option ? option : verbose, option ? verbose : (char *)0, (char *)0);
        _exit(127);
    }
    return pid;
}

/* What a back-end's log says: refusals, device errors, mapped pages replaced after a SIGBUS,
   and the guest memory accesses of all its sessions (pointers map() gave, read/write copies). */
typedef struct log_summary {
    int reasons, device_errors, pages_replaced;
    unsigned long long mapped, copied;
} log_summary;

static int read_log(const char *path, log_summary *sum)
{
    char line[512];
    FILE *f = fopen(path, "r");
    memset(sum, 0, sizeof *sum);
    if (!f) return 0;
    while (fgets(line, sizeof line, f)) {
        const char *acc = strstr(line, "; guest memory accesses ");
        unsigned long long m, c;
        sum->reasons += strstr(line, "vhost-user: ") != NULL;
        sum->device_errors += strstr(line, "device error") != NULL;
        sum->pages_replaced += strstr(line, "guest memory: a page of the memory file is gone") != NULL;
        if (strstr(line, " ended: ") && acc && sscanf(acc, "; guest memory accesses %llu mapped, %llu copied", &m, &c) == 2) {
            sum->mapped += m;
            sum->copied += c;
        }
    }
    fclose(f);
    return 1;
}

/* A second back-end in the QEMU profile, for test_seed_qemu. */
static void test_qemu_profile(const char *bin)
{
    char sock[160], qmp[160], log[160];
    int status;
    pid_t pid;
    snprintf(sock, sizeof sock, "%s/vb-qemu.sock", dir);
    snprintf(qmp, sizeof qmp, "%s/qmp-qemu.sock", dir);
    snprintf(log, sizeof log, "%s/backend-qemu.log", dir);
    pid = spawn_backend(bin, sock, qmp, log, "qemu", NULL);
    test_seed_qemu(qmp);
    kill(pid, SIGTERM);
    check("qemu-profile-backend-exits-cleanly", waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
          WEXITSTATUS(status) == 0, "");
    if (!failed) {
        unlink(log);
        unlink(sock);
        unlink(qmp);
    }
}

/* The copy path: a back-end with --no-map plays the stats round trip and the truncated memory
   file again; every access of the device is then a read/write copy (the SIGBUS guard's case). */
static void test_no_map(const char *bin)
{
    char saved_sock[sizeof sock_path], saved_qmp[sizeof qmp_path];
    pid_t saved_backend = backend;
    log_summary sum;
    char log[160], detail[160];
    int status;
    memcpy(saved_sock, sock_path, sizeof saved_sock);
    memcpy(saved_qmp, qmp_path, sizeof saved_qmp);
    snprintf(sock_path, sizeof sock_path, "%s/vb-copy.sock", dir);
    snprintf(qmp_path, sizeof qmp_path, "%s/qmp-copy.sock", dir);
    snprintf(log, sizeof log, "%s/backend-copy.log", dir);
    name_suffix = " (--no-map)";
    backend = spawn_backend(bin, sock_path, qmp_path, log, "doc", "--no-map");
    if (!alive()) {
        check("backend-starts", 0, bin);
    } else {
        test_positive();
        test_mem_table_change();
        test_sigbus();
    }
    kill(backend, SIGTERM);
    check("backend-exits-cleanly", waitpid(backend, &status, 0) == backend && WIFEXITED(status) &&
          WEXITSTATUS(status) == 0, "");
    read_log(log, &sum);
    snprintf(detail, sizeof detail, "accesses: %llu mapped, %llu copied; device errors %d, pages replaced %d",
             sum.mapped, sum.copied, sum.device_errors, sum.pages_replaced);
    check("guest-memory-copied-only", sum.mapped == 0 && sum.copied > 0, detail);
    check("sigbus-guarded-copy-device-error", sum.device_errors >= 1 && sum.pages_replaced == 0, detail);
    name_suffix = "";
    if (!failed) {
        unlink(log);
        unlink(sock_path);
        unlink(qmp_path);
    }
    memcpy(sock_path, saved_sock, sizeof sock_path);
    memcpy(qmp_path, saved_qmp, sizeof qmp_path);
    backend = saved_backend;
}

/* ---- the packed ring: a back-end with --packed, a stats ring driven by hand ---- */

#define F_PACKED (1ull << 34)
#define PQNUM 6u /* not a power of two: a packed ring may have any size */
#define PD_AVAIL 0x0080u
#define PD_USED 0x8000u
#define DRIVER_AREA AVAIL /* the driver's event suppression area (SET_VRING_ADDR's avail) */
#define DEVICE_AREA USED  /* the device's (SET_VRING_ADDR's used) */

static uint16_t get16(const unsigned char *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static void put16(unsigned char *p, uint16_t v) { memcpy(p, &v, 2); }

/* The driver's side of a packed stats ring as Linux drives it: one descriptor per buffer, each
   in the next slot, AVAIL = the driver's wrap counter and USED = its inverse, flags written
   last; the device returns buffers in order, so its used position follows the same laps. */
typedef struct pring {
    unsigned posted, returned; /* descriptors made available, used descriptors seen */
    uint16_t id;               /* the id of the last buffer posted */
    int event_idx;             /* EVENT_IDX negotiated: kick only when the device area asks */
    unsigned kicks_skipped;    /* buffers the device area said need no kick */
} pring;

static unsigned lap_slot(unsigned n) { return n % PQNUM; }
static unsigned lap_wrap(unsigned n) { return 1u ^ ((n / PQNUM) & 1u); } /* a fresh ring: wrap 1 */

/* Linux's virtqueue_kick_prepare_packed() after one buffer: the device area (off_wrap, flags)
   read once; DESC with EVENT_IDX: kick iff the event index, moved back a ring if its wrap
   counter is not the driver's, was passed by this buffer (vring_need_event). */
static int linux_needs_kick(const pring *r)
{
    uint32_t area = get32(g(DEVICE_AREA));
    uint16_t off_wrap = (uint16_t)area, flags = (uint16_t)(area >> 16);
    uint16_t new_idx = (uint16_t)lap_slot(r->posted), old = (uint16_t)(new_idx - 1u), event = off_wrap & 0x7fffu;
    if (!r->event_idx || flags != 2) return flags != 1;
    if ((unsigned)(off_wrap >> 15) != lap_wrap(r->posted)) event = (uint16_t)(event - PQNUM);
    return (uint16_t)(new_idx - event - 1u) < (uint16_t)(new_idx - old);
}

static void packed_post(int kick, pring *r, uint64_t free_mem)
{
    unsigned char *d = g(DESC) + 16u * lap_slot(r->posted);
    uint64_t one = 1;
    stats_record(free_mem);
    r->id = (uint16_t)((r->posted * 5u + 3u) % PQNUM); /* ids vary, all below the size */
    put64(d, STATS);
    put32(d + 8, 20);
    put16(d + 12, r->id);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    put16(d + 14, (uint16_t)(lap_wrap(r->posted) ? PD_AVAIL : PD_USED));
    r->posted++;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (!linux_needs_kick(r)) {
        r->kicks_skipped++;
        return;
    }
    if (write(kick, &one, 8) != 8) die("kick");
}

/* A poll (interval 0 -> 1 polls at once, then 0 again): the held buffer must come back in the
   next used slot: id, len 0 (the device wrote nothing into it), flags AVAIL|USED for the
   device's wrap counter 1, 0 for 0; the call eventfd signalled. NULL if so, else what was wrong. */
static const char *packed_poll(int call, pring *r, char *why, size_t cap)
{
    const unsigned char *u = g(DESC) + 16u * lap_slot(r->returned);
    char out[1024];
    uint64_t v;
    uint16_t want = (uint16_t)(lap_wrap(r->returned) ? PD_AVAIL | PD_USED : 0);
    int signalled;
    qmp(SET_INTERVAL_1, out, sizeof out);
    signalled = wait_readable(call, WAIT_MS) && read(call, &v, 8) == 8;
    qmp(SET_INTERVAL_0, out, sizeof out);
    if (!signalled || get16(u + 14) != want || get16(u + 12) != r->id || get32(u + 8) != 0) {
        snprintf(why, cap, "descriptor %u (slot %u): %s; flags 0x%04x (want 0x%04x), id %u (want %u), len %u",
                 r->returned, lap_slot(r->returned), signalled ? "call signalled" : "NO call", get16(u + 14), want,
                 get16(u + 12), r->id, get32(u + 8));
        return why;
    }
    r->returned++;
    return NULL;
}

/* The stats buffer posted last was parsed: its free memory is in guest-stats. */
static int packed_parsed(uint64_t free_mem, char *out, size_t cap)
{
    char want[64];
    snprintf(want, sizeof want, "\"stat-free-memory\": %" PRIu64, free_mem);
    return qmp_until(GET_STATS, want, out, cap);
}

/* n stats rounds: poll, the used descriptor checked, a new buffer posted and parsed, the device
   area DISABLE while the device holds it and ENABLE (no EVENT_IDX) once it gave it back. */
static const char *packed_rounds(int kick, int call, pring *r, unsigned n, char *why, size_t cap)
{
    char out[4096];
    unsigned i;
    for (i = 0; i < n; i++) {
        uint64_t free_mem = (3000u + r->posted) * 4096ull;
        if (packed_poll(call, r, why, cap)) return why;
        if (get16(g(DEVICE_AREA) + 2) != (r->event_idx ? 2 : 0)) {
            snprintf(why, cap, "device area flags %u after the buffer came back (want %s)", get16(g(DEVICE_AREA) + 2),
                     r->event_idx ? "2, DESC" : "0, ENABLE");
            return why;
        }
        packed_post(kick, r, free_mem);
        if (!packed_parsed(free_mem, out, sizeof out)) {
            snprintf(why, cap, "descriptor %u (slot %u, wrap %u) not parsed: %.200s", r->posted - 1,
                     lap_slot(r->posted - 1), lap_wrap(r->posted - 1), out);
            return why;
        }
        if (get16(g(DEVICE_AREA) + 2) != 1) {
            snprintf(why, cap, "device area flags %u while the device holds the buffer (want 1, DISABLE)",
                     get16(g(DEVICE_AREA) + 2));
            return why;
        }
    }
    return NULL;
}

/* GET_VRING_BASE of the stats queue (it stops the ring); 0xffffffff if there was no reply. */
static uint32_t get_base(int fd)
{
    unsigned char p[8];
    put32(p, 2);
    put32(p + 4, 0);
    if (!send_msg(fd, GET_VRING_BASE, 1, p, 8, 0, 0) || !reply(fd, GET_VRING_BASE, p, 8) || get32(p) != 2)
        return 0xffffffffu;
    return get32(p + 4);
}

/* Restart the stopped stats ring at `base` (SET_VRING_BASE, then the addresses again). */
static int restart_at(int fd, uint32_t base)
{
    return vring_state(fd, SET_VRING_BASE, 2, base) &&
           vring_addr(fd, 2, UVA + (DESC - GPA), UVA + (DEVICE_AREA - GPA), UVA + (DRIVER_AREA - GPA));
}

static int log_count(const char *path, const char *what)
{
    char line[512];
    int n = 0;
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    while (fgets(line, sizeof line, f)) n += strstr(line, what) != NULL;
    fclose(f);
    return n;
}

static void test_packed(const char *bin)
{
    char saved_sock[sizeof sock_path], saved_qmp[sizeof qmp_path], log[160], why[512] = "", out[4096] = "";
    pid_t saved_backend = backend;
    pring r = {0, 0, 0, 0, 0}, re = {0, 0, 0, 1, 0};
    uint64_t f = 0;
    uint32_t base;
    int kick = -1, call = -1, chan = -1, fd, c, status, wraps_logged;
    const char *bad;

    /* the default back-end does not offer it (QEMU's packed=off) */
    c = unix_connect(sock_path);
    check("packed-not-offered-by-default", c >= 0 && get_u64(c, GET_FEATURES, &f) && !(f & F_PACKED), "");
    if (c >= 0) close(c);

    memcpy(saved_sock, sock_path, sizeof saved_sock);
    memcpy(saved_qmp, qmp_path, sizeof saved_qmp);
    snprintf(sock_path, sizeof sock_path, "%s/vb-packed.sock", dir);
    snprintf(qmp_path, sizeof qmp_path, "%s/qmp-packed.sock", dir);
    snprintf(log, sizeof log, "%s/backend-packed.log", dir);
    name_suffix = " (--packed)";
    backend = spawn_backend(bin, sock_path, qmp_path, log, "doc", "--packed");
    if (!alive()) {
        check("backend-starts", 0, bin);
        goto done;
    }
    c = unix_connect(sock_path);
    check("packed-offered", c >= 0 && get_u64(c, GET_FEATURES, &f) && (f & F_PACKED) && (f >> 32 & 1), "");
    if (c >= 0) close(c);

    /* RING_PACKED without VERSION_1: the device refuses FEATURES_OK, the session ends */
    c = unix_connect(sock_path);
    check("packed-without-version-1-refused",
          c >= 0 && set_u64(c, SET_PROTOCOL_FEATURES, PROTO) &&
              send_msg(c, SET_FEATURES, 1 | NEED_REPLY, (put64((unsigned char *)out, F_PACKED | (1ull << 30) | (1ull << 1)), out), 8, 0, 0) &&
              closed(c) && alive(),
          "SET_FEATURES 0x440000002 must end the connection");
    if (c >= 0) close(c);

    /* UML's handshake: base 0 (wrap 0 by vhost-user's encoding) for a fresh ring whose driver
       starts at wrap 1; a ring of 6 (not a power of two); no EVENT_IDX (the driver area stays
       ENABLE, 0 in fresh memory) */
    fd = start_ring(&kick, &call, &chan, F_SPLIT | F_PACKED, PQNUM, 0);
    check("packed-handshake", fd >= 0, "a step of the handshake was refused");
    if (fd < 0) goto stop;
    check("packed-negotiation-logged", log_count(log, "driver: features 0x540000002, protocol features 0x228 (packed rings)") == 1, log);
    packed_post(kick, &r, 4000 * 4096ull);
    check("packed-base-0-first-lap-descriptor-taken", packed_parsed(4000 * 4096ull, out, sizeof out), out);
    wraps_logged = log_count(log, "device info: packed ring:");
    check("packed-base-0-wrap-corrected-logged", wraps_logged == 1, "no (or more than one) device info line");
    check("packed-device-area-disable-while-held", get16(g(DEVICE_AREA) + 2) == 1, "");
    /* 15 rounds: descriptors 1..15, over the ring's end twice (6 slots) */
    bad = packed_rounds(kick, call, &r, 15, why, sizeof why);
    check("packed-rounds-wrap-twice", !bad, bad);
    /* stopped: the held buffer's descriptor (15 = slot 3 of the third lap, wrap 1) */
    base = get_base(fd);
    snprintf(why, sizeof why, "GET_VRING_BASE 0x%x, want 0x8003 (slot 3, wrap 1)", base);
    check("packed-get-vring-base-wrap-1", base == 0x8003u, why);
    /* restarted there, the device reads the held buffer again: a poll gives it back in slot 3 */
    bad = !restart_at(fd, base) ? "restart refused" : packed_poll(call, &r, why, sizeof why);
    check("packed-restart-rereads-held-buffer", !bad, bad);
    packed_post(kick, &r, 5000 * 4096ull);
    bad = packed_parsed(5000 * 4096ull, out, sizeof out) ? packed_rounds(kick, call, &r, 2, why, sizeof why) : out;
    check("packed-rounds-after-restart", !bad, bad);
    /* descriptor 18: slot 0 of the fourth lap, wrap 0: base 0 from a spec front-end, whose slot
       0 shows AVAIL=0 USED=1: the starting wrap rule must not take it for a fresh ring */
    base = get_base(fd);
    snprintf(why, sizeof why, "GET_VRING_BASE 0x%x, want 0 (slot 0, wrap 0)", base);
    check("packed-get-vring-base-wrap-0", base == 0, why);
    bad = !restart_at(fd, 0) ? "restart refused" : packed_poll(call, &r, why, sizeof why);
    check("packed-base-0-wrap-0-not-corrected", !bad && log_count(log, "device info: packed ring:") == wraps_logged,
          bad ? bad : "the rule fired for a ring at wrap 0");
    packed_post(kick, &r, 6000 * 4096ull);
    check("packed-stats-after-second-restart", packed_parsed(6000 * 4096ull, out, sizeof out), out);
    snprintf(why, sizeof why, "%u descriptors posted, %u returned", r.posted, r.returned);
    check("packed-no-device-error", log_count(log, "device error") == 0, why);
    printf("  measured: packed ring of %u: %u stats buffers posted, %u returned, %u wraps of the driver's counter\n",
           PQNUM, r.posted, r.returned, (r.posted - 1) / PQNUM);
    close(fd);
    close(kick);
    close(call);
    close(chan);
    munmap(mem, MEM_SIZE);
    check("alive-after-packed", alive(), "");

    /* With EVENT_IDX (UML takes it with the packed ring) the driver kicks only when the device
       area asks: after UML's base 0 the device must not ask for a kick at slot 0 of wrap 0,
       which a driver at wrap 1 reads as its second lap (it would never kick, as Linux 6.1
       does not). The driver decides as Linux does (linux_needs_kick). */
    fd = start_ring(&kick, &call, &chan, F_SPLIT | F_PACKED | (1ull << 29), PQNUM, 0);
    check("packed-event-idx-handshake", fd >= 0, "a step of the handshake was refused");
    if (fd < 0) goto stop;
    snprintf(why, sizeof why, "device area at the start: off_wrap 0x%04x, flags %u", get16(g(DEVICE_AREA)),
             get16(g(DEVICE_AREA) + 2));
    packed_post(kick, &re, 7000 * 4096ull);
    check("packed-event-idx-base-0-driver-kicks", re.kicks_skipped == 0 && packed_parsed(7000 * 4096ull, out, sizeof out),
          why);
    bad = re.kicks_skipped ? "no kick for the first buffer" : packed_rounds(kick, call, &re, 13, why, sizeof why);
    check("packed-event-idx-rounds-wrap-twice", !bad && re.kicks_skipped == 0, bad ? bad : "a buffer the driver did not kick for");
    printf("  measured: packed ring of %u with EVENT_IDX: %u stats buffers posted, %u kicks skipped\n", PQNUM,
           re.posted, re.kicks_skipped);
    close(fd);
    close(kick);
    close(call);
    close(chan);
    munmap(mem, MEM_SIZE);
stop:
    kill(backend, SIGTERM);
    check("backend-exits-cleanly", waitpid(backend, &status, 0) == backend && WIFEXITED(status) &&
          WEXITSTATUS(status) == 0, "");
done:
    name_suffix = "";
    if (!failed) {
        unlink(log);
        unlink(sock_path);
        unlink(qmp_path);
    } else {
        printf("  back-end log (--packed): %s\n", log);
    }
    memcpy(sock_path, saved_sock, sizeof sock_path);
    memcpy(qmp_path, saved_qmp, sizeof qmp_path);
    backend = saved_backend;
}

int main(int argc, char **argv)
{
    const char *bin = argc > 1 ? argv[1] : "build/vballoon-vhost-user";
    log_summary sum;
    int status;

    signal(SIGPIPE, SIG_IGN);
    snprintf(dir, sizeof dir, "/tmp/vb-vu-test.XXXXXX");
    if (!mkdtemp(dir)) die("mkdtemp");
    snprintf(sock_path, sizeof sock_path, "%s/vb.sock", dir);
    snprintf(qmp_path, sizeof qmp_path, "%s/qmp.sock", dir);
    snprintf(log_path, sizeof log_path, "%s/backend.log", dir);
    snprintf(seed_path, sizeof seed_path, "%s", getenv("SEED_COMMANDS") ? getenv("SEED_COMMANDS") : "tests/seed-commands.txt");
    backend = spawn_backend(bin, sock_path, qmp_path, log_path, "doc", NULL);
    if (!alive()) {
        check("backend-starts", 0, bin);
    } else {
        test_positive(); /* leaves stats behind: guest-stats answers with them */
        test_mem_table_change();
        test_run_state();
        test_seed_doc();
        qs_all(qmp_path, "qmp-");
        qs_unfinished(qmp_path, "qmp-", 66u << 20);
        qs_backlog(qmp_path, "qmp-", 16);
        test_malformed();
        test_sigbus();
        test_qemu_profile(bin);
        test_no_map(bin);
        test_packed(bin);
    }
    if (read_log(log_path, &sum)) { /* every refusal was logged with a reason; the SIGBUS was a device error */
        char detail[160];
        snprintf(detail, sizeof detail, "accesses: %llu mapped, %llu copied; pages replaced %d", sum.mapped,
                 sum.copied, sum.pages_replaced);
        check("refusals-logged", sum.reasons >= 30, "fewer refusals logged than malformed messages sent");
        check("sigbus-logged-as-device-error", sum.device_errors >= 1, "no device error in the log");
        /* the direct path: every access through a pointer, and the truncated page of a mapped
           ring replaced by zeros (not a crash, not a jump out of the device) */
        check("guest-memory-mapped-only", sum.mapped > 0 && sum.copied == 0, detail);
        check("sigbus-mapped-page-replaced", sum.pages_replaced == 1, detail);
    }
    { /* QMP quit: SHUTDOWN, the reply, then the back-end exits cleanly */
        static const char tail[] = "}, \"event\": \"SHUTDOWN\", \"data\": {\"guest\": false, "
                                   "\"reason\": \"host-qmp-quit\"}}\n" OK_EMPTY;
        char out[1024] = "";
        size_t n;
        int i, gone = 0;
        check("quit", qmp_n("{\"execute\": \"quit\"}\n", 2, out, sizeof out) && !strncmp(out, "{\"timestamp\": ", 14) &&
              (n = strlen(out)) > sizeof tail && !strcmp(out + n - (sizeof tail - 1), tail), out);
        for (i = 0; i < WAIT_MS / 20 && !gone; i++) {
            gone = waitpid(backend, &status, WNOHANG) == backend;
            if (!gone) usleep(20000);
        }
        if (!gone) { /* quit did not end it */
            kill(backend, SIGTERM);
            gone = waitpid(backend, &status, 0) == backend;
            check("quit-exits", 0, "the back-end was still running after quit");
        }
        if (gone) check("backend-exits-cleanly", WIFEXITED(status) && WEXITSTATUS(status) == 0, "");
    }
    if (failed) printf("  back-end log: %s\n", log_path);
    else {
        unlink(log_path);
        rmdir(dir);
    }
    printf("vhost-user: %d passed, %d failed\n", passed, failed);
    return failed != 0;
}
