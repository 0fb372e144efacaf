//! The reconciler and mirror mode against a mocked API server that checks every request
//! in order (method, path, field manager, body), as kube-rs's controller-rs does.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{self as http, Request, Response};
use kube::client::Body;
use kube::runtime::reflector;
use serde_json::{Value, json};
use strum::VariantNames;
use tokio::sync::watch;

use crate::clusters::testing::{add_cluster, quiet_registry, service_cluster};
use crate::clusters::{ClusterInfo, ClusterSource, KnownClusters, OwnerRef};
use crate::crd::{FlinkJob, FlinkJobSpec};
use crate::flink::ClientSettings;
use crate::metrics::Metrics;

use super::{
    Context, Lead, ReconcileOutcome, StoredJob, WriteGate, WriteLimits, mirror, reconcile_inner,
};

use crate::testing::apiserver::{self, Handle as ApiServerHandle};

/// Plays the API server: each `expect_*` takes the next request, checks it and answers.
struct ApiServerVerifier(ApiServerHandle);

impl ApiServerVerifier {
    async fn next(
        &mut self,
    ) -> (
        Request<Body>,
        Value,
        tower_test::mock::SendResponse<Response<Body>>,
    ) {
        let (request, send) = tokio::time::timeout(Duration::from_secs(5), self.0.next_request())
            .await
            .expect("the reconciler made no further request")
            .expect("the client was dropped");
        let (parts, body) = request.into_parts();
        let value = apiserver::body(Request::new(body)).await;
        (Request::from_parts(parts, Body::empty()), value, send)
    }

    async fn expect_status_apply(&mut self, name: &str) -> Value {
        let (request, body, send) = self.next().await;
        assert_eq!(request.method(), http::Method::PATCH);
        let uri = request.uri().to_string();
        let expected = format!(
            "/apis/flinkmonitor.dev/v1alpha1/namespaces/team-a/flinkjobs/{name}/status?&force=true&fieldManager=flink-monitor&timeout="
        );
        assert!(
            uri.starts_with(&expected) && uri.ends_with("ms"),
            "{uri}: the write carries its deadline as the API server's timeout"
        );
        assert_eq!(
            request.headers()["content-type"],
            "application/apply-patch+yaml"
        );
        assert_eq!(body["apiVersion"], "flinkmonitor.dev/v1alpha1");
        assert_eq!(body["kind"], "FlinkJob");
        let stored = with_applied_status(flink_job(name, "orders-enrichment"), &body);
        apiserver::answer(send, 200, &serde_json::to_value(&stored).unwrap());
        body
    }

    async fn expect_event(&mut self) -> Value {
        let (request, body, send) = self.next().await;
        assert_eq!(request.method(), http::Method::POST);
        assert_eq!(
            request.uri().path(),
            "/apis/events.k8s.io/v1/namespaces/team-a/events"
        );
        apiserver::answer(send, 201, &body);
        body
    }

    async fn expect_nothing(&mut self) {
        let next = tokio::time::timeout(Duration::from_millis(200), self.0.next_request()).await;
        assert!(
            next.is_err(),
            "unexpected request: {:?}",
            next.ok().flatten().map(|(r, _)| r.uri().clone())
        );
    }
}

fn flink_job(name: &str, job_name: &str) -> FlinkJob {
    let mut job = FlinkJob::new(
        name,
        FlinkJobSpec {
            job_name: job_name.into(),
            cluster: None,
            health: None,
        },
    );
    job.metadata.namespace = Some("team-a".into());
    job.metadata.generation = Some(1);
    job.metadata.uid = Some("uid-of-the-flinkjob".into());
    job
}

/// `job` as the API server holds it after the status write `applied`.
fn with_applied_status(mut job: FlinkJob, applied: &Value) -> FlinkJob {
    job.status = serde_json::from_value(applied["status"].clone()).unwrap();
    job
}

