//! End-to-end tests of `flink-monitor run` against a real Kubernetes cluster and a real
//! Flink. They are `#[ignore]`d, because they need a cluster (`KUBECONFIG`, with the right
//! to create namespaces and CRDs), Java 17 and Python; run them by hand (see `docs/e2e.md`):
//!
//! ```text
//! KUBECONFIG=~/.kube/config cargo test --test kubernetes_e2e -- --ignored --test-threads=1
//! ```
//!
//! Every test
//! 1. server-side applies the FlinkJob CRD of this build and waits until it is Established;
//! 2. starts its own Flink session cluster with `scripts/local-flink.sh` on a leased port
//!    (`support/local_flink.rs`, shared with the real-Flink tests), so that two runs at once
//!    never share one;
//! 3. creates a temporary namespace `fm-e2e-<scenario>-<random>` (labelled
//!    `flinkmonitor.dev/e2e=true`) holding a Service that selects `app=flink,
//!    component=jobmanager` and sends flink-monitor to the local Flink with the
//!    `flinkmonitor.dev/rest-url` annotation (no pods: discovery reads only the Service);
//! 4. runs the real binary on this host, outside the cluster: `flink-monitor run
//!    --kubernetes on --namespaces <ns> --listen 127.0.0.1:<free port> --poll-interval 1s`.
//!
//! Guards undo it all in reverse order when the test ends, passed or failed: the monitor is
//! stopped, Flink is stopped, the namespace is deleted with everything in it. The monitor and
//! Flink are also stopped if the test process is killed (they watch a pipe from it); a
//! namespace left by a killed run is found with `kubectl get ns -l flinkmonitor.dev/e2e=true`.
//!
//! Waits poll with a deadline and fail with what they saw last (the object as YAML, or the
//! answer of `/clusters`), the tail of the monitor's log and where Flink's logs are.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Service, ServicePort, ServiceSpec};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Client, CustomResourceExt, ResourceExt};
use serde::Serialize;
use serde_json::Value;

use flink_monitor::controller::mirror::mirror_name as expected_mirror_name;
use flink_monitor::crd::{FIELD_MANAGER, FlinkJob, FlinkJobSpec, MIRRORED_LABEL};
use flink_monitor::discovery::REST_URL_ANNOTATION;

mod support;
use support::local_flink::{Kind, LocalFlink, http_client, run_dir};
use support::monitor_binary::MonitorBinary;
use support::wait;

const FLINK_VERSION: &str = "2.3.0";

/// How long a change may take to show before a wait gives up: a bound for failing, not a
/// timing assertion (with `--poll-interval 1s` most changes show within a few seconds).
const PATIENCE: Duration = Duration::from_secs(60);
/// The monitor's poll interval; "stays so" checks wait a few of them.
const POLL: Duration = Duration::from_secs(1);

/// On every namespace these tests create, to find ones a killed run left behind.
const E2E_LABEL: &str = "flinkmonitor.dev/e2e";
/// The field manager of the test's own writes (the CRD).
const E2E_MANAGER: &str = "flink-monitor-e2e";
/// Set to 1 to keep the namespace of a failed test (it is deleted otherwise).
const KEEP_NAMESPACE: &str = "E2E_KEEP_NAMESPACE";
/// The name of the JobManager Service in each test namespace.
const SERVICE: &str = "flink-jobmanager";

// ------------------------------------------------------------------------------ scenarios

