#!/usr/bin/env python3
"""scripts/bench/kube_scale.py - Kubernetes mode at scale (run by kube_scale.sh).

For each N in --services and each build: a fresh API-server simulator (tests/k8s-sim), the
FlinkJob CRD, N Services over --namespaces namespaces annotated to N simulated JobManagers
(examples/flink_sim, one process for all runs, --jobs running jobs each), then the build's
binary in Kubernetes mode (mirror mode on, health checks at their default 30 s, 10 s polls).
Measured per run, the rows of issue 20's table:
  ready            process start -> /readyz 200
  converged        every mirror created and no status patch for --quiet s (mirror mode), else ready + 40 s
  RSS              at converged, --after s later (+2 min), and the peak (VmHWM) up to the restart
  CPU, steady      over --window s after that, nothing changing
  /healthz         a GET every 100 ms all along: p99 and max in the steady window, max while converging
                   and across the restart
  patches/mirror   `patch flinkjobs/status` / `create flinkjobs` in the simulator's counts
  connections      most established TCP connections to the simulator at once (/proc/net/tcp, every 250 ms)
  requests/min     in the steady window, every request but watches (by verb and resource)
  writes           in the steady window, and from a restart (SIGTERM, start again) until 30 s after ready,
                   with the CPU seconds the new process used until then
Prints `RESULT kube-scale ...` lines and a side-by-side table. Every process it starts is
stopped by pid when it ends, also on failure.
"""
import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SIM = os.path.join(ROOT, "tests", "k8s-sim", "k8ssim.py")
CLK_TCK = os.sysconf("SC_CLK_TCK")
STARTED = []  # (Popen, name): stopped at exit


def log(*args):
    print("bench:", *args, file=sys.stderr, flush=True)


def start(cmd, logfile, env=None):
    out = open(logfile, "ab")
    p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    STARTED.append(p)
    return p


def stop(p, grace=8.0):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(grace)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    if p in STARTED:
        STARTED.remove(p)


def stop_all(*_):
    for p in list(STARTED):
        stop(p, 3)
    if _:
        sys.exit(1)


def http(method, url, body=None, ctype="application/json", timeout=30):
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": ctype})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
            return r.status, (json.loads(raw) if raw[:1] in (b"{", b"[") else raw)
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def proc_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def established_to(port):
    """Established TCP connections whose remote port is `port` (IPv4 and IPv6)."""
    n, hexport = 0, f"{port:04X}"
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    if parts[3] == "01" and parts[2].rsplit(":", 1)[1] == hexport:
                        n += 1
        except FileNotFoundError:
            pass
    return n


class Samplers:
    """/healthz every 100 ms (latency or None when it failed) and connections every 250 ms."""

    def __init__(self, base, sim_port):
        self.base, self.sim_port = base, sim_port
        self.healthz, self.conns, self.done = [], [], threading.Event()
        threading.Thread(target=self.probe, daemon=True).start()
        threading.Thread(target=self.count, daemon=True).start()

    def probe(self):
        while not self.done.is_set():
            t0 = time.time()
            try:
                with urllib.request.urlopen(self.base + "/healthz", timeout=10) as r:
                    r.read()
                self.healthz.append((t0, (time.time() - t0) * 1000))
            except Exception:
                self.healthz.append((t0, None))
            self.done.wait(max(0.0, 0.1 - (time.time() - t0)))

    def count(self):
        while not self.done.is_set():
            self.conns.append((time.time(), established_to(self.sim_port)))
            self.done.wait(0.25)

    def latency(self, t0, t1):
        xs = sorted(ms for t, ms in self.healthz if t0 <= t < t1 and ms is not None)
        if not xs:
            return float("nan"), float("nan"), 0
        return xs[min(len(xs) - 1, int(len(xs) * 0.99))], xs[-1], len(xs)

    def max_conns(self, t0, t1):
        return max((n for t, n in self.conns if t0 <= t < t1), default=0)


class K8sSim:
    def __init__(self, out, name):
        self.kubeconfig = os.path.join(out, f"{name}.kubeconfig")
        self.proc = subprocess.Popen([sys.executable, SIM, "--port", "0", "--kubeconfig-out", self.kubeconfig,
                                      "--history", "1000000"], stdout=subprocess.PIPE,
                                     stderr=open(os.path.join(out, f"{name}-k8ssim.log"), "ab"), stdin=subprocess.DEVNULL)
        STARTED.append(self.proc)
        line = self.proc.stdout.readline().decode()
        m = re.match(r"k8ssim listening on (http://\S+)", line)
        if not m:
            raise SystemExit(f"bench: unexpected simulator output {line!r}")
        self.base = m.group(1)
        self.port = int(self.base.rsplit(":", 1)[1])

    def counts(self):
        return http("GET", self.base + "/_sim/requests?since=1e18")[1]["counts"]

    def post(self, path, obj):
        code, body = http("POST", self.base + path, obj)
        if code >= 300:
            raise SystemExit(f"bench: POST {path}: {code} {body[:300]}")


