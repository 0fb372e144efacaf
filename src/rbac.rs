//! The one list of Kubernetes permissions the binary uses. The chart's RBAC is checked
//! against it (`flink-monitor rbac` prints it), so the two cannot drift apart.

use serde::Serialize;

use crate::{controller, discovery};

/// One RBAC rule: verbs on resources of one API group ("" is the core group).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    pub api_groups: Vec<String>,
    pub resources: Vec<String>,
    pub verbs: Vec<String>,
}

/// Guarded stop in Kubernetes mode checks callers with TokenReview and SubjectAccessReview.
pub const STOP_RBAC: &[(&str, &str, &[&str])] = &[
    ("authentication.k8s.io", "tokenreviews", &["create"]),
    ("authorization.k8s.io", "subjectaccessreviews", &["create"]),
];

/// The permissions, by where they must be granted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Permissions {
    /// In every watched namespace (a ClusterRole when watching all of them).
    pub namespaced: Vec<Rule>,
    /// Cluster-scoped resources: always a ClusterRole.
    pub cluster: Vec<Rule>,
    /// In the namespace of the Lease, with leader election only.
    pub lease: Vec<Rule>,
}

pub fn permissions(stop_enabled: bool, leader_election: bool) -> Permissions {
    let mut namespaced = rules(discovery::REQUIRED_RBAC);
    namespaced.extend(rules(controller::REQUIRED_RBAC));
    namespaced.sort();
    Permissions {
        namespaced,
        cluster: if stop_enabled {
            rules(STOP_RBAC)
        } else {
            Vec::new()
        },
        lease: if leader_election {
            rules(controller::LEASE_RBAC)
        } else {
            Vec::new()
        },
    }
}

fn rules(list: &[(&str, &str, &[&str])]) -> Vec<Rule> {
    list.iter()
        .map(|(group, resource, verbs)| {
            let mut verbs: Vec<String> = verbs.iter().map(|v| v.to_string()).collect();
            verbs.sort();
            Rule {
                api_groups: vec![group.to_string()],
                resources: vec![resource.to_string()],
                verbs,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_and_lease_rules_appear_only_when_needed() {
        let plain = permissions(false, false);
        assert!(plain.cluster.is_empty() && plain.lease.is_empty());
        assert!(
            plain
                .namespaced
                .iter()
                .any(|r| r.resources == ["flinkjobs/status"] && r.verbs == ["patch"])
        );
        let full = permissions(true, true);
        assert_eq!(full.cluster.len(), 2);
        assert_eq!(full.lease[0].resources, ["leases"]);
    }
}
