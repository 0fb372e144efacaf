//! Consecutive failed reconciles per FlinkJob, for the retry backoff. Every FlinkJob keeps
//! its own count however many fail at once: resetting everyone's backoff when many fail
//! would turn a struggling API server's trouble into a retry storm.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Past this many entries, entries not touched for `stale_after` are dropped.
const PRUNE_ABOVE: usize = 10_000;

#[derive(Debug)]
pub struct Backoff {
    /// `namespace/name` -> (consecutive failures, last failure).
    failures: Mutex<HashMap<String, (u32, Instant)>>,
    /// A FlinkJob still failing is retried more often than this, so an entry this old
    /// belongs to one that was deleted while failing.
    stale_after: Duration,
}

/// A failing FlinkJob is retried at least every 5 minutes (the longest delay, plus
/// jitter), so a count untouched for twice that belongs to a deleted FlinkJob.
const STALE_AFTER: Duration = Duration::from_secs(600);

impl Default for Backoff {
    fn default() -> Self {
        Self::new(STALE_AFTER)
    }
}

impl Backoff {
    pub fn new(stale_after: Duration) -> Self {
        Self {
            failures: Mutex::new(HashMap::new()),
            stale_after,
        }
    }

    /// Counts one more failure of `key`; returns its consecutive failures (1 for the first).
    pub fn failed(&self, key: &str) -> u32 {
        self.failed_at(key, Instant::now())
    }

    fn failed_at(&self, key: &str, now: Instant) -> u32 {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if failures.len() >= PRUNE_ABOVE && !failures.contains_key(key) {
            let stale_after = self.stale_after;
            failures.retain(|_, (_, last)| now.saturating_duration_since(*last) < stale_after);
        }
        let entry = failures.entry(key.to_string()).or_insert((0, now));
        entry.0 = entry.0.saturating_add(1);
        entry.1 = now;
        entry.0
    }

    /// `key` reconciled successfully: its next failure starts from the first delay again.
    pub fn succeeded(&self, key: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures.remove(key);
    }

    /// Consecutive failures of `key` so far (0: none).
    pub fn attempts(&self, key: &str) -> u32 {
        let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures.get(key).map_or(0, |(count, _)| *count)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.failures.lock().map(|f| f.len()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_thousand_failing_jobs_each_keep_their_own_backoff() {
        let backoff = Backoff::new(Duration::from_secs(600));
        let now = Instant::now();
        let jobs = 12_000;
        for round in 1..=3u32 {
            for i in 0..jobs {
                assert_eq!(
                    backoff.failed_at(&format!("ns/job-{i}"), now),
                    round,
                    "job-{i} in round {round}"
                );
            }
        }
        assert_eq!(backoff.len(), jobs);
        backoff.succeeded("ns/job-7");
        assert_eq!(backoff.failed_at("ns/job-7", now), 1);
        assert_eq!(backoff.failed_at("ns/job-8", now), 4);
    }

    #[test]
    fn entries_of_deleted_jobs_go_once_stale() {
        let backoff = Backoff::new(Duration::from_secs(600));
        let start = Instant::now();
        for i in 0..PRUNE_ABOVE {
            backoff.failed_at(&format!("ns/gone-{i}"), start);
        }
        backoff.failed_at("ns/alive", start + Duration::from_secs(500));
        // The next new failure, long after the others stopped failing, prunes them.
        let later = start + Duration::from_secs(900);
        assert_eq!(backoff.failed_at("ns/new", later), 1);
        assert_eq!(backoff.len(), 2, "only ns/alive and ns/new remain");
        assert_eq!(backoff.failed_at("ns/alive", later), 2);
    }
}
