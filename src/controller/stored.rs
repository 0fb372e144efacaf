//! What the FlinkJob store keeps of each FlinkJob: what the controller, the mirror pass and
//! the change triggers read, with the status as one block of compact JSON.
//!
//! A status as Rust values is about 25 allocations (four conditions of four strings and a
//! time each, the job's ids and times) and 1.7 KB; as JSON 0.9 KB, and deflated (the
//! cluster id, job id and times repeat in it) one allocation of about 0.35 KB. Only a
//! reconcile reads the status whole, and it turns it back into a [`FlinkJob`] for as long
//! as it runs (tens of microseconds).

use kube::Resource;
use kube::api::ObjectMeta;
use serde::Deserialize;

use crate::crd::{FlinkJob, FlinkJobSpec, FlinkJobStatus};

/// A FlinkJob as the store keeps it. Deserialized from a FlinkJob as served, then trimmed;
/// to the API it is a FlinkJob (the same group, version, kind and plural).
#[derive(Clone, Debug, Deserialize, Resource)]
#[serde(from = "FlinkJob")]
#[resource(inherit = "FlinkJob")]
pub struct StoredJob {
    /// Names, uid, resourceVersion and generation: no managedFields (the larger part of a
    /// FlinkJob as served), annotations, labels, owner references or timestamps.
    pub metadata: ObjectMeta,
    pub spec: FlinkJobSpec,
    /// `status.cluster`: the cluster the job was last found on.
    found_on: Option<Box<str>>,
    /// `status.observedGeneration`.
    observed_generation: Option<i64>,
    /// The whole status, as deflated JSON.
    status: Option<Box<[u8]>>,
}

impl StoredJob {
    /// The id of the cluster the job was last found on (`status.cluster`).
    pub fn found_on(&self) -> Option<&str> {
        self.found_on.as_deref()
    }

    /// Whether the status was computed for the current spec.
    pub fn status_is_current(&self) -> bool {
        self.metadata.generation.is_some() && self.observed_generation == self.metadata.generation
    }

    /// The FlinkJob again, as the store would have kept it whole.
    pub fn to_flinkjob(&self) -> FlinkJob {
        FlinkJob {
            metadata: self.metadata.clone(),
            spec: self.spec.clone(),
            // It was serialized from the same type and deflated here: it reads back.
            status: self.status.as_deref().and_then(inflate_status),
        }
    }
}

impl From<FlinkJob> for StoredJob {
    fn from(job: FlinkJob) -> Self {
        let FlinkJob {
            mut metadata,
            spec,
            status,
        } = job;
        trim(&mut metadata);
        let found_on = status
            .as_ref()
            .and_then(|s| s.cluster.as_deref())
            .map(Box::from);
        let observed_generation = status.as_ref().and_then(|s| s.observed_generation);
        let status = status.as_ref().and_then(deflate_status);
        Self {
            metadata,
            spec,
            found_on,
            observed_generation,
            status,
        }
    }
}

/// Deflate's fastest level: a status is small, and the fast level keeps nearly all the gain.
const LEVEL: u8 = 1;
/// A status is part of one Kubernetes object (at most 1.5 MB as the API server takes it).
const MAX_STATUS_JSON: usize = 4 << 20;

fn deflate_status(status: &FlinkJobStatus) -> Option<Box<[u8]>> {
    let json = serde_json::to_vec(status).ok()?;
    Some(miniz_oxide::deflate::compress_to_vec(&json, LEVEL).into_boxed_slice())
}

fn inflate_status(deflated: &[u8]) -> Option<FlinkJobStatus> {
    let json =
        miniz_oxide::inflate::decompress_to_vec_with_limit(deflated, MAX_STATUS_JSON).ok()?;
    serde_json::from_slice(&json).ok()
}

