use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use tokio::sync::Semaphore;

use super::FlinkError;
use super::dto::{
    AggregatedMetric, CheckpointConfig, CheckpointStats, DashboardConfig, ErrorBody, JobDetails,
    JobExceptions, JobsOverview, MetricValue, TriggerResponse,
};
use super::tls::{self, HttpsClient};
use super::transport::{self, Answer, Origin, TransportError};

/// Characters escaped in a `?get=` list; `,` separates names and stays as it is.
const QUERY_VALUE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'&')
    .add(b'+')
    .add(b'<')
    .add(b'>')
    .add(b'=')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// Limits that keep one slow or misbehaving JobManager from costing more than its share.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// Flink's answer time: connecting, sending and reading the body. Waiting for one of
    /// the `concurrency` slots does not count: that is this process being busy, not Flink.
    pub timeout: Duration,
    /// Bodies larger than this are refused (an endless body must not exhaust memory).
    pub max_response_bytes: usize,
    /// API requests (job details, metrics, exceptions, stop) in flight to one JobManager at
    /// once. The poller's calls have their own lane and never wait for these slots.
    pub concurrency: usize,
}

impl Default for ClientSettings {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(5),
            max_response_bytes: 16 * 1024 * 1024,
            concurrency: 4,
        }
    }
}

/// Stop-with-savepoint options (`POST /jobs/{jid}/stop`).
#[derive(Debug, Clone, Default)]
pub struct StopRequest {
    pub target_directory: Option<String>,
    pub drain: bool,
}

/// Which calls share a concurrency limit. A poll that waits behind API requests would make
/// a slow but healthy JobManager look unreachable, so the poller has a lane of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lane {
    /// The poller's calls (`/jobs/overview`, `/config`): one poller per cluster makes them
    /// one at a time, so they need no limit of their own.
    Poll,
    /// Everything else, at most `ClientSettings::concurrency` at once.
    Api,
}

/// A client for one JobManager's REST API. Cheap to clone; clones share the connection
/// pool and the concurrency limit.
#[derive(Clone)]
pub struct FlinkClient {
    /// Reloaded when the TLS files change: take [`HttpsClient::current`] per call.
    http: HttpsClient,
    /// Plain HTTP framed by hyper over one kept socket; None where reqwest serves every
    /// call (TLS, a proxy).
    origin: Option<Arc<Origin>>,
    base: Url,
    /// The path of `base` without its trailing `/`, for [`Self::target`]; None for a base
    /// that cannot have a path.
    base_path: Option<Arc<str>>,
    /// `base` without credentials, for errors and logs.
    display_base: Arc<str>,
    permits: Arc<Semaphore>,
    settings: Arc<ClientSettings>,
}

impl std::fmt::Debug for FlinkClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlinkClient")
            .field("base", &self.display_base)
            .finish_non_exhaustive()
    }
}

/// The URL with user name and password removed, safe to log.
pub fn redact_url(url: &Url) -> String {
    let mut clean = url.clone();
    // Both only fail for URLs that cannot carry credentials at all.
    let _ = clean.set_username("");
    let _ = clean.set_password(None);
    clean.as_str().trim_end_matches('/').to_string()
}

impl FlinkClient {
    /// `http` is shared between clusters so that they share one connection pool and TLS
    /// configuration.
    pub fn new(http: impl Into<HttpsClient>, base: Url, settings: ClientSettings) -> Self {
        let display_base = redact_url(&base).into();
        let permits = Arc::new(Semaphore::new(settings.concurrency.max(1)));
        let origin = Origin::for_base(&base).map(Arc::new);
        let mut client = Self {
            http: http.into(),
            origin,
            base,
            base_path: None,
            display_base,
            permits,
            settings: Arc::new(settings),
        };
        client.base_path = client
            .url(&[], None)
            .ok()
            .map(|url| url.path().trim_end_matches('/').into());
        client
    }

    /// The shared HTTP client TLS and proxied calls go through (see
    /// [`transport::http_client`]).
    pub fn http_client() -> Result<reqwest::Client, reqwest::Error> {
        transport::http_client()
    }

    pub fn display_base(&self) -> &str {
        &self.display_base
    }

    /// On the poll lane: never waits behind API requests.
    pub async fn jobs_overview(&self) -> Result<JobsOverview, FlinkError> {
        self.get_in(Lane::Poll, &["jobs", "overview"], None).await
    }

    pub async fn job(&self, jid: &str) -> Result<JobDetails, FlinkError> {
        self.get(&["jobs", jid], None).await
    }

    pub async fn exceptions(&self, jid: &str) -> Result<JobExceptions, FlinkError> {
        self.get(&["jobs", jid, "exceptions"], None).await
    }

