/* qmp_client.c - a tiny QMP client for tests/uml_test.sh and examples/uml-vm.sh
   public domain (Unlicense) - see the end of vballoon.h

     qmp_client [-T] [--raw] [--timeout MS] SOCKET [COMMAND...]
         Connect, read the greeting, send qmp_capabilities (not with --raw: then the greeting
         is printed and the commands go out as they are), send each COMMAND and print its reply
         on one line. Events that arrive meanwhile are skipped. -T prefixes each reply with the
         CLOCK_MONOTONIC milliseconds at which it arrived.
     qmp_client --events [--timeout MS] SOCKET
         Negotiate, then print every event as "MS LINE" until MS passes (default 60 s) or EOF.
     qmp_client --watch [--timeout MS] [--every MS] [--until N] [--from STATE] [--path P] SOCKET
         Every --every ms (default 50) qom-get guest-stats; print
         "MS LAST_UPDATE MINOR_FAULTS FREE TOTAL" whenever that line (but MS) changes; "-" for
         values not there (an error reply). Stops after N changes following the first line
         (--until 0: the first line only), or when --timeout passes (default 10 s).
         --from "LAST_UPDATE MINOR_FAULTS FREE TOTAL": compare with that state instead of
         printing the first sample (changes since an earlier sample).
     qmp_client --shell SOCKET
         Interactive: negotiate, then copy stdin to the monitor (commands may span lines, as
         pasted from the seed document) and print everything it sends, events included.
         At the end of input (Ctrl-D) the remaining replies are printed until the monitor
         closes. No timeout.
     qmp_client --now
         Print CLOCK_MONOTONIC in ms (the clock of every MS above).
   Exit status: 0 ok, 1 I/O error or timeout, 2 usage. Every wait has a deadline. */
#define _GNU_SOURCE /* NOLINT(cert-dcl51-cpp): glibc feature macro */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static int fd = -1;
static char buf[1 << 16];
static size_t have;
static uint64_t deadline;

static uint64_t now_ms(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) {
        perror("clock_gettime");
        exit(1);
    }
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void fail(const char *what)
{
    fprintf(stderr, "qmp_client: %s%s%s\n", what, errno ? ": " : "", errno ? strerror(errno) : "");
    exit(1);
}

/* One line (without CR LF) into `line`; 0 on timeout or EOF. */
static int read_line(char *line, size_t cap)
{
    for (;;) {
        char *nl = memchr(buf, '\n', have);
        struct pollfd p;
        uint64_t now;
        ssize_t n;
        int r;
        if (nl) {
            size_t len = (size_t)(nl - buf);
            size_t keep = len && buf[len - 1] == '\r' ? len - 1 : len;
            if (keep >= cap) keep = cap - 1;
            memcpy(line, buf, keep);
            line[keep] = 0;
            memmove(buf, nl + 1, have - len - 1);
            have -= len + 1;
            return 1;
        }
        if (have == sizeof buf) {
            errno = 0;
            fail("line too long");
        }
        now = now_ms();
        if (now >= deadline) return 0;
        p.fd = fd;
        p.events = POLLIN;
        r = poll(&p, 1, (int)(deadline - now));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) fail("poll");
        if (r == 0) return 0;
        n = read(fd, buf + have, sizeof buf - have);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) fail("read");
        if (n == 0) return 0;
        have += (size_t)n;
    }
}

static void send_line(const char *s)
{
    size_t len = strlen(s), off = 0;
    while (off < len) {
        ssize_t n = send(fd, s + off, len - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) fail("send");
        off += (size_t)n;
    }
    if (send(fd, "\n", 1, MSG_NOSIGNAL) != 1) fail("send");
}

/* The next line that is not an event. */
static int read_reply(char *line, size_t cap)
{
    while (read_line(line, cap))
        if (!strstr(line, "\"event\"") || strstr(line, "\"return\"") || strstr(line, "\"error\"")) return 1;
    return 0;
}

static void connect_to(const char *path)
{
    struct sockaddr_un sa;
    if (strlen(path) >= sizeof sa.sun_path) {
        errno = 0;
        fail("socket path too long");
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) fail("socket");
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) fail(path);
}

static void negotiate(void)
{
    static char line[1 << 16];
    errno = 0;
    if (!read_line(line, sizeof line) || !strstr(line, "\"QMP\"")) fail("no QMP greeting");
    send_line("{\"execute\": \"qmp_capabilities\"}");
    if (!read_reply(line, sizeof line) || strcmp(line, "{\"return\": {}}") != 0) fail("qmp_capabilities refused");
}

/* The number after "key": in s, into out (as text); "-" if absent. */
static void field(const char *s, const char *key, char *out, size_t cap)
{
    char pat[64];
    const char *p;
    size_t n = 0;
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    p = strstr(s, pat);
    if (!p) {
        snprintf(out, cap, "-");
        return;
    }
    p += strlen(pat);
    while ((p[n] == '-' || (p[n] >= '0' && p[n] <= '9')) && n + 1 < cap) n++;
    memcpy(out, p, n);
    out[n] = 0;
}

static uint64_t number(const char *s)
{
    char *end;
    unsigned long long v;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || *end || !*s) {
        fprintf(stderr, "qmp_client: bad number %s\n", s);
        exit(2);
    }
    return (uint64_t)v;
}