def until_ready(proc, base, what, limit=300):
    """Waits for /readyz = 200 every 10 ms; returns when it answered (time.time())."""
    t0 = time.time()
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"bench: {what} exited")
        try:
            with urllib.request.urlopen(base + "/readyz", timeout=2) as r:
                if r.status == 200:
                    return time.time()
        except Exception:
            pass
        if time.time() - t0 > limit:
            raise SystemExit(f"bench: {what} not ready in {limit} s")
        time.sleep(0.01)


def crd_json(binary):
    import yaml  # PyYAML; the simulator takes JSON

    return yaml.safe_load(subprocess.run([binary, "crd"], check=True, capture_output=True).stdout)


def services(sim, clusters, namespaces):
    """One Service per simulated JobManager, spread over `namespaces` namespaces, over one connection."""
    import http.client

    conn = http.client.HTTPConnection(sim.base.split("//")[1])
    for i, (name, url) in enumerate(clusters):
        ns = f"team-{i % namespaces:02d}"
        svc = {"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": name, "namespace": ns, "annotations": {"flinkmonitor.dev/rest-url": url}},
               "spec": {"selector": {"app": "flink", "component": "jobmanager", "cluster": name}, "ports": [{"name": "rest", "port": 8081}]}}
        conn.request("POST", f"/api/v1/namespaces/{ns}/services", json.dumps(svc), {"Content-Type": "application/json"})
        r = conn.getresponse()
        r.read()
        if r.status >= 300:
            raise SystemExit(f"bench: creating Service {ns}/{name}: {r.status}")
    conn.close()


def diff(after, before):
    return {k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) != before.get(k, 0)}


WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")


def writes(counts):
    return {k: v for k, v in counts.items() if k.split(" ")[0] in WRITE_VERBS and not k.endswith(" leases")}


def not_watches(counts):
    return {k: v for k, v in counts.items() if not k.startswith("watch ")}


