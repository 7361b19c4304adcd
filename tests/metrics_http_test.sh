#!/bin/sh
# tests/metrics_http_test.sh - the examples' --metrics endpoint (examples/metrics_http.h) end to
# end, through the simulator:
#
#   sh tests/metrics_http_test.sh [path/to/vballoon-sim]      (default build/vballoon-sim)
#
# Needs curl, promtool, /usr/bin/python3 with prometheus_client (Debian: prometheus,
# python3-prometheus-client) and, for its last part, a real Prometheus server (Debian's
# prometheus package; that part is skipped, with a message, only if the binary is missing).
# Checks: GET /metrics over TCP (port 0, the port read from the sim's stderr) and over a unix
# socket is promtool-clean text; OpenMetrics when the Accept header prefers it (a Prometheus
# server's own header), read by the OpenMetrics reference parser; HEAD; 404, 405, 400, 431, 505;
# --metrics-label on every sample, bad labels refused at startup; eight clients that never finish
# their request hold every slot while QMP is still answered at once, a ninth waits in the backlog
# and is served once their idle timeout closes them; a 20 MB response to a client that does not
# read it is written in pieces while QMP is answered; then Prometheus scrapes two sims (vm=a,
# vm=b) every second and its HTTP API returns both series with the values QMP's qom-get reports.
# Every wait is bounded; every process started is killed at exit. Last line:
# "metrics-http: N passed, M failed[, K skipped]". License: public domain (Unlicense).

SIM=${1:-build/vballoon-sim}
PY=/usr/bin/python3
pass=0
fail=0
skip=0
tmp=$(mktemp -d) || exit 1
pids=
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null; done
    for p in $pids; do wait "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

good() { pass=$((pass + 1)); }
bad() { # name, detail lines...
    fail=$((fail + 1))
    echo "FAIL $1"
    shift
    for line in "$@"; do echo "  $line"; done
}
finish() {
    if [ "$skip" -gt 0 ]; then
        echo "metrics-http: $pass passed, $fail failed, $skip skipped"
    else
        echo "metrics-http: $pass passed, $fail failed"
    fi
    [ "$fail" = 0 ]
    exit
}

for t in curl promtool; do
    command -v "$t" >/dev/null 2>&1 || { bad setup "$t is not installed"; finish; }
done
[ -x "$SIM" ] || { bad setup "$SIM is not an executable"; finish; }
[ -x "$PY" ] || { bad setup "$PY is not installed"; finish; }

now_ms() { # milliseconds, if date knows %N (GNU); else whole seconds
    d=$(date +%s%N)
    case $d in *N) echo $(($(date +%s) * 1000)) ;; *) echo $((d / 1000000)) ;; esac
}

# ---- python helpers: raw HTTP, clients that stall ------------------------------------------------

# raw.py ADDR: the request on stdin sent as it is (ADDR: a port, or a unix socket's path), the
# whole response (until the server closes) on stdout. 10 s at most.
cat >"$tmp/raw.py" <<'PY'
import socket, sys
addr = sys.argv[1]
if addr.startswith("/"):
    s = socket.socket(socket.AF_UNIX)
    s.connect(addr)
else:
    s = socket.create_connection(("127.0.0.1", int(addr)))
s.settimeout(10)
s.sendall(sys.stdin.buffer.read())
out = b""
try:
    while True:
        d = s.recv(65536)
        if not d:
            break
        out += d
except (socket.timeout, ConnectionResetError) as e:
    out += b"\n<" + str(e).encode() + b">"
sys.stdout.buffer.write(out)
PY

# hold.py PORT N: N connections that send half a request line and nothing more; "ready" once
# all are connected, then "closed K of N, the last after S s" when the server has closed them
# (20 s at most).
cat >"$tmp/hold.py" <<'PY'
import socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
conns = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
for c in conns:
    c.sendall(b"GET /metr")
t0 = time.monotonic()
print("ready", flush=True)
closed, last = 0, 0.0
for c in conns:
    c.settimeout(max(0.1, 20 - (time.monotonic() - t0)))
    try:
        if c.recv(4096) == b"":
            closed += 1
    except ConnectionResetError:
        closed += 1
    except socket.timeout:
        pass
    last = time.monotonic() - t0
