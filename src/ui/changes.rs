//! Which clusters changed since the page last asked. Every change the registry announces
//! (jobs, states, health, reachability, clusters added or removed) bumps a generation and
//! stamps the cluster with it, so a refresh sends only the clusters changed since the
//! page's token, and nothing (304) when none did.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use crate::clusters::ClusterChanged;

use super::UiState;

/// The generations of the changes, with a token the page sends back: `<epoch>.<generation>`.
/// The epoch tells this process from an earlier one, whose generations mean nothing here.
pub struct Changes {
    epoch: String,
    inner: Mutex<Inner>,
    /// Taken by the follower task.
    receiver: Mutex<Option<broadcast::Receiver<ClusterChanged>>>,
}

#[derive(Default)]
struct Inner {
    generation: u64,
    /// Changes before this generation are forgotten: a token older than it gets everything.
    floor: u64,
    /// The generation of each cluster's last change.
    changed: HashMap<Arc<str>, u64>,
}

/// What changed since a token.
#[derive(Debug, PartialEq, Eq)]
pub enum Since {
    /// The token is current: nothing to send.
    Nothing,
    /// These clusters changed (or went).
    Clusters(Vec<Arc<str>>),
    /// The token is unknown or too old: send everything.
    Everything,
}

/// Stamps kept at most, beyond the clusters known: a fleet with churn forgets the oldest.
const MAX_STAMPS: usize = 20_000;

impl Changes {
    pub fn new(receiver: broadcast::Receiver<ClusterChanged>) -> Self {
        let epoch = format!("{:x}", crate::time::now_ms());
        Self {
            epoch,
            inner: Mutex::new(Inner {
                generation: 1,
                floor: 1,
                changed: HashMap::new(),
            }),
            receiver: Mutex::new(Some(receiver)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The token of the state as of now. Read it before reading the clusters: what is read
    /// after is at least as new as the token says.
    pub fn token(&self) -> String {
        format!("{}.{}", self.epoch, self.lock().generation)
    }

    pub fn mark(&self, cluster: &str) {
        let mut inner = self.lock();
        inner.generation += 1;
        let generation = inner.generation;
        match inner.changed.get_mut(cluster) {
            Some(stamp) => *stamp = generation,
            None => {
                if inner.changed.len() >= MAX_STAMPS {
                    inner.changed.clear();
                    inner.floor = generation;
                }
                inner.changed.insert(cluster.into(), generation);
            }
        }
    }

    /// Announcements were lost: everything may have changed.
    pub fn mark_everything(&self) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.floor = inner.generation;
        inner.changed.clear();
    }

    /// What changed after `token` (as `token()` gave it).
    pub fn since(&self, token: Option<&str>) -> Since {
        let Some(generation) = token
            .and_then(|t| t.split_once('.'))
            .filter(|(epoch, _)| *epoch == self.epoch)
            .and_then(|(_, g)| g.parse::<u64>().ok())
        else {
            return Since::Everything;
        };
        let inner = self.lock();
        if generation == inner.generation {
            return Since::Nothing;
        }
        if generation < inner.floor || generation > inner.generation {
            return Since::Everything;
        }
        let mut clusters: Vec<Arc<str>> = inner
            .changed
            .iter()
            .filter(|(_, stamp)| **stamp > generation)
            .map(|(id, _)| id.clone())
            .collect();
        clusters.sort();
        Since::Clusters(clusters)
    }
}

/// Notes each announced change, and has the exceptions of failed jobs read.
pub(super) async fn follow(state: Arc<UiState>, shutdown: CancellationToken) {
    let taken = state
        .changes
        .receiver
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    let Some(mut receiver) = taken else {
        return;
    };
    // The clusters known before the first announcement.
    for cluster in state.registry.list() {
        state.exceptions.look_at(&state, &cluster);
    }
    loop {
        let announced = tokio::select! {
            _ = shutdown.cancelled() => break,
            announced = receiver.recv() => announced,
        };
        match announced {
            Ok(ClusterChanged { cluster }) => {
                state.changes.mark(&cluster);
                match state.registry.get(&cluster) {
                    Some(known) => state.exceptions.look_at(&state, &known),
                    None => state.exceptions.forget(&cluster),
                }
            }
            Err(RecvError::Lagged(_)) => {
                state.changes.mark_everything();
                for cluster in state.registry.list() {
                    state.exceptions.look_at(&state, &cluster);
                }
            }
            Err(RecvError::Closed) => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changes() -> Changes {
        let (_, receiver) = broadcast::channel(4);
        Changes::new(receiver)
    }

    #[test]
    fn a_current_token_has_nothing_new_and_an_older_one_the_clusters_changed_since() {
        let changes = changes();
        let start = changes.token();
        assert_eq!(changes.since(Some(&start)), Since::Nothing);
        changes.mark("a");
        let after_a = changes.token();
        changes.mark("b");
        changes.mark("a");
        assert_eq!(
            changes.since(Some(&start)),
            Since::Clusters(vec!["a".into(), "b".into()])
        );
        assert_eq!(
            changes.since(Some(&after_a)),
            Since::Clusters(vec!["a".into(), "b".into()]),
            "a changed again after the token"
        );
        assert_eq!(changes.since(Some(&changes.token())), Since::Nothing);
    }

    #[test]
    fn a_token_of_another_process_or_from_before_lost_announcements_gets_everything() {
        let changes = changes();
        let start = changes.token();
        assert_eq!(changes.since(None), Since::Everything);
        assert_eq!(changes.since(Some("garbage")), Since::Everything);
        let (_, generation) = start.split_once('.').unwrap();
        assert_eq!(
            changes.since(Some(&format!("other.{generation}"))),
            Since::Everything
        );
        assert_eq!(
            changes.since(Some(&format!("{}.999", changes.epoch))),
            Since::Everything,
            "a generation from the future"
        );
        changes.mark_everything();
        assert_eq!(changes.since(Some(&start)), Since::Everything);
        assert_eq!(changes.since(Some(&changes.token())), Since::Nothing);
    }

    #[test]
    fn stamps_are_bounded() {
        let changes = changes();
        let start = changes.token();
        for i in 0..MAX_STAMPS + 1 {
            changes.mark(&format!("c{i}"));
        }
        assert!(changes.lock().changed.len() <= MAX_STAMPS);
        assert_eq!(changes.since(Some(&start)), Since::Everything);
    }
}