int main(int argc, char **argv)
{
    static char line[1 << 16];
    enum { COMMANDS, EVENTS, WATCH, SHELL } mode = COMMANDS;
    uint64_t timeout = 0, every = 50, until = UINT64_MAX;
    const char *path = "/machine/peripheral/balloon0", *from = NULL;
    int stamp = 0, raw = 0, i = 1;

    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--now")) {
            printf("%" PRIu64 "\n", now_ms());
            return 0;
        } else if (!strcmp(a, "-T")) stamp = 1;
        else if (!strcmp(a, "--raw")) raw = 1;
        else if (!strcmp(a, "--events")) mode = EVENTS;
        else if (!strcmp(a, "--watch")) mode = WATCH;
        else if (!strcmp(a, "--shell")) mode = SHELL;
        else if (!strcmp(a, "--timeout") && i + 1 < argc) timeout = number(argv[++i]);
        else if (!strcmp(a, "--every") && i + 1 < argc) every = number(argv[++i]);
        else if (!strcmp(a, "--until") && i + 1 < argc) until = number(argv[++i]);
        else if (!strcmp(a, "--path") && i + 1 < argc) path = argv[++i];
        else if (!strcmp(a, "--from") && i + 1 < argc) from = argv[++i];
        else {
            fprintf(stderr, "qmp_client: unknown option %s\n", a);
            return 2;
        }
    }
    if (i >= argc) {
        fprintf(stderr, "usage: qmp_client [-T] [--raw] [--events|--watch|--shell] [--timeout MS] SOCKET [COMMAND...]\n");
        return 2;
    }
    if (!timeout) timeout = mode == EVENTS ? 60000 : 10000;
    deadline = now_ms() + timeout;
    connect_to(argv[i++]);

    if (mode == COMMANDS) {
        if (raw) {
            errno = 0;
            if (!read_line(line, sizeof line)) fail("no greeting");
            printf("%s\n", line);
        } else {
            negotiate();
        }
        for (; i < argc; i++) {
            send_line(argv[i]);
            errno = 0;
            if (!read_reply(line, sizeof line)) fail("no reply");
            if (stamp) printf("%" PRIu64 " ", now_ms());
            printf("%s\n", line);
            fflush(stdout);
        }
        return 0;
    }
    negotiate();
    if (mode == SHELL) {
        printf("(capabilities negotiated; type or paste QMP commands, Ctrl-D ends)\n");
        fflush(stdout);
        int in_open = 1;
        for (;;) {
            struct pollfd p[2] = {{STDIN_FILENO, POLLIN, 0}, {fd, POLLIN, 0}};
            if (!in_open) p[0].fd = -1;
            char chunk[4096];
            ssize_t n;
            if (have) { /* the rest of what negotiate() read */
                if (fwrite(buf, 1, have, stdout) != have) fail("stdout");
                have = 0;
                fflush(stdout);
            }
            if (poll(p, 2, -1) < 0) {
                if (errno == EINTR) continue;
                fail("poll");
            }
            if (p[1].revents) {
                n = read(fd, chunk, sizeof chunk);
                if (n <= 0) return n < 0;
                if (fwrite(chunk, 1, (size_t)n, stdout) != (size_t)n) fail("stdout");
                fflush(stdout);
            }
            if (p[0].revents) {
                size_t off = 0;
                n = read(STDIN_FILENO, chunk, sizeof chunk);
                if (n < 0) fail("read stdin");
                if (n == 0) { /* the end of input: the replies still come, then the close */
                    in_open = 0;
                    if (shutdown(fd, SHUT_WR) != 0) fail("shutdown");
                    continue;
                }
                while (off < (size_t)n) {
                    ssize_t w = send(fd, chunk + off, (size_t)n - off, MSG_NOSIGNAL);
                    if (w < 0 && errno == EINTR) continue;
                    if (w < 0) fail("send");
                    off += (size_t)w;
                }
            }
        }
    }
    if (mode == EVENTS) {
        while (read_line(line, sizeof line)) {
            printf("%" PRIu64 " %s\n", now_ms(), line);
            fflush(stdout);
        }
        return 0;
    }
    {
        char cmd[512], prev[256] = "", cur[256], lu[32], mf[32], fr[32], tot[32];
        uint64_t changes = 0, next = now_ms();
        int first = 1;
        if (from) { /* a state seen earlier: every sample that differs from it is a change */
            snprintf(prev, sizeof prev, "%s", from);
            first = 0;
        }
        snprintf(cmd, sizeof cmd,
                 "{\"execute\": \"qom-get\", \"arguments\": {\"path\": \"%s\", \"property\": \"guest-stats\"}}",
                 path);
        while (now_ms() < deadline) {
            uint64_t t;
            send_line(cmd);
            errno = 0;
            if (!read_reply(line, sizeof line)) fail("no reply");
            t = now_ms();
            field(line, "last-update", lu, sizeof lu);
            field(line, "stat-minor-faults", mf, sizeof mf);
            field(line, "stat-free-memory", fr, sizeof fr);
            field(line, "stat-total-memory", tot, sizeof tot);
            snprintf(cur, sizeof cur, "%s %s %s %s", lu, mf, fr, tot);
            if (first || strcmp(cur, prev) != 0) {
                printf("%" PRIu64 " %s\n", t, cur);
                fflush(stdout);
                if (!first) changes++;
                first = 0;
                memcpy(prev, cur, sizeof prev);
                if (changes >= until) return 0;
            }
            next += every;
            t = now_ms();
            if (next > t) usleep((useconds_t)((next - t) * 1000u));
        }
        return 0;
    }
}
