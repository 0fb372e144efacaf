//! Whether a browser can follow a cluster's URL to Flink's own web UI. Names that only
//! resolve inside Kubernetes (`*.svc`, `*.cluster.local`, single-label Service names) are
//! in-cluster only; the page says so instead of showing a dead link.

use serde::Serialize;
use url::{Host, Url};

/// Where Flink's web UI is, as the page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FlinkUi {
    /// Flink's UI at the cluster's URL; null when it is in-cluster only.
    pub url: Option<String>,
    /// Why there is no link, or what to know about it.
    pub note: Option<String>,
}

impl FlinkUi {
    pub fn of(base: &str) -> Self {
        let Ok(url) = Url::parse(base) else {
            return Self::none("the cluster's URL is not one a browser can open");
        };
        if !matches!(url.scheme(), "http" | "https") {
            return Self::none("the cluster's URL is not http(s)");
        }
        match url.host() {
            Some(Host::Domain(name)) if in_cluster_only(name) => Self::none(
                "in-cluster only: this address resolves inside Kubernetes; port-forward the JobManager to open Flink's UI",
            ),
            Some(Host::Domain("localhost")) | Some(Host::Ipv4(_)) | Some(Host::Ipv6(_))
                if is_loopback(&url) =>
            {
                Self {
                    url: Some(base.to_string()),
                    note: Some("on flink-monitor's own host".into()),
                }
            }
            Some(_) => Self {
                url: Some(base.to_string()),
                note: None,
            },
            None => Self::none("the cluster's URL has no host"),
        }
    }

    fn none(note: &str) -> Self {
        Self {
            url: None,
            note: Some(note.into()),
        }
    }
}

fn in_cluster_only(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host != "localhost"
        && (!host.contains('.')
            || host.ends_with(".svc")
            || host.ends_with(".cluster.local")
            || host.contains(".svc."))
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubernetes_names_are_in_cluster_only_and_others_are_links() {
        for inside in [
            "http://flink-jobmanager:8081",
            "http://flink-rest.team-a.svc:8081",
            "http://flink-rest.team-a.svc.cluster.local:8081/",
            "http://basic-rest.flink.svc.cluster.local.:8081",
        ] {
            let ui = FlinkUi::of(inside);
            assert_eq!(ui.url, None, "{inside}");
            assert!(ui.note.unwrap().starts_with("in-cluster only"), "{inside}");
        }
        let local = FlinkUi::of("http://127.0.0.1:8081/");
        assert_eq!(local.url.as_deref(), Some("http://127.0.0.1:8081/"));
        assert_eq!(local.note.as_deref(), Some("on flink-monitor's own host"));
        assert!(FlinkUi::of("http://localhost:8081/").url.is_some());
        let public = FlinkUi::of("https://flink.example.com/prod/");
        assert_eq!(
            public,
            FlinkUi {
                url: Some("https://flink.example.com/prod/".into()),
                note: None
            }
        );
        assert_eq!(FlinkUi::of("10.0.0.7:8081").url, None, "not a URL");
        assert!(FlinkUi::of("http://10.1.2.3:8081").url.is_some());
    }
}
