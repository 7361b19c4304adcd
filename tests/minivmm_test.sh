#!/bin/sh
# tests/minivmm_test.sh - the mini-VMM end to end, through real KVM exits: boots the test guest,
# then over QMP enables polling at 1 s and sees the guest's own values arrive, changes the
# interval, disables it and checks that the stats freeze, sends the seed document's four commands
# verbatim, uses several clients at once, runs the QMP flow-control tests (tests/qmp_stress.h:
# 20,000 pipelined commands, 1,000 written before any reply is read, a 1 MiB "id", a second
# client served while the first is backed up, an unfinished 66 MiB message closing its client,
# 16 clients at once and the 17th waiting in the listen backlog), sets a balloon target, pauses
# and resumes the VM (QMP stop and cont: no polls while stopped), and stops the VM by QMP `quit`
# and by SIGTERM, checking the guest's exit status each time. The first VM's device reaches guest
# RAM through pointers (the map callback); the second runs with --no-map (read/write copies) and
# must see the guest's stats too. A third VM offers the packed virtqueue: its guest takes it with
# rings of 3 entries (not a power of two) and goes through the seed's commands, polls, a balloon
# in and out, wrapping its rings many times.
#
#   sh tests/minivmm_test.sh [VMM [GUEST [QMP-CLIENT [QMP-STRESS]]]]
#
# Without a usable /dev/kvm it says why and counts one skipped test. Every wait is bounded.
# Last line: "minivmm: N passed, M failed[, K skipped]"; the exit status is non-zero on failure.
# License: public domain (Unlicense).

VMM=${1:-build/vballoon-minivmm}
GUEST=${2:-build/minivmm-guest.bin}
QMP=${3:-build/minivmm-qmp}
QS=${4:-$(dirname "$VMM")/qmp-stress}
SEED=${SEED_COMMANDS:-$(dirname "$0")/seed-commands.txt} # the seed's commands (docs/seed.md)
MEM_MIB=64
MEM=$((MEM_MIB * 1048576))
P=/machine/peripheral/balloon0
OK='{"return": {}}'

pass=0
fail=0
skip=0
good() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1: $2"; }
finish() {
    if [ "$skip" -gt 0 ]; then
        echo "minivmm: $pass passed, $fail failed, $skip skipped"
    else
        echo "minivmm: $pass passed, $fail failed"
    fi
    [ "$fail" -eq 0 ]
    exit $?
}

for f in "$VMM" "$GUEST" "$QMP" "$QS"; do
    [ -e "$f" ] || { bad build "$f not found (make build/vballoon-minivmm build/minivmm-guest.bin build/minivmm-qmp)"; finish; }
done
if [ ! -e /dev/kvm ]; then
    echo "skip: /dev/kvm does not exist (no KVM on this machine)"
    skip=1
    finish
fi
if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
    echo "skip: /dev/kvm is not readable and writable by $(id -un)"
    skip=1
    finish
fi

