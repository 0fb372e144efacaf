//! The status of a FlinkJob as a pure function of what the registry shows.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

use crate::crd::{FlinkJobStatus, LastException};
use crate::flink::RootException;
use crate::time::rfc3339;

pub const FOUND: &str = "Found";
pub const CLUSTER_REACHABLE: &str = "ClusterReachable";
pub const RUNNING: &str = "Running";
pub const HEALTHY: &str = "Healthy";

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

/// What the health checks say about the job, judged by the FlinkJob's thresholds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthFacts {
    /// `Healthy`, `Degraded` or `Unknown`.
    pub health: &'static str,
    /// The first reason (`Healthy` when healthy): the `Healthy` condition's reason.
    pub reason: String,
    /// Every reason, one after the other: the condition's message.
    pub message: String,
    /// Flink's numRestarts, when a check read it.
    pub restarts: Option<i64>,
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
        /// None while not known yet (no health check answered): what was known stays.
        health: Option<Box<HealthFacts>>,
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
            health,
        } => {
            let same_job = found_job(
                &mut status,
                cluster,
                job,
                flink_version.as_deref(),
                exception.as_ref(),
            );
            found_conditions(&mut conditions, cluster, unreachable.as_deref(), job);
            found_health(&mut status, &mut conditions, health.as_deref(), same_job);
        }
        Observed::NotFound { unreachable, .. } if !unreachable.is_empty() => {
            not_found_while_unreachable(&mut conditions, unreachable);
        }
        Observed::NotFound { clusters, .. } => not_found(&mut status, &mut conditions, clusters),
        Observed::NoCluster { message } => no_cluster(&mut status, &mut conditions, message),
        Observed::Ambiguous(ids) => ambiguous(&mut conditions, ids),
    }
    status.conditions = conditions.new;
    status.observed_generation = generation;
    status
}

/// The job's own fields, from the snapshot. Returns whether it is the job the status
/// already described (same Flink job id).
fn found_job(
    status: &mut FlinkJobStatus,
    cluster: &str,
    job: &JobFacts,
    flink_version: Option<&str>,
    exception: Option<&RootException>,
) -> bool {
    let same_job = status.job_id.as_deref() == Some(job.jid.as_str());
    if !same_job {
        // Another Flink job now carries the name: what was known is about the old one.
        status.last_exception = None;
        status.restarts = None;
        status.health = None;
    }
    status.state = Some(job.state.clone());
    status.job_id = Some(job.jid.clone());
    status.cluster = Some(cluster.to_string());
    status.start_time = job.start_time.filter(|t| *t > 0).and_then(rfc3339);
    status.end_time = job.end_time.filter(|t| *t > 0).and_then(rfc3339);
    if let Some(version) = flink_version {
        status.flink_version = Some(version.to_string());
    }
    if let Some(exception) = exception.and_then(last_exception) {
        status.last_exception = Some(exception);
    }
    same_job
}

/// Found, ClusterReachable and Running of a job found in a snapshot.
fn found_conditions(
    conditions: &mut Conditions,
    cluster: &str,
    unreachable: Option<&str>,
    job: &JobFacts,
) {
    conditions.set(
        FOUND,
        true,
        "JobFound",
        format!("job {} on cluster {cluster}", job.jid),
    );
    match unreachable {
        None => conditions.set(
            CLUSTER_REACHABLE,
            true,
            "Polled",
            format!("cluster {cluster} answers"),
        ),
        Some(error) => conditions.set(
            CLUSTER_REACHABLE,
            false,
            "ClusterUnreachable",
            format!("cluster {cluster}: {error}; showing the last known state"),
        ),
    }
    let running = job.state == "RUNNING";
    conditions.set(
        RUNNING,
        running,
        &pascal(&job.state),
        format!("the job is {}", job.state),
    );
}

