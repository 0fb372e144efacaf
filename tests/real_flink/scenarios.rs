//! The scenarios, each run once per Flink version (see `real_flink.rs`).

use serde_json::Value;

use super::local_flink::{Kind, LocalFlink, unique};
use super::monitor::{Answer, Monitor, enc};

/// A cluster id that says which Flink it is, e.g. `lab-2-3-0`.
fn cluster_id(prefix: &str, flink: &LocalFlink) -> String {
    format!("{prefix}-{}", flink.version.replace('.', "-"))
}

/// A monitor of `flink` (cluster `lab-<version>`, `flags`) once it shows the job `name` in
/// `state`: the monitor, the name as a path segment, and that `/job/{uuid}/status/` answer.
async fn shown_in(
    flink: &LocalFlink,
    name: &str,
    flags: &[&str],
    state: &str,
) -> (Monitor, String, Answer) {
    let m = Monitor::start(flink, &cluster_id("lab", flink), flags).await;
    let uuid = enc(name);
    let answer = m
        .wait_for(
            &format!("the job {state}"),
            &format!("/job/{uuid}/status/"),
            |a| state_is(a, state),
        )
        .await;
    (m, uuid, answer)
}

/// A metric of `statusAndMetrics` as a number; -1 if missing or not a decimal string.
fn metric(answer: &Answer, name: &str) -> i64 {
    answer.response()["metrics"][name]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or(-1)
}

/// The `details.state` of a `statusAndMetrics` answer is `state`.
fn check_details_state(m: &Monitor, answer: &Answer, state: &str) {
    m.check(
        m.expect_ok(answer)["details"]["state"] == state,
        format_args!("details.state is {state}"),
        answer,
    );
}

/// The metric `name` of a `statusAndMetrics` answer is a decimal string.
fn check_decimal(m: &Monitor, answer: &Answer, name: &str) {
    m.check(
        metric(answer, name) >= 0,
        format_args!("{name} is a decimal string"),
        answer,
    );
}

/// The status of an ended (`what`: finished, cancelled) job `jid`: a status object with an
/// end-time.
fn check_ended_status(m: &Monitor, answer: &Answer, name: &str, jid: &str, what: &str) {
    let status = m.expect_ok(answer);
    check_status_object(m, answer, status, name, jid);
    m.check(
        status["end-time"].as_i64().is_some_and(|e| e > 0),
        format_args!("a {what} job has an end-time"),
        answer,
    );
}

/// Waits until the cluster at `path` (`/clusters/{id}`) is shown `reachable` (or not).
async fn until_reachable(m: &Monitor, path: &str, reachable: bool) -> Answer {
    m.wait_for(
        &format!("the cluster shown with reachable {reachable}"),
        path,
        |a| a.status == 200 && a.response()["reachable"] == reachable,
    )
    .await
}

fn state_is(answer: &Answer, state: &str) -> bool {
    answer.status == 200 && answer.response()["state"] == state
}

/// The entries of a `jobs/overview/` answer with this jid.
fn overview_entries<'a>(answer: &'a Answer, jid: &str) -> Vec<&'a Value> {
    answer.response()["jobs"]
        .as_array()
        .map(|jobs| jobs.iter().filter(|j| j["jid"] == jid).collect())
        .unwrap_or_default()
}

fn overview_state(answer: &Answer, jid: &str) -> Option<String> {
    overview_entries(answer, jid)
        .first()
        .and_then(|j| j["state"].as_str())
        .map(str::to_string)
}

