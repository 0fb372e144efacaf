//! Health checks: for each RUNNING or RESTARTING job of a cluster (and once more when a
//! checked job ends), every `--health-interval`, at most two Flink calls: the job metrics
//! (`numRestarts`, checkpoint counters and, on Flink 2.x, the last completion time), then
//! either the checkpoint config (once per job) or `/jobs/{jid}/checkpoints` (when the
//! metrics lack what changed). The checks of one round run in batches (one wake-up for a
//! cluster of up to [`CHECK_BATCH`] jobs), the rounds of all clusters on one grid, at most
//! [`CHECKS_IN_FLIGHT`] checks at once across clusters, and go through the cluster's
//! client, so they share its per-cluster limit. Results are kept
//! in memory per cluster and dropped when a job leaves the snapshot.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::{Semaphore, broadcast};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::flink::FlinkError;
use crate::flink::dto::{JobOverview, MetricValue};

use super::cluster::{Cluster, ClusterStatus};
use super::health_rules::{
    Checked, CheckpointFacts, Inputs, RestartHistory, Thresholds, Verdict, evaluate,
};
use super::poller::ClusterChanged;
use crate::time::now_ms;

/// How health checks run and the thresholds of the flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthSettings {
    /// Zero turns health checks off.
    pub interval: Duration,
    pub thresholds: Thresholds,
}

impl HealthSettings {
    pub fn disabled() -> Self {
        Self {
            interval: Duration::ZERO,
            thresholds: Thresholds::default(),
        }
    }

    pub fn enabled(&self) -> bool {
        !self.interval.is_zero()
    }
}

impl Default for HealthSettings {
    fn default() -> Self {
        Self::disabled()
    }
}

/// The job metrics one check asks for. `fullRestarts` is `numRestarts` on old versions.
pub const HEALTH_METRICS: &[&str] = &[
    "numRestarts",
    "fullRestarts",
    "numberOfCompletedCheckpoints",
    "numberOfFailedCheckpoints",
    "numberOfInProgressCheckpoints",
    "lastCheckpointCompletedTimestamp",
];

/// What the job metrics answer said; None for what it left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HealthMetrics {
    pub restarts: Option<i64>,
    pub completed: Option<i64>,
    pub failed: Option<i64>,
    pub in_progress: Option<i64>,
    /// Some(None): the metric exists (Flink 2.x) but no checkpoint completed yet.
    pub last_completed: Option<Option<i64>>,
}

impl HealthMetrics {
    pub fn parse(values: &[MetricValue]) -> Self {
        let get = |id: &str| -> Option<i64> {
            let value = values.iter().find(|m| m.id == id)?.value.as_deref()?.trim();
            value.parse::<i64>().ok().or_else(|| {
                value
                    .parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite())
                    .map(|f| f as i64)
            })
        };
        let present = |id: &str| values.iter().any(|m| m.id == id);
        Self {
            restarts: get("numRestarts").or_else(|| get("fullRestarts")),
            completed: get("numberOfCompletedCheckpoints"),
            failed: get("numberOfFailedCheckpoints"),
            in_progress: get("numberOfInProgressCheckpoints"),
            last_completed: present("lastCheckpointCompletedTimestamp")
                .then(|| get("lastCheckpointCompletedTimestamp").filter(|t| *t > 0)),
        }
    }
}

/// What the health checks of one job found.
#[derive(Debug, Clone, PartialEq)]
pub struct JobHealthRecord {
    pub jid: String,
    /// The state the job had at its last check.
    pub state: String,
    /// When the job metrics last answered with a restart count (ms).
    pub checked_at: Option<i64>,
    /// The error of the last check, while checks fail.
    pub last_error: Option<String>,
    pub restarts: RestartHistory,
    pub checkpoints: CheckpointFacts,
    /// (completed, failed) when `/jobs/{jid}/checkpoints` was last read.
    stats_read_at: Option<(i64, i64)>,
    /// The check after the job ended was done.
    ended_checked: bool,
    /// The verdict under the flags' thresholds after the last check, to notice changes.
    last_verdict: Option<Verdict>,
}

impl JobHealthRecord {
    fn new(jid: &str) -> Self {
        Self {
            jid: jid.to_string(),
            state: String::new(),
            checked_at: None,
            last_error: None,
            restarts: RestartHistory::default(),
            checkpoints: CheckpointFacts::default(),
            stats_read_at: None,
            ended_checked: false,
            last_verdict: None,
        }
    }

