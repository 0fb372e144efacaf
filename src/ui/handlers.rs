//! The page's two JSON endpoints. Answers are wrapped as every success of the API is
//! (`{"response": ..., "messages": []}`); errors are the API's error bodies.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::api::ApiError;
use crate::api::health::JobHealthView;
use crate::api::model::{ClusterView, JobMetricsView, JobStatusView, RootExceptionView};
use crate::clusters::health_rules::{Checked, Inputs, restarts_within};
use crate::flink::is_globally_terminal;
use crate::time::now_ms;

use super::UiState;
use super::changes::Since;
use super::flink_ui::FlinkUi;
use super::jobs::{JobRow, JobsView, cluster_views};

/// The API's success envelope.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Wrapped<T> {
    pub response: T,
    /// Always empty here.
    pub messages: Vec<String>,
}

fn json_answer<T: Serialize>(value: T, etag: Option<&str>) -> Response {
    let body = match serde_json::to_vec(&Wrapped {
        response: value,
        messages: Vec::new(),
    }) {
        Ok(body) => body,
        Err(error) => {
            return ApiError::internal(format!("could not write the page's data: {error}"))
                .into_response();
        }
    };
    let mut response = (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        body,
    )
        .into_response();
    if let Some(value) = etag.and_then(|t| HeaderValue::from_str(&format!("\"{t}\"")).ok()) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

/// `since` from the query, else the entity tag of `If-None-Match`.
fn since_token(uri: &Uri, headers: &HeaderMap) -> Option<String> {
    let from_query = uri.query().and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "since")
            .map(|(_, v)| v.into_owned())
    });
    from_query.or_else(|| if_none_match(headers))
}

fn if_none_match(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::IF_NONE_MATCH)?.to_str().ok()?;
    let tag = value.split(',').next()?.trim();
    let tag = tag.strip_prefix("W/").unwrap_or(tag);
    Some(tag.trim_matches('"').to_string())
}

#[utoipa::path(get, path = "/ui/api/jobs", tag = "web page",
    description = "flink-monitor's own (not TSP's): every job of every cluster with its health, from memory, for the web page. \
With `since` (or `If-None-Match`) set to the `token` of an earlier answer: 304 when nothing changed, else only the clusters changed since.",
    params(("since" = Option<String>, Query, description = "the token of an earlier answer")),
    responses((status = 200, body = inline(Wrapped<JobsView>)), (status = 304, description = "nothing changed since the token")))]
pub async fn jobs(State(state): State<Arc<UiState>>, uri: Uri, headers: HeaderMap) -> Response {
    // The token first: what is read after it is at least as new.
    let token = state.changes.token();
    let since = since_token(&uri, &headers);
    let changed = state.changes.since(since.as_deref());
    let now = now_ms();
    let refresh_ms = state.refresh.as_millis() as u64;
    let view = match changed {
        Since::Nothing => {
            let mut response = StatusCode::NOT_MODIFIED.into_response();
            if let Ok(value) = HeaderValue::from_str(&format!("\"{token}\"")) {
                response.headers_mut().insert(header::ETAG, value);
            }
            return response;
        }
        Since::Everything => JobsView {
            token: token.clone(),
            full: true,
            now,
            refresh_ms,
            clusters: cluster_views(&state.registry.list(), &state.exceptions, now),
            removed: Vec::new(),
        },
        Since::Clusters(ids) => {
            let mut known = Vec::new();
            let mut removed = Vec::new();
            for id in ids {
                match state.registry.get(&id) {
                    Some(cluster) => known.push(cluster),
                    None => removed.push(id.to_string()),
                }
            }
            JobsView {
                token: token.clone(),
                full: false,
                now,
                refresh_ms,
                clusters: cluster_views(&known, &state.exceptions, now),
                removed,
            }
        }
    };
    json_answer(view, Some(&token))
}

/// One job for its page: what the jobs table shows, its health in full, and what Flink
/// says now (details and vertices, the three metrics, the root exception), each with the
/// error that kept it from being read.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobPage<'a> {
    pub cluster: ClusterView,
    pub polled: bool,
    pub flink_ui: FlinkUi,
    pub job: JobRow,
    pub health: JobHealthView,
    /// Restarts within `--restart-window` (as the Restarting rule counts them); null until
    /// a health check read the count.
    pub restarts_in_window: Option<i64>,
    /// `--restart-window`, in ms.
    pub restart_window_ms: u64,
    /// As `job/{uuid}/status/` answers it.
    pub status: Option<JobStatusView<'a>>,
    pub status_error: Option<String>,
    /// As `job/{uuid}/statusAndMetrics/` answers its `metrics`.
    pub metrics: Option<JobMetricsView>,
    pub metrics_error: Option<String>,
    /// As `jobs/{uuid}/exceptions/` answers it.
    pub exception: Option<RootExceptionView>,
    pub exception_error: Option<String>,
}

