//! Wires the parts together for `flink-monitor run`.

mod settings;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use strum::VariantNames;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::api::{self, AppState, KubernetesReviewer, StopGuard};
use crate::cli::{KubernetesMode, RunArgs, check_unique_names};
use crate::clusters::{ClusterInfo, KnownClusters};
use crate::controller::lease::LeaseConfigError;
use crate::controller::{self, ReconcileError, WriteGate};
use crate::discovery;
use crate::flink::{TLS_RELOAD_EVERY, TlsError, TlsReloader};
use crate::job_series::JobSeries;
use crate::metrics::Metrics;
use crate::ui;

pub use settings::Environment;
use settings::{
    controller_config, discovery_config, health_settings, lease_config, poll_settings,
    server_limits, write_limits,
};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("invalid --cluster list: {0}")]
    Clusters(String),

    #[error("failed to read the stop token file {path}: {source}")]
    ReadStopToken {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("the stop token file {path} is empty; put a token in it or drop --stop-token-file")]
    EmptyStopToken { path: PathBuf },

    #[error("--stop-token-file needs --enable-stop")]
    TokenWithoutStop,

    #[error("{0}")]
    Tls(#[from] TlsError),

    #[error(
        "--kubernetes on, but no Kubernetes credentials were found (in-cluster or KUBECONFIG): {0}"
    )]
    NoKubernetes(String),

    #[error("failed to create the Kubernetes client: {0}")]
    KubeClient(String),

    #[error("failed to listen on {addr}: {source}; pick another address with --listen")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },

    #[error("invalid leader election settings: {0}")]
    Lease(#[from] LeaseConfigError),

    #[error("the HTTP server failed: {0}")]
    Serve(#[source] std::io::Error),
}

/// Runs until `shutdown` is cancelled, then drains in-flight requests and returns. `env`
/// is what start-up read from the environment (`Environment::read`).
pub async fn run(
    args: RunArgs,
    env: Environment,
    shutdown: CancellationToken,
) -> Result<(), StartError> {
    check_unique_names(&args.clusters).map_err(StartError::Clusters)?;
    if args.leader_election {
        lease_config(&args, &env).validate()?;
    }
    let kube_config = kubernetes_config(args.kubernetes).await?;
    let kubernetes = match &kube_config {
        Some(config) => Some(
            kube::Client::try_from(config.clone())
                .map_err(|e| StartError::KubeClient(e.to_string()))?,
        ),
        None => None,
    };
    let kubernetes_mode = kubernetes.is_some();
    let stop_guard = stop_guard(&args, kubernetes.as_ref())?;

    let mut metrics = Metrics::new();
    metrics.list_reconcile_error_kinds(ReconcileError::VARIANTS);
    let job_series = JobSeries::new();
    if args.job_metrics {
        metrics
            .registry_mut()
            .register_collector(Box::new(job_series.clone()));
    }
    let metrics = Arc::new(metrics);
    let tls = TlsReloader::start(settings::tls_files(&args))?;
    let http = tls.client();
    if tls.watches_files() {
        // Mounted Secrets rotate in place: new connections take the new files.
        tokio::spawn(tls.run(TLS_RELOAD_EVERY, shutdown.clone()));
    }
    let registry = Arc::new(
        KnownClusters::new(
            poll_settings(&args),
            http,
            metrics.clone(),
            shutdown.clone(),
        )
        .with_health(health_settings(&args)),
    );
    job_series.attach(&registry);
    // The registry's gauges are computed per scrape (`clusters::gauges`).
    crate::clusters::gauges::register(&metrics, &registry);
    for cluster in &args.clusters {
        registry.upsert(ClusterInfo::static_cluster(
            &cluster.name,
            cluster.url.clone(),
        ));
    }
    if kubernetes.is_none() {
        // Standalone: the static list is all there is to discover.
        registry.mark_discovered();
    }
    if kubernetes.is_none() && args.clusters.is_empty() {
        tracing::warn!("no clusters to watch: give --cluster NAME=URL, or run in Kubernetes");
    }
    let background = match kube_config {
        Some(config) => Some(start_kubernetes(
            controller_client(config)?,
            &args,
            &env,
            registry.clone(),
            metrics.clone(),
            shutdown.clone(),
        )),
        None => None,
    };

    let mode = if kubernetes_mode {
        "kubernetes"
    } else {
        "standalone"
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|source| StartError::Listen {
            addr: args.listen,
            source,
        })?;
    tracing::info!(
        listen = %args.listen,
        clusters = args.clusters.len(),
        poll_interval = ?args.poll_interval,
        stop = ?stop_guard,
        mode,
        "serving the monitoring API"
    );
    let limits = server_limits(&args);
    let page = args
        .ui
        .then(|| ui::UiState::new(registry.clone(), ui::refresh_for(args.poll_interval)));
    let state = Arc::new(AppState::with_limits(
        registry,
        metrics,
        stop_guard,
        limits.clone(),
    ));
    let pages = match page {
        Some(page) => {
            page.follow(shutdown.clone());
            ui::router(page)
        }
        None => axum::Router::new(),
    };
    let mut app = api::router_with(state, pages);
    if args.ui {
        app = app.layer(axum::middleware::from_fn(ui::redirect_browsers));
    }
    api::serve(listener, app, limits, shutdown.cancelled_owned())
        .await
        .map_err(StartError::Serve)?;
    if let Some(task) = background {
        // The controller releases its Lease on the way out; do not let it hold up exit.
        if tokio::time::timeout(SHUTDOWN_GRACE, task).await.is_err() {
            tracing::warn!("the controller did not stop within {SHUTDOWN_GRACE:?}");
        }
    }
    tracing::info!("stopped");
    Ok(())
}

/// The client of discovery and the controller. Without kube's own retry of 429, 503 and
/// 504: every write goes through the write gate, which pauses all writes on a 429 (a retry
/// per request would turn an API server's "slow down" into a storm), and the reconciles and
/// watchers retry with their own backoff.
fn controller_client(mut config: kube::Config) -> Result<kube::Client, StartError> {
    config.default_retry = false;
    kube::Client::try_from(config).map_err(|e| StartError::KubeClient(e.to_string()))
}

/// Discovery feeds the registry; the controller writes FlinkJob status and mirrors.
fn start_kubernetes(
    client: kube::Client,
    args: &RunArgs,
    env: &Environment,
    registry: Arc<KnownClusters>,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let (lead, leading) = watch::channel(controller::initial_lead(args.leader_election));
    let gate = WriteGate::start(write_limits(args), leading);
    let discovery = tokio::spawn(discovery::run(
        client.clone(),
        registry.clone(),
        discovery_config(args, env),
        gate.clone(),
        shutdown.clone(),
    ));
    let config = controller_config(args, env);
    let controller = tokio::spawn(controller::run(
        client, registry, metrics, config, gate, lead, shutdown,
    ));
    tokio::spawn(async move {
        let _ = tokio::join!(discovery, controller);
    })
}

/// How long background work may take to stop after the HTTP server has drained.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// Stop is off by default. With --enable-stop: a token file if given; in Kubernetes mode
/// TokenReview + SubjectAccessReview; standalone without a token file, open.
fn stop_guard(args: &RunArgs, kubernetes: Option<&kube::Client>) -> Result<StopGuard, StartError> {
    match (&args.stop_token_file, args.enable_stop) {
        (Some(_), false) => Err(StartError::TokenWithoutStop),
        (None, false) => Ok(StopGuard::Disabled),
        (None, true) => Ok(match kubernetes {
            Some(client) => StopGuard::Kubernetes(KubernetesReviewer::new(
                client.clone(),
                args.stop_token_audiences.clone(),
            )),
            None => StopGuard::Open,
        }),
        (Some(path), true) => Ok(StopGuard::StaticToken(read_token(path)?.into())),
    }
}

fn read_token(path: &Path) -> Result<String, StartError> {
    let text = std::fs::read_to_string(path).map_err(|source| StartError::ReadStopToken {
        path: path.to_path_buf(),
        source,
    })?;
    let token = text.trim();
    if token.is_empty() {
        return Err(StartError::EmptyStopToken {
            path: path.to_path_buf(),
        });
    }
    Ok(token.to_string())
}

/// Every request to the API server says who sent it (audit logs; kube sets no User-Agent).
fn named(mut config: kube::Config) -> kube::Config {
    config.headers.push((
        http::header::USER_AGENT,
        http::HeaderValue::from_static(crate::USER_AGENT),
    ));
    config
}

/// The Kubernetes configuration to use, or None to run standalone.
async fn kubernetes_config(mode: KubernetesMode) -> Result<Option<kube::Config>, StartError> {
    if mode == KubernetesMode::Off {
        return Ok(None);
    }
    match kube::Config::infer().await {
        Ok(config) => Ok(Some(named(config))),
        Err(error) if mode == KubernetesMode::On => {
            Err(StartError::NoKubernetes(error.to_string()))
        }
        Err(error) => {
            tracing::info!(reason = %error, "no kubernetes credentials; running standalone on the --cluster list");
            Ok(None)
        }
    }
}
