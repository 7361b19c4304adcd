/* metrics_http.h - GET /metrics for the examples: a tiny non-blocking HTTP/1.1 responder
   public domain (Unlicense) - see the end of vballoon.h

   Both example programs (sim.c, vhost-user-balloon.c) include this file after vballoon.h to
   serve vb_render_metrics() to a Prometheus server with `--metrics ADDR`. It is written to be
   read: the whole of what a scrape target needs, and no more, with POSIX sockets and no library.

   WHAT IT DOES
       ADDR             PORT or 127.0.0.1:PORT (TCP on the loopback address only: the endpoint
                        has no authentication, and says how much memory a guest uses; put a
                        proxy in front of it to reach it from elsewhere. PORT 0: the kernel
                        picks one) or unix:PATH. Once listening it prints one line on stderr,
                        "metrics: listening on 127.0.0.1:40123" or "metrics: listening on
                        unix:PATH", so that a script can start it on port 0 and read the port.
       GET /metrics     200, the Prometheus text format (Content-Type text/plain;
                        version=0.0.4), or OpenMetrics 1.0 when the request's Accept header
                        prefers application/openmetrics-text, as a Prometheus server's does.
                        A query string is ignored.
       HEAD /metrics    the same headers (the same Content-Length), no body.
       errors           another path: 404. Another method: 405 with "Allow: GET, HEAD". A
                        request that breaks HTTP/1.1's grammar (RFC 9112), an HTTP/1.1 request
                        without exactly one Host header: 400. Another major version of HTTP
                        (HTTP/2's "PRI * HTTP/2.0"): 505. A request head over 8 KiB: 431. A
                        rendering that fails (over MH_BODY_MAX, or refused): 500.
       one request      every response says "Connection: close" and the connection closes after
                        it: no keep-alive, no pipelining, no request bodies to frame. A scrape is
                        one request every few seconds; a new connection costs nothing here.

   HOW IT STAYS OUT OF THE WAY OF THE VMM
       The program's own poll() loop drives everything: mh_pollfds() adds this server's file
       descriptors to the loop's array, mh_timeout() shortens the loop's timeout to the next
       deadline below, and mh_service() handles what poll() found. Every socket is non-blocking,
       so no call here ever waits: a client that sends half a request, or that does not read its
       response, only holds one of MH_CLIENTS slots until its deadline:
         reading    MH_IDLE_MS from the connection to the end of the request head (a total, not
                    per byte: a client sending one byte a second cannot keep its slot);
         writing    MH_IDLE_MS without any progress (the response stays in memory meanwhile;
                    a slow reader gets it at its own pace). poll() reports room in a socket
                    only once a third of its send buffer is free (Linux), so a big buffer
                    drained slowly would look like no progress at all: each client's send
                    buffer is MH_SNDBUF, plenty on the loopback, where no round trip is long;
         lingering  MH_LINGER_MS after the response, see mh__drain.
       When all slots are busy the listening socket is left out of poll(): new clients wait in
       the kernel's listen backlog until a slot frees up.

   HOW TO USE IT (what the examples do)
       options:     mh_option(&o, "--metrics" or "--metrics-label", value)  (NULL: accepted)
       start:       mh_start(&server, &o, &device, why, sizeof why)  (after vb_init)
       each round:  n = mh_pollfds(&server, pfd);  timeout = mh_timeout(&server, timeout);
                    poll(...);  mh_service(&server, pfd, n);
       exit:        mh_stop(&server)
*/
#ifndef METRICS_HTTP_H
#define METRICS_HTTP_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MH_CLIENTS 8              /* connections served at once; more wait in the backlog */
#define MH_BACKLOG 16             /* the listen backlog */
#define MH_REQUEST_MAX 8192       /* a request head (request line and headers) is at most this */
#define MH_IDLE_MS 5000           /* see "HOW IT STAYS OUT OF THE WAY" */
#define MH_LINGER_MS 1000         /* after the response, see mh__drain */
#define MH_DRAIN_MAX 65536        /* bytes read and thrown away while lingering, at most */
#define MH_BODY_MAX (64u << 20)   /* a larger rendering is a 500 (argv bounds the labels anyway) */
#define MH_HEAD_ROOM 512          /* the response's headers are written in front of its body */
#define MH_SNDBUF 65536           /* each client's send buffer (see "writing" above) */
#define MH_LABELS_MAX 8           /* --metrics-label, at most */
#define MH_LABEL_NAME_MAX 64      /* bytes of a label name, with its NUL */
#define MH_POLLFDS (1 + MH_CLIENTS) /* entries mh_pollfds may add: the listener and each client */

