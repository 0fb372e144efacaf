//! The HTTP API: status, statusAndMetrics and exceptions of one job.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::support::fake_flink::{FakeFlink, FakeJob, Fault, FlinkVersion, Gate, fixture, now_ms};

use crate::support::api_app::*;

/// The `metrics` of `statusAndMetrics`: the counts and the event time as decimal strings.
fn metrics(read: i64, event_ts: i64, processed: i64) -> Value {
    json!({
        "numRecordsRead": read.to_string(),
        "currentEventTs": event_ts.to_string(),
        "numRecordsProcessed": processed.to_string(),
    })
}

/// The final counts of an ended job in its `/jobs/{jid}`: written by the source, read by
/// the sink.
fn final_counts(details: &Value) -> (i64, i64) {
    let write = details["vertices"][0]["metrics"]["write-records"]
        .as_i64()
        .expect("write-records");
    let read = details["vertices"][1]["metrics"]["read-records"]
        .as_i64()
        .expect("read-records");
    (write, read)
}

// ---------------------------------------------------------------------------------------
// status

#[tokio::test]
async fn status_and_metrics_of_a_running_job_in_every_path_form_and_version() {
    for version in FlinkVersion::ALL {
        let (_fake, app) = one_cluster(version, Options::default()).await;
        let job = recorded_job(version, "lab-stream");
        let details = fixture(version, "job_stream.json");
        let start = job["start-time"].as_i64().expect("start-time");
        for path in [
            "/job/lab-stream/status",
            "/job/lab-stream/status/",
            "/clusters/alpha/job/lab-stream/status",
            "/clusters/alpha/job/lab-stream/status/",
        ] {
            let before = now_ms();
            let answer = app.get(path).await;
            let after = now_ms();
            let response = answer.response();
            let duration = running_duration(&response, start, before, after);
            assert_eq!(
                response,
                expected_status("lab-stream", &job, &details, duration),
                "{version:?} {path}"
            );
            assert_eq!(response["end-time"], -1);
            assert_eq!(response["state"], "RUNNING");
        }

        // Recorded: numRecordsOut of the source, numRecordsIn of the sink, summed over subtasks.
        let read = fixture(version, "job_stream_v0_subtasks_metrics_agg.json")[1]["sum"]
            .as_f64()
            .expect("sum");
        let processed = fixture(version, "job_stream_v1_subtasks_metrics_agg.json")[0]["sum"]
            .as_f64()
            .expect("sum");
        for path in [
            "/job/lab-stream/statusAndMetrics",
            "/job/lab-stream/statusAndMetrics/",
            "/clusters/alpha/job/lab-stream/statusAndMetrics/",
        ] {
            let before = now_ms();
            let response = app.get(path).await.response();
            let after = now_ms();
            assert_eq!(keys(&response), ["details", "metrics"]);
            let duration = running_duration(&response["details"], start, before, after);
            assert_eq!(
                response,
                json!({
                    "details": expected_status("lab-stream", &job, &details, duration),
                    "metrics": metrics(read as i64, 0, processed as i64),
                }),
                "{version:?} {path}"
            );
        }
    }
}

#[tokio::test]
async fn status_takes_the_state_from_the_overview_snapshot() {
    // Flink caches GET /jobs/{jid} for a few seconds, the overview is current.
    let (fake, app) = one_cluster(FlinkVersion::V2_3, Options::default()).await;
    let jid = fake.jid_of("lab-stream");
    fake.edit(|m| m.job_mut(&jid).expect("job")["state"] = "RESTARTING".into());
    app.job_state("alpha", &jid, "RESTARTING").await;
    let response = app.get("/job/lab-stream/status/").await.response();
    assert_eq!(response["state"], "RESTARTING");
    assert_eq!(
        response["vertices"][0]["status"], "RUNNING",
        "vertices come from /jobs/{{jid}}"
    );
}

// ---------------------------------------------------------------------------------------
// statusAndMetrics