print("closed %d of %d, the last after %.1f s" % (closed, n, last), flush=True)
PY

# slow.py PORT FLAG SECONDS: GET /metrics, read 4 KiB and stop reading ("stalled") until the
# file FLAG exists or SECONDS pass, then read the rest: "got BODY of LENGTH bytes" (the body
# read, the Content-Length).
cat >"$tmp/slow.py" <<'PY'
import os, socket, sys, time
port, flag, wait = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
s = socket.create_connection(("127.0.0.1", port))
s.sendall(b"GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n")
s.settimeout(20)
out = s.recv(4096)
print("stalled", flush=True)
t0 = time.monotonic()
while not os.path.exists(flag) and time.monotonic() - t0 < wait:
    time.sleep(0.05)
try:
    while True:
        d = s.recv(1 << 20)
        if not d:
            break
        out += d
except ConnectionResetError:
    pass
head, _, body = out.partition(b"\r\n\r\n")
length = [l.split(b":")[1].strip() for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
print("got %d of %s bytes" % (len(body), length[0].decode() if length else "?"), flush=True)
PY

# om.py FILE NAME VM: the OpenMetrics text in FILE parsed by the reference parser; prints the
# value of sample NAME whose label vm is VM.
cat >"$tmp/om.py" <<'PY'
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
text = open(sys.argv[1], encoding="utf-8").read()
for fam in text_string_to_metric_families(text):
    for s in fam.samples:
        if s.name == sys.argv[2] and s.labels.get("vm") == sys.argv[3]:
            print(int(s.value))
PY

# ---- the simulators --------------------------------------------------------------------------------
# start NAME ARGS...: a sim reading QMP from the FIFO $tmp/NAME.in (kept open by a sleeping
# writer: --metrics keeps the sim running after the end of stdin anyway), stdout to NAME.out,
# stderr to NAME.err; its pid in $last_pid. Its metrics port (TCP) is read from stderr by port_of.
start() {
    name=$1
    shift
    mkfifo "$tmp/$name.in"
    : >"$tmp/$name.out" # (the sim opens them only once the FIFO has a writer)
    : >"$tmp/$name.err"
    "$SIM" "$@" <"$tmp/$name.in" >"$tmp/$name.out" 2>"$tmp/$name.err" &
    pids="$pids $!"
    last_pid=$!
    sleep 600 >"$tmp/$name.in" &
    pids="$pids $!"
}
# port_of NAME: the port the sim printed ("metrics: listening on 127.0.0.1:PORT"), 10 s at most
port_of() {
    i=0
    while [ "$i" -lt 200 ]; do
        p=$(sed -n 's/^metrics: listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$tmp/$1.err")
        [ -n "$p" ] && { echo "$p"; return 0; }
        sleep 0.05
        i=$((i + 1))
    done
    return 1
}
seq_no=0
# qmp NAME JSON-WITHOUT-CLOSING-BRACE: send the command with an "id", wait for its reply (10 s at
# most): in $reply, "" if none came (not run in a subshell: seq_no counts on)
qmp() {
    seq_no=$((seq_no + 1))
    printf '%s, "id": "t%s"}\n' "$2" "$seq_no" >"$tmp/$1.in"
    i=0
    while [ "$i" -lt 200 ]; do
        reply=$(grep "\"id\": \"t$seq_no\"}" "$tmp/$1.out") && return 0
        sleep 0.05
        i=$((i + 1))
    done
    reply=
    return 1
}
P=/machine/peripheral/balloon0
# stats NAME: 1 s polling, the clock moved 2 s: the guest has answered; $total is its
# stat-total-memory as qom-get guest-stats reports it
stats() {
    total=
    qmp "$1" "{\"execute\": \"qom-set\", \"arguments\": {\"path\": \"$P\", \"property\": \"guest-stats-polling-interval\", \"value\": 1}" &&
        qmp "$1" '{"execute": "x-advance-clock", "arguments": {"seconds": 2}' &&
        qmp "$1" "{\"execute\": \"qom-get\", \"arguments\": {\"path\": \"$P\", \"property\": \"guest-stats\"}" &&
        total=$(echo "$reply" | sed -n 's/.*"stat-total-memory": \([0-9]*\)[,}].*/\1/p')
}

# The exact Accept header of a Prometheus 2.42 scrape (captured from its request).
PROM_ACCEPT='application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1'

# ---- startup: the options ---------------------------------------------------------------------------

for args in "--metrics 10.0.0.1:9000" "--metrics 65536" "--metrics unix:" "--metrics-label vm=a" \
    "--metrics 0 --metrics-label le=1" "--metrics 0 --metrics-label 1vm=a" "--metrics 0 --metrics-label __x=1" \
    "--metrics 0 --metrics-label vm" "--metrics 0 --metrics-label vm=a --metrics-label vm=b" \
    "--metrics 0 --metrics-label a=1 --metrics-label b=1 --metrics-label c=1 --metrics-label d=1 --metrics-label e=1 --metrics-label f=1 --metrics-label g=1 --metrics-label h=1 --metrics-label i=1"; do
    # shellcheck disable=SC2086 # word splitting wanted
    "$SIM" $args </dev/null >"$tmp/o" 2>"$tmp/e" &
    spid=$!
    i=0
    while kill -0 "$spid" 2>/dev/null && [ "$i" -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
    kill "$spid" 2>/dev/null && { wait "$spid"; bad "refused: $args" "still running"; continue; }
    wait "$spid"
    rc=$?
    if [ "$rc" -ne 0 ] && grep -q -- '--metrics' "$tmp/e" && ! grep -q '^metrics: listening' "$tmp/e"; then
        good
    else
        bad "refused: $args" "exit status $rc; stderr: $(head -n 1 "$tmp/e")"
    fi
done

# ---- sim a: GET, OpenMetrics, HEAD, errors ---------------------------------------------------------

start a --virtual-clock --fixed-stats --metrics 127.0.0.1:0 --metrics-label vm=a
if ! PA=$(port_of a); then
    bad listening-line "no 'metrics: listening on 127.0.0.1:PORT' on stderr: $(head -n 3 "$tmp/a.err")"
    finish
fi
good
stats a
TA=$total
[ -n "$TA" ] && good || bad qmp-stats-a "no stat-total-memory from qom-get"

# GET /metrics: 200, the text format's content type, Content-Length, promtool with no finding
code=$(curl -sS --max-time 10 -D "$tmp/h" -o "$tmp/body" -w '%{http_code}' "http://127.0.0.1:$PA/metrics")
ctype=$(sed -n 's/^Content-Type: \(.*\)\r$/\1/p' "$tmp/h")
clen=$(sed -n 's/^Content-Length: \([0-9]*\)\r$/\1/p' "$tmp/h")
if [ "$code" = 200 ] && [ "$ctype" = "text/plain; version=0.0.4; charset=utf-8" ] &&
    [ "$clen" = "$(wc -c <"$tmp/body" | tr -d ' ')" ] && grep -q '^Connection: close' "$tmp/h"; then
    good
else
    bad get-metrics "status $code, Content-Type '$ctype', Content-Length $clen for $(wc -c <"$tmp/body") bytes"
fi
if out=$(promtool check metrics <"$tmp/body" 2>&1) && [ -z "$out" ]; then good; else bad promtool-clean "$out"; fi
grep -q "^libvirt_domain_memory_stats_available_bytes{vm=\"a\"} $TA\$" "$tmp/body" && good ||
    bad get-value "no libvirt_domain_memory_stats_available_bytes{vm=\"a\"} $TA"
# every sample carries the label
if [ "$(grep -v '^#' "$tmp/body" | grep -c -v '{vm="a"')" = 0 ] && [ "$(grep -c -v '^#' "$tmp/body")" -gt 30 ]; then
    good
else
    bad label-on-every-sample "$(grep -v '^#' "$tmp/body" | grep -v '{vm="a"' | head -n 3)"
fi

# OpenMetrics, asked for as Prometheus asks
code=$(curl -sS --max-time 10 -H "Accept: $PROM_ACCEPT" -D "$tmp/h" -o "$tmp/om" -w '%{http_code}' "http://127.0.0.1:$PA/metrics")
ctype=$(sed -n 's/^Content-Type: \(.*\)\r$/\1/p' "$tmp/h")
if [ "$code" = 200 ] && [ "$ctype" = "application/openmetrics-text; version=1.0.0; charset=utf-8" ] &&
    [ "$(tail -n 1 "$tmp/om")" = "# EOF" ]; then
    good
else
    bad get-openmetrics "status $code, Content-Type '$ctype', last line '$(tail -n 1 "$tmp/om")'"
fi
if "$PY" -c 'import prometheus_client.openmetrics.parser' 2>/dev/null; then
    v=$("$PY" "$tmp/om.py" "$tmp/om" libvirt_domain_memory_stats_available_bytes a 2>&1)
    [ "$v" = "$TA" ] && good || bad openmetrics-parser "the reference parser: '$v', want $TA"
else
    echo "metrics-http: skipped: the OpenMetrics parser (sudo apt-get install python3-prometheus-client)"
    skip=$((skip + 1))
fi
# text when text is preferred, or when nothing is said
for acc in 'text/plain;version=0.0.4' 'application/openmetrics-text;q=0.4,text/plain;q=0.5' '*/*' \
    'application/openmetrics-text;version=0.0.1' 'application/openmetrics-text;q=0'; do
    ctype=$(curl -sS --max-time 10 -H "Accept: $acc" -o /dev/null -w '%{content_type}' "http://127.0.0.1:$PA/metrics")
    [ "$ctype" = "text/plain; version=0.0.4; charset=utf-8" ] && good || bad "accept-text $acc" "Content-Type '$ctype'"
done
ctype=$(curl -sS --max-time 10 -H 'Accept: text/plain;q=0.3, application/openmetrics-text; version="1.0.0"; q=0.9' \
    -o /dev/null -w '%{content_type}' "http://127.0.0.1:$PA/metrics")
[ "$ctype" = "application/openmetrics-text; version=1.0.0; charset=utf-8" ] && good || bad accept-openmetrics-q "Content-Type '$ctype'"

# HEAD: the same headers, no body (read raw: the connection closes right after the headers)
printf 'HEAD /metrics HTTP/1.1\r\nHost: t\r\n\r\n' | "$PY" "$tmp/raw.py" "$PA" >"$tmp/r"
hlen=$(sed -n 's/^Content-Length: \([0-9]*\)\r$/\1/p' "$tmp/r")
if head -n 1 "$tmp/r" | grep -q '^HTTP/1.1 200 OK' && [ "$hlen" = "$clen" ] &&
    [ "$(tail -c 4 "$tmp/r" | od -An -c | tr -d ' ')" = '\r\n\r\n' ]; then
    good
else
    bad head "Content-Length $hlen (GET's: $clen); $(wc -c <"$tmp/r") bytes: $(head -n 1 "$tmp/r")"
fi

# errors: status line (and Allow for 405)
status_of() { head -n 1 "$tmp/r" | cut -d' ' -f2; }
raw_status() { # NAME WANT REQUEST (printf format)
    # shellcheck disable=SC2059 # the request is a format
    printf "$3" | "$PY" "$tmp/raw.py" "$PA" >"$tmp/r"
    [ "$(status_of)" = "$2" ] && good || bad "status-$1" "want $2, got: $(head -n 1 "$tmp/r")"
}
code=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PA/")
[ "$code" = 404 ] && good || bad status-404-root "got $code"
code=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PA/metrics/x")
[ "$code" = 404 ] && good || bad status-404-below "got $code"
code=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PA/metrics?name[]=x")
[ "$code" = 200 ] && good || bad status-200-query "got $code"
code=$(curl -sS --max-time 10 -D "$tmp/h" -o /dev/null -w '%{http_code}' -X POST --data x "http://127.0.0.1:$PA/metrics")
[ "$code" = 405 ] && grep -q '^Allow: GET, HEAD' "$tmp/h" && good || bad status-405-post "got $code"
raw_status 405-lower-case 405 'get /metrics HTTP/1.1\r\nHost: t\r\n\r\n'
raw_status 400-garbage 400 'GARBAGE\r\n\r\n'
raw_status 400-no-host 400 'GET /metrics HTTP/1.1\r\n\r\n'
raw_status 400-two-hosts 400 'GET /metrics HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n'
raw_status 400-space-before-colon 400 'GET /metrics HTTP/1.1\r\nHost : a\r\n\r\n'
raw_status 400-obs-fold 400 'GET /metrics HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n'
raw_status 400-nul 400 'GET /metrics HTTP/1.1\r\nHost: a\000b\r\n\r\n'
raw_status 400-bare-cr 400 'GET /metrics HTTP/1.1\r\nHost: a\rX: y\r\n\r\n'
raw_status 400-binary 400 '\377\376\001\002\r\n\r\n'
raw_status 505-http2 505 'GET /metrics HTTP/2.0\r\nHost: t\r\n\r\n'
raw_status 200-http10 200 'GET /metrics HTTP/1.0\r\n\r\n'
raw_status 200-lf-only 200 '\r\nGET /metrics HTTP/1.1\nHost: t\n\n'
raw_status 200-absolute-form 200 'GET http://t/metrics HTTP/1.1\r\nHost: t\r\n\r\n'
# a head over 8 KiB: 431, and the response arrives whole (the server reads what is left before
# it closes, so no reset destroys it)
awk 'BEGIN { printf "GET /metrics HTTP/1.1\r\nHost: t\r\nX-Big: "; for (i = 0; i < 20000; i++) printf "x"; printf "\r\n\r\n" }' |
    "$PY" "$tmp/raw.py" "$PA" >"$tmp/r"
[ "$(status_of)" = 431 ] && ! grep -q '^<' "$tmp/r" && good || bad status-431 "got: $(head -n 1 "$tmp/r") $(tail -n 1 "$tmp/r")"
# a request body is not read, nor does it spoil the response
awk 'BEGIN { printf "GET /metrics HTTP/1.1\r\nHost: t\r\nContent-Length: 30000\r\n\r\n"; for (i = 0; i < 30000; i++) printf "x" }' |
    "$PY" "$tmp/raw.py" "$PA" >"$tmp/r"
[ "$(status_of)" = 200 ] && [ "$(tail -n 1 "$tmp/r")" != "" ] && ! grep -q '^<' "$tmp/r" && good ||
    bad get-with-a-body "got: $(head -n 1 "$tmp/r") $(tail -n 1 "$tmp/r")"

# eight clients at once
i=0
while [ "$i" -lt 8 ]; do
    curl -sS --max-time 10 -o "$tmp/par$i" -w '%{http_code}\n' "http://127.0.0.1:$PA/metrics" >"$tmp/code$i" &
    i=$((i + 1))
done
wait_n=0
i=0
while [ "$i" -lt 8 ]; do
    while [ ! -s "$tmp/code$i" ] && [ "$wait_n" -lt 300 ]; do sleep 0.05; wait_n=$((wait_n + 1)); done
    i=$((i + 1))
done
ok8=$(cat "$tmp"/code* | grep -c '^200$')
[ "$ok8" = 8 ] && good || bad eight-at-once "$ok8 of 8 answered 200"

# ---- clients that never finish: QMP goes on; the next client waits in the backlog ---------------------

"$PY" "$tmp/hold.py" "$PA" 8 >"$tmp/hold" 2>&1 &
hpid=$!
pids="$pids $hpid"
i=0
while ! grep -q ready "$tmp/hold" && [ "$i" -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
t0=$(now_ms)
curl -sS --max-time 15 -o /dev/null -w '%{http_code}\n' "http://127.0.0.1:$PA/metrics" >"$tmp/late" 2>&1 &
cpid=$!
sleep 0.3
t1=$(now_ms)
qmp a '{"execute": "query-balloon"'
t2=$(now_ms)
if [ "$reply" = "{\"return\": {\"actual\": 1073741824}, \"id\": \"t$seq_no\"}" ] && [ $((t2 - t1)) -lt 2000 ]; then
    good
else
    bad qmp-while-8-clients-idle "reply '$reply' after $((t2 - t1)) ms"
fi
echo "  measured: QMP answered in $((t2 - t1)) ms while 8 metrics clients held every slot"
[ -s "$tmp/late" ] && bad ninth-client-waits "answered while every slot was held: $(cat "$tmp/late")" || good
wait "$cpid"
t3=$(now_ms)
wait "$hpid"
if [ "$(cat "$tmp/late")" = 200 ] && [ $((t3 - t0)) -ge 3000 ] && [ $((t3 - t0)) -lt 15000 ]; then
    good
else
    bad ninth-client-served-after-idle-timeout "status '$(cat "$tmp/late")' after $((t3 - t0)) ms"
fi
echo "  measured: a ninth client was answered after $((t3 - t0)) ms (the idle timeout is 5 s)"
if grep -q '^closed 8 of 8, the last after [3-9]\.' "$tmp/hold" || grep -q '^closed 8 of 8, the last after 1[0-4]\.' "$tmp/hold"; then
    good
else
    bad idle-clients-closed "$(tail -n 1 "$tmp/hold")"
fi

# ---- unix:PATH -----------------------------------------------------------------------------------------

start u --virtual-clock --fixed-stats --metrics "unix:$tmp/metrics.sock" --metrics-label vm=u
pid_u=$last_pid
i=0
while ! grep -q "^metrics: listening on unix:$tmp/metrics.sock\$" "$tmp/u.err" && [ "$i" -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
code=$(curl -sS --max-time 10 --unix-socket "$tmp/metrics.sock" -o "$tmp/ubody" -w '%{http_code}' http://localhost/metrics)
if [ "$code" = 200 ] && out=$(promtool check metrics <"$tmp/ubody" 2>&1) && [ -z "$out" ] && grep -q '{vm="u"}' "$tmp/ubody"; then
    good
else
    bad unix-socket "status $code; promtool: $out; stderr: $(head -n 2 "$tmp/u.err")"
fi
kill "$pid_u"
wait "$pid_u"
rc=$?
[ "$rc" = 0 ] && [ ! -e "$tmp/metrics.sock" ] && good || bad unix-socket-removed "exit status $rc; socket left: $(ls "$tmp/metrics.sock" 2>&1)"

# ---- a response that backs up: 20 MB to a client that does not read ------------------------------------

big=$(awk 'BEGIN { s = "0123456789abcdef"; while (length(s) < 100000) s = s s; print substr(s, 1, 100000) }')
start s --virtual-clock --fixed-stats --metrics 0 --metrics-label "a=$big" --metrics-label "b=$big" \
    --metrics-label "c=$big" --metrics-label "d=$big"
pid_s=$last_pid
unset big
if PS=$(port_of s); then
    # one reader stalls until QMP has answered, one never reads again (for 8 s)
    "$PY" "$tmp/slow.py" "$PS" "$tmp/never" 8 >"$tmp/stuck" 2>&1 &
    stuck=$!
    "$PY" "$tmp/slow.py" "$PS" "$tmp/flag" 20 >"$tmp/slow" 2>&1 &
    spid=$!
    pids="$pids $stuck $spid"
    i=0
    while ! { grep -q stalled "$tmp/slow" && grep -q stalled "$tmp/stuck"; } && [ "$i" -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
    t1=$(now_ms)
    qmp s '{"execute": "query-balloon"'
    t2=$(now_ms)
    [ -n "$reply" ] && [ $((t2 - t1)) -lt 2000 ] && good || bad qmp-while-response-backed-up "reply '$reply' after $((t2 - t1)) ms"
    echo "  measured: QMP answered in $((t2 - t1)) ms while two 20 MB metrics responses waited for their readers"
    : >"$tmp/flag"
    wait "$spid"
    got=$(sed -n 's/^got \([0-9]*\) of \([0-9]*\) bytes$/\1 \2/p' "$tmp/slow")
    if [ -n "$got" ] && [ "${got% *}" = "${got#* }" ] && [ "${got% *}" -gt 20000000 ]; then
        good
    else
        bad backed-up-response-whole "$(cat "$tmp/slow")"
    fi
    # the one that never read: closed after 5 s without progress, short of its Content-Length
    wait "$stuck"
    got=$(sed -n 's/^got \([0-9]*\) of \([0-9]*\) bytes$/\1 \2/p' "$tmp/stuck")
    if [ -n "$got" ] && [ "${got% *}" -lt "${got#* }" ]; then
        good
    else
        bad stuck-reader-closed "$(cat "$tmp/stuck")"
    fi
else
    bad big-labels-start "$(head -n 2 "$tmp/s.err")"
fi
kill "$pid_s" 2>/dev/null

# ---- a real Prometheus scrapes two sims ----------------------------------------------------------------

if ! command -v prometheus >/dev/null 2>&1; then
    echo "metrics-http: skipped: the Prometheus server part: prometheus not installed (sudo apt-get install --no-install-recommends prometheus)"
    skip=$((skip + 1))
    finish
fi
start b --virtual-clock --fixed-stats --metrics 127.0.0.1:0 --metrics-label vm=b
PB=$(port_of b) || bad listening-line-b "$(head -n 2 "$tmp/b.err")"
# b's balloon takes 256 MiB: its guest's total memory differs from a's
qmp b '{"execute": "balloon", "arguments": {"value": 805306368}'
stats b
TB=$total
[ -n "$TB" ] && [ "$TB" != "$TA" ] && good || bad qmp-stats-b "stat-total-memory '$TB' (a: $TA)"

free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
mkdir "$tmp/prom"
cat >"$tmp/prom/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: vballoon
    static_configs:
      - targets: ['127.0.0.1:$PA', '127.0.0.1:$PB']
EOF
tries=0
while :; do
    PP=$(free_port)
    timeout 120 prometheus --config.file="$tmp/prom/prometheus.yml" --storage.tsdb.path="$tmp/prom/data" \
        --web.listen-address="127.0.0.1:$PP" >"$tmp/prom/log" 2>&1 &
    ppid=$!
    pids="$pids $ppid"
    i=0
    until curl -s --max-time 2 -o /dev/null "http://127.0.0.1:$PP/-/ready" || ! kill -0 "$ppid" 2>/dev/null || [ "$i" -ge 300 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    kill -0 "$ppid" 2>/dev/null && break
    tries=$((tries + 1)) # (the port was taken meanwhile: another one)
    [ "$tries" -lt 3 ] || break
done
if ! kill -0 "$ppid" 2>/dev/null; then
    bad prometheus-start "$(tail -n 5 "$tmp/prom/log")"
    finish
fi
# query EXPR: the API's answer as "vm value" lines, sorted
query() {
    curl -sS --max-time 5 -G "http://127.0.0.1:$PP/api/v1/query" --data-urlencode "query=$1" |
        "$PY" -c '
import json, sys
r = json.load(sys.stdin)
assert r["status"] == "success", r
for s in r["data"]["result"]:
    print(s["metric"].get("vm", "-"), s["value"][1])' | sort
}
want=$(printf 'a %s\nb %s\n' "$TA" "$TB")
i=0
t0=$(now_ms)
while [ "$i" -lt 60 ]; do # the first scrapes come within a second or two; 30 s at most
    got=$(query libvirt_domain_memory_stats_available_bytes 2>/dev/null)
    [ "$got" = "$want" ] && break
    sleep 0.5
    i=$((i + 1))
done
if [ "$got" = "$want" ]; then
    good
else
    bad prometheus-two-series "the API returned '$got', want '$want' (QMP's stat-total-memory)"
    tail -n 5 "$tmp/prom/log" | sed 's/^/  log: /'
fi
echo "  measured: Prometheus had both series $(($(now_ms) - t0)) ms after it was ready"
# both targets up: each scrape (OpenMetrics, as Prometheus asks for it) parsed without error
got=$(query 'up{job="vballoon"}')
[ "$(echo "$got" | cut -d' ' -f2 | tr '\n' ' ')" = "1 1 " ] && good || bad prometheus-up "up: '$got'"
# a series per device and label set: the histogram of each
got=$(query 'count by (vm) (vballoon_stats_answer_latency_seconds_bucket)')
[ "$got" = "$(printf 'a 8\nb 8\n')" ] && good || bad prometheus-histogram "buckets by vm: '$got'"

finish
