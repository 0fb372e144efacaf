use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;

const LIMIT: usize = 1 << 20;
const OK_JSON: &[u8] =
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";

/// A JobManager that answers each connection's requests from its script (one list of
/// writes per request) and closes the connection when its script ends.
struct Scripted {
    url: Url,
    accepted: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<String>>>,
}

async fn scripted(connections: Vec<Vec<Vec<&'static [u8]>>>) -> Scripted {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let requests = Arc::new(Mutex::new(Vec::new()));
    let (counter, seen) = (accepted.clone(), requests.clone());
    tokio::spawn(async move {
        for script in connections {
            let (mut socket, _) = listener.accept().await.unwrap();
            counter.fetch_add(1, Ordering::SeqCst);
            for answer in script {
                let mut head = Vec::new();
                while !head.ends_with(b"\r\n\r\n") {
                    let mut byte = [0u8; 1];
                    if socket.read(&mut byte).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                seen.lock().unwrap().push(String::from_utf8(head).unwrap());
                for piece in answer {
                    socket.write_all(piece).await.unwrap();
                    socket.flush().await.unwrap();
                    tokio::task::yield_now().await;
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
    Origin::for_base(url, "flink-monitor/test").expect("a plain-HTTP origin")
}

#[tokio::test]
async fn requests_share_one_kept_connection() {
    let server = scripted(vec![vec![vec![OK_JSON], vec![OK_JSON], vec![OK_JSON]]]).await;
    let origin = origin(&server.url);
    for _ in 0..3 {
        let answer = origin.get("/jobs/overview", LIMIT).await.unwrap();
        assert_eq!((answer.status, &answer.body[..]), (200, &b"{}"[..]));
    }
    assert_eq!(server.accepted.load(Ordering::SeqCst), 1);
    let requests = server.requests.lock().unwrap();
    assert!(
        requests[0].starts_with("GET /jobs/overview HTTP/1.1\r\nHost: 127.0.0.1:"),
        "{requests:?}"
    );
}

#[tokio::test]
async fn a_connection_closed_while_idle_is_replaced_once() {
    // The first connection carries one answer and is closed by the server, as an idle
    // timeout would: the next request must not fail for it.
    let server = scripted(vec![vec![vec![OK_JSON]], vec![vec![OK_JSON]]]).await;
    let origin = origin(&server.url);
    origin.get("/config", LIMIT).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let answer = origin.get("/config", LIMIT).await.unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(server.accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_fresh_connection_closed_without_an_answer_is_an_error() {
    let server = scripted(vec![vec![vec![]]]).await;
    let error = origin(&server.url).get("/config", LIMIT).await.unwrap_err();
    assert!(
        matches!(&error, Http1Error::Broken(reason) if reason.contains("closed before an answer")),
        "{error:?}"
    );
}

#[tokio::test]
async fn chunked_bodies_are_decoded_across_reads_and_the_connection_kept() {
    let server = scripted(vec![vec![
        vec![
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\n{\"a\"",
            b":\r\n3\r\n[1]\r\n1;ext=x\r\n}\r\n0\r\n",
            b"x-trailer: y\r\n\r\n",
        ],
        vec![OK_JSON],
    ]])
    .await;
    let origin = origin(&server.url);
    let answer = origin.get("/jobs/overview", LIMIT).await.unwrap();
    assert_eq!(&answer.body[..], br#"{"a":[1]}"#);
    origin.get("/jobs/overview", LIMIT).await.unwrap();
    assert_eq!(server.accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_answer_without_a_length_is_read_to_the_end_and_not_kept() {
    let server = scripted(vec![
        vec![vec![b"HTTP/1.0 200 OK\r\n\r\n{\"jobs\":", b"[]}"]],
        vec![vec![OK_JSON]],
    ])
    .await;
    let origin = origin(&server.url);
    let answer = origin.get("/jobs/overview", LIMIT).await.unwrap();
    assert_eq!(&answer.body[..], br#"{"jobs":[]}"#);
    origin.get("/jobs/overview", LIMIT).await.unwrap();
    assert_eq!(server.accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn connection_close_and_extra_bytes_end_the_connection() {
    let server = scripted(vec![
        vec![vec![
            b"HTTP/1.1 200 OK\r\nConnection: close\r\ncontent-length: 2\r\n\r\n{}",
        ]],
        vec![vec![
            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}garbage",
        ]],
        vec![vec![OK_JSON]],
    ])
    .await;
    let origin = origin(&server.url);
    for _ in 0..3 {
        assert_eq!(&origin.get("/", LIMIT).await.unwrap().body[..], b"{}");
    }
    assert_eq!(server.accepted.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn bodies_over_the_limit_are_refused_whatever_their_framing() {
    let cases: [&'static [u8]; 3] = [
        b"HTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n6\r\n123456\r\n6\r\n123456\r\n0\r\n\r\n",
        b"HTTP/1.0 200 OK\r\n\r\n12345678901",
    ];
    for case in cases {
        let server = scripted(vec![vec![vec![case]]]).await;
        let error = origin(&server.url).get("/", 10).await.unwrap_err();
        assert_eq!(
            error,
            Http1Error::TooLarge,
            "{}",
            String::from_utf8_lossy(case)
        );
    }
}

#[tokio::test]
async fn informational_heads_are_skipped() {
    let server = scripted(vec![vec![vec![b"HTTP/1.1 100 Continue\r\n\r\n", OK_JSON]]]).await;
    let answer = origin(&server.url).get("/", LIMIT).await.unwrap();
    assert_eq!((answer.status, &answer.body[..]), (200, &b"{}"[..]));
}

#[tokio::test]
async fn malformed_answers_are_errors_that_say_so() {
    let cases: [(&'static [u8], &str); 4] = [
        (b"SSH-2.0-OpenSSH_9.2\r\n", "not an HTTP answer"),
        (
            b"HTTP/1.1 200 OK\r\ncontent-length: ten\r\n\r\n",
            "is not a number",
        ),
        (
            b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n{}",
            "after 2 of 10 bytes",
        ),
        (
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
            "chunked body is malformed",
        ),
    ];
    for (answer, says) in cases {
        let server = scripted(vec![vec![vec![answer]]]).await;
        let error = origin(&server.url).get("/", LIMIT).await.unwrap_err();
        assert!(
            matches!(&error, Http1Error::Broken(reason) if reason.contains(says)),
            "{says}: {error:?}"
        );
    }
}

#[tokio::test]
async fn credentials_in_the_url_are_sent_as_basic_auth() {
    let server = scripted(vec![vec![vec![OK_JSON]]]).await;
    let mut url = server.url.clone();
    url.set_username("ad%20min").unwrap();
    url.set_password(Some("s3cret")).unwrap();
    origin(&url).get("/", LIMIT).await.unwrap();
    let requests = server.requests.lock().unwrap();
    // base64("ad min:s3cret")
    assert!(
        requests[0].contains("Authorization: Basic YWQgbWluOnMzY3JldA==\r\n"),
        "{requests:?}"
    );
}

#[test]
fn tls_is_left_to_reqwest() {
    let url = Url::parse("https://flink.example").unwrap();
    assert!(Origin::for_base(&url, "ua").is_none());
}
