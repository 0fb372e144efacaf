//! The health rules of the contract ("Job health"): pure functions of a job's state, what
//! the last health checks saw, the thresholds and the time. No IO, so every rule is tested.

use std::collections::VecDeque;
use std::time::Duration;

use crate::flink::dto::CheckpointCounts;

/// `Healthy|Degraded|Unknown`, as the API, the FlinkJob status and /metrics show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Healthy,
    Degraded,
    Unknown,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Healthy => "Healthy",
            Health::Degraded => "Degraded",
            Health::Unknown => "Unknown",
        }
    }
}

/// Why a job is Degraded (the first three) or Unknown (the rest).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// FAILED or FAILING.
    Failed,
    /// RESTARTING now, or at least `restartThreshold` restarts within `restartWindow`.
    Restarting,
    /// Checkpointing is on and no checkpoint completed within `maxCheckpointAge`.
    CheckpointStalled,
    /// Not running yet (INITIALIZING, CREATED, ...), or suspended.
    NotRunning,
    /// CANCELED or CANCELLING.
    Canceled,
    /// Running, but no health check has answered yet.
    NotChecked,
    /// Health checks are off (`--health-interval 0s`).
    ChecksDisabled,
    /// The cluster cannot be asked now.
    ClusterUnreachable,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Failed => "Failed",
            Reason::Restarting => "Restarting",
            Reason::CheckpointStalled => "CheckpointStalled",
            Reason::NotRunning => "NotRunning",
            Reason::Canceled => "Canceled",
            Reason::NotChecked => "NotChecked",
            Reason::ChecksDisabled => "ChecksDisabled",
            Reason::ClusterUnreachable => "ClusterUnreachable",
        }
    }
}

/// The limits a job is judged by: the flags, or a FlinkJob's `spec.health` overrides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// Restarts within `restart_window` that make a job Degraded (at least 1).
    pub restart_threshold: u32,
    pub restart_window: Duration,
    /// None: 3 x the job's checkpoint interval, at least [`MIN_DEFAULT_CHECKPOINT_AGE`].
    pub max_checkpoint_age: Option<Duration>,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            restart_threshold: 3,
            restart_window: Duration::from_secs(600),
            max_checkpoint_age: None,
        }
    }
}

/// The floor of the default checkpoint age limit (3 x the interval).
pub const MIN_DEFAULT_CHECKPOINT_AGE: Duration = Duration::from_secs(60);

impl Thresholds {
    /// The age beyond which a job's checkpoints count as stalled, if it can be known.
    pub fn checkpoint_age_limit(&self, interval_ms: Option<i64>) -> Option<Duration> {
        self.max_checkpoint_age.or_else(|| {
            let interval = Duration::from_millis(u64::try_from(interval_ms?).ok()?);
            Some(interval.saturating_mul(3).max(MIN_DEFAULT_CHECKPOINT_AGE))
        })
    }
}

/// What the checkpoint statistics of a job said at its last check.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckpointFacts {
    /// None until `/jobs/{jid}/checkpoints/config` answered.
    pub enabled: Option<bool>,
    pub interval_ms: Option<i64>,
    /// As `/jobs/{jid}/checkpoints` counts them, or the job metrics of the same name.
    pub counts: CheckpointCounts,
    pub last_completed_time: Option<i64>,
    /// The last failure Flink recorded (`latest.failed`). A checkpoint that could not be
    /// triggered is counted in `counts.failed` but never recorded: Flink has no time for it.
    pub last_failure_time: Option<i64>,
    pub last_failure_message: Option<String>,
}

/// Restart counts seen over time, kept only where the count changed, so a steady job
/// holds one entry. Enough to answer "how many restarts within any window up to
/// [`RestartHistory::KEEP`]".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestartHistory {
    /// (time in ms, numRestarts from then on), oldest first.
    points: VecDeque<(i64, i64)>,
}

impl RestartHistory {
    /// How far back counts are kept: the longest window a restart threshold can use.
    pub const KEEP: Duration = Duration::from_secs(24 * 3600);
    /// A job restarting on every check keeps at most this many points.
    pub const MAX_POINTS: usize = 4096;

