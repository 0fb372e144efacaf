//! The bodies the monitoring API answers, built from snapshots and Flink's answers.

use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::clusters::{Cluster, JobMetrics};
use crate::flink::dto::{JobDetails, JobOverview};

/// `duration` as the contract defines it: for a job still running (`end-time` -1), now
/// minus its start; otherwise what Flink reports.
pub fn effective_duration(job: &JobOverview, now_ms: i64) -> i64 {
    match (job.end_time, job.start_time) {
        (Some(end), _) if end >= 0 => job.duration.unwrap_or(0),
        (_, Some(start)) if start > 0 => (now_ms - start).max(0),
        _ => job.duration.unwrap_or(0),
    }
}

/// The answer of `job/{uuid}/status/`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct JobStatusView {
    pub name: String,
    pub jid: String,
    /// Flink's job status: RUNNING, FINISHED, FAILED, CANCELED, ...
    pub state: String,
    #[serde(rename = "start-time")]
    pub start_time: i64,
    /// -1 while the job runs.
    #[serde(rename = "end-time")]
    pub end_time: i64,
    pub duration: i64,
    pub vertices: Vec<VertexView>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VertexView {
    pub id: String,
    pub name: Option<String>,
    pub parallelism: Option<i64>,
    pub status: Option<String>,
    #[serde(rename = "start-time")]
    pub start_time: Option<i64>,
    pub duration: Option<i64>,
    /// Flink's vertex metrics object (`read-records`, `write-records`, ...).
    #[schema(value_type = Object)]
    pub metrics: Option<Map<String, Value>>,
}

impl JobStatusView {
    /// The state and times come from the overview snapshot, which Flink updates at once,
    /// the vertices from `GET /jobs/{jid}`, which Flink caches for a few seconds.
    pub fn new(name: &str, job: &JobOverview, details: &JobDetails, now_ms: i64) -> Self {
        Self {
            name: name.to_string(),
            jid: job.jid.clone(),
            state: job.state().to_string(),
            start_time: job.start_time.unwrap_or(-1),
            end_time: job.end_time.unwrap_or(-1),
            duration: effective_duration(job, now_ms),
            vertices: details
                .vertices
                .iter()
                .map(|v| VertexView {
                    id: v.id.clone(),
                    name: v.name.clone(),
                    parallelism: v.parallelism,
                    status: v.status.clone(),
                    start_time: v.start_time,
                    duration: v.duration,
                    metrics: v.metrics.clone(),
                })
                .collect(),
        }
    }
}

/// The answer of `job/{uuid}/statusAndMetrics/`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StatusAndMetricsView {
    pub details: JobStatusView,
    pub metrics: JobMetrics,
}

/// The answer of `jobs/overview/`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct OverviewView<'a> {
    pub jobs: Vec<OverviewJob<'a>>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct OverviewJob<'a> {
    pub jid: &'a str,
    pub name: &'a str,
    pub state: &'a str,
    #[serde(rename = "start-time")]
    pub start_time: i64,
    #[serde(rename = "end-time")]
    pub end_time: i64,
    pub duration: i64,
    /// Task counts by state, as Flink reports them.
    #[schema(value_type = Object)]
    pub tasks: Option<&'a RawValue>,
    /// The id of the cluster the job runs on.
    pub cluster: &'a str,
}

impl<'a> OverviewJob<'a> {
    pub fn new(job: &'a JobOverview, cluster: &'a str, now_ms: i64) -> Self {
        Self {
            jid: &job.jid,
            name: &job.name,
            state: job.state(),
            start_time: job.start_time.unwrap_or(-1),
            end_time: job.end_time.unwrap_or(-1),
            duration: effective_duration(job, now_ms),
            tasks: job.tasks.as_deref(),
            cluster,
        }
    }
}

/// One entry of `GET /clusters`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterView {
    pub id: String,
    /// Null for static clusters.
    pub namespace: Option<String>,
    pub name: String,
    /// service, flinkdeployment or static.
    pub source: crate::clusters::ClusterSource,
    /// The JobManager's REST URL, credentials removed.
    pub url: String,
    pub reachable: bool,
    /// Flink's `flink-version`, null until known.
    pub flink_version: Option<String>,
    /// Time (ms) of the last successful poll, null before one.
    pub last_poll: Option<i64>,
    /// The last poll error while unreachable, else null.
    pub last_error: Option<String>,
    /// Jobs in the last snapshot.
    pub jobs: usize,
}

impl ClusterView {
    pub fn new(cluster: &Cluster) -> Self {
        let info = cluster.info();
        let status = cluster.status();
        Self {
            id: info.id.clone(),
            namespace: info.namespace.clone(),
            name: info.name.clone(),
            source: info.source,
            url: cluster.display_url().to_string(),
            reachable: status.reachable,
            flink_version: status.flink_version.clone(),
            last_poll: status.last_poll_ms(),
            last_error: if status.reachable {
                None
            } else {
                status.last_error.clone()
            },
            jobs: status.snapshot.as_ref().map_or(0, |s| s.jobs().len()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(v: serde_json::Value) -> JobOverview {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_running_job_lasts_until_now_and_an_ended_one_as_flink_says() {
        let running =
            job(serde_json::json!({"jid":"a","start-time":1000,"end-time":-1,"duration":5}));
        assert_eq!(effective_duration(&running, 61_000), 60_000);
        let ended =
            job(serde_json::json!({"jid":"a","start-time":1000,"end-time":3000,"duration":2000}));
        assert_eq!(effective_duration(&ended, 61_000), 2000);
    }
}