#[tokio::test]
async fn metrics_sum_the_subtasks_of_the_first_and_last_vertex_and_take_the_greatest_event_time() {
    let (fake, app) = one_cluster(FlinkVersion::V2_3, Options::default()).await;
    let jid = fake.add_job(FakeJob::new("wide", "RUNNING"));
    let middle = "0123456789abcdef0123456789abcdef";
    let (source, sink) = fake.edit(|m| {
        // Three vertices: source -> middle -> sink, two subtasks each.
        let details = m.details.get_mut(&jid).expect("details");
        let vertices = details["vertices"].as_array_mut().expect("vertices");
        let mut mid = vertices[0].clone();
        mid["id"] = middle.into();
        mid["name"] = "flinklab-middle".into();
        vertices.insert(1, mid);
        let ids = m.vertices(&jid);
        (ids[0].clone(), ids[2].clone())
    });
    fake.edit(|m| {
        for (vertex, name, value) in [
            (source.as_str(), "0.numRecordsOut", "5"),
            (source.as_str(), "1.numRecordsOut", "7"),
            (middle, "0.numRecordsIn", "1000"),
            (middle, "0.numRecordsOut", "1000"),
            (middle, "0.flinklab-middle.currentEventTs", "1700000009000"),
            (sink.as_str(), "0.numRecordsIn", "4"),
            (sink.as_str(), "1.numRecordsIn", "6"),
            (
                sink.as_str(),
                "0.flinklab-map.currentEventTs",
                "1700000005000",
            ),
            (
                sink.as_str(),
                "1.flinklab-map.currentEventTs",
                "not a number",
            ),
            (
                sink.as_str(),
                "1.flinklab-map.currentEventTsLag",
                "1800000000000",
            ),
        ] {
            m.set_vertex_metric(&jid, vertex, name, value);
        }
    });
    app.job_state("alpha", &jid, "RUNNING").await;
    let response = app.get("/job/wide/statusAndMetrics/").await.response();
    assert_eq!(response["metrics"], metrics(12, 1_700_000_009_000, 10));
    assert_eq!(
        response["details"]["vertices"].as_array().map(Vec::len),
        Some(3)
    );
}

#[tokio::test]
async fn a_missing_metric_is_zero() {
    for version in FlinkVersion::ALL {
        let (fake, app) = one_cluster(version, Options::default()).await;
        let jid = fake.add_job(FakeJob::new("quiet", "RUNNING"));
        // Flink's metric store fills lazily: the first requests can answer [].
        fake.edit(|m| m.vertex_metrics.retain(|(j, _), _| *j != jid));
        app.job_state("alpha", &jid, "RUNNING").await;
        let response = app.get("/job/quiet/statusAndMetrics/").await.response();
        assert_eq!(response["metrics"], metrics(0, 0, 0), "{version:?}");
    }
}

#[tokio::test]
async fn ended_jobs_have_flinks_own_duration_and_their_final_vertex_counts() {
    for version in FlinkVersion::ALL {
        let (fake, app) = one_cluster(version, Options::default()).await;
        for (name, file) in [
            ("lab-finish", "job_finish.json"),
            ("lab-fail", "job_fail.json"),
        ] {
            let job = recorded_job(version, name);
            let details = fixture(version, file);
            let duration = job["duration"].as_i64().expect("duration");
            let status = expected_status(name, &job, &details, duration);
            let answer = app.get(&format!("/job/{name}/status/")).await;
            answer.assert_ok(status.clone());

            let jid = details["jid"].as_str().expect("jid").to_string();
            let (write, read) = final_counts(&details);
            let response = app
                .get(&format!("/job/{name}/statusAndMetrics/"))
                .await
                .response();
            assert_eq!(
                response,
                json!({"details": status, "metrics": metrics(write, 0, read)}),
                "{version:?} {name}"
            );
            // The metric store of an ended job is stale (lab-finish's sink shows fewer than
            // 200 records there); it is not asked for counts.
            let stale = fake
                .requests()
                .iter()
                .filter(|r| {
                    r.path.starts_with(&format!("/jobs/{jid}/"))
                        && r.path.ends_with("/subtasks/metrics")
                })
                .count();
            assert_eq!(stale, 0, "{version:?} {name}");
        }
        assert_eq!(
            app.get("/job/lab-finish/statusAndMetrics/")
                .await
                .response()["metrics"]["numRecordsProcessed"],
            "200"
        );
    }
}

