#!/usr/bin/env bash
# scripts/bench/run-all.sh - THE benchmark command: every benchmark of docs/performance.md.
#
#   scripts/bench/run-all.sh            (about 14 minutes after the build)
#
# 1. builds the release binary and the benchmark examples;
# 2. scale.sh: 1,000 simulated JobManagers x 10 jobs: flink-monitor with health checks,
#    polling alone, and the Python peer; health calls per job counted by the simulator;
#    read_path.sh: status/ and overview/ against /healthz of the same server (simulator);
# 3. real_flink.sh: read path vs a real Flink 2.3 (wrk) and freshness after a cancel;
# 4. examples/write_amplification: status writes for 10,000 jobs against a mocked API server;
# 5. examples/coalescing: Flink calls for 200 concurrent statusAndMetrics requests;
# 6. ui.sh: the web page at 10,000 jobs on 1,000 clusters in headless Chromium.
# Then prints the table of figures (ours vs peer, ratios, targets). Raw output goes to
# target/bench/ (results.txt has one RESULT line per measurement).
# Ports: 18300 (on 127.0.1.1-127.0.4.232), 18301, 18310-18311, 18320-18323, 18330-18333,
# 18340 (on 127.0.6.x), 18350 (on 127.0.7.1), 18351-18352, 18312.
# BENCH_ONLY="scale read_path real_flink write_amplification coalescing ui"
# picks a subset. Needs root for apt-get when wrk is missing.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ONLY=${BENCH_ONLY:-"scale read_path real_flink write_amplification coalescing ui"}
want() { [[ " $ONLY " == *" $1 "* ]]; }

if ! command -v wrk >/dev/null; then
  [ "$(id -u)" = 0 ] || die "wrk is missing: apt-get install -y wrk"
  log "installing wrk"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null 2>&1 \
    || { DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
fi
log "building (release)"
(cd "$ROOT" && cargo build --release --bin flink-monitor --example flink_sim --example write_amplification --example coalescing)

: > "$RESULTS"
{
  echo "# $(date -u +%FT%TZ) $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)"
  echo "# $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
  echo "# load at start: $(load_avg)"
} | tee -a "$RESULTS"

run_example() { # NAME: its RESULT line goes to results.txt; a failed check is reported, not fatal
  "$EXAMPLES/$1" > "$OUT/$1.txt" 2>&1 || log "$1: a check FAILED (see $OUT/$1.txt)"
  grep -v '^RESULT' "$OUT/$1.txt" >&2 || true
  grep '^RESULT' "$OUT/$1.txt" | tee -a "$RESULTS" || true
}

want scale && { "$ROOT/scripts/bench/scale.sh" || log "scale.sh FAILED"; }
want read_path && { "$ROOT/scripts/bench/read_path.sh" || log "read_path.sh FAILED"; }
want real_flink && { "$ROOT/scripts/bench/real_flink.sh" || log "real_flink.sh FAILED"; }
if want write_amplification; then
  log "write amplification (load $(load_avg))"
  run_example write_amplification
fi
if want coalescing; then
  log "coalescing (load $(load_avg))"
  run_example coalescing
fi
if want ui; then
  "$ROOT/scripts/ui-test.sh" --collect-only -q >/dev/null 2>&1 || log "ui.sh: scripts/ui-test.sh could not prepare the browser"
  "$ROOT/scripts/bench/ui.sh" || log "ui.sh FAILED"
fi
echo "# load at end: $(load_avg)" >> "$RESULTS"
sleep 0.2
echo
"$PY" "$ROOT/scripts/bench/summary.py" "$RESULTS" | tee "$OUT/summary.md"
