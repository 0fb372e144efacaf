//! The real `flink-monitor` binary against a real Flink 2.3 whose REST API runs over TLS
//! with mutual authentication (`security.ssl.rest.enabled`,
//! `security.ssl.rest.authentication-enabled`), its keystores made with `keytool` by
//! `scripts/local-flink.sh tls-certs` (a CA, a server certificate for 127.0.0.1, a client
//! certificate issued by the CA, and a self-signed "stranger" client certificate).
//!
//! One secured cluster serves every test of this file (started by the first, stopped when
//! the binary exits, as in `real_flink.rs`); each test starts its own monitor.

mod support;
use support::local_flink;
// Not every helper of the real-Flink tests is used here.
#[allow(dead_code)]
#[path = "real_flink/monitor.rs"]
mod monitor;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Instant;

use local_flink::{Kind, LocalFlink, run_dir, unique};
use monitor::{Answer, Monitor, enc};

const VERSION: &str = "2.3.0";
/// The monitor's id of the secured cluster.
const CLUSTER: &str = "secured";

struct Secured {
    flink: LocalFlink,
    /// What `local-flink.sh tls-certs` made.
    certs: PathBuf,
}

impl Secured {
    fn file(&self, name: &str) -> String {
        self.certs.join(name).display().to_string()
    }

    /// The monitor's flags for the CA and a client certificate and key.
    fn flags(&self, cert: &str, key: &str) -> Vec<String> {
        vec![
            "--flink-ca-file".into(),
            self.file("ca.crt"),
            "--flink-client-cert".into(),
            cert.into(),
            "--flink-client-key".into(),
            key.into(),
        ]
    }
}

fn secured() -> &'static Secured {
    static SHARED: OnceLock<Result<Secured, String>> = OnceLock::new();
    SHARED
        .get_or_init(start_secured)
        .as_ref()
        .unwrap_or_else(|e| panic!("the secured Flink {VERSION} cluster did not start: {e}"))
}

