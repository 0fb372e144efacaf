//! Leader election with a `coordination.k8s.io/v1` Lease, so that with several replicas
//! only one writes status and creates mirrors. Every write carries the resourceVersion it
//! was decided on, so two replicas racing for an expired lease cannot both win: the
//! API server answers the loser 409.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Api;
use kube::api::{ObjectMeta, PostParams};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone)]
pub struct LeaseConfig {
    pub name: String,
    pub namespace: String,
    /// This replica (the pod name).
    pub identity: String,
    /// A holder that has not renewed for this long has lost the lease.
    pub duration: Duration,
    /// How often the holder renews (and others check).
    pub renew_every: Duration,
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

pub fn decide(
    lease: Option<&Lease>,
    identity: &str,
    now: Timestamp,
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
    let duration = spec
        .lease_duration_seconds
        .map(|s| Duration::from_secs(s.max(0) as u64))
        .unwrap_or(default_duration);
    let renewed = spec.renew_time.or(spec.acquire_time).map(|t| t.0);
    let expired = match renewed {
        Some(at) => {
            now.duration_since(at)
                > SignedDuration::try_from(duration).unwrap_or(SignedDuration::MAX)
        }
        None => true,
    };
    if expired {
        Decision::TakeOver
    } else {
        Decision::Standby { holder }
    }
}

/// The lease as we want it after `decision`; `base` carries the resourceVersion the
/// decision was made on (the precondition of the replace).
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
    spec.lease_duration_seconds = Some(config.duration.as_secs() as i32);
    spec.renew_time = Some(MicroTime(now));
    lease.spec = Some(spec);
    lease
}

/// Keeps trying to hold the lease until shutdown, publishing whether we lead. Releases it
/// on shutdown so another replica takes over at once instead of after the lease expires.
pub async fn run(
    api: Api<Lease>,
    config: LeaseConfig,
    leading: watch::Sender<bool>,
    shutdown: CancellationToken,
) {
    loop {
        let is_leader = match try_lead(&api, &config).await {
            Ok(is_leader) => is_leader,
            Err(error) => {
                tracing::warn!(lease = %config.name, %error, "failed to read or write the lease");
                // Without a successful renewal we may have lost it: stop writing.
                false
            }
        };
        if leading.send_replace(is_leader) != is_leader {
            tracing::info!(lease = %config.name, identity = %config.identity, leader = is_leader, "leadership changed");
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(config.renew_every) => {}
        }
    }
    if *leading.borrow() {
        leading.send_replace(false);
        if let Err(error) = release(&api, &config).await {
            tracing::warn!(lease = %config.name, %error, "failed to release the lease");
        } else {
            tracing::info!(lease = %config.name, "lease released");
        }
    }
}

async fn try_lead(api: &Api<Lease>, config: &LeaseConfig) -> Result<bool, kube::Error> {
    let current = api.get_opt(&config.name).await?;
    let now = Timestamp::now();
    let decision = decide(current.as_ref(), &config.identity, now, config.duration);
    let desired = desired_lease(current.as_ref(), config, &decision, now);
    let result = match decision {
        Decision::Standby { .. } => return Ok(false),
        Decision::Create => api.create(&PostParams::default(), &desired).await,
        Decision::Renew | Decision::TakeOver => {
            api.replace(&config.name, &PostParams::default(), &desired)
                .await
        }
    };
    match result {
        Ok(_) => Ok(true),
        // Another replica wrote first (create raced, or resourceVersion moved on).
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
        Err(error) => Err(error),
    }
}

