"""Real Flink session clusters for the browser tests, run by scripts/local-flink.sh.

Ports come from 18100-18199 and are leased exactly as tests/support/local_flink.rs leases
them: an exclusive flock on <tmp>/flink-monitor-real-flink/port-<P>.lock for the life of
this process, so the Rust tests, other runs and this suite never share a cluster. Each
cluster has a watchdog shell that stops it when this process exits, however it exits.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "local-flink.sh"
RUN_DIR = Path(tempfile.gettempdir()) / "flink-monitor-real-flink"
PORTS = range(18100, 18200)


def _lease_port():
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    for port in PORTS:
        lock = RUN_DIR / f"port-{port}.lock"
        handle = open(lock, "a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        state = RUN_DIR / f"port-{port}"
        if (state / "jm.pid").exists() or (state / "tm.pid").exists():
            # Left by a dead run: ours now, so stop it.
            subprocess.run([str(SCRIPT), "stop"], env={**os.environ, "LOCAL_FLINK_STATE": str(state)},
                           stdin=subprocess.DEVNULL, capture_output=True)
        with socket.socket() as probe:
            # As Rust's TcpListener::bind: a port with connections in TIME_WAIT is free.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                handle.close()
                continue
        return port, handle
    raise RuntimeError(f"no free port in {PORTS.start}-{PORTS.stop - 1} (leases in {RUN_DIR})")


class LocalFlink:
    """One JobManager and one TaskManager on a leased port."""

    def __init__(self, version: str = "2.3.0", slots: int = 8):
        self.version = version
        self.slots = slots
        self.port, self._lease = _lease_port()
        self.state = RUN_DIR / f"port-{self.port}"
        self.env = {**os.environ, "LOCAL_FLINK_STATE": str(self.state)}
        log = open(RUN_DIR / f"port-{self.port}.watchdog.log", "w")
        # Stops the cluster once our end of its stdin closes (this process exited).
        self._watchdog = subprocess.Popen(
            ["bash", "-c", 'trap "" INT HUP; cat >/dev/null; exec 8>>"$1"; flock 8; exec "$0" stop',
             str(SCRIPT), str(RUN_DIR / f"port-{self.port}.lock")],
            env=self.env, stdin=subprocess.PIPE, stdout=log, stderr=log)
        self.url = ""

    def start(self) -> "LocalFlink":
        args = ("start", "--port", str(self.port), "--version", self.version, "--slots", str(self.slots),
                "--timeout", "240")
        try:
            self.url = self._script(*args)
        except RuntimeError as error:
            # Once more: on a loaded machine a JobManager can miss the start's deadline.
            print(f"ui tests: {error}; stopping and starting once more")
            self.stop()
            self.url = self._script(*args)
        return self

    def stop(self) -> None:
        self._script("stop")

    def describe(self) -> str:
        return f"Flink {self.version} at {self.url} (logs: {self.state / 'log'})"

    def _script(self, *args: str, timeout: float = 300) -> str:
        done = subprocess.run([str(SCRIPT), *args], env=self.env, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"local-flink.sh {' '.join(args)} failed ({done.returncode}): "
                               f"{done.stderr.strip()}\n{self.describe()}")
        return done.stdout.strip()

    def submit(self, name: str, kind: str) -> str:
        """Submits the test job and waits until it runs, finished or failed; its job id."""
        return self._script("submit", name, kind, "--wait", "--timeout", "180")

    def request(self, method: str, path: str):
        request = urllib.request.Request(self.url + path, method=method)
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return answer.status, json.loads(answer.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(errors="replace")

    def cancel(self, jid: str) -> None:
        status, body = self.request("PATCH", f"/jobs/{jid}?mode=cancel")
        assert status == 202, f"cancelling {jid}: {status} {body}; {self.describe()}"

    def state_of(self, jid: str) -> str | None:
        """The job's state as Flink's /jobs/overview says it (not /jobs/{jid}, which Flink caches)."""
        status, body = self.request("GET", "/jobs/overview")
        assert status == 200, f"/jobs/overview: {status} {body}"
        return next((j["state"] for j in body["jobs"] if j["jid"] == jid), None)

    def wait_state(self, jid: str, state: str, timeout: float = 90) -> float:
        """Waits until Flink lists the job in `state`; when it first saw it (time.monotonic)."""
        deadline = time.monotonic() + timeout
        while True:
            if self.state_of(jid) == state:
                return time.monotonic()
            assert time.monotonic() < deadline, f"Flink did not list {jid} as {state} in {timeout}s"
            time.sleep(0.05)