/// Keeps of the metadata what is read: names, uid, resourceVersion, generation.
fn trim(meta: &mut ObjectMeta) {
    meta.managed_fields = None;
    meta.annotations = None;
    meta.labels = None;
    meta.owner_references = None;
    meta.creation_timestamp = None;
    meta.finalizers = None;
    meta.generate_name = None;
    meta.self_link = None;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::status::{self, Observed};
    use crate::crd::LastException;
    use k8s_openapi::jiff::Timestamp;
    use std::collections::BTreeMap;

    fn served() -> FlinkJob {
        let mut job = FlinkJob::new(
            "orders",
            FlinkJobSpec {
                job_name: "orders".into(),
                cluster: Some("flink".into()),
                health: None,
            },
        );
        job.metadata.namespace = Some("team-a".into());
        job.metadata.uid = Some("u1".into());
        job.metadata.resource_version = Some("12".into());
        job.metadata.generation = Some(3);
        job.metadata.labels = Some(BTreeMap::from([("a".into(), "b".into())]));
        job.metadata.managed_fields = Some(vec![Default::default()]);
        let observed = Observed::Found {
            cluster: "team-a.flink".into(),
            unreachable: None,
            job: status::JobFacts {
                jid: "0123456789abcdef0123456789abcdef".into(),
                state: "RUNNING".into(),
                start_time: Some(1_700_000_000_123),
                end_time: None,
            },
            flink_version: Some("2.3.0".into()),
            exception: None,
            health: Some(Box::new(status::HealthFacts {
                health: "Degraded",
                reason: "Restarting".into(),
                message: "Restarting: 3 restarts in 10m".into(),
                restarts: Some(3),
            })),
        };
        let mut status = status::compute(
            None,
            Some(3),
            &observed,
            Timestamp::from_millisecond(1_700_000_001_456).unwrap(),
        );
        status.last_exception = Some(LastException {
            message: "java.lang.RuntimeException: «boom» \"quoted\"".into(),
            timestamp: Some("2023-11-14T22:13:20Z".into()),
        });
        job.status = Some(status);
        // As the API server serves it (`Time` is written to the second).
        serde_json::from_value(serde_json::to_value(job).unwrap()).unwrap()
    }

    #[test]
    fn to_the_api_a_stored_job_is_a_flinkjob() {
        assert_eq!(StoredJob::api_version(&()), FlinkJob::api_version(&()));
        assert_eq!(StoredJob::kind(&()), "FlinkJob");
        assert_eq!(StoredJob::plural(&()), FlinkJob::plural(&()));
        let mut stored = StoredJob::from(served());
        stored.meta_mut().name = Some("renamed".into());
        assert_eq!(stored.meta().name.as_deref(), Some("renamed"));
    }

    #[test]
    fn the_status_reads_back_exactly_and_the_metadata_is_trimmed() {
        let job = served();
        let stored = StoredJob::from(job.clone());
        let back = stored.to_flinkjob();
        assert_eq!(back.status, job.status, "the status round-trips");
        assert_eq!(back.spec, job.spec);
        assert_eq!(back.metadata.name.as_deref(), Some("orders"));
        assert_eq!(back.metadata.uid.as_deref(), Some("u1"));
        assert_eq!(back.metadata.resource_version.as_deref(), Some("12"));
        assert_eq!(back.metadata.generation, Some(3));
        assert_eq!(back.metadata.managed_fields, None);
        assert_eq!(back.metadata.labels, None);
        assert_eq!(stored.found_on(), Some("team-a.flink"));
        assert!(stored.status_is_current());
    }

    #[test]
    fn the_stored_status_is_smaller_than_its_json() {
        let job = served();
        let json = serde_json::to_vec(job.status.as_ref().unwrap()).unwrap();
        let stored = StoredJob::from(job);
        let kept = stored.status.as_ref().map(|s| s.len()).unwrap();
        assert!(
            kept * 2 < json.len(),
            "{kept} bytes kept of {} JSON",
            json.len()
        );
    }

    #[test]
    fn a_status_for_an_older_spec_or_none_is_not_current() {
        let mut job = served();
        job.metadata.generation = Some(4);
        assert!(!StoredJob::from(job.clone()).status_is_current());
        job.status = None;
        let stored = StoredJob::from(job);
        assert!(!stored.status_is_current());
        assert_eq!(stored.found_on(), None);
        assert_eq!(stored.to_flinkjob().status, None);
    }

    #[test]
    fn it_is_read_from_a_flinkjob_as_served() {
        let json = serde_json::to_value(served()).unwrap();
        let stored: StoredJob = serde_json::from_value(json).unwrap();
        assert_eq!(stored.to_flinkjob().status, served().status);
        assert_eq!(stored.metadata.managed_fields, None);
    }
}
