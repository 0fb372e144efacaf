//! Kubernetes Events on state transitions (Normal) and failures (Warning), rate-limited so
//! a mass change (a JobManager with hundreds of jobs going away) cannot flood the API server.

use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use std::sync::Mutex;
use tokio::time::Instant;

use crate::crd::FlinkJobStatus;

use super::status::{CLUSTER_REACHABLE, FOUND, HEALTHY};

/// The events a status change deserves. Pure.
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
        } else {
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

/// Publishes events through kube-runtime's recorder (which folds repeats into series),
/// behind a token bucket: `burst` at once, then `per_second`.
pub struct EventPublisher {
    recorder: Recorder,
    bucket: Mutex<Bucket>,
}

struct Bucket {
    tokens: f64,
    burst: f64,
    per_second: f64,
    last: Instant,
}

impl Bucket {
    fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

impl EventPublisher {
    pub fn new(client: kube::Client, burst: u32, per_second: f64) -> Self {
        let reporter = Reporter {
            controller: "flink-monitor".into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Self {
            recorder: Recorder::new(client, reporter),
            bucket: Mutex::new(Bucket {
                tokens: burst as f64,
                burst: burst as f64,
                per_second,
                last: Instant::now(),
            }),
        }
    }

    /// Returns how many events were published; the rest were dropped by the rate limit
    /// or failed (which is logged: an event is never worth failing a reconcile).
    pub async fn publish(
        &self,
        events: &[Event],
        object: &k8s_openapi::api::core::v1::ObjectReference,
    ) -> usize {
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
            match self.recorder.publish(event, object).await {
                Ok(()) => published += 1,
                Err(error) => {
                    tracing::warn!(reason = %event.reason, %error, "failed to publish an event")
                }
            }
        }
        published
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
