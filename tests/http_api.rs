//! The monitoring API over HTTP, request by request through `tower::ServiceExt::oneshot`,
//! against fake Flink JobManagers (`support::fake_flink`) that answer what the recorded
//! Flink 1.20.5 and 2.3.0 answered. Every route and every error of
//! `reference/monitoring-api.md`, with exact bodies.

mod support;

#[path = "http_api/errors.rs"]
mod errors;
#[path = "http_api/listings.rs"]
mod listings;
#[path = "http_api/status.rs"]
mod status;
#[path = "http_api/stop.rs"]
mod stop;
