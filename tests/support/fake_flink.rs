//! `FakeFlink`: a test double of a Flink JobManager's REST API. It is not Flink.
//!
//! An in-process axum server on `127.0.0.1:0` that answers the endpoints flink-monitor
//! calls, from a small model seeded with the answers recorded from real Flink 1.20.5 and
//! 2.3.0 (`tests/fixtures/<version>/`). A test can
//! - change the model at run time: jobs and their states, job details, exceptions, vertex
//!   metrics, `/config` ([`FakeFlink::add_job`], [`FakeFlink::set_state`], [`FakeFlink::edit`]);
//! - inject a fault per method and path: a slow or held answer, an error status, HTML,
//!   garbage ([`FakeFlink::inject`] with a [`Fault`]);
//! - count the requests it received per path ([`FakeFlink::calls`], [`FakeFlink::requests`]);
//! - stop it, so its port is closed ([`FakeFlink::stop`]).
//!
//! Where it is simpler than Flink (keep this list honest):
//! - state changes are immediate: a cancel makes the job CANCELED and a stop-with-savepoint
//!   makes it FINISHED at once, in `/jobs/overview` and `/jobs/{jid}` alike (Flink caches
//!   `/jobs/{jid}` for a few seconds);
//! - only metric names with a recorded (or test-set) value answer in `?get=`; Flink has a
//!   value for every listed name;
//! - `subtasks/metrics?agg=` is computed from the `<subtask>.<name>` vertex metrics of the
//!   model, the way Flink aggregates task metrics; metrics of an unknown job answer `[]`;
//! - a stop-with-savepoint trigger answers IN_PROGRESS on its first poll and COMPLETED
//!   after, as recorded;
//! - an unknown path answers 404 `{"errors":["Not found: <path>"]}`, whatever the method.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The Flink versions whose answers were recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FlinkVersion {
    V1_20,
    V2_3,
}

impl FlinkVersion {
    pub const ALL: [FlinkVersion; 2] = [FlinkVersion::V1_20, FlinkVersion::V2_3];

    /// The full version, as `/config` says it, and the fixture folder name.
    pub fn as_str(self) -> &'static str {
        match self {
            FlinkVersion::V1_20 => "1.20.5",
            FlinkVersion::V2_3 => "2.3.0",
        }
    }
}

/// The recorded jobs a fake job can be modelled on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Recorded {
    /// `lab-stream`: RUNNING, two vertices, live metrics.
    Stream,
    /// `lab-finish`: FINISHED after 200 records; stale metric store, final vertex counts.
    Finish,
    /// `lab-fail`: FAILED, with an exception history.
    Fail,
}

impl Recorded {
    pub const ALL: [Recorded; 3] = [Recorded::Stream, Recorded::Finish, Recorded::Fail];

    /// The fixture file prefix, e.g. `job_stream`.
    pub fn prefix(self) -> &'static str {
        match self {
            Recorded::Stream => "job_stream",
            Recorded::Finish => "job_finish",
            Recorded::Fail => "job_fail",
        }
    }

    /// The job's name in the recorded `/jobs/overview`.
    pub fn name(self) -> &'static str {
        match self {
            Recorded::Stream => "lab-stream",
            Recorded::Finish => "lab-finish",
            Recorded::Fail => "lab-fail",
        }
    }
}

/// Path of a recorded answer.
pub fn fixture_path(version: FlinkVersion, file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(version.as_str())
        .join(file)
}

pub fn fixture_bytes(version: FlinkVersion, file: &str) -> Vec<u8> {
    let path = fixture_path(version, file);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read fixture {}: {e}", path.display()))
}

pub fn fixture(version: FlinkVersion, file: &str) -> Value {
    let path = fixture_path(version, file);
    serde_json::from_slice(&fixture_bytes(version, file))
        .unwrap_or_else(|e| panic!("fixture {} is not JSON: {e}", path.display()))
}

pub use flink_monitor::time::now_ms;

/// Flink's globally terminal job states.
pub fn is_terminal(state: &str) -> bool {
    matches!(state, "FINISHED" | "FAILED" | "CANCELED")
}

/// Vertex metrics of one vertex: name -> value (None: listed, but no value known).
pub type VertexMetrics = BTreeMap<String, Option<String>>;

/// A recorded job, used to seed the fake and as the model of added jobs.
#[derive(Debug, Clone)]
pub struct Template {
    /// Its entry of `/jobs/overview`.
    pub overview: Value,
    /// `GET /jobs/{jid}`.
    pub details: Value,
    /// `GET /jobs/{jid}/exceptions`.
    pub exceptions: Value,
    /// Per vertex, in the order of `details.vertices`.
    pub vertex_metrics: Vec<(String, VertexMetrics)>,
}

