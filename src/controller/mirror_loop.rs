//! Mirror mode's driver: a pass of `mirror::sync` when what it depends on changes (a
//! cluster's jobs, a FlinkJob deleted, leadership gained), again soon after a pass that
//! failed, and at the resync; nothing while nothing changes.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube::runtime::reflector::Store;
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use crate::clusters::KnownClusters;

use super::lease::{self, Lead};
use super::mirror;
use super::stored::StoredJob;
use super::writes::WriteGate;

/// Changes within this long of each other make one pass (many clusters polled at once).
const SETTLE: Duration = Duration::from_millis(500);

/// What one mirror loop works on: a watched scope and the FlinkJobs listed in it.
pub(super) struct MirrorScope {
    pub client: kube::Client,
    pub gate: WriteGate,
    pub registry: Arc<KnownClusters>,
    /// None: all namespaces.
    pub namespace: Option<String>,
    pub store: Store<StoredJob>,
    /// The FlinkJob store has listed once.
    pub listed: watch::Receiver<bool>,
    /// A FlinkJob of this scope was deleted (a mirror may be missing now).
    pub deleted: Arc<Notify>,
}

/// When passes run.
pub(super) struct MirrorPace {
    /// After a pass with failures, the next one comes this soon.
    pub retry: Duration,
    /// And at the latest after this long.
    pub resync: Duration,
}

/// Creates mirrors when clusters change, while leading.
pub(super) async fn mirror_loop(
    scope: MirrorScope,
    lead: watch::Receiver<Lead>,
    pace: MirrorPace,
    shutdown: CancellationToken,
) {
    let MirrorScope {
        client,
        gate,
        registry,
        namespace,
        store,
        mut listed,
        deleted,
    } = scope;
    let mut changes = registry.subscribe();
    let mut gains = Box::pin(lease::gained(lead));
    // The store must be complete first, or existing mirrors would look missing.
    tokio::select! {
        _ = shutdown.cancelled() => return,
        result = listed.wait_for(|done| *done) => if result.is_err() { return },
    }
    loop {
        let mut next = pace.resync;
        if gate.leading() {
            let outcome =
                mirror::sync(&client, &gate, &registry, namespace.as_deref(), &store).await;
            if outcome.created + outcome.failed > 0 {
                tracing::info!(
                    namespace = namespace.as_deref().unwrap_or("(all)"),
                    created = outcome.created,
                    failed = outcome.failed,
                    "mirror pass done"
                );
            }
            if outcome.failed > 0 {
                next = pace.retry;
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(next) => {}
            _ = deleted.notified() => tokio::time::sleep(SETTLE).await,
            Some(()) = gains.next() => {}
            _ = changes.recv() => {
                // Let a burst of changes (many clusters polled at once) settle into one pass.
                tokio::time::sleep(SETTLE).await;
                while changes.try_recv().is_ok() {}
            }
        }
    }
}
