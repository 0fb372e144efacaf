//! Health checks against fake Flink JobManagers: what they cost Flink (call counts), what
//! `job/{uuid}/health/` answers, and the per-job series of /metrics.

mod support;

use support::api_app::static_cluster as cluster;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use flink_monitor::api::{self, AppState, StopGuard};
use flink_monitor::clusters::health::HealthSettings;
use flink_monitor::clusters::health_rules::Thresholds;
use flink_monitor::clusters::{ClusterInfo, KnownClusters, PollSettings};
use flink_monitor::flink::{ClientSettings, FlinkClient};
use flink_monitor::job_series::JobSeries;
use flink_monitor::metrics::Metrics;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use support::fake_flink::{FakeFlink, FakeJob, FlinkVersion, fixture, now_ms};
use support::wait;

const PATIENCE: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(100);
const HEALTH_INTERVAL: Duration = Duration::from_millis(300);

struct TestApp {
    router: Router,
    shutdown: CancellationToken,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// The app as `runtime::run` wires it, with health checks every 300 ms.
fn start(clusters: Vec<ClusterInfo>, thresholds: Thresholds) -> TestApp {
    let mut metrics = Metrics::new();
    let series = JobSeries::new();
    metrics
        .registry_mut()
        .register_collector(Box::new(series.clone()));
    let metrics = Arc::new(metrics);
    let shutdown = CancellationToken::new();
    let settings = PollSettings {
        poll_interval: POLL,
        cache_ttl: Duration::ZERO,
        client: ClientSettings::default(),
    };
    let registry = Arc::new(
        KnownClusters::new(
            settings,
            FlinkClient::http_client().expect("an HTTP client"),
            metrics.clone(),
            shutdown.clone(),
        )
        .with_health(HealthSettings {
            interval: HEALTH_INTERVAL,
            thresholds,
        }),
    );
    series.attach(&registry);
    for info in clusters {
        registry.upsert(info);
    }
    let state = AppState::new(registry, metrics, StopGuard::Disabled);
    TestApp {
        router: api::router(Arc::new(state)),
        shutdown,
    }
}

impl TestApp {
    async fn get(&self, path: &str) -> (StatusCode, Vec<u8>) {
        let request = Request::get(path).body(Body::empty()).unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, body.to_vec())
    }

    async fn json(&self, path: &str) -> (StatusCode, Value) {
        let (status, body) = self.get(path).await;
        let value = serde_json::from_slice(&body)
            .unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {body:?}"));
        (status, value)
    }

    async fn metrics(&self) -> String {
        String::from_utf8(self.get("/metrics").await.1).unwrap()
    }

    /// Waits until `path` answers 200 with a response for which `done` holds.
    async fn health_until(&self, path: &str, done: impl Fn(&Value) -> bool) -> Value {
        let what = format!("{path} to satisfy the test");
        wait::until_ok(PATIENCE, Duration::from_millis(50), &what, || async {
            let (status, body) = self.json(path).await;
            if status == StatusCode::OK && done(&body["response"]) {
                Ok(body["response"].clone())
            } else {
                Err(format!("{status}: {body}"))
            }
        })
        .await
    }
}

async fn wait_for(what: &str, condition: impl Fn() -> bool) {
    wait::until(PATIENCE, Duration::from_millis(20), what, || async {
        condition().then_some(())
    })
    .await
}

fn checkpointing(fake: &FakeFlink, jid: &str, interval_ms: i64) {
    fake.edit(|m| {
        m.checkpoint_config.insert(
            jid.to_string(),
            json!({"mode": "exactly_once", "interval": interval_ms, "timeout": 600000}),
        )
    });
}

fn job_calls(fake: &FakeFlink, jid: &str, tail: &str) -> usize {
    fake.calls(&format!("/jobs/{jid}{tail}"))
}

