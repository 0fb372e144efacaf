//! From the Services and FlinkDeployments in view to the clusters the registry should hold.
//!
//! Pure: no IO and no logging. What was left out for a reason the user should hear about
//! comes back in [`Desired::skipped`], for the caller to log once.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{Service, ServicePort};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use reqwest::Url;
use serde_json::Value;

use crate::clusters::{ClusterInfo, ClusterSource, OwnerRef};

use super::flinkdeployment::{self, FlinkDeployment};

/// On a Service or FlinkDeployment: reach the cluster at this URL instead.
pub const REST_URL_ANNOTATION: &str = "flinkmonitor.dev/rest-url";

/// Flink's default `rest.port`.
pub const DEFAULT_REST_PORT: u16 = 8081;

const SERVICE_KIND: &str = "Service";

/// The clusters discovery wants in the registry, by id, and the objects it had to skip.
#[derive(Debug, Default, PartialEq)]
pub struct Desired {
    pub clusters: BTreeMap<String, ClusterInfo>,
    pub skipped: Vec<Skipped>,
}

/// How discovery reads the objects.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MappingOptions {
    /// Never read [`REST_URL_ANNOTATION`]: whoever may annotate a Service then cannot
    /// choose where flink-monitor sends requests.
    pub ignore_rest_url_annotation: bool,
}

/// An object that looks like a Flink cluster but cannot be used as one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub kind: &'static str,
    pub namespace: String,
    pub name: String,
    /// For the Warning Event on the object.
    pub uid: Option<String>,
    pub reason: SkipReason,
}

/// Annotation values in these messages have any user credentials removed: the messages
/// go to the log and into Events.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SkipReason {
    #[error("annotation {REST_URL_ANNOTATION} {value:?} is not a URL: {reason}")]
    InvalidRestUrl { value: String, reason: String },

    #[error(
        "annotation {REST_URL_ANNOTATION} {value:?} must be an http:// or https:// URL with a host"
    )]
    UnsupportedRestUrl { value: String },

    #[error(
        "annotation {REST_URL_ANNOTATION} {value:?} has {problem}; it must be an absolute http:// or https:// URL with at most a path"
    )]
    RefusedRestUrl {
        value: String,
        problem: RestUrlProblem,
    },

    #[error("rest.port {value} in spec.flinkConfiguration is not a port number")]
    InvalidRestPort { value: String },

    #[error("failed to build the REST URL {url}: {reason}")]
    BuildUrl { url: String, reason: String },

    #[error("cluster id {id} is already taken by the FlinkDeployment of that name")]
    IdTaken { id: String },
}

/// What a `flinkmonitor.dev/rest-url` may not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RestUrlProblem {
    /// Calls would carry it, or it would swallow their paths.
    #[error("a query")]
    Query,
    #[error("a fragment")]
    Fragment,
    /// Annotations are readable by anyone who may read the object, and end up in logs.
    #[error(
        "user credentials (removed from this message; credentials belong in a Secret, never in an annotation)"
    )]
    Credentials,
}

impl SkipReason {
    /// The `reason` of the Warning Event about the skipped object.
    pub fn event_reason(&self) -> &'static str {
        match self {
            Self::InvalidRestUrl { .. }
            | Self::UnsupportedRestUrl { .. }
            | Self::RefusedRestUrl { .. } => "InvalidRestUrl",
            Self::InvalidRestPort { .. } => "InvalidRestPort",
            Self::BuildUrl { .. } => "InvalidServiceUrl",
            Self::IdTaken { .. } => "ClusterIdTaken",
        }
    }
}

/// `<namespace>.<name>`: the id of a discovered cluster. Static names cannot contain a dot,
/// so the two never collide.
pub fn cluster_id(namespace: &str, name: &str) -> String {
    format!("{namespace}.{name}")
}

/// The cluster discovered from the object `namespace/name`, under its [`cluster_id`].
fn discovered(
    namespace: &str,
    name: &str,
    source: ClusterSource,
    url: Url,
    owner: Option<OwnerRef>,
) -> ClusterInfo {
    ClusterInfo {
        id: cluster_id(namespace, name),
        namespace: Some(namespace.to_string()),
        name: name.to_string(),
        source,
        url,
        owner,
    }
}

