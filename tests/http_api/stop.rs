//! The HTTP API: stop, the order of the checks, and names.

use axum::http::{Method, StatusCode, header};
use flink_monitor::api::StopGuard;
use serde_json::{Value, json};

use crate::support::fake_flink::{
    FakeFlink, FakeJob, Fault, FlinkVersion, Recorded, fixture, now_ms,
};

use crate::support::api_app::*;

// ---------------------------------------------------------------------------------------
// stop

/// How many cancels of `jid` reached Flink.
fn cancels(fake: &FakeFlink, jid: &str) -> usize {
    fake.calls_to(Method::PATCH, &format!("/jobs/{jid}?mode=cancel"))
}

/// `answer` says Flink accepted the cancel of `jid`, and exactly one cancel reached Flink.
#[track_caller]
fn assert_cancelled(answer: &Answer, fake: &FakeFlink, jid: &str) {
    let accepted = format!("cancel of job {jid} on cluster alpha accepted by flink");
    answer.assert_ok_with(json!(1), &[&accepted]);
    assert_eq!(cancels(fake, jid), 1, "{}", answer.request);
}

#[tokio::test]
async fn stop_is_disabled_by_default() {
    let paths = [
        "/job/lab-stream/stop",
        "/job/lab-stream/stop/",
        "/clusters/alpha/job/lab-stream/stop",
        // Before the job and before the query.
        "/job/nope/stop",
        "/job/lab-finish/stop",
        "/job/lab-stream/stop?mode=kill",
    ];
    let methods = [Method::GET, Method::POST];
    let disabled = Options::default();
    let (fake, _app) =
        one_cluster_answering(disabled, &methods, &paths, NOT_ALLOWED, &[STOP_DISABLED]).await;
    assert!(
        fake.requests().iter().all(|r| r.method == Method::GET),
        "nothing but reads reached Flink"
    );
}

#[tokio::test]
async fn stop_cancels_the_job_and_checks_flinks_answer() {
    for version in FlinkVersion::ALL {
        let (fake, app) = one_cluster(version, Options::guard(StopGuard::Open)).await;
        let jid = fake.jid_of("lab-stream");
        let answer = app.get("/job/lab-stream/stop").await;
        assert_cancelled(&answer, &fake, &jid);
        assert_eq!(fake.calls(&format!("/jobs/{jid}/stop")), 0);
        // The monitor polls again soon after a stop.
        app.job_state("alpha", &jid, "CANCELED").await;
        let errors = app.get("/job/lab-stream/stop").await.assert_error(TERMINAL);
        assert_eq!(errors, ["the job is CANCELED"]);
        assert_eq!(cancels(&fake, &jid), 1, "{version:?}");

        // POST too, and under a cluster.
        let other = fake.add_job(FakeJob::new("other", "RUNNING"));
        app.job_state("alpha", &other, "RUNNING").await;
        let answer = app
            .call(
                Method::POST,
                "/clusters/alpha/job/other/stop/?mode=cancel",
                &[],
            )
            .await;
        assert_cancelled(&answer, &fake, &other);
    }
}

#[tokio::test]
async fn stop_with_a_savepoint_answers_the_trigger_id() {
    let (fake, app) = one_cluster(FlinkVersion::V2_3, Options::guard(StopGuard::Open)).await;
    let jid = fake.jid_of("lab-stream");
    let answer = app
        .call(
            Method::POST,
            "/job/lab-stream/stop/?mode=savepoint&targetDirectory=file%3A%2F%2F%2Ftmp%2Fsp&drain=true",
            &[],
        )
        .await;
    let body = answer.json();
    assert_eq!(answer.status, StatusCode::OK, "{body}");
    assert_eq!(keys(&body), ["messages", "response"]);
    assert_eq!(body["response"], 1);
    let posts: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.method == Method::POST)
        .collect();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].path, format!("/jobs/{jid}/stop"));
    let sent: Value = serde_json::from_slice(&posts[0].body).expect("a JSON body");
    assert_eq!(
        sent,
        json!({"drain": true, "targetDirectory": "file:///tmp/sp"})
    );
    // The trigger id is Flink's: it can be polled on Flink.
    let message = body["messages"][0].as_str().expect("a message");
    let trigger = message
        .strip_prefix("trigger-id: ")
        .unwrap_or_else(|| panic!("{message}"));
    assert_eq!(body["messages"], json!([format!("trigger-id: {trigger}")]));
    let poll = reqwest::get(format!("{}jobs/{jid}/savepoints/{trigger}", fake.url()))
        .await
        .expect("poll");
    assert_eq!(poll.status(), 200);

    // Without a directory or drain, Flink's defaults.
    let other = fake.add_job(FakeJob::new("other", "RUNNING"));
    app.job_state("alpha", &other, "RUNNING").await;
    let answer = app
        .get("/clusters/alpha/job/other/stop?mode=savepoint")
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let post = fake
        .requests()
        .into_iter()
        .rfind(|r| r.method == Method::POST)
        .expect("a stop");
    assert_eq!(post.path, format!("/jobs/{other}/stop"));
    let sent: Value = serde_json::from_slice(&post.body).expect("a JSON body");
    assert_eq!(sent, json!({"drain": false}));
}

