#!/bin/sh
# fuzz-smoke: every libFuzzer harness for a fixed number of executions, starting from its
# committed corpus (fuzz/corpus/NAME, copied so it is not modified) and its dictionary
# (fuzz/NAME.dict) if any, then every saved regression input (fuzz/regressions/NAME-*). First,
# if built, the metrics checker's own test (build/metrics-check-test: broken texts refused).
# fuzz_qmp fuzzes inputs up to FUZZ_QMP_MAX_LEN bytes (default 128 KiB: past libFuzzer's default
# 4096, the depth bombs whole; an input of 1 MiB costs about 0.5 s under the sanitizers, so the
# smoke does not mutate those), then runs every committed seed once whole (-max_len 2 MiB: the
# 1 MiB strings); the other harnesses keep libFuzzer's default. fuzz_device starts from its seeds
# as committed (the copy path) and from each of them with the map-path bit set (see fuzz_device.c).
# Prints "fuzz: N passed, M failed". Usage: sh fuzz/smoke.sh RUNS
runs=${1:-20000}
qmp_max_len=${FUZZ_QMP_MAX_LEN:-131072}
pass=0
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ -x build/metrics-check-test ]; then # the metrics checker first: it must refuse broken texts
    if build/metrics-check-test >"$tmp/log" 2>&1; then
        pass=$((pass + 1))
        tail -n 1 "$tmp/log"
    else
        fail=$((fail + 1))
        echo "FAIL metrics-check-test"
        grep FAIL "$tmp/log" | head -10
    fi
fi
for bin in build/fuzz_*; do
    [ -x "$bin" ] || continue
    name=${bin#build/fuzz_}
    mkdir -p "$tmp/$name"
    [ -d "fuzz/corpus/$name" ] && cp -r "fuzz/corpus/$name/." "$tmp/$name/"
    if [ "$name" = device ]; then # each seed once more on the map path: bit 14 of its bytes 2-3
        for f in fuzz/corpus/device/*; do
            [ -f "$f" ] && [ "$(wc -c <"$f")" -ge 4 ] || continue
            b=$(od -An -tu1 -j3 -N1 "$f" | tr -d ' ')
            { head -c 3 "$f"; printf "\\$(printf %03o $((b | 64)))"; tail -c +5 "$f"; } >"$tmp/$name/map-${f##*/}"
        done
    fi
    dict=
    [ -f "fuzz/$name.dict" ] && dict="-dict=fuzz/$name.dict"
    max_len=
    [ "$name" = qmp ] && max_len="-max_len=$qmp_max_len"
    if "$bin" -runs="$runs" -seed=1 -timeout=10 -rss_limit_mb=2048 $max_len $dict "$tmp/$name" >"$tmp/log" 2>&1; then
        pass=$((pass + 1))
        echo "fuzz_$name: $(grep -Eo 'Done [0-9]+ runs in [0-9]+ second' "$tmp/log"), $(grep -Eo 'cov: [0-9]+ ft: [0-9]+' "$tmp/log" | tail -n 1)"
    else
        fail=$((fail + 1))
        echo "FAIL fuzz_$name"
        grep -E 'ERROR|SUMMARY|Test unit written' "$tmp/log" | head -10
    fi
    if [ "$name" = qmp ]; then # the committed seeds once each, whole
        if "$bin" -max_len=2097152 -timeout=30 -rss_limit_mb=2048 fuzz/corpus/qmp/* >"$tmp/log" 2>&1; then
            pass=$((pass + 1))
            echo "fuzz_qmp: $(ls fuzz/corpus/qmp | wc -l | tr -d ' ') seeds whole (largest $(wc -c fuzz/corpus/qmp/* | sort -n | tail -n 2 | head -n 1 | awk '{print $1}') bytes)"
        else
            fail=$((fail + 1))
            echo "FAIL fuzz_qmp seeds"
            grep -E 'ERROR|SUMMARY|Running' "$tmp/log" | tail -5
        fi
    fi
    for r in fuzz/regressions/"$name"-*; do
        [ -f "$r" ] || continue
        if "$bin" "$r" >"$tmp/log" 2>&1; then pass=$((pass + 1)); else
            fail=$((fail + 1))
            echo "FAIL regression $r"
            grep -E 'ERROR|SUMMARY' "$tmp/log" | head -5
        fi
    done
done
echo "fuzz: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