    pub fn restarts(&self) -> Option<i64> {
        self.restarts.current()
    }
}

/// The health records of one cluster's jobs, by jid.
#[derive(Debug, Default)]
pub struct HealthBook {
    settings: HealthSettings,
    records: RwLock<HashMap<String, Arc<JobHealthRecord>>>,
}

impl HealthBook {
    pub fn new(settings: HealthSettings) -> Self {
        Self {
            settings,
            records: RwLock::new(HashMap::new()),
        }
    }

    pub fn settings(&self) -> &HealthSettings {
        &self.settings
    }

    pub fn get(&self, jid: &str) -> Option<Arc<JobHealthRecord>> {
        self.records
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(jid)
            .cloned()
    }

    pub fn len(&self) -> usize {
        self.records.read().map(|r| r.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn put(&self, record: JobHealthRecord) {
        self.records
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(record.jid.clone(), Arc::new(record));
    }

    fn retain(&self, keep: &HashSet<&str>) {
        self.records
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|jid, _| keep.contains(jid.as_str()));
    }
}

pub fn is_live(state: &str) -> bool {
    matches!(state, "RUNNING" | "RESTARTING")
}

/// The health of a job as the last poll and the last checks show it, under `thresholds`.
pub fn judge(
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

fn judge_record(
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

/// One task per cluster, next to its poller.
pub(crate) struct HealthChecker {
    pub cluster: Arc<Cluster>,
    pub changes: broadcast::Sender<ClusterChanged>,
    pub grid: RoundGrid,
    /// Shared by the checkers of all clusters: see [`CHECKS_IN_FLIGHT`].
    pub permits: Arc<Semaphore>,
}

/// Health checks in flight at once, across all clusters. Enough to keep the runtime busy
/// while the rounds of many clusters run together; few enough that such a round does not
/// hold the request and response buffers of every cluster at once.
pub const CHECKS_IN_FLIGHT: usize = 64;

/// How often the checker looks whether the first poll is done.
const FIRST_POLL_WAIT: Duration = Duration::from_millis(100);

/// Jobs of one cluster checked in one wake-up, one after the other on one connection: a
/// wake-up per check cost about a third more CPU (docs/performance.md, run 8). A
/// JobManager with more jobs gets its batches spread over the interval.
pub const CHECK_BATCH: usize = 16;

/// When rounds start: every `interval` from one origin shared by all clusters, so the
/// checks of many clusters run in the same wake-ups, their requests overlap and the
/// runtime does not park between them. The origin lies half a poll interval after the
/// polls, so a check rarely finds its poller's connection busy (and opens a second).
#[derive(Debug, Clone, Copy)]
pub struct RoundGrid {
    pub origin: Instant,
    pub interval: Duration,
}

impl RoundGrid {
    /// The first round start at or after `at`.
    pub fn next_from(&self, at: Instant) -> Instant {
        if self.interval.is_zero() || at <= self.origin {
            return self.origin;
        }
        let since = (at - self.origin).as_nanos();
        let step = self.interval.as_nanos();
        let rounds = since.div_ceil(step);
        let offset = u64::try_from(rounds.saturating_mul(step)).unwrap_or(u64::MAX);
        self.origin + Duration::from_nanos(offset)
    }
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
            // Boxed, as the poller's poll: a waiting checker keeps no room for a round.
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = Box::pin(self.round(round_start, interval)) => {}
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
            let status = self.cluster.status();
            let Some(snapshot) = status.snapshot.as_ref().filter(|_| status.reachable) else {
                // Health is Unknown while the cluster cannot be asked; do not pile up errors.
                return;
            };
            // One slot for the whole batch: its checks run one after the other, so it has
            // one in flight, and taking a slot per check would queue behind every other
            // batch and cost a wake-up per check.
            // Never closed; if it were, there would be nothing left to check for.
            let Ok(_permit) = self.permits.acquire().await else {
                return;
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
                    return;
                }
            }
        }
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
                is_live(job.state())
                    || book
                        .get(&job.jid)
                        .is_some_and(|r| !r.ended_checked && is_live(&r.state))
            })
            .map(|job| job.jid.as_str().into())
            .collect()
    }

    /// One job's check; Err when the job metrics could not be read.
    async fn check(&self, job: &JobOverview) -> Result<(), FlinkError> {
        let book = self.cluster.health();
        let previous = book.get(&job.jid);
        let mut record = previous
            .as_deref()
            .cloned()
            .unwrap_or_else(|| JobHealthRecord::new(&job.jid));
        let client = self.cluster.client();
        if record.state != job.state() {
            record.state = job.state().to_string();
        }
        // A job back to RUNNING (after a JobManager failover: SUSPENDED) ends again later.
        record.ended_checked = !is_live(job.state());
        let now = now_ms();
        let metrics = match client.job_metric_values(&job.jid, HEALTH_METRICS).await {
            Ok(values) => HealthMetrics::parse(&values),
            Err(error) => {
                tracing::debug!(cluster = self.cluster.id(), jid = %job.jid, %error, "health check failed");
                record.last_error = Some(error.to_string());
                book.put(record);
                return Err(error);
            }
        };
        record.last_error = None;
        apply_metrics(&mut record, &metrics, now);
        // The second call, if any: the config once, else the statistics when needed.
        if record.checkpoints.enabled.is_none() {
            match client.checkpoint_config(&job.jid).await {
                Ok(config) => {
                    let interval = config.and_then(|c| c.periodic_interval_ms());
                    record.checkpoints.enabled = Some(interval.is_some());
                    record.checkpoints.interval_ms = interval;
                }
                Err(error) => {
                    tracing::debug!(cluster = self.cluster.id(), jid = %job.jid, %error, "reading the checkpoint config failed");
                }
            }
        } else if needs_stats(&record, &metrics) {
            match client.checkpoint_stats(&job.jid).await {
                Ok(stats) => {
                    let facts = &mut record.checkpoints;
                    facts.completed = stats.counts.completed;
                    facts.failed = stats.counts.failed;
                    facts.in_progress = stats.counts.in_progress;
                    let latest = stats.latest.unwrap_or_default();
                    if let Some(time) = latest
                        .completed
                        .and_then(|c| c.latest_ack_timestamp)
                        .filter(|t| *t > 0)
                    {
                        facts.last_completed_time = Some(time);
                    }
                    if let Some(failed) = latest.failed {
                        facts.last_failure_time = failed.failure_timestamp.filter(|t| *t > 0);
                        facts.last_failure_message = failed.failure_message.map(|m| first_line(&m));
                    }
                    record.stats_read_at = Some((facts.completed, facts.failed));
                }
                Err(error) => {
                    tracing::debug!(cluster = self.cluster.id(), jid = %job.jid, %error, "reading checkpoint statistics failed");
                }
            }
        }
        let settings = book.settings();
        let verdict = judge_record(true, true, job, Some(&record), &settings.thresholds, now);
        let changed = record.last_verdict.as_ref() != Some(&verdict)
            || previous.as_ref().and_then(|p| p.restarts()) != record.restarts();
        record.last_verdict = Some(verdict);
        book.put(record);
        if changed {
            // The controller reconciles the FlinkJobs of this cluster; nobody listening is fine.
            let _ = self.changes.send(ClusterChanged {
                cluster: self.cluster.id().into(),
            });
        }
        Ok(())
    }
}