/// The checks every `status` object must pass, for the job `jid` named `name`.
fn check_status_object(m: &Monitor, answer: &Answer, status: &Value, name: &str, jid: &str) {
    m.check(
        status["name"] == name,
        format_args!("`name` is the uuid {name:?}"),
        answer,
    );
    m.check(
        status["jid"] == jid,
        format_args!("`jid` is Flink's job id {jid}"),
        answer,
    );
    m.check(status["state"].is_string(), "`state` is a string", answer);
    let start = status["start-time"].as_i64().unwrap_or(-1);
    m.check(start > 0, "`start-time` is a time in ms", answer);
    let end = status["end-time"].as_i64();
    m.check(
        end.is_some_and(|e| e == -1 || e >= start),
        "`end-time` is -1 or not before the start",
        answer,
    );
    m.check(
        status["duration"].as_i64().is_some_and(|d| d >= 0),
        "`duration` is a non-negative number",
        answer,
    );
    let vertices = status["vertices"].as_array();
    m.check(
        vertices.is_some_and(|v| v.len() == 2),
        "the test job has two vertices (source, then map and sink)",
        answer,
    );
    for vertex in vertices.into_iter().flatten() {
        m.check(
            vertex["id"].is_string() && vertex["name"].is_string() && vertex["status"].is_string(),
            "a vertex has `id`, `name` and `status`",
            answer,
        );
        m.check(
            vertex["parallelism"] == 1,
            "a vertex of the test job has parallelism 1",
            answer,
        );
        m.check(
            vertex["metrics"]["read-records"].is_i64()
                && vertex["metrics"]["write-records"].is_i64(),
            "a vertex carries Flink's metrics object (read-records, write-records)",
            answer,
        );
    }
}

/// `exceptions` of a job that never failed: all null, never an error.
async fn check_no_exception(m: &Monitor, name: &str) {
    let name = enc(name);
    for path in [
        format!("/jobs/{name}/exceptions/"),
        format!("/job/{name}/exceptions"),
        format!("/clusters/{}/jobs/{name}/exceptions", m.cluster),
    ] {
        let answer = m.get(&path).await;
        let root = m.expect_ok(&answer);
        m.check(
            root["root-exception"].is_null()
                && root["timestamp"].is_null()
                && root["truncated"] == false,
            "a job without failures has root-exception null, timestamp null, truncated false",
            &answer,
        );
    }
}

pub async fn running_job(flink: &LocalFlink) {
    let name = unique("running");
    let job = flink.submit_stream(&name).await;
    let m = Monitor::start(flink, &cluster_id("lab", flink), &[]).await;
    let uuid = enc(&name);
    for path in [
        format!("/job/{uuid}/status/"),
        format!("/job/{uuid}/status"),
        format!("/clusters/{}/job/{uuid}/status/", m.cluster),
    ] {
        let answer = m
            .wait_for("the job RUNNING", &path, |a| state_is(a, "RUNNING"))
            .await;
        let status = m.expect_ok(&answer);
        check_status_object(&m, &answer, status, &name, &job.jid);
        m.check(
            status["end-time"] == -1,
            "a running job has end-time -1",
            &answer,
        );
    }

    for path in [
        format!("/job/{uuid}/statusAndMetrics/"),
        format!("/clusters/{}/job/{uuid}/statusAndMetrics", m.cluster),
    ] {
        let first = m
            .wait_for(
                "records read and processed, and an event time",
                &path,
                |a| {
                    a.status == 200
                        && metric(a, "numRecordsRead") > 0
                        && metric(a, "numRecordsProcessed") > 0
                        && metric(a, "currentEventTs") > 0
                },
            )
            .await;
        let body = m.expect_ok(&first);
        check_status_object(&m, &first, &body["details"], &name, &job.jid);
        check_details_state(&m, &first, "RUNNING");
        for key in ["numRecordsRead", "currentEventTs", "numRecordsProcessed"] {
            m.check(
                body["metrics"][key].is_string(),
                format_args!("metrics.{key} is a string"),
                &first,
            );
        }
        // The test job's event times are 1700000000000 + i * 1000 ms.
        m.check(
            metric(&first, "currentEventTs") >= 1_700_000_000_000,
            "currentEventTs is the test job's event time in ms",
            &first,
        );
        let read = metric(&first, "numRecordsRead");
        m.wait_for(&format!("numRecordsRead growing past {read}"), &path, |a| {
            a.status == 200 && metric(a, "numRecordsRead") > read
        })
        .await;
    }
    check_no_exception(&m, &name).await;
}

