//! Leader election with a `coordination.k8s.io/v1` Lease, so that with several replicas
//! only one writes status and creates mirrors.
//!
//! The rules (DESIGN.md "Lifecycle rules"), as in client-go's leaderelection:
//! - a standby judges expiry by when it saw the lease record last change, on its own
//!   monotonic clock, never by comparing the holder's `renewTime` with its own clock;
//! - the holder renews every `renew_period` and stops leading `renew_deadline` after the
//!   start of its last successful renew, even while a renew hangs; `renew_deadline` is
//!   shorter than the lease duration, so it stops writing before anyone may take over;
//! - every write carries the resourceVersion it was decided on, so two replicas racing for
//!   an expired lease cannot both win: the API server answers the loser 409;
//! - it publishes until when this replica leads ([`Lead`]): every other write is fenced by
//!   that instant (`writes::WriteGate`), so none can land after a standby could take over.
//!
//! Why not `kube-lease-manager` (0.13.1): its standbys take over when the holder's
//! `renewTime + duration` is before their own wall clock (clock skew lets them take over
//! early), a renew has no deadline and a failed or hung one leaves `is_leader` true, and it
//! clears an expired holder with a patch that has no precondition.

use std::time::Duration;

use futures::Stream;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::{ObjectMeta, PostParams};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone)]
pub struct LeaseConfig {
    pub name: String,
    pub namespace: String,
    /// This replica (the pod name).
    pub identity: String,
    /// A holder whose lease record has not changed for this long has lost the lease.
    pub duration: Duration,
    /// The holder stops leading this long after the start of its last successful renew.
    pub renew_deadline: Duration,
    /// How often the holder renews and a standby looks.
    pub renew_period: Duration,
}

/// What this replica may write, as the lease task last published it: every write checks it
/// and is bounded by its deadline (`writes::WriteGate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lead {
    /// No leader election: this replica always writes.
    Unfenced,
    /// Leading until then: the start of the last successful renew plus the renew deadline,
    /// before any other replica may take over.
    Until(Instant),
    /// Not leading.
    Standby,
}

impl Lead {
    pub fn leading_at(&self, now: Instant) -> bool {
        match self {
            Lead::Unfenced => true,
            Lead::Until(until) => now < *until,
            Lead::Standby => false,
        }
    }
}

/// The least time a leader has for its writes between two renewals, and the least margin
/// between the end of its leadership and the earliest take-over (a write's trip to the API
/// server must fit in it).
pub const MIN_ROOM: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeaseConfigError {
    #[error(
        "--lease-duration must be a whole number of seconds, at least 1s (a Lease stores seconds): got {0:?}"
    )]
    Duration(Duration),

    #[error(
        "--lease-renew-deadline ({deadline:?}) must be shorter than --lease-duration ({duration:?}), so that a leader stops writing before its lease can expire"
    )]
    Deadline {
        deadline: Duration,
        duration: Duration,
    },

    #[error(
        "--lease-renew-period ({period:?}) must be shorter than --lease-renew-deadline ({deadline:?}), so that a leader gets more than one try to renew"
    )]
    Period {
        period: Duration,
        deadline: Duration,
    },

    #[error(
        "--lease-renew-deadline ({deadline:?}) must be at least {MIN_ROOM:?} longer than --lease-renew-period ({period:?}): every write must land before the deadline, so a leader needs room for writes between two renewals"
    )]
    NoRoomToWrite {
        period: Duration,
        deadline: Duration,
    },

    #[error(
        "--lease-duration ({duration:?}) must be at least {MIN_ROOM:?} longer than --lease-renew-deadline ({deadline:?}): a write started just before the deadline needs that margin to reach the API server before another replica may take over"
    )]
    NoMargin {
        deadline: Duration,
        duration: Duration,
    },
}

