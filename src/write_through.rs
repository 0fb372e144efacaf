//! `AsyncWrite` for a stream wrapper that only changes what is read: every write call goes
//! to its `inner` field as it came. Written once for the API's guarded connections and the
//! Flink transport's metered ones.

/// Implements `AsyncWrite` for `$wrapper` by passing each call to `self.inner` (which must
/// be `Unpin`): `write_through!(GuardedStream)`, or `write_through!(impl<T> Metered<T>)` for
/// a wrapper generic over its stream.
macro_rules! write_through {
    (@impl [$($bounds:tt)*] $wrapper:ty) => {
        impl<$($bounds)*> tokio::io::AsyncWrite for $wrapper {
            fn poll_write(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
            }

            fn poll_write_vectored(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                std::pin::Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
            }

            fn is_write_vectored(&self) -> bool {
                self.inner.is_write_vectored()
            }

            fn poll_flush(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::pin::Pin::new(&mut self.inner).poll_flush(cx)
            }

            fn poll_shutdown(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
            }
        }
    };
    (impl<$param:ident> $wrapper:ty) => {
        $crate::write_through::write_through!(@impl [$param: tokio::io::AsyncWrite + Unpin] $wrapper);
    };
    ($wrapper:ty) => {
        $crate::write_through::write_through!(@impl [] $wrapper);
    };
}

pub(crate) use write_through;