pub async fn finished_job(flink: &LocalFlink) {
    let name = unique("finished");
    let jid = flink.submit(&name, Kind::Finish).await;
    let (m, uuid, answer) = shown_in(flink, &name, &["--enable-stop"], "FINISHED").await;
    check_ended_status(&m, &answer, &name, &jid, "finished");

    // The test job's `finish` kind reads and processes 200 records; metrics of an ended
    // job are the final counts.
    let path = format!("/job/{uuid}/statusAndMetrics/");
    let answer = m
        .wait_for("final counts of 200 read and processed", &path, |a| {
            a.status == 200
                && a.response()["metrics"]["numRecordsRead"] == "200"
                && a.response()["metrics"]["numRecordsProcessed"] == "200"
        })
        .await;
    check_details_state(&m, &answer, "FINISHED");
    check_decimal(&m, &answer, "currentEventTs");
    check_no_exception(&m, &name).await;

    let answer = m.get(&format!("/job/{uuid}/stop/")).await;
    m.expect_error(&answer, 409, 4008);
    let still = flink.overview_job(&jid).await;
    m.check(
        still.is_some_and(|j| j["state"] == "FINISHED"),
        "Flink still lists the job FINISHED",
        &answer,
    );
}

pub async fn failed_job(flink: &LocalFlink) {
    let name = unique("failed");
    let jid = flink.submit(&name, Kind::Fail).await;
    let (m, uuid, answer) = shown_in(flink, &name, &[], "FAILED").await;
    check_status_object(&m, &answer, m.expect_ok(&answer), &name, &jid);

    for path in [
        format!("/jobs/{uuid}/exceptions/"),
        format!("/job/{uuid}/exceptions/"),
        format!("/clusters/{}/jobs/{uuid}/exceptions", m.cluster),
    ] {
        let answer = m
            .wait_for("a root exception", &path, |a| {
                a.status == 200 && a.response()["root-exception"].is_string()
            })
            .await;
        let root = m.expect_ok(&answer);
        let text = root["root-exception"].as_str().unwrap_or_default();
        m.check(
            text.contains("flinklab intentional failure")
                || text.contains("Recovery is suppressed"),
            "the root exception is the test job's failure (or Flink's no-restart wrapper of it)",
            &answer,
        );
        m.check(
            root["timestamp"].as_i64().is_some_and(|t| t > 0),
            "the exception has a timestamp in ms",
            &answer,
        );
        m.check(
            root["truncated"].is_boolean(),
            "`truncated` is a boolean",
            &answer,
        );
    }

    let answer = m.get(&format!("/job/{uuid}/statusAndMetrics/")).await;
    check_details_state(&m, &answer, "FAILED");
    check_decimal(&m, &answer, "numRecordsRead");
}

pub async fn cancelled_job(flink: &LocalFlink) {
    let name = unique("cancelled");
    let job = flink.submit_stream(&name).await;
    let (m, uuid, _) = shown_in(flink, &name, &[], "RUNNING").await;
    let path = format!("/job/{uuid}/status/");
    flink.cancel(&job.jid).await;
    let answer = m
        .wait_for("the job CANCELED", &path, |a| state_is(a, "CANCELED"))
        .await;
    check_ended_status(&m, &answer, &name, &job.jid, "cancelled");
    let answer = m
        .get(&format!(
            "/clusters/{}/job/{}/statusAndMetrics/",
            m.cluster,
            enc(&name)
        ))
        .await;
    check_details_state(&m, &answer, "CANCELED");
    check_no_exception(&m, &name).await;
}

pub async fn duplicate_names(flink: &LocalFlink) {
    let name = unique("twins");
    let older = flink.submit_stream(&name).await;
    let newer = flink.submit_stream(&name).await;
    flink.cancel(&newer.jid).await;
    let newer_job = flink.wait_state(&newer.jid, "CANCELED").await;
    let older_job = flink.overview_job(&older.jid).await.unwrap_or_default();
    // Precondition: the cancelled job is the newer one, so "the newest wins" alone would
    // pick the wrong job.
    assert!(
        newer_job["start-time"].as_i64() > older_job["start-time"].as_i64(),
        "precondition: the second job starts later; Flink lists {older_job} and {newer_job}; {}",
        flink.describe()
    );

    let m = Monitor::start(flink, &cluster_id("lab", flink), &[]).await;
    let overview = format!("/clusters/{}/jobs/overview/", m.cluster);
    m.wait_for("both jobs listed, the newer CANCELED", &overview, |a| {
        overview_entries(a, &older.jid).len() == 1
            && overview_state(a, &newer.jid).as_deref() == Some("CANCELED")
    })
    .await;
    let uuid = enc(&name);
    for path in [
        format!("/job/{uuid}/status/"),
        format!("/clusters/{}/job/{uuid}/status/", m.cluster),
    ] {
        let answer = m.get(&path).await;
        let status = m.expect_ok(&answer);
        m.check(
            status["jid"] == older.jid.as_str() && status["state"] == "RUNNING",
            format_args!(
                "of two jobs named {name:?}, the running {} is chosen over the newer cancelled {}",
                older.jid, newer.jid
            ),
            &answer,
        );
    }
    let answer = m.get(&format!("/job/{uuid}/statusAndMetrics/")).await;
    let body = m.expect_ok(&answer);
    m.check(
        body["details"]["jid"] == older.jid.as_str(),
        "statusAndMetrics chooses the running job too",
        &answer,
    );
}

