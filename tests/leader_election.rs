//! Leader change: two replicas of the real binary with `--leader-election` against the
//! API-server simulator (tests/k8s-sim) and a fake Flink. Each replica has its own token,
//! so the simulator's request log names the user behind every write.
//!
//! The replicas run with a short lease (3 s, renew deadline 2 s, renew period 250 ms) and
//! `--poll-interval 1s`, so a leader change takes seconds, not the defaults' 15 s.

mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};
use support::fake_flink::{FakeFlink, FakeJob, FlinkVersion};
use support::monitor_process::MonitorProcess;
use support::sim::{Sim, eventually, unix_now};
use support::wait;

const NAMESPACE: &str = "team-a";
const SERVICE: &str = "analytics";
const START: Duration = Duration::from_secs(30);
const LEASE_DURATION: Duration = Duration::from_secs(3);
/// MonitorProcess runs every replica with `--poll-interval 1s`.
const POLL_INTERVAL: Duration = Duration::from_secs(1);
const LEASE: &str = "/apis/coordination.k8s.io/v1/namespaces/default/leases/flink-monitor";

/// A replica: its identity in the Lease (POD_NAME) and the user its token maps to.
struct Replica {
    identity: &'static str,
    user: &'static str,
    process: MonitorProcess,
}

const REPLICAS: [(&str, &str, &str); 2] = [
    ("replica-a", "token-a", "user-a"),
    ("replica-b", "token-b", "user-b"),
];

fn authz() -> String {
    let tokens: serde_json::Map<String, Value> = REPLICAS
        .iter()
        .map(|(_, token, user)| (token.to_string(), json!(user)))
        .collect();
    json!({ "tokens": tokens }).to_string()
}

/// The simulator's kubeconfig with `token` instead of the default one.
fn kubeconfig_with(sim: &Sim, token: &str) -> PathBuf {
    let text = std::fs::read_to_string(&sim.kubeconfig).expect("read the simulator's kubeconfig");
    assert!(text.contains("token: k8ssim-token"), "{text}");
    let path = sim.dir.path().join(format!("{token}.kubeconfig"));
    std::fs::write(
        &path,
        text.replace("token: k8ssim-token", &format!("token: {token}")),
    )
    .expect("write a kubeconfig");
    path
}

fn start_replicas(sim: &Sim) -> Vec<Replica> {
    REPLICAS
        .iter()
        .map(|&(identity, token, user)| Replica {
            identity,
            user,
            process: MonitorProcess::start_with_kubeconfig(
                sim,
                &kubeconfig_with(sim, token),
                identity,
                &[
                    "--leader-election",
                    "--lease-duration",
                    "3s",
                    "--lease-renew-deadline",
                    "2s",
                    "--lease-renew-period",
                    "250ms",
                    // The FlinkJobs are the test's own: what is written is status and Events.
                    "--mirror-jobs",
                    "false",
                ],
            ),
        })
        .collect()
}

/// A Flink with `jobs`, a simulator (tokens of both replicas) with the CRD and a Service.
async fn world(jobs: &[(&str, &str)]) -> (FakeFlink, Sim) {
    let flink = FakeFlink::empty(FlinkVersion::V2_3).await;
    for (name, state) in jobs {
        flink.add_job(FakeJob::new(name, state));
    }
    let sim = Sim::start_with(&["--authz", &authz()]);
    sim.install_crd().await;
    sim.create_flink_service(NAMESPACE, SERVICE, flink.url().as_str())
        .await;
    for (name, _) in jobs {
        sim.create_flinkjob(NAMESPACE, name, json!({"jobName": name}))
            .await;
    }
    (flink, sim)
}

async fn holder(sim: &Sim) -> Option<String> {
    let (code, lease) = sim.try_send(reqwest::Method::GET, LEASE, None).await;
    (code == 200)
        .then(|| lease["spec"]["holderIdentity"].as_str().map(String::from))
        .flatten()
}

