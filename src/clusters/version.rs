//! The Flink version of a cluster, read from `/config` beside the polls, never in their
//! way: a snapshot never waits for it, and where `/config` keeps failing (some ingresses
//! do not route it) it is asked again at most once per [`RETRY_AFTER`].

use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::flink::{FlinkClient, FlinkError};

/// How long after a failed read the version is asked for again.
pub const RETRY_AFTER: Duration = Duration::from_secs(60);

/// One read of `/config` in flight, aborted when dropped (its cluster is gone).
struct Read(JoinHandle<Result<Option<String>, FlinkError>>);

impl Drop for Read {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// When to read the version and the read in flight. Owned by the cluster's poller.
pub(crate) struct VersionReader {
    client: FlinkClient,
    /// When the next read may start; None: the version is known and current.
    due: Option<Instant>,
    read: Option<Read>,
}

impl VersionReader {
    /// Due at once: nothing is known yet.
    pub fn new(client: FlinkClient) -> Self {
        Self {
            client,
            due: Some(Instant::now()),
            read: None,
        }
    }

    /// After a successful poll: starts a read when one is due and none runs. A JobManager
    /// that was unreachable may have come back as another version, so then it is due now.
    pub fn after_poll(&mut self, reachable_again: bool) {
        if reachable_again {
            self.due = Some(Instant::now());
        }
        if self.read.is_some() || self.due.is_none_or(|due| Instant::now() < due) {
            return;
        }
        let client = self.client.clone();
        self.read = Some(Read(tokio::spawn(async move {
            client.config().await.map(|config| config.flink_version)
        })));
    }

    /// The answer of the read in flight, once it arrives; pending while none runs.
    /// Cancel-safe: dropped before the answer, the read goes on.
    pub async fn answer(&mut self) -> Result<Option<String>, FlinkError> {
        let Some(read) = self.read.as_mut() else {
            return std::future::pending().await;
        };
        let result = (&mut read.0).await;
        self.read = None;
        let result = result.unwrap_or_else(|error| {
            Err(FlinkError::Request {
                url: format!("{}/config", self.client.display_base()),
                reason: format!("the read stopped: {error}"),
            })
        });
        self.due = match &result {
            Ok(_) => None,
            Err(_) => Some(Instant::now() + RETRY_AFTER),
        };
        result
    }
}
