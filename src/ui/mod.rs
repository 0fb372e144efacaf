//! The read-only web page at `/ui/`: every cluster and job on one page, a page per job.
//!
//! The assets are embedded in the binary (`assets.rs`), so the page works without any
//! other origin. The page reads two JSON endpoints of flink-monitor's own (not TSP's):
//! `GET /ui/api/jobs` (every job of every cluster, with health; answered whole or as the
//! clusters changed since a token the page holds, 304 when nothing changed) and
//! `GET /ui/api/clusters/{cluster}/jobs/{jid}` (one job: details, metrics, root exception,
//! health). Both read the registry's in-memory state; only the job page's details,
//! metrics and exception go to Flink, through the same short-TTL cache as the API.
//! `GET /ui/api/openapi.json` documents them.
//!
//! The router is its own: it is merged into the API's app in `runtime.rs`, with its
//! security headers and compression; [`redirect_browsers`] sends a browser asking for `/`
//! to `/ui/`.

mod assets;
mod changes;
mod exceptions;
mod flink_ui;
mod handlers;
mod jobs;
pub mod openapi;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use tokio_util::sync::CancellationToken;
use tower_http::compression::CompressionLayer;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::clusters::KnownClusters;

pub use changes::Changes;
pub use exceptions::ExceptionBook;

/// What the page's handlers read.
pub struct UiState {
    pub registry: Arc<KnownClusters>,
    /// How often the page asks for changes.
    pub refresh: Duration,
    pub changes: Changes,
    pub exceptions: ExceptionBook,
}

impl UiState {
    /// Follows the registry from now on: call before the first request is served.
    pub fn new(registry: Arc<KnownClusters>, refresh: Duration) -> Arc<Self> {
        let changes = Changes::new(registry.subscribe());
        Arc::new(Self {
            registry,
            refresh,
            changes,
            exceptions: ExceptionBook::default(),
        })
    }

    /// Notes changed clusters and reads the exceptions of failed jobs until `shutdown`.
    pub fn follow(self: &Arc<Self>, shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
        tokio::spawn(changes::follow(self.clone(), shutdown))
    }
}

/// How often the page asks for changes: often enough that a state change shows within a
/// poll interval and 2 s, never more than once per 250 ms.
pub fn refresh_for(poll_interval: Duration) -> Duration {
    poll_interval
        .min(Duration::from_secs(1))
        .max(Duration::from_millis(250))
}

/// The page's policy: only this origin, no inline script, never framed.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
img-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; \
frame-ancestors 'none'";

/// The page, its assets and its JSON, with security headers and compression.
pub fn router(state: Arc<UiState>) -> Router {
    let headers = [
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            header::HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        ),
        (
            header::HeaderName::from_static("cross-origin-resource-policy"),
            HeaderValue::from_static("same-origin"),
        ),
    ];
    let mut router = Router::new()
        .route("/ui", get(|| async { Redirect::permanent("/ui/") }))
        .route("/ui/", get(assets::index))
        .route("/ui/{asset}", get(assets::asset))
        .route("/ui/api/jobs", get(handlers::jobs))
        .route("/ui/api/clusters/{cluster}/jobs/{jid}", get(handlers::job))
        .route("/ui/api/openapi.json", get(handlers::openapi))
        .with_state(state)
        .layer(CompressionLayer::new());
    for (name, value) in headers {
        router = router.layer(SetResponseHeaderLayer::overriding(name, value));
    }
    router
}

/// A browser asking for `/` (Accept: text/html) is sent to `/ui/`; API clients at the
/// root, which do not ask for HTML, get what they got before.
pub async fn redirect_browsers(request: Request<Body>, next: Next) -> Response {
    if wants_the_page(&request) {
        return Redirect::to("/ui/").into_response();
    }
    next.run(request).await
}

fn wants_the_page(request: &Request<Body>) -> bool {
    (request.method() == Method::GET || request.method() == Method::HEAD)
        && request.uri().path() == "/"
        && request
            .headers()
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.split(',').any(|t| t.trim().starts_with("text/html")))
}

#[cfg(test)]
mod tests {
    //! The page's router in process: headers, the redirect, assets, and the jobs JSON with its
    //! tokens.

    use std::sync::Arc;
    use std::time::Duration;

    use axum::body::Body;
    use axum::http::{Request, StatusCode, header};
    use http_body_util::BodyExt;
    use serde_json::{Value, json};
    use tower::ServiceExt;