    /// On the poll lane, as the poller reads the Flink version with it.
    pub async fn config(&self) -> Result<DashboardConfig, FlinkError> {
        self.get_in(Lane::Poll, &["config"], None).await
    }

    /// Names of every metric of a vertex (`<subtask>.<metric>`, `<subtask>.<operator>.<metric>`).
    pub async fn vertex_metric_names(
        &self,
        jid: &str,
        vertex: &str,
    ) -> Result<Vec<MetricValue>, FlinkError> {
        self.get(&["jobs", jid, "vertices", vertex, "metrics"], None)
            .await
    }

    /// Values of the named vertex metrics; Flink omits unknown names silently.
    pub async fn vertex_metric_values(
        &self,
        jid: &str,
        vertex: &str,
        names: &[&str],
    ) -> Result<Vec<MetricValue>, FlinkError> {
        let path = ["jobs", jid, "vertices", vertex, "metrics"];
        self.get_metrics(&path, names, "").await
    }

    /// Metrics aggregated over the subtasks of a vertex, e.g. `agg = "sum"`.
    pub async fn subtask_metrics(
        &self,
        jid: &str,
        vertex: &str,
        names: &[&str],
        agg: &str,
    ) -> Result<Vec<AggregatedMetric>, FlinkError> {
        let path = ["jobs", jid, "vertices", vertex, "subtasks", "metrics"];
        self.get_metrics(&path, names, &format!("&agg={agg}")).await
    }

    /// Values of the named job metrics (`/jobs/{jid}/metrics?get=...`); Flink omits
    /// unknown names and may answer `[]` while its metric store fills.
    pub async fn job_metric_values(
        &self,
        jid: &str,
        names: &[&str],
    ) -> Result<Vec<MetricValue>, FlinkError> {
        self.get_metrics(&["jobs", jid, "metrics"], names, "").await
    }

    /// `GET /jobs/{jid}/checkpoints`.
    pub async fn checkpoint_stats(&self, jid: &str) -> Result<CheckpointStats, FlinkError> {
        self.get(&["jobs", jid, "checkpoints"], None).await
    }

    /// `GET /jobs/{jid}/checkpoints/config`; None when Flink says checkpointing is off
    /// (it answers 404 for jobs without a checkpoint coordinator, e.g. batch jobs).
    pub async fn checkpoint_config(
        &self,
        jid: &str,
    ) -> Result<Option<CheckpointConfig>, FlinkError> {
        match self
            .get(&["jobs", jid, "checkpoints", "config"], None)
            .await
        {
            Ok(config) => Ok(Some(config)),
            Err(FlinkError::Status {
                status: 404,
                message,
                ..
            }) if message
                .to_ascii_lowercase()
                .contains("checkpointing is not enabled") =>
            {
                Ok(None)
            }
            Err(error) => Err(error),
        }
    }

    /// `PATCH /jobs/{jid}?mode=cancel`; Flink answers 202 when it took the request.
    pub async fn cancel(&self, jid: &str) -> Result<(), FlinkError> {
        self.send_in(
            Lane::Api,
            Method::PATCH,
            &["jobs", jid],
            Some("mode=cancel"),
            None,
        )
        .await
        .map(drop)
    }

    /// `POST /jobs/{jid}/stop`: stop with a savepoint; answers the trigger id to poll.
    pub async fn stop_with_savepoint(
        &self,
        jid: &str,
        request: &StopRequest,
    ) -> Result<String, FlinkError> {
        let mut body = serde_json::json!({ "drain": request.drain });
        if let Some(dir) = &request.target_directory {
            body["targetDirectory"] = dir.clone().into();
        }
        let path = ["jobs", jid, "stop"];
        let bytes = self
            .send_in(Lane::Api, Method::POST, &path, None, Some(body))
            .await?;
        let trigger: TriggerResponse = self.decode(&path, &bytes)?;
        Ok(trigger.request_id)
    }

