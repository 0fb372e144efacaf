use std::collections::BTreeMap;
use std::time::Duration;

use axum::http::{Response, StatusCode, Uri};
use kube::client::Body;
use kube::core::Status;
use reqwest::Url;
use serde_json::json;
use tokio::sync::{Mutex, mpsc};

use super::*;
use crate::clusters::{ClusterSource, PollSettings};
use crate::discovery::fixtures::{NATIVE_SESSION, OPERATOR_BASIC, Objects, STANDALONE_SESSION};
use crate::discovery::mapping::REST_URL_ANNOTATION;
use crate::flink::ClientSettings;
use crate::metrics::Metrics;

// ---- the state machine, fed by hand ----

fn listed<K: Clone>(objects: &[K]) -> Vec<Event<K>> {
    let mut events = vec![Event::Init];
    events.extend(objects.iter().cloned().map(Event::InitApply));
    events.push(Event::InitDone);
    events
}

fn list_services(discovery: &mut Discovery, index: usize, services: &[Service]) {
    for event in listed(services) {
        discovery.handle(Update::services(index, Ok(event)));
    }
}

fn list_deployments(discovery: &mut Discovery, index: usize, deployments: &[FlinkDeployment]) {
    for event in listed(deployments) {
        discovery.handle(Update::deployments(index, Ok(event)));
    }
}

/// Lists `services` and no FlinkDeployments on watcher 0, then brings `registry` up to date.
fn list_and_sync(
    discovery: &mut Discovery,
    registry: &mut FakeRegistry,
    services: &[Service],
) -> Option<Changes> {
    list_services(discovery, 0, services);
    list_deployments(discovery, 0, &[]);
    registry.sync(discovery)
}

/// `service` as a live event on watcher 0, then `registry` brought up to date.
fn apply_and_sync(
    discovery: &mut Discovery,
    registry: &mut FakeRegistry,
    service: &Service,
) -> Option<Changes> {
    discovery.handle(Update::services(0, Ok(Event::Apply(service.clone()))));
    registry.sync(discovery)
}

fn api_error(code: u16, reason: &str) -> watcher::Error {
    watcher::Error::InitialListFailed(kube::Error::Api(
        Status::failure("the server could not find the requested resource", reason)
            .with_code(code)
            .boxed(),
    ))
}

fn not_found() -> watcher::Error {
    api_error(404, "NotFound")
}

/// A registry kept as plain `ClusterInfo`s, changed the way `apply::apply` changes a real one.
#[derive(Default)]
struct FakeRegistry(BTreeMap<String, ClusterInfo>);

impl FakeRegistry {
    fn sync(&mut self, discovery: &mut Discovery) -> Option<Changes> {
        let changes = discovery.changes(self.0.values())?;
        for id in &changes.removals {
            self.0.remove(id);
        }
        for info in &changes.upserts {
            self.0.insert(info.id.clone(), info.clone());
        }
        Some(changes)
    }

