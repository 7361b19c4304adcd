#!/bin/bash
# tests/uml_test.sh - the real Linux virtio_balloon driver against build/vballoon-vhost-user:
# User-Mode Linux 6.1 (Debian's user-mode-linux package) boots a busybox initramfs that loads
# virtio_balloon.ko; the back-end serves it over vhost-user; this script plays the seed
# document's commands on the back-end's QMP socket and checks what the real guest does.
#
#   bash tests/uml_test.sh [path/to/vballoon-vhost-user]      (default build/vballoon-vhost-user)
#
# Needs /usr/bin/linux.uml, a static busybox and cc (to build tests/qmp_client.c and
# tests/uml_xstate_shim.c); without linux.uml it prints why and "uml: 0 passed, 0 failed,
# 1 skipped". Section 7a needs prometheus and curl (PROMETHEUS=path overrides): without them it
# is skipped, with a line that says why, and counted as skipped in the last line. Each check prints "FAIL <name>" when it fails; the numbers measured are printed
# as "uml: measured ..." lines; the last line is "uml: N passed, M failed". Every wait ends as
# soon as what it waits for is there, with a deadline long enough for a starved machine, and a
# watchdog stops everything at UML_WATCHDOG s (default 900). A time the check depends on is the
# device's own (the back-end log's poll times and round trips, the events' timestamps), or a
# client-side bound less the guest's measured round trip.
#
# Sections: 1-9 stats, balloon, reload, sessions (the device maps guest memory) and in-band
# notifications (with --no-map: the device copies it) at mem=128M (7a: a
# real Prometheus server scrapes the back-end's --metrics and its API gives the guest's MemTotal;
# 7b, 7c: the stats go stale after rmmod and fresh after insmod, the stale event once each way,
# rate-limited; "uml: stale after ..." gives the times measured); 10 free
# page reporting and hinting (through QMP's x-balloon-free-page-hint) at mem=512M; 11
# init_on_free=1; 12 --discard-hinted and deflate-on-OOM at mem=192M; 13 the 16 subsets of
# {STATS_VQ, FREE_PAGE_HINT, PAGE_POISON, REPORTING} offered, each booted with and without
# init_on_free=1 at mem=64M (32 boots of about 3 s); 14 the packed ring (--packed, about 45 s:
# UML_ONLY=packed runs it alone), docs/packed-ring.md. Takes about 3.5 minutes unloaded (sections
# 1-12 about 65 s, 7a-7c adding about 20 s of it, section 13 about 110 s); on a loaded 2-core
# machine allow twice that (7 to 8 minutes measured on one shared with other builds).
#
# The guest runs the commands this script drops into a shared host directory (hostfs): cmd.N is
# run with sh, its output appears as out.N.
# License: public domain (Unlicense).
set -u

BACKEND=${1:-build/vballoon-vhost-user}
UML=${UML:-/usr/bin/linux.uml}
CC=${CC:-cc}
BUSYBOX=${BUSYBOX:-}
pass=0
fail=0
skipped=0

closing() { echo "uml: $pass passed, $fail failed$([ "$skipped" -gt 0 ] && echo ", $skipped skipped")${1:-}"; }
skip() {
    echo "uml: skipped: $1"
    echo "uml: 0 passed, 0 failed, 1 skipped"
    exit 0
}

HINT="run: sudo apt-get install user-mode-linux busybox-static"
[ -x "$UML" ] || skip "$UML not found ($HINT)"
if [ -z "$BUSYBOX" ]; then
    for b in /bin/busybox /usr/bin/busybox; do
        if [ -x "$b" ] && file -L "$b" 2>/dev/null | grep -q "statically linked"; then BUSYBOX=$b; fi
    done
    # without `file`: Debian's busybox-static installs /bin/busybox; trust it
    [ -z "$BUSYBOX" ] && [ -x /bin/busybox ] && ! command -v file >/dev/null && BUSYBOX=/bin/busybox
fi
[ -n "$BUSYBOX" ] || skip "no static busybox ($HINT)"
KO=$(ls /usr/lib/uml/modules/*/kernel/drivers/virtio/virtio_balloon.ko 2>/dev/null | head -n 1)
[ -n "$KO" ] || skip "virtio_balloon.ko not found under /usr/lib/uml/modules ($HINT)"

D=$(mktemp -d /tmp/vb-uml.XXXXXX) || exit 1
SHARE=$D/share
Q=$D/qmp.sock
QC=$D/qmp_client
mkdir -p "$SHARE" "$D/root" "$D/uml"

bpid= upid= epid= wpid= prom_pid=
cleanup() {
    [ -n "$upid" ] && kill -KILL -- -"$upid" 2>/dev/null
    [ -n "$prom_pid" ] && kill "$prom_pid" 2>/dev/null
    [ -n "$epid" ] && kill "$epid" 2>/dev/null
    [ -n "$bpid" ] && kill "$bpid" 2>/dev/null
    [ -n "$wpid" ] && kill "$wpid" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$D"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

good() { pass=$((pass + 1)); }
bad() { # name, detail lines...
    fail=$((fail + 1))
    echo "FAIL $1"
    shift
    for line in "$@"; do echo "  $line"; done
}
check() { # name, condition (shell words), detail lines...
    local name=$1 cond=$2
    shift 2
    if eval "$cond"; then good; else bad "$name" "$@"; fi
}
measured() { echo "uml: measured $*"; }

# ---- setup: helpers, initramfs, back-end ----------------------------------------------------

if ! "$CC" -std=gnu99 -O2 -o "$QC" tests/qmp_client.c ||
    ! "$CC" -std=gnu99 -O2 -shared -fPIC -o "$D/xstate_shim.so" tests/uml_xstate_shim.c; then
    bad setup "cannot build tests/qmp_client.c or tests/uml_xstate_shim.c with $CC"
    closing
    exit 1
fi
if [ ! -x "$BACKEND" ]; then
    bad setup "$BACKEND is not an executable (make build/vballoon-vhost-user)"
    closing
    exit 1
fi

mkdir -p "$D/root/bin" "$D/root/dev" "$D/root/proc" "$D/root/sys" "$D/root/host"
cp "$BUSYBOX" "$D/root/bin/busybox"
cp "$KO" "$D/root/virtio_balloon.ko"
cat >"$D/root/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev # /dev/zero for dd
mount -t hostfs none /host -o "$vbshare"
grep MemTotal /proc/meminfo | tee /host/meminfo
insmod /virtio_balloon.ko && echo "init: virtio_balloon loaded"
n=1
while :; do
    if [ -f /host/cmd.$n ]; then
        sh /host/cmd.$n >/host/out.$n.tmp 2>&1
        mv /host/out.$n.tmp /host/out.$n
        n=$((n + 1))
        continue
    fi
    usleep 50000
done
EOF
chmod +x "$D/root/init"
if ! (cd "$D/root" && find . | "$BUSYBOX" cpio -o -H newc 2>/dev/null | gzip -1 >"$D/initrd.gz"); then
    bad setup "cannot build the initramfs"
    closing
    exit 1
fi

# the watchdog: a stuck step must not hang the test (every wait below has its own deadline too)
WATCHDOG=${UML_WATCHDOG:-900}
(
    trap 'kill "$s" 2>/dev/null; exit 0' TERM
    sleep "$WATCHDOG" &
    s=$!
    wait "$s" || exit 0
    echo "FAIL watchdog ($WATCHDOG s): stopping the guest and the back-end"
    g=$(cat "$D/uml.pgid" 2>/dev/null) && [ -n "$g" ] && kill -KILL -- -"$g" 2>/dev/null
    kill "$(cat "$D/backend.pid" 2>/dev/null || echo 0)" 2>/dev/null
) &
wpid=$!

start_backend() { # log file, extra options...
    local log=$1
    shift
    rm -f "$D/vb.sock" "$Q"
    "$BACKEND" --socket "$D/vb.sock" --qmp "unix:$Q" --ram 128 "$@" 2>"$log" &
    bpid=$!
    echo "$bpid" >"$D/backend.pid"
    for _ in $(seq 400); do
        [ -S "$D/vb.sock" ] && [ -S "$Q" ] && return 0
        sleep 0.05
    done
    return 1
}

boot() { # console log, [guest memory, default 128M], [extra kernel parameters]
    rm -f "$SHARE"/*
    gn=0 # the new guest's /init counts its commands from 1
    T_BOOT=$("$QC" --now)
    # shellcheck disable=SC2086 # (the extra parameters are words)
    LD_PRELOAD=$D/xstate_shim.so "$UML" mem="${2:-128M}" ${3:-} initrd="$D/initrd.gz" con=null con0=fd:0,fd:1 \
        uml_dir="$D/uml" virtio_uml.device="$D/vb.sock":5 vbshare="$SHARE" </dev/null >"$1" 2>&1 &
    upid=$! # UML calls setsid(): its process group is its pid, its helpers are in it
    echo "$upid" >"$D/uml.pgid"
}

kill_guest() {
    [ -n "$upid" ] && kill -KILL -- -"$upid" 2>/dev/null
    wait "$upid" 2>/dev/null
    upid=
}

qmp() { "$QC" --timeout 20000 "$Q" "$@"; }
now() { "$QC" --now; }
# the value of a JSON member "KEY": NUMBER in stdin
jnum() { sed -n "s/.*\"$1\": \(-\{0,1\}[0-9][0-9]*\).*/\1/p" | head -n 1; }
# one guest-stats sample: "MS LAST_UPDATE MINOR_FAULTS FREE TOTAL"
sample() { "$QC" --watch --until 0 --timeout 20000 "$Q"; }
# wait for N changes of the stats (MS ...), at most MS: prints the lines after the first
watch() { "$QC" --watch --until "$1" --timeout "$2" "$Q" | tail -n +2; }
# the same, counting changes from an earlier sample (one without its MS)
watch_from() { "$QC" --watch --until "$1" --timeout "$2" --from "$3" "$Q"; }

# gcmd NAME SCRIPT: run SCRIPT in the guest (within 60 s); its output in $OUT, status in $?
gn=0
gcmd() {
    local name=$1
    gn=$((gn + 1))
    printf '%s\n' "$2" >"$SHARE/cmd.tmp" && mv "$SHARE/cmd.tmp" "$SHARE/cmd.$gn"
    for _ in $(seq 1200); do
        if [ -f "$SHARE/out.$gn" ]; then
            OUT=$(cat "$SHARE/out.$gn")
            return 0
        fi
        sleep 0.05
    done
    OUT=
    bad "$name" "the guest did not run: $2"
    return 1
}

gsend() { # SCRIPT: run it in the guest, do not wait
    gn=$((gn + 1))
    printf '%s\n' "$1" >"$SHARE/cmd.tmp" && mv "$SHARE/cmd.tmp" "$SHARE/cmd.$gn"
}

# bytes of the guest memory file the host has allocated, seen through the back-end's fd
host_mem() {
    local f sum=0
    for f in /proc/"$bpid"/fd/*; do
        case $(readlink "$f" 2>/dev/null) in
        /dev/shm/*) sum=$((sum + $(stat -L -c '%b * %B' "$f"))) ;;
        esac
    done
    echo $((sum))
}
mib() { echo "$(($1 / 1048576)) MiB"; }
# the guest's part of the latest update seen: the longest poll round trip (poll to parsed buffer,
# back-end clock) of the last two in LOG, in whole ms rounded up; a client-side time less this
# is the device's and the observer's
rt_ms() { grep 'poll round trip' "${1:-$D/backend.log}" | tail -n 2 |
    awk '{for (i = 1; i < NF; i++) if ($i == "trip") {v = int($(i + 1)) + 1; if (v > m) m = v}} END {print m + 0}'; }
# cadence N INTERVAL_MS [LOG]: the device's own timing of its last N polled updates: each poll
# went out INTERVAL_MS (-10 .. +400) after the update before it (push time = the update's log
# time less its round trip). Prints the gaps in ms; fails if one is out of bounds or N are not there.
cadence() {
    grep 'poll round trip' "${3:-$D/backend.log}" | tail -n "$1" | awk -v n="$1" -v iv="$2" '
        {t = $0; sub(/^\[ */, "", t); sub(/\].*/, "", t); T = t * 1000
         for (i = 1; i < NF; i++) if ($i == "trip") rt = $(i + 1)
         if (NR > 1) {g = T - rt - prev; printf "%d ", g; if (g < iv - 10 || g > iv + 400) bad = 1}
         prev = T}
        END {exit bad || NR < n}'
}
wait_for_balloon() { # expected actual bytes, ms; prints the ms it took
    local t0 deadline
    t0=$(now)
    deadline=$((t0 + $2))
    while [ "$(now)" -lt "$deadline" ]; do
        if qmp '{"execute": "query-balloon"}' | grep -q "\"actual\": $1}"; then
            echo $(($(now) - t0))
            return 0
        fi
        sleep 0.05
    done
    return 1
}