    use super::*;
    use crate::clusters::testing::{add_cluster, quiet_registry, service_cluster};
    use crate::flink::ClientSettings;

    async fn page_with(clusters: Vec<(&str, Value, bool)>) -> (Arc<UiState>, Router) {
        let registry = quiet_registry(ClientSettings::default());
        let state = UiState::new(registry.clone(), Duration::from_secs(1));
        for (name, jobs, reachable) in clusters {
            add_cluster(&registry, service_cluster("team-a", name), jobs, reachable).await;
        }
        (state.clone(), router(state))
    }

    struct Answer {
        status: StatusCode,
        headers: axum::http::HeaderMap,
        body: Vec<u8>,
    }

    impl Answer {
        fn json(&self) -> Value {
            serde_json::from_slice(&self.body).unwrap_or_else(|e| {
                panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body))
            })
        }

        fn header(&self, name: header::HeaderName) -> &str {
            self.headers
                .get(&name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_else(|| panic!("no {name} header"))
        }
    }

    async fn get(app: &Router, path: &str, headers: &[(&str, &str)]) -> Answer {
        let mut request = Request::get(path);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = app
            .clone()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec();
        Answer {
            status,
            headers,
            body,
        }
    }

    fn running(jid: &str, name: &str) -> Value {
        json!({"jid": jid, "name": name, "state": "RUNNING", "start-time": 1000, "end-time": -1})
    }

    #[tokio::test]
    async fn the_page_and_its_assets_are_served_with_security_headers() {
        let (_, app) = page_with(vec![]).await;
        let page = get(&app, "/ui/", &[]).await;
        assert_eq!(page.status, StatusCode::OK);
        assert_eq!(
            page.header(header::CONTENT_TYPE),
            "text/html; charset=utf-8"
        );
        let html = String::from_utf8(page.body.clone()).unwrap();
        assert!(html.contains(r#"<script type="module" src="app.js">"#));
        assert!(!html.contains("<script>"), "no inline script");
        let csp = page.header(header::CONTENT_SECURITY_POLICY);
        assert!(csp.starts_with("default-src 'self'"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(page.header(header::X_CONTENT_TYPE_OPTIONS), "nosniff");
        assert_eq!(page.header(header::REFERRER_POLICY), "no-referrer");
        for (asset, content_type) in [
            ("app.js", "text/javascript; charset=utf-8"),
            ("table.js", "text/javascript; charset=utf-8"),
            ("style.css", "text/css; charset=utf-8"),
            ("favicon.svg", "image/svg+xml"),
        ] {
            let answer = get(&app, &format!("/ui/{asset}"), &[]).await;
            assert_eq!(answer.status, StatusCode::OK, "{asset}");
            assert_eq!(answer.header(header::CONTENT_TYPE), content_type);
            assert_eq!(answer.header(header::X_CONTENT_TYPE_OPTIONS), "nosniff");
            let tag = answer.header(header::ETAG).to_string();
            let again = get(&app, &format!("/ui/{asset}"), &[("if-none-match", &tag)]).await;
            assert_eq!(
                again.status,
                StatusCode::NOT_MODIFIED,
                "{asset} revalidated"
            );
            assert!(again.body.is_empty());
        }
        assert_eq!(
            get(&app, "/ui/nope.js", &[]).await.status,
            StatusCode::NOT_FOUND
        );
        let bare = get(&app, "/ui", &[]).await;
        assert_eq!(bare.header(header::LOCATION), "/ui/");
    }

    #[tokio::test]
    async fn answers_are_compressed_when_the_browser_asks() {
        let (_, app) = page_with(vec![]).await;
        let plain = get(&app, "/ui/app.js", &[]).await;
        assert!(plain.headers.get(header::CONTENT_ENCODING).is_none());
        let zipped = get(&app, "/ui/app.js", &[("accept-encoding", "gzip")]).await;
        assert_eq!(zipped.header(header::CONTENT_ENCODING), "gzip");
        assert!(zipped.body.len() < plain.body.len() / 2);
    }

    #[tokio::test]
    async fn a_browser_at_the_root_is_sent_to_the_page_and_api_clients_are_not() {
        let (_, page) = page_with(vec![]).await;
        let app = Router::new()
            .fallback(|| async { (StatusCode::NOT_FOUND, "the API's own answer") })
            .merge(page)
            .layer(axum::middleware::from_fn(redirect_browsers));
        let browser = get(
            &app,
            "/",
            &[("accept", "text/html,application/xhtml+xml,*/*;q=0.8")],
        )
        .await;
        assert_eq!(browser.status, StatusCode::SEE_OTHER);
        assert_eq!(browser.header(header::LOCATION), "/ui/");
        for accept in [None, Some("application/json"), Some("*/*")] {
            let headers: Vec<(&str, &str)> = accept.map(|a| ("accept", a)).into_iter().collect();
            let client = get(&app, "/", &headers).await;
            assert_eq!(client.status, StatusCode::NOT_FOUND, "{accept:?}");
            assert_eq!(client.body, b"the API's own answer");
        }
        let elsewhere = get(&app, "/jobs/overview/", &[("accept", "text/html")]).await;
        assert_eq!(
            elsewhere.status,
            StatusCode::NOT_FOUND,
            "only / is redirected"
        );
    }

    #[tokio::test]
    async fn every_job_is_listed_with_its_cluster_and_health() {
        let (_, app) = page_with(vec![
            (
                "one",
                json!([
                    running("j1", "orders"),
                    running("j2", "<img src=x onerror=alert(1)>")
                ]),
                true,
            ),
            ("two", json!([running("j3", "billing")]), false),
        ])
        .await;
        let answer = get(&app, "/ui/api/jobs", &[]).await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.header(header::CONTENT_TYPE), "application/json");
        let body = answer.json();
        assert_eq!(body["messages"], json!([]));
        let view = &body["response"];
        assert_eq!(view["full"], true);
        let clusters = view["clusters"].as_array().unwrap();
        assert_eq!(clusters.len(), 2);
        assert_eq!(clusters[0]["id"], "team-a.one");
        assert_eq!(clusters[0]["namespace"], "team-a");
        assert_eq!(clusters[0]["source"], "service");
        assert_eq!(clusters[0]["reachable"], true);
        let jobs = clusters[0]["jobs"].as_array().unwrap();
        assert_eq!(
            jobs[1]["name"], "<img src=x onerror=alert(1)>",
            "names are data"
        );
        assert_eq!(jobs[0]["state"], "RUNNING");
        assert_eq!(jobs[0]["health"], "Unknown");
        assert_eq!(jobs[0]["reasons"], json!(["ChecksDisabled"]));
        assert_eq!(jobs[0]["startTime"], 1000);
        assert_eq!(clusters[1]["reachable"], false);
        assert!(
            clusters[1]["lastError"]
                .as_str()
                .unwrap()
                .contains("Connection refused")
        );
        assert_eq!(
            clusters[1]["jobs"][0]["name"], "billing",
            "last known jobs stay"
        );
        assert_eq!(
            clusters[1]["jobs"][0]["reasons"],
            json!(["ClusterUnreachable"])
        );
    }

    #[tokio::test]
    async fn a_refresh_gets_304_or_only_the_clusters_that_changed() {
        let (state, app) = page_with(vec![
            ("one", json!([running("j1", "a")]), true),
            ("two", json!([running("j2", "b")]), true),
        ])
        .await;
        let first = get(&app, "/ui/api/jobs", &[]).await.json();
        let token = first["response"]["token"].as_str().unwrap().to_string();
        let etag = format!("\"{token}\"");
        let quiet = get(&app, "/ui/api/jobs", &[("if-none-match", &etag)]).await;
        assert_eq!(quiet.status, StatusCode::NOT_MODIFIED);
        assert!(quiet.body.is_empty());
        let by_query = get(&app, &format!("/ui/api/jobs?since={token}"), &[]).await;
        assert_eq!(by_query.status, StatusCode::NOT_MODIFIED);

        state.changes.mark("team-a.two");
        state.changes.mark("team-a.gone");
        let delta = get(&app, "/ui/api/jobs", &[("if-none-match", &etag)]).await;
        assert_eq!(delta.status, StatusCode::OK);
        let view = &delta.json()["response"];
        assert_eq!(view["full"], false);
        let ids: Vec<&str> = view["clusters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["team-a.two"]);
        assert_eq!(view["removed"], json!(["team-a.gone"]));
        assert_ne!(view["token"].as_str().unwrap(), token);

        let stranger = get(&app, "/ui/api/jobs?since=elsewhere.3", &[]).await;
        assert_eq!(stranger.json()["response"]["full"], true);
    }

    #[tokio::test]
    async fn the_follower_notes_what_the_registry_announces() {
        let (state, app) = page_with(vec![("one", json!([running("j1", "a")]), true)]).await;
        let shutdown = CancellationToken::new();
        let task = state.follow(shutdown.clone());
        let token = get(&app, "/ui/api/jobs", &[]).await.json()["response"]["token"]
            .as_str()
            .unwrap()
            .to_string();
        state.registry.remove("team-a.one");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let view = loop {
            let answer = get(&app, &format!("/ui/api/jobs?since={token}"), &[]).await;
            if answer.status == StatusCode::OK {
                break answer.json()["response"].clone();
            }
            assert!(tokio::time::Instant::now() < deadline, "no change noted");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert_eq!(view["removed"], json!(["team-a.one"]));
        shutdown.cancel();
        task.await.unwrap();
    }

    #[tokio::test]
    async fn a_job_page_names_what_cannot_be_read_from_an_unreachable_cluster() {
        let (_, app) = page_with(vec![("two", json!([running("j3", "billing")]), false)]).await;
        let answer = get(&app, "/ui/api/clusters/team-a.two/jobs/j3", &[]).await;
        assert_eq!(answer.status, StatusCode::OK);
        let page = &answer.json()["response"];
        assert_eq!(page["job"]["name"], "billing");
        assert_eq!(page["health"]["reasons"], json!(["ClusterUnreachable"]));
        assert_eq!(page["status"], Value::Null);
        let error = page["statusError"].as_str().unwrap();
        assert!(
            error.contains("cannot be reached") && error.contains("last known"),
            "{error}"
        );
        assert_eq!(page["flinkUi"]["note"], "on flink-monitor's own host");
        assert_eq!(page["restartsInWindow"], Value::Null, "not checked");
        assert_eq!(page["restartWindowMs"], 600_000);

        let no_cluster = get(&app, "/ui/api/clusters/nope/jobs/j3", &[]).await;
        assert_eq!(no_cluster.status, StatusCode::NOT_FOUND);
        assert_eq!(no_cluster.json()["errorCode"], 4009);
        let no_job = get(&app, "/ui/api/clusters/team-a.two/jobs/zzz", &[]).await;
        assert_eq!(no_job.status, StatusCode::NOT_FOUND);
        assert_eq!(no_job.json()["errorCode"], 4006);
    }

    #[tokio::test]
    async fn the_openapi_document_covers_both_endpoints_and_stands_on_its_own() {
        let (_, app) = page_with(vec![]).await;
        let answer = get(&app, "/ui/api/openapi.json", &[]).await;
        assert_eq!(answer.status, StatusCode::OK);
        let doc = answer.json();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
        let paths = doc["paths"].as_object().unwrap();
        let mut documented: Vec<&str> = paths.keys().map(String::as_str).collect();
        documented.sort();
        assert_eq!(
            documented,
            ["/ui/api/clusters/{cluster}/jobs/{jid}", "/ui/api/jobs"]
        );
        let description = doc["paths"]["/ui/api/jobs"]["get"]["description"]
            .as_str()
            .unwrap();
        assert!(description.contains("flink-monitor's own (not TSP's)"));
        // Every schema it refers to is in it.
        fn refs(value: &Value, found: &mut Vec<String>) {
            match value {
                Value::Object(map) => {
                    if let Some(Value::String(r)) = map.get("$ref") {
                        found.push(r.clone());
                    }
                    map.values().for_each(|v| refs(v, found));
                }
                Value::Array(items) => items.iter().for_each(|v| refs(v, found)),
                _ => {}
            }
        }
        let mut found = Vec::new();
        refs(&doc, &mut found);
        assert!(found.iter().any(|r| r.ends_with("/JobRow")));
        for reference in found {
            let name = reference
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("{reference}"));
            assert!(
                doc["components"]["schemas"][name].is_object(),
                "{reference} is not in the document"
            );
        }
    }

    #[test]
    fn the_page_refreshes_at_least_once_a_second() {
        assert_eq!(refresh_for(Duration::from_secs(5)), Duration::from_secs(1));
        assert_eq!(
            refresh_for(Duration::from_millis(500)),
            Duration::from_millis(500)
        );
        assert_eq!(
            refresh_for(Duration::from_millis(10)),
            Duration::from_millis(250)
        );
    }
}
