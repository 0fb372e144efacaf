#!/usr/bin/env bash
# scripts/chart-check.sh - lint, render and validate the Helm chart (charts/flink-monitor).
#
#   scripts/chart-check.sh               the checks (chart, RBAC, CRD copy, Dockerfile)
#   scripts/chart-check.sh --self-test   only: breakages of a chart copy must be caught
#   scripts/chart-check.sh --all         both (what CI should run)
#
# Installs what scripts/chart-check.py needs from PyPI (scripts/chart-check-requirements.txt)
# into a venv under target/ (once; again when the requirements change), then runs it. It
# needs python3 with venv, promtool and lua5.1 (Debian: prometheus, lua5.1; scripts/test.sh
# installs them) and the flink-monitor binary: $FLINK_MONITOR_BIN if set, else
# a debug build made with `cargo build`. Network: PyPI only, on the first run.
#
# Environment: CHART_CHECK_VENV (venv dir, default target/chart-check-venv),
# PYTHON (interpreter for the venv, default python3), FLINK_MONITOR_BIN.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
VENV="${CHART_CHECK_VENV:-$ROOT/target/chart-check-venv}"
PYTHON="${PYTHON:-python3}"
REQUIREMENTS="$ROOT/scripts/chart-check-requirements.txt"

die() { echo "chart-check.sh: error: $*" >&2; exit 1; }

command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found; install Python 3.11+ (e.g. apt-get install python3 python3-venv)"

if [ ! -x "$VENV/bin/python" ]; then
  echo "chart-check.sh: creating $VENV" >&2
  if ! "$PYTHON" -m venv "$VENV" >/dev/null 2>&1; then
    rm -rf "$VENV"
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "chart-check.sh: installing python3-venv" >&2
      DEBIAN_FRONTEND=noninteractive apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
      "$PYTHON" -m venv "$VENV" || die "cannot create a venv with $PYTHON"
    else
      die "cannot create a venv with $PYTHON; install python3-venv"
    fi
  fi
fi

# Install again only when the requirements changed.
STAMP="$VENV/.chart-check-requirements"
if ! cmp -s "$REQUIREMENTS" "$STAMP"; then
  echo "chart-check.sh: installing $(grep -cv '^\s*\(#\|$\)' "$REQUIREMENTS") packages from PyPI into $VENV" >&2
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --ignore-requires-python \
    -r "$REQUIREMENTS" || die "pip install -r $REQUIREMENTS failed (PyPI reachable?)"
  cp "$REQUIREMENTS" "$STAMP"
fi

exec "$VENV/bin/python" "$ROOT/scripts/chart-check.py" "$@"
