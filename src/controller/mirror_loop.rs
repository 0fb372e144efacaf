//! Mirror mode's driver: a pass of `mirror::sync` on every interval and cluster change,
//! while leading.

use std::sync::Arc;
use std::time::Duration;

use kube::runtime::reflector::Store;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::clusters::KnownClusters;
use crate::crd::FlinkJob;

use super::mirror;

/// What one mirror loop works on: a watched scope and the FlinkJobs listed in it.
pub(super) struct MirrorScope {
    pub client: kube::Client,
    pub registry: Arc<KnownClusters>,
    /// None: all namespaces.
    pub namespace: Option<String>,
    pub store: Store<FlinkJob>,
    /// The FlinkJob store has listed once.
    pub listed: watch::Receiver<bool>,
}

/// Creates mirrors when clusters change and on every interval, while leading.
pub(super) async fn mirror_loop(
    scope: MirrorScope,
    leading: watch::Receiver<bool>,
    interval: Duration,
    shutdown: CancellationToken,
) {
    let MirrorScope {
        client,
        registry,
        namespace,
        store,
        mut listed,
    } = scope;
    let mut changes = registry.subscribe();
    // The store must be complete first, or existing mirrors would look missing.
    tokio::select! {
        _ = shutdown.cancelled() => return,
        result = listed.wait_for(|done| *done) => if result.is_err() { return },
    }
    loop {
        if *leading.borrow() {
            let (created, failed) =
                mirror::sync(&client, &registry, namespace.as_deref(), &store).await;
            if created + failed > 0 {
                tracing::info!(created, failed, "mirror pass done");
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
            _ = changes.recv() => {
                // Let a burst of changes (many clusters polled at once) settle into one pass.
                tokio::time::sleep(Duration::from_millis(500)).await;
                while changes.try_recv().is_ok() {}
            }
        }
    }
}
