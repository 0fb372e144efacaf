//! The watchers: Services and FlinkDeployments in, registry changes out.

use std::collections::BTreeSet;
use std::sync::Arc;

use futures::stream::{self, BoxStream, SelectAll};
use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::{Service, ServiceSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::runtime::watcher::{self, Event};
use kube::runtime::{WatchStreamExt, watcher as watch_resource};
use kube::{Api, Client};
use tokio_util::sync::CancellationToken;

use crate::clusters::{ClusterInfo, KnownClusters};
use crate::controller::{WatchBackoff, WriteGate};

use super::DiscoveryConfig;
use super::apply::{self, Changes};
use super::events::SkipEvents;
use super::flinkdeployment::FlinkDeployment;
use super::mapping::{self, MappingOptions, Skipped};
use super::store::SeenObjects;

/// Events handled before the registry is brought up to date: a relist of a thousand
/// objects is one update, not a thousand.
const BATCH: usize = 512;

/// One event, or error, of one watcher; the index says which watcher. Boxed: a batch
/// holds hundreds of them, and a Service is large.
#[derive(Debug)]
pub(crate) enum Update {
    Services(usize, Box<Result<Event<Service>, watcher::Error>>),
    Deployments(usize, Box<Result<Event<FlinkDeployment>, watcher::Error>>),
}

impl Update {
    pub(crate) fn services(index: usize, result: Result<Event<Service>, watcher::Error>) -> Self {
        Self::Services(index, Box::new(result))
    }

    pub(crate) fn deployments(
        index: usize,
        result: Result<Event<FlinkDeployment>, watcher::Error>,
    ) -> Self {
        Self::Deployments(index, Box::new(result))
    }
}

struct Watch<K> {
    /// None: all namespaces.
    namespace: Option<String>,
    store: SeenObjects<K>,
}

impl<K> Watch<K> {
    fn new(namespace: Option<String>) -> Self {
        Self {
            namespace,
            store: SeenObjects::default(),
        }
    }

    fn namespace(&self) -> &str {
        self.namespace.as_deref().unwrap_or("*")
    }
}

impl<K: kube::Resource> Watch<K> {
    /// Applies one event or error of this watcher, keeping the objects `keep` accepts, and
    /// marks `dirty` when the objects in view changed. `Ok(true)`: a list just ended.
    fn update(
        &mut self,
        result: Result<Event<K>, watcher::Error>,
        keep: impl Fn(&K) -> bool,
        dirty: &mut bool,
    ) -> Result<bool, watcher::Error> {
        match result {
            Ok(event) => {
                let listed = matches!(event, Event::InitDone);
                *dirty |= self.store.apply(event, keep);
                Ok(listed)
            }
            Err(error) => {
                self.store.fail();
                Err(error)
            }
        }
    }
}

/// Everything discovery knows, fed by [`Update`]s; says what to change in the registry.
pub(crate) struct Discovery {
    services: Vec<Watch<Service>>,
    deployments: Vec<Watch<FlinkDeployment>>,
    /// The objects in view changed since the registry was last brought up to date.
    dirty: bool,
    crd_missing: bool,
    /// Skipped objects already warned about, so a bad annotation is logged once.
    warned: BTreeSet<String>,
    /// Skipped objects newly warned about, for Warning Events on them.
    reports: Vec<Skipped>,
    options: MappingOptions,
}

impl Discovery {
    /// One Service and one FlinkDeployment watcher per namespace.
    pub(crate) fn new(namespaces: &[Option<String>]) -> Self {
        Self {
            services: namespaces.iter().cloned().map(Watch::new).collect(),
            deployments: namespaces.iter().cloned().map(Watch::new).collect(),
            dirty: false,
            crd_missing: false,
            warned: BTreeSet::new(),
            reports: Vec::new(),
            options: MappingOptions::default(),
        }
    }

    pub(crate) fn with_options(mut self, options: MappingOptions) -> Self {
        self.options = options;
        self
    }

    /// The skipped objects warned about since the last call, each once while it stays
    /// skipped for the same reason.
    pub(crate) fn take_reports(&mut self) -> Vec<Skipped> {
        std::mem::take(&mut self.reports)
    }

    pub(crate) fn handle(&mut self, update: Update) {
        match update {
            Update::Services(index, result) => {
                let Some(watch) = self.services.get_mut(index) else {
                    return;
                };
                match watch.update(*result, mapping::selects_jobmanagers, &mut self.dirty) {
                    Ok(false) => {}
                    Ok(true) => tracing::debug!(
                        kind = "Service",
                        namespace = watch.namespace(),
                        jobmanager_services = watch.store.len(),
                        "listed"
                    ),
                    Err(error) => warn_failed("Service", watch.namespace(), &error),
                }
            }
            Update::Deployments(index, result) => {
                let Some(watch) = self.deployments.get_mut(index) else {
                    return;
                };
                match watch.update(*result, |_| true, &mut self.dirty) {
                    Ok(false) => {}
                    Ok(true) => {
                        if std::mem::take(&mut self.crd_missing) {
                            tracing::info!(
                                "FlinkDeployment CRD found; discovering FlinkDeployments"
                            );
                        }
                        tracing::debug!(
                            kind = "FlinkDeployment",
                            namespace = watch.namespace(),
                            flinkdeployments = watch.store.len(),
                            "listed"
                        );
                    }
                    Err(error) if is_not_found(&error) => {
                        // The CRD is gone, or never was: so are its objects.
                        self.dirty |= watch.store.clear();
                        if !std::mem::replace(&mut self.crd_missing, true) {
                            tracing::info!(
                                "FlinkDeployment CRD not installed; discovering Services only, \
                                 and FlinkDeployments once the CRD is installed"
                            );
                        }
                    }
                    Err(error) => warn_failed("FlinkDeployment", watch.namespace(), &error),
                }
            }
        }
    }

    /// Every watcher has listed once or failed trying. Until then the registry is left
    /// alone: a FlinkDeployment listed after its rest Service would otherwise show up
    /// first as the Service, then move.
    pub(crate) fn settled(&self) -> bool {
        self.services.iter().all(|w| w.store.settled())
            && self.deployments.iter().all(|w| w.store.settled())
    }

    /// Every watcher has listed successfully, a FlinkDeployment watcher whose CRD is not
    /// installed counting as an empty list: what the registry holds now is the truth, and
    /// a cluster missing from it is really missing.
    pub(crate) fn listed(&self) -> bool {
        self.services.iter().all(|w| w.store.listed())
            && (self.crd_missing || self.deployments.iter().all(|w| w.store.listed()))
    }

    /// The view changed since the registry was last brought up to date, and every watcher
    /// has settled.
    pub(crate) fn pending(&self) -> bool {
        self.dirty && self.settled()
    }

    /// What to change in a registry holding `current`, when [`Self::pending`].
    pub(crate) fn changes<'a>(
        &mut self,
        current: impl IntoIterator<Item = &'a ClusterInfo>,
    ) -> Option<Changes> {
        if !self.pending() {
            return None;
        }
        self.dirty = false;
        let desired = mapping::desired_with(
            self.services.iter().flat_map(|w| w.store.objects()),
            self.deployments.iter().flat_map(|w| w.store.objects()),
            self.options,
        );
        self.warn_skipped(&desired.skipped);
        Some(apply::changes(current, &desired.clusters))
    }

    fn warn_skipped(&mut self, skipped: &[Skipped]) {
        let mut now = BTreeSet::new();
        for s in skipped {
            let key = format!("{}/{}/{}: {}", s.kind, s.namespace, s.name, s.reason);
            if !self.warned.contains(&key) {
                tracing::warn!(
                    kind = s.kind,
                    namespace = %s.namespace,
                    name = %s.name,
                    reason = %s.reason,
                    "skipping a Flink cluster"
                );
                self.reports.push(s.clone());
            }
            now.insert(key);
        }
        self.warned = now;
    }
}

