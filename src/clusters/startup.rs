//! Start-up: has discovery listed everything once, and has every cluster known then been
//! polled? Ready is latched: clusters found later never make a ready process unready.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::watch;

#[derive(Debug)]
pub struct Startup {
    /// The first discovery lists are applied (true at once without discovery).
    discovered: watch::Sender<bool>,
    /// The clusters known when discovery finished, which must each be polled once.
    initial: Mutex<Option<Vec<String>>>,
    ready: AtomicBool,
}

impl Default for Startup {
    fn default() -> Self {
        Self {
            discovered: watch::channel(false).0,
            initial: Mutex::new(None),
            ready: AtomicBool::new(false),
        }
    }
}

impl Startup {
    /// Discovery applied its first complete lists; `known` are the clusters known now.
    /// Later calls change nothing.
    pub fn mark_discovered(&self, known: Vec<String>) {
        let mut initial = self.initial.lock().unwrap_or_else(|e| e.into_inner());
        if initial.is_none() {
            *initial = Some(known);
            self.discovered.send_replace(true);
        }
    }

    pub fn discovered(&self) -> bool {
        *self.discovered.borrow()
    }

    /// Resolves once discovery has listed; every caller is woken (a watch channel, unlike
    /// kube-runtime's `Store::wait_until_ready`, which wakes one waiter).
    pub async fn wait_discovered(&self) {
        let mut rx = self.discovered.subscribe();
        let _ = rx.wait_for(|done| *done).await;
    }

    /// Ok when ready; else what is still awaited. `polled(id)` says whether a cluster still
    /// known was polled (None: it is gone, so nothing to wait for).
    pub fn check(&self, polled: impl Fn(&str) -> Option<bool>) -> Result<(), Vec<String>> {
        if self.ready.load(Ordering::Acquire) {
            return Ok(());
        }
        let initial = self.initial.lock().unwrap_or_else(|e| e.into_inner());
        let Some(initial) = initial.as_ref() else {
            return Err(vec![
                "discovery has not listed Services and FlinkDeployments yet".into(),
            ]);
        };
        let pending: Vec<String> = initial
            .iter()
            .filter(|id| polled(id) == Some(false))
            .map(|id| format!("cluster {id}: not polled yet"))
            .collect();
        if pending.is_empty() {
            self.ready.store(true, Ordering::Release);
            Ok(())
        } else {
            Err(pending)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_after_discovery_and_first_polls_then_latched() {
        let startup = Startup::default();
        assert!(
            startup.check(|_| Some(true)).is_err(),
            "not before discovery"
        );
        startup.mark_discovered(vec!["a".into(), "gone".into()]);
        let pending = startup
            .check(|id| (id != "gone").then_some(false))
            .unwrap_err();
        assert_eq!(pending, ["cluster a: not polled yet"]);
        assert!(startup.check(|id| (id != "gone").then_some(true)).is_ok());
        // Later clusters not polled, or a second discovery pass: still ready.
        startup.mark_discovered(vec!["late".into()]);
        assert!(startup.check(|_| Some(false)).is_ok());
    }

    #[tokio::test]
    async fn every_waiter_is_woken() {
        let startup = std::sync::Arc::new(Startup::default());
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let startup = startup.clone();
                tokio::spawn(async move { startup.wait_discovered().await })
            })
            .collect();
        tokio::task::yield_now().await;
        startup.mark_discovered(Vec::new());
        for waiter in waiters {
            tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
                .await
                .expect("woken")
                .expect("joined");
        }
    }
}