#[tokio::test]
async fn cached_metrics_of_a_running_job_do_not_answer_once_it_ended() {
    let options = Options::cache_ttl(Duration::from_secs(60));
    let (fake, app) = one_cluster(FlinkVersion::V2_3, options).await;
    let jid = fake.jid_of("lab-stream");
    let details = fixture(FlinkVersion::V2_3, "job_stream.json");
    let (write, read) = final_counts(&details);
    // The metric store moves on while the job runs.
    let source = details["vertices"][0]["id"].as_str().expect("vertex id");
    fake.edit(|m| m.set_vertex_metric(&jid, source, "0.numRecordsOut", "1000000"));
    let running = app
        .get("/job/lab-stream/statusAndMetrics/")
        .await
        .response();
    assert_ne!(
        running["metrics"]["numRecordsRead"],
        write.to_string(),
        "the running job's metrics come from the metric store"
    );
    // It ends; its final counts are in its details.
    let (write, read) = (write + 100, read + 100);
    fake.edit(|m| {
        let details = m.details.get_mut(&jid).expect("details");
        details["vertices"][0]["metrics"]["write-records"] = write.into();
        details["vertices"][1]["metrics"]["read-records"] = read.into();
    });
    fake.set_state(&jid, "FINISHED");
    app.job_state("alpha", &jid, "FINISHED").await;
    let ended = app
        .get("/job/lab-stream/statusAndMetrics/")
        .await
        .response();
    assert_eq!(
        ended["metrics"],
        metrics(write, 0, read),
        "an ended job's counts are the vertex counters, whatever was cached while it ran"
    );
    assert_eq!(ended["details"]["state"], "FINISHED");
    assert_eq!(
        ended["details"]["vertices"][0]["metrics"]["write-records"],
        write
    );
}