/// The API server's answer, when the watcher failed with one.
fn api_status(error: &watcher::Error) -> Option<&kube::core::Status> {
    match error {
        watcher::Error::InitialListFailed(kube::Error::Api(status))
        | watcher::Error::WatchStartFailed(kube::Error::Api(status))
        | watcher::Error::WatchFailed(kube::Error::Api(status))
        | watcher::Error::WatchError(status) => Some(status),
        _ => None,
    }
}

fn is_not_found(error: &watcher::Error) -> bool {
    api_status(error).is_some_and(|status| status.is_not_found())
}

fn is_forbidden(error: &watcher::Error) -> bool {
    api_status(error).is_some_and(|status| status.is_forbidden())
}

fn warn_failed(kind: &'static str, namespace: &str, error: &watcher::Error) {
    if is_forbidden(error) {
        tracing::warn!(
            kind,
            namespace,
            error = %error,
            "discovery may not list or watch this kind here; check the RBAC rules (discovery::REQUIRED_RBAC); retrying"
        );
    } else {
        tracing::warn!(kind, namespace, error = %error, "discovery watch failed; retrying");
    }
}

/// The namespaces to watch, each once; `[None]` for all.
pub(crate) fn scopes(config: &DiscoveryConfig) -> Vec<Option<String>> {
    let namespaces: BTreeSet<&str> = config
        .namespaces
        .iter()
        .map(|n| n.trim())
        .filter(|n| !n.is_empty())
        .collect();
    if namespaces.is_empty() {
        vec![None]
    } else {
        namespaces
            .into_iter()
            .map(|n| Some(n.to_string()))
            .collect()
    }
}

