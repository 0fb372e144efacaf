#!/usr/bin/env python3
"""summary.py RESULTS_FILE - the figures of one run-all.sh run as a table: ours vs peer,
ratios, and each target met or missed."""
import sys

rows = {}
for line in open(sys.argv[1]):
    if not line.startswith("RESULT "):
        continue
    parts = line.split()
    rows[parts[1]] = dict(p.split("=", 1) for p in parts[2:] if "=" in p)


def f(bench, key):
    try:
        return float(rows[bench][key])
    except (KeyError, ValueError):
        return None


out = []


def row(what, ours, peer, ratio, target, met):
    out.append((what, ours, peer, ratio, target, "-" if met is None else ("MET" if met else "MISSED")))


def fmt(v, spec="%.0f"):
    return "n/a" if v is None else spec % v


# 1. read path
for pin, how in [("", "shared cores"), ("pinned-", "pinned")]:
  for label, ours, peer, want in [("jobs/overview/ vs Flink /jobs/overview", "read-%smonitor-overview" % pin, "read-%sflink-overview" % pin, 20),
                                   ("job/{uuid}/status/ vs Flink /jobs/{jid}", "read-%smonitor-status" % pin, "read-%sflink-job" % pin, 5)]:
    if ours not in rows:
        continue
    label = "%s (%s)" % (label, how)
    a, b = f(ours, "rps"), f(peer, "rps")
    ratio = a / b if a and b else None
    row(label + ": req/s", fmt(a), fmt(b), fmt(ratio, "%.1fx"), ">= %dx" % want, None if ratio is None else ratio >= want)
    row(label + ": p50 ms", fmt(f(ours, "p50_ms"), "%.3f"), fmt(f(peer, "p50_ms"), "%.3f"), "", "", None)
    p99 = f(ours, "p99_ms")
    row(label + ": p99 ms", fmt(p99, "%.3f"), fmt(f(peer, "p99_ms"), "%.3f"), "", "<= 2 ms", None if p99 is None else p99 <= 2)
  h = f("read-%smonitor-healthz" % pin, "rps")
  if h:
    row("ceiling (%s): flink-monitor /healthz req/s, p99 ms" % how, "%s, %s" % (fmt(h), fmt(f("read-%smonitor-healthz" % pin, "p99_ms"), "%.3f")), "", "", "", None)

# 2. scale
o, p = "scale-flink-monitor", "scale-py-peer"


def scale(what, key, spec, target, ok):
    a, b = f(o, key), f(p, key)
    ratio = b / a if a and b else None
    row(what, fmt(a, spec), fmt(b, spec), fmt(ratio, "%.1fx less") if ratio else "", target,
        None if ok is None or a is None else ok(a))


scale("scale: time to ready (ms)", "ready_ms", "%.0f", "<= 1000 ms", lambda v: v <= 1000)
scale("scale, health checks on: average CPU (cores)", "cpu_cores", "%.4f", "", None)
scale("scale, health checks on: VmRSS (MiB)", "rss_mib", "%.1f", "<= 30 MiB", lambda v: v <= 30)
scale("scale: VmHWM (MiB)", "hwm_mib", "%.1f", "", None)
scale("scale: RssAnon (MiB; VmRSS less mapped files)", "rss_anon_mib", "%.1f", "", None)
scale("scale: root jobs/overview/ p50 (ms)", "overview_p50_ms", "%.1f", "<= 50 ms", lambda v: v <= 50)
scale("scale: root jobs/overview/ max (ms)", "overview_max_ms", "%.1f", "", None)
q = "scale-flink-monitor-polling"
if q in rows:
    cq, rq = f(q, "cpu_cores"), f(q, "rss_mib")
    row("scale, polling alone: average CPU (cores)", fmt(cq, "%.4f"), fmt(f(p, "cpu_cores"), "%.4f"), "", "<= 0.01",
        None if cq is None else cq <= 0.01)
    row("scale, polling alone: VmRSS (MiB)", fmt(rq, "%.1f"), fmt(f(p, "rss_mib"), "%.1f"), "", "", None)
    c = f(o, "cpu_cores")
    if c is not None and cq is not None:
        row("scale: health checks' CPU on top of polling (cores)", "%.4f" % (c - cq), "", "", "<= 0.01", c - cq <= 0.01)