/// Parses a `flinkmonitor.dev/rest-url` value: an absolute http(s) URL with a host and at
/// most a path; a query, a fragment or user credentials are refused.
pub fn parse_rest_url(value: &str) -> Result<Url, SkipReason> {
    let url = Url::parse(value.trim()).map_err(|e| SkipReason::InvalidRestUrl {
        value: without_credentials(value),
        reason: e.to_string(),
    })?;
    let shown = || {
        let mut clean = url.clone();
        // Both fail only for URLs that cannot have credentials.
        let _ = clean.set_username("");
        let _ = clean.set_password(None);
        clean.to_string()
    };
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(SkipReason::UnsupportedRestUrl { value: shown() });
    }
    let problem = if !url.username().is_empty() || url.password().is_some() {
        Some(RestUrlProblem::Credentials)
    } else if url.query().is_some() {
        Some(RestUrlProblem::Query)
    } else if url.fragment().is_some() {
        Some(RestUrlProblem::Fragment)
    } else {
        None
    };
    match problem {
        Some(problem) => Err(SkipReason::RefusedRestUrl {
            value: shown(),
            problem,
        }),
        None => Ok(url),
    }
}

/// A value that is not a URL, with anything that may be user credentials (what comes
/// before an `@` in the authority) cut out.
fn without_credentials(value: &str) -> String {
    let (scheme, rest) = match value.find("://") {
        Some(at) => value.split_at(at + 3),
        None => ("", value),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}<credentials removed>{}", &rest[at..]),
        None => value.to_string(),
    }
}

/// Whether a Service selects Flink JobManager pods. Only these are worth keeping in memory.
pub fn selects_jobmanagers(service: &Service) -> bool {
    flavor(service).is_some()
}

/// Who made the Service, as its pod selector tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flavor {
    /// Flink itself (native mode) or the operator's standalone mode: `type=flink-*-kubernetes`.
    Flink,
    /// Flink's standalone Kubernetes manifests: `app=flink`.
    Manifest,
}

fn flavor(service: &Service) -> Option<Flavor> {
    // The selector, not the labels: the standalone manifests put `app: flink` and
    // `component: jobmanager` in the selector and often have no labels at all.
    let selector = service.spec.as_ref()?.selector.as_ref()?;
    let get = |key: &str| selector.get(key).map(String::as_str);
    if get("component") != Some("jobmanager") {
        return None;
    }
    match get("type") {
        Some("flink-native-kubernetes" | "flink-standalone-kubernetes") => Some(Flavor::Flink),
        _ if get("app") == Some("flink") => Some(Flavor::Manifest),
        _ => None,
    }
}

/// How a Service's REST endpoint was chosen; the lower, the better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Choice {
    Annotation,
    RestPort,
    WebUiPort,
    DefaultPort,
    /// Flink's `<cluster-id>-rest` Service has one port whose name Flink may let users change.
    OnlyPort,
}

struct Candidate<'a> {
    namespace: &'a str,
    name: &'a str,
    selector: &'a BTreeMap<String, String>,
    choice: Choice,
    url: Url,
    owner: Option<OwnerRef>,
}

/// The clusters that the given objects describe. The result does not depend on the order
/// of the inputs.
pub fn desired<'a>(
    services: impl IntoIterator<Item = &'a Service>,
    deployments: impl IntoIterator<Item = &'a FlinkDeployment>,
) -> Desired {
    desired_with(services, deployments, MappingOptions::default())
}

/// [`desired`], read with `options`.
pub fn desired_with<'a>(
    services: impl IntoIterator<Item = &'a Service>,
    deployments: impl IntoIterator<Item = &'a FlinkDeployment>,
    options: MappingOptions,
) -> Desired {
    let mut out = Desired::default();
    let services: Vec<&Service> = services.into_iter().collect();
    let superseded_names = add_deployments(deployments, options, &mut out);
    let superseded = superseded_selectors(&services, &superseded_names);
    let groups = best_per_pods(services, options, &superseded, &mut out.skipped);
    add_services(groups, &mut out);
    out.skipped
        .sort_by(|a, b| (a.kind, &a.namespace, &a.name).cmp(&(b.kind, &b.namespace, &b.name)));
    out
}

/// Services of one namespace selecting the same pods: one cluster.
type SamePods<'a> = (&'a str, &'a BTreeMap<String, String>);

