//! The monitoring endpoints (the contract's, from TSP, and `health`), served at the root
//! across clusters and again under `/clusters/{cluster}/` for one. Stop is in `stop`.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;

use crate::flink::is_globally_terminal;
use crate::time::{now_ms, rfc3339_or_ms};

use super::AppState;
use super::envelope::{Envelope, ok, ok_json};
use super::error::{ApiError, ErrorBody};
use super::extract::FoundJob;
use super::health::JobHealthView;
use super::lookup::{Scope, flink_failure};
use super::model::{
    JobStatusView, OverviewView, RootExceptionView, StatusAndMetricsView, overview_body,
    render_overview_jobs,
};
use super::registration::{Api, Serve};
use super::stop;

/// The routes of the monitoring endpoints, relative to `/` or `/clusters/{cluster}`.
pub(super) fn routes() -> Api {
    use utoipa_axum::routes;
    Api::new()
        .serve(routes!(status))
        .serve(routes!(status_and_metrics))
        .serve(routes!(stop::handle::stop))
        .serve(routes!(overview))
        .serve(routes!(exceptions))
        // The singular spelling TSP's code served.
        .serve_also_at(
            "/job/{uuid}/exceptions/",
            "exceptions_singular",
            routes!(exceptions),
        )
        .serve(routes!(health))
        .serve(routes!(version))
}

#[utoipa::path(get, path = "/job/{uuid}/status/", tag = "monitoring",
    params(("uuid" = String, Path, description = "the Flink job name")),
    responses((status = 200, body = Envelope<JobStatusView>), (status = 404, description = "4006: no job with that name", body = ErrorBody),
        (status = 409, description = "4007: the name is on several clusters", body = ErrorBody), (status = 502, description = "5005: Flink unreachable", body = ErrorBody)))]
async fn status(FoundJob { name, cluster, job }: FoundJob) -> Result<Response, ApiError> {
    let details = cluster
        .details_of(&job)
        .await
        .map_err(|e| flink_failure(&cluster, e))?;
    Ok(ok(
        JobStatusView::new(&name, &job, &details, now_ms()),
        vec![],
    ))
}

#[utoipa::path(get, path = "/job/{uuid}/statusAndMetrics/", tag = "monitoring",
    params(("uuid" = String, Path, description = "the Flink job name")),
    responses((status = 200, body = Envelope<StatusAndMetricsView>), (status = 404, body = ErrorBody), (status = 502, body = ErrorBody)))]
async fn status_and_metrics(
    FoundJob { name, cluster, job }: FoundJob,
) -> Result<Response, ApiError> {
    let terminal = is_globally_terminal(job.state());
    let (details, metrics) = tokio::join!(
        cluster.details_of(&job),
        cluster.job_metrics(&job.jid, terminal)
    );
    let details = details.map_err(|e| flink_failure(&cluster, e))?;
    let metrics = metrics.map_err(|e| flink_failure(&cluster, e))?;
    let view = StatusAndMetricsView {
        details: JobStatusView::new(&name, &job, &details, now_ms()),
        metrics: metrics.into(),
    };
    Ok(ok(view, vec![]))
}

#[utoipa::path(get, path = "/jobs/{uuid}/exceptions/", tag = "monitoring",
    params(("uuid" = String, Path, description = "the Flink job name")),
    responses((status = 200, body = Envelope<RootExceptionView>), (status = 404, body = ErrorBody), (status = 502, body = ErrorBody)))]
async fn exceptions(FoundJob { cluster, job, .. }: FoundJob) -> Result<Response, ApiError> {
    let root = cluster
        .root_exception(&job.jid)
        .await
        .map_err(|e| flink_failure(&cluster, e))?;
    Ok(ok(RootExceptionView::from(root), vec![]))
}

#[utoipa::path(get, path = "/job/{uuid}/health/", tag = "monitoring",
    params(("uuid" = String, Path, description = "the Flink job name")),
    responses((status = 200, description = "the last health check, from memory", body = Envelope<JobHealthView>), (status = 404, description = "4006: no job with that name", body = ErrorBody),
        (status = 409, description = "4007: the name is on several clusters", body = ErrorBody), (status = 502, description = "5005: Flink unreachable", body = ErrorBody)))]
// Served from the last health check, without a Flink call; found as `status` finds it.
async fn health(FoundJob { name, cluster, job }: FoundJob) -> Response {
    let status = cluster.status();
    ok(
        JobHealthView::new(&name, &cluster, &status, &job, now_ms()),
        vec![],
    )
}

#[utoipa::path(get, path = "/jobs/overview/", tag = "monitoring",
    responses((status = 200, body = Envelope<OverviewView>)))]
async fn overview(State(app): State<Arc<AppState>>, scope: Scope) -> Response {
    let clusters = scope.clusters(&app);
    let statuses: Vec<_> = clusters.iter().map(|c| (c, c.status())).collect();
    let now = now_ms();
    let mut lists = Vec::with_capacity(statuses.len());
    let mut messages = Vec::new();
    for (cluster, status) in &statuses {
        if let Some(snapshot) = &status.snapshot {
            // Serialized once per snapshot; later requests only fill in the durations.
            lists.push(snapshot.rendered(|jobs| render_overview_jobs(jobs, cluster.id())));
        }
        if !status.reachable {
            messages.push(match (status.polled, status.last_poll_ms()) {
                (_, Some(at)) => format!(
                    "cluster {} is unreachable; its jobs are as of its last successful poll at {}",
                    cluster.id(),
                    rfc3339_or_ms(at)
                ),
                (true, None) => format!(
                    "cluster {} is unreachable and was never polled successfully; its jobs are not listed",
                    cluster.id()
                ),
                (false, None) => format!("cluster {} has not been polled yet", cluster.id()),
            });
        }
    }
    ok_json(overview_body(lists, now, &messages))
}

#[utoipa::path(get, path = "/metainfo/getVersion/", tag = "monitoring",
    responses((status = 200, description = "flink-monitor's own version", body = Envelope<String>)))]
async fn version(_: Scope) -> Response {
    ok(env!("CARGO_PKG_VERSION"), vec![])
}
