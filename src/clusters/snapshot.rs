//! One poll of a cluster's `/jobs/overview`, indexed by job name.

use std::io::Write;
use std::sync::OnceLock;

use crate::flink::dto::JobOverview;

use super::choice::choose;

/// The jobs of one cluster as of one poll. Immutable; a new poll makes a new snapshot.
#[derive(Debug)]
pub struct JobsSnapshot {
    jobs: Vec<JobOverview>,
    /// Indexes into `jobs`, sorted by name, so a lookup is a binary search without a
    /// second copy of every name.
    by_name: Vec<u32>,
    /// When the poll that produced it succeeded (ms since the epoch).
    taken_at_ms: i64,
    /// The jobs as `jobs/overview/` lists them, rendered for the first request after the
    /// poll (so an unwatched cluster costs nothing), then copied by every later one.
    rendered: OnceLock<RenderedJobs>,
}

/// JSON of a list of jobs, but for the durations of running jobs, which grow with time:
/// each is written at its offset when served.
#[derive(Debug, Default)]
pub struct RenderedJobs {
    pub bytes: Vec<u8>,
    /// (offset in `bytes`, start time in ms) of each running job's duration, in order.
    pub durations: Vec<(usize, i64)>,
}

impl RenderedJobs {
    /// Appends the jobs with the durations as of `now_ms`.
    pub fn write_to(&self, out: &mut Vec<u8>, now_ms: i64) {
        let mut at = 0;
        for (offset, start) in &self.durations {
            out.extend_from_slice(&self.bytes[at..*offset]);
            // Writing to a Vec cannot fail.
            let _ = write!(out, "{}", now_ms.saturating_sub(*start).max(0));
            at = *offset;
        }
        out.extend_from_slice(&self.bytes[at..]);
    }
}

impl JobsSnapshot {
    pub fn new(mut jobs: Vec<JobOverview>, taken_at_ms: i64) -> Self {
        // Kept for a whole poll interval, for every cluster: no spare capacity.
        jobs.shrink_to_fit();
        let mut by_name: Vec<u32> = (0..jobs.len() as u32).collect();
        by_name.sort_by(|a, b| jobs[*a as usize].name.cmp(&jobs[*b as usize].name));
        Self {
            jobs,
            by_name,
            taken_at_ms,
            rendered: OnceLock::new(),
        }
    }

    /// The jobs rendered by `render`, which runs once per snapshot, for the first caller.
    pub fn rendered(&self, render: impl FnOnce(&[JobOverview]) -> RenderedJobs) -> &RenderedJobs {
        self.rendered.get_or_init(|| render(&self.jobs))
    }

    pub fn jobs(&self) -> &[JobOverview] {
        &self.jobs
    }

    pub fn taken_at_ms(&self) -> i64 {
        self.taken_at_ms
    }

    /// Every job named exactly `name` (case-sensitive).
    pub fn named<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a JobOverview> {
        let start = self
            .by_name
            .partition_point(|i| self.jobs[*i as usize].name.as_str() < name);
        self.by_name[start..]
            .iter()
            .map(|i| &self.jobs[*i as usize])
            .take_while(move |job| job.name == name)
    }

    /// The job a name means, by the contract's choice rule.
    pub fn job_named(&self, name: &str) -> Option<&JobOverview> {
        choose(self.named(name))
    }

    /// True when a client could see a difference: a job appeared, went, or changed state.
    pub fn differs_from(&self, other: &JobsSnapshot) -> bool {
        self.jobs.len() != other.jobs.len()
            || self.jobs.iter().zip(&other.jobs).any(|(a, b)| {
                a.jid != b.jid || a.state != b.state || a.end_time != b.end_time || a.name != b.name
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clusters::testing::overview_jobs as jobs;

    #[test]
    fn finds_by_exact_name_with_the_choice_rule() {
        let snapshot = JobsSnapshot::new(
            jobs(serde_json::json!([
                {"jid": "1", "name": "orders", "state": "CANCELED", "start-time": 5},
                {"jid": "2", "name": "Orders", "state": "RUNNING", "start-time": 1},
                {"jid": "3", "name": "orders", "state": "RUNNING", "start-time": 2},
                {"jid": "4", "name": "orders-v2", "state": "RUNNING", "start-time": 9},
            ])),
            0,
        );
        assert_eq!(snapshot.job_named("orders").unwrap().jid, "3");
        assert_eq!(snapshot.job_named("Orders").unwrap().jid, "2");
        assert_eq!(snapshot.named("orders").count(), 2);
        assert!(snapshot.job_named("order").is_none());
        assert!(snapshot.job_named("").is_none());
    }

    #[test]
    fn a_state_change_is_a_difference_and_a_duration_tick_is_not() {
        let a = JobsSnapshot::new(
            jobs(serde_json::json!([{"jid": "1", "name": "x", "state": "RUNNING", "duration": 1}])),
            0,
        );
        let b = JobsSnapshot::new(
            jobs(serde_json::json!([{"jid": "1", "name": "x", "state": "RUNNING", "duration": 9}])),
            5,
        );
        let c = JobsSnapshot::new(
            jobs(
                serde_json::json!([{"jid": "1", "name": "x", "state": "CANCELED", "duration": 9}]),
            ),
            9,
        );
        assert!(!a.differs_from(&b));
        assert!(b.differs_from(&c));
    }
}
