//! The read-only web page at `/ui/`: every cluster and job on one page, a page per job.
//!
//! The assets are embedded in the binary (`assets.rs`), so the page works without any
//! other origin. The page reads two JSON endpoints of flink-monitor's own (not TSP's):
//! `GET /ui/api/jobs` (every job of every cluster, with health; answered whole or as the
//! clusters changed since a token the page holds, 304 when nothing changed) and
//! `GET /ui/api/clusters/{cluster}/jobs/{jid}` (one job: details, metrics, root exception,
//! health). Both read the registry's in-memory state; only the job page's details,
//! metrics and exception go to Flink, through the same short-TTL cache as the API.
//! `GET /ui/api/openapi.json` documents them.
//!
//! The router is its own: it is merged into the API's app in `runtime.rs`, with its
//! security headers and compression; [`redirect_browsers`] sends a browser asking for `/`
//! to `/ui/`.

mod assets;
mod changes;
mod exceptions;
mod flink_ui;
mod handlers;
mod jobs;
pub mod openapi;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use tokio_util::sync::CancellationToken;
use tower_http::compression::CompressionLayer;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::clusters::KnownClusters;

pub use changes::Changes;
pub use exceptions::ExceptionBook;

/// What the page's handlers read.
pub struct UiState {
    pub registry: Arc<KnownClusters>,
    /// How often the page asks for changes.
    pub refresh: Duration,
    pub changes: Changes,
    pub exceptions: ExceptionBook,
}

impl UiState {
    /// Follows the registry from now on: call before the first request is served.
    pub fn new(registry: Arc<KnownClusters>, refresh: Duration) -> Arc<Self> {
        let changes = Changes::new(registry.subscribe());
        Arc::new(Self {
            registry,
            refresh,
            changes,
            exceptions: ExceptionBook::default(),
        })
    }

    /// Notes changed clusters and reads the exceptions of failed jobs until `shutdown`.
    pub fn follow(self: &Arc<Self>, shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
        tokio::spawn(changes::follow(self.clone(), shutdown))
    }
}

/// How often the page asks for changes: often enough that a state change shows within a
/// poll interval and 2 s, never more than once per 250 ms.
pub fn refresh_for(poll_interval: Duration) -> Duration {
    poll_interval
        .min(Duration::from_secs(1))
        .max(Duration::from_millis(250))
}

/// The page's policy: only this origin, no inline script, never framed.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
img-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; \
frame-ancestors 'none'";

/// The page, its assets and its JSON, with security headers and compression.
pub fn router(state: Arc<UiState>) -> Router {
    let headers = [
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            header::HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        ),
        (
            header::HeaderName::from_static("cross-origin-resource-policy"),
            HeaderValue::from_static("same-origin"),
        ),
    ];
    let mut router = Router::new()
        .route("/ui", get(|| async { Redirect::permanent("/ui/") }))
        .route("/ui/", get(assets::index))
        .route("/ui/{asset}", get(assets::asset))
        .route("/ui/api/jobs", get(handlers::jobs))
        .route("/ui/api/clusters/{cluster}/jobs/{jid}", get(handlers::job))
        .route("/ui/api/openapi.json", get(handlers::openapi))
        .with_state(state)
        .layer(CompressionLayer::new());
    for (name, value) in headers {
        router = router.layer(SetResponseHeaderLayer::overriding(name, value));
    }
    router
}

/// A browser asking for `/` (Accept: text/html) is sent to `/ui/`; API clients at the
/// root, which do not ask for HTML, get what they got before.
pub async fn redirect_browsers(request: Request<Body>, next: Next) -> Response {
    if wants_the_page(&request) {
        return Redirect::to("/ui/").into_response();
    }
    next.run(request).await
}

fn wants_the_page(request: &Request<Body>) -> bool {
    (request.method() == Method::GET || request.method() == Method::HEAD)
        && request.uri().path() == "/"
        && request
            .headers()
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.split(',').any(|t| t.trim().starts_with("text/html")))
}

#[cfg(test)]
mod tests;