/* ---- options ------------------------------------------------------------------------------ */

typedef struct mh_options {
    const char *addr;                 /* --metrics ADDR; NULL: no endpoint */
    vb_label labels[MH_LABELS_MAX];   /* --metrics-label NAME=VALUE: on every sample */
    char names[MH_LABELS_MAX][MH_LABEL_NAME_MAX]; /* the names (the values stay in argv) */
    unsigned nlabels;
} mh_options;

/* A TCP port "0".."65535": decimal digits only; -1 if it is not one. */
static long mh__port(const char *s)
{
    long v = 0;
    if (!*s) return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return -1;
        v = v * 10 + (*s - '0');
        if (v > 65535) return -1;
    }
    return v;
}

/* ADDR's three forms. unix:PATH sets *path; the TCP forms set *port. 0: not an ADDR. */
static int mh__parse_addr(const char *addr, const char **path, long *port)
{
    *path = NULL;
    *port = -1;
    if (!strncmp(addr, "unix:", 5)) {
        *path = addr + 5;
        return **path && strlen(*path) < sizeof(((struct sockaddr_un *)0)->sun_path);
    }
    if (!strncmp(addr, "127.0.0.1:", 10)) addr += 10;
    *port = mh__port(addr);
    return *port >= 0;
}

/* The rule vb_render_metrics applies to a label name (vballoon.h, vb_label): checked here too so
   that a bad --metrics-label is refused while the options are read, naming the culprit.
   mh_start still renders once with the whole set: vballoon.h has the last word. */
static int mh__label_name_ok(const char *s)
{
    const char *p;
    if (!*s || !strncmp(s, "__", 2) || !strcmp(s, "kind") || !strcmp(s, "le")) return 0;
    for (p = s; *p; p++) {
        int alpha = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_';
        if (!alpha && !(p > s && *p >= '0' && *p <= '9')) return 0;
    }
    return 1;
}

/* One of the two options, "--metrics" or "--metrics-label", with its value. NULL if it is
   accepted, else what is wrong with it (for the program's usage message). */
static const char *mh_option(mh_options *o, const char *name, const char *val)
{
    const char *eq, *path;
    long port;
    unsigned i;
    size_t n;
    if (!strcmp(name, "--metrics")) {
        if (!mh__parse_addr(val, &path, &port))
            return "--metrics must be PORT, 127.0.0.1:PORT (loopback only) or unix:PATH "
                   "(a path of at most 107 bytes), not";
        o->addr = val;
        return NULL;
    }
    eq = strchr(val, '=');
    if (!eq) return "--metrics-label must be NAME=VALUE, not";
    n = (size_t)(eq - val);
    if (o->nlabels == MH_LABELS_MAX) return "too many --metrics-label (at most 8)";
    if (n >= MH_LABEL_NAME_MAX) return "--metrics-label: a name of at most 63 bytes, not";
    memcpy(o->names[o->nlabels], val, n);
    o->names[o->nlabels][n] = 0;
    if (!mh__label_name_ok(o->names[o->nlabels]))
        return "--metrics-label: a label name is [a-zA-Z_][a-zA-Z0-9_]*, does not start with __ "
               "and is not kind or le (those two are used inside), not";
    for (i = 0; i < o->nlabels; i++)
        if (!strcmp(o->names[i], o->names[o->nlabels])) return "--metrics-label: a name given twice";
    o->labels[o->nlabels].name = o->names[o->nlabels];
    o->labels[o->nlabels].value = eq + 1;
    o->nlabels++;
    return NULL;
}

/* ---- the server ---------------------------------------------------------------------------- */

enum { MH_FREE, MH_READING, MH_WRITING, MH_LINGERING };

