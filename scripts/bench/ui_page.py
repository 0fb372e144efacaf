#!/usr/bin/env python3
"""The web page at scale, measured in headless Chromium (run by scripts/bench/ui.sh).

Opens /ui/ ROUNDS times, each in a fresh browser context (nothing cached), and reads the
page's own timings (window.flinkMonitorTimings, kept by app.js):
  - first render: from navigation start to the table's first render with every job;
  - bytes of the first answer (over the wire, gzip) and of each idle refresh (a 304);
  - a refresh that carries a change: the simulator cancels one job, the next poll sees it,
    the page's next refresh fetches the clusters that changed and renders: time from the
    refresh's request to its render done, and bytes over the wire;
  - freshness: from the simulator's change to the row showing the new state (includes the
    wait for the next poll and the next refresh).
Prints RESULT lines: ui_first_render_ms, ui_refresh_ms, ... one per round.
"""

import json
import sys
import time
import urllib.request

from playwright.sync_api import sync_playwright

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def post(url):
    request = urllib.request.Request(url, method="POST", data=b"")
    with urllib.request.urlopen(request, timeout=10) as answer:
        return answer.read()


def main(base, sim, rounds, chromium, jobs_per_cluster):
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=ARGS)
        for round_ in range(rounds):
            context = browser.new_context(viewport={"width": 1400, "height": 900})
            page = context.new_page()
            page.goto(base + "/ui/")
            page.wait_for_function("() => window.flinkMonitorTimings && window.flinkMonitorTimings.firstRender !== null",
                                   timeout=60_000)
            timings = page.evaluate("() => window.flinkMonitorTimings")
            first = timings["refreshes"][0]
            summary = page.inner_text("#summary")
            rows = page.locator("#rows tr").count()
            print(f"RESULT ui round={round_} first_render_ms={timings['firstRender']:.0f} "
                  f"first_fetch_render_ms={first['ms']:.0f} first_bytes={first['bytes']} "
                  f"first_body_bytes={first['bodyBytes']} rows_on_page={rows} summary={summary.split(':')[0]!r}")
            # Idle refreshes: 304s.
            page.wait_for_function("() => window.flinkMonitorTimings.refreshes.filter(r => r.notModified).length >= 3",
                                   timeout=30_000)
            idle = [r for r in page.evaluate("() => window.flinkMonitorTimings.refreshes") if r.get("notModified")]
            print(f"RESULT ui round={round_} idle_refresh_bytes={idle[-1]['bytes']} idle_refresh_ms={idle[-1]['ms']:.1f}")
            # A change: cancel job 0 of cluster `round_ + 1` in the simulator; show that cluster's
            # rows first (sorted by cluster), so the row is on the page.
            cluster = round_ + 1
            name = f"sim-{cluster:04d}"
            changed = len([r for r in page.evaluate("() => window.flinkMonitorTimings.refreshes") if not r.get("notModified")])
            started = time.monotonic()
            post(f"{sim}/state?cluster={cluster}&job=0&state=CANCELED")
            page.wait_for_function(
                f"() => window.flinkMonitorTimings.refreshes.filter(r => !r.notModified).length > {changed}",
                timeout=60_000)
            refresh = [r for r in page.evaluate("() => window.flinkMonitorTimings.refreshes") if not r.get("notModified")][-1]
            page.get_by_label("Search", exact=True).fill(name)
            page.locator("#rows tr td:nth-of-type(2)", has_text="CANCELED").first.wait_for(timeout=30_000)
            fresh = time.monotonic() - started
            print(f"RESULT ui round={round_} refresh_ms={refresh['ms']:.1f} refresh_bytes={refresh['bytes']} "
                  f"refresh_clusters={refresh['clusters']} change_to_row_s={fresh:.2f}")
            post(f"{sim}/state?cluster={cluster}&job=0&state=RUNNING")
            context.close()
        browser.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5]))
