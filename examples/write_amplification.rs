//! Benchmark 4, write amplification: how many API-server writes the FlinkJob status writer
//! makes for 10,000 jobs whose snapshot stays the same, and for a few state changes.
//!
//! Honest end to end, through public API only: 100 **simulated** JobManagers x 100 jobs
//! (`flink_sim/sim.rs`, in this process, on 127.0.6.x:18340) are polled over HTTP by a real
//! `KnownClusters` (poll interval 1 s); every round waits for a fresh poll of every cluster,
//! then runs `reconcile_inner` for each of the 10,000 FlinkJobs against a mocked API server
//! (`tower_test::mock::pair`) that counts PATCH requests and remembers the applied status,
//! which is fed back into the FlinkJob as a watch would. Between rounds the simulator
//! flips some jobs' states. Expected: one write per FlinkJob in the first round (no status
//! yet), none in a steady round, exactly one per changed job.
//!
//! `cargo run --release --example write_amplification` (exit status 1 if a count is off).

#[path = "flink_sim/sim.rs"]
mod sim;

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http;
use futures::StreamExt;
use kube::client::Body;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use flink_monitor::clusters::{KnownClusters, PollSettings};
use flink_monitor::controller::{
    Context, Lead, ReconcileOutcome, WriteGate, WriteLimits, reconcile_inner,
};
use flink_monitor::crd::{FlinkJob, FlinkJobSpec, FlinkJobStatus};
use flink_monitor::flink::{ClientSettings, FlinkClient};
use flink_monitor::metrics::Metrics;

const CLUSTERS: usize = 100;
const JOBS_PER_CLUSTER: usize = 100;
const NAMESPACE: &str = "bench";
const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// The controller reconciles every FlinkJob once per poll interval (its requeue); at the
/// default interval of 10 s that is 6 rounds a minute.
const ROUNDS_PER_MINUTE_AT_10S: u64 = 6;

/// A job to change before a round: (cluster, job, new state).
type Change = (usize, usize, &'static str);

type Handle = tower_test::mock::Handle<http::Request<Body>, http::Response<Body>>;

/// The mocked API server's books.
#[derive(Default)]
struct ApiServer {
    status_patches: AtomicU64,
    event_requests: AtomicU64,
    other_requests: AtomicU64,
    /// The last status applied per FlinkJob, and how many times each was patched.
    applied: Mutex<HashMap<String, (Value, u32)>>,
}

impl ApiServer {
    fn take_round(&self) -> (u64, u64, HashMap<String, (Value, u32)>) {
        let patches = self.status_patches.swap(0, Ordering::SeqCst);
        let events = self.event_requests.swap(0, Ordering::SeqCst);
        let applied = std::mem::take(&mut *self.applied.lock().unwrap_or_else(|e| e.into_inner()));
        (patches, events, applied)
    }
}

async fn serve_api(mut handle: Handle, books: Arc<ApiServer>) {
    while let Some((request, send)) = handle.next_request().await {
        let books = books.clone();
        tokio::spawn(async move {
            let (parts, body) = request.into_parts();
            let bytes = body.collect_bytes().await.unwrap_or_default();
            let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            let path = parts.uri.path().to_string();
            let segments: Vec<&str> = path.split('/').collect();
            let response = if parts.method == http::Method::PATCH && path.ends_with("/status") {
                books.status_patches.fetch_add(1, Ordering::SeqCst);
                let name = segments[segments.len() - 2].to_string();
                let status = body["status"].clone();
                let mut applied = books.applied.lock().unwrap_or_else(|e| e.into_inner());
                let entry = applied.entry(name.clone()).or_insert((Value::Null, 0));
                *entry = (status.clone(), entry.1 + 1);
                drop(applied);
                let object = json!({
                    "apiVersion": "flinkmonitor.dev/v1alpha1", "kind": "FlinkJob",
                    "metadata": {"name": name, "namespace": NAMESPACE},
                    "spec": {"jobName": name}, "status": status,
                });
                reply(200, &object)
            } else if path.contains("/events") {
                books.event_requests.fetch_add(1, Ordering::SeqCst);
                reply(201, &body)
            } else {
                books.other_requests.fetch_add(1, Ordering::SeqCst);
                reply(
                    404,
                    &json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404}),
                )
            };
            send.send_response(response);
        });
    }
}

