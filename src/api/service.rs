//! The service endpoints, served at the root only: `/healthz`, `/readyz`, `/metrics`,
//! `/openapi.json`, `/clusters` and `/clusters/{cluster}`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::envelope::{Envelope, ok};
use super::error::{ApiError, ErrorBody};
use super::extract::ClusterPath;
use super::model::ClusterView;
use super::registration::{Api, Serve};

/// The routes of this file.
pub(super) fn routes() -> Api {
    use utoipa_axum::routes;
    Api::new()
        .serve(routes!(clusters))
        .serve(routes!(cluster))
        .serve(routes!(healthz))
        .serve(routes!(readyz))
        .serve(routes!(metrics))
        .serve(routes!(openapi))
}

#[utoipa::path(get, path = "/healthz", tag = "service", responses((status = 200, body = Envelope<String>)))]
async fn healthz() -> Response {
    ok("ok", vec![])
}

#[utoipa::path(get, path = "/readyz", tag = "service",
    responses((status = 200, body = Envelope<String>), (status = 503, description = "5000: not every cluster polled yet", body = ErrorBody)))]
async fn readyz(State(app): State<Arc<AppState>>) -> Result<Response, ApiError> {
    match app.registry.readiness() {
        Ok(()) => Ok(ok("ok", vec![])),
        Err(pending) => Err(ApiError::not_ready(pending)),
    }
}

#[utoipa::path(get, path = "/metrics", tag = "service",
    responses((status = 200, description = "Prometheus metrics (OpenMetrics text)", content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8")))]
async fn metrics(State(app): State<Arc<AppState>>) -> Response {
    let body = app.metrics.encode();
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
        )],
        body,
    )
        .into_response()
}

#[utoipa::path(get, path = "/openapi.json", tag = "service",
    responses((status = 200, description = "this OpenAPI 3 document", content_type = "application/json")))]
async fn openapi(State(app): State<Arc<AppState>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        app.openapi.to_string(),
    )
        .into_response()
}

#[utoipa::path(get, path = "/clusters", tag = "clusters",
    responses((status = 200, body = Envelope<Vec<ClusterView>>)))]
async fn clusters(State(app): State<Arc<AppState>>) -> Response {
    let views: Vec<ClusterView> = app
        .registry
        .list()
        .iter()
        .map(|c| ClusterView::new(c))
        .collect();
    ok(views, vec![])
}

#[utoipa::path(get, path = "/clusters/{cluster}", tag = "clusters",
    params(("cluster" = String, Path, description = "cluster id")),
    responses((status = 200, body = Envelope<ClusterView>), (status = 404, description = "4009: no such cluster", body = ErrorBody)))]
async fn cluster(ClusterPath(cluster): ClusterPath) -> Response {
    ok(ClusterView::new(&cluster), vec![])
}