/// Both replicas ready, a leader elected, and every job's FlinkJob with its `state`.
async fn elected<'r>(sim: &Sim, replicas: &'r [Replica], jobs: &[(&str, &str)]) -> &'r Replica {
    for replica in replicas {
        replica.process.wait_ready(START).await;
    }
    let leader = eventually(START, "a leader is elected", || async {
        let holder = holder(sim).await?;
        replicas.iter().find(|r| r.identity == holder)
    })
    .await;
    let what = format!("every FlinkJob with its state\n{}", logs(replicas));
    eventually(START, &what, || async {
        let mirrored = sim.flinkjobs().await;
        jobs.iter()
            .all(|(name, state)| {
                mirrored
                    .iter()
                    .any(|j| j["spec"]["jobName"] == *name && j["status"]["state"] == *state)
            })
            .then_some(())
    })
    .await;
    leader
}

/// One RUNNING job `orders` and two replicas, one of them leading (its index).
async fn orders_with_a_leader() -> (FakeFlink, Sim, Vec<Replica>, usize) {
    let jobs = [("orders", "RUNNING")];
    let (flink, sim) = world(&jobs).await;
    let replicas = start_replicas(&sim);
    let leader = elected(&sim, &replicas, &jobs).await.identity;
    let leading = replicas
        .iter()
        .position(|r| r.identity == leader)
        .expect("the leader is a replica");
    (flink, sim, replicas, leading)
}

fn other<'r>(replicas: &'r [Replica], one: &Replica) -> &'r Replica {
    replicas
        .iter()
        .find(|r| r.identity != one.identity)
        .expect("two replicas")
}

/// Writes per replica user (the test's own setup writes are anonymous).
fn by_user(writes: &[Value]) -> BTreeMap<String, usize> {
    let mut users = BTreeMap::new();
    let replica_users: Vec<&str> = REPLICAS.iter().map(|(_, _, user)| *user).collect();
    for write in writes.iter().filter(|w| {
        w["user"]
            .as_str()
            .is_some_and(|u| replica_users.contains(&u))
    }) {
        let user = write["user"].as_str().unwrap_or("(none)").to_string();
        *users.entry(user).or_default() += 1;
    }
    users
}

fn times_of(writes: &[Value], user: &str) -> Vec<f64> {
    writes
        .iter()
        .filter(|w| w["user"] == user)
        .filter_map(|w| w["time"].as_f64())
        .collect()
}

fn logs(replicas: &[Replica]) -> String {
    replicas
        .iter()
        .map(|r| format!("--- {}:\n{}", r.identity, r.process.log()))
        .collect()
}

async fn state_of_job(sim: &Sim, name: &str) -> Option<String> {
    sim.flinkjobs()
        .await
        .into_iter()
        .find(|j| j["spec"]["jobName"] == name)
        .and_then(|j| j["status"]["state"].as_str().map(String::from))
}

/// Exactly one replica writes FlinkJob status and Events; SIGKILLed, the other writes the
/// next change within lease duration + poll interval. (It takes over at most a lease
/// duration plus a renew period after the last renew it saw, and reconciles everything
/// as soon as it leads.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_replica_writes_and_the_other_takes_over_when_it_is_killed() {
    let jobs = [("orders", "RUNNING"), ("billing", "RUNNING")];
    let (flink, sim) = world(&jobs).await;
    let mut replicas = start_replicas(&sim);
    let leader = elected(&sim, &replicas, &jobs).await;
    let (leader_id, leader_user) = (leader.identity, leader.user);
    let standby_user = other(&replicas, leader).user;

    flink.set_state(&flink.jid_of("orders"), "CANCELED");
    eventually(START, "the change is written", || async {
        (state_of_job(&sim, "orders").await.as_deref() == Some("CANCELED")).then_some(())
    })
    .await;
    let writes = sim.writes(0.0).await;
    let users = by_user(&writes);
    assert_eq!(
        users.keys().collect::<Vec<_>>(),
        [leader_user],
        "writes by user: {users:?}\n{}",
        logs(&replicas)
    );

    let killed = unix_now();
    replicas
        .iter_mut()
        .find(|r| r.identity == leader_id)
        .expect("the leader")
        .process
        .kill();
    flink.set_state(&flink.jid_of("billing"), "CANCELED");
    let bound = LEASE_DURATION + POLL_INTERVAL;
    eventually(
        bound,
        "the other replica writes the next change",
        async || (state_of_job(&sim, "billing").await.as_deref() == Some("CANCELED")).then_some(()),
    )
    .await;
    let taken_over = unix_now() - killed;
    let writes = sim.writes(killed).await;
    let users = by_user(&writes);
    assert_eq!(
        users.keys().collect::<Vec<_>>(),
        [standby_user],
        "writes after the kill by user: {users:?}"
    );
    eprintln!(
        "leader change: the next change written {taken_over:.2}s after SIGKILL (bound {bound:?})"
    );
}

