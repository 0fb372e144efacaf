//! The monitoring endpoints and the service endpoints, after routing.

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};

use crate::clusters::{Cluster, Lookup, lookup_job};
use crate::flink::dto::JobOverview;
use crate::flink::{FlinkError, StopRequest, is_globally_terminal};
use crate::time::now_ms;

use super::AppState;
use super::endpoints::{Monitoring, Op};
use super::envelope::{ok, ok_json};
use super::error::{ApiError, cluster_line};
use super::model::{
    ClusterView, JobStatusView, RootExceptionView, StatusAndMetricsView, overview_body,
    render_overview_jobs,
};
use super::route::{Route, decode_param};
use super::stop::{StopMode, parse_stop_query};

/// Root paths look across every cluster; `/clusters/{cluster}/` paths at one.
enum Scope {
    All,
    One(Arc<Cluster>),
}

impl Scope {
    fn clusters(&self, app: &AppState) -> Vec<Arc<Cluster>> {
        match self {
            Scope::All => app.registry.list(),
            Scope::One(cluster) => vec![cluster.clone()],
        }
    }
}

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
                Monitoring::Stop => stop(app, &scope, &uuid, query, headers).await,
                Monitoring::Health => health(app, &scope, &uuid),
                Monitoring::Overview => Ok(overview(app, &scope)),
                Monitoring::Version => Ok(ok(env!("CARGO_PKG_VERSION"), vec![])),
            }
        }
    }
}

/// The job a name means, on a cluster that can be asked now.
fn resolve(
    app: &AppState,
    scope: &Scope,
    uuid: &str,
) -> Result<(Arc<Cluster>, JobOverview), ApiError> {
    match lookup_job(&scope.clusters(app), uuid) {
        Lookup::Found { cluster, job } => {
            let status = cluster.status();
            if !status.reachable {
                let since = status
                    .last_poll_ms()
                    .map(rfc3339)
                    .unwrap_or_else(|| "never".into());
                let error = status.last_error.as_deref().unwrap_or("not polled yet");
                return Err(ApiError::flink_unavailable(
                    cluster.id(),
                    format!("unreachable (last successful poll: {since}): {error}"),
                ));
            }
            Ok((cluster, job))
        }
        // One cluster that cannot be asked cannot say the job is not there.
        Lookup::NotFound { unreachable }
            if matches!(scope, Scope::One(_)) && !unreachable.is_empty() =>
        {
            let (id, why) = &unreachable[0];
            Err(ApiError::flink_unavailable(
                id,
                format!("{why}; it cannot say whether the job is there"),
            ))
        }
        Lookup::NotFound { unreachable } => Err(ApiError::job_not_found(
            unreachable
                .iter()
                .map(|(id, why)| cluster_line(id, format!("{why}; the job may be there")))
                .collect(),
        )),
        Lookup::Ambiguous(ids) => Err(ApiError::ambiguous(ids)),
    }
}

/// A failed Flink read: a job Flink no longer knows is 4006, anything else 5005.
fn flink_failure(cluster: &Cluster, error: FlinkError) -> ApiError {
    match error.status() {
        Some(404) => ApiError::job_not_found(vec![cluster_line(
            cluster.id(),
            "flink no longer knows the job",
        )]),
        _ => ApiError::flink_unavailable(cluster.id(), error),
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
                    rfc3339(at)
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

async fn stop(
    app: &AppState,
    scope: &Scope,
    uuid: &str,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let refused = |e: &ApiError| tracing::warn!(job = uuid, code = e.code, reason = ?e.errors, "stop refused");
    let caller = app
        .stop_guard
        .authenticate(headers)
        .await
        .inspect_err(refused)?;
    let mode = parse_stop_query(query)?;
    // Authorized before the lookup: a caller who may stop nothing learns nothing.
    let namespaces = scope
        .clusters(app)
        .iter()
        .map(|c| c.info().namespace.clone())
        .collect();
    let mut permit = app
        .stop_guard
        .authorize(&caller, namespaces)
        .await
        .inspect_err(|e| tracing::warn!(caller = %caller.name, job = uuid, code = e.code, reason = ?e.errors, "stop refused"))?;
    let (cluster, job) = resolve(app, scope, uuid)?;
    app.stop_guard
        .confirm(&caller, &mut permit, cluster.info().namespace.as_deref())
        .await
        .inspect_err(|e| tracing::warn!(caller = %caller.name, cluster = cluster.id(), job = uuid, code = e.code, reason = ?e.errors, "stop refused"))?;
    if is_globally_terminal(job.state()) {
        return Err(ApiError::already_terminal(job.state()));
    }
    let client = cluster.client();
    let result = match &mode {
        StopMode::Cancel => client.cancel(&job.jid).await.map(|()| {
            format!(
                "cancel of job {} on cluster {} accepted by flink",
                job.jid,
                cluster.id()
            )
        }),
        StopMode::Savepoint {
            target_directory,
            drain,
        } => {
            let request = StopRequest {
                target_directory: target_directory.clone(),
                drain: *drain,
            };
            client
                .stop_with_savepoint(&job.jid, &request)
                .await
                .map(|trigger| format!("trigger-id: {trigger}"))
        }
    };
    let kind = match mode {
        StopMode::Cancel => "cancel",
        StopMode::Savepoint { .. } => "savepoint",
    };
    match result {
        Ok(message) => {
            tracing::info!(caller = %caller.name, cluster = cluster.id(), job = uuid, jid = %job.jid, mode = kind, "job stop accepted");
            cluster.request_poll();
            Ok(ok(1, vec![message]))
        }
        Err(error) => {
            tracing::warn!(caller = %caller.name, cluster = cluster.id(), job = uuid, jid = %job.jid, mode = kind, %error, "job stop failed");
            Err(match error.status() {
                // Flink refuses to cancel a job that ended since the last poll.
                Some(409) => ApiError::already_terminal("already terminal according to flink"),
                _ => flink_failure(&cluster, error),
            })
        }
    }
}

fn readyz(app: &AppState) -> Result<Response, ApiError> {
    match app.registry.readiness() {
        Ok(()) => Ok(ok("ok", vec![])),
        Err(pending) => Err(ApiError::not_ready(pending)),
    }
}

fn metrics(app: &AppState) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
        )],
        app.metrics.encode(),
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

/// RFC 3339, or the raw milliseconds for a time jiff cannot write.
fn rfc3339(ms: i64) -> String {
    crate::time::rfc3339(ms).unwrap_or_else(|| ms.to_string())
}
