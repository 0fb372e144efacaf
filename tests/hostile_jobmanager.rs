//! The transport against scripted hostile JobManagers (DESIGN.md, "Talking to JobManagers"
//! and "Testing layers" 6; issue 18 item 3), black-box: the real binary in standalone mode
//! polls a [`ScriptedJobManager`] that misbehaves on the wire in one way per test, and a
//! well-behaved one beside it; the test reads only the monitoring API, what the servers
//! received and the binary's memory (`/proc/PID/status`).
//!
//! Every test checks, besides its own point:
//! - no false state: `jobs/overview/` of the hostile cluster never lists a job the
//!   JobManager does not have, in any sample taken while it misbehaves;
//! - the call fails with an error naming the JobManager (where failing is the only right
//!   answer), and the first poll after it behaves again is correct;
//! - no connection is used again after an answer that forbids it (hostile answers other
//!   than a well-framed redirect), and nothing reaches a decoy the answers point to;
//! - memory stays bounded (peak RSS less than [`MEMORY_BOUND_KIB`] above the start), and
//!   the well-behaved cluster keeps its poll cadence.

mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use support::hostile::{
    self, Answer, Api, FORGED_JOB, Memory, Monitor, REQUEST_TIMEOUT, Request, ScriptedJobManager,
    Step, chunked, forged_overview, head,
};

const HOSTILE: &str = "hostile";
const STEADY: &str = "steady";
/// Peak resident memory may grow this much over a case (a bound for failing, not a goal:
/// the misbehaving answers are 64 MiB; the limit is 1 MiB).
const MEMORY_BOUND_KIB: u64 = 20 * 1024;
/// The well-behaved cluster is polled every 200 ms; a longer gap than this between two of
/// its successful polls means the hostile one held it up. (A bound for failing on a loaded
/// machine, not a speed goal.)
const CADENCE_BOUND: Duration = Duration::from_millis(2000);
/// How long a case waits for what it expects before failing.
const PATIENCE: Duration = Duration::from_secs(15);
const MIB: usize = 1024 * 1024;

/// One sample of what the monitoring API shows while a case runs.
struct Sample {
    hostile_jobs: BTreeSet<(String, String)>,
    steady_last_poll: Option<i64>,
    at: Instant,
}

/// The servers and the monitor of one case, and the samples taken meanwhile.
struct Case {
    jm: ScriptedJobManager,
    steady: ScriptedJobManager,
    /// Where hostile answers point (redirects); must never hear from the monitor.
    decoy: ScriptedJobManager,
    monitor: Monitor,
    baseline: Memory,
    stop_sampling: CancellationToken,
    sampling: Option<JoinHandle<Vec<Sample>>>,
}

