use super::*;
use crate::discovery::fixtures::{
    NATIVE_SESSION, OPERATOR_BASIC, OPERATOR_REST_PORT, OTHER_SERVICES, Objects, STANDALONE_SESSION,
};
use k8s_openapi::api::core::v1::ServicePort;
use serde_json::{Value, json};

fn map(objects: &Objects) -> Desired {
    desired(&objects.services, &objects.deployments)
}

fn ids(desired: &Desired) -> Vec<&str> {
    desired.clusters.keys().map(String::as_str).collect()
}

fn url(desired: &Desired, id: &str) -> String {
    desired.clusters[id].url.to_string()
}

/// The standalone session and the operator's basic example, with the rest-url annotation
/// on the Service `service` and on the FlinkDeployment.
fn annotated(service: &str, service_url: &str, deployment_url: &str) -> Objects {
    let mut objects = Objects::load(&[STANDALONE_SESSION, OPERATOR_BASIC]);
    objects.annotated_service(service, service_url);
    objects.annotated_deployment("basic-example", deployment_url);
    objects
}

/// Every cluster as (id, URL), by id.
fn urls(desired: &Desired) -> Vec<(&str, &str)> {
    let urls = desired.clusters.iter();
    urls.map(|(id, info)| (id.as_str(), info.url.as_str()))
        .collect()
}

#[test]
fn native_session_is_one_cluster_at_its_rest_service() {
    let desired = map(&Objects::load(&[NATIVE_SESSION]));
    assert_eq!(ids(&desired), ["flink.my-first-flink-cluster-rest"]);
    let info = &desired.clusters["flink.my-first-flink-cluster-rest"];
    assert_eq!(
        info,
        &ClusterInfo {
            id: "flink.my-first-flink-cluster-rest".into(),
            namespace: Some("flink".into()),
            name: "my-first-flink-cluster-rest".into(),
            source: ClusterSource::Service,
            url: Url::parse("http://my-first-flink-cluster-rest.flink.svc:8081").unwrap(),
            owner: Some(OwnerRef {
                api_version: "v1".into(),
                kind: "Service".into(),
                name: "my-first-flink-cluster-rest".into(),
                uid: "0f6c2d9a-3b7e-4e51-8c2a-91d4b7e0a301".into(),
            }),
        }
    );
    assert!(desired.skipped.is_empty());
}

#[test]
fn the_internal_headless_service_alone_is_not_a_cluster() {
    let objects = Objects::load(&[NATIVE_SESSION]).without_service("my-first-flink-cluster-rest");
    assert!(selects_jobmanagers(&objects.services[0]));
    assert_eq!(map(&objects), Desired::default());
}

#[test]
fn both_standalone_services_are_one_cluster_preferring_the_rest_port() {
    let both = Objects::load(&[STANDALONE_SESSION]);
    let desired = map(&both);
    assert_eq!(
        urls(&desired),
        [(
            "analytics.flink-jobmanager-rest",
            "http://flink-jobmanager-rest.analytics.svc:8081/"
        )]
    );
    assert_eq!(
        desired.clusters["analytics.flink-jobmanager-rest"]
            .owner
            .as_ref()
            .unwrap()
            .uid,
        "9e2f4a6b-1c3d-4e58-b7a9-0d2c4e6f8a19"
    );

    // Each one alone: the ClusterIP Service through its `webui` port, the NodePort one.
    let internal = map(&both.clone().without_service("flink-jobmanager-rest"));
    assert_eq!(
        urls(&internal),
        [(
            "analytics.flink-jobmanager",
            "http://flink-jobmanager.analytics.svc:8081/"
        )]
    );
    let rest = map(&both.without_service("flink-jobmanager"));
    assert_eq!(ids(&rest), ["analytics.flink-jobmanager-rest"]);
}

#[test]
fn older_manifests_are_reached_through_port_8081() {
    // Flink 1.9's manifests named the port `ui`.
    let mut objects = Objects::load(&[STANDALONE_SESSION]).without_service("flink-jobmanager-rest");
    let ports = objects.ports("flink-jobmanager");
    ports[1].name = Some("blob".into());
    ports[2].name = Some("ui".into());
    let desired = map(&objects);
    assert_eq!(
        url(&desired, "analytics.flink-jobmanager"),
        "http://flink-jobmanager.analytics.svc:8081/"
    );

    // Without a rest/webui name nor 8081 there is no REST port to use.
    objects.ports("flink-jobmanager")[2].port = 8080;
    assert_eq!(map(&objects), Desired::default());
}