/// A running job is discovered and mirrored with its status; a cancel on Flink shows up as
/// CANCELED and as a StateChanged Event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Kubernetes cluster (KUBECONFIG), Java 17 and Python; see docs/e2e.md"]
async fn a_running_job_is_mirrored_with_its_status_and_its_cancel_is_seen() {
    let mut env = Env::new("mirror").await;
    let name = unique("orders-stream");
    let jid = env.flink.submit(&name, Kind::Stream).await;
    let service = env.create_service().await;
    env.start_monitor().await;

    let cluster = env
        .wait_cluster("the cluster listed and reachable", |c| {
            c.is_some_and(|c| c["reachable"] == true)
        })
        .await
        .unwrap_or_default();
    env.check(
        cluster["namespace"] == env.ns()
            && cluster["name"] == SERVICE
            && cluster["source"] == "service"
            && cluster["url"]
                .as_str()
                .is_some_and(|u| u.starts_with(&env.flink.url)),
        "/clusters shows the Service's namespace, name, source `service` and the annotated URL",
        &cluster,
    );

    let mirror = env.wait_mirror(&name).await;
    let mirror_name = mirror.name_any();
    env.check(
        mirror_name == expected_mirror_name(&env.cluster_id(), SERVICE, &name),
        "the mirror has the deterministic name mirror_name(cluster id, Service, job name)",
        &mirror,
    );
    env.check(
        mirror.spec.cluster.as_deref() == Some(SERVICE),
        format_args!("the mirror's spec.cluster is the Service name {SERVICE}"),
        &mirror,
    );
    let expected_owner = OwnerReference {
        api_version: "v1".into(),
        kind: "Service".into(),
        name: SERVICE.into(),
        uid: service.uid().unwrap_or_default(),
        controller: Some(false),
        block_owner_deletion: Some(false),
    };
    env.check(
        mirror.owner_references() == [expected_owner],
        "the mirror has exactly one owner reference, to the Service (by uid)",
        &mirror,
    );

    let running = env
        .wait_job(&mirror_name, "the mirror RUNNING with the job id", |j| {
            state(j) == Some("RUNNING")
                && job_id(j) == Some(jid.as_str())
                && condition_is(j, "Running", "True")
        })
        .await;
    let status = running.status.clone().unwrap_or_default();
    env.check(
        status.cluster.as_deref() == Some(env.cluster_id().as_str()),
        format_args!("status.cluster is the cluster id {}", env.cluster_id()),
        &running,
    );
    env.check(
        status.flink_version.as_deref() == Some(FLINK_VERSION),
        format_args!("status.flinkVersion is {FLINK_VERSION}"),
        &running,
    );
    env.check(
        status.start_time.is_some() && status.end_time.is_none(),
        "a running job has a startTime and no endTime",
        &running,
    );
    for type_ in ["Found", "ClusterReachable", "Running"] {
        env.check(
            condition_is(&running, type_, "True"),
            format_args!("condition {type_} is True"),
            &running,
        );
    }
    env.check(
        status.observed_generation.is_some()
            && status.observed_generation == running.metadata.generation,
        "status.observedGeneration is the object's generation",
        &running,
    );

    env.flink.cancel(&jid).await;
    let canceled = env
        .wait_job(&mirror_name, "the mirror CANCELED", |j| {
            state(j) == Some("CANCELED")
        })
        .await;
    env.check(
        job_id(&canceled) == Some(jid.as_str())
            && condition_is(&canceled, "Found", "True")
            && condition_is(&canceled, "ClusterReachable", "True")
            && condition_is(&canceled, "Running", "False")
            && canceled
                .status
                .as_ref()
                .is_some_and(|s| s.end_time.is_some()),
        "a canceled job keeps its id, has an endTime, Found and ClusterReachable True, Running False",
        &canceled,
    );
    let event = env
        .wait_event(&mirror_name, "a StateChanged event saying CANCELED", |e| {
            e.reason.as_deref() == Some("StateChanged")
                && e.type_.as_deref() == Some("Normal")
                && e.note
                    .as_deref()
                    .is_some_and(|n| n.starts_with("job is CANCELED"))
        })
        .await;
    env.check(
        event.reporting_controller.as_deref() == Some("flink-monitor")
            && event
                .regarding
                .as_ref()
                .is_some_and(|r| r.kind.as_deref() == Some("FlinkJob") && r.uid == canceled.uid()),
        "the event is reported by flink-monitor and regards the mirror (by uid)",
        &event,
    );
}