/// Adds each FlinkDeployment's cluster (or why it was skipped) to `out`. A FlinkDeployment
/// `X` makes Flink create the Service `X-rest`: the cluster is shown once, as the
/// FlinkDeployment; returns those Services' (namespace, name).
fn add_deployments<'a>(
    deployments: impl IntoIterator<Item = &'a FlinkDeployment>,
    options: MappingOptions,
    out: &mut Desired,
) -> BTreeSet<(&'a str, String)> {
    let mut superseded_names = BTreeSet::new();
    for deployment in deployments {
        let (Some(namespace), Some(name)) = (
            deployment.metadata.namespace.as_deref(),
            deployment.metadata.name.as_deref(),
        ) else {
            continue;
        };
        superseded_names.insert((namespace, format!("{name}-rest")));
        match deployment_url(deployment, namespace, name, options) {
            Ok(url) => {
                let owner = owner(
                    &deployment.metadata,
                    flinkdeployment::API_VERSION,
                    flinkdeployment::KIND,
                );
                let info = discovered(namespace, name, ClusterSource::FlinkDeployment, url, owner);
                out.clusters.insert(info.id.clone(), info);
            }
            Err(reason) => out.skipped.push(Skipped {
                kind: flinkdeployment::KIND,
                namespace: namespace.to_string(),
                name: name.to_string(),
                uid: deployment.metadata.uid.clone(),
                reason,
            }),
        }
    }
    superseded_names
}

/// The pods of the FlinkDeployments' `X-rest` Services: every Service selecting them is
/// the FlinkDeployment's cluster, already shown.
fn superseded_selectors<'a>(
    services: &[&'a Service],
    superseded_names: &BTreeSet<(&str, String)>,
) -> BTreeSet<SamePods<'a>> {
    services
        .iter()
        .filter_map(|service| {
            let namespace = service.metadata.namespace.as_deref()?;
            let name = service.metadata.name.as_deref()?;
            let selector = service.spec.as_ref()?.selector.as_ref()?;
            superseded_names
                .contains(&(namespace, name.to_string()))
                .then_some((namespace, selector))
        })
        .collect()
}

/// Services selecting the same pods are one cluster (the standalone manifests' two
/// Services, for one): keeps the best endpoint, then the first name. Unusable JobManager
/// Services go to `skipped`.
fn best_per_pods<'a>(
    services: Vec<&'a Service>,
    options: MappingOptions,
    superseded: &BTreeSet<SamePods<'a>>,
    skipped: &mut Vec<Skipped>,
) -> BTreeMap<SamePods<'a>, Candidate<'a>> {
    let mut groups: BTreeMap<SamePods<'a>, Candidate<'a>> = BTreeMap::new();
    for service in services {
        let candidate = match service_candidate(service, options) {
            None => continue,
            Some(Err(problem)) => {
                skipped.push(problem);
                continue;
            }
            Some(Ok(candidate)) => candidate,
        };
        let key = (candidate.namespace, candidate.selector);
        if superseded.contains(&key) {
            continue;
        }
        match groups.entry(key) {
            Entry::Vacant(slot) => {
                slot.insert(candidate);
            }
            Entry::Occupied(mut best) => {
                if (candidate.choice, candidate.name) < (best.get().choice, best.get().name) {
                    best.insert(candidate);
                }
            }
        }
    }
    groups
}

/// Adds one cluster per group of Services, unless a FlinkDeployment took its id.
fn add_services(groups: BTreeMap<SamePods<'_>, Candidate<'_>>, out: &mut Desired) {
    for candidate in groups.into_values() {
        let id = cluster_id(candidate.namespace, candidate.name);
        if out.clusters.contains_key(&id) {
            out.skipped.push(Skipped {
                kind: SERVICE_KIND,
                namespace: candidate.namespace.to_string(),
                name: candidate.name.to_string(),
                uid: candidate.owner.as_ref().map(|o| o.uid.clone()),
                reason: SkipReason::IdTaken { id },
            });
            continue;
        }
        let info = discovered(
            candidate.namespace,
            candidate.name,
            ClusterSource::Service,
            candidate.url,
            candidate.owner,
        );
        out.clusters.insert(id, info);
    }
}

/// None: not a Flink JobManager REST Service. Some(Err): one, but unusable.
fn service_candidate(
    service: &Service,
    options: MappingOptions,
) -> Option<Result<Candidate<'_>, Skipped>> {
    let flavor = flavor(service)?;
    let namespace = service.metadata.namespace.as_deref()?;
    let name = service.metadata.name.as_deref()?;
    let selector = service.spec.as_ref()?.selector.as_ref()?;
    let skipped = |reason| Skipped {
        kind: SERVICE_KIND,
        namespace: namespace.to_string(),
        name: name.to_string(),
        uid: service.metadata.uid.clone(),
        reason,
    };
    let (choice, url) = match annotated_url(&service.metadata, options) {
        Some(Ok(url)) => (Choice::Annotation, url),
        Some(Err(reason)) => return Some(Err(skipped(reason))),
        None => {
            // No REST port, e.g. Flink's internal headless `<cluster-id>` Service with only
            // the rpc and blob ports: not a way to the REST API.
            let (choice, port) = rest_port(service, flavor, name)?;
            match service_url("http", name, namespace, port) {
                Ok(url) => (choice, url),
                Err(reason) => return Some(Err(skipped(reason))),
            }
        }
    };
    Some(Ok(Candidate {
        namespace,
        name,
        selector,
        choice,
        url,
        owner: owner(&service.metadata, "v1", SERVICE_KIND),
    }))
}

