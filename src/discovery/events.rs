//! Warning Events on objects discovery had to skip (a bad `flinkmonitor.dev/rest-url`,
//! ...), so whoever annotated the object sees why on the object itself (`kubectl describe`).
//! One Event per object and reason while the problem lasts: discovery reports an object
//! again only once it was fixed and broke again.

use std::hash::Hasher;

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Resource, ResourceExt};

use crate::controller::WriteGate;
use crate::controller::writes::{Fence, Priority, WriteError, WriteKind};

use super::flinkdeployment;
use super::mapping::Skipped;

const CONTROLLER: &str = "flink-monitor";
/// Object names are DNS subdomains: at most 253 characters.
const MAX_NAME: usize = 253;

#[derive(Clone)]
pub(crate) struct SkipEvents {
    client: kube::Client,
    /// Paced like every other write; not fenced: every replica may send these (each once).
    gate: WriteGate,
    instance: String,
}

impl SkipEvents {
    /// `instance`: this replica's name on its Events (the pod name).
    pub fn new(client: kube::Client, gate: WriteGate, instance: String) -> Self {
        Self {
            client,
            gate,
            instance,
        }
    }

    /// Publishes in the background: discovery never waits for the API server for this.
    /// Each Event's name is derived from the object and the problem, so every replica and
    /// every restart of flink-monitor means the same Event: one that exists already (the
    /// Events API keeps them about an hour) is not sent again.
    pub fn publish(&self, skipped: Vec<Skipped>) {
        if skipped.is_empty() {
            return;
        }
        let (client, gate, instance) = (
            self.client.clone(),
            self.gate.clone(),
            self.instance.clone(),
        );
        tokio::spawn(async move {
            for skipped in skipped {
                let event = event(&skipped, &instance);
                if let Err(error) = create_once(&client, &gate, &event).await {
                    tracing::warn!(
                        kind = skipped.kind,
                        namespace = %skipped.namespace,
                        name = %skipped.name,
                        reason = event.reason.as_deref().unwrap_or_default(),
                        %error,
                        "failed to publish the Warning Event about a skipped Flink cluster; check the RBAC rules for events.k8s.io events (get, create)"
                    );
                }
            }
        });
    }
}

/// Creates `event` unless an Event of that name exists (sent by another replica, or
/// before a restart). A read first, so a restart does not even try to write.
async fn create_once(
    client: &kube::Client,
    gate: &WriteGate,
    event: &Event,
) -> Result<(), WriteError> {
    let name = event.name_any();
    let namespace = event.namespace().unwrap_or_default();
    let events: Api<Event> = Api::namespaced(client.clone(), &namespace);
    if events
        .get_opt(&name)
        .await
        .map_err(WriteError::Api)?
        .is_some()
    {
        tracing::debug!(event = %name, "the Warning Event exists already");
        return Ok(());
    }
    let request = serde_json::to_vec(event)
        .map_err(kube::Error::SerdeError)
        .and_then(|body| {
            kube::core::Request::new(Event::url_path(&(), Some(&namespace)))
                .create(&PostParams::default(), body)
                .map_err(kube::Error::BuildRequest)
        })
        .map_err(WriteError::Api)?;
    match gate
        .send::<Event>(
            client,
            request,
            Priority::Known,
            Fence::None,
            WriteKind::Event,
        )
        .await
    {
        // Another replica created it between the read and the create.
        Err(error) if error.code() == Some(409) => Ok(()),
        other => other.map(drop),
    }
}

/// The Event about one skipped object. Its note is the skip reason, which never holds
/// credentials (see `SkipReason`).
pub(crate) fn event(skipped: &Skipped, instance: &str) -> Event {
    // The Events API caps the note at 1 kB.
    let note: String = format!("not watched as a Flink cluster: {}", skipped.reason)
        .chars()
        .take(1000)
        .collect();
    let reason = skipped.reason.event_reason();
    Event {
        metadata: ObjectMeta {
            name: Some(event_name(skipped, reason, &note)),
            namespace: Some(skipped.namespace.clone()),
            ..ObjectMeta::default()
        },
        type_: Some("Warning".into()),
        reason: Some(reason.into()),
        note: Some(note),
        action: Some("Discover".into()),
        event_time: Some(MicroTime(k8s_openapi::jiff::Timestamp::now())),
        regarding: Some(reference(skipped)),
        reporting_controller: Some(CONTROLLER.into()),
        reporting_instance: Some(instance.into()),
        ..Event::default()
    }
}