/// A FlinkJob a user created gets the status of the finished job it names, nothing else of
/// it changes, and no mirror is made beside it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Kubernetes cluster (KUBECONFIG), Java 17 and Python; see docs/e2e.md"]
async fn a_user_flinkjob_gets_the_status_and_no_mirror_beside_it() {
    let mut env = Env::new("user").await;
    let finished = unique("nightly-batch");
    let witness = unique("witness-stream");

    // Created before flink-monitor starts, so that its first mirror pass already knows it.
    let user = user_flinkjob("my-batch", &finished);
    let created = env.create_job(&user).await;
    let finished_jid = env.flink.submit(&finished, Kind::Finish).await;
    // Started after the batch job ended: every snapshot that lists it lists the batch job.
    env.flink.submit(&witness, Kind::Stream).await;
    env.create_service().await;
    env.start_monitor().await;

    let done = env
        .wait_job("my-batch", "the user's FlinkJob FINISHED", |j| {
            state(j) == Some("FINISHED") && job_id(j) == Some(finished_jid.as_str())
        })
        .await;
    let status = done.status.clone().unwrap_or_default();
    env.check(
        status.cluster.as_deref() == Some(env.cluster_id().as_str())
            && status.start_time.is_some()
            && status.end_time.is_some(),
        "status.cluster is the cluster id; a finished job has a startTime and an endTime",
        &done,
    );
    env.check(
        condition_is(&done, "Found", "True")
            && condition_is(&done, "ClusterReachable", "True")
            && condition_is(&done, "Running", "False")
            && condition(&done, "Running").is_some_and(|c| c.reason == "Finished"),
        "Found and ClusterReachable True, Running False with reason Finished",
        &done,
    );

    // A mirror pass created the witness's mirror with the batch job in the same snapshot, so
    // it has considered the batch job and left it to the user's FlinkJob.
    let witness_mirror = env.wait_mirror(&witness).await;
    tokio::time::sleep(3 * POLL).await;
    let all = env.list_jobs(&ListParams::default()).await;
    let mut names: Vec<String> = all.iter().map(ResourceExt::name_any).collect();
    names.sort();
    let mut expected = vec!["my-batch".to_string(), witness_mirror.name_any()];
    expected.sort();
    env.check(
        names == expected,
        format_args!(
            "the namespace holds only the user's FlinkJob and the witness's mirror {expected:?}, \
             no mirror of {finished:?}; found {names:?}"
        ),
        &all,
    );

    let now = env.get_job("my-batch").await;
    env.check(
        now.spec == created.spec
            && now.metadata.labels == created.metadata.labels
            && now.metadata.annotations == created.metadata.annotations
            && now.metadata.owner_references == created.metadata.owner_references
            && now.metadata.finalizers == created.metadata.finalizers
            && now.metadata.generation == created.metadata.generation,
        "the user's spec, labels, annotations, owner references, finalizers and generation are \
         as created",
        &now,
    );
    let foreign: Vec<String> = now
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .filter(|m| {
            m.manager.as_deref() == Some(FIELD_MANAGER)
                && m.subresource.as_deref() != Some("status")
        })
        .map(|m| format!("{:?} {:?}", m.operation, m.subresource))
        .collect();
    env.check(
        foreign.is_empty(),
        format_args!("flink-monitor wrote only the status subresource; it also wrote {foreign:?}"),
        &now,
    );
}