impl LeaseConfig {
    /// Checks that a leader stops before its lease can expire (start-up).
    pub fn validate(&self) -> Result<(), LeaseConfigError> {
        let whole_seconds = self.duration.subsec_nanos() == 0
            && (1..=i32::MAX as u64).contains(&self.duration.as_secs());
        if !whole_seconds {
            return Err(LeaseConfigError::Duration(self.duration));
        }
        if self.renew_deadline >= self.duration {
            return Err(LeaseConfigError::Deadline {
                deadline: self.renew_deadline,
                duration: self.duration,
            });
        }
        if self.renew_period.is_zero() || self.renew_period >= self.renew_deadline {
            return Err(LeaseConfigError::Period {
                period: self.renew_period,
                deadline: self.renew_deadline,
            });
        }
        if self.renew_deadline - self.renew_period < MIN_ROOM {
            return Err(LeaseConfigError::NoRoomToWrite {
                period: self.renew_period,
                deadline: self.renew_deadline,
            });
        }
        if self.duration - self.renew_deadline < MIN_ROOM {
            return Err(LeaseConfigError::NoMargin {
                deadline: self.renew_deadline,
                duration: self.duration,
            });
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error("failed to read the lease: {0}")]
    Read(#[source] kube::Error),

    #[error("failed to write the lease: {0}")]
    Write(#[source] kube::Error),

    #[error("the lease request did not answer within {0:?}")]
    TimedOut(Duration),
}

/// The lease record as this replica last read it, and since when (its own clock) it has
/// not changed. A record that does not change for the lease duration has lost its holder,
/// whatever its `renewTime` says.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    record: Option<LeaseSpec>,
    since: Instant,
}

impl Observed {
    /// `previous` updated with the lease as read at `now`.
    pub fn update(previous: Option<Observed>, lease: Option<&Lease>, now: Instant) -> Observed {
        let record = lease.and_then(|l| l.spec.clone());
        match previous {
            Some(previous) if previous.record == record => previous,
            _ => Observed { record, since: now },
        }
    }
}

/// What to do with the lease as it is now. Pure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// No lease yet: create it, holding it.
    Create,
    /// We hold it: renew.
    Renew,
    /// Someone held it but let it expire (or released it): take it over.
    TakeOver,
    /// Someone else holds it.
    Standby { holder: String },
}

/// `observed` must be the observation of `lease` (see [`Observed::update`]).
pub fn decide(
    lease: Option<&Lease>,
    observed: &Observed,
    identity: &str,
    now: Instant,
    default_duration: Duration,
) -> Decision {
    let Some(lease) = lease else {
        return Decision::Create;
    };
    let spec = lease.spec.clone().unwrap_or_default();
    let holder = spec.holder_identity.clone().unwrap_or_default();
    if holder == identity {
        return Decision::Renew;
    }
    if holder.is_empty() {
        return Decision::TakeOver;
    }
    if now.saturating_duration_since(observed.since) >= holder_duration(&spec, default_duration) {
        Decision::TakeOver
    } else {
        Decision::Standby { holder }
    }
}

/// The holder's own lease duration: it promised to renew within it.
fn holder_duration(spec: &LeaseSpec, default_duration: Duration) -> Duration {
    spec.lease_duration_seconds
        .filter(|s| *s > 0)
        .map(|s| Duration::from_secs(s as u64))
        .unwrap_or(default_duration)
}

/// The lease as we want it after `decision`; `base` carries the resourceVersion the
/// decision was made on (the precondition of the replace). `now` is only written, never
/// compared with another replica's clock.
pub fn desired_lease(
    base: Option<&Lease>,
    config: &LeaseConfig,
    decision: &Decision,
    now: Timestamp,
) -> Lease {
    let mut lease = base.cloned().unwrap_or_else(|| Lease {
        metadata: ObjectMeta {
            name: Some(config.name.clone()),
            namespace: Some(config.namespace.clone()),
            ..ObjectMeta::default()
        },
        spec: None,
    });
    let mut spec = lease.spec.take().unwrap_or_else(LeaseSpec::default);
    if matches!(decision, Decision::Create | Decision::TakeOver) {
        spec.acquire_time = Some(MicroTime(now));
        spec.lease_transitions =
            Some(spec.lease_transitions.unwrap_or(0) + i32::from(*decision == Decision::TakeOver));
    }
    spec.holder_identity = Some(config.identity.clone());
    spec.lease_duration_seconds =
        Some(i32::try_from(config.duration.as_secs()).unwrap_or(i32::MAX));
    spec.renew_time = Some(MicroTime(now));
    lease.spec = Some(spec);
    lease
}

/// One replica's view of the election, between attempts.
#[derive(Debug)]
struct Elector {
    config: LeaseConfig,
    observed: Option<Observed>,
    /// Leading until then: the start of the last successful renew plus the renew deadline.
    lead_until: Option<Instant>,
    /// The record names us as far as we know (release it on shutdown).
    holds_record: bool,
    /// Standing by: when the holder's lease expires unless we see it renewed.
    standby_until: Option<Instant>,
}

/// What one attempt found.
#[derive(Debug)]
enum Attempt {
    /// We hold the lease: renewed, created or taken over.
    Holding,
    /// Someone else holds it, or won the race for it.
    NotHolding,
}

impl Elector {
    fn new(config: LeaseConfig) -> Self {
        Elector {
            config,
            observed: None,
            lead_until: None,
            holds_record: false,
            standby_until: None,
        }
    }

