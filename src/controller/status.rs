//! The status of a FlinkJob as a pure function of what the registry shows.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

use crate::crd::{FlinkJobStatus, LastException};
use crate::flink::dto::RootException;

pub const FOUND: &str = "Found";
pub const CLUSTER_REACHABLE: &str = "ClusterReachable";
pub const RUNNING: &str = "Running";

/// Longest `lastException.message` kept: status must stay small.
const MAX_EXCEPTION_CHARS: usize = 512;

/// What one Flink job looked like in the last snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobFacts {
    pub jid: String,
    pub state: String,
    pub start_time: Option<i64>,
    pub end_time: Option<i64>,
}

/// What the registry says about the job a FlinkJob names.
#[derive(Debug, Clone, PartialEq)]
pub enum Observed {
    /// No known cluster matches `spec.cluster` (or none is in the namespace).
    NoCluster { message: String },
    /// Found in the last snapshot of `cluster`.
    Found {
        cluster: String,
        /// The poll error when the cluster is unreachable now.
        unreachable: Option<String>,
        job: JobFacts,
        flink_version: Option<String>,
        /// The root exception, when it was read (failed or failing jobs).
        exception: Option<RootException>,
    },
    /// In no snapshot. `unreachable` are the candidate clusters that could not be asked.
    NotFound {
        clusters: Vec<String>,
        unreachable: Vec<(String, String)>,
    },
    /// On more than one cluster: `spec.cluster` must say which.
    Ambiguous(Vec<String>),
}

/// The new status. Never erases what was known: when the job cannot be seen, its last
/// known state, ids and times stay, and the conditions say why it is not current.
pub fn compute(
    previous: Option<&FlinkJobStatus>,
    generation: Option<i64>,
    observed: &Observed,
    now: Timestamp,
) -> FlinkJobStatus {
    let mut status = previous.cloned().unwrap_or_default();
    let old_conditions = std::mem::take(&mut status.conditions);
    let mut conditions = Conditions {
        old: &old_conditions,
        new: Vec::new(),
        now,
        generation,
    };
    match observed {
        Observed::Found {
            cluster,
            unreachable,
            job,
            flink_version,
            exception,
        } => {
            if status.job_id.as_deref() != Some(job.jid.as_str()) {
                // Another Flink job now carries the name: what was known is about the old one.
                status.last_exception = None;
            }
            status.state = Some(job.state.clone());
            status.job_id = Some(job.jid.clone());
            status.cluster = Some(cluster.clone());
            status.start_time = job.start_time.filter(|t| *t > 0).and_then(rfc3339);
            status.end_time = job.end_time.filter(|t| *t > 0).and_then(rfc3339);
            if flink_version.is_some() {
                status.flink_version = flink_version.clone();
            }
            if let Some(exception) = exception.as_ref().and_then(last_exception) {
                status.last_exception = Some(exception);
            }
            conditions.set(FOUND, true, "JobFound", format!("job {} on cluster {cluster}", job.jid));
            match unreachable {
                None => conditions.set(CLUSTER_REACHABLE, true, "Polled", format!("cluster {cluster} answers")),
                Some(error) => conditions.set(
                    CLUSTER_REACHABLE,
                    false,
                    "ClusterUnreachable",
                    format!("cluster {cluster}: {error}; showing the last known state"),
                ),
            }
            let running = job.state == "RUNNING";
            conditions.set(RUNNING, running, &pascal(&job.state), format!("the job is {}", job.state));
        }
        Observed::NotFound { clusters, unreachable } if !unreachable.is_empty() => {
            let lines: Vec<String> = unreachable.iter().map(|(id, why)| format!("cluster {id}: {why}")).collect();
            conditions.keep_or_unknown(FOUND, "ClusterUnreachable", "the job may be on a cluster that cannot be asked");
            conditions.set(CLUSTER_REACHABLE, false, "ClusterUnreachable", lines.join("; "));
            conditions.keep_or_unknown(RUNNING, "ClusterUnreachable", "unknown while the cluster cannot be asked");
            let _ = clusters;
        }
        Observed::NotFound { clusters, .. } => {
            conditions.set(
                FOUND,
                false,
                "JobNotFound",
                format!("no job with that name on {}", clusters.join(", ")),
            );
            conditions.set(CLUSTER_REACHABLE, true, "Polled", format!("{} answers", clusters.join(", ")));
            conditions.set(RUNNING, false, "JobNotFound", "the job is not listed by flink".to_string());
        }
        Observed::NoCluster { message } => {
            conditions.set(FOUND, false, "ClusterNotFound", message.clone());
            conditions.set(CLUSTER_REACHABLE, false, "ClusterNotFound", message.clone());
            conditions.set(RUNNING, false, "ClusterNotFound", message.clone());
        }
        Observed::Ambiguous(ids) => {
            let message = format!(
                "a job with that name is on clusters {}; set spec.cluster to one of them",
                ids.join(", ")
            );
            conditions.set(FOUND, false, "Ambiguous", message.clone());
            conditions.keep_or_unknown(CLUSTER_REACHABLE, "Ambiguous", &message);
            conditions.keep_or_unknown(RUNNING, "Ambiguous", &message);
        }
    }
    status.conditions = conditions.new;
    status.observed_generation = generation;
    status
}

/// Builds the new condition list, keeping `lastTransitionTime` when a status is unchanged.
struct Conditions<'a> {
    old: &'a [Condition],
    new: Vec<Condition>,
    now: Timestamp,
    generation: Option<i64>,
}

impl Conditions<'_> {
    fn set(&mut self, type_: &str, value: bool, reason: &str, message: String) {
        self.push(type_, if value { "True" } else { "False" }, reason, message);
    }

    /// Keeps a condition as it was (it cannot be known now), or Unknown if it never was.
    fn keep_or_unknown(&mut self, type_: &str, reason: &str, message: &str) {
        match self.old.iter().find(|c| c.type_ == type_) {
            Some(old) => self.new.push(old.clone()),
            None => self.push(type_, "Unknown", reason, message.to_string()),
        }
    }

    fn push(&mut self, type_: &str, status: &str, reason: &str, message: String) {
        let old = self.old.iter().find(|c| c.type_ == type_);
        let last_transition_time = match old {
            Some(old) if old.status == status => old.last_transition_time.clone(),
            _ => Time(self.now),
        };
        self.new.push(Condition {
            type_: type_.to_string(),
            status: status.to_string(),
            reason: reason.to_string(),
            message,
            last_transition_time,
            observed_generation: self.generation,
        });
    }
}

/// `lastException` from the root exception: its first line and time, bounded.
pub fn last_exception(root: &RootException) -> Option<LastException> {
    let text = root.root_exception.as_deref()?;
    let first = text.lines().map(str::trim).find(|l| !l.is_empty())?;
    let message: String = first.chars().take(MAX_EXCEPTION_CHARS).collect();
    Some(LastException {
        message,
        timestamp: root.timestamp.and_then(rfc3339),
    })
}

pub fn rfc3339(ms: i64) -> Option<String> {
    Timestamp::from_millisecond(ms).ok().map(|t| t.to_string())
}

/// A condition reason is CamelCase: `RUNNING` -> `Running`, `CANCELLING` -> `Cancelling`.
fn pascal(state: &str) -> String {
    let mut chars = state.chars();
    match chars.next() {
        Some(first) => first.to_ascii_uppercase().to_string() + &chars.as_str().to_ascii_lowercase(),
        None => "Unknown".to_string(),
    }
}
