//! The contract's error answers: `{"errorCode", "message", "errors"}` with its HTTP codes.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: u16,
    pub message: String,
    pub errors: Vec<String>,
    /// `Allow` for 405, `WWW-Authenticate` for 401.
    header: Option<(header::HeaderName, &'static str)>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    pub error_code: u16,
    pub message: String,
    pub errors: Vec<String>,
}

/// The lines of `errors` that concern a cluster start with `cluster <id>: `.
pub fn cluster_line(cluster: &str, text: impl std::fmt::Display) -> String {
    format!("cluster {cluster}: {text}")
}

impl ApiError {
    fn new(status: StatusCode, code: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            errors: Vec::new(),
            header: None,
        }
    }

    pub fn with_errors(mut self, errors: Vec<String>) -> Self {
        self.errors = errors;
        self
    }

    pub fn no_such_path(path: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, 4004, "No such path").with_errors(vec![format!(
            "{path} is not an endpoint of the monitoring API; see /openapi.json"
        )])
    }

    pub fn method_not_allowed(allow: &'static str) -> Self {
        let mut error = Self::new(StatusCode::METHOD_NOT_ALLOWED, 4005, "Method not allowed")
            .with_errors(vec![format!("this path takes {allow}")]);
        error.header = Some((header::ALLOW, allow));
        error
    }

    /// A 405 of a route whose `Allow` axum fills in.
    pub fn method_not_allowed_here() -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, 4005, "Method not allowed").with_errors(vec![
            "this path does not take that method; see Allow".into(),
        ])
    }

    pub fn bad_parameter(what: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, 4001, "Malformed parameter")
            .with_errors(vec![what.into()])
    }

    pub fn job_not_found(errors: Vec<String>) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            4006,
            "Job with that name is not found",
        )
        .with_errors(errors)
    }

    pub fn ambiguous(cluster_ids: Vec<String>) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            4007,
            "Job with that name is on more than one cluster; ask under /clusters/{cluster}/",
        )
        .with_errors(cluster_ids)
    }

    pub fn already_terminal(state: &str) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            4008,
            "Job is already in a terminal state",
        )
        .with_errors(vec![format!("the job is {state}")])
    }

    pub fn no_such_cluster(id: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, 4009, "No cluster with that id").with_errors(vec![
            format!("no cluster {id:?} is known; GET /clusters lists them"),
        ])
    }

    pub fn unauthenticated() -> Self {
        let mut error = Self::new(StatusCode::UNAUTHORIZED, 4010, "Stop needs credentials")
            .with_errors(vec!["send Authorization: Bearer <token>".into()]);
        error.header = Some((header::WWW_AUTHENTICATE, "Bearer"));
        error
    }

    pub fn unauthenticated_because(why: String) -> Self {
        let mut error = Self::unauthenticated();
        error.errors = vec![why];
        error
    }

    pub fn forbidden(why: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, 4010, "Stop is not allowed").with_errors(vec![why.into()])
    }

    pub fn flink_unavailable(cluster: &str, why: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::BAD_GATEWAY,
            5005,
            "Flink cluster is unreachable or answered with an error",
        )
        .with_errors(vec![cluster_line(cluster, why)])
    }

    pub fn internal(why: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, 5000, "Internal error")
            .with_errors(vec![why.into()])
    }

    /// A request the server will not read: URI or headers too large, an unexpected body.
    pub fn refused_request(status: StatusCode, why: impl Into<String>) -> Self {
        Self::new(status, 4001, "Malformed request").with_errors(vec![why.into()])
    }

    pub fn overloaded(limit: usize) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            5000,
            "Too many requests in flight",
        )
        .with_errors(vec![format!(
            "more than {limit} requests are being served; retry shortly"
        )])
    }

    pub fn timed_out(after: std::time::Duration) -> Self {
        Self::new(
            StatusCode::GATEWAY_TIMEOUT,
            5000,
            "The request took too long",
        )
        .with_errors(vec![format!("no answer could be given within {after:?}")])
    }

    pub fn not_ready(errors: Vec<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            5000,
            "Not ready: start-up not complete",
        )
        .with_errors(errors)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error_code: self.code,
            message: self.message,
            errors: self.errors,
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some((name, value)) = self.header {
            response
                .headers_mut()
                .insert(name, HeaderValue::from_static(value));
        }
        response
    }
}
