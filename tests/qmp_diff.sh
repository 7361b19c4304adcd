#!/bin/sh
# tests/qmp_diff.sh [HARNESS OPTIONS]: the differential QMP test (docs/qmp-diff.md).
# Starts two QEMU 7.2 (paused, no guest: -S) and vballoon-sim on sockets in a temporary
# directory, runs build/qmp_diff against them with --self-test and the given options, and
# stops all three. The harness prints the closing line "qmp-diff: N passed, M failed".
# Without qemu-system-x86_64 the test is skipped, with the command that installs it.
# QMP_DIFF, SIM and QEMU override the programs (default build/qmp_diff, build/vballoon-sim,
# qemu-system-x86_64). POSIX sh.
set -u
BIN=${QMP_DIFF:-build/qmp_diff}
SIM=${SIM:-build/vballoon-sim}
QEMU=${QEMU:-qemu-system-x86_64}
if ! command -v "$QEMU" >/dev/null 2>&1; then
    echo "qmp-diff: skipped: $QEMU not installed (sudo apt-get install --no-install-recommends qemu-system-x86)"
    echo "qmp-diff: 0 passed, 0 failed, 1 skipped"
    exit 0
fi
for f in "$BIN" "$SIM"; do
    [ -x "$f" ] || { echo "qmp-diff: $f not built (make build/qmp_diff build/vballoon-sim)"; echo "qmp-diff: 0 passed, 1 failed"; exit 1; }
done

tmp=$(mktemp -d)
pids=
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null; done
    for p in $pids; do wait "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# The same machine twice: the balloon as /machine/peripheral/balloon0, and as the second
# anonymous device, /machine/peripheral-anon/device[1] (the path of the seed document), behind
# a pvpanic device that takes device[0]. 256 MiB of RAM, as the sim's --ram 256.
qemu() { # socket, devices...
    sock=$1
    shift
    "$QEMU" -S -nodefaults -display none -machine pc,accel=tcg -m 256 "$@" \
        -qmp "unix:$sock,server=on,wait=off" </dev/null >>"$tmp/qemu.log" 2>&1 &
    pids="$pids $!"
}
qemu "$tmp/qemu.sock" -device virtio-balloon-pci,id=balloon0
qemu "$tmp/qemu-anon.sock" -device pvpanic -device virtio-balloon-pci
# QEMU 7.2 has ten stats; paused, its guest never loaded a driver.
"$SIM" --profile qemu --keys 10 --stats 10 --no-driver -S --ram 256 --qmp "unix:$tmp/sim.sock" \
    </dev/null >"$tmp/sim.log" 2>&1 &
pids="$pids $!"

# The harness's output goes out as it comes, but for its closing line, held back until we know
# that the servers lived through the run (a death adds one failure, and the closing line stays last).
{
    "$BIN" --qemu "$tmp/qemu.sock" --qemu-anon "$tmp/qemu-anon.sock" --sim "$tmp/sim.sock" --self-test "$@"
    echo $? >"$tmp/rc"
} | awk -v last="$tmp/last" 'NR > 1 {print prev; fflush()} {prev = $0} END {print prev > last}'
rc=$(cat "$tmp/rc")
dead=0
for p in $pids; do kill -0 "$p" 2>/dev/null || dead=1; done
if [ "$dead" = 1 ]; then
    echo "qmp-diff: a server died during the run; their output:"
    cat "$tmp/qemu.log" "$tmp/sim.log"
    rc=1
fi
if grep -Eq '^qmp-diff: [0-9]+ passed, [0-9]+ failed$' "$tmp/last"; then
    awk -v d="$dead" '{print $1, $2, $3, $4 + d, $5}' "$tmp/last"
else
    cat "$tmp/last"
    echo "qmp-diff: 0 passed, 1 failed"
    rc=1
fi
exit "$rc"
