#![forbid(unsafe_code)]
use std::process::ExitCode;

use clap::Parser;
use tokio_util::sync::CancellationToken;

use flink_monitor::cli::{Cli, Command, LogFormat};
use flink_monitor::{runtime, telemetry};

// jemalloc hands freed pages back to the system on its own (decay), where glibc keeps
// part-used pages of a burst resident; see docs/performance.md (run 19). It does not
// build for MSVC targets, which keep the system allocator.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init(match cli.log_format {
        LogFormat::Plain => telemetry::LogFormat::Plain,
        LogFormat::Json => telemetry::LogFormat::Json,
    });
    let result = match cli.command {
        Command::Run(args) => {
            let shutdown = CancellationToken::new();
            tokio::spawn(cancel_on_signal(shutdown.clone()));
            runtime::run(*args, runtime::Environment::read(), shutdown)
                .await
                .map_err(|e| e.to_string())
        }
        Command::Crd => match flink_monitor::crd::crd_yaml() {
            Ok(yaml) => {
                print!("{yaml}");
                Ok(())
            }
            Err(e) => Err(format!("failed to render the CRD: {e}")),
        },
        Command::Rbac {
            enable_stop,
            leader_election,
        } => {
            let permissions = flink_monitor::rbac::permissions(enable_stop, leader_election);
            match serde_json::to_string_pretty(&permissions) {
                Ok(json) => {
                    println!("{json}");
                    Ok(())
                }
                Err(e) => Err(format!("failed to print the permissions: {e}")),
            }
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error}");
            eprintln!("flink-monitor: error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// SIGINT or SIGTERM starts a graceful shutdown.
async fn cancel_on_signal(shutdown: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down");
    shutdown.cancel();
}