# the value of a JSON member "KEY": "STRING" in stdin
jstr() { sed -n "s/.*\"$1\": \"\([^\"]*\)\".*/\1/p" | head -n 1; }
# the guest's MemFree in kB (in $OUT; NAME for the failure if the guest does not answer)
memfree() { gcmd "$1" 'sed -n "s/^MemFree: *\([0-9]*\) kB.*/\1/p" /proc/meminfo'; }

# free page hinting through QMP (the experimental commands the back-end serves)
hint_act() { qmp "{\"execute\": \"x-balloon-free-page-hint\", \"arguments\": {\"action\": \"$1\"}}"; }
hint_query() { # sets H_STATUS H_ID H_GUEST H_RANGES H_BYTES from x-query-balloon-free-page-hint
    H_Q=$(qmp '{"execute": "x-query-balloon-free-page-hint"}')
    H_STATUS=$(echo "$H_Q" | jstr status)
    H_ID=$(echo "$H_Q" | jnum cmd-id)
    H_GUEST=$(echo "$H_Q" | jnum guest-cmd-id)
    H_RANGES=$(echo "$H_Q" | jnum ranges)
    H_BYTES=$(echo "$H_Q" | jnum bytes)
}
# hint_round QUARTER_BYTES MS: x-balloon-free-page-hint start, then the query every few ms until
# the round is over (status back to "stop": the guest's STOP ended it) or MS pass. Sets H_REPLY
# (start's answer), H_ID0 (cmd-id before), H_ECHO (1 if guest-cmd-id == cmd-id was seen in
# "start"), H_TQ (ms from the start to QUARTER_BYTES hinted, empty if never), H_TEND (ms to the
# end of the round) and the H_ values of the last query.
hint_round() {
    local t0 t
    hint_query
    H_ID0=${H_ID:-0} H_ECHO=0 H_TQ= H_TEND=
    t0=$(now)
    H_REPLY=$(hint_act start)
    while :; do
        hint_query
        t=$(($(now) - t0))
        [ "$H_STATUS" = start ] && [ -n "$H_ID" ] && [ "$H_GUEST" = "$H_ID" ] && H_ECHO=1
        [ -z "$H_TQ" ] && [ "${H_BYTES:-0}" -ge "$1" ] && H_TQ=$t
        if [ "$H_STATUS" = stop ] || [ "$t" -ge "$2" ]; then
            H_TEND=$t
            return
        fi
        sleep 0.01
    done
}

SEED_PATH='/machine/peripheral-anon/device[1]'
seed_interval() { # value, [property]
    qmp "{ \"execute\": \"qom-set\",
             \"arguments\": { \"path\": \"$SEED_PATH\",
                         \"property\": \"${2:-guest-stats-polling-interval}\", \"value\": $1 } }"
}
seed_get() {
    qmp "{ \"execute\": \"qom-get\",
  \"arguments\": { \"path\": \"$SEED_PATH\",
  \"property\": \"guest-stats\" } }"
}

# A real Prometheus server (Debian's prometheus) scraping the back-end's --metrics every second
# (section 7a): on 127.0.0.1 (the back-end's port is its own choice, --metrics 127.0.0.1:0; the
# server's a free one), its own config and storage in $D, killed at exit.
PROM=${PROMETHEUS:-$(command -v prometheus 2>/dev/null)}
MPORT= PPORT=
free_port() { # a port on 127.0.0.1 nothing listens on now (a connection to it is refused)
    local p
    for p in $(shuf -i 20000-60999 -n 40); do
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
    done
    return 1
}
start_prometheus() {
    mkdir -p "$D/prom"
    cat >"$D/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: vballoon
    static_configs:
      - targets: ['127.0.0.1:$MPORT']
EOF
    PROM_T0=$(now)
    "$PROM" --config.file="$D/prometheus.yml" --storage.tsdb.path="$D/prom" \
        --web.listen-address="127.0.0.1:$PPORT" --log.level=warn >"$D/prometheus.log" 2>&1 &
    prom_pid=$!
}
prom_get() { curl -s --max-time 5 "http://127.0.0.1:$PPORT$1"; }
# the value of the first series of an instant query (empty: none)
prom_query() {
    curl -s --max-time 5 -G "http://127.0.0.1:$PPORT/api/v1/query" --data-urlencode "query=$1" |
        sed -n 's/.*"value":\[[0-9.]*,"\([^"]*\)"\].*/\1/p'
}
# prom_wait QUERY VALUE MS: the query answers VALUE within MS (0), else 1; PROM_V: the last answer
prom_wait() {
    local t0
    t0=$(now)
    while :; do
        PROM_V=$(prom_query "$1")
        [ "$PROM_V" = "$2" ] && return 0
        [ $(($(now) - t0)) -ge "$3" ] && return 1
        sleep 0.2
    done
}
if [ -z "$PROM" ] || [ ! -x "$PROM" ]; then
    echo "uml: skipped: Prometheus section: no prometheus binary (run: sudo apt-get install prometheus)"
    skipped=$((skipped + 1))
elif ! command -v curl >/dev/null; then
    echo "uml: skipped: Prometheus section: no curl (run: sudo apt-get install curl)"
    skipped=$((skipped + 1))
elif ! PPORT=$(free_port); then
    bad prometheus-port "no free port on 127.0.0.1 found"
fi

# ---- 14. the packed ring: the same driver with VIRTIO_F_RING_PACKED (--packed) ------------------

