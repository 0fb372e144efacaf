//! The difference between the registry and what discovery wants, and applying it.

use std::collections::BTreeMap;

use crate::clusters::{ClusterInfo, ClusterSource, KnownClusters};

/// What to change in the registry. Ordered by id, so applying it is deterministic.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// New clusters, and known ones whose address or identity changed.
    pub upserts: Vec<ClusterInfo>,
    /// Discovered clusters whose resource is gone.
    pub removals: Vec<String>,
    /// Wanted ids that belong to a static cluster, which discovery never replaces.
    pub blocked: Vec<String>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.upserts.is_empty() && self.removals.is_empty() && self.blocked.is_empty()
    }
}

/// Static clusters come from the command line: discovery neither removes nor replaces them.
pub fn changes<'a>(
    current: impl IntoIterator<Item = &'a ClusterInfo>,
    desired: &BTreeMap<String, ClusterInfo>,
) -> Changes {
    let current: BTreeMap<&str, &ClusterInfo> = current
        .into_iter()
        .map(|info| (info.id.as_str(), info))
        .collect();
    let mut changes = Changes {
        removals: current
            .values()
            .filter(|info| info.source != ClusterSource::Static)
            .filter(|info| !desired.contains_key(&info.id))
            .map(|info| info.id.clone())
            .collect(),
        ..Changes::default()
    };
    for (id, wanted) in desired {
        match current.get(id.as_str()) {
            Some(known) if known.source == ClusterSource::Static => {
                changes.blocked.push(id.clone())
            }
            Some(known) if *known == wanted => {}
            _ => changes.upserts.push(wanted.clone()),
        }
    }
    changes
}

/// Removals first, so a cluster never shows twice while it moves.
pub fn apply(registry: &KnownClusters, changes: &Changes) {
    for id in &changes.removals {
        registry.remove(id);
    }
    for info in &changes.upserts {
        registry.upsert(info.clone());
    }
    for id in &changes.blocked {
        tracing::warn!(
            cluster = %id,
            "a discovered cluster has the id of a --cluster entry; keeping the static one"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::Url;

    fn info(id: &str, source: ClusterSource, url: &str) -> ClusterInfo {
        ClusterInfo {
            id: id.into(),
            namespace: (source != ClusterSource::Static).then(|| "ns".into()),
            name: id.into(),
            source,
            url: Url::parse(url).unwrap(),
            owner: None,
        }
    }

    fn desired(infos: &[ClusterInfo]) -> BTreeMap<String, ClusterInfo> {
        infos.iter().map(|i| (i.id.clone(), i.clone())).collect()
    }

    /// From a registry holding `current` alone to a view of `wanted` alone.
    fn one_change(current: ClusterInfo, wanted: ClusterInfo) -> Changes {
        changes(&[current], &desired(&[wanted]))
    }

    #[test]
    fn adds_changes_and_removes_discovered_clusters_only() {
        let current = [
            info("local", ClusterSource::Static, "http://localhost:8081"),
            info("ns.same", ClusterSource::Service, "http://same.ns.svc:8081"),
            info(
                "ns.moved",
                ClusterSource::Service,
                "http://moved.ns.svc:8081",
            ),
            info(
                "ns.gone-svc",
                ClusterSource::Service,
                "http://gone-svc.ns.svc:8081",
            ),
            info(
                "ns.gone-fd",
                ClusterSource::FlinkDeployment,
                "http://gone-fd-rest.ns.svc:8081",
            ),
        ];
        let wanted = desired(&[
            info("ns.same", ClusterSource::Service, "http://same.ns.svc:8081"),
            info(
                "ns.moved",
                ClusterSource::Service,
                "http://moved.ns.svc:8082",
            ),
            info(
                "ns.new",
                ClusterSource::FlinkDeployment,
                "http://new-rest.ns.svc:8081",
            ),
        ]);
        let changes = changes(&current, &wanted);
        assert_eq!(
            changes
                .upserts
                .iter()
                .map(|i| i.id.as_str())
                .collect::<Vec<_>>(),
            ["ns.moved", "ns.new"]
        );
        assert_eq!(changes.upserts[0].url.as_str(), "http://moved.ns.svc:8082/");
        assert_eq!(changes.removals, ["ns.gone-fd", "ns.gone-svc"]);
        assert!(changes.blocked.is_empty());
    }

    #[test]
    fn nothing_to_do_when_in_step() {
        let current = [
            info("local", ClusterSource::Static, "http://localhost:8081"),
            info("ns.a", ClusterSource::Service, "http://a.ns.svc:8081"),
        ];
        let wanted = desired(&current[1..]);
        assert!(changes(&current, &wanted).is_empty());
        // An empty view removes every discovered cluster and keeps the static ones.
        assert_eq!(
            changes(&current, &BTreeMap::new()),
            Changes {
                removals: vec!["ns.a".into()],
                ..Changes::default()
            }
        );
    }

    #[test]
    fn a_source_change_is_an_upsert() {
        // The same id moving from a Service to a FlinkDeployment replaces the cluster.
        let changes = one_change(
            info("ns.x", ClusterSource::Service, "http://x.ns.svc:8081"),
            info(
                "ns.x",
                ClusterSource::FlinkDeployment,
                "http://x.ns.svc:8081",
            ),
        );
        assert_eq!(changes.upserts.len(), 1);
        assert!(changes.removals.is_empty());
    }

    #[test]
    fn static_clusters_are_never_replaced() {
        assert_eq!(
            one_change(
                info("prod", ClusterSource::Static, "http://jm:8081"),
                info("prod", ClusterSource::Service, "http://prod.ns.svc:8081"),
            ),
            Changes {
                blocked: vec!["prod".into()],
                ..Changes::default()
            }
        );
    }
}
