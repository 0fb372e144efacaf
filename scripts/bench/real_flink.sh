#!/usr/bin/env bash
# scripts/bench/real_flink.sh - benchmarks 1 (read path) and 3 (freshness) on a real Flink 2.3.
#
# Starts a real Flink 2.3.0 session cluster with scripts/local-flink.sh (REST 127.0.0.1:18320,
# state in $BENCH_FLINK_STATE, default /tmp/flink-monitor-bench-flink, 20 slots) with 20 jobs:
# 14 `stream` jobs at 1 record/s, 4 finished and 2 failed ones. flink-monitor watches it twice:
# on 18321 with the default 5 s poll interval and on 18322 with 1 s.
#  1. Read path: wrk -t1 -c32 (BENCH_WRK_SECONDS, default 10 s, after a 5 s warm-up) against flink-monitor's
#     jobs/overview/ and job/{uuid}/status/, and Flink's /jobs/overview and /jobs/{jid}; and
#     flink-monitor's /healthz, the ceiling of what wrk and a server reach here. Twice: first
#     with no pinning (servers and wrk share the 2 cores), then pinned with taskset: the
#     measured server alone on CPU 1 (Flink's JM and TM: every thread moved there; for
#     flink-monitor a third instance, 18323, started on CPU 1), wrk and the rest on CPU 0.
#  2. Freshness: cancel 8 stream jobs one by one through Flink's PATCH /jobs/{jid}?mode=cancel
#     at a random moment and time until each monitor's job/{uuid}/status/ says CANCELED.
# Flink, both monitors and everything else it started are stopped at the end, also on failure.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

FLINK_PORT=18320
export LOCAL_FLINK_STATE="${BENCH_FLINK_STATE:-/tmp/flink-monitor-bench-flink}"
LF="$ROOT/scripts/local-flink.sh"
WRK_SECONDS=${BENCH_WRK_SECONDS:-10}
STREAMS=14
FRESHNESS_JOBS=8
cleanup() {
  stop_all_bg
  "$LF" stop >/dev/null 2>&1 || true
}
trap cleanup EXIT
command -v wrk >/dev/null || die "wrk is missing (apt-get install -y wrk; run-all.sh does it)"
[ -x "$BIN" ] || die "build first: cargo build --release --bin flink-monitor"

log "starting Flink 2.3.0 on 127.0.0.1:$FLINK_PORT (state $LOCAL_FLINK_STATE)"
FLINK=$("$LF" start --port "$FLINK_PORT" --version 2.3.0 --slots 20 --tm-memory 1792m)
for i in $(seq -w 0 $((STREAMS - 1))); do
  "$LF" submit "bench-stream-$i" stream --rate 1 --wait >/dev/null
done
for i in 0 1 2 3; do "$LF" submit "bench-finish-$i" finish --count 20 --wait >/dev/null; done
for i in 0 1; do "$LF" submit "bench-fail-$i" fail --count 5 --wait >/dev/null; done
NJOBS=$(curl -fsS "$FLINK/jobs/overview" | "$PY" -c 'import json, sys; print(len(json.load(sys.stdin)["jobs"]))')
log "Flink has $NJOBS jobs"

start_bg "$OUT/monitor-5s.log" env RUST_LOG=warn "$BIN" run --listen 127.0.0.1:18321 --kubernetes off \
  --cluster "flink=$FLINK" --poll-interval 5s
start_bg "$OUT/monitor-1s.log" env RUST_LOG=warn "$BIN" run --listen 127.0.0.1:18322 --kubernetes off \
  --cluster "flink=$FLINK" --poll-interval 1s
# For the pinned read path: started on CPU 1 alone, so it sizes its runtime for one core
# (tokio takes its worker count from the CPUs it may run on).
start_bg "$OUT/monitor-pinned.log" taskset -c 1 env RUST_LOG=warn "$BIN" run --listen 127.0.0.1:18323 \
  --kubernetes off --cluster "flink=$FLINK" --poll-interval 5s
