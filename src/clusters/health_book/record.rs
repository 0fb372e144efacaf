//! What the health checks of one job found, and how each of Flink's answers changes it.

use std::borrow::Cow;

use crate::clusters::health_rules::{CheckpointFacts, RestartHistory, Verdict, is_live};
use crate::flink::JOB_STATES;
use crate::flink::dto::{CheckpointConfig, CheckpointStats};

use super::metrics::HealthMetrics;

/// How many more checks an ended job gets while Flink still shows a checkpoint in progress.
const END_RECHECKS: u8 = 3;

/// What the health checks of one job found.
#[derive(Debug, Clone, PartialEq)]
pub struct JobHealthRecord {
    pub jid: String,
    /// The state the job had at its last check: one of Flink's, not copied per job.
    pub state: Cow<'static, str>,
    /// When the job metrics last answered with a restart count (ms).
    pub checked_at: Option<i64>,
    /// The error of the last check, while checks fail.
    pub last_error: Option<String>,
    pub restarts: RestartHistory,
    pub checkpoints: CheckpointFacts,
    /// (completed, failed) when `/jobs/{jid}/checkpoints` was last read.
    stats_read_at: Option<(i64, i64)>,
    /// The check after the job ended was done.
    ended_checked: bool,
    /// Checks after that one, while Flink still showed a checkpoint in progress.
    end_rechecks: u8,
    /// The verdict under the flags' thresholds after the last check, to notice changes.
    last_verdict: Option<Verdict>,
}

impl JobHealthRecord {
    pub(crate) fn new(jid: &str) -> Self {
        Self {
            jid: jid.to_string(),
            state: Cow::Borrowed(""),
            checked_at: None,
            last_error: None,
            restarts: RestartHistory::default(),
            checkpoints: CheckpointFacts::default(),
            stats_read_at: None,
            ended_checked: false,
            end_rechecks: 0,
            last_verdict: None,
        }
    }

    pub fn restarts(&self) -> Option<i64> {
        self.restarts.current()
    }

    /// The job is checked in `state` now.
    pub(crate) fn observe_state(&mut self, state: &str) {
        if self.state != state {
            self.state = match JOB_STATES.iter().find(|known| **known == state) {
                Some(known) => Cow::Borrowed(known),
                None => Cow::Owned(state.to_string()),
            };
        }
        // A job back to RUNNING (after a JobManager failover: SUSPENDED) ends again later.
        let ended = !is_live(state);
        if ended && self.ended_checked {
            self.end_rechecks = self.end_rechecks.saturating_add(1);
        } else if !ended {
            self.end_rechecks = 0;
        }
        self.ended_checked = ended;
    }

    /// The job was live at its last check, so it is checked once more after it ended; and
    /// again, up to [`END_RECHECKS`] times, while that check still found a checkpoint in
    /// progress: Flink fails the pending checkpoint of a cancelled job shortly after the
    /// job ends, and only a later read has the failure's time and message.
    pub(crate) fn awaits_end_check(&self) -> bool {
        if self.ended_checked {
            return self.checkpoints.counts.in_progress > 0 && self.end_rechecks < END_RECHECKS;
        }
        is_live(&self.state)
    }

    /// Keeps `verdict`; true when it differs from the last one.
    pub(crate) fn replace_verdict(&mut self, verdict: Verdict) -> bool {
        let changed = self.last_verdict.as_ref() != Some(&verdict);
        self.last_verdict = Some(verdict);
        changed
    }

    /// The job metrics' answer, taken at `now` (ms).
    pub(crate) fn apply_metrics(&mut self, metrics: &HealthMetrics, now: i64) {
        let facts = &mut self.checkpoints;
        if let Some(completed) = metrics.completed {
            facts.counts.completed = completed;
        }
        if let Some(failed) = metrics.failed {
            facts.counts.failed = failed;
        }
        if let Some(in_progress) = metrics.in_progress {
            facts.counts.in_progress = in_progress;
        }
        if let Some(Some(time)) = metrics.last_completed {
            facts.last_completed_time = Some(time);
        }
        // Flink's metric store can answer [] at first: a check counts once it has a count.
        if let Some(restarts) = metrics.restarts {
            self.restarts.record(now, restarts);
            self.checked_at = Some(now);
        }
    }

