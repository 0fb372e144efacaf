//! The real binary as a process: graceful shutdown on SIGTERM, start-up errors that say
//! what to do, and no secrets in the logs.

mod support;

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::fake_flink::{FakeFlink, FakeJob, FlinkVersion, Recorded};
use tokio_util::sync::CancellationToken;

use support::monitor_binary::free_port;
use support::wait;

fn binary() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_flink-monitor"));
    command
        .env_remove("KUBECONFIG")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null());
    command
}

fn start(args: &[&str]) -> (Child, String) {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let child = binary()
        .args([
            "run",
            "--kubernetes",
            "off",
            "--listen",
            &listen,
            "--poll-interval",
            "200ms",
        ])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start flink-monitor");
    (child, format!("http://{listen}"))
}

async fn wait_ready(base: &str) {
    let what = format!("flink-monitor at {base} to be ready");
    wait::until(
        Duration::from_secs(20),
        Duration::from_millis(50),
        &what,
        || async {
            let response = reqwest::get(format!("{base}/readyz")).await.ok()?;
            (response.status() == 200).then_some(())
        },
    )
    .await
}

fn terminate(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn stderr_of(child: &mut Child) -> String {
    let mut text = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    text
}

#[tokio::test]
async fn sigterm_lets_in_flight_requests_finish_and_exits_promptly() {
    let flink = FakeFlink::empty(FlinkVersion::V2_3).await;
    let jid = flink.add_job(FakeJob::new("slow job", "RUNNING"));
    flink.slow_details(&jid, Duration::from_millis(1500));
    let cluster = format!("local={}", flink.url());
    let (mut child, base) = start(&["--cluster", &cluster]);
    wait_ready(&base).await;

    let in_flight = tokio::spawn({
        let base = base.clone();
        async move { reqwest::get(format!("{base}/job/slow%20job/status/")).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let signalled = Instant::now();
    terminate(&child);

    let response = in_flight
        .await
        .unwrap()
        .expect("the in-flight request is answered");
    assert_eq!(
        response.status(),
        200,
        "the in-flight request finished normally"
    );
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["response"]["jid"], jid.as_str());

    let exit = wait::until(
        Duration::from_secs(5).saturating_sub(signalled.elapsed()),
        Duration::from_millis(20),
        "flink-monitor to exit within 5 s of SIGTERM",
        || {
            let exited = child.try_wait().unwrap();
            if exited.is_none() && signalled.elapsed() > Duration::from_secs(5) {
                // The last look: no monitor outlives a failed test.
                let _ = child.kill();
            }
            std::future::ready(exited)
        },
    )
    .await;
    assert!(exit.success(), "exit status {exit:?}");
    let log = stderr_of(&mut child);
    assert!(
        log.contains("shutting down") && log.contains("stopped"),
        "{log}"
    );
    // New connections are refused once it is gone.
    assert!(reqwest::get(format!("{base}/healthz")).await.is_err());
}

#[tokio::test]
async fn no_secret_reaches_the_log_or_the_api() {
    let flink = FakeFlink::empty(FlinkVersion::V2_3).await;
    flink.add_job(FakeJob::new("orders", "RUNNING"));
    let token_file = std::env::temp_dir().join(format!("fm-token-{}", std::process::id()));
    std::fs::write(&token_file, "tok-s3cret-value\n").unwrap();
    let mut with_credentials = flink.url();
    with_credentials.set_username("admin").unwrap();
    with_credentials
        .set_password(Some("pw-s3cret-value"))
        .unwrap();
    let cluster = format!("local={with_credentials}");
    let (mut child, base) = start(&[
        "--cluster",
        &cluster,
        "--enable-stop",
        "--stop-token-file",
        token_file.to_str().unwrap(),
    ]);
    wait_ready(&base).await;
    let http = reqwest::Client::new();
    let listed = first_cluster(&http, &base).await;
    let url = listed["url"].as_str().unwrap();
    assert!(!url.contains("s3cret") && !url.contains("admin"), "{url}");
    for (token, status) in [("wrong-s3cret-guess", 403), ("tok-s3cret-value", 200)] {
        let stop = http
            .get(format!("{base}/job/orders/stop/"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(stop.status(), status, "stop with the token {token:?}");
    }
    // Credentials of the cluster URL were sent to Flink, as the user asked.
    assert!(flink.requests().iter().any(|r| r.path == "/jobs/overview"));

    terminate(&child);
    let _ = child.wait();
    let log = stderr_of(&mut child);
    std::fs::remove_file(&token_file).ok();
    assert!(log.contains("job stop accepted"), "stops are logged: {log}");
    assert!(log.contains("stop refused"), "refusals are logged: {log}");
    assert!(
        !log.contains('\u{1b}'),
        "a log that goes to a file or pipe carries no colour codes: {log:?}"
    );
    for secret in ["pw-s3cret-value", "tok-s3cret-value", "wrong-s3cret-guess"] {
        assert!(
            !log.contains(secret),
            "{secret} leaked into the log:\n{log}"
        );
    }
}

fn tls_fixture(name: &str) -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tls/").to_string() + name
}

#[test]
fn start_up_errors_say_what_failed_and_what_to_do() {
    let empty = std::env::temp_dir().join(format!("fm-empty-token-{}", std::process::id()));
    std::fs::write(&empty, "  \n").unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "--cluster".into(),
                "a=http://x".into(),
                "--cluster".into(),
                "a=http://y".into(),
            ],
            "given more than once",
        ),
        (
            vec![
                "--enable-stop".into(),
                "--stop-token-file".into(),
                empty.display().to_string(),
            ],
            "is empty",
        ),
        (
            vec![
                "--enable-stop".into(),
                "--stop-token-file".into(),
                "/nonexistent/token".into(),
            ],
            "failed to read the stop token file",
        ),
        (
            vec!["--stop-token-file".into(), "/x".into()],
            "needs --enable-stop",
        ),
        (
            vec!["--cluster".into(), "bad.name=http://x".into()],
            "must be 1 to 63 characters",
        ),
        (
            vec![
                "--leader-election".into(),
                "--lease-duration".into(),
                "5s".into(),
                "--lease-renew-deadline".into(),
                "5s".into(),
            ],
            "must be shorter than --lease-duration",
        ),
        (
            // Fenced writes need room between renewals (issue 18, item 4).
            vec![
                "--leader-election".into(),
                "--lease-renew-deadline".into(),
                "10s".into(),
                "--lease-renew-period".into(),
                "9500ms".into(),
            ],
            "a leader needs room for writes between two renewals",
        ),
        (vec!["--kube-api-qps".into(), "0".into()], "--kube-api-qps"),
        // TLS files for secured JobManagers: the flag and the file are named.
        (
            vec!["--flink-ca-file".into(), "/nonexistent/ca.crt".into()],
            "cannot read --flink-ca-file /nonexistent/ca.crt",
        ),
        (
            vec!["--flink-ca-file".into(), tls_fixture("client.key")],
            "holds no certificate",
        ),
        (
            vec!["--flink-client-key".into(), tls_fixture("client.key")],
            "--flink-client-key needs --flink-client-cert",
        ),
        (
            vec![
                "--flink-client-cert".into(),
                tls_fixture("client.crt"),
                "--flink-client-key".into(),
                tls_fixture("other.key"),
            ],
            "the private key is not the one the certificate was issued for",
        ),
    ];
    for (args, expected) in cases {
        let output = binary()
            .args(["run", "--kubernetes", "off", "--listen", "127.0.0.1:0"])
            .args(&args)
            .output()
            .unwrap();
        assert!(!output.status.success(), "{args:?} should fail");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    std::fs::remove_file(&empty).ok();
    let version = binary().arg("--version").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("flink-monitor {}", env!("CARGO_PKG_VERSION"))
    );
}

/// The first (here: the only) cluster as `/clusters` shows it.
async fn first_cluster(http: &reqwest::Client, base: &str) -> serde_json::Value {
    let clusters = support::http::get_json(http, &format!("{base}/clusters")).await;
    clusters["response"][0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_api_requests_never_makes_a_slow_jobmanager_look_unreachable() {
    let flink = FakeFlink::empty(FlinkVersion::V2_3).await;
    let mut names = Vec::new();
    for i in 0..60 {
        let name = format!("job-{i}");
        let jid = flink.add_job(FakeJob::new(&name, "RUNNING").like(Recorded::Stream));
        // Healthy, but slow to answer job details: 3 s of the 5 s budget.
        flink.slow_details(&jid, Duration::from_secs(3));
        names.push(name);
    }
    let cluster = format!("local={}", flink.url());
    let (mut child, base) = start(&["--cluster", &cluster, "--request-timeout", "5s"]);
    wait_ready(&base).await;
    let http = reqwest::Client::new();

    // API requests keep coming over every job, faster than 4 slots of 3 s each serve
    // them: the queue for the per-cluster slots never empties while the samples are taken.
    // (Before polls had their own lane, they waited in that queue: seconds without a poll,
    // and `reachable: false` when the wait ate the 5 s budget.)
    let load = CancellationToken::new();
    let burst = tokio::spawn({
        let (http, base, load) = (http.clone(), base.clone(), load.clone());
        async move {
            let mut sent = Vec::new();
            for i in 0.. {
                if load.is_cancelled() {
                    break;
                }
                let url = format!("{base}/job/{}/statusAndMetrics/", names[i % names.len()]);
                let http = http.clone();
                sent.push(tokio::spawn(async move { http.get(url).send().await }));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            sent
        }
    });
    let mut samples = Vec::new();
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        samples.push(first_cluster(&http, &base).await);
    }
    load.cancel();
    for request in burst.await.unwrap() {
        let _ = request.await;
    }
    terminate(&child);
    let _ = child.wait();
    let log = stderr_of(&mut child);
    let unreachable: Vec<_> = samples
        .iter()
        .filter(|view| view["reachable"] != true)
        .collect();
    assert!(
        unreachable.is_empty(),
        "{} of {} samples said unreachable: {unreachable:?}",
        unreachable.len(),
        samples.len()
    );
    assert!(!log.contains("cluster unreachable"), "{log}");
    // Nor are the polls held up: one is due every 200 ms, so no run of 10 samples (3 s)
    // shows the same last poll. (Before polls had their own lane: 16 samples, 5 s. The
    // margin is for a loaded CI machine, not a speed goal.)
    let polls: Vec<i64> = samples
        .iter()
        .map(|view| view["lastPoll"].as_i64().expect("lastPoll"))
        .collect();
    let longest = polls
        .chunk_by(|a, b| a == b)
        .map(<[i64]>::len)
        .max()
        .unwrap_or(0);
    assert!(
        longest < 10,
        "{longest} samples in a row show the same last poll: polls waited behind API requests ({polls:?})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_metrics_scrapes_agree() {
    let states = ["RUNNING", "FAILED", "FINISHED", "CANCELED", "RESTARTING"];
    let mut flinks = Vec::new();
    let mut args = Vec::new();
    for c in 0..3 {
        let flink = FakeFlink::empty(FlinkVersion::V2_3).await;
        for i in 0..300 {
            flink.add_job(FakeJob::new(
                &format!("job-{c}-{i}"),
                states[i % states.len()],
            ));
        }
        args.push("--cluster".to_string());
        args.push(format!("c{c}={}", flink.url()));
        flinks.push(flink);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (mut child, base) = start(&args);
    wait_ready(&base).await;
    let http = reqwest::Client::new();
    // What the registry's gauges say; nothing changes in Flink meanwhile.
    let registry_gauges = |text: &str| -> std::collections::BTreeSet<String> {
        text.lines()
            .filter(|l| {
                l.starts_with("flink_monitor_jobs{")
                    || l.starts_with("flink_monitor_clusters_by_source{")
            })
            .map(String::from)
            .collect()
    };
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..3 {
        let scrapes: Vec<_> = (0..40)
            .map(|_| {
                let (http, url) = (http.clone(), format!("{base}/metrics"));
                tokio::spawn(async move { http.get(url).send().await?.text().await })
            })
            .collect();
        for scrape in scrapes {
            let text = scrape.await.unwrap().expect("a scrape");
            seen.insert(registry_gauges(&text));
        }
    }
    terminate(&child);
    let _ = child.wait();
    let _ = stderr_of(&mut child);
    assert_eq!(seen.len(), 1, "scrapes disagreed: {seen:#?}");
    let values = seen.into_iter().next().unwrap();
    assert!(
        values.contains("flink_monitor_jobs{state=\"RUNNING\"} 180"),
        "{values:#?}"
    );
    assert!(
        values.contains("flink_monitor_clusters_by_source{source=\"static\",reachable=\"true\"} 3"),
        "{values:#?}"
    );
}