    /// `GET` of the path made of `segments` (see [`Self::url`]) on the API lane.
    async fn get<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        query: Option<&str>,
    ) -> Result<T, FlinkError> {
        self.get_in(Lane::Api, segments, query).await
    }

    /// `GET` of the metrics at `segments` named `names` (`?get=a,b`), `more` added to the query.
    async fn get_metrics<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        names: &[&str],
        more: &str,
    ) -> Result<Vec<T>, FlinkError> {
        let query = format!("get={}{more}", encode_names(names));
        self.get(segments, Some(&query)).await
    }

    async fn get_in<T: DeserializeOwned>(
        &self,
        lane: Lane,
        segments: &[&str],
        query: Option<&str>,
    ) -> Result<T, FlinkError> {
        let bytes = self
            .send_in(lane, Method::GET, segments, query, None)
            .await?;
        self.decode(segments, &bytes)
    }

    fn decode<T: DeserializeOwned>(&self, path: &[&str], bytes: &[u8]) -> Result<T, FlinkError> {
        serde_json::from_slice(bytes).map_err(|e| FlinkError::Decode {
            url: self.display_url(path),
            reason: e.to_string(),
        })
    }

    /// For errors and logs only; requests use [`Self::url`].
    fn display_url(&self, path: &[&str]) -> String {
        format!("{}/{}", self.display_base, path.join("/"))
    }

    /// One request in `lane`; Flink has the time budget to answer once a slot is free.
    /// Non-2xx answers become `FlinkError::Status`.
    async fn send_in(
        &self,
        lane: Lane,
        method: Method,
        path: &[&str],
        query: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> Result<Bytes, FlinkError> {
        // The semaphore is never closed, so acquiring only fails if it were. Waiting is
        // bounded by the caller (the HTTP server's request timeout).
        let _permit = match lane {
            Lane::Poll => None,
            Lane::Api => Some(
                self.permits
                    .acquire()
                    .await
                    .map_err(|_| FlinkError::Request {
                        url: self.display_url(path),
                        reason: "client is shutting down".into(),
                    })?,
            ),
        };
        let timeout = self.settings.timeout;
        let send = self.send_unbounded(method, path, query, body);
        match tokio::time::timeout(timeout, send).await {
            Ok(result) => result,
            Err(_) => Err(FlinkError::Timeout {
                url: self.display_url(path),
                timeout,
            }),
        }
    }

    /// One exchange under the transport policy; a redirect is an error naming where it
    /// pointed (never followed), any other non-2xx a [`FlinkError::Status`].
    async fn send_unbounded(
        &self,
        method: Method,
        path: &[&str],
        query: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> Result<Bytes, FlinkError> {
        let limit = self.settings.max_response_bytes;
        let body = body.map(|body| Bytes::from(body.to_string()));
        let sent = match &self.origin {
            Some(origin) => {
                let target = self.target(path, query)?;
                origin.send(method, &target, body, limit).await
            }
            None => {
                let url = self.url(path, query)?;
                transport::send_remote(&self.http.current(), method, url, body, limit).await
            }
        };
        let Answer {
            status,
            location,
            body,
        } = sent.map_err(|error| tls::explain(self.transport_error(path, error)))?;
        if (200..300).contains(&status) {
            return Ok(body);
        }
        if let Some(location) = location {
            return Err(FlinkError::Redirect {
                url: self.display_url(path),
                status,
                location,
            });
        }
        Err(FlinkError::Status {
            url: self.display_url(path),
            status,
            message: error_message(status, &body),
        })
    }

    fn transport_error(&self, path: &[&str], error: TransportError) -> FlinkError {
        let url = self.display_url(path);
        match error {
            TransportError::Connect(reason) => FlinkError::Connect { url, reason },
            TransportError::Broken(reason) => FlinkError::Request { url, reason },
            TransportError::TooLarge => FlinkError::TooLarge {
                url,
                limit: self.settings.max_response_bytes,
            },
        }
    }

    /// The base URL with `path` appended segment by segment, each percent-encoded as one
    /// segment (a job id with a `/` or `?` stays one segment), and `query` as the query.
    /// Never string concatenation: a base with a query or fragment must not swallow the path.
    fn url(&self, path: &[&str], query: Option<&str>) -> Result<Url, FlinkError> {
        let mut url = self.base.clone();
        url.set_query(None);
        url.set_fragment(None);
        {
            let mut parts = url.path_segments_mut().map_err(|()| FlinkError::Request {
                url: self.display_url(path),
                reason: "the cluster URL cannot have a path".into(),
            })?;
            parts.pop_if_empty();
            parts.extend(path);
        }
        url.set_query(query);
        Ok(url)
    }

    /// The path and query of [`Self::url`], as a request's target. Joined directly when
    /// nothing in it needs the URL parser's escaping (Flink's ids are hex, the health
    /// checks' query is plain): the health checks make hundreds of these a second.
    fn target(&self, path: &[&str], query: Option<&str>) -> Result<String, FlinkError> {
        let plain_segment = |s: &&str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        // What `Url::set_query` would escape: controls, space and `"#<>'`.
        let plain_query = |q: &str| {
            q.bytes()
                .all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b'#' | b'<' | b'>' | b'\''))
        };
        if let Some(base) = &self.base_path
            && path.iter().all(plain_segment)
            && query.is_none_or(plain_query)
        {
            let mut target = String::with_capacity(128);
            target.push_str(base);
            for segment in path {
                target.push('/');
                target.push_str(segment);
            }
            if target.is_empty() {
                target.push('/');
            }
            if let Some(query) = query {
                target.push('?');
                target.push_str(query);
            }
            return Ok(target);
        }
        let url = self.url(path, query)?;
        Ok(match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_string(),
        })
    }
}

