//! Waiting for a condition in a test: a bound for failing, not a timing assertion.

use std::future::Future;
use std::time::{Duration, Instant};

/// Polls `check` every `every` until it gives Some; panics naming `what` after `timeout`.
pub async fn until<T, F, Fut>(timeout: Duration, every: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?}: {what}"
        );
        tokio::time::sleep(every).await;
    }
}
