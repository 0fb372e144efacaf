//! The API on a TCP listener: each connection's input passes through a [`HeadGuard`]
//! before hyper reads it, and what the guard refused is told to the request that stands in
//! for it, through the connection's [`GuardedConnection`] (axum's connect info).

use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, ready};

use axum::Router;
use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use super::ServerLimits;
use super::head_guard::{HeadGuard, HeadLimits, Refusal};

/// Serves `router` on `listener`, every head judged first (see `head_guard`), until
/// `shutdown` completes; then lets the requests in flight finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: &ServerLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let listener = GuardedListener {
        inner: listener,
        limits: HeadLimits::new(limits),
    };
    let service = router.into_make_service_with_connect_info::<GuardedConnection>();
    axum::serve(listener, service)
        .with_graceful_shutdown(shutdown)
        .await
}

pub struct GuardedListener {
    inner: TcpListener,
    limits: HeadLimits,
}

impl Listener for GuardedListener {
    type Io = GuardedStream;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (stream, addr) = Listener::accept(&mut self.inner).await;
        let stream = GuardedStream {
            inner: stream,
            guard: HeadGuard::new(self.limits),
            ready: BytesMut::new(),
            connection: GuardedConnection::default(),
        };
        (stream, addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// What a connection's guard refused, shared with the requests of that connection.
#[derive(Debug, Clone, Default)]
pub struct GuardedConnection {
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    /// Set once: after a refusal the guard lets nothing through.
    refused: OnceLock<Refusal>,
    /// Requests of the connection that reached the API so far.
    requests: AtomicU64,
}

impl GuardedConnection {
    /// Counts a request of the connection; the refusal it stands in for, if it is the
    /// stand-in. Every request must be counted, in order (hyper serves them one by one).
    pub fn next_request(&self) -> Option<&Refusal> {
        let request = self.shared.requests.fetch_add(1, Ordering::Relaxed) + 1;
        self.shared.refused.get().filter(|r| r.request == request)
    }
}

impl Connected<IncomingStream<'_, GuardedListener>> for GuardedConnection {
    fn connect_info(stream: IncomingStream<'_, GuardedListener>) -> Self {
        stream.io().connection.clone()
    }
}

/// A client connection, read through its head guard; writes go straight to the socket.
pub struct GuardedStream {
    inner: TcpStream,
    guard: HeadGuard,
    /// What the guard let through and hyper has not read yet.
    ready: BytesMut,
    connection: GuardedConnection,
}

/// Bytes read from the socket at once.
const READ_CHUNK: usize = 8 * 1024;

impl AsyncRead for GuardedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            if !this.ready.is_empty() {
                let n = this.ready.len().min(buf.remaining());
                buf.put_slice(&this.ready[..n]);
                this.ready.advance(n);
                return Poll::Ready(Ok(()));
            }
            if this.guard.lets_everything_through() {
                return Pin::new(&mut this.inner).poll_read(cx, buf);
            }
            let mut chunk = [MaybeUninit::<u8>::uninit(); READ_CHUNK];
            let mut read = ReadBuf::uninit(&mut chunk);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut read))?;
            if read.filled().is_empty() {
                if this.connection.shared.refused.get().is_some() {
                    // The stand-in asked hyper to close once answered; an end of input
                    // now could make it drop that answer.
                    return Poll::Pending;
                }
                this.guard.finish(&mut this.ready);
                if this.ready.is_empty() {
                    return Poll::Ready(Ok(()));
                }
                continue;
            }
            if let Some(refusal) = this.guard.feed(read.filled(), &mut this.ready) {
                let _ = this.connection.shared.refused.set(refusal);
            }
        }
    }
}

crate::write_through::write_through!(GuardedStream);

#[cfg(test)]
mod tests {
    //! The API on a real socket, asked by a client that writes its requests byte by byte as
    //! it likes (the point is what hyper would have answered on its own).

    use std::time::Duration;

    use serde_json::Value;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::api::{AppState, StopGuard};
    use crate::clusters::testing::quiet_registry;
    use crate::flink::ClientSettings;
    use crate::metrics::Metrics;

    struct Server {
        addr: std::net::SocketAddr,
        metrics: Arc<Metrics>,
        stop: CancellationToken,
    }

    impl Drop for Server {
        fn drop(&mut self) {
            self.stop.cancel();
        }
    }