typedef struct mh_conn {
    int fd;                     /* -1: a free slot */
    int state;                  /* MH_* */
    uint64_t deadline;          /* CLOCK_MONOTONIC ms: see "HOW IT STAYS OUT OF THE WAY" */
    char req[MH_REQUEST_MAX];   /* the request head as it arrives */
    size_t got;                 /* bytes in req */
    size_t line;                /* where the line not yet looked at starts in req */
    int started;                /* a non-empty line was seen (empty lines before it are skipped) */
    char *out;                  /* the response (malloc); bytes [off, len) still to send */
    size_t off, len;
    size_t drained;             /* bytes thrown away while lingering */
} mh_conn;

typedef struct mh_server {
    int fd;                           /* the listening socket, -1: none */
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)]; /* unix:PATH to remove at exit */
    vb_metrics_device dev;            /* what GET /metrics renders */
    mh_conn c[MH_CLIENTS];
    unsigned slot[MH_POLLFDS];        /* mh_pollfds: each entry's connection, MH_CLIENTS: listener */
    unsigned n;                       /* entries mh_pollfds added */
    uint64_t accept_after;            /* out of file descriptors: try accept() again then */
    size_t last_body;                 /* the last rendering's size: the next buffer's first guess */
} mh_server;

static uint64_t mh__now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int mh__nonblocking(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl >= 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0 && fcntl(fd, F_SETFD, FD_CLOEXEC) == 0;
}

/* A message for mh_start's caller, with the system's reason. Returns -1. */
static int mh__fail(char *why, size_t cap, const char *what, const char *arg)
{
    snprintf(why, cap, "%s%s%s", what, arg ? arg : "", errno ? ": " : "");
    if (errno) snprintf(why + strlen(why), cap - strlen(why), "%s", strerror(errno));
    return -1;
}

/* The listening socket for ADDR (checked by mh_option): TCP on 127.0.0.1 or a unix socket.
   Prints the bound address on stderr. Returns the socket or -1 (why says why). */
static int mh__listen(mh_server *s, const char *addr, char *why, size_t cap)
{
    struct sockaddr_in in;
    struct sockaddr_un un;
    struct stat st;
    socklen_t len = sizeof in;
    const char *path;
    long port;
    int one = 1, fd;
    mh__parse_addr(addr, &path, &port);
    fd = socket(path ? AF_UNIX : AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || !mh__nonblocking(fd)) return mh__fail(why, cap, "metrics: socket", NULL);
    if (path) {
        /* a socket left by an earlier run is removed, as the QMP sockets' are; anything else
           at PATH is not ours to remove */
        errno = 0;
        if (lstat(path, &st) == 0 && !S_ISSOCK(st.st_mode)) {
            close(fd);
            return mh__fail(why, cap, "metrics: not a socket, not removed: ", path);
        }
        unlink(path);
        memset(&un, 0, sizeof un);
        un.sun_family = AF_UNIX;
        memcpy(un.sun_path, path, strlen(path) + 1);
        if (bind(fd, (struct sockaddr *)&un, sizeof un) != 0 || listen(fd, MH_BACKLOG) != 0) {
            close(fd);
            return mh__fail(why, cap, "metrics: cannot listen on unix:", path);
        }
        memcpy(s->path, path, strlen(path) + 1);
        fprintf(stderr, "metrics: listening on unix:%s\n", path);
        return fd;
    }
    /* SO_REUSEADDR: a restart may bind the port while the last run's connections linger */
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    memset(&in, 0, sizeof in);
    in.sin_family = AF_INET;
    in.sin_port = htons((uint16_t)port);
    in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&in, sizeof in) != 0 || listen(fd, MH_BACKLOG) != 0 ||
        getsockname(fd, (struct sockaddr *)&in, &len) != 0) {
        close(fd);
        return mh__fail(why, cap, "metrics: cannot listen on ", addr);
    }
    fprintf(stderr, "metrics: listening on 127.0.0.1:%u\n", (unsigned)ntohs(in.sin_port));
    return fd;
}

