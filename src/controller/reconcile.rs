//! One FlinkJob: observe, compute the status (pure), and write it only when it changed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Api, Resource, ResourceExt};
use tokio::sync::watch;

use crate::clusters::Registry;
use crate::crd::{FIELD_MANAGER, FlinkJob, FlinkJobStatus};
use crate::metrics::{Metrics, Outcome, OutcomeLabels};

use super::events::{EventPublisher, transition_events};
use super::observe::observe;
use super::status;

pub struct Context {
    pub client: kube::Client,
    pub registry: Arc<Registry>,
    pub requeue_after: Duration,
    /// Whether this replica may write (always true without leader election).
    pub leading: watch::Receiver<bool>,
    pub events: EventPublisher,
    pub metrics: Arc<Metrics>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("FlinkJob {name} has no namespace")]
    MissingNamespace { name: String },

    #[error("failed to write the status of FlinkJob {namespace}/{name}: {source}")]
    WriteStatus {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
}

/// What a reconcile did, for tests and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReconcileOutcome {
    Unchanged,
    Written,
    NotLeader,
}

pub async fn reconcile(job: Arc<FlinkJob>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let started = Instant::now();
    let result = reconcile_inner(&job, &ctx).await;
    ctx.metrics.reconcile_duration.observe(started.elapsed().as_secs_f64());
    result.map(|_| Action::requeue(ctx.requeue_after))
}

pub async fn reconcile_inner(job: &FlinkJob, ctx: &Context) -> Result<ReconcileOutcome, ReconcileError> {
    let name = job.name_any();
    let namespace = job
        .namespace()
        .ok_or_else(|| ReconcileError::MissingNamespace { name: name.clone() })?;
    let observed = observe(&ctx.registry, job).await;
    let next = status::compute(job.status.as_ref(), job.metadata.generation, &observed, Timestamp::now());
    if job.status.as_ref() == Some(&next) {
        return Ok(ReconcileOutcome::Unchanged);
    }
    if !*ctx.leading.borrow() {
        return Ok(ReconcileOutcome::NotLeader);
    }
    let api: Api<FlinkJob> = Api::namespaced(ctx.client.clone(), &namespace);
    let written = write_status(&api, &name, &next).await;
    let outcome = if written.is_ok() { Outcome::Success } else { Outcome::Error };
    ctx.metrics.status_patches.get_or_create(&OutcomeLabels { outcome }).inc();
    written.map_err(|source| ReconcileError::WriteStatus {
        namespace: namespace.clone(),
        name: name.clone(),
        source,
    })?;
    tracing::debug!(%namespace, %name, state = ?next.state, "status written");
    let events = transition_events(job.status.as_ref(), &next);
    if !events.is_empty() {
        let published = ctx.events.publish(&events, &job.object_ref(&())).await;
        ctx.metrics.events.inc_by(published as u64);
    }
    Ok(ReconcileOutcome::Written)
}

/// Server-side apply of the whole status under our one field manager.
pub async fn write_status(api: &Api<FlinkJob>, name: &str, status: &FlinkJobStatus) -> Result<(), kube::Error> {
    let patch = serde_json::json!({
        "apiVersion": FlinkJob::api_version(&()),
        "kind": FlinkJob::kind(&()),
        "status": status,
    });
    api.patch_status(name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(patch))
        .await
        .map(drop)
}

/// Failed reconciles (the API server refused a write) are retried with backoff by the
/// controller's queue; here we only log and pick the delay.
pub fn error_policy(job: Arc<FlinkJob>, error: &ReconcileError, ctx: Arc<Context>) -> Action {
    tracing::warn!(name = %job.name_any(), namespace = ?job.namespace(), %error, "reconcile failed; will retry");
    ctx.metrics.reconcile_errors.inc();
    Action::requeue(Duration::from_secs(5))
}
