#!/bin/bash
# examples/uml-vm.sh - a real Linux guest on vballoon.h, and you at its QMP monitor (`make vm`).
#
#   bash examples/uml-vm.sh [options for build/vballoon-vhost-user, e.g. --profile qemu]
#
# With --packed the back-end offers VIRTIO_F_RING_PACKED and the guest's driver lays out its
# rings packed (docs/packed-ring.md); the layout it took is printed once the guest is up.
#
# Starts build/vballoon-vhost-user, boots User-Mode Linux 6.1 (Debian's user-mode-linux) with
# 128 MiB and the stock virtio_balloon driver attached to it, waits for the guest's first stats,
# then connects you to the back-end's QMP monitor (capabilities already negotiated). Paste the
# seed document's commands (they span lines; that is fine), or try
#     {"execute": "balloon", "arguments": {"value": 100663296}}     the guest gives 32 MiB back
#     {"execute": "query-balloon"}
# The guest keeps its memory moving (16 MiB in and out of tmpfs every 4 s) so that
# stat-free-memory changes between polls. Ctrl-D ends it all. The QMP socket path is printed,
# so a second terminal can connect too (build/qmp_client --shell PATH). Input that is not a
# terminal works too: the commands are sent, their replies printed, then everything stops.
# Needs: user-mode-linux, busybox-static, cc. License: public domain (Unlicense).
set -u
cd "$(dirname "$0")/.." || exit 1

UML=${UML:-/usr/bin/linux.uml}
CC=${CC:-cc}
BACKEND=build/vballoon-vhost-user
need() { echo "uml-vm: $*" >&2; exit 1; }
[ -x "$UML" ] || need "$UML not found: apt-get install user-mode-linux busybox-static"
[ -x /bin/busybox ] || need "/bin/busybox not found: apt-get install busybox-static"
KO=$(ls /usr/lib/uml/modules/*/kernel/drivers/virtio/virtio_balloon.ko 2>/dev/null | head -n 1)
[ -n "$KO" ] || need "virtio_balloon.ko not found under /usr/lib/uml/modules"
[ -x "$BACKEND" ] || need "$BACKEND not built (make build/vballoon-vhost-user)"
mkdir -p build
# the client, and the shim that lets Debian's UML run on hosts with AMX (tests/uml_xstate_shim.c)
[ build/qmp_client -nt tests/qmp_client.c ] ||
    "$CC" -std=gnu99 -O2 -o build/qmp_client tests/qmp_client.c || need "cannot build the QMP client"
[ build/uml_xstate_shim.so -nt tests/uml_xstate_shim.c ] ||
    "$CC" -std=gnu99 -O2 -shared -fPIC -o build/uml_xstate_shim.so tests/uml_xstate_shim.c ||
    need "cannot build the xstate shim"

D=$(mktemp -d /tmp/vb-vm.XXXXXX) || exit 1
bpid= upid=
cleanup() {
    [ -n "$upid" ] && kill -KILL -- -"$upid" 2>/dev/null
    [ -n "$bpid" ] && kill "$bpid" 2>/dev/null
    wait 2>/dev/null
    [ -n "${VB_VM_KEEP:-}" ] && echo "uml-vm: kept $D" >&2 || rm -rf "$D"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# the initramfs: busybox, the driver, an /init that loads it and keeps memory moving
mkdir -p "$D/root/bin" "$D/root/dev" "$D/root/proc" "$D/root/sys" "$D/uml"
cp /bin/busybox "$D/root/bin/busybox"
cp "$KO" "$D/root/virtio_balloon.ko"
cat >"$D/root/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
grep MemTotal /proc/meminfo
insmod /virtio_balloon.ko && echo "guest: virtio_balloon loaded"
while :; do
    dd if=/dev/zero of=/work bs=1M count=16 2>/dev/null
    sleep 4
    rm -f /work
    sleep 4
done
EOF
chmod +x "$D/root/init"
(cd "$D/root" && find . | /bin/busybox cpio -o -H newc 2>/dev/null | gzip -1 >"$D/initrd.gz") ||
    need "cannot build the initramfs"

Q=$D/qmp.sock
# DEFLATE_ON_OOM: a balloon target too big for the guest's workload costs the guest balloon
# pages, not its processes
"$BACKEND" --socket "$D/vb.sock" --qmp "unix:$Q" --ram 128 --deflate-on-oom "$@" 2>"$D/backend.log" &
bpid=$!
for _ in $(seq 40); do [ -S "$Q" ] && break; sleep 0.05; done
[ -S "$Q" ] || need "the back-end did not start: $(cat "$D/backend.log")"

LD_PRELOAD=$PWD/build/uml_xstate_shim.so "$UML" mem=128M initrd="$D/initrd.gz" con=null \
    con0=fd:0,fd:1 uml_dir="$D/uml" virtio_uml.device="$D/vb.sock":5 </dev/null >"$D/console.log" 2>&1 &
upid=$! # UML calls setsid(): its process group is its pid
echo "uml-vm: booting Linux (User-Mode Linux, 128 MiB) with virtio_balloon on $BACKEND ..."
if ! build/qmp_client --watch --until 1 --timeout 15000 "$Q" >/dev/null ||
    ! grep -q 'first buffer' "$D/backend.log"; then
    grep -v '^ \[<' "$D/console.log" | tail -n 5
    need "no stats from the guest; back-end log: $(tail -n 3 "$D/backend.log")"
fi
# the features the driver took (the back-end logs them): bit 34 is the packed ring
feat=$(sed -n 's/.*driver: features 0x\([0-9a-f]*\),.*/\1/p' "$D/backend.log" | tail -n 1)
layout="split"
[ -n "$feat" ] && [ $((0x$feat >> 34 & 1)) = 1 ] && layout="packed (VIRTIO_F_RING_PACKED)"
cat <<EOF
uml-vm: the guest's driver is up and sent its first stats (no poll asked yet); its rings: $layout.
  QMP monitor:  $Q   (another terminal: build/qmp_client --shell $Q)
  back-end log: $D/backend.log     guest console: $D/console.log
  Try the seed's commands, pasted as they are, e.g.

{ "execute": "qom-set",
             "arguments": { "path": "/machine/peripheral-anon/device[1]",
                         "property": "guest-stats-polling-interval", "value": 2 } }
{ "execute": "qom-get",
  "arguments": { "path": "/machine/peripheral-anon/device[1]",
  "property": "guest-stats" } }
{"execute": "balloon", "arguments": {"value": 100663296}}
{"execute": "query-balloon"}

EOF
build/qmp_client --shell "$Q"
echo "uml-vm: back-end log:"
grep -v 'qmp: client' "$D/backend.log" | tail -n 8
