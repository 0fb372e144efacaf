#!/usr/bin/env bash
# scripts/ui-test.sh - the web page's browser tests (tests/ui/): Playwright for Python drives
# Debian's Chromium (/usr/bin/chromium) against two real Flink 2.3 clusters and the
# flink-monitor binary ($FLINK_MONITOR_BIN, else target/debug/flink-monitor).
#
#   scripts/ui-test.sh [PYTEST ARGS...]
#
# Installs what it needs: Debian's `chromium` with apt-get (as root) when missing, and
# tests/ui/requirements.txt (playwright, pytest) from PyPI into a venv under target/ (once;
# again when the requirements change). Playwright's own browser download is never used.
# scripts/test.sh runs it after `cargo test`. About two and a half minutes, most of it
# starting Flink and submitting the sample jobs.
#
# Environment: UI_TEST_VENV (venv dir, default target/ui-test-venv), PYTHON (default
# python3), CHROMIUM (default /usr/bin/chromium), FLINK_MONITOR_BIN,
# FLINK_MONITOR_UI_SCREENSHOT=docs/ui.png (also write the README's screenshot),
# UI_TEST_MUTATE="asset|old|new" (serve a broken page: see tests/ui/conftest.py).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
VENV="${UI_TEST_VENV:-$ROOT/target/ui-test-venv}"
PYTHON="${PYTHON:-python3}"
REQUIREMENTS="$ROOT/tests/ui/requirements.txt"
export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"

say() { echo "ui-test.sh: $*" >&2; }
die() { echo "ui-test.sh: error: $*" >&2; exit 1; }

apt_install() { # pkg...
  [ "${FLINK_MONITOR_TEST_NO_APT:-0}" != 1 ] || die "missing: $* (FLINK_MONITOR_TEST_NO_APT=1, so not installing)"
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 || die "missing: $*; install them (apt-get install $*)"
  say "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

[ -x "$CHROMIUM" ] || apt_install chromium
[ -x "$CHROMIUM" ] || die "no Chromium at $CHROMIUM after installing Debian's chromium"

if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV"
  if ! "$PYTHON" -m venv "$VENV" >/dev/null 2>&1; then
    rm -rf "$VENV"
    apt_install python3-venv
    "$PYTHON" -m venv "$VENV" || die "cannot create a venv with $PYTHON"
  fi
fi
STAMP="$VENV/.ui-test-requirements"
if ! cmp -s "$REQUIREMENTS" "$STAMP"; then
  say "installing tests/ui/requirements.txt from PyPI into $VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REQUIREMENTS" \
    || die "pip install -r $REQUIREMENTS failed (PyPI reachable?)"
  cp "$REQUIREMENTS" "$STAMP"
fi

cd "$ROOT"
exec "$VENV/bin/python" -m pytest tests/ui -p no:cacheprovider -q -rA "$@"