#[test]
fn webui_wins_over_a_bare_8081_and_ties_go_to_the_first_name() {
    // A bare 8081 loses to a `webui` port; two `rest` ports tie and the first name wins.
    for (service, port, name) in [
        ("flink-jobmanager-rest", 0, "http"),
        ("flink-jobmanager", 2, "rest"),
    ] {
        let mut objects = Objects::load(&[STANDALONE_SESSION]);
        objects.ports(service)[port].name = Some(name.into());
        assert_eq!(
            ids(&map(&objects)),
            ["analytics.flink-jobmanager"],
            "{service}"
        );
    }
}

#[test]
fn a_flinkdeployment_supersedes_the_rest_service_flink_made_for_it() {
    let desired = map(&Objects::load(&[OPERATOR_BASIC]));
    assert_eq!(ids(&desired), ["flink.basic-example"]);
    assert_eq!(
        desired.clusters["flink.basic-example"],
        ClusterInfo {
            id: "flink.basic-example".into(),
            namespace: Some("flink".into()),
            name: "basic-example".into(),
            source: ClusterSource::FlinkDeployment,
            url: Url::parse("http://basic-example-rest.flink.svc:8081").unwrap(),
            owner: Some(OwnerRef {
                api_version: "flink.apache.org/v1beta1".into(),
                kind: "FlinkDeployment".into(),
                name: "basic-example".into(),
                uid: "c4a7e2b9-5d1f-4c83-9e6a-2b8d0f4a1c55".into(),
            }),
        }
    );
    assert!(desired.skipped.is_empty());

    // Before the operator has created the Services, and after they are gone, the same.
    let mut alone = Objects::load(&[OPERATOR_BASIC]);
    alone.services.clear();
    assert_eq!(map(&alone), desired);
}

#[test]
fn rest_port_comes_from_the_flink_configuration() {
    let objects = Objects::load(&[OPERATOR_REST_PORT]);
    let configured = |configuration: Option<Value>| {
        let mut objects = objects.clone();
        if let Some(configuration) = configuration {
            *objects.flink_configuration("session-8082") = Some(configuration);
        }
        map(&objects)
    };
    for (configuration, expected) in [
        // As the fixture has it: a flat map of strings, `rest.port: "8082"`.
        (None, "http://session-8082-rest.flink.svc:8082/"),
        // Operator 1.13+ also takes structured YAML: `rest: {port: 8083}`, numbers unquoted.
        (
            Some(json!({"rest": {"port": 8083}, "taskmanager.numberOfTaskSlots": 2})),
            "http://session-8082-rest.flink.svc:8083/",
        ),
        // REST over TLS.
        (
            Some(json!({"rest.port": "8443", "security.ssl.rest.enabled": "true"})),
            "https://session-8082-rest.flink.svc:8443/",
        ),
    ] {
        let desired = configured(configuration);
        assert_eq!(urls(&desired), [("flink.session-8082", expected)]);
        assert!(desired.skipped.is_empty());
    }

    // A port Flink itself would refuse: skipped, with the reason.
    let desired = configured(Some(json!({"rest.port": "eighty"})));
    assert_eq!(ids(&desired), Vec::<&str>::new());
    assert_eq!(desired.skipped.len(), 1);
    assert_eq!(desired.skipped[0].kind, "FlinkDeployment");
    assert_eq!(desired.skipped[0].name, "session-8082");
    assert!(
        desired.skipped[0]
            .reason
            .to_string()
            .contains("rest.port \"eighty\""),
        "{}",
        desired.skipped[0].reason
    );
}

#[test]
fn the_annotation_overrides_the_url() {
    let desired = map(&annotated(
        "flink-jobmanager",
        "https://flink.example.com/analytics/",
        " http://basic-example-rest.flink:9999 ",
    ));
    // The annotated Service is the one the user chose, even over a port named `rest`.
    assert_eq!(
        urls(&desired),
        [
            (
                "analytics.flink-jobmanager",
                "https://flink.example.com/analytics/"
            ),
            (
                "flink.basic-example",
                "http://basic-example-rest.flink:9999/"
            ),
        ]
    );
    assert!(desired.skipped.is_empty());
}

