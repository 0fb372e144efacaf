#!/usr/bin/env python3
"""py_peer.py - the benchmark's peer: flink-monitor's polling and overview in plain Python.

Standard library only. It does what flink-monitor's poll loop and root `jobs/overview/`
do, the straightforward Python way, so the scale benchmark can measure both the same way:
- polls `GET /jobs/overview` of every cluster once per interval, with a thread pool and
  one keep-alive http.client connection per cluster, into an in-memory dict;
- serves `GET /jobs/overview/` (every job of every cluster, with `cluster` and `duration`
  recomputed for running jobs, in the contract's `{"response", "messages"}` envelope) and
  `GET /readyz` (200 once every cluster was polled once) with http.server.

    py_peer.py --listen 127.0.0.1:18311 --interval 10 --clusters NAME=URL,NAME=URL,...
    (or --clusters-file FILE with that list)
"""
import argparse
import http.client
import http.server
import json
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from json_handler import JsonHandler  # noqa: E402  (scripts/json_handler.py)


class Poller:
    def __init__(self, clusters, interval, workers, timeout):
        self.clusters = clusters  # [(name, host, port)]
        self.interval = interval
        self.timeout = timeout
        self.pool = ThreadPoolExecutor(max_workers=workers)
        self.lock = threading.Lock()
        self.snapshots = {}  # name -> {"jobs": [...], "at": ms}
        self.polled = set()
        self.conns = {}  # name -> HTTPConnection (one poll of a cluster at a time)
        self.polls = 0
        self.errors = 0

    def poll(self, cluster):
        name, host, port = cluster
        conn = self.conns.get(name)
        try:
            if conn is None:
                conn = http.client.HTTPConnection(host, port, timeout=self.timeout)
                self.conns[name] = conn
            conn.request("GET", "/jobs/overview")
            resp = conn.getresponse()
            body = resp.read()
            if resp.status != 200:
                raise RuntimeError("HTTP %d" % resp.status)
            jobs = json.loads(body)["jobs"]
            with self.lock:
                self.snapshots[name] = {"jobs": jobs, "at": int(time.time() * 1000)}
                self.polled.add(name)
                self.polls += 1
        except Exception:
            if conn is not None:
                conn.close()
            self.conns.pop(name, None)
            with self.lock:
                self.polled.add(name)
                self.errors += 1

    def run(self):
        next_round = time.monotonic()
        while True:
            for cluster in self.clusters:
                self.pool.submit(self.poll, cluster)
            next_round += self.interval
            time.sleep(max(0.0, next_round - time.monotonic()))

    def ready(self):
        with self.lock:
            return len(self.polled) == len(self.clusters)

    def overview(self):
        now = int(time.time() * 1000)
        with self.lock:
            snapshots = list(self.snapshots.items())
        jobs = []
        for name, snap in sorted(snapshots):
            for job in snap["jobs"]:
                end = job.get("end-time", -1)
                start = job.get("start-time", 0)
                duration = job.get("duration", 0) if end is not None and end >= 0 else max(0, now - start)
                jobs.append({
                    "jid": job.get("jid"), "name": job.get("name"), "state": job.get("state"),
                    "start-time": start, "end-time": end, "duration": duration,
                    "tasks": job.get("tasks", {}), "cluster": name,
                })
        return {"response": {"jobs": jobs}, "messages": []}


def handler_for(poller):
    class Handler(JsonHandler):
        def do_GET(self):
            path = urllib.parse.urlsplit(self.path).path.rstrip("/")
            if path == "/jobs/overview":
                self.send_json(200, poller.overview())
            elif path == "/readyz":
                if poller.ready():
                    self.send_json(200, {"response": "ok", "messages": []})
                else:
                    self.send_json(503, {"errorCode": 5000, "message": "not ready", "errors": []})
            elif path == "/stats":
                with poller.lock:
                    self.send_json(200, {"polls": poller.polls, "errors": poller.errors})
            else:
                self.send_json(404, {"errorCode": 4004, "message": "no such path", "errors": []})

    return Handler


def parse_clusters(text):
    clusters = []
    for item in text.replace("\n", ",").split(","):
        item = item.strip()
        if not item:
            continue
        name, url = item.split("=", 1)
        u = urllib.parse.urlsplit(url)
        clusters.append((name, u.hostname, u.port or 80))
    return clusters


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--listen", default="127.0.0.1:18311")
    ap.add_argument("--interval", type=float, default=10.0)
    ap.add_argument("--clusters", default="")
    ap.add_argument("--clusters-file")
    ap.add_argument("--workers", type=int, default=32)
    ap.add_argument("--timeout", type=float, default=5.0)
    ap.add_argument("--max-runtime", type=float, default=900.0)
    args = ap.parse_args()
    text = args.clusters
    if args.clusters_file:
        with open(args.clusters_file) as f:
            text += "," + f.read()
    poller = Poller(parse_clusters(text), args.interval, args.workers, args.timeout)
    threading.Thread(target=poller.run, daemon=True).start()
    host, port = args.listen.rsplit(":", 1)
    server = http.server.ThreadingHTTPServer((host, int(port)), handler_for(poller))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    time.sleep(args.max_runtime)


if __name__ == "__main__":
    main()
