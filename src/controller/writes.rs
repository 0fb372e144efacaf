//! The one place every write to the API server goes through (status patches, mirror creates,
//! Events): a client-side rate limit (`--kube-api-qps`, `--kube-api-burst`), a bound on
//! writes in flight (so a burst reuses a few connections instead of opening thousands), two
//! priorities (changes of known jobs before first-time mirrors), a pause for every write
//! when the API server answers 429 with `Retry-After`, and the lease fence: a write leaves
//! only while this replica's leadership is certain and carries that deadline, both as its
//! own timeout and as the API server's request `timeout`, so it cannot land after another
//! replica may have taken over.
//!
//! Why not `governor` or tower's `RateLimit`: neither orders waiting writes by priority nor
//! pauses them all on a 429, and both keep time outside tokio's clock (tests with paused
//! time); the bucket below is a dozen lines. The lease task publishes the fence ([`Lead`]).

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use kube::core::Status;
use serde::de::DeserializeOwned;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot, watch};
use tokio::time::Instant;

use super::lease::Lead;

/// A write that takes longer than this is given up (and retried by its caller).
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// A write is not started with less time than this before the fence: it would only time out.
pub const MIN_WRITE_TIME: Duration = Duration::from_millis(100);
/// Writes in flight at once: enough for the API server's latency at the default rate.
pub const MAX_IN_FLIGHT: usize = 16;
/// Default `--kube-api-qps` / `--kube-api-burst`: a fresh install of 10,000 jobs writes about
/// 20,000 times (a create and one status each), about 7 minutes at this pace.
pub const DEFAULT_QPS: u32 = 50;
pub const DEFAULT_BURST: u32 = 100;
/// A 429 without `Retry-After` pauses writes this long.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);
/// The longest pause a 429 may ask for.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Which writes go first when several wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// A change of a job that already has a status, and its Events.
    Known,
    /// A first-time mirror and its first status.
    New,
}

/// What a write is, for the summary line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteKind {
    Status,
    Create,
    Event,
}

/// How a write is bounded in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fence {
    /// A leader-only write: it must land while this replica's leadership is certain.
    Leader,
    /// Any replica's write (discovery's idempotent Warning Events): [`WRITE_TIMEOUT`] only.
    None,
}

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("not leading (or too close to the end of the lease), so not written")]
    NotLeader,

    #[error("the API server did not answer within {0:?}")]
    TimedOut(Duration),

    #[error("{0}")]
    Api(#[source] kube::Error),

    #[error("the write gate stopped")]
    Closed,
}

impl WriteError {
    /// The API server's status code, when it answered with one.
    pub fn code(&self) -> Option<u16> {
        match self {
            Self::Api(kube::Error::Api(status)) => Some(status.code),
            _ => None,
        }
    }
}

/// The rate limit's settings (`--kube-api-qps`, `--kube-api-burst`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WriteLimits {
    pub qps: f64,
    pub burst: u32,
    pub in_flight: usize,
}

impl Default for WriteLimits {
    fn default() -> Self {
        Self {
            qps: DEFAULT_QPS as f64,
            burst: DEFAULT_BURST,
            in_flight: MAX_IN_FLIGHT,
        }
    }
}

/// A token bucket on tokio's clock: `burst` at once, then `per_second`.
#[derive(Debug)]
pub(crate) struct Bucket {
    tokens: f64,
    burst: f64,
    per_second: f64,
    last: Instant,
}

impl Bucket {
    pub(crate) fn new(burst: u32, per_second: f64, now: Instant) -> Self {
        Self {
            tokens: burst.max(1) as f64,
            burst: burst.max(1) as f64,
            per_second: per_second.max(f64::MIN_POSITIVE),
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.burst);
    }

