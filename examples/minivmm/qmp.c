/* qmp.c - minivmm-qmp: a tiny QMP client for the mini-VMM's socket (no socat or python needed)
   public domain (Unlicense) - see the end of vballoon.h

   usage: minivmm-qmp [--raw] [--greeting] SOCKET [COMMAND | @sleep:SECONDS]...

   Connects to the unix socket SOCKET (waiting up to 5 s for it to appear), reads the greeting
   (printed with --greeting), sends qmp_capabilities (not with --raw), then sends each COMMAND
   as given (a JSON text, may span lines) and prints its one-line reply; events are skipped.
   @sleep:S pauses with the connection open. Every read times out after 10 s (exit status 2). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static int fd;
static char buf[65536];
static size_t len;

static void die(const char *what)
{
    fprintf(stderr, "minivmm-qmp: %s: %s\n", what, errno ? strerror(errno) : "failed");
    exit(2);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {}
}

/* The next line from the socket (without its '\n'), NUL-terminated in `out`. */
static void read_line(char *out, size_t cap)
{
    for (;;) {
        char *nl = memchr(buf, '\n', len);
        ssize_t n;
        if (nl) {
            size_t l = (size_t)(nl - buf);
            if (l >= cap) l = cap - 1;
            memcpy(out, buf, l);
            out[l] = 0;
            len -= (size_t)(nl - buf) + 1;
            memmove(buf, nl + 1, len);
            return;
        }
        if (len == sizeof buf) die("line too long");
        n = recv(fd, buf + len, sizeof buf - len, 0);
        if (n == 0) {
            errno = 0;
            die("connection closed");
        }
        if (n < 0) die(errno == EAGAIN ? "timed out waiting for a reply" : "recv");
        len += (size_t)n;
    }
}

/* Send one command; return its reply (the next line that is not an event). */
static void command(const char *cmd, char *out, size_t cap)
{
    size_t n = strlen(cmd), off = 0;
    while (off < n) {
        ssize_t w = send(fd, cmd + off, n - off, MSG_NOSIGNAL);
        if (w < 0) die("send");
        off += (size_t)w;
    }
    if (send(fd, "\n", 1, MSG_NOSIGNAL) != 1) die("send");
    do read_line(out, cap);
    while (strncmp(out, "{\"timestamp\"", 12) == 0 || strncmp(out, "{\"event\"", 8) == 0);
}

int main(int argc, char **argv)
{
    static char line[65536];
    struct sockaddr_un a;
    struct timeval tv = {10, 0};
    int i = 1, raw = 0, greeting = 0, tries;
    for (; i < argc && argv[i][0] == '-' && argv[i][1] == '-'; i++) {
        if (!strcmp(argv[i], "--raw")) raw = 1;
        else if (!strcmp(argv[i], "--greeting")) greeting = 1;
        else break;
    }
    if (i >= argc) {
        fputs("usage: minivmm-qmp [--raw] [--greeting] SOCKET [COMMAND | @sleep:SECONDS]...\n", stderr);
        return 2;
    }
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    if (strlen(argv[i]) >= sizeof a.sun_path) die("socket path too long");
    strcpy(a.sun_path, argv[i++]);
    for (tries = 0;; tries++) {
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) die("socket");
        if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0) break;
        if (tries == 50) die(a.sun_path);
        close(fd);
        sleep_ms(100);
    }
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0) die("setsockopt");
    read_line(line, sizeof line);
    if (greeting) puts(line);
    if (!raw) {
        command("{\"execute\": \"qmp_capabilities\"}", line, sizeof line);
        if (strcmp(line, "{\"return\": {}}")) {
            fprintf(stderr, "minivmm-qmp: qmp_capabilities: %s\n", line);
            return 2;
        }
    }
    for (; i < argc; i++) {
        if (!strncmp(argv[i], "@sleep:", 7)) {
            sleep_ms((long)(atof(argv[i] + 7) * 1000.0));
            continue;
        }
        command(argv[i], line, sizeof line);
        puts(line);
        fflush(stdout);
    }
    close(fd);
    return 0;
}
