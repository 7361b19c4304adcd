#!/bin/sh
# tests/sim_test.sh - end-to-end tests of the simulator (examples/sim.c): QMP in, replies out.
#
#   sh tests/sim_test.sh [path/to/vballoon-sim [path/to/qmp-stress]]
#                   (defaults build/vballoon-sim, and qmp-stress next to it: tests/qmp_stress.c)
#
# Each scenario is one named check; a failure prints "FAIL <name>" and the details. The last line
# is "sim: N passed, M failed"; the exit status is non-zero if anything failed. POSIX sh.
# Most checks use --virtual-clock --fixed-stats, whose replies are exact; the real-clock check
# takes about 2.5 s (it waits for what it checks, up to a minute on a starved machine).
# Every check runs twice: with the guest on split virtqueues, then (the script runs itself again
# with SIM_LAYOUT=packed) on packed ones, where the same replies must come; failures of that pass
# are named "packed: <name>". The checks of the layouts themselves (a session's replies equal on
# both, small rings wrapped many times, chains across the ring end) run once, at the end.
# License: public domain (Unlicense).

SIM=${1:-build/vballoon-sim}
QS=${2:-$(dirname "$SIM")/qmp-stress}
case ${SIM_LAYOUT:-split} in
split) PK= LNAME= ;;
packed) PK=--packed LNAME='packed: ' ;;
*) echo "FAIL setup"; echo "  SIM_LAYOUT must be split or packed"; echo "sim: 0 passed, 1 failed"; exit 1 ;;
esac
pass=0
fail=0
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM

if [ ! -x "$SIM" ]; then
    echo "FAIL setup"
    echo "  $SIM is not an executable"
    echo "sim: 0 passed, 1 failed"
    exit 1
fi

# ---- helpers ------------------------------------------------------------------------------------

# run ARGS...: the simulator with $tmp/in on stdin -> $tmp/out, $tmp/err, $rc
# (write the input first: a function at the end of a pipeline would run in a subshell)
run() {
    # shellcheck disable=SC2086 # $PK: empty or one word
    "$SIM" $PK "$@" <"$tmp/in" >"$tmp/out" 2>"$tmp/err"
    rc=$?
}

good() { pass=$((pass + 1)); }
bad() { # name, detail lines...
    fail=$((fail + 1))
    echo "FAIL $LNAME$1"
    shift
    for line in "$@"; do echo "  $line"; done
    if [ -s "$tmp/err" ]; then sed -n '1,5s/^/  stderr: /p' "$tmp/err"; fi
}

# expect NAME: $tmp/out must equal $tmp/exp byte for byte, exit status 0, nothing on stderr
expect() {
    if [ "$rc" = 0 ] && cmp -s "$tmp/exp" "$tmp/out" && [ ! -s "$tmp/err" ]; then
        good
    else
        bad "$1" "exit status $rc; diff expected actual:"
        diff "$tmp/exp" "$tmp/out" | sed -n '1,24s/^/  /p'
    fi
}

# line N: line N of the output
line() { sed -n "$1p" "$tmp/out"; }
lines() { wc -l <"$tmp/out" | tr -d ' '; }

P=/machine/peripheral/balloon0
set_() { printf '{"execute": "qom-set", "arguments": {"path": "%s", "property": "guest-stats-polling-interval", "value": %s}}\n' "$P" "$1"; }
get_() { printf '{"execute": "qom-get", "arguments": {"path": "%s", "property": "guest-stats"}}\n' "$P"; }
adv() { printf '{"execute": "x-advance-clock", "arguments": {"seconds": %s}}\n' "$1"; }
balloon() { printf '{"execute": "balloon", "arguments": {"value": %s}}\n' "$1"; }
query() { printf '{"execute": "query-balloon"}\n'; }
OK='{"return": {}}'
E=1358529861 # the virtual wall clock at VM time 0: the seed document's last-update

# The seed document's four commands: tests/seed-commands.txt has them as its web page prints
# them, with no-break spaces (docs/seed.md); seed gives them with plain spaces.
SEED_COMMANDS=$(dirname "$0")/seed-commands.txt
NBSP=$(printf '\302\240')
seed() { LC_ALL=C sed "s/$NBSP/ /g" "$SEED_COMMANDS"; }
seed_nbsp() { cat "$SEED_COMMANDS"; }

# ---- expected guest-stats with --fixed-stats ------------------------------------------------------
# After the n-th refill (the probe's primer is refill 0) with b pages in the balloon the simulated
# guest reports: the document's six values (faults advancing by 1 major and 100 minor per refill),
# fixed ones for the rest, the balloon taken out of total, free and available memory.

name_of() {
    case $1 in
    0) echo stat-swap-in ;; 1) echo stat-swap-out ;; 2) echo stat-major-faults ;;
    3) echo stat-minor-faults ;; 4) echo stat-free-memory ;; 5) echo stat-total-memory ;;
    6) echo stat-available-memory ;; 7) echo stat-disk-caches ;; 8) echo stat-htlb-pgalloc ;;
    9) echo stat-htlb-pgfail ;; 10) echo stat-oom-kills ;; 11) echo stat-alloc-stalls ;;
    12) echo stat-async-scans ;; 13) echo stat-direct-scans ;; 14) echo stat-async-reclaims ;;
    15) echo stat-direct-reclaims ;;
    esac
}

# value_of TAG N BALLOON_PAGES LINUX_STATS PROFILE
value_of() {
    if [ "$4" = 10 ] && [ "$1" -ge 10 ]; then # Linux 6.1 does not send tags 10-15
        if [ "$5" = qemu ]; then echo 18446744073709551615; else echo -1; fi
        return
    fi
    case $1 in
    2) echo $((235 + $2)) ;;
    3) echo $((219028 + 100 * $2)) ;;
    4) echo $((844943360 - $3 * 4096)) ;;
    5) echo $((1044406272 - $3 * 4096)) ;;
    6) echo $((905969664 - $3 * 4096)) ;;
    7) echo 121634816 ;;
    12) echo 4861952 ;;
    14) echo 4476928 ;;
    *) echo 0 ;;
    esac
}

# QEMU's key order (QDict hash order) for each key count
order_of() {
    case $1 in
    16) echo 8 1 11 6 15 13 9 4 3 2 5 10 14 0 12 7 ;;
    10) echo 8 1 6 9 4 3 2 5 0 7 ;;
    8) echo 1 6 4 3 2 5 0 7 ;;
    7) echo 1 6 4 3 2 5 0 ;;
    6) echo 1 4 3 2 5 0 ;;
    esac
}

# stats KEYS N LAST_UPDATE [BALLOON_PAGES [LINUX_STATS [PROFILE]]]: the qom-get reply
stats() {
    body=
    sep=
    for t in $(order_of "$1"); do
        body="$body$sep\"$(name_of "$t")\": $(value_of "$t" "$2" "${4:-0}" "${5:-16}" "${6:-doc}")"
        sep=', '
    done
    printf '{"return": {"stats": {%s}, "last-update": %s}}\n' "$body" "$3"
}

# ---- the seed document ------------------------------------------------------------------------------

seed_check() { # name, then the simulator's arguments; input: the seed commands
    name=$1
    shift
    run "$@"
    if [ "$rc" = 0 ] && [ "$(lines)" = 4 ] && [ "$(line 1)" = "$OK" ] && [ "$(line 2)" = "$OK" ] &&
        line 3 | grep -Eq '^\{"return": \{"stats": \{("stat-[a-z-]+": [0-9]+(, )?){16}\}, "last-update": [0-9]+\}\}$' &&
        [ "$(line 4)" = "$OK" ] && [ ! -s "$tmp/err" ]; then
        good
    else
        bad "$name" "exit status $rc; output:"
        sed 's/^/  | /' "$tmp/out"
    fi
}
seed >"$tmp/in"
seed_check seed-commands-doc --profile doc
seed_nbsp >"$tmp/in"
seed_check seed-commands-pasted-from-web-page --profile doc

# The document's example reply itself: the probe's stats at VM time 0, six keys.
get_ >"$tmp/in"
run --virtual-clock --fixed-stats --keys 6
cat >"$tmp/exp" <<'EOF'
{"return": {"stats": {"stat-swap-out": 0, "stat-free-memory": 844943360, "stat-minor-faults": 219028, "stat-major-faults": 235, "stat-total-memory": 1044406272, "stat-swap-in": 0}, "last-update": 1358529861}}
EOF
expect seed-example-reply-exact

# The four commands, deterministic: enabling polls at once (refill 1), nothing else happens.
seed >"$tmp/in"
run --virtual-clock --fixed-stats --keys 6
{ echo "$OK"; echo "$OK"; stats 6 1 $E; echo "$OK"; } >"$tmp/exp"
expect seed-commands-exact

# ---- polling interval semantics (docs/qemu-observed.md) -----------------------------------------------