    /// How long until a token is there (zero: now).
    pub(crate) fn wait(&mut self, now: Instant) -> Duration {
        self.refill(now);
        if self.tokens >= 1.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64((1.0 - self.tokens) / self.per_second)
        }
    }

    /// Takes a token if there is one.
    pub(crate) fn take(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Counts for the summary line, since the last one.
#[derive(Debug, Default)]
struct Tally {
    status: AtomicU64,
    first_status: AtomicU64,
    created: AtomicU64,
    events: AtomicU64,
    failed: AtomicU64,
    throttled: AtomicU64,
    fenced: AtomicU64,
}

struct Shared {
    lead: watch::Receiver<Lead>,
    paused_until: Mutex<Option<Instant>>,
    tally: Tally,
    waiting: AtomicU64,
}

type Ticket = oneshot::Sender<OwnedSemaphorePermit>;

/// Cheap to clone; every clone is the same gate.
#[derive(Clone)]
pub struct WriteGate {
    known: mpsc::UnboundedSender<Ticket>,
    new: mpsc::UnboundedSender<Ticket>,
    shared: Arc<Shared>,
}

impl WriteGate {
    /// Starts the gate's dispatcher; it ends when every clone of the gate is dropped.
    pub fn start(limits: WriteLimits, lead: watch::Receiver<Lead>) -> Self {
        let (known, known_rx) = mpsc::unbounded_channel();
        let (new, new_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            lead,
            paused_until: Mutex::new(None),
            tally: Tally::default(),
            waiting: AtomicU64::new(0),
        });
        tokio::spawn(dispatch(limits, shared.clone(), known_rx, new_rx));
        Self { known, new, shared }
    }

    /// A gate for a replica that always writes (no leader election), at the default limits.
    pub fn unfenced() -> Self {
        Self::start(WriteLimits::default(), watch::channel(Lead::Unfenced).1)
    }

    /// Whether leader-only writes may be made now.
    pub fn leading(&self) -> bool {
        self.shared.lead.borrow().leading_at(Instant::now())
    }

    /// Sends `request` when the gate lets it, bounded by [`WRITE_TIMEOUT`] and, for a
    /// leader-only write, by the end of certain leadership (on our side as a timeout, on the
    /// API server's as the request's `timeout` parameter). A 429 pauses every write.
    pub async fn send<K: DeserializeOwned>(
        &self,
        client: &kube::Client,
        mut request: http::Request<Vec<u8>>,
        priority: Priority,
        fence: Fence,
        kind: WriteKind,
    ) -> Result<K, WriteError> {
        let _permit = self.admit(priority).await?;
        let now = Instant::now();
        let deadline = match (fence, *self.shared.lead.borrow()) {
            (Fence::None, _) | (Fence::Leader, Lead::Unfenced) => now + WRITE_TIMEOUT,
            (Fence::Leader, Lead::Until(until)) => until.min(now + WRITE_TIMEOUT),
            (Fence::Leader, Lead::Standby) => now,
        };
        let budget = deadline.saturating_duration_since(now);
        if budget < MIN_WRITE_TIME {
            self.shared.tally.fenced.fetch_add(1, Ordering::Relaxed);
            return Err(WriteError::NotLeader);
        }
        with_timeout_parameter(&mut request, budget);
        let result = match tokio::time::timeout_at(deadline, client.request::<K>(request)).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(error)) => Err(WriteError::Api(error)),
            Err(_) => Err(WriteError::TimedOut(budget)),
        };
        self.count(kind, priority, &result);
        if let Err(WriteError::Api(kube::Error::Api(status))) = &result
            && status.code == 429
        {
            self.pause(retry_after(status));
        }
        result
    }

    /// Waits for this write's turn: a slot in flight and a token, in priority order.
    async fn admit(&self, priority: Priority) -> Result<OwnedSemaphorePermit, WriteError> {
        let (ticket, granted) = oneshot::channel();
        let queue = match priority {
            Priority::Known => &self.known,
            Priority::New => &self.new,
        };
        self.shared.waiting.fetch_add(1, Ordering::Relaxed);
        let sent = queue.send(ticket).is_ok();
        let permit = if sent { granted.await.ok() } else { None };
        self.shared.waiting.fetch_sub(1, Ordering::Relaxed);
        permit.ok_or(WriteError::Closed)
    }

    /// No write leaves before `now + delay` (the API server asked us to wait).
    fn pause(&self, delay: Duration) {
        let until = Instant::now() + delay.min(MAX_RETRY_AFTER);
        let mut paused = self
            .shared
            .paused_until
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if paused.is_none_or(|p| p < until) {
            *paused = Some(until);
        }
        tracing::debug!(?delay, "the API server asked to slow down; pausing writes");
    }

    fn count<K>(&self, kind: WriteKind, priority: Priority, result: &Result<K, WriteError>) {
        let tally = &self.shared.tally;
        let counter = match (result, kind) {
            (Err(error), _) if error.code() == Some(429) => &tally.throttled,
            (Err(_), _) => &tally.failed,
            (Ok(_), WriteKind::Status) if priority == Priority::New => &tally.first_status,
            (Ok(_), WriteKind::Status) => &tally.status,
            (Ok(_), WriteKind::Create) => &tally.created,
            (Ok(_), WriteKind::Event) => &tally.events,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The writes since the last call, as a summary line (None: nothing happened).
    pub fn summary(&self) -> Option<String> {
        let t = &self.shared.tally;
        let take = |c: &AtomicU64| c.swap(0, Ordering::Relaxed);
        let (status, first, created, events) = (
            take(&t.status),
            take(&t.first_status),
            take(&t.created),
            take(&t.events),
        );
        let (failed, throttled, fenced) = (take(&t.failed), take(&t.throttled), take(&t.fenced));
        let waiting = self.shared.waiting.load(Ordering::Relaxed);
        (status + first + created + events + failed + throttled + fenced > 0).then(|| {
            format!(
                "status patches {status}, first statuses {first}, mirrors created {created}, events {events}, failed {failed}, throttled (429) {throttled}, not sent (lease) {fenced}; waiting {waiting}"
            )
        })
    }
}

/// Hands out slots in flight, one token each, known jobs' writes before new ones.
async fn dispatch(
    limits: WriteLimits,
    shared: Arc<Shared>,
    mut known: mpsc::UnboundedReceiver<Ticket>,
    mut new: mpsc::UnboundedReceiver<Ticket>,
) {
    let slots = Arc::new(Semaphore::new(limits.in_flight.max(1)));
    let mut bucket = Bucket::new(limits.burst, limits.qps, Instant::now());
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        // Take the ticket when a token is there, so that whatever came first in the
        // meantime (a known job's write) is picked.
        let ticket = loop {
            wait_for_turn(&shared, &mut bucket).await;
            let ticket = tokio::select! {
                biased;
                Some(ticket) = known.recv() => ticket,
                Some(ticket) = new.recv() => ticket,
                else => return,
            };
            if ticket.is_closed() {
                continue;
            }
            // A 429 may have paused writes while this waited for a ticket.
            if paused_until(&shared).is_some_and(|until| until > Instant::now())
                || !bucket.take(Instant::now())
            {
                wait_for_turn(&shared, &mut bucket).await;
                bucket.take(Instant::now());
            }
            break ticket;
        };
        // A caller that gave up meanwhile hands its slot back by dropping it.
        let _ = ticket.send(permit);
    }
}

