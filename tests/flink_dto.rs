//! The Flink DTOs against every recorded answer of Flink 1.20.5 and 2.3.0 that they cover,
//! and property tests: no input, however odd, makes the DTO parsers or the path parsing panic.

mod support;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use flink_monitor::api::{self, AppState, StopGuard};
use flink_monitor::clusters::job_metrics::{aggregated_sum, event_ts_names, max_numeric};
use flink_monitor::clusters::{KnownClusters, PollSettings};
use flink_monitor::flink::dto::{
    AggregatedMetric, CheckpointStats, DashboardConfig, ErrorBody, JobDetails, JobExceptions,
    JobOverview, JobsOverview, MetricValue, TriggerResponse,
};
use flink_monitor::flink::{ClientSettings, FlinkClient, RootException, StopRequest};
use flink_monitor::metrics::Metrics;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use proptest::prelude::*;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use support::api_app::{Answer, send};
use support::fake_flink::{
    FakeFlink, FakeJob, FlinkVersion, Recorded, fixture, fixture_bytes, fixture_path,
};

#[track_caller]
fn parse<T: DeserializeOwned>(version: FlinkVersion, file: &str) -> T {
    serde_json::from_slice(&fixture_bytes(version, file))
        .unwrap_or_else(|e| panic!("{} {file}: {e}", version.as_str()))
}

/// `(status, method, path, file)` of every recorded answer, from `_index.txt`.
fn index(version: FlinkVersion) -> Vec<(u16, String, String, String)> {
    let text = std::fs::read_to_string(fixture_path(version, "_index.txt")).expect("_index.txt");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let (request, file) = line.split_once(" -> ").expect("REQUEST -> FILE");
            let mut words = request.split_whitespace();
            let status = words.next().and_then(|s| s.parse().ok()).expect("a status");
            let method = words.next().expect("a method").to_string();
            let path = words.next().expect("a path").to_string();
            (status, method, path, file.trim().to_string())
        })
        .collect()
}

/// The recorded files whose names match `pred`.
fn files(version: FlinkVersion, pred: impl Fn(&str) -> bool) -> Vec<String> {
    let mut files: Vec<String> = index(version)
        .into_iter()
        .map(|(_, _, _, file)| file)
        .filter(|f| pred(f))
        .collect();
    files.dedup();
    assert!(!files.is_empty(), "no recorded file matched");
    files
}

/// The recorded exceptions of jobs that never failed.
const NO_EXCEPTIONS: [&str; 3] = [
    "job_stream_exceptions.json",
    "job_finish_exceptions.json",
    "job_after_cancel_exceptions.json",
];

/// The recorded answers to stop requests.
const STOP_TRIGGERS: [&str; 3] = [
    "stop_post.json",
    "stop_on_finished_post.json",
    "stop_unknown_job.json",
];

/// Hands each of `files`, as recorded from every version, parsed as `T` to `check`.
fn each_recorded<T: DeserializeOwned>(
    files: &[&str],
    mut check: impl FnMut(FlinkVersion, &str, T),
) {
    for version in FlinkVersion::ALL {
        for file in files {
            check(version, file, parse(version, file));
        }
    }
}

/// Hands every recorded file of every version whose name ends with `suffix` to `check`:
/// its name, the file parsed as `T` and as plain JSON.
fn each_recorded_ending<T: DeserializeOwned>(suffix: &str, mut check: impl FnMut(&str, T, Value)) {
    for version in FlinkVersion::ALL {
        for file in files(version, |f| f.ends_with(suffix)) {
            check(&file, parse(version, &file), fixture(version, &file));
        }
    }
}

#[test]
fn every_recorded_answer_is_json() {
    for version in FlinkVersion::ALL {
        let index = index(version);
        assert!(index.len() >= 80, "{} answers recorded", index.len());
        for (_, _, _, file) in &index {
            fixture(version, file);
        }
        let folder = fixture_path(version, "");
        for entry in std::fs::read_dir(&folder).expect("the fixture folder") {
            let name = entry
                .expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned();
            if name.ends_with(".json") {
                assert!(
                    index.iter().any(|(_, _, _, f)| *f == name),
                    "{name} is not in _index.txt"
                );
                fixture(version, &name);
            }
        }
    }
}