{
    get_             # probe's primer: refill 0
    set_ 2           # 0 -> 2: polls at once (refill 1, at t=0)
    get_
    adv 1; get_      # t=1: nothing new
    adv 1; get_      # t=2: refill 2
    adv 5; get_      # t=7: refills 3 (t=4) and 4 (t=6)
    set_ 10          # 2 -> 10 at t=7: the 2 s tick at t=8 is dropped, next at t=17
    adv 9; get_      # t=16: still refill 4
    adv 1; get_      # t=17: refill 5
    set_ 0           # disable at t=17
    adv 100; get_    # t=117: frozen
    printf '{"execute": "qom-get", "arguments": {"path": "%s", "property": "guest-stats-polling-interval"}}\n' "$P"
} >"$tmp/in"
run --virtual-clock --fixed-stats
{
    stats 16 0 $E; echo "$OK"; stats 16 1 $E
    echo "$OK"; stats 16 1 $E
    echo "$OK"; stats 16 2 $((E + 2))
    echo "$OK"; stats 16 4 $((E + 6))
    echo "$OK"
    echo "$OK"; stats 16 4 $((E + 6))
    echo "$OK"; stats 16 5 $((E + 17))
    echo "$OK"
    echo "$OK"; stats 16 5 $((E + 17))
    echo '{"return": 0}'
} >"$tmp/exp"
expect interval-0-2-10-0

# Re-enabling after a disable polls at once again; 4294967295 -> 2 re-arms at now + 2.
{ set_ 4294967295; adv 5; get_; set_ 2; adv 1; get_; adv 1; get_; } >"$tmp/in"
run --virtual-clock --fixed-stats
{
    echo "$OK"; echo "$OK"; stats 16 1 $E
    echo "$OK"; echo "$OK"; stats 16 1 $E
    echo "$OK"; stats 16 2 $((E + 7))
} >"$tmp/exp"
expect interval-huge-then-2

# --interval N: like -device virtio-balloon,guest-stats-polling-interval=N
{ get_; adv 2; get_; adv 1; get_; } >"$tmp/in"
run --virtual-clock --fixed-stats --interval 3
{ stats 16 0 $E; echo "$OK"; stats 16 0 $E; echo "$OK"; stats 16 1 $((E + 3)); } >"$tmp/exp"
expect interval-option

# ---- profiles, key sets and the Linux versions ----------------------------------------------------------

seed >"$tmp/in"

run --profile qemu --virtual-clock --fixed-stats
{
    echo "$OK"; echo "$OK"; stats 16 1 $E 0 16 qemu
    echo '{"error": {"class": "GenericError", "desc": "Property '"'virtio-balloon-pci.stats-polling-interval'"' not found"}}'
} >"$tmp/exp"
expect qemu-profile-alias-is-unknown

# QEMU names the backend type on virtio-mmio (docs/qemu-observed.md)
run --profile qemu --virtual-clock --fixed-stats --transport mmio
{
    echo "$OK"; echo "$OK"; stats 16 1 $E 0 16 qemu
    echo '{"error": {"class": "GenericError", "desc": "Property '"'virtio-balloon-device.stats-polling-interval'"' not found"}}'
} >"$tmp/exp"
expect qemu-profile-alias-on-mmio

get_ >"$tmp/in"

run --profile qemu --stats 10 --virtual-clock --fixed-stats
stats 16 0 $E 0 10 qemu >"$tmp/exp"
expect qemu-profile-linux61-unset-is-uint64-max

get_ >"$tmp/in"

run --profile doc --stats 10 --virtual-clock --fixed-stats
stats 16 0 $E 0 10 doc >"$tmp/exp"
expect doc-profile-linux61-unset-is-minus-1

get_ >"$tmp/in"

run --profile qemu --stats 10 --keys 10 --virtual-clock --fixed-stats
stats 10 0 $E 0 10 qemu >"$tmp/exp"
expect qemu-7.2-with-linux-6.1

for k in 7 8; do
    get_ >"$tmp/in"
    run --keys $k --virtual-clock --fixed-stats
    stats $k 0 $E >"$tmp/exp"
    expect keys-$k
done

# Before the guest driver loaded (docs/qemu-observed.md's first reply, byte for byte) ...
get_ >"$tmp/in"
run --profile qemu --keys 10 --no-driver --virtual-clock
cat >"$tmp/exp" <<'EOF'
{"return": {"stats": {"stat-htlb-pgalloc": 18446744073709551615, "stat-swap-out": 18446744073709551615, "stat-available-memory": 18446744073709551615, "stat-htlb-pgfail": 18446744073709551615, "stat-free-memory": 18446744073709551615, "stat-minor-faults": 18446744073709551615, "stat-major-faults": 18446744073709551615, "stat-total-memory": 18446744073709551615, "stat-swap-in": 18446744073709551615, "stat-disk-caches": 18446744073709551615}, "last-update": 0}}
EOF
expect qemu-profile-no-driver
# ... and the document's "an error will be returned", even with polling enabled.
{ set_ 2; adv 5; get_; } >"$tmp/in"
run --no-driver --virtual-clock
{ echo "$OK"; echo "$OK"; echo '{"error": {"class": "GenericError", "desc": "guest hasn'"'"'t updated any stats yet"}}'; } >"$tmp/exp"
expect doc-profile-no-driver-error # (2 intervals without a driver: not stale yet)

# ---- framing ------------------------------------------------------------------------------------------------

{
    printf '{\n  "execute"\n\t:\r\n "qom-get",\n "arguments": {"path": "%s",\n "property":\n\n "guest-stats-polling-interval"}\n}\n' "$P"
    printf '{"execute": "query-balloon"}{"execute": "query-balloon"}   {"execute"'
    printf ': "qom-get", "arguments": {"path": "/machine/peripheral-anon/device[1]", "property": "guest-stats-polling-interval"}}'
} >"$tmp/in"
run --virtual-clock --interval 7
{ echo '{"return": 7}'; echo '{"return": {"actual": 1073741824}}'; echo '{"return": {"actual": 1073741824}}'; echo '{"return": 7}'; } >"$tmp/exp"
expect multi-line-and-packed-objects

printf '{"execute": "query-balloon"}\n{"execute": "qom-get", "arguments": {' >"$tmp/in"
run --virtual-clock
echo '{"return": {"actual": 1073741824}}' >"$tmp/exp"
expect incomplete-object-at-eof-dropped

: >"$tmp/in"

run
: >"$tmp/exp"
expect empty-input-clean-exit

# ---- the balloon ---------------------------------------------------------------------------------------------

{
    query
    balloon 536870912 # 512 MiB target of 1 GiB: 131072 pages, 512 batches of 256
    query
    adv 1             # the throttled BALLOON_CHANGE for the final value comes out
    set_ 5            # a poll at once: the guest's memory shrank by the balloon
    get_
    balloon 1073741824 # deflate it all, at t=1: inside the event's one-second window
    query
    adv 1              # t=2: the window ends, the newest held-back event comes out
} >"$tmp/in"
run --virtual-clock --fixed-stats
is_event() { # line, actual
    line "$1" | grep -q '"event": "BALLOON_CHANGE"' && line "$1" | grep -q "\"actual\": $2}"
}
if [ "$rc" = 0 ] && [ "$(lines)" = 12 ] && [ "$(line 1)" = '{"return": {"actual": 1073741824}}' ] &&
    [ "$(line 2)" = "$OK" ] && is_event 3 1072693248 && [ "$(line 4)" = '{"return": {"actual": 536870912}}' ] &&
    is_event 5 536870912 && [ "$(line 6)" = "$OK" ] &&
    [ "$(line 7)" = "$OK" ] && [ "$(line 8)" = "$(stats 16 1 $((E + 1)) 131072)" ] &&
    [ "$(line 9)" = "$OK" ] && [ "$(line 10)" = '{"return": {"actual": 1073741824}}' ] &&
    is_event 11 1073741824 && [ "$(line 12)" = "$OK" ] && [ ! -s "$tmp/err" ]; then
    good
else
    bad balloon-inflate-deflate-and-events "exit status $rc; output:"
    sed 's/^/  | /' "$tmp/out"
fi

# A target below what the guest can give: it stops when its page allocator is empty (RAM less
# the 4 MiB that hold its rings), like Linux's "Out of puff!".
{ balloon 1; query; } >"$tmp/in"
run --virtual-clock
if [ "$rc" = 0 ] && [ "$(line 3)" = '{"return": {"actual": 4194304}}' ] && grep -q 'Out of puff' "$tmp/err"; then
    good
else
    bad balloon-out-of-puff "exit status $rc; output:"
    sed 's/^/  | /' "$tmp/out"
fi

{ balloon 0; balloon 4294967296000; query; } >"$tmp/in"
run --virtual-clock --ram 2048
{
    echo '{"error": {"class": "GenericError", "desc": "Parameter '"'target'"' expects a size"}}'
    echo "$OK"
    echo '{"return": {"actual": 2147483648}}'
} >"$tmp/exp"
expect balloon-target-checks-and-ram-option