    fn ids(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

fn with_static() -> FakeRegistry {
    let mut registry = FakeRegistry::default();
    registry.0.insert(
        "local".into(),
        ClusterInfo {
            id: "local".into(),
            namespace: None,
            name: "local".into(),
            source: ClusterSource::Static,
            url: Url::parse("http://localhost:8081").unwrap(),
            owner: None,
        },
    );
    registry
}

#[test]
fn the_registry_waits_for_every_watcher_to_list_once() {
    let objects = Objects::load(&[OPERATOR_BASIC]);
    let mut discovery = Discovery::new(&[None]);
    let mut registry = with_static();

    // The Services list first: on their own they would make `flink.basic-example-rest`.
    list_services(&mut discovery, 0, &objects.services);
    assert!(!discovery.settled());
    assert!(registry.sync(&mut discovery).is_none());

    list_deployments(&mut discovery, 0, &objects.deployments);
    assert!(discovery.settled());
    let changes = registry.sync(&mut discovery).unwrap();
    assert_eq!(changes.upserts.len(), 1);
    assert_eq!(registry.ids(), ["flink.basic-example", "local"]);
    assert!(registry.sync(&mut discovery).is_none(), "nothing new");
}

#[test]
fn a_missing_crd_is_noted_once_and_services_go_on() {
    let objects = Objects::load(&[NATIVE_SESSION]);
    let mut discovery = Discovery::new(&[Some("flink".into()), Some("team-b".into())]);
    let mut registry = with_static();
    list_services(&mut discovery, 0, &objects.services);
    list_services(&mut discovery, 1, &[]);
    discovery.handle(Update::deployments(0, Err(not_found())));
    assert!(discovery.crd_missing);
    assert!(
        !discovery.settled(),
        "team-b's FlinkDeployments neither listed nor failed"
    );
    discovery.handle(Update::deployments(1, Err(not_found())));
    discovery.handle(Update::deployments(0, Err(not_found())));
    assert!(discovery.settled());
    registry.sync(&mut discovery);
    assert_eq!(
        registry.ids(),
        ["flink.my-first-flink-cluster-rest", "local"]
    );

    // The CRD gets installed: the retries list, and FlinkDeployments are discovered.
    let operator = Objects::load(&[OPERATOR_BASIC]);
    list_deployments(&mut discovery, 0, &operator.deployments);
    assert!(!discovery.crd_missing);
    registry.sync(&mut discovery);
    assert_eq!(
        registry.ids(),
        [
            "flink.basic-example",
            "flink.my-first-flink-cluster-rest",
            "local"
        ]
    );

    // And uninstalled: the relist answers 404, so its objects are gone too.
    discovery.handle(Update::deployments(0, Err(not_found())));
    assert!(discovery.crd_missing);
    registry.sync(&mut discovery);
    assert_eq!(
        registry.ids(),
        ["flink.my-first-flink-cluster-rest", "local"]
    );
}

#[test]
fn objects_deleted_while_the_watch_was_down_go_after_the_relist() {
    let objects = Objects::load(&[NATIVE_SESSION, STANDALONE_SESSION]);
    let mut discovery = Discovery::new(&[None]);
    let mut registry = with_static();
    list_and_sync(&mut discovery, &mut registry, &objects.services);
    assert_eq!(
        registry.ids(),
        [
            "analytics.flink-jobmanager-rest",
            "flink.my-first-flink-cluster-rest",
            "local"
        ]
    );

    // The watch breaks and restarts; meanwhile the native session was stopped.
    discovery.handle(Update::services(
        0,
        Err(watcher::Error::WatchFailed(
            kube::Error::LinesCodecMaxLineLengthExceeded,
        )),
    ));
    discovery.handle(Update::services(0, Ok(Event::Init)));
    let remaining = Objects::load(&[STANDALONE_SESSION]);
    for service in &remaining.services {
        discovery.handle(Update::services(0, Ok(Event::InitApply(service.clone()))));
    }
    assert!(
        registry.sync(&mut discovery).is_none(),
        "no change before InitDone"
    );
    discovery.handle(Update::services(0, Ok(Event::InitDone)));
    let changes = registry.sync(&mut discovery).unwrap();
    assert_eq!(changes.removals, ["flink.my-first-flink-cluster-rest"]);
    assert!(changes.upserts.is_empty());
    assert_eq!(registry.ids(), ["analytics.flink-jobmanager-rest", "local"]);
}

#[test]
fn live_events_move_clusters() {
    let mut objects = Objects::load(&[STANDALONE_SESSION]);
    let mut discovery = Discovery::new(&[None]);
    let mut registry = with_static();
    list_and_sync(&mut discovery, &mut registry, &objects.services);

    // `flink-jobmanager-rest` is deleted: the other Service now stands for the cluster.
    let rest = objects.service("flink-jobmanager-rest").clone();
    discovery.handle(Update::services(0, Ok(Event::Delete(rest))));
    let changes = registry.sync(&mut discovery).unwrap();
    assert_eq!(changes.removals, ["analytics.flink-jobmanager-rest"]);
    assert_eq!(registry.ids(), ["analytics.flink-jobmanager", "local"]);

    // It gets an annotation: same id, new URL.
    let jobmanager = objects.annotated_service("flink-jobmanager", "http://gateway/flink/");
    let changes = apply_and_sync(&mut discovery, &mut registry, jobmanager).unwrap();
    assert_eq!(changes.upserts.len(), 1);
    assert_eq!(
        registry.0["analytics.flink-jobmanager"].url.as_str(),
        "http://gateway/flink/"
    );

    // A watch error changes nothing.
    discovery.handle(Update::services(0, Err(api_error(500, "InternalError"))));
    assert!(registry.sync(&mut discovery).is_none());
    assert_eq!(registry.ids(), ["analytics.flink-jobmanager", "local"]);
}

#[test]
fn skipped_objects_are_warned_about_once() {
    let mut objects = Objects::load(&[STANDALONE_SESSION]);
    objects.annotated_service("flink-jobmanager", "flink-jobmanager:8081");
    let mut discovery = Discovery::new(&[None]);
    let mut registry = FakeRegistry::default();
    list_and_sync(&mut discovery, &mut registry, &objects.services);
    assert_eq!(discovery.warned.len(), 1);
    let first = discovery.warned.clone();
    // Another event recomputes the view; the same problem is not new.
    let unchanged = objects.service("flink-jobmanager-rest");
    apply_and_sync(&mut discovery, &mut registry, unchanged);
    assert_eq!(discovery.warned, first);
}

#[test]
fn skipped_objects_are_reported_for_an_event_once_while_the_problem_lasts() {
    let mut objects = Objects::load(&[STANDALONE_SESSION]);
    let bad = "http://admin:pw-s3cret@flink-jobmanager:8081/?x=1";
    objects.annotated_service("flink-jobmanager", bad);
    let mut discovery = Discovery::new(&[None]);
    let mut registry = FakeRegistry::default();
    list_and_sync(&mut discovery, &mut registry, &objects.services);
    let reports = discovery.take_reports();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].name, "flink-jobmanager");
    assert!(discovery.take_reports().is_empty());
    // Recomputed with the problem still there: nothing new to report.
    let unchanged = objects.service("flink-jobmanager-rest");
    apply_and_sync(&mut discovery, &mut registry, unchanged);
    assert!(discovery.take_reports().is_empty());
    // Fixed, then broken again: reported again.
    for (rest_url, reports) in [("http://gateway/", 0), (bad, 1)] {
        let service = objects.annotated_service("flink-jobmanager", rest_url);
        apply_and_sync(&mut discovery, &mut registry, service);
        assert_eq!(discovery.take_reports().len(), reports, "{rest_url}");
    }
}

