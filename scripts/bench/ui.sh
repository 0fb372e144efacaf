#!/usr/bin/env bash
# scripts/bench/ui.sh - benchmark 13: the web page at 10,000 jobs on 1,000 clusters.
#
# Starts the Flink REST simulator (examples/flink_sim: 1,000 JobManagers x 10 jobs) and
# flink-monitor (release build, 127.0.0.1:18312, 5 s polls, health checks on), then:
#   - in headless Chromium (scripts/bench/ui_page.py, Playwright from the browser tests'
#     venv): first render, the bytes of the first answer and of an idle refresh (304), and a
#     refresh that carries one cancelled job (time from its request to its render, bytes),
#     BENCH_UI_ROUNDS (5) rounds, each in a fresh browser context;
#   - beside it, on the same server: GET /ui/api/jobs (every job, what the first render
#     fetches) and GET /jobs/overview/ (the API's list of the same 10,000 jobs), plain and
#     gzip, BENCH_UI_N (20) sequential curls each;
#   - the CPU of flink-monitor over BENCH_UI_WINDOW (30) s with no page open, then with
#     one page open (a refresh a second).
# Needs target/release/flink-monitor and target/release/examples/flink_sim (cargo build
# --release --bin flink-monitor --example flink_sim), Debian's chromium and the venv of
# scripts/ui-test.sh (it creates them). Run under `flock /work/coord/bench.lock` on a shared
# machine.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROUNDS=${BENCH_UI_ROUNDS:-5}
N=${BENCH_UI_N:-20}
WINDOW=${BENCH_UI_WINDOW:-30}
PORT=18312
BASE=http://127.0.0.1:$PORT
LIST="$SIM_LIST"
VENV="${UI_TEST_VENV:-$ROOT/target/ui-test-venv}"
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
[ -x "$VENV/bin/python" ] && [ -x "$CHROMIUM" ] || die "run scripts/ui-test.sh once first (it installs chromium and Playwright)"

start_fleet "$OUT/ui-flink_sim.log"
start_bg "$OUT/ui-monitor.log" env FLINK_MONITOR_CLUSTERS="$(cat "$LIST")" "$BIN" run --kubernetes off \
  --listen 127.0.0.1:$PORT --poll-interval 5s
MONITOR=$BG_PID
wait_http "$BASE/readyz" 120 || die "flink-monitor not ready; see $OUT/ui-monitor.log"
# Past the first round of health checks (every job's first verdict is a change): steady.
SETTLE=${BENCH_UI_SETTLE:-40}
log "flink-monitor ready with $CLUSTERS clusters x $JOBS jobs (pid $MONITOR); settling $SETTLE s (load $(load_avg))"
sleep "$SETTLE"

# The server side, side by side: the page's full answer and the API's overview of the same jobs.
latency() { # URL [curl args]: "median p90 bytes" over N requests
  local url=$1; shift
  for _ in $(seq "$N"); do curl -s -o /dev/null -w '%{time_total} %{size_download}\n' "$@" "$url"; done \
    | sort -n | awk '{t[NR] = $1 * 1000; b = $2} END {printf "%.1f %.1f %d\n", t[int((NR + 1) / 2)], t[int(NR * 0.9)], b}'
}
for variant in plain gzip; do
  args=(); [ $variant = gzip ] && args=(-H 'Accept-Encoding: gzip')
  read -r pm pp pb < <(latency "$BASE/ui/api/jobs" "${args[@]}")
  read -r om op ob < <(latency "$BASE/jobs/overview/" "${args[@]}")
  result "ui-server variant=$variant ui_jobs_median_ms=$pm ui_jobs_p90_ms=$pp ui_jobs_bytes=$pb overview_median_ms=$om overview_p90_ms=$op overview_bytes=$ob ratio_median=$(awk -v a="$pm" -v b="$om" 'BEGIN {printf "%.2f", a / b}')"
done

cpu_over() { # seconds -> cores used by flink-monitor
  local t0 t1
  t0=$(cpu_ticks "$MONITOR"); sleep "$1"; t1=$(cpu_ticks "$MONITOR")
  awk -v d=$((t1 - t0)) -v hz="$CLK_TCK" -v w="$1" 'BEGIN {printf "%.4f", d / hz / w}'
}
idle_cpu=$(cpu_over "$WINDOW")

# The page in the browser; then the CPU with one page open.
"$VENV/bin/python" "$ROOT/scripts/bench/ui_page.py" "$BASE" "$SIM_CTL" "$ROUNDS" "$CHROMIUM" "$JOBS" \
  | tee -a "$RESULTS"
start_bg "$OUT/ui-open-page.log" "$VENV/bin/python" -c '
import sys, time
from playwright.sync_api import sync_playwright
with sync_playwright() as p:
    b = p.chromium.launch(executable_path=sys.argv[2], args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"])
    page = b.new_page()
    page.goto(sys.argv[1] + "/ui/")
    time.sleep(3600)
' "$BASE" "$CHROMIUM"
sleep 10
open_cpu=$(cpu_over "$WINDOW")
result "ui-cpu flink_monitor_cores_no_page=$idle_cpu flink_monitor_cores_one_page_open=$open_cpu window_s=$WINDOW load=\"$(load_avg)\""
