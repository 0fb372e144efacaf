#!/usr/bin/env bash
# scripts/bench/side_by_side.sh - scale.sh for two builds, alternated, in one run (run 8).
#   BASELINE=/path/to/old/flink-monitor [CURRENT=target/release/flink-monitor] [ROUNDS=2] \
#     scripts/bench/side_by_side.sh
# Each round measures the baseline, then the current build, with health checks on (a fresh
# simulator each); then the current build polling alone once. Outputs under
# target/bench/side/<build>-<mode>-<round>/; every RESULT line also goes to stdout.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
BASELINE=${BASELINE:?set BASELINE to the flink-monitor binary to compare against}
CURRENT=${CURRENT:-$ROOT/target/release/flink-monitor}
ROUNDS=${ROUNDS:-2}
run() { # NAME BIN MODE ROUND
  log "$1, $3, round $4"
  BENCH_OUT="$OUT/side/$1-$3-$4" BENCH_BIN="$2" BENCH_SCALE_RUNS="$3" \
    "$ROOT/scripts/bench/scale.sh" 2>&1 | grep '^RESULT' | sed "s/^RESULT /RESULT build=$1 /"
}
for round in $(seq "$ROUNDS"); do
  run baseline "$BASELINE" health "$round"
  run current "$CURRENT" health "$round"
done
run current "$CURRENT" polling 1
