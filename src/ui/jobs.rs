//! `GET /ui/api/jobs`: every job of every cluster with its health, from memory.

use std::sync::Arc;

use serde::Serialize;

use crate::api::model::ClusterView;
use crate::clusters::health::judge;
use crate::clusters::{Cluster, ClusterStatus};
use crate::flink::dto::JobOverview;

use super::exceptions::{ExceptionBook, ExceptionLine};
use super::flink_ui::FlinkUi;

/// The answer: all clusters (`full`), or those changed since the token the page sent.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobsView {
    /// Send it back as `since` (and `If-None-Match`) to get only what changed after.
    pub token: String,
    /// True: `clusters` is every cluster; false: only those changed since `since`.
    pub full: bool,
    /// The server's time (ms), for ages and durations.
    pub now: i64,
    /// How often the page asks again (ms).
    pub refresh_ms: u64,
    pub clusters: Vec<ClusterJobs>,
    /// Ids of clusters gone since `since` (empty when `full`).
    pub removed: Vec<String>,
}

/// A cluster as `GET /clusters` shows it, with its jobs.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterJobs {
    #[serde(flatten)]
    pub cluster: ClusterView,
    /// At least one poll finished, successfully or not.
    pub polled: bool,
    pub flink_ui: FlinkUi,
    /// The jobs of the last successful poll (the last known ones while unreachable).
    pub jobs: Vec<JobRow>,
}

/// One job of a cluster's last poll.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobRow {
    pub jid: String,
    pub name: String,
    /// Flink's job state.
    pub state: String,
    /// ms; -1 when unknown.
    pub start_time: i64,
    /// ms; -1 while the job runs.
    pub end_time: i64,
    /// `Healthy|Degraded|Unknown`, judged as `job/{uuid}/health/` judges it.
    pub health: &'static str,
    pub reasons: Vec<&'static str>,
    /// Flink's numRestarts; null until a health check read it.
    pub restarts: Option<i64>,
    /// When the last checkpoint completed (ms); null if none did or none is known.
    pub last_checkpoint: Option<i64>,
    /// Periodic checkpoints are on (null until the health check read the config).
    pub checkpointing: Option<bool>,
    /// The first line of the last exception of a job that failed or restarted.
    pub exception: Option<ExceptionLine>,
}

impl ClusterJobs {
    pub fn new(cluster: &Cluster, exceptions: &ExceptionBook, now_ms: i64) -> Self {
        let status = cluster.status();
        let view = ClusterView::new(cluster);
        let flink_ui = FlinkUi::of(&view.url);
        let jobs = status
            .snapshot
            .as_ref()
            .map(|snapshot| {
                snapshot
                    .jobs()
                    .iter()
                    .map(|job| JobRow::new(cluster, &status, job, exceptions, now_ms))
                    .collect()
            })
            .unwrap_or_default();
        Self {
            cluster: view,
            polled: status.polled,
            flink_ui,
            jobs,
        }
    }
}

impl JobRow {
    pub fn new(
        cluster: &Cluster,
        status: &ClusterStatus,
        job: &JobOverview,
        exceptions: &ExceptionBook,
        now_ms: i64,
    ) -> Self {
        let (verdict, record) = judge(cluster, status, job, now_ms);
        let checkpoints = record.as_ref().map(|r| &r.checkpoints);
        let (start_time, end_time) = job.start_and_end();
        Self {
            jid: job.jid.clone(),
            name: job.name.clone(),
            state: job.state().to_string(),
            start_time,
            end_time,
            health: verdict.health.as_str(),
            reasons: verdict.reasons.iter().map(|r| r.as_str()).collect(),
            restarts: record.as_ref().and_then(|r| r.restarts()),
            last_checkpoint: checkpoints.and_then(|c| c.last_completed_time),
            checkpointing: checkpoints.and_then(|c| c.enabled),
            exception: exceptions.line(cluster.id(), &job.jid),
        }
    }
}

/// The views of `clusters`, in order.
pub fn cluster_views(
    clusters: &[Arc<Cluster>],
    exceptions: &ExceptionBook,
    now_ms: i64,
) -> Vec<ClusterJobs> {
    clusters
        .iter()
        .map(|c| ClusterJobs::new(c, exceptions, now_ms))
        .collect()
}
