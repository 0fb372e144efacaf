//! The write gate against a hand-played API server, on tokio's paused clock.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::time::Instant;

use super::*;
use crate::testing::apiserver::{self, Handle};

fn request(name: &str) -> http::Request<Vec<u8>> {
    http::Request::post(format!("/api/v1/namespaces/ns/configmaps?name={name}"))
        .body(b"{}".to_vec())
        .unwrap()
}

/// A gate over a mocked API server, leading as `lead` says.
fn gate(limits: WriteLimits, lead: Lead) -> (WriteGate, kube::Client, Handle, watch::Sender<Lead>) {
    let (client, handle) = apiserver::client("ns");
    let (tx, rx) = watch::channel(lead);
    (WriteGate::start(limits, rx), client, handle, tx)
}

/// Sends `name` through the gate in the background.
fn spawn_write(
    gate: &WriteGate,
    client: &kube::Client,
    name: &str,
    priority: Priority,
) -> tokio::task::JoinHandle<Result<Value, WriteError>> {
    let (gate, client, request) = (gate.clone(), client.clone(), request(name));
    tokio::spawn(async move {
        gate.send::<Value>(&client, request, priority, Fence::Leader, WriteKind::Status)
            .await
    })
}

/// The `name` query parameter of the next request, and its whole URI.
async fn next_name(
    handle: &mut Handle,
) -> (
    String,
    String,
    tower_test::mock::SendResponse<http::Response<kube::client::Body>>,
) {
    let (request, send) = handle.next_request().await.expect("a request");
    let uri = request.uri().to_string();
    let name = uri
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("name="))
        .unwrap_or_default()
        .to_string();
    (name, uri, send)
}

fn ok() -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}})
}

#[tokio::test(start_paused = true)]
async fn writes_leave_at_the_rate_after_a_burst() {
    let limits = WriteLimits {
        qps: 10.0,
        burst: 3,
        in_flight: 16,
    };
    let (gate, client, mut handle, _lead) = gate(limits, Lead::Unfenced);
    let start = Instant::now();
    let writes: Vec<_> = (0..8)
        .map(|i| spawn_write(&gate, &client, &format!("w{i}"), Priority::Known))
        .collect();
    let mut arrived = Vec::new();
    for _ in 0..8 {
        let (_, _, send) = next_name(&mut handle).await;
        arrived.push(Instant::now() - start);
        apiserver::answer(send, 200, &ok());
    }
    for write in writes {
        write.await.unwrap().unwrap();
    }
    let at_once = arrived.iter().filter(|t| t.is_zero()).count();
    assert_eq!(at_once, 3, "the burst leaves at once: {arrived:?}");
    // Then one every 100 ms: the 8th at 500 ms.
    assert_eq!(arrived[7], Duration::from_millis(500), "{arrived:?}");
}

#[tokio::test(start_paused = true)]
async fn a_known_jobs_write_goes_before_waiting_first_time_mirrors() {
    let limits = WriteLimits {
        qps: 1000.0,
        burst: 1000,
        in_flight: 1,
    };
    let (gate, client, mut handle, _lead) = gate(limits, Lead::Unfenced);
    let first = spawn_write(&gate, &client, "first", Priority::New);
    let (name, _, held) = next_name(&mut handle).await;
    assert_eq!(name, "first");
    // While the only slot is taken: three new mirrors wait, then a known job's change.
    let mut waiting = Vec::new();
    for i in 0..3 {
        waiting.push(spawn_write(
            &gate,
            &client,
            &format!("new{i}"),
            Priority::New,
        ));
        tokio::task::yield_now().await;
    }
    waiting.push(spawn_write(&gate, &client, "known", Priority::Known));
    tokio::time::sleep(Duration::from_millis(10)).await;
    apiserver::answer(held, 200, &ok());
    first.await.unwrap().unwrap();
    let mut order = Vec::new();
    for _ in 0..4 {
        let (name, _, send) = next_name(&mut handle).await;
        order.push(name);
        apiserver::answer(send, 200, &ok());
    }
    assert_eq!(order[0], "known", "{order:?}");
    for write in waiting {
        write.await.unwrap().unwrap();
    }
}

