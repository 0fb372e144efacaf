//! The registry of known clusters. Static configuration fills it at start; Kubernetes
//! discovery adds and removes clusters as their resources come and go. Each cluster has
//! its own poll task, stopped when the cluster is removed.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::flink::{ClientSettings, FlinkClient, HttpsClient};
use crate::metrics::Metrics;

use super::changes::ClusterChanged;
use super::cluster::{Cluster, ClusterInfo};
use super::health::{CHECKS_IN_FLIGHT, HealthChecker, RoundGrid};
use super::health_book::HealthSettings;
use super::poller::Poller;
use super::startup::Startup;

#[derive(Debug, Clone)]
pub struct PollSettings {
    pub poll_interval: Duration,
    pub cache_ttl: Duration,
    pub client: ClientSettings,
}

struct Entry {
    cluster: Arc<Cluster>,
    stop: CancellationToken,
}

pub struct KnownClusters {
    settings: PollSettings,
    http: HttpsClient,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
    changes: broadcast::Sender<ClusterChanged>,
    clusters: RwLock<BTreeMap<String, Entry>>,
    startup: Startup,
    health: HealthSettings,
    /// Where the health checks' rounds of every cluster start from (see [`RoundGrid`]).
    health_origin: tokio::time::Instant,
    /// The health checks' process-wide limit of checks in flight.
    health_permits: Arc<tokio::sync::Semaphore>,
}

impl KnownClusters {
    pub fn new(
        settings: PollSettings,
        http: impl Into<HttpsClient>,
        metrics: Arc<Metrics>,
        shutdown: CancellationToken,
    ) -> Self {
        let (changes, _) = broadcast::channel(1024);
        let health_origin = tokio::time::Instant::now() + settings.poll_interval / 2;
        Self {
            settings,
            http: http.into(),
            metrics,
            shutdown,
            changes,
            clusters: RwLock::new(BTreeMap::new()),
            startup: Startup::default(),
            health: HealthSettings::disabled(),
            health_origin,
            health_permits: Arc::new(tokio::sync::Semaphore::new(CHECKS_IN_FLIGHT)),
        }
    }

    /// Runs health checks on every cluster added from now on (off by default).
    pub fn with_health(mut self, health: HealthSettings) -> Self {
        self.health = health;
        self
    }

    pub fn health_settings(&self) -> &HealthSettings {
        &self.health
    }

    /// Adds a cluster, or replaces it when its address or identity changed, and starts
    /// polling it. Must be called within a tokio runtime. Returns whether anything changed.
    pub fn upsert(&self, info: ClusterInfo) -> bool {
        let mut clusters = self.clusters.write().unwrap_or_else(|e| e.into_inner());
        if let Some(existing) = clusters.get(&info.id)
            && existing.cluster.info() == &info
        {
            return false;
        }
        let id = info.id.clone();
        let cluster = self.new_cluster(info, clusters.get(&id).map(|e| &*e.cluster));
        tracing::info!(
            cluster = %id,
            source = cluster.info().source.as_str(),
            url = cluster.display_url(),
            "watching cluster"
        );
        let stop = self.start_tasks(&cluster);
        if let Some(old) = clusters.insert(id.clone(), Entry { cluster, stop }) {
            old.stop.cancel();
        }
        self.metrics.clusters.set(clusters.len() as i64);
        drop(clusters);
        let _ = self.changes.send(ClusterChanged { cluster: id.into() });
        true
    }

    /// The cluster of `info`, with its own client. A new address of a known cluster
    /// (`replaced`) keeps its last snapshot until the new address answers (or fails), so
    /// nothing reads as "not polled yet" meanwhile.
    fn new_cluster(&self, info: ClusterInfo, replaced: Option<&Cluster>) -> Arc<Cluster> {
        let client = FlinkClient::new(
            self.http.clone(),
            info.url.clone(),
            self.settings.client.clone(),
        );
        let cluster = Cluster::new(info, client, self.settings.cache_ttl).with_health(self.health);
        if let Some(replaced) = replaced {
            cluster.set_status(replaced.status().as_ref().clone());
        }
        Arc::new(cluster)
    }

    /// Starts the poller of `cluster` and, when checks are on, its health checker; the
    /// token returned stops both.
    fn start_tasks(&self, cluster: &Arc<Cluster>) -> CancellationToken {
        let stop = self.shutdown.child_token();
        let poller = Poller {
            cluster: cluster.clone(),
            interval: self.settings.poll_interval,
            metrics: self.metrics.clone(),
            changes: self.changes.clone(),
        };
        tokio::spawn(poller.run(stop.clone()));
        if self.health.enabled() {
            let checker = HealthChecker {
                cluster: cluster.clone(),
                changes: self.changes.clone(),
                grid: RoundGrid {
                    origin: self.health_origin,
                    interval: self.health.interval,
                },
                permits: self.health_permits.clone(),
            };
            tokio::spawn(checker.run(stop.clone()));
        }
        stop
    }

    /// Forgets a cluster and stops its poller. Returns whether it was known.
    pub fn remove(&self, id: &str) -> bool {
        let mut clusters = self.clusters.write().unwrap_or_else(|e| e.into_inner());
        let Some(entry) = clusters.remove(id) else {
            return false;
        };
        entry.stop.cancel();
        self.metrics.clusters.set(clusters.len() as i64);
        drop(clusters);
        tracing::info!(cluster = id, "stopped watching cluster");
        let _ = self.changes.send(ClusterChanged { cluster: id.into() });
        true
    }

    pub fn get(&self, id: &str) -> Option<Arc<Cluster>> {
        let clusters = self.clusters.read().unwrap_or_else(|e| e.into_inner());
        clusters.get(id).map(|e| e.cluster.clone())
    }

    /// Every cluster, ordered by id.
    pub fn list(&self) -> Vec<Arc<Cluster>> {
        let clusters = self.clusters.read().unwrap_or_else(|e| e.into_inner());
        clusters.values().map(|e| e.cluster.clone()).collect()
    }

    pub fn ids(&self) -> Vec<String> {
        let clusters = self.clusters.read().unwrap_or_else(|e| e.into_inner());
        clusters.keys().cloned().collect()
    }

    /// Discovery has applied its first complete lists (or there is no discovery): from now
    /// on a missing cluster is really missing.
    pub fn mark_discovered(&self) {
        self.startup.mark_discovered(self.ids());
    }

    pub fn discovered(&self) -> bool {
        self.startup.discovered()
    }

    /// Resolves once [`Self::mark_discovered`] was called; every waiter is woken.
    pub async fn wait_discovered(&self) {
        self.startup.wait_discovered().await;
    }

    /// Start-up is done: discovered, and every cluster known then polled once. Latched.
    /// Err lists what is still awaited.
    pub fn readiness(&self) -> Result<(), Vec<String>> {
        self.startup
            .check(|id| self.get(id).map(|c| c.status().polled))
    }

    /// Notifications of changed clusters (jobs, states, reachability, added, removed).
    pub fn subscribe(&self) -> broadcast::Receiver<ClusterChanged> {
        self.changes.subscribe()
    }
}
