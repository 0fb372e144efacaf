//! Path parsing. The monitoring API needs exact control over its error order (path, then
//! method, then malformed parameters) and over odd uuids (empty, `%2F`, invalid UTF-8), so
//! paths are matched here against the endpoint table's patterns, on their raw, still
//! percent-encoded segments.

use percent_encoding::percent_decode_str;

use super::endpoints::{ENDPOINTS, Endpoint};
use super::error::ApiError;

/// The longest uuid accepted, in bytes after percent-decoding.
pub const MAX_UUID_BYTES: usize = 1024;

/// A matched path: its endpoint, the pattern it matched and the raw (still
/// percent-encoded) parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route<'a> {
    pub endpoint: &'static Endpoint,
    pattern: &'static str,
    /// `{cluster}`: under `/clusters/{cluster}/`, or of `/clusters/{cluster}` itself.
    pub cluster: Option<&'a str>,
    /// `{uuid}`: the job name, for endpoints that take one.
    pub uuid: Option<&'a str>,
}

impl<'a> Route<'a> {
    /// Matches a raw path against the endpoint table; the trailing slash is optional.
    pub fn parse(path: &'a str) -> Result<Self, ApiError> {
        let trimmed = path.strip_prefix('/').unwrap_or(path);
        let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
        ENDPOINTS
            .iter()
            .flat_map(|endpoint| endpoint.patterns().map(move |pattern| (endpoint, pattern)))
            .find_map(|(endpoint, pattern)| {
                let Captured { cluster, uuid } = capture(pattern, trimmed)?;
                Some(Route {
                    endpoint,
                    pattern,
                    cluster,
                    uuid,
                })
            })
            .ok_or_else(|| ApiError::no_such_path(path))
    }

    /// The pattern matched: a bounded label for metrics and logs.
    pub fn pattern(&self) -> &'static str {
        self.pattern
    }

    /// The `Allow` header of a 405.
    pub fn allowed_methods(&self) -> &'static str {
        self.endpoint.methods.allow_header()
    }

    pub fn allows(&self, method: &axum::http::Method) -> bool {
        self.endpoint.methods.allows(method)
    }
}

/// The raw parameters a path gave for a pattern's `{cluster}` and `{uuid}`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Captured<'a> {
    pub cluster: Option<&'a str>,
    pub uuid: Option<&'a str>,
}

/// Matches the segments of a path (slashes trimmed at both ends) against a pattern.
/// `{cluster}` must not be empty; `{uuid}` may be, to be refused as malformed (4001)
/// rather than as an unknown path.
fn capture<'a>(pattern: &str, trimmed_path: &'a str) -> Option<Captured<'a>> {
    let mut wanted = pattern.trim_matches('/').split('/');
    let mut given = trimmed_path.split('/');
    let mut captured = Captured::default();
    loop {
        match (wanted.next(), given.next()) {
            (None, None) => return Some(captured),
            (Some("{cluster}"), Some(segment)) if !segment.is_empty() => {
                captured.cluster = Some(segment)
            }
            (Some("{uuid}"), Some(segment)) => captured.uuid = Some(segment),
            (Some(literal), Some(segment)) if literal == segment => {}
            _ => return None,
        }
    }
}

/// Percent-decodes a path parameter; it must be non-empty UTF-8 of at most 1024 bytes.
pub fn decode_param(raw: &str, what: &str) -> Result<String, ApiError> {
    let bytes: Vec<u8> = percent_decode_str(raw).collect();
    if bytes.is_empty() {
        return Err(ApiError::bad_parameter(format!("{what} must not be empty")));
    }
    if bytes.len() > MAX_UUID_BYTES {
        return Err(ApiError::bad_parameter(format!(
            "{what} is {} bytes long; at most {MAX_UUID_BYTES} are allowed",
            bytes.len()
        )));
    }
    String::from_utf8(bytes).map_err(|_| {
        ApiError::bad_parameter(format!("{what} is not valid UTF-8 once percent-decoded"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::endpoints::{Monitoring, Op};

    #[test]
    fn both_spellings_with_and_without_trailing_slash() {
        for path in ["/job/a/status", "/job/a/status/"] {
            let route = Route::parse(path).unwrap();
            assert_eq!(
                (route.endpoint.op, route.cluster, route.uuid),
                (Op::Monitoring(Monitoring::Status), None, Some("a"))
            );
        }
        let route = Route::parse("/clusters/ns.flink/jobs/x%20y/exceptions").unwrap();
        assert_eq!(
            (route.endpoint.op, route.cluster, route.uuid),
            (
                Op::Monitoring(Monitoring::Exceptions),
                Some("ns.flink"),
                Some("x%20y")
            )
        );
        assert_eq!(
            route.pattern(),
            "/clusters/{cluster}/jobs/{uuid}/exceptions/"
        );
        let route = Route::parse("/jobs/overview").unwrap();
        assert_eq!(
            (route.endpoint.op, route.cluster, route.uuid),
            (Op::Monitoring(Monitoring::Overview), None, None)
        );
        let route = Route::parse("/clusters/overview").unwrap();
        assert_eq!(
            (route.endpoint.op, route.cluster),
            (Op::Cluster, Some("overview"))
        );
    }

    #[test]
    fn unknown_paths_are_4004() {
        for path in [
            "/",
            "/job/a",
            "/job/a/status/extra",
            "/jobs//overview",
            "/clusters//jobs/overview",
            "/clusters//",
            "/clusters/a/clusters",
            "/clusters/a/healthz",
            "/clusters/a/clusters/b/jobs/overview",
            "//job/a/status",
            "/x",
        ] {
            assert_eq!(Route::parse(path).unwrap_err().code, 4004, "{path}");
        }
    }

    #[test]
    fn an_empty_uuid_segment_still_matches_so_it_can_be_4001() {
        let route = Route::parse("/job//status/").unwrap();
        assert_eq!(route.endpoint.op, Op::Monitoring(Monitoring::Status));
        assert_eq!(
            decode_param(route.uuid.unwrap(), "uuid").unwrap_err().code,
            4001
        );
    }

    #[test]
    fn params_are_decoded_and_checked() {
        assert_eq!(decode_param("a%2Fb", "uuid").unwrap(), "a/b");
        assert_eq!(decode_param("%D0%B7%20x", "uuid").unwrap(), "з x");
        assert_eq!(decode_param("%FF", "uuid").unwrap_err().code, 4001);
        assert_eq!(
            decode_param(&"a".repeat(1025), "uuid").unwrap_err().code,
            4001
        );
        assert!(decode_param(&"a".repeat(1024), "uuid").is_ok());
    }
}
