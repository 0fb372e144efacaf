//! The one notice every part of a cluster sends when what it shows changed.

use std::sync::Arc;

/// Sent when what a cluster shows changed: its jobs, their states, its reachability, or
/// the health of one of its jobs.
#[derive(Debug, Clone)]
pub struct ClusterChanged {
    pub cluster: Arc<str>,
}