#[test]
fn jobs_overview() {
    for version in FlinkVersion::ALL {
        let parsed: JobsOverview = parse(version, "jobs_overview.json");
        let raw = fixture(version, "jobs_overview.json");
        let raw = raw["jobs"].as_array().expect("jobs");
        let expected_jobs = match version {
            FlinkVersion::V1_20 => 3,
            FlinkVersion::V2_3 => 5,
        };
        assert_eq!(parsed.jobs.len(), expected_jobs);
        assert_eq!(raw.len(), expected_jobs);
        for (job, raw) in parsed.jobs.iter().zip(raw) {
            assert_eq!(job.jid, raw["jid"]);
            assert_eq!(job.name, raw["name"]);
            assert_eq!(job.state(), raw["state"]);
            assert_eq!(job.start_time, raw["start-time"].as_i64());
            assert_eq!(job.end_time, raw["end-time"].as_i64());
            assert_eq!(job.duration, raw["duration"].as_i64());
            let tasks = serde_json::to_value(job.tasks.as_ref().expect("tasks")).expect("tasks");
            assert_eq!(tasks, raw["tasks"]);
        }
        for kind in Recorded::ALL {
            assert!(parsed.jobs.iter().any(|j| j.name == kind.name()));
        }
        let running = parsed
            .jobs
            .iter()
            .find(|j| j.name == "lab-stream")
            .expect("lab-stream");
        assert_eq!((running.state(), running.end_time), ("RUNNING", Some(-1)));
    }
}

