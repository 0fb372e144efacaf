# scripts/bench/lib.sh - helpers shared by the benchmark scripts (sourced, not run).
# Every process a script starts goes through start_bg, and the EXIT trap stops exactly
# those (by pid), also when the script fails.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)"
BIN="${BENCH_BIN:-$ROOT/target/release/flink-monitor}"
EXAMPLES="$ROOT/target/release/examples"
OUT="${BENCH_OUT:-$ROOT/target/bench}"
RESULTS="$OUT/results.txt"
CLK_TCK=$(getconf CLK_TCK)
# What the image and the chart of builds before jemalloc set (run 19): a baseline built on
# glibc's malloc is measured as it ran there. Builds with jemalloc do not read it (their
# allocations do not go through glibc's malloc). Exported, so every process started has it.
export GLIBC_TUNABLES="${GLIBC_TUNABLES-glibc.malloc.mmap_threshold=131072:glibc.malloc.trim_threshold=131072}"
# The real interpreter, not a pyenv shim, so $! is the Python process itself.
PY="$(python3 -c 'import sys; print(sys.executable)')"
mkdir -p "$OUT"

BG_PIDS=()
log() { echo "bench: $*" >&2; }
die() { echo "bench: error: $*" >&2; exit 1; }

start_bg() { # LOGFILE CMD... ; sets BG_PID
  local logfile=$1; shift
  "$@" >"$logfile" 2>&1 &
  BG_PID=$!
  BG_PIDS+=("$BG_PID")
}

stop_pid() { # PID: TERM, then KILL after 5 s
  local pid=$1 i
  kill -0 "$pid" 2>/dev/null || return 0
  kill "$pid" 2>/dev/null || true
  for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
}

stop_all_bg() {
  local pid
  for pid in "${BG_PIDS[@]}"; do stop_pid "$pid"; done
  BG_PIDS=()
}
trap stop_all_bg EXIT # a script with more to clean up sets its own and calls stop_all_bg

wait_http() { # URL TIMEOUT_S: until it answers 200
  local url=$1 timeout=${2:-30} t0
  t0=$(date +%s)
  until curl -fsS -o /dev/null "$url" 2>/dev/null; do
    [ $(( $(date +%s) - t0 )) -lt "$timeout" ] || return 1
    sleep 0.05
  done
}

cpu_ticks() { # PID: utime+stime in clock ticks (fields after the ")" of the comm)
  sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'
}

status_kib() { # PID FIELD (VmRSS, VmHWM)
  awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"
}

result() { # BENCH key=value...
  echo "RESULT $*" | tee -a "$RESULTS"
}

load_avg() { cut -d' ' -f1-3 /proc/loadavg; }

# The Flink REST simulator (examples/flink_sim, one process): JobManager i on
# 127.0.1.1+i:18300, control on $SIM_CTL; it writes the NAME=URL list of its JobManagers to
# $SIM_LIST. Used by the benchmarks at 1,000 clusters.
SIM_CTL=http://127.0.0.1:18301
SIM_LIST="$OUT/sim-clusters.txt"
need_sim_build() { # the release binary and the simulator
  [ -x "$BIN" ] && [ -x "$EXAMPLES/flink_sim" ] || die "build first: cargo build --release --bin flink-monitor --example flink_sim"
}
start_sim() { # LOGFILE CLUSTERS JOBS: until its control answers; sets BG_PID
  rm -f "$SIM_LIST"
  start_bg "$1" "$EXAMPLES/flink_sim" --clusters "$2" --jobs "$3" \
    --first-ip 127.0.1.1 --port 18300 --control 127.0.0.1:18301 --list-file "$SIM_LIST" --max-runtime 900s
  wait_http "$SIM_CTL/stats" 60 || die "the simulator did not start; see $1"
}
start_fleet() { # LOGFILE: BENCH_CLUSTERS (1000) JobManagers x BENCH_JOBS (10) jobs in the simulator; sets CLUSTERS, JOBS, BG_PID
  CLUSTERS=${BENCH_CLUSTERS:-1000}
  JOBS=${BENCH_JOBS:-10}
  need_sim_build
  # 1,000 listeners in the simulator and 1,000 keep-alive connections in each poller.
  ulimit -n 16384 2>/dev/null || true
  start_sim "$1" "$CLUSTERS" "$JOBS"
}
