//! The real `flink-monitor` binary in Kubernetes mode against the simulator, killed on drop.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::sim::{KillOnDrop, Sim};

pub use super::monitor_binary::free_port;
use super::monitor_binary::{scenario_binary, spawn_logged};

pub struct MonitorProcess {
    process: Option<KillOnDrop>,
    pub base: String,
    log: PathBuf,
    http: reqwest::Client,
}

impl MonitorProcess {
    /// `flink-monitor run --kubernetes on` with the simulator's kubeconfig, `--poll-interval
    /// 1s`, `--health-interval 1s` and `extra` flags; `name` names the log file (and the replica's identity).
    pub fn start(sim: &Sim, name: &str, extra: &[&str]) -> Self {
        Self::start_with_kubeconfig(sim, &sim.kubeconfig, name, extra)
    }

    pub fn start_with_kubeconfig(sim: &Sim, kubeconfig: &Path, name: &str, extra: &[&str]) -> Self {
        let port = free_port();
        let log = sim.dir.path().join(format!("{name}.log"));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("open the monitor's log file");
        let mut command = Command::new(scenario_binary());
        command
            .args(["run", "--kubernetes", "on", "--log-format", "plain"])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--poll-interval", "1s", "--health-interval", "1s"])
            .args(extra)
            .env("KUBECONFIG", kubeconfig)
            .env("POD_NAME", name)
            .env(
                "RUST_LOG",
                std::env::var("SCENARIO_LOG").unwrap_or_else(|_| "info".into()),
            );
        let child = spawn_logged(&mut command, file);
        Self {
            process: Some(KillOnDrop(child)),
            base: format!("http://127.0.0.1:{port}"),
            log,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .expect("an HTTP client"),
        }
    }

    /// The status code of `GET path`, 0 when nothing answered.
    pub async fn status_of(&self, path: &str) -> u16 {
        match self.http.get(format!("{}{path}", self.base)).send().await {
            Ok(response) => response.status().as_u16(),
            Err(_) => 0,
        }
    }

    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}\n{}", self.log()));
        response.json().await.unwrap_or(serde_json::Value::Null)
    }

    pub async fn ready(&self) -> bool {
        self.status_of("/readyz").await == 200
    }

    /// Waits for `/readyz` = 200; panics with the log after `timeout`.
    pub async fn wait_ready(&self, timeout: Duration) {
        super::wait::until_ok(timeout, Duration::from_millis(50), "ready", || async {
            match self.ready().await {
                true => Ok(()),
                false => Err(format!("log:\n{}", self.log())),
            }
        })
        .await
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(|p| p.0.id())
    }

    /// SIGTERM, then waits for the exit (a graceful stop: the Lease is released).
    pub fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &process.0.id().to_string()])
                .status();
            let _ = process.0.wait();
        }
    }

    /// SIGKILL: the process vanishes without cleaning up, as a node failure would have it.
    pub fn kill(&mut self) {
        // Dropping KillOnDrop kills and reaps.
        self.process.take();
    }
}
