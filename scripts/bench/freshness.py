#!/usr/bin/env python3
"""freshness.py - benchmark 3: cancel a job through Flink's REST API and time how long each
flink-monitor takes to show it CANCELED (stdlib only).

    freshness.py --flink URL --monitor LABEL=URL [--monitor ...] --jobs NAME,NAME,...
                 [--max-wait S] [--seed N]

For each job (one sample per job): wait a random 0..max-wait s (so the cancel falls at a
random phase of the poll intervals), PATCH /jobs/{jid}?mode=cancel on Flink at t0, then poll
every monitor's /job/{name}/status/ and Flink's own /jobs/overview every ~10 ms until all
say CANCELED. Prints one line per sample, then `RESULT` lines (median and max per monitor).
"""
import argparse
import http.client
import json
import random
import statistics
import sys
import time
import urllib.parse


def conn_for(url):
    u = urllib.parse.urlsplit(url)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=5)


def get_json(conns, url, path, method="GET"):
    for attempt in range(2):
        c = conns.setdefault(url, conn_for(url))
        try:
            c.request(method, path)
            r = c.getresponse()
            body = r.read()
            return r.status, (json.loads(body) if body else None)
        except (http.client.HTTPException, OSError):
            c.close()
            conns.pop(url, None)
            if attempt:
                raise
    return None, None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--flink", required=True)
    ap.add_argument("--monitor", action="append", required=True, help="LABEL=URL")
    ap.add_argument("--jobs", required=True)
    ap.add_argument("--max-wait", type=float, default=5.0)
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rnd = random.Random(args.seed)
    monitors = [m.split("=", 1) for m in args.monitor]
    conns = {}
    _, overview = get_json(conns, args.flink, "/jobs/overview")
    jids = {j["name"]: j["jid"] for j in overview["jobs"] if j["state"] == "RUNNING"}
    samples = {label: [] for label, _ in monitors}
    samples["flink /jobs/overview"] = []
    for name in args.jobs.split(","):
        jid = jids.get(name)
        if not jid:
            print(f"freshness: job {name} is not RUNNING on Flink; skipped", file=sys.stderr)
            continue
        for label, url in monitors:  # every monitor must see it RUNNING first
            status, body = get_json(conns, url, f"/job/{name}/status/")
            if status != 200 or body["response"]["state"] != "RUNNING":
                print(f"freshness: {label} does not show {name} RUNNING ({status}); skipped", file=sys.stderr)
                jid = None
        if not jid:
            continue
        time.sleep(rnd.uniform(0, args.max_wait))
        t0 = time.monotonic()
        status, _ = get_json(conns, args.flink, f"/jobs/{jid}?mode=cancel", method="PATCH")
        if status != 202:
            print(f"freshness: cancel of {name} answered {status}; skipped", file=sys.stderr)
            continue
        pending = dict(monitors)
        pending["flink /jobs/overview"] = args.flink
        seen = {}
        while pending and time.monotonic() - t0 < args.timeout:
            for label, url in list(pending.items()):
                if label == "flink /jobs/overview":
                    _, body = get_json(conns, url, "/jobs/overview")
                    state = next((j["state"] for j in body["jobs"] if j["jid"] == jid), None)
                else:
                    status, body = get_json(conns, url, f"/job/{name}/status/")
                    state = body["response"]["state"] if status == 200 else None
                if state == "CANCELED":
                    seen[label] = time.monotonic() - t0
                    del pending[label]
            time.sleep(0.01)
        line = "  ".join(f"{label}: {seen[label]:.3f} s" if label in seen else f"{label}: >{args.timeout} s"
                         for label in samples)
        print(f"freshness: {name}: {line}", file=sys.stderr)
        for label in samples:
            samples[label].append(seen.get(label, float("inf")))
    for label, values in samples.items():
        if not values:
            continue
        key = label.replace(" ", "_").replace("/", "")
        print(f"RESULT freshness-{key} samples={len(values)} median_s={statistics.median(values):.3f} "
              f"max_s={max(values):.3f} min_s={min(values):.3f} all_s={','.join(f'{v:.2f}' for v in values)}")


if __name__ == "__main__":
    main()