#[tokio::test(start_paused = true)]
async fn only_so_many_writes_are_in_flight() {
    let limits = WriteLimits {
        qps: 1000.0,
        burst: 1000,
        in_flight: 2,
    };
    let (gate, client, mut handle, _lead) = gate(limits, Lead::Unfenced);
    let writes: Vec<_> = (0..5)
        .map(|i| spawn_write(&gate, &client, &format!("w{i}"), Priority::Known))
        .collect();
    let (_, _, a) = next_name(&mut handle).await;
    let (_, _, b) = next_name(&mut handle).await;
    let third = tokio::time::timeout(Duration::from_secs(5), handle.next_request()).await;
    assert!(
        third.is_err(),
        "a third write left while two were in flight"
    );
    apiserver::answer(a, 200, &ok());
    apiserver::answer(b, 200, &ok());
    for _ in 0..3 {
        let (_, _, send) = next_name(&mut handle).await;
        apiserver::answer(send, 200, &ok());
    }
    for write in writes {
        write.await.unwrap().unwrap();
    }
}

#[tokio::test(start_paused = true)]
async fn a_429_pauses_every_write_for_its_retry_after() {
    let (gate, client, mut handle, _lead) = gate(WriteLimits::default(), Lead::Unfenced);
    let refused = spawn_write(&gate, &client, "refused", Priority::Known);
    let (_, _, send) = next_name(&mut handle).await;
    let mut status = apiserver::failure(429, "TooManyRequests");
    status["details"] = json!({"retryAfterSeconds": 2});
    apiserver::answer(send, 429, &status);
    let error = refused.await.unwrap().unwrap_err();
    assert_eq!(error.code(), Some(429));
    let paused_at = Instant::now();
    let others: Vec<_> = (0..3)
        .map(|i| spawn_write(&gate, &client, &format!("w{i}"), Priority::Known))
        .collect();
    for _ in 0..3 {
        let (_, _, send) = next_name(&mut handle).await;
        assert!(
            Instant::now() - paused_at >= Duration::from_secs(2),
            "a write left {:?} after a 429 asking for 2 s",
            Instant::now() - paused_at
        );
        apiserver::answer(send, 200, &ok());
    }
    for write in others {
        write.await.unwrap().unwrap();
    }
}

#[tokio::test(start_paused = true)]
async fn a_leaders_write_carries_the_end_of_its_leadership_and_is_given_up_then() {
    let until = Instant::now() + Duration::from_millis(1500);
    let (gate, client, mut handle, lead) = gate(WriteLimits::default(), Lead::Until(until));
    let write = spawn_write(&gate, &client, "fenced", Priority::Known);
    let (_, uri, _never_answered) = next_name(&mut handle).await;
    assert!(uri.ends_with("&timeout=1500ms"), "{uri}");
    let error = write.await.unwrap().unwrap_err();
    assert!(matches!(error, WriteError::TimedOut(_)), "{error}");
    assert_eq!(
        Instant::now(),
        until,
        "given up at the end of leadership, not later"
    );

    // Too close to the end, or not leading: nothing is sent.
    lead.send_replace(Lead::Until(Instant::now() + MIN_WRITE_TIME / 2));
    let error = spawn_write(&gate, &client, "late", Priority::Known)
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(error, WriteError::NotLeader), "{error}");
    lead.send_replace(Lead::Standby);
    let error = spawn_write(&gate, &client, "standby", Priority::Known)
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(error, WriteError::NotLeader), "{error}");
    let next = tokio::time::timeout(Duration::from_secs(1), handle.next_request()).await;
    assert!(next.is_err(), "a write left without leadership");
    assert!(gate.summary().unwrap().contains("not sent (lease) 2"));
}

#[tokio::test(start_paused = true)]
async fn an_unfenced_write_is_bounded_by_the_write_timeout() {
    let (gate, client, mut handle, _lead) = gate(WriteLimits::default(), Lead::Unfenced);
    let write = spawn_write(&gate, &client, "w", Priority::New);
    let (_, uri, _never_answered) = next_name(&mut handle).await;
    assert!(uri.ends_with("&timeout=10000ms"), "{uri}");
    let started = Instant::now();
    assert!(matches!(
        write.await.unwrap().unwrap_err(),
        WriteError::TimedOut(_)
    ));
    assert_eq!(Instant::now() - started, WRITE_TIMEOUT);
}
