//! Prometheus metrics. Labels are bounded: outcomes, route patterns and status codes,
//! never an object name, job name or cluster id.

use std::sync::RwLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Metric, Registry};

use crate::flink::JOB_STATES;

#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Error,
}

/// Label values are lower case, as Prometheus conventions have them.
impl EncodeLabelValue for Outcome {
    fn encode(
        &self,
        encoder: &mut prometheus_client::encoding::LabelValueEncoder,
    ) -> Result<(), std::fmt::Error> {
        use std::fmt::Write;
        encoder.write_str(match self {
            Outcome::Success => "success",
            Outcome::Error => "error",
        })
    }
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

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReconcileErrorLabels {
    /// `ReconcileError::kind()`.
    pub kind: &'static str,
}

pub struct Metrics {
    /// Written only to register collectors (at start), read by every scrape.
    registry: RwLock<Registry>,
    /// The length of the last scrape's text: the next one starts with room for it, rather
    /// than doubling its way there (at 10,000 jobs, 3.6 MB copied through 4 + 2 + 1 + ...).
    last_encoded_len: AtomicUsize,
    pub polls: Family<OutcomeLabels, Counter>,
    pub poll_errors: Family<FlinkErrorLabels, Counter>,
    pub poll_duration: Family<OutcomeLabels, Histogram>,
    pub http_requests: Family<HttpLabels, Counter>,
    pub clusters: Gauge,
    pub status_patches: Family<OutcomeLabels, Counter>,
    pub reconcile_duration: Histogram,
    pub reconcile_errors: Family<ReconcileErrorLabels, Counter>,
    pub events: Counter,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClusterLabels {
    /// service, flinkdeployment or static.
    pub source: &'static str,
    pub reachable: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    /// One of Flink's job states, or OTHER.
    pub state: &'static str,
}

/// A job state as a label: one of Flink's job states ([`JOB_STATES`]), anything else OTHER so
/// labels stay bounded.
pub fn state_label(state: &str) -> &'static str {
    JOB_STATES
        .iter()
        .find(|s| **s == state)
        .copied()
        .unwrap_or("OTHER")
}

/// Registers each metric as it is made, so that a field of [`Metrics`] states its metric's
/// name and help where it gets its value.
struct Registering<'a>(&'a mut Registry);

impl Registering<'_> {
    fn metric<M: Metric + Clone>(&mut self, name: &str, help: &str, metric: M) -> M {
        self.0.register(name, help, metric.clone());
        metric
    }

    fn new_metric<M: Metric + Clone + Default>(&mut self, name: &str, help: &str) -> M {
        self.metric(name, help, M::default())
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("flink_monitor");
        let mut add = Registering(&mut registry);
        let metrics = Self {
            polls: add.new_metric(
                "polls",
                "Polls of a JobManager's /jobs/overview, by outcome",
            ),
            poll_errors: add.new_metric("poll_errors", "Failed polls by kind of failure"),
            poll_duration: add.metric(
                "poll_duration_seconds",
                "Duration of a poll of /jobs/overview, by outcome",
                Family::new_with_constructor(|| {
                    Histogram::new(exponential_buckets(0.001, 2.0, 14))
                }),
            ),
            http_requests: add.new_metric(
                "http_requests",
                "HTTP requests served, by route pattern and status code",
            ),
            clusters: add.new_metric("clusters", "Clusters known to the registry"),
            status_patches: add.new_metric("status_patches", "FlinkJob status writes, by outcome"),
            reconcile_duration: add.metric(
                "reconcile_duration_seconds",
                "Duration of one FlinkJob reconcile",
                Histogram::new(exponential_buckets(0.0001, 4.0, 10)),
            ),
            reconcile_errors: add.new_metric(
                "reconcile_errors",
                "Reconciles that failed and will be retried",
            ),
            events: add.new_metric("events", "Kubernetes Events published"),
            registry: RwLock::new(registry),
            last_encoded_len: AtomicUsize::new(0),
        };
        // Outcome series exist from the start at 0, so an alert on the error rate has a
        // series to look at before the first error (and the metric names are always listed).
        for outcome in [Outcome::Success, Outcome::Error] {
            let labels = OutcomeLabels { outcome };
            let _ = metrics.polls.get_or_create(&labels);
            let _ = metrics.status_patches.get_or_create(&labels);
        }
        metrics
    }

    /// Lists every `kind` of `reconcile_errors` at 0 (`controller::ReconcileError`'s kinds),
    /// so an alert on them has a series before the first error.
    pub fn list_reconcile_error_kinds(&self, kinds: &[&'static str]) {
        for &kind in kinds {
            let _ = self
                .reconcile_errors
                .get_or_create(&ReconcileErrorLabels { kind });
        }
    }

    /// Registers metrics owned by another part (the controller), under the same prefix.
    pub fn registry_mut(&mut self) -> &mut Registry {
        self.registry.get_mut().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds metrics computed at encode time from state another part owns (e.g. the
    /// cluster registry's gauges), so every scrape sees one consistent view of it.
    pub fn register_collector(&self, collector: Box<dyn Collector>) {
        self.registry
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .register_collector(collector);
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        let last = self.last_encoded_len.load(Ordering::Relaxed);
        let mut out = String::with_capacity(last + last / 16);
        // A poisoned lock still holds a whole registry: it is only written when a
        // collector is added.
        let registry = self.registry.read().unwrap_or_else(|e| e.into_inner());
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        self.last_encoded_len.store(out.len(), Ordering::Relaxed);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scrape_starts_with_room_for_the_last_ones_text_not_a_doubling_more() {
        let metrics = Metrics::new();
        let first = metrics.encode();
        let second = metrics.encode();
        assert_eq!(first, second);
        // Grown by doubling, the buffer would be up to twice the text.
        assert!(
            second.capacity() <= first.len() + first.len() / 16,
            "{}",
            second.capacity()
        );
    }
}
