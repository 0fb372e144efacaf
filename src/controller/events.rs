//! Kubernetes Events on state transitions (Normal) and failures (Warning), rate-limited so
//! a mass change (a JobManager with hundreds of jobs going away) cannot flood the API server,
//! and sent through the write gate like every other write.

use std::hash::Hasher;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event as KubeEvent;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::Resource as _;
use kube::api::{ObjectMeta, PostParams};
use kube::runtime::events::{Event, EventType};
use tokio::time::Instant;

use crate::crd::FlinkJobStatus;

use super::status::{CLUSTER_REACHABLE, FOUND, HEALTHY};
use super::writes::{Bucket, Fence, Priority, WriteGate, WriteKind};

/// The events a status change deserves. Pure. The first sight of a job (no state before) is
/// not a state change: a fresh install or a new FlinkJob sends no `StateChanged` for every
/// job it finds; a job found failed is still a Warning.
pub fn transition_events(previous: Option<&FlinkJobStatus>, next: &FlinkJobStatus) -> Vec<Event> {
    let mut events = Vec::new();
    let old_state = previous.and_then(|p| p.state.as_deref());
    if let Some(state) = next.state.as_deref()
        && old_state != Some(state)
    {
        let was = old_state.map(|s| format!(" (was {s})")).unwrap_or_default();
        if state == "FAILED" {
            let cause = next
                .last_exception
                .as_ref()
                .map(|e| format!(": {}", e.message))
                .unwrap_or_default();
            events.push(event(
                EventType::Warning,
                "JobFailed",
                format!("job failed{was}{cause}"),
            ));
        } else if old_state.is_some() {
            events.push(event(
                EventType::Normal,
                "StateChanged",
                format!("job is {state}{was}"),
            ));
        }
    }
    if went_false(previous, next, CLUSTER_REACHABLE) {
        let message = condition_message(next, CLUSTER_REACHABLE);
        events.push(event(EventType::Warning, "ClusterUnreachable", message));
    }
    if went_false(previous, next, FOUND) {
        let message = condition_message(next, FOUND);
        events.push(event(EventType::Warning, "JobNotFound", message));
    }
    if went_false(previous, next, HEALTHY) {
        let message = condition_message(next, HEALTHY);
        events.push(event(EventType::Warning, "JobDegraded", message));
    } else if condition_status(previous, HEALTHY) == Some("False")
        && condition_status(Some(next), HEALTHY) == Some("True")
    {
        events.push(event(
            EventType::Normal,
            "JobRecovered",
            "the job is healthy again".to_string(),
        ));
    }
    events
}

fn condition_status<'a>(status: Option<&'a FlinkJobStatus>, type_: &str) -> Option<&'a str> {
    status?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| c.status.as_str())
}

fn went_false(previous: Option<&FlinkJobStatus>, next: &FlinkJobStatus, type_: &str) -> bool {
    condition_status(Some(next), type_) == Some("False")
        && condition_status(previous, type_) != Some("False")
}

fn condition_message(status: &FlinkJobStatus, type_: &str) -> String {
    status
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| c.message.clone())
        .unwrap_or_default()
}

fn event(type_: EventType, reason: &str, note: String) -> Event {
    // The Events API caps the note at 1 kB.
    let note: String = note.chars().take(1000).collect();
    Event {
        type_,
        reason: reason.into(),
        note: Some(note),
        action: "Observe".into(),
        secondary: None,
    }
}

const CONTROLLER: &str = "flink-monitor";
/// Object names are DNS subdomains: at most 253 characters.
const MAX_NAME: usize = 253;

/// Publishes events as `events.k8s.io/v1` Events, each through the write gate (so it is
/// paced and fenced like a status write), behind a token bucket that drops what is over
/// `burst` at once, then `per_second`: an Event is never worth a queue of them.
///
/// Not kube-runtime's `Recorder`: its requests cannot carry the lease fence (the API
/// server's request `timeout`), and its series of repeats matter little for transitions
/// that are rare by design.
pub struct EventPublisher {
    client: kube::Client,
    gate: WriteGate,
    instance: String,
    bucket: Mutex<Bucket>,
    sent: AtomicU64,
}

impl EventPublisher {
    /// `instance`: this replica's name on its Events (the pod name).
    pub fn new(
        client: kube::Client,
        gate: WriteGate,
        instance: String,
        burst: u32,
        per_second: f64,
    ) -> Self {
        Self {
            client,
            gate,
            instance,
            bucket: Mutex::new(Bucket::new(burst, per_second, Instant::now())),
            sent: AtomicU64::new(0),
        }
    }

