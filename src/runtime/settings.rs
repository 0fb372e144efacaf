//! The flags and the environment, turned into the settings of each part. Parts take these
//! settings, never `RunArgs`; this is the one module that knows both.

use std::collections::BTreeSet;

use crate::api::ServerLimits;
use crate::cli::RunArgs;
use crate::clusters::PollSettings;
use crate::clusters::health::HealthSettings;
use crate::clusters::health_rules::Thresholds;
use crate::controller::{ControllerConfig, LeaseConfig, WriteLimits};
use crate::discovery::DiscoveryConfig;
use crate::flink::{ClientSettings, TlsFiles};

/// The controller's name where no pod name is known (Events' reporting instance).
const CONTROLLER: &str = "flink-monitor";

/// What start-up reads from the environment besides the flags, read once (`Environment::read`)
/// and passed down from here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Environment {
    /// `POD_NAME` (the chart sets it from the downward API).
    pub pod_name: Option<String>,
    /// `HOSTNAME`, the pod name's stand-in outside the chart.
    pub hostname: Option<String>,
}

impl Environment {
    pub fn read() -> Self {
        let var = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
        Self {
            pod_name: var("POD_NAME"),
            hostname: var("HOSTNAME"),
        }
    }

    /// This replica's name in the Lease: the pod name, else the host name, else one made
    /// unique by the process id.
    pub fn lease_identity(&self) -> String {
        self.pod_name
            .clone()
            .or_else(|| self.hostname.clone())
            .unwrap_or_else(|| format!("{CONTROLLER}-{}", std::process::id()))
    }

    /// The `reportingInstance` of the Events this replica sends.
    pub fn event_instance(&self) -> String {
        self.pod_name.clone().unwrap_or_else(|| CONTROLLER.into())
    }
}

pub fn poll_settings(args: &RunArgs) -> PollSettings {
    PollSettings {
        poll_interval: args.poll_interval,
        cache_ttl: args.cache_ttl,
        client: ClientSettings {
            timeout: args.request_timeout,
            max_response_bytes: args.max_response_bytes,
            concurrency: args.cluster_concurrency.into(),
        },
    }
}

/// The health checks and thresholds the flags ask for.
pub fn health_settings(args: &RunArgs) -> HealthSettings {
    HealthSettings {
        interval: args.health_interval,
        thresholds: Thresholds {
            restart_threshold: args.restart_threshold,
            restart_window: args.restart_window,
            max_checkpoint_age: args.max_checkpoint_age,
        },
    }
}

pub fn server_limits(args: &RunArgs) -> ServerLimits {
    ServerLimits {
        request_timeout: args.http_request_timeout,
        max_in_flight: args.max_concurrent_requests as usize,
        ..ServerLimits::default()
    }
}

pub fn write_limits(args: &RunArgs) -> WriteLimits {
    WriteLimits {
        qps: f64::from(args.kube_api_qps),
        burst: args.kube_api_burst,
        ..WriteLimits::default()
    }
}

/// The namespaces to watch, each once, in order of first mention; empty: all. Discovery
/// and the controller both take this list, so they always watch the same namespaces.
/// The TLS files for secured JobManagers from the flags.
pub fn tls_files(args: &RunArgs) -> TlsFiles {
    TlsFiles {
        ca_file: args.flink_ca_file.clone(),
        client_cert: args.flink_client_cert.clone(),
        client_key: args.flink_client_key.clone(),
    }
}

pub fn watched_namespaces(args: &RunArgs) -> Vec<String> {
    let mut seen = BTreeSet::new();
    args.namespaces
        .iter()
        .filter(|n| !n.is_empty() && seen.insert(n.as_str()))
        .cloned()
        .collect()
}

pub fn discovery_config(args: &RunArgs, env: &Environment) -> DiscoveryConfig {
    DiscoveryConfig {
        namespaces: watched_namespaces(args),
        service_selector: args.service_selector.clone(),
        ignore_rest_url_annotation: args.ignore_rest_url_annotation,
        instance: env.event_instance(),
    }
}

