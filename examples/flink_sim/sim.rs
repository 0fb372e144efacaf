//! A **simulation** of Apache Flink JobManagers' REST API, for benchmarks only.
//!
//! Many simulated JobManagers run in one process. Each listens on its own loopback
//! address (`127.0.1.1`, `127.0.1.2`, ... all on one port), so a thousand of them need one
//! port number. Each serves the part of Flink 2.3's REST API that flink-monitor reads,
//! shaped like the real answers recorded in `tests/fixtures/2.3.0`:
//! `/config`, `/overview`, `/jobs/overview`, `/jobs/{jid}`, `/jobs/{jid}/exceptions`,
//! `/jobs/{jid}/vertices/{vid}/metrics[?get=..]`,
//! `/jobs/{jid}/vertices/{vid}/subtasks/metrics?get=..&agg=..`, `PATCH /jobs/{jid}`
//! (cancel) and the health checks' calls: `/jobs/{jid}/metrics?get=..` (`numRestarts`
//! and the checkpoint counters), `/jobs/{jid}/checkpoints` and
//! `/jobs/{jid}/checkpoints/config`. Every running job completes a checkpoint every
//! 10 s (counted from its start), never fails one and never restarts. Every job has the two vertices of the project's test job, and the sink
//! vertex has the operator gauge `0.flinklab-map.currentEventTs`.
//!
//! It counts every call per cluster and endpoint and keeps, per cluster, the shortest and
//! longest gap between two `/jobs/overview` calls, so a benchmark can check the poll
//! cadence from the Flink side, and per job the health checks' calls, so a benchmark can
//! check how many calls a job costs per health interval. Job states change only on command ([`Sim::set_state`] or a
//! cancel), so a steady simulator is a steady snapshot.
#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, Method, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use flink_monitor::clusters::{ClusterInfo, ClusterSource};
use serde_json::{Value, json};

/// Vertex ids of the project's test job (identical across Flink runs, see the samples).
pub const SOURCE_VERTEX: &str = "1f80afd18cf90acbbfdee414963173b5";
pub const SINK_VERTEX: &str = "28be247524ac298270d785dd4e2fc481";
/// Records per second each simulated running job "processes".
const RECORDS_PER_SECOND: i64 = 10;
/// Event time of record 0, as in the test job.
const EVENT_TS_BASE: i64 = 1_700_000_000_000;
/// The periodic checkpoint interval of every simulated job.
const CHECKPOINT_INTERVAL_MS: i64 = 10_000;

/// The endpoints counted separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    JobsOverview,
    Config,
    Job,
    Exceptions,
    VertexMetricNames,
    VertexMetricValues,
    SubtaskMetrics,
    Cancel,
    /// `/jobs/{jid}/metrics?get=..` (health checks).
    JobMetrics,
    /// `/jobs/{jid}/checkpoints` (health checks).
    Checkpoints,
    /// `/jobs/{jid}/checkpoints/config` (health checks).
    CheckpointConfig,
    Other,
}

impl Endpoint {
    pub const ALL: [Endpoint; 12] = [
        Endpoint::JobsOverview,
        Endpoint::Config,
        Endpoint::Job,
        Endpoint::Exceptions,
        Endpoint::VertexMetricNames,
        Endpoint::VertexMetricValues,
        Endpoint::SubtaskMetrics,
        Endpoint::Cancel,
        Endpoint::JobMetrics,
        Endpoint::Checkpoints,
        Endpoint::CheckpointConfig,
        Endpoint::Other,
    ];

    /// The calls health checks make.
    pub fn is_health(self) -> bool {
        matches!(
            self,
            Endpoint::JobMetrics | Endpoint::Checkpoints | Endpoint::CheckpointConfig
        )
    }

