#!/usr/bin/env bash
# scripts/test.sh - THE test command: every test of flink-monitor, the real-Flink ones included.
#
#   scripts/test.sh [ARGS...]      runs `cargo test --all-targets ARGS...`, then the web
#                                  page's browser tests (scripts/ui-test.sh), the API-server
#                                  simulator's self-test (tests/k8s-sim/selftest.py), then
#                                  the Helm chart checks (scripts/chart-check.sh --all)
#
# Before that it makes sure that what the real-Flink tests (tests/real_flink.rs) need is there:
#   - a JDK 11+ with javac (17 preferred, its keytool for tests/flink_tls.rs), curl, openssl,
#     python3 with pip, for the chart checks
#     promtool (Debian's prometheus package) and lua5.1, for the browser tests chromium:
#     installed with apt-get when missing and running as root (apt-get update only when
#     something must be installed);
#   - Flink 2.3.0 and 1.20.5, from PyPI into ~/.cache/local-flink (once; ~570 MB).
# With everything present this preparation takes about a second.
#
# Environment: LOCAL_FLINK_CACHE (Flink download cache), FLINK_MONITOR_TEST_NO_APT=1 (never
# run apt-get; fail with a message instead).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
# The versions tests/real_flink.rs runs against.
FLINK_VERSIONS=(2.3.0 1.20.5)
# Where tests/real_flink/local_flink.rs keeps its port leases and cluster state dirs.
RUN_DIR="${TMPDIR:-/tmp}/flink-monitor-real-flink"

T0=$(date +%s)
say() { echo "test.sh [$(( $(date +%s) - T0 ))s] $*" >&2; }
die() { echo "test.sh: error: $*" >&2; exit 1; }

# ---------------------------------------------------------------- system packages

