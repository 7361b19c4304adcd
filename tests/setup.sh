#!/bin/sh
# tests/setup.sh [--loaded]: the Debian 12 packages `make test` needs (with --loaded also
# stress-ng, for `make test-loaded`). Quick when they are all there (one dpkg-query, no apt).
# As root with apt-get, a missing one is installed (apt-get update first, only then). Elsewhere
# (not root, no apt-get) it prints the command to run and exits 0: the tests that need a
# missing package then report themselves skipped, with that command. Idempotent. POSIX sh.
# VB_NO_SETUP=1 skips it all.
set -u
PKGS="gcc g++ make binutils clang libclang-rt-14-dev clang-tidy cppcheck pmccabe libcjson-dev valgrind file user-mode-linux busybox-static qemu-system-x86 prometheus python3-prometheus-client curl"
[ "${1:-}" = --loaded ] && PKGS="$PKGS stress-ng"
[ "${VB_NO_SETUP:-0}" = 1 ] && exit 0

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "setup: not a Debian system; make sure these (Debian names) are installed: $PKGS"
    exit 0
fi
missing=
installed=$(dpkg-query -W -f='${Package} ${Status}\n' $PKGS 2>/dev/null | awk '/ install ok installed$/ {print $1}')
for p in $PKGS; do
    printf '%s\n' "$installed" | grep -qx "$p" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
missing=${missing# }

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "setup: missing packages: $missing"
    echo "setup: run: sudo apt-get install $missing"
    exit 0
fi
echo "setup: installing $missing"
export DEBIAN_FRONTEND=noninteractive
if apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends $missing >/dev/null; then
    echo "setup: installed $missing"
else
    echo "setup: apt-get could not install: $missing (the tests that need them will skip or fail)"
fi
exit 0