#[tokio::test]
async fn each_check_costs_at_most_two_calls_the_config_is_read_once_and_ended_jobs_are_left_alone()
{
    let fake = FakeFlink::empty(FlinkVersion::V2_3).await;
    let live: Vec<String> = (0..3)
        .map(|i| fake.add_job(FakeJob::new(&format!("live-{i}"), "RUNNING")))
        .collect();
    let done = fake.add_job(FakeJob::new("done", "FINISHED"));
    for jid in &live {
        let completed_at = now_ms().to_string();
        fake.edit(|m| {
            m.set_job_metrics(
                jid,
                &[
                    ("numRestarts", "0"),
                    ("numberOfCompletedCheckpoints", "1"),
                    ("numberOfFailedCheckpoints", "0"),
                    ("lastCheckpointCompletedTimestamp", &completed_at),
                ],
            )
        });
    }
    checkpointing(&fake, &live[0], 10_000);
    let started = Instant::now();
    let app = start(vec![cluster("a", fake.url())], Thresholds::default());
    wait_for("four checks of every running job", || {
        live.iter()
            .all(|jid| job_calls(&fake, jid, "/metrics") >= 4)
    })
    .await;
    let elapsed = started.elapsed();
    drop(app);

    let requests = fake.requests();
    let first_poll = requests
        .iter()
        .position(|r| r.path == "/jobs/overview")
        .expect("a poll");
    let first_check = requests
        .iter()
        .position(|r| r.path.ends_with("/metrics"))
        .expect("a check");
    assert!(
        first_poll < first_check,
        "a check ran ahead of the first poll"
    );
    // An upper bound only (a slow machine makes fewer calls, never more).
    let rounds = (elapsed.as_millis() / HEALTH_INTERVAL.as_millis()) as usize + 1;
    for jid in &live {
        let checks = job_calls(&fake, jid, "/metrics");
        let config = job_calls(&fake, jid, "/checkpoints/config");
        let stats = job_calls(&fake, jid, "/checkpoints");
        assert!(
            checks <= rounds,
            "{jid}: {checks} checks in {rounds} intervals"
        );
        assert_eq!(config, 1, "{jid}: the checkpoint config is read once");
        assert!(
            config + stats <= checks,
            "{jid}: {checks} checks made {config} + {stats} further calls"
        );
        assert_eq!(
            stats, 0,
            "2.x metrics carry the completion time: no /checkpoints"
        );
        let query = requests
            .iter()
            .find(|r| r.path == format!("/jobs/{jid}/metrics"))
            .and_then(|r| r.query.clone())
            .unwrap_or_default();
        assert!(query.starts_with("get=numRestarts,"), "{query}");
    }
    assert_eq!(
        job_calls(&fake, &done, "/metrics") + job_calls(&fake, &done, "/checkpoints/config"),
        0,
        "a job that was never running is not checked"
    );
}

#[tokio::test]
async fn a_job_that_ends_is_checked_once_more_then_left_alone() {
    let fake = FakeFlink::empty(FlinkVersion::V2_3).await;
    let ending = fake.add_job(FakeJob::new("ending", "RUNNING"));
    let steady = fake.add_job(FakeJob::new("steady", "RUNNING"));
    for jid in [&ending, &steady] {
        fake.edit(|m| m.set_job_metric(jid, "numRestarts", "0"));
    }
    let app = start(vec![cluster("a", fake.url())], Thresholds::default());
    wait_for("a check of the job", || {
        job_calls(&fake, &ending, "/metrics") >= 1
    })
    .await;
    fake.set_state(&ending, "CANCELED");
    app.health_until("/job/ending/health/", |r| r["state"] == "CANCELED")
        .await;
    let before = job_calls(&fake, &ending, "/metrics");
    let steady_before = job_calls(&fake, &steady, "/metrics");
    wait_for("three more rounds", || {
        job_calls(&fake, &steady, "/metrics") >= steady_before + 3
    })
    .await;
    let after = job_calls(&fake, &ending, "/metrics");
    assert!(
        after - before <= 1,
        "{} checks after the job ended",
        after - before
    );
    assert!(after >= 2, "the check after the end happened: {after}");
    let (_, body) = app.json("/job/ending/health/").await;
    assert_eq!(body["response"]["health"], "Unknown");
    assert_eq!(body["response"]["reasons"], json!(["Canceled"]));
}