APT_UPDATED=0
apt_install() { # pkg...
  [ "${FLINK_MONITOR_TEST_NO_APT:-0}" != 1 ] || die "missing: $* (FLINK_MONITOR_TEST_NO_APT=1, so not installing)"
  [ "$(id -u)" = 0 ] || die "missing: $*; install them (e.g. sudo apt-get install $*) or run as root"
  command -v apt-get >/dev/null 2>&1 || die "missing: $*, and there is no apt-get to install them with"
  if [ "$APT_UPDATED" = 0 ]; then
    say "apt-get update (to install: $*)"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    APT_UPDATED=1
  fi
  say "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

java_major() { # the major version of `java` on PATH (or JAVA_HOME), empty if none
  local j="${JAVA_HOME:+$JAVA_HOME/bin/}java" v
  command -v "$j" >/dev/null 2>&1 || return 0
  v=$("$j" -XshowSettings:properties -version 2>&1 | awk -F'= ' '/java.specification.version/{print $2}' | tr -d '[:space:]')
  v=${v#1.}
  echo "${v%%.*}"
}

ensure_jdk() {
  local javac="${JAVA_HOME:+$JAVA_HOME/bin/}javac" major
  major=$(java_major)
  if [ -n "$major" ] && [ "$major" -ge 11 ] && command -v "$javac" >/dev/null 2>&1; then
    say "java $major with javac: ok"
    return
  fi
  say "a JDK 11+ with javac is missing (java: ${major:-none}); installing one"
  local p pkg=""
  apt_install_prepare_cache
  for p in openjdk-17-jdk-headless openjdk-21-jdk-headless default-jdk-headless; do
    if apt-cache show "$p" >/dev/null 2>&1; then pkg=$p; break; fi
  done
  [ -n "$pkg" ] || die "no JDK package found by apt-cache (tried openjdk-17/21-jdk-headless, default-jdk-headless)"
  apt_install "$pkg"
  major=$(java_major)
  [ -n "$major" ] && [ "$major" -ge 11 ] || die "Java 11+ still not found after installing $pkg"
  say "java $major with javac: installed"
}

apt_install_prepare_cache() { # apt-cache needs the package lists: update them once
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 || return 0
  [ "${FLINK_MONITOR_TEST_NO_APT:-0}" != 1 ] || return 0
  if [ "$APT_UPDATED" = 0 ]; then
    say "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    APT_UPDATED=1
  fi
}

ensure_tools() {
  local missing=()
  command -v curl >/dev/null 2>&1 || missing+=(curl ca-certificates)
  # The build: tikv-jemalloc-sys builds jemalloc (the binary's allocator) with make.
  command -v make >/dev/null 2>&1 || missing+=(make)
  command -v flock >/dev/null 2>&1 || missing+=(util-linux)
  command -v python3 >/dev/null 2>&1 || missing+=(python3)
  # tests/flink_tls.rs: local-flink.sh tls-certs exports PEM files with openssl.
  command -v openssl >/dev/null 2>&1 || missing+=(openssl)
  if ! command -v python3 >/dev/null 2>&1 || ! python3 -m pip --version >/dev/null 2>&1; then
    missing+=(python3-pip)
  fi
  # The chart checks: promtool (alert rule unit tests) and Lua 5.1 (the Argo CD health check).
  command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
  command -v lua5.1 >/dev/null 2>&1 || missing+=(lua5.1)
  # The browser tests (scripts/ui-test.sh): Debian's Chromium, driven by Playwright.
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  if [ ${#missing[@]} -gt 0 ]; then
    apt_install "${missing[@]}"
  fi
  say "make, curl, flock, python3 with pip, openssl, promtool, lua5.1: ok"
}

ensure_cargo() {
  command -v cargo >/dev/null 2>&1 || die "cargo is not on PATH; install Rust (rustup) first"
  say "$(cargo --version): ok"
}

# ---------------------------------------------------------------- Flink

install_flink() {
  local v home
  for v in "${FLINK_VERSIONS[@]}"; do
    home=$("$ROOT/scripts/local-flink.sh" install --version "$v") || die "installing Flink $v failed"
    say "Flink $v: $home"
  done
}

# Stops clusters that a killed test run may have left behind: a state dir whose port lease
# no live test process holds. The tests' own watchdogs normally did this already.
cleanup_clusters() {
  local lock state
  [ -d "$RUN_DIR" ] || return 0
  for lock in "$RUN_DIR"/port-*.lock; do
    [ -e "$lock" ] || continue
    state=${lock%.lock}
    [ -f "$state/jm.pid" ] || [ -f "$state/tm.pid" ] || continue
    # Only while holding the lease: a live test run (or its watchdog) holds it otherwise.
    LOCAL_FLINK_STATE="$state" flock -n "$lock" "$ROOT/scripts/local-flink.sh" stop 2>&1 \
      | sed 's/^/test.sh: cleanup: /' >&2 || true
  done
}

# ---------------------------------------------------------------- main

cd "$ROOT"
say "checking the tools the real-Flink tests need"
ensure_cargo
ensure_tools
ensure_jdk
install_flink
cleanup_clusters
trap cleanup_clusters EXIT

say "cargo test --all-targets${*:+ $*} (the real-Flink tests start Flink ${FLINK_VERSIONS[*]} on ports 18100-18199)"
T1=$(date +%s)
status=0
cargo test --all-targets "$@" || status=$?
say "cargo test finished in $(( $(date +%s) - T1 ))s with exit code $status"
[ "$status" = 0 ] || exit "$status"

# The web page in a real headless Chromium against real Flink 2.3 (tests/ui/).
say "scripts/ui-test.sh (browser tests)"
T1=$(date +%s)
FLINK_MONITOR_BIN="${FLINK_MONITOR_BIN:-$ROOT/target/debug/flink-monitor}" "$ROOT/scripts/ui-test.sh" || exit $?
say "browser tests finished in $(( $(date +%s) - T1 ))s"

# The API-server simulator the lifecycle scenarios run against keeps its own semantics.
say "tests/k8s-sim/selftest.py"
python3 "$ROOT/tests/k8s-sim/selftest.py" || exit $?

# The Helm chart: helm lint (a real Helm engine), render + Kubernetes schema validation,
# RBAC equal to `flink-monitor rbac`, the CRD copy; then the checks' own self-test.
say "scripts/chart-check.sh --all"
T1=$(date +%s)
FLINK_MONITOR_BIN="${FLINK_MONITOR_BIN:-$ROOT/target/debug/flink-monitor}" "$ROOT/scripts/chart-check.sh" --all || status=$?
say "chart checks finished in $(( $(date +%s) - T1 ))s with exit code $status"
exit "$status"