/// `<object>.<hash>`: the hash covers the object (uid included: a re-created object is a
/// new one) and the problem, so the same problem gets the same name and a new one a new.
fn event_name(skipped: &Skipped, reason: &str, note: &str) -> String {
    let mut hasher = fnv::FnvHasher::default();
    for part in [
        skipped.kind,
        &skipped.namespace,
        &skipped.name,
        skipped.uid.as_deref().unwrap_or_default(),
        reason,
        note,
    ] {
        hasher.write(part.as_bytes());
        hasher.write_u8(0);
    }
    let suffix = format!(".{:016x}", hasher.finish());
    let object: String = skipped.name.chars().take(MAX_NAME - suffix.len()).collect();
    format!("{object}{suffix}")
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
    use crate::testing::apiserver::{answer, failure};
    use serde_json::Value;

    const EVENTS: &str = "/apis/events.k8s.io/v1/namespaces/analytics/events";

    fn skipped(url: &str) -> Skipped {
        Skipped {
            kind: "Service",
            namespace: "analytics".into(),
            name: "flink-jobmanager".into(),
            uid: Some("uid-1".into()),
            reason: parse_rest_url(url).unwrap_err(),
        }
    }

    #[tokio::test]
    async fn a_refused_annotation_gets_a_warning_event_on_the_object_without_the_password() {
        let (client, mut api) = crate::testing::apiserver::client("default");
        SkipEvents::new(client, WriteGate::unfenced(), "flink-monitor-0".into())
            .publish(vec![skipped("http://admin:pw-s3cret@jm:8081/?x=1#frag")]);
        let (request, send) = api.next_request().await.expect("a look for the Event");
        assert_eq!(request.method(), "GET");
        let name = request
            .uri()
            .path()
            .strip_prefix(&format!("{EVENTS}/"))
            .unwrap()
            .to_string();
        assert!(name.starts_with("flink-jobmanager."), "{name}");
        answer(send, 404, &failure(404, "NotFound"));

        let (request, send) = api.next_request().await.expect("an Event is created");
        assert_eq!(request.method(), "POST");
        assert_eq!(request.uri().path(), EVENTS);
        let body = request.into_body().collect_bytes().await.unwrap();
        let text = String::from_utf8_lossy(&body).to_string();
        let event: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(event["metadata"]["name"], name.as_str());
        assert_eq!(event["type"], "Warning");
        assert_eq!(event["reason"], "InvalidRestUrl");
        assert_eq!(event["reportingController"], "flink-monitor");
        assert_eq!(
            event["reportingInstance"], "flink-monitor-0",
            "the name it was given"
        );
        assert_eq!(
            event["regarding"],
            serde_json::json!({"apiVersion": "v1", "kind": "Service", "namespace": "analytics",
                "name": "flink-jobmanager", "uid": "uid-1"})
        );
        let note = event["note"].as_str().unwrap();
        assert!(note.contains(REST_URL_ANNOTATION), "{note}");
        assert!(note.contains("credentials"), "{note}");
        assert!(!text.contains("pw-s3cret"), "{text}");
        answer(send, 201, &event);
    }

    #[tokio::test]
    async fn an_event_that_exists_already_is_not_sent_again() {
        let (client, mut api) = crate::testing::apiserver::client("default");
        let events = SkipEvents::new(client, WriteGate::unfenced(), "flink-monitor-0".into());
        let problem = skipped("http://jm:8081/?x=1");
        events.publish(vec![problem.clone()]);
        let (request, send) = api.next_request().await.expect("a look for the Event");
        assert_eq!(request.method(), "GET");
        let existing = serde_json::to_value(event(&problem, "another-replica")).unwrap();
        answer(send, 200, &existing);
        // The next request is the next publish's: nothing was created in between.
        events.publish(vec![skipped("http://jm:8081/#frag")]);
        let (request, send) = api.next_request().await.expect("the second problem");
        assert_eq!(request.method(), "GET", "{}", request.uri());
        answer(send, 404, &failure(404, "NotFound"));
        let (request, send) = api.next_request().await.expect("its Event");
        assert_eq!(request.method(), "POST");
        answer(send, 409, &failure(409, "AlreadyExists"));
    }

    #[test]
    fn one_name_per_object_and_problem() {
        let name = |s: &Skipped| event(s, "a").name_any();
        let problem = skipped("http://jm:8081/?x=1");
        assert_eq!(
            name(&problem),
            event(&problem, "b").name_any(),
            "replicas agree"
        );
        assert_ne!(name(&problem), name(&skipped("http://jm:8081/#frag")));
        let recreated = Skipped {
            uid: Some("uid-2".into()),
            ..problem.clone()
        };
        assert_ne!(name(&problem), name(&recreated));
        let long = Skipped {
            name: "x".repeat(253),
            ..problem
        };
        assert_eq!(name(&long).len(), 253);
    }
}
