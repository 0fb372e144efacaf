//! Warning Events on objects discovery had to skip (a bad `flinkmonitor.dev/rest-url`,
//! ...), so whoever annotated the object sees why on the object itself (`kubectl describe`).
//! One Event per object and reason while the problem lasts: discovery reports an object
//! again only once it was fixed and broke again.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};

use super::flinkdeployment;
use super::mapping::Skipped;

#[derive(Clone)]
pub(crate) struct SkipEvents {
    recorder: Recorder,
}

impl SkipEvents {
    pub fn new(client: kube::Client) -> Self {
        let reporter = Reporter {
            controller: "flink-monitor".into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Self {
            recorder: Recorder::new(client, reporter),
        }
    }

    /// Publishes in the background: discovery never waits for the API server for this.
    pub fn publish(&self, skipped: Vec<Skipped>) {
        if skipped.is_empty() {
            return;
        }
        let recorder = self.recorder.clone();
        tokio::spawn(async move {
            for skipped in skipped {
                let (event, object) = (event(&skipped), reference(&skipped));
                if let Err(error) = recorder.publish(&event, &object).await {
                    tracing::warn!(
                        kind = skipped.kind,
                        namespace = %skipped.namespace,
                        name = %skipped.name,
                        reason = event.reason,
                        %error,
                        "failed to publish the Warning Event about a skipped Flink cluster"
                    );
                }
            }
        });
    }
}

/// The Event about one skipped object. Its note is the skip reason, which never holds
/// credentials (see `SkipReason`).
pub(crate) fn event(skipped: &Skipped) -> Event {
    // The Events API caps the note at 1 kB.
    let note: String = format!("not watched as a Flink cluster: {}", skipped.reason)
        .chars()
        .take(1000)
        .collect();
    Event {
        type_: EventType::Warning,
        reason: skipped.reason.event_reason().into(),
        note: Some(note),
        action: "Discover".into(),
        secondary: None,
    }
}

pub(crate) fn reference(skipped: &Skipped) -> ObjectReference {
    let api_version = if skipped.kind == flinkdeployment::KIND {
        flinkdeployment::API_VERSION
    } else {
        "v1"
    };
    ObjectReference {
        api_version: Some(api_version.into()),
        kind: Some(skipped.kind.into()),
        namespace: Some(skipped.namespace.clone()),
        name: Some(skipped.name.clone()),
        uid: skipped.uid.clone(),
        ..ObjectReference::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::mapping::{REST_URL_ANNOTATION, parse_rest_url};
    use axum::http::Response;
    use kube::client::Body;
    use serde_json::Value;

    #[tokio::test]
    async fn a_refused_annotation_gets_a_warning_event_on_the_object_without_the_password() {
        let (client, mut api) = crate::testing::apiserver::client("default");
        let events = SkipEvents::new(client);
        let reason = parse_rest_url("http://admin:pw-s3cret@jm:8081/?x=1#frag").unwrap_err();
        events.publish(vec![Skipped {
            kind: "Service",
            namespace: "analytics".into(),
            name: "flink-jobmanager".into(),
            uid: Some("uid-1".into()),
            reason,
        }]);
        let (request, send) = api.next_request().await.expect("an Event is created");
        assert_eq!(
            request.uri().path(),
            "/apis/events.k8s.io/v1/namespaces/analytics/events"
        );
        let body = request.into_body().collect_bytes().await.unwrap();
        let text = String::from_utf8_lossy(&body).to_string();
        let event: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(event["type"], "Warning");
        assert_eq!(event["reason"], "InvalidRestUrl");
        assert_eq!(
            event["regarding"],
            serde_json::json!({"apiVersion": "v1", "kind": "Service", "namespace": "analytics",
                "name": "flink-jobmanager", "uid": "uid-1"})
        );
        let note = event["note"].as_str().unwrap();
        assert!(note.contains(REST_URL_ANNOTATION), "{note}");
        assert!(note.contains("credentials"), "{note}");
        assert!(!text.contains("pw-s3cret"), "{text}");
        send.send_response(
            Response::builder()
                .status(201)
                .body(Body::from(body.to_vec()))
                .unwrap(),
        );
    }
}