/* Start serving dev's metrics with o's labels. Returns 1 when listening, 0 without --metrics,
   -1 on an error (why: the message). The label set is rendered once first: vb_render_metrics
   refuses (returns 0 for) a set it would not write, and a scrape must never meet that. */
static int mh_start(mh_server *s, const mh_options *o, const vb_device *dev, char *why, size_t cap)
{
    unsigned i;
    memset(s, 0, sizeof *s);
    s->fd = -1;
    for (i = 0; i < MH_CLIENTS; i++) s->c[i].fd = -1;
    errno = 0;
    if (!o->addr) return o->nlabels ? mh__fail(why, cap, "--metrics-label needs --metrics ADDR", NULL) : 0;
    s->dev.dev = dev;
    s->dev.labels = o->nlabels ? o->labels : NULL;
    s->dev.nlabels = o->nlabels;
    if (vb_render_metrics(&s->dev, 1, NULL, 0, 0) == 0)
        return mh__fail(why, cap, "metrics: vb_render_metrics refuses this --metrics-label set", NULL);
    s->fd = mh__listen(s, o->addr, why, cap);
    return s->fd < 0 ? -1 : 1;
}

static void mh__close(mh_conn *c)
{
    close(c->fd);
    free(c->out);
    memset(c, 0, sizeof *c);
    c->fd = -1;
}

/* Stop: every client closed, the listening socket too, a unix socket's path removed. */
static void mh_stop(mh_server *s)
{
    unsigned i;
    for (i = 0; i < MH_CLIENTS; i++)
        if (s->c[i].fd >= 0) mh__close(&s->c[i]);
    if (s->fd >= 0) close(s->fd);
    s->fd = -1;
    if (s->path[0]) unlink(s->path);
    s->path[0] = 0;
}

/* ---- the poll() loop's side ---------------------------------------------------------------- */

/* Add this server's entries to the loop's poll array p (room for MH_POLLFDS); returns how many.
   The listener only while a slot is free; each client for what its state waits for. */
static unsigned mh_pollfds(mh_server *s, struct pollfd *p)
{
    unsigned i, n = 0;
    int free_slot = 0;
    for (i = 0; i < MH_CLIENTS; i++) {
        if (s->c[i].fd < 0) {
            free_slot = 1;
            continue;
        }
        p[n].fd = s->c[i].fd;
        p[n].events = s->c[i].state == MH_WRITING ? POLLOUT : POLLIN;
        p[n].revents = 0;
        s->slot[n++] = i;
    }
    if (s->fd >= 0 && free_slot && mh__now() >= s->accept_after) {
        p[n].fd = s->fd;
        p[n].events = POLLIN;
        p[n].revents = 0;
        s->slot[n++] = MH_CLIENTS;
    }
    s->n = n;
    return n;
}

/* The loop's poll() timeout (ms, -1: none) shortened to this server's next deadline. */
static int mh_timeout(const mh_server *s, int timeout)
{
    uint64_t now = mh__now(), next = UINT64_MAX;
    unsigned i;
    for (i = 0; i < MH_CLIENTS; i++)
        if (s->c[i].fd >= 0 && s->c[i].deadline < next) next = s->c[i].deadline;
    if (s->fd >= 0 && s->accept_after > now && s->accept_after < next) next = s->accept_after;
    if (next == UINT64_MAX) return timeout;
    next = next > now ? next - now : 0;
    return timeout >= 0 && (uint64_t)timeout < next ? timeout : (int)(next > 60000 ? 60000 : next);
}

/* ---- the request: RFC 9112's grammar, as much of it as a GET needs ------------------------- */

/* tchar: the characters of a method or a header name (RFC 9110 5.6.2). */
static int mh__tchar(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           (ch && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

/* Case-insensitive equality of the n bytes at s with the NUL-terminated lower-case word w. */
static int mh__is(const char *s, size_t n, const char *w)
{
    size_t i;
    for (i = 0; i < n; i++) {
        char ch = s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] - 'A' + 'a') : s[i];
        if (!w[i] || ch != w[i]) return 0;
    }
    return w[n] == 0;
}

/* A qvalue (RFC 9110 12.4.2: "0" [ "." 0*3DIGIT ] or "1" [ "." 0*3"0" ]) in thousandths;
   a malformed one is 0 (not acceptable). */