pub async fn unicode_name(flink: &LocalFlink) {
    let name = format!("отчёт по заказам {}", unique("ü"));
    let job = flink.submit_stream(&name).await;
    let m = Monitor::start(flink, &cluster_id("lab", flink), &[]).await;
    let uuid = enc(&name);
    for path in [
        format!("/job/{uuid}/status/"),
        format!("/clusters/{}/job/{uuid}/status", m.cluster),
    ] {
        let answer = m
            .wait_for("the job RUNNING", &path, |a| state_is(a, "RUNNING"))
            .await;
        check_status_object(&m, &answer, m.expect_ok(&answer), &name, &job.jid);
    }
    let answer = m.get(&format!("/job/{uuid}/statusAndMetrics/")).await;
    let body = m.expect_ok(&answer);
    m.check(
        body["details"]["name"] == name.as_str(),
        "details.name is the uuid",
        &answer,
    );
    check_no_exception(&m, &name).await;
    let answer = m.get("/jobs/overview/").await;
    let entries = overview_entries(&answer, &job.jid);
    m.check(
        entries.len() == 1 && entries[0]["name"] == name.as_str(),
        format_args!("jobs/overview lists the job under its exact name {name:?}"),
        &answer,
    );
}

pub async fn unknown_uuid(flink: &LocalFlink) {
    let m = Monitor::start(flink, &cluster_id("lab", flink), &["--enable-stop"]).await;
    let uuid = enc(&unique("no such job"));
    for path in [
        format!("/job/{uuid}/status/"),
        format!("/job/{uuid}/statusAndMetrics"),
        format!("/jobs/{uuid}/exceptions/"),
        format!("/job/{uuid}/exceptions/"),
        format!("/job/{uuid}/stop/"),
        format!("/clusters/{}/job/{uuid}/status/", m.cluster),
        format!("/clusters/{}/job/{uuid}/statusAndMetrics/", m.cluster),
    ] {
        let answer = m.get(&path).await;
        m.expect_error(&answer, 404, 4006);
        m.check(
            answer.body["message"] == "Job with that name is not found",
            "the contract's 4006 message",
            &answer,
        );
    }
}

pub async fn unknown_cluster(flink: &LocalFlink) {
    let m = Monitor::start(flink, &cluster_id("lab", flink), &[]).await;
    let missing = unique("nope");
    for path in [
        format!("/clusters/{missing}"),
        format!("/clusters/{missing}/"),
        format!("/clusters/{missing}/job/x/status/"),
        format!("/clusters/{missing}/job/x/statusAndMetrics"),
        format!("/clusters/{missing}/jobs/overview/"),
        "/clusters/default.flink/jobs/x/exceptions/".to_string(),
    ] {
        m.expect_error(&m.get(&path).await, 404, 4009);
    }
}

