#!/usr/bin/env bash
# scripts/bench/scale.sh - benchmark 2: 1,000 simulated JobManagers x 10 jobs.
#
# Starts the Flink REST *simulator* (examples/flink_sim: one process, JobManager i on
# 127.0.1.1+i:18300, control on 127.0.0.1:18301), then measures, one after the other and
# the same way, flink-monitor (127.0.0.1:18310) with health checks at their default interval
# (30 s), flink-monitor polling alone (--health-interval 0s), and the plain-Python peer
# scripts/bench/py_peer.py (127.0.0.1:18311), each polling all 1,000 every 10 s:
#   - time to ready: process start -> /readyz 200;
#   - average CPU over BENCH_WINDOW s (default 60) from /proc/PID/stat, after a 12 s settle;
#   - VmRSS / VmHWM / RssAnon (VmRSS less the mapped binary and libraries) at the end of the window,
#     and the median and the most of VmRSS sampled every second of it (run 19);
#   - poll cadence from the simulator: /jobs/overview calls per cluster in the window, and
#     the shortest / longest gap between two polls of one cluster;
#   - health checks: the simulator's count of health calls (job metrics, checkpoints,
#     checkpoint config) per job in the window, per health interval;
#   - latency of the root jobs/overview/ (10,000 jobs): BENCH_OVERVIEW_N (20) sequential curls.
# The run with health checks settles for one health interval and more (BENCH_HEALTH_SETTLE,
# 45 s), so its window holds steady rounds, not the first one (which reads each job's
# checkpoint config once). The rounds of all clusters start together, every 30 s from 5 s
# after start (half a poll interval): a 60 s window from 46 s holds two whole rounds. BENCH_SCALE_RUNS="health polling peer" picks a subset.
# Needs target/release/flink-monitor and target/release/examples/flink_sim (run-all.sh builds them).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

WINDOW=${BENCH_WINDOW:-60}
SETTLE=${BENCH_SETTLE:-12}
OVERVIEW_N=${BENCH_OVERVIEW_N:-20}
HEALTH_SETTLE=${BENCH_HEALTH_SETTLE:-45}
RUNS=${BENCH_SCALE_RUNS:-"health polling peer"}
INTERVAL=10
HEALTH_INTERVAL=30
LIST="$SIM_LIST"

start_fleet "$OUT/flink_sim.log"
SIM_PID=$BG_PID
log "simulator up: $CLUSTERS JobManagers x $JOBS jobs (pid $SIM_PID)"