/// A registry with one discovered cluster whose last poll saw `jobs`, without polling.
async fn registry_with(jobs: Value, reachable: bool) -> Arc<KnownClusters> {
    let registry = quiet_registry(ClientSettings::default());
    let info = ClusterInfo {
        owner: Some(OwnerRef {
            api_version: "v1".into(),
            kind: "Service".into(),
            name: "orders-rest".into(),
            uid: "uid-of-the-service".into(),
        }),
        ..service_cluster("team-a", "orders")
    };
    add_cluster(&registry, info, jobs, reachable).await;
    registry
}

fn running_jobs() -> Value {
    json!([{"jid": "13b86a0c682093f8a099c3b4ca0207fa", "name": "orders-enrichment", "state": "RUNNING", "start-time": 1795606436846i64, "end-time": -1}])
}

fn context(
    registry: Arc<KnownClusters>,
    leading: bool,
) -> (Context, ApiServerVerifier, watch::Sender<Lead>) {
    let (client, handle) = apiserver::client("default");
    let (tx, rx) = watch::channel(if leading {
        Lead::Unfenced
    } else {
        Lead::Standby
    });
    let gate = WriteGate::start(WriteLimits::default(), rx);
    let metrics = Metrics::new();
    metrics.list_reconcile_error_kinds(super::ReconcileError::VARIANTS);
    let ctx = Context::new(
        client,
        registry,
        gate,
        Arc::new(metrics),
        "flink-monitor-0".into(),
    );
    (ctx, ApiServerVerifier(handle), tx)
}