/// Deleting the Service removes the cluster from `/clusters`, and garbage collection
/// removes its mirrors; a user's FlinkJob stays and says its cluster is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Kubernetes cluster (KUBECONFIG), Java 17 and Python; see docs/e2e.md"]
async fn deleting_the_service_forgets_the_cluster_and_collects_the_mirrors() {
    let mut env = Env::new("gc").await;
    let name = unique("clicks-stream");
    let user = user_flinkjob("bystander", &unique("never-submitted"));
    let bystander = env.create_job(&user).await;
    env.flink.submit(&name, Kind::Stream).await;
    env.create_service().await;
    env.start_monitor().await;

    env.wait_cluster("the cluster listed and reachable", |c| {
        c.is_some_and(|c| c["reachable"] == true)
    })
    .await;
    let mirror = env.wait_mirror(&name).await;
    let mirror_name = mirror.name_any();
    env.wait_job(&mirror_name, "the mirror RUNNING", |j| {
        state(j) == Some("RUNNING")
    })
    .await;
    env.wait_job(
        "bystander",
        "the bystander not found on a reachable cluster",
        |j| condition(j, "Found").is_some_and(|c| c.status == "False" && c.reason == "JobNotFound"),
    )
    .await;

    env.services()
        .delete(SERVICE, &DeleteParams::background())
        .await
        .unwrap_or_else(|e| panic!("deleting Service {}/{SERVICE}: {e}", env.ns()));

    env.wait_cluster("the cluster gone from /clusters", |c| c.is_none())
        .await;
    let mirrored = ListParams::default().labels(&format!("{MIRRORED_LABEL}=true"));
    env.wait_until("the mirrors garbage-collected", async || {
        let left = env.list_jobs(&mirrored).await;
        if left.is_empty() {
            Ok(())
        } else {
            Err(show(&left))
        }
    })
    .await;
    let after = env
        .wait_job("bystander", "the bystander's cluster not found", |j| {
            condition(j, "Found")
                .is_some_and(|c| c.status == "False" && c.reason == "ClusterNotFound")
        })
        .await;
    env.check(
        after.uid() == bystander.uid(),
        "the user's FlinkJob is the one created, not deleted with the Service",
        &after,
    );

    // Nothing comes back: no mirror is created again for a cluster that is gone.
    tokio::time::sleep(3 * POLL).await;
    let left = env.list_jobs(&mirrored).await;
    env.check(left.is_empty(), "no mirror is created again", &left);
    let clusters = env.clusters().await;
    env.check(
        clusters
            .as_ref()
            .is_ok_and(|c| c.iter().all(|c| c["id"] != env.cluster_id().as_str())),
        "the cluster stays gone from /clusters",
        &clusters,
    );
}

/// A JobManager that goes away leaves the FlinkJob with its last known state, and
/// `ClusterReachable=False`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Kubernetes cluster (KUBECONFIG), Java 17 and Python; see docs/e2e.md"]
async fn an_unreachable_jobmanager_leaves_the_last_state_with_cluster_reachable_false() {
    let mut env = Env::new("unreachable").await;
    let name = unique("payments-stream");
    let jid = env.flink.submit(&name, Kind::Stream).await;
    env.create_service().await;
    env.start_monitor().await;
    let mirror = env.wait_mirror(&name).await;
    let mirror_name = mirror.name_any();
    env.wait_job(
        &mirror_name,
        "the mirror RUNNING on a reachable cluster",
        |j| state(j) == Some("RUNNING") && condition_is(j, "ClusterReachable", "True"),
    )
    .await;

    // The JobManager dies at once (SIGKILL), as in a crash: the last state flink-monitor can
    // have seen is RUNNING. A graceful `local-flink.sh stop` stops the TaskManager first, and
    // the job may be seen RESTARTING before the JobManager's REST endpoint goes away.
    env.flink.kill_jobmanager();
    env.flink.stop().unwrap_or_else(|e| panic!("{e}"));

    let unreachable = env
        .wait_job(&mirror_name, "ClusterReachable False", |j| {
            condition_is(j, "ClusterReachable", "False")
        })
        .await;
    env.check(
        state(&unreachable) == Some("RUNNING")
            && job_id(&unreachable) == Some(jid.as_str())
            && condition(&unreachable, "ClusterReachable").is_some_and(|c| {
                c.reason == "ClusterUnreachable" && c.message.contains(&env.cluster_id())
            }),
        "the last state RUNNING and the job id are kept; ClusterReachable False with reason \
         ClusterUnreachable names the cluster",
        &unreachable,
    );
    let cluster = env
        .wait_cluster("the cluster listed unreachable", |c| {
            c.is_some_and(|c| c["reachable"] == false)
        })
        .await;
    env.check(
        cluster
            .as_ref()
            .is_some_and(|c| c["lastError"].is_string() && c["jobs"] == 1),
        "/clusters shows a lastError and still the one job of the last snapshot",
        &cluster,
    );
    env.wait_event(&mirror_name, "a ClusterUnreachable warning", |e| {
        e.reason.as_deref() == Some("ClusterUnreachable") && e.type_.as_deref() == Some("Warning")
    })
    .await;

    // And it stays so: polls that keep failing do not erase what was known.
    tokio::time::sleep(3 * POLL).await;
    let later = env.get_job(&mirror_name).await;
    env.check(
        state(&later) == Some("RUNNING")
            && job_id(&later) == Some(jid.as_str())
            && condition_is(&later, "ClusterReachable", "False"),
        "several failed polls later the last state is still kept",
        &later,
    );
}

