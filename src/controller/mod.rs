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
mod resync;
pub mod status;
mod stored;
mod watch_backoff;
pub mod writes;
mod written;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube::Api;
use kube::runtime::controller::{Config as RunnerConfig, Controller, Error as ControllerError};
use kube::runtime::reflector;
use kube::runtime::{WatchStreamExt, watcher};
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use crate::clusters::KnownClusters;
use crate::metrics::Metrics;

use affected::affected_jobs;
use mirror_loop::{MirrorPace, MirrorScope, mirror_loop};

pub use backoff::Backoff;
pub use events::{EVENT_BURST, EVENTS_PER_SECOND, EventPublisher, transition_events};
pub use lease::{Lead, LeaseConfig};
pub use observe::{candidate_clusters, observe};
pub use reconcile::{
    Context, RESYNC, ReconcileError, ReconcileOutcome, error_policy, reconcile, reconcile_inner,
    retry_delay, write_status,
};
pub use stored::StoredJob;
pub use watch_backoff::WatchBackoff;
pub use writes::{WriteGate, WriteLimits};

/// Reconciles running at once: each holds at most one write waiting in the gate, so this
/// bounds what waits in memory (the rest wait as names in the controller's queue).
const CONCURRENCY: u16 = 64;
/// How often the write summary is logged while writes happen.
const SUMMARY_EVERY: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct ControllerConfig {
    /// The poll interval: a mirror pass that failed is retried this soon.
    pub poll_interval: Duration,
    pub mirror: bool,
    /// Namespaces to watch; empty: all.
    pub namespaces: Vec<String>,
    /// Some: run leader election with this lease (several replicas).
    pub lease: Option<LeaseConfig>,
    /// This replica's name on the Events the controller sends (the pod name).
    pub instance: String,
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

/// What the lease task publishes before it has run: a replica with leader election starts
/// as a standby, one without always writes.
pub fn initial_lead(leader_election: bool) -> Lead {
    if leader_election {
        Lead::Standby
    } else {
        Lead::Unfenced
    }
}

/// Whether a watch event may need a reconcile. A FlinkJob whose status was computed for its
/// current spec (`observedGeneration` = `generation`) starts none when it changes: that is
/// our own status write coming back. Deletions need none either. The initial list (start,
/// re-list) reconciles every FlinkJob. Stateless, unlike kube-runtime's generation
/// predicate, whose cache kept a key per FlinkJob (about 0.2 KB each).
fn may_need_reconcile(event: &watcher::Event<StoredJob>) -> bool {
    match event {
        watcher::Event::Apply(job) => !job.status_is_current(),
        watcher::Event::Delete(_) => false,
        watcher::Event::Init | watcher::Event::InitApply(_) | watcher::Event::InitDone => true,
    }
}

/// Drops the statuses kept for writes whose echo never came (see `written`).
async fn prune_written(ctx: Arc<Context>, shutdown: CancellationToken) {
    let mut ticks = tokio::time::interval(written::PRUNE_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticks.tick() => ctx.written.prune(),
        }
    }
}

/// Runs until `shutdown`. Every write goes through `gate`; with a lease in `config`, the
/// lease task publishes through `lead` (the gate's fence).
pub async fn run(
    client: kube::Client,
    registry: Arc<KnownClusters>,
    metrics: Arc<Metrics>,
    config: ControllerConfig,
    gate: WriteGate,
    lead: watch::Sender<Lead>,
    shutdown: CancellationToken,
) {
    let leading = lead.subscribe();
    let mut tasks = Vec::new();
    if let Some(lease) = config.lease.clone() {
        let api = Api::namespaced(client.clone(), &lease.namespace);
        tasks.push(tokio::spawn(lease::run(api, lease, lead, shutdown.clone())));
    }
    tasks.push(tokio::spawn(writes::log_summaries(
        gate.clone(),
        SUMMARY_EVERY,
        shutdown.clone(),
    )));
    let ctx = Arc::new(Context::new(
        client.clone(),
        registry.clone(),
        gate.clone(),
        metrics,
        config.instance.clone(),
    ));
    tasks.push(tokio::spawn(prune_written(ctx.clone(), shutdown.clone())));
    let scopes: Vec<Option<String>> = if config.namespaces.is_empty() {
        vec![None]
    } else {
        config.namespaces.iter().cloned().map(Some).collect()
    };
    for namespace in scopes {
        // The store keeps each FlinkJob as a `StoredJob` (trimmed, status as JSON).
        let api: Api<StoredJob> = match &namespace {
            Some(ns) => Api::namespaced(client.clone(), ns),
            None => Api::all(client.clone()),
        };
        // One reflector for the controller, the mirror loop and the change triggers. The
        // mirror loop waits on its own signal: the store's `wait_until_ready` wakes only
        // one waiter (kube-rs #1243), and the Controller's runner is already waiting on it.
        let (store, writer) = reflector::store();
        let (listed_tx, listed) = watch::channel(false);
        let deleted = Arc::new(Notify::new());
        let on_delete = deleted.clone();
        let echoes = ctx.clone();
        let objects = watcher(api, watcher::Config::default().any_semantic())
            .backoff(WatchBackoff::default())
            .reflect(writer)
            .inspect(move |event| match event {
                Ok(watcher::Event::InitDone) => {
                    listed_tx.send_replace(true);
                }
                Ok(watcher::Event::Apply(job)) => echoes.written.seen(job),
                Ok(watcher::Event::Delete(_)) => on_delete.notify_one(),
                _ => {}
            })
            // Our own status writes start no reconcile; spec changes do.
            .filter(|event| std::future::ready(event.as_ref().map_or(true, may_need_reconcile)))
            .touched_objects();
        let controller = Controller::for_stream(objects, store.clone())
            .with_config(RunnerConfig::default().concurrency(CONCURRENCY));
        if config.mirror {
            tasks.push(tokio::spawn(mirror_loop(
                MirrorScope {
                    client: client.clone(),
                    gate: gate.clone(),
                    registry: registry.clone(),
                    namespace: namespace.clone(),
                    store: store.clone(),
                    listed,
                    deleted,
                },
                leading.clone(),
                MirrorPace {
                    retry: config.poll_interval,
                    resync: RESYNC,
                },
                shutdown.clone(),
            )));
        }
        let resyncs = resync::every(store.clone(), ctx.resync);
        let triggers = affected_jobs(registry.subscribe(), store);
        let ctx = ctx.clone();
        let shutdown = shutdown.clone();
        let gained = lease::gained(leading.clone());
        tasks.push(tokio::spawn(async move {
            tracing::info!(
                namespace = namespace.as_deref().unwrap_or("(all)"),
                "FlinkJob controller started"
            );
            controller
                .reconcile_on(triggers)
                .reconcile_on(resyncs)
                .reconcile_all_on(gained)
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
