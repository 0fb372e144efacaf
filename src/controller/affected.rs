//! Which FlinkJobs a cluster change concerns, as a stream for `Controller::reconcile_on`.

use std::sync::Arc;

use futures::{Stream, StreamExt};
use kube::ResourceExt;
use kube::runtime::reflector::{ObjectRef, Store};
use tokio::sync::broadcast;

use crate::clusters::{ClusterChanged, KnownClusters};
use crate::crd::FlinkJob;

/// FlinkJobs to reconcile now because a cluster's snapshot or reachability changed: the
/// ones in its namespace, or naming it, or last found on it. A lagging receiver means
/// changes were missed, so then every FlinkJob is reconciled.
pub(super) fn affected_jobs(
    changes: broadcast::Receiver<ClusterChanged>,
    store: Store<FlinkJob>,
    registry: Arc<KnownClusters>,
) -> impl Stream<Item = ObjectRef<FlinkJob>> + Send + 'static {
    let changes = futures::stream::unfold(changes, |mut rx| async move {
        match rx.recv().await {
            Ok(change) => Some((Some(change.cluster), rx)),
            Err(broadcast::error::RecvError::Lagged(_)) => Some((None, rx)),
            Err(broadcast::error::RecvError::Closed) => None,
        }
    });
    changes.flat_map(move |cluster| {
        let namespace = cluster
            .as_deref()
            .and_then(|id| registry.get(id))
            .and_then(|c| c.info().namespace.clone());
        let refs: Vec<ObjectRef<FlinkJob>> = store
            .state()
            .iter()
            .filter(|job| match cluster.as_deref() {
                None => true,
                Some(id) => {
                    namespace.is_some() && job.namespace() == namespace
                        || job.spec.cluster.as_deref() == Some(id)
                        || job.status.as_ref().and_then(|s| s.cluster.as_deref()) == Some(id)
                }
            })
            .map(|job| ObjectRef::from_obj(job.as_ref()))
            .collect();
        futures::stream::iter(refs)
    })
}
