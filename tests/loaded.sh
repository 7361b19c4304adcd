#!/bin/sh
# tests/loaded.sh: `make test-loaded` - the whole suite (tests/run_all.sh) LOADED_RUNS times
# (default 3) while stress-ng keeps every core busy (LOADED_CPUS workers, default nproc), to
# catch timing-dependent checks. stress-ng is stopped at the end, whatever happens. Each run's
# output goes to build/loaded-runN.log; one line per run (its final line and duration), then
# "loaded: N passed, M failed", counting runs. Run from the top of the tree after the binaries
# are built (the make target does both).
runs=${LOADED_RUNS:-3}
cpus=${LOADED_CPUS:-$(nproc 2>/dev/null || echo 2)}
if ! command -v stress-ng >/dev/null 2>&1; then
    echo "loaded: stress-ng is not installed (run: sudo apt-get install stress-ng)"
    echo "loaded: 0 passed, $runs failed"
    exit 1
fi
mkdir -p build
stress-ng --cpu "$cpus" --timeout 86400 --quiet >build/loaded-stress.log 2>&1 &
spid=$!
stop() {
    [ -n "$spid" ] && kill -TERM "$spid" 2>/dev/null && wait "$spid" 2>/dev/null
    spid=
}
trap stop EXIT
trap 'exit 130' INT TERM
sleep 1
if ! kill -0 "$spid" 2>/dev/null; then
    echo "loaded: stress-ng did not start: $(head -n 3 build/loaded-stress.log)"
    echo "loaded: 0 passed, $runs failed"
    exit 1
fi
echo "loaded: stress-ng --cpu $cpus running (pid $spid); $runs runs of the suite"
pass=0
fail=0
summary=
i=1
while [ "$i" -le "$runs" ]; do
    log=build/loaded-run$i.log
    t0=$(date +%s)
    sh tests/run_all.sh >"$log" 2>&1
    rc=$?
    t=$(($(date +%s) - t0))
    last=$(tail -n 1 "$log")
    if [ "$rc" = 0 ]; then pass=$((pass + 1)); r=ok; else fail=$((fail + 1)); r=FAILED; fi
    line="loaded: run $i: $r in $((t / 60)) min $((t % 60)) s: $last"
    echo "$line"
    [ "$rc" = 0 ] || grep -E '^FAIL|^skipped: ' "$log" | sed 's/^/  /'
    summary="$summary$line
"
    i=$((i + 1))
done
stop
printf '%s' "$summary" >build/loaded-summary.log
echo "loaded: $pass passed, $fail failed"
[ "$fail" = 0 ]