    /// Reads the lease and writes it if we hold it or may take it.
    async fn attempt(&mut self, api: &Api<Lease>) -> Result<Attempt, LeaseError> {
        self.standby_until = None;
        let current = api
            .get_opt(&self.config.name)
            .await
            .map_err(LeaseError::Read)?;
        let now = Instant::now();
        let observed = Observed::update(self.observed.take(), current.as_ref(), now);
        let decision = decide(
            current.as_ref(),
            &observed,
            &self.config.identity,
            now,
            self.config.duration,
        );
        if let (Decision::Standby { .. }, Some(spec)) = (&decision, &observed.record) {
            self.standby_until = Some(observed.since + holder_duration(spec, self.config.duration));
        }
        self.observed = Some(observed);
        let desired = desired_lease(current.as_ref(), &self.config, &decision, Timestamp::now());
        let result = match &decision {
            Decision::Standby { .. } => {
                self.holds_record = false;
                return Ok(Attempt::NotHolding);
            }
            Decision::Create => api.create(&PostParams::default(), &desired).await,
            Decision::Renew | Decision::TakeOver => {
                api.replace(&self.config.name, &PostParams::default(), &desired)
                    .await
            }
        };
        match result {
            Ok(written) => {
                self.holds_record = true;
                self.observed = Some(Observed::update(
                    self.observed.take(),
                    Some(&written),
                    Instant::now(),
                ));
                Ok(Attempt::Holding)
            }
            // Another replica wrote first (create raced, or resourceVersion moved on).
            Err(kube::Error::Api(status)) if status.code == 409 => {
                self.holds_record = false;
                Ok(Attempt::NotHolding)
            }
            Err(error) => Err(LeaseError::Write(error)),
        }
    }
}

/// Keeps trying to hold the lease until shutdown, publishing until when we lead. Releases it
/// on shutdown so another replica takes over at once instead of after the lease expires.
pub async fn run(
    api: Api<Lease>,
    config: LeaseConfig,
    leading: watch::Sender<Lead>,
    shutdown: CancellationToken,
) {
    let mut elector = Elector::new(config);
    let was_leading = std::sync::atomic::AtomicBool::new(false);
    let publish = |elector: &Elector, reason: &str| {
        let now = Instant::now();
        let lead = match elector.lead_until {
            Some(until) if now < until => Lead::Until(until),
            _ => Lead::Standby,
        };
        leading.send_if_modified(|current| std::mem::replace(current, lead) != lead);
        let now_leading = lead.leading_at(now);
        if was_leading.swap(now_leading, std::sync::atomic::Ordering::Relaxed) != now_leading {
            tracing::info!(
                lease = %elector.config.name,
                identity = %elector.config.identity,
                leader = now_leading,
                reason,
                "leadership changed"
            );
        }
    };
    loop {
        let started = Instant::now();
        // A renew may not outlive our leadership; a standby's look is bounded the same way.
        let give_up_at = match elector.lead_until {
            Some(until) if until > started => until,
            _ => started + elector.config.renew_deadline,
        };
        let outcome = tokio::select! {
            _ = shutdown.cancelled() => break,
            outcome = tokio::time::timeout_at(give_up_at, elector.attempt(&api)) => outcome
                .unwrap_or(Err(LeaseError::TimedOut(give_up_at - started))),
        };
        match outcome {
            Ok(Attempt::Holding) => {
                elector.lead_until = Some(started + elector.config.renew_deadline);
                publish(&elector, "holding the lease");
            }
            Ok(Attempt::NotHolding) => {
                elector.lead_until = None;
                publish(&elector, "held by another replica");
            }
            Err(error) => {
                // Keep leading until the deadline: a later try may still renew in time.
                tracing::warn!(lease = %elector.config.name, %error, "failed to read or write the lease");
                publish(&elector, "renew deadline passed");
            }
        }
        // A standby looks again as soon as the holder's lease would expire.
        let next = (started + elector.config.renew_period).min(
            elector
                .standby_until
                .unwrap_or(started + elector.config.renew_period),
        );
        let lead_until = elector
            .lead_until
            .filter(|_| was_leading.load(std::sync::atomic::Ordering::Relaxed));
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep_until(next) => {}
            // Stop writing at the deadline even if nothing else happens until then.
            _ = tokio::time::sleep_until(lead_until.unwrap_or(next)), if lead_until.is_some() => {
                publish(&elector, "renew deadline passed");
            }
        }
    }
    leading.send_replace(Lead::Standby);
    if elector.holds_record {
        if let Err(error) = release(&api, &elector.config).await {
            tracing::warn!(lease = %elector.config.name, %error, "failed to release the lease");
        } else {
            tracing::info!(lease = %elector.config.name, "lease released");
        }
    }
}