/// A leader whose Lease renewals hang (the simulator holds its lease updates) stops writing
/// before its lease can expire, that is before the other replica may take over; the other
/// then takes over and writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_whose_renewals_hang_stops_writing_before_its_lease_can_expire() {
    let (flink, sim, replicas, leading) = orders_with_a_leader().await;
    let (leader, standby) = (&replicas[leading], &replicas[1 - leading]);

    let hang = unix_now();
    sim.add_faults(json!([{
        "verb": "update", "resource": "leases", "user": leader.user,
        "delay": 60, "count": 10_000,
    }]))
    .await;
    // Keep the job changing, so that whoever leads has something to write.
    let jid = flink.jid_of("orders");
    let states = ["RESTARTING", "RUNNING"];
    let mut i = 0;
    let last = wait::until_ok(
        START,
        Duration::ZERO,
        "the standby to take over",
        async || {
            let state = states[i % 2];
            flink.set_state(&jid, state);
            tokio::time::sleep(POLL_INTERVAL + Duration::from_millis(300)).await;
            i += 1;
            let standby_wrote = !times_of(&sim.writes(hang).await, standby.user).is_empty();
            if standby_wrote && unix_now() > hang + 3.0 * LEASE_DURATION.as_secs_f64() {
                Ok(state)
            } else {
                Err(logs(&replicas))
            }
        },
    )
    .await;
    eventually(START, "the latest change is written", || async {
        (state_of_job(&sim, "orders").await.as_deref() == Some(last)).then_some(())
    })
    .await;

    let requests = sim.requests(0.0).await;
    // The lease as last written by the leader (created or renewed).
    let last_renew = requests
        .iter()
        .filter(|r| {
            (r["verb"] == "update" || r["verb"] == "create")
                && r["resource"] == "leases"
                && r["user"] == leader.user
                && r["code"].as_u64().is_some_and(|c| (200..300).contains(&c))
        })
        .filter_map(|r| r["time"].as_f64())
        .fold(f64::NAN, f64::max);
    assert!(
        last_renew.is_finite(),
        "the leader never renewed: {:?}",
        requests
            .iter()
            .filter(|r| r["resource"] == "leases")
            .map(|r| format!("{} {} {} {}", r["verb"], r["user"], r["code"], r["time"]))
            .collect::<Vec<_>>()
    );
    let writes = sim.writes(hang).await;
    let by_leader = times_of(&writes, leader.user);
    let by_standby = times_of(&writes, standby.user);
    let leader_last = by_leader.iter().copied().fold(f64::NAN, f64::max);
    let expiry = last_renew + LEASE_DURATION.as_secs_f64();
    assert!(
        by_leader.iter().all(|t| *t < expiry),
        "the leader wrote {:.2}s after its last renew, its lease lasts {LEASE_DURATION:?}\n{}",
        leader_last - last_renew,
        logs(&replicas)
    );
    let standby_first = by_standby.iter().copied().fold(f64::NAN, f64::min);
    assert!(
        by_leader.is_empty() || standby_first > leader_last,
        "both wrote: the standby at {standby_first}, the leader until {leader_last}"
    );
    assert_eq!(holder(&sim).await.as_deref(), Some(standby.identity));
    eprintln!(
        "hung renewals: the leader's last write {:.2}s after its last renew (lease {LEASE_DURATION:?}); the standby's first write {:.2}s after it",
        leader_last - last_renew,
        standby_first - last_renew
    );
}