    pub fn name(self) -> &'static str {
        match self {
            Endpoint::JobsOverview => "jobs_overview",
            Endpoint::Config => "config",
            Endpoint::Job => "job",
            Endpoint::Exceptions => "exceptions",
            Endpoint::VertexMetricNames => "vertex_metric_names",
            Endpoint::VertexMetricValues => "vertex_metric_values",
            Endpoint::SubtaskMetrics => "subtask_metrics",
            Endpoint::Cancel => "cancel",
            Endpoint::JobMetrics => "job_metrics",
            Endpoint::Checkpoints => "checkpoints",
            Endpoint::CheckpointConfig => "checkpoint_config",
            Endpoint::Other => "other",
        }
    }
}

#[derive(Debug, Clone)]
pub struct SimJob {
    pub jid: String,
    pub name: String,
    pub state: String,
    pub start_time: i64,
    pub end_time: i64,
    /// Health-check calls for this job since the last reset.
    pub health_calls: u64,
}

impl SimJob {
    fn terminal(&self) -> bool {
        matches!(self.state.as_str(), "FINISHED" | "FAILED" | "CANCELED")
    }

    fn duration(&self, now: i64) -> i64 {
        if self.end_time >= 0 {
            self.end_time - self.start_time
        } else {
            now - self.start_time
        }
    }

    fn records(&self, now: i64) -> i64 {
        self.duration(now).max(0) * RECORDS_PER_SECOND / 1000
    }

    /// Checkpoints completed so far: one every `CHECKPOINT_INTERVAL_MS` of its run.
    fn checkpoints(&self, now: i64) -> i64 {
        self.duration(now).max(0) / CHECKPOINT_INTERVAL_MS
    }

