//! Command line. Every flag of `run` can also be set with a `FLINK_MONITOR_*` variable.
//!
//! Only parsing: `runtime::settings` turns the flags into the settings of each part. The
//! defaults are the command line's own (they are what `--help` and the README show); the
//! settings tests check that they agree with the parts' defaults.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use reqwest::Url;

#[derive(Debug, Parser)]
#[command(
    name = "flink-monitor",
    version,
    about = "Discovers Flink JobManagers, mirrors job status into FlinkJob resources and serves the monitoring API"
)]
pub struct Cli {
    /// Log line format.
    #[arg(long, env = "FLINK_MONITOR_LOG_FORMAT", value_enum, default_value_t = LogFormat::Plain, global = true)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Poll the clusters and serve the monitoring API.
    Run(Box<RunArgs>),
    /// Print the FlinkJob CustomResourceDefinition as YAML.
    Crd,
    /// Print, as JSON, the Kubernetes permissions the binary needs (the chart grants these).
    Rbac {
        /// Include what guarded stop needs (TokenReview, SubjectAccessReview).
        #[arg(long)]
        enable_stop: bool,
        /// Include what leader election needs (Leases).
        #[arg(long)]
        leader_election: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Plain,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KubernetesMode {
    /// Use Kubernetes when credentials are found (in a pod or through KUBECONFIG).
    Auto,
    /// Require Kubernetes; fail at start without credentials.
    On,
    /// Never use Kubernetes: only the --cluster list.
    Off,
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Address the HTTP API listens on.
    #[arg(long, env = "FLINK_MONITOR_LISTEN", default_value = "0.0.0.0:8080")]
    pub listen: SocketAddr,

    /// A Flink JobManager REST endpoint as NAME=URL (repeatable; comma-separated in the
    /// variable). NAME matches [A-Za-z0-9_-]{1,63}.
    #[arg(long = "cluster", env = "FLINK_MONITOR_CLUSTERS", value_delimiter = ',', value_parser = parse_static_cluster)]
    pub clusters: Vec<StaticCluster>,

    /// Whether to discover clusters in Kubernetes.
    #[arg(long, env = "FLINK_MONITOR_KUBERNETES", value_enum, default_value_t = KubernetesMode::Auto)]
    pub kubernetes: KubernetesMode,

    /// Namespaces to watch for Flink clusters and FlinkJobs (comma-separated); empty: all.
    #[arg(long, env = "FLINK_MONITOR_NAMESPACES", value_delimiter = ',', value_parser = parse_namespace)]
    pub namespaces: Vec<String>,

    /// Label selector on the Services' own labels limiting which are watched (e.g.
    /// `team=data`). A Service must still select JobManager pods to count. Flink's
    /// standalone manifests carry no labels: add one to them if you set this.
    #[arg(long, env = "FLINK_MONITOR_SERVICE_SELECTOR")]
    pub service_selector: Option<String>,

    /// Never read the `flinkmonitor.dev/rest-url` annotation: reach discovered clusters only
    /// at their Services. Whoever may annotate a Service in a watched namespace otherwise
    /// chooses where flink-monitor sends its requests.
    #[arg(long, env = "FLINK_MONITOR_IGNORE_REST_URL_ANNOTATION", default_value_t = false, action = clap::ArgAction::Set,
        num_args = 0..=1, default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    pub ignore_rest_url_annotation: bool,

    /// Create a FlinkJob for every job found on a discovered cluster.
    #[arg(long, env = "FLINK_MONITOR_MIRROR_JOBS", default_value_t = true, action = clap::ArgAction::Set,
        num_args = 0..=1, default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    pub mirror_jobs: bool,

    /// Elect one writer with a Lease (set when running more than one replica).
    #[arg(long, env = "FLINK_MONITOR_LEADER_ELECTION")]
    pub leader_election: bool,

    /// Name of the Lease used for leader election.
    #[arg(
        long,
        env = "FLINK_MONITOR_LEASE_NAME",
        default_value = "flink-monitor"
    )]
    pub lease_name: String,

