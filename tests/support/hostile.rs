//! Hostile JobManagers for the transport tests (DESIGN.md, "Testing layers" 6).
//!
//! [`ScriptedJobManager`]: a TCP server (tokio, in the test process) that answers the REST
//! paths flink-monitor calls like a well-behaved JobManager, except for the requests a test
//! hands to a script ([`ScriptedJobManager::misbehave`]). It writes raw bytes on purpose:
//! the misbehaviours (two lengths, a second answer nobody asked for, an endless trailer)
//! are what an HTTP library would refuse to send. It records every connection and every
//! request, and on which connection each came, so a test can tell whether a connection was
//! used again after an answer that forbade it.
//!
//! [`Monitor`]: the real binary in standalone mode, polling such servers, with its PID for
//! its memory (`/proc/PID/status`).

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use super::monitor_binary::{free_port, scenario_binary, spawn_logged};

/// A request head larger than this ends the connection (flink-monitor sends small ones).
const MAX_REQUEST_HEAD: usize = 64 * 1024;
/// Size of the pieces a large generated answer is written in.
const PIECE: usize = 64 * 1024;

/// One request as the server read it.
#[derive(Debug, Clone)]
pub struct Request {
    /// The connection it came on (1 for the first one accepted).
    pub connection: u64,
    /// Its place on that connection (0 for the first).
    pub index: usize,
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    /// Whether a script (not the well-behaved JobManager) answered it.
    pub hostile: bool,
    pub at: Instant,
}

impl Request {
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }
}

/// What the server does, in order, to answer one request.
#[derive(Debug, Clone)]
pub enum Step {
    /// Writes these bytes as they are.
    Send(Vec<u8>),
    /// Writes `count` copies of `byte`, in pieces (a huge answer without holding it).
    Repeat {
        byte: u8,
        count: usize,
    },
    /// Writes these bytes again and again until the client goes away.
    Endless(Vec<u8>),
    Pause(Duration),
    /// Writes the bytes one at a time, `every` apart.
    Drip {
        bytes: Vec<u8>,
        every: Duration,
    },
    /// Closes the connection (FIN).
    Close,
    /// Aborts the connection (RST).
    Reset,
    /// Never answers; waits until the client goes away.
    Hold,
}

/// The answer a well-behaved JobManager gives to a request: status and JSON body.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Answer {
    /// The answer framed as Flink frames it: HTTP/1.1, a Content-Length, kept alive.
    pub fn framed(&self) -> Vec<u8> {
        let mut out = head(
            self.status,
            &[
                "Content-Type: application/json; charset=UTF-8".into(),
                format!("Content-Length: {}", self.body.len()),
                "Connection: keep-alive".into(),
            ],
        );
        out.extend_from_slice(&self.body);
        out
    }
}

/// A status line and header lines, with the empty line that ends a head.
pub fn head(status: u16, headers: &[String]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for header in headers {
        out.push_str(header);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    out.into_bytes()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        202 => "Accepted",
        301 => "Moved Permanently",
        302 => "Found",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        404 => "Not Found",
        _ => "Whatever",
    }
}

/// `body` as one chunk and the last chunk.
pub fn chunked(body: &[u8]) -> Vec<u8> {
    let mut out = format!("{:x}\r\n", body.len()).into_bytes();
    out.extend_from_slice(body);
    out.extend_from_slice(b"\r\n0\r\n\r\n");
    out
}

/// A job of the scripted JobManager.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub jid: String,
    pub name: String,
    pub state: String,
}

/// What a script gets: the request, and what the well-behaved JobManager would answer.
pub type Script = Arc<dyn Fn(&Request, &Answer) -> Vec<Step> + Send + Sync>;
type Matcher = Arc<dyn Fn(&Request) -> bool + Send + Sync>;

struct Rule {
    matches: Matcher,
    script: Script,
    hostile: bool,
}

#[derive(Default)]
struct Shared {
    jobs: Vec<Job>,
    rule: Option<Rule>,
    requests: Vec<Request>,
    connections: u64,
}

