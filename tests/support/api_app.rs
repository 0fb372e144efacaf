//! The monitoring API in process for the HTTP tests: the app as `runtime::run` wires it,
//! asked through `tower::ServiceExt::oneshot`, with the helpers the tests share.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use flink_monitor::api::{self, AppState, StopGuard};
use flink_monitor::clusters::{ClusterInfo, ClusterSource, KnownClusters, PollSettings};
use flink_monitor::flink::{ClientSettings, FlinkClient};
use flink_monitor::metrics::Metrics;
use http_body_util::BodyExt;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use super::fake_flink::{ClosedPort, FakeFlink, FlinkVersion, fixture};

/// How long a test waits for something the pollers do (they poll every 100 ms).
pub const PATIENCE: Duration = Duration::from_secs(20);

/// An error answer of the contract: HTTP status, `errorCode` and `message` (only 4006's
/// message is fixed by the contract; the others are pinned here so a change is deliberate).
#[derive(Debug, Clone, Copy)]
pub struct ErrorAnswer {
    pub status: u16,
    pub code: u16,
    pub message: &'static str,
}

const fn error(status: u16, code: u16, message: &'static str) -> ErrorAnswer {
    ErrorAnswer {
        status,
        code,
        message,
    }
}

pub const MALFORMED: ErrorAnswer = error(400, 4001, "Malformed parameter");
pub const NO_SUCH_PATH: ErrorAnswer = error(404, 4004, "No such path");
pub const METHOD_NOT_ALLOWED: ErrorAnswer = error(405, 4005, "Method not allowed");
pub const JOB_NOT_FOUND: ErrorAnswer = error(404, 4006, "Job with that name is not found");
pub const AMBIGUOUS: ErrorAnswer = error(
    409,
    4007,
    "Job with that name is on more than one cluster; ask under /clusters/{cluster}/",
);
pub const TERMINAL: ErrorAnswer = error(409, 4008, "Job is already in a terminal state");
pub const NO_SUCH_CLUSTER: ErrorAnswer = error(404, 4009, "No cluster with that id");
pub const NEEDS_CREDENTIALS: ErrorAnswer = error(401, 4010, "Stop needs credentials");
pub const NOT_ALLOWED: ErrorAnswer = error(403, 4010, "Stop is not allowed");
pub const NOT_READY: ErrorAnswer = error(503, 5000, "Not ready: start-up not complete");
pub const FLINK_UNAVAILABLE: ErrorAnswer = error(
    502,
    5005,
    "Flink cluster is unreachable or answered with an error",
);
/// The one line of `errors` of a stop while stop is disabled.
pub const STOP_DISABLED: &str =
    "stop is disabled; start flink-monitor with --enable-stop to allow it";

// ---------------------------------------------------------------------------------------
// The app under test

pub struct Options {
    pub guard: StopGuard,
    pub cache_ttl: Duration,
    pub timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            guard: StopGuard::Disabled,
            // No reuse, so a test that changes the fake sees the change on its next request.
            cache_ttl: Duration::ZERO,
            timeout: Duration::from_secs(5),
        }
    }
}

impl Options {
    pub fn guard(guard: StopGuard) -> Self {
        Self {
            guard,
            ..Self::default()
        }
    }

    /// Answers reused for `cache_ttl`.
    pub fn cache_ttl(cache_ttl: Duration) -> Self {
        Self {
            cache_ttl,
            ..Self::default()
        }
    }

    /// Calls to Flink time out after `timeout`.
    pub fn timeout(timeout: Duration) -> Self {
        Self {
            timeout,
            ..Self::default()
        }
    }
}