#[test]
fn ignoring_the_annotation_reaches_the_service_and_reports_nothing() {
    let mut objects = Objects::load(&[STANDALONE_SESSION]);
    objects.annotated_service("flink-jobmanager", "http://elsewhere.example.com/?x");
    let mut discovery = Discovery::new(&[None]).with_options(MappingOptions {
        ignore_rest_url_annotation: true,
    });
    let mut registry = FakeRegistry::default();
    list_and_sync(&mut discovery, &mut registry, &objects.services);
    assert!(discovery.take_reports().is_empty());
    assert!(
        registry
            .0
            .values()
            .all(|c| !c.url.as_str().contains("elsewhere")),
        "{:?}",
        registry.0
    );
}

#[test]
fn namespaces_are_each_watched_once() {
    let config = |namespaces: &[&str]| DiscoveryConfig {
        namespaces: namespaces.iter().map(|n| n.to_string()).collect(),
        ..DiscoveryConfig::default()
    };
    assert_eq!(scopes(&config(&[])), [None]);
    assert_eq!(scopes(&config(&["", " "])), [None]);
    assert_eq!(
        scopes(&config(&["b", "a", " b "])),
        [Some("a".to_string()), Some("b".to_string())]
    );
}

#[test]
fn trimming_keeps_what_discovery_reads() {
    let mut objects = Objects::load(&[STANDALONE_SESSION]);
    let service = objects.annotated_service("flink-jobmanager", "http://x");
    service.metadata.managed_fields = Some(vec![Default::default()]);
    service.metadata.labels = Some([("app".to_string(), "flink".to_string())].into());
    let spec = service.spec.as_mut().unwrap();
    spec.cluster_ips = Some(vec!["10.0.0.1".into()]);
    spec.session_affinity = Some("None".into());
    let before = mapping::desired([&*service], []);
    trim_service(service);
    assert_eq!(service.metadata.managed_fields, None);
    assert_eq!(service.metadata.labels, None);
    assert_eq!(service.status, None);
    let spec = service.spec.as_ref().unwrap();
    assert_eq!((&spec.cluster_ips, &spec.session_affinity), (&None, &None));
    assert!(spec.selector.is_some() && spec.ports.is_some());
    let annotations = service.metadata.annotations.as_ref().unwrap();
    assert_eq!(
        annotations.keys().collect::<Vec<_>>(),
        [REST_URL_ANNOTATION]
    );
    assert_eq!(mapping::desired([&*service], []), before);
}

// ---- one watch round against a mocked API server ----

use crate::testing::apiserver::Handle as ApiHandle;

fn respond(status: StatusCode, body: &serde_json::Value) -> Response<Body> {
    crate::testing::apiserver::respond(status.as_u16(), body)
}

fn is_watch(uri: &Uri) -> bool {
    uri.query()
        .is_some_and(|q| q.split('&').any(|p| p == "watch=true"))
}

