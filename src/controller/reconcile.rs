//! One FlinkJob: observe, compute the status (pure), and write it only when it changed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Api, Resource, ResourceExt};
use tokio::sync::watch;

use crate::clusters::KnownClusters;
use crate::crd::{FIELD_MANAGER, FlinkJob, FlinkJobStatus};
use crate::metrics::{
    Metrics, Outcome, OutcomeLabels, RECONCILE_ERROR_KINDS, ReconcileErrorLabels,
};

use super::backoff::Backoff;
use super::events::{EventPublisher, transition_events};
use super::observe::observe;
use super::status;

pub struct Context {
    pub client: kube::Client,
    pub registry: Arc<KnownClusters>,
    pub requeue_after: Duration,
    /// Whether this replica may write (always true without leader election).
    pub leading: watch::Receiver<bool>,
    pub events: EventPublisher,
    pub metrics: Arc<Metrics>,
    /// Consecutive failed reconciles per FlinkJob, for the retry backoff.
    pub failures: Backoff,
}

/// Retry delays grow from `RETRY_BASE` to `RETRY_MAX`, each with ±25% jitter so a burst
/// of failures (an API server restart) does not come back as one burst.
const RETRY_BASE: Duration = Duration::from_millis(500);
const RETRY_MAX: Duration = Duration::from_secs(300);
/// A status write that takes longer than this is given up and retried.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// The delay before retry `attempt` (1-based); `jitter` in [0, 1).
pub fn retry_delay(attempt: u32, jitter: f64) -> Duration {
    let exponential =
        RETRY_BASE.saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1).min(20)));
    let capped = exponential.min(RETRY_MAX);
    capped.mul_f64(0.75 + 0.5 * jitter.clamp(0.0, 1.0))
}

/// A cheap jitter source; it need not be unpredictable, only spread out.
fn jitter() -> f64 {
    use std::hash::{BuildHasher, RandomState};
    let bits = RandomState::new().hash_one(std::time::SystemTime::now());
    (bits % 10_000) as f64 / 10_000.0
}

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("FlinkJob {name} has no namespace")]
    MissingNamespace { name: String },

    #[error("writing the status of FlinkJob {namespace}/{name} took longer than {WRITE_TIMEOUT:?}")]
    WriteTimeout { namespace: String, name: String },

    #[error("failed to write the status of FlinkJob {namespace}/{name}: {source}")]
    WriteStatus {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
}

impl ReconcileError {
    /// The `kind` label of `reconcile_errors`: one of [`RECONCILE_ERROR_KINDS`].
    pub fn kind(&self) -> &'static str {
        match self {
            Self::MissingNamespace { .. } => RECONCILE_ERROR_KINDS[0],
            Self::WriteTimeout { .. } => RECONCILE_ERROR_KINDS[1],
            Self::WriteStatus { .. } => RECONCILE_ERROR_KINDS[2],
        }
    }
}

/// What a reconcile did, for tests and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReconcileOutcome {
    Unchanged,
    Written,
    NotLeader,
    /// Discovery has not listed, or a candidate cluster was not polled: nothing written.
    NotKnownYet,
}

#[tracing::instrument(skip_all, fields(namespace = %job.namespace().unwrap_or_default(), name = %job.name_any()))]
pub async fn reconcile(job: Arc<FlinkJob>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let started = Instant::now();
    let result = reconcile_inner(&job, &ctx).await;
    ctx.metrics
        .reconcile_duration
        .observe(started.elapsed().as_secs_f64());
    if result.is_ok() {
        ctx.failures.succeeded(&object_key(&job));
    }
    result.map(|_| Action::requeue(ctx.requeue_after))
}

pub async fn reconcile_inner(
    job: &FlinkJob,
    ctx: &Context,
) -> Result<ReconcileOutcome, ReconcileError> {
    let name = job.name_any();
    let namespace = job
        .namespace()
        .ok_or_else(|| ReconcileError::MissingNamespace { name: name.clone() })?;
    let Some(observed) = observe(&ctx.registry, job).await else {
        // Not known yet: the cluster's first poll (or discovery) triggers a reconcile.
        return Ok(ReconcileOutcome::NotKnownYet);
    };
    let next = status::compute(
        job.status.as_ref(),
        job.metadata.generation,
        &observed,
        Timestamp::now(),
    );
    if job.status.as_ref() == Some(&next) {
        return Ok(ReconcileOutcome::Unchanged);
    }
    if !*ctx.leading.borrow() {
        return Ok(ReconcileOutcome::NotLeader);
    }
    let api: Api<FlinkJob> = Api::namespaced(ctx.client.clone(), &namespace);
    let written = match tokio::time::timeout(WRITE_TIMEOUT, write_status(&api, &name, &next)).await
    {
        Ok(result) => result.map_err(|source| ReconcileError::WriteStatus {
            namespace: namespace.clone(),
            name: name.clone(),
            source,
        }),
        Err(_) => Err(ReconcileError::WriteTimeout {
            namespace: namespace.clone(),
            name: name.clone(),
        }),
    };
    let outcome = if written.is_ok() {
        Outcome::Success
    } else {
        Outcome::Error
    };
    ctx.metrics
        .status_patches
        .get_or_create(&OutcomeLabels { outcome })
        .inc();
    written?;
    tracing::debug!(%namespace, %name, state = ?next.state, "status written");
    let events = transition_events(job.status.as_ref(), &next);
    if !events.is_empty() {
        let published = ctx.events.publish(&events, &job.object_ref(&())).await;
        ctx.metrics.events.inc_by(published as u64);
    }
    Ok(ReconcileOutcome::Written)
}

/// Server-side apply of the whole status under our one field manager.
pub async fn write_status(
    api: &Api<FlinkJob>,
    name: &str,
    status: &FlinkJobStatus,
) -> Result<(), kube::Error> {
    let patch = serde_json::json!({
        "apiVersion": FlinkJob::api_version(&()),
        "kind": FlinkJob::kind(&()),
        "status": status,
    });
    api.patch_status(
        name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(patch),
    )
    .await
    .map(drop)
}

/// A failed reconcile (the API server refused or did not answer a write) is retried with
/// exponential backoff and jitter. Nothing is lost meanwhile: the status is recomputed
/// from the snapshot on every attempt, so the write that succeeds carries the truth.
pub fn error_policy(job: Arc<FlinkJob>, error: &ReconcileError, ctx: Arc<Context>) -> Action {
    let attempt = ctx.failures.failed(&object_key(&job));
    let delay = retry_delay(attempt, jitter());
    tracing::warn!(name = %job.name_any(), namespace = ?job.namespace(), %error, attempt, retry_in = ?delay, "reconcile failed; will retry");
    ctx.metrics
        .reconcile_errors
        .get_or_create(&ReconcileErrorLabels { kind: error.kind() })
        .inc();
    Action::requeue(delay)
}

fn object_key(job: &FlinkJob) -> String {
    format!("{}/{}", job.namespace().unwrap_or_default(), job.name_any())
}