#[utoipa::path(get, path = "/ui/api/clusters/{cluster}/jobs/{jid}", tag = "web page",
    description = "flink-monitor's own (not TSP's): one job by its Flink job id, for the web page's job view. \
Details, metrics and the root exception come from Flink through the short-TTL cache; each is null with its error when it cannot be read.",
    params(("cluster" = String, Path, description = "cluster id"), ("jid" = String, Path, description = "the Flink job id")),
    responses((status = 200, body = inline(Wrapped<JobPage>)),
        (status = 404, description = "4009: no such cluster; 4006: no such job in the cluster's last poll (an error body)")))]
pub async fn job(
    State(state): State<Arc<UiState>>,
    Path((cluster_id, jid)): Path<(String, String)>,
) -> Response {
    let Some(cluster) = state.registry.get(&cluster_id) else {
        return ApiError::no_such_cluster(&cluster_id).into_response();
    };
    let status = cluster.status();
    let Some(job) = status
        .snapshot
        .as_ref()
        .and_then(|s| s.jobs().iter().find(|j| j.jid == jid))
        .cloned()
    else {
        return ApiError::job_not_found(vec![format!(
            "cluster {cluster_id}: no job with id {jid} in its last poll"
        )])
        .into_response();
    };
    let now = now_ms();
    let view = ClusterView::new(&cluster);
    let flink_ui = FlinkUi::of(&view.url);
    let row = JobRow::new(&cluster, &status, &job, &state.exceptions, now);
    let health = JobHealthView::new(&job.name, &cluster, &status, &job, now);
    let settings = *cluster.health().settings();
    let record = cluster.health().get(&job.jid);
    let restarts_in_window = record.as_ref().and_then(|r| {
        let inputs = Inputs {
            state: job.state(),
            start_time: job.start_time,
            reachable: status.reachable,
            checks_enabled: settings.enabled(),
            checked: r.checked_at.map(|_| Checked {
                restarts: &r.restarts,
                checkpoints: &r.checkpoints,
            }),
            now_ms: now,
        };
        restarts_within(&inputs, &settings.thresholds)
    });
    let terminal = is_globally_terminal(job.state());
    let unreachable = |what: &str| {
        format!(
            "cluster {cluster_id} cannot be reached ({}), so its {what} cannot be read; the job is shown as last known",
            status.last_error.as_deref().unwrap_or("not polled yet")
        )
    };
    let (details, metrics, exception) = if status.reachable {
        let (d, m, e) = tokio::join!(
            cluster.details_of(&job),
            cluster.job_metrics(&job.jid, terminal),
            cluster.root_exception(&job.jid)
        );
        (
            d.map_err(|e| e.to_string()),
            m.map_err(|e| e.to_string()),
            e.map_err(|e| e.to_string()),
        )
    } else {
        (
            Err(unreachable("details")),
            Err(unreachable("metrics")),
            Err(unreachable("exception")),
        )
    };
    let (status_view, status_error) = match &details {
        Ok(details) => (
            Some(JobStatusView::new(&job.name, &job, details, now)),
            None,
        ),
        Err(error) => (None, Some(error.clone())),
    };
    let (metrics, metrics_error) = split(metrics.map(JobMetricsView::from));
    let (exception, exception_error) = split(exception.map(RootExceptionView::from));
    let page = JobPage {
        cluster: view,
        polled: status.polled,
        flink_ui,
        job: row,
        health,
        restarts_in_window,
        restart_window_ms: settings.thresholds.restart_window.as_millis() as u64,
        status: status_view,
        status_error,
        metrics,
        metrics_error,
        exception,
        exception_error,
    };
    json_answer(page, None)
}

/// The OpenAPI document of these endpoints.
pub async fn openapi() -> Response {
    static JSON: std::sync::LazyLock<String> = std::sync::LazyLock::new(super::openapi::json);
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        JSON.as_str(),
    )
        .into_response()
}

fn split<T>(result: Result<T, String>) -> (Option<T>, Option<String>) {
    match result {
        Ok(value) => (Some(value), None),
        Err(error) => (None, Some(error)),
    }
}
