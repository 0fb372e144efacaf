//! One poll of a cluster's `/jobs/overview`, indexed by job name.

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
        }
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
    pub fn find(&self, name: &str) -> Option<&JobOverview> {
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

    fn jobs(v: serde_json::Value) -> Vec<JobOverview> {
        serde_json::from_value(v).unwrap()
    }

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
        assert_eq!(snapshot.find("orders").unwrap().jid, "3");
        assert_eq!(snapshot.find("Orders").unwrap().jid, "2");
        assert_eq!(snapshot.named("orders").count(), 2);
        assert!(snapshot.find("order").is_none());
        assert!(snapshot.find("").is_none());
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