MON=http://127.0.0.1:18321
wait_http "$MON/readyz" 30 || die "flink-monitor (5s) not ready"
wait_http "http://127.0.0.1:18322/readyz" 30 || die "flink-monitor (1s) not ready"
wait_http "http://127.0.0.1:18323/readyz" 30 || die "flink-monitor (pinned) not ready"
JID=$(curl -fsS "$FLINK/jobs/overview" | "$PY" -c 'import json, sys
print(next(j["jid"] for j in json.load(sys.stdin)["jobs"] if j["name"] == "bench-stream-00"))')
# The monitors must list all jobs (at most one poll interval after the last submit).
sleep 6

WRK=(wrk)
wrk_run() { # LABEL URL
  local label=$1 url=$2 out
  "${WRK[@]}" -t1 -c32 -d5s "$url" >/dev/null 2>&1 || true   # warm-up (JIT, connections, caches)
  out=$("${WRK[@]}" -t1 -c32 -d"${WRK_SECONDS}s" --latency "$url")
  echo "$out" > "$OUT/wrk-$label.txt"
  echo "$out" | "$PY" "$ROOT/scripts/bench/parse_wrk.py" | { read -r line; result "read-$label" "$line" load="$(load_avg | tr ' ' '/')"; }
}

FLINK_PIDS=("$(cat "$LOCAL_FLINK_STATE/jm.pid")" "$(cat "$LOCAL_FLINK_STATE/tm.pid")")
MON_PID=${BG_PIDS[0]} MON1_PID=${BG_PIDS[1]} MONP_PID=${BG_PIDS[2]}
pin() { # CPUS PID... : every thread of each process
  local cpus=$1 pid; shift
  for pid in "$@"; do taskset -a -cp "$cpus" "$pid" >/dev/null; done
}
PIN=0
pin_for() { # monitor|flink: the measured server alone on CPU 1, everything else on CPU 0
  [ "$PIN" = 1 ] || return 0
  # The pinned flink-monitor (18323) lives on CPU 1 throughout; it is idle while Flink is measured.
  if [ "$1" = monitor ]; then
    pin 0 "${FLINK_PIDS[@]}" "$MON_PID" "$MON1_PID"
  else
    pin 1 "${FLINK_PIDS[@]}"; pin 0 "$MON_PID" "$MON1_PID"
  fi
}
read_path() { # LABEL-PREFIX MONITOR-URL
  pin_for monitor; wrk_run "${1}monitor-overview" "$2/jobs/overview/"
  pin_for flink; wrk_run "${1}flink-overview" "$FLINK/jobs/overview"
  pin_for monitor; wrk_run "${1}monitor-status" "$2/job/bench-stream-00/status/"
  pin_for flink; wrk_run "${1}flink-job" "$FLINK/jobs/$JID"
  # The ceiling of this setup: flink-monitor's cheapest endpoint (no snapshot, no Flink).
  pin_for monitor; wrk_run "${1}monitor-healthz" "$2/healthz"
}
log "read path, shared cores: wrk -t1 -c32 -d${WRK_SECONDS}s, 5 s warm-up each (load $(load_avg))"
read_path "" "$MON"
log "read path, pinned: the measured server alone on CPU 1; wrk and the other servers on CPU 0 (load $(load_avg))"
PIN=1
WRK=(taskset -c 0 wrk)
read_path "pinned-" http://127.0.0.1:18323
pin 0-1 "${FLINK_PIDS[@]}" "$MON_PID" "$MON1_PID"

log "freshness: $FRESHNESS_JOBS cancels through Flink's REST API"
JOBS=$(seq -w $((STREAMS - FRESHNESS_JOBS)) $((STREAMS - 1)) | sed 's/^/bench-stream-/' | paste -sd,)
"$PY" "$ROOT/scripts/bench/freshness.py" --flink "$FLINK" --monitor "interval-5s=$MON" \
  --monitor "interval-1s=http://127.0.0.1:18322" --jobs "$JOBS" --max-wait 5 | tee -a "$RESULTS"