#[test]
fn an_invalid_annotation_skips_the_object_and_says_which() {
    let desired = map(&annotated(
        "flink-jobmanager-rest",
        "flink-jobmanager-rest:8081",
        "not a url",
    ));
    // The other standalone Service still stands for the cluster; the FlinkDeployment's
    // own rest Service does not come back in its place.
    assert_eq!(ids(&desired), ["analytics.flink-jobmanager"]);
    let skipped: Vec<(&str, &str, &str)> = desired
        .skipped
        .iter()
        .map(|s| (s.kind, s.namespace.as_str(), s.name.as_str()))
        .collect();
    assert_eq!(
        skipped,
        [
            ("FlinkDeployment", "flink", "basic-example"),
            ("Service", "analytics", "flink-jobmanager-rest"),
        ]
    );
    assert!(matches!(
        desired.skipped[0].reason,
        SkipReason::InvalidRestUrl { .. }
    ));
    // `host:port` parses as a URL with the scheme `flink-jobmanager-rest`.
    assert_eq!(
        desired.skipped[1].reason,
        SkipReason::UnsupportedRestUrl {
            value: "flink-jobmanager-rest:8081".into()
        }
    );
    assert!(
        desired.skipped[1]
            .reason
            .to_string()
            .contains(REST_URL_ANNOTATION)
    );
}