    /// When the last checkpoint completed; -1 before the first (as Flink 2.x says).
    fn last_checkpoint_ms(&self, now: i64) -> i64 {
        match self.checkpoints(now) {
            0 => -1,
            n => self.start_time + n * CHECKPOINT_INTERVAL_MS,
        }
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct PollGaps {
    last: Option<Instant>,
    min: Option<Duration>,
    max: Option<Duration>,
}

/// One simulated JobManager.
pub struct SimCluster {
    pub index: usize,
    pub name: String,
    pub addr: SocketAddr,
    jobs: Mutex<Vec<SimJob>>,
    calls: [AtomicU64; 12],
    gaps: Mutex<PollGaps>,
}

impl SimCluster {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// This JobManager as a static `--cluster` of flink-monitor, by its name.
    pub fn cluster_info(&self) -> anyhow::Result<ClusterInfo> {
        Ok(ClusterInfo {
            id: self.name.clone(),
            namespace: None,
            name: self.name.clone(),
            source: ClusterSource::Static,
            url: self.url().parse()?,
            owner: None,
        })
    }

    pub fn calls(&self, endpoint: Endpoint) -> u64 {
        self.calls[endpoint as usize].load(Ordering::Relaxed)
    }

    pub fn total_calls(&self) -> u64 {
        self.calls.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    pub fn jobs(&self) -> Vec<SimJob> {
        self.lock_jobs().clone()
    }

    fn lock_jobs(&self) -> std::sync::MutexGuard<'_, Vec<SimJob>> {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn count(&self, endpoint: Endpoint) {
        self.calls[endpoint as usize].fetch_add(1, Ordering::Relaxed);
    }

    fn record_poll(&self) {
        let now = Instant::now();
        let mut gaps = self.gaps.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(last) = gaps.last {
            let gap = now - last;
            gaps.min = Some(gaps.min.map_or(gap, |m| m.min(gap)));
            gaps.max = Some(gaps.max.map_or(gap, |m| m.max(gap)));
        }
        gaps.last = Some(now);
    }

    fn reset(&self) {
        for c in &self.calls {
            c.store(0, Ordering::Relaxed);
        }
        for job in self.lock_jobs().iter_mut() {
            job.health_calls = 0;
        }
        let mut gaps = self.gaps.lock().unwrap_or_else(|e| e.into_inner());
        gaps.min = None;
        gaps.max = None;
    }
}

#[derive(Debug, Clone)]
pub struct SimConfig {
    pub clusters: usize,
    pub jobs_per_cluster: usize,
    /// The first cluster's address; cluster i listens on `first_ip + i`.
    pub first_ip: Ipv4Addr,
    pub port: u16,
    /// Added to every job-level answer (details, exceptions, metrics), like a busy JobManager.
    pub delay: Duration,
}

/// All simulated JobManagers.
pub struct Sim {
    pub clusters: Vec<Arc<SimCluster>>,
    delay: Duration,
}

pub fn job_name(cluster: usize, job: usize) -> String {
    format!("sim-{cluster:04}-job-{job:03}")
}

pub fn cluster_name(cluster: usize) -> String {
    format!("sim-{cluster:04}")
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Sim {
    /// Binds every simulated JobManager and serves them on the current tokio runtime.
    pub async fn start(config: &SimConfig) -> std::io::Result<Arc<Sim>> {
        let started = now_ms() - 60_000;
        let first = u32::from(config.first_ip);
        let clusters = (0..config.clusters)
            .map(|c| {
                let ip = Ipv4Addr::from(first + c as u32);
                let jobs = (0..config.jobs_per_cluster)
                    .map(|j| SimJob {
                        jid: format!(
                            "{:016x}{:016x}",
                            0x5157_0000_0000_0000u64 | c as u64,
                            j as u64
                        ),
                        name: job_name(c, j),
                        state: "RUNNING".into(),
                        start_time: started + (j as i64) * 7,
                        end_time: -1,
                        health_calls: 0,
                    })
                    .collect();
                Arc::new(SimCluster {
                    index: c,
                    name: cluster_name(c),
                    addr: SocketAddr::from((ip, config.port)),
                    jobs: Mutex::new(jobs),
                    calls: Default::default(),
                    gaps: Mutex::new(PollGaps::default()),
                })
            })
            .collect();
        let sim = Arc::new(Sim {
            clusters,
            delay: config.delay,
        });
        for cluster in &sim.clusters {
            let listener = tokio::net::TcpListener::bind(cluster.addr).await?;
            let app = Router::new()
                .fallback(handle)
                .with_state((sim.clone(), cluster.index));
            tokio::spawn(async move {
                let _ = axum::serve(listener, app).await;
            });
        }
        Ok(sim)
    }

    /// `NAME=URL,NAME=URL,...` for `--cluster` / `FLINK_MONITOR_CLUSTERS`.
    pub fn cluster_list(&self) -> String {
        self.clusters
            .iter()
            .map(|c| format!("{}={}", c.name, c.url()))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Changes a job's state; a terminal state sets its end time.
    pub fn set_state(&self, cluster: usize, job: usize, state: &str) -> bool {
        let Some(cluster) = self.clusters.get(cluster) else {
            return false;
        };
        let mut jobs = cluster.lock_jobs();
        let Some(job) = jobs.get_mut(job) else {
            return false;
        };
        job.state = state.to_string();
        job.end_time = if job.terminal() { now_ms() } else { -1 };
        true
    }

    pub fn reset(&self) {
        for c in &self.clusters {
            c.reset();
        }
    }

    /// Call counts and the poll cadence since the last reset, as JSON.
    pub fn stats(&self) -> Value {
        let mut calls = serde_json::Map::new();
        for e in Endpoint::ALL {
            let n: u64 = self.clusters.iter().map(|c| c.calls(e)).sum();
            calls.insert(e.name().into(), n.into());
        }
        let polls: Vec<u64> = self
            .clusters
            .iter()
            .map(|c| c.calls(Endpoint::JobsOverview))
            .collect();
        let gaps: Vec<PollGaps> = self
            .clusters
            .iter()
            .map(|c| *c.gaps.lock().unwrap_or_else(|e| e.into_inner()))
            .collect();
        let ms = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1000.0);
        let health: Vec<u64> = self
            .clusters
            .iter()
            .flat_map(|c| {
                c.lock_jobs()
                    .iter()
                    .map(|j| j.health_calls)
                    .collect::<Vec<_>>()
            })
            .collect();
        let min_gap = gaps.iter().filter_map(|g| g.min).min();
        let max_gap = gaps.iter().filter_map(|g| g.max).max();
        json!({
            "clusters": self.clusters.len(),
            "jobs": self.clusters.iter().map(|c| c.lock_jobs().len()).sum::<usize>(),
            "calls": calls,
            "polls_per_cluster": {
                "min": polls.iter().min(),
                "max": polls.iter().max(),
                "never": polls.iter().filter(|p| **p == 0).count(),
            },
            "poll_gap_ms": { "min": ms(min_gap), "max": ms(max_gap) },
            "health_calls_per_job": {
                "min": health.iter().min(),
                "max": health.iter().max(),
                "total": health.iter().sum::<u64>(),
            },
        })
    }
}

async fn handle(State((sim, index)): State<(Arc<Sim>, usize)>, request: Request<Body>) -> Response {
    let cluster = &sim.clusters[index];
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let query = request.uri().query().unwrap_or("").to_string();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let now = now_ms();
    match (&method, segments.as_slice()) {
        (&Method::GET, ["config"]) => {
            cluster.count(Endpoint::Config);
            json_answer(
                StatusCode::OK,
                &json!({"refresh-interval": 3000, "timezone-name": "Coordinated Universal Time", "timezone-offset": 0,
                    "flink-version": "2.3.0", "flink-revision": "simulated",
                    "features": {"web-submit": true, "web-cancel": true, "web-rescale": false, "web-history": false}}),
            )
        }
        (&Method::GET, ["overview"]) => {
            cluster.count(Endpoint::Other);
            let jobs = cluster.lock_jobs();
            let running = jobs.iter().filter(|j| !j.terminal()).count();
            json_answer(
                StatusCode::OK,
                &json!({"taskmanagers": 1, "slots-total": running, "slots-available": 0, "jobs-running": running,
                    "jobs-finished": 0, "jobs-cancelled": 0, "jobs-failed": 0, "flink-version": "2.3.0", "flink-commit": "simulated"}),
            )
        }
        (&Method::GET, ["jobs", "overview"]) => {
            cluster.count(Endpoint::JobsOverview);
            cluster.record_poll();
            let jobs = cluster.lock_jobs();
            let list: Vec<Value> = jobs.iter().map(|j| overview_job(j, now)).collect();
            drop(jobs);
            json_answer(StatusCode::OK, &json!({ "jobs": list }))
        }
        (_, ["jobs", jid, rest @ ..]) => {
            let endpoint = match (&method, rest) {
                (&Method::GET, []) => Endpoint::Job,
                (&Method::PATCH, []) => Endpoint::Cancel,
                (&Method::GET, ["exceptions"]) => Endpoint::Exceptions,
                (&Method::GET, ["vertices", _, "metrics"]) if query.contains("get=") => {
                    Endpoint::VertexMetricValues
                }
                (&Method::GET, ["vertices", _, "metrics"]) => Endpoint::VertexMetricNames,
                (&Method::GET, ["vertices", _, "subtasks", "metrics"]) => Endpoint::SubtaskMetrics,
                (&Method::GET, ["metrics"]) => Endpoint::JobMetrics,
                (&Method::GET, ["checkpoints"]) => Endpoint::Checkpoints,
                (&Method::GET, ["checkpoints", "config"]) => Endpoint::CheckpointConfig,
                _ => Endpoint::Other,
            };
            cluster.count(endpoint);
            if !sim.delay.is_zero() {
                tokio::time::sleep(sim.delay).await;
            }
            let mut jobs = cluster.lock_jobs();
            let Some(job) = jobs.iter_mut().find(|j| j.jid == *jid) else {
                return not_found(&format!(
                    "org.apache.flink.runtime.rest.NotFoundException: Job {jid} not found"
                ));
            };
            if endpoint.is_health() {
                job.health_calls += 1;
            }
            match endpoint {
                Endpoint::Job => json_answer(StatusCode::OK, &job_details(job, now)),
                Endpoint::Cancel => {
                    if job.terminal() && job.state != "CANCELED" {
                        let message = format!(
                            "Job cancellation failed because the job has already reached another terminal state ({}).",
                            job.state
                        );
                        return json_answer(StatusCode::CONFLICT, &json!({ "errors": [message] }));
                    }
                    if job.state != "CANCELED" {
                        job.state = "CANCELED".into();
                        job.end_time = now;
                    }
                    json_answer(StatusCode::ACCEPTED, &json!({}))
                }
                Endpoint::Exceptions => json_answer(StatusCode::OK, &exceptions(job)),
                Endpoint::VertexMetricNames => json_answer(StatusCode::OK, &metric_names(rest[1])),
                Endpoint::VertexMetricValues => {
                    json_answer(StatusCode::OK, &metric_values(job, &query, now))
                }
                Endpoint::SubtaskMetrics => {
                    json_answer(StatusCode::OK, &aggregated(job, &query, now))
                }
                Endpoint::JobMetrics => {
                    json_answer(StatusCode::OK, &job_metric_values(job, &query, now))
                }
                Endpoint::Checkpoints => json_answer(StatusCode::OK, &checkpoint_stats(job, now)),
                Endpoint::CheckpointConfig => json_answer(StatusCode::OK, &checkpoint_config()),
                _ => not_found("Not found: simulated JobManager"),
            }
        }
        _ => {
            cluster.count(Endpoint::Other);
            not_found(&format!("Not found: {path}"))
        }
    }
}

fn json_answer(status: StatusCode, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=UTF-8"),
        )],
        bytes,
    )
        .into_response()
}