# The simulated driver never upsets the device: one buffer at a time, every answer parsed.
{ set_ 1; balloon 536870912; adv 30; balloon 805306368; adv 30; set_ 0; } >"$tmp/in"
run --virtual-clock --fixed-stats --verbose
summary=$(grep 'device counters' "$tmp/err")
case $summary in
*': 62 stats updates, 61 polls, 0 duplicate buffers, 0 unknown tags, 0 ring errors') good ;;
*) bad driver-protocol-clean "exit status $rc; $summary" ;;
esac

# ---- free pages: reporting, hinting, page poison, deflate-on-oom ------------------------------------
# With the default 1024 MiB the guest's free memory is 255 blocks of 4 MiB (the first 4 MiB hold
# its rings): reported 2 s after the driver loads as 8 requests (7 x 32 + 31), hinted one block a
# buffer between the echoed id and STOP.

hq() { printf '{"execute": "x-query-balloon-free-page-hint"}\n'; }
hint() { printf '{"execute": "x-balloon-free-page-hint", "arguments": {"action": "%s"}}\n' "$1"; }
qget() { printf '{"execute": "qom-get", "arguments": {"path": "%s", "property": "%s"}}\n' "$P" "$1"; }
freepages() { grep 'host: free pages: ' "$tmp/err" | sed 's/^.*host: free pages: //'; }
FREE=1069547520 # 255 x 4 MiB

# reporting: nothing before the 2 s delay, then every free block once
{ qget free-page-reporting; adv 1; } >"$tmp/in"
run --virtual-clock --fixed-stats --free-page-reporting --verbose
early=$(freepages)
{ adv 3; } >"$tmp/in"
run --virtual-clock --fixed-stats --free-page-reporting --verbose
late=$(freepages)
ranges=$(grep -c 'host: reporting: 32768 pages in 32 range(s)' "$tmp/err")
indirect_ok=$(grep -c 'host: reporting: 31744 pages in 31 range(s)' "$tmp/err")
if [ "$rc" = 0 ] && [ "$early" = "0 reporting buffers, 0 bytes reported, 0 hint buffers, 0 bytes hinted, 0 bytes ignored" ] &&
    [ "$late" = "8 reporting buffers, $FREE bytes reported, 0 hint buffers, 0 bytes hinted, 0 bytes ignored" ] &&
    [ "$ranges" = 7 ] && [ "$indirect_ok" = 1 ]; then
    good
else
    bad free-page-reporting-after-2s "exit status $rc; before: $early; after: $late; full requests $ranges"
fi

# a deflate frees pages: the blocks it makes whole again are reported 2 s later, once
{ balloon 536870912; adv 3; balloon 1073741824; adv 1; } >"$tmp/in"
run --virtual-clock --fixed-stats --free-page-reporting --verbose
one=$(freepages)
{ balloon 536870912; adv 3; balloon 1073741824; adv 3; } >"$tmp/in"
run --virtual-clock --fixed-stats --free-page-reporting --verbose
two=$(freepages)
# at 2 s: the 127 blocks above the balloon's 512 MiB (4 requests); 2 s after the deflate, the
# 128 blocks it gave back (4 requests)
if [ "$rc" = 0 ] && [ "$one" = "4 reporting buffers, 532676608 bytes reported, 0 hint buffers, 0 bytes hinted, 0 bytes ignored" ] &&
    [ "$two" = "8 reporting buffers, 1069547520 bytes reported, 0 hint buffers, 0 bytes hinted, 0 bytes ignored" ]; then
    good
else
    bad free-page-reporting-after-deflate "exit status $rc; 1 s after the deflate: $one; 3 s after: $two"
fi

# hinting through QMP: a round (the guest echoes the id, hints its 255 free blocks, sends STOP),
# done (it frees them), a second round with the next id; errors as QEMU's
{
    qget free-page-hint; hq; hint start; hq; hint done; hq; hint start; hq; hint stop; hq
    hint begin; printf '{"execute": "x-balloon-free-page-hint"}\n'
} >"$tmp/in"
run --virtual-clock --fixed-stats --free-page-hint
hs() { printf '{"return": {"status": "%s", "cmd-id": %s, "guest-cmd-id": %s, "ranges": %s, "bytes": %s}}\n' "$@"; }
{
    echo '{"return": true}'
    hs stop 2147483648 0 0 0
    echo "$OK"
    hs stop 2147483649 0 255 $FREE
    echo "$OK"
    hs done 2147483649 0 255 $FREE
    echo "$OK"
    hs stop 2147483650 0 255 $FREE
    echo "$OK"
    hs stop 2147483650 0 255 $FREE
    echo '{"error": {"class": "GenericError", "desc": "Parameter '"'action'"' does not accept value '"'begin'"'"}}'
    echo '{"error": {"class": "GenericError", "desc": "Parameter '"'action'"' is missing"}}'
} >"$tmp/exp"
expect free-page-hint-rounds

# without the feature, or before the driver accepted it, start fails
{ hint start; hq; } >"$tmp/in"
run --virtual-clock --fixed-stats
r1=$(line 1)
run --virtual-clock --fixed-stats --free-page-hint --no-driver
r2=$(line 1)
E_HINT='{"error": {"class": "GenericError", "desc": "The guest has not negotiated free page hinting"}}'
if [ "$rc" = 0 ] && [ "$r1" = "$E_HINT" ] && [ "$r2" = "$E_HINT" ] &&
    [ "$(line 2)" = "$(hs stop 2147483648 0 0 0)" ]; then
    good
else
    bad free-page-hint-needs-the-guest "exit status $rc; $r1; $r2"
fi

# the guest holds hinted blocks until done; a balloon that needs them gets them back (shrinker)
{ hint start; balloon 536870912; adv 3; query; } >"$tmp/in"
run --virtual-clock --fixed-stats --free-page-hint --verbose
if [ "$rc" = 0 ] && [ "$(tail -n 1 "$tmp/out")" = '{"return": {"actual": 536870912}}' ] &&
    grep -q 'guest: shrinker: out of pages, giving the hinted blocks back' "$tmp/err" &&
    ! grep -q 'Out of puff' "$tmp/err"; then
    good
else
    bad free-page-hint-shrinker "exit status $rc"
    tail -n 3 "$tmp/out" | sed 's/^/  | /'
fi

# page poison: a page_poison guest writes 0xaaaaaaaa and its reported and hinted ranges are left
# alone; an init_on_free guest writes 0 and they are used; without --page-poison a poisoning
# guest does not accept reporting; a guest that does neither does not accept page poison
{ qget page-poison; adv 3; hint start; } >"$tmp/in"
run --virtual-clock --fixed-stats --free-page-reporting --free-page-hint --page-poison --guest-poison page_poison --verbose
p1=$(freepages)
pv=$(grep -c 'host: poison_val 0xaaaaaaaa' "$tmp/err")
first=$(line 1)
run --virtual-clock --fixed-stats --free-page-reporting --free-page-hint --page-poison --guest-poison init_on_free --verbose
p2=$(freepages)
run --virtual-clock --fixed-stats --free-page-reporting --guest-poison page_poison --verbose
p3=$(freepages)
run --virtual-clock --fixed-stats --free-page-reporting --page-poison --verbose
p4=$(freepages)
if [ "$first" = '{"return": true}' ] && [ "$pv" = 1 ] &&
    [ "$p1" = "8 reporting buffers, 0 bytes reported, 257 hint buffers, 0 bytes hinted, $((2 * FREE)) bytes ignored" ] &&
    [ "$p2" = "8 reporting buffers, $FREE bytes reported, 257 hint buffers, $FREE bytes hinted, 0 bytes ignored" ] &&
    [ "$p3" = "0 reporting buffers, 0 bytes reported, 0 hint buffers, 0 bytes hinted, 0 bytes ignored" ] &&
    [ "$p4" = "8 reporting buffers, $FREE bytes reported, 0 hint buffers, 0 bytes hinted, 0 bytes ignored" ]; then
    good
else
    bad page-poison "page_poison: $p1 (poison_val lines $pv, $first)" "init_on_free: $p2" \
        "no --page-poison: $p3" "no guest poison: $p4"
fi

# deflate-on-oom: offered, and the guest's total memory keeps the balloon's pages (the last line:
# the BALLOON_CHANGE events come before)
{ qget deflate-on-oom; set_ 1; balloon 536870912; adv 1; get_; } >"$tmp/in"
run --virtual-clock --fixed-stats --deflate-on-oom
t1=$(tail -n 1 "$tmp/out" | sed -n 's/.*"stat-total-memory": \([0-9]*\),.*/\1/p')
f1=$(tail -n 1 "$tmp/out" | sed -n 's/.*"stat-free-memory": \([0-9]*\),.*/\1/p')
run --virtual-clock --fixed-stats
t2=$(tail -n 1 "$tmp/out" | sed -n 's/.*"stat-total-memory": \([0-9]*\),.*/\1/p')
if [ "$rc" = 0 ] && [ "$(line 1)" = '{"return": false}' ] && [ "$t1" = 1044406272 ] &&
    [ "$f1" = $((844943360 - 536870912)) ] && [ "$t2" = $((1044406272 - 536870912)) ]; then
    good