#[test]
fn rest_urls_are_validated() {
    assert!(parse_rest_url("http://jm:8081").is_ok());
    assert!(parse_rest_url("https://gateway/flink/team-a/").is_ok());
    for bad in [
        "",
        "jm:8081",
        "ftp://jm",
        "file:///tmp/x",
        "http://",
        "unix:/var/run/x",
    ] {
        assert!(parse_rest_url(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn services_of_other_things_are_ignored() {
    let objects = Objects::load(&[OTHER_SERVICES]);
    assert!(objects.services.iter().all(|s| !selects_jobmanagers(s)));
    assert_eq!(map(&objects), Desired::default());

    // Even annotated: discovery only looks at Flink JobManager Services.
    let mut annotated = objects;
    annotated.annotated_service("schema-registry", "http://schema-registry:8081");
    assert_eq!(map(&annotated), Desired::default());
}

#[test]
fn everything_together() {
    let objects = Objects::load(&[
        NATIVE_SESSION,
        STANDALONE_SESSION,
        OPERATOR_BASIC,
        OPERATOR_REST_PORT,
        OTHER_SERVICES,
    ]);
    let desired = map(&objects);
    assert_eq!(
        ids(&desired),
        [
            "analytics.flink-jobmanager-rest",
            "flink.basic-example",
            "flink.my-first-flink-cluster-rest",
            "flink.session-8082",
        ]
    );
    assert!(desired.skipped.is_empty());

    // The order objects arrive in does not matter.
    let mut reversed = objects;
    reversed.services.reverse();
    reversed.deployments.reverse();
    assert_eq!(map(&reversed), desired);
}

#[test]
fn namespaces_keep_clusters_apart() {
    let objects = Objects::load(&[STANDALONE_SESSION])
        .in_namespace("team-a")
        .and(Objects::load(&[STANDALONE_SESSION]).in_namespace("team-b"))
        // A FlinkDeployment supersedes only the rest Service of its own namespace.
        .and(Objects::load(&[OPERATOR_BASIC]).in_namespace("team-a"))
        .and(
            Objects::load(&[OPERATOR_BASIC])
                .in_namespace("team-b")
                .without_service("basic-example"),
        );
    let mut objects = objects;
    objects
        .deployments
        .retain(|d| d.metadata.namespace.as_deref() == Some("team-a"));
    let desired = map(&objects);
    assert_eq!(
        ids(&desired),
        [
            "team-a.basic-example",
            "team-a.flink-jobmanager-rest",
            "team-b.basic-example-rest",
            "team-b.flink-jobmanager-rest",
        ]
    );
    assert_eq!(
        url(&desired, "team-b.flink-jobmanager-rest"),
        "http://flink-jobmanager-rest.team-b.svc:8081/"
    );
    assert_eq!(
        desired.clusters["team-b.basic-example-rest"]
            .namespace
            .as_deref(),
        Some("team-b")
    );
}

#[test]
fn a_headless_rest_service_is_reached_on_the_target_port() {
    // kubernetes.rest-service.exposed.type: Headless_ClusterIP, rest.bind-port 8088.
    let mut objects = Objects::load(&[NATIVE_SESSION]).without_service("my-first-flink-cluster");
    let spec = objects
        .service("my-first-flink-cluster-rest")
        .spec
        .as_mut()
        .unwrap();
    spec.cluster_ip = Some("None".into());
    spec.ports.as_mut().unwrap()[0].target_port = Some(IntOrString::Int(8088));
    assert_eq!(
        url(&map(&objects), "flink.my-first-flink-cluster-rest"),
        "http://my-first-flink-cluster-rest.flink.svc:8088/"
    );
}

#[test]
fn flinks_rest_service_with_a_renamed_port_is_still_found() {
    // Flink may let users rename the one port of `<cluster-id>-rest` (FLINK-37893).
    let mut objects = Objects::load(&[NATIVE_SESSION]);
    *objects.ports("my-first-flink-cluster-rest") = vec![ServicePort {
        name: Some("http-rest".into()),
        port: 8000,
        ..Default::default()
    }];
    assert_eq!(
        url(&map(&objects), "flink.my-first-flink-cluster-rest"),
        "http://my-first-flink-cluster-rest.flink.svc:8000/"
    );
}

#[test]
fn a_service_named_like_a_flinkdeployment_yields_to_it() {
    let mut objects = Objects::load(&[OPERATOR_BASIC, STANDALONE_SESSION])
        .in_namespace("flink")
        .without_service("basic-example");
    objects.service("flink-jobmanager-rest").metadata.name = Some("basic-example".into());
    let desired = map(&objects);
    assert_eq!(ids(&desired), ["flink.basic-example"]);
    assert_eq!(
        desired.clusters["flink.basic-example"].source,
        ClusterSource::FlinkDeployment
    );
    assert_eq!(desired.skipped.len(), 1);
    assert_eq!(
        desired.skipped[0].reason,
        SkipReason::IdTaken {
            id: "flink.basic-example".into()
        }
    );
}

#[test]
fn objects_without_a_uid_have_no_owner() {
    let mut objects = Objects::load(&[NATIVE_SESSION]);
    objects.service("my-first-flink-cluster-rest").metadata.uid = None;
    assert_eq!(
        map(&objects).clusters["flink.my-first-flink-cluster-rest"].owner,
        None
    );
}

#[test]
fn a_rest_url_with_a_query_a_fragment_or_credentials_is_refused() {
    let refused = |value: &str| match parse_rest_url(value) {
        Err(SkipReason::RefusedRestUrl { value, problem }) => (value, problem),
        other => panic!("{value}: {other:?}"),
    };
    assert_eq!(
        refused("http://jm:8081/?x=1#frag"),
        ("http://jm:8081/?x=1#frag".into(), RestUrlProblem::Query)
    );
    assert_eq!(
        refused("http://jm:8081/flink#frag").1,
        RestUrlProblem::Fragment
    );
    assert_eq!(refused("http://jm:8081/?").1, RestUrlProblem::Query);
    // The password is never repeated: not in the value, not in the message.
    let (value, problem) = refused("https://admin:pw-s3cret@gateway/flink/");
    assert_eq!(problem, RestUrlProblem::Credentials);
    assert_eq!(value, "https://gateway/flink/");
    let message = parse_rest_url("https://admin:pw-s3cret@gateway/flink/?a=b")
        .unwrap_err()
        .to_string();
    assert!(message.contains(REST_URL_ANNOTATION), "{message}");
    assert!(message.contains("credentials"), "{message}");
    assert!(
        !message.contains("pw-s3cret") && !message.contains("admin"),
        "{message}"
    );
    // Nor when the value is not even a URL.
    let message = parse_rest_url("http://admin:pw-s3cret@bad host/")
        .unwrap_err()
        .to_string();
    assert!(!message.contains("pw-s3cret"), "{message}");
    assert!(
        message.contains("<credentials removed>@bad host/"),
        "{message}"
    );
}

#[test]
fn a_refused_annotation_skips_the_object_with_a_reason_for_its_event() {
    let mut objects = Objects::load(&[STANDALONE_SESSION]);
    objects.annotated_service(
        "flink-jobmanager-rest",
        "http://flink-jobmanager-rest:8081/?x=1#frag",
    );
    let desired = map(&objects);
    assert_eq!(desired.skipped.len(), 1, "{:?}", desired.skipped);
    let skipped = &desired.skipped[0];
    assert_eq!(skipped.name, "flink-jobmanager-rest");
    assert_eq!(skipped.reason.event_reason(), "InvalidRestUrl");
    assert_eq!(
        skipped.uid,
        objects.service("flink-jobmanager-rest").metadata.uid
    );
}

#[test]
fn the_annotation_can_be_ignored() {
    let objects = annotated(
        "flink-jobmanager",
        "https://elsewhere.example.com/",
        "http://admin:pw@elsewhere.example.com/?x",
    );
    let ignoring = MappingOptions {
        ignore_rest_url_annotation: true,
    };
    let desired = desired_with(&objects.services, &objects.deployments, ignoring);
    assert!(desired.skipped.is_empty(), "{:?}", desired.skipped);
    for cluster in desired.clusters.values() {
        assert!(
            cluster.url.as_str().ends_with(".svc:8081/"),
            "{}: {}",
            cluster.id,
            cluster.url
        );
    }
    assert_eq!(desired.clusters.len(), 2, "{:?}", desired.clusters.keys());
}
