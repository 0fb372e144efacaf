//! The HTTP API: the monitoring endpoints at the root and under `/clusters/{cluster}/`,
//! plus `/clusters`, `/healthz`, `/readyz`, `/metrics` and `/openapi.json`.

mod envelope;
mod error;
mod handlers;
pub mod model;
pub mod openapi;
mod review;
mod route;
mod stop;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Request, Uri};
use axum::response::{IntoResponse, Response};
use tower_http::catch_panic::CatchPanicLayer;

use crate::clusters::{Cluster, Registry};
use crate::metrics::{HttpLabels, Metrics};

pub use error::ApiError;
pub use handlers::rfc3339;
pub use review::KubernetesReviewer;
pub use route::MAX_UUID_BYTES;
pub use stop::{StopGuard, bearer_token};

/// What every request handler reads.
pub struct AppState {
    pub registry: Arc<Registry>,
    pub metrics: Arc<Metrics>,
    pub stop_guard: StopGuard,
    openapi: Arc<str>,
}

impl AppState {
    pub fn new(registry: Arc<Registry>, metrics: Arc<Metrics>, stop_guard: StopGuard) -> Self {
        Self {
            registry,
            metrics,
            stop_guard,
            openapi: openapi::json().into(),
        }
    }

    fn cluster(&self, id: &str) -> Result<Arc<Cluster>, ApiError> {
        self.registry.get(id).ok_or_else(|| ApiError::no_such_cluster(id))
    }
}

/// The whole API as one router. Every answer is JSON (but `/metrics`), panics included.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .fallback(dispatch)
        .with_state(state)
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::internal("the request failed unexpectedly; see flink-monitor's log").into_response()
        }))
}

async fn dispatch(State(app): State<Arc<AppState>>, request: Request<Body>) -> Response {
    let (parts, _body) = request.into_parts();
    let (route, mut response) = respond(&app, &parts.method, &parts.uri, &parts.headers).await;
    app.metrics
        .http_requests
        .get_or_create(&HttpLabels {
            route,
            status: response.status().as_u16(),
        })
        .inc();
    if parts.method == Method::HEAD {
        *response.body_mut() = Body::empty();
    }
    response
}

async fn respond(app: &AppState, method: &Method, uri: &Uri, headers: &HeaderMap) -> (&'static str, Response) {
    match route::Route::parse(uri.path()) {
        Err(error) => ("unmatched", error.into_response()),
        Ok(route) => {
            let pattern = route.pattern();
            let response = handlers::handle(app, route, method, uri.query(), headers)
                .await
                .unwrap_or_else(IntoResponse::into_response);
            (pattern, response)
        }
    }
}
