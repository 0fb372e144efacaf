//! The rules every call to a JobManager follows, whichever transport carries it.

use std::time::Duration;

use bytes::Bytes;
use http::HeaderMap;
use http::header::{CONNECTION, CONTENT_LENGTH, LOCATION, TRANSFER_ENCODING};

/// How long opening a connection may take, for every transport.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// The most a response head may take in hyper's read buffer. A JobManager's heads are a
/// few hundred bytes; the buffer (allocated per exchange) never grows past this.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;

/// At most this much of a `Location` is repeated in an error.
const LOCATION_EXCERPT: usize = 200;

/// Why an exchange gave no answer; the caller names the cluster and URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    #[error("{0}")]
    Connect(String),
    #[error("{0}")]
    Broken(String),
    /// Head, body, chunk extensions and trailers together passed the limit.
    #[error("the answer is larger than the limit")]
    TooLarge,
}

/// A whole answer: its status, where a redirect pointed, and the body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    /// The `Location` of a 3xx, bounded and printable; never followed.
    pub location: Option<String>,
    pub body: Bytes,
}

impl Answer {
    pub fn new(status: u16, headers: &HeaderMap, body: Bytes) -> Self {
        let location = is_redirect(status).then(|| shown_location(headers));
        Self {
            status,
            location,
            body,
        }
    }
}

/// A status that asks the client to go elsewhere (304 is not: it has no Location).
pub fn is_redirect(status: u16) -> bool {
    (300..400).contains(&status) && status != 304
}

/// The `Location` as text fit for an error: lossy, control characters escaped, bounded.
fn shown_location(headers: &HeaderMap) -> String {
    let Some(value) = headers.get(LOCATION) else {
        return "(no Location header)".into();
    };
    let text = String::from_utf8_lossy(value.as_bytes());
    let mut shown: String = text.chars().flat_map(char::escape_default).collect();
    if shown.len() > LOCATION_EXCERPT {
        let mut end = LOCATION_EXCERPT;
        while !shown.is_char_boundary(end) {
            end -= 1;
        }
        shown.truncate(end);
        shown.push_str("...");
    }
    shown
}

/// Whether the connection may carry another request after this answer: HTTP/1.1, no
/// `close` among the `Connection` tokens, and not both `Transfer-Encoding` and
/// `Content-Length` (RFC 9112 6.3: such an answer may be a smuggling attempt; close).
pub fn allows_reuse(version: http::Version, headers: &HeaderMap) -> bool {
    if version != http::Version::HTTP_11 {
        return false;
    }
    if headers.contains_key(TRANSFER_ENCODING) && headers.contains_key(CONTENT_LENGTH) {
        return false;
    }
    !headers.get_all(CONNECTION).iter().any(|value| {
        value
            .as_bytes()
            .split(|b| *b == b',')
            .any(|token| token.trim_ascii().eq_ignore_ascii_case(b"close"))
    })
}

/// A declared length over `limit`: refused before the body is read.
pub fn declared_too_large(headers: &HeaderMap, limit: usize) -> bool {
    headers
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.trim().parse::<u64>().ok())
        .is_some_and(|len| len > limit as u64)
}

/// `error` and its causes, outermost first.
pub fn causes<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(error), |cause| cause.source())
}

/// The innermost causes say what really happened ("Connection refused"); the outer
/// message only that sending failed.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in causes(error) {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ")
}
