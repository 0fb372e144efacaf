//! The HTTP API: jobs/overview, metainfo, clusters and the service endpoints.

use std::time::Duration;

use axum::http::{Method, StatusCode, header};
use flink_monitor::api::endpoints::ENDPOINTS;
use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

use crate::support::fake_flink::{
    ClosedPort, FakeFlink, FakeJob, Fault, FlinkVersion, Gate, fixture, now_ms,
};

use crate::support::api_app::*;

// ---------------------------------------------------------------------------------------
// jobs/overview, metainfo, clusters

/// The contract's overview entry of a recorded job.
#[track_caller]
fn expected_overview_job(
    job: &Value,
    cluster: &str,
    answered: &Value,
    before: i64,
    after: i64,
) -> Value {
    let duration = if job["end-time"] == -1 {
        running_duration(
            answered,
            job["start-time"].as_i64().expect("start"),
            before,
            after,
        )
    } else {
        job["duration"].as_i64().expect("duration")
    };
    json!({
        "jid": job["jid"], "name": job["name"], "state": job["state"], "start-time": job["start-time"],
        "end-time": job["end-time"], "duration": duration, "tasks": job["tasks"], "cluster": cluster,
    })
}

#[track_caller]
fn assert_overview(response: &Value, expected: &[(&str, FlinkVersion)], before: i64, after: i64) {
    let answered = response["jobs"]
        .as_array()
        .unwrap_or_else(|| panic!("no jobs in {response}"));
    assert_eq!(keys(response), ["jobs"]);
    let mut wanted = Vec::new();
    for (cluster, version) in expected {
        for job in fixture(*version, "jobs_overview.json")["jobs"]
            .as_array()
            .expect("jobs")
        {
            let got = answered
                .iter()
                .find(|j| j["jid"] == job["jid"] && j["cluster"] == *cluster)
                .unwrap_or_else(|| panic!("{} of {cluster} missing from {response}", job["jid"]));
            wanted.push(expected_overview_job(job, cluster, got, before, after));
        }
    }
    assert_eq!(answered, &wanted);
}

#[tokio::test]
async fn jobs_overview_lists_every_cluster_at_the_root_and_one_under_it() {
    let clusters = [
        ("alpha", FlinkVersion::V1_20),
        ("team-a.flink", FlinkVersion::V2_3),
    ];
    let (_fakes, [], app) = world(clusters, [], Options::default()).await;
    for path in ["/jobs/overview", "/jobs/overview/"] {
        let before = now_ms();
        let response = app.get(path).await.response();
        let after = now_ms();
        assert_overview(
            &response,
            &[
                ("alpha", FlinkVersion::V1_20),
                ("team-a.flink", FlinkVersion::V2_3),
            ],
            before,
            after,
        );
    }
    for (cluster, version) in [
        ("alpha", FlinkVersion::V1_20),
        ("team-a.flink", FlinkVersion::V2_3),
    ] {
        let before = now_ms();
        let response = app
            .get(&format!("/clusters/{cluster}/jobs/overview/"))
            .await
            .response();
        let after = now_ms();
        assert_overview(&response, &[(cluster, version)], before, after);
    }
}