fn not_found(message: &str) -> Response {
    json_answer(StatusCode::NOT_FOUND, &json!({ "errors": [message] }))
}

fn task_counts(job: &SimJob) -> Value {
    let (running, finished, canceled, failed) = match job.state.as_str() {
        "FINISHED" => (0, 2, 0, 0),
        "CANCELED" => (0, 0, 2, 0),
        "FAILED" => (0, 0, 1, 1),
        _ => (2, 0, 0, 0),
    };
    json!({"running": running, "canceling": 0, "canceled": canceled, "total": 2, "created": 0, "scheduled": 0,
        "deploying": 0, "reconciling": 0, "finished": finished, "initializing": 0, "failed": failed})
}

fn overview_job(job: &SimJob, now: i64) -> Value {
    json!({"jid": job.jid, "name": job.name, "jobType": "STREAMING", "schedulerType": "Default",
        "start-time": job.start_time, "end-time": job.end_time, "duration": job.duration(now), "state": job.state,
        "last-modification": if job.end_time >= 0 { job.end_time } else { job.start_time + 250 },
        "tasks": task_counts(job), "pending-operators": 0})
}

fn vertex(job: &SimJob, id: &str, name: &str, read: i64, write: i64, now: i64) -> Value {
    let status = match job.state.as_str() {
        "FAILED" => "CANCELED",
        s => s,
    };
    json!({"id": id, "slotSharingGroupId": "b5605e63f909c293a408b0578fa71866", "name": name, "maxParallelism": 128,
        "parallelism": 1, "status": status, "start-time": job.start_time + 480, "end-time": job.end_time,
        "duration": job.duration(now) - 480,
        "tasks": {"FINISHED": 0, "INITIALIZING": 0, "CANCELED": 0, "DEPLOYING": 0, "RECONCILING": 0, "SCHEDULED": 0,
            "FAILED": 0, "CANCELING": 0, "CREATED": 0, "RUNNING": 1},
        "metrics": {"read-bytes": read * 21, "read-bytes-complete": true, "write-bytes": write * 19,
            "write-bytes-complete": true, "read-records": read, "read-records-complete": true,
            "write-records": write, "write-records-complete": true, "accumulated-backpressured-time": 0,
            "accumulated-idle-time": job.duration(now) * 9 / 10, "accumulated-busy-time": 397.0}})
}

