//! One task per cluster: poll `/jobs/overview` every interval into a fresh snapshot.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::broadcast;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::flink::FlinkError;
use crate::metrics::{FlinkErrorLabels, Metrics, Outcome, OutcomeLabels};
use crate::time::now_ms;

use super::changes::ClusterChanged;
use super::cluster::{Cluster, ClusterStatus};
use super::snapshot::JobsSnapshot;
use super::version::VersionReader;

/// The first polls of clusters started together spread over this much (or the interval,
/// if shorter): 1,000 first polls over 250 ms, instead of 1,000 exchanges at once.
const FIRST_POLL_SPREAD: Duration = Duration::from_millis(250);

pub(crate) struct Poller {
    pub cluster: Arc<Cluster>,
    pub interval: Duration,
    pub metrics: Arc<Metrics>,
    pub changes: broadcast::Sender<ClusterChanged>,
}

impl Poller {
    pub async fn run(self, cancel: CancellationToken) {
        let mut version = VersionReader::new(self.cluster.client().clone());
        // Each cluster polls at its own phase of the interval, so 1,000 pollers started
        // together do not keep polling in the same instant (an exchange's buffers live
        // only while it runs: spread out, few are alive at once). The first poll comes
        // within FIRST_POLL_SPREAD (readiness waits for it), at the same phase modulo it.
        let start = tokio::time::Instant::now();
        let phase = phase_of(self.cluster.id(), self.interval);
        let spread = self.interval.min(FIRST_POLL_SPREAD);
        let first_at = start + phase_of(self.cluster.id(), spread);
        let later = if phase < spread {
            self.interval
        } else {
            Duration::ZERO
        };
        let mut ticks = tokio::time::interval_at(
            start + phase + later,
            self.interval.max(Duration::from_millis(1)),
        );
        // A slow poll delays the next one rather than causing a burst to catch up.
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut first = true;
        loop {
            if std::mem::take(&mut first) {
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    _ = tokio::time::sleep_until(first_at) => {}
                }
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    reachable_again = Box::pin(self.poll_once()) => {
                        if let Some(reachable_again) = reachable_again {
                            version.after_poll(reachable_again);
                        }
                    }
                }
                continue;
            }
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = ticks.tick() => {}
                _ = self.cluster.poll_requested() => {
                    // Flink applies a cancel within a fraction of a second.
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
                answer = version.answer() => {
                    self.on_version(answer);
                    continue;
                }
            }
            // Boxed: a poll's state (the request and its answer) lives on the heap only
            // while it runs, so 1,000 idle pollers do not each keep room for one.
            tokio::select! {
                _ = cancel.cancelled() => break,
                reachable_again = Box::pin(self.poll_once()) => {
                    if let Some(reachable_again) = reachable_again {
                        version.after_poll(reachable_again);
                    }
                }
            }
        }
        tracing::debug!(cluster = self.cluster.id(), "poller stopped");
    }

    /// One poll. Some(whether the cluster was unreachable before) when it succeeded.
    pub async fn poll_once(&self) -> Option<bool> {
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
        let succeeded = result
            .is_ok()
            .then_some(previous.polled && !previous.reachable);
        let next = match result {
            Ok(overview) => self.on_success(&previous, overview.jobs),
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
        succeeded
    }

    /// Merges a version read into the status; only this task writes the status.
    fn on_version(&self, answer: Result<Option<String>, FlinkError>) {
        let version = match answer {
            Ok(Some(version)) => version,
            Ok(None) => return,
            Err(error) => {
                tracing::debug!(cluster = self.cluster.id(), %error, "could not read the Flink version; asking again later");
                return;
            }
        };
        let current = self.cluster.status();
        if current.flink_version.as_deref() == Some(version.as_str()) {
            return;
        }
        let mut next = (*current).clone();
        next.flink_version = Some(version);
        self.cluster.set_status(next);
        let _ = self.changes.send(ClusterChanged {
            cluster: self.cluster.id().into(),
        });
    }

    fn on_success(
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
        // The version is read beside the polls (`VersionReader`); the last one known stays
        // until then.
        let flink_version = previous.flink_version.clone();
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
}

/// Where in `interval` a cluster's polls fall: a stable hash of its id, so the pollers of
/// many clusters spread over the interval, and the same cluster keeps its phase across
/// restarts.
pub(crate) fn phase_of(id: &str, interval: Duration) -> Duration {
    use std::hash::Hasher;
    let nanos = u64::try_from(interval.as_nanos()).unwrap_or(u64::MAX);
    if nanos == 0 {
        return Duration::ZERO;
    }
    let mut hasher = fnv::FnvHasher::default();
    hasher.write(id.as_bytes());
    Duration::from_nanos(hasher.finish() % nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_are_stable_and_spread_over_the_interval() {
        let interval = Duration::from_secs(10);
        assert_eq!(phase_of("ns/a", interval), phase_of("ns/a", interval));
        let mut per_second = [0usize; 10];
        for i in 0..1000 {
            let phase = phase_of(&format!("flink-{i}"), interval);
            assert!(phase < interval);
            per_second[phase.as_secs() as usize] += 1;
        }
        // 100 expected per second of the interval; a poller bunched anywhere would show.
        assert!(
            per_second.iter().all(|n| (60..=140).contains(n)),
            "{per_second:?}"
        );
        assert_eq!(phase_of("ns/a", Duration::ZERO), Duration::ZERO);
    }
}