static int mh__qvalue(const char *v, size_t n)
{
    static const int place[3] = {100, 10, 1};
    size_t d;
    int q;
    if (n < 1 || (v[0] != '0' && v[0] != '1') || (n > 1 && (v[1] != '.' || n > 5))) return 0;
    q = (v[0] - '0') * 1000;
    for (d = 2; d < n; d++) {
        if (v[d] < '0' || v[d] > '9') return 0;
        q += (v[d] - '0') * place[d - 2];
    }
    return q > 1000 ? 0 : q;
}

/* One element of an Accept header, "type/subtype *( OWS ; OWS name=value )", scored for each
   of the two formats we can send by its q in thousandths (no q: 1000). OpenMetrics:
   application/openmetrics-text with version 1.0.0 or none (0.0.1 is an older draft). Text:
   text/plain with version 0.0.4 or none, or the wildcards "text/" "*" and "*" "/" "*". */
static void mh__accept_one(const char *s, size_t n, int *om, int *text)
{
    const char *version = NULL;
    size_t i = 0, t, vlen = 0;
    int q = 1000;
    while (i < n && s[i] != ';') i++;
    t = i;
    while (t && (s[t - 1] == ' ' || s[t - 1] == '\t')) t--;
    while (i < n) { /* s[i] is a ';': one parameter, name=value, up to the next ';' */
        size_t k = i + 1, eq, e;
        while (k < n && (s[k] == ' ' || s[k] == '\t')) k++;
        eq = k;
        while (eq < n && s[eq] != '=' && s[eq] != ';') eq++;
        e = eq;
        while (e < n && s[e] != ';') e++;
        i = e;
        if (eq < e) { /* it has a value: trimmed, its quotes taken off */
            const char *v = s + eq + 1;
            size_t vn = e - eq - 1;
            while (vn && (v[vn - 1] == ' ' || v[vn - 1] == '\t')) vn--;
            if (vn >= 2 && v[0] == '"' && v[vn - 1] == '"') {
                v++;
                vn -= 2;
            }
            if (mh__is(s + k, eq - k, "q")) q = mh__qvalue(v, vn);
            if (mh__is(s + k, eq - k, "version")) {
                version = v;
                vlen = vn;
            }
        }
    }
    if (mh__is(s, t, "application/openmetrics-text") && q > *om &&
        (!version || (vlen == 5 && !memcmp(version, "1.0.0", 5))))
        *om = q;
    if (((mh__is(s, t, "text/plain") && (!version || (vlen == 5 && !memcmp(version, "0.0.4", 5)))) ||
         mh__is(s, t, "text/*") || mh__is(s, t, "*/*")) &&
        q > *text)
        *text = q;
}

/* An Accept header's value: each comma-separated element scored. */
static void mh__accept(const char *v, size_t n, int *om, int *text)
{
    size_t i = 0;
    while (i < n) {
        size_t start, end;
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ',')) i++;
        start = i;
        while (i < n && v[i] != ',') i++;
        end = i;
        if (end > start) mh__accept_one(v + start, end - start, om, text);
    }
}

/* What a request asks for. */
typedef struct mh_request {
    int status;      /* 200, or the error to answer */
    int head;        /* HEAD: headers only */
    int openmetrics; /* Accept prefers OpenMetrics */
} mh_request;

/* "HTTP/" DIGIT "." DIGIT: 1 for HTTP/1.x (x: the minor version in *minor), 0 for another
   major version, -1 if it is not a version at all. */
static int mh__version(const char *v, size_t n, int *minor)
{
    if (n != 8 || memcmp(v, "HTTP/", 5) != 0 || v[6] != '.' || v[5] < '0' || v[5] > '9' ||
        v[7] < '0' || v[7] > '9')
        return -1;
    *minor = v[7] - '0';
    return v[5] == '1';
}