else
    bad deflate-on-oom "exit status $rc; total $t1 (free $f1) with it, $t2 without"
fi
{ qget deflate-on-oom; } >"$tmp/in"
run --virtual-clock --deflate-on-oom
if [ "$rc" = 0 ] && [ "$(line 1)" = '{"return": true}' ]; then good; else bad deflate-on-oom-offered "$(line 1)"; fi

# the options are in --help; a bad --guest-poison is a usage error
: >"$tmp/in"
run --help
if [ "$rc" = 0 ] && grep -q -- '--free-page-reporting' "$tmp/out" && grep -q -- '--free-page-hint' "$tmp/out" &&
    grep -q -- '--page-poison' "$tmp/out" && grep -q -- '--deflate-on-oom' "$tmp/out" &&
    grep -q -- '--guest-poison off|init_on_free|page_poison' "$tmp/out"; then
    good
else
    bad help-free-page-options "exit status $rc"
fi
run --guest-poison 0xaa
if [ "$rc" = 2 ] && grep -q 'guest-poison must be off, init_on_free or page_poison' "$tmp/err"; then good; else bad guest-poison-usage "exit status $rc"; fi

# ---- guest RAM: the direct path and the copy path (--no-map) ------------------------------------
# The device reaches guest RAM through pointers (the map callback) unless --no-map, then only
# through copies (read/write). The same session must give the same replies byte for byte both
# ways: the seed document's commands, polls at 1 s while the balloon inflates and deflates, free
# page reporting and a hinting round. The verbose summary counts the accesses of each kind.
{
    seed; set_ 1; balloon 536870912; adv 30; balloon 1073741824; adv 30
    hint start; adv 3; hq; set_ 0; get_; query
} >"$tmp/in"
ram_line() { grep 'host: guest RAM: ' "$tmp/err" | sed 's/^.*host: guest RAM: //'; }
counters() { grep 'device counters' "$tmp/err" | sed 's/^.*device counters: //'; }
run --virtual-clock --fixed-stats --free-page-reporting --free-page-hint --verbose
rc_map=$rc
cp "$tmp/out" "$tmp/out.map"
ram_map=$(ram_line)
counters_map=$(counters)
run --virtual-clock --fixed-stats --free-page-reporting --free-page-hint --verbose --no-map
ram_copy=$(ram_line)
counters_copy=$(counters)
case $ram_map in
[1-9]*' accesses mapped, 0 copied (read/write)') good ;;
*) bad guest-ram-direct-path "guest RAM: $ram_map" ;;
esac
case $ram_copy in
'0 accesses mapped, '[1-9]*' copied (read/write) (--no-map)') good ;;
*) bad guest-ram-copy-path-no-map "guest RAM: $ram_copy" ;;
esac
if [ "$rc_map" = 0 ] && [ "$rc" = 0 ] && [ "$(lines)" = 19 ] && cmp -s "$tmp/out.map" "$tmp/out" &&
    [ "$counters_map" = "$counters_copy" ] && [ "$(line 16)" = "$(hs stop 2147483649 0 255 $FREE)" ] &&
    [ "$(line 19)" = '{"return": {"actual": 1073741824}}' ]; then
    case $counters_map in
    *' 0 ring errors') good ;;
    *) bad guest-ram-paths-agree "device counters: $counters_map" ;;
    esac
else
    bad guest-ram-paths-agree "exit status $rc_map (map), $rc (--no-map); lines $(lines); counters: $counters_map / $counters_copy; diff map no-map:"
    diff "$tmp/out.map" "$tmp/out" | sed -n '1,24s/^/  /p'
fi

# ---- the sim-only command and the QMP session -------------------------------------------------------------

{
    printf '{"execute": "x-advance-clock", "arguments": {"ms": 1500}, "id": "a1"}\n'
    printf '{"execute": "x-advance-clock", "arguments": {"seconds": 1, "ms": 500}, "id": {"n": [1, 2]}}\n'
    printf '{"execute": "x-advance-clock"}\n'
    printf '{"execute": "x-advance-clock", "arguments": {"seconds": 1.5}}\n'
    printf '{"execute": "x-advance-clock", "arguments": {"seconds": -1}}\n'
    printf '{"execute": "x-advance-clock", "arguments": {"minutes": 1}}\n'
    printf '{"execute": "x-advance-clock", "arguments": {"seconds": 99999999999}}\n'
    printf "{'execute': 'x-advance-clock', 'arguments': {'ms': 0}}\n"
    get_
} >"$tmp/in"
run --virtual-clock --fixed-stats --interval 3
{
    echo '{"return": {}, "id": "a1"}'
    echo '{"return": {}, "id": {"n": [1, 2]}}'
    echo '{"error": {"class": "GenericError", "desc": "Parameter '"'seconds'"' is missing"}}'
    echo '{"error": {"class": "GenericError", "desc": "Invalid parameter type for '"'seconds'"', expected: integer"}}'
    echo '{"error": {"class": "GenericError", "desc": "Invalid parameter type for '"'seconds'"', expected: integer"}}'
    echo '{"error": {"class": "GenericError", "desc": "Parameter '"'minutes'"' is unexpected"}}'
    echo '{"error": {"class": "GenericError", "desc": "Parameter '"'seconds'"' expects at most one year of time"}}'
    echo "$OK"
    stats 16 1 $((E + 3))
} >"$tmp/exp"
expect x-advance-clock-arguments

adv 1 >"$tmp/in"

run
if [ "$rc" = 0 ] && [ "$(lines)" = 1 ] && line 1 | grep -q '"class": "CommandNotFound"'; then
    good
else
    bad x-advance-clock-needs-virtual-clock "exit status $rc; output:"
    sed 's/^/  | /' "$tmp/out"
fi

{ query; printf '{"execute": "qmp_capabilities"}\n'; query; } >"$tmp/in"
run --qmp-greeting --virtual-clock
if [ "$rc" = 0 ] && [ "$(lines)" = 4 ] && line 1 | grep -q '^{"QMP": {"version": {"qemu": ' &&
    line 2 | grep -q '^{"error": {"class": "CommandNotFound"' && [ "$(line 3)" = "$OK" ] &&
    [ "$(line 4)" = '{"return": {"actual": 1073741824}}' ]; then
    good
else
    bad qmp-greeting-and-negotiation "exit status $rc; output:"
    sed 's/^/  | /' "$tmp/out"
fi

# --pretty: QEMU's JSON writer (qobject/json-writer.c) ends every object, even an empty one, with
# a newline and the indent: {"return": {}} takes four lines. The sim's own reply and the
# library's must both look like that.
{ adv 1; set_ 1; } >"$tmp/in"
run --pretty --virtual-clock
printf '{\n    "return": {\n    }\n}\n{\n    "return": {\n    }\n}\n' >"$tmp/exp"
expect pretty-empty-object-like-qemu

# ---- stats freshness: a guest that goes silent -------------------------------------------------------
# x-guest-stats-silence stalls the guest's stats work (as a stuck workqueue in Linux): the poll's
# buffer stays with the guest, nothing is refilled; on resume the held poll is answered at once.

silence() { printf '{"execute": "x-guest-stats-silence", "arguments": {"silent": %s}}\n' "$1"; }
{
    set_ 2           # polls at once: refill 1 at t=0
    silence true
    adv 10; get_     # t=10: no refill since t=0 (polls at t=2 went unanswered)
    silence false    # the poll held since t=2 is answered now: refill 2 at t=10
    get_
    adv 2; get_      # the timer was re-armed by that answer: refill 3 at t=12
} >"$tmp/in"
run --virtual-clock --fixed-stats
{
    echo "$OK"; echo "$OK"
    echo "$OK"; stats 16 1 $E
    echo "$OK"; stats 16 2 $((E + 10))
    echo "$OK"; stats 16 3 $((E + 12))
} >"$tmp/exp"
grep -v '"event": "__org.vballoon_BALLOON_STATS_STALE"' "$tmp/out" >"$tmp/out2" # (tested below)
mv "$tmp/out2" "$tmp/out"
expect silence-holds-the-poll-resume-answers-it