/// `count` GETs, of `paths` in turn, each in a task of its own.
fn in_flight(app: &TestApp, paths: &[&str], count: usize) -> Vec<JoinHandle<Answer>> {
    (0..count)
        .map(|i| {
            let request = Request::get(paths[i % paths.len()])
                .body(Body::empty())
                .expect("request");
            tokio::spawn(send(app.router.clone(), request))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_status_and_metrics_requests_make_one_flink_call_per_endpoint() {
    let options = Options::cache_ttl(Duration::from_secs(60));
    let (fake, app) = one_cluster(FlinkVersion::V2_3, options).await;
    let jid = fake.jid_of("lab-stream");
    let vertices = fake.edit(|m| m.vertices(&jid));
    let (source, sink) = (&vertices[0], &vertices[1]);
    fake.edit(|m| {
        m.set_vertex_metric(&jid, sink, "0.flinklab-map.currentEventTs", "1700000042000")
    });
    // Hold Flink's answer to the first call until every request is in flight.
    let gate = Gate::new();
    fake.inject(Method::GET, &format!("/jobs/{jid}"), Fault::held(&gate));
    fake.forget_requests();

    let requests = in_flight(&app, &["/job/lab-stream/statusAndMetrics/"], 200);
    eventually("the first call to Flink", || async {
        fake.calls(&format!("/jobs/{jid}")) >= 1
    })
    .await;
    // Give requests that did not join the call in flight the time to make their own.
    tokio::time::sleep(Duration::from_millis(300)).await;
    gate.open();
    let mut bodies = Vec::new();
    for request in requests {
        let answer = request.await.expect("no panic");
        assert_eq!(answer.status, StatusCode::OK);
        bodies.push(answer.json()["response"]["metrics"].clone());
    }
    assert!(
        bodies.iter().all(|m| *m == bodies[0]),
        "every client got the same answer"
    );
    assert_eq!(bodies[0]["currentEventTs"], "1700000042000");

    let mut calls: BTreeMap<String, usize> = BTreeMap::new();
    for request in fake.requests() {
        if request.path.starts_with("/jobs/") && request.path != "/jobs/overview" {
            *calls
                .entry(format!("{} {}", request.method, request.path_and_query()))
                .or_default() += 1;
        }
    }
    let expected: BTreeMap<String, usize> = [
        format!("GET /jobs/{jid}"),
        format!("GET /jobs/{jid}/vertices/{source}/subtasks/metrics?get=numRecordsOut&agg=sum"),
        format!("GET /jobs/{jid}/vertices/{sink}/subtasks/metrics?get=numRecordsIn&agg=sum"),
        format!("GET /jobs/{jid}/vertices/{source}/metrics"),
        format!("GET /jobs/{jid}/vertices/{sink}/metrics"),
        format!("GET /jobs/{jid}/vertices/{sink}/metrics?get=0.flinklab-map.currentEventTs"),
    ]
    .into_iter()
    .map(|call| (call, 1))
    .collect();
    assert_eq!(calls, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_status_and_exceptions_requests_share_their_flink_calls() {
    let options = Options::cache_ttl(Duration::from_secs(60));
    let (fake, app) = one_cluster(FlinkVersion::V1_20, options).await;
    let jid = fake.jid_of("lab-fail");
    let gate = Gate::new();
    for path in [format!("/jobs/{jid}"), format!("/jobs/{jid}/exceptions")] {
        fake.inject(Method::GET, &path, Fault::held(&gate));
    }
    fake.forget_requests();
    let paths = [
        "/job/lab-fail/status/",
        "/jobs/lab-fail/exceptions/",
        "/job/lab-fail/exceptions",
    ];
    let requests = in_flight(&app, &paths, 150);
    eventually("the first calls to Flink", || async {
        fake.calls(&format!("/jobs/{jid}")) >= 1
            && fake.calls(&format!("/jobs/{jid}/exceptions")) >= 1
    })
    .await;
    // Give requests that did not join the calls in flight the time to make their own.
    tokio::time::sleep(Duration::from_millis(300)).await;
    gate.open();
    for request in requests {
        assert_eq!(request.await.expect("no panic").status, StatusCode::OK);
    }
    assert_eq!(fake.calls(&format!("/jobs/{jid}")), 1);
    assert_eq!(fake.calls(&format!("/jobs/{jid}/exceptions")), 1);
}

#[tokio::test]
async fn a_slow_flink_within_the_timeout_is_waited_for() {
    let (fake, app) = one_cluster(FlinkVersion::V2_3, Options::default()).await;
    let jid = fake.jid_of("lab-stream");
    fake.slow_details(&jid, Duration::from_millis(300));
    let response = app.get("/job/lab-stream/status").await.response();
    assert_eq!(response["jid"], jid);
}

// ---------------------------------------------------------------------------------------
// exceptions

const EXCEPTION_PATHS: [&str; 8] = [
    "/jobs/{}/exceptions",
    "/jobs/{}/exceptions/",
    "/job/{}/exceptions",
    "/job/{}/exceptions/",
    "/clusters/alpha/jobs/{}/exceptions",
    "/clusters/alpha/jobs/{}/exceptions/",
    "/clusters/alpha/job/{}/exceptions",
    "/clusters/alpha/job/{}/exceptions/",
];

/// The `exceptions` answer: the root exception, its timestamp and `truncated`.
fn root(exception: Value, timestamp: Value, truncated: bool) -> Value {
    json!({"root-exception": exception, "timestamp": timestamp, "truncated": truncated})
}

/// The `exceptions` answer from a recorded object: its `exception` field and its
/// `timestamp`, not truncated.
fn from_recorded(recorded: &Value, exception: &str) -> Value {
    root(
        recorded[exception].clone(),
        recorded["timestamp"].clone(),
        false,
    )
}

fn no_root() -> Value {
    root(Value::Null, Value::Null, false)
}

/// Flink answers `exceptions` for the exceptions of `jid` from now on.
fn flink_answers(fake: &FakeFlink, jid: &str, exceptions: Value) {
    fake.edit(|m| m.exceptions.insert(jid.to_string(), exceptions));
}

async fn assert_exceptions(app: &TestApp, name: &str, expected: Value) {
    for path in EXCEPTION_PATHS {
        let path = path.replace("{}", name);
        let answer = app.get(&path).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.text());
        answer.assert_ok(expected.clone());
    }
}

#[tokio::test]
async fn exceptions_of_flink_1_20_pass_the_root_exception_through() {
    let (fake, app) = one_cluster(FlinkVersion::V1_20, Options::default()).await;
    let recorded = fixture(FlinkVersion::V1_20, "job_fail_exceptions.json");
    // The recorded root exception's timestamp differs from its history entry's: passed through.
    assert_ne!(
        recorded["timestamp"],
        recorded["exceptionHistory"]["entries"][0]["timestamp"]
    );
    let passed = from_recorded(&recorded, "root-exception");
    assert_exceptions(&app, "lab-fail", passed).await;
    assert_exceptions(&app, "lab-stream", no_root()).await;

    let jid = fake.jid_of("lab-fail");
    for (flink, expected) in [
        // `truncated` is passed through too, even when the history holds a newer entry.
        (
            json!({"root-exception": "java.lang.Exception: root", "timestamp": 7, "all-exceptions": [], "truncated": true,
                   "exceptionHistory": {"entries": [{"stacktrace": "newer", "timestamp": 9}], "truncated": false}}),
            root(json!("java.lang.Exception: root"), json!(7), true),
        ),
        // A null root exception falls back to the history.
        (
            json!({"root-exception": null, "timestamp": null, "all-exceptions": [], "truncated": false,
                   "exceptionHistory": {"entries": [{"stacktrace": "from history", "timestamp": 5}], "truncated": true}}),
            root(json!("from history"), json!(5), true),
        ),
    ] {
        flink_answers(&fake, &jid, flink);
        assert_exceptions(&app, "lab-fail", expected).await;
    }
}

#[tokio::test]
async fn exceptions_of_flink_2_3_are_the_newest_history_entry() {
    let (fake, app) = one_cluster(FlinkVersion::V2_3, Options::default()).await;
    let recorded = fixture(FlinkVersion::V2_3, "job_fail_exceptions.json");
    assert!(
        recorded.get("root-exception").is_none(),
        "2.3 has no root-exception"
    );
    let entry = &recorded["exceptionHistory"]["entries"][0];
    let newest = from_recorded(entry, "stacktrace");
    assert_exceptions(&app, "lab-fail", newest).await;
    for name in ["lab-stream", "lab-finish"] {
        assert_exceptions(&app, name, no_root()).await;
    }

    let jid = fake.jid_of("lab-fail");
    let flink = json!({"exceptionHistory": {"truncated": true, "entries": [
        {"exceptionName": "a", "stacktrace": "older", "timestamp": 100, "concurrentExceptions": []},
        {"exceptionName": "b", "stacktrace": "newest", "timestamp": 300, "concurrentExceptions": []},
        {"exceptionName": "c", "stacktrace": "middle", "timestamp": 200, "concurrentExceptions": []},
    ]}});
    flink_answers(&fake, &jid, flink);
    assert_exceptions(&app, "lab-fail", root(json!("newest"), json!(300), true)).await;
}
