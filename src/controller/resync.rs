//! The resync: every FlinkJob reconciled again every [`RESYNC`](super::RESYNC) (±25%)
//! whatever happens, a safety net (a status edited by hand, a change missed). One walk of the
//! store instead of a requeue entry per FlinkJob in the controller's queue: at 10,000
//! FlinkJobs those entries were about 0.6 KB each, between changes, for nothing.

use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use kube::runtime::reflector::{ObjectRef, Store};

use super::stored::StoredJob;

/// FlinkJobs handed to the controller at once, then [`PAUSE`]: the controller's queue holds
/// a slice of the store, not all of it, and 10,000 FlinkJobs go by in about 4 s.
const SLICE: usize = 256;
const PAUSE: Duration = Duration::from_millis(100);

/// Every FlinkJob in `store`, one walk every `every` (±25%, so replicas and restarts do not
/// line up), in slices.
pub(super) fn every(
    store: Store<StoredJob>,
    every: Duration,
) -> impl Stream<Item = ObjectRef<StoredJob>> + Send + 'static {
    walks(store, every, super::reconcile::jitter)
}

pub(super) fn walks(
    store: Store<StoredJob>,
    every: Duration,
    jitter: fn() -> f64,
) -> impl Stream<Item = ObjectRef<StoredJob>> + Send + 'static {
    let slices = futures::stream::unfold(
        (store, Vec::new()),
        move |(store, mut left): (Store<StoredJob>, Vec<Arc<StoredJob>>)| async move {
            if left.is_empty() {
                tokio::time::sleep(every.mul_f64(0.75 + 0.5 * jitter())).await;
                // Pointers to the stored objects; a slice's references are made when it goes.
                left = store.state();
            } else {
                tokio::time::sleep(PAUSE).await;
            }
            let slice: Vec<ObjectRef<StoredJob>> = left
                .split_off(left.len().saturating_sub(SLICE))
                .iter()
                .map(|job| ObjectRef::from_obj(job.as_ref()))
                .collect();
            Some((slice, (store, left)))
        },
    );
    futures::StreamExt::flat_map(slices, futures::stream::iter)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::{FlinkJob, FlinkJobSpec};
    use futures::StreamExt;
    use kube::runtime::reflector;
    use kube::runtime::watcher::Event;

    fn job(i: usize) -> StoredJob {
        let mut job = FlinkJob::new(
            &format!("job-{i}"),
            FlinkJobSpec {
                job_name: format!("job-{i}"),
                cluster: None,
                health: None,
            },
        );
        job.metadata.namespace = Some("team-a".into());
        job.into()
    }

    #[tokio::test(start_paused = true)]
    async fn every_flinkjob_comes_back_each_resync_in_slices() {
        let (store, mut writer) = reflector::store();
        let count = SLICE * 2 + 10;
        for i in 0..count {
            writer.apply_watcher_event(&Event::Apply(job(i)));
        }
        let every = Duration::from_secs(600);
        let started = tokio::time::Instant::now();
        let mut stream = Box::pin(walks(store, every, || 0.5));
        let first: Vec<ObjectRef<StoredJob>> = (&mut stream).take(count).collect().await;
        let first_walk = started.elapsed();
        assert!(
            first_walk >= every && first_walk < every + PAUSE * 3,
            "{first_walk:?}"
        );
        let mut names: Vec<String> = first.iter().map(|r| r.name.clone()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), count, "each FlinkJob once per walk");
        let next = stream.next().await.expect("a second walk");
        assert!(started.elapsed() >= every * 2, "{:?}", started.elapsed());
        assert!(next.name.starts_with("job-"));
    }
}
