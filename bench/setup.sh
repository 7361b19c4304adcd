#!/bin/sh
# Installs what `make bench` needs on Debian 12 (root): cJSON for the rendering comparison,
# valgrind for instruction counts, cross compilers for the footprint rows; with --qemu also
# QEMU 7.2 for bench-qemu.
set -e
extra=
[ "${1:-}" = --qemu ] && extra=qemu-system-x86
apt-get update -qq
apt-get install -y -qq --no-install-recommends gcc make libcjson-dev valgrind \
    gcc-arm-none-eabi gcc-riscv64-unknown-elf $extra