/// Fires each time this replica starts leading: a new leader reconciles everything at once
/// instead of waiting for each FlinkJob's next requeue. (Each renew publishes a later
/// deadline: that is no gain.)
pub fn gained(leading: watch::Receiver<Lead>) -> impl Stream<Item = ()> + Send + 'static {
    let was = leading.borrow().leading_at(Instant::now());
    futures::stream::unfold((leading, was), |(mut leading, mut was)| async move {
        loop {
            leading.changed().await.ok()?;
            let now = leading.borrow_and_update().leading_at(Instant::now());
            let gained = now && !was;
            was = now;
            if gained {
                return Some(((), (leading, was)));
            }
        }
    })
}

async fn release(api: &Api<Lease>, config: &LeaseConfig) -> Result<(), LeaseError> {
    let Some(mut lease) = api.get_opt(&config.name).await.map_err(LeaseError::Read)? else {
        return Ok(());
    };
    let Some(spec) = lease.spec.as_mut() else {
        return Ok(());
    };
    if spec.holder_identity.as_deref() != Some(config.identity.as_str()) {
        return Ok(());
    }
    spec.holder_identity = None;
    api.replace(&config.name, &PostParams::default(), &lease)
        .await
        .map(drop)
        .map_err(LeaseError::Write)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::jiff::SignedDuration;

    const DURATION: Duration = Duration::from_secs(15);

    /// A lease held by `holder`, renewed (by the holder's clock) `renewed_secs_ago`
    /// seconds before our wall clock's now.
    fn lease(holder: Option<&str>, renewed_secs_ago: i64) -> Lease {
        Lease {
            metadata: ObjectMeta {
                name: Some("flink-monitor".into()),
                resource_version: Some("42".into()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: holder.map(String::from),
                lease_duration_seconds: Some(15),
                renew_time: Some(MicroTime(
                    Timestamp::now() - SignedDuration::from_secs(renewed_secs_ago),
                )),
                ..LeaseSpec::default()
            }),
        }
    }

    fn seen(lease: &Lease, at: Instant) -> Observed {
        Observed::update(None, Some(lease), at)
    }

    #[test]
    fn decisions() {
        let t0 = Instant::now();
        let never = Observed::update(None, None, t0);
        assert_eq!(decide(None, &never, "a", t0, DURATION), Decision::Create);
        let ours = lease(Some("a"), 5);
        assert_eq!(
            decide(
                Some(&ours),
                &seen(&ours, t0),
                "a",
                t0 + DURATION * 10,
                DURATION
            ),
            Decision::Renew
        );
        let theirs = lease(Some("b"), 5);
        assert_eq!(
            decide(Some(&theirs), &seen(&theirs, t0), "a", t0, DURATION),
            Decision::Standby { holder: "b".into() }
        );
        assert_eq!(
            decide(
                Some(&theirs),
                &seen(&theirs, t0),
                "a",
                t0 + DURATION,
                DURATION
            ),
            Decision::TakeOver
        );
        let released = lease(None, 1);
        assert_eq!(
            decide(Some(&released), &seen(&released, t0), "a", t0, DURATION),
            Decision::TakeOver
        );
    }

    #[test]
    fn a_holder_whose_clock_is_behind_ours_keeps_its_lease_while_it_renews() {
        // Its renewTime says an hour ago: comparing clocks would take over at once.
        let t0 = Instant::now();
        let renewed = lease(Some("b"), 3600);
        assert_eq!(
            decide(Some(&renewed), &seen(&renewed, t0), "a", t0, DURATION),
            Decision::Standby { holder: "b".into() }
        );
        // It renews again (still an hour behind): the wait starts over.
        let observed = seen(&renewed, t0);
        let renewed_again = lease(Some("b"), 3590);
        let at = t0 + Duration::from_secs(10);
        let observed = Observed::update(Some(observed), Some(&renewed_again), at);
        assert_eq!(
            decide(
                Some(&renewed_again),
                &observed,
                "a",
                at + Duration::from_secs(14),
                DURATION
            ),
            Decision::Standby { holder: "b".into() }
        );
    }

    #[test]
    fn a_holder_whose_clock_is_ahead_of_ours_loses_its_lease_when_it_stops_renewing() {
        // Its renewTime says an hour from now: comparing clocks would wait an hour.
        let t0 = Instant::now();
        let stale = lease(Some("b"), -3600);
        let observed = seen(&stale, t0);
        let later = t0 + DURATION;
        let observed = Observed::update(Some(observed), Some(&stale), later);
        assert_eq!(
            decide(Some(&stale), &observed, "a", later, DURATION),
            Decision::TakeOver
        );
    }

    #[test]
    fn a_replica_that_just_started_waits_a_whole_lease_duration() {
        let t0 = Instant::now();
        let old = lease(Some("b"), 600);
        let observed = seen(&old, t0);
        assert_eq!(
            decide(
                Some(&old),
                &observed,
                "a",
                t0 + DURATION - Duration::from_millis(1),
                DURATION
            ),
            Decision::Standby { holder: "b".into() }
        );
    }

    #[test]
    fn a_take_over_keeps_the_resource_version_as_its_precondition() {
        let now = Timestamp::now();
        let old = lease(Some("b"), 20);
        let new = desired_lease(Some(&old), &config(), &Decision::TakeOver, now);
        assert_eq!(new.metadata.resource_version.as_deref(), Some("42"));
        let spec = new.spec.unwrap();
        assert_eq!(spec.holder_identity.as_deref(), Some("a"));
        assert_eq!(spec.lease_transitions, Some(1));
        assert_eq!(spec.renew_time, Some(MicroTime(now)));
        assert_eq!(spec.lease_duration_seconds, Some(15));
    }

    fn config() -> LeaseConfig {
        LeaseConfig {
            name: "flink-monitor".into(),
            namespace: "ops".into(),
            identity: "a".into(),
            duration: DURATION,
            renew_deadline: Duration::from_secs(10),
            renew_period: Duration::from_secs(2),
        }
    }

    #[test]
    fn a_leader_must_stop_before_its_lease_can_expire() {
        assert_eq!(config().validate(), Ok(()));
        let config = |duration: u64, deadline: u64, period: u64| LeaseConfig {
            duration: Duration::from_millis(duration),
            renew_deadline: Duration::from_millis(deadline),
            renew_period: Duration::from_millis(period),
            ..self::config()
        };
        // (duration, renew deadline, renew period) in ms, and the refusal each must get.
        type Refusal = fn(&LeaseConfigError) -> bool;
        let refused: [((u64, u64, u64), Refusal); 7] = [
            ((15_000, 15_000, 2_000), |e| {
                matches!(e, LeaseConfigError::Deadline { .. })
            }),
            ((15_000, 10_000, 10_000), |e| {
                matches!(e, LeaseConfigError::Period { .. })
            }),
            ((15_000, 10_000, 0), |e| {
                matches!(e, LeaseConfigError::Period { .. })
            }),
            ((1_500, 1_000, 200), |e| {
                matches!(e, LeaseConfigError::Duration(_))
            }),
            ((0, 0, 0), |e| matches!(e, LeaseConfigError::Duration(_))),
            // Writes need room between renewals, and a margin before a take-over.
            ((15_000, 10_000, 9_500), |e| {
                matches!(e, LeaseConfigError::NoRoomToWrite { .. })
            }),
            ((15_000, 14_500, 2_000), |e| {
                matches!(e, LeaseConfigError::NoMargin { .. })
            }),
        ];
        for ((duration, deadline, period), expected) in refused {
            let result = config(duration, deadline, period).validate();
            assert!(
                result.as_ref().is_err_and(expected),
                "{duration}/{deadline}/{period} ms: {result:?}"
            );
        }
        let message = config(15_000, 20_000, 2_000)
            .validate()
            .unwrap_err()
            .to_string();
        assert!(message.contains("--lease-renew-deadline"), "{message}");
        assert_eq!(
            config(3_000, 2_000, 250).validate(),
            Ok(()),
            "the scenarios' lease"
        );
        let message = config(15_000, 14_500, 2_000)
            .validate()
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("--lease-duration") && message.contains("margin"),
            "{message}"
        );
    }
}