# The stale event. With polls every 2 s the guest answers the poll at t=0 and goes silent; the
# poll at t=2 is never answered, so the intervals ending at t=4, 6 and 8 are missed and with
# K = 3 (vb_config.stale_after's default) the stats are stale at t=8: one event, at once, whose
# data say so, with the last stats' wall clock (E: t=0). Silent on to t=14, no second event;
# on resume the held poll is answered and one event says fresh, with the new last-update.
STALE_EVENT=__org.vballoon_BALLOON_STATS_STALE
stale_() { # seconds stale missed last-update
    printf '{"timestamp": {"seconds": %s, "microseconds": 0}, "event": "%s", "data": {"stale": %s, "missed-intervals": %s, "last-update": %s}}\n' "$1" "$STALE_EVENT" "$2" "$3" "$4"
}
{
    set_ 2; silence true
    for i in 1 2 3 4 5 6 7 8; do adv 1; done
    qget x-guest-stats-telemetry
    for i in 1 2 3 4 5 6; do adv 1; done
    silence false
    qget x-guest-stats-telemetry
} >"$tmp/in"
run --virtual-clock --fixed-stats
{
    echo "$OK"; echo "$OK"
    for i in 1 2 3 4 5 6 7; do echo "$OK"; done
    stale_ $((E + 8)) true 3 $E; echo "$OK"
    for i in 1 2 3 4 5 6; do echo "$OK"; done
    stale_ $((E + 14)) false 0 $((E + 14)); echo "$OK"
} >"$tmp/exp"
if [ "$rc" = 0 ] && sed '12d;21d' "$tmp/out" | cmp -s "$tmp/exp" - && [ "$(lines)" = 21 ] &&
    line 12 | grep -q '^{"return": {"stale": true, "missed-intervals": 3, ' &&
    line 21 | grep -q '^{"return": {"stale": false, "missed-intervals": 0, ' && [ ! -s "$tmp/err" ]; then
    good
else
    bad stale-after-3-intervals-then-fresh "exit status $rc; diff expected actual (telemetry lines 12, 21 left out):"
    sed '12d;21d' "$tmp/out" | diff "$tmp/exp" - | sed -n '1,24s/^/  /p'
    echo "  line 12: $(line 12)"
    echo "  line 21: $(line 21)"
fi
# the host's log says it, once each way
run --virtual-clock --fixed-stats --verbose
if [ "$(grep -c 'host: stats stale: 3 polling intervals without an answer' "$tmp/err")" = 1 ] &&
    [ "$(grep -c 'host: stats fresh again' "$tmp/err")" = 1 ]; then
    good
else
    bad stale-log-lines "$(grep 'host: stats ' "$tmp/err")"
fi

# Rate limit, per event type as QEMU's: polls every second, silent after t=0: stale at t=4 (the
# poll at t=1 unanswered, intervals ending at 2, 3, 4), out at once. Resumed at once, fresh
# again within the same second: held, and sent (stamped when it happened) when the window ends
# at t=5. A BALLOON_CHANGE meanwhile has its own window: out at once.
{
    set_ 1; silence true
    adv 4
    balloon 1072693248  # 1 MiB: one batch of 256 pages, one BALLOON_CHANGE
    silence false
    printf '{"execute": "x-advance-clock", "arguments": {"ms": 999}}\n'
    printf '{"execute": "x-advance-clock", "arguments": {"ms": 1}}\n'
    adv 3
} >"$tmp/in"
run --virtual-clock --fixed-stats
{
    echo "$OK"; echo "$OK"
    stale_ $((E + 4)) true 3 $E; echo "$OK"
    echo "$OK" # (the guest inflates after the reply)
    echo '{"timestamp": {"seconds": '$((E + 4))', "microseconds": 0}, "event": "BALLOON_CHANGE", "data": {"actual": 1072693248}}'
    echo "$OK"
    echo "$OK"
    stale_ $((E + 4)) false 0 $((E + 4)); echo "$OK"
    echo "$OK"
} >"$tmp/exp"
expect stale-event-rate-limited-per-type

# Its argument as QAPI checks a boolean: the member first (missing, wrong type), then the others.
{
    silence 1; silence '"true"'; silence null
    printf '{"execute": "x-guest-stats-silence"}\n'
    printf '{"execute": "x-guest-stats-silence", "arguments": {"quiet": true}}\n'
    printf '{"execute": "x-guest-stats-silence", "arguments": {"silent": false, "x": "silent"}, "id": 7}\n'
    printf "{'execute': 'x-guest-stats-silence', 'arguments': {'silent': true}}\n"
    printf '{"execute": "x-guest-stats-silence", "arguments": {"a": {"silent": true}, "silent": false}}\n'
} >"$tmp/in"
run
{
    for i in 1 2 3; do
        echo '{"error": {"class": "GenericError", "desc": "Invalid parameter type for '"'silent'"', expected: boolean"}}'
    done
    echo '{"error": {"class": "GenericError", "desc": "Parameter '"'silent'"' is missing"}}'
    echo '{"error": {"class": "GenericError", "desc": "Parameter '"'silent'"' is missing"}}'
    echo '{"id": 7, "error": {"class": "GenericError", "desc": "Parameter '"'x'"' is unexpected"}}'
    echo "$OK"
    echo '{"error": {"class": "GenericError", "desc": "Parameter '"'a'"' is unexpected"}}'
} >"$tmp/exp"
expect silence-arguments

# ---- the VM's run state: query-status, stop, cont, quit (QEMU 7.2's replies and events) --------------------
# What QEMU 7.2 answered (-S, then cont, stop, stop, cont, cont, quit): events before the reply,
# none when the state does not change, and nothing after quit.

VERSION=$(sed -n 's/^#define VB_VERSION_STRING "\(.*\)"$/\1/p' "$(dirname "$0")/../vballoon.h")
status_() { printf '{"return": {"status": "%s", "singlestep": false, "running": %s}}\n' "$1" "$2"; }
event_() { printf '{"timestamp": {"seconds": %s, "microseconds": 0}, "event": "%s"%s}\n' "$1" "$2" "$3"; }
cmd_() { printf '{"execute": "%s"}\n' "$1"; }
{
    cmd_ query-version; cmd_ query-status; cmd_ query-commands
    get_             # the guest has not booted: nothing reported, as QEMU before the driver
    cmd_ stop; cmd_ query-status
    cmd_ cont        # boots the guest: the probe's primer (refill 0) at t=0
    cmd_ cont; cmd_ query-status; get_
    adv 2
    cmd_ stop; cmd_ stop; cmd_ query-status
    cmd_ quit
    get_             # not answered
} >"$tmp/in"
run --virtual-clock --fixed-stats --profile qemu --keys 10 --stats 10 -S
{
    printf '{"return": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": "vballoon.h %s"}}\n' "$VERSION"
    status_ prelaunch false
    printf '{"return": [{"name": "cont"}, {"name": "stop"}, {"name": "query-balloon"}, {"name": "balloon"}, '
    printf '{"name": "qom-set"}, {"name": "qom-get"}, {"name": "qom-list"}, {"name": "quit"}, '
    printf '{"name": "query-commands"}, {"name": "query-version"}, {"name": "qmp_capabilities"}, '
    printf '{"name": "query-status"}, {"name": "x-balloon-free-page-hint"}, '
    printf '{"name": "x-query-balloon-free-page-hint"}, {"name": "x-guest-stats-silence"}, {"name": "x-advance-clock"}]}\n'
    echo '{"return": {"stats": {"stat-htlb-pgalloc": 18446744073709551615, "stat-swap-out": 18446744073709551615, "stat-available-memory": 18446744073709551615, "stat-htlb-pgfail": 18446744073709551615, "stat-free-memory": 18446744073709551615, "stat-minor-faults": 18446744073709551615, "stat-major-faults": 18446744073709551615, "stat-total-memory": 18446744073709551615, "stat-swap-in": 18446744073709551615, "stat-disk-caches": 18446744073709551615}, "last-update": 0}}'
    echo "$OK"; status_ prelaunch false
    event_ $E RESUME; echo "$OK"
    echo "$OK"; status_ running true; stats 10 0 $E 0 10 qemu
    echo "$OK"
    event_ $((E + 2)) STOP; echo "$OK"
    echo "$OK"; status_ paused false
    event_ $((E + 2)) SHUTDOWN ', "data": {"guest": false, "reason": "host-qmp-quit"}'; echo "$OK"
} >"$tmp/exp"
expect run-state-as-qemu

# A stopped VM: the guest does not run and the VM clock stands (no polls, no balloon work);
# x-advance-clock moves only the wall clock then. cont picks up where stop left off.
{
    set_ 2           # polls at once: refill 1 at t=0
    adv 3            # refill 2 at t=2
    cmd_ stop        # at t=3
    adv 10; get_     # nothing new: still refill 2
    balloon 536870912; query
    cmd_ cont        # wall clock E+13, VM clock t=3: the guest inflates now
    adv 1; query     # the newest BALLOON_CHANGE held back by the one-second window
    get_             # t=4: refill 3, stamped E+14
} >"$tmp/in"
run --virtual-clock --fixed-stats
{
    echo "$OK"; echo "$OK"
    event_ $((E + 3)) STOP; echo "$OK"
    echo "$OK"; stats 16 2 $((E + 2))
    echo "$OK"; echo '{"return": {"actual": 1073741824}}'
    event_ $((E + 13)) RESUME; echo "$OK"
    echo '{"timestamp": {"seconds": '$((E + 13))', "microseconds": 0}, "event": "BALLOON_CHANGE", "data": {"actual": 1072693248}}'
    echo '{"timestamp": {"seconds": '$((E + 13))', "microseconds": 0}, "event": "BALLOON_CHANGE", "data": {"actual": 536870912}}'
    echo "$OK"; echo '{"return": {"actual": 536870912}}'
    stats 16 3 $((E + 14)) 131072
} >"$tmp/exp"
expect stop-freezes-guest-and-polls

