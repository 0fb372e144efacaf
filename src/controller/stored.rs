//! What the FlinkJob store keeps of each FlinkJob: what the controller, the mirror pass and
//! the change triggers read, with the status as one block of compact JSON.
//!
//! A status as Rust values is about 25 allocations (four conditions of four strings and a
//! time each, the job's ids and times) and 1.7 KB; as JSON 0.9 KB, and deflated (the
//! cluster id, job id and times repeat in it) one allocation of about 0.35 KB. Only a
//! reconcile reads the status whole, and it turns it back into a [`FlinkJob`] for as long
//! as it runs (tens of microseconds).

use std::borrow::Cow;
use std::cell::RefCell;

use kube::Resource;
use kube::api::ObjectMeta;
use miniz_oxide::deflate::{
    self,
    core::{CompressorOxide, TDEFLFlush, TDEFLStatus, create_comp_flags_from_zip_params},
};
use miniz_oxide::inflate::{
    self, TINFLStatus,
    core::{DecompressorOxide, inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF},
};
use serde::Deserialize;

use crate::crd::{FlinkJob, FlinkJobSpec, FlinkJobStatus};

/// A FlinkJob as the store keeps it. Deserialized from a FlinkJob as served, then trimmed;
/// to the API it is a FlinkJob (the same group, version, kind and plural).
#[derive(Clone, Debug, Deserialize, Resource)]
#[serde(from = "FlinkJob")]
#[resource(inherit = "FlinkJob")]
pub struct StoredJob {
    /// Name, namespace, resourceVersion (the watcher resumes from it) and generation: no
    /// managedFields (the larger part of a FlinkJob as served), annotations, labels, owner
    /// references or timestamps, and no uid (below).
    pub metadata: ObjectMeta,
    pub spec: FlinkJobSpec,
    /// `metadata.uid`: in the metadata, the reflector would keep it twice (in the object
    /// and in its key).
    uid: Option<Box<str>>,
    /// `status.cluster`: the cluster the job was last found on.
    found_on: FoundOn,
    /// `status.observedGeneration`.
    observed_generation: Option<i64>,
    /// The whole status, as deflated JSON.
    status: Option<Box<[u8]>>,
}

/// `status.cluster`, which for a mirror is `<namespace>.<spec.cluster>`: then not kept again.
#[derive(Clone, Debug)]
enum FoundOn {
    Nowhere,
    /// `<metadata.namespace>.<spec.cluster>`.
    SpecCluster,
    Other(Box<str>),
}

impl FoundOn {
    fn new(found_on: Option<&str>, namespace: Option<&str>, spec_cluster: Option<&str>) -> Self {
        let Some(found_on) = found_on else {
            return Self::Nowhere;
        };
        let is_spec_cluster = found_on.split_once('.').is_some_and(|(ns, name)| {
            !name.is_empty() && Some(ns) == namespace && Some(name) == spec_cluster
        });
        if is_spec_cluster {
            Self::SpecCluster
        } else {
            Self::Other(found_on.into())
        }
    }
}

impl StoredJob {
    /// The id of the cluster the job was last found on (`status.cluster`).
    pub fn found_on(&self) -> Option<Cow<'_, str>> {
        match &self.found_on {
            FoundOn::Nowhere => None,
            FoundOn::SpecCluster => Some(Cow::Owned(format!(
                "{}.{}",
                self.metadata.namespace.as_deref().unwrap_or_default(),
                self.spec.cluster.as_deref().unwrap_or_default()
            ))),
            FoundOn::Other(id) => Some(Cow::Borrowed(id)),
        }
    }

    /// Whether the job was last found on the cluster `<metadata.namespace>.<spec.cluster>`.
    pub fn found_on_spec_cluster(&self) -> bool {
        matches!(self.found_on, FoundOn::SpecCluster)
    }

    pub fn uid(&self) -> Option<&str> {
        self.uid.as_deref()
    }

    /// Whether the status was computed for the current spec.
    pub fn status_is_current(&self) -> bool {
        self.metadata.generation.is_some() && self.observed_generation == self.metadata.generation
    }

    /// The FlinkJob again, as the store would have kept it whole.
    pub fn to_flinkjob(&self) -> FlinkJob {
        let mut metadata = self.metadata.clone();
        metadata.uid = self.uid().map(String::from);
        FlinkJob {
            metadata,
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
        let uid = metadata.uid.take().map(Box::from);
        let found_on = FoundOn::new(
            status.as_ref().and_then(|s| s.cluster.as_deref()),
            metadata.namespace.as_deref(),
            spec.cluster.as_deref(),
        );
        let observed_generation = status.as_ref().and_then(|s| s.observed_generation);
        let status = status.as_ref().and_then(deflate_status);
        Self {
            metadata,
            spec,
            uid,
            found_on,
            observed_generation,
            status,
        }
    }
}