fn job_details(job: &SimJob, now: i64) -> Value {
    let records = job.records(now);
    json!({"jid": job.jid, "application-id": job.jid, "name": job.name, "isStoppable": false, "state": job.state,
        "job-type": "STREAMING", "schedulerType": "Default", "start-time": job.start_time, "end-time": job.end_time,
        "duration": job.duration(now), "maxParallelism": -1, "now": now,
        "timestamps": {"RUNNING": job.start_time + 243, "CREATED": job.start_time + 154, "INITIALIZING": job.start_time},
        "vertices": [
            vertex(job, SOURCE_VERTEX, "Source: flinklab-datagen", 0, records, now),
            vertex(job, SINK_VERTEX, "flinklab-map -> flinklab-sink: Writer", records, 0, now),
        ],
        "status-counts": {"RUNNING": if job.terminal() { 0 } else { 2 }},
        "plan": {"jid": job.jid, "name": job.name, "type": "STREAMING", "nodes": []}})
}

fn exceptions(job: &SimJob) -> Value {
    if job.state != "FAILED" {
        return json!({"exceptionHistory": {"entries": [], "truncated": false}});
    }
    json!({"exceptionHistory": {"entries": [{
        "exceptionName": "org.apache.flink.runtime.JobException",
        "stacktrace": "org.apache.flink.runtime.JobException: Recovery is suppressed by NoRestartBackoffTimeStrategy\n\tat org.apache.flink.runtime.executiongraph.failover.ExecutionFailureHandler.handleFailure(ExecutionFailureHandler.java:213)\nCaused by: java.lang.RuntimeException: simulated failure",
        "timestamp": job.end_time, "failureLabels": {}, "taskName": null, "endpoint": null, "taskManagerId": null,
        "concurrentExceptions": []}], "truncated": false}})
}

