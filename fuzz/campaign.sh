#!/bin/sh
# A longer fuzzing campaign of one harness: build/fuzz_NAME for SECONDS, from its committed corpus
# and dictionary, with the same options as fuzz/smoke.sh (fuzz_qmp: -max_len FUZZ_QMP_MAX_LEN,
# default 2 MiB). New inputs go to build/fuzz-campaign/NAME (kept between campaigns; the
# committed corpus is not modified), crashes to build/fuzz-campaign/NAME-crash-*. Ends with one
# line "NAME: N execs in S s, cov C ft F" (or FAIL). Usage: sh fuzz/campaign.sh NAME SECONDS
name=${1:?usage: sh fuzz/campaign.sh NAME SECONDS}
secs=${2:-600}
bin=build/fuzz_$name
out=build/fuzz-campaign
[ -x "$bin" ] || { echo "$bin: not built (make fuzz)"; exit 1; }
mkdir -p "$out/$name"
dict=
[ -f "fuzz/$name.dict" ] && dict="-dict=fuzz/$name.dict"
max_len=
[ "$name" = qmp ] && max_len="-max_len=${FUZZ_QMP_MAX_LEN:-2097152}"
log="$out/$name.log"
if "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$out/$name-crash-" $max_len $dict "$out/$name" "fuzz/corpus/$name" >"$log" 2>&1; then
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    cov=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -n 1)
    echo "$name: $execs execs in $secs s, $cov"
else
    echo "FAIL $name (see $log)"
    grep -E 'ERROR|SUMMARY|Test unit written' "$log" | head -10
    exit 1
fi