pub async fn killed_jobmanager(version: &'static str) {
    let flink = LocalFlink::start(version, 2).unwrap_or_else(|e| panic!("{e}"));
    let name = unique("orphan");
    let job = flink.submit_stream(&name).await;
    let id = cluster_id("victim", &flink);
    let m = Monitor::start(&flink, &id, &[]).await;
    let uuid = enc(&name);
    let status = format!("/job/{uuid}/status/");
    let cluster = format!("/clusters/{id}");
    m.wait_for("the job RUNNING", &status, |a| state_is(a, "RUNNING"))
        .await;
    let answer = m.get(&cluster).await;
    m.check(
        m.expect_ok(&answer)["reachable"] == true,
        "the cluster is reachable",
        &answer,
    );

    flink.stop().unwrap_or_else(|e| panic!("{e}"));

    let answer = m
        .wait_for("5005 once the JobManager is gone", &status, |a| {
            a.status == 502
        })
        .await;
    m.expect_error(&answer, 502, 5005);
    let prefix = format!("cluster {id}: ");
    for path in [
        status.clone(),
        format!("/clusters/{id}/job/{uuid}/statusAndMetrics/"),
        format!("/jobs/{uuid}/exceptions/"),
    ] {
        let answer = m.get(&path).await;
        m.expect_error(&answer, 502, 5005);
        m.check(
            answer.body["errors"].as_array().is_some_and(|e| {
                !e.is_empty()
                    && e.iter()
                        .all(|l| l.as_str().is_some_and(|l| l.starts_with(&prefix)))
            }),
            format_args!("every line of `errors` starts with {prefix:?}"),
            &answer,
        );
    }
    let answer = until_reachable(&m, &cluster, false).await;
    let view = m.expect_ok(&answer);
    m.check(
        view["lastError"].as_str().is_some_and(|e| !e.is_empty()),
        "an unreachable cluster has a lastError",
        &answer,
    );
    m.check(
        view["lastPoll"].as_i64().is_some_and(|t| t > 0),
        "lastPoll is the last success",
        &answer,
    );
    let answer = m.get("/clusters").await;
    let listed = m
        .expect_ok(&answer)
        .as_array()
        .and_then(|c| c.iter().find(|c| c["id"] == id.as_str()));
    m.check(
        listed.is_some_and(|c| c["reachable"] == false && c["lastError"].is_string()),
        "/clusters shows the cluster unreachable with its lastError",
        &answer,
    );
    let answer = m.get("/jobs/overview/").await;
    m.expect_ok(&answer);
    m.check(
        overview_entries(&answer, &job.jid).len() == 1,
        "jobs/overview still lists the job from the last snapshot",
        &answer,
    );
    m.check(
        answer.body["messages"].as_array().is_some_and(|lines| {
            lines
                .iter()
                .any(|l| l.as_str().is_some_and(|l| l.contains(&id)))
        }),
        "jobs/overview says in `messages` that the cluster is unreachable",
        &answer,
    );

    flink.start_again().unwrap_or_else(|e| panic!("{e}"));

    let answer = until_reachable(&m, &cluster, true).await;
    let view = m.expect_ok(&answer);
    m.check(
        view["lastError"].is_null(),
        "a reachable cluster has no lastError",
        &answer,
    );
    m.check(
        view["flinkVersion"] == version,
        format_args!("flinkVersion is {version}"),
        &answer,
    );
    // Without HA the new JobManager knows no jobs.
    let answer = m
        .wait_for("the old job gone", &status, |a| a.status == 404)
        .await;
    m.expect_error(&answer, 404, 4006);
}

pub async fn stop_cancels(flink: &LocalFlink) {
    let name = unique("stop-cancel");
    let job = flink.submit_stream(&name).await;
    let (m, uuid, _) = shown_in(flink, &name, &["--enable-stop"], "RUNNING").await;
    let stop = format!("/job/{uuid}/stop/");
    let answer = m.get(&stop).await;
    let response = m.expect_ok(&answer);
    m.check(response == 1, "stop answers response 1", &answer);
    m.wait_for(
        "the job CANCELED in jobs/overview",
        "/jobs/overview/",
        |a| overview_state(a, &job.jid).as_deref() == Some("CANCELED"),
    )
    .await;
    flink.wait_state(&job.jid, "CANCELED").await;
    let answer = m.post(&stop).await;
    m.expect_error(&answer, 409, 4008);
}

