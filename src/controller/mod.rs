//! The FlinkJob controller: status from the registry's snapshots, written by one writer
//! (gated by a Lease when several replicas run), and mirror mode.

mod affected;
mod backoff;
mod events;
pub mod health;
pub mod lease;
pub mod mirror;
mod mirror_loop;
mod observe;
mod reconcile;
pub mod status;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube::Api;
use kube::runtime::controller::{Controller, Error as ControllerError};
use kube::runtime::reflector;
use kube::runtime::{WatchStreamExt, predicates, watcher};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::clusters::KnownClusters;
use crate::crd::FlinkJob;
use crate::metrics::Metrics;

use affected::affected_jobs;
use mirror_loop::{MirrorScope, mirror_loop};

pub use backoff::Backoff;
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
    ("events.k8s.io", "events", &["get", "create", "patch"]),
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
    registry: Arc<KnownClusters>,
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
        failures: Backoff::default(),
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
        // Our own reflector, so that the mirror loop waits on its own signal: the store's
        // `wait_until_ready` wakes only one waiter (kube-rs #1243), and the Controller's
        // runner is already waiting on it.
        let (store, writer) = reflector::store();
        let (listed_tx, listed) = watch::channel(false);
        let objects = watcher(api, watcher::Config::default().any_semantic())
            .default_backoff()
            .reflect(writer)
            .inspect(move |event| {
                if matches!(event, Ok(watcher::Event::InitDone)) {
                    listed_tx.send_replace(true);
                }
            })
            .touched_objects()
            // Our own status writes and re-lists of unchanged objects start no reconcile;
            // spec changes do, and every FlinkJob is requeued each interval anyway.
            .predicate_filter(predicates::generation, Default::default());
        let controller = Controller::for_stream(objects, store.clone());
        if config.mirror {
            tasks.push(tokio::spawn(mirror_loop(
                MirrorScope {
                    client: client.clone(),
                    registry: registry.clone(),
                    namespace: namespace.clone(),
                    store: store.clone(),
                    listed,
                },
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

#[cfg(test)]
mod tests;