    /// Namespace of the Lease (in a pod: its own namespace).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    pub lease_namespace: String,

    /// A leader whose Lease record has not changed for this long (as each standby sees it,
    /// on its own clock) may be replaced; whole seconds.
    #[arg(long, env = "FLINK_MONITOR_LEASE_DURATION", default_value = "15s", value_parser = parse_positive_duration)]
    pub lease_duration: Duration,

    /// A leader that has not renewed its Lease for this long stops writing, even while a
    /// renew hangs; shorter than --lease-duration.
    #[arg(long, env = "FLINK_MONITOR_LEASE_RENEW_DEADLINE", default_value = "10s", value_parser = parse_positive_duration)]
    pub lease_renew_deadline: Duration,

    /// How often the leader renews its Lease and standbys look at it.
    #[arg(long, env = "FLINK_MONITOR_LEASE_RENEW_PERIOD", default_value = "2s", value_parser = parse_positive_duration)]
    pub lease_renew_period: Duration,

    /// Writes to the Kubernetes API per second (status patches, mirror creates, Events),
    /// on average; every write goes through this one limit.
    #[arg(long, env = "FLINK_MONITOR_KUBE_API_QPS", default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    pub kube_api_qps: u32,

    /// Writes to the Kubernetes API allowed at once above --kube-api-qps after a quiet spell.
    #[arg(long, env = "FLINK_MONITOR_KUBE_API_BURST", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub kube_api_burst: u32,

    /// How often each JobManager's /jobs/overview is polled (e.g. 500ms, 5s, 1m).
    #[arg(long, env = "FLINK_MONITOR_POLL_INTERVAL", default_value = "5s", value_parser = parse_positive_duration)]
    pub poll_interval: Duration,

    /// Allow job/{uuid}/stop/ (off by default: every stop answers 403).
    #[arg(long, env = "FLINK_MONITOR_ENABLE_STOP")]
    pub enable_stop: bool,

    /// With --enable-stop: require `Authorization: Bearer <token>` with the token in FILE.
    #[arg(long, env = "FLINK_MONITOR_STOP_TOKEN_FILE")]
    pub stop_token_file: Option<PathBuf>,

