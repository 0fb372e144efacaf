//! One FlinkJob: observe, compute the status (pure), and write it only when it changed.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};

use crate::clusters::KnownClusters;
use crate::crd::{FIELD_MANAGER, FlinkJob, FlinkJobStatus};
use crate::metrics::{Metrics, Outcome, OutcomeLabels, ReconcileErrorLabels};

use super::backoff::Backoff;
use super::events::{EventPublisher, transition_events};
use super::observe::observe;
use super::status;
use super::stored::StoredJob;
use super::writes::{Fence, Priority, WriteError, WriteGate, WriteKind};
use super::written::Written;

pub struct Context {
    pub client: kube::Client,
    pub registry: Arc<KnownClusters>,
    /// Every FlinkJob is reconciled again at least this often (with jitter), whatever
    /// triggers it: a safety net, not the way changes arrive.
    pub resync: Duration,
    /// Every write goes through it; it also says whether this replica leads.
    pub gate: WriteGate,
    pub events: EventPublisher,
    pub metrics: Arc<Metrics>,
    /// Consecutive failed reconciles per FlinkJob, for the retry backoff.
    pub failures: Backoff,
    /// Statuses written recently, for while the watch has not brought them back yet.
    pub written: Written,
}

impl Context {
    pub fn new(
        client: kube::Client,
        registry: Arc<KnownClusters>,
        gate: WriteGate,
        metrics: Arc<Metrics>,
        instance: String,
    ) -> Self {
        Self {
            events: EventPublisher::new(
                client.clone(),
                gate.clone(),
                instance,
                super::EVENT_BURST,
                super::EVENTS_PER_SECOND,
            ),
            client,
            registry,
            resync: RESYNC,
            gate,
            metrics,
            failures: Backoff::default(),
            written: Written::default(),
        }
    }
}

/// How often every FlinkJob is reconciled whatever happens (±25% jitter, so that FlinkJobs
/// reconciled together at start do not come back together).
pub const RESYNC: Duration = Duration::from_secs(600);

/// Retry delays grow from `RETRY_BASE` to `RETRY_MAX`, each with ±25% jitter so a burst
/// of failures (an API server restart) does not come back as one burst.
const RETRY_BASE: Duration = Duration::from_millis(500);
const RETRY_MAX: Duration = Duration::from_secs(300);

/// The delay before retry `attempt` (1-based); `jitter` in [0, 1).
pub fn retry_delay(attempt: u32, jitter: f64) -> Duration {
    let exponential =
        RETRY_BASE.saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1).min(20)));
    let capped = exponential.min(RETRY_MAX);
    capped.mul_f64(0.75 + 0.5 * jitter.clamp(0.0, 1.0))
}

/// A cheap jitter source; it need not be unpredictable, only spread out.
pub(super) fn jitter() -> f64 {
    use std::hash::{BuildHasher, RandomState};
    let bits = RandomState::new().hash_one(std::time::SystemTime::now());
    (bits % 10_000) as f64 / 10_000.0
}

/// Each variant's name in snake case is its `kind` label (`kind()`), and `VARIANTS`
/// (`strum::VariantNames`) lists them all: the metric's label values come from here alone.
#[derive(Debug, thiserror::Error, strum::IntoStaticStr, strum::VariantNames)]
#[strum(serialize_all = "snake_case")]
pub enum ReconcileError {
    #[error("FlinkJob {name} has no namespace")]
    MissingNamespace { name: String },

    #[error("writing the status of FlinkJob {namespace}/{name} took longer than {after:?}")]
    WriteTimeout {
        namespace: String,
        name: String,
        after: Duration,
    },

