//! How one handler becomes routes: [`Serve::serve`] takes what utoipa-axum's `routes!` made
//! of a handler and its `#[utoipa::path]` (the path, the methods, the OpenAPI entry) and
//! adds the rules every endpoint of the contract follows, so a handler states none of them:
//! - the trailing slash is optional: the path is served with and without it (only the
//!   documented spelling is in the OpenAPI document);
//! - a method the path does not take is 405 / 4005 with `Allow`; HEAD is taken where GET is
//!   the only method (a read), and refused elsewhere (stop changes the world);
//! - no endpoint takes a request body (400 / 4001), checked after the method.

use std::collections::BTreeSet;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use axum::http::Method;
use axum::middleware;
use axum::routing::MethodRouter;
use utoipa::openapi::path::{PathItem, Paths};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};

use super::AppState;
use super::error::ApiError;
use super::layers::refuse_body;
use super::openapi::operations;

/// The API's routes with their OpenAPI entries.
pub(super) type Api = OpenApiRouter<Arc<AppState>>;

pub(super) trait Serve {
    /// Serves `routes!(handler)` by the contract's rules (see the module).
    fn serve(self, routes: UtoipaMethodRouter<Arc<AppState>>) -> Self;

    /// Serves `routes!(handler)` at `path` instead of its own: another spelling of the same
    /// endpoint, documented there as the operation `operation_id`.
    fn serve_also_at(
        self,
        path: &str,
        operation_id: &str,
        routes: UtoipaMethodRouter<Arc<AppState>>,
    ) -> Self;
}

impl Serve for Api {
    fn serve(self, (schemas, paths, method_router): UtoipaMethodRouter<Arc<AppState>>) -> Self {
        let mut api = self;
        for (path, item) in paths.paths {
            let methods = documented_methods(&item);
            let served = by_the_rules(method_router.clone(), &methods);
            let mut documented = Paths::new();
            documented.paths.insert(path.clone(), item);
            api = api
                .routes((schemas.clone(), documented, served.clone()))
                .route(&other_spelling(&path), served);
        }
        api
    }

    fn serve_also_at(
        self,
        path: &str,
        operation_id: &str,
        (schemas, paths, method_router): UtoipaMethodRouter<Arc<AppState>>,
    ) -> Self {
        let mut moved = Paths::new();
        for mut item in paths.paths.into_values() {
            for (_, operation) in operations(&mut item) {
                if let Some(operation) = operation {
                    operation.operation_id = Some(operation_id.to_string());
                }
            }
            moved.paths.insert(path.to_string(), item);
        }
        self.serve((schemas, moved, method_router))
    }
}

/// The methods an OpenAPI path item documents, in `Allow` order.
fn documented_methods(item: &PathItem) -> Vec<Method> {
    [
        (Method::GET, &item.get),
        (Method::POST, &item.post),
        (Method::PUT, &item.put),
        (Method::PATCH, &item.patch),
        (Method::DELETE, &item.delete),
        (Method::OPTIONS, &item.options),
        (Method::TRACE, &item.trace),
    ]
    .into_iter()
    .filter(|(_, operation)| operation.is_some())
    .map(|(method, _)| method)
    .collect()
}

/// Whether HEAD is taken: where GET is the only method. axum answers HEAD with the GET
/// handler wherever there is one, so elsewhere HEAD is refused explicitly.
fn takes_head(methods: &[Method]) -> bool {
    methods == [Method::GET]
}

/// The `Allow` header of a 405: "GET, HEAD" for a read, else the methods documented.
fn allow_header(methods: &[Method]) -> String {
    let mut names: Vec<&str> = methods.iter().map(Method::as_str).collect();
    if takes_head(methods) {
        names.push("HEAD");
    }
    names.join(", ")
}

fn by_the_rules(
    handlers: MethodRouter<Arc<AppState>>,
    methods: &[Method],
) -> MethodRouter<Arc<AppState>> {
    let allow = interned(&allow_header(methods));
    let not_allowed = move || async move { ApiError::method_not_allowed(allow) };
    // The body check wraps the handlers only, not the 405s added after it.
    let handlers = handlers.route_layer(middleware::from_fn(refuse_body));
    let handlers = if takes_head(methods) {
        handlers
    } else {
        handlers.head(not_allowed)
    };
    handlers.fallback(not_allowed)
}

/// `/a/b/` for `/a/b`, and `/a/b` for `/a/b/`.
pub(super) fn other_spelling(path: &str) -> String {
    match path.strip_suffix('/') {
        Some(trimmed) if !trimmed.is_empty() => trimmed.to_string(),
        _ => format!("{path}/"),
    }
}

/// A string that lives as long as the process, kept once however many routers are built:
/// route patterns and `Allow` values, a few dozen in all.
pub(super) fn interned(text: &str) -> &'static str {
    static KEPT: LazyLock<Mutex<BTreeSet<&'static str>>> = LazyLock::new(Mutex::default);
    let mut kept = KEPT.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(kept) = kept.get(text) {
        return kept;
    }
    let leaked: &'static str = Box::leak(text.into());
    kept.insert(leaked);
    leaked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_allows_head_and_stop_does_not() {
        assert_eq!(allow_header(&[Method::GET]), "GET, HEAD");
        assert_eq!(allow_header(&[Method::GET, Method::POST]), "GET, POST");
        assert!(!takes_head(&[Method::GET, Method::POST]));
    }

    #[test]
    fn the_other_spelling_adds_or_drops_one_trailing_slash() {
        assert_eq!(other_spelling("/job/{uuid}/status/"), "/job/{uuid}/status");
        assert_eq!(other_spelling("/healthz"), "/healthz/");
    }

    #[test]
    fn interned_strings_are_kept_once() {
        let a = interned(&String::from("/x/{uuid}/"));
        let b = interned(&String::from("/x/{uuid}/"));
        assert!(std::ptr::eq(a, b));
    }
}