#[cfg(test)]
mod api_tests {
    use super::*;
    use axum::http::{Method, Response};
    use kube::client::Body;
    use serde_json::json;
    use tower_test::mock::SendResponse;

    pub(super) use crate::testing::apiserver::{Handle as Mock, answer, body, failure};

    pub(super) fn config() -> LeaseConfig {
        LeaseConfig {
            name: "flink-monitor".into(),
            namespace: "ops".into(),
            identity: "replica-a".into(),
            duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            renew_period: Duration::from_secs(2),
        }
    }

    pub(super) fn mock_api() -> (Api<Lease>, Mock) {
        let (client, handle) = crate::testing::apiserver::client("ops");
        (Api::namespaced(client, "ops"), handle)
    }

    pub(super) fn lease_of_b() -> serde_json::Value {
        json!({
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": "flink-monitor", "namespace": "ops", "resourceVersion": "42"},
            // The holder's clock is far ahead of ours: only our own observation counts.
            "spec": {"holderIdentity": "replica-b", "leaseDurationSeconds": 15, "renewTime": "2999-01-01T00:00:00.000000Z"}
        })
    }

    /// The next request, which must be a `method` (`why`): its body, and where to answer.
    pub(super) async fn expect(
        handle: &mut Mock,
        method: Method,
        why: &str,
    ) -> (serde_json::Value, SendResponse<Response<Body>>) {
        let (request, send) = handle.next_request().await.unwrap();
        assert_eq!(request.method(), method, "{why}");
        (body(request).await, send)
    }