impl Template {
    fn load(version: FlinkVersion, kind: Recorded, overview: &Value) -> Self {
        let prefix = kind.prefix();
        let details = fixture(version, &format!("{prefix}.json"));
        let jid = str_field(&details, "jid");
        let overview = overview["jobs"]
            .as_array()
            .and_then(|jobs| jobs.iter().find(|j| j["jid"] == jid.as_str()))
            .cloned()
            .unwrap_or_else(|| panic!("{jid} is not in the recorded /jobs/overview"));
        let vertex_metrics = vertex_ids(&details)
            .into_iter()
            .enumerate()
            .map(|(i, vid)| {
                let names = fixture(version, &format!("{prefix}_v{i}_metrics_list.json"));
                let values = fixture(version, &format!("{prefix}_v{i}_metrics_values.json"));
                (vid, metrics_from(&names, &values))
            })
            .collect();
        Self {
            overview,
            details,
            exceptions: fixture(version, &format!("{prefix}_exceptions.json")),
            vertex_metrics,
        }
    }

    pub fn jid(&self) -> String {
        str_field(&self.details, "jid")
    }
}

fn metrics_from(names: &Value, values: &Value) -> VertexMetrics {
    let mut metrics = VertexMetrics::new();
    for entry in names.as_array().into_iter().flatten() {
        metrics.insert(str_field(entry, "id"), None);
    }
    for entry in values.as_array().into_iter().flatten() {
        metrics.insert(
            str_field(entry, "id"),
            entry["value"].as_str().map(String::from),
        );
    }
    metrics
}

fn str_field(value: &Value, key: &str) -> String {
    value[key]
        .as_str()
        .unwrap_or_else(|| panic!("no string {key:?} in {value}"))
        .to_string()
}

fn vertex_ids(details: &Value) -> Vec<String> {
    details["vertices"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| str_field(v, "id"))
        .collect()
}

/// A job to add to the fake, modelled on a recorded one.
#[derive(Debug, Clone)]
pub struct FakeJob {
    pub name: String,
    pub state: String,
    pub jid: Option<String>,
    pub start_time: Option<i64>,
    pub like: Recorded,
}

impl FakeJob {
    /// A job named `name` in `state`, started a minute ago, shaped like the recorded stream.
    pub fn new(name: &str, state: &str) -> Self {
        Self {
            name: name.to_string(),
            state: state.to_string(),
            jid: None,
            start_time: None,
            like: Recorded::Stream,
        }
    }

    pub fn jid(mut self, jid: &str) -> Self {
        self.jid = Some(jid.to_string());
        self
    }

    pub fn started_at(mut self, ms: i64) -> Self {
        self.start_time = Some(ms);
        self
    }

    pub fn like(mut self, recorded: Recorded) -> Self {
        self.like = recorded;
        self
    }
}

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    pub path: String,
    pub query: Option<String>,
    pub body: Bytes,
}

impl Request {
    /// `path?query`, as sent.
    pub fn path_and_query(&self) -> String {
        match &self.query {
            Some(q) => format!("{}?{q}", self.path),
            None => self.path.clone(),
        }
    }
}

/// Holds answers back until opened. Cheap to clone; clones share the state.
#[derive(Debug, Clone)]
pub struct Gate(Arc<watch::Sender<bool>>);

impl Default for Gate {
    fn default() -> Self {
        Self::new()
    }
}

impl Gate {
    pub fn new() -> Self {
        Self(Arc::new(watch::channel(false).0))
    }

    /// Lets every held answer, and every later one, through.
    pub fn open(&self) {
        self.0.send_replace(true);
    }

    async fn pass(&self) {
        let mut open = self.0.subscribe();
        // Err only if the sender is gone, and `self` holds it.
        let _ = open.wait_for(|open| *open).await;
    }
}

/// A canned answer that replaces the model's.
#[derive(Debug, Clone)]
struct Canned {
    status: StatusCode,
    content_type: &'static str,
    body: Bytes,
}

/// What to do instead of (or before) the normal answer of one endpoint. Build one with a
/// constructor and chain [`Fault::after`] or [`Fault::behind`] to combine.
#[derive(Debug, Clone, Default)]
pub struct Fault {
    delay: Duration,
    gate: Option<Gate>,
    answer: Option<Canned>,
}

impl Fault {
    /// The normal answer, `delay` late.
    pub fn slow(delay: Duration) -> Self {
        Self::default().after(delay)
    }

