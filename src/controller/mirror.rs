//! Mirror mode: a FlinkJob for every job name found on a discovered cluster, owned by the
//! Service / FlinkDeployment the cluster was discovered from, so Kubernetes deletes the
//! mirrors with it. FlinkJobs a user created are never changed.

use std::collections::BTreeMap;
use std::hash::Hasher;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{ObjectMeta, PostParams};
use kube::runtime::reflector::Store;
use kube::{Api, ResourceExt};

use crate::clusters::{Cluster, KnownClusters, OwnerRef};
use crate::crd::{FlinkJob, FlinkJobSpec, MIRRORED_LABEL};

/// The label naming the cluster (object name) a mirror belongs to.
pub const CLUSTER_LABEL: &str = "flinkmonitor.dev/cluster";

/// Object names are at most 63 characters here, so they also fit in labels.
const MAX_NAME: usize = 63;
/// Hex digits of the hash suffix.
const HASH_HEX: usize = 10;

/// `<cluster>-<job>-<hash>`: lowercase, DNS-safe, at most 63 characters. The hash covers
/// the cluster id and the exact job name, so names that sanitise alike ("Orders" and
/// "orders", or cluster "a" + job "b-c" and cluster "a-b" + job "c") never collide.
pub fn mirror_name(cluster_id: &str, cluster_name: &str, job_name: &str) -> String {
    let hash = fnv1a64(format!("{cluster_id}\0{job_name}").as_bytes());
    let suffix = format!("{:0width$x}", hash, width = 16);
    let suffix = &suffix[..HASH_HEX];
    let readable = sanitize(&format!("{cluster_name}-{job_name}"));
    let room = MAX_NAME - HASH_HEX - 1;
    let readable: String = readable.chars().take(room).collect();
    let readable = readable.trim_end_matches('-');
    if readable.is_empty() {
        format!("job-{suffix}")
    } else {
        format!("{readable}-{suffix}")
    }
}

fn sanitize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

/// FNV-1a, 64 bit: stable across versions and platforms (std's hasher is not).
fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hasher = fnv::FnvHasher::default();
    hasher.write(bytes);
    hasher.finish()
}

