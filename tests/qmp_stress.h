/* qmp_stress.h - flow-control tests of a QMP unix socket: many commands, long commands, slow
   readers. Included by tests/vhost_user_test.c (the vhost-user back-end) and tests/qmp_stress.c
   (build/qmp-stress, for the simulator's --qmp socket and the mini-VMM's, or QEMU's -qmp for
   comparison). public domain (Unlicense) - see the end of vballoon.h

   The includer defines, before including it:
       WAIT_MS                       the longest wait for any one step (ms)
       check(name, ok, detail)       counts a check; prints "FAIL name" and the detail if !ok
   and links with -pthread.

   qs_all(socket, prefix) runs every test (qs_second_client needs a server that serves two
   clients at once, which QEMU does not: run the others one by one against it):
     pipelined       20,000 qom-get guest-stats written by one thread while another reads
     burst           1,000 qom-get guest-stats written at once, read only once all are written:
                     the server must take them all in (it may stop reading only when its own
                     output is backed up, and 1,000 replies are well under that)
     long-id         a command with a 1 MiB "id", echoed in its reply byte for byte
     second-client   a client that writes 20,000 commands without reading is backed up; a
                     second client meanwhile gets every answer; then the first reads and gets
                     all 20,000, in order
   Every reply must carry the id of its command, in order; an event line is skipped. A step that
   waits gives up after WAIT_MS without progress; nothing is timed as an assertion. Each test
   prints "  measured: ..." with its reply count and time. */
#ifndef QMP_STRESS_H
#define QMP_STRESS_H

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define QS_PATH "/machine/peripheral/balloon0"
#define QS_STATS_CMD "{\"execute\": \"qom-get\", \"arguments\": {\"path\": \"" QS_PATH "\", \"property\": \"guest-stats\"}, \"id\": %u}\n"

typedef struct qs_conn {
    int fd;
    char *buf;                /* bytes received, not yet returned as lines: buf[start, len) */
    size_t start, len, cap;
} qs_conn;

static uint64_t qs_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void qs_close(qs_conn *c)
{
    if (c->fd >= 0) close(c->fd);
    free(c->buf);
    c->fd = -1;
    c->buf = NULL;
    c->start = c->len = c->cap = 0;
}

/* The next line that is not an event, without its line end (CR LF or LF), NUL-terminated in
   place; valid until the next call. NULL on EOF, an error, or WAIT_MS without a byte. */
static char *qs_line(qs_conn *c, size_t *out_len)
{
    for (;;) {
        char *nl = c->len > c->start ? (char *)memchr(c->buf + c->start, '\n', c->len - c->start) : NULL;
        struct pollfd p;
        ssize_t n;
        if (nl) {
            char *line = c->buf + c->start;
            size_t l = (size_t)(nl - line);
            c->start += l + 1;
            if (l && line[l - 1] == '\r') l--;
            line[l] = 0;
            if (strncmp(line, "{\"timestamp\"", 12) == 0 && strstr(line, "\"event\"")) continue;
            if (out_len) *out_len = l;
            return line;
        }
        if (c->start) { /* keep the unfinished line at the front */
            memmove(c->buf, c->buf + c->start, c->len - c->start);
            c->len -= c->start;
            c->start = 0;
        }
        if (c->cap - c->len < 65536) {
            size_t cap = c->cap ? c->cap * 2 : 1u << 20;
            char *b = (char *)realloc(c->buf, cap);
            if (!b) return NULL;
            c->buf = b;
            c->cap = cap;
        }
        p.fd = c->fd;
        p.events = POLLIN;
        p.revents = 0;
        if (poll(&p, 1, WAIT_MS) <= 0) return NULL;
        do n = recv(c->fd, c->buf + c->len, c->cap - c->len - 1, 0);
        while (n < 0 && errno == EINTR);
        if (n <= 0) return NULL;
        c->len += (size_t)n;
    }
}

/* Send all of data; gives up when the socket takes nothing for stall_ms. Returns bytes sent. */
static size_t qs_send(int fd, const char *data, size_t len, int stall_ms)
{
    size_t off = 0;
    while (off < len) {
        ssize_t n = send(fd, data + off, len - off, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            off += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd p;
            p.fd = fd;
            p.events = POLLOUT;
            p.revents = 0;
            if (poll(&p, 1, stall_ms) <= 0) break;
        } else {
            break;
        }
    }
    return off;
}