tmp=$(mktemp -d) || exit 1
vmm_pid=
cleanup() {
    if [ -n "$vmm_pid" ] && [ -s "$tmp/pid" ]; then # a test failed midway: stop the VM
        kill -TERM "$(cat "$tmp/pid")" 2>/dev/null
        wait "$vmm_pid" 2>/dev/null
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
S=$tmp/qmp.sock

# start [extra options]: the VMM in the background, output in $tmp/out and $tmp/err; a hard
# timeout of 600 s ends it whatever happens. Returns non-zero if the guest is not up within 60 s.
# (Every wait here ends as soon as what it waits for is there; the limits are for a starved machine.)
start() {
    rm -f "$S" "$tmp/out" "$tmp/err" "$tmp/rc" "$tmp/pid"
    (
        timeout -s KILL 600 "$VMM" --guest "$GUEST" --mem $MEM_MIB --qmp "unix:$S" "$@" \
            >"$tmp/out" 2>"$tmp/err" &
        echo $! >"$tmp/pid" # timeout's: it passes a SIGTERM on to the VMM
        wait $!
        echo $? >"$tmp/rc"
    ) &
    vmm_pid=$!
    i=0
    while [ $i -lt 600 ]; do
        grep -q 'guest: driver ok' "$tmp/out" 2>/dev/null && [ -S "$S" ] && return 0
        [ -e "$tmp/rc" ] && return 1
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}

# wait_exit: the VMM's exit status once it has ended (at most 60 s), or "timeout".
wait_exit() {
    i=0
    while [ ! -s "$tmp/rc" ] && [ $i -lt 600 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    if [ -s "$tmp/rc" ]; then
        wait "$vmm_pid" 2>/dev/null
        vmm_pid=
        cat "$tmp/rc"
    else
        echo timeout
    fi
}

q() { "$QMP" "$S" "$@"; }
get_stats() { q "{\"execute\": \"qom-get\", \"arguments\": {\"path\": \"$P\", \"property\": \"guest-stats\"}}"; }
set_interval() { q "{\"execute\": \"qom-set\", \"arguments\": {\"path\": \"$P\", \"property\": \"guest-stats-polling-interval\", \"value\": $1}}"; }
get_interval() { q "{\"execute\": \"qom-get\", \"arguments\": {\"path\": \"$P\", \"property\": \"guest-stats-polling-interval\"}}"; }
# val KEY JSON: the integer value of "KEY" in JSON
val() { printf '%s\n' "$2" | sed -n "s/.*\"$1\": \(-\{0,1\}[0-9][0-9]*\).*/\1/p"; }

# sample UPDATES SECONDS: guest-stats every 0.25 s; prints one line "minor-faults last-update
# total free" per distinct update seen (the first line: the state at the start), until UPDATES
# changes were seen or SECONDS * 4 samples were taken
sample() {
    n=$(($2 * 4))
    u=-1
    last=
    while [ "$n" -gt 0 ] && [ "$u" -lt "$1" ]; do
        r=$(get_stats)
        line="$(val stat-minor-faults "$r") $(val last-update "$r") $(val stat-total-memory "$r") $(val stat-free-memory "$r")"
        if [ "$line" != "$last" ]; then
            echo "$line"
            u=$((u + 1))
        fi
        last=$line
        [ "$u" -lt "$1" ] && sleep 0.25
        n=$((n - 1))
    done
}

# ---- boot ---------------------------------------------------------------------------------------

if ! start; then
    rc=$(cat "$tmp/rc" 2>/dev/null)
    if [ "$rc" = 77 ]; then
        echo "skip: KVM is not usable here: $(tail -n 1 "$tmp/err")"
        skip=1
        finish
    fi
    bad boot "the guest did not come up (exit status ${rc:-none}); stderr:"
    sed 's/^/  | /' "$tmp/err" "$tmp/out"
    finish
fi
good boot

greeting=$("$QMP" --greeting --raw "$S")
case $greeting in
'{"QMP": {"version": {"qemu": '*'"capabilities": ["oob"]}}') good greeting ;;
*) bad greeting "$greeting" ;;
esac

# The driver's probe primed the stats queue: the guest's values are there before any polling.
r=$(get_stats)
if [ "$(val stat-total-memory "$r")" = $MEM ] && [ "$(val last-update "$r")" -gt 0 ] 2>/dev/null &&
    [ "$(val stat-free-memory "$r")" -gt 0 ] && [ "$(val stat-free-memory "$r")" -lt $MEM ]; then
    good primer-stats-are-the-guests
else
    bad primer-stats-are-the-guests "$r"
fi
[ "$(get_interval)" = '{"return": 0}' ] && good interval-initially-0 || bad interval-initially-0 "$(get_interval)"

# ---- polling at 1 s: at least three updates, each with the guest's values ---------------------------