impl Case {
    async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// Both clusters polled and correct, then sampling starts.
    async fn start_with(extra: &[&str]) -> Self {
        let jm = ScriptedJobManager::start(&["orders", "payments"]).await;
        let steady = ScriptedJobManager::start(&["steady-job"]).await;
        let decoy = ScriptedJobManager::start(&["decoy-job"]).await;
        let monitor =
            Monitor::start_with(&[(HOSTILE, jm.url()), (STEADY, steady.url())], extra).await;
        for (id, server) in [(HOSTILE, &jm), (STEADY, &steady)] {
            let truth = truth(server);
            let mut last = BTreeSet::new();
            let deadline = Instant::now() + PATIENCE;
            while last != truth {
                assert!(
                    Instant::now() < deadline,
                    "cluster {id} never showed its jobs {truth:?}: {last:?}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
                last = monitor.api().overview(id).await.into_iter().collect();
            }
        }
        let baseline = monitor.memory();
        let stop_sampling = CancellationToken::new();
        let sampling = Some(tokio::spawn(sample(
            monitor.api().clone(),
            stop_sampling.clone(),
        )));
        Self {
            jm,
            steady,
            decoy,
            monitor,
            baseline,
            stop_sampling,
            sampling,
        }
    }

    async fn hostile_cluster(&self) -> Value {
        self.monitor.api().cluster(HOSTILE).await
    }

    /// Waits until the hostile cluster is unreachable for at least one hostile answer, and
    /// answers its `lastError`, which must name the JobManager.
    async fn expect_poll_failure(&self) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            self.expect_memory_bounded();
            let view = self.hostile_cluster().await;
            if self.jm.hostile_answers() > 0 && view["reachable"] == false {
                let error = view["lastError"].as_str().unwrap_or_default().to_string();
                assert!(
                    error.contains(self.jm.url()),
                    "the poll error does not name the JobManager {}: {view}",
                    self.jm.url()
                );
                // The overview of all clusters says which one its jobs may be stale for.
                let (_, overview) = self.monitor.api().get("/jobs/overview/").await;
                let messages = overview["messages"].to_string();
                assert!(
                    messages.contains(&format!("cluster {HOSTILE} is unreachable")),
                    "jobs/overview/ names the unreachable cluster: {overview}"
                );
                return error;
            }
            assert!(
                Instant::now() < deadline,
                "the cluster stayed reachable through {} hostile answers, the first {:?} ago \
                 (request timeout {REQUEST_TIMEOUT:?}): the misbehaving answer was taken as \
                 Flink's, or the call outlived its timeout. /clusters/{HOSTILE}: {view}; \
                 jobs/overview/: {:?}",
                self.jm.hostile_answers(),
                self.jm
                    .requests()
                    .iter()
                    .find(|r| r.hostile)
                    .map(|r| r.at.elapsed()),
                self.monitor.api().overview(HOSTILE).await
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until the server gave `count` hostile answers.
    async fn expect_hostile_answers(&self, count: usize) {
        let deadline = Instant::now() + PATIENCE;
        while self.jm.hostile_answers() < count {
            self.expect_memory_bounded();
            assert!(
                Instant::now() < deadline,
                "only {} of {count} hostile answers asked for within {PATIENCE:?}",
                self.jm.hostile_answers()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The JobManager behaves again for exactly one poll (later ones are held): that poll
    /// alone must make the cluster reachable with its true jobs.
    async fn expect_next_poll_correct(&self) {
        let switched = Instant::now();
        self.jm.behave_once_then_hold(hostile::overview);
        let deadline = switched + REQUEST_TIMEOUT + PATIENCE;
        let served = loop {
            let good = self
                .jm
                .requests()
                .into_iter()
                .find(|r| hostile::overview(r) && !r.hostile && r.at > switched);
            if let Some(request) = good {
                break request;
            }
            assert!(
                Instant::now() < deadline,
                "no poll reached the JobManager after it behaved again"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let served_ms = hostile::now_ms() - served.at.elapsed().as_millis() as i64;
        // The poll after that one is held for the request timeout: until then, what the
        // API shows comes from the good answer, or from something else the client read.
        let deadline = served.at + REQUEST_TIMEOUT;
        let truth = truth(&self.jm);
        loop {
            let view = self.hostile_cluster().await;
            let jobs: BTreeSet<_> = self
                .monitor
                .api()
                .overview(HOSTILE)
                .await
                .into_iter()
                .collect();
            let polled_after = view["lastPoll"]
                .as_i64()
                .is_some_and(|t| t >= served_ms - 5);
            if view["reachable"] == true && polled_after && jobs == truth {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the first poll after the JobManager behaved again was not correct: \
                 /clusters/{HOSTILE}: {view}; jobs {jobs:?}, expected {truth:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Peak RSS so far is less than [`MEMORY_BOUND_KIB`] above the start.
    fn expect_memory_bounded(&self) {
        let memory = self.monitor.memory();
        let growth = memory.peak_kib.saturating_sub(self.baseline.rss_kib);
        assert!(
            growth < MEMORY_BOUND_KIB,
            "peak RSS grew by {growth} KiB (from {} to {} KiB) with a {}-byte response limit",
            self.baseline.rss_kib,
            memory.peak_kib,
            hostile::MAX_RESPONSE_BYTES
        );
    }

    /// The checks every case ends with; `reuse_allowed` for well-framed answers (a
    /// redirect with a length) after which keeping the connection is fine.
    async fn finish(mut self, reuse_allowed: bool) {
        self.stop_sampling.cancel();
        let sampling = self
            .sampling
            .take()
            .expect("sampling runs until the case ends");
        let samples = sampling.await.expect("the sampling task");
        let memory = self.monitor.memory();
        let case = std::thread::current()
            .name()
            .unwrap_or("a case")
            .to_string();
        eprintln!(
            "{case}: RSS {} KiB at the start, {} KiB now, peak {} KiB; {} hostile answers, \
             {} connections, {} samples",
            self.baseline.rss_kib,
            memory.rss_kib,
            memory.peak_kib,
            self.jm.hostile_answers(),
            self.jm.connections(),
            samples.len()
        );
        let truth = truth(&self.jm);
        let false_states: BTreeSet<_> = samples
            .iter()
            .filter(|s| s.hostile_jobs != truth)
            .map(|s| format!("{:?}", s.hostile_jobs))
            .collect();
        assert!(
            false_states.is_empty(),
            "jobs/overview/ showed what the JobManager does not have ({FORGED_JOB} comes from \
             an answer nobody asked for): {false_states:?}; the JobManager has {truth:?}"
        );
        assert_eq!(
            self.decoy.connections(),
            0,
            "the monitor connected where a JobManager pointed: {:?}",
            self.decoy.requests()
        );
        if !reuse_allowed {
            let reused = self.jm.reused_after_hostile();
            assert!(
                reused.is_empty(),
                "a connection was used again after an answer that forbade it: {reused:#?}"
            );
        }
        self.expect_memory_bounded();
        let gap = longest_gap(&samples);
        assert!(
            gap < CADENCE_BOUND,
            "the well-behaved cluster went {gap:?} without a successful poll (every {:?} \
             expected) while the other one misbehaved",
            hostile::POLL_INTERVAL
        );
        assert!(
            self.steady.hostile_answers() == 0 && self.steady.connections() > 0,
            "the well-behaved JobManager was polled"
        );
    }
}

impl Drop for Case {
    fn drop(&mut self) {
        // A failed case must not leave its sampler running.
        self.stop_sampling.cancel();
        if let Some(sampling) = &self.sampling {
            sampling.abort();
        }
    }
}

/// (jid, name) of the jobs a server has.
fn truth(server: &ScriptedJobManager) -> BTreeSet<(String, String)> {
    server
        .jobs()
        .into_iter()
        .map(|job| (job.jid, job.name))
        .collect()
}

/// Samples the API every 50 ms until cancelled.
async fn sample(monitor: Api, stop: CancellationToken) -> Vec<Sample> {
    let mut samples = Vec::new();
    while !stop.is_cancelled() {
        let hostile_jobs = monitor.overview(HOSTILE).await.into_iter().collect();
        let steady_last_poll = monitor.cluster(STEADY).await["lastPoll"].as_i64();
        samples.push(Sample {
            hostile_jobs,
            steady_last_poll,
            at: Instant::now(),
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    samples
}

/// The longest time the steady cluster's `lastPoll` stayed the same across the samples.
fn longest_gap(samples: &[Sample]) -> Duration {
    let mut longest = Duration::ZERO;
    let mut since: Option<(Option<i64>, Instant)> = None;
    for sample in samples {
        match since {
            Some((poll, at)) if poll == sample.steady_last_poll => {
                longest = longest.max(sample.at - at);
            }
            _ => since = Some((sample.steady_last_poll, sample.at)),
        }
    }
    longest
}

/// The common course of a case: the hostile JobManager answers every overview poll with
/// `script`; `during` checks what must hold while it does; then the first poll after it
/// behaves again must be correct, and the checks every case ends with must pass.
async fn overview_case(
    script: impl Fn(&Request, &Answer) -> Vec<Step> + Send + Sync + 'static,
    reuse_allowed: bool,
    during: impl AsyncFnOnce(&Case),
) {
    let case = Case::start().await;
    case.jm.misbehave(hostile::overview, script);
    during(&case).await;
    case.expect_next_poll_correct().await;
    case.finish(reuse_allowed).await;
}

/// A case whose answers only failing the poll is right for.
async fn overview_poll_fails(
    script: impl Fn(&Request, &Answer) -> Vec<Step> + Send + Sync + 'static,
) {
    overview_case(script, false, async |case| {
        case.expect_poll_failure().await;
    })
    .await;
}

fn framed(status: u16, headers: &[String], body: &[u8]) -> Vec<u8> {
    let mut out = head(status, headers);
    out.extend_from_slice(body);
    out
}

fn json_type() -> String {
    "Content-Type: application/json; charset=UTF-8".into()
}

/// A 200 with a JSON content type, `headers` and `body`.
fn json_answer(headers: impl IntoIterator<Item = String>, body: &[u8]) -> Vec<u8> {
    let headers: Vec<String> = std::iter::once(json_type()).chain(headers).collect();
    framed(200, &headers, body)
}

/// A 200 with a JSON content type, `body` and `Content-Length: {sign}{its length}`.
fn sized_answer(sign: &str, body: &[u8]) -> Vec<Step> {
    let length = format!("Content-Length: {sign}{}", body.len());
    vec![Step::Send(json_answer([length], body))]
}

/// `start`, then 64 MiB of `byte` (far past the limit, never held whole), then `end`.
fn padded_past_the_limit(start: Vec<u8>, byte: u8, end: Vec<u8>) -> Vec<Step> {
    vec![
        Step::Send(start),
        Step::Repeat {
            byte,
            count: 64 * MIB,
        },
        Step::Send(end),
    ]
}

/// The head of a chunked 200 with a JSON content type.
fn chunked_head() -> Vec<u8> {
    head(200, &[json_type(), "Transfer-Encoding: chunked".into()])
}

/// `answer`, then at once a second answer nobody asked for, with a forged job.
fn answer_then_forged(answer: &Answer) -> Vec<Step> {
    let forged = Answer {
        status: 200,
        body: forged_overview(),
    };
    vec![
        Step::Send(answer.framed()),
        Step::Pause(Duration::from_millis(5)),
        Step::Send(forged.framed()),
    ]
}

/// A case whose JobManager answers the calls `matches` picks with a well-framed redirect
/// (`status`) to `path` on the decoy; answers the case and that Location.
async fn redirect_case(matches: fn(&Request) -> bool, status: u16, path: &str) -> (Case, String) {
    let case = Case::start().await;
    let location = format!("{}{path}", case.decoy.url());
    case.jm.misbehave(matches, {
        let location = location.clone();
        move |_, _| {
            vec![Step::Send(head(
                status,
                &[format!("Location: {location}"), "Content-Length: 0".into()],
            ))]
        }
    });
    (case, location)
}

impl Case {
    /// `GET path` on the monitoring API.
    async fn get(&self, path: &str) -> (u16, Value) {
        self.monitor.api().get(path).await
    }

    /// The API's answer to a call the JobManager answered with a redirect to `location`
    /// (`what` the call, for the message): 502, code 5005, naming the cluster and the
    /// Location; nothing reached the Location.
    fn expect_redirect_error(&self, (status, body): &(u16, Value), location: &str, what: &str) {
        assert_eq!(
            self.decoy.connections(),
            0,
            "the {what} followed the redirect to {location}: {:?}; the API answered {status} \
             {body}",
            self.decoy.requests()
        );
        assert_eq!(
            (*status, body["errorCode"].as_i64()),
            (502, Some(5005)),
            "a {what} answered with a redirect failed: {body}"
        );
        let errors = body["errors"].to_string();
        assert!(
            errors.contains(&format!("cluster {HOSTILE}")) && errors.contains(location),
            "the error names the cluster and the Location: {body}"
        );
    }
}

const STOP_ORDERS: &str = "/clusters/hostile/job/orders/stop/";

// (1)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_unrequested_answer_never_shows_as_the_next_poll() {
    overview_case(
        |_, answer| answer_then_forged(answer),
        false,
        async |case| case.expect_hostile_answers(6).await,
    )
    .await;
}

// (2)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_trailer_fails_the_call_within_the_limit() {
    overview_poll_fails(|_, answer| {
        let mut start = chunked_head();
        start.extend_from_slice(format!("{:x}\r\n", answer.body.len()).as_bytes());
        start.extend_from_slice(&answer.body);
        start.extend_from_slice(b"\r\n0\r\nX-Padding: ");
        padded_past_the_limit(start, b'a', b"\r\n\r\n".to_vec())
    })
    .await;
}

// (3)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirected_stop_reaches_nobody_and_names_the_location() {
    let (case, location) = redirect_case(hostile::cancel, 307, "/jobs/elsewhere?mode=cancel").await;
    case.expect_redirect_error(&case.get(STOP_ORDERS).await, &location, "stop");
    // The next stop, once the JobManager behaves, works.
    case.jm.behave();
    let (status, body) = case.get(STOP_ORDERS).await;
    assert_eq!(status, 200, "the stop after the redirect: {body}");
    let cancels = case
        .jm
        .requests()
        .into_iter()
        .filter(hostile::cancel)
        .count();
    assert_eq!(cancels, 2, "one PATCH per stop reached the JobManager");
    case.finish(true).await;
}

// (4)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_on_a_poll_is_an_error_naming_the_location() {
    let (case, location) = redirect_case(hostile::overview, 302, "/jobs/overview").await;
    let error = case.expect_poll_failure().await;
    assert!(
        error.contains(&location),
        "the poll error names the Location {location}: {error}"
    );
    case.expect_next_poll_correct().await;
    case.finish(true).await;
}

// (4, on an API read)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_on_an_api_read_is_an_error_naming_the_location() {
    const READ: &str = "/clusters/hostile/job/orders/status/";
    let (case, location) = redirect_case(hostile::job_details, 301, "/jobs/elsewhere").await;
    case.expect_redirect_error(&case.get(READ).await, &location, "read");
    case.jm.behave();
    let (status, body) = case.get(READ).await;
    assert_eq!(status, 200, "the read after the redirect: {body}");
    assert_eq!(body["response"]["name"], "orders", "{body}");
    case.finish(true).await;
}

// (5)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_different_content_lengths_are_refused() {
    overview_poll_fails(|_, _| {
        let body = forged_overview();
        vec![Step::Send(json_answer(
            [
                format!("Content-Length: {}", body.len()),
                format!("Content-Length: {}", body.len() + 7),
            ],
            &body,
        ))]
    })
    .await;
}

// (6)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_with_a_content_length_never_keeps_the_connection() {
    let script = |_: &Request, answer: &Answer| {
        vec![Step::Send(json_answer(
            [
                "Transfer-Encoding: chunked".into(),
                format!("Content-Length: {}", answer.body.len()),
            ],
            &chunked(&answer.body),
        ))]
    };
    // Read as chunked (the true jobs) or refused: either is right; keeping the connection
    // is not (RFC 9112 6.3).
    overview_case(script, false, async |case| {
        case.expect_hostile_answers(5).await
    })
    .await;
}

// (7)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_transfer_encoding_header_is_read() {
    let script = |_: &Request, _: &Answer| {
        // Chunked, the content gzip-coded (so not JSON to a client that does not decode
        // it). A client that reads only the first header frames the body by the
        // Content-Length, which ends inside the chunk, right before a forged answer.
        let junk = b"\x1f\x8b\x08\x00 gzip-coded, not JSON ".to_vec();
        let forged = Answer {
            status: 200,
            body: forged_overview(),
        };
        let mut content = junk.clone();
        content.extend_from_slice(&forged.framed());
        let size_line = format!("{:x}\r\n", content.len()).into_bytes();
        let length = size_line.len() + junk.len();
        let mut first = head(
            200,
            &[
                json_type(),
                "Transfer-Encoding: gzip".into(),
                "Transfer-Encoding: chunked".into(),
                format!("Content-Length: {length}"),
            ],
        );
        first.extend_from_slice(&size_line);
        first.extend_from_slice(&junk);
        let mut rest = forged.framed();
        rest.extend_from_slice(b"\r\n0\r\n\r\n");
        vec![
            Step::Send(first),
            Step::Pause(Duration::from_millis(30)),
            Step::Send(rest),
        ]
    };
    overview_case(script, false, async |case| {
        case.expect_poll_failure().await;
        case.expect_hostile_answers(4).await;
    })
    .await;
}

// (8)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_close_in_a_token_list_closes_the_connection() {
    let script = |_: &Request, answer: &Answer| {
        vec![Step::Send(json_answer(
            [
                format!("Content-Length: {}", answer.body.len()),
                "Connection: keep-alive, close".into(),
            ],
            &answer.body,
        ))]
    };
    overview_case(script, false, async |case| {
        case.expect_hostile_answers(5).await;
        let view = case.hostile_cluster().await;
        assert_eq!(
            view["reachable"], true,
            "a well-framed answer is read: {view}"
        );
        assert!(
            case.jm.connections() as usize >= case.jm.hostile_answers(),
            "{} connections for {} answers that each said close",
            case.jm.connections(),
            case.jm.hostile_answers()
        );
    })
    .await;
}

// (9)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_content_length_with_a_sign_is_refused() {
    overview_poll_fails(|_, _| sized_answer("+", &forged_overview())).await;
}

// (10)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_chunk_extensions_fail_the_call_within_the_limit() {
    overview_poll_fails(|_, answer| {
        let mut start = chunked_head();
        start.extend_from_slice(format!("{:x};ext=", answer.body.len()).as_bytes());
        let mut end = b"\r\n".to_vec();
        end.extend_from_slice(&answer.body);
        end.extend_from_slice(b"\r\n0\r\n\r\n");
        padded_past_the_limit(start, b'x', end)
    })
    .await;
}

// (11)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_drip_times_out_and_the_other_cluster_keeps_its_cadence() {
    let script = |_: &Request, answer: &Answer| {
        vec![Step::Drip {
            bytes: answer.framed(),
            every: Duration::from_millis(500),
        }]
    };
    overview_case(script, false, async |case| {
        let error = case.expect_poll_failure().await;
        let lower = error.to_lowercase();
        assert!(
            lower.contains("within") || lower.contains("time"),
            "the error says the request timed out: {error}"
        );
        // Two more timed-out polls, while the steady cluster is sampled.
        case.expect_hostile_answers(3).await;
    })
    .await;
}

// (12)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_megabyte_of_headers_is_refused() {
    overview_poll_fails(|_, _| {
        let body = forged_overview();
        let filler = (0..16 * 1024).map(|i| format!("X-Filler-{i:05}: {}", "a".repeat(46)));
        let length = format!("Content-Length: {}", body.len());
        vec![Step::Send(json_answer(
            filler.chain(std::iter::once(length)),
            &body,
        ))]
    })
    .await;
}

/// An overview body with the true jobs, padded with a JSON string to `len` bytes.
fn padded_overview(answer: &Answer, len: usize) -> Vec<u8> {
    let mut body = answer.body.clone();
    body.pop(); // the closing brace
    body.extend_from_slice(b",\"padding\":\"");
    let pad = len.saturating_sub(body.len() + 2);
    body.extend(std::iter::repeat_n(b'a', pad));
    body.extend_from_slice(b"\"}");
    body
}

/// A case whose overview answers are over the limit: the poll fails with an error naming
/// the limit.
async fn over_the_limit(script: impl Fn(&Request, &Answer) -> Vec<Step> + Send + Sync + 'static) {
    overview_case(script, false, async |case| {
        let error = case.expect_poll_failure().await;
        assert!(
            error.contains(&hostile::MAX_RESPONSE_BYTES.to_string()),
            "the error names the limit: {error}"
        );
    })
    .await;
}

// (13, with a length)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_limit_with_a_content_length_is_refused() {
    over_the_limit(|_, answer| sized_answer("", &padded_overview(answer, 2 * MIB))).await;
}