/// Fenced writes (issue 18, item 4): the leader's status PATCHes are slow (the simulator
/// holds each 5 s, longer than the renew deadline) and then its Lease renewals hang. A write
/// it started while leading must not land after the other replica took over: no write of the
/// old leader lands after the new leader's first (the request log has when each write ended,
/// whose it was, and its answer; a held write lands when it ends, even if its client gave up,
/// unless its own `timeout` ran out first).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_write_of_an_old_leader_lands_after_the_new_leaders_first() {
    let (flink, sim, replicas, leading) = orders_with_a_leader().await;
    let (leader, standby) = (&replicas[leading], &replicas[1 - leading]);
    let jid = flink.jid_of("orders");

    let slow = unix_now();
    sim.add_faults(json!([
        {"verb": "patch", "resource": "flinkjobs/status", "user": leader.user, "delay": 5, "count": 10_000},
    ]))
    .await;
    // A change the leader writes while it leads: its PATCH is held at the API server.
    flink.set_state(&jid, "RESTARTING");
    eventually(START, "the leader's status write is held", || async {
        let held = sim.get("/_sim/faults").await["faults"]
            .as_array()
            .and_then(|faults| faults.first().cloned())
            .and_then(|f| f["count"].as_u64())
            .is_some_and(|left| left < 10_000);
        held.then_some(())
    })
    .await;
    let hang = unix_now();
    sim.add_faults(json!([
        {"verb": "update", "resource": "leases", "user": leader.user, "delay": 60, "count": 10_000},
    ]))
    .await;
    // Keep the job changing, so that whoever leads has something to write.
    let states = ["RUNNING", "RESTARTING"];
    let mut i = 0;
    wait::until_ok(
        START,
        Duration::ZERO,
        "the standby to take over",
        async || {
            flink.set_state(&jid, states[i % 2]);
            tokio::time::sleep(Duration::from_millis(700)).await;
            i += 1;
            let standby_wrote = !times_of(&sim.writes(hang).await, standby.user).is_empty();
            // Past the take-over, and long enough for every held write to end.
            if standby_wrote && unix_now() > hang + 3.0 * LEASE_DURATION.as_secs_f64() + 6.0 {
                Ok(())
            } else {
                Err(logs(&replicas))
            }
        },
    )
    .await;
    let writes = sim.writes(slow).await;
    let landed = |user: &str| -> Vec<f64> {
        writes
            .iter()
            .filter(|w| w["user"] == user)
            .filter(|w| w["code"].as_u64().is_some_and(|c| (200..300).contains(&c)))
            .filter_map(|w| w["time"].as_f64())
            .collect()
    };
    let old_leader = landed(leader.user);
    let new_leader_first = landed(standby.user)
        .into_iter()
        .fold(f64::INFINITY, f64::min);
    let attempted: Vec<String> = writes
        .iter()
        .filter(|w| w["user"] == leader.user)
        .map(|w| {
            format!(
                "{} {} -> {} at {:.2}",
                w["verb"],
                w["resource"],
                w["code"],
                w["time"].as_f64().unwrap_or_default() - hang
            )
        })
        .collect();
    let late: Vec<String> = old_leader
        .iter()
        .filter(|t| **t > new_leader_first)
        .map(|t| format!("+{:.2}s", t - new_leader_first))
        .collect();
    eprintln!(
        "fenced writes: the old leader's writes since its PATCHes slowed (times from the hang): {attempted:?}; the new leader's first at {:.2}",
        new_leader_first - hang
    );
    assert!(
        !attempted.is_empty(),
        "the old leader attempted no write while slow: the scenario proved nothing\n{}",
        logs(&replicas)
    );
    assert!(
        late.is_empty(),
        "writes of the old leader landed after the new leader's first write: {late:?}\n{}",
        logs(&replicas)
    );
}