/* The request line "METHOD SP TARGET SP VERSION" (n bytes, no line end). */
static void mh__request_line(const char *l, size_t n, mh_request *r, int *minor)
{
    const char *sp1 = memchr(l, ' ', n), *sp2, *path;
    size_t m, t, pn, i;
    int v;
    r->status = 400;
    if (!sp1) return;
    m = (size_t)(sp1 - l);
    sp2 = memchr(sp1 + 1, ' ', n - m - 1);
    if (!m || !sp2) return;
    t = (size_t)(sp2 - sp1 - 1);
    for (i = 0; i < m; i++)
        if (!mh__tchar((unsigned char)l[i])) return;
    for (i = 0; i < t; i++) /* a target is visible ASCII (RFC 3986 characters, loosely) */
        if ((unsigned char)sp1[1 + i] <= ' ' || (unsigned char)sp1[1 + i] >= 0x7f) return;
    v = mh__version(sp2 + 1, n - m - t - 2, minor);
    if (!t || v < 0) return;
    if (v == 0) {
        r->status = 505;
        return;
    }
    /* origin-form "/path?query"; absolute-form "http://host/path" (RFC 9112 3.2.2: a server
       must accept it); asterisk-form "*" is OPTIONS's, which is a 405 below anyway */
    path = sp1 + 1;
    pn = t;
    if ((pn > 7 && mh__is(path, 7, "http://")) || (pn > 8 && mh__is(path, 8, "https://"))) {
        const size_t skip = path[4] == ':' ? 7 : 8; /* the authority follows */
        const char *slash = memchr(path + skip, '/', pn - skip);
        if (slash) {
            pn -= (size_t)(slash - path);
            path = slash;
        } else {
            path = "/";
            pn = 1;
        }
    } else if (path[0] != '/' && !(pn == 1 && path[0] == '*')) {
        return;
    }
    r->head = m == 4 && !memcmp(l, "HEAD", 4);
    if (!(m == 3 && !memcmp(l, "GET", 3)) && !r->head) {
        r->status = 405; /* methods are case-sensitive: "get" is another method */
        return;
    }
    i = 0;
    while (i < pn && path[i] != '?') i++;
    r->status = i == 8 && !memcmp(path, "/metrics", 8) ? 200 : 404;
}

/* One header line "name: value" (n bytes, no line end): malformed -1, else 0; Host counted,
   Accept scored. */
static int mh__header(const char *l, size_t n, int *hosts, int *om, int *text)
{
    const char *colon = memchr(l, ':', n);
    size_t k, i;
    if (!colon || colon == l) return -1;
    k = (size_t)(colon - l);
    for (i = 0; i < k; i++) /* no space before the colon (RFC 9112 5.1: a 400), no obs-fold */
        if (!mh__tchar((unsigned char)l[i])) return -1;
    for (i = k + 1; i < n; i++) /* field-value: visible, SP, HTAB, obs-text; no other control */
        if (((unsigned char)l[i] < ' ' && l[i] != '\t') || l[i] == 0x7f) return -1;
    if (mh__is(l, k, "host")) ++*hosts;
    if (mh__is(l, k, "accept")) mh__accept(colon + 1, n - k - 1, om, text);
    return 0;
}

/* The whole head, req[0, n) (it ends with its empty line): request line, then headers. */
static mh_request mh__parse(const char *req, size_t n)
{
    mh_request r = {400, 0, 0};
    size_t i = 0;
    int first = 1, hosts = 0, minor = 0, om = 0, text = 0, bad = 0;
    while (i < n) {
        const char *nl = memchr(req + i, '\n', n - i);
        size_t e = (size_t)(nl - req), len = e - i; /* (the head ends with a '\n') */
        if (len && req[e - 1] == '\r') len--;
        if (memchr(req + i, '\r', len) || memchr(req + i, 0, len)) bad = 1; /* a bare CR, a NUL */
        if (len && first) {
            mh__request_line(req + i, len, &r, &minor);
            first = 0;
        } else if (len && mh__header(req + i, len, &hosts, &om, &text) != 0) {
            bad = 1;
        }
        i = e + 1;
    }
    if (bad || r.status == 505 || (minor >= 1 && hosts != 1) || hosts > 1) {
        if (r.status != 505) r.status = 400;
        return r;
    }
    r.openmetrics = om > 0 && om > text;
    return r;
}