// ------------------------------------------------------------------------ the environment

/// One test's world: a Kubernetes client, a local Flink, a temporary namespace and, once
/// started, the monitor. Fields drop in order: the monitor, Flink, then the namespace.
struct Env {
    monitor: Option<Monitor>,
    flink: LocalFlink,
    namespace: TempNamespace,
    client: Client,
    http: reqwest::Client,
}

impl Env {
    /// The CRD first (fails fast without a cluster), then Flink, then the namespace.
    async fn new(scenario: &str) -> Self {
        let client = Client::try_default().await.unwrap_or_else(|e| {
            panic!("no Kubernetes client: {e}; set KUBECONFIG to a cluster (see docs/e2e.md)")
        });
        apply_crd(&client).await;
        let flink = tokio::task::spawn_blocking(|| LocalFlink::start(FLINK_VERSION, 4))
            .await
            .unwrap_or_else(|e| panic!("the Flink start panicked: {e}"))
            .unwrap_or_else(|e| panic!("Flink {FLINK_VERSION} did not start: {e}"));
        let namespace = TempNamespace::create(&client, scenario).await;
        Self {
            monitor: None,
            flink,
            namespace,
            client,
            http: http_client(),
        }
    }

    fn ns(&self) -> &str {
        &self.namespace.name
    }

    /// `<namespace>.<service>`: the id flink-monitor gives the discovered cluster.
    fn cluster_id(&self) -> String {
        format!("{}.{SERVICE}", self.ns())
    }

    fn jobs(&self) -> Api<FlinkJob> {
        Api::namespaced(self.client.clone(), self.ns())
    }

    fn services(&self) -> Api<Service> {
        Api::namespaced(self.client.clone(), self.ns())
    }

    fn monitor(&self) -> &Monitor {
        self.monitor
            .as_ref()
            .unwrap_or_else(|| panic!("the test asked the monitor before starting it"))
    }

    /// Where to look when a check fails.
    fn context(&self) -> String {
        let monitor = self
            .monitor
            .as_ref()
            .map_or_else(|| "monitor: not started".to_string(), Monitor::context);
        format!(
            "namespace: {} (deleted at the end; {KEEP_NAMESPACE}=1 keeps it if the test \
             fails)\n{}\n{monitor}",
            self.ns(),
            self.flink.describe()
        )
    }

    /// Fails the test with `what`, the object as YAML and the context, unless `ok`.
    fn check(&self, ok: bool, what: impl Display, seen: &impl Serialize) {
        if !ok {
            panic!("{what}\nseen:\n{}\n{}", show(seen), self.context());
        }
    }

    /// Calls `probe` until it answers Ok, for at most `PATIENCE`; then fails with `what` and
    /// the last Err (what was seen).
    async fn wait_until<T>(
        &self,
        what: &str,
        mut probe: impl AsyncFnMut() -> Result<T, String>,
    ) -> T {
        wait::until_ok(PATIENCE, Duration::from_millis(500), what, async || {
            probe()
                .await
                .map_err(|seen| format!("\n{seen}\n{}", self.context()))
        })
        .await
    }