    /// `/jobs/{jid}/checkpoints/config`'s answer (None: checkpointing is off).
    pub(crate) fn apply_config(&mut self, config: Option<&CheckpointConfig>) {
        let interval = config.and_then(|c| c.periodic_interval_ms());
        self.checkpoints.enabled = Some(interval.is_some());
        self.checkpoints.interval_ms = interval;
    }

    /// `/jobs/{jid}/checkpoints`'s answer.
    pub(crate) fn apply_stats(&mut self, stats: CheckpointStats) {
        let facts = &mut self.checkpoints;
        facts.counts = stats.counts;
        let latest = stats.latest.unwrap_or_default();
        if let Some(time) = latest
            .completed
            .and_then(|c| c.latest_ack_timestamp)
            .filter(|t| *t > 0)
        {
            facts.last_completed_time = Some(time);
        }
        if let Some(failed) = latest.failed {
            facts.last_failure_time = failed.failure_timestamp.filter(|t| *t > 0);
            facts.last_failure_message = failed.failure_message.map(|m| first_line(&m));
        }
        self.stats_read_at = Some((facts.counts.completed, facts.counts.failed));
    }

    /// `/jobs/{jid}/checkpoints` is read only when it would tell something new: the last
    /// completion time where the metrics lack it (Flink 1.x), a new failure, or, at the
    /// check after the job ended, the final counts: Flink stops updating an ended job's
    /// metrics before its checkpoints end (a cancel fails the pending one, with a time and
    /// a message, while the metrics still say in progress).
    pub(crate) fn needs_stats(&self, metrics: &HealthMetrics) -> bool {
        let facts = &self.checkpoints;
        if facts.enabled != Some(true) {
            return false;
        }
        // Set by `observe_state` when this check is the one after the end.
        if self.ended_checked {
            return true;
        }
        let (read_completed, read_failed) = self.stats_read_at.unwrap_or((0, 0));
        let new_completion = metrics.last_completed.is_none()
            && facts.counts.completed > 0
            && (self.stats_read_at.is_none() || facts.counts.completed != read_completed);
        let new_failure = facts.counts.failed > 0 && facts.counts.failed != read_failed;
        new_completion || new_failure
    }
}