[ "$(set_interval 1)" = "$OK" ] && good enable-1s || bad enable-1s "not $OK"
t0=$(date +%s)
sample 3 60 >"$tmp/s1"
updates=$(($(wc -l <"$tmp/s1") - 1)) # the first line is the state before polling
if [ "$updates" -ge 3 ]; then good "three-updates-at-1s ($updates in $(($(date +%s) - t0)) s)"; else bad three-updates-at-1s "$(cat "$tmp/s1")"; fi
# minor faults strictly increasing, last-update not decreasing, total = RAM, 0 < free < total
if awk -v mem=$MEM 'NR > 1 && ($1 <= pmin || $2 < plu) {exit 1}
        $3 != mem || $4 <= 0 || $4 >= mem {exit 1} {pmin = $1; plu = $2} END {exit NR < 3}' "$tmp/s1"; then
    good guest-values-advance
else
    bad guest-values-advance "minor-faults last-update total free: $(tr '\n' ';' <"$tmp/s1")"
fi

# ---- change the interval: 2 s ------------------------------------------------------------------------

[ "$(set_interval 2)" = "$OK" ] && good change-to-2s || bad change-to-2s "not $OK"
[ "$(get_interval)" = '{"return": 2}' ] && good interval-reads-2 || bad interval-reads-2 "$(get_interval)"
# two updates after the change; from the first one on (one polled at 1 s may have been in flight
# at the change), last-update moves by at least 2 s each time: never faster than every 2 s
sample 3 60 >"$tmp/s2"
n2=$(wc -l <"$tmp/s2") # the first line is the state before the change
if [ "$n2" -ge 3 ] && awk 'NR > 2 && $2 - plu < 2 {exit 1} {plu = $2}' "$tmp/s2"; then
    good "slower-at-2s ($((n2 - 1)) updates, last-update $(awk 'NR > 1 {printf "%s ", $2}' "$tmp/s2"))"
else
    bad slower-at-2s "$n2 lines: $(tr '\n' ';' <"$tmp/s2")"
fi

# ---- disable: the last update stays as it was ------------------------------------------------------

[ "$(set_interval 0)" = "$OK" ] && good disable || bad disable "not $OK"
# a poll in flight at the disable may still land: wait until the stats stay the same for 1 s
# (4 samples; at most 60 s); disabling that did not work would still show within the 2.5 s below
before=$(get_stats)
same=0
i=0
while [ "$same" -lt 4 ] && [ "$i" -lt 240 ]; do
    sleep 0.25
    r=$(get_stats)
    if [ "$r" = "$before" ]; then same=$((same + 1)); else same=0; before=$r; fi
    i=$((i + 1))
done
sleep 2.5
after=$(get_stats)
if [ "$before" = "$after" ] && [ "$(val last-update "$after")" -gt 0 ]; then
    good frozen-last-update
else
    bad frozen-last-update "before $before after $after"
fi

# ---- the seed document's four commands, verbatim (its page's no-break spaces included) -------------

seed_cmd() { # N: the N-th command (paragraph) of the file, byte for byte
    LC_ALL=C awk -v n="$1" 'BEGIN { RS = "" } NR == n' "$SEED"
}
[ -r "$SEED" ] || bad seed-file "$SEED is not readable"
c1=$(seed_cmd 1) c2=$(seed_cmd 2) c3=$(seed_cmd 3) c4=$(seed_cmd 4)
case $c1$c2$c3$c4 in *"$(printf '\302\240')"*) ;; *) bad seed-bytes "the seed commands lost their no-break spaces" ;; esac
q "$c1" "$c2" "$c3" "$c4" >"$tmp/seed"
if [ "$(sed -n 1p "$tmp/seed")" = "$OK" ] && [ "$(sed -n 2p "$tmp/seed")" = "$OK" ] &&
    sed -n 3p "$tmp/seed" | grep -Eq '^\{"return": \{"stats": \{("stat-[a-z-]+": -?[0-9]+(, )?){16}\}, "last-update": [0-9]+\}\}$' &&
    [ "$(sed -n 4p "$tmp/seed")" = "$OK" ] && [ "$(wc -l <"$tmp/seed")" = 4 ]; then
    good seed-commands-verbatim
