#!/usr/bin/env bash
# scripts/bench/kube_scale.sh - benchmark 6: Kubernetes mode at scale (issue 20), side by side.
#
#   [BASELINE=/path/to/previous/flink-monitor] [CURRENT=target/release/flink-monitor] \
#   [BENCH_KS_SERVICES=100,1000] [BENCH_KS_NO_MIRROR=1000] scripts/bench/kube_scale.sh [-- extra flags]
#
# Starts the Flink REST simulator (examples/flink_sim: N JobManagers x 10 running jobs) once,
# then for each N and each build (the baseline first) a fresh API-server simulator
# (tests/k8s-sim) with the FlinkJob CRD and N annotated Services over 10 namespaces, and the
# build's binary in Kubernetes mode (mirror mode, health checks at 30 s, 10 s polls). It
# measures ready, convergence, RSS (converged, +2 min, peak), steady CPU, /healthz latency,
# status patches per mirror, connections to the API server, requests per minute, writes in
# steady state and across a restart (see kube_scale.py), and prints them side by side.
# BENCH_KS_NO_MIRROR lists the N also measured with --mirror-jobs=false (current build);
# BENCH_KS_BASELINE_AT the N the baseline runs at (default: every N).
# BENCH_KS_AFTER (120), BENCH_KS_WINDOW (60), BENCH_KS_QUIET (20) set the phases in seconds.
# Run it under `flock /work/coord/bench.lock` on a shared machine. Output: target/bench/kube/.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
CURRENT=${CURRENT:-$BIN}
[ -x "$CURRENT" ] && [ -x "$EXAMPLES/flink_sim" ] || die "build first: cargo build --release --bin flink-monitor --example flink_sim"
# 1,000 listeners in the Flink simulator, 1,000 keep-alive connections in the monitor.
ulimit -n 65536 2>/dev/null || ulimit -n 16384 2>/dev/null || true
builds=()
[ -n "${BASELINE:-}" ] && builds+=(--build "baseline=$BASELINE")
builds+=(--build "current=$CURRENT")
[ "${1:-}" = "--" ] && shift
exec "$PY" "$ROOT/scripts/bench/kube_scale.py" "${builds[@]}" \
  --services "${BENCH_KS_SERVICES:-100,1000}" --no-mirror "${BENCH_KS_NO_MIRROR-1000}" \
  --others-at "${BENCH_KS_BASELINE_AT:-}" \
  --after "${BENCH_KS_AFTER:-120}" --window "${BENCH_KS_WINDOW:-60}" --quiet "${BENCH_KS_QUIET:-20}" \
  --flink-sim "$EXAMPLES/flink_sim" --out "$OUT/kube" -- "$@"