/* ---- the response -------------------------------------------------------------------------- */

static const char *mh__reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 505: return "HTTP Version Not Supported";
    default: return "Bad Request";
    }
}

/* The body: the metrics (200) or a line of text (an error), rendered MH_HEAD_ROOM bytes into a
   new c->out so that the headers can go in front of it without a copy of the body. Returns its
   length; *status becomes 500 if the metrics cannot be had. */
static size_t mh__body(mh_server *s, mh_conn *c, int *status, int om)
{
    size_t cap = *status == 200 ? s->last_body + 4096 : 64, n;
    for (;;) {
        char *p = (char *)realloc(c->out, MH_HEAD_ROOM + cap);
        if (!p) { /* no memory: the error's own small body is tried once more */
            *status = 500;
            if (cap <= 64) return (size_t)-1;
            cap = 64;
            continue;
        }
        c->out = p;
        if (*status != 200) return (size_t)snprintf(p + MH_HEAD_ROOM, cap, "%s\n", mh__reason(*status));
        /* snprintf-style: a return value >= cap means the text was cut, and is the size needed */
        n = vb_render_metrics(&s->dev, 1, p + MH_HEAD_ROOM, cap, om ? VB_METRICS_OPENMETRICS : 0u);
        if (n > 0 && n < cap) {
            s->last_body = n;
            return n;
        }
        if (n == 0 || n >= MH_BODY_MAX) {
            *status = 500;
            cap = 64;
        } else {
            cap = n + 1;
        }
    }
}

/* The response to a request (or an error found while reading one) in c->out, and the
   connection switched to writing. */
static void mh__respond(mh_server *s, mh_conn *c, int status, int head, int om)
{
    char hdr[MH_HEAD_ROOM], date[64];
    const time_t t = time(NULL);
    struct tm tm;
    size_t body = mh__body(s, c, &status, om);
    int h;
    if (body == (size_t)-1) {
        mh__close(c);
        return;
    }
    /* an origin server with a clock sends Date (RFC 9110 6.6.1), in IMF-fixdate */
    if (!gmtime_r(&t, &tm) || !strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm)) date[0] = 0;
    h = snprintf(hdr, sizeof hdr,
                 "HTTP/1.1 %d %s\r\n"
                 "Content-Type: %s\r\n"
                 "Content-Length: %zu\r\n"
                 "%s%s%s"
                 "%s"
                 "Connection: close\r\n"
                 "\r\n",
                 status, mh__reason(status),
                 status != 200 ? "text/plain; charset=utf-8"
                 : om          ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
                               : "text/plain; version=0.0.4; charset=utf-8",
                 body, date[0] ? "Date: " : "", date, date[0] ? "\r\n" : "",
                 status == 405 ? "Allow: GET, HEAD\r\n" : "");
    if (h <= 0 || h >= MH_HEAD_ROOM) { /* (cannot happen: the headers are short) */
        mh__close(c);
        return;
    }
    memcpy(c->out + MH_HEAD_ROOM - h, hdr, (size_t)h);
    c->off = MH_HEAD_ROOM - (size_t)h;
    c->len = MH_HEAD_ROOM + (head ? 0 : body);
    c->state = MH_WRITING;
    c->deadline = mh__now() + MH_IDLE_MS;
}

/* ---- the three states ---------------------------------------------------------------------- */

/* Lingering: after the response we shut our side down (the client sees the end of it) and read
   until the client closes its side, throwing the bytes away, before we close. Closing a socket
   with unread bytes (a request body, a head cut at 8 KiB) makes the kernel send a reset, and
   a reset can destroy the response before the client has read it. Bounded by MH_LINGER_MS and
   MH_DRAIN_MAX. */