/// Leader election settings from the flags.
pub fn lease_config(args: &RunArgs, env: &Environment) -> LeaseConfig {
    LeaseConfig {
        name: args.lease_name.clone(),
        namespace: args.lease_namespace.clone(),
        identity: env.lease_identity(),
        duration: args.lease_duration,
        renew_deadline: args.lease_renew_deadline,
        renew_period: args.lease_renew_period,
    }
}

pub fn controller_config(args: &RunArgs, env: &Environment) -> ControllerConfig {
    ControllerConfig {
        poll_interval: args.poll_interval,
        mirror: args.mirror_jobs,
        namespaces: watched_namespaces(args),
        lease: args.leader_election.then(|| lease_config(args, env)),
        instance: env.event_instance(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command, MAX_RESTART_WINDOW};
    use crate::clusters::health_rules::RestartHistory;

    fn run_args(flags: &[&str]) -> RunArgs {
        let argv = ["flink-monitor", "run"].iter().chain(flags);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Run(args) => *args,
            other => panic!("not run: {other:?}"),
        }
    }

    /// The command line's defaults are literals of its own: these are the parts' defaults.
    #[test]
    fn the_flags_defaults_are_the_parts_defaults() {
        let args = run_args(&[]);
        let writes = write_limits(&args);
        let parts = WriteLimits::default();
        assert_eq!(
            (writes.qps, writes.burst, writes.in_flight),
            (parts.qps, parts.burst, parts.in_flight)
        );
        assert_eq!(args.stop_token_audiences, [crate::api::DEFAULT_AUDIENCE]);
        assert_eq!(health_settings(&args).thresholds, Thresholds::default());
        assert_eq!(MAX_RESTART_WINDOW, RestartHistory::KEEP);
        let limits = server_limits(&args);
        let defaults = ServerLimits::default();
        assert_eq!(
            (limits.request_timeout, limits.max_in_flight),
            (defaults.request_timeout, defaults.max_in_flight)
        );
    }

    #[test]
    fn health_flags_become_the_health_settings() {
        let health = health_settings(&run_args(&[]));
        assert_eq!(health.interval, Duration::from_secs(30));
        assert!(health.enabled());
        let health = health_settings(&run_args(&[
            "--health-interval",
            "0s",
            "--restart-threshold",
            "5",
            "--restart-window",
            "1h",
            "--max-checkpoint-age",
            "5m",
        ]));
        assert!(!health.enabled());
        assert_eq!(
            health.thresholds,
            Thresholds {
                restart_threshold: 5,
                restart_window: Duration::from_secs(3600),
                max_checkpoint_age: Some(Duration::from_secs(300)),
            }
        );
    }

    #[test]
    fn namespaces_are_each_watched_once_by_discovery_and_the_controller() {
        let env = Environment::default();
        let args = run_args(&["--namespaces", "b,a,b, a"]);
        assert_eq!(watched_namespaces(&args), ["b", "a"]);
        assert_eq!(discovery_config(&args, &env).namespaces, ["b", "a"]);
        assert_eq!(controller_config(&args, &env).namespaces, ["b", "a"]);
        assert!(watched_namespaces(&run_args(&["--namespaces", ""])).is_empty());
    }

    #[test]
    fn the_pod_name_names_the_lease_holder_and_the_events() {
        let pod = Environment {
            pod_name: Some("flink-monitor-7d9f-x2".into()),
            hostname: Some("host".into()),
        };
        let args = run_args(&["--leader-election"]);
        let config = controller_config(&args, &pod);
        assert_eq!(
            config.lease.map(|lease| lease.identity).as_deref(),
            Some("flink-monitor-7d9f-x2")
        );
        assert_eq!(config.instance, "flink-monitor-7d9f-x2");
        assert_eq!(
            discovery_config(&args, &pod).instance,
            "flink-monitor-7d9f-x2"
        );

        let host = Environment {
            pod_name: None,
            hostname: Some("host".into()),
        };
        assert_eq!(lease_config(&args, &host).identity, "host");
        assert_eq!(host.event_instance(), "flink-monitor");
        let bare = Environment::default();
        assert!(
            lease_config(&args, &bare)
                .identity
                .starts_with("flink-monitor-")
        );
        assert!(controller_config(&run_args(&[]), &bare).lease.is_none());
    }
}
