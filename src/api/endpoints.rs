//! Every endpoint the API serves, once. Routing matches paths against these patterns and
//! labels requests with them, the OpenAPI document is built and checked against them, and
//! the tests walk them.

use axum::http::Method;

/// Which handler answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Healthz,
    Readyz,
    Metrics,
    OpenApi,
    Clusters,
    Cluster,
    /// Served at the root (across clusters) and under `/clusters/{cluster}/`.
    Monitoring(Monitoring),
}

/// The monitoring endpoints: the contract's (TSP's) and `health`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Monitoring {
    Status,
    StatusAndMetrics,
    Stop,
    Exceptions,
    /// The singular spelling `job/{uuid}/exceptions/` TSP's code served.
    ExceptionsSingular,
    /// `job/{uuid}/health/`, beyond TSP.
    Health,
    Overview,
    Version,
}

/// The methods an endpoint takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Methods {
    /// GET, and HEAD for its headers.
    Read,
    /// Stop changes the world and takes GET (as TSP did) and POST, but not HEAD.
    GetOrPost,
}

impl Methods {
    /// The `Allow` header of a 405.
    pub fn allow_header(self) -> &'static str {
        match self {
            Methods::Read => "GET, HEAD",
            Methods::GetOrPost => "GET, POST",
        }
    }

    pub fn allows(self, method: &Method) -> bool {
        match self {
            Methods::Read => method == Method::GET || method == Method::HEAD,
            Methods::GetOrPost => method == Method::GET || method == Method::POST,
        }
    }

    /// The operations OpenAPI lists, lowercase (HEAD goes without saying).
    pub fn documented(self) -> &'static [&'static str] {
        match self {
            Methods::Read => &["get"],
            Methods::GetOrPost => &["get", "post"],
        }
    }
}

/// One endpoint. In a pattern, `{uuid}` (a job name) and `{cluster}` (a cluster id) are
/// path parameters; the trailing slash is optional when a path is matched.
#[derive(Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub op: Op,
    /// Where it is served at the root.
    pub path: &'static str,
    /// Where it is served again for one cluster: `/clusters/{cluster}` + `path`.
    pub in_cluster: Option<&'static str>,
    pub methods: Methods,
}

impl Endpoint {
    /// Its patterns: the root's, then the one under a cluster if it has one.
    pub fn patterns(&self) -> impl Iterator<Item = &'static str> {
        std::iter::once(self.path).chain(self.in_cluster)
    }

    /// Whether its path names a job.
    pub fn names_a_job(&self) -> bool {
        self.path.contains("{uuid}")
    }
}

/// A service endpoint: served at the root only.
macro_rules! service {
    ($op:ident, $path:literal) => {
        Endpoint {
            op: Op::$op,
            path: $path,
            in_cluster: None,
            methods: Methods::Read,
        }
    };
}

/// A monitoring endpoint: served at the root and under `/clusters/{cluster}`.
macro_rules! monitoring {
    ($op:ident, $path:literal, $methods:ident) => {
        Endpoint {
            op: Op::Monitoring(Monitoring::$op),
            path: $path,
            in_cluster: Some(concat!("/clusters/{cluster}", $path)),
            methods: Methods::$methods,
        }
    };
}

/// The whole API. Patterns must not overlap: a path matches at most one.
pub const ENDPOINTS: &[Endpoint] = &[
    service!(Healthz, "/healthz"),
    service!(Readyz, "/readyz"),
    service!(Metrics, "/metrics"),
    service!(OpenApi, "/openapi.json"),
    service!(Clusters, "/clusters"),
    service!(Cluster, "/clusters/{cluster}"),
    monitoring!(Status, "/job/{uuid}/status/", Read),
    monitoring!(StatusAndMetrics, "/job/{uuid}/statusAndMetrics/", Read),
    monitoring!(Stop, "/job/{uuid}/stop/", GetOrPost),
    monitoring!(Overview, "/jobs/overview/", Read),
    monitoring!(Exceptions, "/jobs/{uuid}/exceptions/", Read),
    monitoring!(ExceptionsSingular, "/job/{uuid}/exceptions/", Read),
    monitoring!(Health, "/job/{uuid}/health/", Read),
    monitoring!(Version, "/metainfo/getVersion/", Read),
];

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::api::openapi::{document, operations};
    use crate::api::route::Route;

    /// A path that should reach the pattern.
    fn example(pattern: &str) -> String {
        pattern
            .replace("{uuid}", "a-job")
            .replace("{cluster}", "ns.flink")
    }

    #[test]
    fn every_pattern_routes_to_its_endpoint_and_is_its_label() {
        for endpoint in ENDPOINTS {
            for pattern in endpoint.patterns() {
                let path = example(pattern);
                let slashed = format!("{}/", path.trim_end_matches('/'));
                for path in [path.trim_end_matches('/'), slashed.as_str()] {
                    let route = Route::parse(path).unwrap_or_else(|e| panic!("{path}: {e:?}"));
                    assert_eq!(route.endpoint, endpoint, "{path}");
                    assert_eq!(route.pattern(), pattern, "{path}");
                    assert_eq!(route.allowed_methods(), endpoint.methods.allow_header());
                    let in_cluster = pattern.contains("{cluster}");
                    assert_eq!(route.cluster, in_cluster.then_some("ns.flink"), "{path}");
                    let uuid = pattern.contains("{uuid}");
                    assert_eq!(route.uuid, uuid.then_some("a-job"), "{path}");
                }
            }
        }
    }

    #[test]
    fn patterns_are_unique() {
        let mut seen = BTreeSet::new();
        for pattern in ENDPOINTS.iter().flat_map(Endpoint::patterns) {
            assert!(seen.insert(pattern), "{pattern} is listed twice");
        }
    }

    #[test]
    fn the_openapi_document_has_the_table_s_paths_and_methods_and_no_other() {
        let mut doc = document();
        let mut undocumented = Vec::new();
        for endpoint in ENDPOINTS {
            for pattern in endpoint.patterns() {
                let Some(mut item) = doc.paths.paths.remove(pattern) else {
                    undocumented.push(pattern);
                    continue;
                };
                let methods: Vec<&str> = operations(&mut item)
                    .into_iter()
                    .filter(|(_, operation)| operation.is_some())
                    .map(|(method, _)| method)
                    .collect();
                assert_eq!(methods, endpoint.methods.documented(), "{pattern}");
            }
        }
        let extra: Vec<&str> = doc.paths.paths.keys().map(String::as_str).collect();
        assert_eq!(
            (undocumented, extra),
            (vec![], vec![]),
            "(in the table but not documented, documented but not in the table)"
        );
    }
}
