//! The known clusters (`KnownClusters`), their pollers and snapshots, and cached job reads.

mod cache;
mod choice;
mod cluster;
mod details;
pub mod gauges;
pub mod health;
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
pub use choice::choose;
pub use cluster::{Cluster, ClusterInfo, ClusterSource, ClusterStatus, OwnerRef};
pub use details::FetchedDetails;
pub use job_metrics::JobMetrics;
pub use known::{KnownClusters, PollSettings};
pub use lookup::{Lookup, lookup_job};
pub use poller::ClusterChanged;
pub use snapshot::{JobsSnapshot, RenderedJobs};
