//! The controller over time: the real binary against the API-server simulator
//! (tests/k8s-sim) and a fake Flink, through fresh install, readiness, restart, lost
//! watches and failing writes. Every scenario counts what the binary wrote in the
//! simulator's request log (`/_sim/requests`).
//!
//! The time bounds below are the promises of issue 9 ("within poll interval + 2 s"), the
//! monitor runs with `--poll-interval 1s`.

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::fake_flink::{FakeFlink, FakeJob, Fault, FlinkVersion, now_ms};
use support::monitor_process::MonitorProcess;
use support::sim::{Sim, eventually, unix_now};
use support::wait;

const NAMESPACE: &str = "team-a";
const SERVICE: &str = "analytics";
/// Start-up (process start, first lists, first polls) is given this long.
const START: Duration = Duration::from_secs(30);

fn state_of(job: &Value) -> Option<&str> {
    job["status"]["state"].as_str()
}

fn job_name(job: &Value) -> &str {
    job["spec"]["jobName"].as_str().unwrap_or_default()
}

fn is_mirror(job: &Value) -> bool {
    job["metadata"]["labels"]["flinkmonitor.dev/mirrored"] == "true"
}

fn warnings(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["type"] == "Warning")
        .map(|e| format!("{}: {}", e["reason"], e["message"]))
        .collect()
}

