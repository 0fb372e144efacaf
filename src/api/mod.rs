//! The HTTP API: the monitoring endpoints at the root and under `/clusters/{cluster}/`,
//! plus `/clusters`, `/healthz`, `/readyz`, `/metrics` and `/openapi.json`.

pub mod endpoints;
mod enum_view;
mod envelope;
mod error;
mod handlers;
pub mod health;
mod lookup;
pub mod model;
pub mod openapi;
mod route;
mod stop;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use std::time::Duration;

use axum::http::{HeaderMap, Method, Request, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;
use tower_http::catch_panic::CatchPanicLayer;

use crate::clusters::{Cluster, KnownClusters};
use crate::metrics::{HttpLabels, Metrics};

pub use error::ApiError;
pub use route::MAX_UUID_BYTES;
pub use stop::{DEFAULT_AUDIENCE, KubernetesReviewer, StopGuard, bearer_token};

/// Protection of the server itself: every request is bounded in size, time and number.
#[derive(Debug, Clone)]
pub struct ServerLimits {
    /// A request is answered (with 504 / 5000 if need be) within this time.
    pub request_timeout: Duration,
    /// Requests served at once; more are refused with 503 / 5000 at once.
    pub max_in_flight: usize,
    /// Longest request target (path and query), in bytes.
    pub max_uri_bytes: usize,
    /// Largest sum of header names and values, in bytes.
    pub max_header_bytes: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(20),
            max_in_flight: 1024,
            max_uri_bytes: 32 * 1024,
            max_header_bytes: 16 * 1024,
        }
    }
}

/// What every request handler reads.
pub struct AppState {
    pub registry: Arc<KnownClusters>,
    pub metrics: Arc<Metrics>,
    pub stop_guard: StopGuard,
    limits: ServerLimits,
    in_flight: Arc<Semaphore>,
    openapi: Arc<str>,
}

impl AppState {
    pub fn new(registry: Arc<KnownClusters>, metrics: Arc<Metrics>, stop_guard: StopGuard) -> Self {
        Self::with_limits(registry, metrics, stop_guard, ServerLimits::default())
    }

    pub fn with_limits(
        registry: Arc<KnownClusters>,
        metrics: Arc<Metrics>,
        stop_guard: StopGuard,
        limits: ServerLimits,
    ) -> Self {
        // The registry's gauges are computed per scrape (`clusters::gauges`).
        crate::clusters::gauges::register(&metrics, &registry);
        Self {
            registry,
            metrics,
            stop_guard,
            in_flight: Arc::new(Semaphore::new(limits.max_in_flight)),
            limits,
            openapi: openapi::json().into(),
        }
    }

    fn cluster(&self, id: &str) -> Result<Arc<Cluster>, ApiError> {
        self.registry
            .get(id)
            .ok_or_else(|| ApiError::no_such_cluster(id))
    }
}

/// The whole API as one router. Every answer is JSON (but `/metrics`), panics included.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .fallback(dispatch)
        .with_state(state)
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::internal("the request failed unexpectedly; see flink-monitor's log")
                .into_response()
        }))
}

async fn dispatch(State(app): State<Arc<AppState>>, request: Request<Body>) -> Response {
    // The body is never read: no endpoint takes one (see `refuse_unreadable`).
    let (parts, _body) = request.into_parts();
    let (route, mut response) = match app.in_flight.clone().try_acquire_owned() {
        Err(_) => (
            "overloaded",
            ApiError::overloaded(app.limits.max_in_flight).into_response(),
        ),
        Ok(_permit) => {
            let timeout = app.limits.request_timeout;
            let answer = respond(&app, &parts.method, &parts.uri, &parts.headers);
            match tokio::time::timeout(timeout, answer).await {
                Ok(answer) => answer,
                Err(_) => ("timed_out", ApiError::timed_out(timeout).into_response()),
            }
        }
    };
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

async fn respond(
    app: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> (&'static str, Response) {
    if let Err(error) = refuse_oversized(&app.limits, uri, headers) {
        return ("refused", error.into_response());
    }
    match route::Route::parse(uri.path()) {
        Err(error) => ("unmatched", error.into_response()),
        Ok(route) => {
            let pattern = route.pattern();
            let answer = match refuse_body(route.allows(method), headers) {
                Err(error) => Err(error),
                Ok(()) => handlers::handle(app, route, method, uri.query(), headers).await,
            };
            (pattern, answer.unwrap_or_else(IntoResponse::into_response))
        }
    }
}

fn refuse_oversized(limits: &ServerLimits, uri: &Uri, headers: &HeaderMap) -> Result<(), ApiError> {
    let uri_len = uri.path_and_query().map_or(0, |pq| pq.as_str().len());
    let header_len: usize = headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len())
        .sum();
    at_most(
        uri_len,
        limits.max_uri_bytes,
        StatusCode::URI_TOO_LONG,
        "the request target is",
    )?;
    at_most(
        header_len,
        limits.max_header_bytes,
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "the headers are",
    )
}

/// `what` ends with its verb: "the headers are".
fn at_most(len: usize, max: usize, status: StatusCode, what: &str) -> Result<(), ApiError> {
    if len > max {
        return Err(ApiError::refused_request(
            status,
            format!("{what} {len} bytes; at most {max} are read"),
        ));
    }
    Ok(())
}

/// No endpoint takes a request body (stop's parameters are in the query). A wrong method
/// is reported as such first, so this only runs for allowed methods.
fn refuse_body(method_allowed: bool, headers: &HeaderMap) -> Result<(), ApiError> {
    if !method_allowed {
        return Ok(());
    }
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    if length > 0 || headers.contains_key(header::TRANSFER_ENCODING) {
        return Err(ApiError::refused_request(
            StatusCode::BAD_REQUEST,
            "this endpoint takes no request body; pass parameters in the query",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
