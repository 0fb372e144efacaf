//! The bodies the monitoring API answers, built from snapshots and Flink's answers.

use std::io::Write;

use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::clusters::{Cluster, ClusterSource, FetchedDetails, JobMetrics, RenderedJobs};
use crate::flink::RootException;
use crate::flink::dto::{JobDetails, JobOverview, TaskCounts};

use super::enum_view::enum_view;

/// `duration` as the contract defines it: for a job still running (`end-time` -1), now
/// minus its start; otherwise what Flink reports.
pub fn effective_duration(job: &JobOverview, now_ms: i64) -> i64 {
    match running_since(job) {
        Some(start) => (now_ms - start).max(0),
        None => job.duration.unwrap_or(0),
    }
}

/// The start of a job whose duration grows with time (it has not ended), else None.
fn running_since(job: &JobOverview) -> Option<i64> {
    match (job.end_time, job.start_time) {
        (Some(end), _) if end >= 0 => None,
        (_, Some(start)) if start > 0 => Some(start),
        _ => None,
    }
}

/// The answer of `job/{uuid}/status/`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct JobStatusView<'a> {
    pub name: &'a str,
    pub jid: &'a str,
    /// Flink's job status: RUNNING, FINISHED, FAILED, CANCELED, ...
    pub state: &'a str,
    #[serde(rename = "start-time")]
    pub start_time: i64,
    /// -1 while the job runs.
    #[serde(rename = "end-time")]
    pub end_time: i64,
    pub duration: i64,
    /// Rendered once per fetch of the details (see `render_vertices`).
    #[schema(value_type = Vec<VertexView>)]
    pub vertices: &'a RawValue,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VertexView {
    pub id: String,
    pub name: Option<String>,
    pub parallelism: Option<i64>,
    pub status: Option<String>,
    #[serde(rename = "start-time")]
    pub start_time: Option<i64>,
    pub duration: Option<i64>,
    /// Flink's vertex metrics object (`read-records`, `write-records`, ...).
    #[schema(value_type = Object)]
    pub metrics: Option<Map<String, Value>>,
}

impl<'a> JobStatusView<'a> {
    /// The state and times come from the overview snapshot, which Flink updates at once,
    /// the vertices from `GET /jobs/{jid}`, which Flink caches for a few seconds.
    pub fn new(
        name: &'a str,
        job: &'a JobOverview,
        details: &'a FetchedDetails,
        now_ms: i64,
    ) -> Self {
        let (start_time, end_time) = job.start_and_end();
        Self {
            name,
            jid: &job.jid,
            state: job.state(),
            start_time,
            end_time,
            duration: effective_duration(job, now_ms),
            vertices: details.rendered_vertices(render_vertices),
        }
    }
}

/// The vertices of `job/{uuid}/status/` as JSON.
pub fn render_vertices(details: &JobDetails) -> Box<RawValue> {
    let views: Vec<VertexView> = details
        .vertices
        .iter()
        .map(|v| VertexView {
            id: v.id.clone(),
            name: v.name.clone(),
            parallelism: v.parallelism,
            status: v.status.clone(),
            start_time: v.start_time,
            duration: v.duration,
            metrics: v.metrics.clone(),
        })
        .collect();
    serde_json::value::to_raw_value(&views).unwrap_or_else(|error| {
        // Strings, numbers and JSON values always serialize; kept for the type's sake.
        tracing::error!(jid = %details.jid, %error, "could not render the vertices");
        RawValue::NULL.to_owned()
    })
}

/// The answer of `job/{uuid}/statusAndMetrics/`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StatusAndMetricsView<'a> {
    pub details: JobStatusView<'a>,
    pub metrics: JobMetricsView,
}

/// Metric values are strings, as Flink (and TSP) send them; a missing metric is `"0"`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = JobMetrics)]
#[serde(rename_all = "camelCase")]
pub struct JobMetricsView {
    pub num_records_read: String,
    pub current_event_ts: String,
    pub num_records_processed: String,
}

impl From<JobMetrics> for JobMetricsView {
    fn from(metrics: JobMetrics) -> Self {
        Self {
            num_records_read: metrics.num_records_read,
            current_event_ts: metrics.current_event_ts,
            num_records_processed: metrics.num_records_processed,
        }
    }
}

/// The one exception a client is shown: the contract's `root-exception` object.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = RootException)]
pub struct RootExceptionView {
    #[serde(rename = "root-exception")]
    pub root_exception: Option<String>,
    pub timestamp: Option<i64>,
    pub truncated: bool,
}

impl From<RootException> for RootExceptionView {
    fn from(root: RootException) -> Self {
        Self {
            root_exception: root.root_exception,
            timestamp: root.timestamp,
            truncated: root.truncated,
        }
    }
}