#[tokio::test]
async fn jobs_overview_of_an_unreachable_cluster_is_its_last_snapshot_with_a_message() {
    let clusters = [("alpha", FlinkVersion::V1_20), ("beta", FlinkVersion::V2_3)];
    let ([fake, _other], _never, app) = world(clusters, ["never"], Options::default()).await;
    fake.stop().await;
    app.unreachable("alpha").await;
    let last_poll = app
        .cluster_status("alpha")
        .last_poll_ms()
        .expect("a successful poll");

    let before = now_ms();
    let answer = app.get("/jobs/overview/").await;
    let after = now_ms();
    assert_eq!(answer.status, StatusCode::OK);
    let body = answer.json();
    assert_eq!(keys(&body), ["messages", "response"]);
    assert_overview(
        &body["response"],
        &[("alpha", FlinkVersion::V1_20), ("beta", FlinkVersion::V2_3)],
        before,
        after,
    );
    let messages: Vec<&str> = body["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(messages.len(), 2, "{messages:?}");
    // One line per unreachable cluster, naming it and (when there was one) the time of its
    // last successful poll in RFC 3339, UTC.
    assert!(messages[0].starts_with("cluster alpha "), "{messages:?}");
    let time = messages[0].rsplit(' ').next().expect("a last word");
    let parsed: Timestamp = time.parse().unwrap_or_else(|e| panic!("{time:?}: {e}"));
    assert_eq!(parsed.as_millisecond(), last_poll);
    // UTC, with milliseconds: `2026-11-25T11:33:56.846Z`.
    assert!(time.ends_with('Z'), "UTC: {time}");
    assert_eq!(time.len(), 24, "{time}");
    assert_eq!(time.as_bytes()[19], b'.', "{time}");
    assert_eq!(time, rfc3339(last_poll));
    assert!(messages[1].starts_with("cluster never "), "{messages:?}");

    let one = app.get("/clusters/alpha/jobs/overview/").await.json();
    assert_eq!(one["messages"].as_array().map(Vec::len), Some(1), "{one}");
    assert_eq!(
        one["response"]["jobs"].as_array().map(Vec::len),
        Some(3),
        "{one}"
    );
    app.get("/clusters/beta/jobs/overview/").await.response();
}

#[tokio::test]
async fn metainfo_get_version_is_the_monitors_version() {
    let (_fake, app) = one_cluster(FlinkVersion::V2_3, Options::default()).await;
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(version.split('.').count(), 3, "semver");
    for path in [
        "/metainfo/getVersion",
        "/metainfo/getVersion/",
        "/clusters/alpha/metainfo/getVersion",
        "/clusters/alpha/metainfo/getVersion/",
    ] {
        app.get(path).await.assert_ok(json!(version));
    }
}

#[tokio::test]
async fn after_an_outage_the_first_snapshot_does_not_wait_for_the_flink_version() {
    // A long budget: a snapshot that waited for /config would wait past PATIENCE.
    let options = Options::timeout(Duration::from_secs(60));
    let (fake, app) = one_cluster(FlinkVersion::V2_3, options).await;
    fake.inject(Method::GET, "/jobs/overview", Fault::error(503));
    app.unreachable("alpha").await;
    let gate = Gate::new();
    fake.inject(Method::GET, "/config", Fault::held(&gate));
    let jid = fake.add_job(FakeJob::new("after-the-outage", "RUNNING"));
    fake.heal(Method::GET, "/jobs/overview");
    app.job_state("alpha", &jid, "RUNNING").await;
    let status = app.cluster_status("alpha");
    assert!(status.reachable);
    // The version read after the outage is still held; the last known one shows.
    assert_eq!(status.flink_version.as_deref(), Some("2.3.0"));
    eventually("the version read again after the outage", || async {
        fake.calls("/config") >= 2
    })
    .await;
    gate.open();
}

#[tokio::test]
async fn a_failing_config_is_not_read_on_every_poll() {
    let fake = FakeFlink::start(FlinkVersion::V2_3).await;
    fake.inject(Method::GET, "/config", Fault::error(404));
    let app = start(
        vec![static_cluster("alpha", fake.url())],
        Options::default(),
    );
    // Polls every 100 ms: ten of them.
    eventually("ten polls", || async { fake.calls("/jobs/overview") >= 10 }).await;
    let status = app.cluster_status("alpha");
    assert!(status.reachable && status.flink_version.is_none());
    let reads = fake.calls("/config");
    assert_eq!(
        reads, 1,
        "/config is asked once, then again after a while, not per poll"
    );
}

#[tokio::test]
async fn clusters_lists_every_cluster_and_answers_one() {
    let started = now_ms();
    let clusters = [
        ("alpha", FlinkVersion::V1_20),
        ("team-a.flink", FlinkVersion::V2_3),
    ];
    let ([old, new], [dead], app) = world(clusters, ["dead"], Options::default()).await;

    let list = app.get("/clusters").await.response();
    let list = list.as_array().expect("an array");
    assert_eq!(list.len(), 3);
    let base = |url: reqwest::Url| url.as_str().trim_end_matches('/').to_string();
    let check_reachable = |view: &Value, expected: Value| {
        let last_poll = view["lastPoll"]
            .as_i64()
            .unwrap_or_else(|| panic!("no lastPoll in {view}"));
        assert!((started..=now_ms()).contains(&last_poll), "{view}");
        let mut expected = expected;
        expected["lastPoll"] = last_poll.into();
        assert_eq!(*view, expected);
    };
    check_reachable(
        &list[0],
        json!({"id": "alpha", "namespace": null, "name": "alpha", "source": "static", "url": base(old.url()),
               "reachable": true, "flinkVersion": "1.20.5", "lastError": null, "jobs": 3}),
    );
    let dead_view = &list[1];
    let last_error = dead_view["lastError"]
        .as_str()
        .unwrap_or_else(|| panic!("no lastError in {dead_view}"));
    assert!(
        last_error.contains(&dead.url().authority().to_string()),
        "{last_error}"
    );
    assert_eq!(
        *dead_view,
        json!({"id": "dead", "namespace": null, "name": "dead", "source": "static", "url": base(dead.url()),
               "reachable": false, "flinkVersion": null, "lastPoll": null, "lastError": last_error, "jobs": 0})
    );
    check_reachable(
        &list[2],
        json!({"id": "team-a.flink", "namespace": "team-a", "name": "flink", "source": "service", "url": base(new.url()),
               "reachable": true, "flinkVersion": "2.3.0", "lastError": null, "jobs": 5}),
    );

    for (i, id) in ["alpha", "dead", "team-a.flink"].into_iter().enumerate() {
        for path in [format!("/clusters/{id}"), format!("/clusters/{id}/")] {
            let one = app.get(&path).await.response();
            let mut listed = list[i].clone();
            // A poll may have happened in between.
            listed["lastPoll"] = one["lastPoll"].clone();
            assert_eq!(one, listed, "{path}");
        }
    }
    app.get("/clusters/").await.response();

    // A cluster that was reachable and is not any more keeps its last poll time and version.
    old.stop().await;
    app.unreachable("alpha").await;
    let view = app.get("/clusters/alpha").await.response();
    assert_eq!(view["reachable"], false);
    assert_eq!(view["flinkVersion"], "1.20.5");
    assert!(view["lastPoll"].is_i64(), "{view}");
    assert!(view["lastError"].is_string(), "{view}");
    assert_eq!(view["jobs"], 3);
}

// ---------------------------------------------------------------------------------------
// service endpoints

#[tokio::test]
async fn healthz_and_readyz() {
    let fake = FakeFlink::start(FlinkVersion::V1_20).await;
    let gate = Gate::new();
    fake.inject(Method::GET, "/jobs/overview", Fault::held(&gate));
    let app = start(
        vec![static_cluster("alpha", fake.url())],
        Options::default(),
    );
    app.get("/healthz").await.assert_ok(json!("ok"));
    app.get("/healthz/").await.assert_ok(json!("ok"));

    // The first poll is held back: not ready.
    let errors = app.get("/readyz").await.assert_error(NOT_READY);
    assert_eq!(errors, ["cluster alpha: not polled yet"]);
    gate.open();
    eventually("ready", || async {
        app.get("/readyz").await.status == StatusCode::OK
    })
    .await;
    app.get("/readyz").await.assert_ok(json!("ok"));
    app.get("/healthz").await.assert_ok(json!("ok"));
}

#[tokio::test]
async fn readyz_counts_a_failed_first_poll_as_polled() {
    let dead = ClosedPort::new();
    let app = start(vec![static_cluster("dead", dead.url())], Options::default());
    app.unreachable("dead").await;
    app.get("/readyz/").await.assert_ok(json!("ok"));
}

#[tokio::test]
async fn readyz_with_no_clusters_is_ready() {
    let app = start(vec![], Options::default());
    app.get("/readyz").await.assert_ok(json!("ok"));
}

#[tokio::test]
async fn metrics_are_prometheus_text_with_poll_and_http_counters() {
    let (_fake, app) = one_cluster(FlinkVersion::V2_3, Options::default()).await;
    app.get("/healthz").await.assert_ok(json!("ok"));
    app.get("/job/lab-stream/status/").await.response();
    app.get("/nope").await.assert_error(NO_SUCH_PATH);
    let answer = app.get("/metrics").await;
    assert_eq!(answer.status, StatusCode::OK);
    let content_type = answer.header(header::CONTENT_TYPE).unwrap_or_default();
    assert!(
        content_type.starts_with("text/plain")
            || content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    let text = answer.text();
    let sample = |name: &str, labels: &[&str]| {
        text.lines().any(|line| {
            line.starts_with(&format!("{name}{{")) && labels.iter().all(|l| line.contains(l)) && {
                let value = line.rsplit(' ').next().unwrap_or_default();
                value.parse::<f64>().is_ok_and(|v| v >= 1.0)
            }
        })
    };
    // The casing of the outcome label is the code's choice.
    let lower = text.to_lowercase();
    assert!(
        lower
            .lines()
            .any(|l| l.starts_with("flink_monitor_polls_total{")
                && l.contains(r#"outcome="success""#)),
        "{text}"
    );
    assert!(
        sample(
            "flink_monitor_http_requests_total",
            &[r#"route="/healthz""#, r#"status="200""#]
        ),
        "{text}"
    );
    assert!(
        sample(
            "flink_monitor_http_requests_total",
            &[r#"route="/job/{uuid}/status/""#, r#"status="200""#]
        ),
        "{text}"
    );
    assert!(
        sample("flink_monitor_http_requests_total", &[r#"status="404""#]),
        "{text}"
    );
    assert!(text.contains("# TYPE flink_monitor_polls"), "{text}");
    // Labels are bounded: no job names, paths or cluster ids.
    assert!(
        !text.contains("lab-stream") && !text.contains("/nope") && !text.contains("alpha"),
        "{text}"
    );
}

#[tokio::test]
async fn openapi_documents_every_path_at_the_root_and_under_a_cluster() {
    let app = start(vec![], Options::default());
    let answer = app.get("/openapi.json").await;
    assert_eq!(answer.status, StatusCode::OK);
    answer.assert_json_content_type();
    let doc = answer.json();
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "{}",
        doc["openapi"]
    );
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(doc["info"]["title"].is_string());
    let paths = doc["paths"].as_object().expect("paths");
    // The endpoint table is what the router serves.
    for endpoint in ENDPOINTS {
        for path in endpoint.patterns() {
            let item = paths
                .get(path)
                .unwrap_or_else(|| panic!("{path} is not documented"));
            for method in endpoint.methods.documented() {
                assert!(item.get(method).is_some(), "{path} has no {method}");
            }
        }
    }
    assert_eq!(
        paths.len(),
        ENDPOINTS.iter().flat_map(|e| e.patterns()).count(),
        "documented paths outside the endpoint table: {:?}",
        paths.keys().collect::<Vec<_>>()
    );
    // Every `{param}` of a path is declared as a path parameter, on the path or its operation.
    for (path, item) in paths {
        for name in path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
        {
            for (method, operation) in item.as_object().expect("a path item") {
                if method == "parameters" {
                    continue;
                }
                let declared = [&item["parameters"], &operation["parameters"]]
                    .into_iter()
                    .filter_map(Value::as_array)
                    .flatten()
                    .any(|p| p["name"] == name && p["in"] == "path" && p["required"] == true);
                assert!(declared, "{method} {path} does not declare {name}");
            }
        }
        for (method, operation) in item.as_object().expect("a path item") {
            if method != "parameters" {
                assert!(
                    operation["responses"].get("200").is_some(),
                    "{method} {path} has no 200"
                );
            }
        }
    }
    // Every code a path can answer is documented: 405 and 503/504 everywhere, 400/4001
    // where a job name or a query is parsed, 404/4009 under a cluster; 409/4007 (a name on
    // several clusters) only at the root.
    let codes = |path: &str, method: &str| -> Vec<String> {
        paths[path][method]["responses"]
            .as_object()
            .unwrap_or_else(|| panic!("{method} {path} has no responses"))
            .keys()
            .cloned()
            .collect()
    };
    for (path, item) in paths {
        for (method, _) in item.as_object().expect("a path item") {
            if method == "parameters" {
                continue;
            }
            let codes = codes(path, method);
            for code in ["405", "503", "504"] {
                assert!(
                    codes.iter().any(|c| c == code),
                    "{method} {path}: no {code} in {codes:?}"
                );
            }
            if path.contains("{uuid}") {
                assert!(
                    codes.iter().any(|c| c == "400"),
                    "{method} {path}: no 400 in {codes:?}"
                );
            }
            if path.starts_with("/clusters/{cluster}") {
                assert!(
                    codes.iter().any(|c| c == "404"),
                    "{method} {path}: no 404 in {codes:?}"
                );
                let text = item[method]["responses"].to_string();
                assert!(
                    !text.contains("4007"),
                    "{method} {path} documents 4007: {text}"
                );
            }
        }
    }
    assert!(
        codes("/job/{uuid}/status/", "get")
            .iter()
            .any(|c| c == "409"),
        "4007 at the root"
    );
    assert_eq!(
        paths["/metrics"]["get"]["responses"]["200"]["content"]
            .as_object()
            .map(|c| c.keys().cloned().collect::<Vec<_>>()),
        Some(vec![
            "application/openmetrics-text; version=1.0.0; charset=utf-8".to_string()
        ]),
        "/metrics is documented with the content type it is served with"
    );

    // Operation ids are unique in the whole document.
    let mut ids = Vec::new();
    for item in paths.values() {
        for (method, operation) in item.as_object().expect("a path item") {
            if method != "parameters"
                && let Some(id) = operation["operationId"].as_str()
            {
                assert!(!ids.contains(&id), "operationId {id} is used twice");
                ids.push(id);
            }
        }
    }
    // The components referenced exist.
    let text = answer.text();
    for reference in text.split("\"$ref\":").skip(1) {
        let target = reference
            .trim_start()
            .trim_start_matches(['"'])
            .split('"')
            .next()
            .expect("a ref");
        let name = target
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("odd $ref {target}"));
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "{target} is not defined"
        );
    }
}
