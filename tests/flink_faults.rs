//! A JobManager that misbehaves: slow, garbage, HTML, truncated JSON, an endless body, a
//! closed connection. Every call ends in bounded time with a clear error, memory stays
//! bounded by the response cap, and nothing panics. Raw TCP servers play the JobManager,
//! so the faults are byte-exact.

use std::time::{Duration, Instant};

use flink_monitor::flink::{ClientSettings, FlinkClient, FlinkError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What the fake JobManager does with each connection after reading the request head.
#[derive(Debug, Clone, Copy)]
enum Behaviour {
    Respond(&'static [u8]),
    RespondAfter(Duration, &'static [u8]),
    /// Headers, then chunks forever.
    Endless,
    /// Read the request, then close without a byte.
    Close,
}

async fn jobmanager(behaviour: Behaviour) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                match behaviour {
                    Behaviour::Respond(bytes) => {
                        let _ = socket.write_all(bytes).await;
                    }
                    Behaviour::RespondAfter(delay, bytes) => {
                        tokio::time::sleep(delay).await;
                        let _ = socket.write_all(bytes).await;
                    }
                    Behaviour::Endless => {
                        let head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
                        if socket.write_all(head).await.is_err() {
                            return;
                        }
                        let chunk = format!("10000\r\n{}\r\n", "[".repeat(0x10000));
                        while socket.write_all(chunk.as_bytes()).await.is_ok() {}
                    }
                    Behaviour::Close => {}
                }
            });
        }
    });
    url
}

fn client(url: &str, timeout: Duration, max_response_bytes: usize) -> FlinkClient {
    FlinkClient::new(
        FlinkClient::http_client().unwrap(),
        url.parse().unwrap(),
        ClientSettings {
            timeout,
            max_response_bytes,
            concurrency: 4,
        },
    )
}

/// Calls `/jobs/overview`, and checks the call ended well within its time budget.
async fn overview_error(url: &str, timeout: Duration, cap: usize) -> FlinkError {
    let started = Instant::now();
    let result = client(url, timeout, cap).jobs_overview().await;
    let took = started.elapsed();
    assert!(
        took < timeout + Duration::from_secs(2),
        "the call took {took:?}, its budget is {timeout:?}"
    );
    result.expect_err("a misbehaving JobManager must give an error")
}

/// A well-framed 200 answer with `body`.
fn ok_answer(content_type: &str, body: &[u8]) -> &'static [u8] {
    let mut bytes = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    bytes.extend_from_slice(body);
    Box::leak(bytes.into_boxed_slice())
}

/// A late answer: an empty overview after 5 s.
const LATE: Behaviour = Behaviour::RespondAfter(
    Duration::from_secs(5),
    b"HTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\n{\"jobs\":[]}",
);
const CUT_SHORT: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 500\r\n\r\n{\"jobs\":[";
const HTML_ERROR_PAGE: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/html\r\ncontent-length: 38\r\n\r\n<html>upstream connect error</html>\n\n\n";
const DECLARED_HUGE: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 900000000\r\n\r\n{";
const NOT_JSON: &str = "not the expected JSON";
/// The client's time budget, unless a case says otherwise.
const BUDGET: Duration = Duration::from_secs(2);
const CAP: usize = 1 << 20;

/// The error a misbehaving JobManager must end in.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Timeout,
    Decode,
    Request,
    RequestOrConnect,
    /// An HTTP status error with this status.
    Status(u16),
    TooLarge,
    /// Too large, naming the cap.
    TooLargeFor(usize),
}

impl Kind {
    fn of(self, error: &FlinkError) -> bool {
        match self {
            Kind::Timeout => matches!(error, FlinkError::Timeout { .. }),
            Kind::Decode => matches!(error, FlinkError::Decode { .. }),
            Kind::Request => matches!(error, FlinkError::Request { .. }),
            Kind::RequestOrConnect => matches!(
                error,
                FlinkError::Request { .. } | FlinkError::Connect { .. }
            ),
            Kind::Status(status) => error.status() == Some(status),
            Kind::TooLarge => matches!(error, FlinkError::TooLarge { .. }),
            Kind::TooLargeFor(cap) => {
                matches!(error, FlinkError::TooLarge { limit, .. } if *limit == cap)
            }
        }
    }
}

#[tokio::test]
async fn every_misbehaviour_ends_in_time_with_its_error() {
    use Behaviour::{Close, Endless, Respond};
    let json = |body| Respond(ok_answer("application/json", body));
    let html = |body| Respond(ok_answer("text/html", body));
    // What the JobManager does, the client's budget, the error, what its message must say
    // (the URL, the cause, or what to do).
    let cases: [(Behaviour, Duration, Kind, &str); 10] = [
        (
            LATE,
            Duration::from_millis(300),
            Kind::Timeout,
            "/jobs/overview",
        ),
        (json(b"\x00\xffgarbage!!"), BUDGET, Kind::Decode, NOT_JSON),
        (
            html(b"<html><body>hi</body></html>"),
            BUDGET,
            Kind::Decode,
            NOT_JSON,
        ),
        (
            json(br#"{"jobs":[{"jid":"a""#),
            BUDGET,
            Kind::Decode,
            NOT_JSON,
        ),
        (Respond(CUT_SHORT), BUDGET, Kind::Request, ""),
        (
            Respond(HTML_ERROR_PAGE),
            BUDGET,
            Kind::Status(503),
            "upstream connect error",
        ),
        (
            Endless,
            Duration::from_secs(10),
            Kind::TooLargeFor(CAP),
            "--max-response-bytes",
        ),
        (Respond(DECLARED_HUGE), BUDGET, Kind::TooLarge, ""),
        (Close, BUDGET, Kind::RequestOrConnect, ""),
        (
            Respond(b"SSH-2.0-OpenSSH_9.2\r\n"),
            BUDGET,
            Kind::RequestOrConnect,
            "",
        ),
    ];
    for (behaviour, timeout, kind, says) in cases {
        let url = jobmanager(behaviour).await;
        let error = overview_error(&url, timeout, CAP).await;
        assert!(
            kind.of(&error),
            "{behaviour:?}: {kind:?} wanted, got {error}"
        );
        assert!(
            error.to_string().contains(says),
            "{behaviour:?}: the error says {says:?}: {error}"
        );
    }
}

#[tokio::test]
async fn a_refused_connection_is_a_connect_error_naming_the_url_without_credentials() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let url = format!("http://admin:s3cret@127.0.0.1:{port}");
    let error = overview_error(&url, BUDGET, CAP).await;
    assert!(matches!(error, FlinkError::Connect { .. }), "{error}");
    let text = error.to_string();
    assert!(
        text.contains(&format!("http://127.0.0.1:{port}/jobs/overview")),
        "{text}"
    );
    assert!(
        !text.contains("s3cret") && !text.contains("admin"),
        "credentials leaked: {text}"
    );
}
