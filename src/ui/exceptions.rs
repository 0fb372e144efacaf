//! The first line of each failed or restarting job's last exception, for the jobs table.
//! Read from Flink once per failure (a new state or a new restart count), not per page
//! view: the follower looks at a cluster whenever it changes, and reads through the
//! cluster's cached, coalesced `root_exception`, within its per-cluster limit.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::sync::Semaphore;

use crate::clusters::Cluster;
use crate::flink::RootException;

use super::UiState;

/// Reads in flight at once, across clusters.
const READS_IN_FLIGHT: usize = 8;
/// The longest first line kept, in characters.
const MAX_LINE_CHARS: usize = 512;

/// The first line of a root exception, the first line of its deepest cause, and when it
/// was thrown (ms). Flink's first line is often only "Recovery is suppressed by
/// NoRestartBackoffTimeStrategy"; the cause says what went wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExceptionLine {
    pub message: String,
    /// The last `Caused by:` line, without that prefix; null when there is none.
    pub root_cause: Option<String>,
    pub timestamp: Option<i64>,
}

fn bounded(line: &str) -> String {
    line.chars().take(MAX_LINE_CHARS).collect()
}

impl ExceptionLine {
    /// None when Flink has no exception for the job.
    pub fn of(root: &RootException) -> Option<Self> {
        let text = root.root_exception.as_deref()?;
        let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
        let first = lines.next()?;
        let root_cause = lines
            .filter_map(|l| l.strip_prefix("Caused by:"))
            .next_back()
            .map(|l| bounded(l.trim()));
        Some(Self {
            message: bounded(first),
            root_cause,
            timestamp: root.timestamp,
        })
    }
}

/// What a read was for: a job's state and restart count at the time.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Occasion {
    state: String,
    restarts: Option<i64>,
}

#[derive(Debug, Clone)]
struct Seen {
    /// None after a failed read: the next look tries again.
    read_for: Option<Occasion>,
    line: Option<ExceptionLine>,
}

/// Per cluster id, per jid.
pub struct ExceptionBook {
    clusters: Mutex<HashMap<Arc<str>, HashMap<String, Seen>>>,
    permits: Arc<Semaphore>,
}

impl Default for ExceptionBook {
    fn default() -> Self {
        Self {
            clusters: Mutex::new(HashMap::new()),
            permits: Arc::new(Semaphore::new(READS_IN_FLIGHT)),
        }
    }
}

/// A job whose last exception says something: it failed, is failing or restarting, or
/// restarted before.
fn worth_reading(state: &str, restarts: Option<i64>) -> bool {
    matches!(state, "FAILED" | "FAILING" | "RESTARTING") || restarts.is_some_and(|n| n > 0)
}

impl ExceptionBook {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Arc<str>, HashMap<String, Seen>>> {
        self.clusters.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The first line of the job's last exception, if one was read.
    pub fn line(&self, cluster: &str, jid: &str) -> Option<ExceptionLine> {
        self.lock().get(cluster)?.get(jid)?.line.clone()
    }

    pub fn forget(&self, cluster: &str) {
        self.lock().remove(cluster);
    }

    /// Starts a read for each job of the cluster's last poll whose exception is not known
    /// for its current state and restart count; forgets jobs that left the poll.
    pub fn look_at(&self, state: &Arc<UiState>, cluster: &Arc<Cluster>) {
        let status = cluster.status();
        let Some(snapshot) = status.snapshot.as_ref() else {
            return;
        };
        let mut to_read = Vec::new();
        {
            let mut clusters = self.lock();
            let seen = clusters.entry(cluster.id().into()).or_default();
            seen.retain(|jid, _| snapshot.jobs().iter().any(|j| &j.jid == jid));
            if !status.reachable {
                return;
            }
            for job in snapshot.jobs() {
                let restarts = cluster.health().get(&job.jid).and_then(|r| r.restarts());
                if !worth_reading(job.state(), restarts) {
                    continue;
                }
                let occasion = Occasion {
                    state: job.state().to_string(),
                    restarts,
                };
                let entry = seen.entry(job.jid.clone()).or_insert(Seen {
                    read_for: None,
                    line: None,
                });
                if entry.read_for.as_ref() == Some(&occasion) {
                    continue;
                }
                // Claimed now, so the next look does not start a second read.
                entry.read_for = Some(occasion);
                to_read.push(job.jid.clone());
            }
        }
        for jid in to_read {
            tokio::spawn(read(state.clone(), cluster.clone(), jid));
        }
    }

