//! The transport against scripted JobManagers: each case writes raw bytes on a socket.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::Method;
use reqwest::Url;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::{Origin, TransportError, http_client, send_remote};

const LIMIT: usize = 1 << 20;
const OK_JSON: &[u8] =
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";

/// What the server does after reading a request's head.
#[derive(Clone)]
enum Step {
    Send(Bytes),
    Wait(Duration),
}

fn send(bytes: &'static [u8]) -> Step {
    Step::Send(Bytes::from_static(bytes))
}

/// A JobManager that answers each connection's requests from its script (one list of
/// steps per request) and closes the connection when its script ends.
struct Scripted {
    url: Url,
    accepted: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Scripted {
    /// The connections accepted so far.
    fn connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// The `n`th request read (from 0), as sent.
    fn request(&self, n: usize) -> String {
        self.requests.lock().unwrap()[n].clone()
    }

    /// The `n`th request has `start_line` and contains each of `parts` (all compared in
    /// lower case).
    fn assert_request(&self, n: usize, start_line: &str, parts: &[&str]) {
        let request = self.request(n).to_ascii_lowercase();
        assert!(
            request.starts_with(&format!("{start_line}\r\n")),
            "{request}"
        );
        for part in parts {
            assert!(request.contains(part), "{part:?} in {request}");
        }
    }
}

async fn scripted(connections: Vec<Vec<Vec<Step>>>) -> Scripted {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let requests = Arc::new(Mutex::new(Vec::new()));
    let (counter, seen) = (accepted.clone(), requests.clone());
    tokio::spawn(async move {
        for script in connections {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            counter.fetch_add(1, Ordering::SeqCst);
            'requests: for answer in script {
                let mut head = Vec::new();
                while !head.ends_with(b"\r\n\r\n") {
                    let mut byte = [0u8; 1];
                    if socket.read(&mut byte).await.unwrap_or(0) == 0 {
                        // The client closed the connection: on to the next one.
                        break 'requests;
                    }
                    head.push(byte[0]);
                }
                seen.lock().unwrap().push(String::from_utf8(head).unwrap());
                for step in answer {
                    match step {
                        Step::Send(bytes) => {
                            if socket.write_all(&bytes).await.is_err() {
                                break;
                            }
                            let _ = socket.flush().await;
                            tokio::task::yield_now().await;
                        }
                        Step::Wait(pause) => tokio::time::sleep(pause).await,
                    }
                }
            }
        }
    });
    Scripted {
        url,
        accepted,
        requests,
    }
}

fn origin(url: &Url) -> Origin {
    Origin::for_base(url).expect("a plain-HTTP origin")
}

async fn get(origin: &Origin, limit: usize) -> Result<super::Answer, TransportError> {
    origin
        .send(Method::GET, "/jobs/overview", None, limit)
        .await
}

#[tokio::test]
async fn requests_share_one_kept_connection_and_say_who_calls() {
    let ok = || vec![send(OK_JSON)];
    let server = scripted(vec![vec![ok(), ok(), ok()]]).await;
    let origin = origin(&server.url);
    for _ in 0..3 {
        let answer = get(&origin, LIMIT).await.unwrap();
        assert_eq!((answer.status, &answer.body[..]), (200, &b"{}"[..]));
    }
    assert_eq!(server.connections(), 1);
    let user_agent = format!(
        "user-agent: flink-monitor/{}\r\n",
        env!("CARGO_PKG_VERSION")
    );
    server.assert_request(
        0,
        "get /jobs/overview http/1.1",
        &["host: 127.0.0.1:", &user_agent],
    );
}

#[tokio::test]
async fn a_connection_closed_while_idle_is_replaced_once() {
    // The first connection carries one answer and is closed by the server, as an idle
    // timeout would: the next request must not fail for it.
    let server = scripted(vec![vec![vec![send(OK_JSON)]], vec![vec![send(OK_JSON)]]]).await;
    let origin = origin(&server.url);
    get(&origin, LIMIT).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(get(&origin, LIMIT).await.unwrap().status, 200);
    assert_eq!(server.connections(), 2);
}

#[tokio::test]
async fn a_fresh_connection_closed_without_an_answer_is_an_error() {
    let server = scripted(vec![vec![vec![]]]).await;
    let error = get(&origin(&server.url), LIMIT).await.unwrap_err();
    assert!(
        matches!(&error, TransportError::Broken(reason) if reason.contains("closed before an answer")),
        "{error:?}"
    );
}

