//! A short-lived cache with request coalescing: while one fetch of a key is in flight,
//! everyone else asking for that key waits for its answer instead of asking Flink again.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use tokio::sync::OnceCell;

/// Entries are kept for `ttl` after their fetch completed (errors too, so a failing
/// JobManager is not hammered by every client).
pub struct TtlCache<K, V> {
    ttl: Duration,
    entries: Mutex<HashMap<K, Slot<V>>>,
}

/// One key's answer, with the time its fetch completed; empty while in flight.
type Slot<V> = Arc<OnceCell<(Instant, V)>>;

/// Expired entries are swept once the map grows past this many keys.
const SWEEP_ABOVE: usize = 256;

impl<K: Eq + Hash + Clone, V: Clone> TtlCache<K, V> {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
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
        let cell = self.cell_for(key);
        let (_, value) = cell
            .get_or_init(|| async { (Instant::now(), fetch().await) })
            .await;
        value.clone()
    }

    /// The live entry of `key`: a finished fresh one, one still in flight, or a new one.
    fn cell_for(&self, key: K) -> Slot<V> {
        let now = Instant::now();
        let ttl = self.ttl;
        let fresh = |cell: &OnceCell<(Instant, V)>| match cell.get() {
            Some((done, _)) => now.duration_since(*done) < ttl,
            None => true,
        };
        // A poisoned lock only means another request panicked mid-update; the map is
        // still a valid cache.
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(cell) = entries.get(&key)
            && fresh(cell)
        {
            return cell.clone();
        }
        if entries.len() >= SWEEP_ABOVE {
            entries.retain(|_, cell| fresh(cell));
        }
        let cell = Arc::new(OnceCell::new());
        entries.insert(key, cell.clone());
        cell
    }

    pub fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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

    #[tokio::test(start_paused = true)]
    async fn entries_expire_after_the_ttl() {
        let cache = TtlCache::<&str, u32>::new(Duration::from_secs(1));
        assert_eq!(cache.get_or_fetch("k", || async { 1 }).await, 1);
        assert_eq!(cache.get_or_fetch("k", || async { 2 }).await, 1);
        tokio::time::advance(Duration::from_millis(1100)).await;
        assert_eq!(cache.get_or_fetch("k", || async { 3 }).await, 3);
        assert_eq!(cache.get_or_fetch("other", || async { 4 }).await, 4);
    }

    #[tokio::test]
    async fn a_zero_ttl_disables_caching() {
        let cache = TtlCache::<&str, u32>::new(Duration::ZERO);
        assert_eq!(cache.get_or_fetch("k", || async { 1 }).await, 1);
        assert_eq!(cache.get_or_fetch("k", || async { 2 }).await, 2);
        assert!(cache.is_empty());
    }
}