/// `GET /jobs/overview`, the poller's call.
pub fn overview(request: &Request) -> bool {
    request.method == "GET" && request.path() == "/jobs/overview"
}

/// `GET /jobs/{jid}`, what `job/{uuid}/status/` reads.
pub fn job_details(request: &Request) -> bool {
    let segments: Vec<&str> = request.path().trim_start_matches('/').split('/').collect();
    request.method == "GET" && matches!(segments[..], ["jobs", jid] if jid != "overview")
}

/// `PATCH /jobs/{jid}?mode=cancel`, the stop.
pub fn cancel(request: &Request) -> bool {
    request.method == "PATCH" && request.path().starts_with("/jobs/")
}

/// A JobManager on `127.0.0.1:<port>` that follows a script where a test set one.
pub struct ScriptedJobManager {
    url: String,
    shared: Arc<Mutex<Shared>>,
    accept: JoinHandle<()>,
}

impl Drop for ScriptedJobManager {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

static JOB_IDS: AtomicU64 = AtomicU64::new(1);

impl ScriptedJobManager {
    /// A JobManager with one RUNNING job per name.
    pub async fn start(job_names: &[&str]) -> Self {
        let jobs = job_names
            .iter()
            .map(|name| Job {
                // 32 hex digits, as Flink's; unique in the test process.
                jid: format!(
                    "{:016x}{:016x}",
                    std::process::id(),
                    JOB_IDS.fetch_add(1, Ordering::Relaxed)
                ),
                name: name.to_string(),
                state: "RUNNING".into(),
            })
            .collect();
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a scripted JobManager");
        let url = format!("http://{}", listener.local_addr().expect("its address"));
        let shared = Arc::new(Mutex::new(Shared {
            jobs,
            ..Shared::default()
        }));
        let accept = tokio::spawn({
            let shared = shared.clone();
            async move {
                while let Ok((stream, _)) = listener.accept().await {
                    let id = {
                        let mut shared = lock(&shared);
                        shared.connections += 1;
                        shared.connections
                    };
                    tokio::spawn(serve(stream, id, shared.clone()));
                }
            }
        });
        Self {
            url,
            shared,
            accept,
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn jobs(&self) -> Vec<Job> {
        lock(&self.shared).jobs.clone()
    }

    /// From now on, requests that `matches` are answered by `script` (and marked hostile).
    pub fn misbehave(
        &self,
        matches: impl Fn(&Request) -> bool + Send + Sync + 'static,
        script: impl Fn(&Request, &Answer) -> Vec<Step> + Send + Sync + 'static,
    ) {
        lock(&self.shared).rule = Some(Rule {
            matches: Arc::new(matches),
            script: Arc::new(script),
            hostile: true,
        });
    }

    /// Behaves again, but for one request only of those `matches` takes: later ones are
    /// held unanswered. What the client shows next comes from that one answer.
    pub fn behave_once_then_hold(
        &self,
        matches: impl Fn(&Request) -> bool + Send + Sync + 'static,
    ) {
        let answered = AtomicUsize::new(0);
        lock(&self.shared).rule = Some(Rule {
            matches: Arc::new(matches),
            script: Arc::new(move |_, answer| {
                if answered.fetch_add(1, Ordering::SeqCst) == 0 {
                    vec![Step::Send(answer.framed())]
                } else {
                    vec![Step::Hold]
                }
            }),
            hostile: false,
        });
    }

    /// Behaves again for every request.
    pub fn behave(&self) {
        lock(&self.shared).rule = None;
    }

    pub fn requests(&self) -> Vec<Request> {
        lock(&self.shared).requests.clone()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        lock(&self.shared).connections
    }

    pub fn hostile_answers(&self) -> usize {
        lock(&self.shared)
            .requests
            .iter()
            .filter(|r| r.hostile)
            .count()
    }

    /// Requests that came on a connection after a hostile answer on it: the client used a
    /// connection again that it should have dropped.
    pub fn reused_after_hostile(&self) -> Vec<Request> {
        let requests = self.requests();
        requests
            .iter()
            .filter(|later| {
                requests.iter().any(|earlier| {
                    earlier.hostile
                        && earlier.connection == later.connection
                        && earlier.index < later.index
                })
            })
            .cloned()
            .collect()
    }
}

fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Serves one connection: one request after another, until either side ends it.
async fn serve(mut stream: TcpStream, connection: u64, shared: Arc<Mutex<Shared>>) {
    let _ = stream.set_nodelay(true);
    let mut buf = Vec::new();
    for index in 0.. {
        let Some((method, target)) = read_request(&mut stream, &mut buf).await else {
            return;
        };
        let mut request = Request {
            connection,
            index,
            method,
            target,
            hostile: false,
            at: Instant::now(),
        };
        let (answer, rule) = {
            let mut shared = lock(&shared);
            let answer = well_behaved(&mut shared, &request);
            let rule = shared
                .rule
                .as_ref()
                .filter(|rule| (rule.matches)(&request))
                .map(|rule| (rule.script.clone(), rule.hostile));
            if let Some((_, hostile)) = &rule {
                request.hostile = *hostile;
            }
            shared.requests.push(request.clone());
            (answer, rule)
        };
        let steps = match rule {
            Some((script, _)) => script(&request, &answer),
            None => vec![Step::Send(answer.framed())],
        };
        for step in steps {
            if !perform(&mut stream, step).await {
                return;
            }
        }
    }
}

/// Performs one step; false when the connection is over.
async fn perform(stream: &mut TcpStream, step: Step) -> bool {
    match step {
        Step::Send(bytes) => stream.write_all(&bytes).await.is_ok(),
        Step::Repeat { byte, count } => {
            let piece = vec![byte; PIECE];
            let mut left = count;
            while left > 0 {
                let n = left.min(PIECE);
                if stream.write_all(&piece[..n]).await.is_err() {
                    return false;
                }
                left -= n;
            }
            true
        }
        Step::Endless(pattern) => {
            let piece = pattern.repeat((PIECE / pattern.len().max(1)).max(1));
            while stream.write_all(&piece).await.is_ok() {}
            false
        }
        Step::Pause(pause) => {
            tokio::time::sleep(pause).await;
            true
        }
        Step::Drip { bytes, every } => {
            for byte in bytes {
                if stream.write_all(&[byte]).await.is_err() {
                    return false;
                }
                tokio::time::sleep(every).await;
            }
            true
        }
        Step::Close => {
            let _ = stream.shutdown().await;
            false
        }
        Step::Reset => {
            let _ = stream.set_zero_linger();
            false
        }
        Step::Hold => {
            let mut sink = [0u8; 1024];
            while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
            false
        }
    }
}

/// Reads one request (head and any body) from `stream`; its method and target.
async fn read_request(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<(String, String)> {
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        if buf.len() > MAX_REQUEST_HEAD {
            return None;
        }
        match stream.read_buf(buf).await {
            Ok(n) if n > 0 => {}
            _ => return None,
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let method = request_line.next()?.to_string();
    let target = request_line.next()?.to_string();
    let body_len: usize = lines
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + body_len {
        match stream.read_buf(buf).await {
            Ok(n) if n > 0 => {}
            _ => return None,
        }
    }
    buf.drain(..head_end + body_len);
    Some((method, target))
}

/// What a well-behaved JobManager answers (a cancel cancels the job).
fn well_behaved(shared: &mut Shared, request: &Request) -> Answer {
    let now = now_ms();
    let segments: Vec<&str> = request.path().trim_start_matches('/').split('/').collect();
    let job = |jid: &str| shared.jobs.iter().find(|j| j.jid == jid).cloned();
    let (status, body) = match (request.method.as_str(), &segments[..]) {
        ("GET", ["config"]) => (
            200,
            json!({"refresh-interval": 3000, "timezone-name": "UTC", "timezone-offset": 0,
                "flink-version": "2.3.0", "flink-revision": "scripted", "features": {}}),
        ),
        ("GET", ["jobs", "overview"]) => (
            200,
            json!({ "jobs": shared.jobs.iter().map(|j| overview_entry(j, now)).collect::<Vec<_>>() }),
        ),
        ("GET", ["jobs", jid]) => match job(jid) {
            Some(job) => (200, details(&job, now)),
            None => not_found(request),
        },
        ("PATCH", ["jobs", jid]) => match shared.jobs.iter_mut().find(|j| j.jid == *jid) {
            Some(job) => {
                job.state = "CANCELED".into();
                (202, json!({}))
            }
            None => not_found(request),
        },
        ("GET", ["jobs", _, "metrics"]) | ("GET", ["jobs", _, "vertices", _, "metrics"]) => {
            (200, json!([]))
        }
        ("GET", ["jobs", _, "vertices", _, "subtasks", "metrics"]) => (200, json!([])),
        ("GET", ["jobs", _, "exceptions"]) => (
            200,
            json!({"exceptionHistory": {"entries": [], "truncated": false}}),
        ),
        _ => not_found(request),
    };
    Answer {
        status,
        body: serde_json::to_vec(&body).unwrap_or_default(),
    }
}

fn not_found(request: &Request) -> (u16, Value) {
    (
        404,
        json!({"errors": [format!("Not found: {}", request.path())]}),
    )
}

/// The job as `/jobs/overview` lists it.
pub fn overview_entry(job: &Job, now: i64) -> Value {
    json!({"jid": job.jid, "name": job.name, "state": job.state, "start-time": now - 60_000,
        "end-time": -1, "duration": 60_000, "last-modification": now - 60_000,
        "tasks": {"running": 1, "canceled": 0, "finished": 0, "failed": 0, "total": 1}})
}

fn details(job: &Job, now: i64) -> Value {
    json!({"jid": job.jid, "name": job.name, "state": job.state, "start-time": now - 60_000,
        "end-time": -1, "duration": 60_000, "isStoppable": false,
        "vertices": [{"id": "cbc357ccb763df2852fee8c4fc7d55f2", "name": "Source: numbers -> Sink",
            "parallelism": 1, "status": job.state, "start-time": now - 60_000, "duration": 60_000,
            "metrics": {"read-records": 0, "write-records": 10}}]})
}

/// An overview body that lists a job the JobManager does not have.
pub fn forged_overview() -> Vec<u8> {
    let job = Job {
        jid: "f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0".into(),
        name: FORGED_JOB.into(),
        state: "RUNNING".into(),
    };
    serde_json::to_vec(&json!({ "jobs": [overview_entry(&job, now_ms())] })).unwrap_or_default()
}

/// The name of the job only a forged answer lists.
pub const FORGED_JOB: &str = "forged-job";

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Resident memory of a process, in KiB: now and its peak.
#[derive(Debug, Clone, Copy)]
pub struct Memory {
    pub rss_kib: u64,
    pub peak_kib: u64,
}

/// The real binary in standalone mode (`--kubernetes off`) polling `--cluster` entries,
/// killed on drop; its log is kept (and its tail printed) when the test fails.
pub struct Monitor {
    child: Child,
    log: PathBuf,
    api: Api,
}

/// The monitoring API of a [`Monitor`]; cheap to clone (for a task that samples it).
#[derive(Clone)]
pub struct Api {
    pub base: String,
    http: reqwest::Client,
}

/// Flags every hostile test runs with: fast polls, a short request timeout, a 1 MiB limit,
/// no health checks (only the calls a case aims at), stop allowed without credentials.
pub const POLL_INTERVAL: Duration = Duration::from_millis(200);
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

impl Monitor {
    /// Starts `flink-monitor run` for `clusters` (NAME, URL) with the flags above and
    /// `extra` (later flags win), and waits until it is ready (every cluster polled once).
    pub async fn start_with(clusters: &[(&str, &str)], extra: &[&str]) -> Self {
        for attempt in 1.. {
            let port = free_port();
            let log =
                std::env::temp_dir().join(format!("fm-hostile-{}-{port}.log", std::process::id()));
            let file = std::fs::File::create(&log).expect("create the monitor's log");
            let mut command = Command::new(scenario_binary());
            command
                .args(["run", "--kubernetes", "off", "--log-format", "plain"])
                .args(["--listen", &format!("127.0.0.1:{port}")])
                .args([
                    "--poll-interval",
                    &format!("{}ms", POLL_INTERVAL.as_millis()),
                ])
                .args([
                    "--request-timeout",
                    &format!("{}ms", REQUEST_TIMEOUT.as_millis()),
                ])
                .args(["--max-response-bytes", &MAX_RESPONSE_BYTES.to_string()])
                .args([
                    "--health-interval",
                    "0s",
                    "--cache-ttl",
                    "0s",
                    "--enable-stop",
                ]);
            for (name, url) in clusters {
                command.args(["--cluster", &format!("{name}={url}")]);
            }
            command.args(extra);
            for (name, _) in std::env::vars_os() {
                let name = name.to_string_lossy().into_owned();
                if name.starts_with("FLINK_MONITOR_") || name.to_lowercase().ends_with("_proxy") {
                    command.env_remove(name);
                }
            }
            command.env_remove("KUBECONFIG").env("RUST_LOG", "info");
            let child = spawn_logged(&mut command, file);
            let mut monitor = Self {
                child,
                log,
                api: Api {
                    base: format!("http://127.0.0.1:{port}"),
                    http: reqwest::Client::builder()
                        .timeout(Duration::from_secs(10))
                        .no_proxy()
                        .build()
                        .expect("an HTTP client"),
                },
            };
            match monitor.wait_ready().await {
                Ok(()) => return monitor,
                Err(why) if why.contains("failed to listen") && attempt < 5 => continue,
                Err(why) => panic!("flink-monitor did not come up: {why}"),
            }
        }
        unreachable!("the loop returns or panics")
    }

    async fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("exited ({status}): {}", self.log_text()));
            }
            if let Ok(response) = self
                .api
                .http
                .get(format!("{}/readyz", self.api.base))
                .send()
                .await
                && response.status() == 200
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("not ready within 30 s: {}", self.log_text()));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// VmRSS and VmHWM of the monitor.
    pub fn memory(&self) -> Memory {
        let mut text = String::new();
        std::fs::File::open(format!("/proc/{}/status", self.pid()))
            .and_then(|mut f| f.read_to_string(&mut text))
            .expect("read the monitor's /proc status");
        let field = |name: &str| {
            text.lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or_else(|| panic!("no {name} in /proc/PID/status"))
        };
        Memory {
            rss_kib: field("VmRSS:"),
            peak_kib: field("VmHWM:"),
        }
    }

    pub fn api(&self) -> &Api {
        &self.api
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Api {
    /// `GET path`: the status and the JSON body (Null when not JSON).
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// `/clusters/{id}`'s object.
    pub async fn cluster(&self, id: &str) -> Value {
        let (status, body) = self.get(&format!("/clusters/{id}")).await;
        assert_eq!(status, 200, "GET /clusters/{id}: {body}");
        body["response"].clone()
    }

    /// (jid, name) of every job `/clusters/{id}/jobs/overview/` lists.
    pub async fn overview(&self, id: &str) -> Vec<(String, String)> {
        let (status, body) = self.get(&format!("/clusters/{id}/jobs/overview/")).await;
        assert_eq!(status, 200, "GET /clusters/{id}/jobs/overview/: {body}");
        body["response"]["jobs"]
            .as_array()
            .map(|jobs| {
                jobs.iter()
                    .map(|j| {
                        let text = |key: &str| j[key].as_str().unwrap_or_default().to_string();
                        (text("jid"), text("name"))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = self.log_text();
            let lines: Vec<&str> = log.lines().collect();
            eprintln!(
                "flink-monitor's log ({}), last lines:\n{}",
                self.log.display(),
                lines[lines.len().saturating_sub(30)..].join("\n")
            );
        } else {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}