    fn record(&self, cluster: &str, jid: &str, read: Option<Option<ExceptionLine>>) {
        let mut clusters = self.lock();
        let Some(seen) = clusters.get_mut(cluster).and_then(|c| c.get_mut(jid)) else {
            return;
        };
        match read {
            Some(line) => seen.line = line,
            None => seen.read_for = None,
        }
    }
}

async fn read(state: Arc<UiState>, cluster: Arc<Cluster>, jid: String) {
    let book = &state.exceptions;
    // Never closed.
    let Ok(_permit) = book.permits.clone().acquire_owned().await else {
        return;
    };
    let read = match cluster.root_exception(&jid).await {
        Ok(root) => Some(ExceptionLine::of(&root)),
        Err(error) => {
            tracing::debug!(cluster = cluster.id(), %jid, %error, "reading a job's exception for the page failed");
            None
        }
    };
    let changed = read.is_some();
    book.record(cluster.id(), &jid, read);
    if changed {
        state.changes.mark(cluster.id());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(text: Option<&str>) -> RootException {
        RootException {
            root_exception: text.map(String::from),
            timestamp: Some(7),
            truncated: false,
        }
    }

    #[test]
    fn the_first_non_empty_line_is_kept_bounded() {
        let line = ExceptionLine::of(&root(Some(
            "\n  java.lang.RuntimeException: boom </script>\n\tat x.y(Z.java:1)",
        )));
        assert_eq!(
            line,
            Some(ExceptionLine {
                message: "java.lang.RuntimeException: boom </script>".into(),
                root_cause: None,
                timestamp: Some(7)
            })
        );
        let caused = ExceptionLine::of(&root(Some(
            "org.apache.flink.runtime.JobException: Recovery is suppressed by NoRestartBackoffTimeStrategy\n\tat a.b(C.java:1)\nCaused by: java.lang.IllegalStateException: middle\n\tat d.e\nCaused by: java.lang.RuntimeException: flinklab intentional failure at record 50\n\tat f.g",
        )))
        .unwrap();
        assert_eq!(
            caused.message,
            "org.apache.flink.runtime.JobException: Recovery is suppressed by NoRestartBackoffTimeStrategy"
        );
        assert_eq!(
            caused.root_cause.as_deref(),
            Some("java.lang.RuntimeException: flinklab intentional failure at record 50"),
            "the deepest cause"
        );
        let long = "x".repeat(2 * MAX_LINE_CHARS);
        let line = ExceptionLine::of(&root(Some(&long))).unwrap();
        assert_eq!(line.message.chars().count(), MAX_LINE_CHARS);
        assert_eq!(ExceptionLine::of(&root(None)), None);
        assert_eq!(ExceptionLine::of(&root(Some(" \n "))), None);
    }

    /// A JobManager that answers every request with a root exception and counts the
    /// `/exceptions` requests.
    async fn failing_jobmanager() -> (url::Url, Arc<std::sync::atomic::AtomicUsize>) {
        let reads = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = reads.clone();
        let url = crate::testing::jobmanager::scripted(move |head| {
            if head.contains("/exceptions") {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            r#"{"root-exception": "java.lang.Exception: top\n\tat a.b\nCaused by: java.lang.IllegalStateException: boom", "timestamp": 5, "truncated": false}"#.to_string()
        })
        .await;
        (url, reads)
    }

    #[tokio::test]
    async fn an_exception_is_read_once_per_failure_and_the_cluster_marked_changed() {
        use crate::clusters::testing::{add_cluster, quiet_registry, service_cluster};
        let (url, reads) = failing_jobmanager().await;
        let registry = quiet_registry(crate::flink::ClientSettings::default());
        let mut info = service_cluster("ns", "flaky");
        info.url = url;
        let job = |state: &str| {
            serde_json::json!([{"jid": "j1", "name": "orders", "state": state, "start-time": 1},
                {"jid": "j2", "name": "fine", "state": "RUNNING", "start-time": 1}])
        };
        add_cluster(&registry, info, job("RESTARTING"), true).await;
        let state = UiState::new(registry.clone(), std::time::Duration::from_secs(1));
        let token = state.changes.token();
        let cluster = registry.get("ns.flaky").unwrap();
        let line = || state.exceptions.line("ns.flaky", "j1");
        state.exceptions.look_at(&state, &cluster);
        state.exceptions.look_at(&state, &cluster);
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        while line().is_none() {
            assert!(tokio::time::Instant::now() < deadline, "never read");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let read = line().unwrap();
        assert_eq!(read.message, "java.lang.Exception: top");
        assert_eq!(
            read.root_cause.as_deref(),
            Some("java.lang.IllegalStateException: boom")
        );
        assert_eq!(
            reads.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "one read, not one per look"
        );
        assert_eq!(
            state.exceptions.line("ns.flaky", "j2"),
            None,
            "a healthy job is not read"
        );
        assert_eq!(
            state.changes.since(Some(&token)),
            super::super::changes::Since::Clusters(vec!["ns.flaky".into()]),
            "the page hears of it"
        );
        // Later looks at the same failure read nothing (also once the cluster's 1 s cache of
        // the answer expired); a new state is a new failure.
        tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
        state.exceptions.look_at(&state, &cluster);
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert_eq!(reads.load(std::sync::atomic::Ordering::SeqCst), 1);
        cluster.set_status(crate::clusters::ClusterStatus {
            snapshot: Some(Arc::new(crate::clusters::JobsSnapshot::new(
                serde_json::from_value(job("FAILED")).unwrap(),
                2,
            ))),
            polled: true,
            reachable: true,
            last_error: None,
            flink_version: None,
        });
        state.exceptions.look_at(&state, &cluster);
        while reads.load(std::sync::atomic::Ordering::SeqCst) < 2 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "not read again after FAILED"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    #[test]
    fn only_jobs_that_failed_or_restarted_are_read() {
        assert!(worth_reading("FAILED", None));
        assert!(worth_reading("RESTARTING", Some(0)));
        assert!(worth_reading("RUNNING", Some(2)), "restarted before");
        assert!(!worth_reading("RUNNING", Some(0)));
        assert!(!worth_reading("RUNNING", None));
        assert!(!worth_reading("FINISHED", None));
        assert!(!worth_reading("CANCELED", None));
    }
}