    /// Answers an elector's first attempt: no lease yet (the GET is answered 404), and the
    /// create that follows succeeds. Returns the lease as created, at resourceVersion 7.
    pub(super) async fn no_lease_then_created(handle: &mut Mock) -> serde_json::Value {
        let (_, send) = expect(handle, Method::GET, "a lease is read first").await;
        answer(send, 404, &failure(404, "NotFound"));
        let (mut held, send) = expect(handle, Method::POST, "no lease yet: create it").await;
        held["metadata"]["resourceVersion"] = "7".into();
        answer(send, 201, &held);
        held
    }

    /// `replica-b`'s lease, unchanged since we first saw it a lease duration ago; the
    /// replace that takes it over is answered `status`.
    async fn take_over_answered(status: u16) -> (bool, serde_json::Value) {
        let (api, mut handle) = mock_api();
        let server = tokio::spawn(async move {
            for _ in 0..2 {
                let (request, send) = handle.next_request().await.unwrap();
                assert_eq!(
                    (request.method(), request.uri().path()),
                    (
                        &Method::GET,
                        "/apis/coordination.k8s.io/v1/namespaces/ops/leases/flink-monitor"
                    )
                );
                answer(send, 200, &lease_of_b());
            }
            let why = "a take-over replaces the lease it read";
            let (body, send) = expect(&mut handle, Method::PUT, why).await;
            let reply = if status == 200 {
                body.clone()
            } else {
                failure(409, "Conflict")
            };
            answer(send, status, &reply);
            body
        });
        let mut elector = Elector::new(config());
        let first = elector.attempt(&api).await.unwrap();
        assert!(
            matches!(first, Attempt::NotHolding),
            "a lease just seen is not expired, whatever its renewTime"
        );
        tokio::time::advance(Duration::from_secs(15)).await;
        let won = matches!(elector.attempt(&api).await.unwrap(), Attempt::Holding);
        (won, server.await.unwrap())
    }

