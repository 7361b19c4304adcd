#!/bin/sh
# examples/seed-demo.sh - the examples of QEMU's docs/virtio-balloon-stats.txt, played against the
# simulated guest (build/vballoon-sim) in real time: each command as the document prints it, then
# the reply. `make run` runs it; it takes about 12 seconds.
#
#   sh examples/seed-demo.sh [path/to/vballoon-sim [more simulator options]]
#
# The simulator runs with --profile doc --keys 6 --pretty, so replies look like the document's;
# the stats are this host's own /proc numbers. Try e.g. `--profile qemu` or `--keys 16` after the
# path to see the differences.
# License: public domain (Unlicense).

SIM=${1:-build/vballoon-sim}
[ $# -gt 0 ] && shift
if [ ! -x "$SIM" ]; then
    echo "seed-demo: $SIM not found; build it first (make)" >&2
    exit 1
fi
# The document's four commands, byte for byte (its page's no-break spaces included), one per
# paragraph: enable, change, get, disable (docs/seed.md).
SEED_COMMANDS=$(dirname "$0")/../tests/seed-commands.txt
if [ ! -r "$SEED_COMMANDS" ]; then
    echo "seed-demo: $SEED_COMMANDS not found" >&2
    exit 1
fi
seed() { LC_ALL=C awk -v n="$1" 'BEGIN { RS = "" } NR == n' "$SEED_COMMANDS"; }

# The simulator reads one FIFO and writes the other, so this script can pace the commands and
# read each reply before it sends the next.
dir=$(mktemp -d) || exit 1
pid=
cleanup() {
    exec 3>&- 4<&- # end of input: the simulator exits
    [ -n "$pid" ] && wait "$pid"
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkfifo "$dir/in" "$dir/out" || exit 1
"$SIM" --profile doc --keys 6 --pretty "$@" <"$dir/in" >"$dir/out" &
pid=$!
exec 3>"$dir/in" 4<"$dir/out"

if [ -t 1 ]; then bold=$(printf '\033[1m') plain=$(printf '\033[0m'); else bold='' plain=''; fi
step() { printf '\n%s%s%s\n\n' "$bold" "$1" "$plain"; }
note() { printf '   # %s\n' "$1"; }

# send COMMAND: show it, send it, show the reply (pretty: up to the closing "}" line).
send() {
    printf '%s\n' "$1" | sed 's/^/ > /'
    printf '%s\n' "$1" >&3
    last_update=
    while IFS= read -r reply <&4; do
        printf ' < %s\n' "$reply"
        case $reply in
        *'"last-update": '*) last_update=${reply##*: } ;;
        "}" | "{"?*) break ;; # the end of a pretty reply, or a one-line reply (an error)
        esac
    done
    if [ -n "$last_update" ]; then
        note "last-update $last_update is $(date -d "@$last_update" +%T 2>/dev/null || echo "$last_update"), now $(date +%T)"
    fi
}

pause() {
    note "waiting $1 s ..."
    sleep "$1"
}

step "Enable polling with 2 seconds interval:"
note "enabling polls the guest at once, then every 2 s"
send "$(seed 1)"
pause 5

step "Get stats:"
send "$(seed 3)"

step "Change polling to 10 seconds:"
note "the next poll comes 10 s from now"
send "$(seed 2)"
pause 3

step "Get stats:"
note "no update since the change: the 10 s have not passed yet"
send "$(seed 3)"

step "Disable polling:"
note "the document's own example uses the name stats-polling-interval (QEMU knows only"
note "guest-stats-polling-interval; the doc profile accepts both, --profile qemu refuses it)"
send "$(seed 4)"
pause 3

step "Get stats again:"
note "previously polled statistics remain available; last-update is frozen"
send "$(seed 3)"
echo
