//! Mirror mode: a FlinkJob for every job name found on a discovered cluster, owned by the
//! Service / FlinkDeployment the cluster was discovered from, so Kubernetes deletes the
//! mirrors with it. FlinkJobs a user created are never changed.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::Hasher;
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::Resource;
use kube::api::{ObjectMeta, PostParams};
use kube::runtime::reflector::Store;

use crate::clusters::{KnownClusters, OwnerRef};
use crate::crd::{FlinkJob, FlinkJobSpec, MIRRORED_LABEL};

use super::stored::StoredJob;
use super::writes::{Fence, Priority, WriteError, WriteGate, WriteKind};

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

fn mirror(
    name: String,
    cluster_name: &str,
    namespace: &str,
    owner: &OwnerRef,
    job_name: &str,
) -> FlinkJob {
    let mut job = FlinkJob::new(
        &name,
        FlinkJobSpec {
            job_name: job_name.to_string(),
            cluster: Some(cluster_name.to_string()),
            health: None,
        },
    );
    job.metadata = ObjectMeta {
        name: Some(name),
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

/// The FlinkJobs that exist, indexed for "is this job already covered?" in constant time,
/// so a pass is linear in FlinkJobs and jobs (it compared every wanted mirror with every
/// FlinkJob: 10,000 x 10,000 at 1,000 clusters of 10 jobs).
struct Coverage<'a> {
    /// `(namespace, name)` of every FlinkJob.
    names: HashSet<(&'a str, &'a str)>,
    /// `(namespace, jobName)` -> the `spec.cluster` of each FlinkJob tracking it ("" for any).
    jobs: HashMap<(&'a str, &'a str), Vec<&'a str>>,
}

impl<'a> Coverage<'a> {
    fn of(existing: &'a [Arc<StoredJob>]) -> Self {
        let mut names = HashSet::with_capacity(existing.len());
        let mut jobs: HashMap<(&str, &str), Vec<&str>> = HashMap::with_capacity(existing.len());
        for job in existing {
            let namespace = job.metadata.namespace.as_deref().unwrap_or_default();
            if let Some(name) = job.metadata.name.as_deref() {
                names.insert((namespace, name));
            }
            jobs.entry((namespace, job.spec.job_name.as_str()))
                .or_default()
                .push(job.spec.cluster.as_deref().unwrap_or_default());
        }
        Self { names, jobs }
    }

    /// Whether the mirror `name` of `job_name` on the cluster `cluster_name` (id
    /// `cluster_id`) in `namespace` exists, or a user's FlinkJob there tracks the same job on
    /// the same cluster (then no mirror is made beside it). A FlinkJob may name the cluster
    /// by its name or by its id, or not at all (any cluster of its namespace).
    fn covers(
        &self,
        namespace: &str,
        name: &str,
        job_name: &str,
        cluster_name: &str,
        cluster_id: &str,
    ) -> bool {
        self.names.contains(&(namespace, name))
            || self
                .jobs
                .get(&(namespace, job_name))
                .is_some_and(|clusters| {
                    clusters
                        .iter()
                        .any(|c| c.is_empty() || *c == cluster_name || *c == cluster_id)
                })
    }
}

/// The cluster a missing mirror belongs to: shared by the cluster's missing mirrors.
#[derive(Debug)]
struct MirrorCluster {
    namespace: String,
    name: String,
    owner: OwnerRef,
}

/// A mirror to create. It becomes a FlinkJob only when its turn at the write gate comes:
/// a pass that finds 10,000 missing keeps 10,000 names for the minutes the write pace
/// takes, not 10,000 FlinkJobs with labels and an owner reference each (about 2 KB).
#[derive(Debug)]
pub struct Missing {
    name: String,
    job_name: String,
    cluster: Arc<MirrorCluster>,
}

impl Missing {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn namespace(&self) -> &str {
        &self.cluster.namespace
    }

    pub fn job_name(&self) -> &str {
        &self.job_name
    }

    /// The FlinkJob to create.
    pub fn to_flinkjob(&self) -> FlinkJob {
        let cluster = &self.cluster;
        mirror(
            self.name.clone(),
            &cluster.name,
            &cluster.namespace,
            &cluster.owner,
            &self.job_name,
        )
    }
}

/// Mirrors to create now, given the FlinkJobs that exist. Pure, and linear: only the
/// missing ones are built. Clusters without a namespace or an owner (static ones) get none.
pub fn missing_mirrors(
    registry: &KnownClusters,
    namespace: Option<&str>,
    existing: &[Arc<StoredJob>],
) -> Vec<Missing> {
    let coverage = Coverage::of(existing);
    let mut missing = Vec::new();
    for cluster in registry.list() {
        let info = cluster.info();
        if namespace.is_some() && info.namespace.as_deref() != namespace {
            continue;
        }
        let (Some(cluster_namespace), Some(owner)) = (&info.namespace, &info.owner) else {
            continue;
        };
        let Some(snapshot) = cluster.status().snapshot.clone() else {
            continue;
        };
        let mut names: Vec<&str> = snapshot.jobs().iter().map(|j| j.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        let mut shared: Option<Arc<MirrorCluster>> = None;
        for job_name in names {
            let name = mirror_name(&info.id, &info.name, job_name);
            if coverage.covers(cluster_namespace, &name, job_name, &info.name, &info.id) {
                continue;
            }
            let cluster = shared.get_or_insert_with(|| {
                Arc::new(MirrorCluster {
                    namespace: cluster_namespace.clone(),
                    name: info.name.clone(),
                    owner: owner.clone(),
                })
            });
            missing.push(Missing {
                name,
                job_name: job_name.to_string(),
                cluster: cluster.clone(),
            });
        }
    }
    missing
}

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PassOutcome {
    pub created: usize,
    pub failed: usize,
    /// The pass stopped: this replica no longer leads.
    pub stopped: bool,
}

/// Creates the missing mirrors, one after the other through the write gate (first-time
/// mirrors wait behind changes of known jobs). A name taken meanwhile (409) is fine:
/// someone made it. Stops when this replica stops leading.
pub async fn sync(
    client: &kube::Client,
    gate: &WriteGate,
    registry: &Arc<KnownClusters>,
    namespace: Option<&str>,
    store: &Store<StoredJob>,
) -> PassOutcome {
    let existing = store.state();
    let registry_for_pass = registry.clone();
    let scope = namespace.map(String::from);
    // Linear, but 10,000 FlinkJobs are still milliseconds: off the async workers.
    let missing = tokio::task::spawn_blocking(move || {
        missing_mirrors(&registry_for_pass, scope.as_deref(), &existing)
    })
    .await
    .unwrap_or_default();
    let mut outcome = PassOutcome::default();
    for wanted in missing {
        let namespace = wanted.namespace();
        match create(client, gate, namespace, &wanted.to_flinkjob()).await {
            Ok(()) => {
                outcome.created += 1;
                tracing::debug!(namespace = %namespace, name = %wanted.name(), job = %wanted.job_name(), "created mirrored FlinkJob");
            }
            Err(WriteError::NotLeader | WriteError::Closed) => {
                outcome.stopped = true;
                break;
            }
            Err(error) if error.code() == Some(409) => {}
            Err(error) => {
                outcome.failed += 1;
                tracing::warn!(namespace = %namespace, name = %wanted.name(), %error, "failed to create mirrored FlinkJob");
            }
        }
    }
    outcome
}

async fn create(
    client: &kube::Client,
    gate: &WriteGate,
    namespace: &str,
    job: &FlinkJob,
) -> Result<(), WriteError> {
    let params = PostParams {
        dry_run: false,
        field_manager: Some(crate::crd::FIELD_MANAGER.into()),
    };
    let request = serde_json::to_vec(job)
        .map_err(kube::Error::SerdeError)
        .and_then(|body| {
            kube::core::Request::new(FlinkJob::url_path(&(), Some(namespace)))
                .create(&params, body)
                .map_err(kube::Error::BuildRequest)
        })
        .map_err(WriteError::Api)?;
    gate.send::<serde_json::Value>(
        client,
        request,
        Priority::New,
        Fence::Leader,
        WriteKind::Create,
    )
    .await
    .map(drop)
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

    fn user_job(cluster: Option<&str>) -> Arc<StoredJob> {
        let mut job = FlinkJob::new(
            "mine",
            FlinkJobSpec {
                job_name: "orders".into(),
                cluster: cluster.map(String::from),
                health: None,
            },
        );
        job.metadata.namespace = Some("team-a".into());
        Arc::new(job.into())
    }

    #[test]
    fn a_users_flinkjob_covers_the_mirror_by_cluster_name_id_or_none() {
        let name = mirror_name("team-a.flink", "flink", "orders");
        let covers = |existing: &[Arc<StoredJob>]| {
            Coverage::of(existing).covers("team-a", &name, "orders", "flink", "team-a.flink")
        };
        for cluster in [None, Some(""), Some("flink"), Some("team-a.flink")] {
            assert!(
                covers(&[user_job(cluster)]),
                "spec.cluster {cluster:?} should cover the mirror"
            );
        }
        for cluster in [Some("other"), Some("team-b.flink"), Some("team-a.other")] {
            assert!(
                !covers(&[user_job(cluster)]),
                "spec.cluster {cluster:?} is another cluster"
            );
        }
        let owner = OwnerRef {
            api_version: "v1".into(),
            kind: "Service".into(),
            name: "flink".into(),
            uid: "u".into(),
        };
        let existing = Arc::new(mirror(name.clone(), "flink", "team-a", &owner, "orders").into());
        assert!(covers(&[existing]), "the mirror itself");
        let mut elsewhere = mirror(name.clone(), "flink", "team-b", &owner, "orders");
        elsewhere.spec.job_name = "other".into();
        assert!(
            !covers(&[Arc::new(elsewhere.into())]),
            "the same name in another namespace"
        );
    }
}

/// Not a test: the time of a steady mirror pass (every mirror exists) at 1,000 / 5,000 /
/// 10,000 FlinkJobs, beside the comparison it replaced (every wanted mirror against every
/// FlinkJob, kept here only to measure it). It asserts no time:
/// `cargo test --release --lib mirror_pass_times -- --ignored --nocapture`.
#[cfg(test)]
mod pass_times {
    use super::*;
    use crate::clusters::testing::{add_cluster, quiet_registry, service_cluster};
    use crate::flink::ClientSettings;
    use kube::ResourceExt;
    use std::time::Instant;

    fn quadratic(registry: &KnownClusters, existing: &[Arc<StoredJob>]) -> usize {
        let mut missing = 0;
        for cluster in registry.list() {
            let info = cluster.info();
            let Some(namespace) = &info.namespace else {
                continue;
            };
            let Some(snapshot) = cluster.status().snapshot.clone() else {
                continue;
            };
            for job in snapshot.jobs() {
                let name = mirror_name(&info.id, &info.name, &job.name);
                let wanted_id = format!("{namespace}.{}", info.name);
                let covered = existing.iter().any(|e| {
                    let same_cluster = match e.spec.cluster.as_deref() {
                        None | Some("") => true,
                        Some(c) => c == info.name || c == wanted_id,
                    };
                    e.namespace().as_deref() == Some(namespace.as_str())
                        && (e.name_any() == name || (e.spec.job_name == job.name && same_cluster))
                });
                missing += usize::from(!covered);
            }
        }
        missing
    }

    #[tokio::test]
    #[ignore = "prints the time of a mirror pass; run with --release"]
    async fn mirror_pass_times() {
        for clusters in [100, 500, 1000] {
            let registry = quiet_registry(ClientSettings::default());
            for c in 0..clusters {
                let info = crate::clusters::ClusterInfo {
                    owner: Some(OwnerRef {
                        api_version: "v1".into(),
                        kind: "Service".into(),
                        name: format!("jm-{c}"),
                        uid: format!("uid-{c}"),
                    }),
                    ..service_cluster(&format!("team-{}", c % 10), &format!("jm-{c}"))
                };
                let jobs: Vec<serde_json::Value> = (0..10)
                    .map(|j| serde_json::json!({"jid": format!("{c:016x}{j:016x}"), "name": format!("jm-{c}-job-{j}"), "state": "RUNNING", "start-time": 1}))
                    .collect();
                add_cluster(&registry, info, serde_json::Value::Array(jobs), true).await;
            }
            let existing: Vec<Arc<StoredJob>> = missing_mirrors(&registry, None, &[])
                .iter()
                .map(|m| Arc::new(m.to_flinkjob().into()))
                .collect();
            let started = Instant::now();
            let now_missing = missing_mirrors(&registry, None, &existing).len();
            let linear = started.elapsed();
            let started = Instant::now();
            let before_missing = quadratic(&registry, &existing);
            let before = started.elapsed();
            assert_eq!((now_missing, before_missing), (0, 0));
            println!(
                "RESULT mirror-pass flinkjobs={} linear_ms={:.2} before_ms={:.1}",
                existing.len(),
                linear.as_secs_f64() * 1e3,
                before.as_secs_f64() * 1e3
            );
        }
    }
}
