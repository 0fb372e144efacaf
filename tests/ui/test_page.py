"""The web page in a real headless Chromium against real Flink 2.3 clusters (conftest.py).

Tests run in file order and share the clusters: the one that stops a cluster comes last.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

from playwright.sync_api import expect

from conftest import CYRILLIC, HOSTILE, POLL_INTERVAL_S
from flink import ROOT

# Time for health checks to judge: a check every 2 s, stalled after 20 s without a checkpoint.
HEALTH_PATIENCE_MS = 60_000
# Cells after the job's name (a <th>): cluster, state, health, restarts, checkpoint,
# started, duration, exception.
CLUSTER, STATE, HEALTH, RESTARTS, CHECKPOINT, STARTED, DURATION, EXCEPTION = range(8)


def open_list(page, query: str = ""):
    page.goto(f"{page.monitor}/ui/{query}")
    expect(page.locator("#summary")).to_contain_text("jobs on 2 clusters")


def rows_named(page, name: str):
    return page.locator("#rows tr").filter(has=page.get_by_role("link", name=name, exact=True))


def row(page, name: str):
    found = rows_named(page, name)
    expect(found).to_have_count(1)
    return found


def cell(row_locator, column: int):
    return row_locator.locator("td").nth(column)


def job_names(page) -> list[str]:
    return page.locator("#rows a.job-link").all_text_contents()


def test_every_sample_job_shows_with_its_state_and_health(page, fleet):
    open_list(page)
    expected = {
        # name: (state, health, reasons or None)
        "orders-enrichment": ("RUNNING", "Healthy", None),
        CYRILLIC: ("RUNNING", "Healthy", None),
        "daily-report": ("FINISHED", "Healthy", None),
        "payment-audit": ("FAILED", "Degraded", "Failed"),
        HOSTILE: ("FAILED", "Degraded", "Failed"),
        "fraud-scoring": (re.compile("RUNNING|RESTARTING"), "Degraded", "Restarting"),
        "clickstream-sessions": ("RUNNING", "Degraded", "CheckpointStalled"),
        "sessions-backfill": ("RUNNING", "Healthy", None),
        "nightly-export": ("FINISHED", "Healthy", None),
    }
    for name, (state, health, reason) in expected.items():
        found = row(page, name)
        expect(cell(found, STATE)).to_have_text(state)
        expect(cell(found, HEALTH)).to_contain_text(health, timeout=HEALTH_PATIENCE_MS)
        if reason:
            expect(cell(found, HEALTH)).to_contain_text(reason, timeout=HEALTH_PATIENCE_MS)
    # One name, two jobs: both listed, each with its own state.
    twins = rows_named(page, "inventory-sync")
    expect(twins).to_have_count(2)
    states = sorted(cell(twins.nth(i), STATE).inner_text() for i in range(2))
    assert states == ["CANCELED", "RUNNING"], states
    canceled = twins.filter(has_text="CANCELED")
    expect(cell(canceled, HEALTH)).to_contain_text("Unknown")
    expect(cell(canceled, HEALTH)).to_contain_text("Canceled")
    # Cluster, restarts, checkpoint age, start, duration and the exception's first line.
    orders = row(page, "orders-enrichment")
    expect(cell(orders, CLUSTER)).to_contain_text("main")
    expect(cell(orders, CLUSTER)).to_contain_text("static")
    expect(orders.locator(".last-known")).to_be_hidden()
    expect(cell(orders, CLUSTER).get_by_text("unreachable")).to_be_hidden()
    expect(cell(orders, RESTARTS)).to_have_text("0", timeout=HEALTH_PATIENCE_MS)
    expect(cell(orders, CHECKPOINT)).to_have_text(re.compile(r"\d+ s ago"), timeout=HEALTH_PATIENCE_MS)
    expect(cell(orders, STARTED)).to_have_text(re.compile(r"ago$"))
    expect(cell(orders, STARTED)).to_have_attribute("title", re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d local time"))
    expect(cell(orders, DURATION)).to_have_text(re.compile(r"^\d+ (s|min)"))
    expect(cell(row(page, "fraud-scoring"), RESTARTS)).to_have_text(re.compile(r"^[1-9]\d*$"), timeout=HEALTH_PATIENCE_MS)
    expect(cell(row(page, "payment-audit"), EXCEPTION)).to_contain_text(
        "flinklab intentional failure at record 50 of job payment-audit", timeout=HEALTH_PATIENCE_MS)
    # The summary counts by state, degraded jobs and unreachable clusters.
    summary = page.locator("#summary")
    expect(summary).to_contain_text("12 jobs on 2 clusters")
    expect(summary).to_contain_text("2 FAILED")
    expect(summary).to_contain_text("4 degraded jobs")
    expect(summary).to_contain_text("0 unreachable clusters")


def test_screenshot_of_the_demo_jobs(page, fleet):
    """docs/ui.png in the README: taken here with FLINK_MONITOR_UI_SCREENSHOT=docs/ui.png."""
    open_list(page, "?cluster=main")
    expect(cell(row(page, "clickstream-sessions"), HEALTH)).to_contain_text("CheckpointStalled",
                                                                         timeout=HEALTH_PATIENCE_MS)
    shot = ROOT / "target" / "ui-screenshot.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    wanted = os.environ.get("FLINK_MONITOR_UI_SCREENSHOT")
    if wanted:
        shutil.copy(shot, ROOT / wanted)

    # Light and dark follow the browser's setting.
    background = "() => getComputedStyle(document.body).backgroundColor"
    assert page.evaluate(background) == "rgb(255, 255, 255)"
    page.emulate_media(color_scheme="dark")
    assert page.evaluate(background) == "rgb(18, 21, 24)"


def test_filters_and_sort_live_in_the_url(page, fleet):
    open_list(page)
    expect(page.locator("#rows tr")).to_have_count(12)
    page.get_by_label("Search", exact=True).fill("inventory")
    expect(page.locator("#rows tr")).to_have_count(2)
    expect(page).to_have_url(re.compile(r"\?q=inventory$"))
    page.get_by_label("State", exact=True).select_option("RUNNING")
    expect(page.locator("#rows tr")).to_have_count(1)
    expect(page.locator("#count")).to_have_text("Showing 1 job of 12")
    expect(page).to_have_url(re.compile(r"q=inventory&state=RUNNING"))
    # A shared link opens with the same filter.
    page.goto(page.url)
    expect(page.locator("#rows tr")).to_have_count(1)
    expect(page.get_by_label("Search", exact=True)).to_have_value("inventory")
    expect(page.get_by_label("State", exact=True)).to_have_value("RUNNING")

    page.get_by_role("button", name="Clear filters").click()
    page.get_by_label("Health", exact=True).select_option("Degraded")
    expect(page.locator("#rows tr")).to_have_count(4, timeout=HEALTH_PATIENCE_MS)
    page.get_by_label("Health", exact=True).select_option("")
    page.get_by_label("Cluster", exact=True).select_option("doomed")
    expect(page.locator("#rows tr")).to_have_count(2)
    assert sorted(job_names(page)) == ["nightly-export", "sessions-backfill"]
    page.get_by_label("Cluster", exact=True).select_option("")
    page.get_by_label("Namespace", exact=True).select_option("(static)")
    expect(page.locator("#rows tr")).to_have_count(12)

    # Sorting: by name by default, descending on a second click, any column.
    assert job_names(page)[0] == HOSTILE, "symbols sort before letters"
    header = page.locator('#jobs th[data-key="name"]')
    header.get_by_role("button").click()
    expect(header).to_have_attribute("aria-sort", "descending")
    expect(page).to_have_url(re.compile(r"sort=name&dir=desc|dir=desc"))
    assert job_names(page)[0] == CYRILLIC, job_names(page)
    page.locator('#jobs th[data-key="state"]').get_by_role("button").click()
    states = page.locator("#rows tr td:nth-of-type(2)").all_text_contents()
    assert states == sorted(states), states
    page.locator('#jobs th[data-key="restarts"]').get_by_role("button").click()
    page.locator('#jobs th[data-key="restarts"]').get_by_role("button").click()
    expect(page.locator("#rows tr").first.locator("th a")).to_have_text("fraud-scoring")
    page.goto(page.url)
    expect(page.locator("#rows tr").first.locator("th a")).to_have_text("fraud-scoring")


def test_a_job_page_shows_status_metrics_health_and_the_exception(page, fleet):
    open_list(page, "?q=payment")
    page.get_by_role("link", name="payment-audit", exact=True).click()
    expect(page).to_have_url(re.compile(r"job=main%2F[0-9a-f]{32}"))
    expect(page.locator("#job-title")).to_have_text("payment-audit")
    exception = page.locator("#root-exception")
    expect(exception).to_contain_text("java.lang.RuntimeException: flinklab intentional failure at record 50")
    expect(exception).to_contain_text("at flinklab.LabJob$Step.map")
    view = page.locator("#job-view")
    expect(view.locator("table.vertices tbody tr")).to_have_count(2)
    expect(view.locator("table.vertices")).to_contain_text("Source: flinklab-datagen")
    expect(view).to_contain_text("Records read (numRecordsRead)")
    expect(view).to_contain_text("Degraded (Failed)")
    expect(view).to_contain_text("Restarts in the last 10 min")
    expect(view).to_contain_text(fleet.jids["payment-audit"][0])
    expect(view).to_contain_text("Flink version")
    link = view.get_by_role("link", name="Open this job in Flink's web UI")
    expect(link).to_have_attribute("href", f"{fleet.main.url}/#/job/completed/{fleet.jids['payment-audit'][0]}/overview")
    expect(link).to_have_attribute("rel", "noopener noreferrer")
    # Back keeps the filter.
    view.get_by_role("link", name="← All jobs").click()
    expect(page.locator("#list-view")).to_be_visible()
    expect(page.get_by_label("Search", exact=True)).to_have_value("payment")
    expect(page).to_have_url(re.compile(r"/ui/\?q=payment$"))
    # The browser's back and forward work too; an open job survives a reload.
    page.go_back()
    expect(page.locator("#job-title")).to_have_text("payment-audit")
    page.reload()
    expect(page.locator("#root-exception")).to_contain_text("flinklab intentional failure")


def test_hostile_names_and_exceptions_render_as_text(page, fleet):
    open_list(page)
    hostile = row(page, HOSTILE)
    expect(hostile.locator("th a")).to_have_text(HOSTILE)
    assert page.locator("#rows img, #rows script").count() == 0
    expect(cell(hostile, EXCEPTION)).to_contain_text("</script>", timeout=HEALTH_PATIENCE_MS)
    hostile.locator("th a").click()
    expect(page.locator("#job-title")).to_have_text(HOSTILE)
    exception = page.locator("#root-exception")
    expect(exception).to_contain_text(f"of job {HOSTILE}")
    assert page.locator("#job-view img, #job-view script").count() == 0
    # The policy the server sent forbids inline script besides.
    policy = page.evaluate("""async () => (await fetch("./")).headers.get("content-security-policy")""")
    assert policy.startswith("default-src 'self'") and "unsafe-inline" not in policy, policy


def test_keyboard_moves_between_jobs_and_opens_one(page, fleet):
    open_list(page, "?cluster=main&sort=name")
    page.keyboard.press("/")
    expect(page.get_by_label("Search", exact=True)).to_be_focused()
    page.get_by_label("Search", exact=True).fill("-")
    expect(page.locator("#rows tr")).to_have_count(8)
    first = page.locator("#rows a.job-link").first
    first.focus()
    expect(first).to_have_text("cancel-me")
    page.keyboard.press("ArrowDown")
    expect(page.locator("#rows a.job-link").nth(1)).to_be_focused()
    page.keyboard.press("ArrowUp")
    expect(first).to_be_focused()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    expect(page.locator("#job-title")).to_have_text("clickstream-sessions")
    page.keyboard.press("Escape")
    expect(page.locator("#list-view")).to_be_visible()
    expect(page.get_by_label("Search", exact=True)).to_have_value("-")


def test_a_job_cancelled_in_flink_changes_its_row_live(page, fleet):
    # Enough rows to scroll: a short window.
    page.set_viewport_size({"width": 1400, "height": 300})
    open_list(page, "?sort=name")
    target = row(page, "cancel-me")
    expect(cell(target, STATE)).to_have_text("RUNNING")
    page.evaluate("""() => { window.scrollTo(0, 120);
        document.querySelector('#rows tr[data-key$="/%s"]').markedBeforeCancel = true; }"""
                  % fleet.jids["cancel-me"][0])
    scrolled = page.evaluate("window.scrollY")
    assert scrolled > 0
    fleet.main.cancel(fleet.jids["cancel-me"][0])
    seen_by_flink = fleet.main.wait_state(fleet.jids["cancel-me"][0], "CANCELED")
    expect(cell(target, STATE)).to_have_text("CANCELED", timeout=15_000)
    shown = time.monotonic()
    print(f"\ncancel-me: CANCELED on the page {shown - seen_by_flink:.2f} s after Flink listed it "
          f"(goal: within the poll interval {POLL_INTERVAL_S} s + 2 s)")
    expect(cell(target, HEALTH)).to_contain_text("Canceled")
    # The same row element, updated in place: no flicker, the scroll position stays.
    assert page.evaluate("""() => document.querySelector('#rows tr[data-key$="/%s"]').markedBeforeCancel === true"""
                         % fleet.jids["cancel-me"][0])
    assert page.evaluate("window.scrollY") == scrolled


def test_a_stopped_cluster_shows_unreachable_with_its_last_known_jobs(page, fleet):
    open_list(page, "?cluster=doomed")
    expect(page.locator("#rows tr")).to_have_count(2)
    expect(page.locator("#unreachable")).to_be_hidden()
    fleet.doomed.stop()
    section = page.locator("#unreachable")
    expect(section).to_be_visible(timeout=15_000)
    item = section.locator('li[data-cluster="doomed"]')
    expect(item).to_contain_text(re.compile(r"[Cc]onnect|refused|error", re.I))
    expect(item).to_contain_text(re.compile(r"Last answer \d+ s ago"))
    expect(item).to_contain_text("2 jobs shown as last known")
    for name in ["sessions-backfill", "nightly-export"]:
        found = row(page, name)
        expect(found.locator(".last-known")).to_be_visible()
        expect(cell(found, HEALTH)).to_contain_text("ClusterUnreachable")
        expect(cell(found, CLUSTER).get_by_text("unreachable")).to_be_visible()
    expect(page.locator("#summary")).to_contain_text("1 unreachable cluster")
    # Its job page says what cannot be read, and shows the last known job.
    row(page, "sessions-backfill").locator("th a").click()
    expect(page.locator("#job-title")).to_have_text("sessions-backfill")
    expect(page.locator("#job-view")).to_contain_text("last known")
    expect(page.locator("#job-view .error").first).to_contain_text("cannot be reached")
