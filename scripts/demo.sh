#!/usr/bin/env bash
# scripts/demo.sh - see flink-monitor work against a real Flink on this machine.
#
#   scripts/demo.sh          start Flink 2.3.0 on 127.0.0.1:8081 (state in /tmp/flink-monitor-demo),
#                            submit sample jobs, build flink-monitor (release), print the web
#                            page's URL (http://127.0.0.1:8080/ui/) and curl lines to try, then
#                            run flink-monitor in the foreground on 127.0.0.1:8080.
#                            Ctrl-C stops flink-monitor; Flink keeps running.
#   scripts/demo.sh stop     stop the demo's Flink.
#
# Sample jobs (Flink job names = the API's uuids):
#   orders-enrichment   streaming, RUNNING
#   daily-report        bounded, FINISHED (200 records)
#   payment-audit       FAILED (throws at record 50)
#   отчёт по заказам    streaming, a name with spaces and non-ASCII characters
#   inventory-sync      two jobs with one name: one RUNNING, a newer one CANCELED (the API picks
#                       the running one)
#   fraud-scoring       fails every 50 records and restarts 1 s later, forever: health Degraded
#                       (Restarting) within seconds
#   clickstream-sessions  checkpoints every 2 s that never complete: health Degraded
#                       (CheckpointStalled) a minute after its start
# Running it again reuses a healthy Flink and submits only the sample jobs that are missing.
#
# Needs Java 11+ (17 recommended), curl, python3 with pip and cargo; as root, missing system
# packages are installed with apt-get (by scripts/local-flink.sh). Flink is downloaded from
# PyPI into ~/.cache/local-flink on first use (~330 MB).
# Environment: DEMO_FLINK_PORT (8081), DEMO_LISTEN (127.0.0.1:8080), DEMO_STATE (/tmp/flink-monitor-demo).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
FLINK_VERSION=2.3.0
FLINK_PORT="${DEMO_FLINK_PORT:-8081}"
LISTEN="${DEMO_LISTEN:-127.0.0.1:8080}"
export LOCAL_FLINK_STATE="${DEMO_STATE:-/tmp/flink-monitor-demo}"
LF="$ROOT/scripts/local-flink.sh"
CLUSTER=demo

say() { echo "demo: $*" >&2; }
die() { echo "demo: error: $*" >&2; exit 1; }

urlencode() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }

# jid state name, one job a line (empty if Flink has none)
jobs() { "$LF" jobs 2>/dev/null || true; }

job_state() { # name -> the states of the jobs with that name, space separated
  jobs | awk -v n="$1" '{ jid=$1; st=$2; $1=""; $2=""; sub(/^  /, ""); if ($0 == n) printf "%s ", st }'
}

submit() { # name kind -> jid (waits for RUNNING / FINISHED / FAILED)
  "$LF" submit "$1" "$2" --wait 2> >(sed 's/^/demo: /' >&2)
}

start_flink() {
  say "starting Flink $FLINK_VERSION on 127.0.0.1:$FLINK_PORT (state and logs in $LOCAL_FLINK_STATE; the first start downloads Flink)"
  URL=$("$LF" start --port "$FLINK_PORT" --version "$FLINK_VERSION" --slots 8) \
    || die "Flink did not start; see the messages above and $LOCAL_FLINK_STATE/log"
  say "Flink is up: $URL (web UI and REST API)"
}

missing() { # name state -> true unless a job with that name is in that state
  [[ " $(job_state "$1")" != *" $2 "* ]]
}

twins() {
  local newer
  if missing inventory-sync RUNNING; then submit inventory-sync stream >/dev/null || return 1; fi
  if missing inventory-sync CANCELED; then
    newer=$(submit inventory-sync stream) || return 1
    curl -fsS -X PATCH "$URL/jobs/$newer?mode=cancel" >/dev/null || { say "cancelling job $newer failed"; return 1; }
  fi
}