    /// The JobManager Service of the test: selects `app=flink, component=jobmanager`, port
    /// `rest` 8081, and the annotation that sends flink-monitor to the local Flink.
    async fn create_service(&self) -> Service {
        let service = Service {
            metadata: ObjectMeta {
                name: Some(SERVICE.into()),
                annotations: Some(BTreeMap::from([(
                    REST_URL_ANNOTATION.to_string(),
                    self.flink.url.clone(),
                )])),
                ..ObjectMeta::default()
            },
            spec: Some(ServiceSpec {
                selector: Some(BTreeMap::from([
                    ("app".to_string(), "flink".to_string()),
                    ("component".to_string(), "jobmanager".to_string()),
                ])),
                ports: Some(vec![ServicePort {
                    name: Some("rest".into()),
                    port: 8081,
                    target_port: Some(IntOrString::Int(8081)),
                    protocol: Some("TCP".into()),
                    ..ServicePort::default()
                }]),
                ..ServiceSpec::default()
            }),
            ..Service::default()
        };
        self.services()
            .create(&PostParams::default(), &service)
            .await
            .unwrap_or_else(|e| panic!("creating Service {}/{SERVICE}: {e}", self.ns()))
    }

    async fn start_monitor(&mut self) {
        let monitor = Monitor::start(self.ns()).await;
        self.monitor = Some(monitor);
    }

    /// `/clusters` of the monitor, or why not.
    async fn clusters(&self) -> Result<Vec<Value>, String> {
        let url = format!("{}/clusters", self.monitor().base);
        let response = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        match body["response"].as_array() {
            Some(clusters) if status.is_success() => Ok(clusters.clone()),
            _ => Err(format!("GET {url} -> {status}: {text}")),
        }
    }

    /// Waits until this test's cluster, as `/clusters` lists it (None: not listed), is `ok`.
    async fn wait_cluster(&self, what: &str, ok: impl Fn(Option<&Value>) -> bool) -> Option<Value> {
        let id = self.cluster_id();
        self.wait_until(what, async || {
            let clusters = self.clusters().await?;
            let ours = clusters.iter().find(|c| c["id"] == id.as_str());
            if ok(ours) {
                Ok(ours.cloned())
            } else {
                Err(format!("GET /clusters: {}", Value::Array(clusters)))
            }
        })
        .await
    }

    async fn create_job(&self, job: &FlinkJob) -> FlinkJob {
        self.jobs()
            .create(&PostParams::default(), job)
            .await
            .unwrap_or_else(|e| panic!("creating FlinkJob {}/{}: {e}", self.ns(), job.name_any()))
    }

    async fn get_job(&self, name: &str) -> FlinkJob {
        self.jobs()
            .get(name)
            .await
            .unwrap_or_else(|e| panic!("GET FlinkJob {}/{name}: {e}", self.ns()))
    }

    async fn list_jobs(&self, params: &ListParams) -> Vec<FlinkJob> {
        self.jobs()
            .list(params)
            .await
            .unwrap_or_else(|e| panic!("listing FlinkJobs in {}: {e}", self.ns()))
            .items
    }

    /// Waits until the FlinkJob `name` exists and is `ok`.
    async fn wait_job(&self, name: &str, what: &str, ok: impl Fn(&FlinkJob) -> bool) -> FlinkJob {
        let api = self.jobs();
        self.wait_until(what, async || match api.get_opt(name).await {
            Ok(Some(job)) if ok(&job) => Ok(job),
            Ok(Some(job)) => Err(show(&job)),
            Ok(None) => Err(format!("FlinkJob {}/{name} does not exist", self.ns())),
            Err(e) => Err(format!("GET FlinkJob {}/{name}: {e}", self.ns())),
        })
        .await
    }

    /// Waits for the mirrored FlinkJob of the Flink job `job_name`.
    async fn wait_mirror(&self, job_name: &str) -> FlinkJob {
        let mirrored = ListParams::default().labels(&format!("{MIRRORED_LABEL}=true"));
        let what = format!("a mirrored FlinkJob for the job {job_name:?}");
        self.wait_until(&what, async || {
            let jobs = self.list_jobs(&mirrored).await;
            match jobs.iter().find(|j| j.spec.job_name == job_name) {
                Some(job) => Ok(job.clone()),
                None => Err(format!(
                    "FlinkJobs labelled {MIRRORED_LABEL}=true:\n{}",
                    show(&jobs)
                )),
            }
        })
        .await
    }

