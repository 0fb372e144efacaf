//! One health-check task per cluster, next to its poller: waits for the first poll, then
//! runs a round on the shared grid every interval, in batches that take one slot of the
//! process-wide limit each (see `schedule.rs`; one job's check is in `check.rs`).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit, broadcast};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::clusters::changes::ClusterChanged;
use crate::clusters::cluster::Cluster;
use crate::clusters::health_rules::is_live;
use crate::flink::FlinkError;

use super::schedule::{CHECK_BATCH, RoundGrid, check_offset};

/// How often the checker looks whether the first poll is done.
const FIRST_POLL_WAIT: Duration = Duration::from_millis(100);

/// One task per cluster, next to its poller.
pub(crate) struct HealthChecker {
    pub cluster: Arc<Cluster>,
    pub changes: broadcast::Sender<ClusterChanged>,
    pub grid: RoundGrid,
    /// Shared by the checkers of all clusters: see [`super::CHECKS_IN_FLIGHT`].
    pub permits: Arc<Semaphore>,
}

impl HealthChecker {
    pub async fn run(self, cancel: CancellationToken) {
        let interval = self.grid.interval;
        if interval.is_zero() {
            return;
        }
        // Jobs are only known from a poll: the first round waits for the first one.
        while !self.cluster.status().polled {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(FIRST_POLL_WAIT) => {}
            }
        }
        let mut round_start = self.grid.next_from(Instant::now());
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tokio::time::sleep_until(round_start) => {}
            }
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = self.round(round_start, interval) => {}
            }
            // A round that overran skips to the next start, not a burst to catch up.
            round_start = self
                .grid
                .next_from(Instant::now().max(round_start + interval));
        }
        tracing::debug!(cluster = self.cluster.id(), "health checker stopped");
    }

    /// Checks every due job once, in batches of [`CHECK_BATCH`] spread over the interval
    /// (see [`check_offset`]), one at a time: the checks of a cluster hold at most one of
    /// its connections. A round that cannot finish within the interval (a slow
    /// JobManager) makes the checks rarer.
    async fn round(&self, start: Instant, interval: Duration) {
        // Only the ids are kept across the round; each batch reads the latest snapshot.
        let due = self.due_jobs();
        for (batch, jids) in due.chunks(CHECK_BATCH).enumerate() {
            let batch_start = start + check_offset(batch * CHECK_BATCH, due.len(), interval);
            tokio::time::sleep_until(batch_start).await;
            // One slot for the whole batch: its checks run one after the other, so it has
            // one in flight, and taking a slot per check would queue behind every other
            // batch and cost a wake-up per check. Taken before the batch exists: the
            // batches of all clusters start together, and 1,000 batches waiting for the
            // slots were the health checks' peak of memory.
            // Never closed; if it were, there would be nothing left to check for.
            let Ok(slot) = self.permits.acquire().await else {
                return;
            };
            // Boxed, as the poller's poll: a round spans the interval, so every checker
            // is in one; between batches it keeps no room for a batch's exchanges.
            if !Box::pin(self.batch(jids, slot)).await {
                return;
            }
        }
    }

    /// Checks the jobs `jids` under one slot; false when the rest of the round would wait
    /// in vain (the cluster cannot be asked).
    async fn batch(&self, jids: &[Box<str>], _slot: SemaphorePermit<'_>) -> bool {
        let status = self.cluster.status();
        let Some(snapshot) = status.snapshot.as_ref().filter(|_| status.reachable) else {
            // Health is Unknown while the cluster cannot be asked; do not pile up errors.
            return false;
        };
        for jid in jids {
            // A job that left the snapshot since the round began is not checked.
            let Some(job) = snapshot.jobs().iter().find(|j| *j.jid == **jid) else {
                continue;
            };
            if let Err(error) = self.check(job).await
                && matches!(
                    error,
                    FlinkError::Connect { .. } | FlinkError::Timeout { .. }
                )
            {
                // The JobManager is gone or stuck: the rest would wait for it too.
                return false;
            }
        }
        true
    }

    /// The ids of the jobs to check in this round; forgets the records of jobs that are
    /// gone.
    fn due_jobs(&self) -> Vec<Box<str>> {
        let status = self.cluster.status();
        let Some(snapshot) = status.snapshot.as_ref().filter(|_| status.reachable) else {
            return Vec::new();
        };
        let book = self.cluster.health();
        let listed: HashSet<&str> = snapshot.jobs().iter().map(|j| j.jid.as_str()).collect();
        book.retain(&listed);
        snapshot
            .jobs()
            .iter()
            .filter(|job| {
                is_live(job.state()) || book.get(&job.jid).is_some_and(|r| r.awaits_end_check())
            })
            .map(|job| job.jid.as_str().into())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clusters::ClusterStatus;
    use crate::clusters::health_book::HealthSettings;
    use crate::clusters::health_rules::Thresholds;
    use crate::flink::dto::JobOverview;

    /// A checker of a cluster with jobs a, b and c whose last poll succeeded, but whose
    /// JobManager is gone since: nothing listens on port 9, every call fails at once.
    fn checker_of_a_gone_cluster(permits: Arc<Semaphore>) -> (Arc<Cluster>, HealthChecker) {
        let info = crate::clusters::testing::service_cluster("ns", "gone");
        checker_of(info, &["a", "b", "c"], permits)
    }

    /// A checker of `info`'s cluster, whose last poll found running jobs with ids `jids`.
    fn checker_of(
        info: crate::clusters::ClusterInfo,
        jids: &[&str],
        permits: Arc<Semaphore>,
    ) -> (Arc<Cluster>, HealthChecker) {
        let client = crate::flink::FlinkClient::new(
            crate::flink::FlinkClient::http_client().unwrap(),
            info.url.clone(),
            crate::flink::ClientSettings::default(),
        );
        let settings = HealthSettings {
            interval: Duration::from_secs(30),
            thresholds: Thresholds::default(),
        };
        let cluster =
            Arc::new(Cluster::new(info, client, Duration::from_secs(1)).with_health(settings));
        let jobs: Vec<JobOverview> = jids
            .iter()
            .map(|jid| {
                let job = serde_json::json!({"jid": jid, "name": jid, "state": "RUNNING", "start-time": 1});
                serde_json::from_value(job).unwrap()
            })
            .collect();
        cluster.set_status(ClusterStatus {
            snapshot: Some(Arc::new(crate::clusters::JobsSnapshot::new(jobs, 1))),
            polled: true,
            reachable: true,
            last_error: None,
            flink_version: None,
        });
        let (changes, _) = broadcast::channel(4);
        let checker = HealthChecker {
            cluster: cluster.clone(),
            changes,
            grid: RoundGrid {
                origin: Instant::now(),
                interval: settings.interval,
            },
            permits,
        };
        (cluster, checker)
    }

    #[tokio::test]
    async fn a_batch_stops_at_a_jobmanager_that_cannot_be_reached() {
        let (cluster, checker) = checker_of_a_gone_cluster(Arc::new(Semaphore::new(1)));
        checker.round(Instant::now(), Duration::from_secs(30)).await;
        let book = cluster.health();
        assert!(
            book.get("a").and_then(|r| r.last_error.clone()).is_some(),
            "the first check failed and says why"
        );
        assert_eq!(
            book.len(),
            1,
            "the rest of the batch was not sent to a JobManager that is gone"
        );
    }

    #[tokio::test]
    async fn a_check_waits_for_a_slot_of_the_process_wide_limit() {
        let permits = Arc::new(Semaphore::new(0));
        let (cluster, checker) = checker_of_a_gone_cluster(permits.clone());
        let round =
            tokio::spawn(
                async move { checker.round(Instant::now(), Duration::from_secs(30)).await },
            );
        // Long enough for a refused connection to be recorded, were the check not waiting.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            cluster.health().is_empty(),
            "no check while every slot is taken"
        );
        permits.add_permits(1);
        round.await.unwrap();
        assert_eq!(
            cluster.health().len(),
            1,
            "the check ran once a slot was free"
        );
    }

    /// A JobManager that answers every request `[]` and records the job ids of the
    /// job-metrics requests in the order they came.
    async fn recording_jobmanager() -> (url::Url, Arc<std::sync::Mutex<Vec<String>>>) {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let record = seen.clone();
        let url = crate::testing::jobmanager::scripted(move |head| {
            if let Some((jid, _)) = head
                .strip_prefix("GET /jobs/")
                .and_then(|rest| rest.split_once("/metrics?"))
            {
                record.lock().unwrap().push(jid.to_string());
            }
            "[]".to_string()
        })
        .await;
        (url, seen)
    }

    #[tokio::test]
    async fn a_batch_takes_one_slot_for_all_its_checks() {
        let (url, seen) = recording_jobmanager().await;
        // One slot for two clusters: a batch that gave its slot back after each check
        // would alternate with the other's.
        let permits = Arc::new(Semaphore::new(1));
        let rounds: Vec<_> = [("one", ["a1", "a2", "a3"]), ("two", ["b1", "b2", "b3"])]
            .into_iter()
            .map(|(name, jids)| {
                let mut info = crate::clusters::testing::service_cluster("ns", name);
                info.url = url.clone();
                let (_, checker) = checker_of(info, &jids, permits.clone());
                tokio::spawn(
                    async move { checker.round(Instant::now(), Duration::from_secs(30)).await },
                )
            })
            .collect();
        for round in rounds {
            round.await.unwrap();
        }
        let order = seen.lock().unwrap().join(" ");
        assert!(
            order == "a1 a2 a3 b1 b2 b3" || order == "b1 b2 b3 a1 a2 a3",
            "each batch's checks ran together: {order}"
        );
    }
}