#[test]
fn a_job_without_a_state_is_unknown() {
    let job: JobOverview = serde_json::from_str(r#"{"jid":"a"}"#).expect("a minimal job");
    assert_eq!(job.state(), "UNKNOWN");
    assert_eq!(job.name, "");
    assert!(serde_json::from_str::<JobOverview>(r#"{"name":"no jid"}"#).is_err());
}

/// Every field but the ids is optional: an object that leaves them all out still parses.
#[test]
fn checkpoint_statistics_may_leave_out_any_field() {
    let stats: CheckpointStats =
        serde_json::from_str(r#"{"latest": {"completed": {}, "failed": {}}}"#).expect("parses");
    assert_eq!(stats.counts.completed, 0);
    let latest = stats.latest.expect("latest");
    assert_eq!(
        latest.completed.expect("completed").latest_ack_timestamp,
        None
    );
    let failed = latest.failed.expect("failed");
    assert_eq!(
        (failed.failure_timestamp, failed.failure_message),
        (None, None)
    );
    let exceptions: JobExceptions =
        serde_json::from_str(r#"{"exceptionHistory": {"entries": [{}]}}"#).expect("parses");
    let history = exceptions.exception_history.expect("history");
    assert_eq!(history.entries[0].stacktrace, None);
}

#[test]
fn job_details() {
    for version in FlinkVersion::ALL {
        for file in [
            "job_stream.json",
            "job_finish.json",
            "job_fail.json",
            "job_after_cancel.json",
            "job_after_stop.json",
        ] {
            let details: JobDetails = parse(version, file);
            let raw = fixture(version, file);
            assert_eq!(details.jid, raw["jid"], "{file}");
            assert_eq!(details.vertices.len(), 2, "{file}");
            for (vertex, raw) in details
                .vertices
                .iter()
                .zip(raw["vertices"].as_array().expect("vertices"))
            {
                assert_eq!(vertex.id, raw["id"]);
                assert_eq!(vertex.name.as_deref(), raw["name"].as_str());
                assert_eq!(vertex.parallelism, Some(1));
                assert_eq!(vertex.status.as_deref(), raw["status"].as_str());
                assert_eq!(vertex.start_time, raw["start-time"].as_i64());
                assert_eq!(vertex.duration, raw["duration"].as_i64());
                assert_eq!(
                    Value::Object(vertex.metrics.clone().expect("metrics")),
                    raw["metrics"]
                );
                for counter in ["read-records", "write-records", "read-bytes", "write-bytes"] {
                    assert_eq!(
                        vertex.counter(counter),
                        raw["metrics"][counter].as_i64(),
                        "{file} {counter}"
                    );
                }
                // A float counter is read as an integer.
                assert_eq!(
                    vertex.counter("accumulated-busy-time"),
                    raw["metrics"]["accumulated-busy-time"]
                        .as_f64()
                        .map(|f| f as i64)
                );
                assert_eq!(vertex.counter("no-such-counter"), None);
            }
        }
        // The bounded job's final counts: 200 records from the source to the sink.
        let finished: JobDetails = parse(version, "job_finish.json");
        assert_eq!(finished.vertices[0].counter("write-records"), Some(200));
        assert_eq!(finished.vertices[1].counter("read-records"), Some(200));
    }
}

fn no_exception() -> RootException {
    untruncated(None, None)
}

/// The root exception `exception` at `timestamp`, not truncated.
fn untruncated(exception: Option<&str>, timestamp: Option<i64>) -> RootException {
    RootException {
        root_exception: exception.map(String::from),
        timestamp,
        truncated: false,
    }
}

#[test]
fn exceptions_of_both_versions() {
    each_recorded(&NO_EXCEPTIONS, |_, file, exceptions: JobExceptions| {
        assert_eq!(exceptions.root(), no_exception(), "{file}");
        assert!(
            exceptions
                .exception_history
                .expect("a history")
                .entries
                .is_empty()
        );
    });
    for version in FlinkVersion::ALL {
        let raw = fixture(version, "job_fail_exceptions.json");
        let failed: JobExceptions = parse(version, "job_fail_exceptions.json");
        let history = failed.exception_history.as_ref().expect("a history");
        assert_eq!(history.entries.len(), 1);
        let entry = &raw["exceptionHistory"]["entries"][0];
        assert_eq!(
            history.entries[0].stacktrace.as_deref(),
            entry["stacktrace"].as_str()
        );
        assert_eq!(history.entries[0].timestamp, entry["timestamp"].as_i64());
        let root = failed.root();
        match version {
            // 1.20 still sends root-exception: passed through, with its own timestamp.
            FlinkVersion::V1_20 => {
                assert_eq!(
                    failed.root_exception.as_deref(),
                    raw["root-exception"].as_str()
                );
                let passed = untruncated(raw["root-exception"].as_str(), raw["timestamp"].as_i64());
                assert_eq!(root, passed);
                assert_ne!(root.timestamp, entry["timestamp"].as_i64());
            }
            // 2.3 only has the history: its newest entry.
            FlinkVersion::V2_3 => {
                assert!(raw.get("root-exception").is_none());
                let newest = untruncated(entry["stacktrace"].as_str(), entry["timestamp"].as_i64());
                assert_eq!(root, newest);
            }
        }
        let text = root.root_exception.expect("an exception");
        assert!(text.starts_with("org.apache.flink.runtime.JobException: Recovery is suppressed"));
        assert!(
            text.contains("flinklab intentional failure at record 50"),
            "the cause is in the trace"
        );
    }
}

#[test]
fn the_newest_history_entry_wins_and_entries_without_a_trace_are_skipped() {
    let exceptions: JobExceptions = serde_json::from_value(serde_json::json!({
        "exceptionHistory": {"truncated": true, "entries": [
            {"stacktrace": "old", "timestamp": 1},
            {"timestamp": 9},
            {"stacktrace": "new", "timestamp": 5},
            {"stacktrace": "undated"},
        ]}
    }))
    .expect("a history");
    assert_eq!(
        exceptions.root(),
        RootException {
            root_exception: Some("new".into()),
            timestamp: Some(5),
            truncated: true,
        }
    );
    let empty: JobExceptions = serde_json::from_str("{}").expect("an empty object");
    assert_eq!(empty.root(), no_exception());
}

#[test]
fn metric_lists_and_values() {
    each_recorded_ending(
        "_metrics_list.json",
        |file, metrics: Vec<MetricValue>, raw| {
            assert_eq!(
                metrics.len(),
                raw.as_array().expect("a list").len(),
                "{file}"
            );
            assert!(!metrics.is_empty(), "{file}");
            assert!(
                metrics
                    .iter()
                    .all(|m| m.value.is_none() && !m.id.is_empty()),
                "{file}"
            );
            // The recorded jobs expose no currentEventTs gauge.
            assert_eq!(event_ts_names(&metrics), Vec::<&str>::new(), "{file}");
        },
    );
    each_recorded_ending(
        "_metrics_values.json",
        |file, metrics: Vec<MetricValue>, raw| {
            for (metric, raw) in metrics.iter().zip(raw.as_array().expect("a list")) {
                assert_eq!(metric.id, raw["id"], "{file}");
                assert_eq!(metric.value.as_deref(), raw["value"].as_str(), "{file}");
            }
        },
    );
    for version in FlinkVersion::ALL {
        let values: Vec<MetricValue> = parse(version, "job_stream_v0_metrics_values.json");
        let out = values
            .iter()
            .find(|m| m.id == "0.numRecordsOut")
            .expect("numRecordsOut");
        let out: i64 = out
            .value
            .as_deref()
            .expect("a value")
            .parse()
            .expect("a number");
        assert!(out > 2000, "{out}");
        // Rates are floats: the greatest value is still found, as an integer.
        assert_eq!(max_numeric(&values), Some(values_max(&values)));
    }
}

fn values_max(values: &[MetricValue]) -> i64 {
    values
        .iter()
        .filter_map(|m| m.value.as_deref()?.parse::<f64>().ok())
        .fold(f64::MIN, f64::max) as i64
}

#[test]
fn subtask_aggregates() {
    each_recorded_ending(
        "_subtasks_metrics_agg.json",
        |file, metrics: Vec<AggregatedMetric>, raw| {
            assert_eq!(metrics.len(), 2, "{file}");
            for (metric, raw) in metrics.iter().zip(raw.as_array().expect("a list")) {
                assert_eq!(metric.id, raw["id"]);
                assert_eq!(metric.sum, raw["sum"].as_f64());
                assert_eq!(metric.max, raw["max"].as_f64());
                let sum = raw["sum"].as_f64().expect("a sum");
                assert_eq!(
                    aggregated_sum(&metrics, &metric.id),
                    Some(sum as i64),
                    "{file}"
                );
            }
            assert_eq!(aggregated_sum(&metrics, "numRecordsInPerSecond"), None);
        },
    );
    for version in FlinkVersion::ALL {
        // The stream's source wrote as many records as its vertex metric says.
        let agg: Vec<AggregatedMetric> = parse(version, "job_stream_v0_subtasks_metrics_agg.json");
        let values: Vec<MetricValue> = parse(version, "job_stream_v0_metrics_values.json");
        let out = values
            .iter()
            .find(|m| m.id == "0.numRecordsOut")
            .and_then(|m| m.value.clone());
        assert_eq!(
            aggregated_sum(&agg, "numRecordsOut").map(|v| v.to_string()),
            out
        );
    }
}

#[test]
fn config_has_the_flink_version() {
    for version in FlinkVersion::ALL {
        let config: DashboardConfig = parse(version, "config.json");
        assert_eq!(config.flink_version.as_deref(), Some(version.as_str()));
    }
    let old: DashboardConfig =
        serde_json::from_str(r#"{"refresh-interval":3000}"#).expect("a config");
    assert_eq!(old.flink_version, None);
}

#[test]
fn stop_triggers() {
    each_recorded(&STOP_TRIGGERS, |version, file, trigger: TriggerResponse| {
        assert_eq!(
            trigger.request_id,
            fixture(version, file)["request-id"],
            "{file}"
        );
        assert_eq!(trigger.request_id.len(), 32);
    });
}

#[test]
fn error_bodies_summarise_to_first_lines() {
    for version in FlinkVersion::ALL {
        let errors: Vec<String> = index(version)
            .into_iter()
            .filter(|(status, _, _, _)| *status >= 400)
            .map(|(_, _, _, file)| file)
            .collect();
        assert!(errors.len() >= 8, "{errors:?}");
        for file in errors {
            let body: ErrorBody = parse(version, &file);
            let raw = fixture(version, &file);
            let expected: Vec<&str> = raw["errors"]
                .as_array()
                .expect("errors")
                .iter()
                .map(|e| {
                    e.as_str()
                        .expect("a string")
                        .lines()
                        .next()
                        .unwrap_or_default()
                })
                .collect();
            assert_eq!(body.summary(), expected.join("; "), "{file}");
            assert!(!body.summary().contains("\tat "), "{file}: no stack frames");
            assert!(!body.summary().is_empty(), "{file}");
        }
        let server_error: ErrorBody = parse(version, "jars_run_bad_class.json");
        assert_eq!(server_error.errors.len(), 2);
        assert!(
            server_error
                .summary()
                .starts_with("Internal server error.; <Exception on server side:")
        );
        let accepted: ErrorBody = parse(version, "cancel_running.json");
        assert_eq!(accepted.summary(), "");
    }
}

// ---------------------------------------------------------------------------------------
// The real client against the fake Flink: the fake replays the recordings faithfully

fn sorted_ids(metrics: &[MetricValue]) -> Vec<(String, Option<String>)> {
    let mut ids: Vec<_> = metrics
        .iter()
        .map(|m| (m.id.clone(), m.value.clone()))
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn the_client_reads_the_fake_as_it_read_the_real_flink() {
    for version in FlinkVersion::ALL {
        let fake = FakeFlink::start(version).await;
        let client = FlinkClient::new(
            FlinkClient::http_client().expect("an HTTP client"),
            fake.url(),
            ClientSettings::default(),
        );
        let recorded: JobsOverview = parse(version, "jobs_overview.json");
        let served = client.jobs_overview().await.expect("jobs overview");
        let jids = |o: &JobsOverview| o.jobs.iter().map(|j| j.jid.clone()).collect::<Vec<_>>();
        assert_eq!(jids(&served), jids(&recorded));
        assert_eq!(
            client
                .config()
                .await
                .expect("config")
                .flink_version
                .as_deref(),
            Some(version.as_str())
        );

        for kind in Recorded::ALL {
            let prefix = kind.prefix();
            let jid = fake.jid_of(kind.name());
            let details = client.job(&jid).await.expect("details");
            let recorded: JobDetails = parse(version, &format!("{prefix}.json"));
            let vertices = |d: &JobDetails| serde_json::to_value(&d.vertices).expect("vertices");
            assert_eq!(vertices(&details), vertices(&recorded), "{prefix}");
            let exceptions = client.exceptions(&jid).await.expect("exceptions");
            let expected: JobExceptions = parse(version, &format!("{prefix}_exceptions.json"));
            assert_eq!(exceptions.root(), expected.root());
            for (i, vertex) in details.vertices.iter().enumerate() {
                let names = client
                    .vertex_metric_names(&jid, &vertex.id)
                    .await
                    .expect("names");
                let recorded: Vec<MetricValue> =
                    parse(version, &format!("{prefix}_v{i}_metrics_list.json"));
                assert_eq!(sorted_ids(&names), sorted_ids(&recorded), "{prefix} v{i}");
                let recorded: Vec<MetricValue> =
                    parse(version, &format!("{prefix}_v{i}_metrics_values.json"));
                let wanted: Vec<&str> = recorded.iter().map(|m| m.id.as_str()).collect();
                let values = client
                    .vertex_metric_values(&jid, &vertex.id, &wanted)
                    .await
                    .expect("values");
                assert_eq!(sorted_ids(&values), sorted_ids(&recorded), "{prefix} v{i}");
                let agg = client
                    .subtask_metrics(
                        &jid,
                        &vertex.id,
                        &["numRecordsIn", "numRecordsOut"],
                        "sum,max",
                    )
                    .await
                    .expect("aggregates");
                let recorded =
                    fixture(version, &format!("{prefix}_v{i}_subtasks_metrics_agg.json"));
                let agg: Vec<Value> = agg
                    .iter()
                    .map(|m| serde_json::json!({"id": m.id, "max": m.max, "sum": m.sum}))
                    .collect();
                assert_eq!(Value::from(agg), recorded, "{prefix} v{i}");
            }
        }

        // Errors as recorded.
        let unknown = "00000000000000000000000000000000";
        assert_eq!(
            client.job(unknown).await.expect_err("unknown").status(),
            Some(404)
        );
        assert_eq!(
            client
                .job("not-a-job-id")
                .await
                .expect_err("bad id")
                .status(),
            Some(400)
        );
        let finished = fake.jid_of("lab-finish");
        let failed = fake.jid_of("lab-fail");
        for jid in [&finished, &failed] {
            let refused = client.cancel(jid).await.expect_err("an ended job");
            assert_eq!(refused.status(), Some(409));
            assert!(
                refused
                    .to_string()
                    .contains("already reached another terminal state"),
                "{refused}"
            );
        }
        assert_eq!(
            client.cancel(unknown).await.expect_err("unknown").status(),
            Some(404)
        );

        // Cancel, twice: 202 both times.
        let running = fake.jid_of("lab-stream");
        client.cancel(&running).await.expect("cancel");
        assert_eq!(
            fake.edit(|m| m.state(&running)).as_deref(),
            Some("CANCELED")
        );
        client.cancel(&running).await.expect("cancel again");

        // Stop with a savepoint: in progress, then a location.
        let stream = fake.add_job(FakeJob::new("to-stop", "RUNNING"));
        let request = StopRequest {
            target_directory: Some("file:///tmp/sp".into()),
            drain: false,
        };
        let trigger = client
            .stop_with_savepoint(&stream, &request)
            .await
            .expect("a trigger");
        assert_eq!(trigger.len(), 32, "{trigger}");
        assert_eq!(fake.edit(|m| m.state(&stream)).as_deref(), Some("FINISHED"));
        // A stop of an ended job is accepted (it fails later, in the savepoint poll).
        client
            .stop_with_savepoint(&finished, &StopRequest::default())
            .await
            .expect("a trigger");
    }
}

// ---------------------------------------------------------------------------------------
// Property tests

/// JSON made of the keys and shapes Flink uses, nested, with wrong types mixed in.
fn flink_like_json() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        prop::sample::select(vec![
            "jid",
            "name",
            "state",
            "start-time",
            "end-time",
            "duration",
            "tasks",
            "jobs",
            "vertices",
            "id",
            "parallelism",
            "status",
            "metrics",
            "write-records",
            "read-records",
            "root-exception",
            "timestamp",
            "truncated",
            "exceptionHistory",
            "entries",
            "stacktrace",
            "value",
            "sum",
            "max",
            "flink-version",
            "request-id",
            "operation",
            "location",
            "failure-cause",
            "stack-trace",
            "class",
            "errors",
        ])
        .prop_map(String::from),
        ".{0,8}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        ".{0,40}".prop_map(Value::from),
        "(\\PC{0,20}\n\tat [a-z.]{0,20}){0,3}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::vec((key.clone(), inner), 0..8)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        ]
    })
}

/// Feeds `bytes` to every DTO parser and uses what parses.
fn parse_everything(bytes: &[u8]) {
    if let Ok(overview) = serde_json::from_slice::<JobsOverview>(bytes) {
        for job in &overview.jobs {
            let _ = job.state();
        }
    }
    if let Ok(job) = serde_json::from_slice::<JobOverview>(bytes) {
        let _ = job.state();
    }
    if let Ok(details) = serde_json::from_slice::<JobDetails>(bytes) {
        for vertex in &details.vertices {
            let _ = vertex.counter("write-records");
            let _ = vertex.counter("read-records");
        }
    }
    if let Ok(exceptions) = serde_json::from_slice::<JobExceptions>(bytes) {
        let _ = exceptions.root();
    }
    if let Ok(metrics) = serde_json::from_slice::<Vec<MetricValue>>(bytes) {
        let _ = max_numeric(&metrics);
        let _ = event_ts_names(&metrics);
    }
    if let Ok(metrics) = serde_json::from_slice::<Vec<AggregatedMetric>>(bytes) {
        let _ = aggregated_sum(&metrics, "numRecordsIn");
    }
    let _ = serde_json::from_slice::<DashboardConfig>(bytes);
    let _ = serde_json::from_slice::<TriggerResponse>(bytes);
    if let Ok(body) = serde_json::from_slice::<ErrorBody>(bytes) {
        let _ = body.summary();
    }
}

proptest! {
    #[test]
    fn dto_parsers_take_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        parse_everything(&bytes);
    }

    #[test]
    fn dto_parsers_take_any_json(value in flink_like_json()) {
        parse_everything(value.to_string().as_bytes());
    }

    #[test]
    fn dto_parsers_take_damaged_recordings(
        file in prop::sample::select(vec![
            "jobs_overview.json", "job_stream.json", "job_fail_exceptions.json",
            "job_stream_v1_metrics_values.json", "job_stream_v0_subtasks_metrics_agg.json",
            "stop_on_finished_poll.json", "cancel_finished.json", "config.json",
        ]),
        version in prop::sample::select(FlinkVersion::ALL.to_vec()),
        cut in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let mut bytes = fixture_bytes(version, file);
        let at = cut.index(bytes.len());
        bytes[at] = byte;
        parse_everything(&bytes);
        parse_everything(&bytes[..at]);
    }

    #[test]
    fn metric_helpers_take_any_values(
        values in prop::collection::vec((".{0,30}", prop::option::of(".{0,24}")), 0..20),
        sums in prop::collection::vec(prop::option::of(any::<f64>()), 0..5),
    ) {
        let metrics: Vec<MetricValue> = values
            .into_iter()
            .map(|(id, value)| MetricValue { id, value })
            .collect();
        if let Some(max) = max_numeric(&metrics) {
            // Only values that are numbers count.
            prop_assert!(metrics.iter().any(|m| m.value.as_deref().is_some_and(|v| v.trim().parse::<f64>().is_ok())));
            let _ = max;
        }
        for name in event_ts_names(&metrics) {
            prop_assert!(name.ends_with(".currentEventTs"));
        }
        let aggregated: Vec<AggregatedMetric> = sums
            .into_iter()
            .map(|sum| AggregatedMetric { id: "numRecordsIn".into(), sum, max: sum })
            .collect();
        let _ = aggregated_sum(&aggregated, "numRecordsIn");
    }
}

// The path parsing is private to the API: it is driven through the router, with no clusters.

/// One router and runtime for all cases: building the OpenAPI document per case is slow.
fn router() -> &'static (tokio::runtime::Runtime, axum::Router) {
    static APP: OnceLock<(tokio::runtime::Runtime, axum::Router)> = OnceLock::new();
    APP.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        (runtime, new_router())
    })
}