fn start_secured() -> Result<Secured, String> {
    std::fs::create_dir_all(run_dir()).map_err(|e| e.to_string())?;
    let certs = run_dir().join(format!("tls-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&certs);
    let output = Command::new(local_flink::SCRIPT)
        .arg("tls-certs")
        .arg(&certs)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", local_flink::SCRIPT))?;
    if !output.status.success() {
        return Err(format!(
            "local-flink.sh tls-certs failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let dir = certs.display().to_string();
    let flink = LocalFlink::start_with(VERSION, 4, &["--tls", &dir])?;
    if !flink.url.starts_with("https://") {
        return Err(format!("the secured cluster answered {}", flink.url));
    }
    Ok(Secured { flink, certs })
}

async fn monitor(secured: &Secured, flags: &[String]) -> Monitor {
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    Monitor::start(&secured.flink, CLUSTER, &flags).await
}

fn cluster_path() -> String {
    format!("/clusters/{CLUSTER}")
}

/// Waits until `/clusters/secured` says unreachable with a `lastError` for which `ok`
/// holds; answers that error.
async fn unreachable_with(m: &Monitor, what: &str, ok: impl Fn(&str) -> bool) -> String {
    let answer = m
        .wait_for(what, &cluster_path(), |a| {
            a.status == 200
                && a.response()["reachable"] == false
                && a.response()["lastError"].as_str().is_some_and(&ok)
        })
        .await;
    answer.response()["lastError"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// A read that goes to Flink for a job the monitor cannot see: 5005, every line of
/// `errors` naming the cluster.
async fn check_read_names_the_cluster(m: &Monitor, why: &str) -> Answer {
    let path = format!("/clusters/{CLUSTER}/job/{}/status/", enc("anything"));
    let answer = m.get(&path).await;
    m.expect_error(&answer, 502, 5005);
    let prefix = format!("cluster {CLUSTER}: ");
    m.check(
        answer.body["errors"].as_array().is_some_and(|lines| {
            !lines.is_empty()
                && lines.iter().all(|l| {
                    l.as_str()
                        .is_some_and(|l| l.starts_with(&prefix) && l.contains(why))
                })
        }),
        format_args!("every line of `errors` starts with {prefix:?} and says {why:?}"),
        &answer,
    );
    answer
}

#[tokio::test]
async fn polls_and_reads_work_with_the_ca_and_the_client_certificate() {
    let secured = secured();
    let name = unique("tls-finish");
    // The script's own calls present the client certificate too.
    let jid = secured.flink.submit(&name, Kind::Finish).await;
    let flags = secured.flags(&secured.file("client.crt"), &secured.file("client.key"));
    let m = monitor(secured, &flags).await;
    // The version is read beside the polls, after the first one succeeded: wait for both.
    m.wait_for(
        "the secured cluster reachable, its version read from /config over TLS",
        &cluster_path(),
        |a| {
            a.status == 200
                && a.response()["reachable"] == true
                && a.response()["flinkVersion"] == VERSION
        },
    )
    .await;
    let uuid = enc(&name);
    // The poll: the job as /jobs/overview lists it.
    let status = m
        .wait_for("the job FINISHED", &format!("/job/{uuid}/status/"), |a| {
            a.status == 200 && a.response()["state"] == "FINISHED"
        })
        .await;
    m.check(
        status.response()["jid"] == jid.as_str(),
        "the job the script submitted",
        &status,
    );
    // Reads that go to Flink per request: the job's details and its exceptions.
    let details = m.get(&format!("/job/{uuid}/statusAndMetrics/")).await;
    let body = m.expect_ok(&details);
    m.check(
        body["details"]["jid"] == jid.as_str() && body["details"]["state"] == "FINISHED",
        "the details read from Flink over TLS",
        &details,
    );
    let exceptions = m.get(&format!("/jobs/{uuid}/exceptions/")).await;
    m.expect_ok(&exceptions);
}

#[tokio::test]
async fn without_the_ca_the_cluster_is_unreachable_with_an_error_naming_it() {
    let secured = secured();
    let m = monitor(secured, &[]).await;
    let error = unreachable_with(&m, "an unknown-issuer error", |e| {
        e.contains("UnknownIssuer")
    })
    .await;
    assert!(
        error.contains(&secured.flink.url),
        "the error names the cluster's URL: {error}"
    );
    assert!(
        error.contains("give that CA with --flink-ca-file"),
        "the error says what to do: {error}"
    );
    check_read_names_the_cluster(&m, "--flink-ca-file").await;
}

#[tokio::test]
async fn without_a_client_certificate_flink_refuses_and_the_error_says_so() {
    let secured = secured();
    let flags = vec!["--flink-ca-file".to_string(), secured.file("ca.crt")];
    let m = monitor(secured, &flags).await;
    let error = unreachable_with(&m, "a refused handshake", |e| !e.is_empty()).await;
    assert!(
        error.contains(&secured.flink.url)
            && error.contains("with --flink-client-cert and --flink-client-key"),
        "the error names the cluster and says what to do: {error}"
    );
    check_read_names_the_cluster(&m, "--flink-client-cert").await;
}

#[tokio::test]
async fn a_rotated_client_certificate_is_picked_up_without_a_restart() {
    let secured = secured();
    // A mounted Secret: the monitor reads tls.crt and tls.key of a directory of its own.
    let mounted = run_dir().join(unique("tls-mounted"));
    std::fs::create_dir_all(&mounted).unwrap();
    let _cleanup = RemoveOnDrop(mounted.clone());
    let (cert, key) = (mounted.join("tls.crt"), mounted.join("tls.key"));
    copy(&secured.certs.join("stranger.crt"), &cert);
    copy(&secured.certs.join("stranger.key"), &key);
    let flags = secured.flags(&cert.display().to_string(), &key.display().to_string());
    let m = monitor(secured, &flags).await;
    unreachable_with(&m, "the stranger certificate refused", |e| {
        e.contains("--flink-client-cert")
    })
    .await;

    // The Secret rotates: the files are written over in place.
    let rotated = Instant::now();
    copy(&secured.certs.join("client.crt"), &cert);
    copy(&secured.certs.join("client.key"), &key);
    m.wait_for(
        "the cluster reachable with the new certificate",
        &cluster_path(),
        |a| a.status == 200 && a.response()["reachable"] == true,
    )
    .await;
    eprintln!(
        "flink_tls: the rotated certificate was in use {:.1}s after the files changed",
        rotated.elapsed().as_secs_f64()
    );
    m.check(
        m.log_text().contains("reloaded the TLS files for Flink"),
        "the reload is logged",
        &m.get(&cluster_path()).await,
    );
}

fn copy(from: &Path, to: &Path) {
    let bytes =
        std::fs::read(from).unwrap_or_else(|e| panic!("cannot read {}: {e}", from.display()));
    std::fs::write(to, bytes).unwrap_or_else(|e| panic!("cannot write {}: {e}", to.display()));
}

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