    pub fn record(&mut self, now_ms: i64, count: i64) {
        if self.points.back().map(|(_, c)| *c) != Some(count) {
            self.points.push_back((now_ms, count));
        }
        let horizon = now_ms.saturating_sub(Self::KEEP.as_millis() as i64);
        // Keep the last point at or before the horizon: it is the count at the horizon.
        while self.points.len() > 1 && self.points[1].0 <= horizon {
            self.points.pop_front();
        }
        while self.points.len() > Self::MAX_POINTS {
            self.points.pop_front();
        }
    }

    pub fn current(&self) -> Option<i64> {
        self.points.back().map(|(_, c)| *c)
    }

    /// When the oldest count kept was seen: what happened before is not known here.
    pub fn first_seen(&self) -> Option<i64> {
        self.points.front().map(|(t, _)| *t)
    }

    /// Restarts within `window` before `now_ms`. A job that started within the window
    /// counts from 0; otherwise from the count at the window's start, or, when the window
    /// starts before the first check, from the first count seen (the rest is not known).
    pub fn within(&self, window: Duration, now_ms: i64, job_start_ms: Option<i64>) -> i64 {
        let Some(current) = self.current() else {
            return 0;
        };
        let window_start = now_ms.saturating_sub(window.as_millis().min(i64::MAX as u128) as i64);
        let baseline = if job_start_ms.is_some_and(|start| start > 0 && start >= window_start) {
            0
        } else {
            self.points
                .iter()
                .rev()
                .find(|(t, _)| *t <= window_start)
                .or(self.points.front())
                .map(|(_, c)| *c)
                .unwrap_or(current)
        };
        current.saturating_sub(baseline).max(0)
    }
}

/// Whether a job in `state` is checked: it runs, or restarts to run again.
pub fn is_live(state: &str) -> bool {
    matches!(state, "RUNNING" | "RESTARTING")
}

/// What is known about a job for judging it.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    /// Flink's job state from the last poll.
    pub state: &'a str,
    pub start_time: Option<i64>,
    /// False when the cluster cannot be asked now.
    pub reachable: bool,
    pub checks_enabled: bool,
    /// None until a health check of this job answered.
    pub checked: Option<Checked<'a>>,
    pub now_ms: i64,
}

/// The results of the health checks of one job.
#[derive(Debug, Clone, Copy)]
pub struct Checked<'a> {
    pub restarts: &'a RestartHistory,
    pub checkpoints: &'a CheckpointFacts,
}

/// The verdict: health and every reason for it, Degraded reasons first in a fixed order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub health: Health,
    pub reasons: Vec<Reason>,
}

/// The contract's rules.
pub fn evaluate(inputs: &Inputs<'_>, thresholds: &Thresholds) -> Verdict {
    if !inputs.reachable {
        return unknown(Reason::ClusterUnreachable);
    }
    let mut reasons = Vec::new();
    if matches!(inputs.state, "FAILED" | "FAILING") {
        reasons.push(Reason::Failed);
    }
    if inputs.state == "RESTARTING" || restarts_over_threshold(inputs, thresholds) {
        reasons.push(Reason::Restarting);
    }
    if checkpoints_stalled(inputs, thresholds) {
        reasons.push(Reason::CheckpointStalled);
    }
    if !reasons.is_empty() {
        return Verdict {
            health: Health::Degraded,
            reasons,
        };
    }
    match inputs.state {
        "FINISHED" => healthy(),
        "RUNNING" if !inputs.checks_enabled => unknown(Reason::ChecksDisabled),
        "RUNNING" if inputs.checked.is_none() => unknown(Reason::NotChecked),
        "RUNNING" => healthy(),
        "CANCELED" | "CANCELLING" => unknown(Reason::Canceled),
        _ => unknown(Reason::NotRunning),
    }
}

/// Restarts within the window, by the same counting as the Restarting rule.
pub fn restarts_within(inputs: &Inputs<'_>, thresholds: &Thresholds) -> Option<i64> {
    let checked = inputs.checked?;
    checked.restarts.current()?;
    Some(
        checked
            .restarts
            .within(thresholds.restart_window, inputs.now_ms, inputs.start_time),
    )
}

fn restarts_over_threshold(inputs: &Inputs<'_>, thresholds: &Thresholds) -> bool {
    restarts_within(inputs, thresholds)
        .is_some_and(|n| n >= i64::from(thresholds.restart_threshold.max(1)))
}

