//! The per-job Prometheus series (`flink_monitor_job_state`, `_healthy`, `_restarts`,
//! `_last_checkpoint_age_seconds`), computed from the registry at every scrape, so a job
//! that left its cluster's snapshot leaves /metrics with it. One series per job and
//! family, labelled `cluster` and `job` (the Flink job name, which the contract's choice
//! rule resolves when several Flink jobs share it).

use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock, Weak};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeGaugeValue};
use prometheus_client::metrics::MetricType;

use crate::clusters::KnownClusters;
use crate::clusters::health::{is_live, judge};
use crate::clusters::health_rules::Health;
use crate::time::now_ms;

/// Registered with the metrics registry before the cluster registry exists (which needs
/// the metrics), then attached to it.
#[derive(Clone, Default)]
pub struct JobSeries {
    registry: Arc<OnceLock<Weak<KnownClusters>>>,
}

impl std::fmt::Debug for JobSeries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobSeries")
            .field("attached", &self.registry.get().is_some())
            .finish()
    }
}

/// One job's values at one scrape.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRow {
    pub cluster: String,
    pub job: String,
    pub state: String,
    /// None while Unknown: neither healthy nor degraded, so no alert should fire on it.
    pub healthy: Option<bool>,
    pub restarts: Option<i64>,
    pub last_checkpoint_age_seconds: Option<f64>,
}

impl JobSeries {
    pub fn new() -> Self {
        Self::default()
    }

    /// Attaches the cluster registry; later calls are ignored.
    pub fn attach(&self, registry: &Arc<KnownClusters>) {
        let _ = self.registry.set(Arc::downgrade(registry));
    }

    /// Every job of every cluster, ordered by cluster id and job name.
    pub fn rows(&self) -> Vec<JobRow> {
        let Some(registry) = self.registry.get().and_then(Weak::upgrade) else {
            return Vec::new();
        };
        let now = now_ms();
        let mut rows = Vec::new();
        for cluster in registry.list() {
            let status = cluster.status();
            let Some(snapshot) = status.snapshot.clone() else {
                continue;
            };
            let names: BTreeSet<&str> = snapshot.jobs().iter().map(|j| j.name.as_str()).collect();
            for name in names {
                let Some(job) = snapshot.job_named(name) else {
                    continue;
                };
                let (verdict, record) = judge(&cluster, &status, job, now);
                let checkpoints = record.as_ref().map(|r| &r.checkpoints);
                // A job that never completed a checkpoint is as old as the job, as the
                // CheckpointStalled rule counts it, so an age alert fires for it too.
                let age_ms = checkpoints
                    .filter(|c| c.enabled == Some(true) && is_live(job.state()))
                    .and_then(|c| {
                        c.last_completed_time
                            .or_else(|| (c.counts.completed == 0).then_some(job.start_time?))
                    })
                    .map(|since| now.saturating_sub(since).max(0));
                rows.push(JobRow {
                    cluster: cluster.id().to_string(),
                    job: name.to_string(),
                    state: job.state().to_string(),
                    healthy: match verdict.health {
                        Health::Healthy => Some(true),
                        Health::Degraded => Some(false),
                        Health::Unknown => None,
                    },
                    restarts: record.as_ref().and_then(|r| r.restarts()),
                    last_checkpoint_age_seconds: age_ms.map(|ms| ms as f64 / 1000.0),
                });
            }
        }
        rows
    }
}

/// Prometheus text format escapes in label values; prometheus-client writes them raw, and
/// a job name may hold any character.
pub fn escape_label_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

type Labels = Vec<(&'static str, String)>;

fn labels(row: &JobRow) -> Labels {
    vec![
        ("cluster", escape_label_value(&row.cluster)),
        ("job", escape_label_value(&row.job)),
    ]
}

/// One gauge family: a series for each row that `series` gives labels and a value for.
fn gauges<V: EncodeGaugeValue>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    rows: &[JobRow],
    series: impl Fn(&JobRow) -> Option<(Labels, V)>,
) -> Result<(), std::fmt::Error> {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, value) in rows.iter().filter_map(series) {
        family.encode_family(&labels)?.encode_gauge(&value)?;
    }
    Ok(())
}