    /// With --enable-stop in Kubernetes mode: the audiences the caller's token must be
    /// made for (comma-separated; checked by the TokenReview). Callers get one with
    /// `kubectl create token SA --audience flink-monitor`. An empty value accepts tokens
    /// for the API server itself, which flink-monitor could then replay: avoid.
    #[arg(
        long,
        env = "FLINK_MONITOR_STOP_TOKEN_AUDIENCES",
        value_delimiter = ',',
        default_value = "flink-monitor"
    )]
    pub stop_token_audiences: Vec<String>,

    /// Budget for one call to Flink, connection and body included.
    #[arg(long, env = "FLINK_MONITOR_REQUEST_TIMEOUT", default_value = "5s", value_parser = parse_positive_duration)]
    pub request_timeout: Duration,

    /// Largest Flink answer read, in bytes.
    #[arg(long, env = "FLINK_MONITOR_MAX_RESPONSE_BYTES", default_value_t = 16 * 1024 * 1024)]
    pub max_response_bytes: usize,

    /// PEM file of CA certificates trusted for https:// JobManagers, in addition to the
    /// built-in roots (Flink with `security.ssl.rest.enabled` and a private CA). Read
    /// again when it changes.
    #[arg(long, env = "FLINK_MONITOR_FLINK_CA_FILE")]
    pub flink_ca_file: Option<PathBuf>,

    /// PEM file of the client certificate (leaf first) for JobManagers that require one
    /// (`security.ssl.rest.authentication-enabled`); needs --flink-client-key. Read again
    /// when it changes.
    #[arg(long, env = "FLINK_MONITOR_FLINK_CLIENT_CERT")]
    pub flink_client_cert: Option<PathBuf>,

    /// PEM file of the private key of --flink-client-cert (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "FLINK_MONITOR_FLINK_CLIENT_KEY")]
    pub flink_client_key: Option<PathBuf>,

    /// Calls in flight to one JobManager at once.
    #[arg(long, env = "FLINK_MONITOR_CLUSTER_CONCURRENCY", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub cluster_concurrency: u16,

    /// Budget for answering one HTTP request of the monitoring API.
    #[arg(long, env = "FLINK_MONITOR_HTTP_REQUEST_TIMEOUT", default_value = "20s", value_parser = parse_positive_duration)]
    pub http_request_timeout: Duration,

    /// HTTP requests served at once; more are refused with 503 until some finish.
    #[arg(long, env = "FLINK_MONITOR_MAX_CONCURRENT_REQUESTS", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_concurrent_requests: u32,

    /// How long job details, metrics and exceptions read from Flink are reused (0s: never).
    #[arg(long, env = "FLINK_MONITOR_CACHE_TTL", default_value = "1s", value_parser = humantime::parse_duration)]
    pub cache_ttl: Duration,

    /// How often each running job's health is checked (restarts, checkpoints); 0s: never.
    #[arg(long, env = "FLINK_MONITOR_HEALTH_INTERVAL", default_value = "30s", value_parser = humantime::parse_duration)]
    pub health_interval: Duration,

    /// Restarts within --restart-window that make a job Degraded (Restarting).
    #[arg(long, env = "FLINK_MONITOR_RESTART_THRESHOLD", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub restart_threshold: u32,

    /// The window restarts are counted in (at most 24h).
    #[arg(long, env = "FLINK_MONITOR_RESTART_WINDOW", default_value = "10m", value_parser = parse_restart_window)]
    pub restart_window: Duration,

    /// No completed checkpoint for longer than this is CheckpointStalled (default: 3 x the
    /// job's checkpoint interval, at least 1m).
    #[arg(long, env = "FLINK_MONITOR_MAX_CHECKPOINT_AGE", value_parser = parse_positive_duration)]
    pub max_checkpoint_age: Option<Duration>,

    /// Export per-job series (flink_monitor_job_state, _healthy, _restarts,
    /// _last_checkpoint_age_seconds), one per job.
    #[arg(long, env = "FLINK_MONITOR_JOB_METRICS", default_value_t = true, action = clap::ArgAction::Set,
        num_args = 0..=1, default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    pub job_metrics: bool,

    /// Serve the read-only web page at /ui/ (browsers asking for / are sent there).
    #[arg(long, env = "FLINK_MONITOR_UI", default_value_t = true, action = clap::ArgAction::Set,
        num_args = 0..=1, default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    pub ui: bool,
}

/// The longest `--restart-window`: what the health checks keep of a job's restarts
/// (`clusters::health_rules::RestartHistory::KEEP`; the settings tests hold them equal).
pub const MAX_RESTART_WINDOW: Duration = Duration::from_secs(24 * 3600);

fn parse_restart_window(value: &str) -> Result<Duration, String> {
    let window = parse_positive_duration(value)?;
    if window > MAX_RESTART_WINDOW {
        return Err(format!(
            "at most {} of restarts are kept; give a shorter window",
            humantime::format_duration(MAX_RESTART_WINDOW)
        ));
    }
    Ok(window)
}

/// A `--cluster NAME=URL` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticCluster {
    pub name: String,
    pub url: Url,
}