    /// The normal answer, once `gate` opens.
    pub fn held(gate: &Gate) -> Self {
        Self::default().behind(gate)
    }

    /// An error status with a body shaped like Flink's: `{"errors": [...]}` (a 500 carries
    /// Flink's two strings).
    pub fn error(status: u16) -> Self {
        let errors = if status == 500 {
            json!([
                "Internal server error.",
                "<Exception on server side:\njava.lang.IllegalStateException: fault injected by the test\n\tat fake.Flink(FakeFlink.java:1)\n\nEnd of exception on server side>"
            ])
        } else {
            json!([format!(
                "org.apache.flink.runtime.rest.handler.RestHandlerException: fault injected by the test (HTTP {status})\n\tat fake.Flink(FakeFlink.java:1)"
            )])
        };
        Self::json(status, json!({ "errors": errors }))
    }

    pub fn json(status: u16, body: Value) -> Self {
        Self::body(
            status,
            "application/json; charset=UTF-8",
            body.to_string().into_bytes(),
        )
    }

    /// An HTML page, as a proxy or load balancer in front of a JobManager sends.
    pub fn html(status: u16) -> Self {
        let page = format!(
            "<html><head><title>{status}</title></head><body><h1>{status} from a proxy</h1></body></html>"
        );
        Self::body(status, "text/html", page.into_bytes())
    }

    /// 200 with a body that claims to be JSON but is not.
    pub fn garbage() -> Self {
        Self::body(
            200,
            "application/json",
            b"\x00\xffnot json at all {[".to_vec(),
        )
    }

    pub fn body(status: u16, content_type: &'static str, body: Vec<u8>) -> Self {
        Self {
            answer: Some(Canned {
                status: StatusCode::from_u16(status)
                    .unwrap_or_else(|e| panic!("status {status}: {e}")),
                content_type,
                body: body.into(),
            }),
            ..Self::default()
        }
    }

    pub fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    pub fn behind(mut self, gate: &Gate) -> Self {
        self.gate = Some(gate.clone());
        self
    }
}

#[derive(Debug, Clone)]
struct Trigger {
    jid: String,
    polls: usize,
    /// The `operation` of the COMPLETED answer.
    operation: Value,
}

/// What the fake serves. Public so a test can change anything with [`FakeFlink::edit`].
#[derive(Debug)]
pub struct Model {
    pub version: FlinkVersion,
    /// The entries of `/jobs/overview`, in order.
    pub jobs: Vec<Value>,
    /// `GET /jobs/{jid}` by jid; a job without one answers 404.
    pub details: HashMap<String, Value>,
    /// `GET /jobs/{jid}/exceptions` by jid; a known job without one has no exceptions.
    pub exceptions: HashMap<String, Value>,
    /// Vertex metrics by (jid, vertex id).
    pub vertex_metrics: HashMap<(String, String), VertexMetrics>,
    /// Job metrics (`GET /jobs/{jid}/metrics?get=...`) by jid: name -> value.
    pub job_metrics: HashMap<String, BTreeMap<String, String>>,
    /// `GET /jobs/{jid}/checkpoints` by jid; a known job without one has no checkpoints.
    pub checkpoints: HashMap<String, Value>,
    /// `GET /jobs/{jid}/checkpoints/config` by jid; a known job without one answers 404
    /// "Checkpointing is not enabled", as Flink does for a job without checkpoint settings.
    pub checkpoint_config: HashMap<String, Value>,
    /// `GET /config`.
    pub config: Value,
    /// The recorded jobs, as models for added ones.
    pub templates: HashMap<Recorded, Template>,
    triggers: HashMap<String, Trigger>,
    faults: HashMap<(Method, String), Fault>,
    requests: Vec<Request>,
}