    #[tokio::test(start_paused = true)]
    async fn an_expired_lease_is_taken_with_its_resource_version_as_precondition() {
        let (won, sent) = take_over_answered(200).await;
        assert!(won);
        assert_eq!(sent["metadata"]["resourceVersion"], "42");
        assert_eq!(sent["spec"]["holderIdentity"], "replica-a");
        assert_eq!(sent["spec"]["leaseTransitions"], 1);
    }

    #[tokio::test(start_paused = true)]
    async fn losing_the_race_for_a_lease_means_standing_by() {
        // Another replica renewed or took it first: the API server answers 409.
        let (won, _) = take_over_answered(409).await;
        assert!(!won, "two replicas must never both lead");
    }
}

#[cfg(test)]
mod deadline_tests {
    use super::api_tests::{answer, config, failure, mock_api, no_lease_then_created};
    use super::*;
    use axum::http::Method;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Starts an elector whose first GET finds no lease and whose create succeeds; returns
    /// when it leads, with the mock and the instant the create was answered (nobody can have
    /// seen the lease before then, so it cannot expire before then plus its duration).
    async fn leading_elector() -> (
        super::api_tests::Mock,
        watch::Receiver<Lead>,
        Instant,
        CancellationToken,
    ) {
        let (api, mut handle) = mock_api();
        let (leading_tx, mut leading) = watch::channel(Lead::Standby);
        let shutdown = CancellationToken::new();
        tokio::spawn(run(api, config(), leading_tx, shutdown.clone()));
        no_lease_then_created(&mut handle).await;
        let written_at = Instant::now();
        leading
            .wait_for(|l| l.leading_at(Instant::now()))
            .await
            .unwrap();
        (handle, leading, written_at, shutdown)
    }

