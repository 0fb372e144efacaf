//! The `FlinkJob` custom resource: one Flink job, by name, and its status as flink-monitor
//! last saw it. `flink-monitor crd` prints the CustomResourceDefinition.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use kube::core::CustomResourceExt;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

/// The label of FlinkJobs that flink-monitor created itself (mirror mode).
pub const MIRRORED_LABEL: &str = "flinkmonitor.dev/mirrored";
/// The field manager of every write flink-monitor makes.
pub const FIELD_MANAGER: &str = "flink-monitor";

/// A Flink job to watch. `jobName` is the Flink job name (the TSP uuid).
#[skip_serializing_none]
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "flinkmonitor.dev",
    version = "v1alpha1",
    kind = "FlinkJob",
    plural = "flinkjobs",
    shortname = "fj",
    category = "flink",
    namespaced,
    status = "FlinkJobStatus",
    derive = "PartialEq",
    printcolumn = r#"{"name":"Job","type":"string","jsonPath":".spec.jobName"}"#,
    printcolumn = r#"{"name":"Cluster","type":"string","jsonPath":".status.cluster"}"#,
    printcolumn = r#"{"name":"State","type":"string","jsonPath":".status.state"}"#,
    printcolumn = r#"{"name":"Health","type":"string","jsonPath":".status.health"}"#,
    printcolumn = r#"{"name":"Restarts","type":"integer","jsonPath":".status.restarts"}"#,
    printcolumn = r#"{"name":"Started","type":"date","jsonPath":".status.startTime"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct FlinkJobSpec {
    /// The Flink job name. Several Flink jobs may share it; the running one, else the
    /// newest, is meant.
    pub job_name: String,
    /// A cluster id (`<namespace>.<name>`, or a static cluster's name) or the name of a
    /// Service / FlinkDeployment in this namespace. Empty: any cluster in this namespace.
    pub cluster: Option<String>,
    /// Overrides of the health thresholds of the command line for this job.
    pub health: Option<HealthSpec>,
}

/// Per-job health thresholds; each unset one is the flag of the same name.
#[skip_serializing_none]
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthSpec {
    /// No completed checkpoint for longer than this (e.g. `5m`) is CheckpointStalled.
    pub max_checkpoint_age: Option<String>,
    /// This many restarts within `restartWindow` is Restarting (at least 1).
    #[schemars(range(min = 1))]
    pub restart_threshold: Option<u32>,
    /// The window restarts are counted in (e.g. `10m`, at most 24h).
    pub restart_window: Option<String>,
}

/// What flink-monitor last saw of the job. Only fields that change when something a user
/// cares about changes: no durations or counters, which would make every poll a write.
#[skip_serializing_none]
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FlinkJobStatus {
    /// Flink's job status: RUNNING, FINISHED, FAILED, CANCELED, ...
    pub state: Option<String>,
    /// Flink's job id.
    pub job_id: Option<String>,
    /// The id of the cluster the job was found on.
    pub cluster: Option<String>,
    /// RFC 3339.
    pub start_time: Option<String>,
    /// RFC 3339; absent while the job runs.
    pub end_time: Option<String>,
    pub flink_version: Option<String>,
    /// The first line of the job's root exception, if it failed.
    pub last_exception: Option<LastException>,
    /// Flink's numRestarts of the job, as the last health check read it.
    pub restarts: Option<i64>,
    /// `Healthy`, `Degraded` or `Unknown`; the `Healthy` condition says why.
    pub health: Option<String>,
    /// `Found`, `ClusterReachable`, `Running` and `Healthy`.
    #[serde(default)]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` this status was computed for.
    pub observed_generation: Option<i64>,
}

#[skip_serializing_none]
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LastException {
    /// First line of the root exception, at most 512 characters.
    pub message: String,
    /// When it happened, RFC 3339.
    pub timestamp: Option<String>,
}

/// Conditions are a list-map keyed by `type`, as `metav1.Condition` lists are elsewhere,
/// so server-side apply merges them by type.
fn conditions_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let mut schema = generator.subschema_for::<Vec<Condition>>();
    schema.insert("x-kubernetes-list-type".into(), "map".into());
    schema.insert(
        "x-kubernetes-list-map-keys".into(),
        serde_json::json!(["type"]),
    );
    schema
}

/// The CRD as YAML, exactly as committed in `crds/` and the chart.
pub fn crd_yaml() -> Result<String, serde_yaml::Error> {
    serde_yaml::to_string(&FlinkJob::crd())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_crd_has_the_decided_names_columns_and_status_subresource() {
        let crd = serde_json::to_value(FlinkJob::crd()).unwrap();
        assert_eq!(crd["metadata"]["name"], "flinkjobs.flinkmonitor.dev");
        assert_eq!(crd["spec"]["scope"], "Namespaced");
        assert_eq!(
            crd["spec"]["names"]["shortNames"],
            serde_json::json!(["fj"])
        );
        assert_eq!(
            crd["spec"]["names"]["categories"],
            serde_json::json!(["flink"])
        );
        let version = &crd["spec"]["versions"][0];
        assert_eq!(version["name"], "v1alpha1");
        assert!(version["subresources"]["status"].is_object());
        let columns: Vec<(String, String)> = version["additionalPrinterColumns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["name"].as_str().unwrap().into(),
                    c["type"].as_str().unwrap().into(),
                )
            })
            .collect();
        let expected = [
            ("Job", "string"),
            ("Cluster", "string"),
            ("State", "string"),
            ("Health", "string"),
            ("Restarts", "integer"),
            ("Started", "date"),
            ("Age", "date"),
        ];
        assert_eq!(
            columns,
            expected.map(|(a, b)| (a.to_string(), b.to_string()))
        );
        let conditions = &version["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]
            ["conditions"];
        assert_eq!(conditions["x-kubernetes-list-type"], "map");
        assert_eq!(
            conditions["x-kubernetes-list-map-keys"],
            serde_json::json!(["type"])
        );
        assert_eq!(
            conditions["items"]["required"].as_array().map(|r| r.len()),
            Some(5)
        );
    }
}