/// Ids the fake hands out (jids, trigger ids): 32 hex digits, unique in the process.
fn next_id(kind: u32) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!(
        "fa4e{kind:04x}{:024x}",
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

impl Model {
    fn seed(version: FlinkVersion) -> Self {
        let overview = fixture(version, "jobs_overview.json");
        let templates: HashMap<Recorded, Template> = Recorded::ALL
            .into_iter()
            .map(|kind| (kind, Template::load(version, kind, &overview)))
            .collect();
        let mut model = Self {
            version,
            jobs: overview["jobs"].as_array().cloned().unwrap_or_default(),
            details: HashMap::new(),
            exceptions: HashMap::new(),
            vertex_metrics: HashMap::new(),
            job_metrics: HashMap::new(),
            checkpoints: HashMap::new(),
            checkpoint_config: HashMap::new(),
            config: fixture(version, "config.json"),
            templates,
            triggers: HashMap::new(),
            faults: HashMap::new(),
            requests: Vec::new(),
        };
        for template in model.templates.values().cloned().collect::<Vec<_>>() {
            let jid = template.jid();
            model.details.insert(jid.clone(), template.details);
            model.exceptions.insert(jid.clone(), template.exceptions);
            for (vid, metrics) in template.vertex_metrics {
                model.vertex_metrics.insert((jid.clone(), vid), metrics);
            }
        }
        // The cancelled and the stopped job of the recordings (2.3's overview lists them,
        // as recorded before the cancel and the stop).
        for (file, exceptions) in [
            (
                "job_after_cancel.json",
                Some("job_after_cancel_exceptions.json"),
            ),
            ("job_after_stop.json", None),
        ] {
            let details = fixture(version, file);
            let jid = str_field(&details, "jid");
            if let Some(exceptions) = exceptions {
                model
                    .exceptions
                    .insert(jid.clone(), fixture(version, exceptions));
            }
            model.details.insert(jid, details);
        }
        model
    }

    /// The recorded, empty exceptions answer of this version.
    fn no_exceptions(&self) -> Value {
        match self.version {
            FlinkVersion::V1_20 => json!({
                "root-exception": null, "timestamp": null, "all-exceptions": [],
                "truncated": false, "exceptionHistory": {"entries": [], "truncated": false}
            }),
            FlinkVersion::V2_3 => json!({"exceptionHistory": {"entries": [], "truncated": false}}),
        }
    }

    pub fn job(&self, jid: &str) -> Option<&Value> {
        self.jobs.iter().find(|j| j["jid"] == jid)
    }

    pub fn job_mut(&mut self, jid: &str) -> Option<&mut Value> {
        self.jobs.iter_mut().find(|j| j["jid"] == jid)
    }

    /// The state of a job as `/jobs/overview` says it.
    pub fn state(&self, jid: &str) -> Option<String> {
        self.job(jid)
            .and_then(|j| j["state"].as_str())
            .map(String::from)
    }

    /// Adds a job modelled on a recorded one; answers its jid.
    pub fn add_job(&mut self, job: FakeJob) -> String {
        let template = self.templates[&job.like].clone();
        let jid = job.jid.clone().unwrap_or_else(|| next_id(1));
        let start = job.start_time.unwrap_or_else(|| now_ms() - 60_000);
        let (end, duration) = if is_terminal(&job.state) {
            let took = template.overview["duration"].as_i64().unwrap_or(1000);
            (start + took, took)
        } else {
            (-1, now_ms() - start)
        };
        let mut overview = template.overview.clone();
        let mut details = template.details.clone();
        for entry in [&mut overview, &mut details] {
            entry["jid"] = jid.clone().into();
            entry["name"] = job.name.clone().into();
            entry["state"] = job.state.clone().into();
            entry["start-time"] = start.into();
            entry["end-time"] = end.into();
            entry["duration"] = duration.into();
        }
        overview["last-modification"] = start.into();
        self.jobs.push(overview);
        self.details.insert(jid.clone(), details);
        self.exceptions.insert(jid.clone(), template.exceptions);
        for (vid, metrics) in template.vertex_metrics {
            self.vertex_metrics.insert((jid.clone(), vid), metrics);
        }
        jid
    }

    /// Moves a job to `state` in `/jobs/overview` and `/jobs/{jid}`; entering a terminal
    /// state sets its end time.
    pub fn set_state(&mut self, jid: &str, state: &str) {
        let now = now_ms();
        let job = self
            .job_mut(jid)
            .unwrap_or_else(|| panic!("no job {jid} in the fake"));
        set_entry_state(job, state, now);
        if let Some(details) = self.details.get_mut(jid) {
            set_entry_state(details, state, now);
        }
    }

    /// Sets a job metric (`/jobs/{jid}/metrics`), e.g. `numRestarts`.
    pub fn set_job_metric(&mut self, jid: &str, name: &str, value: &str) {
        self.job_metrics
            .entry(jid.to_string())
            .or_default()
            .insert(name.to_string(), value.to_string());
    }

    /// Sets job metrics, `(name, value)` each.
    pub fn set_job_metrics(&mut self, jid: &str, metrics: &[(&str, &str)]) {
        for (name, value) in metrics {
            self.set_job_metric(jid, name, value);
        }
    }

    pub fn set_vertex_metric(&mut self, jid: &str, vertex: &str, name: &str, value: &str) {
        self.vertex_metrics
            .entry((jid.to_string(), vertex.to_string()))
            .or_default()
            .insert(name.to_string(), Some(value.to_string()));
    }

    /// The vertex ids of a job, in the order of `/jobs/{jid}`.
    pub fn vertices(&self, jid: &str) -> Vec<String> {
        self.details.get(jid).map(vertex_ids).unwrap_or_default()
    }

    fn answer(
        &mut self,
        method: &Method,
        path: &str,
        query: Option<&str>,
        body: &[u8],
    ) -> Response {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let params: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or("").as_bytes())
            .into_owned()
            .collect();
        let param = |key: &str| {
            params
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        match (method.as_str(), segments.as_slice()) {
            ("GET", ["config"]) => ok(&self.config),
            ("GET", ["jobs", "overview"]) => ok(&json!({ "jobs": self.jobs })),
            (_, ["jobs", jid, ..]) if *jid != "overview" && !is_job_id(jid) => self.bad_job_id(jid),
            ("GET", ["jobs", jid]) => match self.details.get(*jid) {
                Some(details) => ok(details),
                None => self.job_not_found(jid),
            },
            ("PATCH", ["jobs", jid]) => self.cancel(jid, param("mode")),
            ("GET", ["jobs", jid, "exceptions"]) => {
                match (self.exceptions.get(*jid), self.details.contains_key(*jid)) {
                    (Some(exceptions), _) => ok(exceptions),
                    (None, true) => ok(&self.no_exceptions()),
                    (None, false) => self.job_not_found(jid),
                }
            }
            ("GET", ["jobs", jid, "vertices", vid, "metrics"]) => {
                let metrics = self.vertex_metrics.get(&(jid.to_string(), vid.to_string()));
                ok(&vertex_metrics_answer(metrics, param("get")))
            }
            ("GET", ["jobs", jid, "vertices", vid, "subtasks", "metrics"]) => {
                let metrics = self.vertex_metrics.get(&(jid.to_string(), vid.to_string()));
                ok(&subtask_metrics_answer(metrics, param("get"), param("agg")))
            }
            ("GET", ["jobs", jid, "metrics"]) => match self.job_metrics.get(*jid) {
                Some(metrics) => ok(&job_metrics_answer(metrics, param("get"))),
                None if self.details.contains_key(*jid) => ok(&json!([])),
                None => self.job_not_found(jid),
            },
            ("GET", ["jobs", jid, "checkpoints"]) => {
                match (self.checkpoints.get(*jid), self.details.contains_key(*jid)) {
                    (Some(stats), _) => ok(stats),
                    (None, true) => ok(&no_checkpoints()),
                    (None, false) => self.job_not_found(jid),
                }
            }
            ("GET", ["jobs", jid, "checkpoints", "config"]) => {
                match (
                    self.checkpoint_config.get(*jid),
                    self.details.contains_key(*jid),
                ) {
                    (Some(config), _) => ok(config),
                    (None, true) => answer(
                        StatusCode::NOT_FOUND,
                        &json!({ "errors": [format!("Checkpointing is not enabled for this job ({jid}).")] }),
                    ),
                    (None, false) => self.job_not_found(jid),
                }
            }
            ("POST", ["jobs", jid, "stop"]) => self.stop(jid, body),
            ("GET", ["jobs", jid, "savepoints", trigger]) => self.savepoint(jid, trigger),
            _ => answer(
                StatusCode::NOT_FOUND,
                &json!({ "errors": [format!("Not found: {path}")] }),
            ),
        }
    }

    /// A recorded answer, with recorded ids replaced by the ones asked for.
    fn recorded(&self, status: StatusCode, file: &str, replace: &[(&str, &str)]) -> Response {
        let mut text = String::from_utf8_lossy(&fixture_bytes(self.version, file)).into_owned();
        for (from, to) in replace {
            text = text.replace(from, to);
        }
        let body: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
        answer(status, &body)
    }

    /// The jid of the recorded stop-with-savepoint job, named in recorded messages.
    fn recorded_stop_jid(&self) -> &'static str {
        match self.version {
            FlinkVersion::V1_20 => "1501798a0af2c1436964cda272f4e837",
            FlinkVersion::V2_3 => "e498589d7c5b6964e2589dab0c564404",
        }
    }

    fn job_not_found(&self, jid: &str) -> Response {
        self.recorded(
            StatusCode::NOT_FOUND,
            "job_unknown.json",
            &[("00000000000000000000000000000000", jid)],
        )
    }

    fn bad_job_id(&self, jid: &str) -> Response {
        self.recorded(
            StatusCode::BAD_REQUEST,
            "job_badid.json",
            &[("not-a-job-id", jid)],
        )
    }

    fn cancel(&mut self, jid: &str, mode: Option<&str>) -> Response {
        if !matches!(mode, None | Some("cancel")) {
            let error = format!("Bad request, could not parse parameters: invalid mode {mode:?}");
            return answer(StatusCode::BAD_REQUEST, &json!({ "errors": [error] }));
        }
        let Some(state) = self.state(jid) else {
            return self.recorded(StatusCode::NOT_FOUND, "cancel_unknown.json", &[]);
        };
        match state.as_str() {
            "FINISHED" => self.recorded(StatusCode::CONFLICT, "cancel_finished.json", &[]),
            "FAILED" => self.recorded(StatusCode::CONFLICT, "cancel_failed.json", &[]),
            "CANCELED" => answer(
                StatusCode::ACCEPTED,
                &fixture(self.version, "cancel_again_canceled.json"),
            ),
            _ => {
                self.set_state(jid, "CANCELED");
                answer(
                    StatusCode::ACCEPTED,
                    &fixture(self.version, "cancel_running.json"),
                )
            }
        }
    }

    fn stop(&mut self, jid: &str, body: &[u8]) -> Response {
        let request: Value = match serde_json::from_slice(body) {
            Ok(request) => request,
            Err(e) => {
                let error = format!(
                    "Request did not match expected format StopWithSavepointRequestBody: {e}"
                );
                return answer(StatusCode::BAD_REQUEST, &json!({ "errors": [error] }));
            }
        };
        let trigger = next_id(2);
        let live = self.state(jid).is_some_and(|state| !is_terminal(&state));
        let operation = if live {
            self.set_state(jid, "FINISHED");
            let dir = request["targetDirectory"]
                .as_str()
                .unwrap_or("file:/tmp/fake-flink/savepoints");
            json!({ "location": format!("{}/savepoint-{}-{}", dir.trim_end_matches('/'), &jid[..6], &trigger[..12]) })
        } else {
            // Flink accepts a stop of a finished or unknown job and reports the failure in
            // the trigger's result, as recorded.
            let recorded = fixture(self.version, "stop_on_finished_poll.json");
            let text = recorded["operation"]
                .to_string()
                .replace(self.recorded_stop_jid(), jid);
            serde_json::from_str(&text).unwrap_or(Value::Null)
        };
        self.triggers.insert(
            trigger.clone(),
            Trigger {
                jid: jid.to_string(),
                polls: 0,
                operation,
            },
        );
        answer(StatusCode::ACCEPTED, &json!({ "request-id": trigger }))
    }

    fn savepoint(&mut self, jid: &str, trigger_id: &str) -> Response {
        match self.triggers.get_mut(trigger_id).filter(|t| t.jid == jid) {
            None => self.recorded(
                StatusCode::NOT_FOUND,
                "savepoint_unknown_trigger.json",
                &[
                    ("00000000000000000000000000000000", trigger_id),
                    (self.recorded_stop_jid(), jid),
                ],
            ),
            Some(trigger) => {
                trigger.polls += 1;
                if trigger.polls == 1 {
                    ok(&fixture(self.version, "stop_poll_1.json"))
                } else {
                    ok(&json!({ "status": {"id": "COMPLETED"}, "operation": trigger.operation }))
                }
            }
        }
    }
}