/// Only live jobs can stall; a job that never completed one counts from its start.
fn checkpoints_stalled(inputs: &Inputs<'_>, thresholds: &Thresholds) -> bool {
    if !is_live(inputs.state) {
        return false;
    }
    let Some(checked) = inputs.checked else {
        return false;
    };
    let facts = checked.checkpoints;
    if facts.enabled != Some(true) {
        return false;
    }
    let Some(limit) = thresholds.checkpoint_age_limit(facts.interval_ms) else {
        return false;
    };
    let since = match facts.last_completed_time {
        Some(time) => time,
        // Completed ones exist but their time is not read yet (Flink 1.x): not judged.
        None if facts.counts.completed > 0 => return false,
        None => match inputs.start_time.filter(|t| *t > 0) {
            Some(start) => start,
            None => return false,
        },
    };
    let age_ms = inputs.now_ms.saturating_sub(since);
    age_ms > limit.as_millis().min(i64::MAX as u128) as i64
}

/// Age of the last completed checkpoint in ms, if one ever completed.
pub fn checkpoint_age_ms(facts: &CheckpointFacts, now_ms: i64) -> Option<i64> {
    facts
        .last_completed_time
        .map(|t| now_ms.saturating_sub(t).max(0))
}

fn healthy() -> Verdict {
    Verdict {
        health: Health::Healthy,
        reasons: Vec::new(),
    }
}

fn unknown(reason: Reason) -> Verdict {
    Verdict {
        health: Health::Unknown,
        reasons: vec![reason],
    }
}

