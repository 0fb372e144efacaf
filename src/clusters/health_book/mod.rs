//! What the health checks found, kept per cluster (each `Cluster` holds a [`HealthBook`]),
//! and how each of Flink's answers changes a job's record. Below `cluster.rs`: nothing
//! here knows a cluster, a client or a task; the checks that fill the book are in
//! `clusters/health/`.

mod book;
mod metrics;
mod record;
mod settings;

pub use book::HealthBook;
pub use metrics::{HEALTH_METRICS, HealthMetrics};
pub use record::JobHealthRecord;
pub use settings::HealthSettings;
