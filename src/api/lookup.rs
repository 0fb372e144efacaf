//! Which job a request means: its scope (every cluster, or one), the lookup of the name in
//! it, and what a failed Flink read of that job answers.

use std::sync::Arc;

use crate::clusters::{Cluster, Lookup, lookup_job};
use crate::flink::FlinkError;
use crate::flink::dto::JobOverview;
use crate::time::rfc3339_or_ms;

use super::AppState;
use super::error::{ApiError, cluster_line};

/// Root paths look across every cluster; `/clusters/{cluster}/` paths at one.
pub(super) enum Scope {
    All,
    One(Arc<Cluster>),
}

impl Scope {
    pub(super) fn clusters(&self, app: &AppState) -> Vec<Arc<Cluster>> {
        match self {
            Scope::All => app.registry.list(),
            Scope::One(cluster) => vec![cluster.clone()],
        }
    }
}

/// The job a name means, on a cluster that can be asked now.
pub(super) fn resolve(
    app: &AppState,
    scope: &Scope,
    uuid: &str,
) -> Result<(Arc<Cluster>, JobOverview), ApiError> {
    match lookup_job(&scope.clusters(app), uuid) {
        Lookup::Found { cluster, job } => {
            let status = cluster.status();
            if !status.reachable {
                let since = status
                    .last_poll_ms()
                    .map(rfc3339_or_ms)
                    .unwrap_or_else(|| "never".into());
                let error = status.last_error.as_deref().unwrap_or("not polled yet");
                return Err(ApiError::flink_unavailable(
                    cluster.id(),
                    format!("unreachable (last successful poll: {since}): {error}"),
                ));
            }
            Ok((cluster, job))
        }
        // One cluster that cannot be asked cannot say the job is not there.
        Lookup::NotFound { unreachable }
            if matches!(scope, Scope::One(_)) && !unreachable.is_empty() =>
        {
            let (id, why) = &unreachable[0];
            Err(ApiError::flink_unavailable(
                id,
                format!("{why}; it cannot say whether the job is there"),
            ))
        }
        Lookup::NotFound { unreachable } => Err(ApiError::job_not_found(
            unreachable
                .iter()
                .map(|(id, why)| cluster_line(id, format!("{why}; the job may be there")))
                .collect(),
        )),
        Lookup::Ambiguous(ids) => Err(ApiError::ambiguous(ids)),
    }
}

/// A failed Flink read: a job Flink no longer knows is 4006, anything else 5005.
pub(super) fn flink_failure(cluster: &Cluster, error: FlinkError) -> ApiError {
    match error.status() {
        Some(404) => ApiError::job_not_found(vec![cluster_line(
            cluster.id(),
            "flink no longer knows the job",
        )]),
        _ => ApiError::flink_unavailable(cluster.id(), error),
    }
}
