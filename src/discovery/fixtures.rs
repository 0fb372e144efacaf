//! Test fixtures: Kubernetes objects as `kubectl get -o yaml` shows them (see testdata/).

use k8s_openapi::api::core::v1::{Service, ServicePort};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;
use serde_json::Value;

use super::flinkdeployment::FlinkDeployment;
use super::mapping::REST_URL_ANNOTATION;

pub const NATIVE_SESSION: &str = include_str!("testdata/native-session.yaml");
pub const STANDALONE_SESSION: &str = include_str!("testdata/standalone-session.yaml");
pub const OPERATOR_BASIC: &str = include_str!("testdata/operator-basic.yaml");
pub const OPERATOR_REST_PORT: &str = include_str!("testdata/operator-rest-port.yaml");
pub const OTHER_SERVICES: &str = include_str!("testdata/other-services.yaml");

#[derive(Debug, Clone, Default)]
pub struct Objects {
    pub services: Vec<Service>,
    pub deployments: Vec<FlinkDeployment>,
}

impl Objects {
    /// Every object of the given multi-document YAML files.
    pub fn load(files: &[&str]) -> Self {
        let mut objects = Self::default();
        for file in files {
            for document in serde_yaml::Deserializer::from_str(file) {
                let value = serde_json::Value::deserialize(document).unwrap();
                match value["kind"].as_str() {
                    Some("Service") => objects
                        .services
                        .push(serde_json::from_value(value).unwrap()),
                    Some("FlinkDeployment") => objects
                        .deployments
                        .push(serde_json::from_value(value).unwrap()),
                    other => panic!("unexpected kind {other:?} in a fixture"),
                }
            }
        }
        objects
    }

    /// The same objects, moved to another namespace.
    pub fn in_namespace(mut self, namespace: &str) -> Self {
        for service in &mut self.services {
            service.metadata.namespace = Some(namespace.into());
        }
        for deployment in &mut self.deployments {
            deployment.metadata.namespace = Some(namespace.into());
        }
        self
    }

    pub fn and(mut self, other: Self) -> Self {
        self.services.extend(other.services);
        self.deployments.extend(other.deployments);
        self
    }

    pub fn service(&mut self, name: &str) -> &mut Service {
        self.services
            .iter_mut()
            .find(|s| s.metadata.name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("no Service {name} in the fixture"))
    }

    pub fn deployment(&mut self, name: &str) -> &mut FlinkDeployment {
        self.deployments
            .iter_mut()
            .find(|d| d.metadata.name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("no FlinkDeployment {name} in the fixture"))
    }

    pub fn without_service(mut self, name: &str) -> Self {
        self.services
            .retain(|s| s.metadata.name.as_deref() != Some(name));
        self
    }

    /// The ports of the Service `service`.
    pub fn ports(&mut self, service: &str) -> &mut Vec<ServicePort> {
        let spec = self.service(service).spec.as_mut();
        spec.and_then(|s| s.ports.as_mut())
            .unwrap_or_else(|| panic!("no ports on the Service {service} in the fixture"))
    }

    /// The `spec.flinkConfiguration` of the FlinkDeployment `deployment`.
    pub fn flink_configuration(&mut self, deployment: &str) -> &mut Option<Value> {
        &mut self
            .deployment(deployment)
            .spec
            .get_or_insert_with(Default::default)
            .flink_configuration
    }

    /// The Service `name`, its [`REST_URL_ANNOTATION`] set to `rest_url`.
    pub fn annotated_service(&mut self, name: &str, rest_url: &str) -> &mut Service {
        let service = self.service(name);
        set_rest_url(&mut service.metadata, rest_url);
        service
    }

    /// The FlinkDeployment `name`, its [`REST_URL_ANNOTATION`] set to `rest_url`.
    pub fn annotated_deployment(&mut self, name: &str, rest_url: &str) -> &mut FlinkDeployment {
        let deployment = self.deployment(name);
        set_rest_url(&mut deployment.metadata, rest_url);
        deployment
    }
}

/// Sets (or replaces) an object's [`REST_URL_ANNOTATION`].
fn set_rest_url(meta: &mut ObjectMeta, value: &str) {
    meta.annotations
        .get_or_insert_with(Default::default)
        .insert(REST_URL_ANNOTATION.into(), value.into());
}
