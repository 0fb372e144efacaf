//! A short-lived cache with request coalescing: while one fetch of a key is in flight,
//! everyone else asking for that key waits for its answer instead of asking Flink again.
//! moka does the work: entries live `ttl` from when their fetch finished, a fetch
//! cancelled in flight leaves nothing behind (the next caller fetches), and expired
//! entries are evicted.

use std::hash::Hash;
use std::sync::OnceLock;
use std::time::Duration;

/// Entries are kept for `ttl` after their fetch completed (errors too, so a failing
/// JobManager is not hammered by every client).
pub struct TtlCache<K, V> {
    /// Zero: every call fetches.
    ttl: Duration,
    /// Built on first use. An empty moka cache costs about 30 KB (64 segments, bounded
    /// channels, a timer wheel); three per cluster at 1,000 clusters were most of the
    /// process's memory, for clusters nobody asked about (docs/performance.md).
    entries: OnceLock<moka::future::Cache<K, V>>,
}

/// A bound on the keys held, far above what a `ttl` of reads ever needs; it only matters
/// if something asks for many distinct keys very fast.
const MAX_ENTRIES: u64 = 10_000;

impl<K, V> TtlCache<K, V>
where
    K: Eq + Hash + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: OnceLock::new(),
        }
    }

    pub async fn get_or_fetch<F, Fut>(&self, key: K, fetch: F) -> V
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = V>,
    {
        if self.ttl.is_zero() {
            return fetch().await;
        }
        let entries = self.entries.get_or_init(|| {
            moka::future::Cache::builder()
                .max_capacity(MAX_ENTRIES)
                .time_to_live(self.ttl)
                .build()
        });
        entries.get_with(key, fetch()).await
    }

    /// Whether the moka cache was built (it is on first use).
    #[cfg(test)]
    fn built(&self) -> bool {
        self.entries.get().is_some()
    }

    /// Entries held, after expired ones are evicted.
    pub async fn len(&self) -> u64 {
        match self.entries.get() {
            Some(entries) => {
                entries.run_pending_tasks().await;
                entries.entry_count()
            }
            None => 0,
        }
    }

    pub async fn is_empty(&self) -> bool {
        self.len().await == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn concurrent_requests_for_one_key_make_one_fetch() {
        let cache = Arc::new(TtlCache::<String, usize>::new(Duration::from_secs(5)));
        let calls = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..100 {
            let cache = cache.clone();
            let calls = calls.clone();
            tasks.push(tokio::spawn(async move {
                cache
                    .get_or_fetch("job".to_string(), || async {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        calls.fetch_add(1, Ordering::SeqCst) + 1
                    })
                    .await
            }));
        }
        for task in tasks {
            assert_eq!(task.await.unwrap(), 1);
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn entries_expire_after_the_ttl() {
        let cache = TtlCache::<&str, u32>::new(Duration::from_millis(300));
        assert_eq!(cache.get_or_fetch("k", || async { 1 }).await, 1);
        assert_eq!(cache.get_or_fetch("k", || async { 2 }).await, 1);
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(cache.get_or_fetch("k", || async { 3 }).await, 3);
        assert_eq!(cache.get_or_fetch("other", || async { 4 }).await, 4);
    }

    #[tokio::test]
    async fn a_fetch_slower_than_the_ttl_is_fresh_when_it_arrives() {
        let cache = TtlCache::<&str, u32>::new(Duration::from_secs(1));
        let slow = cache
            .get_or_fetch("k", || async {
                tokio::time::sleep(Duration::from_millis(1500)).await;
                1
            })
            .await;
        assert_eq!(slow, 1);
        // The TTL counts from the answer, not from when it was asked for.
        assert_eq!(cache.get_or_fetch("k", || async { 2 }).await, 1);
    }

    #[tokio::test]
    async fn a_fetch_cancelled_in_flight_leaves_nothing_behind() {
        let cache = TtlCache::<u32, u32>::new(Duration::from_millis(200));
        // More keys than the old cache swept at, each cancelled before Flink answered.
        for key in 0..300 {
            let cancelled = tokio::time::timeout(
                Duration::from_millis(1),
                cache.get_or_fetch(key, std::future::pending),
            )
            .await;
            assert!(cancelled.is_err());
        }
        assert!(cache.is_empty().await, "{} entries left", cache.len().await);
        // And the next caller fetches instead of waiting for the cancelled fetch.
        assert_eq!(cache.get_or_fetch(7, || async { 7 }).await, 7);
    }

    #[tokio::test]
    async fn nothing_is_allocated_until_first_used() {
        let cache = TtlCache::<&str, u32>::new(Duration::from_secs(1));
        assert!(!cache.built());
        assert!(cache.is_empty().await);
        assert!(!cache.built(), "asking for the size must not build it");
        assert_eq!(cache.get_or_fetch("k", || async { 1 }).await, 1);
        assert!(cache.built());
        assert_eq!(cache.get_or_fetch("k", || async { 2 }).await, 1);
    }

    #[tokio::test]
    async fn a_zero_ttl_disables_caching() {
        let cache = TtlCache::<&str, u32>::new(Duration::ZERO);
        assert_eq!(cache.get_or_fetch("k", || async { 1 }).await, 1);
        assert_eq!(cache.get_or_fetch("k", || async { 2 }).await, 2);
        assert!(cache.is_empty().await);
        assert!(!cache.built());
    }
}