#[tokio::test]
async fn stop_with_a_token_wants_exactly_that_token() {
    let (fake, app) = one_cluster(
        FlinkVersion::V1_20,
        Options::guard(StopGuard::StaticToken("s3cret".into())),
    )
    .await;
    let jid = fake.jid_of("lab-stream");
    for path in [
        "/job/lab-stream/stop",
        "/job/nope/stop",
        "/job/lab-stream/stop?mode=kill",
    ] {
        let answer = app.get(path).await;
        let errors = answer.assert_error(NEEDS_CREDENTIALS);
        assert_eq!(errors, ["send Authorization: Bearer <token>"]);
        assert_eq!(answer.header(header::WWW_AUTHENTICATE), Some("Bearer"));
        for wrong in ["Bearer s3cre", "Bearer s3cret2", "Bearer S3CRET"] {
            let answer = app
                .call(Method::GET, path, &[(header::AUTHORIZATION, wrong)])
                .await;
            let errors = answer.assert_error(NOT_ALLOWED);
            assert_eq!(
                errors,
                ["the bearer token is not the stop token"],
                "{wrong}"
            );
        }
        for not_bearer in ["Basic s3cret", "s3cret", "Bearer "] {
            let answer = app
                .call(Method::GET, path, &[(header::AUTHORIZATION, not_bearer)])
                .await;
            answer.assert_error(NEEDS_CREDENTIALS);
        }
    }
    assert_eq!(
        fake.calls(&format!("/jobs/{jid}")),
        0,
        "nothing reached Flink"
    );
    // With the token, the query is checked next, then the job.
    let auth = [(header::AUTHORIZATION, "Bearer s3cret")];
    app.call(Method::GET, "/job/lab-stream/stop?mode=kill", &auth)
        .await
        .assert_error(MALFORMED);
    app.call(Method::GET, "/job/nope/stop", &auth)
        .await
        .assert_error(JOB_NOT_FOUND);
    let answer = app.call(Method::POST, "/job/lab-stream/stop", &auth).await;
    assert_cancelled(&answer, &fake, &jid);
}

#[tokio::test]
async fn stop_of_an_ended_job_is_4008() {
    let (fake, app) = one_cluster(FlinkVersion::V2_3, Options::guard(StopGuard::Open)).await;
    for (name, state) in [("lab-finish", "FINISHED"), ("lab-fail", "FAILED")] {
        for query in ["", "?mode=savepoint"] {
            let errors = app
                .get(&format!("/job/{name}/stop{query}"))
                .await
                .assert_error(TERMINAL);
            assert_eq!(errors, [format!("the job is {state}")]);
        }
    }
    assert!(
        fake.requests().iter().all(|r| r.method == Method::GET),
        "nothing was sent to Flink"
    );
}