    /// Returns how many events were published; the rest were dropped by the rate limit
    /// or failed (which is logged: an event is never worth failing a reconcile).
    pub async fn publish(&self, events: &[Event], object: &ObjectReference) -> usize {
        let mut published = 0;
        for event in events {
            let allowed = self
                .bucket
                .lock()
                .map(|mut b| b.take(Instant::now()))
                .unwrap_or(false);
            if !allowed {
                tracing::debug!(reason = %event.reason, "event dropped by the rate limit");
                continue;
            }
            let sequence = self.sent.fetch_add(1, Ordering::Relaxed);
            let kube_event = to_kube_event(event, object, &self.instance, sequence);
            let namespace = object.namespace.as_deref().unwrap_or("default");
            let request = serde_json::to_vec(&kube_event)
                .map_err(kube::Error::SerdeError)
                .and_then(|body| {
                    kube::core::Request::new(KubeEvent::url_path(&(), Some(namespace)))
                        .create(&PostParams::default(), body)
                        .map_err(kube::Error::BuildRequest)
                });
            let result = match request {
                Ok(request) => self
                    .gate
                    .send::<KubeEvent>(
                        &self.client,
                        request,
                        Priority::Known,
                        Fence::Leader,
                        WriteKind::Event,
                    )
                    .await
                    .map(drop)
                    .map_err(|e| e.to_string()),
                Err(error) => Err(error.to_string()),
            };
            match result {
                Ok(()) => published += 1,
                Err(error) => {
                    tracing::warn!(reason = %event.reason, %error, "failed to publish an event")
                }
            }
        }
        published
    }
}

/// The Event about `object`: named after it, with a suffix unique to this replica's sends.
fn to_kube_event(
    event: &Event,
    object: &ObjectReference,
    instance: &str,
    sequence: u64,
) -> KubeEvent {
    let now = k8s_openapi::jiff::Timestamp::now();
    let mut hasher = fnv::FnvHasher::default();
    hasher.write(instance.as_bytes());
    hasher.write_u64(sequence);
    hasher.write_i128(now.as_nanosecond());
    let suffix = format!(".{:016x}", hasher.finish());
    let object_name = object.name.as_deref().unwrap_or("flinkjob");
    let name: String = object_name
        .chars()
        .take(MAX_NAME - suffix.len())
        .chain(suffix.chars())
        .collect();
    KubeEvent {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: object.namespace.clone(),
            ..ObjectMeta::default()
        },
        type_: Some(
            match event.type_ {
                EventType::Normal => "Normal",
                EventType::Warning => "Warning",
            }
            .into(),
        ),
        reason: Some(event.reason.clone()),
        note: event.note.clone(),
        action: Some(event.action.clone()),
        event_time: Some(MicroTime(now)),
        regarding: Some(object.clone()),
        reporting_controller: Some(CONTROLLER.into()),
        reporting_instance: Some(instance.into()),
        ..KubeEvent::default()
    }
}

/// Default rate limit: a burst of 50 events, then 5 per second.
pub const EVENT_BURST: u32 = 50;
pub const EVENTS_PER_SECOND: f64 = 5.0;

#[cfg(test)]
mod health_event_tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

    fn with_healthy(status: &str) -> FlinkJobStatus {
        FlinkJobStatus {
            state: Some("RUNNING".into()),
            conditions: vec![Condition {
                type_: HEALTHY.into(),
                status: status.into(),
                reason: "Restarting".into(),
                message: "Restarting: at least 3 restarts within 10m".into(),
                last_transition_time: Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
                observed_generation: None,
            }],
            ..Default::default()
        }
    }

    fn reasons(previous: Option<&FlinkJobStatus>, next: &FlinkJobStatus) -> Vec<String> {
        transition_events(previous, next)
            .into_iter()
            .map(|e| e.reason)
            .collect()
    }

    #[test]
    fn degraded_warns_once_and_recovered_is_told_once() {
        let healthy = with_healthy("True");
        let degraded = with_healthy("False");
        let unknown = with_healthy("Unknown");
        assert_eq!(reasons(Some(&healthy), &degraded), ["JobDegraded"]);
        let warning = &transition_events(Some(&healthy), &degraded)[0];
        assert_eq!(warning.type_, EventType::Warning);
        assert!(warning.note.as_deref().unwrap().contains("Restarting"));
        assert!(
            reasons(Some(&degraded), &degraded).is_empty(),
            "steady: no event"
        );
        assert_eq!(reasons(Some(&degraded), &healthy), ["JobRecovered"]);
        assert!(
            reasons(Some(&unknown), &healthy).is_empty(),
            "unknown to healthy is no recovery"
        );
        assert!(reasons(Some(&healthy), &healthy).is_empty());
    }
}
