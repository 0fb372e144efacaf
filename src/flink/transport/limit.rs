//! A byte budget on everything read from a socket during one exchange: head, body, chunk
//! sizes and extensions, trailers, and whatever else a JobManager sends. Counting the raw
//! reads bounds all of it whatever the parser buffers, so no part of an answer needs a
//! limit of its own.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};

use super::policy::causes;

/// The error a read returns once the budget is spent; found again in hyper's error chain.
#[derive(Debug, thiserror::Error)]
#[error("the answer is larger than the limit")]
pub struct LimitExceeded;

/// `inner` with at most `remaining` bytes left to read.
#[derive(Debug)]
pub struct Metered<T> {
    inner: T,
    remaining: usize,
}

impl<T> Metered<T> {
    pub fn new(inner: T, budget: usize) -> Self {
        Self {
            inner,
            remaining: budget,
        }
    }

    pub fn into_inner(self) -> T {
        self.inner
    }
}

/// Whether `error` or one of its causes is [`LimitExceeded`].
pub fn is_limit_exceeded(error: &(dyn std::error::Error + 'static)) -> bool {
    causes(error).any(|cause| {
        cause.is::<LimitExceeded>()
            || cause
                .downcast_ref::<io::Error>()
                .and_then(io::Error::get_ref)
                .is_some_and(|inner| inner.is::<LimitExceeded>())
    })
}

impl<T: AsyncRead + Unpin> AsyncRead for Metered<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        // A read that passes the budget fails; it took at most the reader's buffer
        // (hyper's, bounded by its `max_buf_size`) from the socket.
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = result {
            let read = buf.filled().len() - before;
            if read > self.remaining {
                return Poll::Ready(Err(io::Error::other(LimitExceeded)));
            }
            self.remaining -= read;
        }
        result
    }
}

crate::write_through::write_through!(impl<T> Metered<T>);
