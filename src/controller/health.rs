//! A FlinkJob's health: the cluster's health checks judged by the job's own thresholds
//! (`spec.health`, else the flags).

use std::time::Duration;

use crate::clusters::health::judge_under;
use crate::clusters::health_rules::{Health, Reason, RestartHistory, Thresholds, explain};
use crate::clusters::{Cluster, ClusterStatus};
use crate::crd::HealthSpec;
use crate::flink::dto::JobOverview;

use super::status::{HEALTHY, HealthFacts};
use crate::crd::FlinkJobStatus;

/// The flags' thresholds with the FlinkJob's overrides; a bad override is an error that
/// says which field and what to write instead.
pub fn thresholds(flags: &Thresholds, spec: Option<&HealthSpec>) -> Result<Thresholds, String> {
    let Some(spec) = spec else {
        return Ok(*flags);
    };
    let mut thresholds = *flags;
    if let Some(text) = &spec.max_checkpoint_age {
        thresholds.max_checkpoint_age = Some(positive("maxCheckpointAge", text, "5m")?);
    }
    if let Some(window) = &spec.restart_window {
        let window = positive("restartWindow", window, "10m")?;
        if window > RestartHistory::KEEP {
            return Err(format!(
                "spec.health.restartWindow {}: at most {} of restarts are kept; use a shorter window",
                humantime::format_duration(window),
                humantime::format_duration(RestartHistory::KEEP)
            ));
        }
        thresholds.restart_window = window;
    }
    if let Some(threshold) = spec.restart_threshold {
        if threshold == 0 {
            return Err("spec.health.restartThreshold must be at least 1".into());
        }
        thresholds.restart_threshold = threshold;
    }
    Ok(thresholds)
}

fn positive(field: &str, text: &str, example: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err(format!(
            "spec.health.{field} must be greater than zero, e.g. {example}"
        )),
        Err(e) => Err(format!(
            "spec.health.{field} {text:?} is not a duration ({e}); write e.g. {example}"
        )),
    }
}

/// The health facts of a found job; None while not known yet (running, not checked, or a
/// restart loop this process has not watched for a whole window yet).
pub fn facts(
    cluster: &Cluster,
    status: &ClusterStatus,
    job: &JobOverview,
    spec: Option<&HealthSpec>,
    previous: Option<&FlinkJobStatus>,
    now_ms: i64,
) -> Option<HealthFacts> {
    let flags = cluster.health().settings().thresholds;
    let thresholds = match thresholds(&flags, spec) {
        Ok(thresholds) => thresholds,
        Err(message) => {
            return Some(HealthFacts {
                health: Health::Unknown.as_str(),
                reason: "InvalidHealthSpec".into(),
                message,
                restarts: cluster.health().get(&job.jid).and_then(|r| r.restarts()),
            });
        }
    };
    let (verdict, record) = judge_under(cluster, status, job, &thresholds, now_ms);
    if verdict.reasons == [Reason::NotChecked] {
        return None;
    }
    if !verdict.reasons.contains(&Reason::Restarting)
        && record.as_deref().is_some_and(|record| {
            restart_loop_not_over(previous, &record.restarts, &thresholds, now_ms)
        })
    {
        return None;
    }
    let interval = record.as_ref().and_then(|r| r.checkpoints.interval_ms);
    Some(HealthFacts {
        health: verdict.health.as_str(),
        reason: verdict
            .reasons
            .first()
            .map(|r| r.as_str())
            .unwrap_or("Healthy")
            .to_string(),
        message: explain(&verdict, &thresholds, interval),
        restarts: record.and_then(|r| r.restarts()),
    })
}

