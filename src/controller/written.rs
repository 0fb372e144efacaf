//! Statuses this replica wrote, kept until the watch brings them back. A reconcile that runs
//! before then (another trigger of the same FlinkJob) would otherwise compute from the status
//! before the write: it would send the write again, or move a condition's
//! `lastTransitionTime` although its status did not move.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use kube::ResourceExt;
use kube::api::ObjectMeta;
use tokio::time::Instant;

use crate::crd::{FlinkJob, FlinkJobStatus};

use super::StoredJob;

/// A watch brings a write back within milliseconds; past this, an entry is dropped even if
/// it never came back (the FlinkJob was deleted, or the watch was down and re-listed).
const KEEP: Duration = Duration::from_secs(30);
/// Past this many entries, the ones older than [`KEEP`] are dropped.
const PRUNE_ABOVE: usize = 1024;
/// How often the controller calls [`Written::prune`].
pub const PRUNE_EVERY: Duration = KEEP;

struct Entry {
    uid: Option<String>,
    /// The resourceVersion the write produced: once the watch shows it, the store is current.
    resource_version: Option<String>,
    status: FlinkJobStatus,
    at: Instant,
}

#[derive(Default)]
pub struct Written {
    entries: Mutex<HashMap<String, Entry>>,
}

impl Written {
    /// Remembers the status written to `stored` (the object as the API server answered).
    pub fn remember(&self, stored: &FlinkJob, status: FlinkJobStatus) {
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= PRUNE_ABOVE {
            entries.retain(|_, e| now.saturating_duration_since(e.at) < KEEP);
        }
        entries.insert(
            key(&stored.metadata),
            Entry {
                uid: stored.uid(),
                resource_version: stored.resource_version(),
                status,
                at: now,
            },
        );
    }

    /// What we wrote to `job` last, when the watch has not brought it back yet.
    pub fn newer_than(&self, job: &FlinkJob) -> Option<FlinkJobStatus> {
        let key = key(&job.metadata);
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let entry = entries.get(&key)?;
        let caught_up = entry.resource_version.is_some()
            && entry.resource_version == job.metadata.resource_version;
        let other_object = entry.uid != job.metadata.uid;
        if caught_up || other_object || entry.at.elapsed() >= KEEP {
            entries.remove(&key);
            return None;
        }
        Some(entry.status.clone())
    }

    /// The watch brought `job` back: once it shows the write, the store is current and the
    /// status kept for it is dropped (otherwise it would stay until the next prune, and
    /// after a fresh install's writes that is up to 30 s of writes: 1,500 statuses).
    pub fn seen(&self, job: &StoredJob) {
        let meta = &job.metadata;
        if meta.resource_version.is_none() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.is_empty() {
            return;
        }
        let key = key(meta);
        if entries
            .get(&key)
            .is_some_and(|e| e.resource_version == meta.resource_version)
        {
            entries.remove(&key);
        }
    }

    /// Drops the entries older than [`KEEP`]: a write whose echo came before it was
    /// remembered, or whose FlinkJob went away.
    pub fn prune(&self) {
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.retain(|_, e| now.saturating_duration_since(e.at) < KEEP);
        if entries.is_empty() {
            entries.shrink_to_fit();
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or_default()
    }
}

fn key(meta: &ObjectMeta) -> String {
    format!(
        "{}/{}",
        meta.namespace.as_deref().unwrap_or_default(),
        meta.name.as_deref().unwrap_or_default()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::FlinkJobSpec;

    fn job(uid: &str, rv: &str, state: Option<&str>) -> FlinkJob {
        let mut job = FlinkJob::new(
            "orders",
            FlinkJobSpec {
                job_name: "orders".into(),
                cluster: None,
                health: None,
            },
        );
        job.metadata.namespace = Some("team-a".into());
        job.metadata.uid = Some(uid.into());
        job.metadata.resource_version = Some(rv.into());
        job.status = state.map(|s| FlinkJobStatus {
            state: Some(s.into()),
            ..FlinkJobStatus::default()
        });
        job
    }

    #[tokio::test(start_paused = true)]
    async fn a_write_counts_until_the_watch_brings_it_back() {
        let written = Written::default();
        let before = job("u1", "10", None);
        let stored = job("u1", "11", Some("RUNNING"));
        written.remember(&stored, stored.status.clone().unwrap());
        assert_eq!(
            written.newer_than(&before).and_then(|s| s.state).as_deref(),
            Some("RUNNING"),
            "the store still shows the object before the write"
        );
        assert_eq!(
            written.newer_than(&stored),
            None,
            "the watch brought it back"
        );
        assert_eq!(written.len(), 0);
        assert_eq!(written.newer_than(&before), None, "forgotten once current");
    }

    #[tokio::test(start_paused = true)]
    async fn the_watch_echo_drops_the_entry_and_a_prune_drops_the_old_ones() {
        let written = Written::default();
        let stored = job("u1", "11", Some("RUNNING"));
        written.remember(&stored, stored.status.clone().unwrap());
        written.seen(&job("u1", "10", None).into());
        assert_eq!(written.len(), 1, "an older version is not the echo");
        written.seen(&job("u1", "11", Some("RUNNING")).into());
        assert_eq!(written.len(), 0, "the echo of the write");
        let other = job("u2", "20", Some("RUNNING"));
        written.remember(&other, other.status.clone().unwrap());
        written.prune();
        assert_eq!(written.len(), 1, "not old yet");
        tokio::time::advance(KEEP).await;
        written.prune();
        assert_eq!(written.len(), 0, "never echoed, dropped after KEEP");
    }

    #[tokio::test(start_paused = true)]
    async fn another_object_of_the_name_or_an_old_entry_does_not_count() {
        let written = Written::default();
        let stored = job("u1", "11", Some("RUNNING"));
        written.remember(&stored, stored.status.clone().unwrap());
        assert_eq!(
            written.newer_than(&job("u2", "12", None)),
            None,
            "re-created"
        );
        written.remember(&stored, stored.status.clone().unwrap());
        tokio::time::advance(KEEP).await;
        assert_eq!(written.newer_than(&job("u1", "10", None)), None, "too old");
    }
}
