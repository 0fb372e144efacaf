//! What wraps every route: the count of answers per route and status, the server's own
//! limits (requests in flight, time per request, size of the request head) and panics,
//! each answered with the contract's envelope.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower::BoxError;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower_http::catch_panic::CatchPanicLayer;

use crate::metrics::{HttpLabels, Metrics};

use super::ServerLimits;
use super::error::ApiError;
use super::listener::GuardedConnection;
use super::registration::{interned, other_spelling};

/// The `route` label of an answer that no route made, or that a route did not make itself:
/// set on the response by what made it, read by [`count`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RouteLabel(&'static str);

impl RouteLabel {
    /// No route matched (4004).
    const UNMATCHED: Self = Self("unmatched");
    const OVERLOADED: Self = Self("overloaded");
    const TIMED_OUT: Self = Self("timed_out");
    const REFUSED: Self = Self("refused");
    const PANICKED: Self = Self("panicked");

    fn on(self, mut response: Response) -> Response {
        response.extensions_mut().insert(self);
        response
    }
}

/// Counts answers by route and status (`flink_monitor_http_requests_total`). A route's
/// label is its documented path (`/job/{uuid}/status/`), whichever spelling was asked.
#[derive(Clone)]
pub(super) struct RequestCounts {
    metrics: Arc<Metrics>,
    /// Route as registered (both spellings) -> the documented path.
    labels: Arc<HashMap<String, &'static str>>,
}

impl RequestCounts {
    pub fn new<'a>(metrics: Arc<Metrics>, documented: impl IntoIterator<Item = &'a str>) -> Self {
        let mut labels = HashMap::new();
        for path in documented {
            let label = interned(path);
            labels.insert(other_spelling(path), label);
            labels.insert(path.to_string(), label);
        }
        Self {
            metrics,
            labels: Arc::new(labels),
        }
    }

    fn label(&self, matched: Option<&MatchedPath>, response: &Response) -> &'static str {
        if let Some(RouteLabel(label)) = response.extensions().get::<RouteLabel>() {
            return label;
        }
        match matched {
            None => RouteLabel::UNMATCHED.0,
            Some(matched) => match self.labels.get(matched.as_str()) {
                Some(label) => label,
                // A route merged from outside the API (a page): its pattern is bounded too.
                None => interned(matched.as_str()),
            },
        }
    }
}

async fn count(
    State(counts): State<RequestCounts>,
    matched: Option<MatchedPath>,
    request: Request,
    next: Next,
) -> Response {
    let response = next.run(request).await;
    let route = counts.label(matched.as_ref(), &response);
    counts
        .metrics
        .http_requests
        .get_or_create(&HttpLabels {
            route,
            status: response.status().as_u16(),
        })
        .inc();
    response
}

/// Wraps every route and the fallback in the server-wide layers, outermost first: the count
/// of answers, the answer to a head refused before hyper read it, tower's load shedding,
/// in-flight limit and timeout (their errors answered as the contract's 503 and 504), panics
/// (500), then the checks of the request head.
pub(super) fn wrap(router: Router, limits: ServerLimits, counts: RequestCounts) -> Router {
    let (max_in_flight, timeout) = (limits.max_in_flight, limits.request_timeout);
    let limited = tower::ServiceBuilder::new()
        .layer(HandleErrorLayer::new(move |error: BoxError| async move {
            if error.is::<tower::timeout::error::Elapsed>() {
                RouteLabel::TIMED_OUT.on(ApiError::timed_out(timeout).into_response())
            } else if error.is::<tower::load_shed::error::Overloaded>() {
                RouteLabel::OVERLOADED.on(ApiError::overloaded(max_in_flight).into_response())
            } else {
                ApiError::internal(format!("the request failed: {error}")).into_response()
            }
        }))
        .load_shed()
        // One limit for the whole server, though the layer is applied to each route.
        .layer(GlobalConcurrencyLimitLayer::new(max_in_flight))
        .timeout(timeout);
    router
        .layer(middleware::from_fn_with_state(Arc::new(limits), check_head))
        .layer(CatchPanicLayer::custom(panicked))
        .layer(limited)
        .layer(middleware::from_fn(answer_refused_heads))
        .layer(middleware::from_fn_with_state(counts, count))
}

/// The request that stands in for a head the connection's guard refused (`head_guard`) is
/// answered with that refusal, whatever its route. Every request of a guarded connection
/// passes here, so the stand-in is known by its place in the connection.
async fn answer_refused_heads(request: Request, next: Next) -> Response {
    // Absent when the router is called without a listener (tests).
    let connection = request.extensions().get::<ConnectInfo<GuardedConnection>>();
    if let Some(ConnectInfo(connection)) = connection
        && let Some(refusal) = connection.next_request()
    {
        let error = ApiError::refused_request(refusal.status, refusal.why.clone());
        return RouteLabel::REFUSED.on(error.into_response());
    }
    next.run(request).await
}

/// A panic in a handler: 500 / 5000, never a stack trace.
fn panicked(_: Box<dyn std::any::Any + Send>) -> Response {
    RouteLabel::PANICKED.on(ApiError::internal(
        "the request failed unexpectedly; see flink-monitor's log",
    )
    .into_response())
}

/// Refuses, before the route answers, a request the server will not read (a request
/// target or headers over the limits: 414 / 431) and a path whose `{cluster}` is empty
/// (no such path: matchit lets a parameter match an empty segment).
async fn check_head(
    State(limits): State<Arc<ServerLimits>>,
    matched: Option<MatchedPath>,
    request: Request,
    next: Next,
) -> Response {
    if let Err(error) = refuse_oversized(&limits, request.uri(), request.headers()) {
        return RouteLabel::REFUSED.on(error.into_response());
    }
    let path = request.uri().path();
    if let Some(matched) = matched
        && names_no_cluster(matched.as_str(), path)
    {
        return RouteLabel::UNMATCHED.on(ApiError::no_such_path(path).into_response());
    }
    next.run(request).await
}

/// Whether the segment of `path` at the `{cluster}` of the route it matched is empty.
fn names_no_cluster(matched: &str, path: &str) -> bool {
    path.contains("//")
        && matched
            .split('/')
            .zip(path.split('/'))
            .any(|(pattern, given)| pattern == "{cluster}" && given.is_empty())
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

/// No endpoint takes a request body (stop's parameters are in the query). Runs only where
/// the method is allowed, so a wrong method is reported as such first.
pub(super) async fn refuse_body(request: Request, next: Next) -> Response {
    let headers = request.headers();
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    if length > 0 || headers.contains_key(header::TRANSFER_ENCODING) {
        return ApiError::refused_request(
            StatusCode::BAD_REQUEST,
            "this endpoint takes no request body; pass parameters in the query",
        )
        .into_response();
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_empty_cluster_segment_names_no_cluster() {
        let pattern = "/clusters/{cluster}/job/{uuid}/status";
        assert!(names_no_cluster(pattern, "/clusters//job/a/status"));
        assert!(!names_no_cluster(pattern, "/clusters/c/job//status"));
        assert!(!names_no_cluster(pattern, "/clusters/c/job/a/status"));
        assert!(names_no_cluster("/clusters/{cluster}/", "/clusters//"));
    }
}
