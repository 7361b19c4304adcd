#!/bin/sh
# bench/run.sh - the whole benchmark as one table (make bench / make bench-qemu).
#   sh bench/run.sh [--qemu] [--quick]
# Rows: section, what, value, goal. Sections: size and compile (bench/footprint.sh), round, pages,
# render, scale and qmp (build/bench), instr (bench/instr.sh, callgrind). The machine comes first:
# these are shared, noisy machines, so compare the ratios measured in the same run.
QEMU_ARG=""
QUICK=""
for a in "$@"; do
    case $a in
    --qemu) QEMU_ARG="--qemu ${QEMU:-qemu-system-x86_64}" ;;
    --quick) QUICK=--quick ;;
    *) echo "usage: bench/run.sh [--qemu] [--quick]" >&2; exit 2 ;;
    esac
done
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
echo "vballoon.h $(sed -n 's/^#define VB_VERSION_STRING "\(.*\)"/\1/p' vballoon.h) benchmarks, $(date -u +%Y-%m-%d)"
echo "machine: $(nproc) CPUs, ${cpu:-unknown CPU}, Linux $(uname -r), $(${CC:-cc} --version | head -n 1)"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-8s %-52s %-44s %s\n' section what value goal
sh bench/footprint.sh || exit 1
./build/bench $QUICK $QEMU_ARG || exit 1
sh bench/instr.sh build/bench || exit 1
