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
/// if shorter): 1,000 first polls over 1 s, a handful of exchanges alive at once. Over
/// 250 ms the first round's exchanges piled up (each with a read and a write buffer and a
/// request channel): the process kept their peak, 14-26 MiB anonymous memory from one
/// start to the next, where over 1 s it is 14 MiB every time (run 18).
const FIRST_POLL_SPREAD: Duration = Duration::from_secs(1);

/// Later polls fall into slots this wide, each cluster in its own slot of the interval:
/// a poll that wakes the runtime alone costs about 0.2 ms of CPU (two sleeps and wakes of
/// a worker per poll), 100 polls woken together less than half that each (run 18). One
/// second at 1,000 clusters and 10 s is 100 exchanges together, their buffers freed and
/// reused every second.
const POLL_SLOT: Duration = Duration::from_secs(1);

pub(crate) struct Poller {
    pub cluster: Arc<Cluster>,
    pub interval: Duration,
    pub metrics: Arc<Metrics>,
    pub changes: broadcast::Sender<ClusterChanged>,
}

impl Poller {
    pub async fn run(self, cancel: CancellationToken) {
        let mut version = VersionReader::new(self.cluster.client().clone());
        // The first poll comes within FIRST_POLL_SPREAD (readiness waits for it); the
        // later ones in the cluster's slot of the interval, the second no later than an
        // interval after the first.
        let start = tokio::time::Instant::now();
        let first_at = start + phase_of(self.cluster.id(), self.interval.min(FIRST_POLL_SPREAD));
        let mut next = start + slot_of(self.cluster.id(), self.interval, POLL_SLOT);
        if next <= first_at {
            next += self.interval;
        }
        let mut ticks = tokio::time::interval_at(next, self.interval.max(Duration::from_millis(1)));
        // A slow poll delays the next one rather than causing a burst to catch up.
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut first = true;
        loop {
            if std::mem::take(&mut first) {
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    _ = tokio::time::sleep_until(first_at) => {}
                }
            } else {
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

/// Where in `interval` a cluster's first poll falls: a stable hash of its id, so the
/// first polls of many clusters spread over the interval.
pub(crate) fn phase_of(id: &str, interval: Duration) -> Duration {
    let nanos = u64::try_from(interval.as_nanos()).unwrap_or(u64::MAX);
    if nanos == 0 {
        return Duration::ZERO;
    }
    Duration::from_nanos(hash_of(id) % nanos)
}

/// Which `slot`-wide slot of `interval` a cluster's polls fall into, as an offset: the
/// same hash, so the same cluster keeps its slot across restarts. An interval shorter
/// than a slot is one slot.
pub(crate) fn slot_of(id: &str, interval: Duration, slot: Duration) -> Duration {
    let slots = if slot.is_zero() {
        1
    } else {
        (interval.as_nanos() / slot.as_nanos()).max(1)
    };
    let index = u32::try_from(u128::from(hash_of(id)) % slots).unwrap_or(0);
    slot * index
}

fn hash_of(id: &str) -> u64 {
    use std::hash::Hasher;
    let mut hasher = fnv::FnvHasher::default();
    hasher.write(id.as_bytes());
    hasher.finish()
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

    #[test]
    fn later_polls_fall_into_whole_slots_spread_over_the_interval() {
        let (interval, slot) = (Duration::from_secs(10), Duration::from_secs(1));
        assert_eq!(
            slot_of("ns/a", interval, slot),
            slot_of("ns/a", interval, slot)
        );
        let mut per_slot = [0usize; 10];
        for i in 0..1000 {
            let offset = slot_of(&format!("flink-{i}"), interval, slot);
            assert!(offset < interval);
            assert_eq!(offset.subsec_nanos(), 0, "{offset:?} is not a whole slot");
            per_slot[offset.as_secs() as usize] += 1;
        }
        assert!(
            per_slot.iter().all(|n| (60..=140).contains(n)),
            "{per_slot:?}"
        );
        // An interval no longer than a slot is one slot: every cluster polls together.
        assert_eq!(slot_of("ns/a", slot / 2, slot), Duration::ZERO);
        assert_eq!(slot_of("ns/a", interval, Duration::ZERO), Duration::ZERO);
    }
}
