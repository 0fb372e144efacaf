//! The client's lanes: the poller's calls never wait behind API requests for the
//! per-cluster concurrency slots, API requests keep that limit, and the request timeout
//! is Flink's answer time, not the wait for a slot.

mod support;

use std::time::Duration;

use axum::http::Method;
use flink_monitor::flink::dto::JobDetails;
use flink_monitor::flink::{ClientSettings, FlinkClient, FlinkError};
use support::fake_flink::{FakeFlink, FakeJob, Fault, FlinkVersion, Gate};
use tokio::task::JoinHandle;

fn client(flink: &FakeFlink, concurrency: usize, timeout: Duration) -> FlinkClient {
    FlinkClient::new(
        FlinkClient::http_client().unwrap(),
        flink.url(),
        ClientSettings {
            timeout,
            concurrency,
            ..ClientSettings::default()
        },
    )
}

/// `client.job(jid)` in a task, once Flink has received it.
async fn job_read_in_flight(
    client: &FlinkClient,
    flink: &FakeFlink,
    jid: &str,
) -> JoinHandle<Result<JobDetails, FlinkError>> {
    let read = tokio::spawn({
        let (client, jid) = (client.clone(), jid.to_string());
        async move { client.job(&jid).await }
    });
    while flink.calls(&format!("/jobs/{jid}")) == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    read
}

#[tokio::test]
async fn a_poll_never_waits_behind_api_requests_and_api_requests_keep_their_limit() {
    let flink = FakeFlink::empty(FlinkVersion::V2_3).await;
    let jid = flink.add_job(FakeJob::new("held", "RUNNING"));
    let gate = Gate::new();
    flink.inject(Method::GET, &format!("/jobs/{jid}"), Fault::held(&gate));
    let client = client(&flink, 1, Duration::from_secs(2));

    // The one API slot is taken by a call Flink does not answer.
    let held = job_read_in_flight(&client, &flink, &jid).await;
    let queued = tokio::spawn({
        let (client, jid) = (client.clone(), jid.clone());
        async move { client.exceptions(&jid).await }
    });

    // The poller's calls go by.
    let overview = client.jobs_overview().await.expect("the poll is answered");
    assert_eq!(overview.jobs.len(), 1);
    client.config().await.expect("/config is answered");

    // The second API request waited for the slot instead of reaching Flink.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(flink.calls(&format!("/jobs/{jid}/exceptions")), 0);
    gate.open();
    held.await
        .unwrap()
        .expect("the held call is answered once the gate opens");
    queued.await.unwrap().expect("the queued call is answered");
    assert_eq!(flink.calls(&format!("/jobs/{jid}/exceptions")), 1);
}

#[tokio::test]
async fn the_request_timeout_is_flinks_answer_time_not_the_wait_for_a_slot() {
    let flink = FakeFlink::empty(FlinkVersion::V2_3).await;
    let jid = flink.add_job(FakeJob::new("slow", "RUNNING"));
    flink.slow_details(&jid, Duration::from_millis(1500));
    flink.inject(
        Method::GET,
        &format!("/jobs/{jid}/exceptions"),
        Fault::slow(Duration::from_millis(1000)),
    );
    // Each answer comes within the 2 s budget; the second only after waiting 1.5 s for
    // the one slot.
    let client = client(&flink, 1, Duration::from_secs(2));
    let first = job_read_in_flight(&client, &flink, &jid).await;
    let second = client.exceptions(&jid).await;
    first.await.unwrap().expect("the first call is answered");
    second.expect("the second call is answered: its wait for the slot is not Flink's time");
}