/* Connect (the server may still be starting), read the greeting, negotiate. */
static int qs_open(qs_conn *c, const char *path)
{
    static const char caps[] = "{\"execute\": \"qmp_capabilities\"}\n";
    struct sockaddr_un sa;
    uint64_t deadline = qs_now_ms() + WAIT_MS;
    char *line;
    memset(c, 0, sizeof *c);
    c->fd = -1;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sa.sun_path) return 0;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    for (;;) {
        c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (c->fd < 0) return 0;
        if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) == 0) break;
        close(c->fd);
        c->fd = -1;
        if (qs_now_ms() >= deadline) return 0;
        usleep(20000);
    }
    line = qs_line(c, NULL);
    if (!line || !strstr(line, "\"QMP\"")) return 0;
    if (qs_send(c->fd, caps, sizeof caps - 1, WAIT_MS) != sizeof caps - 1) return 0;
    line = qs_line(c, NULL);
    return line && !strcmp(line, "{\"return\": {}}");
}

/* n commands qom-get guest-stats with ids first, first + 1, ...; *len gets their size. */
static char *qs_commands(unsigned first, unsigned n, size_t *len)
{
    size_t cap = (size_t)n * 160u + 1u, off = 0;
    char *b = (char *)malloc(cap);
    unsigned i;
    if (!b) return NULL;
    for (i = 0; i < n; i++) off += (size_t)snprintf(b + off, cap - off, QS_STATS_CMD, first + i);
    *len = off;
    return b;
}

/* The reply to the command with id `id`: an object with "return" or "error" and that "id" (QEMU
   writes it last after "return", first before "error"). */
static int qs_reply_ok(const char *line, size_t len, unsigned id)
{
    char head[32], tail[32];
    int h = snprintf(head, sizeof head, "{\"id\": %u, \"error\": ", id);
    int t = snprintf(tail, sizeof tail, ", \"id\": %u}", id);
    if (!strncmp(line, head, (size_t)h)) return 1;
    return (!strncmp(line, "{\"return\": ", 11) || !strncmp(line, "{\"error\": ", 10)) && len > (size_t)t &&
           !memcmp(line + len - (size_t)t, tail, (size_t)t);
}

/* Read replies for ids first .. first + n - 1 in order: how many came right before anything else. */
static unsigned qs_read_replies(qs_conn *c, unsigned first, unsigned n, char *why, size_t why_cap)
{
    unsigned i;
    for (i = 0; i < n; i++) {
        size_t len;
        char *line = qs_line(c, &len);
        if (!line) {
            snprintf(why, why_cap, "reply %u of %u: connection closed or nothing for %d ms", i + 1, n, WAIT_MS);
            return i;
        }
        if (!qs_reply_ok(line, len, first + i)) {
            snprintf(why, why_cap, "reply %u of %u is not the reply to id %u: %.160s", i + 1, n, first + i, line);
            return i;
        }
    }
    return n;
}

typedef struct qs_writer {
    int fd;
    const char *data;
    size_t len, sent;
} qs_writer;

static void *qs_writer_main(void *arg)
{
    qs_writer *w = (qs_writer *)arg;
    w->sent += qs_send(w->fd, w->data + w->sent, w->len - w->sent, WAIT_MS);
    return NULL;
}

/* 20,000 commands from a writer thread while this thread reads the replies. */
static void qs_pipelined(const char *path, const char *prefix, unsigned n)
{
    char name[96], why[256] = "";
    qs_conn c;
    qs_writer w;
    pthread_t t;
    unsigned got = 0;
    uint64_t t0;
    snprintf(name, sizeof name, "%spipelined-%u", prefix, n);
    if (!qs_open(&c, path)) {
        check(name, 0, "cannot connect and negotiate");
        qs_close(&c);
        return;
    }
    memset(&w, 0, sizeof w);
    w.fd = c.fd;
    w.data = qs_commands(0, n, &w.len);
    t0 = qs_now_ms();
    if (w.data && pthread_create(&t, NULL, qs_writer_main, &w) == 0) {
        got = qs_read_replies(&c, 0, n, why, sizeof why);
        if (got < n) shutdown(c.fd, SHUT_RDWR); /* unblocks the writer */
        pthread_join(t, NULL);
    }
    printf("  measured: %s: %u of %u replies in %.3f s\n", name, got, n, (double)(qs_now_ms() - t0) / 1e3);
    check(name, got == n, why);
    free((void *)(uintptr_t)w.data);
    qs_close(&c);
}