async fn release(api: &Api<Lease>, config: &LeaseConfig) -> Result<(), kube::Error> {
    let Some(mut lease) = api.get_opt(&config.name).await? else {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(holder: Option<&str>, renewed_secs_ago: i64, now: Timestamp) -> Lease {
        Lease {
            metadata: ObjectMeta {
                name: Some("flink-monitor".into()),
                resource_version: Some("42".into()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: holder.map(String::from),
                lease_duration_seconds: Some(15),
                renew_time: Some(MicroTime(now - SignedDuration::from_secs(renewed_secs_ago))),
                ..LeaseSpec::default()
            }),
        }
    }

    #[test]
    fn decisions() {
        let now = Timestamp::now();
        let d = Duration::from_secs(15);
        assert_eq!(decide(None, "a", now, d), Decision::Create);
        assert_eq!(
            decide(Some(&lease(Some("a"), 5, now)), "a", now, d),
            Decision::Renew
        );
        assert_eq!(
            decide(Some(&lease(Some("b"), 5, now)), "a", now, d),
            Decision::Standby { holder: "b".into() }
        );
        assert_eq!(
            decide(Some(&lease(Some("b"), 20, now)), "a", now, d),
            Decision::TakeOver
        );
        assert_eq!(
            decide(Some(&lease(None, 1, now)), "a", now, d),
            Decision::TakeOver
        );
    }

    #[test]
    fn a_take_over_keeps_the_resource_version_as_its_precondition() {
        let now = Timestamp::now();
        let config = LeaseConfig {
            name: "flink-monitor".into(),
            namespace: "ops".into(),
            identity: "a".into(),
            duration: Duration::from_secs(15),
            renew_every: Duration::from_secs(5),
        };
        let old = lease(Some("b"), 20, now);
        let new = desired_lease(Some(&old), &config, &Decision::TakeOver, now);
        assert_eq!(new.metadata.resource_version.as_deref(), Some("42"));
        let spec = new.spec.unwrap();
        assert_eq!(spec.holder_identity.as_deref(), Some("a"));
        assert_eq!(spec.lease_transitions, Some(1));
        assert_eq!(spec.renew_time, Some(MicroTime(now)));
    }
}

#[cfg(test)]
mod api_tests {
    use super::*;
    use axum::http::{Method, Request, Response};
    use kube::client::Body;
    use serde_json::json;

    fn config() -> LeaseConfig {
        LeaseConfig {
            name: "flink-monitor".into(),
            namespace: "ops".into(),
            identity: "replica-a".into(),
            duration: Duration::from_secs(15),
            renew_every: Duration::from_secs(5),
        }
    }

    fn expired_lease_of_b() -> serde_json::Value {
        json!({
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": "flink-monitor", "namespace": "ops", "resourceVersion": "42"},
            "spec": {"holderIdentity": "replica-b", "leaseDurationSeconds": 15, "renewTime": "2020-01-01T00:00:00.000000Z"}
        })
    }

    async fn take_over_answered(status: u16) -> (bool, serde_json::Value) {
        let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let api: Api<Lease> = Api::namespaced(kube::Client::new(service, "ops"), "ops");
        let server = tokio::spawn(async move {
            let (request, send) = handle.next_request().await.unwrap();
            assert_eq!(
                (request.method(), request.uri().path()),
                (
                    &Method::GET,
                    "/apis/coordination.k8s.io/v1/namespaces/ops/leases/flink-monitor"
                )
            );
            send.send_response(
                Response::builder()
                    .body(Body::from(expired_lease_of_b().to_string().into_bytes()))
                    .unwrap(),
            );
            let (request, send) = handle.next_request().await.unwrap();
            assert_eq!(
                request.method(),
                Method::PUT,
                "a take-over replaces the lease it read"
            );
            let body: serde_json::Value =
                serde_json::from_slice(&request.into_body().collect_bytes().await.unwrap())
                    .unwrap();
            let answer = if status == 200 {
                body.clone()
            } else {
                json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Conflict", "code": 409})
            };
            send.send_response(
                Response::builder()
                    .status(status)
                    .body(Body::from(answer.to_string().into_bytes()))
                    .unwrap(),
            );
            body
        });
        let won = try_lead(&api, &config()).await.unwrap();
        (won, server.await.unwrap())
    }

    #[tokio::test]
    async fn an_expired_lease_is_taken_with_its_resource_version_as_precondition() {
        let (won, sent) = take_over_answered(200).await;
        assert!(won);
        assert_eq!(sent["metadata"]["resourceVersion"], "42");
        assert_eq!(sent["spec"]["holderIdentity"], "replica-a");
        assert_eq!(sent["spec"]["leaseTransitions"], 1);
    }

    #[tokio::test]
    async fn losing_the_race_for_a_lease_means_standing_by() {
        // Another replica renewed or took it first: the API server answers 409.
        let (won, _) = take_over_answered(409).await;
        assert!(!won, "two replicas must never both lead");
    }
}

#[cfg(test)]
mod shutdown_tests {
    use super::*;
    use axum::http::{Method, Request, Response};
    use kube::client::Body;
    use serde_json::json;

    #[tokio::test]
    async fn the_lease_is_released_on_shutdown() {
        let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let api: Api<Lease> = Api::namespaced(kube::Client::new(service, "ops"), "ops");
        let config = LeaseConfig {
            name: "flink-monitor".into(),
            namespace: "ops".into(),
            identity: "replica-a".into(),
            duration: Duration::from_secs(15),
            renew_every: Duration::from_secs(3600),
        };
        let (leading_tx, mut leading) = watch::channel(false);
        let shutdown = CancellationToken::new();
        let elector = tokio::spawn(run(api, config, leading_tx, shutdown.clone()));

        let not_found = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404});
        let (request, send) = handle.next_request().await.unwrap();
        assert_eq!(request.method(), Method::GET);
        send.send_response(
            Response::builder()
                .status(404)
                .body(Body::from(not_found.to_string().into_bytes()))
                .unwrap(),
        );
        let (request, send) = handle.next_request().await.unwrap();
        assert_eq!(request.method(), Method::POST, "no lease yet: create it");
        let mut held: serde_json::Value =
            serde_json::from_slice(&request.into_body().collect_bytes().await.unwrap()).unwrap();
        held["metadata"]["resourceVersion"] = "7".into();
        send.send_response(
            Response::builder()
                .status(201)
                .body(Body::from(held.to_string().into_bytes()))
                .unwrap(),
        );
        leading.wait_for(|l| *l).await.unwrap();

        shutdown.cancel();
        let (request, send) = handle.next_request().await.unwrap();
        assert_eq!(request.method(), Method::GET);
        send.send_response(
            Response::builder()
                .body(Body::from(held.to_string().into_bytes()))
                .unwrap(),
        );
        let (request, send) = handle.next_request().await.unwrap();
        assert_eq!(
            request.method(),
            Method::PUT,
            "the holder gives the lease up"
        );
        let released: serde_json::Value =
            serde_json::from_slice(&request.into_body().collect_bytes().await.unwrap()).unwrap();
        assert!(
            released["spec"]
                .get("holderIdentity")
                .is_none_or(|h| h.is_null()),
            "{released}"
        );
        assert_eq!(released["metadata"]["resourceVersion"], "7");
        send.send_response(
            Response::builder()
                .body(Body::from(released.to_string().into_bytes()))
                .unwrap(),
        );
        elector.await.unwrap();
        assert!(!*leading.borrow(), "no longer leading once released");
    }
}
