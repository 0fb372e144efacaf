//! Path parsing. The monitoring API needs exact control over its error order (path, then
//! method, then malformed parameters) and over odd uuids (empty, `%2F`, invalid UTF-8), so
//! paths are matched here against the endpoint table's patterns, on their raw, still
//! percent-encoded segments.
//!
//! Matching runs on every request: the patterns are split once, grouped by their number of
//! segments, so a path is only compared with the few patterns of its own length.

use std::sync::LazyLock;

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
        // As many as `split('/')` yields, empty segments included.
        let length = trimmed.bytes().filter(|&b| b == b'/').count() + 1;
        PATTERNS_BY_LENGTH
            .get(length)
            .into_iter()
            .flatten()
            .find_map(|split| {
                let Captured { cluster, uuid } = capture(&split.segments, trimmed)?;
                Some(Route {
                    endpoint: split.endpoint,
                    pattern: split.pattern,
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

/// One segment of a pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Segment {
    Literal(&'static str),
    Cluster,
    Uuid,
}

/// A pattern of the endpoint table, split into its segments.
#[derive(Debug)]
struct SplitPattern {
    endpoint: &'static Endpoint,
    pattern: &'static str,
    segments: Vec<Segment>,
}

/// The table's patterns, at the index of their number of segments, in table order.
static PATTERNS_BY_LENGTH: LazyLock<Vec<Vec<SplitPattern>>> = LazyLock::new(|| {
    let mut by_length: Vec<Vec<SplitPattern>> = Vec::new();
    for endpoint in ENDPOINTS {
        for pattern in endpoint.patterns() {
            let segments: Vec<Segment> = pattern
                .trim_matches('/')
                .split('/')
                .map(|segment| match segment {
                    "{cluster}" => Segment::Cluster,
                    "{uuid}" => Segment::Uuid,
                    literal => Segment::Literal(literal),
                })
                .collect();
            if by_length.len() <= segments.len() {
                by_length.resize_with(segments.len() + 1, Vec::new);
            }
            by_length[segments.len()].push(SplitPattern {
                endpoint,
                pattern,
                segments,
            });
        }
    }
    by_length
});

/// The raw parameters a path gave for a pattern's `{cluster}` and `{uuid}`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Captured<'a> {
    pub cluster: Option<&'a str>,
    pub uuid: Option<&'a str>,
}

/// Matches the segments of a path (slashes trimmed at both ends) against a pattern's, of
/// which it has as many. `{cluster}` must not be empty; `{uuid}` may be, to be refused as
/// malformed (4001) rather than as an unknown path.
fn capture<'a>(pattern: &[Segment], trimmed_path: &'a str) -> Option<Captured<'a>> {
    let mut captured = Captured::default();
    for (wanted, given) in pattern.iter().zip(trimmed_path.split('/')) {
        match wanted {
            Segment::Cluster if !given.is_empty() => captured.cluster = Some(given),
            Segment::Uuid => captured.uuid = Some(given),
            Segment::Literal(literal) if *literal == given => {}
            _ => return None,
        }
    }
    Some(captured)
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
    use std::collections::BTreeSet;

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

    /// The matcher before patterns were grouped by length: every pattern in turn, split per
    /// request. Grouping must not change which pattern a path reaches, nor its parameters.
    fn parse_pattern_by_pattern(path: &str) -> Option<(&'static str, Option<&str>, Option<&str>)> {
        let trimmed = path.strip_prefix('/').unwrap_or(path);
        let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
        ENDPOINTS
            .iter()
            .flat_map(Endpoint::patterns)
            .find_map(|pattern| {
                let mut wanted = pattern.trim_matches('/').split('/');
                let mut given = trimmed.split('/');
                let (mut cluster, mut uuid) = (None, None);
                loop {
                    match (wanted.next(), given.next()) {
                        (None, None) => return Some((pattern, cluster, uuid)),
                        (Some("{cluster}"), Some(s)) if !s.is_empty() => cluster = Some(s),
                        (Some("{uuid}"), Some(s)) => uuid = Some(s),
                        (Some(literal), Some(s)) if literal == s => {}
                        _ => return None,
                    }
                }
            })
    }

    /// Paths near every pattern: each pattern's own, then with one segment left out,
    /// replaced or added (any literal of the table, a parameter, an empty one), each with
    /// and without a trailing slash and with a doubled leading one.
    fn paths_near_the_patterns() -> Vec<String> {
        let patterns: Vec<Vec<&str>> = ENDPOINTS
            .iter()
            .flat_map(Endpoint::patterns)
            .map(|p| {
                p.trim_matches('/')
                    .split('/')
                    .map(|s| match s {
                        "{uuid}" => "a-job",
                        "{cluster}" => "ns.flink",
                        literal => literal,
                    })
                    .collect()
            })
            .collect();
        let mut words: BTreeSet<&str> = patterns.iter().flatten().copied().collect();
        words.insert("");
        let mut variants: Vec<Vec<&str>> = Vec::new();
        for segments in &patterns {
            variants.push(segments.clone());
            for i in 0..=segments.len() {
                if i < segments.len() {
                    let mut fewer = segments.clone();
                    fewer.remove(i);
                    variants.push(fewer);
                }
                for word in &words {
                    let mut more = segments.clone();
                    more.insert(i, word);
                    variants.push(more);
                    if i < segments.len() {
                        let mut other = segments.clone();
                        other[i] = word;
                        variants.push(other);
                    }
                }
            }
        }
        variants
            .iter()
            .flat_map(|segments| {
                let joined = segments.join("/");
                [
                    format!("/{joined}"),
                    format!("/{joined}/"),
                    format!("//{joined}"),
                ]
            })
            .collect()
    }

    #[test]
    fn grouping_by_length_routes_every_path_as_matching_pattern_by_pattern_did() {
        let paths = paths_near_the_patterns();
        let mut reached = BTreeSet::new();
        for path in &paths {
            let grouped = Route::parse(path).ok();
            if let Some(route) = grouped {
                assert!(
                    route.endpoint.patterns().any(|p| p == route.pattern()),
                    "{path}: {} is not a pattern of its endpoint",
                    route.pattern()
                );
                reached.insert(route.pattern());
            }
            assert_eq!(
                grouped.map(|r| (r.pattern(), r.cluster, r.uuid)),
                parse_pattern_by_pattern(path),
                "{path}"
            );
        }
        // The paths reach every pattern, and some reach none (4004).
        let all: BTreeSet<&str> = ENDPOINTS.iter().flat_map(Endpoint::patterns).collect();
        assert_eq!(reached, all);
        assert!(paths.iter().any(|p| Route::parse(p).is_err()));
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
