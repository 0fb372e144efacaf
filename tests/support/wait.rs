//! Waiting for a condition in a test: a bound for failing, not a timing assertion. Every
//! test waits through here, so a slow machine is one constant away from passing.

use std::time::{Duration, Instant};

/// Polls `check` every `every` until it gives Some; panics naming `what` after `timeout`.
/// `check` is an async closure (`async || ...`) or a closure returning a future.
pub async fn until<T>(
    timeout: Duration,
    every: Duration,
    what: &str,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> T {
    until_ok(timeout, every, what, async || {
        check().await.ok_or_else(String::new)
    })
    .await
}

/// Polls `check` every `every` until it gives Ok; panics after `timeout` naming `what` and
/// the last Err (say what was seen instead: the last answer, the last state).
pub async fn until_ok<T>(
    timeout: Duration,
    every: Duration,
    what: &str,
    mut check: impl AsyncFnMut() -> Result<T, String>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        let last = match check().await {
            Ok(value) => return value,
            Err(last) => last,
        };
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?}: {what}{}{last}",
            if last.is_empty() { "" } else { "; last seen: " }
        );
        tokio::time::sleep(every).await;
    }
}
