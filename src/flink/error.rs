use std::time::Duration;

/// A failed call to a Flink JobManager's REST API. Every variant names the URL (with any
/// credentials removed) so a user can tell which cluster and endpoint failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FlinkError {
    #[error("failed to connect to {url}: {reason}")]
    Connect { url: String, reason: String },

    #[error("no answer from {url} within {timeout:?}")]
    Timeout { url: String, timeout: Duration },

    #[error("request to {url} failed: {reason}")]
    Request { url: String, reason: String },

    #[error("{url} answered HTTP {status}: {message}")]
    Status {
        url: String,
        status: u16,
        message: String,
    },

    /// A 3xx: never followed, for any call (a JobManager must not send a request, or
    /// its credentials, anywhere else).
    #[error(
        "{url} answered HTTP {status} redirecting to {location}; redirects are not followed: point flink-monitor at the JobManager's own URL"
    )]
    Redirect {
        url: String,
        status: u16,
        location: String,
    },

    #[error(
        "{url} answered more than {limit} bytes; raise --max-response-bytes if this is expected"
    )]
    TooLarge { url: String, limit: usize },

    #[error("{url} answered a body that is not the expected JSON: {reason}")]
    Decode { url: String, reason: String },
}

impl FlinkError {
    /// HTTP status Flink answered with, if it answered at all.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// A stable, bounded label for metrics.
    pub fn category(&self) -> &'static str {
        match self {
            Self::Connect { .. } => "connect",
            Self::Timeout { .. } => "timeout",
            Self::Request { .. } => "request",
            Self::Status { .. } => "status",
            Self::Redirect { .. } => "redirect",
            Self::TooLarge { .. } => "too_large",
            Self::Decode { .. } => "decode",
        }
    }
}
