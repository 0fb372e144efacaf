//! One job's health check: at most two Flink calls, the job metrics, then either the
//! checkpoint config (once per job) or `/jobs/{jid}/checkpoints` (when it tells something
//! new); the record goes into the cluster's book and a changed verdict is announced.

use crate::clusters::changes::ClusterChanged;
use crate::clusters::health_book::{HEALTH_METRICS, HealthMetrics, JobHealthRecord};
use crate::flink::FlinkError;
use crate::flink::dto::JobOverview;
use crate::time::now_ms;

use super::checker::HealthChecker;
use super::judge::judge_record;

impl HealthChecker {
    /// One job's check; Err when the job metrics could not be read.
    pub(super) async fn check(&self, job: &JobOverview) -> Result<(), FlinkError> {
        let previous = self.cluster.health().get(&job.jid);
        let mut record = previous
            .as_deref()
            .cloned()
            .unwrap_or_else(|| JobHealthRecord::new(&job.jid));
        record.observe_state(job.state());
        let now = now_ms();
        let metrics = match self.read_metrics(&job.jid).await {
            Ok(metrics) => metrics,
            Err(error) => {
                record.last_error = Some(error.to_string());
                self.cluster.health().put(record);
                return Err(error);
            }
        };
        record.last_error = None;
        record.apply_metrics(&metrics, now);
        self.second_call(job, &mut record, &metrics).await;
        let restarts_before = previous.and_then(|p| p.restarts());
        self.keep(job, record, restarts_before, now);
        Ok(())
    }

    /// The first call: the job metrics.
    async fn read_metrics(&self, jid: &str) -> Result<HealthMetrics, FlinkError> {
        let answer = self
            .cluster
            .client()
            .job_metric_values(jid, HEALTH_METRICS)
            .await;
        answer
            .map(|values| HealthMetrics::parse(&values))
            .inspect_err(|error| {
                tracing::debug!(cluster = self.cluster.id(), jid, %error, "health check failed");
            })
    }

    /// The second call, if any: the config once, else the statistics when needed. A failed
    /// one is asked again at the next check.
    async fn second_call(
        &self,
        job: &JobOverview,
        record: &mut JobHealthRecord,
        metrics: &HealthMetrics,
    ) {
        let client = self.cluster.client();
        if record.checkpoints.enabled.is_none() {
            match client.checkpoint_config(&job.jid).await {
                Ok(config) => record.apply_config(config.as_ref()),
                Err(error) => {
                    tracing::debug!(cluster = self.cluster.id(), jid = %job.jid, %error, "reading the checkpoint config failed");
                }
            }
        } else if record.needs_stats(metrics) {
            match client.checkpoint_stats(&job.jid).await {
                Ok(stats) => record.apply_stats(stats),
                Err(error) => {
                    tracing::debug!(cluster = self.cluster.id(), jid = %job.jid, %error, "reading checkpoint statistics failed");
                }
            }
        }
    }

    /// Keeps the record and tells the controller when the verdict or the restarts changed.
    fn keep(
        &self,
        job: &JobOverview,
        mut record: JobHealthRecord,
        restarts_before: Option<i64>,
        now: i64,
    ) {
        let book = self.cluster.health();
        let verdict = judge_record(
            true,
            true,
            job,
            Some(&record),
            &book.settings().thresholds,
            now,
        );
        let verdict_changed = record.replace_verdict(verdict);
        let changed = verdict_changed || restarts_before != record.restarts();
        book.put(record);
        if changed {
            // The controller reconciles the FlinkJobs of this cluster; nobody listening is fine.
            let _ = self.changes.send(ClusterChanged {
                cluster: self.cluster.id().into(),
            });
        }
    }
}