pub struct TestApp {
    pub router: Router,
    pub registry: Arc<KnownClusters>,
    pub shutdown: CancellationToken,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub fn static_cluster(id: &str, url: reqwest::Url) -> ClusterInfo {
    ClusterInfo {
        id: id.to_string(),
        namespace: None,
        name: id.to_string(),
        source: ClusterSource::Static,
        url,
        owner: None,
    }
}

pub fn service_cluster(namespace: &str, name: &str, url: reqwest::Url) -> ClusterInfo {
    ClusterInfo {
        id: format!("{namespace}.{name}"),
        namespace: Some(namespace.to_string()),
        name: name.to_string(),
        source: ClusterSource::Service,
        url,
        owner: None,
    }
}

/// The app as `runtime::run` wires it, polling every 100 ms.
pub fn start(clusters: Vec<ClusterInfo>, options: Options) -> TestApp {
    let metrics = Arc::new(Metrics::new());
    let shutdown = CancellationToken::new();
    let settings = PollSettings {
        poll_interval: Duration::from_millis(100),
        cache_ttl: options.cache_ttl,
        client: ClientSettings {
            timeout: options.timeout,
            ..ClientSettings::default()
        },
    };
    let http = FlinkClient::http_client().expect("an HTTP client");
    let registry = Arc::new(KnownClusters::new(
        settings,
        http,
        metrics.clone(),
        shutdown.clone(),
    ));
    for cluster in clusters {
        registry.upsert(cluster);
    }
    // Standalone: the static list is all there is to discover.
    registry.mark_discovered();
    let state = AppState::new(registry.clone(), metrics, options.guard);
    TestApp {
        router: api::router(Arc::new(state)),
        registry,
        shutdown,
    }
}

/// The app on the `up` clusters, each polled successfully, then the `down` ones, each
/// failed a poll.
pub async fn start_polled(
    up: Vec<ClusterInfo>,
    down: Vec<ClusterInfo>,
    options: Options,
) -> TestApp {
    let ids = |clusters: &[ClusterInfo]| -> Vec<String> {
        clusters.iter().map(|c| c.id.clone()).collect()
    };
    let (up_ids, down_ids) = (ids(&up), ids(&down));
    let app = start(up.into_iter().chain(down).collect(), options);
    for id in up_ids {
        app.reachable(&id).await;
    }
    for id in down_ids {
        app.unreachable(&id).await;
    }
    app
}

/// A cluster `id` at `url`: a Service's for an id `namespace.name`, a static one otherwise.
pub fn cluster(id: &str, url: reqwest::Url) -> ClusterInfo {
    match id.split_once('.') {
        Some((namespace, name)) => service_cluster(namespace, name, url),
        None => static_cluster(id, url),
    }
}

/// The app on a fake of each `live` (id, version), in order, each polled, then on a closed
/// port for each `dead` id, each failed a poll. The ports refuse connections as long as
/// they are kept.
pub async fn world<const L: usize, const D: usize>(
    live: [(&str, FlinkVersion); L],
    dead: [&str; D],
    options: Options,
) -> ([FakeFlink; L], [ClosedPort; D], TestApp) {
    let mut fakes = Vec::with_capacity(L);
    for (_, version) in live {
        fakes.push(FakeFlink::start(version).await);
    }
    let ports: [ClosedPort; D] = std::array::from_fn(|_| ClosedPort::new());
    let up = live
        .iter()
        .zip(&fakes)
        .map(|((id, _), f)| cluster(id, f.url()));
    let down = dead.iter().zip(&ports).map(|(id, p)| cluster(id, p.url()));
    let app = start_polled(up.collect(), down.collect(), options).await;
    let fakes = <[FakeFlink; L]>::try_from(fakes).unwrap_or_else(|_| unreachable!("L fakes"));
    (fakes, ports, app)
}

/// One cluster `alpha` on a fake of `version`, polled at least once.
pub async fn one_cluster(version: FlinkVersion, options: Options) -> (FakeFlink, TestApp) {
    let ([fake], [], app) = world([("alpha", version)], [], options).await;
    (fake, app)
}

/// One cluster `alpha` on Flink 1.20 on which each of `methods` on each of `paths` answers
/// `expected` (see [`TestApp::assert_errors`]); the fake and the app, for further checks.
pub async fn one_cluster_answering(
    options: Options,
    methods: &[Method],
    paths: &[&str],
    expected: ErrorAnswer,
    starts: &[&str],
) -> (FakeFlink, TestApp) {
    let (fake, app) = one_cluster(FlinkVersion::V1_20, options).await;
    app.assert_errors(methods, paths, expected, starts).await;
    (fake, app)
}

#[derive(Debug)]
pub struct Answer {
    /// `METHOD URI` of the request, for the messages of failed checks.
    pub request: String,
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .with_context(|| {
                format!(
                    "HTTP {} body is not JSON: {:?}",
                    self.status,
                    String::from_utf8_lossy(&self.body)
                )
            })
            .unwrap()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("an ASCII header"))
    }

    pub fn assert_json_content_type(&self) {
        let content_type = self.header(header::CONTENT_TYPE).unwrap_or_default();
        assert!(
            content_type.starts_with("application/json"),
            "content type {content_type:?} of {self:?}"
        );
    }

    /// A 200 whose body is exactly `{"response": response, "messages": []}`.
    #[track_caller]
    pub fn assert_ok(&self, response: Value) {
        self.assert_ok_with(response, &[]);
    }

    #[track_caller]
    pub fn assert_ok_with(&self, response: Value, messages: &[&str]) {
        assert_eq!(self.status, StatusCode::OK, "{}", self.text());
        self.assert_json_content_type();
        assert_eq!(
            self.json(),
            json!({ "response": response, "messages": messages })
        );
    }

    /// The `response` of a 200 envelope whose `messages` are empty.
    #[track_caller]
    pub fn response(&self) -> Value {
        assert_eq!(self.status, StatusCode::OK, "{}", self.text());
        self.assert_json_content_type();
        let body = self.json();
        assert_eq!(keys(&body), ["messages", "response"], "{body}");
        assert_eq!(body["messages"], json!([]), "{body}");
        body["response"].clone()
    }

    /// An error answer: exactly `{"errorCode", "message", "errors"}` with the values of
    /// `expected`; returns `errors`.
    #[track_caller]
    pub fn assert_error(&self, expected: ErrorAnswer) -> Vec<String> {
        let request = &self.request;
        assert_eq!(
            self.status.as_u16(),
            expected.status,
            "{request}: {}",
            self.text()
        );
        self.assert_json_content_type();
        let body = self.json();
        let fields = keys(&body);
        assert_eq!(
            fields,
            ["errorCode", "errors", "message"],
            "{request}: {body}"
        );
        assert_eq!(body["errorCode"], expected.code, "{request}: {body}");
        assert_eq!(body["message"], expected.message, "{request}: {body}");
        body["errors"]
            .as_array()
            .unwrap_or_else(|| panic!("errors is not an array: {body}"))
            .iter()
            .map(|e| {
                e.as_str()
                    .unwrap_or_else(|| panic!("errors holds a non-string: {body}"))
                    .to_string()
            })
            .collect()
    }

    /// An error answer (as `assert_error`) with one line of `errors` per entry of
    /// `starts`, each starting with it; returns `errors`.
    #[track_caller]
    pub fn assert_error_lines(&self, expected: ErrorAnswer, starts: &[&str]) -> Vec<String> {
        let errors = self.assert_error(expected);
        assert_eq!(errors.len(), starts.len(), "{}: {errors:?}", self.request);
        for (line, start) in errors.iter().zip(starts) {
            assert!(
                line.starts_with(start),
                "{}: a line starting {start:?} in {errors:?}",
                self.request
            );
        }
        errors
    }
}

