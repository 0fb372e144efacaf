//! What the registry shows about the job a FlinkJob names: its cluster (by the spec's
//! rules) and the job (by the same choice rule as the HTTP API).

use std::sync::Arc;

use crate::clusters::{Cluster, Lookup, Registry, find_job};
use crate::crd::{FlinkJob, FlinkJobStatus};

use super::status::{JobFacts, Observed};

/// The clusters a FlinkJob may mean: `spec.cluster` as an id, else as a name in the
/// FlinkJob's namespace; without it, every cluster discovered in that namespace.
pub fn candidate_clusters(
    registry: &Registry,
    namespace: &str,
    wanted: Option<&str>,
) -> Result<Vec<Arc<Cluster>>, String> {
    match wanted.filter(|w| !w.is_empty()) {
        Some(wanted) => registry
            .get(wanted)
            .or_else(|| registry.get(&format!("{namespace}.{wanted}")))
            .map(|c| vec![c])
            .ok_or_else(|| {
                format!("no cluster {wanted:?} is known (as an id, or as {namespace}.{wanted}); GET /clusters lists them")
            }),
        None => {
            let clusters: Vec<_> = registry
                .list()
                .into_iter()
                .filter(|c| c.info().namespace.as_deref() == Some(namespace))
                .collect();
            if clusters.is_empty() {
                Err(format!(
                    "no Flink cluster was discovered in namespace {namespace}; set spec.cluster to a cluster id"
                ))
            } else {
                Ok(clusters)
            }
        }
    }
}

/// Observes the job, reading its root exception from Flink only when it failed and the
/// exception is not already in the status (so steady state costs no Flink call).
pub async fn observe(registry: &Registry, job: &FlinkJob) -> Observed {
    let namespace = job.metadata.namespace.as_deref().unwrap_or_default();
    let clusters = match candidate_clusters(registry, namespace, job.spec.cluster.as_deref()) {
        Ok(clusters) => clusters,
        Err(message) => return Observed::NoCluster { message },
    };
    match find_job(&clusters, &job.spec.job_name) {
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
            let exception = if unreachable.is_none() && needs_exception(job.status.as_ref(), &facts)
            {
                cluster.root_exception(&facts.jid).await.ok()
            } else {
                None
            };
            Observed::Found {
                cluster: cluster.id().to_string(),
                unreachable,
                job: facts,
                flink_version: status.flink_version.clone(),
                exception,
            }
        }
        Lookup::NotFound { unreachable } => Observed::NotFound {
            clusters: clusters.iter().map(|c| c.id().to_string()).collect(),
            unreachable,
        },
        Lookup::Ambiguous(ids) => Observed::Ambiguous(ids),
    }
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
