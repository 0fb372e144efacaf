//! Flink REST response bodies. Flink adds and removes fields between versions (2.0 removed
//! `root-exception`, 2.3 added `jobType`, ...), so everything but the ids is optional and
//! unknown fields are ignored.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use super::task_counts::TaskCounts;

/// `GET /jobs/overview`
#[derive(Debug, Clone, Deserialize)]
pub struct JobsOverview {
    #[serde(default)]
    pub jobs: Vec<JobOverview>,
}

/// One job of `GET /jobs/overview`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct JobOverview {
    pub jid: String,
    #[serde(default)]
    pub name: String,
    pub state: Option<String>,
    pub start_time: Option<i64>,
    pub end_time: Option<i64>,
    pub duration: Option<i64>,
    /// Task counts by state; passed through untouched (the keys differ between versions).
    pub tasks: Option<TaskCounts>,
}

impl JobOverview {
    pub fn state(&self) -> &str {
        self.state.as_deref().unwrap_or("UNKNOWN")
    }

    /// Start and end (ms) as the monitoring API and the page show them: -1 where Flink did
    /// not say, as Flink itself writes the end of a job that still runs.
    pub fn start_and_end(&self) -> (i64, i64) {
        (self.start_time.unwrap_or(-1), self.end_time.unwrap_or(-1))
    }
}

/// `GET /jobs/{jid}`: its vertices. The job's state and times are read from the overview,
/// which Flink updates at once (this answer is cached for a few seconds).
#[derive(Debug, Clone, Deserialize)]
pub struct JobDetails {
    pub jid: String,
    #[serde(default)]
    pub vertices: Vec<VertexDetails>,
}

/// One vertex of `GET /jobs/{jid}`, in Flink's topological order (sources first).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct VertexDetails {
    pub id: String,
    pub name: Option<String>,
    pub parallelism: Option<i64>,
    pub status: Option<String>,
    pub start_time: Option<i64>,
    pub duration: Option<i64>,
    /// Flink's vertex metrics object (`read-records`, `write-records`, ...), final once the
    /// job ended, unlike the metric store.
    pub metrics: Option<Map<String, Value>>,
}

impl VertexDetails {
    /// An integer counter of the vertex metrics object, e.g. `write-records`.
    pub fn counter(&self, key: &str) -> Option<i64> {
        let value = self.metrics.as_ref()?.get(key)?;
        value.as_i64().or_else(|| value.as_f64().map(|f| f as i64))
    }
}

/// `GET /jobs/{jid}/exceptions`, both the 1.x and the 2.x shape.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct JobExceptions {
    #[serde(rename = "root-exception")]
    pub root_exception: Option<String>,
    pub timestamp: Option<i64>,
    pub truncated: Option<bool>,
    #[serde(rename = "exceptionHistory")]
    pub exception_history: Option<ExceptionHistory>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ExceptionHistory {
    pub entries: Vec<ExceptionHistoryEntry>,
    pub truncated: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ExceptionHistoryEntry {
    pub stacktrace: Option<String>,
    pub timestamp: Option<i64>,
}

/// An entry of `GET .../metrics` (names only) or `GET .../metrics?get=...` (with values,
/// which Flink sends as strings).
#[derive(Debug, Clone, Deserialize)]
pub struct MetricValue {
    pub id: String,
    pub value: Option<String>,
}

/// An entry of `GET .../subtasks/metrics?get=...&agg=sum,max` (numbers, not strings).
#[derive(Debug, Clone, Deserialize)]
pub struct AggregatedMetric {
    pub id: String,
    pub sum: Option<f64>,
    pub max: Option<f64>,
}

/// `GET /config`
#[derive(Debug, Clone, Deserialize)]
pub struct DashboardConfig {
    #[serde(rename = "flink-version")]
    pub flink_version: Option<String>,
}

/// `POST /jobs/{jid}/stop` answer.
#[derive(Debug, Clone, Deserialize)]
pub struct TriggerResponse {
    #[serde(rename = "request-id")]
    pub request_id: String,
}

/// Flink's error body: `{"errors": ["..."]}`; 500s carry `["Internal server error.", "..."]`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ErrorBody {
    #[serde(default)]
    pub errors: Vec<String>,
}

impl ErrorBody {
    /// The first line of each error, joined: Flink sends whole Java stack traces.
    pub fn summary(&self) -> String {
        let lines: Vec<&str> = self
            .errors
            .iter()
            .filter_map(|e| e.lines().next())
            .filter(|l| !l.trim().is_empty())
            .collect();
        lines.join("; ")
    }
}

/// `GET /jobs/{jid}/checkpoints`: the counts and the latest completed and failed ones.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct CheckpointStats {
    pub counts: CheckpointCounts,
    pub latest: Option<LatestCheckpoints>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct CheckpointCounts {
    pub completed: i64,
    pub failed: i64,
    pub in_progress: i64,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct LatestCheckpoints {
    pub completed: Option<CompletedCheckpoint>,
    pub failed: Option<FailedCheckpoint>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct CompletedCheckpoint {
    pub latest_ack_timestamp: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct FailedCheckpoint {
    pub failure_timestamp: Option<i64>,
    pub failure_message: Option<String>,
}

/// `GET /jobs/{jid}/checkpoints/config`. Flink reports periodic checkpointing that is off
/// as an interval of `Long.MAX_VALUE`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CheckpointConfig {
    pub interval: Option<i64>,
}

impl CheckpointConfig {
    /// The interval in ms when periodic checkpoints are on.
    pub fn periodic_interval_ms(&self) -> Option<i64> {
        // Anything beyond a year is Flink's "never".
        const YEAR_MS: i64 = 365 * 24 * 3600 * 1000;
        self.interval.filter(|i| *i > 0 && *i < YEAR_MS)
    }
}