# The run-state commands take no arguments and wait for the negotiation, as every command.
{
    printf '{"execute": "stop", "arguments": {"a": 1}}\n'
    printf '{"execute": "query-status", "arguments": {"a": 1}, "id": 2}\n'
    printf '{"execute": "quit", "arguments": {}}\n'
} >"$tmp/in"
run --pretty
{
    printf '{\n    "error": {\n        "class": "GenericError",\n        "desc": "Parameter '"'a'"' is unexpected"\n    }\n}\n'
    printf '{\n    "id": 2,\n    "error": {\n        "class": "GenericError",\n        "desc": "Parameter '"'a'"' is unexpected"\n    }\n}\n'
} >"$tmp/exp"
# quit answered too: its event and reply are compact-event + pretty-reply
if [ "$rc" = 0 ] && head -n 13 "$tmp/out" | cmp -s "$tmp/exp" - && [ "$(lines)" = 18 ] &&
    line 14 | grep -q '"event": "SHUTDOWN"'; then
    good
else
    bad run-state-argument-errors "exit status $rc; output:"
    sed 's/^/  | /' "$tmp/out"
fi
{ cmd_ stop; cmd_ query-status; cmd_ quit; } >"$tmp/in"
run --qmp-greeting
if [ "$rc" = 0 ] && [ "$(lines)" = 4 ] && [ "$(grep -c 'Expecting capabilities negotiation' "$tmp/out")" = 3 ]; then
    good
else
    bad run-state-needs-negotiation "exit status $rc; output:"
    sed 's/^/  | /' "$tmp/out"
fi
cmd_ query-commands >"$tmp/in"
run
if [ "$rc" = 0 ] && [ "$(lines)" = 1 ] && line 1 | grep -q '{"name": "x-query-balloon-free-page-hint"}, {"name": "x-guest-stats-silence"}]}$'; then
    good
else
    bad query-commands-without-virtual-clock "exit status $rc; output:"
    sed 's/^/  | /' "$tmp/out"
fi

# ---- options --------------------------------------------------------------------------------------------------

for bad_args in "--bogus" "--stats 12" "--keys 9" "--ram 8" "--profile x" "--interval -1" "--interval" "--pretty=1" \
    "--queue-size 0" "--queue-size 129" "--packed=1"; do
    # shellcheck disable=SC2086 # word splitting wanted
    : >"$tmp/in"
    run $bad_args
    if [ "$rc" = 2 ] && grep -q '^usage: ' "$tmp/err" && [ ! -s "$tmp/out" ]; then
        good
    else
        bad "bad-option $bad_args" "exit status $rc (want 2 and usage on stderr)"
    fi
done
: >"$tmp/in"
run --help
if [ "$rc" = 0 ] && grep -q '^usage: ' "$tmp/out"; then good; else bad help "exit status $rc"; fi

# ---- virsh dommemstat: the client mode against the sim's --qmp socket ---------------------------------
# What libvirt prints (qemuMonitorJSONGetMemoryStats, virsh's cmdDomMemStat): actual from
# query-balloon, then guest-stats' values under libvirt's names and in its order, bytes as KiB,
# those the guest did not send (-1, 2^64 - 1) left out, then rss. The expected lines are computed
# here from the replies the same sim gives on stdin, with the table below.

LIBVIRT_MEMSTATS='swap_in stat-swap-in 1024 swap_out stat-swap-out 1024
major_fault stat-major-faults 1 minor_fault stat-minor-faults 1 unused stat-free-memory 1024
available stat-total-memory 1024 usable stat-available-memory 1024 last_update last-update 1
disk_caches stat-disk-caches 1024 hugetlb_pgalloc stat-htlb-pgalloc 1 hugetlb_pgfail stat-htlb-pgfail 1'

# libvirt_lines: $tmp/out's query-balloon and qom-get replies -> virsh's lines but rss
libvirt_lines() {
    awk -v table="$LIBVIRT_MEMSTATS" '
        /^\{"return": \{"actual": / { a = $0; sub(/^.*"actual": /, "", a); sub(/\}.*$/, "", a); actual = a }
        /^\{"return": \{"stats": / {
            s = $0
            while (match(s, /"[a-z-]+": -?[0-9]+/)) {
                pair = substr(s, RSTART, RLENGTH)
                s = substr(s, RSTART + RLENGTH)
                k = pair; sub(/^"/, "", k); sub(/".*$/, "", k)
                x = pair; sub(/^.*: /, "", x)
                v[k] = x
            }
        }
        END {
            if (actual != "") printf "actual %.0f\n", int(actual / 1024)
            n = split(table, t, /[ \n]+/)
            for (i = 1; i + 2 <= n; i += 3)
                if ((t[i + 1] in v) && v[t[i + 1]] != "-1" && v[t[i + 1]] != "18446744073709551615")
                    printf "%s %.0f\n", t[i], int(v[t[i + 1]] / t[i + 2])
        }' "$tmp/out"
}
vmrss() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB$/\1/p' "/proc/$1/status" 2>/dev/null; }

# dommemstat_run SIM-ARGS...: a sim with --qmp; stdin gets a balloon target, query-balloon and
# qom-get guest-stats; once it has answered, the client runs -> $tmp/dms (rc in $drc), and the
# sim's VmRSS before and after it in $rss0, $rss1
dommemstat_run() {
    rm -f "$tmp/dms.sock" "$tmp/dms-in"
    mkfifo "$tmp/dms-in"
    "$SIM" $PK --qmp "unix:$tmp/dms.sock" --virtual-clock "$@" <"$tmp/dms-in" >"$tmp/out" 2>"$tmp/err" &
    spid=$!
    exec 3>"$tmp/dms-in"
    { balloon 536870912; query; get_; } >&3
    i=0
    while { [ ! -S "$tmp/dms.sock" ] || ! grep -q '"stats"\|"error"' "$tmp/out"; } && [ "$i" -lt 1200 ]; do
        sleep 0.05 # the replies, at most 60 s
        i=$((i + 1))
    done
    rss0=$(vmrss "$spid")
    "$SIM" dommemstat "unix:$tmp/dms.sock" >"$tmp/dms" 2>>"$tmp/err"
    drc=$?
    rss1=$(vmrss "$spid")
    exec 3>&-
    kill -TERM "$spid"
    wait "$spid"
    rc=$?
}

# dommemstat_check NAME "NAMES" SIM-ARGS...: the names in that order, each value as computed,
# and rss the sim's resident set (VmRSS before and after the client, give or take 256 KiB)
dommemstat_check() {
    name=$1
    names=$2
    shift 2
    dommemstat_run "$@"
    libvirt_lines >"$tmp/exp"
    got_names=$(awk '{ printf "%s%s", sep, $1; sep = " " }' "$tmp/dms")
    rss=$(sed -n 's/^rss //p' "$tmp/dms")
    if [ "$rc" = 0 ] && [ "$drc" = 0 ] && [ "$got_names" = "$names" ] &&
        grep -v '^rss ' "$tmp/dms" | cmp -s "$tmp/exp" - && [ -n "$rss0" ] && [ -n "$rss" ] &&
        [ "$rss" -ge $((rss0 < rss1 ? rss0 - 256 : rss1 - 256)) ] &&
        [ "$rss" -le $((rss0 > rss1 ? rss0 + 256 : rss1 + 256)) ] && [ ! -s "$tmp/err" ]; then
        good
    else
        bad "$name" "exit status $rc, client $drc; names: $got_names; rss $rss (VmRSS $rss0, $rss1 kB); printed, then expected:"
        sed 's/^/  | /' "$tmp/dms"
        sed 's/^/  = /' "$tmp/exp"
    fi
}
ALL_NAMES='actual swap_in swap_out major_fault minor_fault unused available usable last_update disk_caches hugetlb_pgalloc hugetlb_pgfail rss'
dommemstat_check dommemstat-16-keys "$ALL_NAMES" --fixed-stats
grep -v '^rss ' "$tmp/dms" >"$tmp/dms-compact"
# a monitor that pretty-prints (QEMU's pretty=on): the client frames objects, not lines
dommemstat_run --fixed-stats --pretty
if [ "$rc" = 0 ] && [ "$drc" = 0 ] && grep -v '^rss ' "$tmp/dms" | cmp -s "$tmp/dms-compact" - &&
    [ "$(wc -l <"$tmp/dms-compact")" = 12 ]; then
    good
else
    bad dommemstat-pretty-monitor "exit status $rc, client $drc; printed:"
    sed 's/^/  | /' "$tmp/dms"
fi
dommemstat_check dommemstat-host-stats "$ALL_NAMES"
dommemstat_check dommemstat-6-keys 'actual swap_in swap_out major_fault minor_fault unused available last_update rss' --fixed-stats --keys 6
# no driver: QEMU's profile gives 2^64 - 1 for each (left out) and last-update 0; the document's
# gives an error (guest-stats left out altogether, as libvirt does)
dommemstat_check dommemstat-qemu-no-driver 'actual last_update rss' --profile qemu --no-driver
dommemstat_check dommemstat-doc-no-driver 'actual rss' --no-driver

# the client's own errors: its usage (status 2), a socket nobody listens on (status 1)
"$SIM" dommemstat "$tmp/no.sock" >"$tmp/out" 2>"$tmp/err"
rc=$?
"$SIM" dommemstat "unix:$tmp/no.sock" >>"$tmp/out" 2>>"$tmp/err"
drc=$?
if [ "$rc" = 2 ] && [ "$drc" = 1 ] && [ ! -s "$tmp/out" ] && grep -q '^usage: vballoon-sim dommemstat unix:PATH$' "$tmp/err" &&
    grep -q "^vballoon-sim dommemstat: $tmp/no.sock: " "$tmp/err"; then
    good
else
    bad dommemstat-errors "exit status $rc and $drc; output:"
    sed 's/^/  | /' "$tmp/out"
fi

# ---- long commands and flow control ---------------------------------------------------------------------
# stdin: a 1 MiB "id", 20,000 commands through pipes on both sides, 1,000 commands written before any
# reply is read. The --qmp socket: tests/qmp_stress.h through build/qmp-stress. Waits are bounded.

big_id() { awk 'BEGIN { s = "abcdefghijklmnopqrstuvwxyz0123456789"; while (length(s) < 1048576) s = s s; print substr(s, 1, 1048576) }'; }
id=$(big_id)
printf '{"execute": "query-balloon", "id": "%s"}\n' "$id" >"$tmp/in"
run --virtual-clock
printf '{"return": {"actual": 1073741824}, "id": "%s"}\n' "$id" >"$tmp/exp"
unset id
if [ "$rc" = 0 ] && cmp -s "$tmp/exp" "$tmp/out" && [ ! -s "$tmp/err" ]; then
    good
else # (no diff: the lines are a megabyte long)
    bad stdin-id-of-1-MiB-echoed "exit status $rc; $(wc -c <"$tmp/out") bytes out, want $(wc -c <"$tmp/exp"): $(cut -c 1-60 "$tmp/out" | head -n 1)"
fi

# ids_in_order N: $tmp/out has N replies, the i-th ending with "id": i (from 0)
ids_in_order() {
    awk -v n="$1" '{ want = ", \"id\": " (NR - 1) "}"; if (substr($0, length($0) - length(want) + 1) != want) bad++ }
        END { exit !(NR == n && bad == 0) }' "$tmp/out"
}
stats_cmds() { # N: qom-get guest-stats with ids 0 .. N-1
    awk -v n="$1" -v p="$P" 'BEGIN { for (i = 0; i < n; i++)
        printf "{\"execute\": \"qom-get\", \"arguments\": {\"path\": \"%s\", \"property\": \"guest-stats\"}, \"id\": %d}\n", p, i }'
}
now_ms() { # milliseconds, if date knows %N (GNU); else whole seconds
    d=$(date +%s%N)
    case $d in *N) echo $(($(date +%s) * 1000)) ;; *) echo $((d / 1000000)) ;; esac
}
t0=$(now_ms)
stats_cmds 20000 | "$SIM" $PK --virtual-clock --fixed-stats 2>"$tmp/err" | cat >"$tmp/out"
if ids_in_order 20000 && [ ! -s "$tmp/err" ]; then
    good
