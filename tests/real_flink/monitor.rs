//! The real `flink-monitor` binary, started for one test and asked over HTTP.

use std::fmt;
use std::time::Duration;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::Method;
use serde_json::Value;

use super::local_flink::{LocalFlink, http_client, run_dir, unique};
use super::support::monitor_binary::MonitorBinary;
use super::support::wait;

/// How long a state the contract promises "within a few poll intervals" may take before a
/// test gives up. A bound for failing, not a timing assertion.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// Everything but RFC 3986's unreserved characters is percent-encoded.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// A job name as one path segment.
pub fn enc(name: &str) -> String {
    utf8_percent_encode(name, PATH_SEGMENT).to_string()
}

/// One HTTP answer of the monitor.
pub struct Answer {
    pub method: Method,
    pub path: String,
    /// 0 when no HTTP answer came (connection refused, timeout).
    pub status: u16,
    pub body: Value,
    pub text: String,
}

impl Answer {
    pub fn response(&self) -> &Value {
        &self.body["response"]
    }

    pub fn error_code(&self) -> Option<i64> {
        self.body["errorCode"].as_i64()
    }
}

impl fmt::Display for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Long bodies keep their start and their end, where `metrics` and `messages` are.
        let chars: Vec<char> = self.text.chars().collect();
        let text: String = if chars.len() > 4000 {
            let head: String = chars[..2500].iter().collect();
            let tail: String = chars[chars.len() - 1500..].iter().collect();
            format!("{head} [... {} characters ...] {tail}", chars.len() - 4000)
        } else {
            self.text.clone()
        };
        write!(
            f,
            "{} {} -> HTTP {}: {text}",
            self.method, self.path, self.status
        )
    }
}

/// A running `flink-monitor run` watching one or more clusters, killed on drop.
pub struct Monitor {
    pub base: String,
    /// The id of the first cluster given (the one most tests use).
    pub cluster: String,
    flink: String,
    binary: MonitorBinary,
    http: reqwest::Client,
}

impl Monitor {
    /// Watches one cluster, named `id`, with `--poll-interval 1s` and `extra` flags.
    pub async fn start(flink: &LocalFlink, id: &str, extra: &[&str]) -> Self {
        Self::start_many(&[(id, flink)], extra).await
    }

    /// Watches several clusters; returns once `/readyz` says every one was polled.
    pub async fn start_many(clusters: &[(&str, &LocalFlink)], extra: &[&str]) -> Self {
        let flink = clusters
            .iter()
            .map(|(_, f)| f.describe())
            .collect::<Vec<_>>()
            .join("; ");
        let log = run_dir().join(format!("{}.log", unique("monitor")));
        let binary =
            MonitorBinary::start_up("real_flink", &log, "info", &[], "/readyz", &flink, |port| {
                let mut args: Vec<String> = vec![
                    "run".into(),
                    "--listen".into(),
                    format!("127.0.0.1:{port}"),
                    "--kubernetes".into(),
                    "off".into(),
                    "--poll-interval".into(),
                    "1s".into(),
                ];
                for (id, f) in clusters {
                    args.push("--cluster".into());
                    args.push(format!("{id}={}", f.url));
                }
                args.extend(extra.iter().map(|s| s.to_string()));
                args
            })
            .await;
        Self {
            base: binary.base.clone(),
            cluster: clusters[0].0.to_string(),
            flink,
            binary,
            http: http_client(),
        }
    }

    /// Where to look when a check fails: the monitor's log and the clusters' logs.
    pub fn context(&self) -> String {
        format!(
            "monitor {} (log: {}); {}\nlast monitor log lines:\n{}",
            self.base,
            self.binary.log.display(),
            self.flink,
            self.binary.log_tail(15)
        )
    }

    /// The monitor's whole log.
    #[allow(dead_code)] // for flink_tls.rs
    pub fn log_text(&self) -> String {
        self.binary.log_text()
    }

    pub async fn request(&self, method: Method, path: &str) -> Answer {
        let url = format!("{}{path}", self.base);
        let result = self.http.request(method.clone(), &url).send().await;
        let (status, text) = match result {
            Ok(response) => {
                let status = response.status().as_u16();
                (
                    status,
                    response
                        .text()
                        .await
                        .unwrap_or_else(|e| format!("<body unreadable: {e}>")),
                )
            }
            Err(error) => (0, format!("<no answer: {error}>")),
        };
        Answer {
            method,
            path: path.to_string(),
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
            text,
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.request(Method::GET, path).await
    }

    pub async fn post(&self, path: &str) -> Answer {
        self.request(Method::POST, path).await
    }

    /// Asks until `ok` holds; fails with the last answer after `PATIENCE`.
    pub async fn wait_for(&self, what: &str, path: &str, ok: impl Fn(&Answer) -> bool) -> Answer {
        wait::until_ok(PATIENCE, Duration::from_millis(250), what, || async {
            let answer = self.get(path).await;
            match ok(&answer) {
                true => Ok(answer),
                false => Err(format!("{answer}\n{}", self.context())),
            }
        })
        .await
    }

    /// Fails the test, showing the answer and where the logs are, unless `ok`.
    pub fn check(&self, ok: bool, what: impl fmt::Display, answer: &Answer) {
        if !ok {
            panic!("{what}\nanswer: {answer}\n{}", self.context());
        }
    }

    /// A success: HTTP 200 with `{"response": ..., "messages": [strings]}`.
    pub fn expect_ok<'a>(&self, answer: &'a Answer) -> &'a Value {
        self.check(answer.status == 200, "expected HTTP 200", answer);
        let messages = answer.body["messages"].as_array();
        self.check(
            messages.is_some_and(|m| m.iter().all(Value::is_string)),
            "a success has `messages`, an array of strings",
            answer,
        );
        self.check(
            answer
                .body
                .as_object()
                .is_some_and(|o| o.contains_key("response")),
            "a success has `response`",
            answer,
        );
        answer.response()
    }

    /// An error: the HTTP status, the contract's `errorCode`, a `message` and `errors`.
    pub fn expect_error(&self, answer: &Answer, http: u16, code: i64) {
        self.check(
            answer.status == http && answer.error_code() == Some(code),
            format_args!("expected HTTP {http} with errorCode {code}"),
            answer,
        );
        self.check(
            answer.body["message"].is_string(),
            "an error has a `message`",
            answer,
        );
        self.check(
            answer.body["errors"]
                .as_array()
                .is_some_and(|e| e.iter().all(Value::is_string)),
            "an error has `errors`, an array of strings",
            answer,
        );
    }
}