measure() { # NAME PORT SETTLE_S HEALTH_INTERVAL_S CMD...
  local name=$1 port=$2 settle=$3 hinterval=$4; shift 4
  local base="http://127.0.0.1:$port" t0 t1 ready_ms pid ticks0 ticks1 cpu rss hwm anon stats polls0 polls1
  t0=$(date +%s%N)
  start_bg "$OUT/$name.log" "$@"
  pid=$BG_PID
  until [ "$(curl -s -o /dev/null -w '%{http_code}' "$base/readyz" 2>/dev/null)" = 200 ]; do
    kill -0 "$pid" 2>/dev/null || die "$name exited; see $OUT/$name.log"
    [ $(( ($(date +%s%N) - t0) / 1000000000 )) -lt 120 ] || die "$name not ready in 120 s"
    sleep 0.005
  done
  t1=$(date +%s%N)
  ready_ms=$(( (t1 - t0) / 1000000 ))
  log "$name ready in $ready_ms ms (pid $pid); settling ${settle}s, then a ${WINDOW}s window (load $(load_avg))"
  sleep "$settle"
  curl -fsS -X POST "$SIM_CTL/reset" >/dev/null
  polls0=$({ curl -fsS "$base/metrics" 2>/dev/null || true; } | awk '/^flink_monitor_polls_total/ {s += $NF} END {print s + 0}')
  ticks0=$(cpu_ticks "$pid")
  # VmRSS every second of the window: one sample at its end can fall on a burst (a health
  # round's exchanges, freed pages not yet handed back), so the median and the most too.
  local rss_samples=() w0 w1
  w0=$(date +%s%N)
  while [ $(( ($(date +%s%N) - w0) / 1000000000 )) -lt "$WINDOW" ]; do
    rss_samples+=("$(status_kib "$pid" VmRSS)")
    sleep 1
  done
  ticks1=$(cpu_ticks "$pid")
  w1=$(date +%s%N)
  stats=$(curl -fsS "$SIM_CTL/stats")
  polls1=$({ curl -fsS "$base/metrics" 2>/dev/null || true; } | awk '/^flink_monitor_polls_total/ {s += $NF} END {print s + 0}')
  rss=$(status_kib "$pid" VmRSS); hwm=$(status_kib "$pid" VmHWM); anon=$(status_kib "$pid" RssAnon)
  cpu=$(awk -v d=$((ticks1 - ticks0)) -v hz="$CLK_TCK" -v ns=$((w1 - w0)) 'BEGIN {printf "%.4f", d / hz / (ns / 1e9)}')
  local rss_median rss_max
  read -r rss_median rss_max < <(printf '%s\n' "${rss_samples[@]}" | sort -n | awk '{a[NR] = $1} END {
    printf "%.1f %.1f\n", a[int((NR + 1) / 2)] / 1024, a[NR] / 1024}')
  # The root overview of every job, after the window so it does not count in the CPU.
  local times size
  times=$(for i in $(seq "$OVERVIEW_N"); do
    curl -s -o /dev/null -w '%{time_total} %{size_download} %{http_code}\n' "$base/jobs/overview/"; done)
  echo "$times" > "$OUT/$name-overview-times.txt"
  size=$(echo "$times" | awk 'NR == 1 {print $2}')
  local lat
  lat=$(echo "$times" | awk '$3 == 200 {print $1 * 1000}' | sort -n | awk '{a[NR] = $1} END {
    if (NR == 0) {print "nan nan nan nan"; exit}
    i = int(NR * 0.9 + 0.5); if (i < 1) i = 1
    printf "%.1f %.1f %.1f %d", a[int((NR + 1) / 2)], a[i], a[NR], NR}')
  local p50 p90 pmax nok
  read -r p50 p90 pmax nok <<<"$lat"
  local cad
  cad=$(echo "$stats" | "$PY" -c 'import json, sys
s = json.load(sys.stdin)
p, g = s["polls_per_cluster"], s["poll_gap_ms"]
c, h = s["calls"], s["health_calls_per_job"]
print(p["min"], p["max"], p["never"], round(g["min"] or 0), round(g["max"] or 0), c["jobs_overview"], c["config"],
      c["job_metrics"], c["checkpoints"], c["checkpoint_config"], h["min"], h["max"])')
  local pmin pmaxc never gmin gmax total configs hmetrics hstats hconfig hmin hmax per_interval
  read -r pmin pmaxc never gmin gmax total configs hmetrics hstats hconfig hmin hmax <<<"$cad"
  # Health calls per job per health interval, on average over the window.
  per_interval=$(awk -v n=$((hmetrics + hstats + hconfig)) -v j=$((CLUSTERS * JOBS)) -v w="$WINDOW" -v i="$hinterval" \
    'BEGIN {if (i == 0) print 0; else printf "%.2f", n / j / (w / i)}')
  result "scale-$name" clusters="$CLUSTERS" jobs=$((CLUSTERS * JOBS)) ready_ms="$ready_ms" cpu_cores="$cpu" \
    rss_mib="$(awk -v k="$rss" 'BEGIN {printf "%.1f", k / 1024}')" hwm_mib="$(awk -v k="$hwm" 'BEGIN {printf "%.1f", k / 1024}')" \
    rss_anon_mib="$(awk -v k="$anon" 'BEGIN {printf "%.1f", k / 1024}')" \
    rss_window_median_mib="$rss_median" rss_window_max_mib="$rss_max" \
    window_s="$WINDOW" polls_in_window="$total" polls_per_cluster_min="$pmin" polls_per_cluster_max="$pmaxc" \
    clusters_not_polled="$never" poll_gap_min_ms="$gmin" poll_gap_max_ms="$gmax" \
    self_counted_polls=$((polls1 - polls0)) config_calls="$configs" \
    health_interval_s="$hinterval" health_metrics_calls="$hmetrics" health_checkpoints_calls="$hstats" \
    health_config_calls="$hconfig" health_calls_per_job_min="$hmin" health_calls_per_job_max="$hmax" \
    health_calls_per_job_per_interval="$per_interval" \
    overview_p50_ms="$p50" overview_p90_ms="$p90" overview_max_ms="$pmax" overview_ok="$nok/$OVERVIEW_N" overview_bytes="$size" \
    load="$(load_avg | tr ' ' '/')"
  stop_pid "$pid"
}

export FLINK_MONITOR_CLUSTERS
FLINK_MONITOR_CLUSTERS=$(cat "$LIST")
want() { [[ " $RUNS " == *" $1 "* ]]; }
# Health checks at their default interval (not passed: the default is what is measured).
if want health; then
  measure flink-monitor 18310 "$HEALTH_SETTLE" "$HEALTH_INTERVAL" env RUST_LOG=warn "$BIN" run \
    --listen 127.0.0.1:18310 --kubernetes off --poll-interval "${INTERVAL}s"
fi
if want polling; then
  measure flink-monitor-polling 18310 "$SETTLE" 0 env RUST_LOG=warn "$BIN" run \
    --listen 127.0.0.1:18310 --kubernetes off --poll-interval "${INTERVAL}s" --health-interval 0s
fi
unset FLINK_MONITOR_CLUSTERS
if want peer; then
  measure py-peer 18311 "$SETTLE" 0 "$PY" "$ROOT/scripts/bench/py_peer.py" --listen 127.0.0.1:18311 \
    --interval "$INTERVAL" --clusters-file "$LIST" --max-runtime 600
fi
