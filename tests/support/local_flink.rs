//! Real Flink session clusters for the tests (the real-Flink tests and the Kubernetes
//! end-to-end tests), run by `scripts/local-flink.sh`.
//!
//! Ports come from 18100-18199. A port is leased by taking an exclusive `flock` on
//! `<tmp>/flink-monitor-real-flink/port-<P>.lock`, held for the life of the test process, so
//! two test runs at once (two developers, or CI and a developer) never share or stop each
//! other's cluster; the cluster's `LOCAL_FLINK_STATE` is `<tmp>/flink-monitor-real-flink/port-<P>`.
//! A cluster found in the state dir of a freshly leased port belongs to a dead run and is
//! stopped first.
//!
//! Every cluster has a watchdog: a small shell that reads a pipe whose only writer is this
//! test process and runs `local-flink.sh stop` when the pipe closes. The shared clusters
//! live in statics, which Rust never drops, so the watchdog is what stops them when the
//! test binary exits, however it exits (success, panic, Ctrl-C or SIGKILL).

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/local-flink.sh");
const PORTS: std::ops::Range<u16> = 18100..18200;

/// The directory of this suite's leases, state dirs and logs.
pub fn run_dir() -> PathBuf {
    std::env::temp_dir().join("flink-monitor-real-flink")
}

/// A job name no other test (of this or an earlier run) uses: Flink keeps ended jobs listed.
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() % 100_000_000)
        .unwrap_or(0);
    format!(
        "{prefix}-{}-{millis}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Runs until cancelled, 100 records/s.
    Stream,
    /// 200 records, then FINISHED.
    Finish,
    /// Throws after 50 records, no restart: FAILED.
    Fail,
    /// Throws every 50 records and restarts 1 s later, forever (numRestarts grows).
    Restart,
    /// Checkpoints every 2 s that never complete.
    Stall,
}

impl Kind {
    fn arg(self) -> &'static str {
        match self {
            Kind::Stream => "stream",
            Kind::Finish => "finish",
            Kind::Fail => "fail",
            Kind::Restart => "restart",
            Kind::Stall => "stall",
        }
    }
}

/// One Flink session cluster (a JobManager and a TaskManager) on a leased port.
pub struct LocalFlink {
    pub version: &'static str,
    pub port: u16,
    pub url: String,
    pub state: PathBuf,
    slots: u16,
    /// More `local-flink.sh start` arguments (e.g. `--tls DIR`), given on every start.
    start_args: Vec<String>,
    /// Held for the life of the cluster; the lock is the port lease.
    _lease: File,
    /// Closing it makes the watchdog stop the cluster.
    watchdog: Mutex<Option<ChildStdin>>,
    http: reqwest::Client,
}

impl LocalFlink {
    /// Starts a cluster of `version` on a free leased port, or explains why it could not.
    pub fn start(version: &'static str, slots: u16) -> Result<Self, String> {
        Self::start_with(version, slots, &[])
    }

    /// As [`Self::start`], with more `local-flink.sh start` arguments.
    pub fn start_with(version: &'static str, slots: u16, args: &[&str]) -> Result<Self, String> {
        std::fs::create_dir_all(run_dir())
            .map_err(|e| format!("cannot create {}: {e}", run_dir().display()))?;
        let (port, lease) = lease_port()?;
        let state = run_dir().join(format!("port-{port}"));
        let watchdog = spawn_watchdog(&state, port, &lock_path(port))?;
        let mut flink = Self {
            version,
            port,
            url: String::new(),
            state,
            slots,
            start_args: args.iter().map(|a| a.to_string()).collect(),
            _lease: lease,
            watchdog: Mutex::new(Some(watchdog)),
            http: http_client(),
        };
        flink.url = flink.start_again()?;
        Ok(flink)
    }

    /// (Re)starts this cluster on its port; answers its URL.
    pub fn start_again(&self) -> Result<String, String> {
        let started = Instant::now();
        let (port, slots) = (self.port.to_string(), self.slots.to_string());
        let mut args = vec![
            "start",
            "--port",
            &port,
            "--version",
            self.version,
            "--slots",
            &slots,
            "--timeout",
            "240",
        ];
        args.extend(self.start_args.iter().map(String::as_str));
        let url = self.script(&args)?;
        eprintln!(
            "real_flink: Flink {} ready at {url} in {:.1}s (logs: {})",
            self.version,
            started.elapsed().as_secs_f64(),
            self.log_dir().display()
        );
        Ok(url)
    }

