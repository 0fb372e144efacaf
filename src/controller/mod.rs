//! The FlinkJob controller: status from the registry's snapshots, written by one writer
//! (gated by a Lease when several replicas run), and mirror mode.

mod events;
pub mod lease;
pub mod mirror;
mod observe;
mod reconcile;
pub mod status;

use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt};
use kube::runtime::controller::{Controller, Error as ControllerError};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Api, ResourceExt};
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;

use crate::clusters::{ClusterChanged, Registry};
use crate::crd::FlinkJob;
use crate::metrics::Metrics;

pub use events::{EVENT_BURST, EVENTS_PER_SECOND, EventPublisher, transition_events};
pub use lease::LeaseConfig;
pub use observe::{candidate_clusters, observe};
pub use reconcile::{
    Context, ReconcileError, ReconcileOutcome, error_policy, reconcile, reconcile_inner,
    retry_delay, write_status,
};

#[derive(Debug, Clone)]
pub struct ControllerConfig {
    /// Every FlinkJob is reconciled at least this often (the poll interval).
    pub requeue_after: Duration,
    pub mirror: bool,
    /// Namespaces to watch; empty: all.
    pub namespaces: Vec<String>,
    /// Some: run leader election with this lease (several replicas).
    pub lease: Option<LeaseConfig>,
}

/// The (apiGroup, resource, verbs) the controller needs, for the chart's RBAC check.
pub const REQUIRED_RBAC: &[(&str, &str, &[&str])] = &[
    (
        "flinkmonitor.dev",
        "flinkjobs",
        &["list", "watch", "create"],
    ),
    ("flinkmonitor.dev", "flinkjobs/status", &["patch"]),
    ("events.k8s.io", "events", &["create", "patch"]),
];

/// Lease RBAC, needed only with leader election.
pub const LEASE_RBAC: &[(&str, &str, &[&str])] = &[(
    "coordination.k8s.io",
    "leases",
    &["get", "create", "update"],
)];

/// Runs until `shutdown`.
pub async fn run(
    client: kube::Client,
    registry: Arc<Registry>,
    metrics: Arc<Metrics>,
    config: ControllerConfig,
    shutdown: CancellationToken,
) {
    let (leading_tx, leading) = watch::channel(config.lease.is_none());
    let mut tasks = Vec::new();
    if let Some(lease) = config.lease.clone() {
        let api = Api::namespaced(client.clone(), &lease.namespace);
        tasks.push(tokio::spawn(lease::run(
            api,
            lease,
            leading_tx,
            shutdown.clone(),
        )));
    }
    let ctx = Arc::new(Context {
        client: client.clone(),
        registry: registry.clone(),
        requeue_after: config.requeue_after,
        leading: leading.clone(),
        events: EventPublisher::new(client.clone(), EVENT_BURST, EVENTS_PER_SECOND),
        metrics,
        failures: Default::default(),
    });
    let scopes: Vec<Option<String>> = if config.namespaces.is_empty() {
        vec![None]
    } else {
        config.namespaces.iter().cloned().map(Some).collect()
    };
    for namespace in scopes {
        let api: Api<FlinkJob> = match &namespace {
            Some(ns) => Api::namespaced(client.clone(), ns),
            None => Api::all(client.clone()),
        };
        let controller = Controller::new(api, watcher::Config::default().any_semantic());
        let store = controller.store();
        if config.mirror {
            tasks.push(tokio::spawn(mirror_loop(
                client.clone(),
                registry.clone(),
                namespace.clone(),
                store.clone(),
                leading.clone(),
                config.requeue_after,
                shutdown.clone(),
            )));
        }
        let triggers = affected_jobs(registry.subscribe(), store, registry.clone());
        let ctx = ctx.clone();
        let shutdown = shutdown.clone();
        tasks.push(tokio::spawn(async move {
            tracing::info!(
                namespace = namespace.as_deref().unwrap_or("(all)"),
                "FlinkJob controller started"
            );
            controller
                .reconcile_on(triggers)
                .reconcile_all_on(lease::gained(ctx.leading.clone()))
                .graceful_shutdown_on(shutdown.cancelled_owned())
                .run(reconcile, error_policy, ctx)
                .for_each(|result| async move {
                    match result {
                        Ok(_) | Err(ControllerError::ReconcilerFailed(..)) | Err(ControllerError::ObjectNotFound(_)) => {}
                        Err(error) => tracing::warn!(
                            %error,
                            "watching FlinkJobs failed; is the CRD installed (kubectl apply -f crds/) and may flink-monitor list them? retrying"
                        ),
                    }
                })
                .await;
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
}

/// FlinkJobs to reconcile now because a cluster's snapshot or reachability changed: the
/// ones in its namespace, or naming it, or last found on it. A lagging receiver means
/// changes were missed, so then every FlinkJob is reconciled.
fn affected_jobs(
    changes: broadcast::Receiver<ClusterChanged>,
    store: Store<FlinkJob>,
    registry: Arc<Registry>,
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

/// Creates mirrors when clusters change and on every interval, while leading.
async fn mirror_loop(
    client: kube::Client,
    registry: Arc<Registry>,
    namespace: Option<String>,
    store: Store<FlinkJob>,
    leading: watch::Receiver<bool>,
    interval: Duration,
    shutdown: CancellationToken,
) {
    let mut changes = registry.subscribe();
    // The store must be complete first, or existing mirrors would look missing.
    tokio::select! {
        _ = shutdown.cancelled() => return,
        ready = store.wait_until_ready() => if ready.is_err() { return },
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

#[cfg(test)]
mod tests;