fn set_entry_state(entry: &mut Value, state: &str, now: i64) {
    let start = entry["start-time"].as_i64().unwrap_or(now);
    let ended = entry["end-time"].as_i64().is_some_and(|end| end >= 0);
    entry["state"] = state.into();
    if is_terminal(state) && !ended {
        entry["end-time"] = now.into();
        entry["duration"] = (now - start).into();
    } else if !is_terminal(state) {
        entry["end-time"] = (-1).into();
    }
}

fn is_job_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `/jobs/{jid}/metrics?get=a,b`: the values of the known names, as strings; without
/// `get`, every name.
fn job_metrics_answer(metrics: &BTreeMap<String, String>, get: Option<&str>) -> Value {
    match get {
        None => metrics.keys().map(|id| json!({ "id": id })).collect(),
        Some(get) => get
            .split(',')
            .filter_map(|name| Some(json!({ "id": name, "value": metrics.get(name)? })))
            .collect(),
    }
}

/// `/jobs/{jid}/checkpoints` of a job that never checkpointed.
fn no_checkpoints() -> Value {
    json!({
        "counts": {"restored": 0, "total": 0, "in_progress": 0, "completed": 0, "failed": 0},
        "latest": {"completed": null, "savepoint": null, "failed": null, "restored": null},
        "history": []
    })
}