/// When the i-th of n due jobs of a round is checked: with the others of its batch of
/// [`CHECK_BATCH`], the batches spread evenly over the interval, so a cluster with many
/// jobs sees a steady trickle rather than a burst, and one with few costs one wake-up.
pub fn check_offset(i: usize, n: usize, interval: Duration) -> Duration {
    slot(i / CHECK_BATCH, n.div_ceil(CHECK_BATCH), interval)
}

/// When the i-th of n batches starts: spread evenly over the interval.
pub fn slot(i: usize, n: usize, interval: Duration) -> Duration {
    if n == 0 {
        return Duration::ZERO;
    }
    let nanos = interval.as_nanos() * i as u128 / n as u128;
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

fn apply_metrics(record: &mut JobHealthRecord, metrics: &HealthMetrics, now: i64) {
    let facts = &mut record.checkpoints;
    if let Some(completed) = metrics.completed {
        facts.completed = completed;
    }
    if let Some(failed) = metrics.failed {
        facts.failed = failed;
    }
    if let Some(in_progress) = metrics.in_progress {
        facts.in_progress = in_progress;
    }
    if let Some(Some(time)) = metrics.last_completed {
        facts.last_completed_time = Some(time);
    }
    // Flink's metric store can answer [] at first: a check counts once it has a count.
    if let Some(restarts) = metrics.restarts {
        record.restarts.record(now, restarts);
        record.checked_at = Some(now);
    }
}

/// `/jobs/{jid}/checkpoints` is read only when it would tell something new: the last
/// completion time where the metrics lack it (Flink 1.x), or a new failure.
fn needs_stats(record: &JobHealthRecord, metrics: &HealthMetrics) -> bool {
    let facts = &record.checkpoints;
    if facts.enabled != Some(true) {
        return false;
    }
    let (read_completed, read_failed) = record.stats_read_at.unwrap_or((0, 0));
    let new_completion = metrics.last_completed.is_none()
        && facts.completed > 0
        && (record.stats_read_at.is_none() || facts.completed != read_completed);
    let new_failure = facts.failed > 0 && facts.failed != read_failed;
    new_completion || new_failure
}

fn first_line(text: &str) -> String {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    line.chars().take(512).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(json: serde_json::Value) -> Vec<MetricValue> {
        serde_json::from_value(json).unwrap()
    }

    fn sample(version: &str, file: &str) -> serde_json::Value {
        let path = format!(
            "{}/tests/fixtures/{version}/{file}",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
    }

    #[test]
    fn checks_of_a_round_are_spread_evenly_over_the_interval() {
        let interval = Duration::from_secs(30);
        let slots: Vec<Duration> = (0..4).map(|i| slot(i, 4, interval)).collect();
        assert_eq!(
            slots,
            [0, 7_500, 15_000, 22_500]
                .map(Duration::from_millis)
                .to_vec()
        );
        assert!((0..1000).all(|i| slot(i, 1000, interval) < interval));
        assert_eq!(slot(0, 0, interval), Duration::ZERO);
    }

    #[test]
    fn a_round_checks_a_small_cluster_in_one_wake_up_and_spreads_a_large_one_in_batches() {
        let interval = Duration::from_secs(30);
        assert!(
            (0..10).all(|i| check_offset(i, 10, interval) == Duration::ZERO),
            "10 jobs: one batch at the round's start"
        );
        let offsets: Vec<u64> = (0..40)
            .map(|i| check_offset(i, 40, interval).as_secs())
            .collect();
        let expected: Vec<u64> = (0..40).map(|i| [0, 10, 20][i / CHECK_BATCH]).collect();
        assert_eq!(offsets, expected, "40 jobs: batches of 16, 16 and 8");
    }

    #[test]
    fn the_rounds_of_all_clusters_start_on_one_grid() {
        let origin = Instant::now();
        let grid = RoundGrid {
            origin,
            interval: Duration::from_secs(30),
        };
        let at = |ms: u64| origin + Duration::from_millis(ms);
        // Clusters first polled at different moments start their rounds together.
        assert_eq!(grid.next_from(at(1_300)), at(30_000));
        assert_eq!(grid.next_from(at(17_000)), at(30_000));
        assert_eq!(grid.next_from(at(30_000)), at(30_000));
        assert_eq!(grid.next_from(at(30_001)), at(60_000));
        assert_eq!(grid.next_from(origin - Duration::from_secs(5)), origin);
    }

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

    /// A JobManager that answers every request `[]` on kept connections and records the
    /// job ids of the job-metrics requests in the order they came.
    async fn recording_jobmanager() -> (url::Url, Arc<std::sync::Mutex<Vec<String>>>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let record = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let record = record.clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while socket.read(&mut byte).await.unwrap_or(0) == 1 {
                        head.push(byte[0]);
                        if !head.ends_with(b"\r\n\r\n") {
                            continue;
                        }
                        let line = String::from_utf8_lossy(&head).to_string();
                        if let Some(jid) = line
                            .strip_prefix("GET /jobs/")
                            .and_then(|rest| rest.split_once("/metrics?"))
                        {
                            record.lock().unwrap().push(jid.0.to_string());
                        }
                        head.clear();
                        let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n[]";
                        if socket.write_all(answer).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (url.parse().unwrap(), seen)
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

    #[test]
    fn recorded_job_metrics_parse_on_both_versions() {
        let new = HealthMetrics::parse(&values(sample("2.3.0", "job_stream_metrics_values.json")));
        assert_eq!(new.restarts, Some(0));
        assert_eq!(new.completed, Some(4));
        let old = HealthMetrics::parse(&values(sample("1.20.5", "job_stream_metrics_values.json")));
        assert_eq!(old.restarts, Some(0));
        assert_eq!(old.completed, Some(2));
        assert_eq!(
            old.last_completed, None,
            "1.20 has no lastCheckpointCompletedTimestamp"
        );
    }

    #[test]
    fn the_last_completion_time_is_told_apart_from_its_absence() {
        let new = HealthMetrics::parse(&values(serde_json::json!([
            {"id": "fullRestarts", "value": "7"},
            {"id": "lastCheckpointCompletedTimestamp", "value": "-1"},
            {"id": "numberOfFailedCheckpoints", "value": "x"},
        ])));
        assert_eq!(
            new.restarts,
            Some(7),
            "fullRestarts where numRestarts is missing"
        );
        assert_eq!(
            new.last_completed,
            Some(None),
            "present, but none completed"
        );
        assert_eq!(new.failed, None, "not a number");
        let with_time = HealthMetrics::parse(&values(serde_json::json!([
            {"id": "lastCheckpointCompletedTimestamp", "value": "1795606457952"},
        ])));
        assert_eq!(with_time.last_completed, Some(Some(1_795_606_457_952)));
        assert_eq!(HealthMetrics::parse(&[]), HealthMetrics::default());
    }

    #[test]
    fn recorded_checkpoint_statistics_parse_on_both_versions() {
        for (version, completed, ack) in [
            ("2.3.0", 4, 1_795_606_457_952),
            ("1.20.5", 2, 1_795_606_359_647),
        ] {
            let stats: crate::flink::dto::CheckpointStats =
                serde_json::from_value(sample(version, "job_stream_checkpoints.json")).unwrap();
            assert_eq!(stats.counts.completed, completed, "{version}");
            assert_eq!(stats.counts.in_progress, 0);
            let latest = stats.latest.unwrap();
            assert_eq!(latest.completed.unwrap().latest_ack_timestamp, Some(ack));
            assert!(latest.failed.is_none());
            let never: crate::flink::dto::CheckpointStats =
                serde_json::from_value(sample(version, "job_fail_checkpoints.json")).unwrap();
            assert_eq!(never.counts.completed, 0);
        }
    }

    #[test]
    fn checkpoint_config_intervals_of_never_mean_off() {
        let parse = |v: serde_json::Value| {
            serde_json::from_value::<crate::flink::dto::CheckpointConfig>(v)
                .unwrap()
                .periodic_interval_ms()
        };
        // Recorded on 2.3.0: the stream kind checkpoints every 10 s; the restart kind does
        // not checkpoint, which Flink says with an interval of Long.MAX_VALUE.
        assert_eq!(
            parse(sample("2.3.0", "job_stream_checkpoints_config.json")),
            Some(10_000)
        );
        assert_eq!(
            parse(sample("2.3.0", "job_restart_checkpoints_config.json")),
            None
        );
        assert_eq!(parse(serde_json::json!({"interval": -1})), None);
        assert_eq!(parse(serde_json::json!({})), None);
    }

    #[test]
    fn recorded_health_metrics_of_a_restart_loop_and_a_checkpointing_job() {
        let looping =
            HealthMetrics::parse(&values(sample("2.3.0", "job_restart_health_metrics.json")));
        assert_eq!(looping.restarts, Some(5));
        assert_eq!(looping.last_completed, Some(None), "-1: none completed");
        let stream =
            HealthMetrics::parse(&values(sample("2.3.0", "job_stream_health_metrics.json")));
        assert_eq!(stream.completed, Some(2));
        assert_eq!(stream.last_completed, Some(Some(1_796_085_703_191)));
    }

    #[test]
    fn statistics_are_read_only_when_they_tell_something_new() {
        let mut record = JobHealthRecord::new("j");
        record.checkpoints.enabled = Some(true);
        let v1 = HealthMetrics {
            completed: Some(2),
            ..Default::default()
        };
        apply_metrics(&mut record, &v1, 1);
        assert!(
            needs_stats(&record, &v1),
            "1.x: a completion whose time is unknown"
        );
        record.stats_read_at = Some((2, 0));
        assert!(
            !needs_stats(&record, &v1),
            "nothing new since the last read"
        );
        let more = HealthMetrics {
            completed: Some(3),
            ..Default::default()
        };
        apply_metrics(&mut record, &more, 2);
        assert!(needs_stats(&record, &more));
        let v2 = HealthMetrics {
            completed: Some(5),
            last_completed: Some(Some(9)),
            ..Default::default()
        };
        apply_metrics(&mut record, &v2, 3);
        assert!(
            !needs_stats(&record, &v2),
            "2.x: the metrics carry the time"
        );
        let failing = HealthMetrics {
            failed: Some(1),
            last_completed: Some(None),
            ..Default::default()
        };
        apply_metrics(&mut record, &failing, 4);
        assert!(needs_stats(&record, &failing), "a new failure: its message");
        record.checkpoints.enabled = Some(false);
        assert!(!needs_stats(&record, &failing));
    }
}