/// The answer of `jobs/overview/`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct OverviewView<'a> {
    pub jobs: Vec<OverviewJob<'a>>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct OverviewJob<'a> {
    pub jid: &'a str,
    pub name: &'a str,
    pub state: &'a str,
    #[serde(rename = "start-time")]
    pub start_time: i64,
    #[serde(rename = "end-time")]
    pub end_time: i64,
    pub duration: i64,
    /// Task counts by state, as Flink reports them.
    #[schema(value_type = Object)]
    pub tasks: Option<&'a TaskCounts>,
    /// The id of the cluster the job runs on.
    pub cluster: &'a str,
}

/// The fields of an `OverviewJob` before `duration`, and after it.
#[derive(Serialize)]
struct OverviewHead<'a> {
    jid: &'a str,
    name: &'a str,
    state: &'a str,
    #[serde(rename = "start-time")]
    start_time: i64,
    #[serde(rename = "end-time")]
    end_time: i64,
}

#[derive(Serialize)]
struct OverviewTail<'a> {
    tasks: Option<&'a TaskCounts>,
    cluster: &'a str,
}

/// A cluster's jobs as `jobs/overview/` lists them (`OverviewJob`, comma-separated), for
/// one snapshot: serialized once, with the durations of running jobs left to fill in.
pub fn render_overview_jobs(jobs: &[JobOverview], cluster: &str) -> RenderedJobs {
    let mut rendered = RenderedJobs::default();
    for job in jobs {
        let (start_time, end_time) = job.start_and_end();
        let head = OverviewHead {
            jid: &job.jid,
            name: &job.name,
            state: job.state(),
            start_time,
            end_time,
        };
        let tail = OverviewTail {
            tasks: job.tasks.as_ref(),
            cluster,
        };
        // Borrowed strings, numbers and raw JSON: serializing them cannot fail.
        let (Ok(head), Ok(tail)) = (serde_json::to_vec(&head), serde_json::to_vec(&tail)) else {
            tracing::error!(cluster, jid = %job.jid, "could not render a job of the overview");
            continue;
        };
        let out = &mut rendered.bytes;
        if !out.is_empty() {
            out.push(b',');
        }
        // `{head...` + `,"duration":N,` + `...tail}`
        out.extend_from_slice(&head[..head.len() - 1]);
        out.extend_from_slice(b",\"duration\":");
        match running_since(job) {
            Some(start) => rendered.durations.push((out.len(), start)),
            None => {
                let _ = write!(out, "{}", job.duration.unwrap_or(0));
            }
        }
        out.push(b',');
        out.extend_from_slice(&tail[1..]);
    }
    rendered
}