    async fn server() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let metrics = Arc::new(Metrics::new());
        let state = AppState::new(
            quiet_registry(ClientSettings::default()),
            metrics.clone(),
            StopGuard::Disabled,
        );
        let stop = CancellationToken::new();
        let shutdown = stop.clone().cancelled_owned();
        let app = crate::api::router(Arc::new(state));
        tokio::spawn(crate::api::serve(
            listener,
            app,
            ServerLimits::default(),
            shutdown,
        ));
        Server {
            addr,
            metrics,
            stop,
        }
    }

    /// Sends `requests` at once on one connection and reads until the server closes it.
    async fn exchange(server: &Server, requests: &[u8]) -> Vec<(u16, Value)> {
        let mut socket = TcpStream::connect(server.addr).await.unwrap();
        // Written in pieces, as a client on a slow link would.
        for piece in requests.chunks(16 * 1024) {
            socket.write_all(piece).await.unwrap();
        }
        let mut received = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), socket.read_to_end(&mut received))
            .await
            .expect("the server closes the connection")
            .unwrap();
        answers(&received)
    }

    /// Each answer's status and JSON body (Null if there is none).
    fn answers(mut received: &[u8]) -> Vec<(u16, Value)> {
        let mut answers = Vec::new();
        while !received.is_empty() {
            let mut fields = [httparse::EMPTY_HEADER; 32];
            let mut response = httparse::Response::new(&mut fields);
            let httparse::Status::Complete(head) = response.parse(received).unwrap() else {
                panic!("a partial answer: {}", String::from_utf8_lossy(received));
            };
            let length: usize = response
                .headers
                .iter()
                .find(|f| f.name.eq_ignore_ascii_case("content-length"))
                .map(|f| std::str::from_utf8(f.value).unwrap().parse().unwrap())
                .unwrap_or(0);
            let body = &received[head..head + length];
            answers.push((
                response.code.unwrap(),
                serde_json::from_slice(body).unwrap_or(Value::Null),
            ));
            received = &received[head + length..];
        }
        answers
    }

    fn get(target: &str, fields: &str) -> Vec<u8> {
        format!("GET {target} HTTP/1.1\r\nhost: test\r\n{fields}\r\n").into_bytes()
    }

    #[tokio::test]
    async fn heads_past_hyper_s_own_limits_are_answered_with_the_envelope() {
        let server = server().await;
        let long_target = format!("/job/{}/status/", "a".repeat(70_000));
        let many_fields: String = (0..150).map(|i| format!("x-{i}: v\r\n")).collect();
        let huge_field = format!("x-big: {}\r\n", "b".repeat(500_000));
        for (request, status, says) in [
            (get(&long_target, ""), 414, "request target"),
            (get("/healthz", &many_fields), 431, "header fields"),
            (get("/healthz", &huge_field), 431, "headers"),
        ] {
            let answers = exchange(&server, &request).await;
            assert_eq!(answers.len(), 1, "{answers:?}");
            let (got, body) = &answers[0];
            assert_eq!(*got, status, "{body}");
            assert_eq!(body["errorCode"], 4001, "{body}");
            assert!(body["errors"][0].as_str().unwrap().contains(says), "{body}");
        }
        let text = server.metrics.encode();
        for status in ["414", "431"] {
            let line = format!("route=\"refused\",status=\"{status}\"");
            assert!(text.contains(&line), "{text}");
        }
    }

    #[tokio::test]
    async fn requests_before_a_refused_head_on_the_connection_are_answered_first() {
        let server = server().await;
        let long_target = format!("/jobs/overview/?x={}", "a".repeat(100_000));
        let requests = [
            get("/healthz", ""),
            get("/jobs/overview", "content-length: 0\r\n"),
            get(&long_target, ""),
            get("/healthz", ""),
        ]
        .concat();
        let answers = exchange(&server, &requests).await;
        let statuses: Vec<u16> = answers.iter().map(|(status, _)| *status).collect();
        assert_eq!(statuses, [200, 200, 414], "{answers:?}");
        assert_eq!(answers[0].1["response"], "ok");
        assert_eq!(answers[2].1["errorCode"], 4001);
    }

    #[tokio::test]
    async fn a_request_with_a_body_is_still_refused_by_the_api() {
        let server = server().await;
        let request = [
            get(
                "/jobs/overview/",
                "content-length: 5\r\nconnection: close\r\n",
            ),
            b"hello".to_vec(),
        ]
        .concat();
        let answers = exchange(&server, &request).await;
        assert_eq!(answers.len(), 1, "{answers:?}");
        assert_eq!(
            (answers[0].0, &answers[0].1["errorCode"]),
            (400, &4001.into())
        );
    }
}