/// One line per reason, for the `Healthy` condition's message. Only thresholds, never
/// counts or ages that move while the verdict stays, so a steady job is not rewritten.
pub fn explain(verdict: &Verdict, thresholds: &Thresholds, interval_ms: Option<i64>) -> String {
    if verdict.health == Health::Healthy {
        return "the job runs, restarts and checkpoints within their limits".into();
    }
    let lines: Vec<String> = verdict
        .reasons
        .iter()
        .map(|reason| match reason {
            Reason::Failed => "Failed: the job failed or is failing".to_string(),
            Reason::Restarting => format!(
                "Restarting: the job is restarting or restarted at least {} times within {}",
                thresholds.restart_threshold,
                humantime::format_duration(thresholds.restart_window)
            ),
            Reason::CheckpointStalled => {
                let limit = thresholds
                    .checkpoint_age_limit(interval_ms)
                    .map(|d| humantime::format_duration(d).to_string())
                    .unwrap_or_else(|| "the limit".into());
                format!("CheckpointStalled: no checkpoint completed within {limit}")
            }
            Reason::NotRunning => "NotRunning: the job is not running".to_string(),
            Reason::Canceled => "Canceled: the job was canceled".to_string(),
            Reason::NotChecked => "NotChecked: no health check has answered yet".to_string(),
            Reason::ChecksDisabled => {
                "ChecksDisabled: health checks are off (--health-interval 0s)".to_string()
            }
            Reason::ClusterUnreachable => {
                "ClusterUnreachable: the cluster cannot be asked".to_string()
            }
        })
        .collect();
    lines.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_795_606_436_846;
    const MIN: i64 = 60_000;

    fn history(points: &[(i64, i64)]) -> RestartHistory {
        let mut h = RestartHistory::default();
        for (t, c) in points {
            h.record(*t, *c);
        }
        h
    }

    fn checkpoints(enabled: bool, interval_ms: i64, last: Option<i64>) -> CheckpointFacts {
        CheckpointFacts {
            enabled: Some(enabled),
            interval_ms: Some(interval_ms),
            counts: CheckpointCounts {
                completed: i64::from(last.is_some()),
                ..Default::default()
            },
            last_completed_time: last,
            ..Default::default()
        }
    }

    fn degraded(reasons: &[Reason]) -> Verdict {
        Verdict {
            health: Health::Degraded,
            reasons: reasons.to_vec(),
        }
    }

    fn judge(
        state: &str,
        restarts: &RestartHistory,
        cps: &CheckpointFacts,
        now: i64,
        thresholds: &Thresholds,
    ) -> Verdict {
        evaluate(
            &Inputs {
                state,
                start_time: Some(T0),
                reachable: true,
                checks_enabled: true,
                checked: Some(Checked {
                    restarts,
                    checkpoints: cps,
                }),
                now_ms: now,
            },
            thresholds,
        )
    }

    #[test]
    fn a_running_job_with_fresh_checkpoints_and_no_restarts_is_healthy() {
        let v = judge(
            "RUNNING",
            &history(&[(T0 + MIN, 0)]),
            &checkpoints(true, 10_000, Some(T0 + 50 * MIN)),
            T0 + 50 * MIN + 5_000,
            &Thresholds::default(),
        );
        assert_eq!(v, healthy());
    }

    #[test]
    fn failed_and_failing_are_degraded_without_a_check() {
        for state in ["FAILED", "FAILING"] {
            let v = evaluate(
                &Inputs {
                    state,
                    start_time: Some(T0),
                    reachable: true,
                    checks_enabled: false,
                    checked: None,
                    now_ms: T0,
                },
                &Thresholds::default(),
            );
            assert_eq!(v.health, Health::Degraded, "{state}");
            assert_eq!(v.reasons, vec![Reason::Failed]);
        }
    }

    #[test]
    fn restarting_now_or_too_often_within_the_window_is_degraded() {
        let t = Thresholds::default();
        let strict = Thresholds {
            restart_threshold: 1,
            ..t
        };
        let none = history(&[(T0 + MIN, 0)]);
        // Started long ago; 3 restarts in the last 10 minutes.
        let loop_ = history(&[(T0 + 60 * MIN, 5), (T0 + 65 * MIN, 7), (T0 + 68 * MIN, 8)]);
        // First seen with 4 restarts, 2 minutes after its start.
        let young = history(&[(T0 + 2 * MIN, 4)]);
        // Started an hour before the monitor first saw it with 40 restarts.
        let old = history(&[(T0 + 60 * MIN, 40)]);
        assert_eq!(
            old.within(Duration::from_secs(600), T0 + 61 * MIN, Some(T0)),
            0
        );
        let off = CheckpointFacts::default();
        let restarting = || degraded(&[Reason::Restarting]);
        // (state, restarts seen, now, thresholds, verdict)
        for (state, restarts, now, thresholds, verdict) in [
            ("RESTARTING", &none, T0 + 2 * MIN, &t, restarting()),
            ("RUNNING", &loop_, T0 + 70 * MIN, &t, restarting()),
            // Two within the window is under the threshold.
            ("RUNNING", &loop_, T0 + 76 * MIN, &t, healthy()),
            // Once the window moved past them, the job is healthy again.
            ("RUNNING", &loop_, T0 + 80 * MIN, &t, healthy()),
            // Two are enough for a threshold of one.
            ("RUNNING", &loop_, T0 + 76 * MIN, &strict, restarting()),
            // A job started within the window counts its restarts from zero.
            ("RUNNING", &young, T0 + 3 * MIN, &t, restarting()),
            // Restarts before the first check of an old job are not guessed.
            ("RUNNING", &old, T0 + 61 * MIN, &t, healthy()),
        ] {
            let judged = judge(state, restarts, &off, now, thresholds);
            assert_eq!(judged, verdict, "{state} at T0 + {} min", (now - T0) / MIN);
        }
    }

    #[test]
    fn no_checkpoint_within_the_limit_is_stalled_counted_from_the_start_if_none_ever() {
        let h = history(&[(T0, 0)]);
        let t = Thresholds::default();
        let explicit = Thresholds {
            max_checkpoint_age: Some(Duration::from_secs(5 * 60)),
            ..t
        };
        // 2 s interval: the default limit is the 1 minute floor.
        let never = checkpoints(true, 2_000, None);
        // 10 minute interval: 3 x the interval.
        let slow = checkpoints(true, 10 * MIN, Some(T0));
        let stalled = || degraded(&[Reason::CheckpointStalled]);
        // (checkpoints, now, thresholds, verdict)
        for (checkpoints, now, thresholds, verdict) in [
            (&never, T0 + 59_000, &t, healthy()),
            (&never, T0 + 61_000, &t, stalled()),
            (&slow, T0 + 29 * MIN, &t, healthy()),
            (&slow, T0 + 31 * MIN, &t, stalled()),
            // An explicit limit wins over the interval.
            (&slow, T0 + 6 * MIN, &explicit, stalled()),
        ] {
            let judged = judge("RUNNING", &h, checkpoints, now, thresholds);
            assert_eq!(
                judged,
                verdict,
                "{checkpoints:?} at T0 + {} s",
                (now - T0) / 1000
            );
        }
    }

    #[test]
    fn checkpoints_off_or_not_yet_known_never_stall() {
        let h = history(&[(T0, 0)]);
        let t = Thresholds::default();
        let late = T0 + 600 * MIN;
        assert_eq!(
            judge("RUNNING", &h, &checkpoints(false, 0, None), late, &t).health,
            Health::Healthy
        );
        assert_eq!(
            judge("RUNNING", &h, &CheckpointFacts::default(), late, &t).health,
            Health::Healthy,
            "the config was not read yet"
        );
        let mut time_unknown = checkpoints(true, 2_000, None);
        time_unknown.counts.completed = 3;
        assert_eq!(
            judge("RUNNING", &h, &time_unknown, late, &t).health,
            Health::Healthy,
            "completed ones exist but their time is not read yet (1.x)"
        );
    }

    #[test]
    fn every_reason_is_listed_in_order() {
        let h = history(&[(T0, 0), (T0 + MIN, 3)]);
        let v = judge(
            "RESTARTING",
            &h,
            &checkpoints(true, 2_000, None),
            T0 + 2 * MIN,
            &Thresholds::default(),
        );
        assert_eq!(v.health, Health::Degraded);
        assert_eq!(
            v.reasons,
            vec![Reason::Restarting, Reason::CheckpointStalled]
        );
        let message = explain(&v, &Thresholds::default(), Some(2_000));
        assert_eq!(
            message,
            "Restarting: the job is restarting or restarted at least 3 times within 10m; \
             CheckpointStalled: no checkpoint completed within 1m"
        );
    }

    #[test]
    fn the_other_states_are_unknown_with_a_reason_or_healthy_when_finished() {
        let base = Inputs {
            state: "RUNNING",
            start_time: Some(T0),
            reachable: true,
            checks_enabled: true,
            checked: None,
            now_ms: T0,
        };
        let t = Thresholds::default();
        let case = |state, reachable, enabled| {
            evaluate(
                &Inputs {
                    state,
                    reachable,
                    checks_enabled: enabled,
                    ..base
                },
                &t,
            )
        };
        assert_eq!(case("RUNNING", true, true), unknown(Reason::NotChecked));
        assert_eq!(
            case("RUNNING", true, false),
            unknown(Reason::ChecksDisabled)
        );
        assert_eq!(
            case("RUNNING", false, true),
            unknown(Reason::ClusterUnreachable)
        );
        assert_eq!(
            case("FAILED", false, true),
            unknown(Reason::ClusterUnreachable)
        );
        assert_eq!(case("FINISHED", true, true), healthy());
        assert_eq!(case("CANCELED", true, true), unknown(Reason::Canceled));
        assert_eq!(case("CANCELLING", true, true), unknown(Reason::Canceled));
        for state in [
            "INITIALIZING",
            "CREATED",
            "SUSPENDED",
            "RECONCILING",
            "WEIRD",
        ] {
            assert_eq!(
                case(state, true, true),
                unknown(Reason::NotRunning),
                "{state}"
            );
        }
    }

    #[test]
    fn history_keeps_only_changes_and_a_bounded_past() {
        let mut h = RestartHistory::default();
        for i in 0..100 {
            h.record(T0 + i * 30_000, 2);
        }
        assert_eq!(h.points.len(), 1, "a steady job keeps one point");
        h.record(T0 + 200 * MIN, 3);
        let day = RestartHistory::KEEP.as_millis() as i64;
        h.record(T0 + 200 * MIN + day + 1, 4);
        assert_eq!(
            h.points.iter().map(|(_, c)| *c).collect::<Vec<_>>(),
            vec![3, 4],
            "the count at the horizon stays, older ones go"
        );
        let mut busy = RestartHistory::default();
        for i in 0..(RestartHistory::MAX_POINTS as i64 + 10) {
            busy.record(T0 + i, i);
        }
        assert_eq!(busy.points.len(), RestartHistory::MAX_POINTS);
    }
}
