#!/bin/sh
# bench/instr.sh - instructions per stats round, per free page reporting or hint buffer and per
# render, counted by callgrind (stable on a noisy machine), and the floor of a stats round
# (bench/floor.h) as device / floor ratios. build/bench --instr NAME switches
# collection on around 1000 repetitions of one path, calling the library through function
# pointers; the inclusive cost of the entry points (vb_timer_expired + vb_queue_notify,
# vb_queue_notify, vb_render_guest_stats or vb_render_metrics) / 1000 is the figure, and the part
# spent in the benchmark's host callbacks (bounds check + memcpy; pages() counting) is shown apart.
#
#   sh bench/instr.sh [build/bench] [--tsv]        (needs valgrind)
BENCH=${1:-build/bench}
TSV=${2:-}
N=1000
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

row() { # section what value goal
    if [ "$TSV" = --tsv ]; then printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4"
    else printf '%-8s %-52s %-44s %s\n' "$1" "$2" "$3" "$4"; fi
}

if ! command -v valgrind >/dev/null 2>&1; then
    row instr "instructions (callgrind)" "not run: no valgrind" ""
    exit 0
fi

# incl FILE REGEX: summed inclusive Ir of the functions whose name matches REGEX exactly (only the
# function list's lines, which end in "[object]"; the source annotation repeats names)
incl() {
    callgrind_annotate --inclusive=yes --threshold=100 "$1" 2>/dev/null |
        awk -v re="$2" '/ \[/ { n = $1; gsub(",", "", n); f = $0; sub(/ \[.*$/, "", f); sub(/^.*:/, "", f)
                          if (n ~ /^[0-9]+$/ && f ~ ("^(" re ")$")) s += n } END { print s + 0 }'
}

run() { # NAME -> $tmp/NAME.out
    valgrind --tool=callgrind --collect-atstart=no --callgrind-out-file="$tmp/$1.out" \
        "$BENCH" --instr "$1" >/dev/null 2>"$tmp/$1.err" || { cat "$tmp/$1.err" >&2; return 1; }
}

HOST='lean_read|lean_write|lean_map|lean_arm|lean_notify|tg_now|tg_wall|tg_cancel|tg_notify_config'
# NAME: round + tags + d(irect) or i(ndirect) descriptor + m for the map callback (else copy
# callbacks); issue 12's goals: 16 tags direct, everything counted, <= 450 (map) / <= 800 (copy)
for what in "round10d 10 direct copy" "round10i 10 indirect copy" "round16d 16 direct copy" \
            "round16i 16 indirect copy" "round16dm 16 direct map" "round16im 16 indirect map" \
            "round16dp 16 direct copy packed" "round16dpm 16 direct map packed"; do
    set -- $what
    run "$1" || exit 1
    total=$(incl "$tmp/$1.out" 'vb_timer_expired|vb_queue_notify')
    host=$(incl "$tmp/$1.out" "$HOST")
    goal=""
    [ "$1" = round16d ] && goal="<= 800 in all" dev_c=$total host_c=$host
    [ "$1" = round16dm ] && goal="<= 450 in all" dev_m=$total host_m=$host
    [ "$4" = map ] && path="map callback" || path="copy callbacks"
    [ "${5:-}" = packed ] && path="$path, packed ring"
    row instr "stats round, $2 tags, $3, $path" \
        "$(( (total - host + N / 2) / N )) instr (+$(( (host + N / 2) / N )) in host callbacks)" "$goal"
done
# the floor (bench/floor.h, issue 12): the same round, 16 tags, direct descriptor, written by hand
# with the same checks; device / floor in this run on the same memory path (map callback / RAM
# direct, copy callbacks / callbacks), whole round (host callbacks included: the same lean ones)
# and the code alone
for what in "floord d RAM direct" "floorc c callbacks"; do
    set -- $what
    run "$1" || exit 1
    total=$(incl "$tmp/$1.out" "floor_timer_$( [ "$2" = d ] && echo direct || echo cb)|floor_kick_$( [ "$2" = d ] && echo direct || echo cb)")
    host=$(incl "$tmp/$1.out" "$HOST")
    [ "$total" -gt 0 ] || { echo "instr: no floor instructions counted ($1)" >&2; exit 1; }
    if [ "$2" = d ]; then dev_total=$dev_m dev_host=$host_m; else dev_total=$dev_c dev_host=$host_c; fi
    ratio=$(awk -v a="$dev_total" -v b="$total" -v c="$dev_host" -v d="$host" \
        'BEGIN { printf "%.2fx (code %.2fx)", a / b, (a - c) / (b - d) }')
    shift 2
    row instr "  floor, 16 tags, direct, $*" \
        "$(( (total - host + N / 2) / N )) instr (+$(( (host + N / 2) / N )) in host callbacks)  device / floor $ratio" "<= 1.3x"
done
# a page queue buffer: vb_queue_notify pops it, walks it, gives its ranges to pages() (here only
# counting: lean_pages), pushes it back and decides on the interrupt
for what in "report 32 free page reporting buffer, 32 x 4 MiB, indirect" "hint 1 free page hint buffer, 1 x 4 MiB, direct"; do
    set -- $what
    name=$1
    shift 2
    run "$name" || exit 1
    total=$(incl "$tmp/$name.out" 'vb_queue_notify')
    host=$(incl "$tmp/$name.out" "$HOST|lean_pages")
    row instr "$*" "$(( (total - host + N / 2) / N )) instr (+$(( (host + N / 2) / N )) in host callbacks)" ""
done
for what in "render-doc doc compact" "render-qemu qemu compact" "render-qemu-pretty qemu pretty"; do
    set -- $what
    run "$1" || exit 1
    total=$(incl "$tmp/$1.out" 'vb_render_guest_stats')
    [ "$1" = render-qemu ] && json=$(( (total + N / 2) / N ))
    row instr "render guest-stats, $2 profile, 16 keys, $3" "$(( (total + N / 2) / N )) instr" ""
done
# vb_render_metrics of build/bench's metrics device (16 stats, three answered polls, one label),
# inclusive (its now_ms call, for the stats' age, included), as a ratio to the qemu compact render
for what in "metrics-prom Prometheus" "metrics-om OpenMetrics"; do
    set -- $what
    run "$1" || exit 1
    total=$(incl "$tmp/$1.out" 'vb_render_metrics')
    per=$(( (total + N / 2) / N ))
    row instr "render metrics, 1 device, 16 stats, $2" \
        "$per instr  $(awk -v a="$per" -v b="$json" 'BEGIN { printf "%.1f", a / b }')x guest-stats" ""
done
# a QMP request as a host serves it: vb_qmp_frame + vb_qmp_execute of qom-get guest-stats (the
# qemu profile, 16 keys), inclusive: the JSON reader, the dispatch and the render
run qmp-qom-get || exit 1
total=$(incl "$tmp/qmp-qom-get.out" 'vb_qmp_frame|vb_qmp_execute')
row instr "QMP qom-get guest-stats (frame + execute), qemu, 16 keys" \
    "$(( (total + N / 2) / N )) instr  $(awk -v a="$total" -v b="$json" -v n="$N" 'BEGIN { printf "%.1f", a / (b * n) }')x the render alone" ""
run cjson || exit 1
total=$(awk '/^totals:/ { print $2 }' "$tmp/cjson.out")
run empty || exit 1
empty=$(awk '/^totals:/ { print $2 }' "$tmp/empty.out")
row instr "  cJSON build + print + free, same object (compact)" "$(( (total - empty + N / 2) / N )) instr" ""
