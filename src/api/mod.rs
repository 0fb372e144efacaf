//! The HTTP API: the monitoring endpoints at the root and under `/clusters/{cluster}/`,
//! plus `/clusters`, `/healthz`, `/readyz`, `/metrics` and `/openapi.json`.

pub mod endpoints;
mod enum_view;
mod envelope;
mod error;
mod extract;
mod head_guard;
pub mod health;
mod layers;
mod listener;
mod lookup;
pub mod model;
mod monitoring;
pub mod openapi;
mod registration;
mod service;
mod stop;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;

use crate::clusters::{Cluster, KnownClusters};
use crate::metrics::Metrics;

pub use error::ApiError;
pub use extract::MAX_UUID_BYTES;
pub use stop::{DEFAULT_AUDIENCE, KubernetesReviewer, StopGuard, bearer_token};

use registration::Api;

/// Protection of the server itself: every request is bounded in size, time and number.
#[derive(Debug, Clone)]
pub struct ServerLimits {
    /// A request is answered (with 504 / 5000 if need be) within this time.
    pub request_timeout: Duration,
    /// Requests served at once; more are refused with 503 / 5000 at once.
    pub max_in_flight: usize,
    /// Longest request target (path and query), in bytes.
    pub max_uri_bytes: usize,
    /// Largest sum of header names and values, in bytes.
    pub max_header_bytes: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(20),
            max_in_flight: 1024,
            max_uri_bytes: 32 * 1024,
            max_header_bytes: 16 * 1024,
        }
    }
}

/// What every request handler reads.
pub struct AppState {
    pub registry: Arc<KnownClusters>,
    pub metrics: Arc<Metrics>,
    pub stop_guard: StopGuard,
    limits: ServerLimits,
    openapi: Arc<str>,
}

impl AppState {
    pub fn new(registry: Arc<KnownClusters>, metrics: Arc<Metrics>, stop_guard: StopGuard) -> Self {
        Self::with_limits(registry, metrics, stop_guard, ServerLimits::default())
    }

    pub fn with_limits(
        registry: Arc<KnownClusters>,
        metrics: Arc<Metrics>,
        stop_guard: StopGuard,
        limits: ServerLimits,
    ) -> Self {
        Self {
            registry,
            metrics,
            stop_guard,
            limits,
            openapi: openapi::json().into(),
        }
    }

    fn cluster(&self, id: &str) -> Result<Arc<Cluster>, ApiError> {
        self.registry
            .get(id)
            .ok_or_else(|| ApiError::no_such_cluster(id))
    }
}

/// Every route of the API with its OpenAPI entry: the monitoring endpoints at the root and
/// again under `/clusters/{cluster}`, and the service endpoints.
fn routes() -> Api {
    Api::with_openapi(openapi::base())
        .merge(monitoring::routes())
        .merge(service::routes())
        .nest(openapi::IN_CLUSTER, monitoring::routes())
}

/// The whole API as one router. Every answer is JSON (but `/metrics`), panics included.
pub fn router(state: Arc<AppState>) -> Router {
    router_with(state, Router::new())
}

/// The API with `pages` served beside it (the web page's router): merged before the
/// server-wide layers, so they share the API's limits, request counts, 404 and 405 answers
/// (axum adds `Allow`). Their paths must not be the API's (axum refuses a path registered
/// twice), and they bring no fallback of their own.
pub fn router_with(state: Arc<AppState>, pages: Router) -> Router {
    let (api, doc) = routes().split_for_parts();
    let counts = layers::RequestCounts::new(
        state.metrics.clone(),
        doc.paths.paths.keys().map(String::as_str),
    );
    let router = api
        .fallback(|uri: axum::http::Uri| async move { ApiError::no_such_path(uri.path()) })
        .with_state(state.clone())
        .merge(pages.method_not_allowed_fallback(|| async { ApiError::method_not_allowed_here() }));
    layers::wrap(router, state.limits.clone(), counts)
}

/// Serves `app` (the API, see [`router_with`], with any layers the caller adds on top) on
/// `listener` until `shutdown` completes, then lets the requests in flight finish. Each
/// connection's request heads are judged before hyper reads them (`head_guard`).
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    listener::serve(listener, app, &limits, shutdown).await
}

#[cfg(test)]
mod tests {
    //! The server's own protections: size limits, no request bodies, overload, timeouts, and
    //! odd uuids, through `tower::ServiceExt::oneshot`.

    use std::sync::Arc;
    use std::time::Duration;

    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use http_body_util::BodyExt;
    use serde_json::{Value, json};
    use tower::ServiceExt;