#[tokio::test]
async fn a_new_status_is_applied_once_without_an_event_and_then_left_alone() {
    let registry = registry_with(running_jobs(), true).await;
    let (ctx, mut api, _leading) = context(registry, true);
    let job = flink_job("orders", "orders-enrichment");

    let reconciler = tokio::spawn(async move {
        let first = reconcile_inner(&job, &ctx).await.unwrap();
        (first, job, ctx)
    });
    let applied = api.expect_status_apply("orders").await;
    assert_eq!(applied["status"]["state"], "RUNNING");
    assert_eq!(
        applied["status"]["jobId"],
        "13b86a0c682093f8a099c3b4ca0207fa"
    );
    assert_eq!(applied["status"]["cluster"], "team-a.orders");
    assert_eq!(applied["status"]["observedGeneration"], 1);
    let types: Vec<&str> = applied["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["Found", "ClusterReachable", "Running", "Healthy"]);
    let (first, job, ctx) = reconciler.await.unwrap();
    // The first sight of a job is no state change: no Event.
    api.expect_nothing().await;
    assert_eq!(first, ReconcileOutcome::Written);
    assert_eq!(
        ctx.metrics
            .status_patches
            .get_or_create(&crate::metrics::OutcomeLabels {
                outcome: crate::metrics::Outcome::Success
            })
            .get(),
        1
    );

    // What the API server now holds: the same computation must not write again.
    let job = with_applied_status(job, &applied);
    let again = reconcile_inner(&job, &ctx).await.unwrap();
    assert_eq!(again, ReconcileOutcome::Unchanged);
    api.expect_nothing().await;
}

#[tokio::test]
async fn an_unreachable_cluster_is_a_condition_and_a_warning_not_a_lost_state() {
    let registry = registry_with(running_jobs(), true).await;
    let (ctx, mut api, _leading) = context(registry.clone(), true);
    let job = flink_job("orders", "orders-enrichment");
    let handle =
        tokio::spawn(async move { (reconcile_inner(&job, &ctx).await.unwrap(), job, ctx) });
    let applied = api.expect_status_apply("orders").await;
    let (_, job, ctx) = handle.await.unwrap();
    let job = with_applied_status(job, &applied);

    // The JobManager goes away.
    let cluster = registry.get("team-a.orders").unwrap();
    let mut status = (*cluster.status()).clone();
    status.reachable = false;
    status.last_error =
        Some("failed to connect to http://127.0.0.1:9/jobs/overview: Connection refused".into());
    cluster.set_status(status);

    let handle = tokio::spawn(async move { reconcile_inner(&job, &ctx).await.unwrap() });
    let applied = api.expect_status_apply("orders").await;
    assert_eq!(
        applied["status"]["state"], "RUNNING",
        "the last known state stays"
    );
    let reachable = applied["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "ClusterReachable")
        .unwrap()
        .clone();
    assert_eq!(reachable["status"], "False");
    assert!(
        reachable["message"]
            .as_str()
            .unwrap()
            .contains("Connection refused")
    );
    let event = api.expect_event().await;
    assert_eq!(
        (event["type"].as_str(), event["reason"].as_str()),
        (Some("Warning"), Some("ClusterUnreachable"))
    );
    assert_eq!(handle.await.unwrap(), ReconcileOutcome::Written);
}

#[tokio::test]
async fn a_standby_replica_does_not_write() {
    let registry = registry_with(running_jobs(), true).await;
    let (ctx, mut api, _leading) = context(registry, false);
    let job = flink_job("orders", "orders-enrichment");
    assert_eq!(
        reconcile_inner(&job, &ctx).await.unwrap(),
        ReconcileOutcome::NotLeader
    );
    api.expect_nothing().await;
}

/// Log lines written by the fmt subscriber, kept for the test to read.
#[derive(Clone, Default)]
struct LogBuffer(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_reconcile_runs_in_a_span_naming_its_flinkjob() {
    let logs = LogBuffer::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer({
            let logs = logs.clone();
            move || logs.clone()
        })
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::NEW)
        .with_ansi(false)
        .finish();
    let _default = tracing::subscriber::set_default(subscriber);
    let registry = registry_with(running_jobs(), true).await;
    let (ctx, _api, _leading) = context(registry, false);
    let job = Arc::new(StoredJob::from(flink_job("orders", "orders-enrichment")));
    super::reconcile(job, Arc::new(ctx)).await.unwrap();
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("reconcile{namespace=team-a name=orders}"),
        "{text}"
    );
}

#[tokio::test]
async fn a_refused_write_is_an_error_for_the_retry_policy() {
    let registry = registry_with(running_jobs(), true).await;
    let (ctx, mut api, _leading) = context(registry, true);
    let job = flink_job("orders", "orders-enrichment");
    let handle = tokio::spawn(async move { reconcile_inner(&job, &ctx).await });
    let (_, _, send) = api.next().await;
    let mut status = apiserver::failure(409, "Conflict");
    status["message"] = "conflict".into();
    apiserver::answer(send, 409, &status);
    let error = handle.await.unwrap().unwrap_err();
    assert!(error.to_string().contains("team-a/orders"), "{error}");
}

#[tokio::test]
async fn mirrors_are_created_with_an_owner_reference_and_user_jobs_are_left_alone() {
    let jobs = json!([
        {"jid": "a1", "name": "orders-enrichment", "state": "RUNNING", "start-time": 1},
        {"jid": "a2", "name": "orders-enrichment", "state": "CANCELED", "start-time": 0},
        {"jid": "b1", "name": "daily report", "state": "FINISHED", "start-time": 1},
    ]);
    let registry = registry_with(jobs, true).await;
    let (ctx, mut api, _leading) = context(registry.clone(), true);
    // A user already tracks "daily report" on this cluster: no mirror for it.
    let mut users = flink_job("my-report", "daily report");
    users.spec.cluster = Some("orders".into());
    let (store, mut writer) = reflector::store::<StoredJob>();
    writer.apply_watcher_event(&kube::runtime::watcher::Event::Apply(users.into()));
    let (client, gate) = (ctx.client.clone(), ctx.gate.clone());
    let handle = tokio::spawn(async move {
        mirror::sync(&client, &gate, &registry, Some("team-a"), &store).await
    });

    let (request, body, send) = api.next().await;
    assert_eq!(request.method(), http::Method::POST);
    let uri = request.uri().to_string();
    assert!(
        uri.starts_with(
            "/apis/flinkmonitor.dev/v1alpha1/namespaces/team-a/flinkjobs?&fieldManager=flink-monitor&timeout="
        ),
        "{uri}"
    );
    assert_eq!(
        body["spec"],
        json!({"jobName": "orders-enrichment", "cluster": "orders"})
    );
    assert_eq!(
        body["metadata"]["labels"]["flinkmonitor.dev/mirrored"],
        "true"
    );
    let owner = &body["metadata"]["ownerReferences"][0];
    assert_eq!(
        (
            owner["kind"].as_str(),
            owner["name"].as_str(),
            owner["uid"].as_str()
        ),
        (
            Some("Service"),
            Some("orders-rest"),
            Some("uid-of-the-service")
        )
    );
    assert_eq!(
        body["metadata"]["name"],
        mirror::mirror_name("team-a.orders", "orders", "orders-enrichment")
    );
    apiserver::answer(send, 201, &body);
    let outcome = handle.await.unwrap();
    assert_eq!((outcome.created, outcome.failed), (1, 0));
    api.expect_nothing().await;
}

#[test]
fn retry_delays_grow_with_jitter_and_are_capped() {
    use super::retry_delay;
    assert_eq!(retry_delay(1, 0.5), Duration::from_millis(500));
    assert_eq!(retry_delay(3, 0.5), Duration::from_secs(2));
    assert!(retry_delay(1, 0.0) < retry_delay(1, 0.99));
    assert_eq!(retry_delay(40, 0.5), Duration::from_secs(300));
    assert!(retry_delay(40, 0.99) <= Duration::from_secs(375));
}

/// The `kind` labels are a contract: the chart's alerts and dashboards may name them.
#[test]
fn reconcile_error_kinds_are_the_variants_in_snake_case() {
    use super::ReconcileError;
    assert_eq!(
        ReconcileError::VARIANTS,
        ["missing_namespace", "write_timeout", "write_status"]
    );
    let timeout = ReconcileError::WriteTimeout {
        namespace: "a".into(),
        name: "b".into(),
        after: Duration::from_secs(1),
    };
    assert_eq!(timeout.kind(), "write_timeout");
    let missing = ReconcileError::MissingNamespace { name: "b".into() };
    assert_eq!(missing.kind(), "missing_namespace");
}

#[tokio::test]
async fn refused_writes_are_retried_until_the_truth_is_written() {
    let registry = registry_with(running_jobs(), true).await;
    let (ctx, mut api, _leading) = context(registry.clone(), true);
    let ctx = Arc::new(ctx);
    let job = Arc::new(StoredJob::from(flink_job("orders", "orders-enrichment")));
    // The job changes state while the API server refuses writes.
    for (code, reason) in [
        (500, "InternalError"),
        (409, "Conflict"),
        (429, "TooManyRequests"),
    ] {
        let handle = tokio::spawn({
            let (job, ctx) = (job.clone(), ctx.clone());
            async move { super::reconcile(job, ctx).await }
        });
        let (_, _, send) = api.next().await;
        apiserver::answer(send, code, &apiserver::failure(code, reason));
        let error = handle.await.unwrap().unwrap_err();
        super::error_policy(job.clone(), &error, ctx.clone());
    }
    assert_eq!(ctx.failures.attempts("team-a/orders"), 3);
    let text = ctx.metrics.encode();
    assert!(
        text.contains("flink_monitor_reconcile_errors_total{kind=\"write_status\"} 3"),
        "{text}"
    );
    assert!(
        text.contains("flink_monitor_reconcile_errors_total{kind=\"write_timeout\"} 0"),
        "every kind is listed from the start: {text}"
    );
    let cluster = registry.get("team-a.orders").unwrap();
    let mut status = (*cluster.status()).clone();
    status.snapshot = Some(Arc::new(crate::clusters::JobsSnapshot::new(
        serde_json::from_value(json!([{"jid": "13b86a0c682093f8a099c3b4ca0207fa", "name": "orders-enrichment", "state": "CANCELED", "start-time": 1795606436846i64, "end-time": 1795606499000i64}])).unwrap(),
        2,
    )));
    cluster.set_status(status);
    let handle = tokio::spawn({
        let (job, ctx) = (job.clone(), ctx.clone());
        async move { super::reconcile(job, ctx).await }
    });
    let applied = api.expect_status_apply("orders").await;
    assert_eq!(
        applied["status"]["state"], "CANCELED",
        "the write that succeeds carries the current truth"
    );
    assert!(handle.await.unwrap().is_ok());
    assert!(
        ctx.failures.attempts("team-a/orders") == 0,
        "success resets the backoff"
    );
}

#[tokio::test]
async fn after_a_restart_the_same_truth_causes_no_write() {
    // A fresh context (a restarted flink-monitor) over a FlinkJob whose status is current.
    let registry = registry_with(running_jobs(), true).await;
    let (ctx, mut api, _leading) = context(registry.clone(), true);
    let job = flink_job("orders", "orders-enrichment");
    let handle = tokio::spawn(async move { (reconcile_inner(&job, &ctx).await.unwrap(), job) });
    let applied = api.expect_status_apply("orders").await;
    let (_, job) = handle.await.unwrap();
    let job = with_applied_status(job, &applied);

    let (restarted, mut api, _leading) = context(registry, true);
    assert_eq!(
        reconcile_inner(&job, &restarted).await.unwrap(),
        ReconcileOutcome::Unchanged
    );
    api.expect_nothing().await;
}

#[tokio::test]
async fn a_write_the_api_server_never_answers_is_given_up_and_retried() {
    let registry = registry_with(running_jobs(), true).await;
    let (ctx, mut api, _leading) = context(registry, true);
    let job = flink_job("orders", "orders-enrichment");
    // From here on, time only moves when every task waits: the timeout fires at once.
    tokio::time::pause();
    let handle = tokio::spawn(async move { reconcile_inner(&job, &ctx).await });
    let (request, _held_answer) = api.0.next_request().await.expect("the status write");
    assert_eq!(request.method(), http::Method::PATCH);
    let error = handle.await.unwrap().unwrap_err();
    assert!(
        matches!(error, super::ReconcileError::WriteTimeout { .. }),
        "{error}"
    );
}

/// A JobManager with one running job whose numRestarts the test sets; counts health checks.
struct TinyFlink {
    url: reqwest::Url,
    restarts: Arc<std::sync::atomic::AtomicI64>,
    checks: Arc<std::sync::atomic::AtomicUsize>,
}

async fn tiny_flink() -> TinyFlink {
    use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
    let restarts = Arc::new(AtomicI64::new(0));
    let checks = Arc::new(AtomicUsize::new(0));
    let (r, c) = (restarts.clone(), checks.clone());
    let router = axum::Router::new().fallback(move |uri: axum::http::Uri| {
        let (r, c) = (r.clone(), c.clone());
        async move {
            let body = match uri.path() {
                "/jobs/overview" => json!({"jobs": running_jobs()}),
                "/config" => json!({"flink-version": "2.3.0"}),
                path if path.ends_with("/checkpoints/config") => {
                    json!({"interval": 9_223_372_036_854_775_807i64})
                }
                path if path.ends_with("/metrics") => {
                    c.fetch_add(1, Ordering::SeqCst);
                    json!([{"id": "numRestarts", "value": r.load(Ordering::SeqCst).to_string()}])
                }
                _ => json!({}),
            };
            axum::Json(body)
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap())
        .parse()
        .unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    TinyFlink {
        url,
        restarts,
        checks,
    }
}

/// A registry polling `flink` and checking its job's health every 50 ms; returns once it
/// has checked twice.
async fn checked_registry(
    flink: &TinyFlink,
    shutdown: &tokio_util::sync::CancellationToken,
) -> Arc<KnownClusters> {
    use crate::clusters::PollSettings;
    use crate::clusters::health::HealthSettings;
    use crate::clusters::health_rules::Thresholds;
    let registry = Arc::new(
        KnownClusters::new(
            PollSettings {
                poll_interval: Duration::from_millis(50),
                cache_ttl: Duration::ZERO,
                client: ClientSettings::default(),
            },
            crate::flink::FlinkClient::http_client().unwrap(),
            Arc::new(Metrics::new()),
            shutdown.clone(),
        )
        .with_health(HealthSettings {
            interval: Duration::from_millis(50),
            thresholds: Thresholds::default(),
        }),
    );
    registry.upsert(ClusterInfo {
        id: "team-a.orders".into(),
        namespace: Some("team-a".into()),
        name: "orders".into(),
        source: ClusterSource::Service,
        url: flink.url.clone(),
        owner: None,
    });
    registry.mark_discovered();
    wait_for_checks(flink, 2).await;
    registry
}

/// Waits until the tiny Flink answered `n` more health checks.
async fn wait_for_checks(flink: &TinyFlink, n: usize) {
    use std::sync::atomic::Ordering;
    let start = flink.checks.load(Ordering::SeqCst);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while flink.checks.load(Ordering::SeqCst) < start + n {
        assert!(std::time::Instant::now() < deadline, "no health checks");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn spawn_reconcile(
    job: FlinkJob,
    ctx: Arc<Context>,
) -> tokio::task::JoinHandle<(ReconcileOutcome, FlinkJob)> {
    tokio::spawn(async move { (reconcile_inner(&job, &ctx).await.unwrap(), job) })
}

/// Reconciles `job` again after each of three rounds of health checks: nothing to write.
async fn assert_steady(
    flink: &TinyFlink,
    job: &FlinkJob,
    ctx: &Context,
    api: &mut ApiServerVerifier,
) {
    for _ in 0..3 {
        wait_for_checks(flink, 2).await;
        assert_eq!(
            reconcile_inner(job, ctx).await.unwrap(),
            ReconcileOutcome::Unchanged
        );
    }
    api.expect_nothing().await;
}

fn healthy_condition(applied: &Value) -> Value {
    applied["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Healthy")
        .unwrap()
        .clone()
}

#[tokio::test]
async fn a_steady_job_costs_no_write_healthy_or_degraded_and_health_changes_are_written_with_events()
 {
    use std::sync::atomic::Ordering;
    let flink = tiny_flink().await;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let registry = checked_registry(&flink, &shutdown).await;
    let (ctx, mut api, _leading) = context(registry, true);
    let ctx = Arc::new(ctx);

    let handle = spawn_reconcile(flink_job("orders", "orders-enrichment"), ctx.clone());
    let applied = api.expect_status_apply("orders").await;
    assert_eq!(applied["status"]["health"], "Healthy");
    assert_eq!(applied["status"]["restarts"], 0);
    let job = with_applied_status(handle.await.unwrap().1, &applied);

    // Healthy and steady while checks go on: no write.
    assert_steady(&flink, &job, &ctx, &mut api).await;

    // A restart loop: Degraded, with a warning.
    flink.restarts.store(5, Ordering::SeqCst);
    wait_for_checks(&flink, 2).await;
    let handle = spawn_reconcile(job, ctx.clone());
    let applied = api.expect_status_apply("orders").await;
    assert_eq!(applied["status"]["health"], "Degraded");
    assert_eq!(applied["status"]["restarts"], 5);
    let healthy = healthy_condition(&applied);
    assert_eq!(healthy["status"], "False");
    assert_eq!(healthy["reason"], "Restarting");
    let event = api.expect_event().await;
    assert_eq!(
        (event["type"].as_str(), event["reason"].as_str()),
        (Some("Warning"), Some("JobDegraded"))
    );
    let job = with_applied_status(handle.await.unwrap().1, &applied);

    // Degraded and steady: no write either.
    assert_steady(&flink, &job, &ctx, &mut api).await;
    shutdown.cancel();
}

#[tokio::test]
async fn spec_health_overrides_the_flags_for_that_flinkjob_only() {
    use std::sync::atomic::Ordering;
    let flink = tiny_flink().await;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let registry = checked_registry(&flink, &shutdown).await;
    // One restart while watched (restarts before the first check are not counted).
    flink.restarts.store(1, Ordering::SeqCst);
    wait_for_checks(&flink, 2).await;
    let (ctx, mut api, _leading) = context(registry, true);
    let ctx = Arc::new(ctx);

    // One restart is under the flags' threshold of 3. (Each FlinkJob here is new: no
    // StateChanged, a JobDegraded when it is Degraded.)
    let handle = spawn_reconcile(flink_job("orders", "orders-enrichment"), ctx.clone());
    let applied = api.expect_status_apply("orders").await;
    assert_eq!(applied["status"]["health"], "Healthy");
    handle.await.unwrap();

    // A FlinkJob's own thresholds, and a window that does not parse.
    for (name, spec, health, reason, message) in [
        (
            "orders-strict",
            json!({"restartThreshold": 1}),
            "Degraded",
            "Restarting",
            "at least 1 times",
        ),
        (
            "orders-bad",
            json!({"restartWindow": "ten minutes"}),
            "Unknown",
            "InvalidHealthSpec",
            "spec.health.restartWindow",
        ),
    ] {
        let mut job = flink_job(name, "orders-enrichment");
        job.spec.health = serde_json::from_value(spec).unwrap();
        let handle = spawn_reconcile(job, ctx.clone());
        let applied = api.expect_status_apply(name).await;
        assert_eq!(applied["status"]["health"], health, "{name}");
        let healthy = healthy_condition(&applied);
        assert_eq!(healthy["reason"], reason);
        let text = healthy["message"].as_str().unwrap();
        assert!(text.contains(message), "{healthy}");
        if health == "Degraded" {
            assert_eq!(api.expect_event().await["reason"], "JobDegraded");
        }
        handle.await.unwrap();
    }
    shutdown.cancel();
}

/// Without a requeue per FlinkJob, the resync's walk of the store is what repairs a status
/// edited by hand (its `observedGeneration` unchanged, so its watch event starts nothing);
/// a FlinkJob that shows the truth costs no write.
#[tokio::test]
async fn the_resync_walk_repairs_a_status_edited_by_hand_and_leaves_the_rest() {
    use futures::StreamExt;
    let registry = registry_with(running_jobs(), true).await;
    let (ctx, mut api, _leading) = context(registry, true);
    let ctx = Arc::new(ctx);
    // The truth, as a write of another FlinkJob of the job shows it.
    let handle = tokio::spawn({
        let ctx = ctx.clone();
        async move { reconcile_inner(&flink_job("truth", "orders-enrichment"), &ctx).await }
    });
    let applied = api.expect_status_apply("truth").await;
    handle.await.unwrap().unwrap();
    let steady = with_applied_status(flink_job("steady", "orders-enrichment"), &applied);
    let mut edited = with_applied_status(flink_job("orders", "orders-enrichment"), &applied);
    edited.metadata.resource_version = Some("99".into());
    let status = edited.status.as_mut().unwrap();
    status.conditions[0].message = "edited by hand".into();

    let (store, mut writer) = reflector::store::<StoredJob>();
    for job in [steady, edited] {
        writer.apply_watcher_event(&kube::runtime::watcher::Event::Apply(job.into()));
    }
    let walk = super::resync::walks(store.clone(), Duration::from_millis(10), || 0.5);
    let refs: Vec<_> = walk.take(2).collect().await;
    let mut names: Vec<&str> = refs.iter().map(|r| r.name.as_str()).collect();
    names.sort();
    assert_eq!(
        names,
        ["orders", "steady"],
        "one walk covers every FlinkJob"
    );
    for object_ref in refs {
        let job = store.get(&object_ref).expect("in the store");
        let handle = tokio::spawn(super::reconcile(job, ctx.clone()));
        if object_ref.name == "orders" {
            let repaired = api.expect_status_apply("orders").await;
            assert_eq!(repaired["status"], applied["status"], "the truth again");
        }
        let action = handle.await.unwrap().unwrap();
        assert_eq!(
            action,
            kube::runtime::controller::Action::await_change(),
            "no requeue per FlinkJob: the next walk comes back"
        );
    }
    api.expect_nothing().await;
}