/// `.../metrics`: every name; `.../metrics?get=a,b`: the values of the known ones (unknown
/// names are left out without an error, as Flink does).
fn vertex_metrics_answer(metrics: Option<&VertexMetrics>, get: Option<&str>) -> Value {
    let Some(metrics) = metrics else {
        return json!([]);
    };
    match get {
        None => metrics.keys().map(|id| json!({ "id": id })).collect(),
        Some(get) => get
            .split(',')
            .filter_map(|name| {
                let value = metrics.get(name)?.as_ref()?;
                Some(json!({ "id": name, "value": value }))
            })
            .collect(),
    }
}

/// `.../subtasks/metrics?get=a&agg=sum,max`: numbers aggregated over `<subtask>.<name>`.
fn subtask_metrics_answer(
    metrics: Option<&VertexMetrics>,
    get: Option<&str>,
    agg: Option<&str>,
) -> Value {
    let Some(metrics) = metrics else {
        return json!([]);
    };
    let per_subtask = |name: &str| -> Vec<f64> {
        metrics
            .iter()
            .filter_map(|(id, value)| {
                let (subtask, metric) = id.split_once('.')?;
                let numeric = !subtask.is_empty() && subtask.bytes().all(|b| b.is_ascii_digit());
                (numeric && metric == name).then_some(())?;
                value.as_deref()?.parse::<f64>().ok()
            })
            .collect()
    };
    let Some(get) = get else {
        let names: std::collections::BTreeSet<&str> = metrics
            .keys()
            .filter_map(|id| id.split_once('.').map(|(_, m)| m))
            .filter(|m| !m.contains('.'))
            .collect();
        return names.into_iter().map(|id| json!({ "id": id })).collect();
    };
    let aggs: Vec<&str> = agg.map_or_else(
        || vec!["min", "max", "avg", "sum"],
        |a| a.split(',').collect(),
    );
    get.split(',')
        .filter_map(|name| {
            let values = per_subtask(name);
            if values.is_empty() {
                return None;
            }
            let mut entry = Map::new();
            entry.insert("id".into(), name.into());
            for kind in ["min", "max", "avg", "sum"]
                .into_iter()
                .filter(|k| aggs.contains(k))
            {
                let sum: f64 = values.iter().sum();
                let value = match kind {
                    "min" => values.iter().copied().fold(f64::INFINITY, f64::min),
                    "max" => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                    "avg" => sum / values.len() as f64,
                    _ => sum,
                };
                entry.insert(kind.into(), json!(value));
            }
            Some(Value::Object(entry))
        })
        .collect()
}

