//! Every `flink_monitor_*` name that the chart's alert rules and dashboard use (any
//! `*.yaml`/`*.json` under charts/flink-monitor/), and every per-job family of DESIGN.md,
//! is in the /metrics output of the real binary watching a fake Flink with a running job.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::fake_flink::{ClosedPort, FakeFlink, FakeJob, FlinkVersion, now_ms};

/// The per-job families DESIGN.md decides.
const JOB_FAMILIES: &[&str] = &[
    "flink_monitor_job_state",
    "flink_monitor_job_healthy",
    "flink_monitor_job_restarts",
    "flink_monitor_job_last_checkpoint_age_seconds",
];

/// Suffixes Prometheus adds to a family's samples.
const SUFFIXES: &[&str] = &[
    "", "_total", "_bucket", "_sum", "_count", "_created", "_info",
];

use support::monitor_binary::free_port;
use support::wait;

/// `flink_monitor_*` names in the chart's rule and dashboard files.
fn chart_names(root: &Path) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut dirs = vec![root.join("charts/flink-monitor")];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
            if !matches!(ext, "yaml" | "yml" | "json") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            names.extend(metric_names_in(&text));
        }
    }
    names
}

fn metric_names_in(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("flink_monitor_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        // `flink_monitor_` alone is a prefix in prose, not a name.
        if end > "flink_monitor_".len() {
            found.push(tail[..end].to_string());
        }
        rest = &tail[end..];
    }
    found
}

/// The sample names of an exposition (`name{...} v` or `name v`), and its family names.
fn exported(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in text.lines() {
        if let Some(family) = line.strip_prefix("# TYPE ") {
            if let Some(name) = family.split_whitespace().next() {
                names.insert(name.to_string());
            }
        } else if !line.starts_with('#') {
            let end = line.find(['{', ' ']).unwrap_or(line.len());
            names.insert(line[..end].to_string());
        }
    }
    names
}

fn is_exported(name: &str, names: &BTreeSet<String>) -> bool {
    names.contains(name)
        || SUFFIXES.iter().filter(|s| !s.is_empty()).any(|s| {
            name.strip_suffix(s)
                .is_some_and(|base| names.contains(base))
        })
}

#[test]
fn names_are_found_in_rule_text() {
    let rule = r#"expr: rate(flink_monitor_polls_total{outcome="error"}[5m]) > 0 and flink_monitor_job_healthy == 0"#;
    assert_eq!(
        metric_names_in(rule),
        ["flink_monitor_polls_total", "flink_monitor_job_healthy"]
    );
    let exposition =
        "# TYPE flink_monitor_polls counter\nflink_monitor_polls_total{outcome=\"error\"} 0\n";
    let names = exported(exposition);
    assert!(is_exported("flink_monitor_polls_total", &names));
    assert!(is_exported("flink_monitor_polls", &names));
    assert!(!is_exported("flink_monitor_pols_total", &names));
}

#[tokio::test]
async fn every_metric_name_the_chart_and_design_use_is_exported() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let fake = FakeFlink::empty(FlinkVersion::V2_3).await;
    let jid = fake.add_job(FakeJob::new("orders", "RUNNING"));
    fake.edit(|m| {
        m.set_job_metric(&jid, "numRestarts", "1");
        m.set_job_metric(&jid, "numberOfCompletedCheckpoints", "3");
        m.set_job_metric(
            &jid,
            "lastCheckpointCompletedTimestamp",
            &(now_ms() - 1_000).to_string(),
        );
        m.checkpoint_config
            .insert(jid.clone(), serde_json::json!({"interval": 10_000}));
    });
    let listen = format!("127.0.0.1:{}", free_port());
    let cluster = format!("a={}", fake.url());
    // A cluster that never answers, so that the poll error series exist too.
    let dead = ClosedPort::new();
    let dead_cluster = format!("dead={}", dead.url());
    let child = Command::new(env!("CARGO_BIN_EXE_flink-monitor"))
        .args(["run", "--kubernetes", "off", "--listen", &listen])
        .args(["--cluster", &cluster, "--cluster", &dead_cluster])
        .args(["--poll-interval", "200ms"])
        .args(["--health-interval", "200ms"])
        .env_remove("KUBECONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start flink-monitor");
    let monitor = KilledOnDrop(child);

    // Wait for a health check to show in the per-job series.
    let text = wait::until_ok(
        Duration::from_secs(30),
        Duration::from_millis(100),
        "the per-job series in /metrics",
        || async {
            let text = match reqwest::get(format!("http://{listen}/metrics")).await {
                Ok(response) => response.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if text.contains("flink_monitor_job_last_checkpoint_age_seconds{")
                && text.contains("flink_monitor_poll_errors_total{")
            {
                Ok(text)
            } else {
                Err(format!("/metrics:\n{text}"))
            }
        },
    )
    .await;
    drop(monitor);

    let names = exported(&text);
    let mut wanted: BTreeSet<String> = JOB_FAMILIES.iter().map(|s| s.to_string()).collect();
    let from_chart = chart_names(root);
    wanted.extend(from_chart.iter().cloned());
    let missing: Vec<&String> = wanted.iter().filter(|n| !is_exported(n, &names)).collect();
    assert!(
        missing.is_empty(),
        "names used by the chart or DESIGN.md but not exported: {missing:?}\n(chart names: {from_chart:?})\n/metrics:\n{text}"
    );
    for family in JOB_FAMILIES {
        assert!(
            text.contains(&format!("{family}{{cluster=\"a\",job=\"orders\"")),
            "{family} has no series for the running job:\n{text}"
        );
    }
}

/// The binary, killed when the test ends whether it passed or not.
struct KilledOnDrop(std::process::Child);

impl Drop for KilledOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