fn rest_port(service: &Service, flavor: Flavor, name: &str) -> Option<(Choice, u16)> {
    let spec = service.spec.as_ref()?;
    let ports = spec.ports.as_deref().unwrap_or_default();
    // A headless Service has no virtual IP to translate ports: its DNS name resolves to the
    // pods, which listen on the target port.
    let headless = spec.cluster_ip.as_deref() == Some("None");
    let number = |port: &ServicePort| {
        let number = match (&port.target_port, headless) {
            (Some(IntOrString::Int(target)), true) => *target,
            _ => port.port,
        };
        u16::try_from(number).ok().filter(|n| *n != 0)
    };
    let named = |wanted: &str| {
        ports
            .iter()
            .find(|p| p.name.as_deref() == Some(wanted))
            .and_then(number)
    };
    let only = (flavor == Flavor::Flink && ports.len() == 1 && name.ends_with("-rest"))
        .then(|| ports.first().and_then(number))
        .flatten();
    named("rest")
        .map(|n| (Choice::RestPort, n))
        .or_else(|| named("webui").map(|n| (Choice::WebUiPort, n)))
        .or_else(|| {
            ports
                .iter()
                .find(|p| p.port == i32::from(DEFAULT_REST_PORT))
                .and_then(number)
                .map(|n| (Choice::DefaultPort, n))
        })
        .or_else(|| only.map(|n| (Choice::OnlyPort, n)))
}

/// The operator reaches a FlinkDeployment at `<name>-rest.<namespace>:<rest.port>`.
fn deployment_url(
    deployment: &FlinkDeployment,
    namespace: &str,
    name: &str,
    options: MappingOptions,
) -> Result<Url, SkipReason> {
    if let Some(annotated) = annotated_url(&deployment.metadata, options) {
        return annotated;
    }
    let port = match deployment.config("rest.port") {
        None => DEFAULT_REST_PORT,
        Some(value) => port_value(value).ok_or_else(|| SkipReason::InvalidRestPort {
            value: value.to_string(),
        })?,
    };
    let tls = deployment
        .config("security.ssl.rest.enabled")
        .is_some_and(is_true);
    let scheme = if tls { "https" } else { "http" };
    service_url(scheme, &format!("{name}-rest"), namespace, port)
}

fn annotated_url(meta: &ObjectMeta, options: MappingOptions) -> Option<Result<Url, SkipReason>> {
    if options.ignore_rest_url_annotation {
        return None;
    }
    let value = meta.annotations.as_ref()?.get(REST_URL_ANNOTATION)?;
    Some(parse_rest_url(value))
}

fn service_url(scheme: &str, service: &str, namespace: &str, port: u16) -> Result<Url, SkipReason> {
    let url = format!("{scheme}://{service}.{namespace}.svc:{port}");
    Url::parse(&url).map_err(|e| SkipReason::BuildUrl {
        url,
        reason: e.to_string(),
    })
}

fn owner(meta: &ObjectMeta, api_version: &str, kind: &str) -> Option<OwnerRef> {
    Some(OwnerRef {
        api_version: api_version.to_string(),
        kind: kind.to_string(),
        name: meta.name.clone()?,
        uid: meta.uid.clone()?,
    })
}