pub async fn stop_with_savepoint(flink: &LocalFlink) {
    let name = unique("stop-savepoint");
    let job = flink.submit_stream(&name).await;
    let (m, uuid, _) = shown_in(flink, &name, &["--enable-stop"], "RUNNING").await;
    let stop = format!("/clusters/{}/job/{uuid}/stop/", m.cluster);
    m.expect_error(&m.post(&format!("{stop}?mode=bogus")).await, 400, 4001);

    let answer = m.post(&format!("{stop}?mode=savepoint")).await;
    m.check(
        m.expect_ok(&answer) == 1,
        "stop answers response 1",
        &answer,
    );
    let trigger = answer.body["messages"][0]
        .as_str()
        .and_then(|line| line.strip_prefix("trigger-id: "))
        .unwrap_or_default()
        .to_string();
    m.check(
        !trigger.is_empty(),
        "messages[0] is \"trigger-id: <id>\"",
        &answer,
    );

    // The trigger id is Flink's: its savepoint completes with a location.
    let what = format!("the savepoint of trigger {trigger} to complete");
    let body = super::support::wait::until_ok(
        super::monitor::PATIENCE,
        std::time::Duration::from_millis(200),
        &what,
        || async {
            let (code, body) = flink
                .get(&format!("/jobs/{}/savepoints/{trigger}", job.jid))
                .await;
            match code == 200 && body["status"]["id"] == "COMPLETED" {
                true => Ok(body),
                false => Err(format!("HTTP {code} {body}\n{}", m.context())),
            }
        },
    )
    .await;
    assert!(
        body["operation"]["location"].is_string(),
        "the savepoint of trigger {trigger} failed: {body}\n{}",
        m.context()
    );
    m.wait_for(
        "the job FINISHED in jobs/overview",
        &format!("/clusters/{}/jobs/overview", m.cluster),
        |a| overview_state(a, &job.jid).as_deref() == Some("FINISHED"),
    )
    .await;
}

pub async fn stop_disabled(flink: &LocalFlink) {
    let name = unique("stop-disabled");
    let job = flink.submit_stream(&name).await;
    let (m, uuid, _) = shown_in(flink, &name, &[], "RUNNING").await;
    let status = format!("/job/{uuid}/status/");
    let stop = format!("/job/{uuid}/stop/");
    for answer in [
        m.get(&stop).await,
        m.post(&stop).await,
        m.post(&format!("{stop}?mode=savepoint")).await,
        m.get(&format!("/clusters/{}/job/{uuid}/stop", m.cluster))
            .await,
    ] {
        m.expect_error(&answer, 403, 4010);
    }
    let answer = m.get(&status).await;
    m.check(state_is(&answer, "RUNNING"), "the job still runs", &answer);
    let listed = flink.overview_job(&job.jid).await;
    m.check(
        listed.as_ref().is_some_and(|j| j["state"] == "RUNNING"),
        format_args!("Flink still lists the job RUNNING: {listed:?}"),
        &answer,
    );
}

