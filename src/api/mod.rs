//! The HTTP API: the monitoring endpoints at the root and under `/clusters/{cluster}/`,
//! plus `/clusters`, `/healthz`, `/readyz`, `/metrics` and `/openapi.json`.

pub mod endpoints;
mod enum_view;
mod envelope;
mod error;
mod extract;
mod head_guard;
pub mod health;
mod layers;
mod listener;
mod lookup;
pub mod model;
mod monitoring;
pub mod openapi;
mod registration;
mod service;
mod stop;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;

use crate::clusters::{Cluster, KnownClusters};
use crate::metrics::Metrics;

pub use error::ApiError;
pub use extract::MAX_UUID_BYTES;
pub use stop::{DEFAULT_AUDIENCE, KubernetesReviewer, StopGuard, bearer_token};

use registration::Api;

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
        Self {
            registry,
            metrics,
            stop_guard,
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

/// Every route of the API with its OpenAPI entry: the monitoring endpoints at the root and
/// again under `/clusters/{cluster}`, and the service endpoints.
fn routes() -> Api {
    Api::with_openapi(openapi::base())
        .merge(monitoring::routes())
        .merge(service::routes())
        .nest(openapi::IN_CLUSTER, monitoring::routes())
}

/// The whole API as one router. Every answer is JSON (but `/metrics`), panics included.
pub fn router(state: Arc<AppState>) -> Router {
    router_with(state, Router::new())
}

/// The API with `pages` served beside it (the web page's router): merged before the
/// server-wide layers, so they share the API's limits, request counts, 404 and 405 answers
/// (axum adds `Allow`). Their paths must not be the API's (axum refuses a path registered
/// twice), and they bring no fallback of their own.
pub fn router_with(state: Arc<AppState>, pages: Router) -> Router {
    let (api, doc) = routes().split_for_parts();
    let counts = layers::RequestCounts::new(
        state.metrics.clone(),
        doc.paths.paths.keys().map(String::as_str),
    );
    let router = api
        .fallback(|uri: axum::http::Uri| async move { ApiError::no_such_path(uri.path()) })
        .with_state(state.clone())
        .merge(pages.method_not_allowed_fallback(|| async { ApiError::method_not_allowed_here() }));
    layers::wrap(router, state.limits.clone(), counts)
}

/// Serves `app` (the API, see [`router_with`], with any layers the caller adds on top) on
/// `listener` until `shutdown` completes, then lets the requests in flight finish. Each
/// connection's request heads are judged before hyper reads them (`head_guard`).
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    listener::serve(listener, app, &limits, shutdown).await
}

#[cfg(test)]
mod tests;
