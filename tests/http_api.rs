//! The monitoring API over HTTP, request by request through `tower::ServiceExt::oneshot`,
//! against fake Flink JobManagers (`support::fake_flink`) that answer what the recorded
//! Flink 1.20.5 and 2.3.0 answered. Every route and every error of
//! `reference/monitoring-api.md`, with exact bodies.

mod support;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use flink_monitor::api::{self, AppState, StopGuard};
use flink_monitor::clusters::{ClusterInfo, ClusterSource, Registry, RegistrySettings};
use flink_monitor::flink::{ClientSettings, FlinkClient};
use flink_monitor::metrics::Metrics;
use http_body_util::BodyExt;
use k8s_openapi::jiff::Timestamp;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use support::fake_flink::{
    ClosedPort, FakeFlink, FakeJob, Fault, FlinkVersion, Gate, Recorded, fixture, now_ms,
};

/// How long a test waits for something the pollers do (they poll every 100 ms).
const PATIENCE: Duration = Duration::from_secs(20);

// The messages of the error answers (only 4006's is fixed by the contract; the others are
// pinned here so a change is deliberate).
const NO_SUCH_PATH: &str = "No such path";
const METHOD_NOT_ALLOWED: &str = "Method not allowed";
const MALFORMED: &str = "Malformed parameter";
const JOB_NOT_FOUND: &str = "Job with that name is not found";
const AMBIGUOUS: &str =
    "Job with that name is on more than one cluster; ask under /clusters/{cluster}/";
const TERMINAL: &str = "Job is already in a terminal state";
const NO_SUCH_CLUSTER: &str = "No cluster with that id";
const NEEDS_CREDENTIALS: &str = "Stop needs credentials";
const NOT_ALLOWED: &str = "Stop is not allowed";
const FLINK_UNAVAILABLE: &str = "Flink cluster is unreachable or answered with an error";
const STOP_DISABLED: &str = "stop is disabled; start flink-monitor with --enable-stop to allow it";

// ---------------------------------------------------------------------------------------
// The app under test

struct Options {
    guard: StopGuard,
    cache_ttl: Duration,
    timeout: Duration,
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
    fn guard(guard: StopGuard) -> Self {
        Self {
            guard,
            ..Self::default()
        }
    }
}

