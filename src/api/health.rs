//! `job/{uuid}/health/`: the last health check of a job, served from memory.

use serde::Serialize;

use crate::clusters::health::judge;
use crate::clusters::health_rules::{Health, Reason, checkpoint_age_ms};
use crate::clusters::{Cluster, ClusterStatus};
use crate::flink::dto::JobOverview;

use super::enum_view::enum_view;

/// The answer of `job/{uuid}/health/`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct JobHealthView {
    pub name: String,
    pub jid: String,
    /// Flink's job state from the last poll.
    pub state: String,
    pub cluster: String,
    pub health: HealthView,
    /// Degraded: among Failed, Restarting, CheckpointStalled; Unknown: why.
    pub reasons: Vec<ReasonView>,
    /// Flink's numRestarts; null until a check read it.
    pub restarts: Option<i64>,
    pub checkpoints: CheckpointsView,
    /// When the job metrics last answered (ms); null before.
    #[serde(rename = "checked-at")]
    pub checked_at: Option<i64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CheckpointsView {
    /// Periodic checkpoints are on (false until the checkpoint config was read).
    pub enabled: bool,
    #[serde(rename = "interval-ms")]
    pub interval_ms: Option<i64>,
    pub completed: i64,
    pub failed: i64,
    #[serde(rename = "in-progress")]
    pub in_progress: i64,
    #[serde(rename = "last-completed-time")]
    pub last_completed_time: Option<i64>,
    #[serde(rename = "last-completed-age-ms")]
    pub last_completed_age_ms: Option<i64>,
    #[serde(rename = "last-failure-time")]
    pub last_failure_time: Option<i64>,
    #[serde(rename = "last-failure-message")]
    pub last_failure_message: Option<String>,
}

enum_view! {
    /// `Healthy|Degraded|Unknown`, as the API, the FlinkJob status and /metrics show it.
    #[schema(as = Health)]
    pub enum HealthView mirrors Health { Healthy, Degraded, Unknown }
}

enum_view! {
    /// Why a job is Degraded (the first three) or Unknown (the rest).
    #[schema(as = Reason)]
    pub enum ReasonView mirrors Reason {
        Failed, Restarting, CheckpointStalled,
        NotRunning, Canceled, NotChecked, ChecksDisabled, ClusterUnreachable,
    }
}

impl JobHealthView {
    /// Judged by the flags' thresholds (a FlinkJob's own overrides show in its status).
    pub fn new(
        name: &str,
        cluster: &Cluster,
        status: &ClusterStatus,
        job: &JobOverview,
        now_ms: i64,
    ) -> Self {
        let (verdict, record) = judge(cluster, status, job, now_ms);
        let facts = record
            .as_ref()
            .map(|r| r.checkpoints.clone())
            .unwrap_or_default();
        Self {
            name: name.to_string(),
            jid: job.jid.clone(),
            state: job.state().to_string(),
            cluster: cluster.id().to_string(),
            health: verdict.health.into(),
            reasons: verdict.reasons.into_iter().map(ReasonView::from).collect(),
            restarts: record.as_ref().and_then(|r| r.restarts()),
            checked_at: record.as_ref().and_then(|r| r.checked_at),
            checkpoints: CheckpointsView {
                enabled: facts.enabled == Some(true),
                interval_ms: facts.interval_ms,
                completed: facts.counts.completed,
                failed: facts.counts.failed,
                in_progress: facts.counts.in_progress,
                last_completed_time: facts.last_completed_time,
                last_completed_age_ms: checkpoint_age_ms(&facts, now_ms),
                last_failure_time: facts.last_failure_time,
                last_failure_message: facts.last_failure_message.clone(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_and_reasons_are_shown_as_the_names_they_have_everywhere() {
        for health in [Health::Healthy, Health::Degraded, Health::Unknown] {
            let shown = serde_json::to_value(HealthView::from(health)).unwrap();
            assert_eq!(shown, health.as_str());
        }
        for reason in [
            Reason::Failed,
            Reason::Restarting,
            Reason::CheckpointStalled,
            Reason::NotRunning,
            Reason::Canceled,
            Reason::NotChecked,
            Reason::ChecksDisabled,
            Reason::ClusterUnreachable,
        ] {
            let shown = serde_json::to_value(ReasonView::from(reason)).unwrap();
            assert_eq!(shown, reason.as_str());
        }
    }
}