/// The whole `jobs/overview/` answer, envelope included, from rendered job lists.
pub fn overview_body<'a>(
    lists: impl IntoIterator<Item = &'a RenderedJobs>,
    now_ms: i64,
    messages: &[String],
) -> Vec<u8> {
    let lists: Vec<&RenderedJobs> = lists.into_iter().collect();
    let size: usize = lists
        .iter()
        .map(|l| l.bytes.len() + 8 * l.durations.len() + 1)
        .sum();
    let mut out = Vec::with_capacity(size + 64);
    out.extend_from_slice(br#"{"response":{"jobs":["#);
    let mut first = true;
    for list in lists.into_iter().filter(|l| !l.bytes.is_empty()) {
        if !first {
            out.push(b',');
        }
        first = false;
        list.write_to(&mut out, now_ms);
    }
    out.extend_from_slice(br#"]},"messages":"#);
    // A list of strings always serializes.
    let _ = serde_json::to_writer(&mut out, messages);
    out.push(b'}');
    out
}

impl<'a> OverviewJob<'a> {
    pub fn new(job: &'a JobOverview, cluster: &'a str, now_ms: i64) -> Self {
        let (start_time, end_time) = job.start_and_end();
        Self {
            jid: &job.jid,
            name: &job.name,
            state: job.state(),
            start_time,
            end_time,
            duration: effective_duration(job, now_ms),
            tasks: job.tasks.as_ref(),
            cluster,
        }
    }
}

/// One entry of `GET /clusters`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterView {
    pub id: String,
    /// Null for static clusters.
    pub namespace: Option<String>,
    pub name: String,
    /// service, flinkdeployment or static.
    pub source: ClusterSourceView,
    /// The JobManager's REST URL, credentials removed.
    pub url: String,
    pub reachable: bool,
    /// Flink's `flink-version`, null until known.
    pub flink_version: Option<String>,
    /// Time (ms) of the last successful poll, null before one.
    pub last_poll: Option<i64>,
    /// The last poll error while unreachable, else null.
    pub last_error: Option<String>,
    /// Jobs in the last snapshot.
    pub jobs: usize,
}

enum_view! {
    /// Where a cluster came from.
    #[schema(as = ClusterSource)]
    #[serde(rename_all = "lowercase")]
    pub enum ClusterSourceView mirrors ClusterSource { Service, FlinkDeployment, Static }
}

impl ClusterView {
    pub fn new(cluster: &Cluster) -> Self {
        let info = cluster.info();
        let status = cluster.status();
        Self {
            id: info.id.clone(),
            namespace: info.namespace.clone(),
            name: info.name.clone(),
            source: info.source.into(),
            url: cluster.display_url().to_string(),
            reachable: status.reachable,
            flink_version: status.flink_version.clone(),
            last_poll: status.last_poll_ms(),
            last_error: if status.reachable {
                None
            } else {
                status.last_error.clone()
            },
            jobs: status.snapshot.as_ref().map_or(0, |s| s.jobs().len()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clusters::testing::overview_jobs as jobs;

    fn job(v: serde_json::Value) -> JobOverview {
        serde_json::from_value(v).unwrap()
    }

    /// The answer as it was built before rendering once per snapshot: every job
    /// serialized per request.
    fn serialized_per_request(
        lists: &[(&str, &[JobOverview])],
        now: i64,
        messages: &[String],
    ) -> Value {
        let jobs: Vec<OverviewJob> = lists
            .iter()
            .flat_map(|(cluster, jobs)| jobs.iter().map(move |j| OverviewJob::new(j, cluster, now)))
            .collect();
        serde_json::to_value(crate::api::envelope::Envelope {
            response: OverviewView { jobs },
            messages: messages.to_vec(),
        })
        .unwrap()
    }

    #[test]
    fn the_rendered_overview_is_the_serialized_one_with_durations_as_of_now() {
        let a = jobs(serde_json::json!([
            {"jid": "r1", "name": "running \"quoted\"", "state": "RUNNING", "start-time": 1000, "end-time": -1,
             "duration": 5, "tasks": {"running": 2, "total": 2}},
            {"jid": "e1", "name": "ended", "state": "CANCELED", "start-time": 1000, "end-time": 3000,
             "duration": 2000, "tasks": {"canceled": 2}},
            {"jid": "n1", "name": "no start", "state": "INITIALIZING", "duration": 7},
            {"jid": "r2", "name": "späť", "state": "RESTARTING", "start-time": 50000, "end-time": -1}
        ]));
        let b = jobs(
            serde_json::json!([{"jid": "x", "name": "other", "state": "RUNNING", "start-time": 10}]),
        );
        let empty: Vec<JobOverview> = Vec::new();
        let rendered = [
            render_overview_jobs(&a, "c-a"),
            render_overview_jobs(&empty, "c-empty"),
            render_overview_jobs(&b, "c-b"),
        ];
        let messages = vec!["cluster c-b is \"unreachable\"".to_string()];
        // One rendering serves every later request with the durations of that moment.
        for now in [61_000, 99_999_999] {
            let body = overview_body(&rendered, now, &messages);
            let got: Value = serde_json::from_slice(&body).unwrap();
            let want = serialized_per_request(
                &[("c-a", &a), ("c-empty", &empty), ("c-b", &b)],
                now,
                &messages,
            );
            assert_eq!(got, want);
        }
        let none: Vec<String> = Vec::new();
        let body = overview_body(&[render_overview_jobs(&empty, "c")], 5, &none);
        assert_eq!(body, br#"{"response":{"jobs":[]},"messages":[]}"#);
    }

    #[test]
    fn status_vertices_are_rendered_once_per_fetch() {
        let details: JobDetails = serde_json::from_value(serde_json::json!({
            "jid": "j", "vertices": [{"id": "v1", "name": "Source", "parallelism": 2, "status": "RUNNING",
                "start-time": 5, "duration": 9, "metrics": {"write-records": 12}, "tasks": {"RUNNING": 2}}]
        }))
        .unwrap();
        let fetched = FetchedDetails::new(details);
        let job = jobs(
            serde_json::json!([{"jid": "j", "name": "n", "state": "RUNNING", "start-time": 1000}]),
        )
        .remove(0);
        let view = serde_json::to_value(JobStatusView::new("n", &job, &fetched, 3000)).unwrap();
        assert_eq!(
            view,
            serde_json::json!({"name": "n", "jid": "j", "state": "RUNNING", "start-time": 1000, "end-time": -1,
                "duration": 2000, "vertices": [{"id": "v1", "name": "Source", "parallelism": 2, "status": "RUNNING",
                "start-time": 5, "duration": 9, "metrics": {"write-records": 12}}]})
        );
        // Later views copy the first rendering; they do not render again.
        let again = fetched.rendered_vertices(|_| panic!("rendered twice"));
        assert!(again.get().contains("write-records"));
    }

    #[test]
    fn a_cluster_source_is_shown_as_the_label_it_has_everywhere() {
        for source in [
            ClusterSource::Service,
            ClusterSource::FlinkDeployment,
            ClusterSource::Static,
        ] {
            let shown = serde_json::to_value(ClusterSourceView::from(source)).unwrap();
            assert_eq!(shown, source.as_str());
        }
    }

    #[test]
    fn a_running_job_lasts_until_now_and_an_ended_one_as_flink_says() {
        let running =
            job(serde_json::json!({"jid":"a","start-time":1000,"end-time":-1,"duration":5}));
        assert_eq!(effective_duration(&running, 61_000), 60_000);
        let ended =
            job(serde_json::json!({"jid":"a","start-time":1000,"end-time":3000,"duration":2000}));
        assert_eq!(effective_duration(&ended, 61_000), 2000);
    }
}
