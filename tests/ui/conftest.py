"""Shared parts of the browser tests: two real Flink 2.3 clusters with the sample jobs of
scripts/demo.sh (and a hostile name), one flink-monitor binary polling both, and one
headless Debian Chromium driven by Playwright. Each test gets a fresh browser context and
fails if the page logged a console error, threw, opened a dialog, or sent a request to
any origin but flink-monitor's.

UI_TEST_MUTATE="asset|old|new" (one per line) serves the page with `old` replaced by `new`
in that asset (through the browser, no rebuild): how each test was seen failing against a
broken page (scripts/ui-mutations.sh runs each mutation against the tests it must fail).
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from flink import ROOT, LocalFlink

BIN = Path(os.environ.get("FLINK_MONITOR_BIN", ROOT / "target" / "debug" / "flink-monitor"))
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# This machine's network refuses Chromium's background connections; none are needed.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
POLL_INTERVAL_S = 1
HOSTILE = "<img src=x onerror=alert(1)></script><script>alert(2)</script>"
CYRILLIC = "отчёт по заказам"

# (cluster, Flink job name, LabJob kind): the jobs of scripts/demo.sh, plus a hostile
# name (whose failure message repeats it, so its exception holds `</script>`) and a job
# to cancel; the `doomed` cluster is stopped by a test.
SAMPLES = [
    ("main", "orders-enrichment", "stream"),
    ("main", "daily-report", "finish"),
    ("main", "payment-audit", "fail"),
    ("main", CYRILLIC, "stream"),
    ("main", "fraud-scoring", "restart"),
    ("main", "clickstream-sessions", "stall"),
    ("main", HOSTILE, "fail"),
    ("main", "cancel-me", "stream"),
    ("doomed", "sessions-backfill", "stream"),
    ("doomed", "nightly-export", "finish"),
]


@dataclass
class Fleet:
    main: LocalFlink
    doomed: LocalFlink
    # name -> [jid, ...] in submission order
    jids: dict[str, list[str]] = field(default_factory=dict)


@pytest.fixture(scope="session")
def fleet():
    clusters = {"main": LocalFlink(slots=8), "doomed": LocalFlink(slots=2)}
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(LocalFlink.start, clusters.values()))
        fleet = Fleet(clusters["main"], clusters["doomed"])

        def submit(sample):
            cluster, name, kind = sample
            return name, clusters[cluster].submit(name, kind)

        def twins():
            # One name twice: one runs, the newer one is cancelled (the API picks the first).
            first = fleet.main.submit("inventory-sync", "stream")
            second = fleet.main.submit("inventory-sync", "stream")
            fleet.main.cancel(second)
            fleet.main.wait_state(second, "CANCELED")
            return "inventory-sync", [first, second]

        with ThreadPoolExecutor(max_workers=6) as pool:
            futures = [pool.submit(submit, s) for s in SAMPLES] + [pool.submit(twins)]
            for future in futures:
                name, jid = future.result()
                fleet.jids.setdefault(name, []).extend(jid if isinstance(jid, list) else [jid])
        yield fleet
    finally:
        for cluster in clusters.values():
            try:
                cluster.stop()
            except Exception as error:  # noqa: BLE001 - the watchdog stops it anyway
                print(f"ui tests: stopping {cluster.describe()}: {error}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def monitor(fleet, tmp_path_factory):
    assert BIN.exists(), f"{BIN} is missing: cargo build first (scripts/test.sh does)"
    port = free_port()
    log = tmp_path_factory.mktemp("monitor") / "flink-monitor.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [str(BIN), "run", "--listen", f"127.0.0.1:{port}", "--kubernetes", "off",
             "--cluster", f"main={fleet.main.url}", "--cluster", f"doomed={fleet.doomed.url}",
             f"--poll-interval={POLL_INTERVAL_S}s", "--health-interval=2s", "--max-checkpoint-age=20s"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(base + "/readyz", timeout=2) as answer:
                if answer.status == 200:
                    break
        except OSError:
            pass
        assert process.poll() is None, f"flink-monitor exited: {log.read_text()}"
        assert time.monotonic() < deadline, f"flink-monitor not ready in 60 s: {log.read_text()}"
        time.sleep(0.1)
    yield base
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="session")
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class Watched:
    errors: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)


def mutate(context, base: str) -> None:
    """UI_TEST_MUTATE: one `asset|old|new` per line, applied as the browser loads the asset."""
    changes: dict[str, list[tuple[str, str]]] = {}
    for line in filter(None, os.environ.get("UI_TEST_MUTATE", "").splitlines()):
        asset, old, new = line.split("|", 2)
        changes.setdefault(asset, []).append((old, new))
    for asset, replacements in changes.items():
        def serve(route, asset=asset, replacements=replacements):
            answer = route.fetch()
            text = answer.text()
            for old, new in replacements:
                assert old in text, f"UI_TEST_MUTATE: {old!r} is not in {asset}"
                text = text.replace(old, new)
            route.fulfill(response=answer, body=text)

        context.route(f"{base}/ui/{asset}", serve)


@pytest.fixture
def page(browser, monitor):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    mutate(context, monitor)
    page = context.new_page()
    watched = Watched()
    page.on("console", lambda m: m.type == "error" and watched.errors.append(f"console: {m.text}"))
    page.on("pageerror", lambda e: watched.errors.append(f"uncaught: {e}"))
    page.on("request", lambda r: r.url.startswith(monitor + "/") or watched.foreign.append(r.url))

    def on_dialog(dialog):
        watched.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.monitor = monitor
    yield page
    context.close()
    assert not watched.dialogs, f"the page opened dialogs (script ran from data?): {watched.dialogs}"
    assert not watched.errors, f"the page logged errors: {watched.errors}"
    assert not watched.foreign, f"requests left flink-monitor's origin: {watched.foreign}"