    /// Waits for an `events.k8s.io/v1` Event about the FlinkJob `name` that is `ok`.
    async fn wait_event(&self, name: &str, what: &str, ok: impl Fn(&Event) -> bool) -> Event {
        let api: Api<Event> = Api::namespaced(self.client.clone(), self.ns());
        self.wait_until(what, async || {
            let events = api
                .list(&ListParams::default())
                .await
                .map_err(|e| format!("listing Events in {}: {e}", self.ns()))?;
            let about: Vec<&Event> = events
                .items
                .iter()
                .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
                .collect();
            match about.iter().find(|e| ok(e)) {
                Some(event) => Ok((*event).clone()),
                None => Err(format!("Events about FlinkJob {name}:\n{}", show(&about))),
            }
        })
        .await
    }
}

/// A FlinkJob as a user would write it: naming a job on the test's Service, with labels
/// and annotations of its own that flink-monitor must leave alone.
fn user_flinkjob(name: &str, job_name: &str) -> FlinkJob {
    let mut job = FlinkJob::new(
        name,
        FlinkJobSpec {
            job_name: job_name.to_string(),
            cluster: Some(SERVICE.to_string()),
            health: None,
        },
    );
    job.metadata.labels = Some(BTreeMap::from([("team".to_string(), "data".to_string())]));
    job.metadata.annotations = Some(BTreeMap::from([(
        "example.com/owner".to_string(),
        "e2e".to_string(),
    )]));
    job
}

fn state(job: &FlinkJob) -> Option<&str> {
    job.status.as_ref()?.state.as_deref()
}

fn job_id(job: &FlinkJob) -> Option<&str> {
    job.status.as_ref()?.job_id.as_deref()
}

fn condition<'a>(job: &'a FlinkJob, type_: &str) -> Option<&'a Condition> {
    job.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
}

fn condition_is(job: &FlinkJob, type_: &str, status: &str) -> bool {
    condition(job, type_).is_some_and(|c| c.status == status)
}

/// An object as YAML, without `managedFields` (noise in a failure message).
fn show(seen: &impl Serialize) -> String {
    fn strip(value: &mut Value) {
        match value {
            Value::Object(map) => {
                map.remove("managedFields");
                map.values_mut().for_each(strip);
            }
            Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    match serde_json::to_value(seen) {
        Ok(mut value) => {
            strip(&mut value);
            serde_yaml::to_string(&value).unwrap_or_else(|e| format!("<not printable: {e}>"))
        }
        Err(e) => format!("<not printable: {e}>"),
    }
}

/// A name no other job of this run uses, DNS-friendly.
fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", random_hex(6))
}

fn random_hex(len: usize) -> String {
    use std::hash::{BuildHasher, RandomState};
    let bits = RandomState::new().hash_one((std::process::id(), std::time::SystemTime::now()));
    format!("{bits:016x}").chars().take(len).collect()
}

// ------------------------------------------------------------------------------ Kubernetes

/// Server-side applies the FlinkJob CRD of this build and waits until it is Established.
async fn apply_crd(client: &Client) {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd = FlinkJob::crd();
    let name = crd.name_any();
    api.patch(
        &name,
        &PatchParams::apply(E2E_MANAGER).force(),
        &Patch::Apply(&crd),
    )
    .await
    .unwrap_or_else(|e| {
        panic!(
            "applying CRD {name}: {e} (does KUBECONFIG name a cluster where you may create CRDs?)"
        )
    });
    let established = await_condition(api, &name, conditions::is_crd_established());
    match tokio::time::timeout(PATIENCE, established).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => panic!("watching CRD {name}: {e}"),
        Err(_) => panic!("CRD {name} was not Established within {PATIENCE:?}"),
    }
}

/// A namespace for one test, deleted (with everything in it) when the guard drops, also
/// when the test panics.
struct TempNamespace {
    name: String,
}

