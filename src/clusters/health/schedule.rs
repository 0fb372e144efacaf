//! When health checks run: rounds on one grid for all clusters, each round's checks in
//! batches spread over the interval, and how many run at once across clusters.

use std::time::Duration;

use tokio::time::Instant;

/// Health checks in flight at once, across all clusters (a slot holds one batch, its
/// checks one after the other). Each exchange in flight holds hyper's buffers (about 25 KB):
/// 64 cost about 2.5 MiB more resident memory at 1,000 JobManagers than 16 (docs/
/// performance.md, run 19). 16 still check 1,000 JobManagers x 10 jobs (two calls each)
/// within a 30 s round at 10 ms a call: 1,000 batches x 0.2 s / 16 = 12.5 s.
pub const CHECKS_IN_FLIGHT: usize = 16;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