fn port_value(value: &Value) -> Option<u16> {
    let number = match value {
        Value::Number(n) => u16::try_from(n.as_u64()?).ok()?,
        Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    (number != 0).then_some(number)
}

fn is_true(value: &Value) -> bool {
    match value {
        Value::Bool(b) => *b,
        Value::String(s) => s.trim().eq_ignore_ascii_case("true"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::fixtures::{
        NATIVE_SESSION, OPERATOR_BASIC, OPERATOR_REST_PORT, OTHER_SERVICES, Objects,
        STANDALONE_SESSION,
    };
    use k8s_openapi::api::core::v1::ServicePort;
    use serde_json::{Value, json};

    fn map(objects: &Objects) -> Desired {
        desired(&objects.services, &objects.deployments)
    }

    fn ids(desired: &Desired) -> Vec<&str> {
        desired.clusters.keys().map(String::as_str).collect()
    }

    fn url(desired: &Desired, id: &str) -> String {
        desired.clusters[id].url.to_string()
    }

    /// The standalone session and the operator's basic example, with the rest-url annotation
    /// on the Service `service` and on the FlinkDeployment.
    fn annotated(service: &str, service_url: &str, deployment_url: &str) -> Objects {
        let mut objects = Objects::load(&[STANDALONE_SESSION, OPERATOR_BASIC]);
        objects.annotated_service(service, service_url);
        objects.annotated_deployment("basic-example", deployment_url);
        objects
    }

    /// Every cluster as (id, URL), by id.
    fn urls(desired: &Desired) -> Vec<(&str, &str)> {
        let urls = desired.clusters.iter();
        urls.map(|(id, info)| (id.as_str(), info.url.as_str()))
            .collect()
    }

    /// `desired` is one cluster, `name` in namespace `flink`, found at `url` and owned by
    /// `owner`, and skips nothing. Field by field, not through `discovered`, which it checks.
    #[track_caller]
    fn assert_only_cluster(
        desired: &Desired,
        name: &str,
        source: ClusterSource,
        url: &str,
        owner: Option<OwnerRef>,
    ) {
        let id = format!("flink.{name}");
        assert_eq!(ids(desired), [id.as_str()]);
        let info = &desired.clusters[&id];
        assert_eq!(
            (info.namespace.as_deref(), info.name.as_str()),
            (Some("flink"), name)
        );
        assert_eq!(info.source, source);
        assert_eq!(info.url, Url::parse(url).unwrap());
        assert_eq!(info.owner, owner);
        assert!(desired.skipped.is_empty(), "{:?}", desired.skipped);
    }

    /// The owner reference of an object in the fixtures, with the API version of its kind.
    fn owned_by(kind: &str, name: &str, uid: &str) -> Option<OwnerRef> {
        let api_version = match kind {
            "Service" => "v1",
            _ => "flink.apache.org/v1beta1",
        };
        Some(OwnerRef {
            api_version: api_version.into(),
            kind: kind.into(),
            name: name.into(),
            uid: uid.into(),
        })
    }

    #[test]
    fn native_session_is_one_cluster_at_its_rest_service() {
        let name = "my-first-flink-cluster-rest";
        let service = owned_by("Service", name, "0f6c2d9a-3b7e-4e51-8c2a-91d4b7e0a301");
        let url = "http://my-first-flink-cluster-rest.flink.svc:8081";
        let desired = map(&Objects::load(&[NATIVE_SESSION]));
        assert_only_cluster(&desired, name, ClusterSource::Service, url, service);
    }

    #[test]
    fn the_internal_headless_service_alone_is_not_a_cluster() {
        let objects =
            Objects::load(&[NATIVE_SESSION]).without_service("my-first-flink-cluster-rest");
        assert!(selects_jobmanagers(&objects.services[0]));
        assert_eq!(map(&objects), Desired::default());
    }

    #[test]
    fn both_standalone_services_are_one_cluster_preferring_the_rest_port() {
        let both = Objects::load(&[STANDALONE_SESSION]);
        let desired = map(&both);
        assert_eq!(
            urls(&desired),
            [(
                "analytics.flink-jobmanager-rest",
                "http://flink-jobmanager-rest.analytics.svc:8081/"
            )]
        );
        assert_eq!(
            desired.clusters["analytics.flink-jobmanager-rest"]
                .owner
                .as_ref()
                .unwrap()
                .uid,
            "9e2f4a6b-1c3d-4e58-b7a9-0d2c4e6f8a19"
        );

        // Each one alone: the ClusterIP Service through its `webui` port, the NodePort one.
        let internal = map(&both.clone().without_service("flink-jobmanager-rest"));
        assert_eq!(
            urls(&internal),
            [(
                "analytics.flink-jobmanager",
                "http://flink-jobmanager.analytics.svc:8081/"
            )]
        );
        let rest = map(&both.without_service("flink-jobmanager"));
        assert_eq!(ids(&rest), ["analytics.flink-jobmanager-rest"]);
    }

    #[test]
    fn older_manifests_are_reached_through_port_8081() {
        // Flink 1.9's manifests named the port `ui`.
        let mut objects =
            Objects::load(&[STANDALONE_SESSION]).without_service("flink-jobmanager-rest");
        let ports = objects.ports("flink-jobmanager");
        ports[1].name = Some("blob".into());
        ports[2].name = Some("ui".into());
        let desired = map(&objects);
        assert_eq!(
            url(&desired, "analytics.flink-jobmanager"),
            "http://flink-jobmanager.analytics.svc:8081/"
        );

        // Without a rest/webui name nor 8081 there is no REST port to use.
        objects.ports("flink-jobmanager")[2].port = 8080;
        assert_eq!(map(&objects), Desired::default());
    }

    #[test]
    fn webui_wins_over_a_bare_8081_and_ties_go_to_the_first_name() {
        // A bare 8081 loses to a `webui` port; two `rest` ports tie and the first name wins.
        for (service, port, name) in [
            ("flink-jobmanager-rest", 0, "http"),
            ("flink-jobmanager", 2, "rest"),
        ] {
            let mut objects = Objects::load(&[STANDALONE_SESSION]);
            objects.ports(service)[port].name = Some(name.into());
            assert_eq!(
                ids(&map(&objects)),
                ["analytics.flink-jobmanager"],
                "{service}"
            );
        }
    }

    #[test]
    fn a_flinkdeployment_supersedes_the_rest_service_flink_made_for_it() {
        let name = "basic-example";
        let deployment = owned_by(
            "FlinkDeployment",
            name,
            "c4a7e2b9-5d1f-4c83-9e6a-2b8d0f4a1c55",
        );
        let url = "http://basic-example-rest.flink.svc:8081";
        let desired = map(&Objects::load(&[OPERATOR_BASIC]));
        assert_only_cluster(
            &desired,
            name,
            ClusterSource::FlinkDeployment,
            url,
            deployment,
        );

        // Before the operator has created the Services, and after they are gone, the same.
        let mut alone = Objects::load(&[OPERATOR_BASIC]);
        alone.services.clear();
        assert_eq!(map(&alone), desired);
    }

    #[test]
    fn rest_port_comes_from_the_flink_configuration() {
        let objects = Objects::load(&[OPERATOR_REST_PORT]);
        let configured = |configuration: Option<Value>| {
            let mut objects = objects.clone();
            if let Some(configuration) = configuration {
                *objects.flink_configuration("session-8082") = Some(configuration);
            }
            map(&objects)
        };
        for (configuration, expected) in [
            // As the fixture has it: a flat map of strings, `rest.port: "8082"`.
            (None, "http://session-8082-rest.flink.svc:8082/"),
            // Operator 1.13+ also takes structured YAML: `rest: {port: 8083}`, numbers unquoted.
            (
                Some(json!({"rest": {"port": 8083}, "taskmanager.numberOfTaskSlots": 2})),
                "http://session-8082-rest.flink.svc:8083/",
            ),
            // REST over TLS.
            (
                Some(json!({"rest.port": "8443", "security.ssl.rest.enabled": "true"})),
                "https://session-8082-rest.flink.svc:8443/",
            ),
        ] {
            let desired = configured(configuration);
            assert_eq!(urls(&desired), [("flink.session-8082", expected)]);
            assert!(desired.skipped.is_empty());
        }

        // A port Flink itself would refuse: skipped, with the reason.
        let desired = configured(Some(json!({"rest.port": "eighty"})));
        assert_eq!(ids(&desired), Vec::<&str>::new());
        assert_eq!(desired.skipped.len(), 1);
        assert_eq!(desired.skipped[0].kind, "FlinkDeployment");
        assert_eq!(desired.skipped[0].name, "session-8082");
        assert!(
            desired.skipped[0]
                .reason
                .to_string()
                .contains("rest.port \"eighty\""),
            "{}",
            desired.skipped[0].reason
        );
    }

    #[test]
    fn the_annotation_overrides_the_url() {
        let desired = map(&annotated(
            "flink-jobmanager",
            "https://flink.example.com/analytics/",
            " http://basic-example-rest.flink:9999 ",
        ));
        // The annotated Service is the one the user chose, even over a port named `rest`.
        assert_eq!(
            urls(&desired),
            [
                (
                    "analytics.flink-jobmanager",
                    "https://flink.example.com/analytics/"
                ),
                (
                    "flink.basic-example",
                    "http://basic-example-rest.flink:9999/"
                ),
            ]
        );
        assert!(desired.skipped.is_empty());
    }

    #[test]
    fn an_invalid_annotation_skips_the_object_and_says_which() {
        let desired = map(&annotated(
            "flink-jobmanager-rest",
            "flink-jobmanager-rest:8081",
            "not a url",
        ));
        // The other standalone Service still stands for the cluster; the FlinkDeployment's
        // own rest Service does not come back in its place.
        assert_eq!(ids(&desired), ["analytics.flink-jobmanager"]);
        let skipped: Vec<(&str, &str, &str)> = desired
            .skipped
            .iter()
            .map(|s| (s.kind, s.namespace.as_str(), s.name.as_str()))
            .collect();
        assert_eq!(
            skipped,
            [
                ("FlinkDeployment", "flink", "basic-example"),
                ("Service", "analytics", "flink-jobmanager-rest"),
            ]
        );
        assert!(matches!(
            desired.skipped[0].reason,
            SkipReason::InvalidRestUrl { .. }
        ));
        // `host:port` parses as a URL with the scheme `flink-jobmanager-rest`.
        assert_eq!(
            desired.skipped[1].reason,
            SkipReason::UnsupportedRestUrl {
                value: "flink-jobmanager-rest:8081".into()
            }
        );
        assert!(
            desired.skipped[1]
                .reason
                .to_string()
                .contains(REST_URL_ANNOTATION)
        );
    }

    #[test]
    fn rest_urls_are_validated() {
        assert!(parse_rest_url("http://jm:8081").is_ok());
        assert!(parse_rest_url("https://gateway/flink/team-a/").is_ok());
        for bad in [
            "",
            "jm:8081",
            "ftp://jm",
            "file:///tmp/x",
            "http://",
            "unix:/var/run/x",
        ] {
            assert!(parse_rest_url(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn services_of_other_things_are_ignored() {
        let objects = Objects::load(&[OTHER_SERVICES]);
        assert!(objects.services.iter().all(|s| !selects_jobmanagers(s)));
        assert_eq!(map(&objects), Desired::default());

        // Even annotated: discovery only looks at Flink JobManager Services.
        let mut annotated = objects;
        annotated.annotated_service("schema-registry", "http://schema-registry:8081");
        assert_eq!(map(&annotated), Desired::default());
    }

    #[test]
    fn everything_together() {
        let objects = Objects::load(&[
            NATIVE_SESSION,
            STANDALONE_SESSION,
            OPERATOR_BASIC,
            OPERATOR_REST_PORT,
            OTHER_SERVICES,
        ]);
        let desired = map(&objects);
        assert_eq!(
            ids(&desired),
            [
                "analytics.flink-jobmanager-rest",
                "flink.basic-example",
                "flink.my-first-flink-cluster-rest",
                "flink.session-8082",
            ]
        );
        assert!(desired.skipped.is_empty());

        // The order objects arrive in does not matter.
        let mut reversed = objects;
        reversed.services.reverse();
        reversed.deployments.reverse();
        assert_eq!(map(&reversed), desired);
    }

    #[test]
    fn namespaces_keep_clusters_apart() {
        let objects = Objects::load(&[STANDALONE_SESSION])
            .in_namespace("team-a")
            .and(Objects::load(&[STANDALONE_SESSION]).in_namespace("team-b"))
            // A FlinkDeployment supersedes only the rest Service of its own namespace.
            .and(Objects::load(&[OPERATOR_BASIC]).in_namespace("team-a"))
            .and(
                Objects::load(&[OPERATOR_BASIC])
                    .in_namespace("team-b")
                    .without_service("basic-example"),
            );
        let mut objects = objects;
        objects
            .deployments
            .retain(|d| d.metadata.namespace.as_deref() == Some("team-a"));
        let desired = map(&objects);
        assert_eq!(
            ids(&desired),
            [
                "team-a.basic-example",
                "team-a.flink-jobmanager-rest",
                "team-b.basic-example-rest",
                "team-b.flink-jobmanager-rest",
            ]
        );
        assert_eq!(
            url(&desired, "team-b.flink-jobmanager-rest"),
            "http://flink-jobmanager-rest.team-b.svc:8081/"
        );
        assert_eq!(
            desired.clusters["team-b.basic-example-rest"]
                .namespace
                .as_deref(),
            Some("team-b")
        );
    }

    #[test]
    fn a_headless_rest_service_is_reached_on_the_target_port() {
        // kubernetes.rest-service.exposed.type: Headless_ClusterIP, rest.bind-port 8088.
        let mut objects =
            Objects::load(&[NATIVE_SESSION]).without_service("my-first-flink-cluster");
        let spec = objects
            .service("my-first-flink-cluster-rest")
            .spec
            .as_mut()
            .unwrap();
        spec.cluster_ip = Some("None".into());
        spec.ports.as_mut().unwrap()[0].target_port = Some(IntOrString::Int(8088));
        assert_eq!(
            url(&map(&objects), "flink.my-first-flink-cluster-rest"),
            "http://my-first-flink-cluster-rest.flink.svc:8088/"
        );
    }

    #[test]
    fn flinks_rest_service_with_a_renamed_port_is_still_found() {
        // Flink may let users rename the one port of `<cluster-id>-rest` (FLINK-37893).
        let mut objects = Objects::load(&[NATIVE_SESSION]);
        *objects.ports("my-first-flink-cluster-rest") = vec![ServicePort {
            name: Some("http-rest".into()),
            port: 8000,
            ..Default::default()
        }];
        assert_eq!(
            url(&map(&objects), "flink.my-first-flink-cluster-rest"),
            "http://my-first-flink-cluster-rest.flink.svc:8000/"
        );
    }

    #[test]
    fn a_service_named_like_a_flinkdeployment_yields_to_it() {
        let mut objects = Objects::load(&[OPERATOR_BASIC, STANDALONE_SESSION])
            .in_namespace("flink")
            .without_service("basic-example");
        objects.service("flink-jobmanager-rest").metadata.name = Some("basic-example".into());
        let desired = map(&objects);
        assert_eq!(ids(&desired), ["flink.basic-example"]);
        assert_eq!(
            desired.clusters["flink.basic-example"].source,
            ClusterSource::FlinkDeployment
        );
        assert_eq!(desired.skipped.len(), 1);
        assert_eq!(
            desired.skipped[0].reason,
            SkipReason::IdTaken {
                id: "flink.basic-example".into()
            }
        );
    }

    #[test]
    fn objects_without_a_uid_have_no_owner() {
        let mut objects = Objects::load(&[NATIVE_SESSION]);
        objects.service("my-first-flink-cluster-rest").metadata.uid = None;
        assert_eq!(
            map(&objects).clusters["flink.my-first-flink-cluster-rest"].owner,
            None
        );
    }

    #[test]
    fn a_rest_url_with_a_query_a_fragment_or_credentials_is_refused() {
        let refused = |value: &str| match parse_rest_url(value) {
            Err(SkipReason::RefusedRestUrl { value, problem }) => (value, problem),
            other => panic!("{value}: {other:?}"),
        };
        assert_eq!(
            refused("http://jm:8081/?x=1#frag"),
            ("http://jm:8081/?x=1#frag".into(), RestUrlProblem::Query)
        );
        assert_eq!(
            refused("http://jm:8081/flink#frag").1,
            RestUrlProblem::Fragment
        );
        assert_eq!(refused("http://jm:8081/?").1, RestUrlProblem::Query);
        // The password is never repeated: not in the value, not in the message.
        let (value, problem) = refused("https://admin:pw-s3cret@gateway/flink/");
        assert_eq!(problem, RestUrlProblem::Credentials);
        assert_eq!(value, "https://gateway/flink/");
        let message = parse_rest_url("https://admin:pw-s3cret@gateway/flink/?a=b")
            .unwrap_err()
            .to_string();
        assert!(message.contains(REST_URL_ANNOTATION), "{message}");
        assert!(message.contains("credentials"), "{message}");
        assert!(
            !message.contains("pw-s3cret") && !message.contains("admin"),
            "{message}"
        );
        // Nor when the value is not even a URL.
        let message = parse_rest_url("http://admin:pw-s3cret@bad host/")
            .unwrap_err()
            .to_string();
        assert!(!message.contains("pw-s3cret"), "{message}");
        assert!(
            message.contains("<credentials removed>@bad host/"),
            "{message}"
        );
    }

    #[test]
    fn a_refused_annotation_skips_the_object_with_a_reason_for_its_event() {
        let mut objects = Objects::load(&[STANDALONE_SESSION]);
        objects.annotated_service(
            "flink-jobmanager-rest",
            "http://flink-jobmanager-rest:8081/?x=1#frag",
        );
        let desired = map(&objects);
        assert_eq!(desired.skipped.len(), 1, "{:?}", desired.skipped);
        let skipped = &desired.skipped[0];
        assert_eq!(skipped.name, "flink-jobmanager-rest");
        assert_eq!(skipped.reason.event_reason(), "InvalidRestUrl");
        assert_eq!(
            skipped.uid,
            objects.service("flink-jobmanager-rest").metadata.uid
        );
    }

    #[test]
    fn the_annotation_can_be_ignored() {
        let objects = annotated(
            "flink-jobmanager",
            "https://elsewhere.example.com/",
            "http://admin:pw@elsewhere.example.com/?x",
        );
        let ignoring = MappingOptions {
            ignore_rest_url_annotation: true,
        };
        let desired = desired_with(&objects.services, &objects.deployments, ignoring);
        assert!(desired.skipped.is_empty(), "{:?}", desired.skipped);
        for cluster in desired.clusters.values() {
            assert!(
                cluster.url.as_str().ends_with(".svc:8081/"),
                "{}: {}",
                cluster.id,
                cluster.url
            );
        }
        assert_eq!(desired.clusters.len(), 2, "{:?}", desired.clusters.keys());
    }
}