impl TempNamespace {
    async fn create(client: &Client, scenario: &str) -> Self {
        let name = format!("fm-e2e-{scenario}-{}", random_hex(6));
        let namespace = Namespace {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some(BTreeMap::from([(
                    E2E_LABEL.to_string(),
                    "true".to_string(),
                )])),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &namespace)
            .await
            .unwrap_or_else(|e| panic!("creating namespace {name}: {e}"));
        eprintln!("kubernetes_e2e: namespace {name}");
        let guard = Self { name };
        // Established does not promise that every API server already serves the new kind:
        // wait until FlinkJobs can be listed here.
        let jobs: Api<FlinkJob> = Api::namespaced(client.clone(), &guard.name);
        let what = format!("FlinkJobs to be listed in {}", guard.name);
        wait::until_ok(PATIENCE, Duration::from_millis(500), &what, || async {
            jobs.list(&ListParams::default().limit(1))
                .await
                .map(drop)
                .map_err(|e| e.to_string())
        })
        .await;
        guard
    }
}

impl Drop for TempNamespace {
    fn drop(&mut self) {
        if std::thread::panicking() && std::env::var_os(KEEP_NAMESPACE).is_some_and(|v| v == "1") {
            eprintln!(
                "kubernetes_e2e: {KEEP_NAMESPACE}=1: namespace {} is kept for a look; delete it \
                 with `kubectl delete namespace {}`",
                self.name, self.name
            );
            return;
        }
        // Drop cannot await, and the test's runtime may be unwinding: delete from a thread
        // with a runtime and a client of its own.
        let name = self.name.clone();
        let deleted = std::thread::spawn(move || -> Result<(), String> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("no runtime: {e}"))?;
            runtime.block_on(async {
                let client = Client::try_default()
                    .await
                    .map_err(|e| format!("no Kubernetes client: {e}"))?;
                let api: Api<Namespace> = Api::all(client);
                let params = DeleteParams::background();
                let delete = api.delete(&name, &params);
                match tokio::time::timeout(Duration::from_secs(30), delete).await {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(kube::Error::Api(status))) if status.is_not_found() => Ok(()),
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(_) => Err("no answer within 30s".to_string()),
                }
            })
        })
        .join()
        .unwrap_or_else(|_| Err("the deleting thread panicked".to_string()));
        match deleted {
            Ok(()) => eprintln!("kubernetes_e2e: namespace {} deleted", self.name),
            Err(e) => eprintln!(
                "kubernetes_e2e: failed to delete namespace {}: {e}; delete it with \
                 `kubectl delete namespace {}`",
                self.name, self.name
            ),
        }
    }
}

// --------------------------------------------------------------------------------- monitor

/// The real `flink-monitor run`, outside the cluster, watching one namespace.
struct Monitor {
    base: String,
    binary: MonitorBinary,
}

impl Monitor {
    /// Starts the monitor and waits until its HTTP server answers `/healthz`.
    async fn start(namespace: &str) -> Self {
        let log = run_dir().join(format!("{namespace}.monitor.log"));
        // The monitor reaches Flink on 127.0.0.1: never through a proxy. KUBECONFIG (and any
        // proxy the API server needs) is inherited.
        let no_proxy = ["NO_PROXY", "no_proxy"].map(|variable| {
            let mut value = std::env::var(variable).unwrap_or_default();
            if !value.is_empty() {
                value.push(',');
            }
            value.push_str("127.0.0.1,localhost");
            (variable, value)
        });
        let binary = MonitorBinary::start_up(
            "kubernetes_e2e",
            &log,
            "info,flink_monitor=debug",
            &no_proxy,
            "/healthz",
            &format!("namespace {namespace}"),
            |port| {
                [
                    "run",
                    "--kubernetes",
                    "on",
                    "--namespaces",
                    namespace,
                    "--listen",
                    &format!("127.0.0.1:{port}"),
                    "--poll-interval",
                    "1s",
                ]
                .map(String::from)
                .to_vec()
            },
        )
        .await;
        Self {
            base: binary.base.clone(),
            binary,
        }
    }

    /// The log's path and its last lines.
    fn context(&self) -> String {
        format!(
            "monitor {} (log: {}), last log lines:\n{}",
            self.base,
            self.binary.log.display(),
            self.binary.log_tail(25)
        )
    }
}