/* Wait until the bytes waiting to be read on fd stop growing for 300 ms (the server has sent
   all it is going to before we read), or WAIT_MS. Returns those bytes. */
static int qs_settle(int fd)
{
    uint64_t end = qs_now_ms() + WAIT_MS, still = qs_now_ms();
    int last = -1;
    while (qs_now_ms() < end && qs_now_ms() - still < 300) {
        int n = 0;
        if (ioctl(fd, FIONREAD, &n) != 0) break;
        if (n != last) {
            last = n;
            still = qs_now_ms();
        }
        usleep(10000);
    }
    return last;
}

/* n commands written at once; the replies are read a moment later, once the server has sent
   all it would before anything is read. */
static void qs_burst(const char *path, const char *prefix, unsigned n)
{
    char name[96], why[256] = "";
    qs_conn c;
    size_t len = 0, sent = 0;
    char *cmds;
    unsigned got = 0;
    uint64_t t0, t1 = 0;
    int waiting = 0;
    snprintf(name, sizeof name, "%sburst-%u-then-read", prefix, n);
    if (!qs_open(&c, path)) {
        check(name, 0, "cannot connect and negotiate");
        qs_close(&c);
        return;
    }
    cmds = qs_commands(0, n, &len);
    t0 = qs_now_ms();
    if (cmds) sent = qs_send(c.fd, cmds, len, WAIT_MS);
    if (sent == len) {
        waiting = qs_settle(c.fd);
        t1 = qs_now_ms();
        got = qs_read_replies(&c, 0, n, why, sizeof why);
    } else {
        snprintf(why, sizeof why, "the server stopped reading after %zu of %zu bytes of commands", sent, len);
    }
    printf("  measured: %s: %zu bytes written and %d bytes of replies waiting after %.3f s, then %u of %u "
           "replies in %.3f s\n", name, sent, waiting, (double)(t1 - t0) / 1e3, got, n,
           t1 ? (double)(qs_now_ms() - t1) / 1e3 : 0.0);
    check(name, got == n, why);
    free(cmds);
    qs_close(&c);
}

/* A command with an "id" of `size` bytes (a string of letters): echoed byte for byte. */
static void qs_long_id(const char *path, const char *prefix, size_t size)
{
    static const char head[] = "{\"execute\": \"query-balloon\", \"id\": \"";
    char name[96], why[256] = "";
    qs_conn c;
    size_t len = sizeof head - 1 + size + 3, i, rlen = 0;
    char *cmd = (char *)malloc(len + 1), *line = NULL;
    int ok = 0;
    uint64_t t0 = qs_now_ms();
    snprintf(name, sizeof name, "%sid-of-%zu-bytes-echoed", prefix, size);
    if (!cmd || !qs_open(&c, path)) {
        check(name, 0, "cannot connect and negotiate");
        if (cmd) qs_close(&c);
        free(cmd);
        return;
    }
    memcpy(cmd, head, sizeof head - 1);
    for (i = 0; i < size; i++) cmd[sizeof head - 1 + i] = (char)('a' + i % 26u);
    memcpy(cmd + len - 3, "\"}\n", 3);
    if (qs_send(c.fd, cmd, len, WAIT_MS) != len) {
        snprintf(why, sizeof why, "the server stopped reading the command");
    } else if (!(line = qs_line(&c, &rlen))) {
        snprintf(why, sizeof why, "no reply (connection closed or nothing for %d ms)", WAIT_MS);
    } else {
        /* {"return": {...}, "id": "<the id>"} or {"id": "<the id>", "error": {...}} */
        const char *want = cmd + sizeof head - 1, *id = NULL;
        if (!strncmp(line, "{\"id\": \"", 8) && rlen > size + 8 && !memcmp(line + 8 + size, "\", \"error\": ", 12))
            id = line + 8;
        else if (!strncmp(line, "{\"return\": ", 11) && rlen > size + 11 && !strcmp(line + rlen - 2, "\"}") &&
                 !memcmp(line + rlen - size - 11, ", \"id\": \"", 9))
            id = line + rlen - size - 2;
        ok = id && !memcmp(id, want, size);
        if (!ok) snprintf(why, sizeof why, "reply of %zu bytes: %.80s ... %.40s", rlen, line, rlen > 40 ? line + rlen - 40 : line);
    }
    if (ok) { /* and the connection goes on */
        static const char q[] = "{\"execute\": \"query-balloon\", \"id\": 7}\n";
        size_t l2;
        char *l = qs_send(c.fd, q, sizeof q - 1, WAIT_MS) == sizeof q - 1 ? qs_line(&c, &l2) : NULL;
        ok = l && qs_reply_ok(l, l2, 7);
        if (!ok) snprintf(why, sizeof why, "the next command got no reply");
    }
    printf("  measured: %s: reply of %zu bytes in %.3f s\n", name, rlen, (double)(qs_now_ms() - t0) / 1e3);
    check(name, ok, why);
    free(cmd);
    qs_close(&c);
}

