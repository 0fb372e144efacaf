//! The endpoints after routing: the service ones and the monitoring reads (stop is in
//! `stop::handle`).

use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};

use crate::flink::is_globally_terminal;
use crate::time::{now_ms, rfc3339_or_ms};

use super::AppState;
use super::endpoints::{Monitoring, Op};
use super::envelope::{ok, ok_json};
use super::error::ApiError;
use super::lookup::{Scope, flink_failure, resolve};
use super::model::{
    ClusterView, JobStatusView, RootExceptionView, StatusAndMetricsView, overview_body,
    render_overview_jobs,
};
use super::route::{Route, decode_param};
use super::stop;

pub(super) async fn handle(
    app: &AppState,
    route: Route<'_>,
    method: &Method,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    if !route.allows(method) {
        return Err(ApiError::method_not_allowed(route.allowed_methods()));
    }
    match route.endpoint.op {
        Op::Healthz => Ok(ok("ok", vec![])),
        Op::Readyz => readyz(app),
        Op::Metrics => Ok(metrics(app)),
        Op::OpenApi => Ok(openapi(app)),
        Op::Clusters => {
            let views: Vec<ClusterView> = app
                .registry
                .list()
                .iter()
                .map(|c| ClusterView::new(c))
                .collect();
            Ok(ok(views, vec![]))
        }
        Op::Cluster => {
            let raw = route.cluster.unwrap_or_default();
            let cluster = app.cluster(&decode_param(raw, "cluster id")?)?;
            Ok(ok(ClusterView::new(&cluster), vec![]))
        }
        Op::Monitoring(op) => {
            let uuid = route
                .uuid
                .map(|raw| decode_param(raw, "uuid"))
                .transpose()?
                .unwrap_or_default();
            let scope = match route.cluster {
                Some(raw) => Scope::One(app.cluster(&decode_param(raw, "cluster id")?)?),
                None => Scope::All,
            };
            match op {
                Monitoring::Status => status(app, &scope, &uuid).await,
                Monitoring::StatusAndMetrics => status_and_metrics(app, &scope, &uuid).await,
                Monitoring::Exceptions | Monitoring::ExceptionsSingular => {
                    exceptions(app, &scope, &uuid).await
                }
                Monitoring::Stop => stop::handle(app, &scope, &uuid, query, headers).await,
                Monitoring::Health => health(app, &scope, &uuid),
                Monitoring::Overview => Ok(overview(app, &scope)),
                Monitoring::Version => Ok(ok(env!("CARGO_PKG_VERSION"), vec![])),
            }
        }
    }
}

/// Served from the last health check, without a Flink call; found as `status` finds it.
fn health(app: &AppState, scope: &Scope, uuid: &str) -> Result<Response, ApiError> {
    let (cluster, job) = resolve(app, scope, uuid)?;
    let status = cluster.status();
    Ok(ok(
        super::health::JobHealthView::new(uuid, &cluster, &status, &job, now_ms()),
        vec![],
    ))
}

async fn status(app: &AppState, scope: &Scope, uuid: &str) -> Result<Response, ApiError> {
    let (cluster, job) = resolve(app, scope, uuid)?;
    let details = cluster
        .details_of(&job)
        .await
        .map_err(|e| flink_failure(&cluster, e))?;
    Ok(ok(
        JobStatusView::new(uuid, &job, &details, now_ms()),
        vec![],
    ))
}

async fn status_and_metrics(
    app: &AppState,
    scope: &Scope,
    uuid: &str,
) -> Result<Response, ApiError> {
    let (cluster, job) = resolve(app, scope, uuid)?;
    let terminal = is_globally_terminal(job.state());
    let (details, metrics) = tokio::join!(
        cluster.details_of(&job),
        cluster.job_metrics(&job.jid, terminal)
    );
    let details = details.map_err(|e| flink_failure(&cluster, e))?;
    let metrics = metrics.map_err(|e| flink_failure(&cluster, e))?;
    let view = StatusAndMetricsView {
        details: JobStatusView::new(uuid, &job, &details, now_ms()),
        metrics: metrics.into(),
    };
    Ok(ok(view, vec![]))
}

async fn exceptions(app: &AppState, scope: &Scope, uuid: &str) -> Result<Response, ApiError> {
    let (cluster, job) = resolve(app, scope, uuid)?;
    let root = cluster
        .root_exception(&job.jid)
        .await
        .map_err(|e| flink_failure(&cluster, e))?;
    Ok(ok(RootExceptionView::from(root), vec![]))
}

fn overview(app: &AppState, scope: &Scope) -> Response {
    let clusters = scope.clusters(app);
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

fn readyz(app: &AppState) -> Result<Response, ApiError> {
    match app.registry.readiness() {
        Ok(()) => Ok(ok("ok", vec![])),
        Err(pending) => Err(ApiError::not_ready(pending)),
    }
}

fn metrics(app: &AppState) -> Response {
    let body = app.metrics.encode();
    // The per-job rows the scrape built are freed by now; without this glibc keeps them.
    crate::malloc::trim();
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
        )],
        body,
    )
        .into_response()
}

fn openapi(app: &AppState) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        app.openapi.to_string(),
    )
        .into_response()
}