/// Deflate's fastest level: a status is small, and the fast level keeps nearly all the gain.
const LEVEL: i32 = 1;
/// A status is part of one Kubernetes object (at most 1.5 MB as the API server takes it).
const MAX_STATUS_JSON: usize = 4 << 20;

thread_local! {
    /// One compressor per thread, reset per status: a new one sets up about 300 KB of
    /// buffers and tables, which cost more than deflating a status (run 16's restart CPU).
    static COMPRESSOR: RefCell<Box<CompressorOxide>> = RefCell::new(Box::new(CompressorOxide::new(
        create_comp_flags_from_zip_params(LEVEL, 0, 0), // window bits 0: raw deflate
    )));
    /// Likewise one decompressor (about 11 KB of tables) per thread.
    static DECOMPRESSOR: RefCell<Box<DecompressorOxide>> = RefCell::new(Box::default());
}

fn deflate_status(status: &FlinkJobStatus) -> Option<Box<[u8]>> {
    let json = serde_json::to_vec(status).ok()?;
    COMPRESSOR.with_borrow_mut(|compressor| deflate(compressor, &json))
}

/// Deflates `input` whole with a compressor used before: one allocation of the exact size.
fn deflate(compressor: &mut CompressorOxide, mut input: &[u8]) -> Option<Box<[u8]>> {
    compressor.reset();
    let mut output = vec![0; (input.len() / 2).max(64)];
    let mut written = 0;
    loop {
        let (status, read, wrote) = deflate::core::compress(
            compressor,
            input,
            &mut output[written..],
            TDEFLFlush::Finish,
        );
        written += wrote;
        match status {
            TDEFLStatus::Done => return Some(Box::from(&output[..written])),
            TDEFLStatus::Okay => {
                input = input.get(read..)?;
                output.resize(output.len() * 2, 0);
            }
            _ => return None,
        }
    }
}

fn inflate_status(deflated: &[u8]) -> Option<FlinkJobStatus> {
    let json = DECOMPRESSOR.with_borrow_mut(|decompressor| inflate(decompressor, deflated))?;
    serde_json::from_slice(&json).ok()
}

/// Inflates `input` whole (at most [`MAX_STATUS_JSON`]) with a decompressor used before.
fn inflate(decompressor: &mut DecompressorOxide, mut input: &[u8]) -> Option<Vec<u8>> {
    decompressor.init();
    let mut output = vec![0; input.len().saturating_mul(4).min(MAX_STATUS_JSON)];
    let mut written = 0;
    loop {
        let (status, read, wrote) = inflate::core::decompress(
            decompressor,
            input,
            &mut output,
            written,
            TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF,
        );
        written += wrote;
        match status {
            TINFLStatus::Done => {
                output.truncate(written);
                return Some(output);
            }
            TINFLStatus::HasMoreOutput if output.len() < MAX_STATUS_JSON => {
                input = input.get(read..)?;
                output.resize((output.len() * 2).min(MAX_STATUS_JSON), 0);
            }
            _ => return None,
        }
    }
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
        assert_eq!(stored.found_on().as_deref(), Some("team-a.flink"));
        assert!(stored.found_on_spec_cluster(), "kept once, as spec.cluster");
        assert_eq!(stored.uid(), Some("u1"));
        assert_eq!(stored.metadata.uid, None, "not kept twice by the reflector");
        assert_eq!(stored.metadata.resource_version.as_deref(), Some("12"));
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
        assert!(!stored.found_on_spec_cluster());
        assert_eq!(stored.to_flinkjob().status, None);
    }

    #[test]
    fn statuses_deflated_one_after_another_on_a_thread_each_read_back() {
        // The compressor and decompressor are reused: each use must start afresh.
        let first = served();
        let mut second = served();
        let status = second.status.as_mut().unwrap();
        status.cluster = Some("team-b.other".into());
        status.conditions.reverse();
        let third = served();
        for job in [&first, &second, &third, &second] {
            let stored = StoredJob::from(job.clone());
            assert_eq!(stored.to_flinkjob().status, job.status);
        }
        assert_eq!(
            inflate(&mut DecompressorOxide::default(), b"not deflate"),
            None
        );
    }

    #[test]
    fn a_cluster_other_than_spec_cluster_is_kept_whole_and_missing_ids_stay_missing() {
        let mut job = served();
        job.spec.cluster = None;
        let stored = StoredJob::from(job.clone());
        assert!(!stored.found_on_spec_cluster());
        assert_eq!(stored.found_on().as_deref(), Some("team-a.flink"));
        job.metadata.uid = None;
        let stored = StoredJob::from(job);
        assert_eq!(stored.uid(), None);
        assert_eq!(stored.to_flinkjob().metadata.uid, None);
    }

    #[test]
    fn it_is_read_from_a_flinkjob_as_served() {
        let json = serde_json::to_value(served()).unwrap();
        let stored: StoredJob = serde_json::from_value(json).unwrap();
        assert_eq!(stored.to_flinkjob().status, served().status);
        assert_eq!(stored.metadata.managed_fields, None);
    }
}
