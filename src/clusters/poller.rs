//! One task per cluster: poll `/jobs/overview` every interval into a fresh snapshot.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::broadcast;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::flink::FlinkError;
use crate::metrics::{FlinkErrorLabels, Metrics, Outcome, OutcomeLabels};

use super::cluster::{Cluster, ClusterStatus};
use super::snapshot::JobsSnapshot;

/// Sent when what a cluster shows changed: its jobs, their states, or its reachability.
#[derive(Debug, Clone)]
pub struct ClusterChanged {
    pub cluster: Arc<str>,
}

pub(crate) struct Poller {
    pub cluster: Arc<Cluster>,
    pub interval: Duration,
    pub metrics: Arc<Metrics>,
    pub changes: broadcast::Sender<ClusterChanged>,
}

impl Poller {
    pub async fn run(self, cancel: CancellationToken) {
        let mut ticks = tokio::time::interval(self.interval);
        // A slow poll delays the next one rather than causing a burst to catch up.
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = ticks.tick() => {}
                _ = self.cluster.poll_requested() => {
                    // Flink applies a cancel within a fraction of a second.
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
            }
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = self.poll_once() => {}
            }
        }
        tracing::debug!(cluster = self.cluster.id(), "poller stopped");
    }

    pub async fn poll_once(&self) {
        let started = Instant::now();
        let result = self.cluster.client().jobs_overview().await;
        let outcome = if result.is_ok() {
            Outcome::Success
        } else {
            Outcome::Error
        };
        let labels = OutcomeLabels { outcome };
        self.metrics.polls.get_or_create(&labels).inc();
        self.metrics
            .poll_duration
            .get_or_create(&labels)
            .observe(started.elapsed().as_secs_f64());
        let previous = self.cluster.status();
        let next = match result {
            Ok(overview) => self.on_success(&previous, overview.jobs).await,
            Err(error) => self.on_failure(&previous, error),
        };
        let changed = next.reachable != previous.reachable
            || !previous.polled
            || match (&next.snapshot, &previous.snapshot) {
                (Some(a), Some(b)) => a.differs_from(b),
                (a, b) => a.is_some() != b.is_some(),
            };
        self.cluster.set_status(next);
        if changed {
            // Nobody listening is fine: the controller may not run.
            let _ = self.changes.send(ClusterChanged {
                cluster: self.cluster.id().into(),
            });
        }
    }

    async fn on_success(
        &self,
        previous: &ClusterStatus,
        jobs: Vec<crate::flink::dto::JobOverview>,
    ) -> ClusterStatus {
        let snapshot = JobsSnapshot::new(jobs, now_ms());
        if previous.polled && !previous.reachable {
            tracing::info!(
                cluster = self.cluster.id(),
                jobs = snapshot.jobs().len(),
                "cluster reachable again"
            );
        } else if !previous.polled {
            tracing::info!(
                cluster = self.cluster.id(),
                jobs = snapshot.jobs().len(),
                "first poll succeeded"
            );
        }
        // The version can change when a JobManager comes back, so ask again after an outage.
        let flink_version = match (&previous.flink_version, previous.reachable) {
            (Some(version), true) => Some(version.clone()),
            _ => self
                .flink_version()
                .await
                .or(previous.flink_version.clone()),
        };
        ClusterStatus {
            snapshot: Some(Arc::new(snapshot)),
            polled: true,
            reachable: true,
            last_error: None,
            flink_version,
        }
    }

    fn on_failure(&self, previous: &ClusterStatus, error: FlinkError) -> ClusterStatus {
        self.metrics
            .poll_errors
            .get_or_create(&FlinkErrorLabels {
                kind: error.category(),
            })
            .inc();
        let message = error.to_string();
        if previous.reachable || !previous.polled {
            tracing::warn!(cluster = self.cluster.id(), error = %message, "cluster unreachable");
        } else {
            tracing::debug!(cluster = self.cluster.id(), error = %message, "cluster still unreachable");
        }
        ClusterStatus {
            snapshot: previous.snapshot.clone(),
            polled: true,
            reachable: false,
            last_error: Some(message),
            flink_version: previous.flink_version.clone(),
        }
    }

    async fn flink_version(&self) -> Option<String> {
        match self.cluster.client().config().await {
            Ok(config) => config.flink_version,
            Err(error) => {
                tracing::debug!(cluster = self.cluster.id(), %error, "could not read the Flink version");
                None
            }
        }
    }
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