pub fn keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"))
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

impl TestApp {
    pub async fn send(&self, request: Request<Body>) -> Answer {
        send(self.router.clone(), request).await
    }

    pub async fn call(
        &self,
        method: Method,
        uri: &str,
        headers: &[(header::HeaderName, &str)],
    ) -> Answer {
        let mut request = Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            request = request.header(name, *value);
        }
        self.send(request.body(Body::empty()).expect("a valid request"))
            .await
    }

    pub async fn get(&self, uri: &str) -> Answer {
        self.call(Method::GET, uri, &[]).await
    }

    /// Each of `methods` on each of `paths` answers `expected`, with one line in `errors`
    /// for each of `starts` (starting so); a HEAD, the status and content type only.
    pub async fn assert_errors(
        &self,
        methods: &[Method],
        paths: &[&str],
        expected: ErrorAnswer,
        starts: &[&str],
    ) {
        for path in paths {
            for method in methods {
                let answer = self.call(method.clone(), path, &[]).await;
                if *method == Method::HEAD {
                    assert_eq!(answer.status.as_u16(), expected.status, "HEAD {path}");
                    answer.assert_json_content_type();
                } else {
                    answer.assert_error_lines(expected, starts);
                }
            }
        }
    }

    pub fn cluster_status(&self, id: &str) -> Arc<flink_monitor::clusters::ClusterStatus> {
        self.registry
            .get(id)
            .unwrap_or_else(|| panic!("no cluster {id}"))
            .status()
    }

    /// Waits until `id` was polled successfully and its Flink version is known.
    pub async fn reachable(&self, id: &str) {
        eventually(&format!("cluster {id} reachable"), || async {
            let status = self.cluster_status(id);
            status.reachable && status.flink_version.is_some()
        })
        .await;
    }

    /// Waits until a poll of `id` failed.
    pub async fn unreachable(&self, id: &str) {
        eventually(&format!("cluster {id} unreachable"), || async {
            let status = self.cluster_status(id);
            status.polled && !status.reachable
        })
        .await;
    }

    /// Waits until the snapshot of `cluster` has the job `jid` in `state`.
    pub async fn job_state(&self, cluster: &str, jid: &str, state: &str) {
        eventually(&format!("job {jid} {state} on {cluster}"), || async {
            self.cluster_status(cluster)
                .snapshot
                .as_ref()
                .and_then(|s| {
                    s.jobs()
                        .iter()
                        .find(|j| j.jid == jid)
                        .map(|j| j.state() == state)
                })
                .unwrap_or(false)
        })
        .await;
    }
}