# The back-end offers bit 34 (--packed); Linux takes it, so the same stock driver lays out its
# three rings packed. Checked as in sections 2-7, at mem=128M: negotiation (the back-end's log
# and the guest's own /sys/bus/virtio/devices/*/features), UML's base 0 for fresh rings read as
# wrap 1 (the device's info line, docs/packed-ring.md), stats before any poll, the seed's four
# commands with their timing, a 64 MiB inflate and deflate, then the wrap-around: UML's rings are
# 256 entries whatever the back-end says (virtio_uml's MAX_SUPPORTED_QUEUE_SIZE), so to go round
# each ring at least twice the stats ring gets PK_ROUNDS polls (interval 0 -> 1 polls at once,
# back-to-back, each waiting for the driver's refill) and the inflate and deflate rings 8 more
# 64 MiB cycles (1 MiB per buffer: 576 buffers each). rmmod then stops the rings: each ring's
# base (the back-end logs it) must be where those counts put it, with its wrap counter; insmod
# brings fresh rings (base 0 again) and stats that keep flowing.
PK_ROUNDS=${UML_PACKED_ROUNDS:-600} # stats buffers of one driver load: > 2 x 256
SET0='{"execute": "qom-set", "arguments": {"path": "/machine/peripheral/balloon0", "property": "guest-stats-polling-interval", "value": 0}}'
SET1='{"execute": "qom-set", "arguments": {"path": "/machine/peripheral/balloon0", "property": "guest-stats-polling-interval", "value": 1}}'
# stats buffers the device parsed (every one is a log line: first of the session, update)
pk_buffers() { grep -c 'stats: first buffer\|stats: update' "$PLOG"; }
# where a ring of 256 stands after N descriptors: vhost-user's base (index | wrap << 15)
pk_base() { printf '0x%04x' $(($1 % 256 | (1 ^ ($1 / 256 & 1)) << 15)); }
pk_stop_base() { sed -n "s/.*queue $1 stopped (packed): base \(0x[0-9a-f]*\),.*/\1/p" "$PLOG" | head -n 1; }
packed_run() {
    local t0 t1 n n0 i ms cyc_ok cyc_ms lines free0 free1 total1 total2 sysf fl dgaps dok pkt
    PLOG=$D/backend-packed.log
    kill "$bpid" 2>/dev/null
    wait "$bpid" 2>/dev/null
    if ! start_backend "$PLOG" --packed --persistent; then
        bad packed-backend "the back-end did not start with --packed" "$(head -n 5 "$PLOG")"
        return
    fi
    fl=$(sed -n 's/.*listening on .*(features 0x\([0-9a-f]*\),.*/\1/p' "$PLOG" | head -n 1)
    check packed-offered '[ -n "$fl" ] && [ $((0x$fl >> 34 & 1)) = 1 ]' "$(head -n 1 "$PLOG")"
    boot "$D/console-packed.log"
    lines=$("$QC" --watch --until 1 --timeout 60000 "$Q")
    read -r t1 lu _ _ pkt <<<"$(echo "$lines" | tail -n 1)"
    if [ "${lu:--}" = - ] || [ "${pkt:--}" = - ]; then
        bad packed-first-stats "no stats within 60 s of the launch" \
            "$(grep -v '^ \[<' "$D/console-packed.log" | tail -n 5)" "$(tail -n 5 "$PLOG")"
        kill_guest
        return
    fi
    good
    measured "packed: boot-to-first-stats $((t1 - T_BOOT)) ms"
    fl=$(sed -n 's/.*driver: features 0x\([0-9a-f]*\),.*/\1/p' "$PLOG" | tail -n 1)
    gcmd packed-guest-features 'cat /sys/bus/virtio/devices/*/features'
    sysf=$OUT
    check packed-negotiated '[ -n "$fl" ] && [ $((0x$fl >> 34 & 1)) = 1 ] && [ "$(echo "$sysf" | cut -c35)" = 1 ]' \
        "back-end: driver features 0x${fl:-?}; guest /sys/bus/virtio/devices/*/features: ${sysf:-?}"
    measured "packed: driver features 0x$fl (guest sysfs $sysf)"
    check packed-base-0-read-as-wrap-1 'grep -q "device info: packed ring:" "$PLOG"' "no info line for the stats ring's starting wrap counter" \
        "$(grep 'SET_VRING_BASE\|device' "$PLOG" | head -n 5)"
    line=$(grep 'device info: packed ring:' "$PLOG" | head -n 1)
    [ -n "$line" ] && measured "packed: ${line#*] }"
    for _ in $(seq 400); do [ -s "$SHARE/meminfo" ] && break; sleep 0.05; done
    memtotal=$(sed -n 's/^MemTotal: *\([0-9]*\) kB.*/\1/p' "$SHARE/meminfo")
    # (this boot's own MemTotal: it differs between boots of the same mem=, by up to 3 MiB seen)
    check packed-total-memory-is-guest-memtotal '[ -n "$memtotal" ] && [ "$pkt" -eq $((memtotal * 1024)) ]' \
        "stat-total-memory $pkt, guest MemTotal ${memtotal:-?} kB"

    # seed command 1: polls at once, then every 2 s; free memory follows the guest
    before=$(sample)
    out=$(seed_interval 2)
    t0=$(now)
    t1=$(watch_from 1 30000 "${before#* }" | cut -d' ' -f1)
    rt=$(rt_ms "$PLOG")
    check packed-seed-enable-polls-at-once '[ "$out" = "{\"return\": {}}" ] && [ -n "$t1" ] && [ $((t1 - t0 - rt)) -lt 1000 ]' \
        "$out; update ${t1:+$((t1 - t0)) ms after enabling (guest round trip $rt ms)}"
    free0=$(sample | cut -d' ' -f4)
    gcmd packed-guest-allocates 'dd if=/dev/zero of=/fill bs=1M count=32 2>&1 | tail -n 1'
    lines=$(watch 3 30000)
    free1=$(echo "$lines" | head -n 1 | cut -d' ' -f4)
    dgaps=$(cadence 3 2000 "$PLOG")
    dok=$?
    check packed-free-memory-follows-guest '[ -n "$free1" ] && [ "$free1" != - ] && [ $((free0 - free1)) -gt $((24 * 1048576)) ]' \
        "free before ${free0:-?}, after 32 MiB in tmpfs ${free1:-?}"
    check packed-polls-every-2s '[ "$dok" = 0 ]' "poll after the previous update (ms, device): ${dgaps:-none}"
    measured "packed: free-memory drop after a 32 MiB dd: $(mib $((free0 - ${free1/-/0}))); poll after the previous update (ms, device): $dgaps"
    line=$(grep 'poll round trip' "$PLOG" | tail -n 1)
    [ -n "$line" ] && measured "packed: stats round trip (poll to parsed buffer): ${line#*round trip } (back-end clock)"

    # a 64 MiB inflate and deflate
    gcmd packed-guest-touches-memory 'rm -f /fill; dd if=/dev/zero of=/fill bs=1M count=64 2>/dev/null; rm /fill; echo done'
    host0=$(host_mem)
    out=$(qmp '{"execute": "balloon", "arguments": {"value": 67108864}}')
    if ms=$(wait_for_balloon 67108864 60000); then
        good
        measured "packed: 64 MiB inflate: actual reached in $ms ms"
    else
        bad packed-balloon-inflate "balloon: $out; query-balloon: $(qmp '{"execute": "query-balloon"}')"
    fi
    host1=$(host_mem)
    check packed-inflate-releases-host-memory '[ $((host0 - host1)) -ge $((32 * 1048576)) ]' \
        "guest memory file: $(mib "$host0") before, $(mib "$host1") after"
    total1=$(watch 1 30000 | tail -n 1 | cut -d' ' -f5)
    check packed-total-memory-follows-balloon '[ "$total1" = $((pkt - 67108864)) ]' "stat-total-memory ${total1:-?}, expected $pkt - 64 MiB"
    qmp '{"execute": "balloon", "arguments": {"value": 134217728}}' >/dev/null
    if ms=$(wait_for_balloon 134217728 60000); then
        good
        measured "packed: 64 MiB deflate: actual back in $ms ms"
    else
        bad packed-balloon-deflate "query-balloon: $(qmp '{"execute": "query-balloon"}')"
    fi
    total2=$(watch 1 30000 | tail -n 1 | cut -d' ' -f5)
    check packed-total-memory-back-after-deflate '[ "$total2" = "$pkt" ]' "stat-total-memory ${total2:-?}, expected $pkt"

    # seed commands 2 and 3: interval 10 (the pending 2 s tick dropped), the stats as in the split run
    watch 1 30000 >/dev/null
    t0=$(now)
    out=$(seed_interval 10)
    t1=$(watch 1 60000 | cut -d' ' -f1)
    check packed-seed-change-polling '[ "$out" = "{\"return\": {}}" ] && [ -n "$t1" ] && [ $((t1 - t0)) -ge 9500 ] && [ $((t1 - t0 - $(rt_ms "$PLOG"))) -le 11500 ]' \
        "$out; first update ${t1:+$((t1 - t0)) ms }after setting 10"
    out=$(seed_get)
    keys=$(echo "$out" | grep -o '"stat-[a-z-]*"' | tr '\n' ' ')
    check packed-seed-get-stats 'echo "$out" | grep -q "^{\"return\": {\"stats\": {.*\"stat-total-memory\": $pkt.*}, \"last-update\": [0-9]*}}$" && [ "$keys" = "${SPLIT_KEYS:-$keys}" ]' \
        "$out" "keys: $keys" "split run's keys: ${SPLIT_KEYS:-not run}"
    # seed command 4: disabled, the stats stay and freeze
    out=$(seed_interval 0 stats-polling-interval)
    before=$(sample | cut -d' ' -f2-)
    lines=$(watch_from 1 3500 "$before")
    check packed-seed-disable-polling '[ "$out" = "{\"return\": {}}" ] && [ -z "$lines" ] && case $before in -*) false ;; *) true ;; esac' \
        "$out; updates after disabling: ${lines:-none}; stats: $before"

    # the wrap-around: stats rounds back to back, then 8 more inflate/deflate cycles
    n0=$(pk_buffers)
    t0=$(now)
    SECONDS=0
    while n=$(pk_buffers) && [ "$n" -lt "$PK_ROUNDS" ] && [ "$SECONDS" -lt 240 ]; do
        qmp "$SET0" "$SET1" >/dev/null
        for _ in $(seq 400); do # the refill (the 1 s timer polls anyway)
            [ "$(pk_buffers)" -gt "$n" ] && break
            sleep 0.005
        done
    done
    qmp "$SET0" >/dev/null
    t1=$(now)
    n=$(pk_buffers)
    last=$(sample)
    read -r _ _ _ free1 total1 <<<"$last"
    check packed-stats-ring-wraps-twice '[ "$n" -ge "$PK_ROUNDS" ] && [ "$total1" = "$pkt" ] && [ "$free1" -gt 0 ] && [ "$free1" -lt "$total1" ]' \
        "$n stats buffers of $PK_ROUNDS after $((t1 - t0)) ms; last stats: $last"
    measured "packed: $((n - n0)) stats rounds in $((t1 - t0)) ms ($(((t1 - t0) * 1000 / ((n - n0) > 0 ? n - n0 : 1))) us a round, QMP and the guest included); $n stats buffers on the ring of 256: $(((n - 1) / 256)) wraps"
    cyc_ok=0
    t0=$(now)
    for i in $(seq 8); do
        qmp '{"execute": "balloon", "arguments": {"value": 67108864}}' >/dev/null
        wait_for_balloon 67108864 60000 >/dev/null || break
        qmp '{"execute": "balloon", "arguments": {"value": 134217728}}' >/dev/null
        wait_for_balloon 134217728 60000 >/dev/null || break
        cyc_ok=$i
    done
    cyc_ms=$(($(now) - t0))
    check packed-inflate-deflate-rings-wrap-twice '[ "$cyc_ok" = 8 ]' "$cyc_ok of 8 cycles of 64 MiB; query-balloon: $(qmp '{"execute": "query-balloon"}')"
    measured "packed: 8 more inflate/deflate cycles of 64 MiB in $cyc_ms ms: 576 buffers of 1 MiB on each ring of 256 ($((576 / 256)) wraps)"
    check packed-no-device-error '! grep -q "device error\|malformed\|protocol error" "$PLOG"' \
        "$(grep 'device error\|malformed\|protocol error' "$PLOG" | head -n 3)"

    # rmmod stops the rings: each base where the counts put it; insmod: fresh rings, stats again
    n=$(pk_buffers)
    before=$(sample)
    gcmd packed-driver-reload 'rmmod virtio_balloon && insmod /virtio_balloon.ko && echo reloaded'
    watch_from 1 30000 "${before#* }" >/dev/null
    after=$(sample)
    b0=$(pk_stop_base 0) b1=$(pk_stop_base 1) b2=$(pk_stop_base 2)
    # (the stats ring: the device holds buffer n - 1, which a restart would read again)
    check packed-stop-bases '[ "$b0" = "$(pk_base 576)" ] && [ "$b1" = "$(pk_base 576)" ] && [ "$b2" = "$(pk_base $((n - 1)))" ]' \
        "bases at rmmod: inflate ${b0:-none}, deflate ${b1:-none}, stats ${b2:-none}; expected $(pk_base 576), $(pk_base 576) (576 buffers each), $(pk_base $((n - 1))) (buffer $((n - 1)) held)" \
        "$(grep 'stopped (packed)' "$PLOG" | head -n 3)"
    measured "packed: ring bases at rmmod: inflate ${b0:-none}, deflate ${b1:-none}, stats ${b2:-none} ($n stats buffers)"
    check packed-reload-primes-stats '[ "$OUT" = reloaded ] && [ "${before#* }" != "${after#* }" ] && [ "$(grep -c "device info: packed ring:" "$PLOG")" -ge 2 ]' \
        "guest: ${OUT:-?}; stats before: $before; after: $after; starting wrap corrected $(grep -c 'device info: packed ring:' "$PLOG") times"
    qmp "$SET1" >/dev/null
    lines=$(watch 2 30000)
    dgaps=$(cadence 2 1000 "$PLOG")
    dok=$?
    check packed-reload-stats-keep-flowing '[ "$dok" = 0 ] && [ $(echo "$lines" | grep -c .) -ge 2 ]' \
        "updates at interval 1 after the reload: ${lines:-none}; poll after the previous update (ms, device): ${dgaps:-none}"
    qmp "$SET0" >/dev/null
    check packed-reload-no-ring-error '! grep -q "device error\|malformed\|protocol error" "$PLOG"' \
        "$(grep 'device error\|malformed\|protocol error' "$PLOG" | head -n 3)"
    kill_guest
    kill "$bpid" 2>/dev/null
    wait "$bpid" 2>/dev/null
}

# UML_ONLY=packed: only section 14 (the packed ring), e.g. while working on it
if [ "${UML_ONLY:-}" = packed ]; then
    packed_run
    [ "$fail" -ne 0 ] && [ -f "$PLOG" ] && grep -v 'stats: update' "$PLOG" | tail -n 30 | sed 's/^/  | /'
    closing
    [ "$fail" -eq 0 ]
    exit
fi

# ---- 1. the monitor, before any guest -------------------------------------------------------

if ! start_backend "$D/backend.log" --persistent ${PPORT:+--metrics 127.0.0.1:0}; then
    bad setup "the back-end did not start" "$(head -n 5 "$D/backend.log")"
    closing
    exit 1
