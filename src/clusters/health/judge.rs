//! A job's health as the last poll and the last checks of its cluster show it.

use std::sync::Arc;

use crate::clusters::cluster::{Cluster, ClusterStatus};
use crate::clusters::health_book::JobHealthRecord;
use crate::clusters::health_rules::{Checked, Inputs, Thresholds, Verdict, evaluate};
use crate::flink::dto::JobOverview;

/// The health of a job as the last poll and the last checks show it, under the flags'
/// thresholds (the API, the page and the per-job series; a FlinkJob's own overrides go
/// through `judge_under`).
pub fn judge(
    cluster: &Cluster,
    status: &ClusterStatus,
    job: &JobOverview,
    now_ms: i64,
) -> (Verdict, Option<Arc<JobHealthRecord>>) {
    let thresholds = cluster.health().settings().thresholds;
    judge_under(cluster, status, job, &thresholds, now_ms)
}

/// The same under `thresholds`.
pub fn judge_under(
    cluster: &Cluster,
    status: &ClusterStatus,
    job: &JobOverview,
    thresholds: &Thresholds,
    now_ms: i64,
) -> (Verdict, Option<Arc<JobHealthRecord>>) {
    let record = cluster.health().get(&job.jid);
    let verdict = judge_record(
        status.reachable,
        cluster.health().settings().enabled(),
        job,
        record.as_deref(),
        thresholds,
        now_ms,
    );
    (verdict, record)
}

/// The same, from what is known without the cluster.
pub(super) fn judge_record(
    reachable: bool,
    checks_enabled: bool,
    job: &JobOverview,
    record: Option<&JobHealthRecord>,
    thresholds: &Thresholds,
    now_ms: i64,
) -> Verdict {
    let checked = record.filter(|r| r.checked_at.is_some()).map(|r| Checked {
        restarts: &r.restarts,
        checkpoints: &r.checkpoints,
    });
    evaluate(
        &Inputs {
            state: job.state(),
            start_time: job.start_time,
            reachable,
            checks_enabled,
            checked,
            now_ms,
        },
        thresholds,
    )
}
