//! The API-server simulator (tests/k8s-sim/k8ssim.py) as a test fixture: one per scenario,
//! on a free port, stopped (and its files removed) when dropped, pass or fail.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

/// A scratch directory removed on drop.
pub struct ScratchDir(PathBuf);

impl ScratchDir {
    pub fn new(what: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "flink-monitor-{what}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create a scratch directory");
        Self(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Kills the child on drop (a failing test must not leave processes behind).
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub struct Sim {
    process: KillOnDrop,
    pub base: String,
    pub kubeconfig: PathBuf,
    pub dir: ScratchDir,
    http: reqwest::Client,
}

fn simulator_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/k8s-sim/k8ssim.py")
}

impl Sim {
    /// Starts a simulator with the default identity (every request allowed).
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts a simulator with extra command-line arguments (e.g. `--authz`).
    pub fn start_with(args: &[&str]) -> Self {
        let dir = ScratchDir::new("k8ssim");
        let kubeconfig = dir.path().join("kubeconfig");
        let mut child = Command::new("python3")
            .arg(simulator_script())
            .args(["--port", "0", "--kubeconfig-out"])
            .arg(&kubeconfig)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start python3 tests/k8s-sim/k8ssim.py");
        let stdout = child.stdout.take().expect("simulator stdout");
        let process = KillOnDrop(child);
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the simulator's first line");
        let base = line
            .trim()
            .strip_prefix("k8ssim listening on ")
            .unwrap_or_else(|| panic!("unexpected first line from the simulator: {line:?}"))
            .to_string();
        Self {
            process,
            base,
            kubeconfig,
            dir,
            http: reqwest::Client::new(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.process.0.id()
    }

    /// Sends a request; panics unless the answer is 2xx. Returns the JSON body.
    pub async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let (code, value) = self.try_send(method.clone(), path, body).await;
        assert!(
            (200..300).contains(&code),
            "{method} {path}: {code} {value}"
        );
        value
    }

    /// Sends a request; returns the status code and the JSON body (Null if none).
    pub async fn try_send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("reach the simulator");
        let code = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (code, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str) -> Value {
        self.send(reqwest::Method::GET, path, None).await
    }

    pub async fn create(&self, path: &str, object: Value) -> Value {
        self.send(reqwest::Method::POST, path, Some(object)).await
    }

    pub async fn merge_patch(&self, path: &str, patch: Value) -> Value {
        let response = self
            .http
            .patch(format!("{}{path}", self.base))
            .header("content-type", "application/merge-patch+json")
            .body(patch.to_string())
            .send()
            .await
            .expect("reach the simulator");
        let code = response.status();
        let value: Value = response.json().await.unwrap_or(Value::Null);
        assert!(code.is_success(), "PATCH {path}: {code} {value}");
        value
    }

    pub async fn delete(&self, path: &str) {
        self.send(reqwest::Method::DELETE, path, None).await;
    }

    /// Installs the FlinkJob CRD, as generated by the crate.
    pub async fn install_crd(&self) {
        let crd =
            serde_json::to_value(<flink_monitor::crd::FlinkJob as kube::CustomResourceExt>::crd())
                .expect("CRD as JSON");
        self.create(
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
            crd,
        )
        .await;
    }

    /// A Service of a Flink JobManager (the standalone manifests' selector) whose REST
    /// endpoint is `url`, given by the rest-url annotation.
    pub async fn create_flink_service(&self, namespace: &str, name: &str, url: &str) -> Value {
        self.create(
            &format!("/api/v1/namespaces/{namespace}/services"),
            flink_service(namespace, name, url),
        )
        .await
    }

    /// A Flink JobManager Service like [`Self::create_flink_service`] whose selector also
    /// names it, so that several in one namespace are separate clusters.
    pub async fn create_own_flink_service(&self, namespace: &str, name: &str, url: &str) -> Value {
        let mut service = flink_service(namespace, name, url);
        service["spec"]["selector"]["cluster"] = name.into();
        self.create(&format!("/api/v1/namespaces/{namespace}/services"), service)
            .await
    }

    /// The simulator's request counts by `"verb resource"`, since start or reset.
    pub async fn counts(&self) -> std::collections::BTreeMap<String, u64> {
        let log = self.get("/_sim/requests?since=1e18").await;
        serde_json::from_value(log["counts"].clone()).unwrap_or_default()
    }

    pub async fn set_service_url(&self, namespace: &str, name: &str, url: &str) {
        self.merge_patch(
            &format!("/api/v1/namespaces/{namespace}/services/{name}"),
            json!({"metadata": {"annotations": {"flinkmonitor.dev/rest-url": url}}}),
        )
        .await;
    }

    pub async fn create_flinkjob(&self, namespace: &str, name: &str, spec: Value) -> Value {
        self.create(
            &format!("/apis/flinkmonitor.dev/v1alpha1/namespaces/{namespace}/flinkjobs"),
            json!({
                "apiVersion": "flinkmonitor.dev/v1alpha1",
                "kind": "FlinkJob",
                "metadata": {"name": name, "namespace": namespace},
                "spec": spec,
            }),
        )
        .await
    }

    /// Every FlinkJob, across namespaces.
    pub async fn flinkjobs(&self) -> Vec<Value> {
        let list = self.get("/apis/flinkmonitor.dev/v1alpha1/flinkjobs").await;
        list["items"].as_array().cloned().unwrap_or_default()
    }

    pub async fn flinkjob(&self, namespace: &str, name: &str) -> Value {
        self.get(&format!(
            "/apis/flinkmonitor.dev/v1alpha1/namespaces/{namespace}/flinkjobs/{name}"
        ))
        .await
    }

    /// Events, core/v1 view.
    pub async fn events(&self) -> Vec<Value> {
        let list = self.get("/api/v1/events").await;
        list["items"].as_array().cloned().unwrap_or_default()
    }

    /// The request log since `since` (unix seconds; 0 for all).
    pub async fn requests(&self, since: f64) -> Vec<Value> {
        let log = self.get(&format!("/_sim/requests?since={since}")).await;
        log["requests"].as_array().cloned().unwrap_or_default()
    }

    /// Requests that changed a FlinkJob or sent an Event since `since`: what an operator
    /// would see move. Failed requests count too (they are writes attempted).
    pub async fn writes(&self, since: f64) -> Vec<Value> {
        self.requests(since)
            .await
            .into_iter()
            .filter(|r| {
                let verb = r["verb"].as_str().unwrap_or_default();
                let resource = r["resource"].as_str().unwrap_or_default();
                matches!(
                    verb,
                    "create" | "update" | "patch" | "delete" | "deletecollection"
                ) && (resource.starts_with("flinkjobs") || resource == "events")
            })
            .collect()
    }

    pub async fn add_faults(&self, faults: Value) {
        self.create("/_sim/faults", faults).await;
    }

    pub async fn close_watches(&self) {
        self.create("/_sim/close-watches", json!({})).await;
    }

    pub async fn compact(&self) {
        self.create("/_sim/compact", json!({})).await;
    }
}

/// Seconds since the epoch, as the simulator's request log has them.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

pub fn flink_service(namespace: &str, name: &str, url: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "annotations": {"flinkmonitor.dev/rest-url": url},
        },
        "spec": {
            "selector": {"app": "flink", "component": "jobmanager"},
            "ports": [{"name": "rest", "port": 8081}],
        },
    })
}

/// Waits until `check` gives Some, or panics with `what` after `timeout`. Every 100 ms:
/// each look is a request to the simulator, and its request log is what scenarios count.
pub async fn eventually<T>(
    timeout: Duration,
    what: &str,
    check: impl AsyncFnMut() -> Option<T>,
) -> T {
    super::wait::until(timeout, Duration::from_millis(100), what, check).await
}