def run_one(args, build, binary, n, mirror, clusters):
    name = f"{build}-{n}-{'mirror' if mirror else 'nomirror'}"
    out = args.out
    log(f"{name}: a fresh simulator, the CRD and {n} Services in {args.namespaces} namespaces")
    sim = K8sSim(out, name)
    sim.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd_json(binary))
    services(sim, clusters[:n], args.namespaces)
    http("POST", sim.base + "/_sim/reset")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ, KUBECONFIG=sim.kubeconfig, POD_NAME=f"bench-{build}", RUST_LOG=args.rust_log, NO_COLOR="1")
    cmd = [binary, "run", "--kubernetes", "on", "--listen", f"127.0.0.1:{port}", "--poll-interval", "10s",
           "--mirror-jobs", "true" if mirror else "false"] + args.extra
    logfile = os.path.join(out, f"{name}.log")
    open(logfile, "w").close()
    samplers = Samplers(base, sim.port)
    t0 = time.time()
    proc = start(cmd, logfile, env)
    ready = until_ready(proc, base, f"{name} (see {logfile})") - t0
    log(f"{name}: ready in {ready:.2f} s (pid {proc.pid}); converging")
    jobs = n * args.jobs
    last_patches, still_since = -1, time.time()
    while True:
        c = sim.counts()
        created, patches = c.get("create flinkjobs", 0), c.get("patch flinkjobs/status", 0)
        now = time.time()
        if patches != last_patches:
            last_patches, still_since = patches, now
        if not mirror and now - t0 > ready + 40:
            break
        if mirror and created >= jobs and now - still_since >= args.quiet:
            break
        if now - t0 > args.max_converge:
            log(f"{name}: not converged after {args.max_converge} s ({created} mirrors, {patches} patches)")
            break
        time.sleep(1)
    converged_at = still_since if mirror else time.time()
    converged = converged_at - t0
    counts_converged = sim.counts()
    rss_converged = proc_kib(proc.pid, "VmRSS")
    log(f"{name}: converged at {converged:.1f} s ({counts_converged.get('create flinkjobs', 0)} mirrors, "
        f"{counts_converged.get('patch flinkjobs/status', 0)} status patches); {args.after} s more")
    time.sleep(args.after)
    rss_after = proc_kib(proc.pid, "VmRSS")
    w0, ticks0, counts0 = time.time(), proc_ticks(proc.pid), sim.counts()
    time.sleep(args.window)
    w1, ticks1, counts1 = time.time(), proc_ticks(proc.pid), sim.counts()
    cpu = (ticks1 - ticks0) / CLK_TCK / (w1 - w0)
    rss_end, peak = proc_kib(proc.pid, "VmRSS"), proc_kib(proc.pid, "VmHWM")
    steady = diff(counts1, counts0)
    per_min = {k: round(v * 60 / (w1 - w0), 1) for k, v in not_watches(steady).items()}
    p99, hmax, hn = samplers.latency(w0, w1)
    _, conv_max, _ = samplers.latency(t0 + ready, w0)
    conns = samplers.max_conns(t0, w1)
    conns_steady = samplers.max_conns(w0, w1)
    with open(logfile, errors="replace") as f:
        log_lines = sum(1 for _ in f)
    # Restart: SIGTERM, start again on the same port, 30 s after ready.
    log(f"{name}: steady {cpu:.4f} core; restarting")
    stop(proc, 20)
    before_restart = sim.counts()
    r0 = time.time()
    proc = start(cmd, logfile, env)
    restart_ready = until_ready(proc, base, f"{name} after the restart (see {logfile})") - r0
    time.sleep(30)
    restart_cpu = proc_ticks(proc.pid) / CLK_TCK
    after_restart = diff(sim.counts(), before_restart)
    _, restart_max, _ = samplers.latency(r0 + restart_ready, time.time())
    stop(proc, 20)
    samplers.done.set()
    stop(sim.proc, 5)
    created = counts_converged.get("create flinkjobs", 0)
    patches = counts_converged.get("patch flinkjobs/status", 0)
    result = dict(
        build=build, services=n, flinkjobs=jobs if mirror else 0, mirror="on" if mirror else "off",
        ready_s=round(ready, 2), converged_s=round(converged, 1),
        rss_converged_mib=round(rss_converged / 1024, 1), rss_after_mib=round(rss_after / 1024, 1),
        rss_end_mib=round(rss_end / 1024, 1), rss_peak_mib=round(peak / 1024, 1),
        cpu_steady_core=round(cpu, 4), healthz_p99_ms=round(p99, 1), healthz_max_ms=round(hmax, 1), healthz_samples=hn,
        healthz_converging_max_ms=round(conv_max, 1), healthz_restart_max_ms=round(restart_max, 1),
        mirrors=created, status_patches=patches, patches_per_mirror=round(patches / created, 2) if created else 0,
        events=counts_converged.get("create events", 0) + counts_converged.get("patch events", 0),
        api_conns_max=conns, api_conns_steady=conns_steady,
        requests_per_min=round(sum(per_min.values()), 1), writes_steady=sum(writes(steady).values()),
        restart_ready_s=round(restart_ready, 2), restart_cpu_s=round(restart_cpu, 2),
        restart_writes=sum(writes(after_restart).values()), log_lines=log_lines,
    )
    line = "RESULT kube-scale " + " ".join(f"{k}={v}" for k, v in result.items())
    print(line, flush=True)
    with open(os.path.join(out, "results.txt"), "a") as f:
        f.write(line + "\n")
        f.write(f"# {name} steady requests per minute: {json.dumps(per_min, sort_keys=True)}\n")
        f.write(f"# {name} writes after the restart: {json.dumps(writes(after_restart), sort_keys=True)}\n")
        f.write(f"# {name} counts at converged: {json.dumps(counts_converged, sort_keys=True)}\n")
    log(f"{name}: steady requests per minute {per_min}")
    return result


# Each row: its label, and the cell of one run (`str.format` fields of the result).
ROWS = [
    ("ready", "{ready_s} s"),
    ("converged (all mirrors with status)", "{converged_s} s"),
    ("RSS: converged / +after / peak", "{rss_converged_mib} / {rss_after_mib} / {rss_peak_mib} MiB"),
    ("CPU, steady, nothing changing", "{cpu_steady_core} core"),
    ("/healthz steady: p99 / max", "{healthz_p99_ms} / {healthz_max_ms} ms"),
    ("/healthz max while converging / restarting", "{healthz_converging_max_ms} / {healthz_restart_max_ms} ms"),
    ("status patches per new mirror", "{patches_per_mirror} ({status_patches} / {mirrors})"),
    ("Events sent while converging", "{events}"),
    ("API connections open at once: max / steady", "{api_conns_max} / {api_conns_steady}"),
    ("requests per minute, steady (no watches)", "{requests_per_min}"),
    ("writes steady / across a restart", "{writes_steady} / {restart_writes}"),
    ("restart: ready / CPU s until 30 s after", "{restart_ready_s} s / {restart_cpu_s} s"),
    ("log lines", "{log_lines}"),
]


