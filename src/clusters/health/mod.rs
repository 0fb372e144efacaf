//! Health checks: for each RUNNING or RESTARTING job of a cluster (and once more when a
//! checked job ends), every `--health-interval`, at most two Flink calls: the job metrics
//! (`numRestarts`, checkpoint counters and, on Flink 2.x, the last completion time), then
//! either the checkpoint config (once per job) or `/jobs/{jid}/checkpoints` (when the
//! metrics lack what changed). The checks of one round run in batches (one wake-up for a
//! cluster of up to [`CHECK_BATCH`] jobs), the rounds of all clusters on one grid, at most
//! [`CHECKS_IN_FLIGHT`] checks at once across clusters, and go through the cluster's
//! client, so they share its per-cluster limit. Results are kept in memory per cluster
//! (`super::health_book`) and dropped when a job leaves the snapshot.
//!
//! - `schedule.rs`: when rounds and batches run;
//! - `checker.rs`: the task of one cluster, its rounds and batches;
//! - `check.rs`: one job's check;
//! - `judge.rs`: a job's health from its cluster's last poll and checks.

mod check;
mod checker;
mod judge;
mod schedule;

pub(crate) use checker::HealthChecker;
pub use judge::{judge, judge_under};
pub use schedule::{CHECK_BATCH, CHECKS_IN_FLIGHT, RoundGrid, check_offset, slot};

// What the checks find, where it was before the book moved below `cluster.rs`.
pub use super::health_book::{
    HEALTH_METRICS, HealthBook, HealthMetrics, HealthSettings, JobHealthRecord,
};
pub use super::health_rules::is_live;