#[tokio::test]
async fn stop_refused_by_flink_because_the_job_ended_is_4008() {
    let (fake, app) = one_cluster(FlinkVersion::V1_20, Options::guard(StopGuard::Open)).await;
    let jid = fake.jid_of("lab-stream");
    // The job ended since the last poll: Flink answers 409, as recorded.
    let refusal = fixture(FlinkVersion::V1_20, "cancel_finished.json");
    fake.inject(
        Method::PATCH,
        &format!("/jobs/{jid}"),
        Fault::json(409, refusal),
    );
    let errors = app.get("/job/lab-stream/stop").await.assert_error(TERMINAL);
    assert_eq!(errors, ["the job is already terminal according to flink"]);
    assert_eq!(cancels(&fake, &jid), 1);

    // Any other refusal is Flink's error: 5005; a job Flink does not know: 4006.
    fake.inject(Method::PATCH, &format!("/jobs/{jid}"), Fault::error(500));
    let errors = app
        .get("/job/lab-stream/stop")
        .await
        .assert_error_lines(FLINK_UNAVAILABLE, &["cluster alpha: "]);
    assert!(errors[0].contains("HTTP 500"), "{errors:?}");
    fake.inject(
        Method::PATCH,
        &format!("/jobs/{jid}"),
        Fault::json(404, fixture(FlinkVersion::V1_20, "cancel_unknown.json")),
    );
    app.get("/job/lab-stream/stop")
        .await
        .assert_error(JOB_NOT_FOUND);
    fake.inject(Method::POST, &format!("/jobs/{jid}/stop"), Fault::html(502));
    app.get("/job/lab-stream/stop?mode=savepoint")
        .await
        .assert_error(FLINK_UNAVAILABLE);
    assert_eq!(fake.edit(|m| m.state(&jid)).as_deref(), Some("RUNNING"));
}

// ---------------------------------------------------------------------------------------
// the order of the checks