def slopes(results):
    """Per build: RSS (+after and peak) per 1,000 more FlinkJobs, from its smallest to its largest mirror run."""
    lines = []
    for build in dict.fromkeys(r["build"] for r in results):
        runs = sorted((r for r in results if r["build"] == build and r["mirror"] == "on"), key=lambda r: r["flinkjobs"])
        if len(runs) < 2:
            continue
        a, b = runs[0], runs[-1]
        per = (b["flinkjobs"] - a["flinkjobs"]) / 1000
        points = " / ".join(f"{r['flinkjobs']}: {r['rss_after_mib']} (peak {r['rss_peak_mib']})" for r in runs)
        lines.append(f"RSS of {build} by FlinkJobs, MiB: {points}; per 1,000 more: "
                     f"{(b['rss_after_mib'] - a['rss_after_mib']) / per:.2f} (peak {(b['rss_peak_mib'] - a['rss_peak_mib']) / per:.2f})")
    return "\n".join(lines)


def table(results):
    cols = [f"{r['build']}, {r['services']} Services{'' if r['mirror'] == 'on' else ', no mirrors'}" for r in results]
    lines = ["| | " + " | ".join(cols) + " |", "| --- |" + " --- |" * len(cols)]
    for label, cell in ROWS:
        lines.append(f"| {label} | " + " | ".join(cell.format(**r) for r in results) + " |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", action="append", required=True, help="NAME=BINARY (repeatable; run in this order)")
    ap.add_argument("--services", default="100,1000")
    ap.add_argument("--no-mirror", default="", help="service counts also measured with --mirror-jobs=false (the last build only)")
    ap.add_argument("--others-at", default="", help="service counts at which builds before the last run too (default: every count)")
    ap.add_argument("--namespaces", type=int, default=10)
    ap.add_argument("--jobs", type=int, default=10)
    ap.add_argument("--quiet", type=float, default=20)
    ap.add_argument("--after", type=float, default=120)
    ap.add_argument("--window", type=float, default=60)
    ap.add_argument("--max-converge", type=float, default=1200)
    ap.add_argument("--flink-sim", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--rust-log", default="info")
    ap.add_argument("extra", nargs="*", help="more flags for every binary (after --)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    signal.signal(signal.SIGTERM, stop_all)
    signal.signal(signal.SIGINT, stop_all)
    builds = [b.split("=", 1) for b in args.build]
    counts = [int(x) for x in args.services.split(",") if x]
    nomirror = [int(x) for x in args.no_mirror.split(",") if x]
    most = max(counts + nomirror)
    listfile = os.path.join(args.out, "flink-sim-clusters.txt")
    if os.path.exists(listfile):
        os.remove(listfile)

    def sim_up():
        try:
            return os.path.exists(listfile) and http("GET", "http://127.0.0.1:18301/stats")[0] == 200
        except OSError:
            return False

    try:
        sim = start([args.flink_sim, "--clusters", str(most), "--jobs", str(args.jobs), "--first-ip", "127.0.1.1",
                     "--port", "18300", "--control", "127.0.0.1:18301", "--list-file", listfile, "--max-runtime", "4h"],
                    os.path.join(args.out, "flink_sim.log"))
        deadline = time.time() + 60
        while not sim_up():
            if sim.poll() is not None or time.time() > deadline:
                raise SystemExit("bench: the Flink simulator did not start; see flink_sim.log")
            time.sleep(0.2)
        clusters = [entry.split("=", 1) for entry in open(listfile).read().strip().split(",")]
        results = []
        others_at = [int(x) for x in args.others_at.split(",") if x] or counts
        for n in counts:
            for i, (build, binary) in enumerate(builds):
                if i == len(builds) - 1 or n in others_at:
                    results.append(run_one(args, build, binary, n, True, clusters))
            if n in nomirror:
                build, binary = builds[-1]
                results.append(run_one(args, build, binary, n, False, clusters))
        print(table(results), flush=True)
        print(slopes(results), flush=True)
        with open(os.path.join(args.out, "kube-scale.md"), "w") as f:
            f.write(table(results) + "\n\n" + slopes(results) + "\n")
    finally:
        stop_all()


if __name__ == "__main__":
    main()
