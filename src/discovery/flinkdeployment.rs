//! The part of the Apache Flink Kubernetes Operator's `FlinkDeployment` that discovery reads.
//!
//! Written by hand rather than with `CustomResource`: the CRD belongs to the operator, and a
//! typed list fails as a whole when one object does not decode, so everything but the
//! metadata is optional and `flinkConfiguration` is kept as raw JSON (it is a flat string
//! map before operator 1.13 and may be nested YAML since).

use std::borrow::Cow;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const GROUP: &str = "flink.apache.org";
pub const VERSION: &str = "v1beta1";
pub const KIND: &str = "FlinkDeployment";
pub const PLURAL: &str = "flinkdeployments";
pub const API_VERSION: &str = "flink.apache.org/v1beta1";

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct FlinkDeployment {
    pub metadata: ObjectMeta,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<FlinkDeploymentSpec>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FlinkDeploymentSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flink_configuration: Option<Value>,
}

impl FlinkDeployment {
    /// A configuration value by its Flink key (`rest.port`), whether the configuration is
    /// flat (`rest.port: "8081"`), nested (`rest: {port: 8081}`) or a mix of both.
    pub fn config(&self, key: &str) -> Option<&Value> {
        let config = self.spec.as_ref()?.flink_configuration.as_ref()?;
        let parts: Vec<&str> = key.split('.').collect();
        lookup(config, &parts)
    }
}

fn lookup<'a>(node: &'a Value, parts: &[&str]) -> Option<&'a Value> {
    let map = node.as_object()?;
    // Longest flat key first, so `rest.port` wins over `rest: {port}` when both are set.
    for split in (1..=parts.len()).rev() {
        let Some(value) = map.get(&parts[..split].join(".")) else {
            continue;
        };
        if split == parts.len() {
            return Some(value);
        }
        if let Some(found) = lookup(value, &parts[split..]) {
            return Some(found);
        }
    }
    None
}

impl Resource for FlinkDeployment {
    type DynamicType = ();
    type Scope = NamespaceResourceScope;

    fn kind(_: &()) -> Cow<'_, str> {
        KIND.into()
    }

    fn group(_: &()) -> Cow<'_, str> {
        GROUP.into()
    }

    fn version(_: &()) -> Cow<'_, str> {
        VERSION.into()
    }

    fn api_version(_: &()) -> Cow<'_, str> {
        API_VERSION.into()
    }

    fn plural(_: &()) -> Cow<'_, str> {
        PLURAL.into()
    }

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn with_config(config: Value) -> FlinkDeployment {
        serde_json::from_value(json!({
            "apiVersion": API_VERSION,
            "kind": KIND,
            "metadata": {"name": "x", "namespace": "ns"},
            "spec": {"flinkConfiguration": config},
        }))
        .unwrap()
    }

    #[test]
    fn config_is_found_flat_nested_and_mixed() {
        assert_eq!(
            with_config(json!({"rest.port": "8082"})).config("rest.port"),
            Some(&json!("8082"))
        );
        assert_eq!(
            with_config(json!({"rest": {"port": 8083}})).config("rest.port"),
            Some(&json!(8083))
        );
        assert_eq!(
            with_config(json!({"security": {"ssl.rest.enabled": true}}))
                .config("security.ssl.rest.enabled"),
            Some(&json!(true))
        );
        assert_eq!(
            with_config(json!({"rest.port": "1", "rest": {"port": 2}})).config("rest.port"),
            Some(&json!("1"))
        );
        assert_eq!(
            with_config(json!({"rest": {"address": "x"}})).config("rest.port"),
            None
        );
        assert_eq!(
            with_config(json!({"rest": "8081"})).config("rest.port"),
            None
        );
    }

    #[test]
    fn odd_objects_still_decode() {
        let bare: FlinkDeployment =
            serde_json::from_value(json!({"metadata": {"name": "x"}})).unwrap();
        assert_eq!(bare.config("rest.port"), None);
        let null_spec: FlinkDeployment =
            serde_json::from_value(json!({"metadata": {"name": "x"}, "spec": null})).unwrap();
        assert_eq!(null_spec.config("rest.port"), None);
        let odd: FlinkDeployment = serde_json::from_value(json!({
            "metadata": {"name": "x"},
            "spec": {"flinkConfiguration": ["not", "a", "map"], "job": {"unknown": 1}},
            "status": {"whatever": true},
        }))
        .unwrap();
        assert_eq!(odd.config("rest.port"), None);
    }

    #[test]
    fn resource_urls() {
        assert_eq!(
            FlinkDeployment::url_path(&(), Some("team-a")),
            "/apis/flink.apache.org/v1beta1/namespaces/team-a/flinkdeployments"
        );
        assert_eq!(
            FlinkDeployment::url_path(&(), None),
            "/apis/flink.apache.org/v1beta1/flinkdeployments"
        );
    }
}
