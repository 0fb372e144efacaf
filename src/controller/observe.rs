//! What the registry shows about the job a FlinkJob names: its cluster (by the spec's
//! rules) and the job (by the same choice rule as the HTTP API).

use std::sync::Arc;

use crate::clusters::{Cluster, KnownClusters, Lookup, lookup_job};
use crate::crd::{FlinkJob, FlinkJobStatus};

use super::status::{JobFacts, Observed, last_exception};

/// The clusters a FlinkJob may mean: `spec.cluster` as a name in the FlinkJob's namespace,
/// else as a cluster id; without it, every cluster discovered in that namespace. A
/// FlinkJob only sees clusters of its own namespace and static ones, so a tenant cannot
/// read another namespace's jobs through it.
pub fn candidate_clusters(
    registry: &KnownClusters,
    namespace: &str,
    wanted: Option<&str>,
) -> Result<Vec<Arc<Cluster>>, String> {
    match wanted.filter(|w| !w.is_empty()) {
        Some(wanted) => {
            let cluster = registry
                .get(&format!("{namespace}.{wanted}"))
                .or_else(|| registry.get(wanted))
                .ok_or_else(|| {
                    format!(
                        "no cluster {wanted:?} is known (as {namespace}.{wanted}, or as an id); GET /clusters lists them"
                    )
                })?;
            match cluster.info().namespace.as_deref() {
                Some(other) if other != namespace => Err(format!(
                    "cluster {} is in namespace {other}; a FlinkJob may track clusters of its own namespace ({namespace}) or static ones",
                    cluster.id()
                )),
                _ => Ok(vec![cluster]),
            }
        }
        None => {
            let clusters: Vec<_> = registry
                .list()
                .into_iter()
                .filter(|c| c.info().namespace.as_deref() == Some(namespace))
                .collect();
            if clusters.is_empty() {
                Err(format!(
                    "no Flink cluster was discovered in namespace {namespace}; set spec.cluster to a static cluster's name"
                ))
            } else {
                Ok(clusters)
            }
        }
    }
}

/// Observes the job, reading its root exception from Flink only when it failed and the
/// exception is not already known (so steady state costs no Flink call). None while
/// nothing can be said yet: discovery has not listed, or a candidate cluster has not been
/// polled. What is computed from "not known yet" must never be written.
pub async fn observe(registry: &KnownClusters, job: &FlinkJob) -> Option<Observed> {
    if !registry.discovered() {
        return None;
    }
    let namespace = job.metadata.namespace.as_deref().unwrap_or_default();
    let clusters = match candidate_clusters(registry, namespace, job.spec.cluster.as_deref()) {
        Ok(clusters) => clusters,
        Err(message) => return Some(Observed::NoCluster { message }),
    };
    if clusters.iter().any(|c| !c.status().polled) {
        return None;
    }
    Some(match lookup_job(&clusters, &job.spec.job_name) {
        Lookup::Found {
            cluster,
            job: found,
        } => {
            let status = cluster.status();
            let facts = JobFacts {
                jid: found.jid.clone(),
                state: found.state().to_string(),
                start_time: found.start_time,
                end_time: found.end_time,
            };
            let unreachable = (!status.reachable).then(|| {
                status
                    .last_error
                    .clone()
                    .unwrap_or_else(|| "not polled yet".into())
            });
            let exception = if unreachable.is_none()
                && needs_exception(job.status.as_ref(), &facts)
                && !cluster.has_no_exception(&facts.jid)
            {
                let read = cluster.root_exception(&facts.jid).await.ok();
                if facts.state == "FAILED"
                    && read.as_ref().is_some_and(|r| last_exception(r).is_none())
                {
                    // Terminal: it will never have one. Do not ask on every requeue.
                    cluster.remember_no_exception(&facts.jid);
                }
                read
            } else {
                None
            };
            let health = super::health::facts(
                &cluster,
                &status,
                &found,
                job.spec.health.as_ref(),
                job.status.as_ref(),
                crate::time::now_ms(),
            )
            .map(Box::new);
            Observed::Found {
                cluster: cluster.id().to_string(),
                unreachable,
                job: facts,
                flink_version: status.flink_version.clone(),
                exception,
                health,
            }
        }
        Lookup::NotFound { unreachable } => Observed::NotFound {
            clusters: clusters.iter().map(|c| c.id().to_string()).collect(),
            unreachable,
        },
        Lookup::Ambiguous(ids) => Observed::Ambiguous(ids),
    })
}

fn needs_exception(previous: Option<&FlinkJobStatus>, job: &JobFacts) -> bool {
    let failing = matches!(job.state.as_str(), "FAILED" | "FAILING" | "RESTARTING");
    let known = previous.is_some_and(|p| {
        p.job_id.as_deref() == Some(job.jid.as_str())
            && p.state.as_deref() == Some(job.state.as_str())
            && p.last_exception.is_some()
    });
    failing && !known
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clusters::testing::{add_cluster, quiet_registry};
    use crate::clusters::{ClusterInfo, ClusterSource};
    use crate::flink::ClientSettings;

    fn info(id: &str, namespace: Option<&str>, name: &str) -> ClusterInfo {
        ClusterInfo {
            id: id.into(),
            namespace: namespace.map(String::from),
            name: name.into(),
            source: if namespace.is_some() {
                ClusterSource::Service
            } else {
                ClusterSource::Static
            },
            url: "http://127.0.0.1:9".parse().unwrap(),
            owner: None,
        }
    }

    #[tokio::test]
    async fn names_in_the_own_namespace_win_and_other_namespaces_are_off_limits() {
        let registry = quiet_registry(ClientSettings::default());
        for cluster in [
            info("orders", None, "orders"),
            info("team-a.orders", Some("team-a"), "orders"),
            info("team-b.billing", Some("team-b"), "billing"),
        ] {
            add_cluster(&registry, cluster, serde_json::json!([]), true).await;
        }

        let ids = |r: Result<Vec<Arc<Cluster>>, String>| {
            r.map(|cs| cs.iter().map(|c| c.id().to_string()).collect::<Vec<_>>())
        };
        assert_eq!(
            ids(candidate_clusters(&registry, "team-a", Some("orders"))),
            Ok(vec!["team-a.orders".to_string()])
        );
        assert_eq!(
            ids(candidate_clusters(&registry, "team-b", Some("orders"))),
            Ok(vec!["orders".to_string()]),
            "static clusters are for everyone"
        );
        assert_eq!(
            ids(candidate_clusters(&registry, "team-a", None)),
            Ok(vec!["team-a.orders".to_string()])
        );
        let refused = candidate_clusters(&registry, "team-a", Some("team-b.billing")).unwrap_err();
        assert!(refused.contains("namespace team-b"), "{refused}");
        assert!(candidate_clusters(&registry, "team-c", None).is_err());
        assert!(candidate_clusters(&registry, "team-a", Some("nope")).is_err());
    }
}
