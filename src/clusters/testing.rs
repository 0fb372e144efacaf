//! Test fixtures: a registry whose clusters show a given snapshot without polling Flink,
//! and Flink's recorded answers.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::flink::{ClientSettings, FlinkClient};
use crate::metrics::Metrics;

use super::{ClusterInfo, ClusterStatus, JobsSnapshot, KnownClusters, PollSettings};

/// Jobs as `/jobs/overview` lists them, from their JSON.
pub fn overview_jobs(json: serde_json::Value) -> Vec<crate::flink::dto::JobOverview> {
    serde_json::from_value(json).expect("jobs as /jobs/overview lists them")
}

/// A Flink answer recorded from a real `version` (`tests/fixtures/<version>/<file>`).
pub fn recorded(version: &str, file: &str) -> serde_json::Value {
    let path = format!(
        "{}/tests/fixtures/{version}/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).expect("a recorded answer");
    serde_json::from_str(&text).expect("recorded JSON")
}

/// The cluster of Service `namespace/name` (id `namespace.name`) at `http://127.0.0.1:9`,
/// where nothing listens: its one real poll fails at once.
pub fn service_cluster(namespace: &str, name: &str) -> ClusterInfo {
    ClusterInfo {
        id: format!("{namespace}.{name}"),
        namespace: Some(namespace.into()),
        name: name.into(),
        source: super::ClusterSource::Service,
        url: "http://127.0.0.1:9".parse().expect("a URL"),
        owner: None,
    }
}

/// A registry that polls once an hour, so statuses set by a test stay.
pub fn quiet_registry(client: ClientSettings) -> Arc<KnownClusters> {
    let settings = PollSettings {
        poll_interval: Duration::from_secs(3600),
        cache_ttl: Duration::from_secs(1),
        client,
    };
    let registry = Arc::new(KnownClusters::new(
        settings,
        FlinkClient::http_client().expect("http client"),
        Arc::new(Metrics::new()),
        CancellationToken::new(),
    ));
    // These tests add clusters by hand: there is no discovery to wait for.
    registry.mark_discovered();
    registry
}

/// Adds `info` and, once its first real poll is done, makes it show `jobs`.
pub async fn add_cluster(
    registry: &KnownClusters,
    info: ClusterInfo,
    jobs: serde_json::Value,
    reachable: bool,
) {
    let id = info.id.clone();
    registry.upsert(info);
    let cluster = registry.get(&id).expect("just added");
    while !cluster.status().polled {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    cluster.set_status(ClusterStatus {
        snapshot: Some(Arc::new(JobsSnapshot::new(
            serde_json::from_value(jobs).expect("jobs overview entries"),
            1,
        ))),
        polled: true,
        reachable,
        last_error: (!reachable).then(|| {
            format!(
                "failed to connect to {}: Connection refused",
                cluster.display_url()
            )
        }),
        flink_version: Some("2.3.0".into()),
    });
}
