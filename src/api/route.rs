//! Path parsing. The monitoring API needs exact control over its error order (path, then
//! method, then malformed parameters) and over odd uuids (empty, `%2F`, invalid UTF-8), so
//! paths are matched here on their raw, still percent-encoded segments.

use percent_encoding::percent_decode_str;

use super::error::ApiError;

/// The longest uuid accepted, in bytes after percent-decoding.
pub const MAX_UUID_BYTES: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint<'a> {
    Status(&'a str),
    StatusAndMetrics(&'a str),
    Stop(&'a str),
    Exceptions(&'a str),
    /// The singular spelling `job/{uuid}/exceptions/` TSP's code served.
    ExceptionsSingular(&'a str),
    /// `job/{uuid}/health/`, beyond TSP.
    Health(&'a str),
    Overview,
    Version,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'a> {
    Healthz,
    Readyz,
    Metrics,
    OpenApi,
    Clusters,
    Cluster(&'a str),
    /// A monitoring endpoint at the root (`cluster` None) or under `/clusters/{cluster}/`.
    Monitoring {
        cluster: Option<&'a str>,
        endpoint: Endpoint<'a>,
    },
}

impl<'a> Route<'a> {
    /// Matches a raw path; the trailing slash is optional everywhere.
    pub fn parse(path: &'a str) -> Result<Self, ApiError> {
        let trimmed = path.strip_prefix('/').unwrap_or(path);
        let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
        let segments: Vec<&str> = trimmed.split('/').collect();
        let route = match segments.as_slice() {
            ["healthz"] => Some(Route::Healthz),
            ["readyz"] => Some(Route::Readyz),
            ["metrics"] => Some(Route::Metrics),
            ["openapi.json"] => Some(Route::OpenApi),
            ["clusters"] => Some(Route::Clusters),
            ["clusters", id] if !id.is_empty() => Some(Route::Cluster(id)),
            ["clusters", id, rest @ ..] if !id.is_empty() => {
                Endpoint::parse(rest).map(|endpoint| Route::Monitoring {
                    cluster: Some(id),
                    endpoint,
                })
            }
            rest => Endpoint::parse(rest).map(|endpoint| Route::Monitoring {
                cluster: None,
                endpoint,
            }),
        };
        route.ok_or_else(|| ApiError::no_such_path(path))
    }

    /// A bounded label for metrics and logs.
    pub fn pattern(&self) -> &'static str {
        use Endpoint::*;
        match self {
            Route::Healthz => "/healthz",
            Route::Readyz => "/readyz",
            Route::Metrics => "/metrics",
            Route::OpenApi => "/openapi.json",
            Route::Clusters => "/clusters",
            Route::Cluster(_) => "/clusters/{cluster}",
            Route::Monitoring {
                cluster: None,
                endpoint,
            } => match endpoint {
                Status(_) => "/job/{uuid}/status/",
                StatusAndMetrics(_) => "/job/{uuid}/statusAndMetrics/",
                Stop(_) => "/job/{uuid}/stop/",
                Exceptions(_) => "/jobs/{uuid}/exceptions/",
                ExceptionsSingular(_) => "/job/{uuid}/exceptions/",
                Health(_) => "/job/{uuid}/health/",
                Overview => "/jobs/overview/",
                Version => "/metainfo/getVersion/",
            },
            Route::Monitoring {
                cluster: Some(_),
                endpoint,
            } => match endpoint {
                Status(_) => "/clusters/{cluster}/job/{uuid}/status/",
                StatusAndMetrics(_) => "/clusters/{cluster}/job/{uuid}/statusAndMetrics/",
                Stop(_) => "/clusters/{cluster}/job/{uuid}/stop/",
                Exceptions(_) => "/clusters/{cluster}/jobs/{uuid}/exceptions/",
                ExceptionsSingular(_) => "/clusters/{cluster}/job/{uuid}/exceptions/",
                Health(_) => "/clusters/{cluster}/job/{uuid}/health/",
                Overview => "/clusters/{cluster}/jobs/overview/",
                Version => "/clusters/{cluster}/metainfo/getVersion/",
            },
        }
    }

    /// Stop changes the world and takes GET (as TSP did) and POST, but not HEAD.
    pub fn allowed_methods(&self) -> &'static str {
        match self {
            Route::Monitoring {
                endpoint: Endpoint::Stop(_),
                ..
            } => "GET, POST",
            _ => "GET, HEAD",
        }
    }

    pub fn allows(&self, method: &axum::http::Method) -> bool {
        use axum::http::Method;
        match self.allowed_methods() {
            "GET, POST" => method == Method::GET || method == Method::POST,
            _ => method == Method::GET || method == Method::HEAD,
        }
    }
}

impl<'a> Endpoint<'a> {
    fn parse(segments: &[&'a str]) -> Option<Self> {
        Some(match segments {
            ["job", uuid, "status"] => Endpoint::Status(uuid),
            ["job", uuid, "statusAndMetrics"] => Endpoint::StatusAndMetrics(uuid),
            ["job", uuid, "stop"] => Endpoint::Stop(uuid),
            ["jobs", "overview"] => Endpoint::Overview,
            ["jobs", uuid, "exceptions"] => Endpoint::Exceptions(uuid),
            ["job", uuid, "exceptions"] => Endpoint::ExceptionsSingular(uuid),
            ["job", uuid, "health"] => Endpoint::Health(uuid),
            ["metainfo", "getVersion"] => Endpoint::Version,
            _ => return None,
        })
    }

    /// The raw uuid segment, for endpoints that take one.
    pub fn raw_uuid(&self) -> Option<&'a str> {
        match *self {
            Endpoint::Status(u)
            | Endpoint::StatusAndMetrics(u)
            | Endpoint::Stop(u)
            | Endpoint::Exceptions(u)
            | Endpoint::ExceptionsSingular(u)
            | Endpoint::Health(u) => Some(u),
            Endpoint::Overview | Endpoint::Version => None,
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

    #[test]
    fn both_spellings_with_and_without_trailing_slash() {
        for path in ["/job/a/status", "/job/a/status/"] {
            assert_eq!(
                Route::parse(path).unwrap(),
                Route::Monitoring {
                    cluster: None,
                    endpoint: Endpoint::Status("a")
                }
            );
        }
        assert_eq!(
            Route::parse("/clusters/ns.flink/jobs/x%20y/exceptions").unwrap(),
            Route::Monitoring {
                cluster: Some("ns.flink"),
                endpoint: Endpoint::Exceptions("x%20y")
            }
        );
        assert_eq!(
            Route::parse("/jobs/overview").unwrap(),
            Route::Monitoring {
                cluster: None,
                endpoint: Endpoint::Overview
            }
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
            "/x",
        ] {
            assert_eq!(Route::parse(path).unwrap_err().code, 4004, "{path}");
        }
    }

    #[test]
    fn an_empty_uuid_segment_still_matches_so_it_can_be_4001() {
        let route = Route::parse("/job//status/").unwrap();
        let Route::Monitoring { endpoint, .. } = route else {
            panic!("{route:?}")
        };
        assert_eq!(
            decode_param(endpoint.raw_uuid().unwrap(), "uuid")
                .unwrap_err()
                .code,
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