/// Health, restarts and the Healthy condition; while not known yet, what was known of the
/// same job stays.
fn found_health(
    status: &mut FlinkJobStatus,
    conditions: &mut Conditions,
    health: Option<&HealthFacts>,
    same_job: bool,
) {
    match health {
        Some(facts) => {
            status.health = Some(facts.health.to_string());
            if facts.restarts.is_some() {
                status.restarts = facts.restarts;
            }
            let value = match facts.health {
                "Healthy" => "True",
                "Degraded" => "False",
                _ => "Unknown",
            };
            conditions.push(HEALTHY, value, &facts.reason, facts.message.clone());
        }
        None if same_job => conditions.keep(HEALTHY),
        None => {}
    }
}

/// In no snapshot, but some candidate clusters could not be asked: it may be there.
fn not_found_while_unreachable(conditions: &mut Conditions, unreachable: &[(String, String)]) {
    let lines: Vec<String> = unreachable
        .iter()
        .map(|(id, why)| format!("cluster {id}: {why}"))
        .collect();
    conditions.keep_or_unknown(
        FOUND,
        "ClusterUnreachable",
        "the job may be on a cluster that cannot be asked",
    );
    conditions.set(
        CLUSTER_REACHABLE,
        false,
        "ClusterUnreachable",
        lines.join("; "),
    );
    conditions.keep_or_unknown(
        RUNNING,
        "ClusterUnreachable",
        "unknown while the cluster cannot be asked",
    );
    conditions.keep(HEALTHY);
}

/// Every candidate cluster answered and none lists the job.
fn not_found(status: &mut FlinkJobStatus, conditions: &mut Conditions, clusters: &[String]) {
    conditions.set(
        FOUND,
        false,
        "JobNotFound",
        format!("no job with that name on {}", clusters.join(", ")),
    );
    conditions.set(
        CLUSTER_REACHABLE,
        true,
        "Polled",
        format!("{} answers", clusters.join(", ")),
    );
    conditions.set(
        RUNNING,
        false,
        "JobNotFound",
        "the job is not listed by flink".to_string(),
    );
    status.health = Some("Unknown".into());
    conditions.push(
        HEALTHY,
        "Unknown",
        "JobNotFound",
        "the job is not listed by flink".to_string(),
    );
}

fn no_cluster(status: &mut FlinkJobStatus, conditions: &mut Conditions, message: &str) {
    conditions.set(FOUND, false, "ClusterNotFound", message.to_string());
    conditions.set(
        CLUSTER_REACHABLE,
        false,
        "ClusterNotFound",
        message.to_string(),
    );
    conditions.set(RUNNING, false, "ClusterNotFound", message.to_string());
    status.health = Some("Unknown".into());
    conditions.push(HEALTHY, "Unknown", "ClusterNotFound", message.to_string());
}

