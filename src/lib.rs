//! flink-monitor: discovers Flink JobManagers, polls their REST APIs, mirrors job status
//! into `FlinkJob` resources and serves the monitoring API.
#![forbid(unsafe_code)]

pub mod api;
pub mod cli;
pub mod clusters;
pub mod controller;
pub mod crd;
pub mod discovery;
pub mod flink;
pub mod job_series;
pub mod metrics;
pub mod rbac;
pub mod runtime;
pub mod telemetry;
#[cfg(test)]
mod testing;
pub mod time;
pub mod ui;
mod write_through;

/// How flink-monitor names itself to the servers it asks (`User-Agent`), so that their
/// access and audit logs say who asked.
pub const USER_AGENT: &str = concat!("flink-monitor/", env!("CARGO_PKG_VERSION"));