    #[error("failed to write the status of FlinkJob {namespace}/{name}: {source}")]
    WriteStatus {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
}

impl ReconcileError {
    /// The `kind` label of `reconcile_errors`: one of `ReconcileError::VARIANTS`.
    pub fn kind(&self) -> &'static str {
        self.into()
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

#[tracing::instrument(skip_all, fields(namespace = %stored.namespace().unwrap_or_default(), name = %stored.name_any()))]
pub async fn reconcile(
    stored: Arc<StoredJob>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    let started = Instant::now();
    // The whole FlinkJob, for as long as the reconcile runs.
    let job = stored.to_flinkjob();
    let result = reconcile_inner(&job, &ctx).await;
    ctx.metrics
        .reconcile_duration
        .observe(started.elapsed().as_secs_f64());
    if result.is_ok() {
        ctx.failures.succeeded(&object_key(&job));
    }
    // No requeue per FlinkJob: the resync walks the store (`resync::every`), so the
    // controller's queue holds no entry per object between changes. Only a status that
    // stands until a restart window is over comes back by itself.
    result.map(|_| match held_until_window_over(&job, &ctx) {
        Some(held) => Action::requeue(held),
        None => Action::await_change(),
    })
}

pub async fn reconcile_inner(
    job: &FlinkJob,
    ctx: &Context,
) -> Result<ReconcileOutcome, ReconcileError> {
    let name = job.name_any();
    let namespace = job
        .namespace()
        .ok_or_else(|| ReconcileError::MissingNamespace { name: name.clone() })?;
    // The watch may not have brought back what we wrote last: that is the status now.
    let job = match ctx.written.newer_than(job) {
        Some(status) => {
            let mut newer = job.clone();
            newer.status = Some(status);
            Cow::Owned(newer)
        }
        None => Cow::Borrowed(job),
    };
    let Some(observed) = observe(&ctx.registry, &job).await else {
        // Not known yet: the cluster's first poll (or discovery) triggers a reconcile.
        return Ok(ReconcileOutcome::NotKnownYet);
    };
    let previous = job.status.as_ref();
    let next = status::compute(
        previous,
        job.metadata.generation,
        &observed,
        Timestamp::now(),
    );
    if previous == Some(&next) {
        return Ok(ReconcileOutcome::Unchanged);
    }
    if !ctx.gate.leading() {
        return Ok(ReconcileOutcome::NotLeader);
    }
    // A job shown before goes ahead of first-time mirrors.
    let priority = match previous.and_then(|p| p.state.as_ref()) {
        Some(_) => Priority::Known,
        None => Priority::New,
    };
    let written = write_status(ctx, &namespace, &name, &next, priority).await;
    let outcome = if written.is_ok() {
        Outcome::Success
    } else {
        Outcome::Error
    };
    if !matches!(written, Err(WriteError::NotLeader)) {
        ctx.metrics
            .status_patches
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }
    let stored = match written {
        Ok(stored) => stored,
        Err(WriteError::NotLeader) => return Ok(ReconcileOutcome::NotLeader),
        Err(WriteError::TimedOut(after)) => {
            return Err(ReconcileError::WriteTimeout {
                namespace,
                name,
                after,
            });
        }
        Err(WriteError::Api(source)) => {
            return Err(ReconcileError::WriteStatus {
                namespace,
                name,
                source,
            });
        }
        Err(WriteError::Closed) => return Ok(ReconcileOutcome::NotLeader),
    };
    ctx.written.remember(&stored, next.clone());
    tracing::debug!(%namespace, %name, state = ?next.state, "status written");
    let events = transition_events(previous, &next);
    if !events.is_empty() {
        let published = ctx.events.publish(&events, &job.object_ref(&())).await;
        ctx.metrics.events.inc_by(published as u64);
    }
    Ok(ReconcileOutcome::Written)
}

/// Server-side apply of the whole status under our one field manager, through the write
/// gate (rate limit, slots in flight, the lease fence). Returns the object as stored.
pub async fn write_status(
    ctx: &Context,
    namespace: &str,
    name: &str,
    status: &FlinkJobStatus,
    priority: Priority,
) -> Result<FlinkJob, WriteError> {
    let patch = serde_json::json!({
        "apiVersion": FlinkJob::api_version(&()),
        "kind": FlinkJob::kind(&()),
        "status": status,
    });
    let request = kube::core::Request::new(FlinkJob::url_path(&(), Some(namespace)))
        .patch_subresource(
            "status",
            name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(patch),
        )
        .map_err(|e| WriteError::Api(kube::Error::BuildRequest(e)))?;
    ctx.gate
        .send(
            &ctx.client,
            request,
            priority,
            Fence::Leader,
            WriteKind::Status,
        )
        .await
}

/// How long `job`'s Degraded status stands only because a restart window is not over
/// yet (see `health::facts`): then it is reconciled again by itself, as nothing else
/// would trigger it.
fn held_until_window_over(job: &FlinkJob, ctx: &Context) -> Option<Duration> {
    let written = ctx.written.newer_than(job);
    let status = written.as_ref().or(job.status.as_ref())?;
    let condition = status
        .conditions
        .iter()
        .find(|c| c.type_ == status::HEALTHY && c.status == "False")?;
    let flags = ctx.registry.health_settings().thresholds;
    let window = super::health::thresholds(&flags, job.spec.health.as_ref())
        .ok()?
        .restart_window;
    let since = condition.last_transition_time.0.as_millisecond();
    let over = since.saturating_add(i64::try_from(window.as_millis()).unwrap_or(i64::MAX));
    let left = over.saturating_sub(crate::time::now_ms());
    let held = Duration::from_millis(u64::try_from(left).unwrap_or(0)) + Duration::from_secs(1);
    Some(held.min(ctx.resync))
}

/// A failed reconcile (the API server refused or did not answer a write) is retried with
/// exponential backoff and jitter. Nothing is lost meanwhile: the status is recomputed
/// from the snapshot on every attempt, so the write that succeeds carries the truth.
pub fn error_policy(job: Arc<StoredJob>, error: &ReconcileError, ctx: Arc<Context>) -> Action {
    let attempt = ctx.failures.failed(&object_key(job.as_ref()));
    let delay = retry_delay(attempt, jitter());
    tracing::warn!(name = %job.name_any(), namespace = ?job.namespace(), %error, attempt, retry_in = ?delay, "reconcile failed; will retry");
    ctx.metrics
        .reconcile_errors
        .get_or_create(&ReconcileErrorLabels { kind: error.kind() })
        .inc();
    Action::requeue(delay)
}

fn object_key(job: &impl ResourceExt) -> String {
    format!("{}/{}", job.namespace().unwrap_or_default(), job.name_any())
}
