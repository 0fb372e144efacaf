//! The real `flink-monitor` binary as a child of a test: started in a watchdog shell that
//! stops it (SIGTERM, then SIGKILL) once the test's pipe closes, so that no monitor
//! outlives the test process, even a killed one; its output goes to a log file, kept when
//! the test fails. Used by the real-Flink tests and the Kubernetes end-to-end tests.

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub const BINARY: &str = env!("CARGO_BIN_EXE_flink-monitor");

/// How long the monitor may take to come up (a bound for failing, not a timing assertion).
const UP_WITHIN: Duration = Duration::from_secs(60);

/// The binary a scenario runs: `SCENARIO_BIN` when set (to see a scenario fail on another
/// build, e.g. the previous release), else this crate's.
pub fn scenario_binary() -> String {
    std::env::var("SCENARIO_BIN")
        .ok()
        .filter(|bin| !bin.is_empty())
        .unwrap_or_else(|| BINARY.to_string())
}

/// Starts `command` with its output in `log`, in plain lines without colour codes (the log
/// is read from a file) and nothing on its input.
pub fn spawn_logged(command: &mut Command, log: File) -> Child {
    let err = log
        .try_clone()
        .unwrap_or_else(|e| panic!("cannot clone a file handle: {e}"));
    command
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start flink-monitor: {e}"))
}

/// A port nothing listens on right now (the monitor binds it a moment later; callers retry
/// a lost race).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("cannot find a free port: {e}"))
}

/// A running `flink-monitor ARGS` listening on `port`, stopped on drop.
pub struct MonitorBinary {
    pub base: String,
    pub log: PathBuf,
    /// Names the suite in the line that says where a failed test's log is kept.
    suite: &'static str,
    wrapper: Child,
    stdin: Option<ChildStdin>,
}

impl MonitorBinary {
    /// Starts `flink-monitor ARGS` (which must listen on `port`) with `RUST_LOG=rust_log`,
    /// without the developer's `FLINK_MONITOR_*` settings and with `envs` added.
    pub fn spawn(
        suite: &'static str,
        args: &[String],
        port: u16,
        log: &Path,
        rust_log: &str,
        envs: &[(&str, String)],
    ) -> Self {
        let out =
            File::create(log).unwrap_or_else(|e| panic!("cannot create {}: {e}", log.display()));
        let err = out
            .try_clone()
            .unwrap_or_else(|e| panic!("cannot clone a file handle: {e}"));
        let mut command = Command::new("bash");
        command
            .arg("-c")
            // fd 3 is this test's pipe: once it closes, the monitor gets SIGTERM, then SIGKILL.
            .arg(concat!(
                r#"exec 3<&0; bin=$0; "$bin" "$@" </dev/null 3<&- & pid=$!; "#,
                r#"{ cat <&3 >/dev/null; kill -TERM "$pid" 2>/dev/null || exit 0; "#,
                r#"for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || exit 0; sleep 0.1; done; "#,
                r#"kill -KILL "$pid" 2>/dev/null; } & "#,
                r#"wait "$pid""#
            ))
            .arg(BINARY)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(out)
            .stderr(err)
            .env("RUST_LOG", rust_log)
            // Plain log lines without colour codes: the log is read from a file.
            .env("NO_COLOR", "1");
        // The developer's own settings must not leak into the flags under test.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("FLINK_MONITOR_") {
                command.env_remove(name);
            }
        }
        command.envs(envs.iter().map(|(k, v)| (k, v)));
        let mut wrapper = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {BINARY}: {e}"));
        let stdin = wrapper.stdin.take();
        Self {
            base: format!("http://127.0.0.1:{port}"),
            log: log.to_path_buf(),
            suite,
            wrapper,
            stdin,
        }
    }

    /// The exit status, once the monitor has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.wrapper.try_wait().ok().flatten()
    }

    /// Starts `flink-monitor` with the arguments `args` gives for a free port (as `spawn`),
    /// and waits until `GET <path>` answers with a success. Another process may take the
    /// port between the probe and the bind: then another port, up to 5. Panics with the
    /// reason and `context` when the monitor does not come up, while it is alive, so that
    /// its log is kept.
    pub async fn start_up(
        suite: &'static str,
        log: &Path,
        rust_log: &str,
        envs: &[(&str, String)],
        path: &str,
        context: &str,
        args: impl Fn(u16) -> Vec<String>,
    ) -> Self {
        let mut attempt = 1;
        loop {
            let port = free_port();
            let mut monitor = Self::spawn(suite, &args(port), port, log, rust_log, envs);
            let what = format!(
                "flink-monitor to come up (log: {}; {context})",
                log.display()
            );
            match monitor.wait_until_ok(path, &what).await {
                Ok(()) => return monitor,
                Err(why) if why.contains("failed to listen") && attempt < 5 => attempt += 1,
                Err(why) => panic!(
                    "flink-monitor did not come up: {why}\n(log: {}; {context})",
                    log.display()
                ),
            }
        }
    }

    /// Waits until `GET <base><path>` answers with a success; an error with the log when
    /// the monitor exits first (the caller may retry another port); fails naming `what` and
    /// the last answer when `UP_WITHIN` runs out.
    async fn wait_until_ok(&mut self, path: &str, what: &str) -> Result<(), String> {
        let http = super::local_flink::http_client();
        let url = format!("{}{path}", self.base);
        super::wait::until_ok(UP_WITHIN, Duration::from_millis(100), what, async || {
            if let Some(status) = self.exited() {
                return Ok(Err(format!(
                    "flink-monitor exited ({status}):\n{}",
                    self.log_text()
                )));
            }
            match http.get(&url).send().await {
                Ok(response) if response.status().is_success() => Ok(Ok(())),
                Ok(response) => {
                    let status = response.status();
                    let text = response.text().await.unwrap_or_default();
                    Err(format!("{url}: HTTP {status}: {text}"))
                }
                Err(e) => Err(format!("{url}: {e}")),
            }
        })
        .await
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last `lines` lines of the log.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = self.log_text();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for MonitorBinary {
    fn drop(&mut self) {
        // Closing the pipe makes the wrapper stop the monitor with SIGTERM.
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        while matches!(self.wrapper.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        if matches!(self.wrapper.try_wait(), Ok(None)) {
            let _ = self.wrapper.kill();
            let _ = self.wrapper.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "{}: the monitor's log is kept in {}",
                self.suite,
                self.log.display()
            );
        } else {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}
