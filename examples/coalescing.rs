//! Benchmark 5, request coalescing: 200 concurrent `job/{uuid}/statusAndMetrics/` requests
//! for one job must cost Flink at most one set of calls within the cache TTL (1 s).
//!
//! A **simulated** JobManager (`flink_sim/sim.rs`, 127.0.5.1:18330, 10 ms per job-level
//! answer, like a busy JobManager) counts the calls on the Flink side; flink-monitor's
//! real registry and HTTP API (`flink_monitor::api::router`) serve on 127.0.0.1:18332 in
//! this process. One set of calls for `statusAndMetrics` of the two-vertex job is 6:
//! `GET /jobs/{jid}`, 2 x vertex metric names, 1 x vertex metric values (the
//! `currentEventTs` gauge), 2 x `subtasks/metrics?agg=sum`.
//! The peer is the same API with the cache turned off (`--cache-ttl 0s`, on 18333).
//!
//! `cargo run --release --example coalescing` (exit status 1 if a burst within the TTL
//! costs more than one set of calls).

#[path = "flink_sim/sim.rs"]
mod sim;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use flink_monitor::api::{AppState, StopGuard, router};
use flink_monitor::clusters::{KnownClusters, PollSettings};
use flink_monitor::flink::{ClientSettings, FlinkClient};
use flink_monitor::metrics::Metrics;
use sim::Endpoint;

const REQUESTS: usize = 200;
const SET: u64 = 6;
const JOB_LEVEL: [Endpoint; 4] = [
    Endpoint::Job,
    Endpoint::VertexMetricNames,
    Endpoint::VertexMetricValues,
    Endpoint::SubtaskMetrics,
];

async fn serve_monitor(
    sim: &sim::Sim,
    listen: SocketAddr,
    cache_ttl: Duration,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let metrics = Arc::new(Metrics::new());
    let registry = Arc::new(KnownClusters::new(
        PollSettings {
            poll_interval: Duration::from_secs(5),
            cache_ttl,
            client: ClientSettings::default(),
        },
        FlinkClient::http_client()?,
        metrics.clone(),
        shutdown.clone(),
    ));
    registry.upsert(sim.clusters[0].cluster_info()?);
    registry.mark_discovered();
    while registry.readiness().is_err() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let app = router(Arc::new(AppState::new(
        registry,
        metrics,
        StopGuard::Disabled,
    )));
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let shutdown = shutdown.clone();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await;
    });
    Ok(())
}

fn job_level_calls(sim: &sim::Sim) -> [u64; 4] {
    JOB_LEVEL.map(|e| sim.clusters[0].calls(e))
}

/// Sends `REQUESTS` requests, `spread` apart in total; answers (calls by endpoint, wall ms, all ok).
async fn burst(
    http: &reqwest::Client,
    sim: &sim::Sim,
    url: &str,
    spread: Duration,
) -> ([u64; 4], f64, usize) {
    let before = job_level_calls(sim);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(REQUESTS);
    for i in 0..REQUESTS {
        let http = http.clone();
        let url = url.to_string();
        let at = spread.mul_f64(i as f64 / REQUESTS as f64);
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(tokio::time::Instant::from_std(started + at)).await;
            match http.get(&url).send().await {
                Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
                _ => false,
            }
        }));
    }
    let mut ok = 0;
    for task in tasks {
        if task.await.unwrap_or(false) {
            ok += 1;
        }
    }
    let wall = started.elapsed().as_secs_f64() * 1000.0;
    let after = job_level_calls(sim);
    let delta = [0, 1, 2, 3].map(|i| after[i] - before[i]);
    (delta, wall, ok)
}

fn show(label: &str, (calls, wall, ok): &([u64; 4], f64, usize)) -> u64 {
    let total: u64 = calls.iter().sum();
    println!(
        "{label:<48} {ok:>3}/{REQUESTS} ok in {wall:>7.1} ms; flink calls {total:>5} (job {}, metric names {}, metric values {}, subtask aggregates {})",
        calls[0], calls[1], calls[2], calls[3]
    );
    total
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let sim = sim::Sim::start(&sim::SimConfig {
        clusters: 1,
        jobs_per_cluster: 4,
        first_ip: Ipv4Addr::new(127, 0, 5, 1),
        port: 18330,
        delay: Duration::from_millis(10),
    })
    .await?;
    let shutdown = CancellationToken::new();
    let cached: SocketAddr = "127.0.0.1:18332".parse()?;
    let uncached: SocketAddr = "127.0.0.1:18333".parse()?;
    serve_monitor(&sim, cached, Duration::from_secs(1), &shutdown).await?;
    serve_monitor(&sim, uncached, Duration::ZERO, &shutdown).await?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(REQUESTS)
        .build()?;
    let job = sim::job_name(0, 0);
    let path = format!("/job/{job}/statusAndMetrics/");
    let url = format!("http://{cached}{path}");
    println!("coalescing: {REQUESTS} concurrent GET {path}; one set of Flink calls = {SET}");

    // Warm the client's connections on another path, so the bursts measure the API.
    let _ = burst(
        &http,
        &sim,
        &format!("http://{cached}/healthz"),
        Duration::ZERO,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let peer_url = format!("http://{uncached}{path}");
    // (label, URL, spread over, pause before): the cache's TTL is 1 s.
    let runs = [
        (
            "burst: 200 at once (cache 1 s)",
            &url,
            Duration::ZERO,
            Duration::ZERO,
        ),
        (
            "same job, 200 spread over 0.5 s (same TTL)",
            &url,
            Duration::from_millis(500),
            Duration::ZERO,
        ),
        (
            "after the TTL expired: 200 at once",
            &url,
            Duration::ZERO,
            Duration::from_millis(1100),
        ),
        (
            "peer: same API, cache off (--cache-ttl 0s)",
            &peer_url,
            Duration::ZERO,
            Duration::ZERO,
        ),
    ];
    let mut results = Vec::with_capacity(runs.len());
    for (label, url, spread, pause) in runs {
        tokio::time::sleep(pause).await;
        let result = burst(&http, &sim, url, spread).await;
        let calls = show(label, &result);
        results.push((result, calls));
    }
    let [
        (at_once, at_once_calls),
        (spread, spread_calls),
        (later, later_calls),
        (peer, peer_calls),
    ] = <[_; 4]>::try_from(results).map_err(|_| anyhow::anyhow!("one result per run"))?;
    shutdown.cancel();

    let within_ttl = at_once_calls + spread_calls;
    let ok = at_once.2 == REQUESTS
        && spread.2 == REQUESTS
        && later.2 == REQUESTS
        && within_ttl <= SET
        && later_calls <= SET;
    println!(
        "RESULT coalescing requests={REQUESTS} calls_burst={at_once_calls} calls_spread_same_ttl={spread_calls} \
         calls_after_ttl={later_calls} calls_uncached={peer_calls} ratio_uncached_vs_cached={:.0} \
         burst_ms={:.1} uncached_ms={:.1} ok={ok}",
        peer_calls as f64 / at_once_calls.max(1) as f64,
        at_once.1,
        peer.1,
    );
    if !ok {
        std::process::exit(1);
    }
    Ok(())
}
