//! The endpoints the API serves, read back from the OpenAPI document its routes made: a
//! listing for tests and tools, not a source of routing (routes are registered once, in
//! `monitoring.rs` and `service.rs`).

use std::sync::LazyLock;

use utoipa::openapi::path::PathItem;

use super::openapi::{IN_CLUSTER, document, is_in_cluster};
use super::registration::interned;

/// One endpoint. In its paths, `{uuid}` (a job name) and `{cluster}` (a cluster id) are
/// path parameters; each is served with and without its trailing slash.
#[derive(Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// Where it is served at the root.
    pub path: &'static str,
    /// Where it is served again for one cluster: `/clusters/{cluster}` + `path`.
    pub in_cluster: Option<&'static str>,
    pub methods: Methods,
}

impl Endpoint {
    /// Its paths: the root's, then the one under a cluster if it has one.
    pub fn patterns(&self) -> impl Iterator<Item = &'static str> + use<> {
        std::iter::once(self.path).chain(self.in_cluster)
    }

    /// Whether its path names a job.
    pub fn names_a_job(&self) -> bool {
        self.path.contains("{uuid}")
    }
}

/// The methods an endpoint documents, lowercase (HEAD, taken by reads, goes without saying).
#[derive(Debug, PartialEq, Eq)]
pub struct Methods(Vec<&'static str>);

impl Methods {
    pub fn documented(&self) -> &[&'static str] {
        &self.0
    }
}

/// Every endpoint, in the document's order.
pub const ENDPOINTS: Endpoints = Endpoints;

/// The list behind [`ENDPOINTS`], built on first use.
#[derive(Debug, Clone, Copy)]
pub struct Endpoints;

impl Endpoints {
    pub fn iter(self) -> std::slice::Iter<'static, Endpoint> {
        static LISTED: LazyLock<Vec<Endpoint>> = LazyLock::new(listed);
        LISTED.iter()
    }
}

impl IntoIterator for Endpoints {
    type Item = &'static Endpoint;
    type IntoIter = std::slice::Iter<'static, Endpoint>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

fn listed() -> Vec<Endpoint> {
    let paths = document().paths.paths;
    paths
        .iter()
        .filter(|(path, _)| !is_in_cluster(path))
        .map(|(path, item)| {
            let in_cluster = format!("{IN_CLUSTER}{path}");
            Endpoint {
                path: interned(path),
                in_cluster: paths
                    .contains_key(&in_cluster)
                    .then(|| interned(&in_cluster)),
                methods: Methods(documented(item)),
            }
        })
        .collect()
}

fn documented(item: &PathItem) -> Vec<&'static str> {
    [
        ("get", &item.get),
        ("post", &item.post),
        ("put", &item.put),
        ("patch", &item.patch),
        ("delete", &item.delete),
        ("options", &item.options),
        ("trace", &item.trace),
    ]
    .into_iter()
    .filter(|(_, operation)| operation.is_some())
    .map(|(method, _)| method)
    .collect()
}
