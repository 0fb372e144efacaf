//! Kubernetes mode over time at a small scale (issue 20): 50 JobManagers x 10 jobs behind 50
//! Services in 5 namespaces, the real binary (mirror mode, health checks every second,
//! default write pace) against the API-server simulator (tests/k8s-sim) through a fresh
//! install, a steady spell, a restart and an API server that answers 429. It counts what the
//! binary sent (`/_sim/requests`) and samples `/healthz` all along.
//!
//! `SCENARIO_BIN=/path/to/flink-monitor` runs it against another build.

mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::fake_flink::{FakeFlink, FakeJob, FlinkVersion};
use support::monitor_process::MonitorProcess;
use support::sim::{Sim, eventually, unix_now};
use support::wait;

const CLUSTERS: usize = 50;
const JOBS: usize = 10;
const NAMESPACES: usize = 5;
/// Convergence at the default pace (50 writes a second): about 1,000 writes.
const CONVERGE: Duration = Duration::from_secs(120);
const STEADY: Duration = Duration::from_secs(20);
/// Requests other than watches a steady replica may send in [`STEADY`]: a few retries of a
/// missing FlinkDeployment CRD, backing off to minutes. (Before: one every ~1.2 s.)
const STEADY_REQUESTS: u64 = 3;
/// Longer than this is a stalled worker, not noise on a busy machine.
const STALL: Duration = Duration::from_secs(1);

struct Fleet {
    flinks: Vec<FakeFlink>,
    sim: Sim,
}

async fn fleet() -> Fleet {
    let sim = Sim::start();
    sim.install_crd().await;
    let mut flinks = Vec::new();
    for c in 0..CLUSTERS {
        let flink = FakeFlink::empty(FlinkVersion::V2_3).await;
        for j in 0..JOBS {
            let jid = flink.add_job(FakeJob::new(&format!("c{c}-job-{j}"), "RUNNING"));
            // What a health check reads: the job is judged (Healthy), not "not checked".
            flink.edit(|m| m.set_job_metric(&jid, "numRestarts", "0"));
        }
        let namespace = format!("team-{}", c % NAMESPACES);
        sim.create_own_flink_service(&namespace, &format!("jm-{c}"), flink.url().as_str())
            .await;
        flinks.push(flink);
    }
    Fleet { flinks, sim }
}

/// `/healthz` every 50 ms in the background: when each probe started and how long it took
/// (None: no answer).
#[derive(Clone, Default)]
struct Probe(Arc<Mutex<Vec<Sample>>>);

/// When a probe started, and how long it took (None: no answer).
type Sample = (Instant, Option<Duration>);