fn reply(status: u16, body: &Value) -> http::Response<Body> {
    http::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(serde_json::to_vec(body).unwrap_or_default()))
        .unwrap_or_else(|_| http::Response::new(Body::empty()))
}

fn flink_job(cluster: usize, job: usize) -> FlinkJob {
    let name = sim::job_name(cluster, job);
    let mut object = FlinkJob::new(
        &name,
        FlinkJobSpec {
            job_name: name.clone(),
            cluster: Some(sim::cluster_name(cluster)),
            health: None,
        },
    );
    object.metadata.namespace = Some(NAMESPACE.into());
    object.metadata.generation = Some(1);
    object
}

/// Waits until every cluster's snapshot is newer than `since_ms`.
async fn fresh_polls(registry: &KnownClusters, since_ms: i64) {
    loop {
        let stale = registry
            .list()
            .iter()
            .filter(|c| c.status().last_poll_ms().is_none_or(|t| t <= since_ms))
            .count();
        if stale == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

struct Round {
    label: String,
    changed: usize,
    patches: u64,
    events: u64,
    patched_twice: usize,
    unexpected: usize,
    reconcile_ms: f64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let sim = sim::Sim::start(&sim::SimConfig {
        clusters: CLUSTERS,
        jobs_per_cluster: JOBS_PER_CLUSTER,
        first_ip: Ipv4Addr::new(127, 0, 6, 1),
        port: 18340,
        delay: Duration::ZERO,
    })
    .await?;

    let shutdown = CancellationToken::new();
    let settings = PollSettings {
        poll_interval: POLL_INTERVAL,
        cache_ttl: Duration::from_secs(1),
        client: ClientSettings::default(),
    };
    let registry = Arc::new(KnownClusters::new(
        settings,
        FlinkClient::http_client()?,
        Arc::new(Metrics::new()),
        shutdown.clone(),
    ));
    for cluster in &sim.clusters {
        registry.upsert(cluster.cluster_info()?);
    }

    let (service, handle) = tower_test::mock::pair::<http::Request<Body>, http::Response<Body>>();
    let books = Arc::new(ApiServer::default());
    tokio::spawn(serve_api(handle, books.clone()));
    let client = kube::Client::new(service, "default");
    // The write gate paces writes for the API server; here the count is measured, not the pace.
    let unlimited = WriteLimits {
        qps: 1e9,
        burst: u32::MAX,
        in_flight: 1024,
    };
    let gate = WriteGate::start(unlimited, watch::channel(Lead::Unfenced).1);
    let ctx = Arc::new(Context::new(
        client,
        registry.clone(),
        gate,
        Arc::new(Metrics::new()),
        "flink-monitor".into(),
    ));

    let mut jobs: Vec<FlinkJob> = (0..CLUSTERS)
        .flat_map(|c| (0..JOBS_PER_CLUSTER).map(move |j| flink_job(c, j)))
        .collect();
    println!(
        "write amplification: {} FlinkJobs on {} simulated JobManagers, registry polling every {:?}",
        jobs.len(),
        CLUSTERS,
        POLL_INTERVAL
    );

    // (label, jobs to change before the round: (cluster, job, new state)).
    let cancel: Vec<Change> = (0..CLUSTERS).map(|c| (c, 0, "CANCELED")).collect();
    let fail: Vec<Change> = (0..10).map(|c| (c, 1, "FAILED")).collect();
    let plan: Vec<(&str, Vec<Change>)> = vec![
        ("first sight (no status yet)", vec![]),
        ("steady", vec![]),
        ("steady", vec![]),
        ("steady", vec![]),
        ("steady", vec![]),
        ("steady", vec![]),
        ("100 jobs RUNNING -> CANCELED", cancel),
        ("steady", vec![]),
        ("10 jobs RUNNING -> FAILED", fail),
        ("steady", vec![]),
        ("steady", vec![]),
        ("steady", vec![]),
    ];

    let mut rounds = Vec::new();
    for (index, (label, changes)) in plan.into_iter().enumerate() {
        for (c, j, state) in &changes {
            sim.set_state(*c, *j, state);
        }
        fresh_polls(&registry, sim::now_ms()).await;
        let exceptions_before: u64 = sim
            .clusters
            .iter()
            .map(|c| c.calls(sim::Endpoint::Exceptions))
            .sum();
        let started = Instant::now();
        let outcomes: Vec<_> = futures::stream::iter(jobs.iter())
            .map(|job| reconcile_inner(job, &ctx))
            .buffer_unordered(64)
            .collect()
            .await;
        let reconcile_ms = started.elapsed().as_secs_f64() * 1000.0;
        let errors = outcomes.iter().filter(|o| o.is_err()).count();
        let written = outcomes
            .iter()
            .filter(|o| matches!(o, Ok(ReconcileOutcome::Written)))
            .count();
        // Let the event requests of this round land before counting.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let (patches, events, applied) = books.take_round();
        let exceptions: u64 = sim
            .clusters
            .iter()
            .map(|c| c.calls(sim::Endpoint::Exceptions))
            .sum::<u64>()
            - exceptions_before;
        let changed_names: std::collections::HashSet<String> = changes
            .iter()
            .map(|(c, j, _)| sim::job_name(*c, *j))
            .collect();
        let expected_names = if index == 0 {
            jobs.len()
        } else {
            changed_names.len()
        };
        let unexpected = if index == 0 {
            0
        } else {
            applied
                .keys()
                .filter(|name| !changed_names.contains(*name))
                .count()
        };
        let patched_twice = applied.values().filter(|(_, n)| *n > 1).count();
        for job in &mut jobs {
            if let Some((status, _)) = applied.get(&job.metadata.name.clone().unwrap_or_default()) {
                job.status = Some(serde_json::from_value::<FlinkJobStatus>(status.clone())?);
            }
        }
        println!(
            "round {:>2} {:<30} changed {:>5}  PATCH {:>5} (expected {:>5})  events {:>3}  flink exception reads {:>3}  errors {}  reconcile of {} jobs {:>7.1} ms",
            index + 1,
            label,
            changed_names.len(),
            patches,
            expected_names,
            events,
            exceptions,
            errors,
            jobs.len(),
            reconcile_ms
        );
        assert_eq!(
            written as u64, patches,
            "every Written outcome is one PATCH"
        );
        rounds.push(Round {
            label: label.to_string(),
            changed: expected_names,
            patches,
            events,
            patched_twice,
            unexpected,
            reconcile_ms,
        });
    }
    shutdown.cancel();

    let steady: Vec<&Round> = rounds.iter().filter(|r| r.label == "steady").collect();
    let steady_patches: u64 = steady.iter().map(|r| r.patches).sum();
    let steady_ms: f64 =
        steady.iter().map(|r| r.reconcile_ms).sum::<f64>() / steady.len().max(1) as f64;
    let per_minute =
        steady_patches as f64 / steady.len().max(1) as f64 * ROUNDS_PER_MINUTE_AT_10S as f64;
    let ok = rounds
        .iter()
        .all(|r| r.patches == r.changed as u64 && r.patched_twice == 0 && r.unexpected == 0);
    println!(
        "RESULT write_amplification steady_rounds={} steady_patches={} patches_per_minute_at_10s={:.0} \
         changes_written_once={} steady_reconcile_ms_per_10k={:.1} us_per_reconcile={:.1} events_total={} ok={}",
        steady.len(),
        steady_patches,
        per_minute,
        rounds
            .iter()
            .filter(|r| r.label != "steady")
            .all(|r| r.patches == r.changed as u64 && r.patched_twice == 0),
        steady_ms,
        steady_ms * 1000.0 / jobs.len() as f64,
        rounds.iter().map(|r| r.events).sum::<u64>(),
        ok
    );
    if !ok {
        std::process::exit(1);
    }
    Ok(())
}