#[tokio::test]
async fn checks_happen_in_the_contracts_order() {
    let fake = FakeFlink::start(FlinkVersion::V1_20).await;
    for (guard, cases) in [
        (
            StopGuard::Disabled,
            vec![
                ("POST", "/nope", 4004),
                ("PUT", "/clusters/nope/job/%FF/status", 4005),
                ("HEAD", "/clusters/nope/job//stop?mode=kill", 4005),
                ("GET", "/clusters/nope/job/%FF/status", 4001),
                ("GET", "/clusters/nope/job//stop?mode=kill", 4001),
                ("GET", "/job//stop?mode=kill", 4001),
                ("GET", "/clusters/nope/job/lab-stream/stop?mode=kill", 4009),
                ("GET", "/job/nope/stop?mode=kill", 4010),
                ("GET", "/job/nope/stop", 4010),
                ("GET", "/job/lab-finish/stop", 4010),
            ],
        ),
        (
            StopGuard::StaticToken("t".into()),
            vec![
                ("GET", "/clusters/nope/job/x/stop", 4009),
                ("GET", "/job/nope/stop?mode=kill", 4010),
            ],
        ),
        (
            StopGuard::Open,
            vec![
                ("GET", "/job/nope/stop?mode=kill", 4001),
                ("GET", "/job/nope/stop?mode=savepoint&drain=maybe", 4001),
                ("GET", "/job/lab-finish/stop?mode=kill", 4001),
                ("GET", "/job/nope/stop", 4006),
                ("GET", "/job/lab-finish/stop", 4008),
                ("GET", "/job/nope/status", 4006),
            ],
        ),
    ] {
        let app = start(
            vec![static_cluster("alpha", fake.url())],
            Options::guard(guard),
        );
        app.reachable("alpha").await;
        for (method, path, code) in cases {
            let method: Method = method.parse().expect("a method");
            let answer = app.call(method.clone(), path, &[]).await;
            if method == Method::HEAD {
                assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED, "{path}");
                continue;
            }
            let body = answer.json();
            assert_eq!(body["errorCode"], code, "{method} {path}: {body}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// names and the choice among jobs with the same name

#[tokio::test]
async fn the_same_name_means_the_live_job_then_the_newest_then_the_greatest_jid() {
    let (fake, app) = one_cluster(FlinkVersion::V2_3, Options::guard(StopGuard::Open)).await;
    let now = now_ms();
    let running = fake.add_job(FakeJob::new("orders", "RUNNING").started_at(now - 100_000));
    let cancelled = fake.add_job(FakeJob::new("orders", "CANCELED").started_at(now - 10_000));
    app.job_state("alpha", &cancelled, "CANCELED").await;
    // A running job beats a newer cancelled one.
    assert_eq!(
        app.get("/job/orders/status").await.response()["jid"],
        running
    );

    // Among live jobs the newest (every non-terminal state is live).
    let restarting = fake.add_job(FakeJob::new("orders", "RESTARTING").started_at(now - 50_000));
    app.job_state("alpha", &restarting, "RESTARTING").await;
    for path in ["/job/orders/status", "/clusters/alpha/job/orders/status"] {
        assert_eq!(app.get(path).await.response()["jid"], restarting);
    }
    let metrics = app.get("/job/orders/statusAndMetrics").await.response();
    assert_eq!(metrics["details"]["jid"], restarting);
    assert_eq!(metrics["details"]["state"], "RESTARTING");

    // Among ended jobs the newest.
    let finished = fake.add_job(
        FakeJob::new("done", "FINISHED")
            .like(Recorded::Finish)
            .started_at(now - 100_000),
    );
    let failed = fake.add_job(
        FakeJob::new("done", "FAILED")
            .like(Recorded::Fail)
            .started_at(now - 20_000),
    );
    app.job_state("alpha", &finished, "FINISHED").await;
    app.job_state("alpha", &failed, "FAILED").await;
    assert_eq!(app.get("/job/done/status").await.response()["jid"], failed);
    let root = app.get("/job/done/exceptions").await.response();
    assert!(
        root["root-exception"]
            .as_str()
            .is_some_and(|e| e.contains("NoRestartBackoffTimeStrategy")),
        "{root}"
    );

    // Same start: the greater jid.
    let low = "00000000000000000000000000000001";
    let high = "ffffffffffffffffffffffffffffff01";
    fake.add_job(
        FakeJob::new("tie", "RUNNING")
            .jid(low)
            .started_at(now - 5_000),
    );
    fake.add_job(
        FakeJob::new("tie", "RUNNING")
            .jid(high)
            .started_at(now - 5_000),
    );
    app.job_state("alpha", high, "RUNNING").await;
    app.job_state("alpha", low, "RUNNING").await;
    assert_eq!(app.get("/job/tie/status").await.response()["jid"], high);

    // Stop acts on the job the name means.
    assert_cancelled(&app.get("/job/orders/stop").await, &fake, &restarting);
    assert_eq!(cancels(&fake, &running), 0);
    assert_eq!(fake.edit(|m| m.state(&running)).as_deref(), Some("RUNNING"));
}

#[tokio::test]
async fn names_with_spaces_non_ascii_and_slashes_are_percent_encoded() {
    let (fake, app) = one_cluster(FlinkVersion::V1_20, Options::default()).await;
    let names = [
        "name with spaces",
        "заказы ü 注文",
        "a/b",
        "50%",
        "x?y#z",
        "+plus+",
    ];
    let mut jids = Vec::new();
    for name in names {
        jids.push(fake.add_job(FakeJob::new(name, "RUNNING")));
    }
    for jid in &jids {
        app.job_state("alpha", jid, "RUNNING").await;
    }
    for (name, jid) in names.iter().zip(&jids) {
        let encoded = encode(name);
        for path in [
            format!("/job/{encoded}/status"),
            format!("/clusters/alpha/job/{encoded}/statusAndMetrics/"),
            format!("/jobs/{encoded}/exceptions"),
        ] {
            let response = app.get(&path).await.response();
            let status = response.get("details").unwrap_or(&response);
            if status.get("jid").is_some() {
                assert_eq!(status["jid"], *jid, "{path}");
                assert_eq!(status["name"], *name, "{path}");
            }
        }
    }
    // `a%2Fb` is the name "a/b"; `a/b` is another path.
    app.get("/job/a/b/status").await.assert_error(NO_SUCH_PATH);
    // `+` is not a space in a path.
    app.get("/job/name+with+spaces/status")
        .await
        .assert_error(JOB_NOT_FOUND);
    // Names are case-sensitive and exact.
    app.get("/job/NAME%20WITH%20SPACES/status")
        .await
        .assert_error(JOB_NOT_FOUND);
}