    /// Waits (at most 10 minutes of paused time) until the elector stops leading, which
    /// must happen before the lease written at `written_at` can expire; `why` says what
    /// ails the renews.
    async fn stops_leading_before_expiry(
        leading: &mut watch::Receiver<Lead>,
        written_at: Instant,
        why: &str,
    ) {
        let stopped = tokio::time::timeout(
            Duration::from_secs(600),
            leading.wait_for(|l| !l.leading_at(Instant::now())),
        )
        .await;
        assert!(
            stopped.is_ok(),
            "still leading 10 minutes after the last renew, {why}"
        );
        let stopped_at = Instant::now();
        assert!(
            stopped_at < written_at + config().duration,
            "stopped leading {:?} after the last write, its lease lasts {:?}",
            stopped_at - written_at,
            config().duration
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_hung_renew_stops_leading_before_the_lease_can_expire() {
        let (mut handle, mut leading, written_at, shutdown) = leading_elector().await;
        // The next renew's GET never gets an answer.
        let (request, _never_answered) = handle.next_request().await.unwrap();
        assert_eq!(request.method(), Method::GET);
        stops_leading_before_expiry(&mut leading, written_at, "with a renew hanging").await;
        shutdown.cancel();
    }

    #[tokio::test(start_paused = true)]
    async fn failing_renews_keep_leading_until_the_deadline_then_stop() {
        let (mut handle, mut leading, written_at, shutdown) = leading_elector().await;
        let failed = Arc::new(AtomicUsize::new(0));
        let server = {
            let failed = failed.clone();
            tokio::spawn(async move {
                while let Some((_, send)) = handle.next_request().await {
                    failed.fetch_add(1, Ordering::SeqCst);
                    answer(send, 500, &failure(500, "InternalError"));
                }
            })
        };
        stops_leading_before_expiry(&mut leading, written_at, "with every renew failing").await;
        let failed_while_leading = failed.load(Ordering::SeqCst);
        assert!(
            failed_while_leading >= 2,
            "one failed renew ({failed_while_leading}) must not end the lead: the next may succeed in time"
        );
        shutdown.cancel();
        server.abort();
    }
}

#[cfg(test)]
mod standby_tests {
    use super::api_tests::{answer, body, config, lease_of_b, mock_api};
    use super::*;
    use axum::http::Method;

    #[tokio::test(start_paused = true)]
    async fn a_standby_takes_over_when_the_lease_has_not_changed_for_its_duration() {
        let (api, mut handle) = mock_api();
        let config = LeaseConfig {
            renew_period: Duration::from_secs(4),
            ..config()
        };
        let (leading_tx, mut leading) = watch::channel(Lead::Standby);
        let shutdown = CancellationToken::new();
        tokio::spawn(run(api, config.clone(), leading_tx, shutdown.clone()));
        let mut first_seen = None;
        let taken_at = loop {
            let (request, send) = handle.next_request().await.unwrap();
            if request.method() == Method::PUT {
                let taken = body(request).await;
                answer(send, 200, &taken);
                break Instant::now();
            }
            first_seen.get_or_insert(Instant::now());
            answer(send, 200, &lease_of_b());
        };
        leading
            .wait_for(|l| l.leading_at(Instant::now()))
            .await
            .unwrap();
        let waited = taken_at - first_seen.unwrap();
        // Virtual time: exact. Not before the lease can expire, and not a renew period
        // later either: a standby looks again just when it would expire.
        assert_eq!(waited, config.duration, "took over after {waited:?}");
        shutdown.cancel();
    }
}

#[cfg(test)]
mod gained_tests {
    use super::*;
    use futures::StreamExt;

    #[tokio::test]
    async fn gaining_the_lead_fires_once_per_gain_not_per_renew() {
        let (tx, rx) = watch::channel(Lead::Standby);
        let mut gains = Box::pin(gained(rx));
        let later = |secs| Lead::Until(Instant::now() + Duration::from_secs(secs));
        let quiet = Duration::from_millis(50);
        tx.send_replace(later(10));
        assert_eq!(gains.next().await, Some(()));
        // Renewals publish later deadlines: no new gain.
        for renew in [later(11), later(12)] {
            tx.send_replace(renew);
            let fired = tokio::time::timeout(quiet, gains.next()).await;
            assert!(fired.is_err(), "a renew fired a gain");
        }
        tx.send_replace(Lead::Standby);
        assert!(
            tokio::time::timeout(quiet, gains.next()).await.is_err(),
            "a loss"
        );
        tx.send_replace(later(13));
        assert_eq!(gains.next().await, Some(()));
        drop(tx);
        assert_eq!(gains.next().await, None, "the end fires nothing");
    }
}

#[cfg(test)]
mod shutdown_tests {
    use super::api_tests::{answer, config, expect, mock_api, no_lease_then_created};
    use super::*;
    use axum::http::Method;

    #[tokio::test]
    async fn the_lease_is_released_on_shutdown() {
        let (api, mut handle) = mock_api();
        let config = LeaseConfig {
            duration: Duration::from_secs(7200),
            renew_deadline: Duration::from_secs(5400),
            renew_period: Duration::from_secs(3600),
            ..config()
        };
        let (leading_tx, mut leading) = watch::channel(Lead::Standby);
        let shutdown = CancellationToken::new();
        let elector = tokio::spawn(run(api, config, leading_tx, shutdown.clone()));
        let held = no_lease_then_created(&mut handle).await;
        leading
            .wait_for(|l| l.leading_at(Instant::now()))
            .await
            .unwrap();

        shutdown.cancel();
        let (_, send) = expect(&mut handle, Method::GET, "the release reads the lease").await;
        answer(send, 200, &held);
        let why = "the holder gives the lease up";
        let (released, send) = expect(&mut handle, Method::PUT, why).await;
        assert!(
            released["spec"]
                .get("holderIdentity")
                .is_none_or(|h| h.is_null()),
            "{released}"
        );
        assert_eq!(released["metadata"]["resourceVersion"], "7");
        answer(send, 200, &released);
        elector.await.unwrap();
        assert_eq!(
            *leading.borrow(),
            Lead::Standby,
            "no longer leading once released"
        );
    }
}
