//! The three metrics of `statusAndMetrics`, computed from Flink's metric answers.

use futures::future::try_join_all;

use crate::flink::dto::{AggregatedMetric, JobDetails, MetricValue};
use crate::flink::{FlinkClient, FlinkError};

/// Metric values are strings, as Flink (and TSP) send them; a missing metric is `"0"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobMetrics {
    pub num_records_read: String,
    pub current_event_ts: String,
    pub num_records_processed: String,
}

/// Operator gauges named `<subtask>.<operator>.currentEventTs`.
const EVENT_TS_SUFFIX: &str = ".currentEventTs";
/// Names per `?get=` request, to keep URLs short for wide jobs.
const NAMES_PER_REQUEST: usize = 50;

/// Reads the metrics of a job whose details are known. A terminal job's metric store is
/// stale, so its counts come from the final per-vertex counters of `GET /jobs/{jid}`.
pub async fn fetch(
    client: &FlinkClient,
    details: &JobDetails,
    terminal: bool,
) -> Result<JobMetrics, FlinkError> {
    let (Some(source), Some(sink)) = (details.vertices.first(), details.vertices.last()) else {
        return Ok(JobMetrics::zero());
    };
    let jid = details.jid.as_str();
    let counts = async {
        if terminal {
            return Ok((
                source.counter("write-records"),
                sink.counter("read-records"),
            ));
        }
        let read = client.subtask_metrics(jid, &source.id, &["numRecordsOut"], "sum");
        let processed = client.subtask_metrics(jid, &sink.id, &["numRecordsIn"], "sum");
        let (read, processed) = futures::try_join!(read, processed)?;
        Ok::<_, FlinkError>((
            aggregated_sum(&read, "numRecordsOut"),
            aggregated_sum(&processed, "numRecordsIn"),
        ))
    };
    let (counts, event_ts) = futures::try_join!(counts, current_event_ts(client, details))?;
    let (read, processed) = counts;
    Ok(JobMetrics {
        num_records_read: count(read),
        current_event_ts: count(event_ts),
        num_records_processed: count(processed),
    })
}

impl JobMetrics {
    pub fn zero() -> Self {
        Self {
            num_records_read: "0".into(),
            current_event_ts: "0".into(),
            num_records_processed: "0".into(),
        }
    }
}

/// The contract: a missing metric is "0", also while Flink's metric store is still empty
/// (it fills lazily); only ended jobs use the vertex counters of `GET /jobs/{jid}`.
fn count(value: Option<i64>) -> String {
    value.unwrap_or(0).to_string()
}

pub fn aggregated_sum(metrics: &[AggregatedMetric], id: &str) -> Option<i64> {
    metrics
        .iter()
        .find(|m| m.id == id)
        .and_then(|m| m.sum)
        .filter(|v| v.is_finite())
        .map(|v| v.round() as i64)
}

async fn current_event_ts(
    client: &FlinkClient,
    details: &JobDetails,
) -> Result<Option<i64>, FlinkError> {
    let per_vertex = details.vertices.iter().map(|vertex| async move {
        let names = client.vertex_metric_names(&details.jid, &vertex.id).await?;
        let wanted = event_ts_names(&names);
        let mut best: Option<i64> = None;
        for chunk in wanted.chunks(NAMES_PER_REQUEST) {
            let values = client
                .vertex_metric_values(&details.jid, &vertex.id, chunk)
                .await?;
            best = best.max(max_numeric(&values));
        }
        Ok::<_, FlinkError>(best)
    });
    let maxima = try_join_all(per_vertex).await?;
    Ok(maxima.into_iter().flatten().max())
}

pub fn event_ts_names(names: &[MetricValue]) -> Vec<&str> {
    names
        .iter()
        .map(|m| m.id.as_str())
        .filter(|id| id.ends_with(EVENT_TS_SUFFIX))
        .collect()
}

/// The greatest value that is a number; gauges may answer anything, e.g. "null".
pub fn max_numeric(values: &[MetricValue]) -> Option<i64> {
    values
        .iter()
        .filter_map(|m| m.value.as_deref())
        .filter_map(|v| {
            v.trim().parse::<i64>().ok().or_else(|| {
                v.trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite())
                    .map(|f| f as i64)
            })
        })
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metric(id: &str, value: &str) -> MetricValue {
        MetricValue {
            id: id.into(),
            value: Some(value.into()),
        }
    }

    #[test]
    fn event_time_is_the_greatest_numeric_gauge_value() {
        let values = [
            metric("0.flinklab-map.currentEventTs", "1700000005000"),
            metric("1.flinklab-map.currentEventTs", "1700000009000"),
            metric("2.flinklab-map.currentEventTs", "n/a"),
        ];
        assert_eq!(max_numeric(&values), Some(1_700_000_009_000));
        assert_eq!(max_numeric(&[metric("x", "NaN")]), None);
    }

    #[test]
    fn only_operator_gauges_named_current_event_ts_are_read() {
        let names = [
            metric("0.flinklab-map.currentEventTs", ""),
            metric("0.currentEventTsLag", ""),
            metric("0.numRecordsIn", ""),
        ];
        assert_eq!(
            event_ts_names(&names),
            vec!["0.flinklab-map.currentEventTs"]
        );
    }

    #[test]
    fn sums_are_whole_numbers() {
        let agg = [AggregatedMetric {
            id: "numRecordsIn".into(),
            sum: Some(2190.0),
            max: Some(1000.0),
        }];
        assert_eq!(aggregated_sum(&agg, "numRecordsIn"), Some(2190));
        assert_eq!(aggregated_sum(&agg, "numRecordsOut"), None);
    }
}
