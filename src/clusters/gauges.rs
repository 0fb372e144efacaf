//! The gauges that describe the registry (clusters by source and reachability, jobs by
//! state), computed when `/metrics` is encoded. Each scrape reads every cluster's status
//! once and encodes what it read, so concurrent scrapes never see one another's half-built
//! values (clearing and refilling shared gauges per scrape did).

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::gauge::ConstGauge;

use crate::flink::JOB_STATES;
use crate::metrics::{ClusterLabels, Metrics, StateLabels, state_label};

use super::known::KnownClusters;

/// Registers the registry's gauges with `metrics`. Holds the registry weakly: the
/// registry holds the metrics.
pub fn register(metrics: &Metrics, registry: &Arc<KnownClusters>) {
    metrics.register_collector(Box::new(RegistryGauges {
        registry: Arc::downgrade(registry),
    }));
}

struct RegistryGauges {
    registry: Weak<KnownClusters>,
}

impl std::fmt::Debug for RegistryGauges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryGauges").finish_non_exhaustive()
    }
}

/// Clusters by (source, reachable) and jobs by state, as the registry shows them now.
struct Tally {
    clusters: BTreeMap<(&'static str, &'static str), i64>,
    jobs: BTreeMap<&'static str, i64>,
}

impl Tally {
    fn of(registry: &KnownClusters) -> Self {
        let mut clusters: BTreeMap<(&'static str, &'static str), i64> = BTreeMap::new();
        // Every state is present, at 0 when no job is in it, so a series does not vanish.
        let mut jobs: BTreeMap<&'static str, i64> = JOB_STATES
            .iter()
            .chain(["OTHER"].iter())
            .map(|state| (*state, 0))
            .collect();
        for cluster in registry.list() {
            let status = cluster.status();
            let reachable = if status.reachable { "true" } else { "false" };
            *clusters
                .entry((cluster.info().source.as_str(), reachable))
                .or_default() += 1;
            for job in status.snapshot.iter().flat_map(|s| s.jobs()) {
                *jobs.entry(state_label(job.state())).or_default() += 1;
            }
        }
        Self { clusters, jobs }
    }
}

impl Collector for RegistryGauges {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(registry) = self.registry.upgrade() else {
            return Ok(());
        };
        let tally = Tally::of(&registry);
        // Series in a stable order (label values sorted), one descriptor per family.
        let mut family = encoder.encode_descriptor(
            "clusters_by_source",
            "Known clusters by source and reachability",
            None,
            MetricType::Gauge,
        )?;
        for ((source, reachable), n) in tally.clusters {
            let labels = ClusterLabels { source, reachable };
            ConstGauge::new(n).encode(family.encode_family(&labels)?)?;
        }
        let mut family = encoder.encode_descriptor(
            "jobs",
            "Jobs in the last snapshots, by Flink state",
            None,
            MetricType::Gauge,
        )?;
        for (state, n) in tally.jobs {
            ConstGauge::new(n).encode(family.encode_family(&StateLabels { state })?)?;
        }
        Ok(())
    }
}
