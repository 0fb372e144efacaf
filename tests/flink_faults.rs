//! A JobManager that misbehaves: slow, garbage, HTML, truncated JSON, an endless body, a
//! closed connection. Every call ends in bounded time with a clear error, memory stays
//! bounded by the response cap, and nothing panics. Raw TCP servers play the JobManager,
//! so the faults are byte-exact.

use std::time::{Duration, Instant};

use flink_monitor::flink::{ClientSettings, FlinkClient, FlinkError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What the fake JobManager does with each connection after reading the request head.
#[derive(Clone, Copy)]
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

#[tokio::test]
async fn an_answer_after_the_timeout_is_a_timeout() {
    let url = jobmanager(Behaviour::RespondAfter(
        Duration::from_secs(5),
        b"HTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\n{\"jobs\":[]}",
    ))
    .await;
    let error = overview_error(&url, Duration::from_millis(300), 1 << 20).await;
    assert!(matches!(error, FlinkError::Timeout { .. }), "{error}");
    assert!(
        error.to_string().contains("/jobs/overview"),
        "the error names the URL: {error}"
    );
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

#[tokio::test]
async fn garbage_html_and_truncated_json_are_decode_errors() {
    for answer in [
        ok_answer("application/json", b"\x00\xffgarbage!!"),
        ok_answer("text/html", b"<html><body>hi</body></html>"),
        ok_answer("application/json", br#"{"jobs":[{"jid":"a""#),
    ] {
        let url = jobmanager(Behaviour::Respond(answer)).await;
        let error = overview_error(&url, Duration::from_secs(2), 1 << 20).await;
        assert!(matches!(error, FlinkError::Decode { .. }), "{error}");
        assert!(
            error.to_string().contains("not the expected JSON"),
            "{error}"
        );
    }
}

#[tokio::test]
async fn a_body_cut_short_is_a_request_error() {
    let url = jobmanager(Behaviour::Respond(
        b"HTTP/1.1 200 OK\r\ncontent-length: 500\r\n\r\n{\"jobs\":[",
    ))
    .await;
    let error = overview_error(&url, Duration::from_secs(2), 1 << 20).await;
    assert!(matches!(error, FlinkError::Request { .. }), "{error}");
}

#[tokio::test]
async fn an_html_error_page_is_a_status_error_with_an_excerpt() {
    let url = jobmanager(Behaviour::Respond(
        b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/html\r\ncontent-length: 38\r\n\r\n<html>upstream connect error</html>\n\n\n",
    ))
    .await;
    let error = overview_error(&url, Duration::from_secs(2), 1 << 20).await;
    assert_eq!(error.status(), Some(503));
    assert!(
        error.to_string().contains("upstream connect error"),
        "{error}"
    );
}

#[tokio::test]
async fn an_endless_body_stops_at_the_cap() {
    let url = jobmanager(Behaviour::Endless).await;
    let error = overview_error(&url, Duration::from_secs(10), 1 << 20).await;
    assert!(
        matches!(error, FlinkError::TooLarge { limit, .. } if limit == 1 << 20),
        "{error}"
    );
    assert!(
        error.to_string().contains("--max-response-bytes"),
        "the error says what to do: {error}"
    );
}

#[tokio::test]
async fn a_declared_huge_body_is_refused_before_reading() {
    let url = jobmanager(Behaviour::Respond(
        b"HTTP/1.1 200 OK\r\ncontent-length: 900000000\r\n\r\n{",
    ))
    .await;
    let error = overview_error(&url, Duration::from_secs(2), 1 << 20).await;
    assert!(matches!(error, FlinkError::TooLarge { .. }), "{error}");
}

#[tokio::test]
async fn a_closed_connection_or_a_non_http_answer_is_a_request_error() {
    for behaviour in [
        Behaviour::Close,
        Behaviour::Respond(b"SSH-2.0-OpenSSH_9.2\r\n"),
    ] {
        let url = jobmanager(behaviour).await;
        let error = overview_error(&url, Duration::from_secs(2), 1 << 20).await;
        assert!(
            matches!(
                error,
                FlinkError::Request { .. } | FlinkError::Connect { .. }
            ),
            "{error}"
        );
    }
}

#[tokio::test]
async fn a_refused_connection_is_a_connect_error_naming_the_url_without_credentials() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let url = format!("http://admin:s3cret@127.0.0.1:{port}");
    let error = overview_error(&url, Duration::from_secs(2), 1 << 20).await;
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