fn paused_until(shared: &Shared) -> Option<Instant> {
    *shared
        .paused_until
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

/// Until no pause is asked for and a token is there.
async fn wait_for_turn(shared: &Shared, bucket: &mut Bucket) {
    loop {
        let now = Instant::now();
        if let Some(until) = paused_until(shared).filter(|until| *until > now) {
            tokio::time::sleep_until(until).await;
            continue;
        }
        let wait = bucket.wait(now);
        if wait.is_zero() {
            return;
        }
        tokio::time::sleep(wait).await;
    }
}

/// The API server's own deadline for the request: it does not apply the write after it.
fn with_timeout_parameter(request: &mut http::Request<Vec<u8>>, budget: Duration) {
    let millis = budget.as_millis().max(1);
    let uri = request.uri().to_string();
    let separator = if uri.contains('?') { '&' } else { '?' };
    if let Ok(uri) = format!("{uri}{separator}timeout={millis}ms").parse() {
        *request.uri_mut() = uri;
    }
}

/// How long a 429 asks us to wait (`details.retryAfterSeconds`, as the API server sends it
/// beside the `Retry-After` header).
fn retry_after(status: &Status) -> Duration {
    status
        .details
        .as_ref()
        .map(|d| d.retry_after_seconds)
        .filter(|s| *s > 0)
        .map(|s| Duration::from_secs(u64::from(s)))
        .unwrap_or(DEFAULT_RETRY_AFTER)
}

/// Logs the gate's summary every `every` while writes happen.
pub async fn log_summaries(
    gate: WriteGate,
    every: Duration,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        if let Some(line) = gate.summary() {
            tracing::info!(every = ?every, "kubernetes writes: {line}");
        }
    }
}

#[cfg(test)]
mod tests {
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
    fn gate(
        limits: WriteLimits,
        lead: Lead,
    ) -> (WriteGate, kube::Client, Handle, watch::Sender<Lead>) {
        let (client, handle) = apiserver::client("ns");
        let (tx, rx) = watch::channel(lead);
        (WriteGate::start(limits, rx), client, handle, tx)
    }

    /// Limits under which only the number of writes in flight holds a write back.
    fn only_in_flight(in_flight: usize) -> WriteLimits {
        WriteLimits {
            qps: 1000.0,
            burst: 1000,
            in_flight,
        }
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
        let (gate, client, mut handle, _lead) = gate(only_in_flight(1), Lead::Unfenced);
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
        let (gate, client, mut handle, _lead) = gate(only_in_flight(2), Lead::Unfenced);
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
}