#[tokio::test]
async fn an_unrequested_second_answer_never_passes_for_the_next_one() {
    // The real answer, then a forged one a few milliseconds later on the same connection.
    let server = scripted(vec![
        vec![vec![
            send(OK_JSON),
            Step::Wait(Duration::from_millis(20)),
            send(b"HTTP/1.1 200 OK\r\ncontent-length: 20\r\n\r\n{\"jobs\":[\"forged\"]}"),
            Step::Wait(Duration::from_secs(5)),
        ]],
        vec![vec![send(
            b"HTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\n{\"jobs\":[]}",
        )]],
    ])
    .await;
    let origin = origin(&server.url);
    assert_eq!(&get(&origin, LIMIT).await.unwrap().body[..], b"{}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let answer = get(&origin, LIMIT).await.unwrap();
    assert_eq!(&answer.body[..], br#"{"jobs":[]}"#);
    assert_eq!(server.connections(), 2);
}

#[tokio::test]
async fn chunked_bodies_are_decoded_across_reads_and_the_connection_kept() {
    let server = scripted(vec![vec![
        vec![
            send(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\n{\"a\""),
            send(b":\r\n3\r\n[1]\r\n1;ext=x\r\n}\r\n0\r\n"),
            send(b"x-trailer: y\r\n\r\n"),
        ],
        vec![send(OK_JSON)],
    ]])
    .await;
    let origin = origin(&server.url);
    let answer = get(&origin, LIMIT).await.unwrap();
    assert_eq!(&answer.body[..], br#"{"a":[1]}"#);
    get(&origin, LIMIT).await.unwrap();
    assert_eq!(server.connections(), 1);
}

#[tokio::test]
async fn an_answer_without_a_length_is_read_to_the_end_and_not_kept() {
    let server = scripted(vec![
        vec![vec![
            send(b"HTTP/1.0 200 OK\r\n\r\n{\"jobs\":"),
            send(b"[]}"),
        ]],
        vec![vec![send(OK_JSON)]],
    ])
    .await;
    let origin = origin(&server.url);
    assert_eq!(
        &get(&origin, LIMIT).await.unwrap().body[..],
        br#"{"jobs":[]}"#
    );
    get(&origin, LIMIT).await.unwrap();
    assert_eq!(server.connections(), 2);
}

#[tokio::test]
async fn close_tokens_ambiguous_framing_and_extra_bytes_end_the_connection() {
    // Each connection would answer a second request with a wrong body: the client must
    // not send one there.
    const WRONG: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\n{\"wrong\":1}";
    let cases: [&'static [u8]; 4] = [
        b"HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\ncontent-length: 2\r\n\r\n{}",
        b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nConnection: Close\r\ncontent-length: 2\r\n\r\n{}",
        // RFC 9112 6.3: chunked wins, and the connection must not be reused.
        b"HTTP/1.1 200 OK\r\ncontent-length: 99\r\ntransfer-encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}garbage",
    ];
    for case in cases {
        let server = scripted(vec![
            vec![vec![send(case)], vec![send(WRONG)]],
            vec![vec![send(OK_JSON)]],
        ])
        .await;
        let origin = origin(&server.url);
        for _ in 0..2 {
            let answer = get(&origin, LIMIT).await.unwrap();
            assert_eq!(&answer.body[..], b"{}", "{}", String::from_utf8_lossy(case));
        }
        assert_eq!(server.connections(), 2);
    }
}

#[tokio::test]
async fn the_last_transfer_coding_decides_the_framing() {
    let server = scripted(vec![vec![vec![send(
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\ntransfer-encoding: chunked\r\ncontent-length: 3\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
    )]]])
    .await;
    let answer = get(&origin(&server.url), LIMIT).await.unwrap();
    // The chunked framing was decoded (the gzip coding is the caller's to refuse: the
    // body is not JSON).
    assert_eq!(&answer.body[..], b"{}");
}

#[tokio::test]
async fn answers_over_the_limit_are_refused_whatever_their_framing() {
    let cases: [&'static [u8]; 3] = [
        b"HTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\n12345678901",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n6\r\n123456\r\n6\r\n123456\r\n0\r\n\r\n",
        b"HTTP/1.0 200 OK\r\n\r\n12345678901",
    ];
    for case in cases {
        let server = scripted(vec![vec![vec![send(case)]]]).await;
        // The head counts too: room for it, and 10 bytes of body.
        let limit = head_len(case) + 10;
        let error = get(&origin(&server.url), limit).await.unwrap_err();
        assert_eq!(
            error,
            TransportError::TooLarge,
            "{}",
            String::from_utf8_lossy(case)
        );
    }
}

fn head_len(answer: &[u8]) -> usize {
    answer.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4
}

/// Bytes of `size` made of `byte`, leaked: scripts hold `'static` pieces.
fn filler(byte: u8, size: usize) -> &'static [u8] {
    Vec::leak(vec![byte; size])
}

#[tokio::test]
async fn trailers_chunk_extensions_and_heads_cannot_flood_memory() {
    const CAP: usize = 64 * 1024;
    let mut trailer =
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\nx-flood: ".to_vec();
    trailer.extend_from_slice(filler(b'a', 4 << 20));
    let mut extension = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2;".to_vec();
    extension.extend_from_slice(filler(b'e', 4 << 20));
    let mut headers = b"HTTP/1.1 200 OK\r\n".to_vec();
    for i in 0..40_000 {
        headers.extend_from_slice(format!("x-h{i}: {}\r\n", "v".repeat(20)).as_bytes());
    }
    for case in [trailer, extension, headers] {
        let case: &'static [u8] = Vec::leak(case);
        let server = scripted(vec![vec![vec![send(case)]]]).await;
        let started = std::time::Instant::now();
        let error = get(&origin(&server.url), CAP).await.unwrap_err();
        assert!(
            matches!(error, TransportError::TooLarge | TransportError::Broken(_)),
            "{error:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}

#[tokio::test]
async fn informational_heads_are_skipped() {
    let server = scripted(vec![vec![vec![
        send(b"HTTP/1.1 100 Continue\r\n\r\n"),
        send(OK_JSON),
    ]]])
    .await;
    let answer = get(&origin(&server.url), LIMIT).await.unwrap();
    assert_eq!((answer.status, &answer.body[..]), (200, &b"{}"[..]));
}

#[tokio::test]
async fn malformed_answers_are_errors() {
    let cases: [&'static [u8]; 6] = [
        b"SSH-2.0-OpenSSH_9.2\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-length: ten\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-length: +2\r\n\r\n{}",
        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\n{}x",
        b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n{}",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
    ];
    for answer in cases {
        let server = scripted(vec![vec![vec![send(answer)]]]).await;
        let error = get(&origin(&server.url), LIMIT).await;
        assert!(
            matches!(&error, Err(TransportError::Broken(_))),
            "{}: {error:?}",
            String::from_utf8_lossy(answer)
        );
    }
}

#[tokio::test]
async fn credentials_in_the_url_are_sent_as_basic_auth() {
    let server = scripted(vec![vec![vec![send(OK_JSON)]]]).await;
    let mut url = server.url.clone();
    url.set_username("ad%20min").unwrap();
    url.set_password(Some("s3cret")).unwrap();
    get(&origin(&url), LIMIT).await.unwrap();
    let first = server.request(0);
    // base64("ad min:s3cret")
    assert!(first.contains("YWQgbWluOnMzY3JldA==\r\n"), "{first}");
}

#[tokio::test]
async fn writes_carry_their_body_on_a_connection_of_their_own() {
    let server = scripted(vec![
        vec![vec![send(OK_JSON)]],
        vec![vec![send(
            b"HTTP/1.1 202 Accepted\r\ncontent-length: 2\r\n\r\n{}",
        )]],
    ])
    .await;
    let origin = origin(&server.url);
    get(&origin, LIMIT).await.unwrap();
    let answer = origin
        .send(
            Method::POST,
            "/jobs/j1/stop",
            Some(Bytes::from_static(b"{\"drain\":false}")),
            LIMIT,
        )
        .await
        .unwrap();
    assert_eq!(answer.status, 202);
    assert_eq!(server.connections(), 2);
    server.assert_request(
        1,
        "post /jobs/j1/stop http/1.1",
        &["content-type: application/json", "content-length: 15"],
    );
}

/// A listener that counts connections: where a redirect points.
async fn elsewhere() -> (Url, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let counter = count.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            let _ = socket.write_all(OK_JSON).await;
        }
    });
    (url, count)
}

#[tokio::test]
async fn redirects_are_answers_never_followed_by_either_transport() {
    let (target, visits) = elsewhere().await;
    let redirect: &'static [u8] = Vec::leak(
        format!("HTTP/1.1 307 Temporary Redirect\r\nlocation: {target}jobs/j1\r\ncontent-length: 0\r\n\r\n")
            .into_bytes(),
    );
    let server = scripted(vec![
        vec![vec![send(redirect)]],
        vec![vec![send(redirect)]],
        vec![vec![send(redirect)]],
    ])
    .await;
    let origin = origin(&server.url);
    let read = get(&origin, LIMIT).await.unwrap();
    let cancel = origin
        .send(Method::PATCH, "/jobs/j1?mode=cancel", None, LIMIT)
        .await
        .unwrap();
    let via_reqwest = send_remote(
        &http_client().unwrap(),
        Method::PATCH,
        server.url.join("/jobs/j1?mode=cancel").unwrap(),
        None,
        LIMIT,
    )
    .await
    .unwrap();
    for answer in [read, cancel, via_reqwest] {
        assert_eq!(answer.status, 307);
        assert_eq!(
            answer.location.as_deref(),
            Some(&*format!("{target}jobs/j1"))
        );
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(visits.load(Ordering::SeqCst), 0, "a redirect was followed");
}

#[tokio::test]
async fn reqwest_answers_are_bounded_by_the_same_limit() {
    let server = scripted(vec![
        vec![vec![send(b"HTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\n12345678901")]],
        vec![vec![send(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n6\r\n123456\r\n6\r\n123456\r\n0\r\n\r\n",
        )]],
    ])
    .await;
    let http = http_client().unwrap();
    for _ in 0..2 {
        let error = send_remote(&http, Method::GET, server.url.clone(), None, 10)
            .await
            .unwrap_err();
        assert_eq!(error, TransportError::TooLarge);
    }
}

#[test]
fn tls_is_left_to_reqwest() {
    let url = Url::parse("https://flink.example").unwrap();
    assert!(Origin::for_base(&url).is_none());
}
