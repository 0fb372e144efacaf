//! One known Flink cluster: where it is, what its last poll saw, and cached job reads.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use reqwest::Url;

use crate::flink::dto::JobOverview;
use crate::flink::{FlinkClient, FlinkError, RootException};

use super::cache::TtlCache;
use super::details::FetchedDetails;
use super::health_book::{HealthBook, HealthSettings};
use super::job_metrics::{self, JobMetrics};
use super::snapshot::JobsSnapshot;

/// Where a cluster came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClusterSource {
    Service,
    FlinkDeployment,
    Static,
}

impl ClusterSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Service => "service",
            Self::FlinkDeployment => "flinkdeployment",
            Self::Static => "static",
        }
    }
}

/// Identity and address of a cluster, as discovery or the command line gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterInfo {
    /// `<namespace>.<name>` when discovered, the given name when static.
    pub id: String,
    pub namespace: Option<String>,
    pub name: String,
    pub source: ClusterSource,
    pub url: Url,
    /// The Kubernetes object it was discovered from; mirrored FlinkJobs are owned by it.
    pub owner: Option<OwnerRef>,
}

impl ClusterInfo {
    /// A cluster given on the command line (`--cluster NAME=URL`): its name is its id.
    pub fn static_cluster(name: &str, url: Url) -> Self {
        Self {
            id: name.to_string(),
            namespace: None,
            name: name.to_string(),
            source: ClusterSource::Static,
            url,
            owner: None,
        }
    }
}

/// Enough of a Kubernetes object to make an owner reference to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerRef {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub uid: String,
}

/// What the poller last learnt. Replaced whole on every poll.
#[derive(Debug, Clone, Default)]
pub struct ClusterStatus {
    /// The last successful poll; kept when later polls fail.
    pub snapshot: Option<Arc<JobsSnapshot>>,
    /// At least one poll finished, successfully or not.
    pub polled: bool,
    pub reachable: bool,
    /// The error of the last poll while unreachable.
    pub last_error: Option<String>,
    pub flink_version: Option<String>,
}

impl ClusterStatus {
    pub fn last_poll_ms(&self) -> Option<i64> {
        self.snapshot.as_ref().map(|s| s.taken_at_ms())
    }
}

/// A cluster with its client, latest status, and the short-TTL caches of on-demand reads.
pub struct Cluster {
    info: ClusterInfo,
    client: FlinkClient,
    status: RwLock<Arc<ClusterStatus>>,
    /// By job and whether it ended (as for `metrics_cache`): an ended job's final counters are
    /// in its details.
    details_cache: TtlCache<(String, bool), Result<Arc<FetchedDetails>, FlinkError>>,
    exceptions_cache: TtlCache<String, Result<RootException, FlinkError>>,
    /// By job and whether it ended: an ended job's metrics come from elsewhere (see
    /// `job_metrics::fetch`), so those of its running days must not answer for it.
    metrics_cache: TtlCache<(String, bool), Result<JobMetrics, FlinkError>>,
    /// FAILED jobs whose root exception was read and is empty: terminal, so it stays so.
    no_exception: Mutex<HashSet<String>>,
    poll_now: tokio::sync::Notify,
    health: HealthBook,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("id", &self.info.id)
            .finish()
    }
}

impl Cluster {
    pub fn new(info: ClusterInfo, client: FlinkClient, cache_ttl: Duration) -> Self {
        Self {
            info,
            client,
            status: RwLock::new(Arc::new(ClusterStatus::default())),
            details_cache: TtlCache::new(cache_ttl),
            exceptions_cache: TtlCache::new(cache_ttl),
            metrics_cache: TtlCache::new(cache_ttl),
            no_exception: Mutex::new(HashSet::new()),
            poll_now: tokio::sync::Notify::new(),
            health: HealthBook::default(),
        }
    }

    /// Health checks with these settings (off by default).
    pub fn with_health(mut self, settings: HealthSettings) -> Self {
        self.health = HealthBook::new(settings);
        self
    }

    /// What the health checks of this cluster's jobs found.
    pub fn health(&self) -> &HealthBook {
        &self.health
    }

    pub fn id(&self) -> &str {
        &self.info.id
    }

    pub fn info(&self) -> &ClusterInfo {
        &self.info
    }

    pub fn client(&self) -> &FlinkClient {
        &self.client
    }

    /// The URL with credentials removed.
    pub fn display_url(&self) -> &str {
        self.client.display_base()
    }

    pub fn status(&self) -> Arc<ClusterStatus> {
        // A poisoned lock still holds a whole Arc: the writer swaps it in one step.
        self.status
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(crate) fn set_status(&self, status: ClusterStatus) {
        if let Some(snapshot) = &status.snapshot {
            // Forget jobs Flink forgot, so this stays as small as the snapshot.
            let mut known = self.no_exception.lock().unwrap_or_else(|e| e.into_inner());
            if !known.is_empty() {
                known.retain(|jid| snapshot.jobs().iter().any(|j| &j.jid == jid));
            }
        }
        *self.status.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(status);
    }

    /// The job is FAILED and its root exception was read and found empty.
    pub fn has_no_exception(&self, jid: &str) -> bool {
        let known = self.no_exception.lock().unwrap_or_else(|e| e.into_inner());
        known.contains(jid)
    }

    pub fn remember_no_exception(&self, jid: &str) {
        let mut known = self.no_exception.lock().unwrap_or_else(|e| e.into_inner());
        known.insert(jid.to_string());
    }

    /// Asks the poller for a poll now, e.g. after a stop, so the new state shows sooner.
    pub fn request_poll(&self) {
        self.poll_now.notify_one();
    }

    pub(crate) async fn poll_requested(&self) {
        self.poll_now.notified().await;
    }

    pub async fn job_details(&self, jid: &str) -> Result<Arc<FetchedDetails>, FlinkError> {
        self.details(jid, false).await
    }

    /// Details of a job as the last snapshot shows it: once it ended, never what was
    /// cached while it ran.
    pub async fn details_of(&self, job: &JobOverview) -> Result<Arc<FetchedDetails>, FlinkError> {
        self.details(&job.jid, crate::flink::is_globally_terminal(job.state()))
            .await
    }

    async fn details(&self, jid: &str, terminal: bool) -> Result<Arc<FetchedDetails>, FlinkError> {
        self.details_cache
            .get_or_fetch((jid.to_string(), terminal), || async {
                self.client
                    .job(jid)
                    .await
                    .map(|d| Arc::new(FetchedDetails::new(d)))
            })
            .await
    }

    pub async fn root_exception(&self, jid: &str) -> Result<RootException, FlinkError> {
        self.exceptions_cache
            .get_or_fetch(jid.to_string(), || async {
                self.client.exceptions(jid).await.map(|e| e.root())
            })
            .await
    }

    /// Metrics of a job; `terminal` says its counts are final (see `job_metrics::fetch`).
    pub async fn job_metrics(&self, jid: &str, terminal: bool) -> Result<JobMetrics, FlinkError> {
        self.metrics_cache
            .get_or_fetch((jid.to_string(), terminal), || async {
                let details = self.details(jid, terminal).await?;
                job_metrics::fetch(&self.client, &details, terminal).await
            })
            .await
    }
}