/* A writes n commands and reads nothing until the server stops reading it (its output is backed
   up); B meanwhile gets its answers; then A reads all n replies while it writes the rest. */
static void qs_second_client(const char *path, const char *prefix, unsigned n)
{
    char name[96], why[256] = "";
    qs_conn a, b;
    qs_writer w;
    pthread_t t;
    unsigned got = 0, i, b_ok = 0;
    uint64_t t0;
    int stalled;
    snprintf(name, sizeof name, "%ssecond-client-while-first-backed-up", prefix);
    if (!qs_open(&a, path)) {
        check(name, 0, "cannot connect and negotiate (first client)");
        qs_close(&a);
        return;
    }
    memset(&w, 0, sizeof w);
    w.fd = a.fd;
    w.data = qs_commands(0, n, &w.len);
    if (!w.data) {
        qs_close(&a);
        return;
    }
    t0 = qs_now_ms();
    /* until the socket takes nothing for a second: the server no longer reads A (or is slow,
       which only makes the rest of the test weaker, not wrong) */
    w.sent = qs_send(a.fd, w.data, w.len, 1000);
    stalled = w.sent < w.len;
    if (!qs_open(&b, path)) {
        snprintf(why, sizeof why, "the second client could not connect and negotiate");
    } else {
        for (i = 0; i < 5; i++) {
            char cmd[96];
            size_t l;
            char *line;
            int k = snprintf(cmd, sizeof cmd, "{\"execute\": \"query-balloon\", \"id\": %u}\n", 900000u + i);
            if (qs_send(b.fd, cmd, (size_t)k, WAIT_MS) != (size_t)k || !(line = qs_line(&b, &l)) ||
                !qs_reply_ok(line, l, 900000u + i))
                break;
            b_ok++;
        }
        if (b_ok < 5) snprintf(why, sizeof why, "the second client got %u of 5 answers", b_ok);
    }
    qs_close(&b);
    if (pthread_create(&t, NULL, qs_writer_main, &w) == 0) {
        char why_a[256] = "";
        got = qs_read_replies(&a, 0, n, why_a, sizeof why_a);
        if (got < n) {
            shutdown(a.fd, SHUT_RDWR);
            if (!why[0]) snprintf(why, sizeof why, "first client: %s", why_a);
        }
        pthread_join(t, NULL);
    }
    printf("  measured: %s: the first client %s; second client %u of 5 answers; then the first got %u of %u "
           "replies, %.3f s in all\n",
           name, stalled ? "was backed up" : "was never backed up (all its commands went in)", b_ok, got, n,
           (double)(qs_now_ms() - t0) / 1e3);
    check(name, b_ok == 5 && got == n, why);
    free((void *)(uintptr_t)w.data);
    qs_close(&a);
}

/* The documented hard limit: an unfinished message (an object left open, then `size` bytes of
   whitespace) makes the server close the connection; a new client is served afterwards. */
