//! The retry delays of every watcher (Services, FlinkDeployments, FlinkJobs).
//!
//! kube-runtime's `StreamBackoff` resets its backoff on every `Ok` item, and a watcher emits
//! `Event::Init` (an `Ok`) before each list it tries: with `default_backoff()`, a list that
//! fails every time (a FlinkDeployment CRD that is not installed: 404) was retried at the
//! first delay forever, about once a second. Here only a second `Ok` since the last error
//! (a list that went through, or a watch event) starts the delays over; otherwise they
//! double up to five minutes, so a missing CRD costs a request every few minutes.

use std::time::Duration;

use kube::runtime::utils::Backoff;

const FIRST: Duration = Duration::from_secs(1);
const MAX: Duration = Duration::from_secs(300);

#[derive(Debug, Clone)]
pub struct WatchBackoff {
    next: Duration,
    /// `Ok` items since the last error.
    oks: u32,
    /// Jitter state (a cheap generator: the delays need only be spread out).
    seed: u64,
}

impl Default for WatchBackoff {
    fn default() -> Self {
        use std::hash::{BuildHasher, RandomState};
        Self {
            next: FIRST,
            oks: 0,
            seed: RandomState::new().hash_one(std::time::SystemTime::now()) | 1,
        }
    }
}

impl Iterator for WatchBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        if self.oks >= 2 {
            self.next = FIRST;
        }
        self.oks = 0;
        let delay = self.next;
        self.next = (self.next * 2).min(MAX);
        // xorshift: ±20% jitter, so that watchers failing together do not retry together.
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        let jitter = 0.8 + 0.4 * (self.seed % 1000) as f64 / 1000.0;
        Some(delay.mul_f64(jitter))
    }
}

impl Backoff for WatchBackoff {
    fn reset(&mut self) {
        self.oks = self.oks.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_that_keeps_failing_backs_off_to_minutes() {
        let mut backoff = WatchBackoff::default();
        let mut delays = Vec::new();
        for _ in 0..12 {
            backoff.reset(); // the watcher's Init before each list
            delays.push(backoff.next().unwrap());
        }
        assert!(delays[0] <= Duration::from_millis(1200), "{delays:?}");
        assert!(delays[5] >= Duration::from_secs(25), "{delays:?}");
        assert!(delays[11] >= Duration::from_secs(240), "{delays:?}");
        assert!(
            delays.iter().all(|d| *d <= Duration::from_secs(360)),
            "{delays:?}"
        );
    }

    #[test]
    fn a_list_that_went_through_starts_the_delays_over() {
        let mut backoff = WatchBackoff::default();
        for _ in 0..8 {
            backoff.reset();
            backoff.next();
        }
        // Init, InitApply..., InitDone: listed; then the watch fails.
        backoff.reset();
        backoff.reset();
        backoff.reset();
        assert!(backoff.next().unwrap() <= Duration::from_millis(1200));
    }
}