    /// Stops the JobManager and TaskManager (`local-flink.sh stop`).
    pub fn stop(&self) -> Result<(), String> {
        self.script(&["stop"]).map(drop)
    }

    pub fn log_dir(&self) -> PathBuf {
        self.state.join("log")
    }

    /// Where to look when something about this cluster fails.
    pub fn describe(&self) -> String {
        format!(
            "Flink {} at {} (logs: {})",
            self.version,
            self.url,
            self.log_dir().display()
        )
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(SCRIPT);
        command
            .args(args)
            .env("LOCAL_FLINK_STATE", &self.state)
            .stdin(Stdio::null());
        command
    }

    fn script(&self, args: &[&str]) -> Result<String, String> {
        let output = self
            .command(args)
            .output()
            .map_err(|e| format!("cannot run {SCRIPT}: {e}"))?;
        script_result(args, &output, &self.describe())
    }

    /// Submits the test job `name` and waits until it is RUNNING (stream), FINISHED or
    /// FAILED. Answers the Flink job id.
    pub async fn submit(&self, name: &str, kind: Kind) -> String {
        let args = ["submit", name, kind.arg(), "--wait", "--timeout", "180"];
        let output = tokio::process::Command::from(self.command(&args))
            .output()
            .await
            .unwrap_or_else(|e| panic!("cannot run {SCRIPT}: {e}"));
        script_result(&args, &output, &self.describe()).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Submits a streaming job that is cancelled when the guard drops.
    pub async fn submit_stream(&self, name: &str) -> RunningJob {
        self.submit_running(name, Kind::Stream).await
    }

    /// Submits an unbounded job of `kind` that is cancelled when the guard drops.
    pub async fn submit_running(&self, name: &str, kind: Kind) -> RunningJob {
        let jid = self.submit(name, kind).await;
        RunningJob {
            url: self.url.clone(),
            jid,
        }
    }

    /// `METHOD <flink><path>`: the status and the body, as JSON where it is JSON.
    async fn request(&self, method: reqwest::Method, path: &str) -> (u16, Value) {
        let url = format!("{}{path}", self.url);
        let response = self
            .http
            .request(method.clone(), &url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {url}: {e}; {}", self.describe()));
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// `GET <flink><path>` as JSON.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.request(reqwest::Method::GET, path).await
    }

    /// Cancels a job directly on Flink (`PATCH /jobs/{jid}?mode=cancel`).
    pub async fn cancel(&self, jid: &str) {
        let path = format!("/jobs/{jid}?mode=cancel");
        let (status, body) = self.request(reqwest::Method::PATCH, &path).await;
        assert_eq!(
            status,
            202,
            "PATCH {}{path} answered {status}: {body}; {}",
            self.url,
            self.describe()
        );
    }

    /// The job as Flink's `/jobs/overview` lists it (not `/jobs/{jid}`, which Flink caches).
    pub async fn overview_job(&self, jid: &str) -> Option<Value> {
        let (status, body) = self.get("/jobs/overview").await;
        assert_eq!(
            status,
            200,
            "GET /jobs/overview: {body}; {}",
            self.describe()
        );
        body["jobs"]
            .as_array()
            .and_then(|jobs| jobs.iter().find(|j| j["jid"] == jid).cloned())
    }

    /// Waits until Flink itself lists the job in `state`.
    pub async fn wait_state(&self, jid: &str, state: &str) -> Value {
        let what = format!("Flink to list job {jid} as {state}");
        super::wait::until_ok(
            Duration::from_secs(90),
            Duration::from_millis(200),
            &what,
            || async {
                match self.overview_job(jid).await {
                    Some(job) if job["state"] == state => Ok(job),
                    job => Err(format!("{job:?}; {}", self.describe())),
                }
            },
        )
        .await
    }
}

impl LocalFlink {
    /// Kills the JobManager with SIGKILL: the pid `local-flink.sh start` recorded, after
    /// checking that it is still the JobManager it started (its environment is marked).
    pub fn kill_jobmanager(&self) {
        let pid_file = self.state.join("jm.pid");
        let pid = std::fs::read_to_string(&pid_file)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", pid_file.display()));
        let pid = pid.trim();
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        let marker = format!("LOCAL_FLINK_STATE_DIR={}", self.state.display());
        let ours = |wanted: &[u8]| environ.split(|b| *b == 0).any(|v| v == wanted);
        assert!(
            ours(b"LOCAL_FLINK_ROLE=jobmanager") && ours(marker.as_bytes()),
            "pid {pid} from {} is not this test's running JobManager; {}",
            pid_file.display(),
            self.describe()
        );
        let status = Command::new("bash")
            .args(["-c", r#"kill -KILL "$1""#, "kill", pid])
            .status()
            .unwrap_or_else(|e| panic!("cannot run kill: {e}"));
        assert!(status.success(), "kill -KILL {pid} failed: {status}");
    }
}

impl Drop for LocalFlink {
    fn drop(&mut self) {
        if let Err(error) = self.stop() {
            eprintln!("real_flink: {error}");
        }
        // The watchdog finds nothing left to stop.
        drop(
            self.watchdog
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take(),
        );
    }
}

/// The shared cluster of a version for this test binary, started by the first test that
/// asks; a failed start is reported to every test of that version without retrying.
pub fn shared(
    cell: &'static std::sync::OnceLock<Result<LocalFlink, String>>,
    version: &'static str,
) -> &'static LocalFlink {
    cell.get_or_init(|| LocalFlink::start(version, 8))
        .as_ref()
        .unwrap_or_else(|e| panic!("the shared Flink {version} cluster did not start: {e}"))
}

/// A streaming job, cancelled on Flink when the test ends (passed or failed), so its slot
/// is free for the next test.
pub struct RunningJob {
    url: String,
    pub jid: String,
}

impl Drop for RunningJob {
    fn drop(&mut self) {
        // Drop cannot await: a plain HTTP/1.1 request over a blocking socket.
        let Some(authority) = self.url.strip_prefix("http://") else {
            return;
        };
        let Ok(mut stream) = TcpStream::connect(authority) else {
            return;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
        let request = format!(
            "PATCH /jobs/{}?mode=cancel HTTP/1.1\r\nHost: {authority}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.jid
        );
        if stream.write_all(request.as_bytes()).is_ok() {
            let mut sink = Vec::new();
            let _ = stream.read_to_end(&mut sink);
        }
    }
}

pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap_or_else(|e| panic!("cannot build an HTTP client: {e}"))
}

fn lock_path(port: u16) -> PathBuf {
    run_dir().join(format!("port-{port}.lock"))
}

/// Takes the first port of 18100-18199 whose lock is free and that nothing listens on.
fn lease_port() -> Result<(u16, File), String> {
    for port in PORTS {
        let path = lock_path(port);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        if file.try_lock().is_err() {
            continue;
        }
        // Ours now: whatever still runs from this state dir was left by a dead run.
        let state = run_dir().join(format!("port-{port}"));
        if state.join("jm.pid").exists() || state.join("tm.pid").exists() {
            let _ = Command::new(SCRIPT)
                .arg("stop")
                .env("LOCAL_FLINK_STATE", &state)
                .stdin(Stdio::null())
                .output();
        }
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok((port, file));
        }
    }
    Err(format!(
        "no free port in {}-{} (leases in {})",
        PORTS.start,
        PORTS.end - 1,
        run_dir().display()
    ))
}

/// A shell that runs `local-flink.sh stop` once its stdin closes, which happens when this
/// process exits or the cluster guard drops; it holds the port's lock while it stops. It
/// ignores SIGINT and SIGHUP, so a Ctrl-C of the test run still ends in a clean stop.
fn spawn_watchdog(state: &Path, port: u16, lock: &Path) -> Result<ChildStdin, String> {
    let log = run_dir().join(format!("port-{port}.watchdog.log"));
    let log = File::create(&log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
    let log2 = log.try_clone().map_err(|e| e.to_string())?;
    let mut child = Command::new("bash")
        .arg("-c")
        // Once the pipe closes, the port lease passes from this process to the watchdog,
        // so no new lease of the port and no clean-up of scripts/test.sh meddles with the stop.
        .arg(r#"trap '' INT HUP; cat >/dev/null; exec 8>>"$1"; flock 8; exec "$0" stop"#)
        .arg(SCRIPT)
        .arg(lock)
        .env("LOCAL_FLINK_STATE", state)
        .stdin(Stdio::piped())
        .stdout(log)
        .stderr(log2)
        .spawn()
        .map_err(|e| format!("cannot start the watchdog shell: {e}"))?;
    child
        .stdin
        .take()
        .ok_or_else(|| "the watchdog has no stdin".to_string())
}

fn script_result(
    args: &[&str],
    output: &std::process::Output,
    context: &str,
) -> Result<String, String> {
    let stdout = String::from_utf8_lossy(&output.stdout).trim().to_string();
    if output.status.success() {
        Ok(stdout)
    } else {
        Err(format!(
            "local-flink.sh {} failed ({}); stdout: {stdout}; stderr:\n{}\n{context}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}
