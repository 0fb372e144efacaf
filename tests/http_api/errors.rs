//! The HTTP API: the error answers: 4001, 4004-4007, 4009 and 5005.

use std::time::Duration;

use axum::http::{Method, StatusCode, header};
use flink_monitor::api::StopGuard;
use flink_monitor::api::endpoints::ENDPOINTS;
use serde_json::json;

use crate::support::fake_flink::{FakeFlink, Fault, FlinkVersion, Gate};

use crate::support::api_app::*;

/// Every read, in its path forms: at the root and under a cluster, with and without a
/// trailing slash.
const READS: [&str; 21] = [
    "/healthz",
    "/readyz",
    "/metrics",
    "/openapi.json",
    "/clusters",
    "/clusters/alpha",
    "/jobs/overview/",
    "/metainfo/getVersion/",
    "/job/lab-stream/status/",
    "/job/lab-stream/statusAndMetrics/",
    "/jobs/lab-stream/exceptions/",
    "/job/lab-stream/exceptions",
    "/jobs/lab-fail/exceptions/",
    "/job/lab-fail/exceptions",
    "/clusters/alpha/jobs/overview",
    "/clusters/alpha/job/lab-stream/status",
    "/clusters/alpha/job/lab-stream/statusAndMetrics",
    "/clusters/alpha/job/lab-stream/statusAndMetrics/",
    "/clusters/alpha/jobs/lab-stream/exceptions",
    "/clusters/alpha/job/lab-stream/exceptions/",
    "/clusters/alpha/metainfo/getVersion",
];

// ---------------------------------------------------------------------------------------
// errors: 4004, 4005

#[tokio::test]
async fn unknown_paths_are_4004_in_json() {
    let paths = [
        "/",
        "/nope",
        "/job",
        "/job/lab-stream",
        "/job/lab-stream/",
        "/job/lab-stream/status/extra",
        "/job/lab-stream/status//",
        "/job/lab-stream/Status",
        "/jobs",
        "/jobs//overview",
        "/jobs/lab-stream/status",
        "/clusters/alpha/nope",
        "/clusters/alpha/job/lab-stream",
        "/clusters/alpha/clusters",
        "/clusters/alpha/healthz",
        "/clusters//jobs/overview",
        "/healthz/x",
        "/metainfo/getversion",
        "/job/a/b/status",
    ];
    let methods = [Method::GET, Method::POST, Method::HEAD, Method::DELETE];
    one_cluster_answering(Options::default(), &methods, &paths, NO_SUCH_PATH, &[""]).await;
}

#[tokio::test]
async fn wrong_methods_are_4005_with_allow() {
    let (_fake, app) = one_cluster(FlinkVersion::V1_20, Options::guard(StopGuard::Open)).await;
    // Method comes before parameters and clusters.
    let before_parameters = [
        "/job/%FF/status/",
        "/clusters/nope/job/x/status",
        "/clusters/nope",
    ];
    for path in READS.iter().chain(&before_parameters) {
        for method in [
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::PATCH,
            Method::OPTIONS,
        ] {
            let answer = app.call(method.clone(), path, &[]).await;
            answer.assert_error(METHOD_NOT_ALLOWED);
            assert_eq!(
                answer.header(header::ALLOW),
                Some("GET, HEAD"),
                "{method} {path}"
            );
        }
    }
    for path in [
        "/job/lab-stream/stop",
        "/clusters/alpha/job/lab-stream/stop/",
        "/job//stop",
    ] {
        for method in [Method::HEAD, Method::PUT, Method::DELETE, Method::PATCH] {
            let answer = app.call(method.clone(), path, &[]).await;
            assert_eq!(
                answer.status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path}"
            );
            assert_eq!(
                answer.header(header::ALLOW),
                Some("GET, POST"),
                "{method} {path}"
            );
            if method != Method::HEAD {
                answer.assert_error(METHOD_NOT_ALLOWED);
            }
        }
    }
}