pub async fn overview_at_the_root(flink: &LocalFlink) {
    let name = unique("overview");
    let job = flink.submit_stream(&name).await;
    // Two ids for the same JobManager: every job shows up once per cluster.
    let east = cluster_id("east", flink);
    let west = cluster_id("west", flink);
    let m = Monitor::start_many(&[(&east, flink), (&west, flink)], &[]).await;
    let answer = m
        .wait_for("the job listed once per cluster", "/jobs/overview/", |a| {
            a.status == 200 && overview_entries(a, &job.jid).len() == 2
        })
        .await;
    m.expect_ok(&answer);
    let entries = overview_entries(&answer, &job.jid);
    let mut clusters: Vec<&str> = entries
        .iter()
        .filter_map(|j| j["cluster"].as_str())
        .collect();
    clusters.sort_unstable();
    m.check(
        clusters == [east.as_str(), west.as_str()],
        format_args!("the entries carry `cluster` {east} and {west}"),
        &answer,
    );
    for entry in &entries {
        m.check(
            entry["name"] == name.as_str()
                && entry["state"] == "RUNNING"
                && entry["start-time"].as_i64().is_some_and(|t| t > 0)
                && entry["end-time"] == -1
                && entry["duration"].as_i64().is_some_and(|d| d >= 0)
                && entry["tasks"].is_object(),
            "an entry has name, state, start-time, end-time -1, duration and tasks",
            &answer,
        );
    }
    let all_have_cluster = answer.response()["jobs"].as_array().is_some_and(|jobs| {
        jobs.iter()
            .all(|j| j["cluster"] == east.as_str() || j["cluster"] == west.as_str())
    });
    m.check(all_have_cluster, "every entry names its cluster", &answer);

    let answer = m.get(&format!("/clusters/{east}/jobs/overview/")).await;
    m.expect_ok(&answer);
    let mine = overview_entries(&answer, &job.jid);
    m.check(
        mine.len() == 1 && mine[0]["cluster"] == east.as_str(),
        "a cluster's own overview lists the job once",
        &answer,
    );

    let uuid = enc(&name);
    let answer = m.get(&format!("/job/{uuid}/status/")).await;
    m.expect_error(&answer, 409, 4007);
    let ids = answer.body["errors"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    m.check(
        ids.contains(&Value::from(east.as_str())) && ids.contains(&Value::from(west.as_str())),
        "4007 lists the candidate cluster ids",
        &answer,
    );
    let answer = m.get(&format!("/clusters/{west}/job/{uuid}/status/")).await;
    check_status_object(&m, &answer, m.expect_ok(&answer), &name, &job.jid);
}

pub async fn clusters(flink: &LocalFlink) {
    let id = cluster_id("lab", flink);
    let m = Monitor::start(flink, &id, &[]).await;
    let answer = m
        .wait_for("the Flink version known", "/clusters", |a| {
            a.status == 200 && a.response()[0]["flinkVersion"].is_string()
        })
        .await;
    let list = m.expect_ok(&answer);
    m.check(
        list.as_array().is_some_and(|l| l.len() == 1),
        "one cluster is known",
        &answer,
    );
    let view = &list[0];
    let fields = [
        "id",
        "namespace",
        "name",
        "source",
        "url",
        "reachable",
        "flinkVersion",
        "lastPoll",
        "lastError",
        "jobs",
    ];
    m.check(
        view.as_object()
            .is_some_and(|o| fields.iter().all(|f| o.contains_key(*f))),
        format_args!("a cluster has every field of the contract: {fields:?}"),
        &answer,
    );
    m.check(
        view["id"] == id.as_str() && view["name"] == id.as_str() && view["namespace"].is_null(),
        "a static cluster: id and name as given, namespace null",
        &answer,
    );
    m.check(view["source"] == "static", "source is static", &answer);
    m.check(
        view["url"]
            .as_str()
            .is_some_and(|u| u.starts_with(&flink.url)),
        format_args!("url is {}", flink.url),
        &answer,
    );
    m.check(
        view["reachable"] == true && view["lastError"].is_null(),
        "reachable, no lastError",
        &answer,
    );
    m.check(
        view["flinkVersion"] == flink.version,
        format_args!("flinkVersion is {}", flink.version),
        &answer,
    );
    m.check(
        view["lastPoll"].as_i64().is_some_and(|t| t > 0),
        "lastPoll is a time in ms",
        &answer,
    );
    m.check(view["jobs"].is_u64(), "jobs is a count", &answer);

    let answer = m.get(&format!("/clusters/{id}/")).await;
    let one = m.expect_ok(&answer);
    m.check(
        one["id"] == id.as_str() && one["flinkVersion"] == flink.version,
        "/clusters/{id} answers the same cluster",
        &answer,
    );
    let answer = m.get("/metainfo/getVersion/").await;
    m.check(
        m.expect_ok(&answer) == env!("CARGO_PKG_VERSION"),
        "getVersion is the crate's version",
        &answer,
    );
}

/// Health checks every second, so the tests do not wait for the 30 s default.
const FAST_HEALTH: &[&str] = &["--health-interval", "1s"];

fn reasons(answer: &Answer) -> Vec<String> {
    answer.response()["reasons"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

pub async fn healthy_job(flink: &LocalFlink) {
    let name = unique("healthy");
    let job = flink.submit_stream(&name).await;
    let m = Monitor::start(flink, &cluster_id("health", flink), FAST_HEALTH).await;
    let uuid = enc(&name);
    let answer = m
        .wait_for(
            "the job Healthy with a completed checkpoint (every 10 s)",
            &format!("/clusters/{}/job/{uuid}/health/", m.cluster),
            |a| {
                a.status == 200
                    && a.response()["health"] == "Healthy"
                    && a.response()["checkpoints"]["last-completed-time"].is_i64()
            },
        )
        .await;
    let health = m.expect_ok(&answer);
    m.check(
        health["jid"] == job.jid.as_str(),
        "`jid` is the job's",
        &answer,
    );
    m.check(health["restarts"] == 0, "no restarts", &answer);
    m.check(
        health["reasons"] == serde_json::json!([]),
        "no reasons",
        &answer,
    );
    let checkpoints = &health["checkpoints"];
    m.check(
        checkpoints["enabled"] == true,
        "checkpointing is on",
        &answer,
    );
    m.check(
        checkpoints["interval-ms"] == 10_000,
        "the test job checkpoints every 10 s",
        &answer,
    );
    m.check(
        checkpoints["completed"].as_i64().is_some_and(|c| c >= 1),
        "at least one completed checkpoint",
        &answer,
    );
    m.check(
        checkpoints["last-completed-age-ms"]
            .as_i64()
            .is_some_and(|a| a >= 0),
        "the age of the last checkpoint",
        &answer,
    );
    m.check(
        health["checked-at"].is_i64(),
        "`checked-at` is a time",
        &answer,
    );
}

pub async fn restarting_job(flink: &LocalFlink) {
    let name = unique("restarting");
    let job = flink.submit_running(&name, Kind::Restart).await;
    let m = Monitor::start(flink, &cluster_id("loop", flink), FAST_HEALTH).await;
    let path = format!("/job/{}/health/", enc(&name));
    let answer = m
        .wait_for("the job Degraded with at least 3 restarts", &path, |a| {
            a.status == 200
                && a.response()["health"] == "Degraded"
                && a.response()["restarts"].as_i64().is_some_and(|r| r >= 3)
        })
        .await;
    m.check(
        reasons(&answer).contains(&"Restarting".to_string()),
        "the reason is Restarting",
        &answer,
    );
    m.check(
        answer.response()["jid"] == job.jid.as_str(),
        "`jid` is the job's",
        &answer,
    );
    m.check(
        answer.response()["checkpoints"]["enabled"] == false,
        "the restart job does not checkpoint",
        &answer,
    );
    let restarts = answer.response()["restarts"].as_i64().unwrap_or(0);
    m.wait_for(&format!("restarts growing past {restarts}"), &path, |a| {
        a.response()["restarts"]
            .as_i64()
            .is_some_and(|r| r > restarts)
    })
    .await;
    let metrics = m.get("/metrics").await;
    let line = format!(
        "flink_monitor_job_healthy{{cluster=\"{}\",job=\"{name}\"}} 0",
        m.cluster
    );
    m.check(
        metrics.text.contains(&line),
        format_args!("/metrics has {line}"),
        &metrics,
    );
}

pub async fn stalled_job(flink: &LocalFlink) {
    let name = unique("stalled");
    let job = flink.submit_running(&name, Kind::Stall).await;
    let mut flags = FAST_HEALTH.to_vec();
    flags.extend(["--max-checkpoint-age", "5s"]);
    let m = Monitor::start(flink, &cluster_id("stall", flink), &flags).await;
    let path = format!("/job/{}/health/", enc(&name));
    let answer = m
        .wait_for("the job Degraded, CheckpointStalled", &path, |a| {
            a.status == 200 && a.response()["health"] == "Degraded"
        })
        .await;
    m.check(
        reasons(&answer) == ["CheckpointStalled"],
        "the only reason is CheckpointStalled",
        &answer,
    );
    let checkpoints = &answer.response()["checkpoints"];
    m.check(
        checkpoints["enabled"] == true,
        "checkpointing is on",
        &answer,
    );
    m.check(checkpoints["interval-ms"] == 2_000, "every 2 s", &answer);
    m.check(checkpoints["completed"] == 0, "none completed", &answer);
    m.check(
        checkpoints["last-completed-time"].is_null(),
        "no completion time",
        &answer,
    );

    // A cancel fails the checkpoint in progress while Flink's job metrics stand still: the
    // check after the end shows the failure with the time and message Flink recorded.
    flink.cancel(&job.jid).await;
    let ended = m
        .wait_for("the failed checkpoint of the cancel", &path, |a| {
            a.response()["state"] == "CANCELED"
                && !a.response()["checkpoints"]["last-failure-time"].is_null()
        })
        .await;
    let (_, stats) = flink.get(&format!("/jobs/{}/checkpoints", job.jid)).await;
    let checkpoints = &ended.response()["checkpoints"];
    let recorded = &stats["latest"]["failed"];
    m.check(
        checkpoints["last-failure-time"] == recorded["failure_timestamp"]
            && checkpoints["last-failure-message"] == recorded["failure_message"],
        format_args!("the failure Flink recorded: {recorded}"),
        &ended,
    );
    m.check(
        checkpoints["failed"] == stats["counts"]["failed"] && checkpoints["in-progress"] == 0,
        format_args!("Flink's final counts: {}", stats["counts"]),
        &ended,
    );
}