fn ok(body: &Value) -> Response {
    answer(StatusCode::OK, body)
}

fn answer(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=UTF-8"),
        )],
        body.to_string(),
    )
        .into_response()
}

type Shared = Arc<Mutex<Model>>;

fn lock(model: &Shared) -> MutexGuard<'_, Model> {
    // A test that panicked while holding the lock has failed already; keep serving.
    model.lock().unwrap_or_else(|e| e.into_inner())
}

async fn serve(State(model): State<Shared>, method: Method, uri: Uri, body: Bytes) -> Response {
    let path = uri.path().to_string();
    let fault = {
        let mut model = lock(&model);
        model.requests.push(Request {
            method: method.clone(),
            path: path.clone(),
            query: uri.query().map(String::from),
            body: body.clone(),
        });
        model.faults.get(&(method.clone(), path.clone())).cloned()
    };
    if let Some(fault) = fault {
        if let Some(gate) = &fault.gate {
            gate.pass().await;
        }
        if !fault.delay.is_zero() {
            tokio::time::sleep(fault.delay).await;
        }
        if let Some(canned) = fault.answer {
            return (
                canned.status,
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(canned.content_type),
                )],
                canned.body,
            )
                .into_response();
        }
    }
    lock(&model).answer(&method, &path, uri.query(), &body)
}

/// A running fake JobManager. Stopped when dropped.
pub struct FakeFlink {
    addr: SocketAddr,
    model: Shared,
    shutdown: CancellationToken,
    server: Option<JoinHandle<()>>,
}

impl FakeFlink {
    /// A fake answering what the recorded Flink `version` answered.
    pub async fn start(version: FlinkVersion) -> Self {
        Self::serve(Model::seed(version)).await
    }

    /// A fake of `version` that knows no jobs (the recordings stay available as templates).
    pub async fn empty(version: FlinkVersion) -> Self {
        let mut model = Model::seed(version);
        model.jobs.clear();
        model.details.clear();
        model.exceptions.clear();
        model.vertex_metrics.clear();
        Self::serve(model).await
    }