/// The mirrors that should exist for one cluster's last snapshot. Pure. Clusters without
/// a namespace or an owner (static ones) get none.
pub fn desired_mirrors(cluster: &Cluster) -> Vec<FlinkJob> {
    let info = cluster.info();
    let (Some(namespace), Some(owner)) = (&info.namespace, &info.owner) else {
        return Vec::new();
    };
    let Some(snapshot) = cluster.status().snapshot.clone() else {
        return Vec::new();
    };
    let mut names: Vec<&str> = snapshot.jobs().iter().map(|j| j.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    names
        .into_iter()
        .map(|job_name| mirror(&info.id, &info.name, namespace, owner, job_name))
        .collect()
}

fn mirror(
    cluster_id: &str,
    cluster_name: &str,
    namespace: &str,
    owner: &OwnerRef,
    job_name: &str,
) -> FlinkJob {
    let mut job = FlinkJob::new(
        &mirror_name(cluster_id, cluster_name, job_name),
        FlinkJobSpec {
            job_name: job_name.to_string(),
            cluster: Some(cluster_name.to_string()),
            health: None,
        },
    );
    job.metadata = ObjectMeta {
        name: job.metadata.name.take(),
        namespace: Some(namespace.to_string()),
        labels: Some(BTreeMap::from([
            (MIRRORED_LABEL.to_string(), "true".to_string()),
            (CLUSTER_LABEL.to_string(), cluster_name.to_string()),
        ])),
        owner_references: Some(vec![OwnerReference {
            api_version: owner.api_version.clone(),
            kind: owner.kind.clone(),
            name: owner.name.clone(),
            uid: owner.uid.clone(),
            controller: Some(false),
            block_owner_deletion: Some(false),
        }]),
        ..ObjectMeta::default()
    };
    job
}

/// Whether `existing` already covers `wanted`: the mirror itself, or a user's FlinkJob
/// that tracks the same job on the same cluster (then no mirror is made beside it).
fn covered(existing: &[std::sync::Arc<FlinkJob>], wanted: &FlinkJob) -> bool {
    let namespace = wanted.namespace();
    let wanted_cluster = wanted.spec.cluster.as_deref().unwrap_or_default();
    // A FlinkJob may name the cluster by its name or by its id, `<namespace>.<name>`.
    let wanted_id = format!(
        "{}.{wanted_cluster}",
        namespace.as_deref().unwrap_or_default()
    );
    existing.iter().any(|job| {
        let same_cluster = match job.spec.cluster.as_deref() {
            None | Some("") => true,
            Some(cluster) => cluster == wanted_cluster || cluster == wanted_id,
        };
        job.namespace() == namespace
            && (job.name_any() == wanted.name_any()
                || (job.spec.job_name == wanted.spec.job_name && same_cluster))
    })
}

/// Mirrors to create now, given the FlinkJobs that exist. Pure.
pub fn missing_mirrors(
    registry: &KnownClusters,
    namespace: Option<&str>,
    existing: &[std::sync::Arc<FlinkJob>],
) -> Vec<FlinkJob> {
    registry
        .list()
        .iter()
        .filter(|c| namespace.is_none() || c.info().namespace.as_deref() == namespace)
        .flat_map(|c| desired_mirrors(c))
        .filter(|wanted| !covered(existing, wanted))
        .collect()
}

/// Creates the missing mirrors. A name taken meanwhile (409) is fine: someone made it.
/// Returns (created, failed).
pub async fn sync(
    client: &kube::Client,
    registry: &KnownClusters,
    namespace: Option<&str>,
    store: &Store<FlinkJob>,
) -> (usize, usize) {
    let existing = store.state();
    let mut created = 0;
    let mut failed = 0;
    for job in missing_mirrors(registry, namespace, &existing) {
        let namespace = job.namespace().unwrap_or_default();
        let api: Api<FlinkJob> = Api::namespaced(client.clone(), &namespace);
        match api
            .create(
                &PostParams {
                    dry_run: false,
                    field_manager: Some(crate::crd::FIELD_MANAGER.into()),
                },
                &job,
            )
            .await
        {
            Ok(_) => {
                created += 1;
                tracing::info!(namespace = %namespace, name = %job.name_any(), job = %job.spec.job_name, "created mirrored FlinkJob");
            }
            Err(kube::Error::Api(status)) if status.code == 409 => {}
            Err(error) => {
                failed += 1;
                tracing::warn!(namespace = %namespace, name = %job.name_any(), %error, "failed to create mirrored FlinkJob");
            }
        }
    }
    (created, failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_dns_safe_bounded_and_deterministic() {
        let name = mirror_name("team-a.orders", "orders", "Orders Enrichment (v2) — отчёт");
        assert_eq!(
            name,
            mirror_name("team-a.orders", "orders", "Orders Enrichment (v2) — отчёт")
        );
        assert!(name.starts_with("orders-orders-enrichment-v2-"), "{name}");
        assert!(name.len() <= 63);
        assert!(
            name.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        );
        assert!(!name.starts_with('-') && !name.ends_with('-'));
        let long = mirror_name("ns.c", "c", &"x".repeat(500));
        assert_eq!(long.len(), 63);
        assert!(mirror_name("ns.c", "c", "!!!").starts_with("c-"));
    }

    #[test]
    fn names_that_sanitise_alike_do_not_collide() {
        assert_ne!(
            mirror_name("ns.c", "c", "Orders"),
            mirror_name("ns.c", "c", "orders")
        );
        assert_ne!(
            mirror_name("ns.a", "a", "b-c"),
            mirror_name("ns.a-b", "a-b", "c")
        );
    }

    fn user_job(cluster: Option<&str>) -> std::sync::Arc<FlinkJob> {
        let mut job = FlinkJob::new(
            "mine",
            FlinkJobSpec {
                job_name: "orders".into(),
                cluster: cluster.map(String::from),
                health: None,
            },
        );
        job.metadata.namespace = Some("team-a".into());
        std::sync::Arc::new(job)
    }

    #[test]
    fn a_users_flinkjob_covers_the_mirror_by_cluster_name_id_or_none() {
        let owner = OwnerRef {
            api_version: "v1".into(),
            kind: "Service".into(),
            name: "flink".into(),
            uid: "u".into(),
        };
        let wanted = mirror("team-a.flink", "flink", "team-a", &owner, "orders");
        for cluster in [None, Some(""), Some("flink"), Some("team-a.flink")] {
            assert!(
                covered(&[user_job(cluster)], &wanted),
                "spec.cluster {cluster:?} should cover the mirror"
            );
        }
        for cluster in [Some("other"), Some("team-b.flink"), Some("team-a.other")] {
            assert!(
                !covered(&[user_job(cluster)], &wanted),
                "spec.cluster {cluster:?} is another cluster"
            );
        }
    }
}
