#!/bin/sh
# fuzz-smoke: every libFuzzer harness for a fixed number of executions, starting from its
# committed corpus (fuzz/corpus/NAME, copied so it is not modified) and its dictionary
# (fuzz/NAME.dict) if any, then every saved regression input (fuzz/regressions/NAME-*).
# Prints "fuzz: N passed, M failed". Usage: sh fuzz/smoke.sh RUNS
runs=${1:-20000}
pass=0
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for bin in build/fuzz_*; do
    [ -x "$bin" ] || continue
    name=${bin#build/fuzz_}
    mkdir -p "$tmp/$name"
    [ -d "fuzz/corpus/$name" ] && cp -r "fuzz/corpus/$name/." "$tmp/$name/"
    dict=
    [ -f "fuzz/$name.dict" ] && dict="-dict=fuzz/$name.dict"
    if "$bin" -runs="$runs" -seed=1 -timeout=10 -rss_limit_mb=2048 $dict "$tmp/$name" >"$tmp/log" 2>&1; then
        pass=$((pass + 1))
        echo "fuzz_$name: $(grep -Eo 'Done [0-9]+ runs in [0-9]+ second' "$tmp/log"), $(grep -Eo 'cov: [0-9]+ ft: [0-9]+' "$tmp/log" | tail -n 1)"
    else
        fail=$((fail + 1))
        echo "FAIL fuzz_$name"
        grep -E 'ERROR|SUMMARY|Test unit written' "$tmp/log" | head -10
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