else
    bad seed-commands-verbatim "replies:"
    sed 's/^/  | /' "$tmp/seed"
fi
[ "$(get_interval)" = '{"return": 0}' ] && good seed-disabled-polling || bad seed-disabled-polling "$(get_interval)"

# ---- several clients at once ------------------------------------------------------------------------

q '{"execute": "query-balloon"}' @sleep:1.5 '{"execute": "query-balloon", "id": "a"}' >"$tmp/a" &
a_pid=$!
sleep 0.5
q '{"execute": "query-balloon", "id": "b"}' >"$tmp/b"
wait $a_pid
if [ "$(cat "$tmp/b")" = "{\"return\": {\"actual\": $MEM}, \"id\": \"b\"}" ] &&
    [ "$(sed -n 2p "$tmp/a")" = "{\"return\": {\"actual\": $MEM}, \"id\": \"a\"}" ]; then
    good two-clients-at-once
else
    bad two-clients-at-once "a: $(tr '\n' ';' <"$tmp/a") b: $(cat "$tmp/b")"
fi

# ---- flow control: nothing dropped, long commands answered -------------------------------------------

"$QS" --prefix qmp- "$S" pipelined burst long-id second-client unfinished backlog >"$tmp/qs" 2>&1
grep -v '^qmp-stress: ' "$tmp/qs"
counts=$(sed -n 's/^qmp-stress: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$tmp/qs")
if [ -n "$counts" ]; then
    pass=$((pass + ${counts% *}))
    fail=$((fail + ${counts#* }))
else
    bad qmp-stress "no result line"
fi
grep -q 'QMP client closed: a message still unfinished after 65 MiB' "$tmp/err" && good unfinished-message-logged ||
    bad unfinished-message-logged "no log line for the client closed"

# ---- a balloon target: the guest inflates, and its next stats show it -------------------------------

half=$((MEM / 2))
[ "$(q "{\"execute\": \"balloon\", \"arguments\": {\"value\": $half}}")" = "$OK" ] && good balloon-target || bad balloon-target "not $OK"
i=0
while [ $i -lt 300 ] && [ "$(q '{"execute": "query-balloon"}')" != "{\"return\": {\"actual\": $half}}" ]; do
    sleep 0.1
    i=$((i + 1))
done
[ $i -lt 300 ] && good guest-inflated || bad guest-inflated "$(q '{"execute": "query-balloon"}')"
set_interval 1 >/dev/null
i=0 # the poll at once, or the one after: wait for it (at most 30 s)
while r=$(get_stats) && [ "$(val stat-total-memory "$r")" != $half ] && [ $i -lt 120 ]; do
    sleep 0.25
    i=$((i + 1))
done
[ "$(val stat-total-memory "$r")" = $half ] && good stats-see-the-balloon || bad stats-see-the-balloon "$r"
set_interval 0 >/dev/null

# ---- the VM's run state: stop parks the vCPU and stands the VM clock (no polls), cont resumes ---------

st() { q '{"execute": "query-status"}'; }
RUNNING='{"return": {"status": "running", "singlestep": false, "running": true}}'
PAUSED='{"return": {"status": "paused", "singlestep": false, "running": false}}'
[ "$(st)" = "$RUNNING" ] && good status-running || bad status-running "$(st)"
r=$(q '{"execute": "query-commands"}')
case $r in
'{"return": [{"name": "cont"}, {"name": "stop"}, '*'{"name": "quit"}, '*'{"name": "query-status"}'*']}') good query-commands ;;
*) bad query-commands "$r" ;;
esac
set_interval 1 >/dev/null
[ "$(q '{"execute": "stop"}')" = "$OK" ] && good stop || bad stop "not $OK"
[ "$(st)" = "$PAUSED" ] && good status-paused || bad status-paused "$(st)"
sleep 0.5 # an update the vCPU made on its way out of KVM_RUN has landed
before=$(get_stats)
sleep 2.5
after=$(get_stats)
[ "$before" = "$after" ] && good no-polls-while-stopped || bad no-polls-while-stopped "before $before after $after"
[ "$(q '{"execute": "cont"}')" = "$OK" ] && good cont || bad cont "not $OK"
[ "$(st)" = "$RUNNING" ] && good status-running-again || bad status-running-again "$(st)"
sample 1 30 >"$tmp/s3"
[ "$(wc -l <"$tmp/s3")" -ge 2 ] && good polls-after-cont || bad polls-after-cont "$(tr '\n' ';' <"$tmp/s3")"
set_interval 0 >/dev/null

# ---- QMP quit: the guest is told to stop, resets the device, exits 0 ------------------------------

[ "$(q '{"execute": "quit"}')" = "$OK" ] && good quit-reply || bad quit-reply "not $OK"
rc=$(wait_exit)
if [ "$rc" = 0 ] && grep -q '^guest: exit status 0$' "$tmp/out" && grep -q 'guest exit status 0, exiting with 0' "$tmp/err"; then
    good quit-clean-guest-exit
else
    bad quit-clean-guest-exit "exit status $rc"
    sed 's/^/  | /' "$tmp/err"
fi
echo "     measured: $(grep -E 'exits \(|first stats' "$tmp/err" | sed 's/^vballoon-minivmm: //' | tr '\n' ';')"

# ---- the packed virtqueue: the guest takes VIRTIO_F_RING_PACKED and rings of 3 entries, which the
# virtio-mmio transport accepts (a packed ring's size need not be a power of two) ---------------------

if start --packed --queue-size 3; then
    if grep -q '^guest: driver ok, features 0x500000002, packed queues of 3$' "$tmp/out"; then
        good packed-negotiated
    else
        bad packed-negotiated "$(grep 'driver ok' "$tmp/out")"
    fi
    r=$(get_stats)
    if [ "$(val stat-total-memory "$r")" = $MEM ] && [ "$(val last-update "$r")" -gt 0 ] 2>/dev/null; then
        good packed-primer-stats
    else
        bad packed-primer-stats "$r"
    fi
    q "$c1" "$c2" "$c3" "$c4" >"$tmp/seed"
    if [ "$(sed -n 1p "$tmp/seed")" = "$OK" ] && [ "$(sed -n 2p "$tmp/seed")" = "$OK" ] &&
        sed -n 3p "$tmp/seed" | grep -Eq '^\{"return": \{"stats": \{("stat-[a-z-]+": -?[0-9]+(, )?){16}\}, "last-update": [0-9]+\}\}$' &&
        [ "$(sed -n 4p "$tmp/seed")" = "$OK" ] && [ "$(wc -l <"$tmp/seed")" = 4 ]; then
        good packed-seed-commands-verbatim
    else
        bad packed-seed-commands-verbatim "replies: $(tr '\n' ';' <"$tmp/seed")"
    fi
    set_interval 1 >/dev/null
    sample 7 90 >"$tmp/s4" # 7 polls: the stats ring of 3 laps at least twice
    if [ "$(($(wc -l <"$tmp/s4") - 1))" -ge 7 ] && awk -v mem=$MEM 'NR > 1 && ($1 <= pmin || $2 < plu) {exit 1}
            $3 != mem || $4 <= 0 || $4 >= mem {exit 1} {pmin = $1; plu = $2}' "$tmp/s4"; then
        good packed-polls-advance
    else
        bad packed-polls-advance "minor-faults last-update total free: $(tr '\n' ';' <"$tmp/s4")"
    fi
    # 32 MiB in (32 buffers of 256 pages) and out again: 10 laps of the ring each way
    q "{\"execute\": \"balloon\", \"arguments\": {\"value\": $half}}" >/dev/null
    i=0
    while [ $i -lt 300 ] && [ "$(q '{"execute": "query-balloon"}')" != "{\"return\": {\"actual\": $half}}" ]; do
        sleep 0.1
        i=$((i + 1))
    done
    [ $i -lt 300 ] && good packed-inflated || bad packed-inflated "$(q '{"execute": "query-balloon"}')"
    i=0
    while r=$(get_stats) && [ "$(val stat-total-memory "$r")" != $half ] && [ $i -lt 120 ]; do
        sleep 0.25
        i=$((i + 1))
    done
    [ "$(val stat-total-memory "$r")" = $half ] && good packed-stats-see-the-balloon || bad packed-stats-see-the-balloon "$r"
    q "{\"execute\": \"balloon\", \"arguments\": {\"value\": $MEM}}" >/dev/null
    i=0
    while [ $i -lt 300 ] && [ "$(q '{"execute": "query-balloon"}')" != "{\"return\": {\"actual\": $MEM}}" ]; do
        sleep 0.1
        i=$((i + 1))
    done
    [ $i -lt 300 ] && good packed-deflated || bad packed-deflated "$(q '{"execute": "query-balloon"}')"
    set_interval 0 >/dev/null
    q '{"execute": "quit"}' >/dev/null
    rc=$(wait_exit)
    # every buffer took one slot of a ring of 3: 10 + 10 laps for the balloon, refills / 3 for stats
    summary=$(grep 'device: .* updates' "$tmp/err")
    refills=$(printf '%s\n' "$summary" | sed -n 's/.*guest: \([0-9]*\) refills.*/\1/p')
    wraps=$(printf '%s\n' "$summary" | sed -n 's/.*packed rings, \([0-9]*\) ring wraps.*/\1/p')
    if [ "$rc" = 0 ] && grep -q '^guest: exit status 0$' "$tmp/out" && [ -n "$refills" ] && [ -n "$wraps" ] &&
        [ "$wraps" = $((20 + refills / 3)) ] && printf '%s\n' "$summary" | grep -q ' 0 ring errors, 0 ignored mmio accesses'; then
        good "packed-rings-wrapped ($wraps laps of rings of 3, $refills stats buffers)"
    else
        bad packed-rings-wrapped "exit status $rc; $summary"
        sed 's/^/  | /' "$tmp/err" | tail -n 5
    fi
else
    bad packed-boot "the guest did not come up"
    sed 's/^/  | /' "$tmp/err" "$tmp/out" | tail -n 10
fi

# ---- SIGTERM: the same clean path; this VM runs with --no-map (the device copies guest RAM
# through read/write instead of using pointers into it), and its guest's stats still arrive ----------

if start --interval 1 --no-map; then
    sleep 1.5
    r=$(get_stats)
    if [ "$(val stat-total-memory "$r")" = $MEM ] && [ "$(val last-update "$r")" -gt 0 ] 2>/dev/null &&
        [ "$(val stat-free-memory "$r")" -gt 0 ] && [ "$(val stat-free-memory "$r")" -lt $MEM ]; then
        good no-map-stats-are-the-guests
    else
        bad no-map-stats-are-the-guests "$r"
    fi
    kill -TERM "$(cat "$tmp/pid")"
    rc=$(wait_exit)
    if [ "$rc" = 0 ] && grep -q '^guest: exit status 0$' "$tmp/out" && grep -q 'SIGTERM' "$tmp/err"; then
        good sigterm-clean-guest-exit
    else
        bad sigterm-clean-guest-exit "exit status $rc"
        sed 's/^/  | /' "$tmp/err"
    fi
else
    bad sigterm-boot "the guest did not come up"
fi

finish