#[tokio::test]
async fn head_works_wherever_get_does_with_no_body() {
    let (_fake, app) = one_cluster(FlinkVersion::V2_3, Options::default()).await;
    let errors = ["/job/nope/status", "/clusters/nope/jobs/overview"];
    for path in READS.iter().chain(&errors) {
        let get = app.get(path).await;
        let head = app.call(Method::HEAD, path, &[]).await;
        assert_eq!(head.status, get.status, "HEAD {path}");
        assert!(head.body.is_empty(), "HEAD {path} has a body");
        assert_eq!(
            head.header(header::CONTENT_TYPE),
            get.header(header::CONTENT_TYPE),
            "HEAD {path}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// errors: 4001, 4009, 4006, 4007

/// The endpoints that name a job, from the endpoint table: `{}` for the name, no leading
/// slash, and every other one without its trailing slash (both are served).
fn job_endpoints() -> Vec<String> {
    ENDPOINTS
        .iter()
        .filter(|e| e.names_a_job())
        .enumerate()
        .map(|(i, e)| {
            let path = e.path.trim_start_matches('/').replace("{uuid}", "{}");
            match i % 2 {
                0 => path,
                _ => path.trim_end_matches('/').to_string(),
            }
        })
        .collect()
}

#[tokio::test]
async fn malformed_uuids_are_4001() {
    let (_fake, app) = one_cluster(FlinkVersion::V1_20, Options::guard(StopGuard::Open)).await;
    let too_long = "a".repeat(1025);
    let long_multibyte = "%C3%BC".repeat(513); // 1026 bytes once decoded
    for uuid in [
        "",
        too_long.as_str(),
        long_multibyte.as_str(),
        "%FF",
        "a%C3",
        "%C3%28",
        "%ED%A0%80",
    ] {
        for endpoint in job_endpoints() {
            for prefix in ["/", "/clusters/alpha/", "/clusters/nope/"] {
                let path = format!("{prefix}{}", endpoint.replace("{}", uuid));
                app.get(&path)
                    .await
                    .assert_error_lines(MALFORMED, &["uuid "]);
            }
        }
    }
    // 1024 bytes is allowed: just not found.
    let longest = "a".repeat(1024);
    app.get(&format!("/job/{longest}/status"))
        .await
        .assert_error(JOB_NOT_FOUND);
    let longest = "%C3%BC".repeat(512);
    app.get(&format!("/job/{longest}/status"))
        .await
        .assert_error(JOB_NOT_FOUND);
}

#[tokio::test]
async fn bad_stop_queries_are_4001() {
    let paths = [
        "/job/lab-stream/stop?mode=kill",
        "/job/lab-stream/stop?mode=",
        "/job/lab-stream/stop?mode=CANCEL",
        "/job/lab-stream/stop?mode=savepoint&drain=yes",
        "/job/lab-stream/stop?mode=savepoint&drain=1",
        "/job/lab-stream/stop?drain=",
        "/job/lab-stream/stop?mode=stop",
    ];
    let methods = [Method::GET, Method::POST];
    let open = Options::guard(StopGuard::Open);
    let (fake, _app) = one_cluster_answering(open, &methods, &paths, MALFORMED, &[""]).await;
    assert_eq!(
        fake.calls(&format!("/jobs/{}", fake.jid_of("lab-stream"))),
        0,
        "nothing was sent to Flink"
    );
    assert_eq!(
        fake.edit(|m| m.state(&fake_jid(m, "lab-stream")))
            .as_deref(),
        Some("RUNNING")
    );
}

fn fake_jid(model: &crate::support::fake_flink::Model, name: &str) -> String {
    model
        .jobs
        .iter()
        .find(|j| j["name"] == name)
        .and_then(|j| j["jid"].as_str())
        .expect("a job")
        .to_string()
}

#[tokio::test]
async fn unknown_clusters_are_4009() {
    let paths = [
        "/clusters/nope",
        "/clusters/nope/",
        "/clusters/Alpha",
        "/clusters/nope/jobs/overview",
        "/clusters/nope/metainfo/getVersion",
        "/clusters/nope/job/lab-stream/status",
        "/clusters/nope/job/lab-stream/statusAndMetrics",
        "/clusters/nope/jobs/lab-stream/exceptions",
        "/clusters/nope/job/lab-stream/exceptions",
        "/clusters/nope/job/lab-stream/stop",
        "/clusters/nope/job/lab-stream/stop?mode=kill",
    ];
    let methods = [Method::GET];
    one_cluster_answering(Options::default(), &methods, &paths, NO_SUCH_CLUSTER, &[""]).await;
}

#[tokio::test]
async fn unknown_names_are_4006() {
    let (_fake, app) = one_cluster(FlinkVersion::V2_3, Options::guard(StopGuard::Open)).await;
    for name in [
        "nope",
        "Lab-Stream",
        "lab-stream%20",
        "lab",
        "lab-stream%00",
        "lab%2Dstream%2F",
    ] {
        for endpoint in job_endpoints() {
            for prefix in ["/", "/clusters/alpha/"] {
                let path = format!("{prefix}{}", endpoint.replace("{}", name));
                let errors = app.get(&path).await.assert_error(JOB_NOT_FOUND);
                assert_eq!(errors, Vec::<String>::new(), "{path}");
            }
        }
    }
}

#[tokio::test]
async fn not_found_at_the_root_names_each_unreachable_cluster() {
    let alpha = [("alpha", FlinkVersion::V1_20)];
    let (_fake, [dead1, dead2], app) = world(alpha, ["dead1", "dead2"], Options::default()).await;
    for endpoint in [
        "job/nope/status",
        "job/nope/statusAndMetrics/",
        "jobs/nope/exceptions",
        "job/nope/exceptions",
    ] {
        // At the root: one line per unreachable cluster, with the reason. Under one
        // unreachable cluster it cannot say the job is not there, so 5005.
        for (path, expected, dead) in [
            (
                format!("/{endpoint}"),
                JOB_NOT_FOUND,
                &[("cluster dead1: ", &dead1), ("cluster dead2: ", &dead2)][..],
            ),
            (
                format!("/clusters/dead2/{endpoint}"),
                FLINK_UNAVAILABLE,
                &[("cluster dead2: ", &dead2)],
            ),
            (format!("/clusters/alpha/{endpoint}"), JOB_NOT_FOUND, &[]),
        ] {
            let starts: Vec<&str> = dead.iter().map(|(start, _)| *start).collect();
            let errors = app.get(&path).await.assert_error_lines(expected, &starts);
            for (line, (_, port)) in errors.iter().zip(dead) {
                let reason = port.url().authority().to_string();
                assert!(line.contains(&reason), "{path}: the reason: {errors:?}");
            }
        }
    }
    // A job on the one reachable cluster is found.
    app.get("/job/lab-stream/status").await.response();
}

#[tokio::test]
async fn a_name_on_two_clusters_is_4007_at_the_root_only() {
    // beta registered first: the 4007 answer lists the clusters sorted all the same.
    let clusters = [("beta", FlinkVersion::V2_3), ("alpha", FlinkVersion::V1_20)];
    let ([new, old], [], app) = world(clusters, [], Options::guard(StopGuard::Open)).await;
    for endpoint in [
        "job/lab-stream/status",
        "job/lab-stream/statusAndMetrics/",
        "jobs/lab-stream/exceptions",
        "job/lab-fail/exceptions/",
        "job/lab-stream/stop",
    ] {
        let errors = app
            .get(&format!("/{endpoint}"))
            .await
            .assert_error(AMBIGUOUS);
        assert_eq!(errors, ["alpha", "beta"], "{endpoint}");
    }
    assert_eq!(
        new.calls(&format!("/jobs/{}", new.jid_of("lab-stream"))),
        0,
        "the stop was not sent"
    );
    let on_beta = app
        .get("/clusters/beta/job/lab-stream/status/")
        .await
        .response();
    assert_eq!(on_beta["jid"], new.jid_of("lab-stream"));
    let on_alpha = app
        .get("/clusters/alpha/job/lab-stream/status/")
        .await
        .response();
    assert_eq!(on_alpha["jid"], old.jid_of("lab-stream"));
    // A name on one cluster only answers at the root.
    let only_beta = app.get("/job/lab-stream-cancel/status").await.response();
    assert_eq!(only_beta["jid"], new.jid_of("lab-stream-cancel"));
}

// ---------------------------------------------------------------------------------------
// errors: 5005

#[tokio::test]
async fn an_unreachable_cluster_is_5005_for_live_reads_and_stop() {
    let fake = FakeFlink::start(FlinkVersion::V1_20).await;
    let other = FakeFlink::empty(FlinkVersion::V2_3).await;
    let app = start_polled(
        vec![
            static_cluster("alpha", fake.url()),
            static_cluster("beta", other.url()),
        ],
        vec![],
        Options::guard(StopGuard::Open),
    )
    .await;
    // Its port closes: the job is still in its last snapshot.
    fake.stop().await;
    app.unreachable("alpha").await;
    let last_poll = rfc3339(app.cluster_status("alpha").last_poll_ms().expect("a poll"));
    for endpoint in [
        "job/lab-stream/status",
        "job/lab-stream/statusAndMetrics",
        "jobs/lab-fail/exceptions",
        "job/lab-fail/exceptions",
        "job/lab-stream/stop",
    ] {
        for prefix in ["/", "/clusters/alpha/"] {
            let path = format!("{prefix}{endpoint}");
            let errors = app
                .get(&path)
                .await
                .assert_error_lines(FLINK_UNAVAILABLE, &["cluster alpha: "]);
            assert!(errors[0].contains(&last_poll), "{path}: {errors:?}");
        }
    }
    // The terminal check needs the job, so it comes after: 5005, not 4008.
    app.get("/job/lab-finish/stop")
        .await
        .assert_error(FLINK_UNAVAILABLE);
}

#[tokio::test]
async fn flink_errors_on_job_reads_are_5005() {
    let (fake, app) = one_cluster(FlinkVersion::V2_3, Options::default()).await;
    let jid = fake.jid_of("lab-stream");
    let details = format!("/jobs/{jid}");
    let url = format!("{}{}", fake.url().as_str().trim_end_matches('/'), details);

    fake.inject(Method::GET, &details, Fault::error(500));
    for path in [
        "/job/lab-stream/status",
        "/job/lab-stream/statusAndMetrics",
        "/clusters/alpha/job/lab-stream/status/",
    ] {
        let errors = app.get(path).await.assert_error(FLINK_UNAVAILABLE);
        assert_eq!(
            errors,
            [format!(
                "cluster alpha: {url} answered HTTP 500: Internal server error.; <Exception on server side:"
            )],
            "{path}"
        );
    }

    fake.inject(Method::GET, &details, Fault::html(502));
    app.get("/job/lab-stream/status").await.assert_error_lines(
        FLINK_UNAVAILABLE,
        &[&format!("cluster alpha: {url} answered HTTP 502: <html>")],
    );

    fake.inject(Method::GET, &details, Fault::garbage());
    app.get("/job/lab-stream/status").await.assert_error_lines(
        FLINK_UNAVAILABLE,
        &[&format!(
            "cluster alpha: {url} answered a body that is not the expected JSON"
        )],
    );

    fake.inject(
        Method::GET,
        &details,
        Fault::json(200, json!({"no": "jid"})),
    );
    app.get("/job/lab-stream/status")
        .await
        .assert_error(FLINK_UNAVAILABLE);

    let exceptions = format!("/jobs/{jid}/exceptions");
    fake.inject(Method::GET, &exceptions, Fault::error(503));
    let errors = app
        .get("/jobs/lab-stream/exceptions")
        .await
        .assert_error_lines(FLINK_UNAVAILABLE, &["cluster alpha: "]);
    assert!(errors[0].contains("HTTP 503"), "{errors:?}");

    // A metrics endpoint failing fails statusAndMetrics, not status.
    fake.heal(Method::GET, &details);
    let source = fake.edit(|m| m.vertices(&jid))[0].clone();
    fake.inject(
        Method::GET,
        &format!("/jobs/{jid}/vertices/{source}/subtasks/metrics"),
        Fault::error(500),
    );
    app.get("/job/lab-stream/status").await.response();
    app.get("/job/lab-stream/statusAndMetrics")
        .await
        .assert_error(FLINK_UNAVAILABLE);
}

#[tokio::test]
async fn a_flink_that_does_not_answer_in_time_is_5005() {
    let options = Options::timeout(Duration::from_millis(500));
    let (fake, app) = one_cluster(FlinkVersion::V1_20, options).await;
    let jid = fake.jid_of("lab-stream");
    let never = Gate::new();
    fake.inject(Method::GET, &format!("/jobs/{jid}"), Fault::held(&never));
    app.get("/job/lab-stream/status")
        .await
        .assert_error_lines(FLINK_UNAVAILABLE, &["cluster alpha: no answer from "]);
}

#[tokio::test]
async fn a_job_flink_no_longer_knows_is_4006() {
    let (fake, app) = one_cluster(FlinkVersion::V2_3, Options::default()).await;
    let jid = fake.jid_of("lab-stream");
    fake.edit(|m| m.details.remove(&jid));
    let errors = app
        .get("/clusters/alpha/job/lab-stream/status")
        .await
        .assert_error(JOB_NOT_FOUND);
    assert_eq!(errors, ["cluster alpha: flink no longer knows the job"]);
}