/// Plays the API server: lists `services`, answers 404 for FlinkDeployments (no CRD),
/// and answers each Service watch with the next body sent on `watch_bodies`.
fn serve(
    mut handle: ApiHandle,
    services: Vec<Service>,
    watch_bodies: mpsc::UnboundedReceiver<String>,
    seen: mpsc::UnboundedSender<Uri>,
) -> tokio::task::JoinHandle<()> {
    let watch_bodies = Arc::new(Mutex::new(watch_bodies));
    tokio::spawn(async move {
        while let Some((request, send)) = handle.next_request().await {
            let uri = request.uri().clone();
            let _ = seen.send(uri.clone());
            match (uri.path(), is_watch(&uri)) {
                ("/api/v1/namespaces/analytics/services", false) => {
                    let list = json!({
                        "apiVersion": "v1",
                        "kind": "ServiceList",
                        "metadata": {"resourceVersion": "100"},
                        "items": services,
                    });
                    send.send_response(respond(StatusCode::OK, &list));
                }
                ("/api/v1/namespaces/analytics/services", true) => {
                    let bodies = watch_bodies.clone();
                    tokio::spawn(async move {
                        // Held open until the test has something to say.
                        if let Some(body) = bodies.lock().await.recv().await {
                            let response = Response::builder()
                                .status(StatusCode::OK)
                                .header("content-type", "application/json")
                                .body(Body::from(body.into_bytes()))
                                .unwrap();
                            send.send_response(response);
                        }
                    });
                }
                ("/apis/flink.apache.org/v1beta1/namespaces/analytics/flinkdeployments", _) => {
                    let status = json!({
                        "kind": "Status",
                        "apiVersion": "v1",
                        "metadata": {},
                        "status": "Failure",
                        "message": "the server could not find the requested resource",
                        "reason": "NotFound",
                        "details": {},
                        "code": 404,
                    });
                    send.send_response(respond(StatusCode::NOT_FOUND, &status));
                }
                (path, _) => panic!("unexpected request to {path}"),
            }
        }
    })
}

async fn eventually(what: &str, check: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_watch_round_against_a_mocked_api_server() {
    let (client, handle) = crate::testing::apiserver::client("default");
    let shutdown = CancellationToken::new();
    let registry = Arc::new(KnownClusters::new(
        PollSettings {
            poll_interval: Duration::from_secs(3600),
            cache_ttl: Duration::ZERO,
            client: ClientSettings {
                timeout: Duration::from_millis(200),
                max_response_bytes: 1024,
                concurrency: 1,
            },
        },
        reqwest::Client::new(),
        Arc::new(Metrics::new()),
        shutdown.clone(),
    ));
    registry.upsert(with_static().0.remove("local").unwrap());

    let mut services = Objects::load(&[STANDALONE_SESSION]).services;
    for (i, service) in services.iter_mut().enumerate() {
        service.metadata.resource_version = Some(format!("9{i}"));
    }
    let (send_watch_body, watch_bodies) = mpsc::unbounded_channel();
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let server = serve(handle, services.clone(), watch_bodies, seen_tx);

    let config = DiscoveryConfig {
        namespaces: vec!["analytics".into()],
        service_selector: Some("team=data".into()),
        ..DiscoveryConfig::default()
    };
    let discovery = tokio::spawn(run(
        client,
        registry.clone(),
        config,
        crate::controller::WriteGate::unfenced(),
        shutdown.clone(),
    ));

    // The list makes the cluster, although FlinkDeployments answer 404.
    eventually("the listed cluster", || {
        registry.get("analytics.flink-jobmanager-rest").is_some()
    })
    .await;
    let info = registry
        .get("analytics.flink-jobmanager-rest")
        .unwrap()
        .info()
        .clone();
    assert_eq!(info.source, ClusterSource::Service);
    assert_eq!(
        info.url.as_str(),
        "http://flink-jobmanager-rest.analytics.svc:8081/"
    );
    assert_eq!(registry.ids(), ["analytics.flink-jobmanager-rest", "local"]);

    // The watch reports `flink-jobmanager-rest` deleted.
    let mut deleted = services[1].clone();
    assert_eq!(
        deleted.metadata.name.as_deref(),
        Some("flink-jobmanager-rest")
    );
    deleted.metadata.resource_version = Some("101".into());
    let event = json!({"type": "DELETED", "object": deleted});
    send_watch_body.send(format!("{event}\n")).unwrap();
    eventually("the deletion", || {
        registry.ids() == ["analytics.flink-jobmanager", "local"]
    })
    .await;

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), discovery)
        .await
        .expect("discovery stops on shutdown")
        .unwrap();
    server.abort();

    let mut uris = Vec::new();
    while let Ok(uri) = seen.try_recv() {
        uris.push(uri);
    }
    let service_list = uris
        .iter()
        .find(|u| u.path() == "/api/v1/namespaces/analytics/services" && !is_watch(u))
        .expect("a Service list");
    assert!(
        service_list
            .query()
            .unwrap_or_default()
            .contains("labelSelector=team%3Ddata"),
        "{service_list}"
    );
    assert!(
        uris.iter()
            .any(|u| u.path()
                == "/apis/flink.apache.org/v1beta1/namespaces/analytics/flinkdeployments"),
        "{uris:?}"
    );
    assert!(
        uris.iter()
            .all(|u| u.path().contains("/namespaces/analytics/")),
        "only the given namespace is watched: {uris:?}"
    );
}