/// The status says Degraded for restarts, Flink counts no new one since, and this process
/// has not seen a whole window of counts (it started since): the restarts that made the job
/// Degraded may still be within the window, which is over at the latest one window after
/// the condition turned False. Until then the status stands, so a restart of flink-monitor
/// does not turn a restart loop Healthy.
fn restart_loop_not_over(
    previous: Option<&FlinkJobStatus>,
    restarts: &RestartHistory,
    thresholds: &Thresholds,
    now_ms: i64,
) -> bool {
    let Some(previous) = previous else {
        return false;
    };
    let Some(condition) = previous.conditions.iter().find(|c| c.type_ == HEALTHY) else {
        return false;
    };
    let window_ms = thresholds.restart_window.as_millis().min(i64::MAX as u128) as i64;
    let degraded_at = condition.last_transition_time.0.as_millisecond();
    condition.status == "False"
        && condition.reason == Reason::Restarting.as_str()
        && previous.restarts.is_some()
        && previous.restarts == restarts.current()
        && restarts
            .first_seen()
            .is_some_and(|first| first > now_ms.saturating_sub(window_ms))
        && now_ms < degraded_at.saturating_add(window_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_replace_the_flags_one_by_one_and_bad_ones_say_what_to_write() {
        let flags = Thresholds::default();
        assert_eq!(thresholds(&flags, None), Ok(flags));
        let spec = HealthSpec {
            max_checkpoint_age: Some("5m".into()),
            restart_threshold: None,
            restart_window: Some("1h".into()),
        };
        let t = thresholds(&flags, Some(&spec)).unwrap();
        assert_eq!(t.max_checkpoint_age, Some(Duration::from_secs(300)));
        assert_eq!(t.restart_window, Duration::from_secs(3600));
        assert_eq!(t.restart_threshold, flags.restart_threshold);

        let bad = HealthSpec {
            max_checkpoint_age: Some("five minutes".into()),
            ..Default::default()
        };
        let error = thresholds(&flags, Some(&bad)).unwrap_err();
        assert!(
            error.contains("spec.health.maxCheckpointAge") && error.contains("5m"),
            "{error}"
        );
        let zero = HealthSpec {
            restart_threshold: Some(0),
            ..Default::default()
        };
        assert!(thresholds(&flags, Some(&zero)).is_err());
        let long = HealthSpec {
            restart_window: Some("2d".into()),
            ..Default::default()
        };
        assert!(
            thresholds(&flags, Some(&long))
                .unwrap_err()
                .contains("at most 1day")
        );
    }

    #[test]
    fn a_restart_loop_stays_degraded_until_its_window_is_over() {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
        use k8s_openapi::jiff::Timestamp;
        let minute = 60_000;
        let degraded_at = 1_800_000_000_000i64;
        let previous = FlinkJobStatus {
            restarts: Some(4),
            conditions: vec![Condition {
                type_: HEALTHY.into(),
                status: "False".into(),
                reason: "Restarting".into(),
                message: String::new(),
                last_transition_time: Time(Timestamp::from_millisecond(degraded_at).unwrap()),
                observed_generation: None,
            }],
            ..FlinkJobStatus::default()
        };
        let thresholds = Thresholds::default(); // 10 minute window
        let seen_since = |first: i64, count: i64| {
            let mut history = RestartHistory::default();
            history.record(first, count);
            history
        };
        let now = degraded_at + 2 * minute;
        let late = degraded_at + 11 * minute;
        // (first count seen at, the count, now, the loop is not over)
        for (first, count, at, not_over) in [
            // Restarted 1 minute ago, has seen 4 since: not known whether they are old.
            (now - minute, 4, now, true),
            // The window since the condition turned False is over: judged afresh.
            (late - minute, 4, late, false),
            // Watched for a whole window: its own counts decide.
            (now - 11 * minute, 4, now, false),
            // Another count than the status had: no longer the same story.
            (now - minute, 5, now, false),
        ] {
            let history = seen_since(first, count);
            assert_eq!(
                restart_loop_not_over(Some(&previous), &history, &thresholds, at),
                not_over,
                "first seen {first} with {count}, at {at}"
            );
        }
        let history = seen_since(now - minute, 5);
        assert!(!restart_loop_not_over(None, &history, &thresholds, now));
    }
}