/// All watchers as one stream, each retrying with kube's default backoff.
fn updates(
    client: &Client,
    scopes: &[Option<String>],
    service_selector: Option<&str>,
) -> SelectAll<BoxStream<'static, Update>> {
    // `any_semantic`: lists come from the API server's watch cache, not etcd.
    let mut services = watcher::Config::default().any_semantic();
    if let Some(selector) = service_selector {
        services = services.labels(selector);
    }
    let deployments = watcher::Config::default().any_semantic();

    let mut all = Vec::new();
    for (index, namespace) in scopes.iter().enumerate() {
        let service_api: Api<Service> = scoped(client, namespace.as_deref());
        let deployment_api: Api<FlinkDeployment> = scoped(client, namespace.as_deref());
        all.push(
            watch(service_api, services.clone(), trim_service)
                .map(move |r| Update::services(index, r))
                .boxed(),
        );
        all.push(
            watch(deployment_api, deployments.clone(), trim_deployment)
                .map(move |r| Update::deployments(index, r))
                .boxed(),
        );
    }
    stream::select_all(all)
}

fn scoped<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        Some(namespace) => Api::namespaced(client.clone(), namespace),
        None => Api::all(client.clone()),
    }
}

fn watch<K>(
    api: Api<K>,
    config: watcher::Config,
    trim: fn(&mut K),
) -> impl Stream<Item = Result<Event<K>, watcher::Error>> + Send + 'static
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + 'static,
{
    watch_resource(api, config)
        .backoff(WatchBackoff::default())
        .map(move |r| r.map(|event| event.modify(trim)))
}

/// Cluster-wide Service watches hold many objects: drop what discovery never reads.
fn trim_metadata(meta: &mut ObjectMeta) {
    meta.managed_fields = None;
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
}

/// Keeps of a Service what mapping reads: its names, uid and annotations, and of its spec
/// the pod selector, the ports and whether it is headless (not the cluster IPs, IP
/// families, policies, ...); labels are matched by the API server (`--service-selector`).
fn trim_service(service: &mut Service) {
    trim_metadata(&mut service.metadata);
    service.metadata.labels = None;
    service.status = None;
    if let Some(spec) = service.spec.take() {
        service.spec = Some(ServiceSpec {
            selector: spec.selector,
            ports: spec.ports,
            cluster_ip: spec.cluster_ip,
            ..ServiceSpec::default()
        });
    }
}

fn trim_deployment(deployment: &mut FlinkDeployment) {
    trim_metadata(&mut deployment.metadata);
}

/// Watches until `shutdown`, keeping the registry's discovered clusters in step.
pub async fn run(
    client: Client,
    registry: Arc<KnownClusters>,
    config: DiscoveryConfig,
    gate: WriteGate,
    shutdown: CancellationToken,
) {
    let scopes = scopes(&config);
    tracing::info!(
        namespaces = ?scopes.iter().map(|s| s.as_deref().unwrap_or("*")).collect::<Vec<_>>(),
        service_selector = config.service_selector.as_deref().unwrap_or(""),
        ignore_rest_url_annotation = config.ignore_rest_url_annotation,
        "discovering Flink clusters"
    );
    let mut discovery = Discovery::new(&scopes).with_options(MappingOptions {
        ignore_rest_url_annotation: config.ignore_rest_url_annotation,
    });
    let events = SkipEvents::new(client.clone(), gate, config.instance.clone());
    let mut batches =
        updates(&client, &scopes, config.service_selector.as_deref()).ready_chunks(BATCH);
    loop {
        let batch = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            batch = batches.next() => batch,
        };
        // Watchers retry forever; the stream ends only if there are none.
        let Some(batch) = batch else { break };
        for update in batch {
            discovery.handle(update);
        }
        if discovery.pending() {
            let current: Vec<ClusterInfo> =
                registry.list().iter().map(|c| c.info().clone()).collect();
            if let Some(changes) = discovery.changes(&current) {
                apply::apply(&registry, &changes);
            }
            events.publish(discovery.take_reports());
        }
        if !registry.discovered() && !discovery.pending() && discovery.listed() {
            tracing::info!(
                clusters = registry.list().len(),
                "discovery listed every watched namespace"
            );
            registry.mark_discovered();
        }
    }
    tracing::debug!("discovery stopped");
}

#[cfg(test)]
#[path = "watch_tests.rs"]
mod tests;