impl Probe {
    fn start(base: &str) -> (Self, tokio::task::JoinHandle<()>) {
        let probe = Probe::default();
        let samples = probe.0.clone();
        let url = format!("{base}/healthz");
        let task = tokio::spawn(async move {
            let http = reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("an HTTP client");
            loop {
                let started = Instant::now();
                let answered = http.get(&url).send().await.is_ok_and(|r| r.status() == 200);
                let took = answered.then(|| started.elapsed());
                samples.lock().unwrap().push((started, took));
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        (probe, task)
    }

    /// (p99, max, answered probes) of the probes started since `since`.
    fn latency(&self, since: Instant) -> (Duration, Duration, usize) {
        let mut took: Vec<Duration> = self
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|(at, _)| *at >= since)
            .filter_map(|(_, took)| *took)
            .collect();
        took.sort();
        let p99 = took
            .get((took.len() * 99 / 100).min(took.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default();
        (p99, took.last().copied().unwrap_or_default(), took.len())
    }
}

fn writes(counts: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    counts
        .iter()
        .filter(|(key, _)| {
            let verb = key.split(' ').next().unwrap_or_default();
            matches!(verb, "create" | "update" | "patch" | "delete")
        })
        .map(|(k, v)| (k.clone(), *v))
        .collect()
}

fn since(after: &BTreeMap<String, u64>, before: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0)))
        .filter(|(_, v)| *v > 0)
        .collect()
}

/// Every job mirrored with its state and health, and nothing written for `quiet`.
async fn converged(sim: &Sim, monitor: &MonitorProcess, quiet: Duration) {
    wait::until_ok(
        CONVERGE,
        Duration::from_millis(500),
        "converged",
        || async {
            let jobs = sim.flinkjobs().await;
            let complete = jobs.len() == CLUSTERS * JOBS
                && jobs
                    .iter()
                    .all(|j| j["status"]["state"].is_string() && j["status"]["health"].is_string());
            if complete
                && sim
                    .writes(unix_now() - quiet.as_secs_f64())
                    .await
                    .is_empty()
            {
                return Ok(());
            }
            Err(format!(
                "{} FlinkJobs, {} with a state, {} with health; one without: {}\nlog (end):\n{}",
                jobs.len(),
                jobs.iter()
                    .filter(|j| j["status"]["state"].is_string())
                    .count(),
                jobs.iter()
                    .filter(|j| j["status"]["health"].is_string())
                    .count(),
                jobs.iter()
                    .find(|j| !j["status"]["health"].is_string())
                    .map(|j| j["status"].to_string())
                    .unwrap_or_default(),
                tail(&monitor.log())
            ))
        },
    )
    .await
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

fn event_reasons(events: &[Value]) -> BTreeMap<String, usize> {
    let mut reasons = BTreeMap::new();
    for event in events {
        let reason = event["reason"].as_str().unwrap_or_default().to_string();
        *reasons.entry(reason).or_default() += 1;
    }
    reasons
}

/// A fresh install converges with at most two status writes per mirror (each with news: no
/// `StateChanged` for jobs seen for the first time), then a steady spell sends no write and
/// hardly a request, a restart writes nothing, and `/healthz` never stalls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_converges_then_idles_and_a_restart_writes_nothing() {
    let Fleet { flinks, sim } = fleet().await;
    let mut monitor = MonitorProcess::start(&sim, "fleet", &[]);
    let (probe, probing) = Probe::start(&monitor.base);
    let started = Instant::now();
    monitor.wait_ready(Duration::from_secs(60)).await;
    converged(&sim, &monitor, Duration::from_secs(3)).await;
    let counts = sim.counts().await;
    let mirrors = counts.get("create flinkjobs").copied().unwrap_or(0);
    let patches = counts.get("patch flinkjobs/status").copied().unwrap_or(0);
    let reasons = event_reasons(&sim.events().await);
    eprintln!(
        "converged in {:.1} s: {mirrors} mirrors, {patches} status patches ({:.2} per mirror), events {reasons:?}",
        started.elapsed().as_secs_f64(),
        patches as f64 / mirrors.max(1) as f64
    );
    assert_eq!(mirrors as usize, CLUSTERS * JOBS);
    assert!(
        patches <= 2 * mirrors,
        "{patches} status patches for {mirrors} new mirrors: a first status, then health at most"
    );
    assert_eq!(
        reasons.get("StateChanged"),
        None,
        "the first sight of a running job is no state change: {reasons:?}"
    );

    // Steady: nothing changes in Flink, polls and health checks go on every second.
    let before = sim.counts().await;
    let steady_from = Instant::now();
    tokio::time::sleep(STEADY).await;
    let steady = since(&sim.counts().await, &before);
    let requests: u64 = steady
        .iter()
        .filter(|(k, _)| !k.starts_with("watch "))
        .map(|(_, v)| v)
        .sum();
    let (p99, max, probes) = probe.latency(steady_from);
    eprintln!(
        "steady {STEADY:?}: requests {steady:?}; /healthz p99 {p99:?}, max {max:?} ({probes} probes)"
    );
    assert!(
        writes(&steady).is_empty(),
        "writes while nothing changed: {steady:?}"
    );
    assert!(
        requests <= STEADY_REQUESTS,
        "{requests} requests (not watches) in {STEADY:?} while nothing changed: {steady:?}"
    );

    // Restart with nothing changed.
    monitor.stop();
    let before = sim.counts().await;
    let restarted_at = Instant::now();
    monitor = MonitorProcess::start(&sim, "fleet-restarted", &[]);
    let (restart_probe, restart_probing) = Probe::start(&monitor.base);
    monitor.wait_ready(Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let restart = since(&sim.counts().await, &before);
    let (_, restart_max, _) = restart_probe.latency(restarted_at);
    eprintln!("restart: requests {restart:?}; /healthz max {restart_max:?}");
    assert!(
        writes(&restart).is_empty(),
        "a restart with nothing changed wrote: {restart:?}\n{}",
        tail(&monitor.log())
    );
    let (_, max_all, _) = probe.latency(started);
    assert!(
        max_all < STALL && restart_max < STALL,
        "/healthz took {max_all:?} (first process), {restart_max:?} (after the restart)"
    );
    probing.abort();
    restart_probing.abort();
    drop(flinks);
}

/// The API server answers a status write 429 with `Retry-After: 2` while 20 jobs change at
/// once, and 20 more change right after the 429: no write leaves until the 2 s are over (one
/// pause for all, not a retry per request while new writes go on), and then every change lands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_pauses_every_write_for_its_retry_after_then_all_changes_land() {
    let Fleet { flinks, sim } = fleet().await;
    let monitor = MonitorProcess::start(&sim, "throttled", &[]);
    monitor.wait_ready(Duration::from_secs(60)).await;
    converged(&sim, &monitor, Duration::from_secs(2)).await;

    sim.add_faults(json!([{"verb": "patch", "resource": "flinkjobs/status", "code": 429, "count": 1, "retryAfter": 2}]))
        .await;
    let changed_at = unix_now();
    let cancel = |job: usize| {
        for (c, flink) in flinks.iter().enumerate().take(20) {
            flink.set_state(&flink.jid_of(&format!("c{c}-job-{job}")), "CANCELED");
        }
    };
    cancel(0);
    eventually(Duration::from_secs(30), "the 429 is answered", || async {
        let faults = sim.get("/_sim/faults").await;
        faults["faults"]
            .as_array()
            .is_some_and(|f| f.is_empty())
            .then_some(())
    })
    .await;
    // More changes while the API server asked to wait.
    cancel(1);
    eventually(
        Duration::from_secs(60),
        "every change lands after the 429",
        || async {
            let canceled = sim
                .flinkjobs()
                .await
                .iter()
                .filter(|j| j["status"]["state"] == "CANCELED")
                .count();
            (canceled == 40).then_some(())
        },
    )
    .await;
    let requests = sim.requests(changed_at).await;
    let throttled = requests
        .iter()
        .find(|r| r["code"] == 429)
        .and_then(|r| r["time"].as_f64())
        .expect("the 429 was answered");
    // The log has when each write ended: those in flight when the 429 came back end within
    // moments; any other one in the 2 s was sent while the API server asked to wait.
    let too_soon: Vec<String> = requests
        .iter()
        .filter(|r| {
            let verb = r["verb"].as_str().unwrap_or_default();
            matches!(verb, "create" | "patch" | "update")
        })
        .filter_map(|r| {
            let t = r["time"].as_f64()?;
            (t > throttled + 0.5 && t < throttled + 1.9)
                .then(|| format!("{} {} at +{:.2}s", r["verb"], r["resource"], t - throttled))
        })
        .collect();
    eprintln!("writes from 0.5 to 1.9 s after the 429: {}", too_soon.len());
    assert!(
        too_soon.is_empty(),
        "writes sent while the API server asked to wait 2 s:\n{}",
        too_soon.join("\n")
    );
}