    use crate::clusters::testing::{add_cluster, quiet_registry};
    use crate::clusters::{ClusterInfo, ClusterSource, KnownClusters};
    use crate::flink::ClientSettings;
    use crate::metrics::Metrics;

    use super::{AppState, ServerLimits, StopGuard, router};

    /// A JobManager that accepts connections and never answers: every Flink call hangs.
    async fn silent_jobmanager() -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        format!("http://{addr}")
    }

    async fn app(limits: ServerLimits) -> axum::Router {
        let registry: Arc<KnownClusters> = quiet_registry(ClientSettings {
            timeout: Duration::from_secs(3),
            ..ClientSettings::default()
        });
        let info = ClusterInfo::static_cluster("slow", silent_jobmanager().await.parse().unwrap());
        let jobs = json!([{"jid": "a1", "name": "orders", "state": "RUNNING", "start-time": 1, "end-time": -1}]);
        // The silent JobManager makes the first poll time out; wait for it, then show jobs.
        add_cluster(&registry, info, jobs, true).await;
        let state = AppState::with_limits(
            registry,
            Arc::new(Metrics::new()),
            StopGuard::Disabled,
            limits,
        );
        router(Arc::new(state))
    }

    async fn call(app: &axum::Router, request: Request<Body>) -> (StatusCode, Value) {
        let response = app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&bytes)));
        (status, body)
    }

    /// The status of an answer and its `errorCode` (0 for a success).
    async fn code(app: &axum::Router, request: Request<Body>) -> (StatusCode, i64) {
        let (status, body) = call(app, request).await;
        (status, body["errorCode"].as_i64().unwrap_or(0))
    }

    fn get(uri: &str) -> Request<Body> {
        Request::get(uri).body(Body::empty()).unwrap()
    }

    #[tokio::test]
    async fn oversized_targets_and_headers_are_refused_with_json() {
        let app = app(ServerLimits::default()).await;
        let long = format!("/job/{}/status/", "a".repeat(40 * 1024));
        assert_eq!(
            code(&app, get(&long)).await,
            (StatusCode::URI_TOO_LONG, 4001)
        );

        let mut request = get("/jobs/overview/");
        for i in 0..40 {
            request.headers_mut().insert(
                format!("x-filler-{i}")
                    .parse::<axum::http::HeaderName>()
                    .unwrap(),
                "v".repeat(500).parse().unwrap(),
            );
        }
        assert_eq!(
            code(&app, request).await,
            (StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, 4001)
        );
    }

    #[tokio::test]
    async fn odd_uuids_get_4001_or_4006() {
        let app = app(ServerLimits::default()).await;
        let ten_kb = format!("/job/{}/status/", "u".repeat(10 * 1024));
        for (uri, code) in [
            (ten_kb.as_str(), 4001),
            ("/job//status/", 4001),
            ("/job/%FF%FE/status/", 4001),
            ("/job/../status/", 4006),
            ("/job/%2E%2E/status/", 4006),
            ("/job/a%2Fb/status/", 4006),
            ("/job/%00%1F%7F/status/", 4006),
            ("/jobs/%C3%28/exceptions/", 4001),
        ] {
            let (_, body) = call(&app, get(uri)).await;
            assert_eq!(body["errorCode"].as_i64(), Some(code), "{uri}: {body}");
            assert!(body["errors"].is_array() && body["message"].is_string());
        }
    }

    #[tokio::test]
    async fn no_endpoint_takes_a_body() {
        let app = app(ServerLimits::default()).await;
        let with_body = Request::get("/jobs/overview/")
            .header("content-length", "5")
            .body(Body::from("hello"))
            .unwrap();
        assert_eq!(code(&app, with_body).await, (StatusCode::BAD_REQUEST, 4001));
        let chunked = Request::post("/job/orders/stop/")
            .header("transfer-encoding", "chunked")
            .body(Body::from("x"))
            .unwrap();
        let (status, _) = call(&app, chunked).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        // A wrong method is reported as such, before the body.
        let wrong = Request::post("/jobs/overview/")
            .header("content-length", "1")
            .body(Body::from("x"))
            .unwrap();
        assert_eq!(
            code(&app, wrong).await,
            (StatusCode::METHOD_NOT_ALLOWED, 4005)
        );
    }

    #[tokio::test]
    async fn a_request_that_takes_too_long_is_answered_504() {
        let app = app(ServerLimits {
            request_timeout: Duration::from_millis(200),
            ..ServerLimits::default()
        })
        .await;
        assert_eq!(
            code(&app, get("/job/orders/status/")).await,
            (StatusCode::GATEWAY_TIMEOUT, 5000)
        );
    }

    #[tokio::test]
    async fn beyond_the_concurrency_limit_requests_are_refused_at_once() {
        let app = app(ServerLimits {
            max_in_flight: 1,
            ..ServerLimits::default()
        })
        .await;
        let hanging = tokio::spawn({
            let app = app.clone();
            async move { call(&app, get("/job/orders/status/")).await }
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(
            code(&app, get("/jobs/overview/")).await,
            (StatusCode::SERVICE_UNAVAILABLE, 5000)
        );
        // The hanging one ends with the Flink timeout, as a 5005 naming the cluster.
        let (status, body) = hanging.await.unwrap();
        assert_eq!(status, StatusCode::BAD_GATEWAY);
        assert!(
            body["errors"][0]
                .as_str()
                .unwrap()
                .starts_with("cluster slow: "),
            "{body}"
        );
        let (status, _) = call(&app, get("/jobs/overview/")).await;
        assert_eq!(status, StatusCode::OK, "the slot is free again");
    }

    /// Every documented path, asked in both spellings, is counted under its documented path:
    /// the `route` label does not depend on the trailing slash, and is never a raw path.
    #[tokio::test]
    async fn both_spellings_of_every_path_are_counted_under_the_documented_one() {
        let registry = quiet_registry(ClientSettings::default());
        let info = ClusterInfo::static_cluster("alpha", "http://127.0.0.1:9".parse().unwrap());
        add_cluster(&registry, info, json!([]), true).await;
        let metrics = Arc::new(Metrics::new());
        let state = AppState::new(registry, metrics.clone(), StopGuard::Disabled);
        let app = router(Arc::new(state));
        let documented: Vec<&str> = super::endpoints::ENDPOINTS
            .iter()
            .flat_map(|e| e.patterns())
            .collect();
        for pattern in &documented {
            // A job that is not there: every endpoint answers at once, without Flink.
            let path = pattern
                .replace("{uuid}", "no-such-job")
                .replace("{cluster}", "alpha");
            let other = match path.strip_suffix('/') {
                Some(trimmed) => trimmed.to_string(),
                None => format!("{path}/"),
            };
            for path in [&path, &other] {
                let response = app.clone().oneshot(get(path)).await.unwrap();
                let bytes = response.into_body().collect().await.unwrap().to_bytes();
                let body: Value = serde_json::from_slice(&bytes).unwrap_or_default();
                assert_ne!(body["errorCode"], 4004, "{path}: {body}");
            }
        }
        let text = metrics.encode();
        for pattern in &documented {
            let counted: f64 = text
                .lines()
                .filter(|l| l.starts_with("flink_monitor_http_requests_total{"))
                .filter(|l| l.contains(&format!("route=\"{pattern}\"")))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum();
            assert_eq!(counted, 2.0, "{pattern}:\n{text}");
        }
    }

    /// A router merged beside the API (the web page's) is served under the API's layers: its
    /// wrong methods are the contract's 405, and its requests are counted by route.
    #[tokio::test]
    async fn a_merged_router_gets_the_api_s_answers_and_counts() {
        let metrics = Arc::new(Metrics::new());
        let registry = quiet_registry(ClientSettings::default());
        let state = AppState::new(registry, metrics.clone(), StopGuard::Disabled);
        let pages = axum::Router::new().route("/ui/", axum::routing::get(|| async { "a page" }));
        let app = super::router_with(Arc::new(state), pages);
        let page = app.clone().oneshot(get("/ui/")).await.unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        let post = Request::post("/ui/").body(Body::empty()).unwrap();
        let response = app.clone().oneshot(post).await.unwrap();
        assert_eq!(response.headers()["allow"], "GET,HEAD");
        let (status, body) = call(&app, Request::post("/ui/").body(Body::empty()).unwrap()).await;
        assert_eq!(
            (status, body["errorCode"].as_i64()),
            (StatusCode::METHOD_NOT_ALLOWED, Some(4005))
        );
        assert_eq!(
            code(&app, get("/ui/nope")).await,
            (StatusCode::NOT_FOUND, 4004)
        );
        let text = metrics.encode();
        assert!(
            text.contains(r#"flink_monitor_http_requests_total{route="/ui/",status="200"} 1"#),
            "{text}"
        );
    }

    /// Stop in Kubernetes mode through the whole router, against a mocked API server that
    /// authenticates every token as alice and allows her in the namespaces given.
    mod kubernetes_stop {
        use std::collections::BTreeSet;
        use std::sync::Mutex;

        use super::*;
        use crate::api::KubernetesReviewer;
        use crate::testing::apiserver;

        type Reviews = Arc<Mutex<Vec<String>>>;

        fn cluster(namespace: &str) -> ClusterInfo {
            ClusterInfo {
                id: format!("{namespace}.flink"),
                namespace: Some(namespace.into()),
                name: "flink".into(),
                source: ClusterSource::Service,
                // Nothing listens: a stop that got as far as Flink fails to connect.
                url: "http://127.0.0.1:1".parse().unwrap(),
                owner: None,
            }
        }

        /// team-a runs `orders`, team-b runs `payments`.
        async fn app(allowed: &[&str]) -> (axum::Router, Reviews) {
            let (client, mut handle) = apiserver::client("default");
            let allowed: BTreeSet<String> = allowed.iter().map(|s| s.to_string()).collect();
            let reviews = Reviews::default();
            let log = reviews.clone();
            tokio::spawn(async move {
                while let Some((request, send)) = handle.next_request().await {
                    let path = request.uri().path().to_string();
                    let mut review = apiserver::body(request).await;
                    if path.ends_with("/tokenreviews") {
                        log.lock().unwrap().push("TokenReview".into());
                        let audiences = review["spec"]["audiences"].clone();
                        review["status"] = json!({"authenticated": true, "audiences": audiences,
                        "user": {"username": "alice", "groups": ["devs"]}});
                    } else {
                        let namespace = review["spec"]["resourceAttributes"]["namespace"]
                            .as_str()
                            .unwrap_or("")
                            .to_string();
                        log.lock()
                            .unwrap()
                            .push(format!("SubjectAccessReview {namespace}"));
                        review["status"] = json!({"allowed": allowed.contains(&namespace)});
                    }
                    apiserver::answer(send, 201, &review);
                }
            });
            let registry = quiet_registry(ClientSettings::default());
            let job = |jid: &str, name: &str| json!([{"jid": jid, "name": name, "state": "RUNNING", "start-time": 1, "end-time": -1}]);
            add_cluster(&registry, cluster("team-a"), job("a1", "orders"), true).await;
            add_cluster(&registry, cluster("team-b"), job("b1", "payments"), true).await;
            let guard = StopGuard::Kubernetes(KubernetesReviewer::new(
                client,
                vec!["flink-monitor".into()],
            ));
            let state = AppState::new(registry, Arc::new(Metrics::new()), guard);
            (router(Arc::new(state)), reviews)
        }

        fn stop(uri: &str) -> Request<Body> {
            Request::get(uri)
                .header("authorization", "Bearer alice-token")
                .body(Body::empty())
                .unwrap()
        }

        async fn stop_code(app: &axum::Router, uri: &str) -> (u16, i64) {
            let (status, code) = code(app, stop(uri)).await;
            (status.as_u16(), code)
        }

        #[tokio::test]
        async fn a_caller_without_permission_gets_403_whether_or_not_the_job_exists() {
            let (app, reviews) = app(&[]).await;
            for uri in [
                "/job/no-such-job/stop/",
                "/job/orders/stop/",
                "/clusters/team-a.flink/job/no-such-job/stop/",
                "/clusters/team-a.flink/job/orders/stop/",
            ] {
                assert_eq!(stop_code(&app, uri).await, (403, 4010), "{uri}");
            }
            let (_, body) = call(&app, stop("/job/no-such-job/stop/")).await;
            let why = body["errors"][0].as_str().unwrap();
            assert!(
                why.contains("alice") && why.contains("team-a") && why.contains("team-b"),
                "{why}"
            );
            // At the root every namespace was asked about; under a cluster, its own.
            let reviews = reviews.lock().unwrap().clone();
            assert!(
                reviews.contains(&"SubjectAccessReview team-b".to_string()),
                "{reviews:?}"
            );
        }

        #[tokio::test]
        async fn allowed_in_one_namespace_the_job_must_be_in_it() {
            let (app, _) = app(&["team-a"]).await;
            // Allowed somewhere: the lookup runs, and says what it finds.
            assert_eq!(stop_code(&app, "/job/no-such-job/stop/").await, (404, 4006));
            // The job is in team-b, where alice may not stop jobs.
            assert_eq!(stop_code(&app, "/job/payments/stop/").await, (403, 4010));
            assert_eq!(
                stop_code(&app, "/clusters/team-b.flink/job/payments/stop/").await,
                (403, 4010)
            );
            // In team-a the stop goes on to Flink, which cannot be reached here.
            assert_eq!(stop_code(&app, "/job/orders/stop/").await, (502, 5005));
        }
    }
}