fn ambiguous(conditions: &mut Conditions, ids: &[String]) {
    let message = format!(
        "a job with that name is on clusters {}; set spec.cluster to one of them",
        ids.join(", ")
    );
    conditions.set(FOUND, false, "Ambiguous", message.clone());
    conditions.keep_or_unknown(CLUSTER_REACHABLE, "Ambiguous", &message);
    conditions.keep_or_unknown(RUNNING, "Ambiguous", &message);
    conditions.keep(HEALTHY);
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

    /// Keeps a condition as it was, if there was one (it cannot be known now).
    fn keep(&mut self, type_: &str) {
        if let Some(old) = self.old.iter().find(|c| c.type_ == type_) {
            self.new.push(old.clone());
        }
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

/// A condition reason is CamelCase: `RUNNING` -> `Running`, `CANCELLING` -> `Cancelling`.
fn pascal(state: &str) -> String {
    let mut chars = state.chars();
    match chars.next() {
        Some(first) => {
            first.to_ascii_uppercase().to_string() + &chars.as_str().to_ascii_lowercase()
        }
        None => "Unknown".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_795_606_436_846;

    fn now() -> Timestamp {
        Timestamp::from_millisecond(T0 + 60_000).unwrap()
    }

    const CLUSTER: &str = "team-a.orders";

    fn found(state: &str, end: i64, unreachable: Option<&str>) -> Observed {
        Observed::Found {
            cluster: CLUSTER.into(),
            unreachable: unreachable.map(String::from),
            job: JobFacts {
                jid: "13b86a0c682093f8a099c3b4ca0207fa".into(),
                state: state.into(),
                start_time: Some(T0),
                end_time: Some(end),
            },
            flink_version: Some("2.3.0".into()),
            exception: None,
            health: None,
        }
    }

    /// Not in the snapshot of [`CLUSTER`]; `unreachable`: why it could not be asked.
    fn not_found(unreachable: Option<&str>) -> Observed {
        Observed::NotFound {
            clusters: vec![CLUSTER.into()],
            unreachable: unreachable
                .map(|why| (CLUSTER.into(), why.into()))
                .into_iter()
                .collect(),
        }
    }

    /// The status computed from nothing known before, for no generation.
    fn first(observed: &Observed) -> FlinkJobStatus {
        compute(None, None, observed, now())
    }

    /// The status computed after `previous`, for no generation.
    fn then(previous: &FlinkJobStatus, observed: &Observed) -> FlinkJobStatus {
        compute(Some(previous), None, observed, now())
    }

    /// A job that failed at `T0 + 830`, with the root exception `text` thrown at `timestamp`.
    fn failed_with(text: &str, timestamp: i64) -> Observed {
        let mut observed = found("FAILED", T0 + 830, None);
        if let Observed::Found { exception, .. } = &mut observed {
            *exception = Some(RootException {
                root_exception: Some(text.into()),
                timestamp: Some(timestamp),
                truncated: false,
            });
        }
        observed
    }

    fn condition<'a>(status: &'a FlinkJobStatus, type_: &str) -> &'a Condition {
        status.conditions.iter().find(|c| c.type_ == type_).unwrap()
    }

    #[test]
    fn every_flink_state_is_written_as_is_and_only_running_is_running() {
        for &state in crate::flink::JOB_STATES {
            let status = compute(None, Some(1), &found(state, -1, None), now());
            assert_eq!(status.state.as_deref(), Some(state));
            assert_eq!(
                status.job_id.as_deref(),
                Some("13b86a0c682093f8a099c3b4ca0207fa")
            );
            assert_eq!(status.cluster.as_deref(), Some("team-a.orders"));
            assert_eq!(status.flink_version.as_deref(), Some("2.3.0"));
            assert_eq!(status.observed_generation, Some(1));
            assert_eq!(condition(&status, FOUND).status, "True");
            assert_eq!(condition(&status, CLUSTER_REACHABLE).status, "True");
            let running = condition(&status, RUNNING);
            assert_eq!(
                running.status,
                if state == "RUNNING" { "True" } else { "False" },
                "{state}"
            );
            assert!(running.reason.chars().next().unwrap().is_ascii_uppercase());
        }
    }

    #[test]
    fn times_are_rfc3339_and_a_running_job_has_no_end() {
        let running = first(&found("RUNNING", -1, None));
        assert_eq!(
            running.start_time.as_deref(),
            Some("2026-11-25T11:33:56.846Z")
        );
        assert_eq!(running.end_time, None);
        let ended = first(&found("FINISHED", T0 + 2293, None));
        assert_eq!(ended.end_time.as_deref(), Some("2026-11-25T11:33:59.139Z"));
    }

    #[test]
    fn recomputing_an_unchanged_job_gives_an_equal_status() {
        let first = compute(None, Some(3), &found("RUNNING", -1, None), now());
        let later = Timestamp::from_millisecond(T0 + 600_000).unwrap();
        let second = compute(Some(&first), Some(3), &found("RUNNING", -1, None), later);
        assert_eq!(first, second, "a steady job must not cause a write");
    }

    #[test]
    fn a_transition_moves_only_the_changed_conditions_time() {
        let before = first(&found("RUNNING", -1, None));
        let later = Timestamp::from_millisecond(T0 + 600_000).unwrap();
        let canceled = found("CANCELED", T0 + 500_000, None);
        let second = compute(Some(&before), None, &canceled, later);
        assert_eq!(
            condition(&second, RUNNING).last_transition_time,
            Time(later)
        );
        assert_eq!(
            condition(&second, FOUND).last_transition_time,
            condition(&before, FOUND).last_transition_time
        );
    }

    #[test]
    fn an_unreachable_cluster_keeps_the_last_state_and_says_why() {
        let before = first(&found("RUNNING", -1, None));
        let refused = "failed to connect to http://jm:8081/jobs/overview: Connection refused";
        let down = then(&before, &found("RUNNING", -1, Some(refused)));
        assert_eq!(down.state.as_deref(), Some("RUNNING"));
        let reachable = condition(&down, CLUSTER_REACHABLE);
        assert_eq!(
            (reachable.status.as_str(), reachable.reason.as_str()),
            ("False", "ClusterUnreachable")
        );
        assert!(reachable.message.contains("Connection refused"));

        let lost = then(&before, &not_found(Some("unreachable: timeout")));
        assert_eq!(
            lost.state.as_deref(),
            Some("RUNNING"),
            "never erase what was known"
        );
        assert_eq!(lost.job_id, before.job_id);
        assert_eq!(
            condition(&lost, FOUND).status,
            "True",
            "found is kept while it cannot be known"
        );
        assert_eq!(condition(&lost, CLUSTER_REACHABLE).status, "False");
    }

    #[test]
    fn not_found_keeps_terminal_state_and_says_found_false() {
        let finished = first(&found("FINISHED", T0 + 2293, None));
        let expired = then(&finished, &not_found(None));
        assert_eq!(expired.state.as_deref(), Some("FINISHED"));
        assert_eq!(expired.end_time, finished.end_time);
        let found_condition = condition(&expired, FOUND);
        assert_eq!(
            (
                found_condition.status.as_str(),
                found_condition.reason.as_str()
            ),
            ("False", "JobNotFound")
        );

        let never = first(&not_found(None));
        assert_eq!(never.state, None);
        assert_eq!(condition(&never, FOUND).status, "False");
    }

    #[test]
    fn ambiguous_names_and_missing_clusters_are_explained() {
        let ambiguous = first(&Observed::Ambiguous(vec!["a.x".into(), "b.y".into()]));
        let c = condition(&ambiguous, FOUND);
        assert_eq!(
            (c.status.as_str(), c.reason.as_str()),
            ("False", "Ambiguous")
        );
        assert!(c.message.contains("a.x, b.y") && c.message.contains("spec.cluster"));

        let none = first(&Observed::NoCluster {
            message: "no cluster \"x\" is known".into(),
        });
        assert_eq!(condition(&none, FOUND).reason, "ClusterNotFound");
        assert_eq!(condition(&none, CLUSTER_REACHABLE).status, "False");
    }

    #[test]
    fn failures_keep_the_first_line_of_the_root_exception() {
        let status = first(&failed_with(
            "\norg.apache.flink.runtime.JobException: Recovery is suppressed\n\tat x.y(Z.java:1)",
            T0 + 830,
        ));
        let last = status.last_exception.unwrap();
        assert_eq!(
            last.message,
            "org.apache.flink.runtime.JobException: Recovery is suppressed"
        );
        assert_eq!(last.timestamp.as_deref(), Some("2026-11-25T11:33:57.676Z"));
        let long = RootException {
            root_exception: Some("e".repeat(5000)),
            timestamp: None,
            truncated: true,
        };
        assert_eq!(
            last_exception(&long).unwrap().message.len(),
            MAX_EXCEPTION_CHARS
        );
    }

    #[test]
    fn a_new_job_under_the_same_name_drops_the_old_exception() {
        let before = first(&failed_with("boom", T0));
        let resubmitted = Observed::Found {
            cluster: CLUSTER.into(),
            unreachable: None,
            job: JobFacts {
                jid: "ffff".into(),
                state: "RUNNING".into(),
                start_time: Some(T0 + 1000),
                end_time: Some(-1),
            },
            flink_version: None,
            exception: None,
            health: None,
        };
        let after = then(&before, &resubmitted);
        assert_eq!(after.last_exception, None);
        assert_eq!(
            after.flink_version.as_deref(),
            Some("2.3.0"),
            "a version not re-read is kept"
        );
    }

    /// `found`, with what the health checks say.
    fn with_health(
        mut observed: Observed,
        health: &'static str,
        reason: &str,
        restarts: i64,
    ) -> Observed {
        if let Observed::Found { health: facts, .. } = &mut observed {
            *facts = Some(Box::new(HealthFacts {
                health,
                reason: reason.into(),
                message: format!("{reason}: because"),
                restarts: Some(restarts),
            }));
        }
        observed
    }

    /// A running job whose health checks say `health` for `reason`.
    fn running(health: &'static str, reason: &str, restarts: i64) -> Observed {
        with_health(found("RUNNING", -1, None), health, reason, restarts)
    }

    #[test]
    fn health_and_restarts_are_written_with_a_healthy_condition() {
        let healthy = first(&running("Healthy", "Healthy", 0));
        assert_eq!(healthy.health.as_deref(), Some("Healthy"));
        assert_eq!(healthy.restarts, Some(0));
        let c = condition(&healthy, HEALTHY);
        assert_eq!((c.status.as_str(), c.reason.as_str()), ("True", "Healthy"));

        let degraded = then(&healthy, &running("Degraded", "Restarting", 4));
        let c = condition(&degraded, HEALTHY);
        assert_eq!(
            (c.status.as_str(), c.reason.as_str()),
            ("False", "Restarting")
        );
        assert_eq!(c.message, "Restarting: because");
        assert_eq!(degraded.restarts, Some(4));

        let canceled = found("CANCELED", T0 + 5, None);
        let unknown = first(&with_health(canceled, "Unknown", "Canceled", 0));
        assert_eq!(condition(&unknown, HEALTHY).status, "Unknown");
    }

    #[test]
    fn a_steady_job_healthy_or_not_gives_an_equal_status() {
        for (health, reason) in [("Healthy", "Healthy"), ("Degraded", "CheckpointStalled")] {
            let observed = running(health, reason, 2);
            let first = compute(None, Some(1), &observed, now());
            let later = Timestamp::from_millisecond(T0 + 3_600_000).unwrap();
            assert_eq!(
                compute(Some(&first), Some(1), &observed, later),
                first,
                "{health}"
            );
        }
    }

    #[test]
    fn health_not_known_yet_keeps_what_was_known_for_the_same_job_only() {
        let known = first(&running("Degraded", "Restarting", 9));
        let restarted_monitor = then(&known, &found("RUNNING", -1, None));
        assert_eq!(
            restarted_monitor, known,
            "nothing computed from not known yet is written"
        );

        let never = first(&found("RUNNING", -1, None));
        assert_eq!(never.health, None);
        assert!(never.conditions.iter().all(|c| c.type_ != HEALTHY));

        let mut other = found("RUNNING", -1, None);
        if let Observed::Found { job, .. } = &mut other {
            job.jid = "ffff".into();
        }
        let resubmitted = then(&known, &other);
        assert_eq!(
            resubmitted.restarts, None,
            "another job's restarts are not this one's"
        );
        assert_eq!(resubmitted.health, None);
        assert!(resubmitted.conditions.iter().all(|c| c.type_ != HEALTHY));
    }

    #[test]
    fn a_lost_job_is_unknown_and_an_unreachable_cluster_keeps_the_health() {
        let known = first(&running("Healthy", "Healthy", 0));
        let gone = then(&known, &not_found(None));
        assert_eq!(gone.health.as_deref(), Some("Unknown"));
        assert_eq!(condition(&gone, HEALTHY).reason, "JobNotFound");
        let unasked = then(&known, &not_found(Some("timeout")));
        assert_eq!(unasked.health.as_deref(), Some("Healthy"));
        assert_eq!(condition(&unasked, HEALTHY), condition(&known, HEALTHY));
    }
}