else
    bad stdin-20000-pipelined "$(wc -l <"$tmp/out") replies (want 20000, ids in order)"
fi
echo "  measured: ${LNAME}stdin-20000-pipelined: $(wc -l <"$tmp/out" | tr -d ' ') replies in $(($(now_ms) - t0)) ms"

# 1,000 at once: the sim reads them all (its replies wait in its buffer: the reader starts only
# once the writer is done), then everything is read.
rm -f "$tmp/cmds" "$tmp/replies"
mkfifo "$tmp/cmds" "$tmp/replies"
"$SIM" $PK --virtual-clock --fixed-stats <"$tmp/cmds" >"$tmp/replies" 2>"$tmp/err" &
spid=$!
exec 3>"$tmp/cmds" 4<"$tmp/replies"
stats_cmds 1000 >"$tmp/in"
cat "$tmp/in" >&3 &
wpid=$!
i=0
while kill -0 "$wpid" 2>/dev/null && [ "$i" -lt 1200 ]; do # at most 60 s
    sleep 0.05
    i=$((i + 1))
done
if kill -0 "$wpid" 2>/dev/null; then
    written=no
    kill "$wpid"
else
    written=yes
fi
wait "$wpid" 2>/dev/null
exec 3>&-
t0=$(now_ms)
cat <&4 >"$tmp/out"
exec 4<&-
wait "$spid"
rc=$?
if [ "$written" = yes ] && [ "$rc" = 0 ] && ids_in_order 1000 && [ ! -s "$tmp/err" ]; then
    good
else
    bad stdin-1000-written-then-read "all written: $written; exit status $rc; $(wc -l <"$tmp/out") replies (want 1000, ids in order)"
fi
echo "  measured: ${LNAME}stdin-1000-written-then-read: $(wc -l <"$tmp/out" | tr -d ' ') replies read in $(($(now_ms) - t0)) ms"

# The --qmp socket: 20,000 pipelined, 1,000 written then read, a 1 MiB "id", a second client served
# while the first is backed up, an unfinished 66 MiB message closing its client, and 16 clients
# at once with the 17th waiting in the listen backlog.
if [ ! -x "$QS" ]; then
    bad qmp-stress-built "$QS is not an executable (make build/qmp-stress)"