fn first_line(text: &str) -> String {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    line.chars().take(512).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clusters::testing::recorded;

    fn stats(in_progress: i64) -> CheckpointStats {
        serde_json::from_value(serde_json::json!({
            "counts": {"completed": 0, "failed": 1, "in_progress": in_progress}
        }))
        .unwrap()
    }

    #[test]
    fn an_ended_job_is_checked_again_while_a_checkpoint_is_still_in_progress() {
        let mut record = JobHealthRecord::new("j");
        record.observe_state("RUNNING");
        assert!(record.awaits_end_check());
        // The check after the end: Flink has not failed the pending checkpoint yet.
        record.observe_state("CANCELED");
        record.apply_stats(stats(1));
        for _ in 0..END_RECHECKS {
            assert!(record.awaits_end_check());
            record.observe_state("CANCELED");
            record.apply_stats(stats(1));
        }
        // Bounded: a checkpoint Flink never ends does not keep the job checked forever.
        assert!(!record.awaits_end_check());

        let mut settled = JobHealthRecord::new("k");
        settled.observe_state("RUNNING");
        settled.observe_state("CANCELED");
        settled.apply_stats(stats(0));
        assert!(!settled.awaits_end_check());
    }

    #[test]
    fn recorded_checkpoint_statistics_parse_on_both_versions() {
        for (version, completed, ack) in [
            ("2.3.0", 4, 1_795_606_457_952),
            ("1.20.5", 2, 1_795_606_359_647),
        ] {
            let stats: CheckpointStats =
                serde_json::from_value(recorded(version, "job_stream_checkpoints.json")).unwrap();
            assert_eq!(stats.counts.completed, completed, "{version}");
            assert_eq!(stats.counts.in_progress, 0);
            let latest = stats.latest.unwrap();
            assert_eq!(latest.completed.unwrap().latest_ack_timestamp, Some(ack));
            assert!(latest.failed.is_none());
            let never: CheckpointStats =
                serde_json::from_value(recorded(version, "job_fail_checkpoints.json")).unwrap();
            assert_eq!(never.counts.completed, 0);
        }
    }

    #[test]
    fn checkpoint_config_intervals_of_never_mean_off() {
        let parse = |v: serde_json::Value| {
            serde_json::from_value::<CheckpointConfig>(v)
                .unwrap()
                .periodic_interval_ms()
        };
        // Recorded on 2.3.0: the stream kind checkpoints every 10 s; the restart kind does
        // not checkpoint, which Flink says with an interval of Long.MAX_VALUE.
        assert_eq!(
            parse(recorded("2.3.0", "job_stream_checkpoints_config.json")),
            Some(10_000)
        );
        assert_eq!(
            parse(recorded("2.3.0", "job_restart_checkpoints_config.json")),
            None
        );
        assert_eq!(parse(serde_json::json!({"interval": -1})), None);
        assert_eq!(parse(serde_json::json!({})), None);
    }

    #[test]
    fn statistics_are_read_only_when_they_tell_something_new() {
        let mut record = JobHealthRecord::new("j");
        record.checkpoints.enabled = Some(true);
        let v1 = HealthMetrics {
            completed: Some(2),
            ..Default::default()
        };
        record.apply_metrics(&v1, 1);
        assert!(
            record.needs_stats(&v1),
            "1.x: a completion whose time is unknown"
        );
        record.stats_read_at = Some((2, 0));
        assert!(!record.needs_stats(&v1), "nothing new since the last read");
        let more = HealthMetrics {
            completed: Some(3),
            ..Default::default()
        };
        record.apply_metrics(&more, 2);
        assert!(record.needs_stats(&more));
        let v2 = HealthMetrics {
            completed: Some(5),
            last_completed: Some(Some(9)),
            ..Default::default()
        };
        record.apply_metrics(&v2, 3);
        assert!(!record.needs_stats(&v2), "2.x: the metrics carry the time");
        let failing = HealthMetrics {
            failed: Some(1),
            last_completed: Some(None),
            ..Default::default()
        };
        record.apply_metrics(&failing, 4);
        assert!(record.needs_stats(&failing), "a new failure: its message");
        record.checkpoints.enabled = Some(false);
        assert!(!record.needs_stats(&failing));
    }

    #[test]
    fn the_check_after_the_end_reads_the_statistics_as_the_metrics_stand_still() {
        let mut record = JobHealthRecord::new("j");
        record.checkpoints.enabled = Some(true);
        record.observe_state("RUNNING");
        let stale = HealthMetrics {
            failed: Some(1),
            in_progress: Some(1),
            last_completed: Some(None),
            ..Default::default()
        };
        record.apply_metrics(&stale, 1);
        record.stats_read_at = Some((0, 1));
        assert!(!record.needs_stats(&stale), "running: nothing new");
        record.observe_state("CANCELED");
        assert!(
            record.needs_stats(&stale),
            "ended: Flink's metrics of the job stop, its statistics are final"
        );
        // Recorded: a cancel failed the pending checkpoint; the metrics still said 1 and 1.
        let stats = recorded("2.3.0", "job_stall_canceled_checkpoints.json");
        record.apply_stats(serde_json::from_value(stats).unwrap());
        let facts = &record.checkpoints;
        assert_eq!((facts.counts.failed, facts.counts.in_progress), (2, 0));
        assert_eq!(facts.last_failure_time, Some(1_796_517_351_179));
        assert_eq!(
            facts.last_failure_message.as_deref(),
            Some("Checkpoint Coordinator is suspending.")
        );
        record.checkpoints.enabled = Some(false);
        assert!(
            !record.needs_stats(&stale),
            "no checkpoints, nothing to read"
        );
    }

    #[test]
    fn a_failure_flink_counted_but_did_not_record_has_no_time() {
        for version in ["2.3.0", "1.20.5"] {
            let mut record = JobHealthRecord::new("j");
            let stats = recorded(version, "job_stall_checkpoints.json");
            record.apply_stats(serde_json::from_value(stats).unwrap());
            let facts = &record.checkpoints;
            assert_eq!(
                (facts.counts.failed, facts.counts.in_progress),
                (1, 1),
                "{version}"
            );
            assert_eq!(facts.last_failure_time, None, "{version}");
            assert_eq!(facts.last_failure_message, None, "{version}");
        }
    }
}