fi
out=$("$QC" --raw --timeout 20000 "$Q" '{"execute": "query-balloon"}')
check qmp-greeting 'echo "$out" | head -n 1 | grep -q "^{\"QMP\": {\"version\": {\"qemu\": "' "$out"
check qmp-capabilities-required \
    'echo "$out" | tail -n 1 | grep -q "Expecting capabilities negotiation with '"'"'qmp_capabilities'"'"'"' "$out"
out=$(qmp '{"execute": "qom-get", "arguments": {"path": "/machine/peripheral/balloon0", "property": "guest-stats"}}')
check stats-error-before-driver 'echo "$out" | grep -q "guest hasn'"'"'t updated any stats yet"' "$out"
if [ -n "$PPORT" ]; then # (it starts while the guest boots)
    MPORT=$(sed -n 's/.*metrics: listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$D/backend.log" | head -n 1)
    if [ -n "$MPORT" ]; then
        start_prometheus
    else
        bad metrics-port "the back-end did not say where --metrics listens" "$(head -n 3 "$D/backend.log")"
        PPORT=
    fi
fi

# ---- 2. boot: stats before any poll ---------------------------------------------------------

boot "$D/console1.log"
"$QC" --events --timeout 600000 "$Q" >"$D/events.log" 2>/dev/null &
epid=$!
lines=$("$QC" --watch --until 1 --timeout 60000 "$Q")
first=$(echo "$lines" | tail -n 1)
read -r T_FIRST lu _ _ TOTAL0 <<<"$first"
if [ "${lu:--}" != - ] && [ "${TOTAL0:--}" != - ]; then
    good
    measured "boot-to-first-stats $((T_FIRST - T_BOOT)) ms (UML launch to the first guest-stats seen over QMP, polling every 50 ms; interval 0: no poll was ever asked)"
else
    bad first-stats-before-any-poll "no stats within 60 s of the launch: $first" \
        "$(grep -v '^ \[<' "$D/console1.log" | tail -n 5)" "$(tail -n 5 "$D/backend.log")"
    closing
    exit 1
fi
line=$(grep 'first buffer of the session' "$D/backend.log" | head -n 1)
[ -n "$line" ] && measured "connect-to-first-stats ${line#*session, } (back-end clock)"

for _ in $(seq 400); do [ -s "$SHARE/meminfo" ] && break; sleep 0.05; done
memtotal=$(sed -n 's/^MemTotal: *\([0-9]*\) kB.*/\1/p' "$SHARE/meminfo")
check total-memory-is-guest-memtotal '[ -n "$memtotal" ] && [ "$TOTAL0" -eq $((memtotal * 1024)) ]' \
    "stat-total-memory $TOTAL0, guest MemTotal ${memtotal:-?} kB"
measured "stat-total-memory $TOTAL0 bytes = guest MemTotal ${memtotal:-?} kB x 1024"

# ---- 3. seed command 1: interval 2 polls at once, then every 2 s ----------------------------

# (t_set: when the set had been done; less the guest's round trip, the update must follow it by
# less than 1 s: at once, not at the 2 s tick)
before=$(sample)
out=$(seed_interval 2)
t_set=$(now)
check seed-enable-polling '[ "$out" = "{\"return\": {}}" ]' "$out"
t_upd=$(watch_from 1 30000 "${before#* }" | cut -d' ' -f1)
rt=$(rt_ms)
check interval-2-polls-at-once '[ -n "$t_upd" ] && [ $((t_upd - t_set - rt)) -lt 1000 ]' \
    "no update within 1 s of enabling${t_upd:+ ($((t_upd - t_set)) ms, guest round trip $rt ms)}"
[ -n "$t_upd" ] && measured "enable-to-update $((t_upd - t_set)) ms (guest round trip $rt ms)"

free0=$(sample | cut -d' ' -f4)
gcmd guest-allocates 'dd if=/dev/zero of=/fill bs=1M count=32 2>&1 | tail -n 1'
lines=$(watch 3 30000)
free1=$(echo "$lines" | head -n 1 | cut -d' ' -f4)
check free-memory-follows-guest \
    '[ -n "$free1" ] && [ "$free1" != - ] && [ $((free0 - free1)) -gt $((24 * 1048576)) ]' \
    "free before ${free0:-?}, after 32 MiB in tmpfs ${free1:-?}"
[ -n "$free1" ] && [ "$free1" != - ] && measured "free-memory drop after a 32 MiB dd: $(mib $((free0 - free1)))"
# cadence: each poll 2 s after the update before it (the device's times, from the back-end
# log), and last-update moving in steps of 1 s to the updates' gaps rounded up (3 s for 2.0x s)
gaps=$(echo "$lines" | awk 'NR > 1 {printf "%d/%d ", $1 - t, $2 - u} {t = $1; u = $2}')
dgaps=$(cadence 3 2000)
dok=$?
umax=$(grep 'poll round trip' "$D/backend.log" | tail -n 3 | awk '{t = $0; sub(/^\[ */, "", t); sub(/\].*/, "", t)
    T = t * 1000; if (NR > 1 && T - p > m) m = T - p; p = T} END {print int((m + 1 + 999) / 1000)}')
check last-update-every-2s \
    '[ "$dok" = 0 ] && [ $(echo "$lines" | wc -l) -ge 3 ] && echo "$gaps" | awk -v umax="$umax" "{for (i = 1; i <= NF; i++) {split(\$i, g, \"/\"); if (g[2] < 1 || g[2] > umax) exit 1}}"' \
    "poll after the previous update (ms, device): ${dgaps:-none}; gaps between updates seen (ms/last-update s, at most $umax s): ${gaps:-none}"
measured "update gaps at interval 2 (ms/s): $gaps; poll after the previous update (ms, device): $dgaps"
line=$(grep 'poll round trip' "$D/backend.log" | tail -n 1)
[ -n "$line" ] && measured "stats round trip (poll to parsed buffer): ${line#*round trip } (back-end clock)"

# ---- 4. balloon: inflate 64 MiB, deflate ------------------------------------------------------

gcmd guest-touches-memory 'rm -f /fill; dd if=/dev/zero of=/fill bs=1M count=64 2>/dev/null; rm /fill; echo done'
host0=$(host_mem)
out=$(qmp '{"execute": "balloon", "arguments": {"value": 67108864}}')
check balloon-command '[ "$out" = "{\"return\": {}}" ]' "$out"
if ms=$(wait_for_balloon 67108864 60000); then
    good
    measured "64 MiB inflate: actual reached in $ms ms"
else
    bad balloon-inflate-query-balloon "query-balloon: $(qmp '{"execute": "query-balloon"}')"
fi
host1=$(host_mem)
check inflate-releases-host-memory '[ $((host0 - host1)) -ge $((32 * 1048576)) ]' \
    "guest memory file: $(mib "$host0") before, $(mib "$host1") after"
measured "host memory released by a 64 MiB inflate: $(mib $((host0 - host1))) ($host0 -> $host1 bytes allocated in the guest memory file)"
line=$(grep 'the target; host released' "$D/backend.log" | tail -n 1)
[ -n "$line" ] && measured "back-end: ${line#* balloon: }"
lines=$(watch 1 30000)
total1=$(echo "$lines" | tail -n 1 | cut -d' ' -f5)
check total-memory-follows-balloon '[ "$total1" = $((TOTAL0 - 67108864)) ]' \
    "stat-total-memory ${total1:-?}, expected $TOTAL0 - 64 MiB"
# the last event comes at the end of BALLOON_CHANGE's one-second window (wait for it: 20 s)
for _ in $(seq 400); do
    ev=$(grep BALLOON_CHANGE "$D/events.log")
    evlast=$(echo "$ev" | tail -n 1 | jnum actual)
    [ "$evlast" = 67108864 ] && break
    sleep 0.05
done
check balloon-change-events '[ -n "$ev" ] && [ "$evlast" = 67108864 ]' "events: ${ev:-none}"
# at most one a second: the events' own timestamps (when the device sent them; the MS a client
# saw them at is late by as much as that client was)
check balloon-change-rate-limited \
    'echo "$ev" | sed -n "s/.*\"seconds\": \([0-9]*\), \"microseconds\": \([0-9]*\).*/\1 \2/p" |
        awk "{t = \$1 * 1000 + int(\$2 / 1000)} NR > 1 && t - p < 950 {exit 1} {p = t} END {exit NR < 1}"' "$ev"

out=$(qmp '{"execute": "balloon", "arguments": {"value": 134217728}}')
if ms=$(wait_for_balloon 134217728 60000); then
    good
    measured "64 MiB deflate: actual back in $ms ms"
else
    bad balloon-deflate-query-balloon "query-balloon: $(qmp '{"execute": "query-balloon"}')"
fi
lines=$(watch 1 30000)
total2=$(echo "$lines" | tail -n 1 | cut -d' ' -f5)
check total-memory-back-after-deflate '[ "$total2" = "$TOTAL0" ]' "stat-total-memory ${total2:-?}, expected $TOTAL0"
gcmd guest-uses-deflated-memory 'dd if=/dev/zero of=/fill bs=1M count=64 2>/dev/null; rm /fill; echo done'
host2=$(host_mem)
check deflated-memory-comes-back '[ $((host2 - host1)) -ge $((32 * 1048576)) ]' \
    "guest memory file: $(mib "$host1") deflated, $(mib "$host2") after the guest used 64 MiB"

# ---- 5. seed commands 2 and 3: interval 10 --------------------------------------------------

# (set right after an update, so no poll is in flight; t_set0/t_set1: before/after the set: the
# update must come >= 9.5 s after the first, <= 11 s after the second less the guest's round trip)
watch 1 30000 >/dev/null
t_set0=$(now)
out=$(seed_interval 10)
t_set1=$(now)
check seed-change-polling '[ "$out" = "{\"return\": {}}" ]' "$out"
t_upd=$(watch 1 60000 | cut -d' ' -f1)
rt=$(rt_ms)
check interval-10-next-update-after-10s '[ -n "$t_upd" ] && [ $((t_upd - t_set0)) -ge 9500 ] && [ $((t_upd - t_set1 - rt)) -le 11000 ]' \
    "first update ${t_upd:+$((t_upd - t_set0)) ms }after setting 10 (the pending 2 s tick must be dropped; the set took $((t_set1 - t_set0)) ms, guest round trip $rt ms)"
[ -n "$t_upd" ] && measured "interval 2 -> 10: next update $((t_upd - t_set0)) ms after the set"
out=$(seed_get)
check seed-get-stats 'echo "$out" | grep -q "^{\"return\": {\"stats\": {.*\"stat-total-memory\": $TOTAL0.*}, \"last-update\": [0-9]*}}$"' "$out"
SPLIT_KEYS=$(echo "$out" | grep -o '"stat-[a-z-]*"' | tr '\n' ' ') # (section 14 compares)

qmp '{"execute": "qom-set", "arguments": {"path": "/machine/peripheral/balloon0", "property": "guest-stats-polling-interval", "value": 4294967295}}' >/dev/null
t_set0=$(now)
qmp '{"execute": "qom-set", "arguments": {"path": "/machine/peripheral/balloon0", "property": "guest-stats-polling-interval", "value": 2}}' >/dev/null
t_set1=$(now)
t_upd=$(watch 1 30000 | cut -d' ' -f1)
rt=$(rt_ms)
check interval-rearmed-to-now-plus-2s '[ -n "$t_upd" ] && [ $((t_upd - t_set0)) -ge 1700 ] && [ $((t_upd - t_set1 - rt)) -le 2600 ]' \
    "first update ${t_upd:+$((t_upd - t_set0)) ms }after 4294967295 -> 2 (the set took $((t_set1 - t_set0)) ms, guest round trip $rt ms)"

# ---- 6. seed command 4: disable; stats stay, last-update frozen ------------------------------

out=$(seed_interval 0 stats-polling-interval)
check seed-disable-polling '[ "$out" = "{\"return\": {}}" ]' "$out"
before=$(sample | cut -d' ' -f2-)
lines=$(watch_from 1 3500 "$before")
after=$(sample | cut -d' ' -f2-)
check disabled-polling-freezes-stats '[ -z "$lines" ] && [ "$before" = "$after" ]' \
    "updates after disabling: ${lines:-none}; before: $before; after: $after"
check stats-remain-after-disable 'case $after in -*) false ;; *) true ;; esac' "$after"

# ---- 7. driver reload -----------------------------------------------------------------------

before=$(sample)
gcmd driver-reload 'rmmod virtio_balloon && insmod /virtio_balloon.ko && echo reloaded'
watch_from 1 30000 "${before#* }" >/dev/null
after=$(sample)
check reload-primes-stats '[ "$OUT" = reloaded ] && [ "${before#* }" != "${after#* }" ]' \
    "guest: ${OUT:-?}; stats before: $before; after: $after"
qmp '{"execute": "qom-set", "arguments": {"path": "/machine/peripheral/balloon0", "property": "guest-stats-polling-interval", "value": 1}}' >/dev/null
lines=$(watch 2 30000)
dgaps=$(cadence 2 1000)
dok=$?
check reload-stats-keep-flowing '[ "$dok" = 0 ] && [ $(echo "$lines" | grep -c .) -ge 2 ]' \
    "updates at interval 1 after the reload: ${lines:-none}; poll after the previous update (ms, device): ${dgaps:-none}"
check reload-no-ring-error '! grep -q "device error" "$D/backend.log"' "$(grep 'device error' "$D/backend.log" | head -n 3)"

# ---- 7a. a real Prometheus server scrapes the back-end ----------------------------------------

# Prometheus (scrape_interval 1s) scrapes the back-end's --metrics; an instant query through its
# HTTP API gives the guest's total memory (VIRTIO_BALLOON_S_MEMTOT is
# libvirt_domain_memory_stats_available_bytes), which must be the guest's own MemTotal x 1024.
if [ -n "$PPORT" ]; then
    ready=
    while [ $(($(now) - PROM_T0)) -lt 60000 ]; do
        prom_get /-/ready >/dev/null && ready=1 && break
        kill -0 "$prom_pid" 2>/dev/null || break
        sleep 0.2
    done
    check prometheus-ready '[ -n "$ready" ]' "not ready within 60 s of its launch" "$(tail -n 5 "$D/prometheus.log")"
    gcmd prometheus-guest-memtotal 'sed -n "s/^MemTotal: *\([0-9]*\) kB.*/\1/p" /proc/meminfo'
    mt=$OUT
    t0=$(now)
    prom_wait libvirt_domain_memory_stats_available_bytes "$((${mt:-0} * 1024))" 30000
    pv=$PROM_V
    t_val=$(($(now) - t0))
    targets=$(prom_get /api/v1/targets)
    scrape=$(prom_query scrape_duration_seconds)
    nsamples=$(prom_query "count_over_time(up[5m])")
    check prometheus-total-memory-is-guest-memtotal '[ -n "$mt" ] && [ "$pv" = $((mt * 1024)) ]' \
        "Prometheus: libvirt_domain_memory_stats_available_bytes ${pv:-none}; guest MemTotal ${mt:-?} kB" \
        "targets: $(echo "$targets" | head -c 400)" "$(tail -n 3 "$D/prometheus.log")"
    check prometheus-target-up 'echo "$targets" | grep -q "\"scrapeUrl\":\"http://127.0.0.1:$MPORT/metrics\"" && echo "$targets" | grep -q "\"health\":\"up\""' \
        "targets: $(echo "$targets" | head -c 400)"
    measured "Prometheus: libvirt_domain_memory_stats_available_bytes ${pv:-none} = guest MemTotal ${mt:-?} kB x 1024 (answered after $t_val ms of asking, $((($(now) - PROM_T0) / 1000)) s after its launch; ${nsamples:-?} scrapes so far, the last took ${scrape:-?} s)"
fi

# ---- 7b. the stats go stale without the driver, and fresh when it is back ----------------------

# Polling every SI s, the driver is removed (rmmod: virtio_balloon is a module here); the device
# misses K = 3 intervals (vb_config.stale_after 0) and the back-end sends the stale event once
# (__org.vballoon_BALLOON_STATS_STALE, "stale": true), then no other while the driver stays away
# (the intervals go on being missed). insmod brings the driver back; its first stats buffer
# makes the stats fresh: the event with "stale": false. Times: the back-end's log line for each
# change (VM clock = CLOCK_MONOTONIC ms here, as no stop was issued, the clock of `now` and of
# the event lines) and the event's arrival at the event client.
K=3 SI=2
ev_stale() { grep '_BALLOON_STATS_STALE' "$D/events.log" | grep -c "\"stale\": $1"; }
# ev_wait true|false N MS: the Nth stale event with that value arrives within MS; its line in EVL
ev_wait() {
    local t0
    t0=$(now)
    while :; do
        EVL=$(grep '_BALLOON_STATS_STALE' "$D/events.log" | grep "\"stale\": $1" | sed -n "${2}p")
        [ -n "$EVL" ] && return 0
        [ $(($(now) - t0)) -ge "$3" ] && return 1
        sleep 0.05
    done
}
# the VM clock (ms) of the Nth "stats: stale" / "stats: fresh" log line; for stale also the last
# buffer's: "NOW LAST"
log_change() { sed -n "s/.*stats: $1.*VM clock \([0-9]*\) ms; last buffer at \([0-9]*\) ms.*/\1 \2/p" "$D/backend.log" | sed -n "${2}p"; }
secs() { awk -v m="$1" 'BEGIN {printf "%.1f", m / 1000}'; }
telemetry() {
    qmp '{"execute": "qom-get", "arguments": {"path": "/machine/peripheral/balloon0", "property": "x-guest-stats-telemetry"}}'
}
ns0=$(ev_stale true)
nf0=$(ev_stale false)
nlog0=$(grep -c 'stats: stale' "$D/backend.log")
nlf0=$(grep -c 'stats: fresh' "$D/backend.log")
seed_interval "$SI" >/dev/null
watch 2 30000 >/dev/null # two updates at the new interval
gcmd stale-rmmod 'rmmod virtio_balloon && echo removed'
t_rm=$(now)
if ev_wait true $((ns0 + 1)) $(((K * SI + 15) * 1000)); then
    t_st=${EVL%% *}
    read -r v_st v_last <<<"$(log_change stale $((nlog0 + 1)))"
    lu=$(seed_get | jnum last-update)
    d_dev=$((${v_st:-0} - ${v_last:-0}))
    d_cli=$((t_st - ${v_last:-0}))
    check stale-after-k-intervals '[ "$OUT" = removed ] && [ -n "$v_st" ] && [ "$d_cli" -ge $((K * SI * 1000 - 1000)) ] && [ "$d_cli" -le $((K * SI * 1000 + 10000)) ]' \
        "rmmod: ${OUT:-?}; stale event $d_cli ms after the last buffer (device: $d_dev ms), want $((K * SI)) s -1 .. +10 s" "$EVL"
    check stale-event-data 'echo "$EVL" | grep -q "\"data\": {\"stale\": true, \"missed-intervals\": $K, \"last-update\": ${lu:-x}}"' \
        "$EVL" "guest-stats last-update: ${lu:-?}"
    # no second one while the driver stays away: two more intervals, each missed
    sleep $((2 * SI + 1))
    tel=$(telemetry)
    check stale-event-once '[ "$(ev_stale true)" = $((ns0 + 1)) ] && [ "$(grep -c "stats: stale" "$D/backend.log")" = $((nlog0 + 1)) ]' \
        "stale events: $(($(ev_stale true) - ns0)) (want 1) over $((($(now) - t_st) / 1000)) s stale"
    check stale-telemetry 'echo "$tel" | grep -q "\"stale\": true" && [ "$(echo "$tel" | jnum missed-intervals)" -ge $((K + 2)) ]' \
        "x-guest-stats-telemetry after $((2 * SI + 1)) s more: $tel"
    if [ -n "$PPORT" ]; then
        prom_wait vballoon_stats_stale 1 10000
        check prometheus-sees-stale '[ "$PROM_V" = 1 ]' "Prometheus: vballoon_stats_stale ${PROM_V:-none} while stale"
    fi
    # the driver comes back
    t_ins=$(now)
    gcmd fresh-insmod 'insmod /virtio_balloon.ko && echo loaded'
    if ev_wait false $((nf0 + 1)) 30000; then
        t_fr=${EVL%% *}
        read -r v_fr _ <<<"$(log_change fresh $((nlf0 + 1)))"
        d_rec=$((t_fr - t_ins))
        check fresh-after-driver-back '[ "$OUT" = loaded ] && [ "$d_rec" -le 10000 ] && echo "$EVL" | grep -q "\"stale\": false, \"missed-intervals\": 0"' \
            "insmod: ${OUT:-?}; fresh event $d_rec ms after insmod was sent" "$EVL"
        check fresh-event-once '[ "$(ev_stale false)" = $((nf0 + 1)) ] && [ "$(ev_stale true)" = $((ns0 + 1)) ]' \
            "$(grep '_BALLOON_STATS_STALE' "$D/events.log" | tail -n 3)"
        echo "uml: stale after $(secs "$d_cli") s (K=$K, interval $SI s); recovered $(secs "$d_rec") s after the driver came back"
        measured "stale: the device logged it $d_dev ms after the last buffer, the event reached a QMP client $((t_st - v_st)) ms later; fresh: device $((${v_fr:-0} - t_ins)) ms after insmod was sent, event $d_rec ms (rmmod done $((t_rm - ${v_last:-0})) ms after the last buffer)"
        if [ -n "$PPORT" ]; then
            prom_wait vballoon_stats_stale 0 10000
            check prometheus-sees-fresh '[ "$PROM_V" = 0 ]' "Prometheus: vballoon_stats_stale ${PROM_V:-none} after recovery"
        fi
    else
        bad fresh-after-driver-back "insmod: ${OUT:-?}; no fresh event within 30 s" "$(grep 'stats:' "$D/backend.log" | tail -n 3)"
    fi
else
    bad stale-after-k-intervals "rmmod: ${OUT:-?}; no stale event within $((K * SI + 15)) s" \
        "$(grep 'stats:' "$D/backend.log" | tail -n 3)" "$(tail -n 3 "$D/events.log")"
    gcmd stale-insmod 'insmod /virtio_balloon.ko && echo loaded'
fi

# ---- 7c. the stale event's rate limit: fresh right after stale waits for the window's end -----

# At interval 1 the driver is removed and, as soon as the stale event arrives, loaded again: its
# first buffer makes the stats fresh well within a second of going stale, so the fresh event
# (rate-limited per event like BALLOON_CHANGE, one a second) goes out at the end of the stale
# event's window: >= 1 s after it (900 ms allowed for the client's own delays).
seed_interval 1 >/dev/null
watch 1 30000 >/dev/null
ns0=$(ev_stale true)
nf0=$(ev_stale false)
nlog0=$(grep -c 'stats: stale' "$D/backend.log")
nlf0=$(grep -c 'stats: fresh' "$D/backend.log")
gcmd limit-rmmod 'rmmod virtio_balloon && echo removed'
if ev_wait true $((ns0 + 1)) 20000; then
    t_st=${EVL%% *}
    gcmd limit-insmod 'insmod /virtio_balloon.ko && echo loaded'
    if ev_wait false $((nf0 + 1)) 30000; then
        t_fr=${EVL%% *}
        v_st=$(log_change stale $((nlog0 + 1)) | cut -d' ' -f1)
        v_fr=$(log_change fresh $((nlf0 + 1)) | cut -d' ' -f1)
        dv=$((${v_fr:-0} - ${v_st:-0}))
        if [ -n "$v_fr" ] && [ "$dv" -lt 900 ]; then
            check stale-event-rate-limited '[ $((t_fr - t_st)) -ge 900 ]' \
                "fresh $dv ms after stale (device), its event $((t_fr - t_st)) ms after the stale event"
        else # (a starved guest: nothing to check, and nothing passed)
            echo "uml: skipped: stale-event-rate-limited: the driver came back $dv ms after the stats went stale, not within the event's 1 s window"
            skipped=$((skipped + 1))
        fi
        measured "stale event rate limit: fresh $dv ms after stale (device clock), its event $((t_fr - t_st)) ms after the stale event"
    else
        bad stale-event-rate-limited "no fresh event within 30 s of insmod: $(grep 'stats:' "$D/backend.log" | tail -n 3)"
    fi
else
    bad stale-event-rate-limited "no stale event within 20 s at interval 1"
    gcmd limit-insmod 'insmod /virtio_balloon.ko && echo loaded'
fi
if [ -n "$prom_pid" ]; then # (done with it: the sections below need the machine)
    kill "$prom_pid" 2>/dev/null
    wait "$prom_pid" 2>/dev/null
    prom_pid=
fi

# ---- 8. the guest dies; the back-end stays ---------------------------------------------------

kill_guest
ended=
for _ in $(seq 400); do
    grep -q 'session 1 ended: front-end disconnected' "$D/backend.log" && ended=1 && break
    sleep 0.05
done
check guest-killed-ends-session '[ -n "$ended" ]' "$(tail -n 3 "$D/backend.log")"
check backend-alive-after-kill 'kill -0 "$bpid" 2>/dev/null'
# the device reached guest memory through pointers (the map callback), never by copies
acc=$(sed -n 's/.*session 1 ended: .*; guest memory accesses \([0-9]* mapped, [0-9]* copied\)).*/\1/p' "$D/backend.log")
check guest-memory-mapped 'case $acc in [1-9]*" mapped, 0 copied") true ;; *) false ;; esac' "session 1: ${acc:-no access counts}"
measured "guest memory, session 1 (map): ${acc:-?}"
out=$(qmp '{"execute": "query-balloon"}' '{"execute": "qom-get", "arguments": {"path": "/machine/peripheral/balloon0", "property": "guest-stats"}}')
check qmp-answers-after-kill 'echo "$out" | grep -q "\"actual\": 134217728" && echo "$out" | grep -q "\"stat-total-memory\": $TOTAL0"' "$out"

boot "$D/console2.log"
lines=$(watch 1 60000)
check persistent-second-guest '[ -n "$lines" ] && grep -q "session 2: front-end connected" "$D/backend.log"' \
    "no stats from a second guest: $(tail -n 3 "$D/backend.log")"
gsend 'poweroff -f' # (no answer: the guest is gone before it could give one)
ended=
for _ in $(seq 400); do
    grep -q 'session 2 ended: front-end disconnected' "$D/backend.log" && ended=1 && break
    sleep 0.05
done
check poweroff-ends-session '[ -n "$ended" ]' "$(tail -n 3 "$D/backend.log")"
kill_guest
check backend-alive-at-end 'kill -0 "$bpid" 2>/dev/null && [ -n "$(qmp "{\"execute\": \"query-balloon\"}")" ]'
check no-malformed-messages '! grep -q "malformed\|protocol error" "$D/backend.log"' \
    "$(grep 'malformed\|protocol error' "$D/backend.log" | head -n 3)"

# ---- 9. in-band notifications (VRING_KICK / VRING_CALL), and --no-map ---------------------------
# This back-end also runs with --no-map: its device copies guest memory through read/write.

kill "$bpid" 2>/dev/null
wait "$bpid" 2>/dev/null
if start_backend "$D/backend-inband.log" --inband --no-map; then
    boot "$D/console3.log"
    lines=$("$QC" --watch --until 1 --timeout 60000 "$Q" | tail -n 1)
    qmp '{"execute": "qom-set", "arguments": {"path": "/machine/peripheral/balloon0", "property": "guest-stats-polling-interval", "value": 1}}' >/dev/null
    lines=$(watch 2 30000)
    dgaps=$(cadence 2 1000 "$D/backend-inband.log")
    dok=$?
    check inband-notifications '[ "$dok" = 0 ] && [ $(echo "$lines" | grep -c .) -ge 2 ] && grep -q "protocol features 0x4228" "$D/backend-inband.log"' \
        "updates: ${lines:-none}; poll after the previous update (ms, device): ${dgaps:-none}" "$(tail -n 3 "$D/backend-inband.log")"
    kill_guest
    acc=
    for _ in $(seq 400); do
        acc=$(sed -n 's/.*session 1 ended: .*; guest memory accesses \([0-9]* mapped, [0-9]* copied\)).*/\1/p' "$D/backend-inband.log")
        [ -n "$acc" ] && break
        sleep 0.05
    done
    check no-map-guest-memory-copied 'case $acc in "0 mapped, "[1-9]*" copied") true ;; *) false ;; esac' "session 1: ${acc:-no access counts}"
    measured "guest memory, --no-map session: ${acc:-?}"
else
    bad inband-notifications "the back-end did not start with --inband"
fi

# ---- 10. free page reporting (and hinting) with every feature offered ------------------------

# Linux 6.1 UML reports 4 MiB blocks (order 10), and only while a zone has more than its low
# watermark + 128 MiB free: mem=512M. The driver drops PAGE_POISON (not built) in validate, so
# the back-end sees SET_FEATURES twice (with bit 4 and bit 30, then without both) and no
# SET_VRING_ENABLE: the rings count as enabled, the reporting queue is index 4 of 5 (1,2,3,5).
kill "$bpid" 2>/dev/null
wait "$bpid" 2>/dev/null
RLOG=$D/backend-report.log
# the back-end's running totals: "report: N ranges, X MiB in all; host released Y MiB in all"
reported_mib() {
    local r
    r=$(sed -n 's/.*report: [0-9]* ranges, \([0-9]*\)\.[0-9] MiB in all.*/\1/p' "$RLOG" | tail -n 1)
    echo "${r:-0}"
}
if start_backend "$RLOG" --ram 512 --free-page-reporting --free-page-hint --page-poison; then
    boot "$D/console4.log" 512M
    gcmd report-guest-up 'mkdir -p /t && mount -t tmpfs -o size=400m none /t && echo up'
    feat=$(grep 'driver: features' "$RLOG" | tail -n 1 | sed -n 's/.*features 0x\([0-9a-f]*\),.*/\1/p')
    nset=$(grep -c 'driver: features' "$RLOG")
    # (STATS_VQ 1, FREE_PAGE_HINT 3 and REPORTING 5 of those offered, without PAGE_POISON 4 and 30)
    check report-features-negotiated '[ -n "$feat" ] && [ $((0x$feat & 0x4000003a)) = $((0x2a)) ] && [ "$nset" -ge 2 ]' \
        "features: ${feat:-none} ($nset SET_FEATURES)" "$(tail -n 5 "$RLOG")"
    measured "reporting boot: $nset SET_FEATURES, final features 0x${feat:-?}"
    gcmd report-guest-fills 'dd if=/dev/zero of=/t/f bs=1M count=256 2>&1 | tail -n 1'
    sleep 1 # (what the boot freed is reported within about 2 s; count from after it)
    r0=$(reported_mib)
    h0=$(host_mem)
    t0=$(now)
    gcmd report-guest-frees 'rm /t/f && echo freed'
    r1=$r0 h1=$h0
    while [ $(($(now) - t0)) -lt 30000 ]; do
        r1=$(reported_mib)
        h1=$(host_mem)
        [ $((r1 - r0)) -ge 200 ] && [ $((h0 - h1)) -ge $((150 * 1048576)) ] && break
        sleep 0.1
    done
    t1=$(now)
    check report-covers-freed-memory '[ $((r1 - r0)) -ge 200 ]' \
        "reported after freeing 256 MiB: $((r1 - r0)) MiB in $((t1 - t0)) ms" "$(grep 'report:' "$RLOG" | tail -n 3)"
    check report-releases-host-memory '[ $((h0 - h1)) -ge $((150 * 1048576)) ]' \
        "guest memory file: $(mib "$h0") before, $(mib "$h1") after"
    measured "free page reporting: $((r1 - r0)) MiB reported, host memory file $(mib "$h0") -> $(mib "$h1") (released $(mib $((h0 - h1)))) within $((t1 - t0)) ms of the rm"
    line=$(grep 'report:' "$RLOG" | tail -n 1)
    [ -n "$line" ] && measured "back-end: ${line#*] }"
    # free page hinting through QMP: start shows a new id (config interrupt); the guest echoes it,
    # hints 4 MiB blocks until it runs out and sends STOP (0), which ends the round; the device
    # counts hints only after the echo. The guest keeps its hinted blocks through stop, and
    # frees them once the device shows DONE. (Hinted pages are only counted here: no
    # --discard-hinted; section 12 discards them.)
    memfree hint-memfree
    mf0=${OUT:-0}
    hh0=$(host_mem)
    hint_round $((mf0 * 1024 / 4)) 30000
    hh1=$(host_mem)
    check hint-qmp-start '[ "$H_REPLY" = "{\"return\": {}}" ]' "$H_REPLY"
    check hint-new-command-id '[ "${H_ID:-0}" -ge $((0x80000001)) ] && [ "$H_ID" != "$H_ID0" ]' \
        "cmd-id ${H_ID:-?} after start, ${H_ID0} before"
    # (the guest echoes, hints and sends STOP within a few ms: the echo itself is seen as
    # guest-cmd-id == cmd-id only if a query falls inside the round; hints counted under the new
    # id prove it too, as the device takes them only after the guest sent that id)
    check hint-guest-echoed-id '[ "$H_ECHO" = 1 ] || [ "${H_RANGES:-0}" -gt 0 ]' "$H_Q"
    check hint-round-ended-by-guest-stop '[ "$H_STATUS" = stop ] && [ "$H_GUEST" = 0 ]' \
        "after $H_TEND ms: $H_Q"
    check hint-covers-quarter-of-memfree '[ -n "$H_TQ" ]' \
        "hinted ${H_BYTES:-?} bytes in ${H_RANGES:-?} ranges, guest MemFree before $((mf0 / 1024)) MiB" \
        "$(grep 'hint:' "$RLOG" | tail -n 3)"
    hbytes=${H_BYTES:-0}
    measured "free page hinting (QMP): cmd-id $(printf 0x%x "${H_ID:-0}"), ${H_RANGES:-?} ranges, $((hbytes / 1048576)) MiB hinted of $((mf0 / 1024)) MiB MemFree; a quarter in ${H_TQ:-?} ms, round over (guest STOP) in $H_TEND ms (echo seen by a query: $([ "$H_ECHO" = 1 ] && echo yes || echo no)); host memory file $(mib "$hh0") -> $(mib "$hh1") (hinted pages kept)"
    out=$(hint_act stop)
    hint_query
    memfree hint-memfree-after-stop
    mfs=${OUT:-0}
    check hint-stop-keeps-guest-pages '[ "$out" = "{\"return\": {}}" ] && [ "$H_STATUS" = stop ] && [ "$H_GUEST" = 0 ] && [ $((mfs * 1024)) -le $((mf0 * 1024 - hbytes / 2)) ]' \
        "stop: $out; query: $H_Q; guest MemFree $((mf0 / 1024)) MiB before the round, $((mfs / 1024)) MiB after stop"
    out=$(hint_act "done")
    hint_query
    check hint-done-shown '[ "$out" = "{\"return\": {}}" ] && [ "$H_STATUS" = done ]' "done: $out; query: $H_Q"
    mf1=0
    for _ in $(seq 40); do
        memfree hint-memfree-back || break
        mf1=${OUT:-0}
        [ $((mf1 * 4)) -ge $((mf0 * 3)) ] && break
        sleep 0.25
    done
    check hint-done-frees-guest-memory '[ $((mf1 * 4)) -ge $((mf0 * 3)) ]' \
        "guest MemFree $((mf0 / 1024)) MiB before hinting, $((mfs / 1024)) MiB after stop, $((mf1 / 1024)) MiB after done"
    measured "hint stop/done: guest MemFree $((mf0 / 1024)) MiB before, $((mfs / 1024)) MiB after stop (blocks held), $((mf1 / 1024)) MiB after done"
    check report-no-ring-error '! grep -q "device error\|malformed\|protocol error" "$RLOG"' \
        "$(grep 'device error\|malformed\|protocol error' "$RLOG" | head -n 3)"
    kill_guest
else
    bad report-backend "the back-end did not start with --free-page-reporting"
fi

# ---- 11. init_on_free=1: PAGE_POISON negotiated, poison_val 0 --------------------------------

kill "$bpid" 2>/dev/null
wait "$bpid" 2>/dev/null
PLOG=$D/backend-poison.log
if start_backend "$PLOG" --free-page-reporting --page-poison; then
    boot "$D/console5.log" 128M init_on_free=1
    gcmd poison-guest-up 'echo up'
    feat=$(grep 'driver: features' "$PLOG" | tail -n 1 | sed -n 's/.*features 0x\([0-9a-f]*\),.*/\1/p')
    pv=$(grep 'poison_val, now' "$PLOG" | tail -n 1 | sed -n 's/.*now \(0x[0-9a-f]*\).*/\1/p')
    check poison-negotiated-with-init-on-free '[ -n "$feat" ] && [ $((0x$feat & 0x10)) != 0 ] && [ "$pv" = 0x00000000 ]' \
        "features: ${feat:-none}, poison_val: ${pv:-never written}" "$(grep 'driver:\|config:' "$PLOG" | tail -n 3)"
    measured "init_on_free=1: features 0x${feat:-?}, poison_val ${pv:-never written}"
    kill_guest
else
    bad poison-backend "the back-end did not start with --page-poison"
fi

# ---- 12. --discard-hinted, then deflate-on-OOM -------------------------------------------------

# One boot offering FREE_PAGE_HINT (hinted pages discarded on the host) and DEFLATE_ON_OOM. The
# guest first touches 64 MiB and frees it, so its free memory is backed on the host; a hinting
# round then punches what it hints. Then the balloon leaves the guest about 32 MiB free and the
# guest writes 96 MiB to tmpfs: Linux's OOM notifier deflates 1 MiB (256 pages) per call and
# writes `actual` after each, so the guest lives, query-balloon's actual grows back and
# BALLOON_CHANGE follows; the device asks nothing back (no config interrupt, no re-inflation).
kill "$bpid" 2>/dev/null
wait "$bpid" 2>/dev/null
[ -n "$epid" ] && kill "$epid" 2>/dev/null && wait "$epid" 2>/dev/null
epid=
OLOG=$D/backend-oom.log
OOM_MEM=192 # MiB: 128 leaves the balloon less than the 64 MiB the guest must get back
if start_backend "$OLOG" --ram "$OOM_MEM" --free-page-hint --discard-hinted --deflate-on-oom --verbose; then
    "$QC" --events --timeout 600000 "$Q" >"$D/events-oom.log" 2>/dev/null &
    epid=$!
    boot "$D/console6.log" "${OOM_MEM}M"
    gcmd oom-guest-up 'mkdir -p /t && mount -t tmpfs -o size=400m none /t && echo up'
    feat=$(grep 'driver: features' "$OLOG" | tail -n 1 | sed -n 's/.*features 0x\([0-9a-f]*\),.*/\1/p')
    check oom-features-negotiated '[ -n "$feat" ] && [ $((0x$feat & 0x3e)) = $((0xe)) ]' \
        "features: ${feat:-none} (want STATS_VQ, DEFLATE_ON_OOM, FREE_PAGE_HINT)"
    gcmd discard-guest-touches 'dd if=/dev/zero of=/t/f bs=1M count=64 2>/dev/null; rm /t/f; echo done'
    memfree discard-memfree
    mf0=${OUT:-0}
    hh0=$(host_mem)
    hint_round $((mf0 * 1024 / 4)) 30000
    hh1=$(host_mem)
    hbytes=${H_BYTES:-0}
    check discard-hint-round '[ "$H_STATUS" = stop ] && [ "${H_RANGES:-0}" -gt 0 ] && [ -n "$H_TQ" ]' \
        "after $H_TEND ms: $H_Q; guest MemFree $((mf0 / 1024)) MiB"
    check discard-hinted-releases-host-memory '[ $((hh0 - hh1)) -ge $((32 * 1048576)) ]' \
        "guest memory file: $(mib "$hh0") before the round, $(mib "$hh1") after; hinted $((hbytes / 1048576)) MiB" \
        "$(grep 'hint:' "$OLOG" | tail -n 2)"
    measured "--discard-hinted: ${H_RANGES:-?} ranges, $((hbytes / 1048576)) MiB hinted of $((mf0 / 1024)) MiB MemFree in $H_TEND ms; host memory file $(mib "$hh0") -> $(mib "$hh1") (released $(mib $((hh0 - hh1))))"
    hint_act "done" >/dev/null
    mf1=0
    for _ in $(seq 40); do
        memfree oom-memfree || break
        mf1=${OUT:-0}
        [ $((mf1 * 4)) -ge $((mf0 * 3)) ] && break
        sleep 0.25
    done
    check discard-done-frees-guest-memory '[ $((mf1 * 4)) -ge $((mf0 * 3)) ]' \
        "guest MemFree $((mf0 / 1024)) MiB before hinting, $((mf1 / 1024)) MiB after done"
    # inflate until about 32 MiB stay free
    inflate=$(((mf1 / 1024 - 32) * 1048576))
    target=$((OOM_MEM * 1048576 - inflate))
    out=$(qmp "{\"execute\": \"balloon\", \"arguments\": {\"value\": $target}}")
    ms=$(wait_for_balloon "$target" 60000)
    check oom-inflate '[ "$out" = "{\"return\": {}}" ] && [ -n "$ms" ]' \
        "balloon $target: $out; query-balloon: $(qmp '{"execute": "query-balloon"}')"
    memfree oom-memfree-inflated
    mfi=${OUT:-0}
    measured "deflate-on-OOM setup: $(mib "$inflate") inflated in ${ms:-?} ms, guest MemFree $((mf1 / 1024)) -> $((mfi / 1024)) MiB"
    nconf=$(grep -c -- '-> CONFIG_CHANGE_MSG' "$OLOG")
    ndefl=$(grep -c 'deflate: ' "$OLOG")
    ninfl=$(grep -c 'inflate: ' "$OLOG")
    nev=$(grep -c BALLOON_CHANGE "$D/events-oom.log")
    t0=$(now)
    gcmd oom-guest-allocates 'dd if=/dev/zero of=/t/g bs=1M count=96 2>&1 | tail -n 1; ls -l /t/g | tr -s " " | cut -d" " -f5'
    t1=$(now)
    ddout=$OUT
    gcmd oom-guest-alive 'echo alive'
    check oom-guest-survives '[ "$OUT" = alive ] && echo "$ddout" | grep -q "^96+0 records out" && echo "$ddout" | grep -qx 100663296' \
        "dd: $ddout; then: ${OUT:-no answer}" "$(grep -i 'out of memory\|killed process' "$D/console6.log" | head -n 3)"
    check oom-no-kill '! grep -qi "out of memory\|killed process" "$D/console6.log"' \
        "$(grep -i 'out of memory\|killed process' "$D/console6.log" | head -n 3)"
    # the last BALLOON_CHANGE comes at the end of its one-second window
    ev=
    for _ in $(seq 100); do
        ev=$(tail -n +$((nev + 1)) "$D/events-oom.log" | grep BALLOON_CHANGE)
        evlast=$(echo "$ev" | tail -n 1 | jnum actual)
        [ -n "$evlast" ] && [ "$(qmp '{"execute": "query-balloon"}' | jnum actual)" = "$evlast" ] && break
        sleep 0.05
    done
    act=$(qmp '{"execute": "query-balloon"}' | jnum actual)
    check oom-actual-grows-back '[ -n "$act" ] && [ "$act" -gt "$target" ]' \
        "query-balloon actual ${act:-?} after the OOM, target $target"
    check oom-balloon-change-event '[ -n "$ev" ] && [ "${evlast:-0}" -gt "$target" ]' "events since the dd: ${ev:-none}"
    sleep 1
    act2=$(qmp '{"execute": "query-balloon"}' | jnum actual)
    nconf2=$(grep -c -- '-> CONFIG_CHANGE_MSG' "$OLOG")
    # what the device was given since the dd started: the OOM notifier's 1 MiB (256-page)
    # deflates, and balloon compaction's 4 KiB moves (inflate the new page, deflate the old);
    # the device's own times of the first and last 1 MiB deflate
    dl=$(grep 'deflate: ' "$OLOG" | tail -n +$((ndefl + 1)))
    dkib=$(echo "$dl" | sed -n 's/.*deflate: \([0-9]*\) KiB.*/\1/p' | awk '{s += $1} END {print s + 0}')
    ikib=$(grep 'inflate: ' "$OLOG" | tail -n +$((ninfl + 1)) | sed -n 's/.*inflate: \([0-9]*\) KiB.*/\1/p' | awk '{s += $1} END {print s + 0}')
    d1m=$(echo "$dl" | grep 'deflate: 1024 KiB')
    nd=$(echo "$d1m" | grep -c .)
    nmove=$(echo "$dl" | grep -c 'deflate: 4 KiB')
    dspan=$(echo "$d1m" | sed -n '1p;$p' | sed 's/^\[ *\([0-9.]*\)\].*/\1/' | awk 'NR == 1 {a = $1} END {printf "%d", ($1 - a) * 1000}')
    # the guest may still give back a late 1 MiB under pressure (actual grows); a re-inflation
    # would need a config interrupt and would make actual shrink
    check oom-no-reinflation '[ -n "$act2" ] && [ "$act2" -ge "${act:-0}" ] && [ "$nconf2" = "$nconf" ]' \
        "query-balloon actual $act, 1 s later $act2; config interrupts $nconf before the dd, $nconf2 after"
    deflated=$((${act:-0} - target))
    check oom-deflates-match-actual '[ "$nd" -gt 0 ] && [ $(((dkib - ikib) * 1024)) = $((${act2:-0} - target)) ]' \
        "query-balloon actual grew by $((${act2:-0} - target)) bytes (1 s after the dd); the device was given $dkib KiB of deflates ($nd of 1 MiB) and $ikib KiB of inflates since the dd"
    measured "deflate-on-OOM: guest wrote 96 MiB with $((mfi / 1024)) MiB free: $(mib "$deflated") deflated, $nd OOM deflates of 1 MiB over $dspan ms (device clock; the guest command took $((t1 - t0)) ms) and $nmove compaction moves of 4 KiB; query-balloon actual $target -> ${act:-?}, $(echo "$ev" | grep -c .) BALLOON_CHANGE event(s), last ${evlast:-none}"
    check oom-no-ring-error '! grep -q "device error\|malformed\|protocol error" "$OLOG"' \
        "$(grep 'device error\|malformed\|protocol error' "$OLOG" | head -n 3)"
    kill_guest
else
    bad oom-backend "the back-end did not start with --deflate-on-oom"
fi

# ---- 13. feature combinations: 16 offers x init_on_free ----------------------------------------

# Each subset of STATS_VQ (S), FREE_PAGE_HINT (H), PAGE_POISON (P) and REPORTING (R) offered
# (S hidden with the back-end's --no-stats), booted without and with init_on_free=1 at mem=64M.
# Linux's validate drops P without init_on_free, and R when it has init_on_free but P was not
# offered; then the driver writes its features twice (the first time with all it was offered
# and vhost-user's bit 30, then without both) and sends no SET_VRING_ENABLE, so the rings count
# as enabled; otherwise one write and one SET_VRING_ENABLE per ring. The rings are numbered
# contiguously over what was negotiated: inflate, deflate, then S, H, R. Per boot: the features
# (both writes), the rings started, stats flowing on their queue (an update with sane values
# after setting an interval of 1 s), a hinting round through QMP (the guest's echo moves
# "requested" to "start", its STOP back to "stop"; refused without H), poison_val 0 with P under
# init_on_free, and, where R is negotiated without P or init_on_free (each of its four queue
# numbers once), a free page report (page_reporting_order 5: 128 KiB blocks report at 64M).
kill "$bpid" 2>/dev/null
wait "$bpid" 2>/dev/null
CLOG=$D/backend-combo.log
combo_t0=$(now)
combo_boots=0 combo_reneg=0 combo_ok=0 combo_up_max=0
for iof in 0 1; do
    for m in $(seq 0 15); do
        cs=$((m & 1)) ch=$((m >> 1 & 1)) cp=$((m >> 2 & 1)) cr=$((m >> 3 & 1))
        label=$([ $cs = 1 ] && printf S || printf -)$([ $ch = 1 ] && printf H || printf -)$([ $cp = 1 ] && printf P || printf -)$([ $cr = 1 ] && printf R || printf -)
        [ $iof = 1 ] && label=$label+iof
        offered=$((cs << 1 | ch << 3 | cp << 4 | cr << 5))
        expect=$offered
        if [ $iof = 0 ]; then expect=$((expect & ~0x10)); elif [ $cp = 0 ]; then expect=$((expect & ~0x20)); fi
        reneg=$((expect != offered))
        crn=$((expect >> 5 & 1))
        nq_exp=$((2 + cs + ch + crn))
        opts="--ram 64 --verbose"
        [ $cs = 0 ] && opts="$opts --no-stats"
        [ $ch = 1 ] && opts="$opts --free-page-hint"
        [ $cp = 1 ] && opts="$opts --page-poison"
        [ $cr = 1 ] && opts="$opts --free-page-reporting"
        fails0=$fail
        # shellcheck disable=SC2086 # (the options are words)
        if ! start_backend "$CLOG" $opts; then
            bad "combo-backend[$label]" "the back-end did not start with $opts"
            continue
        fi
        combo_boots=$((combo_boots + 1))
        tb=$(now)
        boot "$D/console-combo.log" 64M "$([ $iof = 1 ] && echo init_on_free=1)"
        if ! gcmd "combo-guest-up[$label]" 'echo up'; then
            kill_guest
            kill "$bpid" 2>/dev/null
            wait "$bpid" 2>/dev/null
            continue
        fi
        tup=$(($(now) - tb))
        [ "$tup" -gt "$combo_up_max" ] && combo_up_max=$tup
        # features: every write, the rings started, SET_VRING_ENABLE
        fl=$(grep 'driver: features' "$CLOG" | sed -n 's/.*features 0x\([0-9a-f]*\),.*/\1/p')
        nset=$(echo "$fl" | grep -c .)
        f1=$(echo "$fl" | head -n 1)
        fz=$(echo "$fl" | tail -n 1)
        fw=$(echo "$fl" | sed 's/^/0x/' | paste -sd '|' | sed 's/|/ then /')
        nen=$(grep -c '<- SET_VRING_ENABLE' "$CLOG")
        qs=$(sed -n 's/.*queue \([0-9]*\) started:.*/\1/p' "$CLOG" | sort -n | tr '\n' ' ')
        if [ $reneg = 1 ]; then
            combo_reneg=$((combo_reneg + 1))
            fok='[ "$nset" = 2 ] && [ $((0x$f1 & 0x3f)) = "$offered" ] && [ $((0x$f1 >> 30 & 1)) = 1 ] && [ $((0x$fz >> 30 & 1)) = 0 ] && [ "$nen" = 0 ]'
        else
            fok='[ "$nset" = 1 ] && [ $((0x$fz >> 30 & 1)) = 1 ] && [ "$nen" = "$nq_exp" ]'
        fi
        check "combo-features[$label]" "[ -n \"\$fz\" ] && [ \$((0x\$fz & 0x3f)) = $expect ] && [ \$((0x\$fz >> 32 & 1)) = 1 ] && $fok" \
            "offered $(printf 0x%x $offered), expected $(printf 0x%x $expect) ($([ $reneg = 1 ] && echo "validate drops a bit: two writes, no SET_VRING_ENABLE" || echo "one write, SET_VRING_ENABLE per ring")); writes: ${fw:-none}; SET_VRING_ENABLE: $nen"
        want_qs=$(seq 0 $((nq_exp - 1)) | tr '\n' ' ')
        check "combo-queues[$label]" '[ "$qs" = "$want_qs" ]' "rings started: ${qs:-none}; expected $want_qs"
        # stats on their queue
        st=none
        if [ $cs = 1 ]; then
            before=$(sample)
            seed_interval 1 >/dev/null
            upd=$(watch_from 1 15000 "${before#* }")
            read -r _ lu _ cfree ctotal <<<"${upd:-- - - - -}"
            mt=$(sed -n 's/^MemTotal: *\([0-9]*\) kB.*/\1/p' "$SHARE/meminfo")
            check "combo-stats[$label]" '[ "$ctotal" != - ] && [ -n "$mt" ] && [ "$ctotal" = $((mt * 1024)) ] && [ "$cfree" -gt 0 ] && [ "$cfree" -lt "$ctotal" ] && grep -q "stats: first buffer" "$CLOG"' \
                "update after setting interval 1: ${upd:-none} (before: $before); guest MemTotal ${mt:-?} kB"
            st="free $((${cfree/-/0} / 1048576)) of $((${ctotal/-/0} / 1048576)) MiB"
        else
            out=$(seed_get)
            check "combo-no-stats[$label]" '! grep -q "stats:" "$CLOG" && echo "$out" | grep -q "guest hasn'"'"'t updated any stats yet"' \
                "qom-get guest-stats: $out" "$(grep 'stats:' "$CLOG" | head -n 2)"
        fi
        # free page hinting through QMP
        ht=refused
        if [ $ch = 1 ]; then
            hint_round 0 15000
            check "combo-hint[$label]" '[ "$H_REPLY" = "{\"return\": {}}" ] && [ "$H_STATUS" = stop ] && [ "$H_GUEST" = 0 ]' \
                "start: $H_REPLY; after $H_TEND ms: $H_Q"
            ht="round ${H_TEND} ms, ${H_RANGES:-?} ranges"
            hint_act "done" >/dev/null
        else
            out=$(hint_act start)
            check "combo-hint-refused[$label]" 'echo "$out" | grep -q "The guest has not negotiated free page hinting"' "start: $out"
        fi
        # poison_val
        pv=$(sed -n 's/.*poison_val, now \(0x[0-9a-f]*\).*/\1/p' "$CLOG" | tail -n 1)
        if [ $((expect >> 4 & 1)) = 1 ]; then
            check "combo-poison[$label]" '[ "$pv" = 0x00000000 ]' "poison_val: ${pv:-never written}"
        else
            check "combo-no-poison[$label]" '[ -z "$pv" ]' "poison_val written: $pv"
        fi
        # free page reporting on its queue
        rt=-
        if [ $crn = 1 ] && [ $iof = 0 ] && [ $cp = 0 ]; then
            t0=$(now)
            gcmd "combo-report-guest[$label]" 'echo 5 >/sys/module/page_reporting/parameters/page_reporting_order && mkdir -p /t && mount -t tmpfs none /t && dd if=/dev/zero of=/t/f bs=1M count=8 2>/dev/null && rm /t/f && echo freed'
            rl=
            while [ $(($(now) - t0)) -lt 20000 ]; do
                rl=$(grep 'report:' "$CLOG" | head -n 1)
                [ -n "$rl" ] && break
                sleep 0.1
            done
            check "combo-report[$label]" '[ "$OUT" = freed ] && [ -n "$rl" ]' "guest: ${OUT:-?}; no report within 20 s"
            rt="report ${rl:+after $(($(now) - t0)) ms}"
        fi
        check "combo-no-ring-error[$label]" '! grep -q "device error\|malformed\|protocol error\|out of range" "$CLOG"' \
            "$(grep 'device error\|malformed\|protocol error\|out of range' "$CLOG" | head -n 3)"
        kill_guest
        kill "$bpid" 2>/dev/null
        wait "$bpid" 2>/dev/null
        [ "$fail" = "$fails0" ] && combo_ok=$((combo_ok + 1))
        measured "combo $label: offered $(printf 0x%02x $offered), features ${fw:-none}, $nen SET_VRING_ENABLE, rings $qs| stats: $st | hint: $ht | poison_val ${pv:-none} | $rt | up in $tup ms"
    done
done
measured "feature combinations: $combo_ok of $combo_boots boots right ($combo_reneg renegotiated), $(($(now) - combo_t0)) ms in all, slowest launch-to-first-command $combo_up_max ms"

packed_run

if [ "$fail" -ne 0 ]; then
    echo "  back-end log: $D/backend.log (kept below)"
    sed -n '1,400p' "$D/backend.log" | grep -v 'stats: update' | tail -n 30 | sed 's/^/  | /'
fi
closing
[ "$fail" -eq 0 ]