else
    "$SIM" $PK --qmp "unix:$tmp/qmp.sock" --fixed-stats </dev/null >"$tmp/out" 2>"$tmp/err" &
    spid=$!
    "$QS" --prefix qmp- "$tmp/qmp.sock" pipelined burst long-id second-client unfinished backlog >"$tmp/qs" 2>&1
    kill -TERM "$spid"
    wait "$spid"
    rc=$?
    grep -v '^qmp-stress: ' "$tmp/qs"
    counts=$(sed -n 's/^qmp-stress: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$tmp/qs")
    if [ -n "$counts" ]; then
        pass=$((pass + ${counts% *}))
        fail=$((fail + ${counts#* }))
    else
        bad qmp-stress "no result line"
    fi
    # the only log line: the unfinished message's client closed, with the reason
    if [ "$rc" = 0 ] && [ "$(wc -l <"$tmp/err")" = 1 ] &&
        grep -q '^vballoon-sim: QMP client closed: a command still unfinished after 65 MiB' "$tmp/err"; then
        good
    else
        bad qmp-stress-log "exit status $rc; stderr:"
        sed -n '1,5s/^/  | /p' "$tmp/err"
    fi
fi

# ---- real time (about 2.5 s unloaded) ---------------------------------------------------------------

# 1 s polling: the guest answers again and again, last-update moves on, and never faster than
# once a second. The commands go in through a FIFO: a guest-stats query every 0.25 s until two
# more refills are seen (about 2 s; at most 60 s on a starved machine), then end of input.
mkfifo "$tmp/fifo"
now0=$(date +%s)
"$SIM" $PK --fixed-stats <"$tmp/fifo" >"$tmp/out" 2>"$tmp/err" &
spid=$!
exec 3>"$tmp/fifo"
{ set_ 1; get_; } >&3
mf_of() { line "$1" | sed -n 's/.*"stat-minor-faults": \([0-9]*\),.*/\1/p'; }
lu_of() { line "$1" | sed -n 's/.*"last-update": \([0-9]*\)}}$/\1/p'; }
n=2 # replies asked for
i=0
while [ "$i" -lt 240 ]; do
    sleep 0.25
    get_ >&3
    n=$((n + 1))
    i=$((i + 1))
    # wait for its reply (the sim answers at once unless starved), then look
    j=0
    while [ "$(lines)" -lt "$n" ] && [ "$j" -lt 400 ] && kill -0 "$spid" 2>/dev/null; do
        sleep 0.05
        j=$((j + 1))
    done
    mf1=$(mf_of 2)
    mf2=$(mf_of "$n")
    [ -n "$mf1" ] && [ -n "$mf2" ] && [ "$mf2" -ge $((mf1 + 200)) ] && break
    kill -0 "$spid" 2>/dev/null || break
done
exec 3>&-
wait "$spid"
rc=$?
lu1=$(lu_of 2)
lu2=$(lu_of "$n")
mf1=$(mf_of 2)
mf2=$(mf_of "$n")
now=$(date +%s)
# refills seen (100 minor faults each) against the seconds they took: at most one a second,
# i.e. (mf2 - mf1) / 100 <= lu2 - lu1 (+ 1 for the poll at once on enabling)
if [ "$rc" = 0 ] && [ -n "$lu1" ] && [ -n "$lu2" ] && [ -n "$mf1" ] && [ -n "$mf2" ] &&
    [ "$lu2" -ge $((lu1 + 1)) ] && [ "$lu2" -le "$now" ] && [ "$lu1" -ge $((now0 - 1)) ] &&
    [ "$mf2" -ge $((mf1 + 200)) ] && [ $(((mf2 - mf1) / 100)) -le $((lu2 - lu1 + 1)) ]; then
    good
else
    bad real-clock-1s-polling "exit status $rc; last-update $lu1 -> $lu2 (start $now0, now $now), minor faults $mf1 -> $mf2 after $n replies"
fi

# This host's /proc numbers: total memory is MemTotal in bytes.
get_ >"$tmp/in"
run --profile qemu
total=$(line 1 | sed -n 's/.*"stat-total-memory": \([0-9]*\),.*/\1/p')
memtotal=$(sed -n 's/^MemTotal: *\([0-9]*\) kB$/\1/p' /proc/meminfo 2>/dev/null)
if [ -z "$memtotal" ] || { [ "$rc" = 0 ] && [ "$total" = $((memtotal * 1024)) ]; }; then
    good
else
    bad host-proc-stats "exit status $rc; stat-total-memory $total, MemTotal $memtotal kB"
fi

# ---- the layouts side by side, then every check above on packed rings (once, from the split pass) ----
# The guest's rings must not change what it tells the device: the same session gives the same
# replies, the same device counters and no ring error on split and packed rings, also with small
# rings that wrap many times (a packed ring of 5: not a power of two), chains of 32 descriptors
# across the ring end and a chain as long as the whole ring (no indirect descriptors), with and
# without EVENT_IDX. The guest's --verbose summary counts the buffers it made available on each
# queue and the laps of each ring.

# rings NAME: "B W" of the ring summary's NAME queue (buffers, wraps)
rings() { sed -n "s/.*guest: rings (.*[(:,] $1 \([0-9]*\) buffers \([0-9]*\) wraps.*/\1 \2/p" "$tmp/err"; }
layout() { sed -n 's/.*guest: rings (\([a-z]*\), \([0-9]*\) entries).*/\1 \2/p' "$tmp/err"; }
# same_session NAME "SPLIT-ARGS" "PACKED-ARGS": $tmp/in on both; replies, counters and free page
# totals equal, no ring error, no device error; leaves the packed run's stderr in $tmp/err
same_session() {
    # shellcheck disable=SC2086 # word splitting wanted
    "$SIM" --virtual-clock --fixed-stats --verbose $2 <"$tmp/in" >"$tmp/out.split" 2>"$tmp/err.split"
    src=$?
    # shellcheck disable=SC2086
    "$SIM" --virtual-clock --fixed-stats --verbose --packed $3 <"$tmp/in" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    cs=$(grep 'device counters' "$tmp/err.split" | sed 's/^.*device counters: //')
    cp_=$(grep 'device counters' "$tmp/err" | sed 's/^.*device counters: //')
    fs=$(grep 'host: free pages: ' "$tmp/err.split" | sed 's/^.*free pages: //')
    fp=$(grep 'host: free pages: ' "$tmp/err" | sed 's/^.*free pages: //')
    if [ "$src" = 0 ] && [ "$rc" = 0 ] && [ -s "$tmp/out" ] && cmp -s "$tmp/out.split" "$tmp/out" &&
        [ -n "$cs" ] && [ "$cs" = "$cp_" ] && [ "$fs" = "$fp" ] &&
        case $cp_ in *' 0 ring errors') true ;; *) false ;; esac &&
        ! grep -q 'device: error\|is not a head\|did not return' "$tmp/err.split" "$tmp/err" &&
        [ "$(layout | cut -d' ' -f1)" = packed ]; then
        good
    else
        bad "$1" "exit status $src (split), $rc (packed); counters: $cs / $cp_; free pages: $fs / $fp; $(layout); diff split packed:"
        diff "$tmp/out.split" "$tmp/out" | sed -n '1,12s/^/  /p'
        grep -h 'device: error\|is not a head\|did not return' "$tmp/err.split" "$tmp/err" | sed -n '1,5s/^/  | /p'
    fi
}
# laps NAME QUEUE SIZE: every buffer of QUEUE took one slot, so the ring of SIZE made B / SIZE laps
laps() {
    bw=$(rings "$2")
    b=${bw% *}
    w=${bw#* }
    if [ -n "$bw" ] && [ "$b" -gt 0 ] && [ "$w" = $((b / $3)) ]; then
        good
    else
        bad "$1" "$2 queue: buffers and wraps '$bw', want B and B / $3"
    fi
}

if [ -z "${SIM_LAYOUT:-}" ]; then
    # the guest-RAM session above (seed, polls while inflating and deflating, reporting, a hint
    # round), EVENT_IDX and indirect descriptors on: the driver's default
    {
        seed; set_ 1; balloon 536870912; adv 30; balloon 1073741824; adv 30
        hint start; adv 3; hq; hint done; set_ 0; get_; query
    } >"$tmp/in"
    same_session packed-same-replies-as-split "--free-page-reporting --free-page-hint" "--free-page-reporting --free-page-hint"
    if [ "$(layout)" = "packed 128" ] && [ "$(rings reporting)" = "8 0" ] &&
        [ "$(grep -c 'kick suppressed' "$tmp/err")" = "$(grep -c 'kick suppressed' "$tmp/err.split")" ]; then
        good
    else
        bad packed-session-rings "$(layout); reporting: $(rings reporting); kicks suppressed $(grep -c 'kick suppressed' "$tmp/err") (split $(grep -c 'kick suppressed' "$tmp/err.split"))"
    fi
    ram_s=$(grep 'host: guest RAM: ' "$tmp/err.split" | sed 's/^.*guest RAM: //; s/ accesses mapped.*//')
    ram_p=$(grep 'host: guest RAM: ' "$tmp/err" | sed 's/^.*guest RAM: //; s/ accesses mapped.*//')
    echo "  measured: device map() calls, this session: split $ram_s, packed $ram_p"

    # small rings, many laps: 240 s of 1 s polls, 512 inflate and 512 deflate buffers, a hint
    # round of 257 buffers; split rings of 8, packed rings of 5
    {
        set_ 1; balloon 536870912; adv 120; balloon 1073741824; adv 120
        hint start; adv 3; hq; hint done; get_; query
    } >"$tmp/in"
    same_session packed-ring-of-5-wraps "--free-page-hint --queue-size 8" "--free-page-hint --queue-size 5"
    laps packed-stats-ring-laps stats 5
    laps packed-inflate-ring-laps inflate 5
    laps packed-deflate-ring-laps deflate 5
    laps packed-hint-ring-laps 'free page hint' 5
    echo "  measured: packed rings of 5: stats $(rings stats), inflate $(rings inflate), deflate $(rings deflate), hint $(rings 'free page hint') (buffers, wraps)"

    # chains: without indirect descriptors a report is a chain of up to 32 descriptors; in a
    # packed ring of 48 they cross the ring end (255 descriptors: 5 laps); without EVENT_IDX the
    # device's event area stays at ENABLE
    { adv 3; balloon 536870912; adv 3; balloon 1073741824; adv 3; get_; } >"$tmp/in"
    same_session packed-chains-across-the-ring-end "--free-page-reporting --no-indirect --no-event-idx" \
        "--free-page-reporting --no-indirect --no-event-idx --queue-size 48"
    chains=$(grep -c 'host: reporting: 32768 pages in 32 range(s)' "$tmp/err")
    r=$(rings reporting)
    if [ "$chains" -ge 7 ] && [ "${r#* }" -ge 5 ] && [ "$(layout)" = "packed 48" ]; then
        good
    else
        bad packed-chains-counted "$chains full requests, reporting ring: $r, $(layout)"
    fi

    # a chain as long as the ring: 32 descriptors in a packed ring of 32, each report one lap
    { adv 3; get_; } >"$tmp/in"
    same_session packed-chain-of-the-whole-ring "--free-page-reporting --no-indirect" \
        "--free-page-reporting --no-indirect --queue-size 32"
    if [ "$(rings reporting)" = "8 7" ] && grep -q "free pages: 8 reporting buffers, $FREE bytes reported" "$tmp/err"; then
        good
    else
        bad packed-whole-ring-chains "reporting ring: $(rings reporting); $(grep 'free pages' "$tmp/err")"
    fi

    # a split ring must be a power of two; a packed one need not
    : >"$tmp/in"
    run --queue-size 6
    r1=$rc
    run --queue-size 6 --packed --virtual-clock
    if [ "$r1" = 2 ] && [ "$rc" = 0 ]; then good; else bad queue-size-power-of-two "exit status $r1 split, $rc packed"; fi

    # every check above again, on packed rings
    SIM_LAYOUT=packed sh "$0" "$SIM" "$QS" >"$tmp/packed" 2>&1
    grep -v '^sim: [0-9]* passed, [0-9]* failed$' "$tmp/packed"
    counts=$(sed -n 's/^sim: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$tmp/packed")
    if [ -n "$counts" ]; then
        pass=$((pass + ${counts% *}))
        fail=$((fail + ${counts#* }))
    else
        bad packed-pass "no result line from the packed pass"
    fi
fi

echo "sim: $pass passed, $fail failed"
[ "$fail" = 0 ]