fn describe(requests: &[Value]) -> String {
    requests
        .iter()
        .map(|r| {
            format!(
                "{} {} {}/{} -> {}",
                r["verb"].as_str().unwrap_or_default(),
                r["resource"].as_str().unwrap_or_default(),
                r["namespace"].as_str().unwrap_or_default(),
                r["name"].as_str().unwrap_or_default(),
                r["code"]
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A Flink with `jobs` (name, state), a simulator with the CRD and a Service for it.
async fn world(jobs: &[(&str, &str)]) -> (FakeFlink, Sim) {
    let flink = FakeFlink::empty(FlinkVersion::V2_3).await;
    for (name, state) in jobs {
        flink.add_job(FakeJob::new(name, state));
    }
    let sim = Sim::start();
    sim.install_crd().await;
    sim.create_flink_service(NAMESPACE, SERVICE, flink.url().as_str())
        .await;
    (flink, sim)
}

/// Waits until every FlinkJob has a status, there are `count` of them, and none was
/// written for `quiet`: the world has settled.
async fn settled(sim: &Sim, count: usize, quiet: Duration, monitor: &MonitorProcess) {
    wait::until_ok(START, Duration::from_millis(200), "settled", || async {
        let jobs = sim.flinkjobs().await;
        let since = unix_now() - quiet.as_secs_f64();
        if jobs.len() == count
            && jobs.iter().all(|j| state_of(j).is_some())
            && sim.writes(since).await.is_empty()
        {
            return Ok(());
        }
        Err(format!(
            "{} FlinkJobs {:?}\nlog:\n{}",
            jobs.len(),
            jobs.iter()
                .map(|j| (job_name(j), state_of(j)))
                .collect::<Vec<_>>(),
            monitor.log()
        ))
    })
    .await
}

/// One RUNNING job `orders`, watched by a monitor (`name` in its log's name) that has
/// mirrored it and settled.
async fn orders_settled(name: &str) -> (FakeFlink, Sim, MonitorProcess) {
    let (flink, sim) = world(&[("orders", "RUNNING")]).await;
    let monitor = MonitorProcess::start(&sim, name, &[]);
    monitor.wait_ready(START).await;
    settled(&sim, 1, Duration::from_secs(2), &monitor).await;
    (flink, sim, monitor)
}

/// Waits until some FlinkJob matches `wanted`, failing after `within`.
async fn until_a_flinkjob(
    sim: &Sim,
    within: Duration,
    what: &str,
    wanted: impl Fn(&Value) -> bool,
) {
    eventually(within, what, || async {
        let jobs = sim.flinkjobs().await;
        jobs.iter().any(&wanted).then_some(())
    })
    .await;
}

/// Waits `quiet`, then fails if anything was written since `since` (`cause` names why
/// nothing should have been).
async fn assert_no_writes(
    sim: &Sim,
    since: f64,
    quiet: Duration,
    cause: &str,
    monitor: &MonitorProcess,
) {
    tokio::time::sleep(quiet).await;
    let writes = sim.writes(since).await;
    assert!(
        writes.is_empty(),
        "{cause} wrote:\n{}\nlog:\n{}",
        describe(&writes),
        monitor.log()
    );
}

/// Fresh install: the CRD, a Flink Service with two jobs, no FlinkJobs. Within poll
/// interval + 2 s of ready, a mirror with status exists for every job, and no Warning was
/// sent while every cluster answers. Every request of the binary carries its User-Agent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fresh_install_mirrors_every_job_soon_after_ready() {
    let (flink, sim) = world(&[("orders", "RUNNING"), ("billing", "RUNNING")]).await;
    let monitor = MonitorProcess::start(&sim, "fresh", &[]);
    monitor.wait_ready(START).await;

    let mirrors = eventually(
        Duration::from_secs(3),
        "a mirror with status for each job within poll interval + 2 s of ready",
        || async {
            let jobs = sim.flinkjobs().await;
            let mut names: Vec<(String, String)> = jobs
                .iter()
                .filter(|j| is_mirror(j))
                .filter_map(|j| Some((job_name(j).to_string(), state_of(j)?.to_string())))
                .collect();
            names.sort();
            (names.len() == 2).then_some(names)
        },
    )
    .await;
    assert_eq!(
        mirrors,
        [
            ("billing".to_string(), "RUNNING".to_string()),
            ("orders".to_string(), "RUNNING".to_string())
        ],
        "log:\n{}",
        monitor.log()
    );
    let warned = warnings(&sim.events().await);
    assert!(warned.is_empty(), "warnings: {warned:?}");
    // Audit logs say who asked: every watch and write of the binary names it (the test's
    // own requests are lists and gets).
    let requests = sim.requests(0.0).await;
    let writes = sim.writes(0.0).await;
    let binarys: Vec<&Value> = requests
        .iter()
        .filter(|r| r["verb"] == "watch")
        .chain(&writes)
        .collect();
    assert!(
        binarys.iter().any(|r| r["verb"] == "watch") && !writes.is_empty(),
        "no watch or write in the log:\n{}",
        describe(&requests)
    );
    for request in binarys {
        assert_eq!(
            request["userAgent"],
            flink_monitor::USER_AGENT,
            "{} {} {}",
            request["method"],
            request["path"],
            request["query"]
        );
    }
    drop(flink);
}

/// Readiness: while the Service lists fail, `/readyz` stays 503; it turns 200 only once the
/// Service's cluster is known and polled; a cluster found later (one whose JobManager is
/// slow to answer) does not make the ready pod unready.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_waits_for_discovery_and_first_polls_and_then_holds() {
    let (flink, sim) = world(&[("orders", "RUNNING")]).await;
    sim.add_faults(json!([{"verb": "list", "resource": "services", "code": 500, "count": 4}]))
        .await;
    let monitor = MonitorProcess::start(&sim, "readiness", &[]);

    let mut saw_unready = false;
    wait::until_ok(START, Duration::from_millis(25), "ready", async || {
        if monitor.ready().await {
            return Ok(());
        }
        saw_unready |= monitor.status_of("/readyz").await == 503;
        Err(format!("log:\n{}", monitor.log()))
    })
    .await;
    assert!(saw_unready, "/readyz was never 503 while lists failed");
    let clusters = monitor.get_json("/clusters").await;
    let ours = format!("{NAMESPACE}.{SERVICE}");
    let cluster = clusters["response"]
        .as_array()
        .and_then(|all| all.iter().find(|c| c["id"] == ours.as_str()))
        .unwrap_or_else(|| panic!("ready without {ours} in /clusters: {clusters}"))
        .clone();
    assert!(
        cluster["lastPoll"].is_number() || cluster["lastError"].is_string(),
        "ready before {ours} was polled: {cluster}"
    );
    let failed_lists = sim
        .requests(0.0)
        .await
        .into_iter()
        .filter(|r| r["verb"] == "list" && r["resource"] == "services" && r["code"] == 500)
        .count();
    assert!(failed_lists >= 1, "the fault did not fire");

    // A second JobManager, slow to answer its first poll, discovered while ready.
    let slow = FakeFlink::empty(FlinkVersion::V2_3).await;
    slow.inject(
        reqwest::Method::GET,
        "/jobs/overview",
        Fault::slow(Duration::from_secs(3)),
    );
    sim.create_flink_service(NAMESPACE, "slow", slow.url().as_str())
        .await;
    let watch_until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < watch_until {
        assert_eq!(
            monitor.status_of("/readyz").await,
            200,
            "a cluster discovered later made the pod unready; log:\n{}",
            monitor.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(flink);
}

/// Restart with nothing changed: the new process writes nothing and sends no Event; the
/// same when the Service's URL changes to another address of the same JobManager. One job
/// FAILED without an exception costs one exception read, not one per requeue. A job in a
/// restart loop (Degraded) stays Degraded across the restart, although the new process has
/// not seen its restarts happen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_and_url_change_write_nothing() {
    let (flink, sim) = world(&[
        ("orders", "RUNNING"),
        ("billing", "RUNNING"),
        ("reports", "FAILED"),
    ])
    .await;
    let reports = flink.jid_of("reports");
    let exception_reads = || flink.calls(&format!("/jobs/{reports}/exceptions"));
    // Started two hours ago: its restarts before the monitor saw it are not counted.
    let flappy = flink.add_job(FakeJob::new("flappy", "RUNNING").started_at(now_ms() - 7_200_000));
    flink.edit(|m| m.set_job_metric(&flappy, "numRestarts", "0"));
    // A user's own FlinkJob beside the mirrors.
    sim.create_flinkjob(NAMESPACE, "my-orders", json!({"jobName": "orders"}))
        .await;
    let mut first = MonitorProcess::start(&sim, "before-restart", &[]);
    first.wait_ready(START).await;
    // Mirrors of billing, reports and flappy; the user's FlinkJob covers orders.
    settled(&sim, 4, Duration::from_secs(2), &first).await;
    // flappy restarts 4 times while the monitor watches: Degraded.
    flink.edit(|m| m.set_job_metric(&flappy, "numRestarts", "4"));
    until_a_flinkjob(&sim, START, "flappy Degraded", |j| {
        job_name(j) == "flappy" && j["status"]["health"] == "Degraded"
    })
    .await;
    settled(&sim, 4, Duration::from_secs(2), &first).await;
    // Requeues every poll interval: still one read of the FAILED job's missing exception.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        exception_reads(),
        1,
        "a FAILED job without an exception is asked for it once, not on every requeue"
    );
    first.stop();

    let restart = unix_now();
    let second = MonitorProcess::start(&sim, "after-restart", &[]);
    second.wait_ready(START).await;
    // Several poll intervals and requeues.
    let cause = "a restart with nothing changed";
    assert_no_writes(&sim, restart, Duration::from_secs(4), cause, &second).await;

    let moved = unix_now();
    let other_address = flink.url().as_str().replace("127.0.0.1", "localhost");
    sim.set_service_url(NAMESPACE, SERVICE, &other_address)
        .await;
    eventually(START, "the new URL is polled", || async {
        let clusters = second.get_json("/clusters").await;
        let url = clusters["response"][0]["url"].as_str().unwrap_or_default();
        url.contains("localhost").then_some(())
    })
    .await;
    let cause = "a URL change to the same JobManager";
    assert_no_writes(&sim, moved, Duration::from_secs(3), cause, &second).await;
}

/// Lost watches: closed and compacted, the watchers re-list; nothing is rewritten, and a
/// later state change still lands within poll interval + 1 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_watches_relist_without_rewrites() {
    let (flink, sim, monitor) = orders_settled("watches").await;

    let lost = unix_now();
    // Something the watchers do not see moves the resourceVersion on, so that after the
    // compaction their resourceVersions are too old: they get 410 and must re-list.
    sim.create(
        "/api/v1/namespaces/elsewhere/configmaps",
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bump"}}),
    )
    .await;
    sim.compact().await;
    sim.close_watches().await;
    eventually(START, "the watchers re-list", || async {
        let lists = sim
            .requests(lost)
            .await
            .iter()
            .filter(|r| r["verb"] == "list")
            .map(|r| r["resource"].as_str().unwrap_or_default().to_string())
            .collect::<Vec<_>>();
        (lists.contains(&"services".to_string()) && lists.contains(&"flinkjobs".to_string()))
            .then_some(())
    })
    .await;
    assert_no_writes(&sim, lost, Duration::from_secs(3), "re-listing", &monitor).await;

    let jid = flink.jid_of("orders");
    flink.set_state(&jid, "CANCELED");
    until_a_flinkjob(
        &sim,
        Duration::from_secs(2),
        "the state change lands within poll interval + 1 s",
        |j| state_of(j) == Some("CANCELED"),
    )
    .await;
}

/// Failing status writes (500 three times, then 429 with Retry-After): the status that
/// finally lands is the truth.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_status_writes_end_with_the_truth() {
    let (flink, sim, _monitor) = orders_settled("faults").await;

    sim.add_faults(json!([
        {"verb": "patch", "resource": "flinkjobs/status", "code": 500, "count": 3},
        {"verb": "patch", "resource": "flinkjobs/status", "code": 429, "count": 1, "retryAfter": 1},
    ]))
    .await;
    let jid = flink.jid_of("orders");
    flink.set_state(&jid, "FAILED");
    let failing = unix_now();
    // A second change while the writes fail: the truth is the last one.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    flink.set_state(&jid, "CANCELED");
    until_a_flinkjob(&sim, START, "the final state lands", |j| {
        state_of(j) == Some("CANCELED")
    })
    .await;
    let refused = sim
        .requests(failing)
        .await
        .into_iter()
        .filter(|r| r["resource"] == "flinkjobs/status" && r["code"] != 200)
        .count();
    assert_eq!(refused, 4, "every injected fault was hit");
    // And it stays the truth: nothing more is written.
    let after = unix_now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let job = &sim.flinkjobs().await[0];
    assert_eq!(state_of(job), Some("CANCELED"));
    let writes = sim.writes(after).await;
    assert!(
        writes.iter().all(|w| w["resource"] == "events"),
        "status rewritten after it was right:\n{}",
        describe(&writes)
    );
}

