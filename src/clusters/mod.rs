//! The known clusters (`KnownClusters`), their pollers and snapshots, and cached job reads.
//!
//! Imports inside point one way, down this list (a module uses only those below it):
//! - `known.rs` (the registry: starts a poller and a health checker per cluster),
//!   `lookup.rs` (a name across clusters) and `gauges.rs` (the registry per scrape);
//! - `poller.rs` (one poll task) and `health/` (the checks: schedule, task, one check,
//!   the judge), each the task of one [`Cluster`];
//! - `cluster.rs` ([`Cluster`]: its info, last status, cached reads and health book);
//! - `health_book/` (what the checks found, and how an answer of Flink changes it),
//!   `snapshot.rs`, `cache.rs`, `details.rs`, `job_metrics.rs`, `version.rs`, `startup.rs`;
//! - `health_rules.rs` (the pure rules), `choice.rs`, `changes.rs` ([`ClusterChanged`]),
//!   which use nothing of this module.

mod cache;
mod changes;
mod choice;
mod cluster;
mod details;
pub mod gauges;
pub mod health;
mod health_book;
pub mod health_rules;
pub mod job_metrics;
mod known;
mod lookup;
mod poller;
mod snapshot;
mod startup;
#[cfg(test)]
pub mod testing;
mod version;

pub use cache::TtlCache;
pub use changes::ClusterChanged;
pub use choice::choose;
pub use cluster::{Cluster, ClusterInfo, ClusterSource, ClusterStatus, OwnerRef};
pub use details::FetchedDetails;
pub use job_metrics::JobMetrics;
pub use known::{KnownClusters, PollSettings};
pub use lookup::{Lookup, lookup_job};
pub use snapshot::{JobsSnapshot, RenderedJobs};