static void mh__drain(mh_conn *c)
{
    for (;;) {
        ssize_t n = recv(c->fd, c->req, sizeof c->req, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        if (n <= 0 || (c->drained += (size_t)n) > MH_DRAIN_MAX) {
            mh__close(c);
            return;
        }
    }
}

/* Writing: as much as the socket takes now; the rest when poll() says it has room. */
static void mh__write(mh_conn *c)
{
    while (c->off < c->len) {
        /* MSG_NOSIGNAL: a client gone away is EPIPE here, not a SIGPIPE that kills the VMM */
        ssize_t n = send(c->fd, c->out + c->off, c->len - c->off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        if (n <= 0) {
            mh__close(c);
            return;
        }
        c->off += (size_t)n;
        c->deadline = mh__now() + MH_IDLE_MS; /* progress */
    }
    free(c->out);
    c->out = NULL;
    shutdown(c->fd, SHUT_WR);
    c->state = MH_LINGERING;
    c->deadline = mh__now() + MH_LINGER_MS;
    mh__drain(c);
}

/* The end of the head in req[0, got): the length up to and including its empty line, or 0.
   Incremental: c->line remembers where the last look stopped. Empty lines before the request
   line are skipped (RFC 9112 2.2). */
static size_t mh__head_end(mh_conn *c)
{
    const char *nl;
    while ((nl = memchr(c->req + c->line, '\n', c->got - c->line)) != NULL) {
        size_t e = (size_t)(nl - c->req), len = e - c->line;
        if (len && c->req[e - 1] == '\r') len--;
        c->line = e + 1;
        if (len) c->started = 1;
        else if (c->started) return c->line;
    }
    return 0;
}

/* Reading: what arrived; once the head is complete, the response. */
static void mh__read(mh_server *s, mh_conn *c)
{
    for (;;) {
        size_t end;
        ssize_t n;
        if (c->got == sizeof c->req) { /* full, and no end of the head in it */
            mh__respond(s, c, 431, 0, 0);
            break;
        }
        n = recv(c->fd, c->req + c->got, sizeof c->req - c->got, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        if (n <= 0) { /* gone before its request was complete: nothing to answer */
            mh__close(c);
            return;
        }
        c->got += (size_t)n;
        end = mh__head_end(c);
        if (end) {
            mh_request r = mh__parse(c->req, end);
            mh__respond(s, c, r.status, r.head, r.openmetrics);
            break;
        }
    }
    if (c->fd >= 0) mh__write(c);
}

/* New clients, while a slot is free. */
static void mh__accept_all(mh_server *s)
{
    unsigned i;
    for (i = 0; i < MH_CLIENTS; i++) {
        mh_conn *c = &s->c[i];
        if (c->fd >= 0) continue;
        c->fd = accept(s->fd, NULL, NULL);
        if (c->fd < 0) {
            /* out of file descriptors: the client stays in the backlog and the listener stays
               readable, so leave it out of poll() for a while instead of spinning */
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                s->accept_after = mh__now() + 100;
            return; /* EAGAIN: nobody else waits; ECONNABORTED and the like: gone already */
        }
        if (!mh__nonblocking(c->fd)) {
            mh__close(c);
            continue;
        }
        {
            int sndbuf = MH_SNDBUF; /* (a unix socket may refuse: then its default stays) */
            setsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
        }
        c->state = MH_READING;
        c->deadline = mh__now() + MH_IDLE_MS;
    }
}

/* What poll() found for the n entries mh_pollfds added at p (call it every round, even when
   poll() found nothing or was interrupted: it also closes the connections past their
   deadline). */
static void mh_service(mh_server *s, const struct pollfd *p, unsigned n)
{
    uint64_t now;
    unsigned k, i;
    for (k = 0; k < n && k < s->n; k++) {
        mh_conn *c;
        if (!p[k].revents) continue;
        if (s->slot[k] == MH_CLIENTS) {
            if (p[k].fd == s->fd) mh__accept_all(s);
            continue;
        }
        c = &s->c[s->slot[k]];
        if (c->fd != p[k].fd) continue; /* (closed and reused meanwhile) */
        if (p[k].revents & POLLNVAL) mh__close(c);
        else if (c->state == MH_READING) mh__read(s, c);
        else if (c->state == MH_WRITING) mh__write(c);
        else mh__drain(c);
    }
    s->n = 0;
    now = mh__now();
    for (i = 0; i < MH_CLIENTS; i++)
        if (s->c[i].fd >= 0 && s->c[i].deadline <= now) mh__close(&s->c[i]);
}

#endif /* METRICS_HTTP_H */
