#!/bin/sh
# tests/metrics_test.sh [build/metrics-states]: vb_render_metrics checked by Prometheus's own
# parsers. Every state build/metrics-states writes is given to `promtool check metrics` (the
# Prometheus text parser and its linter: any error or lint warning fails) and to the OpenMetrics
# parser of the Python client library (Debian's python3-prometheus-client, the reference
# implementation of the OpenMetrics text format). Last line: "metrics: N passed, M failed".
# License: public domain (Unlicense).
set -u
states=${1:-build/metrics-states}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
ko() { fail=$((fail + 1)); echo "FAIL $1"; }

"$states" "$dir" || { echo "FAIL $states"; echo "metrics: 0 passed, 1 failed"; exit 1; }
n=0
for f in "$dir"/*.prom; do
    n=$((n + 1))
    # promtool prints lint findings and exits 3; no output at all is a pass
    if out=$(promtool check metrics <"$f" 2>&1) && [ -z "$out" ]; then ok; else ko "promtool $(basename "$f"): $out"; fi
done
[ "$n" -ge 20 ] && ok || ko "only $n states written"

py=/usr/bin/python3
if [ -x "$py" ] && "$py" -c 'import prometheus_client.openmetrics.parser' 2>/dev/null; then
    for f in "$dir"/*.om; do
        if out=$("$py" - "$f" 2>&1 <<'PY'
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
text = open(sys.argv[1], encoding="utf-8").read()
families = list(text_string_to_metric_families(text))
assert families, "no families"
assert sum(len(f.samples) for f in families) > 0
PY
        ); then ok; else ko "openmetrics $(basename "$f"): $out"; fi
    done
else
    echo "metrics: skipped: the OpenMetrics parser (sudo apt-get install python3-prometheus-client)"
    echo "metrics: $pass passed, $fail failed, 1 skipped"
    [ "$fail" -eq 0 ]
    exit
fi
echo "metrics: measured $n states x 2 formats"
echo "metrics: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
