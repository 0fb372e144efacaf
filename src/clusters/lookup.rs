//! Finding the job a name means across clusters, with the contract's rules for
//! unreachable clusters and names found on several clusters.

use std::sync::Arc;

use crate::flink::dto::JobOverview;

use super::cluster::Cluster;

#[derive(Debug)]
pub enum Lookup {
    Found {
        cluster: Arc<Cluster>,
        job: JobOverview,
    },
    /// Not in any last snapshot. `unreachable` lists the clusters that may hold it but
    /// could not be asked: (cluster id, why).
    NotFound { unreachable: Vec<(String, String)> },
    /// The name is on more than one cluster; the candidate ids, sorted.
    Ambiguous(Vec<String>),
}

/// Looks `name` up in the last snapshot of each cluster.
pub fn lookup_job(clusters: &[Arc<Cluster>], name: &str) -> Lookup {
    let mut found: Vec<(Arc<Cluster>, JobOverview)> = Vec::new();
    let mut unreachable = Vec::new();
    for cluster in clusters {
        let status = cluster.status();
        if let Some(job) = status.snapshot.as_ref().and_then(|s| s.job_named(name)) {
            found.push((cluster.clone(), job.clone()));
        }
        if !status.reachable {
            let why = match (&status.last_error, status.polled) {
                (Some(error), _) => format!("unreachable: {error}"),
                (None, false) => "not polled yet".to_string(),
                (None, true) => "unreachable".to_string(),
            };
            unreachable.push((cluster.id().to_string(), why));
        }
    }
    match found.len() {
        0 => Lookup::NotFound { unreachable },
        1 => {
            let (cluster, job) = found.remove(0);
            Lookup::Found { cluster, job }
        }
        _ => Lookup::Ambiguous(found.iter().map(|(c, _)| c.id().to_string()).collect()),
    }
}