if o in rows and "health_calls_per_job_per_interval" in rows[o]:
    r = rows[o]
    per = float(r["health_calls_per_job_per_interval"])
    row("scale: health calls per job per 30 s interval (simulator)",
        "%.2f (metrics %s, checkpoints %s, config %s; per job in %ss: %s..%s)" % (
            per, r["health_metrics_calls"], r["health_checkpoints_calls"], r["health_config_calls"], r["window_s"],
            r["health_calls_per_job_min"], r["health_calls_per_job_max"]), "", "", "<= 2", per <= 2)
if o in rows:
    for name in (o, q, p):
        r = rows.get(name)
        if not r:
            continue
        window, per = float(r["window_s"]), float(r["window_s"]) / 10
        ok = (float(r["polls_per_cluster_min"]) >= per - 1 and float(r["polls_per_cluster_max"]) <= per + 1
              and float(r["clusters_not_polled"]) == 0 and 8000 <= float(r["poll_gap_min_ms"])
              and float(r["poll_gap_max_ms"]) <= 12000)
        row("scale: cadence (%s)" % name.replace("scale-", ""),
            "%s polls in %ss; per cluster %s..%s; gap %s..%s ms" % (r["polls_in_window"], r["window_s"],
                                                                  r["polls_per_cluster_min"], r["polls_per_cluster_max"],
                                                                  r["poll_gap_min_ms"], r["poll_gap_max_ms"]),
            "", "", "1 poll / cluster / 10 s +-20%", ok)

# read path against the same server's /healthz (simulator)
for name, r in sorted(rows.items()):
    if not name.startswith("read-ratio-"):
        continue
    label = name[len("read-ratio-"):]
    sr, orr = float(r["status_rate_ratio"]), float(r["overview_rate_ratio"])
    sp, op = float(r["status_p99_ratio"]), float(r["overview_p99_ratio"])
    row("read path (%s): status/ req/s vs /healthz" % label, "%s vs %s" % (r["status_rps"], r["healthz_rps"]), "",
        "%.0f%%" % (100 * sr), ">= 75%", sr >= 0.75)
    row("read path (%s): overview/ req/s vs /healthz" % label, "%s vs %s" % (r["overview_rps"], r["healthz_rps"]), "",
        "%.0f%%" % (100 * orr), ">= 60%", orr >= 0.60)
    row("read path (%s): p99 status/, overview/ vs /healthz (ms)" % label,
        "%s, %s vs %s" % (r["status_p99_ms"], r["overview_p99_ms"], r["healthz_p99_ms"]), "",
        "%.2fx, %.2fx" % (sp, op), "<= 1.3x", sp <= 1.3 and op <= 1.3)

# 3. freshness
for interval, key in [(5, "freshness-interval-5s"), (1, "freshness-interval-1s")]:
    mx, med = f(key, "max_s"), f(key, "median_s")
    row("freshness, poll every %d s: median / max (s)" % interval,
        "%s / %s" % (fmt(med, "%.2f"), fmt(mx, "%.2f")),
        "Flink itself: %s / %s" % (fmt(f("freshness-flink_jobsoverview", "median_s"), "%.2f"),
                                   fmt(f("freshness-flink_jobsoverview", "max_s"), "%.2f")),
        "", "<= %d s" % (interval + 1), None if mx is None else mx <= interval + 1)

# 4. write amplification
w = rows.get("write_amplification")
if w:
    row("writes: PATCH in steady rounds (10,000 jobs)", w["steady_patches"] + " in %s rounds" % w["steady_rounds"], "", "",
        "0", w["steady_patches"] == "0")
    row("writes: one PATCH per state change", w["changes_written_once"], "", "", "exactly 1", w["changes_written_once"].lower() == "true")
    row("writes: steady reconcile of 10,000 jobs (ms)", w["steady_reconcile_ms_per_10k"], "", "", "", None)

# 5. coalescing
c = rows.get("coalescing")
if c:
    row("coalescing: Flink calls for 200 concurrent statusAndMetrics",
        "%s (+%s spread over 0.5 s)" % (c["calls_burst"], c["calls_spread_same_ttl"]),
        "cache off: %s" % c["calls_uncached"], c["ratio_uncached_vs_cached"] + "x fewer", "<= 1 set (6)",
        c["ok"].lower() == "true")

widths = [max(len(str(r[i])) for r in out + [("what", "ours", "peer", "ratio", "target", "")]) for i in range(6)]
head = ("figure", "flink-monitor", "peer", "ratio", "target", "")
print("| " + " | ".join(h.ljust(w) for h, w in zip(head, widths)) + " |")
print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
for r in out:
    print("| " + " | ".join(str(v).ljust(w) for v, w in zip(r, widths)) + " |")
