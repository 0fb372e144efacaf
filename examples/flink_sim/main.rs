//! `flink_sim`: a **simulation** of many Flink JobManagers' REST APIs in one process, for
//! the benchmarks in `scripts/bench/` (see `sim.rs` for what it serves). Not Flink.
//!
//! ```text
//! cargo run --release --example flink_sim -- --clusters 1000 --jobs 10 \
//!     --first-ip 127.0.1.1 --port 18300 --control 127.0.0.1:18301 \
//!     --list-file /tmp/clusters.txt --max-runtime 900s
//! ```
//! Cluster i (named `sim-000i`) listens on `first-ip + i`, all on `--port`. The
//! `--list-file` gets `NAME=URL,...` for `FLINK_MONITOR_CLUSTERS`. The control listener
//! answers `GET /stats` (calls per endpoint, polls per cluster, poll gaps), `POST /reset`
//! and `POST /state?cluster=I&job=J&state=S`. It exits by itself after `--max-runtime`.

mod sim;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

#[derive(Debug, Parser)]
#[command(about = "A simulation of many Flink JobManagers' REST APIs (for benchmarks)")]
struct Args {
    /// Simulated JobManagers.
    #[arg(long, default_value_t = 1000)]
    clusters: usize,
    /// Jobs per JobManager (all RUNNING at start).
    #[arg(long, default_value_t = 10)]
    jobs: usize,
    /// Address of the first JobManager; the others follow (127.0.1.1, 127.0.1.2, ...).
    #[arg(long, default_value = "127.0.1.1")]
    first_ip: Ipv4Addr,
    /// The port every JobManager listens on.
    #[arg(long, default_value_t = 18300)]
    port: u16,
    /// The control listener.
    #[arg(long, default_value = "127.0.0.1:18301")]
    control: SocketAddr,
    /// Delay added to job-level answers (details, exceptions, metrics).
    #[arg(long, default_value = "0ms", value_parser = humantime::parse_duration)]
    delay: Duration,
    /// Write the `NAME=URL,...` list here.
    #[arg(long)]
    list_file: Option<PathBuf>,
    /// Exit after this long, whatever happens.
    #[arg(long, default_value = "15m", value_parser = humantime::parse_duration)]
    max_runtime: Duration,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config = sim::SimConfig {
        clusters: args.clusters,
        jobs_per_cluster: args.jobs,
        first_ip: args.first_ip,
        port: args.port,
        delay: args.delay,
    };
    let sim = sim::Sim::start(&config).await?;
    if let Some(path) = &args.list_file {
        std::fs::write(path, sim.cluster_list())?;
    }
    let control = tokio::net::TcpListener::bind(args.control).await?;
    let router = sim::control_router(sim.clone());
    tokio::spawn(async move {
        let _ = axum::serve(control, router).await;
    });
    println!(
        "flink_sim: {} simulated JobManagers x {} jobs on {}..:{}, control http://{}",
        args.clusters, args.jobs, args.first_ip, args.port, args.control
    );
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::time::sleep(args.max_runtime) => eprintln!("flink_sim: --max-runtime reached"),
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    Ok(())
}