/// A Service whose rest-url annotation is refused (a query string): one Warning Event on
/// it, however many replicas see it and however often they restart, while the problem
/// stays the same. A restart does not even try to send it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_annotation_is_warned_about_once_across_replicas_and_restarts() {
    let sim = Sim::start();
    sim.install_crd().await;
    sim.create_flink_service(NAMESPACE, SERVICE, "http://jobmanager:8081/?token=1")
        .await;
    let invalid = |events: Vec<Value>| {
        events
            .into_iter()
            .filter(|e| e["type"] == "Warning" && e["reason"] == "InvalidRestUrl")
            .count()
    };
    let mut first = MonitorProcess::start(&sim, "replica-a", &[]);
    let second = MonitorProcess::start(&sim, "replica-b", &[]);
    first.wait_ready(START).await;
    second.wait_ready(START).await;
    eventually(START, "the Warning Event", || async {
        (invalid(sim.events().await) > 0).then_some(())
    })
    .await;
    // Both replicas have listed and reported by now; give a late publish time to land.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        invalid(sim.events().await),
        1,
        "two replicas warned about one object\n{}",
        warnings(&sim.events().await).join("\n")
    );

    first.stop();
    let restart = unix_now();
    let again = MonitorProcess::start(&sim, "replica-a-again", &[]);
    again.wait_ready(START).await;
    assert_no_writes(
        &sim,
        restart,
        Duration::from_secs(3),
        "a restart with the same refused annotation",
        &again,
    )
    .await;
    assert_eq!(invalid(sim.events().await), 1);

    // A different problem on the same object is a new Event.
    sim.set_service_url(NAMESPACE, SERVICE, "http://user:pw@jobmanager:8081/")
        .await;
    eventually(START, "a Warning about the new problem", || async {
        (invalid(sim.events().await) == 2).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(invalid(sim.events().await), 2, "{}", second.log());
}