fn metric_names(vertex: &str) -> Value {
    let mut names = vec![
        "0.numRecordsIn",
        "0.numRecordsOut",
        "0.numRecordsInPerSecond",
        "0.numRecordsOutPerSecond",
        "0.busyTimeMsPerSecond",
        "0.idleTimeMsPerSecond",
        "0.backPressuredTimeMsPerSecond",
        "0.numBytesIn",
        "0.numBytesOut",
        "0.currentInputWatermark",
    ];
    if vertex == SINK_VERTEX {
        names.extend([
            "0.flinklab-map.currentEventTs",
            "0.flinklab-map.numRecordsIn",
            "0.flinklab-sink__Writer.numRecordsSend",
        ]);
    } else {
        names.extend([
            "0.Source__flinklab-datagen.numRecordsOut",
            "0.Source__flinklab-datagen.currentEmitEventTimeLag",
        ]);
    }
    Value::Array(names.into_iter().map(|n| json!({ "id": n })).collect())
}

/// The names of `?get=a,b,c`.
fn wanted(query: &str) -> Vec<String> {
    form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| k == "get")
        .flat_map(|(_, v)| v.split(',').map(str::to_string).collect::<Vec<_>>())
        .collect()
}

fn metric_value(job: &SimJob, name: &str, now: i64) -> Option<i64> {
    let records = job.records(now);
    if name.ends_with("currentEventTs") {
        Some(EVENT_TS_BASE + records.max(1) * 1000 - 1000)
    } else if name.ends_with("numRecordsIn")
        || name.ends_with("numRecordsOut")
        || name.ends_with("numRecordsSend")
    {
        Some(records)
    } else if name.contains("PerSecond") {
        Some(if job.terminal() {
            0
        } else {
            RECORDS_PER_SECOND
        })
    } else if name.ends_with("numBytesIn") || name.ends_with("numBytesOut") {
        Some(records * 20)
    } else {
        None
    }
}

fn metric_values(job: &SimJob, query: &str, now: i64) -> Value {
    let values: Vec<Value> = wanted(query)
        .iter()
        .filter_map(|name| {
            metric_value(job, name, now).map(|v| json!({"id": name, "value": v.to_string()}))
        })
        .collect();
    Value::Array(values)
}