#[tokio::test]
async fn flink_1_20_reads_checkpoint_statistics_only_when_a_checkpoint_completed() {
    let fake = FakeFlink::empty(FlinkVersion::V1_20).await;
    let jid = fake.add_job(FakeJob::new("old-flink", "RUNNING"));
    let completed_at = now_ms() - 5_000;
    fake.edit(|m| {
        m.set_job_metrics(
            &jid,
            &[
                ("numRestarts", "0"),
                ("fullRestarts", "0"),
                ("numberOfCompletedCheckpoints", "2"),
                ("numberOfFailedCheckpoints", "0"),
                ("numberOfInProgressCheckpoints", "0"),
            ],
        );
        m.checkpoints.insert(
            jid.clone(),
            json!({
                "counts": {"restored": 0, "total": 2, "in_progress": 0, "completed": 2, "failed": 0},
                "latest": {"completed": {"id": 2, "latest_ack_timestamp": completed_at}, "failed": null}
            }),
        );
    });
    checkpointing(&fake, &jid, 10_000);
    let app = start(vec![cluster("old", fake.url())], Thresholds::default());
    let health = app
        .health_until("/clusters/old/job/old-flink/health/", |r| {
            !r["checkpoints"]["last-completed-time"].is_null()
        })
        .await;
    assert_eq!(health["health"], "Healthy");
    assert_eq!(health["cluster"], "old");
    assert_eq!(health["restarts"], 0);
    let cps = &health["checkpoints"];
    assert_eq!(cps["enabled"], true);
    assert_eq!(cps["interval-ms"], 10_000);
    assert_eq!(cps["completed"], 2);
    assert_eq!(cps["last-completed-time"], completed_at);
    assert!(cps["last-completed-age-ms"].as_i64().unwrap() >= 5_000);
    let stats_reads = job_calls(&fake, &jid, "/checkpoints");
    let checks = job_calls(&fake, &jid, "/metrics");
    wait_for("three more checks", || {
        job_calls(&fake, &jid, "/metrics") >= checks + 3
    })
    .await;
    assert_eq!(
        job_calls(&fake, &jid, "/checkpoints"),
        stats_reads,
        "nothing completed since: no new read of /checkpoints"
    );
}