impl Collector for JobSeries {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let rows = self.rows();
        gauges(
            &mut encoder,
            "job_state",
            "Flink's state of each job (1 for its current state), by cluster and job name",
            &rows,
            |row| {
                let mut labels = labels(row);
                labels.push(("state", escape_label_value(&row.state)));
                Some((labels, 1i64))
            },
        )?;
        gauges(
            &mut encoder,
            "job_healthy",
            "1 if the job is Healthy, 0 if Degraded; absent while Unknown",
            &rows,
            |row| row.healthy.map(|healthy| (labels(row), i64::from(healthy))),
        )?;
        gauges(
            &mut encoder,
            "job_restarts",
            "Flink's numRestarts of the job, as the last health check read it",
            &rows,
            |row| row.restarts.map(|restarts| (labels(row), restarts)),
        )?;
        gauges(
            &mut encoder,
            "job_last_checkpoint_age_seconds",
            "Seconds since the job's last completed checkpoint (since its start if none completed); only running jobs with checkpointing on",
            &rows,
            |row| {
                row.last_checkpoint_age_seconds
                    .map(|age| (labels(row), age))
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped_as_the_text_format_requires() {
        assert_eq!(escape_label_value(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(escape_label_value("x\ny"), "x\\ny");
        assert_eq!(escape_label_value("plain-name_1"), "plain-name_1");
    }

    #[test]
    fn unattached_series_encode_descriptors_only() {
        let out = encode(&JobSeries::new());
        assert!(
            out.contains("# TYPE flink_monitor_job_state gauge"),
            "{out}"
        );
        assert!(!out.contains("flink_monitor_job_state{"), "{out}");
    }

    fn encode(series: &JobSeries) -> String {
        let mut registry = prometheus_client::registry::Registry::with_prefix("flink_monitor");
        registry.register_collector(Box::new(series.clone()));
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry).unwrap();
        out
    }

    #[tokio::test]
    async fn one_series_per_job_name_and_gone_jobs_disappear() {
        use crate::clusters::testing::{add_cluster, quiet_registry, service_cluster};
        use crate::clusters::{ClusterStatus, JobsSnapshot};
        let registry = quiet_registry(crate::flink::ClientSettings::default());
        let info = service_cluster("team-a", "orders");
        add_cluster(
            &registry,
            info,
            serde_json::json!([
                {"jid": "1", "name": "say \"hi\"", "state": "RUNNING", "start-time": 5},
                {"jid": "2", "name": "say \"hi\"", "state": "CANCELED", "start-time": 1},
                {"jid": "3", "name": "broken", "state": "FAILED", "start-time": 1},
            ]),
            true,
        )
        .await;
        let series = JobSeries::new();
        series.attach(&registry);
        let out = encode(&series);
        assert!(
            out.contains(r#"flink_monitor_job_state{cluster="team-a.orders",job="say \"hi\"",state="RUNNING"} 1"#),
            "{out}"
        );
        assert_eq!(out.matches("flink_monitor_job_state{").count(), 2, "{out}");
        assert!(
            out.contains(r#"flink_monitor_job_healthy{cluster="team-a.orders",job="broken"} 0"#),
            "{out}"
        );
        assert!(
            !out.contains(r#"flink_monitor_job_healthy{cluster="team-a.orders",job="say"#),
            "a running job not checked yet is Unknown: no series"
        );

        let cluster = registry.get("team-a.orders").unwrap();
        let mut status = (*cluster.status()).clone();
        status.snapshot = Some(Arc::new(JobsSnapshot::new(vec![], 2)));
        cluster.set_status(ClusterStatus { ..status });
        let out = encode(&series);
        assert!(!out.contains("flink_monitor_job_state{"), "{out}");
        assert!(!out.contains("flink_monitor_job_healthy{"), "{out}");
    }
}