// (13, chunked)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_body_over_the_limit_is_refused() {
    over_the_limit(|_, answer| {
        let body = padded_overview(answer, 2 * MIB);
        let mut out = chunked_head();
        for piece in body.chunks(32 * 1024) {
            out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
            out.extend_from_slice(piece);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"0\r\n\r\n");
        vec![Step::Send(out)]
    })
    .await;
}

// (13, until the connection closes)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_limit_without_a_length_is_refused() {
    over_the_limit(|_, answer| {
        let body = padded_overview(answer, 2 * MIB);
        vec![
            Step::Send(json_answer(["Connection: close".into()], &body)),
            Step::Close,
        ]
    })
    .await;
}

// (14)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_in_the_middle_of_the_body_fails_the_call() {
    overview_poll_fails(|_, answer| {
        let whole = answer.framed();
        vec![
            Step::Send(whole[..whole.len() - answer.body.len() / 2].to_vec()),
            Step::Pause(Duration::from_millis(20)),
            Step::Reset,
        ]
    })
    .await;
}

// (15)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_1_0_answer_without_a_length_is_read_to_the_close_or_refused() {
    let script = |_: &Request, answer: &Answer| {
        let mut out = format!("HTTP/1.0 200 OK\r\n{}\r\n\r\n", json_type()).into_bytes();
        out.extend_from_slice(&answer.body);
        vec![Step::Send(out), Step::Close]
    };
    overview_case(script, false, async |case| {
        case.expect_hostile_answers(5).await;
        // Allowed and correct (the true jobs, sampled throughout), or refused with an error
        // naming the JobManager.
        let view = case.hostile_cluster().await;
        if view["reachable"] == false {
            let error = view["lastError"].as_str().unwrap_or_default();
            assert!(error.contains(case.jm.url()), "{view}");
        }
    })
    .await;
}

// Beyond the list: an answer that never starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_run_of_informational_answers_fails_the_call() {
    overview_poll_fails(|_, _| {
        // As fast as the client reads: neither the size of one head nor a slow peer.
        vec![Step::Endless(b"HTTP/1.1 102 Processing\r\n\r\n".to_vec())]
    })
    .await;
}

// Beyond the list: the stop's connection, kept, must not feed a later poll.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_answer_after_the_stop_never_shows_as_a_poll() {
    let case = Case::start().await;
    case.jm
        .misbehave(hostile::cancel, |_, answer| answer_then_forged(answer));
    let (status, body) = case.get(STOP_ORDERS).await;
    assert_eq!(status, 200, "the stop Flink accepted: {body}");
    // The stop asks for a poll at once; let a few more follow.
    let polls = || {
        case.jm
            .requests()
            .iter()
            .filter(|r| hostile::overview(r))
            .count()
    };
    let polls_before = polls();
    let deadline = Instant::now() + PATIENCE;
    while polls() < polls_before + 5 {
        assert!(
            Instant::now() < deadline,
            "the polls stopped after the stop"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    case.finish(false).await;
}