/// Sends `request` to `router`: the answer with its body read.
pub async fn send(router: Router, request: Request<Body>) -> Answer {
    let line = format!("{} {}", request.method(), request.uri());
    let response = router
        .oneshot(request)
        .await
        .expect("the router is infallible");
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("a readable body").to_bytes();
    Answer {
        request: line,
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

/// Polls `check` until it holds, failing the test after `PATIENCE`.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    super::wait::until(PATIENCE, Duration::from_millis(20), what, || {
        let holds = check();
        async move { holds.await.then_some(()) }
    })
    .await
}

pub fn encode(segment: &str) -> String {
    utf8_percent_encode(segment, NON_ALPHANUMERIC).to_string()
}

pub fn rfc3339(ms: i64) -> String {
    flink_monitor::time::rfc3339(ms).expect("a valid time")
}

/// The recorded `/jobs/overview` entry of a job, by name.
pub fn recorded_job(version: FlinkVersion, name: &str) -> Value {
    fixture(version, "jobs_overview.json")["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .find(|j| j["name"] == name)
        .unwrap_or_else(|| panic!("{name} not recorded"))
        .clone()
}

/// The contract's status object, from a job's overview entry and its `/jobs/{jid}` answer.
pub fn expected_status(name: &str, job: &Value, details: &Value, duration: i64) -> Value {
    let vertices: Vec<Value> = details["vertices"]
        .as_array()
        .expect("vertices")
        .iter()
        .map(|v| {
            json!({
                "id": v["id"], "name": v["name"], "parallelism": v["parallelism"], "status": v["status"],
                "start-time": v["start-time"], "duration": v["duration"], "metrics": v["metrics"],
            })
        })
        .collect();
    json!({
        "name": name, "jid": job["jid"], "state": job["state"], "start-time": job["start-time"],
        "end-time": job["end-time"], "duration": duration, "vertices": vertices,
    })
}

/// A running job's `duration` is now minus its start: between the two bounds.
#[track_caller]
pub fn running_duration(body: &Value, start: i64, before: i64, after: i64) -> i64 {
    let duration = body["duration"]
        .as_i64()
        .unwrap_or_else(|| panic!("no duration in {body}"));
    assert!(
        (before - start..=after - start).contains(&duration),
        "duration {duration} of a job started at {start}, asked between {before} and {after}"
    );
    duration
}
