//! One request and its whole answer over a socket, framed by hyper; the socket back when
//! it may carry the next request.

use bytes::Bytes;
use futures::future;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::limit::{Metered, is_limit_exceeded};
use super::policy::{self, Answer, MAX_HEAD_BYTES, TransportError};

/// How an exchange ended without an answer.
#[derive(Debug)]
pub enum Failure {
    /// The connection ended before a byte of an answer: a kept connection the server
    /// closed while it was idle. Safe to repeat for a `GET`.
    Stale(String),
    Failed(TransportError),
}

/// Sends `request` on `stream` and reads the whole answer, reading at most `limit` bytes
/// from the socket. The connection is driven in this task (no task per call); the stream
/// comes back when the answer allowed keep-alive and nothing beyond it was received.
pub async fn exchange(
    stream: TcpStream,
    request: Request<Full<Bytes>>,
    limit: usize,
) -> Result<(Answer, Option<TcpStream>), Failure> {
    let io = TokioIo::new(Metered::new(stream, limit));
    let (mut sender, connection) = http1::Builder::new()
        // The read buffer starts at 8 KiB and never grows past this: a JobManager's heads
        // are small, bodies pass through it in pieces, and the limit is the meter's.
        .max_buf_size(MAX_HEAD_BYTES)
        .handshake::<_, Full<Bytes>>(io)
        .await
        .map_err(|error| Failure::Failed(broken(&error)))?;
    let answer = async move {
        let response = sender.send_request(request).await.map_err(|error| {
            if is_limit_exceeded(&error) {
                Failure::Failed(TransportError::TooLarge)
            } else if closed_before_answer(&error) {
                Failure::Stale(policy::error_chain(&error))
            } else {
                Failure::Failed(broken(&error))
            }
        })?;
        let (head, body) = response.into_parts();
        if policy::declared_too_large(&head.headers, limit) {
            return Err(Failure::Failed(TransportError::TooLarge));
        }
        let body = body
            .collect()
            .await
            .map_err(|error| Failure::Failed(body_error(&error)))?
            .to_bytes();
        // `sender` is dropped here: the connection sees no more requests and finishes.
        Ok((head, body))
    };
    let (answer, parts) = future::join(answer, connection.without_shutdown()).await;
    let (head, body) = answer?;
    let reusable = policy::allows_reuse(head.version, &head.headers);
    let stream = match parts {
        Ok(http1::Parts { io, read_buf, .. }) if reusable && read_buf.is_empty() => {
            Some(io.into_inner().into_inner())
        }
        _ => None,
    };
    Ok((
        Answer::new(head.status.as_u16(), &head.headers, body),
        stream,
    ))
}

fn broken(error: &hyper::Error) -> TransportError {
    TransportError::Broken(policy::error_chain(error))
}

fn body_error(error: &hyper::Error) -> TransportError {
    if is_limit_exceeded(error) {
        TransportError::TooLarge
    } else {
        TransportError::Broken(format!(
            "reading the answer's body failed: {}",
            policy::error_chain(error)
        ))
    }
}

/// The connection ended (closed, reset, or the request could not be written) before any
/// byte of an answer was parsed.
fn closed_before_answer(error: &hyper::Error) -> bool {
    if error.is_incomplete_message() || error.is_canceled() {
        return true;
    }
    use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset};
    policy::causes(error)
        .find_map(|cause| cause.downcast_ref::<std::io::Error>())
        .is_some_and(|io| matches!(io.kind(), BrokenPipe | ConnectionAborted | ConnectionReset))
}