static void qs_unfinished(const char *path, const char *prefix, size_t size)
{
    static const char head[] = "{\"execute\": \"query-balloon\", \"arguments\": {";
    char name[96], why[256] = "";
    qs_conn c, d;
    size_t sent = 0, chunk = 1u << 20;
    char *spaces = (char *)malloc(chunk);
    int closed = 0;
    uint64_t t0 = qs_now_ms();
    snprintf(name, sizeof name, "%sunfinished-message-of-%zu-MiB-closed", prefix, size >> 20);
    if (!spaces || !qs_open(&c, path)) {
        check(name, 0, "cannot connect and negotiate");
        if (spaces) qs_close(&c);
        free(spaces);
        return;
    }
    memset(spaces, ' ', chunk);
    if (qs_send(c.fd, head, sizeof head - 1, WAIT_MS) == sizeof head - 1)
        while (sent < size) {
            size_t n = qs_send(c.fd, spaces, size - sent < chunk ? size - sent : chunk, WAIT_MS);
            sent += n;
            if (n < chunk && sent < size) break; /* closed (EPIPE), or it stopped reading */
        }
    for (;;) { /* EOF (or a reset) within WAIT_MS, and no reply before it */
        char b[256];
        struct pollfd p;
        ssize_t n;
        p.fd = c.fd;
        p.events = POLLIN;
        p.revents = 0;
        if (poll(&p, 1, WAIT_MS) <= 0) break;
        n = recv(c.fd, b, sizeof b, 0);
        closed = n == 0 || (n < 0 && errno == ECONNRESET);
        if (n != 0 && !(n < 0 && errno == EINTR)) break;
        if (closed) break;
    }
    if (!closed) snprintf(why, sizeof why, "still open after %zu bytes of whitespace", sent);
    qs_close(&c);
    if (closed && !qs_open(&d, path)) {
        closed = 0;
        snprintf(why, sizeof why, "no new client served afterwards");
    }
    if (closed) qs_close(&d);
    printf("  measured: %s: %zu bytes sent, closed after %.3f s\n", name, sent, (double)(qs_now_ms() - t0) / 1e3);
    check(name, closed, why);
    free(spaces);
}

/* `n` clients at once, each greeted; one more waits in the listen backlog, not greeted (for
   half a second: a loaded machine only makes that likelier) and not refused, and is greeted as
   soon as one of the others leaves: QEMU's way with a second client of its -qmp socket. */
static void qs_backlog(const char *path, const char *prefix, unsigned n)
{
    char name[96], why[256] = "";
    qs_conn *c = (qs_conn *)calloc(n + 1, sizeof *c), extra;
    struct sockaddr_un sa;
    struct pollfd p;
    unsigned i, open = 0;
    int ok = c != NULL;
    char *line;
    snprintf(name, sizeof name, "%s%u-clients-then-one-waits-in-the-backlog", prefix, n);
    for (i = 0; ok && i < n; i++) {
        ok = qs_open(&c[i], path);
        open = i + 1;
        if (!ok) snprintf(why, sizeof why, "client %u of %u not served", i + 1, n);
    }
    memset(&extra, 0, sizeof extra);
    extra.fd = -1;
    if (ok) { /* connects (into the backlog) but gets no greeting */
        memset(&sa, 0, sizeof sa);
        sa.sun_family = AF_UNIX;
        memcpy(sa.sun_path, path, strlen(path) + 1);
        extra.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ok = extra.fd >= 0 && connect(extra.fd, (struct sockaddr *)&sa, sizeof sa) == 0;
        if (!ok) snprintf(why, sizeof why, "client %u refused (%s)", n + 1, strerror(errno));
    }
    if (ok) {
        p.fd = extra.fd;
        p.events = POLLIN;
        p.revents = 0;
        ok = poll(&p, 1, 500) == 0;
        if (!ok) snprintf(why, sizeof why, "client %u served (or closed) while %u others are", n + 1, n);
    }
    if (ok) { /* one leaves: the waiting one is greeted */
        qs_close(&c[0]);
        line = qs_line(&extra, NULL);
        ok = line && strstr(line, "\"QMP\"") != NULL;
        if (!ok) snprintf(why, sizeof why, "client %u not greeted after another left", n + 1);
    }
    check(name, ok, why);
    qs_close(&extra);
    for (i = 0; i < open; i++) qs_close(&c[i]);
    free(c);
}

static void qs_all(const char *path, const char *prefix)
{
    qs_pipelined(path, prefix, 20000);
    qs_burst(path, prefix, 1000);
    qs_long_id(path, prefix, 1u << 20);
    qs_second_client(path, prefix, 20000);
}

#endif /* QMP_STRESS_H */