fn encode_names(names: &[&str]) -> String {
    // Borrowed where nothing needs escaping, as for every name the health checks ask for.
    let encoded: Vec<Cow<'_, str>> = names
        .iter()
        .map(|n| utf8_percent_encode(n, QUERY_VALUE).into())
        .collect();
    encoded.join(",")
}

/// Flink's `{"errors": [...]}` summarised; anything else, a bounded excerpt of the body.
fn error_message(status: u16, body: &[u8]) -> String {
    const EXCERPT: usize = 300;
    if let Ok(parsed) = serde_json::from_slice::<ErrorBody>(body) {
        let summary = parsed.summary();
        if !summary.is_empty() {
            return truncate(&summary, EXCERPT);
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return StatusCode::from_u16(status)
            .ok()
            .and_then(|status| status.canonical_reason())
            .unwrap_or("no message")
            .to_lowercase();
    }
    truncate(text, EXCERPT)
}

fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_reach_the_display_url() {
        let url = Url::parse("http://admin:s3cret@flink.example:8081/").unwrap();
        let shown = redact_url(&url);
        assert_eq!(shown, "http://flink.example:8081");
        assert!(!shown.contains("s3cret"));
    }

    #[test]
    fn flink_error_bodies_are_summarised_to_first_lines() {
        let body = br#"{"errors":["Internal server error.","<Exception on server side:\norg.apache...\n\tat x"]}"#;
        assert_eq!(
            error_message(500, body),
            "Internal server error.; <Exception on server side:"
        );
    }

    #[test]
    fn non_json_error_bodies_are_bounded() {
        let body = "x".repeat(5000);
        let message = error_message(502, body.as_bytes());
        assert!(message.len() <= 303);
        assert_eq!(error_message(502, b""), "bad gateway");
    }

    fn client(base: &str) -> FlinkClient {
        FlinkClient::new(
            reqwest::Client::new(),
            Url::parse(base).unwrap(),
            ClientSettings::default(),
        )
    }

    #[test]
    fn urls_are_built_from_segments_under_the_base_path() {
        let url = |base: &str, path: &[&str], query: Option<&str>| {
            client(base).url(path, query).unwrap().to_string()
        };
        assert_eq!(
            url("http://jm:8081", &["jobs", "overview"], None),
            "http://jm:8081/jobs/overview"
        );
        assert_eq!(
            url(
                "https://gw.example/flink/team-a/",
                &["jobs", "overview"],
                None
            ),
            "https://gw.example/flink/team-a/jobs/overview"
        );
        assert_eq!(
            url(
                "https://gw.example/flink",
                &["jobs", "j1"],
                Some("mode=cancel")
            ),
            "https://gw.example/flink/jobs/j1?mode=cancel"
        );
        // A query or fragment of the base never swallows the path.
        assert_eq!(
            url("http://jm:8081/?x=1#frag", &["jobs", "overview"], None),
            "http://jm:8081/jobs/overview"
        );
        // A value with a separator in it stays one segment.
        assert_eq!(
            url("http://jm:8081", &["jobs", "a/b?c#d", "exceptions"], None),
            "http://jm:8081/jobs/a%2Fb%3Fc%23d/exceptions"
        );
    }

    #[test]
    fn a_joined_request_target_is_the_one_the_url_gives() {
        let bases = [
            "http://jm:8081",
            "http://jm:8081/",
            "http://gw.example/flink/team-a/",
            "http://gw.example/fl%20ink?x=1#f",
        ];
        let segments = [
            "jobs",
            "0123456789abcdef0123456789abcdef",
            "a-b_C",
            "",
            ".",
            "..",
            "a.b",
            "a b",
            "a/b",
            "%41",
            "ü",
            "a\tb",
        ];
        let queries = [
            None,
            Some("get=numRestarts,fullRestarts"),
            Some("get=0.a%20b.x&agg=sum"),
            Some("get=a b"),
            Some("get='x'"),
            Some("x=<y>#z"),
        ];
        for base in bases {
            let client = client(base);
            for (first, second) in segments
                .iter()
                .flat_map(|a| segments.iter().map(move |b| (a, b)))
            {
                for query in queries {
                    let path = ["jobs", first, second];
                    let url = client.url(&path, query).unwrap();
                    let expected = match url.query() {
                        Some(q) => format!("{}?{q}", url.path()),
                        None => url.path().to_string(),
                    };
                    assert_eq!(
                        client.target(&path, query).unwrap(),
                        expected,
                        "{base} {path:?} {query:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn metric_names_are_escaped_but_commas_kept() {
        assert_eq!(
            encode_names(&["0.a b.currentEventTs", "1.x&y"]),
            "0.a%20b.currentEventTs,1.x%26y"
        );
    }
}