    async fn serve(model: Model) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake Flink to 127.0.0.1:0");
        let addr = listener
            .local_addr()
            .expect("local address of the fake Flink");
        let model = Arc::new(Mutex::new(model));
        let router = Router::new().fallback(serve).with_state(model.clone());
        let shutdown = CancellationToken::new();
        let signal = shutdown.clone().cancelled_owned();
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router)
                .with_graceful_shutdown(signal)
                .await
            {
                eprintln!("fake flink server failed: {e}");
            }
        });
        Self {
            addr,
            model,
            shutdown,
            server: Some(server),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL, as a cluster's URL: `http://127.0.0.1:<port>/`.
    pub fn url(&self) -> reqwest::Url {
        reqwest::Url::parse(&format!("http://{}/", self.addr)).expect("a valid URL")
    }

    pub fn version(&self) -> FlinkVersion {
        lock(&self.model).version
    }

    /// Reads or changes anything in the model; the next request sees the change.
    pub fn edit<T>(&self, change: impl FnOnce(&mut Model) -> T) -> T {
        change(&mut lock(&self.model))
    }

    pub fn add_job(&self, job: FakeJob) -> String {
        self.edit(|m| m.add_job(job))
    }

    pub fn set_state(&self, jid: &str, state: &str) {
        self.edit(|m| m.set_state(jid, state));
    }

    /// The jid of a job of the recorded `/jobs/overview`, by name.
    pub fn jid_of(&self, name: &str) -> String {
        self.edit(|m| {
            m.jobs
                .iter()
                .find(|j| j["name"] == name)
                .map(|j| str_field(j, "jid"))
                .unwrap_or_else(|| panic!("no job named {name:?} in the fake"))
        })
    }

    /// Answers `fault` to `method path` (any query) from now on, instead of the model.
    pub fn inject(&self, method: Method, path: &str, fault: Fault) {
        self.edit(|m| m.faults.insert((method, path.to_string()), fault));
    }

    /// Answers `GET /jobs/{jid}` (the job's details) only after `delay`.
    pub fn slow_details(&self, jid: &str, delay: Duration) {
        self.inject(Method::GET, &format!("/jobs/{jid}"), Fault::slow(delay));
    }

    /// Back to the model's answers for `method path`.
    pub fn heal(&self, method: Method, path: &str) {
        self.edit(|m| m.faults.remove(&(method, path.to_string())));
    }

    /// Requests received for `path`, any method and query.
    pub fn calls(&self, path: &str) -> usize {
        self.edit(|m| m.requests.iter().filter(|r| r.path == path).count())
    }

    /// Requests received for exactly `method path?query`.
    pub fn calls_to(&self, method: Method, path_and_query: &str) -> usize {
        self.edit(|m| {
            m.requests
                .iter()
                .filter(|r| r.method == method && r.path_and_query() == path_and_query)
                .count()
        })
    }

    /// Every request received, in order.
    pub fn requests(&self) -> Vec<Request> {
        self.edit(|m| m.requests.clone())
    }

    /// Forgets the requests received so far (the counts start again from zero).
    pub fn forget_requests(&self) {
        self.edit(|m| m.requests.clear());
    }

    /// Stops serving and closes the port; held answers are let through first.
    pub async fn stop(mut self) {
        self.shutdown_now();
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }

    fn shutdown_now(&self) {
        self.edit(|m| {
            for fault in m.faults.values() {
                if let Some(gate) = &fault.gate {
                    gate.open();
                }
            }
        });
        self.shutdown.cancel();
    }
}

impl Drop for FakeFlink {
    fn drop(&mut self) {
        self.shutdown_now();
    }
}

/// A port where nothing listens: bound (so no one else gets it) but never listening, so
/// connections to it are refused. Keep it alive as long as the URL is in use.
pub struct ClosedPort {
    _socket: tokio::net::TcpSocket,
    addr: SocketAddr,
}

impl Default for ClosedPort {
    fn default() -> Self {
        Self::new()
    }
}

impl ClosedPort {
    pub fn new() -> Self {
        let socket = tokio::net::TcpSocket::new_v4().expect("a TCP socket");
        socket
            .bind("127.0.0.1:0".parse().expect("an address"))
            .expect("bind 127.0.0.1:0");
        let addr = socket.local_addr().expect("local address");
        Self {
            _socket: socket,
            addr,
        }
    }

    pub fn url(&self) -> reqwest::Url {
        reqwest::Url::parse(&format!("http://{}/", self.addr)).expect("a valid URL")
    }
}
