//! Kubernetes discovery: watches Services of Flink JobManagers (native and standalone
//! deployments) and the Flink Kubernetes Operator's `FlinkDeployment`s, and keeps the
//! registry's discovered clusters in step with them. Static `--cluster` entries are never
//! touched.
//!
//! - [`mapping`]: objects in view -> the clusters wanted (pure);
//! - [`apply`]: wanted vs registry -> upserts and removals;
//! - `store`: one watcher's objects, relists included;
//! - `events`: Warning Events on the objects skipped;
//! - `watch`: the kube-runtime watchers and the loop tying the parts together.

pub mod apply;
mod events;
pub mod flinkdeployment;
pub mod mapping;
mod store;
mod watch;

#[cfg(test)]
mod fixtures;

pub use flinkdeployment::FlinkDeployment;
pub use mapping::{
    Desired, MappingOptions, REST_URL_ANNOTATION, SkipReason, Skipped, cluster_id, desired,
};
pub use watch::run;

/// What to discover.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiscoveryConfig {
    /// Namespaces to watch; empty: all of them.
    pub namespaces: Vec<String>,
    /// A label selector (`key=value,...`) narrowing the Services watched. Services are
    /// still only taken when their pod selector picks Flink JobManagers.
    pub service_selector: Option<String>,
    /// Never read `flinkmonitor.dev/rest-url` (see `mapping::MappingOptions`).
    pub ignore_rest_url_annotation: bool,
    /// This replica's name on the Warning Events discovery sends (the pod name).
    pub instance: String,
}

/// The permissions discovery needs, as `(api group, resource, verbs)` (`""` is the core
/// group), in every watched namespace (cluster-wide when all are watched). The watchers
/// only list and watch; the Warning Events on skipped objects (`events`) use the
/// controller's `events.k8s.io` grant in the same namespaces (`controller::REQUIRED_RBAC`).
pub const REQUIRED_RBAC: &[(&str, &str, &[&str])] = &[
    ("", "services", &["list", "watch"]),
    (
        flinkdeployment::GROUP,
        flinkdeployment::PLURAL,
        &["list", "watch"],
    ),
];

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Service;
    use kube::Resource;

    #[test]
    fn rbac_names_the_resources_watched() {
        let resources: Vec<(&str, &str)> = REQUIRED_RBAC.iter().map(|r| (r.0, r.1)).collect();
        assert_eq!(
            resources,
            [
                (Service::group(&()).as_ref(), Service::plural(&()).as_ref()),
                (
                    FlinkDeployment::group(&()).as_ref(),
                    FlinkDeployment::plural(&()).as_ref()
                ),
            ]
        );
        for (_, _, verbs) in REQUIRED_RBAC {
            assert_eq!(*verbs, ["list", "watch"]);
        }
    }
}