#[tokio::test]
async fn restart_loops_and_stalled_checkpoints_are_degraded_in_the_api_and_in_metrics() {
    let fake = FakeFlink::empty(FlinkVersion::V2_3).await;
    let looping = fake.add_job(FakeJob::new("loop", "RUNNING"));
    let stalled = fake.add_job(FakeJob::new("stall", "RUNNING").started_at(now_ms() - 120_000));
    let fine = fake.add_job(FakeJob::new("fine \"quoted\"", "RUNNING"));
    fake.edit(|m| {
        m.set_job_metric(&looping, "numRestarts", "7");
        m.set_job_metrics(
            &stalled,
            &[
                ("numRestarts", "0"),
                ("numberOfCompletedCheckpoints", "0"),
                ("numberOfInProgressCheckpoints", "1"),
                ("lastCheckpointCompletedTimestamp", "-1"),
            ],
        );
        m.set_job_metric(&fine, "numRestarts", "0");
    });
    checkpointing(&fake, &stalled, 2_000);
    let app = start(vec![cluster("a", fake.url())], Thresholds::default());

    let degraded = app
        .health_until("/job/loop/health/", |r| r["health"] == "Degraded")
        .await;
    assert_eq!(degraded["reasons"], json!(["Restarting"]));
    assert_eq!(degraded["restarts"], 7);
    assert_eq!(degraded["jid"], looping.as_str());
    assert!(degraded["checked-at"].is_i64());
    let stall = app
        .health_until("/job/stall/health/", |r| r["health"] == "Degraded")
        .await;
    assert_eq!(stall["reasons"], json!(["CheckpointStalled"]));
    assert_eq!(stall["checkpoints"]["in-progress"], 1);
    assert_eq!(stall["checkpoints"]["last-completed-time"], Value::Null);
    let fine_health = app
        .health_until("/job/fine%20%22quoted%22/health", |r| {
            r["health"] != "Unknown"
        })
        .await;
    assert_eq!(fine_health["health"], "Healthy");
    assert_eq!(fine_health["reasons"], json!([]));
    assert_eq!(fine_health["checkpoints"]["enabled"], false);

    // The errors of the other job endpoints.
    let (status, body) = app.json("/job/nope/health/").await;
    assert_eq!(
        (status, body["errorCode"].clone()),
        (StatusCode::NOT_FOUND, json!(4006))
    );
    let (status, body) = app.json("/clusters/zzz/job/loop/health/").await;
    assert_eq!(
        (status, body["errorCode"].clone()),
        (StatusCode::NOT_FOUND, json!(4009))
    );

    let text = app.metrics().await;
    for line in [
        r#"flink_monitor_job_healthy{cluster="a",job="loop"} 0"#,
        r#"flink_monitor_job_restarts{cluster="a",job="loop"} 7"#,
        r#"flink_monitor_job_healthy{cluster="a",job="fine \"quoted\""} 1"#,
        r#"flink_monitor_job_state{cluster="a",job="stall",state="RUNNING"} 1"#,
    ] {
        assert!(text.contains(line), "no {line} in\n{text}");
    }
    assert!(
        text.contains(
            r#"flink_monitor_job_last_checkpoint_age_seconds{cluster="a",job="stall"} 1"#
        ),
        "a stalled job's age counts from its start (about 120 s):\n{text}"
    );

    // A job that leaves the snapshot leaves /metrics and the API.
    fake.edit(|m| m.jobs.retain(|j| j["jid"] != looping.as_str()));
    wait::until(
        PATIENCE,
        Duration::from_millis(50),
        "the gone job's series to leave",
        || async { (!app.metrics().await.contains(r#"job="loop""#)).then_some(()) },
    )
    .await;
    let (status, _) = app.json("/job/loop/health/").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn health_has_the_lookup_errors_of_status_and_is_in_the_openapi_document() {
    let a = FakeFlink::empty(FlinkVersion::V2_3).await;
    let b = FakeFlink::empty(FlinkVersion::V1_20).await;
    for fake in [&a, &b] {
        let jid = fake.add_job(FakeJob::new("twin", "RUNNING"));
        fake.edit(|m| m.set_job_metric(&jid, "numRestarts", "0"));
    }
    let app = start(
        vec![cluster("a", a.url()), cluster("b", b.url())],
        Thresholds::default(),
    );
    app.health_until("/clusters/b/job/twin/health/", |r| r["health"] == "Healthy")
        .await;
    let (status, body) = app.json("/job/twin/health/").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["errorCode"], 4007);
    assert_eq!(body["errors"], json!(["a", "b"]));
    let (status, body) = app.json("/job//health/").await;
    assert_eq!(
        (status, body["errorCode"].clone()),
        (StatusCode::BAD_REQUEST, json!(4001))
    );

    b.stop().await;
    let body = wait::until_ok(PATIENCE, Duration::from_millis(50), "a 502", || async {
        let (status, body) = app.json("/clusters/b/job/twin/health/").await;
        match status {
            StatusCode::BAD_GATEWAY => Ok(body),
            other => Err(format!("{other}: {body}")),
        }
    })
    .await;
    assert_eq!(body["errorCode"], 5005);

    let (_, doc) = app.json("/openapi.json").await;
    for path in [
        "/job/{uuid}/health/",
        "/clusters/{cluster}/job/{uuid}/health/",
    ] {
        let get = &doc["paths"][path]["get"];
        assert!(
            get["responses"]["200"].is_object(),
            "{path} is not documented"
        );
    }
    assert!(doc["components"]["schemas"]["JobHealthView"].is_object());
}

/// Serves a job's recorded health metrics (`[{"id","value"}]`) from the fake.
fn recorded_job_metrics(fake: &FakeFlink, version: FlinkVersion, jid: &str, file: &str) {
    let recorded = fixture(version, file);
    let pairs: Vec<(String, String)> = recorded
        .as_array()
        .expect("a list of metrics")
        .iter()
        .map(|m| {
            let value = m["value"].as_str().expect("a string value");
            (
                m["id"].as_str().expect("an id").to_string(),
                value.to_string(),
            )
        })
        .collect();
    let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (&**k, &**v)).collect();
    fake.edit(|m| m.set_job_metrics(jid, &pairs));
}

/// Recorded from the `stall` kind on Flink 2.3 and 1.20: on a fresh TaskManager the first
/// trigger failed before its checkpoint started ("Not all required tasks are currently
/// running"), which Flink counts (`failed: 1`) but does not record (`latest.failed: null`),
/// so there is no time to give. After a cancel the pending checkpoint fails with a time,
/// while the job metrics keep their last values (1 failed, 1 in progress).
#[tokio::test]
async fn a_failure_flink_recorded_shows_its_time_even_after_the_job_ended() {
    for version in FlinkVersion::ALL {
        let fake = FakeFlink::empty(version).await;
        let jid = fake.add_job(FakeJob::new("stall", "RUNNING"));
        recorded_job_metrics(&fake, version, &jid, "job_stall_health_metrics.json");
        fake.edit(|m| {
            m.checkpoints
                .insert(jid.clone(), fixture(version, "job_stall_checkpoints.json"));
            m.checkpoint_config.insert(
                jid.clone(),
                fixture(version, "job_stall_checkpoints_config.json"),
            );
        });
        let app = start(vec![cluster("a", fake.url())], Thresholds::default());
        let v = version.as_str();
        wait_for("the statistics read after the failure", || {
            job_calls(&fake, &jid, "/checkpoints") >= 1
        })
        .await;
        let running = app
            .health_until("/job/stall/health/", |r| {
                r["checkpoints"]["enabled"] == true
            })
            .await;
        let cps = &running["checkpoints"];
        assert_eq!(cps["failed"], 1, "{v}: {running}");
        assert_eq!(cps["in-progress"], 1, "{v}: {running}");
        assert_eq!(
            cps["last-failure-time"],
            Value::Null,
            "{v}: Flink recorded no failure, so there is no time: {running}"
        );

        let after = fixture(version, "job_stall_canceled_checkpoints.json");
        let failure = &after["latest"]["failed"];
        recorded_job_metrics(
            &fake,
            version,
            &jid,
            "job_stall_canceled_health_metrics.json",
        );
        fake.edit(|m| m.checkpoints.insert(jid.clone(), after.clone()));
        fake.set_state(&jid, "CANCELED");
        let ended = app
            .health_until("/job/stall/health/", |r| {
                r["state"] == "CANCELED" && !r["checkpoints"]["last-failure-time"].is_null()
            })
            .await;
        let cps = &ended["checkpoints"];
        assert_eq!(
            cps["last-failure-time"], failure["failure_timestamp"],
            "{v}: {ended}"
        );
        assert_eq!(
            cps["last-failure-message"], "Checkpoint Coordinator is suspending.",
            "{v}: {ended}"
        );
        assert_eq!(
            (cps["failed"].clone(), cps["in-progress"].clone()),
            (json!(2), json!(0)),
            "{v}: the counts of the statistics, not of the stale metrics: {ended}"
        );
    }
}
