#!/usr/bin/env bash
# scripts/bench/read_path.sh - the read path against its own ceiling, on one simulated
# JobManager (examples/flink_sim: 1 cluster x 20 running jobs on 127.0.7.1:18350).
#
# For each flink-monitor binary (BENCH_READ_BINS="label=/path/to/flink-monitor ...";
# default: this tree's release build as "current"), one at a time on 127.0.0.1:18352:
# wrk -t1 -c32 (5 s warm-up, then BENCH_WRK_SECONDS, default 10 s, --latency) against
#   /healthz                       (the ceiling: no snapshot, no Flink, 40 bytes),
#   /job/sim-0000-job-003/status/  (a snapshot lookup and cached details, 1 s TTL),
#   /jobs/overview/                (20 jobs, every snapshot),
# in BENCH_READ_ROUNDS (default 2) rounds of healthz, status, overview, so a neighbour's
# build hits all three alike. Prints one RESULT line per binary, endpoint and round, and
# one `read-ratio-<label>` line: req/s and p99 of status and overview relative to /healthz
# within each round, averaged over the rounds (the figures shown are the last round's). Everything started is stopped at the end, also on failure.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
command -v wrk >/dev/null || die "wrk is missing (apt-get install -y wrk; run-all.sh does it)"
[ -x "$EXAMPLES/flink_sim" ] || die "build first: cargo build --release --example flink_sim"
WRK_SECONDS=${BENCH_WRK_SECONDS:-10}
ROUNDS=${BENCH_READ_ROUNDS:-2}
BINS=${BENCH_READ_BINS:-"current=$BIN"}
SIM_CTL=http://127.0.0.1:18351
LIST="$OUT/read-sim-clusters.txt"

start_bg "$OUT/read-flink_sim.log" "$EXAMPLES/flink_sim" --clusters 1 --jobs 20 \
  --first-ip 127.0.7.1 --port 18350 --control 127.0.0.1:18351 --list-file "$LIST" --max-runtime 900s
wait_http "$SIM_CTL/stats" 30 || die "the simulator did not start; see $OUT/read-flink_sim.log"

wrk_once() { # LABEL URL
  local out
  wrk -t1 -c32 -d5s "$2" >/dev/null 2>&1 || true   # warm-up: connections, caches
  out=$(wrk -t1 -c32 -d"${WRK_SECONDS}s" --latency "$2")
  echo "$out" > "$OUT/wrk-$1.txt"
  echo "$out" | "$PY" "$ROOT/scripts/bench/parse_wrk.py" | { read -r line; result "$1" "$line" load="$(load_avg | tr ' ' '/')"; }
}

for entry in $BINS; do
  label=${entry%%=*} bin=${entry#*=}
  [ -x "$bin" ] || die "no binary at $bin"
  start_bg "$OUT/read-$label.log" env RUST_LOG=warn "$bin" run --listen 127.0.0.1:18352 --kubernetes off \
    --cluster "$(cat "$LIST")" --poll-interval 5s
  pid=$BG_PID
  wait_http "http://127.0.0.1:18352/readyz" 30 || die "$label not ready; see $OUT/read-$label.log"
  base=http://127.0.0.1:18352
  for round in $(seq "$ROUNDS"); do
    log "read path $label, round $round (load $(load_avg))"
    wrk_once "read-sim-$label-healthz-$round" "$base/healthz"
    wrk_once "read-sim-$label-status-$round" "$base/job/sim-0000-job-003/status/"
    wrk_once "read-sim-$label-overview-$round" "$base/jobs/overview/"
  done
  stop_pid "$pid"
  "$PY" - "$RESULTS" "$label" "$ROUNDS" <<'PY' | tee -a "$RESULTS"
import sys
results, label, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
rows = {}
for line in open(results):
    parts = line.split()
    if len(parts) > 1 and parts[0] == "RESULT":
        rows[parts[1]] = dict(p.split("=", 1) for p in parts[2:] if "=" in p)
def run(endpoint, r):
    row = rows["read-sim-%s-%s-%d" % (label, endpoint, r)]
    return float(row["rps"]), float(row["p99_ms"])
# Ratios within a round (the machine's load moves /healthz too), then averaged over rounds.
ratios = {"status_rate": [], "overview_rate": [], "status_p99": [], "overview_p99": []}
for r in range(1, rounds + 1):
    h, s, o = run("healthz", r), run("status", r), run("overview", r)
    ratios["status_rate"].append(s[0] / h[0]); ratios["overview_rate"].append(o[0] / h[0])
    ratios["status_p99"].append(s[1] / h[1]); ratios["overview_p99"].append(o[1] / h[1])
mean = {k: sum(v) / len(v) for k, v in ratios.items()}
each = {k: ",".join("%.2f" % x for x in v) for k, v in ratios.items()}
h, s, o = run("healthz", rounds), run("status", rounds), run("overview", rounds)
print("RESULT read-ratio-%s healthz_rps=%.0f healthz_p99_ms=%.3f status_rps=%.0f status_p99_ms=%.3f "
      "overview_rps=%.0f overview_p99_ms=%.3f status_rate_ratio=%.3f overview_rate_ratio=%.3f "
      "status_p99_ratio=%.2f overview_p99_ratio=%.2f status_rate_ratios=%s overview_rate_ratios=%s "
      "status_p99_ratios=%s overview_p99_ratios=%s" % (
          label, h[0], h[1], s[0], s[1], o[0], o[1], mean["status_rate"], mean["overview_rate"],
          mean["status_p99"], mean["overview_p99"], each["status_rate"], each["overview_rate"],
          each["status_p99"], each["overview_p99"]))
PY
done
