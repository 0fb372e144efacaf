//! The job metrics a health check asks Flink for, and what their answer says.

use crate::flink::dto::MetricValue;

/// The job metrics one check asks for. `fullRestarts` is `numRestarts` on old versions.
pub const HEALTH_METRICS: &[&str] = &[
    "numRestarts",
    "fullRestarts",
    "numberOfCompletedCheckpoints",
    "numberOfFailedCheckpoints",
    "numberOfInProgressCheckpoints",
    "lastCheckpointCompletedTimestamp",
];

/// What the job metrics answer said; None for what it left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HealthMetrics {
    pub restarts: Option<i64>,
    pub completed: Option<i64>,
    pub failed: Option<i64>,
    pub in_progress: Option<i64>,
    /// Some(None): the metric exists (Flink 2.x) but no checkpoint completed yet.
    pub last_completed: Option<Option<i64>>,
}

impl HealthMetrics {
    pub fn parse(values: &[MetricValue]) -> Self {
        let get = |id: &str| -> Option<i64> {
            let value = values.iter().find(|m| m.id == id)?.value.as_deref()?.trim();
            value.parse::<i64>().ok().or_else(|| {
                value
                    .parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite())
                    .map(|f| f as i64)
            })
        };
        let present = |id: &str| values.iter().any(|m| m.id == id);
        Self {
            restarts: get("numRestarts").or_else(|| get("fullRestarts")),
            completed: get("numberOfCompletedCheckpoints"),
            failed: get("numberOfFailedCheckpoints"),
            in_progress: get("numberOfInProgressCheckpoints"),
            last_completed: present("lastCheckpointCompletedTimestamp")
                .then(|| get("lastCheckpointCompletedTimestamp").filter(|t| *t > 0)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clusters::testing::recorded;

    fn values(json: serde_json::Value) -> Vec<MetricValue> {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn recorded_job_metrics_parse_on_both_versions() {
        let new =
            HealthMetrics::parse(&values(recorded("2.3.0", "job_stream_metrics_values.json")));
        assert_eq!(new.restarts, Some(0));
        assert_eq!(new.completed, Some(4));
        let old = HealthMetrics::parse(&values(recorded(
            "1.20.5",
            "job_stream_metrics_values.json",
        )));
        assert_eq!(old.restarts, Some(0));
        assert_eq!(old.completed, Some(2));
        assert_eq!(
            old.last_completed, None,
            "1.20 has no lastCheckpointCompletedTimestamp"
        );
    }

    #[test]
    fn the_last_completion_time_is_told_apart_from_its_absence() {
        let new = HealthMetrics::parse(&values(serde_json::json!([
            {"id": "fullRestarts", "value": "7"},
            {"id": "lastCheckpointCompletedTimestamp", "value": "-1"},
            {"id": "numberOfFailedCheckpoints", "value": "x"},
        ])));
        assert_eq!(
            new.restarts,
            Some(7),
            "fullRestarts where numRestarts is missing"
        );
        assert_eq!(
            new.last_completed,
            Some(None),
            "present, but none completed"
        );
        assert_eq!(new.failed, None, "not a number");
        let with_time = HealthMetrics::parse(&values(serde_json::json!([
            {"id": "lastCheckpointCompletedTimestamp", "value": "1795606457952"},
        ])));
        assert_eq!(with_time.last_completed, Some(Some(1_795_606_457_952)));
        assert_eq!(HealthMetrics::parse(&[]), HealthMetrics::default());
    }

    #[test]
    fn recorded_health_metrics_of_a_restart_loop_and_a_checkpointing_job() {
        let looping = HealthMetrics::parse(&values(recorded(
            "2.3.0",
            "job_restart_health_metrics.json",
        )));
        assert_eq!(looping.restarts, Some(5));
        assert_eq!(looping.last_completed, Some(None), "-1: none completed");
        let stream =
            HealthMetrics::parse(&values(recorded("2.3.0", "job_stream_health_metrics.json")));
        assert_eq!(stream.completed, Some(2));
        assert_eq!(stream.last_completed, Some(Some(1_796_085_703_191)));
    }
}