fn new_router() -> axum::Router {
    let settings = PollSettings {
        poll_interval: Duration::from_secs(60),
        cache_ttl: Duration::ZERO,
        client: ClientSettings::default(),
    };
    let metrics = Arc::new(Metrics::new());
    let http = FlinkClient::http_client().expect("an HTTP client");
    let registry = Arc::new(KnownClusters::new(
        settings,
        http,
        metrics.clone(),
        CancellationToken::new(),
    ));
    api::router(Arc::new(AppState::new(registry, metrics, StopGuard::Open)))
}

fn path_segment() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "job",
            "jobs",
            "clusters",
            "status",
            "statusAndMetrics",
            "stop",
            "exceptions",
            "overview",
            "metainfo",
            "getVersion",
            "healthz",
            "readyz",
            "metrics",
            "openapi.json",
            "",
            "%FF",
            "%2F",
            "%",
            "%zz",
            "%C3",
            "%00",
            "..",
            ".",
        ])
        .prop_map(String::from),
        "[a-zA-Z0-9._~%-]{0,12}",
        any::<String>().prop_map(|s| utf8_percent_encode(&s, NON_ALPHANUMERIC).to_string()),
        (1020usize..1030).prop_map(|n| "a".repeat(n)),
    ]
}

fn request_path() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(path_segment(), 0..7),
        any::<bool>(),
        prop::option::of(prop_oneof![
            "(mode=[a-z]{0,10}&?)?(drain=[a-z]{0,5}&?)?(targetDirectory=[a-z%/:]{0,10})?",
            any::<String>().prop_map(|s| utf8_percent_encode(&s, NON_ALPHANUMERIC).to_string()),
        ]),
    )
        .prop_map(|(segments, slash, query)| {
            let mut path = format!("/{}", segments.join("/"));
            if slash {
                path.push('/');
            }
            if let Some(query) = query {
                path.push('?');
                path.push_str(&query);
            }
            path
        })
}

