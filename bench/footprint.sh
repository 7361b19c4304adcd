#!/bin/sh
# bench/footprint.sh - size of the implementation and of the device state, per target, and the
# compile time of a translation unit that includes the implementation.
#   .text/.rodata/.data+.bss of one object file holding only the implementation, freestanding
#   (-DVB_NO_STDLIB -ffreestanding), at -Os and -O2, with and without VB_NO_QMP, and at -Os with
#   every VB_NO_* option (the smallest build: $SMALLEST), for x86-64
#   (the host cc), Cortex-M4 Thumb (arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb) and riscv64
#   (riscv64-unknown-elf-gcc -march=rv64imac -mabi=lp64). A missing compiler is reported.
#   "+libgcc" lists the helpers the object needs from libgcc (64-bit division on 32-bit CPUs).
#   sizeof(vb_device) per target: read from the symbol size of a `char[sizeof(vb_device)]`.
#
#   sh bench/footprint.sh [--tsv]
TSV=${1:-}
CC=${CC:-cc}
SMALLEST="-DVB_NO_QMP -DVB_NO_METRICS -DVB_NO_PACKED -DVB_NO_SNAPSHOT -DVB_NO_FREE_PAGE_HINT -DVB_NO_REPORTING -DVB_NO_PROPS"
SMALLEST="$SMALLEST -DVB_NO_TELEMETRY -DVB_NO_GUEST_BIG_ENDIAN"
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
HERE=$(cd "$(dirname "$0")/.." && pwd)

row() {
    if [ "$TSV" = --tsv ]; then printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4"
    else printf '%-8s %-52s %-44s %s\n' "$1" "$2" "$3" "$4"; fi
}

printf '#define VBALLOON_IMPLEMENTATION\n#include "vballoon.h"\n' >"$tmp/impl.c"
printf '#include "vballoon.h"\nchar vb_device_size[sizeof(vb_device)];\n' >"$tmp/size.c"

# section SIZE-A-OUTPUT NAME: bytes of the sections NAME* (e.g. .text and .text.*)
sect() { awk -v s="$2" '$1 == s || index($1, s ".") == 1 { n += $2 } END { print n + 0 }' "$1"; }

target() { # label, cc, size tool, nm tool, flags...
    label=$1 cc=$2 size=$3 nm=$4
    shift 4
    if ! command -v "$cc" >/dev/null 2>&1; then
        row size "$label" "not run: no $cc" ""
        return
    fi
    "$cc" "$@" -ffreestanding -I"$HERE" -c "$tmp/size.c" -o "$tmp/size.o"
    dev=$(( 0x$("$nm" -S "$tmp/size.o" | awk '$4 == "vb_device_size" { print $2 }') ))
    row size "sizeof(vb_device), $label" "$dev bytes" "<= 512 B"
    for build in "-Os" "-Os -DVB_NO_QMP" "-O2" "-O2 -DVB_NO_QMP" "-Os smallest"; do
        opt=${build%% *} flags=${build#"$opt"}
        what="$opt ${flags# }"
        case $build in
            "$opt") what="$opt (with QMP)";;
            *smallest) flags=$SMALLEST what="-Os smallest (all VB_NO_*)";;
        esac
        "$cc" "$@" $opt $flags -DVB_NO_STDLIB -ffreestanding -I"$HERE" -c "$tmp/impl.c" \
            -o "$tmp/impl.o" || { row size "impl $label $what" "compile failed" ""; continue; }
        "$size" -A "$tmp/impl.o" >"$tmp/sz"
        text=$(sect "$tmp/sz" .text)
        ro=$(sect "$tmp/sz" .rodata)
        data=$(( $(sect "$tmp/sz" .data) + $(sect "$tmp/sz" .sdata) ))
        bss=$(( $(sect "$tmp/sz" .bss) + $(sect "$tmp/sz" .sbss) ))
        helpers=$("$nm" -u "$tmp/impl.o" | awk '{ printf "%s%s", sep, $2; sep = "," }')
        goal=""
        if [ "$opt" = -Os ] && [ "$build" != -Os ]; then # the goal is without QMP
            case $label in x86-64*) goal="<= 8192 B .text";; cortex-m4*) goal="<= 6144 B .text";; esac
        fi
        row size "impl $label $what" \
            ".text $text .rodata $ro .data $data .bss $bss${helpers:+ +$helpers}" "$goal"
    done
}

target "x86-64" "$CC" size nm
target "cortex-m4 thumb" arm-none-eabi-gcc arm-none-eabi-size arm-none-eabi-nm -mcpu=cortex-m4 -mthumb
target "riscv64 rv64imac" riscv64-unknown-elf-gcc riscv64-unknown-elf-size riscv64-unknown-elf-nm \
    -march=rv64imac -mabi=lp64 -mcmodel=medany

# Compile time of a TU that includes the implementation: median of 5, x86-64, hosted.
for opt in -O0 -Os -O2; do
    times=""
    for i in 1 2 3 4 5; do
        s=$(date +%s%N)
        "$CC" -std=c99 $opt -I"$HERE" -c "$tmp/impl.c" -o "$tmp/t.o"
        e=$(date +%s%N)
        times="$times $(( (e - s) / 1000000 ))"
    done
    med=$(printf '%s\n' $times | sort -n | sed -n 3p)
    row compile "TU with the implementation, x86-64 $CC $opt" "$med ms (median of 5)" ""
done