pub fn is_static_cluster_name(name: &str) -> bool {
    (1..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn parse_static_cluster(value: &str) -> Result<StaticCluster, String> {
    let (name, url) = value
        .split_once('=')
        .ok_or_else(|| format!("expected NAME=URL, got {value:?}"))?;
    if !is_static_cluster_name(name) {
        return Err(format!(
            "cluster name {name:?} must be 1 to 63 characters of A-Z, a-z, 0-9, '-' or '_'"
        ));
    }
    let url = Url::parse(url).map_err(|e| format!("cluster {name}: invalid URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!(
            "cluster {name}: the URL must be http:// or https:// with a host"
        ));
    }
    Ok(StaticCluster {
        name: name.to_string(),
        url,
    })
}

fn parse_positive_duration(value: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(value).map_err(|e| format!("{value:?}: {e}"))?;
    if duration.is_zero() {
        return Err("must be greater than zero".into());
    }
    Ok(duration)
}

/// Checks that need the whole list: duplicate names.
pub fn check_unique_names(clusters: &[StaticCluster]) -> Result<(), String> {
    let mut seen = std::collections::HashSet::new();
    for cluster in clusters {
        if !seen.insert(cluster.name.as_str()) {
            return Err(format!(
                "cluster name {:?} is given more than once",
                cluster.name
            ));
        }
    }
    Ok(())
}

/// One namespace of `--namespaces`, spaces around it ignored (`"a, b"`); empty means none.
fn parse_namespace(value: &str) -> Result<String, String> {
    let name = value.trim();
    let label = name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if label {
        Ok(name.to_string())
    } else {
        Err(format!(
            "{name:?} is not a namespace name (lowercase letters, digits and '-', at most 63)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn run_defaults() {
        let cli = Cli::try_parse_from(["flink-monitor", "run"]).unwrap();
        let Command::Run(args) = cli.command else {
            panic!("not run")
        };
        assert_eq!(args.listen.to_string(), "0.0.0.0:8080");
        assert_eq!(args.poll_interval, Duration::from_secs(5));
        assert_eq!(args.kubernetes, KubernetesMode::Auto);
        assert!(!args.enable_stop);
        assert!(args.clusters.is_empty());
        assert!(args.mirror_jobs);
        assert!(args.ui, "the web page is on by default");
        assert!(!args.leader_election);
        assert!(args.namespaces.is_empty());
        assert_eq!(
            (
                args.lease_duration,
                args.lease_renew_deadline,
                args.lease_renew_period
            ),
            (
                Duration::from_secs(15),
                Duration::from_secs(10),
                Duration::from_secs(2)
            )
        );
        assert_eq!(args.stop_token_audiences, ["flink-monitor"]);
        assert!(!args.ignore_rest_url_annotation);
        assert_eq!((args.kube_api_qps, args.kube_api_burst), (50, 100));
    }

    #[test]
    fn the_write_pace_is_set_and_never_zero() {
        let cli = Cli::try_parse_from([
            "flink-monitor",
            "run",
            "--kube-api-qps",
            "20",
            "--kube-api-burst",
            "40",
        ])
        .unwrap();
        let Command::Run(args) = cli.command else {
            panic!("not run")
        };
        assert_eq!((args.kube_api_qps, args.kube_api_burst), (20, 40));
        for bad in [
            ["--kube-api-qps", "0"],
            ["--kube-api-burst", "0"],
            ["--kube-api-qps", "fast"],
        ] {
            let mut argv = vec!["flink-monitor", "run"];
            argv.extend(bad);
            assert!(Cli::try_parse_from(argv).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_rest_url_annotation_can_be_ignored() {
        for (flags, expected) in [
            (&["--ignore-rest-url-annotation"][..], true),
            (&["--ignore-rest-url-annotation=true"][..], true),
            (&["--ignore-rest-url-annotation=false"][..], false),
        ] {
            let cli = Cli::try_parse_from(["flink-monitor", "run"].iter().chain(flags)).unwrap();
            let Command::Run(args) = cli.command else {
                panic!("not run")
            };
            assert_eq!(args.ignore_rest_url_annotation, expected, "{flags:?}");
        }
    }

    #[test]
    fn mirror_mode_can_be_turned_off_and_namespaces_listed() {
        let cli = Cli::try_parse_from([
            "flink-monitor",
            "run",
            "--mirror-jobs=false",
            "--namespaces",
            "a,b",
        ])
        .unwrap();
        let Command::Run(args) = cli.command else {
            panic!("not run")
        };
        assert!(!args.mirror_jobs);
        assert_eq!(args.namespaces, ["a", "b"]);
    }

    #[test]
    fn clusters_parse_and_bad_ones_are_refused() {
        let cli = Cli::try_parse_from([
            "flink-monitor",
            "run",
            "--cluster",
            "prod=http://jm:8081",
            "--cluster",
            "dev_2=https://u:p@x/flink/",
            "--poll-interval",
            "500ms",
        ])
        .unwrap();
        let Command::Run(args) = cli.command else {
            panic!("not run")
        };
        assert_eq!(args.clusters.len(), 2);
        assert_eq!(args.clusters[0].name, "prod");
        assert_eq!(args.poll_interval, Duration::from_millis(500));
        for bad in [
            "prod",
            "a.b=http://x",
            "=http://x",
            "x=ftp://h",
            "x=not a url",
        ] {
            assert!(
                Cli::try_parse_from(["flink-monitor", "run", "--cluster", bad]).is_err(),
                "{bad}"
            );
        }
        assert!(Cli::try_parse_from(["flink-monitor", "run", "--poll-interval", "0s"]).is_err());
        let long = format!("{}=http://x", "a".repeat(64));
        assert!(Cli::try_parse_from(["flink-monitor", "run", "--cluster", long.as_str()]).is_err());
    }

    #[test]
    fn health_flags_have_the_contract_defaults_and_refuse_nonsense() {
        let cli = Cli::try_parse_from(["flink-monitor", "run"]).unwrap();
        let Command::Run(args) = cli.command else {
            panic!("not run")
        };
        assert_eq!(args.health_interval, Duration::from_secs(30));
        assert_eq!(
            (
                args.restart_threshold,
                args.restart_window,
                args.max_checkpoint_age
            ),
            (3, Duration::from_secs(600), None)
        );
        assert!(args.job_metrics);
        let cli = Cli::try_parse_from([
            "flink-monitor",
            "run",
            "--health-interval",
            "0s",
            "--max-checkpoint-age",
            "5m",
            "--job-metrics=false",
        ])
        .unwrap();
        let Command::Run(args) = cli.command else {
            panic!("not run")
        };
        assert!(args.health_interval.is_zero());
        assert_eq!(args.max_checkpoint_age, Some(Duration::from_secs(300)));
        assert!(!args.job_metrics);
        for bad in [
            ["--restart-threshold", "0"],
            ["--restart-window", "0s"],
            ["--restart-window", "2d"],
            ["--max-checkpoint-age", "0s"],
            ["--health-interval", "soon"],
        ] {
            let mut argv = vec!["flink-monitor", "run"];
            argv.extend(bad);
            assert!(Cli::try_parse_from(argv).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn duplicate_names_are_an_error() {
        let a = parse_static_cluster("a=http://x").unwrap();
        let b = parse_static_cluster("b=http://y").unwrap();
        assert!(check_unique_names(&[a.clone(), b]).is_ok());
        assert!(check_unique_names(&[a.clone(), a]).is_err());
    }

    #[test]
    fn namespaces_are_trimmed() {
        let parse = |list: &str| {
            let cli = Cli::try_parse_from(["flink-monitor", "run", "--namespaces", list])?;
            let Command::Run(args) = cli.command else {
                panic!("not run")
            };
            Ok::<_, clap::Error>(args.namespaces)
        };
        assert_eq!(parse("a, b").unwrap(), ["a", "b"]);
        assert_eq!(
            parse("b,a, b").unwrap(),
            ["b", "a", "b"],
            "runtime drops repeats"
        );
        assert_eq!(parse("").unwrap(), [""], "empty: all namespaces");
        let error = parse("a,Team B").unwrap_err().to_string();
        assert!(
            error.contains("\"Team B\" is not a namespace name"),
            "{error}"
        );
    }
}
