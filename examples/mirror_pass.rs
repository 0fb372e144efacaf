//! `mirror_pass`: how long one mirror pass takes to find what is missing, with every mirror
//! already there (the steady state), for 100 / 500 / 1,000 clusters of 10 jobs, today's
//! `missing_mirrors` beside the comparison it replaced (every wanted mirror against every
//! FlinkJob, kept here only to measure it).
//!
//! ```text
//! cargo run --release --example mirror_pass
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use flink_monitor::clusters::testing::{add_cluster, quiet_registry, service_cluster};
use flink_monitor::clusters::{KnownClusters, OwnerRef};
use flink_monitor::controller::mirror::{mirror_name, missing_mirrors};
use flink_monitor::crd::FlinkJob;
use flink_monitor::flink::ClientSettings;
use kube::ResourceExt;

const JOBS: usize = 10;

async fn registry(clusters: usize) -> Arc<KnownClusters> {
    let registry = quiet_registry(ClientSettings::default());
    for c in 0..clusters {
        let info = flink_monitor::clusters::ClusterInfo {
            owner: Some(OwnerRef {
                api_version: "v1".into(),
                kind: "Service".into(),
                name: format!("jm-{c}"),
                uid: format!("uid-{c}"),
            }),
            ..service_cluster(&format!("team-{}", c % 10), &format!("jm-{c}"))
        };
        let jobs: Vec<serde_json::Value> = (0..JOBS)
            .map(|j| serde_json::json!({"jid": format!("{c:016x}{j:016x}"), "name": format!("jm-{c}-job-{j}"), "state": "RUNNING", "start-time": 1}))
            .collect();
        add_cluster(&registry, info, serde_json::Value::Array(jobs), true).await;
    }
    registry
}

/// The pass before: each wanted mirror compared with every FlinkJob.
fn quadratic(registry: &KnownClusters, existing: &[Arc<FlinkJob>]) -> usize {
    let mut missing = 0;
    for cluster in registry.list() {
        let info = cluster.info();
        let (Some(namespace), Some(_)) = (&info.namespace, &info.owner) else {
            continue;
        };
        let Some(snapshot) = cluster.status().snapshot.clone() else {
            continue;
        };
        for job in snapshot.jobs() {
            let name = mirror_name(&info.id, &info.name, &job.name);
            let wanted_id = format!("{namespace}.{}", info.name);
            let covered = existing.iter().any(|e| {
                let same_cluster = match e.spec.cluster.as_deref() {
                    None | Some("") => true,
                    Some(c) => c == info.name || c == wanted_id,
                };
                e.namespace().as_deref() == Some(namespace.as_str())
                    && (e.name_any() == name || (e.spec.job_name == job.name && same_cluster))
            });
            missing += usize::from(!covered);
        }
    }
    missing
}

fn time<T>(f: impl Fn() -> T) -> (T, Duration) {
    let start = Instant::now();
    let out = f();
    (out, start.elapsed())
}

#[tokio::main]
async fn main() {
    println!("one steady mirror pass (every mirror exists), finding what is missing:");
    for clusters in [100, 500, 1000] {
        let registry = registry(clusters).await;
        let existing: Vec<Arc<FlinkJob>> = missing_mirrors(&registry, None, &[])
            .into_iter()
            .map(Arc::new)
            .collect();
        let (now_missing, linear) = time(|| missing_mirrors(&registry, None, &existing).len());
        let (before_missing, before) = time(|| quadratic(&registry, &existing));
        assert_eq!((now_missing, before_missing), (0, 0));
        println!(
            "RESULT mirror-pass flinkjobs={} linear_ms={:.2} before_ms={:.1} ratio={:.0}",
            existing.len(),
            linear.as_secs_f64() * 1e3,
            before.as_secs_f64() * 1e3,
            before.as_secs_f64() / linear.as_secs_f64().max(1e-9)
        );
    }
}