/// `/jobs/{jid}/metrics?get=..`: what Flink 2.3 answers for the health checks' names
/// (`tests/fixtures/2.3.0/job_stream_health_metrics.json`); it omits unknown names.
fn job_metric_values(job: &SimJob, query: &str, now: i64) -> Value {
    let values: Vec<Value> = wanted(query)
        .iter()
        .filter_map(|name| {
            let value = match name.as_str() {
                "numRestarts" => 0,
                "numberOfCompletedCheckpoints" => job.checkpoints(now),
                "numberOfFailedCheckpoints" | "numberOfInProgressCheckpoints" => 0,
                "lastCheckpointCompletedTimestamp" => job.last_checkpoint_ms(now),
                _ => return None,
            };
            Some(json!({"id": name, "value": value.to_string()}))
        })
        .collect();
    Value::Array(values)
}

/// `/jobs/{jid}/checkpoints`, shaped like `tests/fixtures/2.3.0/job_stream_checkpoints.json`.
fn checkpoint_stats(job: &SimJob, now: i64) -> Value {
    let completed = job.checkpoints(now);
    let latest = (completed > 0).then(|| {
        let at = job.last_checkpoint_ms(now);
        json!({"className": "completed", "id": completed, "status": "COMPLETED", "is_savepoint": false,
            "trigger_timestamp": at - 12, "latest_ack_timestamp": at, "checkpointed_size": 265, "state_size": 265,
            "end_to_end_duration": 12, "num_subtasks": 2, "num_acknowledged_subtasks": 2,
            "checkpoint_type": "CHECKPOINT", "discarded": false})
    });
    json!({"counts": {"restored": 0, "total": completed, "in_progress": 0, "completed": completed, "failed": 0},
        "latest": {"completed": latest, "savepoint": null, "failed": null, "restored": null},
        "history": []})
}

/// `/jobs/{jid}/checkpoints/config`, as `tests/fixtures/2.3.0/job_stream_checkpoints_config.json`.
fn checkpoint_config() -> Value {
    json!({"mode": "exactly_once", "interval": CHECKPOINT_INTERVAL_MS, "timeout": 600000, "min_pause": 0,
        "max_concurrent": 1, "externalization": {"enabled": false, "delete_on_cancellation": true},
        "state_backend": "HashMapStateBackend", "checkpoint_storage": "JobManagerCheckpointStorage",
        "unaligned_checkpoints": false, "tolerable_failed_checkpoints": 0})
}

fn aggregated(job: &SimJob, query: &str, now: i64) -> Value {
    let values: Vec<Value> = wanted(query)
        .iter()
        .filter_map(|name| {
            metric_value(job, name, now)
                .map(|v| json!({"id": name, "max": v as f64, "sum": v as f64}))
        })
        .collect();
    Value::Array(values)
}

/// Control API (its own listener): `GET /stats`, `POST /reset`,
/// `POST /state?cluster=I&job=J&state=S`.
pub fn control_router(sim: Arc<Sim>) -> Router {
    Router::new().fallback(control).with_state(sim)
}

async fn control(State(sim): State<Arc<Sim>>, request: Request<Body>) -> Response {
    let query: std::collections::HashMap<String, String> =
        form_urlencoded::parse(request.uri().query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    match (request.method(), request.uri().path()) {
        (&Method::GET, "/stats") => json_answer(StatusCode::OK, &sim.stats()),
        (&Method::POST, "/reset") => {
            sim.reset();
            json_answer(StatusCode::OK, &json!({"reset": true}))
        }
        (&Method::POST, "/state") => {
            let cluster = query
                .get("cluster")
                .and_then(|v| v.parse().ok())
                .unwrap_or(usize::MAX);
            let job = query
                .get("job")
                .and_then(|v| v.parse().ok())
                .unwrap_or(usize::MAX);
            let state = query
                .get("state")
                .cloned()
                .unwrap_or_else(|| "CANCELED".into());
            if sim.set_state(cluster, job, &state) {
                json_answer(
                    StatusCode::OK,
                    &json!({"cluster": cluster, "job": job, "state": state}),
                )
            } else {
                not_found("no such cluster or job")
            }
        }
        _ => not_found("control: GET /stats, POST /reset, POST /state?cluster=I&job=J&state=S"),
    }
}