struct TestApp {
    router: Router,
    registry: Arc<Registry>,
    shutdown: CancellationToken,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

fn static_cluster(id: &str, url: reqwest::Url) -> ClusterInfo {
    ClusterInfo {
        id: id.to_string(),
        namespace: None,
        name: id.to_string(),
        source: ClusterSource::Static,
        url,
        owner: None,
    }
}

fn service_cluster(namespace: &str, name: &str, url: reqwest::Url) -> ClusterInfo {
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
fn start(clusters: Vec<ClusterInfo>, options: Options) -> TestApp {
    let metrics = Arc::new(Metrics::new());
    let shutdown = CancellationToken::new();
    let settings = RegistrySettings {
        poll_interval: Duration::from_millis(100),
        cache_ttl: options.cache_ttl,
        client: ClientSettings {
            timeout: options.timeout,
            ..ClientSettings::default()
        },
    };
    let http = FlinkClient::http_client().expect("an HTTP client");
    let registry = Arc::new(Registry::new(
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

/// One cluster `alpha` on a fake of `version`, polled at least once.
async fn one_cluster(version: FlinkVersion, options: Options) -> (FakeFlink, TestApp) {
    let fake = FakeFlink::start(version).await;
    let app = start(vec![static_cluster("alpha", fake.url())], options);
    app.reachable("alpha").await;
    (fake, app)
}

#[derive(Debug)]
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Answer {
    fn json(&self) -> Value {
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

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("an ASCII header"))
    }

    fn assert_json_content_type(&self) {
        let content_type = self.header(header::CONTENT_TYPE).unwrap_or_default();
        assert!(
            content_type.starts_with("application/json"),
            "content type {content_type:?} of {self:?}"
        );
    }

    /// A 200 whose body is exactly `{"response": response, "messages": []}`.
    #[track_caller]
    fn assert_ok(&self, response: Value) {
        self.assert_ok_with(response, &[]);
    }

    #[track_caller]
    fn assert_ok_with(&self, response: Value, messages: &[&str]) {
        assert_eq!(self.status, StatusCode::OK, "{}", self.text());
        self.assert_json_content_type();
        assert_eq!(
            self.json(),
            json!({ "response": response, "messages": messages })
        );
    }

    /// The `response` of a 200 envelope whose `messages` are empty.
    #[track_caller]
    fn response(&self) -> Value {
        assert_eq!(self.status, StatusCode::OK, "{}", self.text());
        self.assert_json_content_type();
        let body = self.json();
        assert_eq!(keys(&body), ["messages", "response"], "{body}");
        assert_eq!(body["messages"], json!([]), "{body}");
        body["response"].clone()
    }

    /// An error answer: exactly `{"errorCode", "message", "errors"}` with these values;
    /// returns `errors`.
    #[track_caller]
    fn assert_error(&self, status: u16, code: u16, message: &str) -> Vec<String> {
        assert_eq!(self.status.as_u16(), status, "{}", self.text());
        self.assert_json_content_type();
        let body = self.json();
        assert_eq!(keys(&body), ["errorCode", "errors", "message"], "{body}");
        assert_eq!(body["errorCode"], code, "{body}");
        assert_eq!(body["message"], message, "{body}");
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
}

fn keys(value: &Value) -> Vec<&str> {
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
    async fn send(&self, request: Request<Body>) -> Answer {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("the router is infallible");
        let (parts, body) = response.into_parts();
        let body = body.collect().await.expect("a readable body").to_bytes();
        Answer {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    async fn call(
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

    async fn get(&self, uri: &str) -> Answer {
        self.call(Method::GET, uri, &[]).await
    }

    fn cluster_status(&self, id: &str) -> Arc<flink_monitor::clusters::ClusterStatus> {
        self.registry
            .get(id)
            .unwrap_or_else(|| panic!("no cluster {id}"))
            .status()
    }

    /// Waits until `id` was polled successfully and its Flink version is known.
    async fn reachable(&self, id: &str) {
        eventually(&format!("cluster {id} reachable"), || async {
            let status = self.cluster_status(id);
            status.reachable && status.flink_version.is_some()
        })
        .await;
    }

    /// Waits until a poll of `id` failed.
    async fn unreachable(&self, id: &str) {
        eventually(&format!("cluster {id} unreachable"), || async {
            let status = self.cluster_status(id);
            status.polled && !status.reachable
        })
        .await;
    }

    /// Waits until the snapshot of `cluster` has the job `jid` in `state`.
    async fn job_state(&self, cluster: &str, jid: &str, state: &str) {
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

/// Polls `check` until it holds, failing the test after `PATIENCE`.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + PATIENCE;
    while !check().await {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn encode(segment: &str) -> String {
    utf8_percent_encode(segment, NON_ALPHANUMERIC).to_string()
}

fn rfc3339(ms: i64) -> String {
    flink_monitor::time::rfc3339(ms).expect("a valid time")
}

/// The recorded `/jobs/overview` entry of a job, by name.
fn recorded_job(version: FlinkVersion, name: &str) -> Value {
    fixture(version, "jobs_overview.json")["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .find(|j| j["name"] == name)
        .unwrap_or_else(|| panic!("{name} not recorded"))
        .clone()
}

/// The contract's status object, from a job's overview entry and its `/jobs/{jid}` answer.
fn expected_status(name: &str, job: &Value, details: &Value, duration: i64) -> Value {
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
fn running_duration(body: &Value, start: i64, before: i64, after: i64) -> i64 {
    let duration = body["duration"]
        .as_i64()
        .unwrap_or_else(|| panic!("no duration in {body}"));
    assert!(
        (before - start..=after - start).contains(&duration),
        "duration {duration} of a job started at {start}, asked between {before} and {after}"
    );
    duration
}

// ---------------------------------------------------------------------------------------
// status

#[tokio::test]
async fn status_of_a_running_job_in_every_path_form_and_version() {
    for version in FlinkVersion::ALL {
        let (_fake, app) = one_cluster(version, Options::default()).await;
        let job = recorded_job(version, "lab-stream");
        let details = fixture(version, "job_stream.json");
        let start = job["start-time"].as_i64().expect("start-time");
        for path in [
            "/job/lab-stream/status",
            "/job/lab-stream/status/",
            "/clusters/alpha/job/lab-stream/status",
            "/clusters/alpha/job/lab-stream/status/",
        ] {
            let before = now_ms();
            let answer = app.get(path).await;
            let after = now_ms();
            let response = answer.response();
            let duration = running_duration(&response, start, before, after);
            assert_eq!(
                response,
                expected_status("lab-stream", &job, &details, duration),
                "{version:?} {path}"
            );
            assert_eq!(response["end-time"], -1);
            assert_eq!(response["state"], "RUNNING");
        }
    }
}

#[tokio::test]
async fn status_of_ended_jobs_has_flinks_own_duration() {
    for version in FlinkVersion::ALL {
        let (_fake, app) = one_cluster(version, Options::default()).await;
        for (name, file) in [
            ("lab-finish", "job_finish.json"),
            ("lab-fail", "job_fail.json"),
        ] {
            let job = recorded_job(version, name);
            let details = fixture(version, file);
            let duration = job["duration"].as_i64().expect("duration");
            let answer = app.get(&format!("/job/{name}/status/")).await;
            answer.assert_ok(expected_status(name, &job, &details, duration));
        }
    }
}

#[tokio::test]
async fn status_takes_the_state_from_the_overview_snapshot() {
    // Flink caches GET /jobs/{jid} for a few seconds, the overview is current.
    let (fake, app) = one_cluster(FlinkVersion::V2_3, Options::default()).await;
    let jid = fake.jid_of("lab-stream");
    fake.edit(|m| m.job_mut(&jid).expect("job")["state"] = "RESTARTING".into());
    app.job_state("alpha", &jid, "RESTARTING").await;
    let response = app.get("/job/lab-stream/status/").await.response();
    assert_eq!(response["state"], "RESTARTING");
    assert_eq!(
        response["vertices"][0]["status"], "RUNNING",
        "vertices come from /jobs/{{jid}}"
    );
}

// ---------------------------------------------------------------------------------------
// statusAndMetrics

#[tokio::test]
async fn status_and_metrics_of_a_running_job() {
    for version in FlinkVersion::ALL {
        let (_fake, app) = one_cluster(version, Options::default()).await;
        let job = recorded_job(version, "lab-stream");
        let details = fixture(version, "job_stream.json");
        let start = job["start-time"].as_i64().expect("start-time");
        // Recorded: numRecordsOut of the source, numRecordsIn of the sink, summed over subtasks.
        let read = fixture(version, "job_stream_v0_subtasks_metrics_agg.json")[1]["sum"]
            .as_f64()
            .expect("sum");
        let processed = fixture(version, "job_stream_v1_subtasks_metrics_agg.json")[0]["sum"]
            .as_f64()
            .expect("sum");
        for path in [
            "/job/lab-stream/statusAndMetrics",
            "/job/lab-stream/statusAndMetrics/",
            "/clusters/alpha/job/lab-stream/statusAndMetrics/",
        ] {
            let before = now_ms();
            let response = app.get(path).await.response();
            let after = now_ms();
            assert_eq!(keys(&response), ["details", "metrics"]);
            let duration = running_duration(&response["details"], start, before, after);
            assert_eq!(
                response,
                json!({
                    "details": expected_status("lab-stream", &job, &details, duration),
                    "metrics": {
                        "numRecordsRead": (read as i64).to_string(),
                        "currentEventTs": "0",
                        "numRecordsProcessed": (processed as i64).to_string(),
                    }
                }),
                "{version:?} {path}"
            );
        }
    }
}

#[tokio::test]
async fn metrics_sum_the_subtasks_of_the_first_and_last_vertex_and_take_the_greatest_event_time() {
    let (fake, app) = one_cluster(FlinkVersion::V2_3, Options::default()).await;
    let jid = fake.add_job(FakeJob::new("wide", "RUNNING"));
    let middle = "0123456789abcdef0123456789abcdef";
    let (source, sink) = fake.edit(|m| {
        // Three vertices: source -> middle -> sink, two subtasks each.
        let details = m.details.get_mut(&jid).expect("details");
        let vertices = details["vertices"].as_array_mut().expect("vertices");
        let mut mid = vertices[0].clone();
        mid["id"] = middle.into();
        mid["name"] = "flinklab-middle".into();
        vertices.insert(1, mid);
        let ids = m.vertices(&jid);
        (ids[0].clone(), ids[2].clone())
    });
    fake.edit(|m| {
        for (vertex, name, value) in [
            (source.as_str(), "0.numRecordsOut", "5"),
            (source.as_str(), "1.numRecordsOut", "7"),
            (middle, "0.numRecordsIn", "1000"),
            (middle, "0.numRecordsOut", "1000"),
            (middle, "0.flinklab-middle.currentEventTs", "1700000009000"),
            (sink.as_str(), "0.numRecordsIn", "4"),
            (sink.as_str(), "1.numRecordsIn", "6"),
            (
                sink.as_str(),
                "0.flinklab-map.currentEventTs",
                "1700000005000",
            ),
            (
                sink.as_str(),
                "1.flinklab-map.currentEventTs",
                "not a number",
            ),
            (
                sink.as_str(),
                "1.flinklab-map.currentEventTsLag",
                "1800000000000",
            ),
        ] {
            m.set_vertex_metric(&jid, vertex, name, value);
        }
    });
    app.job_state("alpha", &jid, "RUNNING").await;
    let response = app.get("/job/wide/statusAndMetrics/").await.response();
    assert_eq!(
        response["metrics"],
        json!({"numRecordsRead": "12", "currentEventTs": "1700000009000", "numRecordsProcessed": "10"})
    );
    assert_eq!(
        response["details"]["vertices"].as_array().map(Vec::len),
        Some(3)
    );
}

#[tokio::test]
async fn a_missing_metric_is_zero() {
    for version in FlinkVersion::ALL {
        let (fake, app) = one_cluster(version, Options::default()).await;
        let jid = fake.add_job(FakeJob::new("quiet", "RUNNING"));
        // Flink's metric store fills lazily: the first requests can answer [].
        fake.edit(|m| m.vertex_metrics.retain(|(j, _), _| *j != jid));
        app.job_state("alpha", &jid, "RUNNING").await;
        let response = app.get("/job/quiet/statusAndMetrics/").await.response();
        assert_eq!(
            response["metrics"],
            json!({"numRecordsRead": "0", "currentEventTs": "0", "numRecordsProcessed": "0"}),
            "{version:?}"
        );
    }
}

#[tokio::test]
async fn metrics_of_ended_jobs_are_the_final_vertex_counts() {
    for version in FlinkVersion::ALL {
        let (fake, app) = one_cluster(version, Options::default()).await;
        for (name, file) in [
            ("lab-finish", "job_finish.json"),
            ("lab-fail", "job_fail.json"),
        ] {
            let details = fixture(version, file);
            let jid = details["jid"].as_str().expect("jid").to_string();
            let write = details["vertices"][0]["metrics"]["write-records"]
                .as_i64()
                .expect("write-records");
            let read = details["vertices"][1]["metrics"]["read-records"]
                .as_i64()
                .expect("read-records");
            let job = recorded_job(version, name);
            let response = app
                .get(&format!("/job/{name}/statusAndMetrics/"))
                .await
                .response();
            let duration = job["duration"].as_i64().expect("duration");
            assert_eq!(
                response,
                json!({
                    "details": expected_status(name, &job, &details, duration),
                    "metrics": {
                        "numRecordsRead": write.to_string(),
                        "currentEventTs": "0",
                        "numRecordsProcessed": read.to_string(),
                    }
                }),
                "{version:?} {name}"
            );
            // The metric store of an ended job is stale (lab-finish's sink shows fewer than
            // 200 records there); it is not asked for counts.
            let stale = fake
                .requests()
                .iter()
                .filter(|r| {
                    r.path.starts_with(&format!("/jobs/{jid}/"))
                        && r.path.ends_with("/subtasks/metrics")
                })
                .count();
            assert_eq!(stale, 0, "{version:?} {name}");
        }
        assert_eq!(
            app.get("/job/lab-finish/statusAndMetrics/")
                .await
                .response()["metrics"]["numRecordsProcessed"],
            "200"
        );
    }
}

#[tokio::test]
async fn cached_metrics_of_a_running_job_do_not_answer_once_it_ended() {
    let options = Options {
        cache_ttl: Duration::from_secs(60),
        ..Options::default()
    };
    let (fake, app) = one_cluster(FlinkVersion::V2_3, options).await;
    let jid = fake.jid_of("lab-stream");
    let details = fixture(FlinkVersion::V2_3, "job_stream.json");
    let write = details["vertices"][0]["metrics"]["write-records"]
        .as_i64()
        .expect("write-records");
    let read = details["vertices"][1]["metrics"]["read-records"]
        .as_i64()
        .expect("read-records");
    // The metric store moves on while the job runs.
    let source = details["vertices"][0]["id"].as_str().expect("vertex id");
    fake.edit(|m| m.set_vertex_metric(&jid, source, "0.numRecordsOut", "1000000"));
    let running = app
        .get("/job/lab-stream/statusAndMetrics/")
        .await
        .response();
    assert_ne!(
        running["metrics"]["numRecordsRead"],
        write.to_string(),
        "the running job's metrics come from the metric store"
    );
    // It ends; its final counts are in its details.
    let (write, read) = (write + 100, read + 100);
    fake.edit(|m| {
        let details = m.details.get_mut(&jid).expect("details");
        details["vertices"][0]["metrics"]["write-records"] = write.into();
        details["vertices"][1]["metrics"]["read-records"] = read.into();
    });
    fake.set_state(&jid, "FINISHED");
    app.job_state("alpha", &jid, "FINISHED").await;
    let ended = app
        .get("/job/lab-stream/statusAndMetrics/")
        .await
        .response();
    assert_eq!(
        ended["metrics"],
        json!({
            "numRecordsRead": write.to_string(),
            "currentEventTs": "0",
            "numRecordsProcessed": read.to_string(),
        }),
        "an ended job's counts are the vertex counters, whatever was cached while it ran"
    );
    assert_eq!(ended["details"]["state"], "FINISHED");
    assert_eq!(
        ended["details"]["vertices"][0]["metrics"]["write-records"],
        write
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_status_and_metrics_requests_make_one_flink_call_per_endpoint() {
    let options = Options {
        cache_ttl: Duration::from_secs(60),
        ..Options::default()
    };
    let (fake, app) = one_cluster(FlinkVersion::V2_3, options).await;
    let jid = fake.jid_of("lab-stream");
    let vertices = fake.edit(|m| m.vertices(&jid));
    let (source, sink) = (&vertices[0], &vertices[1]);
    fake.edit(|m| {
        m.set_vertex_metric(&jid, sink, "0.flinklab-map.currentEventTs", "1700000042000")
    });
    // Hold Flink's answer to the first call until every request is in flight.
    let gate = Gate::new();
    fake.inject(Method::GET, &format!("/jobs/{jid}"), Fault::held(&gate));
    fake.forget_requests();

    let requests: Vec<_> = (0..200)
        .map(|_| {
            let router = app.router.clone();
            let request = Request::get("/job/lab-stream/statusAndMetrics/")
                .body(Body::empty())
                .expect("request");
            tokio::spawn(async move { router.oneshot(request).await })
        })
        .collect();
    eventually("the first call to Flink", || async {
        fake.calls(&format!("/jobs/{jid}")) >= 1
    })
    .await;
    // Give requests that did not join the call in flight the time to make their own.
    tokio::time::sleep(Duration::from_millis(300)).await;
    gate.open();
    let mut bodies = Vec::new();
    for request in requests {
        let response = request.await.expect("no panic").expect("infallible");
        assert_eq!(response.status(), StatusCode::OK);
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let body: Value = serde_json::from_slice(&body).expect("JSON");
        bodies.push(body["response"]["metrics"].clone());
    }
    assert!(
        bodies.iter().all(|m| *m == bodies[0]),
        "every client got the same answer"
    );
    assert_eq!(bodies[0]["currentEventTs"], "1700000042000");

    let mut calls: BTreeMap<String, usize> = BTreeMap::new();
    for request in fake.requests() {
        if request.path.starts_with("/jobs/") && request.path != "/jobs/overview" {
            *calls
                .entry(format!("{} {}", request.method, request.path_and_query()))
                .or_default() += 1;
        }
    }
    let expected: BTreeMap<String, usize> = [
        format!("GET /jobs/{jid}"),
        format!("GET /jobs/{jid}/vertices/{source}/subtasks/metrics?get=numRecordsOut&agg=sum"),
        format!("GET /jobs/{jid}/vertices/{sink}/subtasks/metrics?get=numRecordsIn&agg=sum"),
        format!("GET /jobs/{jid}/vertices/{source}/metrics"),
        format!("GET /jobs/{jid}/vertices/{sink}/metrics"),
        format!("GET /jobs/{jid}/vertices/{sink}/metrics?get=0.flinklab-map.currentEventTs"),
    ]
    .into_iter()
    .map(|call| (call, 1))
    .collect();
    assert_eq!(calls, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_status_and_exceptions_requests_share_their_flink_calls() {
    let options = Options {
        cache_ttl: Duration::from_secs(60),
        ..Options::default()
    };
    let (fake, app) = one_cluster(FlinkVersion::V1_20, options).await;
    let jid = fake.jid_of("lab-fail");
    let gate = Gate::new();
    for path in [format!("/jobs/{jid}"), format!("/jobs/{jid}/exceptions")] {
        fake.inject(Method::GET, &path, Fault::held(&gate));
    }
    fake.forget_requests();
    let paths = [
        "/job/lab-fail/status/",
        "/jobs/lab-fail/exceptions/",
        "/job/lab-fail/exceptions",
    ];
    let requests: Vec<_> = (0..150)
        .map(|i| {
            let router = app.router.clone();
            let request = Request::get(paths[i % 3])
                .body(Body::empty())
                .expect("request");
            tokio::spawn(async move { router.oneshot(request).await })
        })
        .collect();
    eventually("the first calls to Flink", || async {
        fake.calls(&format!("/jobs/{jid}")) >= 1
            && fake.calls(&format!("/jobs/{jid}/exceptions")) >= 1
    })
    .await;
    // Give requests that did not join the calls in flight the time to make their own.
    tokio::time::sleep(Duration::from_millis(300)).await;
    gate.open();
    for request in requests {
        let response = request.await.expect("no panic").expect("infallible");
        assert_eq!(response.status(), StatusCode::OK);
    }
    assert_eq!(fake.calls(&format!("/jobs/{jid}")), 1);
    assert_eq!(fake.calls(&format!("/jobs/{jid}/exceptions")), 1);
}

#[tokio::test]
async fn a_slow_flink_within_the_timeout_is_waited_for() {
    let (fake, app) = one_cluster(FlinkVersion::V2_3, Options::default()).await;
    let jid = fake.jid_of("lab-stream");
    fake.inject(
        Method::GET,
        &format!("/jobs/{jid}"),
        Fault::slow(Duration::from_millis(300)),
    );
    let response = app.get("/job/lab-stream/status").await.response();
    assert_eq!(response["jid"], jid);
}

// ---------------------------------------------------------------------------------------
// exceptions

const EXCEPTION_PATHS: [&str; 8] = [
    "/jobs/{}/exceptions",
    "/jobs/{}/exceptions/",
    "/job/{}/exceptions",
    "/job/{}/exceptions/",
    "/clusters/alpha/jobs/{}/exceptions",
    "/clusters/alpha/jobs/{}/exceptions/",
    "/clusters/alpha/job/{}/exceptions",
    "/clusters/alpha/job/{}/exceptions/",
];

async fn assert_exceptions(app: &TestApp, name: &str, expected: Value) {
    for path in EXCEPTION_PATHS {
        let path = path.replace("{}", name);
        let answer = app.get(&path).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.text());
        answer.assert_ok(expected.clone());
    }
}

#[tokio::test]
async fn exceptions_of_flink_1_20_pass_the_root_exception_through() {
    let (fake, app) = one_cluster(FlinkVersion::V1_20, Options::default()).await;
    let recorded = fixture(FlinkVersion::V1_20, "job_fail_exceptions.json");
    // The recorded root exception's timestamp differs from its history entry's: passed through.
    assert_ne!(
        recorded["timestamp"],
        recorded["exceptionHistory"]["entries"][0]["timestamp"]
    );
    assert_exceptions(
        &app,
        "lab-fail",
        json!({"root-exception": recorded["root-exception"], "timestamp": recorded["timestamp"], "truncated": false}),
    )
    .await;
    assert_exceptions(
        &app,
        "lab-stream",
        json!({"root-exception": null, "timestamp": null, "truncated": false}),
    )
    .await;

    // `truncated` is passed through too, even when the history holds a newer entry.
    let jid = fake.jid_of("lab-fail");
    fake.edit(|m| {
        m.exceptions.insert(
            jid.clone(),
            json!({"root-exception": "java.lang.Exception: root", "timestamp": 7, "all-exceptions": [], "truncated": true,
                   "exceptionHistory": {"entries": [{"stacktrace": "newer", "timestamp": 9}], "truncated": false}}),
        )
    });
    assert_exceptions(
        &app,
        "lab-fail",
        json!({"root-exception": "java.lang.Exception: root", "timestamp": 7, "truncated": true}),
    )
    .await;

    // A null root exception falls back to the history.
    fake.edit(|m| {
        m.exceptions.insert(
            jid.clone(),
            json!({"root-exception": null, "timestamp": null, "all-exceptions": [], "truncated": false,
                   "exceptionHistory": {"entries": [{"stacktrace": "from history", "timestamp": 5}], "truncated": true}}),
        )
    });
    assert_exceptions(
        &app,
        "lab-fail",
        json!({"root-exception": "from history", "timestamp": 5, "truncated": true}),
    )
    .await;
}

#[tokio::test]
async fn exceptions_of_flink_2_3_are_the_newest_history_entry() {
    let (fake, app) = one_cluster(FlinkVersion::V2_3, Options::default()).await;
    let recorded = fixture(FlinkVersion::V2_3, "job_fail_exceptions.json");
    assert!(
        recorded.get("root-exception").is_none(),
        "2.3 has no root-exception"
    );
    let entry = &recorded["exceptionHistory"]["entries"][0];
    assert_exceptions(
        &app,
        "lab-fail",
        json!({"root-exception": entry["stacktrace"], "timestamp": entry["timestamp"], "truncated": false}),
    )
    .await;
    for name in ["lab-stream", "lab-finish"] {
        assert_exceptions(
            &app,
            name,
            json!({"root-exception": null, "timestamp": null, "truncated": false}),
        )
        .await;
    }

    let jid = fake.jid_of("lab-fail");
    fake.edit(|m| {
        m.exceptions.insert(
            jid.clone(),
            json!({"exceptionHistory": {"truncated": true, "entries": [
                {"exceptionName": "a", "stacktrace": "older", "timestamp": 100, "concurrentExceptions": []},
                {"exceptionName": "b", "stacktrace": "newest", "timestamp": 300, "concurrentExceptions": []},
                {"exceptionName": "c", "stacktrace": "middle", "timestamp": 200, "concurrentExceptions": []},
            ]}}),
        )
    });
    assert_exceptions(
        &app,
        "lab-fail",
        json!({"root-exception": "newest", "timestamp": 300, "truncated": true}),
    )
    .await;
}

// ---------------------------------------------------------------------------------------
// jobs/overview, metainfo, clusters

/// The contract's overview entry of a recorded job.
#[track_caller]
fn expected_overview_job(
    job: &Value,
    cluster: &str,
    answered: &Value,
    before: i64,
    after: i64,
) -> Value {
    let duration = if job["end-time"] == -1 {
        running_duration(
            answered,
            job["start-time"].as_i64().expect("start"),
            before,
            after,
        )
    } else {
        job["duration"].as_i64().expect("duration")
    };
    json!({
        "jid": job["jid"], "name": job["name"], "state": job["state"], "start-time": job["start-time"],
        "end-time": job["end-time"], "duration": duration, "tasks": job["tasks"], "cluster": cluster,
    })
}

#[track_caller]
fn assert_overview(response: &Value, expected: &[(&str, FlinkVersion)], before: i64, after: i64) {
    let answered = response["jobs"]
        .as_array()
        .unwrap_or_else(|| panic!("no jobs in {response}"));
    assert_eq!(keys(response), ["jobs"]);
    let mut wanted = Vec::new();
    for (cluster, version) in expected {
        for job in fixture(*version, "jobs_overview.json")["jobs"]
            .as_array()
            .expect("jobs")
        {
            let got = answered
                .iter()
                .find(|j| j["jid"] == job["jid"] && j["cluster"] == *cluster)
                .unwrap_or_else(|| panic!("{} of {cluster} missing from {response}", job["jid"]));
            wanted.push(expected_overview_job(job, cluster, got, before, after));
        }
    }
    assert_eq!(answered, &wanted);
}

#[tokio::test]
async fn jobs_overview_lists_every_cluster_at_the_root_and_one_under_it() {
    let old = FakeFlink::start(FlinkVersion::V1_20).await;
    let new = FakeFlink::start(FlinkVersion::V2_3).await;
    let app = start(
        vec![
            static_cluster("alpha", old.url()),
            service_cluster("team-a", "flink", new.url()),
        ],
        Options::default(),
    );
    app.reachable("alpha").await;
    app.reachable("team-a.flink").await;
    for path in ["/jobs/overview", "/jobs/overview/"] {
        let before = now_ms();
        let response = app.get(path).await.response();
        let after = now_ms();
        assert_overview(
            &response,
            &[
                ("alpha", FlinkVersion::V1_20),
                ("team-a.flink", FlinkVersion::V2_3),
            ],
            before,
            after,
        );
    }
    for (cluster, version) in [
        ("alpha", FlinkVersion::V1_20),
        ("team-a.flink", FlinkVersion::V2_3),
    ] {
        let before = now_ms();
        let response = app
            .get(&format!("/clusters/{cluster}/jobs/overview/"))
            .await
            .response();
        let after = now_ms();
        assert_overview(&response, &[(cluster, version)], before, after);
    }
}

#[tokio::test]
async fn jobs_overview_of_an_unreachable_cluster_is_its_last_snapshot_with_a_message() {
    let fake = FakeFlink::start(FlinkVersion::V1_20).await;
    let other = FakeFlink::start(FlinkVersion::V2_3).await;
    let never = ClosedPort::new();
    let app = start(
        vec![
            static_cluster("alpha", fake.url()),
            static_cluster("beta", other.url()),
            static_cluster("never", never.url()),
        ],
        Options::default(),
    );
    app.reachable("alpha").await;
    app.reachable("beta").await;
    app.unreachable("never").await;
    fake.stop().await;
    app.unreachable("alpha").await;
    let last_poll = app
        .cluster_status("alpha")
        .last_poll_ms()
        .expect("a successful poll");

    let before = now_ms();
    let answer = app.get("/jobs/overview/").await;
    let after = now_ms();
    assert_eq!(answer.status, StatusCode::OK);
    let body = answer.json();
    assert_eq!(keys(&body), ["messages", "response"]);
    assert_overview(
        &body["response"],
        &[("alpha", FlinkVersion::V1_20), ("beta", FlinkVersion::V2_3)],
        before,
        after,
    );
    let messages: Vec<&str> = body["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(messages.len(), 2, "{messages:?}");
    // One line per unreachable cluster, naming it and (when there was one) the time of its
    // last successful poll in RFC 3339, UTC.
    assert!(messages[0].starts_with("cluster alpha "), "{messages:?}");
    let time = messages[0].rsplit(' ').next().expect("a last word");
    let parsed: Timestamp = time.parse().unwrap_or_else(|e| panic!("{time:?}: {e}"));
    assert_eq!(parsed.as_millisecond(), last_poll);
    // UTC, with milliseconds: `2026-11-25T11:33:56.846Z`.
    assert!(time.ends_with('Z'), "UTC: {time}");
    assert_eq!(time.len(), 24, "{time}");
    assert_eq!(time.as_bytes()[19], b'.', "{time}");
    assert_eq!(time, rfc3339(last_poll));
    assert!(messages[1].starts_with("cluster never "), "{messages:?}");

    let one = app.get("/clusters/alpha/jobs/overview/").await.json();
    assert_eq!(one["messages"].as_array().map(Vec::len), Some(1), "{one}");
    assert_eq!(
        one["response"]["jobs"].as_array().map(Vec::len),
        Some(3),
        "{one}"
    );
    app.get("/clusters/beta/jobs/overview/").await.response();
}

#[tokio::test]
async fn metainfo_get_version_is_the_monitors_version() {
    let (_fake, app) = one_cluster(FlinkVersion::V2_3, Options::default()).await;
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(version.split('.').count(), 3, "semver");
    for path in [
        "/metainfo/getVersion",
        "/metainfo/getVersion/",
        "/clusters/alpha/metainfo/getVersion",
        "/clusters/alpha/metainfo/getVersion/",
    ] {
        app.get(path).await.assert_ok(json!(version));
    }
}

#[tokio::test]
async fn after_an_outage_the_first_snapshot_does_not_wait_for_the_flink_version() {
    // A long budget: a snapshot that waited for /config would wait past PATIENCE.
    let options = Options {
        timeout: Duration::from_secs(60),
        ..Options::default()
    };
    let (fake, app) = one_cluster(FlinkVersion::V2_3, options).await;
    fake.inject(Method::GET, "/jobs/overview", Fault::error(503));
    app.unreachable("alpha").await;
    let gate = Gate::new();
    fake.inject(Method::GET, "/config", Fault::held(&gate));
    let jid = fake.add_job(FakeJob::new("after-the-outage", "RUNNING"));
    fake.heal(Method::GET, "/jobs/overview");
    app.job_state("alpha", &jid, "RUNNING").await;
    let status = app.cluster_status("alpha");
    assert!(status.reachable);
    // The version read after the outage is still held; the last known one shows.
    assert_eq!(status.flink_version.as_deref(), Some("2.3.0"));
    eventually("the version read again after the outage", || async {
        fake.calls("/config") >= 2
    })
    .await;
    gate.open();
}

#[tokio::test]
async fn a_failing_config_is_not_read_on_every_poll() {
    let fake = FakeFlink::start(FlinkVersion::V2_3).await;
    fake.inject(Method::GET, "/config", Fault::error(404));
    let app = start(
        vec![static_cluster("alpha", fake.url())],
        Options::default(),
    );
    // Polls every 100 ms: ten of them.
    eventually("ten polls", || async { fake.calls("/jobs/overview") >= 10 }).await;
    let status = app.cluster_status("alpha");
    assert!(status.reachable && status.flink_version.is_none());
    let reads = fake.calls("/config");
    assert_eq!(
        reads, 1,
        "/config is asked once, then again after a while, not per poll"
    );
}

#[tokio::test]
async fn clusters_lists_every_cluster_and_answers_one() {
    let started = now_ms();
    let old = FakeFlink::start(FlinkVersion::V1_20).await;
    let new = FakeFlink::start(FlinkVersion::V2_3).await;
    let dead = ClosedPort::new();
    let app = start(
        vec![
            static_cluster("alpha", old.url()),
            service_cluster("team-a", "flink", new.url()),
            static_cluster("dead", dead.url()),
        ],
        Options::default(),
    );
    app.reachable("alpha").await;
    app.reachable("team-a.flink").await;
    app.unreachable("dead").await;

    let list = app.get("/clusters").await.response();
    let list = list.as_array().expect("an array");
    assert_eq!(list.len(), 3);
    let base = |url: reqwest::Url| url.as_str().trim_end_matches('/').to_string();
    let check_reachable = |view: &Value, expected: Value| {
        let last_poll = view["lastPoll"]
            .as_i64()
            .unwrap_or_else(|| panic!("no lastPoll in {view}"));
        assert!((started..=now_ms()).contains(&last_poll), "{view}");
        let mut expected = expected;
        expected["lastPoll"] = last_poll.into();
        assert_eq!(*view, expected);
    };
    check_reachable(
        &list[0],
        json!({"id": "alpha", "namespace": null, "name": "alpha", "source": "static", "url": base(old.url()),
               "reachable": true, "flinkVersion": "1.20.5", "lastError": null, "jobs": 3}),
    );
    let dead_view = &list[1];
    let last_error = dead_view["lastError"]
        .as_str()
        .unwrap_or_else(|| panic!("no lastError in {dead_view}"));
    assert!(
        last_error.contains(&dead.url().authority().to_string()),
        "{last_error}"
    );
    assert_eq!(
        *dead_view,
        json!({"id": "dead", "namespace": null, "name": "dead", "source": "static", "url": base(dead.url()),
               "reachable": false, "flinkVersion": null, "lastPoll": null, "lastError": last_error, "jobs": 0})
    );
    check_reachable(
        &list[2],
        json!({"id": "team-a.flink", "namespace": "team-a", "name": "flink", "source": "service", "url": base(new.url()),
               "reachable": true, "flinkVersion": "2.3.0", "lastError": null, "jobs": 5}),
    );

    for (i, id) in ["alpha", "dead", "team-a.flink"].into_iter().enumerate() {
        for path in [format!("/clusters/{id}"), format!("/clusters/{id}/")] {
            let one = app.get(&path).await.response();
            let mut listed = list[i].clone();
            // A poll may have happened in between.
            listed["lastPoll"] = one["lastPoll"].clone();
            assert_eq!(one, listed, "{path}");
        }
    }
    app.get("/clusters/").await.response();

    // A cluster that was reachable and is not any more keeps its last poll time and version.
    old.stop().await;
    app.unreachable("alpha").await;
    let view = app.get("/clusters/alpha").await.response();
    assert_eq!(view["reachable"], false);
    assert_eq!(view["flinkVersion"], "1.20.5");
    assert!(view["lastPoll"].is_i64(), "{view}");
    assert!(view["lastError"].is_string(), "{view}");
    assert_eq!(view["jobs"], 3);
}

// ---------------------------------------------------------------------------------------
// service endpoints

#[tokio::test]
async fn healthz_and_readyz() {
    let fake = FakeFlink::start(FlinkVersion::V1_20).await;
    let gate = Gate::new();
    fake.inject(Method::GET, "/jobs/overview", Fault::held(&gate));
    let app = start(
        vec![static_cluster("alpha", fake.url())],
        Options::default(),
    );
    app.get("/healthz").await.assert_ok(json!("ok"));
    app.get("/healthz/").await.assert_ok(json!("ok"));

    // The first poll is held back: not ready.
    let errors =
        app.get("/readyz")
            .await
            .assert_error(503, 5000, "Not ready: start-up not complete");
    assert_eq!(errors, ["cluster alpha: not polled yet"]);
    gate.open();
    eventually("ready", || async {
        app.get("/readyz").await.status == StatusCode::OK
    })
    .await;
    app.get("/readyz").await.assert_ok(json!("ok"));
    app.get("/healthz").await.assert_ok(json!("ok"));
}

#[tokio::test]
async fn readyz_counts_a_failed_first_poll_as_polled() {
    let dead = ClosedPort::new();
    let app = start(vec![static_cluster("dead", dead.url())], Options::default());
    app.unreachable("dead").await;
    app.get("/readyz/").await.assert_ok(json!("ok"));
}

#[tokio::test]
async fn readyz_with_no_clusters_is_ready() {
    let app = start(vec![], Options::default());
    app.get("/readyz").await.assert_ok(json!("ok"));
}

#[tokio::test]
async fn metrics_are_prometheus_text_with_poll_and_http_counters() {
    let (_fake, app) = one_cluster(FlinkVersion::V2_3, Options::default()).await;
    app.get("/healthz").await.assert_ok(json!("ok"));
    app.get("/job/lab-stream/status/").await.response();
    app.get("/nope").await.assert_error(404, 4004, NO_SUCH_PATH);
    let answer = app.get("/metrics").await;
    assert_eq!(answer.status, StatusCode::OK);
    let content_type = answer.header(header::CONTENT_TYPE).unwrap_or_default();
    assert!(
        content_type.starts_with("text/plain")
            || content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    let text = answer.text();
    let sample = |name: &str, labels: &[&str]| {
        text.lines().any(|line| {
            line.starts_with(&format!("{name}{{")) && labels.iter().all(|l| line.contains(l)) && {
                let value = line.rsplit(' ').next().unwrap_or_default();
                value.parse::<f64>().is_ok_and(|v| v >= 1.0)
            }
        })
    };
    // The casing of the outcome label is the code's choice.
    let lower = text.to_lowercase();
    assert!(
        lower
            .lines()
            .any(|l| l.starts_with("flink_monitor_polls_total{")
                && l.contains(r#"outcome="success""#)),
        "{text}"
    );
    assert!(
        sample(
            "flink_monitor_http_requests_total",
            &[r#"route="/healthz""#, r#"status="200""#]
        ),
        "{text}"
    );
    assert!(
        sample(
            "flink_monitor_http_requests_total",
            &[r#"route="/job/{uuid}/status/""#, r#"status="200""#]
        ),
        "{text}"
    );
    assert!(
        sample("flink_monitor_http_requests_total", &[r#"status="404""#]),
        "{text}"
    );
    assert!(text.contains("# TYPE flink_monitor_polls"), "{text}");
    // Labels are bounded: no job names, paths or cluster ids.
    assert!(
        !text.contains("lab-stream") && !text.contains("/nope") && !text.contains("alpha"),
        "{text}"
    );
}

#[tokio::test]
async fn openapi_documents_every_path_at_the_root_and_under_a_cluster() {
    let app = start(vec![], Options::default());
    let answer = app.get("/openapi.json").await;
    assert_eq!(answer.status, StatusCode::OK);
    answer.assert_json_content_type();
    let doc = answer.json();
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "{}",
        doc["openapi"]
    );
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(doc["info"]["title"].is_string());
    let paths = doc["paths"].as_object().expect("paths");
    let monitoring = [
        "/job/{uuid}/status/",
        "/job/{uuid}/statusAndMetrics/",
        "/job/{uuid}/stop/",
        "/jobs/overview/",
        "/jobs/{uuid}/exceptions/",
        "/job/{uuid}/exceptions/",
        "/metainfo/getVersion/",
    ];
    let mut wanted: Vec<String> = [
        "/clusters",
        "/clusters/{cluster}",
        "/healthz",
        "/readyz",
        "/metrics",
        "/openapi.json",
    ]
    .map(String::from)
    .to_vec();
    for path in monitoring {
        wanted.push(path.to_string());
        wanted.push(format!("/clusters/{{cluster}}{path}"));
    }
    for path in &wanted {
        let item = paths
            .get(path)
            .unwrap_or_else(|| panic!("{path} is not documented"));
        assert!(item.get("get").is_some(), "{path} has no GET");
    }
    for path in ["/job/{uuid}/stop/", "/clusters/{cluster}/job/{uuid}/stop/"] {
        assert!(paths[path].get("post").is_some(), "{path} has no POST");
    }
    // Every `{param}` of a path is declared as a path parameter, on the path or its operation.
    for (path, item) in paths {
        for name in path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
        {
            for (method, operation) in item.as_object().expect("a path item") {
                if method == "parameters" {
                    continue;
                }
                let declared = [&item["parameters"], &operation["parameters"]]
                    .into_iter()
                    .filter_map(Value::as_array)
                    .flatten()
                    .any(|p| p["name"] == name && p["in"] == "path" && p["required"] == true);
                assert!(declared, "{method} {path} does not declare {name}");
            }
        }
        for (method, operation) in item.as_object().expect("a path item") {
            if method != "parameters" {
                assert!(
                    operation["responses"].get("200").is_some(),
                    "{method} {path} has no 200"
                );
            }
        }
    }
    // Operation ids are unique in the whole document.
    let mut ids = Vec::new();
    for item in paths.values() {
        for (method, operation) in item.as_object().expect("a path item") {
            if method != "parameters"
                && let Some(id) = operation["operationId"].as_str()
            {
                assert!(!ids.contains(&id), "operationId {id} is used twice");
                ids.push(id);
            }
        }
    }
    // The components referenced exist.
    let text = answer.text();
    for reference in text.split("\"$ref\":").skip(1) {
        let target = reference
            .trim_start()
            .trim_start_matches(['"'])
            .split('"')
            .next()
            .expect("a ref");
        let name = target
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("odd $ref {target}"));
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "{target} is not defined"
        );
    }
}

// ---------------------------------------------------------------------------------------
// errors: 4004, 4005

#[tokio::test]
async fn unknown_paths_are_4004_in_json() {
    let (_fake, app) = one_cluster(FlinkVersion::V1_20, Options::default()).await;
    for path in [
        "/",
        "/nope",
        "/job",
        "/job/lab-stream",
        "/job/lab-stream/",
        "/job/lab-stream/status/extra",
        "/job/lab-stream/status//",
        "/job/lab-stream/Status",
        "/jobs",
        "/jobs//overview",
        "/jobs/lab-stream/status",
        "/clusters/alpha/nope",
        "/clusters/alpha/job/lab-stream",
        "/clusters/alpha/clusters",
        "/clusters/alpha/healthz",
        "/clusters//jobs/overview",
        "/healthz/x",
        "/metainfo/getversion",
        "/job/a/b/status",
    ] {
        for method in [Method::GET, Method::POST, Method::HEAD, Method::DELETE] {
            let answer = app.call(method.clone(), path, &[]).await;
            assert_eq!(answer.status, StatusCode::NOT_FOUND, "{method} {path}");
            answer.assert_json_content_type();
            if method != Method::HEAD {
                let errors = answer.assert_error(404, 4004, NO_SUCH_PATH);
                assert_eq!(errors.len(), 1, "{errors:?}");
            }
        }
    }
}

#[tokio::test]
async fn wrong_methods_are_4005_with_allow() {
    let (_fake, app) = one_cluster(FlinkVersion::V1_20, Options::guard(StopGuard::Open)).await;
    let reads = [
        "/healthz",
        "/readyz",
        "/metrics",
        "/openapi.json",
        "/clusters",
        "/clusters/alpha",
        "/jobs/overview/",
        "/metainfo/getVersion/",
        "/job/lab-stream/status/",
        "/job/lab-stream/statusAndMetrics/",
        "/jobs/lab-stream/exceptions/",
        "/job/lab-stream/exceptions",
        "/clusters/alpha/jobs/overview",
        "/clusters/alpha/job/lab-stream/status",
        "/clusters/alpha/job/lab-stream/statusAndMetrics",
        "/clusters/alpha/jobs/lab-stream/exceptions",
        "/clusters/alpha/job/lab-stream/exceptions/",
        "/clusters/alpha/metainfo/getVersion",
        // Method comes before parameters and clusters.
        "/job/%FF/status/",
        "/clusters/nope/job/x/status",
        "/clusters/nope",
    ];
    for path in reads {
        for method in [
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::PATCH,
            Method::OPTIONS,
        ] {
            let answer = app.call(method.clone(), path, &[]).await;
            answer.assert_error(405, 4005, METHOD_NOT_ALLOWED);
            assert_eq!(
                answer.header(header::ALLOW),
                Some("GET, HEAD"),
                "{method} {path}"
            );
        }
    }
    for path in [
        "/job/lab-stream/stop",
        "/clusters/alpha/job/lab-stream/stop/",
        "/job//stop",
    ] {
        for method in [Method::HEAD, Method::PUT, Method::DELETE, Method::PATCH] {
            let answer = app.call(method.clone(), path, &[]).await;
            assert_eq!(
                answer.status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path}"
            );
            assert_eq!(
                answer.header(header::ALLOW),
                Some("GET, POST"),
                "{method} {path}"
            );
            if method != Method::HEAD {
                answer.assert_error(405, 4005, METHOD_NOT_ALLOWED);
            }
        }
    }
}

#[tokio::test]
async fn head_works_wherever_get_does_with_no_body() {
    let (_fake, app) = one_cluster(FlinkVersion::V2_3, Options::default()).await;
    for path in [
        "/healthz",
        "/readyz",
        "/metrics",
        "/openapi.json",
        "/clusters",
        "/clusters/alpha",
        "/jobs/overview/",
        "/metainfo/getVersion/",
        "/job/lab-stream/status/",
        "/job/lab-stream/statusAndMetrics/",
        "/jobs/lab-fail/exceptions/",
        "/job/lab-fail/exceptions",
        "/clusters/alpha/jobs/overview",
        "/clusters/alpha/job/lab-stream/status",
        "/clusters/alpha/job/lab-stream/statusAndMetrics/",
        "/clusters/alpha/jobs/lab-stream/exceptions",
        "/clusters/alpha/metainfo/getVersion",
        // Errors too.
        "/job/nope/status",
        "/clusters/nope/jobs/overview",
    ] {
        let get = app.get(path).await;
        let head = app.call(Method::HEAD, path, &[]).await;
        assert_eq!(head.status, get.status, "HEAD {path}");
        assert!(head.body.is_empty(), "HEAD {path} has a body");
        assert_eq!(
            head.header(header::CONTENT_TYPE),
            get.header(header::CONTENT_TYPE),
            "HEAD {path}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// errors: 4001, 4009, 4006, 4007

#[tokio::test]
async fn malformed_uuids_are_4001() {
    let (_fake, app) = one_cluster(FlinkVersion::V1_20, Options::guard(StopGuard::Open)).await;
    let too_long = "a".repeat(1025);
    let long_multibyte = "%C3%BC".repeat(513); // 1026 bytes once decoded
    for uuid in [
        "",
        too_long.as_str(),
        long_multibyte.as_str(),
        "%FF",
        "a%C3",
        "%C3%28",
        "%ED%A0%80",
    ] {
        for endpoint in [
            "job/{}/status",
            "job/{}/statusAndMetrics/",
            "jobs/{}/exceptions",
            "job/{}/exceptions/",
            "job/{}/stop",
        ] {
            for prefix in ["/", "/clusters/alpha/", "/clusters/nope/"] {
                let path = format!("{prefix}{}", endpoint.replace("{}", uuid));
                let errors = app.get(&path).await.assert_error(400, 4001, MALFORMED);
                assert_eq!(errors.len(), 1, "{path}: {errors:?}");
                assert!(errors[0].starts_with("uuid "), "{path}: {errors:?}");
            }
        }
    }
    // 1024 bytes is allowed: just not found.
    let longest = "a".repeat(1024);
    app.get(&format!("/job/{longest}/status"))
        .await
        .assert_error(404, 4006, JOB_NOT_FOUND);
    let longest = "%C3%BC".repeat(512);
    app.get(&format!("/job/{longest}/status"))
        .await
        .assert_error(404, 4006, JOB_NOT_FOUND);
}

#[tokio::test]
async fn bad_stop_queries_are_4001() {
    let (fake, app) = one_cluster(FlinkVersion::V1_20, Options::guard(StopGuard::Open)).await;
    for query in [
        "mode=kill",
        "mode=",
        "mode=CANCEL",
        "mode=savepoint&drain=yes",
        "mode=savepoint&drain=1",
        "drain=",
        "mode=stop",
    ] {
        for method in [Method::GET, Method::POST] {
            let path = format!("/job/lab-stream/stop?{query}");
            let errors = app
                .call(method.clone(), &path, &[])
                .await
                .assert_error(400, 4001, MALFORMED);
            assert_eq!(errors.len(), 1, "{method} {path}: {errors:?}");
        }
    }
    assert_eq!(
        fake.calls(&format!("/jobs/{}", fake.jid_of("lab-stream"))),
        0,
        "nothing was sent to Flink"
    );
    assert_eq!(
        fake.edit(|m| m.state(&fake_jid(m, "lab-stream")))
            .as_deref(),
        Some("RUNNING")
    );
}

fn fake_jid(model: &support::fake_flink::Model, name: &str) -> String {
    model
        .jobs
        .iter()
        .find(|j| j["name"] == name)
        .and_then(|j| j["jid"].as_str())
        .expect("a job")
        .to_string()
}

#[tokio::test]
async fn unknown_clusters_are_4009() {
    let (_fake, app) = one_cluster(FlinkVersion::V1_20, Options::default()).await;
    for path in [
        "/clusters/nope",
        "/clusters/nope/",
        "/clusters/Alpha",
        "/clusters/nope/jobs/overview",
        "/clusters/nope/metainfo/getVersion",
        "/clusters/nope/job/lab-stream/status",
        "/clusters/nope/job/lab-stream/statusAndMetrics",
        "/clusters/nope/jobs/lab-stream/exceptions",
        "/clusters/nope/job/lab-stream/exceptions",
        "/clusters/nope/job/lab-stream/stop",
        "/clusters/nope/job/lab-stream/stop?mode=kill",
    ] {
        let errors = app.get(path).await.assert_error(404, 4009, NO_SUCH_CLUSTER);
        assert_eq!(errors.len(), 1, "{path}: {errors:?}");
    }
}

#[tokio::test]
async fn unknown_names_are_4006() {
    let (_fake, app) = one_cluster(FlinkVersion::V2_3, Options::guard(StopGuard::Open)).await;
    for name in [
        "nope",
        "Lab-Stream",
        "lab-stream%20",
        "lab",
        "lab-stream%00",
        "lab%2Dstream%2F",
    ] {
        for endpoint in [
            "job/{}/status",
            "job/{}/statusAndMetrics",
            "jobs/{}/exceptions",
            "job/{}/exceptions",
            "job/{}/stop",
        ] {
            for prefix in ["/", "/clusters/alpha/"] {
                let path = format!("{prefix}{}", endpoint.replace("{}", name));
                let errors = app.get(&path).await.assert_error(404, 4006, JOB_NOT_FOUND);
                assert_eq!(errors, Vec::<String>::new(), "{path}");
            }
        }
    }
}

#[tokio::test]
async fn not_found_at_the_root_names_each_unreachable_cluster() {
    let fake = FakeFlink::start(FlinkVersion::V1_20).await;
    let (dead1, dead2) = (ClosedPort::new(), ClosedPort::new());
    let app = start(
        vec![
            static_cluster("alpha", fake.url()),
            static_cluster("dead1", dead1.url()),
            static_cluster("dead2", dead2.url()),
        ],
        Options::default(),
    );
    app.reachable("alpha").await;
    app.unreachable("dead1").await;
    app.unreachable("dead2").await;
    for endpoint in [
        "job/nope/status",
        "job/nope/statusAndMetrics/",
        "jobs/nope/exceptions",
        "job/nope/exceptions",
    ] {
        let errors = app
            .get(&format!("/{endpoint}"))
            .await
            .assert_error(404, 4006, JOB_NOT_FOUND);
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].starts_with("cluster dead1: "), "{errors:?}");
        assert!(errors[1].starts_with("cluster dead2: "), "{errors:?}");
        assert!(
            errors[0].contains(&dead1.url().authority().to_string()),
            "the reason: {errors:?}"
        );
        // Under one unreachable cluster: it cannot say the job is not there, so 5005.
        let errors = app
            .get(&format!("/clusters/dead2/{endpoint}"))
            .await
            .assert_error(502, 5005, FLINK_UNAVAILABLE);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].starts_with("cluster dead2: "), "{errors:?}");
        assert!(
            errors[0].contains(&dead2.url().authority().to_string()),
            "the reason: {errors:?}"
        );
        let errors = app
            .get(&format!("/clusters/alpha/{endpoint}"))
            .await
            .assert_error(404, 4006, JOB_NOT_FOUND);
        assert_eq!(errors, Vec::<String>::new());
    }
    // A job on the one reachable cluster is found.
    app.get("/job/lab-stream/status").await.response();
}

#[tokio::test]
async fn a_name_on_two_clusters_is_4007_at_the_root_only() {
    let old = FakeFlink::start(FlinkVersion::V1_20).await;
    let new = FakeFlink::start(FlinkVersion::V2_3).await;
    let app = start(
        vec![
            static_cluster("beta", new.url()),
            static_cluster("alpha", old.url()),
        ],
        Options::guard(StopGuard::Open),
    );
    app.reachable("alpha").await;
    app.reachable("beta").await;
    for endpoint in [
        "job/lab-stream/status",
        "job/lab-stream/statusAndMetrics/",
        "jobs/lab-stream/exceptions",
        "job/lab-fail/exceptions/",
        "job/lab-stream/stop",
    ] {
        let errors = app
            .get(&format!("/{endpoint}"))
            .await
            .assert_error(409, 4007, AMBIGUOUS);
        assert_eq!(errors, ["alpha", "beta"], "{endpoint}");
    }
    assert_eq!(
        new.calls(&format!("/jobs/{}", new.jid_of("lab-stream"))),
        0,
        "the stop was not sent"
    );
    let on_beta = app
        .get("/clusters/beta/job/lab-stream/status/")
        .await
        .response();
    assert_eq!(on_beta["jid"], new.jid_of("lab-stream"));
    let on_alpha = app
        .get("/clusters/alpha/job/lab-stream/status/")
        .await
        .response();
    assert_eq!(on_alpha["jid"], old.jid_of("lab-stream"));
    // A name on one cluster only answers at the root.
    let only_beta = app.get("/job/lab-stream-cancel/status").await.response();
    assert_eq!(only_beta["jid"], new.jid_of("lab-stream-cancel"));
}

// ---------------------------------------------------------------------------------------
// errors: 5005

#[tokio::test]
async fn an_unreachable_cluster_is_5005_for_live_reads_and_stop() {
    let fake = FakeFlink::start(FlinkVersion::V1_20).await;
    let other = FakeFlink::empty(FlinkVersion::V2_3).await;
    let app = start(
        vec![
            static_cluster("alpha", fake.url()),
            static_cluster("beta", other.url()),
        ],
        Options::guard(StopGuard::Open),
    );
    app.reachable("alpha").await;
    app.reachable("beta").await;
    // Its port closes: the job is still in its last snapshot.
    fake.stop().await;
    app.unreachable("alpha").await;
    let last_poll = rfc3339(app.cluster_status("alpha").last_poll_ms().expect("a poll"));
    for endpoint in [
        "job/lab-stream/status",
        "job/lab-stream/statusAndMetrics",
        "jobs/lab-fail/exceptions",
        "job/lab-fail/exceptions",
        "job/lab-stream/stop",
    ] {
        for prefix in ["/", "/clusters/alpha/"] {
            let path = format!("{prefix}{endpoint}");
            let errors = app
                .get(&path)
                .await
                .assert_error(502, 5005, FLINK_UNAVAILABLE);
            assert_eq!(errors.len(), 1, "{path}: {errors:?}");
            assert!(
                errors[0].starts_with("cluster alpha: "),
                "{path}: {errors:?}"
            );
            assert!(errors[0].contains(&last_poll), "{path}: {errors:?}");
        }
    }
    // The terminal check needs the job, so it comes after: 5005, not 4008.
    app.get("/job/lab-finish/stop")
        .await
        .assert_error(502, 5005, FLINK_UNAVAILABLE);
}

#[tokio::test]
async fn flink_errors_on_job_reads_are_5005() {
    let (fake, app) = one_cluster(FlinkVersion::V2_3, Options::default()).await;
    let jid = fake.jid_of("lab-stream");
    let details = format!("/jobs/{jid}");
    let url = format!("{}{}", fake.url().as_str().trim_end_matches('/'), details);

    fake.inject(Method::GET, &details, Fault::error(500));
    for path in [
        "/job/lab-stream/status",
        "/job/lab-stream/statusAndMetrics",
        "/clusters/alpha/job/lab-stream/status/",
    ] {
        let errors = app
            .get(path)
            .await
            .assert_error(502, 5005, FLINK_UNAVAILABLE);
        assert_eq!(
            errors,
            [format!(
                "cluster alpha: {url} answered HTTP 500: Internal server error.; <Exception on server side:"
            )],
            "{path}"
        );
    }

    fake.inject(Method::GET, &details, Fault::html(502));
    let errors = app
        .get("/job/lab-stream/status")
        .await
        .assert_error(502, 5005, FLINK_UNAVAILABLE);
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].starts_with(&format!("cluster alpha: {url} answered HTTP 502: <html>")),
        "{errors:?}"
    );

    fake.inject(Method::GET, &details, Fault::garbage());
    let errors = app
        .get("/job/lab-stream/status")
        .await
        .assert_error(502, 5005, FLINK_UNAVAILABLE);
    assert!(
        errors[0].starts_with(&format!(
            "cluster alpha: {url} answered a body that is not the expected JSON"
        )),
        "{errors:?}"
    );

    fake.inject(
        Method::GET,
        &details,
        Fault::json(200, json!({"no": "jid"})),
    );
    app.get("/job/lab-stream/status")
        .await
        .assert_error(502, 5005, FLINK_UNAVAILABLE);

    let exceptions = format!("/jobs/{jid}/exceptions");
    fake.inject(Method::GET, &exceptions, Fault::error(503));
    let errors =
        app.get("/jobs/lab-stream/exceptions")
            .await
            .assert_error(502, 5005, FLINK_UNAVAILABLE);
    assert!(
        errors[0].starts_with("cluster alpha: ") && errors[0].contains("HTTP 503"),
        "{errors:?}"
    );

    // A metrics endpoint failing fails statusAndMetrics, not status.
    fake.heal(Method::GET, &details);
    let source = fake.edit(|m| m.vertices(&jid))[0].clone();
    fake.inject(
        Method::GET,
        &format!("/jobs/{jid}/vertices/{source}/subtasks/metrics"),
        Fault::error(500),
    );
    app.get("/job/lab-stream/status").await.response();
    app.get("/job/lab-stream/statusAndMetrics")
        .await
        .assert_error(502, 5005, FLINK_UNAVAILABLE);
}

#[tokio::test]
async fn a_flink_that_does_not_answer_in_time_is_5005() {
    let options = Options {
        timeout: Duration::from_millis(500),
        ..Options::default()
    };
    let (fake, app) = one_cluster(FlinkVersion::V1_20, options).await;
    let jid = fake.jid_of("lab-stream");
    let never = Gate::new();
    fake.inject(Method::GET, &format!("/jobs/{jid}"), Fault::held(&never));
    let errors = app
        .get("/job/lab-stream/status")
        .await
        .assert_error(502, 5005, FLINK_UNAVAILABLE);
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].starts_with("cluster alpha: no answer from "),
        "{errors:?}"
    );
}

#[tokio::test]
async fn a_job_flink_no_longer_knows_is_4006() {
    let (fake, app) = one_cluster(FlinkVersion::V2_3, Options::default()).await;
    let jid = fake.jid_of("lab-stream");
    fake.edit(|m| m.details.remove(&jid));
    let errors = app
        .get("/clusters/alpha/job/lab-stream/status")
        .await
        .assert_error(404, 4006, JOB_NOT_FOUND);
    assert_eq!(errors, ["cluster alpha: flink no longer knows the job"]);
}

// ---------------------------------------------------------------------------------------
// stop

#[tokio::test]
async fn stop_is_disabled_by_default() {
    let (fake, app) = one_cluster(FlinkVersion::V1_20, Options::default()).await;
    for path in [
        "/job/lab-stream/stop",
        "/job/lab-stream/stop/",
        "/clusters/alpha/job/lab-stream/stop",
        // Before the job and before the query.
        "/job/nope/stop",
        "/job/lab-finish/stop",
        "/job/lab-stream/stop?mode=kill",
    ] {
        for method in [Method::GET, Method::POST] {
            let errors =
                app.call(method.clone(), path, &[])
                    .await
                    .assert_error(403, 4010, NOT_ALLOWED);
            assert_eq!(errors, [STOP_DISABLED], "{method} {path}");
        }
    }
    assert!(
        fake.requests().iter().all(|r| r.method == Method::GET),
        "nothing but reads reached Flink"
    );
}

#[tokio::test]
async fn stop_cancels_the_job_and_checks_flinks_answer() {
    for version in FlinkVersion::ALL {
        let (fake, app) = one_cluster(version, Options::guard(StopGuard::Open)).await;
        let jid = fake.jid_of("lab-stream");
        let answer = app.get("/job/lab-stream/stop").await;
        answer.assert_ok_with(
            json!(1),
            &[&format!(
                "cancel of job {jid} on cluster alpha accepted by flink"
            )],
        );
        assert_eq!(
            fake.calls_to(Method::PATCH, &format!("/jobs/{jid}?mode=cancel")),
            1
        );
        assert_eq!(fake.calls(&format!("/jobs/{jid}/stop")), 0);
        // The monitor polls again soon after a stop.
        app.job_state("alpha", &jid, "CANCELED").await;
        let errors = app
            .get("/job/lab-stream/stop")
            .await
            .assert_error(409, 4008, TERMINAL);
        assert_eq!(errors, ["the job is CANCELED"]);
        assert_eq!(
            fake.calls_to(Method::PATCH, &format!("/jobs/{jid}?mode=cancel")),
            1,
            "{version:?}"
        );

        // POST too, and under a cluster.
        let other = fake.add_job(FakeJob::new("other", "RUNNING"));
        app.job_state("alpha", &other, "RUNNING").await;
        let answer = app
            .call(
                Method::POST,
                "/clusters/alpha/job/other/stop/?mode=cancel",
                &[],
            )
            .await;
        answer.assert_ok_with(
            json!(1),
            &[&format!(
                "cancel of job {other} on cluster alpha accepted by flink"
            )],
        );
        assert_eq!(
            fake.calls_to(Method::PATCH, &format!("/jobs/{other}?mode=cancel")),
            1
        );
    }
}

#[tokio::test]
async fn stop_with_a_savepoint_answers_the_trigger_id() {
    let (fake, app) = one_cluster(FlinkVersion::V2_3, Options::guard(StopGuard::Open)).await;
    let jid = fake.jid_of("lab-stream");
    let answer = app
        .call(
            Method::POST,
            "/job/lab-stream/stop/?mode=savepoint&targetDirectory=file%3A%2F%2F%2Ftmp%2Fsp&drain=true",
            &[],
        )
        .await;
    let body = answer.json();
    assert_eq!(answer.status, StatusCode::OK, "{body}");
    assert_eq!(keys(&body), ["messages", "response"]);
    assert_eq!(body["response"], 1);
    let posts: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.method == Method::POST)
        .collect();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].path, format!("/jobs/{jid}/stop"));
    let sent: Value = serde_json::from_slice(&posts[0].body).expect("a JSON body");
    assert_eq!(
        sent,
        json!({"drain": true, "targetDirectory": "file:///tmp/sp"})
    );
    // The trigger id is Flink's: it can be polled on Flink.
    let message = body["messages"][0].as_str().expect("a message");
    let trigger = message
        .strip_prefix("trigger-id: ")
        .unwrap_or_else(|| panic!("{message}"));
    assert_eq!(body["messages"], json!([format!("trigger-id: {trigger}")]));
    let poll = reqwest::get(format!("{}jobs/{jid}/savepoints/{trigger}", fake.url()))
        .await
        .expect("poll");
    assert_eq!(poll.status(), 200);

    // Without a directory or drain, Flink's defaults.
    let other = fake.add_job(FakeJob::new("other", "RUNNING"));
    app.job_state("alpha", &other, "RUNNING").await;
    let answer = app
        .get("/clusters/alpha/job/other/stop?mode=savepoint")
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let post = fake
        .requests()
        .into_iter()
        .rfind(|r| r.method == Method::POST)
        .expect("a stop");
    assert_eq!(post.path, format!("/jobs/{other}/stop"));
    let sent: Value = serde_json::from_slice(&post.body).expect("a JSON body");
    assert_eq!(sent, json!({"drain": false}));
}

#[tokio::test]
async fn stop_with_a_token_wants_exactly_that_token() {
    let (fake, app) = one_cluster(
        FlinkVersion::V1_20,
        Options::guard(StopGuard::StaticToken("s3cret".into())),
    )
    .await;
    let jid = fake.jid_of("lab-stream");
    for path in [
        "/job/lab-stream/stop",
        "/job/nope/stop",
        "/job/lab-stream/stop?mode=kill",
    ] {
        let answer = app.get(path).await;
        let errors = answer.assert_error(401, 4010, NEEDS_CREDENTIALS);
        assert_eq!(errors, ["send Authorization: Bearer <token>"]);
        assert_eq!(answer.header(header::WWW_AUTHENTICATE), Some("Bearer"));
        for wrong in ["Bearer s3cre", "Bearer s3cret2", "Bearer S3CRET"] {
            let answer = app
                .call(Method::GET, path, &[(header::AUTHORIZATION, wrong)])
                .await;
            let errors = answer.assert_error(403, 4010, NOT_ALLOWED);
            assert_eq!(
                errors,
                ["the bearer token is not the stop token"],
                "{wrong}"
            );
        }
        for not_bearer in ["Basic s3cret", "s3cret", "Bearer "] {
            let answer = app
                .call(Method::GET, path, &[(header::AUTHORIZATION, not_bearer)])
                .await;
            answer.assert_error(401, 4010, NEEDS_CREDENTIALS);
        }
    }
    assert_eq!(
        fake.calls(&format!("/jobs/{jid}")),
        0,
        "nothing reached Flink"
    );
    // With the token, the query is checked next, then the job.
    let auth = [(header::AUTHORIZATION, "Bearer s3cret")];
    app.call(Method::GET, "/job/lab-stream/stop?mode=kill", &auth)
        .await
        .assert_error(400, 4001, MALFORMED);
    app.call(Method::GET, "/job/nope/stop", &auth)
        .await
        .assert_error(404, 4006, JOB_NOT_FOUND);
    let answer = app.call(Method::POST, "/job/lab-stream/stop", &auth).await;
    answer.assert_ok_with(
        json!(1),
        &[&format!(
            "cancel of job {jid} on cluster alpha accepted by flink"
        )],
    );
    assert_eq!(
        fake.calls_to(Method::PATCH, &format!("/jobs/{jid}?mode=cancel")),
        1
    );
}

#[tokio::test]
async fn stop_of_an_ended_job_is_4008() {
    let (fake, app) = one_cluster(FlinkVersion::V2_3, Options::guard(StopGuard::Open)).await;
    for (name, state) in [("lab-finish", "FINISHED"), ("lab-fail", "FAILED")] {
        for query in ["", "?mode=savepoint"] {
            let errors = app
                .get(&format!("/job/{name}/stop{query}"))
                .await
                .assert_error(409, 4008, TERMINAL);
            assert_eq!(errors, [format!("the job is {state}")]);
        }
    }
    assert!(
        fake.requests().iter().all(|r| r.method == Method::GET),
        "nothing was sent to Flink"
    );
}

#[tokio::test]
async fn stop_refused_by_flink_because_the_job_ended_is_4008() {
    let (fake, app) = one_cluster(FlinkVersion::V1_20, Options::guard(StopGuard::Open)).await;
    let jid = fake.jid_of("lab-stream");
    // The job ended since the last poll: Flink answers 409, as recorded.
    let refusal = fixture(FlinkVersion::V1_20, "cancel_finished.json");
    fake.inject(
        Method::PATCH,
        &format!("/jobs/{jid}"),
        Fault::json(409, refusal),
    );
    let errors = app
        .get("/job/lab-stream/stop")
        .await
        .assert_error(409, 4008, TERMINAL);
    assert_eq!(errors, ["the job is already terminal according to flink"]);
    assert_eq!(
        fake.calls_to(Method::PATCH, &format!("/jobs/{jid}?mode=cancel")),
        1
    );

    // Any other refusal is Flink's error: 5005; a job Flink does not know: 4006.
    fake.inject(Method::PATCH, &format!("/jobs/{jid}"), Fault::error(500));
    let errors = app
        .get("/job/lab-stream/stop")
        .await
        .assert_error(502, 5005, FLINK_UNAVAILABLE);
    assert!(
        errors[0].starts_with("cluster alpha: ") && errors[0].contains("HTTP 500"),
        "{errors:?}"
    );
    fake.inject(
        Method::PATCH,
        &format!("/jobs/{jid}"),
        Fault::json(404, fixture(FlinkVersion::V1_20, "cancel_unknown.json")),
    );
    app.get("/job/lab-stream/stop")
        .await
        .assert_error(404, 4006, JOB_NOT_FOUND);
    fake.inject(Method::POST, &format!("/jobs/{jid}/stop"), Fault::html(502));
    app.get("/job/lab-stream/stop?mode=savepoint")
        .await
        .assert_error(502, 5005, FLINK_UNAVAILABLE);
    assert_eq!(fake.edit(|m| m.state(&jid)).as_deref(), Some("RUNNING"));
}

// ---------------------------------------------------------------------------------------
// the order of the checks

#[tokio::test]
async fn checks_happen_in_the_contracts_order() {
    let fake = FakeFlink::start(FlinkVersion::V1_20).await;
    for (guard, cases) in [
        (
            StopGuard::Disabled,
            vec![
                ("POST", "/nope", 4004),
                ("PUT", "/clusters/nope/job/%FF/status", 4005),
                ("HEAD", "/clusters/nope/job//stop?mode=kill", 4005),
                ("GET", "/clusters/nope/job/%FF/status", 4001),
                ("GET", "/clusters/nope/job//stop?mode=kill", 4001),
                ("GET", "/job//stop?mode=kill", 4001),
                ("GET", "/clusters/nope/job/lab-stream/stop?mode=kill", 4009),
                ("GET", "/job/nope/stop?mode=kill", 4010),
                ("GET", "/job/nope/stop", 4010),
                ("GET", "/job/lab-finish/stop", 4010),
            ],
        ),
        (
            StopGuard::StaticToken("t".into()),
            vec![
                ("GET", "/clusters/nope/job/x/stop", 4009),
                ("GET", "/job/nope/stop?mode=kill", 4010),
            ],
        ),
        (
            StopGuard::Open,
            vec![
                ("GET", "/job/nope/stop?mode=kill", 4001),
                ("GET", "/job/nope/stop?mode=savepoint&drain=maybe", 4001),
                ("GET", "/job/lab-finish/stop?mode=kill", 4001),
                ("GET", "/job/nope/stop", 4006),
                ("GET", "/job/lab-finish/stop", 4008),
                ("GET", "/job/nope/status", 4006),
            ],
        ),
    ] {
        let app = start(
            vec![static_cluster("alpha", fake.url())],
            Options::guard(guard),
        );
        app.reachable("alpha").await;
        for (method, path, code) in cases {
            let method: Method = method.parse().expect("a method");
            let answer = app.call(method.clone(), path, &[]).await;
            if method == Method::HEAD {
                assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED, "{path}");
                continue;
            }
            let body = answer.json();
            assert_eq!(body["errorCode"], code, "{method} {path}: {body}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// names and the choice among jobs with the same name

#[tokio::test]
async fn the_same_name_means_the_live_job_then_the_newest_then_the_greatest_jid() {
    let (fake, app) = one_cluster(FlinkVersion::V2_3, Options::guard(StopGuard::Open)).await;
    let now = now_ms();
    let running = fake.add_job(FakeJob::new("orders", "RUNNING").started_at(now - 100_000));
    let cancelled = fake.add_job(FakeJob::new("orders", "CANCELED").started_at(now - 10_000));
    app.job_state("alpha", &cancelled, "CANCELED").await;
    // A running job beats a newer cancelled one.
    assert_eq!(
        app.get("/job/orders/status").await.response()["jid"],
        running
    );

    // Among live jobs the newest (every non-terminal state is live).
    let restarting = fake.add_job(FakeJob::new("orders", "RESTARTING").started_at(now - 50_000));
    app.job_state("alpha", &restarting, "RESTARTING").await;
    for path in ["/job/orders/status", "/clusters/alpha/job/orders/status"] {
        assert_eq!(app.get(path).await.response()["jid"], restarting);
    }
    let metrics = app.get("/job/orders/statusAndMetrics").await.response();
    assert_eq!(metrics["details"]["jid"], restarting);
    assert_eq!(metrics["details"]["state"], "RESTARTING");

    // Among ended jobs the newest.
    let finished = fake.add_job(
        FakeJob::new("done", "FINISHED")
            .like(Recorded::Finish)
            .started_at(now - 100_000),
    );
    let failed = fake.add_job(
        FakeJob::new("done", "FAILED")
            .like(Recorded::Fail)
            .started_at(now - 20_000),
    );
    app.job_state("alpha", &finished, "FINISHED").await;
    app.job_state("alpha", &failed, "FAILED").await;
    assert_eq!(app.get("/job/done/status").await.response()["jid"], failed);
    let root = app.get("/job/done/exceptions").await.response();
    assert!(
        root["root-exception"]
            .as_str()
            .is_some_and(|e| e.contains("NoRestartBackoffTimeStrategy")),
        "{root}"
    );

    // Same start: the greater jid.
    let low = "00000000000000000000000000000001";
    let high = "ffffffffffffffffffffffffffffff01";
    fake.add_job(
        FakeJob::new("tie", "RUNNING")
            .jid(low)
            .started_at(now - 5_000),
    );
    fake.add_job(
        FakeJob::new("tie", "RUNNING")
            .jid(high)
            .started_at(now - 5_000),
    );
    app.job_state("alpha", high, "RUNNING").await;
    app.job_state("alpha", low, "RUNNING").await;
    assert_eq!(app.get("/job/tie/status").await.response()["jid"], high);

    // Stop acts on the job the name means.
    app.get("/job/orders/stop").await.assert_ok_with(
        json!(1),
        &[&format!(
            "cancel of job {restarting} on cluster alpha accepted by flink"
        )],
    );
    assert_eq!(
        fake.calls_to(Method::PATCH, &format!("/jobs/{restarting}?mode=cancel")),
        1
    );
    assert_eq!(
        fake.calls_to(Method::PATCH, &format!("/jobs/{running}?mode=cancel")),
        0
    );
    assert_eq!(fake.edit(|m| m.state(&running)).as_deref(), Some("RUNNING"));
}

#[tokio::test]
async fn names_with_spaces_non_ascii_and_slashes_are_percent_encoded() {
    let (fake, app) = one_cluster(FlinkVersion::V1_20, Options::default()).await;
    let names = [
        "name with spaces",
        "заказы ü 注文",
        "a/b",
        "50%",
        "x?y#z",
        "+plus+",
    ];
    let mut jids = Vec::new();
    for name in names {
        jids.push(fake.add_job(FakeJob::new(name, "RUNNING")));
    }
    for jid in &jids {
        app.job_state("alpha", jid, "RUNNING").await;
    }
    for (name, jid) in names.iter().zip(&jids) {
        let encoded = encode(name);
        for path in [
            format!("/job/{encoded}/status"),
            format!("/clusters/alpha/job/{encoded}/statusAndMetrics/"),
            format!("/jobs/{encoded}/exceptions"),
        ] {
            let response = app.get(&path).await.response();
            let status = response.get("details").unwrap_or(&response);
            if status.get("jid").is_some() {
                assert_eq!(status["jid"], *jid, "{path}");
                assert_eq!(status["name"], *name, "{path}");
            }
        }
    }
    // `a%2Fb` is the name "a/b"; `a/b` is another path.
    app.get("/job/a/b/status")
        .await
        .assert_error(404, 4004, NO_SUCH_PATH);
    // `+` is not a space in a path.
    app.get("/job/name+with+spaces/status")
        .await
        .assert_error(404, 4006, JOB_NOT_FOUND);
    // Names are case-sensitive and exact.
    app.get("/job/NAME%20WITH%20SPACES/status")
        .await
        .assert_error(404, 4006, JOB_NOT_FOUND);
}
