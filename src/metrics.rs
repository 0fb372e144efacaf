//! Prometheus metrics. Labels are bounded: outcomes, route patterns and status codes,
//! never an object name, job name or cluster id.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
pub enum Outcome {
    Success,
    Error,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: Outcome,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    /// The route pattern, e.g. `/job/{uuid}/status/`.
    pub route: &'static str,
    pub status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FlinkErrorLabels {
    /// `FlinkError::category()`.
    pub kind: &'static str,
}

pub struct Metrics {
    registry: Registry,
    pub polls: Family<OutcomeLabels, Counter>,
    pub poll_errors: Family<FlinkErrorLabels, Counter>,
    pub poll_duration: Family<OutcomeLabels, Histogram>,
    pub http_requests: Family<HttpLabels, Counter>,
    pub clusters: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("flink_monitor");
        let polls = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "polls",
            "Polls of a JobManager's /jobs/overview, by outcome",
            polls.clone(),
        );
        let poll_errors = Family::<FlinkErrorLabels, Counter>::default();
        registry.register(
            "poll_errors",
            "Failed polls by kind of failure",
            poll_errors.clone(),
        );
        let poll_duration = Family::<OutcomeLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.001, 2.0, 14))
        });
        registry.register(
            "poll_duration_seconds",
            "Duration of a poll of /jobs/overview, by outcome",
            poll_duration.clone(),
        );
        let http_requests = Family::<HttpLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests served, by route pattern and status code",
            http_requests.clone(),
        );
        let clusters = Gauge::default();
        registry.register("clusters", "Clusters known to the registry", clusters.clone());
        Self {
            registry,
            polls,
            poll_errors,
            poll_duration,
            http_requests,
            clusters,
        }
    }

    /// Registers metrics owned by another part (the controller), under the same prefix.
    pub fn registry_mut(&mut self) -> &mut Registry {
        &mut self.registry
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