/// Sends one request; every answer but `/metrics` must be JSON, and none a 500.
fn check_answer(
    runtime: &tokio::runtime::Runtime,
    router: &axum::Router,
    method: Method,
    uri: &str,
) -> Result<(), TestCaseError> {
    let Ok(request) = Request::builder()
        .method(method.clone())
        .uri(uri)
        .body(Body::empty())
    else {
        // Not a URI a client could send.
        return Ok(());
    };
    let Answer { status, body, .. } = runtime.block_on(send(router.clone(), request));
    prop_assert_ne!(
        status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "{} {}",
        method,
        uri
    );
    prop_assert!(
        [200u16, 400, 401, 403, 404, 405, 409, 502, 503].contains(&status.as_u16()),
        "{} {} answered {}",
        method,
        uri,
        status
    );
    if method == Method::HEAD {
        prop_assert!(body.is_empty());
        return Ok(());
    }
    let metrics = uri
        .split('?')
        .next()
        .is_some_and(|p| p.trim_end_matches('/') == "/metrics");
    if status == StatusCode::OK && metrics {
        return Ok(());
    }
    let json: Result<Value, _> = serde_json::from_slice(&body);
    prop_assert!(
        json.is_ok(),
        "{} {} answered a body that is not JSON: {:?}",
        method,
        uri,
        String::from_utf8_lossy(&body)
    );
    let json = json.unwrap_or_default();
    if status.is_success() {
        let openapi = uri
            .split('?')
            .next()
            .is_some_and(|p| p.trim_end_matches('/') == "/openapi.json");
        prop_assert!(
            openapi || (json.get("response").is_some() && json["messages"].is_array()),
            "{}",
            json
        );
    } else {
        prop_assert!(
            json["errorCode"].is_u64() && json["message"].is_string() && json["errors"].is_array(),
            "{}",
            json
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn path_parsing_takes_any_path(
        path in request_path(),
        method in prop::sample::select(vec![Method::GET, Method::HEAD, Method::POST, Method::PUT, Method::DELETE]),
    ) {
        let (runtime, router) = router();
        check_answer(runtime, router, method, &path)?;
    }

    #[test]
    fn path_parsing_takes_any_string(raw in any::<String>()) {
        let (runtime, router) = router();
        check_answer(runtime, router, Method::GET, &format!("/{raw}"))?;
        check_answer(runtime, router, Method::GET, &format!("/job/{raw}/status"))?;
        check_answer(runtime, router, Method::GET, &format!("/clusters/{raw}/job/{raw}/stop?{raw}"))?;
    }
}
