//! Which FlinkJobs a cluster change concerns, as a stream for `Controller::reconcile_on`.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt};
use kube::runtime::reflector::{ObjectRef, Store};
use tokio::sync::broadcast;

use super::stored::StoredJob;
use crate::clusters::ClusterChanged;

/// Changes taken together: a poll round of 1,000 clusters is a few walks of the FlinkJobs,
/// not 1,000 walks of 10,000. A change waits at most [`GATHER`] for others to join it.
const BATCH: usize = 4096;
const GATHER: Duration = Duration::from_millis(100);

/// FlinkJobs to reconcile now because a cluster's snapshot or reachability changed: those
/// that may mean it (no `spec.cluster` and in its namespace, or naming it by name or id) or
/// were last found on it. A lagging receiver means changes were missed, so then every
/// FlinkJob is reconciled.
pub(super) fn affected_jobs(
    changes: broadcast::Receiver<ClusterChanged>,
    store: Store<StoredJob>,
) -> impl Stream<Item = ObjectRef<StoredJob>> + Send + 'static {
    let batches = futures::stream::unfold(changes, |mut rx| async move {
        let first = received(rx.recv().await)?;
        tokio::time::sleep(GATHER).await;
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(change) => batch.push(Some(change.cluster)),
                Err(broadcast::error::TryRecvError::Lagged(_)) => batch.push(None),
                Err(_) => break,
            }
        }
        Some((batch, rx))
    });
    batches.flat_map(move |batch| {
        let changed = Changed::of(&batch);
        let refs: Vec<ObjectRef<StoredJob>> = store
            .state()
            .iter()
            .filter(|job| changed.concerns(job))
            .map(|job| ObjectRef::from_obj(job.as_ref()))
            .collect();
        futures::stream::iter(refs)
    })
}

/// A change's cluster id; None: changes were missed. None at the end of the stream.
fn received(
    result: Result<ClusterChanged, broadcast::error::RecvError>,
) -> Option<Option<Arc<str>>> {
    match result {
        Ok(change) => Some(Some(change.cluster)),
        Err(broadcast::error::RecvError::Lagged(_)) => Some(None),
        Err(broadcast::error::RecvError::Closed) => None,
    }
}

/// A batch of changed cluster ids, indexed.
struct Changed<'a> {
    /// A change was missed: everything is concerned.
    all: bool,
    ids: HashSet<&'a str>,
    namespaces: HashSet<&'a str>,
    /// `(namespace, name)` of the discovered ones (id `<namespace>.<name>`).
    names: HashSet<(&'a str, &'a str)>,
}

impl<'a> Changed<'a> {
    fn of(batch: &'a [Option<Arc<str>>]) -> Self {
        let mut changed = Changed {
            all: false,
            ids: HashSet::new(),
            namespaces: HashSet::new(),
            names: HashSet::new(),
        };
        for id in batch {
            let Some(id) = id.as_deref() else {
                changed.all = true;
                continue;
            };
            changed.ids.insert(id);
            // Namespaces have no dot, static cluster names neither: a dot means discovered.
            if let Some((namespace, name)) = id.split_once('.') {
                changed.namespaces.insert(namespace);
                changed.names.insert((namespace, name));
            }
        }
        changed
    }

    fn concerns(&self, job: &StoredJob) -> bool {
        if self.all {
            return true;
        }
        let namespace = job.metadata.namespace.as_deref().unwrap_or_default();
        let concerned = match job.spec.cluster.as_deref().filter(|c| !c.is_empty()) {
            None => self.namespaces.contains(namespace),
            Some(wanted) => self.ids.contains(wanted) || self.names.contains(&(namespace, wanted)),
        };
        // Found on `<namespace>.<spec.cluster>` (a mirror): `names` above has answered.
        concerned
            || (!job.found_on_spec_cluster()
                && job
                    .found_on()
                    .is_some_and(|id| self.ids.contains(id.as_ref())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::{FlinkJob, FlinkJobSpec, FlinkJobStatus};

    fn job(namespace: &str, cluster: Option<&str>, found_on: Option<&str>) -> StoredJob {
        let mut job = FlinkJob::new(
            "j",
            FlinkJobSpec {
                job_name: "orders".into(),
                cluster: cluster.map(String::from),
                health: None,
            },
        );
        job.metadata.namespace = Some(namespace.into());
        job.status = found_on.map(|c| FlinkJobStatus {
            cluster: Some(c.into()),
            ..FlinkJobStatus::default()
        });
        job.into()
    }

    #[test]
    fn a_change_concerns_the_flinkjobs_that_may_mean_the_cluster() {
        let batch = [
            Some(Arc::from("team-a.orders")),
            Some(Arc::from("static-1")),
        ];
        let changed = Changed::of(&batch);
        for (job, concerned) in [
            (job("team-a", None, None), true),
            (job("team-a", Some(""), None), true),
            (job("team-a", Some("orders"), None), true),
            (job("team-b", Some("team-a.orders"), None), true),
            (job("team-b", Some("static-1"), None), true),
            (job("team-a", Some("billing"), None), false),
            (job("team-b", None, None), false),
            (job("team-b", Some("orders"), None), false),
            (job("team-a", Some("billing"), Some("team-a.orders")), true),
            (job("team-c", Some("x"), Some("team-c.x")), false),
        ] {
            assert_eq!(
                changed.concerns(&job),
                concerned,
                "{:?} in {:?}, found on {:?}",
                job.spec.cluster,
                job.metadata.namespace,
                job.found_on()
            );
        }
        let missed = [Some(Arc::from("team-a.orders")), None];
        assert!(Changed::of(&missed).concerns(&job("team-z", Some("q"), None)));
    }
}