submit_jobs() {
  say "submitting the sample jobs that are not there yet (about 15 s)"
  local pids=() p
  missing orders-enrichment RUNNING && { submit orders-enrichment stream >/dev/null & pids+=($!); }
  missing daily-report FINISHED && { submit daily-report finish >/dev/null & pids+=($!); }
  missing payment-audit FAILED && { submit payment-audit fail >/dev/null & pids+=($!); }
  missing "отчёт по заказам" RUNNING && { submit "отчёт по заказам" stream >/dev/null & pids+=($!); }
  # Same name twice: one runs, a newer one is cancelled; the API chooses the running one.
  twins & pids+=($!)
  # Sick on purpose, for the health checks: a restart loop and checkpoints that never complete.
  missing fraud-scoring RUNNING && missing fraud-scoring RESTARTING \
    && { submit fraud-scoring restart >/dev/null & pids+=($!); }
  missing clickstream-sessions RUNNING && { submit clickstream-sessions stall >/dev/null & pids+=($!); }
  for p in "${pids[@]}"; do wait "$p" || die "a job submission failed (see above; Flink logs in $LOCAL_FLINK_STATE/log)"; done
  say "jobs on Flink (jid, state, name):"
  jobs | sed 's/^/demo:   /' >&2
}

build_monitor() {
  # tikv-jemalloc-sys builds jemalloc (the binary's allocator) with make.
  if ! command -v make >/dev/null 2>&1; then
    [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
      || die "make is needed to build flink-monitor's allocator (jemalloc): install it (apt-get install make)"
    say "apt-get install make (tikv-jemalloc-sys builds jemalloc with it)"
    { DEBIAN_FRONTEND=noninteractive apt-get update -qq && apt-get install -y -qq --no-install-recommends make; } >&2 \
      || die "apt-get install make failed"
  fi
  say "building flink-monitor (cargo build --release; the first build takes a few minutes)"
  (cd "$ROOT" && cargo build --release --bin flink-monitor) || die "cargo build --release failed"
  local target
  target=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps 2>/dev/null \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])') || target="$ROOT/target"
  BIN="$target/release/flink-monitor"
  [ -x "$BIN" ] || die "no binary at $BIN"
}

print_curls() {
  local api="http://$LISTEN" orders report audit report_ru
  orders=orders-enrichment; report=daily-report; audit=payment-audit
  report_ru=$(urlencode "отчёт по заказам")
  cat <<EOF

────────────────────────────────────────────────────────────────────────────────
 flink-monitor will serve $api, watching cluster "$CLUSTER" = $URL

 Open the web page (every job with its state and health, live): $api/ui/

 Or try these in another terminal (append '| python3 -m json.tool' to pretty-print):

   curl -s $api/job/$orders/status/
   curl -s $api/job/$orders/statusAndMetrics/
   curl -s $api/job/$report/statusAndMetrics/
   curl -s $api/jobs/$audit/exceptions/
   curl -s $api/job/$report_ru/status/
   curl -s $api/job/inventory-sync/status/
   curl -s $api/jobs/overview/
   curl -s $api/clusters
   curl -s $api/clusters/$CLUSTER/job/$orders/status/
   curl -s $api/job/no-such-job/status/
   curl -s -X POST $api/job/inventory-sync/stop/
   curl -s -X POST "$api/job/$orders/stop/?mode=savepoint"

 Job health (checked every 5 s here; restarts, checkpoints):
   curl -s $api/job/$orders/health/
   curl -s $api/job/fraud-scoring/health/
   curl -s $api/job/clickstream-sessions/health/
   curl -s $api/clusters/$CLUSTER/job/fraud-scoring/health/
   curl -s $api/metrics | grep -E '^flink_monitor_job_(healthy|restarts|last_checkpoint_age_seconds)'

 Stop is enabled for the demo (--enable-stop); by default it answers 403.
 Ctrl-C stops flink-monitor. Flink keeps running: scripts/demo.sh stop
────────────────────────────────────────────────────────────────────────────────

EOF
}

run_monitor() {
  local rc=0
  say "starting: $BIN run --listen $LISTEN --cluster $CLUSTER=$URL --kubernetes off --poll-interval 1s --health-interval 5s --enable-stop"
  # Ctrl-C reaches flink-monitor, which shuts down gracefully; this shell waits for it.
  trap ':' INT
  "$BIN" run --listen "$LISTEN" --cluster "$CLUSTER=$URL" --kubernetes off --poll-interval 1s --health-interval 5s --enable-stop || rc=$?
  trap - INT
  echo >&2
  say "flink-monitor stopped (exit code $rc). Flink still runs at $URL; to stop it: scripts/demo.sh stop"
  return 0
}

case "${1:-start}" in
  start)
    start_flink
    submit_jobs
    build_monitor
    print_curls
    run_monitor
    ;;
  stop)
    "$LF" stop
    say "Flink stopped (the downloads stay in ~/.cache/local-flink; state and logs in $LOCAL_FLINK_STATE)"
    ;;
  -h|--help|help)
    sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'
    ;;
  *) die "unknown command '$1' (start | stop | help)" ;;
esac
